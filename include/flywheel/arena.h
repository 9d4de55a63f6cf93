/* arena.h - chunked bump allocator with a byte cap, one per request.
 * Owns every chunk it hands out; fw_arena_free releases them all at once.
 * Over the cap fw_arena_alloc returns NULL (never aborts); the caller turns
 * that into 413 / RESOURCE_EXHAUSTED. Not thread-safe: one owner at a time. */
#ifndef FLYWHEEL_ARENA_H
#define FLYWHEEL_ARENA_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

typedef struct fw_arena fw_arena;

/* |cap| is the most bytes (chunk headers included) the arena may take from
 * malloc. Returns NULL when malloc fails. */
fw_arena *fw_arena_new(size_t cap);
/* Releases all chunks; NULL is a no-op. */
void fw_arena_free(fw_arena *a);
/* Drops all allocations but keeps the first chunk for reuse. */
void fw_arena_reset(fw_arena *a);
/* 16-byte aligned memory valid until reset/free; NULL over the cap. */
void *fw_arena_alloc(fw_arena *a, size_t size);
void *fw_arena_calloc(fw_arena *a, size_t n, size_t size);
/* Copies |len| bytes and appends a NUL; NULL over the cap. */
char *fw_arena_strndup(fw_arena *a, const char *s, size_t len);
/* Bytes taken from malloc so far, and whether an allocation was refused. */
size_t fw_arena_used(const fw_arena *a);
int fw_arena_exhausted(const fw_arena *a);
/* A ProtobufCAllocator that allocates from |a| and never frees singly;
 * valid while |a| lives. */
void fw_arena_protobuf_allocator(fw_arena *a, ProtobufCAllocator *out);

#endif

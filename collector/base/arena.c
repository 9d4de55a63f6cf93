/* arena.c - chunked bump allocator with a byte cap (one per request).
 * Owns its chunks; never frees single allocations and never aborts: over the
 * cap it returns NULL and remembers that it did (fw_arena_exhausted). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "flywheel/arena.h"

#define ARENA_ALIGN 16u
#define ARENA_MIN_CHUNK (16u * 1024u)

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    /* payload follows, aligned */
} arena_chunk;

struct fw_arena {
    arena_chunk *head; /* current chunk; older ones follow */
    size_t cap;        /* most bytes taken from malloc, headers included */
    size_t taken;      /* bytes taken from malloc so far */
    int exhausted;
};

#define CHUNK_HDR ((sizeof(arena_chunk) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1))

static uint8_t *chunk_payload(arena_chunk *c)
{
    return (uint8_t *)c + CHUNK_HDR;
}

fw_arena *fw_arena_new(size_t cap)
{
    fw_arena *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->cap = cap;
    return a;
}

void fw_arena_free(fw_arena *a)
{
    if (!a) return;
    arena_chunk *c = a->head;
    while (c) {
        arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

void fw_arena_reset(fw_arena *a)
{
    if (!a || !a->head) return;
    /* Keep the most recent chunk (usually the largest), free the rest. */
    arena_chunk *keep = a->head, *c = keep->next;
    while (c) {
        arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    keep->next = NULL;
    keep->used = 0;
    a->taken = CHUNK_HDR + keep->size;
    a->exhausted = 0;
}

static arena_chunk *arena_grow(fw_arena *a, size_t need)
{
    size_t size = ARENA_MIN_CHUNK;
    if (a->head && a->head->size < (SIZE_MAX / 4) && a->head->size * 2 > size) size = a->head->size * 2;
    if (size < need) size = need;
    if (size > SIZE_MAX - CHUNK_HDR) return NULL;
    size_t total = CHUNK_HDR + size;
    if (a->taken > a->cap || total > a->cap - a->taken) {
        /* Try the smallest chunk that fits before giving up. */
        if (need > SIZE_MAX - CHUNK_HDR) return NULL;
        total = CHUNK_HDR + need;
        if (a->taken > a->cap || total > a->cap - a->taken) return NULL;
        size = need;
    }
    arena_chunk *c = malloc(total);
    if (!c) return NULL;
    c->next = a->head;
    c->size = size;
    c->used = 0;
    a->head = c;
    a->taken += total;
    return c;
}

void *fw_arena_alloc(fw_arena *a, size_t size)
{
    if (!a) return NULL;
    if (size == 0) size = 1;
    if (size > SIZE_MAX - ARENA_ALIGN) goto refuse;
    size_t rounded = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    arena_chunk *c = a->head;
    if (!c || c->size - c->used < rounded) {
        c = arena_grow(a, rounded);
        if (!c) goto refuse;
    }
    void *p = chunk_payload(c) + c->used;
    c->used += rounded;
    return p;
refuse:
    a->exhausted = 1;
    return NULL;
}

void *fw_arena_calloc(fw_arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) {
        if (a) a->exhausted = 1;
        return NULL;
    }
    void *p = fw_arena_alloc(a, n * size);
    if (p && n && size) memset(p, 0, n * size);
    return p;
}

char *fw_arena_strndup(fw_arena *a, const char *s, size_t len)
{
    if (len == SIZE_MAX) return NULL;
    char *p = fw_arena_alloc(a, len + 1);
    if (!p) return NULL;
    if (len) memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

size_t fw_arena_used(const fw_arena *a)
{
    return a ? a->taken : 0;
}

int fw_arena_exhausted(const fw_arena *a)
{
    return a ? a->exhausted : 0;
}

static void *arena_pb_alloc(void *data, size_t size)
{
    return fw_arena_alloc(data, size);
}

static void arena_pb_free(void *data, void *p)
{
    (void)data;
    (void)p; /* freed with the arena */
}

void fw_arena_protobuf_allocator(fw_arena *a, ProtobufCAllocator *out)
{
    out->alloc = arena_pb_alloc;
    out->free = arena_pb_free;
    out->allocator_data = a;
}

/* intern.h - the string dictionary shared by store, RED and topology:
 * service, operation, attribute-key and common value strings map to
 * stable 32-bit ids. Strings are never freed while the table lives; the
 * table is bounded (bytes), and once full it refuses new strings (id 0) so
 * the caller stores them inline or folds them into an overflow series.
 * Thread-safe: sharded locks on insert, lock-free id -> string reads. */
#ifndef FLYWHEEL_INTERN_H
#define FLYWHEEL_INTERN_H

#include <stddef.h>
#include <stdint.h>
#include "flywheel/buf.h"
#include "flywheel/error.h"

typedef struct fw_intern fw_intern;

/* Ids are 1..; 0 means "not interned" (the empty string is interned
 * like any other). |max_bytes| bounds strings + table overhead. */
#define FW_INTERN_NONE 0u
/* Strings longer than this are never interned (they are ids, payloads). */
#define FW_INTERN_MAX_LEN 1024u

FW_WUR int fw_intern_new(size_t max_bytes, fw_intern **out);
void fw_intern_free(fw_intern *t);
/* The id of |s|, inserting it when absent and there is room; FW_INTERN_NONE
 * when the table is full or |s| is longer than FW_INTERN_MAX_LEN. */
uint32_t fw_intern_id(fw_intern *t, fw_str s);
/* The id of |s| if already present, without inserting; FW_INTERN_NONE else. */
uint32_t fw_intern_find(fw_intern *t, fw_str s);
/* The string of |id| (NUL-terminated, valid for the table's life);
 * FW_STR_NULL for FW_INTERN_NONE or an unknown id. Lock-free. */
fw_str fw_intern_str(const fw_intern *t, uint32_t id);

typedef struct fw_intern_stats {
    uint64_t strings;
    uint64_t bytes;   /* memory held, strings and tables */
    uint64_t refused; /* inserts refused because the table was full */
} fw_intern_stats;
void fw_intern_get_stats(fw_intern *t, fw_intern_stats *out);

#endif

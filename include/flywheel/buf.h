/* buf.h - bounded growable byte buffer and {ptr,len} slices.
 * A fw_buf owns its bytes (malloc) and never grows past the max given at
 * init; appends past it fail with FW_ERR_TOO_LARGE and leave it unchanged. */
#ifndef FLYWHEEL_BUF_H
#define FLYWHEEL_BUF_H

#include <stddef.h>
#include <stdint.h>
#include "flywheel/error.h"

/* A borrowed slice: not NUL-terminated unless said otherwise. */
typedef struct fw_str {
    const char *ptr;
    size_t len;
} fw_str;

#define FW_STR_LIT(s) ((fw_str){(s), sizeof(s) - 1})
#define FW_STR_NULL ((fw_str){NULL, 0})

/* Case-sensitive equality of a slice and a C string. */
int fw_str_eq(fw_str a, const char *lit);
/* ASCII case-insensitive equality. */
int fw_str_ieq(fw_str a, const char *lit);
/* Does |a| start with |prefix| (case-insensitive)? */
int fw_str_istarts(fw_str a, const char *prefix);
fw_str fw_str_from(const char *cstr); /* NULL-safe */

typedef struct fw_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max; /* invariant: len <= cap <= max */
} fw_buf;

void fw_buf_init(fw_buf *b, size_t max);
void fw_buf_free(fw_buf *b); /* frees data, keeps max; safe to call twice */
void fw_buf_reset(fw_buf *b); /* len = 0, keeps memory */
FW_WUR int fw_buf_reserve(fw_buf *b, size_t extra);
/* The capacity fw_buf_reserve(b, extra) would leave (b->cap when no growth
 * is needed; b->cap as well when |extra| does not fit under max, which
 * fw_buf_reserve refuses). */
size_t fw_buf_grown_cap(const fw_buf *b, size_t extra);
FW_WUR int fw_buf_append(fw_buf *b, const void *p, size_t n);
FW_WUR int fw_buf_append_str(fw_buf *b, const char *s);
FW_WUR int fw_buf_printf(fw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends |s| as a JSON string literal with quotes, escaping control chars,
 * quotes, backslashes, and invalid UTF-8 as U+FFFD. */
FW_WUR int fw_buf_append_json_str(fw_buf *b, const char *s, size_t n);
/* Takes the bytes: returns data (caller frees), leaves |b| empty. */
uint8_t *fw_buf_detach(fw_buf *b, size_t *len);

#endif

/* buf.c - bounded growable byte buffers and {ptr,len} slice helpers.
 * A buffer never grows past the max it was given; a failed append leaves
 * it unchanged. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "flywheel/buf.h"

int fw_str_eq(fw_str a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len == n && (n == 0 || memcmp(a.ptr, lit, n) == 0);
}

int fw_str_ieq(fw_str a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len == n && (n == 0 || strncasecmp(a.ptr, lit, n) == 0);
}

int fw_str_istarts(fw_str a, const char *prefix)
{
    size_t n = strlen(prefix);
    return a.len >= n && (n == 0 || strncasecmp(a.ptr, prefix, n) == 0);
}

fw_str fw_str_from(const char *cstr)
{
    fw_str s = {cstr, cstr ? strlen(cstr) : 0};
    return s;
}

void fw_buf_init(fw_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void fw_buf_free(fw_buf *b)
{
    if (!b) return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void fw_buf_reset(fw_buf *b)
{
    b->len = 0;
}

size_t fw_buf_grown_cap(const fw_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra) return b->cap;
    size_t need = b->len + extra;
    if (need <= b->cap) return b->cap;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < need) {
        if (ncap > b->max / 2) {
            ncap = b->max;
            break;
        }
        ncap *= 2;
    }
    return ncap < need ? need : ncap;
}

int fw_buf_reserve(fw_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra) return FW_ERR_TOO_LARGE;
    size_t ncap = fw_buf_grown_cap(b, extra);
    if (ncap <= b->cap) return 0;
    uint8_t *n = realloc(b->data, ncap);
    if (!n) return FW_ERR_NOMEM;
    b->data = n;
    b->cap = ncap;
    return 0;
}

int fw_buf_append(fw_buf *b, const void *p, size_t n)
{
    if (n == 0) return 0;
    int rv = fw_buf_reserve(b, n);
    if (rv) return rv;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int fw_buf_append_str(fw_buf *b, const char *s)
{
    return fw_buf_append(b, s, strlen(s));
}

int fw_buf_printf(fw_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return FW_ERR_INVALID;
    if ((size_t)n < sizeof small) return fw_buf_append(b, small, (size_t)n);
    int rv = fw_buf_reserve(b, (size_t)n + 1);
    if (rv) return rv;
    va_start(ap, fmt);
    int m = vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if (m != n) return FW_ERR_INVALID;
    b->len += (size_t)n;
    return 0;
}

/* Length of the valid UTF-8 sequence at |p| (1-4), or 0 when invalid. */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c < 0x80) return 1;
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
        len = 2;
        cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

int fw_buf_append_json_str(fw_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* Worst case 6 output bytes per input byte plus quotes. */
    if (n > (b->max / 6)) {
        int rv = fw_buf_reserve(b, n + 2);
        if (rv) return rv;
    } else {
        int rv = fw_buf_reserve(b, n * 6 + 2);
        if (rv) return rv;
    }
    size_t start_len = b->len;
    const unsigned char *p = (const unsigned char *)s;
    int rv = fw_buf_append(b, "\"", 1);
    size_t i = 0;
    while (!rv && i < n) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            rv = fw_buf_append(b, esc, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            char esc[6];
            switch (c) {
            case '\n': rv = fw_buf_append(b, "\\n", 2); break;
            case '\r': rv = fw_buf_append(b, "\\r", 2); break;
            case '\t': rv = fw_buf_append(b, "\\t", 2); break;
            default:
                esc[0] = '\\';
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                rv = fw_buf_append(b, esc, 6);
            }
            i++;
        } else if (c < 0x80) {
            size_t j = i;
            while (j < n && p[j] >= 0x20 && p[j] < 0x7f && p[j] != '"' && p[j] != '\\') j++;
            rv = fw_buf_append(b, p + i, j - i);
            i = j;
        } else {
            size_t l = utf8_seq_len(p + i, n - i);
            if (l == 0) {
                rv = fw_buf_append(b, "\xEF\xBF\xBD", 3); /* U+FFFD */
                i++;
            } else {
                rv = fw_buf_append(b, p + i, l);
                i += l;
            }
        }
    }
    if (!rv) rv = fw_buf_append(b, "\"", 1);
    if (rv) b->len = start_len;
    return rv;
}

uint8_t *fw_buf_detach(fw_buf *b, size_t *len)
{
    uint8_t *d = b->data;
    if (len) *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return d;
}

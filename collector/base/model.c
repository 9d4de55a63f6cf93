/* model.c - helpers over the span/log model: attribute lookup, hex ids and
 * the JSON rendering of AnyValues shared by the API and reports.
 * Owns nothing; every function borrows its inputs. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "flywheel/limits.h"
#include "flywheel/model.h"

const fw_value *fw_attrs_get(const fw_attrs *a, const char *key)
{
    if (!a) return NULL;
    for (size_t i = 0; i < a->n; i++)
        if (fw_str_eq(a->items[i].key, key)) return &a->items[i].value;
    return NULL;
}

fw_str fw_attrs_get_str(const fw_attrs *a, const char *key)
{
    const fw_value *v = fw_attrs_get(a, key);
    if (!v || v->type != FW_VALUE_STRING) return FW_STR_NULL;
    return v->u.str;
}

int fw_attrs_get_int(const fw_attrs *a, const char *key, int64_t *out)
{
    const fw_value *v = fw_attrs_get(a, key);
    if (!v) return 0;
    if (v->type == FW_VALUE_INT) {
        *out = v->u.i64;
        return 1;
    }
    if (v->type == FW_VALUE_STRING && v->u.str.len > 0 && v->u.str.len < 24) {
        char tmp[24];
        memcpy(tmp, v->u.str.ptr, v->u.str.len);
        tmp[v->u.str.len] = '\0';
        char *end;
        long long x = strtoll(tmp, &end, 10);
        if (*end != '\0' || end == tmp) return 0;
        *out = x;
        return 1;
    }
    return 0;
}

void fw_hex_encode(const uint8_t *p, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int fw_hex_decode(const char *s, size_t slen, uint8_t *out, size_t n)
{
    if (slen != 2 * n) return FW_ERR_INVALID;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return FW_ERR_INVALID;
        out[i] = (uint8_t)((hi << 4) | lo);
    }
    return 0;
}

bool fw_id_is_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

static int base64_append(fw_buf *out, const uint8_t *p, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (n > (SIZE_MAX / 4) * 3 - 3) return FW_ERR_TOO_LARGE;
    int rv = fw_buf_reserve(out, ((n + 2) / 3) * 4 + 2);
    if (rv) return rv;
    uint8_t *o = out->data + out->len;
    *o++ = '"';
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8) | p[i + 2];
        *o++ = (uint8_t)tbl[(v >> 18) & 63];
        *o++ = (uint8_t)tbl[(v >> 12) & 63];
        *o++ = (uint8_t)tbl[(v >> 6) & 63];
        *o++ = (uint8_t)tbl[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        *o++ = (uint8_t)tbl[(v >> 18) & 63];
        *o++ = (uint8_t)tbl[(v >> 12) & 63];
        *o++ = i + 1 < n ? (uint8_t)tbl[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o++ = '"';
    out->len = (size_t)(o - out->data);
    return 0;
}

static int double_append(fw_buf *out, double d)
{
    if (isnan(d)) return fw_buf_append_str(out, "\"NaN\"");
    if (isinf(d)) return fw_buf_append_str(out, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.15g", d);
    if (strtod(tmp, NULL) != d) snprintf(tmp, sizeof tmp, "%.17g", d);
    return fw_buf_append_str(out, tmp);
}

static int value_to_json(const fw_value *v, fw_buf *out, unsigned depth);

static int attrs_to_json(const fw_attr *items, size_t n, fw_buf *out, unsigned depth)
{
    int rv = fw_buf_append(out, "{", 1);
    for (size_t i = 0; !rv && i < n; i++) {
        if (i) rv = fw_buf_append(out, ",", 1);
        if (!rv) rv = fw_buf_append_json_str(out, items[i].key.ptr, items[i].key.len);
        if (!rv) rv = fw_buf_append(out, ":", 1);
        if (!rv) rv = value_to_json(&items[i].value, out, depth + 1);
    }
    if (!rv) rv = fw_buf_append(out, "}", 1);
    return rv;
}

static int value_to_json(const fw_value *v, fw_buf *out, unsigned depth)
{
    if (depth > FW_LIMIT_ANYVALUE_DEPTH) return fw_buf_append_str(out, "null");
    switch (v->type) {
    case FW_VALUE_STRING: return fw_buf_append_json_str(out, v->u.str.ptr, v->u.str.len);
    case FW_VALUE_BOOL: return fw_buf_append_str(out, v->u.boolean ? "true" : "false");
    case FW_VALUE_INT: return fw_buf_printf(out, "%" PRId64, v->u.i64);
    case FW_VALUE_DOUBLE: return double_append(out, v->u.f64);
    case FW_VALUE_BYTES: return base64_append(out, (const uint8_t *)v->u.str.ptr, v->u.str.len);
    case FW_VALUE_ARRAY: {
        int rv = fw_buf_append(out, "[", 1);
        for (size_t i = 0; !rv && i < v->u.array.n; i++) {
            if (i) rv = fw_buf_append(out, ",", 1);
            if (!rv) rv = value_to_json(&v->u.array.items[i], out, depth + 1);
        }
        if (!rv) rv = fw_buf_append(out, "]", 1);
        return rv;
    }
    case FW_VALUE_KVLIST: return attrs_to_json(v->u.kvlist.items, v->u.kvlist.n, out, depth);
    case FW_VALUE_EMPTY:
    default: return fw_buf_append_str(out, "null");
    }
}

int fw_value_to_json(const fw_value *v, fw_buf *out)
{
    size_t start = out->len;
    int rv = value_to_json(v, out, 0);
    if (rv) out->len = start;
    return rv;
}

int fw_attrs_to_json(const fw_attrs *a, fw_buf *out)
{
    size_t start = out->len;
    int rv = attrs_to_json(a ? a->items : NULL, a ? a->n : 0, out, 0);
    if (rv) out->len = start;
    return rv;
}

/* otlp_json.c - OTLP/JSON front end: parses the body with jansson and fills
 * the same protobuf-c structs as the protobuf path, driven by the message
 * descriptors (OTLP/JSON mapping: lowerCamelCase or snake_case keys, hex
 * trace/span ids, base64 bytes, 64-bit integers as numbers or strings,
 * enums as integers or names, unknown keys ignored). The jansson tree is
 * malloc'ed and always freed before returning; nothing it owns escapes. */
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "flywheel/limits.h"
#include "flywheel/model.h"
#include "otlp_internal.h"

/* Longest JSON key we try to match; OTLP field names are far shorter. */
#define JSON_MAX_KEY 64u

typedef struct json_seg {
    const char *key; /* NULL for an array element */
    size_t index;
} json_seg;

typedef struct json_dec {
    fw_arena *arena;
    fw_parse_error *err;
    unsigned depth; /* objects and arrays entered */
    json_seg path[FW_LIMIT_JSON_DEPTH + 2];
    unsigned n_path;
} json_dec;

static void json_render_path(const json_dec *d, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < d->n_path && len < cap; i++) {
        int w;
        if (d->path[i].key)
            w = snprintf(out + len, cap - len, "%s%s", len ? "." : "", d->path[i].key);
        else
            w = snprintf(out + len, cap - len, "[%zu]", d->path[i].index);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    if (len == 0 && cap > 8)
        memcpy(out, "body", 5);
}

static int json_fail(json_dec *d, const char *what)
{
    char path[200];
    json_render_path(d, path, sizeof(path));
    fw__otlp_error(d->err, FW_OTLP_REASON_JSON, "%s: %s", path, what);
    return FW_ERR_INVALID;
}

static int json_nomem(json_dec *d)
{
    fw__otlp_error(d->err, FW_OTLP_REASON_NOMEM,
                   "request needs more decode memory than allowed (%zu bytes used)",
                   fw_arena_used(d->arena));
    return FW_ERR_NOMEM;
}

static int json_push(json_dec *d, const char *key, size_t index)
{
    if (d->n_path >= sizeof(d->path) / sizeof(d->path[0]))
        return json_fail(d, "nesting too deep");
    d->path[d->n_path].key = key;
    d->path[d->n_path].index = index;
    d->n_path++;
    return 0;
}

static void json_pop(json_dec *d)
{
    d->n_path--;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

static int json_expected(json_dec *d, const char *want, const json_t *got)
{
    char what[96];
    snprintf(what, sizeof(what), "expected %s, got %s", want, json_type_name(got));
    return json_fail(d, what);
}

/* Maps "traceId" to "trace_id"; keys already in snake_case pass unchanged.
 * Returns false when the key cannot be a field name. */
static bool json_key_to_field(const char *key, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *k = key; *k; k++) {
        char ch = *k;
        if (ch >= 'A' && ch <= 'Z') {
            if (o + 2 >= cap)
                return false;
            out[o++] = '_';
            out[o++] = (char)(ch - 'A' + 'a');
        } else {
            if (o + 1 >= cap)
                return false;
            out[o++] = ch;
        }
    }
    out[o] = '\0';
    return true;
}

/* Decimal digits into a uint64; false on anything else or overflow. */
static bool parse_u64_digits(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        uint64_t dgt = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - dgt) / 10)
            return false;
        v = v * 10 + dgt;
    }
    *out = v;
    return true;
}

/* A JSON integer, an integral real, or a decimal string, as sign + magnitude. */
static int json_get_integer(json_dec *d, const json_t *v, bool *neg, uint64_t *mag)
{
    *neg = false;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        *neg = i < 0;
        *mag = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
        return 0;
    }
    if (json_is_real(v)) {
        double x = json_real_value(v);
        double ax = fabs(x);
        /* Range first, so the cast below is defined; then integrality. */
        if (!(ax < 18446744073709551616.0) || (double)(uint64_t)ax != ax)
            return json_fail(d, "expected an integer, got a fractional or huge number");
        *neg = x < 0;
        *mag = (uint64_t)ax;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (n > 0 && (s[0] == '-' || s[0] == '+')) {
            *neg = s[0] == '-';
            s++;
            n--;
        }
        if (!parse_u64_digits(s, n, mag))
            return json_fail(d, "expected an integer string of decimal digits");
        return 0;
    }
    return json_expected(d, "integer or string", v);
}

static int json_get_signed(json_dec *d, const json_t *v, int64_t lo, int64_t hi, int64_t *out)
{
    bool neg;
    uint64_t mag;
    int rv = json_get_integer(d, v, &neg, &mag);
    if (rv)
        return rv;
    if (neg) {
        if (mag > (uint64_t)INT64_MAX + 1u)
            return json_fail(d, "integer out of range");
        int64_t x = mag == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)mag;
        if (x < lo)
            return json_fail(d, "integer out of range");
        *out = x;
        return 0;
    }
    if (mag > (uint64_t)hi)
        return json_fail(d, "integer out of range");
    *out = (int64_t)mag;
    return 0;
}

static int json_get_unsigned(json_dec *d, const json_t *v, uint64_t hi, uint64_t *out)
{
    bool neg;
    uint64_t mag;
    int rv = json_get_integer(d, v, &neg, &mag);
    if (rv)
        return rv;
    if ((neg && mag != 0) || mag > hi)
        return json_fail(d, "integer out of range");
    *out = mag;
    return 0;
}

static int json_get_double(json_dec *d, const json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "NaN") == 0) {
            *out = NAN;
            return 0;
        }
        if (strcmp(s, "Infinity") == 0) {
            *out = INFINITY;
            return 0;
        }
        if (strcmp(s, "-Infinity") == 0) {
            *out = -INFINITY;
            return 0;
        }
        /* Numeric strings: parse with a checked strtod. */
        size_t n = json_string_length(v);
        if (n > 0 && n < 64) {
            char buf[64];
            memcpy(buf, s, n);
            buf[n] = '\0';
            char *end = NULL;
            double x = strtod(buf, &end);
            if (end == buf + n && buf[0] != ' ' && buf[0] != '\t') {
                *out = x;
                return 0;
            }
        }
        return json_fail(d, "expected a number string");
    }
    return json_expected(d, "number", v);
}

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* OTLP/JSON ids are hex. A string that is not hex does not fail the request:
 * it becomes a 1-byte id, which no id field accepts, so the model converter
 * rejects that one record (partial success). */
static int json_get_hex_id(json_dec *d, const json_t *v, ProtobufCBinaryData *out)
{
    static const uint8_t invalid_id[1] = {0};
    if (!json_is_string(v))
        return json_expected(d, "hex string", v);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    out->len = 0;
    out->data = NULL;
    if (n == 0)
        return 0;
    if (n % 2 != 0 || n > 2 * 64)
        goto invalid;
    uint8_t *buf = fw_arena_alloc(d->arena, n / 2);
    if (!buf)
        return json_nomem(d);
    for (size_t i = 0; i < n; i += 2) {
        int hi = hex_nibble(s[i]), lo = hex_nibble(s[i + 1]);
        if (hi < 0 || lo < 0)
            goto invalid;
        buf[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    out->data = buf;
    out->len = n / 2;
    return 0;
invalid:
    out->data = (uint8_t *)invalid_id;
    out->len = 1;
    return 0;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Standard or URL-safe base64, padding optional (proto3 JSON mapping). */
static int json_get_base64(json_dec *d, const json_t *v, ProtobufCBinaryData *out)
{
    if (!json_is_string(v))
        return json_expected(d, "base64 string", v);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return json_fail(d, "invalid base64 length");
    size_t cap = n / 4 * 3 + 3;
    uint8_t *buf = fw_arena_alloc(d->arena, cap);
    if (!buf)
        return json_nomem(d);
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        int x = b64_value(s[i]);
        if (x < 0)
            return json_fail(d, "invalid base64 character");
        acc = (acc << 6) | (uint32_t)x;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
        }
    }
    out->data = buf;
    out->len = o;
    return 0;
}

static bool is_id_field(const ProtobufCFieldDescriptor *f)
{
    return f->type == PROTOBUF_C_TYPE_BYTES &&
           (strcmp(f->name, "trace_id") == 0 || strcmp(f->name, "span_id") == 0 ||
            strcmp(f->name, "parent_span_id") == 0);
}

static size_t field_elem_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    }
    return 0;
}

static int json_decode_message(json_dec *d, const ProtobufCMessageDescriptor *desc,
                               const json_t *obj, ProtobufCMessage **out);

/* Decodes one value of |f|'s type into |dst| (a field slot or array element). */
static int json_decode_value(json_dec *d, const ProtobufCFieldDescriptor *f, const json_t *v,
                             void *dst)
{
    int rv;
    int64_t s64;
    uint64_t u64;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if ((rv = json_get_signed(d, v, INT32_MIN, INT32_MAX, &s64)))
            return rv;
        *(int32_t *)dst = (int32_t)s64;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if ((rv = json_get_unsigned(d, v, UINT32_MAX, &u64)))
            return rv;
        *(uint32_t *)dst = (uint32_t)u64;
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if ((rv = json_get_signed(d, v, INT64_MIN, INT64_MAX, &s64)))
            return rv;
        *(int64_t *)dst = s64;
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if ((rv = json_get_unsigned(d, v, UINT64_MAX, &u64)))
            return rv;
        *(uint64_t *)dst = u64;
        return 0;
    case PROTOBUF_C_TYPE_FLOAT: {
        double x;
        if ((rv = json_get_double(d, v, &x)))
            return rv;
        *(float *)dst = (float)x;
        return 0;
    }
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_get_double(d, v, (double *)dst);
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v))
            return json_expected(d, "boolean", v);
        *(protobuf_c_boolean *)dst = json_is_true(v) ? 1 : 0;
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        if (json_is_string(v)) {
            const ProtobufCEnumValue *ev =
                protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, json_string_value(v));
            if (!ev)
                return json_fail(d, "unknown enum value name");
            *(int32_t *)dst = ev->value;
            return 0;
        }
        if ((rv = json_get_signed(d, v, INT32_MIN, INT32_MAX, &s64)))
            return rv;
        *(int32_t *)dst = (int32_t)s64;
        return 0;
    }
    case PROTOBUF_C_TYPE_STRING: {
        if (!json_is_string(v))
            return json_expected(d, "string", v);
        char *s = fw_arena_strndup(d->arena, json_string_value(v), json_string_length(v));
        if (!s)
            return json_nomem(d);
        *(char **)dst = s;
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES:
        if (is_id_field(f))
            return json_get_hex_id(d, v, (ProtobufCBinaryData *)dst);
        return json_get_base64(d, v, (ProtobufCBinaryData *)dst);
    case PROTOBUF_C_TYPE_MESSAGE:
        return json_decode_message(d, f->descriptor, v, (ProtobufCMessage **)dst);
    }
    return json_fail(d, "unsupported field type");
}

static int json_decode_field(json_dec *d, const ProtobufCFieldDescriptor *f, const json_t *v,
                             ProtobufCMessage *msg)
{
    char *base = (char *)msg;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        if (!json_is_array(v))
            return json_expected(d, "array", v);
        if (++d->depth > FW_LIMIT_JSON_DEPTH)
            return json_fail(d, "JSON nested too deeply");
        size_t n = json_array_size(v);
        size_t esz = field_elem_size(f);
        char *arr = NULL;
        if (n) {
            arr = fw_arena_alloc(d->arena, n * esz);
            if (!arr)
                return json_nomem(d);
            memset(arr, 0, n * esz);
        }
        for (size_t i = 0; i < n; i++) {
            int rv = json_push(d, NULL, i);
            if (rv)
                return rv;
            rv = json_decode_value(d, f, json_array_get(v, i), arr + i * esz);
            if (rv)
                return rv;
            json_pop(d);
        }
        *(size_t *)(base + f->quantifier_offset) = n;
        *(void **)(base + f->offset) = arr;
        d->depth--;
        return 0;
    }
    int rv = json_decode_value(d, f, v, base + f->offset);
    if (rv)
        return rv;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)(base + f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
             f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    return 0;
}

static int json_decode_message(json_dec *d, const ProtobufCMessageDescriptor *desc,
                               const json_t *obj, ProtobufCMessage **out)
{
    if (!json_is_object(obj))
        return json_expected(d, "object", obj);
    if (++d->depth > FW_LIMIT_JSON_DEPTH)
        return json_fail(d, "JSON nested too deeply");
    ProtobufCMessage *msg = fw_arena_alloc(d->arena, desc->sizeof_message);
    if (!msg)
        return json_nomem(d);
    protobuf_c_message_init(desc, msg);

    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        char name[JSON_MAX_KEY];
        if (json_is_null(val) || !json_key_to_field(key, name, sizeof(name)))
            continue;
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(desc, name);
        if (!f)
            continue; /* OTLP/JSON: unknown fields are ignored */
        int rv = json_push(d, key, 0);
        if (rv)
            return rv;
        rv = json_decode_field(d, f, val, msg);
        if (rv)
            return rv;
        json_pop(d);
    }
    d->depth--;
    *out = msg;
    return 0;
}

int fw__otlp_json_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t n,
                         fw_arena *arena, ProtobufCMessage **out, fw_parse_error *err)
{
    *out = NULL;
    if (!p || n == 0) {
        fw__otlp_error(err, FW_OTLP_REASON_JSON, "empty body: expected a JSON object");
        return FW_ERR_INVALID;
    }
    json_error_t jerr;
    json_t *root = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!root) {
        fw__otlp_error(err, FW_OTLP_REASON_JSON, "invalid JSON at line %d column %d: %s", jerr.line,
                       jerr.column, jerr.text);
        return FW_ERR_INVALID;
    }
    json_dec d;
    d.arena = arena;
    d.err = err;
    d.depth = 0;
    d.n_path = 0;
    int rv = json_decode_message(&d, desc, root, out);
    json_decref(root);
    if (rv)
        *out = NULL;
    return rv;
}

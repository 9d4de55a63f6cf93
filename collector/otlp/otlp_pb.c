/* otlp_pb.c - OTLP/protobuf front end: checks the wire structure of a
 * request (tags, wire types, lengths, nesting depth) and unpacks it with
 * protobuf-c into the request arena. Owns no memory of its own and never
 * lets protobuf-c recurse on unchecked input (it has no depth limit). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "flywheel/limits.h"
#include "otlp_internal.h"

/* Message nesting allowed by the pre-scan: request/resource/scope/span/
 * key-value, then up to three levels per nested AnyValue (kvlist ->
 * key-value -> value). The exact AnyValue limit is applied by the model
 * converter; this bound only keeps protobuf-c's recursion shallow. */
#define PB_MAX_DEPTH (8u + 3u * FW_LIMIT_ANYVALUE_DEPTH)
/* Field counts per message above this skip index tracking (none in OTLP). */
#define PB_MAX_TRACKED_FIELDS 32u

typedef struct pb_frame {
    const ProtobufCFieldDescriptor *field; /* field that entered this level */
    uint32_t index;                        /* element index when repeated */
} pb_frame;

typedef struct pb_scan {
    const uint8_t *base; /* start of the whole payload, for offsets */
    fw_parse_error *err;
    bool track; /* keep element indexes for the error path (second pass only) */
    pb_frame path[PB_MAX_DEPTH + 1];
    unsigned depth;
} pb_scan;

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

/* Renders the field path, e.g. "resource_spans[0].scope_spans[1].spans[2]". */
static void pb_render_path(const pb_scan *s, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < s->depth && len < cap; i++) {
        const pb_frame *f = &s->path[i];
        int w;
        if (f->field->label == PROTOBUF_C_LABEL_REPEATED)
            w = snprintf(out + len, cap - len, "%s%s[%u]", i ? "." : "", f->field->name, f->index);
        else
            w = snprintf(out + len, cap - len, "%s%s", i ? "." : "", f->field->name);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    if (len == 0 && cap > 8)
        memcpy(out, "request", 8);
}

static int pb_fail(pb_scan *s, const uint8_t *at, const char *what, uint32_t field_num)
{
    if (!s->track)
        return FW_ERR_INVALID; /* the tracking pass will describe it */
    char path[160];
    pb_render_path(s, path, sizeof(path));
    fw__otlp_error(s->err, FW_OTLP_REASON_PB, "malformed protobuf at byte %zu in %s: field %u: %s",
                   (size_t)(at - s->base), path, field_num, what);
    return FW_ERR_INVALID;
}

/* Reads a varint of at most 10 bytes; returns bytes used or 0 when invalid. */
static inline size_t pb_varint(const uint8_t *p, const uint8_t *end, uint64_t *out)
{
    if (p < end && !(p[0] & 0x80)) {
        *out = p[0];
        return 1;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < 10 && p + i < end; i++) {
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            if (i == 9 && p[i] > 1)
                return 0; /* more than 64 bits */
            *out = v;
            return i + 1;
        }
    }
    return 0;
}

/* Wire type a (non-packed) field of this type arrives with. */
static int pb_expected_wt(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return WT_I64;
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return WT_I32;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        return WT_LEN;
    default:
        return WT_VARINT;
    }
}

static const char *const pb_wt_names[8] = {"varint", "fixed64", "length-delimited", "start-group",
                                           "end-group", "fixed32", "6", "7"};

static int pb_scan_message(pb_scan *s, const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                           const uint8_t *end)
{
    uint32_t counts[PB_MAX_TRACKED_FIELDS];
    bool track = s->track && desc->n_fields <= PB_MAX_TRACKED_FIELDS;
    if (track)
        memset(counts, 0, sizeof(counts[0]) * desc->n_fields);

    while (p < end) {
        const uint8_t *tag_at = p;
        uint64_t key;
        size_t used = pb_varint(p, end, &key);
        if (!used)
            return pb_fail(s, tag_at, "truncated or overlong tag", 0);
        p += used;
        uint64_t num64 = key >> 3;
        int wt = (int)(key & 7);
        if (num64 == 0 || num64 > 536870911u)
            return pb_fail(s, tag_at, "invalid field number", (uint32_t)(num64 & 0xffffffffu));
        uint32_t num = (uint32_t)num64;
        /* Most OTLP messages number their fields 1..n: index directly. */
        const ProtobufCFieldDescriptor *f;
        if (num <= desc->n_fields && desc->fields[num - 1].id == num)
            f = &desc->fields[num - 1];
        else
            f = protobuf_c_message_descriptor_get_field(desc, num);
        if (f) {
            int want = pb_expected_wt(f->type);
            bool packed_ok = f->label == PROTOBUF_C_LABEL_REPEATED && want != WT_LEN && wt == WT_LEN;
            if (wt != want && !packed_ok) {
                char what[96];
                snprintf(what, sizeof(what), "%s has wire type %s, expected %s", f->name,
                         pb_wt_names[wt], pb_wt_names[want]);
                return pb_fail(s, tag_at, what, num);
            }
        }
        switch (wt) {
        case WT_VARINT: {
            uint64_t v;
            used = pb_varint(p, end, &v);
            if (!used)
                return pb_fail(s, tag_at, "truncated or overlong varint", num);
            p += used;
            break;
        }
        case WT_I64:
            if ((size_t)(end - p) < 8)
                return pb_fail(s, tag_at, "truncated fixed64", num);
            p += 8;
            break;
        case WT_I32:
            if ((size_t)(end - p) < 4)
                return pb_fail(s, tag_at, "truncated fixed32", num);
            p += 4;
            break;
        case WT_LEN: {
            uint64_t len;
            used = pb_varint(p, end, &len);
            if (!used)
                return pb_fail(s, tag_at, "truncated length", num);
            p += used;
            if (len > (uint64_t)(end - p)) {
                char what[96];
                snprintf(what, sizeof(what), "length %llu exceeds the %zu bytes left",
                         (unsigned long long)len, (size_t)(end - p));
                return pb_fail(s, tag_at, what, num);
            }
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                if (s->depth >= PB_MAX_DEPTH)
                    return pb_fail(s, tag_at, "messages nested too deeply", num);
                uint32_t idx = 0;
                if (track) {
                    size_t fi = (size_t)(f - desc->fields);
                    idx = counts[fi]++;
                }
                s->path[s->depth].field = f;
                s->path[s->depth].index = idx;
                s->depth++;
                int rv = pb_scan_message(s, f->descriptor, p, p + len);
                if (rv)
                    return rv;
                s->depth--;
            }
            p += len;
            break;
        }
        default:
            return pb_fail(s, tag_at, "unsupported wire type (groups are not used by OTLP)", num);
        }
    }
    return 0;
}

int fw__otlp_pb_check(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t n,
                      fw_parse_error *err)
{
    static const uint8_t empty[1] = {0};
    if (!p || n == 0) {
        p = empty;
        n = 0;
    }
    pb_scan s;
    s.base = p;
    s.err = err;
    s.depth = 0;
    s.track = false;
    int rv = pb_scan_message(&s, desc, p, p + n);
    if (rv) {
        /* Scan again, slower, to name the element indexes in the message. */
        s.depth = 0;
        s.track = true;
        if (pb_scan_message(&s, desc, p, p + n) == 0)
            fw__otlp_error(err, FW_OTLP_REASON_PB, "malformed protobuf"); /* unreachable */
    }
    return rv;
}

int fw__otlp_pb_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t n,
                       fw_arena *arena, ProtobufCMessage **out, fw_parse_error *err)
{
    static const uint8_t empty[1] = {0};
    *out = NULL;
    if (!p || n == 0) {
        p = empty;
        n = 0;
    }
    int rv = fw__otlp_pb_check(desc, p, n, err);
    if (rv)
        return rv;

    ProtobufCAllocator alloc;
    fw_arena_protobuf_allocator(arena, &alloc);
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &alloc, n, p);
    if (!m) {
        if (fw_arena_exhausted(arena)) {
            fw__otlp_error(err, FW_OTLP_REASON_NOMEM,
                           "request needs more decode memory than allowed (%zu bytes used)",
                           fw_arena_used(arena));
            return FW_ERR_NOMEM;
        }
        fw__otlp_error(err, FW_OTLP_REASON_PB,
                       "malformed protobuf: %s could not be decoded (invalid field contents)",
                       desc->name);
        return FW_ERR_INVALID;
    }
    *out = m;
    return 0;
}

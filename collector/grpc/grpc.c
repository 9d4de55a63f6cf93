/* grpc.c - gRPC over HTTP/2 message framing and status helpers (sans-I/O).
 * Owns the 5-byte length-prefixed message format (flag byte, big-endian
 * length), grpc-message percent-encoding, grpc-timeout parsing and status
 * names. Never allocates for parsing, never trusts a declared length before
 * checking it against the caller's limit, never touches sockets or clocks. */
#include "flywheel/grpc.h"

#include <string.h>

#define GRPC_PREFIX_LEN         5u
#define GRPC_TIMEOUT_MAX_DIGITS 8u

int fw_grpc_frame_parse(const uint8_t *p, size_t n, size_t max_len, fw_grpc_message *out,
                        size_t *consumed, fw_parse_error *err)
{
    if (n == 0) return FW_ERR_AGAIN;
    /* The flag is judged as soon as it arrives: waiting for more bytes of a
     * stream that is already wrong only wastes buffer space. */
    if (p[0] > 1) {
        if (err)
            fw_parse_error_set(err, "bad_grpc_flag",
                               "gRPC message prefix has compressed-flag 0x%02x (must be 0 or 1)",
                               (unsigned)p[0]);
        return FW_ERR_INVALID;
    }
    if (n < GRPC_PREFIX_LEN) return FW_ERR_AGAIN;

    uint32_t declared =
        ((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 8) | (uint32_t)p[4];
    if ((uint64_t)declared > (uint64_t)max_len) {
        if (err)
            fw_parse_error_set(err, "grpc_message_too_large",
                               "gRPC message of %u bytes exceeds the limit of %zu bytes",
                               (unsigned)declared, max_len);
        return FW_ERR_TOO_LARGE;
    }
    if (n - GRPC_PREFIX_LEN < (size_t)declared) return FW_ERR_AGAIN;

    out->compressed = p[0] == 1;
    out->payload = p + GRPC_PREFIX_LEN;
    out->len = declared;
    *consumed = GRPC_PREFIX_LEN + (size_t)declared;
    return 0;
}

int fw_grpc_frame_write(fw_buf *out, const uint8_t *p, size_t n, bool compressed)
{
    if (n > UINT32_MAX) return FW_ERR_TOO_LARGE;
    if (n > SIZE_MAX - GRPC_PREFIX_LEN) return FW_ERR_TOO_LARGE;
    int rv = fw_buf_reserve(out, GRPC_PREFIX_LEN + n);
    if (rv) return rv;
    uint8_t prefix[GRPC_PREFIX_LEN] = {
        compressed ? 1u : 0u, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n,
    };
    /* Reserved above, so neither append can fail halfway. */
    rv = fw_buf_append(out, prefix, sizeof prefix);
    if (rv) return rv;
    if (n > 0) rv = fw_buf_append(out, p, n);
    return rv;
}

void fw_grpc_message_encode(const char *msg, char *out, size_t outsz)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    if (outsz == 0) return;
    if (msg) {
        for (const unsigned char *s = (const unsigned char *)msg; *s; s++) {
            /* SPEC gRPC: Percent-Byte-Unencoded is 0x20-0x7E except '%'. */
            bool plain = *s >= 0x20 && *s <= 0x7e && *s != '%';
            size_t need = plain ? 1u : 3u;
            if (outsz - 1 - o < need) break; /* never split an escape */
            if (plain) {
                out[o++] = (char)*s;
            } else {
                out[o++] = '%';
                out[o++] = hex[*s >> 4];
                out[o++] = hex[*s & 0x0f];
            }
        }
    }
    out[o] = '\0';
}

int fw_grpc_timeout_parse(fw_str v, uint64_t *ns)
{
    /* SPEC gRPC: Timeout = TimeoutValue TimeoutUnit, value 1-8 ASCII digits. */
    if (!v.ptr || v.len < 2 || v.len > GRPC_TIMEOUT_MAX_DIGITS + 1) return FW_ERR_INVALID;

    uint64_t value = 0;
    for (size_t i = 0; i + 1 < v.len; i++) {
        char c = v.ptr[i];
        if (c < '0' || c > '9') return FW_ERR_INVALID;
        value = value * 10u + (uint64_t)(c - '0'); /* at most 99999999: no overflow */
    }

    uint64_t unit_ns;
    switch (v.ptr[v.len - 1]) {
    case 'H': unit_ns = 3600ull * 1000000000ull; break;
    case 'M': unit_ns = 60ull * 1000000000ull; break;
    case 'S': unit_ns = 1000000000ull; break;
    case 'm': unit_ns = 1000000ull; break;
    case 'u': unit_ns = 1000ull; break;
    case 'n': unit_ns = 1ull; break;
    default: return FW_ERR_INVALID;
    }
    /* 99999999 hours does not fit in 64-bit nanoseconds: saturate (it is
     * "no deadline" in practice). */
    if (value > UINT64_MAX / unit_ns)
        *ns = UINT64_MAX;
    else
        *ns = value * unit_ns;
    return 0;
}

const char *fw_grpc_status_name(int status)
{
    static const char *const names[] = {
        [FW_GRPC_OK] = "OK",
        [FW_GRPC_CANCELLED] = "CANCELLED",
        [FW_GRPC_UNKNOWN] = "UNKNOWN",
        [FW_GRPC_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
        [FW_GRPC_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
        [FW_GRPC_NOT_FOUND] = "NOT_FOUND",
        [FW_GRPC_ALREADY_EXISTS] = "ALREADY_EXISTS",
        [FW_GRPC_PERMISSION_DENIED] = "PERMISSION_DENIED",
        [FW_GRPC_RESOURCE_EXHAUSTED] = "RESOURCE_EXHAUSTED",
        [FW_GRPC_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
        [FW_GRPC_ABORTED] = "ABORTED",
        [FW_GRPC_OUT_OF_RANGE] = "OUT_OF_RANGE",
        [FW_GRPC_UNIMPLEMENTED] = "UNIMPLEMENTED",
        [FW_GRPC_INTERNAL] = "INTERNAL",
        [FW_GRPC_UNAVAILABLE] = "UNAVAILABLE",
        [FW_GRPC_DATA_LOSS] = "DATA_LOSS",
        [FW_GRPC_UNAUTHENTICATED] = "UNAUTHENTICATED",
    };
    if (status < 0 || (size_t)status >= sizeof names / sizeof names[0]) return "UNKNOWN";
    return names[status];
}

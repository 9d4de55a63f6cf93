/* wal_scan.c - the sans-I/O reader and record encoder of write-ahead log
 * segments (layout in include/flywheel/wal.h). Reads only the buffer it is
 * given: every length is checked against what remains before use, and a
 * bad record ends the valid prefix. Never touches files or the clock. */
#include <string.h>
#include <zlib.h>

#include "flywheel/wal.h"
#include "wal_internal.h"

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | ((uint64_t)get_u32(p + 4) << 32);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

/* crc32 of the header bytes after the crc field, then the payload. */
static uint32_t record_crc(const uint8_t *hdr, const uint8_t *payload, size_t len)
{
    uLong c = crc32(0L, Z_NULL, 0);
    c = crc32(c, hdr + 8, FW_WAL_HDR_LEN - 8);
    if (len) c = crc32(c, payload, (uInt)len);
    return (uint32_t)c;
}

void fw__wal_header_encode(uint8_t hdr[FW_WAL_HDR_LEN], fw_wal_type type, uint8_t protocol,
                           uint64_t arrival_ns, const uint8_t *payload, size_t len)
{
    put_u32(hdr, (uint32_t)len);
    hdr[8] = (uint8_t)type;
    hdr[9] = protocol;
    hdr[10] = 0;
    hdr[11] = 0;
    put_u64(hdr + 12, arrival_ns);
    put_u32(hdr + 4, record_crc(hdr, payload, len));
}

int fw_wal_scan(const uint8_t *buf, size_t len, fw_wal_record_fn fn, void *ctx, size_t *good_len,
                const char **why)
{
    *good_len = 0;
    *why = NULL;
    if (len < FW_WAL_MAGIC_LEN || memcmp(buf, FW_WAL_MAGIC, FW_WAL_MAGIC_LEN) != 0) {
        *why = len < FW_WAL_MAGIC_LEN ? "short_magic" : "bad_magic";
        return FW_ERR_INVALID;
    }
    size_t off = FW_WAL_MAGIC_LEN;
    *good_len = off;
    while (off < len) {
        size_t left = len - off;
        const uint8_t *h = buf + off;
        if (left < FW_WAL_HDR_LEN) {
            *why = "short_header";
            return FW_ERR_INVALID;
        }
        uint32_t plen = get_u32(h);
        if (plen > FW_WAL_RECORD_MAX) {
            *why = "oversized_record";
            return FW_ERR_INVALID;
        }
        if ((size_t)plen > left - FW_WAL_HDR_LEN) {
            *why = "short_payload";
            return FW_ERR_INVALID;
        }
        const uint8_t *payload = h + FW_WAL_HDR_LEN;
        if (record_crc(h, payload, plen) != get_u32(h + 4)) {
            *why = "bad_crc";
            return FW_ERR_INVALID;
        }
        if ((h[8] != FW_WAL_TRACES && h[8] != FW_WAL_LOGS) || h[10] || h[11]) {
            *why = "bad_type";
            return FW_ERR_INVALID;
        }
        if (fn) {
            fw_wal_record r = {
                .type = (fw_wal_type)h[8],
                .protocol = h[9],
                .arrival_ns = get_u64(h + 12),
                .payload = payload,
                .len = plen,
            };
            fn(ctx, &r);
        }
        off += FW_WAL_HDR_LEN + (size_t)plen;
        *good_len = off;
    }
    return 0;
}

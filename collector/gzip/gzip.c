/* gzip.c - bounded gzip/zlib inflate and gzip deflate over zlib (sans-I/O).
 * Owns the rule that decompressed output never exceeds the caller's fw_buf
 * max: inflation goes through a fixed stack window and stops the moment one
 * more byte would pass the max, so a gzip bomb costs at most max bytes plus
 * zlib's ~40 KiB state. Concatenated gzip members (RFC 1952 2.2) are
 * inflated one after another, as gzip(1) and Go's reader do; anything else
 * after the end of a stream is rejected as trailing garbage. */
#include "flywheel/gzip.h"

#include <limits.h>
#include <string.h>
#include <zlib.h>

#define GZIP_WINDOW_CHUNK (16u * 1024u)
/* 15 = 32 KiB window; +32 = detect gzip or zlib header; +16 = write gzip. */
#define GZIP_INFLATE_WBITS (15 + 32)
#define GZIP_DEFLATE_WBITS (15 + 16)

static void set_err(fw_parse_error *err, const char *reason, const char *detail, const char *zmsg)
{
    if (!err) return;
    if (zmsg)
        fw_parse_error_set(err, reason, "%s (%s)", detail, zmsg);
    else
        fw_parse_error_set(err, reason, "%s", detail);
}

static void set_too_large(fw_parse_error *err, size_t max)
{
    if (err)
        fw_parse_error_set(err, "gzip_too_large",
                           "decompressed body exceeds the limit of %zu bytes", max);
}

/* Gives zlib the next piece of the input (avail_in is 32-bit). */
static void feed(z_stream *zs, const uint8_t **rest, size_t *rest_len)
{
    if (zs->avail_in > 0 || *rest_len == 0) return;
    size_t piece = *rest_len < (size_t)UINT_MAX ? *rest_len : (size_t)UINT_MAX;
    zs->next_in = (Bytef *)(uintptr_t)*rest; /* zlib does not write through next_in */
    zs->avail_in = (uInt)piece;
    *rest += piece;
    *rest_len -= piece;
}

int fw_gzip_inflate(const uint8_t *in, size_t n, fw_buf *out, fw_parse_error *err)
{
    uint8_t window[GZIP_WINDOW_CHUNK];
    z_stream zs;
    int rv = 0;

    if (n == 0) {
        set_err(err, "gzip_empty", "empty gzip body", NULL);
        return FW_ERR_INVALID;
    }

    memset(&zs, 0, sizeof zs);
    int zr = inflateInit2(&zs, GZIP_INFLATE_WBITS);
    if (zr == Z_MEM_ERROR) return FW_ERR_NOMEM;
    if (zr != Z_OK) {
        set_err(err, "gzip_init", "cannot initialise inflate", zs.msg);
        return FW_ERR_INVALID;
    }

    const uint8_t *rest = in;
    size_t rest_len = n;
    for (;;) {
        feed(&zs, &rest, &rest_len);
        zs.next_out = window;
        zs.avail_out = (uInt)sizeof window;
        zr = inflate(&zs, Z_NO_FLUSH);

        size_t produced = sizeof window - zs.avail_out;
        if (produced > 0) {
            /* fw_buf refuses to pass its max and leaves itself unchanged. */
            rv = fw_buf_append(out, window, produced);
            if (rv == FW_ERR_TOO_LARGE) set_too_large(err, out->max);
            if (rv) goto out;
        }

        switch (zr) {
        case Z_OK: continue;
        case Z_STREAM_END:
            feed(&zs, &rest, &rest_len);
            if (zs.avail_in == 0) goto out; /* consumed exactly: done */
            /* Another gzip member? Its magic must be complete and correct. */
            if (zs.avail_in >= 2 && zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b) {
                if (inflateReset(&zs) != Z_OK) {
                    set_err(err, "gzip_corrupt", "cannot reset inflate", zs.msg);
                    rv = FW_ERR_INVALID;
                    goto out;
                }
                continue;
            }
            set_err(err, "gzip_trailing_data", "trailing garbage after the end of the gzip stream",
                    NULL);
            rv = FW_ERR_INVALID;
            goto out;
        case Z_BUF_ERROR:
            /* No progress with fresh output space: the input ran out. */
            if (zs.avail_in == 0 && rest_len == 0) {
                set_err(err, "gzip_truncated", "truncated gzip stream", NULL);
                rv = FW_ERR_INVALID;
                goto out;
            }
            continue;
        case Z_NEED_DICT:
            set_err(err, "gzip_corrupt", "zlib stream needs a preset dictionary", NULL);
            rv = FW_ERR_INVALID;
            goto out;
        case Z_MEM_ERROR: rv = FW_ERR_NOMEM; goto out;
        case Z_DATA_ERROR:
        default:
            set_err(err, "gzip_corrupt", "corrupt gzip stream", zs.msg);
            rv = FW_ERR_INVALID;
            goto out;
        }
    }
out:
    inflateEnd(&zs);
    return rv;
}

int fw_gzip_deflate(const uint8_t *in, size_t n, fw_buf *out)
{
    uint8_t window[GZIP_WINDOW_CHUNK];
    z_stream zs;
    int rv = 0;

    memset(&zs, 0, sizeof zs);
    int zr = deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, GZIP_DEFLATE_WBITS, 8,
                          Z_DEFAULT_STRATEGY);
    if (zr == Z_MEM_ERROR) return FW_ERR_NOMEM;
    if (zr != Z_OK) return FW_ERR_INVALID;

    const uint8_t *rest = in;
    size_t rest_len = in ? n : 0;
    for (;;) {
        feed(&zs, &rest, &rest_len);
        int flush = rest_len == 0 ? Z_FINISH : Z_NO_FLUSH;
        zs.next_out = window;
        zs.avail_out = (uInt)sizeof window;
        zr = deflate(&zs, flush);
        if (zr == Z_STREAM_ERROR) {
            rv = FW_ERR_INVALID;
            goto out;
        }
        size_t produced = sizeof window - zs.avail_out;
        if (produced > 0) {
            rv = fw_buf_append(out, window, produced);
            if (rv) goto out;
        }
        if (zr == Z_STREAM_END) break;
    }
out:
    deflateEnd(&zs);
    return rv;
}

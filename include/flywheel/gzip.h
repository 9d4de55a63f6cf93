/* gzip.h - bounded gzip inflate/deflate over zlib (sans-I/O).
 * Inflation stops the moment output would pass the buffer's max, so a gzip
 * bomb costs at most that much memory. */
#ifndef FLYWHEEL_GZIP_H
#define FLYWHEEL_GZIP_H

#include <stddef.h>
#include <stdint.h>
#include "flywheel/buf.h"
#include "flywheel/error.h"

/* Inflates a gzip stream (also accepts zlib) |in,n| into |out| (appended,
 * bounded by out->max). Returns 0, FW_ERR_TOO_LARGE (output over max),
 * FW_ERR_INVALID (corrupt, truncated, trailing garbage) or FW_ERR_NOMEM. */
FW_WUR int fw_gzip_inflate(const uint8_t *in, size_t n, fw_buf *out, fw_parse_error *err);
/* Appends the gzip compression of |in,n| to |out|. */
FW_WUR int fw_gzip_deflate(const uint8_t *in, size_t n, fw_buf *out);

#endif

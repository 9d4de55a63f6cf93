/* fuzz_gzip.c - bounded inflate of arbitrary bytes with a 1 MiB cap: the
 * output never passes the cap, errors carry a reason, and whatever inflates
 * survives a deflate/inflate round trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flywheel/gzip.h"

#define FUZZ_CAP (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fw_buf out;
    fw_parse_error err;
    memset(&err, 0, sizeof err);
    fw_buf_init(&out, FUZZ_CAP);

    int rv = fw_gzip_inflate(data, size, &out, &err);
    if (out.len > FUZZ_CAP || out.cap > FUZZ_CAP) abort();
    if (rv != 0 && rv != FW_ERR_INVALID && rv != FW_ERR_TOO_LARGE && rv != FW_ERR_NOMEM) abort();
    if ((rv == FW_ERR_INVALID || rv == FW_ERR_TOO_LARGE) && !err.reason) abort();

    if (rv == 0 && out.len <= 64u * 1024u) {
        fw_buf z, back;
        fw_buf_init(&z, 2 * FUZZ_CAP);
        fw_buf_init(&back, out.len);
        if (fw_gzip_deflate(out.data, out.len, &z) != 0) abort();
        if (fw_gzip_inflate(z.data, z.len, &back, NULL) != 0 || back.len != out.len ||
            (out.len && memcmp(back.data, out.data, out.len) != 0))
            abort();
        fw_buf_free(&back);
        fw_buf_free(&z);
    }
    fw_buf_free(&out);
    return 0;
}

/* fuzz_wal.c - arbitrary segment bytes through the WAL reader: it never
 * reads past the buffer, the valid prefix it reports is within the input
 * and ends on a record boundary (rescanning the prefix is clean and yields
 * the same records), and every failure carries a reason. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flywheel/wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fuzz_count {
    size_t n;
    size_t bytes;
    const uint8_t *lo, *hi;
} fuzz_count;

static void on_record(void *ctx, const fw_wal_record *r)
{
    fuzz_count *c = ctx;
    if (r->len > FW_WAL_RECORD_MAX) abort();
    if (r->type != FW_WAL_TRACES && r->type != FW_WAL_LOGS) abort();
    if (r->payload < c->lo || r->payload + r->len > c->hi) abort();
    /* Touch every byte so a sanitizer sees an out-of-bounds payload. */
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < r->len; i++) sink ^= r->payload[i];
    (void)sink;
    c->n++;
    c->bytes += FW_WAL_HDR_LEN + r->len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_count c = {0, 0, data, data + size}, again = {0, 0, data, data + size};
    size_t good = 0, good2 = 0;
    const char *why = NULL;
    int rv = fw_wal_scan(data, size, on_record, &c, &good, &why);
    if (good > size) abort();
    if (rv != 0 && (rv != FW_ERR_INVALID || !why)) abort();
    if (rv == 0 && good != size) abort();
    if (good >= FW_WAL_MAGIC_LEN) {
        if (good != FW_WAL_MAGIC_LEN + c.bytes) abort();
        if (fw_wal_scan(data, good, on_record, &again, &good2, &why) != 0) abort();
        if (good2 != good || again.n != c.n) abort();
    } else if (c.n != 0) {
        abort();
    }
    return 0;
}

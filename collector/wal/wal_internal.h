/* wal_internal.h - helpers shared by the files of the wal module, and test
 * hooks of its group commit; not part of the public contract. */
#ifndef FLYWHEEL_WAL_INTERNAL_H
#define FLYWHEEL_WAL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "flywheel/wal.h"

/* Fills the record header for |payload,len| (len <= FW_WAL_RECORD_MAX). */
void fw__wal_header_encode(uint8_t hdr[FW_WAL_HDR_LEN], fw_wal_type type, uint8_t protocol,
                           uint64_t arrival_ns, const uint8_t *payload, size_t len);

/* Stands in for fdatasync(|fd|) of a segment file: returns 0, or -1 with
 * errno set. May be called without the log's lock, from any appender. */
typedef int (*fw__wal_sync_fn)(void *ctx, int fd);

/* Test hook: every later fsync of a segment file (group commits,
 * rotations, interval flushes, creation, close) calls |fn| with |ctx|
 * instead of fdatasync; NULL restores fdatasync. Set it while no append
 * runs; |ctx| is borrowed until the hook is replaced or the log closed. */
void fw__wal_test_set_sync(fw_wal *w, fw__wal_sync_fn fn, void *ctx);
/* Appenders whose record is written and who wait for a group commit
 * ("always"), the leader running the fsync included. */
size_t fw__wal_test_waiting(fw_wal *w);

#endif

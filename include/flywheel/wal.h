/* wal.h - the write-ahead log of accepted telemetry: the decompressed
 * request payloads, appended after a request decodes and before it is
 * acknowledged, replayed on start through the same decode + pipeline path.
 * Segmented files <dir>/<seq>.wal of checksummed records; a torn or corrupt
 * tail is truncated and counted, never fatal. Never decodes telemetry.
 *
 * Segment layout: 8-byte magic FW_WAL_MAGIC, then records:
 *   u32 le payload length | u32 le crc32 of bytes 8.. of the record |
 *   u8 type (fw_wal_type) | u8 protocol (fw_protocol) | u16 zero |
 *   u64 le arrival time (ns since the epoch) | payload.
 *
 * fsync policy (storage.wal_fsync): "always" fsyncs before an append
 * returns (safe against SIGKILL and power loss) with group commit:
 * concurrent appenders share fdatasyncs (each one covers every record
 * written before it started; a lone appender still pays one per request);
 * "interval" (default) returns once the record is in the page cache (safe
 * against SIGKILL and crashes of the process) and a flusher fsyncs every
 * storage.wal_fsync_interval_ms (power loss can lose that window); "never"
 * leaves flushing to the kernel. */
#ifndef FLYWHEEL_WAL_H
#define FLYWHEEL_WAL_H

#include <stddef.h>
#include <stdint.h>
#include "flywheel/error.h"

#define FW_WAL_MAGIC     "FLYWAL1\n"
#define FW_WAL_MAGIC_LEN 8u
#define FW_WAL_HDR_LEN   20u
/* Largest payload accepted in a record: bounds what a corrupt length field
 * can make the reader believe (the ingest limits cap real ones at 1 GiB). */
#define FW_WAL_RECORD_MAX (UINT32_C(1) << 30)

typedef struct fw_wal fw_wal;

typedef enum fw_wal_type { FW_WAL_TRACES = 1, FW_WAL_LOGS = 2 } fw_wal_type;

typedef enum fw_wal_fsync {
    FW_WAL_FSYNC_NEVER = 0,
    FW_WAL_FSYNC_INTERVAL = 1,
    FW_WAL_FSYNC_ALWAYS = 2
} fw_wal_fsync;

typedef struct fw_wal_config {
    const char *dir;            /* created if missing (mode 0750) */
    uint64_t segment_bytes;     /* rotate once a segment reaches this size */
    fw_wal_fsync fsync;
    uint64_t fsync_interval_ns; /* FW_WAL_FSYNC_INTERVAL only */
    uint64_t retention_ns;      /* closed segments whose newest record is older are deleted */
    uint64_t max_bytes;         /* 0 = unbounded; else the oldest closed segments are
                                 * deleted while the log is larger */
} fw_wal_config;

/* One record as read back; |payload| is borrowed for the callback. */
typedef struct fw_wal_record {
    fw_wal_type type;
    uint8_t protocol;
    uint64_t arrival_ns;
    const uint8_t *payload;
    size_t len;
} fw_wal_record;

typedef void (*fw_wal_record_fn)(void *ctx, const fw_wal_record *r);

typedef struct fw_wal_stats {
    uint64_t bytes;            /* bytes in segment files on disk */
    uint64_t segments;         /* segment files on disk */
    uint64_t records;          /* records appended since start */
    uint64_t replayed_records; /* records read back at start */
    uint64_t corrupt;          /* torn/corrupt tails and unreadable segments found */
    uint64_t write_errors;     /* appends refused by a failed write or fsync */
    uint64_t syncs;            /* fdatasyncs of segment files since open (group
                                * commits, rotations, interval flushes, new
                                * segments) */
} fw_wal_stats;

/* Sans-I/O reader of one segment image |buf,len| (magic included): calls
 * |fn| for each good record in order and stores in |*good_len| the length
 * of the valid prefix. Returns 0 when the whole buffer is valid,
 * FW_ERR_INVALID at the first bad record (short, oversized, bad crc, bad
 * type) or a bad magic, with |*why| a static reason. |fn| may be NULL. */
FW_WUR int fw_wal_scan(const uint8_t *buf, size_t len, fw_wal_record_fn fn, void *ctx,
                       size_t *good_len, const char **why);

/* Opens (creating) the log in cfg->dir. Nothing is appended until
 * fw_wal_replay has run. Error text in |err|. */
FW_WUR int fw_wal_open(const fw_wal_config *cfg, fw_wal **out, char *err, size_t errlen);
/* Replays every segment in order through |fn| (records older than
 * |now_ns| - retention are skipped), truncating a torn or corrupt tail at
 * the last good record with a warning, then opens a fresh segment for
 * appends and starts the flusher. Call once, before any append. */
FW_WUR int fw_wal_replay(fw_wal *w, uint64_t now_ns, fw_wal_record_fn fn, void *ctx);
/* Appends one record; thread-safe. Returns once the record is written
 * (and, under "always", durable: an fsync that started after the write
 * completed, possibly run by another appender). FW_ERR_IO when the write
 * or fsync failed (disk full...): the caller answers 503/UNAVAILABLE; a
 * failed group fsync fails every appender still waiting, each counted in
 * write_errors. Logged once per failure spell; the next successful append
 * logs the recovery. */
FW_WUR int fw_wal_append(fw_wal *w, fw_wal_type type, uint8_t protocol, uint64_t arrival_ns,
                         const uint8_t *payload, size_t len);
/* Deletes closed segments older than the retention at |now_ns|, then the
 * oldest closed ones while the log is over max_bytes. */
void fw_wal_expire(fw_wal *w, uint64_t now_ns);
void fw_wal_stats_get(fw_wal *w, fw_wal_stats *out);
/* Flushes, fsyncs and closes; NULL is a no-op. */
void fw_wal_close(fw_wal *w);

#endif

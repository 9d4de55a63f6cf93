/* config.h - flywheel's configuration: one struct, one declarative table
 * (key, type, default, bounds, offsetof target, help) that drives YAML
 * loading, `--flag` overrides, validation, --help and the config dump.
 * Errors read "file:line: key: reason". Never touches the network. */
#ifndef FLYWHEEL_CONFIG_H
#define FLYWHEEL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "flywheel/error.h"
#include "flywheel/log.h"

#define FW_CONFIG_STR_MAX 512

typedef struct fw_listener_settings {
    char listen[FW_CONFIG_STR_MAX];         /* HOST:PORT */
    char tls_cert_file[FW_CONFIG_STR_MAX];  /* empty = cleartext */
    char tls_key_file[FW_CONFIG_STR_MAX];
    char tls_client_ca_file[FW_CONFIG_STR_MAX]; /* non-empty = mutual TLS */
} fw_listener_settings;

typedef struct fw_config {
    fw_listener_settings grpc; /* otlp_grpc.* */
    fw_listener_settings http; /* otlp_http.* */
    fw_listener_settings api;  /* api.* */
    uint64_t grpc_max_recv_msg_bytes; /* otlp_grpc.max_recv_msg_bytes */
    uint64_t http_max_body_bytes;     /* otlp_http.max_body_bytes */
    uint64_t api_max_body_bytes;      /* api.max_body_bytes */
    char data_dir[FW_CONFIG_STR_MAX]; /* storage.data_dir */
    uint64_t retention_s;             /* storage.retention (seconds; "2h" accepted) */
    uint64_t memory_limit_bytes;      /* storage.memory_limit ("1GiB" accepted) */
    uint64_t inflight_memory_bytes;   /* storage.inflight_memory (0 = memory_limit / 5) */
    uint64_t store_max_spans;         /* storage.max_spans */
    uint64_t store_max_logs;          /* storage.max_logs */
    uint64_t workers;                 /* server.workers (0 = one per core) */
    uint64_t max_connections;         /* server.max_connections */
    uint64_t idle_timeout_s;          /* server.idle_timeout */
    uint64_t header_timeout_s;        /* server.header_timeout */
    uint64_t h2_max_concurrent_streams; /* server.h2_max_concurrent_streams */
    uint64_t shutdown_grace_s;        /* server.shutdown_grace */
    /* SPEC 4: the throttling rule set is data; these extend the defaults. */
    char throttle_exception_types[FW_CONFIG_STR_MAX]; /* throttling.exception_types */
    char throttle_messages[FW_CONFIG_STR_MAX];        /* throttling.messages */
    fw_log_level log_level;           /* log.level */
    fw_log_format log_format;         /* log.format: logfmt|json */
    /* Added: bearer tokens (auth.*; empty = that surface is open). Each is
     * set inline or through its *_file (read at start by fw_auth). */
    char auth_ingest_token[FW_CONFIG_STR_MAX];      /* auth.ingest_token */
    char auth_ingest_token_file[FW_CONFIG_STR_MAX]; /* auth.ingest_token_file */
    char auth_read_token[FW_CONFIG_STR_MAX];        /* auth.read_token */
    char auth_read_token_file[FW_CONFIG_STR_MAX];   /* auth.read_token_file */
    char auth_write_token[FW_CONFIG_STR_MAX];       /* auth.write_token */
    char auth_write_token_file[FW_CONFIG_STR_MAX];  /* auth.write_token_file */
    /* Added: write-ahead log of accepted telemetry (fw_wal). */
    char wal[FW_CONFIG_STR_MAX];       /* storage.wal: on|off */
    char wal_fsync[FW_CONFIG_STR_MAX]; /* storage.wal_fsync: always|interval|never */
    uint64_t wal_fsync_interval_ms;    /* storage.wal_fsync_interval_ms */
    uint64_t wal_segment_bytes;        /* storage.wal_segment_bytes */
    uint64_t wal_max_bytes;            /* storage.wal_max_bytes (0 = 2 x memory_limit) */
} fw_config;

/* Fills the embedded defaults (SPEC.md 3, 4). */
void fw_config_defaults(fw_config *c);
/* Loads a YAML file over |c|: nested maps become dotted keys
 * (otlp_grpc: {listen: ...} is otlp_grpc.listen). Unknown keys and bad
 * values are errors: "file:line: key: reason" in |err|. */
FW_WUR int fw_config_load_file(fw_config *c, const char *path, char *err, size_t errlen);
/* Same from a memory buffer; |name| is used in messages (fuzzing, tests). */
FW_WUR int fw_config_load_yaml(fw_config *c, const char *name, const char *yaml, size_t len,
                               char *err, size_t errlen);
/* Sets one dotted key from a string, as a flag would. */
FW_WUR int fw_config_set(fw_config *c, const char *key, const char *value, char *err, size_t errlen);
/* Cross-field checks (e.g. TLS cert without key). */
FW_WUR int fw_config_validate(const fw_config *c, char *err, size_t errlen);
/* Prints every key with type, default and help (for --help). */
void fw_config_print_help(FILE *f);
/* Prints the effective configuration as YAML. */
void fw_config_dump(const fw_config *c, FILE *f);

#endif

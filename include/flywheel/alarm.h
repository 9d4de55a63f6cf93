/* alarm.h - alarm webhook intake, sans-I/O: maps the body of a generic,
 * Prometheus Alertmanager (webhook v4), Grafana (v1), SNS/CloudWatch or
 * PagerDuty Events v2 post to alarms {source, name, state, service,
 * operation, at, description, dedupe key} (SPEC 6). Never reads the clock
 * (|now_ns| is a parameter), never does I/O, never trusts a length. */
#ifndef FLYWHEEL_ALARM_H
#define FLYWHEEL_ALARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flywheel/error.h"

/* Largest webhook body parsed: Alertmanager batches up to a few hundred KiB;
 * more is abuse. */
#define FW_ALARM_BODY_MAX (1u * 1024u * 1024u)
/* Alerts taken from one post (Alertmanager/Grafana batches); more -> invalid. */
#define FW_ALARM_MAX_PER_POST 100u
/* JSON nesting accepted (stops deep-nesting stack abuse before jansson). */
#define FW_ALARM_MAX_DEPTH 32u
/* Longest name/service/operation (bytes, without NUL); longer -> invalid. */
#define FW_ALARM_NAME_MAX 255u
/* Descriptions are informational: longer ones are cut to this many bytes. */
#define FW_ALARM_DESC_MAX 511u
#define FW_ALARM_FINGERPRINT_MAX 127u
#define FW_ALARM_URL_MAX 1023u
/* "alarm/<source>/<n>:<name>/<n>:<service>/<n>:<operation>" */
#define FW_ALARM_KEY_MAX (3u * FW_ALARM_NAME_MAX + 64u)

typedef enum fw_alarm_source {
    FW_ALARM_SRC_GENERIC = 0,
    FW_ALARM_SRC_ALERTMANAGER,
    FW_ALARM_SRC_CLOUDWATCH,
    FW_ALARM_SRC_GRAFANA,
    FW_ALARM_SRC_PAGERDUTY
} fw_alarm_source;

/* Which parser the endpoint asks for; AUTO detects the shape (the generic
 * endpoint /api/v1/alarms). */
typedef enum fw_alarm_format {
    FW_ALARM_FMT_AUTO = 0,
    FW_ALARM_FMT_ALERTMANAGER,
    FW_ALARM_FMT_CLOUDWATCH
} fw_alarm_format;

typedef enum fw_alarm_state { FW_ALARM_FIRING = 0, FW_ALARM_RESOLVED = 1 } fw_alarm_state;

typedef struct fw_alarm {
    fw_alarm_source source;
    fw_alarm_state state;
    char name[FW_ALARM_NAME_MAX + 1];      /* never empty */
    char service[FW_ALARM_NAME_MAX + 1];   /* never empty */
    char operation[FW_ALARM_NAME_MAX + 1]; /* "" = the whole service */
    uint64_t at_ns; /* when it fired (resolved: when it ended); never 0 */
    char description[FW_ALARM_DESC_MAX + 1];
    char fingerprint[FW_ALARM_FINGERPRINT_MAX + 1]; /* sender's id, "" if none */
    char dedupe_key[FW_ALARM_KEY_MAX]; /* source + name + service + operation */
} fw_alarm;

/* The result of one post: alarms, or an SNS subscription confirmation (no
 * alarms, |subscribe_url| set: recorded and logged by the caller). Large
 * (about 160 KiB): allocate it on the heap. */
typedef struct fw_alarm_batch {
    fw_alarm_source source;
    bool subscription_confirmation;
    char subscribe_url[FW_ALARM_URL_MAX + 1];
    char topic_arn[FW_ALARM_NAME_MAX + 1];
    size_t n;
    fw_alarm alarms[FW_ALARM_MAX_PER_POST];
} fw_alarm_batch;

/* Parses |body| (|len| bytes, untrusted) into |out| (overwritten). |now_ns|
 * stands in for a missing time where the format allows one. Returns 0;
 * FW_ERR_INVALID or FW_ERR_TOO_LARGE with |err| naming the field (e.g.
 * "alerts[0].labels: missing service (service, service_name or job)");
 * FW_ERR_UNSUPPORTED for an SNS type that carries no alarm. */
FW_WUR int fw_alarm_parse(fw_alarm_format fmt, const void *body, size_t len, uint64_t now_ns,
                          fw_alarm_batch *out, fw_parse_error *err);

/* "generic", "alertmanager", "cloudwatch", "grafana", "pagerduty". */
const char *fw_alarm_source_name(fw_alarm_source s);

/* RFC 3339 (Z, +hh:mm or +hhmm, any fraction) or unix nanoseconds in
 * decimal, |n| bytes, into unix ns; false when malformed or before 1970. */
bool fw_alarm_parse_time(const char *s, size_t n, uint64_t *out_ns);

#endif

/* alarm.c - alarm webhook parsing (generic, Alertmanager v4, Grafana v1,
 * SNS/CloudWatch, PagerDuty Events v2) into fw_alarm records, with shape
 * detection for the generic endpoint. Sans-I/O: never reads the clock or
 * a socket; every string is bounded and every error names its field. */
#include "flywheel/alarm.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Field path of the value being parsed ("alerts[3].labels"), for errors. */
#define PATH_MAX_LEN 96

const char *fw_alarm_source_name(fw_alarm_source s)
{
    switch (s) {
    case FW_ALARM_SRC_ALERTMANAGER:
        return "alertmanager";
    case FW_ALARM_SRC_CLOUDWATCH:
        return "cloudwatch";
    case FW_ALARM_SRC_GRAFANA:
        return "grafana";
    case FW_ALARM_SRC_PAGERDUTY:
        return "pagerduty";
    default:
        return "generic";
    }
}

/* ---- time ---- */

static bool digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int month_days(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

bool fw_alarm_parse_time(const char *s, size_t n, uint64_t *out_ns)
{
    if (n == 0 || n > 64)
        return false;
    size_t k = 0;
    while (k < n && s[k] >= '0' && s[k] <= '9')
        k++;
    if (k == n) { /* unix nanoseconds */
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned d = (unsigned)(s[i] - '0');
            if (v > (UINT64_MAX - d) / 10u)
                return false;
            v = v * 10u + d;
        }
        if (v == 0)
            return false;
        *out_ns = v;
        return true;
    }
    int y, mo, d, h, mi, sec;
    if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        s[13] != ':' || s[16] != ':')
        return false;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 || mi > 59 || sec > 60)
        return false;
    size_t i = 19;
    uint64_t frac = 0;
    if (i < n && s[i] == '.') {
        uint64_t scale = 100000000u;
        i++;
        if (i >= n || s[i] < '0' || s[i] > '9')
            return false;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            frac += (uint64_t)(s[i] - '0') * scale;
            scale /= 10u;
        }
    }
    int64_t offset = 0;
    if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
        offset = 0;
    } else if ((s[i] == '+' || s[i] == '-') && (i + 6 == n || i + 5 == n)) {
        int oh, om;
        bool colon = i + 6 == n;
        if (colon && s[i + 3] != ':')
            return false;
        if (!digits(s + i + 1, 2, &oh) || !digits(s + i + (colon ? 4 : 3), 2, &om) || oh > 23 ||
            om > 59)
            return false;
        offset = (int64_t)(oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
    } else {
        return false;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    if (secs < 0 || (secs == 0 && frac == 0) || (uint64_t)secs > UINT64_MAX / 1000000000u - 1u)
        return false;
    *out_ns = (uint64_t)secs * 1000000000u + frac;
    return true;
}

/* ---- helpers ---- */

static int fail(fw_parse_error *err, int rv, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(fw_parse_error *err, int rv, const char *reason, const char *fmt, ...)
{
    char msg[sizeof(err->detail)];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    fw_parse_error_set(err, reason, "%s", msg);
    return rv;
}

/* Nesting depth of |p| outside strings; stops deep input before jansson. */
static bool depth_ok(const char *p, size_t n, unsigned max)
{
    unsigned depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                return false;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return true;
}

/* A string member, or NULL when absent/null. Sets *bad when present with
 * another type. */
static const char *str_member(const json_t *obj, const char *key, size_t *len, bool *bad)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        *bad = true;
        return NULL;
    }
    *len = json_string_length(v);
    return json_string_value(v);
}

/* Copies a bounded name field; FW_ERR_INVALID naming |path|.|key| when too
 * long or holding a NUL. */
static int copy_name(char *dst, const char *src, size_t len, const char *path, const char *key,
                     fw_parse_error *err)
{
    if (len > FW_ALARM_NAME_MAX)
        return fail(err, FW_ERR_INVALID, "field_too_long", "%s%s%s: longer than %u bytes", path,
                    *path ? "." : "", key, FW_ALARM_NAME_MAX);
    if (memchr(src, '\0', len))
        return fail(err, FW_ERR_INVALID, "bad_field", "%s%s%s: contains a NUL", path,
                    *path ? "." : "", key);
    memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

/* Copies, cutting at |max| bytes on a UTF-8 boundary; NULs end the copy. */
static void copy_cut(char *dst, size_t max, const char *src, size_t len)
{
    if (!src)
        len = 0;
    if (len > max) {
        len = max;
        while (len > 0 && ((unsigned char)src[len] & 0xC0u) == 0x80u)
            len--;
    }
    const char *nul = len ? memchr(src, '\0', len) : NULL;
    if (nul)
        len = (size_t)(nul - src);
    if (len)
        memcpy(dst, src, len);
    dst[len] = '\0';
}

/* First present string among |keys| (NULL-terminated); |which| gets the key. */
static const char *first_of(const json_t *obj, const char *const *keys, size_t *len,
                            const char **which, bool *bad)
{
    for (size_t i = 0; keys[i]; i++) {
        const char *s = str_member(obj, keys[i], len, bad);
        if (s && *len > 0) {
            *which = keys[i];
            return s;
        }
    }
    return NULL;
}

static const char *const SERVICE_KEYS[] = {"service", "service_name", "job", NULL};
static const char *const OPERATION_KEYS[] = {"operation", "span_name", "http_route", NULL};

static void finish_alarm(fw_alarm *al)
{
    int n = snprintf(al->dedupe_key, sizeof(al->dedupe_key), "alarm/%s/%zu:%s/%zu:%s/%zu:%s",
                     fw_alarm_source_name(al->source), strlen(al->name), al->name,
                     strlen(al->service), al->service, strlen(al->operation), al->operation);
    if (n < 0)
        al->dedupe_key[0] = '\0';
}

/* Firing words of the formats: firing, ALARM, alerting, triggered, trigger. */
static int parse_state(const char *s, fw_alarm_state *out)
{
    static const char *const firing[] = {"firing", "alarm", "alerting", "triggered", "trigger",
                                         "critical", NULL};
    static const char *const resolved[] = {"ok", "resolved", "resolve", "normal", "inactive",
                                           "insufficient_data", NULL};
    for (size_t i = 0; firing[i]; i++)
        if (strcasecmp(s, firing[i]) == 0) {
            *out = FW_ALARM_FIRING;
            return 0;
        }
    for (size_t i = 0; resolved[i]; i++)
        if (strcasecmp(s, resolved[i]) == 0) {
            *out = FW_ALARM_RESOLVED;
            return 0;
        }
    return FW_ERR_INVALID;
}

static int time_member(const json_t *obj, const char *key, const char *path, uint64_t *out,
                       bool *present, fw_parse_error *err)
{
    json_t *v = json_object_get(obj, key);
    *present = false;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i <= 0)
            goto bad;
        *out = (uint64_t)i;
        *present = true;
        return 0;
    }
    if (json_is_string(v)) {
        size_t n = json_string_length(v);
        if (!fw_alarm_parse_time(json_string_value(v), n, out))
            goto bad;
        *present = true;
        return 0;
    }
bad:
    return fail(err, FW_ERR_INVALID, "bad_field",
                "%s%s%s: must be an RFC 3339 time or unix nanoseconds", path, *path ? "." : "",
                key);
}

/* ---- generic ---- */

static int parse_generic(const json_t *root, uint64_t now_ns, fw_alarm_batch *out,
                         fw_parse_error *err)
{
    (void)now_ns;
    fw_alarm *al = &out->alarms[0];
    size_t n = 0;
    bool bad = false;
    int rv;
    out->source = FW_ALARM_SRC_GENERIC;
    al->source = FW_ALARM_SRC_GENERIC;

    const char *s = str_member(root, "name", &n, &bad);
    if (bad || !s || n == 0)
        return fail(err, FW_ERR_INVALID, bad ? "bad_field" : "missing_field",
                    bad ? "name: must be a string" : "name: missing");
    if ((rv = copy_name(al->name, s, n, "", "name", err)))
        return rv;
    const char *which = NULL;
    s = first_of(root, SERVICE_KEYS, &n, &which, &bad);
    if (bad)
        return fail(err, FW_ERR_INVALID, "bad_field", "service: must be a string");
    if (!s)
        return fail(err, FW_ERR_INVALID, "missing_field",
                    "service: missing (service, service_name or job)");
    if ((rv = copy_name(al->service, s, n, "", which, err)))
        return rv;
    s = first_of(root, OPERATION_KEYS, &n, &which, &bad);
    if (bad)
        return fail(err, FW_ERR_INVALID, "bad_field", "operation: must be a string");
    if (s && (rv = copy_name(al->operation, s, n, "", which, err)))
        return rv;
    s = str_member(root, "state", &n, &bad);
    if (bad || !s)
        return fail(err, FW_ERR_INVALID, bad ? "bad_field" : "missing_field",
                    bad ? "state: must be a string" : "state: missing (firing or resolved)");
    if (parse_state(s, &al->state))
        return fail(err, FW_ERR_INVALID, "bad_field",
                    "state: must be firing, ALARM, alerting, triggered, OK or resolved");
    bool present = false;
    if ((rv = time_member(root, "timestamp", "", &al->at_ns, &present, err)))
        return rv;
    if (!present)
        return fail(err, FW_ERR_INVALID, "missing_field",
                    "timestamp: missing (RFC 3339 time or unix nanoseconds)");
    s = str_member(root, "description", &n, &bad);
    if (bad)
        return fail(err, FW_ERR_INVALID, "bad_field", "description: must be a string");
    copy_cut(al->description, FW_ALARM_DESC_MAX, s, n);
    finish_alarm(al);
    out->n = 1;
    return 0;
}

/* ---- Alertmanager v4 and Grafana v1 ---- */

static int parse_alert(const json_t *a, size_t idx, fw_alarm_source src, const char *title,
                       const char *group_status, uint64_t now_ns, fw_alarm *al,
                       fw_parse_error *err)
{
    char path[PATH_MAX_LEN];
    char lpath[PATH_MAX_LEN];
    size_t n = 0;
    bool bad = false;
    int rv;
    snprintf(path, sizeof(path), "alerts[%zu]", idx);
    snprintf(lpath, sizeof(lpath), "alerts[%zu].labels", idx);
    al->source = src;
    if (!json_is_object(a))
        return fail(err, FW_ERR_INVALID, "bad_field", "%s: must be an object", path);
    json_t *labels = json_object_get(a, "labels");
    if (!json_is_object(labels))
        return fail(err, FW_ERR_INVALID, labels ? "bad_field" : "missing_field",
                    "%s: %s", lpath, labels ? "must be an object" : "missing");
    json_t *ann = json_object_get(a, "annotations");
    if (ann && !json_is_null(ann) && !json_is_object(ann))
        return fail(err, FW_ERR_INVALID, "bad_field", "%s.annotations: must be an object", path);

    const char *s = str_member(labels, "alertname", &n, &bad);
    if (bad)
        return fail(err, FW_ERR_INVALID, "bad_field", "%s.alertname: must be a string", lpath);
    if ((!s || n == 0) && title) {
        s = title;
        n = strlen(title);
    }
    if (!s || n == 0)
        return fail(err, FW_ERR_INVALID, "missing_field", "%s: missing alertname", lpath);
    if ((rv = copy_name(al->name, s, n, lpath, "alertname", err)))
        return rv;
    const char *which = NULL;
    s = first_of(labels, SERVICE_KEYS, &n, &which, &bad);
    if (bad)
        return fail(err, FW_ERR_INVALID, "bad_field", "%s.service: must be a string", lpath);
    if (!s)
        return fail(err, FW_ERR_INVALID, "missing_field",
                    "%s: missing service (service, service_name or job)", lpath);
    if ((rv = copy_name(al->service, s, n, lpath, which, err)))
        return rv;
    s = first_of(labels, OPERATION_KEYS, &n, &which, &bad);
    if (bad)
        return fail(err, FW_ERR_INVALID, "bad_field", "%s.operation: must be a string", lpath);
    if (s && (rv = copy_name(al->operation, s, n, lpath, which, err)))
        return rv;

    s = str_member(a, "status", &n, &bad);
    if (bad)
        return fail(err, FW_ERR_INVALID, "bad_field", "%s.status: must be a string", path);
    if (!s)
        s = group_status;
    if (!s)
        return fail(err, FW_ERR_INVALID, "missing_field", "%s.status: missing", path);
    if (parse_state(s, &al->state))
        return fail(err, FW_ERR_INVALID, "bad_field", "%s.status: must be firing or resolved",
                    path);

    bool has_start = false, has_end = false;
    uint64_t start = 0, end = 0;
    /* Alertmanager sends "0001-01-01T00:00:00Z" for an open endsAt: that
     * is before 1970 and reads as absent. */
    json_t *ends = json_object_get(a, "endsAt");
    bool zero_end = json_is_string(ends) && strncmp(json_string_value(ends), "0001-", 5) == 0;
    if ((rv = time_member(a, "startsAt", path, &start, &has_start, err)))
        return rv;
    if (!zero_end && (rv = time_member(a, "endsAt", path, &end, &has_end, err)))
        return rv;
    if (al->state == FW_ALARM_RESOLVED && has_end)
        al->at_ns = end;
    else if (has_start)
        al->at_ns = start;
    else
        al->at_ns = now_ns;
    if (al->at_ns == 0)
        return fail(err, FW_ERR_INVALID, "missing_field", "%s.startsAt: missing", path);

    const char *desc = NULL;
    if (json_is_object(ann)) {
        desc = str_member(ann, "summary", &n, &bad);
        if (!desc)
            desc = str_member(ann, "description", &n, &bad);
    }
    copy_cut(al->description, FW_ALARM_DESC_MAX, desc, desc ? n : 0);
    s = str_member(a, "fingerprint", &n, &bad);
    copy_cut(al->fingerprint, FW_ALARM_FINGERPRINT_MAX, s, s ? n : 0);
    finish_alarm(al);
    return 0;
}

static int parse_alerts(const json_t *root, fw_alarm_source src, uint64_t now_ns,
                        fw_alarm_batch *out, fw_parse_error *err)
{
    out->source = src;
    json_t *alerts = json_object_get(root, "alerts");
    if (!json_is_array(alerts))
        return fail(err, FW_ERR_INVALID, alerts ? "bad_field" : "missing_field", "alerts: %s",
                    alerts ? "must be an array" : "missing");
    size_t count = json_array_size(alerts);
    if (count > FW_ALARM_MAX_PER_POST)
        return fail(err, FW_ERR_TOO_LARGE, "too_many_alerts",
                    "alerts: %zu alerts, at most %u per post", count, FW_ALARM_MAX_PER_POST);
    size_t n = 0;
    bool bad = false;
    const char *title = str_member(root, "title", &n, &bad);
    if (title && n > FW_ALARM_NAME_MAX)
        title = NULL;
    bad = false;
    const char *status = str_member(root, "status", &n, &bad);
    for (size_t i = 0; i < count; i++) {
        int rv = parse_alert(json_array_get(alerts, i), i, src, title, status, now_ns,
                             &out->alarms[i], err);
        if (rv)
            return rv;
    }
    out->n = count;
    return 0;
}

/* ---- SNS / CloudWatch ---- */

static int parse_cloudwatch_state(const json_t *msg, const char *path, uint64_t now_ns,
                                  fw_alarm_batch *out, fw_parse_error *err)
{
    fw_alarm *al = &out->alarms[0];
    size_t n = 0;
    bool bad = false;
    int rv;
    char p[PATH_MAX_LEN];
    const char *dot = *path ? "." : "";
    out->source = FW_ALARM_SRC_CLOUDWATCH;
    al->source = FW_ALARM_SRC_CLOUDWATCH;

    const char *s = str_member(msg, "AlarmName", &n, &bad);
    if (bad || !s || n == 0)
        return fail(err, FW_ERR_INVALID, bad ? "bad_field" : "missing_field",
                    "%s%sAlarmName: %s", path, dot, bad ? "must be a string" : "missing");
    if ((rv = copy_name(al->name, s, n, path, "AlarmName", err)))
        return rv;
    s = str_member(msg, "NewStateValue", &n, &bad);
    if (bad || !s)
        return fail(err, FW_ERR_INVALID, bad ? "bad_field" : "missing_field",
                    "%s%sNewStateValue: %s", path, dot, bad ? "must be a string" : "missing");
    if (parse_state(s, &al->state))
        return fail(err, FW_ERR_INVALID, "bad_field",
                    "%s%sNewStateValue: must be ALARM, OK or INSUFFICIENT_DATA", path, dot);
    bool present = false;
    if ((rv = time_member(msg, "StateChangeTime", path, &al->at_ns, &present, err)))
        return rv;
    if (!present)
        al->at_ns = now_ns;

    snprintf(p, sizeof(p), "%s%sTrigger.Dimensions", path, dot);
    json_t *trigger = json_object_get(msg, "Trigger");
    json_t *dims = json_is_object(trigger) ? json_object_get(trigger, "Dimensions") : NULL;
    if (dims && !json_is_null(dims) && !json_is_array(dims))
        return fail(err, FW_ERR_INVALID, "bad_field", "%s: must be an array", p);
    size_t nd = json_array_size(dims);
    for (size_t i = 0; i < nd && i < 64u; i++) {
        json_t *d = json_array_get(dims, i);
        const char *dn = NULL, *dv = NULL;
        size_t dnl = 0, dvl = 0;
        if (!json_is_object(d))
            return fail(err, FW_ERR_INVALID, "bad_field", "%s[%zu]: must be an object", p, i);
        dn = str_member(d, "name", &dnl, &bad);
        dv = str_member(d, "value", &dvl, &bad);
        if (bad || !dn || !dv)
            return fail(err, FW_ERR_INVALID, "bad_field", "%s[%zu]: needs name and value strings",
                        p, i);
        if (!al->service[0] && (strcmp(dn, "service") == 0 || strcmp(dn, "ServiceName") == 0 ||
                                strcmp(dn, "Service") == 0 || strcmp(dn, "service_name") == 0)) {
            if ((rv = copy_name(al->service, dv, dvl, p, "value", err)))
                return rv;
        } else if (!al->operation[0] &&
                   (strcmp(dn, "operation") == 0 || strcmp(dn, "Operation") == 0 ||
                    strcmp(dn, "span_name") == 0 || strcmp(dn, "http_route") == 0)) {
            if ((rv = copy_name(al->operation, dv, dvl, p, "value", err)))
                return rv;
        }
    }
    if (!al->service[0])
        return fail(err, FW_ERR_INVALID, "missing_field",
                    "%s: missing service (a dimension named service, ServiceName or Service)", p);
    s = str_member(msg, "AlarmDescription", &n, &bad);
    if (!s || n == 0)
        s = str_member(msg, "NewStateReason", &n, &bad);
    copy_cut(al->description, FW_ALARM_DESC_MAX, s, s ? n : 0);
    s = str_member(msg, "AlarmArn", &n, &bad);
    copy_cut(al->fingerprint, FW_ALARM_FINGERPRINT_MAX, s, s ? n : 0);
    finish_alarm(al);
    out->n = 1;
    return 0;
}

static int parse_sns(const json_t *root, uint64_t now_ns, fw_alarm_batch *out,
                     fw_parse_error *err)
{
    size_t n = 0;
    bool bad = false;
    out->source = FW_ALARM_SRC_CLOUDWATCH;
    const char *type = str_member(root, "Type", &n, &bad);
    if (bad || !type)
        return fail(err, FW_ERR_INVALID, bad ? "bad_field" : "missing_field", "Type: %s",
                    bad ? "must be a string" : "missing (an SNS message)");
    const char *s = str_member(root, "TopicArn", &n, &bad);
    copy_cut(out->topic_arn, FW_ALARM_NAME_MAX, s, s ? n : 0);
    if (strcmp(type, "SubscriptionConfirmation") == 0) {
        s = str_member(root, "SubscribeURL", &n, &bad);
        if (bad || !s || n == 0)
            return fail(err, FW_ERR_INVALID, "missing_field", "SubscribeURL: missing");
        if (n > FW_ALARM_URL_MAX)
            return fail(err, FW_ERR_INVALID, "field_too_long", "SubscribeURL: longer than %u bytes",
                        FW_ALARM_URL_MAX);
        copy_cut(out->subscribe_url, FW_ALARM_URL_MAX, s, n);
        out->subscription_confirmation = true;
        out->n = 0;
        return 0;
    }
    if (strcmp(type, "UnsubscribeConfirmation") == 0)
        return fail(err, FW_ERR_UNSUPPORTED, "unsupported",
                    "Type: UnsubscribeConfirmation carries no alarm");
    if (strcmp(type, "Notification") != 0)
        return fail(err, FW_ERR_INVALID, "bad_field",
                    "Type: must be Notification or SubscriptionConfirmation");
    s = str_member(root, "Message", &n, &bad);
    if (bad || !s)
        return fail(err, FW_ERR_INVALID, bad ? "bad_field" : "missing_field", "Message: %s",
                    bad ? "must be a string" : "missing");
    if (!depth_ok(s, n, FW_ALARM_MAX_DEPTH))
        return fail(err, FW_ERR_INVALID, "too_deep", "Message: nested deeper than %u",
                    FW_ALARM_MAX_DEPTH);
    json_error_t jerr;
    json_t *msg = json_loadb(s, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(msg)) {
        json_decref(msg);
        return fail(err, FW_ERR_INVALID, "bad_json",
                    "Message: must be the JSON of a CloudWatch alarm state change");
    }
    int rv = parse_cloudwatch_state(msg, "Message", now_ns, out, err);
    json_decref(msg);
    return rv;
}

/* ---- PagerDuty Events v2 ---- */

static int parse_pagerduty(const json_t *root, uint64_t now_ns, fw_alarm_batch *out,
                           fw_parse_error *err)
{
    fw_alarm *al = &out->alarms[0];
    size_t n = 0;
    bool bad = false;
    int rv;
    out->source = FW_ALARM_SRC_PAGERDUTY;
    al->source = FW_ALARM_SRC_PAGERDUTY;
    const char *act = str_member(root, "event_action", &n, &bad);
    if (bad || !act)
        return fail(err, FW_ERR_INVALID, bad ? "bad_field" : "missing_field", "event_action: %s",
                    bad ? "must be a string" : "missing");
    if (strcmp(act, "trigger") == 0)
        al->state = FW_ALARM_FIRING;
    else if (strcmp(act, "resolve") == 0 || strcmp(act, "acknowledge") == 0)
        al->state = FW_ALARM_RESOLVED;
    else
        return fail(err, FW_ERR_INVALID, "bad_field",
                    "event_action: must be trigger, acknowledge or resolve");
    const char *dedup = str_member(root, "dedup_key", &n, &bad);
    copy_cut(al->fingerprint, FW_ALARM_FINGERPRINT_MAX, dedup, dedup ? n : 0);

    json_t *payload = json_object_get(root, "payload");
    if (payload && !json_is_null(payload) && !json_is_object(payload))
        return fail(err, FW_ERR_INVALID, "bad_field", "payload: must be an object");
    if (!json_is_object(payload)) {
        if (al->state == FW_ALARM_FIRING)
            return fail(err, FW_ERR_INVALID, "missing_field", "payload: missing");
        /* resolve/acknowledge may carry only the dedup_key: nothing starts */
        copy_cut(al->name, FW_ALARM_NAME_MAX, al->fingerprint[0] ? al->fingerprint : "pagerduty",
                 strlen(al->fingerprint[0] ? al->fingerprint : "pagerduty"));
        copy_cut(al->service, FW_ALARM_NAME_MAX, "unknown", 7);
        al->at_ns = now_ns ? now_ns : 1;
        finish_alarm(al);
        out->n = 1;
        return 0;
    }
    const char *s = str_member(payload, "summary", &n, &bad);
    if (bad || !s || n == 0)
        return fail(err, FW_ERR_INVALID, bad ? "bad_field" : "missing_field",
                    "payload.summary: %s", bad ? "must be a string" : "missing");
    if ((rv = copy_name(al->name, s, n, "payload", "summary", err)))
        return rv;
    json_t *cd = json_object_get(payload, "custom_details");
    const char *which = NULL;
    s = NULL;
    if (json_is_object(cd)) {
        s = first_of(cd, SERVICE_KEYS, &n, &which, &bad);
        if (s && (rv = copy_name(al->service, s, n, "payload.custom_details", which, err)))
            return rv;
        s = first_of(cd, OPERATION_KEYS, &n, &which, &bad);
        if (s && (rv = copy_name(al->operation, s, n, "payload.custom_details", which, err)))
            return rv;
    }
    if (!al->service[0]) {
        s = str_member(payload, "component", &n, &bad);
        if (s && n && (rv = copy_name(al->service, s, n, "payload", "component", err)))
            return rv;
    }
    if (!al->service[0])
        return fail(err, FW_ERR_INVALID, "missing_field",
                    "payload.custom_details: missing service (service, service_name or job; "
                    "or payload.component)");
    bool present = false;
    if ((rv = time_member(payload, "timestamp", "payload", &al->at_ns, &present, err)))
        return rv;
    if (!present)
        al->at_ns = now_ns;
    if (al->at_ns == 0)
        return fail(err, FW_ERR_INVALID, "missing_field", "payload.timestamp: missing");
    bad = false;
    s = str_member(payload, "severity", &n, &bad);
    if (s)
        snprintf(al->description, sizeof(al->description), "%s (severity %.*s)", al->name,
                 (int)(n > 32 ? 32 : n), s);
    finish_alarm(al);
    out->n = 1;
    return 0;
}

/* ---- entry ---- */

int fw_alarm_parse(fw_alarm_format fmt, const void *body, size_t len, uint64_t now_ns,
                   fw_alarm_batch *out, fw_parse_error *err)
{
    memset(out, 0, sizeof(*out));
    fw_parse_error_set(err, "ok", "%s", "");
    if (len > FW_ALARM_BODY_MAX)
        return fail(err, FW_ERR_TOO_LARGE, "too_large", "body: larger than %u bytes",
                    FW_ALARM_BODY_MAX);
    if (!body || len == 0)
        return fail(err, FW_ERR_INVALID, "bad_json", "body: empty (expected a JSON object)");
    if (!depth_ok(body, len, FW_ALARM_MAX_DEPTH))
        return fail(err, FW_ERR_INVALID, "too_deep", "body: JSON nested deeper than %u",
                    FW_ALARM_MAX_DEPTH);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fail(err, FW_ERR_INVALID, "bad_json", "body: invalid JSON at line %d column %d: %.80s",
                    jerr.line, jerr.column, jerr.text);
    int rv;
    if (!json_is_object(root)) {
        rv = fail(err, FW_ERR_INVALID, "bad_json", "body: must be a JSON object");
        goto out;
    }
    json_t *version = json_object_get(root, "version");
    const char *ver = json_is_string(version) ? json_string_value(version) : "";
    bool has_alerts = json_object_get(root, "alerts") != NULL;
    switch (fmt) {
    case FW_ALARM_FMT_ALERTMANAGER:
        if (json_is_string(version) && strcmp(ver, "4") != 0) {
            rv = fail(err, FW_ERR_INVALID, "bad_field",
                      "version: must be \"4\" (Alertmanager webhook version 4)");
            break;
        }
        rv = parse_alerts(root, FW_ALARM_SRC_ALERTMANAGER, now_ns, out, err);
        break;
    case FW_ALARM_FMT_CLOUDWATCH:
        if (!json_object_get(root, "Type") && json_object_get(root, "AlarmName"))
            rv = parse_cloudwatch_state(root, "", now_ns, out, err);
        else
            rv = parse_sns(root, now_ns, out, err);
        break;
    default:
        if (has_alerts) {
            bool grafana = strcmp(ver, "1") == 0 || json_object_get(root, "orgId") ||
                           (json_object_get(root, "title") && json_object_get(root, "state"));
            rv = parse_alerts(root, grafana ? FW_ALARM_SRC_GRAFANA : FW_ALARM_SRC_ALERTMANAGER,
                              now_ns, out, err);
        } else if (json_is_string(json_object_get(root, "Type"))) {
            rv = parse_sns(root, now_ns, out, err);
        } else if (json_object_get(root, "event_action")) {
            rv = parse_pagerduty(root, now_ns, out, err);
        } else if (json_object_get(root, "AlarmName") && json_object_get(root, "NewStateValue")) {
            rv = parse_cloudwatch_state(root, "", now_ns, out, err);
        } else {
            rv = parse_generic(root, now_ns, out, err);
        }
        break;
    }
out:
    json_decref(root);
    if (rv) {
        out->n = 0;
        out->subscription_confirmation = false;
    }
    return rv;
}

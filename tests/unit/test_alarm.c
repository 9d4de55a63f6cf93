/* test_alarm.c - alarm webhook parsing: real payload shapes of Alertmanager
 * (webhook v4), SNS/CloudWatch, Grafana, PagerDuty Events v2 and the generic
 * body, shape detection, and bad inputs whose errors name the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flywheel/alarm.h"

#define NOW 1764561600000000000ull /* 2025-12-01T04:00:00Z */

static const char ALERTMANAGER_V4[] =
    "{\"receiver\":\"flywheel\",\"status\":\"firing\",\"alerts\":["
    "{\"status\":\"firing\",\"labels\":{\"alertname\":\"HighErrorRate\",\"service\":\"checkout\","
    "\"http_route\":\"/api/pay\",\"severity\":\"page\"},\"annotations\":{\"summary\":\"5xx over "
    "5%\",\"description\":\"checkout errors\"},\"startsAt\":\"2026-12-01T03:58:12.345Z\","
    "\"endsAt\":\"0001-01-01T00:00:00Z\",\"generatorURL\":\"http://prom:9090/graph\","
    "\"fingerprint\":\"c0ffee1234567890\"},"
    "{\"status\":\"resolved\",\"labels\":{\"alertname\":\"SlowCart\",\"job\":\"cart\"},"
    "\"annotations\":{},\"startsAt\":\"2026-12-01T03:00:00Z\",\"endsAt\":\"2026-12-01T03:30:00+01:00\","
    "\"generatorURL\":\"\",\"fingerprint\":\"0123456789abcdef\"}],"
    "\"groupLabels\":{\"alertname\":\"HighErrorRate\"},\"commonLabels\":{},"
    "\"commonAnnotations\":{},\"externalURL\":\"http://am:9093\",\"version\":\"4\","
    "\"groupKey\":\"{}:{alertname=\\\"HighErrorRate\\\"}\",\"truncatedAlerts\":0}";

static const char SNS_ALARM[] =
    "{\"Type\":\"Notification\",\"MessageId\":\"7e0b7a2c-1111-2222-3333-444455556666\","
    "\"TopicArn\":\"arn:aws:sns:eu-west-1:123456789012:alarms\",\"Subject\":\"ALARM: "
    "\\\"checkout-5xx\\\"\",\"Message\":\"{\\\"AlarmName\\\":\\\"checkout-5xx\\\","
    "\\\"AlarmDescription\\\":\\\"5xx on checkout\\\",\\\"AWSAccountId\\\":\\\"123456789012\\\","
    "\\\"NewStateValue\\\":\\\"ALARM\\\",\\\"NewStateReason\\\":\\\"Threshold Crossed\\\","
    "\\\"StateChangeTime\\\":\\\"2026-12-01T03:59:00.000+0000\\\",\\\"Region\\\":\\\"EU "
    "(Ireland)\\\",\\\"AlarmArn\\\":\\\"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:checkout-"
    "5xx\\\",\\\"OldStateValue\\\":\\\"OK\\\",\\\"Trigger\\\":{\\\"MetricName\\\":\\\"5xx\\\","
    "\\\"Namespace\\\":\\\"App\\\",\\\"Dimensions\\\":[{\\\"value\\\":\\\"prod\\\",\\\"name\\\":"
    "\\\"Env\\\"},{\\\"value\\\":\\\"checkout\\\",\\\"name\\\":\\\"ServiceName\\\"},{\\\"value\\\":"
    "\\\"POST /pay\\\",\\\"name\\\":\\\"Operation\\\"}]}}\",\"Timestamp\":\"2026-12-01T03:59:01.000Z\","
    "\"SignatureVersion\":\"1\",\"Signature\":\"abc\",\"SigningCertURL\":\"https://sns\","
    "\"UnsubscribeURL\":\"https://sns/unsub\"}";

static void test_alertmanager_two_alerts(void **state)
{
    (void)state;
    fw_alarm_batch *b = malloc(sizeof(*b));
    fw_parse_error err;
    assert_non_null(b);
    assert_int_equal(fw_alarm_parse(FW_ALARM_FMT_ALERTMANAGER, ALERTMANAGER_V4,
                                    sizeof(ALERTMANAGER_V4) - 1, NOW, b, &err),
                     0);
    assert_int_equal(b->source, FW_ALARM_SRC_ALERTMANAGER);
    assert_int_equal(b->n, 2);
    const fw_alarm *a = &b->alarms[0];
    assert_int_equal(a->state, FW_ALARM_FIRING);
    assert_string_equal(a->name, "HighErrorRate");
    assert_string_equal(a->service, "checkout");
    assert_string_equal(a->operation, "/api/pay");
    assert_string_equal(a->description, "5xx over 5%");
    assert_string_equal(a->fingerprint, "c0ffee1234567890");
    assert_true(a->at_ns == 1796097492345000000ull); /* 2026-12-01T03:58:12.345Z */
    a = &b->alarms[1];
    assert_int_equal(a->state, FW_ALARM_RESOLVED);
    assert_string_equal(a->service, "cart"); /* from job */
    assert_string_equal(a->operation, "");
    assert_true(a->at_ns == 1796092200000000000ull); /* endsAt 02:30Z */
    assert_string_not_equal(b->alarms[0].dedupe_key, b->alarms[1].dedupe_key);

    /* the generic endpoint detects the same shape */
    assert_int_equal(fw_alarm_parse(FW_ALARM_FMT_AUTO, ALERTMANAGER_V4,
                                    sizeof(ALERTMANAGER_V4) - 1, NOW, b, &err),
                     0);
    assert_int_equal(b->source, FW_ALARM_SRC_ALERTMANAGER);
    assert_int_equal(b->n, 2);
    free(b);
}

static void test_sns_cloudwatch(void **state)
{
    (void)state;
    fw_alarm_batch *b = malloc(sizeof(*b));
    fw_parse_error err;
    assert_int_equal(fw_alarm_parse(FW_ALARM_FMT_CLOUDWATCH, SNS_ALARM, sizeof(SNS_ALARM) - 1,
                                    NOW, b, &err),
                     0);
    assert_int_equal(b->source, FW_ALARM_SRC_CLOUDWATCH);
    assert_int_equal(b->n, 1);
    assert_false(b->subscription_confirmation);
    assert_int_equal(b->alarms[0].state, FW_ALARM_FIRING);
    assert_string_equal(b->alarms[0].name, "checkout-5xx");
    assert_string_equal(b->alarms[0].service, "checkout");
    assert_string_equal(b->alarms[0].operation, "POST /pay");
    assert_string_equal(b->alarms[0].description, "5xx on checkout");
    assert_true(b->alarms[0].at_ns == 1796097540000000000ull);
    assert_string_equal(b->topic_arn, "arn:aws:sns:eu-west-1:123456789012:alarms");
    char key[FW_ALARM_KEY_MAX];
    memcpy(key, b->alarms[0].dedupe_key, sizeof(key));

    /* the same alarm going back to OK: resolved, same dedupe key */
    char *ok = strdup(SNS_ALARM);
    char *p = strstr(ok, "\\\"NewStateValue\\\":\\\"ALARM\\\"");
    assert_non_null(p);
    memcpy(p + strlen("\\\"NewStateValue\\\":\\\""), "OK\\\"   ", 7);
    /* "OK\"   " keeps the length: pad lands inside the Message string's JSON */
    assert_int_equal(fw_alarm_parse(FW_ALARM_FMT_AUTO, ok, strlen(ok), NOW, b, &err), 0);
    assert_int_equal(b->alarms[0].state, FW_ALARM_RESOLVED);
    assert_string_equal(b->alarms[0].dedupe_key, key);
    free(ok);
    free(b);
}

static void test_sns_subscription_confirmation(void **state)
{
    (void)state;
    static const char body[] =
        "{\"Type\":\"SubscriptionConfirmation\",\"MessageId\":\"165545c9\","
        "\"Token\":\"2336412f37\",\"TopicArn\":\"arn:aws:sns:us-west-2:123456789012:MyTopic\","
        "\"Message\":\"You have chosen to subscribe to the topic arn:aws:sns:us-west-2:"
        "123456789012:MyTopic.\\nTo confirm the subscription, visit the SubscribeURL included "
        "in this message.\",\"SubscribeURL\":\"https://sns.us-west-2.amazonaws.com/"
        "?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic"
        "&Token=2336412f37\",\"Timestamp\":\"2012-04-26T20:45:04.751Z\",\"SignatureVersion\":"
        "\"1\",\"Signature\":\"EXAMPLE\",\"SigningCertURL\":\"https://sns.us-west-2.amazonaws."
        "com/SimpleNotificationService.pem\"}";
    fw_alarm_batch *b = malloc(sizeof(*b));
    fw_parse_error err;
    assert_int_equal(fw_alarm_parse(FW_ALARM_FMT_CLOUDWATCH, body, sizeof(body) - 1, NOW, b, &err),
                     0);
    assert_true(b->subscription_confirmation);
    assert_int_equal(b->n, 0);
    assert_non_null(strstr(b->subscribe_url, "Action=ConfirmSubscription"));
    assert_int_equal(fw_alarm_parse(FW_ALARM_FMT_AUTO, body, sizeof(body) - 1, NOW, b, &err), 0);
    assert_true(b->subscription_confirmation);
    free(b);
}

static void test_grafana(void **state)
{
    (void)state;
    static const char body[] =
        "{\"receiver\":\"flywheel\",\"status\":\"firing\",\"orgId\":1,\"alerts\":[{"
        "\"status\":\"firing\",\"labels\":{\"alertname\":\"LatencyHigh\",\"grafana_folder\":"
        "\"apps\",\"service_name\":\"frontend\",\"span_name\":\"GET /\"},\"annotations\":{"
        "\"summary\":\"p99 above 2s\"},\"startsAt\":\"2026-12-01T03:50:00Z\",\"endsAt\":"
        "\"0001-01-01T00:00:00Z\",\"generatorURL\":\"http://grafana/alerting\",\"fingerprint\":"
        "\"57c6d9296de2ad39\",\"silenceURL\":\"\",\"dashboardURL\":\"\",\"panelURL\":\"\","
        "\"values\":{\"B\":2.3}}],\"groupLabels\":{\"alertname\":\"LatencyHigh\"},"
        "\"commonLabels\":{},\"commonAnnotations\":{},\"externalURL\":\"http://grafana/\","
        "\"version\":\"1\",\"groupKey\":\"{}:{}\",\"truncatedAlerts\":0,\"title\":\"[FIRING:1] "
        "LatencyHigh\",\"state\":\"alerting\",\"message\":\"**Firing**\"}";
    fw_alarm_batch *b = malloc(sizeof(*b));
    fw_parse_error err;
    assert_int_equal(fw_alarm_parse(FW_ALARM_FMT_AUTO, body, sizeof(body) - 1, NOW, b, &err), 0);
    assert_int_equal(b->source, FW_ALARM_SRC_GRAFANA);
    assert_int_equal(b->n, 1);
    assert_int_equal(b->alarms[0].state, FW_ALARM_FIRING);
    assert_string_equal(b->alarms[0].name, "LatencyHigh");
    assert_string_equal(b->alarms[0].service, "frontend");
    assert_string_equal(b->alarms[0].operation, "GET /");
    assert_non_null(strstr(b->alarms[0].dedupe_key, "grafana"));
    free(b);
}

static void test_pagerduty(void **state)
{
    (void)state;
    static const char trig[] =
        "{\"routing_key\":\"R015XXXXXXXXXXXXXXXXXXXXXXXXXXX\",\"event_action\":\"trigger\","
        "\"dedup_key\":\"pay-1\",\"payload\":{\"summary\":\"Payments failing\",\"source\":"
        "\"pay-7f9c\",\"severity\":\"critical\",\"timestamp\":\"2026-12-01T03:57:00.000+00:00\","
        "\"custom_details\":{\"service\":\"payments\",\"operation\":\"charge\"}}}";
    static const char res[] = "{\"routing_key\":\"R015\",\"event_action\":\"resolve\","
                              "\"dedup_key\":\"pay-1\"}";
    fw_alarm_batch *b = malloc(sizeof(*b));
    fw_parse_error err;
    assert_int_equal(fw_alarm_parse(FW_ALARM_FMT_AUTO, trig, sizeof(trig) - 1, NOW, b, &err), 0);
    assert_int_equal(b->source, FW_ALARM_SRC_PAGERDUTY);
    assert_int_equal(b->alarms[0].state, FW_ALARM_FIRING);
    assert_string_equal(b->alarms[0].name, "Payments failing");
    assert_string_equal(b->alarms[0].service, "payments");
    assert_string_equal(b->alarms[0].operation, "charge");
    assert_string_equal(b->alarms[0].fingerprint, "pay-1");
    assert_true(b->alarms[0].at_ns == 1796097420000000000ull);
    assert_int_equal(fw_alarm_parse(FW_ALARM_FMT_AUTO, res, sizeof(res) - 1, NOW, b, &err), 0);
    assert_int_equal(b->n, 1);
    assert_int_equal(b->alarms[0].state, FW_ALARM_RESOLVED);
    free(b);
}

static void test_generic(void **state)
{
    (void)state;
    static const char fire[] = "{\"name\":\"errors\",\"service\":\"api\",\"operation\":\"GET /x\","
                               "\"state\":\"ALARM\",\"timestamp\":\"2026-12-01T03:59:00Z\","
                               "\"description\":\"too many\"}";
    static const char ns[] = "{\"name\":\"errors\",\"service\":\"api\",\"state\":\"OK\","
                             "\"timestamp\":1796097540000000000}";
    fw_alarm_batch *b = malloc(sizeof(*b));
    fw_parse_error err;
    assert_int_equal(fw_alarm_parse(FW_ALARM_FMT_AUTO, fire, sizeof(fire) - 1, NOW, b, &err), 0);
    assert_int_equal(b->source, FW_ALARM_SRC_GENERIC);
    assert_int_equal(b->n, 1);
    assert_int_equal(b->alarms[0].state, FW_ALARM_FIRING);
    assert_string_equal(b->alarms[0].operation, "GET /x");
    assert_string_equal(b->alarms[0].description, "too many");
    assert_true(b->alarms[0].at_ns == 1796097540000000000ull);
    assert_int_equal(fw_alarm_parse(FW_ALARM_FMT_AUTO, ns, sizeof(ns) - 1, NOW, b, &err), 0);
    assert_int_equal(b->alarms[0].state, FW_ALARM_RESOLVED);
    assert_true(b->alarms[0].at_ns == 1796097540000000000ull);
    assert_string_equal(b->alarms[0].operation, "");
    free(b);
}

static void expect_error(fw_alarm_format fmt, const char *body, int want, const char *needle)
{
    fw_alarm_batch *b = malloc(sizeof(*b));
    fw_parse_error err;
    int rv = fw_alarm_parse(fmt, body, strlen(body), NOW, b, &err);
    if (rv != want || !strstr(err.detail, needle))
        fail_msg("body %s: rv %d (want %d), detail '%s' (want '%s')", body, rv, want, err.detail,
                 needle);
    assert_int_equal(b->n, 0);
    free(b);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    expect_error(FW_ALARM_FMT_AUTO, "{\"name\":", FW_ERR_INVALID, "invalid JSON");
    expect_error(FW_ALARM_FMT_AUTO, "[1]", FW_ERR_INVALID, "must be a JSON object");
    expect_error(FW_ALARM_FMT_AUTO, "", FW_ERR_INVALID, "empty");
    expect_error(FW_ALARM_FMT_ALERTMANAGER,
                 "{\"version\":\"4\",\"alerts\":[{\"status\":\"firing\",\"labels\":"
                 "{\"alertname\":\"x\"},\"startsAt\":\"2026-12-01T03:00:00Z\"}]}",
                 FW_ERR_INVALID, "alerts[0].labels: missing service (service, service_name or job)");
    expect_error(FW_ALARM_FMT_ALERTMANAGER,
                 "{\"version\":\"4\",\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":"
                 "\"x\",\"job\":\"j\"},\"startsAt\":\"2026-12-01T03:00:00Z\"},{\"status\":\"odd\","
                 "\"labels\":{\"alertname\":\"x\",\"job\":\"j\"}}]}",
                 FW_ERR_INVALID, "alerts[1].status");
    expect_error(FW_ALARM_FMT_ALERTMANAGER, "{\"version\":\"4\"}", FW_ERR_INVALID,
                 "alerts: missing");
    expect_error(FW_ALARM_FMT_ALERTMANAGER, "{\"version\":\"3\",\"alerts\":[]}", FW_ERR_INVALID,
                 "version");
    expect_error(FW_ALARM_FMT_ALERTMANAGER,
                 "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"x\",\"job\":"
                 "\"j\"},\"startsAt\":\"yesterday\"}]}",
                 FW_ERR_INVALID, "alerts[0].startsAt");
    expect_error(FW_ALARM_FMT_AUTO, "{\"service\":\"a\",\"state\":\"firing\"}", FW_ERR_INVALID,
                 "name: missing");
    expect_error(FW_ALARM_FMT_AUTO, "{\"name\":\"a\",\"state\":\"firing\",\"timestamp\":1}",
                 FW_ERR_INVALID, "service: missing");
    expect_error(FW_ALARM_FMT_AUTO,
                 "{\"name\":\"a\",\"service\":\"s\",\"state\":\"maybe\",\"timestamp\":1}",
                 FW_ERR_INVALID, "state:");
    expect_error(FW_ALARM_FMT_AUTO, "{\"name\":\"a\",\"service\":\"s\",\"state\":\"firing\"}",
                 FW_ERR_INVALID, "timestamp: missing");
    expect_error(FW_ALARM_FMT_AUTO, "{\"name\":5,\"service\":\"s\"}", FW_ERR_INVALID,
                 "name: must be a string");
    expect_error(FW_ALARM_FMT_CLOUDWATCH,
                 "{\"Type\":\"Notification\",\"TopicArn\":\"t\",\"Message\":\"not json\"}",
                 FW_ERR_INVALID, "Message:");
    expect_error(FW_ALARM_FMT_CLOUDWATCH,
                 "{\"Type\":\"Notification\",\"TopicArn\":\"t\",\"Message\":\"{\\\"AlarmName\\\":"
                 "\\\"a\\\",\\\"NewStateValue\\\":\\\"ALARM\\\",\\\"Trigger\\\":{\\\"Dimensions\\\":"
                 "[{\\\"name\\\":\\\"Env\\\",\\\"value\\\":\\\"p\\\"}]}}\"}",
                 FW_ERR_INVALID, "Message.Trigger.Dimensions: missing service");
    expect_error(FW_ALARM_FMT_CLOUDWATCH, "{\"Type\":\"SubscriptionConfirmation\"}",
                 FW_ERR_INVALID, "SubscribeURL");
    expect_error(FW_ALARM_FMT_AUTO,
                 "{\"event_action\":\"trigger\",\"payload\":{\"summary\":\"s\",\"severity\":"
                 "\"error\",\"source\":\"h\"}}",
                 FW_ERR_INVALID, "payload.custom_details: missing service");
    expect_error(FW_ALARM_FMT_AUTO, "{\"event_action\":\"explode\"}", FW_ERR_INVALID,
                 "event_action");

    /* too long a name, too deep, too many alerts */
    char big[600];
    int n = snprintf(big, sizeof(big), "{\"name\":\"%0300d\",\"service\":\"s\",\"state\":\"firing\","
                     "\"timestamp\":1}", 7);
    assert_true(n > 0);
    expect_error(FW_ALARM_FMT_AUTO, big, FW_ERR_INVALID, "name: longer than 255 bytes");
    char deep[200];
    memset(deep, '[', 100);
    deep[100] = '\0';
    expect_error(FW_ALARM_FMT_AUTO, deep, FW_ERR_INVALID, "nested deeper");
    size_t cap = 200u * 100u + 64u;
    char *many = malloc(cap);
    size_t off = (size_t)snprintf(many, cap, "{\"version\":\"4\",\"alerts\":[");
    for (int i = 0; i < 101; i++)
        off += (size_t)snprintf(many + off, cap - off, "%s{\"status\":\"firing\"}", i ? "," : "");
    snprintf(many + off, cap - off, "]}");
    expect_error(FW_ALARM_FMT_ALERTMANAGER, many, FW_ERR_TOO_LARGE, "at most 100 per post");
    free(many);
}

static void test_parse_time(void **state)
{
    (void)state;
    uint64_t t = 0;
    assert_true(fw_alarm_parse_time("1970-01-01T00:00:01Z", 20, &t));
    assert_true(t == 1000000000ull);
    assert_true(fw_alarm_parse_time("1970-01-01T01:00:01+01:00", 25, &t));
    assert_true(t == 1000000000ull);
    assert_true(fw_alarm_parse_time("1970-01-01T00:00:01.5-0000", 26, &t));
    assert_true(t == 1500000000ull);
    assert_true(fw_alarm_parse_time("42", 2, &t));
    assert_true(t == 42u);
    assert_false(fw_alarm_parse_time("0001-01-01T00:00:00Z", 20, &t));
    assert_false(fw_alarm_parse_time("2026-02-30T00:00:00Z", 20, &t));
    assert_false(fw_alarm_parse_time("99999999999999999999999", 23, &t));
    assert_false(fw_alarm_parse_time("", 0, &t));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alertmanager_two_alerts),
        cmocka_unit_test(test_sns_cloudwatch),
        cmocka_unit_test(test_sns_subscription_confirmation),
        cmocka_unit_test(test_grafana),
        cmocka_unit_test(test_pagerduty),
        cmocka_unit_test(test_generic),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_parse_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

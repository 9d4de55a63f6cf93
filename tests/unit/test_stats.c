/* test_stats.c - the self-metrics exposition: every series present with
 * HELP/TYPE, values rendered, names of protocols and reasons, and label
 * value escaping. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "flywheel/stats.h"

static char *render(const fw_stats *s, fw_buf *b)
{
    fw_buf_init(b, 1u << 20);
    assert_int_equal(fw_stats_render(s, b), 0);
    assert_int_equal(fw_buf_append(b, "", 1), 0); /* NUL-terminate */
    return (char *)b->data;
}

static void assert_has_line(const char *text, const char *line)
{
    char want[512];
    snprintf(want, sizeof(want), "\n%s\n", line);
    if (!strstr(text, want))
        fail_msg("missing line: %s", line);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(fw_protocol_name(FW_PROTO_GRPC), "grpc");
    assert_string_equal(fw_protocol_name(FW_PROTO_HTTP_PROTOBUF), "http_protobuf");
    assert_string_equal(fw_protocol_name(FW_PROTO_HTTP_JSON), "http_json");
    assert_string_equal(fw_reject_reason_name(FW_REJECT_MALFORMED), "malformed");
    assert_string_equal(fw_reject_reason_name(FW_REJECT_INVALID_ID), "invalid_id");
    assert_string_equal(fw_reject_reason_name(FW_REJECT_TOO_OLD), "too_old");
    assert_string_equal(fw_reject_reason_name(FW_REJECT_OVERLOAD), "overload");
    assert_string_equal(fw_reject_reason_name(FW_REJECT_UNAUTHENTICATED), "unauthenticated");
    assert_string_equal(fw_reject_reason_name(FW_REJECT__COUNT), "unknown");
}

static void test_render_all_series(void **state)
{
    (void)state;
    fw_stats s;
    fw_stats_init(&s);
    fw_stats_add(&s.accepted[FW_SIGNAL_TRACES][FW_PROTO_GRPC], 5);
    fw_stats_add(&s.accepted[FW_SIGNAL_LOGS][FW_PROTO_HTTP_JSON], 7);
    fw_stats_add(&s.rejected[FW_SIGNAL_TRACES][FW_PROTO_HTTP_PROTOBUF][FW_REJECT_TOO_OLD], 3);
    fw_stats_add(&s.rejected[FW_SIGNAL_LOGS][FW_PROTO_GRPC][FW_REJECT_INVALID_ID], 2);
    fw_stats_add(&s.requests[FW_SIGNAL_LOGS][FW_PROTO_GRPC], 11);
    fw_stats_add(&s.requests_rejected[FW_SIGNAL_TRACES][FW_PROTO_HTTP_JSON][FW_REJECT_MALFORMED], 1);
    fw_stats_add(&s.received_bytes[FW_PROTO_HTTP_PROTOBUF], 12345);

    fw_buf b;
    const char *t = render(&s, &b);
    const char *families[] = {"flywheel_spans_accepted_total", "flywheel_spans_rejected_total",
                              "flywheel_log_records_accepted_total",
                              "flywheel_log_records_rejected_total", "flywheel_requests_total",
                              "flywheel_requests_rejected_total", "flywheel_received_bytes_total"};
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        char line[256];
        snprintf(line, sizeof(line), "# TYPE %s counter", families[i]);
        if (!strstr(t, line))
            fail_msg("missing TYPE for %s", families[i]);
        snprintf(line, sizeof(line), "# HELP %s ", families[i]);
        if (!strstr(t, line))
            fail_msg("missing HELP for %s", families[i]);
    }
    assert_true(strncmp(t, "# HELP flywheel_spans_accepted_total ", 37) == 0);
    assert_has_line(t, "flywheel_spans_accepted_total{protocol=\"grpc\"} 5");
    assert_has_line(t, "flywheel_spans_accepted_total{protocol=\"http_json\"} 0");
    assert_has_line(t, "flywheel_log_records_accepted_total{protocol=\"http_json\"} 7");
    assert_has_line(t, "flywheel_spans_rejected_total{protocol=\"http_protobuf\",reason=\"too_old\"} 3");
    assert_has_line(t, "flywheel_spans_rejected_total{protocol=\"grpc\",reason=\"overload\"} 0");
    assert_has_line(t, "flywheel_log_records_rejected_total{protocol=\"grpc\",reason=\"invalid_id\"} 2");
    assert_has_line(t, "flywheel_requests_total{signal=\"logs\",protocol=\"grpc\"} 11");
    assert_has_line(t, "flywheel_requests_total{signal=\"traces\",protocol=\"grpc\"} 0");
    assert_has_line(t, "flywheel_requests_rejected_total{signal=\"traces\",protocol=\"http_json\",reason=\"malformed\"} 1");
    assert_has_line(t, "flywheel_received_bytes_total{protocol=\"http_protobuf\"} 12345");

    /* Every series is present: 3 + 21 + 3 + 21 + 6 + 42 + 3 samples. */
    size_t samples = 0;
    for (const char *p = t; *p; p++)
        if ((p == t || p[-1] == '\n') && strncmp(p, "flywheel_", 9) == 0)
            samples++;
    assert_int_equal(samples, 99);
    fw_buf_free(&b);
}

static void test_render_too_small(void **state)
{
    (void)state;
    fw_stats s;
    fw_stats_init(&s);
    fw_buf b;
    fw_buf_init(&b, 100);
    assert_int_equal(fw_stats_render(&s, &b), FW_ERR_TOO_LARGE);
    assert_true(b.len <= 100);
    fw_buf_free(&b);
}

static void test_label_escaping(void **state)
{
    (void)state;
    fw_buf b;
    fw_buf_init(&b, 256);
    const char in[] = "a\\b\"c\nd";
    assert_int_equal(fw_prom_label_value(&b, in, sizeof(in) - 1), 0);
    assert_int_equal(b.len, strlen("a\\\\b\\\"c\\nd"));
    assert_memory_equal(b.data, "a\\\\b\\\"c\\nd", b.len);

    fw_buf_reset(&b);
    assert_int_equal(fw_prom_label_value(&b, "plain", 5), 0);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "plain", 5);

    fw_buf_reset(&b);
    assert_int_equal(fw_prom_header(&b, "x_total", "counter", "with \\ and\nnewline"), 0);
    assert_int_equal(fw_buf_append(&b, "", 1), 0);
    assert_string_equal((char *)b.data,
                        "# HELP x_total with \\\\ and\\nnewline\n# TYPE x_total counter\n");
    fw_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_render_all_series),
        cmocka_unit_test(test_render_too_small),
        cmocka_unit_test(test_label_escaping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

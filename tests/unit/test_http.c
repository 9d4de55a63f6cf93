/* test_http.c - the protocol-neutral helpers: query parameters with
 * percent-decoding, response init/headers/free and reason phrases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "flywheel/http.h"

static fw_str q(const char *s)
{
    return fw_str_from(s);
}

static void test_query_basic(void **state)
{
    (void)state;
    char out[64];
    fw_str query = q("trace_id=abc123&limit=10&empty=&flag&x=1");
    assert_int_equal(fw_http_query_param(query, "trace_id", out, sizeof out), 1);
    assert_string_equal(out, "abc123");
    assert_int_equal(fw_http_query_param(query, "limit", out, sizeof out), 1);
    assert_string_equal(out, "10");
    assert_int_equal(fw_http_query_param(query, "empty", out, sizeof out), 1);
    assert_string_equal(out, "");
    assert_int_equal(fw_http_query_param(query, "flag", out, sizeof out), 1);
    assert_string_equal(out, "");
    assert_int_equal(fw_http_query_param(query, "x", out, sizeof out), 1);
    assert_string_equal(out, "1");
    assert_int_equal(fw_http_query_param(query, "missing", out, sizeof out), 0);
    assert_string_equal(out, "");
    /* A prefix of a key is not the key. */
    assert_int_equal(fw_http_query_param(query, "trace", out, sizeof out), 0);
    assert_int_equal(fw_http_query_param(query, "trace_id_x", out, sizeof out), 0);
    assert_int_equal(fw_http_query_param(FW_STR_NULL, "x", out, sizeof out), 0);
    assert_int_equal(fw_http_query_param(q(""), "x", out, sizeof out), 0);
    /* The first occurrence wins. */
    assert_int_equal(fw_http_query_param(q("a=1&a=2"), "a", out, sizeof out), 1);
    assert_string_equal(out, "1");
}

static void test_query_decoding(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(fw_http_query_param(q("name=hello+world%21%2Fx"), "name", out, sizeof out), 1);
    assert_string_equal(out, "hello world!/x");
    /* Keys are decoded too. */
    assert_int_equal(fw_http_query_param(q("span%5Fname=a%3Db"), "span_name", out, sizeof out), 1);
    assert_string_equal(out, "a=b");
    assert_int_equal(fw_http_query_param(q("k+1=v"), "k 1", out, sizeof out), 1);
    assert_string_equal(out, "v");
    /* UTF-8 bytes pass through. */
    assert_int_equal(fw_http_query_param(q("s=%C3%A9"), "s", out, sizeof out), 1);
    assert_string_equal(out, "\xc3\xa9");
    /* Malformed escapes and %00 stay literal. */
    assert_int_equal(fw_http_query_param(q("a=%zz%4&b=%&c=50%00"), "a", out, sizeof out), 1);
    assert_string_equal(out, "%zz%4");
    assert_int_equal(fw_http_query_param(q("a=%zz%4&b=%&c=50%00"), "b", out, sizeof out), 1);
    assert_string_equal(out, "%");
    assert_int_equal(fw_http_query_param(q("a=%zz%4&b=%&c=50%00"), "c", out, sizeof out), 1);
    assert_string_equal(out, "50%00");
}

static void test_query_too_large(void **state)
{
    (void)state;
    char out[4];
    assert_int_equal(fw_http_query_param(q("v=abc"), "v", out, sizeof out), 1);
    assert_string_equal(out, "abc");
    assert_int_equal(fw_http_query_param(q("v=abcd"), "v", out, sizeof out), FW_ERR_TOO_LARGE);
    assert_string_equal(out, "");
    /* Decoded length is what counts: 3 escapes fit in 4 bytes. */
    assert_int_equal(fw_http_query_param(q("v=%41%42%43"), "v", out, sizeof out), 1);
    assert_string_equal(out, "ABC");
    assert_int_equal(fw_http_query_param(q("v=x"), "v", out, 0), FW_ERR_TOO_LARGE);
}

static void test_response_helpers(void **state)
{
    (void)state;
    fw_http_response r;
    fw_http_response_init(&r, 8);
    assert_int_equal(r.status, 500);
    assert_null(r.content_type);
    assert_int_equal(r.n_headers, 0);
    assert_int_equal(r.body.len, 0);
    assert_int_equal(r.body.max, 8);
    assert_false(r.grpc);
    assert_false(r.close);
    assert_string_equal(r.grpc_message, "");
    /* The body is bounded by body_max. */
    assert_int_equal(fw_buf_append(&r.body, "12345678", 8), 0);
    assert_int_equal(fw_buf_append(&r.body, "9", 1), FW_ERR_TOO_LARGE);

    assert_int_equal(fw_http_response_header(&r, "retry-after", "%d", 5), 0);
    assert_string_equal(r.headers[0].name, "retry-after");
    assert_string_equal(r.headers[0].value, "5");
    /* Control bytes never reach a header value (response splitting). */
    assert_int_equal(fw_http_response_header(&r, "x-a", "a\r\nSet-Cookie: b"), 0);
    assert_string_equal(r.headers[1].value, "a  Set-Cookie: b");
    /* Long values are truncated to fit. */
    char longv[300];
    memset(longv, 'l', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    assert_int_equal(fw_http_response_header(&r, "x-long", "%s", longv), 0);
    assert_int_equal(strlen(r.headers[2].value), FW_HTTP_HEADER_VALUE_MAX - 1);
    for (size_t i = r.n_headers; i < FW_HTTP_MAX_EXTRA_HEADERS; i++)
        assert_int_equal(fw_http_response_header(&r, "x-n", "%zu", i), 0);
    assert_int_equal(fw_http_response_header(&r, "x-over", "1"), FW_ERR_TOO_LARGE);
    assert_int_equal(r.n_headers, FW_HTTP_MAX_EXTRA_HEADERS);

    assert_int_equal(fw_buf_append(&r.grpc_details, "\x08\x03", 2), 0);
    fw_http_response_free(&r);
    assert_null(r.body.data);
    assert_null(r.grpc_details.data);
    fw_http_response_free(&r); /* twice is safe */
    fw_http_response_free(NULL);
}

static void test_reason(void **state)
{
    (void)state;
    assert_string_equal(fw_http_reason(200), "OK");
    assert_string_equal(fw_http_reason(400), "Bad Request");
    assert_string_equal(fw_http_reason(404), "Not Found");
    assert_string_equal(fw_http_reason(413), "Payload Too Large");
    assert_string_equal(fw_http_reason(415), "Unsupported Media Type");
    assert_string_equal(fw_http_reason(429), "Too Many Requests");
    assert_string_equal(fw_http_reason(431), "Request Header Fields Too Large");
    assert_string_equal(fw_http_reason(503), "Service Unavailable");
    assert_string_equal(fw_http_reason(499), "Client Error");
    assert_string_equal(fw_http_reason(-1), "Server Error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_basic),     cmocka_unit_test(test_query_decoding),
        cmocka_unit_test(test_query_too_large), cmocka_unit_test(test_response_helpers),
        cmocka_unit_test(test_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

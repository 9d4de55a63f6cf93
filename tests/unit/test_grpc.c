/* test_grpc.c - gRPC length-prefixed framing, grpc-message encoding,
 * grpc-timeout parsing and status names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "flywheel/grpc.h"

static void test_parse_complete(void **state)
{
    (void)state;
    const uint8_t wire[] = {0, 0, 0, 0, 3, 'a', 'b', 'c'};
    fw_grpc_message m;
    fw_parse_error err;
    size_t consumed = 0;
    assert_int_equal(fw_grpc_frame_parse(wire, sizeof wire, 16, &m, &consumed, &err), 0);
    assert_false(m.compressed);
    assert_int_equal(m.len, 3);
    assert_ptr_equal(m.payload, wire + 5);
    assert_memory_equal(m.payload, "abc", 3);
    assert_int_equal(consumed, 8);
}

static void test_parse_compressed_and_empty(void **state)
{
    (void)state;
    const uint8_t wire[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'z'};
    fw_grpc_message m;
    size_t consumed = 0;
    assert_int_equal(fw_grpc_frame_parse(wire, sizeof wire, 16, &m, &consumed, NULL), 0);
    assert_true(m.compressed);
    assert_int_equal(m.len, 0);
    assert_int_equal(consumed, 5);
    /* The second message follows directly. */
    assert_int_equal(
        fw_grpc_frame_parse(wire + consumed, sizeof wire - consumed, 16, &m, &consumed, NULL), 0);
    assert_false(m.compressed);
    assert_int_equal(m.len, 1);
    assert_int_equal(m.payload[0], 'z');
}

static void test_parse_split(void **state)
{
    (void)state;
    const uint8_t wire[] = {0, 0, 0, 0, 4, 1, 2, 3, 4};
    fw_grpc_message m;
    size_t consumed = 0;
    /* Every strict prefix needs more bytes. */
    for (size_t n = 0; n < sizeof wire; n++)
        assert_int_equal(fw_grpc_frame_parse(wire, n, 16, &m, &consumed, NULL), FW_ERR_AGAIN);
    assert_int_equal(fw_grpc_frame_parse(wire, sizeof wire, 16, &m, &consumed, NULL), 0);
    assert_int_equal(m.len, 4);
}

static void test_parse_lying_length(void **state)
{
    (void)state;
    /* Declares 100 bytes, carries 3: the parser waits (the caller decides
     * that a finished body means a lie). */
    const uint8_t wire[] = {0, 0, 0, 0, 100, 'a', 'b', 'c'};
    fw_grpc_message m;
    size_t consumed = 0;
    assert_int_equal(fw_grpc_frame_parse(wire, sizeof wire, 1000, &m, &consumed, NULL),
                     FW_ERR_AGAIN);
}

static void test_parse_over_max_before_payload(void **state)
{
    (void)state;
    /* 0x7fffffff declared, only the prefix present: refused at once. */
    const uint8_t wire[] = {0, 0x7f, 0xff, 0xff, 0xff};
    fw_grpc_message m;
    fw_parse_error err;
    size_t consumed = 0;
    memset(&err, 0, sizeof err);
    assert_int_equal(fw_grpc_frame_parse(wire, sizeof wire, 4u << 20, &m, &consumed, &err),
                     FW_ERR_TOO_LARGE);
    assert_non_null(err.reason);
    assert_non_null(strstr(err.detail, "4194304"));

    /* Exactly at the limit is fine. */
    const uint8_t at[] = {0, 0, 0, 0, 2, 'x', 'y'};
    assert_int_equal(fw_grpc_frame_parse(at, sizeof at, 2, &m, &consumed, &err), 0);
    assert_int_equal(fw_grpc_frame_parse(at, sizeof at, 1, &m, &consumed, &err), FW_ERR_TOO_LARGE);
}

static void test_parse_bad_flag(void **state)
{
    (void)state;
    const uint8_t wire[] = {2, 0, 0, 0, 0};
    fw_grpc_message m;
    fw_parse_error err;
    size_t consumed = 0;
    memset(&err, 0, sizeof err);
    assert_int_equal(fw_grpc_frame_parse(wire, sizeof wire, 16, &m, &consumed, &err),
                     FW_ERR_INVALID);
    assert_non_null(strstr(err.detail, "0x02"));
    /* Judged from the first byte alone. */
    const uint8_t one[] = {0x80};
    assert_int_equal(fw_grpc_frame_parse(one, 1, 16, &m, &consumed, &err), FW_ERR_INVALID);
}

static void test_write_round_trip(void **state)
{
    (void)state;
    fw_buf b;
    fw_buf_init(&b, 400);
    const uint8_t payload[300] = {[0] = 7, [299] = 9};
    assert_int_equal(fw_grpc_frame_write(&b, payload, sizeof payload, true), 0);
    assert_int_equal(fw_grpc_frame_write(&b, NULL, 0, false), 0);
    assert_int_equal(b.len, 5 + 300 + 5);
    assert_int_equal(b.data[0], 1);
    assert_int_equal(b.data[3], 1); /* 300 = 0x012c */
    assert_int_equal(b.data[4], 0x2c);

    fw_grpc_message m;
    size_t consumed = 0;
    assert_int_equal(fw_grpc_frame_parse(b.data, b.len, 1024, &m, &consumed, NULL), 0);
    assert_true(m.compressed);
    assert_int_equal(m.len, 300);
    assert_memory_equal(m.payload, payload, 300);
    size_t off = consumed;
    assert_int_equal(fw_grpc_frame_parse(b.data + off, b.len - off, 1024, &m, &consumed, NULL), 0);
    assert_false(m.compressed);
    assert_int_equal(m.len, 0);
    assert_int_equal(off + consumed, b.len);

    /* Past the buffer max: refused, buffer unchanged. */
    size_t before = b.len;
    assert_int_equal(fw_grpc_frame_write(&b, payload, sizeof payload, false), FW_ERR_TOO_LARGE);
    assert_int_equal(b.len, before);
    fw_buf_free(&b);
}

static void test_message_encode(void **state)
{
    (void)state;
    char out[64];
    fw_grpc_message_encode("plain text", out, sizeof out);
    assert_string_equal(out, "plain text");
    fw_grpc_message_encode("100% bad\r\n", out, sizeof out);
    assert_string_equal(out, "100%25 bad%0D%0A");
    fw_grpc_message_encode("caf\xc3\xa9~", out, sizeof out);
    assert_string_equal(out, "caf%C3%A9~");
    fw_grpc_message_encode(NULL, out, sizeof out);
    assert_string_equal(out, "");

    /* Truncation never splits an escape: "ab%25" needs 6 bytes with NUL. */
    char small[5];
    fw_grpc_message_encode("ab%cd", small, sizeof small);
    assert_string_equal(small, "ab");
    char six[6];
    fw_grpc_message_encode("ab%cd", six, sizeof six);
    assert_string_equal(six, "ab%25");
    char one[1] = {'x'};
    fw_grpc_message_encode("abc", one, sizeof one);
    assert_int_equal(one[0], '\0');
}

static void test_timeout_parse(void **state)
{
    (void)state;
    uint64_t ns = 0;
    assert_int_equal(fw_grpc_timeout_parse(FW_STR_LIT("1S"), &ns), 0);
    assert_int_equal(ns, 1000000000ull);
    assert_int_equal(fw_grpc_timeout_parse(FW_STR_LIT("100m"), &ns), 0);
    assert_int_equal(ns, 100000000ull);
    assert_int_equal(fw_grpc_timeout_parse(FW_STR_LIT("2H"), &ns), 0);
    assert_int_equal(ns, 7200ull * 1000000000ull);
    assert_int_equal(fw_grpc_timeout_parse(FW_STR_LIT("3M"), &ns), 0);
    assert_int_equal(ns, 180ull * 1000000000ull);
    assert_int_equal(fw_grpc_timeout_parse(FW_STR_LIT("5u"), &ns), 0);
    assert_int_equal(ns, 5000ull);
    assert_int_equal(fw_grpc_timeout_parse(FW_STR_LIT("12345678n"), &ns), 0);
    assert_int_equal(ns, 12345678ull);
    assert_int_equal(fw_grpc_timeout_parse(FW_STR_LIT("0S"), &ns), 0);
    assert_int_equal(ns, 0);
    /* 99999999 hours saturates instead of wrapping. */
    assert_int_equal(fw_grpc_timeout_parse(FW_STR_LIT("99999999H"), &ns), 0);
    assert_true(ns == UINT64_MAX);

    assert_int_equal(fw_grpc_timeout_parse(FW_STR_LIT("123456789S"), &ns), FW_ERR_INVALID);
    assert_int_equal(fw_grpc_timeout_parse(FW_STR_LIT("S"), &ns), FW_ERR_INVALID);
    assert_int_equal(fw_grpc_timeout_parse(FW_STR_LIT("10"), &ns), FW_ERR_INVALID);
    assert_int_equal(fw_grpc_timeout_parse(FW_STR_LIT("10s"), &ns), FW_ERR_INVALID);
    assert_int_equal(fw_grpc_timeout_parse(FW_STR_LIT("-1S"), &ns), FW_ERR_INVALID);
    assert_int_equal(fw_grpc_timeout_parse(FW_STR_LIT(" 1S"), &ns), FW_ERR_INVALID);
    assert_int_equal(fw_grpc_timeout_parse(FW_STR_NULL, &ns), FW_ERR_INVALID);
}

static void test_status_names(void **state)
{
    (void)state;
    assert_string_equal(fw_grpc_status_name(FW_GRPC_OK), "OK");
    assert_string_equal(fw_grpc_status_name(FW_GRPC_INVALID_ARGUMENT), "INVALID_ARGUMENT");
    assert_string_equal(fw_grpc_status_name(FW_GRPC_RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
    assert_string_equal(fw_grpc_status_name(FW_GRPC_UNIMPLEMENTED), "UNIMPLEMENTED");
    assert_string_equal(fw_grpc_status_name(FW_GRPC_UNAVAILABLE), "UNAVAILABLE");
    assert_string_equal(fw_grpc_status_name(FW_GRPC_UNAUTHENTICATED), "UNAUTHENTICATED");
    assert_string_equal(fw_grpc_status_name(17), "UNKNOWN");
    assert_string_equal(fw_grpc_status_name(-1), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_complete),
        cmocka_unit_test(test_parse_compressed_and_empty),
        cmocka_unit_test(test_parse_split),
        cmocka_unit_test(test_parse_lying_length),
        cmocka_unit_test(test_parse_over_max_before_payload),
        cmocka_unit_test(test_parse_bad_flag),
        cmocka_unit_test(test_write_round_trip),
        cmocka_unit_test(test_message_encode),
        cmocka_unit_test(test_timeout_parse),
        cmocka_unit_test(test_status_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

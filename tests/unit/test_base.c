/* test_base.c - arena caps, bounded buffers, JSON escaping, hex ids and the
 * AnyValue JSON rendering of the base module. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "flywheel/arena.h"
#include "flywheel/buf.h"
#include "flywheel/error.h"
#include "flywheel/log.h"
#include "flywheel/membudget.h"
#include "flywheel/model.h"

static void test_arena_cap_refuses_and_flags(void **state)
{
    (void)state;
    fw_arena *a = fw_arena_new(64 * 1024);
    assert_non_null(a);
    void *p = fw_arena_alloc(a, 1000);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 16, 0);
    memset(p, 0xab, 1000);
    assert_false(fw_arena_exhausted(a));
    assert_null(fw_arena_alloc(a, 128 * 1024));
    assert_true(fw_arena_exhausted(a));
    assert_true(fw_arena_used(a) <= 64 * 1024);
    /* Small allocations still fit after a refused big one. */
    assert_non_null(fw_arena_alloc(a, 10));
    assert_null(fw_arena_calloc(a, SIZE_MAX / 2, 4));
    fw_arena_reset(a);
    assert_false(fw_arena_exhausted(a));
    char *s = fw_arena_strndup(a, "hello world", 5);
    assert_string_equal(s, "hello");
    fw_arena_free(a);
    fw_arena_free(NULL);
}

static void test_arena_many_chunks_within_cap(void **state)
{
    (void)state;
    fw_arena *a = fw_arena_new(1024 * 1024);
    size_t total = 0;
    for (;;) {
        void *p = fw_arena_alloc(a, 3000);
        if (!p) break;
        memset(p, 1, 3000);
        total += 3000;
    }
    assert_true(total > 900 * 1024 / 2);
    assert_true(fw_arena_used(a) <= 1024 * 1024);
    fw_arena_free(a);
}

static void test_arena_protobuf_allocator(void **state)
{
    (void)state;
    fw_arena *a = fw_arena_new(4096);
    ProtobufCAllocator al;
    fw_arena_protobuf_allocator(a, &al);
    void *p = al.alloc(al.allocator_data, 100);
    assert_non_null(p);
    al.free(al.allocator_data, p);
    assert_null(al.alloc(al.allocator_data, 100000));
    fw_arena_free(a);
}

static void test_buf_bounded(void **state)
{
    (void)state;
    fw_buf b;
    fw_buf_init(&b, 10);
    assert_int_equal(fw_buf_append(&b, "12345", 5), 0);
    assert_int_equal(fw_buf_append(&b, "123456", 6), FW_ERR_TOO_LARGE);
    assert_int_equal(b.len, 5);
    assert_int_equal(fw_buf_printf(&b, "%d", 12345), 0);
    assert_int_equal(b.len, 10);
    assert_int_equal(fw_buf_printf(&b, "x"), FW_ERR_TOO_LARGE);
    assert_memory_equal(b.data, "1234512345", 10);
    size_t len;
    uint8_t *d = fw_buf_detach(&b, &len);
    assert_int_equal(len, 10);
    assert_null(b.data);
    free(d);
    fw_buf_free(&b);

    fw_buf big;
    fw_buf_init(&big, 1 << 20);
    char line[600];
    memset(line, 'z', sizeof line - 1);
    line[sizeof line - 1] = '\0';
    assert_int_equal(fw_buf_printf(&big, "%s-%s", line, line), 0);
    assert_int_equal(big.len, 2 * 599 + 1);
    fw_buf_free(&big);
}

static void test_json_string_escaping(void **state)
{
    (void)state;
    fw_buf b;
    fw_buf_init(&b, 1024);
    const char in[] = "a\"b\\c\n\x01<\xff\xc3\xa9";
    assert_int_equal(fw_buf_append_json_str(&b, in, sizeof in - 1), 0);
    const char want[] = "\"a\\\"b\\\\c\\n\\u0001<\xEF\xBF\xBD\xc3\xa9\"";
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.data, want, b.len);
    fw_buf_free(&b);

    fw_buf small;
    fw_buf_init(&small, 4);
    assert_int_equal(fw_buf_append_json_str(&small, "abcdef", 6), FW_ERR_TOO_LARGE);
    assert_int_equal(small.len, 0);
    fw_buf_free(&small);
}

static void test_hex_ids(void **state)
{
    (void)state;
    uint8_t id[8];
    assert_int_equal(fw_hex_decode("00F067aa0ba902b7", 16, id, 8), 0);
    char out[17];
    fw_hex_encode(id, 8, out);
    assert_string_equal(out, "00f067aa0ba902b7");
    assert_int_equal(fw_hex_decode("00f067aa0ba902b", 15, id, 8), FW_ERR_INVALID);
    assert_int_equal(fw_hex_decode("00f067aa0ba902bz", 16, id, 8), FW_ERR_INVALID);
    uint8_t zero[4] = {0};
    assert_true(fw_id_is_zero(zero, 4));
    assert_false(fw_id_is_zero(id, 8));
}

static void test_value_json(void **state)
{
    (void)state;
    fw_value inner[2];
    inner[0].type = FW_VALUE_INT;
    inner[0].u.i64 = INT64_MIN;
    inner[1].type = FW_VALUE_DOUBLE;
    inner[1].u.f64 = 0.1;
    fw_attr kv[4];
    kv[0].key = FW_STR_LIT("arr");
    kv[0].value.type = FW_VALUE_ARRAY;
    kv[0].value.u.array.items = inner;
    kv[0].value.u.array.n = 2;
    kv[1].key = FW_STR_LIT("b64");
    kv[1].value.type = FW_VALUE_BYTES;
    kv[1].value.u.str = (fw_str){"\x00\x01\xfe", 3};
    kv[2].key = FW_STR_LIT("ok");
    kv[2].value.type = FW_VALUE_BOOL;
    kv[2].value.u.boolean = true;
    kv[3].key = FW_STR_LIT("none");
    kv[3].value.type = FW_VALUE_EMPTY;
    fw_attrs attrs = {kv, 4};
    fw_buf b;
    fw_buf_init(&b, 4096);
    assert_int_equal(fw_attrs_to_json(&attrs, &b), 0);
    const char want[] =
        "{\"arr\":[-9223372036854775808,0.1],\"b64\":\"AAH+\",\"ok\":true,\"none\":null}";
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.data, want, b.len);
    int64_t x = 0;
    assert_int_equal(fw_attrs_get_int(&attrs, "arr", &x), 0);
    assert_non_null(fw_attrs_get(&attrs, "ok"));
    assert_null(fw_attrs_get(&attrs, "missing"));
    fw_buf_free(&b);
}

static void test_log_escape(void **state)
{
    (void)state;
    char out[8];
    fw_log_escape("a\r\nbcdefghij", 11, 100, out, sizeof out);
    assert_string_equal(out, "a..bcde");
    fw_log_level l;
    assert_int_equal(fw_log_level_parse("warn", &l), 0);
    assert_int_equal(l, FW_LOG_WARN);
    assert_int_equal(fw_log_level_parse("loud", &l), FW_ERR_CONFIG);
}

/* The in-flight budget: a lone request is always admitted; receive-stage
 * reservations are refused past the limit while others hold memory; one
 * decoding request at a time may pass the limit; release gives all back. */
static void test_membudget(void **state)
{
    (void)state;
    fw_membudget b;
    fw_membudget_init(&b, 1000);
    fw_membudget_hold a = {0, false}, c = {0, false}, d = {0, false};

    assert_true(fw_membudget_reserve(&b, 5000, &a)); /* alone: admitted */
    assert_int_equal(fw_membudget_used(&b), 5000);
    assert_true(fw_membudget_reserve(&b, 100, &a)); /* still only a */
    assert_false(fw_membudget_reserve(&b, 1, &c));  /* a holds memory */
    assert_int_equal(c.bytes, 0);
    assert_int_equal(fw_membudget_refused(&b), 1);
    fw_membudget_release(&b, &a);
    assert_int_equal(a.bytes, 0);
    assert_int_equal(fw_membudget_used(&b), 0);
    assert_int_equal(fw_membudget_peak(&b), 5100);

    /* Within the limit everybody fits. */
    assert_true(fw_membudget_reserve(&b, 400, &a));
    assert_true(fw_membudget_reserve(&b, 400, &c));
    assert_false(fw_membudget_reserve(&b, 400, &d));
    /* Decode stage: the first decoder may pass the limit although others
     * hold memory; a second decoder may not, until the first is done. */
    assert_true(fw_membudget_reserve_decode(&b, 3000, &a));
    assert_true(a.decoding);
    assert_false(fw_membudget_reserve_decode(&b, 3000, &c));
    assert_true(c.decoding);
    assert_true(fw_membudget_reserve_decode(&b, 0, &c)); /* nothing asked */
    fw_membudget_release(&b, &a);
    assert_int_equal(fw_membudget_used(&b), 400);
    assert_true(fw_membudget_reserve_decode(&b, 3000, &c));
    fw_membudget_release(&b, &c);
    fw_membudget_release(&b, &d);
    assert_int_equal(fw_membudget_used(&b), 0);
    assert_int_equal(atomic_load(&b.decoders), 0);

    /* Budgeted buffer growth: the capacity is what is reserved. */
    fw_buf buf;
    fw_buf_init(&buf, 1u << 20);
    uint8_t chunk[300];
    memset(chunk, 1, sizeof chunk);
    assert_int_equal(fw_membudget_buf_append(&b, &a, &buf, chunk, sizeof chunk), 0);
    assert_int_equal(a.bytes, buf.cap);
    assert_true(fw_membudget_reserve(&b, 100, &c)); /* fits: 512 + 100 <= 1000 */
    /* 600 bytes need a 1024-byte buffer: 512 more would pass the limit. */
    assert_int_equal(fw_membudget_buf_append(&b, &a, &buf, chunk, sizeof chunk), FW_ERR_OVERLOAD);
    assert_int_equal(buf.len, 300); /* unchanged by the refusal */
    fw_membudget_release(&b, &c);
    assert_int_equal(fw_membudget_buf_append(&b, &a, &buf, chunk, sizeof chunk), 0);
    assert_int_equal(buf.len, 600);
    assert_int_equal(fw_membudget_used(&b), buf.cap);
    fw_membudget_release(&b, &a);
    fw_buf_free(&buf);

    /* No budget or limit 0: nothing counted, nothing refused. */
    fw_membudget none;
    fw_membudget_init(&none, 0);
    assert_true(fw_membudget_reserve(&none, SIZE_MAX, &a));
    assert_true(fw_membudget_reserve(NULL, SIZE_MAX, &a));
    assert_int_equal(a.bytes, 0);
    fw_membudget_release(NULL, &a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_cap_refuses_and_flags),
        cmocka_unit_test(test_arena_many_chunks_within_cap),
        cmocka_unit_test(test_arena_protobuf_allocator),
        cmocka_unit_test(test_buf_bounded),
        cmocka_unit_test(test_json_string_escaping),
        cmocka_unit_test(test_hex_ids),
        cmocka_unit_test(test_value_json),
        cmocka_unit_test(test_log_escape),
        cmocka_unit_test(test_membudget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

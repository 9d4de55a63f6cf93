/* test_gzip.c - bounded inflate: round trips, gzip bombs, truncated and
 * corrupt streams, trailing data, concatenated members, zlib input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <zlib.h>

#include "flywheel/gzip.h"

/* Deterministic, poorly compressible test bytes. */
static void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)(x & 0x3f); /* some redundancy, not all */
    }
}

static void gz(const uint8_t *p, size_t n, fw_buf *out)
{
    fw_buf_init(out, 16u << 20);
    assert_int_equal(fw_gzip_deflate(p, n, out), 0);
    assert_true(out->len >= 18); /* gzip header + trailer */
    assert_int_equal(out->data[0], 0x1f);
    assert_int_equal(out->data[1], 0x8b);
}

static void test_round_trip(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 100, 16384, 16385, 200000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        uint8_t *src = malloc(n ? n : 1);
        assert_non_null(src);
        fill_pattern(src, n, (uint32_t)i);
        fw_buf z, back;
        gz(src, n, &z);
        fw_buf_init(&back, n);
        fw_parse_error err;
        memset(&err, 0, sizeof err);
        assert_int_equal(fw_gzip_inflate(z.data, z.len, &back, &err), 0);
        assert_int_equal(back.len, n);
        if (n) assert_memory_equal(back.data, src, n);
        /* One byte less room than needed is refused. */
        if (n) {
            fw_buf tight;
            fw_buf_init(&tight, n - 1);
            assert_int_equal(fw_gzip_inflate(z.data, z.len, &tight, &err), FW_ERR_TOO_LARGE);
            assert_true(tight.len <= n - 1);
            fw_buf_free(&tight);
        }
        fw_buf_free(&back);
        fw_buf_free(&z);
        free(src);
    }
}

static void test_appends_to_existing(void **state)
{
    (void)state;
    fw_buf z, out;
    gz((const uint8_t *)"world", 5, &z);
    fw_buf_init(&out, 64);
    assert_int_equal(fw_buf_append(&out, "hello ", 6), 0);
    assert_int_equal(fw_gzip_inflate(z.data, z.len, &out, NULL), 0);
    assert_int_equal(out.len, 11);
    assert_memory_equal(out.data, "hello world", 11);
    fw_buf_free(&out);
    fw_buf_free(&z);
}

/* Streams |total| zero bytes through zlib's gzip writer: a bomb. */
static void make_bomb(size_t total, fw_buf *out)
{
    static const uint8_t zeros[65536];
    uint8_t chunk[16384];
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
    fw_buf_init(out, 1u << 20);
    size_t left = total;
    int zr;
    do {
        size_t piece = left < sizeof zeros ? left : sizeof zeros;
        zs.next_in = (Bytef *)(uintptr_t)zeros;
        zs.avail_in = (uInt)piece;
        left -= piece;
        int flush = left == 0 ? Z_FINISH : Z_NO_FLUSH;
        do {
            zs.next_out = chunk;
            zs.avail_out = sizeof chunk;
            zr = deflate(&zs, flush);
            assert_true(zr == Z_OK || zr == Z_STREAM_END || zr == Z_BUF_ERROR);
            assert_int_equal(fw_buf_append(out, chunk, sizeof chunk - zs.avail_out), 0);
        } while (zs.avail_out == 0);
    } while (left > 0);
    assert_int_equal(zr, Z_STREAM_END);
    deflateEnd(&zs);
}

static void test_bomb_refused_bounded(void **state)
{
    (void)state;
    fw_buf bomb, out;
    make_bomb(64u << 20, &bomb); /* 64 MiB of zeros */
    assert_true(bomb.len < 128u * 1024u);

    const size_t max = 1u << 20;
    fw_buf_init(&out, max);
    fw_parse_error err;
    memset(&err, 0, sizeof err);
    assert_int_equal(fw_gzip_inflate(bomb.data, bomb.len, &out, &err), FW_ERR_TOO_LARGE);
    /* Memory never went past the limit. */
    assert_true(out.cap <= max);
    assert_true(out.len <= max);
    assert_non_null(strstr(err.detail, "1048576"));
    fw_buf_free(&out);

    /* A few-KiB bomb (10 MiB of zeros) against a 1 MiB limit. */
    fw_buf small;
    make_bomb(10u << 20, &small);
    assert_true(small.len < 16u * 1024u);
    fw_buf_init(&out, max);
    assert_int_equal(fw_gzip_inflate(small.data, small.len, &out, &err), FW_ERR_TOO_LARGE);
    assert_true(out.cap <= max);
    fw_buf_free(&out);

    /* The same stream with enough room inflates fully. */
    fw_buf_init(&out, 10u << 20);
    assert_int_equal(fw_gzip_inflate(small.data, small.len, &out, &err), 0);
    assert_int_equal(out.len, 10u << 20);
    fw_buf_free(&out);
    fw_buf_free(&small);
    fw_buf_free(&bomb);
}

static void test_truncated(void **state)
{
    (void)state;
    uint8_t src[5000];
    fill_pattern(src, sizeof src, 7);
    fw_buf z;
    gz(src, sizeof src, &z);
    fw_parse_error err;
    /* Every strict prefix is refused as invalid, never accepted. */
    for (size_t n = 0; n < z.len; n++) {
        fw_buf out;
        fw_buf_init(&out, sizeof src);
        memset(&err, 0, sizeof err);
        assert_int_equal(fw_gzip_inflate(z.data, n, &out, &err), FW_ERR_INVALID);
        assert_non_null(err.reason);
        assert_true(err.detail[0] != '\0');
        fw_buf_free(&out);
    }
    fw_buf out;
    fw_buf_init(&out, sizeof src);
    memset(&err, 0, sizeof err);
    assert_int_equal(fw_gzip_inflate(z.data, z.len - 4, &out, &err), FW_ERR_INVALID);
    assert_non_null(strstr(err.detail, "truncated"));
    fw_buf_free(&out);
    fw_buf_free(&z);
}

static void test_garbage_and_corruption(void **state)
{
    (void)state;
    fw_parse_error err;
    fw_buf out;
    fw_buf_init(&out, 1u << 20);

    const uint8_t text[] = "this is not gzip at all";
    memset(&err, 0, sizeof err);
    assert_int_equal(fw_gzip_inflate(text, sizeof text - 1, &out, &err), FW_ERR_INVALID);
    assert_non_null(strstr(err.detail, "corrupt"));

    /* Flip a byte in the middle: the deflate data or the CRC catches it. */
    uint8_t src[4000];
    fill_pattern(src, sizeof src, 3);
    fw_buf z;
    gz(src, sizeof src, &z);
    for (size_t pos = 10; pos < z.len; pos += 97) {
        uint8_t *copy = malloc(z.len);
        assert_non_null(copy);
        memcpy(copy, z.data, z.len);
        copy[pos] ^= 0x55;
        fw_buf_reset(&out);
        assert_int_equal(fw_gzip_inflate(copy, z.len, &out, &err), FW_ERR_INVALID);
        free(copy);
    }
    fw_buf_free(&z);
    fw_buf_free(&out);
}

static void test_trailing_data(void **state)
{
    (void)state;
    fw_buf z, out;
    gz((const uint8_t *)"payload", 7, &z);
    static const char *const tails[] = {"x", "\x1f", "\0\0\0\0", "garbage"};
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        fw_buf w;
        fw_buf_init(&w, 1024);
        assert_int_equal(fw_buf_append(&w, z.data, z.len), 0);
        size_t tl = i == 2 ? 4 : strlen(tails[i]);
        assert_int_equal(fw_buf_append(&w, tails[i], tl), 0);
        fw_parse_error err;
        memset(&err, 0, sizeof err);
        fw_buf_init(&out, 1024);
        assert_int_equal(fw_gzip_inflate(w.data, w.len, &out, &err), FW_ERR_INVALID);
        assert_non_null(strstr(err.detail, "trailing"));
        fw_buf_free(&out);
        fw_buf_free(&w);
    }
    fw_buf_free(&z);
}

static void test_concatenated_members(void **state)
{
    (void)state;
    fw_buf a, b, w, out;
    gz((const uint8_t *)"first,", 6, &a);
    gz((const uint8_t *)"second", 6, &b);
    fw_buf_init(&w, 1024);
    assert_int_equal(fw_buf_append(&w, a.data, a.len), 0);
    assert_int_equal(fw_buf_append(&w, b.data, b.len), 0);
    fw_buf_init(&out, 1024);
    assert_int_equal(fw_gzip_inflate(w.data, w.len, &out, NULL), 0);
    assert_int_equal(out.len, 12);
    assert_memory_equal(out.data, "first,second", 12);

    /* A truncated second member is still truncated. */
    fw_buf_reset(&out);
    fw_parse_error err;
    memset(&err, 0, sizeof err);
    assert_int_equal(fw_gzip_inflate(w.data, w.len - 3, &out, &err), FW_ERR_INVALID);
    /* The total of all members counts against the limit. */
    fw_buf tight;
    fw_buf_init(&tight, 8);
    assert_int_equal(fw_gzip_inflate(w.data, w.len, &tight, &err), FW_ERR_TOO_LARGE);
    fw_buf_free(&tight);
    fw_buf_free(&out);
    fw_buf_free(&w);
    fw_buf_free(&b);
    fw_buf_free(&a);
}

static void test_zlib_accepted(void **state)
{
    (void)state;
    const char msg[] = "zlib wrapped deflate";
    uint8_t z[128];
    uLongf zlen = sizeof z;
    assert_int_equal(compress(z, &zlen, (const Bytef *)msg, sizeof msg - 1), Z_OK);
    fw_buf out;
    fw_buf_init(&out, 64);
    assert_int_equal(fw_gzip_inflate(z, zlen, &out, NULL), 0);
    assert_int_equal(out.len, sizeof msg - 1);
    assert_memory_equal(out.data, msg, sizeof msg - 1);
    fw_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_appends_to_existing),
        cmocka_unit_test(test_bomb_refused_bounded),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_garbage_and_corruption),
        cmocka_unit_test(test_trailing_data),
        cmocka_unit_test(test_concatenated_members),
        cmocka_unit_test(test_zlib_accepted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_intern.c - the string dictionary: ids are stable and round-trip,
 * find never inserts, the byte cap refuses (and counts) once full, long
 * strings are never interned, and two threads inserting the same and
 * different strings agree on every id; the per-batch lookup cache agrees
 * with the dictionary. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flywheel/intern.h"

static fw_str S(const char *s)
{
    return fw_str_from(s);
}

static void test_roundtrip(void **state)
{
    (void)state;
    fw_intern *t = NULL;
    assert_int_equal(fw_intern_new(0, &t), FW_ERR_CONFIG);
    assert_null(t);
    assert_int_equal(fw_intern_new(1u << 20, &t), 0);

    uint32_t a = fw_intern_id(t, S("GET /users/:id"));
    uint32_t b = fw_intern_id(t, S("service.name"));
    uint32_t e = fw_intern_id(t, S(""));
    uint32_t n = fw_intern_id(t, FW_STR_NULL); /* NULL slice: the empty string */
    assert_true(a != FW_INTERN_NONE && b != FW_INTERN_NONE && e != FW_INTERN_NONE);
    assert_true(a != b && a != e && b != e);
    assert_int_equal(n, e);
    assert_int_equal(fw_intern_id(t, S("GET /users/:id")), a);
    assert_int_equal(fw_intern_find(t, S("service.name")), b);
    assert_int_equal(fw_intern_find(t, S("service.nam")), FW_INTERN_NONE);
    assert_int_equal(fw_intern_find(t, S("absent")), FW_INTERN_NONE);

    fw_str s = fw_intern_str(t, a);
    assert_int_equal(s.len, 14);
    assert_memory_equal(s.ptr, "GET /users/:id", 14);
    assert_int_equal(s.ptr[s.len], '\0');
    s = fw_intern_str(t, e);
    assert_non_null(s.ptr);
    assert_int_equal(s.len, 0);
    assert_null(fw_intern_str(t, FW_INTERN_NONE).ptr);
    assert_null(fw_intern_str(t, 999999).ptr);
    assert_null(fw_intern_str(t, UINT32_MAX).ptr);

    /* Embedded NULs and binary bytes are distinct strings. */
    fw_str bin1 = {"a\0b", 3}, bin2 = {"a\0c", 3};
    uint32_t x = fw_intern_id(t, bin1), y = fw_intern_id(t, bin2);
    assert_true(x != y && x != FW_INTERN_NONE);
    assert_memory_equal(fw_intern_str(t, y).ptr, "a\0c", 3);

    /* Over FW_INTERN_MAX_LEN: never interned, not counted as refused. */
    char *big = malloc(FW_INTERN_MAX_LEN + 1u);
    memset(big, 'q', FW_INTERN_MAX_LEN + 1u);
    assert_int_equal(fw_intern_id(t, (fw_str){big, FW_INTERN_MAX_LEN + 1u}), FW_INTERN_NONE);
    uint32_t max = fw_intern_id(t, (fw_str){big, FW_INTERN_MAX_LEN});
    assert_true(max != FW_INTERN_NONE);
    assert_int_equal(fw_intern_str(t, max).len, FW_INTERN_MAX_LEN);
    free(big);

    /* Many strings: tables grow, every id keeps its string. */
    uint32_t ids[5000];
    char buf[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(buf, sizeof(buf), "key-%d", i);
        ids[i] = fw_intern_id(t, S(buf));
        assert_true(ids[i] != FW_INTERN_NONE);
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(buf, sizeof(buf), "key-%d", i);
        assert_int_equal(fw_intern_find(t, S(buf)), ids[i]);
        assert_string_equal(fw_intern_str(t, ids[i]).ptr, buf);
    }
    fw_intern_stats st;
    fw_intern_get_stats(t, &st);
    assert_int_equal(st.strings, 5000 + 6);
    assert_int_equal(st.refused, 0);
    assert_true(st.bytes > 5000u * 8u && st.bytes <= (1u << 20));
    fw_intern_free(t);
    fw_intern_free(NULL);
}

static void test_cap(void **state)
{
    (void)state;
    fw_intern *t = NULL;
    const size_t cap = 256u * 1024u;
    assert_int_equal(fw_intern_new(cap, &t), 0);
    char buf[64];
    uint32_t last = FW_INTERN_NONE;
    int got = 0, refused_in_a_row = 0, i = 0;
    /* Insert until it refuses steadily (a shard may still have room in its
     * slab for a while after another shard is out of room). */
    for (; i < 200000 && refused_in_a_row < 500; i++) {
        snprintf(buf, sizeof(buf), "some-longer-string-value-%d", i);
        uint32_t id = fw_intern_id(t, S(buf));
        if (id == FW_INTERN_NONE) {
            refused_in_a_row++;
            continue;
        }
        refused_in_a_row = 0;
        last = id;
        got++;
    }
    assert_int_equal(refused_in_a_row, 500);
    fw_intern_stats st;
    fw_intern_get_stats(t, &st);
    assert_true(st.bytes <= cap);
    assert_true(st.bytes >= cap / 10u * 8u); /* the cap is used, not wasted */
    assert_int_equal(st.strings, (uint64_t)got);
    assert_true(st.refused >= 500);
    assert_true(got > 1000);
    assert_int_equal(fw_intern_find(t, S("some-longer-string-value-0")) != FW_INTERN_NONE, 1);
    assert_non_null(fw_intern_str(t, last).ptr);
    fw_intern_get_stats(t, &st);
    assert_true(st.bytes <= cap);
    fw_intern_free(t);

    /* A cap below the fixed overhead refuses everything without failing. */
    assert_int_equal(fw_intern_new(100, &t), 0);
    assert_int_equal(fw_intern_id(t, S("x")), FW_INTERN_NONE);
    fw_intern_get_stats(t, &st);
    assert_int_equal(st.refused, 1);
    fw_intern_free(t);
}

typedef struct worker {
    fw_intern *t;
    int salt;
    uint32_t shared[2000];
    int bad;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    char buf[48];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 2000; i++) {
            /* Half the strings are common to both threads, half their own. */
            snprintf(buf, sizeof(buf), "common-%d", i);
            uint32_t id = fw_intern_id(w->t, S(buf));
            if (id == FW_INTERN_NONE || (round > 0 && id != w->shared[i]))
                w->bad++;
            w->shared[i] = id;
            fw_str back = fw_intern_str(w->t, id);
            if (!back.ptr || strcmp(back.ptr, buf) != 0)
                w->bad++;
            snprintf(buf, sizeof(buf), "own-%d-%d", w->salt, i);
            id = fw_intern_id(w->t, S(buf));
            back = fw_intern_str(w->t, id);
            if (!back.ptr || strcmp(back.ptr, buf) != 0)
                w->bad++;
        }
    }
    return NULL;
}

/* The per-batch cache answers exactly what the dictionary answers: same
 * ids, misses for strings it does not hold (however alike their heads and
 * tails), nothing inserted by a cached find. */
static void test_cache(void **state)
{
    (void)state;
    fw_intern *t = NULL;
    assert_int_equal(fw_intern_new(1u << 20, &t), 0);
    fw_intern_cache *c = malloc(sizeof(*c));
    assert_non_null(c);
    fw_intern_cache_init(c);
    /* Lengths 0..40 cover every hash and compare path; the long ones share
     * their first and last 8 bytes and differ only in the middle. */
    char buf[64][48];
    uint32_t ids[64];
    for (unsigned i = 0; i < 64; i++) {
        size_t len = i % 41u;
        memset(buf[i], 'k', len);
        if (len > 16)
            buf[i][len / 2] = (char)('A' + i % 26);
        else if (len)
            buf[i][len - 1] = (char)('A' + i % 26);
        buf[i][len] = '\0';
    }
    for (unsigned i = 0; i < 64; i++)
        ids[i] = fw_intern_cached_id(t, c, fw_str_from(buf[i]));
    for (unsigned round = 0; round < 2; round++) {
        for (unsigned i = 0; i < 64; i++) {
            fw_str sv = fw_str_from(buf[i]);
            assert_int_equal(ids[i], fw_intern_id(t, sv));
            assert_int_equal(fw_intern_cached_id(t, c, sv), ids[i]);
            assert_int_equal(fw_intern_cached_find(t, c, sv), ids[i]);
            uint32_t id = 0;
            (void)fw_intern_cache_slot(c, sv, &id);
            assert_true(id == FW_INTERN_NONE || id == ids[i]);
        }
    }
    /* Same head and tail, other middle: not found, and not inserted. */
    char other[] = "kkkkkkkkkkkkkkkkkkkk#kkkkkkkkkkkkkkkkkkkk";
    fw_intern_stats before, after;
    fw_intern_get_stats(t, &before);
    assert_int_equal(fw_intern_cached_find(t, c, fw_str_from(other)), FW_INTERN_NONE);
    fw_intern_get_stats(t, &after);
    assert_int_equal(after.strings, before.strings);
    /* A string that is too long is never cached nor interned. */
    char *big = malloc(FW_INTERN_MAX_LEN + 2u);
    assert_non_null(big);
    memset(big, 'z', FW_INTERN_MAX_LEN + 1u);
    big[FW_INTERN_MAX_LEN + 1u] = '\0';
    assert_int_equal(fw_intern_cached_id(t, c, fw_str_from(big)), FW_INTERN_NONE);
    free(big);
    free(c);
    fw_intern_free(t);
}

static void test_concurrent(void **state)
{
    (void)state;
    fw_intern *t = NULL;
    assert_int_equal(fw_intern_new(16u << 20, &t), 0);
    worker *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    a->t = b->t = t;
    a->salt = 1;
    b->salt = 2;
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, work, a), 0);
    assert_int_equal(pthread_create(&tb, NULL, work, b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a->bad, 0);
    assert_int_equal(b->bad, 0);
    assert_memory_equal(a->shared, b->shared, sizeof(a->shared)); /* one id per string */
    fw_intern_stats st;
    fw_intern_get_stats(t, &st);
    assert_int_equal(st.strings, 6000);
    free(a);
    free(b);
    fw_intern_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_auth.c - bearer-token check and token loading (collector/auth). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "flywheel/auth.h"

static bool check(const char *expected, const char *header)
{
    return fw_auth_check(fw_str_from(expected), header ? fw_str_from(header) : FW_STR_NULL);
}

static void test_off_when_no_token(void **state)
{
    (void)state;
    assert_true(check("", NULL));
    assert_true(check("", "Bearer anything"));
    assert_true(fw_auth_check(FW_STR_NULL, FW_STR_NULL));
}

static void test_right_token(void **state)
{
    (void)state;
    assert_true(check("s3cr3t", "Bearer s3cr3t"));
    assert_true(check("s3cr3t", "bearer s3cr3t"));
    assert_true(check("s3cr3t", "BEARER s3cr3t"));
    assert_true(check("s3cr3t", "  Bearer   s3cr3t  "));
    assert_true(check("s3cr3t", "Bearer\ts3cr3t"));
    assert_true(check("a.b-c_d~e+f/g==", "Bearer a.b-c_d~e+f/g=="));
}

static void test_rejected(void **state)
{
    (void)state;
    assert_false(check("s3cr3t", NULL));                 /* missing */
    assert_false(check("s3cr3t", ""));                   /* empty */
    assert_false(check("s3cr3t", "Bearer"));             /* no token */
    assert_false(check("s3cr3t", "Bearer "));            /* empty token */
    assert_false(check("s3cr3t", "Bearer s3cr3T"));      /* case matters in the token */
    assert_false(check("s3cr3t", "Bearer s3cr3"));       /* prefix */
    assert_false(check("s3cr3t", "Bearer s3cr3tt"));     /* longer */
    assert_false(check("s3cr3t", "Bearer s3cr3t x"));    /* extra word */
    assert_false(check("s3cr3t", "s3cr3t"));             /* no scheme */
    assert_false(check("s3cr3t", "Basic s3cr3t"));       /* other scheme */
    assert_false(check("s3cr3t", "Bearers3cr3t"));       /* no separator */
    assert_false(check("s3cr3t", "Token s3cr3t"));
    /* A NUL inside the presented token does not end the comparison. */
    fw_str with_nul = {"Bearer s3cr3t\0x", 15};
    assert_false(fw_auth_check(fw_str_from("s3cr3t"), with_nul));
    /* Expected shorter than the presented token: no over-read, no match. */
    assert_false(check("a", "Bearer aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

static void test_load_inline(void **state)
{
    (void)state;
    char tok[64], err[256];
    assert_int_equal(fw_auth_token_load("abc", "", tok, sizeof tok, err, sizeof err), 0);
    assert_string_equal(tok, "abc");
    assert_int_equal(fw_auth_token_load("", NULL, tok, sizeof tok, err, sizeof err), 0);
    assert_string_equal(tok, "");
    assert_int_equal(fw_auth_token_load("a b", NULL, tok, sizeof tok, err, sizeof err),
                     FW_ERR_CONFIG);
    assert_non_null(strstr(err, "visible ASCII"));
    assert_int_equal(fw_auth_token_load("abc", "/x", tok, sizeof tok, err, sizeof err),
                     FW_ERR_CONFIG);
    assert_non_null(strstr(err, "not both"));
    char small[4];
    assert_int_equal(fw_auth_token_load("abcd", NULL, small, sizeof small, err, sizeof err),
                     FW_ERR_CONFIG);
}

static void write_file(const char *path, const char *content, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void test_load_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/fw_auth_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], tok[64], err[256];
    snprintf(path, sizeof path, "%s/token", dir);

    write_file(path, "  tok-123\n", 10);
    assert_int_equal(fw_auth_token_load(NULL, path, tok, sizeof tok, err, sizeof err), 0);
    assert_string_equal(tok, "tok-123");
    assert_true(fw_auth_check(fw_str_from(tok), fw_str_from("Bearer tok-123")));

    write_file(path, " \r\n", 3);
    assert_int_equal(fw_auth_token_load("", path, tok, sizeof tok, err, sizeof err),
                     FW_ERR_CONFIG);
    assert_non_null(strstr(err, "empty"));

    write_file(path, "a\nb\n", 4);
    assert_int_equal(fw_auth_token_load("", path, tok, sizeof tok, err, sizeof err),
                     FW_ERR_CONFIG);

    char big[FW_AUTH_TOKEN_MAX + 10];
    memset(big, 'x', sizeof big);
    write_file(path, big, sizeof big);
    char large[FW_AUTH_TOKEN_MAX + 16];
    assert_int_equal(fw_auth_token_load("", path, large, sizeof large, err, sizeof err),
                     FW_ERR_CONFIG);
    write_file(path, big, FW_AUTH_TOKEN_MAX);
    assert_int_equal(fw_auth_token_load("", path, large, sizeof large, err, sizeof err), 0);
    assert_int_equal(strlen(large), FW_AUTH_TOKEN_MAX);

    assert_int_equal(unlink(path), 0);
    assert_int_equal(fw_auth_token_load("", path, tok, sizeof tok, err, sizeof err),
                     FW_ERR_CONFIG);
    assert_non_null(strstr(err, "cannot open"));
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_when_no_token), cmocka_unit_test(test_right_token),
        cmocka_unit_test(test_rejected),          cmocka_unit_test(test_load_inline),
        cmocka_unit_test(test_load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

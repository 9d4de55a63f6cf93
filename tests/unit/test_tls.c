/* test_tls.c - the TLS contexts: certificate loading errors, ALPN choice
 * (h2 preferred, http/1.1 fallback, no overlap refused), TLS 1.2 minimum
 * and mutual TLS. Handshakes run client <-> server over an in-memory BIO
 * pair with a certificate generated at test time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "flywheel/tls.h"

typedef struct fixture {
    char dir[64];
    char cert[128];
    char key[128];
    char other_key[128];
    char garbage[128];
} fixture;

static X509 *make_cert(EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_NAME *name;
    X509V3_CTX v3;
    X509_EXTENSION *ext;

    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
    assert_int_equal(X509_set_pubkey(x, key), 1);
    name = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                (const unsigned char *)"localhost", -1, -1, 0),
                     1);
    assert_int_equal(X509_set_issuer_name(x, name), 1);
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    return x;
}

static void write_key(const char *path, EVP_PKEY *key)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    EVP_PKEY *key;
    EVP_PKEY *other;
    X509 *x;
    FILE *f;

    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/fw_test_tls_XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->cert, sizeof(fx->cert), "%s/cert.pem", fx->dir);
    snprintf(fx->key, sizeof(fx->key), "%s/key.pem", fx->dir);
    snprintf(fx->other_key, sizeof(fx->other_key), "%s/other.pem", fx->dir);
    snprintf(fx->garbage, sizeof(fx->garbage), "%s/garbage.pem", fx->dir);

    key = EVP_EC_gen("P-256");
    other = EVP_EC_gen("P-256");
    assert_non_null(key);
    assert_non_null(other);
    x = make_cert(key);
    f = fopen(fx->cert, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, x), 1);
    fclose(f);
    write_key(fx->key, key);
    write_key(fx->other_key, other);
    f = fopen(fx->garbage, "w");
    assert_non_null(f);
    fputs("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n", f);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    unlink(fx->cert);
    unlink(fx->key);
    unlink(fx->other_key);
    unlink(fx->garbage);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static fw_tls *new_tls(const fixture *fx, bool h2, bool h1, const char *ca)
{
    fw_tls_config cfg = {fx->cert, fx->key, ca, h2, h1};
    fw_tls *t = NULL;
    char err[512];
    int rv = fw_tls_new(&cfg, &t, err, sizeof(err));
    if (rv != 0)
        fail_msg("fw_tls_new: %s", err);
    return t;
}

/* A client context; |alpn| is a wire-format list or NULL. */
static SSL_CTX *client_ctx(const unsigned char *alpn, unsigned alpn_len, int max_version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (alpn != NULL)
        assert_int_equal(SSL_CTX_set_alpn_protos(ctx, alpn, alpn_len), 0);
    if (max_version != 0) {
        SSL_CTX_set_security_level(ctx, 0);
        assert_int_equal(SSL_CTX_set_max_proto_version(ctx, max_version), 1);
        if (max_version < TLS1_2_VERSION)
            assert_int_equal(SSL_CTX_set_min_proto_version(ctx, max_version), 1);
    }
    return ctx;
}

/* Runs both handshakes over a BIO pair. Returns 1 when both finished, 0
 * when the server failed (client may think it is done: TLS 1.3). */
static int handshake(SSL *client, SSL *server)
{
    BIO *cb = NULL;
    BIO *sb = NULL;
    int cdone = 0;
    int sdone = 0;

    assert_int_equal(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
    SSL_set_bio(client, cb, cb);
    SSL_set_bio(server, sb, sb);
    SSL_set_connect_state(client);
    SSL_set_accept_state(server);
    for (int i = 0; i < 64 && !(cdone && sdone); i++) {
        if (!cdone) {
            int r = SSL_do_handshake(client);
            if (r == 1) {
                cdone = 1;
            } else {
                int e = SSL_get_error(client, r);
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                    return 0;
            }
        }
        if (!sdone) {
            int r = SSL_do_handshake(server);
            if (r == 1) {
                sdone = 1;
            } else {
                int e = SSL_get_error(server, r);
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                    return 0;
            }
        }
    }
    ERR_clear_error();
    return cdone && sdone;
}

static const unsigned char alpn_both_h1_first[] = "\x08http/1.1\x02h2";
static const unsigned char alpn_h1_only[] = "\x08http/1.1";
static const unsigned char alpn_h2_only[] = "\x02h2";

/* Handshake with a given client ALPN offer; returns the server's SSL (or
 * NULL when the handshake failed) and the selected protocol. */
static int run(fw_tls *t, const unsigned char *alpn, unsigned alpn_len, int max_version,
               char *selected, size_t selsz, int *is_h2)
{
    SSL_CTX *cctx = client_ctx(alpn, alpn_len, max_version);
    SSL *client = SSL_new(cctx);
    SSL *server = fw_tls_ssl_new(t);
    const unsigned char *p = NULL;
    unsigned len = 0;
    int ok;

    assert_non_null(client);
    assert_non_null(server);
    ok = handshake(client, server);
    selected[0] = '\0';
    if (ok) {
        SSL_get0_alpn_selected(server, &p, &len);
        if (len >= selsz)
            len = (unsigned)selsz - 1;
        if (p != NULL)
            memcpy(selected, p, len);
        selected[len] = '\0';
        *is_h2 = fw_tls_alpn_is_h2(server);
    }
    SSL_free(client);
    SSL_free(server);
    SSL_CTX_free(cctx);
    return ok;
}

static void test_alpn_prefers_h2(void **state)
{
    fw_tls *t = new_tls(*state, true, true, NULL);
    char sel[32];
    int h2 = -1;

    /* The client lists http/1.1 first; the server still picks h2. */
    assert_int_equal(run(t, alpn_both_h1_first, sizeof(alpn_both_h1_first) - 1, 0, sel,
                         sizeof(sel), &h2),
                     1);
    assert_string_equal(sel, "h2");
    assert_int_equal(h2, 1);
    fw_tls_free(t);
}

static void test_alpn_http11(void **state)
{
    fw_tls *t = new_tls(*state, true, true, NULL);
    char sel[32];
    int h2 = -1;

    assert_int_equal(run(t, alpn_h1_only, sizeof(alpn_h1_only) - 1, 0, sel, sizeof(sel), &h2), 1);
    assert_string_equal(sel, "http/1.1");
    assert_int_equal(h2, 0);
    fw_tls_free(t);
}

static void test_alpn_h2_disabled(void **state)
{
    fw_tls *t = new_tls(*state, false, true, NULL);
    char sel[32];
    int h2 = -1;

    assert_int_equal(run(t, alpn_both_h1_first, sizeof(alpn_both_h1_first) - 1, 0, sel,
                         sizeof(sel), &h2),
                     1);
    assert_string_equal(sel, "http/1.1");
    assert_int_equal(h2, 0);
    fw_tls_free(t);
}

static void test_alpn_no_overlap_refused(void **state)
{
    fw_tls *t = new_tls(*state, true, false, NULL); /* gRPC-style: h2 only */
    char sel[32];
    int h2 = -1;

    assert_int_equal(run(t, alpn_h1_only, sizeof(alpn_h1_only) - 1, 0, sel, sizeof(sel), &h2), 0);
    assert_int_equal(run(t, alpn_h2_only, sizeof(alpn_h2_only) - 1, 0, sel, sizeof(sel), &h2), 1);
    assert_string_equal(sel, "h2");
    fw_tls_free(t);
}

static void test_no_alpn(void **state)
{
    fw_tls *t = new_tls(*state, true, true, NULL);
    char sel[32];
    int h2 = -1;

    assert_int_equal(run(t, NULL, 0, 0, sel, sizeof(sel), &h2), 1);
    assert_string_equal(sel, "");
    assert_int_equal(h2, 0);
    fw_tls_free(t);
}

static void test_min_tls12(void **state)
{
    fw_tls *t = new_tls(*state, true, true, NULL);
    char sel[32];
    int h2 = -1;

    assert_int_equal(run(t, alpn_h2_only, 3, TLS1_1_VERSION, sel, sizeof(sel), &h2), 0);
    assert_int_equal(run(t, alpn_h2_only, 3, TLS1_2_VERSION, sel, sizeof(sel), &h2), 1);
    assert_string_equal(sel, "h2");
    fw_tls_free(t);
}

static void test_mutual_tls(void **state)
{
    const fixture *fx = *state;
    fw_tls *t = new_tls(fx, true, true, fx->cert);
    SSL_CTX *cctx;
    SSL *client;
    SSL *server;
    X509 *peer;
    char sel[32];
    int h2 = -1;

    /* No client certificate: refused. */
    assert_int_equal(run(t, alpn_h2_only, 3, 0, sel, sizeof(sel), &h2), 0);

    /* With the certificate the CA file trusts: accepted, peer visible. */
    cctx = client_ctx(alpn_h2_only, 3, 0);
    assert_int_equal(SSL_CTX_use_certificate_file(cctx, fx->cert, SSL_FILETYPE_PEM), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(cctx, fx->key, SSL_FILETYPE_PEM), 1);
    client = SSL_new(cctx);
    server = fw_tls_ssl_new(t);
    assert_int_equal(handshake(client, server), 1);
    peer = SSL_get1_peer_certificate(server);
    assert_non_null(peer);
    assert_int_equal(SSL_get_verify_result(server), X509_V_OK);
    X509_free(peer);
    SSL_free(client);
    SSL_free(server);
    SSL_CTX_free(cctx);

    /* A client certificate the CA file does not trust: refused. */
    {
        EVP_PKEY *k = EVP_EC_gen("P-256");
        X509 *x = make_cert(k);
        cctx = client_ctx(alpn_h2_only, 3, 0);
        assert_int_equal(SSL_CTX_use_certificate(cctx, x), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey(cctx, k), 1);
        client = SSL_new(cctx);
        server = fw_tls_ssl_new(t);
        assert_int_equal(handshake(client, server), 0);
        SSL_free(client);
        SSL_free(server);
        SSL_CTX_free(cctx);
        X509_free(x);
        EVP_PKEY_free(k);
    }
    fw_tls_free(t);
}

static int new_err(const char *cert, const char *key, const char *ca, char *err, size_t errlen)
{
    fw_tls_config cfg = {cert, key, ca, true, true};
    fw_tls *t = (fw_tls *)0x1;
    int rv = fw_tls_new(&cfg, &t, err, errlen);
    assert_null(t);
    return rv;
}

static void test_errors_name_the_file(void **state)
{
    const fixture *fx = *state;
    char err[512];

    assert_int_equal(new_err("/nonexistent/cert.pem", fx->key, NULL, err, sizeof(err)),
                     FW_ERR_TLS);
    assert_non_null(strstr(err, "/nonexistent/cert.pem"));
    assert_non_null(strstr(err, "certificate"));

    assert_int_equal(new_err(fx->cert, "/nonexistent/key.pem", NULL, err, sizeof(err)),
                     FW_ERR_TLS);
    assert_non_null(strstr(err, "/nonexistent/key.pem"));

    assert_int_equal(new_err(fx->garbage, fx->key, NULL, err, sizeof(err)), FW_ERR_TLS);
    assert_non_null(strstr(err, fx->garbage));

    assert_int_equal(new_err(fx->cert, fx->other_key, NULL, err, sizeof(err)), FW_ERR_TLS);
    assert_non_null(strstr(err, "does not match"));
    assert_non_null(strstr(err, fx->other_key));

    assert_int_equal(new_err(fx->cert, fx->key, "/nonexistent/ca.pem", err, sizeof(err)),
                     FW_ERR_TLS);
    assert_non_null(strstr(err, "/nonexistent/ca.pem"));

    assert_int_equal(new_err(fx->cert, NULL, NULL, err, sizeof(err)), FW_ERR_TLS);
    assert_non_null(strstr(err, "key"));
    assert_int_equal(new_err("", fx->key, NULL, err, sizeof(err)), FW_ERR_TLS);

    /* Neither protocol allowed. */
    {
        fw_tls_config cfg = {fx->cert, fx->key, NULL, false, false};
        fw_tls *t = NULL;
        assert_int_equal(fw_tls_new(&cfg, &t, err, sizeof(err)), FW_ERR_TLS);
        assert_null(t);
    }
    fw_tls_free(NULL);
    assert_null(fw_tls_ssl_new(NULL));
    assert_int_equal(fw_tls_alpn_is_h2(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alpn_prefers_h2),
        cmocka_unit_test(test_alpn_http11),
        cmocka_unit_test(test_alpn_h2_disabled),
        cmocka_unit_test(test_alpn_no_overlap_refused),
        cmocka_unit_test(test_no_alpn),
        cmocka_unit_test(test_min_tls12),
        cmocka_unit_test(test_mutual_tls),
        cmocka_unit_test(test_errors_name_the_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

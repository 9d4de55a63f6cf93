/* tls.c - OpenSSL server contexts for the listeners: TLS 1.2 minimum,
 * certificate chain and key loaded and cross-checked, ALPN selection
 * (h2 preferred, http/1.1) and optional mutual TLS.
 * Owns the SSL_CTX; never does socket I/O and never keeps global state
 * (OpenSSL 3 initializes itself). */
#include "flywheel/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

struct fw_tls {
    SSL_CTX *ctx;
    bool allow_h2; /* ALPN may select "h2" */
    bool allow_h1; /* ALPN may select "http/1.1" */
};

/* ALPN protocol names as they appear on the wire (length-prefixed). */
static const unsigned char alpn_h2[] = "h2";
static const unsigned char alpn_h1[] = "http/1.1";

/* Writes "what file: reason" into |err|, draining the OpenSSL error queue
 * (the last, most specific error wins the message). */
static void set_error(char *err, size_t errlen, const char *what, const char *file)
{
    char reason[256] = "unknown error";
    unsigned long e;
    unsigned long last = 0;

    while ((e = ERR_get_error()) != 0)
        last = e;
    if (last != 0)
        ERR_error_string_n(last, reason, sizeof(reason));
    if (err != NULL && errlen > 0) {
        if (file != NULL)
            snprintf(err, errlen, "%s %s: %s", what, file, reason);
        else
            snprintf(err, errlen, "%s: %s", what, reason);
    }
}

/* Does the client's ALPN list |in,inlen| offer |proto| (length |plen|)?
 * Points |*out| at the match inside |in|. The list is untrusted: every
 * length byte is checked against what remains. */
static int alpn_find(const unsigned char *in, unsigned int inlen, const unsigned char *proto,
                     unsigned char plen, const unsigned char **out)
{
    unsigned int i = 0;

    while (i < inlen) {
        unsigned int len = in[i];
        if (len == 0 || len > inlen - i - 1)
            return 0; /* malformed list */
        if (len == plen && memcmp(in + i + 1, proto, plen) == 0) {
            *out = in + i + 1;
            return 1;
        }
        i += 1 + len;
    }
    return 0;
}

static int alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                          const unsigned char *in, unsigned int inlen, void *arg)
{
    const fw_tls *t = arg;
    const unsigned char *match = NULL;

    (void)ssl;
    /* Prefer h2 when the client offers it (RFC 7540 3.3). */
    if (t->allow_h2 && alpn_find(in, inlen, alpn_h2, (unsigned char)(sizeof(alpn_h2) - 1), &match)) {
        *out = match;
        *outlen = (unsigned char)(sizeof(alpn_h2) - 1);
        return SSL_TLSEXT_ERR_OK;
    }
    if (t->allow_h1 && alpn_find(in, inlen, alpn_h1, (unsigned char)(sizeof(alpn_h1) - 1), &match)) {
        *out = match;
        *outlen = (unsigned char)(sizeof(alpn_h1) - 1);
        return SSL_TLSEXT_ERR_OK;
    }
    /* RFC 7301 3.2: no protocol in common is a fatal no_application_protocol. */
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

int fw_tls_new(const fw_tls_config *cfg, fw_tls **out, char *err, size_t errlen)
{
    static const unsigned char session_ctx[] = "flywheel";
    fw_tls *t;
    SSL_CTX *ctx;

    *out = NULL;
    if (cfg == NULL || cfg->cert_file == NULL || cfg->cert_file[0] == '\0') {
        snprintf(err, errlen, "tls: no certificate file configured");
        return FW_ERR_TLS;
    }
    if (cfg->key_file == NULL || cfg->key_file[0] == '\0') {
        snprintf(err, errlen, "tls: certificate %s configured without a key file", cfg->cert_file);
        return FW_ERR_TLS;
    }
    if (!cfg->allow_h1 && !cfg->allow_h2) {
        snprintf(err, errlen, "tls: neither h2 nor http/1.1 allowed");
        return FW_ERR_TLS;
    }
    ERR_clear_error();

    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(err, errlen, "tls: out of memory");
        return FW_ERR_NOMEM;
    }
    t->allow_h2 = cfg->allow_h2;
    t->allow_h1 = cfg->allow_h1;

    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        set_error(err, errlen, "tls: cannot create context", NULL);
        goto fail_ctx;
    }
    t->ctx = ctx;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        set_error(err, errlen, "tls: cannot set minimum version TLS 1.2", NULL);
        goto fail_setup;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);

    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1) {
        set_error(err, errlen, "tls: cannot load certificate chain", cfg->cert_file);
        goto fail_setup;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1) {
        unsigned long e = ERR_peek_last_error();
        bool mismatch = ERR_GET_LIB(e) == ERR_LIB_X509 &&
                        ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH;
        set_error(err, errlen,
                  mismatch ? "tls: private key does not match certificate"
                           : "tls: cannot load private key",
                  cfg->key_file);
        goto fail_setup;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        set_error(err, errlen, "tls: private key does not match certificate", cfg->key_file);
        goto fail_setup;
    }

    if (cfg->client_ca_file != NULL && cfg->client_ca_file[0] != '\0') {
        STACK_OF(X509_NAME) *names;

        if (SSL_CTX_load_verify_locations(ctx, cfg->client_ca_file, NULL) != 1) {
            set_error(err, errlen, "tls: cannot load client CA file", cfg->client_ca_file);
            goto fail_setup;
        }
        names = SSL_load_client_CA_file(cfg->client_ca_file);
        if (names == NULL) {
            set_error(err, errlen, "tls: no CA names in client CA file", cfg->client_ca_file);
            goto fail_setup;
        }
        SSL_CTX_set_client_CA_list(ctx, names); /* takes ownership */
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    /* Needed for session resumption when client certificates are verified. */
    if (SSL_CTX_set_session_id_context(ctx, session_ctx, (unsigned int)(sizeof(session_ctx) - 1)) !=
        1) {
        set_error(err, errlen, "tls: cannot set session id context", NULL);
        goto fail_setup;
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select_cb, t);

    *out = t;
    return 0;

fail_setup:
    SSL_CTX_free(ctx);
fail_ctx:
    free(t);
    return FW_ERR_TLS;
}

void fw_tls_free(fw_tls *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

SSL *fw_tls_ssl_new(fw_tls *t)
{
    if (t == NULL)
        return NULL;
    return SSL_new(t->ctx);
}

int fw_tls_alpn_is_h2(SSL *ssl)
{
    const unsigned char *proto = NULL;
    unsigned int len = 0;

    if (ssl == NULL)
        return 0;
    SSL_get0_alpn_selected(ssl, &proto, &len);
    return proto != NULL && len == sizeof(alpn_h2) - 1 && memcmp(proto, alpn_h2, len) == 0;
}

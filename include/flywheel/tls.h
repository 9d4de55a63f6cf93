/* tls.h - OpenSSL server contexts for the listeners (TLS 1.2+, ALPN h2 and
 * http/1.1, optional mutual TLS). Owns the SSL_CTX; never does I/O. */
#ifndef FLYWHEEL_TLS_H
#define FLYWHEEL_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/ssl.h>
#include "flywheel/error.h"

typedef struct fw_tls_config {
    const char *cert_file;      /* PEM chain; NULL or "" = TLS off */
    const char *key_file;       /* PEM key */
    const char *client_ca_file; /* PEM CAs; set = mutual TLS required */
    bool allow_h2;              /* offer "h2" in ALPN */
    bool allow_h1;              /* offer "http/1.1" in ALPN */
} fw_tls_config;

typedef struct fw_tls fw_tls;

/* Loads cert/key (and client CA). On error returns FW_ERR_TLS and writes a
 * message naming the file and the OpenSSL reason into |err|. */
FW_WUR int fw_tls_new(const fw_tls_config *cfg, fw_tls **out, char *err, size_t errlen);
void fw_tls_free(fw_tls *t);
/* A new SSL in server mode; NULL on failure. Caller owns it. */
SSL *fw_tls_ssl_new(fw_tls *t);
/* After the handshake: 1 when ALPN selected "h2". */
int fw_tls_alpn_is_h2(SSL *ssl);

#endif

/* error.c - names of the FW_ERR_* codes and the parse-error setter.
 * Owns no state. */
#include <stdarg.h>
#include <stdio.h>
#include "flywheel/error.h"

const char *fw_strerror(int err)
{
    switch (err) {
    case FW_OK: return "ok";
    case FW_ERR_NOMEM: return "out of memory or over the allocation cap";
    case FW_ERR_INVALID: return "invalid input";
    case FW_ERR_TOO_LARGE: return "input over the configured limit";
    case FW_ERR_AGAIN: return "need more input";
    case FW_ERR_UNSUPPORTED: return "unsupported";
    case FW_ERR_NOT_FOUND: return "not found";
    case FW_ERR_IO: return "i/o error";
    case FW_ERR_CONFIG: return "bad configuration";
    case FW_ERR_OVERLOAD: return "overloaded, retry later";
    case FW_ERR_TLS: return "tls error";
    case FW_ERR_CLOSED: return "closed";
    default: return "unknown error";
    }
}

void fw_parse_error_set(fw_parse_error *e, const char *reason, const char *fmt, ...)
{
    if (!e) return;
    e->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->detail, sizeof e->detail, fmt, ap);
    va_end(ap);
    if (n < 0) e->detail[0] = '\0';
    /* The detail goes to a remote peer and to logs: no control bytes. */
    for (char *c = e->detail; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = ' ';
}

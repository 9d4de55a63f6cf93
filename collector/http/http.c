/* http.c - protocol-neutral helpers of the HTTP request/response pair:
 * response setup and teardown, extra response headers, reason phrases and
 * query-parameter lookup with percent-decoding.
 * Owns no connection state and never touches the wire: the HTTP/1.1 and
 * HTTP/2 cores (collector/h1, collector/h2) do the serialization. */
#include "flywheel/http.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "flywheel/error.h"

/* google.rpc.Status in grpc-status-details-bin stays small: a code, a
 * message and at most a RetryInfo or BadRequest detail. */
#define HTTP_GRPC_DETAILS_MAX 4096u

void fw_http_response_init(fw_http_response *r, size_t body_max)
{
    memset(r, 0, sizeof *r);
    r->status = 500;
    fw_buf_init(&r->body, body_max);
    fw_buf_init(&r->grpc_details, HTTP_GRPC_DETAILS_MAX);
}

void fw_http_response_free(fw_http_response *r)
{
    if (!r) return;
    fw_buf_free(&r->body);
    fw_buf_free(&r->grpc_details);
}

int fw_http_response_header(fw_http_response *r, const char *name, const char *fmt, ...)
{
    if (r->n_headers >= FW_HTTP_MAX_EXTRA_HEADERS) return FW_ERR_TOO_LARGE;
    fw_http_header *h = &r->headers[r->n_headers];
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(h->value, sizeof h->value, fmt, ap);
    va_end(ap);
    if (w < 0) h->value[0] = '\0';
    /* A value never carries CR, LF or other control bytes: they would let
     * text reaching a header split the response. */
    for (char *v = h->value; *v; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f) *v = ' ';
    h->name = name;
    r->n_headers++;
    return 0;
}

const char *fw_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: break;
    }
    if (status >= 100 && status < 200) return "Informational";
    if (status >= 200 && status < 300) return "Success";
    if (status >= 300 && status < 400) return "Redirection";
    if (status >= 400 && status < 500) return "Client Error";
    return "Server Error";
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Decodes the byte at |*i| of |s| (advancing |*i|): "%XX" becomes the byte,
 * '+' a space. A malformed escape, and "%00" (which would cut the C string
 * the caller receives), stay literal. */
static char decode_next(fw_str s, size_t *i)
{
    char ch = s.ptr[*i];
    if (ch == '+') {
        (*i)++;
        return ' ';
    }
    if (ch == '%' && s.len - *i >= 3) {
        int hi = hex_value(s.ptr[*i + 1]);
        int lo = hex_value(s.ptr[*i + 2]);
        if (hi >= 0 && lo >= 0 && (hi | lo) != 0) {
            *i += 3;
            return (char)(hi * 16 + lo);
        }
    }
    (*i)++;
    return ch;
}

/* Does the encoded |key| decode to exactly |name|? */
static int key_matches(fw_str key, const char *name)
{
    size_t i = 0, j = 0;
    while (i < key.len) {
        if (name[j] == '\0') return 0;
        if (decode_next(key, &i) != name[j]) return 0;
        j++;
    }
    return name[j] == '\0';
}

int fw_http_query_param(fw_str query, const char *name, char *out, size_t outsz)
{
    if (outsz > 0) out[0] = '\0';
    if (!query.ptr || !name) return 0;
    size_t pos = 0;
    while (pos <= query.len) {
        size_t end = pos;
        while (end < query.len && query.ptr[end] != '&') end++;
        fw_str pair = {query.ptr + pos, end - pos};
        size_t eq = 0;
        while (eq < pair.len && pair.ptr[eq] != '=') eq++;
        fw_str key = {pair.ptr, eq};
        if (pair.len > 0 && key_matches(key, name)) {
            fw_str val = FW_STR_NULL;
            if (eq < pair.len) val = (fw_str){pair.ptr + eq + 1, pair.len - eq - 1};
            size_t n = 0, i = 0;
            while (i < val.len) {
                char ch = decode_next(val, &i);
                if (n + 1 >= outsz) {
                    if (outsz > 0) out[0] = '\0';
                    return FW_ERR_TOO_LARGE;
                }
                out[n++] = ch;
            }
            if (outsz == 0) return FW_ERR_TOO_LARGE;
            out[n] = '\0';
            return 1;
        }
        pos = end + 1;
    }
    return 0;
}

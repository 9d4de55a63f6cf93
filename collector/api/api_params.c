/* api_params.c - the query parameters shared by the analytics endpoints:
 * durations ("15m"), the window / from / to range (SPEC 6) and path
 * segment decoding. Pure parsing of untrusted text: every value is bounded
 * by its buffer, every number checked for overflow; never allocates. */
#include <stdio.h>
#include <string.h>

#include "api_internal.h"

#define NS_PER_S 1000000000ull

bool fw__api_parse_duration(const char *s, uint64_t *out_ns)
{
    size_t n = strlen(s);
    uint64_t unit = 1;
    if (n > 0) {
        switch (s[n - 1]) {
        case 's':
            unit = 1;
            n--;
            break;
        case 'm':
            unit = 60;
            n--;
            break;
        case 'h':
            unit = 3600;
            n--;
            break;
        case 'd':
            unit = 86400;
            n--;
            break;
        default:
            break;
        }
    }
    uint64_t v = 0;
    if (!fw__api_parse_decimal(s, n, &v) || v == 0 || v > UINT64_MAX / unit / NS_PER_S)
        return false;
    *out_ns = v * unit * NS_PER_S;
    return true;
}

/* Seconds as text for messages: "7200". */
static unsigned long long secs_of(uint64_t ns)
{
    return (unsigned long long)(ns / NS_PER_S);
}

bool fw__api_parse_range(const fw_api *a, const fw_http_request *req, fw_http_response *resp,
                         api_range *out)
{
    char window[32], from[64], to[64];
    int has_w = fw__api_query_param(req, "window", window, sizeof(window));
    int has_f = fw__api_query_param(req, "from", from, sizeof(from));
    int has_t = fw__api_query_param(req, "to", to, sizeof(to));
    uint64_t w = 0;

    if (has_w < 0 || (has_w == 1 && !fw__api_parse_duration(window, &w))) {
        fw__api_respond_error(resp, 400,
                              "window: must be a duration such as 30s, 15m, 1h, 1d or a "
                              "number of seconds");
        return false;
    }
    if (has_f < 0 || (has_f == 1 && !fw__api_parse_time_param(from, &out->from_ns))) {
        fw__api_respond_error(resp, 400, "from: must be an RFC 3339 time or unix nanoseconds");
        return false;
    }
    if (has_t < 0 || (has_t == 1 && !fw__api_parse_time_param(to, &out->to_ns))) {
        fw__api_respond_error(resp, 400, "to: must be an RFC 3339 time or unix nanoseconds");
        return false;
    }
    if (has_w == 1 && (has_f == 1 || has_t == 1)) {
        fw__api_respond_error(resp, 400, "window: give either window or from/to, not both");
        return false;
    }
    if (has_w == 1 && w > a->cfg.retention_ns) {
        fw__api_respond_errorf(resp, 400, "window: must be at most %llus (the retention)",
                               secs_of(a->cfg.retention_ns));
        return false;
    }
    if (has_w != 1)
        w = API_WINDOW_DEFAULT_NS;
    if (has_t != 1)
        out->to_ns = fw__api_now_ns(a);
    if (has_f != 1)
        out->from_ns = out->to_ns > w ? out->to_ns - w : 0;
    if (out->from_ns >= out->to_ns) {
        fw__api_respond_error(resp, 400, "from: must be earlier than to");
        return false;
    }
    return true;
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool fw__api_percent_decode(fw_str in, char *out, size_t outsz)
{
    size_t o = 0;
    if (outsz == 0)
        return false;
    for (size_t i = 0; i < in.len; i++) {
        char c = in.ptr[i];
        if (c == '%') {
            if (in.len - i < 3)
                return false;
            int hi = hex_val(in.ptr[i + 1]);
            int lo = hex_val(in.ptr[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= outsz)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

/* auth.c - bearer-token checks and token loading (include/flywheel/auth.h).
 * Owns no state: each listener keeps its own token. */
#include "flywheel/auth.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

static bool is_space(char ch)
{
    return is_blank(ch) || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f';
}

/* Equal when lengths and bytes match; the time depends on |expected|'s
 * length only, never on where |given| first differs. */
static bool ct_equal(fw_str expected, fw_str given)
{
    volatile unsigned char diff = (unsigned char)(expected.len != given.len);
    for (size_t i = 0; i < expected.len; i++) {
        unsigned char g = i < given.len ? (unsigned char)given.ptr[i] : 0u;
        diff |= (unsigned char)(g ^ (unsigned char)expected.ptr[i]);
    }
    return diff == 0;
}

bool fw_auth_check(const fw_str expected_token, fw_str authorization_header)
{
    if (!expected_token.ptr || expected_token.len == 0) return true;
    fw_str h = authorization_header;
    if (!h.ptr) h.len = 0;
    while (h.len && is_blank(h.ptr[0])) h.ptr++, h.len--;
    while (h.len && is_blank(h.ptr[h.len - 1])) h.len--;
    static const char scheme[] = "bearer";
    size_t sl = sizeof scheme - 1;
    bool ok = h.len > sl && is_blank(h.ptr[sl]);
    for (size_t i = 0; ok && i < sl; i++) {
        char ch = h.ptr[i];
        if (ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
        ok = ch == scheme[i];
    }
    fw_str token = FW_STR_NULL;
    if (ok) {
        token = (fw_str){h.ptr + sl, h.len - sl};
        while (token.len && is_blank(token.ptr[0])) token.ptr++, token.len--;
    }
    /* Compared even when the header is malformed, so a missing or
     * malformed header takes the same time as a wrong token. */
    bool equal = ct_equal(expected_token, token);
    return ok && token.len > 0 && equal;
}

static void set_err(char *err, size_t errlen, const char *msg, const char *arg)
{
    if (err && errlen) snprintf(err, errlen, "%s%s", msg, arg ? arg : "");
}

static int check_token(const char *t, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)t[i];
        if (ch <= 0x20 || ch >= 0x7f) {
            set_err(err, errlen, "token has a byte outside visible ASCII (no blanks inside)",
                    NULL);
            return FW_ERR_CONFIG;
        }
    }
    return 0;
}

/* Reads |path| into |out| (NUL-terminated), trimmed. */
static int read_token_file(const char *path, char *out, size_t outsz, char *err, size_t errlen)
{
    char buf[FW_AUTH_TOKEN_MAX + 2];
    FILE *f = fopen(path, "rb");
    if (!f) {
        char why[160];
        snprintf(why, sizeof why, "%s: %s", path, strerror(errno));
        set_err(err, errlen, "cannot open token file ", why);
        return FW_ERR_CONFIG;
    }
    size_t n = fread(buf, 1, sizeof buf, f);
    int rd_err = ferror(f);
    fclose(f);
    if (rd_err) {
        set_err(err, errlen, "cannot read token file ", path);
        return FW_ERR_CONFIG;
    }
    size_t s = 0;
    while (s < n && is_space(buf[s])) s++;
    while (n > s && is_space(buf[n - 1])) n--;
    size_t len = n - s;
    if (len == 0) {
        set_err(err, errlen, "token file is empty: ", path);
        return FW_ERR_CONFIG;
    }
    if (len > FW_AUTH_TOKEN_MAX || len >= outsz) {
        set_err(err, errlen, "token file holds more than the longest token: ", path);
        return FW_ERR_CONFIG;
    }
    int rv = check_token(buf + s, len, err, errlen);
    if (rv) return rv;
    memcpy(out, buf + s, len);
    out[len] = '\0';
    return 0;
}

int fw_auth_token_load(const char *value, const char *file, char *out, size_t outsz, char *err,
                       size_t errlen)
{
    if (!out || outsz == 0) return FW_ERR_CONFIG;
    out[0] = '\0';
    bool has_value = value && value[0], has_file = file && file[0];
    if (has_value && has_file) {
        set_err(err, errlen, "set the token or the token file, not both", NULL);
        return FW_ERR_CONFIG;
    }
    if (has_file) return read_token_file(file, out, outsz, err, errlen);
    if (!has_value) return 0;
    size_t len = strlen(value);
    if (len > FW_AUTH_TOKEN_MAX || len >= outsz) {
        set_err(err, errlen, "token is longer than the longest token", NULL);
        return FW_ERR_CONFIG;
    }
    int rv = check_token(value, len, err, errlen);
    if (rv) return rv;
    memcpy(out, value, len + 1);
    return 0;
}

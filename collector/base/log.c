/* log.c - structured log lines (logfmt or JSON) on stderr.
 * The sink settings are the one process-wide state, written once at start
 * before threads exist. A line is formatted into a local buffer and written
 * with a single write(2) so lines of different threads never interleave.
 * Message text is escaped: input can never inject CR/LF or control bytes. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "flywheel/error.h"
#include "flywheel/log.h"

static _Atomic int log_level = FW_LOG_INFO;
static _Atomic int log_format = FW_LOG_LOGFMT;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void fw_log_setup(fw_log_level level, fw_log_format format)
{
    atomic_store(&log_level, (int)level);
    atomic_store(&log_format, (int)format);
}

int fw_log_enabled(fw_log_level level)
{
    return (int)level >= atomic_load_explicit(&log_level, memory_order_relaxed) &&
           level < FW_LOG_OFF;
}

int fw_log_level_parse(const char *s, fw_log_level *out)
{
    for (int i = 0; i <= FW_LOG_OFF; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (fw_log_level)i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = FW_LOG_WARN;
        return 0;
    }
    return FW_ERR_CONFIG;
}

const char *fw_log_escape(const void *p, size_t n, size_t max, char *out, size_t outsz)
{
    if (!outsz) return out;
    const unsigned char *s = p;
    size_t lim = n < max ? n : max, o = 0;
    for (size_t i = 0; i < lim && o + 1 < outsz; i++)
        out[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '.';
    out[o] = '\0';
    return out;
}

/* Appends |s| to line[*pos..cap) quoted for the active format. */
static void put_quoted(char *line, size_t cap, size_t *pos, const char *s, int json)
{
    size_t o = *pos;
    if (o + 1 < cap) line[o++] = '"';
    for (const unsigned char *c = (const unsigned char *)s; *c && o + 7 < cap; c++) {
        if (*c == '"' || *c == '\\') {
            line[o++] = '\\';
            line[o++] = (char)*c;
        } else if (*c == '\n') {
            line[o++] = '\\';
            line[o++] = 'n';
        } else if (*c == '\r') {
            line[o++] = '\\';
            line[o++] = 'r';
        } else if (*c == '\t') {
            line[o++] = '\\';
            line[o++] = 't';
        } else if (*c < 0x20 || *c == 0x7f) {
            int w = snprintf(line + o, cap - o, json ? "\\u%04x" : "\\x%02x", *c);
            if (w > 0) o += (size_t)w;
        } else {
            line[o++] = (char)*c;
        }
    }
    if (o + 1 < cap) line[o++] = '"';
    *pos = o;
}

void fw_log_write(fw_log_level level, const char *component, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0) msg[0] = '\0';

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[64];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(ts.tv_nsec / 1000000) % 1000);
    const char *lvl = level_names[level <= FW_LOG_ERROR ? level : FW_LOG_ERROR];
    int json = atomic_load_explicit(&log_format, memory_order_relaxed) == FW_LOG_JSON;

    char line[2048];
    size_t pos = 0;
    int w;
    if (json) {
        w = snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":", when, lvl);
        pos = w > 0 ? (size_t)w : 0;
        put_quoted(line, sizeof line, &pos, component ? component : "", 1);
        if (pos + 8 < sizeof line) {
            memcpy(line + pos, ",\"msg\":", 7);
            pos += 7;
        }
        put_quoted(line, sizeof line, &pos, msg, 1);
        if (pos + 2 < sizeof line) line[pos++] = '}';
    } else {
        w = snprintf(line, sizeof line, "ts=%s level=%s component=%s msg=", when, lvl,
                     component ? component : "-");
        pos = w > 0 && (size_t)w < sizeof line ? (size_t)w : 0;
        put_quoted(line, sizeof line, &pos, msg, 0);
    }
    if (pos >= sizeof line) pos = sizeof line - 1;
    line[pos++] = '\n';
    ssize_t wr = write(STDERR_FILENO, line, pos);
    (void)wr;
}

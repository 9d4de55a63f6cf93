/* log.h - structured logging (logfmt or JSON) to stderr.
 * fw_log checks the level before formatting; formatted text is escaped so
 * CR/LF and control bytes from input never reach the log stream. */
#ifndef FLYWHEEL_LOG_H
#define FLYWHEEL_LOG_H

#include <stddef.h>

typedef enum fw_log_level {
    FW_LOG_DEBUG = 0,
    FW_LOG_INFO = 1,
    FW_LOG_WARN = 2,
    FW_LOG_ERROR = 3,
    FW_LOG_OFF = 4
} fw_log_level;

typedef enum fw_log_format { FW_LOG_LOGFMT = 0, FW_LOG_JSON = 1 } fw_log_format;

/* Process-wide sink settings, set once at start-up before threads exist. */
void fw_log_setup(fw_log_level level, fw_log_format format);
int fw_log_enabled(fw_log_level level);
/* Parses "debug|info|warn|error|off"; returns 0 or FW_ERR_CONFIG. */
int fw_log_level_parse(const char *s, fw_log_level *out);

/* Writes one line: ts, level, component, msg (the formatted text). */
void fw_log_write(fw_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define fw_log(level, component, ...)                                    \
    do {                                                                 \
        if (fw_log_enabled(level)) fw_log_write(level, component, __VA_ARGS__); \
    } while (0)

/* Copies at most |max| bytes of untrusted |p| into |out| (size |outsz|),
 * replacing non-printable bytes with '.', for safe quoting in logs. */
const char *fw_log_escape(const void *p, size_t n, size_t max, char *out, size_t outsz);

#endif

/* error.h - the one error enum of flywheel.
 * Every fallible function returns 0 or a negative FW_ERR_* and reports its
 * results through out-parameters. fw_strerror() never returns NULL. */
#ifndef FLYWHEEL_ERROR_H
#define FLYWHEEL_ERROR_H

#define FW_WUR __attribute__((warn_unused_result))

typedef enum fw_err {
    FW_OK = 0,
    FW_ERR_NOMEM = -1,       /* allocation failed or an arena cap was reached */
    FW_ERR_INVALID = -2,     /* malformed input; see the parser's err_desc */
    FW_ERR_TOO_LARGE = -3,   /* input over a configured limit */
    FW_ERR_AGAIN = -4,       /* need more input (sans-I/O cores) */
    FW_ERR_UNSUPPORTED = -5, /* valid but not supported (media type, encoding) */
    FW_ERR_NOT_FOUND = -6,
    FW_ERR_IO = -7,          /* a system call failed; errno is kept by the caller */
    FW_ERR_CONFIG = -8,      /* bad configuration value */
    FW_ERR_OVERLOAD = -9,    /* queue full or memory budget reached: retryable */
    FW_ERR_TLS = -10,
    FW_ERR_CLOSED = -11      /* peer or session is gone */
} fw_err;

const char *fw_strerror(int err);

/* What a parser says about bad input. |reason| is a static snake_case string
 * from a small fixed set (it becomes a self-metric label, so never built
 * from input); |detail| is the human message for the sender (400 body /
 * grpc-message), always NUL-terminated, never holding raw control bytes. */
typedef struct fw_parse_error {
    const char *reason;
    char detail[256];
} fw_parse_error;

/* Sets both fields; detail is printf-formatted and truncated to fit. */
void fw_parse_error_set(fw_parse_error *e, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

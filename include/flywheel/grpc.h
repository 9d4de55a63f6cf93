/* grpc.h - gRPC over HTTP/2 framing and status helpers (sans-I/O).
 * Owns the 5-byte length-prefixed message format, status codes, the
 * grpc-message percent-encoding and grpc-timeout parsing. */
#ifndef FLYWHEEL_GRPC_H
#define FLYWHEEL_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flywheel/buf.h"
#include "flywheel/error.h"

typedef enum fw_grpc_status {
    FW_GRPC_OK = 0,
    FW_GRPC_CANCELLED = 1,
    FW_GRPC_UNKNOWN = 2,
    FW_GRPC_INVALID_ARGUMENT = 3,
    FW_GRPC_DEADLINE_EXCEEDED = 4,
    FW_GRPC_NOT_FOUND = 5,
    FW_GRPC_ALREADY_EXISTS = 6,
    FW_GRPC_PERMISSION_DENIED = 7,
    FW_GRPC_RESOURCE_EXHAUSTED = 8,
    FW_GRPC_FAILED_PRECONDITION = 9,
    FW_GRPC_ABORTED = 10,
    FW_GRPC_OUT_OF_RANGE = 11,
    FW_GRPC_UNIMPLEMENTED = 12,
    FW_GRPC_INTERNAL = 13,
    FW_GRPC_UNAVAILABLE = 14,
    FW_GRPC_DATA_LOSS = 15,
    FW_GRPC_UNAUTHENTICATED = 16
} fw_grpc_status;

typedef struct fw_grpc_message {
    bool compressed;
    const uint8_t *payload; /* borrowed from the input */
    size_t len;
} fw_grpc_message;

/* Parses one length-prefixed message at the start of |p,n|.
 * Returns 0 (|out| and |*consumed| set), FW_ERR_AGAIN (need more bytes),
 * FW_ERR_TOO_LARGE (declared length > |max_len|, checked before waiting for
 * the payload) or FW_ERR_INVALID (bad flag byte); |err| says which. */
FW_WUR int fw_grpc_frame_parse(const uint8_t *p, size_t n, size_t max_len, fw_grpc_message *out,
                               size_t *consumed, fw_parse_error *err);
/* Appends the 5-byte prefix and |p,n| to |out|. */
FW_WUR int fw_grpc_frame_write(fw_buf *out, const uint8_t *p, size_t n, bool compressed);
/* Percent-encodes |msg| per the gRPC spec (bytes outside 0x20-0x7E and
 * '%'), truncating to fit |outsz| without splitting an escape. */
void fw_grpc_message_encode(const char *msg, char *out, size_t outsz);
/* Parses grpc-timeout ("1S", "100m", ...; at most 8 digits) into ns. */
FW_WUR int fw_grpc_timeout_parse(fw_str v, uint64_t *ns);
const char *fw_grpc_status_name(int status);

#endif

/* fuzz_grpc_frame.c - runs the gRPC message parser over the input as a
 * stream of length-prefixed messages, re-frames every message it finds and
 * checks the round trip; also feeds the input to grpc-timeout parsing and
 * grpc-message encoding. Aborts on any broken invariant. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flywheel/grpc.h"

#define FUZZ_MAX_MSG (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    fw_buf reframed;
    fw_buf_init(&reframed, FUZZ_MAX_MSG + 5);

    while (off < size) {
        fw_grpc_message m;
        fw_parse_error err;
        size_t consumed = 0;
        memset(&err, 0, sizeof err);
        int rv = fw_grpc_frame_parse(data + off, size - off, FUZZ_MAX_MSG, &m, &consumed, &err);
        if (rv == FW_ERR_AGAIN) break;
        if (rv != 0) {
            if (rv != FW_ERR_INVALID && rv != FW_ERR_TOO_LARGE) abort();
            if (!err.reason || memchr(err.detail, '\0', sizeof err.detail) == NULL) abort();
            break;
        }
        if (consumed != m.len + 5 || consumed > size - off || m.payload != data + off + 5) abort();
        fw_buf_reset(&reframed);
        if (fw_grpc_frame_write(&reframed, m.payload, m.len, m.compressed) != 0) abort();
        if (reframed.len != consumed || memcmp(reframed.data, data + off, consumed) != 0) abort();
        off += consumed;
    }
    fw_buf_free(&reframed);

    /* Up to the first 12 bytes as a grpc-timeout value. */
    uint64_t ns = 0;
    fw_str tv = {(const char *)data, size < 12 ? size : 12};
    if (fw_grpc_timeout_parse(tv, &ns) == 0 && (tv.len < 2 || tv.len > 9)) abort();

    /* The input as a message: the output is printable and bounded. */
    char msg[512];
    size_t mlen = size < sizeof msg - 1 ? size : sizeof msg - 1;
    memcpy(msg, data, mlen);
    msg[mlen] = '\0';
    char enc[128];
    fw_grpc_message_encode(msg, enc, sizeof enc);
    for (const char *c = enc; *c; c++) {
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e) abort();
    }
    return 0;
}

/* fuzz_h2.c - feeds the client preface and then arbitrary bytes (frames),
 * in up to three pieces, to an HTTP/2 connection core, draining its output
 * after each piece. The handler answers plain or gRPC depending on the
 * path, so both response shapes and the trailers get exercised. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "flywheel/h2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_handle(void *ctx, const fw_http_request *req, fw_http_response *resp)
{
    (void)ctx;
    if (req->path.len > 1 && req->path.ptr[1] == 'g') {
        resp->status = 200;
        resp->grpc = true;
        resp->grpc_status = req->body_too_large ? 8 : (int)(req->body_len % 17);
        snprintf(resp->grpc_message, sizeof resp->grpc_message, "m%%\n%zu", req->body_len);
        if (fw_buf_append(&resp->grpc_details, "\x08\x03\x12", 3) != 0) resp->grpc_status = 13;
        if (req->body_len % 2 && fw_buf_append(&resp->body, req->body, req->body_len) != 0)
            resp->grpc_status = 8;
        return;
    }
    resp->status = req->body_too_large ? 413 : 200;
    resp->content_type = "text/plain";
    if (fw_buf_append(&resp->body, req->path.ptr, req->path.len) != 0) resp->status = 500;
    (void)fw_http_response_header(resp, "x-n", "%zu", req->body_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fw_http_handler handler = {fuzz_handle, NULL, 512, 4096, NULL};
    fw_h2_limits limits = {.max_concurrent_streams = 8, .max_header_list = 4096};
    fw_h2_conn *c = fw_h2_conn_new(&handler, &limits, false);
    if (!c) return 0;
    fw_buf out;
    fw_buf_init(&out, 1u << 20);
    int rv = fw_h2_conn_feed(c, (const uint8_t *)FW_H2_PREFACE, FW_H2_PREFACE_LEN);
    size_t cuts[4] = {0, size / 3, 2 * size / 3, size};
    for (int i = 0; i < 3 && rv == 0; i++) {
        if (cuts[i + 1] > cuts[i]) rv = fw_h2_conn_feed(c, data + cuts[i], cuts[i + 1] - cuts[i]);
        if (fw_h2_conn_drain(c, &out) != 0) break;
        fw_buf_reset(&out);
        if (i == 1) fw_h2_conn_shutdown(c);
    }
    if (fw_h2_conn_drain(c, &out) == 0) (void)fw_h2_conn_want_close(c);
    (void)fw_h2_conn_active_streams(c);
    fw_buf_free(&out);
    fw_h2_conn_free(c);
    return 0;
}

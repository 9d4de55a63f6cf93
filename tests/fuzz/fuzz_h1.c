/* fuzz_h1.c - feeds arbitrary bytes, in up to four pieces, to an HTTP/1.1
 * connection core with a trivial handler; the first two bytes choose the
 * split points so that fragment boundaries get explored too. */
#include <stddef.h>
#include <stdint.h>

#include "flywheel/h1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_handle(void *ctx, const fw_http_request *req, fw_http_response *resp)
{
    (void)ctx;
    resp->status = req->body_too_large ? 413 : 200;
    resp->content_type = "text/plain";
    if (fw_buf_append(&resp->body, req->path.ptr, req->path.len) != 0) resp->status = 500;
    if (req->body_len && fw_buf_append(&resp->body, req->body, req->body_len) != 0)
        resp->status = 500;
    (void)fw_http_response_header(resp, "x-q", "%zu", req->query.len);
    resp->close = req->path.len > 1 && req->path.ptr[1] == 'c';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fw_http_handler handler = {fuzz_handle, NULL, 256, 4096, NULL};
    fw_h1_conn *c = fw_h1_conn_new(&handler, false);
    if (!c) return 0;
    size_t cuts[5] = {0, 0, 0, 0, size};
    if (size >= 2) {
        cuts[1] = data[0] % (size + 1);
        cuts[2] = cuts[1] + (size - cuts[1]) * data[1] / 256;
        cuts[3] = cuts[2] + (size - cuts[2]) / 2;
    }
    fw_buf out;
    fw_buf_init(&out, 1u << 20);
    for (int i = 0; i < 4; i++) {
        if (cuts[i + 1] <= cuts[i]) continue;
        int rv = fw_h1_conn_feed(c, data + cuts[i], cuts[i + 1] - cuts[i], &out);
        fw_buf_reset(&out); /* the network layer flushed it */
        if (rv != 0 || fw_h1_conn_want_close(c)) break;
    }
    (void)fw_h1_conn_mid_request(c);
    (void)fw_h1_conn_stats(c);
    fw_buf_free(&out);
    fw_h1_conn_free(c);
    return 0;
}

/* otlp_response.c - encodes OTLP export responses (partial success) and
 * google.rpc.Status bodies (with RetryInfo) in protobuf or OTLP/JSON.
 * Appends to the caller's bounded fw_buf; allocates nothing else and never
 * echoes unescaped text into JSON. */
#include <inttypes.h>
#include <string.h>

#include "flywheel/otlp.h"
#include "otlp_internal.h"

#define RETRY_INFO_TYPE_URL "type.googleapis.com/google.rpc.RetryInfo"

/* Packs |msg| at the end of |out|. */
static int pack_into(const ProtobufCMessage *msg, fw_buf *out)
{
    size_t size = protobuf_c_message_get_packed_size(msg);
    int rv = fw_buf_reserve(out, size);
    if (rv)
        return rv;
    size_t done = protobuf_c_message_pack(msg, out->data + out->len);
    if (done != size)
        return FW_ERR_INVALID;
    out->len += size;
    return 0;
}

static int64_t clamp_i64(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* {"partialSuccess":{"<count_key>":"N","errorMessage":"..."}} or {} ;
 * int64 as a string (proto3 JSON), zero values omitted. */
static int json_partial_success(const char *count_key, uint64_t rejected, const char *error_message,
                                fw_buf *out)
{
    int rv;
    if (rejected == 0 && !error_message)
        return fw_buf_append_str(out, "{}");
    if ((rv = fw_buf_append_str(out, "{\"partialSuccess\":{")))
        return rv;
    const char *sep = "";
    if (rejected > 0) {
        if ((rv = fw_buf_printf(out, "\"%s\":\"%" PRId64 "\"", count_key, clamp_i64(rejected))))
            return rv;
        sep = ",";
    }
    if (error_message && *error_message) {
        if ((rv = fw_buf_printf(out, "%s\"errorMessage\":", sep)))
            return rv;
        if ((rv = fw_buf_append_json_str(out, error_message, strlen(error_message))))
            return rv;
    }
    return fw_buf_append_str(out, "}}");
}

int fw_otlp_encode_traces_response(fw_otlp_encoding enc, uint64_t rejected,
                                   const char *error_message, fw_buf *out)
{
    if (enc == FW_OTLP_JSON)
        return json_partial_success("rejectedSpans", rejected, error_message, out);
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse resp =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
    Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess ps =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
    if (rejected > 0 || error_message) {
        ps.rejected_spans = clamp_i64(rejected);
        if (error_message)
            ps.error_message = (char *)error_message;
        resp.partial_success = &ps;
    }
    return pack_into(&resp.base, out);
}

int fw_otlp_encode_logs_response(fw_otlp_encoding enc, uint64_t rejected,
                                 const char *error_message, fw_buf *out)
{
    if (enc == FW_OTLP_JSON)
        return json_partial_success("rejectedLogRecords", rejected, error_message, out);
    Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceResponse resp =
        OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__EXPORT_LOGS_SERVICE_RESPONSE__INIT;
    Opentelemetry__Proto__Collector__Logs__V1__ExportLogsPartialSuccess ps =
        OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__EXPORT_LOGS_PARTIAL_SUCCESS__INIT;
    if (rejected > 0 || error_message) {
        ps.rejected_log_records = clamp_i64(rejected);
        if (error_message)
            ps.error_message = (char *)error_message;
        resp.partial_success = &ps;
    }
    return pack_into(&resp.base, out);
}

int fw_otlp_encode_status(fw_otlp_encoding enc, int32_t code, const char *message,
                          int retry_delay_s, fw_buf *out)
{
    int rv;
    if (!message)
        message = "";
    if (enc == FW_OTLP_JSON) {
        if ((rv = fw_buf_printf(out, "{\"code\":%" PRId32 ",\"message\":", code)))
            return rv;
        if ((rv = fw_buf_append_json_str(out, message, strlen(message))))
            return rv;
        if (retry_delay_s >= 0) {
            rv = fw_buf_printf(out,
                               ",\"details\":[{\"@type\":\"" RETRY_INFO_TYPE_URL
                               "\",\"retryDelay\":\"%ds\"}]",
                               retry_delay_s);
            if (rv)
                return rv;
        }
        return fw_buf_append_str(out, "}");
    }

    Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
    Google__Rpc__Any any = GOOGLE__RPC__ANY__INIT;
    Google__Rpc__Any *details[1] = {&any};
    Google__Rpc__RetryInfo retry = GOOGLE__RPC__RETRY_INFO__INIT;
    Google__Rpc__Duration delay = GOOGLE__RPC__DURATION__INIT;
    uint8_t retry_bytes[32]; /* a Duration of int64 seconds packs in < 16 bytes */
    st.code = code;
    st.message = (char *)message;
    if (retry_delay_s >= 0) {
        delay.seconds = retry_delay_s;
        retry.retry_delay = &delay;
        size_t size = protobuf_c_message_get_packed_size(&retry.base);
        if (size > sizeof(retry_bytes))
            return FW_ERR_INVALID;
        any.type_url = (char *)RETRY_INFO_TYPE_URL;
        any.value.len = protobuf_c_message_pack(&retry.base, retry_bytes);
        any.value.data = retry_bytes;
        st.n_details = 1;
        st.details = details;
    }
    return pack_into(&st.base, out);
}

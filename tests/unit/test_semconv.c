/* test_semconv.c - span and log classification on realistic payloads:
 * AWS SDK throttling (DynamoDB, S3), HTTP 429 with Retry-After, gRPC codes,
 * fault vs client error, virtual dependency naming and typing, old and new
 * attribute names, missing attributes, log records, the rule set API and
 * the non-examples the default rules must not match. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "flywheel/semconv.h"

#define STR(k, v)  ((fw_attr){FW_STR_LIT(k), {.type = FW_VALUE_STRING, .u.str = FW_STR_LIT(v)}})
#define INT(k, v)  ((fw_attr){FW_STR_LIT(k), {.type = FW_VALUE_INT, .u.i64 = (v)}})
#define NATTR(arr) (sizeof(arr) / sizeof((arr)[0]))

static const fw_resource no_resource;
static const fw_scope no_scope;

static void mk_span(fw_span *s, fw_span_kind kind, fw_attr *attrs, size_t n)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->name = FW_STR_LIT("op");
    s->attrs.items = attrs;
    s->attrs.n = n;
    s->resource = &no_resource;
    s->scope = &no_scope;
}

static void mk_log(fw_log_record *r, int32_t severity, const char *body)
{
    memset(r, 0, sizeof *r);
    r->severity_number = severity;
    if (body) {
        r->body.type = FW_VALUE_STRING;
        r->body.u.str = fw_str_from(body);
    }
    r->resource = &no_resource;
    r->scope = &no_scope;
}

static int setup(void **state)
{
    fw_throttle_rules *r = NULL;
    if (fw_throttle_rules_new_default(&r)) return -1;
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    fw_throttle_rules_free(*state);
    return 0;
}

static void assert_str(fw_str s, const char *want)
{
    if (!want) {
        assert_null(s.ptr);
        assert_int_equal(s.len, 0);
        return;
    }
    assert_non_null(s.ptr);
    if (s.len != strlen(want) || memcmp(s.ptr, want, s.len) != 0)
        fail_msg("got '%.*s', want '%s'", (int)s.len, s.ptr, want);
}

static void test_dynamodb_provisioned_throughput(void **state)
{
    const fw_throttle_rules *rules = *state;
    /* OTel Java AWS SDK v2 instrumentation: DynamoDB answers throttling
     * with HTTP 400 and the exception names it. */
    fw_attr a[] = {
        STR("rpc.system", "aws-api"),
        STR("rpc.service", "DynamoDb"),
        STR("rpc.method", "PutItem"),
        STR("db.system", "dynamodb"),
        STR("db.operation", "PutItem"),
        INT("http.status_code", 400),
        STR("server.address", "dynamodb.eu-west-1.amazonaws.com"),
        STR("aws.request_id", "R8K2Q4JG1VJ6E1BQ1N0EXAMPLE"),
    };
    fw_attr ex[] = {
        STR("exception.type", "software.amazon.awssdk.services.dynamodb.model."
                              "ProvisionedThroughputExceededException"),
        STR("exception.message", "The level of configured provisioned throughput for the table "
                                 "was exceeded. Consider increasing your provisioning level with "
                                 "the UpdateTable API. (Service: DynamoDb, Status Code: 400)"),
    };
    fw_span_event ev = {.name = FW_STR_LIT("exception"), .attrs = {ex, NATTR(ex)}};
    fw_span s;
    fw_span_class c;
    mk_span(&s, FW_SPAN_KIND_CLIENT, a, NATTR(a));
    s.events = &ev;
    s.n_events = 1;
    s.status_code = FW_STATUS_ERROR;
    fw_semconv_span_classify(&s, rules, &c);
    assert_true(c.is_throttled);
    assert_int_equal(c.throttle.field, FW_THROTTLE_F_EXCEPTION_TYPE);
    assert_string_equal(c.throttle.pattern, "ProvisionedThroughputExceededException");
    assert_true(c.is_client_error); /* 400: the caller exceeded its capacity */
    assert_false(c.is_fault);
    assert_str(c.dep_name, "DynamoDB"); /* canonical across SDK spellings */
    assert_int_equal(c.dep_type, FW_DEP_DATABASE);
    assert_string_equal(fw_dep_type_name(c.dep_type), "database");
    assert_str(
        c.exception_type,
        "software.amazon.awssdk.services.dynamodb.model.ProvisionedThroughputExceededException");
    assert_str(c.db_system, "dynamodb");
    assert_str(c.rpc_method, "PutItem");
    assert_int_equal(c.http_status, 400);

    /* JS SDK v3 spelling, without db.system: same node. */
    fw_attr js[] = {STR("rpc.system", "aws-api"), STR("rpc.service", "DynamoDB"),
                    STR("rpc.method", "Query")};
    fw_attr jsex[] = {STR("exception.type", "ProvisionedThroughputExceededException")};
    fw_span_event jev = {.name = FW_STR_LIT("exception"), .attrs = {jsex, NATTR(jsex)}};
    mk_span(&s, FW_SPAN_KIND_CLIENT, js, NATTR(js));
    s.events = &jev;
    s.n_events = 1;
    s.status_code = FW_STATUS_ERROR;
    fw_semconv_span_classify(&s, rules, &c);
    assert_true(c.is_throttled);
    assert_true(c.is_fault); /* no HTTP status: status ERROR decides */
    assert_str(c.dep_name, "DynamoDB");
    assert_int_equal(c.dep_type, FW_DEP_DATABASE);
}

static void test_s3_slowdown(void **state)
{
    const fw_throttle_rules *rules = *state;
    /* Python botocore: a generic ClientError, the code in the message. */
    fw_attr a[] = {STR("rpc.system", "aws-api"), STR("rpc.service", "S3"),
                   STR("rpc.method", "PutObject"), INT("http.status_code", 503)};
    fw_attr ex[] = {
        STR("exception.type", "botocore.exceptions.ClientError"),
        STR("exception.message", "An error occurred (SlowDown) when calling the PutObject "
                                 "operation (reached max retries: 4): Please reduce your request "
                                 "rate."),
    };
    fw_span_event evs[2] = {
        {.name = FW_STR_LIT("log"), .attrs = {NULL, 0}},
        {.name = FW_STR_LIT("exception"), .attrs = {ex, NATTR(ex)}},
    };
    fw_span s;
    fw_span_class c;
    mk_span(&s, FW_SPAN_KIND_CLIENT, a, NATTR(a));
    s.events = evs;
    s.n_events = 2;
    s.status_code = FW_STATUS_ERROR;
    fw_semconv_span_classify(&s, rules, &c);
    assert_true(c.is_throttled);
    assert_int_equal(c.throttle.field, FW_THROTTLE_F_EXCEPTION_MESSAGE);
    assert_true(c.is_fault); /* 503 on the call: the dependency's fault */
    assert_str(c.dep_name, "S3");
    assert_int_equal(c.dep_type, FW_DEP_DATABASE);
    assert_str(c.exception_type, "botocore.exceptions.ClientError");

    /* JS v3: the error name is the code itself. */
    fw_attr jsex[] = {STR("exception.type", "SlowDown"),
                      STR("exception.message", "Please reduce your request rate.")};
    evs[1].attrs = (fw_attrs){jsex, NATTR(jsex)};
    fw_semconv_span_classify(&s, rules, &c);
    assert_true(c.is_throttled);
    assert_int_equal(c.throttle.field, FW_THROTTLE_F_EXCEPTION_TYPE);

    /* An AWS error code carried as an attribute. */
    fw_attr attr_code[] = {STR("rpc.system", "aws-api"), STR("rpc.service", "S3"),
                           STR("aws.error_code", "SlowDown")};
    mk_span(&s, FW_SPAN_KIND_CLIENT, attr_code, NATTR(attr_code));
    fw_semconv_span_classify(&s, rules, &c);
    assert_true(c.is_throttled);
    assert_int_equal(c.throttle.field, FW_THROTTLE_F_ATTRIBUTE);
    assert_string_equal(c.throttle.attr_name, "aws.error_code");
    assert_str(c.throttle.value, "SlowDown");
}

static void test_http_429_client_with_retry_after(void **state)
{
    const fw_throttle_rules *rules = *state;
    fw_value retry_vals[1] = {{.type = FW_VALUE_STRING, .u.str = FW_STR_LIT("30")}};
    fw_attr a[] = {
        STR("http.request.method", "POST"),
        INT("http.response.status_code", 429),
        STR("server.address", "api.stripe.com"),
        INT("server.port", 443),
        STR("url.full", "https://api.stripe.com/v1/charges"),
        {FW_STR_LIT("http.response.header.retry-after"),
         {.type = FW_VALUE_ARRAY, .u.array = {retry_vals, 1}}},
        STR("error.type", "429"),
    };
    fw_span s;
    fw_span_class c;
    mk_span(&s, FW_SPAN_KIND_CLIENT, a, NATTR(a));
    s.status_code = FW_STATUS_ERROR; /* HTTP client spans mark 4xx ERROR */
    fw_semconv_span_classify(&s, rules, &c);
    assert_true(c.is_throttled);
    assert_int_equal(c.throttle.field, FW_THROTTLE_F_HTTP_STATUS);
    assert_string_equal(c.throttle.pattern, "429");
    assert_string_equal(fw_throttle_field_name(c.throttle.field), "http.status");
    assert_true(c.is_client_error);
    assert_false(c.is_fault);
    assert_int_equal(c.http_status, 429);
    assert_int_equal(c.retry_after_s, 30);
    assert_str(c.http_method, "POST");
    assert_str(c.dep_name, "api.stripe.com"); /* host only, no port */
    assert_int_equal(c.dep_type, FW_DEP_EXTERNAL);
}

static void test_grpc_codes(void **state)
{
    const fw_throttle_rules *rules = *state;
    fw_attr a[] = {STR("rpc.system", "grpc"), STR("rpc.service", "inventory.v1.Inventory"),
                   STR("rpc.method", "Reserve"), INT("rpc.grpc.status_code", 8)};
    fw_span s;
    fw_span_class c;
    mk_span(&s, FW_SPAN_KIND_CLIENT, a, NATTR(a));
    s.status_code = FW_STATUS_ERROR;
    fw_semconv_span_classify(&s, rules, &c);
    assert_true(c.is_throttled);
    assert_int_equal(c.throttle.field, FW_THROTTLE_F_GRPC_STATUS);
    assert_int_equal(c.grpc_status, 8);
    assert_true(c.is_client_error);
    assert_false(c.is_fault);
    assert_str(c.dep_name, "inventory.v1.Inventory");
    assert_int_equal(c.dep_type, FW_DEP_EXTERNAL);

    /* The newer string attribute, by code name. */
    fw_attr b[] = {STR("rpc.system", "grpc"),
                   STR("rpc.response.status_code", "RESOURCE_EXHAUSTED")};
    mk_span(&s, FW_SPAN_KIND_SERVER, b, NATTR(b));
    fw_semconv_span_classify(&s, rules, &c);
    assert_int_equal(c.grpc_status, 8);
    assert_true(c.is_throttled);
    assert_int_equal(c.dep_type, FW_DEP_NONE); /* server spans call nothing */

    /* Server-side codes are faults; client-side codes are not, even when
     * the instrumentation marked the span ERROR; CANCELLED is neither. */
    static const struct {
        int code;
        bool fault, client;
    } table[] = {{2, true, false},  {4, true, false},  {12, true, false}, {13, true, false},
                 {14, true, false}, {15, true, false}, {3, false, true},  {5, false, true},
                 {6, false, true},  {7, false, true},  {9, false, true},  {11, false, true},
                 {16, false, true}, {1, false, false}, {0, false, false}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        a[3] = INT("rpc.grpc.status_code", table[i].code);
        mk_span(&s, FW_SPAN_KIND_SERVER, a, NATTR(a));
        s.status_code = table[i].code ? FW_STATUS_ERROR : FW_STATUS_UNSET;
        fw_semconv_span_classify(&s, rules, &c);
        if (c.is_fault != table[i].fault || c.is_client_error != table[i].client)
            fail_msg("grpc code %d: fault %d client %d", table[i].code, c.is_fault,
                     c.is_client_error);
        assert_false(c.is_throttled);
    }
    assert_int_equal(fw_semconv_grpc_code_parse(FW_STR_LIT("unavailable")), 14);
    assert_int_equal(fw_semconv_grpc_code_parse(FW_STR_LIT("16")), 16);
    assert_int_equal(fw_semconv_grpc_code_parse(FW_STR_LIT("17")), -1);
    assert_int_equal(fw_semconv_grpc_code_parse(FW_STR_LIT("NOPE")), -1);
    assert_int_equal(fw_semconv_grpc_code_parse(FW_STR_NULL), -1);

    /* A JSON-RPC numeric code is not taken for a gRPC code. */
    fw_attr j[] = {STR("rpc.system", "jsonrpc"), STR("rpc.response.status_code", "8")};
    mk_span(&s, FW_SPAN_KIND_CLIENT, j, NATTR(j));
    fw_semconv_span_classify(&s, rules, &c);
    assert_int_equal(c.grpc_status, -1);
    assert_false(c.is_throttled);
}

static void test_server_status_verdicts(void **state)
{
    const fw_throttle_rules *rules = *state;
    fw_attr a503[] = {STR("http.method", "GET"), STR("http.status_code", "503"),
                      STR("http.route", "/api/orders/{id}")};
    fw_span s;
    fw_span_class c;
    mk_span(&s, FW_SPAN_KIND_SERVER, a503, NATTR(a503));
    fw_semconv_span_classify(&s, rules, &c);
    assert_int_equal(c.http_status, 503); /* string value understood */
    assert_true(c.is_fault);
    assert_false(c.is_client_error);
    assert_false(c.is_throttled);
    assert_str(c.http_route, "/api/orders/{id}");
    assert_str(c.dep_name, NULL);

    fw_attr a404[] = {STR("http.request.method", "GET"), INT("http.response.status_code", 404)};
    mk_span(&s, FW_SPAN_KIND_SERVER, a404, NATTR(a404));
    fw_semconv_span_classify(&s, rules, &c);
    assert_true(c.is_client_error);
    assert_false(c.is_fault);
    assert_false(c.is_throttled); /* a 4xx other than 429 */
    /* Some older instrumentations mark 4xx server spans ERROR: still the
     * client's error. */
    s.status_code = FW_STATUS_ERROR;
    fw_semconv_span_classify(&s, rules, &c);
    assert_true(c.is_client_error);
    assert_false(c.is_fault);

    /* A 200 with status ERROR (failed after responding) is a fault; so is
     * an internal or consumer span with status ERROR. */
    fw_attr a200[] = {INT("http.response.status_code", 200)};
    mk_span(&s, FW_SPAN_KIND_SERVER, a200, NATTR(a200));
    s.status_code = FW_STATUS_ERROR;
    fw_semconv_span_classify(&s, rules, &c);
    assert_true(c.is_fault);
    mk_span(&s, FW_SPAN_KIND_CONSUMER, NULL, 0);
    s.status_code = FW_STATUS_ERROR;
    fw_semconv_span_classify(&s, rules, &c);
    assert_true(c.is_fault);
    s.status_code = FW_STATUS_OK;
    fw_semconv_span_classify(&s, rules, &c);
    assert_false(c.is_fault);
    assert_false(c.is_client_error);
}

static void test_uninstrumented_redis_is_cache(void **state)
{
    const fw_throttle_rules *rules = *state;
    fw_attr a[] = {STR("db.system", "redis"), STR("db.operation", "GET"),
                   STR("net.peer.name", "redis-master.cache.svc"), INT("net.peer.port", 6379)};
    fw_span s;
    fw_span_class c;
    mk_span(&s, FW_SPAN_KIND_CLIENT, a, NATTR(a));
    fw_semconv_span_classify(&s, rules, &c);
    assert_str(c.dep_name, "redis");
    assert_int_equal(c.dep_type, FW_DEP_CACHE);
    assert_str(c.db_operation, "GET");
    assert_str(c.server_address, "redis-master.cache.svc");
    assert_false(c.is_fault || c.is_client_error || c.is_throttled);

    fw_attr v[] = {STR("db.system.name", "valkey"), STR("db.operation.name", "HSET")};
    mk_span(&s, FW_SPAN_KIND_CLIENT, v, NATTR(v));
    fw_semconv_span_classify(&s, rules, &c);
    assert_str(c.dep_name, "valkey");
    assert_int_equal(c.dep_type, FW_DEP_CACHE);
    assert_str(c.db_operation, "HSET");

    fw_attr pg[] = {STR("db.system.name", "postgresql"), STR("server.address", "pg-0")};
    mk_span(&s, FW_SPAN_KIND_CLIENT, pg, NATTR(pg));
    fw_semconv_span_classify(&s, rules, &c);
    assert_str(c.dep_name, "postgresql");
    assert_int_equal(c.dep_type, FW_DEP_DATABASE);
}

static void test_openai_is_model(void **state)
{
    const fw_throttle_rules *rules = *state;
    fw_attr a[] = {STR("gen_ai.system", "openai"), STR("gen_ai.operation.name", "chat"),
                   STR("gen_ai.request.model", "gpt-4o"), STR("server.address", "api.openai.com")};
    fw_attr ex[] = {STR("exception.type", "openai.RateLimitError"),
                    STR("exception.message", "Error code: 429 - {'error': {'message': 'Rate "
                                             "limit reached for gpt-4o'}}")};
    fw_span_event ev = {.name = FW_STR_LIT("exception"), .attrs = {ex, NATTR(ex)}};
    fw_span s;
    fw_span_class c;
    mk_span(&s, FW_SPAN_KIND_CLIENT, a, NATTR(a));
    fw_semconv_span_classify(&s, rules, &c);
    assert_str(c.dep_name, "openai");
    assert_int_equal(c.dep_type, FW_DEP_MODEL);
    assert_str(c.gen_ai_system, "openai");
    assert_false(c.is_throttled);
    s.events = &ev;
    s.n_events = 1;
    s.status_code = FW_STATUS_ERROR;
    fw_semconv_span_classify(&s, rules, &c);
    assert_true(c.is_throttled);
    assert_str(c.throttle.value, "openai.RateLimitError");

    /* Newer name of the same attribute. */
    fw_attr b[] = {STR("gen_ai.provider.name", "anthropic"), STR("gen_ai.operation.name", "chat")};
    mk_span(&s, FW_SPAN_KIND_CLIENT, b, NATTR(b));
    fw_semconv_span_classify(&s, rules, &c);
    assert_str(c.dep_name, "anthropic");
    assert_int_equal(c.dep_type, FW_DEP_MODEL);
}

static void test_kafka_producer_is_messaging(void **state)
{
    const fw_throttle_rules *rules = *state;
    fw_attr a[] = {STR("messaging.system", "kafka"), STR("messaging.destination.name", "orders"),
                   STR("messaging.operation.type", "send"), STR("server.address", "kafka-0")};
    fw_span s;
    fw_span_class c;
    char broker[64];
    mk_span(&s, FW_SPAN_KIND_PRODUCER, a, NATTR(a));
    fw_semconv_span_classify(&s, rules, &c);
    assert_str(c.dep_name, "kafka");
    assert_int_equal(c.dep_type, FW_DEP_MESSAGING);
    assert_str(c.messaging_destination, "orders");
    assert_int_equal(
        fw_semconv_broker_name(c.messaging_system, c.messaging_destination, broker, sizeof broker),
        12);
    assert_string_equal(broker, "kafka/orders");
    /* Old destination name; truncation; no destination; no system. */
    fw_attr o[] = {STR("messaging.system", "rabbitmq"), STR("messaging.destination", "jobs")};
    mk_span(&s, FW_SPAN_KIND_PRODUCER, o, NATTR(o));
    fw_semconv_span_classify(&s, rules, &c);
    assert_str(c.messaging_destination, "jobs");
    char small[6];
    assert_int_equal(
        fw_semconv_broker_name(c.messaging_system, c.messaging_destination, small, sizeof small),
        5);
    assert_string_equal(small, "rabbi");
    assert_int_equal(fw_semconv_broker_name(FW_STR_LIT("sqs"), FW_STR_NULL, broker, sizeof broker),
                     3);
    assert_string_equal(broker, "sqs");
    assert_int_equal(fw_semconv_broker_name(FW_STR_NULL, FW_STR_LIT("x"), broker, sizeof broker),
                     0);
    assert_string_equal(broker, "");
    /* A consumer span names no dependency (the broker edge is built by the
     * topology from producer spans and links). */
    mk_span(&s, FW_SPAN_KIND_CONSUMER, a, NATTR(a));
    fw_semconv_span_classify(&s, rules, &c);
    assert_int_equal(c.dep_type, FW_DEP_NONE);
    assert_str(c.dep_name, NULL);
}

static void test_peer_service_preferred(void **state)
{
    const fw_throttle_rules *rules = *state;
    fw_attr a[] = {STR("server.address", "10.0.3.7"), STR("gen_ai.system", "openai"),
                   STR("rpc.service", "DynamoDB"),    STR("rpc.system", "aws-api"),
                   STR("db.system", "postgresql"),    STR("messaging.system", "kafka"),
                   STR("peer.service", "billing-db")};
    fw_span s;
    fw_span_class c;
    mk_span(&s, FW_SPAN_KIND_CLIENT, a, NATTR(a));
    fw_semconv_span_classify(&s, rules, &c);
    assert_str(c.dep_name, "billing-db");
    /* Then the rest of the order, removing one attribute at a time. */
    mk_span(&s, FW_SPAN_KIND_CLIENT, a, NATTR(a) - 1);
    fw_semconv_span_classify(&s, rules, &c);
    assert_str(c.dep_name, "DynamoDB");
    fw_attr b[] = {STR("server.address", "10.0.3.7"), STR("gen_ai.system", "openai"),
                   STR("rpc.service", "pricing.Pricer"), STR("db.system", "postgresql")};
    mk_span(&s, FW_SPAN_KIND_CLIENT, b, 4);
    fw_semconv_span_classify(&s, rules, &c);
    assert_str(c.dep_name, "postgresql");
    mk_span(&s, FW_SPAN_KIND_CLIENT, b, 3);
    fw_semconv_span_classify(&s, rules, &c);
    assert_str(c.dep_name, "pricing.Pricer");
    mk_span(&s, FW_SPAN_KIND_CLIENT, b, 2);
    fw_semconv_span_classify(&s, rules, &c);
    assert_str(c.dep_name, "openai");
    mk_span(&s, FW_SPAN_KIND_CLIENT, b, 1);
    fw_semconv_span_classify(&s, rules, &c);
    assert_str(c.dep_name, "10.0.3.7");
    assert_int_equal(c.dep_type, FW_DEP_EXTERNAL);
    /* Only a URL: its host (userinfo, port and IPv6 brackets dropped). */
    fw_attr u[] = {STR("http.url", "http://user:pw@payments.internal:8080/v1/pay?x=1")};
    mk_span(&s, FW_SPAN_KIND_CLIENT, u, 1);
    fw_semconv_span_classify(&s, rules, &c);
    assert_str(c.dep_name, "payments.internal");
    fw_attr u6[] = {STR("url.full", "https://[2001:db8::1]:8443/x")};
    mk_span(&s, FW_SPAN_KIND_CLIENT, u6, 1);
    fw_semconv_span_classify(&s, rules, &c);
    assert_str(c.dep_name, "2001:db8::1");
    fw_attr bad[] = {STR("url.full", "https://[broken")};
    mk_span(&s, FW_SPAN_KIND_CLIENT, bad, 1);
    fw_semconv_span_classify(&s, rules, &c);
    assert_str(c.dep_name, NULL);
    assert_int_equal(c.dep_type, FW_DEP_NONE);
}

static void test_old_and_new_names(void **state)
{
    const fw_throttle_rules *rules = *state;
    fw_attr old[] = {STR("http.method", "PUT"),       INT("http.status_code", 502),
                     STR("db.system", "mysql"),       STR("db.operation", "UPDATE"),
                     STR("net.peer.name", "mysql-0"), STR("messaging.destination", "q")};
    fw_attr nu[] = {STR("http.request.method", "PUT"), INT("http.response.status_code", 502),
                    STR("db.system.name", "mysql"),    STR("db.operation.name", "UPDATE"),
                    STR("server.address", "mysql-0"),  STR("messaging.destination.name", "q")};
    fw_span s;
    fw_span_class c1, c2;
    mk_span(&s, FW_SPAN_KIND_CLIENT, old, NATTR(old));
    fw_semconv_span_classify(&s, rules, &c1);
    mk_span(&s, FW_SPAN_KIND_CLIENT, nu, NATTR(nu));
    fw_semconv_span_classify(&s, rules, &c2);
    fw_span_class *cs[2] = {&c1, &c2};
    for (int i = 0; i < 2; i++) {
        assert_str(cs[i]->http_method, "PUT");
        assert_int_equal(cs[i]->http_status, 502);
        assert_str(cs[i]->db_system, "mysql");
        assert_str(cs[i]->db_operation, "UPDATE");
        assert_str(cs[i]->server_address, "mysql-0");
        assert_str(cs[i]->messaging_destination, "q");
        assert_true(cs[i]->is_fault);
    }
    /* Both present: the new name wins. */
    fw_attr both[] = {INT("http.status_code", 200), INT("http.response.status_code", 500),
                      STR("db.system", "old"), STR("db.system.name", "new")};
    mk_span(&s, FW_SPAN_KIND_SERVER, both, NATTR(both));
    fw_semconv_span_classify(&s, rules, &c1);
    assert_int_equal(c1.http_status, 500);
    assert_str(c1.db_system, "new");
}

static void test_missing_everything(void **state)
{
    const fw_throttle_rules *rules = *state;
    fw_span s;
    fw_span_class c;
    for (int k = 0; k <= 5; k++) {
        mk_span(&s, (fw_span_kind)k, NULL, 0);
        fw_semconv_span_classify(&s, rules, &c);
        assert_false(c.is_fault || c.is_client_error || c.is_throttled);
        assert_int_equal(c.http_status, -1);
        assert_int_equal(c.grpc_status, -1);
        assert_int_equal(c.retry_after_s, -1);
        assert_str(c.dep_name, NULL);
        assert_int_equal(c.dep_type, FW_DEP_NONE);
        assert_str(c.instance, NULL);
        assert_str(c.exception_type, NULL);
        assert_int_equal(c.throttle.field, 0);
        assert_null(c.throttle.pattern);
    }
    /* Attributes of the wrong types, empty strings, events without
     * attributes, and no rule set at all. */
    fw_attr odd[] = {
        {FW_STR_LIT("http.response.status_code"), {.type = FW_VALUE_DOUBLE, .u.f64 = 429.0}},
        STR("rpc.grpc.status_code", "eight"),
        STR("peer.service", ""),
        {FW_STR_LIT("db.system"), {.type = FW_VALUE_BOOL, .u.boolean = true}},
        INT("http.status_code", 99999),
        STR("http.response.header.retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"),
    };
    fw_span_event evs[2] = {{.name = FW_STR_LIT("exception")}, {.name = FW_STR_LIT("exception")}};
    mk_span(&s, FW_SPAN_KIND_CLIENT, odd, NATTR(odd));
    s.events = evs;
    s.n_events = 2;
    fw_semconv_span_classify(&s, rules, &c);
    assert_int_equal(c.http_status, -1);
    assert_int_equal(c.grpc_status, -1);
    assert_int_equal(c.retry_after_s, -1);
    assert_false(c.is_throttled);
    assert_str(c.dep_name, NULL);
    fw_attr t429[] = {INT("http.response.status_code", 429)};
    mk_span(&s, FW_SPAN_KIND_CLIENT, t429, 1);
    fw_semconv_span_classify(&s, NULL, &c);
    assert_false(c.is_throttled); /* no rules, no throttling */
    assert_true(c.is_client_error);

    fw_log_record r;
    fw_log_class lc;
    mk_log(&r, 0, NULL);
    fw_semconv_log_classify(&r, rules, &lc);
    assert_false(lc.is_error || lc.is_throttled);
    assert_int_equal(lc.http_status, -1);
    assert_str(lc.exception_type, NULL);
}

static void test_instance(void **state)
{
    const fw_throttle_rules *rules = *state;
    fw_attr ra[] = {STR("container.id", "c0ffee"), STR("host.name", "ip-10-0-0-1"),
                    STR("k8s.pod.name", "checkout-7d9f-abcde")};
    fw_resource res = {.attrs = {ra, 3}};
    fw_span s;
    fw_span_class c;
    mk_span(&s, FW_SPAN_KIND_SERVER, NULL, 0);
    s.resource = &res;
    fw_semconv_span_classify(&s, rules, &c);
    assert_str(c.instance, "checkout-7d9f-abcde");
    res.attrs.n = 2;
    fw_semconv_span_classify(&s, rules, &c);
    assert_str(c.instance, "ip-10-0-0-1");
    res.attrs.n = 1;
    fw_semconv_span_classify(&s, rules, &c);
    assert_str(c.instance, "c0ffee");
    fw_log_record r;
    fw_log_class lc;
    mk_log(&r, 9, "hello");
    r.resource = &res;
    fw_semconv_log_classify(&r, rules, &lc);
    assert_str(lc.instance, "c0ffee");
}

static void test_non_examples(void **state)
{
    const fw_throttle_rules *rules = *state;
    fw_span s;
    fw_span_class c;
    /* An attribute KEY naming throttling is not evidence. */
    fw_attr key[] = {INT("throttle_valve_position", 42), STR("rate_limit_policy", "none"),
                     INT("http.response.status_code", 200)};
    mk_span(&s, FW_SPAN_KIND_SERVER, key, NATTR(key));
    fw_semconv_span_classify(&s, rules, &c);
    assert_false(c.is_throttled);
    /* 4xx other than 429, 5xx, gRPC codes other than 8. */
    static const int64_t codes[] = {400, 401, 403, 404, 409, 413, 428, 430, 500, 503};
    fw_attr h[] = {INT("http.response.status_code", 0)};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        h[0] = INT("http.response.status_code", codes[i]);
        mk_span(&s, FW_SPAN_KIND_CLIENT, h, 1);
        fw_semconv_span_classify(&s, rules, &c);
        if (c.is_throttled) fail_msg("HTTP %d taken as throttling", (int)codes[i]);
    }
    /* Messages that talk about rate limits without being throttled. */
    static const char *const msgs[] = {
        "no rate limit configured for tenant acme",
        "Rate limit not reached (12/100)",
        "request was not throttled",
        "connection pool exhausted", /* a saturation, not throttling */
        "processed 429 records in 8 ms",
        "unthrottled mode enabled",
    };
    fw_attr ex[] = {STR("exception.type", "java.lang.IllegalStateException"),
                    STR("exception.message", "")};
    fw_span_event ev = {.name = FW_STR_LIT("exception"), .attrs = {ex, NATTR(ex)}};
    fw_log_record r;
    fw_log_class lc;
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        ex[1].value.u.str = fw_str_from(msgs[i]);
        mk_span(&s, FW_SPAN_KIND_SERVER, NULL, 0);
        s.events = &ev;
        s.n_events = 1;
        s.status_code = FW_STATUS_ERROR;
        s.status_message = fw_str_from(msgs[i]);
        fw_semconv_span_classify(&s, rules, &c);
        if (c.is_throttled) fail_msg("span message '%s' taken as throttling", msgs[i]);
        assert_true(c.is_fault);
        mk_log(&r, 17, msgs[i]);
        fw_semconv_log_classify(&r, rules, &lc);
        if (lc.is_throttled) fail_msg("log body '%s' taken as throttling", msgs[i]);
    }
    /* A type merely containing the code is not it (EQUALS is whole-name). */
    fw_attr sd[] = {STR("error.type", "SlowDownstreamTimeout")};
    mk_span(&s, FW_SPAN_KIND_CLIENT, sd, 1);
    fw_semconv_span_classify(&s, rules, &c);
    assert_false(c.is_throttled);
}

static void test_logs(void **state)
{
    const fw_throttle_rules *rules = *state;
    fw_log_record r;
    fw_log_class c;
    /* AWS SDK retry warning. */
    mk_log(&r, 13,
           "Rate exceeded (Service: Lambda; Status Code: 429; Error Code: "
           "TooManyRequestsException)");
    fw_semconv_log_classify(&r, rules, &c);
    assert_true(c.is_throttled);
    assert_false(c.is_error);
    assert_int_equal(c.throttle.field, FW_THROTTLE_F_LOG_BODY);
    assert_string_equal(c.throttle.pattern, "rate exceeded");
    mk_log(&r, 17, "upstream answered: Too Many Requests");
    fw_semconv_log_classify(&r, rules, &c);
    assert_true(c.is_throttled);
    assert_true(c.is_error);
    mk_log(&r, 9, "worker 3 throttled by upstream, backing off 200 ms");
    fw_semconv_log_classify(&r, rules, &c);
    assert_true(c.is_throttled);
    mk_log(&r, 9, "checkout completed");
    fw_semconv_log_classify(&r, rules, &c);
    assert_false(c.is_throttled);
    assert_false(c.is_error);
    /* Severity text when the number is unset. */
    mk_log(&r, 0, "boom");
    r.severity_text = FW_STR_LIT("ERROR");
    fw_semconv_log_classify(&r, rules, &c);
    assert_true(c.is_error);
    r.severity_text = FW_STR_LIT("warning");
    fw_semconv_log_classify(&r, rules, &c);
    assert_false(c.is_error);
    /* Structured body: top-level string values. */
    fw_attr kv[] = {INT("attempt", 3), STR("msg", "request rate-limited by gateway")};
    mk_log(&r, 13, NULL);
    r.body.type = FW_VALUE_KVLIST;
    r.body.u.kvlist.items = kv;
    r.body.u.kvlist.n = NATTR(kv);
    fw_semconv_log_classify(&r, rules, &c);
    assert_true(c.is_throttled);
    assert_str(c.throttle.value, "request rate-limited by gateway");
    /* Exception attributes on a log record. */
    fw_attr ea[] = {STR("exception.type", "com.amazonaws.services.kinesis.model."
                                          "ProvisionedThroughputExceededException"),
                    STR("exception.message", "Rate exceeded for shard shardId-000000000001")};
    mk_log(&r, 17, "putRecords failed");
    r.attrs = (fw_attrs){ea, NATTR(ea)};
    fw_semconv_log_classify(&r, rules, &c);
    assert_true(c.is_throttled);
    assert_int_equal(c.throttle.field, FW_THROTTLE_F_EXCEPTION_TYPE);
    assert_str(c.exception_message, "Rate exceeded for shard shardId-000000000001");
    /* HTTP status on a log record (access log). */
    fw_attr ha[] = {STR("http.request.method", "GET"), INT("http.response.status_code", 429)};
    mk_log(&r, 9, "GET /api/cart 429 3ms");
    r.attrs = (fw_attrs){ha, NATTR(ha)};
    fw_semconv_log_classify(&r, rules, &c);
    assert_true(c.is_throttled);
    assert_int_equal(c.throttle.field, FW_THROTTLE_F_HTTP_STATUS);
    assert_int_equal(c.http_status, 429);
}

static void test_rules_api(void **state)
{
    (void)state;
    fw_throttle_rules *r = NULL;
    const char *desc = NULL;
    assert_int_equal(fw_throttle_rules_new_empty(&r), 0);
    assert_int_equal(fw_throttle_rules_count(r), 0);

    /* An empty set throttles nothing. */
    fw_attr a[] = {INT("http.response.status_code", 429)};
    fw_span s;
    fw_span_class c;
    mk_span(&s, FW_SPAN_KIND_CLIENT, a, 1);
    fw_semconv_span_classify(&s, r, &c);
    assert_false(c.is_throttled);

    /* Rules added at runtime (as configuration will). */
    assert_int_equal(
        fw_throttle_rules_add(r, FW_THROTTLE_F_HTTP_STATUS, FW_THROTTLE_EQUALS, "429", &desc), 0);
    assert_int_equal(fw_throttle_rules_add(r, FW_THROTTLE_F_GRPC_STATUS, FW_THROTTLE_EQUALS,
                                           "RESOURCE_EXHAUSTED", &desc),
                     0);
    assert_int_equal(fw_throttle_rules_add(r, FW_THROTTLE_F_MESSAGES, FW_THROTTLE_CONTAINS,
                                           "concurrency quota", &desc),
                     0);
    assert_int_equal(
        fw_throttle_rules_add_attr(r, "acme.limiter.decision", FW_THROTTLE_EQUALS, "deny", &desc),
        0);
    assert_int_equal(fw_throttle_rules_count(r), 4);
    fw_semconv_span_classify(&s, r, &c);
    assert_true(c.is_throttled);
    fw_attr g[] = {STR("rpc.system", "grpc"), INT("rpc.grpc.status_code", 8)};
    mk_span(&s, FW_SPAN_KIND_SERVER, g, 2);
    fw_semconv_span_classify(&s, r, &c);
    assert_true(c.is_throttled);
    mk_span(&s, FW_SPAN_KIND_SERVER, NULL, 0);
    s.status_message = FW_STR_LIT("Concurrency Quota reached for account");
    fw_semconv_span_classify(&s, r, &c);
    assert_true(c.is_throttled);
    assert_int_equal(c.throttle.field, FW_THROTTLE_F_STATUS_MESSAGE);
    fw_attr lim[] = {STR("acme.limiter.decision", "DENY")};
    mk_span(&s, FW_SPAN_KIND_SERVER, lim, 1);
    fw_semconv_span_classify(&s, r, &c);
    assert_true(c.is_throttled);
    assert_string_equal(c.throttle.attr_name, "acme.limiter.decision");
    /* The key alone does not count, nor another value. */
    fw_attr lim2[] = {STR("acme.limiter.decision", "allow")};
    mk_span(&s, FW_SPAN_KIND_SERVER, lim2, 1);
    fw_semconv_span_classify(&s, r, &c);
    assert_false(c.is_throttled);
    /* An exclusion vetoes a text match. */
    assert_int_equal(fw_throttle_rules_add_unless(r, FW_THROTTLE_F_STATUS_MESSAGE, FW_THROTTLE_WORD,
                                                  "simulated", &desc),
                     0);
    mk_span(&s, FW_SPAN_KIND_SERVER, NULL, 0);
    s.status_message = FW_STR_LIT("simulated concurrency quota reached");
    fw_semconv_span_classify(&s, r, &c);
    assert_false(c.is_throttled);

    /* Bad rules are refused with a reason. */
    assert_int_equal(
        fw_throttle_rules_add(r, FW_THROTTLE_F_LOG_BODY, FW_THROTTLE_CONTAINS, "", &desc),
        FW_ERR_INVALID);
    assert_string_equal(desc, "empty pattern");
    assert_int_equal(
        fw_throttle_rules_add(r, FW_THROTTLE_F_HTTP_STATUS, FW_THROTTLE_CONTAINS, "42", &desc),
        FW_ERR_INVALID);
    assert_int_equal(
        fw_throttle_rules_add(r, FW_THROTTLE_F_HTTP_STATUS, FW_THROTTLE_EQUALS, "4x9", &desc),
        FW_ERR_INVALID);
    assert_string_equal(desc, "not an HTTP status code");
    assert_int_equal(
        fw_throttle_rules_add(r, FW_THROTTLE_F_GRPC_STATUS, FW_THROTTLE_EQUALS, "SLOW", &desc),
        FW_ERR_INVALID);
    assert_int_equal(
        fw_throttle_rules_add(r, FW_THROTTLE_F_ATTRIBUTE, FW_THROTTLE_EQUALS, "x", &desc),
        FW_ERR_INVALID);
    assert_int_equal(fw_throttle_rules_add(r, 1u << 12, FW_THROTTLE_EQUALS, "x", &desc),
                     FW_ERR_INVALID);
    assert_int_equal(
        fw_throttle_rules_add(r, FW_THROTTLE_F_LOG_BODY, (fw_throttle_kind)9, "x", NULL),
        FW_ERR_INVALID);
    assert_int_equal(fw_throttle_rules_add_attr(r, "", FW_THROTTLE_EQUALS, "x", &desc),
                     FW_ERR_INVALID);
    char big[FW_THROTTLE_MAX_PATTERN + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(
        fw_throttle_rules_add(r, FW_THROTTLE_F_LOG_BODY, FW_THROTTLE_CONTAINS, big, &desc),
        FW_ERR_TOO_LARGE);
    size_t before = fw_throttle_rules_count(r);
    int rv = 0;
    while (rv == 0)
        rv = fw_throttle_rules_add(r, FW_THROTTLE_F_LOG_BODY, FW_THROTTLE_CONTAINS, "pattern",
                                   &desc);
    assert_int_equal(rv, FW_ERR_TOO_LARGE);
    assert_int_equal(fw_throttle_rules_count(r), FW_THROTTLE_MAX_RULES);
    assert_true(before < FW_THROTTLE_MAX_RULES);
    fw_throttle_rules_free(r);
    fw_throttle_rules_free(NULL);

    /* Config name helpers. */
    fw_throttle_field f;
    fw_throttle_kind k;
    assert_int_equal(fw_throttle_field_parse(FW_STR_LIT("exception.message"), &f), 0);
    assert_int_equal(f, FW_THROTTLE_F_EXCEPTION_MESSAGE);
    assert_int_equal(fw_throttle_field_parse(FW_STR_LIT("exception"), &f), FW_ERR_INVALID);
    assert_int_equal(fw_throttle_kind_parse(FW_STR_LIT("Contains"), &k), 0);
    assert_int_equal(k, FW_THROTTLE_CONTAINS);
    assert_int_equal(fw_throttle_kind_parse(FW_STR_LIT("regex"), &k), FW_ERR_INVALID);

    /* The default set loads and is non-trivial. */
    assert_int_equal(fw_throttle_rules_new_default(&r), 0);
    assert_true(fw_throttle_rules_count(r) > 20);
    fw_throttle_rules_free(r);
}

/* Every attribute name classification understands, set alone: each must
 * land in its own field (guards the key lookup table). */
static void test_every_key_understood(void **state)
{
    const fw_throttle_rules *rules = *state;
    static const struct {
        const char *key;
        size_t off; /* offsetof the fw_str field in fw_span_class */
    } strs[] = {
        {"http.request.method", offsetof(fw_span_class, http_method)},
        {"http.method", offsetof(fw_span_class, http_method)},
        {"http.route", offsetof(fw_span_class, http_route)},
        {"rpc.system.name", offsetof(fw_span_class, rpc_system)},
        {"rpc.system", offsetof(fw_span_class, rpc_system)},
        {"rpc.service", offsetof(fw_span_class, rpc_service)},
        {"rpc.method", offsetof(fw_span_class, rpc_method)},
        {"db.system.name", offsetof(fw_span_class, db_system)},
        {"db.system", offsetof(fw_span_class, db_system)},
        {"db.operation.name", offsetof(fw_span_class, db_operation)},
        {"db.operation", offsetof(fw_span_class, db_operation)},
        {"messaging.system", offsetof(fw_span_class, messaging_system)},
        {"messaging.destination.name", offsetof(fw_span_class, messaging_destination)},
        {"messaging.destination", offsetof(fw_span_class, messaging_destination)},
        {"peer.service", offsetof(fw_span_class, peer_service)},
        {"server.address", offsetof(fw_span_class, server_address)},
        {"net.peer.name", offsetof(fw_span_class, server_address)},
        {"gen_ai.provider.name", offsetof(fw_span_class, gen_ai_system)},
        {"gen_ai.system", offsetof(fw_span_class, gen_ai_system)},
        {"error.type", offsetof(fw_span_class, error_type)},
        {"exception.type", offsetof(fw_span_class, exception_type)},
        {"exception.message", offsetof(fw_span_class, exception_message)},
    };
    fw_span s;
    fw_span_class c;
    fw_attr a[1];
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        a[0] = (fw_attr){fw_str_from(strs[i].key),
                         {.type = FW_VALUE_STRING, .u.str = FW_STR_LIT("v-a-l")}};
        mk_span(&s, FW_SPAN_KIND_CLIENT, a, 1);
        fw_semconv_span_classify(&s, rules, &c);
        const fw_str *got = (const fw_str *)(const void *)((const char *)&c + strs[i].off);
        if (got->len != 5 || memcmp(got->ptr, "v-a-l", 5) != 0)
            fail_msg("attribute %s not understood", strs[i].key);
    }
    static const char *const urls[] = {"url.full", "http.url"};
    for (size_t i = 0; i < 2; i++) {
        a[0] = (fw_attr){fw_str_from(urls[i]),
                         {.type = FW_VALUE_STRING, .u.str = FW_STR_LIT("https://h.example/p")}};
        mk_span(&s, FW_SPAN_KIND_CLIENT, a, 1);
        fw_semconv_span_classify(&s, rules, &c);
        assert_str(c.server_address, "h.example");
    }
    static const char *const http_keys[] = {"http.response.status_code", "http.status_code"};
    for (size_t i = 0; i < 2; i++) {
        a[0] = (fw_attr){fw_str_from(http_keys[i]), {.type = FW_VALUE_INT, .u.i64 = 418}};
        mk_span(&s, FW_SPAN_KIND_SERVER, a, 1);
        fw_semconv_span_classify(&s, rules, &c);
        assert_int_equal(c.http_status, 418);
    }
    static const char *const grpc_keys[] = {"rpc.grpc.status_code", "rpc.response.status_code",
                                            "rpc.status_code"};
    for (size_t i = 0; i < 3; i++) {
        fw_attr g[2] = {STR("rpc.system", "grpc"),
                        {fw_str_from(grpc_keys[i]), {.type = FW_VALUE_INT, .u.i64 = 14}}};
        mk_span(&s, FW_SPAN_KIND_SERVER, g, 2);
        fw_semconv_span_classify(&s, rules, &c);
        assert_int_equal(c.grpc_status, 14);
    }
    a[0] = (fw_attr){FW_STR_LIT("http.response.header.retry-after"),
                     {.type = FW_VALUE_STRING, .u.str = FW_STR_LIT("7")}};
    mk_span(&s, FW_SPAN_KIND_CLIENT, a, 1);
    fw_semconv_span_classify(&s, rules, &c);
    assert_int_equal(c.retry_after_s, 7);
    a[0] = STR("gen_ai.operation.name", "embeddings");
    fw_attr ga[2] = {a[0], STR("server.address", "llm.internal")};
    mk_span(&s, FW_SPAN_KIND_CLIENT, ga, 2);
    fw_semconv_span_classify(&s, rules, &c);
    assert_int_equal(c.dep_type, FW_DEP_MODEL);
    assert_str(c.dep_name, "llm.internal");
    /* Near misses of known keys are not them. */
    fw_attr near[] = {STR("http.routes", "x"), STR("db.systemx", "x"), STR("Peer.service", "x"),
                      STR("server.addres", "x")};
    mk_span(&s, FW_SPAN_KIND_CLIENT, near, NATTR(near));
    fw_semconv_span_classify(&s, rules, &c);
    assert_str(c.http_route, NULL);
    assert_str(c.db_system, NULL);
    assert_str(c.dep_name, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dynamodb_provisioned_throughput, setup, teardown),
        cmocka_unit_test_setup_teardown(test_s3_slowdown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_429_client_with_retry_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grpc_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_status_verdicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uninstrumented_redis_is_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openai_is_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kafka_producer_is_messaging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_service_preferred, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_and_new_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_instance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_examples, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_key_understood, setup, teardown),
        cmocka_unit_test(test_rules_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

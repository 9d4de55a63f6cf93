/* throttle_rules.c - the default throttling rule set, as data (SPEC 4: "the
 * rule set is data, not code"), and the constructor that loads it.
 * Only data lives here: matching is semconv.c's. Add a rule by adding a
 * row; configuration adds more at runtime through fw_throttle_rules_add*.
 *
 * What the default set catches:
 *  - HTTP 429 (any span kind; log records with an HTTP status attribute);
 *  - gRPC RESOURCE_EXHAUSTED (8), numeric or by name (also error.type);
 *  - exception / error types naming throttling: AWS (ThrottlingException,
 *    ProvisionedThroughputExceededException, TooManyRequestsException,
 *    RequestLimitExceeded, SlowDown, Throttling, RequestThrottled, ...),
 *    namespaced or not; OpenAI/Anthropic SDK RateLimitError; Google
 *    ResourceExhausted; any type with a word starting "throttl";
 *  - messages (exception.message, status message, log body) saying
 *    "Rate exceeded", "rate limit", "rate-limit", "too many requests",
 *    "throttl..." (word start), "quota exceeded", S3's "reduce your request
 *    rate" / "(SlowDown)", or naming one of the AWS throttling codes;
 *  - the AWS error code attribute (aws.error_code, aws.error.code) and
 *    db.response.status_code "429" (Cosmos DB style).
 * What it does not catch, on purpose:
 *  - attribute keys (e.g. a key "throttle_valve_position") are never
 *    matched, only values; numbers other than the status codes above (a
 *    404, a 503, "processed 429 records" in a body) are not throttling;
 *  - messages negating the condition: "no rate limit configured", "rate
 *    limit not reached", "not throttled", "no throttling", "without
 *    throttling", "rate limit set to ..." (exclusions below);
 *  - "unthrottled" and words merely containing "throttl" inside them.
 * Known limits: a message that uses "throttle" about something else
 * ("throttle valve at 40%") matches; 503 SlowDown from S3 is caught only
 * through the error code/message, not the status. */
#include <stddef.h>
#include "semconv_internal.h"

#define TYPES FW_THROTTLE_F_TYPES
#define MSGS  FW_THROTTLE_F_MESSAGES
#define RULE(fields, kind, pat)                          \
    {                                                    \
        FW__THROTTLE_RULE, (fields), (kind), NULL, (pat) \
    }
#define UNLESS(fields, kind, pat)                          \
    {                                                      \
        FW__THROTTLE_UNLESS, (fields), (kind), NULL, (pat) \
    }
#define ATTR(name, kind, pat)                        \
    {                                                \
        FW__THROTTLE_ATTR, 0u, (kind), (name), (pat) \
    }

static const fw__throttle_default default_rules[] = {
    /* Status codes. */
    RULE(FW_THROTTLE_F_HTTP_STATUS, FW_THROTTLE_EQUALS, "429"),
    RULE(FW_THROTTLE_F_GRPC_STATUS, FW_THROTTLE_EQUALS, "8"),

    /* Exception and error types (error.type carries "429" or the gRPC
     * code name under the new HTTP/RPC conventions). */
    RULE(TYPES, FW_THROTTLE_EQUALS, "ThrottlingException"),
    RULE(TYPES, FW_THROTTLE_EQUALS, "ProvisionedThroughputExceededException"),
    RULE(TYPES, FW_THROTTLE_EQUALS, "TooManyRequestsException"),
    RULE(TYPES, FW_THROTTLE_EQUALS, "RequestLimitExceeded"),
    RULE(TYPES, FW_THROTTLE_EQUALS, "SlowDown"),
    RULE(TYPES, FW_THROTTLE_EQUALS, "Throttling"),
    RULE(TYPES, FW_THROTTLE_EQUALS, "RequestThrottled"),
    RULE(TYPES, FW_THROTTLE_EQUALS, "RequestThrottledException"),
    RULE(TYPES, FW_THROTTLE_EQUALS, "BandwidthLimitExceeded"),
    RULE(TYPES, FW_THROTTLE_EQUALS, "TooManyRequests"),
    RULE(TYPES, FW_THROTTLE_EQUALS, "RateLimitError"),
    RULE(TYPES, FW_THROTTLE_EQUALS, "RateLimitExceeded"),
    RULE(TYPES, FW_THROTTLE_EQUALS, "ResourceExhausted"),
    RULE(TYPES, FW_THROTTLE_EQUALS, "RESOURCE_EXHAUSTED"),
    RULE(TYPES, FW_THROTTLE_EQUALS, "429"),
    RULE(TYPES, FW_THROTTLE_WORD, "throttl"),

    /* Messages: exception.message, span status message, log body. */
    RULE(MSGS, FW_THROTTLE_CONTAINS, "rate exceeded"),
    RULE(MSGS, FW_THROTTLE_CONTAINS, "rate limit"),
    RULE(MSGS, FW_THROTTLE_CONTAINS, "rate-limit"),
    RULE(MSGS, FW_THROTTLE_CONTAINS, "too many requests"),
    RULE(MSGS, FW_THROTTLE_WORD, "throttl"),
    RULE(MSGS, FW_THROTTLE_CONTAINS, "quota exceeded"),
    RULE(MSGS, FW_THROTTLE_CONTAINS, "reduce your request rate"),
    RULE(MSGS, FW_THROTTLE_CONTAINS, "(SlowDown)"),
    RULE(MSGS, FW_THROTTLE_CONTAINS, "Error Code: SlowDown"),
    RULE(MSGS, FW_THROTTLE_CONTAINS, "ProvisionedThroughputExceeded"),
    RULE(MSGS, FW_THROTTLE_CONTAINS, "TooManyRequestsException"),
    RULE(MSGS, FW_THROTTLE_CONTAINS, "RequestLimitExceeded"),
    RULE(MSGS, FW_THROTTLE_CONTAINS, "RateLimitError"),
    RULE(MSGS, FW_THROTTLE_CONTAINS, "RESOURCE_EXHAUSTED"),

    /* Negations: a value matching one of these is not a throttling text. */
    UNLESS(MSGS, FW_THROTTLE_CONTAINS, "no rate limit"),
    UNLESS(MSGS, FW_THROTTLE_CONTAINS, "rate limit not "),
    UNLESS(MSGS, FW_THROTTLE_CONTAINS, "rate limit configured"),
    UNLESS(MSGS, FW_THROTTLE_CONTAINS, "rate limit set to"),
    UNLESS(MSGS, FW_THROTTLE_CONTAINS, "not rate limited"),
    UNLESS(MSGS, FW_THROTTLE_CONTAINS, "not rate-limited"),
    UNLESS(MSGS, FW_THROTTLE_CONTAINS, "not throttled"),
    UNLESS(MSGS, FW_THROTTLE_CONTAINS, "no throttling"),
    UNLESS(MSGS, FW_THROTTLE_CONTAINS, "without throttling"),

    /* AWS error codes carried as attributes. */
    ATTR("aws.error_code", FW_THROTTLE_WORD, "throttl"),
    ATTR("aws.error_code", FW_THROTTLE_EQUALS, "ProvisionedThroughputExceededException"),
    ATTR("aws.error_code", FW_THROTTLE_EQUALS, "TooManyRequestsException"),
    ATTR("aws.error_code", FW_THROTTLE_EQUALS, "RequestLimitExceeded"),
    ATTR("aws.error_code", FW_THROTTLE_EQUALS, "SlowDown"),
    ATTR("aws.error.code", FW_THROTTLE_WORD, "throttl"),
    ATTR("aws.error.code", FW_THROTTLE_EQUALS, "ProvisionedThroughputExceededException"),
    ATTR("aws.error.code", FW_THROTTLE_EQUALS, "TooManyRequestsException"),
    ATTR("aws.error.code", FW_THROTTLE_EQUALS, "RequestLimitExceeded"),
    ATTR("aws.error.code", FW_THROTTLE_EQUALS, "SlowDown"),
    ATTR("db.response.status_code", FW_THROTTLE_EQUALS, "429"),
};

const fw__throttle_default *fw__semconv_default_rules(size_t *n)
{
    *n = sizeof default_rules / sizeof default_rules[0];
    return default_rules;
}

int fw_throttle_rules_new_default(fw_throttle_rules **out)
{
    fw_throttle_rules *r = NULL;
    size_t n;
    const fw__throttle_default *d = fw__semconv_default_rules(&n);
    int rv = fw_throttle_rules_new_empty(&r);
    if (rv) goto fail;
    for (size_t i = 0; i < n && !rv; i++) {
        switch (d[i].role) {
        case FW__THROTTLE_RULE:
            rv = fw_throttle_rules_add(r, d[i].fields, d[i].kind, d[i].pattern, NULL);
            break;
        case FW__THROTTLE_UNLESS:
            rv = fw_throttle_rules_add_unless(r, d[i].fields, d[i].kind, d[i].pattern, NULL);
            break;
        case FW__THROTTLE_ATTR:
            rv = fw_throttle_rules_add_attr(r, d[i].attr_name, d[i].kind, d[i].pattern, NULL);
            break;
        }
    }
    if (rv) goto fail_rules;
    *out = r;
    return 0;
fail_rules:
    fw_throttle_rules_free(r);
fail:
    *out = NULL;
    return rv;
}

/* semconv.c - classification of spans and log records by OpenTelemetry
 * semantic conventions: attribute lookups (new name first, old name next),
 * fault / client-error / throttling verdicts, the virtual dependency of a
 * client span, and the throttling rule set and its matcher.
 * Borrows every record; never allocates except in fw_throttle_rules_*. */
#include <stdlib.h>
#include <string.h>
#include "flywheel/semconv.h"
#include "semconv_internal.h"

/* ---- Small string helpers (ASCII only, locale-free) ------------------- */

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}
static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
static bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}
static bool is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

/* |p| is lowercase already. */
static bool ieq_n(const char *s, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower(s[i]) != p[i]) return false;
    return true;
}

static bool str_present(fw_str s)
{
    return s.ptr != NULL && s.len > 0;
}

/* Case-insensitive equality ignoring everything but letters and digits
 * ("Bedrock Runtime" == "bedrock-runtime" == "BedrockRuntime"). */
static bool alnum_ieq(fw_str a, const char *b)
{
    size_t i = 0, j = 0, bl = strlen(b);
    for (;;) {
        while (i < a.len && !is_alnum(a.ptr[i])) i++;
        while (j < bl && !is_alnum(b[j])) j++;
        if (i == a.len || j == bl) return i == a.len && j == bl;
        if (lower(a.ptr[i]) != lower(b[j])) return false;
        i++;
        j++;
    }
}

/* ---- Throttling rule set ---------------------------------------------- */

typedef struct throttle_rule {
    unsigned fields;
    fw_throttle_kind kind;
    bool unless;
    char *pattern; /* as given (reported in matches) */
    char *folded;  /* lowercase, what is compared */
    size_t len;
    char *attr_name; /* FW_THROTTLE_F_ATTRIBUTE */
    size_t attr_len;
    int64_t number; /* numeric fields */
} throttle_rule;

struct fw_throttle_rules {
    throttle_rule *items;
    size_t n, cap;
    unsigned fields; /* union of every rule's fields: skips work early */
    /* Indexes kept as rules are added, so that the per-span paths walk only
     * the rules that can apply: numeric rules, and the distinct attribute
     * names of attribute rules (pointing into items[].attr_name). */
    uint16_t numeric[FW_THROTTLE_MAX_RULES];
    size_t n_numeric;
    const char *attr_names[FW_THROTTLE_MAX_RULES];
    size_t attr_lens[FW_THROTTLE_MAX_RULES];
    size_t n_attr_names;
};

int fw_throttle_rules_new_empty(fw_throttle_rules **out)
{
    fw_throttle_rules *r = calloc(1, sizeof *r);
    *out = r;
    return r ? 0 : FW_ERR_NOMEM;
}

void fw_throttle_rules_free(fw_throttle_rules *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->items[i].pattern);
        free(r->items[i].folded);
        free(r->items[i].attr_name);
    }
    free(r->items);
    free(r);
}

size_t fw_throttle_rules_count(const fw_throttle_rules *r)
{
    return r ? r->n : 0;
}

static const char *const grpc_names[17] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

/* Decimal integer of at most 9 digits (optional leading '-'); 1 when ok. */
static int parse_small_int(fw_str s, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    int64_t v = 0;
    if (s.len > 0 && s.ptr[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == s.len || s.len - i > 9) return 0;
    for (; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9') return 0;
        v = v * 10 + (s.ptr[i] - '0');
    }
    *out = neg ? -v : v;
    return 1;
}

int fw_semconv_grpc_code_parse(fw_str s)
{
    int64_t v;
    if (!s.ptr) return -1;
    if (parse_small_int(s, &v)) return v >= 0 && v <= 16 ? (int)v : -1;
    for (int i = 0; i <= 16; i++)
        if (fw_str_ieq(s, grpc_names[i])) return i;
    return -1;
}

static int add_rule(fw_throttle_rules *r, unsigned fields, fw_throttle_kind kind, bool unless,
                    const char *attr_name, const char *pattern, const char **err_desc)
{
    const char *desc = NULL;
    int rv = FW_ERR_INVALID;
    const unsigned all = FW_THROTTLE_F_EXCEPTION_TYPE | FW_THROTTLE_F_EXCEPTION_MESSAGE |
                         FW_THROTTLE_F_LOG_BODY | FW_THROTTLE_F_ERROR_TYPE |
                         FW_THROTTLE_F_STATUS_MESSAGE | FW_THROTTLE_F_ATTRIBUTE |
                         FW_THROTTLE_F_HTTP_STATUS | FW_THROTTLE_F_GRPC_STATUS;
    const unsigned numeric = FW_THROTTLE_F_HTTP_STATUS | FW_THROTTLE_F_GRPC_STATUS;
    throttle_rule rule;
    memset(&rule, 0, sizeof rule);

    if (!r || !pattern || !*pattern) {
        desc = "empty pattern";
        goto out;
    }
    rule.len = strlen(pattern);
    if (rule.len > FW_THROTTLE_MAX_PATTERN) {
        desc = "pattern too long";
        rv = FW_ERR_TOO_LARGE;
        goto out;
    }
    if (fields == 0 || (fields & ~all)) {
        desc = "unknown field";
        goto out;
    }
    if (kind != FW_THROTTLE_EQUALS && kind != FW_THROTTLE_CONTAINS && kind != FW_THROTTLE_WORD) {
        desc = "unknown match kind";
        goto out;
    }
    if ((fields & FW_THROTTLE_F_ATTRIBUTE) && fields != FW_THROTTLE_F_ATTRIBUTE) {
        desc = "attribute rules name one attribute only";
        goto out;
    }
    if (fields & FW_THROTTLE_F_ATTRIBUTE) {
        if (!attr_name || !*attr_name || strlen(attr_name) > FW_THROTTLE_MAX_PATTERN) {
            desc = "attribute rule without a valid attribute name";
            goto out;
        }
    }
    if (fields & numeric) {
        if ((fields & ~numeric) || kind != FW_THROTTLE_EQUALS || unless) {
            desc = "status code rules are numeric equality only";
            goto out;
        }
        fw_str p = fw_str_from(pattern);
        if (fields == FW_THROTTLE_F_GRPC_STATUS) {
            int code = fw_semconv_grpc_code_parse(p);
            if (code < 0) {
                desc = "not a gRPC status code";
                goto out;
            }
            rule.number = code;
        } else if (fields == FW_THROTTLE_F_HTTP_STATUS) {
            if (!parse_small_int(p, &rule.number) || rule.number < 100 || rule.number > 999) {
                desc = "not an HTTP status code";
                goto out;
            }
        } else {
            desc = "a status code rule names one status field";
            goto out;
        }
    }
    if (r->n >= FW_THROTTLE_MAX_RULES) {
        desc = "too many throttling rules";
        rv = FW_ERR_TOO_LARGE;
        goto out;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 32;
        throttle_rule *items = realloc(r->items, cap * sizeof *items);
        if (!items) {
            rv = FW_ERR_NOMEM;
            goto out;
        }
        r->items = items;
        r->cap = cap;
    }
    rule.fields = fields;
    rule.kind = kind;
    rule.unless = unless;
    rule.pattern = strdup(pattern);
    rule.folded = strdup(pattern);
    rule.attr_name = attr_name ? strdup(attr_name) : NULL;
    rule.attr_len = attr_name ? strlen(attr_name) : 0;
    if (!rule.pattern || !rule.folded || (attr_name && !rule.attr_name)) {
        free(rule.pattern);
        free(rule.folded);
        free(rule.attr_name);
        rv = FW_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < rule.len; i++) rule.folded[i] = lower(rule.folded[i]);
    if (fields & numeric) r->numeric[r->n_numeric++] = (uint16_t)r->n;
    if (fields == FW_THROTTLE_F_ATTRIBUTE) {
        size_t k = 0;
        while (k < r->n_attr_names && strcmp(r->attr_names[k], rule.attr_name) != 0) k++;
        if (k == r->n_attr_names) {
            r->attr_names[k] = rule.attr_name;
            r->attr_lens[k] = rule.attr_len;
            r->n_attr_names++;
        }
    }
    r->items[r->n++] = rule;
    r->fields |= fields;
    rv = 0;
out:
    if (rv == FW_ERR_NOMEM) desc = "out of memory";
    if (err_desc) *err_desc = desc;
    return rv;
}

int fw_throttle_rules_add(fw_throttle_rules *r, unsigned fields, fw_throttle_kind kind,
                          const char *pattern, const char **err_desc)
{
    if (fields & FW_THROTTLE_F_ATTRIBUTE) {
        if (err_desc) *err_desc = "attribute rules need an attribute name";
        return FW_ERR_INVALID;
    }
    return add_rule(r, fields, kind, false, NULL, pattern, err_desc);
}

int fw_throttle_rules_add_attr(fw_throttle_rules *r, const char *attr_name, fw_throttle_kind kind,
                               const char *pattern, const char **err_desc)
{
    return add_rule(r, FW_THROTTLE_F_ATTRIBUTE, kind, false, attr_name, pattern, err_desc);
}

int fw_throttle_rules_add_unless(fw_throttle_rules *r, unsigned fields, fw_throttle_kind kind,
                                 const char *pattern, const char **err_desc)
{
    if (fields & FW_THROTTLE_F_ATTRIBUTE) {
        if (err_desc) *err_desc = "exclusions apply to text fields";
        return FW_ERR_INVALID;
    }
    return add_rule(r, fields, kind, true, NULL, pattern, err_desc);
}

static const struct {
    const char *name;
    fw_throttle_field field;
} field_names[] = {
    {"exception.type", FW_THROTTLE_F_EXCEPTION_TYPE},
    {"exception.message", FW_THROTTLE_F_EXCEPTION_MESSAGE},
    {"log.body", FW_THROTTLE_F_LOG_BODY},
    {"error.type", FW_THROTTLE_F_ERROR_TYPE},
    {"status.message", FW_THROTTLE_F_STATUS_MESSAGE},
    {"attribute", FW_THROTTLE_F_ATTRIBUTE},
    {"http.status", FW_THROTTLE_F_HTTP_STATUS},
    {"grpc.status", FW_THROTTLE_F_GRPC_STATUS},
};

int fw_throttle_field_parse(fw_str name, fw_throttle_field *out)
{
    for (size_t i = 0; i < sizeof field_names / sizeof field_names[0]; i++)
        if (fw_str_ieq(name, field_names[i].name)) {
            *out = field_names[i].field;
            return 0;
        }
    return FW_ERR_INVALID;
}

const char *fw_throttle_field_name(fw_throttle_field f)
{
    for (size_t i = 0; i < sizeof field_names / sizeof field_names[0]; i++)
        if (field_names[i].field == f) return field_names[i].name;
    return "?";
}

int fw_throttle_kind_parse(fw_str name, fw_throttle_kind *out)
{
    if (fw_str_ieq(name, "equals"))
        *out = FW_THROTTLE_EQUALS;
    else if (fw_str_ieq(name, "contains"))
        *out = FW_THROTTLE_CONTAINS;
    else if (fw_str_ieq(name, "word"))
        *out = FW_THROTTLE_WORD;
    else
        return FW_ERR_INVALID;
    return 0;
}

/* ---- Matching ----------------------------------------------------------- */

static bool word_start(const char *s, size_t i)
{
    if (i == 0) return true;
    char prev = s[i - 1], cur = s[i];
    if (!is_alnum(prev)) return true;
    return is_lower(prev) && is_upper(cur); /* camelCase hump */
}

static bool rule_matches(const throttle_rule *rule, fw_str v)
{
    const char *p = rule->folded;
    size_t m = rule->len;
    if (!v.ptr || v.len < m) return false;
    switch (rule->kind) {
    case FW_THROTTLE_EQUALS: {
        if (v.len == m && ieq_n(v.ptr, p, m)) return true;
        /* Last component of a namespaced type name. */
        size_t i = v.len;
        while (i > 0) {
            char c = v.ptr[i - 1];
            if (c == '.' || c == ':' || c == '$' || c == '/' || c == '\\') break;
            i--;
        }
        return i > 0 && v.len - i == m && ieq_n(v.ptr + i, p, m);
    }
    case FW_THROTTLE_CONTAINS:
    case FW_THROTTLE_WORD:
        for (size_t i = 0; i + m <= v.len; i++) {
            if (lower(v.ptr[i]) != p[0]) continue;
            if (!ieq_n(v.ptr + i + 1, p + 1, m - 1)) continue;
            if (rule->kind == FW_THROTTLE_CONTAINS || word_start(v.ptr, i)) return true;
        }
        return false;
    }
    return false;
}

/* Tries the text rules of |field| on |v|; fills |m| and returns true on a
 * match not vetoed by an exclusion. */
static bool match_text(const fw_throttle_rules *r, fw_throttle_field field, fw_str v,
                       fw_throttle_match *m)
{
    if (!r || !(r->fields & field) || !str_present(v)) return false;
    for (size_t i = 0; i < r->n; i++) {
        const throttle_rule *rule = &r->items[i];
        if (rule->unless && (rule->fields & field) && rule_matches(rule, v)) return false;
    }
    for (size_t i = 0; i < r->n; i++) {
        const throttle_rule *rule = &r->items[i];
        if (rule->unless || !(rule->fields & field) || !rule_matches(rule, v)) continue;
        m->field = field;
        m->pattern = rule->pattern;
        m->attr_name = NULL;
        m->value = v;
        return true;
    }
    return false;
}

static bool match_number(const fw_throttle_rules *r, fw_throttle_field field, int64_t code,
                         fw_throttle_match *m)
{
    if (!r || !(r->fields & field) || code < 0) return false;
    for (size_t i = 0; i < r->n_numeric; i++) {
        const throttle_rule *rule = &r->items[r->numeric[i]];
        if (rule->fields != field || rule->number != code) continue;
        m->field = field;
        m->pattern = rule->pattern;
        m->attr_name = NULL;
        m->value = FW_STR_NULL;
        return true;
    }
    return false;
}

/* Attribute rules: one pass over each attribute list (record attributes,
 * then exception event attributes); a string value whose key is one of the
 * rule set's attribute names is tried against that name's rules. */
static bool match_attr_value(const fw_throttle_rules *r, const char *name, size_t len, fw_str v,
                             fw_throttle_match *m)
{
    for (size_t i = 0; i < r->n; i++) {
        const throttle_rule *rule = &r->items[i];
        if (rule->fields != FW_THROTTLE_F_ATTRIBUTE || rule->attr_len != len ||
            memcmp(rule->attr_name, name, len) != 0 || !rule_matches(rule, v))
            continue;
        m->field = FW_THROTTLE_F_ATTRIBUTE;
        m->pattern = rule->pattern;
        m->attr_name = rule->attr_name;
        m->value = v;
        return true;
    }
    return false;
}

static bool match_attrs(const fw_throttle_rules *r, const fw_attrs *const *lists, size_t nlists,
                        fw_throttle_match *m)
{
    if (!r || !(r->fields & FW_THROTTLE_F_ATTRIBUTE)) return false;
    for (size_t l = 0; l < nlists; l++) {
        const fw_attrs *a = lists[l];
        for (size_t j = 0; a && a->items && j < a->n; j++) {
            const fw_attr *at = &a->items[j];
            if (at->value.type != FW_VALUE_STRING || !str_present(at->value.u.str)) continue;
            for (size_t k = 0; k < r->n_attr_names; k++) {
                if (r->attr_lens[k] != at->key.len ||
                    memcmp(r->attr_names[k], at->key.ptr, at->key.len) != 0)
                    continue;
                if (match_attr_value(r, r->attr_names[k], r->attr_lens[k], at->value.u.str, m))
                    return true;
                break;
            }
        }
    }
    return false;
}

/* ---- Attribute lookups --------------------------------------------------- */

/* Every key classification reads, found in one pass over an attribute list
 * (classification runs on every ingested span: ~30 fw_attrs_get() scans
 * with strlen each would dominate it). New names precede their old names. */
typedef enum attr_slot {
    K_HTTP_STATUS,
    K_HTTP_STATUS_OLD,
    K_HTTP_METHOD,
    K_HTTP_METHOD_OLD,
    K_HTTP_ROUTE,
    K_RETRY_AFTER,
    K_RPC_SYSTEM,
    K_RPC_SYSTEM_OLD,
    K_RPC_SERVICE,
    K_RPC_METHOD,
    K_GRPC_STATUS,
    K_RPC_RESPONSE_STATUS,
    K_RPC_STATUS,
    K_DB_SYSTEM,
    K_DB_SYSTEM_OLD,
    K_DB_OPERATION,
    K_DB_OPERATION_OLD,
    K_MSG_SYSTEM,
    K_MSG_DEST,
    K_MSG_DEST_OLD,
    K_PEER_SERVICE,
    K_SERVER_ADDRESS,
    K_NET_PEER_NAME,
    K_URL_FULL,
    K_HTTP_URL,
    K_GENAI_PROVIDER,
    K_GENAI_SYSTEM,
    K_GENAI_OPERATION,
    K_ERROR_TYPE,
    K_EXC_TYPE,
    K_EXC_MESSAGE,
    K_K8S_POD,
    K_HOST_NAME,
    K_CONTAINER_ID,
    K_COUNT
} attr_slot;

typedef struct attr_slots {
    const fw_value *v[K_COUNT]; /* first occurrence of each key; NULL when absent */
} attr_slots;

/* Slot of the attribute key |k|, or -1: a switch on the length, then one
 * or a few fixed-size compares (the tests set every key one by one). */
static int slot_of(const char *k, size_t len)
{
#define M(lit, slot) \
    if (sizeof(lit) - 1 == len && memcmp(k, lit, sizeof(lit) - 1) == 0) return slot
    switch (len) {
    case 8:
        M("url.full", K_URL_FULL);
        M("http.url", K_HTTP_URL);
        break;
    case 9:
        M("db.system", K_DB_SYSTEM_OLD);
        M("host.name", K_HOST_NAME);
        break;
    case 10:
        M("http.route", K_HTTP_ROUTE);
        M("rpc.system", K_RPC_SYSTEM_OLD);
        M("rpc.method", K_RPC_METHOD);
        M("error.type", K_ERROR_TYPE);
        break;
    case 11:
        M("http.method", K_HTTP_METHOD_OLD);
        M("rpc.service", K_RPC_SERVICE);
        break;
    case 12:
        M("db.operation", K_DB_OPERATION_OLD);
        M("peer.service", K_PEER_SERVICE);
        M("k8s.pod.name", K_K8S_POD);
        M("container.id", K_CONTAINER_ID);
        break;
    case 13:
        M("net.peer.name", K_NET_PEER_NAME);
        M("gen_ai.system", K_GENAI_SYSTEM);
        break;
    case 14:
        M("db.system.name", K_DB_SYSTEM);
        M("server.address", K_SERVER_ADDRESS);
        M("exception.type", K_EXC_TYPE);
        break;
    case 15:
        M("rpc.system.name", K_RPC_SYSTEM);
        M("rpc.status_code", K_RPC_STATUS);
        break;
    case 16:
        M("http.status_code", K_HTTP_STATUS_OLD);
        M("messaging.system", K_MSG_SYSTEM);
        break;
    case 17:
        M("db.operation.name", K_DB_OPERATION);
        M("exception.message", K_EXC_MESSAGE);
        break;
    case 19: M("http.request.method", K_HTTP_METHOD); break;
    case 20:
        M("rpc.grpc.status_code", K_GRPC_STATUS);
        M("gen_ai.provider.name", K_GENAI_PROVIDER);
        break;
    case 21:
        M("messaging.destination", K_MSG_DEST_OLD);
        M("gen_ai.operation.name", K_GENAI_OPERATION);
        break;
    case 24: M("rpc.response.status_code", K_RPC_RESPONSE_STATUS); break;
    case 25: M("http.response.status_code", K_HTTP_STATUS); break;
    case 26: M("messaging.destination.name", K_MSG_DEST); break;
    case 32: M("http.response.header.retry-after", K_RETRY_AFTER); break;
    default: break;
    }
#undef M
    return -1;
}

static void slots_fill(const fw_attrs *a, attr_slots *out)
{
    memset(out, 0, sizeof *out);
    for (size_t j = 0; a && a->items && j < a->n; j++) {
        fw_str k = a->items[j].key;
        if (!k.ptr) continue;
        int i = slot_of(k.ptr, k.len);
        if (i >= 0 && !out->v[i]) out->v[i] = &a->items[j].value;
    }
}

static fw_str slot_str(const attr_slots *sl, attr_slot k)
{
    const fw_value *v = sl->v[k];
    if (!v || v->type != FW_VALUE_STRING || !str_present(v->u.str)) return FW_STR_NULL;
    return v->u.str;
}

/* New name, else old name. */
static fw_str slot_str2(const attr_slots *sl, attr_slot new_key, attr_slot old_key)
{
    fw_str v = slot_str(sl, new_key);
    return str_present(v) ? v : slot_str(sl, old_key);
}

/* INT, or a STRING holding a short decimal; 1 when found. */
static int value_int(const fw_value *v, int64_t *out)
{
    if (!v) return 0;
    if (v->type == FW_VALUE_INT) {
        *out = v->u.i64;
        return 1;
    }
    return v->type == FW_VALUE_STRING && parse_small_int(v->u.str, out);
}

static int32_t http_status_of(const attr_slots *sl)
{
    int64_t v;
    if (value_int(sl->v[K_HTTP_STATUS], &v) || value_int(sl->v[K_HTTP_STATUS_OLD], &v))
        return v >= 100 && v <= 999 ? (int32_t)v : -1;
    return -1;
}

static int32_t grpc_status_of(const attr_slots *sl, fw_str rpc_system)
{
    int64_t v;
    if (value_int(sl->v[K_GRPC_STATUS], &v)) return v >= 0 && v <= 16 ? (int32_t)v : -1;
    bool is_grpc = fw_str_ieq(rpc_system, "grpc");
    const fw_value *vals[2] = {sl->v[K_RPC_RESPONSE_STATUS], sl->v[K_RPC_STATUS]};
    for (size_t i = 0; i < 2; i++) {
        const fw_value *val = vals[i];
        if (!val) continue;
        if (value_int(val, &v)) {
            if (is_grpc && v >= 0 && v <= 16) return (int32_t)v;
            continue; /* JSON-RPC and other numeric codes are not gRPC */
        }
        if (val->type != FW_VALUE_STRING) continue;
        int code = fw_semconv_grpc_code_parse(val->u.str);
        if (code >= 0) return code;
    }
    return -1;
}

/* Delta-seconds of Retry-After, as a string or the first string of an
 * array (HTTP header attributes are string arrays); -1 otherwise (an
 * HTTP-date is not parsed). */
static int64_t retry_after_of(const attr_slots *sl)
{
    const fw_value *v = sl->v[K_RETRY_AFTER];
    int64_t n;
    if (!v) return -1;
    if (v->type == FW_VALUE_ARRAY) {
        if (v->u.array.n == 0 || !v->u.array.items) return -1;
        v = &v->u.array.items[0];
    }
    return value_int(v, &n) && n >= 0 ? n : -1;
}

/* Host of an absolute URL: scheme://[userinfo@]host[:port][/?#...]. */
static fw_str url_host(fw_str url)
{
    size_t i = 0;
    if (!url.ptr) return FW_STR_NULL;
    while (i + 2 < url.len &&
           !(url.ptr[i] == ':' && url.ptr[i + 1] == '/' && url.ptr[i + 2] == '/'))
        i++;
    if (i + 2 >= url.len) return FW_STR_NULL;
    size_t start = i + 3, end = start;
    while (end < url.len && url.ptr[end] != '/' && url.ptr[end] != '?' && url.ptr[end] != '#')
        end++;
    for (size_t j = start; j < end; j++) /* drop userinfo */
        if (url.ptr[j] == '@') start = j + 1;
    if (start < end && url.ptr[start] == '[') { /* IPv6 literal */
        size_t close = start + 1;
        while (close < end && url.ptr[close] != ']') close++;
        if (close >= end) return FW_STR_NULL;
        return (fw_str){url.ptr + start + 1, close - start - 1};
    }
    size_t host_end = start;
    while (host_end < end && url.ptr[host_end] != ':') host_end++;
    if (host_end == start) return FW_STR_NULL;
    return (fw_str){url.ptr + start, host_end - start};
}

static fw_str instance_of(const fw_resource *res)
{
    attr_slots sl;
    if (!res) return FW_STR_NULL;
    slots_fill(&res->attrs, &sl);
    fw_str v = slot_str(&sl, K_K8S_POD);
    if (!str_present(v)) v = slot_str(&sl, K_HOST_NAME);
    if (!str_present(v)) v = slot_str(&sl, K_CONTAINER_ID);
    return v;
}

/* ---- Verdicts ---------------------------------------------------------- */

typedef enum grpc_side { GRPC_NEITHER = 0, GRPC_CLIENT, GRPC_FAULT } grpc_side;

/* Who is to blame for a non-OK gRPC code (SPEC 5; the server-side list is
 * the one the gRPC semantic conventions mark as span status ERROR on the
 * server). */
static const grpc_side grpc_side_of[17] = {
    [0] = GRPC_NEITHER, /* OK */
    [1] = GRPC_NEITHER, /* CANCELLED: the caller gave up */
    [2] = GRPC_FAULT,   /* UNKNOWN */
    [3] = GRPC_CLIENT,  /* INVALID_ARGUMENT */
    [4] = GRPC_FAULT,   /* DEADLINE_EXCEEDED */
    [5] = GRPC_CLIENT,  /* NOT_FOUND */
    [6] = GRPC_CLIENT,  /* ALREADY_EXISTS */
    [7] = GRPC_CLIENT,  /* PERMISSION_DENIED */
    [8] = GRPC_CLIENT,  /* RESOURCE_EXHAUSTED: throttled, like HTTP 429 */
    [9] = GRPC_CLIENT,  /* FAILED_PRECONDITION */
    [10] = GRPC_CLIENT, /* ABORTED: a conflict, like HTTP 409 */
    [11] = GRPC_CLIENT, /* OUT_OF_RANGE */
    [12] = GRPC_FAULT,  /* UNIMPLEMENTED */
    [13] = GRPC_FAULT,  /* INTERNAL */
    [14] = GRPC_FAULT,  /* UNAVAILABLE */
    [15] = GRPC_FAULT,  /* DATA_LOSS */
    [16] = GRPC_CLIENT, /* UNAUTHENTICATED */
};

static void verdicts(fw_span_class *c, fw_status_code status)
{
    if (c->http_status >= 500 && c->http_status <= 599) {
        c->is_fault = true;
        return;
    }
    if (c->http_status >= 400 && c->http_status <= 499) {
        c->is_client_error = true;
        return;
    }
    if (c->grpc_status > 0 && c->grpc_status <= 16) {
        grpc_side side = grpc_side_of[c->grpc_status];
        c->is_fault = side == GRPC_FAULT;
        c->is_client_error = side == GRPC_CLIENT;
        return;
    }
    c->is_fault = status == FW_STATUS_ERROR;
}

/* ---- Dependencies ------------------------------------------------------ */

/* AWS services called through the SDK (rpc.system "aws-api"), by
 * rpc.service, with the canonical node name and type. Services missing
 * here keep their rpc.service as name and are "external". */
static const struct {
    const char *name;
    fw_dep_type type;
} aws_services[] = {
    {"DynamoDB", FW_DEP_DATABASE},      {"S3", FW_DEP_DATABASE},
    {"Timestream", FW_DEP_DATABASE},    {"Keyspaces", FW_DEP_DATABASE},
    {"SimpleDB", FW_DEP_DATABASE},      {"RDSData", FW_DEP_DATABASE},
    {"SQS", FW_DEP_MESSAGING},          {"SNS", FW_DEP_MESSAGING},
    {"Kinesis", FW_DEP_MESSAGING},      {"Firehose", FW_DEP_MESSAGING},
    {"EventBridge", FW_DEP_MESSAGING},  {"BedrockRuntime", FW_DEP_MODEL},
    {"SageMakerRuntime", FW_DEP_MODEL},
};

static int aws_service_index(fw_str name)
{
    if (!str_present(name)) return -1;
    for (size_t i = 0; i < sizeof aws_services / sizeof aws_services[0]; i++)
        if (alnum_ieq(name, aws_services[i].name)) return (int)i;
    return -1;
}

static bool is_cache_system(fw_str db)
{
    return fw_str_ieq(db, "redis") || fw_str_ieq(db, "memcached") || fw_str_ieq(db, "valkey");
}

static void dependency(fw_span_class *c, const attr_slots *sl)
{
    bool aws = fw_str_ieq(c->rpc_system, "aws-api");
    int aws_idx = aws ? aws_service_index(c->rpc_service) : -1;
    if (aws_idx < 0) aws_idx = aws_service_index(c->db_system); /* db.system "dynamodb" */
    bool gen_ai = str_present(c->gen_ai_system) || str_present(slot_str(sl, K_GENAI_OPERATION));

    /* Type: what kind of thing is called, whatever it is named. */
    if (gen_ai)
        c->dep_type = FW_DEP_MODEL;
    else if (str_present(c->messaging_system))
        c->dep_type = FW_DEP_MESSAGING;
    else if (is_cache_system(c->db_system))
        c->dep_type = FW_DEP_CACHE;
    else if (str_present(c->db_system))
        c->dep_type = FW_DEP_DATABASE;
    else if (aws_idx >= 0)
        c->dep_type = aws_services[aws_idx].type;
    else
        c->dep_type = FW_DEP_EXTERNAL;

    /* Name, by preference (SPEC 5). */
    if (str_present(c->peer_service))
        c->dep_name = c->peer_service;
    else if (aws_idx >= 0)
        c->dep_name = fw_str_from(aws_services[aws_idx].name);
    else if (aws && str_present(c->rpc_service))
        c->dep_name = c->rpc_service;
    else if (str_present(c->db_system))
        c->dep_name = c->db_system;
    else if (str_present(c->rpc_service))
        c->dep_name = c->rpc_service;
    else if (str_present(c->gen_ai_system))
        c->dep_name = c->gen_ai_system;
    else if (str_present(c->messaging_system))
        c->dep_name = c->messaging_system;
    else if (str_present(c->server_address))
        c->dep_name = c->server_address;

    if (!str_present(c->dep_name)) {
        c->dep_name = FW_STR_NULL;
        c->dep_type = FW_DEP_NONE;
    }
}

const char *fw_dep_type_name(fw_dep_type t)
{
    switch (t) {
    case FW_DEP_DATABASE: return "database";
    case FW_DEP_CACHE: return "cache";
    case FW_DEP_MESSAGING: return "messaging";
    case FW_DEP_MODEL: return "model";
    case FW_DEP_EXTERNAL: return "external";
    case FW_DEP_NONE: break;
    }
    return "none";
}

size_t fw_semconv_broker_name(fw_str system, fw_str destination, char *out, size_t outsz)
{
    size_t n = 0;
    if (!out || outsz == 0) return 0;
    out[0] = '\0';
    if (!str_present(system)) return 0;
    for (size_t i = 0; i < system.len && n + 1 < outsz; i++) out[n++] = system.ptr[i];
    if (str_present(destination) && n + 1 < outsz) {
        out[n++] = '/';
        for (size_t i = 0; i < destination.len && n + 1 < outsz; i++) out[n++] = destination.ptr[i];
    }
    out[n] = '\0';
    return n;
}

/* ---- Spans ----------------------------------------------------------- */

/* Bounds the per-span work on hostile input (a span with thousands of
 * events): only the first events are inspected for exceptions. */
#define MAX_EXCEPTION_EVENTS 16u

/* String attribute of a small list (exception events); FW_STR_NULL when
 * absent, empty or not a string. */
static fw_str attr_str(const fw_attrs *a, const char *key)
{
    fw_str v = fw_attrs_get_str(a, key);
    return str_present(v) ? v : FW_STR_NULL;
}

void fw_semconv_span_classify(const fw_span *s, const fw_throttle_rules *rules, fw_span_class *out)
{
    attr_slots sl;
    fw_span_class *c = out;
    memset(c, 0, sizeof *c);
    slots_fill(&s->attrs, &sl);
    c->http_status = http_status_of(&sl);
    c->http_method = slot_str2(&sl, K_HTTP_METHOD, K_HTTP_METHOD_OLD);
    c->http_route = slot_str(&sl, K_HTTP_ROUTE);
    c->retry_after_s = retry_after_of(&sl);
    c->rpc_system = slot_str2(&sl, K_RPC_SYSTEM, K_RPC_SYSTEM_OLD);
    c->rpc_service = slot_str(&sl, K_RPC_SERVICE);
    c->rpc_method = slot_str(&sl, K_RPC_METHOD);
    c->grpc_status = grpc_status_of(&sl, c->rpc_system);
    c->db_system = slot_str2(&sl, K_DB_SYSTEM, K_DB_SYSTEM_OLD);
    c->db_operation = slot_str2(&sl, K_DB_OPERATION, K_DB_OPERATION_OLD);
    c->messaging_system = slot_str(&sl, K_MSG_SYSTEM);
    c->messaging_destination = slot_str2(&sl, K_MSG_DEST, K_MSG_DEST_OLD);
    c->peer_service = slot_str(&sl, K_PEER_SERVICE);
    c->server_address = slot_str2(&sl, K_SERVER_ADDRESS, K_NET_PEER_NAME);
    if (!str_present(c->server_address))
        c->server_address = url_host(slot_str2(&sl, K_URL_FULL, K_HTTP_URL));
    c->gen_ai_system = slot_str2(&sl, K_GENAI_PROVIDER, K_GENAI_SYSTEM);
    c->error_type = slot_str(&sl, K_ERROR_TYPE);
    c->instance = instance_of(s->resource);

    /* Exception events (bounded), then span attributes. */
    const fw_attrs *exc[MAX_EXCEPTION_EVENTS];
    size_t nexc = 0;
    for (size_t i = 0; s->events && i < s->n_events && nexc < MAX_EXCEPTION_EVENTS; i++)
        if (fw_str_eq(s->events[i].name, "exception")) exc[nexc++] = &s->events[i].attrs;
    for (size_t i = 0; i < nexc && !str_present(c->exception_type); i++) {
        c->exception_type = attr_str(exc[i], "exception.type");
        c->exception_message = attr_str(exc[i], "exception.message");
    }
    if (!str_present(c->exception_type) && !str_present(c->exception_message)) {
        c->exception_type = slot_str(&sl, K_EXC_TYPE);
        c->exception_message = slot_str(&sl, K_EXC_MESSAGE);
    }

    verdicts(c, s->status_code);

    if (s->kind == FW_SPAN_KIND_CLIENT || s->kind == FW_SPAN_KIND_PRODUCER) dependency(c, &sl);

    /* Throttling: status codes, then types, then messages, then named
     * attributes; the first match is kept as evidence. */
    fw_throttle_match *m = &c->throttle;
    bool t = match_number(rules, FW_THROTTLE_F_HTTP_STATUS, c->http_status, m) ||
             match_number(rules, FW_THROTTLE_F_GRPC_STATUS, c->grpc_status, m);
    for (size_t i = 0; !t && i < nexc; i++)
        t = match_text(rules, FW_THROTTLE_F_EXCEPTION_TYPE, attr_str(exc[i], "exception.type"), m);
    if (!t) t = match_text(rules, FW_THROTTLE_F_EXCEPTION_TYPE, slot_str(&sl, K_EXC_TYPE), m);
    if (!t) t = match_text(rules, FW_THROTTLE_F_ERROR_TYPE, c->error_type, m);
    for (size_t i = 0; !t && i < nexc; i++)
        t = match_text(rules, FW_THROTTLE_F_EXCEPTION_MESSAGE,
                       attr_str(exc[i], "exception.message"), m);
    if (!t) t = match_text(rules, FW_THROTTLE_F_EXCEPTION_MESSAGE, slot_str(&sl, K_EXC_MESSAGE), m);
    if (!t) t = match_text(rules, FW_THROTTLE_F_STATUS_MESSAGE, s->status_message, m);
    if (!t) {
        const fw_attrs *lists[1 + MAX_EXCEPTION_EVENTS];
        lists[0] = &s->attrs;
        if (nexc) memcpy(&lists[1], exc, nexc * sizeof exc[0]);
        t = match_attrs(rules, lists, 1 + nexc, m);
    }
    c->is_throttled = t;
    if (!t) memset(m, 0, sizeof *m);
}

/* ---- Log records --------------------------------------------------------- */

/* Map bodies: only this many top-level values are inspected. */
#define MAX_BODY_FIELDS 32u

void fw_semconv_log_classify(const fw_log_record *r, const fw_throttle_rules *rules,
                             fw_log_class *out)
{
    attr_slots sl;
    fw_log_class *c = out;
    memset(c, 0, sizeof *c);
    if (r->severity_number >= 17) {
        c->is_error = true;
    } else if (r->severity_number == 0) {
        static const char *const err_texts[] = {"err", "fatal", "crit", "alert", "emerg"};
        for (size_t i = 0; i < sizeof err_texts / sizeof err_texts[0]; i++)
            if (fw_str_istarts(r->severity_text, err_texts[i])) c->is_error = true;
    }
    slots_fill(&r->attrs, &sl);
    c->http_status = http_status_of(&sl);
    c->exception_type = slot_str(&sl, K_EXC_TYPE);
    c->exception_message = slot_str(&sl, K_EXC_MESSAGE);
    c->error_type = slot_str(&sl, K_ERROR_TYPE);
    c->instance = instance_of(r->resource);

    fw_throttle_match *m = &c->throttle;
    int32_t grpc = grpc_status_of(&sl, slot_str2(&sl, K_RPC_SYSTEM, K_RPC_SYSTEM_OLD));
    bool t = match_number(rules, FW_THROTTLE_F_HTTP_STATUS, c->http_status, m) ||
             match_number(rules, FW_THROTTLE_F_GRPC_STATUS, grpc, m);
    if (!t) t = match_text(rules, FW_THROTTLE_F_EXCEPTION_TYPE, c->exception_type, m);
    if (!t) t = match_text(rules, FW_THROTTLE_F_ERROR_TYPE, c->error_type, m);
    if (!t) t = match_text(rules, FW_THROTTLE_F_EXCEPTION_MESSAGE, c->exception_message, m);
    if (!t && r->body.type == FW_VALUE_STRING)
        t = match_text(rules, FW_THROTTLE_F_LOG_BODY, r->body.u.str, m);
    if (!t && r->body.type == FW_VALUE_KVLIST && r->body.u.kvlist.items) {
        for (size_t i = 0; !t && i < r->body.u.kvlist.n && i < MAX_BODY_FIELDS; i++) {
            const fw_value *v = &r->body.u.kvlist.items[i].value;
            if (v->type == FW_VALUE_STRING)
                t = match_text(rules, FW_THROTTLE_F_LOG_BODY, v->u.str, m);
        }
    }
    if (!t) {
        const fw_attrs *lists[1] = {&r->attrs};
        t = match_attrs(rules, lists, 1, m);
    }
    c->is_throttled = t;
    if (!t) memset(m, 0, sizeof *m);
}

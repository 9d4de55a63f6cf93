/* patterns.c - log pattern mining of patterns.h: a masking tokenizer, and
 * per service a Drain parse tree (token count, then the first prefix_tokens
 * tokens, then leaves of clusters compared by the share of equal tokens),
 * each cluster with its template, a ring of 1-minute event-time buckets,
 * first/last seen, an example, the highest severity and recent trace ids.
 * Owns every cap of the module (services, patterns, tokens, line bytes,
 * memory); never allocates past memory_limit except one overflow pattern
 * per service, and never calls a visitor without a shard lock held
 * (visitors must not call back in).
 *
 * Policies:
 * - Tokens: split on ASCII whitespace and control bytes; a quote at a token
 *   start or after = : { [ , extends the token to its closing quote. Only
 *   the first line (up to '\n') and the first max_line bytes are mined.
 * - Tree keys: a token holding a digit walks the "<*>" child, so ids that
 *   survive masking do not explode the tree; a node with max_children
 *   children sends new tokens to its "<*>" child (Drain).
 * - Similarity: equal non-wildcard tokens / token count; the best cluster
 *   at or above the threshold wins (ties: more wildcards); merging turns
 *   every differing position into "<*>".
 * - Buckets: slot (minute % n) holds one minute; a line older than the
 *   minute its slot holds counts in the totals only. */
#include "flywheel/patterns.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS 16u
/* Masked line scratch: masks can grow a token (1 -> <NUM>). */
#define LINE_SCRATCH 16384u
/* A masked token longer than this is a payload, not a word: "<*>". */
#define TOKEN_MAX 256u
/* Service names are cut here. */
#define SERVICE_MAX 256u
#define WILD        "<*>"
#define WILD_LEN    3u
#define TRUNC_MARK  "<...>"

typedef struct pat_slot {
    uint32_t minute; /* event minute held; valid when count > 0 */
    uint32_t count;
} pat_slot;

struct pat_node;

typedef struct pat_cluster {
    struct pat_node *leaf; /* NULL for the overflow pattern */
    size_t index;          /* position in its service's clusters[] */
    char *tmpl;            /* tokens joined by one space, NUL-terminated */
    size_t tmpl_len;
    uint16_t *tok; /* [2 * ntok]: offset, length of each token in tmpl */
    size_t ntok;
    size_t nwild;
    uint64_t total;
    uint64_t first_seen, last_seen;
    int32_t max_sev;
    bool overflow;
    uint8_t ntrace;
    uint8_t trace[FW_PATTERNS_TRACE_IDS][FW_TRACE_ID_LEN]; /* newest first */
    char *example;
    size_t example_len;
    pat_slot *ring; /* [nbuckets] */
    size_t mem;     /* bytes counted for this cluster */
} pat_cluster;

typedef struct pat_node {
    struct pat_node *parent; /* NULL for a token-count node */
    char *token;             /* NULL for a token-count node */
    size_t token_len;
    struct pat_node **kids;
    size_t nkids, capkids;
    pat_cluster **clusters; /* leaves only */
    size_t nclusters, capclusters;
} pat_node;

typedef struct pat_service {
    struct pat_service *next; /* shard chain */
    uint64_t hash;
    char *name;
    size_t name_len;
    pat_node **by_len;      /* [max_tokens + 1] */
    pat_cluster **clusters; /* all, overflow included */
    size_t nclusters, capclusters;
    size_t nregular; /* clusters minus the overflow one */
    pat_cluster *overflow;
} pat_service;

typedef struct pat_shard {
    pthread_mutex_t mu;
    pat_service **buckets;
    size_t nbuckets; /* power of two */
    size_t nservices;
} pat_shard;

struct fw_patterns {
    fw_patterns_config cfg;
    size_t nbuckets; /* ring slots per pattern */
    pat_shard shards[SHARDS];
    _Atomic uint64_t mem;
    _Atomic uint64_t services;
    _Atomic uint64_t patterns;
    _Atomic uint64_t lines, ignored, truncated, overflowed, dropped, expired;
};

/* ---- small helpers ---- */

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
#define FNV_SEED 0xcbf29ce484222325ull

static void mem_add(fw_patterns *p, size_t n)
{
    atomic_fetch_add_explicit(&p->mem, (uint64_t)n, memory_order_relaxed);
}

static void mem_sub(fw_patterns *p, size_t n)
{
    atomic_fetch_sub_explicit(&p->mem, (uint64_t)n, memory_order_relaxed);
}

static bool mem_room(fw_patterns *p, size_t n)
{
    return atomic_load_explicit(&p->mem, memory_order_relaxed) + n <= p->cfg.memory_limit;
}

static void bump(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_sep(char c)
{
    return (unsigned char)c <= 0x20 || c == 0x7f;
}

/* Is |c| one of |set|? (strchr alone would match the NUL byte.) */
static bool in_set(char c, const char *set)
{
    return c != '\0' && strchr(set, c) != NULL;
}

static bool has_digit(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (is_digit(s[i])) return true;
    return false;
}

static bool all_digits(const char *s, size_t n)
{
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i])) return false;
    return true;
}

/* ---- masking ---- */

typedef enum mask_kind {
    MASK_NONE = 0,
    MASK_NUM,
    MASK_HEX,
    MASK_UUID,
    MASK_IP,
    MASK_TS,
    MASK_EMAIL
} mask_kind;

static const char *const mask_text[] = {"", "<NUM>", "<HEX>", "<UUID>", "<IP>", "<TS>", "<EMAIL>"};

static bool is_uuid(const char *s, size_t n)
{
    if (n != 36) return false;
    for (size_t i = 0; i < n; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return false;
        } else if (!is_hex(s[i])) {
            return false;
        }
    }
    return true;
}

/* dddd-dd-dd or dddd/dd/dd: returns its length (10) or 0. */
static size_t date_len(const char *s, size_t n)
{
    if (n < 10 || !all_digits(s, 4) || (s[4] != '-' && s[4] != '/') || s[7] != s[4] ||
        !all_digits(s + 5, 2) || !all_digits(s + 8, 2))
        return 0;
    return 10;
}

/* hh:mm[:ss[.,frac]][Z|+hh[:mm]|-hh[:mm]] is the whole of [s, s+n). */
static bool is_time(const char *s, size_t n)
{
    if (n < 5 || !all_digits(s, 2) || s[2] != ':' || !all_digits(s + 3, 2)) return false;
    size_t i = 5;
    if (i < n && s[i] == ':') {
        if (n < i + 3 || !all_digits(s + i + 1, 2)) return false;
        i += 3;
        if (i < n && (s[i] == '.' || s[i] == ',')) {
            size_t j = i + 1;
            while (j < n && is_digit(s[j])) j++;
            if (j == i + 1) return false;
            i = j;
        }
    }
    if (i == n) return true;
    if (s[i] == 'Z' || s[i] == 'z') return i + 1 == n;
    if (s[i] == '+' || s[i] == '-') {
        size_t rest = n - i - 1;
        const char *o = s + i + 1;
        return (rest == 2 && all_digits(o, 2)) || (rest == 4 && all_digits(o, 4)) ||
               (rest == 5 && all_digits(o, 2) && o[2] == ':' && all_digits(o + 3, 2));
    }
    return false;
}

static bool is_timestamp(const char *s, size_t n)
{
    size_t d = date_len(s, n);
    if (d) {
        if (d == n) return true;
        return (s[d] == 'T' || s[d] == 't' || s[d] == ' ' || s[d] == '_') &&
               is_time(s + d + 1, n - d - 1);
    }
    return is_time(s, n);
}

static bool is_port(const char *s, size_t n)
{
    return n >= 1 && n <= 5 && all_digits(s, n);
}

static bool is_ipv4(const char *s, size_t n)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        size_t j = i;
        unsigned v = 0;
        while (j < n && is_digit(s[j]) && j - i < 3) v = v * 10u + (unsigned)(s[j++] - '0');
        if (j == i || v > 255u || (j < n && is_digit(s[j]))) return false;
        i = j;
        if (part < 3) {
            if (i >= n || s[i] != '.') return false;
            i++;
        }
    }
    if (i == n) return true;
    return s[i] == ':' && is_port(s + i + 1, n - i - 1);
}

static bool is_ipv6_core(const char *s, size_t n)
{
    size_t colons = 0, hex = 0;
    bool dbl = false;
    if (n < 2) return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ':') {
            colons++;
            if (i + 1 < n && s[i + 1] == ':') dbl = true;
        } else if (is_hex(s[i])) {
            hex++;
        } else if (s[i] != '.') {
            return false;
        }
    }
    return colons >= 2 && colons <= 7 && hex > 0 && (dbl || colons == 7);
}

static bool is_ip(const char *s, size_t n)
{
    if (is_ipv4(s, n)) return true;
    if (n > 2 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close) return false;
        size_t in = (size_t)(close - s) - 1;
        size_t after = n - in - 2;
        if (!is_ipv6_core(s + 1, in)) return false;
        return after == 0 || (close[1] == ':' && is_port(close + 2, after - 1));
    }
    return is_ipv6_core(s, n);
}

static bool is_email(const char *s, size_t n)
{
    const char *at = memchr(s, '@', n);
    if (!at || at == s) return false;
    size_t local = (size_t)(at - s);
    for (size_t i = 0; i < local; i++) {
        char c = s[i];
        if (!is_alpha(c) && !is_digit(c) && !in_set(c, "._%+-")) return false;
    }
    size_t dlen = n - local - 1;
    const char *d = at + 1;
    bool dot = false;
    if (dlen < 3 || d[0] == '.' || d[dlen - 1] == '.') return false;
    for (size_t i = 0; i < dlen; i++) {
        char c = d[i];
        if (c == '.')
            dot = true;
        else if (!is_alpha(c) && !is_digit(c) && c != '-')
            return false;
    }
    return dot;
}

/* A number, with an optional short unit ("35ms", "2.5s", "10%"): returns
 * the length of the numeric part (the unit is kept), 0 when not a number. */
static size_t number_len(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) i++;
    size_t d0 = i;
    while (i < n && is_digit(s[i])) i++;
    if (i == d0) return 0;
    while (i + 1 < n && (s[i] == '.' || s[i] == ',') && is_digit(s[i + 1])) {
        i++;
        while (i < n && is_digit(s[i])) i++;
    }
    if (i + 1 < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < n && (s[j] == '-' || s[j] == '+')) j++;
        if (j < n && is_digit(s[j])) {
            while (j < n && is_digit(s[j])) j++;
            i = j;
        }
    }
    size_t num = i;
    if (i == n) return num;
    if (n - i == 1 && s[i] == '%') return num;
    if (n - i > 5) return 0;
    for (; i < n; i++)
        if (!is_alpha(s[i])) return 0;
    return num;
}

static bool is_hex_id(const char *s, size_t n)
{
    if (n >= 3 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        for (size_t i = 2; i < n; i++)
            if (!is_hex(s[i])) return false;
        return true;
    }
    if (n < 8) return false;
    bool digit = false;
    for (size_t i = 0; i < n; i++) {
        if (!is_hex(s[i])) return false;
        digit |= is_digit(s[i]);
    }
    return digit;
}

/* What a whole word is; |*num| gets the numeric prefix length for MASK_NUM
 * (the rest is a unit kept verbatim). */
static mask_kind classify(const char *s, size_t n, size_t *num)
{
    *num = n;
    if (n == 0) return MASK_NONE;
    if (is_uuid(s, n)) return MASK_UUID;
    if (is_timestamp(s, n)) return MASK_TS;
    if (is_ip(s, n)) return MASK_IP;
    if (memchr(s, '@', n) && is_email(s, n)) return MASK_EMAIL;
    if (is_hex_id(s, n) && !all_digits(s, n)) return MASK_HEX;
    size_t k = number_len(s, n);
    if (k) {
        *num = k;
        return MASK_NUM;
    }
    return MASK_NONE;
}

typedef struct tok_out {
    char *buf;
    size_t cap;
    size_t len;
    bool full;
} tok_out;

static void put(tok_out *o, const char *s, size_t n)
{
    if (o->full || o->cap - o->len < n) {
        o->full = true;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void put_str(tok_out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* A word (no affixes): its mask when it is one, else itself. */
static void put_atom(tok_out *o, const char *s, size_t n)
{
    size_t num;
    mask_kind k = classify(s, n, &num);
    if (k == MASK_NONE) {
        put(o, s, n);
        return;
    }
    put_str(o, mask_text[k]);
    if (k == MASK_NUM) put(o, s + num, n - num);
}

/* A value (key=value, path segment, query value): its mask, else <*> when
 * |always| or it holds a digit, else itself. */
static void put_value(tok_out *o, const char *s, size_t n, bool always)
{
    size_t num;
    if (n == 0) return;
    mask_kind k = classify(s, n, &num);
    if (k != MASK_NONE) {
        put_str(o, mask_text[k]);
        if (k == MASK_NUM) put(o, s + num, n - num);
    } else if (always || has_digit(s, n)) {
        put(o, WILD, WILD_LEN);
    } else {
        put(o, s, n);
    }
}

/* A path segment: its mask, <*> for a longer word holding a digit (ids
 * such as "user42"; "v1", "s3" are kept), else itself. */
static void put_segment(tok_out *o, const char *s, size_t n)
{
    size_t num;
    if (classify(s, n, &num) != MASK_NONE)
        put_atom(o, s, n);
    else if (n > 3 && has_digit(s, n))
        put(o, WILD, WILD_LEN);
    else
        put(o, s, n);
}

/* /path/segments?k=v&k2=v2#frag */
static void put_path(tok_out *o, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] != '?' && s[i] != '#') {
        size_t j = i;
        while (j < n && s[j] != '/' && s[j] != '?' && s[j] != '#') j++;
        put_segment(o, s + i, j - i);
        if (j < n && s[j] == '/') {
            put(o, "/", 1);
            j++;
        }
        i = j;
    }
    if (i < n && s[i] == '?') {
        put(o, "?", 1);
        i++;
        while (i < n && s[i] != '#') {
            size_t j = i;
            while (j < n && s[j] != '&' && s[j] != '#') j++;
            const char *eq = memchr(s + i, '=', j - i);
            if (eq) {
                put(o, s + i, (size_t)(eq - (s + i)) + 1);
                put_value(o, eq + 1, (size_t)(s + j - eq - 1), true);
            } else {
                put_segment(o, s + i, j - i);
            }
            if (j < n && s[j] == '&') {
                put(o, "&", 1);
                j++;
            }
            i = j;
        }
    }
    if (i < n && s[i] == '#') put(o, "#" WILD, 1 + WILD_LEN);
}

static void put_url(tok_out *o, const char *s, size_t n, const char *sep)
{
    size_t i = (size_t)(sep - s) + 3;
    put(o, s, i);
    size_t a = i;
    while (i < n && s[i] != '/' && s[i] != '?' && s[i] != '#') i++;
    const char *auth = s + a;
    size_t alen = i - a;
    const char *at = memchr(auth, '@', alen);
    if (at) {
        put(o, WILD "@", WILD_LEN + 1);
        alen -= (size_t)(at - auth) + 1;
        auth = at + 1;
    }
    if (is_ip(auth, alen))
        put_str(o, mask_text[MASK_IP]);
    else
        put(o, auth, alen);
    put_path(o, s + i, n - i);
}

/* Closing quote of the string opening at s[0] (backslash escapes), or NULL. */
static const char *quote_end(const char *s, size_t n)
{
    char q = s[0];
    for (size_t i = 1; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == q)
            return s + i;
    }
    return NULL;
}

/* JSON-ish text inside one token ({"k":"v","n":1}): keys kept, string
 * values <*>, numbers <NUM>. */
static void put_jsonish(tok_out *o, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        char c = s[i];
        if (c == '"') {
            const char *e = quote_end(s + i, n - i);
            size_t j = e ? (size_t)(e - s) + 1 : n;
            if (j < n && s[j] == ':')
                put(o, s + i, j - i);
            else
                put(o, "\"" WILD "\"", WILD_LEN + 2);
            i = j;
        } else if ((is_digit(c) || c == '-') && (i == 0 || in_set(s[i - 1], ":,["))) {
            size_t j = i + 1;
            while (j < n && (is_digit(s[j]) || in_set(s[j], ".eE+-"))) j++;
            if (c == '-' && j == i + 1) {
                put(o, s + i, 1);
            } else {
                put_str(o, mask_text[MASK_NUM]);
            }
            i = j;
        } else {
            put(o, s + i, 1);
            i++;
        }
    }
}

/* Does the word hold `":` (a JSON key)? */
static bool has_json_key(const char *s, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] == '"' && s[i + 1] == ':') return true;
    return false;
}

static bool is_key_char(char c)
{
    return is_alpha(c) || is_digit(c) || c == '_' || c == '.' || c == '-';
}

/* One token: affixes kept, the core masked. */
static void mask_token(tok_out *o, const char *s, size_t n)
{
    size_t b = 0, e = n;
    while (e > 0 && in_set(s[e - 1], ")]}>,;:.!?")) e--;
    if (e > 2 && s[0] == '[' && is_ip(s, e)) { /* [v6]:port */
        put_str(o, mask_text[MASK_IP]);
        put(o, s + e, n - e);
        return;
    }
    while (b < e && in_set(s[b], "([{<")) b++;
    if (b == e) { /* all punctuation */
        put(o, s, n);
        return;
    }
    const char *c = s + b;
    size_t cn = e - b;
    put(o, s, b);
    if ((c[0] == '"' || c[0] == '\'') && cn >= 2 && c[cn - 1] == c[0] &&
        (quote_end(c, cn) == c + cn - 1 || !has_json_key(c, cn))) {
        /* a quoted string (an inner quote such as O'Neil included) */
        if (e < n && s[e] == ':') /* a key: "name": */
            put(o, c, cn);
        else {
            put(o, c, 1);
            put(o, WILD, WILD_LEN);
            put(o, c, 1);
        }
    } else {
        const char *url = NULL;
        const char *eq = memchr(c, '=', cn);
        for (size_t i = 0; i + 2 < cn; i++) {
            if (c[i] == ':' && c[i + 1] == '/' && c[i + 2] == '/') {
                url = c + i;
                break;
            }
        }
        bool key = eq && eq > c;
        for (const char *k = c; key && k < eq; k++) key = is_key_char(*k);
        if (url && url > c && (!eq || url < eq)) {
            put_url(o, c, cn, url);
        } else if (key) {
            put(o, c, (size_t)(eq - c) + 1);
            const char *v = eq + 1;
            size_t vn = cn - (size_t)(v - c);
            if (vn >= 2 && (v[0] == '"' || v[0] == '\'')) {
                put(o, v, 1);
                put(o, WILD, WILD_LEN);
                put(o, v, 1);
            } else {
                put_value(o, v, vn, true);
            }
        } else if (c[0] == '{' || has_json_key(c, cn)) {
            put_jsonish(o, c, cn);
        } else {
            size_t num;
            if (classify(c, cn, &num) != MASK_NONE)
                put_atom(o, c, cn);
            else if (memchr(c, '/', cn))
                put_path(o, c, cn);
            else
                put(o, c, cn);
        }
    }
    put(o, s + e, n - e);
}

typedef struct line_toks {
    char text[LINE_SCRATCH];
    uint16_t off[FW_PATTERNS_MAX_TOKENS_LIMIT];
    uint16_t len[FW_PATTERNS_MAX_TOKENS_LIMIT];
    size_t n;
    bool truncated;
} line_toks;

static bool opens_quote(const char *s, size_t start, size_t j)
{
    return (s[j] == '"' || s[j] == '\'') && (j == start || in_set(s[j - 1], "=:{[,"));
}

/* Tokenizes and masks |body| (first line, max_line bytes) into |lt|. */
static void tokenize(const fw_patterns *p, fw_str body, line_toks *lt)
{
    const char *s = body.ptr;
    size_t n = body.ptr ? body.len : 0;
    size_t i = 0;
    lt->n = 0;
    lt->truncated = false;
    while (i < n && is_sep(s[i])) i++;
    if (i >= n) return;
    const char *nl = memchr(s + i, '\n', n - i);
    if (nl) n = (size_t)(nl - s);
    if (n - i > p->cfg.max_line) {
        n = i + p->cfg.max_line;
        lt->truncated = true;
    }
    tok_out o = {lt->text, sizeof(lt->text), 0, false};
    size_t maxt = p->cfg.max_tokens;
    for (;;) {
        while (i < n && is_sep(s[i])) i++;
        if (i >= n) break;
        if (lt->n + 1 == maxt) {
            /* one slot left: the rest of the line becomes the mark */
            size_t mark = o.len;
            put_str(&o, TRUNC_MARK);
            if (!o.full) {
                lt->off[lt->n] = (uint16_t)mark;
                lt->len[lt->n] = (uint16_t)(o.len - mark);
                lt->n++;
            }
            lt->truncated = true;
            break;
        }
        size_t start = i, j = i;
        while (j < n && !is_sep(s[j])) {
            if (opens_quote(s, start, j)) {
                const char *q = quote_end(s + j, n - j);
                if (q) {
                    j = (size_t)(q - s) + 1;
                    continue;
                }
            }
            j++;
        }
        /* "2024-01-02 12:00:00.123" is one timestamp */
        size_t ls = start; /* "[2024-01-02 12:00:00]": the bracket is kept */
        while (ls < j && in_set(s[ls], "([")) ls++;
        if (j - ls == 10 && date_len(s + ls, 10) && j + 1 < n && s[j] == ' ') {
            size_t k = j + 1;
            while (k < n && !is_sep(s[k])) k++;
            size_t e = k;
            while (e > j + 1 && in_set(s[e - 1], ",;]):")) e--;
            if (is_time(s + j + 1, e - j - 1)) j = k;
        }
        size_t mark = o.len;
        if (j - ls > 10 && date_len(s + ls, 10) && s[ls + 10] == ' ') {
            /* merged date + time: mask as one, keep the punctuation around */
            size_t e = j;
            while (e > ls && in_set(s[e - 1], ",;]):")) e--;
            put(&o, s + start, ls - start);
            put_str(&o, mask_text[MASK_TS]);
            put(&o, s + e, j - e);
        } else {
            mask_token(&o, s + start, j - start);
        }
        if (!o.full && o.len - mark > TOKEN_MAX) {
            o.len = mark;
            put(&o, WILD, WILD_LEN);
        }
        if (o.full) {
            o.len = mark;
            lt->truncated = true;
            break;
        }
        lt->off[lt->n] = (uint16_t)mark;
        lt->len[lt->n] = (uint16_t)(o.len - mark);
        lt->n++;
        i = j;
    }
}

/* ---- tree ---- */

static size_t node_mem(const pat_node *nd)
{
    return sizeof(*nd) + (nd->token ? nd->token_len + 1 : 0) + nd->capkids * sizeof(pat_node *) +
           nd->capclusters * sizeof(pat_cluster *);
}

static void node_free(fw_patterns *p, pat_node *nd)
{
    if (!nd) return;
    for (size_t i = 0; i < nd->nkids; i++) node_free(p, nd->kids[i]);
    mem_sub(p, node_mem(nd));
    free(nd->kids);
    free(nd->clusters);
    free(nd->token);
    free(nd);
}

static pat_node *node_new(fw_patterns *p, pat_node *parent, const char *tok, size_t n)
{
    size_t need = sizeof(pat_node) + (tok ? n + 1 : 0);
    if (!mem_room(p, need)) return NULL;
    pat_node *nd = calloc(1, sizeof(*nd));
    if (!nd) return NULL;
    if (tok) {
        nd->token = malloc(n + 1);
        if (!nd->token) {
            free(nd);
            return NULL;
        }
        memcpy(nd->token, tok, n);
        nd->token[n] = '\0';
        nd->token_len = n;
    }
    nd->parent = parent;
    mem_add(p, need);
    return nd;
}

static pat_node *node_child(const pat_node *nd, const char *tok, size_t n)
{
    for (size_t i = 0; i < nd->nkids; i++) {
        pat_node *k = nd->kids[i];
        if (k->token_len == n && memcmp(k->token, tok, n) == 0) return k;
    }
    return NULL;
}

/* Appends |*slot| to a pointer array of |*cap| entries, growing (counted). */
static bool ptr_push(fw_patterns *p, void ***arr, size_t *n, size_t *cap, void *item)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2u : 4u;
        size_t extra = (ncap - *cap) * sizeof(void *);
        if (!mem_room(p, extra)) return false;
        void **na = realloc(*arr, ncap * sizeof(void *));
        if (!na) return false;
        *arr = na;
        mem_add(p, extra);
        *cap = ncap;
    }
    (*arr)[(*n)++] = item;
    return true;
}

static pat_node *node_add_child(fw_patterns *p, pat_node *nd, const char *tok, size_t n)
{
    pat_node *k = node_new(p, nd, tok, n);
    if (!k) return NULL;
    if (!ptr_push(p, (void ***)&nd->kids, &nd->nkids, &nd->capkids, k)) {
        node_free(p, k);
        return NULL;
    }
    return k;
}

static size_t tree_depth(const fw_patterns *p, size_t ntok)
{
    return ntok < p->cfg.prefix_tokens ? ntok : p->cfg.prefix_tokens;
}

/* The leaf a line's clusters are searched in, or NULL. */
static pat_node *tree_search(const fw_patterns *p, const pat_service *sv, const line_toks *lt)
{
    pat_node *nd = sv->by_len[lt->n];
    size_t depth = tree_depth(p, lt->n);
    for (size_t d = 0; nd && d < depth; d++) {
        const char *t = lt->text + lt->off[d];
        size_t tn = lt->len[d];
        pat_node *k = has_digit(t, tn) ? NULL : node_child(nd, t, tn);
        nd = k ? k : node_child(nd, WILD, WILD_LEN);
    }
    return nd;
}

/* The leaf a new cluster of this line goes to, created as needed (Drain's
 * add rule); NULL when out of memory. */
static pat_node *tree_add(fw_patterns *p, pat_service *sv, const line_toks *lt)
{
    pat_node *nd = sv->by_len[lt->n];
    if (!nd) {
        nd = node_new(p, NULL, NULL, 0);
        if (!nd) return NULL;
        sv->by_len[lt->n] = nd;
    }
    size_t depth = tree_depth(p, lt->n);
    size_t maxk = p->cfg.max_children;
    for (size_t d = 0; d < depth; d++) {
        const char *t = lt->text + lt->off[d];
        size_t tn = lt->len[d];
        pat_node *k = NULL;
        if (has_digit(t, tn)) {
            k = node_child(nd, WILD, WILD_LEN);
            if (!k) k = node_add_child(p, nd, WILD, WILD_LEN);
        } else if ((k = node_child(nd, t, tn)) != NULL) {
            /* exact child */
        } else if (node_child(nd, WILD, WILD_LEN)) {
            k = nd->nkids < maxk ? node_add_child(p, nd, t, tn) : node_child(nd, WILD, WILD_LEN);
        } else if (nd->nkids + 1 < maxk) {
            k = node_add_child(p, nd, t, tn);
        } else {
            k = node_add_child(p, nd, WILD, WILD_LEN);
        }
        if (!k) return NULL;
        nd = k;
    }
    return nd;
}

/* Removes empty nodes from |nd| up; clears the service's token-count slot. */
static void tree_prune(fw_patterns *p, pat_service *sv, pat_node *nd, size_t ntok)
{
    while (nd && nd->nkids == 0 && nd->nclusters == 0) {
        pat_node *parent = nd->parent;
        if (parent) {
            for (size_t i = 0; i < parent->nkids; i++) {
                if (parent->kids[i] == nd) {
                    parent->kids[i] = parent->kids[--parent->nkids];
                    break;
                }
            }
        } else {
            sv->by_len[ntok] = NULL;
        }
        node_free(p, nd);
        nd = parent;
    }
}

/* ---- clusters ---- */

static size_t cluster_tok_len(const pat_cluster *c, size_t i, const char **out)
{
    *out = c->tmpl + c->tok[2 * i];
    return c->tok[2 * i + 1];
}

static bool tok_is_wild(const char *t, size_t n)
{
    return n == WILD_LEN && memcmp(t, WILD, WILD_LEN) == 0;
}

/* Equal non-wildcard tokens / count. */
static double similarity(const pat_cluster *c, const line_toks *lt)
{
    size_t eq = 0;
    for (size_t i = 0; i < lt->n; i++) {
        const char *t;
        size_t tn = cluster_tok_len(c, i, &t);
        if (tok_is_wild(t, tn)) continue;
        if (tn == lt->len[i] && memcmp(t, lt->text + lt->off[i], tn) == 0) eq++;
    }
    return (double)eq / (double)lt->n;
}

/* Sets the template from |n| tokens (each a slice); counted. */
static int cluster_set_template(fw_patterns *p, pat_cluster *c, const char *const *tp,
                                const size_t *tl, size_t n)
{
    size_t len = 0, nwild = 0;
    for (size_t i = 0; i < n; i++) {
        len += tl[i] + (i ? 1u : 0u);
        nwild += tok_is_wild(tp[i], tl[i]);
    }
    if (len > UINT16_MAX) return FW_ERR_TOO_LARGE;
    char *t = malloc(len + 1);
    uint16_t *tok = malloc((n ? n : 1) * 2u * sizeof(uint16_t));
    if (!t || !tok) {
        free(t);
        free(tok);
        return FW_ERR_NOMEM;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i) t[o++] = ' ';
        tok[2 * i] = (uint16_t)o;
        tok[2 * i + 1] = (uint16_t)tl[i];
        memcpy(t + o, tp[i], tl[i]);
        o += tl[i];
    }
    t[o] = '\0';
    size_t old = c->tmpl ? c->tmpl_len + 1 + c->ntok * 2u * sizeof(uint16_t) : 0;
    size_t neu = len + 1 + n * 2u * sizeof(uint16_t);
    free(c->tmpl);
    free(c->tok);
    c->tmpl = t;
    c->tmpl_len = len;
    c->tok = tok;
    c->ntok = n;
    c->nwild = nwild;
    c->mem = c->mem - old + neu;
    mem_sub(p, old);
    mem_add(p, neu);
    return 0;
}

/* Turns every position where |lt| differs into <*>. */
static void cluster_merge(fw_patterns *p, pat_cluster *c, const line_toks *lt)
{
    const char *tp[FW_PATTERNS_MAX_TOKENS_LIMIT];
    size_t tl[FW_PATTERNS_MAX_TOKENS_LIMIT];
    bool changed = false;
    for (size_t i = 0; i < c->ntok; i++) {
        tl[i] = cluster_tok_len(c, i, &tp[i]);
        if (!tok_is_wild(tp[i], tl[i]) &&
            (tl[i] != lt->len[i] || memcmp(tp[i], lt->text + lt->off[i], tl[i]) != 0)) {
            tp[i] = WILD;
            tl[i] = WILD_LEN;
            changed = true;
        }
    }
    /* out of memory keeps the older, narrower template: counts still go here */
    if (changed) (void)cluster_set_template(p, c, tp, tl, c->ntok);
}

static void cluster_free(fw_patterns *p, pat_cluster *c)
{
    if (!c) return;
    mem_sub(p, c->mem);
    free(c->tmpl);
    free(c->tok);
    free(c->example);
    free(c->ring);
    free(c);
}

/* Cuts at |max| bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max) return n;
    size_t k = max;
    while (k > 0 && ((unsigned char)s[k] & 0xC0u) == 0x80u) k--;
    return k;
}

static pat_cluster *cluster_new(fw_patterns *p, const line_toks *lt, fw_str example, bool overflow)
{
    size_t ex = example.ptr ? utf8_cut(example.ptr, example.len, p->cfg.max_example) : 0;
    size_t ringb = p->nbuckets * sizeof(pat_slot);
    size_t base = sizeof(pat_cluster) + ringb + ex;
    pat_cluster *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->ring = calloc(p->nbuckets, sizeof(pat_slot));
    c->example = malloc(ex ? ex : 1);
    if (!c->ring || !c->example) {
        free(c->ring);
        free(c->example);
        free(c);
        return NULL;
    }
    if (ex) memcpy(c->example, example.ptr, ex);
    c->example_len = ex;
    c->mem = base;
    mem_add(p, base);
    c->overflow = overflow;
    int rv;
    if (overflow) {
        const char *tp[1] = {FW_PATTERNS_OVERFLOW_TEMPLATE};
        size_t tl[1] = {sizeof(FW_PATTERNS_OVERFLOW_TEMPLATE) - 1};
        rv = cluster_set_template(p, c, tp, tl, 1);
    } else {
        const char *tp[FW_PATTERNS_MAX_TOKENS_LIMIT];
        size_t tl[FW_PATTERNS_MAX_TOKENS_LIMIT];
        for (size_t i = 0; i < lt->n; i++) {
            tp[i] = lt->text + lt->off[i];
            tl[i] = lt->len[i];
        }
        rv = cluster_set_template(p, c, tp, tl, lt->n);
    }
    if (rv) {
        cluster_free(p, c);
        return NULL;
    }
    atomic_fetch_add_explicit(&p->patterns, 1, memory_order_relaxed);
    return c;
}

static void cluster_count(fw_patterns *p, pat_cluster *c, int32_t sev, uint64_t t,
                          const uint8_t *trace_id)
{
    c->total++;
    if (sev > c->max_sev) c->max_sev = sev;
    if (t) {
        if (!c->first_seen || t < c->first_seen) c->first_seen = t;
        if (t > c->last_seen) c->last_seen = t;
        uint64_t m64 = t / FW_PATTERNS_BUCKET_NS;
        uint32_t m = m64 > UINT32_MAX ? UINT32_MAX : (uint32_t)m64;
        pat_slot *sl = &c->ring[m % p->nbuckets];
        if (sl->count == 0 || sl->minute < m) {
            sl->minute = m;
            sl->count = 1;
        } else if (sl->minute == m && sl->count < UINT32_MAX) {
            sl->count++;
        }
    }
    if (trace_id && !fw_id_is_zero(trace_id, FW_TRACE_ID_LEN)) {
        size_t at = c->ntrace;
        for (size_t i = 0; i < c->ntrace; i++)
            if (memcmp(c->trace[i], trace_id, FW_TRACE_ID_LEN) == 0) at = i;
        if (at == c->ntrace && c->ntrace < FW_PATTERNS_TRACE_IDS) c->ntrace++;
        if (at >= FW_PATTERNS_TRACE_IDS) at = FW_PATTERNS_TRACE_IDS - 1;
        memmove(c->trace[1], c->trace[0], at * FW_TRACE_ID_LEN);
        memcpy(c->trace[0], trace_id, FW_TRACE_ID_LEN);
    }
}

/* ---- services ---- */

static size_t service_mem(const fw_patterns *p, const pat_service *sv)
{
    return sizeof(*sv) + sv->name_len + 1 + (p->cfg.max_tokens + 1) * sizeof(pat_node *) +
           sv->capclusters * sizeof(pat_cluster *);
}

static void service_free(fw_patterns *p, pat_service *sv)
{
    if (!sv) return;
    for (size_t i = 0; i < sv->nclusters; i++) cluster_free(p, sv->clusters[i]);
    atomic_fetch_sub_explicit(&p->patterns, sv->nclusters, memory_order_relaxed);
    for (size_t i = 0; i <= p->cfg.max_tokens; i++) node_free(p, sv->by_len[i]);
    mem_sub(p, service_mem(p, sv));
    free(sv->by_len);
    free(sv->clusters);
    free(sv->name);
    free(sv);
}

static pat_service *service_find(pat_shard *sh, uint64_t h, const char *name, size_t n)
{
    if (!sh->buckets) return NULL;
    for (pat_service *sv = sh->buckets[h & (sh->nbuckets - 1u)]; sv; sv = sv->next)
        if (sv->hash == h && sv->name_len == n && memcmp(sv->name, name, n) == 0) return sv;
    return NULL;
}

static bool shard_grow(fw_patterns *p, pat_shard *sh)
{
    size_t ncap = sh->nbuckets ? sh->nbuckets * 2u : 8u;
    size_t bytes = ncap * sizeof(pat_service *);
    if (!mem_room(p, bytes)) return false;
    pat_service **nb = calloc(ncap, sizeof(*nb));
    if (!nb) return false;
    for (size_t i = 0; i < sh->nbuckets; i++) {
        pat_service *sv = sh->buckets[i];
        while (sv) {
            pat_service *next = sv->next;
            size_t b = sv->hash & (ncap - 1u);
            sv->next = nb[b];
            nb[b] = sv;
            sv = next;
        }
    }
    mem_sub(p, sh->nbuckets * sizeof(pat_service *));
    mem_add(p, bytes);
    free(sh->buckets);
    sh->buckets = nb;
    sh->nbuckets = ncap;
    return true;
}

static pat_service *service_add(fw_patterns *p, pat_shard *sh, uint64_t h, const char *name,
                                size_t n)
{
    uint64_t cur = atomic_load_explicit(&p->services, memory_order_relaxed);
    do {
        if (cur >= p->cfg.max_services) return NULL;
    } while (!atomic_compare_exchange_weak_explicit(&p->services, &cur, cur + 1,
                                                    memory_order_relaxed, memory_order_relaxed));
    pat_service *sv = NULL;
    size_t need = sizeof(*sv) + n + 1 + (p->cfg.max_tokens + 1) * sizeof(pat_node *);
    if ((sh->nservices >= sh->nbuckets && !shard_grow(p, sh)) || !mem_room(p, need)) goto fail;
    sv = calloc(1, sizeof(*sv));
    if (!sv) goto fail;
    sv->name = malloc(n + 1);
    sv->by_len = calloc(p->cfg.max_tokens + 1, sizeof(pat_node *));
    if (!sv->name || !sv->by_len) goto fail_sv;
    memcpy(sv->name, name, n);
    sv->name[n] = '\0';
    sv->name_len = n;
    sv->hash = h;
    mem_add(p, need);
    size_t b = h & (sh->nbuckets - 1u);
    sv->next = sh->buckets[b];
    sh->buckets[b] = sv;
    sh->nservices++;
    return sv;

fail_sv:
    free(sv->name);
    free(sv->by_len);
    free(sv);
fail:
    atomic_fetch_sub_explicit(&p->services, 1, memory_order_relaxed);
    return NULL;
}

static bool service_push_cluster(fw_patterns *p, pat_service *sv, pat_cluster *c)
{
    c->index = sv->nclusters;
    return ptr_push(p, (void ***)&sv->clusters, &sv->nclusters, &sv->capclusters, c);
}

/* Removes cluster |c| from its leaf (pruning) and its service. */
static void service_drop_cluster(fw_patterns *p, pat_service *sv, pat_cluster *c)
{
    pat_node *leaf = c->leaf;
    if (leaf) {
        for (size_t i = 0; i < leaf->nclusters; i++) {
            if (leaf->clusters[i] == c) {
                leaf->clusters[i] = leaf->clusters[--leaf->nclusters];
                break;
            }
        }
        tree_prune(p, sv, leaf, c->ntok);
        sv->nregular--;
    } else {
        sv->overflow = NULL;
    }
    size_t i = c->index;
    sv->clusters[i] = sv->clusters[--sv->nclusters];
    sv->clusters[i]->index = i;
    cluster_free(p, c);
    atomic_fetch_sub_explicit(&p->patterns, 1, memory_order_relaxed);
}

/* ---- lifecycle ---- */

int fw_patterns_new(const fw_patterns_config *cfg, fw_patterns **out)
{
    *out = NULL;
    fw_patterns_config c = cfg ? *cfg : (fw_patterns_config){0};
    if (!c.retention_ns) c.retention_ns = FW_PATTERNS_RETENTION_DEFAULT_NS;
    if (!c.max_services) c.max_services = FW_PATTERNS_MAX_SERVICES_DEFAULT;
    if (!c.max_patterns) c.max_patterns = FW_PATTERNS_MAX_PATTERNS_DEFAULT;
    if (!c.max_tokens) c.max_tokens = FW_PATTERNS_MAX_TOKENS_DEFAULT;
    if (!c.max_line) c.max_line = FW_PATTERNS_MAX_LINE_DEFAULT;
    if (!c.max_example) c.max_example = FW_PATTERNS_EXAMPLE_DEFAULT;
    if (!c.memory_limit) c.memory_limit = FW_PATTERNS_MEMORY_DEFAULT;
    if (c.similarity == 0.0) c.similarity = FW_PATTERNS_SIMILARITY_DEFAULT;
    if (!c.prefix_tokens) c.prefix_tokens = FW_PATTERNS_PREFIX_DEFAULT;
    if (!c.max_children) c.max_children = FW_PATTERNS_MAX_CHILDREN_DEFAULT;
    if (c.max_tokens < 2 || c.max_tokens > FW_PATTERNS_MAX_TOKENS_LIMIT ||
        c.max_line > FW_PATTERNS_MAX_LINE_LIMIT || !(c.similarity > 0.0 && c.similarity <= 1.0) ||
        c.prefix_tokens > 4 || c.max_children < 2 || c.max_example > 65536u ||
        c.retention_ns / FW_PATTERNS_BUCKET_NS > 100000u)
        return FW_ERR_CONFIG;

    fw_patterns *p = calloc(1, sizeof(*p));
    if (!p) return FW_ERR_NOMEM;
    p->cfg = c;
    p->nbuckets =
        (size_t)((c.retention_ns + FW_PATTERNS_BUCKET_NS - 1u) / FW_PATTERNS_BUCKET_NS) + 1u;
    unsigned i = 0;
    for (; i < SHARDS; i++)
        if (pthread_mutex_init(&p->shards[i].mu, NULL) != 0) goto fail_mutex;
    *out = p;
    return 0;

fail_mutex:
    while (i-- > 0) pthread_mutex_destroy(&p->shards[i].mu);
    free(p);
    return FW_ERR_NOMEM;
}

void fw_patterns_free(fw_patterns *p)
{
    if (!p) return;
    for (unsigned i = 0; i < SHARDS; i++) {
        pat_shard *sh = &p->shards[i];
        for (size_t b = 0; b < sh->nbuckets; b++) {
            pat_service *sv = sh->buckets[b];
            while (sv) {
                pat_service *next = sv->next;
                service_free(p, sv);
                sv = next;
            }
        }
        free(sh->buckets);
        pthread_mutex_destroy(&sh->mu);
    }
    free(p);
}

/* ---- observe ---- */

static fw_str service_of(fw_str service)
{
    if (!service.ptr || service.len == 0) return FW_STR_LIT("unknown_service");
    if (service.len > SERVICE_MAX) service.len = utf8_cut(service.ptr, service.len, SERVICE_MAX);
    return service;
}

/* Bytes a new cluster of |lt| may take with its new tree nodes. */
static size_t cluster_estimate(const fw_patterns *p, const line_toks *lt)
{
    size_t tmpl = lt->n * (1u + 2u * sizeof(uint16_t));
    for (size_t i = 0; i < lt->n; i++) tmpl += lt->len[i];
    return sizeof(pat_cluster) + p->nbuckets * sizeof(pat_slot) + p->cfg.max_example + tmpl +
           (p->cfg.prefix_tokens + 1u) * (sizeof(pat_node) + 64u);
}

static void observe_locked(fw_patterns *p, pat_service *sv, const line_toks *lt, fw_str body,
                           int32_t sev, uint64_t t, const uint8_t *trace_id)
{
    pat_cluster *best = NULL;
    pat_node *leaf = tree_search(p, sv, lt);
    if (leaf) {
        double best_sim = -1.0;
        for (size_t i = 0; i < leaf->nclusters; i++) {
            pat_cluster *c = leaf->clusters[i];
            double sim = similarity(c, lt);
            if (sim > best_sim || (sim == best_sim && best && c->nwild > best->nwild)) {
                best_sim = sim;
                best = c;
            }
        }
        if (best && best_sim < p->cfg.similarity) best = NULL;
    }
    if (best) {
        cluster_merge(p, best, lt);
    } else if (sv->nregular < p->cfg.max_patterns && mem_room(p, cluster_estimate(p, lt))) {
        pat_cluster *c = cluster_new(p, lt, body, false);
        pat_node *at = c ? tree_add(p, sv, lt) : NULL;
        if (at && ptr_push(p, (void ***)&at->clusters, &at->nclusters, &at->capclusters, c)) {
            if (service_push_cluster(p, sv, c)) {
                c->leaf = at;
                sv->nregular++;
                best = c;
            } else {
                at->nclusters--;
                tree_prune(p, sv, at, lt->n);
                cluster_free(p, c);
                atomic_fetch_sub_explicit(&p->patterns, 1, memory_order_relaxed);
            }
        } else if (c) {
            if (at) tree_prune(p, sv, at, lt->n);
            cluster_free(p, c);
            atomic_fetch_sub_explicit(&p->patterns, 1, memory_order_relaxed);
        }
    }
    if (!best) {
        if (!sv->overflow) {
            /* admitted past memory_limit: one per service (see patterns.h) */
            pat_cluster *c = cluster_new(p, NULL, body, true);
            if (c && service_push_cluster(p, sv, c)) {
                sv->overflow = c;
            } else if (c) {
                cluster_free(p, c);
                atomic_fetch_sub_explicit(&p->patterns, 1, memory_order_relaxed);
            }
        }
        best = sv->overflow;
        if (!best) {
            bump(&p->dropped);
            return;
        }
        bump(&p->overflowed);
    }
    cluster_count(p, best, sev, t, trace_id);
    bump(&p->lines);
}

void fw_patterns_observe(fw_patterns *p, fw_str service, fw_str body, int32_t severity_number,
                         uint64_t time_ns, const uint8_t *trace_id)
{
    line_toks lt;
    tokenize(p, body, &lt);
    if (lt.n == 0) {
        bump(&p->ignored);
        return;
    }
    if (lt.truncated) bump(&p->truncated);
    if (severity_number < 0 || severity_number > 24) severity_number = 0;
    service = service_of(service);
    uint64_t h = fnv1a(FNV_SEED, service.ptr, service.len);
    pat_shard *sh = &p->shards[(h >> 32) % SHARDS];
    pthread_mutex_lock(&sh->mu);
    pat_service *sv = service_find(sh, h, service.ptr, service.len);
    if (!sv) sv = service_add(p, sh, h, service.ptr, service.len);
    if (sv)
        observe_locked(p, sv, &lt, body, severity_number, time_ns, trace_id);
    else
        bump(&p->dropped);
    pthread_mutex_unlock(&sh->mu);
}

int fw_patterns_mask(const fw_patterns *p, fw_str body, fw_buf *out)
{
    line_toks *lt = malloc(sizeof(*lt));
    if (!lt) return FW_ERR_NOMEM;
    tokenize(p, body, lt);
    int rv = 0;
    for (size_t i = 0; !rv && i < lt->n; i++) {
        if (i) rv = fw_buf_append(out, " ", 1);
        if (!rv) rv = fw_buf_append(out, lt->text + lt->off[i], lt->len[i]);
    }
    free(lt);
    return rv;
}

/* ---- expire ---- */

void fw_patterns_expire(fw_patterns *p, uint64_t now_ns)
{
    if (now_ns <= p->cfg.retention_ns) return;
    uint64_t cutoff = now_ns - p->cfg.retention_ns;
    for (unsigned s = 0; s < SHARDS; s++) {
        pat_shard *sh = &p->shards[s];
        pthread_mutex_lock(&sh->mu);
        for (size_t b = 0; b < sh->nbuckets; b++) {
            pat_service **link = &sh->buckets[b];
            while (*link) {
                pat_service *sv = *link;
                for (size_t i = sv->nclusters; i-- > 0;) {
                    pat_cluster *c = sv->clusters[i];
                    if (c->last_seen < cutoff) {
                        service_drop_cluster(p, sv, c);
                        bump(&p->expired);
                    }
                }
                if (sv->nclusters == 0) {
                    *link = sv->next;
                    sh->nservices--;
                    service_free(p, sv);
                    atomic_fetch_sub_explicit(&p->services, 1, memory_order_relaxed);
                } else {
                    link = &sv->next;
                }
            }
        }
        pthread_mutex_unlock(&sh->mu);
    }
}

/* ---- query ---- */

typedef struct pat_hit {
    const pat_service *sv;
    const pat_cluster *c;
    uint64_t count, baseline;
    uint64_t id;
} pat_hit;

static uint64_t pattern_id(const pat_service *sv, const pat_cluster *c)
{
    uint64_t h = fnv1a(FNV_SEED, sv->name, sv->name_len);
    h = fnv1a(h, "\n", 1);
    return fnv1a(h, c->tmpl, c->tmpl_len);
}

static bool slot_in(const pat_slot *sl, uint64_t from, uint64_t to)
{
    uint64_t start = (uint64_t)sl->minute * FW_PATTERNS_BUCKET_NS;
    return sl->count && start < to && start + FW_PATTERNS_BUCKET_NS > from;
}

static int hit_cmp(const void *pa, const void *pb)
{
    const pat_hit *a = pa, *b = pb;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    if (a->baseline != b->baseline) return a->baseline > b->baseline ? -1 : 1;
    return a->id < b->id ? -1 : (a->id > b->id);
}

static bool seen_before(const fw_patterns *p, const pat_cluster *c, uint64_t from)
{
    uint64_t lo = from > p->cfg.retention_ns ? from - p->cfg.retention_ns : 0;
    if (c->first_seen && c->first_seen < from && c->first_seen >= lo) return true;
    for (size_t i = 0; i < p->nbuckets; i++) {
        const pat_slot *sl = &c->ring[i];
        uint64_t start = (uint64_t)sl->minute * FW_PATTERNS_BUCKET_NS;
        if (sl->count && start + FW_PATTERNS_BUCKET_NS <= from &&
            start + FW_PATTERNS_BUCKET_NS > lo)
            return true;
    }
    return false;
}

static int collect(const fw_patterns *p, const fw_patterns_query *q, const pat_service *sv,
                   pat_hit **hits, size_t *n, size_t *cap)
{
    bool baseline = q->baseline_to_ns > q->baseline_from_ns;
    for (size_t i = 0; i < sv->nclusters; i++) {
        const pat_cluster *c = sv->clusters[i];
        uint64_t cnt = 0, base = 0;
        for (size_t k = 0; k < p->nbuckets; k++) {
            const pat_slot *sl = &c->ring[k];
            if (!sl->count) continue;
            if (slot_in(sl, q->from_ns, q->to_ns)) cnt += sl->count;
            if (baseline && slot_in(sl, q->baseline_from_ns, q->baseline_to_ns)) base += sl->count;
        }
        if (cnt == 0 && !(q->include_absent && base > 0)) continue;
        if (*n == *cap) {
            size_t ncap = *cap ? *cap * 2u : 64u;
            pat_hit *nh = realloc(*hits, ncap * sizeof(*nh));
            if (!nh) return FW_ERR_NOMEM;
            *hits = nh;
            *cap = ncap;
        }
        (*hits)[(*n)++] = (pat_hit){sv, c, cnt, base, pattern_id(sv, c)};
    }
    return 0;
}

int fw_patterns_query_run(fw_patterns *p, const fw_patterns_query *q, fw_patterns_visit visit,
                          void *ctx, size_t *visited)
{
    if (visited) *visited = 0;
    if (q->to_ns <= q->from_ns) return FW_ERR_INVALID;
    unsigned lo = 0, hi = SHARDS;
    uint64_t h = 0;
    fw_str svc = FW_STR_NULL;
    if (q->service) {
        svc = service_of(fw_str_from(q->service));
        h = fnv1a(FNV_SEED, svc.ptr, svc.len);
        lo = (unsigned)((h >> 32) % SHARDS);
        hi = lo + 1u;
    }
    for (unsigned i = lo; i < hi; i++) pthread_mutex_lock(&p->shards[i].mu);

    int rv = 0;
    pat_hit *hits = NULL;
    size_t n = 0, cap = 0;
    for (unsigned i = lo; !rv && i < hi; i++) {
        pat_shard *sh = &p->shards[i];
        if (q->service) {
            const pat_service *sv = service_find(sh, h, svc.ptr, svc.len);
            if (sv) rv = collect(p, q, sv, &hits, &n, &cap);
            continue;
        }
        for (size_t b = 0; !rv && b < sh->nbuckets; b++)
            for (const pat_service *sv = sh->buckets[b]; !rv && sv; sv = sv->next)
                rv = collect(p, q, sv, &hits, &n, &cap);
    }
    if (!rv && n > 1) qsort(hits, n, sizeof(*hits), hit_cmp);
    size_t lim = q->limit && q->limit < n ? q->limit : n;
    for (size_t i = 0; !rv && i < lim; i++) {
        const pat_hit *ht = &hits[i];
        const pat_cluster *c = ht->c;
        fw_pattern_info pi = {
            .id = ht->id,
            .service = {ht->sv->name, ht->sv->name_len},
            .template_text = {c->tmpl, c->tmpl_len},
            .example = {c->example, c->example_len},
            .count = ht->count,
            .baseline_count = ht->baseline,
            .total = c->total,
            .first_seen_ns = c->first_seen,
            .last_seen_ns = c->last_seen,
            .max_severity = c->max_sev,
            .is_new = !seen_before(p, c, q->from_ns),
            .overflow = c->overflow,
            .n_trace_ids = c->ntrace,
        };
        memcpy(pi.trace_ids, c->trace, sizeof(pi.trace_ids));
        if (visited) (*visited)++;
        if (visit(ctx, &pi)) break;
    }
    for (unsigned i = hi; i-- > lo;) pthread_mutex_unlock(&p->shards[i].mu);
    free(hits);
    return rv;
}

void fw_patterns_get_stats(fw_patterns *p, fw_patterns_stats *out)
{
    out->lines = atomic_load_explicit(&p->lines, memory_order_relaxed);
    out->ignored = atomic_load_explicit(&p->ignored, memory_order_relaxed);
    out->truncated = atomic_load_explicit(&p->truncated, memory_order_relaxed);
    out->overflow = atomic_load_explicit(&p->overflowed, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&p->dropped, memory_order_relaxed);
    out->expired = atomic_load_explicit(&p->expired, memory_order_relaxed);
    out->services = atomic_load_explicit(&p->services, memory_order_relaxed);
    out->patterns = atomic_load_explicit(&p->patterns, memory_order_relaxed);
    out->memory_used = atomic_load_explicit(&p->mem, memory_order_relaxed);
}

/* ---- body text and severities ---- */

static bool needs_quotes(fw_str s)
{
    if (s.len == 0) return true;
    for (size_t i = 0; i < s.len; i++)
        if (is_sep(s.ptr[i]) || s.ptr[i] == '"' || s.ptr[i] == '=') return true;
    return false;
}

int fw_patterns_body_text(const fw_value *body, fw_buf *scratch, fw_str *text)
{
    *text = (fw_str){"", 0};
    fw_buf_reset(scratch);
    int rv = 0;
    switch (body->type) {
    case FW_VALUE_STRING:
        if (body->u.str.ptr) *text = body->u.str;
        return 0;
    case FW_VALUE_EMPTY:
    case FW_VALUE_BYTES: return 0;
    case FW_VALUE_KVLIST: {
        static const char *const keys[] = {"message", "msg", "log"};
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
            for (size_t i = 0; i < body->u.kvlist.n; i++) {
                const fw_attr *a = &body->u.kvlist.items[i];
                if (a->value.type == FW_VALUE_STRING && fw_str_eq(a->key, keys[k])) {
                    *text = a->value.u.str.ptr ? a->value.u.str : (fw_str){"", 0};
                    return 0;
                }
            }
        }
        for (size_t i = 0; !rv && i < body->u.kvlist.n; i++) {
            const fw_attr *a = &body->u.kvlist.items[i];
            size_t mark = scratch->len;
            if (i) rv = fw_buf_append(scratch, " ", 1);
            if (!rv && a->key.len) rv = fw_buf_append(scratch, a->key.ptr, a->key.len);
            if (!rv) rv = fw_buf_append(scratch, "=", 1);
            if (!rv && a->value.type == FW_VALUE_STRING && !needs_quotes(a->value.u.str))
                rv = fw_buf_append(scratch, a->value.u.str.ptr, a->value.u.str.len);
            else if (!rv)
                rv = fw_value_to_json(&a->value, scratch);
            if (rv == FW_ERR_TOO_LARGE) scratch->len = mark;
        }
        break;
    }
    default: rv = fw_value_to_json(body, scratch); break;
    }
    if (rv && rv != FW_ERR_TOO_LARGE) {
        fw_buf_reset(scratch);
        return rv;
    }
    /* a rendering cut at the max is still mined */
    *text = (fw_str){scratch->data ? (const char *)scratch->data : "", scratch->len};
    return 0;
}

int32_t fw_patterns_severity_parse(fw_str s)
{
    static const struct {
        const char *name;
        int32_t num;
    } names[] = {{"trace", 1},    {"debug", 5},  {"info", 9},  {"warn", 13},
                 {"warning", 13}, {"error", 17}, {"fatal", 21}};
    if (!s.ptr || s.len == 0) return 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (fw_str_ieq(s, names[i].name)) return names[i].num;
    if (s.len <= 2 && all_digits(s.ptr, s.len)) {
        int32_t v = s.ptr[0] - '0';
        if (s.len == 2) v = v * 10 + (s.ptr[1] - '0');
        return v >= 1 && v <= 24 ? v : 0;
    }
    return 0;
}

const char *fw_patterns_severity_name(int32_t n)
{
    static const char *const names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
    if (n < 1 || n > 24) return "";
    return names[(n - 1) / 4];
}

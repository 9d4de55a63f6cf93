/* client.c - the API client subcommands of the flywheel command line:
 * `flywheel investigate` and `flywheel investigations` (SPEC 7), over a
 * minimal HTTP/1.1 client (one request per TCP connection, bounded
 * response). Talks only to the server given by --server; never runs an
 * analysis itself. */
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli_internal.h"

#define CLIENT_DEFAULT_SERVER "http://127.0.0.1:4320"
/* Largest response read: an investigation object is well under this. */
#define CLIENT_RESP_MAX (16u * 1024u * 1024u)
#define CLIENT_IO_TIMEOUT_MS 30000
#define CLIENT_WAIT_DEFAULT_S 300

typedef struct http_target {
    char host[256];
    char port[8];
    char prefix[256]; /* path prefix of the server URL, without a trailing '/' */
} http_target;

typedef struct http_reply {
    int status;
    char *body; /* malloc'd, NUL-terminated */
    size_t body_len;
} http_reply;

/* http://HOST[:PORT][/PREFIX]; false with a message on stderr. */
static bool parse_server(const char *cmd, const char *url, http_target *t)
{
    memset(t, 0, sizeof(*t));
    if (strncmp(url, "http://", 7) != 0) {
        fprintf(stderr, "flywheel %s: --server: must start with http:// (got '%s')\n", cmd, url);
        return false;
    }
    const char *h = url + 7, *slash = strchr(h, '/');
    size_t hp = slash ? (size_t)(slash - h) : strlen(h);
    const char *colon = NULL;
    if (hp > 0 && h[0] == '[') { /* [v6]:port */
        const char *rb = memchr(h, ']', hp);
        if (!rb)
            goto bad;
        if ((size_t)(rb - h - 1) >= sizeof(t->host))
            goto bad;
        memcpy(t->host, h + 1, (size_t)(rb - h - 1));
        colon = (rb + 1 < h + hp && rb[1] == ':') ? rb + 1 : NULL;
    } else {
        colon = memchr(h, ':', hp);
        size_t hl = colon ? (size_t)(colon - h) : hp;
        if (hl == 0 || hl >= sizeof(t->host))
            goto bad;
        memcpy(t->host, h, hl);
    }
    if (colon) {
        size_t pl = (size_t)(h + hp - colon - 1);
        if (pl == 0 || pl >= sizeof(t->port))
            goto bad;
        memcpy(t->port, colon + 1, pl);
        for (size_t i = 0; i < pl; i++)
            if (t->port[i] < '0' || t->port[i] > '9')
                goto bad;
    } else {
        memcpy(t->port, "80", 3);
    }
    if (slash) {
        size_t n = strlen(slash);
        while (n > 0 && slash[n - 1] == '/')
            n--;
        if (n >= sizeof(t->prefix))
            goto bad;
        memcpy(t->prefix, slash, n);
    }
    return true;
bad:
    fprintf(stderr, "flywheel %s: --server: malformed URL '%s' (expected http://HOST:PORT)\n",
            cmd, url);
    return false;
}

static int connect_to(const http_target *t, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(t->host, t->port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %.100s: %s", t->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errlen, "cannot connect to %.100s:%s: %s", t->host, t->port,
                 strerror(saved ? saved : ECONNREFUSED));
    return fd;
}

static bool wait_fd(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    int rc;
    do
        rc = poll(&p, 1, CLIENT_IO_TIMEOUT_MS);
    while (rc < 0 && errno == EINTR);
    return rc > 0;
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        if (!wait_fd(fd, POLLOUT))
            return false;
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Decodes a chunked body in place; false when malformed. */
static bool dechunk(char *b, size_t len, size_t *out_len)
{
    size_t in = 0, out = 0;
    for (;;) {
        size_t size = 0, digits = 0;
        while (in < len) {
            char c = b[in];
            int v = c >= '0' && c <= '9' ? c - '0'
                    : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10
                                                             : -1;
            if (v < 0)
                break;
            if (size > (SIZE_MAX >> 4))
                return false;
            size = size * 16u + (size_t)v;
            in++;
            digits++;
        }
        if (!digits)
            return false;
        const char *eol = memchr(b + in, '\n', len - in); /* skips chunk extensions */
        if (!eol)
            return false;
        in = (size_t)(eol - b) + 1;
        if (size == 0)
            break;
        if (size > len - in)
            return false;
        memmove(b + out, b + in, size);
        out += size;
        in += size;
        if (in < len && b[in] == '\r')
            in++;
        if (in < len && b[in] == '\n')
            in++;
    }
    *out_len = out;
    return true;
}

/* One request; the reply's body is malloc'd. Returns 0 or -1 (|err| says why). */
static int http_call(const http_target *t, const char *method, const char *path,
                     const char *body, http_reply *reply, char *err, size_t errlen)
{
    memset(reply, 0, sizeof(*reply));
    int fd = connect_to(t, err, errlen);
    if (fd < 0)
        return -1;
    size_t blen = body ? strlen(body) : 0;
    char head[1024];
    int hn = snprintf(head, sizeof(head),
                      "%s %s%s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: flywheel/" FW_VERSION
                      "\r\nAccept: application/json\r\nConnection: close\r\n"
                      "%sContent-Length: %zu\r\n\r\n",
                      method, t->prefix, path, t->host, t->port,
                      body ? "Content-Type: application/json\r\n" : "", blen);
    char *buf = NULL;
    int rv = -1;
    if (hn < 0 || (size_t)hn >= sizeof(head)) {
        snprintf(err, errlen, "request too long");
        goto out;
    }
    if (!send_all(fd, head, (size_t)hn) || (blen && !send_all(fd, body, blen))) {
        snprintf(err, errlen, "cannot send the request: %s", strerror(errno));
        goto out;
    }
    size_t cap = 64u * 1024u, len = 0;
    buf = malloc(cap + 1);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (;;) {
        if (len == cap) {
            if (cap >= CLIENT_RESP_MAX) {
                snprintf(err, errlen, "response larger than %u bytes", CLIENT_RESP_MAX);
                goto out;
            }
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                snprintf(err, errlen, "out of memory");
                goto out;
            }
            buf = nb;
            cap *= 2;
        }
        if (!wait_fd(fd, POLLIN)) {
            snprintf(err, errlen, "timed out waiting for the server");
            goto out;
        }
        ssize_t r = recv(fd, buf + len, cap - len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "cannot read the response: %s", strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    char *hdr_end = strstr(buf, "\r\n\r\n");
    int status = 0;
    if (!hdr_end || sscanf(buf, "HTTP/1.%*d %3d", &status) != 1 || status < 100) {
        snprintf(err, errlen, "malformed HTTP response from the server");
        goto out;
    }
    *hdr_end = '\0';
    char *b = hdr_end + 4;
    size_t bl = len - (size_t)(b - buf);
    bool chunked = false;
    for (char *line = strstr(buf, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "transfer-encoding:", 18) == 0 &&
            strstr(line + 2, "chunked"))
            chunked = true;
    }
    if (chunked && !dechunk(b, bl, &bl)) {
        snprintf(err, errlen, "malformed chunked response from the server");
        goto out;
    }
    memmove(buf, b, bl);
    buf[bl] = '\0';
    reply->status = status;
    reply->body = buf;
    reply->body_len = bl;
    buf = NULL;
    rv = 0;
out:
    free(buf);
    close(fd);
    return rv;
}

/* ---- output ---- */

static const char *jstr(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

static void print_error_reply(const char *cmd, const http_reply *r)
{
    json_error_t jerr;
    json_t *j = json_loadb(r->body, r->body_len, 0, &jerr);
    const char *msg = j ? jstr(j, "error", NULL) : NULL;
    fprintf(stderr, "flywheel %s: server answered %d: %.300s\n", cmd, r->status,
            msg ? msg : (r->body_len ? r->body : "(no body)"));
    json_decref(j);
}

static void print_investigation(FILE *f, const json_t *inv)
{
    const json_t *scope = json_object_get(inv, "scope");
    fprintf(f, "Investigation %s: %s\n", jstr(inv, "id", "?"), jstr(inv, "status", "?"));
    fprintf(f, "  scope: %s%s%s  from %s to %s\n", jstr(scope, "service", "?"),
            json_is_string(json_object_get(scope, "operation")) ? " / " : "",
            jstr(scope, "operation", ""), jstr(scope, "from", "?"), jstr(scope, "to", "?"));
    if (json_is_string(json_object_get(scope, "onset")))
        fprintf(f, "  onset: %s\n", jstr(scope, "onset", ""));
    const json_t *imp = json_object_get(inv, "impact");
    if (json_is_object(imp) && json_object_size(imp) > 0) {
        json_t *req = json_object_get(imp, "requests"), *fail = json_object_get(imp, "failed_requests");
        fprintf(f, "  impact: %lld requests, %lld failed, error rate %.2f%% (baseline %.2f%%), "
                   "p99 %.1f ms (baseline %.1f ms)\n",
                json_is_integer(req) ? (long long)json_integer_value(req) : 0LL,
                json_is_integer(fail) ? (long long)json_integer_value(fail) : 0LL,
                100.0 * json_number_value(json_object_get(imp, "error_rate")),
                100.0 * json_number_value(json_object_get(imp, "baseline_error_rate")),
                json_number_value(json_object_get(imp, "p99_ms")),
                json_number_value(json_object_get(imp, "baseline_p99_ms")));
    }
    if (!strcmp(jstr(inv, "status", ""), "failed"))
        fprintf(f, "  error: %s\n", jstr(inv, "error", "?"));
    const json_t *hs = json_object_get(inv, "hypotheses");
    size_t nh = json_array_size(hs);
    if (nh == 0 && !strcmp(jstr(inv, "status", ""), "complete"))
        fprintf(f, "  no hypothesis: the evidence points at no cause\n");
    for (size_t i = 0; i < nh && i < 5; i++) {
        const json_t *h = json_array_get(hs, i);
        const json_t *c = json_object_get(h, "component");
        fprintf(f, "\n  #%zu  %s  [%s, score %.2f, confidence %s]\n", i + 1,
                jstr(h, "title", "(untitled)"), jstr(h, "cause", "?"),
                json_number_value(json_object_get(h, "score")), jstr(h, "confidence", "?"));
        fprintf(f, "      component: %s", jstr(c, "service", "?"));
        if (json_is_string(json_object_get(c, "operation")))
            fprintf(f, " / %s", jstr(c, "operation", ""));
        if (json_is_string(json_object_get(c, "dependency")))
            fprintf(f, ", dependency %s", jstr(c, "dependency", ""));
        if (json_is_string(json_object_get(c, "version")))
            fprintf(f, ", version %s", jstr(c, "version", ""));
        if (json_is_string(json_object_get(c, "instance")))
            fprintf(f, ", instance %s", jstr(c, "instance", ""));
        fputc('\n', f);
        if (json_is_string(json_object_get(h, "what_happened")))
            fprintf(f, "      %s\n", jstr(h, "what_happened", ""));
        const json_t *ev = json_object_get(h, "evidence");
        for (size_t k = 0; k < json_array_size(ev) && k < 4; k++)
            fprintf(f, "      - %s: %s\n", jstr(json_array_get(ev, k), "kind", "?"),
                    jstr(json_array_get(ev, k), "summary", ""));
        const json_t *acts = json_object_get(h, "suggested_actions");
        for (size_t k = 0; k < json_array_size(acts) && k < 4; k++)
            fprintf(f, "      > %s\n", json_string_value(json_array_get(acts, k))
                                           ? json_string_value(json_array_get(acts, k))
                                           : "");
    }
    const json_t *gaps = json_object_get(inv, "monitoring_gaps");
    if (json_array_size(gaps) > 0) {
        fprintf(f, "\n  monitoring gaps:\n");
        for (size_t i = 0; i < json_array_size(gaps) && i < 10; i++)
            fprintf(f, "  - %s\n", jstr(json_array_get(gaps, i), "summary", ""));
    }
}

/* ---- flags ---- */

/* "--name VALUE" or "--name=VALUE" at argv[*i]; advances *i. */
static bool flag_value(int argc, char **argv, int *i, const char *name, const char **out)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return false;
    if (a[n] == '=') {
        *out = a + n + 1;
        return true;
    }
    if (a[n] != '\0')
        return false;
    if (*i + 1 >= argc) {
        *out = NULL;
        return true;
    }
    *out = argv[++*i];
    return true;
}

static int usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "flywheel %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see flywheel %s --help)\n", cmd);
    return FW_EXIT_USAGE;
}

static void print_investigate_help(FILE *f)
{
    fputs("Usage: flywheel investigate --service S [--operation O] [--from T] [--to T]\n"
          "                            [--title TEXT] [--wait] [--timeout SECONDS]\n"
          "                            [--json] [--server URL]\n"
          "\n"
          "Starts an investigation on a running flywheel server (POST /api/v1/investigations)\n"
          "and prints its id. With --wait, polls until it completes and prints the ranked\n"
          "hypotheses with their evidence and suggested actions.\n"
          "\n"
          "Flags:\n"
          "  --service S        the service whose symptom is investigated (required)\n"
          "  --operation O      narrow the scope to one operation (span name / route)\n"
          "  --from T, --to T   the window: RFC 3339 time or unix nanoseconds\n"
          "                     (default: the 30 minutes before now)\n"
          "  --title TEXT       a title for the investigation\n"
          "  --wait             wait for the result and print a summary\n"
          "  --timeout SECONDS  how long --wait waits (default 300)\n"
          "  --json             print the server's JSON instead of a summary\n"
          "  --server URL       the server's API (default " CLIENT_DEFAULT_SERVER ")\n"
          "  -h, --help         this help\n"
          "\n"
          "Exit status: 0 ok, 1 server unreachable, error or failed investigation, 2 usage.\n",
          f);
}

static void print_investigations_help(FILE *f)
{
    fputs("Usage: flywheel investigations [ID] [--limit N] [--json] [--server URL]\n"
          "\n"
          "Lists the investigations of a running flywheel server, newest first\n"
          "(GET /api/v1/investigations), or prints one investigation when ID is given.\n"
          "\n"
          "Flags:\n"
          "  --limit N          at most N investigations (1-1000, default 100)\n"
          "  --json             print the server's JSON instead of a table\n"
          "  --server URL       the server's API (default " CLIENT_DEFAULT_SERVER ")\n"
          "  -h, --help         this help\n"
          "\n"
          "Exit status: 0 ok, 1 server unreachable or error, 2 usage.\n",
          f);
}

static json_t *parse_reply(const char *cmd, const http_reply *r)
{
    json_error_t jerr;
    json_t *j = json_loadb(r->body, r->body_len, 0, &jerr);
    if (!j)
        fprintf(stderr, "flywheel %s: the server's answer is not JSON: %s\n", cmd, jerr.text);
    return j;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static int get_investigation(const char *cmd, const http_target *t, const char *id,
                             http_reply *r)
{
    char path[128], err[256];
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              *p == '-' || *p == '_')) {
            fprintf(stderr, "flywheel %s: malformed investigation id '%.64s'\n", cmd, id);
            return FW_EXIT_USAGE;
        }
    snprintf(path, sizeof(path), "/api/v1/investigations/%.64s", id);
    if (http_call(t, "GET", path, NULL, r, err, sizeof(err))) {
        fprintf(stderr, "flywheel %s: %s\n", cmd, err);
        return FW_EXIT_STARTUP;
    }
    if (r->status != 200) {
        print_error_reply(cmd, r);
        return FW_EXIT_STARTUP;
    }
    return 0;
}

int fw_cli_investigate(int argc, char **argv)
{
    static const char cmd[] = "investigate";
    const char *server = CLIENT_DEFAULT_SERVER, *service = NULL, *operation = NULL;
    const char *from = NULL, *to = NULL, *title = NULL, *timeout_s = NULL, *v = NULL;
    bool wait = false, as_json = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_investigate_help(stdout);
            return FW_EXIT_OK;
        }
        if (!strcmp(a, "--wait")) {
            wait = true;
            continue;
        }
        if (!strcmp(a, "--json")) {
            as_json = true;
            continue;
        }
        const char **slot = NULL;
        if (flag_value(argc, argv, &i, "--server", &v))
            slot = &server;
        else if (flag_value(argc, argv, &i, "--service", &v))
            slot = &service;
        else if (flag_value(argc, argv, &i, "--operation", &v))
            slot = &operation;
        else if (flag_value(argc, argv, &i, "--from", &v))
            slot = &from;
        else if (flag_value(argc, argv, &i, "--to", &v))
            slot = &to;
        else if (flag_value(argc, argv, &i, "--title", &v))
            slot = &title;
        else if (flag_value(argc, argv, &i, "--timeout", &v))
            slot = &timeout_s;
        else
            return usage(cmd, "unknown argument '%s'", a);
        if (!v)
            return usage(cmd, "flag '%s' needs a value", a);
        *slot = v;
    }
    if (!service || !*service)
        return usage(cmd, "%s", "--service is required");
    long timeout = CLIENT_WAIT_DEFAULT_S;
    if (timeout_s) {
        char *end = NULL;
        errno = 0;
        timeout = strtol(timeout_s, &end, 10);
        if (errno || end == timeout_s || *end || timeout < 1 || timeout > 86400)
            return usage(cmd, "--timeout: expected seconds from 1 to 86400, got '%s'", timeout_s);
    }
    http_target t;
    if (!parse_server(cmd, server, &t))
        return FW_EXIT_USAGE;

    json_t *req = json_object();
    int bad = !req || json_object_set_new(req, "service", json_string(service));
    if (!bad && operation)
        bad = json_object_set_new(req, "operation", json_string(operation));
    if (!bad && title)
        bad = json_object_set_new(req, "title", json_string(title));
    /* times go as strings: the server reads RFC 3339 or unix nanoseconds */
    if (!bad && from)
        bad = json_object_set_new(req, "from", json_string(from));
    if (!bad && to)
        bad = json_object_set_new(req, "to", json_string(to));
    char *body = bad ? NULL : json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!body) {
        fprintf(stderr, "flywheel %s: flag values must be UTF-8 text\n", cmd);
        return FW_EXIT_USAGE;
    }
    http_reply r;
    char err[256];
    int rv = http_call(&t, "POST", "/api/v1/investigations", body, &r, err, sizeof(err));
    free(body);
    if (rv) {
        fprintf(stderr, "flywheel %s: %s\n", cmd, err);
        return FW_EXIT_STARTUP;
    }
    if (r.status != 202 && r.status != 200) {
        print_error_reply(cmd, &r);
        free(r.body);
        return FW_EXIT_STARTUP;
    }
    json_t *started = parse_reply(cmd, &r);
    free(r.body);
    if (!started)
        return FW_EXIT_STARTUP;
    char id[64];
    snprintf(id, sizeof(id), "%s", jstr(started, "id", ""));
    json_decref(started);
    if (!id[0]) {
        fprintf(stderr, "flywheel %s: the server answered without an id\n", cmd);
        return FW_EXIT_STARTUP;
    }
    if (!wait) {
        if (as_json)
            printf("{\"id\":\"%s\",\"status\":\"queued\"}\n", id);
        else
            printf("started investigation %s\n(see: flywheel investigations %s)\n", id, id);
        return fflush(stdout) == 0 ? FW_EXIT_OK : FW_EXIT_STARTUP;
    }
    if (!as_json)
        fprintf(stderr, "investigation %s started; waiting for it to complete...\n", id);
    time_t deadline = time(NULL) + timeout;
    for (;;) {
        rv = get_investigation(cmd, &t, id, &r);
        if (rv)
            return rv;
        json_t *inv = parse_reply(cmd, &r);
        if (!inv) {
            free(r.body);
            return FW_EXIT_STARTUP;
        }
        const char *st = jstr(inv, "status", "");
        bool done = !strcmp(st, "complete") || !strcmp(st, "failed");
        if (done || time(NULL) >= deadline) {
            if (as_json)
                printf("%s\n", r.body);
            else
                print_investigation(stdout, inv);
            if (!done)
                fprintf(stderr, "flywheel %s: still %s after %ld s (see: flywheel "
                                "investigations %s)\n",
                        cmd, st, timeout, id);
            rv = done && !strcmp(st, "complete") ? FW_EXIT_OK : FW_EXIT_STARTUP;
            json_decref(inv);
            free(r.body);
            return fflush(stdout) == 0 ? rv : FW_EXIT_STARTUP;
        }
        json_decref(inv);
        free(r.body);
        struct timespec ts = {0, 500000000};
        nanosleep(&ts, NULL);
    }
}

int fw_cli_investigations(int argc, char **argv)
{
    static const char cmd[] = "investigations";
    const char *server = CLIENT_DEFAULT_SERVER, *limit = NULL, *id = NULL, *v = NULL;
    bool as_json = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_investigations_help(stdout);
            return FW_EXIT_OK;
        }
        if (!strcmp(a, "--json")) {
            as_json = true;
            continue;
        }
        const char **slot = NULL;
        if (flag_value(argc, argv, &i, "--server", &v))
            slot = &server;
        else if (flag_value(argc, argv, &i, "--limit", &v))
            slot = &limit;
        if (slot) {
            if (!v)
                return usage(cmd, "flag '%s' needs a value", a);
            *slot = v;
            continue;
        }
        if (a[0] == '-' || id)
            return usage(cmd, "unexpected argument '%s'", a);
        id = a;
    }
    http_target t;
    if (!parse_server(cmd, server, &t))
        return FW_EXIT_USAGE;
    http_reply r;
    if (id) {
        int rv = get_investigation(cmd, &t, id, &r);
        if (rv)
            return rv;
        json_t *inv = parse_reply(cmd, &r);
        if (inv && !as_json)
            print_investigation(stdout, inv);
        else if (inv)
            printf("%s\n", r.body);
        json_decref(inv);
        free(r.body);
        return inv && fflush(stdout) == 0 ? FW_EXIT_OK : FW_EXIT_STARTUP;
    }
    char path[64], err[256];
    if (limit && (!all_digits(limit) || strlen(limit) > 4 || !strcmp(limit, "0")))
        return usage(cmd, "--limit: expected a number from 1 to 1000, got '%s'", limit);
    snprintf(path, sizeof(path), "/api/v1/investigations%s%s", limit ? "?limit=" : "",
             limit ? limit : "");
    if (http_call(&t, "GET", path, NULL, &r, err, sizeof(err))) {
        fprintf(stderr, "flywheel %s: %s\n", cmd, err);
        return FW_EXIT_STARTUP;
    }
    if (r.status != 200) {
        print_error_reply(cmd, &r);
        free(r.body);
        return FW_EXIT_STARTUP;
    }
    json_t *j = parse_reply(cmd, &r);
    if (!j) {
        free(r.body);
        return FW_EXIT_STARTUP;
    }
    if (as_json) {
        printf("%s\n", r.body);
    } else {
        const json_t *arr = json_object_get(j, "investigations");
        if (json_array_size(arr) == 0)
            printf("no investigations\n");
        else
            printf("%-20s  %-8s  %-24s  %-20s  %s\n", "ID", "STATUS", "CREATED", "SERVICE",
                   "TOP HYPOTHESIS");
        for (size_t i = 0; i < json_array_size(arr); i++) {
            const json_t *s = json_array_get(arr, i);
            const json_t *top = json_object_get(s, "top_hypothesis");
            char created[25];
            snprintf(created, sizeof(created), "%.19s", jstr(s, "created_at", "?"));
            char tophyp[160] = "-";
            if (json_is_object(top))
                snprintf(tophyp, sizeof(tophyp), "%s (%s, %.2f)", jstr(top, "title", "?"),
                         jstr(top, "cause", "?"), json_number_value(json_object_get(top, "score")));
            printf("%-20s  %-8s  %-24s  %-20s  %s\n", jstr(s, "id", "?"), jstr(s, "status", "?"),
                   created, jstr(json_object_get(s, "scope"), "service", "?"), tophyp);
        }
    }
    json_decref(j);
    free(r.body);
    return fflush(stdout) == 0 ? FW_EXIT_OK : FW_EXIT_STARTUP;
}

/* ---- shared with the other client subcommands (cli_internal.h) ---- */

int fw__cli_http_get(const char *cmd, const char *server_url, const char *path, int *status,
                     char **body, size_t *body_len)
{
    http_target t;
    if (!parse_server(cmd, server_url ? server_url : CLIENT_DEFAULT_SERVER, &t))
        return -1;
    http_reply r;
    char err[256];
    if (http_call(&t, "GET", path, NULL, &r, err, sizeof(err)) != 0) {
        fprintf(stderr, "flywheel %s: %s:%s: %s\n", cmd, t.host, t.port, err);
        return -1;
    }
    *status = r.status;
    *body = r.body;
    *body_len = r.body_len;
    return 0;
}

int fw__cli_http_call(const char *cmd, const char *server_url, const char *method,
                      const char *path, const char *body, int *status, char **reply_body,
                      size_t *reply_len)
{
    http_target t;
    if (!parse_server(cmd, server_url ? server_url : CLIENT_DEFAULT_SERVER, &t))
        return -1;
    http_reply r;
    char err[256];
    if (http_call(&t, method, path, body, &r, err, sizeof(err)) != 0) {
        fprintf(stderr, "flywheel %s: %s:%s: %s\n", cmd, t.host, t.port, err);
        return -1;
    }
    *status = r.status;
    *reply_body = r.body;
    *reply_len = r.body_len;
    return 0;
}

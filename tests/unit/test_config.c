/* test_config.c - the configuration table: defaults, YAML loading (nested
 * keys, sizes, durations, error messages with line numbers), flag
 * overrides, validation and hostile YAML. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "flywheel/config.h"
#include "flywheel/limits.h"

#define MiB (UINT64_C(1024) * 1024)

static int load(fw_config *c, const char *yaml, char *err, size_t errlen)
{
    return fw_config_load_yaml(c, "test.yaml", yaml, strlen(yaml), err, errlen);
}

static void test_defaults(void **state)
{
    (void)state;
    fw_config c;
    char err[256] = "";
    fw_config_defaults(&c);
    assert_string_equal(c.grpc.listen, "127.0.0.1:4317");
    assert_string_equal(c.http.listen, "127.0.0.1:4318");
    assert_string_equal(c.api.listen, "127.0.0.1:4320");
    assert_string_equal(c.grpc.tls_cert_file, "");
    assert_int_equal(c.grpc_max_recv_msg_bytes, 4 * MiB);
    assert_int_equal(c.http_max_body_bytes, 20 * MiB);
    assert_int_equal(c.api_max_body_bytes, 1 * MiB);
    assert_string_equal(c.data_dir, "./flywheel-data");
    assert_int_equal(c.retention_s, 7200);
    assert_int_equal(c.memory_limit_bytes, 1024 * MiB);
    assert_int_equal(c.store_max_spans, FW_LIMIT_STORE_SPANS_DEFAULT);
    assert_int_equal(c.store_max_logs, FW_LIMIT_STORE_LOGS_DEFAULT);
    assert_int_equal(c.workers, 0);
    assert_int_equal(c.max_connections, FW_LIMIT_CONNECTIONS_DEFAULT);
    assert_int_equal(c.idle_timeout_s, FW_LIMIT_IDLE_TIMEOUT_S);
    assert_int_equal(c.header_timeout_s, FW_LIMIT_HEADER_TIMEOUT_S);
    assert_int_equal(c.h2_max_concurrent_streams, FW_LIMIT_H2_STREAMS_DEFAULT);
    assert_int_equal(c.shutdown_grace_s, 10);
    assert_int_equal(c.log_level, FW_LOG_INFO);
    assert_int_equal(c.log_format, FW_LOG_LOGFMT);
    assert_int_equal(fw_config_validate(&c, err, sizeof err), 0);
}

static void test_yaml_nested_keys(void **state)
{
    (void)state;
    fw_config c;
    char err[256] = "";
    fw_config_defaults(&c);
    const char *yaml = "# comment\n"
                       "otlp_grpc:\n"
                       "  listen: 0.0.0.0:14317\n"
                       "  max_recv_msg_bytes: 8MiB\n"
                       "otlp_http:\n"
                       "  listen: \"[::1]:0\"\n"
                       "storage:\n"
                       "  data_dir: /var/lib/flywheel\n"
                       "  retention: 30m\n"
                       "  memory_limit: 512MiB\n"
                       "server: {workers: 3, idle_timeout: 1h30m}\n"
                       "log.level: debug\n"
                       "log:\n"
                       "  format: json\n";
    assert_int_equal(load(&c, yaml, err, sizeof err), 0);
    assert_string_equal(c.grpc.listen, "0.0.0.0:14317");
    assert_int_equal(c.grpc_max_recv_msg_bytes, 8 * MiB);
    assert_string_equal(c.http.listen, "[::1]:0");
    assert_string_equal(c.data_dir, "/var/lib/flywheel");
    assert_int_equal(c.retention_s, 1800);
    assert_int_equal(c.memory_limit_bytes, 512 * MiB);
    assert_int_equal(c.workers, 3);
    assert_int_equal(c.idle_timeout_s, 5400);
    assert_int_equal(c.log_level, FW_LOG_DEBUG);
    assert_int_equal(c.log_format, FW_LOG_JSON);
    /* Untouched keys keep their values. */
    assert_string_equal(c.api.listen, "127.0.0.1:4320");
    assert_int_equal(fw_config_validate(&c, err, sizeof err), 0);
}

static void test_empty_documents(void **state)
{
    (void)state;
    fw_config c, d;
    char err[256] = "";
    fw_config_defaults(&c);
    fw_config_defaults(&d);
    assert_int_equal(load(&c, "", err, sizeof err), 0);
    assert_int_equal(load(&c, "# only a comment\n", err, sizeof err), 0);
    assert_int_equal(load(&c, "---\n...\n", err, sizeof err), 0);
    assert_int_equal(load(&c, "{}\n", err, sizeof err), 0);
    assert_memory_equal(&c, &d, sizeof c);
}

static void test_sizes(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        uint64_t want;
    } ok[] = {
        {"20MiB", 20 * MiB}, {"1GiB", 1024 * MiB}, {"512KiB", 512 * 1024}, {"4096", 4096},
        {"2 MiB", 2 * MiB},  {"1mib", MiB},        {"3MB", 3000000},       {"2048B", 2048},
    };
    static const char *const bad[] = {"",
                                      "MiB",
                                      "-5",
                                      "1.5MiB",
                                      "20XB",
                                      "0x100",
                                      "12 34",
                                      "99999999999999999999",
                                      "17179869184GiB"};
    char err[256];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        fw_config c;
        fw_config_defaults(&c);
        assert_int_equal(fw_config_set(&c, "otlp_http.max_body_bytes", ok[i].in, err, sizeof err),
                         0);
        assert_int_equal(c.http_max_body_bytes, ok[i].want);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fw_config c;
        fw_config_defaults(&c);
        assert_int_equal(fw_config_set(&c, "otlp_http.max_body_bytes", bad[i], err, sizeof err),
                         FW_ERR_CONFIG);
        assert_int_equal(c.http_max_body_bytes, 20 * MiB);
        assert_non_null(strstr(err, "otlp_http.max_body_bytes: "));
    }
    /* Below and above the bounds. */
    fw_config c;
    fw_config_defaults(&c);
    assert_int_equal(fw_config_set(&c, "otlp_http.max_body_bytes", "10", err, sizeof err),
                     FW_ERR_CONFIG);
    assert_string_equal(err, "otlp_http.max_body_bytes: must be between 1KiB and 1GiB");
    assert_int_equal(fw_config_set(&c, "otlp_http.max_body_bytes", "2GiB", err, sizeof err),
                     FW_ERR_CONFIG);
}

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        uint64_t want;
    } ok[] = {{"2h", 7200},    {"30m", 1800}, {"15s", 15},   {"90", 90},
              {"1h30m", 5400}, {"1d", 86400}, {" 5m ", 300}, {"1m30s", 90}};
    static const char *const bad[] = {
        "", "h", "2x", "500ms", "-1s", "1.5h", "2h-", "s30", "99999999999999999999d"};
    char err[256];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        fw_config c;
        fw_config_defaults(&c);
        assert_int_equal(fw_config_set(&c, "server.idle_timeout", ok[i].in, err, sizeof err), 0);
        assert_int_equal(c.idle_timeout_s, ok[i].want);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fw_config c;
        fw_config_defaults(&c);
        assert_int_equal(fw_config_set(&c, "server.shutdown_grace", bad[i], err, sizeof err),
                         FW_ERR_CONFIG);
        assert_int_equal(c.shutdown_grace_s, 10);
    }
    fw_config c;
    fw_config_defaults(&c);
    assert_int_equal(fw_config_set(&c, "server.shutdown_grace", "500ms", err, sizeof err),
                     FW_ERR_CONFIG);
    assert_string_equal(err, "server.shutdown_grace: sub-second durations are not supported");
    assert_int_equal(fw_config_set(&c, "storage.retention", "10s", err, sizeof err), FW_ERR_CONFIG);
    assert_string_equal(err, "storage.retention: must be between 1m and 90d");
}

static void test_addresses(void **state)
{
    (void)state;
    static const char *const ok[] = {"127.0.0.1:0", "0.0.0.0:65535", "localhost:4317",
                                     "[::]:4317",   "[::1]:0",       "my-host.example:80"};
    static const char *const bad[] = {
        "127.0.0.1", "127.0.0.1:", ":4317",     "127.0.0.1:65536", "127.0.0.1:-1",    "::1:4317",
        "[::1:4317", "[::1]4317",  "host:12ab", "bad host:1",      "127.0.0.1:000001"};
    char err[256];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        fw_config c;
        fw_config_defaults(&c);
        assert_int_equal(fw_config_set(&c, "api.listen", ok[i], err, sizeof err), 0);
        assert_string_equal(c.api.listen, ok[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fw_config c;
        fw_config_defaults(&c);
        if (fw_config_set(&c, "api.listen", bad[i], err, sizeof err) != FW_ERR_CONFIG)
            fail_msg("accepted bad address %s", bad[i]);
        assert_string_equal(c.api.listen, "127.0.0.1:4320");
        assert_non_null(strstr(err, "api.listen: "));
    }
}

static void test_enums_and_strings(void **state)
{
    (void)state;
    fw_config c;
    char err[256];
    fw_config_defaults(&c);
    assert_int_equal(fw_config_set(&c, "log.level", "WARN", err, sizeof err), 0);
    assert_int_equal(c.log_level, FW_LOG_WARN);
    assert_int_equal(fw_config_set(&c, "log.level", "off", err, sizeof err), 0);
    assert_int_equal(c.log_level, FW_LOG_OFF);
    assert_int_equal(fw_config_set(&c, "log.level", "verbose", err, sizeof err), FW_ERR_CONFIG);
    assert_string_equal(err, "log.level: expects one of debug, info, warn, error, off");
    assert_int_equal(fw_config_set(&c, "log.format", "json", err, sizeof err), 0);
    assert_int_equal(c.log_format, FW_LOG_JSON);
    assert_int_equal(fw_config_set(&c, "log.format", "xml", err, sizeof err), FW_ERR_CONFIG);
    assert_int_equal(fw_config_set(&c, "workers", "2", err, sizeof err), FW_ERR_CONFIG);
    assert_non_null(strstr(err, "workers: unknown key"));
    assert_int_equal(fw_config_set(&c, "server.workers", "257", err, sizeof err), FW_ERR_CONFIG);
    assert_int_equal(fw_config_set(&c, "server.workers", "4", err, sizeof err), 0);
    assert_int_equal(c.workers, 4);
    assert_int_equal(fw_config_set(&c, "storage.data_dir", "bad\ndir", err, sizeof err),
                     FW_ERR_CONFIG);
    char huge[FW_CONFIG_STR_MAX + 1];
    memset(huge, 'a', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    assert_int_equal(fw_config_set(&c, "storage.data_dir", huge, err, sizeof err), FW_ERR_CONFIG);
    huge[FW_CONFIG_STR_MAX - 1] = '\0'; /* exactly the longest that fits */
    assert_int_equal(fw_config_set(&c, "storage.data_dir", huge, err, sizeof err), 0);
    assert_int_equal(strlen(c.data_dir), FW_CONFIG_STR_MAX - 1);
}

static void test_error_lines(void **state)
{
    (void)state;
    fw_config c, d;
    char err[256];
    fw_config_defaults(&c);
    fw_config_defaults(&d);
    assert_int_equal(load(&c, "otlp_grpc:\n  listen: 0.0.0.0:1\n  lisen: x\n", err, sizeof err),
                     FW_ERR_CONFIG);
    assert_string_equal(err, "test.yaml:3: otlp_grpc.lisen: unknown key");
    /* A failed load leaves the config untouched, even the keys before the error. */
    assert_memory_equal(&c, &d, sizeof c);

    assert_int_equal(
        load(&c, "storage:\n  retention: 2h\n\n  memory_limit: lots\n", err, sizeof err),
        FW_ERR_CONFIG);
    assert_string_equal(err, "test.yaml:4: storage.memory_limit: expects a size such as 512KiB, "
                             "20MiB, 1GiB or a number of bytes");
    assert_int_equal(load(&c, "nope:\n  a: 1\n", err, sizeof err), FW_ERR_CONFIG);
    assert_string_equal(err, "test.yaml:1: nope: unknown key");
    assert_int_equal(load(&c, "storage: 5\n", err, sizeof err), FW_ERR_CONFIG);
    assert_string_equal(err, "test.yaml:1: storage: expects a mapping of keys");
    assert_int_equal(load(&c, "storage:\n  retention:\n    a: 1\n", err, sizeof err),
                     FW_ERR_CONFIG);
    assert_string_equal(err,
                        "test.yaml:3: storage.retention: expects a single value, not a mapping");
    assert_int_equal(load(&c, "server:\n  workers:\n", err, sizeof err), FW_ERR_CONFIG);
    assert_non_null(strstr(err, "server.workers: value is missing"));
    assert_int_equal(load(&c, "log:\n  level: info\n  level: debug\n", err, sizeof err),
                     FW_ERR_CONFIG);
    assert_string_equal(err, "test.yaml:3: log.level: duplicate key");
    assert_int_equal(load(&c, "- a\n- b\n", err, sizeof err), FW_ERR_CONFIG);
    assert_string_equal(err, "test.yaml:1: the top level must be a mapping of keys");
    assert_int_equal(load(&c, "just a string\n", err, sizeof err), FW_ERR_CONFIG);
    /* Syntax errors carry libyaml's line. */
    assert_int_equal(
        load(&c, "storage:\n  retention: 2h\n  data_dir: \"unterminated\n", err, sizeof err),
        FW_ERR_CONFIG);
    assert_non_null(strstr(err, "test.yaml:"));
    assert_non_null(strstr(err, "yaml: "));
    assert_int_equal(load(&c, "log:\n  level: debug\n  format: json: x\n", err, sizeof err),
                     FW_ERR_CONFIG);
    assert_string_equal(err, "test.yaml:3: yaml: mapping values are not allowed in this context");
    assert_memory_equal(&c, &d, sizeof c);
}

static void test_plain_null_clears_string(void **state)
{
    (void)state;
    fw_config c;
    char err[256];
    fw_config_defaults(&c);
    assert_int_equal(load(&c, "storage:\n  data_dir: \"null\"\notlp_grpc:\n  tls_cert_file: ~\n",
                          err, sizeof err),
                     0);
    assert_string_equal(c.data_dir, "null"); /* quoted: a string */
    assert_string_equal(c.grpc.tls_cert_file, "");
}

static void test_flags_override_file(void **state)
{
    (void)state;
    fw_config c;
    char err[256];
    fw_config_defaults(&c);
    assert_int_equal(
        load(&c, "otlp_http:\n  listen: 0.0.0.0:9999\nserver:\n  workers: 8\n", err, sizeof err),
        0);
    assert_int_equal(fw_config_set(&c, "otlp_http.listen", "127.0.0.1:0", err, sizeof err), 0);
    assert_string_equal(c.http.listen, "127.0.0.1:0");
    assert_int_equal(c.workers, 8);
}

static void test_validation(void **state)
{
    (void)state;
    fw_config c;
    char err[256];
    fw_config_defaults(&c);
    assert_int_equal(fw_config_set(&c, "otlp_grpc.tls_cert_file", "/etc/cert.pem", err, sizeof err),
                     0);
    assert_int_equal(fw_config_validate(&c, err, sizeof err), FW_ERR_CONFIG);
    assert_string_equal(err,
                        "otlp_grpc.tls_key_file: TLS needs both tls_cert_file and tls_key_file");
    assert_int_equal(fw_config_set(&c, "otlp_grpc.tls_key_file", "/etc/key.pem", err, sizeof err),
                     0);
    assert_int_equal(fw_config_validate(&c, err, sizeof err), 0);

    fw_config_defaults(&c);
    assert_int_equal(fw_config_set(&c, "api.tls_key_file", "/k", err, sizeof err), 0);
    assert_int_equal(fw_config_validate(&c, err, sizeof err), FW_ERR_CONFIG);
    assert_non_null(strstr(err, "api.tls_cert_file"));

    fw_config_defaults(&c);
    assert_int_equal(fw_config_set(&c, "otlp_http.tls_client_ca_file", "/ca", err, sizeof err), 0);
    assert_int_equal(fw_config_validate(&c, err, sizeof err), FW_ERR_CONFIG);
    assert_non_null(strstr(err, "otlp_http.tls_client_ca_file: mutual TLS"));

    fw_config_defaults(&c);
    assert_int_equal(fw_config_set(&c, "api.listen", "127.0.0.1:4317", err, sizeof err), 0);
    assert_int_equal(fw_config_validate(&c, err, sizeof err), FW_ERR_CONFIG);
    assert_non_null(strstr(err, "api.listen: same address as otlp_grpc.listen"));
    /* Port 0 several times is fine: each gets its own free port. */
    fw_config_defaults(&c);
    assert_int_equal(fw_config_set(&c, "api.listen", "127.0.0.1:0", err, sizeof err), 0);
    assert_int_equal(fw_config_set(&c, "otlp_grpc.listen", "127.0.0.1:0", err, sizeof err), 0);
    assert_int_equal(fw_config_validate(&c, err, sizeof err), 0);

    /* Values written straight into the struct are bounds-checked too. */
    fw_config_defaults(&c);
    c.max_connections = 0;
    assert_int_equal(fw_config_validate(&c, err, sizeof err), FW_ERR_CONFIG);
    assert_non_null(strstr(err, "server.max_connections: must be between"));
    fw_config_defaults(&c);
    c.data_dir[0] = '\0';
    assert_int_equal(fw_config_validate(&c, err, sizeof err), FW_ERR_CONFIG);
}

static void test_hostile_yaml(void **state)
{
    (void)state;
    fw_config c, d;
    char err[256];
    fw_config_defaults(&c);
    fw_config_defaults(&d);

    /* Deep nesting, block and flow. */
    char deep[4096];
    size_t n = 0;
    for (int i = 0; i < 100 && n + 64 < sizeof deep; i++)
        n += (size_t)snprintf(deep + n, sizeof deep - n, "%*sstorage:\n", i * 2, "");
    assert_int_equal(load(&c, deep, err, sizeof err), FW_ERR_CONFIG);
    char flow[20001];
    memset(flow, '{', 10000);
    memset(flow + 10000, '}', 10000);
    flow[20000] = '\0';
    assert_int_equal(load(&c, flow, err, sizeof err), FW_ERR_CONFIG);
    memset(flow, '[', 10000);
    memset(flow + 10000, ']', 10000);
    assert_int_equal(load(&c, flow, err, sizeof err), FW_ERR_CONFIG);

    /* Sequences at a leaf. */
    assert_int_equal(load(&c, "otlp_grpc:\n  listen:\n    - a\n    - b\n", err, sizeof err),
                     FW_ERR_CONFIG);
    assert_string_equal(err, "test.yaml:3: otlp_grpc.listen: lists are not supported here");

    /* Anchors and aliases (billion laughs) are refused outright. */
    assert_int_equal(load(&c, "a: &x 1\nb: *x\n", err, sizeof err), FW_ERR_CONFIG);
    assert_string_equal(err, "test.yaml:1: anchors and aliases are not supported");
    assert_int_equal(load(&c, "storage: &s\n  retention: 1h\napi: *s\n", err, sizeof err),
                     FW_ERR_CONFIG);
    assert_int_equal(load(&c, "storage:\n  <<: *s\n", err, sizeof err), FW_ERR_CONFIG);

    /* Non-scalar keys. */
    assert_int_equal(load(&c, "? [a, b]\n: 1\n", err, sizeof err), FW_ERR_CONFIG);
    assert_string_equal(err, "test.yaml:1: keys must be scalars");

    /* Huge scalars: a key and a value far over the limits. */
    size_t big = 600 * 1024;
    char *buf = malloc(big + 64);
    assert_non_null(buf);
    memcpy(buf, "storage:\n  data_dir: ", 21);
    memset(buf + 21, 'x', big);
    memcpy(buf + 21 + big, "\n", 2);
    assert_int_equal(load(&c, buf, err, sizeof err), FW_ERR_CONFIG);
    assert_non_null(strstr(err, "storage.data_dir: value longer than"));
    memset(buf, 'k', big);
    memcpy(buf + big, ": 1\n", 5);
    assert_int_equal(load(&c, buf, err, sizeof err), FW_ERR_CONFIG);
    assert_non_null(strstr(err, "test.yaml:1: "));
    memset(buf, 'k', 1000); /* under libyaml's 1024-byte simple-key limit */
    memcpy(buf + 1000, ": 1\n", 5);
    assert_int_equal(load(&c, buf, err, sizeof err), FW_ERR_CONFIG);
    assert_non_null(strstr(err, "key too long"));
    assert_true(strlen(err) < 200); /* the message quotes a bounded prefix only */
    free(buf);

    /* Over the 1 MiB input bound: refused before parsing. */
    size_t over = 1024 * 1024 + 1;
    buf = malloc(over);
    assert_non_null(buf);
    memset(buf, '#', over);
    assert_int_equal(fw_config_load_yaml(&c, "big.yaml", buf, over, err, sizeof err),
                     FW_ERR_TOO_LARGE);
    free(buf);

    /* NUL bytes, control bytes, a second document, escaped NUL in a key. */
    assert_int_equal(fw_config_load_yaml(&c, "t", "log:\0 x", 7, err, sizeof err), FW_ERR_CONFIG);
    assert_int_equal(load(&c, "log:\n  level: debug\n---\nlog:\n  level: info\n", err, sizeof err),
                     FW_ERR_CONFIG);
    assert_string_equal(err, "test.yaml:3: only one YAML document is allowed");
    assert_int_equal(load(&c, "\"log\\0x\": 1\n", err, sizeof err), FW_ERR_CONFIG);
    assert_int_equal(load(&c, "storage:\n  data_dir: \"a\\nb\"\n", err, sizeof err), FW_ERR_CONFIG);
    assert_int_equal(load(&c, "\"\\u0001\\u0002\": 1\n", err, sizeof err), FW_ERR_CONFIG);
    assert_null(strchr(err, '\001'));
    assert_memory_equal(&c, &d, sizeof c);
}

static void test_dump_round_trip(void **state)
{
    (void)state;
    fw_config c, back;
    char err[256];
    fw_config_defaults(&c);
    assert_int_equal(
        fw_config_set(&c, "storage.data_dir", "/tmp/with \"quotes\" and \\", err, sizeof err), 0);
    assert_int_equal(fw_config_set(&c, "storage.retention", "90m", err, sizeof err), 0);
    assert_int_equal(fw_config_set(&c, "otlp_grpc.max_recv_msg_bytes", "1000000", err, sizeof err),
                     0);
    assert_int_equal(fw_config_set(&c, "log.format", "json", err, sizeof err), 0);
    assert_int_equal(fw_config_set(&c, "log.level", "error", err, sizeof err), 0);
    assert_int_equal(fw_config_set(&c, "api.listen", "[::1]:0", err, sizeof err), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    fw_config_dump(&c, f);
    fclose(f);
    assert_non_null(strstr(text, "storage:\n"));
    assert_non_null(strstr(text, "  retention: 90m\n"));
    fw_config_defaults(&back);
    if (fw_config_load_yaml(&back, "dump", text, len, err, sizeof err) != 0) fail_msg("%s", err);
    assert_memory_equal(&c, &back, sizeof c);
    free(text);
}

static void test_help_lists_every_key(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    fw_config_print_help(f);
    fclose(f);
    static const char *const keys[] = {"otlp_grpc.listen",
                                       "otlp_grpc.tls_cert_file",
                                       "otlp_grpc.tls_key_file",
                                       "otlp_grpc.tls_client_ca_file",
                                       "otlp_grpc.max_recv_msg_bytes",
                                       "otlp_http.listen",
                                       "otlp_http.max_body_bytes",
                                       "api.listen",
                                       "api.max_body_bytes",
                                       "storage.data_dir",
                                       "storage.retention",
                                       "storage.memory_limit",
                                       "storage.max_spans",
                                       "storage.max_logs",
                                       "server.workers",
                                       "server.max_connections",
                                       "server.idle_timeout",
                                       "server.header_timeout",
                                       "server.h2_max_concurrent_streams",
                                       "server.shutdown_grace",
                                       "log.level",
                                       "log.format"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!strstr(text, keys[i])) fail_msg("help misses %s", keys[i]);
    assert_non_null(strstr(text, "default: 20MiB"));
    assert_non_null(strstr(text, "default: 2h"));
    free(text);
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/fw_test_config_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *yaml = "server:\n  workers: 2\n  bogus: 1\n";
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    fw_config c;
    char err[256], want[300];
    fw_config_defaults(&c);
    assert_int_equal(fw_config_load_file(&c, path, err, sizeof err), FW_ERR_CONFIG);
    snprintf(want, sizeof want, "%s:3: server.bogus: unknown key", path);
    assert_string_equal(err, want);
    unlink(path);
    assert_int_equal(fw_config_load_file(&c, path, err, sizeof err), FW_ERR_IO);
    assert_non_null(strstr(err, "cannot open"));
    assert_int_equal(fw_config_load_file(&c, "/tmp", err, sizeof err), FW_ERR_IO);
}

/* deploy/flywheel.yaml documents every key with its default: loading it
 * must succeed and change nothing. Found from this file's own path. */
static void test_example_config_matches_defaults(void **state)
{
    (void)state;
    char path[1024];
    const char *self = __FILE__, *tail = strstr(self, "tests/unit/test_config.c");
    if (!tail || self[0] != '/') skip();
    snprintf(path, sizeof path, "%.*sdeploy/flywheel.yaml", (int)(tail - self), self);
    if (access(path, R_OK) != 0) skip();
    fw_config c, d;
    char err[512];
    fw_config_defaults(&c);
    fw_config_defaults(&d);
    if (fw_config_load_file(&c, path, err, sizeof err) != 0) fail_msg("%s", err);
    assert_memory_equal(&c, &d, sizeof c);
}

/* SPEC 4: the throttling rule set is data, extendable from the file. */
static void test_throttling_keys(void **state)
{
    (void)state;
    fw_config c;
    char err[256] = "";
    fw_config_defaults(&c);
    assert_string_equal(c.throttle_exception_types, "");
    assert_string_equal(c.throttle_messages, "");
    const char *yaml = "throttling:\n"
                       "  exception_types: \"QuotaExceeded, BackoffError\"\n"
                       "  messages: quota exhausted\n";
    assert_int_equal(fw_config_load_yaml(&c, "t.yaml", yaml, strlen(yaml), err, sizeof err), 0);
    assert_string_equal(c.throttle_exception_types, "QuotaExceeded, BackoffError");
    assert_string_equal(c.throttle_messages, "quota exhausted");
    assert_int_equal(fw_config_set(&c, "throttling.messages", "slow down please", err, sizeof err),
                     0);
    assert_string_equal(c.throttle_messages, "slow down please");
}

static void test_auth_tokens(void **state)
{
    (void)state;
    fw_config c;
    char err[256];
    fw_config_defaults(&c);
    assert_string_equal(c.auth_ingest_token, "");
    static const char yaml[] = "auth:\n  ingest_token: s3cret-ingest\n  read_token_file: /run/r\n";
    if (fw_config_load_yaml(&c, "t.yaml", yaml, sizeof yaml - 1, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(c.auth_ingest_token, "s3cret-ingest");
    assert_string_equal(c.auth_read_token_file, "/run/r");
    assert_int_equal(fw_config_validate(&c, err, sizeof err), 0);
    /* The dump never shows a token. */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    fw_config_dump(&c, f);
    fclose(f);
    assert_null(strstr(text, "s3cret-ingest"));
    assert_non_null(strstr(text, "  ingest_token: \"<redacted>\"\n"));
    assert_non_null(strstr(text, "  write_token: \"\"\n"));
    free(text);
    /* Inline and file together is refused. */
    assert_int_equal(fw_config_set(&c, "auth.read_token", "r", err, sizeof err), 0);
    assert_int_equal(fw_config_validate(&c, err, sizeof err), FW_ERR_CONFIG);
    assert_non_null(strstr(err, "auth.read_token"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_auth_tokens),
        cmocka_unit_test(test_yaml_nested_keys),
        cmocka_unit_test(test_empty_documents),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_enums_and_strings),
        cmocka_unit_test(test_error_lines),
        cmocka_unit_test(test_plain_null_clears_string),
        cmocka_unit_test(test_flags_override_file),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_hostile_yaml),
        cmocka_unit_test(test_dump_round_trip),
        cmocka_unit_test(test_help_lists_every_key),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_example_config_matches_defaults),
        cmocka_unit_test(test_throttling_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* cli_internal.h - what main.c and serve.c share inside the flywheel
 * binary. Nothing here is a library interface. */
#ifndef FLYWHEEL_CLI_INTERNAL_H
#define FLYWHEEL_CLI_INTERNAL_H

#include <stddef.h>

#include "flywheel/config.h"

#ifndef FW_VERSION
#define FW_VERSION "0.1.0"
#endif

/* Exit statuses of the flywheel command. */
#define FW_EXIT_OK      0
#define FW_EXIT_STARTUP 1 /* bad configuration, port in use, storage error */
#define FW_EXIT_USAGE   2 /* unknown command or flag, missing or bad flag value */

/* Runs the collector with |cfg| (validated) until SIGINT/SIGTERM; returns
 * an exit status. Prints the "listening NAME HOST:PORT" lines on stdout. */
int fw_cli_serve_run(const fw_config *cfg);

/* `flywheel investigate ...` and `flywheel investigations ...` (client.c):
 * API clients of a running server; |argv| after the subcommand. Return an
 * exit status. */
int fw_cli_investigate(int argc, char **argv);
int fw_cli_investigations(int argc, char **argv);

/* One GET of |path| (starting with '/') on the server |server_url|
 * (http://HOST[:PORT][/PREFIX]; NULL = the default http://127.0.0.1:4320)
 * (client.c). Returns 0 with *status and *body (malloc'd, NUL-terminated,
 * *body_len bytes; the caller frees it), or -1 after a message on stderr
 * prefixed "flywheel |cmd|:". */
int fw__cli_http_get(const char *cmd, const char *server_url, const char *path, int *status,
                     char **body, size_t *body_len);

/* Same for any |method|; |body| (JSON text, may be NULL) is sent as
 * application/json (client.c). */
int fw__cli_http_call(const char *cmd, const char *server_url, const char *method,
                      const char *path, const char *body, int *status, char **reply_body,
                      size_t *reply_len);

/* `flywheel slo list|get ID|create ...|delete ID` (slo.c): SLOs of a
 * running server. */
int fw_cli_slo(int argc, char **argv);

/* `flywheel report ID [--format md|json|html] [-o FILE] [--server URL]`
 * (report.c): fetches the draft incident report of an investigation. */
int fw_cli_report(int argc, char **argv);

/* `flywheel simulate ...` (simulate.c): the fault-injection simulator. */
int fw_cli_simulate(int argc, char **argv);

#endif

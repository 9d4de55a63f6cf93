/* cli_internal.h - what main.c and serve.c share inside the flywheel
 * binary. Nothing here is a library interface. */
#ifndef FLYWHEEL_CLI_INTERNAL_H
#define FLYWHEEL_CLI_INTERNAL_H

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

/* `flywheel simulate ...` (simulate.c): the fault-injection simulator. */
int fw_cli_simulate(int argc, char **argv);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* What the parts of the `logstate` tool share: exit codes, reporting, and
 * small I/O helpers. The tool uses only the public API. */
#ifndef LOGSTATE_CLI_H
#define LOGSTATE_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "logstate/logstate.h"

/* Exit codes (stable, documented in --help and the README). */
enum {
  EXIT_OK = 0,
  EXIT_ERROR = 1,
  EXIT_USAGE = 2,
  EXIT_NOT_FOUND = 3,
  EXIT_CONFLICT = 4,
  EXIT_UNAVAILABLE = 5,
  EXIT_NO_STORE = 6
};

/* Largest file `set` and `import` read. */
#define CLI_MAX_INPUT ((size_t)1 << 34)

extern const char *cli_prog;

/* Prints "logstate: <message> (see 'logstate --help')" and returns
 * EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Reports a library failure as one line and returns its exit code. */
int cli_fail(logstate_status st, const char *what);
/* The exit code for a status. */
int cli_exit_for(logstate_status st);

/* Reads all of FILE ("-": stdin), at most `max` bytes, into a malloc()ed
 * buffer with a NUL after the data. EXIT_OK, or EXIT_ERROR with a message. */
int cli_read_all(const char *path, size_t max, uint8_t **out, size_t *out_len);
/* Flushes (and for a file, closes) `f`, written as `name`: EXIT_OK, or
 * EXIT_ERROR with a message that gives the reason (a full disk, say). */
int cli_finish_output(FILE *f, const char *name);

/* Option parsing of the commands (commands.c): parses argv (argv[0] is
 * the command) with getopt_long, `on_opt` handling each option; EXIT_OK
 * with *first at the first positional argument, or EXIT_USAGE. */
struct option;
int cli_parse_opts(int argc, char **argv, const char *shortopts, const struct option *longopts,
                   int (*on_opt)(int c, void *arg), void *arg, int *first);
int cli_no_opts(int c, void *arg);
/* EXIT_USAGE (reported) unless min <= n <= max positional arguments. */
int cli_positional(const char *cmd, int n, int min, int max);

/* JSON output helpers (jsonl.c): standard padded base64 of n bytes; a
 * quoted JSON string; whether s is valid UTF-8. */
void cli_put_b64(FILE *f, const uint8_t *p, size_t n);
void cli_put_json_string(FILE *f, const char *s);
int cli_valid_utf8(const unsigned char *s);

/* Reads a log's checkpoint. */
logstate_status cli_read_latest(logstate *ls, const char *id, uint8_t **cp, size_t *len);

typedef enum { EXPECT_NOTHING, EXPECT_ABSENT, EXPECT_BYTES } cli_expectation;
/* One write transaction: check the expectation against the snapshot, then
 * set. A refused expectation, a lost race and a guard's refusal are all
 * ABORTED (a conflict). */
logstate_status cli_store(logstate *ls, const char *id, const uint8_t *cp, size_t len, cli_expectation e,
                          const uint8_t *want, size_t want_len);

/* Progress of a long command on stderr, only when stderr is a terminal:
 * "copy: 120/4000 logs, 950 logs/s". */
typedef struct cli_progress {
  const char *what;
  size_t total;
  int tty;
  double start, last;
} cli_progress;
void cli_progress_start(cli_progress *p, const char *what, size_t total);
void cli_progress_step(cli_progress *p, size_t done);
void cli_progress_end(cli_progress *p, size_t done);

/* A private copy of a URL given on the command line, whose password (in
 * user:password@ or a ...password= query key) is then overwritten in
 * `arg` itself, so that ps and /proc/PID/cmdline do not show it. */
const char *cli_keep_url(char *arg);

/* Opens and initializes the store at `url`, after a command has checked
 * its arguments (so that a usage error touches nothing): EXIT_OK and *out,
 * or the exit code with the error reported. */
int cli_open(const char *url, logstate **out);
/* The same, read-only (mode=ro, for every scheme that has it): nothing in
 * the store is created or changed, and a store that does not exist gives
 * EXIT_NO_STORE. */
int cli_open_ro(const char *url, logstate **out);

/* The commands. `argc`/`argv` start with the command's name; each checks
 * its arguments, then opens the store at `url`. */
int cli_logs(const char *url, int argc, char **argv);
int cli_get(const char *url, int argc, char **argv);
int cli_set(const char *url, int argc, char **argv);
int cli_export(const char *url, int argc, char **argv);
int cli_import(const char *url, int argc, char **argv);
/* What import would read from `data` (named `file` in messages), checked
 * and thrown away without opening a store: EXIT_OK, or EXIT_USAGE with
 * the problem on stderr. For the fuzz target. */
int cli_import_check(const char *file, char *data, size_t len);
int cli_copy(const char *url, int argc, char **argv);
int cli_check(const char *url, int argc, char **argv);
int cli_history(const char *url, int argc, char **argv);
int cli_export_monitoring(const char *url, int argc, char **argv);
int cli_init(const char *url, int argc, char **argv);

#endif

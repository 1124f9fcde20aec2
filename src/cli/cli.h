/* SPDX-License-Identifier: Apache-2.0 */
/* What the parts of the `logstate` tool share: exit codes, reporting, and
 * small I/O helpers. The tool uses only the public API. */
#ifndef LOGSTATE_CLI_H
#define LOGSTATE_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

/* A log ID in a message: logstate_quote()'s one-line form, as the
 * library's own messages show it. */
#define CLI_QUOTE_SIZE 200
#define cli_quote(buf, id) logstate_quote((buf), sizeof(buf), (id), strlen(id))

/* Prints "logstate: <message> (see 'logstate --help')" and returns
 * EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Reports a library failure as one line and returns its exit code. */
int cli_fail(logstate_status st, const char *what);
/* The exit code of the calling thread's last failure, `st`: one rule per
 * cause (README "Exit codes"): busy (RESOURCE_EXHAUSTED with cause BUSY)
 * and unavailable are 5, try again; no space, no memory and permission
 * are 1. */
int cli_exit_for(logstate_status st);

/* Reads all of FILE ("-": stdin), at most `max` bytes, into a malloc()ed
 * buffer with a NUL after the data. EXIT_OK, or EXIT_ERROR with a message. */
int cli_read_all(const char *path, size_t max, uint8_t **out, size_t *out_len);
/* Flushes (and for a file, closes) `f`, written as `name`: EXIT_OK, or
 * EXIT_ERROR with a message that gives the reason (a full disk, say). */
int cli_finish_output(FILE *f, const char *name);

/* A FILE ("-": standard output) written whole or not at all: a temporary
 * file beside it, renamed over it at the end. */
typedef struct cli_out {
  FILE *f;
  const char *file;
  int to_stdout;
  char tmp[4200];
} cli_out;
/* EXIT_OK with o->f to write, or EXIT_ERROR reported naming `what`. */
int cli_out_begin(cli_out *o, const char *file, const char *what);
/* Finishes after `rc` (the writer's outcome): FILE is in place only when
 * everything went well; returns the command's exit code. */
int cli_out_end(cli_out *o, int rc, const char *what);
/* Calls fn on each line of data[0..len) that is not empty (without its
 * newline; lineno counts from 1, empty lines too), until one returns other
 * than EXIT_OK: that, or EXIT_OK. */
typedef int (*cli_line_fn)(const char *line, size_t len, size_t lineno, void *arg);
int cli_each_line(const char *data, size_t len, cli_line_fn fn, void *arg);
/* 2026-12-01T09:30:00.123Z, into buf. */
const char *cli_format_time(int64_t ms, char *buf, size_t n);

/* --- args.c: command lines and URLs ------------------------------------ */

/* One command's arguments, as cli_parse() found them. */
typedef struct cli_args {
  const char *url; /* in: the URL so far ($LOGSTATE_URL, the default); --url replaces it */
  char **pos;      /* the positional arguments, in order (the array is malloc()ed) */
  int npos;
} cli_args;

/* Parses argv (argv[0] is the command): options anywhere among the
 * arguments, `--` ends them; --url URL is every command's; `on_opt`
 * handles the command's own options (getopt_long's optarg set). EXIT_OK,
 * or the exit code with the problem reported, naming the option as it was
 * written. cli_args_free() always. */
struct option;
int cli_parse(int argc, char **argv, const char *shortopts, const struct option *longopts,
              int (*on_opt)(int c, void *arg), void *arg, cli_args *a);
void cli_args_free(cli_args *a);
int cli_no_opts(int c, void *arg);
/* EXIT_USAGE (reported) unless min <= n <= max positional arguments. */
int cli_positional(const char *cmd, int n, int min, int max);
/* `url` with key=value added to its query unless it has the key already.
 * malloc()ed; NULL when out of memory. */
char *cli_url_with(const char *url, const char *key, const char *value);

/* --- jsonl.c: JSON through jansson, base64 through OpenSSL --------------- */

struct json_t; /* jansson's */
/* Standard padded base64 of n bytes (EVP_EncodeBlock), malloc()ed; NULL
 * when out of memory. */
char *cli_b64(const uint8_t *p, size_t n);
/* Writes `obj` as one line (jansson, ", " and ": " separators, keys in
 * the order they were set) and releases it; 0, or -1 on a write error. */
int cli_put_json_line(FILE *f, struct json_t *obj);
/* A JSON string of n bytes, or NULL when they are not valid UTF-8 (or out
 * of memory): jansson's own check. */
struct json_t *cli_json_text(const char *s, size_t n);

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
 * or the exit code with the error reported. Creates a missing store
 * (init). */
int cli_open(const char *url, logstate **out);
/* The same for a command that writes logs (set, import, copy's target): a
 * missing SQLite file is made by its first set (create=on_write, unless
 * the URL says create=), so that a command that fails leaves no new file. */
int cli_open_writer(const char *url, logstate **out);
/* The same for a command that mends a store: one that does not exist
 * gives EXIT_NO_STORE (create=no). */
int cli_open_existing(const char *url, logstate **out);
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
int cli_repair(const char *url, int argc, char **argv);
int cli_id(const char *url, int argc, char **argv);
int cli_config(const char *url, int argc, char **argv);

/* --- config_json.c: log configurations as JSON ------------------------------ */

/* A configuration read from JSON, its strings owned. */
typedef struct cli_cfg_rec {
  logstate_log_config c;
  size_t lineno;
} cli_cfg_rec;
typedef struct cli_cfg_counts {
  size_t added, identical, different;
} cli_cfg_counts;
/* {"origin", "vkey", "contact"?, "qpd"?, "disabled"?} (with `full`, also
 * log_id, added_ms, changed_ms, changed_by, reason when known); NULL when
 * out of memory. */
struct json_t *cli_config_json(const logstate_log_entry *e, int full);
/* One configuration object into `r`, checked as the library checks it:
 * NULL, or the problem (*field naming the member, or NULL). */
const char *cli_config_from_json(struct json_t *obj, cli_cfg_rec *r, const char **field);
void cli_cfg_recs_free(cli_cfg_rec *r, size_t n);
/* Adds them insert-only (in batches of LOGSTATE_MAX_CONFIG_BATCH), counting
 * each result; one with other values is named on stderr. EXIT_OK, or the
 * failure's exit code reported. */
int cli_config_add_all(logstate *ls, const cli_cfg_rec *recs, size_t n, const char *what, cli_cfg_counts *counts);
int cli_config_import(const char *url, int argc, char **argv);
int cli_config_export(const char *url, int argc, char **argv);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* The tool's commands but export and import (jsonl.c): logs, get, set,
 * copy, check. Each parses its own options with getopt_long; `--` ends
 * them, so a log ID may start with '-'. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Parses the options of `argv` (argv[0] is the command) with `longopts`;
 * `on_opt` handles each. Returns EXIT_OK with *first at the first
 * positional argument, or EXIT_USAGE. */
int cli_parse_opts(int argc, char **argv, const char *shortopts, const struct option *longopts,
                   int (*on_opt)(int c, void *arg), void *arg, int *first) {
  int c;
  opterr = 0;
  optind = 0; /* glibc: start afresh, as for a new argv */
  while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
    if (c == '?' || c == ':')
      return cli_usage_error("%s: unknown option, or an option without its value: %s", argv[0], argv[optind - 1]);
    if (on_opt(c, arg) != EXIT_OK)
      return EXIT_USAGE;
  }
  *first = optind;
  return EXIT_OK;
}

int cli_no_opts(int c, void *arg) {
  (void)c, (void)arg;
  return EXIT_OK;
}

int cli_positional(const char *cmd, int n, int min, int max) {
  if (n < min)
    return cli_usage_error("%s: missing %s", cmd, min == 1 && max == 1 ? "LOG" : "arguments");
  if (n > max)
    return max == 0 ? cli_usage_error("%s takes no arguments", cmd) : cli_usage_error("%s: too many arguments", cmd);
  return EXIT_OK;
}

/* --- logs --------------------------------------------------------------- */

static int logs_opt(int c, void *arg) {
  if (c == '0')
    *(int *)arg = 1;
  return EXIT_OK;
}

int cli_logs(const char *url, int argc, char **argv) {
  static const struct option opts[] = {{"null", no_argument, NULL, '0'}, {NULL, 0, NULL, 0}};
  int nul = 0, first = 0, rc;
  if ((rc = cli_parse_opts(argc, argv, "+0", opts, logs_opt, &nul, &first)) != EXIT_OK ||
      (rc = cli_positional("logs", argc - first, 0, 0)) != EXIT_OK)
    return rc;
  char **ids = NULL;
  size_t n = 0;
  logstate *ls = NULL;
  if ((rc = cli_open_ro(url, &ls)) != EXIT_OK)
    return rc;
  logstate_status st = logstate_logs(ls, &ids, &n);
  logstate_free(ls);
  if (st != LOGSTATE_OK)
    return cli_fail(st, "logs");
  for (size_t i = 0; i < n; i++) {
    fputs(ids[i], stdout);
    fputc(nul ? '\0' : '\n', stdout);
  }
  logstate_logs_free(ids, n);
  return cli_finish_output(stdout, "standard output");
}

/* --- get ---------------------------------------------------------------- */

int cli_get(const char *url, int argc, char **argv) {
  static const struct option opts[] = {{NULL, 0, NULL, 0}};
  int first = 0, rc;
  if ((rc = cli_parse_opts(argc, argv, "+", opts, cli_no_opts, NULL, &first)) != EXIT_OK ||
      (rc = cli_positional("get", argc - first, 1, 1)) != EXIT_OK)
    return rc;
  uint8_t *cp = NULL;
  size_t len = 0;
  logstate *ls = NULL;
  if ((rc = cli_open_ro(url, &ls)) != EXIT_OK)
    return rc;
  logstate_status st = cli_read_latest(ls, argv[first], &cp, &len);
  logstate_free(ls);
  if (st != LOGSTATE_OK)
    return cli_fail(st, "get");
  fwrite(cp, 1, len, stdout);
  free(cp);
  return cli_finish_output(stdout, "standard output");
}

/* --- set ---------------------------------------------------------------- */

typedef struct set_args {
  int absent;
  const char *expect_file;
} set_args;

static int set_opt(int c, void *arg) {
  set_args *a = arg;
  if (c == 'a')
    a->absent = 1;
  else if (c == 'e')
    a->expect_file = optarg;
  if (a->absent && a->expect_file)
    return cli_usage_error("set: --expect-absent and --expect exclude each other");
  return EXIT_OK;
}

int cli_set(const char *url, int argc, char **argv) {
  static const struct option opts[] = {
      {"expect-absent", no_argument, NULL, 'a'}, {"expect", required_argument, NULL, 'e'}, {NULL, 0, NULL, 0}};
  set_args a = {0, NULL};
  int first = 0, rc;
  if ((rc = cli_parse_opts(argc, argv, "", opts, set_opt, &a, &first)) != EXIT_OK ||
      (rc = cli_positional("set", argc - first, 1, 2)) != EXIT_OK)
    return rc;
  const char *id = argv[first], *file = argc - first == 2 ? argv[first + 1] : "-";
  uint8_t *cp = NULL, *want = NULL;
  size_t len = 0, want_len = 0;
  rc = cli_read_all(file, LOGSTATE_DEFAULT_MAX_CHECKPOINT_LEN, &cp, &len);
  if (rc == EXIT_OK && a.expect_file)
    rc = cli_read_all(a.expect_file, LOGSTATE_DEFAULT_MAX_CHECKPOINT_LEN, &want, &want_len);
  if (rc == EXIT_OK && (len == 0 || len > LOGSTATE_DEFAULT_MAX_CHECKPOINT_LEN))
    rc = cli_usage_error("set: the checkpoint must be 1 to %d bytes", LOGSTATE_DEFAULT_MAX_CHECKPOINT_LEN);
  logstate *ls = NULL;
  if (rc == EXIT_OK && (rc = cli_open(url, &ls)) == EXIT_OK) {
    cli_expectation e = a.absent ? EXPECT_ABSENT : a.expect_file ? EXPECT_BYTES : EXPECT_NOTHING;
    logstate_status st = cli_store(ls, id, cp, len, e, want, want_len);
    rc = st == LOGSTATE_OK ? EXIT_OK : cli_fail(st, "set");
    logstate_free(ls);
  }
  free(cp);
  free(want);
  return rc;
}

/* --- copy --------------------------------------------------------------- */

typedef struct copy_args {
  const char *to;
  int force;
} copy_args;

static int copy_opt(int c, void *arg) {
  copy_args *a = arg;
  if (c == 't')
    a->to = cli_keep_url(optarg);
  else if (c == 'f')
    a->force = 1;
  return EXIT_OK;
}

typedef struct copy_counts {
  size_t copied, unchanged, refused;
} copy_counts;

/* Copies one log to `dst`, then reads it back to verify. */
static int copy_one(logstate *src, logstate *dst, const char *id, int force, copy_counts *n) {
  uint8_t *cp = NULL, *cur = NULL, *back = NULL;
  size_t len = 0, cur_len = 0, back_len = 0;
  int rc = EXIT_OK;
  logstate_status st;
  if ((st = cli_read_latest(src, id, &cp, &len)) != LOGSTATE_OK) {
    rc = st == LOGSTATE_NOT_FOUND ? EXIT_OK : cli_fail(st, "copy: reading"); /* gone since listed */
  } else if ((st = cli_read_latest(dst, id, &cur, &cur_len)) == LOGSTATE_OK && cur_len == len &&
             memcmp(cur, cp, len) == 0) {
    n->unchanged++;
  } else if (st == LOGSTATE_OK && !force) {
    fprintf(stderr, "%s: copy: log %s holds a different checkpoint at the destination (use --force)\n", cli_prog, id);
    n->refused++;
  } else if (st != LOGSTATE_OK && st != LOGSTATE_NOT_FOUND) {
    rc = cli_fail(st, "copy: reading the destination");
  } else if ((st = cli_store(dst, id, cp, len, st == LOGSTATE_OK ? EXPECT_BYTES : EXPECT_ABSENT, cur, cur_len)) !=
             LOGSTATE_OK) {
    rc = cli_fail(st, "copy: writing");
  } else if ((st = cli_read_latest(dst, id, &back, &back_len)) != LOGSTATE_OK) {
    rc = cli_fail(st, "copy: verifying");
  } else if (back_len != len || memcmp(back, cp, len) != 0) {
    fprintf(stderr, "%s: copy: log %s reads back different from what was written\n", cli_prog, id);
    rc = EXIT_ERROR;
  } else {
    n->copied++;
  }
  free(cp);
  free(cur);
  free(back);
  return rc;
}

int cli_copy(const char *url, int argc, char **argv) {
  static const struct option opts[] = {
      {"to", required_argument, NULL, 't'}, {"force", no_argument, NULL, 'f'}, {NULL, 0, NULL, 0}};
  copy_args a = {NULL, 0};
  int first = 0, rc;
  if ((rc = cli_parse_opts(argc, argv, "", opts, copy_opt, &a, &first)) != EXIT_OK ||
      (rc = cli_positional("copy", argc - first, 0, 0)) != EXIT_OK)
    return rc;
  if (a.to == NULL)
    return cli_usage_error("copy: missing --to URL");
  logstate *src = NULL, *dst = NULL;
  logstate_status st;
  if ((rc = cli_open_ro(url, &src)) != EXIT_OK)
    return rc;
  if ((rc = cli_open(a.to, &dst)) != EXIT_OK) {
    logstate_free(src);
    return rc;
  }
  char **ids = NULL;
  size_t n = 0, i = 0;
  copy_counts counts = {0, 0, 0};
  if ((st = logstate_logs(src, &ids, &n)) != LOGSTATE_OK)
    rc = cli_fail(st, "copy: listing logs");
  cli_progress progress;
  cli_progress_start(&progress, "copy", n);
  for (; i < n && rc == EXIT_OK; i++) {
    rc = copy_one(src, dst, ids[i], a.force, &counts);
    cli_progress_step(&progress, i + 1);
  }
  cli_progress_end(&progress, i);
  logstate_logs_free(ids, n);
  logstate_free(dst);
  logstate_free(src);
  printf("copied %zu, unchanged %zu, refused %zu (every copied log read back and verified)\n", counts.copied,
         counts.unchanged, counts.refused);
  if (cli_finish_output(stdout, "standard output") != EXIT_OK && rc == EXIT_OK)
    rc = EXIT_ERROR;
  return rc == EXIT_OK && counts.refused ? EXIT_CONFLICT : rc;
}

/* --- check -------------------------------------------------------------- */

static void on_problem(void *arg, const char *log_id, const char *problem) {
  (void)arg;
  printf("damaged: log %s: %s\n", log_id ? log_id : "(none)", problem);
}

static const char *durability_text(logstate_durability d) {
  static const char *const text[] = {
      [LOGSTATE_DURABILITY_UNKNOWN] = "durability not checked",
      [LOGSTATE_DURABILITY_VERIFIED] = "durability settings verified",
      [LOGSTATE_DURABILITY_AT_RISK] = "WARNING: durability settings may lose acknowledged writes",
      [LOGSTATE_DURABILITY_NONE] = "in-process store (nothing survives the process)",
  };
  unsigned int i = (unsigned int)d;
  return i < sizeof(text) / sizeof(text[0]) ? text[i] : "durability unknown";
}

int cli_check(const char *url, int argc, char **argv) {
  static const struct option opts[] = {{NULL, 0, NULL, 0}};
  int first = 0, rc;
  if ((rc = cli_parse_opts(argc, argv, "+", opts, cli_no_opts, NULL, &first)) != EXIT_OK ||
      (rc = cli_positional("check", argc - first, 0, 0)) != EXIT_OK)
    return rc;
  char **ids = NULL;
  size_t n = 0;
  logstate_info info;
  logstate *ls = NULL;
  if ((rc = cli_open_ro(url, &ls)) != EXIT_OK)
    return rc;
  /* The index and the logs, checked against each other (SSCAN and SCAN on
   * Redis). */
  size_t problems = 0;
  logstate_status st = logstate_logs(ls, &ids, &n);
  if (st == LOGSTATE_OK)
    st = logstate_verify(ls, on_problem, NULL, &problems);
  logstate_describe(ls, &info);
  logstate_free(ls);
  logstate_logs_free(ids, n);
  if (st != LOGSTATE_OK)
    return cli_fail(st, "check");
  if (problems) {
    printf("damaged: %zu problem%s in the %s store (see above); restore from a backup before a witness uses it\n",
           problems, problems == 1 ? "" : "s", info.backend);
    cli_finish_output(stdout, "standard output");
    return EXIT_ERROR;
  }
  if (info.store_id[0])
    printf("store_id: %s\n", info.store_id);
  printf("ok: %s backend reachable, schema accepted, %s, %zu log%s\n", info.backend, durability_text(info.durability),
         n, n == 1 ? "" : "s");
  return cli_finish_output(stdout, "standard output");
}

/* --- init --------------------------------------------------------------- */

/* Creates the store if it is missing (every check first: a refused store is
 * left untouched), and prints its store_id for the operator to pin. */
int cli_init(const char *url, int argc, char **argv) {
  static const struct option opts[] = {{NULL, 0, NULL, 0}};
  int first = 0, rc;
  if ((rc = cli_parse_opts(argc, argv, "+", opts, cli_no_opts, NULL, &first)) != EXIT_OK ||
      (rc = cli_positional("init", argc - first, 0, 0)) != EXIT_OK)
    return rc;
  logstate *ls = NULL;
  logstate_info info;
  if ((rc = cli_open(url, &ls)) != EXIT_OK)
    return rc;
  logstate_describe(ls, &info);
  logstate_free(ls);
  if (info.store_id[0])
    printf("store_id: %s\n", info.store_id);
  printf("ok: %s store ready, %s\n", info.backend, durability_text(info.durability));
  return cli_finish_output(stdout, "standard output");
}

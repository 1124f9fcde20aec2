/* SPDX-License-Identifier: Apache-2.0 */
/* The tool's commands on logs: logs, get, set, copy. Each parses its own
 * options (cli_parse: anywhere among the arguments, `--` ends them), checks
 * its arguments, then opens the store. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* --- logs --------------------------------------------------------------- */

static int logs_opt(int c, void *arg) {
  if (c == '0')
    *(int *)arg = 1;
  return EXIT_OK;
}

int cli_logs(const char *url, int argc, char **argv) {
  static const struct option opts[] = {{"null", no_argument, NULL, '0'}, {NULL, 0, NULL, 0}};
  int nul = 0, rc;
  cli_args a = {url, NULL, 0};
  if ((rc = cli_parse(argc, argv, "0", opts, logs_opt, &nul, &a)) == EXIT_OK)
    rc = cli_positional("logs", a.npos, 0, 0);
  cli_args_free(&a);
  char **ids = NULL;
  size_t n = 0;
  logstate *ls = NULL;
  if (rc != EXIT_OK || (rc = cli_open_ro(a.url, &ls)) != EXIT_OK)
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
  int rc;
  cli_args a = {url, NULL, 0};
  if ((rc = cli_parse(argc, argv, "", NULL, cli_no_opts, NULL, &a)) == EXIT_OK)
    rc = cli_positional("get", a.npos, 1, 1);
  const char *id = rc == EXIT_OK ? a.pos[0] : NULL;
  cli_args_free(&a);
  uint8_t *cp = NULL;
  size_t len = 0;
  logstate *ls = NULL;
  if (rc != EXIT_OK || (rc = cli_open_ro(a.url, &ls)) != EXIT_OK)
    return rc;
  logstate_status st = cli_read_latest(ls, id, &cp, &len);
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
  cli_args args = {url, NULL, 0};
  int rc;
  if ((rc = cli_parse(argc, argv, "", opts, set_opt, &a, &args)) == EXIT_OK)
    rc = cli_positional("set", args.npos, 1, 2);
  const char *id = rc == EXIT_OK ? args.pos[0] : NULL, *file = rc == EXIT_OK && args.npos == 2 ? args.pos[1] : "-";
  url = args.url;
  cli_args_free(&args);
  if (rc != EXIT_OK)
    return rc;
  uint8_t *cp = NULL, *want = NULL;
  size_t len = 0, want_len = 0;
  rc = cli_read_all(file, LOGSTATE_DEFAULT_MAX_CHECKPOINT_LEN, &cp, &len);
  if (rc == EXIT_OK && a.expect_file)
    rc = cli_read_all(a.expect_file, LOGSTATE_DEFAULT_MAX_CHECKPOINT_LEN, &want, &want_len);
  if (rc == EXIT_OK && (len == 0 || len > LOGSTATE_DEFAULT_MAX_CHECKPOINT_LEN))
    rc = cli_usage_error("set: the checkpoint must be 1 to %d bytes", LOGSTATE_DEFAULT_MAX_CHECKPOINT_LEN);
  logstate *ls = NULL;
  if (rc == EXIT_OK && (rc = cli_open_writer(url, &ls)) == EXIT_OK) {
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
  char q[CLI_QUOTE_SIZE];
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
    fprintf(stderr, "%s: copy: log %s holds a different checkpoint at the destination (use --force)\n", cli_prog,
            cli_quote(q, id));
    n->refused++;
  } else if (len == 0) {
    fprintf(stderr, "%s: copy: log %s holds an empty checkpoint, which logstate does not store\n", cli_prog,
            cli_quote(q, id));
    n->refused++;
  } else if (st != LOGSTATE_OK && st != LOGSTATE_NOT_FOUND) {
    rc = cli_fail(st, "copy: reading the destination");
  } else if ((st = cli_store(dst, id, cp, len, st == LOGSTATE_OK ? EXPECT_BYTES : EXPECT_ABSENT, cur, cur_len)) !=
             LOGSTATE_OK) {
    rc = cli_fail(st, "copy: writing");
  } else if ((st = cli_read_latest(dst, id, &back, &back_len)) != LOGSTATE_OK) {
    rc = cli_fail(st, "copy: verifying");
  } else if (back_len != len || memcmp(back, cp, len) != 0) {
    fprintf(stderr, "%s: copy: log %s reads back different from what was written\n", cli_prog, cli_quote(q, id));
    rc = EXIT_ERROR;
  } else {
    n->copied++;
  }
  free(cp);
  free(cur);
  free(back);
  return rc;
}

/* Every log configuration of `src` added to `dst` (insert-only: --force
 * changes none), each then identical at `dst` or named. */
static int copy_configs(logstate *src, logstate *dst, cli_cfg_counts *c) {
  logstate_log_entry *e = NULL;
  size_t n = 0;
  logstate_status st = logstate_config_list(src, 1, &e, &n);
  int rc = st == LOGSTATE_OK ? EXIT_OK : cli_fail(st, "copy: listing log configurations");
  cli_cfg_rec *recs = n ? calloc(n, sizeof(*recs)) : NULL;
  if (rc == EXIT_OK && n && recs == NULL)
    rc = (fprintf(stderr, "%s: copy: out of memory\n", cli_prog), EXIT_ERROR);
  for (size_t i = 0; rc == EXIT_OK && i < n; i++) /* borrowed from the list */
    recs[i].c = (logstate_log_config){e[i].origin, e[i].vkey, e[i].contact, e[i].qpd, e[i].has_qpd, e[i].disabled};
  if (rc == EXIT_OK && n)
    rc = cli_config_add_all(dst, recs, n, "copy", c);
  free(recs);
  logstate_log_entries_free(e, n);
  return rc;
}

int cli_copy(const char *url, int argc, char **argv) {
  static const struct option opts[] = {
      {"to", required_argument, NULL, 't'}, {"force", no_argument, NULL, 'f'}, {NULL, 0, NULL, 0}};
  copy_args a = {NULL, 0};
  cli_args args = {url, NULL, 0};
  int rc;
  if ((rc = cli_parse(argc, argv, "", opts, copy_opt, &a, &args)) == EXIT_OK)
    rc = cli_positional("copy", args.npos, 0, 0);
  cli_args_free(&args);
  if (rc != EXIT_OK)
    return rc;
  if (a.to == NULL)
    return cli_usage_error("copy: missing --to URL");
  logstate *src = NULL, *dst = NULL;
  logstate_status st;
  if ((rc = cli_open_ro(args.url, &src)) != EXIT_OK)
    return rc;
  if ((rc = cli_open_writer(a.to, &dst)) != EXIT_OK) {
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
  cli_cfg_counts cfg = {0, 0, 0};
  if (rc == EXIT_OK)
    rc = copy_configs(src, dst, &cfg);
  logstate_free(dst);
  logstate_free(src);
  printf("copied %zu, unchanged %zu, refused %zu (every copied log read back and verified)\n", counts.copied,
         counts.unchanged, counts.refused);
  if (cfg.added + cfg.identical + cfg.different)
    printf("log configurations: added %zu, identical %zu, with other values %zu (left as they are)\n", cfg.added,
           cfg.identical, cfg.different);
  counts.refused += cfg.different;
  if (cli_finish_output(stdout, "standard output") != EXIT_OK && rc == EXIT_OK)
    rc = EXIT_ERROR;
  return rc == EXIT_OK && counts.refused ? EXIT_CONFLICT : rc;
}

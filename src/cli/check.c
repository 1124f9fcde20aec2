/* SPDX-License-Identifier: Apache-2.0 */
/* The tool's commands on the store as a whole: check, init, repair. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#ifdef LOGSTATE_HAVE_SQLITE
#include "logstate/sqlite.h"
#endif

/* A command without options or arguments: EXIT_OK with *url set. */
static int no_arguments(const char *cmd, const char **url, int argc, char **argv) {
  cli_args a = {*url, NULL, 0};
  int rc = cli_parse(argc, argv, "", NULL, cli_no_opts, NULL, &a);
  if (rc == EXIT_OK)
    rc = cli_positional(cmd, a.npos, 0, 0);
  *url = a.url;
  cli_args_free(&a);
  return rc;
}

static void on_problem(void *arg, const char *log_id, const char *problem) {
  char q[CLI_QUOTE_SIZE];
  (void)arg;
  printf("damaged: log %s: %s\n", log_id ? cli_quote(q, log_id) : "(none)", problem);
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

/* store_id and the backend's detail (SQLite: the journal mode, and why). */
static void put_info(const logstate_info *info) {
  if (info->store_id[0])
    printf("store_id: %s\n", info->store_id);
  if (info->detail[0])
    printf("%s\n", info->detail);
}

int cli_check(const char *url, int argc, char **argv) {
  int rc = no_arguments("check", &url, argc, argv);
  char **ids = NULL;
  size_t n = 0, problems = 0;
  logstate_info info;
  logstate *ls = NULL;
  if (rc != EXIT_OK || (rc = cli_open_ro(url, &ls)) != EXIT_OK)
    return rc;
  /* The index and the logs, checked against each other (SSCAN and SCAN on
   * Redis; logs stored twice or under BLOB IDs on SQLite). */
  logstate_status st = logstate_logs(ls, &ids, &n);
  if (st == LOGSTATE_OK)
    st = logstate_verify(ls, on_problem, NULL, &problems);
  logstate_describe(ls, &info);
  if (st != LOGSTATE_OK)
    rc = cli_fail(st, "check");
  logstate_free(ls);
  logstate_logs_free(ids, n);
  if (rc != EXIT_OK)
    return rc;
  if (problems) {
    printf("damaged: %zu problem%s in the %s store (see above); %s\n", problems, problems == 1 ? "" : "s", info.backend,
           strcmp(info.backend, "sqlite") == 0 ? "`logstate repair` mends logs stored under BLOB IDs; restore the rest "
                                                 "from a backup before a witness uses it"
                                               : "restore from a backup before a witness uses it");
    cli_finish_output(stdout, "standard output");
    return EXIT_ERROR;
  }
  put_info(&info);
  printf("ok: %s backend reachable, schema accepted, %s, %zu log%s\n", info.backend, durability_text(info.durability),
         n, n == 1 ? "" : "s");
  return cli_finish_output(stdout, "standard output");
}

/* Creates the store if it is missing (every check first: a refused store is
 * left untouched), and prints its store_id for the operator to pin. */
int cli_init(const char *url, int argc, char **argv) {
  int rc = no_arguments("init", &url, argc, argv);
  logstate *ls = NULL;
  logstate_info info;
  if (rc != EXIT_OK || (rc = cli_open(url, &ls)) != EXIT_OK)
    return rc;
  logstate_describe(ls, &info);
  logstate_free(ls);
  put_info(&info);
  printf("ok: %s store ready, %s\n", info.backend, durability_text(info.durability));
  return cli_finish_output(stdout, "standard output");
}

#ifdef LOGSTATE_HAVE_SQLITE
/* A checkpoint left for the operator, a line at a time, each escaped. */
static void put_checkpoint(const char *which, const uint8_t *cp, size_t len) {
  char q[4096];
  printf("  %s, %zu bytes:\n", which, len);
  for (size_t at = 0; at < len;) {
    const uint8_t *nl = memchr(cp + at, '\n', len - at);
    size_t n = nl ? (size_t)(nl - cp - at) : len - at;
    printf("    %s\n", logstate_quote(q, sizeof(q), (const char *)cp + at, n));
    at += n + (nl != NULL);
  }
}

static void on_repair(void *arg, const logstate_sqlite_repair_item *it) {
  char q[CLI_QUOTE_SIZE];
  (void)arg;
  printf("%s: log %s: %s\n", it->repaired ? "repaired" : "left", cli_quote(q, it->log_id), it->action);
  if (it->text_cp) {
    put_checkpoint("the row the Go witness reads (TEXT ID)", it->text_cp, it->text_len);
    put_checkpoint("the row an earlier logstate wrote (BLOB ID)", it->blob_cp, it->blob_len);
  }
}
#endif

/* Mends what `check` reports as mendable: on SQLite, logs stored under
 * BLOB IDs (logstate before 0.2). */
int cli_repair(const char *url, int argc, char **argv) {
  int rc = no_arguments("repair", &url, argc, argv);
  logstate *ls = NULL;
  logstate_info info;
  if (rc != EXIT_OK || (rc = cli_open_existing(url, &ls)) != EXIT_OK)
    return rc;
  logstate_describe(ls, &info);
  if (strcmp(info.backend, "sqlite") != 0) {
    logstate_free(ls);
    printf("repair: the %s backend has nothing `logstate repair` mends\n", info.backend);
    return cli_finish_output(stdout, "standard output");
  }
  size_t repaired = 0, left = 0;
  logstate_status st = LOGSTATE_FAILED_PRECONDITION;
#ifdef LOGSTATE_HAVE_SQLITE
  st = logstate_sqlite_repair(ls, on_repair, NULL, &repaired, &left);
#endif
  if (st != LOGSTATE_OK)
    rc = cli_fail(st, "repair");
  logstate_free(ls);
  if (rc != EXIT_OK)
    return rc;
  printf("repair: %zu repaired, %zu left%s\n", repaired, left,
         left ? " (two rows of one log disagree: delete the one to drop with the sqlite3 shell, as README "
                "\"Repairing a store\" shows, then run repair again)"
              : "");
  rc = cli_finish_output(stdout, "standard output");
  return rc == EXIT_OK && left ? EXIT_ERROR : rc;
}

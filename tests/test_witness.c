/* SPDX-License-Identifier: Apache-2.0 */
/* logstate and the Go witness on one SQLite file. The witness's side is
 * witness_standin.py: the witness's own statements, with its value types
 * (a Go string is TEXT, a []byte a BLOB) and its default settings, for both
 * of its schemas. Each side must see the other's logs whoever created them,
 * and counters both sides increment must be exact in every order of
 * creation, with and without logstate's history. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "logstate/logstate.h"
#include "logstate/sqlite.h"
#ifdef LOGSTATE_HAVE_ASYNC
#include <event2/event.h>

#include "logstate/async.h"
#endif

#include "test_util.h"

static char dir[64];
static int file_no;

static const char *new_path(char *buf, size_t n) {
  snprintf(buf, n, "%s/w-%d.db", dir, ++file_no);
  return buf;
}

/* Runs the stand-in; its stdout into out (may be NULL). Its exit status. */
static int witness(const char *path, const char *schema, const char *args, char *out, size_t n) {
  char cmd[1024];
  snprintf(cmd, sizeof(cmd), "python3 '%s' '%s' %s %s", LOGSTATE_TEST_STANDIN, path, schema, args);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t got = fread(out ? out : cmd, 1, out ? n - 1 : sizeof(cmd), p);
  if (out)
    out[got] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void witness_ok(const char *path, const char *schema, const char *args, char *out, size_t n) {
  int rc = witness(path, schema, args, out, n);
  if (rc != 0)
    fail_msg("witness_standin %s %s: exit %d", schema, args, rc);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static logstate *open_url(const char *url) {
  logstate *ls = NULL;
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  return ls;
}

static logstate *open_path(const char *path) {
  char url[256];
  snprintf(url, sizeof(url), "sqlite:%s", path);
  return open_url(url);
}

/* One statement on the file by a third program (the sqlite3 shell): its
 * output, one line, in buf. */
static void query(const char *path, const char *q, char *buf, size_t n) {
  char cmd[1024];
  snprintf(cmd, sizeof(cmd), "sqlite3 '%s' \"%s\"", path, q);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t got = fread(buf, 1, n - 1, p);
  buf[got] = '\0';
  if (got && buf[got - 1] == '\n')
    buf[got - 1] = '\0';
  assert_int_equal(pclose(p), 0);
}

/* Each side reads and lists what the other stored, on a file either made. */
static void sees_the_other(const char *schema, int witness_creates) {
  char path[128], cpfile[160], out[256];
  new_path(path, sizeof(path));
  snprintf(cpfile, sizeof(cpfile), "%s.cp", path);
  if (witness_creates)
    witness_ok(path, schema, "init", NULL, 0);
  logstate *ls = open_path(path);
  if (!witness_creates)
    witness_ok(path, schema, "init", NULL, 0);
  write_file(cpfile, "w.example/log\n5\nWWWW\n");
  snprintf(out, sizeof(out), "set w.example/log '%s'", cpfile);
  witness_ok(path, schema, out, NULL, 0);
  assert_status(test_put(ls, "l.example/log", "l.example/log\n7\nLLLL\n"), LOGSTATE_OK);
  test_expect_stored(ls, "w.example/log", "w.example/log\n5\nWWWW\n");
  witness_ok(path, schema, "get l.example/log", out, sizeof(out));
  assert_string_equal(out, "l.example/log\n7\nLLLL\n");
  witness_ok(path, schema, "logs", out, sizeof(out));
  assert_non_null(strstr(out, "l.example/log\n"));
  assert_non_null(strstr(out, "w.example/log\n"));
  char **ids = NULL;
  size_t n = 0;
  assert_status(logstate_logs(ls, &ids, &n), LOGSTATE_OK);
  assert_int_equal(n, 2);
  logstate_logs_free(ids, n);
  /* One row per log, both TEXT: the witness's own key. */
  query(path, "SELECT count(*) || ' ' || group_concat(DISTINCT typeof(logID)) FROM chkpts", out, sizeof(out));
  assert_string_equal(out, "2 text");
  logstate_free(ls);
}

static void test_each_side_sees_the_other(void **state) {
  (void)state;
  sees_the_other("2024", 1);
  sees_the_other("2024", 0);
  sees_the_other("2026", 1);
  sees_the_other("2026", 0);
  sees_the_other("2026-checkpoints", 1);
  sees_the_other("2026-checkpoints", 0);
}

/* A logstate writer process: n increments, each sent again on pushback
 * (busy), as a witness's client does. */
static pid_t logstate_counter(const char *url, int n) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid != 0)
    return pid;
  logstate *ls = NULL;
  logstate_options o = LOGSTATE_OPTIONS_INIT;
  o.update_attempts = 100000;
  logstate_status st = logstate_open_ext(&ls, url, &o);
  while (st == LOGSTATE_OK && (st = logstate_init(ls)) == LOGSTATE_RESOURCE_EXHAUSTED)
    ;
  for (int k = 0; st == LOGSTATE_OK && k < n;) {
    st = logstate_update(ls, "counter", test_fn_increment, NULL);
    if (st == LOGSTATE_OK)
      k++;
    else if (st == LOGSTATE_RESOURCE_EXHAUSTED && logstate_last_error_cause() == LOGSTATE_CAUSE_BUSY)
      st = LOGSTATE_OK;
  }
  if (st != LOGSTATE_OK)
    fprintf(stderr, "logstate writer: %s: %s\n", logstate_status_name(st), logstate_last_error());
  logstate_free(ls);
  _exit(st == LOGSTATE_OK ? 0 : 1);
}

enum order { WITNESS_FIRST, LOGSTATE_FIRST, NEITHER };
#define PER_WRITER 100

/* Two writer processes per side on one counter: it ends exact. */
static void counter_run(const char *schema, enum order order, int history) {
  char path[128], url[256], cmd[1024], out[64];
  new_path(path, sizeof(path));
  snprintf(url, sizeof(url), "sqlite:%s%s", path, history ? "?history=8&client_name=interop" : "");
  if (order == WITNESS_FIRST)
    witness_ok(path, schema, "init", NULL, 0);
  else if (order == LOGSTATE_FIRST)
    logstate_free(open_url(url));
  FILE *w[2];
  snprintf(cmd, sizeof(cmd), "python3 '%s' '%s' %s count counter %d", LOGSTATE_TEST_STANDIN, path, schema, PER_WRITER);
  for (int i = 0; i < 2; i++)
    assert_non_null(w[i] = popen(cmd, "r"));
  pid_t l[2] = {logstate_counter(url, PER_WRITER), logstate_counter(url, PER_WRITER)};
  long acked = 0;
  for (int i = 0; i < 2; i++) {
    int status;
    assert_int_equal(waitpid(l[i], &status, 0), l[i]);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    acked += PER_WRITER;
    assert_non_null(fgets(out, sizeof(out), w[i]));
    assert_int_equal(pclose(w[i]), 0);
    acked += atol(out);
  }
  assert_int_equal(acked, 4 * PER_WRITER);
  logstate *ls = open_path(path);
  assert_int_equal(test_counter_of(ls, "counter"), (unsigned long)acked);
  logstate_free(ls);
  witness_ok(path, schema, "get counter", out, sizeof(out));
  assert_int_equal(test_counter_parse((const uint8_t *)out, strlen(out)), (unsigned long)acked);
  query(path, "SELECT count(*) || ' ' || typeof(logID) FROM chkpts WHERE CAST(logID AS BLOB) = CAST('counter' AS BLOB)",
        out, sizeof(out));
  assert_string_equal(out, "1 text");
  if (history) {
    query(path, "SELECT count(*) FROM logstate_history", out, sizeof(out));
    assert_true(atoi(out) >= 1 && atoi(out) <= 8);
  }
  printf("counter: schema %s, %s first, history %s: %ld acknowledged, %ld stored, one TEXT row\n", schema,
         order == WITNESS_FIRST    ? "witness"
         : order == LOGSTATE_FIRST ? "logstate"
                                   : "neither",
         history ? "8" : "off", acked, acked);
}

static void test_counters_exact(void **state) {
  (void)state;
  const char *schemas[] = {"2024", "2026"};
  for (int s = 0; s < 2; s++)
    for (int o = WITNESS_FIRST; o <= NEITHER; o++)
      for (int h = 0; h < 2; h++)
        counter_run(schemas[s], (enum order)o, h);
}

/* The witness's file keeps its rollback journal, whatever logstate does on
 * it: logstate's connection writes with synchronous=FULL, and the
 * witness's own synchronous=NORMAL commits stay synced. */
static void test_journal_mode_kept(void **state) {
  (void)state;
  char path[128], url[300], out[64];
  struct stat sb;
  new_path(path, sizeof(path));
  witness_ok(path, "2024", "init", NULL, 0);
  snprintf(url, sizeof(url), "sqlite:%s?history=4", path);
  logstate *ls = open_url(url);
  logstate_info info;
  assert_status(logstate_describe(ls, &info), LOGSTATE_OK);
  assert_int_equal(info.durability, LOGSTATE_DURABILITY_VERIFIED);
  assert_non_null(strstr(info.detail, "rollback journal, the file's own"));
  assert_status(test_put(ls, "a", "a1"), LOGSTATE_OK);
  assert_status(logstate_update(ls, "n", test_fn_increment, NULL), LOGSTATE_OK);
  size_t repaired = 9, left = 9;
  assert_status(logstate_sqlite_repair(ls, NULL, NULL, &repaired, &left), LOGSTATE_OK);
  assert_int_equal(repaired + left, 0);
  witness_ok(path, "2024", "mode", out, sizeof(out));
  assert_string_equal(out, "delete\n");
  logstate_free(ls);
  char wal[160];
  snprintf(wal, sizeof(wal), "%s-wal", path);
  assert_int_equal(stat(wal, &sb), -1);
  witness_ok(path, "2024", "mode", out, sizeof(out));
  assert_string_equal(out, "delete\n");
}

/* What an earlier logstate wrote (BLOB IDs) next to the witness's rows:
 * a log stored twice is damage everywhere; repair converts what is
 * unambiguous and leaves what disagrees, showing both. */
typedef struct repaired_log {
  char text[2048];
} repaired_log;

static void on_repair(void *arg, const logstate_sqlite_repair_item *it) {
  repaired_log *r = arg;
  size_t n = strlen(r->text);
  snprintf(r->text + n, sizeof(r->text) - n, "%s %d %s|%.*s|%.*s\n", it->log_id, it->repaired, it->action,
           (int)it->text_len, it->text_cp ? (const char *)it->text_cp : "", (int)it->blob_len,
           it->blob_cp ? (const char *)it->blob_cp : "");
}

static void test_duplicates_and_repair(void **state) {
  (void)state;
  char path[128], cpfile[160], args[300], out[256], buf[64];
  new_path(path, sizeof(path));
  snprintf(cpfile, sizeof(cpfile), "%s.cp", path);
  witness_ok(path, "2024", "init", NULL, 0);
  write_file(cpfile, "v1");
  const char *logs[] = {"old", "same", "differ"};
  for (int i = 0; i < 3; i++) { /* an earlier logstate's rows */
    snprintf(args, sizeof(args), "blob %s '%s'", logs[i], cpfile);
    witness_ok(path, "2024", args, NULL, 0);
  }
  /* The witness cannot see them: it takes them for new logs. */
  assert_int_equal(witness(path, "2024", "get old", out, sizeof(out)), 3);
  snprintf(args, sizeof(args), "set same '%s'", cpfile);
  witness_ok(path, "2024", args, NULL, 0);
  write_file(cpfile, "v2");
  snprintf(args, sizeof(args), "set differ '%s'", cpfile);
  witness_ok(path, "2024", args, NULL, 0);
  logstate *ls = open_path(path);
  test_expect_stored(ls, "old", "v1");
  assert_status(test_get(ls, "differ", buf, sizeof(buf)), LOGSTATE_INTERNAL);
  assert_non_null(strstr(logstate_last_error(), "stored twice"));
  assert_status(test_put(ls, "differ", "v3"), LOGSTATE_INTERNAL);
  size_t problems = 0, repaired = 0, left = 0;
  assert_status(logstate_verify(ls, NULL, NULL, &problems), LOGSTATE_OK);
  assert_int_equal(problems, 3); /* old (BLOB only), same and differ (twice) */
  repaired_log r = {""};
  assert_status(logstate_sqlite_repair(ls, on_repair, &r, &repaired, &left), LOGSTATE_OK);
  assert_int_equal(repaired, 2);
  assert_int_equal(left, 1);
  assert_string_equal(r.text, "differ 0 it is stored twice with different checkpoints: left as it is for you to "
                              "decide|v2|v1\nold 1 its BLOB ID became TEXT||\nsame 1 it was stored twice with the same "
                              "checkpoint: the BLOB row was dropped||\n");
  witness_ok(path, "2024", "get old", out, sizeof(out));
  assert_string_equal(out, "v1");
  assert_status(logstate_verify(ls, NULL, NULL, &problems), LOGSTATE_OK);
  assert_int_equal(problems, 1);
  query(path, "DELETE FROM chkpts WHERE logID = CAST('differ' AS BLOB)", out, sizeof(out));
  test_expect_stored(ls, "differ", "v2");
  assert_status(logstate_verify(ls, NULL, NULL, &problems), LOGSTATE_OK);
  assert_int_equal(problems, 0);
  logstate_free(ls);
}

#ifdef LOGSTATE_HAVE_ASYNC
typedef struct got {
  int done;
  logstate_status st;
  int has_cp;
  size_t len;
} got;

static void on_get(logstate_status st, const uint8_t *cp, size_t len, void *arg) {
  got *g = arg;
  g->done = 1;
  g->st = st;
  g->has_cp = cp != NULL;
  g->len = len;
}

/* The same through the async API. */
static void expect_empty_async(const char *path) {
  char url[200];
  struct event_base *evb = event_base_new();
  logstate_async *a = NULL;
  got g = {0, LOGSTATE_INTERNAL, 0, 9};
  snprintf(url, sizeof(url), "sqlite:%s", path);
  assert_status(logstate_async_open(&a, evb, url, NULL), LOGSTATE_OK);
  assert_status(logstate_async_get_latest(a, "empty", on_get, &g), LOGSTATE_OK);
  while (!g.done)
    event_base_loop(evb, EVLOOP_ONCE);
  assert_status(g.st, LOGSTATE_OK);
  assert_true(g.has_cp);
  assert_int_equal(g.len, 0);
  logstate_async_free(a);
  event_base_free(evb);
}
#endif

/* An empty checkpoint the witness stored is present on logstate's side. */
static void test_empty_checkpoint(void **state) {
  (void)state;
  char path[128], cpfile[160], args[300];
  new_path(path, sizeof(path));
  snprintf(cpfile, sizeof(cpfile), "%s.cp", path);
  write_file(cpfile, "");
  snprintf(args, sizeof(args), "set empty '%s'", cpfile);
  witness_ok(path, "2026", args, NULL, 0);
  logstate *ls = open_path(path);
  char **ids = NULL;
  size_t n = 0;
  assert_status(logstate_logs(ls, &ids, &n), LOGSTATE_OK);
  assert_int_equal(n, 1);
  assert_string_equal(ids[0], "empty");
  logstate_logs_free(ids, n);
  test_expect_stored(ls, "empty", "");
  logstate_write *w = NULL;
  uint8_t *cp = NULL;
  size_t len = 9;
  assert_status(logstate_write_ops(ls, "empty", &w), LOGSTATE_OK);
  assert_status(logstate_write_get_latest(w, &cp, &len), LOGSTATE_OK);
  assert_int_equal(len, 0);
  free(cp);
#ifdef LOGSTATE_HAVE_ASYNC
  expect_empty_async(path);
#endif
  assert_status(logstate_write_set(w, (const uint8_t *)"next", 4), LOGSTATE_OK);
  logstate_write_close(w);
  logstate_free(ls);
}

static int setup(void **state) {
  (void)state;
  return test_tmpdir(dir, sizeof(dir), "witness");
}

static int teardown(void **state) {
  (void)state;
  return test_rmtree(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_each_side_sees_the_other), cmocka_unit_test(test_counters_exact),
      cmocka_unit_test(test_journal_mode_kept),        cmocka_unit_test(test_duplicates_and_repair),
      cmocka_unit_test(test_empty_checkpoint),
  };
  return cmocka_run_group_tests_name("witness", tests, setup, teardown);
}

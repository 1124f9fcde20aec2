/* SPDX-License-Identifier: Apache-2.0 */
/* Log configurations on the 2026 Go witness's SQLite file, shared both
 * ways with a stand-in of the witness (witness_standin.py: its statements,
 * value types and settings): what one side adds the other reads, in either
 * order of who made the file; a log logstate disables leaves the witness's
 * enabled list, and the witness's own INSERT OR IGNORE does not bring it
 * back; racing adders of one origin (logstate and the witness) leave one
 * entry. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "logstate/logstate.h"

#include "test_util.h"

static char dir[64];
static int file_no;

/* Runs the stand-in on `path` (2026 schema); its stdout into out (may be
 * NULL). Its exit status. */
static int witness(const char *path, const char *args, char *out, size_t n) {
  char cmd[1024], sink[256];
  snprintf(cmd, sizeof(cmd), "python3 '%s' '%s' 2026 %s", LOGSTATE_TEST_STANDIN, path, args);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t got = fread(out ? out : sink, 1, out ? n - 1 : sizeof(sink) - 1, p);
  if (out)
    out[got] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void witness_ok(const char *path, const char *args, char *out, size_t n) {
  int rc = witness(path, args, out, n);
  if (rc != 0)
    fail_msg("witness_standin %s: exit %d", args, rc);
}

static logstate *open_new(char *path, size_t n, int witness_first) {
  char url[256];
  logstate *ls = NULL;
  snprintf(path, n, "%s/c-%d.db", dir, ++file_no);
  if (witness_first)
    witness_ok(path, "init", NULL, 0);
  snprintf(url, sizeof(url), "sqlite:%s?client_name=op", path);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  if (!witness_first)
    witness_ok(path, "init", NULL, 0);
  return ls;
}

static void each_side_reads_the_other(int witness_first) {
  char path[128], out[512];
  logstate *ls = open_new(path, sizeof(path), witness_first);
  logstate_log_config c = {
      .origin = "l.example/log", .vkey = "l.example+1+AA==", .contact = "ops@l.example", .qpd = 1000, .has_qpd = 1};
  logstate_config_result r;
  assert_status(logstate_config_add(ls, &c, 1, &r), LOGSTATE_OK);
  assert_int_equal(r, LOGSTATE_CONFIG_ADDED);
  witness_ok(path, "log l.example/log", out, sizeof(out));
  assert_string_equal(out, "usable\tl.example/log\tl.example+1+AA==\tops@l.example\t1000.0\n");
  witness_ok(path, "addlog w.example/log w.example+2+AA==", NULL, 0);
  logstate_log_entry *e = NULL;
  int usable = 0;
  assert_status(logstate_config_get(ls, "w.example/log", &e, &usable), LOGSTATE_OK);
  assert_true(usable);
  assert_string_equal(e->vkey, "w.example+2+AA==");
  assert_null(e->contact); /* the witness's "" */
  assert_true(e->has_qpd && e->qpd == 0);
  assert_int_equal(e->added_ms, 0); /* logstate did not add it */
  logstate_log_entry_free(e);
  witness_ok(path, "enabled", out, sizeof(out));
  assert_string_equal(out, "l.example/log\nw.example/log\n");
  /* The witness's ID is logstate's: the same row, not a second one. */
  c = (logstate_log_config){.origin = "w.example/log", .vkey = "w.example+2+AA==", .contact = "", .qpd = 0};
  c.contact = NULL;
  c.has_qpd = 1;
  assert_status(logstate_config_add(ls, &c, 1, &r), LOGSTATE_OK);
  assert_int_equal(r, LOGSTATE_CONFIG_IDENTICAL);
  logstate_free(ls);
}

static void test_added_on_one_side_read_on_the_other(void **state) {
  (void)state;
  each_side_reads_the_other(1);
  each_side_reads_the_other(0);
}

/* Disabled by logstate: out of the witness's enabled list, and its own
 * AddLogs (a feed re-adding the log, enabled) leaves it disabled; enabled
 * again by logstate, the witness serves it again. */
static void test_disabled_stays_disabled_for_the_witness(void **state) {
  (void)state;
  char path[128], out[512];
  logstate *ls = open_new(path, sizeof(path), 1);
  witness_ok(path, "addlog d.example/log d+1+AA==", NULL, 0);
  witness_ok(path, "addlog e.example/log e+1+AA==", NULL, 0);
  int changed = 0;
  assert_status(logstate_config_set_disabled(ls, "d.example/log", 1, "compromised", &changed), LOGSTATE_OK);
  assert_true(changed);
  witness_ok(path, "enabled", out, sizeof(out));
  assert_string_equal(out, "e.example/log\n");
  witness_ok(path, "addlog d.example/log d+1+AA==", NULL, 0);
  witness_ok(path, "addlog d.example/log d+9+AA== other 5", NULL, 0);
  witness_ok(path, "log d.example/log", out, sizeof(out));
  assert_string_equal(out, "disabled\td.example/log\td+1+AA==\t\t0.0\n");
  witness_ok(path, "enabled", out, sizeof(out));
  assert_string_equal(out, "e.example/log\n");
  logstate_config_event *ev = NULL;
  size_t n = 0;
  assert_status(logstate_config_history(ls, "d.example/log", 5, &ev, &n), LOGSTATE_OK);
  assert_int_equal(n, 1);
  assert_string_equal(ev[0].by, "op");
  assert_string_equal(ev[0].reason, "compromised");
  logstate_config_events_free(ev, n);
  assert_status(logstate_config_set_disabled(ls, "d.example/log", 0, NULL, &changed), LOGSTATE_OK);
  witness_ok(path, "enabled", out, sizeof(out));
  assert_string_equal(out, "d.example/log\ne.example/log\n");
  logstate_free(ls);
}

/* logstate's adders (threads, a handle each) against the witness adding the
 * same origin from its own process: one entry, whoever wins. */
typedef struct adder {
  const char *path;
  int k; /* -1: the witness */
  logstate_config_result r;
  int rc;
  pthread_t t;
} adder;

static void *add_one(void *arg) {
  adder *a = arg;
  char url[256], vkey[32];
  logstate *ls = NULL;
  if (a->k < 0) {
    a->rc = witness(a->path, "addlog race.example/log race+w+AA==", NULL, 0);
    return NULL;
  }
  snprintf(url, sizeof(url), "sqlite:%s", a->path);
  snprintf(vkey, sizeof(vkey), "race+%d+AA==", a->k);
  if (logstate_open(&ls, url) == LOGSTATE_OK && logstate_init(ls) == LOGSTATE_OK) {
    logstate_log_config c = {.origin = "race.example/log", .vkey = vkey};
    if (logstate_config_add(ls, &c, 1, &a->r) != LOGSTATE_OK)
      a->r = 0;
  }
  logstate_free(ls);
  return NULL;
}

static void test_racing_adders_leave_one_entry(void **state) {
  (void)state;
  char path[128], out[64], cmd[512];
  logstate *ls = open_new(path, sizeof(path), 1);
  adder a[7];
  for (int i = 0; i < 7; i++) {
    a[i] = (adder){.path = path, .k = i == 3 ? -1 : i};
    assert_int_equal(pthread_create(&a[i].t, NULL, add_one, &a[i]), 0);
  }
  int added = 0;
  for (int i = 0; i < 7; i++) {
    pthread_join(a[i].t, NULL);
    if (a[i].k < 0) {
      assert_int_equal(a[i].rc, 0);
      continue;
    }
    assert_true(a[i].r == LOGSTATE_CONFIG_ADDED || a[i].r == LOGSTATE_CONFIG_DIFFERENT);
    added += a[i].r == LOGSTATE_CONFIG_ADDED;
  }
  snprintf(cmd, sizeof(cmd), "sqlite3 '%s' \"SELECT count(*) FROM logs WHERE origin = 'race.example/log'\"", path);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t got = fread(out, 1, sizeof(out) - 1, p);
  out[got] = '\0';
  assert_int_equal(pclose(p), 0);
  assert_string_equal(out, "1\n"); /* one row, of one adder */
  assert_true(added <= 1);
  logstate_log_entry *e = NULL;
  assert_status(logstate_config_get(ls, "race.example/log", &e, NULL), LOGSTATE_OK);
  if (added == 0) /* the witness won */
    assert_string_equal(e->vkey, "race+w+AA==");
  logstate_log_entry_free(e);
  logstate_free(ls);
}

static void on_problem(void *arg, const char *id, const char *problem) {
  (void)id;
  assert_non_null(strstr(problem, "origin's log ID"));
  ++*(int *)arg;
}

/* logstate_verify() (and so `logstate check`) names a configuration row
 * that is not under its origin's TEXT ID: one under another ID, one under
 * the right ID as a BLOB. A witness's own rows are fine. */
static void test_verify_finds_misplaced_configurations(void **state) {
  (void)state;
  char path[128], cmd[768];
  logstate *ls = open_new(path, sizeof(path), 1);
  witness_ok(path, "addlog fine.example/log f+1+AA==", NULL, 0);
  size_t problems = 9;
  int reported = 0;
  assert_status(logstate_verify(ls, on_problem, &reported, &problems), LOGSTATE_OK);
  assert_int_equal(problems, 0);
  char id[LOGSTATE_LOG_ID_HEX_LEN + 1];
  assert_status(logstate_log_id("blob.example/log", id), LOGSTATE_OK);
  snprintf(
      cmd, sizeof(cmd),
      "sqlite3 '%s' \"INSERT INTO logs VALUES ('0000000000000000000000000000000000000000000000000000000000000000', "
      "'wrong.example/log', 'w+1+AA==', '', 0, 0); INSERT INTO logs VALUES (CAST('%s' AS BLOB), 'blob.example/log', "
      "'b+1+AA==', '', 0, 0)\"",
      path, id);
  assert_int_equal(system(cmd), 0);
  assert_status(logstate_verify(ls, on_problem, &reported, &problems), LOGSTATE_OK);
  assert_int_equal(problems, 2);
  assert_int_equal(reported, 2);
  logstate_log_entry *e = NULL;
  assert_status(logstate_config_get(ls, "blob.example/log", &e, NULL), LOGSTATE_NOT_FOUND); /* why it is damage */
  logstate_free(ls);
}

static int setup(void **state) {
  (void)state;
  return test_tmpdir(dir, sizeof(dir), "cfgw");
}

static int teardown(void **state) {
  (void)state;
  return test_rmtree(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_added_on_one_side_read_on_the_other),
      cmocka_unit_test(test_disabled_stays_disabled_for_the_witness),
      cmocka_unit_test(test_racing_adders_leave_one_entry),
      cmocka_unit_test(test_verify_finds_misplaced_configurations),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* SQLite-specific behaviour: several processes on one file, pushback when
 * the database stays busy, the pragma checks, compatibility with a database
 * the Go witness (or the sqlite3 shell) wrote, and the async API keeping
 * SQLite's blocking work off the loop. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "logstate/logstate.h"
#ifdef LOGSTATE_HAVE_ASYNC
#include <event2/event.h>

#include "logstate/async.h"
#endif
#include "logstate/sqlite.h"

#include "test_util.h"

static char dir[64];
static int file_no;

static const char *new_path(char *buf, size_t n) {
  snprintf(buf, n, "%s/db-%d.db", dir, ++file_no);
  return buf;
}

static logstate *open_path(const char *path) {
  char url[256];
  logstate *ls = NULL;
  snprintf(url, sizeof(url), "sqlite:%s", path);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  return ls;
}

static logstate *open_url_init(const char *url) {
  logstate *ls = NULL;
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  return ls;
}

static void sql(const char *path, const char *stmt) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  char *err = NULL;
  if (sqlite3_exec(db, stmt, NULL, NULL, &err) != SQLITE_OK)
    fail_msg("%s: %s", stmt, err);
  sqlite3_close(db);
}

static void test_processes_share_a_file(void **state) {
  (void)state;
  char path[128], url[160];
  new_path(path, sizeof(path));
  snprintf(url, sizeof(url), "sqlite:%s", path);
  logstate *ls = open_path(path);
  pid_t pids[4];
  fflush(NULL);
  for (int i = 0; i < 4; i++) {
    if ((pids[i] = fork()) == 0) {
      logstate *c = NULL;
      logstate_options o = LOGSTATE_OPTIONS_INIT;
      o.update_attempts = 10000;
      if (logstate_open_ext(&c, url, &o) != LOGSTATE_OK)
        _exit(1);
      for (int k = 0; k < 250; k++) {
        logstate_status st = logstate_update(c, "counter", test_fn_increment, NULL);
        if (st != LOGSTATE_OK) {
          fprintf(stderr, "child %d: %s: %s\n", i, logstate_status_name(st), logstate_last_error());
          _exit(1);
        }
      }
      logstate_free(c);
      _exit(0);
    }
  }
  for (int i = 0; i < 4; i++) {
    int status;
    assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  test_expect_stored(ls, "counter", "counter.example\n1000\nhash\n");
  logstate_free(ls);
}

static void test_busy_is_pushback(void **state) {
  (void)state;
  char path[128];
  new_path(path, sizeof(path));
  logstate *ls = NULL;
  logstate_sqlite_options so = LOGSTATE_SQLITE_OPTIONS_INIT;
  so.busy_timeout_ms = 100;
  assert_status(logstate_sqlite_open(&ls, path, &so, NULL), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  assert_status(test_put(ls, "log", "v1"), LOGSTATE_OK);
  /* Another connection holds the write lock. */
  sqlite3 *other = NULL;
  assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
  assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  logstate_write *w = NULL;
  assert_status(logstate_write_ops(ls, "log", &w), LOGSTATE_OK); /* reads are not blocked (WAL) */
  assert_status(logstate_write_set(w, (const uint8_t *)"v2", 2), LOGSTATE_RESOURCE_EXHAUSTED);
  logstate_write_close(w);
  sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
  sqlite3_close(other);
  test_expect_stored(ls, "log", "v1");
  assert_status(test_put(ls, "log", "v2"), LOGSTATE_OK);
  logstate_free(ls);
}

static void test_pragmas_checked(void **state) {
  (void)state;
  logstate *ls = NULL;
  char path[128];
  /* An in-memory database cannot be in WAL mode: refused, not hoped. */
  assert_status(logstate_open(&ls, "sqlite::memory:"), LOGSTATE_FAILED_PRECONDITION);
  assert_non_null(strstr(logstate_last_error(), "wal"));
  assert_status(logstate_open(&ls, "sqlite:"), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_sqlite_open(&ls, NULL, NULL, NULL), LOGSTATE_INVALID_ARGUMENT);
  /* A typo in the directory is the caller's mistake, not an outage. */
  assert_status(logstate_open(&ls, "sqlite:/nonexistent-dir/x.db"), LOGSTATE_INVALID_ARGUMENT);
  assert_non_null(strstr(logstate_last_error(), "/nonexistent-dir"));
  /* A file that is not a database. */
  new_path(path, sizeof(path));
  FILE *f = fopen(path, "w");
  fputs("this is not a database, it is a text file of some length.........................\n", f);
  fclose(f);
  char url[160];
  snprintf(url, sizeof(url), "sqlite:%s", path);
  assert_status(logstate_open(&ls, url), LOGSTATE_INTERNAL);
  /* The settings really are on. */
  new_path(path, sizeof(path));
  ls = open_path(path);
  logstate_free(ls);
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* sqlite: URLs take ?key=value options like redis:// ones; an unknown key
 * is refused before any file is made, and %3F is a literal ? in the path. */
static void test_url_options(void **state) {
  (void)state;
  logstate *ls = NULL;
  char url[300], path[200];
  struct stat sb;
  snprintf(url, sizeof(url), "sqlite:%s/state.db?nosuchkey=3", dir);
  assert_status(logstate_open(&ls, url), LOGSTATE_INVALID_ARGUMENT);
  assert_non_null(strstr(logstate_last_error(), "nosuchkey"));
  snprintf(path, sizeof(path), "%s/state.db?nosuchkey=3", dir);
  assert_int_equal(stat(path, &sb), -1); /* no file named after the query */
  snprintf(path, sizeof(path), "%s/state.db", dir);
  assert_int_equal(stat(path, &sb), -1);
  const char *bad[] = {"?busy_timeout_ms=abc", "?busy_timeout_ms=0", "?busy_timeout_ms=3600001", "?busy_timeout_ms",
                       "?busy_timeout_ms=10&x=1"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    snprintf(url, sizeof(url), "sqlite:%s/opt.db%s", dir, bad[i]);
    if (logstate_open(&ls, url) != LOGSTATE_INVALID_ARGUMENT)
      fail_msg("%s was accepted", url);
  }
  snprintf(url, sizeof(url), "sqlite:%s/odd%%3Fname.db?busy_timeout_ms=250", dir);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  assert_status(test_put(ls, "log", "v"), LOGSTATE_OK);
  logstate_free(ls);
  snprintf(path, sizeof(path), "%s/odd?name.db", dir);
  assert_int_equal(stat(path, &sb), 0);
  assert_status(logstate_open(&ls, "memory:name?x=1"), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_open(&ls, "memory:bad%zzname"), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_open(&ls, "memory:fine%20name"), LOGSTATE_OK);
  logstate_free(ls);
}

static void expect_error_mentions(const char *word) {
  if (strstr(logstate_last_error(), word) == NULL)
    fail_msg("last error \"%s\" does not mention \"%s\"", logstate_last_error(), word);
}

/* One text value from the database at `path` ("" when no row). */
static void query_text(const char *path, const char *q, char *buf, size_t n) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
  buf[0] = '\0';
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
    snprintf(buf, n, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* Opens `url` and runs init: the status of whichever failed first. */
static logstate_status open_init(const char *url) {
  logstate *ls = NULL;
  logstate_status st = logstate_open(&ls, url);
  if (st == LOGSTATE_OK)
    st = logstate_init(ls);
  logstate_free(ls);
  return st;
}

#define META_ID "SELECT value FROM logstate_meta WHERE key = 'store_id'"
#define TABLES "SELECT group_concat(name) FROM sqlite_master WHERE type = 'table'"

/* A store_id pinned in the URL: a database replaced, emptied or missing is
 * refused, never taken for a new store, and nothing is written by the
 * refusal; create=no refuses to make a store. */
/* `url` on a missing `path` is NOT_FOUND (naming `why`) and makes no file;
 * on an empty database file it is NOT_FOUND too. */
static void refused_as_absent(const char *path, const char *url, const char *why) {
  struct stat sb;
  assert_status(open_init(url), LOGSTATE_NOT_FOUND);
  expect_error_mentions(why);
  assert_int_equal(stat(path, &sb), -1);
  sql(path, "PRAGMA user_version = 0;");
  assert_status(open_init(url), LOGSTATE_NOT_FOUND);
  expect_error_mentions(why);
}

static void test_store_identity(void **state) {
  (void)state;
  char path[128], url[400], id[80], got[80], created[32];
  struct stat sb;
  logstate_info info;
  logstate *ls = open_path(new_path(path, sizeof(path)));
  assert_status(logstate_describe(ls, &info), LOGSTATE_OK);
  logstate_free(ls);
  query_text(path, META_ID, id, sizeof(id));
  query_text(path, "SELECT value FROM logstate_meta WHERE key = 'created_ms'", created, sizeof(created));
  assert_int_equal(strlen(id), 32);
  assert_string_equal(info.store_id, id);
  assert_true(atoll(created) > 1700000000000LL);

  /* Pinned to its own id: works, and init keeps the id. */
  snprintf(url, sizeof(url), "sqlite:%s?store_id=%s", path, id);
  assert_status(open_init(url), LOGSTATE_OK);
  query_text(path, META_ID, got, sizeof(got));
  assert_string_equal(got, id);

  /* Another store's id. */
  snprintf(url, sizeof(url), "sqlite:%s?store_id=0123456789abcdef0123456789abcdef", path);
  assert_status(open_init(url), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("another store");

  /* The file replaced by an empty one: refused, and left without tables. */
  assert_int_equal(unlink(path), 0);
  sql(path, "PRAGMA user_version = 0;");
  snprintf(url, sizeof(url), "sqlite:%s?store_id=%s", path, id);
  assert_status(open_init(url), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("reset");
  query_text(path, TABLES, got, sizeof(got));
  assert_string_equal(got, "");

  /* A Go witness database (chkpts, no store_id): refused when pinned. */
  sql(path, "CREATE TABLE chkpts (logID BLOB PRIMARY KEY, chkpt BLOB, range BLOB);");
  assert_status(open_init(url), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("no store_id");
  query_text(path, TABLES, got, sizeof(got));
  assert_string_equal(got, "chkpts");

  /* The file gone: opening a pinned store creates nothing. */
  assert_int_equal(unlink(path), 0);
  assert_status(open_init(url), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("reset");
  assert_int_equal(stat(path, &sb), -1);

  /* create=no: no file made, and an existing file without a store stays so. */
  snprintf(url, sizeof(url), "sqlite:%s?create=no", path);
  refused_as_absent(path, url, "create=no");
  query_text(path, TABLES, got, sizeof(got));
  assert_string_equal(got, "");
  /* ... and a store that exists opens with create=no. */
  snprintf(url, sizeof(url), "sqlite:%s?create=yes", path);
  assert_status(open_init(url), LOGSTATE_OK);
  query_text(path, META_ID, got, sizeof(got));
  assert_int_equal(strlen(got), 32);
  assert_string_not_equal(got, id); /* a new store gets a new id */
  snprintf(url, sizeof(url), "sqlite:%s?create=no", path);
  assert_status(open_init(url), LOGSTATE_OK);
}

/* Bad store_id and create values are refused before anything is opened. */
static void test_store_identity_arguments(void **state) {
  (void)state;
  char path[128], url[400];
  struct stat sb;
  new_path(path, sizeof(path));
  const char *bad[] = {"store_id=",
                       "store_id=a%2Fb",
                       "store_id=a/b",
                       "create=maybe",
                       "create=",
                       "store_id=a&store_id=b",
                       "store_id=0123456789012345678901234567890123456789012345678901234567890123456789"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    logstate *ls = NULL;
    snprintf(url, sizeof(url), "sqlite:%s?%s", path, bad[i]);
    if (logstate_open(&ls, url) != LOGSTATE_INVALID_ARGUMENT)
      fail_msg("%s was accepted", url);
    assert_null(ls);
  }
  assert_int_equal(stat(path, &sb), -1);
  logstate *ls = NULL;
  logstate_sqlite_options so = LOGSTATE_SQLITE_OPTIONS_INIT;
  so.store_id = "white space";
  assert_status(logstate_sqlite_open(&ls, path, &so, NULL), LOGSTATE_INVALID_ARGUMENT);
  expect_error_mentions("store_id");
  so.store_id = NULL;
  so.version = LOGSTATE_SQLITE_OPTIONS_VERSION + 1; /* not defined yet */
  assert_status(logstate_sqlite_open(&ls, path, &so, NULL), LOGSTATE_INVALID_ARGUMENT);
  /* One struct version for 0.2: 0.1's version 1 is refused, naming what
   * to start from. */
  so.version = 1;
  assert_status(logstate_sqlite_open(&ls, path, &so, NULL), LOGSTATE_INVALID_ARGUMENT);
  expect_error_mentions("LOGSTATE_SQLITE_OPTIONS_INIT");
  so = (logstate_sqlite_options)LOGSTATE_SQLITE_OPTIONS_INIT;
  so.create = (logstate_create)7;
  assert_status(logstate_sqlite_open(&ls, path, &so, NULL), LOGSTATE_INVALID_ARGUMENT);
  expect_error_mentions("create 7");
  so.create = LOGSTATE_CREATE_YES;
  so.history_bodies = (logstate_flag)5;
  assert_status(logstate_sqlite_open(&ls, path, &so, NULL), LOGSTATE_INVALID_ARGUMENT);
  expect_error_mentions("history_bodies");
  so.history_bodies = LOGSTATE_FLAG_DEFAULT;
  assert_status(logstate_sqlite_open(&ls, path, &so, NULL), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  logstate_free(ls);
  assert_int_equal(stat(path, &sb), 0);
}

/* The bytes of a file (malloc()ed), for "byte-identical" checks. */
static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  char *buf = malloc(1 << 20);
  assert_non_null(buf);
  *n = fread(buf, 1, 1 << 20, f);
  fclose(f);
  return buf;
}

/* mode=ro, as an operator opens a Go witness's database: reads work, the
 * file stays byte-identical (journal mode too), writes are refused, and a
 * missing or empty file is refused rather than created. */
static void test_read_only(void **state) {
  (void)state;
  char path[128], url[400], got[80];
  new_path(path, sizeof(path));
  sql(path, "CREATE TABLE chkpts (logID BLOB PRIMARY KEY, chkpt BLOB, range BLOB);"
            "INSERT INTO chkpts VALUES ('go.example/log', 'go.example/log\n7\nAAAA\n', NULL);");
  size_t n0, n1;
  char *before = slurp(path, &n0);
  snprintf(url, sizeof(url), "sqlite:%s?mode=ro", path);
  logstate *ls = NULL;
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  test_expect_stored(ls, "go.example/log", "go.example/log\n7\nAAAA\n");
  char **ids = NULL;
  size_t n = 0, problems = 9;
  assert_status(logstate_logs(ls, &ids, &n), LOGSTATE_OK);
  assert_int_equal(n, 1);
  logstate_logs_free(ids, n);
  assert_status(test_get(ls, "absent", got, sizeof(got)), LOGSTATE_NOT_FOUND);
  assert_status(logstate_verify(ls, NULL, NULL, &problems), LOGSTATE_OK);
  assert_int_equal(problems, 0);
  logstate_info info;
  assert_status(logstate_describe(ls, &info), LOGSTATE_OK);
  assert_int_equal(info.durability, LOGSTATE_DURABILITY_UNKNOWN);
  assert_string_equal(info.store_id, "");
  assert_status(test_put(ls, "go.example/log", "x"), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("read-only");
  assert_status(logstate_update(ls, "go.example/log", test_fn_increment, NULL), LOGSTATE_FAILED_PRECONDITION);
  logstate_free(ls);
  char *after = slurp(path, &n1);
  assert_int_equal(n0, n1);
  assert_memory_equal(before, after, n0);
  free(before);
  free(after);
  query_text(path, "PRAGMA journal_mode", got, sizeof(got));
  assert_string_equal(got, "delete");

  /* A logstate store opens read-only too, and a pin is checked. */
  new_path(path, sizeof(path));
  logstate_free(open_path(path));
  char id[80];
  query_text(path, META_ID, id, sizeof(id));
  snprintf(url, sizeof(url), "sqlite:%s?mode=ro&store_id=%s", path, id);
  assert_status(open_init(url), LOGSTATE_OK);
  snprintf(url, sizeof(url), "sqlite:%s?mode=ro&store_id=other", path);
  assert_status(open_init(url), LOGSTATE_FAILED_PRECONDITION);

  /* Missing: refused at opening, nothing created; empty: refused by init. */
  new_path(path, sizeof(path));
  snprintf(url, sizeof(url), "sqlite:%s?mode=ro", path);
  refused_as_absent(path, url, "mode=ro");
  snprintf(url, sizeof(url), "sqlite:%s?mode=read", path);
  assert_status(open_init(url), LOGSTATE_INVALID_ARGUMENT);
}

#ifdef LOGSTATE_HAVE_ASYNC
typedef struct tick_ctx {
  int ticks, done;
  logstate_status st;
} tick_ctx;

static void on_tick(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  ((tick_ctx *)arg)->ticks++;
}

static void on_updated(logstate_status st, void *arg) {
  ((tick_ctx *)arg)->st = st;
  ((tick_ctx *)arg)->done++;
}

static logstate_status fn_v(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len, void *arg) {
  (void)cur, (void)cur_len, (void)arg;
  *out_next = (uint8_t *)strdup("async v");
  *out_next_len = 7;
  return LOGSTATE_OK;
}

/* An async update whose write waits for a lock another connection holds
 * does not stall the loop: a 10 ms timer keeps firing meanwhile, and the
 * update completes once the lock goes. (Run on the loop, the write would
 * block it until the busy timeout, and the lock would never go.) */
static void test_async_blocking_off_the_loop(void **state) {
  (void)state;
  char path[128], url[200];
  new_path(path, sizeof(path));
  logstate_free(open_path(path)); /* the tables exist */
  sqlite3 *other = NULL;
  assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
  assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  struct event_base *evb = event_base_new();
  logstate_async *a = NULL;
  snprintf(url, sizeof(url), "sqlite:%s?busy_timeout_ms=20000", path);
  assert_status(logstate_async_open(&a, evb, url, NULL), LOGSTATE_OK);
  tick_ctx c = {0, 0, LOGSTATE_OK};
  struct event *tick = event_new(evb, -1, EV_PERSIST, on_tick, &c);
  struct timeval ten_ms = {0, 10000};
  event_add(tick, &ten_ms);
  assert_status(logstate_async_update(a, "log", fn_v, NULL, on_updated, &c), LOGSTATE_OK);
  while (c.ticks < 20 && !c.done)
    event_base_loop(evb, EVLOOP_ONCE);
  assert_int_equal(c.done, 0); /* still waiting for the lock, and the loop ran */
  assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
  while (!c.done && c.ticks < 1000)
    event_base_loop(evb, EVLOOP_ONCE);
  assert_int_equal(c.done, 1);
  assert_status(c.st, LOGSTATE_OK);
  event_free(tick);
  logstate_async_free(a);
  event_base_free(evb);
  sqlite3_close(other);
  logstate *ls = open_path(path);
  test_expect_stored(ls, "log", "async v");
  logstate_free(ls);
}
#endif

typedef struct problems {
  char text[1024];
} problems;

static void on_problem(void *arg, const char *log_id, const char *problem) {
  problems *p = arg;
  size_t n = strlen(p->text);
  snprintf(p->text + n, sizeof(p->text) - n, "%s: %s\n", log_id, problem);
}

/* A log logstate set whose chkpts row is deleted is damage, never "no
 * checkpoint yet"; so is a log stored twice (under a TEXT and a BLOB ID):
 * reads are INTERNAL naming it, sets are refused, verify names it. A row
 * whose checkpoint is nulled is present, with an empty checkpoint, as the
 * Go witness reads it. A log only the Go witness wrote has no version row,
 * and deleting it makes it simply absent. */
static void test_damaged_logs(void **state) {
  (void)state;
  char path[128], buf[32];
  new_path(path, sizeof(path));
  logstate *ls = open_path(path);
  logstate_write *w = NULL;
  assert_status(test_put(ls, "a", "a1"), LOGSTATE_OK);
  assert_status(test_put(ls, "b", "b1"), LOGSTATE_OK);
  assert_status(test_put(ls, "twice", "t1"), LOGSTATE_OK);
  sql(path, "DELETE FROM chkpts WHERE logID = 'a'");
  sql(path, "UPDATE chkpts SET chkpt = NULL WHERE logID = 'b'");
  sql(path, "INSERT INTO chkpts (logID, chkpt) VALUES ('go', 'go1'), (CAST('twice' AS BLOB), 't0')");
  const char *damaged[] = {"a", "twice"}, *why[] = {"no row", "stored twice"};
  for (int i = 0; i < 2; i++) {
    assert_status(test_get(ls, damaged[i], buf, sizeof(buf)), LOGSTATE_INTERNAL);
    expect_error_mentions("damaged");
    expect_error_mentions(why[i]);
    assert_status(logstate_write_ops(ls, damaged[i], &w), LOGSTATE_INTERNAL);
    assert_status(logstate_update(ls, damaged[i], test_fn_increment, NULL), LOGSTATE_INTERNAL);
  }
  test_expect_stored(ls, "b", ""); /* present, empty */
  sql(path, "DELETE FROM chkpts WHERE logID = 'go'");
  assert_status(test_get(ls, "go", buf, sizeof(buf)), LOGSTATE_NOT_FOUND);
  problems p = {""};
  size_t n = 0;
  assert_status(logstate_verify(ls, on_problem, &p, &n), LOGSTATE_OK);
  assert_int_equal(n, 2); /* a and twice; the Go witness's log had no version */
  assert_string_equal(p.text, "a: logstate_versions has the log, but chkpts has no row for it (restore it; do not "
                              "trust a first checkpoint)\ntwice: stored twice in chkpts, under a TEXT and a BLOB ID: "
                              "run `logstate repair`\n");
  logstate_free(ls);
}

static void test_go_witness_database(void **state) {
  (void)state;
  char path[128];
  new_path(path, sizeof(path));
  /* The Go witness's table, with rows as the sqlite3 shell writes them. */
  sql(path, "CREATE TABLE chkpts (logID BLOB PRIMARY KEY, chkpt BLOB, range BLOB);"
            "INSERT INTO chkpts VALUES ('go.example/log', 'go.example/log\n7\nAAAA\n', NULL);"
            "INSERT INTO chkpts VALUES (CAST('blob.example/log' AS BLOB), CAST('blob.example/log\n3\nBBBB\n' AS "
            "BLOB), x'00ff');");
  logstate *ls = open_path(path);
  char **ids = NULL;
  size_t n = 0;
  assert_status(logstate_logs(ls, &ids, &n), LOGSTATE_OK);
  assert_int_equal(n, 2);
  assert_string_equal(ids[0], "blob.example/log");
  assert_string_equal(ids[1], "go.example/log");
  logstate_logs_free(ids, n);
  test_expect_stored(ls, "go.example/log", "go.example/log\n7\nAAAA\n");
  /* An update on a TEXT row updates that row, not a second one. */
  assert_status(test_put(ls, "go.example/log", "go.example/log\n8\nCCCC\n"), LOGSTATE_OK);
  test_expect_stored(ls, "go.example/log", "go.example/log\n8\nCCCC\n");
  assert_status(test_put(ls, "new.example/log", "new"), LOGSTATE_OK);
  /* A set on a row an earlier logstate wrote with a BLOB ID gives it the
   * witness's TEXT ID, in place. */
  assert_status(test_put(ls, "blob.example/log", "blob.example/log\n4\nDDDD\n"), LOGSTATE_OK);
  logstate_free(ls);
  /* What the Go witness reads: one row per log, each with a TEXT ID, range
   * untouched. */
  char got[200];
  query_text(path, "SELECT count(*) || ' ' || sum(range IS NOT NULL) || ' ' || group_concat(typeof(logID)) FROM chkpts",
             got, sizeof(got));
  assert_string_equal(got, "3 1 text,text,text");
  query_text(path, "SELECT length(chkpt) FROM chkpts WHERE logID = 'new.example/log'", got, sizeof(got));
  assert_string_equal(got, "3");
}

static void test_foreign_writer_is_a_conflict(void **state) {
  (void)state;
  char path[128];
  new_path(path, sizeof(path));
  logstate *ls = open_path(path);
  assert_status(test_put(ls, "log", "v1"), LOGSTATE_OK);
  logstate_write *w = NULL;
  assert_status(logstate_write_ops(ls, "log", &w), LOGSTATE_OK);
  /* A writer that knows nothing of logstate's version table (the Go
   * witness) changes the checkpoint: the set must lose. */
  sql(path, "UPDATE chkpts SET chkpt = 'by-go' WHERE logID = 'log'");
  assert_status(logstate_write_set(w, (const uint8_t *)"v2", 2), LOGSTATE_ABORTED);
  logstate_write_close(w);
  test_expect_stored(ls, "log", "by-go");
  /* And a logstate writer that restores an earlier value (A, B, A) is a
   * change too: the version catches it. */
  assert_status(test_put(ls, "log", "A"), LOGSTATE_OK);
  assert_status(logstate_write_ops(ls, "log", &w), LOGSTATE_OK);
  assert_status(test_put(ls, "log", "B"), LOGSTATE_OK);
  assert_status(test_put(ls, "log", "A"), LOGSTATE_OK);
  assert_status(logstate_write_set(w, (const uint8_t *)"C", 1), LOGSTATE_ABORTED);
  logstate_write_close(w);
  test_expect_stored(ls, "log", "A");
  logstate_free(ls);
}

static void test_use_before_init(void **state) {
  (void)state;
  char path[128], url[160];
  new_path(path, sizeof(path));
  snprintf(url, sizeof(url), "sqlite:%s", path);
  logstate *ls = NULL;
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  char **ids;
  size_t n;
  assert_status(logstate_logs(ls, &ids, &n), LOGSTATE_FAILED_PRECONDITION);
  assert_non_null(strstr(logstate_last_error(), "logstate_init"));
  logstate_free(ls);
}

/* The names in the directory of the tests' files, sorted, into buf. */
static void dir_listing(char *buf, size_t n) {
  char cmd[160];
  snprintf(cmd, sizeof(cmd), "ls -a '%s' | sort | tr '\\n' ' '", dir);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t got = fread(buf, 1, n - 1, p);
  buf[got] = '\0';
  pclose(p);
}

/* create=on_write: init makes nothing, the store reads as empty, the first
 * set makes the file with it; a set refused before it reached the store
 * leaves no file. */
static void test_create_on_write(void **state) {
  (void)state;
  char path[128], url[200], buf[16];
  struct stat sb;
  logstate_info info;
  new_path(path, sizeof(path));
  snprintf(url, sizeof(url), "sqlite:%s?create=on_write&history=2", path);
  logstate *ls = NULL;
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  assert_int_equal(stat(path, &sb), -1);
  char **ids = NULL;
  size_t n = 9;
  assert_status(logstate_logs(ls, &ids, &n), LOGSTATE_OK);
  assert_int_equal(n, 0);
  assert_status(test_get(ls, "log", buf, sizeof(buf)), LOGSTATE_NOT_FOUND);
  assert_status(logstate_describe(ls, &info), LOGSTATE_OK);
  assert_string_equal(info.store_id, "");
  assert_non_null(strstr(info.detail, "no file yet"));
  logstate_write *w = NULL;
  assert_status(logstate_write_ops(ls, "log", &w), LOGSTATE_OK);
  assert_status(logstate_write_set(w, (const uint8_t *)"", 0), LOGSTATE_INVALID_ARGUMENT);
  assert_int_equal(stat(path, &sb), -1);
  assert_status(logstate_write_set(w, (const uint8_t *)"v1", 2), LOGSTATE_OK);
  logstate_write_close(w);
  assert_int_equal(stat(path, &sb), 0);
  test_expect_stored(ls, "log", "v1");
  assert_status(test_put(ls, "log", "v2"), LOGSTATE_OK);
  assert_status(logstate_describe(ls, &info), LOGSTATE_OK);
  assert_int_equal(strlen(info.store_id), 32);
  assert_non_null(strstr(info.detail, "journal: WAL, chosen by logstate, which created this file"));
  logstate_history_entry *e = NULL;
  assert_status(logstate_history(ls, "log", 10, &e, &n), LOGSTATE_OK);
  assert_int_equal(n, 2); /* the first set's entry was made with the file */
  logstate_history_free(e, n);
  logstate_free(ls);
  char mode[16];
  query_text(path, "PRAGMA journal_mode", mode, sizeof(mode));
  assert_string_equal(mode, "wal");
  snprintf(url, sizeof(url), "sqlite:%s?create=sometimes", path);
  assert_status(open_init(url), LOGSTATE_INVALID_ARGUMENT);
}

/* Processes racing to create one store end with one file and one first
 * checkpoint: with create=on_write exactly one trust-on-first-use set
 * wins; with init, every process gets the same store_id. Nothing of the
 * losers is left in the directory. */
static void test_racing_creators(void **state) {
  (void)state;
  char path[128], url[200], before[2048], after[2048];
  for (int on_write = 0; on_write < 2; on_write++) {
    new_path(path, sizeof(path));
    snprintf(url, sizeof(url), "sqlite:%s%s", path, on_write ? "?create=on_write" : "");
    dir_listing(before, sizeof(before));
    pid_t pids[4];
    fflush(NULL);
    for (int i = 0; i < 4; i++) {
      if ((pids[i] = fork()) == 0) {
        logstate *c = NULL;
        logstate_write *w = NULL;
        char cp[16];
        snprintf(cp, sizeof(cp), "first %d", i);
        if (logstate_open(&c, url) != LOGSTATE_OK || logstate_init(c) != LOGSTATE_OK ||
            logstate_write_ops(c, "log", &w) != LOGSTATE_OK)
          _exit(2);
        uint8_t *cur = NULL;
        size_t len = 0;
        logstate_status st = logstate_write_get_latest(w, &cur, &len);
        free(cur);
        if (st == LOGSTATE_NOT_FOUND) /* trust on first use */
          st = logstate_write_set(w, (const uint8_t *)cp, strlen(cp));
        logstate_write_close(w);
        logstate_free(c);
        _exit(st == LOGSTATE_OK ? 0 : st == LOGSTATE_ABORTED || st == LOGSTATE_OK ? 1 : 2);
      }
    }
    int won = 0;
    for (int i = 0; i < 4; i++) {
      int status;
      assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
      assert_true(WIFEXITED(status) && WEXITSTATUS(status) <= 1);
      won += WEXITSTATUS(status) == 0;
    }
    char got[64];
    query_text(path, "SELECT count(*) || ' ' || typeof(logID) FROM chkpts", got, sizeof(got));
    assert_string_equal(got, "1 text");
    query_text(path, "SELECT count(*) FROM logstate_meta WHERE key = 'store_id'", got, sizeof(got));
    assert_string_equal(got, "1");
    assert_true(won >= 1);
    dir_listing(after, sizeof(after));
    char *name = strrchr(path, '/') + 1;
    assert_non_null(strstr(after, name));
    assert_null(strstr(after, ".logstate-new-"));
  }
}

/* A read-only handle on a WAL store every writer closed: reads work and no
 * file appears; with a writer open, it reads what the writer committed. */
static void test_read_only_creates_nothing(void **state) {
  (void)state;
  char path[128], url[200], before[2048], after[2048];
  new_path(path, sizeof(path));
  logstate *ls = open_path(path);
  assert_status(test_put(ls, "log", "v1"), LOGSTATE_OK);
  logstate_free(ls);
  dir_listing(before, sizeof(before));
  snprintf(url, sizeof(url), "sqlite:%s?mode=ro", path);
  logstate *ro = open_url_init(url);
  test_expect_stored(ro, "log", "v1");
  char **ids = NULL;
  size_t n = 0, nproblems = 9;
  assert_status(logstate_logs(ro, &ids, &n), LOGSTATE_OK);
  logstate_logs_free(ids, n);
  assert_status(logstate_verify(ro, NULL, NULL, &nproblems), LOGSTATE_OK);
  assert_int_equal(nproblems, 0);
  dir_listing(after, sizeof(after));
  assert_string_equal(after, before);
  logstate *rw = open_path(path);
  assert_status(test_put(rw, "log", "v2"), LOGSTATE_OK);
  test_expect_stored(ro, "log", "v2"); /* in the -wal, through the shared -shm */
  logstate_free(rw);
  logstate_free(ro);
}

/* A store of logstate before 0.2 (BLOB IDs in every table): its logs read
 * as they were, a set turns the row and its version TEXT and keeps
 * counting, and repair converts the rest. */
static void test_store_of_an_earlier_logstate(void **state) {
  (void)state;
  char path[128], got[128];
  new_path(path, sizeof(path));
  logstate_free(open_path(path));
  sql(path, "INSERT INTO chkpts (logID, chkpt) VALUES (CAST('a' AS BLOB), 'a5'), (CAST('b' AS BLOB), 'b2');"
            "INSERT INTO logstate_versions VALUES (CAST('a' AS BLOB), 5), (CAST('b' AS BLOB), 2);"
            "CREATE TABLE logstate_history (logID BLOB NOT NULL, version INTEGER NOT NULL, time_ms INTEGER NOT NULL, "
            "chkpt BLOB, sha256 TEXT NOT NULL, origin BLOB, tree_size TEXT, client TEXT, PRIMARY KEY (logID, version));"
            "INSERT INTO logstate_history VALUES (CAST('a' AS BLOB), 5, 1, 'a5', "
            "'0000000000000000000000000000000000000000000000000000000000000000', NULL, NULL, 'old');");
  logstate *ls = open_path(path);
  test_expect_stored(ls, "a", "a5");
  logstate_write *w = NULL;
  assert_status(logstate_write_ops(ls, "a", &w), LOGSTATE_OK);
  assert_status(logstate_write_set(w, (const uint8_t *)"a6", 2), LOGSTATE_OK);
  logstate_write_close(w);
  query_text(path,
             "SELECT group_concat(typeof(c.logID) || ':' || v.version || ':' || typeof(v.logID)) FROM chkpts c JOIN "
             "logstate_versions v ON CAST(v.logID AS BLOB) = CAST(c.logID AS BLOB) WHERE CAST(c.logID AS BLOB) = "
             "CAST('a' AS BLOB)",
             got, sizeof(got));
  assert_string_equal(got, "text:6:text");
  size_t repaired = 0, left = 9;
  assert_status(logstate_sqlite_repair(ls, NULL, NULL, &repaired, &left), LOGSTATE_OK);
  assert_int_equal(repaired, 1); /* b */
  assert_int_equal(left, 0);
  query_text(path,
             "SELECT (SELECT group_concat(DISTINCT typeof(logID)) FROM chkpts) || ' ' || (SELECT group_concat(DISTINCT "
             "typeof(logID)) FROM logstate_versions) || ' ' || (SELECT group_concat(DISTINCT typeof(logID)) FROM "
             "logstate_history) || ' ' || (SELECT version FROM logstate_versions WHERE logID = 'b')",
             got, sizeof(got));
  assert_string_equal(got, "text text text 2");
  logstate_history_entry *e = NULL;
  size_t n = 0;
  assert_status(logstate_history(ls, "a", 10, &e, &n), LOGSTATE_OK);
  assert_int_equal(n, 1);
  assert_string_equal(e[0].client_name, "old");
  logstate_history_free(e, n);
  assert_status(logstate_sqlite_repair(ls, NULL, NULL, &repaired, &left), LOGSTATE_OK);
  assert_int_equal(repaired + left, 0); /* idempotent */
  logstate *mem = NULL;
  assert_status(logstate_open(&mem, "memory:"), LOGSTATE_OK);
  assert_status(logstate_sqlite_repair(mem, NULL, NULL, &repaired, &left), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_sqlite_repair(NULL, NULL, NULL, &repaired, &left), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_sqlite_repair(ls, NULL, NULL, NULL, &left), LOGSTATE_INVALID_ARGUMENT);
  logstate_free(mem);
  logstate_free(ls);
}

/* Busy past the busy timeout is RESOURCE_EXHAUSTED with cause BUSY; a
 * path that is a directory is INVALID_ARGUMENT. */
static void test_causes(void **state) {
  (void)state;
  char path[128], url[200];
  new_path(path, sizeof(path));
  snprintf(url, sizeof(url), "sqlite:%s?busy_timeout_ms=100", path);
  logstate *ls = open_url_init(url);
  sqlite3 *other = NULL;
  assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
  assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  assert_status(test_put(ls, "log", "v"), LOGSTATE_RESOURCE_EXHAUSTED);
  assert_int_equal(logstate_last_error_cause(), LOGSTATE_CAUSE_BUSY);
  expect_error_mentions("locked by another writer");
  sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
  sqlite3_close(other);
  assert_status(test_put(ls, "log", "v"), LOGSTATE_OK);
  logstate_free(ls);
  assert_status(logstate_open(&ls, "sqlite:/tmp"), LOGSTATE_INVALID_ARGUMENT);
  assert_int_equal(logstate_last_error_cause(), LOGSTATE_CAUSE_NONE);
  expect_error_mentions("is a directory");
}

static int setup(void **state) {
  (void)state;
  return test_tmpdir(dir, sizeof(dir), "sqlite");
}

static int teardown(void **state) {
  (void)state;
  return test_rmtree(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_processes_share_a_file),
      cmocka_unit_test(test_busy_is_pushback),
      cmocka_unit_test(test_pragmas_checked),
      cmocka_unit_test(test_url_options),
      cmocka_unit_test(test_damaged_logs),
      cmocka_unit_test(test_go_witness_database),
      cmocka_unit_test(test_foreign_writer_is_a_conflict),
      cmocka_unit_test(test_use_before_init),
      cmocka_unit_test(test_store_identity),
      cmocka_unit_test(test_store_identity_arguments),
      cmocka_unit_test(test_read_only),
      cmocka_unit_test(test_create_on_write),
      cmocka_unit_test(test_racing_creators),
      cmocka_unit_test(test_read_only_creates_nothing),
      cmocka_unit_test(test_store_of_an_earlier_logstate),
      cmocka_unit_test(test_causes),
#ifdef LOGSTATE_HAVE_ASYNC
      cmocka_unit_test(test_async_blocking_off_the_loop),
#endif
  };
  return cmocka_run_group_tests_name("sqlite", tests, setup, teardown);
}

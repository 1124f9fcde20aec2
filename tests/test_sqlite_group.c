/* SPDX-License-Identifier: Apache-2.0 */
/* Group commit on SQLite: the sets a handle's threads make while a write
 * transaction is under way commit together, in one transaction; a
 * statement that fails inside it fails every set of the group, with
 * nothing applied. The group is made deterministic by holding the file's
 * write lock from a connection of the test's own (another process would do
 * the same), so that the sets queue behind the first. */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "logstate/logstate.h"
#ifdef LOGSTATE_HAVE_ASYNC
#include <event2/event.h>

#include "logstate/async.h"
#endif

#include "test_util.h"

static char dir[64];

typedef struct writer {
  logstate *ls;
  char log_id[16];
  pthread_t t;
  logstate_status st;
  logstate_cause cause;
} writer;

static void *write_one(void *arg) {
  writer *w = arg;
  w->st = logstate_update(w->ls, w->log_id, test_fn_increment, NULL);
  return NULL;
}

static logstate_stats stats(logstate *ls) {
  logstate_stats s;
  assert_status(logstate_get_stats(ls, &s), LOGSTATE_OK);
  return s;
}

/* Waits (bounded) until the handle counts `n` sets queued. */
static void wait_waiting(logstate *ls, uint64_t n) {
  for (int i = 0; i < 10000 && stats(ls).group_waiting < n; i++) {
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  assert_int_equal(stats(ls).group_waiting, n);
}

static unsigned long counter_of(logstate *ls, const char *id) {
  uint8_t *cp = NULL;
  size_t len = 0;
  assert_status(logstate_get_latest(ls, id, &cp, &len), LOGSTATE_OK);
  unsigned long n = test_counter_parse(cp, len);
  free(cp);
  return n;
}

/* Opens a handle on a new file and warms logs l0..l7 to 1. */
static logstate *open_warm(char *path, size_t size) {
  static int no;
  char url[200];
  logstate *ls = NULL;
  snprintf(path, size, "%s/g-%d.db", dir, ++no);
  snprintf(url, sizeof(url), "sqlite:%s?busy_timeout_ms=10000", path);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  for (int i = 0; i < 8; i++) {
    char id[16];
    snprintf(id, sizeof(id), "l%d", i);
    assert_status(logstate_update(ls, id, test_fn_increment, NULL), LOGSTATE_OK);
  }
  return ls;
}

/* Takes the file's write lock on a connection of its own. */
static sqlite3 *lock_file(const char *path) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  return db;
}

/* Eight threads on eight logs while the lock is held: the first set waits
 * for the lock in its transaction, the seven others queue, and they commit
 * together in the next. */
static void test_sets_commit_together(void **state) {
  (void)state;
  char path[128];
  logstate *ls = open_warm(path, sizeof(path));
  logstate_stats before = stats(ls);
  sqlite3 *db = lock_file(path);
  writer w[8];
  for (int i = 0; i < 8; i++) {
    w[i] = (writer){.ls = ls};
    snprintf(w[i].log_id, sizeof(w[i].log_id), "l%d", i);
    assert_int_equal(pthread_create(&w[i].t, NULL, write_one, &w[i]), 0);
    if (i == 0) /* its batch is taken: it waits for the lock */
      for (int k = 0; k < 10000 && stats(ls).group_commits == before.group_commits; k++)
        usleep(1000);
  }
  wait_waiting(ls, 7);
  assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  for (int i = 0; i < 8; i++) {
    pthread_join(w[i].t, NULL);
    assert_status(w[i].st, LOGSTATE_OK);
    assert_int_equal(counter_of(ls, w[i].log_id), 2);
  }
  logstate_stats after = stats(ls);
  assert_int_equal(after.group_commits - before.group_commits, 2); /* the first alone, then seven in one */
  assert_int_equal(after.group_sets - before.group_sets, 8);
  assert_int_equal(after.conflicts, 0);
  logstate_free(ls);
}

/* A statement of the group fails (a trigger refuses log l7's row): every
 * set of that group fails with the same definite status, and none of them
 * is applied; the set before the group, alone, is. */
static void test_failed_group_applies_nothing(void **state) {
  (void)state;
  char path[128];
  logstate *ls = open_warm(path, sizeof(path));
  sqlite3 *db = lock_file(path);
  assert_int_equal(sqlite3_exec(db,
                                "CREATE TRIGGER refuse_l7 BEFORE UPDATE ON chkpts WHEN new.logID = 'l7' "
                                "BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  logstate_stats before = stats(ls);
  writer w[8];
  for (int i = 0; i < 8; i++) {
    w[i] = (writer){.ls = ls};
    snprintf(w[i].log_id, sizeof(w[i].log_id), "l%d", i);
    assert_int_equal(pthread_create(&w[i].t, NULL, write_one, &w[i]), 0);
    if (i == 0)
      for (int k = 0; k < 10000 && stats(ls).group_commits == before.group_commits; k++)
        usleep(1000);
  }
  wait_waiting(ls, 7);
  assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  for (int i = 0; i < 8; i++)
    pthread_join(w[i].t, NULL);
  assert_status(w[0].st, LOGSTATE_OK);
  assert_int_equal(counter_of(ls, "l0"), 2);
  for (int i = 1; i < 8; i++) {
    if (w[i].st == LOGSTATE_OK || w[i].st == LOGSTATE_ABORTED)
      fail_msg("the set on %s returned %s", w[i].log_id, logstate_status_name(w[i].st));
    assert_int_equal(w[i].st, w[1].st); /* one status for the group */
    assert_int_equal(counter_of(ls, w[i].log_id), 1);
  }
  logstate_free(ls);
}

/* A full disk, as SQLite sees one: a VFS, made the default while a test
 * runs, that is the default one except that its writes fail with
 * SQLITE_FULL while `disk_full` is set (what the unix VFS returns when a
 * write finds no space). */
static sqlite3_vfs full_vfs;
static sqlite3_vfs *real_vfs;
static sqlite3_io_methods full_io[4]; /* full_io[i] is real_io[i] but for xWrite */
static const sqlite3_io_methods *real_io[4];
static atomic_int disk_full;

static int full_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off) {
  const sqlite3_io_methods *real = real_io[f->pMethods - full_io];
  return atomic_load(&disk_full) ? SQLITE_FULL : real->xWrite(f, buf, amt, off);
}

static int full_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags) {
  (void)vfs;
  int rc = real_vfs->xOpen(real_vfs, name, f, flags, out_flags);
  if (rc != SQLITE_OK || f->pMethods == NULL)
    return rc;
  size_t i = 0;
  while (i < 4 && real_io[i] && real_io[i] != f->pMethods)
    i++;
  assert_true(i < 4); /* (the unix VFS has a few kinds of files) */
  if (real_io[i] == NULL) {
    real_io[i] = f->pMethods;
    full_io[i] = *f->pMethods;
    full_io[i].xWrite = full_write;
  }
  f->pMethods = &full_io[i];
  return rc;
}

static void full_vfs_install(void) {
  real_vfs = sqlite3_vfs_find(NULL);
  full_vfs = *real_vfs;
  full_vfs.zName = "logstate-test-full";
  full_vfs.xOpen = full_open;
  assert_int_equal(sqlite3_vfs_register(&full_vfs, 1), SQLITE_OK);
}

static void full_vfs_remove(void) {
  assert_int_equal(sqlite3_vfs_unregister(&full_vfs), SQLITE_OK);
  assert_int_equal(sqlite3_vfs_register(real_vfs, 1), SQLITE_OK);
}

static void *write_one_cause(void *arg) {
  writer *w = arg;
  w->st = logstate_update(w->ls, w->log_id, test_fn_increment, NULL);
  w->cause = logstate_last_error_cause();
  return NULL;
}

/* The disk fills while a group waits for the write lock: the lone first
 * set and the group of seven behind it fail at their commit, every set
 * with RESOURCE_EXHAUSTED and cause NO_SPACE, and none is applied; once
 * there is space again, each log goes on from its stored state. */
static void test_full_disk_fails_the_group(void **state) {
  (void)state;
  char path[128];
  full_vfs_install();
  logstate *ls = open_warm(path, sizeof(path));
  sqlite3 *db = lock_file(path);
  logstate_stats before = stats(ls);
  writer w[8];
  for (int i = 0; i < 8; i++) {
    w[i] = (writer){.ls = ls};
    snprintf(w[i].log_id, sizeof(w[i].log_id), "l%d", i);
    assert_int_equal(pthread_create(&w[i].t, NULL, write_one_cause, &w[i]), 0);
    if (i == 0)
      for (int k = 0; k < 10000 && stats(ls).group_commits == before.group_commits; k++)
        usleep(1000);
  }
  wait_waiting(ls, 7);
  atomic_store(&disk_full, 1);
  assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK); /* it wrote nothing */
  sqlite3_close(db);
  for (int i = 0; i < 8; i++) {
    pthread_join(w[i].t, NULL);
    if (w[i].st != LOGSTATE_RESOURCE_EXHAUSTED || w[i].cause != LOGSTATE_CAUSE_NO_SPACE)
      fail_msg("the set on %s returned %s (cause %d)", w[i].log_id, logstate_status_name(w[i].st), (int)w[i].cause);
  }
  assert_int_equal(stats(ls).group_commits - before.group_commits, 2);
  atomic_store(&disk_full, 0);
  for (int i = 0; i < 8; i++) {
    assert_int_equal(counter_of(ls, w[i].log_id), 1);
    assert_status(logstate_update(ls, w[i].log_id, test_fn_increment, NULL), LOGSTATE_OK);
    assert_int_equal(counter_of(ls, w[i].log_id), 2);
  }
  logstate_free(ls);
  full_vfs_remove();
}

#ifdef LOGSTATE_HAVE_ASYNC
/* The async API on SQLite: its worker thread takes every request queued,
 * and the sets among them commit together. Eight write objects are opened,
 * the file's lock is taken, and the eight sets go in one loop iteration:
 * the worker's first batch waits for the lock, the others queue, and all
 * eight commit in at most two transactions. */
typedef struct async_state {
  int pending;
  logstate_status st[8];
  logstate_async_write *w[8];
} async_state;

static void on_opened(logstate_status st, logstate_async_write *w, void *arg) {
  async_state *a = arg;
  assert_status(st, LOGSTATE_OK);
  for (int i = 0; i < 8; i++)
    if (a->w[i] == NULL) {
      a->w[i] = w;
      break;
    }
  a->pending--;
}

static void on_set(logstate_status st, void *arg) {
  logstate_status *out = arg;
  *out = st;
}

static void on_init_done(logstate_status st, void *arg) { *(logstate_status *)arg = st; }

static void test_async_sets_commit_together(void **state) {
  (void)state;
  char path[128], url[200];
  logstate *ls = open_warm(path, sizeof(path)); /* the logs at 1 */
  snprintf(url, sizeof(url), "sqlite:%s?busy_timeout_ms=10000", path);
  struct event_base *evb = event_base_new();
  logstate_async *a = NULL;
  logstate_status init = (logstate_status)-1;
  assert_status(logstate_async_open(&a, evb, url, NULL), LOGSTATE_OK);
  assert_status(logstate_async_init(a, on_init_done, &init), LOGSTATE_OK);
  while (init == (logstate_status)-1)
    event_base_loop(evb, EVLOOP_ONCE);
  assert_status(init, LOGSTATE_OK);
  async_state as = {.pending = 8};
  for (int i = 0; i < 8; i++) {
    char id[16];
    snprintf(id, sizeof(id), "l%d", i);
    as.st[i] = (logstate_status)-1;
    assert_status(logstate_async_write_ops(a, id, on_opened, &as), LOGSTATE_OK);
  }
  while (as.pending > 0)
    event_base_loop(evb, EVLOOP_ONCE);
  logstate_stats before;
  assert_status(logstate_async_get_stats(a, &before), LOGSTATE_OK);
  sqlite3 *db = lock_file(path);
  static const char next[] = "counter.example\n2\nasync\n";
  for (int i = 0; i < 8; i++)
    assert_status(logstate_async_write_set(as.w[i], (const uint8_t *)next, sizeof(next) - 1, on_set, &as.st[i]),
                  LOGSTATE_OK);
  event_base_loop(evb, EVLOOP_NONBLOCK);
  assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  for (int i = 0; i < 8; i++)
    while (as.st[i] == (logstate_status)-1)
      event_base_loop(evb, EVLOOP_ONCE);
  logstate_stats after;
  assert_status(logstate_async_get_stats(a, &after), LOGSTATE_OK);
  for (int i = 0; i < 8; i++) {
    assert_status(as.st[i], LOGSTATE_OK);
    logstate_async_write_close(as.w[i]);
  }
  assert_int_equal(after.group_sets - before.group_sets, 8);
  assert_true(after.group_commits - before.group_commits <= 2);
  for (int i = 0; i < 8; i++) {
    char id[16];
    snprintf(id, sizeof(id), "l%d", i);
    assert_int_equal(counter_of(ls, id), 2);
  }
  logstate_async_free(a);
  event_base_free(evb);
  logstate_free(ls);
}
#endif

/* SIGKILL while groups commit: a child process runs 8 threads, each
 * incrementing its own log through one handle and telling the parent
 * through a pipe each value it got OK for; the parent kills it with
 * SIGKILL at a point of its choosing. Every acknowledged value must be in
 * the file, and at most the one update in flight per thread beyond it. */
typedef struct ack {
  int log;
  int value;
} ack;

typedef struct killed_writer {
  logstate *ls;
  int log, fd;
  pthread_t t;
} killed_writer;

static void *count_up(void *arg) {
  killed_writer *w = arg;
  char id[16];
  snprintf(id, sizeof(id), "k%d", w->log);
  for (int v = 1;; v++) {
    if (logstate_update(w->ls, id, test_fn_increment, NULL) != LOGSTATE_OK)
      _exit(3);
    ack a = {w->log, v};
    if (write(w->fd, &a, sizeof(a)) != (ssize_t)sizeof(a))
      _exit(4);
  }
  return NULL;
}

static void child_writes(const char *url, int fd) {
  logstate *ls = NULL;
  if (logstate_open(&ls, url) != LOGSTATE_OK || logstate_init(ls) != LOGSTATE_OK)
    _exit(2);
  killed_writer w[8];
  for (int i = 0; i < 8; i++) {
    w[i] = (killed_writer){.ls = ls, .log = i, .fd = fd};
    pthread_create(&w[i].t, NULL, count_up, &w[i]);
  }
  pthread_join(w[0].t, NULL); /* never returns: killed */
  _exit(5);
}

static void kill_after(const char *path, int acks_before_kill) {
  char url[200];
  int fds[2], best[8] = {0}, got = 0;
  snprintf(url, sizeof(url), "sqlite:%s", path);
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    child_writes(url, fds[1]);
  }
  close(fds[1]);
  struct pollfd p = {.fd = fds[0], .events = POLLIN};
  ack a;
  while (got < acks_before_kill && poll(&p, 1, 10000) == 1 && read(fds[0], &a, sizeof(a)) == (ssize_t)sizeof(a)) {
    best[a.log] = a.value > best[a.log] ? a.value : best[a.log];
    got++;
  }
  assert_int_equal(got, acks_before_kill);
  kill(pid, SIGKILL);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status));
  while (read(fds[0], &a, sizeof(a)) == (ssize_t)sizeof(a)) /* what it acknowledged before it died */
    best[a.log] = a.value > best[a.log] ? a.value : best[a.log];
  close(fds[0]);
  logstate *ls = NULL;
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  for (int i = 0; i < 8; i++) {
    char id[16];
    snprintf(id, sizeof(id), "k%d", i);
    unsigned long n = best[i] ? counter_of(ls, id) : 0;
    if (best[i] && (n < (unsigned long)best[i] || n > (unsigned long)best[i] + 1))
      fail_msg("log %s holds %lu, acknowledged %d", id, n, best[i]);
  }
  size_t problems = 1;
  assert_status(logstate_verify(ls, NULL, NULL, &problems), LOGSTATE_OK);
  assert_int_equal(problems, 0);
  logstate_free(ls);
}

static void test_sigkill_keeps_every_acknowledged_set(void **state) {
  (void)state;
  static const int points[] = {50, 400, 1500};
  for (int i = 0; i < 3; i++) {
    char path[128];
    snprintf(path, sizeof(path), "%s/kill-%d.db", dir, i);
    kill_after(path, points[i]);
  }
}

static int setup(void **state) {
  (void)state;
  return test_tmpdir(dir, sizeof(dir), "group");
}

static int teardown(void **state) {
  (void)state;
  return test_rmtree(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sets_commit_together),       cmocka_unit_test(test_failed_group_applies_nothing),
      cmocka_unit_test(test_full_disk_fails_the_group),  cmocka_unit_test(test_sigkill_keeps_every_acknowledged_set),
#ifdef LOGSTATE_HAVE_ASYNC
      cmocka_unit_test(test_async_sets_commit_together),
#endif
  };
  return cmocka_run_group_tests_name("sqlite group commit", tests, setup, teardown);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Faults of the redis-server itself, under sync and async writers on real
 * processes: SIGKILL and restart from the AOF, CLIENT KILL, SCRIPT FLUSH,
 * maxmemory, a dataset still LOADING after a restart, a primary demoted to
 * a replica (READONLY); and no lost update across processes, threads and
 * async handles. Nothing acknowledged is lost, nothing is half-written,
 * and each fault has its defined status. (Faults of the link are
 * test_faults.c.) */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <event2/event.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "logstate/async.h"
#include "logstate/logstate.h"
#include "logstate/redis.h"
#include "redis_server.h"
#include "writers.h"

#include "test_util.h"

/* Whether ThreadSanitizer instruments this build (gcc and clang spell it
 * differently). */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

static test_redis server;

static int setup(void **state) {
  (void)state;
  return test_redis_start(&server, NULL) != 0 ? -1 : 0;
}

static int teardown(void **state) {
  (void)state;
  test_redis_stop(&server);
  return 0;
}

#define WRITERS 3 /* two sync, one async */

/* The writers, on namespace `p`: with `logs` > 1, writer i updates log
 * "counter-<tag>-<i % logs>", else all of them "counter". */
static void writers_on(test_writer *w, const test_redis *s, const char *p, const char *query, int logs, int tag) {
  for (int i = 0; i < WRITERS; i++) {
    snprintf(w[i].url, sizeof(w[i].url), "redis://127.0.0.1:%d/?prefix=%s&timeout_ms=1000&connect_timeout_ms=500%s%s",
             s->port, p, query ? "&" : "", query ? query : "");
    w[i].use_async = i == WRITERS - 1;
    if (logs > 1)
      snprintf(w[i].log_id, sizeof(w[i].log_id), "counter-%d-%d", tag, i % logs);
  }
  test_writers_start(w, WRITERS);
}

/* What the writers of one log reported, once they stopped. */
typedef struct tally {
  char log_id[48];
  unsigned long acked, unknown, unavailable, max_value, bad;
} tally;

/* Adds the writers' reports into t[0..*nt), one tally per log. */
static void tally_writers(const test_writer *w, int n, tally *t, int *nt) {
  for (int i = 0; i < n; i++) {
    int k = 0;
    while (k < *nt && strcmp(t[k].log_id, w[i].log_id) != 0)
      k++;
    if (k == *nt) {
      memset(&t[k], 0, sizeof(t[k]));
      snprintf(t[k].log_id, sizeof(t[k].log_id), "%s", w[i].log_id);
      (*nt)++;
    }
    t[k].acked += atomic_load(&w[i].acked);
    t[k].unknown += w[i].unknown;
    t[k].unavailable += w[i].unavailable;
    t[k].bad += w[i].other + w[i].lower_reads;
    if (w[i].acked_value > t[k].max_value)
      t[k].max_value = w[i].acked_value;
  }
}

/* Each counter holds every acknowledged update and nothing that was not
 * attempted, and the index and the hashes agree. */
static void check_tallies(const test_redis *s, const char *p, const tally *t, int nt) {
  char url[200];
  logstate *ls = NULL;
  size_t problems = 1;
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=%s", s->port, p);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  for (int k = 0; k < nt; k++) {
    unsigned long final = test_counter_of(ls, t[k].log_id);
    if (t[k].bad || final < t[k].max_value || final < t[k].acked || final > t[k].acked + t[k].unknown)
      fail_msg("%s: counter %lu, acknowledged %lu (highest %lu), unknown %lu, other statuses %lu", t[k].log_id, final,
               t[k].acked, t[k].max_value, t[k].unknown, t[k].bad);
  }
  assert_status(logstate_verify(ls, NULL, NULL, &problems), LOGSTATE_OK);
  assert_int_equal(problems, 0);
  logstate_free(ls);
}

static void check_counter(const test_writer *w, const test_redis *s, const char *p) {
  tally t[WRITERS];
  int nt = 0;
  tally_writers(w, WRITERS, t, &nt);
  check_tallies(s, p, t, nt);
}

/* The counter of `log` on the server now (0: none or unreachable). */
static unsigned long server_counter(const test_redis *s, const char *p, const char *log) {
  redisContext *c = test_redis_admin(s);
  redisReply *r = c ? redisCommand(c, "HGET {%s}:log:%s checkpoint", p, log) : NULL;
  unsigned long n = r && r->type == REDIS_REPLY_STRING ? test_counter_parse((const uint8_t *)r->str, r->len) : 0;
  if (r)
    freeReplyObject(r);
  if (c)
    redisFree(c);
  return n == ULONG_MAX ? 0 : n;
}

/* Under TSan a child of this (TSan-threaded) process may not start
 * threads: the other builds run the child processes. */
#define CRASH_CHILDREN (UNDER_TSAN ? 0 : 2)
#define LOGS 2 /* per process */

/* A child process: writers on its own logs until the parent says stop,
 * then their tallies up the pipe. */
static void child_writers(const test_redis *s, int tag, int go, int back) {
  test_writer w[WRITERS];
  tally t[LOGS];
  int nt = 0;
  char stop;
  memset(w, 0, sizeof(w));
  writers_on(w, s, "crash", NULL, LOGS, tag);
  int ok = read(go, &stop, 1) == 1;
  test_writers_stop(w, WRITERS);
  tally_writers(w, WRITERS, t, &nt);
  _exit(ok && nt == LOGS && write(back, t, sizeof(t)) == (ssize_t)sizeof(t) ? 0 : 1);
}

/* Waits (bounded) until every child log's counter on the server passed
 * what it was at the last look. */
static int children_progress(const test_redis *s, unsigned long *last, int n) {
  char log[48];
  double until = test_now_s() + 30;
  for (int k = 0; k < n; k++) {
    snprintf(log, sizeof(log), "counter-%d-%d", 1 + k / LOGS, k % LOGS);
    unsigned long now;
    while ((now = server_counter(s, "crash", log)) <= last[k] && test_now_s() < until)
      test_pause_ms(10);
    if (now <= last[k])
      return 0;
    last[k] = now;
  }
  return 1;
}

/* redis-server SIGKILLed 20 times under writers in three processes (each
 * two sync writers and one async writer, on two logs of their own),
 * restarted from its AOF each time (appendfsync always): every process
 * writes between two crashes, and no acknowledged update is lost. */
static void test_crash_durability(void **state) {
  (void)state;
  test_redis own;
  test_writer w[WRITERS];
  pid_t pids[2];
  int go[2][2], back[2][2];
  memset(w, 0, sizeof(w));
  assert_int_equal(test_redis_start(&own, NULL), 0);
  for (int c = 0; c < CRASH_CHILDREN; c++) { /* before this process starts threads */
    assert_int_equal(pipe(go[c]), 0);
    assert_int_equal(pipe(back[c]), 0);
    if ((pids[c] = fork()) == 0)
      child_writers(&own, c + 1, go[c][0], back[c][1]);
    assert_true(pids[c] > 0);
    close(go[c][0]);
    close(back[c][1]);
  }
  writers_on(w, &own, "crash", NULL, LOGS, 0);
  unsigned long base[WRITERS], last[2 * LOGS] = {0};
  int kills = 0;
  for (; kills < 20; kills++) {
    for (int i = 0; i < WRITERS; i++)
      base[i] = atomic_load(&w[i].acked);
    assert_true(test_writers_reach(w, WRITERS, 0, base, 5, 30)); /* each writes between two crashes */
    assert_true(children_progress(&own, last, CRASH_CHILDREN * LOGS));
    test_redis_kill9(&own);
    assert_int_equal(test_redis_restart(&own), 0);
  }
  assert_true(test_writers_reach(w, WRITERS, 0, base, 10, 30));
  assert_true(children_progress(&own, last, CRASH_CHILDREN * LOGS));
  tally t[(1 + 2) * LOGS];
  int nt = 0;
  for (int c = 0; c < CRASH_CHILDREN; c++) {
    int status = 1;
    assert_int_equal(write(go[c][1], "x", 1), 1);
    assert_int_equal(read(back[c][0], &t[nt], LOGS * sizeof(tally)), (ssize_t)(LOGS * sizeof(tally)));
    nt += LOGS;
    waitpid(pids[c], &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(go[c][1]);
    close(back[c][0]);
  }
  test_writers_stop(w, WRITERS);
  tally_writers(w, WRITERS, t, &nt);
  check_tallies(&own, "crash", t, nt);
  unsigned long acked = 0, unknown = 0, unavailable = 0;
  for (int k = 0; k < nt; k++)
    acked += t[k].acked, unknown += t[k].unknown, unavailable += t[k].unavailable;
  printf("crash durability: %d SIGKILLs, %d processes x (2 sync + 1 async) writers on %d logs, %lu acknowledged "
         "updates, %lu unknown outcomes, %lu UNAVAILABLE with nothing applied, 0 lost\n",
         kills, 1 + CRASH_CHILDREN, nt, acked, unknown, unavailable);
  test_redis_stop(&own);
}

/* CLIENT KILL of every client and SCRIPT FLUSH, again and again under the
 * writers: they reconnect, reload the script, and lose nothing. */
static void test_client_kill_and_script_flush(void **state) {
  (void)state;
  test_writer w[WRITERS];
  memset(w, 0, sizeof(w));
  writers_on(w, &server, "kills", NULL, 1, 0);
  unsigned long base[WRITERS];
  for (int round = 0; round < 10; round++) {
    for (int i = 0; i < WRITERS; i++)
      base[i] = atomic_load(&w[i].acked);
    assert_true(test_writers_reach(w, WRITERS, 0, base, 5, 30));
    test_redis_do(&server, round % 2 ? "SCRIPT FLUSH" : "CLIENT KILL TYPE normal SKIPME yes");
  }
  assert_true(test_writers_reach(w, WRITERS, 0, base, 10, 30));
  test_writers_stop(w, WRITERS);
  check_counter(w, &server, "kills");
  printf("client kill and script flush: 5 of each, %lu acknowledged updates, %lu unknown outcomes, %lu UNAVAILABLE "
         "with nothing applied, 0 lost\n",
         test_writers_acked(w, WRITERS), test_writers_unknown(w, WRITERS), test_writers_unavailable(w, WRITERS));
}

/* No lost update across processes, threads and async handles: three
 * processes, each with two sync writers and one async writer, increment one
 * counter; with no fault, every outcome is known and the counter equals
 * the number of acknowledged updates exactly. */
static void test_processes_threads_async(void **state) {
  (void)state;
#if UNDER_TSAN
  skip(); /* TSan does not let a child of a threaded process start threads; the other builds run it */
#endif
  enum { CHILDREN = 3 };
  pid_t pids[CHILDREN];
  int fds[CHILDREN][2];
  for (int c = 0; c < CHILDREN; c++) {
    assert_int_equal(pipe(fds[c]), 0);
    if ((pids[c] = fork()) == 0) {
      test_writer w[WRITERS];
      memset(w, 0, sizeof(w));
      unsigned long out[2] = {0, 1};
      writers_on(w, &server, "procs", NULL, 1, 0);
      int ok = test_writers_reach(w, WRITERS, 0, NULL, 100, 60);
      test_writers_stop(w, WRITERS);
      out[0] = test_writers_acked(w, WRITERS);
      out[1] = test_writers_unknown(w, WRITERS) + test_writers_unavailable(w, WRITERS) + !ok;
      for (int i = 0; i < WRITERS; i++)
        out[1] += w[i].other + w[i].lower_reads;
      _exit(write(fds[c][1], out, sizeof(out)) == (ssize_t)sizeof(out) ? 0 : 1);
    }
    assert_true(pids[c] > 0);
    close(fds[c][1]);
  }
  unsigned long acked = 0, bad = 0;
  for (int c = 0; c < CHILDREN; c++) {
    unsigned long got[2] = {0, 1};
    int status = 1;
    assert_int_equal(read(fds[c][0], got, sizeof(got)), (ssize_t)sizeof(got));
    close(fds[c][0]);
    waitpid(pids[c], &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    acked += got[0];
    bad += got[1];
  }
  char url[200];
  logstate *ls = NULL;
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=procs", server.port);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  unsigned long final = test_counter_of(ls, "counter");
  logstate_free(ls);
  printf("processes x threads x async: 3 processes x (2 sync + 1 async) writers, %lu acknowledged, counter %lu\n",
         acked, final);
  assert_int_equal(bad, 0); /* no unknown outcome, no other status, no backwards read */
  assert_int_equal(final, acked);
}

/* maxmemory with noeviction: a set that does not fit is RESOURCE_EXHAUSTED
 * and stores nothing, not half of itself. */
static void test_out_of_memory(void **state) {
  (void)state;
  test_redis own;
  char url[200], big[60000];
  assert_int_equal(test_redis_start(&own, "maxmemory 3mb\nmaxmemory-policy noeviction"), 0);
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=oom", own.port);
  logstate *ls = NULL;
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  logstate_status st = LOGSTATE_OK;
  int stored = 0;
  char id[32];
  for (; stored < 1000 && st == LOGSTATE_OK; stored++) {
    snprintf(id, sizeof(id), "log%d", stored);
    st = test_put(ls, id, big);
  }
  assert_status(st, LOGSTATE_RESOURCE_EXHAUSTED);
  stored--; /* the last one was refused */
  char buf[8];
  assert_status(test_get(ls, id, buf, sizeof(buf)), LOGSTATE_NOT_FOUND); /* nothing of it */
  redisReply *r = test_redis_cmd(&own, "SCARD {oom}:logs");
  assert_int_equal(r->integer, stored); /* the index lists exactly what was stored */
  freeReplyObject(r);
  size_t problems = 1;
  assert_status(logstate_verify(ls, NULL, NULL, &problems), LOGSTATE_OK);
  assert_int_equal(problems, 0);
  logstate_free(ls);
  test_redis_stop(&own);
}

/* The message of the last failure names `what` (the server's own code). */
static void expect_error_names(const char *what) {
  if (strstr(logstate_last_error(), what) == NULL)
    fail_msg("expected %s in: %s", what, logstate_last_error());
}

/* Whether the server still answers LOADING (INFO's loading field reads 0
 * while Redis 7.0 loads a multi-part AOF). */
static int still_loading(const test_redis *s) {
  redisReply *r = test_redis_cmd(s, "PING");
  int loading = r->type == REDIS_REPLY_ERROR && strncmp(r->str, "LOADING", 7) == 0;
  freeReplyObject(r);
  return loading;
}

/* A restart whose dataset takes seconds to load (key-load-delay: 1 ms per
 * key, 5,000 keys: about 5 s): meanwhile every operation, sync and async, is
 * UNAVAILABLE at once, naming LOADING, and writes nothing; once loaded,
 * everything is there and works. */
static void test_loading(void **state) {
  (void)state;
  test_redis own;
  char url[200];
  /* The server answers (LOADING) between keys, every 1 KB loaded. */
  assert_int_equal(test_redis_start(&own, "enable-debug-command local\nkey-load-delay 1000\n"
                                          "loading-process-events-interval-bytes 1024"),
                   0);
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=load&timeout_ms=2000", own.port);
  logstate *ls = NULL;
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  for (int i = 0; i < 3; i++)
    assert_status(logstate_update(ls, "counter", test_fn_increment, NULL), LOGSTATE_OK);
  /* Filler keys into the AOF's base file, so that loading takes a while. */
  test_redis_do(&own, "DEBUG POPULATE 5000 filler");
  test_redis_do(&own, "BGREWRITEAOF");
  assert_true(
      test_redis_wait_info(&own, "INFO persistence", "aof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0", 20));
  assert_true(test_redis_wait_info(&own, "INFO persistence", "aof_last_bgrewrite_status:ok", 20));
  test_redis_kill9(&own);
  own.loading_is_up = 1;
  assert_int_equal(test_redis_restart(&own), 0);
  assert_true(still_loading(&own));

  char buf[64];
  double t0 = test_now_s();
  assert_status(test_get(ls, "counter", buf, sizeof(buf)), LOGSTATE_UNAVAILABLE);
  expect_error_names("LOADING");
  assert_status(logstate_update(ls, "counter", test_fn_increment, NULL), LOGSTATE_UNAVAILABLE);
  expect_error_names("LOADING");
  struct event_base *evb = event_base_new();
  logstate_async *a = NULL;
  assert_status(logstate_async_open(&a, evb, url, NULL), LOGSTATE_OK);
  assert_status(test_async_update_wait(evb, a, "counter", test_fn_increment), LOGSTATE_UNAVAILABLE);
  expect_error_names("LOADING");
  double took = test_now_s() - t0;
  assert_true(still_loading(&own)); /* all of it met the loading server */
  assert_true(took < 2.0);          /* at once: no waiting out timeout_ms */

  test_redis_do(&own, "CONFIG SET key-load-delay 0");
  double until = test_now_s() + 20;
  while (still_loading(&own) && test_now_s() < until)
    test_pause_ms(10);
  assert_int_equal(test_counter_of(ls, "counter"), 3); /* nothing lost, nothing written meanwhile */
  assert_status(logstate_update(ls, "counter", test_fn_increment, NULL), LOGSTATE_OK);
  /* The async handle's connections were refused (LOADING) and it waits out
   * its reconnect backoff (at most 2 s), failing fast meanwhile (async.h). */
  logstate_status st;
  until = test_now_s() + 10;
  while ((st = test_async_update_wait(evb, a, "counter", test_fn_increment)) == LOGSTATE_UNAVAILABLE &&
         test_now_s() < until)
    test_pause_ms(20);
  assert_status(st, LOGSTATE_OK);
  assert_int_equal(test_counter_of(ls, "counter"), 5);
  size_t problems = 1;
  assert_status(logstate_verify(ls, NULL, NULL, &problems), LOGSTATE_OK);
  assert_int_equal(problems, 0);
  printf("loading: 3 operations during a 5,000-key load, each UNAVAILABLE naming LOADING, in %.3f s together\n", took);
  logstate_async_free(a);
  event_base_free(evb);
  logstate_free(ls);
  test_redis_stop(&own);
}

/* A primary demoted to a replica under open handles (a switchover done by
 * hand, no sentinels): sets, write transactions and async updates are
 * UNAVAILABLE at once, naming READONLY, and change nothing; reads go on;
 * promoted again, it takes writes. */
static void test_readonly_replica(void **state) {
  (void)state;
  test_redis a_srv, b_srv;
  char url[200], buf[64];
  assert_int_equal(test_redis_start(&a_srv, NULL), 0);
  assert_int_equal(test_redis_start(&b_srv, NULL), 0);
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=ro&timeout_ms=2000", a_srv.port);
  logstate *ls = NULL;
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  assert_status(logstate_update(ls, "counter", test_fn_increment, NULL), LOGSTATE_OK);
  struct event_base *evb = event_base_new();
  logstate_async *a = NULL;
  assert_status(logstate_async_open(&a, evb, url, NULL), LOGSTATE_OK);
  assert_status(test_async_update_wait(evb, a, "counter", test_fn_increment), LOGSTATE_OK);
  /* B copies A, then A follows B. */
  test_redis_do(&b_srv, "REPLICAOF 127.0.0.1 %d", a_srv.port);
  assert_true(test_redis_wait_info(&b_srv, "INFO replication", "master_link_status:up", 20));
  test_redis_do(&b_srv, "REPLICAOF NO ONE");
  test_redis_do(&a_srv, "REPLICAOF 127.0.0.1 %d", b_srv.port);
  assert_true(test_redis_wait_info(&a_srv, "INFO replication", "master_link_status:up", 20));

  double t0 = test_now_s();
  assert_status(logstate_update(ls, "counter", test_fn_increment, NULL), LOGSTATE_UNAVAILABLE);
  expect_error_names("READONLY");
  logstate_write *w = NULL;
  assert_status(logstate_write_ops(ls, "counter", &w), LOGSTATE_OK);
  assert_status(logstate_write_set(w, (const uint8_t *)"counter.example\n9\n", 18), LOGSTATE_UNAVAILABLE);
  expect_error_names("READONLY");
  logstate_write_close(w);
  assert_status(test_put(ls, "new-log", "v1"), LOGSTATE_UNAVAILABLE);
  expect_error_names("READONLY");
  assert_status(test_async_update_wait(evb, a, "counter", test_fn_increment), LOGSTATE_UNAVAILABLE);
  expect_error_names("READONLY");
  double took = test_now_s() - t0;
  assert_true(took < 2.0);                             /* at once */
  assert_int_equal(test_counter_of(ls, "counter"), 2); /* reads go on, and nothing changed */
  assert_status(test_get(ls, "new-log", buf, sizeof(buf)), LOGSTATE_NOT_FOUND);

  test_redis_do(&a_srv, "REPLICAOF NO ONE");
  assert_status(logstate_update(ls, "counter", test_fn_increment, NULL), LOGSTATE_OK);
  assert_status(test_async_update_wait(evb, a, "counter", test_fn_increment), LOGSTATE_OK);
  assert_int_equal(test_counter_of(ls, "counter"), 4);
  printf("readonly replica: 4 writes refused READONLY in %.3f s together, nothing changed\n", took);
  logstate_async_free(a);
  event_base_free(evb);
  logstate_free(ls);
  test_redis_stop(&b_srv);
  test_redis_stop(&a_srv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crash_durability), cmocka_unit_test(test_client_kill_and_script_flush),
      cmocka_unit_test(test_out_of_memory),    cmocka_unit_test(test_loading),
      cmocka_unit_test(test_readonly_replica), cmocka_unit_test(test_processes_threads_async),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

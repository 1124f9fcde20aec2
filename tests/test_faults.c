/* SPDX-License-Identifier: Apache-2.0 */
/* Faults on the way to a real redis-server and in it. Through the test
 * suite's own TCP proxy (tests/tcp_proxy.c): a set whose reply is lost
 * with its connection is decided by reading the log on a new connection
 * (applied: OK; not applied: the same compare-and-set once more; moved on:
 * ABORTED), and UNAVAILABLE says the outcome is unknown only when no
 * connection comes back within timeout_ms; each counter is checked on the
 * server: every set applied exactly once. In the server: SIGKILL and
 * restart from the AOF, CLIENT KILL, SCRIPT FLUSH and maxmemory under sync
 * and async writers: nothing acknowledged lost, nothing half-written. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "logstate/async.h"
#include "logstate/logstate.h"
#include "logstate/redis.h"
#include "redis_server.h"
#include "tcp_proxy.h"
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
static tcp_proxy *proxy;
static unsigned int prefix_no;
static char prefix[32];

static int setup(void **state) {
  (void)state;
  if (test_redis_start(&server, NULL) != 0 || (proxy = tcp_proxy_start(server.port)) == NULL)
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  tcp_proxy_stop(proxy);
  test_redis_stop(&server);
  return 0;
}

/* A handle through the proxy, on a new prefix, with a warm cache for
 * "counter" (so that an update is the set script alone). */
static logstate *open_warm(const char *query) {
  char url[300];
  logstate *ls = NULL;
  snprintf(prefix, sizeof(prefix), "f%u", ++prefix_no);
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=%s&timeout_ms=1000&connect_timeout_ms=500%s%s",
           tcp_proxy_port(proxy), prefix, query ? "&" : "", query ? query : "");
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  assert_status(logstate_update(ls, "counter", test_fn_increment, NULL), LOGSTATE_OK);
  return ls;
}

/* The counter as the server holds it. */
static unsigned long on_server(void) {
  redisReply *r = test_redis_cmd(&server, "HGET {%s}:log:counter checkpoint", prefix);
  unsigned long n = r->type == REDIS_REPLY_STRING ? test_counter_parse((const uint8_t *)r->str, r->len) : 0;
  freeReplyObject(r);
  return n;
}

static uint64_t resolved(logstate *ls) {
  logstate_redis_stats s;
  assert_status(logstate_redis_get_stats(ls, &s), LOGSTATE_OK);
  return s.resolved;
}

/* The set script reached the server, its reply did not come back: the
 * update reads the log, finds its own bytes one version on, and is OK. */
static void test_cut_after_the_set_was_sent(void **state) {
  (void)state;
  logstate *ls = open_warm(NULL);
  tcp_proxy_cut(proxy, "EVALSHA", 1);
  assert_status(logstate_update(ls, "counter", test_fn_increment, NULL), LOGSTATE_OK);
  assert_int_equal(resolved(ls), 1);
  assert_int_equal(on_server(), 2); /* applied once */
  logstate_free(ls);
}

/* The set script was lost on the way: the log is still at the version it
 * expected, so the same compare-and-set goes again, and applies once. */
static void test_cut_before_the_set_arrived(void **state) {
  (void)state;
  logstate *ls = open_warm(NULL);
  tcp_proxy_cut(proxy, "EVALSHA", 0);
  assert_status(logstate_update(ls, "counter", test_fn_increment, NULL), LOGSTATE_OK);
  assert_int_equal(resolved(ls), 1);
  assert_int_equal(on_server(), 2);
  logstate_free(ls);
}

/* A write transaction whose EXEC reached the server, its reply lost. */
static void test_cut_after_exec(void **state) {
  (void)state;
  logstate *ls = open_warm(NULL);
  logstate_write *w = NULL;
  assert_status(logstate_write_ops(ls, "counter", &w), LOGSTATE_OK);
  tcp_proxy_cut(proxy, "EXEC", 1);
  assert_status(logstate_write_set(w, (const uint8_t *)"counter.example\n2\nhash\n", 23), LOGSTATE_OK);
  logstate_write_close(w);
  assert_int_equal(resolved(ls), 1);
  assert_int_equal(on_server(), 2);
  logstate_free(ls);
}

/* No connection comes back: UNAVAILABLE within the timeout, saying the
 * outcome is unknown; the set did apply, as a read shows once the way is
 * open again. */
static void test_outcome_unknown(void **state) {
  (void)state;
  logstate *ls = open_warm("timeout_ms=500");
  tcp_proxy_refuse(proxy, 1);
  tcp_proxy_cut(proxy, "EVALSHA", 1);
  double t0 = test_now_s();
  assert_status(logstate_update(ls, "counter", test_fn_increment, NULL), LOGSTATE_UNAVAILABLE);
  double took = test_now_s() - t0;
  if (strstr(logstate_last_error(), "the outcome is unknown") == NULL)
    fail_msg("message: %s", logstate_last_error());
  assert_true(took >= 0.4 && took < 3.0);
  tcp_proxy_refuse(proxy, 0);
  assert_int_equal(on_server(), 2);
  assert_int_equal(test_counter_of(ls, "counter"), 2);
  logstate_free(ls);
}

/* A black hole (the link up, nothing passing): every operation returns
 * UNAVAILABLE within its timeout, and works again once the link does; a
 * set whose outcome could not be learned says so. */
static void test_black_hole(void **state) {
  (void)state;
  logstate *ls = open_warm("timeout_ms=300");
  char buf[64];
  tcp_proxy_freeze(proxy, 1);
  /* The set first, on the pooled connection: sent into the hole. */
  double t0 = test_now_s();
  logstate_status st = logstate_update(ls, "counter", test_fn_increment, NULL);
  double set_s = test_now_s() - t0;
  tcp_proxy_freeze(proxy, 0); /* the test's own checks must not wait */
  assert_status(st, LOGSTATE_UNAVAILABLE);
  if (strstr(logstate_last_error(), "the outcome is unknown") == NULL)
    fail_msg("message: %s", logstate_last_error());
  tcp_proxy_freeze(proxy, 1);
  t0 = test_now_s();
  st = test_get(ls, "counter", buf, sizeof(buf));
  double read_s = test_now_s() - t0;
  assert_status(st, LOGSTATE_UNAVAILABLE);
  /* A read: about one timeout (a retry on a fresh connection may add one);
   * a set: its timeout, then up to one more to learn its outcome. */
  assert_true(read_s >= 0.25 && read_s < 1.5);
  assert_true(set_s >= 0.25 && set_s < 2.5);
  tcp_proxy_freeze(proxy, 0);
  unsigned long now = test_counter_of(ls, "counter"); /* 1, or 2 if the frozen set got through later */
  assert_true(now == 1 || now == 2);
  assert_status(logstate_update(ls, "counter", test_fn_increment, NULL), LOGSTATE_OK);
  assert_int_equal(on_server(), now + 1);
  printf("black hole: a read gave up after %.2f s, a set after %.2f s (timeout_ms=300)\n", read_s, set_s);
  logstate_free(ls);
}

/* --- the same through the async API ------------------------------------- */

#define PENDING ((logstate_status)1000)

static void async_done(logstate_status st, void *arg) { *(logstate_status *)arg = st; }

static logstate_status async_update(struct event_base *evb, logstate_async *a) {
  logstate_status st = PENDING;
  assert_status(logstate_async_update(a, "counter", test_fn_increment, NULL, async_done, &st), LOGSTATE_OK);
  double deadline = test_now_s() + 20;
  while (st == PENDING && test_now_s() < deadline)
    event_base_loop(evb, EVLOOP_ONCE);
  assert_true(st != PENDING);
  return st;
}

static uint64_t async_resolved(logstate_async *a) {
  logstate_redis_stats s;
  assert_status(logstate_async_get_stats(a, &s), LOGSTATE_OK);
  return s.resolved;
}

/* An async handle through the proxy on the sync handle's prefix, warm. */
static logstate_async *open_async_warm(struct event_base *evb, const char *query) {
  char url[300];
  logstate_async *a = NULL;
  logstate_free(open_warm(NULL)); /* a new prefix, counter at 1 */
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=%s&timeout_ms=1000%s%s", tcp_proxy_port(proxy), prefix,
           query ? "&" : "", query ? query : "");
  assert_status(logstate_async_open(&a, evb, url, NULL), LOGSTATE_OK);
  assert_status(async_update(evb, a), LOGSTATE_OK); /* counter at 2, cached */
  return a;
}

static void test_async_cuts(void **state) {
  (void)state;
  struct event_base *evb = event_base_new();
  logstate_async *a = open_async_warm(evb, NULL);
  tcp_proxy_cut(proxy, "EVALSHA", 1); /* sent, reply lost: applied */
  assert_status(async_update(evb, a), LOGSTATE_OK);
  assert_int_equal(async_resolved(a), 1);
  assert_int_equal(on_server(), 3);
  tcp_proxy_cut(proxy, "EVALSHA", 0); /* lost on the way: sent again */
  assert_status(async_update(evb, a), LOGSTATE_OK);
  assert_int_equal(async_resolved(a), 2);
  assert_int_equal(on_server(), 4);
  logstate_async_free(a);

  /* No connection comes back within timeout_ms: unknown, and said so. */
  a = open_async_warm(evb, "timeout_ms=500");
  tcp_proxy_refuse(proxy, 1);
  tcp_proxy_cut(proxy, "EVALSHA", 1);
  double t0 = test_now_s();
  assert_status(async_update(evb, a), LOGSTATE_UNAVAILABLE);
  double took = test_now_s() - t0;
  if (strstr(logstate_last_error(), "the outcome is unknown") == NULL)
    fail_msg("message: %s", logstate_last_error());
  assert_true(took >= 0.4 && took < 3.0);
  tcp_proxy_refuse(proxy, 0);
  assert_int_equal(on_server(), 3); /* it was applied */
  logstate_async_free(a);
  event_base_free(evb);
}

/* --- the server's own faults ------------------------------------------- */

#define WRITERS 3 /* two sync, one async */

static void writers_on(test_writer *w, const test_redis *s, const char *p, const char *query) {
  for (int i = 0; i < WRITERS; i++) {
    snprintf(w[i].url, sizeof(w[i].url), "redis://127.0.0.1:%d/?prefix=%s&timeout_ms=1000&connect_timeout_ms=500%s%s",
             s->port, p, query ? "&" : "", query ? query : "");
    w[i].use_async = i == WRITERS - 1;
  }
  test_writers_start(w, WRITERS);
}

/* After the writers stopped: the counter holds every acknowledged update
 * and nothing that was not attempted, and the index and the hashes agree. */
static void check_counter(const test_writer *w, const test_redis *s, const char *p) {
  char url[200];
  logstate *ls = NULL;
  size_t problems = 1;
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=%s", s->port, p);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  unsigned long final = test_counter_of(ls, "counter");
  assert_status(logstate_verify(ls, NULL, NULL, &problems), LOGSTATE_OK);
  assert_int_equal(problems, 0);
  logstate_free(ls);
  unsigned long acked = test_writers_acked(w, WRITERS), unknown = test_writers_unknown(w, WRITERS);
  for (int i = 0; i < WRITERS; i++) {
    assert_int_equal(w[i].other, 0);
    assert_int_equal(w[i].lower_reads, 0);
    assert_true(final >= w[i].acked_value);
  }
  assert_true(final >= acked);
  assert_true(final <= acked + unknown);
}

/* redis-server SIGKILLed 20 times under two sync writers and one async
 * writer, restarted from its AOF each time (appendfsync always): no
 * acknowledged update is lost. */
static void test_crash_durability(void **state) {
  (void)state;
  test_redis own;
  test_writer w[WRITERS];
  assert_int_equal(test_redis_start(&own, NULL), 0);
  writers_on(w, &own, "crash", NULL);
  unsigned long base[WRITERS];
  int kills = 0;
  for (; kills < 20; kills++) {
    for (int i = 0; i < WRITERS; i++)
      base[i] = atomic_load(&w[i].acked);
    assert_true(test_writers_reach(w, WRITERS, 0, base, 5, 30)); /* each writes between two crashes */
    test_redis_kill9(&own);
    assert_int_equal(test_redis_restart(&own), 0);
  }
  assert_true(test_writers_reach(w, WRITERS, 0, base, 10, 30));
  test_writers_stop(w, WRITERS);
  check_counter(w, &own, "crash");
  printf("crash durability: %d SIGKILLs, %lu acknowledged updates, %lu unknown outcomes, 0 lost\n", kills,
         test_writers_acked(w, WRITERS), test_writers_unknown(w, WRITERS));
  test_redis_stop(&own);
}

/* CLIENT KILL of every client and SCRIPT FLUSH, again and again under the
 * writers: they reconnect, reload the script, and lose nothing. */
static void test_client_kill_and_script_flush(void **state) {
  (void)state;
  test_writer w[WRITERS];
  writers_on(w, &server, "kills", NULL);
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
  printf("client kill and script flush: 5 of each, %lu acknowledged updates, %lu unknown outcomes, 0 lost\n",
         test_writers_acked(w, WRITERS), test_writers_unknown(w, WRITERS));
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
      unsigned long out[2] = {0, 1};
      writers_on(w, &server, "procs", NULL);
      int ok = test_writers_reach(w, WRITERS, 0, NULL, 100, 60);
      test_writers_stop(w, WRITERS);
      out[0] = test_writers_acked(w, WRITERS);
      out[1] = test_writers_unknown(w, WRITERS) + !ok;
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cut_after_the_set_was_sent),
      cmocka_unit_test(test_cut_before_the_set_arrived),
      cmocka_unit_test(test_cut_after_exec),
      cmocka_unit_test(test_outcome_unknown),
      cmocka_unit_test(test_black_hole),
      cmocka_unit_test(test_async_cuts),
      cmocka_unit_test(test_crash_durability),
      cmocka_unit_test(test_client_kill_and_script_flush),
      cmocka_unit_test(test_out_of_memory),
      cmocka_unit_test(test_processes_threads_async),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

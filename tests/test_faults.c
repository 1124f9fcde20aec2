/* SPDX-License-Identifier: Apache-2.0 */
/* Faults on the way to a real redis-server, through the test suite's own
 * TCP proxy (tests/tcp_proxy.c): cuts, a black hole, slow replies and
 * half-open links. A set whose reply is lost (cut, or timed out) is decided
 * by reading the log on a new connection (applied: OK; not applied: the
 * same compare-and-set once more; another writer's set won: ABORTED), and
 * UNAVAILABLE says the outcome is unknown only when no connection comes
 * back within timeout_ms; each counter is checked on the server: every set
 * applied exactly once. Timeouts are honoured within asserted bounds. (The
 * server's own faults are test_server_faults.c.) */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "logstate/async.h"
#include "logstate/logstate.h"
#include "logstate/redis.h"
#include "logstate/sys/backend.h" /* logstate_error_set */
#include "redis_server.h"
#include "tcp_proxy.h"
#include "writers.h"

#include "test_util.h"

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
  logstate_stats s;
  assert_status(logstate_get_stats(ls, &s), LOGSTATE_OK);
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

/* Group commit: while one set's reply is held, three threads of the same
 * handle chain their updates of the log on it and queue; their batch (one
 * pipeline) reaches the server and the connection is cut before the
 * replies. The first two of the batch find the log moved on past them,
 * which alone would leave their outcome unknown; the last one finds its own
 * bytes, and the sets it was chained on applied with it: all are OK, each
 * applied once. */
typedef struct chained {
  logstate *ls;
  pthread_t t;
  logstate_status st;
} chained;

static void *chained_update(void *arg) {
  chained *c = arg;
  c->st = logstate_update(c->ls, "counter", test_fn_increment, NULL);
  return NULL;
}

static logstate_stats stats_of(logstate *ls) {
  logstate_stats s;
  assert_status(logstate_get_stats(ls, &s), LOGSTATE_OK);
  return s;
}

static void test_cut_after_a_chained_batch(void **state) {
  (void)state;
  logstate *ls = open_warm(NULL); /* the counter at 1 */
  chained c[4];
  double until = test_now_s() + 10;
  tcp_proxy_delay(proxy, 300); /* the first set's reply is held: the others queue behind it */
  for (int i = 0; i < 4; i++) {
    c[i].ls = ls;
    assert_int_equal(pthread_create(&c[i].t, NULL, chained_update, &c[i]), 0);
    if (i == 0) /* its set is in flight (taken into a batch) before the others come */
      while (stats_of(ls).group_commits < 2 && test_now_s() < until)
        test_pause_ms(1);
  }
  while (stats_of(ls).group_waiting < 3 && test_now_s() < until)
    test_pause_ms(1);
  assert_int_equal(stats_of(ls).group_waiting, 3);
  tcp_proxy_cut(proxy, "EVALSHA", 1); /* the next sets sent: the batch of three */
  for (int i = 0; i < 4; i++) {
    pthread_join(c[i].t, NULL);
    assert_status(c[i].st, LOGSTATE_OK);
  }
  tcp_proxy_delay(proxy, 0);
  assert_int_equal(on_server(), 5); /* each applied once */
  assert_true(resolved(ls) >= 1);
  logstate_stats s = stats_of(ls);
  assert_int_equal(s.conflicts, 0);
  logstate_free(ls);
}

/* Another writer, while the proxy refuses the first one's reconnection:
 * once that one's set is on the server, two more sets, then the way open
 * again. */
typedef struct mover {
  const char *query;
  unsigned long applied; /* the counter once the first writer's set is in */
  pthread_t thread;
  int ok;
} mover;

static void *move_on(void *arg) {
  mover *m = arg;
  char url[300];
  logstate *ls = NULL;
  double until = test_now_s() + 10;
  while (on_server() < m->applied && test_now_s() < until)
    test_pause_ms(5);
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=%s%s%s", server.port, prefix, m->query ? "&" : "",
           m->query ? m->query : "");
  m->ok = on_server() == m->applied && logstate_open(&ls, url) == LOGSTATE_OK &&
          logstate_update(ls, "counter", test_fn_increment, NULL) == LOGSTATE_OK &&
          logstate_update(ls, "counter", test_fn_increment, NULL) == LOGSTATE_OK;
  logstate_free(ls);
  tcp_proxy_refuse(proxy, 0);
  return NULL;
}

/* The set applied (version 2), its reply lost, and the log moved on to 4
 * before it could be read: the state alone cannot tell whether this set
 * was one of the steps. */
static logstate_status lost_then_moved_on(const char *query, uint64_t *resolved_out) {
  logstate *ls = open_warm(query);
  mover m = {.query = query, .applied = 2};
  tcp_proxy_refuse(proxy, 1);
  tcp_proxy_cut(proxy, "EVALSHA", 1);
  assert_int_equal(pthread_create(&m.thread, NULL, move_on, &m), 0);
  logstate_status st = logstate_update(ls, "counter", test_fn_increment, NULL);
  char msg[600];
  snprintf(msg, sizeof(msg), "%s", logstate_last_error());
  pthread_join(m.thread, NULL);
  assert_true(m.ok);
  assert_int_equal(on_server(), 4);
  *resolved_out = resolved(ls);
  logstate_free(ls);
  logstate_error_set(st, "%s", msg);
  return st;
}

/* Without history: UNAVAILABLE, the outcome unknown (ABORTED would make the
 * update apply twice). With history=K the settling read also reads the
 * stream, whose entry of version 2 holds this set's bytes: OK. */
static void test_lost_reply_log_moved_on(void **state) {
  (void)state;
  uint64_t n = 0;
  assert_status(lost_then_moved_on(NULL, &n), LOGSTATE_UNAVAILABLE);
  if (strstr(logstate_last_error(), "cannot be told") == NULL)
    fail_msg("message: %s", logstate_last_error());
  assert_int_equal(n, 1);
  assert_status(lost_then_moved_on("history=8", &n), LOGSTATE_OK);
  assert_int_equal(n, 1);
  assert_status(lost_then_moved_on("history=8&history_bodies=no", &n), LOGSTATE_OK);
}

static logstate_status async_update(struct event_base *evb, logstate_async *a);
static logstate_async *open_async_warm(struct event_base *evb, const char *query);
static uint64_t async_resolved(logstate_async *a);

/* The same through the async API, with history: OK. */
static void test_async_lost_reply_log_moved_on(void **state) {
  (void)state;
  struct event_base *evb = event_base_new();
  logstate_async *a = open_async_warm(evb, "history=8"); /* the counter at 2 */
  mover m = {.query = "history=8", .applied = 3};
  tcp_proxy_refuse(proxy, 1);
  tcp_proxy_cut(proxy, "EVALSHA", 1);
  assert_int_equal(pthread_create(&m.thread, NULL, move_on, &m), 0);
  logstate_status st = async_update(evb, a);
  pthread_join(m.thread, NULL);
  assert_true(m.ok);
  assert_status(st, LOGSTATE_OK);
  assert_int_equal(async_resolved(a), 1);
  assert_int_equal(on_server(), 5);
  logstate_async_free(a);
  event_base_free(evb);
}

/* A write transaction whose EXEC reached the server, its reply lost; then
 * one whose MULTI never arrived. */
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
  /* Cut before MULTI arrived: nothing of the transaction ran, the WATCH
   * went with the connection; the same compare-and-set goes again (the
   * script alone, which compares the version), and applies once. */
  assert_status(logstate_write_ops(ls, "counter", &w), LOGSTATE_OK);
  tcp_proxy_cut(proxy, "MULTI", 0);
  assert_status(logstate_write_set(w, (const uint8_t *)"counter.example\n3\nhash\n", 23), LOGSTATE_OK);
  logstate_write_close(w);
  assert_int_equal(resolved(ls), 2);
  assert_int_equal(on_server(), 3);
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

/* Slow replies: slower than usual but within timeout_ms, everything works;
 * slower than timeout_ms, a read is UNAVAILABLE after about one timeout,
 * and a set whose reply is late says that its outcome is unknown. */
static void test_slow_replies(void **state) {
  (void)state;
  char buf[64];
  logstate *ls = open_warm(NULL); /* timeout_ms=1000 */
  tcp_proxy_delay(proxy, 100);
  double t0 = test_now_s();
  assert_status(logstate_update(ls, "counter", test_fn_increment, NULL), LOGSTATE_OK);
  assert_status(test_get(ls, "counter", buf, sizeof(buf)), LOGSTATE_OK);
  double slow_ok = test_now_s() - t0;
  assert_true(slow_ok >= 0.2); /* both replies were held */
  assert_int_equal(on_server(), 2);
  tcp_proxy_delay(proxy, 0);
  logstate_free(ls);

  /* The set first, on the pooled connection (a new connection's set-up is
   * slow too, and would fail before anything was sent). */
  ls = open_warm("timeout_ms=200");
  tcp_proxy_delay(proxy, 700);
  t0 = test_now_s();
  logstate_status st = logstate_update(ls, "counter", test_fn_increment, NULL);
  double set_s = test_now_s() - t0;
  char msg[600];
  snprintf(msg, sizeof(msg), "%s", logstate_last_error());
  t0 = test_now_s();
  logstate_status read_st = test_get(ls, "counter", buf, sizeof(buf));
  double read_s = test_now_s() - t0;
  tcp_proxy_delay(proxy, 0);
  assert_status(st, LOGSTATE_UNAVAILABLE);
  if (strstr(msg, "the outcome is unknown") == NULL)
    fail_msg("message: %s", msg);
  assert_status(read_st, LOGSTATE_UNAVAILABLE);
  /* A read: one timeout, and one more if a fresh connection was tried; a
   * set: its timeout, then up to one more to learn its outcome (a reply
   * held by the proxy's one thread may delay the next by 0.7 s). */
  assert_true(read_s >= 0.15 && read_s < 2.5);
  assert_true(set_s >= 0.15 && set_s < 3.5);
  /* The request itself was not held: it reached the server and applied. */
  assert_int_equal(on_server(), 2);
  assert_int_equal(test_counter_of(ls, "counter"), 2);
  assert_status(logstate_update(ls, "counter", test_fn_increment, NULL), LOGSTATE_OK);
  assert_int_equal(on_server(), 3);
  printf("slow replies: 0.1 s each within timeout_ms=1000: OK in %.2f s; 0.7 s each over timeout_ms=200: a read "
         "gave up after %.2f s, a set after %.2f s\n",
         slow_ok, read_s, set_s);
  logstate_free(ls);
}

/* Half-open: the pooled connections stay open and carry nothing (the
 * server's host vanished without a FIN), new ones work. A read costs one
 * timeout and succeeds on a fresh connection; a set sent into the dead
 * connection is found not applied and goes again, once. */
static void test_half_open(void **state) {
  (void)state;
  char buf[64];
  logstate *ls = open_warm("timeout_ms=300");
  tcp_proxy_sever(proxy);
  double t0 = test_now_s();
  assert_status(test_get(ls, "counter", buf, sizeof(buf)), LOGSTATE_OK);
  double read_s = test_now_s() - t0;
  assert_true(read_s >= 0.25 && read_s < 1.5);
  tcp_proxy_sever(proxy);
  t0 = test_now_s();
  assert_status(logstate_update(ls, "counter", test_fn_increment, NULL), LOGSTATE_OK);
  double set_s = test_now_s() - t0;
  assert_true(set_s >= 0.25 && set_s < 1.5);
  assert_int_equal(resolved(ls), 1);
  assert_int_equal(on_server(), 2); /* applied once */
  printf("half-open: a read succeeded after %.2f s, a set after %.2f s (timeout_ms=300)\n", read_s, set_s);
  logstate_free(ls);
}

/* --- the same through the async API ------------------------------------- */

static logstate_status async_update(struct event_base *evb, logstate_async *a) {
  return test_async_update_wait(evb, a, "counter", test_fn_increment);
}

static uint64_t async_resolved(logstate_async *a) {
  logstate_stats s;
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

  /* Half-open: the set went into a connection that carries nothing. */
  a = open_async_warm(evb, "timeout_ms=300");
  tcp_proxy_sever(proxy);
  t0 = test_now_s();
  assert_status(async_update(evb, a), LOGSTATE_OK);
  took = test_now_s() - t0;
  assert_true(took >= 0.25 && took < 2.0);
  assert_int_equal(async_resolved(a), 1);
  assert_int_equal(on_server(), 3);
  logstate_async_free(a);
  event_base_free(evb);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cut_after_the_set_was_sent),
      cmocka_unit_test(test_cut_before_the_set_arrived),
      cmocka_unit_test(test_cut_after_a_chained_batch),
      cmocka_unit_test(test_cut_after_exec),
      cmocka_unit_test(test_lost_reply_log_moved_on),
      cmocka_unit_test(test_async_lost_reply_log_moved_on),
      cmocka_unit_test(test_outcome_unknown),
      cmocka_unit_test(test_black_hole),
      cmocka_unit_test(test_slow_replies),
      cmocka_unit_test(test_half_open),
      cmocka_unit_test(test_async_cuts),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The operations hook and the per-kind statistics: one call per finished
 * operation (an update's own reads and sets are not reported apart), under
 * threads, from both APIs (the async one from the loop, not doubled by the
 * worker of memory: and sqlite:), with the right kind, log, status, retries
 * and, on Redis, round trips. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logstate/async.h"
#include "logstate/logstate.h"
#include "logstate/sys/backend.h" /* logstate_error_set */
#include "redis_server.h"

#include "test_util.h"

typedef struct seen {
  atomic_ulong calls[LOGSTATE_OP_KINDS], errors, async_calls, retries, round_trips[LOGSTATE_OP_KINDS];
  atomic_ulong wrong_log; /* a log operation reported without its log ID */
  pthread_t loop_thread;
  atomic_ulong off_loop; /* async reports from another thread */
} seen;

static void on_op(const logstate_op_info *info, void *arg) {
  seen *s = arg;
  atomic_fetch_add(&s->calls[info->kind], 1);
  atomic_fetch_add(&s->round_trips[info->kind], info->round_trips);
  atomic_fetch_add(&s->retries, info->retries);
  if (info->status != LOGSTATE_OK)
    atomic_fetch_add(&s->errors, 1);
  if (info->is_async) {
    atomic_fetch_add(&s->async_calls, 1);
    if (!pthread_equal(pthread_self(), s->loop_thread))
      atomic_fetch_add(&s->off_loop, 1);
  }
  int per_log = info->kind == LOGSTATE_OP_GET || info->kind == LOGSTATE_OP_UPDATE || info->kind == LOGSTATE_OP_HISTORY;
  if (per_log && (info->log_id == NULL || strncmp(info->log_id, "log", 3) != 0))
    atomic_fetch_add(&s->wrong_log, 1);
  logstate_error_set(LOGSTATE_INTERNAL, "the hook's own failure must not reach the caller");
}

static logstate *open_hooked(const char *url, seen *s) {
  logstate_options o = LOGSTATE_OPTIONS_INIT;
  o.on_op = on_op;
  o.on_op_arg = s;
  logstate *ls = NULL;
  assert_status(logstate_open_ext(&ls, url, &o), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  return ls;
}

enum { THREADS = 6, UPDATES = 150, GETS = 50 };

static void *worker(void *arg) {
  logstate *ls = arg;
  char buf[64];
  for (int i = 0; i < UPDATES; i++)
    if (logstate_update(ls, "log-shared", test_fn_increment, NULL) != LOGSTATE_OK)
      abort();
  for (int i = 0; i < GETS; i++)
    if (test_get(ls, "log-shared", buf, sizeof(buf)) != LOGSTATE_OK)
      abort();
  return NULL;
}

/* Every call reported once, from the thread that ran it, under threads. */
static void hook_counts(const char *url) {
  seen s;
  memset(&s, 0, sizeof(s));
  logstate *ls = open_hooked(url, &s);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(pthread_create(&t[i], NULL, worker, ls), 0);
  for (int i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);
  char buf[8];
  assert_status(test_get(ls, "log-absent", buf, sizeof(buf)), LOGSTATE_NOT_FOUND);
  assert_string_equal(logstate_last_error(), "no checkpoint stored for log \"log-absent\"");
  assert_int_equal(atomic_load(&s.calls[LOGSTATE_OP_INIT]), 1);
  assert_int_equal(atomic_load(&s.calls[LOGSTATE_OP_UPDATE]), THREADS * UPDATES);
  assert_int_equal(atomic_load(&s.calls[LOGSTATE_OP_GET]), THREADS * GETS + 1);
  /* An update's own transactions (SQLite's path) are not reported apart. */
  assert_int_equal(atomic_load(&s.calls[LOGSTATE_OP_WRITE_OPS]), 0);
  assert_int_equal(atomic_load(&s.calls[LOGSTATE_OP_WRITE_SET]), 0);
  assert_int_equal(atomic_load(&s.errors), 1);
  assert_int_equal(atomic_load(&s.wrong_log), 0);
  assert_int_equal(atomic_load(&s.async_calls), 0);
  assert_int_equal(test_counter_of(ls, "log-shared"), THREADS * UPDATES);
  logstate_op_stats st;
  assert_status(logstate_get_op_stats(ls, LOGSTATE_OP_UPDATE, &st), LOGSTATE_OK);
  assert_int_equal(st.count, THREADS * UPDATES);
  assert_int_equal(st.errors, 0);
  assert_true(st.p50_us <= st.p90_us && st.p90_us <= st.p99_us && st.p99_us <= st.max_us && st.max_us > 0);
  logstate_op_stats upd = st;
  assert_status(logstate_get_op_stats(ls, LOGSTATE_OP_GET, &st), LOGSTATE_OK);
  assert_int_equal(st.count, THREADS * GETS + 2); /* and test_counter_of's */
  assert_int_equal(st.errors, 1);
  printf("%s: %d threads, %lu hook calls, update p50 %llu us p99 %llu us, %lu retries reported\n", url, THREADS,
         (unsigned long)(atomic_load(&s.calls[LOGSTATE_OP_UPDATE]) + atomic_load(&s.calls[LOGSTATE_OP_GET])),
         (unsigned long long)upd.p50_us, (unsigned long long)upd.p99_us, (unsigned long)atomic_load(&s.retries));
  logstate_free(ls);
}

static void test_hook_memory(void **state) {
  (void)state;
  hook_counts("memory:");
}

static void test_hook_sqlite(void **state) {
  (void)state;
  char dir[] = "/tmp/logstate-ops-XXXXXX", url[128], cmd[128];
  assert_non_null(mkdtemp(dir));
  snprintf(url, sizeof(url), "sqlite:%s/ops.db", dir);
  hook_counts(url);
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

static void test_stats_arguments(void **state) {
  (void)state;
  logstate *ls = NULL;
  logstate_op_stats st;
  assert_status(logstate_open(&ls, "memory:"), LOGSTATE_OK);
  assert_status(logstate_get_op_stats(NULL, LOGSTATE_OP_GET, &st), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_get_op_stats(ls, LOGSTATE_OP_GET, NULL), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_get_op_stats(ls, (logstate_op_kind)LOGSTATE_OP_KINDS, &st), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_get_op_stats(ls, LOGSTATE_OP_VERIFY, &st), LOGSTATE_OK);
  assert_int_equal(st.count, 0);
  logstate_free(ls);
  /* One options version for 0.2: 0.1's version 1 is refused, naming what
   * to start from, and so is an unknown one. */
  logstate_options v1 = {1, 0, 0, NULL, NULL}, v9 = {9, 0, 0, NULL, NULL}, v2 = LOGSTATE_OPTIONS_INIT;
  assert_status(logstate_open_ext(&ls, "memory:", &v1), LOGSTATE_INVALID_ARGUMENT);
  assert_non_null(strstr(logstate_last_error(), "LOGSTATE_OPTIONS_INIT"));
  assert_status(logstate_open_ext(&ls, "memory:", &v9), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_open_ext(&ls, "memory:", &v2), LOGSTATE_OK);
  logstate_free(ls);
}

/* --- the async API ------------------------------------------------------ */

#define PENDING ((logstate_status)1000)

static void done(logstate_status st, void *arg) { *(logstate_status *)arg = st; }

static logstate_status async_update(struct event_base *evb, logstate_async *a, const char *id) {
  logstate_status st = PENDING;
  assert_status(logstate_async_update(a, id, test_fn_increment, NULL, done, &st), LOGSTATE_OK);
  while (st == PENDING)
    event_base_loop(evb, EVLOOP_ONCE);
  return st;
}

/* Reported once per operation (not again by the worker that runs memory:
 * and sqlite:), from the loop's thread. */
static seen *async_counts(const char *url, int updates, logstate_async **out, struct event_base *evb) {
  seen *s = calloc(1, sizeof(*s));
  s->loop_thread = pthread_self();
  logstate_options o = LOGSTATE_OPTIONS_INIT;
  o.on_op = on_op;
  o.on_op_arg = s;
  assert_status(logstate_async_open(out, evb, url, &o), LOGSTATE_OK);
  for (int i = 0; i < updates; i++)
    assert_status(async_update(evb, *out, "log-async"), LOGSTATE_OK);
  assert_int_equal(atomic_load(&s->calls[LOGSTATE_OP_UPDATE]), updates);
  assert_int_equal(atomic_load(&s->async_calls), updates);
  assert_int_equal(atomic_load(&s->off_loop), 0);
  logstate_op_stats st;
  assert_status(logstate_async_get_op_stats(*out, LOGSTATE_OP_UPDATE, &st), LOGSTATE_OK);
  assert_int_equal(st.count, updates);
  return s;
}

static void test_hook_async_memory(void **state) {
  (void)state;
  struct event_base *evb = event_base_new();
  logstate_async *a = NULL;
  free(async_counts("memory:", 20, &a, evb));
  logstate_async_free(a);
  event_base_free(evb);
}

/* --- round trips on Redis ----------------------------------------------- */

static test_redis server;

static void test_round_trips_redis(void **state) {
  (void)state;
  char url[200];
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=ops", server.port);
  seen s;
  memset(&s, 0, sizeof(s));
  logstate *ls = open_hooked(url, &s);
  assert_status(logstate_update(ls, "log-rt", test_fn_increment, NULL), LOGSTATE_OK); /* a read, the script */
  assert_int_equal(atomic_load(&s.round_trips[LOGSTATE_OP_UPDATE]), 2);
  assert_status(logstate_update(ls, "log-rt", test_fn_increment, NULL), LOGSTATE_OK); /* cached: the script alone */
  assert_int_equal(atomic_load(&s.round_trips[LOGSTATE_OP_UPDATE]), 3);
  char buf[64];
  assert_status(test_get(ls, "log-rt", buf, sizeof(buf)), LOGSTATE_OK);
  assert_int_equal(atomic_load(&s.round_trips[LOGSTATE_OP_GET]), 1);
  logstate_free(ls);

  struct event_base *evb = event_base_new();
  logstate_async *a = NULL;
  seen *as = async_counts(url, 3, &a, evb);
  /* The first: a read and the script; then the script alone each. */
  assert_int_equal(atomic_load(&as->round_trips[LOGSTATE_OP_UPDATE]), 2 + 1 + 1);
  logstate_async_free(a);
  event_base_free(evb);
  free(as);
}

static int setup(void **state) {
  (void)state;
  return test_redis_start(&server, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  test_redis_stop(&server);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hook_memory),       cmocka_unit_test(test_hook_sqlite),
      cmocka_unit_test(test_stats_arguments),   cmocka_unit_test(test_hook_async_memory),
      cmocka_unit_test(test_round_trips_redis),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

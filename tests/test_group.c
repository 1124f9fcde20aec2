/* SPDX-License-Identifier: Apache-2.0 */
/* Group commit and chained sets (src/group.c, the engine's chain), checked
 * with a one-log backend whose cas can be held at its first call: the sets
 * that queue meanwhile go out in one batch; an update chained on a set in
 * flight expects that set's checkpoint exactly, so it can never land on
 * another writer's checkpoint of the same version; a failed set fails only
 * its own update, and the one chained on it retries. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logstate/logstate.h"
#include "logstate/sys/backend.h"

#include "test_util.h"

/* --- a one-log backend with a gate -------------------------------------- */

typedef struct other_log { /* a log other than "log": never held */
  char id[16];
  uint64_t version;
  uint8_t *cp;
  size_t len;
} other_log;

typedef struct gate {
  logstate_backend base;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t version; /* the log "log" */
  uint8_t *cp;
  size_t len;
  other_log others[8];
  size_t nothers;
  int hold;             /* the next cas call on "log" waits until `hold` is cleared */
  int held;             /* a cas call is waiting at the gate */
  int fail_next;        /* the next request fails with UNAVAILABLE, storing nothing */
  const char *intruder; /* stored as another writer's set just before the next request */
  size_t batches[64];   /* the size of each cas call */
  size_t nbatches;
  int exact_seen; /* requests that came with exact set */
} gate;

static logstate_status g_logs(logstate_backend *be, char ***ids, size_t *n) {
  (void)be;
  *ids = NULL;
  *n = 0;
  return LOGSTATE_OK;
}

/* The slot of a log other than "log" (made on first use), under the mutex. */
static other_log *other(gate *g, const char *id) {
  for (size_t i = 0; i < g->nothers; i++)
    if (strcmp(g->others[i].id, id) == 0)
      return &g->others[i];
  assert_true(g->nothers < 8 && strlen(id) < sizeof(g->others[0].id));
  other_log *o = &g->others[g->nothers++];
  snprintf(o->id, sizeof(o->id), "%s", id);
  return o;
}

static logstate_status g_read(logstate_backend *be, const char *id, size_t n, logstate_backend_state *out) {
  gate *g = (gate *)be;
  (void)n;
  pthread_mutex_lock(&g->mu);
  other_log *o = strcmp(id, "log") == 0 ? NULL : other(g, id);
  const uint8_t *cp = o ? o->cp : g->cp;
  size_t len = o ? o->len : g->len;
  out->version = o ? o->version : g->version;
  out->cp = cp ? malloc(len) : NULL;
  if (out->cp)
    memcpy(out->cp, cp, len);
  out->len = cp ? len : 0;
  pthread_mutex_unlock(&g->mu);
  return LOGSTATE_OK;
}

static logstate_status g_get(logstate_backend *be, const char *id, size_t n, uint8_t **cp, size_t *len) {
  logstate_backend_state s = {0, NULL, 0};
  g_read(be, id, n, &s);
  if (s.cp == NULL)
    return LOGSTATE_NOT_FOUND;
  *cp = s.cp;
  *len = s.len;
  return LOGSTATE_OK;
}

static logstate_status g_begin(logstate_backend *be, const char *id, size_t n, logstate_backend_txn **txn,
                               logstate_backend_state *snap) {
  *txn = (logstate_backend_txn *)be;
  return g_read(be, id, n, snap);
}

static logstate_status g_set(logstate_backend *be, logstate_backend_txn *txn, const uint8_t *cp, size_t len) {
  (void)be, (void)txn, (void)cp, (void)len;
  return logstate_error_set(LOGSTATE_FAILED_PRECONDITION, "gate: updates only");
}

static logstate_status g_end(logstate_backend *be, logstate_backend_txn *txn) {
  (void)be, (void)txn;
  return LOGSTATE_OK;
}

static void g_free(logstate_backend *be) { (void)be; /* the test owns it */ }

static void store(gate *g, uint64_t version, const void *cp, size_t len) {
  free(g->cp);
  g->cp = malloc(len);
  memcpy(g->cp, cp, len);
  g->len = len;
  g->version = version;
}

/* One request, under the mutex. */
static void decide(gate *g, logstate_backend_cas *r) {
  if (g->intruder) {
    store(g, g->version + 1, g->intruder, strlen(g->intruder));
    g->intruder = NULL;
  }
  if (g->fail_next) {
    g->fail_next = 0;
    logstate_backend_cas_result(r, logstate_error_set(LOGSTATE_UNAVAILABLE, "gate: injected failure"));
    return;
  }
  g->exact_seen += r->exact != 0;
  int at = g->version == r->expect.version &&
           (!r->exact || (g->len == r->expect.len && memcmp(g->cp, r->expect.cp, g->len) == 0));
  if (!at) {
    logstate_backend_cas_result(r, logstate_error_set(LOGSTATE_ABORTED, "gate: not at the expected state"));
    return;
  }
  store(g, g->version + 1, r->cp, r->len);
  r->version = g->version;
  logstate_backend_cas_result(r, LOGSTATE_OK);
}

/* A log other than "log": a plain compare-and-set on its slot. */
static void decide_other(gate *g, logstate_backend_cas *r) {
  other_log *o = other(g, r->log_id);
  if (o->version != r->expect.version) {
    logstate_backend_cas_result(r, logstate_error_set(LOGSTATE_ABORTED, "gate: not at the expected version"));
    return;
  }
  free(o->cp);
  o->cp = malloc(r->len);
  memcpy(o->cp, r->cp, r->len);
  o->len = r->len;
  r->version = ++o->version;
  logstate_backend_cas_result(r, LOGSTATE_OK);
}

static void g_cas(logstate_backend *be, logstate_backend_cas *const *reqs, size_t n) {
  gate *g = (gate *)be;
  pthread_mutex_lock(&g->mu);
  if (strcmp(reqs[0]->log_id, "log") != 0) {
    for (size_t i = 0; i < n; i++)
      decide_other(g, reqs[i]);
    pthread_mutex_unlock(&g->mu);
    return;
  }
  if (g->hold) {
    g->held = 1;
    pthread_cond_broadcast(&g->cv);
    while (g->hold)
      pthread_cond_wait(&g->cv, &g->mu);
    g->held = 0;
  }
  if (g->nbatches < 64)
    g->batches[g->nbatches++] = n;
  for (size_t i = 0; i < n; i++)
    decide(g, reqs[i]);
  pthread_mutex_unlock(&g->mu);
}

static size_t g_cas_batch(logstate_backend *be) {
  (void)be;
  return 8;
}

static const logstate_backend_methods gate_methods = {
    .version = LOGSTATE_BACKEND_VERSION,
    .name = "gate",
    .counts_versions = 1,
    .logs = g_logs,
    .get_latest = g_get,
    .write_begin = g_begin,
    .write_set = g_set,
    .write_end = g_end,
    .free = g_free,
    .read_state = g_read,
    .cas = g_cas,
    .cas_batch = g_cas_batch,
};

static gate *gate_new(logstate **ls) {
  gate *g = calloc(1, sizeof(*g));
  g->base.methods = &gate_methods;
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  assert_status(logstate_open_backend(ls, &g->base, NULL), LOGSTATE_OK);
  return g;
}

static void gate_free(gate *g) {
  for (size_t i = 0; i < g->nothers; i++)
    free(g->others[i].cp);
  pthread_cond_destroy(&g->cv);
  pthread_mutex_destroy(&g->mu);
  free(g->cp);
  free(g);
}

/* Waits (bounded) until `g->held`, or the handle counts `waiting` sets queued. */
static void wait_for(logstate *ls, gate *g, int held, uint64_t waiting) {
  for (int i = 0; i < 10000; i++) {
    logstate_stats st;
    assert_status(logstate_get_stats(ls, &st), LOGSTATE_OK);
    pthread_mutex_lock(&g->mu);
    int ok = g->held == held && st.group_waiting == waiting;
    pthread_mutex_unlock(&g->mu);
    if (ok)
      return;
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  fail_msg("the gate never saw held=%d with %llu sets waiting", held, (unsigned long long)waiting);
}

static void release(gate *g) {
  pthread_mutex_lock(&g->mu);
  g->hold = 0;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

typedef struct worker {
  logstate *ls;
  const char *log_id; /* NULL: "log" */
  pthread_t t;
  logstate_status st;
  atomic_int finished;
} worker;

static void *run_update(void *arg) {
  worker *w = arg;
  w->st = logstate_update(w->ls, w->log_id ? w->log_id : "log", test_fn_increment, NULL);
  atomic_store(&w->finished, 1);
  return NULL;
}

static void start(worker *w, logstate *ls) {
  w->ls = ls;
  atomic_init(&w->finished, 0);
  assert_int_equal(pthread_create(&w->t, NULL, run_update, w), 0);
}

static unsigned long counter(gate *g) {
  pthread_mutex_lock(&g->mu);
  unsigned long n = test_counter_parse(g->cp, g->len);
  pthread_mutex_unlock(&g->mu);
  return n;
}

/* With the log known to the handle: the first worker's set is held at the
 * gate, the others chain on it and queue; then the gate opens and all
 * finish (their statuses are the caller's to check). */
static void held_then_chained(logstate *ls, gate *g, worker *w, int n) {
  g->hold = 1;
  start(&w[0], ls);
  wait_for(ls, g, 1, 0);
  for (int i = 1; i < n; i++)
    start(&w[i], ls);
  wait_for(ls, g, 1, (uint64_t)n - 1); /* the others applied their function on the held set's state and queued */
  release(g);
  for (int i = 0; i < n; i++)
    pthread_join(w[i].t, NULL);
}

/* --- tests -------------------------------------------------------------- */

/* A lone writer's sets go out one per call, at once. */
static void test_lone_writer_commits_at_once(void **state) {
  (void)state;
  logstate *ls;
  gate *g = gate_new(&ls);
  for (int i = 0; i < 5; i++)
    assert_status(logstate_update(ls, "log", test_fn_increment, NULL), LOGSTATE_OK);
  logstate_stats st;
  assert_status(logstate_get_stats(ls, &st), LOGSTATE_OK);
  assert_int_equal(st.group_commits, 5);
  assert_int_equal(st.group_sets, 5);
  assert_int_equal(st.group_waiting, 0);
  assert_int_equal(counter(g), 5);
  assert_int_equal(g->exact_seen, 0); /* each started from a state the store had confirmed */
  logstate_free(ls);
  gate_free(g);
}

/* While one set is held in flight, three updates of the same log chain on
 * it (each expecting the one before exactly) and go out in one batch. */
static void test_updates_chain_into_one_batch(void **state) {
  (void)state;
  logstate *ls;
  gate *g = gate_new(&ls);
  assert_status(logstate_update(ls, "log", test_fn_increment, NULL), LOGSTATE_OK); /* the handle knows the log */
  worker w[4] = {{0}};
  held_then_chained(ls, g, w, 4);
  for (int i = 0; i < 4; i++)
    assert_status(w[i].st, LOGSTATE_OK);
  assert_int_equal(counter(g), 5);
  assert_int_equal(g->nbatches, 3);
  assert_int_equal(g->batches[1], 1);
  assert_int_equal(g->batches[2], 3);
  assert_int_equal(g->exact_seen, 3);
  logstate_stats st;
  assert_status(logstate_get_stats(ls, &st), LOGSTATE_OK);
  assert_int_equal(st.conflicts, 0);
  assert_int_equal(st.group_sets, 5);
  logstate_free(ls);
  gate_free(g);
}

/* After a batch of three, a leader waits for those writers to come back
 * with their next sets (group.h); when they do not, its set still goes,
 * alone, after a bounded wait, and a lone writer after it does not wait. */
static void test_gather_for_writers_gone_is_bounded(void **state) {
  (void)state;
  logstate *ls;
  gate *g = gate_new(&ls);
  assert_status(logstate_update(ls, "log", test_fn_increment, NULL), LOGSTATE_OK);
  worker w[4] = {{0}};
  held_then_chained(ls, g, w, 4); /* batches: 1, 1 (held), 3 */
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < 3; i++)
    assert_status(logstate_update(ls, "log", test_fn_increment, NULL), LOGSTATE_OK);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  assert_int_equal(g->nbatches, 6);
  for (size_t i = 3; i < 6; i++)
    assert_int_equal(g->batches[i], 1);
  assert_int_equal(counter(g), 8);
  /* The bound is 1 ms (LS_GROUP_GATHER_US); 5 s only says it ended. */
  assert_true((double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9 < 5.0);
  logstate_free(ls);
  gate_free(g);
}

/* Another writer stores the version the held set was making: the update
 * chained on the held set must not land on that checkpoint (its version
 * matches, its bytes do not); both updates retry on the state told and
 * succeed, and the intruder's set is kept. */
static void test_chained_set_never_lands_on_another_writers_state(void **state) {
  (void)state;
  logstate *ls;
  gate *g = gate_new(&ls);
  assert_status(logstate_update(ls, "log", test_fn_increment, NULL), LOGSTATE_OK);
  g->intruder = "counter.example\n100\nintruder\n";
  worker w[2] = {{0}};
  held_then_chained(ls, g, w, 2);
  for (int i = 0; i < 2; i++)
    assert_status(w[i].st, LOGSTATE_OK);
  /* 100 (the intruder) + 2, with version 1 (first) + 1 (intruder) + 2. */
  assert_int_equal(counter(g), 102);
  assert_int_equal(g->version, 4);
  logstate_free(ls);
  gate_free(g);
}

/* The held set fails: its update returns the failure, with its message;
 * the update chained on it finds the log not at the state it expected and
 * retries on the real one. */
static void test_failed_set_fails_only_its_update(void **state) {
  (void)state;
  logstate *ls;
  gate *g = gate_new(&ls);
  assert_status(logstate_update(ls, "log", test_fn_increment, NULL), LOGSTATE_OK);
  g->fail_next = 1;
  worker w[2] = {{0}};
  held_then_chained(ls, g, w, 2);
  assert_status(w[0].st, LOGSTATE_UNAVAILABLE);
  assert_status(w[1].st, LOGSTATE_OK);
  assert_int_equal(counter(g), 2);
  assert_int_equal(g->version, 2);
  logstate_free(ls);
  gate_free(g);
}

/* With lanes, a held batch holds only its own lane: updates of other logs
 * (some of which hash to another lane) go on meanwhile, and a log's sets
 * stay in one lane. */
static size_t g_two_lanes(logstate_backend *be) {
  (void)be;
  return 2;
}

static void test_lanes_run_in_parallel(void **state) {
  (void)state;
  logstate_backend_methods m = gate_methods;
  m.cas_lanes = g_two_lanes;
  logstate *ls;
  gate *g = calloc(1, sizeof(*g));
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  g->base.methods = &m;
  assert_status(logstate_open_backend(&ls, &g->base, NULL), LOGSTATE_OK);
  assert_status(logstate_update(ls, "log", test_fn_increment, NULL), LOGSTATE_OK);
  g->hold = 1;
  worker held, w[6];
  const char *ids[6] = {"b", "c", "d", "e", "f", "h"};
  memset(&held, 0, sizeof(held));
  start(&held, ls);
  wait_for(ls, g, 1, 0);
  for (int i = 0; i < 6; i++) {
    memset(&w[i], 0, sizeof(w[i]));
    w[i].log_id = ids[i];
    start(&w[i], ls);
  }
  int finished = 0;
  double deadline = (double)time(NULL) + 10;
  while (finished == 0 && (double)time(NULL) < deadline) {
    for (int i = 0; i < 6; i++)
      finished += atomic_load(&w[i].finished);
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  assert_true(finished > 0); /* at least one log in the other lane went on */
  assert_int_equal(atomic_load(&held.finished), 0);
  release(g);
  pthread_join(held.t, NULL);
  assert_status(held.st, LOGSTATE_OK);
  for (int i = 0; i < 6; i++) {
    pthread_join(w[i].t, NULL);
    assert_status(w[i].st, LOGSTATE_OK);
  }
  assert_int_equal(counter(g), 2);
  logstate_free(ls);
  gate_free(g);
}

/* A backend that leaves a request undecided fails it with INTERNAL. */
static void g_cas_forgetful(logstate_backend *be, logstate_backend_cas *const *reqs, size_t n) {
  (void)be, (void)reqs, (void)n;
}

static void test_undecided_request_is_internal(void **state) {
  (void)state;
  logstate_backend_methods m = gate_methods;
  m.cas = g_cas_forgetful;
  logstate *ls;
  gate *g = calloc(1, sizeof(*g));
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  g->base.methods = &m;
  assert_status(logstate_open_backend(&ls, &g->base, NULL), LOGSTATE_OK);
  assert_status(logstate_update(ls, "log", test_fn_increment, NULL), LOGSTATE_INTERNAL);
  assert_non_null(strstr(logstate_last_error(), "without an outcome"));
  logstate_free(ls);
  gate_free(g);
}

static void test_cas_batch_needs_cas(void **state) {
  (void)state;
  logstate_backend_methods m = gate_methods;
  m.cas = NULL;
  m.read_state = NULL;
  gate g = {.base = {.methods = &m}};
  logstate *ls = NULL;
  assert_status(logstate_open_backend(&ls, &g.base, NULL), LOGSTATE_INVALID_ARGUMENT);
  assert_non_null(strstr(logstate_last_error(), "cas_batch without cas"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lone_writer_commits_at_once),
      cmocka_unit_test(test_updates_chain_into_one_batch),
      cmocka_unit_test(test_gather_for_writers_gone_is_bounded),
      cmocka_unit_test(test_chained_set_never_lands_on_another_writers_state),
      cmocka_unit_test(test_failed_set_fails_only_its_update),
      cmocka_unit_test(test_lanes_run_in_parallel),
      cmocka_unit_test(test_undecided_request_is_internal),
      cmocka_unit_test(test_cas_batch_needs_cas),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

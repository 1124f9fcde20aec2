/* SPDX-License-Identifier: Apache-2.0 */
/* The native async conformance suite: the async API itself, on a real
 * libevent loop, against any backend URL. See conformance.h. */
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
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conformance.h"
#include "logstate/async.h"
#include "test_util.h"

static const logstate_conformance_async_target *target;
static unsigned int next_store = 1000; /* apart from the sync suite's numbers */
static struct event_base *evb;
static int in_submit; /* set around every submit: no callback may run then */

static void url_of(unsigned int store, char *buf, size_t bufsz) { snprintf(buf, bufsz, target->url, store); }

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Runs the loop until *count reaches `want`; fails after `seconds`. */
static void run_until(const int *count, int want, double seconds) {
  double deadline = now_s() + seconds;
  while (*count < want) {
    if (now_s() > deadline)
      fail_msg("timed out: %d of %d callbacks", *count, want);
    struct timeval tick = {0, 20000};
    event_base_loopexit(evb, &tick); /* wake up to check the deadline */
    event_base_loop(evb, EVLOOP_ONCE);
  }
}

/* --- callbacks that record ---------------------------------------------- */

typedef struct rec {
  int calls;
  logstate_status st;
  char msg[256];
  char value[128];
  size_t len;
  int absent;
  logstate_async_write *w;
  size_t n;
  char first[64];
} rec;

static void note(rec *r, logstate_status st) {
  if (in_submit)
    fail_msg("a callback ran inside its submit call");
  r->calls++;
  r->st = st;
  if (st != LOGSTATE_OK)
    snprintf(r->msg, sizeof(r->msg), "%s", logstate_last_error());
}

static void on_done(logstate_status st, void *arg) { note(arg, st); }

static void on_get(logstate_status st, const uint8_t *cp, size_t len, void *arg) {
  rec *r = arg;
  r->absent = cp == NULL;
  r->len = len;
  if (cp)
    snprintf(r->value, sizeof(r->value), "%.*s", (int)len, (const char *)cp);
  note(r, st);
}

static void on_open(logstate_status st, logstate_async_write *w, void *arg) {
  ((rec *)arg)->w = w;
  note(arg, st);
}

static void on_logs(logstate_status st, const char *const *ids, size_t n, void *arg) {
  rec *r = arg;
  r->n = n;
  if (n)
    snprintf(r->first, sizeof(r->first), "%s", ids[0]);
  for (size_t i = 1; i < n; i++)
    if (strcmp(ids[i - 1], ids[i]) >= 0)
      fail_msg("logs not sorted and unique: %s before %s", ids[i - 1], ids[i]);
  note(r, st);
}

#define SUBMIT(expr, want)                                                                                             \
  do {                                                                                                                 \
    in_submit = 1;                                                                                                     \
    logstate_status s_ = (expr);                                                                                       \
    in_submit = 0;                                                                                                     \
    assert_status(s_, want);                                                                                           \
  } while (0)

/* Waits for one callback and checks its status. */
static void await(rec *r, logstate_status want) {
  run_until(&r->calls, 1, 30);
  assert_int_equal(r->calls, 1);
  if (r->st != want)
    fail_msg("callback got %s, expected %s (%s)", logstate_status_name(r->st), logstate_status_name(want), r->msg);
}

/* With `query` (may be NULL) added to the store's URL. */
static logstate_async *open_handle_with(unsigned int store, const char *query) {
  char url[1024];
  logstate_async *a = NULL;
  url_of(store, url, sizeof(url));
  if (query)
    snprintf(url + strlen(url), sizeof(url) - strlen(url), "%s%s", strchr(url, '?') ? "&" : "?", query);
  assert_status(logstate_async_open(&a, evb, url, NULL), LOGSTATE_OK);
  rec r = {0};
  SUBMIT(logstate_async_init(a, on_done, &r), LOGSTATE_OK);
  await(&r, LOGSTATE_OK);
  return a;
}

static logstate_async *open_handle(unsigned int store) { return open_handle_with(store, NULL); }

static void on_history(logstate_status st, const logstate_history_entry *e, size_t n, void *arg) {
  rec *r = arg;
  r->n = n;
  r->len = 0;
  for (size_t i = 0; i < n; i++) /* versions, newest first, as "4,3,2," */
    r->len += (size_t)snprintf(r->value + r->len, sizeof(r->value) - r->len, "%llu,", (unsigned long long)e[i].version);
  if (n && e[0].client_name)
    snprintf(r->first, sizeof(r->first), "%s", e[0].client_name);
  note(r, st);
}

static void expect_async_value(logstate_async *a, const char *id, const char *want) {
  rec r = {0};
  SUBMIT(logstate_async_get_latest(a, id, on_get, &r), LOGSTATE_OK);
  await(&r, want ? LOGSTATE_OK : LOGSTATE_NOT_FOUND);
  if (want)
    assert_string_equal(r.value, want);
  else
    assert_true(r.absent);
}

static logstate_async_write *open_write(logstate_async *a, const char *id) {
  rec r = {0};
  SUBMIT(logstate_async_write_ops(a, id, on_open, &r), LOGSTATE_OK);
  await(&r, LOGSTATE_OK);
  assert_non_null(r.w);
  return r.w;
}

static void set_and_close(logstate_async_write *w, const char *cp, logstate_status want) {
  rec r = {0};
  SUBMIT(logstate_async_write_set(w, (const uint8_t *)cp, strlen(cp), on_done, &r), LOGSTATE_OK);
  await(&r, want);
  assert_status(logstate_async_write_close(w), LOGSTATE_OK);
}

/* --- cases -------------------------------------------------------------- */

static void test_async_read_write(void **state) {
  (void)state;
  logstate_async *a = open_handle(next_store++);
  uint8_t *cp = NULL;
  size_t len = 9;
  expect_async_value(a, "log", NULL);
  logstate_async_write *w = open_write(a, "log");
  assert_status(logstate_async_write_get_latest(w, &cp, &len), LOGSTATE_NOT_FOUND);
  assert_null(cp);
  set_and_close(w, "v1", LOGSTATE_OK);
  expect_async_value(a, "log", "v1");
  w = open_write(a, "log");
  assert_status(logstate_async_write_get_latest(w, &cp, &len), LOGSTATE_OK);
  assert_int_equal(len, 2);
  assert_memory_equal(cp, "v1", 2);
  free(cp); /* a copy, as every get_latest returns */
  set_and_close(w, "v2", LOGSTATE_OK);
  expect_async_value(a, "log", "v2");
  assert_status(logstate_async_write_close(open_write(a, "never-set")), LOGSTATE_OK);
  rec l = {0};
  SUBMIT(logstate_async_logs(a, on_logs, &l), LOGSTATE_OK);
  await(&l, LOGSTATE_OK);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.first, "log");
  logstate_async_free(a);
}

/* Two transactions of one handle on one log, both opened before either
 * sets: the first set wins, the second is ABORTED and stores nothing. */
static void test_async_two_writers(void **state) {
  (void)state;
  logstate_async *a = open_handle(next_store++);
  for (int round = 0; round < 2; round++) { /* absent, then present */
    logstate_async_write *w1 = open_write(a, "log"), *w2 = open_write(a, "log");
    rec r1 = {0}, r2 = {0};
    SUBMIT(logstate_async_write_set(w1, (const uint8_t *)"winner", 6, on_done, &r1), LOGSTATE_OK);
    SUBMIT(logstate_async_write_set(w2, (const uint8_t *)"loser", 5, on_done, &r2), LOGSTATE_OK);
    SUBMIT(logstate_async_write_set(w2, (const uint8_t *)"again", 5, on_done, &r2), LOGSTATE_FAILED_PRECONDITION);
    await(&r1, LOGSTATE_OK);
    await(&r2, LOGSTATE_ABORTED);
    assert_status(logstate_async_write_close(w1), LOGSTATE_OK);
    assert_status(logstate_async_write_close(w2), LOGSTATE_OK);
    expect_async_value(a, "log", "winner");
  }
  logstate_async_free(a);
}

typedef struct fn_arg {
  logstate_status ret;
  const char *next; /* NULL: no change */
  size_t next_len;
  int calls;
} fn_arg;

static logstate_status fn_fixed(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len,
                                void *arg) {
  (void)cur, (void)cur_len;
  fn_arg *f = arg;
  f->calls++;
  if (f->next) {
    *out_next = malloc(f->next_len + 1);
    memcpy(*out_next, f->next, f->next_len);
    *out_next_len = f->next_len;
  }
  return f->ret;
}

static void update(logstate_async *a, const char *id, fn_arg *f, logstate_status want) {
  rec r = {0};
  SUBMIT(logstate_async_update(a, id, fn_fixed, f, on_done, &r), LOGSTATE_OK);
  await(&r, want);
}

static void test_async_update_semantics(void **state) {
  (void)state;
  logstate_async *a = open_handle(next_store++);
  fn_arg first = {LOGSTATE_OK, "first", 5, 0};
  update(a, "log", &first, LOGSTATE_OK);
  expect_async_value(a, "log", "first");
  const logstate_status passed[] = {LOGSTATE_NOT_FOUND, LOGSTATE_ABORTED, LOGSTATE_PERMISSION_DENIED,
                                    (logstate_status)77};
  for (size_t i = 0; i < sizeof(passed) / sizeof(passed[0]); i++) {
    fn_arg f = {passed[i], "must not be stored", 18, 0};
    update(a, "log", &f, passed[i]);
    assert_int_equal(f.calls, 1); /* fn's own status is not retried */
  }
  fn_arg none = {LOGSTATE_OK, NULL, 0, 0}, empty = {LOGSTATE_OK, "", 0, 0};
  update(a, "log", &none, LOGSTATE_OK);
  update(a, "absent", &none, LOGSTATE_OK);
  update(a, "log", &empty, LOGSTATE_INVALID_ARGUMENT);
  size_t big = LOGSTATE_DEFAULT_MAX_CHECKPOINT_LEN + 1;
  char *huge = malloc(big);
  assert_non_null(huge);
  memset(huge, 'x', big);
  fn_arg over = {LOGSTATE_OK, huge, big, 0};
  update(a, "log", &over, LOGSTATE_INVALID_ARGUMENT);
  free(huge);
  expect_async_value(a, "log", "first");
  expect_async_value(a, "absent", NULL);
  logstate_async_free(a);
}

typedef struct saw_arg {
  const char *next; /* NULL: no change */
  char saw[64];
  int calls;
} saw_arg;

static logstate_status fn_saw(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len, void *arg) {
  saw_arg *f = arg;
  f->calls++;
  snprintf(f->saw, sizeof(f->saw), "%.*s", cur ? (int)cur_len : 0, cur ? (const char *)cur : "");
  if (f->next) {
    *out_next = (uint8_t *)strdup(f->next);
    *out_next_len = strlen(f->next);
  }
  return LOGSTATE_OK;
}

static void update_saw(logstate_async *a, saw_arg *f) {
  rec r = {0};
  SUBMIT(logstate_async_update(a, "log", fn_saw, f, on_done, &r), LOGSTATE_OK);
  await(&r, LOGSTATE_OK);
}

/* An update decided without a set is decided on the current state, never
 * on one the handle knew before another writer moved the log on; a set on a
 * stale state loses and is redone on the current one. */
static void test_async_decides_on_current_state(void **state) {
  (void)state;
  if (!target->shares_store) {
    skip();
    return;
  }
  unsigned int store = next_store++;
  logstate_async *a = open_handle(store);
  char url[1024];
  logstate *other = NULL;
  url_of(store, url, sizeof(url));
  assert_status(logstate_open(&other, url), LOGSTATE_OK);
  saw_arg x = {"X", "", 0};
  update_saw(a, &x); /* the handle knows "X" now */
  assert_status(test_put(other, "log", "Y"), LOGSTATE_OK);
  saw_arg none = {NULL, "", 0};
  update_saw(a, &none);
  assert_string_equal(none.saw, "Y");
  assert_status(test_put(other, "log", "W"), LOGSTATE_OK);
  saw_arg v = {"V", "", 0};
  update_saw(a, &v);
  assert_string_equal(v.saw, "W");
  char buf[16];
  assert_status(test_get(other, "log", buf, sizeof(buf)), LOGSTATE_OK);
  assert_string_equal(buf, "V");
  logstate_free(other);
  logstate_async_free(a);
}

static void test_async_bad_arguments(void **state) {
  (void)state;
  logstate_async *a = open_handle(next_store++);
  rec r = {0};
  char too_long[LOGSTATE_MAX_LOG_ID_LEN + 2];
  memset(too_long, 'L', sizeof(too_long) - 1);
  too_long[sizeof(too_long) - 1] = '\0';
  const char *bad[] = {"", too_long, NULL};
  for (size_t i = 0; i < 3; i++) {
    SUBMIT(logstate_async_get_latest(a, bad[i], on_get, &r), LOGSTATE_INVALID_ARGUMENT);
    SUBMIT(logstate_async_write_ops(a, bad[i], on_open, &r), LOGSTATE_INVALID_ARGUMENT);
    SUBMIT(logstate_async_update(a, bad[i], fn_fixed, NULL, on_done, &r), LOGSTATE_INVALID_ARGUMENT);
  }
  SUBMIT(logstate_async_update(a, "x", NULL, NULL, on_done, &r), LOGSTATE_INVALID_ARGUMENT);
  SUBMIT(logstate_async_get_latest(a, "x", NULL, &r), LOGSTATE_INVALID_ARGUMENT);
  SUBMIT(logstate_async_init(NULL, on_done, &r), LOGSTATE_INVALID_ARGUMENT);
  logstate_async_write *w = open_write(a, "log");
  SUBMIT(logstate_async_write_set(w, (const uint8_t *)"", 0, on_done, &r), LOGSTATE_INVALID_ARGUMENT);
  SUBMIT(logstate_async_write_set(w, NULL, 3, on_done, &r), LOGSTATE_INVALID_ARGUMENT);
  SUBMIT(logstate_async_write_set(w, (const uint8_t *)"ok", 2, NULL, &r), LOGSTATE_INVALID_ARGUMENT);
  set_and_close(w, "ok", LOGSTATE_OK); /* a refused set leaves the transaction usable */
  event_base_loop(evb, EVLOOP_NONBLOCK);
  assert_int_equal(r.calls, 0);
  expect_async_value(a, "log", "ok");
  logstate_async_free(a);
}

/* Freeing the handle finishes everything pending, once, inside the free;
 * an open write object still closes. */
static void test_async_free_with_pending(void **state) {
  (void)state;
  enum { N = 50 };
  logstate_async *a = open_handle(next_store++);
  logstate_async_write *w = open_write(a, "log");
  rec r[N];
  memset(r, 0, sizeof(r));
  fn_arg f = {LOGSTATE_OK, "v", 1, 0};
  for (int i = 0; i < N; i++) {
    if (i % 2)
      SUBMIT(logstate_async_update(a, "log", fn_fixed, &f, on_done, &r[i]), LOGSTATE_OK);
    else
      SUBMIT(logstate_async_get_latest(a, "log", on_get, &r[i]), LOGSTATE_OK);
  }
  logstate_async_free(a);
  for (int i = 0; i < N; i++) {
    assert_int_equal(r[i].calls, 1);
    assert_status(r[i].st, LOGSTATE_UNAVAILABLE);
  }
  uint8_t *cp;
  size_t len;
  assert_status(logstate_async_write_get_latest(w, &cp, &len), LOGSTATE_FAILED_PRECONDITION);
  assert_null(cp);
  assert_status(logstate_async_write_close(w), LOGSTATE_OK);
  for (int i = 0; i < 5; i++)
    event_base_loop(evb, EVLOOP_NONBLOCK);
  for (int i = 0; i < N; i++)
    assert_int_equal(r[i].calls, 1);
}

/* --- no lost update ----------------------------------------------------- */

#define COUNTER "conformance.example/async-counter"

/* Keeps up to `depth` updates of one handle in flight until `target` of
 * them succeeded. An update that gave up after every attempt (ABORTED) was
 * not acknowledged and is submitted again. */
typedef struct pump {
  logstate_async *a;
  logstate_async_done_cb done_cb; /* NULL: on_pumped */
  unsigned int depth, target, in_flight, ok, gave_up;
  unsigned long attempts; /* calls of the update function */
  logstate_status failed;
  char msg[256];
} pump;

static int pumps_done;

static logstate_status fn_counted(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len,
                                  void *arg) {
  ((pump *)arg)->attempts++;
  return test_fn_increment(cur, cur_len, out_next, out_next_len, COUNTER);
}

static void pump_fill(pump *p);

static void on_pumped(logstate_status st, void *arg) {
  pump *p = arg;
  p->in_flight--;
  if (st == LOGSTATE_OK) {
    p->ok++;
  } else if (st == LOGSTATE_ABORTED) {
    p->gave_up++;
  } else if (p->failed == LOGSTATE_OK) {
    p->failed = st;
    snprintf(p->msg, sizeof(p->msg), "%s", logstate_last_error());
  }
  pump_fill(p);
}

static void pump_fill(pump *p) {
  while (p->failed == LOGSTATE_OK && p->in_flight < p->depth && p->ok + p->in_flight < p->target) {
    p->in_flight++;
    in_submit = 1;
    logstate_status st = logstate_async_update(p->a, COUNTER, fn_counted, p, p->done_cb ? p->done_cb : on_pumped, p);
    in_submit = 0;
    if (st != LOGSTATE_OK) {
      p->in_flight--;
      p->failed = st;
      snprintf(p->msg, sizeof(p->msg), "submit: %s", logstate_last_error());
    }
  }
  if (p->in_flight == 0 && (p->ok == p->target || p->failed != LOGSTATE_OK))
    pumps_done++;
}

/* A sync handle on the store, kept open through a test: a named memory
 * store lives only while a handle is open. */
static logstate *sync_handle(unsigned int store) {
  char url[1024];
  logstate *ls = NULL;
  url_of(store, url, sizeof(url));
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  return ls;
}

static void test_async_no_lost_updates(void **state) {
  (void)state;
  unsigned int store = next_store++;
  unsigned int handles = target->shares_store ? (target->handles ? target->handles : 3) : 1;
  pump *p = calloc(handles, sizeof(*p));
  assert_non_null(p);
  logstate *ls = sync_handle(store);
  pumps_done = 0;
  for (unsigned int i = 0; i < handles; i++) {
    p[i].a = open_handle(store);
    p[i].depth = target->in_flight ? target->in_flight : 64;
    p[i].target = target->updates ? target->updates : 300;
  }
  for (unsigned int i = 0; i < handles; i++)
    pump_fill(&p[i]);
  run_until(&pumps_done, (int)handles, 120);
  unsigned long ok = 0, gave_up = 0;
  for (unsigned int i = 0; i < handles; i++) {
    if (p[i].failed != LOGSTATE_OK)
      fail_msg("handle %u: update returned %s: %s", i, logstate_status_name(p[i].failed), p[i].msg);
    ok += p[i].ok;
    gave_up += p[i].gave_up;
    logstate_async_free(p[i].a);
  }
  assert_int_equal(ok, (unsigned long)handles * p[0].target);
  assert_int_equal(test_counter_of(ls, COUNTER), ok);
  logstate_free(ls);
  if (gave_up)
    print_message("(%lu async updates gave up after every attempt lost a race, and were resubmitted)\n", gave_up);
  free(p);
}

/* One handle never races itself: its updates on one log queue up. A sync
 * writer on another handle makes them retry, but none gives up. The writer
 * updates once for every SYNC_EVERY async successes, so that it interleaves
 * with them on any backend (a free-running one could starve an async
 * update on the memory backend, or a SQLite connection in its busy wait). */
#define SYNC_EVERY 5

typedef struct sync_writer {
  pthread_t thread;
  logstate *ls;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  unsigned int async_ok; /* published by the loop */
  int stop;
  unsigned long ok;
  logstate_status failed;
  char msg[256];
} sync_writer;

static sync_writer *writer;

static void *sync_writer_main(void *arg) {
  sync_writer *s = arg;
  unsigned int mark = SYNC_EVERY;
  for (;;) {
    pthread_mutex_lock(&s->mu);
    while (!s->stop && s->async_ok < mark)
      pthread_cond_wait(&s->cv, &s->mu);
    int stop = s->stop;
    pthread_mutex_unlock(&s->mu);
    if (stop)
      break;
    mark += SYNC_EVERY;
    logstate_status st = logstate_update(s->ls, COUNTER, test_fn_increment, COUNTER);
    if (st == LOGSTATE_OK) {
      s->ok++;
    } else if (st != LOGSTATE_ABORTED) {
      s->failed = st;
      snprintf(s->msg, sizeof(s->msg), "%s", logstate_last_error());
      break;
    }
  }
  return NULL;
}

static void on_self_race(logstate_status st, void *arg) {
  on_pumped(st, arg);
  pthread_mutex_lock(&writer->mu);
  writer->async_ok = ((pump *)arg)->ok;
  pthread_cond_signal(&writer->cv);
  pthread_mutex_unlock(&writer->mu);
}

static void test_async_never_races_itself(void **state) {
  (void)state;
  unsigned int store = next_store++;
  sync_writer s = {.ls = sync_handle(store)};
  pump p = {.a = open_handle(store), .depth = 128, .target = target->self_race ? target->self_race : 3000};
  pthread_mutex_init(&s.mu, NULL);
  pthread_cond_init(&s.cv, NULL);
  writer = &s;
  p.done_cb = on_self_race;
  if (target->shares_store)
    assert_int_equal(pthread_create(&s.thread, NULL, sync_writer_main, &s), 0);
  pumps_done = 0;
  pump_fill(&p);
  run_until(&pumps_done, 1, 300);
  if (target->shares_store) {
    pthread_mutex_lock(&s.mu);
    s.stop = 1;
    pthread_cond_signal(&s.cv);
    pthread_mutex_unlock(&s.mu);
    pthread_join(s.thread, NULL);
    if (s.failed != LOGSTATE_OK)
      fail_msg("the sync writer failed: %s: %s", logstate_status_name(s.failed), s.msg);
  }
  if (p.failed != LOGSTATE_OK)
    fail_msg("an async update returned %s: %s", logstate_status_name(p.failed), p.msg);
  assert_int_equal(p.gave_up, 0); /* every async update OK the first time */
  assert_int_equal(p.ok, p.target);
  assert_int_equal(test_counter_of(s.ls, COUNTER), p.ok + s.ok);
  /* One async attempt in flight on the log at a time: each sync write can
   * spoil at most one, so more retries than sync writes means a self-race. */
  assert_true(p.attempts - p.ok <= s.ok);
  print_message("(%u async updates with 128 in flight, %lu retried after a sync writer won, and %lu sync updates "
                "on one log)\n",
                p.ok, p.attempts - p.ok, s.ok);
  logstate_async_free(p.a);
  logstate_free(s.ls);
  pthread_cond_destroy(&s.cv);
  pthread_mutex_destroy(&s.mu);
}

static int group_setup(void **state) {
  (void)state;
  return (evb = event_base_new()) ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  event_base_free(evb);
  evb = NULL;
  return 0;
}

/* History through the async API: the K newest, newest first, with the
 * writer's client_name; max checked at submit. */
static void test_async_history(void **state) {
  (void)state;
  logstate_async *a = open_handle_with(next_store++, "history=3&client_name=async-w");
  for (int i = 0; i < 4; i++) {
    rec r = {0};
    SUBMIT(logstate_async_update(a, "log", test_fn_increment, NULL, on_done, &r), LOGSTATE_OK);
    await(&r, LOGSTATE_OK);
  }
  rec h = {0};
  SUBMIT(logstate_async_history(a, "log", 10, on_history, &h), LOGSTATE_OK);
  await(&h, LOGSTATE_OK);
  assert_int_equal(h.n, 3);
  assert_string_equal(h.value, "4,3,2,");
  assert_string_equal(h.first, "async-w");
  rec none = {0};
  SUBMIT(logstate_async_history(a, "never-set", 1, on_history, &none), LOGSTATE_OK);
  await(&none, LOGSTATE_OK);
  assert_int_equal(none.n, 0);
  SUBMIT(logstate_async_history(a, "log", 0, on_history, &h), LOGSTATE_INVALID_ARGUMENT);
  SUBMIT(logstate_async_history(a, "log", LOGSTATE_MAX_HISTORY + 1, on_history, &h), LOGSTATE_INVALID_ARGUMENT);
  SUBMIT(logstate_async_history(a, "", 1, on_history, &h), LOGSTATE_INVALID_ARGUMENT);
  SUBMIT(logstate_async_history(a, "log", 1, NULL, &h), LOGSTATE_INVALID_ARGUMENT);
  logstate_async_free(a);
}

int logstate_conformance_async_run(const logstate_conformance_async_target *t) {
  static const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_async_read_write),       cmocka_unit_test(test_async_two_writers),
      cmocka_unit_test(test_async_update_semantics), cmocka_unit_test(test_async_decides_on_current_state),
      cmocka_unit_test(test_async_bad_arguments),    cmocka_unit_test(test_async_free_with_pending),
      cmocka_unit_test(test_async_no_lost_updates),  cmocka_unit_test(test_async_never_races_itself),
      cmocka_unit_test(test_async_history),
  };
  char name[128];
  target = t;
  snprintf(name, sizeof(name), "conformance-async/%s", t->name ? t->name : "backend");
  return _cmocka_run_group_tests(name, tests, sizeof(tests) / sizeof(tests[0]), group_setup, group_teardown);
}

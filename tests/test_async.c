/* SPDX-License-Identifier: Apache-2.0 */
/* The async API on a real libevent loop against throwaway redis-servers:
 * many operations in flight, races with the sync API, the server killed or
 * stopped with operations in flight, freeing with operations pending and
 * from inside a callback. Every callback must run exactly once. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <event2/event.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logstate/async.h"
#include "logstate/logstate.h"
#include "redis_server.h"

#include "test_util.h"

static test_redis server;
static struct event_base *evb;
static unsigned int prefix_no;
static char prefix[32];
static char url[256];

/* Runs the loop until *count reaches target, failing the test after
 * `seconds` (a bound, not a sleep: it returns as soon as the count is met). */
static void run_until(const int *count, int target, double seconds) {
  double deadline = test_now_s() + seconds;
  while (*count < target) {
    if (test_now_s() > deadline)
      fail_msg("timed out waiting: %d of %d callbacks", *count, target);
    struct timeval tick = {0, 50000};
    event_base_loopexit(evb, &tick); /* wake up to check the deadline */
    event_base_loop(evb, EVLOOP_ONCE);
  }
}

static const char *make_url(const test_redis *s, const char *query) {
  snprintf(prefix, sizeof(prefix), "a%u", ++prefix_no);
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=%s%s%s", s->port, prefix, query ? "&" : "",
           query ? query : "");
  return url;
}

typedef struct done_rec {
  int calls;
  logstate_status st;
} done_rec;

static void on_done(logstate_status st, void *arg) {
  done_rec *d = arg;
  d->calls++;
  d->st = st;
}

static logstate_async *open_async(const test_redis *s, const char *query, const logstate_options *opts) {
  logstate_async *a = NULL;
  assert_status(logstate_async_open(&a, evb, make_url(s, query), opts), LOGSTATE_OK);
  done_rec d = {0};
  assert_status(logstate_async_init(a, on_done, &d), LOGSTATE_OK);
  assert_int_equal(d.calls, 0); /* never from inside the submit */
  run_until(&d.calls, 1, 10);
  assert_status(d.st, LOGSTATE_OK);
  return a;
}

/* The sync view of the same store, to check what was stored. */
static logstate_status sync_get(const char *u, const char *id, char *buf, size_t bufsz) {
  logstate *ls = NULL;
  logstate_read *r = NULL;
  uint8_t *cp = NULL;
  size_t len = 0;
  logstate_status st = logstate_open(&ls, u);
  if (st == LOGSTATE_OK)
    st = logstate_read_ops(ls, id, &r);
  if (st == LOGSTATE_OK)
    st = logstate_read_get_latest(r, &cp, &len);
  if (st == LOGSTATE_OK)
    snprintf(buf, bufsz, "%.*s", (int)len, (const char *)cp);
  free(cp);
  logstate_read_free(r);
  logstate_free(ls);
  return st;
}

/* fn: writes the string in arg. */
static logstate_status fn_write(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len,
                                void *arg) {
  (void)cur, (void)cur_len;
  *out_next = (uint8_t *)strdup(arg);
  *out_next_len = strlen(arg);
  return LOGSTATE_OK;
}

static unsigned long counter_of(const char *u, const char *id) {
  char buf[128];
  assert_status(sync_get(u, id, buf, sizeof(buf)), LOGSTATE_OK);
  return test_counter_parse((const uint8_t *)buf, strlen(buf));
}

/* --- many in flight ----------------------------------------------------- */

typedef struct slot {
  int calls;
  logstate_status st;
  char value[32];
} slot;

static int total_calls;

static void on_slot(logstate_status st, void *arg) {
  slot *s = arg;
  s->calls++;
  s->st = st;
  total_calls++;
}

static void test_thousand_in_flight(void **state) {
  (void)state;
  enum { N = 1000 };
  logstate_async *a = open_async(&server, NULL, NULL);
  slot *slots = calloc(N, sizeof(*slots));
  char id[32];
  total_calls = 0;
  for (int i = 0; i < N; i++) {
    snprintf(id, sizeof(id), "log-%d", i);
    snprintf(slots[i].value, sizeof(slots[i].value), "value-%d", i);
    assert_status(logstate_async_update(a, id, fn_write, slots[i].value, on_slot, &slots[i]), LOGSTATE_OK);
  }
  run_until(&total_calls, N, 60);
  for (int i = 0; i < N; i++) {
    assert_int_equal(slots[i].calls, 1);
    assert_status(slots[i].st, LOGSTATE_OK);
  }
  char buf[64];
  for (int i = 0; i < N; i += 97) {
    snprintf(id, sizeof(id), "log-%d", i);
    assert_status(sync_get(url, id, buf, sizeof(buf)), LOGSTATE_OK);
    assert_string_equal(buf, slots[i].value);
  }
  logstate_stats st;
  assert_status(logstate_async_get_stats(a, &st), LOGSTATE_OK);
  assert_int_equal(st.connects, 1); /* one pipelined connection */
  free(slots);
  logstate_async_free(a);
}

/* --- two async handles and a sync one race on one counter -------------- */

#define RACE_LOG "counter.example/race"

typedef struct racer {
  logstate_async *a;
  int in_flight, acked, gave_up, failed, target;
} racer;

static void submit_increment(racer *r);

static void on_race(logstate_status st, void *arg) {
  racer *r = arg;
  r->in_flight--;
  if (st == LOGSTATE_OK)
    r->acked++;
  else if (st == LOGSTATE_ABORTED)
    r->gave_up++; /* not acknowledged: try again */
  else
    r->failed++;
  if (r->acked + r->in_flight < r->target && !r->failed)
    submit_increment(r);
}

static void submit_increment(racer *r) {
  if (logstate_async_update(r->a, RACE_LOG, test_fn_increment, NULL, on_race, r) == LOGSTATE_OK)
    r->in_flight++;
  else
    r->failed++;
}

typedef struct sync_racer {
  char url[256];
  int acked, failed;
} sync_racer;

static void *sync_race(void *p) {
  sync_racer *s = p;
  logstate *ls = NULL;
  logstate_options o = LOGSTATE_OPTIONS_INIT;
  o.update_attempts = 1000;
  if (logstate_open_ext(&ls, s->url, &o) != LOGSTATE_OK) {
    s->failed++;
    return NULL;
  }
  while (s->acked < 200 && !s->failed) {
    logstate_status st = logstate_update(ls, RACE_LOG, test_fn_increment, NULL);
    if (st == LOGSTATE_OK)
      s->acked++;
    else if (st != LOGSTATE_ABORTED)
      s->failed++;
  }
  logstate_free(ls);
  return NULL;
}

static void test_race_with_sync(void **state) {
  (void)state;
  logstate_options o = LOGSTATE_OPTIONS_INIT;
  o.update_attempts = 1000;
  logstate_async *a1 = open_async(&server, NULL, &o);
  char shared[256];
  snprintf(shared, sizeof(shared), "%s", url);
  logstate_async *a2 = NULL;
  assert_status(logstate_async_open(&a2, evb, shared, &o), LOGSTATE_OK);
  racer r1 = {a1, 0, 0, 0, 0, 200}, r2 = {a2, 0, 0, 0, 0, 200};
  sync_racer s = {{0}, 0, 0};
  snprintf(s.url, sizeof(s.url), "%s", shared);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, sync_race, &s), 0);
  for (int i = 0; i < 8; i++) { /* 8 in flight on each async handle */
    submit_increment(&r1);
    submit_increment(&r2);
  }
  int done = 0;
  double deadline = test_now_s() + 120;
  while (!done) {
    assert_true(test_now_s() < deadline);
    struct timeval tick = {0, 50000};
    event_base_loopexit(evb, &tick);
    event_base_loop(evb, EVLOOP_ONCE);
    done = r1.in_flight == 0 && r2.in_flight == 0;
  }
  pthread_join(t, NULL);
  assert_int_equal(r1.failed + r2.failed + s.failed, 0);
  unsigned long acked = (unsigned long)(r1.acked + r2.acked + s.acked);
  assert_int_equal(acked, 600);
  assert_int_equal(counter_of(shared, RACE_LOG), acked);
  logstate_async_free(a1);
  logstate_async_free(a2);
}

/* --- one handle never races itself ------------------------------------- */

#if defined(__SANITIZE_THREAD__)
#define NO_FORK 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NO_FORK 1
#endif
#endif

#define SELF_LOG "counter.example/self"

typedef struct self_pump {
  logstate_async *a;
  int in_flight, ok, gave_up, failed, target, done;
  int token_fd;  /* one byte to the sync process per SYNC_EVERY async successes */
  char msg[256]; /* the first failure's */
} self_pump;

#define SYNC_EVERY 5

static void self_fill(self_pump *p);

static void on_self(logstate_status st, void *arg) {
  self_pump *p = arg;
  p->in_flight--;
  p->ok += st == LOGSTATE_OK;
  p->gave_up += st == LOGSTATE_ABORTED;
  if (st != LOGSTATE_OK && st != LOGSTATE_ABORTED && p->failed++ == 0)
    snprintf(p->msg, sizeof(p->msg), "%s: %s", logstate_status_name(st), logstate_last_error());
  if (st == LOGSTATE_OK && p->ok % SYNC_EVERY == 0 && write(p->token_fd, "u", 1) != 1)
    p->failed++;
  self_fill(p);
}

static void self_fill(self_pump *p) {
  while (p->in_flight < 128 && p->ok + p->gave_up + p->failed + p->in_flight < p->target) {
    if (logstate_async_update(p->a, SELF_LOG, test_fn_increment, NULL, on_self, p) != LOGSTATE_OK) {
      p->failed++;
      break;
    }
    p->in_flight++;
  }
  p->done = p->in_flight == 0;
}

/* The sync process of the test below: one update of SELF_LOG per byte the
 * parent sends, until the parent closes the pipe; then it writes its count.
 * (Paced by the async side's progress: a writer that sets in every Redis
 * event-loop iteration can starve any compare-and-set writer, fair or not.) */
static int sync_writer_main(const char *u, int token_fd, int result_fd) {
  logstate *ls = NULL;
  long ok = 0;
  char c;
  if (logstate_open(&ls, u) != LOGSTATE_OK)
    return 1;
  while (read(token_fd, &c, 1) == 1) {
    logstate_status st = logstate_update(ls, SELF_LOG, test_fn_increment, NULL);
    if (st == LOGSTATE_OK)
      ok++;
    else if (st != LOGSTATE_ABORTED)
      return 2;
  }
  logstate_free(ls);
  return write(result_fd, &ok, sizeof(ok)) == sizeof(ok) ? 0 : 3;
}

static int under_valgrind; /* --under-valgrind: the loop is too slow for a fair race */

/* 3000 updates of one async handle, 128 in flight, on one log, while a
 * sync process updates the same log (once per 5 async successes): every
 * async update succeeds with the default attempts, and the counter is
 * exactly the sum. The handle's updates wait in its queue for that log
 * rather than race each other, so only the sync process can make one retry,
 * and each sync write can spoil at most the one async attempt in flight:
 * conflicts <= sync writes. */
static void test_self_race_with_sync_process(void **state) {
  (void)state;
#ifdef NO_FORK
  skip();
#else
  if (under_valgrind) {
    skip();
    return;
  }
  logstate_async *a = open_async(&server, NULL, NULL);
  int stop[2], result[2];
  assert_int_equal(pipe(stop), 0);
  assert_int_equal(pipe(result), 0);
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) { /* the sync writer: this program again, a new process image */
    char sfd[16], rfd[16];
    snprintf(sfd, sizeof(sfd), "%d", stop[0]);
    snprintf(rfd, sizeof(rfd), "%d", result[1]);
    close(stop[1]);
    close(result[0]);
    execl("/proc/self/exe", "test_async", "--sync-writer", url, sfd, rfd, (char *)NULL);
    _exit(127);
  }
  close(stop[0]);
  close(result[1]);
  self_pump p = {.a = a, .target = 3000, .token_fd = stop[1]};
  self_fill(&p);
  run_until(&p.done, 1, 120);
  close(stop[1]);
  long sync_ok = -1;
  int status = 0;
  assert_int_equal(read(result[0], &sync_ok, sizeof(sync_ok)), sizeof(sync_ok));
  close(result[0]);
  assert_int_equal(waitpid(child, &status, 0), child);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  if (p.failed)
    fail_msg("%d async updates failed; the first: %s", p.failed, p.msg);
  assert_int_equal(p.gave_up, 0);
  assert_int_equal(p.ok, 3000);
  assert_int_equal(counter_of(url, SELF_LOG), (unsigned long)(p.ok + sync_ok));
  logstate_stats st;
  assert_status(logstate_async_get_stats(a, &st), LOGSTATE_OK);
  print_message("(3000 async updates all OK, %lu retried after the sync process won; %ld sync updates)\n",
                (unsigned long)st.conflicts, sync_ok);
  assert_true(st.conflicts <= (uint64_t)sync_ok);
  logstate_async_free(a);
#endif
}

/* --- the server killed with operations in flight ------------------------ */

typedef struct kill_ctx {
  slot *slots;
  int ok;
  test_redis *own;
  logstate_async *a;
} kill_ctx;

static kill_ctx *killing;

static void on_kill_slot(logstate_status st, void *arg) {
  on_slot(st, arg);
  if (st == LOGSTATE_OK && ++killing->ok == 30) {
    /* From inside a callback, mid-flight. A slow client may find every
     * earlier reply already in its socket buffer (all stored, all OK), so
     * 100 more updates go onto the dead connection: those cannot succeed. */
    test_redis_kill9(killing->own);
    char id[32];
    for (int i = 300; i < 400; i++) {
      snprintf(id, sizeof(id), "k-%d", i);
      snprintf(killing->slots[i].value, sizeof(killing->slots[i].value), "acked-%d", i);
      if (logstate_async_update(killing->a, id, fn_write, killing->slots[i].value, on_slot, &killing->slots[i]) !=
          LOGSTATE_OK)
        killing->slots[i].calls = -100; /* fails the exactly-once check below */
    }
  }
}

static void test_server_killed_in_flight(void **state) {
  (void)state;
  enum { N = 400, FIRST = 300 };
  test_redis own;
  assert_int_equal(test_redis_start(&own, NULL), 0);
  logstate_async *a = open_async(&own, "timeout_ms=5000", NULL);
  char u[256];
  snprintf(u, sizeof(u), "%s", url);
  slot *slots = calloc(N, sizeof(*slots));
  kill_ctx k = {slots, 0, &own, a};
  killing = &k;
  char id[32];
  total_calls = 0;
  for (int i = 0; i < FIRST; i++) {
    snprintf(id, sizeof(id), "k-%d", i);
    snprintf(slots[i].value, sizeof(slots[i].value), "acked-%d", i);
    assert_status(logstate_async_update(a, id, fn_write, slots[i].value, on_kill_slot, &slots[i]), LOGSTATE_OK);
  }
  run_until(&total_calls, N, 30);
  int unavailable = 0;
  for (int i = 0; i < N; i++) {
    assert_int_equal(slots[i].calls, 1); /* every callback exactly once */
    if (slots[i].st != LOGSTATE_OK && slots[i].st != LOGSTATE_UNAVAILABLE)
      fail_msg("op %d: %s", i, logstate_status_name(slots[i].st));
    unavailable += slots[i].st == LOGSTATE_UNAVAILABLE;
  }
  assert_true(unavailable >= N - FIRST);
  for (int i = FIRST; i < N; i++)
    assert_status(slots[i].st, LOGSTATE_UNAVAILABLE);

  /* Nothing acknowledged was lost (appendfsync always survived kill -9). */
  assert_int_equal(test_redis_restart(&own), 0);
  char buf[64];
  for (int i = 0; i < N; i++) {
    if (slots[i].st != LOGSTATE_OK)
      continue;
    snprintf(id, sizeof(id), "k-%d", i);
    assert_status(sync_get(u, id, buf, sizeof(buf)), LOGSTATE_OK);
    assert_string_equal(buf, slots[i].value);
  }

  /* The same handle recovers once it has reconnected. */
  done_rec d = {0};
  double deadline = test_now_s() + 15;
  for (;;) {
    d.calls = 0;
    assert_status(logstate_async_update(a, "after-restart", fn_write, "fine", on_done, &d), LOGSTATE_OK);
    run_until(&d.calls, 1, 10);
    if (d.st == LOGSTATE_OK)
      break;
    assert_status(d.st, LOGSTATE_UNAVAILABLE);
    assert_true(test_now_s() < deadline);
    struct timeval pause = {0, 100000}; /* let the reconnect backoff run */
    event_base_loopexit(evb, &pause);
    event_base_dispatch(evb);
  }
  assert_status(sync_get(u, "after-restart", buf, sizeof(buf)), LOGSTATE_OK);
  assert_string_equal(buf, "fine");
  free(slots);
  logstate_async_free(a);
  test_redis_stop(&own);
}

/* --- freeing ------------------------------------------------------------ */

typedef struct get_rec {
  int calls;
  logstate_status st;
} get_rec;

static void on_get(logstate_status st, const uint8_t *cp, size_t len, void *arg) {
  (void)cp, (void)len;
  get_rec *g = arg;
  g->calls++;
  g->st = st;
  total_calls++;
}

static void on_open(logstate_status st, logstate_async_write *w, void *arg) {
  *(logstate_async_write **)arg = w;
  assert_int_equal(st, LOGSTATE_OK);
  total_calls++;
}

static void test_free_with_pending(void **state) {
  (void)state;
  logstate_async *a = open_async(&server, NULL, NULL);
  logstate_async_write *w = NULL;
  total_calls = 0;
  assert_status(logstate_async_write_ops(a, "log", on_open, &w), LOGSTATE_OK);
  run_until(&total_calls, 1, 10);
  get_rec gets[50] = {{0}};
  slot ups[50] = {{0}};
  for (int i = 0; i < 50; i++) {
    assert_status(logstate_async_get_latest(a, "log", on_get, &gets[i]), LOGSTATE_OK);
    assert_status(logstate_async_update(a, "log", fn_write, "v", on_slot, &ups[i]), LOGSTATE_OK);
  }
  logstate_async_free(a); /* completes all 100 now */
  for (int i = 0; i < 50; i++) {
    assert_int_equal(gets[i].calls, 1);
    assert_status(gets[i].st, LOGSTATE_UNAVAILABLE);
    assert_int_equal(ups[i].calls, 1);
    assert_status(ups[i].st, LOGSTATE_UNAVAILABLE);
  }
  /* The write object outlives the handle, for close only. */
  done_rec d = {0};
  assert_status(logstate_async_write_set(w, (const uint8_t *)"x", 1, on_done, &d), LOGSTATE_FAILED_PRECONDITION);
  assert_status(logstate_async_write_close(w), LOGSTATE_OK);
  event_base_loop(evb, EVLOOP_NONBLOCK); /* nothing left to fire */
  assert_int_equal(d.calls, 0);
}

static logstate_async *to_free;
static get_rec frees[20];

static void on_get_then_free(logstate_status st, const uint8_t *cp, size_t len, void *arg) {
  on_get(st, cp, len, arg);
  if (to_free) {
    logstate_async *a = to_free;
    to_free = NULL;
    logstate_async_free(a);
  }
}

static void test_free_inside_callback(void **state) {
  (void)state;
  logstate_async *a = open_async(&server, NULL, NULL);
  memset(frees, 0, sizeof(frees));
  total_calls = 0;
  to_free = a;
  for (int i = 0; i < 20; i++)
    assert_status(logstate_async_get_latest(a, "log", on_get_then_free, &frees[i]), LOGSTATE_OK);
  run_until(&total_calls, 20, 10);
  int unavailable = 0;
  for (int i = 0; i < 20; i++) {
    assert_int_equal(frees[i].calls, 1);
    unavailable += frees[i].st == LOGSTATE_UNAVAILABLE;
  }
  assert_int_equal(frees[0].st, LOGSTATE_NOT_FOUND); /* the one that freed */
  assert_true(unavailable >= 1);
  /* The loop still runs cleanly afterwards. */
  event_base_loop(evb, EVLOOP_NONBLOCK);
}

/* --- timeouts and fail-fast --------------------------------------------- */

static void test_timeout_under_sigstop(void **state) {
  (void)state;
  test_redis own;
  assert_int_equal(test_redis_start(&own, NULL), 0);
  logstate_async *a = open_async(&own, "timeout_ms=300", NULL);
  get_rec g = {0};
  slot u = {0};
  kill(own.pid, SIGSTOP);
  double t0 = test_now_s();
  total_calls = 0;
  assert_status(logstate_async_get_latest(a, "log", on_get, &g), LOGSTATE_OK);
  assert_status(logstate_async_update(a, "log", fn_write, "v", on_slot, &u), LOGSTATE_OK);
  run_until(&total_calls, 2, 10);
  assert_true(test_now_s() - t0 < 2.0);
  assert_status(g.st, LOGSTATE_UNAVAILABLE);
  assert_status(u.st, LOGSTATE_UNAVAILABLE);
  assert_int_equal(g.calls, 1);
  assert_int_equal(u.calls, 1);
  kill(own.pid, SIGCONT);
  /* Recovers: the stuck connection was dropped and is rebuilt. */
  double deadline = test_now_s() + 10;
  for (;;) {
    g.calls = 0;
    total_calls = 0;
    assert_status(logstate_async_get_latest(a, "log", on_get, &g), LOGSTATE_OK);
    run_until(&total_calls, 1, 10);
    if (g.st != LOGSTATE_UNAVAILABLE)
      break;
    assert_true(test_now_s() < deadline);
    struct timeval pause = {0, 100000};
    event_base_loopexit(evb, &pause);
    event_base_dispatch(evb);
  }
  assert_true(g.st == LOGSTATE_OK || g.st == LOGSTATE_NOT_FOUND);
  logstate_async_free(a);
  test_redis_stop(&own);
}

static void test_fail_fast_when_down(void **state) {
  (void)state;
  test_redis own;
  assert_int_equal(test_redis_start(&own, NULL), 0);
  logstate_async *a = open_async(&own, "timeout_ms=1000", NULL);
  test_redis_stop_keep(&own);
  get_rec g = {0};
  total_calls = 0;
  /* The first request finds the connection gone; later ones fail fast. */
  for (int i = 0; i < 3; i++) {
    g.calls = 0;
    total_calls = 0;
    assert_status(logstate_async_get_latest(a, "log", on_get, &g), LOGSTATE_OK);
    assert_int_equal(g.calls, 0); /* never inside the submit */
    run_until(&total_calls, 1, 5);
    assert_status(g.st, LOGSTATE_UNAVAILABLE);
  }
  logstate_async_free(a);
  test_redis_stop(&own);
}

/* A host name is resolved with evdns, never with a blocking getaddrinfo on
 * the loop: "localhost" comes from /etc/hosts; a name nobody answers for
 * fails within the request's timeout while the loop keeps running. */
static void test_host_names(void **state) {
  (void)state;
  char u[256];
  logstate_async *a = NULL;
  snprintf(u, sizeof(u), "redis://localhost:%d/?prefix=byname", server.port);
  assert_status(logstate_async_open(&a, evb, u, NULL), LOGSTATE_OK);
  done_rec d = {0};
  assert_status(logstate_async_update(a, "log", fn_write, "by name", on_done, &d), LOGSTATE_OK);
  assert_int_equal(d.calls, 0);
  run_until(&d.calls, 1, 10);
  assert_status(d.st, LOGSTATE_OK);
  logstate_async_free(a);
  char buf[32];
  snprintf(u, sizeof(u), "redis://127.0.0.1:%d/?prefix=byname", server.port);
  assert_status(sync_get(u, "log", buf, sizeof(buf)), LOGSTATE_OK);
  assert_string_equal(buf, "by name");

  snprintf(u, sizeof(u), "redis://no-such-host.invalid:%d/?timeout_ms=500", server.port);
  assert_status(logstate_async_open(&a, evb, u, NULL), LOGSTATE_OK);
  d.calls = 0;
  double t0 = test_now_s();
  assert_status(logstate_async_init(a, on_done, &d), LOGSTATE_OK);
  assert_true(test_now_s() - t0 < 0.2); /* the submit did not wait for DNS */
  run_until(&d.calls, 1, 10);
  assert_status(d.st, LOGSTATE_UNAVAILABLE);
  logstate_async_free(a);
}

/* --- transactions, scripts, errors -------------------------------------- */

static void test_write_transactions(void **state) {
  (void)state;
  logstate_async *a = open_async(&server, NULL, NULL);
  logstate_async_write *w1 = NULL, *w2 = NULL;
  uint8_t *cp;
  size_t len;
  total_calls = 0;
  assert_status(logstate_async_write_ops(a, "log", on_open, &w1), LOGSTATE_OK);
  assert_status(logstate_async_write_ops(a, "log", on_open, &w2), LOGSTATE_OK);
  run_until(&total_calls, 2, 10);
  assert_status(logstate_async_write_get_latest(w1, &cp, &len), LOGSTATE_NOT_FOUND);
  done_rec d1 = {0}, d2 = {0};
  assert_status(logstate_async_write_set(w1, (const uint8_t *)"", 0, on_done, &d1), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_async_write_set(w1, (const uint8_t *)"first", 5, on_done, &d1), LOGSTATE_OK);
  assert_status(logstate_async_write_set(w2, (const uint8_t *)"second", 6, on_done, &d2), LOGSTATE_OK);
  assert_status(logstate_async_write_set(w1, (const uint8_t *)"again", 5, on_done, &d1), LOGSTATE_FAILED_PRECONDITION);
  assert_status(logstate_async_write_get_latest(w1, &cp, &len), LOGSTATE_FAILED_PRECONDITION);
  assert_status(logstate_async_write_close(w1), LOGSTATE_OK); /* close with the set in flight */
  run_until(&d1.calls, 1, 10);
  run_until(&d2.calls, 1, 10);
  assert_status(d1.st, LOGSTATE_OK);
  assert_status(d2.st, LOGSTATE_ABORTED); /* pipelined behind w1's set: lost */
  assert_status(logstate_async_write_close(w2), LOGSTATE_OK);
  char buf[32];
  assert_status(sync_get(url, "log", buf, sizeof(buf)), LOGSTATE_OK);
  assert_string_equal(buf, "first");

  /* The snapshot is what was stored when the transaction opened. */
  total_calls = 0;
  assert_status(logstate_async_write_ops(a, "log", on_open, &w1), LOGSTATE_OK);
  run_until(&total_calls, 1, 10);
  assert_status(logstate_async_write_get_latest(w1, &cp, &len), LOGSTATE_OK);
  assert_int_equal(len, 5);
  assert_memory_equal(cp, "first", 5);
  free(cp);
  assert_status(logstate_async_write_close(w1), LOGSTATE_OK);
  logstate_async_free(a);
}

static logstate_status fn_refuse(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len,
                                 void *arg) {
  (void)cur, (void)cur_len, (void)out_next, (void)out_next_len, (void)arg;
  return LOGSTATE_PERMISSION_DENIED;
}

static logstate_status fn_nochange(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len,
                                   void *arg) {
  (void)cur, (void)cur_len, (void)out_next, (void)out_next_len, (void)arg;
  return LOGSTATE_OK;
}

/* A warm update is one round trip: the handle knows the log's state. A
 * stale state (another writer moved on) costs one more, not a read. */
static void test_warm_update_one_round_trip(void **state) {
  (void)state;
  logstate_async *a = open_async(&server, NULL, NULL);
  done_rec d = {0};
  logstate_stats before, after;
  for (int i = 0; i < 3; i++) {
    d.calls = 0;
    assert_status(logstate_async_get_stats(a, &before), LOGSTATE_OK);
    assert_status(logstate_async_update(a, "log", test_fn_increment, NULL, on_done, &d), LOGSTATE_OK);
    run_until(&d.calls, 1, 10);
    assert_status(d.st, LOGSTATE_OK);
    assert_status(logstate_async_get_stats(a, &after), LOGSTATE_OK);
    assert_int_equal(after.round_trips - before.round_trips, i == 0 ? 2 : 1); /* cold: read + set */
  }
  assert_int_equal(after.cache_hits, 2);
  logstate *ls = NULL;
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_update(ls, "log", test_fn_increment, NULL), LOGSTATE_OK); /* now at 4 */
  logstate_free(ls);
  d.calls = 0;
  assert_status(logstate_async_get_stats(a, &before), LOGSTATE_OK);
  assert_status(logstate_async_update(a, "log", test_fn_increment, NULL, on_done, &d), LOGSTATE_OK);
  run_until(&d.calls, 1, 10);
  assert_status(d.st, LOGSTATE_OK);
  assert_status(logstate_async_get_stats(a, &after), LOGSTATE_OK);
  assert_int_equal(after.round_trips - before.round_trips, 2); /* the conflict brought the state */
  assert_int_equal(after.conflicts - before.conflicts, 1);
  assert_int_equal(counter_of(url, "log"), 5);
  logstate_async_free(a);
}

/* As the sync handle: a store that shows a log behind what this handle saw
 * went back, and the operation says so (update from the cache, get). */
static void test_rollback_detected(void **state) {
  (void)state;
  logstate_async *a = open_async(&server, NULL, NULL);
  done_rec d = {0};
  for (int i = 0; i < 2; i++) {
    d.calls = 0;
    assert_status(logstate_async_update(a, "u", test_fn_increment, NULL, on_done, &d), LOGSTATE_OK);
    run_until(&d.calls, 1, 10);
    assert_status(d.st, LOGSTATE_OK);
  }
  test_redis_do(&server, "HSET {%s}:log:u version 1", prefix); /* as a lagging replica holds it */
  d.calls = 0;
  assert_status(logstate_async_update(a, "u", test_fn_increment, NULL, on_done, &d), LOGSTATE_OK);
  run_until(&d.calls, 1, 10);
  assert_status(d.st, LOGSTATE_FAILED_PRECONDITION);
  get_rec g = {0};
  total_calls = 0;
  assert_status(logstate_async_get_latest(a, "u", on_get, &g), LOGSTATE_OK);
  run_until(&total_calls, 1, 10);
  assert_status(g.st, LOGSTATE_FAILED_PRECONDITION);
  logstate_stats st;
  assert_status(logstate_async_get_stats(a, &st), LOGSTATE_OK);
  assert_int_equal(st.rollbacks, 2);
  logstate_async_free(a);
}

static void test_update_semantics_and_noscript(void **state) {
  (void)state;
  logstate_async *a = open_async(&server, NULL, NULL);
  done_rec d = {0};
  assert_status(logstate_async_update(a, "log", fn_refuse, NULL, on_done, &d), LOGSTATE_OK);
  run_until(&d.calls, 1, 10);
  assert_status(d.st, LOGSTATE_PERMISSION_DENIED); /* fn's status, unchanged */
  d.calls = 0;
  assert_status(logstate_async_update(a, "log", fn_nochange, NULL, on_done, &d), LOGSTATE_OK);
  run_until(&d.calls, 1, 10);
  assert_status(d.st, LOGSTATE_OK);
  char buf[64];
  assert_status(sync_get(url, "log", buf, sizeof(buf)), LOGSTATE_NOT_FOUND);

  test_redis_do(&server, "SCRIPT FLUSH");
  d.calls = 0;
  assert_status(logstate_async_update(a, "log", test_fn_increment, NULL, on_done, &d), LOGSTATE_OK);
  run_until(&d.calls, 1, 10);
  assert_status(d.st, LOGSTATE_OK);
  logstate_stats st;
  assert_status(logstate_async_get_stats(a, &st), LOGSTATE_OK);
  assert_int_equal(st.script_reloads, 1);
  assert_int_equal(counter_of(url, "log"), 1);

  /* WRONGTYPE maps as in the sync backend. */
  test_redis_do(&server, "SET {%s}:log:str x", prefix);
  get_rec g = {0};
  total_calls = 0;
  assert_status(logstate_async_get_latest(a, "str", on_get, &g), LOGSTATE_OK);
  run_until(&total_calls, 1, 10);
  assert_status(g.st, LOGSTATE_INTERNAL);
  logstate_async_free(a);
}

static void on_logs(logstate_status st, const char *const *ids, size_t n, void *arg) {
  done_rec *d = arg;
  d->calls++;
  d->st = st;
  if (st == LOGSTATE_OK) {
    assert_int_equal(n, 3);
    assert_string_equal(ids[0], "a");
    assert_string_equal(ids[1], "b");
    assert_string_equal(ids[2], "c");
  }
}

static void test_logs_and_submit_errors(void **state) {
  (void)state;
  logstate_async *a = open_async(&server, NULL, NULL);
  done_rec d = {0};
  const char *names[] = {"c", "a", "b"};
  for (int i = 0; i < 3; i++)
    assert_status(logstate_async_update(a, names[i], fn_write, "v", on_done, &d), LOGSTATE_OK);
  run_until(&d.calls, 3, 10);
  done_rec l = {0};
  assert_status(logstate_async_logs(a, on_logs, &l), LOGSTATE_OK);
  run_until(&l.calls, 1, 10);
  assert_status(l.st, LOGSTATE_OK);

  /* Refused submissions never call back. */
  get_rec g = {0};
  char too_long[1100];
  memset(too_long, 'x', sizeof(too_long) - 1);
  too_long[sizeof(too_long) - 1] = '\0';
  assert_status(logstate_async_get_latest(a, "", on_get, &g), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_async_get_latest(a, too_long, on_get, &g), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_async_get_latest(a, NULL, on_get, &g), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_async_get_latest(a, "x", NULL, &g), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_async_get_latest(NULL, "x", on_get, &g), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_async_update(a, "x", NULL, NULL, on_done, &d), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_async_init(NULL, on_done, &d), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_async_logs(a, NULL, NULL), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_async_write_ops(a, "", on_open, NULL), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_async_write_close(NULL), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_async_get_stats(NULL, NULL), LOGSTATE_INVALID_ARGUMENT);
  event_base_loop(evb, EVLOOP_NONBLOCK);
  assert_int_equal(g.calls, 0);
  logstate_async_free(a);
  logstate_async_free(NULL);

  logstate_async *b = (logstate_async *)1;
  assert_status(logstate_async_open(&b, evb, "nosuch:", NULL), LOGSTATE_INVALID_ARGUMENT);
  assert_null(b);
  char ro_url[128];
  snprintf(ro_url, sizeof(ro_url), "redis://127.0.0.1:%d/?mode=ro", server.port);
  assert_status(logstate_async_open(&b, evb, ro_url, NULL), LOGSTATE_INVALID_ARGUMENT); /* sync API only */
  assert_null(b);
  logstate_options bad_opts = LOGSTATE_OPTIONS_INIT;
  bad_opts.update_attempts = 2000000; /* the sync API refuses it: so must this */
  assert_status(logstate_async_open(&b, evb, "memory:", &bad_opts), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_async_open(&b, evb, make_url(&server, NULL), &bad_opts), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_async_open(&b, NULL, "redis://127.0.0.1/", NULL), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_async_open(&b, evb, "redis://127.0.0.1/?pool=x", NULL), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_async_open(NULL, evb, "redis://127.0.0.1/", NULL), LOGSTATE_INVALID_ARGUMENT);

  /* The durability check, as in the sync backend. */
  test_redis own;
  assert_int_equal(test_redis_start(&own, "appendonly no"), 0);
  assert_status(logstate_async_open(&b, evb, make_url(&own, NULL), NULL), LOGSTATE_OK);
  d.calls = 0;
  assert_status(logstate_async_init(b, on_done, &d), LOGSTATE_OK);
  run_until(&d.calls, 1, 10);
  assert_status(d.st, LOGSTATE_FAILED_PRECONDITION);
  logstate_async_free(b);
  test_redis_stop(&own);
}

static int group_setup(void **state) {
  (void)state;
  evb = event_base_new();
  return evb ? test_redis_start(&server, NULL) : -1;
}

static int group_teardown(void **state) {
  (void)state;
  test_redis_stop(&server);
  event_base_free(evb);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "--sync-writer") == 0)
    return sync_writer_main(argv[2], atoi(argv[3]), atoi(argv[4]));
  under_valgrind = argc == 2 && strcmp(argv[1], "--under-valgrind") == 0;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_thousand_in_flight),
      cmocka_unit_test(test_race_with_sync),
      cmocka_unit_test(test_self_race_with_sync_process),
      cmocka_unit_test(test_server_killed_in_flight),
      cmocka_unit_test(test_free_with_pending),
      cmocka_unit_test(test_free_inside_callback),
      cmocka_unit_test(test_timeout_under_sigstop),
      cmocka_unit_test(test_fail_fast_when_down),
      cmocka_unit_test(test_host_names),
      cmocka_unit_test(test_write_transactions),
      cmocka_unit_test(test_warm_update_one_round_trip),
      cmocka_unit_test(test_rollback_detected),
      cmocka_unit_test(test_update_semantics_and_noscript),
      cmocka_unit_test(test_logs_and_submit_errors),
  };
  return cmocka_run_group_tests_name("async", tests, group_setup, group_teardown);
}

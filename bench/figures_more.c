/* SPDX-License-Identifier: Apache-2.0 */
/* The benchmark's async measurements, the contention run, peak memory, and
 * listing many logs. */
#define _POSIX_C_SOURCE 200809L
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"
#include "logstate/async.h"
#include "logstate/logstate.h"

static const char cp[] = "bench.example/log/123456/qJ1B8Hqv3lIS4VbX4KiNbm1Y3rB4hX9b2v0CkH3a1mE=";

static logstate_status fn_set(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len, void *arg) {
  (void)cur, (void)cur_len, (void)arg;
  *out_next = malloc(sizeof(cp) - 1);
  memcpy(*out_next, cp, sizeof(cp) - 1);
  *out_next_len = sizeof(cp) - 1;
  return LOGSTATE_OK;
}

/* Keeps `depth` async updates in flight until `n` finished; the logs are
 * `logs` distinct ones taken in turn (1: all on one log). */
typedef struct pump {
  logstate_async *a;
  int n, depth, logs, submitted, completed, in_flight;
  unsigned long failed;
  const char *prefix;
} pump;

static void pump_fill(pump *p);

static void on_pumped(logstate_status st, void *arg) {
  pump *p = arg;
  p->completed++;
  p->in_flight--;
  if (st != LOGSTATE_OK && p->failed++ == 0)
    fprintf(stderr, "bench: async update: %s: %s\n", logstate_status_name(st), logstate_last_error());
  pump_fill(p);
}

static void pump_fill(pump *p) {
  char id[48];
  while (p->in_flight < p->depth && p->submitted < p->n) {
    snprintf(id, sizeof(id), "%s-%d", p->prefix, p->submitted++ % p->logs);
    if (logstate_async_update(p->a, id, fn_set, NULL, on_pumped, p) == LOGSTATE_OK) {
      p->in_flight++;
    } else {
      p->completed++;
      p->failed++;
    }
  }
}

static int run_pump(struct event_base *evb, pump *p) {
  pump_fill(p);
  while (p->completed < p->n)
    event_base_loop(evb, EVLOOP_ONCE);
  return p->failed ? -1 : 0;
}

static void on_init(logstate_status st, void *arg) { *(logstate_status *)arg = st; }

static logstate_async *open_async_url(const char *url, struct event_base *evb) {
  logstate_async *a = NULL;
  logstate_status st = (logstate_status)-1;
  if (logstate_async_open(&a, evb, url, NULL) != LOGSTATE_OK || logstate_async_init(a, on_init, &st) != LOGSTATE_OK)
    return NULL;
  while (st == (logstate_status)-1)
    event_base_loop(evb, EVLOOP_ONCE);
  if (st != LOGSTATE_OK) {
    fprintf(stderr, "bench: async init: %s\n", logstate_last_error());
    logstate_async_free(a);
    return NULL;
  }
  return a;
}

static logstate_async *open_async(bench *b, struct event_base *evb) { return open_async_url(b->url, evb); }

double async_rate(const char *url, int depth, int n) {
  struct event_base *evb = event_base_new();
  logstate_async *a = open_async_url(url, evb);
  double v = -1;
  if (a) {
    pump warm = {.a = a, .n = depth, .depth = depth, .logs = depth, .prefix = "bench/async"};
    pump p = {.a = a, .n = n, .depth = depth, .logs = depth, .prefix = "bench/async"};
    if (run_pump(evb, &warm) == 0) {
      double t0 = now_s();
      if (run_pump(evb, &p) == 0)
        v = n / (now_s() - t0);
    }
    logstate_op_stats st;
    if (logstate_async_get_op_stats(a, LOGSTATE_OP_UPDATE, &st) == LOGSTATE_OK && st.count > 0)
      bench_note((double)st.p50_us, (double)st.p99_us);
  }
  logstate_async_free(a);
  event_base_free(evb);
  return v;
}

/* f->param in flight, each on its own log (warm: the handle knows them). */
double m_async(bench *b, const figure *f) { return async_rate(b->url, f->param, f->n); }

/* --- contention on one log ---------------------------------------------- */

typedef struct contender {
  pthread_t t;
  const char *url;
  int n;
  unsigned long ok, failed;
} contender;

static void *contend(void *p) {
  contender *c = p;
  logstate *ls = NULL;
  if (logstate_open(&ls, c->url) != LOGSTATE_OK)
    return NULL;
  for (int i = 0; i < c->n; i++) {
    if (logstate_update(ls, "bench/contended-0", fn_set, NULL) == LOGSTATE_OK) /* the pump's one log */
      c->ok++;
    else
      c->failed++;
  }
  logstate_free(ls);
  return NULL;
}

/* 4 sync threads and one async handle with 128 in flight, all on one log;
 * then the async handle alone (its updates must never fail). */
void bench_contention(bench *b, int n, double *ops, unsigned long *conflicts, unsigned long *failed,
                      unsigned long *alone_failed) {
  struct event_base *evb = event_base_new();
  logstate_async *a = open_async(b, evb);
  contender c[4];
  logstate_stats before, after;
  *ops = -1;
  *failed = *alone_failed = *conflicts = 0;
  if (a == NULL)
    return;
  pump alone = {.a = a, .n = n, .depth = 128, .logs = 1, .prefix = "bench/alone"};
  run_pump(evb, &alone);
  *alone_failed = alone.failed;
  logstate_async_get_stats(a, &before);
  double t0 = now_s();
  for (int i = 0; i < 4; i++) {
    c[i] = (contender){.url = b->url, .n = n / 8};
    pthread_create(&c[i].t, NULL, contend, &c[i]);
  }
  pump p = {.a = a, .n = n / 2, .depth = 128, .logs = 1, .prefix = "bench/contended"};
  run_pump(evb, &p);
  unsigned long total = (unsigned long)p.n;
  for (int i = 0; i < 4; i++) {
    pthread_join(c[i].t, NULL);
    *failed += c[i].failed;
    total += (unsigned long)c[i].n;
  }
  *ops = total / (now_s() - t0);
  *failed += p.failed;
  logstate_async_get_stats(a, &after);
  *conflicts = after.conflicts - before.conflicts;
  logstate_async_free(a);
  event_base_free(evb);
}

/* --- peak memory ----------------------------------------------------------- */

static double peak_kb(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)u.ru_maxrss;
}

/* The process's peak RSS after n_small async updates (64 in flight over
 * 1000 logs), and after n_large. */
void bench_rss(bench *b, int n_small, int n_large, double *kb_small, double *kb_large) {
  struct event_base *evb = event_base_new();
  logstate_async *a = open_async(b, evb);
  *kb_small = *kb_large = -1;
  if (a) {
    pump p = {.a = a, .n = n_small, .depth = 64, .logs = 1000, .prefix = "bench/rss"};
    run_pump(evb, &p);
    *kb_small = peak_kb();
    pump q = {.a = a, .n = n_large - n_small, .depth = 64, .logs = 1000, .prefix = "bench/rss"};
    run_pump(evb, &q);
    *kb_large = peak_kb();
  }
  logstate_async_free(a);
  event_base_free(evb);
}

/* --- logs ------------------------------------------------------------------ */

/* Fills namespace `ns` with `count` logs, written straight into Redis in
 * the key layout (pipelined: a setup, not a measurement). */
static void fill_logs(bench *b, const char *ns, int count) {
  for (int i = 0; i < count; i++) {
    redisAppendCommand(b->admin, "HSET {%s}:log:log-%d checkpoint %s version 1", ns, i, cp);
    redisAppendCommand(b->admin, "SADD {%s}:logs log-%d", ns, i);
    if (i % 1000 == 999 || i == count - 1) {
      for (int j = 0; j < 2 * (i % 1000 + 1); j++) {
        void *r = NULL;
        if (redisGetReply(b->admin, &r) == REDIS_OK && r)
          freeReplyObject(r);
      }
    }
  }
}

/* logstate_logs() and a raw SMEMBERS over `size[i]` logs, in ms (median of
 * the rounds). */
void bench_logs(bench *b, int sizes, const int *size, double *ms_ours, double *ms_raw) {
  for (int i = 0; i < sizes; i++) {
    char ns[32], url[320];
    double o[BENCH_MAX_ROUNDS], r[BENCH_MAX_ROUNDS];
    snprintf(ns, sizeof(ns), "bench-logs-%d", size[i]);
    fill_logs(b, ns, size[i]);
    snprintf(url, sizeof(url), "%s&prefix=%s", b->url, ns);
    logstate *ls = NULL;
    logstate_open(&ls, url);
    for (int k = 0; k < b->rounds; k++) {
      double t0 = now_s();
      redisReply *rep = redisCommand(b->admin, "SMEMBERS {%s}:logs", ns);
      r[k] = (now_s() - t0) * 1000;
      if (rep)
        freeReplyObject(rep);
      char **ids = NULL;
      size_t n = 0;
      t0 = now_s();
      logstate_status st = logstate_logs(ls, &ids, &n);
      o[k] = st == LOGSTATE_OK && n == (size_t)size[i] ? (now_s() - t0) * 1000 : -1;
      logstate_logs_free(ids, n);
    }
    logstate_free(ls);
    ms_ours[i] = median(o, b->rounds);
    ms_raw[i] = median(r, b->rounds);
  }
}

/* SPDX-License-Identifier: Apache-2.0 */
#define _POSIX_C_SOURCE 200809L
#include "writers.h"

#include <event2/event.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_server.h"

#define PENDING ((logstate_status)1000)

static void async_done(logstate_status st, void *arg) { *(logstate_status *)arg = st; }

logstate_status test_async_update_wait(struct event_base *evb, logstate_async *a, const char *log_id,
                                       logstate_update_fn fn) {
  logstate_status st = PENDING;
  logstate_status sub = logstate_async_update(a, log_id, fn, NULL, async_done, &st);
  if (sub != LOGSTATE_OK)
    return sub;
  double deadline = test_now_s() + 20;
  while (st == PENDING && test_now_s() < deadline)
    event_base_loop(evb, EVLOOP_ONCE);
  if (st == PENDING) {
    fprintf(stderr, "test_async_update_wait: no answer in 20 s\n");
    abort();
  }
  return st;
}

static atomic_int stop;
static _Atomic long long fault_us; /* 0: no fault yet */

static long long now_us(void) { return (long long)(test_now_s() * 1e6); }

static unsigned long counter_value(const uint8_t *cp, size_t len) {
  char buf[256];
  if (len >= sizeof(buf))
    return ULONG_MAX;
  memcpy(buf, cp, len);
  buf[len] = '\0';
  const char *nl = strchr(buf, '\n');
  return nl ? strtoul(nl + 1, NULL, 10) : ULONG_MAX;
}

/* Increments the counter, and checks that this handle never reads it
 * going backwards (the library must refuse a rolled-back store first). */
static logstate_status increment(const uint8_t *cur, size_t len, uint8_t **out, size_t *out_len, void *arg) {
  test_writer *w = arg;
  unsigned long n = cur ? counter_value(cur, len) : 0;
  if (n == ULONG_MAX || (*out = malloc(300)) == NULL)
    return LOGSTATE_INTERNAL;
  if (n < w->seen)
    w->lower_reads++;
  else
    w->seen = n;
  w->proposed = n + 1;
  *out_len = (size_t)snprintf((char *)*out, 300, "%s\n%lu\nhash\n", w->origin, n + 1);
  return LOGSTATE_OK;
}

static void record(test_writer *w, logstate_status st) {
  long long f = atomic_load(&fault_us);
  double now = test_now_s();
  const char *msg = logstate_last_error();
  if (st == LOGSTATE_OK) {
    atomic_fetch_add(&w->acked, 1);
    if (w->proposed > w->acked_value)
      w->acked_value = w->proposed;
    if (f && atomic_fetch_add(&w->acked_after_fault, 1) == 0)
      w->recovery_s = (double)(now_us() - f) / 1e6;
    if (w->last_ok > 0 && now - w->last_ok > w->longest_gap_s)
      w->longest_gap_s = now - w->last_ok;
    w->last_ok = now;
  } else if (st == LOGSTATE_UNAVAILABLE) {
    if (strstr(msg, "the outcome is unknown") || strstr(msg, "may or may not have been applied"))
      w->unknown++;
    else
      w->unavailable++;
    w->moved += strstr(msg, "MOVED") != NULL;
    w->ask += strstr(msg, "ASK") != NULL || strstr(msg, "TRYAGAIN") != NULL;
  } else if (st == LOGSTATE_ABORTED) {
    w->aborted++;
  } else if (st == LOGSTATE_FAILED_PRECONDITION) {
    w->rollbacks++;
  } else {
    w->other++;
    fprintf(stderr, "writer: %s: %s\n", logstate_status_name(st), msg);
  }
}

static logstate_options writer_options(void) {
  logstate_options o = LOGSTATE_OPTIONS_INIT;
  o.update_attempts = 1000;
  return o;
}

static void *sync_writer(void *arg) {
  test_writer *w = arg;
  logstate *ls = NULL;
  logstate_options o = writer_options();
  while (!atomic_load(&stop)) {
    if (ls == NULL && logstate_open_ext(&ls, w->url, &o) != LOGSTATE_OK)
      break;
    logstate_status st = logstate_update(ls, w->log_id, increment, w);
    record(w, st);
    if (st == LOGSTATE_FAILED_PRECONDITION) { /* look, then start afresh */
      logstate_free(ls);
      ls = NULL;
      w->seen = w->acked_value; /* a new handle knows only what was acknowledged */
    }
    if (st != LOGSTATE_OK)
      test_pause_ms(20);
  }
  logstate_free(ls);
  return NULL;
}

static void on_async_update(logstate_status st, void *arg) {
  test_writer *w = arg;
  w->in_flight = 0;
  record(w, st);
  if (st == LOGSTATE_FAILED_PRECONDITION) {
    logstate_options o = writer_options();
    logstate_async_free(w->a);
    w->seen = w->acked_value;
    if (logstate_async_open(&w->a, w->evb, w->url, &o) != LOGSTATE_OK)
      w->a = NULL;
  }
  struct timeval tv = {0, st == LOGSTATE_OK ? 0 : 20000};
  if (!atomic_load(&stop) && w->a)
    evtimer_add(w->timer, &tv);
}

static void async_submit(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  test_writer *w = arg;
  if (logstate_async_update(w->a, w->log_id, increment, w, on_async_update, w) == LOGSTATE_OK)
    w->in_flight = 1;
  else
    w->other++;
}

static void *async_writer(void *arg) {
  test_writer *w = arg;
  logstate_options o = writer_options();
  w->evb = event_base_new();
  w->timer = evtimer_new(w->evb, async_submit, w);
  if (logstate_async_open(&w->a, w->evb, w->url, &o) == LOGSTATE_OK) {
    async_submit(0, 0, w);
    while (w->a && (!atomic_load(&stop) || w->in_flight))
      event_base_loop(w->evb, EVLOOP_ONCE);
  }
  logstate_async_free(w->a);
  event_free(w->timer);
  event_base_free(w->evb);
  return NULL;
}

void test_writers_start(test_writer *w, int n) {
  atomic_store(&stop, 0);
  atomic_store(&fault_us, 0);
  for (int i = 0; i < n; i++) {
    char url[sizeof(w[i].url)], log_id[sizeof(w[i].log_id)];
    int use_async = w[i].use_async;
    memcpy(url, w[i].url, sizeof(url));
    snprintf(log_id, sizeof(log_id), "%s", w[i].log_id[0] ? w[i].log_id : "counter");
    memset(&w[i], 0, sizeof(w[i]));
    memcpy(w[i].url, url, sizeof(url));
    memcpy(w[i].log_id, log_id, sizeof(log_id));
    w[i].use_async = use_async;
    snprintf(w[i].origin, sizeof(w[i].origin), "writer%d.example", i);
    if (pthread_create(&w[i].thread, NULL, use_async ? async_writer : sync_writer, &w[i]) != 0)
      abort();
  }
}

void test_writers_fault(void) { atomic_store(&fault_us, now_us()); }

int test_writers_reach(test_writer *w, int n, int after_fault, const unsigned long *base, unsigned long more,
                       double seconds) {
  double deadline = test_now_s() + seconds;
  for (int i = 0; i < n; i++)
    while (atomic_load(after_fault ? &w[i].acked_after_fault : &w[i].acked) < (base ? base[i] : 0) + more)
      if (test_now_s() > deadline)
        return 0;
      else
        test_pause_ms(10);
  return 1;
}

void test_writers_stop(test_writer *w, int n) {
  atomic_store(&stop, 1);
  for (int i = 0; i < n; i++)
    pthread_join(w[i].thread, NULL);
}

unsigned long test_writers_acked(const test_writer *w, int n) {
  unsigned long sum = 0;
  for (int i = 0; i < n; i++)
    sum += atomic_load(&w[i].acked);
  return sum;
}

unsigned long test_writers_unknown(const test_writer *w, int n) {
  unsigned long sum = 0;
  for (int i = 0; i < n; i++)
    sum += w[i].unknown;
  return sum;
}

unsigned long test_writers_unavailable(const test_writer *w, int n) {
  unsigned long sum = 0;
  for (int i = 0; i < n; i++)
    sum += w[i].unavailable;
  return sum;
}

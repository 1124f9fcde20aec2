/* SPDX-License-Identifier: Apache-2.0 */
/* Counter writers for the replication tests (test_sentinel, test_cluster):
 * each runs on a thread of its own, sync (logstate_update in a loop) or
 * async (one logstate_async_update in flight on a private event loop), and
 * increments the log "counter" with its own origin line, so that no two
 * writers ever store the same bytes. Each counts what happened, checks that
 * its handle never reads the counter going backwards, and, after the
 * test's fault (test_writers_fault), how long it took to write again. A
 * FAILED_PRECONDITION (a rollback the handle refused) is counted and the
 * handle reopened, as an operator would after looking. */
#ifndef LOGSTATE_TEST_WRITERS_H
#define LOGSTATE_TEST_WRITERS_H

#include <pthread.h>
#include <stdatomic.h>

#include "logstate/async.h"

typedef struct test_writer {
  /* Set by the test before test_writers_start. */
  char url[512];
  int use_async;
  char log_id[48]; /* "" : "counter" */
  /* Read by the test meanwhile. */
  atomic_ulong acked, acked_after_fault;
  /* Read by the test after test_writers_stop. */
  unsigned long unknown;     /* UNAVAILABLE saying the outcome is unknown: the set may have been applied */
  unsigned long unavailable; /* any other UNAVAILABLE: nothing was applied (the library's promise) */
  unsigned long aborted;     /* lost the race every attempt */
  unsigned long rollbacks;   /* FAILED_PRECONDITION: a store behind what the handle saw */
  unsigned long other;       /* anything else: a test fails on it */
  unsigned long moved, ask;  /* UNAVAILABLE that said MOVED, or ASK/TRYAGAIN */
  unsigned long lower_reads; /* reads below one the handle saw: must stay 0 */
  unsigned long acked_value; /* the highest counter it wrote and had acknowledged */
  double recovery_s;         /* from the fault to its first acknowledged update after it */
  double longest_gap_s;      /* the longest time between two acknowledged updates */
  /* Private. */
  char origin[32];
  unsigned long seen, proposed;
  double last_ok;
  pthread_t thread;
  struct event_base *evb;
  logstate_async *a;
  struct event *timer;
  int in_flight;
} test_writer;

/* Starts n writers (url and use_async set; the rest is cleared). */
void test_writers_start(test_writer *w, int n);
/* Marks the fault: acknowledged updates after it are counted apart. */
void test_writers_fault(void);
/* Waits (bounded) until every writer has `more` acknowledged updates
 * beyond base[i] (base NULL: 0), counted since the fault with
 * `after_fault`. 1 on success. */
int test_writers_reach(test_writer *w, int n, int after_fault, const unsigned long *base, unsigned long more,
                       double seconds);
/* Stops and joins them. */
void test_writers_stop(test_writer *w, int n);
/* One async update of `log_id` with `fn`, run on `evb` until it finishes
 * (bounded: 20 s, then the test program aborts). Its status. */
logstate_status test_async_update_wait(struct event_base *evb, logstate_async *a, const char *log_id,
                                       logstate_update_fn fn);
/* Sums: acknowledged, unknown. */
unsigned long test_writers_acked(const test_writer *w, int n);
unsigned long test_writers_unknown(const test_writer *w, int n);
unsigned long test_writers_unavailable(const test_writer *w, int n);

#endif

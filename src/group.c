/* SPDX-License-Identifier: Apache-2.0 */
/* Group commit (group.h). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "group.h"

/* One lane: its queue, and whether its batch is in flight. */
typedef struct ls_lane {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_cond_t gather_cv; /* a set queued while the leader gathers */
  ls_gcas *head, *tail;     /* queued, not yet in a batch */
  int busy;                 /* a batch is in flight (or being gathered) */
  int gathering;
  size_t writers;   /* in the last batch and queued when it ended */
  uint64_t last_us; /* how long the last batch took */
  uint64_t commits, sets, waiting;
} ls_lane;

struct ls_group {
  size_t nlanes;
  ls_lane lanes[];
};

ls_group *ls_group_new(logstate_backend *be) {
  size_t n = be->methods->cas_lanes ? be->methods->cas_lanes(be) : 1;
  n = n < 1 ? 1 : n > LS_GROUP_LANES ? LS_GROUP_LANES : n;
  ls_group *g = calloc(1, sizeof(*g) + n * sizeof(ls_lane));
  if (g == NULL)
    return NULL;
  g->nlanes = n;
  for (size_t i = 0; i < n; i++) {
    pthread_mutex_init(&g->lanes[i].mu, NULL);
    pthread_cond_init(&g->lanes[i].cv, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&g->lanes[i].gather_cv, &a);
    pthread_condattr_destroy(&a);
  }
  return g;
}

void ls_group_free(ls_group *g) {
  if (g == NULL)
    return;
  for (size_t i = 0; i < g->nlanes; i++) {
    pthread_cond_destroy(&g->lanes[i].cv);
    pthread_cond_destroy(&g->lanes[i].gather_cv);
    pthread_mutex_destroy(&g->lanes[i].mu);
  }
  free(g);
}

size_t ls_group_batch_max(logstate_backend *be) {
  size_t n = be->methods->cas_batch ? be->methods->cas_batch(be) : 1;
  return n < 1 ? 1 : n > LS_GROUP_MAX ? LS_GROUP_MAX : n;
}

logstate_status logstate_backend_cas_result(logstate_backend_cas *req, logstate_status st) {
  ls_gcas *r = (ls_gcas *)req;
  if (r == NULL)
    return st;
  ls_error_save(&r->err, st);
  r->decided = 1;
  return st;
}

/* One cas call; a request the backend left undecided fails (its bug, not
 * a set that may have happened: the backend returned). */
static void run(logstate_backend *be, ls_gcas **batch, size_t n) {
  for (size_t i = 0; i < n; i++) {
    batch[i]->decided = 0;
    batch[i]->req.fresh_known = 0;
  }
  be->methods->cas(be, (logstate_backend_cas *const *)batch, n);
  for (size_t i = 0; i < n; i++)
    if (!batch[i]->decided) {
      ls_err(LOGSTATE_INTERNAL, "%s backend: cas left a request without an outcome", be->methods->name);
      ls_error_save(&batch[i]->err, LOGSTATE_INTERNAL);
    }
}

logstate_status ls_group_run_one(logstate_backend *be, ls_gcas *r) {
  run(be, &r, 1);
  return ls_error_restore(&r->err);
}

void ls_group_submit(ls_group *g, ls_gcas *r) {
  ls_lane *lane = &g->lanes[ls_hash(r->req.log_id, r->req.log_id_len) % g->nlanes];
  r->done = 0;
  r->next = NULL;
  r->lane = lane;
  pthread_mutex_lock(&lane->mu);
  if (lane->tail)
    lane->tail->next = r;
  else
    lane->head = r;
  lane->tail = r;
  lane->waiting++;
  if (lane->gathering)
    pthread_cond_signal(&lane->gather_cv);
  pthread_mutex_unlock(&lane->mu);
}

/* Under the lane's mutex: its oldest queued sets, at most `max`. */
static size_t take(ls_lane *lane, ls_gcas **batch, size_t max) {
  size_t n = 0;
  while (lane->head && n < max) {
    batch[n++] = lane->head;
    lane->head = lane->head->next;
  }
  if (lane->head == NULL)
    lane->tail = NULL;
  lane->waiting -= n;
  lane->commits++;
  lane->sets += n;
  return n;
}

/* Under the lane's mutex, before taking a batch: while fewer sets are
 * queued than there were writers at the end of the last batch (those
 * writers are coming back with their next set), wait for them, at most
 * half the last batch's time and LS_GROUP_GATHER_US. Without this, 8
 * threads settle into two cohorts of 4 that take turns, each paying its
 * own commit. A lone writer (one writer last time) never waits. */
static void gather(ls_lane *lane, size_t max) {
  size_t want = lane->writers < max ? lane->writers : max;
  uint64_t us = lane->last_us / 2;
  if (lane->waiting >= want || us == 0)
    return;
  us = us < LS_GROUP_GATHER_US ? us : LS_GROUP_GATHER_US;
  struct timespec end;
  clock_gettime(CLOCK_MONOTONIC, &end);
  end.tv_nsec += (long)(us * 1000);
  end.tv_sec += end.tv_nsec / 1000000000L;
  end.tv_nsec %= 1000000000L;
  lane->gathering = 1;
  while (lane->waiting < want && pthread_cond_timedwait(&lane->gather_cv, &lane->mu, &end) == 0)
    ;
  lane->gathering = 0;
}

/* Leads one batch of `lane` (under its mutex, which it drops while the
 * batch runs). */
static void lead(logstate_backend *be, ls_lane *lane, size_t max, int gathers) {
  ls_gcas *batch[LS_GROUP_MAX];
  lane->busy = 1;
  if (gathers)
    gather(lane, max);
  size_t n = take(lane, batch, max);
  pthread_mutex_unlock(&lane->mu);
  uint64_t t0 = ls_now_us();
  run(be, batch, n);
  uint64_t took = ls_now_us() - t0;
  pthread_mutex_lock(&lane->mu);
  for (size_t i = 0; i < n; i++)
    batch[i]->done = 1;
  lane->writers = n + lane->waiting;
  lane->last_us = took;
  lane->busy = 0;
  pthread_cond_broadcast(&lane->cv);
}

static logstate_status wait_for(logstate_backend *be, ls_gcas *r, int gathers) {
  size_t max = ls_group_batch_max(be);
  ls_lane *lane = r->lane;
  pthread_mutex_lock(&lane->mu);
  while (!r->done) {
    if (lane->busy)
      pthread_cond_wait(&lane->cv, &lane->mu);
    else
      lead(be, lane, max, gathers);
  }
  pthread_mutex_unlock(&lane->mu);
  return ls_error_restore(&r->err);
}

logstate_status ls_group_wait(logstate_backend *be, ls_gcas *r) { return wait_for(be, r, 1); }

void ls_group_stats(ls_group *g, logstate_stats *out) {
  for (size_t i = 0; i < g->nlanes; i++) {
    ls_lane *lane = &g->lanes[i];
    pthread_mutex_lock(&lane->mu);
    out->group_commits += lane->commits;
    out->group_sets += lane->sets;
    out->group_waiting += lane->waiting;
    pthread_mutex_unlock(&lane->mu);
  }
}

void ls_group_run_many(ls_group *g, logstate_backend *be, ls_gcas *const *rs, size_t n) {
  if (ls_group_batch_max(be) < 2) {
    for (size_t i = 0; i < n; i++)
      ls_group_run_one(be, rs[i]);
    return;
  }
  for (size_t i = 0; i < n; i++)
    ls_group_submit(g, rs[i]);
  for (size_t i = 0; i < n; i++) /* one thread: nobody else to gather */
    wait_for(be, rs[i], 0);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Group commit (group.h). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>

#include "group.h"

struct ls_group {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  ls_gcas *head, *tail; /* queued, not yet in a batch */
  int busy;             /* a batch is in flight */
  uint64_t commits, sets, waiting;
};

ls_group *ls_group_new(void) {
  ls_group *g = calloc(1, sizeof(*g));
  if (g) {
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
  }
  return g;
}

void ls_group_free(ls_group *g) {
  if (g == NULL)
    return;
  pthread_cond_destroy(&g->cv);
  pthread_mutex_destroy(&g->mu);
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
  r->done = 0;
  r->next = NULL;
  pthread_mutex_lock(&g->mu);
  if (g->tail)
    g->tail->next = r;
  else
    g->head = r;
  g->tail = r;
  g->waiting++;
  pthread_mutex_unlock(&g->mu);
}

/* Under the mutex: the oldest queued sets, at most `max`. */
static size_t take(ls_group *g, ls_gcas **batch, size_t max) {
  size_t n = 0;
  while (g->head && n < max) {
    batch[n++] = g->head;
    g->head = g->head->next;
  }
  if (g->head == NULL)
    g->tail = NULL;
  g->waiting -= n;
  g->commits++;
  g->sets += n;
  return n;
}

logstate_status ls_group_wait(ls_group *g, logstate_backend *be, ls_gcas *r) {
  size_t max = ls_group_batch_max(be);
  ls_gcas *batch[LS_GROUP_MAX];
  pthread_mutex_lock(&g->mu);
  while (!r->done) {
    if (g->busy) {
      pthread_cond_wait(&g->cv, &g->mu);
      continue;
    }
    g->busy = 1;
    size_t n = take(g, batch, max);
    pthread_mutex_unlock(&g->mu);
    run(be, batch, n);
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < n; i++)
      batch[i]->done = 1;
    g->busy = 0;
    pthread_cond_broadcast(&g->cv);
  }
  pthread_mutex_unlock(&g->mu);
  return ls_error_restore(&r->err);
}

void ls_group_stats(ls_group *g, logstate_stats *out) {
  pthread_mutex_lock(&g->mu);
  out->group_commits = g->commits;
  out->group_sets = g->sets;
  out->group_waiting = g->waiting;
  pthread_mutex_unlock(&g->mu);
}

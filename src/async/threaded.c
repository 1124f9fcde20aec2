/* SPDX-License-Identifier: Apache-2.0 */
/* The async driver over any sync backend (memory, SQLite): the backend's
 * calls, fsync included, run on one worker thread, so the loop never waits
 * for a disk. The worker takes every request queued at once, in order, and
 * runs the sets among them as one group commit (SQLite: one transaction).
 * Finished requests come back through a pipe the loop watches, and are
 * finished on the loop's thread, on a later iteration than their submit. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "async/driver.h"
#include "configs.h"
#include "group.h"

typedef struct queue {
  ls_areq *head, *tail;
} queue;

typedef struct threaded {
  ls_adriver base;
  logstate *ls;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  queue to_worker, done; /* the requests for the worker, and those it finished, back to the loop */
  int stop;
  int dispatching, freed; /* th_free ran inside on_wake: free at its end */
  int pipe[2];            /* the worker wakes the loop with a byte */
  struct event *wake;
} threaded;

static void push(queue *q, ls_areq *r) {
  r->next = NULL;
  if (q->tail)
    q->tail->next = r;
  else
    q->head = r;
  q->tail = r;
}

static ls_areq *take_all(queue *q) {
  ls_areq *r = q->head;
  q->head = q->tail = NULL;
  return r;
}

/* Runs one request with the sync API, on the worker. */
static void run(logstate *ls, ls_areq *r) {
  logstate_status st = LOGSTATE_OK;
  switch (r->kind) {
  case LS_AREQ_INIT:
    st = logstate_init(ls);
    break;
  case LS_AREQ_LOGS:
    st = logstate_logs(ls, &r->ids, &r->n);
    break;
  case LS_AREQ_GET: {
    if (ls_core_by_version(ls)) { /* the version too: the async core checks it against what it saw */
      st = ls_backend_read_state(ls, "logstate_async_get_latest", r->log_id, r->log_id_len, &r->state);
      if (st == LOGSTATE_OK && r->state.version == 0)
        st = LOGSTATE_NOT_FOUND; /* its message is the async core's */
      break;
    }
    logstate_read *rd = NULL;
    if ((st = logstate_read_ops(ls, r->log_id, &rd)) == LOGSTATE_OK)
      st = logstate_read_get_latest(rd, &r->state.cp, &r->state.len);
    logstate_read_free(rd);
    break;
  }
  case LS_AREQ_OPEN: {
    logstate_write *w = NULL;
    if ((st = logstate_write_ops(ls, r->log_id, &w)) != LOGSTATE_OK)
      break;
    st = logstate_write_get_latest(w, &r->snap.state.cp, &r->snap.state.len);
    if (st == LOGSTATE_NOT_FOUND)
      st = LOGSTATE_OK; /* a snapshot of an absent log */
    if (st == LOGSTATE_OK) {
      r->snap.txn = w;
      r->snap.state.version = ls_write_version(w); /* the async core checks it against what it saw */
    } else
      logstate_write_close(w);
    break;
  }
  case LS_AREQ_HISTORY:
    st = logstate_history(ls, r->log_id, r->max, &r->hist, &r->nhist);
    break;
  case LS_AREQ_CONFIG:
    st = ls_cfg_run(ls->be, r->cfg);
    break;
  case LS_AREQ_SET: {
    logstate_write *w = r->snap.txn;
    r->snap.txn = NULL;
    st = logstate_write_set(w, r->cp, r->cp_len);
    logstate_write_close(w);
    break;
  }
  }
  ls_areq_result(r, st);
}

/* Sets against a version alone (the async core started from the state it
 * knows): compare-and-sets through the handle's group commit. */
static void cas_sets(logstate *ls, ls_areq *const *rs, size_t n) {
  ls_gcas g[LS_GROUP_MAX], *gp[LS_GROUP_MAX] = {0};
  for (size_t i = 0; i < n; i++) {
    g[i] = (ls_gcas){.req = {.log_id = rs[i]->log_id, .log_id_len = rs[i]->log_id_len, .expect = rs[i]->snap.state}};
    g[i].req.exact = 1;
    g[i].req.cp = rs[i]->cp;
    g[i].req.len = rs[i]->cp_len;
    gp[i] = &g[i];
  }
  ls_group_run_many(ls->group, ls->be, gp, n);
  for (size_t i = 0; i < n; i++) {
    ls_areq *r = rs[i];
    r->st = g[i].err.st;
    r->err = g[i].err;
    r->version = g[i].req.version;
    if ((r->fresh = g[i].req.fresh_known) != 0)
      r->state = g[i].req.fresh; /* moved whole */
  }
}

/* Sets of write objects (the async core read the log first). */
static void txn_sets(ls_areq *const *rs, size_t n) {
  logstate_write *ws[LS_GROUP_MAX] = {0};
  const uint8_t *cps[LS_GROUP_MAX] = {0};
  size_t lens[LS_GROUP_MAX] = {0};
  ls_saved_error errs[LS_GROUP_MAX];
  for (size_t i = 0; i < n; i++) {
    ws[i] = rs[i]->snap.txn;
    cps[i] = rs[i]->cp;
    lens[i] = rs[i]->cp_len;
  }
  ls_write_set_many(ws, cps, lens, errs, n);
  for (size_t i = 0; i < n; i++) {
    rs[i]->version = ls_write_version(ws[i]) + 1; /* what an OK set made */
    logstate_write_close(ws[i]);
    rs[i]->snap.txn = NULL;
    rs[i]->st = errs[i].st;
    rs[i]->err = errs[i];
  }
}

/* The SET requests from `r` on, while they follow each other (at most
 * LS_GROUP_MAX), in one go: through the backend's group commit they
 * commit together. Returns the first request after them. */
static ls_areq *run_sets(logstate *ls, ls_areq *r, queue *finished) {
  ls_areq *cas[LS_GROUP_MAX], *txn[LS_GROUP_MAX];
  size_t ncas = 0, ntxn = 0;
  for (; r && r->kind == LS_AREQ_SET && ncas + ntxn < LS_GROUP_MAX; r = r->next) {
    if (r->snap.txn)
      txn[ntxn++] = r;
    else
      cas[ncas++] = r;
  }
  if (ncas)
    cas_sets(ls, cas, ncas);
  if (ntxn)
    txn_sets(txn, ntxn);
  for (size_t i = 0; i < ncas; i++)
    push(finished, cas[i]);
  for (size_t i = 0; i < ntxn; i++)
    push(finished, txn[i]);
  return r;
}

/* Runs what was queued, in order; consecutive sets as one batch. */
static void run_all(threaded *t, ls_areq *r, queue *finished) {
  while (r) {
    if (r->kind == LS_AREQ_SET) {
      r = run_sets(t->ls, r, finished);
      continue;
    }
    ls_areq *next = r->next;
    run(t->ls, r);
    push(finished, r);
    r = next;
  }
}

static void *worker(void *arg) {
  threaded *t = arg;
  pthread_mutex_lock(&t->mu);
  for (;;) {
    while (t->to_worker.head == NULL && !t->stop)
      pthread_cond_wait(&t->cv, &t->mu);
    if (t->stop)
      break;
    /* Everything queued: the sets among it commit together. r->owner
     * belongs to the loop's thread: not read here. A request abandoned by
     * logstate_async_free is still queued only until th_free stops this
     * thread, which takes no job after `stop`. */
    ls_areq *r = take_all(&t->to_worker);
    pthread_mutex_unlock(&t->mu);
    queue finished = {NULL, NULL};
    run_all(t, r, &finished);
    pthread_mutex_lock(&t->mu);
    int was_empty = t->done.head == NULL;
    for (ls_areq *f = take_all(&finished); f;) {
      ls_areq *next = f->next;
      push(&t->done, f);
      f = next;
    }
    if (was_empty) { /* one byte per batch; the loop takes the whole batch */
      ssize_t w = write(t->pipe[1], "", 1);
      (void)w; /* a full pipe already holds a wake-up */
    }
  }
  pthread_mutex_unlock(&t->mu);
  return NULL;
}

static void on_wake(evutil_socket_t fd, short what, void *arg) {
  (void)what;
  threaded *t = arg;
  char buf[64];
  while (read(fd, buf, sizeof(buf)) > 0) {
  }
  pthread_mutex_lock(&t->mu);
  ls_areq *r = take_all(&t->done);
  pthread_mutex_unlock(&t->mu);
  /* A callback may free the handle, and with it this driver: th_free then
   * leaves the memory to us, and the rest of the batch has no owner. */
  t->dispatching = 1;
  while (r) {
    ls_areq *next = r->next;
    if (t->freed)
      r->owner = NULL;
    ls_areq_finish(&t->base, r);
    r = next;
  }
  t->dispatching = 0;
  if (t->freed) {
    event_free(t->wake);
    free(t);
  }
}

static void th_submit(ls_adriver *d, ls_areq *r) {
  threaded *t = (threaded *)d;
  pthread_mutex_lock(&t->mu);
  push(&t->to_worker, r);
  pthread_cond_signal(&t->cv);
  pthread_mutex_unlock(&t->mu);
}

static void th_release(ls_adriver *d, ls_asnap *s) {
  (void)d;
  /* Closing a write object without a set only frees memory: it never
   * blocks, so it may run on the loop. */
  logstate_write_close(s->txn);
  s->txn = NULL;
}

static void drop_all(threaded *t, ls_areq *r) {
  while (r) {
    ls_areq *next = r->next;
    r->owner = NULL;
    ls_areq_finish(&t->base, r);
    r = next;
  }
}

static void th_free(ls_adriver *d) {
  threaded *t = (threaded *)d;
  pthread_mutex_lock(&t->mu);
  t->stop = 1;
  pthread_cond_signal(&t->cv);
  pthread_mutex_unlock(&t->mu);
  pthread_join(t->thread, NULL); /* waits for the request it is running, if any */
  drop_all(t, take_all(&t->to_worker));
  drop_all(t, take_all(&t->done));
  close(t->pipe[0]);
  close(t->pipe[1]);
  logstate_free(t->ls);
  pthread_cond_destroy(&t->cv);
  pthread_mutex_destroy(&t->mu);
  if (t->dispatching) {
    event_del(t->wake);
    t->freed = 1;
    return;
  }
  event_free(t->wake);
  free(t);
}

/* The sync handle's counters (its rollbacks and conflicts: it keeps the
 * marks here). */
static void th_stats(ls_adriver *d, logstate_stats *out) {
  logstate_stats in;
  if (logstate_get_stats(((threaded *)d)->ls, &in) != LOGSTATE_OK)
    return;
  out->cache_hits += in.cache_hits;
  out->cache_misses += in.cache_misses;
  out->rollbacks += in.rollbacks;
  out->conflicts += in.conflicts;
  out->group_commits += in.group_commits;
  out->group_sets += in.group_sets;
  out->group_waiting += in.group_waiting;
}

static const ls_adriver_methods threaded_methods = {
    .submit = th_submit,
    .stats = th_stats,
    .release = th_release,
    .free = th_free,
};

/* Over a backend with read_state and cas (memory, SQLite): an update may
 * start from the state the async core knows, and set against it. */
static const ls_adriver_methods threaded_cas_methods = {
    .cas_by_version = 1,
    .cas_expects_cp = 1,
    .submit = th_submit,
    .stats = th_stats,
    .release = th_release,
    .free = th_free,
};

logstate_status ls_adriver_threaded_new(ls_adriver **out, struct event_base *base, logstate *ls) {
  threaded *t = calloc(1, sizeof(*t));
  if (t == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "logstate_async_open: out of memory");
  t->pipe[0] = t->pipe[1] = -1;
  if (pipe(t->pipe) != 0 || fcntl(t->pipe[0], F_SETFL, O_NONBLOCK) != 0 ||
      fcntl(t->pipe[1], F_SETFL, O_NONBLOCK) != 0 || fcntl(t->pipe[0], F_SETFD, FD_CLOEXEC) != 0 ||
      fcntl(t->pipe[1], F_SETFD, FD_CLOEXEC) != 0 ||
      (t->wake = event_new(base, t->pipe[0], EV_READ | EV_PERSIST, on_wake, t)) == NULL ||
      event_add(t->wake, NULL) != 0) {
    int e = errno;
    if (t->wake)
      event_free(t->wake);
    if (t->pipe[0] >= 0)
      close(t->pipe[0]);
    if (t->pipe[1] >= 0)
      close(t->pipe[1]);
    free(t);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "logstate_async_open: cannot set up the worker's pipe: %s", strerror(e));
  }
  pthread_mutex_init(&t->mu, NULL);
  pthread_cond_init(&t->cv, NULL);
  t->base.m = ls_core_by_version(ls) ? &threaded_cas_methods : &threaded_methods;
  t->ls = ls;
  if (pthread_create(&t->thread, NULL, worker, t) != 0) {
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    event_free(t->wake);
    close(t->pipe[0]);
    close(t->pipe[1]);
    free(t);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "logstate_async_open: cannot start the worker thread");
  }
  *out = &t->base;
  return LOGSTATE_OK;
}

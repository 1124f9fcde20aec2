/* SPDX-License-Identifier: Apache-2.0 */
/* The async API's core, the same over every driver: argument checks, the
 * callbacks and their exactly-once rule, per-log queues, and the update loop
 * (its policy from policy.c, shared with the sync API).
 *
 * Lifetimes:
 * - An op finishes exactly once, in finish(): from a request's result, a
 *   backoff or validation failure, or logstate_async_free(). Its request,
 *   if one is still out, is abandoned (owner = NULL); the driver drops it.
 * - The handle's memory lives until no call from the loop is on the stack
 *   (`depth`) and no write object refers to it (`refs`), so a callback may
 *   free the handle.
 * - Sets and updates of one handle on one log wait in that log's lane and
 *   run one at a time, in order: one handle never races itself. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "async/core.h"

/* --- handle lifetime ---------------------------------------------------- */

void ls_async_destroy(logstate_async *a) {
  ls_lanes_free(&a->lanes);
  ls_cache_free(a->cache);
  ls_cache_free(a->marks);
  ls_opstats_free(a->opstats);
  free(a);
}

void ls_async_enter(logstate_async *a) { a->depth++; }

void ls_async_leave(logstate_async *a) {
  if (--a->depth == 0 && a->closing && a->refs == 0)
    ls_async_destroy(a);
}

static void op_free(op *o) {
  if (o->timer)
    event_free(o->timer);
  free(o->log_id);
  free(o->cp);
  free(o->snap.cp);
  free(o);
}

static int start(op *o);
static void finish(op *o, logstate_status st, const uint8_t *cp, size_t len, const char *const *ids, size_t n,
                   logstate_async_write *w);

/* Takes `o` out of its lane and starts the op behind it. */
static void lane_leave(op *o) {
  logstate_async *a = o->a;
  ls_lane *l = o->lane;
  if (l == NULL)
    return;
  o->lane = NULL;
  op *next = (op *)ls_lane_pop(&a->lanes, l, &o->li);
  if (next && !a->closing && !start(next))
    finish(next, LOGSTATE_RESOURCE_EXHAUSTED, NULL, 0, NULL, 0, NULL);
}

/* Tells the operations hook and the statistics, before the callback. */
static void report(op *o, logstate_status st) {
  static const logstate_op_kind kinds[] = {
      [OP_INIT] = LOGSTATE_OP_INIT,      [OP_LOGS] = LOGSTATE_OP_LOGS,     [OP_GET] = LOGSTATE_OP_GET,
      [OP_OPEN] = LOGSTATE_OP_WRITE_OPS, [OP_SET] = LOGSTATE_OP_WRITE_SET, [OP_UPDATE] = LOGSTATE_OP_UPDATE,
      [OP_HISTORY] = LOGSTATE_OP_HISTORY};
  logstate_op_info info = {.kind = kinds[o->kind],
                           .log_id = o->log_id,
                           .status = st,
                           .latency_us = ls_now_us() - o->t0_us,
                           .round_trips = o->round_trips,
                           .retries = o->kind == OP_UPDATE ? o->attempt - 1 : 0,
                           .is_async = 1};
  ls_op_report(&o->a->policy, o->a->opstats, &info);
}

/* Finishes an op: exactly once. A non-OK status's message must already be
 * recorded. */
static void finish(op *o, logstate_status st, const uint8_t *cp, size_t len, const char *const *ids, size_t n,
                   logstate_async_write *w) {
  logstate_async *a = o->a;
  o->finished = 1;
  if (o->prev)
    o->prev->next = o->next;
  else
    a->ops = o->next;
  if (o->next)
    o->next->prev = o->prev;
  if (o->req)
    o->req->owner = NULL; /* the driver drops it */
  o->req = NULL;
  if (o->timer)
    evtimer_del(o->timer);
  if (o->snap.txn)
    a->drv->m->release(a->drv, &o->snap);
  lane_leave(o);
  report(o, st);
  switch (o->kind) {
  case OP_GET:
    o->get_cb(st, cp, len, o->arg);
    break;
  case OP_LOGS:
    o->logs_cb(st, ids, n, o->arg);
    break;
  case OP_OPEN:
    o->write_cb(st, w, o->arg);
    break;
  case OP_HISTORY:
    o->history_cb(st, st == LOGSTATE_OK && o->nhist ? o->hist : NULL, st == LOGSTATE_OK ? o->nhist : 0, o->arg);
    break;
  default:
    o->done_cb(st, o->arg);
    break;
  }
  if (!o->busy)
    op_free(o);
}

static void finish_status(op *o, logstate_status st) { finish(o, st, NULL, 0, NULL, 0, NULL); }

void ls_aop_finish_all(logstate_async *a) {
  while (a->ops) {
    ls_err(LOGSTATE_UNAVAILABLE, "logstate_async_free: the handle was freed with the operation pending");
    finish_status(a->ops, LOGSTATE_UNAVAILABLE);
  }
}

/* --- running ops -------------------------------------------------------- */

static void on_done(ls_areq *r);

/* Sends a request for `o`; 0 (RESOURCE_EXHAUSTED recorded) when out of
 * memory. A SET hands the op's snapshot and checkpoint to the request. */
static int submit(op *o, ls_areq_kind kind) {
  logstate_async *a = o->a;
  ls_areq *r = ls_areq_new(kind);
  if (r == NULL || (o->log_id && (r->log_id = ls_memdup(o->log_id, o->log_id_len)) == NULL)) {
    free(r);
    ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "logstate async: out of memory");
    return 0;
  }
  r->log_id_len = o->log_id_len;
  r->max = o->max;
  if (kind == LS_AREQ_SET) {
    r->snap = o->snap;
    memset(&o->snap, 0, sizeof(o->snap));
    r->cp = o->cp;
    r->cp_len = o->cp_len;
    o->cp = NULL;
  }
  r->owner = o;
  r->done = on_done;
  o->req = r;
  o->mark_before = o->log_id ? ls_mark_before(a->marks, o->log_id, o->log_id_len) : 0;
  a->drv->m->submit(a->drv, r);
  return 1;
}

/* The handle's cache of each log's state: only with a driver that sets
 * against a version (Redis); the threaded driver needs its transaction. */
static void cache_put(op *o, const ls_asnap *s) {
  if (o->a->drv->m->cas_by_version)
    ls_cache_put(o->a->cache, o->log_id, o->log_id_len, s->version, s->cp, s->len);
}

static void cache_drop(op *o) { ls_cache_drop(o->a->cache, o->log_id, o->log_id_len); }

/* The request found the log at `version`: below what the handle had seen
 * when it went, the store went back (FAILED_PRECONDITION recorded). Only
 * with a driver that reports versions. */
static logstate_status mark(op *o, uint64_t version) {
  logstate_async *a = o->a;
  if (!a->drv->m->cas_by_version)
    return LOGSTATE_OK;
  logstate_status st = ls_mark_seen(a->marks, "logstate async", o->log_id, o->log_id_len, o->mark_before, version);
  if (st != LOGSTATE_OK) {
    a->rollbacks++;
    cache_drop(o);
  }
  return st;
}

static void mark_set(op *o, uint64_t version) {
  if (o->a->drv->m->cas_by_version)
    ls_cache_raise(o->a->marks, o->log_id, o->log_id_len, version);
}

static void run_later(op *o, uint64_t us, int apply) {
  struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
  o->apply_next = apply;
  evtimer_add(o->timer, &tv);
}

/* An update starts from the cached state when there is one: fn then runs on
 * the next loop iteration (never inside the submit), and the set follows. */
static int update_start(op *o) {
  logstate_async *a = o->a;
  if (a->drv->m->cas_by_version &&
      ls_cache_get(a->cache, o->log_id, o->log_id_len, &o->snap.version, &o->snap.cp, &o->snap.len)) {
    a->cache_hits++;
    o->from_cache = 1;
    run_later(o, 0, 1);
    return 1;
  }
  return submit(o, LS_AREQ_OPEN);
}

/* The first request of an op; sets and updates start when their lane gets
 * to them. */
static int start(op *o) {
  static const ls_areq_kind first[] = {
      [OP_INIT] = LS_AREQ_INIT, [OP_LOGS] = LS_AREQ_LOGS, [OP_GET] = LS_AREQ_GET,
      [OP_OPEN] = LS_AREQ_OPEN, [OP_SET] = LS_AREQ_SET,   [OP_HISTORY] = LS_AREQ_HISTORY};
  return o->kind == OP_UPDATE ? update_start(o) : submit(o, first[o->kind]);
}

static void apply(op *o);

static void on_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  op *o = arg;
  logstate_async *a = o->a;
  ls_async_enter(a);
  if (o->apply_next)
    apply(o);
  else if (!submit(o, LS_AREQ_OPEN))
    finish_status(o, LOGSTATE_RESOURCE_EXHAUSTED);
  ls_async_leave(a);
}

/* Calls fn on o->snap, then sets what it returned. An outcome without a set
 * decided on the cached state waits for a read that confirms the state. */
static void apply(op *o) {
  logstate_async *a = o->a;
  uint8_t *next = NULL;
  size_t next_len = 0;
  logstate_status st;
  o->busy = 1; /* fn may free the handle, which finishes this op */
  int set = ls_update_apply("logstate_async_update", &a->policy, o->fn, o->fn_arg, o->log_id, o->log_id_len, o->snap.cp,
                            o->snap.len, &next, &next_len, &st);
  o->busy = 0;
  if (o->finished) {
    free(next);
    op_free(o);
    return;
  }
  if (!set && o->from_cache) {
    ls_error_save(&o->decided, st);
    o->confirming = 1;
    if (!submit(o, LS_AREQ_OPEN))
      finish_status(o, LOGSTATE_RESOURCE_EXHAUSTED);
    return;
  }
  if (!set) {
    finish_status(o, st); /* OK: no change */
    return;
  }
  free(o->snap.cp);
  o->snap.cp = NULL;
  o->cp = next;
  o->cp_len = next_len;
  if (!submit(o, LS_AREQ_SET))
    finish_status(o, LOGSTATE_RESOURCE_EXHAUSTED);
}

/* The update read the log: confirm a decision, or run fn on the state. */
static void update_read_done(op *o, ls_areq *r) {
  logstate_status st = r->st == LOGSTATE_OK ? mark(o, r->snap.version) : r->st;
  if (st != LOGSTATE_OK) {
    cache_drop(o);
    finish_status(o, st);
    return;
  }
  cache_put(o, &r->snap);
  if (o->confirming && r->snap.version == o->snap.version) {
    finish_status(o, ls_error_restore(&o->decided));
    return;
  }
  o->confirming = 0;
  o->from_cache = 0;
  free(o->snap.cp);
  o->snap = r->snap;
  memset(&r->snap, 0, sizeof(r->snap));
  apply(o);
}

/* The update's set returned: done, or retry: at once on the current state
 * the lost race brought back, else after a backoff and a read. */
static void update_set_done(op *o, ls_areq *r) {
  uint64_t us;
  if (r->st == LOGSTATE_OK) {
    ls_asnap stored = {.version = r->out_version, .cp = r->cp, .len = r->cp_len};
    cache_put(o, &stored);
    mark_set(o, r->out_version);
  }
  if (r->st == LOGSTATE_ABORTED && r->fresh && mark(o, r->snap.version) != LOGSTATE_OK) {
    finish_status(o, LOGSTATE_FAILED_PRECONDITION);
    return;
  }
  if (r->st != LOGSTATE_ABORTED) {
    if (r->st != LOGSTATE_OK)
      cache_drop(o);
    finish_status(o, r->st);
    return;
  }
  if (r->fresh)
    cache_put(o, &r->snap);
  else
    cache_drop(o);
  if (!ls_update_retry("logstate_async_update", &o->a->policy, o->attempt++, r->fresh, o->log_id, o->log_id_len, &us)) {
    finish_status(o, LOGSTATE_ABORTED);
    return;
  }
  if (!r->fresh || us) { /* read again after the backoff: the state the race told is stale by then */
    run_later(o, us, 0);
    return;
  }
  o->from_cache = 0;
  o->snap = r->snap;
  memset(&r->snap, 0, sizeof(r->snap));
  apply(o);
}

static void open_done(op *o, ls_areq *r) {
  logstate_async *a = o->a;
  logstate_status st = r->st == LOGSTATE_OK ? mark(o, r->snap.version) : r->st;
  logstate_async_write *w = st == LOGSTATE_OK ? calloc(1, sizeof(*w)) : NULL;
  if (st != LOGSTATE_OK || w == NULL) {
    finish_status(o, st != LOGSTATE_OK ? st : ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "logstate async: out of memory"));
    return;
  }
  w->a = a;
  cache_put(o, &r->snap);
  w->snap = r->snap; /* the transaction takes over the snapshot and the ID */
  memset(&r->snap, 0, sizeof(r->snap));
  w->log_id = o->log_id;
  w->log_id_len = o->log_id_len;
  o->log_id = NULL;
  w->next = a->writes;
  if (a->writes)
    a->writes->prev = w;
  a->writes = w;
  a->refs++;
  finish(o, LOGSTATE_OK, NULL, 0, NULL, 0, w);
}

static void on_done(ls_areq *r) {
  op *o = r->owner;
  logstate_async *a = o->a;
  o->req = NULL;
  o->round_trips += r->round_trips;
  ls_async_enter(a);
  switch (o->kind) {
  case OP_LOGS:
    if (r->st == LOGSTATE_OK)
      ls_sort_unique(r->ids, &r->n);
    finish(o, r->st, NULL, 0, r->st == LOGSTATE_OK ? (const char *const *)r->ids : NULL,
           r->st == LOGSTATE_OK ? r->n : 0, NULL);
    break;
  case OP_GET: {
    logstate_status st = r->st;
    if (st == LOGSTATE_OK || st == LOGSTATE_NOT_FOUND) /* a log the handle saw must not vanish */
      st = mark(o, st == LOGSTATE_OK ? r->out_version : 0) == LOGSTATE_OK ? st : LOGSTATE_FAILED_PRECONDITION;
    finish(o, st, st == LOGSTATE_OK ? r->out_cp : NULL, st == LOGSTATE_OK ? r->out_len : 0, NULL, 0, NULL);
    break;
  }
  case OP_OPEN:
    open_done(o, r);
    break;
  case OP_HISTORY: /* the request frees the entries after this */
    o->hist = r->hist;
    o->nhist = r->nhist;
    finish_status(o, r->st);
    break;
  case OP_UPDATE:
    if (r->kind == LS_AREQ_OPEN)
      update_read_done(o, r);
    else
      update_set_done(o, r);
    break;
  case OP_SET: /* a write object's set: what it leaves the cache knowing */
    if (r->st == LOGSTATE_OK) {
      ls_asnap stored = {.version = r->out_version, .cp = r->cp, .len = r->cp_len};
      cache_put(o, &stored);
      mark_set(o, r->out_version);
    } else if (r->st == LOGSTATE_ABORTED && r->fresh) {
      cache_put(o, &r->snap);
    } else {
      cache_drop(o);
    }
    finish_status(o, r->st);
    break;
  default: /* INIT */
    finish_status(o, r->st);
    break;
  }
  ls_async_leave(a);
}

/* --- submitting --------------------------------------------------------- */

static logstate_status check_handle(const char *fn, logstate_async *a, const void *cb) {
  if (a == NULL || cb == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: %s is NULL", fn, a ? "callback" : "handle");
  if (a->closing)
    return ls_err(LOGSTATE_FAILED_PRECONDITION, "%s: the handle is being freed", fn);
  return LOGSTATE_OK;
}

/* A new op, linked into the handle; with `log_id`, the ID is checked and
 * copied. NULL with the status recorded. */
op *ls_aop_new(const char *fn, logstate_async *a, op_kind kind, const char *log_id, void *arg, logstate_status *st) {
  size_t n = 0;
  if (log_id && (*st = ls_check_log_id(fn, log_id, &n)) != LOGSTATE_OK)
    return NULL;
  op *o = calloc(1, sizeof(*o));
  if (o == NULL || (log_id && (o->log_id = ls_memdup(log_id, n)) == NULL) ||
      (kind == OP_UPDATE && (o->timer = evtimer_new(a->base, on_timer, o)) == NULL)) {
    if (o)
      op_free(o);
    *st = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "%s: out of memory", fn);
    return NULL;
  }
  o->a = a;
  o->kind = kind;
  o->arg = arg;
  o->t0_us = ls_now_us();
  o->log_id_len = n;
  o->attempt = 1;
  o->next = a->ops;
  if (a->ops)
    a->ops->prev = o;
  a->ops = o;
  *st = LOGSTATE_OK;
  return o;
}

/* The start of every submit: the handle, callback and log ID checked, and
 * a new op. NULL with *st recorded. */
static op *begin(const char *fn, logstate_async *a, op_kind kind, const void *cb, const char *log_id, void *arg,
                 logstate_status *st) {
  int needs_id = kind == OP_GET || kind == OP_OPEN || kind == OP_UPDATE || kind == OP_HISTORY;
  *st = check_handle(fn, a, cb);
  if (*st == LOGSTATE_OK && needs_id && log_id == NULL)
    *st = ls_check_log_id(fn, log_id, NULL);
  return *st == LOGSTATE_OK ? ls_aop_new(fn, a, kind, log_id, arg, st) : NULL;
}

/* Undoes op_new for an op that never got going: no callback. */
void ls_aop_abandon(op *o) {
  logstate_async *a = o->a;
  if (o->prev)
    o->prev->next = o->next;
  else
    a->ops = o->next;
  if (o->next)
    o->next->prev = o->prev;
  if (o->lane) {
    ls_lane_pop(&a->lanes, o->lane, &o->li); /* it was the head: nothing waits behind it yet */
    o->lane = NULL;
  }
  op_free(o);
}

/* Starts `o` now, or queues it behind its log's earlier sets and updates. */
logstate_status ls_aop_launch(const char *fn, op *o, int laned) {
  int run = 1;
  if (laned && (o->lane = ls_lane_push(&o->a->lanes, o->log_id, o->log_id_len, &o->li, &run)) == NULL) {
    ls_aop_abandon(o);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "%s: out of memory", fn);
  }
  if (run && !start(o)) {
    ls_aop_abandon(o);
    return LOGSTATE_RESOURCE_EXHAUSTED;
  }
  return LOGSTATE_OK;
}

logstate_status logstate_async_init(logstate_async *a, logstate_async_done_cb cb, void *arg) {
  logstate_status st;
  op *o = begin("logstate_async_init", a, OP_INIT, (const void *)cb, NULL, arg, &st);
  if (o == NULL)
    return st;
  o->done_cb = cb;
  return ls_aop_launch("logstate_async_init", o, 0);
}

logstate_status logstate_async_logs(logstate_async *a, logstate_async_logs_cb cb, void *arg) {
  logstate_status st;
  op *o = begin("logstate_async_logs", a, OP_LOGS, (const void *)cb, NULL, arg, &st);
  if (o == NULL)
    return st;
  o->logs_cb = cb;
  return ls_aop_launch("logstate_async_logs", o, 0);
}

logstate_status logstate_async_get_latest(logstate_async *a, const char *log_id, logstate_async_get_cb cb, void *arg) {
  logstate_status st;
  op *o = begin("logstate_async_get_latest", a, OP_GET, (const void *)cb, log_id, arg, &st);
  if (o == NULL)
    return st;
  o->get_cb = cb;
  return ls_aop_launch("logstate_async_get_latest", o, 0);
}

logstate_status logstate_async_history(logstate_async *a, const char *log_id, size_t max, logstate_async_history_cb cb,
                                       void *arg) {
  static const char name[] = "logstate_async_history";
  logstate_status st;
  if (a != NULL && cb != NULL && (max < 1 || max > LOGSTATE_MAX_HISTORY))
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: max must be 1 to %d (%zu given)", name, LOGSTATE_MAX_HISTORY, max);
  op *o = begin(name, a, OP_HISTORY, (const void *)cb, log_id, arg, &st);
  if (o == NULL)
    return st;
  o->history_cb = cb;
  o->max = max;
  return ls_aop_launch(name, o, 0);
}

logstate_status logstate_async_write_ops(logstate_async *a, const char *log_id, logstate_async_write_cb cb, void *arg) {
  logstate_status st;
  op *o = begin("logstate_async_write_ops", a, OP_OPEN, (const void *)cb, log_id, arg, &st);
  if (o == NULL)
    return st;
  o->write_cb = cb;
  return ls_aop_launch("logstate_async_write_ops", o, 0);
}

logstate_status logstate_async_update(logstate_async *a, const char *log_id, logstate_update_fn fn, void *fn_arg,
                                      logstate_async_done_cb cb, void *arg) {
  static const char name[] = "logstate_async_update";
  logstate_status st;
  if (a != NULL && cb != NULL && fn == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: update function is NULL", name);
  op *o = begin(name, a, OP_UPDATE, (const void *)cb, log_id, arg, &st);
  if (o == NULL)
    return st;
  o->fn = fn;
  o->fn_arg = fn_arg;
  o->done_cb = cb;
  return ls_aop_launch(name, o, 1);
}

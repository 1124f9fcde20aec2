/* SPDX-License-Identifier: Apache-2.0 */
/* The async API's core, the same over every driver: argument checks, the
 * callbacks and their exactly-once rule, the turns of sets and updates on a
 * log (logtab.h), and the requests the update engine asks for (engine.h,
 * the same engine as the sync API's).
 *
 * Lifetimes:
 * - An op finishes exactly once, in finish(): from a request's result, a
 *   backoff or validation failure, or logstate_async_free(). Its request,
 *   if one is still out, is abandoned (owner = NULL); the driver drops it.
 * - The handle's memory lives until no call from the loop is on the stack
 *   (`depth`) and no write object refers to it (`refs`), so a callback may
 *   free the handle.
 * - Sets and updates of one handle on one log take turns (logtab.h) and run
 *   one at a time, in order: one handle never races itself.
 * - An update is the engine's (engine.h); this file only does what it asks. */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "async/core.h"
#include "configs.h"

/* --- handle lifetime ---------------------------------------------------- */

void ls_async_destroy(logstate_async *a) {
  ls_logtab_free(a->tab);
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
  free(o->snap.state.cp);
  ls_upd_end(&o->u);
  if (o->cfg)
    ls_cfg_op_release(o->cfg);
  free(o->cfg);
  free(o);
}

static int start(op *o);
static void finish(op *o, logstate_status st, const uint8_t *cp, size_t len, const char *const *ids, size_t n,
                   logstate_async_write *w);

/* Gives up the op's turn and starts the op whose turn it is now. */
static void turn_leave(op *o) {
  logstate_async *a = o->a;
  if (!o->queued)
    return;
  o->queued = 0;
  ls_turn *t = ls_logtab_leave(a->tab, &o->turn);
  op *next = t ? (op *)((char *)t - offsetof(op, turn)) : NULL;
  if (next && !a->closing && !start(next))
    finish(next, LOGSTATE_RESOURCE_EXHAUSTED, NULL, 0, NULL, 0, NULL);
}

/* Tells the operations hook and the statistics, before the callback. */
static void report(op *o, logstate_status st) {
  static const logstate_op_kind kinds[] = {
      [OP_INIT] = LOGSTATE_OP_INIT,       [OP_LOGS] = LOGSTATE_OP_LOGS,     [OP_GET] = LOGSTATE_OP_GET,
      [OP_OPEN] = LOGSTATE_OP_WRITE_OPS,  [OP_SET] = LOGSTATE_OP_WRITE_SET, [OP_UPDATE] = LOGSTATE_OP_UPDATE,
      [OP_HISTORY] = LOGSTATE_OP_HISTORY, [OP_CONFIG] = LOGSTATE_OP_CONFIG};
  logstate_op_info info = {.kind = kinds[o->kind],
                           .log_id = o->log_id,
                           .status = st,
                           .latency_us = ls_now_us() - o->t0_us,
                           .round_trips = o->round_trips,
                           .retries = o->kind == OP_UPDATE && o->u.attempt ? o->u.attempt - 1 : 0,
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
  turn_leave(o);
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
  case OP_CONFIG:
    o->cfg_done(o, st);
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

/* Whether the driver sets against a version: then the handle keeps states
 * and marks (the threaded driver's sync handle keeps its own). */
static int by_version(const logstate_async *a) { return a->drv->m->cas_by_version; }

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
  if (kind == LS_AREQ_CONFIG) { /* the request owns it while it is out */
    r->cfg = o->cfg;
    o->cfg = NULL;
  }
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
  if (o->kind != OP_UPDATE && o->log_id && by_version(a))
    o->mark_before = ls_logtab_seen(a->tab, o->log_id, o->log_id_len);
  a->drv->m->submit(a->drv, r);
  return 1;
}

/* The request found the log at `version` (cp: its checkpoint, kept when
 * `keep`): FAILED_PRECONDITION when the store went back. */
static logstate_status saw(op *o, uint64_t version, const uint8_t *cp, size_t len, int keep) {
  logstate_async *a = o->a;
  if (!by_version(a))
    return LOGSTATE_OK;
  return ls_logtab_saw(a->tab, "logstate async", o->log_id, o->log_id_len, o->mark_before, version, cp, len, keep);
}

/* --- updates: the engine's requests ------------------------------------- */

static void drive(op *o, ls_upd_next next);

static void run_later(op *o, uint64_t us, int applies) {
  struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
  o->timer_applies = applies;
  evtimer_add(o->timer, &tv);
}

/* Runs the update function; the handle may be freed inside it. */
static void apply(op *o) {
  o->busy = 1;
  ls_upd_next next = ls_upd_apply(&o->u);
  o->busy = 0;
  if (o->finished) {
    op_free(o);
    return;
  }
  drive(o, next);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  op *o = arg;
  logstate_async *a = o->a;
  ls_async_enter(a);
  if (o->timer_applies)
    apply(o);
  else
    drive(o, ls_upd_waited(&o->u));
  ls_async_leave(a);
}

/* A SET against a version alone: the checkpoint of that version too, for
 * a driver whose backend compares it (0 when out of memory, recorded). */
static int expect_cp(op *o) {
  free(o->snap.state.cp);
  o->snap.state.cp = NULL;
  o->snap.state.len = 0;
  if (o->u.cp && (o->snap.state.cp = ls_memdup(o->u.cp, o->u.len)) == NULL) {
    ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "logstate async: out of memory");
    return 0;
  }
  o->snap.state.len = o->u.cp ? o->u.len : 0;
  return 1;
}

/* Does what the engine asks. */
static void drive(op *o, ls_upd_next next) {
  switch (next) {
  case LS_UPD_READ:
    if (o->snap.txn) /* a transaction read before, not set: the new one replaces it */
      o->a->drv->m->release(o->a->drv, &o->snap);
    if (!submit(o, LS_AREQ_OPEN))
      finish_status(o, LOGSTATE_RESOURCE_EXHAUSTED);
    break;
  case LS_UPD_APPLY:
    apply(o);
    break;
  case LS_UPD_SET:
    ls_upd_take_next(&o->u, &o->cp, &o->cp_len);
    o->snap.state.version = o->u.version;
    if (!o->snap.txn && o->a->drv->m->cas_expects_cp && !expect_cp(o)) {
      finish_status(o, LOGSTATE_RESOURCE_EXHAUSTED);
      break;
    }
    if (!submit(o, LS_AREQ_SET))
      finish_status(o, LOGSTATE_RESOURCE_EXHAUSTED);
    break;
  case LS_UPD_WAIT:
    run_later(o, o->u.delay_us, 0);
    break;
  case LS_UPD_DONE:
    finish_status(o, o->u.st);
    break;
  }
}

/* The first step of an update. fn never runs inside the submit: on a known
 * state it runs on the next loop iteration. */
static int update_start(op *o) {
  logstate_async *a = o->a;
  o->u.fn_name = "logstate_async_update";
  o->u.policy = &a->policy;
  o->u.by_version = by_version(a);
  o->u.tab = o->u.by_version ? a->tab : NULL;
  o->u.log_id = o->log_id;
  o->u.log_id_len = o->log_id_len;
  ls_upd_next next = ls_upd_begin(&o->u);
  if (next == LS_UPD_APPLY) {
    run_later(o, 0, 1);
    return 1;
  }
  return submit(o, LS_AREQ_OPEN);
}

static void update_done(op *o, ls_areq *r) {
  if (r->kind == LS_AREQ_OPEN) {
    o->snap.txn = r->snap.txn; /* the threaded driver's transaction, for the set */
    r->snap.txn = NULL;
    logstate_backend_state s = r->snap.state; /* to the engine, whole */
    r->snap.state.cp = NULL;
    drive(o, ls_upd_read(&o->u, r->st, s.version, s.cp, s.len));
    return;
  }
  logstate_backend_state now = r->state;
  r->state.cp = NULL;
  drive(o, ls_upd_set(&o->u, r->st, r->version, r->cp, r->cp_len, r->fresh, now.version, now.cp, now.len));
}

/* The first request of an op; sets and updates start when their turn
 * comes. */
static int start(op *o) {
  static const ls_areq_kind first[] = {
      [OP_INIT] = LS_AREQ_INIT, [OP_LOGS] = LS_AREQ_LOGS,       [OP_GET] = LS_AREQ_GET,      [OP_OPEN] = LS_AREQ_OPEN,
      [OP_SET] = LS_AREQ_SET,   [OP_HISTORY] = LS_AREQ_HISTORY, [OP_CONFIG] = LS_AREQ_CONFIG};
  return o->kind == OP_UPDATE ? update_start(o) : submit(o, first[o->kind]);
}

/* --- the other kinds ---------------------------------------------------- */

static void open_done(op *o, ls_areq *r) {
  logstate_async *a = o->a;
  logstate_status st =
      r->st == LOGSTATE_OK ? saw(o, r->snap.state.version, r->snap.state.cp, r->snap.state.len, 1) : r->st;
  logstate_async_write *w = st == LOGSTATE_OK ? calloc(1, sizeof(*w)) : NULL;
  if (st != LOGSTATE_OK || w == NULL) {
    finish_status(o, st != LOGSTATE_OK ? st : ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "logstate async: out of memory"));
    return;
  }
  w->a = a;
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

/* A write object's set: what it leaves the handle knowing. */
static void set_done(op *o, ls_areq *r) {
  logstate_async *a = o->a;
  logstate_status st = r->st;
  if (by_version(a) && st == LOGSTATE_OK)
    ls_logtab_stored(a->tab, o->log_id, o->log_id_len, r->version, r->cp, r->cp_len);
  else if (st == LOGSTATE_ABORTED && r->fresh && saw(o, r->state.version, r->state.cp, r->state.len, 1) != LOGSTATE_OK)
    st = LOGSTATE_FAILED_PRECONDITION;
  else if (st != LOGSTATE_OK && !(st == LOGSTATE_ABORTED && r->fresh))
    ls_logtab_forget(a->tab, o->log_id, o->log_id_len);
  if (by_version(a) && r->st == LOGSTATE_ABORTED) /* the threaded driver's handle counts its own */
    ls_logtab_conflict(a->tab);
  finish_status(o, st);
}

static void get_done(op *o, ls_areq *r) {
  logstate_status st = r->st;
  if (st == LOGSTATE_OK || st == LOGSTATE_NOT_FOUND) /* a log the handle saw must not vanish */
    st =
        saw(o, st == LOGSTATE_OK ? r->state.version : 0, NULL, 0, 0) == LOGSTATE_OK ? st : LOGSTATE_FAILED_PRECONDITION;
  if (st == LOGSTATE_NOT_FOUND)
    ls_not_found(o->log_id, o->log_id_len); /* the message, once, for every driver */
  finish(o, st, st == LOGSTATE_OK ? r->state.cp : NULL, st == LOGSTATE_OK ? r->state.len : 0, NULL, 0, NULL);
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
  case OP_GET:
    get_done(o, r);
    break;
  case OP_OPEN:
    open_done(o, r);
    break;
  case OP_HISTORY: /* the request frees the entries after this */
    o->hist = r->hist;
    o->nhist = r->nhist;
    finish_status(o, r->st);
    break;
  case OP_UPDATE:
    update_done(o, r);
    break;
  case OP_CONFIG: /* back from the request, finished as the sync API finishes it */
    o->cfg = r->cfg;
    r->cfg = NULL;
    finish_status(o, ls_cfg_finish(o->cfg, r->st));
    break;
  case OP_SET:
    set_done(o, r);
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
  o->next = a->ops;
  if (a->ops)
    a->ops->prev = o;
  a->ops = o;
  *st = LOGSTATE_OK;
  return o;
}

op *ls_aop_begin(const char *fn, logstate_async *a, op_kind kind, const void *cb, const char *log_id, void *arg,
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
  if (o->queued) {
    ls_logtab_leave(a->tab, &o->turn); /* it was first: nothing waits behind it yet */
    o->queued = 0;
  }
  op_free(o);
}

/* Starts `o` now, or queues it behind its log's earlier sets and updates. */
logstate_status ls_aop_launch(const char *fn, op *o, int laned) {
  int run = 1;
  if (laned && (run = ls_logtab_enter(o->a->tab, o->log_id, o->log_id_len, &o->turn)) < 0) {
    ls_aop_abandon(o);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "%s: out of memory", fn);
  }
  o->queued = laned;
  if (run && !start(o)) {
    ls_aop_abandon(o);
    return LOGSTATE_RESOURCE_EXHAUSTED;
  }
  return LOGSTATE_OK;
}

logstate_status logstate_async_init(logstate_async *a, logstate_async_done_cb cb, void *arg) {
  logstate_status st;
  op *o = ls_aop_begin("logstate_async_init", a, OP_INIT, (const void *)cb, NULL, arg, &st);
  if (o == NULL)
    return st;
  o->done_cb = cb;
  return ls_aop_launch("logstate_async_init", o, 0);
}

logstate_status logstate_async_logs(logstate_async *a, logstate_async_logs_cb cb, void *arg) {
  logstate_status st;
  op *o = ls_aop_begin("logstate_async_logs", a, OP_LOGS, (const void *)cb, NULL, arg, &st);
  if (o == NULL)
    return st;
  o->logs_cb = cb;
  return ls_aop_launch("logstate_async_logs", o, 0);
}

logstate_status logstate_async_get_latest(logstate_async *a, const char *log_id, logstate_async_get_cb cb, void *arg) {
  logstate_status st;
  op *o = ls_aop_begin("logstate_async_get_latest", a, OP_GET, (const void *)cb, log_id, arg, &st);
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
  op *o = ls_aop_begin(name, a, OP_HISTORY, (const void *)cb, log_id, arg, &st);
  if (o == NULL)
    return st;
  o->history_cb = cb;
  o->max = max;
  return ls_aop_launch(name, o, 0);
}

logstate_status logstate_async_write_ops(logstate_async *a, const char *log_id, logstate_async_write_cb cb, void *arg) {
  logstate_status st;
  op *o = ls_aop_begin("logstate_async_write_ops", a, OP_OPEN, (const void *)cb, log_id, arg, &st);
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
  op *o = ls_aop_begin(name, a, OP_UPDATE, (const void *)cb, log_id, arg, &st);
  if (o == NULL)
    return st;
  o->u.fn = fn;
  o->u.fn_arg = fn_arg;
  o->done_cb = cb;
  return ls_aop_launch(name, o, 1);
}

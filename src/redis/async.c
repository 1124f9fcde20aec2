/* SPDX-License-Identifier: Apache-2.0 */
/* The async Redis driver, on hiredis's async client and libevent: requests
 * pipelined on one connection (async_conn.c), a timer per request (hiredis
 * 0.14 has none). What to send and how to judge the replies is the
 * protocol module's (proto.h); this file only moves plans and replies.
 *
 * Lifetimes: a request (rreq) lives until it is finished AND hiredis has
 * handed back every reply it owed (`pending`: hiredis calls each command's
 * callback exactly once, with NULL when the connection goes). The driver
 * lives until it is freed and no call from the loop is on its stack. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "redis/async_int.h"

/* --- requests ----------------------------------------------------------- */

static void on_rq_timer(evutil_socket_t fd, short what, void *arg);

rreq *ls_ra_rreq_new(radrv *d, ls_areq *r) {
  rreq *q = calloc(1, sizeof(*q));
  if (q == NULL || (q->timer = evtimer_new(d->evb, on_rq_timer, q)) == NULL) {
    free(q);
    return NULL;
  }
  q->d = d;
  q->r = r;
  q->prev = d->reqs_tail;
  if (d->reqs_tail)
    d->reqs_tail->next = q;
  else
    d->reqs = q;
  d->reqs_tail = q;
  return q;
}

static void unlink_rq(rreq *q) {
  radrv *d = q->d;
  if (q->prev)
    q->prev->next = q->next;
  else
    d->reqs = q->next;
  if (q->next)
    q->next->prev = q->prev;
  else
    d->reqs_tail = q->prev;
  q->prev = q->next = NULL;
}

/* The connection's set-up failed (a refused AUTH, say): the requests sent
 * behind it fail with the same status, and the connection goes. */
static void setup_failed(radrv *d, logstate_status st) {
  char msg[700];
  snprintf(msg, sizeof(msg), "%s", logstate_last_error());
  for (rreq *q = d->reqs, *next; q; q = next) {
    next = q->next;
    if (q->state == RQ_SENT && !q->finished && !q->settle.active) { /* a set being settled waits for its deadline */
      ls_err(st, "%s", msg);
      ls_ra_finish_rq(q, st);
    }
  }
  ls_ra_drop_connection(d, msg);
}

/* The op's results go to the core's request whole: a log's state as the
 * protocol module found it, the list, the entries. */
static void hand_over(rreq *q, ls_areq *r, logstate_status st) {
  ls_rp_op *op = &q->op;
  if (st == LOGSTATE_OK && op->kind == LS_RP_GET) {
    r->state = op->u.read.state;
    op->u.read.state.cp = NULL;
  } else if (st == LOGSTATE_OK && op->kind == LS_RP_OPEN) {
    r->snap.state = op->u.read.state;
    op->u.read.state.cp = NULL;
  } else if (st == LOGSTATE_OK && op->kind == LS_RP_SET) {
    r->version = op->u.set.version;
  } else if (st == LOGSTATE_ABORTED && op->kind == LS_RP_SET && op->u.set.fresh) {
    r->state = op->u.set.now; /* the current state, from the script or a settling read */
    op->u.set.now.cp = NULL;
    r->fresh = 1;
  } else if (op->kind == LS_RP_HISTORY) { /* on failure too: the core frees what was copied */
    r->hist = op->u.history.hist;
    r->nhist = op->u.history.nhist;
    op->u.history.hist = NULL;
    op->u.history.nhist = 0;
  } else if (st == LOGSTATE_OK && op->kind == LS_RP_LOGS) {
    r->ids = op->u.logs.ids;
    r->n = op->u.logs.n;
    op->u.logs = (ls_rp_logs){NULL, 0};
  }
}

/* Finishes a request: hands the op's results to the core's request. */
void ls_ra_finish_rq(rreq *q, logstate_status st) {
  radrv *d = q->d;
  q->finished = 1;
  q->in_finish = 1; /* dropping the connection below hands back its replies */
  unlink_rq(q);
  evtimer_del(q->timer);
  ls_ra_ask_stop(q);
  ls_ra_replies_clear(&q->rs);
  ls_areq *r = q->r;
  q->r = NULL;
  if (r)
    r->round_trips = q->round_trips;
  ls_rp_op_failed(&d->p, d->gen, &q->op, st);
  if (r == NULL) {
    if (st != LOGSTATE_OK && !d->closing)
      setup_failed(d, st);
  } else {
    hand_over(q, r, st);
    ls_areq_result(r, st);
    ls_areq_finish(&d->base, r);
  }
  if (d->ac && !d->closing && !ls_rp_target_current(&d->p, d->gen))
    ls_ra_drop_connection(d, "the primary was lost; finding it again");
  q->in_finish = 0;
  if (q->pending == 0)
    ls_ra_rreq_free(q);
}

/* MOVED: nothing of the op ran. It waits, with a new timeout, for the
 * connection to the slot's new owner, which is made as soon as every
 * request sent on this one has its answer (they are for the same slot and
 * come back MOVED too). */
static void requeue(rreq *q) {
  radrv *d = q->d;
  ls_ra_replies_clear(&q->rs);
  ls_rp_restart(&q->op);
  q->state = RQ_WAITING;
  ls_ra_arm_timeout(q);
  for (rreq *o = d->reqs; o; o = o->next)
    if (o->state == RQ_SENT && !o->finished)
      return;
  ls_ra_drop_connection(d, "MOVED: the slot has a new owner");
  evtimer_del(d->reconnect_timer);
  ls_ra_connect_now(d);
}

/* The deadline of a set being settled (rules.c), or the pause before its
 * next read, whichever comes first. */
static void arm_settle_timer(rreq *q, int pause) {
  uint64_t now = ls_now_us(), left = q->settle.deadline_us > now ? q->settle.deadline_us - now : 0;
  if (pause && left > LS_RP_SETTLE_PAUSE_MS * 1000)
    left = LS_RP_SETTLE_PAUSE_MS * 1000;
  struct timeval tv = {(time_t)(left / 1000000), (suseconds_t)(left % 1000000)};
  q->settle_pause = pause;
  evtimer_add(q->timer, &tv);
}

/* A request whose connection went with it in flight (or with its settling
 * read): a set waits for a new connection, up to the rules' deadline from
 * the first loss, and then reads the log (`settle.rd`) to decide what it
 * did. 0 when the rules say to fail it (the caller does). */
static int start_settling(rreq *q, const char *why) {
  radrv *d = q->d;
  if (q->r == NULL || d->closing || ls_rp_after_loss_of(&q->op, 0, 0) != LS_RP_SETTLE ||
      ls_rp_settle_begin(&d->p, &q->settle, &q->op, why, ls_now_us()) != LOGSTATE_OK)
    return 0;
  arm_settle_timer(q, 0);
  ls_ra_replies_clear(&q->rs);
  q->state = RQ_WAITING;
  return 1;
}

/* The read of a set being settled is in: decide (proto.h), or look again
 * after a pause when the read failed too. */
static void settle_judged(rreq *q, const redisReply *const *all, int n) {
  radrv *d = q->d;
  logstate_status st;
  if (!ls_rp_judge(&d->p, &q->settle.rd, all, n, &st)) {
    ls_ra_send_plan(q);
    return;
  }
  if (st == LOGSTATE_UNAVAILABLE && !ls_rp_settle_expired(&q->settle, ls_now_us())) {
    snprintf(q->settle.why, sizeof(q->settle.why), "%s", logstate_last_error());
    ls_rp_restart(&q->settle.rd);
    ls_ra_replies_clear(&q->rs);
    q->state = RQ_WAITING;
    arm_settle_timer(q, 1);
    return;
  }
  if (st != LOGSTATE_OK) {
    snprintf(q->settle.why, sizeof(q->settle.why), "%s", logstate_last_error());
    ls_ra_finish_rq(q, st == LOGSTATE_UNAVAILABLE ? ls_rp_settle_give_up(&d->p, &q->settle) : st);
    return;
  }
  int again;
  q->settle.active = 0;
  evtimer_del(q->timer);
  st = ls_rp_settle(&d->p, &q->op, &q->settle.rd, &again);
  if (again) { /* the same compare-and-set again */
    ls_rp_restart(&q->op);
    ls_ra_send_plan(q);
  } else {
    ls_ra_finish_rq(q, st);
  }
}

/* Judges the complete replies of the plan in flight and goes on: the next
 * plan, MOVED's wait for the new owner, or the end of the request. */
static void judge_plan(rreq *q, const redisReply *const *all, int n);

static void on_reply(redisAsyncContext *ac, void *reply, void *priv) {
  rreq *q = priv;
  redisReply *r = reply;
  q->pending--;
  if (q->finished) {
    if (q->pending == 0 && !q->in_finish)
      ls_ra_rreq_free(q);
    return;
  }
  radrv *d = q->d;
  const redisReply *all[LS_RP_MAX_CMDS];
  int taken;
  ls_ra_enter(d);
  if (r == NULL) {
    const char *why = ac->c.errstr[0] ? ac->c.errstr : d->conn_error[0] ? d->conn_error : "connection closed";
    if (!start_settling(q, why))
      ls_ra_finish_rq(q, ls_rp_failed(&d->p, &q->op, 0, why));
  } else if ((taken = ls_ra_replies_take(&q->rs, r, all)) < 0) {
    ls_ra_finish_rq(q, ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory keeping a reply"));
  } else if (taken == 1) {
    evtimer_del(q->timer);
    if (!ls_ra_ask_start(q, all))
      judge_plan(q, all, q->rs.expect);
  }
  ls_ra_leave(d);
}

static void judge_plan(rreq *q, const redisReply *const *all, int n) {
  radrv *d = q->d;
  logstate_status st;
  if (q->settle.active) { /* its deadline timer keeps running */
    settle_judged(q, all, n);
    return;
  }
  evtimer_del(q->timer);
  if (!ls_rp_judge(&d->p, &q->op, all, n, &st))
    ls_ra_send_plan(q); /* the next plan: NOSCRIPT's reload */
  else if (q->r && ls_rp_redirect(&q->op, st))
    requeue(q);
  else
    ls_ra_finish_rq(q, st);
}

/* Fails `q` on the next loop iteration: never inside a submit. */
static void defer_failure(rreq *q, logstate_status st) {
  q->state = RQ_FAILING;
  q->fail_st = st;
  snprintf(q->fail_msg, sizeof(q->fail_msg), "%s", logstate_last_error());
  struct timeval zero = {0, 0};
  evtimer_add(q->timer, &zero);
}

/* Sends the op's next plan: one round trip, one timeout. */
void ls_ra_send_plan(rreq *q) {
  radrv *d = q->d;
  ls_rp_plan plan;
  ls_ra_replies_clear(&q->rs);
  ls_rp_plan_next(&d->p, q->settle.active ? &q->settle.rd : &q->op, &plan);
  for (int i = 0; i < plan.n; i++) {
    if (redisAsyncCommandArgv(d->ac, on_reply, q, plan.cmd[i].argc, ls_rp_argv(&plan.cmd[i]),
                              ls_rp_lens(&plan.cmd[i])) != REDIS_OK) {
      ls_err(LOGSTATE_UNAVAILABLE, "redis: the connection is closing");
      defer_failure(q, LOGSTATE_UNAVAILABLE);
      return;
    }
    q->pending++;
  }
  q->rs.expect = plan.n;
  q->state = RQ_SENT;
  d->round_trips++;
  q->round_trips++;
  if (!q->settle.active)
    ls_ra_arm_timeout(q);
}

static void on_rq_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  rreq *q = arg;
  radrv *d = q->d;
  char msg[100];
  ls_ra_enter(d);
  if (q->state == RQ_FAILING) {
    ls_err(q->fail_st, "%s", q->fail_msg);
    ls_ra_finish_rq(q, q->fail_st);
  } else if (q->settle.active && q->settle_pause && !ls_rp_settle_expired(&q->settle, ls_now_us())) {
    arm_settle_timer(q, 0); /* the pause is over: read again, now or on the next connection */
    if (d->ac && q->state == RQ_WAITING)
      ls_ra_send_plan(q);
  } else if (q->settle.active) { /* no connection told what the set did in time */
    ls_ra_finish_rq(q, ls_rp_settle_give_up(&d->p, &q->settle));
    if (!d->closing && d->ac && q->state == RQ_SENT)
      ls_ra_drop_connection(d, "dropped after a request timed out");
  } else if (q->state == RQ_WAITING || q->state == RQ_ASKING) { /* the main connection owes it nothing */
    ls_ra_finish_rq(q, ls_rp_timed_out(&d->p, &q->op));
  } else {
    /* Later replies queue behind the missing one: the connection is stuck.
     * A set sent on it may have applied: it is resolved on a new one. */
    snprintf(msg, sizeof(msg), "dropped after a request timed out after %u ms", ls_rp_timeout_ms(&d->p, &q->op));
    if (!start_settling(q, msg))
      ls_ra_finish_rq(q, ls_rp_timed_out(&d->p, &q->op));
    if (!d->closing)
      ls_ra_drop_connection(d, msg);
  }
  ls_ra_leave(d);
}

static void finish_failed(radrv *d) {
  while (d->failed) {
    ls_areq *r = d->failed;
    d->failed = r->next;
    ls_areq_finish(&d->base, r);
  }
}

static void on_fail_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  radrv *d = arg;
  ls_ra_enter(d);
  finish_failed(d);
  ls_ra_leave(d);
}

/* Upcall: the requests waiting for a connection fail with `st` and the
 * last error's message. */
static void fail_waiting(radrv *d, logstate_status st) {
  char msg[700];
  snprintf(msg, sizeof(msg), "%s", logstate_last_error());
  for (rreq *q = d->reqs, *next; q; q = next) {
    next = q->next;
    if (q->state == RQ_WAITING && !q->settle.active) { /* a set being resolved waits for its deadline */
      ls_err(st, "%s", msg);
      ls_ra_finish_rq(q, st);
    }
  }
}

/* Upcall: a new connection. The CONNECT op (AUTH, SELECT, PING) goes
 * first, the requests that waited for the connection right behind it. */
static void connected(radrv *d) {
  rreq *setup = ls_ra_rreq_new(d, NULL), *last = setup;
  if (setup) {
    setup->op.kind = LS_RP_CONNECT;
    ls_rp_begin(&d->p, &setup->op);
    ls_ra_send_plan(setup);
  }
  for (rreq *q = d->reqs; q && d->ac && q != last; q = q->next)
    if (q->state == RQ_WAITING)
      ls_ra_send_plan(q);
}

static const ls_ra_upcalls upcalls = {.connected = connected, .fail_waiting = fail_waiting, .judge = judge_plan};

static const ls_rp_kind rp_kind[] = {LS_RP_INIT, LS_RP_LOGS,    LS_RP_GET,   LS_RP_OPEN,
                                     LS_RP_SET,  LS_RP_HISTORY, LS_RP_CONFIG};

static void rd_submit(ls_adriver *drv, ls_areq *r) {
  radrv *d = (radrv *)drv;
  char where[300];
  rreq *q = ls_ra_rreq_new(d, r);
  if (q == NULL) {
    /* Fail it on the next iteration with the driver's own timer, which
     * needs no memory. */
    ls_areq_result(r, ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory"));
    r->next = d->failed;
    d->failed = r;
    struct timeval zero = {0, 0};
    evtimer_add(d->fail_timer, &zero);
    return;
  }
  q->op = (ls_rp_op){.kind = rp_kind[r->kind], .log_id = r->log_id, .log_id_len = r->log_id_len};
  if (r->kind == LS_AREQ_SET)
    q->op.u.set = (ls_rp_set){.expect = r->snap.state.version, .cp = r->cp, .cp_len = r->cp_len};
  else if (r->kind == LS_AREQ_HISTORY)
    q->op.u.history.max = r->max;
  else if (r->kind == LS_AREQ_CONFIG)
    q->op.u.config.cfg = r->cfg; /* the results go straight to it */
  q->state = RQ_WAITING;
  if (ls_rp_begin(&d->p, &q->op) != LOGSTATE_OK) {
    defer_failure(q, LOGSTATE_RESOURCE_EXHAUSTED);
    return;
  }
  if (d->ac == NULL && !evtimer_pending(d->reconnect_timer, NULL))
    ls_ra_connect_now(d); /* a new connection sends what waits, this request included */
  if (d->ac) {
    if (q->state == RQ_WAITING)
      ls_ra_send_plan(q);
  } else if (d->lookup.pending || d->finding) { /* sent when the address is known; the timeout runs already */
    ls_ra_arm_timeout(q);
  } else {
    ls_redis_config_where(&d->p.cfg, where, sizeof(where));
    ls_err(LOGSTATE_UNAVAILABLE, "redis %s: not connected, reconnecting (%s)", where, d->conn_error);
    defer_failure(q, LOGSTATE_UNAVAILABLE);
  }
}

static void rd_release(ls_adriver *drv, ls_asnap *s) {
  (void)drv;
  s->txn = NULL; /* a version needs no release */
}

static void rd_stats(ls_adriver *drv, logstate_stats *out) {
  radrv *d = (radrv *)drv;
  out->round_trips += d->round_trips;
  out->connects += d->connects;
  out->script_reloads += atomic_load(&d->p.script_reloads);
  out->resolved += atomic_load(&d->p.resolved);
}

static void rd_free(ls_adriver *drv) {
  radrv *d = (radrv *)drv;
  ls_ra_enter(d);
  d->closing = 1;
  while (d->reqs) /* every owner is gone: this only frees */
    ls_ra_finish_rq(d->reqs, LOGSTATE_UNAVAILABLE);
  finish_failed(d);
  evtimer_del(d->fail_timer);
  ls_ra_discover_stop(d);
  ls_ra_lookup_cancel(&d->lookup);
  evtimer_del(d->reconnect_timer);
  evtimer_del(d->connect_timer);
  if (d->ac) {
    redisAsyncContext *ac = d->ac;
    d->ac = NULL;
    ac->data = NULL;
    redisAsyncFree(ac); /* deferred by hiredis when inside its callback */
  }
  ls_ra_leave(d);
}

static const ls_adriver_methods redis_async_methods = {
    .cas_by_version = 1,
    .submit = rd_submit,
    .release = rd_release,
    .stats = rd_stats,
    .free = rd_free,
};

logstate_status ls_adriver_redis_new(ls_adriver **out, struct event_base *base, ls_redis_config *cfg) {
  if (cfg->read_only)
    return ls_err(LOGSTATE_INVALID_ARGUMENT,
                  "logstate_async_open: mode=ro is not available on the async Redis driver; read through the sync API");
  radrv *d = calloc(1, sizeof(*d));
  if (d == NULL || (d->reconnect_timer = evtimer_new(base, ls_ra_on_reconnect_timer, d)) == NULL ||
      (d->connect_timer = evtimer_new(base, ls_ra_on_connect_timer, d)) == NULL ||
      (d->fail_timer = evtimer_new(base, on_fail_timer, d)) == NULL ||
      (d->sentinel_timer = evtimer_new(base, ls_ra_on_sentinel_timer, d)) == NULL) {
    if (d && d->reconnect_timer)
      event_free(d->reconnect_timer);
    if (d && d->connect_timer)
      event_free(d->connect_timer);
    if (d && d->fail_timer)
      event_free(d->fail_timer);
    free(d);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "logstate_async_open: out of memory");
  }
  d->base.m = &redis_async_methods;
  d->up = &upcalls;
  d->evb = base;
  d->p.cfg = *cfg; /* the driver owns the configuration now */
  memset(cfg, 0, sizeof(*cfg));
  ls_rp_proto_init(&d->p);
  d->backoff_ms = ls_rp_backoff_next(0);
  *out = &d->base;
  return LOGSTATE_OK;
}

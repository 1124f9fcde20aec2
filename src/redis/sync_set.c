/* SPDX-License-Identifier: Apache-2.0 */
/* The sync Redis driver's compare-and-sets (the cas method): one on a
 * pooled connection, or a batch of them pipelined on one connection (one
 * round trip, and Redis fsyncs them together), and settling a set whose
 * reply was lost with its connection. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis/sync_int.h"

/* The set script alone, without WATCH: it compares the version itself. */
static logstate_status cas_on(redis_backend *b, conn *k, ls_rp_op *op, int *io_failed) {
  op->u.set.watch = 0;
  ls_rp_restart(op);
  return ls_rs_run_op(b, k, op, io_failed);
}

/* One look at the log on a new connection (`s->rd`): what the set did,
 * and for LS_RP_NOT_APPLIED the same compare-and-set once more.
 * UNAVAILABLE when the connection failed again (look again). */
static logstate_status resolve_once(redis_backend *b, ls_rp_op *set, ls_rp_settler *s) {
  conn *k = NULL;
  int reused, io_failed = 0, again = 0;
  logstate_status st = ls_rs_conn_acquire(b, &k, &reused);
  if (st == LOGSTATE_OK && (st = ls_rs_run_op(b, k, &s->rd, &io_failed)) == LOGSTATE_OK &&
      (st = ls_rp_settle(&b->p, set, &s->rd, &again)) == LOGSTATE_OK && again)
    st = cas_on(b, k, set, &io_failed);
  if (k)
    ls_rs_conn_release(b, k);
  return st;
}

logstate_status ls_rs_resolve_set(redis_backend *b, ls_rp_op *set) {
  ls_rp_settler s = {.active = 0};
  logstate_status st;
  while ((st = ls_rp_settle_begin(&b->p, &s, set, logstate_last_error(), ls_now_us())) == LOGSTATE_OK) {
    st = resolve_once(b, set, &s);
    if (st != LOGSTATE_UNAVAILABLE || set->redirected || set->u.set.undecided)
      break;
    if (ls_rp_settle_expired(&s, ls_now_us())) {
      snprintf(s.why, sizeof(s.why), "%s", logstate_last_error());
      st = ls_rp_settle_give_up(&b->p, &s);
      break;
    }
    struct timespec pause = {0, LS_RP_SETTLE_PAUSE_MS * 1000000L};
    nanosleep(&pause, NULL);
  }
  ls_rp_settle_end(&s);
  return st;
}

/* One set on a pooled connection, settled when its reply is lost, and
 * sent on to the slot's new owner after MOVED. */
static logstate_status cas_one(redis_backend *b, ls_rp_op *op) {
  conn *k = NULL;
  int reused = 0, io_failed = 0;
  logstate_status st = ls_rs_conn_acquire(b, &k, &reused);
  if (st != LOGSTATE_OK)
    return st;
  st = cas_on(b, k, op, &io_failed);
  if (io_failed) { /* sent, or maybe not: ask the store (a pooled connection gone stale, a cut) */
    ls_rs_conn_release(b, k);
    k = NULL;
    st = ls_rs_resolve_set(b, op);
  }
  /* MOVED: the script did not run; to the slot's new owner. */
  while (k && ls_rp_redirect(op, st)) {
    ls_rs_conn_release(b, k);
    k = NULL;
    if ((st = ls_rs_conn_acquire(b, &k, &reused)) == LOGSTATE_OK)
      st = cas_on(b, k, op, &io_failed);
  }
  if (k)
    ls_rs_conn_release(b, k);
  return st;
}

/* The request's outcome from its op. */
static void finish(ls_rp_op *op, logstate_backend_cas *r, logstate_status st) {
  if (st == LOGSTATE_OK)
    r->version = op->u.set.version;
  if (st == LOGSTATE_ABORTED && op->u.set.fresh) {
    r->fresh = op->u.set.now; /* moved whole */
    op->u.set.now.cp = NULL;
    r->fresh_known = 1;
  }
  logstate_backend_cas_result(r, st);
}

/* Reads the replies of `plan` into r: 0 when the connection died first. */
static int read_replies(conn *k, const ls_rp_plan *plan, redisReply **r) {
  for (int j = 0; j < plan->n; j++) {
    void *reply = NULL;
    if (redisGetReply(k->c, &reply) != REDIS_OK || reply == NULL)
      return 0;
    r[j] = reply;
  }
  return 1;
}

/* Sends the first plan of every op in one write; `more[i]` says which ops
 * the replies left unfinished (NOSCRIPT), and the return value is the first
 * op whose replies were lost with the connection (n: none). */
static size_t pipeline_once(redis_backend *b, conn *k, ls_rp_op *ops, logstate_backend_cas *const *reqs, size_t n,
                            ls_rp_plan *plans, int *more) {
  for (size_t i = 0; i < n; i++) {
    ls_rp_plan_next(&b->p, &ops[i], &plans[i]);
    for (int j = 0; j < plans[i].n; j++)
      redisAppendCommandArgv(k->c, plans[i].cmd[j].argc, ls_rp_argv(&plans[i].cmd[j]), ls_rp_lens(&plans[i].cmd[j]));
  }
  atomic_fetch_add(&b->round_trips, 1);
  ls_tl_round_trips++;
  for (size_t i = 0; i < n; i++) {
    redisReply *r[LS_RP_MAX_CMDS] = {0};
    logstate_status st = LOGSTATE_OK;
    int whole = read_replies(k, &plans[i], r);
    more[i] = whole && !ls_rp_judge(&b->p, &ops[i], (const redisReply *const *)r, plans[i].n, &st);
    for (int j = 0; j < plans[i].n; j++)
      if (r[j])
        freeReplyObject(r[j]);
    if (!whole)
      return i;
    if (!more[i]) {
      ls_rp_op_failed(&b->p, k->gen, &ops[i], st);
      finish(&ops[i], reqs[i], st);
    }
  }
  return n;
}

/* The set after ops[i] chained on it (expecting exactly what ops[i]
 * stores), or n. */
static size_t successor(const ls_rp_op *ops, size_t i, size_t n) {
  const ls_rp_set *a = &ops[i].u.set;
  for (size_t j = i + 1; j < n; j++) {
    const ls_rp_set *c = &ops[j].u.set;
    if (c->expect_cp && c->expect == a->expect + 1 && c->expect_len == a->cp_len &&
        ops[j].log_id_len == ops[i].log_id_len && memcmp(ops[j].log_id, ops[i].log_id, ops[i].log_id_len) == 0 &&
        memcmp(c->expect_cp, a->cp, a->cp_len) == 0)
      return j;
  }
  return n;
}

/* Settles ops[i], whose reply was lost, and records it (and, through the
 * chain, the sets after it). A log that moved on past it tells nothing of
 * it alone, but when the set chained on it applied, it applied too: the
 * chained set ran only on exactly the state it made. */
static logstate_status settle_lost(redis_backend *b, ls_rp_op *ops, logstate_backend_cas *const *reqs, size_t n,
                                   size_t i, int *done, int err, const char *errstr) {
  ls_rp_failed(&b->p, &ops[i], err, errstr); /* the message settling starts from */
  logstate_status st = ls_rs_resolve_set(b, &ops[i]);
  size_t j = successor(ops, i, n);
  if (st == LOGSTATE_UNAVAILABLE && ops[i].u.set.undecided && j < n && !done[j] &&
      settle_lost(b, ops, reqs, n, j, done, err, errstr) == LOGSTATE_OK) {
    st = LOGSTATE_OK;
    ops[i].u.set.version = ops[i].u.set.expect + 1;
  }
  finish(&ops[i], reqs[i], st);
  done[i] = 1;
  return st;
}

/* n sets pipelined on one connection. Those the replies left unfinished
 * (the script had to be loaded: none of them ran) go on one by one, in
 * order; those whose replies were lost are settled in order. */
static void pipeline(redis_backend *b, ls_rp_op *ops, logstate_backend_cas *const *reqs, size_t n) {
  ls_rp_plan *plans = malloc(n * sizeof(*plans));
  int more[LS_RS_BATCH] = {0}, done[LS_RS_BATCH] = {0}, reused, err = 0;
  char errstr[128] = "";
  conn *k = NULL;
  logstate_status st = plans ? ls_rs_conn_acquire(b, &k, &reused)
                             : ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory batching sets");
  size_t lost = 0;
  if (st == LOGSTATE_OK && (lost = pipeline_once(b, k, ops, reqs, n, plans, more)) < n) {
    err = k->c->err;
    snprintf(errstr, sizeof(errstr), "%s", k->c->errstr);
    ls_rp_op_failed(&b->p, k->gen, &ops[lost], ls_rp_failed(&b->p, &ops[lost], err, errstr));
  }
  if (k)
    ls_rs_conn_release(b, k); /* before cas_one takes another: the pool may hold one */
  for (size_t i = 0; i < n; i++) {
    if (st != LOGSTATE_OK) { /* nothing was sent */
      logstate_backend_cas_result(reqs[i], st);
    } else if (i >= lost) {
      if (!done[i])
        settle_lost(b, ops, reqs, n, i, done, err, errstr);
    } else if (more[i]) {
      finish(&ops[i], reqs[i], cas_one(b, &ops[i]));
    }
  }
  free(plans);
}

/* The op of a request. */
static logstate_status op_for(redis_backend *b, ls_rp_op *op, const logstate_backend_cas *r) {
  *op = (ls_rp_op){.kind = LS_RP_SET,
                   .log_id = r->log_id,
                   .log_id_len = r->log_id_len,
                   .u.set = {.expect = r->expect.version, .cp = r->cp, .cp_len = r->len}};
  if (r->exact && r->expect.cp) {
    op->u.set.expect_cp = r->expect.cp;
    op->u.set.expect_len = r->expect.len;
  }
  return ls_rp_begin(&b->p, op);
}

void ls_rs_cas(logstate_backend *be, logstate_backend_cas *const *reqs, size_t n) {
  redis_backend *b = (redis_backend *)be;
  ls_rp_op one, *ops = n == 1 ? &one : calloc(n, sizeof(*ops));
  size_t begun = 0;
  logstate_status st = ops ? LOGSTATE_OK : ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory batching sets");
  while (st == LOGSTATE_OK && begun < n && (st = op_for(b, &ops[begun], reqs[begun])) == LOGSTATE_OK)
    begun++;
  if (st != LOGSTATE_OK) {
    if (begun < n && ops)
      ls_rp_end(&ops[begun]); /* what its failed begin holds */
    for (size_t i = 0; i < n; i++)
      logstate_backend_cas_result(reqs[i], st); /* nothing was sent */
  } else if (n == 1) {
    finish(&ops[0], reqs[0], cas_one(b, &ops[0]));
  } else {
    pipeline(b, ops, reqs, n);
  }
  for (size_t i = 0; i < begun; i++)
    ls_rp_end(&ops[i]);
  if (ops != &one)
    free(ops);
}

/* A cluster's logs live on several nodes: one set per call, each on its
 * own connection, so different logs still go in parallel. */
size_t ls_rs_cas_batch(logstate_backend *be) { return ((redis_backend *)be)->p.cfg.cluster ? 1 : LS_RS_BATCH; }

/* A lane per pooled connection: sets of different logs go out in parallel,
 * as they did one connection each, and batch when they meet. */
size_t ls_rs_cas_lanes(logstate_backend *be) { return ((redis_backend *)be)->p.cfg.pool; }

/* SPDX-License-Identifier: Apache-2.0 */
/* The sync Redis driver's pool of blocking connections: the primary found
 * (through the seeds under redis+sentinel and redis+cluster, primary.c),
 * connected with the handle's timeouts and set up by the CONNECT op, each
 * op's plans sent and judged, ASK followed on a connection of its own, and
 * the idempotent retry on a fresh connection. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis/sync_int.h"

static struct timeval ms_tv(unsigned int ms) {
  struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
  return tv;
}

void ls_rs_conn_drop(conn *k) {
  if (k->c)
    redisFree(k->c);
  k->c = NULL;
  k->watch_dirty = 0;
}

/* A blocking connection to host:port with the handle's timeouts, or NULL
 * with the status recorded ("cannot connect" naming `where`). */
static redisContext *connect_to(const ls_redis_config *c, const char *host, unsigned int port, const char *where,
                                logstate_status *st) {
  redisContext *ctx = c->unix_path ? redisConnectUnixWithTimeout(c->unix_path, ms_tv(c->connect_timeout_ms))
                                   : redisConnectWithTimeout(host, (int)port, ms_tv(c->connect_timeout_ms));
  if (ctx == NULL) {
    *st = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis %s: out of memory connecting", where);
    return NULL;
  }
  unsigned int t = ls_rp_longest_ms(c); /* a set's WAIT blocks up to replica_timeout_ms: give it room */
  if (ctx->err)
    *st = ls_err(LOGSTATE_UNAVAILABLE, "redis %s: cannot connect: %s", where, ctx->errstr);
  else if (redisSetTimeout(ctx, ms_tv(t)) != REDIS_OK || (!c->unix_path && redisEnableKeepAlive(ctx) != REDIS_OK))
    *st = ls_err(LOGSTATE_UNAVAILABLE, "redis %s: cannot set socket options: %s", where, ctx->errstr);
  else
    return ctx;
  redisFree(ctx);
  return NULL;
}

/* ASK (the slot is being migrated): the commands that got it go once more
 * to the node named, behind ASKING, on a connection of their own (primary.c
 * plans it), and their replies replace the ASK replies. When that fails the
 * ASK replies stay, and the op returns UNAVAILABLE. */
static void follow_ask(redis_backend *b, const ls_rp_op *op, const ls_rp_plan *plan, redisReply **r) {
  const ls_redis_config *c = &b->p.cfg;
  char host[LS_REDIS_MAX_HOST_LEN + 1], where[300];
  unsigned int port;
  uint64_t gen;
  int map[LS_RP_MAX_CMDS], n = 0, ok;
  ls_rp_plan out;
  if (!ls_rp_any_ask(c, (const redisReply *const *)r, plan->n))
    return; /* the common case: nothing to follow, no lock taken */
  ls_rp_target_get(&b->p, host, &port, &gen);
  if (!ls_rp_plan_ask(&b->p, op, plan, r, &out, map, host, &port))
    return;
  logstate_status st;
  snprintf(where, sizeof(where), "%s:%u (ASK)", host, port);
  redisContext *ctx = connect_to(c, host, port, where, &st);
  if (ctx == NULL)
    return;
  redisReply *got[LS_RP_MAX_CMDS] = {0};
  for (int j = 0; j < out.n; j++)
    redisAppendCommandArgv(ctx, out.cmd[j].argc, ls_rp_argv(&out.cmd[j]), ls_rp_lens(&out.cmd[j]));
  atomic_fetch_add(&b->round_trips, 1);
  ls_tl_round_trips++; /* the operation on this thread made it */
  while (n < out.n && redisGetReply(ctx, (void **)&got[n]) == REDIS_OK && got[n])
    n++;
  ok = n == out.n;
  for (int j = 0; j < n && ok; j++)
    ok = map[j] >= 0 || got[j]->type != REDIS_REPLY_ERROR;
  for (int j = 0; j < n; j++) {
    if (ok && map[j] >= 0) {
      freeReplyObject(r[map[j]]);
      r[map[j]] = got[j];
    } else {
      freeReplyObject(got[j]);
    }
  }
  redisFree(ctx);
}

/* Sends one plan and reads all its replies: one round trip. On an I/O error
 * the connection is dead (hiredis keeps c->err) and is dropped on release. */
static logstate_status exchange(redis_backend *b, conn *k, const ls_rp_op *op, const ls_rp_plan *plan, redisReply **r) {
  for (int i = 0; i < plan->n; i++)
    if (redisAppendCommandArgv(k->c, plan->cmd[i].argc, ls_rp_argv(&plan->cmd[i]), ls_rp_lens(&plan->cmd[i])) !=
        REDIS_OK)
      return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory building commands");
  atomic_fetch_add(&b->round_trips, 1);
  ls_tl_round_trips++; /* the operation on this thread made it */
  for (int i = 0; i < plan->n; i++) {
    void *reply = NULL;
    if (redisGetReply(k->c, &reply) != REDIS_OK || reply == NULL)
      return ls_rp_failed(&b->p, op, k->c->err, k->c->errstr);
    r[i] = reply;
  }
  if (b->p.cfg.cluster)
    follow_ask(b, op, plan, r);
  return LOGSTATE_OK;
}

/* Runs `op` to its end on `k`. `*io_failed` tells a dead connection from a
 * status the server's replies decided. */
logstate_status ls_rs_run_op(redis_backend *b, conn *k, ls_rp_op *op, int *io_failed) {
  logstate_status st;
  *io_failed = 0;
  if (op->kind == LS_RP_OPEN && op->u.read.watch)
    op->u.read.unwatch = k->watch_dirty;
  for (;;) {
    ls_rp_plan plan;
    redisReply *r[LS_RP_MAX_CMDS] = {0};
    ls_rp_plan_next(&b->p, op, &plan);
    st = exchange(b, k, op, &plan, r);
    int done = 1;
    if (st != LOGSTATE_OK)
      *io_failed = k->c->err != 0;
    else
      done = ls_rp_judge(&b->p, op, (const redisReply *const *)r, plan.n, &st);
    for (int i = 0; i < plan.n; i++)
      if (r[i])
        freeReplyObject(r[i]);
    if (op->kind == LS_RP_OPEN && op->u.read.watch)
      k->watch_dirty = 1;
    if (ls_rp_ends_watch(op) && !*io_failed)
      k->watch_dirty = 0; /* EXEC (or its EXECABORT) cleared the watch */
    if (done)
      break;
  }
  ls_rp_op_failed(&b->p, k->gen, op, st);
  return st;
}

/* Asks one seed (a sentinel or a cluster node) where the primary is: one
 * round trip. */
static logstate_status ask_seed(redis_backend *b, const ls_redis_addr *a) {
  char where[300];
  logstate_status st = LOGSTATE_OK;
  snprintf(where, sizeof(where), "%s %s:%u", ls_rp_seed_kind(&b->p.cfg), a->host, a->port);
  redisContext *ctx = connect_to(&b->p.cfg, a->host, a->port, where, &st);
  if (ctx) {
    ls_rp_plan plan;
    redisReply *r[LS_RP_MAX_CMDS] = {0};
    int n = 0;
    ls_rp_plan_discover(&b->p.cfg, &plan);
    for (int i = 0; i < plan.n; i++)
      redisAppendCommandArgv(ctx, plan.cmd[i].argc, ls_rp_argv(&plan.cmd[i]), ls_rp_lens(&plan.cmd[i]));
    atomic_fetch_add(&b->round_trips, 1);
    ls_tl_round_trips++; /* the operation on this thread made it */
    while (n < plan.n && redisGetReply(ctx, (void **)&r[n]) == REDIS_OK && r[n])
      n++;
    st = n < plan.n ? ls_redis_io_error(&b->p.cfg, ctx->err, ctx->errstr, "asking where the primary is")
                    : ls_rp_judge_discover(&b->p, (const redisReply *const *)r, n, a->host);
    for (int i = 0; i < n; i++)
      freeReplyObject(r[i]);
    redisFree(ctx);
  }
  return st;
}

/* Asks the seeds in turn until one names the primary (primary.c decides
 * when to stop). */
static logstate_status discover(redis_backend *b) {
  ls_rp_discovery d;
  const ls_redis_addr *a;
  ls_rp_discovery_start(&d);
  while ((a = ls_rp_discovery_seed(&b->p, &d)) != NULL && !ls_rp_discovery_answer(&b->p, &d, ask_seed(b, a))) {
  }
  return ls_rp_discovery_result(&b->p, &d);
}

/* Connects and prepares a connection: timeouts, keepalive, then the
 * CONNECT op (AUTH, SELECT, PING), all of it again on every reconnect
 * (redisReconnect would drop the timeouts). */
static logstate_status conn_connect(redis_backend *b, conn *k) {
  const ls_redis_config *c = &b->p.cfg;
  char where[600], host[LS_REDIS_MAX_HOST_LEN + 1];
  unsigned int port;
  uint64_t gen;
  logstate_status st = LOGSTATE_OK;
  ls_rs_conn_drop(k);
  if (!ls_rp_target_get(&b->p, host, &port, &gen) &&
      ((st = discover(b)) != LOGSTATE_OK || !ls_rp_target_get(&b->p, host, &port, &gen)))
    return st != LOGSTATE_OK ? st : ls_err(LOGSTATE_UNAVAILABLE, "redis: the primary was lost again at once; retry");
  char what[280];
  ls_redis_config_where(c, what, sizeof(what));
  if (c->nseeds)
    snprintf(where, sizeof(where), "%s:%u (%s)", host, port, what);
  else
    snprintf(where, sizeof(where), "%s", what);
  if ((k->c = connect_to(c, host, port, where, &st)) == NULL) {
    ls_rp_target_lost(&b->p, gen);
    return st;
  }
  k->gen = gen;
  atomic_fetch_add(&b->connects, 1);
  ls_rp_op op = {.kind = LS_RP_CONNECT};
  int io_failed;
  st = ls_rp_begin(&b->p, &op);
  if (st == LOGSTATE_OK)
    st = ls_rs_run_op(b, k, &op, &io_failed);
  ls_rp_end(&op);
  if (st != LOGSTATE_OK)
    ls_rs_conn_drop(k);
  return st;
}

static logstate_status pool_timeout(redis_backend *b) {
  return ls_err(LOGSTATE_RESOURCE_EXHAUSTED,
                "redis: all %u pool connections stayed busy for %u ms (raise pool, or close write ops sooner)",
                b->p.cfg.pool, b->p.cfg.timeout_ms);
}

/* Takes a connection from the pool, waiting up to timeout_ms for one.
 * `*reused` says whether it was already connected (it may have gone stale). */
logstate_status ls_rs_conn_acquire(redis_backend *b, conn **out, int *reused) {
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += b->p.cfg.timeout_ms / 1000;
  deadline.tv_nsec += (long)(b->p.cfg.timeout_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  conn *k = NULL;
  pthread_mutex_lock(&b->mu);
  while (b->nidle == 0 && b->created >= b->p.cfg.pool) {
    if (pthread_cond_timedwait(&b->cv, &b->mu, &deadline) == ETIMEDOUT && b->nidle == 0 &&
        b->created >= b->p.cfg.pool) {
      pthread_mutex_unlock(&b->mu);
      return pool_timeout(b);
    }
  }
  if (b->nidle > 0) {
    k = b->idle[--b->nidle];
  } else if ((k = calloc(1, sizeof(*k))) != NULL) {
    b->created++;
  }
  pthread_mutex_unlock(&b->mu);
  if (k == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
  *reused = k->c != NULL;
  if (k->c == NULL) {
    logstate_status st = conn_connect(b, k);
    if (st != LOGSTATE_OK) {
      pthread_mutex_lock(&b->mu);
      b->idle[b->nidle++] = k; /* an unconnected slot, tried again next time */
      pthread_cond_signal(&b->cv);
      pthread_mutex_unlock(&b->mu);
      return st;
    }
  }
  *out = k;
  return LOGSTATE_OK;
}

void ls_rs_conn_release(redis_backend *b, conn *k) {
  if (k->c && (k->c->err || !ls_rp_target_current(&b->p, k->gen)))
    ls_rs_conn_drop(k); /* dead, or to a primary since lost: reconnect on next use */
  pthread_mutex_lock(&b->mu);
  b->idle[b->nidle++] = k;
  pthread_cond_signal(&b->cv);
  pthread_mutex_unlock(&b->mu);
}

/* Runs an idempotent op (everything but a set): when a pooled connection
 * turns out dead, it retries once on a new one, so a server restart costs
 * no operation once the server is back. With `keep`, the connection stays
 * taken (a write transaction's). */
logstate_status ls_rs_run_idempotent(redis_backend *b, ls_rp_op *op, conn **keep) {
  for (unsigned int attempt = 0;; attempt++) {
    conn *k = NULL;
    int reused = 0, io_failed = 0;
    logstate_status st = ls_rs_conn_acquire(b, &k, &reused);
    if (st != LOGSTATE_OK)
      return st;
    ls_rp_restart(op);
    st = ls_rs_run_op(b, k, op, &io_failed);
    if (st == LOGSTATE_OK && keep) {
      *keep = k;
      return st;
    }
    /* Again: to the slot's new owner after MOVED, or after a loss the rules
     * say to run again (rules.c), or once when the connection was to a
     * primary that has just been found lost (a failover under way). */
    int again = ls_rp_redirect(op, st) ||
                (io_failed && k->c->err != REDIS_ERR_OOM && ls_rp_after_loss_of(op, reused, attempt) == LS_RP_RETRY) ||
                (attempt == 0 && st == LOGSTATE_UNAVAILABLE && !ls_rp_target_current(&b->p, k->gen));
    ls_rs_conn_release(b, k);
    if (!again)
      return st;
  }
}

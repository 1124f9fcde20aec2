/* SPDX-License-Identifier: Apache-2.0 */
/* The sync Redis driver (hiredis 0.14): a pool of blocking connections,
 * each operation a loop of plan, send, read the replies, judge (proto.h).
 *
 * Round trips: a read is one (HGET). A write transaction is two: open
 * pipelines [UNWATCH] WATCH + HMGET; set pipelines MULTI + EVALSHA + EXEC
 * [+ WAIT]. A close without set sends nothing: the connection remembers that
 * a WATCH may be active, and the next transaction on it pipelines UNWATCH in
 * front of its WATCH. The set script also compares the version read at open,
 * so the NOSCRIPT recovery (SCRIPT LOAD + EVALSHA, no MULTI) stays a
 * compare-and-set although EXEC has dropped the WATCH.
 *
 * Connections come from a pool. A write transaction keeps its connection
 * from open to close, and is never reconnected in between: a connection lost
 * there fails the transaction with UNAVAILABLE. Idempotent operations (read,
 * logs, init, opening a transaction) retry once on a fresh connection when a
 * pooled connection turns out to be dead, so a server restart costs no
 * operation once the server is back. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis/proto.h"

typedef struct conn {
  redisContext *c; /* NULL: not connected */
  int watch_dirty; /* a WATCH may still be active on this connection */
  uint64_t gen;    /* the primary's address it was made to (primary.c) */
} conn;

typedef struct redis_backend {
  logstate_backend base;
  ls_redis_proto p;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  conn **idle; /* stack of idle connections */
  unsigned int nidle;
  unsigned int created; /* conn structs handed out or idle, at most cfg.pool */
  atomic_uint_fast64_t round_trips, connects;
} redis_backend;

struct logstate_backend_txn {
  conn *k;
  ls_rp_op open; /* its results are the snapshot */
  char *log_id;
};

static const logstate_backend_methods redis_methods;

/* --- connections -------------------------------------------------------- */

static struct timeval ms_tv(unsigned int ms) {
  struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
  return tv;
}

static void conn_drop(conn *k) {
  if (k->c)
    redisFree(k->c);
  k->c = NULL;
  k->watch_dirty = 0;
}

/* Sends one plan and reads all its replies: one round trip. On an I/O error
 * the connection is dead (hiredis keeps c->err) and is dropped on release. */
static logstate_status exchange(redis_backend *b, conn *k, const ls_rp_op *op, const ls_rp_plan *plan, redisReply **r) {
  for (int i = 0; i < plan->n; i++)
    if (redisAppendCommandArgv(k->c, plan->cmd[i].argc, (const char **)plan->cmd[i].argv, plan->cmd[i].len) != REDIS_OK)
      return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory building commands");
  atomic_fetch_add(&b->round_trips, 1);
  for (int i = 0; i < plan->n; i++) {
    void *reply = NULL;
    if (redisGetReply(k->c, &reply) != REDIS_OK || reply == NULL)
      return ls_rp_failed(&b->p, op, k->c->err, k->c->errstr);
    r[i] = reply;
  }
  return LOGSTATE_OK;
}

/* Runs `op` to its end on `k`. `*io_failed` tells a dead connection from a
 * status the server's replies decided. */
static logstate_status run_op(redis_backend *b, conn *k, ls_rp_op *op, int *io_failed) {
  logstate_status st;
  *io_failed = 0;
  if (op->kind == LS_RP_OPEN && op->watch)
    op->unwatch = k->watch_dirty;
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
    if (op->kind == LS_RP_OPEN && op->watch)
      k->watch_dirty = 1;
    if (ls_rp_ends_watch(op) && !*io_failed)
      k->watch_dirty = 0; /* EXEC (or its EXECABORT) cleared the watch */
    if (done)
      break;
  }
  if (st == LOGSTATE_UNAVAILABLE) /* gone, READONLY, or not the primary: ask the sentinels again */
    ls_rp_target_lost(&b->p, k->gen);
  return st;
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
  /* A set's WAIT blocks up to replica_timeout_ms: give it room. */
  unsigned int t = c->timeout_ms + (c->min_replicas ? c->replica_timeout_ms : 0);
  if (ctx->err)
    *st = ls_err(LOGSTATE_UNAVAILABLE, "redis %s: cannot connect: %s", where, ctx->errstr);
  else if (redisSetTimeout(ctx, ms_tv(t)) != REDIS_OK || (!c->unix_path && redisEnableKeepAlive(ctx) != REDIS_OK))
    *st = ls_err(LOGSTATE_UNAVAILABLE, "redis %s: cannot set socket options: %s", where, ctx->errstr);
  else
    return ctx;
  redisFree(ctx);
  return NULL;
}

/* Asks one sentinel where the primary is: one round trip. */
static logstate_status ask_sentinel(redis_backend *b, const ls_redis_addr *a, char *why, size_t whysz) {
  char where[300];
  logstate_status st = LOGSTATE_OK;
  snprintf(where, sizeof(where), "sentinel %s:%u", a->host, a->port);
  redisContext *ctx = connect_to(&b->p.cfg, a->host, a->port, where, &st);
  if (ctx) {
    ls_rp_plan plan;
    redisReply *r[LS_RP_MAX_CMDS] = {0};
    int n = 0;
    ls_rp_plan_discover(&b->p.cfg, &plan);
    for (int i = 0; i < plan.n; i++)
      redisAppendCommandArgv(ctx, plan.cmd[i].argc, (const char **)plan.cmd[i].argv, plan.cmd[i].len);
    atomic_fetch_add(&b->round_trips, 1);
    while (n < plan.n && redisGetReply(ctx, (void **)&r[n]) == REDIS_OK && r[n])
      n++;
    st = n < plan.n ? ls_redis_io_error(&b->p.cfg, ctx->err, ctx->errstr, "asking a sentinel")
                    : ls_rp_judge_discover(&b->p, (const redisReply *const *)r, n);
    for (int i = 0; i < n; i++)
      freeReplyObject(r[i]);
    redisFree(ctx);
  }
  if (st != LOGSTATE_OK)
    snprintf(why, whysz, "%s: %s", where, logstate_last_error());
  return st;
}

/* Asks the sentinels in turn until one names the primary. */
static logstate_status discover(redis_backend *b) {
  const ls_redis_config *c = &b->p.cfg;
  char why[600] = "";
  logstate_status st = LOGSTATE_UNAVAILABLE;
  for (unsigned int i = 0; i < c->nsentinels && st != LOGSTATE_OK; i++) {
    st = ask_sentinel(b, &c->sentinels[i], why, sizeof(why));
    if (st == LOGSTATE_RESOURCE_EXHAUSTED)
      return st;
  }
  if (st != LOGSTATE_OK) /* a refused AUTH stays PERMISSION_DENIED: retrying will not help */
    st = ls_err(st == LOGSTATE_PERMISSION_DENIED ? st : LOGSTATE_UNAVAILABLE,
                "redis sentinel master %s: no sentinel named its primary (%u asked; last: %s)", c->master_name,
                c->nsentinels, why);
  return st;
}

/* Connects and prepares a connection: timeouts, keepalive, then the
 * CONNECT op (AUTH, SELECT, PING), all of it again on every reconnect
 * (redisReconnect would drop the timeouts). */
static logstate_status conn_connect(redis_backend *b, conn *k) {
  const ls_redis_config *c = &b->p.cfg;
  char where[300], host[LS_REDIS_MAX_HOST_LEN + 1];
  unsigned int port;
  uint64_t gen;
  logstate_status st = LOGSTATE_OK;
  conn_drop(k);
  if (!ls_rp_target_get(&b->p, host, &port, &gen) &&
      ((st = discover(b)) != LOGSTATE_OK || !ls_rp_target_get(&b->p, host, &port, &gen)))
    return st != LOGSTATE_OK ? st : ls_err(LOGSTATE_UNAVAILABLE, "redis: the primary was lost again at once; retry");
  if (c->master_name)
    snprintf(where, sizeof(where), "%s:%u (primary of %s)", host, port, c->master_name);
  else
    ls_redis_config_where(c, where, sizeof(where));
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
    st = run_op(b, k, &op, &io_failed);
  ls_rp_end(&op);
  if (st != LOGSTATE_OK)
    conn_drop(k);
  return st;
}

static logstate_status pool_timeout(redis_backend *b) {
  return ls_err(LOGSTATE_RESOURCE_EXHAUSTED,
                "redis: all %u pool connections stayed busy for %u ms (raise pool, or close write ops sooner)",
                b->p.cfg.pool, b->p.cfg.timeout_ms);
}

/* Takes a connection from the pool, waiting up to timeout_ms for one.
 * `*reused` says whether it was already connected (it may have gone stale). */
static logstate_status conn_acquire(redis_backend *b, conn **out, int *reused) {
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

static void conn_release(redis_backend *b, conn *k) {
  if (k->c && (k->c->err || !ls_rp_target_current(&b->p, k->gen)))
    conn_drop(k); /* dead, or to a primary since lost: reconnect on next use */
  pthread_mutex_lock(&b->mu);
  b->idle[b->nidle++] = k;
  pthread_cond_signal(&b->cv);
  pthread_mutex_unlock(&b->mu);
}

/* Runs an idempotent op (everything but a set): when a pooled connection
 * turns out dead, it retries once on a new one, so a server restart costs
 * no operation once the server is back. With `keep`, the connection stays
 * taken (a write transaction's). */
static logstate_status run_idempotent(redis_backend *b, ls_rp_op *op, conn **keep) {
  for (int attempt = 0;; attempt++) {
    conn *k = NULL;
    int reused = 0, io_failed = 0;
    logstate_status st = conn_acquire(b, &k, &reused);
    if (st != LOGSTATE_OK)
      return st;
    op->step = 0;
    st = run_op(b, k, op, &io_failed);
    if (st == LOGSTATE_OK && keep) {
      *keep = k;
      return st;
    }
    /* Once more when the pooled connection was dead, or when it was to a
     * primary that has just been found lost (a failover under way). */
    int stale = attempt == 0 && ((io_failed && reused && k->c->err != REDIS_ERR_OOM) ||
                                 (st == LOGSTATE_UNAVAILABLE && !ls_rp_target_current(&b->p, k->gen)));
    conn_release(b, k);
    if (!stale)
      return st;
  }
}

/* --- operations --------------------------------------------------------- */

static logstate_status rd_init(logstate_backend *be) {
  redis_backend *b = (redis_backend *)be;
  ls_rp_op op = {.kind = LS_RP_INIT};
  logstate_status st = ls_rp_begin(&b->p, &op);
  if (st == LOGSTATE_OK)
    st = run_idempotent(b, &op, NULL);
  ls_rp_end(&op);
  return st;
}

static logstate_status rd_logs(logstate_backend *be, char ***out_ids, size_t *out_n) {
  redis_backend *b = (redis_backend *)be;
  ls_rp_op op = {.kind = LS_RP_LOGS};
  logstate_status st = ls_rp_begin(&b->p, &op);
  if (st == LOGSTATE_OK)
    st = run_idempotent(b, &op, NULL);
  *out_ids = op.ids; /* on failure the core frees what was copied */
  *out_n = op.n;
  op.ids = NULL;
  op.n = 0;
  ls_rp_end(&op);
  return st;
}

static logstate_status rd_get_latest(logstate_backend *be, const char *log_id, size_t log_id_len, uint8_t **out_cp,
                                     size_t *out_len) {
  redis_backend *b = (redis_backend *)be;
  ls_rp_op op = {.kind = LS_RP_GET, .log_id = log_id, .log_id_len = log_id_len};
  logstate_status st = ls_rp_begin(&b->p, &op);
  if (st == LOGSTATE_OK)
    st = run_idempotent(b, &op, NULL);
  if (st == LOGSTATE_OK) {
    *out_cp = op.out_cp;
    *out_len = op.out_len;
    op.out_cp = NULL;
  }
  ls_rp_end(&op);
  return st;
}

/* --- write transactions ------------------------------------------------- */

static void txn_free(logstate_backend_txn *t) {
  ls_rp_end(&t->open);
  free(t->log_id);
  free(t);
}

static logstate_status rd_write_begin(logstate_backend *be, const char *log_id, size_t log_id_len,
                                      logstate_backend_txn **out_txn) {
  redis_backend *b = (redis_backend *)be;
  logstate_backend_txn *t = calloc(1, sizeof(*t));
  if (t == NULL || (t->log_id = ls_memdup(log_id, log_id_len)) == NULL) {
    free(t);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
  }
  t->open = (ls_rp_op){.kind = LS_RP_OPEN, .log_id = t->log_id, .log_id_len = log_id_len, .watch = 1};
  logstate_status st = ls_rp_begin(&b->p, &t->open);
  if (st == LOGSTATE_OK)
    st = run_idempotent(b, &t->open, &t->k);
  if (st != LOGSTATE_OK) {
    txn_free(t);
    return st;
  }
  *out_txn = t;
  return LOGSTATE_OK;
}

static logstate_status rd_write_get_latest(logstate_backend *be, logstate_backend_txn *t, uint8_t **out_cp,
                                           size_t *out_len) {
  (void)be;
  return ls_snapshot_copy(t->open.out_cp, t->open.out_len, t->log_id, t->open.log_id_len, out_cp, out_len);
}

/* MULTI, the set script, EXEC [, WAIT]: never retried on another
 * connection, whose WATCH would not be this transaction's. */
static logstate_status rd_write_set(logstate_backend *be, logstate_backend_txn *t, const uint8_t *cp, size_t len) {
  redis_backend *b = (redis_backend *)be;
  ls_rp_op op = {.kind = LS_RP_SET,
                 .log_id = t->log_id,
                 .log_id_len = t->open.log_id_len,
                 .watch = 1,
                 .expect = t->open.version,
                 .cp = cp,
                 .cp_len = len};
  int io_failed;
  logstate_status st = ls_rp_begin(&b->p, &op);
  if (st == LOGSTATE_OK)
    st = run_op(b, t->k, &op, &io_failed);
  ls_rp_end(&op);
  return st;
}

static logstate_status rd_write_end(logstate_backend *be, logstate_backend_txn *t) {
  /* Nothing to send: an unfinished WATCH is cleared lazily (watch_dirty). */
  conn_release((redis_backend *)be, t->k);
  txn_free(t);
  return LOGSTATE_OK;
}

static void rd_free(logstate_backend *be) {
  redis_backend *b = (redis_backend *)be;
  /* Every transaction is closed by now (the core's reference count), so
   * every connection is idle. */
  for (unsigned int i = 0; i < b->nidle; i++) {
    conn_drop(b->idle[i]);
    free(b->idle[i]);
  }
  free(b->idle);
  pthread_cond_destroy(&b->cv);
  pthread_mutex_destroy(&b->mu);
  ls_rp_proto_destroy(&b->p);
  free(b);
}

/* --- one-round-trip updates (backend methods version 3) ---------------- */

static logstate_status rd_read_state(logstate_backend *be, const char *log_id, size_t log_id_len,
                                     logstate_backend_state *out) {
  redis_backend *b = (redis_backend *)be;
  ls_rp_op op = {.kind = LS_RP_OPEN, .log_id = log_id, .log_id_len = log_id_len};
  logstate_status st = ls_rp_begin(&b->p, &op);
  if (st == LOGSTATE_OK)
    st = run_idempotent(b, &op, NULL);
  if (st == LOGSTATE_OK) {
    out->version = op.version;
    out->cp = op.out_cp;
    out->len = op.out_len;
    op.out_cp = NULL;
  }
  ls_rp_end(&op);
  return st;
}

/* The set script alone, without WATCH: it compares the version itself. */
static logstate_status cas_on(redis_backend *b, conn *k, ls_rp_op *op, int *io_failed) {
  op->step = 0;
  return run_op(b, k, op, io_failed);
}

static logstate_status rd_cas(logstate_backend *be, const char *log_id, size_t log_id_len,
                              const logstate_backend_state *expect, const uint8_t *cp, size_t len,
                              uint64_t *out_version, logstate_backend_state *fresh, int *fresh_known) {
  redis_backend *b = (redis_backend *)be;
  ls_rp_op op = {.kind = LS_RP_SET,
                 .log_id = log_id,
                 .log_id_len = log_id_len,
                 .expect = expect->version,
                 .cp = cp,
                 .cp_len = len};
  conn *k = NULL;
  int reused = 0, io_failed = 0;
  logstate_status st = ls_rp_begin(&b->p, &op);
  if (st == LOGSTATE_OK && (st = conn_acquire(b, &k, &reused)) == LOGSTATE_OK) {
    st = cas_on(b, k, &op, &io_failed);
    if (io_failed && reused) {
      /* A pooled connection gone stale (a server restart): once more on a
       * new one. If the first script did run, this one finds version
       * expect + 1 holding exactly our bytes: that write was ours (or
       * another writer's of the same bytes, which leaves the store as the
       * caller asked: for a witness, the same checkpoint). */
      conn_release(b, k);
      k = NULL;
      if ((st = conn_acquire(b, &k, &reused)) == LOGSTATE_OK)
        st = cas_on(b, k, &op, &io_failed);
      if (st == LOGSTATE_ABORTED && op.fresh && op.version == expect->version + 1 && op.out_len == len &&
          memcmp(op.out_cp, cp, len) == 0) {
        op.version = expect->version + 1;
        st = LOGSTATE_OK;
      }
    }
    if (k)
      conn_release(b, k);
  }
  if (st == LOGSTATE_OK)
    *out_version = op.version;
  if (st == LOGSTATE_ABORTED && op.fresh) {
    fresh->version = op.version;
    fresh->cp = op.out_cp;
    fresh->len = op.out_len;
    op.out_cp = NULL;
    *fresh_known = 1;
  }
  ls_rp_end(&op);
  return st;
}

/* logstate_verify(): the VERIFY op on one connection, never retried (a
 * retry would report the same problems twice). */
static logstate_status rd_verify(logstate_backend *be, logstate_verify_fn report, void *arg, size_t *out_problems) {
  redis_backend *b = (redis_backend *)be;
  ls_rp_op op = {.kind = LS_RP_VERIFY, .report = report, .report_arg = arg};
  conn *k = NULL;
  int reused, io_failed;
  logstate_status st = ls_rp_begin(&b->p, &op);
  if (st == LOGSTATE_OK && (st = conn_acquire(b, &k, &reused)) == LOGSTATE_OK) {
    st = run_op(b, k, &op, &io_failed);
    conn_release(b, k);
  }
  *out_problems = op.problems;
  ls_rp_end(&op);
  return st;
}

static uint64_t rd_txn_version(logstate_backend *be, logstate_backend_txn *t) {
  (void)be;
  return t->open.version;
}

static int rd_read_only(logstate_backend *be) { return ((redis_backend *)be)->p.cfg.read_only; }

static void rd_store_id(logstate_backend *be, char *buf, size_t size) {
  redis_backend *b = (redis_backend *)be;
  snprintf(buf, size, "%s", atomic_load(&b->p.has_store_id) ? b->p.store_id : "");
}

static logstate_durability rd_durability(logstate_backend *be) {
  return (logstate_durability)atomic_load(&((redis_backend *)be)->p.durability);
}

static const logstate_backend_methods redis_methods = {
    .version = LOGSTATE_BACKEND_VERSION,
    .name = "redis",
    .init = rd_init,
    .logs = rd_logs,
    .get_latest = rd_get_latest,
    .write_begin = rd_write_begin,
    .write_get_latest = rd_write_get_latest,
    .write_set = rd_write_set,
    .write_end = rd_write_end,
    .free = rd_free,
    .durability = rd_durability,
    .read_state = rd_read_state,
    .cas = rd_cas,
    .verify = rd_verify,
    .txn_version = rd_txn_version,
    .store_id = rd_store_id,
    .read_only = rd_read_only,
};

static logstate_status backend_new(logstate_backend **out, ls_redis_config *cfg) {
  redis_backend *b = calloc(1, sizeof(*b));
  if (b == NULL || (b->idle = calloc(cfg->pool, sizeof(*b->idle))) == NULL) {
    free(b);
    ls_redis_config_free(cfg);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
  }
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&b->cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&b->mu, NULL);
  b->base.methods = &redis_methods;
  b->p.cfg = *cfg;
  ls_rp_proto_init(&b->p);
  *out = &b->base;
  return LOGSTATE_OK;
}

logstate_status ls_redis_backend_from_url(logstate_backend **out, const char *url) {
  ls_redis_config cfg;
  logstate_status st = ls_redis_config_from_url(&cfg, url);
  return st == LOGSTATE_OK ? backend_new(out, &cfg) : st;
}

logstate_status logstate_redis_open(logstate **out, const logstate_redis_options *ro, const logstate_options *opts) {
  if (out)
    *out = NULL;
  if (out == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_redis_open: out is NULL");
  ls_redis_config cfg;
  logstate_backend *be = NULL;
  logstate_status st = ls_redis_config_from_options(&cfg, ro);
  if (st == LOGSTATE_OK)
    st = backend_new(&be, &cfg);
  if (st == LOGSTATE_OK && (st = logstate_open_backend(out, be, opts)) != LOGSTATE_OK)
    rd_free(be);
  return st;
}

logstate_status logstate_redis_get_stats(logstate *ls, logstate_redis_stats *out) {
  logstate_backend *be = logstate_get_backend(ls);
  if (be == NULL || out == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_redis_get_stats: %s is NULL", be ? "out" : "handle");
  if (be->methods != &redis_methods)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_redis_get_stats: the handle is on the %s backend, not redis",
                  be->methods->name);
  redis_backend *b = (redis_backend *)be;
  out->round_trips = atomic_load(&b->round_trips);
  out->connects = atomic_load(&b->connects);
  out->script_reloads = atomic_load(&b->p.script_reloads);
  out->conflicts = atomic_load(&b->p.conflicts);
  out->cache_hits = ls_core_cache_hits(ls);
  out->rollbacks = ls_core_rollbacks(ls);
  return LOGSTATE_OK;
}

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
 * operation once the server is back. The compare-and-sets (cas) are in
 * sync_set.c. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "configs.h"
#include "redis/sync_int.h"

struct logstate_backend_txn {
  conn *k;
  ls_rp_op open; /* its results are the snapshot */
  char *log_id;
};

static const logstate_backend_methods redis_methods;

/* --- operations --------------------------------------------------------- */

static logstate_status rd_init(logstate_backend *be) {
  redis_backend *b = (redis_backend *)be;
  ls_rp_op op = {.kind = LS_RP_INIT};
  logstate_status st = ls_rp_begin(&b->p, &op);
  if (st == LOGSTATE_OK)
    st = ls_rs_run_idempotent(b, &op, NULL);
  ls_rp_end(&op);
  return st;
}

static logstate_status rd_logs(logstate_backend *be, char ***out_ids, size_t *out_n) {
  redis_backend *b = (redis_backend *)be;
  ls_rp_op op = {.kind = LS_RP_LOGS};
  logstate_status st = ls_rp_begin(&b->p, &op);
  if (st == LOGSTATE_OK)
    st = ls_rs_run_idempotent(b, &op, NULL);
  *out_ids = op.u.logs.ids; /* on failure the core frees what was copied */
  *out_n = op.u.logs.n;
  op.u.logs = (ls_rp_logs){NULL, 0};
  ls_rp_end(&op);
  return st;
}

static logstate_status rd_history(logstate_backend *be, const char *log_id, size_t log_id_len, size_t max,
                                  logstate_history_entry **out, size_t *out_n) {
  redis_backend *b = (redis_backend *)be;
  ls_rp_op op = {.kind = LS_RP_HISTORY, .log_id = log_id, .log_id_len = log_id_len, .u.history.max = max};
  logstate_status st = ls_rp_begin(&b->p, &op);
  if (st == LOGSTATE_OK)
    st = ls_rs_run_idempotent(b, &op, NULL);
  *out = op.u.history.hist; /* on failure the core frees what was copied */
  *out_n = op.u.history.nhist;
  op.u.history.hist = NULL;
  op.u.history.nhist = 0;
  ls_rp_end(&op);
  return st;
}

/* --- log configurations: the core's op, borrowed (proto_config.c) --------- */

static logstate_status rd_config(logstate_backend *be, ls_cfg_op *cfg) {
  redis_backend *b = (redis_backend *)be;
  ls_rp_op op = {.kind = LS_RP_CONFIG, .u.config.cfg = cfg};
  logstate_status st = ls_rp_begin(&b->p, &op);
  if (st == LOGSTATE_OK)
    st = ls_rs_run_idempotent(b, &op, NULL);
  ls_rp_end(&op);
  return st;
}

static logstate_status rd_config_add(logstate_backend *be, const logstate_log_entry *entries, size_t n,
                                     logstate_log_entry **existing) {
  ls_cfg_op o = {.kind = LS_CFG_ADD, .add = (logstate_log_entry *)entries, .n = n, .existing = existing};
  return rd_config(be, &o);
}

static logstate_status rd_config_get(logstate_backend *be, const char *origin, const char *log_id,
                                     logstate_log_entry **out) {
  ls_cfg_op o = {.kind = LS_CFG_GET, .origin = (char *)origin};
  snprintf(o.log_id, sizeof(o.log_id), "%s", log_id);
  logstate_status st = rd_config(be, &o);
  *out = o.entries; /* one, or NULL */
  return st;
}

static logstate_status rd_config_list(logstate_backend *be, logstate_log_entry **out, size_t *out_n) {
  ls_cfg_op o = {.kind = LS_CFG_LIST};
  logstate_status st = rd_config(be, &o);
  *out = o.entries; /* on failure the core frees what was read */
  *out_n = o.nentries;
  return st;
}

static logstate_status rd_config_change(logstate_backend *be, const logstate_config_event *ev, int *changed) {
  ls_cfg_op o = {.kind = LS_CFG_CHANGE, .ev = *ev};
  memcpy(o.log_id, ev->log_id, sizeof(o.log_id));
  logstate_status st = rd_config(be, &o);
  *changed = o.changed;
  return st;
}

static logstate_status rd_config_history(logstate_backend *be, const char *origin, const char *log_id, size_t max,
                                         logstate_config_event **out, size_t *out_n) {
  ls_cfg_op o = {.kind = LS_CFG_HISTORY, .origin = (char *)origin, .max = max};
  if (log_id)
    snprintf(o.log_id, sizeof(o.log_id), "%s", log_id);
  logstate_status st = rd_config(be, &o);
  *out = o.events;
  *out_n = o.nevents;
  return st;
}

static void rd_client_name(logstate_backend *be, char *buf, size_t size) {
  snprintf(buf, size, "%s", ((redis_backend *)be)->p.cfg.hist.client_name);
}

/* --- write transactions ------------------------------------------------- */

static void txn_free(logstate_backend_txn *t) {
  ls_rp_end(&t->open);
  free(t->log_id);
  free(t);
}

static logstate_status rd_write_begin(logstate_backend *be, const char *log_id, size_t log_id_len,
                                      logstate_backend_txn **out_txn, logstate_backend_state *snap) {
  redis_backend *b = (redis_backend *)be;
  logstate_backend_txn *t = calloc(1, sizeof(*t));
  if (t == NULL || (t->log_id = ls_memdup(log_id, log_id_len)) == NULL) {
    free(t);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
  }
  t->open = (ls_rp_op){.kind = LS_RP_OPEN, .log_id = t->log_id, .log_id_len = log_id_len, .u.read.watch = 1};
  logstate_status st = ls_rp_begin(&b->p, &t->open);
  if (st == LOGSTATE_OK)
    st = ls_rs_run_idempotent(b, &t->open, &t->k);
  if (st != LOGSTATE_OK) {
    txn_free(t);
    return st;
  }
  *snap = t->open.u.read.state; /* the core's now, whole; the version stays for the set */
  t->open.u.read.state.cp = NULL;
  *out_txn = t;
  return LOGSTATE_OK;
}

/* MULTI, the set script, EXEC [, WAIT]: never retried on another
 * connection, whose WATCH would not be this transaction's. */
static logstate_status rd_write_set(logstate_backend *be, logstate_backend_txn *t, const uint8_t *cp, size_t len) {
  redis_backend *b = (redis_backend *)be;
  ls_rp_op op = {.kind = LS_RP_SET,
                 .log_id = t->log_id,
                 .log_id_len = t->open.log_id_len,
                 .u.set = {.watch = 1, .expect = t->open.u.read.state.version, .cp = cp, .cp_len = len}};
  int io_failed;
  logstate_status st = ls_rp_begin(&b->p, &op);
  if (st == LOGSTATE_OK && (st = ls_rs_run_op(b, t->k, &op, &io_failed)) != LOGSTATE_OK && io_failed)
    st = ls_rs_resolve_set(b, &op); /* EXEC sent, or maybe not: ask the store */
  ls_rp_end(&op);
  return st;
}

static logstate_status rd_write_end(logstate_backend *be, logstate_backend_txn *t) {
  /* Nothing to send: an unfinished WATCH is cleared lazily (watch_dirty). */
  ls_rs_conn_release((redis_backend *)be, t->k);
  txn_free(t);
  return LOGSTATE_OK;
}

static void rd_free(logstate_backend *be) {
  redis_backend *b = (redis_backend *)be;
  /* Every transaction is closed by now (the core's reference count), so
   * every connection is idle. */
  for (unsigned int i = 0; i < b->nidle; i++) {
    ls_rs_conn_drop(b->idle[i]);
    free(b->idle[i]);
  }
  free(b->idle);
  pthread_cond_destroy(&b->cv);
  pthread_mutex_destroy(&b->mu);
  ls_rp_proto_destroy(&b->p);
  free(b);
}

/* --- one-round-trip updates (read_state and cas) ----------------------- */

static logstate_status rd_read_state(logstate_backend *be, const char *log_id, size_t log_id_len,
                                     logstate_backend_state *out) {
  redis_backend *b = (redis_backend *)be;
  ls_rp_op op = {.kind = LS_RP_OPEN, .log_id = log_id, .log_id_len = log_id_len};
  logstate_status st = ls_rp_begin(&b->p, &op);
  if (st == LOGSTATE_OK)
    st = ls_rs_run_idempotent(b, &op, NULL);
  if (st == LOGSTATE_OK) {
    *out = op.u.read.state; /* moved whole */
    op.u.read.state.cp = NULL;
  }
  ls_rp_end(&op);
  return st;
}

/* What the core reads through when a backend has no read_state: the same
 * read. */
static logstate_status rd_get_latest(logstate_backend *be, const char *log_id, size_t log_id_len, uint8_t **out_cp,
                                     size_t *out_len) {
  logstate_backend_state s = {0, NULL, 0};
  logstate_status st = rd_read_state(be, log_id, log_id_len, &s);
  if (st == LOGSTATE_OK && s.cp == NULL)
    return LOGSTATE_NOT_FOUND; /* its message is the core's */
  *out_cp = s.cp;
  *out_len = s.len;
  return st;
}

/* logstate_verify(): the VERIFY op on one connection, never retried (a
 * retry would report the same problems twice). */
static logstate_status rd_verify(logstate_backend *be, logstate_verify_fn report, void *arg, size_t *out_problems) {
  redis_backend *b = (redis_backend *)be;
  ls_rp_op op = {.kind = LS_RP_VERIFY, .u.verify = {.report = report, .report_arg = arg}};
  conn *k = NULL;
  int reused, io_failed;
  logstate_status st = ls_rp_begin(&b->p, &op);
  if (st == LOGSTATE_OK && (st = ls_rs_conn_acquire(b, &k, &reused)) == LOGSTATE_OK) {
    st = ls_rs_run_op(b, k, &op, &io_failed);
    ls_rs_conn_release(b, k);
  }
  *out_problems = op.u.verify.problems;
  ls_rp_end(&op);
  return st;
}

static int rd_read_only(logstate_backend *be) { return ((redis_backend *)be)->p.cfg.read_only; }

static void rd_store_id(logstate_backend *be, char *buf, size_t size) {
  redis_backend *b = (redis_backend *)be;
  snprintf(buf, size, "%s", atomic_load(&b->p.has_store_id) ? b->p.store_id : "");
}

static logstate_durability rd_durability(logstate_backend *be) {
  return (logstate_durability)atomic_load(&((redis_backend *)be)->p.durability);
}

static void rd_stats(logstate_backend *be, logstate_stats *out) {
  redis_backend *b = (redis_backend *)be;
  out->round_trips = atomic_load(&b->round_trips);
  out->connects = atomic_load(&b->connects);
  out->script_reloads = atomic_load(&b->p.script_reloads);
  out->resolved = atomic_load(&b->p.resolved);
}

static const logstate_backend_methods redis_methods = {
    .version = LOGSTATE_BACKEND_VERSION,
    .name = "redis",
    .counts_versions = 1,
    .init = rd_init,
    .logs = rd_logs,
    .get_latest = rd_get_latest,
    .write_begin = rd_write_begin,
    .write_set = rd_write_set,
    .write_end = rd_write_end,
    .free = rd_free,
    .durability = rd_durability,
    .read_state = rd_read_state,
    .cas = ls_rs_cas,
    .cas_batch = ls_rs_cas_batch,
    .cas_lanes = ls_rs_cas_lanes,
    .verify = rd_verify,
    .store_id = rd_store_id,
    .read_only = rd_read_only,
    .history = rd_history,
    .stats = rd_stats,
    .client_name = rd_client_name,
    .config_add = rd_config_add,
    .config_get = rd_config_get,
    .config_list = rd_config_list,
    .config_change = rd_config_change,
    .config_history = rd_config_history,
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

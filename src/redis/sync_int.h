/* SPDX-License-Identifier: Apache-2.0 */
/* The sync Redis driver's own types, shared by its two files: sync.c (the
 * backend's operations) and sync_conn.c (the pool of connections: finding
 * the primary, connecting, running an op's plans, following ASK). */
#ifndef LOGSTATE_REDIS_SYNC_INT_H
#define LOGSTATE_REDIS_SYNC_INT_H

#include <pthread.h>
#include <stdatomic.h>

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

/* Closes the connection (the struct stays, unconnected). */
void ls_rs_conn_drop(conn *k);
/* Runs `op` to its end on `k`. `*io_failed` tells a dead connection from a
 * status the server's replies decided. */
logstate_status ls_rs_run_op(redis_backend *b, conn *k, ls_rp_op *op, int *io_failed);
/* Takes a connection from the pool, waiting up to timeout_ms for one, and
 * connects it if needed. `*reused` says whether it was already connected
 * (it may have gone stale). */
logstate_status ls_rs_conn_acquire(redis_backend *b, conn **out, int *reused);
/* Gives it back; drops it when dead or made to a primary since lost. */
void ls_rs_conn_release(redis_backend *b, conn *k);
/* Runs an idempotent op (everything but a set), once more on a new
 * connection when a pooled one was dead, and after MOVED. With `keep`, the
 * connection stays taken (a write transaction's). */
logstate_status ls_rs_run_idempotent(redis_backend *b, ls_rp_op *op, conn **keep);

/* The set was sent and its connection went before the reply: read the log
 * on new connections until the rules' deadline (rules.c), and decide from
 * what it holds (ls_rp_settle). */
logstate_status ls_rs_resolve_set(redis_backend *b, ls_rp_op *set);
/* The backend's cas, cas_batch and cas_lanes methods (sync_set.c). */
#define LS_RS_BATCH 64
void ls_rs_cas(logstate_backend *be, logstate_backend_cas *const *reqs, size_t n);
size_t ls_rs_cas_batch(logstate_backend *be);
size_t ls_rs_cas_lanes(logstate_backend *be);

#endif

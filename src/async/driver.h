/* SPDX-License-Identifier: Apache-2.0 */
/* The contract between the async core (async.c: the public async API, its
 * callbacks, per-log queues and the update loop) and an async driver: the
 * Redis one (redis/async.c, on hiredis's async client) or the threaded one
 * (threaded.c, any sync backend run on a worker thread).
 *
 * The core hands a driver requests: primitive operations without policy.
 * A driver finishes each request exactly once, on the loop's thread and
 * never inside submit(), with ls_areq_finish(). */
#ifndef LOGSTATE_ASYNC_DRIVER_H
#define LOGSTATE_ASYNC_DRIVER_H

#include <stdint.h>

#include "internal.h"
#ifdef LOGSTATE_HAVE_REDIS
#include "logstate/redis.h"
#endif

struct event_base;

typedef enum {
  LS_AREQ_INIT,    /* logstate_init() */
  LS_AREQ_LOGS,    /* the log IDs, any order */
  LS_AREQ_GET,     /* a log's checkpoint, or NOT_FOUND */
  LS_AREQ_OPEN,    /* a snapshot for a later SET */
  LS_AREQ_SET,     /* store `cp` if the log is still at `snap` */
  LS_AREQ_HISTORY, /* up to `max` entries of a log's history, newest first */
  LS_AREQ_CONFIG   /* a log configuration operation, `cfg` (configs.h): ls_cfg_run() on it */
} ls_areq_kind;

/* What a write transaction saw when it opened. */
typedef struct ls_asnap {
  logstate_backend_state state; /* the log's state; state.version is the Redis driver's compare-and-set token */
  void *txn;                    /* the threaded driver's logstate_write, NULL when none */
} ls_asnap;

typedef struct ls_areq ls_areq;
struct ls_areq {
  ls_areq_kind kind;
  void *owner;              /* the core's operation; NULL once abandoned */
  void (*done)(ls_areq *r); /* the core's handler, called while owner is set */
  /* Inputs, owned by the request. */
  char *log_id;
  size_t log_id_len;
  uint8_t *cp; /* SET: the checkpoint */
  size_t cp_len;
  size_t max;            /* HISTORY */
  struct ls_cfg_op *cfg; /* CONFIG: inputs and results, the request's until the core takes it back */
  ls_asnap snap;         /* SET: the snapshot to set against (consumed by the driver); OPEN: the result */
  /* Results: the handler may take them (setting them to NULL). A log's
   * state arrives whole, as the protocol module or the sync API found it. */
  logstate_status st;
  ls_saved_error err;           /* the failure, for a non-OK status */
  logstate_backend_state state; /* GET: the log's state; SET that returned ABORTED with `fresh`: the current one */
  int fresh;
  uint64_t version; /* SET that succeeded: the log's new version */
  char **ids;       /* LOGS */
  size_t n;
  logstate_history_entry *hist; /* HISTORY: the result */
  size_t nhist;
  uint64_t round_trips; /* what it took (the Redis driver counts; 0 elsewhere) */
  ls_areq *next;        /* for the driver's own lists */
};

typedef struct ls_adriver ls_adriver;

typedef struct ls_adriver_methods {
  /* Non-zero when a SET may run against a version alone (snap.version, no
   * snap.txn), so the core may start an update from its cached state. */
  int cas_by_version;
  /* ... and the SET's snap.state.cp must hold the checkpoint that version
   * has (a backend that compares the checkpoint too: SQLite). */
  int cas_expects_cp;
  /* Takes `r` over; finishes it later, from the loop. */
  void (*submit)(ls_adriver *d, ls_areq *r);
  /* Drops a snapshot that will not be set. On the loop's thread; must not
   * block. */
  void (*release)(ls_adriver *d, ls_asnap *s);
  /* Adds the driver's counters to `out` (logstate_async_get_stats). */
  void (*stats)(ls_adriver *d, logstate_stats *out);
  /* Frees the driver. Every request's owner is NULL by now: the driver
   * drops them (releasing their snapshots) and never calls the core again. */
  void (*free)(ls_adriver *d);
} ls_adriver_methods;

struct ls_adriver {
  const ls_adriver_methods *m;
};

/* A new request (zeroed but for kind); NULL when out of memory. */
ls_areq *ls_areq_new(ls_areq_kind kind);
/* Records the result of `r`: its status and, for a non-OK one, the calling
 * thread's last error. Any thread. */
void ls_areq_result(ls_areq *r, logstate_status st);
/* Hands `r` to its owner's handler (the last error restored from r->err), then
 * releases its snapshot through `d` and frees it. On the loop's thread. */
void ls_areq_finish(ls_adriver *d, ls_areq *r);

/* The drivers' constructors. On success the driver owns `cfg` (Redis) or
 * `ls` (threaded); on failure the caller keeps them. */
#ifdef LOGSTATE_HAVE_REDIS
#include "redis/config.h"
logstate_status ls_adriver_redis_new(ls_adriver **out, struct event_base *base, ls_redis_config *cfg);
#endif
logstate_status ls_adriver_threaded_new(ls_adriver **out, struct event_base *base, logstate *ls);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The asynchronous API, on libevent, for event-driven witnesses that must
 * never block their loop. It works on every backend:
 *
 * - redis://, redis+unix://, redis+sentinel:// and redis+cluster://:
 *   hiredis's async client, one pipelined connection, the same URL, options,
 *   key layout, Lua script and statuses as the sync Redis backend (redis.h).
 *   A host name is resolved with libevent's evdns, never with a blocking
 *   lookup on the loop; the sentinels or cluster nodes are asked without
 *   blocking it either. MOVED and ASK are followed, as in the sync API.
 * - memory: and sqlite:: the sync backend runs on one worker thread per
 *   handle, so a slow disk (SQLite's fsync) never stalls the loop. Use it to
 *   unit-test async code without a server.
 *
 * An async handle is bound to the caller's `struct event_base` and is used
 * from the thread that runs that loop (it is not thread-safe).
 *
 * Write transactions: the snapshot is taken at open; the set commits only if
 * nobody committed since (a compare-and-set on the log's version), else
 * ABORTED, as in the sync API (logstate.h).
 *
 * Ordering: the sets and updates that one handle has in flight on one log
 * run one at a time, in the order they were submitted, so a handle never
 * races itself: only another handle or process can make an update retry.
 * Reads, opens and operations on other logs are not held back.
 *
 * State cache (Redis): the handle keeps the version and checkpoint it last
 * read or wrote per log (up to 4096 logs, 16 MiB; least recently used
 * first out), so an update of a log it knows is one round trip: fn on the
 * cached state, then the set script, which compares the version and, on a
 * lost race, returns the current state for the retry. An outcome decided
 * without a set on cached state is confirmed by a read first.
 *
 * Callbacks:
 * - A submit function that returns LOGSTATE_OK calls its callback exactly
 *   once, later, from the event loop (never from inside the submit call):
 *   on success, on error, on timeout, on connection loss, and when the handle
 *   is freed with the operation pending (status LOGSTATE_UNAVAILABLE, message
 *   "freed with the operation pending").
 * - A submit function that returns anything else never calls its callback.
 * - Data passed to a callback (checkpoint bytes, log IDs) is valid only
 *   during the call: copy what you keep.
 * - logstate_last_error() inside a callback describes that callback's
 *   non-OK status.
 * - A callback (and an update function) may submit new operations, close
 *   its write object, and free the handle.
 *
 * Redis timeouts: every request has `timeout_ms` (a libevent timer; hiredis
 * 0.14 has none). A request that times out means the pipelined connection
 * is stuck, so the connection is dropped: every operation in flight on it
 * completes with UNAVAILABLE, and the handle reconnects.
 *
 * Redis connection loss: in-flight operations complete with UNAVAILABLE (a
 * set may or may not have been applied: read again before retrying). The
 * handle reconnects with exponential backoff (50 ms doubling to 2 s).
 * Operations submitted while it waits to reconnect FAIL FAST: their
 * callback runs on the next loop iteration with UNAVAILABLE. Operations
 * submitted while a host name is being resolved wait for the address (up to
 * their timeout).
 */
#ifndef LOGSTATE_ASYNC_H
#define LOGSTATE_ASYNC_H

#include <stddef.h>
#include <stdint.h>

#include "logstate.h"
#ifdef LOGSTATE_HAVE_REDIS
#include "redis.h"
#endif

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

/** An asynchronous handle on a store. */
typedef struct logstate_async logstate_async;
/** An asynchronous write transaction on one log. */
typedef struct logstate_async_write logstate_async_write;

/** Completion of init and set: just a status. */
typedef void (*logstate_async_done_cb)(logstate_status st, void *arg);

/** Completion of get_latest: the checkpoint (valid during the call only;
 *  not NULL with len 0 for an empty one another program stored), or
 *  st == LOGSTATE_NOT_FOUND with cp NULL. */
typedef void (*logstate_async_get_cb)(logstate_status st, const uint8_t *cp, size_t len, void *arg);

/** Completion of logs: sorted unique IDs, valid during the call only. */
typedef void (*logstate_async_logs_cb)(logstate_status st, const char *const *ids, size_t n, void *arg);

/** Completion of history: the entries, newest first (n 0 and entries NULL
 *  when there are none), valid during the call only. */
typedef void (*logstate_async_history_cb)(logstate_status st, const logstate_history_entry *entries, size_t n,
                                          void *arg);

/** Completion of write_ops: on LOGSTATE_OK, `w` is the transaction, owned by
 *  the callee from now on and finished with logstate_async_write_close()
 *  (at any time, inside this callback or later). On failure `w` is NULL. */
typedef void (*logstate_async_write_cb)(logstate_status st, logstate_async_write *w, void *arg);

/**
 * Opens an async handle on `base` from any URL logstate_open() takes
 * (memory:, sqlite:, redis://, redis+unix://, redis+sentinel://,
 * redis+cluster://). No connection is made until
 * the first operation; call logstate_async_init() first, as with the sync
 * API. `opts` (NULL: defaults) is checked as logstate_open_ext() checks it.
 *
 * @param out receives the handle; the caller frees it with
 *        logstate_async_free() (before freeing `base`).
 * @return LOGSTATE_OK; LOGSTATE_INVALID_ARGUMENT for NULL arguments, a bad
 *         URL or options; LOGSTATE_RESOURCE_EXHAUSTED; for sqlite:, the
 *         statuses of logstate_sqlite_open().
 */
LOGSTATE_API logstate_status logstate_async_open(logstate_async **out, struct event_base *base, const char *url,
                                                 const logstate_options *opts);

#ifdef LOGSTATE_HAVE_REDIS
/** As logstate_async_open(), with typed Redis options (NULL: defaults). */
LOGSTATE_API logstate_status logstate_async_open_redis(logstate_async **out, struct event_base *base,
                                                       const logstate_redis_options *ro, const logstate_options *opts);
#endif

/**
 * Frees the handle. Pending operations complete, inside this call, with
 * LOGSTATE_UNAVAILABLE. Safe inside a callback. NULL is a no-op. Write
 * objects not yet closed stay valid for logstate_async_write_close() (their
 * other calls return FAILED_PRECONDITION). On memory: and sqlite:, it waits
 * for the one backend call the worker may be running.
 */
LOGSTATE_API void logstate_async_free(logstate_async *a);

/**
 * Connects, checks the server and loads the script, like logstate_init().
 * @return LOGSTATE_OK (the callback gets the statuses logstate_init()
 *         documents); LOGSTATE_INVALID_ARGUMENT for NULL `a` or `cb`;
 *         LOGSTATE_FAILED_PRECONDITION after logstate_async_free().
 */
LOGSTATE_API logstate_status logstate_async_init(logstate_async *a, logstate_async_done_cb cb, void *arg);

/** Lists the logs (SMEMBERS), like logstate_logs(). Submit statuses as for
 *  logstate_async_init(). */
LOGSTATE_API logstate_status logstate_async_logs(logstate_async *a, logstate_async_logs_cb cb, void *arg);

/** Reads up to `max` entries of a log's history, newest first, like
 *  logstate_history() (the callback gets its statuses). Submit statuses as
 *  for logstate_async_get_latest(), plus INVALID_ARGUMENT for `max` outside
 *  1 to LOGSTATE_MAX_HISTORY. */
LOGSTATE_API logstate_status logstate_async_history(logstate_async *a, const char *log_id, size_t max,
                                                    logstate_async_history_cb cb, void *arg);

/** Reads a log's latest checkpoint, like logstate_read_get_latest(). Submit
 *  statuses as for logstate_async_init(), plus INVALID_ARGUMENT for a bad
 *  log ID (the rules of logstate.h). */
LOGSTATE_API logstate_status logstate_async_get_latest(logstate_async *a, const char *log_id, logstate_async_get_cb cb,
                                                       void *arg);

/** Opens a write transaction: reads the snapshot (one round trip), then
 *  calls `cb` with the transaction. Submit statuses as for
 *  logstate_async_get_latest(). */
LOGSTATE_API logstate_status logstate_async_write_ops(logstate_async *a, const char *log_id, logstate_async_write_cb cb,
                                                      void *arg);

/**
 * The transaction's snapshot, without I/O: a malloc()ed copy the caller
 * frees, as every get_latest in logstate.h returns (NULL unless OK).
 * @return LOGSTATE_OK; LOGSTATE_NOT_FOUND when the log had no checkpoint;
 *         LOGSTATE_INVALID_ARGUMENT for NULL arguments;
 *         LOGSTATE_FAILED_PRECONDITION after a set.
 */
LOGSTATE_API logstate_status logstate_async_write_get_latest(logstate_async_write *w, uint8_t **out_cp,
                                                             size_t *out_len);

/**
 * Sets the checkpoint if nobody committed since the snapshot; `cp` is
 * copied. The callback gets OK, ABORTED (nothing stored) or the statuses of
 * logstate_write_set(). Whatever the outcome, only close is allowed after.
 * @return LOGSTATE_OK; LOGSTATE_INVALID_ARGUMENT for NULL arguments or an
 *         empty or oversized checkpoint (the transaction stays usable);
 *         LOGSTATE_FAILED_PRECONDITION for a second set or a freed handle.
 */
LOGSTATE_API logstate_status logstate_async_write_set(logstate_async_write *w, const uint8_t *cp, size_t len,
                                                      logstate_async_done_cb cb, void *arg);

/**
 * Ends the transaction and frees `w`, always. A set still in flight goes on
 * and its callback is still called.
 * @return LOGSTATE_OK; LOGSTATE_INVALID_ARGUMENT for NULL.
 */
LOGSTATE_API logstate_status logstate_async_write_close(logstate_async_write *w);

/**
 * Update(origin, f) without blocking: reads, calls `fn` (logstate.h's
 * contract: it may run several times, must only compute, its `*out_next`
 * is malloc()ed and taken over, OK with no value means "no change"), sets,
 * and retries on a lost race up to the configured attempts.
 * `cb` gets OK, fn's own non-OK status unchanged, ABORTED after the last
 * attempt, or a backend status.
 * Submit statuses as for logstate_async_get_latest(), plus INVALID_ARGUMENT
 * for a NULL `fn`.
 */
LOGSTATE_API logstate_status logstate_async_update(logstate_async *a, const char *log_id, logstate_update_fn fn,
                                                   void *fn_arg, logstate_async_done_cb cb, void *arg);

/* --- log configurations (log_config.h), without blocking ------------------
 * Each is its sync namesake's operation, with its checks (a bad argument is
 * the submit's INVALID_ARGUMENT, and no callback) and statuses (the
 * callback's). What a callback gets is valid during the call only. */

/** Completion of config_add: one result per configuration, in order. */
typedef void (*logstate_async_config_add_cb)(logstate_status st, const logstate_config_result *results, size_t n,
                                             void *arg);
/** Completion of config_get: the entry (NULL unless OK) and whether it is
 *  usable (present and enabled). */
typedef void (*logstate_async_config_get_cb)(logstate_status st, const logstate_log_entry *entry, int usable,
                                             void *arg);
/** Completion of config_list: the entries, sorted by origin. */
typedef void (*logstate_async_config_list_cb)(logstate_status st, const logstate_log_entry *entries, size_t n,
                                              void *arg);
/** Completion of config_set_disabled: whether the state changed. */
typedef void (*logstate_async_config_change_cb)(logstate_status st, int changed, void *arg);
/** Completion of config_history: the events, newest first. */
typedef void (*logstate_async_config_history_cb)(logstate_status st, const logstate_config_event *events, size_t n,
                                                 void *arg);

/** logstate_config_add() without blocking; `cfgs` is copied. Submit
 *  statuses: OK; INVALID_ARGUMENT for NULL `a` or `cb` and what
 *  logstate_config_add() refuses; FAILED_PRECONDITION after
 *  logstate_async_free(); RESOURCE_EXHAUSTED. */
LOGSTATE_API logstate_status logstate_async_config_add(logstate_async *a, const logstate_log_config *cfgs, size_t n,
                                                       logstate_async_config_add_cb cb, void *arg);
/** logstate_config_get() without blocking. Submit statuses as above. */
LOGSTATE_API logstate_status logstate_async_config_get(logstate_async *a, const char *origin,
                                                       logstate_async_config_get_cb cb, void *arg);
/** logstate_config_list() without blocking. Submit statuses as above. */
LOGSTATE_API logstate_status logstate_async_config_list(logstate_async *a, int all, logstate_async_config_list_cb cb,
                                                        void *arg);
/** logstate_config_set_disabled() without blocking; `reason` is copied.
 *  Submit statuses as above. */
LOGSTATE_API logstate_status logstate_async_config_set_disabled(logstate_async *a, const char *origin, int disabled,
                                                                const char *reason, logstate_async_config_change_cb cb,
                                                                void *arg);
/** logstate_config_history() without blocking. Submit statuses as above. */
LOGSTATE_API logstate_status logstate_async_config_history(logstate_async *a, const char *origin, size_t max,
                                                           logstate_async_config_history_cb cb, void *arg);

/**
 * The latency statistics of one kind of operation on this handle, from
 * submit to callback (logstate_op_stats in logstate.h). The operations hook
 * (logstate_options.on_op) is called from the loop, just before each
 * operation's callback. Call from the loop's thread.
 * @return LOGSTATE_OK; LOGSTATE_INVALID_ARGUMENT for NULL arguments or a
 *         kind outside logstate_op_kind.
 */
LOGSTATE_API logstate_status logstate_async_get_op_stats(logstate_async *a, logstate_op_kind kind,
                                                         logstate_op_stats *out);

/**
 * Copies the handle's counters into `*out` (caller-owned; logstate_stats in
 * logstate.h), on every backend. round_trips counts requests sent;
 * pipelined, they overlap in time. Call from the loop's thread, like every
 * function here.
 * @return LOGSTATE_OK; LOGSTATE_INVALID_ARGUMENT for NULL arguments;
 *         LOGSTATE_FAILED_PRECONDITION while the handle is being freed.
 */
LOGSTATE_API logstate_status logstate_async_get_stats(logstate_async *a, logstate_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* LOGSTATE_ASYNC_H */

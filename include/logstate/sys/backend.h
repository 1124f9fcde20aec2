/* SPDX-License-Identifier: Apache-2.0 */
/*
 * logstate backend interface: for authors of storage backends.
 *
 * A backend is a struct whose first member is a `logstate_backend`, pointing
 * at a `static const logstate_backend_methods` table. logstate_open_backend()
 * wraps it in a `logstate` handle. The core does, once for every backend:
 * argument checks and their messages, the write-object state machine (set
 * once, nothing after set, close always), reference counting of the handle
 * and the logstate_update() retry loop. A backend method is therefore only
 * ever called with valid arguments:
 *
 * - `log_id` is NUL-terminated, 1..LOGSTATE_MAX_LOG_ID_LEN bytes, its length
 *   given in `log_id_len`;
 * - `cp` is 1..max_checkpoint_len bytes; out pointers are not NULL;
 * - write_set is called at most once, and write_end exactly once per
 *   successful write_begin.
 *
 * Methods may be called from several threads at once on one backend (but
 * never at once on one transaction). A method that fails returns a status
 * other than LOGSTATE_OK and describes the failure with logstate_error_set().
 *
 * The methods table has one version, LOGSTATE_BACKEND_VERSION, which the
 * core checks once, in logstate_open_backend(). Methods marked "may
 * provide" are NULL when the backend has nothing to do there.
 */
#ifndef LOGSTATE_SYS_BACKEND_H
#define LOGSTATE_SYS_BACKEND_H

#include <stdarg.h>

#include "../logstate.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The version of logstate_backend_methods this header describes: the
 *  table of logstate 0.2 (0.1's version 1 table is not accepted). */
#define LOGSTATE_BACKEND_VERSION 2

typedef struct logstate_backend logstate_backend;

/** A log's stored state, with the backend's version of it. */
typedef struct logstate_backend_state {
  uint64_t version; /* 0: no checkpoint; it grows by one with every set */
  uint8_t *cp;      /* malloc()ed; NULL exactly when there is no checkpoint */
  size_t len;
} logstate_backend_state;
/** A backend's write transaction; its definition is the backend's own. */
typedef struct logstate_backend_txn logstate_backend_txn;

/** One compare-and-set request of the cas method. The core fills the
 *  inputs (borrowed until the call returns); the backend fills the results
 *  and calls logstate_backend_cas_result() once. */
typedef struct logstate_backend_cas {
  const char *log_id; /* NUL-terminated, as for every method */
  size_t log_id_len;
  logstate_backend_state expect; /* the state the new checkpoint was made from */
  /** Non-zero: store only if the log holds exactly expect.cp too. The core
   *  sets it when the expected state is one that a set not yet decided (an
   *  earlier request) is making: a version alone would then let this set
   *  land on another writer's checkpoint of that version. Otherwise
   *  comparing versions is enough (counts_versions) and the checkpoint
   *  compare is the backend's choice. */
  int exact;
  const uint8_t *cp; /* the new checkpoint */
  size_t len;
  /* Results. */
  uint64_t version;             /* OK: the log's new version */
  logstate_backend_state fresh; /* ABORTED: the log's state, when the backend learned it in the same step (fresh.cp
                                 * malloc()ed, the core takes it over) */
  int fresh_known;              /* ... and then non-zero */
} logstate_backend_cas;

typedef struct logstate_backend_methods {
  /** Must be LOGSTATE_BACKEND_VERSION. */
  unsigned int version;
  /** Short name used in messages ("memory", "redis"). Must provide. */
  const char *name;
  /** Non-zero when the versions the backend reports count every set (each
   *  one adds one): the core then remembers the highest version it saw per
   *  log and refuses a store that went back (rollback detection). */
  int counts_versions;

  /* --- what every backend provides ---------------------------------- */

  /** Every log ID with a checkpoint, unique, in any order (the core sorts).
   *  Each string and the array are malloc()ed; the core takes them over.
   *  Return a NULL array for zero logs. */
  logstate_status (*logs)(logstate_backend *be, char ***out_ids, size_t *out_n);

  /** The stored checkpoint (malloc()ed; the core takes it over), or
   *  LOGSTATE_NOT_FOUND (whose message the core writes). The core reads
   *  through read_state instead when the backend provides it. */
  logstate_status (*get_latest)(logstate_backend *be, const char *log_id, size_t log_id_len, uint8_t **out_cp,
                                size_t *out_len);

  /** Opens a transaction and takes its snapshot into *snap: the log's
   *  checkpoint (snap->cp malloc()ed, NULL when the log has none) and the
   *  backend's version of it (0 when it keeps none, or none yet). The core
   *  takes snap->cp over and keeps it unchanged until write_end, so the
   *  transaction may point at it; the core serves write_get_latest from it.
   *  Must not hold a lock that another write_begin in the same thread would
   *  wait for. */
  logstate_status (*write_begin)(logstate_backend *be, const char *log_id, size_t log_id_len,
                                 logstate_backend_txn **out_txn, logstate_backend_state *snap);

  /** Atomically stores `cp` if nobody committed since write_begin, else
   *  returns LOGSTATE_ABORTED and stores nothing. */
  logstate_status (*write_set)(logstate_backend *be, logstate_backend_txn *txn, const uint8_t *cp, size_t len);

  /** Ends the transaction (rolling back if no set succeeded) and frees
   *  `txn`, whatever it returns. */
  logstate_status (*write_end)(logstate_backend *be, logstate_backend_txn *txn);

  /** Releases the backend. Called once, when the last handle reference goes. */
  void (*free)(logstate_backend *be);

  /* --- what a backend may provide ----------------------------------- */

  /** Idempotent set-up; NULL: init does nothing. */
  logstate_status (*init)(logstate_backend *be);

  /** What init verified of the backend's durability (logstate_describe()).
   *  Thread-safe. NULL: LOGSTATE_DURABILITY_UNKNOWN. */
  logstate_durability (*durability)(logstate_backend *be);

  /** What the durability verdict rests on, for people, in one line
   *  (logstate_info.detail): copied NUL-terminated into buf, at most
   *  size - 1 bytes; "" when there is nothing to say. Thread-safe. */
  void (*detail)(logstate_backend *be, char *buf, size_t size);

  /** Copies the store's identity (NUL-terminated, at most size - 1 bytes)
   *  into buf, or "" when it has none or init has not read it. Thread-safe. */
  void (*store_id)(logstate_backend *be, char *buf, size_t size);

  /** Non-zero when the store was opened read-only (mode=ro): the core then
   *  refuses every write with FAILED_PRECONDITION before it reaches the
   *  backend, and init must write nothing. NULL: writable. */
  int (*read_only)(logstate_backend *be);

  /** The log's version and checkpoint, in one read (out->cp malloc()ed, the
   *  core takes it over; version 0 exactly when there is no checkpoint).
   *  The core then reads through it, and tells a store that went back
   *  (rollback detection). */
  logstate_status (*read_state)(logstate_backend *be, const char *log_id, size_t log_id_len,
                                logstate_backend_state *out);

  /** Compare-and-sets, without a transaction object: each request stores
   *  its `cp` if its log is still at its `expect` (see
   *  logstate_backend_cas). The requests are in the order they were made;
   *  two on one log must run in that order, the second seeing the first's
   *  effect. The backend decides every request and records its outcome
   *  with logstate_backend_cas_result(). `n` is 1 unless cas_batch says
   *  more. Provide it with `read_state`: the core then runs
   *  logstate_update() through these two, starting from the state the
   *  handle knows (one round trip). */
  void (*cas)(logstate_backend *be, logstate_backend_cas *const *reqs, size_t n);

  /** The most requests one cas call may take, when several take about the
   *  time of one (one round trip, one fsync): the core then gathers the
   *  sets that wait at the same moment into one call (group commit).
   *  Thread-safe. NULL or 1: one request per call. */
  size_t (*cas_batch)(logstate_backend *be);

  /** How many cas calls with batches may run at once (on connections of
   *  their own): the core queues a handle's sets in as many lanes, each log
   *  always in the same one, with one batch in flight per lane. Asked once,
   *  when the handle is made. NULL: 1 (every set of the handle in one
   *  queue). */
  size_t (*cas_lanes)(logstate_backend *be);

  /** logstate_verify(): walks the store, calls `report` once per
   *  disagreement between its parts and counts them. NULL: the store has
   *  nothing to disagree. */
  logstate_status (*verify)(logstate_backend *be, logstate_verify_fn report, void *arg, size_t *out_problems);

  /** logstate_history(): up to `max` entries of the log's history, newest
   *  first, in a malloc()ed array the core takes over (each entry's
   *  pointers malloc()ed too; logstate_history_free() releases them). OK
   *  with none when nothing is kept. NULL: the core returns
   *  FAILED_PRECONDITION. */
  logstate_status (*history)(logstate_backend *be, const char *log_id, size_t log_id_len, size_t max,
                             logstate_history_entry **out, size_t *out_n);

  /** Adds the backend's own counters (round trips, connections, ...) to
   *  `out`, whose other fields the core fills. Thread-safe. */
  void (*stats)(logstate_backend *be, logstate_stats *out);

  /** Copies the handle's client_name option (NUL-terminated, at most
   *  size - 1 bytes) into buf, "" when it has none: who disables or enables
   *  a log (log_config.h). Thread-safe. */
  void (*client_name)(logstate_backend *be, char *buf, size_t size);

  /* --- log configurations (log_config.h) ------------------------------
   * All five or none; none: the core returns FAILED_PRECONDITION. The core
   * validates every input, computes the log IDs and the times, compares
   * entries and sorts lists: a backend stores and reads. Entries and
   * events handed out are malloc()ed (every string too), and the core
   * takes them over. */

  /** Adds `entries` (log_id, added_ms and the configuration filled; the
   *  rest empty) insert-only, all in one atomic step: an entry whose log
   *  has none is stored whole, and existing[i] set to NULL; otherwise
   *  nothing of it is written and existing[i] is the stored entry (for a
   *  log twice in the batch, the second sees the first). `existing` is the
   *  core's array of n. On failure nothing of the batch is stored. */
  logstate_status (*config_add)(logstate_backend *be, const logstate_log_entry *entries, size_t n,
                                logstate_log_entry **existing);

  /** The entry of `log_id` (whose origin is `origin`), or NOT_FOUND. */
  logstate_status (*config_get)(logstate_backend *be, const char *origin, const char *log_id, logstate_log_entry **out);

  /** Every entry, in any order. */
  logstate_status (*config_list)(logstate_backend *be, logstate_log_entry **out, size_t *out_n);

  /** Sets the disabled flag of ev->log_id to ev->disabled, with the
   *  entry's changed_ms, changed_by and reason from the event, and appends
   *  the event to the audit trail, in one atomic step; NOT_FOUND when the
   *  log has no entry. When the flag is already ev->disabled nothing is
   *  written and *changed is 0. */
  logstate_status (*config_change)(logstate_backend *be, const logstate_config_event *ev, int *changed);

  /** Up to `max` events of the audit trail, newest first: of `log_id`
   *  (whose origin is `origin`), or of every log when both are NULL. */
  logstate_status (*config_history)(logstate_backend *be, const char *origin, const char *log_id, size_t max,
                                    logstate_config_event **out, size_t *out_n);
} logstate_backend_methods;

/** The first member of every backend struct. */
struct logstate_backend {
  const logstate_backend_methods *methods;
};

/**
 * Wraps a backend in a new handle.
 *
 * On LOGSTATE_OK the handle owns `be` and calls its `free` method when the
 * last reference goes. On failure the caller still owns `be`.
 *
 * @return LOGSTATE_OK; LOGSTATE_INVALID_ARGUMENT for NULL arguments, an
 *         unsupported methods version, a missing required method or bad
 *         options; LOGSTATE_RESOURCE_EXHAUSTED when out of memory.
 */
LOGSTATE_API logstate_status logstate_open_backend(logstate **out, logstate_backend *be, const logstate_options *opts);

/**
 * The backend of a handle, borrowed for as long as the handle lives, or NULL
 * for a NULL handle. A backend's own extension functions use it, checking
 * `methods` to recognise their own backend. Thread-safe.
 */
LOGSTATE_API logstate_backend *logstate_get_backend(logstate *ls);

/**
 * Records the calling thread's last error and returns `st`, so a backend can
 * write `return logstate_error_set(LOGSTATE_UNAVAILABLE, "...: %s", why);`.
 * The message is truncated to fit the library's buffer. Never put a password
 * in it. Thread-safe.
 */
LOGSTATE_API logstate_status logstate_error_set(logstate_status st, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/**
 * Records the outcome of one cas request: `st` (OK; ABORTED when its log
 * was not at the expected state and nothing was stored; another status
 * when it failed) and, for a status other than OK, the calling thread's
 * last error (logstate_error_set()) as its message. Call it once per
 * request, after filling its results, from any thread (the requests of
 * one call are the backend's alone until it returns). `req` must be one the
 * core passed to cas; NULL is ignored. Returns `st`.
 */
LOGSTATE_API logstate_status logstate_backend_cas_result(logstate_backend_cas *req, logstate_status st);

/** As logstate_error_set(), with a va_list. */
LOGSTATE_API logstate_status logstate_error_setv(logstate_status st, const char *fmt, va_list ap);

#ifdef __cplusplus
}
#endif

#endif /* LOGSTATE_SYS_BACKEND_H */

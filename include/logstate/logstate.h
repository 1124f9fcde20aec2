/*
 * logstate: storage for the state of transparency-log witnesses.
 *
 * This is the C form of the Go witness package `persistence`
 * (LogStatePersistence, LogStateReadOps, LogStateWriteOps), plus the later
 * `Update(origin, f)` form. For each log it stores the latest checkpoint a
 * witness cosigned, and it never lets a racing writer overwrite a newer value.
 *
 * Conventions used by every function in this header:
 *
 * - Output parameters come first and are named `out...`. On failure they are
 *   set to NULL / 0 when the pointer itself is not NULL.
 * - Bytes returned through `out_cp` belong to the caller, who releases them
 *   with free(). They are never NUL-terminated by contract; use the length.
 * - On any status other than LOGSTATE_OK, logstate_last_error() describes the
 *   failure for the calling thread.
 * - A NULL handle or pointer argument returns LOGSTATE_INVALID_ARGUMENT; it
 *   never crashes.
 *
 * Thread-safety: every function taking a `logstate *` may be called from
 * several threads at once on the same handle. A `logstate_read` or a
 * `logstate_write` object must be used by one thread at a time (it may move
 * between threads). logstate_status_name() and logstate_last_error() are
 * always safe.
 */
#ifndef LOGSTATE_LOGSTATE_H
#define LOGSTATE_LOGSTATE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LOGSTATE_VERSION_MAJOR 0
#define LOGSTATE_VERSION_MINOR 1
#define LOGSTATE_VERSION_PATCH 0

/** Longest accepted log ID, in bytes, excluding the terminating NUL. */
#define LOGSTATE_MAX_LOG_ID_LEN 1024
/** Default largest accepted checkpoint, in bytes (see logstate_options). */
#define LOGSTATE_DEFAULT_MAX_CHECKPOINT_LEN (1024 * 1024)
/** Default number of attempts logstate_update() makes (see logstate_options). */
#define LOGSTATE_DEFAULT_UPDATE_ATTEMPTS 32

/**
 * Result of every fallible call. The names say what the caller does next.
 */
typedef enum logstate_status {
  LOGSTATE_OK = 0,
  LOGSTATE_NOT_FOUND,           /* no checkpoint stored for this log */
  LOGSTATE_ABORTED,             /* another writer committed first: retry from the read */
  LOGSTATE_INVALID_ARGUMENT,    /* bad log ID, checkpoint, URL or option */
  LOGSTATE_FAILED_PRECONDITION, /* misuse (set twice, use after set) or unsafe backend configuration */
  LOGSTATE_UNAVAILABLE,         /* backend unreachable, timed out, connection lost */
  LOGSTATE_PERMISSION_DENIED,   /* authentication or authorization refused */
  LOGSTATE_RESOURCE_EXHAUSTED,  /* out of memory, backend full or overloaded (pushback) */
  LOGSTATE_INTERNAL             /* unexpected reply, corrupt stored data */
} logstate_status;

/**
 * The upper-case name of a status ("OK", "NOT_FOUND", ...), or "UNKNOWN" for
 * a value outside the enum. The string is static. Thread-safe.
 */
const char *logstate_status_name(logstate_status st);

/**
 * A description of the last failure on the calling thread: what went wrong
 * and, for backend errors, the backend's own text (never a password).
 *
 * Never NULL: "no error" before any failure. The string is owned by the
 * library and stays valid until the next logstate call on this thread that
 * fails. It is not cleared by calls that succeed. Thread-safe (per thread).
 */
const char *logstate_last_error(void);

/** A handle on one store: LogStatePersistence. */
typedef struct logstate logstate;
/** Read operations on one log: LogStateReadOps. */
typedef struct logstate_read logstate_read;
/** A write transaction on one log: LogStateWriteOps. */
typedef struct logstate_write logstate_write;

/**
 * Options that apply to every backend. Start from LOGSTATE_OPTIONS_INIT so
 * that fields added later get their defaults; a zero field means "default".
 */
typedef struct logstate_options {
  unsigned int version;         /* LOGSTATE_OPTIONS_VERSION */
  unsigned int update_attempts; /* logstate_update() tries; 0: LOGSTATE_DEFAULT_UPDATE_ATTEMPTS */
  size_t max_checkpoint_len;    /* 0: LOGSTATE_DEFAULT_MAX_CHECKPOINT_LEN */
} logstate_options;

#define LOGSTATE_OPTIONS_VERSION 1
#define LOGSTATE_OPTIONS_INIT                                                                                          \
  { LOGSTATE_OPTIONS_VERSION, 0, 0 }

/**
 * Opens a handle on the store named by `url`, with default options.
 *
 * URL forms:
 * - "memory:" a new, private, empty in-process store;
 * - "memory:NAME" the in-process store called NAME (percent-decoded),
 *   shared by every handle opened with that name and kept while any of
 *   them is open; it takes no query keys;
 * - "sqlite:PATH" and "redis://..." where the library was built with those
 *   backends (see their headers).
 *
 * Every scheme reads options from a `?key=value&...` query the same way
 * and refuses a key it does not know (INVALID_ARGUMENT).
 *
 * Opening does not contact a remote backend; logstate_init() does.
 *
 * @param out receives the new handle, owned by the caller, released with
 *        logstate_free(). Set to NULL on failure.
 * @return LOGSTATE_OK;
 *         LOGSTATE_INVALID_ARGUMENT for NULL arguments, an unknown scheme or
 *         a malformed URL (the message never repeats a password);
 *         LOGSTATE_RESOURCE_EXHAUSTED when out of memory;
 *         other statuses as the backend's constructor documents.
 */
logstate_status logstate_open(logstate **out, const char *url);

/**
 * As logstate_open(), with options. `opts` may be NULL for the defaults; it
 * is copied and not kept. A version or value outside the documented range
 * returns LOGSTATE_INVALID_ARGUMENT.
 */
logstate_status logstate_open_ext(logstate **out, const char *url, const logstate_options *opts);

/**
 * Releases the caller's reference to a handle. NULL is a no-op.
 *
 * Read and write objects still open keep the store alive until they are
 * freed or closed, so a late logstate_write_close() is still safe. Must not
 * be called while another thread uses the same handle.
 */
void logstate_free(logstate *ls);

/**
 * Sets up the store (creates tables, loads scripts, checks configuration).
 * Idempotent; call it once per process start, before other operations. Safe
 * to call on several handles over one store.
 *
 * @return LOGSTATE_OK; LOGSTATE_INVALID_ARGUMENT for NULL;
 *         LOGSTATE_FAILED_PRECONDITION for an unsafe or unknown backend
 *         configuration (the message says which setting to change);
 *         LOGSTATE_UNAVAILABLE, LOGSTATE_PERMISSION_DENIED,
 *         LOGSTATE_RESOURCE_EXHAUSTED, LOGSTATE_INTERNAL from the backend.
 */
logstate_status logstate_init(logstate *ls);

/** How far logstate_init() verified that an acknowledged write survives a
 *  crash of the backend. */
typedef enum logstate_durability {
  LOGSTATE_DURABILITY_UNKNOWN = 0, /* not checked (or logstate_init() not run yet) */
  LOGSTATE_DURABILITY_VERIFIED,    /* the settings were read back and are durable */
  LOGSTATE_DURABILITY_AT_RISK,     /* settings that may lose writes were accepted (a "warn" option) */
  LOGSTATE_DURABILITY_NONE         /* the store lives in this process only (memory:) */
} logstate_durability;

/** What a handle is on, for tools and logs. */
typedef struct logstate_info {
  const char *backend;            /* "memory", "sqlite", "redis", ...: static, never NULL */
  logstate_durability durability; /* as far as logstate_init() found */
} logstate_info;

/**
 * Describes a handle: its backend and what logstate_init() verified of its
 * durability. No I/O. Thread-safe.
 *
 * @param out filled on LOGSTATE_OK (caller-owned; the strings are static).
 * @return LOGSTATE_OK; LOGSTATE_INVALID_ARGUMENT for NULL arguments.
 */
logstate_status logstate_describe(logstate *ls, logstate_info *out);

/**
 * Lists the IDs of every log that has a checkpoint: sorted bytewise
 * (strcmp order), without duplicates.
 *
 * @param out_ids receives an array of `*out_n` NUL-terminated strings, owned
 *        by the caller and released with logstate_logs_free(). NULL when
 *        there are no logs.
 * @param out_n receives the number of IDs.
 * @return LOGSTATE_OK; LOGSTATE_INVALID_ARGUMENT for NULL arguments;
 *         LOGSTATE_RESOURCE_EXHAUSTED; backend statuses as for logstate_init().
 */
logstate_status logstate_logs(logstate *ls, char ***out_ids, size_t *out_n);

/** Releases what logstate_logs() returned. NULL is a no-op. */
void logstate_logs_free(char **ids, size_t n);

/**
 * Creates read operations for one log. Succeeds for a log that has no
 * checkpoint (its get_latest then returns LOGSTATE_NOT_FOUND), so that trust
 * on first use works.
 *
 * A log ID is a NUL-terminated string of 1 to LOGSTATE_MAX_LOG_ID_LEN bytes;
 * any byte but NUL is allowed. It is copied.
 *
 * @param out receives the object, owned by the caller, released with
 *        logstate_read_free().
 * @return LOGSTATE_OK; LOGSTATE_INVALID_ARGUMENT for NULL arguments or a bad
 *         log ID; LOGSTATE_RESOURCE_EXHAUSTED when out of memory.
 */
logstate_status logstate_read_ops(logstate *ls, const char *log_id, logstate_read **out);

/**
 * Reads the latest checkpoint of the log, as stored now.
 *
 * @param out_cp receives the bytes (caller frees with free()).
 * @param out_len receives their length (at least 1).
 * @return LOGSTATE_OK; LOGSTATE_NOT_FOUND when no checkpoint is stored;
 *         LOGSTATE_INVALID_ARGUMENT for NULL arguments; backend statuses as
 *         for logstate_init().
 */
logstate_status logstate_read_get_latest(logstate_read *r, uint8_t **out_cp, size_t *out_len);

/** Releases read operations. NULL is a no-op. */
void logstate_read_free(logstate_read *r);

/**
 * Opens a write transaction on one log and takes its snapshot: what
 * logstate_write_get_latest() returns, and what logstate_write_set() checks
 * that nobody changed. The log need not have a checkpoint yet.
 *
 * The object must always be finished with logstate_write_close(). It holds
 * no lock: a thread may hold several write objects at once, on one log or
 * several, without deadlock.
 *
 * @param out receives the transaction, owned by the caller until
 *        logstate_write_close().
 * @return LOGSTATE_OK; LOGSTATE_INVALID_ARGUMENT for NULL arguments or a bad
 *         log ID; LOGSTATE_RESOURCE_EXHAUSTED (out of memory, or no backend
 *         connection free in time); backend statuses as for logstate_init().
 */
logstate_status logstate_write_ops(logstate *ls, const char *log_id, logstate_write **out);

/**
 * Returns the checkpoint as it was when the transaction was opened.
 *
 * @return LOGSTATE_OK; LOGSTATE_NOT_FOUND when the log had no checkpoint;
 *         LOGSTATE_INVALID_ARGUMENT for NULL arguments;
 *         LOGSTATE_FAILED_PRECONDITION after logstate_write_set();
 *         backend statuses as for logstate_init().
 */
logstate_status logstate_write_get_latest(logstate_write *w, uint8_t **out_cp, size_t *out_len);

/**
 * Stores a new checkpoint atomically, only if nobody committed to this log
 * since the transaction was opened. `cp` is copied; 1 byte to the configured
 * maximum (1 MiB by default), any bytes.
 *
 * Whatever its result, a set ends the transaction: afterwards only
 * logstate_write_close() is allowed.
 *
 * @return LOGSTATE_OK once the backend has made the write durable (as far as
 *         the backend's configuration allows);
 *         LOGSTATE_ABORTED when another writer committed first: nothing was
 *         stored; open a new transaction and redo the check;
 *         LOGSTATE_INVALID_ARGUMENT for NULL arguments, an empty or
 *         oversized checkpoint (the transaction stays usable);
 *         LOGSTATE_FAILED_PRECONDITION for a second set, or a backend guard
 *         refusing the checkpoint;
 *         LOGSTATE_UNAVAILABLE when the outcome could not be confirmed (the
 *         write may or may not have happened: read again before retrying);
 *         other backend statuses as for logstate_init().
 */
logstate_status logstate_write_set(logstate_write *w, const uint8_t *cp, size_t len);

/**
 * Ends a write transaction and releases `w`, always, whatever it returns.
 * Without a successful set, the stored state is left untouched.
 *
 * @return LOGSTATE_OK; LOGSTATE_INVALID_ARGUMENT for NULL; a backend status
 *         if cleaning up the transaction failed (the object is still freed
 *         and the stored state is still untouched).
 */
logstate_status logstate_write_close(logstate_write *w);

/**
 * The update function given to logstate_update().
 *
 * @param cur the stored checkpoint, or NULL (and cur_len 0) if none. Valid
 *        only during the call.
 * @param out_next receives the next checkpoint, allocated with malloc(); the
 *        library takes it over (and frees it) whatever happens next. Leaving
 *        it NULL while returning LOGSTATE_OK means "no change": nothing is
 *        written and logstate_update() returns LOGSTATE_OK.
 * @return LOGSTATE_OK to write `*out_next`; any other status stops the
 *         update, and logstate_update() returns it unchanged.
 *
 * The function may run more than once (once per attempt), so it must have no
 * side effects beyond computing the next value. It may call other functions
 * on the same handle: no lock is held while it runs. A write it makes to the
 * same log makes the current attempt lose its race and start again. With the
 * Redis backend each nested call takes another pool connection, so a pool
 * of one would wait `timeout_ms` and fail with RESOURCE_EXHAUSTED.
 */
typedef logstate_status (*logstate_update_fn)(const uint8_t *cur, size_t cur_len, /* cur == NULL: none stored */
                                              uint8_t **out_next, size_t *out_next_len, void *arg);

/**
 * Read-modify-write of one log in one transaction: Update(origin, f).
 *
 * Opens a write transaction, calls `fn` with the snapshot, stores what it
 * returns, and starts again from the read when another writer won the race,
 * up to the configured number of attempts (with a short randomized backoff).
 *
 * @return LOGSTATE_OK when stored (or when `fn` asked for no change);
 *         any non-OK status from `fn`, unchanged, with nothing written;
 *         LOGSTATE_ABORTED when every attempt lost a race;
 *         LOGSTATE_INVALID_ARGUMENT for NULL arguments, a bad log ID, or an
 *         empty or oversized value from `fn`; backend statuses as for
 *         logstate_write_set().
 */
logstate_status logstate_update(logstate *ls, const char *log_id, logstate_update_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* LOGSTATE_LOGSTATE_H */

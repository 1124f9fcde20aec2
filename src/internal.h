/* SPDX-License-Identifier: Apache-2.0 */
/* Internal helpers shared by the core and the bundled backends. */
#ifndef LOGSTATE_INTERNAL_H
#define LOGSTATE_INTERNAL_H

#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

#include "logstate/logstate.h"
#include "logstate/sys/backend.h"

/* Shorthand for backends and the core: record and return an error. */
#define ls_err logstate_error_set

/* logstate_quote(): log IDs with newlines or control bytes stay on one
 * line in messages. */
#define ls_quote logstate_quote
#define LS_QUOTE_BUFSZ 96

/* The size of the per-thread last-error buffer. */
#define LS_ERROR_MAX 1024
/* As ls_err, and records why (logstate_last_error_cause()). */
logstate_status ls_err_cause(logstate_cause cause, logstate_status st, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* A failure carried to another thread or kept across a call that may fail
 * itself: its status, cause and message. */
typedef struct ls_saved_error {
  logstate_status st;
  logstate_cause cause;
  char msg[LS_ERROR_MAX];
} ls_saved_error;
/* Keeps the calling thread's last failure as `st` (nothing for OK). */
void ls_error_save(ls_saved_error *e, logstate_status st);
/* Makes it the calling thread's last failure again; returns its status. */
logstate_status ls_error_restore(const ls_saved_error *e);

/* The length of the printable UTF-8 character (2 to 4 bytes) at s[0..n):
 * 0 for invalid UTF-8, a C1 control or a bidirectional override. */
size_t ls_printable_utf8(const unsigned char *s, size_t n);
/* malloc()ed copy of n bytes, plus a NUL so that C strings can be copied the
 * same way. NULL when out of memory. */
void *ls_memdup(const void *p, size_t n);

/* A 64-bit hash of n bytes (FNV-1a), for the in-process hash tables. */
static inline uint64_t ls_hash(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t k = 0; k < n; k++) {
    h ^= (unsigned char)s[k];
    h *= 1099511628211ull;
  }
  return h;
}

/* The argument checks of the public API, shared with the async API. They
 * record a message naming `fn` and return INVALID_ARGUMENT. */
logstate_status ls_check_log_id(const char *fn, const char *log_id, size_t *out_len);
logstate_status ls_check_checkpoint(const char *fn, size_t max_len, const uint8_t *cp, size_t len);

/* Sorts `ids` bytewise and drops duplicates (freeing them); *n shrinks. */
void ls_sort_unique(char **ids, size_t *n);

/* --- store_id.c: store identity, shared by the backends that keep one ---- */

#define LS_STORE_ID_MAX 64
/* INVALID_ARGUMENT unless `id` is NULL or 1 to 64 of [A-Za-z0-9_-]. */
logstate_status ls_store_id_check_arg(const char *backend, const char *id);
/* A new store ID, 32 hex digits from /dev/urandom: 1, or 0 if unreadable. */
int ls_store_id_new(char out[33]);
/* NOT_FOUND: `store` (e.g. "namespace logstate") holds no store
 * (`what` says how that was seen) and the caller said create=no, or opened
 * it read-only. */
logstate_status ls_store_absent(const char *backend, const char *store, const char *what, int read_only);
/* OK when nothing is pinned or `found` (NULL: none) equals `pinned`; else
 * FAILED_PRECONDITION saying the store was reset or is another store. */
logstate_status ls_store_id_compare(const char *backend, const char *store, const char *pinned, const char *found,
                                    size_t found_len);

/* --- url.c: what every URL scheme shares ------------------------------- */

/* Percent-decodes s[0..n) into a new string. NULL and *bad set on a bad
 * escape or an encoded NUL; NULL alone when out of memory. */
char *ls_pct_decode(const char *s, size_t n, int *bad);
/* A decimal in [0, max], the whole of s[0..n): 1 and *out, else 0. */
int ls_parse_uint(const char *s, size_t n, unsigned long max, unsigned int *out);

/* One key=value of a URL query. */
typedef struct ls_query_param {
  const char *key, *val;
  size_t key_len, val_len;
} ls_query_param;

/* Reads the next parameter of the query at *q (after the '?') and advances
 * *q: 1 with *p filled, 0 at the end, -1 for a parameter without '='
 * (INVALID_ARGUMENT recorded; `what` names the scheme in the message). */
int ls_query_next(const char *what, const char **q, ls_query_param *p);
/* Whether the parameter's key is `key`. */
int ls_query_is(const ls_query_param *p, const char *key);
/* Records INVALID_ARGUMENT for an unknown key, listing the `known` ones. */
logstate_status ls_query_unknown(const char *what, const ls_query_param *p, const char *known);
/* The parameter's value as a whole number in [min, max], else
 * INVALID_ARGUMENT naming the key and the range. */
/* 1 for "yes", 0 for "no"; else -1 with INVALID_ARGUMENT recorded. */
int ls_query_yes_no(const char *what, const ls_query_param *p);
logstate_status ls_query_uint(const char *what, const ls_query_param *p, unsigned long min, unsigned long max,
                              unsigned int *out);

/* create=yes|no[|on_write] into *out; INVALID_ARGUMENT (recorded) for
 * another value. */
logstate_status ls_query_create(const char *what, const ls_query_param *p, int on_write_ok, logstate_create *out);
/* INVALID_ARGUMENT, naming `what`, for a create value outside the enum (or
 * ON_WRITE where it is not offered). */
logstate_status ls_check_create(const char *what, logstate_create c, int on_write_ok);
/* A flag's value: `dflt` for DEFAULT, else YES; *st INVALID_ARGUMENT
 * (recorded, naming `what` and `name`) for a value outside the enum. */
int ls_flag_value(const char *what, const char *name, logstate_flag f, int dflt, logstate_status *st);

/* --- history.c: per-log history, what the backends share --------------- */

#define LS_HISTORY_MAX_KEEP 100000
#define LS_CLIENT_NAME_MAX 64
#define LS_HISTORY_KEYS "history, history_bodies, client_name"
typedef struct ls_history_cfg {
  unsigned int keep;                        /* history=K: the K newest entries per log; 0: none kept */
  int bodies;                               /* history_bodies: 1 keeps the checkpoint, 0 its SHA-256 only */
  char client_name[LS_CLIENT_NAME_MAX + 1]; /* "": none */
} ls_history_cfg;
/* The defaults: no history, bodies kept, no client name. */
void ls_history_cfg_init(ls_history_cfg *h);
/* From typed options; INVALID_ARGUMENT (naming `what`) for keep above the
 * maximum or a client name that is not 1 to 64 visible ASCII bytes. */
logstate_status ls_history_cfg_set(const char *what, ls_history_cfg *h, unsigned int keep, int bodies,
                                   const char *client_name);
/* 1 when `p` is one of LS_HISTORY_KEYS, parsed into `h` with *st its
 * outcome; 0 when it is another key. */
int ls_history_param(const char *what, const ls_query_param *p, ls_history_cfg *h, logstate_status *st);
/* The lowercase hex SHA-256 of n bytes (OpenSSL's). */
void ls_sha256_hex(const uint8_t *p, size_t n, char out[65]);
/* What an entry records of a checkpoint besides its bytes. */
typedef struct ls_history_rec {
  char sha256[65];    /* "" unless asked for */
  const char *origin; /* the first line, inside the checkpoint; origin_len 0: none */
  size_t origin_len;
  char tree_size[21]; /* the second line, a 64-bit decimal; "": none */
} ls_history_rec;
/* The origin and tree size, and the SHA-256 only `with_sha` (where it is
 * stored; an entry with the checkpoint gets it from the checkpoint). */
void ls_history_rec_of(const uint8_t *cp, size_t len, int with_sha, ls_history_rec *r);
/* Fills `e`, copying every string (body NULL: kept without the checkpoint,
 * its SHA-256 from sha_hex). On failure `e` holds nothing to free. */
logstate_status ls_history_entry_fill(logstate_history_entry *e, uint64_t version, int64_t time_ms, const uint8_t *body,
                                      size_t body_len, const char *sha_hex, size_t sha_len, const char *origin,
                                      size_t origin_len, const char *tree_size, size_t tree_size_len,
                                      const char *client, size_t client_len);

/* Frees what an entry points to (not the entry itself) and clears it. */
void ls_history_entry_release(logstate_history_entry *e);
/* A copy of `src` into `dst` (every string copied). */
logstate_status ls_history_entry_copy(logstate_history_entry *dst, const logstate_history_entry *src);

/* Constructor of the in-memory backend, from what follows "memory:" (the name,
 * percent-decoded) and its history options. */
logstate_status ls_memory_backend_new(logstate_backend **out, const char *name, const ls_history_cfg *h);

/* --- policy.c: the policy the sync and the async API share ------------- */

/* logstate_options, resolved: every field has its value. */
typedef struct ls_policy {
  unsigned int update_attempts;
  size_t max_checkpoint_len;
  logstate_op_hook on_op; /* NULL: none */
  void *on_op_arg;
} ls_policy;

/* Validates `o` (NULL: defaults) into `out`; messages name `fn`. */
logstate_status ls_policy_from_options(const char *fn, const logstate_options *o, ls_policy *out);

/* Records "no checkpoint stored for log X" and returns NOT_FOUND. */
logstate_status ls_not_found(const char *log_id, size_t log_id_len);

/* A transaction's snapshot handed to the caller: a malloc()ed copy of `cp`,
 * or NOT_FOUND when cp is NULL (no checkpoint). */
logstate_status ls_snapshot_copy(const uint8_t *cp, size_t len, const char *log_id, size_t log_id_len, uint8_t **out_cp,
                                 size_t *out_len);

/* The set-once rule of write objects: OK while `ended` is 0, else
 * FAILED_PRECONDITION naming `fn`. */
logstate_status ls_write_usable(const char *fn, int ended);

/* One step of Update(origin, f): calls `f` with the current checkpoint and
 * checks what it returns. Returns 1 with the next checkpoint to set
 * (malloc()ed, the caller's); or 0 with *out_st: OK for "no change", f's own
 * status, or INVALID_ARGUMENT for an empty or oversized value, with the
 * message recorded. */
int ls_update_apply(const char *fn, const ls_policy *p, logstate_update_fn f, void *arg, const char *log_id,
                    size_t log_id_len, const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len,
                    logstate_status *out_st);

/* A random number for a backoff's jitter (not for secrets). Per thread. */
uint64_t ls_random(void);

/* After attempt number `attempt` lost its race: 1 and the randomized
 * backoff to wait before the next attempt, or 0 when every attempt is used
 * (ABORTED recorded). With `fresh` (the lost race told the current state),
 * the first two retries go at once with it; after a backoff (a delay > 0)
 * the caller must read the state again: what the race told is stale. */
int ls_update_retry(const char *fn, const ls_policy *p, unsigned int attempt, int fresh, const char *log_id,
                    size_t log_id_len, uint64_t *out_delay_us);

/* --- ops.c: what each finished operation reports ----------------------- */

typedef struct ls_opstats ls_opstats;
/* NULL when out of memory. */
ls_opstats *ls_opstats_new(void);
void ls_opstats_free(ls_opstats *s);
/* Fills `out` for `kind`. Thread-safe. */
void ls_opstats_get(const ls_opstats *s, logstate_op_kind kind, logstate_op_stats *out);
/* INVALID_ARGUMENT naming `fn` for a NULL handle or out, or a bad kind. */
logstate_status ls_op_stats_check(const char *fn, const void *handle, logstate_op_kind kind, const void *out);
/* Counts it in `s` (may be NULL) and calls the policy's hook (if any),
 * keeping the caller's last error. */
void ls_op_report(const ls_policy *p, ls_opstats *s, const logstate_op_info *info);
/* The monotonic clock, in microseconds. */
uint64_t ls_now_us(void);
/* Round trips made by this thread: a sync backend adds one per exchange. */
extern _Thread_local uint64_t ls_tl_round_trips;
/* Brackets one public call: only the outermost of nested calls reports. */
typedef struct ls_op_clock {
  uint64_t t0, rt0;
  int outer;
} ls_op_clock;
void ls_op_begin(ls_op_clock *c);
/* Reports the call (keeping the caller's last error) and returns `st`. */
logstate_status ls_op_end(const ls_policy *p, ls_opstats *s, const ls_op_clock *c, logstate_op_kind kind,
                          const char *log_id, logstate_status st, unsigned int retries);

/* A handle (handle.c; core.c runs its read and write objects, update.c
 * its updates). */
struct logstate {
  logstate_backend *be;
  /* One reference for the user's handle, one per open read or write object:
   * freeing the handle early must not pull the backend out from under
   * them. */
  atomic_uint refs;
  ls_policy policy;
  struct ls_logtab *tab;  /* what the handle knows of each log (logtab.h) */
  struct ls_group *group; /* its sets' group commit (group.h) */
  ls_opstats *opstats;    /* logstate_get_op_stats() */
};

/* Drops one reference; the last frees the handle and its backend. */
void ls_handle_release(logstate *ls);
/* The backend's version of a write object's snapshot. */
uint64_t ls_write_version(const logstate_write *w);
/* logstate_write_set() on n write objects of one handle, each on its own
 * log, their checkpoints cps[i] (lens[i] bytes); out[i] gets each one's
 * status and message. Through the group commit when the backend batches
 * sets: the async API's worker over SQLite commits its sets in flight
 * together. */
void ls_write_set_many(logstate_write *const *ws, const uint8_t *const *cps, const size_t *lens, ls_saved_error *out,
                       size_t n);
/* FAILED_PRECONDITION, naming `fn`, when the handle was opened read-only. */
logstate_status ls_check_writable(logstate *ls, const char *fn);
/* Whether the backend sets against a version (read_state and cas). */
int ls_core_by_version(const logstate *ls);
/* The backend's read_state with its result checked, and the state checked
 * against what the handle saw (rollback detection) and kept: version 0 and
 * s->cp NULL for an absent log. */
logstate_status ls_backend_read_state(logstate *ls, const char *fn, const char *log_id, size_t n,
                                      logstate_backend_state *s);

#endif

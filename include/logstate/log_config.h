/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Log configurations: the list of logs a witness serves, kept in the store
 * beside the checkpoints, as the Go witness keeps it since 2026 (its
 * AddLogs, Log and Logs). Included by logstate.h.
 *
 * - An entry is a log's configuration (origin, verifier key, contact,
 *   queries per day) and its disabled flag, under the log's ID
 *   hex(SHA-256("o:" || origin)) (logstate_log_id()).
 * - Adding is insert-only: an existing entry is never changed by an add,
 *   whatever the add says. So an automated feed (the witness network's
 *   configuration) can never overwrite an entry, nor re-enable a log an
 *   operator disabled. Racing adders of one origin leave exactly one entry.
 * - Disabling and enabling are an operator's acts
 *   (logstate_config_set_disabled()): each is recorded, with who (the
 *   handle's client_name option), when and why, in the store's audit trail
 *   in the same atomic step (logstate_config_history()).
 * - Each call is atomic on the store: all of an add's entries or none, and
 *   a disable with its audit record or neither.
 * - Where the entries live: SQLite, the Go witness's own `logs` table
 *   (shared both ways with a witness's file) and logstate's side tables
 *   `logstate_log_meta` and `logstate_log_audit`; Redis, a hash per log and
 *   an index set under the namespace (README "Log configurations"); memory,
 *   the named store.
 * - Times are the client's clock, in milliseconds since the epoch.
 *
 * Every function here is thread-safe on one handle, like those of
 * logstate.h, and follows its conventions: a NULL handle or pointer
 * argument is INVALID_ARGUMENT; on failure the out parameters are NULL / 0
 * and logstate_last_error() says why.
 */
#ifndef LOGSTATE_LOG_CONFIG_H
#define LOGSTATE_LOG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "logstate/logstate.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Length of a log ID as logstate_log_id() writes it (64 lowercase hex
 *  digits), without the NUL. */
#define LOGSTATE_LOG_ID_HEX_LEN 64
/** Longest origin, verifier key, contact and reason, in bytes. */
#define LOGSTATE_MAX_ORIGIN_LEN 1024
#define LOGSTATE_MAX_VKEY_LEN 4096
#define LOGSTATE_MAX_CONTACT_LEN 1024
#define LOGSTATE_MAX_REASON_LEN 1024
/** Most entries of one logstate_config_add() call. */
#define LOGSTATE_MAX_CONFIG_BATCH 10000
/** Most events one logstate_config_history() call returns. */
#define LOGSTATE_MAX_CONFIG_HISTORY 10000

/**
 * The log ID of an origin: hex(SHA-256("o:" || origin)), lowercase, as the
 * Go witness and transparency-dev/formats' log.ID compute it. The ID under
 * which logstate_config_* and the 2026 witness keep the log (and its
 * checkpoints: pass it as the log ID of logstate.h's calls).
 * @param out receives the 64 digits and a NUL.
 * @return LOGSTATE_OK; LOGSTATE_INVALID_ARGUMENT for NULL arguments or an
 *         origin that logstate_config_add() would refuse. Thread-safe.
 */
LOGSTATE_API logstate_status logstate_log_id(const char *origin, char out[LOGSTATE_LOG_ID_HEX_LEN + 1]);

/**
 * A log's configuration, as given to logstate_config_add() (borrowed).
 * Every string is NUL-terminated UTF-8 without control characters, and
 * none may read as a number (such as "7" or "1e5": the witness's own
 * SQLite columns would turn it into one).
 */
typedef struct logstate_log_config {
  const char *origin;  /* 1 to LOGSTATE_MAX_ORIGIN_LEN bytes: the first line of the log's checkpoints */
  const char *vkey;    /* 1 to LOGSTATE_MAX_VKEY_LEN visible ASCII bytes: the note verifier key */
  const char *contact; /* NULL: none; else 1 to LOGSTATE_MAX_CONTACT_LEN bytes */
  double qpd;          /* queries per day, when has_qpd: finite, 0 or more */
  int has_qpd;
  int disabled; /* non-zero: the entry is added disabled */
} logstate_log_config;

/** What logstate_config_add() did with one configuration. */
typedef enum logstate_config_result {
  LOGSTATE_CONFIG_ADDED = 1, /* there was no entry: it is added */
  LOGSTATE_CONFIG_IDENTICAL, /* an entry with the same origin, vkey, contact and qpd exists: nothing changed */
  LOGSTATE_CONFIG_DIFFERENT  /* an entry with other values exists: nothing changed */
} logstate_config_result;

/** A stored entry. Every pointer is malloc()ed and owned with the entry. */
typedef struct logstate_log_entry {
  char log_id[LOGSTATE_LOG_ID_HEX_LEN + 1]; /* hex(SHA-256("o:" || origin)) */
  char *origin;
  char *vkey;
  char *contact; /* NULL: none */
  double qpd;
  int has_qpd;
  int disabled; /* usable exactly when 0 */
  /* logstate's own, beside the witness's columns: 0 / NULL when unknown (an
   * entry another program added, or never disabled nor enabled). */
  int64_t added_ms;   /* when it was added */
  int64_t changed_ms; /* when it was last disabled or enabled */
  char *changed_by;   /* by whom: that handle's client_name, NULL when it had none */
  char *reason;       /* why, as given; NULL when none */
} logstate_log_entry;

/** A disable or enable, as the audit trail keeps it. */
typedef struct logstate_config_event {
  char log_id[LOGSTATE_LOG_ID_HEX_LEN + 1];
  char *origin;
  int disabled; /* 1: disabled, 0: enabled */
  int64_t at_ms;
  char *by;     /* the client_name of the handle that did it; NULL when none */
  char *reason; /* NULL when none */
} logstate_config_event;

/**
 * Adds configurations, insert-only: each origin without an entry gets one;
 * an existing entry is left as it is, disabled flag included. All entries
 * are checked before anything is written; one bad entry refuses the call
 * and writes nothing. The same origin twice in one call: the second is
 * judged against the first.
 * @param cfgs the n configurations (1 to LOGSTATE_MAX_CONFIG_BATCH).
 * @param out_results receives one result per configuration (caller's
 *        array of n).
 * @return LOGSTATE_OK (whatever the results); LOGSTATE_INVALID_ARGUMENT for
 *         NULL arguments, n out of range or a bad configuration (its index
 *         and field named); LOGSTATE_FAILED_PRECONDITION on a read-only
 *         handle; backend statuses as for logstate_update() (on a failure,
 *         nothing of the call is stored).
 */
LOGSTATE_API logstate_status logstate_config_add(logstate *ls, const logstate_log_config *cfgs, size_t n,
                                                 logstate_config_result *out_results);

/**
 * Checks configurations as logstate_config_add() does, without a store:
 * for a feed to be refused whole before anything is written.
 * @return LOGSTATE_OK; LOGSTATE_INVALID_ARGUMENT naming the first bad
 *         configuration's index and field (n 0 is OK). Thread-safe.
 */
LOGSTATE_API logstate_status logstate_config_check(const logstate_log_config *cfgs, size_t n);

/**
 * The entry of an origin.
 * @param out receives it (caller frees with logstate_log_entry_free()).
 * @param out_usable (may be NULL) receives 1 when the entry is present and
 *        enabled, else 0 (the Go witness's Log(origin)).
 * @return LOGSTATE_OK; LOGSTATE_NOT_FOUND when there is none;
 *         LOGSTATE_INVALID_ARGUMENT for NULL arguments or a bad origin;
 *         LOGSTATE_INTERNAL for a stored entry that is damaged (named);
 *         backend statuses as for logstate_get_latest().
 */
LOGSTATE_API logstate_status logstate_config_get(logstate *ls, const char *origin, logstate_log_entry **out,
                                                 int *out_usable);

/**
 * The entries, sorted by origin (bytewise): the enabled ones (the Go
 * witness's Logs()), or all with `all` non-zero.
 * @param out receives an array (NULL when empty) released with
 *        logstate_log_entries_free().
 * @return LOGSTATE_OK; LOGSTATE_INVALID_ARGUMENT for NULL arguments;
 *         LOGSTATE_INTERNAL for a damaged entry; backend statuses as for
 *         logstate_logs().
 */
LOGSTATE_API logstate_status logstate_config_list(logstate *ls, int all, logstate_log_entry **out, size_t *out_n);

/**
 * Disables (disabled non-zero) or enables an origin's entry, recording the
 * act in the audit trail in the same atomic step. An entry already in that
 * state is left alone and nothing is recorded.
 * @param reason NULL, or 1 to LOGSTATE_MAX_REASON_LEN bytes of UTF-8
 *        without control characters.
 * @param out_changed (may be NULL) receives 1 when the state changed.
 * @return LOGSTATE_OK; LOGSTATE_NOT_FOUND when the origin has no entry;
 *         LOGSTATE_INVALID_ARGUMENT; LOGSTATE_FAILED_PRECONDITION on a
 *         read-only handle; LOGSTATE_PERMISSION_DENIED when the store's user
 *         may not (README: the Redis ACL of a witness); backend statuses.
 */
LOGSTATE_API logstate_status logstate_config_set_disabled(logstate *ls, const char *origin, int disabled,
                                                          const char *reason, int *out_changed);

/**
 * The audit trail, newest first: up to `max` (1 to
 * LOGSTATE_MAX_CONFIG_HISTORY) events of one origin, or of every origin
 * when `origin` is NULL. The store keeps what it keeps (Redis: the newest
 * 10,000 events; memory: 1,024; SQLite: all).
 * @param out receives an array (NULL when empty) released with
 *        logstate_config_events_free().
 * @return LOGSTATE_OK; LOGSTATE_INVALID_ARGUMENT; backend statuses.
 */
LOGSTATE_API logstate_status logstate_config_history(logstate *ls, const char *origin, size_t max,
                                                     logstate_config_event **out, size_t *out_n);

/** Releases an entry of logstate_config_get(). NULL is a no-op. */
LOGSTATE_API void logstate_log_entry_free(logstate_log_entry *e);
/** Releases what logstate_config_list() returned. NULL is a no-op. */
LOGSTATE_API void logstate_log_entries_free(logstate_log_entry *entries, size_t n);
/** Releases what logstate_config_history() returned. NULL is a no-op. */
LOGSTATE_API void logstate_config_events_free(logstate_config_event *events, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* LOGSTATE_LOG_CONFIG_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* What the SQLite backend's files share. */
#ifndef LOGSTATE_SQLITE_INT_H
#define LOGSTATE_SQLITE_INT_H

#include <sqlite3.h>

#include "internal.h"

/* Maps an SQLite result code to a status and records SQLite's message
 * (from `db` when given), prefixed with what was being done. */
logstate_status ls_sqlite_err(sqlite3 *db, int rc, const char *what);

/* How logstate_init() may treat the database. */
typedef struct ls_sqlite_mode {
  const char *where; /* names the database in messages */
  const char *pin;   /* the store_id it must have, or NULL */
  int create;        /* may create a store */
  int read_only;     /* may write nothing at all */
} ls_sqlite_mode;

/* logstate_init()'s work, in one transaction (BEGIN IMMEDIATE unless
 * read-only): checks that the database holds a store unless it may create
 * one, and that its store_id is the pinned one; only then, unless
 * read-only, creates the tables and, where missing, a store_id and
 * created_ms. On success out[] holds the store_id ("" for a read-only open
 * of a store without one) and *has_versions whether the logstate_versions
 * table exists. Nothing is written on failure. */
logstate_status ls_sqlite_identity(sqlite3 *db, const ls_sqlite_mode *mode, char out[LS_STORE_ID_MAX + 1],
                                   int *has_versions);

/* sqlite_history.c: appends the set's history entry (version: the one the
 * set made) inside the caller's write transaction, first creating the
 * table if it is missing when `create`, and drops the entries beyond
 * h->keep. An SQLite result code. */
int ls_sqlite_history_append(sqlite3 *db, const ls_history_cfg *h, int create, const char *id, size_t id_len,
                             uint64_t version, const uint8_t *cp, size_t len);
/* Up to `max` entries, newest first (*out malloc()ed, the caller's, even on
 * failure: *out_n of them filled); none when the table does not exist. */
logstate_status ls_sqlite_history_read(sqlite3 *db, const char *id, size_t id_len, size_t max,
                                       logstate_history_entry **out, size_t *out_n);

#endif /* LOGSTATE_SQLITE_INT_H */

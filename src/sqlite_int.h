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

#endif /* LOGSTATE_SQLITE_INT_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* What the SQLite backend's files share. */
#ifndef LOGSTATE_SQLITE_INT_H
#define LOGSTATE_SQLITE_INT_H

#include <sqlite3.h>

#include "internal.h"

/* Maps an SQLite result code to a status and records SQLite's message
 * (from `db` when given), prefixed with what was being done. */
logstate_status ls_sqlite_err(sqlite3 *db, int rc, const char *what);

/* logstate_init()'s work, in one BEGIN IMMEDIATE transaction: checks that
 * the database holds a store when `create` is 0 and that its store_id is
 * `pin` (NULL: any), and only then creates the tables and, where missing, a
 * store_id and created_ms. `where` names the database in messages. On
 * success out[] holds the store_id. Nothing is written on failure. */
logstate_status ls_sqlite_identity(sqlite3 *db, const char *where, const char *pin, int create,
                                   char out[LS_STORE_ID_MAX + 1]);

#endif /* LOGSTATE_SQLITE_INT_H */

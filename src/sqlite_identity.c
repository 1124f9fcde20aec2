/* SPDX-License-Identifier: Apache-2.0 */
/* The SQLite backend's init: its tables and its store identity, checked
 * before anything is written and written in the same transaction. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sqlite_int.h"

#define CREATE_TABLES                                                                                                  \
  "CREATE TABLE IF NOT EXISTS chkpts (logID BLOB PRIMARY KEY, chkpt BLOB, range BLOB);"                                \
  "CREATE TABLE IF NOT EXISTS logstate_versions (logID BLOB PRIMARY KEY, version INTEGER NOT NULL);"                   \
  "CREATE TABLE IF NOT EXISTS logstate_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"

/* Runs a one-value query; *found says whether it gave a row, whose first
 * column (text) goes to buf. */
static int one_value(sqlite3 *db, const char *sql, char *buf, size_t n, int *found) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  *found = 0;
  if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const unsigned char *v = sqlite3_column_text(st, 0);
    snprintf(buf, n, "%s", v ? (const char *)v : "");
    *found = 1;
    rc = SQLITE_OK;
  } else if (rc == SQLITE_DONE) {
    rc = SQLITE_OK;
  }
  sqlite3_finalize(st);
  return rc;
}

/* Whether there is a store, and its store_id (found = 0: none). */
static int read_identity(sqlite3 *db, int *has_store, char *id, size_t n, int *found) {
  char scratch[8];
  int has_meta = 0;
  int rc = one_value(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'chkpts'", scratch,
                     sizeof(scratch), has_store);
  if (rc == SQLITE_OK)
    rc = one_value(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'logstate_meta'", scratch,
                   sizeof(scratch), &has_meta);
  *found = 0;
  if (rc == SQLITE_OK && has_meta)
    rc = one_value(db, "SELECT value FROM logstate_meta WHERE key = 'store_id'", id, n, found);
  return rc;
}

/* Creates the tables and, where missing, the store_id and created_ms. */
static logstate_status create_store(sqlite3 *db) {
  char id[33], sql[192];
  struct timespec now;
  if (!ls_store_id_new(id))
    return ls_err(LOGSTATE_INTERNAL, "sqlite: cannot read /dev/urandom for a new store_id");
  clock_gettime(CLOCK_REALTIME, &now);
  snprintf(sql, sizeof(sql), "INSERT OR IGNORE INTO logstate_meta VALUES ('store_id', '%s'), ('created_ms', '%lld');",
           id, (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
  int rc = sqlite3_exec(db, CREATE_TABLES, NULL, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
  return rc == SQLITE_OK ? LOGSTATE_OK : ls_sqlite_err(db, rc, "creating the tables");
}

logstate_status ls_sqlite_identity(sqlite3 *db, const char *where, const char *pin, int create,
                                   char out[LS_STORE_ID_MAX + 1]) {
  int has_store = 0, found = 0;
  int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    return ls_sqlite_err(db, rc, "starting logstate_init's transaction");
  logstate_status st = LOGSTATE_OK;
  if ((rc = read_identity(db, &has_store, out, LS_STORE_ID_MAX + 1, &found)) != SQLITE_OK)
    st = ls_sqlite_err(db, rc, "reading the store_id");
  else if (!has_store && !create)
    st = ls_store_absent("sqlite", where, "it has no chkpts table");
  else if ((st = ls_store_id_compare("sqlite", where, pin, found ? out : NULL, found ? strlen(out) : 0)) == LOGSTATE_OK)
    st = create_store(db);
  if (st == LOGSTATE_OK && (rc = read_identity(db, &has_store, out, LS_STORE_ID_MAX + 1, &found)) != SQLITE_OK)
    st = ls_sqlite_err(db, rc, "reading the store_id");
  if (st == LOGSTATE_OK && (rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
    st = ls_sqlite_err(db, rc, "committing logstate_init's transaction");
  if (st != LOGSTATE_OK) {
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    out[0] = '\0';
  }
  return st;
}

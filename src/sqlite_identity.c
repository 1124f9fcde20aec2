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

/* What the database holds: a store (chkpts), logstate's version table,
 * and the store_id (found = 0: none). */
typedef struct identity {
  int has_store, has_versions, found;
} identity;

static int has_table(sqlite3 *db, const char *name, int *out) {
  char sql[128], scratch[8];
  snprintf(sql, sizeof(sql), "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '%s'", name);
  return one_value(db, sql, scratch, sizeof(scratch), out);
}

static int read_identity(sqlite3 *db, identity *it, char *id, size_t n) {
  int has_meta = 0;
  int rc = has_table(db, "chkpts", &it->has_store);
  if (rc == SQLITE_OK)
    rc = has_table(db, "logstate_versions", &it->has_versions);
  if (rc == SQLITE_OK)
    rc = has_table(db, "logstate_meta", &has_meta);
  it->found = 0;
  id[0] = '\0';
  if (rc == SQLITE_OK && has_meta)
    rc = one_value(db, "SELECT value FROM logstate_meta WHERE key = 'store_id'", id, n, &it->found);
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

/* The checks, on what read_identity found. */
static logstate_status judge(const ls_sqlite_mode *m, const identity *it, const char *id) {
  if (!it->has_store && (!m->create || m->read_only))
    return ls_store_absent("sqlite", m->where, "it has no chkpts table", m->read_only);
  return ls_store_id_compare("sqlite", m->where, m->pin, it->found ? id : NULL, it->found ? strlen(id) : 0);
}

logstate_status ls_sqlite_identity(sqlite3 *db, const ls_sqlite_mode *m, char out[LS_STORE_ID_MAX + 1],
                                   int *has_versions) {
  identity it;
  int rc = sqlite3_exec(db, m->read_only ? "BEGIN" : "BEGIN IMMEDIATE", NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    return ls_sqlite_err(db, rc, "starting logstate_init's transaction");
  logstate_status st = LOGSTATE_OK;
  if ((rc = read_identity(db, &it, out, LS_STORE_ID_MAX + 1)) != SQLITE_OK)
    st = ls_sqlite_err(db, rc, "reading the store_id");
  else if ((st = judge(m, &it, out)) == LOGSTATE_OK && !m->read_only && (st = create_store(db)) == LOGSTATE_OK &&
           (rc = read_identity(db, &it, out, LS_STORE_ID_MAX + 1)) != SQLITE_OK)
    st = ls_sqlite_err(db, rc, "reading the store_id");
  if (st == LOGSTATE_OK && (rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
    st = ls_sqlite_err(db, rc, "committing logstate_init's transaction");
  if (st != LOGSTATE_OK) {
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    out[0] = '\0';
  }
  *has_versions = st == LOGSTATE_OK && it.has_versions;
  return st;
}

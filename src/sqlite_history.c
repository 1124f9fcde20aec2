/* SPDX-License-Identifier: Apache-2.0 */
/* The SQLite backend's history: a side table, logstate_history, written in
 * the set's own transaction (so there is no entry without the set and no set
 * without its entry) and trimmed to the newest `keep` rows per log. A
 * database without the table (a Go witness's, a store that never kept
 * history) has an empty history. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sqlite_int.h"

static const char create_sql[] = "CREATE TABLE IF NOT EXISTS logstate_history ("
                                 "logID BLOB NOT NULL, version INTEGER NOT NULL, time_ms INTEGER NOT NULL, "
                                 "chkpt BLOB, sha256 TEXT NOT NULL, origin BLOB, tree_size TEXT, client TEXT, "
                                 "PRIMARY KEY (logID, version))";

static int step_done(sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int ls_sqlite_history_append(sqlite3 *db, const ls_history_cfg *h, int create, const char *id, size_t id_len,
                             uint64_t version, const uint8_t *cp, size_t len) {
  ls_history_rec r;
  struct timespec now;
  sqlite3_stmt *st = NULL;
  clock_gettime(CLOCK_REALTIME, &now);
  ls_history_rec_of(cp, len, 1, &r); /* the table keeps the SHA-256 in every row */
  int rc = create ? sqlite3_exec(db, create_sql, NULL, NULL, NULL) : SQLITE_OK;
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(db,
                            "INSERT INTO logstate_history (logID, version, time_ms, chkpt, sha256, origin, tree_size, "
                            "client) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                            -1, &st, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_blob(st, 1, id, (int)id_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)version);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)now.tv_sec * 1000 + now.tv_nsec / 1000000);
    if (h->bodies)
      sqlite3_bind_blob(st, 4, cp, (int)len, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, r.sha256, 64, SQLITE_STATIC);
    if (r.origin_len)
      sqlite3_bind_blob(st, 6, r.origin, (int)r.origin_len, SQLITE_STATIC);
    if (r.tree_size[0])
      sqlite3_bind_text(st, 7, r.tree_size, -1, SQLITE_STATIC);
    if (h->client_name[0])
      sqlite3_bind_text(st, 8, h->client_name, -1, SQLITE_STATIC);
    rc = step_done(st);
    st = NULL;
  }
  if (rc == SQLITE_OK && version > h->keep &&
      (rc = sqlite3_prepare_v2(db, "DELETE FROM logstate_history WHERE logID = ?1 AND version <= ?2", -1, &st, NULL)) ==
          SQLITE_OK) {
    sqlite3_bind_blob(st, 1, id, (int)id_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)(version - h->keep));
    rc = step_done(st);
    st = NULL;
  }
  sqlite3_finalize(st);
  return rc;
}

/* One row into `e`. */
static logstate_status row_entry(sqlite3_stmt *st, logstate_history_entry *e) {
  const void *cp = sqlite3_column_blob(st, 2);
  const char *sha = (const char *)sqlite3_column_text(st, 3);
  const char *origin = sqlite3_column_blob(st, 4);
  const char *size = (const char *)sqlite3_column_text(st, 5);
  const char *client = (const char *)sqlite3_column_text(st, 6);
  size_t cp_len = (size_t)sqlite3_column_bytes(st, 2);
  if (sqlite3_column_type(st, 2) == SQLITE_NULL)
    cp = NULL;
  else if (cp == NULL)
    cp = ""; /* an empty blob */
  return ls_history_entry_fill(e, (uint64_t)sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), cp, cp_len, sha,
                               sha ? strlen(sha) : 0, origin, (size_t)sqlite3_column_bytes(st, 4), size,
                               size ? strlen(size) : 0, client, client ? strlen(client) : 0);
}

logstate_status ls_sqlite_history_read(sqlite3 *db, const char *id, size_t id_len, size_t max,
                                       logstate_history_entry **out, size_t *out_n) {
  sqlite3_stmt *st = NULL;
  logstate_status s = LOGSTATE_OK;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT version, time_ms, chkpt, sha256, origin, tree_size, client FROM "
                              "logstate_history WHERE logID = ?1 ORDER BY version DESC LIMIT ?2",
                              -1, &st, NULL);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(st);
    /* No such table: no history kept here. */
    return strstr(sqlite3_errmsg(db), "no such table") ? LOGSTATE_OK : ls_sqlite_err(db, rc, "reading the history");
  }
  sqlite3_bind_blob(st, 1, id, (int)id_len, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
  logstate_history_entry *a = calloc(max, sizeof(*a));
  size_t n = 0;
  if (a == NULL)
    s = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory reading a history");
  while (s == LOGSTATE_OK && n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
    if ((s = row_entry(st, &a[n])) == LOGSTATE_OK)
      n++;
  if (s == LOGSTATE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
    s = ls_sqlite_err(db, rc, "reading the history");
  sqlite3_finalize(st);
  *out = a;
  *out_n = n;
  return s;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The SQLite backend's history: a side table, logstate_history, written in
 * the set's own transaction (so there is no entry without the set and no set
 * without its entry) and trimmed to the newest `keep` rows per log. It is
 * created by init when the handle keeps history. A database without the
 * table (a Go witness's, a store that never kept history) has an empty
 * history. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sqlite/sqlite_int.h"

int ls_sqlite_history_append(sq_conn *c, const ls_history_cfg *h, const char *id, size_t id_len, uint64_t version,
                             const uint8_t *cp, size_t len) {
  ls_history_rec r;
  struct timespec now;
  int rc;
  clock_gettime(CLOCK_REALTIME, &now);
  ls_history_rec_of(cp, len, 1, &r); /* the table keeps the SHA-256 in every row */
  sqlite3_stmt *st = sq_stmt(c, SQ_HISTORY_INSERT, id, id_len, &rc);
  if (st) {
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
    rc = sq_run(st);
  }
  if (rc == SQLITE_OK && version > h->keep && (st = sq_stmt(c, SQ_HISTORY_TRIM, id, id_len, &rc)) != NULL) {
    sqlite3_bind_int64(st, 2, (sqlite3_int64)(version - h->keep));
    rc = sq_run(st);
  }
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

logstate_status ls_sqlite_history_read(sq_conn *c, const char *id, size_t id_len, size_t max,
                                       logstate_history_entry **out, size_t *out_n) {
  logstate_status s = LOGSTATE_OK;
  int rc = SQLITE_DONE;
  *out = NULL;
  *out_n = 0;
  sqlite3_stmt *st = sq_stmt(c, SQ_HISTORY_READ, id, id_len, &rc);
  if (st == NULL) /* no such table: no history kept here (another writer may make it later) */
    return strstr(sqlite3_errmsg(c->db), "no such table") ? LOGSTATE_OK
                                                          : ls_sqlite_err(c->db, rc, "reading the history");
  sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
  logstate_history_entry *a = calloc(max, sizeof(*a));
  size_t n = 0;
  if (a == NULL)
    s = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory reading a history");
  while (s == LOGSTATE_OK && n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
    if ((s = row_entry(st, &a[n])) == LOGSTATE_OK)
      n++;
  if (s == LOGSTATE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
    s = ls_sqlite_err(c->db, rc, "reading the history");
  sqlite3_reset(st);
  *out = a;
  *out_n = n;
  return s;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* What a database file holds, checked before anything is written to it:
 * the Go witness's chkpts table (its 2024 form with `range`, or its 2026
 * form without), and logstate's own side tables. Anything else under those
 * names (a view, a table with other columns, a numeric log ID column) is
 * refused with FAILED_PRECONDITION naming it, and the file is left as it
 * was. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sqlite/sqlite_int.h"

/* The columns each table must have (`optional`: may also have). */
typedef struct table_shape {
  const char *name;
  const char *columns[9];
  const char *optional;
  size_t off; /* where sq_file says the table is there */
} table_shape;

static const table_shape shapes[] = {
    {"chkpts", {"logID", "chkpt", NULL}, "range", offsetof(sq_file, has_store)},
    {"logstate_versions", {"logID", "version", NULL}, NULL, offsetof(sq_file, has_versions)},
    {"logstate_meta", {"key", "value", NULL}, NULL, offsetof(sq_file, has_meta)},
    {"logstate_history",
     {"logID", "version", "time_ms", "chkpt", "sha256", "origin", "tree_size", "client", NULL},
     NULL,
     offsetof(sq_file, has_history)},
};

#define CREATE_CHKPTS "CREATE TABLE IF NOT EXISTS chkpts (logID BLOB PRIMARY KEY, chkpt BLOB, range BLOB);"
#define CREATE_VERSIONS                                                                                                \
  "CREATE TABLE IF NOT EXISTS logstate_versions (logID BLOB PRIMARY KEY, version INTEGER NOT NULL);"
#define CREATE_META "CREATE TABLE IF NOT EXISTS logstate_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
#define CREATE_HISTORY                                                                                                 \
  "CREATE TABLE IF NOT EXISTS logstate_history (logID BLOB NOT NULL, version INTEGER NOT NULL, time_ms INTEGER NOT "   \
  "NULL, chkpt BLOB, sha256 TEXT NOT NULL, origin BLOB, tree_size TEXT, client TEXT, PRIMARY KEY (logID, version));"

/* Whether a declared column type gives BLOB or TEXT affinity (SQLite's
 * rules, in their order): a log ID must keep the type it is bound with. */
static int keeps_text(const char *decl) {
  char up[64];
  size_t i = 0;
  for (; decl && decl[i] && i < sizeof(up) - 1; i++)
    up[i] = (char)toupper((unsigned char)decl[i]);
  up[i] = '\0';
  if (strstr(up, "INT"))
    return 0;
  if (strstr(up, "CHAR") || strstr(up, "CLOB") || strstr(up, "TEXT") || strstr(up, "BLOB") || up[0] == '\0')
    return 1;
  return 0; /* REAL or NUMERIC */
}

static int listed(const table_shape *t, const char *col) {
  for (size_t i = 0; t->columns[i]; i++)
    if (sqlite3_stricmp(t->columns[i], col) == 0)
      return 1;
  return t->optional && sqlite3_stricmp(t->optional, col) == 0;
}

/* The table's columns against its shape: NULL, or what is wrong (in buf). */
static const char *columns_wrong(sqlite3 *db, const table_shape *t, char *buf, size_t n, int *rc) {
  sqlite3_stmt *st = NULL;
  size_t found = 0, want = 0;
  int pks = 0, id_ok = 0;
  const char *why = NULL;
  while (t->columns[want])
    want++;
  *rc = sqlite3_prepare_v2(db, "SELECT name, type, pk FROM pragma_table_info(?1)", -1, &st, NULL);
  if (*rc == SQLITE_OK)
    *rc = sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
  while (*rc == SQLITE_OK && why == NULL && (*rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *col = (const char *)sqlite3_column_text(st, 0);
    int pk = sqlite3_column_int(st, 2);
    pks += pk != 0;
    *rc = SQLITE_OK;
    if (col == NULL || !listed(t, col)) {
      snprintf(buf, n, "has a column %s that logstate does not know", col ? col : "(null)");
      why = buf;
    } else if (sqlite3_stricmp(col, t->columns[0]) == 0) {
      id_ok = pk == 1 && keeps_text((const char *)sqlite3_column_text(st, 1));
    }
    found += col && !(t->optional && sqlite3_stricmp(t->optional, col) == 0);
  }
  sqlite3_finalize(st);
  if (*rc == SQLITE_DONE)
    *rc = SQLITE_OK;
  if (why || *rc != SQLITE_OK)
    return why;
  if (found != want)
    snprintf(buf, n, "lacks a column (it needs %s%s%s)", t->columns[0], t->columns[1] ? ", " : "",
             t->columns[1] ? t->columns[1] : "");
  else if (t->off == offsetof(sq_file, has_store) && (!id_ok || pks != 1))
    snprintf(buf, n, "does not have logID as its one primary key, of type BLOB or TEXT");
  else
    return NULL;
  return buf;
}

/* One of logstate's names: absent, logstate's table, or refused. */
static logstate_status check_table(sqlite3 *db, const char *where, const table_shape *t, sq_file *f) {
  char type[32], sqlq[160], why[200];
  int found, rc;
  snprintf(sqlq, sizeof(sqlq), "SELECT type FROM sqlite_master WHERE name = '%s' COLLATE NOCASE", t->name);
  if ((rc = sq_one_value(db, sqlq, type, sizeof(type), &found)) != SQLITE_OK)
    return ls_sqlite_err(db, rc, "reading the schema");
  if (!found)
    return LOGSTATE_OK;
  if (strcmp(type, "table") != 0)
    return ls_err(LOGSTATE_FAILED_PRECONDITION, "sqlite: %s: %s is a %s, not %s table: nothing was changed", where,
                  t->name, type, t->off == offsetof(sq_file, has_store) ? "the Go witness's" : "logstate's");
  const char *wrong = columns_wrong(db, t, why, sizeof(why), &rc);
  if (rc != SQLITE_OK)
    return ls_sqlite_err(db, rc, "reading the schema");
  if (wrong)
    return ls_err(LOGSTATE_FAILED_PRECONDITION, "sqlite: %s: table %s %s: it is not %s table; nothing was changed",
                  where, t->name, wrong, t->off == offsetof(sq_file, has_store) ? "the Go witness's" : "logstate's");
  *(int *)((char *)f + t->off) = 1;
  return LOGSTATE_OK;
}

/* The store_id and who created the file, from logstate_meta. */
static logstate_status read_meta(sqlite3 *db, sq_file *f) {
  char who[32];
  int found, rc = sq_one_value(db, "SELECT value FROM logstate_meta WHERE key = 'store_id'", f->store_id,
                               sizeof(f->store_id), &found);
  if (rc == SQLITE_OK)
    rc = sq_one_value(db, "SELECT value FROM logstate_meta WHERE key = 'created_by'", who, sizeof(who), &found);
  f->made_by_us = rc == SQLITE_OK && found && strcmp(who, "logstate") == 0;
  return rc == SQLITE_OK ? LOGSTATE_OK : ls_sqlite_err(db, rc, "reading the store_id");
}

logstate_status sq_schema_check(sq_conn *c, const char *where, sq_file *f) {
  char enc[32];
  int found;
  memset(f, 0, sizeof(*f));
  int rc = sq_one_value(c->db, "PRAGMA encoding", enc, sizeof(enc), &found);
  if (rc != SQLITE_OK)
    return ls_sqlite_err(c->db, rc, "reading the schema");
  if (strcmp(enc, "UTF-8") != 0)
    return ls_err(LOGSTATE_FAILED_PRECONDITION,
                  "sqlite: %s: the database's text encoding is %s; logstate and the Go witness need UTF-8", where, enc);
  logstate_status st = LOGSTATE_OK;
  for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]) && st == LOGSTATE_OK; i++)
    st = check_table(c->db, where, &shapes[i], f);
  if (st == LOGSTATE_OK && f->has_meta)
    st = read_meta(c->db, f);
  return st;
}

logstate_status sq_schema_create(sq_conn *c, const sq_file *f, int with_history, int made_here) {
  char sqlq[400];
  struct timespec now;
  char id[33];
  int rc = SQLITE_OK;
  if (!f->has_store)
    rc = sqlite3_exec(c->db, CREATE_CHKPTS, NULL, NULL, NULL);
  if (rc == SQLITE_OK && !f->has_versions)
    rc = sqlite3_exec(c->db, CREATE_VERSIONS, NULL, NULL, NULL);
  if (rc == SQLITE_OK && !f->has_meta)
    rc = sqlite3_exec(c->db, CREATE_META, NULL, NULL, NULL);
  if (rc == SQLITE_OK && with_history && !f->has_history)
    rc = sqlite3_exec(c->db, CREATE_HISTORY, NULL, NULL, NULL);
  if (rc == SQLITE_OK && f->store_id[0] == '\0') {
    if (!ls_store_id_new(id))
      return ls_err(LOGSTATE_INTERNAL, "sqlite: cannot read /dev/urandom for a new store_id");
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(sqlq, sizeof(sqlq),
             "INSERT OR IGNORE INTO logstate_meta VALUES ('store_id', '%s'), ('created_ms', '%lld')%s;", id,
             (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000, made_here ? ", ('created_by', 'logstate')" : "");
    rc = sqlite3_exec(c->db, sqlq, NULL, NULL, NULL);
  }
  return rc == SQLITE_OK ? LOGSTATE_OK : ls_sqlite_err(c->db, rc, "creating logstate's tables");
}

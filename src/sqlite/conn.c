/* SPDX-License-Identifier: Apache-2.0 */
/* Connections and their statements. Every statement the backend runs on a
 * store is spelled here once, prepared on first use and kept for the
 * connection's life. Log IDs are bound as TEXT, as the Go witness binds
 * them: in SQLite a TEXT value never equals a BLOB one, so a log written
 * with a BLOB ID would be invisible to the witness. Rows an earlier
 * logstate wrote with BLOB IDs are found too (BLOB_ID), and a set turns its
 * row's ID into TEXT. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sqlite/sqlite_int.h"

/* Both types of one log ID, each an equality on the index: an IN list
 * (or an OR of two equalities, which SQLite turns into one) would build an
 * ephemeral table, with a page cache of its own allocated and freed, in
 * every statement (measured: a fifth of a group commit's time went to the
 * page faults of that memory coming and going). */
#define TEXT_ID "logID = ?1"
#define BLOB_ID "logID = CAST(?1 AS BLOB)"
/* logstate's version of the log: the higher of the two IDs' rows, 0 when none. */
#define VERSION                                                                                                        \
  "max(coalesce((SELECT version FROM logstate_versions WHERE " TEXT_ID "), 0), coalesce((SELECT version FROM "         \
  "logstate_versions WHERE " BLOB_ID "), 0))"

static const char *const sql[SQ_NSTMT] = {
    [SQ_BEGIN] = "BEGIN",
    [SQ_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    /* One row (typeof 'null') when the log has no TEXT row, else that row;
     * then its BLOB row, if any. */
    [SQ_SNAPSHOT] = "SELECT typeof(c.logID), c.chkpt, " VERSION " FROM (SELECT 1) LEFT JOIN chkpts c ON c." TEXT_ID
                    " UNION ALL SELECT typeof(logID), chkpt, " VERSION " FROM chkpts WHERE " BLOB_ID,
    [SQ_SNAPSHOT_NO_VERSIONS] = "SELECT typeof(c.logID), c.chkpt, NULL FROM (SELECT 1) LEFT JOIN chkpts c ON c." TEXT_ID
                                " UNION ALL SELECT typeof(logID), chkpt, NULL FROM chkpts WHERE " BLOB_ID,
    /* In the order logstate_logs() returns (BINARY is memcmp order), along
     * the primary key's index: the core then checks the order instead of
     * sorting. */
    [SQ_LOGS] = "SELECT logID FROM chkpts ORDER BY logID",
    [SQ_CP_UPDATE] = "UPDATE chkpts SET chkpt = ?2 WHERE " TEXT_ID,
    [SQ_CP_UPDATE_BLOB] = "UPDATE chkpts SET logID = ?1, chkpt = ?2 WHERE " BLOB_ID,
    [SQ_CP_INSERT] = "INSERT INTO chkpts (logID, chkpt) VALUES (?1, ?2)",
    [SQ_VERSION_PUT] = "INSERT OR REPLACE INTO logstate_versions (logID, version) VALUES (?1, ?2)",
    [SQ_VERSION_DROP_BLOB] = "DELETE FROM logstate_versions WHERE logID = CAST(?1 AS BLOB)",
    [SQ_HISTORY_INSERT] = "INSERT INTO logstate_history (logID, version, time_ms, chkpt, sha256, origin, tree_size, "
                          "client) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [SQ_HISTORY_TRIM] =
        "DELETE FROM logstate_history WHERE (" TEXT_ID " AND version <= ?2) OR (" BLOB_ID " AND version <= ?2)",
    [SQ_HISTORY_READ] = "SELECT version, time_ms, chkpt, sha256, origin, tree_size, client FROM logstate_history "
                        "WHERE " TEXT_ID " UNION ALL SELECT version, time_ms, chkpt, sha256, origin, tree_size, client "
                        "FROM logstate_history WHERE " BLOB_ID " ORDER BY version DESC LIMIT ?2",
    /* Log configurations: the witness's `logs` (its statement, its
     * declared types), logstate's side tables beside it. */
    [SQ_CFG_TABLES] = "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('logs', "
                      "'logstate_log_meta', 'logstate_log_audit')",
    [SQ_CFG_MAKE_LOGS] = "CREATE TABLE IF NOT EXISTS logs (logID BLOB PRIMARY KEY, origin STRING NOT NULL, vkey STRING "
                         "NOT NULL, contact STRING, qpd FLOAT64, disabled BOOL)",
    [SQ_CFG_MAKE_META] = "CREATE TABLE IF NOT EXISTS logstate_log_meta (logID TEXT PRIMARY KEY, added_ms INTEGER, "
                         "changed_ms INTEGER, changed_by TEXT, reason TEXT)",
    [SQ_CFG_MAKE_AUDIT] =
        "CREATE TABLE IF NOT EXISTS logstate_log_audit (seq INTEGER PRIMARY KEY, logID TEXT NOT NULL, "
        "origin TEXT NOT NULL, disabled INTEGER NOT NULL, at_ms INTEGER NOT NULL, client TEXT, "
        "reason TEXT)",
    [SQ_CFG_GET] =
        "SELECT l.logID, l.origin, l.vkey, l.contact, l.qpd, l.disabled, m.added_ms, m.changed_ms, "
        "m.changed_by, m.reason FROM logs l LEFT JOIN logstate_log_meta m ON m.logID = l.logID WHERE l." TEXT_ID,
    [SQ_CFG_GET_BARE] =
        "SELECT logID, origin, vkey, contact, qpd, disabled, NULL, NULL, NULL, NULL FROM logs WHERE " TEXT_ID,
    [SQ_CFG_LIST] = "SELECT l.logID, l.origin, l.vkey, l.contact, l.qpd, l.disabled, m.added_ms, m.changed_ms, "
                    "m.changed_by, m.reason FROM logs l LEFT JOIN logstate_log_meta m ON m.logID = l.logID",
    [SQ_CFG_LIST_BARE] = "SELECT logID, origin, vkey, contact, qpd, disabled, NULL, NULL, NULL, NULL FROM logs",
    [SQ_CFG_INSERT] = "INSERT INTO logs (logID, origin, vkey, contact, qpd, disabled) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [SQ_CFG_META_ADDED] = "INSERT OR REPLACE INTO logstate_log_meta (logID, added_ms) VALUES (?1, ?2)",
    [SQ_CFG_DISABLE] = "UPDATE logs SET disabled = ?2 WHERE " TEXT_ID,
    [SQ_CFG_META_CHANGED] = "INSERT INTO logstate_log_meta (logID, changed_ms, changed_by, reason) VALUES (?1, ?2, ?3, "
                            "?4) ON CONFLICT (logID) DO UPDATE SET changed_ms = excluded.changed_ms, changed_by = "
                            "excluded.changed_by, reason = excluded.reason",
    [SQ_CFG_AUDIT] =
        "INSERT INTO logstate_log_audit (logID, origin, disabled, at_ms, client, reason) VALUES (?1, ?2, ?3, "
        "?4, ?5, ?6)",
    [SQ_CFG_HISTORY] = "SELECT logID, origin, disabled, at_ms, client, reason FROM logstate_log_audit WHERE " TEXT_ID
                       " ORDER BY seq DESC LIMIT ?2",
    [SQ_CFG_IDS] = "SELECT logID, typeof(logID), origin FROM logs",
    [SQ_CFG_HISTORY_ALL] =
        "SELECT logID, origin, disabled, at_ms, client, reason FROM logstate_log_audit ORDER BY seq DESC LIMIT ?2",
};

sqlite3_stmt *sq_stmt(sq_conn *c, sq_stmt_id id, const char *log_id, size_t log_id_len, int *rc) {
  sqlite3_stmt *st = c->st[id];
  if (st == NULL) {
    *rc = sqlite3_prepare_v3(c->db, sql[id], -1, SQLITE_PREPARE_PERSISTENT, &c->st[id], NULL);
    if (*rc != SQLITE_OK)
      return NULL;
    st = c->st[id];
  } else {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
  }
  *rc = log_id ? sqlite3_bind_text(st, 1, log_id, (int)log_id_len, SQLITE_STATIC) : SQLITE_OK;
  return *rc == SQLITE_OK ? st : NULL;
}

int sq_run(sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

int sq_exec(sq_conn *c, sq_stmt_id id) {
  int rc;
  sqlite3_stmt *st = sq_stmt(c, id, NULL, 0, &rc);
  return st ? sq_run(st) : rc;
}

int sq_one_value(sqlite3 *db, const char *q, char *buf, size_t n, int *found) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, q, -1, &st, NULL);
  *found = 0;
  buf[0] = '\0';
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

/* Through SQLite's VFS, never open() and close(): closing any descriptor
 * of a file drops every POSIX lock this process holds on it, those of
 * another handle's connection too; SQLite's unix VFS defers such a close
 * while locks are held. */
logstate_status sq_read_head(const char *path, unsigned char *buf, int n, int *got) {
  sqlite3_vfs *vfs = sqlite3_vfs_find(NULL);
  sqlite3_file *f = vfs ? calloc(1, (size_t)vfs->szOsFile) : NULL;
  int out = 0;
  *got = 0;
  if (f == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory");
  int rc = vfs->xOpen(vfs, path, f, SQLITE_OPEN_READONLY | SQLITE_OPEN_MAIN_DB, &out);
  if (rc == SQLITE_OK) {
    sqlite3_int64 size = 0;
    rc = f->pMethods->xFileSize(f, &size);
    *got = size < n ? (int)size : n;
    if (rc == SQLITE_OK && *got > 0)
      rc = f->pMethods->xRead(f, buf, *got, 0);
    f->pMethods->xClose(f);
  }
  free(f);
  return rc == SQLITE_OK ? LOGSTATE_OK : ls_sqlite_errno(rc == SQLITE_CANTOPEN ? errno : EIO, "reading", path);
}

void sq_conn_close(sq_conn *c) {
  for (int i = 0; i < SQ_NSTMT; i++)
    sqlite3_finalize(c->st[i]);
  sqlite3_close(c->db);
  memset(c, 0, sizeof(*c));
}

/* file:PATH?mode=ro&immutable=1, PATH percent-encoded ('?', '#', '%' and
 * the rest of what a URI reserves). malloc()ed; NULL when out of memory. */
static char *immutable_uri(const char *path) {
  static const char keep[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._~-";
  size_t n = strlen(path), o = 0;
  char *u = malloc(3 * n + 32);
  if (u == NULL)
    return NULL;
  o += (size_t)sprintf(u, "file:");
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)path[i];
    if (strchr(keep, ch) && ch != '\0')
      u[o++] = (char)ch;
    else
      o += (size_t)sprintf(u + o, "%%%02X", ch);
  }
  strcpy(u + o, "?mode=ro&immutable=1");
  return u;
}

/* Waiting for a lock. SQLite's own handler sleeps up to 100 ms between
 * tries, and a writer that commits back to back (a busy witness) frees the
 * lock for microseconds between its transactions: next to one, measured, a
 * set in ten gave up after 5 s and ten took 28 s. This one tries again
 * every 25 to 500 us, jittered, until busy_ms have passed. */
static int on_busy(void *arg, int count) {
  sq_conn *c = arg;
  uint64_t now = ls_now_us();
  if (count == 0)
    c->busy_from_us = now;
  if (now - c->busy_from_us >= (uint64_t)c->busy_ms * 1000)
    return 0; /* SQLITE_BUSY: pushback */
  uint64_t cap = count < 45 ? 50 + (uint64_t)count * 10 : 500;
  struct timespec ts = {0, (long)(cap / 2 + ls_random() % (cap / 2 + 1)) * 1000};
  nanosleep(&ts, NULL);
  return 1;
}

/* synchronous=FULL, read back: a setting SQLite did not apply would be a
 * silent loss of durability. */
static logstate_status settings(sq_conn *c, int writer, unsigned int busy_ms) {
  char v[32];
  int found;
  c->busy_ms = busy_ms;
  int rc = sqlite3_busy_handler(c->db, on_busy, c);
  if (rc == SQLITE_OK && writer)
    rc = sqlite3_exec(c->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
  if (rc == SQLITE_OK && writer &&
      (rc = sq_one_value(c->db, "PRAGMA synchronous", v, sizeof(v), &found)) == SQLITE_OK && strcmp(v, "2") != 0)
    return ls_err(LOGSTATE_FAILED_PRECONDITION, "sqlite: synchronous is %s, not FULL (2): writes could be lost", v);
  return rc == SQLITE_OK ? LOGSTATE_OK : ls_sqlite_err(c->db, rc, "setting synchronous=FULL and the busy handler");
}

logstate_status sq_conn_open(sq_conn *c, const char *path, sq_open_kind kind, unsigned int busy_ms) {
  static const int flags[] = {
      [SQ_OPEN_WRITER] = SQLITE_OPEN_READWRITE,
      [SQ_OPEN_CREATE] = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
      [SQ_OPEN_READER] = SQLITE_OPEN_READONLY,
      [SQ_OPEN_IMMUTABLE] = SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
  };
  char *uri = kind == SQ_OPEN_IMMUTABLE ? immutable_uri(path) : NULL;
  memset(c, 0, sizeof(*c));
  if (kind == SQ_OPEN_IMMUTABLE && uri == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory");
  int rc = sqlite3_open_v2(uri ? uri : path, &c->db, flags[kind] | SQLITE_OPEN_NOMUTEX, NULL);
  free(uri);
  logstate_status st = LOGSTATE_OK;
  if (rc == SQLITE_OK)
    sqlite3_extended_result_codes(c->db, 1);
  if (rc != SQLITE_OK)
    st = ls_sqlite_err(c->db, rc, "opening the database");
  else if (kind <= SQ_OPEN_CREATE && sqlite3_db_readonly(c->db, "main") == 1)
    st = ls_err(LOGSTATE_PERMISSION_DENIED, "sqlite: the database file may not be written by this user");
  else if (kind != SQ_OPEN_IMMUTABLE)
    st = settings(c, kind <= SQ_OPEN_CREATE, busy_ms);
  if (st != LOGSTATE_OK)
    sq_conn_close(c);
  return st;
}

/* --- the file's place ----------------------------------------------------- */

void sq_dir_of(const char *path, char *buf, size_t n) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL)
    snprintf(buf, n, ".");
  else
    snprintf(buf, n, "%.*s", (int)(slash == path ? 1 : slash - path), path);
}

logstate_status sq_file_exists(const char *path, int *exists) {
  struct stat sb;
  *exists = 0;
  if (stat(path, &sb) != 0)
    return errno == ENOENT ? LOGSTATE_OK : ls_sqlite_errno(errno, "opening", path);
  if (S_ISDIR(sb.st_mode))
    return ls_sqlite_errno(EISDIR, "opening", path);
  *exists = 1;
  return LOGSTATE_OK;
}

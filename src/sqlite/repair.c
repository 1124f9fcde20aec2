/* SPDX-License-Identifier: Apache-2.0 */
/* What logstate_sqlite_repair() mends of what verify.c finds. Before 0.2, logstate wrote log IDs as
 * BLOBs, which the Go witness (TEXT IDs) cannot see: it takes such a log
 * for a new one, and its next set adds a second row. Verify names both
 * (and a log logstate counted sets of whose row is gone); repair gives
 * every BLOB ID its TEXT form in one transaction, drops a BLOB row whose
 * TEXT twin holds the same checkpoint, and leaves a log whose two rows
 * disagree for an operator to decide, showing both. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "sqlite/sqlite_int.h"

/* One BLOB row of chkpts and its TEXT twin, if any. */
typedef struct blob_row {
  enum { CONVERT, DROP, LEAVE } how;
  logstate_sqlite_repair_item item;
  uint8_t *blob_id; /* the row's key */
  size_t blob_id_len;
} blob_row;

#define BLOB_ROWS                                                                                                      \
  "SELECT c.logID, c.chkpt, t.logID IS NOT NULL, t.chkpt FROM chkpts c LEFT JOIN chkpts t ON t.logID = "               \
  "CAST(c.logID AS TEXT) WHERE typeof(c.logID) = 'blob' ORDER BY c.logID"

static void rows_free(blob_row *r, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(r[i].blob_id);
    free((void *)r[i].item.text_cp);
    free((void *)r[i].item.blob_cp);
  }
  free(r);
}

/* What to do with one row: convert it, drop it (its twin says the same),
 * or leave the two for an operator. */
static void decide(blob_row *r, sqlite3_stmt *st) {
  const uint8_t *cp = sqlite3_column_blob(st, 1), *twin = sqlite3_column_blob(st, 3);
  size_t len = (size_t)sqlite3_column_bytes(st, 1), twin_len = (size_t)sqlite3_column_bytes(st, 3);
  r->item.log_id = (const char *)r->blob_id;
  if (!sqlite3_column_int(st, 2)) {
    r->how = CONVERT;
    r->item.repaired = 1;
    r->item.action = "its BLOB ID became TEXT";
  } else if (len == twin_len && (len == 0 || memcmp(cp, twin, len) == 0)) {
    r->how = DROP;
    r->item.repaired = 1;
    r->item.action = "it was stored twice with the same checkpoint: the BLOB row was dropped";
  } else {
    r->how = LEAVE;
    r->item.action = "it is stored twice with different checkpoints: left as it is for you to decide";
    r->item.text_cp = ls_memdup(twin, twin_len);
    r->item.text_len = twin_len;
    r->item.blob_cp = ls_memdup(cp, len);
    r->item.blob_len = len;
  }
}

static logstate_status read_blob_rows(sq_conn *c, blob_row **out, size_t *out_n) {
  sqlite3_stmt *st = NULL;
  blob_row *r = NULL;
  size_t n = 0;
  int rc = sqlite3_prepare_v2(c->db, BLOB_ROWS, -1, &st, NULL);
  logstate_status s = LOGSTATE_OK;
  while (s == LOGSTATE_OK && rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    blob_row *grown = realloc(r, (n + 1) * sizeof(*r));
    if (grown == NULL) {
      s = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory");
      break;
    }
    r = grown;
    memset(&r[n], 0, sizeof(r[n]));
    r[n].blob_id_len = (size_t)sqlite3_column_bytes(st, 0);
    r[n].blob_id = ls_memdup(sqlite3_column_blob(st, 0), r[n].blob_id_len);
    decide(&r[n], st);
    n++;
    if (r[n - 1].blob_id == NULL || (!r[n - 1].item.repaired && (!r[n - 1].item.text_cp || !r[n - 1].item.blob_cp)))
      s = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory");
    rc = SQLITE_OK;
  }
  sqlite3_finalize(st);
  if (s == LOGSTATE_OK && rc != SQLITE_DONE)
    s = ls_sqlite_err(c->db, rc, "reading the BLOB IDs");
  *out = r;
  *out_n = n;
  return s;
}

/* One statement with ?1 bound to a row's BLOB key. */
static int run_blob(sqlite3 *db, const char *q, const uint8_t *id, size_t id_len) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, q, -1, &st, NULL);
  if (rc == SQLITE_OK && id)
    rc = sqlite3_bind_blob(st, 1, id, (int)id_len, SQLITE_STATIC);
  if (rc == SQLITE_OK)
    rc = sq_run(st);
  sqlite3_finalize(st);
  return rc;
}

/* logstate's side tables: every BLOB ID becomes TEXT; a version row keeps
 * the higher of its two versions, a history entry its TEXT copy. */
static const char *const side_tables[] = {
    "UPDATE logstate_versions SET version = max(version, (SELECT b.version FROM logstate_versions b WHERE b.logID = "
    "CAST(logstate_versions.logID AS BLOB))) WHERE typeof(logID) = 'text' AND EXISTS (SELECT 1 FROM "
    "logstate_versions b WHERE b.logID = CAST(logstate_versions.logID AS BLOB))",
    "UPDATE OR IGNORE logstate_versions SET logID = CAST(logID AS TEXT) WHERE typeof(logID) = 'blob'",
    "DELETE FROM logstate_versions WHERE typeof(logID) = 'blob'",
    "UPDATE OR IGNORE logstate_history SET logID = CAST(logID AS TEXT) WHERE typeof(logID) = 'blob'",
    "DELETE FROM logstate_history WHERE typeof(logID) = 'blob'",
};

static int apply(sq_backend *b, const blob_row *r, size_t n) {
  int rc = SQLITE_OK;
  for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
    if (r[i].how != LEAVE)
      rc = run_blob(b->rw.db,
                    r[i].how == CONVERT ? "UPDATE chkpts SET logID = CAST(logID AS TEXT) WHERE logID = ?1"
                                        : "DELETE FROM chkpts WHERE logID = ?1",
                    r[i].blob_id, r[i].blob_id_len);
  }
  for (size_t i = 0; i < sizeof(side_tables) / sizeof(side_tables[0]) && rc == SQLITE_OK; i++)
    if (i < 3 || b->file.has_history)
      rc = run_blob(b->rw.db, side_tables[i], NULL, 0);
  return rc;
}

/* Reads and mends in one write transaction. */
static logstate_status repair_locked(sq_backend *b, blob_row **rows, size_t *n) {
  int rc = sq_exec(&b->rw, SQ_BEGIN_IMMEDIATE);
  if (rc != SQLITE_OK)
    return ls_sqlite_err(b->rw.db, rc, "beginning the repair");
  logstate_status st = read_blob_rows(&b->rw, rows, n);
  if (st == LOGSTATE_OK && (rc = apply(b, *rows, *n)) == SQLITE_OK)
    rc = sq_exec(&b->rw, SQ_COMMIT);
  if (st == LOGSTATE_OK && rc != SQLITE_OK)
    st = ls_sqlite_err(b->rw.db, rc, "repairing");
  if (st != LOGSTATE_OK)
    sq_exec(&b->rw, SQ_ROLLBACK);
  return st;
}

logstate_status logstate_sqlite_repair(logstate *ls, logstate_sqlite_repair_fn report, void *arg, size_t *out_repaired,
                                       size_t *out_left) {
  static const char fn[] = "logstate_sqlite_repair";
  if (out_repaired)
    *out_repaired = 0;
  if (out_left)
    *out_left = 0;
  if (ls == NULL || out_repaired == NULL || out_left == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: %s is NULL", fn,
                  ls == NULL             ? "handle"
                  : out_repaired == NULL ? "out_repaired"
                                         : "out_left");
  logstate_backend *be = logstate_get_backend(ls);
  if (be->methods != &ls_sqlite_methods)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: the handle is on a %s store, not an SQLite one", fn,
                  be->methods->name);
  sq_backend *b = (sq_backend *)be;
  if (b->read_only)
    return ls_err(LOGSTATE_FAILED_PRECONDITION, "%s: the store was opened read-only (mode=ro)", fn);
  blob_row *rows = NULL;
  size_t n = 0;
  pthread_mutex_lock(&b->mu);
  logstate_status st = sq_ready(b);
  if (st == LOGSTATE_OK && b->state == SQ_READY)
    st = repair_locked(b, &rows, &n);
  pthread_mutex_unlock(&b->mu);
  for (size_t i = 0; i < n && st == LOGSTATE_OK; i++) {
    *(rows[i].item.repaired ? out_repaired : out_left) += 1;
    if (report)
      report(arg, &rows[i].item);
  }
  rows_free(rows, n);
  return st;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* logstate_verify() on SQLite: a log stored twice (TEXT and BLOB IDs), a
 * log under a BLOB ID only (by logstate before 0.2: the Go witness cannot
 * see it), a log logstate counted sets of whose row is gone, and a log
 * configuration that is not under its origin's ID (config.c). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "sqlite/sqlite_int.h"

/* Problems, by log ID: 1 stored twice, 2 a BLOB ID, 3 a version without a
 * row (when logstate_versions exists). */
#define PROBLEMS                                                                                                       \
  "SELECT CAST(logID AS BLOB) AS k, 1 FROM chkpts GROUP BY k HAVING count(*) > 1 "                                     \
  "UNION ALL SELECT CAST(c.logID AS BLOB), 2 FROM chkpts c WHERE typeof(c.logID) = 'blob' AND NOT EXISTS "             \
  "(SELECT 1 FROM chkpts t WHERE t.logID = CAST(c.logID AS TEXT))"
#define NO_ROW                                                                                                         \
  " UNION ALL SELECT CAST(v.logID AS BLOB), 3 FROM logstate_versions v WHERE NOT EXISTS (SELECT 1 FROM chkpts c "      \
  "WHERE c.logID IN (CAST(v.logID AS TEXT), CAST(v.logID AS BLOB)))"

static const char *const problem_text[] = {
    "",
    "stored twice in chkpts, under a TEXT and a BLOB ID: run `logstate repair`",
    "stored under a BLOB ID (by logstate before 0.2), which the Go witness cannot see: run `logstate repair`",
    "logstate_versions has the log, but chkpts has no row for it (restore it; do not trust a first checkpoint)",
    [SQ_CFG_WRONG_ID] = ("its log configuration in logs is not under its origin's log ID (hex SHA-256 of \"o:\" "
                         "origin), or not as TEXT: neither logstate nor the Go witness finds it by origin"),
};

typedef struct found {
  char **ids;
  int *kind;
  size_t n;
} found;

static void found_free(found *f) {
  logstate_logs_free(f->ids, f->n);
  free(f->kind);
  memset(f, 0, sizeof(*f));
}

/* Adds one problem (the ID's bytes copied); 0 when out of memory. */
static int add(void *arg, const void *id, size_t len, int kind) {
  found *f = arg;
  char **ids = realloc(f->ids, (f->n + 1) * sizeof(*ids));
  int *kinds = ids ? realloc(f->kind, (f->n + 1) * sizeof(*kinds)) : NULL;
  f->ids = ids ? ids : f->ids;
  f->kind = kinds ? kinds : f->kind;
  if (kinds == NULL || (ids[f->n] = ls_memdup(id, len)) == NULL)
    return 0;
  kinds[f->n++] = kind;
  return 1;
}

static logstate_status read_problems(sq_backend *b, sq_conn *c, void *arg) {
  found *f = arg;
  sqlite3_stmt *st = NULL;
  found_free(f);
  int rc = sqlite3_prepare_v2(c->db, b->file.has_versions ? PROBLEMS NO_ROW " ORDER BY 1" : PROBLEMS " ORDER BY 1", -1,
                              &st, NULL);
  while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (!add(f, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), sqlite3_column_int(st, 1))) {
      sqlite3_finalize(st);
      return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory");
    }
    rc = SQLITE_OK;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return ls_sqlite_err(c->db, rc, "verifying the store");
  return sq_cfg_verify(c, add, f);
}

/* The problems are gathered under the mutex and reported after it, so that
 * `report` may use the handle. */
logstate_status ls_sqlite_verify(sq_backend *b, logstate_verify_fn report, void *arg, size_t *out_problems) {
  found f = {NULL, NULL, 0};
  pthread_mutex_lock(&b->mu);
  logstate_status st = sq_ready(b);
  if (st == LOGSTATE_OK && b->state == SQ_READY)
    st = sq_read(b, read_problems, &f);
  pthread_mutex_unlock(&b->mu);
  for (size_t i = 0; i < f.n && st == LOGSTATE_OK && report; i++)
    report(arg, f.ids[i], problem_text[f.kind[i] >= 1 && f.kind[i] <= SQ_CFG_WRONG_ID ? f.kind[i] : 0]);
  *out_problems = st == LOGSTATE_OK ? f.n : 0;
  found_free(&f);
  return st;
}

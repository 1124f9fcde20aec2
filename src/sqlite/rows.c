/* SPDX-License-Identifier: Apache-2.0 */
/* One log's rows: reading its snapshot (chkpts, and logstate's version of
 * it) in one statement, and storing a set (the row as TEXT, the version,
 * the history entry). The backend's methods and the file's creation both
 * write through sq_store. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "sqlite/sqlite_int.h"

static logstate_status damage(const sq_snapshot *s, const char *id, size_t id_len) {
  char q[LS_QUOTE_BUFSZ];
  if (s->rows == 2)
    return ls_err(LOGSTATE_INTERNAL,
                  "sqlite: the store is damaged: log %s is stored twice in chkpts, under a TEXT and a BLOB ID (the "
                  "BLOB row from an earlier logstate): run `logstate repair`",
                  ls_quote(q, sizeof(q), id, id_len));
  if (s->rows == 0 && s->version > 0)
    return ls_err(LOGSTATE_INTERNAL,
                  "sqlite: the store is damaged: logstate_versions has log %s at version %lld, but chkpts has no row "
                  "for it (restore it; do not trust a first checkpoint)",
                  ls_quote(q, sizeof(q), id, id_len), (long long)s->version);
  return LOGSTATE_OK;
}

void sq_snapshot_free(sq_snapshot *s) {
  free(s->cp);
  memset(s, 0, sizeof(*s));
}

logstate_status sq_snapshot_read(sq_conn *c, int has_versions, const char *id, size_t id_len, sq_snapshot *s) {
  int rc;
  sq_snapshot_free(s);
  sqlite3_stmt *st = sq_stmt(c, has_versions ? SQ_SNAPSHOT : SQ_SNAPSHOT_NO_VERSIONS, id, id_len, &rc);
  while (st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *type = (const char *)sqlite3_column_text(st, 0);
    s->version = sqlite3_column_int64(st, 2);
    if (type == NULL || strcmp(type, "null") == 0 || ++s->rows > 1)
      continue;
    s->blob_id = strcmp(type, "blob") == 0;
    const void *p = sqlite3_column_blob(st, 1);
    s->cp_len = (size_t)sqlite3_column_bytes(st, 1);
    if ((s->cp = ls_memdup(p, s->cp_len)) == NULL) { /* a NULL or empty checkpoint reads as "" */
      sqlite3_reset(st);
      return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory");
    }
  }
  if (st)
    sqlite3_reset(st);
  if (rc != SQLITE_DONE) {
    sq_snapshot_free(s);
    return ls_sqlite_err(c->db, rc, "reading a checkpoint");
  }
  return damage(s, id, id_len);
}

int64_t sq_version_of(const sq_snapshot *s) { return s->version > 0 ? s->version : s->rows ? 1 : 0; }

int sq_store(sq_conn *c, const ls_history_cfg *h, const char *id, size_t id_len, const sq_snapshot *s,
             const uint8_t *cp, size_t len) {
  int rc;
  sqlite3_stmt *st = sq_stmt(c,
                             !s->rows     ? SQ_CP_INSERT
                             : s->blob_id ? SQ_CP_UPDATE_BLOB
                                          : SQ_CP_UPDATE,
                             id, id_len, &rc);
  if (st && (rc = sqlite3_bind_blob(st, 2, cp, (int)len, SQLITE_STATIC)) == SQLITE_OK)
    rc = sq_run(st);
  if (rc == SQLITE_OK && (st = sq_stmt(c, SQ_VERSION_PUT, id, id_len, &rc)) != NULL &&
      (rc = sqlite3_bind_int64(st, 2, sq_version_of(s) + 1)) == SQLITE_OK)
    rc = sq_run(st);
  /* An earlier logstate's BLOB-keyed version row sits only beside its
   * BLOB-keyed checkpoint row (reads take the higher of the two anyway). */
  if (rc == SQLITE_OK && s->blob_id && (st = sq_stmt(c, SQ_VERSION_DROP_BLOB, id, id_len, &rc)) != NULL)
    rc = sq_run(st);
  if (rc == SQLITE_OK && h->keep) /* in the same transaction */
    rc = ls_sqlite_history_append(c, h, id, id_len, (uint64_t)sq_version_of(s) + 1, cp, len);
  return rc;
}

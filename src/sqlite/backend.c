/* SPDX-License-Identifier: Apache-2.0 */
/* The SQLite backend's methods, on the Go witness's chkpts table.
 *
 * A handle has one connection, used under a mutex. Opening a transaction
 * reads a snapshot (the log's row, its checkpoint, and logstate's version
 * of it) in a short read transaction and holds nothing afterwards, so one
 * thread may hold many. The set runs BEGIN IMMEDIATE, re-reads, and writes
 * only if the row, checkpoint and version are still the snapshot's: the
 * version catches logstate writers that restored an earlier value, and the
 * checkpoint comparison catches writers that do not know the version table
 * (the Go witness).
 *
 * A log has one row, keyed by its ID as TEXT. A row is present whatever its
 * checkpoint (the Go witness may store an empty one, and reads it back as
 * such). Damage is never "no checkpoint yet": a log stored twice (TEXT and
 * BLOB IDs), or one logstate counted sets of whose row is gone, is INTERNAL
 * on every read and refused by every set. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite/sqlite_int.h"

struct logstate_backend_txn {
  char *id;
  size_t id_len;
  sq_snapshot snap;
};

/* --- reads ----------------------------------------------------------------- */

static logstate_status sq_get_latest(logstate_backend *be, const char *log_id, size_t log_id_len, uint8_t **out_cp,
                                     size_t *out_len) {
  sq_snapshot snap;
  logstate_status st = sq_snapshot_of((sq_backend *)be, log_id, log_id_len, &snap);
  if (st != LOGSTATE_OK)
    return st;
  if (snap.rows == 0)
    return LOGSTATE_NOT_FOUND; /* its message is the core's */
  *out_cp = snap.cp;
  *out_len = snap.cp_len;
  return LOGSTATE_OK;
}

typedef struct id_list {
  char **ids;
  size_t n;
} id_list;

static logstate_status read_logs(sq_backend *b, sq_conn *c, void *arg) {
  id_list *l = arg;
  size_t cap = 0;
  char **grown;
  int rc;
  logstate_logs_free(l->ids, l->n);
  memset(l, 0, sizeof(*l));
  sqlite3_stmt *st = sq_stmt(c, SQ_LOGS, NULL, 0, &rc);
  while (st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const void *p = sqlite3_column_blob(st, 0);
    size_t len = (size_t)sqlite3_column_bytes(st, 0);
    logstate_status bad = LOGSTATE_OK;
    if (len == 0 || len > LOGSTATE_MAX_LOG_ID_LEN || memchr(p, 0, len))
      bad = ls_err(LOGSTATE_INTERNAL, "sqlite: %s: chkpts holds a logID that is not a valid log ID", b->path);
    else if (l->n == cap && (grown = realloc(l->ids, (cap = cap ? cap * 2 : 64) * sizeof(*l->ids))) != NULL)
      l->ids = grown;
    if (bad == LOGSTATE_OK && (l->n == cap || (l->ids[l->n] = ls_memdup(p, len)) == NULL))
      bad = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory listing logs");
    if (bad != LOGSTATE_OK) {
      sqlite3_reset(st);
      return bad;
    }
    l->n++;
  }
  if (st)
    sqlite3_reset(st);
  return rc == SQLITE_DONE ? LOGSTATE_OK : ls_sqlite_err(c->db, rc, "listing logs");
}

static logstate_status sq_logs(logstate_backend *be, char ***out_ids, size_t *out_n) {
  sq_backend *b = (sq_backend *)be;
  id_list l = {NULL, 0};
  pthread_mutex_lock(&b->mu);
  logstate_status st = sq_ready(b);
  if (st == LOGSTATE_OK && b->state == SQ_READY)
    st = sq_read1(b, read_logs, &l);
  pthread_mutex_unlock(&b->mu);
  *out_ids = l.ids; /* a log stored twice is listed once: the core drops duplicates */
  *out_n = l.n;
  return st;
}

/* --- the write transaction ------------------------------------------------ */

static logstate_status sq_write_begin(logstate_backend *be, const char *log_id, size_t log_id_len,
                                      logstate_backend_txn **out_txn, logstate_backend_state *snap) {
  logstate_backend_txn *t = calloc(1, sizeof(*t));
  if (t == NULL || (t->id = ls_memdup(log_id, log_id_len)) == NULL) {
    free(t);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory");
  }
  t->id_len = log_id_len;
  logstate_status st = sq_snapshot_of((sq_backend *)be, t->id, t->id_len, &t->snap);
  if (st != LOGSTATE_OK) {
    free(t->id);
    free(t);
    return st;
  }
  /* The checkpoint goes to the core, which keeps it until write_end: the
   * set compares against it there. */
  if (!t->snap.rows) {
    free(t->snap.cp);
    t->snap.cp = NULL;
  }
  *snap = (logstate_backend_state){(uint64_t)sq_version_of(&t->snap), t->snap.cp, t->snap.cp_len};
  *out_txn = t;
  return LOGSTATE_OK;
}

static int same_snapshot(const sq_snapshot *a, const sq_snapshot *b) {
  return a->rows == b->rows && a->version == b->version && a->cp_len == b->cp_len &&
         (a->rows == 0 || memcmp(a->cp, b->cp, a->cp_len) == 0);
}

/* The compare-and-set, in one write transaction on an existing store. */
static logstate_status set_in_store(sq_backend *b, logstate_backend_txn *t, const uint8_t *cp, size_t len) {
  char q[LS_QUOTE_BUFSZ];
  sq_snapshot now = {0};
  /* IMMEDIATE takes the write lock now, waiting up to the busy timeout:
   * still busy after that is pushback (RESOURCE_EXHAUSTED, cause BUSY). */
  int rc = sq_exec(&b->rw, SQ_BEGIN_IMMEDIATE);
  if (rc != SQLITE_OK)
    return ls_sqlite_err(b->rw.db, rc, "beginning a write");
  logstate_status st = sq_snapshot_read(&b->rw, 1, t->id, t->id_len, &now);
  if (st == LOGSTATE_OK && !same_snapshot(&now, &t->snap))
    st = ls_err(LOGSTATE_ABORTED, "sqlite: log %s changed since the transaction began",
                ls_quote(q, sizeof(q), t->id, t->id_len));
  if (st == LOGSTATE_OK && (rc = sq_store(&b->rw, &b->hist, t->id, t->id_len, &now, cp, len)) == SQLITE_OK)
    rc = sq_exec(&b->rw, SQ_COMMIT);
  if (st == LOGSTATE_OK && rc != SQLITE_OK)
    st = ls_sqlite_err(b->rw.db, rc, "storing a checkpoint");
  if (st != LOGSTATE_OK && sqlite3_get_autocommit(b->rw.db) == 0)
    sq_exec(&b->rw, SQ_ROLLBACK);
  sq_snapshot_free(&now);
  return st;
}

/* The first set of a store that has no file yet (create=on_write) makes
 * the file with it; if another process made the file meanwhile, the set
 * runs on theirs against the snapshot (no checkpoint). */
static logstate_status set_first(sq_backend *b, logstate_backend_txn *t, const uint8_t *cp, size_t len) {
  sq_first_set first = {t->id, t->id_len, cp, len};
  int raced = 0;
  logstate_status st = sq_create_file(b, &first, &raced);
  if (st != LOGSTATE_OK)
    return st;
  if (!raced) {
    sq_setup(b, 0); /* the set is stored; a failure here is the next call's to report */
    return LOGSTATE_OK;
  }
  st = sq_setup(b, 0);
  return st == LOGSTATE_OK ? set_in_store(b, t, cp, len) : st;
}

static logstate_status sq_write_set(logstate_backend *be, logstate_backend_txn *t, const uint8_t *cp, size_t len) {
  sq_backend *b = (sq_backend *)be;
  pthread_mutex_lock(&b->mu);
  logstate_status st = sq_ready(b);
  if (st == LOGSTATE_OK)
    st = b->state == SQ_ABSENT ? set_first(b, t, cp, len) : set_in_store(b, t, cp, len);
  pthread_mutex_unlock(&b->mu);
  return st;
}

static logstate_status sq_write_end(logstate_backend *be, logstate_backend_txn *t) {
  (void)be;
  t->snap.cp = NULL; /* the core's */
  sq_snapshot_free(&t->snap);
  free(t->id);
  free(t);
  return LOGSTATE_OK;
}

/* --- the rest of the methods --------------------------------------------- */

static logstate_status sq_init(logstate_backend *be) {
  sq_backend *b = (sq_backend *)be;
  pthread_mutex_lock(&b->mu);
  logstate_status st = sq_setup(b, 1);
  pthread_mutex_unlock(&b->mu);
  return st;
}

static void sq_free(logstate_backend *be) {
  sq_backend *b = (sq_backend *)be;
  sq_conn_close(&b->rw);
  sq_reader_close(b);
  pthread_mutex_destroy(&b->mu);
  free(b->path);
  free(b->pin);
  free(b);
}

static void sq_store_id(logstate_backend *be, char *buf, size_t size) {
  sq_backend *b = (sq_backend *)be;
  pthread_mutex_lock(&b->mu);
  snprintf(buf, size, "%s", b->state == SQ_READY ? b->file.store_id : "");
  pthread_mutex_unlock(&b->mu);
}

/* A writer's connection reads synchronous=FULL back at opening; either
 * journal mode is durable with it. */
static logstate_durability sq_durability(logstate_backend *be) {
  sq_backend *b = (sq_backend *)be;
  pthread_mutex_lock(&b->mu);
  int verified = b->state == SQ_READY && !b->read_only;
  pthread_mutex_unlock(&b->mu);
  return verified ? LOGSTATE_DURABILITY_VERIFIED : LOGSTATE_DURABILITY_UNKNOWN;
}

/* The journal mode, and whose choice it is. */
static void sq_detail(logstate_backend *be, char *buf, size_t size) {
  sq_backend *b = (sq_backend *)be;
  pthread_mutex_lock(&b->mu);
  if (b->state == SQ_ABSENT)
    snprintf(buf, size, "no file yet: the first set creates it (WAL, synchronous=FULL)");
  else if (b->state != SQ_READY)
    snprintf(buf, size, "%s", "");
  else
    snprintf(buf, size, "journal: %s, %s; %s", b->wal ? "WAL" : "rollback journal",
             b->file.made_by_us ? "chosen by logstate, which created this file"
                                : "the file's own (logstate changes the journal mode only of files it creates)",
             b->read_only ? "opened read-only: nothing is written" : "logstate writes with synchronous=FULL");
  pthread_mutex_unlock(&b->mu);
}

static int sq_read_only(logstate_backend *be) { return ((sq_backend *)be)->read_only; }

typedef struct history_read {
  const char *id;
  size_t id_len, max;
  logstate_history_entry *e;
  size_t n;
} history_read;

static logstate_status read_history(sq_backend *b, sq_conn *c, void *arg) {
  history_read *h = arg;
  logstate_history_free(h->e, h->n);
  h->e = NULL;
  h->n = 0;
  (void)b;
  return ls_sqlite_history_read(c, h->id, h->id_len, h->max, &h->e, &h->n);
}

static logstate_status sq_history(logstate_backend *be, const char *log_id, size_t log_id_len, size_t max,
                                  logstate_history_entry **out, size_t *out_n) {
  sq_backend *b = (sq_backend *)be;
  history_read h = {log_id, log_id_len, max, NULL, 0};
  pthread_mutex_lock(&b->mu);
  logstate_status st = sq_ready(b);
  if (st == LOGSTATE_OK && b->state == SQ_READY)
    st = sq_read(b, read_history, &h);
  pthread_mutex_unlock(&b->mu);
  *out = h.e;
  *out_n = h.n;
  return st;
}

static logstate_status sq_verify(logstate_backend *be, logstate_verify_fn report, void *arg, size_t *out_problems) {
  return ls_sqlite_verify((sq_backend *)be, report, arg, out_problems);
}

static void sq_client_name(logstate_backend *be, char *buf, size_t size) {
  snprintf(buf, size, "%s", ((sq_backend *)be)->hist.client_name);
}

const logstate_backend_methods ls_sqlite_methods = {
    .version = LOGSTATE_BACKEND_VERSION,
    .name = "sqlite",
    .counts_versions = 1,
    .init = sq_init,
    .logs = sq_logs,
    .get_latest = sq_get_latest,
    .write_begin = sq_write_begin,
    .write_set = sq_write_set,
    .write_end = sq_write_end,
    .free = sq_free,
    .durability = sq_durability,
    .verify = sq_verify,
    .store_id = sq_store_id,
    .read_only = sq_read_only,
    .history = sq_history,
    .detail = sq_detail,
    .read_state = sq_read_state,
    .cas = sq_cas,
    .cas_batch = sq_cas_batch,
    .client_name = sq_client_name,
    .config_add = sq_config_add,
    .config_get = sq_config_get,
    .config_list = sq_config_list,
    .config_change = sq_config_change,
    .config_history = sq_config_history,
};

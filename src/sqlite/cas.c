/* SPDX-License-Identifier: Apache-2.0 */
/* The SQLite backend's one-round-trip methods: read_state, and cas, the
 * compare-and-sets of a group commit in one write transaction; and a log's
 * snapshot in a read of its own, which get_latest and write_begin take too
 * (here, above setup.c: rows.c is below it, create.c writes through it).
 *
 * Every request compares the log's row with the state it expects: the
 * version logstate counts (sq_version_of) and the checkpoint itself, since
 * the Go witness writes without counting. One that finds its log elsewhere
 * is ABORTED with the state it found, and the others go on; a set chained
 * on an earlier one of the same batch sees that one's row (the same
 * transaction). One COMMIT, one fsync, for the whole batch: nothing is
 * acknowledged before it, and when a statement or the COMMIT fails, the
 * transaction is rolled back and every set that would have been stored
 * fails with that status: nothing of the batch is applied. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "sqlite/sqlite_int.h"

typedef struct one_log {
  const char *id;
  size_t id_len;
  sq_snapshot *snap;
} one_log;

static logstate_status read_one(sq_backend *b, sq_conn *c, void *arg) {
  one_log *o = arg;
  return sq_snapshot_read(c, b->file.has_versions, o->id, o->id_len, o->snap);
}

logstate_status sq_snapshot_of(sq_backend *b, const char *id, size_t id_len, sq_snapshot *s) {
  one_log o = {id, id_len, s};
  memset(s, 0, sizeof(*s));
  pthread_mutex_lock(&b->mu);
  logstate_status st = sq_ready(b);
  if (st == LOGSTATE_OK && b->state == SQ_READY)
    st = sq_read1(b, read_one, &o);
  pthread_mutex_unlock(&b->mu);
  if (st != LOGSTATE_OK)
    sq_snapshot_free(s);
  return st;
}

/* The state a snapshot shows, as read_state and cas speak of it. */
static logstate_backend_state state_of(sq_snapshot *s) {
  logstate_backend_state st = {(uint64_t)sq_version_of(s), s->rows ? s->cp : NULL, s->rows ? s->cp_len : 0};
  if (!s->rows)
    free(s->cp);
  s->cp = NULL; /* moved */
  return st;
}

logstate_status sq_read_state(logstate_backend *be, const char *log_id, size_t log_id_len,
                              logstate_backend_state *out) {
  sq_snapshot s;
  logstate_status st = sq_snapshot_of((sq_backend *)be, log_id, log_id_len, &s);
  if (st == LOGSTATE_OK)
    *out = state_of(&s);
  sq_snapshot_free(&s);
  return st;
}

/* Whether the snapshot is the state the request expects. */
static int at(const sq_snapshot *s, const logstate_backend_cas *r) {
  if ((uint64_t)sq_version_of(s) != r->expect.version || (s->rows != 0) != (r->expect.cp != NULL))
    return 0;
  return !s->rows || (s->cp_len == r->expect.len && memcmp(s->cp, r->expect.cp, s->cp_len) == 0);
}

/* One request inside the transaction: 1 when it stored (its outcome still
 * to be told after COMMIT), 0 when decided now (ABORTED, or a read that
 * failed), -1 when a statement failed while storing: the transaction must
 * be rolled back (*fail set, its message recorded). */
static int one(sq_backend *b, logstate_backend_cas *r, logstate_status *fail) {
  char q[LS_QUOTE_BUFSZ];
  sq_snapshot now = {0};
  logstate_status st = sq_snapshot_read(&b->rw, 1, r->log_id, r->log_id_len, &now);
  int stored = 0;
  if (st == LOGSTATE_OK && !at(&now, r)) {
    ls_err(LOGSTATE_ABORTED, "sqlite: log %s changed since the transaction began",
           ls_quote(q, sizeof(q), r->log_id, r->log_id_len));
    r->fresh = state_of(&now);
    r->fresh_known = 1;
    st = LOGSTATE_ABORTED;
  } else if (st == LOGSTATE_OK) {
    int rc = sq_store(&b->rw, &b->hist, r->log_id, r->log_id_len, &now, r->cp, r->len);
    if (rc != SQLITE_OK) {
      *fail = ls_sqlite_err(b->rw.db, rc, "storing a checkpoint");
      sq_snapshot_free(&now);
      return -1;
    }
    r->version = (uint64_t)sq_version_of(&now) + 1;
    stored = 1;
  }
  sq_snapshot_free(&now);
  if (!stored)
    logstate_backend_cas_result(r, st);
  return stored;
}

/* The batch in one write transaction (the store exists). */
static void in_one_transaction(sq_backend *b, logstate_backend_cas *const *reqs, size_t n) {
  char *stored = calloc(n, 1);
  int rc = stored ? sq_exec(&b->rw, SQ_BEGIN_IMMEDIATE) : SQLITE_NOMEM;
  logstate_status st = LOGSTATE_OK;
  size_t i = 0;
  if (rc != SQLITE_OK)
    st = ls_sqlite_err(b->rw.db, rc, "beginning a write");
  for (; st == LOGSTATE_OK && i < n; i++) {
    int r = one(b, reqs[i], &st);
    stored[i] = r > 0;
  }
  if (st == LOGSTATE_OK && (rc = sq_exec(&b->rw, SQ_COMMIT)) != SQLITE_OK)
    st = ls_sqlite_err(b->rw.db, rc, "committing a group of sets");
  if (st != LOGSTATE_OK && sqlite3_get_autocommit(b->rw.db) == 0)
    sq_exec(&b->rw, SQ_ROLLBACK);
  /* The outcome of every set not decided yet: stored and committed, or
   * failed with the transaction (rolled back: nothing applied). */
  for (size_t j = 0; j < n; j++)
    if (stored == NULL || stored[j] || j >= i)
      logstate_backend_cas_result(reqs[j], st);
  free(stored);
}

/* The first set of a store with no file yet (create=on_write) makes the
 * file with it; if another process made the file meanwhile, it goes with
 * the rest into the transaction on theirs. Returns how many requests it
 * decided (0 or 1). */
static size_t first_set(sq_backend *b, logstate_backend_cas *r) {
  if (r->expect.version != 0) {
    r->fresh = (logstate_backend_state){0, NULL, 0};
    r->fresh_known = 1;
    logstate_backend_cas_result(r, ls_err(LOGSTATE_ABORTED, "sqlite: the store has no file, so no log yet"));
    return 1;
  }
  sq_first_set first = {r->log_id, r->log_id_len, r->cp, r->len};
  int raced = 0;
  logstate_status st = sq_create_file(b, &first, &raced);
  if (st == LOGSTATE_OK && raced)
    return 0;
  if (st == LOGSTATE_OK) {
    sq_setup(b, 0); /* the set is stored; a failure here is the next call's to report */
    r->version = 1;
  }
  logstate_backend_cas_result(r, st);
  return 1;
}

void sq_cas(logstate_backend *be, logstate_backend_cas *const *reqs, size_t n) {
  sq_backend *b = (sq_backend *)be;
  size_t done = 0;
  pthread_mutex_lock(&b->mu);
  logstate_status st = sq_ready(b);
  if (st == LOGSTATE_OK && b->state == SQ_ABSENT)
    done = first_set(b, reqs[0]);
  if (st == LOGSTATE_OK && done < n && b->state == SQ_ABSENT)
    st = sq_setup(b, 0); /* another process made the file */
  if (st == LOGSTATE_OK && done < n)
    in_one_transaction(b, reqs + done, n - done);
  else
    for (size_t i = done; i < n; i++)
      logstate_backend_cas_result(reqs[i], st);
  pthread_mutex_unlock(&b->mu);
}

/* One write transaction per batch, one fsync: a batch costs about a set. */
size_t sq_cas_batch(logstate_backend *be) {
  (void)be;
  return 64;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* logstate_init on SQLite, once per handle: nothing is written before the
 * file is validated, and the write path never sets anything up.
 *
 * 1. A missing file is created whole by create.c (or, with
 *    create=on_write, by the first set), unless the handle may not create.
 * 2. The file is validated by reads that create and change nothing
 *    (reader.c, schema.c): its tables, its store_id against a pinned one.
 * 3. A writer opens its connection: read-write, synchronous=FULL, the busy
 *    timeout, all read back. The file's journal mode is left as its owner
 *    set it: logstate chooses WAL only for a file it creates itself.
 * 4. Missing side tables are created in one BEGIN IMMEDIATE transaction
 *    (which waits for a busy file up to the busy timeout), after the file
 *    was validated again inside it.
 * 5. The set's statements are prepared: init says OK only when a set would
 *    work. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sqlite/sqlite_int.h"

static logstate_status probe(sq_backend *b, sq_conn *c, void *arg) {
  (void)arg;
  return sq_schema_check(c, b->path, &b->file);
}

/* The checks on what the file holds: a store, and the pinned one. */
static logstate_status judge(const sq_backend *b) {
  if (!b->file.has_store && (b->create == SQ_CREATE_NO || b->read_only))
    return ls_store_absent("sqlite", b->path, "it has no chkpts table", b->read_only);
  const char *id = b->file.store_id[0] ? b->file.store_id : NULL;
  return ls_store_id_compare("sqlite", b->path, b->pin, id, id ? strlen(id) : 0);
}

/* A writer needs its directory for the journal, or WAL side files it may
 * write: else every set would fail after init said OK. */
static logstate_status check_directory(const sq_backend *b) {
  char dir[4200], wal[4200], shm[4200], q[LS_QUOTE_BUFSZ];
  sq_dir_of(b->path, dir, sizeof(dir));
  snprintf(wal, sizeof(wal), "%s-wal", b->path);
  snprintf(shm, sizeof(shm), "%s-shm", b->path);
  if (access(dir, W_OK | X_OK) == 0 || (b->wal && access(wal, W_OK) == 0 && access(shm, W_OK) == 0))
    return LOGSTATE_OK;
  return ls_err(LOGSTATE_PERMISSION_DENIED,
                "sqlite: the directory %s may not be written by this user: SQLite needs to create the %s files there",
                ls_quote(q, sizeof(q), dir, strlen(dir)), b->wal ? "-wal and -shm" : "-journal");
}

static int needs_tables(const sq_backend *b) {
  const sq_file *f = &b->file;
  return !f->has_store || !f->has_versions || !f->has_meta || !f->store_id[0] || (b->hist.keep && !f->has_history);
}

/* Step 4: the side tables, checked again under the write lock. */
static logstate_status make_tables(sq_backend *b) {
  int rc = sq_exec(&b->rw, SQ_BEGIN_IMMEDIATE);
  if (rc != SQLITE_OK)
    return ls_sqlite_err(b->rw.db, rc, "beginning logstate_init's transaction");
  logstate_status st = sq_schema_check(&b->rw, b->path, &b->file);
  if (st == LOGSTATE_OK)
    st = judge(b);
  if (st == LOGSTATE_OK && needs_tables(b))
    st = sq_schema_create(&b->rw, &b->file, b->hist.keep > 0, 0);
  if (st == LOGSTATE_OK && (rc = sq_exec(&b->rw, SQ_COMMIT)) != SQLITE_OK)
    st = ls_sqlite_err(b->rw.db, rc, "committing logstate_init's transaction");
  if (st != LOGSTATE_OK)
    sq_exec(&b->rw, SQ_ROLLBACK);
  /* What the commit made, as a later reader would see it. */
  return st == LOGSTATE_OK ? sq_schema_check(&b->rw, b->path, &b->file) : st;
}

/* Step 5: every statement a set runs compiles against this schema. */
static logstate_status prepare_set(sq_backend *b) {
  static const sq_stmt_id set[] = {SQ_SNAPSHOT,    SQ_CP_UPDATE,         SQ_CP_UPDATE_BLOB, SQ_CP_INSERT,
                                   SQ_VERSION_PUT, SQ_VERSION_DROP_BLOB, SQ_HISTORY_INSERT, SQ_HISTORY_TRIM};
  size_t n = sizeof(set) / sizeof(set[0]) - (b->hist.keep ? 0 : 2);
  int rc = SQLITE_OK;
  for (size_t i = 0; i < n && rc == SQLITE_OK; i++)
    sq_stmt(&b->rw, set[i], NULL, 0, &rc);
  if (rc == SQLITE_OK)
    return LOGSTATE_OK;
  ls_sqlite_err(b->rw.db, rc, "preparing the set");
  return ls_err(LOGSTATE_FAILED_PRECONDITION, "%s: a set could not run on this file", logstate_last_error());
}

/* A writer's steps 3 to 5. */
static logstate_status open_writer(sq_backend *b) {
  logstate_status st = LOGSTATE_OK;
  sq_reader_close(b); /* step 2's, if it needed one */
  if (b->rw.db == NULL && (st = check_directory(b)) == LOGSTATE_OK)
    st = sq_conn_open(&b->rw, b->path, SQ_OPEN_WRITER, b->busy_ms);
  if (st == LOGSTATE_OK && needs_tables(b))
    st = make_tables(b);
  if (st == LOGSTATE_OK)
    st = prepare_set(b);
  return st;
}

/* Step 1: no file. */
static logstate_status missing(sq_backend *b, int may_create, int *made) {
  *made = 0;
  if (b->read_only)
    return ls_store_absent("sqlite", b->path, "the file does not exist", 1);
  if (b->pin)
    return ls_store_id_compare("sqlite", b->path, b->pin, NULL, 0);
  if (b->create == SQ_CREATE_NO)
    return ls_store_absent("sqlite", b->path, "the file does not exist", 0);
  if (b->create == SQ_CREATE_ON_WRITE) {
    b->state = SQ_ABSENT;
    return LOGSTATE_OK;
  }
  if (!may_create)
    return ls_err(LOGSTATE_FAILED_PRECONDITION, "sqlite: %s does not exist yet (call logstate_init first)", b->path);
  int raced = 0;
  logstate_status st = sq_create_file(b, NULL, &raced);
  *made = st == LOGSTATE_OK;
  return st;
}

logstate_status sq_setup(sq_backend *b, int may_create) {
  int exists = 0, made = 0;
  logstate_status st = sq_file_exists(b->path, &exists);
  if (st == LOGSTATE_OK && !exists && (st = missing(b, may_create, &made)) == LOGSTATE_OK && !made)
    return LOGSTATE_OK; /* SQ_ABSENT */
  if (st == LOGSTATE_OK && b->rw.db == NULL)
    st = sq_header_wal(b->path, &b->wal);
  if (st == LOGSTATE_OK)
    st = sq_read(b, probe, NULL);
  if (st == LOGSTATE_OK)
    st = judge(b);
  if (st == LOGSTATE_OK && !b->read_only)
    st = open_writer(b);
  if (st != LOGSTATE_OK) {
    b->state = SQ_UNSET;
    return st;
  }
  b->state = SQ_READY;
  return LOGSTATE_OK;
}

logstate_status sq_ready(sq_backend *b) {
  int exists = 0;
  if (b->state == SQ_READY)
    return LOGSTATE_OK;
  if (b->state == SQ_ABSENT) {
    logstate_status st = sq_file_exists(b->path, &exists);
    if (st != LOGSTATE_OK || !exists)
      return st; /* still none: reads find nothing, the first set makes it */
  }
  return sq_setup(b, 0);
}

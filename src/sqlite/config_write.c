/* SPDX-License-Identifier: Apache-2.0 */
/* The SQLite backend's log configuration writes (config.c says where
 * they go): an add and a disable or enable are each one BEGIN IMMEDIATE
 * transaction on the writer's connection, with the tables they need made
 * in it (the witness's `logs` with the witness's own statement); a failure
 * rolls all of it back. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "configs.h"
#include "sqlite/sqlite_int.h"

/* Binds text or NULL. */
static int bind_text(sqlite3_stmt *st, int i, const char *s) {
  return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

/* Under b->mu: a file to write (made now under create=on_write), then
 * BEGIN IMMEDIATE and the tables. An SQLite failure is recorded naming
 * `what`. */
static logstate_status begin(sq_backend *b, const char *what) {
  logstate_status st = sq_ready(b);
  int raced = 0;
  if (st == LOGSTATE_OK && b->state == SQ_ABSENT && (st = sq_create_file(b, NULL, &raced)) == LOGSTATE_OK)
    st = sq_setup(b, 0);
  if (st != LOGSTATE_OK)
    return st;
  static const sq_stmt_id make[] = {SQ_CFG_MAKE_LOGS, SQ_CFG_MAKE_META, SQ_CFG_MAKE_AUDIT};
  int rc = sq_exec(&b->rw, SQ_BEGIN_IMMEDIATE);
  for (size_t i = 0; rc == SQLITE_OK && i < sizeof(make) / sizeof(make[0]); i++)
    rc = sq_exec(&b->rw, make[i]);
  if (rc == SQLITE_OK)
    return LOGSTATE_OK;
  st = ls_sqlite_err(b->rw.db, rc, what);
  if (sqlite3_get_autocommit(b->rw.db) == 0)
    sq_exec(&b->rw, SQ_ROLLBACK);
  return st;
}

/* COMMIT after `st` (OK) or ROLLBACK (else); returns the outcome. */
static logstate_status end(sq_backend *b, logstate_status st, int rc, const char *what) {
  if (st == LOGSTATE_OK && rc != SQLITE_OK)
    st = ls_sqlite_err(b->rw.db, rc, what);
  if (st == LOGSTATE_OK && (rc = sq_exec(&b->rw, SQ_COMMIT)) != SQLITE_OK)
    st = ls_sqlite_err(b->rw.db, rc, what);
  if (st != LOGSTATE_OK && sqlite3_get_autocommit(b->rw.db) == 0)
    sq_exec(&b->rw, SQ_ROLLBACK);
  return st;
}

/* One new entry: its `logs` row as the witness binds one, and its meta. */
static int insert(sq_conn *c, const logstate_log_entry *e) {
  int rc;
  sqlite3_stmt *st = sq_stmt(c, SQ_CFG_INSERT, e->log_id, strlen(e->log_id), &rc);
  if (st && (rc = bind_text(st, 2, e->origin)) == SQLITE_OK && (rc = bind_text(st, 3, e->vkey)) == SQLITE_OK &&
      (rc = bind_text(st, 4, e->contact)) == SQLITE_OK &&
      (rc = e->has_qpd ? sqlite3_bind_double(st, 5, e->qpd) : sqlite3_bind_null(st, 5)) == SQLITE_OK &&
      (rc = sqlite3_bind_int(st, 6, e->disabled != 0)) == SQLITE_OK)
    rc = sq_run(st);
  if (rc == SQLITE_OK && (st = sq_stmt(c, SQ_CFG_META_ADDED, e->log_id, strlen(e->log_id), &rc)) != NULL &&
      (rc = sqlite3_bind_int64(st, 2, e->added_ms)) == SQLITE_OK)
    rc = sq_run(st);
  return rc;
}

logstate_status sq_config_add(logstate_backend *be, const logstate_log_entry *entries, size_t n,
                              logstate_log_entry **existing) {
  sq_backend *b = (sq_backend *)be;
  static const sq_cfg_tables all = {1, 1, 1};
  int rc = SQLITE_OK;
  pthread_mutex_lock(&b->mu);
  logstate_status st = begin(b, "adding log configurations");
  if (st == LOGSTATE_OK) {
    for (size_t i = 0; st == LOGSTATE_OK && rc == SQLITE_OK && i < n; i++)
      if ((st = sq_cfg_get_on(&b->rw, &all, entries[i].log_id, &existing[i])) == LOGSTATE_OK && existing[i] == NULL)
        rc = insert(&b->rw, &entries[i]);
    st = end(b, st, rc, "adding log configurations");
  }
  pthread_mutex_unlock(&b->mu);
  return st;
}

/* The disable or enable, its meta and its audit record. */
static int change(sq_conn *c, const logstate_config_event *ev) {
  int rc;
  size_t n = strlen(ev->log_id);
  sqlite3_stmt *st = sq_stmt(c, SQ_CFG_DISABLE, ev->log_id, n, &rc);
  if (st && (rc = sqlite3_bind_int(st, 2, ev->disabled != 0)) == SQLITE_OK)
    rc = sq_run(st);
  if (rc == SQLITE_OK && (st = sq_stmt(c, SQ_CFG_META_CHANGED, ev->log_id, n, &rc)) != NULL &&
      (rc = sqlite3_bind_int64(st, 2, ev->at_ms)) == SQLITE_OK && (rc = bind_text(st, 3, ev->by)) == SQLITE_OK &&
      (rc = bind_text(st, 4, ev->reason)) == SQLITE_OK)
    rc = sq_run(st);
  if (rc == SQLITE_OK && (st = sq_stmt(c, SQ_CFG_AUDIT, ev->log_id, n, &rc)) != NULL &&
      (rc = bind_text(st, 2, ev->origin)) == SQLITE_OK &&
      (rc = sqlite3_bind_int(st, 3, ev->disabled != 0)) == SQLITE_OK &&
      (rc = sqlite3_bind_int64(st, 4, ev->at_ms)) == SQLITE_OK && (rc = bind_text(st, 5, ev->by)) == SQLITE_OK &&
      (rc = bind_text(st, 6, ev->reason)) == SQLITE_OK)
    rc = sq_run(st);
  return rc;
}

logstate_status sq_config_change(logstate_backend *be, const logstate_config_event *ev, int *changed) {
  sq_backend *b = (sq_backend *)be;
  static const sq_cfg_tables all = {1, 1, 1};
  logstate_log_entry *e = NULL;
  int rc = SQLITE_OK;
  *changed = 0;
  pthread_mutex_lock(&b->mu);
  logstate_status st = begin(b, "disabling or enabling a log");
  if (st == LOGSTATE_OK) {
    if ((st = sq_cfg_get_on(&b->rw, &all, ev->log_id, &e)) == LOGSTATE_OK && e == NULL)
      st = LOGSTATE_NOT_FOUND; /* its message is the core's */
    if (st == LOGSTATE_OK && (e->disabled != 0) != (ev->disabled != 0) && (rc = change(&b->rw, ev)) == SQLITE_OK)
      *changed = 1;
    st = end(b, st, rc, "disabling or enabling a log");
  }
  if (st != LOGSTATE_OK)
    *changed = 0;
  pthread_mutex_unlock(&b->mu);
  logstate_log_entry_free(e);
  return st;
}

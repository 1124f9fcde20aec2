/* SPDX-License-Identifier: Apache-2.0 */
/* The SQLite backend's log configurations, in the Go witness's own `logs`
 * table (its 2026 schema, created as it creates it, rows bound as it binds
 * them: TEXT IDs and strings, REAL qpd, INTEGER 0/1 disabled), so that
 * either side reads what the other added. What the witness has no column
 * for goes to logstate's side tables: logstate_log_meta (when added, when
 * and by whom last disabled or enabled, why) and logstate_log_audit (every
 * disable and enable). A write is one BEGIN IMMEDIATE transaction: the
 * witness's `INSERT OR IGNORE` and logstate's adds never both insert one
 * log. Reads need none of logstate's tables: a file the witness made is
 * read as it is. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "configs.h"
#include "sqlite/sqlite_int.h"

int sq_cfg_tables_of(sq_conn *c, sq_cfg_tables *t) {
  int rc;
  memset(t, 0, sizeof(*t));
  sqlite3_stmt *st = sq_stmt(c, SQ_CFG_TABLES, NULL, 0, &rc);
  while (st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0);
    t->logs |= name && strcmp(name, "logs") == 0;
    t->meta |= name && strcmp(name, "logstate_log_meta") == 0;
    t->audit |= name && strcmp(name, "logstate_log_audit") == 0;
  }
  if (st)
    sqlite3_reset(st);
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static char *text_of(sqlite3_stmt *st, int col, int *oom) {
  const unsigned char *p = sqlite3_column_text(st, col);
  if (p == NULL)
    return NULL;
  char *s = ls_memdup(p, (size_t)sqlite3_column_bytes(st, col));
  *oom |= s == NULL;
  return s;
}

/* One row of SQ_CFG_GET or SQ_CFG_LIST (the meta columns NULL without the
 * side table). An empty contact reads as none. */
static logstate_status entry_of(sqlite3_stmt *st, logstate_log_entry *e) {
  int oom = 0;
  memset(e, 0, sizeof(*e));
  const unsigned char *id = sqlite3_column_text(st, 0);
  snprintf(e->log_id, sizeof(e->log_id), "%s", id ? (const char *)id : "");
  e->origin = text_of(st, 1, &oom);
  e->vkey = text_of(st, 2, &oom);
  e->contact = text_of(st, 3, &oom);
  if (e->contact && e->contact[0] == '\0') {
    free(e->contact);
    e->contact = NULL;
  }
  e->has_qpd = sqlite3_column_type(st, 4) != SQLITE_NULL;
  e->qpd = e->has_qpd ? sqlite3_column_double(st, 4) : 0;
  e->disabled = sqlite3_column_int(st, 5) != 0;
  e->added_ms = sqlite3_column_int64(st, 6);
  e->changed_ms = sqlite3_column_int64(st, 7);
  e->changed_by = text_of(st, 8, &oom);
  e->reason = text_of(st, 9, &oom);
  if (!oom)
    return LOGSTATE_OK;
  ls_cfg_entry_release(e);
  return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory");
}

logstate_status sq_cfg_get_on(sq_conn *c, const sq_cfg_tables *t, const char *log_id, logstate_log_entry **out) {
  int rc;
  *out = NULL;
  if (!t->logs)
    return LOGSTATE_OK;
  sqlite3_stmt *st = sq_stmt(c, t->meta ? SQ_CFG_GET : SQ_CFG_GET_BARE, log_id, strlen(log_id), &rc);
  logstate_status s = LOGSTATE_OK;
  if (st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    if ((*out = malloc(sizeof(**out))) == NULL)
      s = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory");
    else if ((s = entry_of(st, *out)) != LOGSTATE_OK) {
      free(*out);
      *out = NULL;
    }
    rc = SQLITE_DONE;
  }
  if (st)
    sqlite3_reset(st);
  return s != LOGSTATE_OK    ? s
         : rc == SQLITE_DONE ? LOGSTATE_OK
                             : ls_sqlite_err(c->db, rc, "reading a log configuration");
}

logstate_status sq_cfg_verify(sq_conn *c, int (*add)(void *arg, const void *id, size_t len, int kind), void *arg) {
  sq_cfg_tables t;
  int rc = sq_cfg_tables_of(c, &t);
  sqlite3_stmt *st = rc == SQLITE_OK && t.logs ? sq_stmt(c, SQ_CFG_IDS, NULL, 0, &rc) : NULL;
  logstate_status s = LOGSTATE_OK;
  while (st && s == LOGSTATE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *type = (const char *)sqlite3_column_text(st, 1), *origin = (const char *)sqlite3_column_text(st, 2);
    char want[LOGSTATE_LOG_ID_HEX_LEN + 1] = "";
    const void *id = sqlite3_column_blob(st, 0);
    size_t len = (size_t)sqlite3_column_bytes(st, 0);
    int ok = type && strcmp(type, "text") == 0 && origin && logstate_log_id(origin, want) == LOGSTATE_OK &&
             len == LOGSTATE_LOG_ID_HEX_LEN && memcmp(id, want, len) == 0;
    if (!ok && !add(arg, id ? id : "", id ? len : 0, SQ_CFG_WRONG_ID))
      s = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory");
  }
  if (st)
    sqlite3_reset(st);
  if (s == LOGSTATE_OK && rc != SQLITE_OK && rc != SQLITE_DONE)
    s = ls_sqlite_err(c->db, rc, "verifying log configurations");
  return s;
}

/* --- reads ------------------------------------------------------------------ */

typedef struct cfg_read {
  const char *log_id; /* GET, HISTORY (NULL: every log) */
  size_t max;
  logstate_log_entry *e; /* GET: one; LIST */
  size_t n;
  logstate_config_event *ev;
  size_t nev;
} cfg_read;

static void read_reset(cfg_read *r) {
  logstate_log_entries_free(r->e, r->n);
  logstate_config_events_free(r->ev, r->nev);
  r->e = NULL;
  r->ev = NULL;
  r->n = r->nev = 0;
}

static logstate_status read_get(sq_backend *b, sq_conn *c, void *arg) {
  cfg_read *r = arg;
  sq_cfg_tables t;
  (void)b;
  read_reset(r);
  int rc = sq_cfg_tables_of(c, &t);
  if (rc != SQLITE_OK)
    return ls_sqlite_err(c->db, rc, "reading a log configuration");
  logstate_status st = sq_cfg_get_on(c, &t, r->log_id, &r->e);
  r->n = r->e != NULL;
  return st;
}

static logstate_status read_list(sq_backend *b, sq_conn *c, void *arg) {
  cfg_read *r = arg;
  sq_cfg_tables t;
  size_t cap = 0;
  (void)b;
  read_reset(r);
  int rc = sq_cfg_tables_of(c, &t);
  sqlite3_stmt *st =
      rc == SQLITE_OK && t.logs ? sq_stmt(c, t.meta ? SQ_CFG_LIST : SQ_CFG_LIST_BARE, NULL, 0, &rc) : NULL;
  logstate_status s = LOGSTATE_OK;
  while (st && s == LOGSTATE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    logstate_log_entry *grown = r->n < cap ? r->e : realloc(r->e, (cap = cap ? 2 * cap : 16) * sizeof(*r->e));
    if (grown == NULL)
      s = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory");
    else if ((s = entry_of(st, &(r->e = grown)[r->n])) == LOGSTATE_OK)
      r->n++;
  }
  if (st)
    sqlite3_reset(st);
  if (s == LOGSTATE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW && (rc != SQLITE_OK || t.logs))
    s = ls_sqlite_err(c->db, rc, "listing log configurations");
  return s;
}

static logstate_status read_history(sq_backend *b, sq_conn *c, void *arg) {
  cfg_read *r = arg;
  sq_cfg_tables t;
  (void)b;
  read_reset(r);
  int rc = sq_cfg_tables_of(c, &t);
  if (rc != SQLITE_OK || !t.audit)
    return rc == SQLITE_OK ? LOGSTATE_OK : ls_sqlite_err(c->db, rc, "reading the audit trail");
  sqlite3_stmt *st =
      sq_stmt(c, r->log_id ? SQ_CFG_HISTORY : SQ_CFG_HISTORY_ALL, r->log_id, r->log_id ? strlen(r->log_id) : 0, &rc);
  size_t cap = 0;
  if (st)
    rc = sqlite3_bind_int64(st, 2, (sqlite3_int64)r->max);
  while (st && rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW && r->nev < r->max) {
    /* grown as rows come: a trail is usually far shorter than max */
    logstate_config_event *grown = r->nev < cap ? r->ev : realloc(r->ev, (cap = cap ? 2 * cap : 16) * sizeof(*grown));
    if (grown == NULL) {
      rc = SQLITE_NOMEM;
      break;
    }
    r->ev = grown;
    logstate_config_event *e = &r->ev[r->nev++];
    memset(e, 0, sizeof(*e));
    int oom = 0;
    const unsigned char *id = sqlite3_column_text(st, 0);
    snprintf(e->log_id, sizeof(e->log_id), "%s", id ? (const char *)id : "");
    e->origin = text_of(st, 1, &oom);
    e->disabled = sqlite3_column_int(st, 2) != 0;
    e->at_ms = sqlite3_column_int64(st, 3);
    e->by = text_of(st, 4, &oom);
    e->reason = text_of(st, 5, &oom);
    rc = oom ? SQLITE_NOMEM : SQLITE_OK;
  }
  if (st)
    sqlite3_reset(st);
  return rc == SQLITE_DONE || rc == SQLITE_OK ? LOGSTATE_OK : ls_sqlite_err(c->db, rc, "reading the audit trail");
}

/* Runs a read under the handle's mutex; none when there is no file yet. */
static logstate_status cfg_read_run(sq_backend *b, sq_read_fn fn, cfg_read *r) {
  pthread_mutex_lock(&b->mu);
  logstate_status st = sq_ready(b);
  if (st == LOGSTATE_OK && b->state == SQ_READY)
    st = sq_read(b, fn, r);
  pthread_mutex_unlock(&b->mu);
  return st;
}

logstate_status sq_config_get(logstate_backend *be, const char *origin, const char *log_id, logstate_log_entry **out) {
  (void)origin;
  cfg_read r = {.log_id = log_id};
  logstate_status st = cfg_read_run((sq_backend *)be, read_get, &r);
  if (st == LOGSTATE_OK && r.e == NULL)
    st = LOGSTATE_NOT_FOUND;
  if (st == LOGSTATE_OK) {
    *out = r.e;
    r.e = NULL;
    r.n = 0;
  }
  read_reset(&r);
  return st;
}

logstate_status sq_config_list(logstate_backend *be, logstate_log_entry **out, size_t *out_n) {
  cfg_read r = {0};
  logstate_status st = cfg_read_run((sq_backend *)be, read_list, &r);
  *out = r.e; /* on failure the core frees what was read */
  *out_n = r.n;
  return st;
}

logstate_status sq_config_history(logstate_backend *be, const char *origin, const char *log_id, size_t max,
                                  logstate_config_event **out, size_t *out_n) {
  (void)origin;
  cfg_read r = {.log_id = log_id, .max = max};
  logstate_status st = cfg_read_run((sq_backend *)be, read_history, &r);
  *out = r.ev;
  *out_n = r.nev;
  return st;
}

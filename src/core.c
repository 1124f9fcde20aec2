/* SPDX-License-Identifier: Apache-2.0 */
/* The calls that read or write a log, whatever the backend: the read and
 * write objects (the set-once state machine), the one-call read, logs,
 * init, verify and history, each with its argument checks and reported
 * once to the operations hook. Backends only see valid calls. */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"
#include "internal.h"
#include "logtab.h"

struct logstate_read {
  logstate *ls;
  char *log_id;
  size_t log_id_len;
};

struct logstate_write {
  logstate *ls;
  logstate_backend_txn *txn;
  logstate_backend_state snap; /* what write_begin saw; the core's, the backend may point at snap.cp */
  char *log_id;                /* for messages */
  size_t log_id_len;
  int ended; /* write_set was called: only close is allowed now */
};

static logstate_status verify_impl(logstate *ls, logstate_verify_fn report, void *arg, size_t *out_problems) {
  if (out_problems)
    *out_problems = 0;
  if (ls == NULL || out_problems == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_verify: %s is NULL", ls ? "out_problems" : "handle");
  const logstate_backend_methods *m = ls->be->methods;
  if (m->verify == NULL)
    return LOGSTATE_OK;
  return m->verify(ls->be, report, arg, out_problems);
}

static logstate_status init_impl(logstate *ls) {
  if (ls == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_init: handle is NULL");
  return ls->be->methods->init ? ls->be->methods->init(ls->be) : LOGSTATE_OK;
}

static logstate_status logs_impl(logstate *ls, char ***out_ids, size_t *out_n) {
  if (out_ids)
    *out_ids = NULL;
  if (out_n)
    *out_n = 0;
  if (ls == NULL || out_ids == NULL || out_n == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_logs: %s is NULL",
                  ls == NULL        ? "handle"
                  : out_ids == NULL ? "out_ids"
                                    : "out_n");
  char **ids = NULL;
  size_t n = 0;
  logstate_status st = ls->be->methods->logs(ls->be, &ids, &n);
  if (st != LOGSTATE_OK) {
    logstate_logs_free(ids, n);
    return st;
  }
  if (n > 0 && ids == NULL)
    return ls_err(LOGSTATE_INTERNAL, "logstate_logs: %s backend returned %zu IDs and no array", ls->be->methods->name,
                  n);
  for (size_t i = 0; i < n; i++) {
    if (ids[i] == NULL) {
      logstate_logs_free(ids, n);
      return ls_err(LOGSTATE_INTERNAL, "logstate_logs: %s backend returned a NULL log ID", ls->be->methods->name);
    }
  }
  ls_sort_unique(ids, &n); /* backends promise uniqueness; keep the promise anyway */
  if (n == 0) {
    free(ids);
    ids = NULL;
  }
  *out_ids = ids;
  *out_n = n;
  return LOGSTATE_OK;
}

/* A backend that says OK must hand over a buffer; it may be empty (0
 * bytes) when another program stored an empty checkpoint (the Go witness
 * can): present, never "none". */
static logstate_status check_returned(const char *fn, const logstate *ls, logstate_status st, uint8_t **cp, size_t *len,
                                      const char *log_id, size_t log_id_len) {
  if (st == LOGSTATE_OK && *cp == NULL) {
    *len = 0;
    return ls_err(LOGSTATE_INTERNAL, "%s: %s backend returned no checkpoint buffer", fn, ls->be->methods->name);
  }
  if (st != LOGSTATE_OK) {
    free(*cp);
    *cp = NULL;
    *len = 0;
  }
  return st == LOGSTATE_NOT_FOUND ? ls_not_found(log_id, log_id_len) : st;
}

logstate_status logstate_read_ops(logstate *ls, const char *log_id, logstate_read **out) {
  if (out)
    *out = NULL;
  if (ls == NULL || out == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_read_ops: %s is NULL", ls ? "out" : "handle");
  size_t n;
  logstate_status st = ls_check_log_id("logstate_read_ops", log_id, &n);
  if (st != LOGSTATE_OK)
    return st;
  logstate_read *r = malloc(sizeof(*r));
  char *id = ls_memdup(log_id, n);
  if (r == NULL || id == NULL) {
    free(r);
    free(id);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "logstate_read_ops: out of memory");
  }
  r->ls = ls;
  r->log_id = id;
  r->log_id_len = n;
  atomic_fetch_add(&ls->refs, 1);
  *out = r;
  return LOGSTATE_OK;
}

/* The checkpoint of r's log: through read_state where the backend has it
 * (with the version: a store that went back is told). */
static logstate_status read_latest(logstate_read *r, const char *fn, uint8_t **out_cp, size_t *out_len) {
  logstate *ls = r->ls;
  const logstate_backend_methods *m = ls->be->methods;
  logstate_status st;
  if (m->read_state) {
    logstate_backend_state s;
    st = ls_backend_read_state(ls, fn, r->log_id, r->log_id_len, &s);
    *out_cp = s.cp;
    *out_len = s.len;
    if (st == LOGSTATE_OK && s.version == 0)
      st = LOGSTATE_NOT_FOUND;
  } else {
    st = m->get_latest(ls->be, r->log_id, r->log_id_len, out_cp, out_len);
  }
  return check_returned(fn, ls, st, out_cp, out_len, r->log_id, r->log_id_len);
}

static logstate_status read_get_latest_impl(logstate_read *r, uint8_t **out_cp, size_t *out_len) {
  if (out_cp)
    *out_cp = NULL;
  if (out_len)
    *out_len = 0;
  if (r == NULL || out_cp == NULL || out_len == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_read_get_latest: %s is NULL",
                  r == NULL        ? "read ops"
                  : out_cp == NULL ? "out_cp"
                                   : "out_len");
  return read_latest(r, "logstate_read_get_latest", out_cp, out_len);
}

void logstate_read_free(logstate_read *r) {
  if (r == NULL)
    return;
  logstate *ls = r->ls;
  free(r->log_id);
  free(r);
  ls_handle_release(ls);
}

static logstate_status write_ops_impl(logstate *ls, const char *log_id, logstate_write **out) {
  if (out)
    *out = NULL;
  if (ls == NULL || out == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_write_ops: %s is NULL", ls ? "out" : "handle");
  size_t n;
  logstate_status st = ls_check_log_id("logstate_write_ops", log_id, &n);
  if (st == LOGSTATE_OK)
    st = ls_check_writable(ls, "logstate_write_ops");
  if (st != LOGSTATE_OK)
    return st;
  logstate_write *w = calloc(1, sizeof(*w));
  if (w == NULL || (w->log_id = ls_memdup(log_id, n)) == NULL) {
    free(w);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "logstate_write_ops: out of memory");
  }
  w->log_id_len = n;
  const logstate_backend_methods *m = ls->be->methods;
  uint64_t before = ls_logtab_seen(ls->tab, log_id, n);
  st = m->write_begin(ls->be, log_id, n, &w->txn, &w->snap);
  if (st == LOGSTATE_OK && m->counts_versions &&
      (st = ls_logtab_saw(ls->tab, "logstate_write_ops", log_id, n, before, w->snap.version, NULL, 0, 0)) !=
          LOGSTATE_OK)
    m->write_end(ls->be, w->txn);
  if (st != LOGSTATE_OK) {
    free(w->snap.cp);
    free(w->log_id);
    free(w);
    return st;
  }
  w->ls = ls;
  atomic_fetch_add(&ls->refs, 1);
  *out = w;
  return LOGSTATE_OK;
}

logstate_status logstate_write_get_latest(logstate_write *w, uint8_t **out_cp, size_t *out_len) {
  if (out_cp)
    *out_cp = NULL;
  if (out_len)
    *out_len = 0;
  if (w == NULL || out_cp == NULL || out_len == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_write_get_latest: %s is NULL",
                  w == NULL        ? "write ops"
                  : out_cp == NULL ? "out_cp"
                                   : "out_len");
  logstate_status st = ls_write_usable("logstate_write_get_latest", w->ended);
  if (st != LOGSTATE_OK)
    return st;
  return ls_snapshot_copy(w->snap.cp, w->snap.len, w->log_id, w->log_id_len, out_cp, out_len);
}

/* A write object's set, in phases: begin (the checks, the log's turn: the
 * handle's other sets and updates of the log wait), the set itself, end
 * (what the handle knows of the log, the turn given back). */
typedef struct wset {
  logstate_write *w;
  ls_turn turn;
  ls_gcas r; /* the set as a compare-and-set, when it goes through the group */
} wset;

static logstate_status wset_begin(wset *s, logstate_write *w, const uint8_t *cp, size_t len) {
  logstate_status st = ls_write_usable("logstate_write_set", w->ended);
  if (st == LOGSTATE_OK)
    st = ls_check_checkpoint("logstate_write_set", w->ls->policy.max_checkpoint_len, cp, len);
  if (st != LOGSTATE_OK)
    return st; /* nothing reached the backend: the transaction stays usable */
  if ((st = ls_logtab_wait_turn(w->ls->tab, "logstate_write_set", w->log_id, w->log_id_len, &s->turn)) != LOGSTATE_OK)
    return st;
  w->ended = 1;
  s->w = w;
  s->r = (ls_gcas){.req = {.log_id = w->log_id, .log_id_len = w->log_id_len, .expect = w->snap, .exact = 1}};
  s->r.req.cp = cp;
  s->r.req.len = len;
  return LOGSTATE_OK;
}

static logstate_status wset_end(wset *s, logstate_status st) {
  logstate_write *w = s->w;
  logstate *ls = w->ls;
  if (st == LOGSTATE_OK && ls->be->methods->counts_versions) /* every set adds one to the version */
    ls_logtab_stored(ls->tab, w->log_id, w->log_id_len, w->snap.version + 1,
                     ls_core_by_version(ls) ? s->r.req.cp : NULL, s->r.req.len);
  else if (st != LOGSTATE_OK)
    ls_logtab_forget(ls->tab, w->log_id, w->log_id_len);
  if (st == LOGSTATE_ABORTED)
    ls_logtab_conflict(ls->tab);
  free(s->r.req.fresh.cp); /* a lost race's state, which a write object does not retry on */
  ls_logtab_give_turn(ls->tab, &s->turn);
  return st;
}

uint64_t ls_write_version(const logstate_write *w) { return w->snap.version; }

static logstate_status write_set_impl(logstate_write *w, const uint8_t *cp, size_t len) {
  if (w == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_write_set: write ops is NULL");
  wset s;
  logstate_status st = wset_begin(&s, w, cp, len);
  if (st != LOGSTATE_OK)
    return st;
  return wset_end(&s, w->ls->be->methods->write_set(w->ls->be, w->txn, cp, len));
}

/* Sets of one handle's write objects, each on its own log, in as few
 * batches of the group commit as the backend takes (the async API's worker
 * over SQLite: the sets in flight commit together). Without a backend that
 * batches, one by one. */
void ls_write_set_many(logstate_write *const *ws, const uint8_t *const *cps, const size_t *lens, ls_saved_error *out,
                       size_t n) {
  logstate *ls = n ? ws[0]->ls : NULL;
  wset *s = n > 0 && ls_core_by_version(ls) && ls_group_batch_max(ls->be) > 1 ? calloc(n, sizeof(*s)) : NULL;
  if (s == NULL) {
    for (size_t i = 0; i < n; i++)
      ls_error_save(&out[i], logstate_write_set(ws[i], cps[i], lens[i]));
    return;
  }
  ls_gcas **rs = calloc(n, sizeof(*rs));
  size_t k = 0;
  ls_op_clock c;
  ls_op_begin(&c);
  for (size_t i = 0; i < n; i++) {
    logstate_status st = rs ? wset_begin(&s[i], ws[i], cps[i], lens[i])
                            : ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "logstate_write_set: out of memory");
    if (st == LOGSTATE_OK)
      rs[k++] = &s[i].r;
    else
      ls_error_save(&out[i], st);
  }
  ls_group_run_many(ls->group, ls->be, rs, k);
  for (size_t i = 0; i < n; i++) {
    if (s[i].w == NULL)
      continue; /* refused before it reached the backend */
    logstate_status st = wset_end(&s[i], ls_error_restore(&s[i].r.err));
    ls_error_save(&out[i], ls_op_end(&ls->policy, ls->opstats, &c, LOGSTATE_OP_WRITE_SET, ws[i]->log_id, st, 0));
  }
  free(rs);
  free(s);
}

logstate_status logstate_write_close(logstate_write *w) {
  if (w == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_write_close: write ops is NULL");
  logstate *ls = w->ls;
  logstate_status st = ls->be->methods->write_end(ls->be, w->txn);
  free(w->snap.cp);
  free(w->log_id);
  free(w);
  ls_handle_release(ls);
  return st;
}

/* --- the public calls, each reported once (ops.c) ----------------------- */

#define OP_BEGIN                                                                                                       \
  ls_op_clock c_;                                                                                                      \
  ls_op_begin(&c_)
#define OP_END(ls_, kind_, id_, st_)                                                                                   \
  ls_op_end((ls_) ? &(ls_)->policy : NULL, (ls_) ? (ls_)->opstats : NULL, &c_, kind_, id_, st_, 0)

logstate_status logstate_verify(logstate *ls, logstate_verify_fn report, void *arg, size_t *out_problems) {
  OP_BEGIN;
  return OP_END(ls, LOGSTATE_OP_VERIFY, NULL, verify_impl(ls, report, arg, out_problems));
}

logstate_status logstate_init(logstate *ls) {
  OP_BEGIN;
  return OP_END(ls, LOGSTATE_OP_INIT, NULL, init_impl(ls));
}

logstate_status logstate_logs(logstate *ls, char ***out_ids, size_t *out_n) {
  OP_BEGIN;
  return OP_END(ls, LOGSTATE_OP_LOGS, NULL, logs_impl(ls, out_ids, out_n));
}

logstate_status logstate_read_get_latest(logstate_read *r, uint8_t **out_cp, size_t *out_len) {
  OP_BEGIN;
  logstate_status st = read_get_latest_impl(r, out_cp, out_len);
  return OP_END(r ? r->ls : NULL, LOGSTATE_OP_GET, r ? r->log_id : NULL, st);
}

logstate_status logstate_write_ops(logstate *ls, const char *log_id, logstate_write **out) {
  OP_BEGIN;
  logstate_status st = write_ops_impl(ls, log_id, out);
  return OP_END(ls, LOGSTATE_OP_WRITE_OPS, st == LOGSTATE_INVALID_ARGUMENT ? NULL : log_id, st);
}

logstate_status logstate_write_set(logstate_write *w, const uint8_t *cp, size_t len) {
  OP_BEGIN;
  logstate *ls = w ? w->ls : NULL;
  char *id = w ? w->log_id : NULL;
  return OP_END(ls, LOGSTATE_OP_WRITE_SET, id, write_set_impl(w, cp, len));
}

logstate_status logstate_get_latest(logstate *ls, const char *log_id, uint8_t **out_cp, size_t *out_len) {
  static const char fn[] = "logstate_get_latest";
  OP_BEGIN;
  logstate_read r;
  logstate_status st;
  if (out_cp)
    *out_cp = NULL;
  if (out_len)
    *out_len = 0;
  if (ls == NULL || out_cp == NULL || out_len == NULL)
    st = ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: %s is NULL", fn,
                ls == NULL       ? "handle"
                : out_cp == NULL ? "out_cp"
                                 : "out_len");
  else if ((st = ls_check_log_id(fn, log_id, &r.log_id_len)) == LOGSTATE_OK) {
    r.ls = ls;
    r.log_id = (char *)log_id; /* borrowed for the call */
    st = read_latest(&r, fn, out_cp, out_len);
  }
  return OP_END(ls, LOGSTATE_OP_GET, st == LOGSTATE_INVALID_ARGUMENT ? NULL : log_id, st);
}

logstate_status logstate_get_op_stats(logstate *ls, logstate_op_kind kind, logstate_op_stats *out) {
  logstate_status st = ls_op_stats_check("logstate_get_op_stats", ls, kind, out);
  if (st == LOGSTATE_OK)
    ls_opstats_get(ls->opstats, kind, out);
  return st;
}

/* --- history: the public call (what backends share is history.c) ------- */

static logstate_status history(logstate *ls, const char *log_id, size_t max, logstate_history_entry **out,
                               size_t *out_n) {
  size_t n = 0;
  if (out)
    *out = NULL;
  if (out_n)
    *out_n = 0;
  if (ls == NULL || out == NULL || out_n == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_history: %s is NULL",
                  ls == NULL    ? "handle"
                  : out == NULL ? "out"
                                : "out_n");
  logstate_status st = ls_check_log_id("logstate_history", log_id, &n);
  if (st != LOGSTATE_OK)
    return st;
  if (max < 1 || max > LOGSTATE_MAX_HISTORY)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_history: max must be 1 to %d (%zu given)", LOGSTATE_MAX_HISTORY,
                  max);
  const logstate_backend_methods *m = ls->be->methods;
  if (m->history == NULL)
    return ls_err(LOGSTATE_FAILED_PRECONDITION, "logstate_history: the %s backend keeps no history", m->name);
  logstate_history_entry *e = NULL;
  size_t got = 0;
  if ((st = m->history(ls->be, log_id, n, max, &e, &got)) != LOGSTATE_OK) {
    logstate_history_free(e, got);
    return st;
  }
  *out = got ? e : NULL;
  *out_n = got;
  if (got == 0)
    free(e);
  return LOGSTATE_OK;
}

logstate_status logstate_history(logstate *ls, const char *log_id, size_t max, logstate_history_entry **out,
                                 size_t *out_n) {
  ls_op_clock c;
  ls_op_begin(&c);
  logstate_status st = history(ls, log_id, max, out, out_n);
  return ls_op_end(ls ? &ls->policy : NULL, ls ? ls->opstats : NULL, &c, LOGSTATE_OP_HISTORY,
                   st == LOGSTATE_INVALID_ARGUMENT ? NULL : log_id, st, 0);
}

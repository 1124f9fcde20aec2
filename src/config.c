/* SPDX-License-Identifier: Apache-2.0 */
/* Log configurations (configs.h): the operations prepared, run and
 * finished once for both APIs, and the sync API's calls. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "configs.h"

/* --- preparing ------------------------------------------------------------ */

/* One configuration's checks. */
static logstate_status check_one(const char *fn, size_t i, const logstate_log_config *c) {
  char what[64];
  snprintf(what, sizeof(what), "configuration %zu's origin", i);
  logstate_status st = ls_cfg_check_text(fn, what, c->origin, LOGSTATE_MAX_ORIGIN_LEN, 0);
  snprintf(what, sizeof(what), "configuration %zu's vkey", i);
  if (st == LOGSTATE_OK)
    st = ls_cfg_check_text(fn, what, c->vkey, LOGSTATE_MAX_VKEY_LEN, 1);
  snprintf(what, sizeof(what), "configuration %zu's contact", i);
  if (st == LOGSTATE_OK && c->contact)
    st = ls_cfg_check_text(fn, what, c->contact, LOGSTATE_MAX_CONTACT_LEN, 0);
  if (st == LOGSTATE_OK && c->has_qpd && !(isfinite(c->qpd) && c->qpd >= 0))
    st = ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: configuration %zu's qpd must be a finite number, 0 or more", fn, i);
  return st;
}

logstate_status logstate_config_check(const logstate_log_config *cfgs, size_t n) {
  if (cfgs == NULL && n)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_config_check: cfgs is NULL");
  logstate_status st = LOGSTATE_OK;
  for (size_t i = 0; i < n && st == LOGSTATE_OK; i++)
    st = check_one("logstate_config_check", i, &cfgs[i]);
  return st;
}

/* One configuration into an entry to add (its strings copied). */
static logstate_status entry_of(const char *fn, size_t i, const logstate_log_config *c, int64_t now,
                                logstate_log_entry *e) {
  logstate_status st = check_one(fn, i, c);
  if (st != LOGSTATE_OK)
    return st;
  logstate_log_entry tmp = {.origin = (char *)c->origin,
                            .vkey = (char *)c->vkey,
                            .contact = (char *)c->contact,
                            .qpd = c->has_qpd ? c->qpd : 0,
                            .has_qpd = c->has_qpd != 0,
                            .disabled = c->disabled != 0,
                            .added_ms = now};
  logstate_log_id(c->origin, tmp.log_id);
  return ls_cfg_entry_copy(e, &tmp);
}

logstate_status ls_cfg_prepare_add(const char *fn, ls_cfg_op *op, const logstate_log_config *cfgs, size_t n) {
  memset(op, 0, sizeof(*op));
  op->kind = LS_CFG_ADD;
  if (cfgs == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: cfgs is NULL", fn);
  if (n < 1 || n > LOGSTATE_MAX_CONFIG_BATCH)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: n must be 1 to %d (%zu given)", fn, LOGSTATE_MAX_CONFIG_BATCH, n);
  op->add = calloc(n, sizeof(*op->add));
  op->existing = calloc(n, sizeof(*op->existing));
  op->results = calloc(n, sizeof(*op->results));
  if (op->add == NULL || op->existing == NULL || op->results == NULL) {
    ls_cfg_op_release(op);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "%s: out of memory", fn);
  }
  int64_t now = ls_cfg_now_ms();
  for (; op->n < n; op->n++) {
    logstate_status st = entry_of(fn, op->n, &cfgs[op->n], now, &op->add[op->n]);
    if (st != LOGSTATE_OK) {
      ls_cfg_op_release(op);
      return st;
    }
  }
  return LOGSTATE_OK;
}

/* The origin of a GET, CHANGE or HISTORY, and its ID. */
static logstate_status set_origin(const char *fn, ls_cfg_op *op, const char *origin) {
  logstate_status st = ls_cfg_check_text(fn, "origin", origin, LOGSTATE_MAX_ORIGIN_LEN, 0);
  if (st == LOGSTATE_OK && (op->origin = ls_memdup(origin, strlen(origin))) == NULL)
    st = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "%s: out of memory", fn);
  if (st == LOGSTATE_OK)
    logstate_log_id(origin, op->log_id);
  return st;
}

logstate_status ls_cfg_prepare_get(const char *fn, ls_cfg_op *op, const char *origin) {
  memset(op, 0, sizeof(*op));
  op->kind = LS_CFG_GET;
  return set_origin(fn, op, origin);
}

logstate_status ls_cfg_prepare_list(ls_cfg_op *op, int all) {
  memset(op, 0, sizeof(*op));
  op->kind = LS_CFG_LIST;
  op->all = all != 0;
  return LOGSTATE_OK;
}

logstate_status ls_cfg_prepare_change(const char *fn, ls_cfg_op *op, const char *origin, int disabled,
                                      const char *reason) {
  memset(op, 0, sizeof(*op));
  op->kind = LS_CFG_CHANGE;
  logstate_status st = set_origin(fn, op, origin);
  if (st == LOGSTATE_OK && reason)
    st = ls_cfg_check_text(fn, "reason", reason, LOGSTATE_MAX_REASON_LEN, 0);
  logstate_config_event ev = {
      .origin = op->origin, .disabled = disabled != 0, .at_ms = ls_cfg_now_ms(), .reason = (char *)reason};
  memcpy(ev.log_id, op->log_id, sizeof(ev.log_id));
  if (st == LOGSTATE_OK)
    st = ls_cfg_event_copy(&op->ev, &ev);
  if (st != LOGSTATE_OK)
    ls_cfg_op_release(op);
  return st;
}

logstate_status ls_cfg_prepare_history(const char *fn, ls_cfg_op *op, const char *origin, size_t max) {
  memset(op, 0, sizeof(*op));
  op->kind = LS_CFG_HISTORY;
  op->max = max;
  if (max < 1 || max > LOGSTATE_MAX_CONFIG_HISTORY)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: max must be 1 to %d (%zu given)", fn, LOGSTATE_MAX_CONFIG_HISTORY,
                  max);
  return origin ? set_origin(fn, op, origin) : LOGSTATE_OK;
}

void ls_cfg_op_release(ls_cfg_op *op) {
  for (size_t i = 0; op->add && i < op->n; i++)
    ls_cfg_entry_release(&op->add[i]);
  for (size_t i = 0; op->existing && i < op->n; i++)
    logstate_log_entry_free(op->existing[i]);
  free(op->add);
  free(op->existing);
  free(op->results);
  free(op->origin);
  ls_cfg_event_release(&op->ev);
  logstate_log_entries_free(op->entries, op->nentries);
  logstate_config_events_free(op->events, op->nevents);
  memset(op, 0, sizeof(*op));
}

/* --- running and finishing ------------------------------------------------ */

logstate_status ls_cfg_run(logstate_backend *be, ls_cfg_op *op) {
  const logstate_backend_methods *m = be->methods;
  if (!m->config_add || !m->config_get || !m->config_list || !m->config_change || !m->config_history)
    return ls_err(LOGSTATE_FAILED_PRECONDITION, "the %s backend keeps no log configurations", m->name);
  if ((op->kind == LS_CFG_ADD || op->kind == LS_CFG_CHANGE) && m->read_only && m->read_only(be))
    return ls_err(LOGSTATE_FAILED_PRECONDITION, "%s: the store was opened read-only (mode=ro)",
                  op->kind == LS_CFG_ADD ? "adding log configurations" : "disabling or enabling a log");
  char by[LS_CLIENT_NAME_MAX + 1] = "";
  switch (op->kind) {
  case LS_CFG_ADD:
    return m->config_add(be, op->add, op->n, op->existing);
  case LS_CFG_GET: {
    logstate_status st = m->config_get(be, op->origin, op->log_id, &op->entries);
    op->nentries = st == LOGSTATE_OK && op->entries;
    return st;
  }
  case LS_CFG_LIST:
    return m->config_list(be, &op->entries, &op->nentries);
  case LS_CFG_CHANGE:
    if (m->client_name)
      m->client_name(be, by, sizeof(by));
    if (by[0] && op->ev.by == NULL && (op->ev.by = ls_memdup(by, strlen(by))) == NULL)
      return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "log configurations: out of memory");
    return m->config_change(be, &op->ev, &op->changed);
  case LS_CFG_HISTORY:
    return m->config_history(be, op->origin, op->origin ? op->log_id : NULL, op->max, &op->events, &op->nevents);
  }
  return ls_err(LOGSTATE_INTERNAL, "log configurations: unknown operation");
}

static int by_origin(const void *a, const void *b) {
  return strcmp(((const logstate_log_entry *)a)->origin, ((const logstate_log_entry *)b)->origin);
}

/* A LIST: every entry checked, the disabled ones dropped unless `all`,
 * the rest sorted by origin. */
static logstate_status finish_list(ls_cfg_op *op) {
  size_t w = 0;
  for (size_t i = 0; i < op->nentries; i++) {
    logstate_status st = ls_cfg_entry_check("log configurations", &op->entries[i]);
    if (st != LOGSTATE_OK)
      return st;
  }
  for (size_t i = 0; i < op->nentries; i++) {
    if (op->all || !op->entries[i].disabled)
      op->entries[w++] = op->entries[i];
    else
      ls_cfg_entry_release(&op->entries[i]);
  }
  op->nentries = w;
  if (w == 0) {
    free(op->entries);
    op->entries = NULL;
  }
  if (w > 1) /* (qsort must not see the NULL of an empty list) */
    qsort(op->entries, w, sizeof(*op->entries), by_origin);
  return LOGSTATE_OK;
}

logstate_status ls_cfg_finish(ls_cfg_op *op, logstate_status st) {
  char q[LS_QUOTE_BUFSZ];
  if (st == LOGSTATE_NOT_FOUND && (op->kind == LS_CFG_GET || op->kind == LS_CFG_CHANGE))
    return ls_err(LOGSTATE_NOT_FOUND, "no log configuration for origin %s",
                  ls_quote(q, sizeof(q), op->origin, strlen(op->origin)));
  if (st != LOGSTATE_OK)
    return st;
  switch (op->kind) {
  case LS_CFG_ADD:
    for (size_t i = 0; i < op->n; i++) {
      if (op->existing[i] && (st = ls_cfg_entry_check("log configurations", op->existing[i])) != LOGSTATE_OK)
        return st;
      op->results[i] = op->existing[i] == NULL                     ? LOGSTATE_CONFIG_ADDED
                       : ls_cfg_same(op->existing[i], &op->add[i]) ? LOGSTATE_CONFIG_IDENTICAL
                                                                   : LOGSTATE_CONFIG_DIFFERENT;
    }
    return LOGSTATE_OK;
  case LS_CFG_GET:
    if ((st = ls_cfg_entry_check("log configurations", &op->entries[0])) == LOGSTATE_OK)
      op->usable = !op->entries[0].disabled;
    return st;
  case LS_CFG_LIST:
    return finish_list(op);
  case LS_CFG_HISTORY:
    if (op->nevents == 0) { /* none: NULL, as the API promises */
      free(op->events);
      op->events = NULL;
    }
    return LOGSTATE_OK;
  default:
    return LOGSTATE_OK;
  }
}

/* --- the sync API ----------------------------------------------------------- */

/* Runs a prepared op on the handle's backend and finishes it. */
static logstate_status run(logstate *ls, const char *fn, ls_cfg_op *op, logstate_status prepared) {
  (void)fn;
  return prepared == LOGSTATE_OK ? ls_cfg_finish(op, ls_cfg_run(ls->be, op)) : prepared;
}

#define HANDLE_CHECK(fn, ls, out)                                                                                      \
  if ((ls) == NULL || (out) == NULL)                                                                                   \
  return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: %s is NULL", fn, (ls) == NULL ? "handle" : #out)

static logstate_status add_impl(logstate *ls, const logstate_log_config *cfgs, size_t n,
                                logstate_config_result *out_results) {
  static const char fn[] = "logstate_config_add";
  HANDLE_CHECK(fn, ls, out_results);
  ls_cfg_op op;
  logstate_status st = run(ls, fn, &op, ls_cfg_prepare_add(fn, &op, cfgs, n));
  if (st == LOGSTATE_OK)
    memcpy(out_results, op.results, n * sizeof(*out_results));
  ls_cfg_op_release(&op);
  return st;
}

static logstate_status get_impl(logstate *ls, const char *origin, logstate_log_entry **out, int *out_usable) {
  static const char fn[] = "logstate_config_get";
  if (out)
    *out = NULL;
  if (out_usable)
    *out_usable = 0;
  HANDLE_CHECK(fn, ls, out);
  ls_cfg_op op;
  logstate_status st = run(ls, fn, &op, ls_cfg_prepare_get(fn, &op, origin));
  if (st == LOGSTATE_OK) {
    *out = op.entries; /* one */
    op.entries = NULL;
    op.nentries = 0;
    if (out_usable)
      *out_usable = op.usable;
  }
  ls_cfg_op_release(&op);
  return st;
}

static logstate_status list_impl(logstate *ls, int all, logstate_log_entry **out, size_t *out_n) {
  static const char fn[] = "logstate_config_list";
  if (out)
    *out = NULL;
  if (out_n)
    *out_n = 0;
  HANDLE_CHECK(fn, ls, out);
  HANDLE_CHECK(fn, ls, out_n);
  ls_cfg_op op;
  logstate_status st = run(ls, fn, &op, ls_cfg_prepare_list(&op, all));
  if (st == LOGSTATE_OK) {
    *out = op.entries;
    *out_n = op.nentries;
    op.entries = NULL;
    op.nentries = 0;
  }
  ls_cfg_op_release(&op);
  return st;
}

static logstate_status change_impl(logstate *ls, const char *origin, int disabled, const char *reason,
                                   int *out_changed) {
  static const char fn[] = "logstate_config_set_disabled";
  if (out_changed)
    *out_changed = 0;
  if (ls == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: handle is NULL", fn);
  ls_cfg_op op;
  logstate_status st = run(ls, fn, &op, ls_cfg_prepare_change(fn, &op, origin, disabled, reason));
  if (st == LOGSTATE_OK && out_changed)
    *out_changed = op.changed;
  ls_cfg_op_release(&op);
  return st;
}

static logstate_status history_impl(logstate *ls, const char *origin, size_t max, logstate_config_event **out,
                                    size_t *out_n) {
  static const char fn[] = "logstate_config_history";
  if (out)
    *out = NULL;
  if (out_n)
    *out_n = 0;
  HANDLE_CHECK(fn, ls, out);
  HANDLE_CHECK(fn, ls, out_n);
  ls_cfg_op op;
  logstate_status st = run(ls, fn, &op, ls_cfg_prepare_history(fn, &op, origin, max));
  if (st == LOGSTATE_OK) {
    *out = op.events;
    *out_n = op.nevents;
    op.events = NULL;
    op.nevents = 0;
  }
  ls_cfg_op_release(&op);
  return st;
}

/* Each public call, reported once to the operations hook. */
#define REPORTED(ls, call)                                                                                             \
  do {                                                                                                                 \
    ls_op_clock c_;                                                                                                    \
    ls_op_begin(&c_);                                                                                                  \
    logstate_status st_ = (call);                                                                                      \
    return ls_op_end((ls) ? &(ls)->policy : NULL, (ls) ? (ls)->opstats : NULL, &c_, LOGSTATE_OP_CONFIG, NULL, st_, 0); \
  } while (0)

logstate_status logstate_config_add(logstate *ls, const logstate_log_config *cfgs, size_t n,
                                    logstate_config_result *out_results) {
  REPORTED(ls, add_impl(ls, cfgs, n, out_results));
}

logstate_status logstate_config_get(logstate *ls, const char *origin, logstate_log_entry **out, int *out_usable) {
  REPORTED(ls, get_impl(ls, origin, out, out_usable));
}

logstate_status logstate_config_list(logstate *ls, int all, logstate_log_entry **out, size_t *out_n) {
  REPORTED(ls, list_impl(ls, all, out, out_n));
}

logstate_status logstate_config_set_disabled(logstate *ls, const char *origin, int disabled, const char *reason,
                                             int *out_changed) {
  REPORTED(ls, change_impl(ls, origin, disabled, reason, out_changed));
}

logstate_status logstate_config_history(logstate *ls, const char *origin, size_t max, logstate_config_event **out,
                                        size_t *out_n) {
  REPORTED(ls, history_impl(ls, origin, max, out, out_n));
}

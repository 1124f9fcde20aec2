/* SPDX-License-Identifier: Apache-2.0 */
/* The async API's log configurations: each call prepares the operation as
 * the sync API does (configs.h), hands it to the driver as one request,
 * and finishes it as the sync API does; only the callbacks are its own. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include "async/core.h"
#include "configs.h"

/* The callbacks: the op's results, lent for the call. */
static void add_done(op *o, logstate_status st) {
  ((logstate_async_config_add_cb)o->cfg_cb)(st, st == LOGSTATE_OK ? o->cfg->results : NULL,
                                            st == LOGSTATE_OK ? o->cfg->n : 0, o->arg);
}

static void get_done(op *o, logstate_status st) {
  ((logstate_async_config_get_cb)o->cfg_cb)(st, st == LOGSTATE_OK ? o->cfg->entries : NULL,
                                            st == LOGSTATE_OK && o->cfg->usable, o->arg);
}

static void list_done(op *o, logstate_status st) {
  ((logstate_async_config_list_cb)o->cfg_cb)(st, st == LOGSTATE_OK ? o->cfg->entries : NULL,
                                             st == LOGSTATE_OK ? o->cfg->nentries : 0, o->arg);
}

static void change_done(op *o, logstate_status st) {
  ((logstate_async_config_change_cb)o->cfg_cb)(st, st == LOGSTATE_OK && o->cfg->changed, o->arg);
}

static void history_done(op *o, logstate_status st) {
  ((logstate_async_config_history_cb)o->cfg_cb)(st, st == LOGSTATE_OK ? o->cfg->events : NULL,
                                                st == LOGSTATE_OK ? o->cfg->nevents : 0, o->arg);
}

/* Launches a prepared operation (`prepared` its preparation's status),
 * taking `cfg` over whatever happens. */
static logstate_status launch(const char *fn, logstate_async *a, const void *cb, void *arg, ls_cfg_op *cfg,
                              logstate_status prepared, void (*done)(op *, logstate_status)) {
  logstate_status st = prepared;
  op *o = st == LOGSTATE_OK ? ls_aop_begin(fn, a, OP_CONFIG, cb, NULL, arg, &st) : NULL;
  if (o == NULL) {
    if (cfg)
      ls_cfg_op_release(cfg);
    free(cfg);
    return st;
  }
  o->cfg = cfg;
  o->cfg_done = done;
  o->cfg_cb = cb;
  return ls_aop_launch(fn, o, 0);
}

/* The handle and callback checked before anything is prepared, so that a
 * NULL handle is named as such; then a new op to prepare. */
static ls_cfg_op *new_op(const char *fn, logstate_async *a, const void *cb, logstate_status *st) {
  *st = a == NULL || cb == NULL ? ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: %s is NULL", fn, a ? "callback" : "handle")
                                : LOGSTATE_OK;
  ls_cfg_op *cfg = *st == LOGSTATE_OK ? calloc(1, sizeof(*cfg)) : NULL;
  if (*st == LOGSTATE_OK && cfg == NULL)
    *st = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "%s: out of memory", fn);
  return cfg;
}

logstate_status logstate_async_config_add(logstate_async *a, const logstate_log_config *cfgs, size_t n,
                                          logstate_async_config_add_cb cb, void *arg) {
  static const char fn[] = "logstate_async_config_add";
  logstate_status st;
  ls_cfg_op *cfg = new_op(fn, a, (const void *)cb, &st);
  if (cfg)
    st = ls_cfg_prepare_add(fn, cfg, cfgs, n);
  return launch(fn, a, (const void *)cb, arg, cfg, st, add_done);
}

logstate_status logstate_async_config_get(logstate_async *a, const char *origin, logstate_async_config_get_cb cb,
                                          void *arg) {
  static const char fn[] = "logstate_async_config_get";
  logstate_status st;
  ls_cfg_op *cfg = new_op(fn, a, (const void *)cb, &st);
  if (cfg)
    st = ls_cfg_prepare_get(fn, cfg, origin);
  return launch(fn, a, (const void *)cb, arg, cfg, st, get_done);
}

logstate_status logstate_async_config_list(logstate_async *a, int all, logstate_async_config_list_cb cb, void *arg) {
  static const char fn[] = "logstate_async_config_list";
  logstate_status st;
  ls_cfg_op *cfg = new_op(fn, a, (const void *)cb, &st);
  if (cfg)
    st = ls_cfg_prepare_list(cfg, all);
  return launch(fn, a, (const void *)cb, arg, cfg, st, list_done);
}

logstate_status logstate_async_config_set_disabled(logstate_async *a, const char *origin, int disabled,
                                                   const char *reason, logstate_async_config_change_cb cb, void *arg) {
  static const char fn[] = "logstate_async_config_set_disabled";
  logstate_status st;
  ls_cfg_op *cfg = new_op(fn, a, (const void *)cb, &st);
  if (cfg)
    st = ls_cfg_prepare_change(fn, cfg, origin, disabled, reason);
  return launch(fn, a, (const void *)cb, arg, cfg, st, change_done);
}

logstate_status logstate_async_config_history(logstate_async *a, const char *origin, size_t max,
                                              logstate_async_config_history_cb cb, void *arg) {
  static const char fn[] = "logstate_async_config_history";
  logstate_status st;
  ls_cfg_op *cfg = new_op(fn, a, (const void *)cb, &st);
  if (cfg)
    st = ls_cfg_prepare_history(fn, cfg, origin, max);
  return launch(fn, a, (const void *)cb, arg, cfg, st, history_done);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The async handle (open, free, counters) and its write objects. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "async/core.h"
#ifdef LOGSTATE_HAVE_REDIS
#include "redis/config.h"
#endif

/* --- write transactions ------------------------------------------------- */

static logstate_status check_write(const char *fn, logstate_async_write *w) {
  logstate_status st = ls_write_usable(fn, w->ended);
  if (st == LOGSTATE_OK && (w->orphaned || w->a->closing))
    st = ls_err(LOGSTATE_FAILED_PRECONDITION, "%s: the handle was freed", fn);
  return st;
}

logstate_status logstate_async_write_get_latest(logstate_async_write *w, uint8_t **out_cp, size_t *out_len) {
  static const char fn[] = "logstate_async_write_get_latest";
  if (out_cp)
    *out_cp = NULL;
  if (out_len)
    *out_len = 0;
  if (w == NULL || out_cp == NULL || out_len == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: %s is NULL", fn,
                  w == NULL        ? "write ops"
                  : out_cp == NULL ? "out_cp"
                                   : "out_len");
  logstate_status st = check_write(fn, w);
  if (st != LOGSTATE_OK)
    return st;
  return ls_snapshot_copy(w->snap.state.cp, w->snap.state.len, w->log_id, w->log_id_len, out_cp, out_len);
}

logstate_status logstate_async_write_set(logstate_async_write *w, const uint8_t *cp, size_t len,
                                         logstate_async_done_cb cb, void *arg) {
  static const char fn[] = "logstate_async_write_set";
  if (w == NULL || cb == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: %s is NULL", fn, w ? "callback" : "write ops");
  logstate_status st = check_write(fn, w);
  if (st == LOGSTATE_OK)
    st = ls_check_checkpoint(fn, w->a->policy.max_checkpoint_len, cp, len);
  op *o = st == LOGSTATE_OK ? ls_aop_new(fn, w->a, OP_SET, w->log_id, arg, &st) : NULL;
  if (o == NULL)
    return st;
  if ((o->cp = ls_memdup(cp, len)) == NULL) {
    ls_aop_abandon(o);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "%s: out of memory", fn);
  }
  o->cp_len = len;
  o->done_cb = cb;
  o->snap = w->snap; /* the set consumes the snapshot */
  memset(&w->snap, 0, sizeof(w->snap));
  w->ended = 1;
  st = ls_aop_launch(fn, o, 1);
  return st;
}

logstate_status logstate_async_write_close(logstate_async_write *w) {
  if (w == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_async_write_close: write ops is NULL");
  logstate_async *a = w->a;
  if (!w->orphaned) {
    if (w->snap.txn)
      a->drv->m->release(a->drv, &w->snap);
    if (w->prev)
      w->prev->next = w->next;
    else
      a->writes = w->next;
    if (w->next)
      w->next->prev = w->prev;
  }
  free(w->snap.state.cp);
  free(w->log_id);
  free(w);
  if (--a->refs == 0 && a->closing && a->depth == 0)
    ls_async_destroy(a);
  return LOGSTATE_OK;
}

/* --- the handle --------------------------------------------------------- */

static logstate_status handle_new(logstate_async **out, struct event_base *base, ls_adriver *drv,
                                  const ls_policy *policy) {
  logstate_async *a = calloc(1, sizeof(*a));
  if (a == NULL || (a->tab = ls_logtab_new()) == NULL || (a->opstats = ls_opstats_new()) == NULL) {
    if (a)
      ls_logtab_free(a->tab);
    free(a);
    drv->m->free(drv);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "logstate_async_open: out of memory");
  }
  a->base = base;
  a->drv = drv;
  a->policy = *policy;
  a->refs = 1;
  *out = a;
  return LOGSTATE_OK;
}

static logstate_status check_open(logstate_async **out, struct event_base *base, const logstate_options *opts,
                                  ls_policy *policy) {
  if (out)
    *out = NULL;
  if (out == NULL || base == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_async_open: %s is NULL", out ? "event base" : "out");
  return ls_policy_from_options("logstate_async_open", opts, policy);
}

logstate_status logstate_async_open(logstate_async **out, struct event_base *base, const char *url,
                                    const logstate_options *opts) {
  ls_policy policy;
  ls_adriver *drv = NULL;
  logstate *ls = NULL;
  logstate_status st = check_open(out, base, opts, &policy);
  if (st == LOGSTATE_OK && url == NULL)
    st = ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_async_open: url is NULL");
  if (st != LOGSTATE_OK)
    return st;
#ifdef LOGSTATE_HAVE_REDIS
  if (ls_redis_is_url(url)) {
    ls_redis_config cfg;
    if ((st = ls_redis_config_from_url(&cfg, url)) == LOGSTATE_OK &&
        (st = ls_adriver_redis_new(&drv, base, &cfg)) != LOGSTATE_OK)
      ls_redis_config_free(&cfg);
    return st == LOGSTATE_OK ? handle_new(out, base, drv, &policy) : st;
  }
#endif
  /* Any other scheme: its sync backend, on a worker thread. Its calls are
   * the async handle's, reported once, by the async core: no hook there. */
  logstate_options inner = LOGSTATE_OPTIONS_INIT;
  inner.update_attempts = policy.update_attempts;
  inner.max_checkpoint_len = policy.max_checkpoint_len;
  if ((st = logstate_open_ext(&ls, url, &inner)) == LOGSTATE_OK &&
      (st = ls_adriver_threaded_new(&drv, base, ls)) != LOGSTATE_OK)
    logstate_free(ls);
  return st == LOGSTATE_OK ? handle_new(out, base, drv, &policy) : st;
}

#ifdef LOGSTATE_HAVE_REDIS
logstate_status logstate_async_open_redis(logstate_async **out, struct event_base *base,
                                          const logstate_redis_options *ro, const logstate_options *opts) {
  ls_policy policy;
  ls_adriver *drv = NULL;
  logstate_status st = check_open(out, base, opts, &policy);
  if (st != LOGSTATE_OK)
    return st;
  ls_redis_config cfg;
  if ((st = ls_redis_config_from_options(&cfg, ro)) == LOGSTATE_OK &&
      (st = ls_adriver_redis_new(&drv, base, &cfg)) != LOGSTATE_OK)
    ls_redis_config_free(&cfg);
  return st == LOGSTATE_OK ? handle_new(out, base, drv, &policy) : st;
}
#endif

void logstate_async_free(logstate_async *a) {
  if (a == NULL || a->closing)
    return;
  ls_async_enter(a);
  a->closing = 1;
  ls_aop_finish_all(a);
  for (logstate_async_write *w = a->writes; w; w = w->next) {
    if (w->snap.txn)
      a->drv->m->release(a->drv, &w->snap);
    w->orphaned = 1;
  }
  a->writes = NULL;
  a->drv->m->free(a->drv);
  a->drv = NULL;
  a->refs--;
  ls_async_leave(a);
}

logstate_status logstate_async_get_op_stats(logstate_async *a, logstate_op_kind kind, logstate_op_stats *out) {
  logstate_status st = ls_op_stats_check("logstate_async_get_op_stats", a, kind, out);
  if (st == LOGSTATE_OK)
    ls_opstats_get(a->opstats, kind, out);
  return st;
}

logstate_status logstate_async_get_stats(logstate_async *a, logstate_stats *out) {
  if (a == NULL || out == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_async_get_stats: %s is NULL", a ? "out" : "handle");
  if (a->closing)
    return ls_err(LOGSTATE_FAILED_PRECONDITION, "logstate_async_get_stats: the handle is being freed");
  memset(out, 0, sizeof(*out));
  ls_logtab_stats(a->tab, out);
  a->drv->m->stats(a->drv, out);
  return LOGSTATE_OK;
}

/* SPDX-License-Identifier: Apache-2.0 */
#define _POSIX_C_SOURCE 200809L
#include "async_adapter.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logstate/async.h"
#include "logstate/sys/backend.h"

typedef struct adapter {
  logstate_backend base;
  struct event_base *evb;
  logstate_async *a;
  pthread_mutex_t mu;
} adapter;

struct logstate_backend_txn {
  logstate_async_write *w;
};

typedef struct result {
  int done;
  int calls;
  logstate_status st;
  uint8_t *cp;
  size_t len;
  char **ids;
  size_t n;
  logstate_async_write *w;
  logstate_history_entry *hist;
  /* log configurations */
  logstate_config_result *results;
  logstate_log_entry *entries;
  logstate_config_event *events;
  int flag; /* usable, changed */
  char msg[1024];
} result;

static void record(result *r, logstate_status st) {
  r->calls++;
  r->done = 1;
  r->st = st;
  if (st != LOGSTATE_OK)
    snprintf(r->msg, sizeof(r->msg), "%s", logstate_last_error());
}

static void on_done(logstate_status st, void *arg) { record(arg, st); }

static void on_get(logstate_status st, const uint8_t *cp, size_t len, void *arg) {
  result *r = arg;
  if (st == LOGSTATE_OK) {
    r->cp = malloc(len);
    memcpy(r->cp, cp, len);
    r->len = len;
  }
  record(r, st);
}

static void on_logs(logstate_status st, const char *const *ids, size_t n, void *arg) {
  result *r = arg;
  if (st == LOGSTATE_OK && n) {
    r->ids = calloc(n, sizeof(*r->ids));
    for (size_t i = 0; i < n; i++)
      r->ids[i] = strdup(ids[i]);
    r->n = n;
  }
  record(r, st);
}

/* Copies the entries: they are valid during the call only. */
static void on_history(logstate_status st, const logstate_history_entry *e, size_t n, void *arg) {
  result *r = arg;
  if (st == LOGSTATE_OK && n) {
    r->hist = calloc(n, sizeof(*r->hist));
    for (size_t i = 0; i < n; i++) {
      r->hist[i] = e[i];
      r->hist[i].checkpoint = e[i].checkpoint ? malloc(e[i].checkpoint_len) : NULL;
      if (e[i].checkpoint)
        memcpy(r->hist[i].checkpoint, e[i].checkpoint, e[i].checkpoint_len);
      r->hist[i].origin = e[i].origin ? strdup(e[i].origin) : NULL;
      r->hist[i].client_name = e[i].client_name ? strdup(e[i].client_name) : NULL;
    }
    r->n = n;
  }
  record(r, st);
}

static void on_open(logstate_status st, logstate_async_write *w, void *arg) {
  ((result *)arg)->w = w;
  record(arg, st);
}

/* Runs the loop until the callback fired; then makes its message this
 * thread's last error again (other callbacks may have run since). */
static logstate_status wait_for(adapter *ad, logstate_status submitted, result *r) {
  if (submitted != LOGSTATE_OK)
    return submitted;
  while (!r->done)
    event_base_loop(ad->evb, EVLOOP_ONCE);
  if (r->calls != 1)
    return logstate_error_set(LOGSTATE_INTERNAL, "async adapter: callback ran %d times", r->calls);
  if (r->st != LOGSTATE_OK)
    logstate_error_set(r->st, "%s", r->msg);
  return r->st;
}

#define LOCKED(ad, expr)                                                                                               \
  do {                                                                                                                 \
    pthread_mutex_lock(&(ad)->mu);                                                                                     \
    st = (expr);                                                                                                       \
    pthread_mutex_unlock(&(ad)->mu);                                                                                   \
  } while (0)

static logstate_status ad_init(logstate_backend *be) {
  adapter *ad = (adapter *)be;
  result r = {0};
  logstate_status st;
  LOCKED(ad, wait_for(ad, logstate_async_init(ad->a, on_done, &r), &r));
  return st;
}

static logstate_status ad_logs(logstate_backend *be, char ***out_ids, size_t *out_n) {
  adapter *ad = (adapter *)be;
  result r = {0};
  logstate_status st;
  LOCKED(ad, wait_for(ad, logstate_async_logs(ad->a, on_logs, &r), &r));
  *out_ids = r.ids;
  *out_n = r.n;
  return st;
}

static logstate_status ad_get(logstate_backend *be, const char *id, size_t n, uint8_t **out_cp, size_t *out_len) {
  (void)n;
  adapter *ad = (adapter *)be;
  result r = {0};
  logstate_status st;
  LOCKED(ad, wait_for(ad, logstate_async_get_latest(ad->a, id, on_get, &r), &r));
  *out_cp = r.cp;
  *out_len = r.len;
  return st;
}

static logstate_status ad_begin(logstate_backend *be, const char *id, size_t n, logstate_backend_txn **out,
                                logstate_backend_state *snap) {
  (void)n;
  adapter *ad = (adapter *)be;
  result r = {0};
  logstate_status st;
  LOCKED(ad, wait_for(ad, logstate_async_write_ops(ad->a, id, on_open, &r), &r));
  if (st != LOGSTATE_OK)
    return st;
  LOCKED(ad, logstate_async_write_get_latest(r.w, &snap->cp, &snap->len)); /* a copy; none when absent */
  if (st != LOGSTATE_OK && st != LOGSTATE_NOT_FOUND) {
    logstate_status failed = st;
    LOCKED(ad, logstate_async_write_close(r.w));
    return failed;
  }
  snap->version = 0; /* the async API tells no versions: no rollback marks through this adapter */
  *out = malloc(sizeof(**out));
  (*out)->w = r.w;
  return LOGSTATE_OK;
}

static logstate_status ad_set(logstate_backend *be, logstate_backend_txn *t, const uint8_t *cp, size_t len) {
  adapter *ad = (adapter *)be;
  result r = {0};
  logstate_status st;
  LOCKED(ad, wait_for(ad, logstate_async_write_set(t->w, cp, len, on_done, &r), &r));
  return st;
}

static logstate_status ad_end(logstate_backend *be, logstate_backend_txn *t) {
  adapter *ad = (adapter *)be;
  logstate_status st;
  LOCKED(ad, logstate_async_write_close(t->w));
  free(t);
  return st;
}

static logstate_status ad_history(logstate_backend *be, const char *id, size_t n, size_t max,
                                  logstate_history_entry **out, size_t *out_n) {
  (void)n;
  adapter *ad = (adapter *)be;
  result r = {0};
  logstate_status st;
  LOCKED(ad, wait_for(ad, logstate_async_history(ad->a, id, max, on_history, &r), &r));
  *out = r.hist;
  *out_n = r.n;
  return st;
}

/* --- log configurations through the async API ------------------------------ */

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void entry_copy(logstate_log_entry *d, const logstate_log_entry *e) {
  *d = *e;
  d->origin = dup_or_null(e->origin);
  d->vkey = dup_or_null(e->vkey);
  d->contact = dup_or_null(e->contact);
  d->changed_by = dup_or_null(e->changed_by);
  d->reason = dup_or_null(e->reason);
}

static void on_cfg_add(logstate_status st, const logstate_config_result *res, size_t n, void *arg) {
  result *r = arg;
  if (st == LOGSTATE_OK) {
    r->results = malloc(n * sizeof(*res));
    memcpy(r->results, res, n * sizeof(*res));
    r->n = n;
  }
  record(r, st);
}

static void on_cfg_get(logstate_status st, const logstate_log_entry *e, int usable, void *arg) {
  result *r = arg;
  if (st == LOGSTATE_OK) {
    r->entries = malloc(sizeof(*e));
    entry_copy(r->entries, e);
    r->flag = usable;
  }
  record(r, st);
}

static void on_cfg_list(logstate_status st, const logstate_log_entry *e, size_t n, void *arg) {
  result *r = arg;
  if (st == LOGSTATE_OK && n) {
    r->entries = calloc(n, sizeof(*e));
    for (size_t i = 0; i < n; i++)
      entry_copy(&r->entries[i], &e[i]);
    r->n = n;
  }
  record(r, st);
}

static void on_cfg_change(logstate_status st, int changed, void *arg) {
  ((result *)arg)->flag = changed;
  record(arg, st);
}

static void on_cfg_history(logstate_status st, const logstate_config_event *e, size_t n, void *arg) {
  result *r = arg;
  if (st == LOGSTATE_OK && n) {
    r->events = calloc(n, sizeof(*e));
    for (size_t i = 0; i < n; i++) {
      r->events[i] = e[i];
      r->events[i].origin = dup_or_null(e[i].origin);
      r->events[i].by = dup_or_null(e[i].by);
      r->events[i].reason = dup_or_null(e[i].reason);
    }
    r->n = n;
  }
  record(r, st);
}

static logstate_status ad_config_get(logstate_backend *be, const char *origin, const char *log_id,
                                     logstate_log_entry **out) {
  (void)log_id;
  adapter *ad = (adapter *)be;
  result r = {0};
  logstate_status st;
  LOCKED(ad, wait_for(ad, logstate_async_config_get(ad->a, origin, on_cfg_get, &r), &r));
  *out = r.entries;
  return st;
}

/* The async add, then the entry each one that was not added found (the
 * backend method's answer), checked against the async API's own result. */
static logstate_status ad_config_add(logstate_backend *be, const logstate_log_entry *entries, size_t n,
                                     logstate_log_entry **existing) {
  adapter *ad = (adapter *)be;
  result r = {0};
  logstate_status st;
  logstate_log_config *c = calloc(n, sizeof(*c));
  for (size_t i = 0; i < n; i++)
    c[i] = (logstate_log_config){entries[i].origin, entries[i].vkey,    entries[i].contact,
                                 entries[i].qpd,    entries[i].has_qpd, entries[i].disabled};
  LOCKED(ad, wait_for(ad, logstate_async_config_add(ad->a, c, n, on_cfg_add, &r), &r));
  free(c);
  for (size_t i = 0; st == LOGSTATE_OK && i < n; i++) {
    if (r.results[i] == LOGSTATE_CONFIG_ADDED)
      continue;
    if ((st = ad_config_get(be, entries[i].origin, entries[i].log_id, &existing[i])) != LOGSTATE_OK)
      break;
    int same = strcmp(existing[i]->vkey, entries[i].vkey) == 0 && !existing[i]->contact == !entries[i].contact &&
               (!existing[i]->contact || strcmp(existing[i]->contact, entries[i].contact) == 0) &&
               existing[i]->has_qpd == entries[i].has_qpd && existing[i]->qpd == entries[i].qpd;
    if (same != (r.results[i] == LOGSTATE_CONFIG_IDENTICAL))
      st = logstate_error_set(LOGSTATE_INTERNAL, "async adapter: the async result of entry %zu disagrees", i);
  }
  free(r.results);
  return st;
}

static logstate_status ad_config_list(logstate_backend *be, logstate_log_entry **out, size_t *out_n) {
  adapter *ad = (adapter *)be;
  result r = {0};
  logstate_status st;
  LOCKED(ad, wait_for(ad, logstate_async_config_list(ad->a, 1, on_cfg_list, &r), &r));
  *out = r.entries;
  *out_n = r.n;
  return st;
}

static logstate_status ad_config_change(logstate_backend *be, const logstate_config_event *ev, int *changed) {
  adapter *ad = (adapter *)be;
  result r = {0};
  logstate_status st;
  LOCKED(ad, wait_for(
                 ad, logstate_async_config_set_disabled(ad->a, ev->origin, ev->disabled, ev->reason, on_cfg_change, &r),
                 &r));
  *changed = r.flag;
  return st;
}

static logstate_status ad_config_history(logstate_backend *be, const char *origin, const char *log_id, size_t max,
                                         logstate_config_event **out, size_t *out_n) {
  (void)log_id;
  adapter *ad = (adapter *)be;
  result r = {0};
  logstate_status st;
  LOCKED(ad, wait_for(ad, logstate_async_config_history(ad->a, origin, max, on_cfg_history, &r), &r));
  *out = r.events;
  *out_n = r.n;
  return st;
}

static void ad_free(logstate_backend *be) {
  adapter *ad = (adapter *)be;
  logstate_async_free(ad->a);
  event_base_free(ad->evb);
  pthread_mutex_destroy(&ad->mu);
  free(ad);
}

static const logstate_backend_methods adapter_methods = {
    .version = LOGSTATE_BACKEND_VERSION,
    .name = "async",
    .init = ad_init,
    .logs = ad_logs,
    .get_latest = ad_get,
    .write_begin = ad_begin,
    .write_set = ad_set,
    .write_end = ad_end,
    .free = ad_free,
    .history = ad_history,
    .config_add = ad_config_add,
    .config_get = ad_config_get,
    .config_list = ad_config_list,
    .config_change = ad_config_change,
    .config_history = ad_config_history,
};

logstate_status async_adapter_open(void *ctx, unsigned int store, logstate **out) {
  return async_adapter_open_query(ctx, store, NULL, out);
}

logstate_status async_adapter_open_query(void *ctx, unsigned int store, const char *query, logstate **out) {
  char url[1024];
  int len = snprintf(url, sizeof(url), (const char *)ctx, store);
  if (query && len > 0 && (size_t)len < sizeof(url))
    snprintf(url + len, sizeof(url) - (size_t)len, "%s%s", strchr(url, '?') ? "&" : "?", query);
  adapter *ad = calloc(1, sizeof(*ad));
  ad->base.methods = &adapter_methods;
  ad->evb = event_base_new();
  pthread_mutex_init(&ad->mu, NULL);
  logstate_status st = logstate_async_open(&ad->a, ad->evb, url, NULL);
  if (st == LOGSTATE_OK)
    st = logstate_open_backend(out, &ad->base, NULL);
  if (st != LOGSTATE_OK)
    ad_free(&ad->base);
  return st;
}

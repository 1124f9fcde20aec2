/* SPDX-License-Identifier: Apache-2.0 */
/* The in-memory backend's log configurations: an array of entries sorted
 * by log ID and a ring of the newest LS_MEM_AUDIT events, under a mutex of
 * their own, in the named store (so every handle on it shares them). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "configs.h"
#include "memory_config.h"

struct ls_mem_configs {
  pthread_mutex_t mu;
  logstate_log_entry *e; /* sorted by log_id */
  size_t n, cap;
  logstate_config_event ring[LS_MEM_AUDIT]; /* the oldest at `start` */
  size_t start, nring;
};

ls_mem_configs *ls_mem_configs_new(void) {
  ls_mem_configs *c = calloc(1, sizeof(*c));
  if (c)
    pthread_mutex_init(&c->mu, NULL);
  return c;
}

void ls_mem_configs_free(ls_mem_configs *c) {
  if (c == NULL)
    return;
  logstate_log_entries_free(c->e, c->n);
  for (size_t i = 0; i < c->nring; i++)
    ls_cfg_event_release(&c->ring[(c->start + i) % LS_MEM_AUDIT]);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

/* Where log_id is, or would go: 1 when found. */
static int find(const ls_mem_configs *c, const char *log_id, size_t *at) {
  size_t lo = 0, hi = c->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int d = strcmp(c->e[mid].log_id, log_id);
    if (d == 0) {
      *at = mid;
      return 1;
    }
    if (d < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *at = lo;
  return 0;
}

static logstate_status copy_out(const logstate_log_entry *src, logstate_log_entry **out) {
  *out = malloc(sizeof(**out));
  if (*out == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "memory: out of memory");
  logstate_status st = ls_cfg_entry_copy(*out, src);
  if (st != LOGSTATE_OK) {
    free(*out);
    *out = NULL;
  }
  return st;
}

/* Undoes the first k adds of a batch that failed (their slots found again:
 * later inserts moved them). */
static void undo(ls_mem_configs *c, const logstate_log_entry *entries, logstate_log_entry **existing, size_t k) {
  for (size_t i = 0; i < k; i++) {
    size_t at;
    if (existing[i] == NULL && find(c, entries[i].log_id, &at)) {
      ls_cfg_entry_release(&c->e[at]);
      memmove(&c->e[at], &c->e[at + 1], (c->n - at - 1) * sizeof(*c->e));
      c->n--;
    }
    logstate_log_entry_free(existing[i]);
    existing[i] = NULL;
  }
}

static logstate_status add_one(ls_mem_configs *c, const logstate_log_entry *e, logstate_log_entry **existing) {
  size_t at;
  if (find(c, e->log_id, &at))
    return copy_out(&c->e[at], existing);
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 16;
    logstate_log_entry *ne = realloc(c->e, cap * sizeof(*ne));
    if (ne == NULL)
      return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "memory: out of memory");
    c->e = ne;
    c->cap = cap;
  }
  logstate_log_entry copy;
  logstate_status st = ls_cfg_entry_copy(&copy, e);
  if (st != LOGSTATE_OK)
    return st;
  memmove(&c->e[at + 1], &c->e[at], (c->n - at) * sizeof(*c->e));
  c->e[at] = copy;
  c->n++;
  return LOGSTATE_OK;
}

logstate_status ls_mem_config_add(ls_mem_configs *c, const logstate_log_entry *entries, size_t n,
                                  logstate_log_entry **existing) {
  logstate_status st = LOGSTATE_OK;
  size_t i = 0;
  pthread_mutex_lock(&c->mu);
  for (; i < n && st == LOGSTATE_OK; i++)
    st = add_one(c, &entries[i], &existing[i]);
  if (st != LOGSTATE_OK) /* all or nothing */
    undo(c, entries, existing, i - 1);
  pthread_mutex_unlock(&c->mu);
  return st;
}

logstate_status ls_mem_config_get(ls_mem_configs *c, const char *log_id, logstate_log_entry **out) {
  size_t at;
  pthread_mutex_lock(&c->mu);
  logstate_status st = find(c, log_id, &at) ? copy_out(&c->e[at], out) : LOGSTATE_NOT_FOUND;
  pthread_mutex_unlock(&c->mu);
  return st;
}

logstate_status ls_mem_config_list(ls_mem_configs *c, logstate_log_entry **out, size_t *out_n) {
  logstate_status st = LOGSTATE_OK;
  pthread_mutex_lock(&c->mu);
  *out = c->n ? calloc(c->n, sizeof(**out)) : NULL;
  if (c->n && *out == NULL)
    st = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "memory: out of memory");
  for (size_t i = 0; st == LOGSTATE_OK && i < c->n; i++)
    if ((st = ls_cfg_entry_copy(&(*out)[i], &c->e[i])) == LOGSTATE_OK)
      *out_n = i + 1;
  pthread_mutex_unlock(&c->mu);
  return st; /* on failure the core frees what was copied */
}

/* Appends a copy of ev to the ring (the oldest dropped when full). */
static logstate_status audit(ls_mem_configs *c, const logstate_config_event *ev) {
  logstate_config_event copy;
  logstate_status st = ls_cfg_event_copy(&copy, ev);
  if (st != LOGSTATE_OK)
    return st;
  if (c->nring == LS_MEM_AUDIT) {
    ls_cfg_event_release(&c->ring[c->start]);
    c->start = (c->start + 1) % LS_MEM_AUDIT;
    c->nring--;
  }
  c->ring[(c->start + c->nring++) % LS_MEM_AUDIT] = copy;
  return LOGSTATE_OK;
}

logstate_status ls_mem_config_change(ls_mem_configs *c, const logstate_config_event *ev, int *changed) {
  size_t at;
  logstate_status st = LOGSTATE_NOT_FOUND;
  *changed = 0;
  pthread_mutex_lock(&c->mu);
  if (find(c, ev->log_id, &at)) {
    logstate_log_entry *e = &c->e[at];
    char *by = ev->by ? ls_memdup(ev->by, strlen(ev->by)) : NULL;
    char *why = ev->reason ? ls_memdup(ev->reason, strlen(ev->reason)) : NULL;
    st = (ev->by && !by) || (ev->reason && !why)     ? ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "memory: out of memory")
         : (e->disabled != 0) == (ev->disabled != 0) ? LOGSTATE_OK
                                                     : audit(c, ev);
    if (st == LOGSTATE_OK && (e->disabled != 0) != (ev->disabled != 0)) {
      free(e->changed_by);
      free(e->reason);
      e->changed_by = by;
      e->reason = why;
      e->changed_ms = ev->at_ms;
      e->disabled = ev->disabled != 0;
      by = why = NULL;
      *changed = 1;
    }
    free(by);
    free(why);
  }
  pthread_mutex_unlock(&c->mu);
  return st;
}

logstate_status ls_mem_config_history(ls_mem_configs *c, const char *log_id, size_t max, logstate_config_event **out,
                                      size_t *out_n) {
  logstate_status st = LOGSTATE_OK;
  pthread_mutex_lock(&c->mu);
  size_t want = c->nring < max ? c->nring : max;
  *out = want ? calloc(want, sizeof(**out)) : NULL;
  if (want && *out == NULL)
    st = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "memory: out of memory");
  for (size_t k = c->nring; st == LOGSTATE_OK && k > 0 && *out_n < want; k--) { /* newest first */
    const logstate_config_event *ev = &c->ring[(c->start + k - 1) % LS_MEM_AUDIT];
    if (log_id == NULL || strcmp(ev->log_id, log_id) == 0)
      if ((st = ls_cfg_event_copy(&(*out)[*out_n], ev)) == LOGSTATE_OK)
        ++*out_n;
  }
  pthread_mutex_unlock(&c->mu);
  return st;
}

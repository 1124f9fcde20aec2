/* SPDX-License-Identifier: Apache-2.0 */
/* logstate_update(): Update(origin, f), the read-check-write loop.
 *
 * A backend with read_state and cas (backend methods version 3) runs it in
 * one round trip when the handle knows the log's state: fn on the cached
 * state, then the compare-and-set. A lost race brings the current state
 * back in the same reply, so the retry needs no read either. A stale cache
 * costs a retry, never a lost update: the compare-and-set checks the
 * version. An outcome decided without a set (fn's "no change", or fn's own
 * status) on cached state stands only once a read shows the state current.
 *
 * Other backends run it as a write transaction per attempt. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static const char fname[] = "logstate_update";

static void sleep_us(uint64_t us) {
  struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
  nanosleep(&ts, NULL);
}

/* --- through write transactions ----------------------------------------- */

static logstate_status update_txn(logstate *ls, const char *log_id, size_t n, logstate_update_fn fn, void *arg,
                                  unsigned int *attempts) {
  logstate_status st = LOGSTATE_OK;
  for (unsigned int attempt = 1;; attempt++) {
    logstate_write *w;
    *attempts = attempt;
    if ((st = logstate_write_ops(ls, log_id, &w)) != LOGSTATE_OK)
      return st;
    uint8_t *cur = NULL, *next = NULL;
    size_t cur_len = 0, next_len = 0;
    st = logstate_write_get_latest(w, &cur, &cur_len);
    int set = (st == LOGSTATE_OK || st == LOGSTATE_NOT_FOUND) &&
              ls_update_apply(fname, &ls->policy, fn, arg, log_id, n, cur, cur_len, &next, &next_len, &st);
    free(cur);
    if (set) {
      st = logstate_write_set(w, next, next_len);
      free(next);
    }
    /* The set decided the outcome; a failing close after it changes
     * nothing stored, so its status is not the caller's concern. */
    logstate_write_close(w);
    uint64_t delay_us;
    if (st != LOGSTATE_ABORTED || !set)
      return st;
    if (!ls_update_retry(fname, &ls->policy, attempt, 0, log_id, n, &delay_us))
      return LOGSTATE_ABORTED;
    sleep_us(delay_us);
  }
}

/* --- through read_state and cas ----------------------------------------- */

logstate_status ls_core_mark(logstate *ls, const char *fn, const char *log_id, size_t n, uint64_t before,
                             uint64_t version) {
  logstate_status st = ls_mark_seen(ls->marks, fn, log_id, n, before, version);
  if (st != LOGSTATE_OK)
    atomic_fetch_add(&ls->rollbacks, 1);
  return st;
}

uint64_t ls_core_rollbacks(logstate *ls) { return atomic_load(&ls->rollbacks); }

/* Reads the log's state into *s (and the cache), and checks the store did
 * not go back. */
static logstate_status read_state_as(logstate *ls, const char *fn, const char *id, size_t n,
                                     logstate_backend_state *s) {
  char q[LS_QUOTE_BUFSZ];
  memset(s, 0, sizeof(*s));
  uint64_t before = ls_mark_before(ls->marks, id, n);
  logstate_status st = ls->be->methods->read_state(ls->be, id, n, s);
  if (st == LOGSTATE_OK && (s->version == 0) != (s->cp == NULL || s->len == 0))
    st = ls_err(LOGSTATE_INTERNAL, "%s: %s backend returned version %llu %s a checkpoint for log %s", fn,
                ls->be->methods->name, (unsigned long long)s->version, s->cp ? "with" : "without",
                ls_quote(q, sizeof(q), id, n));
  if (st == LOGSTATE_OK)
    st = ls_core_mark(ls, fn, id, n, before, s->version);
  if (st != LOGSTATE_OK) {
    free(s->cp);
    memset(s, 0, sizeof(*s));
    ls_cache_drop(ls->cache, id, n);
    return st;
  }
  ls_cache_put(ls->cache, id, n, s->version, s->cp, s->len);
  return LOGSTATE_OK;
}

static logstate_status read_state(logstate *ls, const char *id, size_t n, logstate_backend_state *s) {
  return read_state_as(ls, fname, id, n, s);
}

logstate_status ls_read_state(logstate *ls, const char *fn, const char *log_id, size_t n, uint64_t *version,
                              uint8_t **cp, size_t *len) {
  logstate_backend_state s;
  logstate_status st = read_state_as(ls, fn, log_id, n, &s);
  *version = s.version;
  *cp = s.cp;
  *len = s.len;
  return st;
}

typedef struct attempt_state {
  logstate_backend_state s; /* the state fn sees */
  int from_cache;           /* not yet confirmed by the server */
} attempt_state;

/* One compare-and-set of fn's value against a->s. On ABORTED, a->s becomes
 * the current state when the backend told it (*fresh set). */
static logstate_status cas_once(logstate *ls, const char *id, size_t n, attempt_state *a, uint8_t *next,
                                size_t next_len, int *fresh) {
  logstate_backend_state now = {0, NULL, 0};
  uint64_t version = 0;
  *fresh = 0;
  uint64_t before = ls_mark_before(ls->marks, id, n);
  logstate_status st = ls->be->methods->cas(ls->be, id, n, &a->s, next, next_len, &version, &now, fresh);
  free(a->s.cp);
  a->s = now;
  a->from_cache = 0;
  if (st == LOGSTATE_ABORTED && *fresh && (st = ls_core_mark(ls, fname, id, n, before, now.version)) == LOGSTATE_OK)
    st = LOGSTATE_ABORTED; /* the current state is not behind what this handle saw */
  if (st == LOGSTATE_OK) {
    ls_cache_put(ls->cache, id, n, version, next, next_len);
    ls_cache_raise(ls->marks, id, n, version);
  } else if (st == LOGSTATE_ABORTED && *fresh) {
    ls_cache_put(ls->cache, id, n, now.version, now.cp, now.len);
  } else {
    ls_cache_drop(ls->cache, id, n);
  }
  free(next);
  return st;
}

static logstate_status update_cas(logstate *ls, const char *id, size_t n, logstate_update_fn fn, void *arg,
                                  unsigned int *attempts) {
  attempt_state a = {{0, NULL, 0}, 0};
  logstate_status st = LOGSTATE_OK;
  a.from_cache = ls_cache_get(ls->cache, id, n, &a.s.version, &a.s.cp, &a.s.len);
  if (!a.from_cache && (st = read_state(ls, id, n, &a.s)) != LOGSTATE_OK)
    return st;
  for (unsigned int attempt = 1;;) {
    uint8_t *next = NULL;
    size_t next_len = 0;
    int fresh = 0;
    *attempts = attempt;
    if (!ls_update_apply(fname, &ls->policy, fn, arg, id, n, a.s.cp, a.s.len, &next, &next_len, &st)) {
      logstate_backend_state now = {0, NULL, 0};
      logstate_status rst = LOGSTATE_OK;
      if (!a.from_cache || (rst = read_state(ls, id, n, &now)) != LOGSTATE_OK || now.version == a.s.version) {
        free(a.s.cp); /* decided on a state the server confirmed */
        if (a.from_cache && rst == LOGSTATE_OK)
          free(now.cp);
        return a.from_cache && rst != LOGSTATE_OK ? rst : st;
      }
      free(a.s.cp); /* the cache was stale: decide again on the current state */
      a.s = now;
      a.from_cache = 0;
      continue;
    }
    if ((st = cas_once(ls, id, n, &a, next, next_len, &fresh)) != LOGSTATE_ABORTED) {
      free(a.s.cp);
      return st;
    }
    uint64_t delay_us;
    if (!ls_update_retry(fname, &ls->policy, attempt++, fresh, id, n, &delay_us)) {
      free(a.s.cp);
      return LOGSTATE_ABORTED;
    }
    if (delay_us)
      sleep_us(delay_us);
    if (delay_us || !fresh) { /* slept on, the state the race told is stale */
      free(a.s.cp);
      a.s = (logstate_backend_state){0, NULL, 0};
      if ((st = read_state(ls, id, n, &a.s)) != LOGSTATE_OK)
        return st;
    }
  }
}

static logstate_status update(logstate *ls, const char *log_id, logstate_update_fn fn, void *arg,
                              unsigned int *attempts) {
  size_t n;
  if (ls == NULL || fn == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: %s is NULL", fname, ls ? "update function" : "handle");
  logstate_status st = ls_check_log_id(fname, log_id, &n);
  if (st == LOGSTATE_OK)
    st = ls_check_writable(ls, fname);
  if (st != LOGSTATE_OK)
    return st;
  const logstate_backend_methods *m = ls->be->methods;
  if (m->version >= 3 && m->cas && m->read_state)
    return update_cas(ls, log_id, n, fn, arg, attempts);
  return update_txn(ls, log_id, n, fn, arg, attempts);
}

logstate_status logstate_update(logstate *ls, const char *log_id, logstate_update_fn fn, void *arg) {
  ls_op_clock c;
  unsigned int attempts = 1;
  ls_op_begin(&c);
  logstate_status st = update(ls, log_id, fn, arg, &attempts);
  return ls_op_end(ls ? &ls->policy : NULL, ls ? ls->opstats : NULL, &c, LOGSTATE_OP_UPDATE,
                   st == LOGSTATE_INVALID_ARGUMENT ? NULL : log_id, st, attempts - 1);
}

uint64_t ls_core_cache_hits(logstate *ls) {
  uint64_t hits, misses;
  ls_cache_counts(ls->cache, &hits, &misses);
  return hits;
}

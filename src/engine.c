/* SPDX-License-Identifier: Apache-2.0 */
/* The update engine (engine.h): every decision of Update(origin, f), none
 * of its I/O. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "engine.h"

static ls_upd_next done(ls_upd *u, logstate_status st) {
  u->st = st;
  return LS_UPD_DONE;
}

/* A request goes out: the version the handle had seen by then. */
static ls_upd_next going(ls_upd *u, ls_upd_next next) {
  if (u->tab)
    u->before = ls_logtab_seen(u->tab, u->log_id, u->log_id_len);
  return next;
}

static void replace_state(ls_upd *u, uint64_t version, uint8_t *cp, size_t len) {
  free(u->cp);
  u->exact = 0; /* read or told: the store's */
  u->version = version;
  u->cp = cp;
  u->len = cp ? len : 0;
}

ls_upd_next ls_upd_begin(ls_upd *u) {
  u->cp = u->next = NULL;
  u->len = u->next_len = 0;
  u->version = 0;
  u->attempt = 1;
  u->known = u->confirming = u->exact = 0;
  u->st = LOGSTATE_OK;
  if (u->tab && u->by_version &&
      ls_logtab_cached(u->tab, u->log_id, u->log_id_len, &u->version, &u->cp, &u->len, &u->exact)) {
    u->known = 1;
    return LS_UPD_APPLY;
  }
  return going(u, LS_UPD_READ);
}

ls_upd_next ls_upd_apply(ls_upd *u) {
  logstate_status st;
  if (ls_update_apply(u->fn_name, u->policy, u->fn, u->fn_arg, u->log_id, u->log_id_len, u->cp, u->len, &u->next,
                      &u->next_len, &st)) {
    if (u->chain && u->tab)
      ls_logtab_pending(u->tab, u->log_id, u->log_id_len, u->version + 1, u->next, u->next_len);
    return going(u, LS_UPD_SET);
  }
  if (!u->known)
    return done(u, st); /* decided on a state the store confirmed; OK: no change */
  ls_error_save(&u->decided, st);
  u->confirming = 1;
  return going(u, LS_UPD_READ);
}

ls_upd_next ls_upd_read(ls_upd *u, logstate_status st, uint64_t version, uint8_t *cp, size_t len) {
  if (st == LOGSTATE_OK && u->tab)
    st = ls_logtab_saw(u->tab, u->fn_name, u->log_id, u->log_id_len, u->before, version, cp, len, u->by_version);
  if (st != LOGSTATE_OK) {
    free(cp);
    if (u->tab)
      ls_logtab_forget(u->tab, u->log_id, u->log_id_len);
    return done(u, st);
  }
  /* The bytes too: a writer that does not count versions (the Go witness
   * on SQLite) changes the checkpoint without changing the version. */
  if (u->confirming && version == u->version && (cp != NULL) == (u->cp != NULL) &&
      (cp == NULL || (len == u->len && memcmp(cp, u->cp, len) == 0))) {
    free(cp);
    return done(u, ls_error_restore(&u->decided));
  }
  u->confirming = u->known = 0;
  replace_state(u, version, cp, len);
  return LS_UPD_APPLY;
}

void ls_upd_take_next(ls_upd *u, uint8_t **cp, size_t *len) {
  *cp = u->next;
  *len = u->next_len;
  u->next = NULL;
  u->next_len = 0;
}

/* A lost race: at once on the state it told, or after a backoff and a
 * read; ABORTED when every attempt is used. */
static ls_upd_next retry(ls_upd *u, int fresh, uint64_t fresh_version, uint8_t *fresh_cp, size_t fresh_len) {
  if (!ls_update_retry(u->fn_name, u->policy, u->attempt++, fresh, u->log_id, u->log_id_len, &u->delay_us)) {
    free(fresh_cp);
    return done(u, LOGSTATE_ABORTED);
  }
  u->known = 0;
  if (fresh && u->delay_us == 0) {
    replace_state(u, fresh_version, fresh_cp, fresh_len);
    return LS_UPD_APPLY;
  }
  free(fresh_cp); /* slept on, the state the race told is stale */
  replace_state(u, 0, NULL, 0);
  return u->delay_us ? LS_UPD_WAIT : going(u, LS_UPD_READ);
}

ls_upd_next ls_upd_set(ls_upd *u, logstate_status st, uint64_t version, const uint8_t *stored, size_t stored_len,
                       int fresh, uint64_t fresh_version, uint8_t *fresh_cp, size_t fresh_len) {
  if (st == LOGSTATE_OK) {
    if (u->tab)
      ls_logtab_stored(u->tab, u->log_id, u->log_id_len, version, u->by_version ? stored : NULL, stored_len);
    free(fresh_cp);
    return done(u, st);
  }
  if (u->tab) /* what it knew may be a state this set (or one it chained on) was making */
    ls_logtab_forget(u->tab, u->log_id, u->log_id_len);
  if (st == LOGSTATE_ABORTED && fresh && u->tab &&
      ls_logtab_saw(u->tab, u->fn_name, u->log_id, u->log_id_len, u->before, fresh_version, fresh_cp, fresh_len,
                    u->by_version) != LOGSTATE_OK) {
    free(fresh_cp);
    return done(u, LOGSTATE_FAILED_PRECONDITION);
  }
  if (st != LOGSTATE_ABORTED || !fresh) {
    free(fresh_cp);
    fresh_cp = NULL;
    fresh = 0;
  }
  if (st != LOGSTATE_ABORTED)
    return done(u, st);
  if (u->tab)
    ls_logtab_conflict(u->tab);
  return retry(u, fresh, fresh_version, fresh_cp, fresh_len);
}

ls_upd_next ls_upd_waited(ls_upd *u) { return going(u, LS_UPD_READ); }

ls_upd_next ls_upd_resume(ls_upd *u, ls_upd_next next) {
  uint64_t v = 0;
  uint8_t *cp = NULL;
  size_t len = 0;
  int pending = 0;
  if (!u->chain || !u->tab || u->confirming || (next != LS_UPD_APPLY && next != LS_UPD_READ) ||
      !ls_logtab_cached(u->tab, u->log_id, u->log_id_len, &v, &cp, &len, &pending))
    return next;
  if ((next == LS_UPD_APPLY && v > u->version) || (next == LS_UPD_READ && pending)) {
    replace_state(u, v, cp, len);
    u->exact = pending;
    u->known = 1;
    return LS_UPD_APPLY;
  }
  free(cp);
  return next;
}

void ls_upd_end(ls_upd *u) {
  free(u->cp);
  free(u->next);
  u->cp = u->next = NULL;
}

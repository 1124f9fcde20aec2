/* SPDX-License-Identifier: Apache-2.0 */
/* logstate_update(): the update engine (engine.h) driven by a blocking
 * loop. The handle's threads take turns on a log (logtab.h), so they never
 * race each other; only another handle or process makes an update retry.
 *
 * A backend with read_state and cas sets against a version: an update of a
 * log the handle knows is one round trip. Where the backend batches sets
 * (cas_batch), the set goes into the handle's group commit (group.h) and
 * the log's turn passes on while it is in flight: the next update of the
 * log chains on the state it makes, and the two go out in one batch or
 * one after the other. Any other backend runs each attempt as a write
 * transaction. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "group.h"

static const char fname[] = "logstate_update";

static void sleep_us(uint64_t us) {
  struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
  nanosleep(&ts, NULL);
}

/* READ: the state, through read_state or a new write transaction. */
static ls_upd_next read_step(logstate *ls, ls_upd *u, logstate_backend_txn **txn) {
  const logstate_backend_methods *m = ls->be->methods;
  logstate_backend_state s = {0, NULL, 0};
  logstate_status st;
  if (u->by_version) {
    st = ls_backend_read_state(ls, fname, u->log_id, u->log_id_len, &s);
    return ls_upd_read(u, st, s.version, s.cp, s.len);
  }
  if (*txn)
    m->write_end(ls->be, *txn);
  *txn = NULL;
  st = m->write_begin(ls->be, u->log_id, u->log_id_len, txn, &s);
  return ls_upd_read(u, st, s.version, s.cp, s.len); /* the engine keeps s.cp past write_end: the state it saw */
}

/* SET through cas: alone with the turn held, or (chain) queued for the
 * handle's next group commit with the turn given back, so that the log's
 * next update can chain on the state this set makes while it is in flight;
 * the turn is taken again for whatever this update does next. */
static ls_upd_next cas_step(logstate *ls, ls_upd *u, ls_turn *turn, logstate_status *turn_st) {
  ls_gcas r = {.req = {.log_id = u->log_id, .log_id_len = u->log_id_len, .exact = u->exact}};
  r.req.expect = (logstate_backend_state){u->version, u->cp, u->len};
  uint8_t *next;
  size_t len;
  logstate_status st;
  ls_upd_take_next(u, &next, &len);
  r.req.cp = next;
  r.req.len = len;
  if (u->chain) {
    ls_group_submit(ls->group, &r);
    ls_logtab_give_turn(ls->tab, turn);
    st = ls_group_wait(ls->be, &r);
  } else {
    st = ls_group_run_one(ls->be, &r);
  }
  logstate_backend_state *f = &r.req.fresh;
  ls_upd_next step = ls_upd_set(u, st, r.req.version, next, len, r.req.fresh_known, f->version, f->cp, f->len);
  free(next);
  if (u->chain && step != LS_UPD_DONE &&
      (*turn_st = ls_logtab_wait_turn(ls->tab, fname, u->log_id, u->log_id_len, turn)) == LOGSTATE_OK)
    step = ls_upd_resume(u, step);
  return step;
}

/* SET in the write transaction READ opened. */
static ls_upd_next txn_set_step(logstate *ls, ls_upd *u, logstate_backend_txn **txn) {
  const logstate_backend_methods *m = ls->be->methods;
  uint8_t *next;
  size_t len;
  ls_upd_take_next(u, &next, &len);
  logstate_status st = m->write_set(ls->be, *txn, next, len);
  m->write_end(ls->be, *txn); /* the set decided; what closing says changes nothing stored */
  *txn = NULL;
  ls_upd_next r = ls_upd_set(u, st, u->version + 1, next, len, 0, 0, NULL, 0);
  free(next);
  return r;
}

static logstate_status run(logstate *ls, ls_upd *u, ls_turn *turn) {
  logstate_backend_txn *txn = NULL;
  logstate_status turn_st = LOGSTATE_OK;
  for (ls_upd_next next = ls_upd_begin(u);;) {
    if (turn_st != LOGSTATE_OK) { /* the turn could not be taken again */
      ls_upd_end(u);
      return turn_st;
    }
    switch (next) {
    case LS_UPD_READ:
      next = read_step(ls, u, &txn);
      break;
    case LS_UPD_APPLY:
      next = ls_upd_apply(u);
      break;
    case LS_UPD_SET:
      next = u->by_version ? cas_step(ls, u, turn, &turn_st) : txn_set_step(ls, u, &txn);
      break;
    case LS_UPD_WAIT:
      sleep_us(u->delay_us);
      next = ls_upd_waited(u);
      break;
    case LS_UPD_DONE:
      if (txn)
        ls->be->methods->write_end(ls->be, txn);
      ls_upd_end(u);
      return u->st;
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
  ls_turn turn;
  if (st != LOGSTATE_OK || (st = ls_logtab_wait_turn(ls->tab, fname, log_id, n, &turn)) != LOGSTATE_OK)
    return st;
  ls_upd u = {.fn_name = fname,
              .policy = &ls->policy,
              .tab = ls_core_by_version(ls) || ls->be->methods->counts_versions ? ls->tab : NULL, /* marks */
              .by_version = ls_core_by_version(ls),
              .log_id = log_id,
              .log_id_len = n,
              .fn = fn,
              .fn_arg = arg};
  u.chain = u.by_version && ls_group_batch_max(ls->be) > 1;
  st = run(ls, &u, &turn);
  *attempts = u.attempt;
  ls_logtab_give_turn(ls->tab, &turn);
  return st;
}

logstate_status logstate_update(logstate *ls, const char *log_id, logstate_update_fn fn, void *arg) {
  ls_op_clock c;
  unsigned int attempts = 1;
  ls_op_begin(&c);
  logstate_status st = update(ls, log_id, fn, arg, &attempts);
  return ls_op_end(ls ? &ls->policy : NULL, ls ? ls->opstats : NULL, &c, LOGSTATE_OP_UPDATE,
                   st == LOGSTATE_INVALID_ARGUMENT ? NULL : log_id, st, attempts - 1);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The update engine: Update(origin, f) as decisions without I/O, written
 * once and driven by the sync loop (update.c) and the async core
 * (async/async.c), which only do what it asks:
 *
 *   READ   read the log's state (and a snapshot to set against), then
 *          ls_upd_read();
 *   APPLY  call ls_upd_apply(), which runs the caller's function (the async
 *          core does it on a later loop iteration, never inside a submit);
 *   SET    set ls_upd_take_next()'s checkpoint against the state read, then
 *          ls_upd_set();
 *   WAIT   sleep delay_us, then ls_upd_waited();
 *   DONE   the outcome is `st` (its message recorded); ls_upd_end().
 *
 * What it decides: an update starts from the state the handle knows when
 * sets compare versions (one round trip); a lost race that told the current
 * state retries on it at once, twice, then backs off and reads again; an
 * outcome decided without a set on a known (unconfirmed) state stands only
 * once a read shows that state current; every state read or told is checked
 * against the highest version the handle saw (rollback detection). With
 * `chain`, a set about to go out leaves the state it makes in the table
 * (ls_logtab_pending) for the log's next update, whose set then expects
 * that state exactly; a set that fails takes it out again. */
#ifndef LOGSTATE_ENGINE_H
#define LOGSTATE_ENGINE_H

#include "internal.h"
#include "logtab.h"

typedef enum { LS_UPD_READ, LS_UPD_APPLY, LS_UPD_SET, LS_UPD_WAIT, LS_UPD_DONE } ls_upd_next;

typedef struct ls_upd {
  /* Inputs (borrowed for the update's life). */
  const char *fn_name; /* for messages */
  const ls_policy *policy;
  ls_logtab *tab; /* NULL: no marks and no known states (a driver whose backend keeps them) */
  int by_version; /* sets compare the version alone: start from a known state */
  const char *log_id;
  size_t log_id_len;
  logstate_update_fn fn;
  void *fn_arg;
  int chain; /* the driver lets the log's next update start while this one's set is in flight */
  /* The state fn sees (cp owned). */
  uint64_t version;
  uint8_t *cp;
  size_t len;
  int exact; /* a state a set in flight is making: the set must expect its checkpoint too */
  /* Results for the driver. */
  uint64_t delay_us;  /* WAIT */
  logstate_status st; /* DONE */
  unsigned int attempt;
  /* Its own. */
  int known; /* the state is the handle's, not yet confirmed by a read */
  int confirming;
  uint64_t before; /* the highest version seen when the request went */
  uint8_t *next;   /* SET: fn's value */
  size_t next_len;
  ls_saved_error decided;
} ls_upd;

/* Fills `u` (inputs set beforehand) and says what to do first: APPLY on the
 * handle's known state, or READ. */
ls_upd_next ls_upd_begin(ls_upd *u);
/* Runs fn on the state: SET, READ (to confirm an outcome decided on a known
 * state), or DONE. */
ls_upd_next ls_upd_apply(ls_upd *u);
/* The READ's result: `st`, and the state (cp malloc()ed, NULL when absent;
 * the engine takes it over in every case). APPLY or DONE. */
ls_upd_next ls_upd_read(ls_upd *u, logstate_status st, uint64_t version, uint8_t *cp, size_t len);
/* The checkpoint to set (malloc()ed, the caller's now). */
void ls_upd_take_next(ls_upd *u, uint8_t **cp, size_t *len);
/* The SET's result: OK with the log's new `version` and the checkpoint
 * stored (borrowed); ABORTED with, when `fresh`, the current state (cp
 * taken over); or another status. DONE, APPLY, WAIT or READ. */
ls_upd_next ls_upd_set(ls_upd *u, logstate_status st, uint64_t version, const uint8_t *stored, size_t stored_len,
                       int fresh, uint64_t fresh_version, uint8_t *fresh_cp, size_t fresh_len);
/* With chain, after the driver took the log's turn again for `next` (the
 * step ls_upd_set said): the log's other updates ran meanwhile, so an
 * attempt starts from the newest state the table knows (a set in flight
 * included) rather than from the one its lost race told, or a read that
 * would find the store behind the sets in flight. */
ls_upd_next ls_upd_resume(ls_upd *u, ls_upd_next next);
/* After WAIT: READ. */
ls_upd_next ls_upd_waited(ls_upd *u);
/* Frees what the engine holds. */
void ls_upd_end(ls_upd *u);

#endif

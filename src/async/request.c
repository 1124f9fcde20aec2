/* SPDX-License-Identifier: Apache-2.0 */
/* The requests the async core hands its drivers (driver.h): made by the
 * core, finished by a driver on the loop's thread. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>

#include "async/driver.h"
#include "configs.h"

ls_areq *ls_areq_new(ls_areq_kind kind) {
  ls_areq *r = calloc(1, sizeof(*r));
  if (r)
    r->kind = kind;
  return r;
}

void ls_areq_result(ls_areq *r, logstate_status st) {
  r->st = st;
  ls_error_save(&r->err, st);
}

void ls_areq_finish(ls_adriver *d, ls_areq *r) {
  if (r->owner) {
    ls_error_restore(&r->err);
    r->done(r);
  }
  if (r->snap.txn)
    d->m->release(d, &r->snap);
  free(r->snap.state.cp);
  free(r->state.cp);
  free(r->log_id);
  free(r->cp);
  logstate_logs_free(r->ids, r->n);
  logstate_history_free(r->hist, r->nhist);
  if (r->cfg)
    ls_cfg_op_release(r->cfg);
  free(r->cfg);
  free(r);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* What the drivers do when something goes wrong, decided once for both:
 * how long a reply may take, what a lost connection means (a set in flight
 * is settled by reading the log, an idle pooled connection found dead is
 * tried again once, anything else fails; the primary is looked for again),
 * how many times MOVED is followed, how long settling may go on, and how
 * reconnecting backs off. The sync driver (sync.c, sync_conn.c) and the
 * async one (async*.c) only move bytes and wait where these say. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/proto.h"

/* --- timeouts and failures -------------------------------------------- */

static const char *what_of(const ls_rp_op *op) {
  switch (op->kind) {
  case LS_RP_CONNECT:
    return "connecting";
  case LS_RP_INIT:
    return "init";
  case LS_RP_GET:
    return "reading a checkpoint";
  case LS_RP_LOGS:
    return "listing logs";
  case LS_RP_OPEN:
    return "opening a write transaction";
  case LS_RP_VERIFY:
    return "verifying the store";
  case LS_RP_HISTORY:
    return "reading the history";
  case LS_RP_CONFIG:
    return op->u.config.what;
  case LS_RP_SET:
    break;
  }
  return "setting a checkpoint (the set may or may not have been applied: read again before retrying)";
}

unsigned int ls_rp_longest_ms(const ls_redis_config *c) {
  return c->timeout_ms + (c->min_replicas || c->wait_aof ? c->replica_timeout_ms : 0);
}

unsigned int ls_rp_timeout_ms(const ls_redis_proto *p, const ls_rp_op *op) {
  return op->kind == LS_RP_SET ? ls_rp_longest_ms(&p->cfg) : p->cfg.timeout_ms;
}

logstate_status ls_rp_failed(const ls_redis_proto *p, const ls_rp_op *op, int err, const char *errstr) {
  char where[300];
  if (err)
    return ls_redis_io_error(&p->cfg, err, errstr, what_of(op));
  ls_redis_config_where(&p->cfg, where, sizeof(where));
  return ls_err(LOGSTATE_UNAVAILABLE, "redis %s: %s: the connection went with the request in flight (%s)", where,
                what_of(op), errstr && errstr[0] ? errstr : "closed");
}

logstate_status ls_rp_timed_out(const ls_redis_proto *p, const ls_rp_op *op) {
  char where[300];
  ls_redis_config_where(&p->cfg, where, sizeof(where));
  return ls_err(LOGSTATE_UNAVAILABLE, "redis %s: %s: timed out after %u ms", where, what_of(op),
                ls_rp_timeout_ms(p, op));
}

ls_rp_outcome ls_rp_outcome_of(const ls_rp_set *set, const logstate_backend_state *now) {
  if (now->version == set->expect)
    return LS_RP_NOT_APPLIED;
  if (now->version == set->expect + 1)
    return now->len == set->cp_len && memcmp(now->cp, set->cp, now->len) == 0 ? LS_RP_APPLIED : LS_RP_LOST_RACE;
  return LS_RP_UNDECIDED;
}

logstate_status ls_rp_settle(ls_redis_proto *p, ls_rp_op *op, ls_rp_op *rd_op, int *again) {
  char q[LS_QUOTE_BUFSZ];
  ls_rp_set *set = &op->u.set;
  ls_rp_read *rd = &rd_op->u.read;
  int by_history;
  atomic_fetch_add(&p->resolved, 1);
  *again = 0;
  switch (ls_rp_outcome_of(set, &rd->state)) {
  case LS_RP_APPLIED:
    set->version = set->expect + 1;
    return LOGSTATE_OK;
  case LS_RP_NOT_APPLIED: /* still safe: the script compares the version */
    *again = 1;
    return LOGSTATE_OK;
  case LS_RP_UNDECIDED:
    if ((by_history = ls_rp_history_decides(set, rd)) == 1) { /* its entry holds its bytes */
      set->version = set->expect + 1;
      return LOGSTATE_OK;
    }
    if (by_history == 0) /* another writer's set made expect + 1 */
      break;
    set->undecided = 1;
    return ls_err(LOGSTATE_UNAVAILABLE,
                  "redis: setting a checkpoint: its reply was lost, and log %s had moved on from version %llu to %llu "
                  "when it was read: whether this set was one of those steps cannot be told, the outcome is unknown; "
                  "read again before retrying",
                  ls_quote(q, sizeof(q), op->log_id, op->log_id_len), (unsigned long long)set->expect,
                  (unsigned long long)rd->state.version);
  case LS_RP_LOST_RACE:
    break;
  }
  set->fresh = 1; /* the read's state moves to the set, whole */
  free(set->now.cp);
  set->now = rd->state;
  rd->state = (logstate_backend_state){0, NULL, 0};
  return ls_err(LOGSTATE_ABORTED, "redis: log %s moved on to version %llu while the set's reply was lost",
                ls_quote(q, sizeof(q), op->log_id, op->log_id_len), (unsigned long long)set->now.version);
}

logstate_status ls_rp_outcome_unknown(const ls_redis_proto *p, const char *why) {
  char where[300];
  ls_redis_config_where(&p->cfg, where, sizeof(where));
  return ls_err(LOGSTATE_UNAVAILABLE,
                "redis %s: setting a checkpoint: the connection went with the set in flight, and none came back "
                "within %u ms to tell whether it was applied: the outcome is unknown, read again before retrying "
                "(%s)",
                where, p->cfg.timeout_ms, why);
}

int ls_rp_ends_watch(const ls_rp_op *op) { return op->kind == LS_RP_SET && op->u.set.watch; }

/* --- a lost connection -------------------------------------------------- */

ls_rp_after_loss ls_rp_after_loss_of(const ls_rp_op *op, int idle_conn, unsigned int attempt) {
  if (op->kind == LS_RP_SET)
    return LS_RP_SETTLE; /* sent, or maybe not: only the log can tell */
  if (idle_conn && attempt == 0 && op->kind != LS_RP_VERIFY)
    return LS_RP_RETRY; /* a pooled connection that died while idle: nothing ran */
  return LS_RP_FAIL;
}

void ls_rp_op_failed(ls_redis_proto *p, uint64_t gen, const ls_rp_op *op, logstate_status st) {
  /* Gone, READONLY, or not the primary: ask the seeds again. A set whose
   * outcome stayed unknown says nothing of the server. */
  if (st == LOGSTATE_UNAVAILABLE && !(op->kind == LS_RP_SET && op->u.set.undecided))
    ls_rp_target_lost(p, gen);
}

int ls_rp_redirect(ls_rp_op *op, logstate_status st) {
  if (st != LOGSTATE_UNAVAILABLE || !op->redirected || op->redirects >= LS_RP_MAX_REDIRECTS)
    return 0;
  op->redirects++;
  ls_rp_restart(op);
  return 1;
}

unsigned int ls_rp_backoff_next(unsigned int prev_ms) {
  if (prev_ms == 0)
    return LS_RP_BACKOFF_MIN_MS;
  return prev_ms * 2 > LS_RP_BACKOFF_MAX_MS ? LS_RP_BACKOFF_MAX_MS : prev_ms * 2;
}

/* --- settling a set whose reply was lost ------------------------------- */

logstate_status ls_rp_settle_begin(const ls_redis_proto *p, ls_rp_settler *s, const ls_rp_op *set, const char *why,
                                   uint64_t now_us) {
  if (!s->active) /* the deadline runs from the first loss */
    s->deadline_us = now_us + (uint64_t)ls_rp_settle_ms(p) * 1000;
  s->active = 1;
  snprintf(s->why, sizeof(s->why), "%s", why);
  ls_rp_end(&s->rd);
  s->rd = (ls_rp_op){.kind = LS_RP_OPEN, .log_id = set->log_id, .log_id_len = set->log_id_len, .u.read.settling = 1};
  return ls_rp_begin(p, &s->rd);
}

int ls_rp_settle_expired(const ls_rp_settler *s, uint64_t now_us) { return now_us >= s->deadline_us; }

unsigned int ls_rp_settle_ms(const ls_redis_proto *p) { return p->cfg.timeout_ms; }

logstate_status ls_rp_settle_give_up(const ls_redis_proto *p, ls_rp_settler *s) {
  s->active = 0;
  return ls_rp_outcome_unknown(p, s->why);
}

void ls_rp_settle_end(ls_rp_settler *s) {
  ls_rp_end(&s->rd);
  s->active = 0;
}

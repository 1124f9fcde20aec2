/* SPDX-License-Identifier: Apache-2.0 */
/* The history stream of a log, {N}:history:<logID> (README "Key layout"):
 * the set script's history arguments (lua/set.lua appends the entry in the
 * same atomic step as the set) and the XREVRANGE that reads it back. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/proto.h"

/* The stream's fields, as lua/set.lua writes them. */
#define F_VERSION "version"
#define F_CHECKPOINT "checkpoint"
#define F_SHA256 "sha256"
#define F_ORIGIN "origin"
#define F_TREE_SIZE "tree_size"
#define F_CLIENT "client"

/* A settling read looks this far back: a log that moved on further stays
 * undecided. */
#define SETTLE_LOOKBACK 64

size_t ls_rp_settle_lookback(const ls_redis_config *c) {
  return c->hist.keep < SETTLE_LOOKBACK ? c->hist.keep : SETTLE_LOOKBACK;
}

logstate_status ls_rp_history_begin(const ls_redis_config *c, ls_rp_op *op) {
  int settling = op->kind == LS_RP_OPEN && op->u.read.settling && c->hist.keep;
  if (op->kind != LS_RP_HISTORY && !settling && (op->kind != LS_RP_SET || c->hist.keep == 0))
    return LOGSTATE_OK;
  op->hkey_len = c->key_history_prefix_len + op->log_id_len;
  if ((op->hkey = malloc(op->hkey_len + 1)) == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
  memcpy(op->hkey, c->key_history_prefix, c->key_history_prefix_len);
  memcpy(op->hkey + c->key_history_prefix_len, op->log_id, op->log_id_len);
  op->hkey[op->hkey_len] = '\0';
  if (op->kind == LS_RP_SET) /* sent only without bodies */
    ls_history_rec_of(op->u.set.cp, op->u.set.cp_len, !c->hist.bodies, &op->u.set.hrec);
  return LOGSTATE_OK;
}

void ls_rp_history_end(ls_rp_op *op) {
  free(op->hkey);
  op->hkey = NULL;
  if (op->kind == LS_RP_HISTORY) {
    logstate_history_free(op->u.history.hist, op->u.history.nhist);
    op->u.history.hist = NULL;
    op->u.history.nhist = 0;
  } else if (op->kind == LS_RP_OPEN || op->kind == LS_RP_GET) {
    logstate_history_free(op->u.read.hist, op->u.read.nhist);
    op->u.read.hist = NULL;
    op->u.read.nhist = 0;
  }
}

void ls_rp_history_args(const ls_redis_config *c, const ls_rp_op *op, char num[24], ls_rp_cmd *cmd) {
  const ls_history_rec *r = &op->u.set.hrec;
  snprintf(num, 24, "%u", c->hist.keep);
  ls_rp_arg(cmd, num, strlen(num));
  if (c->hist.bodies) {
    ls_rp_arg(cmd, F_CHECKPOINT, strlen(F_CHECKPOINT));
    ls_rp_arg(cmd, (const char *)op->u.set.cp, op->u.set.cp_len);
  } else {
    ls_rp_arg(cmd, F_SHA256, strlen(F_SHA256));
    ls_rp_arg(cmd, r->sha256, 64);
  }
  ls_rp_arg(cmd, r->origin ? r->origin : "", r->origin_len);
  ls_rp_arg(cmd, r->tree_size, strlen(r->tree_size));
  ls_rp_arg(cmd, c->hist.client_name, strlen(c->hist.client_name));
}

void ls_rp_plan_history(const ls_rp_op *op, size_t max, ls_rp_plan *plan) {
  ls_rp_cmd *cmd = &plan->cmd[plan->n++];
  snprintf(plan->num[0], sizeof(plan->num[0]), "%zu", max);
  cmd->argc = 0;
  ls_rp_arg(cmd, "XREVRANGE", 9);
  ls_rp_arg(cmd, op->hkey, op->hkey_len);
  ls_rp_arg(cmd, "+", 1);
  ls_rp_arg(cmd, "-", 1);
  ls_rp_arg(cmd, "COUNT", 5);
  ls_rp_arg(cmd, plan->num[0], strlen(plan->num[0]));
}

static int field_is(const redisReply *k, const char *name) {
  return k->type == REDIS_REPLY_STRING && k->len == strlen(name) && memcmp(k->str, name, k->len) == 0;
}

/* One stream entry, [ID, [field, value, ...]], into `e`. 0 when it is not
 * one the set script writes. */
static int entry_of(const redisReply *x, logstate_history_entry *e, logstate_status *st) {
  const redisReply *v[6] = {0}; /* version, checkpoint, sha256, origin, tree size, client */
  static const char *const names[6] = {F_VERSION, F_CHECKPOINT, F_SHA256, F_ORIGIN, F_TREE_SIZE, F_CLIENT};
  if (x->type != REDIS_REPLY_ARRAY || x->elements != 2 || x->element[0]->type != REDIS_REPLY_STRING ||
      x->element[1]->type != REDIS_REPLY_ARRAY || x->element[1]->elements % 2)
    return 0;
  const redisReply *f = x->element[1];
  for (size_t i = 0; i + 1 < f->elements; i += 2)
    for (int k = 0; k < 6; k++)
      if (field_is(f->element[i], names[k]) && f->element[i + 1]->type == REDIS_REPLY_STRING)
        v[k] = f->element[i + 1];
  char *end = NULL;
  unsigned long long version = v[0] ? strtoull(v[0]->str, &end, 10) : 0;
  long long ms = strtoll(x->element[0]->str, NULL, 10); /* "<ms>-<seq>" */
  if (version == 0 || *end || (v[1] == NULL && (v[2] == NULL || v[2]->len != 64)))
    return 0;
  *st = ls_history_entry_fill(e, version, ms, v[1] ? (const uint8_t *)v[1]->str : NULL, v[1] ? v[1]->len : 0,
                              v[2] ? v[2]->str : NULL, v[2] ? v[2]->len : 0, v[3] ? v[3]->str : NULL,
                              v[3] ? v[3]->len : 0, v[4] ? v[4]->str : NULL, v[4] ? v[4]->len : 0,
                              v[5] ? v[5]->str : NULL, v[5] ? v[5]->len : 0);
  return 1;
}

logstate_status ls_rp_judge_history(const ls_redis_config *c, const ls_rp_op *op, const redisReply *r,
                                    logstate_history_entry **hist, size_t *nhist) {
  logstate_status st = LOGSTATE_OK;
  char q[LS_QUOTE_BUFSZ];
  if (r->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(c, r, "reading the history", op->hkey, op->hkey_len);
  if (r->type != REDIS_REPLY_ARRAY)
    return ls_redis_unexpected("XREVRANGE", r);
  if (r->elements == 0)
    return LOGSTATE_OK;
  if ((*hist = calloc(r->elements, sizeof(**hist))) == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory reading a history");
  for (size_t i = 0; i < r->elements && st == LOGSTATE_OK; i++) {
    if (!entry_of(r->element[i], &(*hist)[i], &st))
      return ls_err(LOGSTATE_INTERNAL, "redis: the history stream %s holds an entry logstate did not write",
                    ls_quote(q, sizeof(q), op->hkey, op->hkey_len));
    if (st == LOGSTATE_OK)
      *nhist = i + 1;
  }
  return st;
}

int ls_rp_history_decides(const ls_rp_set *set, const ls_rp_read *rd) {
  char sha[65];
  for (size_t i = 0; i < rd->nhist; i++) {
    const logstate_history_entry *e = &rd->hist[i];
    if (e->version != set->expect + 1)
      continue;
    if (e->checkpoint)
      return e->checkpoint_len == set->cp_len && memcmp(e->checkpoint, set->cp, set->cp_len) == 0;
    ls_sha256_hex(set->cp, set->cp_len, sha);
    return strcmp(e->sha256, sha) == 0;
  }
  return -1;
}

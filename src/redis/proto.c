/* SPDX-License-Identifier: Apache-2.0 */
/* logstate's Redis protocol: every command, key, hash field and reply index
 * of an operation (the set-up checks of init are in proto_init.c). See
 * proto.h for how a driver runs an op. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/proto.h"

enum { STEP_FIRST = 0, STEP_RELOAD = 1 };

/* Clears what the op finds (its inputs stay). */
static void clear_results(ls_rp_op *op) {
  switch (op->kind) {
  case LS_RP_GET:
  case LS_RP_OPEN:
    op->u.read.state = (logstate_backend_state){0, NULL, 0};
    op->u.read.hist = NULL;
    op->u.read.nhist = 0;
    break;
  case LS_RP_SET:
    op->u.set.expect_arg = NULL; /* not a result, but made by ls_rp_begin */
    op->u.set.expect_arg_len = 0;
    op->u.set.version = 0;
    op->u.set.fresh = op->u.set.undecided = 0;
    op->u.set.now = (logstate_backend_state){0, NULL, 0};
    break;
  case LS_RP_LOGS:
    op->u.logs = (ls_rp_logs){NULL, 0};
    break;
  case LS_RP_HISTORY:
    op->u.history.hist = NULL;
    op->u.history.nhist = 0;
    break;
  case LS_RP_VERIFY:
    op->u.verify.walk = NULL;
    op->u.verify.problems = 0;
    break;
  case LS_RP_CONFIG: /* its results are the core's op's */
  case LS_RP_CONNECT:
  case LS_RP_INIT:
    break;
  }
}

/* The set script's ARGV[1] for a set that expects a checkpoint exactly:
 * the version, "=", the checkpoint. */
static logstate_status expect_exactly(ls_rp_set *set) {
  char num[24];
  int k = snprintf(num, sizeof(num), "%llu=", (unsigned long long)set->expect);
  if ((set->expect_arg = malloc((size_t)k + set->expect_len)) == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
  memcpy(set->expect_arg, num, (size_t)k);
  memcpy(set->expect_arg + k, set->expect_cp, set->expect_len);
  set->expect_arg_len = (size_t)k + set->expect_len;
  return LOGSTATE_OK;
}

logstate_status ls_rp_begin(const ls_redis_proto *p, ls_rp_op *op) {
  op->step = STEP_FIRST;
  op->key = op->hkey = NULL;
  op->key_len = op->hkey_len = 0;
  op->redirected = op->redirects = 0;
  clear_results(op);
  if (op->kind == LS_RP_VERIFY)
    return ls_rp_walk_begin(&p->cfg, op);
  if (op->kind == LS_RP_CONFIG)
    return ls_rp_config_begin(&p->cfg, op);
  logstate_status st = ls_rp_history_begin(&p->cfg, op);
  if (st != LOGSTATE_OK)
    return st;
  if (op->kind != LS_RP_GET && op->kind != LS_RP_OPEN && op->kind != LS_RP_SET)
    return LOGSTATE_OK;
  if ((op->key = ls_redis_log_key(&p->cfg, op->log_id, op->log_id_len, &op->key_len)) == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
  if (op->kind == LS_RP_SET && op->u.set.expect_cp)
    return expect_exactly(&op->u.set);
  return LOGSTATE_OK;
}

void ls_rp_restart(ls_rp_op *op) {
  op->step = STEP_FIRST;
  op->redirected = 0;
}

void ls_rp_end(ls_rp_op *op) {
  if (op->kind == LS_RP_VERIFY)
    ls_rp_walk_end(op);
  if (op->kind == LS_RP_CONFIG)
    ls_rp_config_end(op);
  ls_rp_history_end(op);
  free(op->key);
  op->key = NULL;
  if (op->kind == LS_RP_GET || op->kind == LS_RP_OPEN)
    free(op->u.read.state.cp);
  else if (op->kind == LS_RP_SET) {
    free(op->u.set.now.cp);
    free(op->u.set.expect_arg);
  } else if (op->kind == LS_RP_LOGS)
    logstate_logs_free(op->u.logs.ids, op->u.logs.n);
  if (op->kind != LS_RP_VERIFY && op->kind != LS_RP_INIT && op->kind != LS_RP_CONNECT)
    clear_results(op);
}

/* --- plans -------------------------------------------------------------- */

static void plan_connect(const ls_redis_config *c, ls_rp_plan *plan) {
  if (c->password && c->user)
    ls_rp_add(plan, 3, (const char *[]){"AUTH", c->user, c->password}, NULL);
  else if (c->password)
    ls_rp_add(plan, 2, (const char *[]){"AUTH", c->password}, NULL);
  if (c->db) {
    snprintf(plan->num[0], sizeof(plan->num[0]), "%u", c->db);
    ls_rp_add(plan, 2, (const char *[]){"SELECT", plan->num[0]}, NULL);
  }
  ls_rp_add(plan, 1, (const char *[]){"PING"}, NULL);
  if (c->nseeds) /* the seeds' answer may be out of date */
    ls_rp_add(plan, 1, (const char *[]){"ROLE"}, NULL);
  if (c->store_id) /* a pinned store: every connection checks it is still the same one */
    ls_rp_add(plan, 3, (const char *[]){"HGET", c->key_meta, "store_id"}, NULL);
  if (c->hist.client_name[0]) /* last: judge_connect finds its reply there */
    ls_rp_add(plan, 3, (const char *[]){"CLIENT", "SETNAME", c->hist.client_name}, NULL);
}

/* The set script's calling convention (lua/set.lua): KEYS log, index
 * [, meta [, history]]; ARGV expected version, checkpoint, log ID, guard
 * ("<version>=<checkpoint>" when it expects the checkpoint too)
 * [, the pinned store_id, which a first set checks ("" for none)
 * [, the history arguments]]. */
static void plan_evalsha(const ls_redis_proto *p, const ls_rp_op *op, ls_rp_plan *plan) {
  const ls_redis_config *c = &p->cfg;
  const char *guard = c->guard == LOGSTATE_REDIS_GUARD_SIZE ? "size" : "none";
  const char *pin = c->store_id ? c->store_id : "";
  int hist = op->hkey != NULL, nkeys = hist ? 4 : c->store_id ? 3 : 2;
  ls_rp_cmd *cmd = &plan->cmd[plan->n++];
  snprintf(plan->num[1], sizeof(plan->num[1]), "%llu", (unsigned long long)op->u.set.expect);
  cmd->argc = 0;
  ls_rp_arg(cmd, "EVALSHA", 7);
  ls_rp_arg(cmd, ls_lua_set_sha1, 40);
  ls_rp_arg(cmd, nkeys == 4 ? "4" : nkeys == 3 ? "3" : "2", 1);
  ls_rp_arg(cmd, op->key, op->key_len);
  ls_rp_arg(cmd, c->key_logs, c->key_logs_len);
  if (nkeys >= 3)
    ls_rp_arg(cmd, c->key_meta, c->key_meta_len);
  if (hist)
    ls_rp_arg(cmd, op->hkey, op->hkey_len);
  if (op->u.set.expect_arg)
    ls_rp_arg(cmd, op->u.set.expect_arg, op->u.set.expect_arg_len);
  else
    ls_rp_arg(cmd, plan->num[1], strlen(plan->num[1]));
  ls_rp_arg(cmd, (const char *)op->u.set.cp, op->u.set.cp_len);
  ls_rp_arg(cmd, op->log_id, op->log_id_len);
  ls_rp_arg(cmd, guard, strlen(guard));
  if (nkeys >= 3)
    ls_rp_arg(cmd, pin, strlen(pin));
  if (hist)
    ls_rp_history_args(c, op, plan->num[3], cmd);
}

static void plan_set(const ls_redis_proto *p, const ls_rp_op *op, ls_rp_plan *plan) {
  const ls_redis_config *c = &p->cfg;
  if (op->step == STEP_RELOAD) {
    /* The WATCH is gone (EXEC cleared it), but the script compares the
     * version read at open: still a compare-and-set. */
    ls_rp_cmd_script_load(&plan->cmd[plan->n++]);
    plan_evalsha(p, op, plan);
  } else if (op->u.set.watch) {
    ls_rp_add(plan, 1, (const char *[]){"MULTI"}, NULL);
    plan_evalsha(p, op, plan);
    ls_rp_add(plan, 1, (const char *[]){"EXEC"}, NULL);
  } else {
    plan_evalsha(p, op, plan);
  }
  /* After EXEC: inside MULTI, WAIT returns at once. */
  snprintf(plan->num[0], sizeof(plan->num[0]), "%u", c->min_replicas);
  snprintf(plan->num[2], sizeof(plan->num[2]), "%u", c->replica_timeout_ms);
  if (c->wait_aof)
    ls_rp_add(plan, 4, (const char *[]){ls_rp_cmd_waitaof, "1", plan->num[0], plan->num[2]}, NULL);
  else if (c->min_replicas)
    ls_rp_add(plan, 3, (const char *[]){ls_rp_cmd_wait, plan->num[0], plan->num[2]}, NULL);
}

static void plan_state(const ls_redis_config *c, const ls_rp_op *op, ls_rp_plan *plan) {
  ls_rp_plan_state(c, op->key, op->key_len, op->log_id, op->log_id_len, plan);
}

void ls_rp_plan_next(const ls_redis_proto *p, ls_rp_op *op, ls_rp_plan *plan) {
  const ls_redis_config *c = &p->cfg;
  plan->n = 0;
  for (int i = 0; i < LS_RP_MAX_CMDS; i++)
    plan->cmd[i].xargv = NULL;
  switch (op->kind) {
  case LS_RP_CONNECT:
    plan_connect(c, plan);
    break;
  case LS_RP_INIT:
    ls_rp_plan_init(p, op, plan);
    break;
  case LS_RP_GET:
    plan_state(c, op, plan);
    break;
  case LS_RP_LOGS:
    ls_rp_add(plan, 2, (const char *[]){"SMEMBERS", c->key_logs}, (const size_t[]){8, c->key_logs_len});
    break;
  case LS_RP_OPEN:
    if (op->u.read.unwatch)
      ls_rp_add(plan, 1, (const char *[]){"UNWATCH"}, NULL);
    if (op->u.read.watch)
      ls_rp_add(plan, 2, (const char *[]){"WATCH", op->key}, (const size_t[]){5, op->key_len});
    plan_state(c, op, plan);
    if (op->hkey) /* settling: the history may tell what a lost set did */
      ls_rp_plan_history(op, ls_rp_settle_lookback(c), plan);
    break;
  case LS_RP_SET:
    plan_set(p, op, plan);
    break;
  case LS_RP_VERIFY:
    ls_rp_plan_walk(c, op, plan);
    break;
  case LS_RP_HISTORY:
    ls_rp_plan_history(op, op->u.history.max, plan);
    break;
  case LS_RP_CONFIG:
    ls_rp_plan_config(c, op, plan);
    break;
  }
}

/* --- judges ------------------------------------------------------------- */

static logstate_status judge_connect(const ls_redis_config *c, const redisReply *const *r) {
  char where[300];
  int i = 0;
  if (c->password) {
    if (r[i]->type == REDIS_REPLY_ERROR) {
      /* Any AUTH refusal is a permission problem, whatever its code. The
       * server's text never contains the password. */
      ls_redis_config_where(c, where, sizeof(where));
      return ls_err(LOGSTATE_PERMISSION_DENIED, "redis %s: authentication as %s failed: %.*s", where,
                    c->user ? c->user : "the default user", (int)(r[i]->len > 300 ? 300 : r[i]->len), r[i]->str);
    }
    i++;
  }
  if (c->db && r[i++]->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(c, r[i - 1], "SELECT", NULL, 0);
  if (r[i]->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(c, r[i], "PING", NULL, 0);
  logstate_status st = c->nseeds ? ls_rp_check_role(c, r[++i]) : LOGSTATE_OK;
  if (st == LOGSTATE_OK && c->store_id)
    st = ls_rp_check_store_id(c, r[++i]);
  if (st == LOGSTATE_OK && c->hist.client_name[0] && r[++i]->type == REDIS_REPLY_ERROR)
    st = ls_redis_reply_error(c, r[i], "CLIENT SETNAME", NULL, 0);
  return st;
}

static logstate_status judge_logs(const ls_redis_config *c, ls_rp_op *op, const redisReply *r) {
  if (r->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(c, r, "listing logs", c->key_logs, c->key_logs_len);
  if (r->type != REDIS_REPLY_ARRAY)
    return ls_redis_unexpected("SMEMBERS", r);
  if (r->elements == 0)
    return LOGSTATE_OK;
  ls_rp_logs *l = &op->u.logs;
  if ((l->ids = calloc(r->elements, sizeof(*l->ids))) == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory listing logs");
  for (size_t i = 0; i < r->elements; i++) {
    const redisReply *e = r->element[i];
    if (e->type != REDIS_REPLY_STRING || e->len == 0 || e->len > LOGSTATE_MAX_LOG_ID_LEN ||
        memchr(e->str, '\0', e->len))
      return ls_err(LOGSTATE_INTERNAL, "redis: the index %s holds a member that is not a valid log ID", c->key_logs);
    if ((l->ids[i] = ls_memdup(e->str, e->len)) == NULL)
      return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory listing logs");
    l->n = i + 1;
  }
  return LOGSTATE_OK;
}

/* Replies HMGET version checkpoint and SISMEMBER: the state, version 0 for
 * an absent log; INTERNAL for a hash that is incomplete or missing while
 * the index lists the log (damage, never "no checkpoint yet"). */
static logstate_status judge_state(const ls_redis_config *c, ls_rp_op *op, const redisReply *h, const redisReply *m) {
  char q[LS_QUOTE_BUFSZ];
  int listed = 0;
  logstate_status st = LOGSTATE_OK;
  logstate_backend_state *s = &op->u.read.state;
  int kind = ls_rp_classify(c, h, m, op->key, op->key_len, &listed, &s->version, &st);
  if (kind < 0)
    return st;
  if (kind == 0 && listed)
    return ls_err(LOGSTATE_INTERNAL,
                  "redis: the store is damaged: %s lists log %s, but its key %s is missing (restore it; do not "
                  "trust a first checkpoint)",
                  c->key_logs, ls_quote(q, sizeof(q), op->log_id, op->log_id_len), op->key);
  if (kind == 0)
    return LOGSTATE_OK; /* absent: version 0, no checkpoint */
  if (kind == 2)
    return ls_err(LOGSTATE_INTERNAL,
                  "redis: the store is damaged: key %s is corrupt: it needs a checkpoint and a positive version",
                  ls_quote(q, sizeof(q), op->key, op->key_len));
  const redisReply *cp = h->element[1];
  if ((s->cp = ls_memdup(cp->str, cp->len)) == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory copying a checkpoint");
  s->len = cp->len;
  return LOGSTATE_OK;
}

static logstate_status judge_open(const ls_redis_config *c, ls_rp_op *op, const redisReply *const *r, int n) {
  ls_rp_read *rd = &op->u.read;
  if (op->hkey && n > 2 && ls_rp_judge_history(c, op, r[--n], &rd->hist, &rd->nhist) != LOGSTATE_OK)
    ls_rp_history_end(op);        /* best effort: without it the outcome may stay unknown */
  for (int i = 0; i < n - 2; i++) /* UNWATCH, WATCH */
    if (r[i]->type == REDIS_REPLY_ERROR)
      return ls_redis_reply_error(c, r[i], i == n - 3 && rd->watch ? "WATCH" : "UNWATCH", op->key, op->key_len);
  return judge_state(c, op, r[n - 2], r[n - 1]);
}

static logstate_status judge_get(const ls_redis_config *c, ls_rp_op *op, const redisReply *const *r) {
  logstate_status st = judge_state(c, op, r[0], r[1]);
  if (st == LOGSTATE_OK && op->u.read.state.cp == NULL)
    return LOGSTATE_NOT_FOUND; /* its message is the core's (sync and async) */
  return st;
}

/* The script's CONFLICT reply carries the log's current state: the version
 * and, when there is one, the checkpoint (element 3). */
static logstate_status take_fresh(ls_rp_set *set, const redisReply *r) {
  const redisReply *cp = r->elements >= 3 ? r->element[2] : NULL;
  if (r->element[1]->integer < 0 || (cp && (cp->type != REDIS_REPLY_STRING || cp->len == 0)) ||
      ((cp != NULL) != (r->element[1]->integer > 0)))
    return LOGSTATE_OK; /* not a state this version knows: read again instead */
  if (cp && (set->now.cp = ls_memdup(cp->str, cp->len)) == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory copying a checkpoint");
  set->now.len = cp ? cp->len : 0;
  set->now.version = (uint64_t)r->element[1]->integer;
  set->fresh = 1;
  return LOGSTATE_OK;
}

/* The script's reply: {"OK", new version} or {"CONFLICT", current version
 * [, current checkpoint]}. */
static logstate_status judge_script(ls_redis_proto *p, ls_rp_op *op, const redisReply *r) {
  char q[LS_QUOTE_BUFSZ];
  if (r->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(&p->cfg, r, "set script", op->key, op->key_len);
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->element[0]->type != REDIS_REPLY_STRING ||
      r->element[1]->type != REDIS_REPLY_INTEGER)
    return ls_redis_unexpected("set script", r);
  const redisReply *s = r->element[0];
  if (s->len == 2 && memcmp(s->str, "OK", 2) == 0) {
    op->u.set.version = (uint64_t)r->element[1]->integer;
    return LOGSTATE_OK;
  }
  if (s->len == 8 && memcmp(s->str, "CONFLICT", 8) == 0) {
    logstate_status st = take_fresh(&op->u.set, r);
    if (st != LOGSTATE_OK)
      return st;
    return ls_err(LOGSTATE_ABORTED, "redis: log key %s changed since the transaction began (now at version %lld)",
                  ls_quote(q, sizeof(q), op->key, op->key_len), r->element[1]->integer);
  }
  return ls_redis_unexpected("set script", r);
}

/* WAITAOF's [local fsyncs, replica fsyncs]. */
static logstate_status judge_waitaof(const ls_redis_config *c, const redisReply *r) {
  if (r->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(c, r, "WAITAOF", NULL, 0);
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_INTEGER ||
      r->element[1]->type != REDIS_REPLY_INTEGER)
    return ls_redis_unexpected("WAITAOF", r);
  if (r->element[0]->integer < 1 || r->element[1]->integer < (long long)c->min_replicas)
    return ls_err(LOGSTATE_UNAVAILABLE,
                  "redis: the checkpoint is stored, but within %u ms it was fsynced %s and by only %lld of the %u "
                  "required replicas",
                  c->replica_timeout_ms, r->element[0]->integer < 1 ? "not locally" : "locally", r->element[1]->integer,
                  c->min_replicas);
  return LOGSTATE_OK;
}

static logstate_status judge_wait(const ls_redis_config *c, const redisReply *r) {
  if (c->wait_aof)
    return judge_waitaof(c, r);
  if (r->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(c, r, "WAIT for replicas", NULL, 0);
  if (r->type != REDIS_REPLY_INTEGER)
    return ls_redis_unexpected("WAIT", r);
  if (r->integer < (long long)c->min_replicas)
    return ls_err(LOGSTATE_UNAVAILABLE,
                  "redis: the checkpoint is stored on the primary, but only %lld of the %u required replicas "
                  "acknowledged it within %u ms",
                  r->integer, c->min_replicas, c->replica_timeout_ms);
  return LOGSTATE_OK;
}

static int is_noscript(const redisReply *r) {
  return r->type == REDIS_REPLY_ERROR && r->len >= 8 && memcmp(r->str, "NOSCRIPT", 8) == 0;
}

/* Replies: [SCRIPT LOAD] EVALSHA [WAIT], or MULTI QUEUED EXEC [WAIT]. */
static int judge_set(ls_redis_proto *p, ls_rp_op *op, const redisReply *const *r, logstate_status *st) {
  const ls_redis_config *c = &p->cfg;
  const redisReply *script;
  int next = 1;
  if (op->step == STEP_RELOAD) {
    if (r[0]->type == REDIS_REPLY_ERROR) {
      *st = ls_redis_reply_error(c, r[0], "SCRIPT LOAD", NULL, 0);
      return 1;
    }
    script = r[1];
    next = 2;
  } else if (op->u.set.watch) {
    const redisReply *multi = r[0], *queued = r[1], *exec = r[2];
    next = 3;
    if (multi->type == REDIS_REPLY_ERROR) {
      *st = ls_redis_reply_error(c, multi, "MULTI", NULL, 0);
      return 1;
    }
    if (exec->type == REDIS_REPLY_NIL) {
      *st = ls_err(LOGSTATE_ABORTED, "redis: another writer committed to this log since the transaction began");
      return 1;
    }
    if (exec->type == REDIS_REPLY_ERROR) { /* EXECABORT: the queued command's reply says why */
      *st = ls_redis_reply_error(c, queued->type == REDIS_REPLY_ERROR ? queued : exec, "setting a checkpoint", op->key,
                                 op->key_len);
      return 1;
    }
    if (exec->type != REDIS_REPLY_ARRAY || exec->elements != 1) {
      *st = ls_redis_unexpected("EXEC", exec);
      return 1;
    }
    script = exec->element[0];
  } else {
    script = r[0];
  }
  if (op->step == STEP_FIRST && is_noscript(script)) {
    /* Nothing was applied: load the script and run it again. */
    atomic_fetch_add(&p->script_reloads, 1);
    op->step = STEP_RELOAD;
    return 0;
  }
  *st = judge_script(p, op, script);
  if (*st == LOGSTATE_OK && (c->min_replicas || c->wait_aof))
    *st = judge_wait(c, r[next]);
  return 1;
}

int ls_rp_judge(ls_redis_proto *p, ls_rp_op *op, const redisReply *const *r, int n, logstate_status *st) {
  const ls_redis_config *c = &p->cfg;
  /* A keyed command that got MOVED did not run: note the slot's new owner,
   * and the driver may send the op there. */
  for (int i = 0; i < n; i++)
    if (ls_rp_note_moved(p, r[i]))
      op->redirected = 1;
  switch (op->kind) {
  case LS_RP_CONNECT:
    *st = judge_connect(c, r);
    return 1;
  case LS_RP_INIT:
    return ls_rp_judge_init(p, op, r, n, st);
  case LS_RP_GET:
    *st = judge_get(c, op, r);
    return 1;
  case LS_RP_LOGS:
    *st = judge_logs(c, op, r[0]);
    return 1;
  case LS_RP_OPEN:
    *st = judge_open(c, op, r, n);
    return 1;
  case LS_RP_SET:
    return judge_set(p, op, r, st);
  case LS_RP_VERIFY:
    return ls_rp_judge_walk(c, op, r, n, st);
  case LS_RP_HISTORY:
    *st = ls_rp_judge_history(c, op, r[0], &op->u.history.hist, &op->u.history.nhist);
    return 1;
  case LS_RP_CONFIG:
    return ls_rp_judge_config(c, op, r, n, st);
  }
  *st = ls_err(LOGSTATE_INTERNAL, "redis: unknown operation %d", (int)op->kind);
  return 1;
}

/* --- failures ----------------------------------------------------------- */

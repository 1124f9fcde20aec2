/* SPDX-License-Identifier: Apache-2.0 */
/* Log configurations on Redis (README "Key layout"): a hash per log,
 * {N}:config:<logID> (fields origin, vkey, contact, qpd, disabled,
 * added_ms, changed_ms, changed_by, reason), the index set {N}:configs of
 * the IDs, and the audit stream {N}:config-audit (fields log_id, origin,
 * disabled, at_ms, by, reason). Adds run lua/config_add.lua, disables and
 * enables lua/config_change.lua, both atomic; reads are HGETALL, SMEMBERS
 * and XREVRANGE. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "configs.h"
#include "redis/proto.h"

/* How many events the audit stream keeps (XADD MAXLEN, exact). */
#define AUDIT_MAX 10000
#define AUDIT_MAX_S "10000"

extern const char ls_lua_config_add[], ls_lua_config_change[];
extern const size_t ls_lua_config_add_len, ls_lua_config_change_len;

enum { STEP_FIRST = 0, STEP_LIST_READ = 1 };

/* --- begin and end ---------------------------------------------------------- */

/* Appends an argument to the op's own arrays. */
static void push(ls_rp_config *k, const char *s, size_t len) {
  k->argv[k->argc] = s;
  k->len[k->argc++] = len;
}

/* The config key of `id` into buf (at least key_config_prefix_len + 65). */
static size_t key_of(const ls_redis_config *c, const char *id, char *buf) {
  memcpy(buf, c->key_config_prefix, c->key_config_prefix_len);
  memcpy(buf + c->key_config_prefix_len, id, LOGSTATE_LOG_ID_HEX_LEN + 1);
  return c->key_config_prefix_len + LOGSTATE_LOG_ID_HEX_LEN;
}

/* EVAL config_add.lua with every entry: KEYS the index and the n hashes,
 * ARGV 7 per entry. The keys and numbers live in k->buf. */
static logstate_status begin_add(const ls_redis_config *c, ls_rp_config *k) {
  const ls_cfg_op *o = k->cfg;
  size_t keysz = c->key_config_prefix_len + LOGSTATE_LOG_ID_HEX_LEN + 1, numsz = 3 * 32;
  size_t args = 4 + o->n * 8;
  k->argv = malloc(args * sizeof(*k->argv));
  k->len = malloc(args * sizeof(*k->len));
  k->buf = malloc(o->n * (keysz + numsz));
  if (k->argv == NULL || k->len == NULL || k->buf == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
  snprintf(k->numkeys, sizeof(k->numkeys), "%zu", o->n + 1);
  push(k, "EVAL", 4);
  push(k, ls_lua_config_add, ls_lua_config_add_len);
  push(k, k->numkeys, strlen(k->numkeys));
  push(k, c->key_configs, c->key_configs_len);
  for (size_t i = 0; i < o->n; i++) {
    char *key = k->buf + i * keysz;
    push(k, key, key_of(c, o->add[i].log_id, key));
  }
  for (size_t i = 0; i < o->n; i++) {
    const logstate_log_entry *e = &o->add[i];
    char *num = k->buf + o->n * keysz + i * numsz;
    push(k, e->log_id, LOGSTATE_LOG_ID_HEX_LEN);
    push(k, e->origin, strlen(e->origin));
    push(k, e->vkey, strlen(e->vkey));
    push(k, e->contact ? e->contact : "", e->contact ? strlen(e->contact) : 0);
    int q = e->has_qpd ? snprintf(num, 32, "%.17g", e->qpd) : 0;
    push(k, num, (size_t)q);
    push(k, e->disabled ? "1" : "0", 1);
    int t = snprintf(num + 32, 32, "%lld", (long long)e->added_ms);
    push(k, num + 32, (size_t)t);
  }
  return LOGSTATE_OK;
}

logstate_status ls_rp_config_begin(const ls_redis_config *c, ls_rp_op *op) {
  ls_rp_config *k = &op->u.config;
  static const char *const what[] = {
      [LS_CFG_ADD] = "adding log configurations (they may or may not have been added: read again)",
      [LS_CFG_GET] = "reading a log configuration",
      [LS_CFG_LIST] = "listing log configurations",
      [LS_CFG_CHANGE] = "disabling or enabling a log (it may or may not have been done: read again)",
      [LS_CFG_HISTORY] = "reading the audit trail"};
  k->what = what[k->cfg->kind];
  if (k->cfg->kind == LS_CFG_ADD)
    return begin_add(c, k);
  if (k->cfg->kind == LS_CFG_GET || k->cfg->kind == LS_CFG_CHANGE) {
    if ((k->buf = malloc(c->key_config_prefix_len + LOGSTATE_LOG_ID_HEX_LEN + 1)) == NULL)
      return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
    k->buf_len = key_of(c, k->cfg->log_id, k->buf);
  }
  return LOGSTATE_OK;
}

void ls_rp_config_end(ls_rp_op *op) {
  ls_rp_config *k = &op->u.config;
  free(k->argv);
  free(k->len);
  free(k->buf);
  logstate_logs_free(k->ids, k->nids);
  ls_cfg_op *cfg = k->cfg;
  memset(k, 0, sizeof(*k));
  k->cfg = cfg;
}

/* --- plans ------------------------------------------------------------------- */

static void plan_list_read(const ls_redis_config *c, ls_rp_config *k, ls_rp_plan *plan) {
  for (size_t i = k->next; i < k->nids && plan->n < LS_RP_MAX_CMDS; i++) {
    ls_rp_cmd *cmd = &plan->cmd[plan->n++];
    cmd->argc = 0;
    ls_rp_arg(cmd, "HGETALL", 7);
    /* The key: prefix and ID, in the ID's own slot of k->buf. */
    char *key = k->buf + (i - k->next) * (c->key_config_prefix_len + LOGSTATE_LOG_ID_HEX_LEN + 1);
    ls_rp_arg(cmd, key, key_of(c, k->ids[i], key));
  }
}

void ls_rp_plan_config(const ls_redis_config *c, ls_rp_op *op, ls_rp_plan *plan) {
  ls_rp_config *k = &op->u.config;
  const ls_cfg_op *o = k->cfg;
  char *num = plan->num[0];
  switch (o->kind) {
  case LS_CFG_ADD:
    plan->cmd[0].argc = k->argc;
    plan->cmd[0].xargv = k->argv;
    plan->cmd[0].xlen = k->len;
    plan->n = 1;
    break;
  case LS_CFG_GET:
    ls_rp_add(plan, 2, (const char *[]){"HGETALL", k->buf}, (const size_t[]){7, k->buf_len});
    break;
  case LS_CFG_LIST:
    if (op->step == STEP_LIST_READ)
      plan_list_read(c, k, plan);
    else
      ls_rp_add(plan, 2, (const char *[]){"SMEMBERS", c->key_configs}, (const size_t[]){8, c->key_configs_len});
    break;
  case LS_CFG_CHANGE:
    snprintf(plan->num[1], sizeof(plan->num[1]), "%lld", (long long)o->ev.at_ms);
    ls_rp_add(plan, 11,
              (const char *[]){"EVAL", ls_lua_config_change, "2", k->buf, c->key_config_audit, o->log_id,
                               o->ev.disabled ? "1" : "0", plan->num[1], o->ev.by ? o->ev.by : c->hist.client_name,
                               o->ev.reason ? o->ev.reason : "", AUDIT_MAX_S},
              NULL);
    plan->cmd[0].len[1] = ls_lua_config_change_len;
    plan->cmd[0].len[3] = k->buf_len;
    break;
  case LS_CFG_HISTORY:
    snprintf(num, sizeof(plan->num[0]), "%zu", o->origin ? (size_t)AUDIT_MAX : o->max);
    ls_rp_add(plan, 6, (const char *[]){"XREVRANGE", c->key_config_audit, "+", "-", "COUNT", num}, NULL);
    break;
  }
}

/* --- one configuration's state, for VERIFY ------------------------------------ */

void ls_rp_plan_config_state(const ls_redis_config *c, const char *key, size_t key_len, const char *id,
                             ls_rp_plan *plan) {
  ls_rp_add(plan, 4, (const char *[]){"HMGET", key, "origin", "vkey"}, (const size_t[]){5, key_len, 6, 4});
  ls_rp_add(plan, 3, (const char *[]){"SISMEMBER", c->key_configs, id},
            (const size_t[]){9, c->key_configs_len, LOGSTATE_LOG_ID_HEX_LEN});
}

int ls_rp_judge_config_state(const ls_redis_config *c, const redisReply *h, const redisReply *m, const char *id,
                             int *listed, char *why, size_t why_size, logstate_status *st) {
  if (h->type == REDIS_REPLY_ERROR || m->type == REDIS_REPLY_ERROR) {
    *st = ls_redis_reply_error(c, h->type == REDIS_REPLY_ERROR ? h : m, "verifying log configurations", NULL, 0);
    return -1;
  }
  if (h->type != REDIS_REPLY_ARRAY || h->elements != 2 || m->type != REDIS_REPLY_INTEGER) {
    *st = ls_redis_unexpected("HMGET", h);
    return -1;
  }
  const redisReply *origin = h->element[0], *vkey = h->element[1];
  char want[LOGSTATE_LOG_ID_HEX_LEN + 1] = "", *o = NULL;
  *listed = m->integer == 1;
  if (origin->type == REDIS_REPLY_NIL && vkey->type == REDIS_REPLY_NIL)
    return 0;
  if (origin->type != REDIS_REPLY_STRING || vkey->type != REDIS_REPLY_STRING) {
    snprintf(why, why_size, "lacks its origin or its vkey");
    return 2;
  }
  if ((o = ls_memdup(origin->str, origin->len)) == NULL) {
    *st = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
    return -1;
  }
  int ok = logstate_log_id(o, want) == LOGSTATE_OK && strcmp(want, id) == 0;
  free(o);
  if (!ok)
    snprintf(why, why_size, "holds an origin whose log ID is not %s", id);
  return ok ? 1 : 2;
}

/* --- judges ------------------------------------------------------------------ */

static int field_is(const redisReply *f, const char *name) {
  return f->type == REDIS_REPLY_STRING && f->len == strlen(name) && memcmp(f->str, name, f->len) == 0;
}

static char *str_of(const redisReply *v, int *oom) {
  char *s = ls_memdup(v->str, v->len);
  *oom |= s == NULL;
  return s;
}

/* A hash's HGETALL (field, value, ...) into `e`, the ID given. A field
 * logstate does not write is ignored; a value of the wrong shape leaves
 * the entry without it, which ls_cfg_finish reports as damage. */
static logstate_status entry_of(const redisReply *h, const char *id, logstate_log_entry *e) {
  int oom = 0;
  memset(e, 0, sizeof(*e));
  snprintf(e->log_id, sizeof(e->log_id), "%s", id);
  for (size_t i = 0; i + 1 < h->elements; i += 2) {
    const redisReply *f = h->element[i], *v = h->element[i + 1];
    char *end = NULL;
    if (v->type != REDIS_REPLY_STRING)
      continue;
    if (field_is(f, "origin") && !e->origin)
      e->origin = str_of(v, &oom);
    else if (field_is(f, "vkey") && !e->vkey)
      e->vkey = str_of(v, &oom);
    else if (field_is(f, "contact") && !e->contact && v->len)
      e->contact = str_of(v, &oom);
    else if (field_is(f, "changed_by") && !e->changed_by && v->len)
      e->changed_by = str_of(v, &oom);
    else if (field_is(f, "reason") && !e->reason && v->len)
      e->reason = str_of(v, &oom);
    else if (field_is(f, "qpd") && v->len) {
      e->qpd = strtod(v->str, &end);
      e->has_qpd = 1;
      if (*end) /* not a number: damage */
        e->qpd = NAN;
    } else if (field_is(f, "disabled"))
      e->disabled = v->len == 1 && v->str[0] == '1';
    else if (field_is(f, "added_ms"))
      e->added_ms = strtoll(v->str, NULL, 10);
    else if (field_is(f, "changed_ms"))
      e->changed_ms = strtoll(v->str, NULL, 10);
  }
  if (!oom)
    return LOGSTATE_OK;
  ls_cfg_entry_release(e);
  return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
}

static int hash_reply(const redisReply *r) { return r->type == REDIS_REPLY_ARRAY && r->elements % 2 == 0; }

static logstate_status judge_add(const ls_redis_config *c, ls_rp_config *k, const redisReply *r) {
  ls_cfg_op *o = k->cfg;
  if (r->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(c, r, "adding log configurations", c->key_configs, c->key_configs_len);
  if (r->type != REDIS_REPLY_ARRAY || r->elements != o->n)
    return ls_redis_unexpected("config_add.lua", r);
  for (size_t i = 0; i < o->n; i++) {
    const redisReply *x = r->element[i];
    if (x->type == REDIS_REPLY_INTEGER && x->integer == 1)
      continue;
    if (!hash_reply(x))
      return ls_redis_unexpected("config_add.lua", x);
    if ((o->existing[i] = malloc(sizeof(logstate_log_entry))) == NULL)
      return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
    logstate_status st = entry_of(x, o->add[i].log_id, o->existing[i]);
    if (st != LOGSTATE_OK) {
      free(o->existing[i]);
      o->existing[i] = NULL;
      return st;
    }
  }
  return LOGSTATE_OK;
}

static logstate_status judge_get(const ls_redis_config *c, ls_rp_config *k, const redisReply *r) {
  ls_cfg_op *o = k->cfg;
  if (r->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(c, r, "reading a log configuration", k->buf, k->buf_len);
  if (!hash_reply(r))
    return ls_redis_unexpected("HGETALL", r);
  if (r->elements == 0)
    return LOGSTATE_NOT_FOUND; /* its message is the core's */
  if ((o->entries = malloc(sizeof(*o->entries))) == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
  logstate_status st = entry_of(r, o->log_id, o->entries);
  o->nentries = st == LOGSTATE_OK;
  return st;
}

/* SMEMBERS of the index: the IDs to read, checked. 1 when done (none). */
static int judge_index(const ls_redis_config *c, ls_rp_op *op, const redisReply *r, logstate_status *st) {
  ls_rp_config *k = &op->u.config;
  size_t keysz = c->key_config_prefix_len + LOGSTATE_LOG_ID_HEX_LEN + 1;
  *st = LOGSTATE_OK;
  ls_rp_config_end(op); /* what a run before a restart left */
  logstate_log_entries_free(k->cfg->entries, k->cfg->nentries);
  k->cfg->entries = NULL;
  k->cfg->nentries = 0;
  if (r->type == REDIS_REPLY_ERROR)
    *st = ls_redis_reply_error(c, r, "listing log configurations", c->key_configs, c->key_configs_len);
  else if (r->type != REDIS_REPLY_ARRAY)
    *st = ls_redis_unexpected("SMEMBERS", r);
  else if (r->elements && ((k->ids = calloc(r->elements, sizeof(*k->ids))) == NULL ||
                           (k->cfg->entries = calloc(r->elements, sizeof(*k->cfg->entries))) == NULL ||
                           (k->buf = malloc(LS_RP_MAX_CMDS * keysz)) == NULL))
    *st = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
  for (size_t i = 0; *st == LOGSTATE_OK && i < r->elements; i++) {
    const redisReply *e = r->element[i];
    if (e->type != REDIS_REPLY_STRING || e->len != LOGSTATE_LOG_ID_HEX_LEN ||
        strspn(e->str, "0123456789abcdef") != LOGSTATE_LOG_ID_HEX_LEN)
      *st = ls_err(LOGSTATE_INTERNAL, "redis: the index %s holds a member that is not a log ID", c->key_configs);
    else if ((k->ids[i] = ls_memdup(e->str, e->len)) == NULL)
      *st = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
    else
      k->nids = i + 1;
  }
  op->step = STEP_LIST_READ;
  return *st != LOGSTATE_OK || k->nids == 0;
}

/* A round of HGETALLs: each one's entry; 1 when every ID is read. */
static int judge_list_read(const ls_redis_config *c, ls_rp_config *k, const redisReply *const *r, int n,
                           logstate_status *st) {
  ls_cfg_op *o = k->cfg;
  char q[LS_QUOTE_BUFSZ];
  *st = LOGSTATE_OK;
  for (int j = 0; j < n && *st == LOGSTATE_OK; j++, k->next++) {
    if (r[j]->type == REDIS_REPLY_ERROR)
      *st = ls_redis_reply_error(c, r[j], "listing log configurations", NULL, 0);
    else if (!hash_reply(r[j]))
      *st = ls_redis_unexpected("HGETALL", r[j]);
    else if (r[j]->elements == 0) /* added in one atomic step with its hash */
      *st = ls_err(LOGSTATE_INTERNAL,
                   "redis: the store is damaged: %s lists log configuration %s, but its hash is missing",
                   c->key_configs, ls_quote(q, sizeof(q), k->ids[k->next], LOGSTATE_LOG_ID_HEX_LEN));
    else if ((*st = entry_of(r[j], k->ids[k->next], &o->entries[o->nentries])) == LOGSTATE_OK)
      o->nentries++;
  }
  return *st != LOGSTATE_OK || k->next == k->nids;
}

static logstate_status judge_change(const ls_redis_config *c, ls_rp_config *k, const redisReply *r) {
  if (r->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(c, r, "disabling or enabling a log", k->buf, k->buf_len);
  if (r->type != REDIS_REPLY_INTEGER || r->integer < 0 || r->integer > 2)
    return ls_redis_unexpected("config_change.lua", r);
  k->cfg->changed = r->integer == 2;
  return r->integer == 0 ? LOGSTATE_NOT_FOUND : LOGSTATE_OK;
}

/* One stream entry, [ID, [field, value, ...]], into `e`: 0 when it is not
 * one config_change.lua writes. */
static int event_of(const redisReply *x, logstate_config_event *e, int *oom) {
  if (x->type != REDIS_REPLY_ARRAY || x->elements != 2 || x->element[1]->type != REDIS_REPLY_ARRAY)
    return 0;
  const redisReply *f = x->element[1];
  memset(e, 0, sizeof(*e));
  int id = 0, state = 0;
  for (size_t i = 0; i + 1 < f->elements; i += 2) {
    const redisReply *v = f->element[i + 1];
    if (v->type != REDIS_REPLY_STRING)
      continue;
    if (field_is(f->element[i], "log_id") && v->len == LOGSTATE_LOG_ID_HEX_LEN) {
      memcpy(e->log_id, v->str, v->len);
      id = 1;
    } else if (field_is(f->element[i], "origin") && !e->origin)
      e->origin = str_of(v, oom);
    else if (field_is(f->element[i], "disabled")) {
      e->disabled = v->len == 1 && v->str[0] == '1';
      state = 1;
    } else if (field_is(f->element[i], "at_ms"))
      e->at_ms = strtoll(v->str, NULL, 10);
    else if (field_is(f->element[i], "by") && !e->by)
      e->by = str_of(v, oom);
    else if (field_is(f->element[i], "reason") && !e->reason)
      e->reason = str_of(v, oom);
  }
  if (id && state && e->origin)
    return 1;
  ls_cfg_event_release(e);
  return 0;
}

static logstate_status judge_history(const ls_redis_config *c, ls_rp_config *k, const redisReply *r) {
  ls_cfg_op *o = k->cfg;
  if (r->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(c, r, "reading the audit trail", c->key_config_audit, c->key_config_audit_len);
  if (r->type != REDIS_REPLY_ARRAY)
    return ls_redis_unexpected("XREVRANGE", r);
  size_t want = r->elements < o->max ? r->elements : o->max;
  if (want && (o->events = calloc(want, sizeof(*o->events))) == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
  for (size_t i = 0; i < r->elements && o->nevents < want; i++) {
    int oom = 0;
    logstate_config_event *e = &o->events[o->nevents];
    if (!event_of(r->element[i], e, &oom))
      return oom ? ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory")
                 : ls_err(LOGSTATE_INTERNAL, "redis: the audit stream %s holds an entry logstate did not write",
                          c->key_config_audit);
    if (o->origin && strcmp(e->log_id, o->log_id) != 0)
      ls_cfg_event_release(e);
    else
      o->nevents++;
  }
  return LOGSTATE_OK;
}

int ls_rp_judge_config(const ls_redis_config *c, ls_rp_op *op, const redisReply *const *r, int n, logstate_status *st) {
  ls_rp_config *k = &op->u.config;
  switch (k->cfg->kind) {
  case LS_CFG_ADD:
    *st = judge_add(c, k, r[0]);
    return 1;
  case LS_CFG_GET:
    *st = judge_get(c, k, r[0]);
    return 1;
  case LS_CFG_LIST:
    return op->step == STEP_LIST_READ ? judge_list_read(c, k, r, n, st) : judge_index(c, op, r[0], st);
  case LS_CFG_CHANGE:
    *st = judge_change(c, k, r[0]);
    return 1;
  case LS_CFG_HISTORY:
    *st = judge_history(c, k, r[0]);
    return 1;
  }
  *st = ls_err(LOGSTATE_INTERNAL, "redis: unknown log configuration operation");
  return 1;
}

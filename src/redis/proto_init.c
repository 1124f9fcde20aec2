/* SPDX-License-Identifier: Apache-2.0 */
/* The init op: what logstate_init() asks the server and how it judges the
 * answers (server version, schema key, the set script, and the settings
 * that decide whether an acknowledged write survives a crash). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "redis/proto.h"

/* "name:value" from an INFO section, into buf. */
static int info_field(const redisReply *r, const char *name, char *buf, size_t bufsz) {
  if (r == NULL || r->type != REDIS_REPLY_STRING)
    return 0;
  size_t n = strlen(name);
  for (const char *p = r->str; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    if (strncmp(p, name, n) == 0 && p[n] == ':') {
      size_t v = strcspn(p + n + 1, "\r\n");
      snprintf(buf, bufsz, "%.*s", (int)v, p + n + 1);
      return 1;
    }
  }
  return 0;
}

/* CONFIG GET's value: 1 and buf filled; 0 when refused or unknown (the
 * reason in why). */
static int config_value(const redisReply *r, char *buf, size_t bufsz, char *why, size_t whysz) {
  if (r->type == REDIS_REPLY_ERROR) {
    snprintf(why, whysz, "CONFIG GET refused: %.*s", (int)(r->len > 200 ? 200 : r->len), r->str);
    return 0;
  }
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[1]->type != REDIS_REPLY_STRING) {
    snprintf(why, whysz, "CONFIG GET gave no value");
    return 0;
  }
  snprintf(buf, bufsz, "%.*s", (int)r->element[1]->len, r->element[1]->str);
  return 1;
}

#define MIN_REDIS_MAJOR 5

/* Step 0 of init reads and checks, and writes nothing: the server version,
 * the namespace's meta (schema, store_id) and, unless durability=ignore,
 * the settings that decide whether an acknowledged write survives a crash.
 * Only when all of it is acceptable does step 1 write: the schema, a new
 * store_id and created_ms where missing (HSETNX), and the set script. */
enum { R_INFO_SERVER, R_META, R_APPENDONLY, R_APPENDFSYNC, R_INFO_PERSIST, R_EVICTION };
enum { W_SCHEMA, W_STORE_ID, W_CREATED, W_GET_ID, W_SCRIPT_LOAD };

void ls_rp_plan_init(const ls_redis_proto *p, ls_rp_op *op, ls_rp_plan *plan) {
  const ls_redis_config *c = &p->cfg;
  ls_rp_cmd *cmd = plan->cmd;
  if (op->step == 1) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(plan->num[0], sizeof(plan->num[0]), "%lld", (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
    ls_rp_cmd_set(&cmd[W_SCHEMA], 4, (const char *[]){"HSETNX", c->key_meta, "schema", "1"}, NULL);
    ls_rp_cmd_set(&cmd[W_STORE_ID], 4, (const char *[]){"HSETNX", c->key_meta, "store_id", op->u.store_id}, NULL);
    ls_rp_cmd_set(&cmd[W_CREATED], 4, (const char *[]){"HSETNX", c->key_meta, "created_ms", plan->num[0]}, NULL);
    ls_rp_cmd_set(&cmd[W_GET_ID], 3, (const char *[]){"HGET", c->key_meta, "store_id"}, NULL);
    ls_rp_cmd_script_load(&cmd[W_SCRIPT_LOAD]);
    plan->n = 5;
    return;
  }
  ls_rp_cmd_set(&cmd[R_INFO_SERVER], 2, (const char *[]){"INFO", "server"}, NULL);
  ls_rp_cmd_set(&cmd[R_META], 4, (const char *[]){"HMGET", c->key_meta, "schema", "store_id"}, NULL);
  plan->n = 2;
  if (c->durability == LOGSTATE_REDIS_DURABILITY_IGNORE)
    return;
  ls_rp_cmd_set(&cmd[R_APPENDONLY], 3, (const char *[]){"CONFIG", "GET", "appendonly"}, NULL);
  ls_rp_cmd_set(&cmd[R_APPENDFSYNC], 3, (const char *[]){"CONFIG", "GET", "appendfsync"}, NULL);
  ls_rp_cmd_set(&cmd[R_INFO_PERSIST], 2, (const char *[]){"INFO", "persistence"}, NULL);
  ls_rp_cmd_set(&cmd[R_EVICTION], 3, (const char *[]){"CONFIG", "GET", "maxmemory-policy"}, NULL);
  plan->n = 6;
}

static logstate_status judge_durability(ls_redis_proto *p, const redisReply *const *rr, int n);
static size_t durability_problems(const redisReply *const *rr, char *problems, size_t psize);

#define LS_NAMESPACE_BUFSZ 280 /* "namespace " and a prefix of at most 256 bytes */
static const char *namespace_of(const ls_redis_config *c, char *buf, size_t n) {
  snprintf(buf, n, "namespace %s", c->prefix);
  return buf;
}

/* The namespace's meta: refused when of another schema, when missing and
 * not to be created, or when a pinned store_id is missing or differs. */
static logstate_status judge_meta(ls_redis_proto *p, const redisReply *m) {
  const ls_redis_config *c = &p->cfg;
  char q[LS_QUOTE_BUFSZ];
  if (m->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(c, m, "reading the meta key", c->key_meta, c->key_meta_len);
  if (m->type != REDIS_REPLY_ARRAY || m->elements != 2)
    return ls_redis_unexpected("HMGET meta", m);
  const redisReply *schema = m->element[0], *id = m->element[1];
  if (schema->type == REDIS_REPLY_STRING && (schema->len != 1 || schema->str[0] != '1'))
    return ls_err(LOGSTATE_FAILED_PRECONDITION,
                  "redis: %s has schema %s; this version of logstate knows schema 1 only (is the prefix shared with "
                  "another application, or was the store written by a newer logstate?)",
                  c->key_meta, ls_quote(q, sizeof(q), schema->str, schema->len));
  char ns[LS_NAMESPACE_BUFSZ];
  if (schema->type != REDIS_REPLY_STRING && (!c->create || c->read_only))
    return ls_store_absent("redis", namespace_of(c, ns, sizeof(ns)), "its meta key is missing", c->read_only);
  return ls_rp_check_store_id(c, id);
}

logstate_status ls_rp_check_store_id(const ls_redis_config *c, const redisReply *id) {
  if (c->store_id && id->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(c, id, "reading the store_id", c->key_meta, c->key_meta_len);
  int has = id->type == REDIS_REPLY_STRING;
  char ns[LS_NAMESPACE_BUFSZ];
  return ls_store_id_compare("redis", namespace_of(c, ns, sizeof(ns)), c->store_id, has ? id->str : NULL,
                             has ? id->len : 0);
}

/* Keeps the store_id init read, for logstate_describe (once). */
static void keep_store_id(ls_redis_proto *p, const redisReply *id) {
  if (id->type == REDIS_REPLY_STRING && id->len < sizeof(p->store_id) && atomic_load(&p->has_store_id) == 0) {
    memcpy(p->store_id, id->str, id->len);
    p->store_id[id->len] = '\0';
    atomic_store(&p->has_store_id, 1);
  }
}

static int judge_checks(ls_redis_proto *p, ls_rp_op *op, const redisReply *const *rr, int n, logstate_status *st) {
  char buf[128];
  if (rr[R_INFO_SERVER]->type == REDIS_REPLY_ERROR) {
    *st = ls_redis_reply_error(&p->cfg, rr[R_INFO_SERVER], "INFO server", NULL, 0);
    return 1;
  }
  if (!info_field(rr[R_INFO_SERVER], "redis_version", buf, sizeof(buf))) {
    *st = ls_err(LOGSTATE_INTERNAL, "redis: INFO server has no redis_version");
    return 1;
  }
  if (atoi(buf) < MIN_REDIS_MAJOR) {
    *st = ls_err(LOGSTATE_FAILED_PRECONDITION,
                 "redis: server version %s is too old; logstate needs Redis %d.0 or later", buf, MIN_REDIS_MAJOR);
    return 1;
  }
  int major = 0, minor = 0;
  sscanf(buf, "%d.%d", &major, &minor);
  if (p->cfg.wait_aof && (major < 7 || (major == 7 && minor < 2))) {
    *st = ls_err(LOGSTATE_FAILED_PRECONDITION,
                 "redis: wait_aof=yes needs WAITAOF, which arrived in Redis 7.2; this server is %s. Use "
                 "min_replicas alone (WAIT: the replicas received the set, not yet fsynced), or a newer server",
                 buf);
    return 1;
  }
  if ((*st = judge_meta(p, rr[R_META])) != LOGSTATE_OK || (*st = judge_durability(p, rr, n)) != LOGSTATE_OK)
    return 1;
  if (p->cfg.read_only) { /* checked, and nothing to write */
    keep_store_id(p, rr[R_META]->element[1]);
    return 1;
  }
  if (!ls_store_id_new(op->u.store_id)) {
    *st = ls_err(LOGSTATE_INTERNAL, "redis: cannot read /dev/urandom for a new store_id");
    return 1;
  }
  op->step = 1; /* everything checked: now write */
  return 0;
}

static logstate_status judge_writes(ls_redis_proto *p, const redisReply *const *rr) {
  const ls_redis_config *c = &p->cfg;
  static const char *const what[] = {"writing the schema", "writing the store_id", "writing created_ms",
                                     "reading the store_id", "SCRIPT LOAD of the set script"};
  for (int i = 0; i < 5; i++)
    if (rr[i]->type == REDIS_REPLY_ERROR)
      return ls_redis_reply_error(c, rr[i], what[i], i < 4 ? c->key_meta : NULL, c->key_meta_len);
  const redisReply *id = rr[W_GET_ID], *s = rr[W_SCRIPT_LOAD];
  if (s->type != REDIS_REPLY_STRING || s->len != 40 || strncasecmp(s->str, ls_lua_set_sha1, 40) != 0)
    return ls_err(LOGSTATE_INTERNAL, "redis: SCRIPT LOAD returned an unexpected SHA1 for the set script");
  logstate_status st = ls_rp_check_store_id(c, id); /* another process may have created it meanwhile */
  if (st == LOGSTATE_OK)
    keep_store_id(p, id);
  return st;
}

int ls_rp_judge_init(ls_redis_proto *p, ls_rp_op *op, const redisReply *const *rr, int n, logstate_status *st) {
  if (op->step == 0)
    return judge_checks(p, op, rr, n, st);
  *st = judge_writes(p, rr);
  return 1;
}

/* The durability replies of step 0 (none with durability=ignore). */
static logstate_status judge_durability(ls_redis_proto *p, const redisReply *const *rr, int n) {
  const ls_redis_config *c = &p->cfg;
  if (n != 6) {
    atomic_store(&p->durability, LOGSTATE_DURABILITY_UNKNOWN);
    return LOGSTATE_OK;
  }
  char problems[900] = "";
  if (durability_problems(rr, problems, sizeof(problems)) == 0) {
    atomic_store(&p->durability, LOGSTATE_DURABILITY_VERIFIED);
    return LOGSTATE_OK;
  }
  if (c->durability == LOGSTATE_REDIS_DURABILITY_WARN || c->read_only) { /* a reader loses nothing */
    if (!c->read_only)
      ls_redis_log(c, "redis: the server may lose acknowledged writes: %s", problems);
    atomic_store(&p->durability, LOGSTATE_DURABILITY_AT_RISK);
    return LOGSTATE_OK;
  }
  return ls_err(LOGSTATE_FAILED_PRECONDITION,
                "redis: the server may lose acknowledged writes, which a witness must never do: %s. Change redis.conf "
                "(or CONFIG SET), or open with durability=warn to accept the risk",
                problems);
}

/* What in the durability replies may lose an acknowledged write, as
 * "; "-separated advice in `problems`; returns its length (0: none). */
static size_t durability_problems(const redisReply *const *rr, char *problems, size_t psize) {
  char buf[128];
  size_t pn = 0;
#define PROBLEM(...)                                                                                                   \
  do {                                                                                                                 \
    if (pn < psize)                                                                                                    \
      pn += (size_t)snprintf(problems + pn, psize - pn, "%s", pn ? "; " : "");                                         \
    if (pn < psize)                                                                                                    \
      pn += (size_t)snprintf(problems + pn, psize - pn, __VA_ARGS__);                                                  \
  } while (0)
  char why[300];
  char aof_status[32];
  if (config_value(rr[R_APPENDONLY], buf, sizeof(buf), why, sizeof(why))) {
    if (strcmp(buf, "yes") != 0)
      PROBLEM("appendonly is %s: set 'appendonly yes'", buf);
  } else {
    /* Without CONFIG GET, INFO persistence still tells whether AOF is on. */
    if (!info_field(rr[R_INFO_PERSIST], "aof_enabled", buf, sizeof(buf)))
      PROBLEM("could not verify appendonly (%s; INFO persistence unavailable)", why);
    else if (strcmp(buf, "1") != 0)
      PROBLEM("the append-only file is off (INFO persistence aof_enabled:%s): set 'appendonly yes'", buf);
  }
  if (config_value(rr[R_APPENDFSYNC], buf, sizeof(buf), why, sizeof(why))) {
    if (strcmp(buf, "always") != 0)
      PROBLEM("appendfsync is %s: set 'appendfsync always'", buf);
  } else {
    PROBLEM("could not verify appendfsync (%s): grant the user +config|get, or open with durability=warn", why);
  }
  /* An allkeys-* policy may evict a checkpoint: a silent rollback. */
  if (config_value(rr[R_EVICTION], buf, sizeof(buf), why, sizeof(why)) && strncmp(buf, "allkeys-", 8) == 0)
    PROBLEM("maxmemory-policy is %s, which may evict checkpoints: set 'maxmemory-policy noeviction'", buf);
  if (info_field(rr[R_INFO_PERSIST], "aof_last_write_status", aof_status, sizeof(aof_status)) &&
      strcmp(aof_status, "ok") != 0)
    PROBLEM("the last append-only file write failed (aof_last_write_status:%s)", aof_status);
#undef PROBLEM
  return pn;
}

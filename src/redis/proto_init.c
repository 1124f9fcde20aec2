/* SPDX-License-Identifier: Apache-2.0 */
/* The init op: what logstate_init() asks the server and how it judges the
 * answers (server version, schema key, the set script, and the settings
 * that decide whether an acknowledged write survives a crash). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* The init pipeline, in this order; the last four only when durability is
 * checked. */
enum {
  R_INFO_SERVER,
  R_META_SETNX,
  R_META_GET,
  R_SCRIPT_LOAD,
  R_APPENDONLY,
  R_APPENDFSYNC,
  R_INFO_PERSIST,
  R_EVICTION
};

static size_t durability_problems(const redisReply *const *rr, char *problems, size_t psize);

void ls_rp_plan_init(const ls_redis_proto *p, ls_rp_plan *plan) {
  const ls_redis_config *c = &p->cfg;
  ls_rp_cmd *cmd = plan->cmd;
  ls_rp_cmd_set(&cmd[R_INFO_SERVER], 2, (const char *[]){"INFO", "server"}, NULL);
  ls_rp_cmd_set(&cmd[R_META_SETNX], 4, (const char *[]){"HSETNX", c->key_meta, "schema", "1"}, NULL);
  ls_rp_cmd_set(&cmd[R_META_GET], 3, (const char *[]){"HGET", c->key_meta, "schema"}, NULL);
  ls_rp_cmd_script_load(&cmd[R_SCRIPT_LOAD]);
  plan->n = 4;
  if (c->durability == LOGSTATE_REDIS_DURABILITY_IGNORE)
    return;
  ls_rp_cmd_set(&cmd[R_APPENDONLY], 3, (const char *[]){"CONFIG", "GET", "appendonly"}, NULL);
  ls_rp_cmd_set(&cmd[R_APPENDFSYNC], 3, (const char *[]){"CONFIG", "GET", "appendfsync"}, NULL);
  ls_rp_cmd_set(&cmd[R_INFO_PERSIST], 2, (const char *[]){"INFO", "persistence"}, NULL);
  ls_rp_cmd_set(&cmd[R_EVICTION], 3, (const char *[]){"CONFIG", "GET", "maxmemory-policy"}, NULL);
  plan->n = 8;
}

logstate_status ls_rp_judge_init(ls_redis_proto *p, const redisReply *const *rr, int n) {
  const ls_redis_config *c = &p->cfg;
  int durable = n == 8; /* the durability replies are there */
  char buf[128], q[LS_QUOTE_BUFSZ];
  /* Permission and availability errors first: they explain the rest. */
  const redisReply *all[] = {rr[R_INFO_SERVER], rr[R_META_SETNX], rr[R_META_GET], rr[R_SCRIPT_LOAD]};
  const char *what[] = {"INFO server", "writing the schema to the meta key", "reading the meta key",
                        "SCRIPT LOAD of the set script"};
  for (size_t i = 0; i < 4; i++)
    if (all[i]->type == REDIS_REPLY_ERROR)
      return ls_redis_reply_error(c, all[i], what[i], i == 1 || i == 2 ? c->key_meta : NULL, c->key_meta_len);

  if (!info_field(rr[R_INFO_SERVER], "redis_version", buf, sizeof(buf)))
    return ls_err(LOGSTATE_INTERNAL, "redis: INFO server has no redis_version");
  if (atoi(buf) < MIN_REDIS_MAJOR)
    return ls_err(LOGSTATE_FAILED_PRECONDITION,
                  "redis: server version %s is too old; logstate needs Redis %d.0 or later", buf, MIN_REDIS_MAJOR);

  const redisReply *m = rr[R_META_GET];
  if (m->type != REDIS_REPLY_STRING)
    return ls_redis_unexpected("HGET schema", m);
  if (m->len != 1 || m->str[0] != '1')
    return ls_err(LOGSTATE_FAILED_PRECONDITION,
                  "redis: %s has schema %s; this version of logstate knows schema 1 only (is the prefix shared with "
                  "another application, or was the store written by a newer logstate?)",
                  c->key_meta, ls_quote(q, sizeof(q), m->str, m->len));

  const redisReply *s = rr[R_SCRIPT_LOAD];
  if (s->type != REDIS_REPLY_STRING || s->len != 40 || strncasecmp(s->str, ls_lua_set_sha1, 40) != 0)
    return ls_err(LOGSTATE_INTERNAL, "redis: SCRIPT LOAD returned an unexpected SHA1 for the set script");

  if (!durable) {
    atomic_store(&p->durability, LOGSTATE_DURABILITY_UNKNOWN);
    return LOGSTATE_OK;
  }
  char problems[900] = "";
  if (durability_problems(rr, problems, sizeof(problems)) == 0) {
    atomic_store(&p->durability, LOGSTATE_DURABILITY_VERIFIED);
    return LOGSTATE_OK;
  }
  if (c->durability == LOGSTATE_REDIS_DURABILITY_WARN) {
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

/* SPDX-License-Identifier: Apache-2.0 */
/* Where the primary is. With one configured server that is the server;
 * with redis+sentinel it is what a sentinel named last (SENTINEL
 * get-master-addr-by-name), confirmed by ROLE on each new connection. The
 * address carries a generation: a driver that finds its server gone, a
 * replica (ROLE) or READONLY marks that generation lost, so every
 * connection made to it is dropped and the next connection asks the
 * sentinels again. Both drivers share this; the commands and the judging of
 * their replies are here and nowhere else. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/proto.h"

void ls_rp_proto_init(ls_redis_proto *p) {
  ls_rp_target *t = &p->target;
  pthread_mutex_init(&t->mu, NULL);
  t->gen = 1;
  t->known = p->cfg.master_name == NULL;
  if (t->known && p->cfg.host) {
    snprintf(t->host, sizeof(t->host), "%s", p->cfg.host);
    t->port = p->cfg.port;
  }
}

void ls_rp_proto_destroy(ls_redis_proto *p) {
  pthread_mutex_destroy(&p->target.mu);
  ls_redis_config_free(&p->cfg);
}

int ls_rp_target_get(ls_redis_proto *p, char host[LS_REDIS_MAX_HOST_LEN + 1], unsigned int *port, uint64_t *gen) {
  ls_rp_target *t = &p->target;
  pthread_mutex_lock(&t->mu);
  int known = t->known;
  memcpy(host, t->host, sizeof(t->host));
  *port = t->port;
  *gen = t->gen;
  pthread_mutex_unlock(&t->mu);
  return known;
}

int ls_rp_target_current(ls_redis_proto *p, uint64_t gen) {
  pthread_mutex_lock(&p->target.mu);
  int same = p->target.gen == gen;
  pthread_mutex_unlock(&p->target.mu);
  return same;
}

void ls_rp_target_lost(ls_redis_proto *p, uint64_t gen) {
  ls_rp_target *t = &p->target;
  if (p->cfg.master_name == NULL)
    return; /* one configured server: nothing to find again */
  pthread_mutex_lock(&t->mu);
  if (t->gen == gen && t->known) {
    t->known = 0;
    t->gen++;
  }
  pthread_mutex_unlock(&t->mu);
}

static void target_found(ls_redis_proto *p, const char *host, size_t host_len, unsigned int port) {
  ls_rp_target *t = &p->target;
  pthread_mutex_lock(&t->mu);
  if (!t->known || t->port != port || strlen(t->host) != host_len || memcmp(t->host, host, host_len) != 0) {
    memcpy(t->host, host, host_len);
    t->host[host_len] = '\0';
    t->port = port;
    t->gen++;
  }
  t->known = 1;
  pthread_mutex_unlock(&t->mu);
}

/* --- asking a sentinel -------------------------------------------------- */

void ls_rp_plan_discover(const ls_redis_config *c, ls_rp_plan *plan) {
  int n = 0;
  if (c->sentinel_password && c->sentinel_user)
    ls_rp_cmd_set(&plan->cmd[n++], 3, (const char *[]){"AUTH", c->sentinel_user, c->sentinel_password}, NULL);
  else if (c->sentinel_password)
    ls_rp_cmd_set(&plan->cmd[n++], 2, (const char *[]){"AUTH", c->sentinel_password}, NULL);
  ls_rp_cmd_set(&plan->cmd[n++], 3, (const char *[]){"SENTINEL", "get-master-addr-by-name", c->master_name}, NULL);
  plan->n = n;
}

logstate_status ls_rp_judge_discover(ls_redis_proto *p, const redisReply *const *r, int n) {
  const ls_redis_config *c = &p->cfg;
  const redisReply *a = r[n - 1];
  unsigned int port;
  if (n == 2 && r[0]->type == REDIS_REPLY_ERROR) /* never the password: the server's text only */
    return ls_err(LOGSTATE_PERMISSION_DENIED, "authentication failed: %.*s", (int)(r[0]->len > 200 ? 200 : r[0]->len),
                  r[0]->str);
  if (a->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(c, a, "SENTINEL get-master-addr-by-name", NULL, 0);
  if (a->type == REDIS_REPLY_NIL)
    return ls_err(LOGSTATE_UNAVAILABLE, "it does not monitor a master named %s", c->master_name);
  if (a->type != REDIS_REPLY_ARRAY || a->elements != 2 || a->element[0]->type != REDIS_REPLY_STRING ||
      a->element[1]->type != REDIS_REPLY_STRING || a->element[0]->len == 0 ||
      a->element[0]->len > LS_REDIS_MAX_HOST_LEN ||
      !ls_parse_uint(a->element[1]->str, a->element[1]->len, 65535, &port) || port == 0)
    return ls_redis_unexpected("SENTINEL get-master-addr-by-name", a);
  target_found(p, a->element[0]->str, a->element[0]->len, port);
  return LOGSTATE_OK;
}

/* ROLE's first element: "master" on a primary. */
logstate_status ls_rp_check_role(const ls_redis_config *c, const redisReply *r) {
  if (r->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(c, r, "ROLE", NULL, 0);
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING)
    return ls_redis_unexpected("ROLE", r);
  const redisReply *role = r->element[0];
  if (role->len == 6 && memcmp(role->str, "master", 6) == 0)
    return LOGSTATE_OK;
  return ls_err(LOGSTATE_UNAVAILABLE,
                "redis sentinel master %s: the server the sentinels named is a %.*s, not the primary (a failover "
                "is under way; retry)",
                c->master_name, (int)(role->len > 20 ? 20 : role->len), role->str);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Where the primary is. With one configured server that is the server;
 * with redis+sentinel it is what a sentinel named last (SENTINEL
 * get-master-addr-by-name); with redis+cluster it is the primary that owns
 * the namespace's slot, as a cluster node said last (CLUSTER KEYSLOT and
 * CLUSTER SLOTS) or as a MOVED reply names it. ROLE confirms it on each new
 * connection. The address carries a generation: a driver that finds its
 * server gone, a replica (ROLE) or READONLY marks that generation lost, so
 * every connection made to it is dropped and the next connection asks the
 * seeds (sentinels or cluster nodes) again. Both drivers share this; the
 * commands and the judging of their replies are here and nowhere else. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/proto.h"

void ls_rp_proto_init(ls_redis_proto *p) {
  ls_rp_target *t = &p->target;
  pthread_mutex_init(&t->mu, NULL);
  t->gen = 1;
  t->known = p->cfg.nseeds == 0;
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
  if (p->cfg.nseeds == 0)
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

/* --- asking the seeds ---------------------------------------------------- */

const char *ls_rp_seed_kind(const ls_redis_config *c) { return c->cluster ? "cluster node" : "sentinel"; }

static void plan_auth(ls_rp_plan *plan, const char *user, const char *password) {
  if (password && user)
    ls_rp_cmd_set(&plan->cmd[plan->n++], 3, (const char *[]){"AUTH", user, password}, NULL);
  else if (password)
    ls_rp_cmd_set(&plan->cmd[plan->n++], 2, (const char *[]){"AUTH", password}, NULL);
}

void ls_rp_plan_discover(const ls_redis_config *c, ls_rp_plan *plan) {
  plan->n = 0;
  if (c->cluster) { /* the cluster's nodes take the data servers' credentials */
    plan_auth(plan, c->user, c->password);
    ls_rp_cmd_set(&plan->cmd[plan->n++], 3, (const char *[]){"CLUSTER", "KEYSLOT", c->key_logs}, NULL);
    ls_rp_cmd_set(&plan->cmd[plan->n++], 2, (const char *[]){"CLUSTER", "SLOTS"}, NULL);
    return;
  }
  plan_auth(plan, c->sentinel_user, c->sentinel_password);
  ls_rp_cmd_set(&plan->cmd[plan->n++], 3, (const char *[]){"SENTINEL", "get-master-addr-by-name", c->master_name},
                NULL);
}

/* A "host" and "port" pair of replies, into the target. */
static logstate_status found(ls_redis_proto *p, const redisReply *host, const redisReply *port, const char *asked,
                             const char *what, const redisReply *whole) {
  unsigned int n;
  if (host->type != REDIS_REPLY_STRING || host->len > LS_REDIS_MAX_HOST_LEN ||
      !((port->type == REDIS_REPLY_STRING && ls_parse_uint(port->str, port->len, 65535, &n)) ||
        (port->type == REDIS_REPLY_INTEGER && port->integer > 0 && port->integer <= 65535 &&
         (n = (unsigned int)port->integer))) ||
      n == 0)
    return ls_redis_unexpected(what, whole);
  /* An empty host in CLUSTER SLOTS means "the address you asked". */
  if (host->len == 0)
    target_found(p, asked, strlen(asked), n);
  else
    target_found(p, host->str, host->len, n);
  return LOGSTATE_OK;
}

/* CLUSTER SLOTS: [[start, end, [host, port, id], replicas...], ...]. */
static logstate_status judge_slots(ls_redis_proto *p, const redisReply *slot, const redisReply *slots,
                                   const char *asked) {
  if (slot->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(&p->cfg, slot, "CLUSTER KEYSLOT", NULL, 0);
  if (slots->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(&p->cfg, slots, "CLUSTER SLOTS", NULL, 0);
  if (slot->type != REDIS_REPLY_INTEGER || slots->type != REDIS_REPLY_ARRAY)
    return ls_redis_unexpected("CLUSTER SLOTS", slots);
  for (size_t i = 0; i < slots->elements; i++) {
    const redisReply *e = slots->element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || e->element[0]->type != REDIS_REPLY_INTEGER ||
        e->element[1]->type != REDIS_REPLY_INTEGER || e->element[2]->type != REDIS_REPLY_ARRAY ||
        e->element[2]->elements < 2)
      return ls_redis_unexpected("CLUSTER SLOTS", slots);
    if (e->element[0]->integer <= slot->integer && slot->integer <= e->element[1]->integer)
      return found(p, e->element[2]->element[0], e->element[2]->element[1], asked, "CLUSTER SLOTS", slots);
  }
  return ls_err(LOGSTATE_UNAVAILABLE, "no primary serves slot %lld of {%s} (the cluster is incomplete)", slot->integer,
                p->cfg.prefix);
}

logstate_status ls_rp_judge_discover(ls_redis_proto *p, const redisReply *const *r, int n, const char *asked) {
  const ls_redis_config *c = &p->cfg;
  int authed = c->cluster ? c->password != NULL : c->sentinel_password != NULL;
  if (authed && r[0]->type == REDIS_REPLY_ERROR) /* never the password: the server's text only */
    return ls_err(LOGSTATE_PERMISSION_DENIED, "authentication failed: %.*s", (int)(r[0]->len > 200 ? 200 : r[0]->len),
                  r[0]->str);
  if (c->cluster)
    return judge_slots(p, r[n - 2], r[n - 1], asked);
  const redisReply *a = r[n - 1];
  if (a->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(c, a, "SENTINEL get-master-addr-by-name", NULL, 0);
  if (a->type == REDIS_REPLY_NIL)
    return ls_err(LOGSTATE_UNAVAILABLE, "it does not monitor a master named %s", c->master_name);
  if (a->type != REDIS_REPLY_ARRAY || a->elements != 2 || a->element[0]->len == 0)
    return ls_redis_unexpected("SENTINEL get-master-addr-by-name", a);
  return found(p, a->element[0], a->element[1], asked, "SENTINEL get-master-addr-by-name", a);
}

void ls_rp_discovery_start(ls_rp_discovery *d) {
  d->next = 0;
  d->last = LOGSTATE_UNAVAILABLE;
  d->why[0] = '\0';
}

const ls_redis_addr *ls_rp_discovery_seed(const ls_redis_proto *p, const ls_rp_discovery *d) {
  return d->next < p->cfg.nseeds ? &p->cfg.seeds[d->next] : NULL;
}

int ls_rp_discovery_answer(const ls_redis_proto *p, ls_rp_discovery *d, logstate_status st) {
  const ls_redis_addr *a = &p->cfg.seeds[d->next++];
  d->last = st;
  if (st == LOGSTATE_OK)
    return 1;
  snprintf(d->why, sizeof(d->why), "%s %s:%u: %s", ls_rp_seed_kind(&p->cfg), a->host, a->port, logstate_last_error());
  /* Out of memory here is out of memory with the next seed too. */
  return st == LOGSTATE_RESOURCE_EXHAUSTED || d->next >= p->cfg.nseeds;
}

logstate_status ls_rp_discovery_result(const ls_redis_proto *p, const ls_rp_discovery *d) {
  char where[300];
  if (d->last == LOGSTATE_OK)
    return LOGSTATE_OK;
  ls_redis_config_where(&p->cfg, where, sizeof(where));
  /* A refused AUTH stays PERMISSION_DENIED: retrying will not help. */
  logstate_status st =
      d->last == LOGSTATE_PERMISSION_DENIED || d->last == LOGSTATE_RESOURCE_EXHAUSTED ? d->last : LOGSTATE_UNAVAILABLE;
  return ls_err(st, "redis %s: no %s named it (%u asked; last: %s)", where, ls_rp_seed_kind(&p->cfg), d->next,
                d->why[0] ? d->why : "none answered");
}

/* "<code> <slot> <host>:<port>" (MOVED, ASK), the host possibly empty (the
 * node that answered: host stays as given) or bracketed. */
static int parse_redirect(const redisReply *r, const char *code, char host[LS_REDIS_MAX_HOST_LEN + 1],
                          unsigned int *port) {
  size_t n = strlen(code);
  if (r->type != REDIS_REPLY_ERROR || r->len < n + 1 || memcmp(r->str, code, n) != 0 || r->str[n] != ' ')
    return 0;
  const char *addr = memchr(r->str + n + 1, ' ', r->len - n - 1), *end = r->str + r->len, *colon;
  if (addr == NULL)
    return 0;
  addr++;
  for (colon = end - 1; colon > addr && *colon != ':'; colon--)
    ;
  if (*colon != ':' || !ls_parse_uint(colon + 1, (size_t)(end - colon - 1), 65535, port) || *port == 0)
    return 0;
  const char *h = addr, *hend = colon;
  if (hend - h >= 2 && *h == '[' && hend[-1] == ']')
    h++, hend--;
  if ((size_t)(hend - h) > LS_REDIS_MAX_HOST_LEN)
    return 0;
  if (hend > h) {
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
  }
  return 1;
}

int ls_rp_note_moved(ls_redis_proto *p, const redisReply *r) {
  char host[LS_REDIS_MAX_HOST_LEN + 1];
  unsigned int port, old_port;
  uint64_t gen;
  if (!p->cfg.cluster)
    return 0;
  ls_rp_target_get(p, host, &old_port, &gen); /* the host, should MOVED leave it out */
  if (!parse_redirect(r, "MOVED", host, &port))
    return 0;
  target_found(p, host, strlen(host), port);
  return 1;
}

/* --- ASK: a slot being migrated ------------------------------------------ */

static int ask_target(const ls_redis_config *c, const redisReply *r, char host[LS_REDIS_MAX_HOST_LEN + 1],
                      unsigned int *port) {
  return c->cluster && parse_redirect(r, "ASK", host, port);
}

int ls_rp_any_ask(const ls_redis_config *c, const redisReply *const *r, int n) {
  char host[LS_REDIS_MAX_HOST_LEN + 1];
  unsigned int port;
  for (int i = 0; i < n; i++)
    if (r[i] && ask_target(c, r[i], host, &port))
      return 1;
  return 0;
}

/* Inside MULTI an ASK aborts the whole transaction: nothing to split. */
static int splittable(const ls_rp_op *op) { return !(op->kind == LS_RP_SET && op->u.set.watch); }

int ls_rp_plan_ask(const ls_redis_proto *p, const ls_rp_op *op, const ls_rp_plan *plan, redisReply *const *r,
                   ls_rp_plan *out, int *map, char host[LS_REDIS_MAX_HOST_LEN + 1], unsigned int *port) {
  const ls_redis_config *c = &p->cfg;
  int asked = 0;
  out->n = 0;
  if (!splittable(op))
    return 0;
  plan_auth(out, c->user, c->password);
  if (op->kind == LS_RP_SET) /* the node may not have the script yet */
    ls_rp_cmd_script_load(&out->cmd[out->n++]);
  for (int i = 0; i < out->n; i++)
    map[i] = -1;
  for (int i = 0; i < plan->n; i++) {
    /* It counts that node's replicas (and fsyncs). */
    const char *name = ls_rp_argv(&plan->cmd[i])[0];
    int wait = name == ls_rp_cmd_wait || name == ls_rp_cmd_waitaof;
    if (!(r[i] && ask_target(c, r[i], host, port)) && !(wait && asked))
      continue;
    if (!wait) {
      map[out->n] = -1;
      ls_rp_cmd_set(&out->cmd[out->n++], 1, (const char *[]){"ASKING"}, NULL);
      asked++;
    }
    map[out->n] = i;
    out->cmd[out->n++] = plan->cmd[i];
  }
  return asked;
}

/* ROLE's first element: "master" on a primary. */
logstate_status ls_rp_check_role(const ls_redis_config *c, const redisReply *r) {
  char where[300];
  if (r->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(c, r, "ROLE", NULL, 0);
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING)
    return ls_redis_unexpected("ROLE", r);
  const redisReply *role = r->element[0];
  if (role->len == 6 && memcmp(role->str, "master", 6) == 0)
    return LOGSTATE_OK;
  ls_redis_config_where(c, where, sizeof(where));
  return ls_err(LOGSTATE_UNAVAILABLE,
                "redis %s: the server the %ss named is a %.*s, not the primary (a failover is under way; retry)", where,
                ls_rp_seed_kind(c), (int)(role->len > 20 ? 20 : role->len), role->str);
}

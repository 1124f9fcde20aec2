/* SPDX-License-Identifier: Apache-2.0 */
/* ASK in the async driver. On a cluster whose slot is half-way through a
 * migration, the old owner answers ASK for the keys it no longer has. When
 * a plan's replies hold ASK, the commands that got it (primary.c plans
 * which, with AUTH, the set script's SCRIPT LOAD and ASKING) go to the
 * importing node (its host name resolved with evdns when it announces
 * one) on a side connection of the request's own; their replies
 * replace the ASK replies and the plan is judged as usual. When the side
 * connection fails, the plan is judged with the ASK replies (UNAVAILABLE).
 * The request's timer bounds it all.
 *
 * hiredis calls each side callback once, with NULL when the side context
 * goes: `pending` counts those with the main connection's, and a request is
 * freed when it is finished and owes nothing. */
#define _POSIX_C_SOURCE 200809L
#include <hiredis/adapters/libevent.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "redis/async_int.h"

void ls_ra_ask_stop(rreq *q) {
  ls_ra_lookup_cancel(&q->ask_lookup);
  free(q->ask_plans);
  q->ask_plans = NULL;
  redisAsyncContext *ac = q->side;
  q->side = NULL;
  if (ac)
    redisAsyncFree(ac); /* its callbacks see a finished request, or are deferred by hiredis */
}

/* The side replies are in (ok), or the side connection failed: judge the
 * plan with what is known. */
static void ask_done(rreq *q, const redisReply *const *side, int ok) {
  int n = q->rs.expect;
  for (int j = 0; ok && j < q->side_rs.expect; j++)
    ok = q->ask_map[j] >= 0 || side[j]->type != REDIS_REPLY_ERROR; /* AUTH, SCRIPT LOAD, ASKING */
  for (int j = 0; ok && j < q->side_rs.expect; j++) {
    redisReply *copy = q->ask_map[j] >= 0 ? ls_ra_reply_dup(side[j]) : NULL;
    if (copy) {
      ls_ra_reply_free(q->rs.copies[q->ask_map[j]]);
      q->rs.copies[q->ask_map[j]] = copy;
    }
  }
  ls_ra_ask_stop(q);
  q->state = RQ_SENT; /* its replies are all in: judged now */
  q->d->up->judge(q, (const redisReply *const *)q->rs.copies, n);
}

static void on_ask_reply(redisAsyncContext *ac, void *reply, void *priv) {
  (void)ac;
  rreq *q = priv;
  const redisReply *r = reply, *all[LS_RP_MAX_CMDS];
  q->pending--;
  if (q->finished) {
    if (q->pending == 0 && !q->in_finish)
      ls_ra_rreq_free(q);
    return;
  }
  if (q->state != RQ_ASKING)
    return; /* given up already */
  radrv *d = q->d;
  ls_ra_enter(d);
  int taken = r ? ls_ra_replies_take(&q->side_rs, r, all) : -1;
  if (r == NULL)
    q->side = NULL; /* hiredis is freeing it */
  if (taken != 0)
    ask_done(q, all, taken == 1);
  ls_ra_leave(d);
}

/* The node ASK named has an address (numeric), or none could be found:
 * the side connection, and the commands that got ASK on it. */
static void ask_node(ls_ra_lookup *l, const char *addr, unsigned int port) {
  rreq *q = (rreq *)((char *)l - offsetof(rreq, ask_lookup));
  radrv *d = q->d;
  ls_rp_plan *out = &q->ask_plans[1];
  redisAsyncContext *ac = addr ? redisAsyncConnect(addr, (int)port) : NULL;
  if (ac == NULL || ac->err || redisLibeventAttach(ac, d->evb) != REDIS_OK) {
    if (ac)
      redisAsyncFree(ac);
    ask_done(q, NULL, 0); /* judged with the ASK replies: UNAVAILABLE */
    return;
  }
  q->side = ac;
  ls_ra_replies_clear(&q->side_rs);
  q->side_rs.expect = out->n;
  for (int j = 0; j < out->n; j++)
    if (redisAsyncCommandArgv(ac, on_ask_reply, q, out->cmd[j].argc, ls_rp_argv(&out->cmd[j]),
                              ls_rp_lens(&out->cmd[j])) == REDIS_OK)
      q->pending++;
  d->round_trips++;
  q->round_trips++;
}

int ls_ra_ask_start(rreq *q, const redisReply *const *all) {
  radrv *d = q->d;
  const ls_redis_config *c = &d->p.cfg;
  char host[LS_REDIS_MAX_HOST_LEN + 1];
  unsigned int port;
  uint64_t gen;
  int n = q->rs.expect;
  if (d->closing || q->settle.active || !ls_rp_any_ask(c, all, n))
    return 0;
  /* [0]: the plan these replies answer, [1]: what goes to the node; kept
   * (the commands point into them) until the side replies are in. */
  if ((q->ask_plans = malloc(2 * sizeof(*q->ask_plans))) == NULL)
    return 0;
  ls_rp_target_get(&d->p, host, &port, &gen);
  ls_rp_plan_next(&d->p, &q->op, &q->ask_plans[0]);
  if (!ls_rp_plan_ask(&d->p, &q->op, &q->ask_plans[0], (redisReply *const *)all, &q->ask_plans[1], q->ask_map, host,
                      &port) ||
      (q->rs.copies[n - 1] = ls_ra_reply_dup(all[n - 1])) == NULL) { /* keep the last reply too */
    free(q->ask_plans);
    q->ask_plans = NULL;
    return 0;
  }
  q->state = RQ_ASKING;
  ls_ra_arm_timeout(q);
  /* A node may announce a host name: resolved without blocking, as every
   * address of this driver. */
  ls_ra_lookup_start(d, &q->ask_lookup, host, port, ask_node);
  return 1;
}

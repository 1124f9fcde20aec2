/* SPDX-License-Identifier: Apache-2.0 */
/* The async driver asks the seeds (sentinels or cluster nodes) where the
 * primary is, in turn, on a short-lived connection each (what to ask, how
 * to judge it and when to stop are primary.c's), within connect_timeout_ms
 * + timeout_ms per seed. Requests submitted meanwhile wait with their
 * own timers running; the search's end goes to the caller's `done`
 * (async_conn.c connects, or fails what waits and backs off).
 *
 * hiredis calls a context's pending callbacks with NULL while it frees
 * that context: such a callback never frees it again, and the move to the
 * next sentinel always goes through the timer, outside hiredis. */
#define _POSIX_C_SOURCE 200809L
#include <hiredis/adapters/libevent.h>
#include <stdio.h>
#include <string.h>

#include "redis/async_int.h"

/* Frees the sentinel connection, if any (its pending callbacks see a
 * context whose data is NULL and return). */
static void close_sentinel(radrv *d) {
  ls_ra_replies_clear(&d->srs);
  redisAsyncContext *ac = d->sac;
  d->sac = NULL;
  if (ac) {
    ac->data = NULL;
    redisAsyncFree(ac); /* deferred by hiredis inside its own callback */
  }
}

/* The seed answered `st` (its message recorded), or gave no answer: the
 * search goes on from the timer, or ends there (primary.c decides). */
static void seed_answered(radrv *d, logstate_status st) {
  d->search_over = ls_rp_discovery_answer(&d->p, &d->disc, st);
  struct timeval zero = {0, 0};
  evtimer_add(d->sentinel_timer, &zero);
}

static void sentinel_failed(radrv *d, const char *why) {
  ls_err(LOGSTATE_UNAVAILABLE, "%s", why);
  seed_answered(d, LOGSTATE_UNAVAILABLE);
}

static void on_sentinel_reply(redisAsyncContext *ac, void *reply, void *priv) {
  radrv *d = priv;
  const redisReply *r = reply, *all[LS_RP_MAX_CMDS];
  int taken;
  if (ac->data == NULL)
    return; /* a connection given up already */
  ls_ra_enter(d);
  if (r == NULL) { /* hiredis is freeing it */
    d->sac = NULL;
    ac->data = NULL;
    ls_ra_replies_clear(&d->srs);
    sentinel_failed(d, ac->c.errstr[0] ? ac->c.errstr : "connection lost");
  } else if ((taken = ls_ra_replies_take(&d->srs, r, all)) < 0) {
    close_sentinel(d);
    sentinel_failed(d, "out of memory keeping a reply");
  } else if (taken == 1) {
    int n = d->srs.expect;
    logstate_status st = ls_rp_judge_discover(&d->p, all, n, ls_rp_discovery_seed(&d->p, &d->disc)->host);
    close_sentinel(d);
    evtimer_del(d->sentinel_timer);
    seed_answered(d, st);
  }
  ls_ra_leave(d);
}

static void on_sentinel_connect(const redisAsyncContext *ac, int status) {
  radrv *d = ac->data;
  if (d == NULL || status == REDIS_OK)
    return;
  ls_ra_enter(d); /* hiredis frees the context after this */
  d->sac = NULL;
  ((redisAsyncContext *)ac)->data = NULL;
  ls_ra_replies_clear(&d->srs);
  evtimer_del(d->sentinel_timer);
  sentinel_failed(d, ac->c.errstr[0] ? ac->c.errstr : "cannot connect");
  ls_ra_leave(d);
}

/* The sentinel's address is known (numeric), or could not be resolved. */
static void ask(ls_ra_lookup *l, const char *addr, unsigned int port) {
  radrv *d = l->d;
  const ls_redis_config *c = &d->p.cfg;
  redisAsyncContext *ac = addr ? redisAsyncConnect(addr, (int)port) : NULL;
  if (ac == NULL || ac->err || redisLibeventAttach(ac, d->evb) != REDIS_OK) {
    char why[300];
    snprintf(why, sizeof(why), "%s", addr == NULL ? l->error : ac && ac->err ? ac->errstr : "cannot connect");
    if (ac)
      redisAsyncFree(ac);
    sentinel_failed(d, why);
    return;
  }
  ac->data = d;
  redisAsyncSetConnectCallback(ac, on_sentinel_connect);
  d->sac = ac;
  ls_rp_plan plan;
  ls_rp_plan_discover(c, &plan);
  for (int i = 0; i < plan.n; i++)
    redisAsyncCommandArgv(ac, on_sentinel_reply, d, plan.cmd[i].argc, (const char **)plan.cmd[i].argv, plan.cmd[i].len);
  d->srs.expect = plan.n;
  d->round_trips++;
  unsigned int ms = c->connect_timeout_ms + c->timeout_ms;
  struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
  evtimer_add(d->sentinel_timer, &tv);
}

/* Asks the next seed, or ends the search and says how it went. */
static void ask_next(radrv *d) {
  const ls_redis_addr *a = ls_rp_discovery_seed(&d->p, &d->disc);
  if (a && !d->search_over) {
    ls_ra_lookup_start(d, &d->lookup, a->host, a->port, ask);
    return;
  }
  d->finding = 0;
  d->search_done(d, ls_rp_discovery_result(&d->p, &d->disc));
}

/* The timer: a sentinel that took too long, or the move to the next one. */
void ls_ra_on_sentinel_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  radrv *d = arg;
  ls_ra_enter(d);
  if (d->sac) {
    char why[64];
    snprintf(why, sizeof(why), "no answer within %u ms", d->p.cfg.connect_timeout_ms + d->p.cfg.timeout_ms);
    close_sentinel(d);
    sentinel_failed(d, why); /* re-arms the timer at zero */
  } else if (d->finding && !d->closing) {
    ask_next(d);
  }
  ls_ra_leave(d);
}

void ls_ra_discover(radrv *d, void (*done)(radrv *d, logstate_status st)) {
  d->search_done = done;
  d->finding = 1;
  d->search_over = 0;
  ls_rp_discovery_start(&d->disc);
  ask_next(d);
}

void ls_ra_discover_stop(radrv *d) {
  close_sentinel(d);
  evtimer_del(d->sentinel_timer);
  d->finding = 0;
}

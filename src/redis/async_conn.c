/* SPDX-License-Identifier: Apache-2.0 */
/* The async Redis driver's connection: hiredis's async connect to the
 * primary (its name resolved with evdns, async_base.c; the seeds asked
 * first under redis+sentinel and redis+cluster, async_sentinel.c), handed
 * to async.c (the `connected` upcall: its CONNECT op goes first), the
 * reconnect backoff of the rules (rules.c), and dropping a stuck
 * connection. */
#define _POSIX_C_SOURCE 200809L
#include <hiredis/adapters/libevent.h>
#include <stdlib.h>
#include <string.h>

#include "redis/async_int.h"

/* --- the connection ----------------------------------------------------- */

void ls_ra_schedule_reconnect(radrv *d) {
  if (d->closing || evtimer_pending(d->reconnect_timer, NULL))
    return;
  struct timeval tv = {(time_t)(d->backoff_ms / 1000), (suseconds_t)(d->backoff_ms % 1000) * 1000};
  evtimer_add(d->reconnect_timer, &tv);
  d->backoff_ms = ls_rp_backoff_next(d->backoff_ms); /* the rules: 50 ms doubling to 2 s */
}

/* Frees the connection now: hiredis calls every pending reply callback with
 * NULL, so every request in flight on it fails with UNAVAILABLE. */
void ls_ra_drop_connection(radrv *d, const char *why) {
  redisAsyncContext *ac = d->ac;
  if (ac == NULL)
    return;
  snprintf(d->conn_error, sizeof(d->conn_error), "%s", why);
  d->ac = NULL;
  evtimer_del(d->connect_timer);
  ac->data = NULL; /* its connect/disconnect callbacks no longer concern us */
  redisAsyncFree(ac);
  ls_ra_schedule_reconnect(d);
}

static void on_connect(const redisAsyncContext *ac, int status) {
  radrv *d = ac->data;
  if (d == NULL)
    return;
  ls_ra_enter(d);
  evtimer_del(d->connect_timer);
  if (status != REDIS_OK) { /* hiredis frees the context after this */
    snprintf(d->conn_error, sizeof(d->conn_error), "cannot connect: %s", ac->c.errstr);
    d->ac = NULL;
    ls_rp_target_lost(&d->p, d->gen);
    ls_ra_schedule_reconnect(d);
  } else {
    d->backoff_ms = ls_rp_backoff_next(0);
  }
  ls_ra_leave(d);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  radrv *d = ac->data;
  if (d == NULL)
    return;
  ls_ra_enter(d);
  snprintf(d->conn_error, sizeof(d->conn_error), "connection lost: %s",
           status == REDIS_OK ? "closed"
           : ac->c.errstr[0]  ? ac->c.errstr
                              : "I/O error");
  d->ac = NULL; /* hiredis frees it after this callback */
  ls_rp_target_lost(&d->p, d->gen);
  ls_ra_schedule_reconnect(d);
  ls_ra_leave(d);
}

static void attach(radrv *d, redisAsyncContext *ac) {
  const ls_redis_config *c = &d->p.cfg;
  ac->data = d;
  if (redisLibeventAttach(ac, d->evb) != REDIS_OK) {
    snprintf(d->conn_error, sizeof(d->conn_error), "cannot attach to the event loop");
    ac->data = NULL;
    redisAsyncFree(ac);
    ls_ra_schedule_reconnect(d);
    return;
  }
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  if (!c->unix_path)
    redisEnableKeepAlive(&ac->c);
  d->ac = ac;
  d->connects++;
  struct timeval tv = {(time_t)(c->connect_timeout_ms / 1000), (suseconds_t)(c->connect_timeout_ms % 1000) * 1000};
  evtimer_add(d->connect_timer, &tv);
  d->up->connected(d);
}

/* The primary's address is known (numeric), or could not be resolved. */
static void connect_primary(ls_ra_lookup *l, const char *addr, unsigned int port) {
  radrv *d = l->d;
  char where[300];
  if (addr == NULL)
    snprintf(d->conn_error, sizeof(d->conn_error), "%s", l->error);
  redisAsyncContext *ac = addr ? redisAsyncConnect(addr, (int)port) : NULL;
  if (ac && !ac->err) {
    attach(d, ac);
    return;
  }
  if (addr)
    snprintf(d->conn_error, sizeof(d->conn_error), "cannot connect to %s:%u: %s", addr, port,
             ac ? ac->errstr : "out of memory");
  if (ac)
    redisAsyncFree(ac);
  ls_redis_config_where(&d->p.cfg, where, sizeof(where));
  ls_err(LOGSTATE_UNAVAILABLE, "redis %s: %s", where, d->conn_error);
  ls_rp_target_lost(&d->p, d->gen);
  d->up->fail_waiting(d, LOGSTATE_UNAVAILABLE);
  ls_ra_schedule_reconnect(d);
}

/* The seeds were asked: connect to the primary they named, or fail what
 * waits and back off. */
static void search_done(radrv *d, logstate_status st) {
  if (st == LOGSTATE_OK) {
    ls_ra_connect_now(d);
    return;
  }
  snprintf(d->conn_error, sizeof(d->conn_error), "%s", logstate_last_error());
  d->up->fail_waiting(d, st);
  ls_ra_schedule_reconnect(d);
}

void ls_ra_connect_now(radrv *d) {
  const ls_redis_config *c = &d->p.cfg;
  char host[LS_REDIS_MAX_HOST_LEN + 1];
  unsigned int port;
  if (d->ac || d->lookup.pending || d->finding || d->closing)
    return;
  int known = ls_rp_target_get(&d->p, host, &port, &d->gen);
  if (c->unix_path) {
    redisAsyncContext *ac = redisAsyncConnectUnix(c->unix_path);
    if (ac && !ac->err) {
      attach(d, ac);
      return;
    }
    snprintf(d->conn_error, sizeof(d->conn_error), "cannot connect: %s", ac ? ac->errstr : "out of memory");
    if (ac)
      redisAsyncFree(ac);
    ls_ra_schedule_reconnect(d);
    return;
  }
  if (!known) {
    ls_ra_discover(d, search_done);
    return;
  }
  ls_ra_lookup_start(d, &d->lookup, host, port, connect_primary);
}

void ls_ra_on_reconnect_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  radrv *d = arg;
  ls_ra_enter(d);
  ls_ra_connect_now(d);
  ls_ra_leave(d);
}

void ls_ra_on_connect_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  radrv *d = arg;
  char msg[64];
  ls_ra_enter(d);
  snprintf(msg, sizeof(msg), "connect timed out after %u ms", d->p.cfg.connect_timeout_ms);
  ls_ra_drop_connection(d, msg);
  ls_ra_leave(d);
}

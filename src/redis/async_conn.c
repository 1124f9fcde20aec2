/* SPDX-License-Identifier: Apache-2.0 */
/* The async Redis driver's connection: host names resolved with evdns
 * (hiredis 0.14 would block the loop on getaddrinfo), hiredis's async
 * connect to the primary (async_sentinel.c finds it first under
 * redis+sentinel), the CONNECT op first on every new connection,
 * reconnection with exponential backoff, and dropping a stuck connection. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <event2/util.h>
#include <hiredis/adapters/libevent.h>
#include <netinet/in.h>
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
  rreq *setup = ls_ra_rreq_new(d, NULL), *last = setup;
  if (setup) {
    setup->op.kind = LS_RP_CONNECT;
    ls_rp_begin(&d->p, &setup->op);
    ls_ra_send_plan(setup);
  }
  for (rreq *q = d->reqs; q && d->ac && q != last; q = q->next)
    if (q->state == RQ_WAITING)
      ls_ra_send_plan(q);
}

void ls_ra_fail_waiting(radrv *d, logstate_status st) {
  char msg[700];
  snprintf(msg, sizeof(msg), "%s", logstate_last_error());
  for (rreq *q = d->reqs, *next; q; q = next) {
    next = q->next;
    if (q->state == RQ_WAITING && !q->settle.active) { /* a set being resolved waits for its deadline */
      ls_err(st, "%s", msg);
      ls_ra_finish_rq(q, st);
    }
  }
}

static void on_resolved(int result, struct evutil_addrinfo *res, void *arg) {
  if (result == EVUTIL_EAI_CANCEL)
    return; /* the driver is being freed */
  radrv *d = arg;
  char addr[INET6_ADDRSTRLEN] = "";
  ls_ra_enter(d);
  d->resolving = 0;
  d->resolve_req = NULL;
  if (result == 0 && res)
    evutil_inet_ntop(res->ai_family,
                     res->ai_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                                                : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr,
                     addr, sizeof(addr));
  if (res)
    evutil_freeaddrinfo(res);
  if (addr[0] == '\0')
    snprintf(d->conn_error, sizeof(d->conn_error), "cannot resolve %s: %s", d->resolve_host,
             result ? evutil_gai_strerror(result) : "no address");
  d->resolve_then(d, addr[0] ? addr : NULL, d->resolve_port);
  ls_ra_leave(d);
}

int ls_ra_is_numeric_host(const char *h) {
  unsigned char buf[sizeof(struct in6_addr)];
  return evutil_inet_pton(AF_INET, h, buf) == 1 || evutil_inet_pton(AF_INET6, h, buf) == 1;
}

void ls_ra_resolve(radrv *d, const char *host, unsigned int port, ls_ra_addr_fn then) {
  if (ls_ra_is_numeric_host(host)) {
    then(d, host, port);
    return;
  }
  struct evutil_addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(d->resolve_host, sizeof(d->resolve_host), "%s", host);
  d->resolve_port = port;
  d->resolve_then = then;
  if (d->dns == NULL && (d->dns = evdns_base_new(d->evb, EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL) {
    snprintf(d->conn_error, sizeof(d->conn_error), "cannot start the DNS resolver");
    then(d, NULL, port);
    return;
  }
  d->resolving = 1;
  struct evdns_getaddrinfo_request *req = evdns_getaddrinfo(d->dns, host, NULL, &hints, on_resolved, d);
  if (d->resolving) /* NULL when it answered at once (the callback ran) */
    d->resolve_req = req;
}

/* The primary's address is known (numeric), or could not be resolved. */
static void connect_primary(radrv *d, const char *addr, unsigned int port) {
  char where[300];
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
  ls_ra_fail_waiting(d, LOGSTATE_UNAVAILABLE);
  ls_ra_schedule_reconnect(d);
}

void ls_ra_connect_now(radrv *d) {
  const ls_redis_config *c = &d->p.cfg;
  char host[LS_REDIS_MAX_HOST_LEN + 1];
  unsigned int port;
  if (d->ac || d->resolving || d->finding || d->closing)
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
    ls_ra_discover(d);
    return;
  }
  ls_ra_resolve(d, host, port, connect_primary);
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

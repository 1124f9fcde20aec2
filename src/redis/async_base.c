/* SPDX-License-Identifier: Apache-2.0 */
/* The bottom of the async Redis driver, which its other files share and
 * which calls none of them: the driver's lifetime (enter, leave, destroy),
 * the replies a request keeps while the rest of its plan arrives, a
 * request's memory and timeout, and name resolution with evdns (hiredis
 * 0.14 would block the loop on getaddrinfo). The files above call up only
 * through the driver's upcalls (async_int.h). */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "redis/async_int.h"

/* --- replies we keep ---------------------------------------------------- */

void ls_ra_reply_free(redisReply *r) {
  if (r == NULL)
    return;
  for (size_t i = 0; i < r->elements; i++)
    ls_ra_reply_free(r->element[i]);
  free(r->element);
  free(r->str);
  free(r);
}

redisReply *ls_ra_reply_dup(const redisReply *r) {
  redisReply *d = calloc(1, sizeof(*d));
  if (d == NULL)
    return NULL;
  d->type = r->type;
  d->integer = r->integer;
  if (r->str && (d->str = ls_memdup(r->str, r->len)) == NULL)
    goto fail;
  d->len = r->len;
  if (r->elements && (d->element = calloc(r->elements, sizeof(*d->element))) == NULL)
    goto fail;
  d->elements = r->elements;
  for (size_t i = 0; i < r->elements; i++)
    if ((d->element[i] = ls_ra_reply_dup(r->element[i])) == NULL)
      goto fail;
  return d;
fail:
  ls_ra_reply_free(d);
  return NULL;
}

void ls_ra_replies_clear(ls_ra_replies *rs) {
  for (int i = 0; i < LS_RP_MAX_CMDS; i++) {
    ls_ra_reply_free(rs->copies[i]);
    rs->copies[i] = NULL;
  }
  rs->got = rs->expect = 0;
}

int ls_ra_replies_take(ls_ra_replies *rs, const redisReply *r, const redisReply **all) {
  if (rs->got < rs->expect - 1)
    return (rs->copies[rs->got++] = ls_ra_reply_dup(r)) != NULL ? 0 : -1;
  for (int i = 0; i < rs->expect - 1; i++)
    all[i] = rs->copies[i];
  all[rs->expect - 1] = r;
  return 1;
}

/* --- driver lifetime ---------------------------------------------------- */

static void destroy(radrv *d) {
  event_free(d->reconnect_timer);
  event_free(d->connect_timer);
  event_free(d->fail_timer);
  event_free(d->sentinel_timer);
  if (d->dns)
    evdns_base_free(d->dns, 0);
  ls_rp_proto_destroy(&d->p);
  free(d);
}

void ls_ra_enter(radrv *d) { d->depth++; }

void ls_ra_leave(radrv *d) {
  if (--d->depth == 0 && d->closing)
    destroy(d);
}

/* --- requests ----------------------------------------------------------- */

void ls_ra_rreq_free(rreq *q) {
  ls_ra_lookup_cancel(&q->ask_lookup);
  free(q->ask_plans);
  ls_ra_replies_clear(&q->rs);
  ls_rp_settle_end(&q->settle);
  ls_ra_replies_clear(&q->side_rs);
  ls_rp_end(&q->op);
  if (q->timer)
    event_free(q->timer);
  free(q);
}

void ls_ra_arm_timeout(rreq *q) {
  unsigned int ms = ls_rp_timeout_ms(&q->d->p, &q->op);
  struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
  evtimer_add(q->timer, &tv);
}

/* --- names -------------------------------------------------------------- */

static void on_resolved(int result, struct evutil_addrinfo *res, void *arg) {
  if (result == EVUTIL_EAI_CANCEL)
    return; /* cancelled: its owner may be gone */
  ls_ra_lookup *l = arg;
  radrv *d = l->d;
  char addr[INET6_ADDRSTRLEN] = "";
  ls_ra_enter(d);
  l->pending = 0;
  l->req = NULL;
  if (result == 0 && res)
    evutil_inet_ntop(res->ai_family,
                     res->ai_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                                                : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr,
                     addr, sizeof(addr));
  if (res)
    evutil_freeaddrinfo(res);
  if (addr[0] == '\0')
    snprintf(l->error, sizeof(l->error), "cannot resolve %s: %s", l->host,
             result ? evutil_gai_strerror(result) : "no address");
  l->then(l, addr[0] ? addr : NULL, l->port);
  ls_ra_leave(d);
}

int ls_ra_is_numeric_host(const char *h) {
  unsigned char buf[sizeof(struct in6_addr)];
  return evutil_inet_pton(AF_INET, h, buf) == 1 || evutil_inet_pton(AF_INET6, h, buf) == 1;
}

void ls_ra_lookup_start(radrv *d, ls_ra_lookup *l, const char *host, unsigned int port, ls_ra_lookup_fn then) {
  l->d = d;
  l->then = then;
  l->port = port;
  l->error[0] = '\0';
  snprintf(l->host, sizeof(l->host), "%s", host);
  if (ls_ra_is_numeric_host(host)) {
    then(l, host, port);
    return;
  }
  struct evutil_addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (d->dns == NULL && (d->dns = evdns_base_new(d->evb, EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL) {
    snprintf(l->error, sizeof(l->error), "cannot start the DNS resolver");
    then(l, NULL, port);
    return;
  }
  l->pending = 1;
  struct evdns_getaddrinfo_request *req = evdns_getaddrinfo(d->dns, host, NULL, &hints, on_resolved, l);
  if (l->pending) /* NULL when it answered at once (the callback ran) */
    l->req = req;
}

void ls_ra_lookup_cancel(ls_ra_lookup *l) {
  if (l->pending && l->req)
    evdns_getaddrinfo_cancel(l->req);
  l->req = NULL;
  l->pending = 0;
}

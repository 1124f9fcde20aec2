/* SPDX-License-Identifier: Apache-2.0 */
/* The async Redis driver's own types, shared by its files: async.c
 * (requests: sending plans, judging replies, timeouts, the driver's
 * lifetime), async_conn.c (the connection: resolve, connect, set-up,
 * reconnect with backoff, drop) and async_sentinel.c (asking the sentinels
 * where the primary is). */
#ifndef LOGSTATE_REDIS_ASYNC_INT_H
#define LOGSTATE_REDIS_ASYNC_INT_H

#include <event2/dns.h>
#include <event2/event.h>
#include <hiredis/async.h>

#include "async/driver.h"
#include "redis/proto.h"

/* RQ_ASKING: its replies are in, and those that said ASK are being asked
 * again of the importing node on a side connection (async_ask.c). */
typedef enum { RQ_WAITING, RQ_SENT, RQ_FAILING, RQ_ASKING } rq_state;

/* The replies of one plan as they arrive: hiredis frees an async reply when
 * its callback returns, so all but the last are kept as copies. */
typedef struct ls_ra_replies {
  int expect, got;
  redisReply *copies[LS_RP_MAX_CMDS];
} ls_ra_replies;

typedef struct radrv radrv;

/* Where a resolution goes on: `addr` is numeric, or NULL when it failed
 * (d->conn_error says why). */
typedef void (*ls_ra_addr_fn)(radrv *d, const char *addr, unsigned int port);

typedef struct rreq {
  struct rreq *prev, *next; /* the driver's unfinished requests */
  radrv *d;
  ls_areq *r; /* the core's request; NULL for a connection's set-up */
  ls_rp_op op;
  rq_state state;
  int finished, in_finish; /* in_finish: finish_rq is on the stack, it frees */
  int pending;             /* hiredis callbacks still owed */
  uint64_t round_trips;    /* pipelines it sent, for the operations hook */
  ls_ra_replies rs;        /* of the plan in flight */
  struct event *timer;     /* timeout, or the deferred failure */
  ls_rp_settler settle;    /* a set whose reply was lost: settle.rd reads the log to decide (rules.c) */
  int settle_pause;        /* the timer ends a pause between settling reads (else: the deadline) */
  redisAsyncContext *side; /* RQ_ASKING: to the node that ASK named */
  ls_ra_replies side_rs;
  int ask_map[LS_RP_MAX_CMDS];
  logstate_status fail_st;
  char fail_msg[700];
} rreq;

struct radrv {
  ls_adriver base;
  struct event_base *evb;
  ls_redis_proto p;
  redisAsyncContext *ac;
  struct evdns_base *dns;
  struct evdns_getaddrinfo_request *resolve_req;
  int resolving;
  ls_ra_addr_fn resolve_then;
  unsigned int resolve_port;
  char resolve_host[LS_REDIS_MAX_HOST_LEN + 1];
  uint64_t gen; /* the primary's address the connection was made to */
  /* Asking the sentinels (async_sentinel.c). */
  int finding;
  ls_rp_discovery disc; /* the search (primary.c) */
  int search_over;
  redisAsyncContext *sac;
  struct event *sentinel_timer;
  ls_ra_replies srs;
  struct event *reconnect_timer, *connect_timer;
  struct event *fail_timer; /* finishes `failed`: requests refused for lack of memory */
  ls_areq *failed;
  unsigned int backoff_ms;
  char conn_error[300];   /* why the last connection ended */
  rreq *reqs, *reqs_tail; /* in submission order */
  int depth, closing;
  uint64_t round_trips, connects;
};

/* async.c */
void ls_ra_enter(radrv *d);
void ls_ra_leave(radrv *d); /* frees a closing driver once nothing is on its stack */
rreq *ls_ra_rreq_new(radrv *d, ls_areq *r);
void ls_ra_send_plan(rreq *q);
void ls_ra_finish_rq(rreq *q, logstate_status st);
void ls_ra_rreq_free(rreq *q);
/* (Re)arms the request's timer for its op's timeout. */
void ls_ra_arm_timeout(rreq *q);
/* Judges the complete replies of the plan in flight and goes on: the next
 * plan, MOVED's wait for the new owner, or the end of the request. */
void ls_ra_judge_plan(rreq *q, const redisReply *const *all, int n);
redisReply *ls_ra_reply_dup(const redisReply *r);
void ls_ra_reply_free(redisReply *r);
/* Frees the copies; expects nothing. */
void ls_ra_replies_clear(ls_ra_replies *rs);
/* One more reply of the plan: 1 when it is the last (all[0..expect) set,
 * copies then `r`), 0 when it was kept for later, -1 when out of memory. */
int ls_ra_replies_take(ls_ra_replies *rs, const redisReply *r, const redisReply **all);

/* async_conn.c */
void ls_ra_connect_now(radrv *d);
void ls_ra_drop_connection(radrv *d, const char *why);
void ls_ra_on_reconnect_timer(evutil_socket_t fd, short what, void *arg);
void ls_ra_on_connect_timer(evutil_socket_t fd, short what, void *arg);
void ls_ra_schedule_reconnect(radrv *d);
/* Fails every request still waiting for a connection with `st` and the
 * last error's message. */
void ls_ra_fail_waiting(radrv *d, logstate_status st);
/* Whether `h` is an IPv4 or IPv6 address (no resolution needed). */
int ls_ra_is_numeric_host(const char *h);
/* Resolves `host` without blocking the loop (at once when numeric), then
 * calls `then`. */
void ls_ra_resolve(radrv *d, const char *host, unsigned int port, ls_ra_addr_fn then);

/* async_ask.c: 1 when some of `all` said ASK and they are being asked
 * again (the request then goes on by itself); 0: judge `all` as they are. */
int ls_ra_ask_start(rreq *q, const redisReply *const *all);
/* Frees the side connection of a request that ends. */
void ls_ra_ask_stop(rreq *q);

/* async_sentinel.c */
void ls_ra_discover(radrv *d); /* sets `finding`; connects once the primary is named */
void ls_ra_discover_stop(radrv *d);
void ls_ra_on_sentinel_timer(evutil_socket_t fd, short what, void *arg);

#endif

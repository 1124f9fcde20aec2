/* SPDX-License-Identifier: Apache-2.0 */
/* The async Redis driver's own types, shared by its two files: async.c
 * (requests: sending plans, judging replies, timeouts, the driver's
 * lifetime) and async_conn.c (the connection: resolve, connect, set-up,
 * reconnect with backoff, drop). */
#ifndef LOGSTATE_REDIS_ASYNC_INT_H
#define LOGSTATE_REDIS_ASYNC_INT_H

#include <event2/dns.h>
#include <event2/event.h>
#include <hiredis/async.h>

#include "async/driver.h"
#include "redis/proto.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000

typedef enum { RQ_WAITING, RQ_SENT, RQ_FAILING } rq_state;

typedef struct radrv radrv;

typedef struct rreq {
  struct rreq *prev, *next; /* the driver's unfinished requests */
  radrv *d;
  ls_areq *r; /* the core's request; NULL for a connection's set-up */
  ls_rp_op op;
  rq_state state;
  int finished, in_finish; /* in_finish: finish_rq is on the stack, it frees */
  int pending;             /* hiredis callbacks still owed */
  int expect, got;         /* replies of the plan in flight */
  redisReply *copies[LS_RP_MAX_CMDS];
  struct event *timer; /* timeout, or the deferred failure */
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

/* async_conn.c */
void ls_ra_connect_now(radrv *d);
void ls_ra_drop_connection(radrv *d, const char *why);
void ls_ra_on_reconnect_timer(evutil_socket_t fd, short what, void *arg);
void ls_ra_on_connect_timer(evutil_socket_t fd, short what, void *arg);

#endif

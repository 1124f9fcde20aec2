/* SPDX-License-Identifier: Apache-2.0 */
/* The async Redis driver's own types, shared by its files, in layers: at
 * the bottom async_base.c (lifetime, kept replies, a request's memory and
 * timer, name resolution); above it async_sentinel.c (asking the seeds
 * where the primary is) and async_ask.c (following ASK); then
 * async_conn.c (the connection: connect, set-up, reconnect with backoff,
 * drop); async.c on top (requests: sending plans, judging replies,
 * timeouts, settling). A file calls only files below it; upward, only
 * through function pointers (ls_ra_upcalls, search_done). */
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
typedef struct rreq rreq;

/* One host name being resolved (async_base.c). Where it goes on: `addr`
 * is numeric, or NULL when it failed (l->error says why). */
typedef struct ls_ra_lookup ls_ra_lookup;
typedef void (*ls_ra_lookup_fn)(ls_ra_lookup *l, const char *addr, unsigned int port);
struct ls_ra_lookup {
  radrv *d;
  struct evdns_getaddrinfo_request *req;
  int pending;
  char host[LS_REDIS_MAX_HOST_LEN + 1];
  unsigned int port;
  ls_ra_lookup_fn then;
  char error[300];
};

/* What the files below async.c call up for, through function pointers, so
 * that no file calls one that calls it back. */
typedef struct ls_ra_upcalls {
  /* A new connection is attached: its set-up goes first, the requests
   * waiting for it right behind. */
  void (*connected)(radrv *d);
  /* No connection will come soon: the requests waiting fail with `st` and
   * the last error's message. */
  void (*fail_waiting)(radrv *d, logstate_status st);
  /* ASK's side replies are in: judge the plan (async.c). */
  void (*judge)(rreq *q, const redisReply *const *all, int n);
} ls_ra_upcalls;

struct rreq {
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
  ls_ra_lookup ask_lookup; /* ASK: the importing node's name being resolved */
  ls_rp_plan *ask_plans;   /* ASK: the plan answered, and what goes to the node (malloc()ed) */
  logstate_status fail_st;
  char fail_msg[700];
};

struct radrv {
  ls_adriver base;
  struct event_base *evb;
  ls_redis_proto p;
  redisAsyncContext *ac;
  const ls_ra_upcalls *up;
  struct evdns_base *dns;
  ls_ra_lookup lookup;                               /* the primary's or a seed's name */
  void (*search_done)(radrv *d, logstate_status st); /* async_sentinel.c's answer */
  uint64_t gen;                                      /* the primary's address the connection was made to */
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

/* async_base.c: shared below everything. */
void ls_ra_enter(radrv *d);
void ls_ra_leave(radrv *d); /* frees a closing driver once nothing is on its stack */
/* Frees a request (finished, and owed nothing by hiredis). */
void ls_ra_rreq_free(rreq *q);
/* (Re)arms the request's timer for its op's timeout. */
void ls_ra_arm_timeout(rreq *q);
redisReply *ls_ra_reply_dup(const redisReply *r);
void ls_ra_reply_free(redisReply *r);
/* Frees the copies; expects nothing. */
void ls_ra_replies_clear(ls_ra_replies *rs);
/* One more reply of the plan: 1 when it is the last (all[0..expect) set,
 * copies then `r`), 0 when it was kept for later, -1 when out of memory. */
int ls_ra_replies_take(ls_ra_replies *rs, const redisReply *r, const redisReply **all);
/* Whether `h` is an IPv4 or IPv6 address (no resolution needed). */
int ls_ra_is_numeric_host(const char *h);
/* Resolves `host` without blocking the loop (at once when numeric), then
 * calls `then`; `l` must stay put until then, or be cancelled. */
void ls_ra_lookup_start(radrv *d, ls_ra_lookup *l, const char *host, unsigned int port, ls_ra_lookup_fn then);
void ls_ra_lookup_cancel(ls_ra_lookup *l);

/* async_sentinel.c: asks the seeds where the primary is (sets `finding`),
 * then calls `done` with OK, or the search's failure recorded. */
void ls_ra_discover(radrv *d, void (*done)(radrv *d, logstate_status st));
void ls_ra_discover_stop(radrv *d);
void ls_ra_on_sentinel_timer(evutil_socket_t fd, short what, void *arg);

/* async_ask.c: 1 when some of `all` said ASK and they are being asked
 * again (the request then goes on by itself, and is judged through the
 * `judge` upcall); 0: judge `all` as they are. */
int ls_ra_ask_start(rreq *q, const redisReply *const *all);
/* Frees the side connection (and a resolution) of a request that ends. */
void ls_ra_ask_stop(rreq *q);

/* async_conn.c: the connection. */
void ls_ra_connect_now(radrv *d);
void ls_ra_drop_connection(radrv *d, const char *why);
void ls_ra_on_reconnect_timer(evutil_socket_t fd, short what, void *arg);
void ls_ra_on_connect_timer(evutil_socket_t fd, short what, void *arg);
void ls_ra_schedule_reconnect(radrv *d);

/* async.c: requests (the top). */
rreq *ls_ra_rreq_new(radrv *d, ls_areq *r);
void ls_ra_send_plan(rreq *q);
void ls_ra_finish_rq(rreq *q, logstate_status st);

#endif

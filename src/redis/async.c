/* The async Redis driver, on hiredis's async client and libevent: one
 * pipelined connection, a timer per request (hiredis 0.14 has none), host
 * names resolved with evdns so the loop never blocks, and reconnection with
 * backoff. What to send and how to judge the replies is the protocol
 * module's (proto.h); this file only moves plans and replies.
 *
 * Lifetimes: a request (rreq) lives until it is finished AND hiredis has
 * handed back every reply it owed (`pending`: hiredis calls each command's
 * callback exactly once, with NULL when the connection goes). The driver
 * lives until it is freed and no call from the loop is on its stack. */
#include <arpa/inet.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "async/driver.h"
#include "redis/proto.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000

typedef enum { RQ_WAITING, RQ_SENT, RQ_FAILING } rq_state;

typedef struct radrv radrv;

typedef struct rreq {
  struct rreq *prev, *next; /* the driver's unfinished requests */
  radrv *d;
  ls_areq *r;   /* the core's request; NULL for a connection's set-up */
  ls_rp_op op;
  rq_state state;
  int finished, in_finish; /* in_finish: finish_rq is on the stack, it frees */
  int pending;     /* hiredis callbacks still owed */
  int expect, got; /* replies of the plan in flight */
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
  char conn_error[300]; /* why the last connection ended */
  rreq *reqs, *reqs_tail; /* in submission order */
  int depth, closing;
  uint64_t round_trips, connects;
};

static void finish_rq(rreq *q, logstate_status st);
static void send_plan(rreq *q);

/* --- replies we keep ---------------------------------------------------- */

/* hiredis frees an async reply when its callback returns; a plan of
 * several commands keeps copies of all but its last reply. */
static void reply_free(redisReply *r) {
  if (r == NULL)
    return;
  for (size_t i = 0; i < r->elements; i++)
    reply_free(r->element[i]);
  free(r->element);
  free(r->str);
  free(r);
}

static redisReply *reply_dup(const redisReply *r) {
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
    if ((d->element[i] = reply_dup(r->element[i])) == NULL)
      goto fail;
  return d;
fail:
  reply_free(d);
  return NULL;
}

static void drop_copies(rreq *q) {
  for (int i = 0; i < LS_RP_MAX_CMDS; i++) {
    reply_free(q->copies[i]);
    q->copies[i] = NULL;
  }
  q->got = q->expect = 0;
}

/* --- driver lifetime ---------------------------------------------------- */

static void destroy(radrv *d) {
  event_free(d->reconnect_timer);
  event_free(d->connect_timer);
  event_free(d->fail_timer);
  if (d->dns)
    evdns_base_free(d->dns, 0);
  ls_redis_config_free(&d->p.cfg);
  free(d);
}

static void enter(radrv *d) { d->depth++; }

static void leave(radrv *d) {
  if (--d->depth == 0 && d->closing)
    destroy(d);
}

static void rreq_free(rreq *q) {
  drop_copies(q);
  ls_rp_end(&q->op);
  if (q->timer)
    event_free(q->timer);
  free(q);
}

/* --- the connection ----------------------------------------------------- */

static void schedule_reconnect(radrv *d) {
  if (d->closing || evtimer_pending(d->reconnect_timer, NULL))
    return;
  struct timeval tv = {(time_t)(d->backoff_ms / 1000), (suseconds_t)(d->backoff_ms % 1000) * 1000};
  evtimer_add(d->reconnect_timer, &tv);
  d->backoff_ms = d->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d->backoff_ms * 2;
}

/* Frees the connection now: hiredis calls every pending reply callback with
 * NULL, so every request in flight on it fails with UNAVAILABLE. */
static void drop_connection(radrv *d, const char *why) {
  redisAsyncContext *ac = d->ac;
  if (ac == NULL)
    return;
  snprintf(d->conn_error, sizeof(d->conn_error), "%s", why);
  d->ac = NULL;
  evtimer_del(d->connect_timer);
  ac->data = NULL; /* its connect/disconnect callbacks no longer concern us */
  redisAsyncFree(ac);
  schedule_reconnect(d);
}

static void on_connect(const redisAsyncContext *ac, int status) {
  radrv *d = ac->data;
  if (d == NULL)
    return;
  enter(d);
  evtimer_del(d->connect_timer);
  if (status != REDIS_OK) { /* hiredis frees the context after this */
    snprintf(d->conn_error, sizeof(d->conn_error), "cannot connect: %s", ac->c.errstr);
    d->ac = NULL;
    schedule_reconnect(d);
  } else {
    d->backoff_ms = BACKOFF_MIN_MS;
  }
  leave(d);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  radrv *d = ac->data;
  if (d == NULL)
    return;
  enter(d);
  snprintf(d->conn_error, sizeof(d->conn_error), "connection lost: %s",
           status == REDIS_OK ? "closed"
           : ac->c.errstr[0]  ? ac->c.errstr
                              : "I/O error");
  d->ac = NULL; /* hiredis frees it after this callback */
  schedule_reconnect(d);
  leave(d);
}

static void on_rq_timer(evutil_socket_t fd, short what, void *arg);

static rreq *rreq_new(radrv *d, ls_areq *r) {
  rreq *q = calloc(1, sizeof(*q));
  if (q == NULL || (q->timer = evtimer_new(d->evb, on_rq_timer, q)) == NULL) {
    free(q);
    return NULL;
  }
  q->d = d;
  q->r = r;
  q->prev = d->reqs_tail;
  if (d->reqs_tail)
    d->reqs_tail->next = q;
  else
    d->reqs = q;
  d->reqs_tail = q;
  return q;
}

/* A new connection: the CONNECT op (AUTH, SELECT, PING) goes first, the
 * requests that waited for the connection right behind it. */
static void attach(radrv *d, redisAsyncContext *ac) {
  const ls_redis_config *c = &d->p.cfg;
  ac->data = d;
  if (redisLibeventAttach(ac, d->evb) != REDIS_OK) {
    snprintf(d->conn_error, sizeof(d->conn_error), "cannot attach to the event loop");
    ac->data = NULL;
    redisAsyncFree(ac);
    schedule_reconnect(d);
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
  rreq *setup = rreq_new(d, NULL), *last = setup;
  if (setup) {
    setup->op.kind = LS_RP_CONNECT;
    ls_rp_begin(&d->p, &setup->op);
    send_plan(setup);
  }
  for (rreq *q = d->reqs; q && d->ac && q != last; q = q->next)
    if (q->state == RQ_WAITING)
      send_plan(q);
}

static void fail_waiting(radrv *d, logstate_status st) {
  char msg[700];
  snprintf(msg, sizeof(msg), "%s", logstate_last_error());
  for (rreq *q = d->reqs, *next; q; q = next) {
    next = q->next;
    if (q->state == RQ_WAITING) {
      ls_err(st, "%s", msg);
      finish_rq(q, st);
    }
  }
}

static void on_resolved(int result, struct evutil_addrinfo *res, void *arg) {
  if (result == EVUTIL_EAI_CANCEL)
    return; /* the driver is being freed */
  radrv *d = arg;
  char addr[INET6_ADDRSTRLEN] = "";
  enter(d);
  d->resolving = 0;
  d->resolve_req = NULL;
  if (result == 0 && res)
    evutil_inet_ntop(res->ai_family,
                     res->ai_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                                                : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr,
                     addr, sizeof(addr));
  if (res)
    evutil_freeaddrinfo(res);
  redisAsyncContext *ac = addr[0] ? redisAsyncConnect(addr, (int)d->p.cfg.port) : NULL;
  if (ac && !ac->err) {
    attach(d, ac);
  } else {
    snprintf(d->conn_error, sizeof(d->conn_error), "cannot %s %s: %s", addr[0] ? "connect to" : "resolve",
             d->p.cfg.host, ac ? ac->errstr : result ? evutil_gai_strerror(result) : "no address");
    if (ac)
      redisAsyncFree(ac);
    ls_err(LOGSTATE_UNAVAILABLE, "redis %s:%u: %s", d->p.cfg.host, d->p.cfg.port, d->conn_error);
    fail_waiting(d, LOGSTATE_UNAVAILABLE);
    schedule_reconnect(d);
  }
  leave(d);
}

/* Starts resolving the host name without blocking the loop. */
static void resolve(radrv *d) {
  struct evutil_addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (d->dns == NULL && (d->dns = evdns_base_new(d->evb, EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL) {
    snprintf(d->conn_error, sizeof(d->conn_error), "cannot start the DNS resolver");
    schedule_reconnect(d);
    return;
  }
  d->resolving = 1;
  struct evdns_getaddrinfo_request *req = evdns_getaddrinfo(d->dns, d->p.cfg.host, NULL, &hints, on_resolved, d);
  if (d->resolving) /* NULL when it answered at once (the callback ran) */
    d->resolve_req = req;
}

static int is_numeric_host(const char *h) {
  unsigned char buf[sizeof(struct in6_addr)];
  return evutil_inet_pton(AF_INET, h, buf) == 1 || evutil_inet_pton(AF_INET6, h, buf) == 1;
}

static void connect_now(radrv *d) {
  const ls_redis_config *c = &d->p.cfg;
  if (d->ac || d->resolving || d->closing)
    return;
  if (!c->unix_path && !is_numeric_host(c->host)) {
    resolve(d);
    return;
  }
  redisAsyncContext *ac = c->unix_path ? redisAsyncConnectUnix(c->unix_path) : redisAsyncConnect(c->host, (int)c->port);
  if (ac == NULL || ac->err) {
    snprintf(d->conn_error, sizeof(d->conn_error), "cannot connect: %s", ac ? ac->errstr : "out of memory");
    if (ac)
      redisAsyncFree(ac);
    schedule_reconnect(d);
    return;
  }
  attach(d, ac);
}

static void on_reconnect_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  radrv *d = arg;
  enter(d);
  connect_now(d);
  leave(d);
}

static void on_connect_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  radrv *d = arg;
  char msg[64];
  enter(d);
  snprintf(msg, sizeof(msg), "connect timed out after %u ms", d->p.cfg.connect_timeout_ms);
  drop_connection(d, msg);
  leave(d);
}

/* --- requests ----------------------------------------------------------- */

static void unlink_rq(rreq *q) {
  radrv *d = q->d;
  if (q->prev)
    q->prev->next = q->next;
  else
    d->reqs = q->next;
  if (q->next)
    q->next->prev = q->prev;
  else
    d->reqs_tail = q->prev;
  q->prev = q->next = NULL;
}

/* The connection's set-up failed (a refused AUTH, say): the requests sent
 * behind it fail with the same status, and the connection goes. */
static void setup_failed(radrv *d, logstate_status st) {
  char msg[700];
  snprintf(msg, sizeof(msg), "%s", logstate_last_error());
  for (rreq *q = d->reqs, *next; q; q = next) {
    next = q->next;
    if (q->state == RQ_SENT && !q->finished) {
      ls_err(st, "%s", msg);
      finish_rq(q, st);
    }
  }
  drop_connection(d, msg);
}

/* Finishes a request: hands the op's results to the core's request. */
static void finish_rq(rreq *q, logstate_status st) {
  radrv *d = q->d;
  q->finished = 1;
  q->in_finish = 1; /* dropping the connection below hands back its replies */
  unlink_rq(q);
  evtimer_del(q->timer);
  drop_copies(q);
  ls_areq *r = q->r;
  q->r = NULL;
  if (r == NULL) {
    if (st != LOGSTATE_OK && !d->closing)
      setup_failed(d, st);
  } else {
    if (st == LOGSTATE_OK && q->op.kind == LS_RP_GET) {
      r->out_cp = q->op.out_cp;
      r->out_len = q->op.out_len;
      q->op.out_cp = NULL;
    } else if (st == LOGSTATE_OK && q->op.kind == LS_RP_OPEN) {
      r->snap.cp = q->op.out_cp;
      r->snap.len = q->op.out_len;
      r->snap.version = q->op.version;
      q->op.out_cp = NULL;
    } else if (st == LOGSTATE_OK && q->op.kind == LS_RP_LOGS) {
      r->ids = q->op.ids;
      r->n = q->op.n;
      q->op.ids = NULL;
      q->op.n = 0;
    }
    ls_areq_result(r, st);
    ls_areq_finish(&d->base, r);
  }
  q->in_finish = 0;
  if (q->pending == 0)
    rreq_free(q);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv) {
  rreq *q = priv;
  redisReply *r = reply;
  q->pending--;
  if (q->finished) {
    if (q->pending == 0 && !q->in_finish)
      rreq_free(q);
    return;
  }
  radrv *d = q->d;
  logstate_status st;
  enter(d);
  if (r == NULL) {
    const char *why = ac->c.errstr[0] ? ac->c.errstr : d->conn_error[0] ? d->conn_error : "connection closed";
    finish_rq(q, ls_rp_failed(&d->p, &q->op, 0, why));
  } else if (q->got < q->expect - 1) {
    if ((q->copies[q->got++] = reply_dup(r)) == NULL)
      finish_rq(q, ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory keeping a reply"));
  } else {
    const redisReply *all[LS_RP_MAX_CMDS];
    for (int i = 0; i < q->expect - 1; i++)
      all[i] = q->copies[i];
    all[q->expect - 1] = r;
    evtimer_del(q->timer);
    int n = q->expect;
    if (ls_rp_judge(&d->p, &q->op, all, n, &st))
      finish_rq(q, st);
    else
      send_plan(q); /* the next plan: NOSCRIPT's reload */
  }
  leave(d);
}

/* Fails `q` on the next loop iteration: never inside a submit. */
static void defer_failure(rreq *q, logstate_status st) {
  q->state = RQ_FAILING;
  q->fail_st = st;
  snprintf(q->fail_msg, sizeof(q->fail_msg), "%s", logstate_last_error());
  struct timeval zero = {0, 0};
  evtimer_add(q->timer, &zero);
}

/* Sends the op's next plan: one round trip, one timeout. */
static void send_plan(rreq *q) {
  radrv *d = q->d;
  ls_rp_plan plan;
  drop_copies(q);
  ls_rp_plan_next(&d->p, &q->op, &plan);
  for (int i = 0; i < plan.n; i++) {
    if (redisAsyncCommandArgv(d->ac, on_reply, q, plan.cmd[i].argc, (const char **)plan.cmd[i].argv,
                              plan.cmd[i].len) != REDIS_OK) {
      ls_err(LOGSTATE_UNAVAILABLE, "redis: the connection is closing");
      defer_failure(q, LOGSTATE_UNAVAILABLE);
      return;
    }
    q->pending++;
  }
  q->expect = plan.n;
  q->state = RQ_SENT;
  d->round_trips++;
  unsigned int ms = ls_rp_timeout_ms(&d->p, &q->op);
  struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
  evtimer_add(q->timer, &tv);
}

static void on_rq_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  rreq *q = arg;
  radrv *d = q->d;
  char msg[100];
  enter(d);
  if (q->state == RQ_FAILING) {
    ls_err(q->fail_st, "%s", q->fail_msg);
    finish_rq(q, q->fail_st);
  } else if (q->state == RQ_WAITING) {
    finish_rq(q, ls_rp_timed_out(&d->p, &q->op));
  } else {
    /* Later replies queue behind the missing one: the connection is stuck. */
    snprintf(msg, sizeof(msg), "dropped after a request timed out after %u ms", ls_rp_timeout_ms(&d->p, &q->op));
    finish_rq(q, ls_rp_timed_out(&d->p, &q->op));
    if (!d->closing)
      drop_connection(d, msg);
  }
  leave(d);
}

static void finish_failed(radrv *d) {
  while (d->failed) {
    ls_areq *r = d->failed;
    d->failed = r->next;
    ls_areq_finish(&d->base, r);
  }
}

static void on_fail_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  radrv *d = arg;
  enter(d);
  finish_failed(d);
  leave(d);
}

static const ls_rp_kind rp_kind[] = {LS_RP_INIT, LS_RP_LOGS, LS_RP_GET, LS_RP_OPEN, LS_RP_SET};

static void rd_submit(ls_adriver *drv, ls_areq *r) {
  radrv *d = (radrv *)drv;
  char where[300];
  rreq *q = rreq_new(d, r);
  if (q == NULL) {
    /* Fail it on the next iteration with the driver's own timer, which
     * needs no memory. */
    ls_areq_result(r, ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory"));
    r->next = d->failed;
    d->failed = r;
    struct timeval zero = {0, 0};
    evtimer_add(d->fail_timer, &zero);
    return;
  }
  q->op = (ls_rp_op){.kind = rp_kind[r->kind],
                     .log_id = r->log_id,
                     .log_id_len = r->log_id_len,
                     .expect = r->snap.version,
                     .cp = r->cp,
                     .cp_len = r->cp_len};
  q->state = RQ_WAITING;
  if (ls_rp_begin(&d->p, &q->op) != LOGSTATE_OK) {
    defer_failure(q, LOGSTATE_RESOURCE_EXHAUSTED);
    return;
  }
  if (d->ac == NULL && !evtimer_pending(d->reconnect_timer, NULL))
    connect_now(d);
  if (d->ac) {
    send_plan(q);
  } else if (d->resolving) { /* sent when the address is known; the timeout runs already */
    unsigned int ms = ls_rp_timeout_ms(&d->p, &q->op);
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(q->timer, &tv);
  } else {
    ls_redis_config_where(&d->p.cfg, where, sizeof(where));
    ls_err(LOGSTATE_UNAVAILABLE, "redis %s: not connected, reconnecting (%s)", where, d->conn_error);
    defer_failure(q, LOGSTATE_UNAVAILABLE);
  }
}

static void rd_release(ls_adriver *drv, ls_asnap *s) {
  (void)drv;
  s->txn = NULL; /* a version needs no release */
}

static void rd_stats(ls_adriver *drv, logstate_redis_stats *out) {
  radrv *d = (radrv *)drv;
  out->round_trips = d->round_trips;
  out->connects = d->connects;
  out->script_reloads = atomic_load(&d->p.script_reloads);
  out->conflicts = atomic_load(&d->p.conflicts);
}

static void rd_free(ls_adriver *drv) {
  radrv *d = (radrv *)drv;
  enter(d);
  d->closing = 1;
  while (d->reqs) /* every owner is gone: this only frees */
    finish_rq(d->reqs, LOGSTATE_UNAVAILABLE);
  finish_failed(d);
  evtimer_del(d->fail_timer);
  if (d->resolve_req)
    evdns_getaddrinfo_cancel(d->resolve_req);
  d->resolve_req = NULL;
  d->resolving = 0;
  evtimer_del(d->reconnect_timer);
  evtimer_del(d->connect_timer);
  if (d->ac) {
    redisAsyncContext *ac = d->ac;
    d->ac = NULL;
    ac->data = NULL;
    redisAsyncFree(ac); /* deferred by hiredis when inside its callback */
  }
  leave(d);
}

static const ls_adriver_methods redis_async_methods = {
    .submit = rd_submit,
    .release = rd_release,
    .stats = rd_stats,
    .free = rd_free,
};

logstate_status ls_adriver_redis_new(ls_adriver **out, struct event_base *base, ls_redis_config *cfg) {
  radrv *d = calloc(1, sizeof(*d));
  if (d == NULL || (d->reconnect_timer = evtimer_new(base, on_reconnect_timer, d)) == NULL ||
      (d->connect_timer = evtimer_new(base, on_connect_timer, d)) == NULL ||
      (d->fail_timer = evtimer_new(base, on_fail_timer, d)) == NULL) {
    if (d && d->reconnect_timer)
      event_free(d->reconnect_timer);
    if (d && d->connect_timer)
      event_free(d->connect_timer);
    free(d);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "logstate_async_open: out of memory");
  }
  d->base.m = &redis_async_methods;
  d->evb = base;
  d->p.cfg = *cfg; /* the driver owns the configuration now */
  memset(cfg, 0, sizeof(*cfg));
  d->backoff_ms = BACKOFF_MIN_MS;
  *out = &d->base;
  return LOGSTATE_OK;
}

/* The asynchronous API on libevent and hiredis's async client.
 *
 * Lifetimes, the crux of "every callback exactly once":
 * - An op finishes exactly once, through finish() (reply, error, timeout,
 *   connection loss, or logstate_async_free). Its memory lives on until
 *   hiredis has handed back every reply it was owed (`pending`), because
 *   hiredis calls each command's callback exactly once, with NULL when the
 *   connection goes.
 * - The handle's memory lives until no call from the loop is on the stack
 *   (`depth`) and no write object refers to it (`refs`), so a user callback
 *   may free the handle.
 * - A request that times out means the pipelined connection is stuck (the
 *   replies come in order), so the connection is dropped and rebuilt. */
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logstate/async.h"
#include "redis_common.h"

#define MAX_REPLIES 9
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000

typedef enum { OP_INIT, OP_LOGS, OP_GET, OP_OPEN, OP_SET, OP_UPDATE } op_kind;
typedef enum { ST_IDLE, ST_WAITING, ST_BACKOFF, ST_DEFERRED } op_state;
typedef enum { STEP_READ, STEP_SET, STEP_RELOAD } op_step;

typedef struct op {
  struct op *prev, *next; /* in the handle's list while not finished */
  logstate_async *a;
  op_kind kind;
  op_state state;
  op_step step;
  int done, in_finish;
  int pending;     /* hiredis callbacks still owed to this op */
  int expect, got; /* replies of the current request */
  redisReply *copies[MAX_REPLIES];
  struct event *timer; /* request timeout, update backoff, deferred failure */
  logstate_async_done_cb done_cb;
  logstate_async_get_cb get_cb;
  logstate_async_logs_cb logs_cb;
  logstate_async_write_cb write_cb;
  void *arg;
  char *key, *log_id;
  size_t key_len, log_id_len;
  uint64_t version;
  uint8_t *cp; /* the checkpoint to set */
  size_t cp_len;
  logstate_update_fn fn;
  void *fn_arg;
  unsigned int attempt;
  logstate_status deferred_st;
  char deferred_msg[700];
} op;

struct logstate_async {
  struct event_base *base;
  ls_redis_config cfg;
  unsigned int update_attempts;
  size_t max_checkpoint_len;
  redisAsyncContext *ac;
  struct event *reconnect_timer, *connect_timer;
  unsigned int backoff_ms;
  char conn_error[300]; /* why the last connection ended */
  op *ops;
  int depth, closing;
  unsigned int refs; /* the user's handle + open write objects */
  uint64_t rng;
  logstate_redis_stats stats;
};

struct logstate_async_write {
  logstate_async *a;
  char *key, *log_id;
  size_t key_len, log_id_len;
  uint64_t version;
  uint8_t *cp;
  size_t cp_len;
  int ended;
};

static struct timeval ms_tv(unsigned int ms) {
  struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
  return tv;
}

/* --- replies we keep ---------------------------------------------------- */

/* hiredis frees an async reply when its callback returns; a request of
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
  if (r->str) {
    if ((d->str = ls_memdup(r->str, r->len)) == NULL)
      goto fail;
    d->len = r->len;
  }
  if (r->elements) {
    if ((d->element = calloc(r->elements, sizeof(*d->element))) == NULL)
      goto fail;
    d->elements = r->elements;
    for (size_t i = 0; i < r->elements; i++)
      if ((d->element[i] = reply_dup(r->element[i])) == NULL)
        goto fail;
  }
  return d;
fail:
  reply_free(d);
  return NULL;
}

static void drop_copies(op *o) {
  for (int i = 0; i < MAX_REPLIES; i++) {
    reply_free(o->copies[i]);
    o->copies[i] = NULL;
  }
  o->got = o->expect = 0;
}

/* --- handle lifetime ---------------------------------------------------- */

static void destroy(logstate_async *a) {
  event_free(a->reconnect_timer);
  event_free(a->connect_timer);
  ls_redis_config_free(&a->cfg);
  free(a);
}

static void enter(logstate_async *a) { a->depth++; }

static void leave(logstate_async *a) {
  if (--a->depth == 0 && a->closing && a->refs == 0)
    destroy(a);
}

static void op_free(op *o) {
  drop_copies(o);
  if (o->timer)
    event_free(o->timer);
  free(o->key);
  free(o->log_id);
  free(o->cp);
  free(o);
}

/* Finishes an op: exactly once, whatever path gets here first. The message
 * for a non-OK status must already be recorded (ls_err). */
static void finish(op *o, logstate_status st, const uint8_t *cp, size_t len, const char *const *ids, size_t n,
                   logstate_async_write *w) {
  logstate_async *a = o->a;
  o->done = 1;
  o->in_finish = 1;
  if (o->prev)
    o->prev->next = o->next;
  else
    a->ops = o->next;
  if (o->next)
    o->next->prev = o->prev;
  evtimer_del(o->timer);
  drop_copies(o);
  switch (o->kind) {
  case OP_GET:
    o->get_cb(st, cp, len, o->arg);
    break;
  case OP_LOGS:
    o->logs_cb(st, ids, n, o->arg);
    break;
  case OP_OPEN:
    o->write_cb(st, w, o->arg);
    break;
  default:
    o->done_cb(st, o->arg);
    break;
  }
  o->in_finish = 0;
  if (o->pending == 0)
    op_free(o);
}

/* Finishes an op whose callback takes only a status (or no data). */
static void finish_status(op *o, logstate_status st) { finish(o, st, NULL, 0, NULL, 0, NULL); }

/* --- the connection ----------------------------------------------------- */

static void schedule_reconnect(logstate_async *a) {
  if (a->closing || evtimer_pending(a->reconnect_timer, NULL))
    return;
  struct timeval tv = ms_tv(a->backoff_ms);
  evtimer_add(a->reconnect_timer, &tv);
  a->backoff_ms = a->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : a->backoff_ms * 2;
}

/* Frees the connection now: hiredis calls every pending reply callback with
 * NULL, so every op in flight on it fails with UNAVAILABLE. */
static void drop_connection(logstate_async *a, const char *why) {
  redisAsyncContext *ac = a->ac;
  if (ac == NULL)
    return;
  snprintf(a->conn_error, sizeof(a->conn_error), "%s", why);
  a->ac = NULL;
  evtimer_del(a->connect_timer);
  ac->data = NULL; /* its connect/disconnect callbacks no longer concern us */
  redisAsyncFree(ac);
  schedule_reconnect(a);
}

static void on_connect(const redisAsyncContext *ac, int status) {
  logstate_async *a = ac->data;
  if (a == NULL)
    return;
  enter(a);
  evtimer_del(a->connect_timer);
  if (status != REDIS_OK) {
    /* hiredis frees the context itself after this callback. */
    snprintf(a->conn_error, sizeof(a->conn_error), "cannot connect: %s", ac->c.errstr);
    a->ac = NULL;
    schedule_reconnect(a);
  } else {
    a->backoff_ms = BACKOFF_MIN_MS;
  }
  leave(a);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  logstate_async *a = ac->data;
  if (a == NULL)
    return;
  enter(a);
  snprintf(a->conn_error, sizeof(a->conn_error), "connection lost: %s",
           status == REDIS_OK ? "closed"
           : ac->c.errstr[0]  ? ac->c.errstr
                              : "I/O error");
  a->ac = NULL; /* hiredis frees it after this callback */
  schedule_reconnect(a);
  leave(a);
}

/* AUTH and SELECT go first on every new connection; a failure there shows
 * again in the replies of the operations behind them (NOAUTH). */
static void on_setup_reply(redisAsyncContext *ac, void *reply, void *priv) {
  (void)priv;
  logstate_async *a = ac->data;
  redisReply *r = reply;
  if (a && r && r->type == REDIS_REPLY_ERROR)
    snprintf(a->conn_error, sizeof(a->conn_error), "connection setup refused: %.200s", r->str);
}

static void setup_cmd(logstate_async *a, int argc, const char **argv) {
  redisAsyncCommandArgv(a->ac, on_setup_reply, NULL, argc, argv, NULL);
}

static void connect_now(logstate_async *a) {
  const ls_redis_config *c = &a->cfg;
  if (a->ac || a->closing)
    return;
  redisAsyncContext *ac = c->unix_path ? redisAsyncConnectUnix(c->unix_path) : redisAsyncConnect(c->host, (int)c->port);
  if (ac == NULL || ac->err) {
    snprintf(a->conn_error, sizeof(a->conn_error), "cannot connect: %s", ac ? ac->errstr : "out of memory");
    if (ac)
      redisAsyncFree(ac);
    schedule_reconnect(a);
    return;
  }
  ac->data = a;
  if (redisLibeventAttach(ac, a->base) != REDIS_OK) {
    snprintf(a->conn_error, sizeof(a->conn_error), "cannot attach to the event loop");
    ac->data = NULL;
    redisAsyncFree(ac);
    schedule_reconnect(a);
    return;
  }
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  if (!c->unix_path)
    redisEnableKeepAlive(&ac->c);
  a->ac = ac;
  a->stats.connects++;
  struct timeval tv = ms_tv(c->connect_timeout_ms);
  evtimer_add(a->connect_timer, &tv);
  if (c->password) {
    const char *auth[] = {"AUTH", c->user ? c->user : c->password, c->password};
    setup_cmd(a, c->user ? 3 : 2, auth);
  }
  if (c->db) {
    char db[16];
    snprintf(db, sizeof(db), "%u", c->db);
    const char *sel[] = {"SELECT", db};
    setup_cmd(a, 2, sel);
  }
}

static void on_reconnect_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  logstate_async *a = arg;
  enter(a);
  connect_now(a);
  leave(a);
}

static void on_connect_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  logstate_async *a = arg;
  char msg[64];
  enter(a);
  snprintf(msg, sizeof(msg), "connect timed out after %u ms", a->cfg.connect_timeout_ms);
  drop_connection(a, msg);
  leave(a);
}

/* --- requests ----------------------------------------------------------- */

static void process(op *o, redisReply *last);

/* Fails the op on the next loop iteration: never from inside a submit. */
static void defer_failure(op *o, logstate_status st, const char *msg) {
  o->state = ST_DEFERRED;
  o->deferred_st = st;
  snprintf(o->deferred_msg, sizeof(o->deferred_msg), "%s", msg);
  struct timeval zero = {0, 0};
  evtimer_add(o->timer, &zero);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv) {
  op *o = priv;
  redisReply *r = reply;
  o->pending--;
  if (o->done) {
    if (o->pending == 0 && !o->in_finish)
      op_free(o);
    return;
  }
  logstate_async *a = o->a;
  char where[300];
  enter(a);
  if (r == NULL) {
    ls_redis_config_where(&a->cfg, where, sizeof(where));
    const char *why = ac->c.errstr[0] ? ac->c.errstr : a->conn_error[0] ? a->conn_error : "connection closed";
    int maybe_applied = o->step != STEP_READ && (o->kind == OP_SET || o->kind == OP_UPDATE);
    ls_err(LOGSTATE_UNAVAILABLE, "redis %s: the connection went with the operation in flight (%s)%s", where, why,
           maybe_applied ? "; the set may or may not have been applied" : "");
    finish_status(o, LOGSTATE_UNAVAILABLE);
  } else if (o->got < o->expect - 1) {
    if ((o->copies[o->got++] = reply_dup(r)) == NULL) {
      ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory keeping a reply");
      finish_status(o, LOGSTATE_RESOURCE_EXHAUSTED);
    }
  } else {
    evtimer_del(o->timer);
    o->state = ST_IDLE;
    process(o, r);
  }
  leave(a);
}

/* Sends one pipelined request: one round trip, one timeout. */
static void send_request(op *o, const ls_redis_cmd *cmds, int n) {
  logstate_async *a = o->a;
  char where[300], msg[700];
  if (a->ac == NULL && !evtimer_pending(a->reconnect_timer, NULL))
    connect_now(a);
  ls_redis_config_where(&a->cfg, where, sizeof(where));
  if (a->ac == NULL) {
    snprintf(msg, sizeof(msg), "redis %s: not connected, reconnecting (%s)", where, a->conn_error);
    defer_failure(o, LOGSTATE_UNAVAILABLE, msg);
    return;
  }
  drop_copies(o);
  o->expect = n;
  for (int i = 0; i < n; i++) {
    if (redisAsyncCommandArgv(a->ac, on_reply, o, cmds[i].argc, (const char **)cmds[i].argv, cmds[i].len) != REDIS_OK) {
      snprintf(msg, sizeof(msg), "redis %s: the connection is closing", where);
      defer_failure(o, LOGSTATE_UNAVAILABLE, msg);
      return;
    }
    o->pending++;
  }
  a->stats.round_trips++;
  o->state = ST_WAITING;
  struct timeval tv =
      ms_tv(a->cfg.timeout_ms + (a->cfg.min_replicas && o->step != STEP_READ ? a->cfg.replica_timeout_ms : 0));
  evtimer_add(o->timer, &tv);
}

static void send_read(op *o) {
  ls_redis_cmd c = {4, {"HMGET", o->key, "version", "checkpoint"}, {5, o->key_len, 7, 10}};
  o->step = STEP_READ;
  send_request(o, &c, 1);
}

static void send_set(op *o, int reload) {
  logstate_async *a = o->a;
  ls_redis_cmd cmds[3];
  char version[24], waitbuf[32];
  int n = 0;
  if (reload)
    ls_redis_script_load_cmd(&cmds[n++]);
  ls_redis_evalsha_cmd(&a->cfg, &cmds[n++], o->key, o->key_len, o->version, version, o->cp, o->cp_len, o->log_id,
                       o->log_id_len);
  if (a->cfg.min_replicas)
    ls_redis_wait_cmd(&a->cfg, &cmds[n++], waitbuf);
  o->step = reload ? STEP_RELOAD : STEP_SET;
  send_request(o, cmds, n);
}

static uint64_t next_random(logstate_async *a) {
  a->rng ^= a->rng << 13;
  a->rng ^= a->rng >> 7;
  a->rng ^= a->rng << 17;
  return a->rng;
}

static void on_op_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  op *o = arg;
  logstate_async *a = o->a;
  char where[300], msg[200];
  enter(a);
  switch (o->state) {
  case ST_DEFERRED:
    ls_err(o->deferred_st, "%s", o->deferred_msg);
    finish_status(o, o->deferred_st);
    break;
  case ST_BACKOFF:
    send_read(o);
    break;
  case ST_WAITING:
    ls_redis_config_where(&a->cfg, where, sizeof(where));
    ls_err(LOGSTATE_UNAVAILABLE, "redis %s: timed out after %u ms%s", where, a->cfg.timeout_ms,
           o->step != STEP_READ ? "; the set may or may not have been applied" : "");
    finish_status(o, LOGSTATE_UNAVAILABLE);
    /* Later replies queue behind the missing one: the connection is stuck. */
    snprintf(msg, sizeof(msg), "dropped after a request timed out after %u ms", a->cfg.timeout_ms);
    if (!a->closing)
      drop_connection(a, msg);
    break;
  case ST_IDLE:
    break;
  }
  leave(a);
}

/* The outcome of a set from the script's reply and, with min_replicas,
 * WAIT's. */
static logstate_status set_outcome(op *o, const redisReply *script, const redisReply *wait) {
  logstate_async *a = o->a;
  logstate_status st = ls_redis_parse_set_result(&a->cfg, script, o->key, o->key_len);
  if (st == LOGSTATE_OK && wait)
    st = ls_redis_check_wait(&a->cfg, wait);
  if (st == LOGSTATE_ABORTED)
    a->stats.conflicts++;
  return st;
}

static void update_read_done(op *o, const redisReply *r) {
  logstate_async *a = o->a;
  uint8_t *cur = NULL, *next = NULL;
  size_t cur_len = 0, next_len = 0;
  char q[LS_QUOTE_BUFSZ];
  logstate_status st = ls_redis_parse_snapshot(&a->cfg, r, o->key, o->key_len, &o->version, &cur, &cur_len);
  if (st != LOGSTATE_OK) {
    finish_status(o, st);
    return;
  }
  o->in_finish = 1; /* fn may free the handle, which finishes this op */

  st = o->fn(cur, cur_len, &next, &next_len, o->fn_arg);
  o->in_finish = 0;
  free(cur);
  if (o->done) { /* the handle was freed inside fn */
    free(next);
    if (o->pending == 0)
      op_free(o);
    return;
  }
  if (st != LOGSTATE_OK || next == NULL) {
    free(next);
    if (st != LOGSTATE_OK)
      ls_err(st, "logstate_async_update: the update function for log %s returned %s",
             ls_quote(q, sizeof(q), o->log_id, o->log_id_len), logstate_status_name(st));
    finish_status(o, st); /* OK with no value: no change */
    return;
  }
  st = ls_check_checkpoint("logstate_async_update", a->max_checkpoint_len, next, next_len);
  if (st != LOGSTATE_OK) {
    free(next);
    finish_status(o, st);
    return;
  }
  free(o->cp);
  o->cp = next;
  o->cp_len = next_len;
  send_set(o, 0);
}

static void process(op *o, redisReply *last) {
  logstate_async *a = o->a;
  const redisReply *all[MAX_REPLIES];
  for (int i = 0; i < o->expect - 1; i++)
    all[i] = o->copies[i];
  all[o->expect - 1] = last;
  logstate_status st;
  char q[LS_QUOTE_BUFSZ];

  switch (o->kind) {
  case OP_INIT:
    finish_status(o, ls_redis_check_init_replies(&a->cfg, all, o->expect));
    return;
  case OP_LOGS: {
    char **ids = NULL;
    size_t n = 0;
    st = ls_redis_parse_logs(&a->cfg, last, &ids, &n);
    if (st == LOGSTATE_OK)
      ls_sort_unique(ids, &n);
    finish(o, st, NULL, 0, st == LOGSTATE_OK ? (const char *const *)ids : NULL, st == LOGSTATE_OK ? n : 0, NULL);
    logstate_logs_free(ids, n);
    return;
  }
  case OP_GET: {
    uint8_t *cp = NULL;
    size_t len = 0;
    st = ls_redis_parse_get(&a->cfg, last, o->key, o->key_len, o->log_id, o->log_id_len, &cp, &len);
    finish(o, st, cp, len, NULL, 0, NULL);
    free(cp);
    return;
  }
  case OP_OPEN: {
    logstate_async_write *w = calloc(1, sizeof(*w));
    if (w == NULL) {
      finish_status(o, ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory"));
      return;
    }
    st = ls_redis_parse_snapshot(&a->cfg, last, o->key, o->key_len, &w->version, &w->cp, &w->cp_len);
    if (st != LOGSTATE_OK) {
      free(w);
      finish_status(o, st);
      return;
    }
    /* The transaction takes over the op's key and log ID. */
    w->a = a;
    w->key = o->key;
    w->key_len = o->key_len;
    w->log_id = o->log_id;
    w->log_id_len = o->log_id_len;
    o->key = o->log_id = NULL;
    a->refs++;
    finish(o, LOGSTATE_OK, NULL, 0, NULL, 0, w);
    return;
  }
  case OP_SET:
  case OP_UPDATE:
    break;
  }

  if (o->kind == OP_UPDATE && o->step == STEP_READ) {
    update_read_done(o, last);
    return;
  }
  /* STEP_SET: [EVALSHA, WAIT?]; STEP_RELOAD: [SCRIPT LOAD, EVALSHA, WAIT?]. */
  int base = o->step == STEP_RELOAD ? 1 : 0;
  if (o->step == STEP_RELOAD && all[0]->type == REDIS_REPLY_ERROR) {
    finish_status(o, ls_redis_reply_error(&a->cfg, all[0], "SCRIPT LOAD", NULL, 0));
    return;
  }
  if (ls_redis_is_noscript(all[base]) && o->step == STEP_SET) {
    /* Nothing was applied. The reload + EVALSHA is still a compare-and-set
     * on the version read at open. */
    a->stats.script_reloads++;
    send_set(o, 1);
    return;
  }
  st = set_outcome(o, all[base], a->cfg.min_replicas ? all[base + 1] : NULL);
  if (st == LOGSTATE_ABORTED && o->kind == OP_UPDATE) {
    if (o->attempt >= a->update_attempts) {
      finish_status(o, ls_err(LOGSTATE_ABORTED,
                              "logstate_async_update: log %s: another writer won the race %u times in a row",
                              ls_quote(q, sizeof(q), o->log_id, o->log_id_len), o->attempt));
      return;
    }
    o->attempt++;
    unsigned int shift = o->attempt < 9 ? o->attempt : 9;
    uint64_t us = next_random(a) % ((uint64_t)50 << shift);
    struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
    o->state = ST_BACKOFF;
    evtimer_add(o->timer, &tv);
    return;
  }
  finish_status(o, st);
}

/* --- submitting --------------------------------------------------------- */

static logstate_status check_handle(const char *fn, logstate_async *a, const void *cb) {
  if (a == NULL || cb == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: %s is NULL", fn, a ? "callback" : "handle");
  if (a->closing)
    return ls_err(LOGSTATE_FAILED_PRECONDITION, "%s: the handle is being freed", fn);
  return LOGSTATE_OK;
}

static op *op_new(logstate_async *a, op_kind kind, void *arg) {
  op *o = calloc(1, sizeof(*o));
  if (o == NULL)
    return NULL;
  if ((o->timer = evtimer_new(a->base, on_op_timer, o)) == NULL) {
    free(o);
    return NULL;
  }
  o->a = a;
  o->kind = kind;
  o->arg = arg;
  o->attempt = 1;
  o->next = a->ops;
  if (a->ops)
    a->ops->prev = o;
  a->ops = o;
  return o;
}

/* Unlinks an op that never got going (out of memory while preparing it). */
static void op_abandon(op *o) {
  logstate_async *a = o->a;
  if (o->prev)
    o->prev->next = o->next;
  else
    a->ops = o->next;
  if (o->next)
    o->next->prev = o->prev;
  op_free(o);
}

/* An op on one log: validates the ID and fills key and log_id. */
static logstate_status op_for_log(const char *fn, logstate_async *a, const char *log_id, op_kind kind, void *arg,
                                  op **out) {
  size_t n;
  logstate_status st = ls_check_log_id(fn, log_id, &n);
  if (st != LOGSTATE_OK)
    return st;
  op *o = op_new(a, kind, arg);
  if (o == NULL || (o->key = ls_redis_log_key(&a->cfg, log_id, n, &o->key_len)) == NULL ||
      (o->log_id = ls_memdup(log_id, n)) == NULL) {
    if (o)
      op_abandon(o);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "%s: out of memory", fn);
  }
  o->log_id_len = n;
  *out = o;
  return LOGSTATE_OK;
}

static logstate_status open_common(logstate_async **out, struct event_base *base, ls_redis_config *cfg,
                                   const logstate_options *opts) {
  logstate_async *a = calloc(1, sizeof(*a));
  if (a == NULL || (a->reconnect_timer = evtimer_new(base, on_reconnect_timer, a)) == NULL ||
      (a->connect_timer = evtimer_new(base, on_connect_timer, a)) == NULL) {
    if (a && a->reconnect_timer)
      event_free(a->reconnect_timer);
    free(a);
    ls_redis_config_free(cfg);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "logstate_async_open: out of memory");
  }
  a->base = base;
  a->cfg = *cfg;
  a->update_attempts = opts && opts->update_attempts ? opts->update_attempts : LOGSTATE_DEFAULT_UPDATE_ATTEMPTS;
  a->max_checkpoint_len =
      opts && opts->max_checkpoint_len ? opts->max_checkpoint_len : LOGSTATE_DEFAULT_MAX_CHECKPOINT_LEN;
  a->backoff_ms = BACKOFF_MIN_MS;
  a->refs = 1;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  a->rng = ((uint64_t)now.tv_nsec << 20) ^ (uint64_t)(uintptr_t)a ^ 1;
  *out = a;
  return LOGSTATE_OK;
}

static logstate_status check_open(logstate_async **out, struct event_base *base, const logstate_options *opts) {
  if (out)
    *out = NULL;
  if (out == NULL || base == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_async_open: %s is NULL", out ? "event base" : "out");
  if (opts && opts->version != LOGSTATE_OPTIONS_VERSION)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_async_open: options version %u is not supported", opts->version);
  return LOGSTATE_OK;
}

logstate_status logstate_async_open(logstate_async **out, struct event_base *base, const char *url,
                                    const logstate_options *opts) {
  logstate_status st = check_open(out, base, opts);
  if (st != LOGSTATE_OK)
    return st;
  if (url == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_async_open: url is NULL");
  if (strncmp(url, "redis://", 8) != 0 && strncmp(url, "redis+unix://", 13) != 0)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_async_open: the async API needs a redis:// or "
                                             "redis+unix:// URL");
  ls_redis_config cfg;
  st = ls_redis_config_from_url(&cfg, url);
  return st == LOGSTATE_OK ? open_common(out, base, &cfg, opts) : st;
}

logstate_status logstate_async_open_redis(logstate_async **out, struct event_base *base,
                                          const logstate_redis_options *ro, const logstate_options *opts) {
  logstate_status st = check_open(out, base, opts);
  if (st != LOGSTATE_OK)
    return st;
  ls_redis_config cfg;
  st = ls_redis_config_from_options(&cfg, ro);
  return st == LOGSTATE_OK ? open_common(out, base, &cfg, opts) : st;
}

void logstate_async_free(logstate_async *a) {
  if (a == NULL || a->closing)
    return;
  enter(a);
  a->closing = 1;
  while (a->ops) {
    ls_err(LOGSTATE_UNAVAILABLE, "logstate_async_free: the handle was freed with the operation pending");
    finish_status(a->ops, LOGSTATE_UNAVAILABLE);
  }
  evtimer_del(a->reconnect_timer);
  evtimer_del(a->connect_timer);
  if (a->ac) {
    redisAsyncContext *ac = a->ac;
    a->ac = NULL;
    ac->data = NULL;
    redisAsyncFree(ac); /* deferred by hiredis when inside its callback */
  }
  a->refs--;
  leave(a);
}

logstate_status logstate_async_init(logstate_async *a, logstate_async_done_cb cb, void *arg) {
  logstate_status st = check_handle("logstate_async_init", a, (const void *)cb);
  if (st != LOGSTATE_OK)
    return st;
  op *o = op_new(a, OP_INIT, arg);
  if (o == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "logstate_async_init: out of memory");
  o->done_cb = cb;
  ls_redis_cmd cmds[LS_REDIS_INIT_CMDS];
  send_request(o, cmds, ls_redis_init_cmds(&a->cfg, cmds));
  return LOGSTATE_OK;
}

logstate_status logstate_async_logs(logstate_async *a, logstate_async_logs_cb cb, void *arg) {
  logstate_status st = check_handle("logstate_async_logs", a, (const void *)cb);
  if (st != LOGSTATE_OK)
    return st;
  op *o = op_new(a, OP_LOGS, arg);
  if (o == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "logstate_async_logs: out of memory");
  o->logs_cb = cb;
  ls_redis_cmd c = {2, {"SMEMBERS", a->cfg.key_logs}, {8, a->cfg.key_logs_len}};
  send_request(o, &c, 1);
  return LOGSTATE_OK;
}

logstate_status logstate_async_get_latest(logstate_async *a, const char *log_id, logstate_async_get_cb cb, void *arg) {
  op *o;
  logstate_status st = check_handle("logstate_async_get_latest", a, (const void *)cb);
  if (st == LOGSTATE_OK)
    st = op_for_log("logstate_async_get_latest", a, log_id, OP_GET, arg, &o);
  if (st != LOGSTATE_OK)
    return st;
  o->get_cb = cb;
  ls_redis_cmd c = {3, {"HGET", o->key, "checkpoint"}, {4, o->key_len, 10}};
  send_request(o, &c, 1);
  return LOGSTATE_OK;
}

logstate_status logstate_async_write_ops(logstate_async *a, const char *log_id, logstate_async_write_cb cb, void *arg) {
  op *o;
  logstate_status st = check_handle("logstate_async_write_ops", a, (const void *)cb);
  if (st == LOGSTATE_OK)
    st = op_for_log("logstate_async_write_ops", a, log_id, OP_OPEN, arg, &o);
  if (st != LOGSTATE_OK)
    return st;
  o->write_cb = cb;
  send_read(o);
  return LOGSTATE_OK;
}

logstate_status logstate_async_write_get_latest(logstate_async_write *w, const uint8_t **out_cp, size_t *out_len) {
  char q[LS_QUOTE_BUFSZ];
  if (out_cp)
    *out_cp = NULL;
  if (out_len)
    *out_len = 0;
  if (w == NULL || out_cp == NULL || out_len == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_async_write_get_latest: %s is NULL",
                  w == NULL        ? "write ops"
                  : out_cp == NULL ? "out_cp"
                                   : "out_len");
  if (w->ended)
    return ls_err(LOGSTATE_FAILED_PRECONDITION, "logstate_async_write_get_latest: the transaction ended with a set");
  if (w->cp == NULL)
    return ls_err(LOGSTATE_NOT_FOUND, "redis: no checkpoint stored for log %s",
                  ls_quote(q, sizeof(q), w->log_id, w->log_id_len));
  *out_cp = w->cp;
  *out_len = w->cp_len;
  return LOGSTATE_OK;
}

logstate_status logstate_async_write_set(logstate_async_write *w, const uint8_t *cp, size_t len,
                                         logstate_async_done_cb cb, void *arg) {
  if (w == NULL || cb == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_async_write_set: %s is NULL", w ? "callback" : "write ops");
  if (w->ended)
    return ls_err(LOGSTATE_FAILED_PRECONDITION, "logstate_async_write_set: the transaction already ended with a "
                                                "set; only logstate_async_write_close is allowed now");
  logstate_async *a = w->a;
  if (a->closing)
    return ls_err(LOGSTATE_FAILED_PRECONDITION, "logstate_async_write_set: the handle was freed");
  logstate_status st = ls_check_checkpoint("logstate_async_write_set", a->max_checkpoint_len, cp, len);
  if (st != LOGSTATE_OK)
    return st;
  op *o = op_new(a, OP_SET, arg);
  if (o == NULL || (o->key = ls_memdup(w->key, w->key_len)) == NULL ||
      (o->log_id = ls_memdup(w->log_id, w->log_id_len)) == NULL || (o->cp = ls_memdup(cp, len)) == NULL) {
    if (o)
      op_abandon(o);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "logstate_async_write_set: out of memory");
  }
  o->key_len = w->key_len;
  o->log_id_len = w->log_id_len;
  o->cp_len = len;
  o->version = w->version;
  o->done_cb = cb;
  w->ended = 1;
  send_set(o, 0);
  return LOGSTATE_OK;
}

logstate_status logstate_async_write_close(logstate_async_write *w) {
  if (w == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_async_write_close: write ops is NULL");
  logstate_async *a = w->a;
  free(w->key);
  free(w->log_id);
  free(w->cp);
  free(w);
  a->refs--;
  if (a->closing && a->refs == 0 && a->depth == 0)
    destroy(a);
  return LOGSTATE_OK;
}

logstate_status logstate_async_update(logstate_async *a, const char *log_id, logstate_update_fn fn, void *fn_arg,
                                      logstate_async_done_cb cb, void *arg) {
  op *o;
  logstate_status st = check_handle("logstate_async_update", a, (const void *)cb);
  if (st == LOGSTATE_OK && fn == NULL)
    st = ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_async_update: update function is NULL");
  if (st == LOGSTATE_OK)
    st = op_for_log("logstate_async_update", a, log_id, OP_UPDATE, arg, &o);
  if (st != LOGSTATE_OK)
    return st;
  o->fn = fn;
  o->fn_arg = fn_arg;
  o->done_cb = cb;
  send_read(o);
  return LOGSTATE_OK;
}

logstate_status logstate_async_get_stats(logstate_async *a, logstate_redis_stats *out) {
  if (a == NULL || out == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_async_get_stats: %s is NULL", a ? "out" : "handle");
  *out = a->stats;
  return LOGSTATE_OK;
}

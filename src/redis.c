/* The Redis backend on hiredis 0.14 (sync).
 *
 * Round trips: a read is one (HGET). A write transaction is two: open
 * pipelines [UNWATCH] WATCH + HMGET; set pipelines MULTI + EVALSHA + EXEC
 * [+ WAIT]. A close without set sends nothing: the connection remembers that
 * a WATCH may be active, and the next transaction on it pipelines UNWATCH in
 * front of its WATCH. The set script also compares the version read at open,
 * so the NOSCRIPT recovery (SCRIPT LOAD + EVALSHA, no MULTI) stays a
 * compare-and-set although EXEC has dropped the WATCH.
 *
 * Connections come from a pool. A write transaction keeps its connection
 * from open to close, and is never reconnected in between: a connection lost
 * there fails the transaction with UNAVAILABLE. Idempotent operations (read,
 * logs, init, opening a transaction) retry once on a fresh connection when a
 * pooled connection turns out to be dead, so a server restart costs no
 * operation once the server is back. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis_common.h"

typedef struct conn {
  redisContext *c; /* NULL: not connected */
  int watch_dirty; /* a WATCH may still be active on this connection */
} conn;

typedef struct redis_backend {
  logstate_backend base;
  ls_redis_config cfg;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  conn **idle; /* stack of idle connections */
  unsigned int nidle;
  unsigned int created; /* conn structs handed out or idle, at most cfg.pool */
  atomic_uint_fast64_t round_trips, connects, script_reloads, conflicts;
} redis_backend;

struct logstate_backend_txn {
  conn *k;
  char *key;
  size_t key_len;
  char *log_id;
  size_t log_id_len;
  uint64_t version;
  uint8_t *cp;
  size_t cp_len;
};

static const logstate_backend_methods redis_methods;

/* --- connections -------------------------------------------------------- */

static struct timeval ms_tv(unsigned int ms) {
  struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
  return tv;
}

static void conn_drop(conn *k) {
  if (k->c)
    redisFree(k->c);
  k->c = NULL;
  k->watch_dirty = 0;
}

/* A pipeline: commands appended with cmd(), replies collected by flush(). */
typedef struct pipeline {
  int n;
  int oom;
  redisReply *r[8];
} pipeline;

static void cmd(conn *k, pipeline *p, int argc, const char *const *argv, const size_t *lens) {
  if (redisAppendCommandArgv(k->c, argc, (const char **)argv, lens) != REDIS_OK)
    p->oom = 1;
  p->n++;
}

static void cmdv(conn *k, pipeline *p, const ls_redis_cmd *c) { cmd(k, p, c->argc, c->argv, c->len); }

static void pipeline_free(pipeline *p) {
  for (int i = 0; i < p->n; i++)
    if (p->r[i])
      freeReplyObject(p->r[i]);
  memset(p, 0, sizeof(*p));
}

/* Sends what was appended and reads every reply: one round trip. On an I/O
 * error the connection is dead (hiredis keeps c->err) and is dropped when
 * released. */
static logstate_status flush(redis_backend *b, conn *k, pipeline *p, const char *what) {
  if (p->oom)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: %s: out of memory building commands", what);
  atomic_fetch_add(&b->round_trips, 1);
  for (int i = 0; i < p->n; i++) {
    void *reply = NULL;
    if (redisGetReply(k->c, &reply) != REDIS_OK || reply == NULL) {
      logstate_status st = ls_redis_io_error(&b->cfg, k->c->err, k->c->errstr, what);
      return st;
    }
    p->r[i] = reply;
  }
  return LOGSTATE_OK;
}

/* Connects and prepares a connection: timeouts, keepalive, AUTH, SELECT,
 * PING, all of it again on every reconnect (redisReconnect would drop the
 * timeouts). */
static logstate_status conn_connect(redis_backend *b, conn *k) {
  const ls_redis_config *c = &b->cfg;
  char where[300];
  conn_drop(k);
  ls_redis_config_where(c, where, sizeof(where));
  redisContext *ctx = c->unix_path ? redisConnectUnixWithTimeout(c->unix_path, ms_tv(c->connect_timeout_ms))
                                   : redisConnectWithTimeout(c->host, (int)c->port, ms_tv(c->connect_timeout_ms));
  if (ctx == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis %s: out of memory connecting", where);
  if (ctx->err) {
    logstate_status st = ls_err(LOGSTATE_UNAVAILABLE, "redis %s: cannot connect: %s", where, ctx->errstr);
    redisFree(ctx);
    return st;
  }
  /* WAIT blocks up to replica_timeout_ms: give it room. */
  unsigned int t = c->timeout_ms + (c->min_replicas ? c->replica_timeout_ms : 0);
  if (redisSetTimeout(ctx, ms_tv(t)) != REDIS_OK || (!c->unix_path && redisEnableKeepAlive(ctx) != REDIS_OK)) {
    logstate_status st = ls_err(LOGSTATE_UNAVAILABLE, "redis %s: cannot set socket options: %s", where, ctx->errstr);
    redisFree(ctx);
    return st;
  }
  k->c = ctx;
  atomic_fetch_add(&b->connects, 1);

  pipeline p = {0};
  char db[16];
  int auth = c->password != NULL, sel = c->db != 0;
  if (auth) { /* AUTH [user] password */
    const char *argv[] = {"AUTH", c->user ? c->user : c->password, c->password};
    size_t lens[] = {4, strlen(argv[1]), strlen(c->password)};
    cmd(k, &p, c->user ? 3 : 2, argv, lens);
  }
  if (sel) {
    snprintf(db, sizeof(db), "%u", c->db);
    const char *argv[] = {"SELECT", db};
    size_t lens[] = {6, strlen(db)};
    cmd(k, &p, 2, argv, lens);
  }
  const char *ping[] = {"PING"};
  size_t ping_len[] = {4};
  cmd(k, &p, 1, ping, ping_len);
  logstate_status st = flush(b, k, &p, "connecting");
  for (int i = 0; st == LOGSTATE_OK && i < p.n; i++) {
    redisReply *r = p.r[i];
    if (r->type != REDIS_REPLY_ERROR)
      continue;
    if (auth && i == 0) {
      /* Any AUTH refusal is a permission problem, whatever its code. The
       * server's text never contains the password. */
      st = ls_err(LOGSTATE_PERMISSION_DENIED, "redis %s: authentication as %s failed: %.*s", where,
                  c->user ? c->user : "the default user", (int)(r->len > 300 ? 300 : r->len), r->str);
    } else {
      st = ls_redis_reply_error(c, r, sel && i == auth ? "SELECT" : "PING", NULL, 0);
    }
  }
  pipeline_free(&p);
  if (st != LOGSTATE_OK)
    conn_drop(k);
  return st;
}

static logstate_status pool_timeout(redis_backend *b) {
  return ls_err(LOGSTATE_RESOURCE_EXHAUSTED,
                "redis: all %u pool connections stayed busy for %u ms (raise pool, or close write ops sooner)",
                b->cfg.pool, b->cfg.timeout_ms);
}

/* Takes a connection from the pool, waiting up to timeout_ms for one.
 * `*reused` says whether it was already connected (it may have gone stale). */
static logstate_status conn_acquire(redis_backend *b, conn **out, int *reused) {
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += b->cfg.timeout_ms / 1000;
  deadline.tv_nsec += (long)(b->cfg.timeout_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  conn *k = NULL;
  pthread_mutex_lock(&b->mu);
  while (b->nidle == 0 && b->created >= b->cfg.pool) {
    if (pthread_cond_timedwait(&b->cv, &b->mu, &deadline) == ETIMEDOUT && b->nidle == 0 && b->created >= b->cfg.pool) {
      pthread_mutex_unlock(&b->mu);
      return pool_timeout(b);
    }
  }
  if (b->nidle > 0) {
    k = b->idle[--b->nidle];
  } else if ((k = calloc(1, sizeof(*k))) != NULL) {
    b->created++;
  }
  pthread_mutex_unlock(&b->mu);
  if (k == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
  *reused = k->c != NULL;
  if (k->c == NULL) {
    logstate_status st = conn_connect(b, k);
    if (st != LOGSTATE_OK) {
      pthread_mutex_lock(&b->mu);
      b->idle[b->nidle++] = k; /* an unconnected slot, tried again next time */
      pthread_cond_signal(&b->cv);
      pthread_mutex_unlock(&b->mu);
      return st;
    }
  }
  *out = k;
  return LOGSTATE_OK;
}

static void conn_release(redis_backend *b, conn *k) {
  if (k->c && k->c->err)
    conn_drop(k); /* dead: reconnect on next use */
  pthread_mutex_lock(&b->mu);
  b->idle[b->nidle++] = k;
  pthread_cond_signal(&b->cv);
  pthread_mutex_unlock(&b->mu);
}

/* Runs an idempotent pipeline built by `build` and checks nothing but I/O:
 * when a pooled connection turns out dead, it retries once on a new one. */
typedef void (*build_fn)(conn *k, pipeline *p, void *arg);

static logstate_status run_idempotent(redis_backend *b, build_fn build, void *arg, pipeline *p, const char *what,
                                      conn **keep) {
  for (int attempt = 0;; attempt++) {
    conn *k = NULL;
    int reused = 0;
    logstate_status st = conn_acquire(b, &k, &reused);
    if (st != LOGSTATE_OK)
      return st;
    memset(p, 0, sizeof(*p));
    build(k, p, arg);
    st = flush(b, k, p, what);
    if (st == LOGSTATE_OK) {
      if (keep)
        *keep = k;
      else
        conn_release(b, k);
      return LOGSTATE_OK;
    }
    int stale = reused && k->c->err && k->c->err != REDIS_ERR_OOM && attempt == 0;
    pipeline_free(p);
    conn_release(b, k);
    if (!stale)
      return st;
  }
}

/* --- operations --------------------------------------------------------- */

typedef struct key_arg {
  const char *key;
  size_t key_len;
} key_arg;

static void build_get(conn *k, pipeline *p, void *arg) {
  key_arg *a = arg;
  const char *argv[] = {"HGET", a->key, "checkpoint"};
  size_t lens[] = {4, a->key_len, 10};
  cmd(k, p, 3, argv, lens);
}

static logstate_status rd_get_latest(logstate_backend *be, const char *log_id, size_t log_id_len, uint8_t **out_cp,
                                     size_t *out_len) {
  redis_backend *b = (redis_backend *)be;
  key_arg a = {NULL, 0};
  char *key = ls_redis_log_key(&b->cfg, log_id, log_id_len, &a.key_len);
  if ((a.key = key) == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
  pipeline p;
  logstate_status st = run_idempotent(b, build_get, &a, &p, "reading a checkpoint", NULL);
  if (st == LOGSTATE_OK) {
    st = ls_redis_parse_get(&b->cfg, p.r[0], key, a.key_len, log_id, log_id_len, out_cp, out_len);
    pipeline_free(&p);
  }
  free(key);
  return st;
}

static void build_logs(conn *k, pipeline *p, void *arg) {
  const ls_redis_config *c = arg;
  const char *argv[] = {"SMEMBERS", c->key_logs};
  size_t lens[] = {8, c->key_logs_len};
  cmd(k, p, 2, argv, lens);
}

static logstate_status rd_logs(logstate_backend *be, char ***out_ids, size_t *out_n) {
  redis_backend *b = (redis_backend *)be;
  pipeline p;
  logstate_status st = run_idempotent(b, build_logs, &b->cfg, &p, "listing logs", NULL);
  if (st == LOGSTATE_OK) {
    st = ls_redis_parse_logs(&b->cfg, p.r[0], out_ids, out_n);
    pipeline_free(&p);
  }
  return st;
}

static void build_init(conn *k, pipeline *p, void *arg) {
  ls_redis_cmd cmds[LS_REDIS_INIT_CMDS];
  int n = ls_redis_init_cmds(arg, cmds);
  for (int i = 0; i < n; i++)
    cmdv(k, p, &cmds[i]);
}

static logstate_status rd_init(logstate_backend *be) {
  redis_backend *b = (redis_backend *)be;
  pipeline p;
  logstate_status st = run_idempotent(b, build_init, &b->cfg, &p, "init", NULL);
  if (st != LOGSTATE_OK)
    return st;
  st = ls_redis_check_init_replies(&b->cfg, (const redisReply *const *)p.r, p.n);
  pipeline_free(&p);
  return st;
}

/* --- write transactions ------------------------------------------------- */

static void build_begin(conn *k, pipeline *p, void *arg) {
  key_arg *a = arg;
  if (k->watch_dirty) {
    const char *unwatch[] = {"UNWATCH"};
    size_t unwatch_len[] = {7};
    cmd(k, p, 1, unwatch, unwatch_len);
  }
  const char *watch[] = {"WATCH", a->key};
  size_t watch_len[] = {5, a->key_len};
  cmd(k, p, 2, watch, watch_len);
  const char *hmget[] = {"HMGET", a->key, "version", "checkpoint"};
  size_t hmget_len[] = {5, a->key_len, 7, 10};
  cmd(k, p, 4, hmget, hmget_len);
  k->watch_dirty = 1;
}

static void txn_free(logstate_backend_txn *t) {
  free(t->key);
  free(t->log_id);
  free(t->cp);
  free(t);
}

static logstate_status rd_write_begin(logstate_backend *be, const char *log_id, size_t log_id_len,
                                      logstate_backend_txn **out_txn) {
  redis_backend *b = (redis_backend *)be;
  logstate_backend_txn *t = calloc(1, sizeof(*t));
  if (t == NULL || (t->key = ls_redis_log_key(&b->cfg, log_id, log_id_len, &t->key_len)) == NULL ||
      (t->log_id = ls_memdup(log_id, log_id_len)) == NULL) {
    if (t)
      txn_free(t);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
  }
  t->log_id_len = log_id_len;
  key_arg a = {t->key, t->key_len};
  pipeline p;
  logstate_status st = run_idempotent(b, build_begin, &a, &p, "opening a write transaction", &t->k);
  if (st != LOGSTATE_OK) {
    txn_free(t);
    return st;
  }
  int watch_at = p.n - 2;
  for (int i = 0; i < watch_at + 1 && st == LOGSTATE_OK; i++) /* UNWATCH, WATCH */
    if (p.r[i]->type == REDIS_REPLY_ERROR)
      st = ls_redis_reply_error(&b->cfg, p.r[i], i == watch_at ? "WATCH" : "UNWATCH", t->key, t->key_len);
  if (st == LOGSTATE_OK)
    st = ls_redis_parse_snapshot(&b->cfg, p.r[p.n - 1], t->key, t->key_len, &t->version, &t->cp, &t->cp_len);
  pipeline_free(&p);
  if (st != LOGSTATE_OK) {
    conn_release(b, t->k);
    txn_free(t);
    return st;
  }
  *out_txn = t;
  return LOGSTATE_OK;
}

static logstate_status rd_write_get_latest(logstate_backend *be, logstate_backend_txn *t, uint8_t **out_cp,
                                           size_t *out_len) {
  (void)be;
  return ls_snapshot_copy(t->cp, t->cp_len, t->log_id, t->log_id_len, out_cp, out_len);
}

/* EVALSHA set.lua with the transaction's expectations. */
static void cmd_evalsha(redis_backend *b, logstate_backend_txn *t, pipeline *p, const uint8_t *cp, size_t len,
                        char *version_buf) {
  ls_redis_cmd c;
  ls_redis_evalsha_cmd(&b->cfg, &c, t->key, t->key_len, t->version, version_buf, cp, len, t->log_id, t->log_id_len);
  cmdv(t->k, p, &c);
}

static void cmd_wait(redis_backend *b, conn *k, pipeline *p, char *bufs) {
  ls_redis_cmd c;
  ls_redis_wait_cmd(&b->cfg, &c, bufs);
  cmdv(k, p, &c);
}

/* After NOSCRIPT: load the script and run it again, in one round trip. The
 * WATCH is gone (EXEC cleared it), but the script compares the version read
 * at open, so this is still a compare-and-set: no write lost or doubled. */
static logstate_status set_after_noscript(redis_backend *b, logstate_backend_txn *t, const uint8_t *cp, size_t len) {
  pipeline p = {0};
  char version[24], waitbuf[32];
  atomic_fetch_add(&b->script_reloads, 1);
  ls_redis_cmd load;
  ls_redis_script_load_cmd(&load);
  cmdv(t->k, &p, &load);
  cmd_evalsha(b, t, &p, cp, len, version);
  if (b->cfg.min_replicas)
    cmd_wait(b, t->k, &p, waitbuf);
  logstate_status st = flush(b, t->k, &p, "setting a checkpoint (after reloading the script)");
  if (st == LOGSTATE_OK && p.r[0]->type == REDIS_REPLY_ERROR)
    st = ls_redis_reply_error(&b->cfg, p.r[0], "SCRIPT LOAD", NULL, 0);
  if (st == LOGSTATE_OK)
    st = ls_redis_parse_set_result(&b->cfg, p.r[1], t->key, t->key_len);
  if (st == LOGSTATE_OK && b->cfg.min_replicas)
    st = ls_redis_check_wait(&b->cfg, p.r[2]);
  pipeline_free(&p);
  return st;
}

static logstate_status rd_write_set(logstate_backend *be, logstate_backend_txn *t, const uint8_t *cp, size_t len) {
  redis_backend *b = (redis_backend *)be;
  conn *k = t->k;
  pipeline p = {0};
  char version[24], waitbuf[32];
  const char *multi[] = {"MULTI"}, *exec[] = {"EXEC"};
  size_t multi_len[] = {5}, exec_len[] = {4};
  cmd(k, &p, 1, multi, multi_len);
  cmd_evalsha(b, t, &p, cp, len, version);
  cmd(k, &p, 1, exec, exec_len);
  if (b->cfg.min_replicas)
    cmd_wait(b, k, &p, waitbuf); /* after EXEC: inside MULTI, WAIT returns at once */
  logstate_status st = flush(b, k, &p, "setting a checkpoint (the write may or may not have happened)");
  if (st != LOGSTATE_OK) {
    pipeline_free(&p);
    return st;
  }
  k->watch_dirty = 0; /* EXEC (or its EXECABORT) cleared the watch */
  redisReply *rm = p.r[0], *rq = p.r[1], *rx = p.r[2];
  if (rm->type == REDIS_REPLY_ERROR) {
    st = ls_redis_reply_error(&b->cfg, rm, "MULTI", NULL, 0);
  } else if (rx->type == REDIS_REPLY_NIL) {
    st = ls_err(LOGSTATE_ABORTED, "redis: another writer committed to this log since the transaction began");
  } else if (rx->type == REDIS_REPLY_ERROR) {
    /* EXECABORT: the queued command was refused; its own reply says why. */
    st = ls_redis_reply_error(&b->cfg, rq->type == REDIS_REPLY_ERROR ? rq : rx, "setting a checkpoint", t->key,
                              t->key_len);
  } else if (rx->type != REDIS_REPLY_ARRAY || rx->elements != 1) {
    st = ls_err(LOGSTATE_INTERNAL, "redis: EXEC: unexpected reply type %d", rx->type);
  } else if (ls_redis_is_noscript(rx->element[0])) {
    st = set_after_noscript(b, t, cp, len);
  } else {
    st = ls_redis_parse_set_result(&b->cfg, rx->element[0], t->key, t->key_len);
    if (st == LOGSTATE_OK && b->cfg.min_replicas)
      st = ls_redis_check_wait(&b->cfg, p.r[3]);
  }
  if (st == LOGSTATE_ABORTED)
    atomic_fetch_add(&b->conflicts, 1);
  pipeline_free(&p);
  return st;
}

static logstate_status rd_write_end(logstate_backend *be, logstate_backend_txn *t) {
  /* Nothing to send: an unfinished WATCH is cleared lazily (watch_dirty). */
  conn_release((redis_backend *)be, t->k);
  txn_free(t);
  return LOGSTATE_OK;
}

static void rd_free(logstate_backend *be) {
  redis_backend *b = (redis_backend *)be;
  /* Every transaction is closed by now (the core's reference count), so
   * every connection is idle. */
  for (unsigned int i = 0; i < b->nidle; i++) {
    conn_drop(b->idle[i]);
    free(b->idle[i]);
  }
  free(b->idle);
  pthread_cond_destroy(&b->cv);
  pthread_mutex_destroy(&b->mu);
  ls_redis_config_free(&b->cfg);
  free(b);
}

static const logstate_backend_methods redis_methods = {
    .version = LOGSTATE_BACKEND_VERSION,
    .name = "redis",
    .init = rd_init,
    .logs = rd_logs,
    .get_latest = rd_get_latest,
    .write_begin = rd_write_begin,
    .write_get_latest = rd_write_get_latest,
    .write_set = rd_write_set,
    .write_end = rd_write_end,
    .free = rd_free,
};

static logstate_status backend_new(logstate_backend **out, ls_redis_config *cfg) {
  redis_backend *b = calloc(1, sizeof(*b));
  if (b == NULL || (b->idle = calloc(cfg->pool, sizeof(*b->idle))) == NULL) {
    free(b);
    ls_redis_config_free(cfg);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
  }
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&b->cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&b->mu, NULL);
  b->base.methods = &redis_methods;
  b->cfg = *cfg;
  *out = &b->base;
  return LOGSTATE_OK;
}

logstate_status ls_redis_backend_from_url(logstate_backend **out, const char *url) {
  ls_redis_config cfg;
  logstate_status st = ls_redis_config_from_url(&cfg, url);
  return st == LOGSTATE_OK ? backend_new(out, &cfg) : st;
}

logstate_status logstate_redis_open(logstate **out, const logstate_redis_options *ro, const logstate_options *opts) {
  if (out)
    *out = NULL;
  if (out == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_redis_open: out is NULL");
  ls_redis_config cfg;
  logstate_backend *be = NULL;
  logstate_status st = ls_redis_config_from_options(&cfg, ro);
  if (st == LOGSTATE_OK)
    st = backend_new(&be, &cfg);
  if (st == LOGSTATE_OK && (st = logstate_open_backend(out, be, opts)) != LOGSTATE_OK)
    rd_free(be);
  return st;
}

logstate_status logstate_redis_get_stats(logstate *ls, logstate_redis_stats *out) {
  logstate_backend *be = logstate_get_backend(ls);
  if (be == NULL || out == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_redis_get_stats: %s is NULL", be ? "out" : "handle");
  if (be->methods != &redis_methods)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_redis_get_stats: the handle is on the %s backend, not redis",
                  be->methods->name);
  redis_backend *b = (redis_backend *)be;
  out->round_trips = atomic_load(&b->round_trips);
  out->connects = atomic_load(&b->connects);
  out->script_reloads = atomic_load(&b->script_reloads);
  out->conflicts = atomic_load(&b->conflicts);
  return LOGSTATE_OK;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The measurements of the benchmark (bench.c runs them and prints the
 * table). Each returns operations per second, or -1 on failure. */
#define _POSIX_C_SOURCE 200809L
#include <event2/event.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"
#include "logstate/async.h"
#include "logstate/logstate.h"

/* A checkpoint-sized value without spaces or newlines, so that the same
 * bytes can be passed to redis-benchmark on a command line. */
static const char cp[] = "bench.example/log/123456/qJ1B8Hqv3lIS4VbX4KiNbm1Y3rB4hX9b2v0CkH3a1mE="
                         "/Az3gr0AAAABpXb2RlYWRiZWVmZGVhZGJlZWZkZWFkYmVlZg==";

static logstate_status fn_set(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len, void *arg) {
  (void)cur, (void)cur_len, (void)arg;
  *out_next = malloc(sizeof(cp) - 1);
  memcpy(*out_next, cp, sizeof(cp) - 1);
  *out_next_len = sizeof(cp) - 1;
  return LOGSTATE_OK;
}

static logstate *open_sync(const char *url) {
  logstate *ls = NULL;
  if (logstate_open(&ls, url) != LOGSTATE_OK || logstate_init(ls) != LOGSTATE_OK) {
    fprintf(stderr, "bench: %s: %s\n", url, logstate_last_error());
    logstate_free(ls);
    return NULL;
  }
  return ls;
}

/* --- redis-benchmark ------------------------------------------------------ */

/* Runs redis-benchmark -q with `args` and returns its requests per second. */
static double rb(bench *b, int n, int clients, int pipeline, const char *args) {
  char cmd[1024], out[65536];
  snprintf(cmd, sizeof(cmd), "redis-benchmark -p %d -q -n %d -c %d -P %d -r 100000000 %s 2>/dev/null", b->server.port,
           n, clients, pipeline, args);
  FILE *p = popen(cmd, "r");
  if (p == NULL)
    return -1;
  /* Progress lines come first, separated by \r, and may be many: keep the
   * last part, where the result is. */
  size_t have = 0, got;
  char chunk[4096];
  while ((got = fread(chunk, 1, sizeof(chunk), p)) > 0) {
    if (have + got > sizeof(out) - 1) {
      size_t drop = have + got - (sizeof(out) - 1);
      memmove(out, out + drop, have - drop);
      have -= drop;
    }
    memcpy(out + have, chunk, got);
    have += got;
  }
  out[have] = '\0';
  pclose(p);
  /* -q ends "NAME: 12345.67 requests per second, p50=..." after progress
   * lines separated by \r: take the number before that phrase. */
  char *end = strstr(out, " requests per second");
  if (end == NULL) {
    fprintf(stderr, "bench: %s: no result in: %.300s\n", cmd, out);
    return -1;
  }
  char *start = end;
  while (start > out && start[-1] != ' ')
    start--;
  return atof(start);
}

double m_rb_hget(bench *b, const figure *f) { return rb(b, f->n, 1, 1, "HGET '{logstate}:log:bench/read' checkpoint"); }

double m_rb_hset(bench *b, const figure *f) {
  char args[512];
  snprintf(args, sizeof(args), "HSET '{logstate}:log:rb-hset/__rand_int__' checkpoint '%s'", cp);
  return rb(b, f->n, 1, 1, args);
}

/* The set script as logstate sends it, on a new log each time (version 0
 * expected), so that every call writes: HMGET, SISMEMBER, SADD, HSET, one
 * fsync. redis-benchmark draws each __rand_int__ on its own, so the key and
 * the log ID differ; the index is drawn too, so that a log ID drawn twice is
 * not found listed (the script refuses a first set of a listed log). */
static double evalsha(bench *b, int n, int clients, int pipeline) {
  char args[512];
  snprintf(
      args, sizeof(args),
      "EVALSHA %s 2 '{logstate}:log:rb/__rand_int__' '{logstate}:logs-rb/__rand_int__' 0 '%s' 'rb/__rand_int__' none",
      b->sha, cp);
  return rb(b, n, clients, pipeline, args);
}

double m_rb_evalsha_p(bench *b, const figure *f) { return evalsha(b, f->n, 1, f->param); }
double m_rb_evalsha_c(bench *b, const figure *f) { return evalsha(b, f->n, f->param, 1); }

/* --- sync ----------------------------------------------------------------- */

/* The latency of `kind` on `ls` so far, for the table. */
static void note(logstate *ls, logstate_op_kind kind) {
  logstate_op_stats st;
  if (logstate_get_op_stats(ls, kind, &st) == LOGSTATE_OK && st.count > 0)
    bench_note((double)st.p50_us, (double)st.p99_us);
}

double m_read(bench *b, const figure *f) {
  logstate *ls = open_sync(b->url);
  logstate_read *r = NULL;
  if (ls == NULL || logstate_read_ops(ls, "bench/read", &r) != LOGSTATE_OK)
    return -1;
  double t0 = now_s();
  for (int i = 0; i < f->n; i++) {
    uint8_t *got = NULL;
    size_t len;
    if (logstate_read_get_latest(r, &got, &len) != LOGSTATE_OK)
      return -1;
    free(got);
  }
  double s = now_s() - t0;
  logstate_read_free(r);
  note(ls, LOGSTATE_OP_GET);
  logstate_free(ls);
  return f->n / s;
}

static double txns(logstate *ls, int n, const char *id) {
  double t0 = now_s();
  for (int i = 0; i < n; i++) {
    logstate_write *w = NULL;
    uint8_t *cur = NULL;
    size_t len;
    if (logstate_write_ops(ls, id, &w) != LOGSTATE_OK)
      return -1;
    logstate_status st = logstate_write_get_latest(w, &cur, &len);
    free(cur);
    if ((st != LOGSTATE_OK && st != LOGSTATE_NOT_FOUND) ||
        logstate_write_set(w, (const uint8_t *)cp, sizeof(cp) - 1) != LOGSTATE_OK) {
      fprintf(stderr, "bench: write transaction: %s\n", logstate_last_error());
      logstate_write_close(w);
      return -1;
    }
    logstate_write_close(w);
  }
  double v = n / (now_s() - t0);
  note(ls, LOGSTATE_OP_WRITE_SET);
  return v;
}

double m_txn(bench *b, const figure *f) {
  logstate *ls = open_sync(b->url);
  double v = ls ? txns(ls, f->n, "bench/txn") : -1;
  logstate_free(ls);
  return v;
}

static double updates(logstate *ls, int n, const char *id) {
  double t0 = now_s();
  for (int i = 0; i < n; i++) {
    if (logstate_update(ls, id, fn_set, NULL) != LOGSTATE_OK) {
      fprintf(stderr, "bench: update: %s\n", logstate_last_error());
      return -1;
    }
  }
  return n / (now_s() - t0);
}

/* Warm updates of one log through `url`. */
static double warm_updates(const char *url, const figure *f, const char *id) {
  logstate *ls = open_sync(url);
  if (ls == NULL || updates(ls, 1, id) < 0) /* warm: the handle knows the log */
    return -1;
  double v = updates(ls, f->n, id);
  note(ls, LOGSTATE_OP_UPDATE);
  logstate_free(ls);
  return v;
}

double m_update(bench *b, const figure *f) { return warm_updates(b->url, f, "bench/update"); }

/* The same with history=param (the set script also XADDs to the log's
 * stream); its baseline is m_update, history=0. */
double m_update_history(bench *b, const figure *f) {
  char url[320];
  snprintf(url, sizeof(url), "%s&history=%d", b->url, f->param);
  return warm_updates(url, f, "bench/update-history");
}

typedef struct thread_arg {
  pthread_t t;
  logstate *ls;
  int n;
  char id[32];
  double ops;
} thread_arg;

static void *update_thread(void *p) {
  thread_arg *a = p;
  a->ops = updates(a->ls, a->n, a->id);
  return NULL;
}

double threads_rate(const char *url, int threads, int n) {
  logstate *ls = open_sync(url);
  thread_arg t[16];
  if (ls == NULL || threads > 16)
    return -1;
  for (int i = 0; i < threads; i++) {
    t[i] = (thread_arg){.ls = ls, .n = n / threads};
    snprintf(t[i].id, sizeof(t[i].id), "bench/thread-%d", i);
    updates(ls, 1, t[i].id);
  }
  double t0 = now_s();
  for (int i = 0; i < threads; i++)
    pthread_create(&t[i].t, NULL, update_thread, &t[i]);
  int failed = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(t[i].t, NULL);
    failed |= t[i].ops < 0;
  }
  double s = now_s() - t0;
  note(ls, LOGSTATE_OP_UPDATE);
  logstate_free(ls);
  return failed ? -1 : (n / threads) * threads / s;
}

/* f->param threads, each updating its own log through one handle whose
 * pool has a connection per thread. */
double m_threads(bench *b, const figure *f) {
  char url[320];
  snprintf(url, sizeof(url), "%s&pool=%d", b->url, f->param);
  return threads_rate(url, f->param, f->n);
}

/* --- the hand-written hiredis peer ---------------------------------------- */

/* What a user would write by hand: WATCH, HMGET, MULTI, HSET, SADD, EXEC,
 * one redisCommand (one round trip) each. */
double m_peer(bench *b, const figure *f) {
  redisContext *c = redisConnect("127.0.0.1", b->server.port);
  if (c == NULL || c->err)
    return -1;
  const char *key = "{logstate}:log:bench/peer";
  double t0 = now_s();
  for (int i = 0; i < f->n; i++) {
    redisReply *r[6];
    r[0] = redisCommand(c, "WATCH %s", key);
    r[1] = redisCommand(c, "HMGET %s version checkpoint", key);
    r[2] = redisCommand(c, "MULTI");
    r[3] = redisCommand(c, "HSET %s checkpoint %b version %d", key, cp, sizeof(cp) - 1, i + 1);
    r[4] = redisCommand(c, "SADD {logstate}:logs bench/peer");
    r[5] = redisCommand(c, "EXEC");
    int ok = r[5] && r[5]->type == REDIS_REPLY_ARRAY;
    for (int j = 0; j < 6; j++)
      if (r[j])
        freeReplyObject(r[j]);
    if (!ok)
      return -1;
  }
  double s = now_s() - t0;
  redisFree(c);
  return f->n / s;
}

static void set_fsync(bench *b, const char *mode) {
  redisReply *r = redisCommand(b->admin, "CONFIG SET appendfsync %s", mode);
  if (r)
    freeReplyObject(r);
}

double m_txn_fsync(bench *b, const figure *f) {
  char url[320];
  set_fsync(b, f->param ? "always" : "everysec");
  snprintf(url, sizeof(url), "%s&durability=ignore", b->url); /* everysec would be refused */
  logstate *ls = open_sync(url);
  double v = ls ? txns(ls, f->n, "bench/txn-fsync") : -1;
  logstate_free(ls);
  set_fsync(b, "always");
  return v;
}

double m_peer_fsync(bench *b, const figure *f) {
  set_fsync(b, f->param ? "always" : "everysec");
  double v = m_peer(b, f);
  set_fsync(b, "always");
  return v;
}

/* --- SQLite ---------------------------------------------------------------- */

/* history=`keep` (0: none; else its side table in the same transaction). */
static double sqlite_txns(bench *b, const figure *f, int keep) {
  char url[400];
  snprintf(url, sizeof(url), "sqlite:%s/logstate%d.db?history=%d", b->sqlite_dir, keep, keep);
  logstate *ls = open_sync(url);
  double v = ls ? txns(ls, f->n, "bench/sqlite") : -1;
  logstate_free(ls);
  return v;
}

double m_sqlite(bench *b, const figure *f) { return sqlite_txns(b, f, 0); }

/* Updates of f->param logs in flight on the async API, or by f->param
 * threads of one handle, on one SQLite file: its group commit. */
double m_sqlite_async(bench *b, const figure *f) {
  char url[400];
  snprintf(url, sizeof(url), "sqlite:%s/async.db", b->sqlite_dir);
  return async_rate(url, f->param, f->n);
}

double m_sqlite_threads(bench *b, const figure *f) {
  char url[400];
  snprintf(url, sizeof(url), "sqlite:%s/threads.db", b->sqlite_dir);
  return threads_rate(url, f->param, f->n);
}

double m_sqlite_history(bench *b, const figure *f) { return sqlite_txns(b, f, f->param); }

/* The same durable work by hand: a BEGIN IMMEDIATE transaction that reads
 * the row and writes it with INSERT OR REPLACE, WAL, synchronous=FULL, on
 * the same file system; one transaction per write. */
double m_sqlite_raw(bench *b, const figure *f) {
  char path[400];
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL, *rd = NULL;
  snprintf(path, sizeof(path), "%s/raw.db", b->sqlite_dir);
  if (sqlite3_open(path, &db) != SQLITE_OK ||
      sqlite3_exec(db,
                   "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE IF NOT EXISTS t (k BLOB PRIMARY "
                   "KEY, v BLOB)",
                   NULL, NULL, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO t (k, v) VALUES ('bench/sqlite', ?1)", -1, &st, NULL) !=
          SQLITE_OK ||
      sqlite3_prepare_v2(db, "SELECT v FROM t WHERE k = 'bench/sqlite'", -1, &rd, NULL) != SQLITE_OK)
    return -1;
  double t0 = now_s();
  for (int i = 0; i < f->n; i++) {
    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    while (sqlite3_step(rd) == SQLITE_ROW) {
    }
    sqlite3_reset(rd);
    sqlite3_bind_blob(st, 1, cp, sizeof(cp) - 1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE || sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
      return -1;
  }
  double s = now_s() - t0;
  sqlite3_finalize(st);
  sqlite3_finalize(rd);
  sqlite3_close(db);
  return f->n / s;
}

/* logstate_logs() and a raw SELECT logID FROM chkpts stepping every row,
 * over `count` logs in one SQLite file, in ms (medians of the rounds). */
void bench_logs_sqlite(bench *b, int count, double *ms_ours, double *ms_raw) {
  char path[400], url[420];
  double o[BENCH_MAX_ROUNDS], r[BENCH_MAX_ROUNDS];
  sqlite3 *db = NULL;
  sqlite3_stmt *ins = NULL, *sel = NULL;
  snprintf(path, sizeof(path), "%s/logs.db", b->sqlite_dir);
  snprintf(url, sizeof(url), "sqlite:%s", path);
  logstate *ls = open_sync(url); /* makes the file and its tables */
  *ms_ours = *ms_raw = -1;
  if (ls == NULL || sqlite3_open(path, &db) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "INSERT INTO chkpts (logID, chkpt) VALUES (?1, ?2)", -1, &ins, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "SELECT logID FROM chkpts", -1, &sel, NULL) != SQLITE_OK)
    goto out;
  sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
  for (int i = 0; i < count; i++) {
    char id[32];
    snprintf(id, sizeof(id), "log-%d", i);
    sqlite3_bind_text(ins, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(ins, 2, cp, sizeof(cp) - 1, SQLITE_STATIC);
    sqlite3_step(ins);
    sqlite3_reset(ins);
  }
  sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  for (int k = 0; k < b->rounds; k++) {
    double t0 = now_s();
    size_t rows = 0;
    while (sqlite3_step(sel) == SQLITE_ROW)
      rows += sqlite3_column_bytes(sel, 0) > 0;
    sqlite3_reset(sel);
    r[k] = rows == (size_t)count ? (now_s() - t0) * 1000 : -1;
    char **ids = NULL;
    size_t n = 0;
    t0 = now_s();
    logstate_status st = logstate_logs(ls, &ids, &n);
    o[k] = st == LOGSTATE_OK && n == (size_t)count ? (now_s() - t0) * 1000 : -1;
    logstate_logs_free(ids, n);
  }
  *ms_ours = median(o, b->rounds);
  *ms_raw = median(r, b->rounds);
out:
  sqlite3_finalize(ins);
  sqlite3_finalize(sel);
  sqlite3_close(db);
  logstate_free(ls);
}

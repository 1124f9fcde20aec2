/* SPDX-License-Identifier: Apache-2.0 */
/* The benchmark's shared state and its measurements (figures.c). */
#ifndef LOGSTATE_BENCH_H
#define LOGSTATE_BENCH_H

#include <hiredis/hiredis.h>

#include "redis_server.h"

#define BENCH_MAX_ROUNDS 9

typedef struct bench {
  test_redis server;
  char url[256]; /* redis:// of the server, the default namespace */
  char sqlite_dir[300];
  char sha[41]; /* the set script's SHA1 */
  int quick;    /* a smoke run: tiny counts, one round */
  int rounds;
  redisContext *admin;
} bench;

struct figure;
typedef double (*measure_fn)(bench *b, const struct figure *f);

/* One line of the table: logstate against its baseline, measured in turn
 * (baseline, logstate) in every round. */
typedef struct figure {
  const char *name, *baseline;
  measure_fn ours, base; /* operations per second */
  int param;             /* in-flight depth, threads, fsync mode */
  int n;                 /* operations per measurement */
  double target;         /* the least ratio ours/base the targets ask for; 0: none */
  double ours_v[BENCH_MAX_ROUNDS], base_v[BENCH_MAX_ROUNDS];
  double p50_us[BENCH_MAX_ROUNDS], p99_us[BENCH_MAX_ROUNDS]; /* logstate's latency, from the operations hook */
  double cmds_per_op; /* Redis commands per logstate operation (INFO commandstats) */
} figure;

double now_s(void);
/* The latency of the last logstate measurement (its handle's operations
 * hook, logstate_get_op_stats): set by the measurement before it frees its
 * handle, -1 when it has none. */
extern double bench_p50_us, bench_p99_us;
void bench_note(double p50_us, double p99_us);
double median(double *v, int n);
/* Sum of `calls` over INFO commandstats. */
double redis_calls(bench *b);

/* figures.c: each returns operations per second, or -1 on failure. */
double m_rb_hget(bench *b, const figure *f);      /* redis-benchmark HGET -c 1 */
double m_rb_hset(bench *b, const figure *f);      /* redis-benchmark HSET -c 1 */
double m_rb_evalsha_p(bench *b, const figure *f); /* EVALSHA of the set script, -c 1 -P param */
double m_rb_evalsha_c(bench *b, const figure *f); /* the same, -c param */
double m_read(bench *b, const figure *f);
double m_txn(bench *b, const figure *f);
double m_update(bench *b, const figure *f);
double m_update_history(bench *b, const figure *f); /* m_update with history=param */
double m_async(bench *b, const figure *f);
double m_threads(bench *b, const figure *f);
double m_peer(bench *b, const figure *f);
double m_txn_fsync(bench *b, const figure *f); /* m_txn under the appendfsync of f->param */
double m_peer_fsync(bench *b, const figure *f);
double m_sqlite(bench *b, const figure *f);
double m_sqlite_history(bench *b, const figure *f); /* m_sqlite with history=param */
double m_sqlite_raw(bench *b, const figure *f);
double m_sqlite_async(bench *b, const figure *f);   /* f->param in flight on distinct logs */
double m_sqlite_threads(bench *b, const figure *f); /* f->param threads of one handle, a log each */
/* Operations per second of n updates: `depth` in flight on the async API
 * (figures_more.c), or `threads` threads of one sync handle (figures.c),
 * each on its own log. */
double async_rate(const char *url, int depth, int n);
double threads_rate(const char *url, int threads, int n);

/* The measurements without a baseline of the same kind. */
void bench_logs(bench *b, int sizes, const int *size, double *ms_ours, double *ms_raw);
void bench_logs_sqlite(bench *b, int count, double *ms_ours, double *ms_raw);
void bench_contention(bench *b, int n, double *ops, unsigned long *conflicts, unsigned long *failed,
                      unsigned long *alone_failed);
void bench_rss(bench *b, int n_small, int n_large, double *kb_small, double *kb_large);

#endif

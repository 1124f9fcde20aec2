/* SPDX-License-Identifier: Apache-2.0 */
/* logstate_bench: every figure of logstate against its raw baseline,
 * measured in the same run on the same server.
 *
 *   logstate_bench [--quick] [--rounds N] [--out DIR]
 *
 * Method
 * - One redis-server started by the program on 127.0.0.1 (appendonly yes,
 *   appendfsync always, in a /tmp directory), the same for every figure.
 * - Each figure pairs a logstate measurement with its baseline: redis-benchmark
 *   with the command logstate sends (HGET, HSET, EVALSHA of lua/set.lua on a
 *   new log each time, so that every call writes), a hand-written hiredis
 *   client, or raw sqlite3. In every round each pair runs baseline then
 *   logstate (A B A B ...), so slow and fast spells of the disk hit both.
 * - The table gives the medians over the rounds, the ratio logstate/baseline
 *   of each round's pair (median, and min..max as the spread), the target
 *   ratio and whether the median meets it, and Redis commands per logstate
 *   operation (INFO commandstats deltas, first round).
 * - --out DIR writes bench.csv, bench.md and, with gnuplot, bench.png. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bench.h"
#include "logstate/logstate.h"

extern const char ls_lua_set_sha1[]; /* the library's, linked statically */

double bench_p50_us = -1, bench_p99_us = -1;

void bench_note(double p50_us, double p99_us) {
  bench_p50_us = p50_us;
  bench_p99_us = p99_us;
}

double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double median(double *v, int n) {
  double s[BENCH_MAX_ROUNDS];
  memcpy(s, v, sizeof(double) * (size_t)n);
  qsort(s, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

double redis_calls(bench *b) {
  redisReply *r = redisCommand(b->admin, "INFO commandstats");
  double calls = 0;
  for (const char *p = r && r->type == REDIS_REPLY_STRING ? r->str : ""; (p = strstr(p, "calls=")) != NULL; p++)
    calls += atof(p + 6);
  if (r)
    freeReplyObject(r);
  return calls;
}

#define F(name, base_name, ours, base, param, n, target)                                                               \
  { name, base_name, ours, base, param, n, target, {0}, {0}, {0}, {0}, 0 }

static int run_figures(bench *b, figure *f, int nf) {
  for (int r = 0; r < b->rounds; r++) {
    fprintf(stderr, "bench: round %d of %d\n", r + 1, b->rounds);
    for (int i = 0; i < nf; i++) {
      f[i].base_v[r] = f[i].base(b, &f[i]);
      double c0 = redis_calls(b);
      bench_note(-1, -1);
      f[i].ours_v[r] = f[i].ours(b, &f[i]);
      f[i].p50_us[r] = bench_p50_us;
      f[i].p99_us[r] = bench_p99_us;
      if (r == 0)
        f[i].cmds_per_op = (redis_calls(b) - c0 - 1) / f[i].n; /* -1: the INFO itself */
      if (f[i].base_v[r] <= 0 || f[i].ours_v[r] <= 0) {
        fprintf(stderr, "bench: %s failed (baseline %.0f, logstate %.0f ops/s)\n", f[i].name, f[i].base_v[r],
                f[i].ours_v[r]);
        return -1;
      }
    }
  }
  return 0;
}

static void ratios(const bench *b, const figure *f, double *med, double *lo, double *hi) {
  double v[BENCH_MAX_ROUNDS];
  for (int r = 0; r < b->rounds; r++)
    v[r] = f->ours_v[r] / f->base_v[r];
  *med = median(v, b->rounds);
  qsort(v, (size_t)b->rounds, sizeof(double), cmp_double);
  *lo = v[0];
  *hi = v[b->rounds - 1];
}

static void print_table(bench *b, figure *f, int nf, FILE *md, FILE *csv) {
  fprintf(md,
          "| figure | logstate ops/s | baseline | baseline ops/s | ratio (median) | spread | target | met | "
          "Redis cmds/op | logstate p50 / p99 us |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  if (csv)
    fprintf(
        csv,
        "figure,logstate_ops,baseline,baseline_ops,ratio,ratio_min,ratio_max,target,met,cmds_per_op,p50_us,p99_us\n");
  for (int i = 0; i < nf; i++) {
    double med, lo, hi, ours = median(f[i].ours_v, b->rounds), base = median(f[i].base_v, b->rounds);
    ratios(b, &f[i], &med, &lo, &hi);
    const char *met = f[i].target == 0 ? "-" : med >= f[i].target ? "yes" : "no";
    char target[16] = "-";
    if (f[i].target > 0)
      snprintf(target, sizeof(target), ">= %.2f", f[i].target);
    double p50 = median(f[i].p50_us, b->rounds), p99 = median(f[i].p99_us, b->rounds);
    char lat[48] = "-";
    if (p50 >= 0)
      snprintf(lat, sizeof(lat), "%.0f / %.0f", p50, p99);
    fprintf(md, "| %s | %.0f | %s | %.0f | %.2f | %.2f..%.2f | %s | %s | %.1f | %s |\n", f[i].name, ours, f[i].baseline,
            base, med, lo, hi, target, met, f[i].cmds_per_op, lat);
    if (csv)
      fprintf(csv, "\"%s\",%.0f,\"%s\",%.0f,%.3f,%.3f,%.3f,%.2f,%s,%.2f,%.0f,%.0f\n", f[i].name, ours, f[i].baseline,
              base, med, lo, hi, f[i].target, met, f[i].cmds_per_op, p50, p99);
  }
}

/* A bar per figure: the median ratio, the spread as an error bar, and the
 * target as a point. */
static void plot(const char *dir) {
  char cmd[1200];
  snprintf(cmd, sizeof(cmd),
           "command -v gnuplot >/dev/null && cd '%s' && gnuplot -e \"set terminal png size 1400,760 noenhanced; set "
           "bmargin 11; set rmargin 10; set title 'logstate / raw baseline, same run (medians of the rounds)'; "
           "set output 'bench.png'; set datafile separator ','; set style fill solid 0.6; set boxwidth 0.6; "
           "set ylabel 'logstate / baseline (median of the rounds, bar: min..max)'; set yrange [0:*]; "
           "set xtics rotate by -35 font ',9'; set key top left; set grid ytics; "
           "plot 'bench.csv' every ::1 using 0:5:xtic(1) with boxes title 'ratio', "
           "'' every ::1 using 0:5:6:7 with yerrorbars lc rgb 'black' pt 0 title 'spread', "
           "'' every ::1 using 0:(\\$8 > 0 ? \\$8 : 1/0) with points pt 7 ps 1.5 lc rgb 'red' title 'target', "
           "1 with lines dt 2 lc rgb 'gray' title 'parity'\" 2>/dev/null",
           dir);
  if (system(cmd) != 0)
    fprintf(stderr, "bench: no plot (gnuplot missing or failed)\n");
}

static int setup(bench *b) {
  if (test_redis_start(&b->server, NULL) != 0 || (b->admin = test_redis_admin(&b->server)) == NULL)
    return -1;
  snprintf(b->url, sizeof(b->url), "redis://127.0.0.1:%d/?timeout_ms=30000", b->server.port);
  snprintf(b->sha, sizeof(b->sha), "%s", ls_lua_set_sha1);
  snprintf(b->sqlite_dir, sizeof(b->sqlite_dir), "%s/sqlite", b->server.dir);
  mkdir(b->sqlite_dir, 0700);
  logstate *ls = NULL;
  logstate_write *w = NULL;
  int ok = logstate_open(&ls, b->url) == LOGSTATE_OK && logstate_init(ls) == LOGSTATE_OK &&
           logstate_write_ops(ls, "bench/read", &w) == LOGSTATE_OK &&
           logstate_write_set(w, (const uint8_t *)"the checkpoint read by the read figure", 38) == LOGSTATE_OK;
  logstate_write_close(w);
  logstate_free(ls);
  return ok ? 0 : -1;
}

static void extras(bench *b, FILE *md) {
  static const int sizes[] = {10, 1000, 100000};
  int nsizes = b->quick ? 2 : 3;
  double ours[3], raw[3], ops, small, large;
  unsigned long conflicts, failed, alone_failed;
  bench_logs(b, nsizes, sizes, ours, raw);
  fprintf(md, "\n| logstate_logs over | logstate ms (median) | raw listing ms | target |\n| --- | --- | --- | --- |\n");
  for (int i = 0; i < nsizes; i++)
    fprintf(md, "| %d logs, Redis (raw: SMEMBERS) | %.2f | %.2f | %s |\n", sizes[i], ours[i], raw[i],
            sizes[i] == 100000 ? (ours[i] <= 1.5 * raw[i] ? "<= 1.5x raw: yes" : "<= 1.5x raw: no") : "-");
  double sq_ours, sq_raw;
  int sq_n = b->quick ? 1000 : 100000;
  bench_logs_sqlite(b, sq_n, &sq_ours, &sq_raw);
  fprintf(md, "| %d logs, SQLite (raw: SELECT logID FROM chkpts) | %.2f | %.2f | %s |\n", sq_n, sq_ours, sq_raw,
          sq_ours > 0 && sq_ours <= 1.5 * sq_raw ? "<= 1.5x raw: yes" : "<= 1.5x raw: no");
  bench_contention(b, b->quick ? 400 : 8000, &ops, &conflicts, &failed, &alone_failed);
  fprintf(md,
          "\n| contention on one log | value |\n| --- | --- |\n| one async handle alone, 128 in flight: updates that "
          "failed | %lu (target 0) |\n| 4 sync threads + the async handle: updates/s | %.0f |\n| conflicts seen by "
          "the async handle | %lu |\n| updates that gave up after every attempt | %lu |\n",
          alone_failed, ops, conflicts, failed);
  int n_small = b->quick ? 2000 : 100000, n_large = b->quick ? 4000 : 1000000;
  bench_rss(b, n_small, n_large, &small, &large);
  fprintf(md,
          "\n| peak RSS | KiB |\n| --- | --- |\n| after %d async updates | %.0f |\n| after %d | %.0f (%+.1f%%, "
          "target within 10%%) |\n",
          n_small, small, n_large, large, (large - small) * 100 / small);
}

int main(int argc, char **argv) {
  bench b = {.rounds = 5};
  const char *out = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0)
      b.quick = 1, b.rounds = 1;
    else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
      b.rounds = atoi(argv[++i]);
    else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
      out = argv[++i];
    else
      return fprintf(stderr, "usage: logstate_bench [--quick] [--rounds N] [--out DIR]\n"), 2;
  }
  if (b.rounds < 1 || b.rounds > BENCH_MAX_ROUNDS)
    return fprintf(stderr, "bench: --rounds must be 1 to %d\n", BENCH_MAX_ROUNDS), 2;
  int q = b.quick, nr = q ? 200 : 20000, nw = q ? 50 : 3000, na = q ? 500 : 40000, ns = q ? 20 : 1000;
  figure f[] = {
      F("sync read_get_latest", "redis-benchmark HGET -c 1", m_read, m_rb_hget, 0, nr, 0.9),
      F("sync write transaction", "redis-benchmark HSET -c 1", m_txn, m_rb_hset, 0, nw, 0.75),
      F("warm sync logstate_update", "redis-benchmark EVALSHA -c 1", m_update, m_rb_evalsha_p, 1, nw, 0.9),
      F("warm sync logstate_update, history=16", "the same, history=0", m_update_history, m_update, 16, nw, 0.8),
      F("async updates, 1 in flight", "EVALSHA -P 1", m_async, m_rb_evalsha_p, 1, nw, 0),
      F("async updates, 16 in flight", "EVALSHA -P 16", m_async, m_rb_evalsha_p, 16, na, 0),
      F("async updates, 64 in flight", "EVALSHA -P 64", m_async, m_rb_evalsha_p, 64, na, 0.8),
      F("async updates, 256 in flight", "EVALSHA -P 256", m_async, m_rb_evalsha_p, 256, na, 0),
      F("sync updates, 1 thread", "EVALSHA -c 1", m_threads, m_rb_evalsha_c, 1, nw, 0),
      F("sync updates, 2 threads", "EVALSHA -c 2", m_threads, m_rb_evalsha_c, 2, 2 * nw, 0),
      F("sync updates, 4 threads", "EVALSHA -c 4", m_threads, m_rb_evalsha_c, 4, 4 * nw, 0),
      F("sync updates, 8 threads", "EVALSHA -c 8", m_threads, m_rb_evalsha_c, 8, 8 * nw, 0.7),
      F("write transaction, appendfsync everysec", "hiredis by hand (6 round trips)", m_txn_fsync, m_peer_fsync, 0, nw,
        2.0),
      F("write transaction, appendfsync always", "hiredis by hand (6 round trips)", m_txn_fsync, m_peer_fsync, 1, nw,
        0), /* the fsync dominates both: reported, no target */
      F("SQLite write transaction", "sqlite3 read + INSERT OR REPLACE, WAL, FULL", m_sqlite, m_sqlite_raw, 0, ns, 0.9),
      F("SQLite write transaction, history=16", "the same, history=0", m_sqlite_history, m_sqlite, 16, ns, 0),
      F("SQLite async updates, 1 in flight", "sqlite3, a transaction per write", m_sqlite_async, m_sqlite_raw, 1, ns,
        0),
      F("SQLite async updates, 16 in flight", "sqlite3, a transaction per write", m_sqlite_async, m_sqlite_raw, 16,
        4 * ns, 0),
      F("SQLite async updates, 64 in flight", "sqlite3, a transaction per write", m_sqlite_async, m_sqlite_raw, 64,
        8 * ns, 4.0),
      F("SQLite async updates, 256 in flight", "sqlite3, a transaction per write", m_sqlite_async, m_sqlite_raw, 256,
        8 * ns, 0),
      F("SQLite sync updates, 1 thread", "sqlite3, a transaction per write", m_sqlite_threads, m_sqlite_raw, 1, ns, 0),
      F("SQLite sync updates, 2 threads", "sqlite3, a transaction per write", m_sqlite_threads, m_sqlite_raw, 2, ns, 0),
      F("SQLite sync updates, 4 threads", "sqlite3, a transaction per write", m_sqlite_threads, m_sqlite_raw, 4, 2 * ns,
        0),
      F("SQLite sync updates, 8 threads", "sqlite3, a transaction per write", m_sqlite_threads, m_sqlite_raw, 8, 4 * ns,
        2.5),
  };
  int nf = (int)(sizeof(f) / sizeof(f[0]));
  double t0 = now_s();
  if (setup(&b) != 0 || run_figures(&b, f, nf) != 0) {
    fprintf(stderr, "bench: failed: %s\n", logstate_last_error());
    test_redis_stop(&b.server);
    return 1;
  }
  FILE *md = stdout, *csv = NULL;
  char path[512];
  if (out) {
    snprintf(path, sizeof(path), "%s/bench.csv", out);
    csv = fopen(path, "w");
  }
  printf("logstate_bench: %d round%s, redis-server with appendfsync always on 127.0.0.1\n\n", b.rounds,
         b.rounds == 1 ? "" : "s");
  print_table(&b, f, nf, md, csv);
  extras(&b, md);
  printf("\nlogstate_bench took %.0f s\n", now_s() - t0);
  if (csv) {
    fclose(csv);
    plot(out);
  }
  redisFree(b.admin);
  test_redis_stop(&b.server);
  return 0;
}

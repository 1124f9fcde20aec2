/* SPDX-License-Identifier: Apache-2.0 */
/* Throughput of logstate updates on Redis: the sync path against pipelined
 * async updates, with redis-benchmark as the baseline measured in the same
 * run on the same server.
 *
 *   bench_redis [N]        (N updates per measurement, default 20000)
 *
 * Method
 * - One throwaway redis-server on 127.0.0.1 (appendonly yes, appendfsync
 *   always, in a /tmp directory), the same for every measurement.
 * - Baselines: `redis-benchmark -c 1 -n N -t hset` (one client, one request
 *   at a time) and the same with `-P 32` (pipelined 32 deep).
 * - sync: one thread, N calls of logstate_update() on N distinct logs (no
 *   contention): each is 2 round trips (WATCH+HMGET, MULTI+EVALSHA+EXEC).
 * - async: N logstate_async_update() on N distinct logs with 256 in flight
 *   on one connection (each is 2 requests: HMGET, then EVALSHA).
 * - Wall-clock time of each whole batch; ops/s = N / seconds. Absolute
 *   numbers are noisy on shared machines: compare the ratios, which are
 *   printed last, within one run.
 */
#define _POSIX_C_SOURCE 200809L
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logstate/async.h"
#include "logstate/logstate.h"
#include "redis_server.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static const char checkpoint[] = "bench.example/log\n123456\nqJ1B8Hqv3lIS4VbX4KiNbm1Y3rB4hX9b2v0CkH3a1mE=\n\n"
                                 "\xe2\x80\x94 bench.example/log Az3gr0AAAABpXb2RlYWRiZWVmZGVhZGJlZWZkZWFkYmVlZg==\n";

static logstate_status fn_set(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len, void *arg) {
  (void)cur, (void)cur_len, (void)arg;
  *out_next = malloc(sizeof(checkpoint) - 1);
  memcpy(*out_next, checkpoint, sizeof(checkpoint) - 1);
  *out_next_len = sizeof(checkpoint) - 1;
  return LOGSTATE_OK;
}

static double redis_benchmark(int port, int n, int pipeline) {
  char cmd[256], out[65536];
  snprintf(cmd, sizeof(cmd), "redis-benchmark -p %d -c 1 -n %d -P %d -q -t hset 2>/dev/null", port, n, pipeline);
  FILE *p = popen(cmd, "r");
  double rps = -1;
  if (p == NULL)
    return -1;
  /* -q ends with "HSET: 12345.67 requests per second, ..." after progress
   * updates separated by \r: take the number before that phrase. */
  size_t n_out = fread(out, 1, sizeof(out) - 1, p);
  out[n_out] = '\0';
  pclose(p);
  char *end = strstr(out, " requests per second");
  if (end == NULL)
    return -1;
  char *start = end;
  while (start > out && start[-1] != ' ')
    start--;
  rps = atof(start);
  return rps;
}

typedef struct async_run {
  logstate_async *a;
  int n, submitted, completed, failed;
} async_run;

static void submit(async_run *r);

static void on_done(logstate_status st, void *arg) {
  async_run *r = arg;
  r->completed++;
  if (st != LOGSTATE_OK && r->failed++ == 0)
    fprintf(stderr, "async update: %s: %s\n", logstate_status_name(st), logstate_last_error());
  if (r->submitted < r->n)
    submit(r);
}

static void submit(async_run *r) {
  char id[32];
  snprintf(id, sizeof(id), "async-%d", r->submitted++);
  if (logstate_async_update(r->a, id, fn_set, NULL, on_done, r) != LOGSTATE_OK) {
    r->completed++;
    r->failed++;
  }
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 20000;
  if (n <= 0) {
    fprintf(stderr, "usage: bench_redis [N]\n");
    return 2;
  }
  test_redis server;
  if (test_redis_start(&server, NULL) != 0)
    return 1;
  char url[128];
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?timeout_ms=30000", server.port);

  double hset1 = redis_benchmark(server.port, n, 1);
  double hset32 = redis_benchmark(server.port, n, 32);

  /* sync */
  logstate *ls = NULL;
  if (logstate_open(&ls, url) != LOGSTATE_OK || logstate_init(ls) != LOGSTATE_OK) {
    fprintf(stderr, "sync: %s\n", logstate_last_error());
    return 1;
  }
  char id[32];
  double t0 = now_s();
  for (int i = 0; i < n; i++) {
    snprintf(id, sizeof(id), "sync-%d", i);
    if (logstate_update(ls, id, fn_set, NULL) != LOGSTATE_OK) {
      fprintf(stderr, "sync update: %s\n", logstate_last_error());
      return 1;
    }
  }
  double sync_s = now_s() - t0;
  logstate_free(ls);

  /* async, 256 in flight */
  struct event_base *base = event_base_new();
  async_run r = {.n = n};
  if (logstate_async_open(&r.a, base, url, NULL) != LOGSTATE_OK) {
    fprintf(stderr, "async: %s\n", logstate_last_error());
    return 1;
  }
  t0 = now_s();
  for (int i = 0; i < 256 && r.submitted < n; i++)
    submit(&r);
  while (r.completed < n)
    event_base_loop(base, EVLOOP_ONCE);
  double async_s = now_s() - t0;
  logstate_async_free(r.a);
  event_base_free(base);
  test_redis_stop(&server);
  if (r.failed)
    return 1;

  double sync_ops = n / sync_s, async_ops = n / async_s;
  printf("logstate bench_redis: N=%d updates per run, one redis-server 7 (appendfsync always) on loopback\n", n);
  printf("%-44s %12s\n", "measurement", "ops/s");
  printf("%-44s %12.0f\n", "redis-benchmark HSET, 1 client, no pipeline", hset1);
  printf("%-44s %12.0f\n", "redis-benchmark HSET, 1 client, pipeline 32", hset32);
  printf("%-44s %12.0f\n", "logstate_update (sync, 2 round trips)", sync_ops);
  printf("%-44s %12.0f\n", "logstate_async_update (256 in flight)", async_ops);
  printf("ratios: async/sync = %.2f; sync/HSET-no-pipeline = %.2f; async/HSET-pipeline-32 = %.2f\n",
         async_ops / sync_ops, hset1 > 0 ? sync_ops / hset1 : 0, hset32 > 0 ? async_ops / hset32 : 0);
  return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Feeding Prometheus from logstate's operations hook: every finished
 * operation adds to a counter per kind and status and to a latency
 * histogram per kind; the program then prints them in Prometheus's text
 * exposition format (what a /metrics endpoint would serve), together with
 * the library's own percentiles (logstate_get_op_stats).
 *
 *   prometheus_hook [URL]        (default: memory:)
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logstate/logstate.h"

static const char *const kind_names[LOGSTATE_OP_KINDS] = {"init",      "logs",   "get",     "write_ops",
                                                          "write_set", "update", "history", "verify"};
/* Upper bounds of the histogram's buckets, in seconds (then +Inf). */
static const double bounds_s[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1};
#define NBOUNDS (sizeof(bounds_s) / sizeof(bounds_s[0]))
#define NSTATUS 10 /* logstate_status values 0..9 */

/* The hook may be called from several threads at once: atomics only. */
typedef struct metrics {
  atomic_ullong ops[LOGSTATE_OP_KINDS][NSTATUS];
  atomic_ullong bucket[LOGSTATE_OP_KINDS][NBOUNDS + 1]; /* cumulative at print time */
  atomic_ullong sum_us[LOGSTATE_OP_KINDS], round_trips[LOGSTATE_OP_KINDS], retries[LOGSTATE_OP_KINDS];
} metrics;

static void on_op(const logstate_op_info *info, void *arg) {
  metrics *m = arg;
  unsigned int st = (unsigned int)info->status < NSTATUS ? (unsigned int)info->status : NSTATUS - 1;
  size_t b = 0;
  while (b < NBOUNDS && (double)info->latency_us / 1e6 > bounds_s[b])
    b++;
  atomic_fetch_add(&m->ops[info->kind][st], 1);
  atomic_fetch_add(&m->bucket[info->kind][b], 1);
  atomic_fetch_add(&m->sum_us[info->kind], info->latency_us);
  atomic_fetch_add(&m->round_trips[info->kind], info->round_trips);
  atomic_fetch_add(&m->retries[info->kind], info->retries);
}

static void print_metrics(metrics *m, logstate *ls) {
  printf("# HELP logstate_operations_total Finished logstate operations, by kind and status.\n"
         "# TYPE logstate_operations_total counter\n");
  for (int k = 0; k < LOGSTATE_OP_KINDS; k++)
    for (int s = 0; s < NSTATUS; s++)
      if (atomic_load(&m->ops[k][s]))
        printf("logstate_operations_total{kind=\"%s\",status=\"%s\"} %llu\n", kind_names[k],
               logstate_status_name((logstate_status)s), atomic_load(&m->ops[k][s]));
  printf("# HELP logstate_operation_seconds Latency of logstate operations.\n"
         "# TYPE logstate_operation_seconds histogram\n");
  for (int k = 0; k < LOGSTATE_OP_KINDS; k++) {
    unsigned long long cum = 0;
    for (size_t b = 0; b <= NBOUNDS; b++) {
      cum += atomic_load(&m->bucket[k][b]);
      if (b < NBOUNDS)
        printf("logstate_operation_seconds_bucket{kind=\"%s\",le=\"%g\"} %llu\n", kind_names[k], bounds_s[b], cum);
      else
        printf("logstate_operation_seconds_bucket{kind=\"%s\",le=\"+Inf\"} %llu\n", kind_names[k], cum);
    }
    printf("logstate_operation_seconds_sum{kind=\"%s\"} %.6f\n", kind_names[k],
           (double)atomic_load(&m->sum_us[k]) / 1e6);
    printf("logstate_operation_seconds_count{kind=\"%s\"} %llu\n", kind_names[k], cum);
  }
  printf("# HELP logstate_round_trips_total Network round trips made by logstate operations.\n"
         "# TYPE logstate_round_trips_total counter\n");
  for (int k = 0; k < LOGSTATE_OP_KINDS; k++)
    printf("logstate_round_trips_total{kind=\"%s\"} %llu\n", kind_names[k], atomic_load(&m->round_trips[k]));
  printf("# HELP logstate_update_retries_total Update attempts after the first (lost races).\n"
         "# TYPE logstate_update_retries_total counter\n"
         "logstate_update_retries_total %llu\n",
         atomic_load(&m->retries[LOGSTATE_OP_UPDATE]));
  /* The library's own percentiles, as a summary. */
  printf("# HELP logstate_operation_latency_seconds Latency percentiles kept by logstate itself.\n"
         "# TYPE logstate_operation_latency_seconds summary\n");
  for (int k = 0; k < LOGSTATE_OP_KINDS; k++) {
    logstate_op_stats s;
    if (logstate_get_op_stats(ls, (logstate_op_kind)k, &s) != LOGSTATE_OK || s.count == 0)
      continue;
    printf("logstate_operation_latency_seconds{kind=\"%s\",quantile=\"0.5\"} %.6f\n", kind_names[k], s.p50_us / 1e6);
    printf("logstate_operation_latency_seconds{kind=\"%s\",quantile=\"0.9\"} %.6f\n", kind_names[k], s.p90_us / 1e6);
    printf("logstate_operation_latency_seconds{kind=\"%s\",quantile=\"0.99\"} %.6f\n", kind_names[k], s.p99_us / 1e6);
    printf("logstate_operation_latency_seconds_count{kind=\"%s\"} %llu\n", kind_names[k], (unsigned long long)s.count);
  }
}

static logstate_status bump(const uint8_t *cur, size_t cur_len, uint8_t **out, size_t *out_len, void *arg) {
  unsigned long n = 0;
  (void)arg;
  if (cur && sscanf((const char *)cur, "example.com/log\n%lu", &n) != 1 && cur_len)
    return LOGSTATE_FAILED_PRECONDITION;
  char *next = malloc(64);
  if (next == NULL)
    return LOGSTATE_RESOURCE_EXHAUSTED;
  *out_len = (size_t)snprintf(next, 64, "example.com/log\n%lu\nhash\n", n + 1);
  *out = (uint8_t *)next;
  return LOGSTATE_OK;
}

int main(int argc, char **argv) {
  static metrics m; /* zeroed */
  logstate_options o = LOGSTATE_OPTIONS_INIT;
  o.on_op = on_op;
  o.on_op_arg = &m;
  logstate *ls = NULL;
  logstate_status st = logstate_open_ext(&ls, argc > 1 ? argv[1] : "memory:", &o);
  if (st == LOGSTATE_OK)
    st = logstate_init(ls);
  for (int i = 0; st == LOGSTATE_OK && i < 100; i++)
    st = logstate_update(ls, "example.com/log", bump, NULL);
  if (st != LOGSTATE_OK) {
    fprintf(stderr, "prometheus_hook: %s: %s\n", logstate_status_name(st), logstate_last_error());
    logstate_free(ls);
    return 1;
  }
  logstate_read *r = NULL;
  uint8_t *cp = NULL;
  size_t len = 0;
  if (logstate_read_ops(ls, "no-such-log", &r) == LOGSTATE_OK)
    (void)logstate_read_get_latest(r, &cp, &len); /* NOT_FOUND: counted with its status */
  logstate_read_free(r);
  free(cp);
  print_metrics(&m, ls);
  logstate_free(ls);
  return 0;
}

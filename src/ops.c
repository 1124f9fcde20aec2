/* SPDX-License-Identifier: Apache-2.0 */
/* What both APIs report of each finished operation, once: the operations
 * hook (logstate_options.on_op) and the latency histogram per kind behind
 * logstate_get_op_stats(). The sync core brackets each public call with
 * ls_op_begin/ls_op_end (only the outermost call reports: an update's own
 * reads and sets are part of it); the async core reports from its finish. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Buckets: 0..15 µs one each, then 16 per power of two up to 2^40 µs. */
#define SUB 16
#define SUB_BITS 4
#define MAX_EXP 40
#define NBUCKETS (SUB + (MAX_EXP - SUB_BITS) * SUB)

struct ls_opstats {
  atomic_uint_fast64_t count[LOGSTATE_OP_KINDS], errors[LOGSTATE_OP_KINDS], max[LOGSTATE_OP_KINDS];
  atomic_uint_fast64_t bucket[LOGSTATE_OP_KINDS][NBUCKETS];
};

_Thread_local uint64_t ls_tl_round_trips;
static _Thread_local int depth; /* public calls on this thread's stack */

uint64_t ls_now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

ls_opstats *ls_opstats_new(void) { return calloc(1, sizeof(ls_opstats)); }

void ls_opstats_free(ls_opstats *s) { free(s); }

static int bucket_of(uint64_t us) {
  if (us < SUB)
    return (int)us;
  int e = 63 - __builtin_clzll(us);
  if (e >= MAX_EXP)
    return NBUCKETS - 1;
  return SUB + (e - SUB_BITS) * SUB + (int)((us >> (e - SUB_BITS)) & (SUB - 1));
}

/* The largest value a bucket holds. */
static uint64_t bucket_top(int b) {
  if (b < SUB)
    return (uint64_t)b;
  int e = (b - SUB) / SUB + SUB_BITS, sub = (b - SUB) % SUB;
  return ((uint64_t)(SUB + sub + 1) << (e - SUB_BITS)) - 1;
}

static void add(ls_opstats *s, logstate_op_kind k, logstate_status st, uint64_t us) {
  atomic_fetch_add(&s->count[k], 1);
  if (st != LOGSTATE_OK)
    atomic_fetch_add(&s->errors[k], 1);
  atomic_fetch_add(&s->bucket[k][bucket_of(us)], 1);
  uint64_t m = atomic_load(&s->max[k]);
  while (us > m && !atomic_compare_exchange_weak(&s->max[k], &m, us))
    ;
}

void ls_op_report(const ls_policy *p, ls_opstats *s, const logstate_op_info *info) {
  ls_saved_error saved;
  if (s)
    add(s, info->kind, info->status, info->latency_us);
  if (p == NULL || p->on_op == NULL)
    return;
  /* The hook may fail and record its own message: the caller's stays. */
  ls_error_save(&saved, info->status);
  p->on_op(info, p->on_op_arg);
  ls_error_restore(&saved);
}

void ls_op_begin(ls_op_clock *c) {
  c->outer = depth++ == 0;
  c->t0 = c->outer ? ls_now_us() : 0;
  c->rt0 = ls_tl_round_trips;
}

logstate_status ls_op_end(const ls_policy *p, ls_opstats *s, const ls_op_clock *c, logstate_op_kind kind,
                          const char *log_id, logstate_status st, unsigned int retries) {
  depth--;
  if (!c->outer || (s == NULL && (p == NULL || p->on_op == NULL)))
    return st;
  logstate_op_info info = {.kind = kind,
                           .log_id = log_id,
                           .status = st,
                           .latency_us = ls_now_us() - c->t0,
                           .round_trips = ls_tl_round_trips - c->rt0,
                           .retries = retries};
  ls_op_report(p, s, &info);
  return st;
}

static uint64_t percentile(const ls_opstats *s, logstate_op_kind k, uint64_t total, double q) {
  uint64_t want = (uint64_t)((double)total * q), seen = 0;
  if (want == 0)
    want = 1;
  for (int b = 0; b < NBUCKETS; b++) {
    seen += atomic_load(&s->bucket[k][b]);
    if (seen >= want)
      return bucket_top(b);
  }
  return atomic_load(&s->max[k]);
}

void ls_opstats_get(const ls_opstats *s, logstate_op_kind k, logstate_op_stats *out) {
  memset(out, 0, sizeof(*out));
  uint64_t total = 0;
  for (int b = 0; b < NBUCKETS; b++)
    total += atomic_load(&s->bucket[k][b]);
  out->count = atomic_load(&s->count[k]);
  out->errors = atomic_load(&s->errors[k]);
  out->max_us = atomic_load(&s->max[k]);
  if (total == 0)
    return;
  out->p50_us = percentile(s, k, total, 0.50);
  out->p90_us = percentile(s, k, total, 0.90);
  out->p99_us = percentile(s, k, total, 0.99);
  if (out->p99_us > out->max_us) /* the bucket's top, beyond what was seen */
    out->p99_us = out->max_us;
  if (out->p90_us > out->max_us)
    out->p90_us = out->max_us;
  if (out->p50_us > out->max_us)
    out->p50_us = out->max_us;
}

logstate_status ls_op_stats_check(const char *fn, const void *handle, logstate_op_kind kind, const void *out) {
  if (handle == NULL || out == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: %s is NULL", fn, handle ? "out" : "handle");
  if ((unsigned)kind >= LOGSTATE_OP_KINDS)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: kind %d is not a logstate_op_kind", fn, (int)kind);
  return LOGSTATE_OK;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The allocation-failure loop: the core and the memory backend run a whole
 * scenario with the N-th allocation failing, for N = 0, 1, 2, ... until the
 * scenario needs no more. Every call must return OK or RESOURCE_EXHAUSTED
 * (or the status the scenario expects), nothing may crash, and everything
 * allocated must be freed again.
 *
 * This program replaces malloc, calloc, realloc and free (forwarding to
 * glibc's __libc_* functions), so it is not built under sanitizers, which
 * own the allocator. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logstate/logstate.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static long countdown = -1; /* allocations left before one fails; -1: never */
static long live;           /* allocations not yet freed, while counting */
static int counting;
static int failed_one;

static int should_fail(void) {
  if (countdown < 0)
    return 0;
  if (countdown-- == 0) {
    failed_one = 1;
    return 1;
  }
  return 0;
}

void *malloc(size_t n) {
  if (should_fail())
    return NULL;
  void *p = __libc_malloc(n);
  if (p && counting)
    live++;
  return p;
}

void *calloc(size_t a, size_t b) {
  if (should_fail())
    return NULL;
  void *p = __libc_calloc(a, b);
  if (p && counting)
    live++;
  return p;
}

void *realloc(void *old, size_t n) {
  if (should_fail())
    return NULL;
  void *p = __libc_realloc(old, n);
  if (p && old == NULL && counting)
    live++;
  return p;
}

void free(void *p) {
  if (p && counting)
    live--;
  __libc_free(p);
}

static int allowed(logstate_status st, logstate_status want) { return st == want || st == LOGSTATE_RESOURCE_EXHAUSTED; }

static logstate_status fn_next(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len,
                               void *arg) {
  (void)cur, (void)cur_len, (void)arg;
  *out_next = malloc(4);
  if (*out_next == NULL)
    return LOGSTATE_RESOURCE_EXHAUSTED;
  memcpy(*out_next, "next", 4);
  *out_next_len = 4;
  return LOGSTATE_OK;
}

/* One pass of the scenario; returns 0 when every status was acceptable. */
static int scenario(void) {
  logstate *ls = NULL, *other = NULL;
  int bad = 0;
#define CHECK(expr, want)                                                                                              \
  do {                                                                                                                 \
    logstate_status st_ = (expr);                                                                                      \
    if (!allowed(st_, want)) {                                                                                         \
      fprintf(stderr, "%s returned %s\n", #expr, logstate_status_name(st_));                                           \
      bad = 1;                                                                                                         \
    }                                                                                                                  \
  } while (0)
  CHECK(logstate_open(&ls, "memory:alloc-loop"), LOGSTATE_OK);
  if (ls == NULL)
    return bad;
  CHECK(logstate_open(&other, "memory:alloc-loop"), LOGSTATE_OK);
  CHECK(logstate_init(ls), LOGSTATE_OK);
  char id[32];
  for (int i = 0; i < 70; i++) { /* enough logs to grow the hash table */
    logstate_write *w = NULL;
    snprintf(id, sizeof(id), "log-%d", i);
    CHECK(logstate_write_ops(ls, id, &w), LOGSTATE_OK);
    if (w) {
      CHECK(logstate_write_set(w, (const uint8_t *)"cp", 2), LOGSTATE_OK);
      CHECK(logstate_write_close(w), LOGSTATE_OK);
    }
  }
  logstate_read *r = NULL;
  uint8_t *cp = NULL;
  size_t len = 0;
  CHECK(logstate_read_ops(ls, "log-3", &r), LOGSTATE_OK);
  if (r) {
    logstate_status st = logstate_read_get_latest(r, &cp, &len);
    if (st == LOGSTATE_NOT_FOUND) /* its set was the allocation that failed */
      st = LOGSTATE_OK;
    CHECK(st, LOGSTATE_OK);
    free(cp);
    logstate_read_free(r);
  }
  char **ids = NULL;
  size_t n = 0;
  CHECK(logstate_logs(ls, &ids, &n), LOGSTATE_OK);
  logstate_logs_free(ids, n);
  CHECK(logstate_update(ls, "log-1", fn_next, NULL), LOGSTATE_OK);
  logstate_free(other);
  logstate_free(ls);
  return bad;
}

static void test_every_allocation_may_fail(void **state) {
  (void)state;
  int iterations = 0;
  for (long n = 0;; n++) {
    failed_one = 0;
    live = 0;
    counting = 1;
    countdown = n;
    int bad = scenario();
    countdown = -1;
    counting = 0;
    if (bad)
      fail_msg("allocation %ld failing gave an unexpected status", n);
    if (live != 0)
      fail_msg("allocation %ld failing leaked %ld allocation(s)", n, live);
    iterations++;
    if (!failed_one)
      break; /* the scenario ran to the end without reaching allocation n */
  }
  print_message("%d allocation points failed one at a time, no leak, no crash\n", iterations - 1);
  assert_true(iterations > 100);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_every_allocation_may_fail)};
  return cmocka_run_group_tests_name("alloc-failure", tests, NULL, NULL);
}

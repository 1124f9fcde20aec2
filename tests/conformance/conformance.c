/* SPDX-License-Identifier: Apache-2.0 */
/* The conformance suite. See conformance.h for how a backend runs it. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"

static const logstate_conformance_target *target;
static unsigned int next_store = 1;

typedef struct fixture {
  unsigned int store;
  logstate *ls;
} fixture;

#include "test_util.h"

static logstate *open_store(unsigned int store) {
  logstate *ls = NULL;
  assert_status(target->open(target->ctx, store, &ls), LOGSTATE_OK);
  assert_non_null(ls);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  return ls;
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  f->store = next_store++;
  f->ls = open_store(f->store);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  logstate_free(f->ls);
  free(f);
  return 0;
}

/* --- helpers that assert ------------------------------------------------ */

static void put(logstate *ls, const char *id, const void *cp, size_t len) {
  logstate_write *w = NULL;
  assert_status(logstate_write_ops(ls, id, &w), LOGSTATE_OK);
  assert_status(logstate_write_set(w, cp, len), LOGSTATE_OK);
  assert_status(logstate_write_close(w), LOGSTATE_OK);
}

static void put_str(logstate *ls, const char *id, const char *cp) { put(ls, id, cp, strlen(cp)); }

static void expect_error_mentions(const char *word) {
  const char *msg = logstate_last_error();
  if (strstr(msg, word) == NULL)
    fail_msg("last error \"%s\" does not mention \"%s\"", msg, word);
}

static void expect_latest(logstate *ls, const char *id, const void *want, size_t want_len) {
  logstate_read *r = NULL;
  uint8_t *cp = NULL;
  size_t len = 0;
  assert_status(logstate_read_ops(ls, id, &r), LOGSTATE_OK);
  assert_status(logstate_read_get_latest(r, &cp, &len), LOGSTATE_OK);
  assert_int_equal(len, want_len);
  assert_memory_equal(cp, want, want_len);
  free(cp);
  logstate_read_free(r);
  /* The one-call read says the same. */
  cp = NULL;
  assert_status(logstate_get_latest(ls, id, &cp, &len), LOGSTATE_OK);
  assert_int_equal(len, want_len);
  assert_memory_equal(cp, want, want_len);
  free(cp);
}

static void expect_latest_str(logstate *ls, const char *id, const char *want) {
  expect_latest(ls, id, want, strlen(want));
}

static void expect_absent(logstate *ls, const char *id) {
  logstate_read *r = NULL;
  uint8_t *cp = (uint8_t *)"x";
  size_t len = 7;
  assert_status(logstate_read_ops(ls, id, &r), LOGSTATE_OK);
  assert_status(logstate_read_get_latest(r, &cp, &len), LOGSTATE_NOT_FOUND);
  assert_null(cp);
  assert_int_equal(len, 0);
  logstate_read_free(r);
  cp = (uint8_t *)"x";
  len = 7;
  assert_status(logstate_get_latest(ls, id, &cp, &len), LOGSTATE_NOT_FOUND);
  assert_null(cp);
  assert_int_equal(len, 0);
  expect_error_mentions("no checkpoint");
}

/* Asserts that logs() returns exactly `want` (already sorted). */
static void expect_logs(logstate *ls, const char *const *want, size_t n) {
  char **ids = NULL;
  size_t got = 99;
  assert_status(logstate_logs(ls, &ids, &got), LOGSTATE_OK);
  assert_int_equal(got, n);
  for (size_t i = 0; i < n; i++)
    assert_string_equal(ids[i], want[i]);
  if (n == 0)
    assert_null(ids);
  logstate_logs_free(ids, got);
}

/* --- the Go helpers' cases ---------------------------------------------- */

static void test_no_logs_at_first(void **state) {
  fixture *f = *state;
  expect_logs(f->ls, NULL, 0);
}

static void test_unknown_log_not_found(void **state) {
  fixture *f = *state;
  expect_absent(f->ls, "example.com/unknown");
  logstate_write *w = NULL;
  uint8_t *cp = NULL;
  size_t len = 0;
  assert_status(logstate_write_ops(f->ls, "example.com/unknown", &w), LOGSTATE_OK);
  assert_status(logstate_write_get_latest(w, &cp, &len), LOGSTATE_NOT_FOUND);
  assert_null(cp);
  assert_status(logstate_write_close(w), LOGSTATE_OK);
  expect_logs(f->ls, NULL, 0); /* reading or opening does not create a log */
}

static void test_write_then_read_back(void **state) {
  fixture *f = *state;
  put_str(f->ls, "example.com/log", "example.com/log\n1\nhash\n");
  expect_latest_str(f->ls, "example.com/log", "example.com/log\n1\nhash\n");
  const char *want[] = {"example.com/log"};
  expect_logs(f->ls, want, 1);
}

/* --- semantics ---------------------------------------------------------- */

static void test_trust_on_first_use(void **state) {
  fixture *f = *state;
  logstate_write *w = NULL;
  uint8_t *cp = NULL;
  size_t len = 0;
  assert_status(logstate_write_ops(f->ls, "tofu", &w), LOGSTATE_OK);
  assert_status(logstate_write_get_latest(w, &cp, &len), LOGSTATE_NOT_FOUND);
  assert_status(logstate_write_set(w, (const uint8_t *)"first", 5), LOGSTATE_OK);
  assert_status(logstate_write_close(w), LOGSTATE_OK);
  expect_latest_str(f->ls, "tofu", "first");
  /* The next transaction's snapshot is the stored value. */
  assert_status(logstate_write_ops(f->ls, "tofu", &w), LOGSTATE_OK);
  assert_status(logstate_write_get_latest(w, &cp, &len), LOGSTATE_OK);
  assert_int_equal(len, 5);
  assert_memory_equal(cp, "first", 5);
  free(cp);
  assert_status(logstate_write_close(w), LOGSTATE_OK);
}

static void test_overwrite(void **state) {
  fixture *f = *state;
  put_str(f->ls, "log", "one");
  put_str(f->ls, "log", "two, longer");
  put_str(f->ls, "log", "3");
  expect_latest_str(f->ls, "log", "3");
  const char *want[] = {"log"};
  expect_logs(f->ls, want, 1);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_logs_sorted_unique(void **state) {
  fixture *f = *state;
  enum { N = 60 };
  char *names[N];
  /* Written in a scrambled order, some twice; IDs chosen so that bytewise
   * order differs from insertion order and from numeric order. */
  for (int i = 0; i < N; i++) {
    names[i] = malloc(32);
    assert_non_null(names[i]);
    snprintf(names[i], 32, "%s/log-%d", (i % 3) ? "b.example" : "A.example", (i * 37) % N);
  }
  for (int i = 0; i < N; i++) {
    put_str(f->ls, names[i], "cp");
    if (i % 4 == 0)
      put_str(f->ls, names[i], "cp again");
  }
  qsort(names, N, sizeof(*names), cmp_str);
  expect_logs(f->ls, (const char *const *)names, N);
  for (int i = 0; i < N; i++)
    free(names[i]);
}

/* Two write transactions on one log, opened before either sets: the first
 * set wins, the second is ABORTED and stores nothing. */
static void race_two_writers(logstate *a, logstate *b, const char *id) {
  logstate_write *w1 = NULL, *w2 = NULL;
  assert_status(logstate_write_ops(a, id, &w1), LOGSTATE_OK);
  assert_status(logstate_write_ops(b, id, &w2), LOGSTATE_OK);
  assert_status(logstate_write_set(w1, (const uint8_t *)"winner", 6), LOGSTATE_OK);
  assert_status(logstate_write_set(w2, (const uint8_t *)"loser", 5), LOGSTATE_ABORTED);
  assert_status(logstate_write_close(w2), LOGSTATE_OK);
  assert_status(logstate_write_close(w1), LOGSTATE_OK);
  expect_latest_str(a, id, "winner");
  expect_latest_str(b, id, "winner");
}

static void test_two_writers_one_handle(void **state) {
  fixture *f = *state;
  race_two_writers(f->ls, f->ls, "absent-log"); /* racing trust on first use */
  put_str(f->ls, "present-log", "old");
  race_two_writers(f->ls, f->ls, "present-log");
}

static void test_two_writers_two_handles(void **state) {
  fixture *f = *state;
  if (!target->shares_store) {
    skip();
    return;
  }
  logstate *other = open_store(f->store);
  put_str(f->ls, "seen-by-both", "v1");
  expect_latest_str(other, "seen-by-both", "v1");
  race_two_writers(f->ls, other, "absent-log");
  put_str(other, "present-log", "old");
  race_two_writers(other, f->ls, "present-log");
  const char *want[] = {"absent-log", "present-log", "seen-by-both"};
  expect_logs(other, want, 3);
  logstate_free(other);
}

static void test_close_without_set(void **state) {
  fixture *f = *state;
  logstate_write *w = NULL;
  assert_status(logstate_write_ops(f->ls, "never-set", &w), LOGSTATE_OK);
  assert_status(logstate_write_close(w), LOGSTATE_OK);
  expect_absent(f->ls, "never-set");
  expect_logs(f->ls, NULL, 0);

  put_str(f->ls, "kept", "value");
  assert_status(logstate_write_ops(f->ls, "kept", &w), LOGSTATE_OK);
  assert_status(logstate_write_close(w), LOGSTATE_OK);
  expect_latest_str(f->ls, "kept", "value");
  /* An abandoned transaction does not disturb the next one. */
  put_str(f->ls, "kept", "next");
  expect_latest_str(f->ls, "kept", "next");
}

static void test_set_twice(void **state) {
  fixture *f = *state;
  logstate_write *w = NULL;
  uint8_t *cp = NULL;
  size_t len = 0;
  assert_status(logstate_write_ops(f->ls, "log", &w), LOGSTATE_OK);
  assert_status(logstate_write_set(w, (const uint8_t *)"first", 5), LOGSTATE_OK);
  assert_status(logstate_write_set(w, (const uint8_t *)"second", 6), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("logstate_write_set");
  assert_status(logstate_write_get_latest(w, &cp, &len), LOGSTATE_FAILED_PRECONDITION);
  assert_null(cp);
  assert_status(logstate_write_close(w), LOGSTATE_OK);
  expect_latest_str(f->ls, "log", "first");
}

static void test_set_after_failed_set(void **state) {
  fixture *f = *state;
  logstate_write *w1 = NULL, *w2 = NULL;
  put_str(f->ls, "log", "base");
  assert_status(logstate_write_ops(f->ls, "log", &w1), LOGSTATE_OK);
  assert_status(logstate_write_ops(f->ls, "log", &w2), LOGSTATE_OK);
  assert_status(logstate_write_set(w1, (const uint8_t *)"won", 3), LOGSTATE_OK);
  assert_status(logstate_write_set(w2, (const uint8_t *)"lost", 4), LOGSTATE_ABORTED);
  /* A failed set also ends the transaction. */
  assert_status(logstate_write_set(w2, (const uint8_t *)"again", 5), LOGSTATE_FAILED_PRECONDITION);
  assert_status(logstate_write_close(w2), LOGSTATE_OK);
  assert_status(logstate_write_close(w1), LOGSTATE_OK);
  expect_latest_str(f->ls, "log", "won");
}

static void test_invalid_set_keeps_transaction(void **state) {
  fixture *f = *state;
  logstate_write *w = NULL;
  assert_status(logstate_write_ops(f->ls, "log", &w), LOGSTATE_OK);
  assert_status(logstate_write_set(w, (const uint8_t *)"", 0), LOGSTATE_INVALID_ARGUMENT);
  expect_error_mentions("empty");
  assert_status(logstate_write_set(w, NULL, 4), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_write_set(w, (const uint8_t *)"good", 4), LOGSTATE_OK);
  assert_status(logstate_write_close(w), LOGSTATE_OK);
  expect_latest_str(f->ls, "log", "good");
}

static void test_many_transactions_one_thread(void **state) {
  fixture *f = *state;
  enum { N = 6 };
  logstate_write *w[N];
  char id[16];
  /* One thread holding several transactions (same log and others) must not
   * deadlock on any backend. */
  for (int i = 0; i < N; i++) {
    snprintf(id, sizeof(id), "log-%d", i % 3);
    assert_status(logstate_write_ops(f->ls, id, &w[i]), LOGSTATE_OK);
  }
  for (int i = 0; i < N; i++) {
    /* log-0, log-1, log-2 each opened twice: the first of each pair wins. */
    assert_status(logstate_write_set(w[i], (const uint8_t *)"v", 1), i < 3 ? LOGSTATE_OK : LOGSTATE_ABORTED);
  }
  for (int i = N - 1; i >= 0; i--)
    assert_status(logstate_write_close(w[i]), LOGSTATE_OK);
  const char *want[] = {"log-0", "log-1", "log-2"};
  expect_logs(f->ls, want, 3);
}

/* --- data --------------------------------------------------------------- */

static void test_binary_checkpoints(void **state) {
  fixture *f = *state;
  const uint8_t special[] = {'a', 0, '\r', '\n', 0xff, 0, 0, '\n', 0xfe, '\r'};
  put(f->ls, "binary", special, sizeof(special));
  expect_latest(f->ls, "binary", special, sizeof(special));
  uint8_t all[512];
  for (size_t i = 0; i < sizeof(all); i++)
    all[i] = (uint8_t)(255 - i % 256);
  put(f->ls, "all-bytes", all, sizeof(all));
  expect_latest(f->ls, "all-bytes", all, sizeof(all));
  const uint8_t nul = 0;
  put(f->ls, "one-nul", &nul, 1);
  expect_latest(f->ls, "one-nul", &nul, 1);
}

static void test_checkpoint_sizes(void **state) {
  fixture *f = *state;
  size_t max = LOGSTATE_DEFAULT_MAX_CHECKPOINT_LEN;
  uint8_t *big = malloc(max + 1);
  assert_non_null(big);
  for (size_t i = 0; i <= max; i++)
    big[i] = (uint8_t)(i * 7 + (i >> 11));
  put(f->ls, "big", big, max);
  expect_latest(f->ls, "big", big, max);

  logstate_write *w = NULL;
  assert_status(logstate_write_ops(f->ls, "big", &w), LOGSTATE_OK);
  assert_status(logstate_write_set(w, big, max + 1), LOGSTATE_INVALID_ARGUMENT);
  expect_error_mentions("maximum");
  assert_status(logstate_write_set(w, big, 0), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_write_close(w), LOGSTATE_OK);
  expect_latest(f->ls, "big", big, max);
  free(big);
}

static void test_odd_log_ids(void **state) {
  fixture *f = *state;
  char longest[LOGSTATE_MAX_LOG_ID_LEN + 1];
  memset(longest, 'L', LOGSTATE_MAX_LOG_ID_LEN);
  longest[LOGSTATE_MAX_LOG_ID_LEN] = '\0';
  const char *ids[] = {
      "with space",  "new\nline",        "cr\r\nlf", "caf\xc3\xa9/\xe2\x9c\x93",
      "{braces}",    "{logstate}:log:x", "a:b:c",    "::",
      "\xff",        "tab\there",        "*",        "?[]",
      "ends-with\\", "example.com/x",    longest,
  };
  size_t n = sizeof(ids) / sizeof(ids[0]);
  char value[64];
  for (size_t i = 0; i < n; i++) {
    snprintf(value, sizeof(value), "value-%zu", i);
    put_str(f->ls, ids[i], value);
  }
  for (size_t i = 0; i < n; i++) {
    snprintf(value, sizeof(value), "value-%zu", i);
    expect_latest_str(f->ls, ids[i], value);
  }
  /* A prefix or extension of a stored ID is another log. */
  expect_absent(f->ls, "with");
  expect_absent(f->ls, "with space ");
  const char *sorted[sizeof(ids) / sizeof(ids[0])];
  memcpy(sorted, ids, sizeof(ids));
  qsort(sorted, n, sizeof(*sorted), cmp_str);
  expect_logs(f->ls, sorted, n);
}

static logstate_status fn_never_called(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len,
                                       void *arg) {
  (void)cur, (void)cur_len, (void)out_next, (void)out_next_len;
  ++*(int *)arg;
  return LOGSTATE_OK;
}

static void test_bad_log_ids(void **state) {
  fixture *f = *state;
  char too_long[LOGSTATE_MAX_LOG_ID_LEN + 2];
  memset(too_long, 'L', sizeof(too_long) - 1);
  too_long[sizeof(too_long) - 1] = '\0';
  const char *bad[] = {"", too_long, NULL};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    logstate_read *r = (logstate_read *)1;
    logstate_write *w = (logstate_write *)1;
    int calls = 0;
    assert_status(logstate_read_ops(f->ls, bad[i], &r), LOGSTATE_INVALID_ARGUMENT);
    assert_null(r);
    expect_error_mentions("log ID");
    assert_status(logstate_write_ops(f->ls, bad[i], &w), LOGSTATE_INVALID_ARGUMENT);
    assert_null(w);
    expect_error_mentions("log ID");
    assert_status(logstate_update(f->ls, bad[i], fn_never_called, &calls), LOGSTATE_INVALID_ARGUMENT);
    expect_error_mentions("log ID");
    assert_int_equal(calls, 0);
  }
  expect_logs(f->ls, NULL, 0);
}

/* --- NULL arguments ----------------------------------------------------- */

static void test_null_arguments(void **state) {
  fixture *f = *state;
  logstate *ls = (logstate *)1;
  logstate_read *r = NULL;
  logstate_write *w = NULL;
  uint8_t *cp = (uint8_t *)1;
  size_t len = 1;
  char **ids = (char **)1;
  size_t n = 1;
  int calls = 0;

  assert_status(logstate_open(NULL, "memory:"), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_open(&ls, NULL), LOGSTATE_INVALID_ARGUMENT);
  assert_null(ls);
  assert_status(logstate_open_ext(NULL, NULL, NULL), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_init(NULL), LOGSTATE_INVALID_ARGUMENT);
  expect_error_mentions("NULL");

  assert_status(logstate_logs(NULL, &ids, &n), LOGSTATE_INVALID_ARGUMENT);
  assert_null(ids);
  assert_int_equal(n, 0);
  assert_status(logstate_logs(f->ls, NULL, &n), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_logs(f->ls, &ids, NULL), LOGSTATE_INVALID_ARGUMENT);

  assert_status(logstate_read_ops(NULL, "log", &r), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_read_ops(f->ls, "log", NULL), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_read_ops(f->ls, NULL, &r), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_read_get_latest(NULL, &cp, &len), LOGSTATE_INVALID_ARGUMENT);
  assert_null(cp);
  assert_int_equal(len, 0);
  assert_status(logstate_read_ops(f->ls, "log", &r), LOGSTATE_OK);
  assert_status(logstate_read_get_latest(r, NULL, &len), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_read_get_latest(r, &cp, NULL), LOGSTATE_INVALID_ARGUMENT);
  logstate_read_free(r);

  assert_status(logstate_write_ops(NULL, "log", &w), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_write_ops(f->ls, "log", NULL), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_write_ops(f->ls, NULL, &w), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_write_get_latest(NULL, &cp, &len), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_write_set(NULL, (const uint8_t *)"x", 1), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_write_close(NULL), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_write_ops(f->ls, "log", &w), LOGSTATE_OK);
  assert_status(logstate_write_get_latest(w, NULL, &len), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_write_get_latest(w, &cp, NULL), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_write_set(w, NULL, 1), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_write_close(w), LOGSTATE_OK);

  assert_status(logstate_update(NULL, "log", fn_never_called, &calls), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_update(f->ls, NULL, fn_never_called, &calls), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_update(f->ls, "log", NULL, &calls), LOGSTATE_INVALID_ARGUMENT);
  assert_int_equal(calls, 0);

  /* Release functions accept NULL. */
  logstate_free(NULL);
  logstate_read_free(NULL);
  logstate_logs_free(NULL, 3);
  expect_logs(f->ls, NULL, 0);
}

/* --- update ------------------------------------------------------------- */

typedef struct pass_arg {
  logstate_status ret;
  int calls;
} pass_arg;

static logstate_status fn_return(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len,
                                 void *arg) {
  (void)cur, (void)cur_len;
  pass_arg *a = arg;
  a->calls++;
  /* Hand over a value as well: it must be freed and not stored. */
  *out_next = (uint8_t *)strdup("must not be stored");
  *out_next_len = strlen("must not be stored");
  return a->ret;
}

static void test_update_passes_status_through(void **state) {
  fixture *f = *state;
  const logstate_status statuses[] = {
      LOGSTATE_NOT_FOUND,   LOGSTATE_ABORTED,           LOGSTATE_INVALID_ARGUMENT, LOGSTATE_FAILED_PRECONDITION,
      LOGSTATE_UNAVAILABLE, LOGSTATE_PERMISSION_DENIED, LOGSTATE_INTERNAL,         (logstate_status)77};
  put_str(f->ls, "present", "kept");
  for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
    pass_arg a = {statuses[i], 0};
    assert_status(logstate_update(f->ls, "present", fn_return, &a), statuses[i]);
    assert_int_equal(a.calls, 1); /* a status from fn is not retried */
    a.calls = 0;
    assert_status(logstate_update(f->ls, "absent", fn_return, &a), statuses[i]);
    assert_int_equal(a.calls, 1);
  }
  expect_latest_str(f->ls, "present", "kept");
  expect_absent(f->ls, "absent");
  const char *want[] = {"present"};
  expect_logs(f->ls, want, 1);
}

typedef struct seen_arg {
  int calls;
  int saw_null;
  char saw[64];
  const char *next; /* NULL: ask for no change */
  size_t next_len;
} seen_arg;

static logstate_status fn_record(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len,
                                 void *arg) {
  seen_arg *a = arg;
  a->calls++;
  a->saw_null = cur == NULL;
  if (cur && cur_len < sizeof(a->saw)) {
    memcpy(a->saw, cur, cur_len);
    a->saw[cur_len] = '\0';
  }
  if (a->next) {
    *out_next = malloc(a->next_len ? a->next_len : 1);
    memcpy(*out_next, a->next, a->next_len);
    *out_next_len = a->next_len;
  }
  return LOGSTATE_OK;
}

static void test_update_reads_and_writes(void **state) {
  fixture *f = *state;
  seen_arg a = {.next = "first", .next_len = 5};
  assert_status(logstate_update(f->ls, "log", fn_record, &a), LOGSTATE_OK);
  assert_int_equal(a.calls, 1);
  assert_true(a.saw_null);
  expect_latest_str(f->ls, "log", "first");

  seen_arg b = {.next = "second", .next_len = 6};
  assert_status(logstate_update(f->ls, "log", fn_record, &b), LOGSTATE_OK);
  assert_false(b.saw_null);
  assert_string_equal(b.saw, "first");
  expect_latest_str(f->ls, "log", "second");

  /* OK with no value: no change, nothing written. */
  seen_arg c = {.next = NULL};
  assert_status(logstate_update(f->ls, "log", fn_record, &c), LOGSTATE_OK);
  assert_status(logstate_update(f->ls, "never", fn_record, &c), LOGSTATE_OK);
  expect_latest_str(f->ls, "log", "second");
  expect_absent(f->ls, "never");

  /* An empty value is refused, nothing written. */
  seen_arg d = {.next = "", .next_len = 0};
  assert_status(logstate_update(f->ls, "log", fn_record, &d), LOGSTATE_INVALID_ARGUMENT);
  expect_error_mentions("empty");
  expect_latest_str(f->ls, "log", "second");
}

typedef struct reentrant_arg {
  logstate *ls;
  int calls;
  logstate_status read_status;
} reentrant_arg;

/* Reads the same log through the same handle from inside fn: this
 * deadlocked upstream backends that held a lock or the only connection. On
 * its first call it also commits a competing write, so the update must lose
 * that attempt and retry with the new value. */
static logstate_status fn_reentrant(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len,
                                    void *arg) {
  reentrant_arg *a = arg;
  a->calls++;
  logstate_read *r = NULL;
  uint8_t *cp = NULL;
  size_t len = 0;
  a->read_status = logstate_read_ops(a->ls, "log", &r);
  if (a->read_status == LOGSTATE_OK)
    a->read_status = logstate_read_get_latest(r, &cp, &len);
  logstate_read_free(r);
  if (a->read_status != LOGSTATE_OK)
    return a->read_status;
  free(cp);
  if (a->calls == 1) {
    logstate_write *w = NULL;
    if (logstate_write_ops(a->ls, "log", &w) != LOGSTATE_OK)
      return LOGSTATE_INTERNAL;
    logstate_status st = logstate_write_set(w, (const uint8_t *)"competitor", 10);
    logstate_write_close(w);
    if (st != LOGSTATE_OK)
      return LOGSTATE_INTERNAL;
  }
  size_t n = cur_len + 1;
  *out_next = malloc(n);
  memcpy(*out_next, cur, cur_len);
  (*out_next)[cur_len] = '+';
  *out_next_len = n;
  return LOGSTATE_OK;
}

static void test_update_reentrant_and_retries(void **state) {
  fixture *f = *state;
  put_str(f->ls, "log", "base");
  reentrant_arg a = {f->ls, 0, LOGSTATE_OK};
  assert_status(logstate_update(f->ls, "log", fn_reentrant, &a), LOGSTATE_OK);
  assert_status(a.read_status, LOGSTATE_OK);
  assert_int_equal(a.calls, 2);
  expect_latest_str(f->ls, "log", "competitor+");
}

/* An update decided without a set ("no change", or fn's own status) is
 * decided on the log's current state, never on a state the handle cached
 * before another handle wrote: fn's last call saw the other handle's value. */
static void test_update_decides_on_current_state(void **state) {
  fixture *f = *state;
  if (!target->shares_store) {
    skip();
    return;
  }
  seen_arg a = {.next = "X", .next_len = 1};
  assert_status(logstate_update(f->ls, "log", fn_record, &a), LOGSTATE_OK); /* f->ls now knows "X" */
  logstate *other = open_store(f->store);
  put_str(other, "log", "Y");
  seen_arg none = {.next = NULL};
  assert_status(logstate_update(f->ls, "log", fn_record, &none), LOGSTATE_OK);
  assert_string_equal(none.saw, "Y");
  pass_arg refuse = {LOGSTATE_FAILED_PRECONDITION, 0};
  put_str(other, "log", "Z");
  assert_status(logstate_update(f->ls, "log", fn_return, &refuse), LOGSTATE_FAILED_PRECONDITION);
  /* A set on a stale state loses and is redone on the current one. */
  put_str(other, "log", "W");
  seen_arg b = {.next = "V", .next_len = 1};
  assert_status(logstate_update(f->ls, "log", fn_record, &b), LOGSTATE_OK);
  assert_string_equal(b.saw, "W");
  expect_latest_str(other, "log", "V");
  logstate_free(other);
}

/* The lost-update check: many threads increment one counter. */
#define COUNTER_LOG "conformance.example/counter"

typedef struct worker {
  pthread_t thread;
  logstate *ls;
  unsigned int increments;
  unsigned int done;      /* acknowledged increments */
  unsigned int gave_up;   /* update returned ABORTED after its attempts */
  logstate_status failed; /* any other status */
  char message[256];
} worker;

static void *increment_worker(void *p) {
  worker *w = p;
  while (w->done < w->increments) {
    logstate_status st = logstate_update(w->ls, COUNTER_LOG, test_fn_increment, COUNTER_LOG);
    if (st == LOGSTATE_OK) {
      w->done++;
    } else if (st == LOGSTATE_ABORTED && w->gave_up < 1000) {
      w->gave_up++; /* not acknowledged: try again */
    } else {
      w->failed = st;
      snprintf(w->message, sizeof(w->message), "%s", logstate_last_error());
      break;
    }
  }
  return NULL;
}

static void test_update_no_lost_updates(void **state) {
  fixture *f = *state;
  unsigned int threads = target->threads ? target->threads : 8;
  unsigned int each = target->increments ? target->increments : 250;
  worker *ws = calloc(threads, sizeof(*ws));
  assert_non_null(ws);
  /* Half the threads share the fixture's handle; with a shared store the
   * other half use a second handle, as a second witness would. */
  logstate *other = target->shares_store ? open_store(f->store) : f->ls;
  for (unsigned int i = 0; i < threads; i++) {
    ws[i].ls = (i % 2) ? other : f->ls;
    ws[i].increments = each;
    assert_int_equal(pthread_create(&ws[i].thread, NULL, increment_worker, &ws[i]), 0);
  }
  unsigned long acknowledged = 0, gave_up = 0;
  for (unsigned int i = 0; i < threads; i++) {
    pthread_join(ws[i].thread, NULL);
    if (ws[i].failed != LOGSTATE_OK)
      fail_msg("worker %u: update returned %s: %s", i, logstate_status_name(ws[i].failed), ws[i].message);
    acknowledged += ws[i].done;
    gave_up += ws[i].gave_up;
  }
  assert_int_equal(acknowledged, (unsigned long)threads * each);
  assert_int_equal(test_counter_of(f->ls, COUNTER_LOG), acknowledged);
  if (gave_up)
    print_message("(%lu updates gave up after every attempt lost a race, and were retried)\n", gave_up);
  if (other != f->ls)
    logstate_free(other);
  free(ws);
}

/* One handle never races itself: its threads take turns on a log, so 8
 * threads x 250 updates of one log through one handle, with no other
 * writer, all succeed at their first attempt (no update gives up, no set
 * loses a race) and the counter is exact. */
static void test_update_one_handle_never_races_itself(void **state) {
  fixture *f = *state;
  unsigned int threads = 8, each = target->increments ? target->increments : 250;
  worker ws[8];
  memset(ws, 0, sizeof(ws));
  logstate_stats before, after;
  assert_status(logstate_get_stats(f->ls, &before), LOGSTATE_OK);
  for (unsigned int i = 0; i < threads; i++) {
    ws[i].ls = f->ls;
    ws[i].increments = each;
    assert_int_equal(pthread_create(&ws[i].thread, NULL, increment_worker, &ws[i]), 0);
  }
  for (unsigned int i = 0; i < threads; i++) {
    pthread_join(ws[i].thread, NULL);
    if (ws[i].failed != LOGSTATE_OK)
      fail_msg("worker %u: update returned %s: %s", i, logstate_status_name(ws[i].failed), ws[i].message);
    assert_int_equal(ws[i].gave_up, 0);
    assert_int_equal(ws[i].done, each);
  }
  assert_int_equal(test_counter_of(f->ls, COUNTER_LOG), (unsigned long)threads * each);
  assert_status(logstate_get_stats(f->ls, &after), LOGSTATE_OK);
  assert_int_equal(after.conflicts - before.conflicts, 0);
}

/* logstate_get_latest(): its arguments checked, and one GET reported. */
static void test_get_latest_one_call(void **state) {
  fixture *f = *state;
  uint8_t *cp = (uint8_t *)"x";
  size_t len = 7;
  logstate_op_stats before, after;
  assert_status(logstate_get_latest(NULL, "log", &cp, &len), LOGSTATE_INVALID_ARGUMENT);
  assert_null(cp);
  assert_int_equal(len, 0);
  assert_status(logstate_get_latest(f->ls, NULL, &cp, &len), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_get_latest(f->ls, "", &cp, &len), LOGSTATE_INVALID_ARGUMENT);
  expect_error_mentions("logstate_get_latest");
  assert_status(logstate_get_latest(f->ls, "log", NULL, &len), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_get_latest(f->ls, "log", &cp, NULL), LOGSTATE_INVALID_ARGUMENT);
  put_str(f->ls, "log", "v1");
  assert_status(logstate_get_op_stats(f->ls, LOGSTATE_OP_GET, &before), LOGSTATE_OK);
  assert_status(logstate_get_latest(f->ls, "log", &cp, &len), LOGSTATE_OK);
  assert_int_equal(len, 2);
  assert_memory_equal(cp, "v1", 2);
  free(cp);
  assert_status(logstate_get_op_stats(f->ls, LOGSTATE_OP_GET, &after), LOGSTATE_OK);
  assert_int_equal(after.count - before.count, 1);
}

/* --- init and handles --------------------------------------------------- */

static void test_init_twice_and_second_handle(void **state) {
  fixture *f = *state;
  put_str(f->ls, "log", "before");
  assert_status(logstate_init(f->ls), LOGSTATE_OK);
  assert_status(logstate_init(f->ls), LOGSTATE_OK);
  expect_latest_str(f->ls, "log", "before");
  logstate *second = NULL;
  assert_status(target->open(target->ctx, f->store, &second), LOGSTATE_OK);
  assert_status(logstate_init(second), LOGSTATE_OK);
  assert_status(logstate_init(second), LOGSTATE_OK);
  if (target->shares_store)
    expect_latest_str(second, "log", "before");
  expect_latest_str(f->ls, "log", "before"); /* init on another handle changes nothing */
  logstate_free(second);
}

static void test_objects_outlive_handle(void **state) {
  fixture *f = *state;
  logstate *ls = NULL;
  logstate_write *w = NULL;
  logstate_read *r = NULL;
  uint8_t *cp = NULL;
  size_t len = 0;
  assert_status(target->open(target->ctx, f->store, &ls), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  assert_status(logstate_write_ops(ls, "log", &w), LOGSTATE_OK);
  assert_status(logstate_read_ops(ls, "log", &r), LOGSTATE_OK);
  logstate_free(ls); /* early: the open objects keep the store alive */
  assert_status(logstate_write_set(w, (const uint8_t *)"late", 4), LOGSTATE_OK);
  assert_status(logstate_write_close(w), LOGSTATE_OK);
  assert_status(logstate_read_get_latest(r, &cp, &len), LOGSTATE_OK);
  assert_int_equal(len, 4);
  assert_memory_equal(cp, "late", 4);
  free(cp);
  logstate_read_free(r);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* conformance_history.c: the history group, when the target has open_query.
 * It takes its store numbers from ls_conformance_next_store(). */
int ls_conformance_history_run(const logstate_conformance_target *t);
/* conformance_config.c: log configurations. */
int ls_conformance_config_run(const logstate_conformance_target *t);
unsigned int ls_conformance_next_store(void) { return next_store++; }

int logstate_conformance_run(const logstate_conformance_target *t) {
  static const struct CMUnitTest tests[] = {
      T(test_no_logs_at_first),
      T(test_unknown_log_not_found),
      T(test_write_then_read_back),
      T(test_trust_on_first_use),
      T(test_overwrite),
      T(test_logs_sorted_unique),
      T(test_two_writers_one_handle),
      T(test_two_writers_two_handles),
      T(test_update_one_handle_never_races_itself),
      T(test_get_latest_one_call),
      T(test_close_without_set),
      T(test_set_twice),
      T(test_set_after_failed_set),
      T(test_invalid_set_keeps_transaction),
      T(test_many_transactions_one_thread),
      T(test_binary_checkpoints),
      T(test_checkpoint_sizes),
      T(test_odd_log_ids),
      T(test_bad_log_ids),
      T(test_null_arguments),
      T(test_update_passes_status_through),
      T(test_update_reads_and_writes),
      T(test_update_reentrant_and_retries),
      T(test_update_decides_on_current_state),
      T(test_update_no_lost_updates),
      T(test_init_twice_and_second_handle),
      T(test_objects_outlive_handle),
  };
  char name[128];
  target = t;
  snprintf(name, sizeof(name), "conformance/%s", t->name ? t->name : "backend");
  int failed = _cmocka_run_group_tests(name, tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
  return failed + ls_conformance_history_run(t) + ls_conformance_config_run(t);
}

logstate_status logstate_conformance_open_url(void *ctx, unsigned int store, logstate **out) {
  char url[1024];
  snprintf(url, sizeof(url), (const char *)ctx, store);
  return logstate_open(out, url);
}

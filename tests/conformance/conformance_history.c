/* SPDX-License-Identifier: Apache-2.0 */
/* The conformance suite's history tests (logstate_history(), URL keys
 * history=K, history_bodies, client_name), run by logstate_conformance_run()
 * when the target can open a store with extra URL keys (`open_query`). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conformance.h"
#include "test_util.h"

static const logstate_conformance_target *target;
/* After the main group's numbers (conformance.c), so that a target with few
 * stores (databases 0 to 63, say) has room. */
unsigned int ls_conformance_next_store(void);
#define NEXT_STORE() ls_conformance_next_store()

/* A handle on store `store` with `query` added to its URL, initialized. */
static logstate *open_with(unsigned int store, const char *query) {
  logstate *ls = NULL;
  assert_status(target->open_query(target->ctx, store, query, &ls), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  return ls;
}

static void sha256_hex(const char *s, size_t n, char out[65]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  assert_int_equal(EVP_Digest(s, n, md, &len, EVP_sha256(), NULL), 1);
  for (unsigned int i = 0; i < len; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* "example.com/log\n<n>\nhash<n>\n" */
static void checkpoint_n(char *buf, size_t size, unsigned int n) {
  snprintf(buf, size, "example.com/log\n%u\nhash%u\n", n, n);
}

/* The K newest of five sets, newest first, every field as written. */
static void test_history_keeps_the_newest(void **state) {
  (void)state;
  unsigned int store = NEXT_STORE();
  logstate *ls = open_with(store, "history=3&client_name=conf-writer");
  char cp[64], sha[65];
  int64_t t0 = now_ms();
  for (unsigned int i = 1; i <= 5; i++) {
    checkpoint_n(cp, sizeof(cp), i);
    assert_status(test_put(ls, "log", cp), LOGSTATE_OK);
  }
  logstate_history_entry *e = NULL;
  size_t n = 0;
  assert_status(logstate_history(ls, "log", 10, &e, &n), LOGSTATE_OK);
  assert_int_equal(n, 3);
  for (size_t i = 0; i < n; i++) {
    unsigned int v = 5 - (unsigned int)i;
    checkpoint_n(cp, sizeof(cp), v);
    sha256_hex(cp, strlen(cp), sha);
    assert_int_equal(e[i].version, v);
    assert_int_equal(e[i].checkpoint_len, strlen(cp));
    assert_memory_equal(e[i].checkpoint, cp, strlen(cp));
    assert_string_equal(e[i].sha256, sha);
    assert_string_equal(e[i].origin, "example.com/log");
    assert_true(e[i].has_tree_size);
    assert_int_equal(e[i].tree_size, v);
    assert_string_equal(e[i].client_name, "conf-writer");
    assert_true(e[i].time_ms >= t0 - 5000 && e[i].time_ms <= now_ms() + 5000); /* clocks may differ a little */
    if (i > 0)
      assert_true(e[i].time_ms <= e[i - 1].time_ms);
  }
  logstate_history_free(e, n);
  assert_status(logstate_history(ls, "log", 2, &e, &n), LOGSTATE_OK); /* max */
  assert_int_equal(n, 2);
  assert_int_equal(e[0].version, 5);
  assert_int_equal(e[1].version, 4);
  logstate_history_free(e, n);
  assert_status(logstate_history(ls, "other", 10, &e, &n), LOGSTATE_OK); /* never set */
  assert_int_equal(n, 0);
  assert_null(e);
  logstate_free(ls);
}

/* history_bodies=no: the SHA-256 without the checkpoint; a checkpoint
 * without origin and tree size lines has neither. */
static void test_history_without_bodies(void **state) {
  (void)state;
  logstate *ls = open_with(NEXT_STORE(), "history=2&history_bodies=no");
  const char *cp = "no origin here";
  char sha[65];
  assert_status(test_put(ls, "log", cp), LOGSTATE_OK);
  logstate_history_entry *e = NULL;
  size_t n = 0;
  assert_status(logstate_history(ls, "log", 5, &e, &n), LOGSTATE_OK);
  assert_int_equal(n, 1);
  sha256_hex(cp, strlen(cp), sha);
  assert_string_equal(e[0].sha256, sha);
  assert_null(e[0].checkpoint);
  assert_int_equal(e[0].checkpoint_len, 0);
  assert_null(e[0].origin);
  assert_false(e[0].has_tree_size);
  assert_null(e[0].client_name);
  logstate_history_free(e, n);
  logstate_free(ls);
}

/* Off by default: sets append nothing, and the history is empty. */
static void test_history_off_by_default(void **state) {
  (void)state;
  unsigned int store = NEXT_STORE();
  logstate *ls = open_with(store, "history=0");
  assert_status(test_put(ls, "log", "a\n1\n"), LOGSTATE_OK);
  assert_status(test_put(ls, "log", "a\n2\n"), LOGSTATE_OK);
  logstate_history_entry *e = NULL;
  size_t n = 1;
  assert_status(logstate_history(ls, "log", 5, &e, &n), LOGSTATE_OK);
  assert_int_equal(n, 0);
  logstate_free(ls);
}

static logstate_status fn_refuse(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len,
                                 void *arg) {
  (void)cur, (void)cur_len, (void)out_next, (void)out_next_len, (void)arg;
  return LOGSTATE_FAILED_PRECONDITION;
}

static logstate_status fn_no_change(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len,
                                    void *arg) {
  (void)cur, (void)cur_len, (void)arg;
  *out_next = NULL;
  *out_next_len = 0;
  return LOGSTATE_OK;
}

/* Nothing is appended by a set that did not happen: a lost race
 * (ABORTED), an update that refused or changed nothing, a bad checkpoint. */
static void test_history_only_what_was_set(void **state) {
  (void)state;
  unsigned int store = NEXT_STORE();
  logstate *ls = open_with(store, "history=10");
  assert_status(test_put(ls, "log", "a\n1\n"), LOGSTATE_OK);
  logstate_write *w = NULL;
  assert_status(logstate_write_ops(ls, "log", &w), LOGSTATE_OK);
  assert_status(test_put(ls, "log", "a\n2\n"), LOGSTATE_OK); /* wins the race */
  assert_status(logstate_write_set(w, (const uint8_t *)"a\n3\n", 4), LOGSTATE_ABORTED);
  logstate_write_close(w);
  assert_status(logstate_update(ls, "log", fn_refuse, NULL), LOGSTATE_FAILED_PRECONDITION);
  assert_status(logstate_update(ls, "log", fn_no_change, NULL), LOGSTATE_OK);
  assert_status(logstate_write_ops(ls, "log", &w), LOGSTATE_OK);
  assert_status(logstate_write_set(w, (const uint8_t *)"", 0), LOGSTATE_INVALID_ARGUMENT);
  logstate_write_close(w);
  logstate_history_entry *e = NULL;
  size_t n = 0;
  assert_status(logstate_history(ls, "log", 10, &e, &n), LOGSTATE_OK);
  assert_int_equal(n, 2);
  assert_int_equal(e[0].version, 2);
  assert_memory_equal(e[0].checkpoint, "a\n2\n", 4);
  assert_int_equal(e[1].version, 1);
  logstate_history_free(e, n);
  logstate_free(ls);
}

typedef struct hworker {
  pthread_t thread;
  logstate *ls;
  unsigned int each, done;
  logstate_status failed;
} hworker;

static void *history_worker(void *p) {
  hworker *w = p;
  while (w->done < w->each) {
    logstate_status st = logstate_update(w->ls, "counter", test_fn_increment, NULL);
    if (st == LOGSTATE_OK)
      w->done++;
    else if (st != LOGSTATE_ABORTED) {
      w->failed = st;
      break;
    }
  }
  return NULL;
}

/* Atomic with the set under racing writers: every acknowledged update has
 * exactly one entry, versions 1..N without gap or repeat, each holding the
 * counter its set stored. */
static void test_history_atomic_under_races(void **state) {
  (void)state;
  enum { THREADS = 4, EACH = 40 };
  unsigned int store = NEXT_STORE();
  logstate *a = open_with(store, "history=1000"), *b = target->shares_store ? open_with(store, "history=1000") : a;
  hworker ws[THREADS];
  memset(ws, 0, sizeof(ws));
  for (int i = 0; i < THREADS; i++) {
    ws[i].ls = i % 2 ? b : a;
    ws[i].each = EACH;
    assert_int_equal(pthread_create(&ws[i].thread, NULL, history_worker, &ws[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) {
    pthread_join(ws[i].thread, NULL);
    assert_status(ws[i].failed, LOGSTATE_OK);
  }
  logstate_history_entry *e = NULL;
  size_t n = 0;
  assert_status(logstate_history(a, "counter", 1000, &e, &n), LOGSTATE_OK);
  assert_int_equal(n, THREADS * EACH);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(e[i].version, n - i);
    assert_int_equal(test_counter_parse(e[i].checkpoint, e[i].checkpoint_len), n - i);
  }
  logstate_history_free(e, n);
  if (b != a)
    logstate_free(b);
  logstate_free(a);
}

static void test_history_bad_arguments(void **state) {
  (void)state;
  logstate *ls = open_with(NEXT_STORE(), "history=1");
  logstate_history_entry *e = NULL;
  size_t n = 0;
  assert_status(logstate_history(NULL, "log", 1, &e, &n), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_history(ls, NULL, 1, &e, &n), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_history(ls, "", 1, &e, &n), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_history(ls, "log", 0, &e, &n), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_history(ls, "log", LOGSTATE_MAX_HISTORY + 1, &e, &n), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_history(ls, "log", 1, NULL, &n), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_history(ls, "log", 1, &e, NULL), LOGSTATE_INVALID_ARGUMENT);
  logstate_history_free(NULL, 0);
  logstate_free(ls);
  /* The options are checked when the store is opened. */
  char long_name[100];
  snprintf(long_name, sizeof(long_name), "client_name=%065d", 0); /* 65 bytes */
  const char *const bad[] = {"history=-1",   "history=100001",          "history=x", "history_bodies=maybe",
                             "client_name=", "client_name=has%20space", long_name};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    logstate *bl = NULL;
    logstate_status st = target->open_query(target->ctx, NEXT_STORE(), bad[i], &bl);
    if (st != LOGSTATE_INVALID_ARGUMENT)
      fail_msg("%s: %s, expected INVALID_ARGUMENT", bad[i], logstate_status_name(st));
    assert_null(bl);
  }
}

int ls_conformance_history_run(const logstate_conformance_target *t) {
  static const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_history_keeps_the_newest),   cmocka_unit_test(test_history_without_bodies),
      cmocka_unit_test(test_history_off_by_default),     cmocka_unit_test(test_history_only_what_was_set),
      cmocka_unit_test(test_history_atomic_under_races), cmocka_unit_test(test_history_bad_arguments),
  };
  char name[128];
  if (t->open_query == NULL)
    return 0;
  target = t;
  snprintf(name, sizeof(name), "conformance-history/%s", t->name ? t->name : "backend");
  return _cmocka_run_group_tests(name, tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
}

logstate_status logstate_conformance_open_url_query(void *ctx, unsigned int store, const char *query, logstate **out) {
  char url[1200];
  int n = snprintf(url, sizeof(url), (const char *)ctx, store);
  if (n > 0 && (size_t)n < sizeof(url))
    snprintf(url + n, sizeof(url) - (size_t)n, "%s%s", strchr(url, '?') ? "&" : "?", query);
  return logstate_open(out, url);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* What the core guarantees for every backend, checked with a fake backend
 * that counts calls and can be told to fail: argument checks never reach the
 * backend, the write state machine, the update retry bound, and the handle's
 * reference counting. Also the memory backend's named stores. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "logstate/logstate.h"
#include "logstate/sys/backend.h"

#include "test_util.h"

/* --- a fake backend ----------------------------------------------------- */

typedef struct fake {
  logstate_backend base;
  logstate_backend_methods methods;
  int init, logs, get, begin, set, end, freed;
  int open_txns;
  logstate_status set_result; /* what write_set returns */
  int return_empty;           /* get_latest says OK with no bytes (1), or with no buffer at all (2) */
  int *freed_out;
} fake;

struct logstate_backend_txn {
  int dummy;
};

static logstate_status f_init(logstate_backend *be) {
  ((fake *)be)->init++;
  return LOGSTATE_OK;
}

static logstate_status f_logs(logstate_backend *be, char ***out_ids, size_t *out_n) {
  fake *f = (fake *)be;
  f->logs++;
  /* Unsorted, with a duplicate: the core sorts and de-duplicates. */
  const char *src[] = {"b", "a", "c", "a", "B"};
  char **ids = calloc(5, sizeof(*ids));
  for (int i = 0; i < 5; i++)
    ids[i] = strdup(src[i]);
  *out_ids = ids;
  *out_n = 5;
  return LOGSTATE_OK;
}

static logstate_status f_get(logstate_backend *be, const char *id, size_t n, uint8_t **out_cp, size_t *out_len) {
  fake *f = (fake *)be;
  f->get++;
  assert_int_equal(strlen(id), n);
  if (f->return_empty) {
    *out_cp = f->return_empty == 1 ? malloc(1) : NULL;
    *out_len = 0;
    return LOGSTATE_OK;
  }
  return logstate_error_set(LOGSTATE_NOT_FOUND, "fake: nothing");
}

static logstate_status f_begin(logstate_backend *be, const char *id, size_t n, logstate_backend_txn **out,
                               logstate_backend_state *snap) {
  fake *f = (fake *)be;
  assert_int_equal(strlen(id), n);
  f->begin++;
  f->open_txns++;
  *snap = (logstate_backend_state){0, NULL, 0}; /* the log has no checkpoint */
  *out = calloc(1, sizeof(**out));
  return LOGSTATE_OK;
}

static logstate_status f_set(logstate_backend *be, logstate_backend_txn *t, const uint8_t *cp, size_t len) {
  (void)t, (void)cp, (void)len;
  fake *f = (fake *)be;
  f->set++;
  return f->set_result == LOGSTATE_OK ? LOGSTATE_OK : logstate_error_set(f->set_result, "fake: set refused");
}

static logstate_status f_end(logstate_backend *be, logstate_backend_txn *t) {
  fake *f = (fake *)be;
  f->end++;
  f->open_txns--;
  free(t);
  return LOGSTATE_OK;
}

static void f_free(logstate_backend *be) {
  fake *f = (fake *)be;
  if (f->freed_out)
    *f->freed_out = 1;
  free(f);
}

static fake *fake_new(void) {
  fake *f = calloc(1, sizeof(*f));
  f->methods = (logstate_backend_methods){
      .version = LOGSTATE_BACKEND_VERSION,
      .name = "fake",
      .init = f_init,
      .logs = f_logs,
      .get_latest = f_get,
      .write_begin = f_begin,
      .write_set = f_set,
      .write_end = f_end,
      .free = f_free,
  };
  f->base.methods = &f->methods;
  return f;
}

static logstate *open_fake(fake *f, const logstate_options *opts) {
  logstate *ls = NULL;
  assert_status(logstate_open_backend(&ls, &f->base, opts), LOGSTATE_OK);
  return ls;
}

/* --- tests -------------------------------------------------------------- */

static void test_status_names(void **state) {
  (void)state;
  assert_string_equal(logstate_status_name(LOGSTATE_OK), "OK");
  assert_string_equal(logstate_status_name(LOGSTATE_NOT_FOUND), "NOT_FOUND");
  assert_string_equal(logstate_status_name(LOGSTATE_ABORTED), "ABORTED");
  assert_string_equal(logstate_status_name(LOGSTATE_INVALID_ARGUMENT), "INVALID_ARGUMENT");
  assert_string_equal(logstate_status_name(LOGSTATE_FAILED_PRECONDITION), "FAILED_PRECONDITION");
  assert_string_equal(logstate_status_name(LOGSTATE_UNAVAILABLE), "UNAVAILABLE");
  assert_string_equal(logstate_status_name(LOGSTATE_PERMISSION_DENIED), "PERMISSION_DENIED");
  assert_string_equal(logstate_status_name(LOGSTATE_RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
  assert_string_equal(logstate_status_name(LOGSTATE_INTERNAL), "INTERNAL");
  assert_string_equal(logstate_status_name((logstate_status)-1), "UNKNOWN");
  assert_string_equal(logstate_status_name((logstate_status)99), "UNKNOWN");
}

static void *thread_error(void *arg) {
  const char **seen = arg;
  seen[0] = strdup(logstate_last_error());
  logstate_error_set(LOGSTATE_INTERNAL, "from the other thread");
  seen[1] = strdup(logstate_last_error());
  return NULL;
}

static void test_last_error_is_per_thread(void **state) {
  (void)state;
  assert_status(logstate_init(NULL), LOGSTATE_INVALID_ARGUMENT);
  assert_non_null(strstr(logstate_last_error(), "logstate_init"));
  const char *seen[2] = {0};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, thread_error, seen), 0);
  pthread_join(t, NULL);
  assert_string_equal(seen[0], "no error"); /* a fresh thread: never NULL */
  assert_string_equal(seen[1], "from the other thread");
  assert_non_null(strstr(logstate_last_error(), "logstate_init")); /* ours is untouched */
  free((void *)seen[0]);
  free((void *)seen[1]);
  /* A long message is truncated, not overflowed. */
  char big[4096];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  logstate_error_set(LOGSTATE_INTERNAL, "%s", big);
  assert_true(strlen(logstate_last_error()) < sizeof(big) - 1);
  /* Re-wrapping the previous message is safe. */
  logstate_error_set(LOGSTATE_INTERNAL, "short");
  logstate_error_set(LOGSTATE_INTERNAL, "outer: %s", logstate_last_error());
  assert_string_equal(logstate_last_error(), "outer: short");
}

static void test_backend_versions_checked(void **state) {
  (void)state;
  logstate *ls = (logstate *)1;
  fake *f = fake_new();
  f->methods.version = 0;
  assert_status(logstate_open_backend(&ls, &f->base, NULL), LOGSTATE_INVALID_ARGUMENT);
  assert_null(ls);
  assert_non_null(strstr(logstate_last_error(), "version 0"));
  f->methods.version = LOGSTATE_BACKEND_VERSION + 1;
  assert_status(logstate_open_backend(&ls, &f->base, NULL), LOGSTATE_INVALID_ARGUMENT);
  f->methods.version = LOGSTATE_BACKEND_VERSION;
  f->methods.write_set = NULL;
  assert_status(logstate_open_backend(&ls, &f->base, NULL), LOGSTATE_INVALID_ARGUMENT);
  assert_non_null(strstr(logstate_last_error(), "write_set"));
  f->methods.write_set = f_set;
  f->methods.init = NULL; /* optional */
  assert_status(logstate_open_backend(&ls, NULL, NULL), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_open_backend(NULL, &f->base, NULL), LOGSTATE_INVALID_ARGUMENT);
  logstate_backend nomethods = {NULL};
  assert_status(logstate_open_backend(&ls, &nomethods, NULL), LOGSTATE_INVALID_ARGUMENT);
  /* On failure the caller still owns the backend; on success the handle. */
  int freed = 0;
  f->freed_out = &freed;
  ls = open_fake(f, NULL);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  assert_int_equal(freed, 0);
  logstate_free(ls);
  assert_int_equal(freed, 1);
}

static void test_options_checked(void **state) {
  (void)state;
  logstate *ls = NULL;
  logstate_options o = LOGSTATE_OPTIONS_INIT;
  o.version = 99;
  assert_status(logstate_open_ext(&ls, "memory:", &o), LOGSTATE_INVALID_ARGUMENT);
  assert_non_null(strstr(logstate_last_error(), "version"));
  o = (logstate_options)LOGSTATE_OPTIONS_INIT;
  o.update_attempts = 2000000;
  assert_status(logstate_open_ext(&ls, "memory:", &o), LOGSTATE_INVALID_ARGUMENT);
  o = (logstate_options)LOGSTATE_OPTIONS_INIT;
  o.max_checkpoint_len = 10;
  assert_status(logstate_open_ext(&ls, "memory:", &o), LOGSTATE_OK);
  logstate_write *w = NULL;
  assert_status(logstate_write_ops(ls, "log", &w), LOGSTATE_OK);
  assert_status(logstate_write_set(w, (const uint8_t *)"01234567890", 11), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_write_set(w, (const uint8_t *)"0123456789", 10), LOGSTATE_OK);
  assert_status(logstate_write_close(w), LOGSTATE_OK);
  logstate_free(ls);
}

static void test_bad_urls(void **state) {
  (void)state;
  logstate *ls = (logstate *)1;
  const char *bad[] = {"", "memory", "mem:", "ftp://user:hunter2@host/", "hunter2", ":"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_status(logstate_open(&ls, bad[i]), LOGSTATE_INVALID_ARGUMENT);
    assert_null(ls);
    assert_non_null(strstr(logstate_last_error(), "scheme"));
    assert_null(strstr(logstate_last_error(), "hunter2")); /* never echo a password */
  }
}

static void test_invalid_calls_never_reach_backend(void **state) {
  (void)state;
  fake *f = fake_new();
  logstate *ls = open_fake(f, NULL);
  logstate_read *r = NULL;
  logstate_write *w = NULL;
  uint8_t *cp;
  size_t len;
  assert_status(logstate_read_ops(ls, "", &r), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_write_ops(ls, "", &w), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_write_ops(ls, "log", &w), LOGSTATE_OK);
  assert_status(logstate_write_set(w, (const uint8_t *)"", 0), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_write_get_latest(w, NULL, &len), LOGSTATE_INVALID_ARGUMENT);
  assert_int_equal(f->begin, 1);
  assert_int_equal(f->set, 0);
  assert_int_equal(f->get + f->begin, 1); /* only the begin reached the backend: the snapshot is the core's */
  assert_status(logstate_write_set(w, (const uint8_t *)"x", 1), LOGSTATE_OK);
  assert_status(logstate_write_set(w, (const uint8_t *)"x", 1), LOGSTATE_FAILED_PRECONDITION);
  assert_status(logstate_write_get_latest(w, &cp, &len), LOGSTATE_FAILED_PRECONDITION);
  assert_int_equal(f->set, 1);
  assert_int_equal(f->get + f->begin, 1); /* only the begin reached the backend: the snapshot is the core's */
  assert_status(logstate_write_close(w), LOGSTATE_OK);
  assert_int_equal(f->end, 1);
  assert_int_equal(f->open_txns, 0);
  logstate_free(ls);
}

static void test_logs_sorted_by_core(void **state) {
  (void)state;
  fake *f = fake_new();
  logstate *ls = open_fake(f, NULL);
  char **ids = NULL;
  size_t n = 0;
  assert_status(logstate_logs(ls, &ids, &n), LOGSTATE_OK);
  assert_int_equal(n, 4);
  assert_string_equal(ids[0], "B");
  assert_string_equal(ids[1], "a");
  assert_string_equal(ids[2], "b");
  assert_string_equal(ids[3], "c");
  logstate_logs_free(ids, n);
  logstate_free(ls);
}

/* The core's sort of log IDs (src/sort.c, internal): against strcmp, on
 * IDs with a long common prefix, IDs that end inside the radix sort's 16
 * bytes and IDs that go on past them, IDs that are prefixes of others,
 * bytes above 0x7f, and duplicates of each kind, which it frees. */
void ls_sort_unique(char **ids, size_t *n);

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_sort_unique_matches_strcmp(void **state) {
  (void)state;
  const char *prefix[] = {"", "example.com/log/", "x", "example.com/a-much-longer-shared-prefix/"};
  const char *tail[] = {"",
                        "a",
                        "b",
                        "ab",
                        "abcdefgh",
                        "abcdefghi",
                        "abcdefghijklmnop",
                        "abcdefghijklmnopq",
                        "abcdefghijklmnopr",
                        "\xc3\xa9",
                        "\xff",
                        "z"};
  enum { NT = sizeof(tail) / sizeof(tail[0]) };
  for (size_t p = 0; p < sizeof(prefix) / sizeof(prefix[0]); p++) {
    char *ids[3 * NT + 1], *want[3 * NT + 1];
    size_t n = 0;
    srand((unsigned)p);
    for (int copy = 0; copy < 3; copy++) /* every ID three times, shuffled */
      for (size_t t = 0; t < NT; t++) {
        char buf[128];
        snprintf(buf, sizeof(buf), "%s%s", prefix[p], tail[t]);
        if (buf[0] == 0)
          continue;
        ids[n] = strdup(buf);
        want[n] = ids[n];
        n++;
      }
    for (size_t i = n - 1; i > 0; i--) {
      size_t j = (size_t)rand() % (i + 1);
      char *x = ids[i];
      ids[i] = ids[j];
      ids[j] = x;
    }
    qsort(want, n, sizeof(*want), cmp_str);
    size_t m = n, w = 1;
    for (size_t i = 1; i < n; i++)
      if (strcmp(want[i], want[w - 1]) != 0)
        want[w++] = want[i];
    char *copy[3 * NT + 1];
    for (size_t i = 0; i < w; i++)
      copy[i] = strdup(want[i]); /* `want` points into ids, which the sort frees in part */
    ls_sort_unique(ids, &m);
    assert_int_equal(m, w);
    for (size_t i = 0; i < m; i++)
      assert_string_equal(ids[i], copy[i]);
    for (size_t i = 0; i < m; i++) {
      free(ids[i]);
      free(copy[i]);
    }
  }
}

/* An empty checkpoint another program stored (the Go witness can) is
 * present: OK with 0 bytes, never NOT_FOUND. A backend that says OK and
 * hands over no buffer at all is broken. */
static void test_empty_stored_value(void **state) {
  (void)state;
  fake *f = fake_new();
  f->return_empty = 1;
  logstate *ls = open_fake(f, NULL);
  logstate_read *r = NULL;
  uint8_t *cp = NULL;
  size_t len = 1;
  assert_status(logstate_read_ops(ls, "log", &r), LOGSTATE_OK);
  assert_status(logstate_read_get_latest(r, &cp, &len), LOGSTATE_OK);
  assert_non_null(cp);
  assert_int_equal(len, 0);
  free(cp);
  f->return_empty = 2;
  cp = (uint8_t *)1;
  len = 1;
  assert_status(logstate_read_get_latest(r, &cp, &len), LOGSTATE_INTERNAL);
  assert_null(cp);
  assert_int_equal(len, 0);
  logstate_read_free(r);
  logstate_free(ls);
}

static logstate_status fn_const(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len,
                                void *arg) {
  (void)cur, (void)cur_len;
  ++*(int *)arg;
  *out_next = (uint8_t *)strdup("v");
  *out_next_len = 1;
  return LOGSTATE_OK;
}

static void test_update_attempts_bounded(void **state) {
  (void)state;
  fake *f = fake_new();
  f->set_result = LOGSTATE_ABORTED;
  logstate_options o = LOGSTATE_OPTIONS_INIT;
  o.update_attempts = 5;
  logstate *ls = open_fake(f, &o);
  int calls = 0;
  assert_status(logstate_update(ls, "log", fn_const, &calls), LOGSTATE_ABORTED);
  assert_int_equal(calls, 5);
  assert_int_equal(f->begin, 5);
  assert_int_equal(f->set, 5);
  assert_int_equal(f->end, 5); /* every transaction closed */
  assert_non_null(strstr(logstate_last_error(), "5 times"));
  /* Another failure is returned at once, not retried. */
  f->set_result = LOGSTATE_UNAVAILABLE;
  calls = 0;
  assert_status(logstate_update(ls, "log", fn_const, &calls), LOGSTATE_UNAVAILABLE);
  assert_int_equal(calls, 1);
  assert_int_equal(f->open_txns, 0);
  logstate_free(ls);
}

static void test_handle_outlives_user_reference(void **state) {
  (void)state;
  fake *f = fake_new();
  int freed = 0;
  f->freed_out = &freed;
  logstate *ls = open_fake(f, NULL);
  logstate_write *w = NULL;
  logstate_read *r = NULL;
  assert_status(logstate_write_ops(ls, "log", &w), LOGSTATE_OK);
  assert_status(logstate_read_ops(ls, "log", &r), LOGSTATE_OK);
  logstate_free(ls);
  assert_int_equal(freed, 0);
  assert_status(logstate_write_close(w), LOGSTATE_OK);
  assert_int_equal(freed, 0);
  logstate_read_free(r);
  assert_int_equal(freed, 1);
}

static void test_memory_named_stores(void **state) {
  (void)state;
  logstate *a = NULL, *b = NULL, *p = NULL, *q = NULL;
  logstate_write *w = NULL;
  char **ids = NULL;
  size_t n = 0;
  assert_status(logstate_open(&a, "memory:shared"), LOGSTATE_OK);
  assert_status(logstate_open(&b, "memory:shared"), LOGSTATE_OK);
  assert_status(logstate_open(&p, "memory:"), LOGSTATE_OK);
  assert_status(logstate_open(&q, "memory:"), LOGSTATE_OK);
  assert_status(logstate_write_ops(a, "log", &w), LOGSTATE_OK);
  assert_status(logstate_write_set(w, (const uint8_t *)"x", 1), LOGSTATE_OK);
  assert_status(logstate_write_close(w), LOGSTATE_OK);
  assert_status(logstate_write_ops(p, "private", &w), LOGSTATE_OK);
  assert_status(logstate_write_set(w, (const uint8_t *)"x", 1), LOGSTATE_OK);
  assert_status(logstate_write_close(w), LOGSTATE_OK);
  assert_status(logstate_logs(b, &ids, &n), LOGSTATE_OK); /* shared */
  assert_int_equal(n, 1);
  assert_string_equal(ids[0], "log");
  logstate_logs_free(ids, n);
  assert_status(logstate_logs(q, &ids, &n), LOGSTATE_OK); /* private stores are separate */
  assert_int_equal(n, 0);
  logstate_free(a);
  logstate_free(p);
  logstate_free(q);
  assert_status(logstate_logs(b, &ids, &n), LOGSTATE_OK); /* alive while b is open */
  assert_int_equal(n, 1);
  logstate_logs_free(ids, n);
  logstate_free(b);
  /* The last handle gone, the name starts empty again. */
  assert_status(logstate_open(&a, "memory:shared"), LOGSTATE_OK);
  assert_status(logstate_logs(a, &ids, &n), LOGSTATE_OK);
  assert_int_equal(n, 0);
  logstate_free(a);
}

static void test_messages_quote_log_ids(void **state) {
  (void)state;
  logstate *ls = NULL;
  logstate_read *r = NULL;
  uint8_t *cp;
  size_t len;
  assert_status(logstate_open(&ls, "memory:"), LOGSTATE_OK);
  assert_status(logstate_read_ops(ls, "two\nlines\x01", &r), LOGSTATE_OK);
  assert_status(logstate_read_get_latest(r, &cp, &len), LOGSTATE_NOT_FOUND);
  /* One line, with the control bytes escaped. */
  assert_null(strchr(logstate_last_error(), '\n'));
  assert_non_null(strstr(logstate_last_error(), "\"two\\x0alines\\x01\""));
  logstate_read_free(r);
  logstate_free(ls);
}

/* logstate_quote: printable UTF-8 kept, everything a terminal would obey
 * escaped, and never a byte past the buffer, whatever fits (found by
 * fuzz_url: a two-byte character once took the room of a backslash). */
static void test_quote(void **state) {
  (void)state;
  char buf[64];
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"plain", "\"plain\""},
      {"a\"b\\c", "\"a\\\"b\\\\c\""},
      {"caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x99\x82", "\"caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x99\x82\""},
      {"esc\x1b[31m", "\"esc\\x1b[31m\""},
      {"c1 \xc2\x9b", "\"c1 \\xc2\\x9b\""},              /* U+009B, CSI */
      {"bidi \xe2\x80\xae", "\"bidi \\xe2\\x80\\xae\""}, /* U+202E */
      {"bad \xff\xc3", "\"bad \\xff\\xc3\""},
      {"overlong \xc0\xaf", "\"overlong \\xc0\\xaf\""},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    assert_string_equal(logstate_quote(buf, sizeof(buf), cases[i].in, strlen(cases[i].in)), cases[i].out);
  /* Every size from 8 up, on long runs of each kind: NUL-terminated, within
   * the buffer (ASan would see a byte past it), cut with "...". */
  static const char *const fill[] = {"\xc3\xa9", "\"", "\x01", "\xf0\x9f\x99\x82", "a"};
  char in[200], *out = NULL;
  for (size_t f = 0; f < sizeof(fill) / sizeof(fill[0]); f++) {
    size_t n = 0;
    while (n + strlen(fill[f]) < sizeof(in))
      n += (size_t)sprintf(in + n, "%s", fill[f]);
    for (size_t size = 8; size < 120; size++) {
      out = malloc(size);
      assert_non_null(out);
      logstate_quote(out, size, in, n);
      assert_true(strlen(out) < size);
      assert_non_null(strstr(out, "...\""));
      free(out);
    }
  }
  assert_string_equal(logstate_quote(buf, 7, "x", 1), "");
  assert_string_equal(logstate_quote(buf, sizeof(buf), NULL, 5), "\"\"");
}

/* One version source: the headers' macros and the linked library agree. */
static void test_version(void **state) {
  (void)state;
  char want[32];
  snprintf(want, sizeof(want), "%d.%d.%d", LOGSTATE_VERSION_MAJOR, LOGSTATE_VERSION_MINOR, LOGSTATE_VERSION_PATCH);
  assert_string_equal(logstate_version(), want);
  assert_string_equal(LOGSTATE_VERSION_STRING, want);
  logstate *ls = NULL;
  logstate_info info;
  assert_status(logstate_open(&ls, "memory:"), LOGSTATE_OK);
  assert_status(logstate_describe(ls, &info), LOGSTATE_OK);
  assert_string_equal(info.backend, "memory");
  assert_int_equal(info.durability, LOGSTATE_DURABILITY_NONE);
  assert_status(logstate_describe(NULL, &info), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_describe(ls, NULL), LOGSTATE_INVALID_ARGUMENT);
  logstate_free(ls);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_names),
      cmocka_unit_test(test_last_error_is_per_thread),
      cmocka_unit_test(test_backend_versions_checked),
      cmocka_unit_test(test_options_checked),
      cmocka_unit_test(test_bad_urls),
      cmocka_unit_test(test_invalid_calls_never_reach_backend),
      cmocka_unit_test(test_logs_sorted_by_core),
      cmocka_unit_test(test_sort_unique_matches_strcmp),
      cmocka_unit_test(test_empty_stored_value),
      cmocka_unit_test(test_update_attempts_bounded),
      cmocka_unit_test(test_handle_outlives_user_reference),
      cmocka_unit_test(test_memory_named_stores),
      cmocka_unit_test(test_messages_quote_log_ids),
      cmocka_unit_test(test_quote),
      cmocka_unit_test(test_version),
  };
  return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}

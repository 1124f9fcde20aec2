/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the test programs. Include after cmocka.h. */
#ifndef LOGSTATE_TEST_UTIL_H
#define LOGSTATE_TEST_UTIL_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logstate/logstate.h"

/* Compares statuses and, on a mismatch, prints the library's message: a
 * failing test should say what the library said. */
#define assert_status(expr, want)                                                                                      \
  do {                                                                                                                 \
    logstate_status got_ = (expr);                                                                                     \
    if (got_ != (want))                                                                                                \
      fail_msg("%s returned %s, expected %s (last error: %s)", #expr, logstate_status_name(got_),                      \
               logstate_status_name(want), logstate_last_error());                                                     \
  } while (0)

/* The counter checkpoint "ORIGIN\nN\nhash\n": N, or ULONG_MAX if malformed. */
static inline unsigned long test_counter_parse(const uint8_t *cp, size_t len) {
  char buf[256];
  if (cp == NULL || len >= sizeof(buf))
    return ULONG_MAX;
  memcpy(buf, cp, len);
  buf[len] = '\0';
  const char *nl = strchr(buf, '\n');
  return nl ? strtoul(nl + 1, NULL, 10) : ULONG_MAX;
}

/* An update function that adds one to the counter; `arg` is the origin line
 * (NULL: "counter.example"). */
static inline logstate_status test_fn_increment(const uint8_t *cur, size_t cur_len, uint8_t **out_next,
                                                size_t *out_next_len, void *arg) {
  unsigned long n = cur ? test_counter_parse(cur, cur_len) : 0;
  if (n == ULONG_MAX)
    return LOGSTATE_INTERNAL;
  char *next = malloc(300);
  if (next == NULL)
    return LOGSTATE_RESOURCE_EXHAUSTED;
  *out_next_len = (size_t)snprintf(next, 300, "%s\n%lu\nhash\n", arg ? (const char *)arg : "counter.example", n + 1);
  *out_next = (uint8_t *)next;
  return LOGSTATE_OK;
}

/* One write transaction that sets `cp`. */
static inline logstate_status test_put(logstate *ls, const char *id, const char *cp) {
  logstate_write *w = NULL;
  logstate_status st = logstate_write_ops(ls, id, &w);
  if (st != LOGSTATE_OK)
    return st;
  st = logstate_write_set(w, (const uint8_t *)cp, strlen(cp));
  logstate_write_close(w);
  return st;
}

/* Reads a checkpoint into buf as a string. */
static inline logstate_status test_get(logstate *ls, const char *id, char *buf, size_t bufsz) {
  logstate_read *r = NULL;
  uint8_t *cp = NULL;
  size_t len = 0;
  logstate_status st = logstate_read_ops(ls, id, &r);
  if (st == LOGSTATE_OK)
    st = logstate_read_get_latest(r, &cp, &len);
  logstate_read_free(r);
  if (st == LOGSTATE_OK)
    snprintf(buf, bufsz, "%.*s", (int)len, (const char *)cp);
  free(cp);
  return st;
}

static inline void test_expect_stored(logstate *ls, const char *id, const char *want) {
  char buf[512];
  assert_status(test_get(ls, id, buf, sizeof(buf)), LOGSTATE_OK);
  assert_string_equal(buf, want);
}

static inline unsigned long test_counter_of(logstate *ls, const char *id) {
  char buf[256];
  assert_status(test_get(ls, id, buf, sizeof(buf)), LOGSTATE_OK);
  unsigned long n = test_counter_parse((const uint8_t *)buf, strlen(buf));
  assert_true(n != ULONG_MAX);
  return n;
}

/* A new directory /tmp/logstate-NAME-XXXXXX in dir: 0, or -1. */
static inline int test_tmpdir(char *dir, size_t n, const char *name) {
  snprintf(dir, n, "/tmp/logstate-%s-XXXXXX", name);
  return mkdtemp(dir) ? 0 : -1;
}

/* Removes the directory and what it holds: 0, or -1. */
static inline int test_rmtree(const char *dir) {
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

#define TEST_SECRET "Zq7-secret-pw"

/* `url` holds TEST_SECRET: if it is refused, the message must not. */
static inline void test_expect_secret_kept(const char *url) {
  logstate *ls = NULL;
  if (logstate_open(&ls, url) == LOGSTATE_OK) {
    logstate_free(ls);
    return;
  }
  if (strstr(logstate_last_error(), TEST_SECRET) != NULL)
    fail_msg("%s: the message shows the password: %s", url, logstate_last_error());
}

/* Each URL must be refused by logstate_open with INVALID_ARGUMENT, and no
 * handle made. A Redis URL is tried again with a password in its userinfo
 * (where it has none) and as sentinel_password: whatever the message says
 * about it, never the password. */
static inline void test_expect_bad_urls(const char *const *bad, size_t n) {
  char with[2048];
  for (size_t i = 0; i < n; i++) {
    logstate *ls = NULL;
    logstate_status st = logstate_open(&ls, bad[i]);
    if (st != LOGSTATE_INVALID_ARGUMENT)
      fail_msg("%s: %s, expected INVALID_ARGUMENT", bad[i], logstate_status_name(st));
    assert_null(ls);
    const char *sep = strstr(bad[i], "://");
    if (strncmp(bad[i], "redis", 5) != 0 || sep == NULL)
      continue;
    if (strchr(sep, '@') == NULL) {
      snprintf(with, sizeof(with), "%.*s://u:" TEST_SECRET "@%s", (int)(sep - bad[i]), bad[i], sep + 3);
      test_expect_secret_kept(with);
    }
    snprintf(with, sizeof(with), "%s%ssentinel_password=" TEST_SECRET, bad[i], strchr(bad[i], '?') ? "&" : "?");
    test_expect_secret_kept(with);
  }
}

#endif

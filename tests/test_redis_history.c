/* SPDX-License-Identifier: Apache-2.0 */
/* History on Redis, beyond the conformance group: the README's ACL user
 * with and without the stream commands (a clear PERMISSION_DENIED, nothing
 * written), a guard refusal and a stream key of the wrong type append and
 * store nothing, client_name reaches CLIENT LIST and the entries, the
 * stream as redis-cli shows it, and the async API's history. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "logstate/logstate.h"
#include "redis_server.h"

#include "test_util.h"

static test_redis server;
static unsigned int prefix_no;
static char prefix[32];

static int setup(void **state) {
  (void)state;
  return test_redis_start(&server, NULL) != 0 ? -1 : 0;
}

static int teardown(void **state) {
  (void)state;
  test_redis_stop(&server);
  return 0;
}

/* A handle on a new prefix, as `user` (NULL: default), with `query`. */
static logstate *open_as(const char *user, const char *query) {
  char url[300];
  logstate *ls = NULL;
  snprintf(prefix, sizeof(prefix), "h%u", ++prefix_no);
  snprintf(url, sizeof(url), "redis://%s%s127.0.0.1:%d/?prefix=%s&%s", user ? user : "", user ? ":hpass@" : "",
           server.port, prefix, query);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  return ls;
}

static long long server_int(const char *fmt, const char *arg) {
  redisReply *r = test_redis_cmd(&server, fmt, prefix, arg);
  long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
  freeReplyObject(r);
  return v;
}

static void expect_error_mentions(const char *word) {
  if (strstr(logstate_last_error(), word) == NULL)
    fail_msg("last error \"%s\" does not mention \"%s\"", logstate_last_error(), word);
}

/* The README's witness user with the history commands it documents works;
 * without +xadd a set with history is PERMISSION_DENIED naming XADD and
 * stores nothing; without +xrevrange the history cannot be read. */
static void test_history_acl(void **state) {
  (void)state;
  logstate *ls = open_as(NULL, "history=4"); /* takes the prefix */
  logstate_free(ls);
  char ns[40];
  snprintf(ns, sizeof(ns), "%s", prefix);
  assert_int_equal(test_redis_readme_acl(&server, "witness", "hw", "hpass", ns, TEST_HISTORY_ACL), 0);
  prefix_no--; /* the same prefix again */
  ls = open_as("hw", "history=4&client_name=w-acl");
  assert_status(logstate_init(ls), LOGSTATE_OK);
  assert_status(test_put(ls, "log", "example.com/log\n1\nx\n"), LOGSTATE_OK);
  assert_status(logstate_update(ls, "log", test_fn_increment, "example.com/log"), LOGSTATE_OK);
  logstate_history_entry *e = NULL;
  size_t n = 0;
  assert_status(logstate_history(ls, "log", 10, &e, &n), LOGSTATE_OK);
  assert_int_equal(n, 2);
  assert_string_equal(e[0].client_name, "w-acl");
  logstate_history_free(e, n);
  logstate_free(ls);

  /* Without XADD (nor XREVRANGE): refused before anything is written. */
  assert_int_equal(test_redis_readme_acl(&server, "witness", "hw", "hpass", ns, "+xlen"), 0);
  prefix_no--;
  ls = open_as("hw", "history=4");
  assert_status(logstate_init(ls), LOGSTATE_OK);
  assert_status(test_put(ls, "log", "example.com/log\n9\nx\n"), LOGSTATE_PERMISSION_DENIED);
  expect_error_mentions("XADD");
  assert_status(test_put(ls, "new-log", "example.com/log\n1\nx\n"), LOGSTATE_PERMISSION_DENIED);
  assert_int_equal(server_int("EXISTS {%s}:log:%s", "new-log"), 0);
  assert_int_equal(server_int("SISMEMBER {%s}:logs %s", "new-log"), 0);
  assert_int_equal(server_int("XLEN {%s}:history:%s", "log"), 2);
  /* Without XREVRANGE: the history cannot be read, and says so. */
  assert_status(logstate_history(ls, "log", 10, &e, &n), LOGSTATE_PERMISSION_DENIED);
  logstate_free(ls);
  /* And without history the same user writes as before. */
  prefix_no--;
  ls = open_as("hw", "history=0");
  assert_status(logstate_init(ls), LOGSTATE_OK);
  assert_status(test_put(ls, "log", "example.com/log\n9\nx\n"), LOGSTATE_OK);
  logstate_free(ls);
}

/* A guard refusal and a history key of the wrong type: nothing stored,
 * nothing appended. */
static void test_history_refusals_write_nothing(void **state) {
  (void)state;
  logstate *ls = open_as(NULL, "history=4&guard=size");
  assert_status(logstate_init(ls), LOGSTATE_OK);
  assert_status(test_put(ls, "log", "example.com/log\n5\nx\n"), LOGSTATE_OK);
  assert_status(test_put(ls, "log", "example.com/log\n4\nx\n"), LOGSTATE_FAILED_PRECONDITION); /* smaller */
  assert_int_equal(server_int("XLEN {%s}:history:%s", "log"), 1);
  test_redis_do(&server, "SET {%s}:history:other oops", prefix);
  assert_status(test_put(ls, "other", "example.com/o\n1\nx\n"), LOGSTATE_INTERNAL);
  expect_error_mentions("history");
  assert_int_equal(server_int("EXISTS {%s}:log:%s", "other"), 0);
  assert_int_equal(server_int("SISMEMBER {%s}:logs %s", "other"), 0);
  logstate_free(ls);
}

/* client_name names the connections in CLIENT LIST; the stream is what
 * redis-cli XREVRANGE shows (README "Inspecting with redis-cli"). */
static void test_client_name_and_stream(void **state) {
  (void)state;
  logstate *ls = open_as(NULL, "history=2&client_name=witness-7");
  assert_status(logstate_init(ls), LOGSTATE_OK);
  for (int i = 0; i < 3; i++)
    assert_status(logstate_update(ls, "log", test_fn_increment, "example.com/log"), LOGSTATE_OK);
  redisReply *r = test_redis_cmd(&server, "CLIENT LIST");
  assert_non_null(strstr(r->str, "name=witness-7"));
  freeReplyObject(r);
  r = test_redis_cmd(&server, "XREVRANGE {%s}:history:log + - COUNT 5", prefix);
  assert_int_equal(r->type, REDIS_REPLY_ARRAY);
  assert_int_equal(r->elements, 2); /* MAXLEN 2 */
  const redisReply *fields = r->element[0]->element[1];
  assert_string_equal(fields->element[0]->str, "version");
  assert_string_equal(fields->element[1]->str, "3");
  freeReplyObject(r);
  /* A damaged entry (an operator's XADD) is named, not misread. */
  test_redis_do(&server, "XADD {%s}:history:log * note hand-made", prefix);
  logstate_history_entry *e = NULL;
  size_t n = 0;
  assert_status(logstate_history(ls, "log", 5, &e, &n), LOGSTATE_INTERNAL);
  expect_error_mentions("did not write");
  assert_null(e);
  logstate_free(ls);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_history_acl),
      cmocka_unit_test(test_history_refusals_write_nothing),
      cmocka_unit_test(test_client_name_and_stream),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

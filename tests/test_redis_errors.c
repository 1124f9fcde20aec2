/* SPDX-License-Identifier: Apache-2.0 */
/* The mapping of every Redis error the issue names to a status, checked on
 * fabricated replies: most of these (LOADING, MASTERDOWN, MOVED...) are hard
 * to provoke from a single local server. The message must carry the
 * server's text. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "redis/proto.h"

static void expect_mapping(const char *server_text, logstate_status want) {
  ls_redis_config cfg;
  assert_int_equal(ls_redis_config_from_options(&cfg, NULL), LOGSTATE_OK);
  redisReply r = {.type = REDIS_REPLY_ERROR, .str = (char *)server_text, .len = strlen(server_text)};
  logstate_status got = ls_redis_reply_error(&cfg, &r, "testing", "{logstate}:log:x", 16);
  if (got != want)
    fail_msg("\"%s\" mapped to %s, expected %s", server_text, logstate_status_name(got), logstate_status_name(want));
  if (strstr(logstate_last_error(), server_text) == NULL && strncmp(server_text, "WRONGTYPE", 9) != 0)
    fail_msg("message \"%s\" lacks the server's text", logstate_last_error());
  ls_redis_config_free(&cfg);
}

static void test_error_codes(void **state) {
  (void)state;
  expect_mapping("NOAUTH Authentication required.", LOGSTATE_PERMISSION_DENIED);
  expect_mapping("WRONGPASS invalid username-password pair or user is disabled.", LOGSTATE_PERMISSION_DENIED);
  expect_mapping("NOPERM this user has no permissions to run the 'hset' command", LOGSTATE_PERMISSION_DENIED);
  expect_mapping("ERR The user executing the script can't run this command or subcommand script: x",
                 LOGSTATE_PERMISSION_DENIED);
  expect_mapping("OOM command not allowed when used memory > 'maxmemory'.", LOGSTATE_RESOURCE_EXHAUSTED);
  expect_mapping("LOADING Redis is loading the dataset in memory", LOGSTATE_UNAVAILABLE);
  expect_mapping("BUSY Redis is busy running a script.", LOGSTATE_UNAVAILABLE);
  expect_mapping("READONLY You can't write against a read only replica.", LOGSTATE_UNAVAILABLE);
  expect_mapping("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
                 LOGSTATE_UNAVAILABLE);
  expect_mapping("TRYAGAIN Multiple keys request during rehashing of slot", LOGSTATE_UNAVAILABLE);
  expect_mapping("MOVED 3999 127.0.0.1:6381", LOGSTATE_UNAVAILABLE);
  expect_mapping("ASK 3999 127.0.0.1:6381", LOGSTATE_UNAVAILABLE);
  expect_mapping("CLUSTERDOWN The cluster is down", LOGSTATE_UNAVAILABLE);
  expect_mapping("LOGSTATE_GUARD the new tree size 4 is smaller than the stored 5", LOGSTATE_FAILED_PRECONDITION);
  expect_mapping("LOGSTATE_RESET the store_id in {logstate}:meta is missing", LOGSTATE_FAILED_PRECONDITION);
  expect_mapping("LOGSTATE_CORRUPT the version field is not a positive integer", LOGSTATE_INTERNAL);
  expect_mapping("ERR unknown command 'FOO'", LOGSTATE_INTERNAL);
  expect_mapping("BUSYKEY Target key name already exists.", LOGSTATE_INTERNAL); /* a code, not BUSY */
  expect_mapping("", LOGSTATE_INTERNAL);
  expect_mapping("WRONGTYPE Operation against a key holding the wrong kind of value", LOGSTATE_INTERNAL);
  assert_non_null(strstr(logstate_last_error(), "{logstate}:log:x")); /* the key is named */
}

static void test_io_errors(void **state) {
  (void)state;
  ls_redis_config cfg;
  assert_int_equal(ls_redis_config_from_options(&cfg, NULL), LOGSTATE_OK);
  assert_int_equal(ls_redis_io_error(&cfg, REDIS_ERR_IO, "Resource temporarily unavailable", "x"),
                   LOGSTATE_UNAVAILABLE);
  assert_non_null(strstr(logstate_last_error(), "timed out after 2000 ms"));
  assert_int_equal(ls_redis_io_error(&cfg, REDIS_ERR_EOF, "Server closed the connection", "x"), LOGSTATE_UNAVAILABLE);
  assert_int_equal(ls_redis_io_error(&cfg, REDIS_ERR_IO, "Connection reset by peer", "x"), LOGSTATE_UNAVAILABLE);
  assert_int_equal(ls_redis_io_error(&cfg, REDIS_ERR_OOM, "Out of memory", "x"), LOGSTATE_RESOURCE_EXHAUSTED);
  assert_int_equal(ls_redis_io_error(&cfg, REDIS_ERR_PROTOCOL, "Protocol error", "x"), LOGSTATE_INTERNAL);
  ls_redis_config_free(&cfg);
}

/* A fabricated integer, or array of two integers. */
static redisReply integer(long long v) { return (redisReply){.type = REDIS_REPLY_INTEGER, .integer = v}; }

/* Judges a set with wait_aof=yes, min_replicas=1 whose WAITAOF replied
 * [local, replicas]. */
static logstate_status judge_waitaof(ls_redis_proto *p, long long local, long long replicas) {
  redisReply ok = {.type = REDIS_REPLY_STATUS, .str = "OK", .len = 2}, version = integer(7);
  redisReply *script_el[] = {&ok, &version};
  redisReply script = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = script_el};
  redisReply l = integer(local), r = integer(replicas);
  redisReply *wait_el[] = {&l, &r};
  redisReply wait = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = wait_el};
  ok.type = REDIS_REPLY_STRING;
  const redisReply *replies[] = {&script, &wait};
  ls_rp_op op = {.kind = LS_RP_SET,
                 .log_id = "x",
                 .log_id_len = 1,
                 .u.set = {.expect = 6, .cp = (const uint8_t *)"c", .cp_len = 1}};
  logstate_status st = LOGSTATE_INTERNAL;
  assert_int_equal(ls_rp_begin(p, &op), LOGSTATE_OK);
  ls_rp_plan plan;
  ls_rp_plan_next(p, &op, &plan); /* EVALSHA, then WAITAOF 1 1 1000 */
  assert_int_equal(plan.n, 2);
  assert_int_equal(plan.cmd[1].argc, 4);
  assert_string_equal(plan.cmd[1].argv[0], "WAITAOF");
  assert_string_equal(plan.cmd[1].argv[1], "1");
  assert_string_equal(plan.cmd[1].argv[2], "1");
  assert_int_equal(ls_rp_judge(p, &op, replies, 2, &st), 1);
  ls_rp_end(&op);
  return st;
}

/* wait_aof (WAITAOF, Redis 7.2+) cannot run against Debian's 7.0: its
 * plan and judge are checked here on fabricated replies, and test_redis
 * checks that init refuses a 7.0 server. */
static void test_waitaof(void **state) {
  (void)state;
  ls_redis_proto p;
  memset(&p, 0, sizeof(p));
  logstate_redis_options o = LOGSTATE_REDIS_OPTIONS_INIT;
  o.min_replicas = 1;
  o.wait_aof = 1;
  assert_int_equal(ls_redis_config_from_options(&p.cfg, &o), LOGSTATE_OK);
  ls_rp_proto_init(&p);
  assert_int_equal(judge_waitaof(&p, 1, 1), LOGSTATE_OK);
  assert_int_equal(judge_waitaof(&p, 1, 0), LOGSTATE_UNAVAILABLE);
  assert_non_null(strstr(logstate_last_error(), "only 0 of the 1 required replicas"));
  assert_int_equal(judge_waitaof(&p, 0, 1), LOGSTATE_UNAVAILABLE);
  assert_non_null(strstr(logstate_last_error(), "not locally"));
  assert_int_equal(ls_rp_timeout_ms(&p, &(ls_rp_op){.kind = LS_RP_SET}), 2000 + 1000);
  ls_rp_proto_destroy(&p);
}

/* A set that expected version 7 and proposed "ours". */
static ls_rp_op ours(void) {
  return (ls_rp_op){.kind = LS_RP_SET,
                    .log_id = "x",
                    .log_id_len = 1,
                    .u.set = {.expect = 7, .cp = (const uint8_t *)"ours", .cp_len = 4}};
}

/* A set whose reply was lost, settled from the log read afterwards. */
static logstate_status settle(ls_redis_proto *p, uint64_t version, const char *stored, int *again, ls_rp_op *set) {
  *set = ours();
  ls_rp_op rd = {.kind = LS_RP_OPEN, .u.read.state = {version, (uint8_t *)strdup(stored), strlen(stored)}};
  logstate_status st = ls_rp_settle(p, set, &rd, again);
  free(rd.u.read.state.cp);
  free(set->u.set.now.cp);
  return st;
}

static void test_settle_lost_reply(void **state) {
  (void)state;
  ls_redis_proto p;
  memset(&p, 0, sizeof(p));
  assert_int_equal(ls_redis_config_from_options(&p.cfg, NULL), LOGSTATE_OK);
  ls_rp_proto_init(&p);
  ls_rp_op set;
  int again = -1;
  assert_int_equal(settle(&p, 8, "ours", &again, &set), LOGSTATE_OK); /* applied */
  assert_int_equal(again, 0);
  assert_int_equal(set.u.set.version, 8);
  assert_int_equal(settle(&p, 7, "before", &again, &set), LOGSTATE_OK); /* not applied: again */
  assert_int_equal(again, 1);
  /* Another writer's bytes at 8: that writer won the race, this set did not
   * apply; its state is handed back. */
  assert_int_equal(settle(&p, 8, "theirs", &again, &set), LOGSTATE_ABORTED);
  assert_true(set.u.set.fresh && set.u.set.now.version == 8 && !set.u.set.undecided);
  /* Moved on further (ours at 8 then theirs at 9, or theirs at 8 and 9):
   * cannot be told, and ABORTED would make an update apply twice. */
  assert_int_equal(settle(&p, 9, "theirs", &again, &set), LOGSTATE_UNAVAILABLE);
  assert_true(set.u.set.undecided && !set.u.set.fresh);
  assert_non_null(strstr(logstate_last_error(), "the outcome is unknown"));
  assert_int_equal(settle(&p, 9, "ours", &again, &set), LOGSTATE_UNAVAILABLE);
  assert_true(set.u.set.undecided);
  /* With history, the entry of version 8 tells: ours (OK) or another's
   * (ABORTED, the current state handed back). */
  logstate_history_entry e[2];
  memset(e, 0, sizeof(e));
  e[0].version = 9;
  e[1].version = 8;
  ls_sha256_hex((const uint8_t *)"ours", 4, e[1].sha256); /* kept without bodies */
  ls_rp_op rd = {.kind = LS_RP_OPEN, .u.read = {.state = {9, (uint8_t *)strdup("theirs"), 6}, .hist = e, .nhist = 2}};
  set = ours();
  assert_int_equal(ls_rp_settle(&p, &set, &rd, &again), LOGSTATE_OK);
  assert_int_equal(set.u.set.version, 8);
  assert_false(set.u.set.undecided);
  ls_sha256_hex((const uint8_t *)"theirs", 6, e[1].sha256);
  set = ours();
  assert_int_equal(ls_rp_settle(&p, &set, &rd, &again), LOGSTATE_ABORTED);
  assert_true(set.u.set.fresh && set.u.set.now.version == 9 && !set.u.set.undecided);
  assert_null(rd.u.read.state.cp); /* moved whole to the set */
  free(set.u.set.now.cp);
  assert_int_equal(atomic_load(&p.resolved), 7);
  ls_rp_proto_destroy(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_error_codes),
      cmocka_unit_test(test_io_errors),
      cmocka_unit_test(test_waitaof),
      cmocka_unit_test(test_settle_lost_reply),
  };
  return cmocka_run_group_tests_name("redis errors", tests, NULL, NULL);
}

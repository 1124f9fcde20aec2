/* SPDX-License-Identifier: Apache-2.0 */
/* Redis-specific behaviour: the key layout as redis-cli sees it, the
 * round-trip budget, NOSCRIPT recovery, restarts, hung servers, stale
 * WATCHes, authentication, ACLs, the durability check, WRONGTYPE, the size
 * guard, URL parsing and the pool. Each test uses its own key prefix on one
 * shared throwaway server, or a server of its own when it must break it. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "logstate/logstate.h"
#include "logstate/redis.h"
#include "redis_server.h"

#include "test_util.h"

static test_redis server; /* shared by the tests that do not break it */
static unsigned int prefix_no;
static char prefix[32];

static void expect_error_mentions(const char *word) {
  if (strstr(logstate_last_error(), word) == NULL)
    fail_msg("last error \"%s\" does not mention \"%s\"", logstate_last_error(), word);
}

static void expect_error_lacks(const char *word) {
  if (strstr(logstate_last_error(), word) != NULL)
    fail_msg("last error \"%s\" mentions \"%s\"", logstate_last_error(), word);
}

/* Opens a handle on `s` with a new prefix and the given extra query. */
static logstate *open_on(const test_redis *s, const char *query) {
  char url[512];
  logstate *ls = NULL;
  snprintf(prefix, sizeof(prefix), "t%u", ++prefix_no);
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=%s%s%s", s->port, prefix, query ? "&" : "",
           query ? query : "");
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  return ls;
}

/* A second handle on the last handle's prefix. */
static logstate *open_same(const test_redis *s) {
  char url[512];
  logstate *ls = NULL;
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=%s", s->port, prefix);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  return ls;
}

static logstate *open_init(const test_redis *s, const char *query) {
  logstate *ls = open_on(s, query);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  return ls;
}

static uint64_t round_trips(logstate *ls) {
  logstate_stats st;
  assert_status(logstate_get_stats(ls, &st), LOGSTATE_OK);
  return st.round_trips;
}

/* --- key layout --------------------------------------------------------- */

static void test_key_layout(void **state) {
  (void)state;
  logstate *ls = open_init(&server, NULL);
  char key[128];
  redisReply *r = test_redis_cmd(&server, "TIME");
  long long before_ms = atoll(r->element[0]->str) * 1000;
  freeReplyObject(r);
  const char cp1[] = "example.com/log\n1\nAAAA\n\n\xe2\x80\x94 sig\n";
  assert_status(test_put(ls, "example.com/log", cp1), LOGSTATE_OK);
  assert_status(test_put(ls, "other log", "x"), LOGSTATE_OK);
  assert_status(test_put(ls, "example.com/log", "second"), LOGSTATE_OK);

  snprintf(key, sizeof(key), "{%s}:meta", prefix);
  r = test_redis_cmd(&server, "HMGET %s schema store_id created_ms", key);
  assert_int_equal(r->elements, 3);
  assert_string_equal(r->element[0]->str, "1");
  assert_int_equal(r->element[1]->len, 32); /* 128 random bits, in hex */
  assert_int_equal(strspn(r->element[1]->str, "0123456789abcdef"), 32);
  assert_true(atoll(r->element[2]->str) >= before_ms);
  freeReplyObject(r);

  snprintf(key, sizeof(key), "{%s}:logs", prefix);
  r = test_redis_cmd(&server, "TYPE %s", key);
  assert_string_equal(r->str, "set");
  freeReplyObject(r);
  r = test_redis_cmd(&server, "SMEMBERS %s", key);
  assert_int_equal(r->elements, 2);
  int saw_a = 0, saw_b = 0;
  for (size_t i = 0; i < r->elements; i++) {
    saw_a |= strcmp(r->element[i]->str, "example.com/log") == 0;
    saw_b |= strcmp(r->element[i]->str, "other log") == 0;
  }
  assert_true(saw_a && saw_b);
  freeReplyObject(r);

  snprintf(key, sizeof(key), "{%s}:log:example.com/log", prefix);
  r = test_redis_cmd(&server, "HGET %s checkpoint", key);
  assert_string_equal(r->str, "second");
  freeReplyObject(r);
  r = test_redis_cmd(&server, "HGET %s version", key);
  assert_string_equal(r->str, "2");
  freeReplyObject(r);
  r = test_redis_cmd(&server, "HLEN %s", key);
  assert_int_equal(r->integer, 3); /* checkpoint, version, updated_ms: nothing else */
  freeReplyObject(r);
  r = test_redis_cmd(&server, "HGET %s updated_ms", key);
  long long updated = atoll(r->str);
  freeReplyObject(r);
  r = test_redis_cmd(&server, "TIME");
  long long after_ms = atoll(r->element[0]->str) * 1000 + atoll(r->element[1]->str) / 1000;
  freeReplyObject(r);
  assert_true(updated >= before_ms && updated <= after_ms);

  /* The first checkpoint was stored byte for byte. */
  snprintf(key, sizeof(key), "{%s}:log:other log", prefix);
  r = test_redis_cmd(&server, "HGET %b checkpoint", key, strlen(key));
  assert_string_equal(r->str, "x");
  freeReplyObject(r);

  /* Exactly these keys carry the prefix. */
  snprintf(key, sizeof(key), "{%s}:*", prefix);
  r = test_redis_cmd(&server, "KEYS %s", key);
  assert_int_equal(r->elements, 4);
  freeReplyObject(r);
  logstate_free(ls);
}

/* --- round trips -------------------------------------------------------- */

static logstate_status fn_append(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len,
                                 void *arg) {
  (void)arg;
  *out_next = malloc(cur_len + 1);
  if (cur_len)
    memcpy(*out_next, cur, cur_len);
  (*out_next)[cur_len] = '+';
  *out_next_len = cur_len + 1;
  return LOGSTATE_OK;
}

static void test_round_trip_budget(void **state) {
  (void)state;
  logstate *ls = open_init(&server, NULL);
  char buf[64];
  logstate_write *w = NULL;
  assert_status(test_put(ls, "log", "v1"), LOGSTATE_OK); /* warm: the connection exists */

  uint64_t rt = round_trips(ls);
  assert_status(test_get(ls, "log", buf, sizeof(buf)), LOGSTATE_OK);
  assert_int_equal(round_trips(ls) - rt, 1); /* read: 1 */

  rt = round_trips(ls);
  assert_status(logstate_write_ops(ls, "log", &w), LOGSTATE_OK);
  assert_int_equal(round_trips(ls) - rt, 1); /* open: 1 */
  uint8_t *cp;
  size_t len;
  assert_status(logstate_write_get_latest(w, &cp, &len), LOGSTATE_OK);
  free(cp);
  assert_int_equal(round_trips(ls) - rt, 1); /* the snapshot is local */
  assert_status(logstate_write_set(w, (const uint8_t *)"v2", 2), LOGSTATE_OK);
  assert_status(logstate_write_close(w), LOGSTATE_OK);
  assert_int_equal(round_trips(ls) - rt, 2); /* open + set: 2 */

  rt = round_trips(ls);
  assert_status(logstate_write_ops(ls, "log", &w), LOGSTATE_OK);
  assert_status(logstate_write_close(w), LOGSTATE_OK);
  assert_int_equal(round_trips(ls) - rt, 1); /* close without set sends nothing */
  rt = round_trips(ls);
  assert_status(logstate_write_ops(ls, "log", &w), LOGSTATE_OK); /* UNWATCH rides along */
  assert_status(logstate_write_set(w, (const uint8_t *)"v3", 2), LOGSTATE_OK);
  assert_status(logstate_write_close(w), LOGSTATE_OK);
  assert_int_equal(round_trips(ls) - rt, 2);

  logstate *cold = open_same(&server); /* a handle that never saw the log */
  assert_status(test_put(cold, "other", "x"), LOGSTATE_OK);
  rt = round_trips(cold);
  assert_status(logstate_update(cold, "log", fn_append, NULL), LOGSTATE_OK);
  assert_int_equal(round_trips(cold) - rt, 2); /* update, cold: read + set */
  logstate_free(cold);
  assert_status(test_put(ls, "log", "v3"), LOGSTATE_OK); /* a write object's set: the handle knows what it stored */
  rt = round_trips(ls);
  assert_status(logstate_update(ls, "log", fn_append, NULL), LOGSTATE_OK);
  assert_int_equal(round_trips(ls) - rt, 1); /* update after the handle's own set: the set script alone */
  rt = round_trips(ls);
  assert_status(logstate_update(ls, "log", fn_append, NULL), LOGSTATE_OK);
  assert_int_equal(round_trips(ls) - rt, 1); /* update, warm: the set script alone */
  logstate *other = open_same(&server);
  assert_status(test_put(other, "log", "v3"), LOGSTATE_OK); /* another handle's set: the known state is stale now */
  logstate_free(other);
  rt = round_trips(ls);
  assert_status(logstate_update(ls, "log", fn_append, NULL), LOGSTATE_OK);
  assert_int_equal(round_trips(ls) - rt, 2); /* stale: the conflict brings the state, the retry sets */

  char **ids;
  size_t n;
  rt = round_trips(ls);
  assert_status(logstate_logs(ls, &ids, &n), LOGSTATE_OK);
  logstate_logs_free(ids, n);
  assert_int_equal(round_trips(ls) - rt, 1); /* logs: 1 */
  test_expect_stored(ls, "log", "v3+");

  logstate_stats st;
  logstate *mem = NULL;
  assert_status(logstate_open(&mem, "memory:"), LOGSTATE_OK);
  /* One statistics call for every backend: memory has no round trips. */
  memset(&st, 0xff, sizeof(st));
  assert_status(logstate_get_stats(mem, &st), LOGSTATE_OK);
  assert_int_equal(st.round_trips, 0);
  assert_int_equal(st.connects, 0);
  assert_status(logstate_get_stats(NULL, &st), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_get_stats(ls, NULL), LOGSTATE_INVALID_ARGUMENT);
  logstate_free(mem);
  logstate_free(ls);
}

/* --- NOSCRIPT ----------------------------------------------------------- */

static void test_noscript_recovery(void **state) {
  (void)state;
  logstate *ls = open_init(&server, NULL);
  char key[128];
  assert_status(test_put(ls, "log", "v1"), LOGSTATE_OK);
  test_redis_do(&server, "SCRIPT FLUSH");
  assert_status(test_put(ls, "log", "v2"), LOGSTATE_OK);
  logstate_stats st;
  assert_status(logstate_get_stats(ls, &st), LOGSTATE_OK);
  assert_int_equal(st.script_reloads, 1);
  test_expect_stored(ls, "log", "v2");
  snprintf(key, sizeof(key), "{%s}:log:log", prefix);
  redisReply *r = test_redis_cmd(&server, "HGET %s version", key);
  assert_string_equal(r->str, "2"); /* applied once: not lost, not doubled */
  freeReplyObject(r);

  /* A transaction that lost its race still loses after a flush. */
  logstate_write *w1, *w2;
  assert_status(logstate_write_ops(ls, "log", &w1), LOGSTATE_OK);
  assert_status(logstate_write_ops(ls, "log", &w2), LOGSTATE_OK);
  test_redis_do(&server, "SCRIPT FLUSH");
  assert_status(logstate_write_set(w1, (const uint8_t *)"v3", 2), LOGSTATE_OK);
  assert_status(logstate_write_set(w2, (const uint8_t *)"lost", 4), LOGSTATE_ABORTED);
  logstate_write_close(w1);
  logstate_write_close(w2);
  test_expect_stored(ls, "log", "v3");
  logstate_free(ls);
}

/* The counter, with SCRIPT FLUSH in the middle of the run. */
#define COUNTER "counter.example/log"

typedef struct flusher {
  logstate *ls;
  _Atomic int done;
  logstate_status failed;
} flusher;

static void *increment_200(void *p) {
  flusher *f = p;
  for (int i = 0; i < 200;) {
    logstate_status st = logstate_update(f->ls, COUNTER, test_fn_increment, NULL);
    if (st == LOGSTATE_OK) {
      i++;
      f->done++;
    } else if (st != LOGSTATE_ABORTED) {
      f->failed = st;
      break;
    }
  }
  return NULL;
}

static void test_noscript_mid_run(void **state) {
  (void)state;
  logstate *ls = open_init(&server, NULL);
  flusher f[3] = {{ls, 0, LOGSTATE_OK}, {ls, 0, LOGSTATE_OK}, {ls, 0, LOGSTATE_OK}};
  pthread_t t[3];
  for (int i = 0; i < 3; i++)
    pthread_create(&t[i], NULL, increment_200, &f[i]);
  /* Flush while the writers run: wait on progress, not on time. */
  for (int flushes = 0; flushes < 5; flushes++) {
    int target = 100 * (flushes + 1);
    while (f[0].done + f[1].done + f[2].done < target && !f[0].failed && !f[1].failed && !f[2].failed &&
           f[0].done + f[1].done + f[2].done < 600)
      sched_yield();
    test_redis_do(&server, "SCRIPT FLUSH");
  }
  for (int i = 0; i < 3; i++) {
    pthread_join(t[i], NULL);
    assert_status(f[i].failed, LOGSTATE_OK);
  }
  assert_int_equal(test_counter_of(ls, COUNTER), 600);
  logstate_stats st;
  assert_status(logstate_get_stats(ls, &st), LOGSTATE_OK);
  assert_true(st.script_reloads >= 1);
  assert_int_equal(st.conflicts, 0); /* the threads' pipelined sets, reloaded in order, never raced each other */
  logstate_free(ls);
}

/* The set script's chained form, "<version>=<checkpoint>" in ARGV[1] (a set
 * chained on one whose outcome is unknown): at that version with other
 * bytes (another writer's set of the same version) it must refuse. */
static void test_set_script_expects_exact_checkpoint(void **state) {
  (void)state;
  logstate *ls = open_init(&server, NULL);
  assert_status(test_put(ls, "log", "mine"), LOGSTATE_OK);
  FILE *f = fopen(LOGSTATE_SOURCE_DIR "/lua/set.lua", "rb");
  assert_non_null(f);
  static char script[16384];
  size_t n = fread(script, 1, sizeof(script) - 1, f);
  fclose(f);
  script[n] = '\0';
  char key[128], logs[128];
  snprintf(key, sizeof(key), "{%s}:log:log", prefix);
  snprintf(logs, sizeof(logs), "{%s}:logs", prefix);
  redisContext *c = test_redis_admin(&server);
  redisReply *r = redisCommand(c, "EVAL %s 2 %s %s %s %s log none", script, key, logs, "1=theirs", "next");
  assert_int_equal(r->type, REDIS_REPLY_ARRAY);
  assert_string_equal(r->element[0]->str, "CONFLICT");
  assert_int_equal(r->element[1]->integer, 1);
  assert_string_equal(r->element[2]->str, "mine");
  freeReplyObject(r);
  r = redisCommand(c, "EVAL %s 2 %s %s %s %s log none", script, key, logs, "1=mine", "next");
  assert_int_equal(r->type, REDIS_REPLY_ARRAY);
  assert_string_equal(r->element[0]->str, "OK");
  assert_int_equal(r->element[1]->integer, 2);
  freeReplyObject(r);
  redisFree(c);
  test_expect_stored(ls, "log", "next");
  logstate_free(ls);
}

/* --- failures of the server --------------------------------------------- */

static void test_restart_recovers(void **state) {
  (void)state;
  test_redis own;
  assert_int_equal(test_redis_start(&own, NULL), 0);
  logstate *ls = open_init(&own, "timeout_ms=1000&connect_timeout_ms=1000");
  char buf[64];
  assert_status(test_put(ls, "log", "acknowledged"), LOGSTATE_OK);

  test_redis_stop_keep(&own);
  assert_status(test_get(ls, "log", buf, sizeof(buf)), LOGSTATE_UNAVAILABLE);
  assert_status(test_put(ls, "log", "refused"), LOGSTATE_UNAVAILABLE);
  assert_status(logstate_update(ls, "log", fn_append, NULL), LOGSTATE_UNAVAILABLE);

  assert_int_equal(test_redis_restart(&own), 0);
  test_expect_stored(ls, "log", "acknowledged"); /* same handle, reloaded from the AOF */
  assert_status(test_put(ls, "log", "after restart"), LOGSTATE_OK);

  /* kill -9 right after an acknowledged write: appendfsync always keeps it. */
  assert_status(test_put(ls, "log", "just before the crash"), LOGSTATE_OK);
  test_redis_kill9(&own);
  assert_int_equal(test_redis_restart(&own), 0);
  test_expect_stored(ls, "log", "just before the crash");
  /* Pooled connections went stale across the restart: idempotent calls
   * retried on a fresh connection, and writes work again too. */
  assert_status(logstate_update(ls, "log", fn_append, NULL), LOGSTATE_OK);
  test_expect_stored(ls, "log", "just before the crash+");
  logstate_free(ls);
  test_redis_stop(&own);
}

static void test_connection_lost_inside_transaction(void **state) {
  (void)state;
  test_redis own;
  assert_int_equal(test_redis_start(&own, NULL), 0);
  logstate *ls = open_init(&own, "timeout_ms=1000&connect_timeout_ms=1000");
  assert_status(test_put(ls, "log", "v1"), LOGSTATE_OK);
  logstate_write *w = NULL;
  assert_status(logstate_write_ops(ls, "log", &w), LOGSTATE_OK);
  /* The WATCH dies with the connection; the set must not carry on as if
   * nothing happened: it reads the log on a new connection, finds that
   * another writer's set won (version 2, other bytes), and says so
   * (ABORTED), storing nothing. */
  assert_int_equal(test_redis_restart(&own), 0);
  test_redis_do(&own, "HSET {%s}:log:log checkpoint changed version 2", prefix);
  assert_status(logstate_write_set(w, (const uint8_t *)"v2", 2), LOGSTATE_ABORTED);
  expect_error_mentions("moved on to version 2");
  logstate_write_close(w);
  test_expect_stored(ls, "log", "changed");
  /* Moved on by more than one version: this set may have been one of the
   * steps, or not; the state cannot tell, so the outcome is unknown
   * (ABORTED would make an update apply twice). Nothing more is written. */
  assert_status(logstate_write_ops(ls, "log", &w), LOGSTATE_OK);
  assert_int_equal(test_redis_restart(&own), 0);
  test_redis_do(&own, "HSET {%s}:log:log checkpoint changed-again version 7", prefix);
  assert_status(logstate_write_set(w, (const uint8_t *)"v2", 2), LOGSTATE_UNAVAILABLE);
  expect_error_mentions("the outcome is unknown");
  logstate_write_close(w);
  test_expect_stored(ls, "log", "changed-again");
  /* Nobody moved it on: the same compare-and-set goes again, once. */
  assert_status(logstate_write_ops(ls, "log", &w), LOGSTATE_OK);
  assert_int_equal(test_redis_restart(&own), 0);
  assert_status(logstate_write_set(w, (const uint8_t *)"v3", 2), LOGSTATE_OK);
  logstate_write_close(w);
  test_expect_stored(ls, "log", "v3");
  redisReply *r = test_redis_cmd(&own, "HGET {%s}:log:log version", prefix);
  assert_string_equal(r->str, "8");
  freeReplyObject(r);
  logstate_free(ls);
  test_redis_stop(&own);
}

static void test_hung_server_times_out(void **state) {
  (void)state;
  test_redis own;
  assert_int_equal(test_redis_start(&own, NULL), 0);
  logstate *ls = open_init(&own, "timeout_ms=300&connect_timeout_ms=300");
  char buf[64];
  assert_status(test_put(ls, "log", "v1"), LOGSTATE_OK);
  logstate_write *w = NULL;
  assert_status(logstate_write_ops(ls, "log", &w), LOGSTATE_OK);
  kill(own.pid, SIGSTOP);
  double t0 = test_now_s();
  assert_status(test_get(ls, "log", buf, sizeof(buf)), LOGSTATE_UNAVAILABLE);
  expect_error_mentions("timed out");
  double t1 = test_now_s();
  assert_status(logstate_write_set(w, (const uint8_t *)"v2", 2), LOGSTATE_UNAVAILABLE);
  double t2 = test_now_s();
  logstate_write_close(w);
  /* Within the timeout (a read may retry once on a new connection). */
  assert_true(t1 - t0 < 2.0);
  assert_true(t2 - t1 < 1.0);
  kill(own.pid, SIGCONT);
  /* UNAVAILABLE from a set means "outcome unknown": the pipeline was
   * already in the server's socket buffer, and a resumed server may apply
   * it. Either value is right; anything else is not. */
  char buf2[64];
  assert_status(test_get(ls, "log", buf2, sizeof(buf2)), LOGSTATE_OK);
  if (strcmp(buf2, "v1") != 0 && strcmp(buf2, "v2") != 0)
    fail_msg("after a timed-out set the log holds \"%s\"", buf2);
  assert_status(test_put(ls, "log", "v3"), LOGSTATE_OK);
  test_expect_stored(ls, "log", "v3");
  /* The connections made since were set up with the timeout again. */
  logstate_stats st;
  assert_status(logstate_get_stats(ls, &st), LOGSTATE_OK);
  assert_true(st.connects >= 2);
  kill(own.pid, SIGSTOP);
  t0 = test_now_s();
  assert_status(test_get(ls, "log", buf, sizeof(buf)), LOGSTATE_UNAVAILABLE);
  assert_true(test_now_s() - t0 < 2.0);
  kill(own.pid, SIGCONT);
  logstate_free(ls);
  test_redis_stop(&own);
}

static void test_stale_watch_does_not_abort(void **state) {
  (void)state;
  /* One connection, so the next transaction runs on the same one. */
  logstate *ls = open_init(&server, "pool=1");
  logstate_write *w = NULL;
  assert_status(test_put(ls, "a", "a1"), LOGSTATE_OK);
  assert_status(logstate_write_ops(ls, "a", &w), LOGSTATE_OK);
  assert_status(logstate_write_close(w), LOGSTATE_OK); /* WATCH a left behind */
  test_redis_do(&server, "HSET {%s}:log:a checkpoint by-operator version 9", prefix);
  assert_status(test_put(ls, "b", "b1"), LOGSTATE_OK); /* would be ABORTED by the stale WATCH */
  test_expect_stored(ls, "b", "b1");
  logstate_stats st;
  assert_status(logstate_get_stats(ls, &st), LOGSTATE_OK);
  assert_int_equal(st.connects, 1);
  assert_int_equal(st.conflicts, 0);
  logstate_free(ls);
}

/* Reads the same log from inside the update function. */
static logstate_status fn_nested_read(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len,
                                      void *arg) {
  (void)cur, (void)cur_len, (void)out_next, (void)out_next_len;
  char buf[64];
  return test_get(arg, "a", buf, sizeof(buf));
}

static void test_pool_exhausted(void **state) {
  (void)state;
  logstate *ls = open_init(&server, "pool=1&timeout_ms=200");
  logstate_write *w1 = NULL, *w2 = NULL;
  char buf[32];
  assert_status(logstate_write_ops(ls, "a", &w1), LOGSTATE_OK);
  double t0 = test_now_s();
  assert_status(logstate_write_ops(ls, "b", &w2), LOGSTATE_RESOURCE_EXHAUSTED);
  assert_status(test_get(ls, "a", buf, sizeof(buf)), LOGSTATE_RESOURCE_EXHAUSTED);
  expect_error_mentions("pool");
  assert_true(test_now_s() - t0 < 2.0);
  assert_status(logstate_write_close(w1), LOGSTATE_OK);
  assert_status(test_put(ls, "b", "b1"), LOGSTATE_OK);
  /* Re-entrancy with one connection: an update holds no connection while
   * fn runs, so fn's own read gets the only one (fn then asks for no
   * change). */
  assert_status(test_put(ls, "a", "a1"), LOGSTATE_OK);
  t0 = test_now_s();
  assert_status(logstate_update(ls, "a", fn_nested_read, ls), LOGSTATE_OK);
  assert_true(test_now_s() - t0 < 2.0);
  test_expect_stored(ls, "a", "a1");
  /* A write transaction does hold its connection: a read inside it waits
   * timeout_ms and fails, without deadlock. */
  assert_status(logstate_write_ops(ls, "a", &w1), LOGSTATE_OK);
  assert_status(test_get(ls, "a", buf, sizeof(buf)), LOGSTATE_RESOURCE_EXHAUSTED);
  assert_status(logstate_write_close(w1), LOGSTATE_OK);
  logstate_free(ls);
}

/* --- authentication and ACL -------------------------------------------- */

static void test_wrong_password(void **state) {
  (void)state;
  test_redis own;
  assert_int_equal(test_redis_start(&own, "requirepass s3cret-pw"), 0);
  char url[256];
  logstate *ls = NULL;
  snprintf(url, sizeof(url), "redis://:wrong-pw-123@127.0.0.1:%d/", own.port);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_PERMISSION_DENIED);
  expect_error_lacks("wrong-pw-123");
  char buf[16];
  assert_status(test_get(ls, "log", buf, sizeof(buf)), LOGSTATE_PERMISSION_DENIED);
  expect_error_lacks("wrong-pw-123");
  logstate_free(ls);

  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/", own.port); /* no password */
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_PERMISSION_DENIED);
  expect_error_mentions("NOAUTH");
  logstate_free(ls);

  setenv("LOGSTATE_REDIS_PASSWORD", "s3cret-pw", 1); /* from the environment */
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  unsetenv("LOGSTATE_REDIS_PASSWORD");
  assert_status(logstate_init(ls), LOGSTATE_OK);
  assert_status(test_put(ls, "log", "v1"), LOGSTATE_OK);
  logstate_free(ls);

  snprintf(url, sizeof(url), "redis://:s3cret-pw@127.0.0.1:%d/", own.port);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  test_expect_stored(ls, "log", "v1");
  logstate_free(ls);
  test_redis_stop(&own);
}

/* The README's own ACL rules, for `name` on namespace `prefix`. */
static void acl_setuser(const char *kind, const char *name, const char *pass, const char *extra) {
  assert_int_equal(test_redis_readme_acl(&server, kind, name, pass, prefix, extra), 0);
}

/* The raw reply of `cmd` (printf) as user:pass, its type and text. */
static int as_user(const char *user, const char *pass, char *text, size_t n, const char *fmt, ...) {
  redisContext *c = test_redis_admin(&server);
  redisReply *r = redisCommand(c, "AUTH %s %s", user, pass);
  assert_int_equal(r->type, REDIS_REPLY_STATUS);
  freeReplyObject(r);
  va_list ap;
  va_start(ap, fmt);
  r = redisvCommand(c, fmt, ap);
  va_end(ap);
  int type = r->type;
  snprintf(text, n, "%s", r->str ? r->str : "");
  freeReplyObject(r);
  redisFree(c);
  return type;
}

/* Log configurations under the README's users: the witness adds and reads,
 * and may not change an entry, disable or enable (through logstate or by
 * hand); the config operator may, with its audit record. */
static void test_acl_config_users(void **state) {
  (void)state;
  char url[256], text[300], id[65];
  logstate *w = NULL, *op = NULL;
  snprintf(prefix, sizeof(prefix), "aclc%u", ++prefix_no);
  acl_setuser("witness", "witness", "wpass", NULL);
  acl_setuser("config-operator", "cop", "cpass", "+client|setname");
  snprintf(url, sizeof(url), "redis://witness:wpass@127.0.0.1:%d/?prefix=%s", server.port, prefix);
  assert_status(logstate_open(&w, url), LOGSTATE_OK);
  assert_status(logstate_init(w), LOGSTATE_OK);
  snprintf(url, sizeof(url), "redis://cop:cpass@127.0.0.1:%d/?prefix=%s&client_name=ops", server.port, prefix);
  assert_status(logstate_open(&op, url), LOGSTATE_OK);
  assert_status(logstate_init(op), LOGSTATE_OK);
  logstate_log_config c = {.origin = "acl.example/log", .vkey = "acl+1+AA=="};
  logstate_config_result r;
  assert_status(logstate_config_add(w, &c, 1, &r), LOGSTATE_OK);
  assert_int_equal(r, LOGSTATE_CONFIG_ADDED);
  int changed = 1;
  assert_status(logstate_config_set_disabled(w, "acl.example/log", 1, "mine", &changed), LOGSTATE_PERMISSION_DENIED);
  assert_false(changed);
  assert_status(logstate_log_id("acl.example/log", id), LOGSTATE_OK);
  assert_int_equal(as_user("witness", "wpass", text, sizeof(text), "HSET {%s}:config:%s disabled 1", prefix, id),
                   REDIS_REPLY_ERROR);
  assert_non_null(strstr(text, "NOPERM"));
  assert_int_equal(as_user("witness", "wpass", text, sizeof(text), "XADD {%s}:config-audit * f v", prefix),
                   REDIS_REPLY_ERROR);
  assert_non_null(strstr(text, "NOPERM"));
  assert_int_equal(as_user("witness", "wpass", text, sizeof(text), "DEL {%s}:config:%s", prefix, id),
                   REDIS_REPLY_ERROR);
  logstate_config_event *ev = NULL;
  size_t n = 1;
  assert_status(logstate_config_history(w, NULL, 10, &ev, &n), LOGSTATE_OK); /* it may read the trail */
  assert_int_equal(n, 0);
  assert_status(logstate_config_set_disabled(op, "acl.example/log", 1, "compromised", &changed), LOGSTATE_OK);
  assert_true(changed);
  assert_status(logstate_config_add(w, &c, 1, &r), LOGSTATE_OK); /* the feed again: insert-only */
  assert_int_equal(r, LOGSTATE_CONFIG_IDENTICAL);
  logstate_log_entry *e = NULL;
  int usable = 1;
  assert_status(logstate_config_get(w, "acl.example/log", &e, &usable), LOGSTATE_OK);
  assert_false(usable);
  assert_string_equal(e->changed_by, "ops");
  logstate_log_entry_free(e);
  assert_status(logstate_config_history(w, "acl.example/log", 10, &ev, &n), LOGSTATE_OK);
  assert_int_equal(n, 1);
  logstate_config_events_free(ev, n);
  size_t problems = 9;
  assert_status(logstate_verify(w, NULL, NULL, &problems), LOGSTATE_OK); /* the witness may check the store */
  assert_int_equal(problems, 0);
  logstate_free(w);
  logstate_free(op);
}

static void test_acl_users(void **state) {
  (void)state;
  char url[256], buf[64];
  logstate *ls = NULL;
  snprintf(prefix, sizeof(prefix), "acl%u", ++prefix_no);
  acl_setuser("witness", "witness", "wpass", NULL);
  snprintf(url, sizeof(url), "redis://witness:wpass@127.0.0.1:%d/?prefix=%s", server.port, prefix);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK); /* durability=require: verified with CONFIG GET */
  assert_status(test_put(ls, "log", "v1"), LOGSTATE_OK);
  assert_status(logstate_update(ls, "log", fn_append, NULL), LOGSTATE_OK);
  logstate_write *w = NULL;
  assert_status(logstate_write_ops(ls, "log", &w), LOGSTATE_OK);
  assert_status(logstate_write_close(w), LOGSTATE_OK); /* then UNWATCH */
  test_redis_do(&server, "SCRIPT FLUSH");              /* recovery uses SCRIPT LOAD */
  assert_status(logstate_update(ls, "log", fn_append, NULL), LOGSTATE_OK);
  test_expect_stored(ls, "log", "v1++");
  char **ids;
  size_t n;
  assert_status(logstate_logs(ls, &ids, &n), LOGSTATE_OK);
  assert_int_equal(n, 1);
  logstate_logs_free(ids, n);
  logstate_free(ls);

  /* The same user may not touch another namespace. */
  snprintf(url, sizeof(url), "redis://witness:wpass@127.0.0.1:%d/?prefix=elsewhere", server.port);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_PERMISSION_DENIED);
  assert_status(test_get(ls, "log", buf, sizeof(buf)), LOGSTATE_PERMISSION_DENIED);
  logstate_free(ls);

  /* Without +config|get, require cannot verify appendfsync and refuses,
   * saying what it could not verify; warn goes on. */
  acl_setuser("witness", "witness2", "wpass", "-config|get");
  snprintf(url, sizeof(url), "redis://witness2:wpass@127.0.0.1:%d/?prefix=%s", server.port, prefix);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("could not verify appendfsync");
  logstate_free(ls);

  /* A user missing a command the script runs is refused, not half-applied. */
  acl_setuser("witness", "witness3", "wpass", "-sadd");
  snprintf(url, sizeof(url), "redis://witness3:wpass@127.0.0.1:%d/?prefix=%s", server.port, prefix);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  assert_status(test_put(ls, "new-log", "v1"), LOGSTATE_PERMISSION_DENIED);
  assert_status(test_get(ls, "new-log", buf, sizeof(buf)), LOGSTATE_NOT_FOUND);
  /* At once: an update does not retry a refusal (no retry storm). */
  uint64_t rt = round_trips(ls);
  double t0 = test_now_s();
  assert_status(logstate_update(ls, "new-log", test_fn_increment, NULL), LOGSTATE_PERMISSION_DENIED);
  assert_true(round_trips(ls) - rt <= 2); /* a read, one set */
  assert_true(test_now_s() - t0 < 1.0);
  logstate_free(ls);

  /* The read-only operator: reads, never writes. */
  acl_setuser("operator", "operator", "opass", NULL);
  redisContext *c = test_redis_admin(&server);
  redisReply *r = redisCommand(c, "AUTH operator opass");
  assert_int_equal(r->type, REDIS_REPLY_STATUS);
  freeReplyObject(r);
  r = redisCommand(c, "HGETALL {%s}:log:log", prefix);
  assert_int_equal(r->type, REDIS_REPLY_ARRAY);
  assert_int_equal(r->elements, 6);
  freeReplyObject(r);
  r = redisCommand(c, "SMEMBERS {%s}:logs", prefix);
  assert_int_equal(r->type, REDIS_REPLY_ARRAY);
  freeReplyObject(r);
  r = redisCommand(c, "HSET {%s}:log:log checkpoint evil", prefix);
  assert_int_equal(r->type, REDIS_REPLY_ERROR);
  assert_non_null(strstr(r->str, "NOPERM"));
  freeReplyObject(r);
  r = redisCommand(c, "EVALSHA 0000000000000000000000000000000000000000 0");
  assert_int_equal(r->type, REDIS_REPLY_ERROR);
  freeReplyObject(r);
  redisFree(c);
  snprintf(url, sizeof(url), "redis://operator:opass@127.0.0.1:%d/?prefix=%s&durability=ignore", server.port, prefix);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  test_expect_stored(ls, "log", "v1++");
  assert_status(test_put(ls, "log", "evil"), LOGSTATE_PERMISSION_DENIED);
  logstate_free(ls);

  /* mode=ro: the operator can run init (no HSETNX, no SCRIPT LOAD, no
   * CONFIG GET), list, read and verify; writes are refused before they
   * reach Redis. Without mode=ro, init refuses: it cannot verify the
   * durability settings (and would then write the meta). */
  snprintf(url, sizeof(url), "redis://operator:opass@127.0.0.1:%d/?prefix=%s", server.port, prefix);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_FAILED_PRECONDITION);
  logstate_free(ls);
  snprintf(url, sizeof(url), "redis://operator:opass@127.0.0.1:%d/?prefix=%s&mode=ro", server.port, prefix);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  assert_status(logstate_logs(ls, &ids, &n), LOGSTATE_OK);
  assert_int_equal(n, 1);
  logstate_logs_free(ids, n);
  test_expect_stored(ls, "log", "v1++");
  size_t problems = 99;
  assert_status(logstate_verify(ls, NULL, NULL, &problems), LOGSTATE_OK);
  assert_int_equal(problems, 0);
  logstate_info info;
  assert_status(logstate_describe(ls, &info), LOGSTATE_OK);
  assert_int_equal(info.durability, LOGSTATE_DURABILITY_AT_RISK); /* reported, not refused: no CONFIG GET */
  assert_int_equal(strlen(info.store_id), 32);
  assert_status(test_put(ls, "log", "evil"), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("read-only");
  assert_status(logstate_update(ls, "log", fn_append, NULL), LOGSTATE_FAILED_PRECONDITION);
  logstate_free(ls);
  /* A namespace that does not exist is refused, not created. */
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=%s-none&mode=ro", server.port, prefix);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_NOT_FOUND);
  expect_error_mentions("mode=ro");
  logstate_free(ls);
  redisReply *none = test_redis_cmd(&server, "EXISTS {%s-none}:meta", prefix);
  assert_int_equal(none->integer, 0);
  freeReplyObject(none);
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=%s&mode=maybe", server.port, prefix);
  assert_status(logstate_open(&ls, url), LOGSTATE_INVALID_ARGUMENT);
  test_redis_do(&server, "ACL DELUSER witness witness2 witness3 operator");
}

/* --- durability --------------------------------------------------------- */

typedef struct log_capture {
  int count;
  char last[1024];
} log_capture;

static void capture(void *arg, const char *msg) {
  log_capture *c = arg;
  c->count++;
  snprintf(c->last, sizeof(c->last), "%s", msg);
}

static void test_durability_check(void **state) {
  (void)state;
  test_redis own;
  /* Later redis.conf lines win over the helper's durable defaults. */
  assert_int_equal(test_redis_start(&own, "appendonly no"), 0);
  logstate *ls = open_on(&own, NULL);
  assert_status(logstate_init(ls), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("appendonly yes");
  /* init checks everything before it writes: a refusal leaves nothing. */
  redisReply *r = test_redis_cmd(&own, "DBSIZE");
  assert_int_equal(r->integer, 0);
  freeReplyObject(r);
  logstate_free(ls);
  test_redis_stop(&own);

  assert_int_equal(test_redis_start(&own, "appendfsync everysec"), 0);
  ls = open_on(&own, NULL);
  assert_status(logstate_init(ls), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("appendfsync always");
  expect_error_lacks("appendonly yes");
  logstate_free(ls);

  /* warn: logs and goes on (never the password); ignore: silent. */
  test_redis_do(&own, "CONFIG SET requirepass " TEST_SECRET);
  log_capture cap = {0};
  logstate_redis_options o = LOGSTATE_REDIS_OPTIONS_INIT;
  o.port = (unsigned int)own.port;
  o.password = TEST_SECRET;
  o.prefix = "warned";
  o.durability = LOGSTATE_REDIS_DURABILITY_WARN;
  o.log = capture;
  o.log_arg = &cap;
  assert_status(logstate_redis_open(&ls, &o, NULL), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  assert_int_equal(cap.count, 1);
  assert_non_null(strstr(cap.last, "appendfsync"));
  assert_null(strstr(cap.last, TEST_SECRET));
  assert_status(test_put(ls, "log", "v1"), LOGSTATE_OK);
  logstate_free(ls);
  o.durability = LOGSTATE_REDIS_DURABILITY_IGNORE;
  assert_status(logstate_redis_open(&ls, &o, NULL), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  assert_int_equal(cap.count, 1);
  logstate_free(ls);

  test_redis_stop(&own);

  /* An evicting policy may drop a checkpoint: refused too. */
  assert_int_equal(test_redis_start(&own, "maxmemory-policy allkeys-lru"), 0);
  ls = open_on(&own, NULL);
  assert_status(logstate_init(ls), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("noeviction");
  logstate_free(ls);
  test_redis_stop(&own);

  /* The durable settings the README documents (docker/redis.conf) pass,
   * even over a config that had them wrong. */
  assert_int_equal(test_redis_start(&own, "appendonly no\nappendfsync everysec\nmaxmemory-policy allkeys-lru\n"
                                          "include " LOGSTATE_SOURCE_DIR "/docker/redis.conf"),
                   0);
  ls = open_init(&own, NULL);
  assert_status(test_put(ls, "log", "v1"), LOGSTATE_OK);
  logstate_free(ls);
  test_redis_stop(&own);
}

/* --- data an operator broke --------------------------------------------- */

static void test_wrongtype_and_corruption(void **state) {
  (void)state;
  logstate *ls = open_init(&server, NULL);
  char buf[64];
  logstate_write *w = NULL;
  test_redis_do(&server, "SET {%s}:log:str plain-string", prefix);
  assert_status(test_get(ls, "str", buf, sizeof(buf)), LOGSTATE_INTERNAL);
  expect_error_mentions("WRONGTYPE");
  expect_error_mentions(":log:str");
  assert_status(logstate_write_ops(ls, "str", &w), LOGSTATE_INTERNAL);
  expect_error_mentions(":log:str");

  /* A hash without a version is corrupt, not empty. */
  test_redis_do(&server, "HSET {%s}:log:half checkpoint x", prefix);
  assert_status(logstate_write_ops(ls, "half", &w), LOGSTATE_INTERNAL);
  expect_error_mentions("corrupt");

  /* A wrongly typed index: the set names it and writes nothing. */
  test_redis_do(&server, "SET {%s}:logs not-a-set", prefix);
  assert_status(test_put(ls, "fresh", "v1"), LOGSTATE_INTERNAL);
  expect_error_mentions(":logs");
  /* With the index broken, absence cannot be told from damage. */
  assert_status(test_get(ls, "fresh", buf, sizeof(buf)), LOGSTATE_INTERNAL);
  expect_error_mentions(":logs");
  char **ids;
  size_t n;
  assert_status(logstate_logs(ls, &ids, &n), LOGSTATE_INTERNAL);
  expect_error_mentions("WRONGTYPE");

  /* An unknown schema is refused by init. */
  test_redis_do(&server, "HSET {%s}:meta schema 2", prefix);
  assert_status(logstate_init(ls), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("schema");
  logstate_free(ls);
}

/* A log the index lists whose hash is gone or incomplete is damage, never
 * "no checkpoint yet": a witness must not trust a first checkpoint for a log
 * it already cosigned. */
static void test_damaged_logs(void **state) {
  (void)state;
  logstate *ls = open_init(&server, NULL);
  logstate_write *w = NULL;
  char buf[64];
  const char *damage[] = {"DEL {%s}:log:%s", "HDEL {%s}:log:%s checkpoint", "HDEL {%s}:log:%s version"};
  for (size_t i = 0; i < 3; i++) {
    char id[8], key[16];
    snprintf(id, sizeof(id), "a%zu", i);
    snprintf(key, sizeof(key), ":log:%s", id);
    assert_status(test_put(ls, id, "a1"), LOGSTATE_OK);
    test_redis_do(&server, damage[i], prefix, id);
    assert_status(test_get(ls, id, buf, sizeof(buf)), LOGSTATE_INTERNAL);
    expect_error_mentions("damaged");
    expect_error_mentions(key);
    assert_status(logstate_write_ops(ls, id, &w), LOGSTATE_INTERNAL);
    assert_status(logstate_update(ls, id, fn_append, NULL), LOGSTATE_INTERNAL);
  }
  /* A transaction opened before the damage loses its WATCH (ABORTED); the
   * next one sees the damage. */
  assert_status(test_put(ls, "b", "b1"), LOGSTATE_OK);
  assert_status(logstate_write_ops(ls, "b", &w), LOGSTATE_OK);
  test_redis_do(&server, "DEL {%s}:log:b", prefix);
  assert_status(logstate_write_set(w, (const uint8_t *)"b2", 2), LOGSTATE_ABORTED);
  logstate_write_close(w);
  assert_status(logstate_write_ops(ls, "b", &w), LOGSTATE_INTERNAL);
  /* An update from the handle's cache sends the set script straight away:
   * the script itself refuses the first set of a listed log. */
  assert_status(logstate_update(ls, "c", fn_append, NULL), LOGSTATE_OK); /* the handle knows "c" */
  test_redis_do(&server, "DEL {%s}:log:c", prefix);
  assert_status(logstate_update(ls, "c", fn_append, NULL), LOGSTATE_INTERNAL);
  expect_error_mentions("damaged");
  redisReply *r = test_redis_cmd(&server, "EXISTS {%s}:log:b {%s}:log:c", prefix, prefix);
  assert_int_equal(r->integer, 0); /* nothing written */
  freeReplyObject(r);
  /* A log that was never set is still simply absent. */
  assert_status(test_get(ls, "never", buf, sizeof(buf)), LOGSTATE_NOT_FOUND);
  logstate_free(ls);
}

/* A handle remembers the highest version it saw of each log: a store that
 * later shows a lower one, or none, went back (a failover to a replica that
 * lacked writes, a restore, a flush), and every operation says so instead
 * of serving the older state. */
static void test_rollback_detected(void **state) {
  (void)state;
  logstate *ls = open_init(&server, NULL);
  logstate_write *w = NULL;
  char buf[64];
  assert_status(test_put(ls, "r", "v1"), LOGSTATE_OK);
  assert_status(test_put(ls, "r", "v2"), LOGSTATE_OK); /* version 2, seen */
  assert_status(logstate_update(ls, "u", fn_append, NULL), LOGSTATE_OK);
  assert_status(logstate_update(ls, "u", fn_append, NULL), LOGSTATE_OK);     /* version 2, cached */
  test_redis_do(&server, "HSET {%s}:log:r version 1 checkpoint v1", prefix); /* as a lagging replica holds it */
  test_redis_do(&server, "HSET {%s}:log:u version 1 checkpoint +", prefix);
  assert_status(test_get(ls, "r", buf, sizeof(buf)), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("rolled back");
  expect_error_mentions("1 < 2");
  assert_status(logstate_write_ops(ls, "r", &w), LOGSTATE_FAILED_PRECONDITION);
  assert_status(logstate_update(ls, "u", fn_append, NULL), LOGSTATE_FAILED_PRECONDITION); /* from the cache */
  expect_error_mentions("rolled back");
  /* Flushed: no checkpoint at all, never NOT_FOUND for a log this handle saw. */
  test_redis_do(&server, "DEL {%s}:log:r", prefix);
  test_redis_do(&server, "SREM {%s}:logs r", prefix);
  assert_status(test_get(ls, "r", buf, sizeof(buf)), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("no checkpoint");
  assert_status(test_put(ls, "r", "again"), LOGSTATE_FAILED_PRECONDITION);
  logstate_stats st;
  assert_status(logstate_get_stats(ls, &st), LOGSTATE_OK);
  assert_true(st.rollbacks >= 5);
  /* Nothing was written by the refused operations, and a handle that saw
   * nothing before has nothing to compare with. */
  char url[256];
  logstate *fresh = NULL;
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=%s", server.port, prefix);
  assert_status(logstate_open(&fresh, url), LOGSTATE_OK);
  assert_status(test_get(fresh, "u", buf, sizeof(buf)), LOGSTATE_OK);
  assert_string_equal(buf, "+");
  assert_status(test_get(fresh, "r", buf, sizeof(buf)), LOGSTATE_NOT_FOUND);
  logstate_free(fresh);
  logstate_free(ls);
}

static void meta_store_id(const test_redis *s, char *buf, size_t n) {
  redisReply *r = test_redis_cmd(s, "HGET {%s}:meta store_id", prefix);
  assert_int_equal(r->type, REDIS_REPLY_STRING);
  snprintf(buf, n, "%s", r->str);
  freeReplyObject(r);
}

static long long exists(const test_redis *s, const char *key_fmt) {
  redisReply *r = test_redis_cmd(s, key_fmt, prefix);
  long long n = r->integer;
  freeReplyObject(r);
  return n;
}

/* A pinned store_id: init and every new connection refuse a namespace that
 * was reset (FLUSHALL, a restart without the AOF) or is another store, and
 * write nothing; create=no refuses to create one. */
static void test_store_identity(void **state) {
  (void)state;
  test_redis own;
  assert_int_equal(test_redis_start(&own, NULL), 0);
  logstate *ls = open_init(&own, NULL);
  char id[80], pinned[256], url[256];
  assert_status(test_put(ls, "log", "v1"), LOGSTATE_OK);
  meta_store_id(&own, id, sizeof(id));
  logstate_free(ls);
  snprintf(pinned, sizeof(pinned), "redis://127.0.0.1:%d/?prefix=%s&store_id=%s&timeout_ms=2000", own.port, prefix, id);
  assert_status(logstate_open(&ls, pinned), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  test_expect_stored(ls, "log", "v1");
  logstate_info info;
  assert_status(logstate_describe(ls, &info), LOGSTATE_OK);
  assert_string_equal(info.store_id, id);

  /* Another store's ID. */
  logstate *other = NULL;
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=%s&store_id=0123456789abcdef0123456789abcdef", own.port,
           prefix);
  assert_status(logstate_open(&other, url), LOGSTATE_OK);
  assert_status(logstate_init(other), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("another store");
  logstate_free(other);

  /* FLUSHALL while the pinned handle's connections stay open (so no new
   * connection checks the store_id): a log it saw is a rollback, and a first
   * set of a log it never saw is refused by the set script, which checks the
   * pinned store_id on every first set. Nothing is written. */
  char buf[32];
  test_redis_do(&own, "FLUSHALL");
  assert_status(test_get(ls, "log", buf, sizeof(buf)), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("rolled back");
  assert_status(test_put(ls, "never-seen", "n1"), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("reset");
  assert_status(logstate_update(ls, "never-seen", test_fn_increment, NULL), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("reset");
  assert_int_equal(exists(&own, "EXISTS {%s}:logs") + exists(&own, "EXISTS {%s}:log:never-seen"), 0);

  /* The server restarts without its data (the AOF lost): the pinned handle's
   * reconnect refuses it, and nothing is created. */
  test_redis_kill9(&own);
  char cmd[1000];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'/appendonlydir '%s'/*.aof '%s'/dump.rdb", own.dir, own.dir, own.dir);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(test_redis_restart(&own), 0);
  assert_status(test_get(ls, "log", buf, sizeof(buf)), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("reset");
  assert_status(test_put(ls, "log", "v2"), LOGSTATE_FAILED_PRECONDITION);
  assert_status(logstate_init(ls), LOGSTATE_FAILED_PRECONDITION);
  assert_int_equal(
      exists(&own, "EXISTS {%s}:meta") + exists(&own, "EXISTS {%s}:logs") + exists(&own, "EXISTS {%s}:log:log"), 0);
  logstate_free(ls);

  /* create=no: init refuses an empty namespace, and writes nothing. */
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=%s&create=no", own.port, prefix);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_NOT_FOUND);
  expect_error_mentions("create=no");
  assert_int_equal(exists(&own, "EXISTS {%s}:meta"), 0);
  logstate_free(ls);
  const char *bad[] = {"store_id=", "store_id=a%2Fb", "create=maybe", "store_id=a&store_id=b"};
  for (size_t i = 0; i < 4; i++) {
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?%s", own.port, bad[i]);
    if (logstate_open(&ls, url) != LOGSTATE_INVALID_ARGUMENT)
      fail_msg("%s was accepted", url);
  }
  test_redis_stop(&own);
}

typedef struct found {
  size_t n;
  char ids[8][32];
} found;

static void on_problem(void *arg, const char *log_id, const char *problem) {
  found *f = arg;
  (void)problem;
  if (f->n < 8)
    snprintf(f->ids[f->n], sizeof(f->ids[0]), "%s", log_id);
  f->n++;
}

static int found_has(const found *f, const char *id) {
  for (size_t i = 0; i < f->n && i < 8; i++)
    if (strcmp(f->ids[i], id) == 0)
      return 1;
  return 0;
}

/* logstate_verify walks the namespace (SSCAN, SCAN) and names every
 * disagreement, and only in its own namespace, whatever the prefix. */
static void test_verify(void **state) {
  (void)state;
  char url[256];
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=g*%u", server.port, ++prefix_no);
  logstate *ls = NULL;
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  for (int i = 0; i < 300; i++) { /* enough for several scan pages */
    char id[32];
    snprintf(id, sizeof(id), "ok-%d", i);
    assert_status(test_put(ls, id, "v"), LOGSTATE_OK);
  }
  found f = {0};
  size_t problems = 9;
  assert_status(logstate_verify(ls, on_problem, &f, &problems), LOGSTATE_OK);
  assert_int_equal(problems, 0);
  const char *ns = url + strlen(url) - strlen(strchr(url, '=') + 1);
  assert_status(test_put(ls, "gone", "v"), LOGSTATE_OK);
  assert_status(test_put(ls, "half", "v"), LOGSTATE_OK);
  test_redis_do(&server, "DEL {%s}:log:gone", ns);
  test_redis_do(&server, "HDEL {%s}:log:half version", ns);
  test_redis_do(&server, "HSET {%s}:log:stray checkpoint v version 1", ns); /* not in the index */
  /* A namespace the unescaped pattern g*N would match: not this store's. */
  test_redis_do(&server, "HSET {gX%s}:log:other checkpoint v", ns + 2);
  assert_status(logstate_verify(ls, on_problem, &f, &problems), LOGSTATE_OK);
  assert_int_equal(problems, 3);
  assert_true(found_has(&f, "gone") && found_has(&f, "half") && found_has(&f, "stray"));
  assert_status(logstate_verify(NULL, NULL, NULL, &problems), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_verify(ls, NULL, NULL, NULL), LOGSTATE_INVALID_ARGUMENT);
  logstate_free(ls);
  logstate *mem = NULL;
  assert_status(logstate_open(&mem, "memory:"), LOGSTATE_OK);
  assert_status(logstate_verify(mem, NULL, NULL, &problems), LOGSTATE_OK);
  assert_int_equal(problems, 0);
  logstate_free(mem);
}

typedef struct found_ids {
  size_t n;
  char ids[8][LOGSTATE_LOG_ID_HEX_LEN + 1];
} found_ids;

static void on_config_problem(void *arg, const char *log_id, const char *problem) {
  found_ids *f = arg;
  (void)problem;
  if (f->n < 8)
    snprintf(f->ids[f->n], sizeof(f->ids[0]), "%s", log_id);
  f->n++;
}

static int found_id(const found_ids *f, const char *origin) {
  char id[LOGSTATE_LOG_ID_HEX_LEN + 1];
  assert_status(logstate_log_id(origin, id), LOGSTATE_OK);
  for (size_t i = 0; i < f->n && i < 8; i++)
    if (strcmp(f->ids[i], id) == 0)
      return 1;
  return 0;
}

/* logstate_verify walks the log configurations too: an index member
 * without its hash, a hash without its vkey, a hash whose origin has
 * another ID, a hash the index does not list. */
static void test_verify_configs(void **state) {
  (void)state;
  char url[256], id[4][LOGSTATE_LOG_ID_HEX_LEN + 1];
  const char *origin[4] = {"gone.example", "half.example", "moved.example", "stray.example"};
  snprintf(prefix, sizeof(prefix), "vc%u", ++prefix_no);
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=%s", server.port, prefix);
  logstate *ls = NULL;
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  for (int i = 0; i < 4; i++) {
    logstate_log_config c = {.origin = origin[i], .vkey = "v+1+AA=="};
    logstate_config_result r;
    assert_status(logstate_config_add(ls, &c, 1, &r), LOGSTATE_OK);
    assert_status(logstate_log_id(origin[i], id[i]), LOGSTATE_OK);
  }
  found_ids f = {0};
  size_t problems = 9;
  assert_status(logstate_verify(ls, on_config_problem, &f, &problems), LOGSTATE_OK);
  assert_int_equal(problems, 0);
  test_redis_do(&server, "DEL {%s}:config:%s", prefix, id[0]);
  test_redis_do(&server, "HDEL {%s}:config:%s vkey", prefix, id[1]);
  test_redis_do(&server, "HSET {%s}:config:%s origin elsewhere.example", prefix, id[2]);
  test_redis_do(&server, "SREM {%s}:configs %s", prefix, id[3]);
  assert_status(logstate_verify(ls, on_config_problem, &f, &problems), LOGSTATE_OK);
  assert_int_equal(problems, 4);
  for (int i = 0; i < 4; i++)
    if (!found_id(&f, origin[i]))
      fail_msg("verify did not name %s", origin[i]);
  logstate_free(ls);
}

static void test_server_out_of_memory(void **state) {
  (void)state;
  test_redis own;
  assert_int_equal(test_redis_start(&own, NULL), 0);
  logstate *ls = open_init(&own, NULL);
  test_redis_do(&own, "CONFIG SET maxmemory 1");
  assert_status(test_put(ls, "log", "v1"), LOGSTATE_RESOURCE_EXHAUSTED);
  expect_error_mentions("OOM");
  test_redis_do(&own, "CONFIG SET maxmemory 0");
  assert_status(test_put(ls, "log", "v1"), LOGSTATE_OK);
  logstate_free(ls);
  test_redis_stop(&own);
}

/* --- the size guard ----------------------------------------------------- */

static void test_guard_size(void **state) {
  (void)state;
  logstate *ls = open_init(&server, "guard=size");
  assert_status(test_put(ls, "log", "not a checkpoint"), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("LOGSTATE_GUARD");
  assert_status(test_put(ls, "log", "example.com/log\n10\nAAAA\n"), LOGSTATE_OK);
  assert_status(test_put(ls, "log", "other.example/log\n11\nAAAA\n"), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("origin");
  assert_status(test_put(ls, "log", "example.com/log\n9\nBBBB\n"), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("smaller");
  assert_status(test_put(ls, "log", "example.com/log\n10\nAAAA\n\nsig\n"), LOGSTATE_OK); /* same size */
  assert_status(test_put(ls, "log", "example.com/log\n0000011\nCCCC\n"), LOGSTATE_OK);
  /* Larger than any double holds exactly: compared as decimal strings. */
  assert_status(test_put(ls, "log", "example.com/log\n18446744073709551615\nDDDD\n"), LOGSTATE_OK);
  assert_status(test_put(ls, "log", "example.com/log\n18446744073709551614\nEEEE\n"), LOGSTATE_FAILED_PRECONDITION);
  test_expect_stored(ls, "log", "example.com/log\n18446744073709551615\nDDDD\n");
  logstate_free(ls);
}

/* --- replicas ----------------------------------------------------------- */

/* Waits (bounded) until `replica` reports its link to the primary up. */
static int replica_linked(const test_redis *replica) {
  return test_redis_wait_info(replica, "INFO replication", "master_link_status:up", 20);
}

static void test_replicas(void **state) {
  (void)state;
  test_redis primary, replica;
  char conf[64];
  /* No diskless-sync delay and no shutdown wait: a fast test, same logic. */
  assert_int_equal(test_redis_start(&primary, "repl-diskless-sync-delay 0\nshutdown-timeout 0"), 0);
  snprintf(conf, sizeof(conf), "replicaof 127.0.0.1 %d", primary.port);
  assert_int_equal(test_redis_start(&replica, conf), 0);
  assert_true(replica_linked(&replica));

  /* WAIT after each set: acknowledged by the replica. */
  logstate *ls = open_init(&primary, "min_replicas=1&replica_timeout_ms=5000");
  uint64_t rt = round_trips(ls);
  assert_status(test_put(ls, "log", "v1"), LOGSTATE_OK);
  assert_int_equal(round_trips(ls) - rt, 2); /* WAIT rides in the set's round trip */
  redisReply *r = test_redis_cmd(&replica, "HGET {%s}:log:log checkpoint", prefix);
  assert_string_equal(r->str, "v1"); /* WAIT returned: the replica has it */
  freeReplyObject(r);

  /* A replica is read-only: writing through it is UNAVAILABLE (READONLY). */
  char url[256];
  logstate *ro = NULL;
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=%s", replica.port, prefix);
  assert_status(logstate_open(&ro, url), LOGSTATE_OK);
  test_expect_stored(ro, "log", "v1");
  assert_status(test_put(ro, "log", "via-replica"), LOGSTATE_UNAVAILABLE);
  expect_error_mentions("READONLY");
  assert_status(logstate_init(ro), LOGSTATE_UNAVAILABLE);
  logstate_free(ro);

  /* Without the replica, the set is stored on the primary but not
   * confirmed: UNAVAILABLE once replica_timeout_ms has passed. */
  test_redis_kill9(&replica); /* gone, as in a crash (and no slow shutdown) */
  test_redis_stop(&replica);
  logstate_free(ls);
  ls = open_init(&primary, "min_replicas=1&replica_timeout_ms=300");
  double t0 = test_now_s();
  assert_status(test_put(ls, "log", "v2"), LOGSTATE_UNAVAILABLE);
  expect_error_mentions("replicas");
  assert_true(test_now_s() - t0 < 3.0);
  test_expect_stored(ls, "log", "v2");
  logstate_free(ls);
  test_redis_stop(&primary);
}

/* wait_aof=yes needs WAITAOF (Redis 7.2+): a 7.0 server is refused at
 * init, before anything is written. */
static void test_wait_aof_refused(void **state) {
  (void)state;
  logstate *ls = open_on(&server, "wait_aof=yes");
  assert_status(logstate_init(ls), LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("Redis 7.2");
  assert_int_equal(exists(&server, "EXISTS {%s}:meta"), 0);
  logstate_free(ls);
  assert_status(logstate_open(&ls, "redis://127.0.0.1/?wait_aof=maybe"), LOGSTATE_INVALID_ARGUMENT);
}

/* A log ID of any bytes stays inside its own key: glob characters, braces
 * (a hash tag only at the prefix), newlines, ':' and 1024 bytes; verify
 * (SCAN with an escaped pattern) finds no disagreement. */
static void test_odd_log_ids(void **state) {
  (void)state;
  logstate *ls = open_init(&server, NULL);
  char long_id[LOGSTATE_MAX_LOG_ID_LEN + 1];
  memset(long_id, 'z', LOGSTATE_MAX_LOG_ID_LEN);
  long_id[LOGSTATE_MAX_LOG_ID_LEN] = '\0';
  const char *ids[] = {"*", "?", "[a-z]", "{other}", "}", "{", "a\nb", "a:log:b", "\\", long_id};
  size_t n = sizeof(ids) / sizeof(ids[0]);
  char buf[64];
  for (size_t i = 0; i < n; i++)
    assert_status(test_put(ls, ids[i], ids[i][0] == 'z' ? "long" : ids[i]), LOGSTATE_OK);
  for (size_t i = 0; i < n; i++) {
    redisContext *c = test_redis_admin(&server);
    redisReply *r = redisCommand(c, "HGET {%s}:log:%b checkpoint", prefix, ids[i], strlen(ids[i]));
    assert_int_equal(r->type, REDIS_REPLY_STRING); /* exactly that key */
    assert_string_equal(r->str, ids[i][0] == 'z' ? "long" : ids[i]);
    freeReplyObject(r);
    redisFree(c);
    assert_status(test_get(ls, ids[i], buf, sizeof(buf)), LOGSTATE_OK);
  }
  redisReply *r = test_redis_cmd(&server, "SCARD {%s}:logs", prefix);
  assert_int_equal(r->integer, (long long)n);
  freeReplyObject(r);
  size_t problems = 1;
  assert_status(logstate_verify(ls, NULL, NULL, &problems), LOGSTATE_OK);
  assert_int_equal(problems, 0);
  /* One byte more is refused at the boundary, and stores nothing. */
  char too_long[LOGSTATE_MAX_LOG_ID_LEN + 2];
  memset(too_long, 'y', sizeof(too_long) - 1);
  too_long[sizeof(too_long) - 1] = '\0';
  assert_status(test_put(ls, too_long, "x"), LOGSTATE_INVALID_ARGUMENT);
  r = test_redis_cmd(&server, "SCARD {%s}:logs", prefix);
  assert_int_equal(r->integer, (long long)n);
  freeReplyObject(r);
  logstate_free(ls);
}

/* What min_replicas buys: a set returns OK only once a replica has it, so
 * a failover to that replica (the primary killed, the replica promoted)
 * loses no acknowledged set; the store_id replicates too, so the promoted
 * replica opens as the same, pinned store. (What it does not buy is in the
 * README: WAIT is not consensus, and a set that timed out may or may not be
 * on the replica.) On 127.0.0.1 an unwaited replica usually keeps up too, so
 * this shows the guarantee holds, not that it would fail without WAIT. */
static void test_failover_keeps_acknowledged(void **state) {
  (void)state;
  test_redis primary, replica;
  char conf[64], id[80], url[256];
  assert_int_equal(test_redis_start(&primary, "repl-diskless-sync-delay 0\nshutdown-timeout 0"), 0);
  snprintf(conf, sizeof(conf), "replicaof 127.0.0.1 %d", primary.port);
  assert_int_equal(test_redis_start(&replica, conf), 0);
  assert_true(replica_linked(&replica));
  logstate *ls = open_init(&primary, "min_replicas=1&replica_timeout_ms=5000");
  meta_store_id(&primary, id, sizeof(id));
  unsigned long acked = 0;
  for (int i = 0; i < 200; i++)
    if (logstate_update(ls, "counter", test_fn_increment, NULL) == LOGSTATE_OK)
      acked++;
  assert_int_equal(acked, 200);

  test_redis_kill9(&primary); /* no shutdown: nothing more reaches the replica */
  logstate_free(ls);
  test_redis_stop(&primary);
  test_redis_do(&replica, "REPLICAOF NO ONE");
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=%s&store_id=%s", replica.port, prefix, id);
  logstate *after = NULL;
  assert_status(logstate_open(&after, url), LOGSTATE_OK);
  assert_status(logstate_init(after), LOGSTATE_OK);
  assert_int_equal(test_counter_of(after, "counter"), acked);
  assert_status(logstate_update(after, "counter", test_fn_increment, NULL), LOGSTATE_OK);
  assert_int_equal(test_counter_of(after, "counter"), acked + 1);
  logstate_free(after);
  test_redis_stop(&replica);
}

/* --- URLs and options --------------------------------------------------- */

static void test_urls(void **state) {
  (void)state;
  logstate *ls = NULL;
  const char *bad[] = {
      "redis://",
      "redis://:pw@",
      "redis://127.0.0.1:0/",
      "redis://127.0.0.1:65536/",
      "redis://127.0.0.1:12x/",
      "redis://127.0.0.1/notadb",
      "redis://127.0.0.1/?pool=0",
      "redis://127.0.0.1/?pool=abc",
      "redis://127.0.0.1/?durability=sometimes",
      "redis://127.0.0.1/?guard=maybe",
      "redis://127.0.0.1/?nosuchkey=1",
      "redis://127.0.0.1/?prefix",
      "redis://127.0.0.1/?prefix={x}",
      "redis://127.0.0.1/?prefix=a&prefix=b",
      "redis://127.0.0.1/?prefix=",
      "redis://127.0.0.1/?timeout_ms=99999999999",
      "redis://[::1/",
      "redis://u:p%zz@127.0.0.1/",
      "redis://u:p%00@127.0.0.1/",
      "redis://127.0.0.1/#frag",
      "redis+unix://",
      "redis+unix://relative.sock",
      "redis://user@127.0.0.1/",
  };
  test_expect_bad_urls(bad, sizeof(bad) / sizeof(bad[0]));
  /* A password never appears in a message. */
  assert_status(logstate_open(&ls, "redis://u:Hunter2Secret@127.0.0.1:12x/"), LOGSTATE_INVALID_ARGUMENT);
  expect_error_lacks("Hunter2Secret");
  assert_status(logstate_open(&ls, "redis://u:Hunter2Secret@127.0.0.1/?bad=1"), LOGSTATE_INVALID_ARGUMENT);
  expect_error_lacks("Hunter2Secret");
  /* Nor from the typed options or the environment, refused or failing. */
  logstate_redis_options o = LOGSTATE_REDIS_OPTIONS_INIT;
  o.host = "127.0.0.1";
  o.user = "u";
  o.password = TEST_SECRET;
  o.sentinel_password = TEST_SECRET;
  o.timeout_ms = 99999999;
  assert_status(logstate_redis_open(&ls, &o, NULL), LOGSTATE_INVALID_ARGUMENT);
  expect_error_lacks(TEST_SECRET);
  o.timeout_ms = 300;
  o.sentinel_password = NULL;
  o.port = 1; /* nothing listens: refused */
  assert_status(logstate_redis_open(&ls, &o, NULL), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_UNAVAILABLE);
  expect_error_lacks(TEST_SECRET);
  logstate_free(ls);
  setenv("LOGSTATE_REDIS_PASSWORD", TEST_SECRET, 1);
  assert_status(logstate_open(&ls, "redis://u@127.0.0.1:1/?connect_timeout_ms=300&bad=1"), LOGSTATE_INVALID_ARGUMENT);
  expect_error_lacks(TEST_SECRET);
  assert_status(logstate_open(&ls, "redis://u@127.0.0.1:1/?connect_timeout_ms=300"), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_UNAVAILABLE);
  expect_error_lacks(TEST_SECRET);
  logstate_free(ls);
  unsetenv("LOGSTATE_REDIS_PASSWORD");

  /* Good ones: IPv6, a Unix socket, a database, percent-escapes. */
  char url[512], buf[32];
  snprintf(url, sizeof(url), "redis://[::1]:%d/?prefix=v6", server.port);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  assert_status(test_put(ls, "log", "over-ipv6"), LOGSTATE_OK);
  logstate_free(ls);
  snprintf(url, sizeof(url), "redis+unix://%s?prefix=v6&durability=require", server.sock);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  test_expect_stored(ls, "log", "over-ipv6");
  logstate_free(ls);
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/3?prefix=pct%%2Dname&pool=2&timeout_ms=5000", server.port);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  assert_status(test_put(ls, "log", "in-db-3"), LOGSTATE_OK);
  logstate_free(ls);
  redisContext *c = test_redis_admin(&server);
  freeReplyObject(redisCommand(c, "SELECT 3"));
  redisReply *r = redisCommand(c, "HGET {pct-name}:log:log checkpoint");
  assert_int_equal(r->type, REDIS_REPLY_STRING);
  assert_string_equal(r->str, "in-db-3");
  freeReplyObject(r);
  redisFree(c);
  snprintf(url, sizeof(url), "redis+unix://%s?db=3&prefix=pct-name", server.sock);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(test_get(ls, "log", buf, sizeof(buf)), LOGSTATE_OK);
  assert_string_equal(buf, "in-db-3");
  logstate_free(ls);

  /* Typed options are checked the same way. */
  o = (logstate_redis_options)LOGSTATE_REDIS_OPTIONS_INIT;
  o.prefix = "a{b";
  assert_status(logstate_redis_open(&ls, &o, NULL), LOGSTATE_INVALID_ARGUMENT);
  o = (logstate_redis_options)LOGSTATE_REDIS_OPTIONS_INIT;
  o.version = 42;
  assert_status(logstate_redis_open(&ls, &o, NULL), LOGSTATE_INVALID_ARGUMENT);
  o.version = 1; /* 0.1's struct */
  assert_status(logstate_redis_open(&ls, &o, NULL), LOGSTATE_INVALID_ARGUMENT);
  expect_error_mentions("LOGSTATE_REDIS_OPTIONS_INIT");
  o = (logstate_redis_options)LOGSTATE_REDIS_OPTIONS_INIT;
  o.create = LOGSTATE_CREATE_ON_WRITE; /* SQLite's only */
  assert_status(logstate_redis_open(&ls, &o, NULL), LOGSTATE_INVALID_ARGUMENT);
  expect_error_mentions("create");
  o.create = LOGSTATE_CREATE_NO;
  o.history_bodies = (logstate_flag)3;
  assert_status(logstate_redis_open(&ls, &o, NULL), LOGSTATE_INVALID_ARGUMENT);
  expect_error_mentions("history_bodies");
  assert_status(logstate_open(&ls, "redis://127.0.0.1:1/?create=on_write"), LOGSTATE_INVALID_ARGUMENT);
  expect_error_mentions("create must be yes, no");
  o = (logstate_redis_options)LOGSTATE_REDIS_OPTIONS_INIT;
  o.durability = (logstate_redis_durability)9;
  assert_status(logstate_redis_open(&ls, &o, NULL), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_redis_open(NULL, NULL, NULL), LOGSTATE_INVALID_ARGUMENT);
  /* Nothing listens on port 1: UNAVAILABLE, not a crash. */
  assert_status(logstate_open(&ls, "redis://127.0.0.1:1/?connect_timeout_ms=200"), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_UNAVAILABLE);
  expect_error_mentions("127.0.0.1:1");
  logstate_free(ls);
}

/* --- several processes -------------------------------------------------- */

/* Each child opens its own handle (nothing crosses fork) and makes `rounds`
 * increments on each of `nlogs` logs, starting at a different log. */
static int child_increments(const char *url, int child, int nlogs, int rounds) {
  logstate *ls = NULL;
  logstate_options o = LOGSTATE_OPTIONS_INIT;
  o.update_attempts = 1000;
  if (logstate_open_ext(&ls, url, &o) != LOGSTATE_OK || logstate_init(ls) != LOGSTATE_OK) {
    fprintf(stderr, "child %d: %s\n", child, logstate_last_error());
    return 1;
  }
  char id[64];
  for (int r = 0; r < rounds; r++) {
    for (int j = 0; j < nlogs; j++) {
      snprintf(id, sizeof(id), "%s/%d", COUNTER, (j + child) % nlogs);
      logstate_status st = logstate_update(ls, id, test_fn_increment, NULL);
      if (st != LOGSTATE_OK) {
        fprintf(stderr, "child %d: update: %s: %s\n", child, logstate_status_name(st), logstate_last_error());
        logstate_free(ls);
        return 1;
      }
    }
  }
  logstate_free(ls);
  return 0;
}

static void run_processes(int nprocs, int nlogs, int rounds) {
  char url[256];
  snprintf(prefix, sizeof(prefix), "mp%u", ++prefix_no);
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=%s&timeout_ms=10000", server.port, prefix);
  pid_t pids[16];
  fflush(NULL);
  for (int i = 0; i < nprocs; i++) {
    pids[i] = fork();
    assert_true(pids[i] >= 0);
    if (pids[i] == 0)
      _exit(child_increments(url, i, nlogs, rounds));
  }
  for (int i = 0; i < nprocs; i++) {
    int status = 0;
    assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
  }
  logstate *ls = NULL;
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  char id[64];
  for (int j = 0; j < nlogs; j++) {
    snprintf(id, sizeof(id), "%s/%d", COUNTER, j);
    assert_int_equal(test_counter_of(ls, id), (unsigned long)nprocs * (unsigned long)rounds);
  }
  char **ids;
  size_t n;
  assert_status(logstate_logs(ls, &ids, &n), LOGSTATE_OK);
  assert_int_equal(n, (size_t)nlogs);
  logstate_logs_free(ids, n);
  logstate_free(ls);
}

static void test_processes_one_log(void **state) {
  (void)state;
  run_processes(4, 1, 250); /* ends at exactly 1000 */
}

static void test_processes_twenty_logs(void **state) {
  (void)state;
  run_processes(4, 20, 250); /* each of the 20 logs ends at exactly 1000 */
}

static int group_setup(void **state) {
  (void)state;
  return test_redis_start(&server, NULL);
}

static int group_teardown(void **state) {
  (void)state;
  test_redis_stop(&server);
  return 0;
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_layout),
      cmocka_unit_test(test_round_trip_budget),
      cmocka_unit_test(test_noscript_recovery),
      cmocka_unit_test(test_noscript_mid_run),
      cmocka_unit_test(test_set_script_expects_exact_checkpoint),
      cmocka_unit_test(test_restart_recovers),
      cmocka_unit_test(test_connection_lost_inside_transaction),
      cmocka_unit_test(test_hung_server_times_out),
      cmocka_unit_test(test_stale_watch_does_not_abort),
      cmocka_unit_test(test_pool_exhausted),
      cmocka_unit_test(test_wrong_password),
      cmocka_unit_test(test_acl_users),
      cmocka_unit_test(test_acl_config_users),
      cmocka_unit_test(test_durability_check),
      cmocka_unit_test(test_wrongtype_and_corruption),
      cmocka_unit_test(test_damaged_logs),
      cmocka_unit_test(test_verify),
      cmocka_unit_test(test_verify_configs),
      cmocka_unit_test(test_rollback_detected),
      cmocka_unit_test(test_store_identity),
      cmocka_unit_test(test_server_out_of_memory),
      cmocka_unit_test(test_guard_size),
      cmocka_unit_test(test_replicas),
      cmocka_unit_test(test_failover_keeps_acknowledged),
      cmocka_unit_test(test_wait_aof_refused),
      cmocka_unit_test(test_odd_log_ids),
      cmocka_unit_test(test_urls),
      cmocka_unit_test(test_processes_one_log),
      cmocka_unit_test(test_processes_twenty_logs),
  };
  /* "--no-fork": the tests that fork children are left out (ThreadSanitizer
   * builds, where fork after threads is not supported). */
  if (argc > 1 && strcmp(argv[1], "--no-fork") == 0)
    return _cmocka_run_group_tests("redis", tests, sizeof(tests) / sizeof(tests[0]) - 2, group_setup, group_teardown);
  return cmocka_run_group_tests_name("redis", tests, group_setup, group_teardown);
}

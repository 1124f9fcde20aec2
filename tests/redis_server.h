/* SPDX-License-Identifier: Apache-2.0 */
/* A throwaway redis-server for tests: 127.0.0.1 on a free port, a temporary
 * directory, appendonly yes + appendfsync always, stopped by pid. It dies
 * with the test process (PR_SET_PDEATHSIG) even if the test crashes. */
#ifndef LOGSTATE_TEST_REDIS_SERVER_H
#define LOGSTATE_TEST_REDIS_SERVER_H

#include <hiredis/hiredis.h>
#include <sys/types.h>

typedef struct test_redis {
  pid_t pid;
  int port;
  char dir[256];
  char sock[300];
  char extra[2048];  /* extra redis.conf lines */
  int sentinel;      /* runs redis-server --sentinel with `extra` as its config */
  int loading_is_up; /* a (re)start returns while the server still answers LOADING */
} test_redis;

/* The monotonic clock in seconds, and a sleep, for bounded waits. */
double test_now_s(void);
void test_pause_ms(long ms);

/* Starts a server; `extra` (may be NULL) is appended to redis.conf. Waits
 * until it answers PING (up to 20 s). Returns 0 on success. */
int test_redis_start(test_redis *s, const char *extra);
/* Starts a sentinel (redis-server --sentinel) on a free port; `conf` holds
 * its sentinel lines (monitor, down-after-milliseconds, ...). Stopped and
 * removed like a server. Returns 0 on success. */
int test_sentinel_start(test_redis *s, const char *conf);
/* Starts it again on the same port and directory (the AOF is reloaded). */
int test_redis_restart(test_redis *s);
/* Stops the server (SIGTERM, then SIGKILL) and keeps its directory. */
void test_redis_stop_keep(test_redis *s);
/* Kills it with SIGKILL: no chance to flush anything. */
void test_redis_kill9(test_redis *s);
/* Stops it and removes its directory. */
void test_redis_stop(test_redis *s);
/* A new admin connection (caller frees with redisFree); NULL on failure. */
redisContext *test_redis_admin(const test_redis *s);
/* Whether the text `command` ("INFO replication", "CLUSTER INFO": words
 * split at spaces) returns holds `what` now; 0 when the server is away. */
int test_redis_info_has(const test_redis *s, const char *command, const char *what);
/* Waits (bounded by `seconds`) until it does; 1 if it did. */
int test_redis_wait_info(const test_redis *s, const char *command, const char *what, double seconds);
/* Creates (afresh) user `name` with password `pass` by the README's own
 * "ACL SETUSER `kind` ..." line (kind: "witness" or "operator"), its
 * namespace {logstate} replaced by `ns` (a glob is allowed: "conf-*") and
 * `extra` rules (may be NULL) appended. So the tests run exactly the rules
 * the README documents. Returns 0, or -1 with a message on stderr. */
/* What the README's "ACL rules" say history=K and client_name add to the
 * witness user. */
#define TEST_HISTORY_ACL "+xadd +xlen +xrevrange +client|setname"
int test_redis_readme_acl(const test_redis *s, const char *kind, const char *name, const char *pass, const char *ns,
                          const char *extra);
/* Runs one command on a new admin connection; the caller frees the reply.
 * Aborts the test program when the server cannot be reached. */
redisReply *test_redis_cmd(const test_redis *s, const char *fmt, ...);
/* As test_redis_cmd(), for commands whose reply does not matter. */
void test_redis_do(const test_redis *s, const char *fmt, ...);

#endif

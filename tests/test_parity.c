/* SPDX-License-Identifier: Apache-2.0 */
/* Sync/async parity: each Redis failure the library maps (WRONGTYPE, OOM,
 * NOPERM, WRONGPASS, READONLY, LOADING, NOSCRIPT, a timeout) is provoked
 * on a real server, and the same operation through the sync API and the
 * async API must end with the same status. LOADING comes from a tiny fake
 * server that answers every command with it: a real server only says it
 * while it loads a large dataset. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "logstate/async.h"
#include "logstate/logstate.h"
#include "redis_server.h"

#include "test_util.h"

static test_redis server;
static struct event_base *evb;
static unsigned int prefix_no;

typedef enum { OP_INIT, OP_GET, OP_SET, OP_UPDATE } op_kind;

static logstate_status fn_write(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len,
                                void *arg) {
  (void)cur, (void)cur_len, (void)arg;
  *out_next = (uint8_t *)strdup("via update");
  *out_next_len = strlen("via update");
  return LOGSTATE_OK;
}

/* --- one operation through each API ------------------------------------- */

static logstate_status run_sync(const char *url, op_kind kind, const char *id) {
  logstate *ls = NULL;
  logstate_status st = logstate_open(&ls, url);
  if (st != LOGSTATE_OK)
    return st;
  char buf[64];
  switch (kind) {
  case OP_INIT:
    st = logstate_init(ls);
    break;
  case OP_GET:
    st = test_get(ls, id, buf, sizeof(buf));
    break;
  case OP_SET:
    st = test_put(ls, id, "via set");
    break;
  case OP_UPDATE:
    st = logstate_update(ls, id, fn_write, NULL);
    break;
  }
  logstate_free(ls);
  return st;
}

typedef struct rec {
  int calls;
  logstate_status st;
  logstate_async_write *w;
} rec;

static void on_done(logstate_status st, void *arg) {
  ((rec *)arg)->st = st;
  ((rec *)arg)->calls++;
}
static void on_get(logstate_status st, const uint8_t *cp, size_t len, void *arg) {
  (void)cp, (void)len;
  on_done(st, arg);
}
static void on_open(logstate_status st, logstate_async_write *w, void *arg) {
  ((rec *)arg)->w = w;
  on_done(st, arg);
}

static logstate_status wait_rec(rec *r) {
  double deadline = test_now_s() + 30;
  while (r->calls == 0) {
    if (test_now_s() > deadline)
      fail_msg("async callback never came");
    struct timeval tick = {0, 20000};
    event_base_loopexit(evb, &tick);
    event_base_loop(evb, EVLOOP_ONCE);
  }
  assert_int_equal(r->calls, 1);
  return r->st;
}

static logstate_status run_async(const char *url, op_kind kind, const char *id) {
  logstate_async *a = NULL;
  logstate_status st = logstate_async_open(&a, evb, url, NULL);
  if (st != LOGSTATE_OK)
    return st;
  rec r = {0};
  switch (kind) {
  case OP_INIT:
    assert_status(logstate_async_init(a, on_done, &r), LOGSTATE_OK);
    break;
  case OP_GET:
    assert_status(logstate_async_get_latest(a, id, on_get, &r), LOGSTATE_OK);
    break;
  case OP_SET:
    assert_status(logstate_async_write_ops(a, id, on_open, &r), LOGSTATE_OK);
    if (wait_rec(&r) == LOGSTATE_OK) {
      rec s = {0};
      assert_status(logstate_async_write_set(r.w, (const uint8_t *)"via set", 7, on_done, &s), LOGSTATE_OK);
      st = wait_rec(&s);
      logstate_async_write_close(r.w);
      logstate_async_free(a);
      return st;
    }
    break;
  case OP_UPDATE:
    assert_status(logstate_async_update(a, id, fn_write, NULL, on_done, &r), LOGSTATE_OK);
    break;
  }
  st = wait_rec(&r);
  logstate_async_free(a);
  return st;
}

static const char *const kind_name[] = {"init", "get", "set", "update"};

/* Both APIs must give `want` for `kind`. */
static void expect_both(const char *url, op_kind kind, const char *id, logstate_status want) {
  logstate_status s = run_sync(url, kind, id);
  char sync_msg[512];
  snprintf(sync_msg, sizeof(sync_msg), "%s", logstate_last_error());
  logstate_status a = run_async(url, kind, id);
  if (s != want || a != want)
    fail_msg("%s on %s: sync %s (%s), async %s (%s); expected %s", kind_name[kind], id, logstate_status_name(s),
             sync_msg, logstate_status_name(a), logstate_last_error(), logstate_status_name(want));
}

static const char *url_for(const test_redis *s, const char *userinfo, const char *query) {
  static char url[512];
  snprintf(url, sizeof(url), "redis://%s127.0.0.1:%d/?prefix=parity%u%s%s", userinfo ? userinfo : "", s->port,
           ++prefix_no, query ? "&" : "", query ? query : "");
  return url;
}

/* --- cases -------------------------------------------------------------- */

static void test_wrongtype(void **state) {
  (void)state;
  const char *url = url_for(&server, NULL, NULL);
  char key[64];
  snprintf(key, sizeof(key), "{parity%u}:log:str", prefix_no);
  test_redis_do(&server, "SET %s oops", key);
  expect_both(url, OP_INIT, NULL, LOGSTATE_OK);
  expect_both(url, OP_GET, "str", LOGSTATE_INTERNAL);
  expect_both(url, OP_SET, "str", LOGSTATE_INTERNAL);
  expect_both(url, OP_UPDATE, "str", LOGSTATE_INTERNAL);
}

static void test_oom(void **state) {
  (void)state;
  const char *url = url_for(&server, NULL, NULL);
  expect_both(url, OP_INIT, NULL, LOGSTATE_OK);
  test_redis_do(&server, "CONFIG SET maxmemory 1");
  expect_both(url, OP_SET, "log", LOGSTATE_RESOURCE_EXHAUSTED);
  expect_both(url, OP_UPDATE, "log", LOGSTATE_RESOURCE_EXHAUSTED);
  test_redis_do(&server, "CONFIG SET maxmemory 0");
  expect_both(url, OP_GET, "log", LOGSTATE_NOT_FOUND); /* nothing partial was stored */
}

static void test_noperm_and_wrongpass(void **state) {
  (void)state;
  const char *url = url_for(&server, NULL, NULL);
  expect_both(url, OP_INIT, NULL, LOGSTATE_OK);
  unsigned int p = prefix_no;
  test_redis_do(&server, "ACL SETUSER limited reset on >lpass ~{parity%u}:* +@all -evalsha -evalsha_ro", p);
  char url2[512];
  snprintf(url2, sizeof(url2), "redis://limited:lpass@127.0.0.1:%d/?prefix=parity%u&durability=ignore", server.port, p);
  expect_both(url2, OP_GET, "log", LOGSTATE_NOT_FOUND);
  expect_both(url2, OP_SET, "log", LOGSTATE_PERMISSION_DENIED);
  expect_both(url2, OP_UPDATE, "log", LOGSTATE_PERMISSION_DENIED);
  snprintf(url2, sizeof(url2), "redis://limited:wrong@127.0.0.1:%d/?prefix=parity%u", server.port, p);
  expect_both(url2, OP_INIT, NULL, LOGSTATE_PERMISSION_DENIED);
  expect_both(url2, OP_GET, "log", LOGSTATE_PERMISSION_DENIED);
  test_redis_do(&server, "ACL DELUSER limited");
}

static void test_readonly_replica(void **state) {
  (void)state;
  test_redis replica;
  char extra[64];
  snprintf(extra, sizeof(extra), "replicaof 127.0.0.1 %d", server.port);
  assert_int_equal(test_redis_start(&replica, extra), 0);
  const char *url = url_for(&replica, NULL, NULL);
  expect_both(url, OP_SET, "log", LOGSTATE_UNAVAILABLE);
  expect_both(url, OP_UPDATE, "log", LOGSTATE_UNAVAILABLE);
  test_redis_stop(&replica);
}

static void test_noscript(void **state) {
  (void)state;
  const char *url = url_for(&server, NULL, NULL);
  expect_both(url, OP_INIT, NULL, LOGSTATE_OK);
  test_redis_do(&server, "SCRIPT FLUSH");
  assert_status(run_sync(url, OP_SET, "a"), LOGSTATE_OK);
  test_redis_do(&server, "SCRIPT FLUSH");
  assert_status(run_async(url, OP_SET, "b"), LOGSTATE_OK);
  test_redis_do(&server, "SCRIPT FLUSH");
  expect_both(url, OP_UPDATE, "c", LOGSTATE_OK);
}

static void test_timeout(void **state) {
  (void)state;
  test_redis own;
  assert_int_equal(test_redis_start(&own, NULL), 0);
  const char *url = url_for(&own, NULL, "timeout_ms=300");
  expect_both(url, OP_INIT, NULL, LOGSTATE_OK);
  kill(own.pid, SIGSTOP);
  double t0 = test_now_s();
  expect_both(url, OP_GET, "log", LOGSTATE_UNAVAILABLE);
  expect_both(url, OP_SET, "log", LOGSTATE_UNAVAILABLE);
  double took = test_now_s() - t0;
  kill(own.pid, SIGCONT);
  /* Four operations, each bounded by 300 ms per request (a sync connect
   * waits for the connect timeout too). */
  if (took > 10)
    fail_msg("timeouts not honoured: %.1f s", took);
  test_redis_stop(&own);
}

/* --- a fake server that is always loading ------------------------------- */

typedef struct fake {
  int listen_fd, port;
  pthread_t thread;
  volatile int stop;
} fake;

/* Counts complete RESP commands in buf[0..n): each is "*N\r\n" followed by
 * N "$len\r\n<bytes>\r\n"; returns the bytes they take. */
static size_t whole_commands(const char *buf, size_t n, int *count) {
  size_t at = 0;
  *count = 0;
  for (;;) {
    size_t p = at;
    if (p >= n || buf[p] != '*')
      return at;
    long args = strtol(buf + p + 1, NULL, 10);
    const char *nl = memchr(buf + p, '\n', n - p);
    if (nl == NULL)
      return at;
    p = (size_t)(nl - buf) + 1;
    for (long i = 0; i < args; i++) {
      if (p >= n || buf[p] != '$' || (nl = memchr(buf + p, '\n', n - p)) == NULL)
        return at;
      long len = strtol(buf + p + 1, NULL, 10);
      p = (size_t)(nl - buf) + 1 + (size_t)len + 2;
      if (p > n)
        return at;
    }
    at = p;
    ++*count;
  }
}

static void serve(int fd, fake *f) {
  static const char loading[] = "-LOADING Redis is loading the dataset in memory\r\n";
  char buf[65536];
  size_t have = 0;
  while (!f->stop) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0)
      continue;
    ssize_t got = read(fd, buf + have, sizeof(buf) - have);
    if (got <= 0)
      return;
    have += (size_t)got;
    int count;
    size_t used = whole_commands(buf, have, &count);
    for (int i = 0; i < count; i++)
      if (send(fd, loading, sizeof(loading) - 1, MSG_NOSIGNAL) < 0)
        return;
    memmove(buf, buf + used, have - used);
    have -= used;
  }
}

static void *fake_main(void *arg) {
  fake *f = arg;
  while (!f->stop) {
    struct pollfd p = {f->listen_fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0)
      continue;
    int fd = accept(f->listen_fd, NULL, NULL);
    if (fd >= 0) {
      serve(fd, f);
      close(fd);
    }
  }
  return NULL;
}

static void test_loading(void **state) {
  (void)state;
  fake f = {0};
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(a);
  f.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(f.listen_fd >= 0);
  assert_int_equal(bind(f.listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(listen(f.listen_fd, 8), 0);
  assert_int_equal(getsockname(f.listen_fd, (struct sockaddr *)&a, &len), 0);
  f.port = ntohs(a.sin_port);
  assert_int_equal(pthread_create(&f.thread, NULL, fake_main, &f), 0);
  char url[256];
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?timeout_ms=2000", f.port);
  expect_both(url, OP_INIT, NULL, LOGSTATE_UNAVAILABLE);
  expect_both(url, OP_GET, "log", LOGSTATE_UNAVAILABLE);
  expect_both(url, OP_SET, "log", LOGSTATE_UNAVAILABLE);
  f.stop = 1;
  pthread_join(f.thread, NULL);
  close(f.listen_fd);
}

static int group_setup(void **state) {
  (void)state;
  evb = event_base_new();
  return evb ? test_redis_start(&server, NULL) : -1;
}

static int group_teardown(void **state) {
  (void)state;
  test_redis_stop(&server);
  event_base_free(evb);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wrongtype),
      cmocka_unit_test(test_oom),
      cmocka_unit_test(test_noperm_and_wrongpass),
      cmocka_unit_test(test_readonly_replica),
      cmocka_unit_test(test_noscript),
      cmocka_unit_test(test_timeout),
      cmocka_unit_test(test_loading),
  };
  return cmocka_run_group_tests_name("sync/async parity", tests, group_setup, group_teardown);
}

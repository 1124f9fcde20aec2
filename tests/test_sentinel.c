/* SPDX-License-Identifier: Apache-2.0 */
/* Redis Sentinel, on real processes started here (127.0.0.1, free ports):
 * redis+sentinel:// URLs, finding the primary (sync and async), a SIGKILL
 * failover under sync and async writers with min_replicas=1 (no
 * acknowledged update lost, no writer reading backwards), and a forced
 * rollback (a replica held behind, then promoted) that the library reports
 * instead of serving the older checkpoint. The figures go to stdout for the
 * closing note. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logstate/async.h"
#include "logstate/logstate.h"
#include "logstate/redis.h"
#include "redis_server.h"
#include "tcp_proxy.h"
#include "writers.h"

#include "test_util.h"

#define NAME "lsprimary"
#define MAX_REPLICAS 2
#define SENTINELS 3
#define PENDING ((logstate_status)1000) /* no callback yet */

static void expect_error_mentions(const char *word) {
  if (strstr(logstate_last_error(), word) == NULL)
    fail_msg("last error \"%s\" does not mention \"%s\"", logstate_last_error(), word);
}

/* --- a primary, its replicas and three sentinels ------------------------ */

typedef struct group {
  test_redis primary, replicas[MAX_REPLICAS], sentinels[SENTINELS];
  int nreplicas;
} group;

/* "INFO replication" of `s` holds `what`. */
static int info_has(const test_redis *s, const char *what) { return test_redis_info_has(s, "INFO replication", what); }

/* An integer field of SENTINEL master NAME, or -1. */
static long sentinel_master_field(const test_redis *s, const char *field) {
  redisContext *c = test_redis_admin(s);
  redisReply *r = c ? redisCommand(c, "SENTINEL master %s", NAME) : NULL;
  long v = -1;
  for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
    if (strcmp(r->element[i]->str, field) == 0)
      v = strtol(r->element[i + 1]->str, NULL, 10);
  if (r)
    freeReplyObject(r);
  if (c)
    redisFree(c);
  return v;
}

/* The port the sentinel `s` names as the primary, or -1. */
static int named_primary(const test_redis *s) {
  redisContext *c = test_redis_admin(s);
  redisReply *r = c ? redisCommand(c, "SENTINEL get-master-addr-by-name %s", NAME) : NULL;
  int port = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? atoi(r->element[1]->str) : -1;
  if (r)
    freeReplyObject(r);
  if (c)
    redisFree(c);
  return port;
}

/* Waits (bounded) until every replica is linked and every sentinel knows
 * the replicas and the two other sentinels: a failover started earlier
 * fails. */
static int group_ready(const group *g, double seconds) {
  double deadline = test_now_s() + seconds;
  while (test_now_s() < deadline) {
    int ok = 1;
    for (int i = 0; i < g->nreplicas && ok; i++)
      ok = info_has(&g->replicas[i], "master_link_status:up");
    for (int i = 0; i < SENTINELS && ok; i++)
      ok = sentinel_master_field(&g->sentinels[i], "num-slaves") == g->nreplicas &&
           sentinel_master_field(&g->sentinels[i], "num-other-sentinels") == SENTINELS - 1;
    if (ok)
      return 1;
    test_pause_ms(50);
  }
  return 0;
}

/* Starts the group; replica 0 replicates through `via` when given (a proxy
 * to the primary that the test can freeze). */
static void group_start(group *g, int nreplicas, tcp_proxy **via) {
  char conf[512];
  memset(g, 0, sizeof(*g));
  g->nreplicas = nreplicas;
  assert_int_equal(test_redis_start(&g->primary, "repl-diskless-sync-delay 0\nshutdown-timeout 0"), 0);
  for (int i = 0; i < nreplicas; i++) {
    int port = g->primary.port;
    if (i == 0 && via) {
      assert_non_null(*via = tcp_proxy_start(g->primary.port));
      port = tcp_proxy_port(*via);
    }
    snprintf(conf, sizeof(conf), "replicaof 127.0.0.1 %d\nrepl-diskless-sync-delay 0\nshutdown-timeout 0", port);
    assert_int_equal(test_redis_start(&g->replicas[i], conf), 0);
  }
  for (int i = 0; i < SENTINELS; i++) {
    snprintf(conf, sizeof(conf),
             "sentinel monitor %s 127.0.0.1 %d 2\nsentinel down-after-milliseconds %s 1000\n"
             "sentinel failover-timeout %s 4000\nsentinel parallel-syncs %s 1\n",
             NAME, g->primary.port, NAME, NAME, NAME);
    assert_int_equal(test_sentinel_start(&g->sentinels[i], conf), 0);
  }
  assert_true(group_ready(g, 30));
}

static void group_stop(group *g) {
  for (int i = 0; i < SENTINELS; i++)
    test_redis_stop(&g->sentinels[i]);
  for (int i = 0; i < g->nreplicas; i++)
    test_redis_stop(&g->replicas[i]);
  test_redis_stop(&g->primary);
}

/* redis+sentinel://s1,s2,s3/NAME?prefix=...&<query> */
static void group_url(const group *g, char *buf, size_t n, const char *prefix, const char *query) {
  snprintf(buf, n, "redis+sentinel://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/%s?prefix=%s&connect_timeout_ms=500%s%s",
           g->sentinels[0].port, g->sentinels[1].port, g->sentinels[2].port, NAME, prefix, query ? "&" : "",
           query ? query : "");
}

/* Waits (bounded) until a sentinel names a primary other than `old`. */
static int failed_over(const group *g, int old, double seconds) {
  double deadline = test_now_s() + seconds;
  while (test_now_s() < deadline) {
    int p = named_primary(&g->sentinels[0]);
    if (p > 0 && p != old)
      return p;
    test_pause_ms(50);
  }
  return -1;
}

/* --- URLs --------------------------------------------------------------- */

static void test_sentinel_urls(void **state) {
  (void)state;
  logstate *ls = NULL;
  const char *bad[] = {
      "redis+sentinel://",
      "redis+sentinel://127.0.0.1:26379",
      "redis+sentinel://127.0.0.1:26379/",
      "redis+sentinel:///name",
      "redis+sentinel://h:0/name",
      "redis+sentinel://h:1,/name",
      "redis+sentinel://,h/name",
      "redis+sentinel://[::1/name",
      "redis+sentinel://[::1]x/name",
      "redis+sentinel://h/name/x",
      "redis+sentinel://h/na%20me",
      "redis+sentinel://h/name?sentinel_user=u",
      "redis+sentinel://h/name?sentinel_password=a&sentinel_password=b",
      "redis+sentinel://h/name?db=1",
      "redis://127.0.0.1/?sentinel_password=x",
      "redis+sentinel://a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q/name",
  };
  test_expect_bad_urls(bad, sizeof(bad) / sizeof(bad[0]));
  /* Neither password in a message, even when nothing answers. */
  assert_status(logstate_open(&ls, "redis+sentinel://u:Hunter2Data@127.0.0.1:1/m?sentinel_password=Hunter2Sent&x=1"),
                LOGSTATE_INVALID_ARGUMENT);
  assert_null(strstr(logstate_last_error(), "Hunter2"));
  assert_status(logstate_open(&ls,
                              "redis+sentinel://u:Hunter2Data@127.0.0.1:1,[::1]:2,localhost/m/3"
                              "?sentinel_user=s&sentinel_password=Hunter2Sent&timeout_ms=300&connect_timeout_ms=300"),
                LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_UNAVAILABLE);
  expect_error_mentions("no sentinel named it (3 asked");
  expect_error_mentions("localhost:26379"); /* the default sentinel port */
  assert_null(strstr(logstate_last_error(), "Hunter2"));
  logstate_free(ls);

  /* Typed options: the same rules. */
  logstate_redis_options o = LOGSTATE_REDIS_OPTIONS_INIT;
  o.sentinels = "127.0.0.1:26379";
  assert_status(logstate_redis_open(&ls, &o, NULL), LOGSTATE_INVALID_ARGUMENT); /* no master_name */
  o.master_name = "has space";
  assert_status(logstate_redis_open(&ls, &o, NULL), LOGSTATE_INVALID_ARGUMENT);
  o.master_name = "m";
  o.unix_path = "/run/redis.sock";
  assert_status(logstate_redis_open(&ls, &o, NULL), LOGSTATE_INVALID_ARGUMENT);
  o.unix_path = NULL;
  o.sentinels = NULL;
  assert_status(logstate_redis_open(&ls, &o, NULL), LOGSTATE_INVALID_ARGUMENT); /* master_name alone */
  o.sentinels = "127.0.0.1:1";
  assert_status(logstate_redis_open(&ls, &o, NULL), LOGSTATE_OK);
  logstate_free(ls);
}

/* --- finding the primary ------------------------------------------------ */

static void async_done(logstate_status st, void *arg) {
  logstate_status *out = arg;
  *out = st;
}

static void async_got(logstate_status st, const uint8_t *cp, size_t len, void *arg) {
  logstate_status *out = arg;
  *out = st != LOGSTATE_OK || (len == 2 && memcmp(cp, "v1", 2) == 0) ? st : LOGSTATE_INTERNAL;
}

static void async_done_get(logstate_status st, const uint8_t *cp, size_t len, void *arg) {
  (void)cp, (void)len;
  *(logstate_status *)arg = st;
}

/* Runs the loop until *st is no longer `pending` (bounded). */
static void run_until(struct event_base *evb, const logstate_status *st, logstate_status pending) {
  double deadline = test_now_s() + 20;
  while (*st == pending && test_now_s() < deadline)
    event_base_loop(evb, EVLOOP_ONCE);
  assert_true(*st != pending);
}

static void test_sentinel_finds_primary(void **state) {
  (void)state;
  group g;
  char url[512], buf[64];
  group_start(&g, 1, NULL);
  group_url(&g, url, sizeof(url), "found", NULL);
  logstate *ls = NULL;
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  assert_status(test_put(ls, "log", "v1"), LOGSTATE_OK);
  assert_status(test_get(ls, "log", buf, sizeof(buf)), LOGSTATE_OK);
  assert_string_equal(buf, "v1");
  logstate_free(ls);
  /* Stored on the primary the sentinels name. */
  redisReply *r = test_redis_cmd(&g.primary, "HGET {found}:log:log checkpoint");
  assert_int_equal(r->type, REDIS_REPLY_STRING);
  assert_string_equal(r->str, "v1");
  freeReplyObject(r);

  /* The async API through the same URL. */
  struct event_base *evb = event_base_new();
  logstate_async *a = NULL;
  logstate_status st = PENDING;
  assert_status(logstate_async_open(&a, evb, url, NULL), LOGSTATE_OK);
  assert_status(logstate_async_init(a, async_done, &st), LOGSTATE_OK);
  run_until(evb, &st, PENDING);
  assert_status(st, LOGSTATE_OK);
  st = PENDING;
  assert_status(logstate_async_get_latest(a, "log", async_got, &st), LOGSTATE_OK);
  run_until(evb, &st, PENDING);
  assert_status(st, LOGSTATE_OK);
  logstate_async_free(a);

  /* A first sentinel that is down is skipped; a name no sentinel monitors
   * is UNAVAILABLE and says so. */
  snprintf(url, sizeof(url), "redis+sentinel://127.0.0.1:1,127.0.0.1:%d/%s?prefix=found&connect_timeout_ms=300",
           g.sentinels[1].port, NAME);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(test_get(ls, "log", buf, sizeof(buf)), LOGSTATE_OK);
  logstate_free(ls);
  snprintf(url, sizeof(url), "redis+sentinel://127.0.0.1:%d/nosuchname?prefix=found", g.sentinels[0].port);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_UNAVAILABLE);
  expect_error_mentions("does not monitor a master named nosuchname");
  logstate_free(ls);
  st = PENDING;
  assert_status(logstate_async_open(&a, evb, url, NULL), LOGSTATE_OK);
  assert_status(logstate_async_init(a, async_done, &st), LOGSTATE_OK);
  run_until(evb, &st, PENDING);
  assert_status(st, LOGSTATE_UNAVAILABLE);
  expect_error_mentions("does not monitor a master named nosuchname");
  logstate_async_free(a);
  event_base_free(evb);

  /* A URL that names a replica's sentinel entry wrongly is caught by ROLE:
   * here a "sentinel" that is in fact the replica cannot answer at all. */
  snprintf(url, sizeof(url), "redis+sentinel://127.0.0.1:%d/%s?prefix=found", g.replicas[0].port, NAME);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_UNAVAILABLE);
  logstate_free(ls);
  group_stop(&g);
}

static unsigned long counter_on(const test_redis *s, const char *prefix);

/* Retries `op` while UNAVAILABLE, as a caller does (bounded): its status. */
#define RETRY_UNAVAILABLE(st, op)                                                                                      \
  do {                                                                                                                 \
    double until_ = test_now_s() + 30;                                                                                 \
    while (((st) = (op)) == LOGSTATE_UNAVAILABLE && test_now_s() < until_)                                             \
      test_pause_ms(50);                                                                                               \
  } while (0)

/* Writers write different bytes (their origin lines differ): a set retried
 * after a lost connection counts as applied when it finds exactly its bytes
 * one version on, and identical bytes from another writer would make one
 * counter increment look applied twice. (For a witness, identical bytes
 * are the same checkpoint, so that is the state it asked for.) */
static void async_update_once(struct event_base *evb, logstate_async *a, logstate_status *st) {
  *st = PENDING;
  assert_status(logstate_async_update(a, "counter", test_fn_increment, "async.example", async_done, st), LOGSTATE_OK);
  run_until(evb, st, PENDING);
}

/* SENTINEL FAILOVER: the old primary lives on as a replica, so pooled
 * connections to it now get READONLY (or ROLE says replica on a new one);
 * the handles find the new primary with nothing but the caller's retry of
 * UNAVAILABLE, and no update is lost or doubled. */
static void test_sentinel_switchover(void **state) {
  (void)state;
  group g;
  char url[512];
  group_start(&g, 1, NULL);
  group_url(&g, url, sizeof(url), "sw", "min_replicas=1&replica_timeout_ms=2000");
  logstate *ls = NULL;
  struct event_base *evb = event_base_new();
  logstate_async *a = NULL;
  logstate_status st;
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_async_open(&a, evb, url, NULL), LOGSTATE_OK);
  assert_status(logstate_update(ls, "counter", test_fn_increment, "sync.example"), LOGSTATE_OK);
  async_update_once(evb, a, &st);
  assert_status(st, LOGSTATE_OK);

  int old = g.primary.port;
  test_redis_do(&g.sentinels[0], "SENTINEL FAILOVER %s", NAME);
  assert_int_equal(failed_over(&g, old, 30), g.replicas[0].port);
  double until = test_now_s() + 30; /* the old primary is a linked replica now (needed by min_replicas=1) */
  while (!info_has(&g.primary, "master_link_status:up") && test_now_s() < until)
    test_pause_ms(50);
  assert_true(info_has(&g.primary, "master_link_status:up"));
  unsigned long unavailable = 0;
  double t0 = test_now_s();
  while ((st = logstate_update(ls, "counter", test_fn_increment, "sync.example")) == LOGSTATE_UNAVAILABLE &&
         test_now_s() < t0 + 30) {
    unavailable++;
    test_pause_ms(50);
  }
  assert_status(st, LOGSTATE_OK);
  double sync_s = test_now_s() - t0;
  t0 = test_now_s();
  do
    async_update_once(evb, a, &st);
  while (st == LOGSTATE_UNAVAILABLE && test_now_s() < t0 + 30 && (unavailable++, test_pause_ms(50), 1));
  assert_status(st, LOGSTATE_OK);
  printf("switchover: sync handle wrote again after %.2f s, async after %.2f s, %lu UNAVAILABLE retried\n", sync_s,
         test_now_s() - t0, unavailable);
  /* Each acknowledged update exactly once, on the new primary. */
  unsigned long on_new = counter_on(&g.replicas[0], "sw");
  if (on_new != 4)
    fail_msg("the new primary holds %lu, expected 4 (%s)", on_new, logstate_last_error());
  RETRY_UNAVAILABLE(st, logstate_update(ls, "counter", test_fn_increment, "sync.example"));
  assert_status(st, LOGSTATE_OK);
  assert_int_equal(counter_on(&g.replicas[0], "sw"), 5);
  logstate_async_free(a);
  event_base_free(evb);
  logstate_free(ls);
  group_stop(&g);
}

/* --- a failover under writers ------------------------------------------ */

#define WRITERS 3 /* two sync, one async */

/* 1 primary, 2 replicas, 3 sentinels; two sync writers and one async
 * writer increment one counter with min_replicas=1; the primary is killed
 * with SIGKILL. Every acknowledged update must be on the new primary. */
static void test_sentinel_failover(void **state) {
  (void)state;
  group g;
  test_writer w[WRITERS];
  memset(w, 0, sizeof(w));
  group_start(&g, 2, NULL);
  for (int i = 0; i < WRITERS; i++) {
    group_url(&g, w[i].url, sizeof(w[i].url), "fo", "min_replicas=1&replica_timeout_ms=2000&timeout_ms=1000");
    w[i].use_async = i == WRITERS - 1;
  }
  test_writers_start(w, WRITERS);
  assert_true(test_writers_reach(w, WRITERS, 0, NULL, 50, 60));

  int old = g.primary.port;
  double t0 = test_now_s();
  test_writers_fault();
  test_redis_kill9(&g.primary);
  int now_primary = failed_over(&g, old, 60);
  double promoted_s = test_now_s() - t0;
  int recovered = test_writers_reach(w, WRITERS, 1, NULL, 20, 60);
  test_writers_stop(w, WRITERS);
  assert_true(now_primary > 0);
  assert_true(recovered);

  char url[512];
  logstate *ls = NULL;
  group_url(&g, url, sizeof(url), "fo", NULL);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  unsigned long final = test_counter_of(ls, "counter");
  logstate_free(ls);
  unsigned long acked = test_writers_acked(w, WRITERS), unknown = test_writers_unknown(w, WRITERS), rollbacks = 0,
                after = 0;
  double slowest = 0;
  for (int i = 0; i < WRITERS; i++) {
    slowest = w[i].recovery_s > slowest ? w[i].recovery_s : slowest;
    rollbacks += w[i].rollbacks;
    after += atomic_load(&w[i].acked_after_fault);
  }
  printf("sentinel failover: %lu acknowledged updates (%lu after the kill), %lu unknown outcomes, %lu rollbacks "
         "refused, final counter %lu, lost 0 of %lu acknowledged; sentinels promoted port %d after %.2f s; writes "
         "acknowledged again after %.2f s (slowest writer)\n",
         acked, after, unknown, rollbacks, final, acked, now_primary, promoted_s, slowest);
  for (int i = 0; i < WRITERS; i++) {
    printf("  writer %d (%s): %lu acknowledged, %lu unknown, %lu rollbacks refused, recovered after %.2f s\n", i,
           w[i].use_async ? "async" : "sync", atomic_load(&w[i].acked), w[i].unknown, w[i].rollbacks, w[i].recovery_s);
    assert_int_equal(w[i].lower_reads, 0); /* no writer read the counter going backwards */
    assert_int_equal(w[i].other, 0);
    assert_true(final >= w[i].acked_value); /* every writer's acknowledged value survived */
  }
  assert_true(final >= acked);           /* one increment per acknowledged update */
  assert_true(final <= acked + unknown); /* and nothing that was not attempted */
  group_stop(&g);
}

/* --- a forced rollback --------------------------------------------------- */

/* The counter on `s` (a server of the group), or 0 when absent. */
static unsigned long counter_on(const test_redis *s, const char *prefix) {
  redisReply *r = test_redis_cmd(s, "HGET {%s}:log:counter checkpoint", prefix);
  unsigned long n = r->type == REDIS_REPLY_STRING ? test_counter_parse((const uint8_t *)r->str, r->len) : 0;
  freeReplyObject(r);
  return n;
}

static int replica_has(const test_redis *s, const char *prefix, unsigned long want, double seconds) {
  double deadline = test_now_s() + seconds;
  while (test_now_s() < deadline) {
    if (counter_on(s, prefix) == want)
      return 1;
    test_pause_ms(20);
  }
  return 0;
}

/* A replica held behind (its link to the primary frozen in a proxy: up, and
 * silent), acknowledged writes without min_replicas, the primary killed:
 * the sentinels promote the replica, which lacks the last five updates. A
 * handle that saw them reports the rollback (FAILED_PRECONDITION, counted)
 * instead of serving the older checkpoint, sync and async alike. A new
 * handle cannot know: that is what min_replicas is for. */
static void test_sentinel_forced_rollback(void **state) {
  (void)state;
  group g;
  tcp_proxy *link = NULL;
  char url[512], buf[128];
  group_start(&g, 1, &link);
  group_url(&g, url, sizeof(url), "rb", "timeout_ms=1000");
  logstate *ls = NULL;
  struct event_base *evb = event_base_new();
  logstate_async *a = NULL;
  logstate_status st = PENDING;
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_status(logstate_async_open(&a, evb, url, NULL), LOGSTATE_OK);
  for (int i = 0; i < 5; i++)
    assert_status(logstate_update(ls, "counter", test_fn_increment, NULL), LOGSTATE_OK);
  assert_true(replica_has(&g.replicas[0], "rb", 5, 20));

  tcp_proxy_freeze(link, 1);
  for (int i = 0; i < 5; i++)
    assert_status(logstate_update(ls, "counter", test_fn_increment, NULL), LOGSTATE_OK);
  assert_status(logstate_async_get_latest(a, "counter", async_done_get, &st), LOGSTATE_OK);
  run_until(evb, &st, PENDING); /* the async handle sees 10 too */
  assert_status(st, LOGSTATE_OK);
  assert_int_equal(counter_on(&g.primary, "rb"), 10);
  assert_int_equal(counter_on(&g.replicas[0], "rb"), 5); /* held behind */

  int old = g.primary.port;
  test_redis_kill9(&g.primary);
  assert_int_equal(failed_over(&g, old, 60), g.replicas[0].port);
  /* Bounded: until the handles reach the new primary. */
  double deadline = test_now_s() + 30;
  do
    st = test_get(ls, "counter", buf, sizeof(buf));
  while (st == LOGSTATE_UNAVAILABLE && test_now_s() < deadline && (test_pause_ms(50), 1));
  assert_status(st, LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("rolled back");
  assert_status(logstate_update(ls, "counter", test_fn_increment, NULL), LOGSTATE_FAILED_PRECONDITION);
  logstate_stats stats;
  assert_status(logstate_get_stats(ls, &stats), LOGSTATE_OK);
  assert_true(stats.rollbacks >= 2);
  do {
    st = PENDING;
    assert_status(logstate_async_get_latest(a, "counter", async_done_get, &st), LOGSTATE_OK);
    run_until(evb, &st, PENDING);
  } while (st == LOGSTATE_UNAVAILABLE && test_now_s() < deadline && (test_pause_ms(50), 1));
  assert_status(st, LOGSTATE_FAILED_PRECONDITION);
  expect_error_mentions("rolled back");
  assert_status(logstate_async_get_stats(a, &stats), LOGSTATE_OK);
  assert_true(stats.rollbacks >= 1);
  printf("forced rollback: 10 acknowledged without min_replicas, 5 on the promoted replica; the sync and async "
         "handles that saw 10 refused it (FAILED_PRECONDITION); a new handle reads 5\n");
  logstate_async_free(a);
  event_base_free(evb);
  logstate_free(ls);

  /* A new handle has nothing to compare with. */
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  assert_int_equal(test_counter_of(ls, "counter"), 5);
  logstate_free(ls);
  tcp_proxy_stop(link);
  group_stop(&g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sentinel_urls),
      cmocka_unit_test(test_sentinel_finds_primary),
      cmocka_unit_test(test_sentinel_switchover),
      cmocka_unit_test(test_sentinel_failover),
      cmocka_unit_test(test_sentinel_forced_rollback),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

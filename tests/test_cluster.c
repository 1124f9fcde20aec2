/* SPDX-License-Identifier: Apache-2.0 */
/* Redis Cluster, on real processes started here (127.0.0.1, free ports): 3
 * primaries and 3 replicas made with redis-cli --cluster create.
 * redis+cluster:// URLs; namespaces spread over the primaries (each lives
 * in the slot of its {N} hash tag); a slot moved to another primary under
 * sync and async writers (MOVED followed, counters exact); a primary killed
 * and its replica promoted under writers with min_replicas=1. The figures go
 * to stdout for the closing note. */
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

#include "logstate/async.h"
#include "logstate/logstate.h"
#include "logstate/redis.h"
#include "redis_server.h"
#include "writers.h"

#include "test_util.h"

#define NODES 6
#define PENDING ((logstate_status)1000) /* no callback yet */

static test_redis node[NODES];

static void expect_error_mentions(const char *word) {
  if (strstr(logstate_last_error(), word) == NULL)
    fail_msg("last error \"%s\" does not mention \"%s\"", logstate_last_error(), word);
}

/* --- the cluster -------------------------------------------------------- */

/* Waits (bounded) until every live node says the cluster is ok. */
static int cluster_ok(double seconds) {
  double deadline = test_now_s() + seconds;
  while (test_now_s() < deadline) {
    int ok = 1;
    for (int i = 0; i < NODES && ok; i++)
      ok = node[i].pid <= 0 || test_redis_info_has(&node[i], "CLUSTER INFO", "cluster_state:ok");
    if (ok)
      return 1;
    test_pause_ms(50);
  }
  return 0;
}

static int cluster_start(void **state) {
  (void)state;
  char cmd[1024];
  int n = snprintf(cmd, sizeof(cmd), "redis-cli --cluster create");
  for (int i = 0; i < NODES; i++) {
    if (test_redis_start(&node[i], "cluster-enabled yes\ncluster-config-file nodes.conf\ncluster-node-timeout 2000\n"
                                   "repl-diskless-sync-delay 0\nshutdown-timeout 0") != 0)
      return -1;
    n += snprintf(cmd + n, sizeof(cmd) - (size_t)n, " 127.0.0.1:%d", node[i].port);
  }
  snprintf(cmd + n, sizeof(cmd) - (size_t)n, " --cluster-replicas 1 --cluster-yes >/dev/null 2>&1");
  if (system(cmd) != 0 || !cluster_ok(30))
    return -1;
  return 0;
}

static int cluster_stop(void **state) {
  (void)state;
  for (int i = 0; i < NODES; i++)
    test_redis_stop(&node[i]);
  return 0;
}

/* redis+cluster://<two seeds>/?prefix=P&<query> */
static void cluster_url(char *buf, size_t n, const char *prefix, const char *query) {
  snprintf(buf, n, "redis+cluster://127.0.0.1:%d,127.0.0.1:%d/?prefix=%s&connect_timeout_ms=500%s%s", node[0].port,
           node[1].port, prefix, query ? "&" : "", query ? query : "");
}

/* The slot of namespace `prefix`, and the port of the primary that owns it
 * as node `ask` sees it. */
static long long slot_of(const char *prefix) {
  redisReply *r = test_redis_cmd(&node[0], "CLUSTER KEYSLOT {%s}:logs", prefix);
  long long slot = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
  freeReplyObject(r);
  return slot;
}

static int owner_of(long long slot, int ask) {
  redisReply *r = test_redis_cmd(&node[ask], "CLUSTER SLOTS");
  int port = -1;
  for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
    redisReply *e = r->element[i];
    if (e->element[0]->integer <= slot && slot <= e->element[1]->integer)
      port = (int)e->element[2]->element[1]->integer;
  }
  freeReplyObject(r);
  return port;
}

static int index_of_port(int port) {
  for (int i = 0; i < NODES; i++)
    if (node[i].port == port)
      return i;
  return -1;
}

/* --- URLs --------------------------------------------------------------- */

static void test_cluster_urls(void **state) {
  (void)state;
  logstate *ls = NULL;
  const char *bad[] = {
      "redis+cluster://",
      "redis+cluster:///",
      "redis+cluster://h/0",
      "redis+cluster://h:0",
      "redis+cluster://h,,i",
      "redis+cluster://h/?db=1",
      "redis+cluster://h/?sentinel_password=x",
  };
  test_expect_bad_urls(bad, sizeof(bad) / sizeof(bad[0]));
  logstate_redis_options o = LOGSTATE_REDIS_OPTIONS_INIT;
  o.cluster_nodes = "127.0.0.1:1";
  o.db = 1;
  assert_status(logstate_redis_open(&ls, &o, NULL), LOGSTATE_INVALID_ARGUMENT);
  o.db = 0;
  o.sentinels = "127.0.0.1:2";
  o.master_name = "m";
  assert_status(logstate_redis_open(&ls, &o, NULL), LOGSTATE_INVALID_ARGUMENT);
  /* Nothing answers: UNAVAILABLE, naming the seeds' kind, never a password. */
  assert_status(logstate_open(&ls, "redis+cluster://u:Hunter2@127.0.0.1:1,127.0.0.1:2?connect_timeout_ms=300"),
                LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_UNAVAILABLE);
  expect_error_mentions("no cluster node named it (2 asked");
  assert_null(strstr(logstate_last_error(), "Hunter2"));
  logstate_free(ls);
}

/* --- namespaces over the primaries -------------------------------------- */

static void async_done(logstate_status st, void *arg) { *(logstate_status *)arg = st; }

static void run_until(struct event_base *evb, const logstate_status *st) {
  double deadline = test_now_s() + 20;
  while (*st == PENDING && test_now_s() < deadline)
    event_base_loop(evb, EVLOOP_ONCE);
  assert_true(*st != PENDING);
}

/* Twelve witnesses' namespaces: each is stored on the primary that owns
 * its slot, and together they use every primary. */
static void test_cluster_namespaces(void **state) {
  (void)state;
  int used[NODES] = {0}, primaries = 0;
  char url[512], prefix[32], buf[64];
  struct event_base *evb = event_base_new();
  for (int i = 0; i < 12; i++) {
    snprintf(prefix, sizeof(prefix), "witness%d", i);
    cluster_url(url, sizeof(url), prefix, NULL);
    logstate *ls = NULL;
    assert_status(logstate_open(&ls, url), LOGSTATE_OK);
    assert_status(logstate_init(ls), LOGSTATE_OK);
    assert_status(test_put(ls, "log", prefix), LOGSTATE_OK);
    assert_status(test_get(ls, "log", buf, sizeof(buf)), LOGSTATE_OK);
    assert_string_equal(buf, prefix);
    logstate_free(ls);
    /* The async API through the same URL, on the same namespace. */
    logstate_async *a = NULL;
    logstate_status st = PENDING;
    assert_status(logstate_async_open(&a, evb, url, NULL), LOGSTATE_OK);
    assert_status(logstate_async_update(a, "counter", test_fn_increment, NULL, async_done, &st), LOGSTATE_OK);
    run_until(evb, &st);
    assert_status(st, LOGSTATE_OK);
    logstate_async_free(a);

    int owner = index_of_port(owner_of(slot_of(prefix), 0));
    assert_true(owner >= 0);
    redisReply *r = test_redis_cmd(&node[owner], "HGET {%s}:log:log checkpoint", prefix);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    freeReplyObject(r);
    primaries += used[owner]++ == 0;
  }
  event_base_free(evb);
  printf("cluster: 12 namespaces over %d primaries (", primaries);
  for (int i = 0; i < NODES; i++)
    if (used[i])
      printf(" port %d: %d", node[i].port, used[i]);
  printf(" )\n");
  assert_int_equal(primaries, 3);
}

/* --- writers ------------------------------------------------------------- */

#define WRITERS 3 /* two sync, one async */

static void writers_start(test_writer *w, const char *prefix, const char *query) {
  for (int i = 0; i < WRITERS; i++) {
    cluster_url(w[i].url, sizeof(w[i].url), prefix, query);
    w[i].use_async = i == WRITERS - 1;
  }
  test_writers_start(w, WRITERS);
}

static void writers_stop(test_writer *w, unsigned long *acked, unsigned long *unknown) {
  test_writers_stop(w, WRITERS);
  *acked = test_writers_acked(w, WRITERS);
  *unknown = test_writers_unknown(w, WRITERS);
  for (int i = 0; i < WRITERS; i++) {
    assert_int_equal(w[i].other, 0);
    assert_int_equal(w[i].lower_reads, 0);
  }
}

static unsigned long counter_in(const char *prefix) {
  char url[512];
  logstate *ls = NULL;
  cluster_url(url, sizeof(url), prefix, NULL);
  assert_status(logstate_open(&ls, url), LOGSTATE_OK);
  unsigned long n = test_counter_of(ls, "counter");
  logstate_free(ls);
  return n;
}

static void node_id(int i, char *buf, size_t n) {
  redisReply *r = test_redis_cmd(&node[i], "CLUSTER MYID");
  assert_int_equal(r->type, REDIS_REPLY_STRING);
  snprintf(buf, n, "%s", r->str);
  freeReplyObject(r);
}

/* MIGRATEs every key of `slot` from `src` to `dst` in one command (the
 * namespace moves at once: no key of it is on both sides). */
static void migrate_keys(long long slot, int src, int dst) {
  redisReply *keys = test_redis_cmd(&node[src], "CLUSTER GETKEYSINSLOT %lld 100", slot);
  assert_int_equal(keys->type, REDIS_REPLY_ARRAY);
  assert_true(keys->elements > 0 && keys->elements <= 100);
  const char *argv[106];
  size_t len[106];
  char port[16];
  snprintf(port, sizeof(port), "%d", node[dst].port);
  const char *head[] = {"MIGRATE", "127.0.0.1", port, "", "0", "5000", "KEYS"};
  int n = 0;
  for (; n < 7; n++)
    argv[n] = head[n], len[n] = strlen(head[n]);
  for (size_t i = 0; i < keys->elements; i++, n++)
    argv[n] = keys->element[i]->str, len[n] = keys->element[i]->len;
  redisContext *c = test_redis_admin(&node[src]);
  redisReply *r = redisCommandArgv(c, n, argv, len);
  if (r == NULL || r->type == REDIS_REPLY_ERROR)
    fail_msg("MIGRATE: %s", r ? r->str : c->errstr);
  freeReplyObject(r);
  redisFree(c);
  freeReplyObject(keys);
}

static void set_slot_everywhere(long long slot, int owner) {
  char id[64];
  node_id(owner, id, sizeof(id));
  for (int i = 0; i < NODES; i++)
    if (node[i].pid > 0)
      test_redis_do(&node[i], "CLUSTER SETSLOT %lld NODE %s", slot, id);
}

/* Every node announces `host` as its endpoint (CLUSTER SLOTS, MOVED, ASK),
 * or its IP again for NULL; waits (bounded) until every node shows it for
 * every node (until gossip brings a node's name, others answer "?"). */
static void announce(const char *host) {
  for (int i = 0; i < NODES; i++) {
    if (node[i].pid <= 0)
      continue;
    test_redis_do(&node[i], "CONFIG SET cluster-announce-hostname %s", host ? host : "\"\"");
    test_redis_do(&node[i], "CONFIG SET cluster-preferred-endpoint-type %s", host ? "hostname" : "ip");
  }
  double deadline = test_now_s() + 20;
  for (int seen = 0; !seen && test_now_s() < deadline; test_pause_ms(50)) {
    seen = 1;
    for (int k = 0; k < NODES && seen; k++) {
      if (node[k].pid <= 0)
        continue;
      redisReply *r = test_redis_cmd(&node[k], "CLUSTER SLOTS");
      for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        for (size_t j = 2; j < r->element[i]->elements; j++)
          seen = seen && strcmp(r->element[i]->element[j]->element[0]->str, host ? host : "127.0.0.1") == 0;
      freeReplyObject(r);
    }
  }
}

/* A slot moved to another primary while two sync writers and one async
 * writer increment a counter in it: the handles follow ASK while the keys
 * are on the new owner and the slot not yet, then MOVED, without returning
 * either, and the counter is exact. With `hostname`, the nodes announce
 * "localhost": ASK and MOVED name a host that both drivers resolve (the
 * async one with evdns, never blocking its loop). */
static void slot_migration(const char *prefix, const char *hostname) {
  test_writer w[WRITERS];
  memset(w, 0, sizeof(w));
  long long slot = slot_of(prefix);
  int src = index_of_port(owner_of(slot, 0)), dst = -1;
  for (int i = 0; i < NODES && dst < 0; i++) /* another primary */
    if (i != src && owner_of(slot_of(i == 0 ? "witness0" : "witness1"), 0) == node[i].port)
      dst = i;
  for (int i = 0; i < NODES && dst < 0; i++) {
    redisReply *r = test_redis_cmd(&node[i], "ROLE");
    if (i != src && strcmp(r->element[0]->str, "master") == 0)
      dst = i;
    freeReplyObject(r);
  }
  assert_true(src >= 0 && dst >= 0);
  writers_start(w, prefix, "timeout_ms=2000");
  assert_true(test_writers_reach(w, WRITERS, 0, NULL, 50, 30));
  unsigned long before[WRITERS];
  for (int i = 0; i < WRITERS; i++)
    before[i] = atomic_load(&w[i].acked);
  /* As redis-cli --cluster reshard does: IMPORTING, MIGRATING, MIGRATE,
   * then NODE everywhere. Between MIGRATE and NODE the old owner answers
   * ASK: the writers follow it (ASKING on the new owner) and go on. */
  char src_id[64], dst_id[64];
  node_id(src, src_id, sizeof(src_id));
  node_id(dst, dst_id, sizeof(dst_id));
  double t0 = test_now_s();
  test_redis_do(&node[dst], "CLUSTER SETSLOT %lld IMPORTING %s", slot, src_id);
  test_redis_do(&node[src], "CLUSTER SETSLOT %lld MIGRATING %s", slot, dst_id);
  migrate_keys(slot, src, dst);
  if (hostname) { /* the old owner's ASK names the host */
    redisReply *r = test_redis_cmd(&node[src], "HGET {%s}:meta store_id", prefix);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    if (strstr(r->str, hostname) == NULL)
      fail_msg("ASK without the host name: %s", r->str);
    freeReplyObject(r);
  }
  unsigned long during[WRITERS];
  for (int i = 0; i < WRITERS; i++)
    during[i] = atomic_load(&w[i].acked);
  double until = test_now_s() + 20;
  for (int i = 0; i < WRITERS; i++) /* while every reply of the old owner is ASK */
    while (atomic_load(&w[i].acked) < during[i] + 20 && test_now_s() < until)
      test_pause_ms(10);
  unsigned long in_ask_window = 0;
  for (int i = 0; i < WRITERS; i++)
    in_ask_window += atomic_load(&w[i].acked) - during[i];
  set_slot_everywhere(slot, dst);
  double moved_s = test_now_s() - t0;
  assert_true(test_writers_reach(w, WRITERS, 0, before, 50, 30));
  unsigned long acked, unknown, moved = 0, ask = 0;
  writers_stop(w, &acked, &unknown);
  for (int i = 0; i < WRITERS; i++)
    moved += w[i].moved, ask += w[i].ask;
  unsigned long final = counter_in(prefix);
  assert_int_equal(owner_of(slot, 0), node[dst].port);
  printf("cluster slot migration%s: slot %lld moved from port %d to %d in %.3f s under 3 writers; %lu acknowledged "
         "(%lu while the old owner answered ASK), %lu UNAVAILABLE (%lu said MOVED, %lu said ASK or TRYAGAIN), final "
         "counter %lu\n",
         hostname ? " (nodes announce localhost)" : "", slot, node[src].port, node[dst].port, moved_s, acked,
         in_ask_window, unknown, moved, ask, final);
  assert_int_equal(moved, 0); /* MOVED is followed, never returned */
  assert_int_equal(ask, 0);   /* and ASK too, sync and async */
  assert_true(in_ask_window >= 60);
  assert_true(final >= acked);
  assert_true(final <= acked + unknown);
}

static void test_cluster_slot_migration(void **state) {
  (void)state;
  slot_migration("migrating", NULL);
}

static void test_cluster_slot_migration_hostnames(void **state) {
  (void)state;
  announce("localhost");
  slot_migration("migrating-by-name", "localhost");
  announce(NULL);
}

/* The primary that owns a namespace's slot killed with SIGKILL under
 * writers with min_replicas=1: its replica is promoted, the writers find
 * it, and no acknowledged update is lost. */
static void test_cluster_failover(void **state) {
  (void)state;
  test_writer w[WRITERS];
  memset(w, 0, sizeof(w));
  const char *prefix = "failing";
  long long slot = slot_of(prefix);
  int victim = index_of_port(owner_of(slot, 0));
  assert_true(victim >= 0);
  writers_start(w, prefix, "min_replicas=1&replica_timeout_ms=2000&timeout_ms=1000");
  assert_true(test_writers_reach(w, WRITERS, 0, NULL, 50, 30));
  unsigned long before[WRITERS];
  for (int i = 0; i < WRITERS; i++)
    before[i] = atomic_load(&w[i].acked);
  int seed = victim == 0 ? 1 : 0;
  double t0 = test_now_s();
  test_redis_kill9(&node[victim]);
  int promoted = -1;
  while (test_now_s() < t0 + 30 && ((promoted = owner_of(slot, seed)) == node[victim].port || promoted < 0))
    test_pause_ms(50);
  double promoted_s = test_now_s() - t0;
  /* The promoted replica has no replica of its own, so WAIT 1 cannot be met
   * (sets are UNAVAILABLE, as they must be) until the killed node comes
   * back: it rejoins as the new primary's replica. */
  assert_int_equal(test_redis_restart(&node[victim]), 0);
  int recovered = test_writers_reach(w, WRITERS, 0, before, 20, 60);
  double recovered_s = test_now_s() - t0;
  unsigned long acked, unknown;
  writers_stop(w, &acked, &unknown);
  assert_true(promoted > 0 && promoted != node[victim].port);
  assert_true(recovered);
  unsigned long final = counter_in(prefix);
  double gap = 0;
  for (int i = 0; i < WRITERS; i++)
    gap = w[i].longest_gap_s > gap ? w[i].longest_gap_s : gap;
  printf("cluster failover: primary port %d killed, replica port %d promoted after %.2f s, the killed node restarted "
         "as its replica; every writer had 20 more acknowledged after %.2f s (longest pause of a writer %.2f s); %lu "
         "acknowledged, %lu UNAVAILABLE, final counter %lu, lost 0\n",
         node[victim].port, promoted, promoted_s, recovered_s, gap, acked, unknown, final);
  assert_true(final >= acked);
  assert_true(final <= acked + unknown);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cluster_urls),           cmocka_unit_test(test_cluster_namespaces),
      cmocka_unit_test(test_cluster_slot_migration), cmocka_unit_test(test_cluster_slot_migration_hostnames),
      cmocka_unit_test(test_cluster_failover),
  };
  return cmocka_run_group_tests(tests, cluster_start, cluster_stop);
}

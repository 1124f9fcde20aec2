/* SPDX-License-Identifier: Apache-2.0 */
/* The conformance suites through the async API, on one backend:
 *
 *   conformance_async memory|sqlite|redis
 *
 * First the sync suite, through an adapter that turns every call into an
 * async operation (async_adapter.h), then the native async suite. Redis
 * runs on a throwaway redis-server, SQLite in a temporary directory. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "async_adapter.h"
#include "conformance/conformance.h"
#ifdef LOGSTATE_TEST_REDIS
#include "redis_server.h"
#endif

static int run(const char *name, const char *url, const char *operator_url) {
  logstate_conformance_target t = {
      .name = name,
      .open = async_adapter_open,
      .open_query = async_adapter_open_query,
      .ctx = (void *)url,
      .shares_store = 1,
      .operator_ctx = (void *)operator_url,
  };
  logstate_conformance_async_target at = {.name = name, .url = url, .shares_store = 1};
  int failed = logstate_conformance_run(&t);
  return failed + logstate_conformance_async_run(&at);
}

int main(int argc, char **argv) {
  const char *backend = argc > 1 ? argv[1] : "memory";
  char url[512];
  int failed;
  if (strcmp(backend, "memory") == 0) {
    failed = run("async-memory", "memory:async-%u", NULL);
  } else if (strcmp(backend, "sqlite") == 0) {
    char dir[] = "/tmp/logstate-async-XXXXXX", cmd[300];
    if (mkdtemp(dir) == NULL)
      return 1;
    snprintf(url, sizeof(url), "sqlite:%s/store-%%u.db", dir);
    failed = run("async-sqlite", url, NULL);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
      fprintf(stderr, "could not remove %s\n", dir);
#ifdef LOGSTATE_TEST_REDIS
  } else if (strcmp(backend, "redis") == 0 || strcmp(backend, "redis-acl") == 0) {
    /* redis-acl: as the README's least-privilege user. */
    int acl = strcmp(backend, "redis-acl") == 0;
    test_redis server;
    if (test_redis_start(&server, NULL) != 0 ||
        (acl && test_redis_readme_acl(&server, "witness", "witness", "wpass", "async-*", TEST_HISTORY_ACL) != 0) ||
        (acl && test_redis_readme_acl(&server, "config-operator", "cop", "cpass", "async-*", TEST_HISTORY_ACL) != 0))
      return 1;
    char op_url[512];
    snprintf(url, sizeof(url), "redis://%s127.0.0.1:%d/?prefix=async-%%u&timeout_ms=10000", acl ? "witness:wpass@" : "",
             server.port);
    snprintf(op_url, sizeof(op_url), "redis://cop:cpass@127.0.0.1:%d/?prefix=async-%%u&timeout_ms=10000", server.port);
    failed = run(acl ? "async-redis-acl" : "async-redis", url, acl ? op_url : NULL);
    test_redis_stop(&server);
#endif
  } else {
    fprintf(stderr, "usage: %s memory|sqlite|redis|redis-acl\n", argv[0]);
    return 2;
  }
  return failed;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The conformance suite on the Redis backend, against a throwaway
 * redis-server. Each test gets its own key prefix (the store number), and two
 * handles with one prefix share a store, as two witness processes would. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include "conformance/conformance.h"
#include "redis_server.h"

int main(int argc, char **argv) {
  /* conformance_redis --acl: as the README's least-privilege user.
   * conformance_redis URL-FORMAT [OPERATOR-URL-FORMAT]: against a server
   * someone else runs, with %u (the store number) anywhere in the URL, such
   * as the database; log configurations disabled and enabled through the
   * second URL when given. */
  int acl = argc == 2 && strcmp(argv[1], "--acl") == 0;
  if ((argc == 2 || argc == 3) && !acl) {
    logstate_conformance_target t = {.name = "redis",
                                     .open = logstate_conformance_open_url,
                                     .open_query = logstate_conformance_open_url_query,
                                     .ctx = argv[1],
                                     .shares_store = 1,
                                     .operator_ctx = argc == 3 ? argv[2] : NULL};
    return logstate_conformance_run(&t);
  }
  test_redis server;
  if (test_redis_start(&server, NULL) != 0 ||
      (acl && test_redis_readme_acl(&server, "witness", "witness", "wpass", "conformance-*", TEST_HISTORY_ACL) != 0) ||
      (acl &&
       test_redis_readme_acl(&server, "config-operator", "cop", "cpass", "conformance-*", TEST_HISTORY_ACL) != 0))
    return 1;
  char url[256], op_url[256];
  snprintf(url, sizeof(url), "redis://%s127.0.0.1:%d/?prefix=conformance-%%u&timeout_ms=10000",
           acl ? "witness:wpass@" : "", server.port);
  snprintf(op_url, sizeof(op_url), "redis://cop:cpass@127.0.0.1:%d/?prefix=conformance-%%u&timeout_ms=10000",
           server.port);
  logstate_conformance_target t = {
      .name = acl ? "redis-acl" : "redis",
      .open = logstate_conformance_open_url,
      .open_query = logstate_conformance_open_url_query,
      .ctx = url,
      .shares_store = 1,
      .operator_ctx = acl ? op_url : NULL,
  };
  int failed = logstate_conformance_run(&t);
  test_redis_stop(&server);
  return failed;
}

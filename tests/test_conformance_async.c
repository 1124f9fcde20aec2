/* The conformance suite through the async API (see async_adapter.h), on a
 * throwaway redis-server. */
#include <stdio.h>

#include "async_adapter.h"
#include "conformance/conformance.h"
#include "redis_server.h"

int main(void) {
  test_redis server;
  if (test_redis_start(&server, NULL) != 0)
    return 1;
  char url[256];
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/?prefix=async-%%u&timeout_ms=10000", server.port);
  logstate_conformance_target t = {
      .name = "redis-async",
      .open = async_adapter_open,
      .ctx = url,
      .shares_store = 1,
  };
  int failed = logstate_conformance_run(&t);
  test_redis_stop(&server);
  return failed;
}

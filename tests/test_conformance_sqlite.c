/* SPDX-License-Identifier: Apache-2.0 */
/* The conformance suite on the SQLite backend: one database file per store
 * number in a temporary directory; two handles on one file share a store. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

#include "conformance/conformance.h"

int main(void) {
  char dir[] = "/tmp/logstate-sqlite-XXXXXX";
  if (mkdtemp(dir) == NULL)
    return 1;
  char url[256];
  snprintf(url, sizeof(url), "sqlite:%s/conformance-%%u.db", dir);
  logstate_conformance_target t = {
      .name = "sqlite",
      .open = logstate_conformance_open_url,
      .open_query = logstate_conformance_open_url_query,
      .ctx = url,
      .shares_store = 1,
  };
  int failed = logstate_conformance_run(&t);
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return failed;
}

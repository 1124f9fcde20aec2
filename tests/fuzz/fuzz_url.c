/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the Redis URL parser, every scheme (the first byte
 * picks it), and the query parser under it. A URL it accepts must give a
 * configuration within the documented bounds; nothing may crash, leak or
 * read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redis/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const schemes[] = {"redis://", "redis+unix://", "redis+sentinel://", "redis+cluster://", ""};
  if (size < 1 || size > 4096)
    return 0;
  const char *scheme = schemes[data[0] % 5];
  size_t n = strlen(scheme);
  char *url = malloc(n + size);
  if (url == NULL)
    return 0;
  memcpy(url, scheme, n);
  memcpy(url + n, data + 1, size - 1);
  url[n + size - 1] = '\0';
  ls_redis_config c;
  if (ls_redis_config_from_url(&c, url) == LOGSTATE_OK) {
    if (c.nseeds > LS_REDIS_MAX_ADDRS || (c.master_name && c.nseeds == 0) || c.port == 0 || c.port > 65535 ||
        c.pool == 0 || c.prefix == NULL || strpbrk(c.prefix, "{}") || c.hist.keep > LS_HISTORY_MAX_KEEP ||
        strpbrk(c.hist.client_name, " \t\r\n"))
      abort(); /* accepted a configuration outside its bounds */
    for (unsigned int i = 0; i < c.nseeds; i++)
      if (c.seeds[i].port == 0 || c.seeds[i].port > 65535 || c.seeds[i].host[0] == '\0')
        abort();
    char where[300];
    ls_redis_config_where(&c, where, sizeof(where));
    ls_redis_config_free(&c);
  }
  free(url);
  return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Store identity, for every backend that has one: the form of a store_id,
 * how a new one is drawn, and what a pinned one is refused with. A reset
 * store (flushed, restored empty, another file) must never pass for an
 * empty one: a witness would answer it with trust on first use. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define STORE_ID_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

logstate_status ls_store_id_check_arg(const char *backend, const char *id) {
  size_t n = id ? strlen(id) : 0;
  if (id && (n == 0 || n > LS_STORE_ID_MAX || strspn(id, STORE_ID_CHARS) != n))
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: store_id must be 1 to %d of [A-Za-z0-9_-]", backend, LS_STORE_ID_MAX);
  return LOGSTATE_OK;
}

int ls_store_id_new(char out[33]) {
  unsigned char raw[16];
  FILE *f = fopen("/dev/urandom", "rb");
  int ok = f && fread(raw, 1, sizeof(raw), f) == sizeof(raw);
  if (f)
    fclose(f);
  for (size_t i = 0; ok && i < sizeof(raw); i++)
    snprintf(out + 2 * i, 3, "%02x", raw[i]);
  return ok;
}

logstate_status ls_store_absent(const char *backend, const char *store, const char *what, int read_only) {
  return ls_err(LOGSTATE_NOT_FOUND, "%s: there is no logstate store in %s (%s), and %s", backend, store, what,
                read_only ? "a read-only open (mode=ro) creates none" : "create=no");
}

logstate_status ls_store_id_compare(const char *backend, const char *store, const char *pinned, const char *found,
                                    size_t found_len) {
  char q[LS_QUOTE_BUFSZ];
  if (pinned == NULL)
    return LOGSTATE_OK;
  if (found == NULL)
    return ls_err(LOGSTATE_FAILED_PRECONDITION,
                  "%s: %s has no store_id, but store %s was expected: the store was reset (flushed, restarted or "
                  "restored without its data, failed over to an empty replica) or this is another store",
                  backend, store, pinned);
  if (found_len != strlen(pinned) || memcmp(found, pinned, found_len) != 0)
    return ls_err(LOGSTATE_FAILED_PRECONDITION,
                  "%s: %s is store %s, but store %s was expected: the store was reset or this is another store",
                  backend, store, ls_quote(q, sizeof(q), found, found_len), pinned);
  return LOGSTATE_OK;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The README's example: trust on first use, then a checked update. */
#define _POSIX_C_SOURCE 200809L
#include <logstate/logstate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Called with the stored checkpoint (NULL if none); returns the next one.
 * May run more than once, so it only computes. */
static logstate_status next_checkpoint(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_len,
                                       void *arg) {
  const char *incoming = arg;
  if (cur != NULL && cur_len == strlen(incoming) && memcmp(cur, incoming, cur_len) == 0)
    return LOGSTATE_OK; /* same checkpoint: no change */
  /* A real witness verifies signatures and a consistency proof from cur. */
  *out_next = (uint8_t *)strdup(incoming);
  *out_len = strlen(incoming);
  return *out_next ? LOGSTATE_OK : LOGSTATE_RESOURCE_EXHAUSTED;
}

int main(void) {
  logstate *ls = NULL;
  if (logstate_open(&ls, "memory:") != LOGSTATE_OK || logstate_init(ls) != LOGSTATE_OK) {
    fprintf(stderr, "open: %s\n", logstate_last_error());
    return 1;
  }
  const char *log = "example.com/log";

  /* The Go-style two-object protocol: read, check, write in a transaction. */
  logstate_write *w = NULL;
  uint8_t *cp = NULL;
  size_t len = 0;
  logstate_status st = logstate_write_ops(ls, log, &w);
  if (st == LOGSTATE_OK) {
    st = logstate_write_get_latest(w, &cp, &len);
    if (st == LOGSTATE_NOT_FOUND) /* trust on first use */
      st = logstate_write_set(w, (const uint8_t *)"example.com/log\n1\nAAAA\n", 23);
    free(cp);
    logstate_write_close(w); /* always */
  }
  if (st != LOGSTATE_OK) {
    fprintf(stderr, "first write: %s: %s\n", logstate_status_name(st), logstate_last_error());
    return 1;
  }

  /* The Update form retries for you when another writer wins a race. */
  st = logstate_update(ls, log, next_checkpoint, "example.com/log\n2\nBBBB\n");
  if (st != LOGSTATE_OK) {
    fprintf(stderr, "update: %s: %s\n", logstate_status_name(st), logstate_last_error());
    return 1;
  }

  logstate_read *r = NULL;
  if (logstate_read_ops(ls, log, &r) == LOGSTATE_OK && logstate_read_get_latest(r, &cp, &len) == LOGSTATE_OK) {
    printf("%s now at:\n%.*s", log, (int)len, (const char *)cp);
    free(cp);
  }
  logstate_read_free(r);

  char **ids = NULL;
  size_t n = 0;
  if (logstate_logs(ls, &ids, &n) == LOGSTATE_OK)
    printf("%zu log(s) stored\n", n);
  logstate_logs_free(ids, n);
  logstate_free(ls);
  return 0;
}

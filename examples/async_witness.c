/* SPDX-License-Identifier: Apache-2.0 */
/* A minimal witness-like updater on the async API, for reading in one
 * sitting.
 *
 *   async_witness REDIS_URL CHECKPOINT_FILE...
 *
 * For each file, in order, it does what a witness does before cosigning:
 * read the log's stored checkpoint, check the new one against it, and store
 * it in the same transaction, without ever blocking the event loop. The log
 * is the checkpoint's first line (its origin). A real witness verifies
 * signatures and a consistency proof; this one only refuses a tree size
 * that goes backwards.
 *
 * Exit status: 0 when every checkpoint was stored or refused on its merits,
 * 1 on a storage error, 2 on bad usage. */
#define _POSIX_C_SOURCE 200809L
#include <event2/event.h>
#include <logstate/async.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct witness {
  struct event_base *base;
  logstate_async *store;
  char **files;
  int nfiles, next;
  int failed;
  /* The checkpoint being processed. */
  char *cp;
  size_t cp_len;
  char origin[256];
} witness;

static void process_next(witness *w);

/* "origin\nsize\n...": the origin and the tree size, or -1. */
static long long parse(const uint8_t *cp, size_t len, char *origin, size_t origin_size) {
  const char *nl = memchr(cp, '\n', len);
  if (nl == NULL || (size_t)(nl - (const char *)cp) >= origin_size)
    return -1;
  memcpy(origin, cp, (size_t)(nl - (const char *)cp));
  origin[nl - (const char *)cp] = '\0';
  return strtoll(nl + 1, NULL, 10);
}

/* The update function: runs inside the transaction, maybe more than once,
 * so it only computes. */
static logstate_status check(const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len, void *arg) {
  witness *w = arg;
  char origin[256];
  long long new_size = parse((const uint8_t *)w->cp, w->cp_len, origin, sizeof(origin));
  if (cur != NULL) {
    char cur_origin[256];
    long long cur_size = parse(cur, cur_len, cur_origin, sizeof(cur_origin));
    if (new_size < cur_size)
      return LOGSTATE_FAILED_PRECONDITION; /* never go backwards */
    if (cur_len == w->cp_len && memcmp(cur, w->cp, cur_len) == 0)
      return LOGSTATE_OK; /* already stored: no change */
  }
  if ((*out_next = malloc(w->cp_len)) == NULL)
    return LOGSTATE_RESOURCE_EXHAUSTED;
  memcpy(*out_next, w->cp, w->cp_len);
  *out_next_len = w->cp_len;
  return LOGSTATE_OK;
}

static void updated(logstate_status st, void *arg) {
  witness *w = arg;
  const char *file = w->files[w->next - 1];
  if (st == LOGSTATE_OK) {
    printf("%s: stored for %s\n", file, w->origin);
  } else if (st == LOGSTATE_FAILED_PRECONDITION) {
    printf("%s: refused for %s: the tree size went backwards\n", file, w->origin);
  } else {
    fprintf(stderr, "%s: %s: %s\n", file, logstate_status_name(st), logstate_last_error());
    w->failed = 1;
  }
  process_next(w); /* chain the next file from inside the callback */
}

static void process_next(witness *w) {
  free(w->cp);
  w->cp = NULL;
  if (w->next == w->nfiles || w->failed) {
    event_base_loopbreak(w->base); /* done */
    return;
  }
  const char *file = w->files[w->next++];
  FILE *f = fopen(file, "rb");
  if (f == NULL) {
    perror(file);
    w->failed = 1;
    event_base_loopbreak(w->base);
    return;
  }
  w->cp = malloc(65536);
  w->cp_len = fread(w->cp, 1, 65536, f);
  fclose(f);
  if (w->cp_len == 0 || parse((const uint8_t *)w->cp, w->cp_len, w->origin, sizeof(w->origin)) < 0) {
    fprintf(stderr, "%s: not a checkpoint\n", file);
    w->failed = 1;
    event_base_loopbreak(w->base);
    return;
  }
  logstate_status st = logstate_async_update(w->store, w->origin, check, w, updated, w);
  if (st != LOGSTATE_OK) {
    fprintf(stderr, "%s: %s\n", file, logstate_last_error());
    w->failed = 1;
    event_base_loopbreak(w->base);
  }
}

static void initialized(logstate_status st, void *arg) {
  witness *w = arg;
  if (st != LOGSTATE_OK) {
    fprintf(stderr, "init: %s: %s\n", logstate_status_name(st), logstate_last_error());
    w->failed = 1;
    event_base_loopbreak(w->base);
    return;
  }
  process_next(w);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s REDIS_URL CHECKPOINT_FILE...\n", argv[0]);
    return 2;
  }
  witness w = {.files = argv + 2, .nfiles = argc - 2};
  w.base = event_base_new();
  if (logstate_async_open(&w.store, w.base, argv[1], NULL) != LOGSTATE_OK) {
    fprintf(stderr, "%s\n", logstate_last_error());
    event_base_free(w.base);
    return 2;
  }
  if (logstate_async_init(w.store, initialized, &w) != LOGSTATE_OK)
    w.failed = 1;
  else
    event_base_dispatch(w.base); /* everything happens in callbacks */
  logstate_async_free(w.store);
  event_base_free(w.base);
  free(w.cp);
  return w.failed ? 1 : 0;
}

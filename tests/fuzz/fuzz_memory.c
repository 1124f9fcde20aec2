/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the write path over the memory backend with arbitrary
 * log IDs and checkpoints (any bytes, empty, too long), checked against a
 * model of what must be stored: a set that returned OK is what get reads,
 * an absent log is NOT_FOUND, a refused argument changes nothing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logstate/logstate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SLOTS 4

#define KEEP 3 /* history=3 */

typedef struct model {
  char id[SLOTS][48];
  uint8_t cp[SLOTS][64];
  size_t cp_len[SLOTS];     /* 0: absent */
  unsigned int sets[SLOTS]; /* acknowledged sets: the versions history holds end here */
} model;

typedef struct input {
  const uint8_t *p, *end;
} input;

static unsigned int byte(input *in) { return in->p < in->end ? *in->p++ : 0; }

/* Up to max bytes of the input, NUL-terminated into buf (an ID may hold
 * any byte but NUL: a NUL here ends it early, as a C string does). */
/* ReadOps then GetLatest, as the Go interface has them. */
static logstate_status get_latest(logstate *ls, const char *id, uint8_t **cp, size_t *len) {
  logstate_read *r = NULL;
  logstate_status st = logstate_read_ops(ls, id, &r);
  if (st == LOGSTATE_OK)
    st = logstate_read_get_latest(r, cp, len);
  logstate_read_free(r);
  return st;
}

static size_t take(input *in, char *buf, size_t max) {
  size_t n = byte(in) % max, i = 0;
  for (; i < n && in->p < in->end; i++)
    buf[i] = (char)*in->p++;
  buf[i] = '\0';
  return i;
}

/* The history holds the last min(sets, KEEP) versions, newest first, the
 * newest being the checkpoint get reads. */
static void check_history(logstate *ls, const model *m, int s) {
  logstate_history_entry *e = NULL;
  size_t n = 0;
  if (logstate_history(ls, m->id[s], KEEP + 2, &e, &n) != LOGSTATE_OK)
    abort();
  if (n != (m->sets[s] < KEEP ? m->sets[s] : KEEP))
    abort();
  for (size_t i = 0; i < n; i++)
    if (e[i].version != m->sets[s] - i || e[i].sha256[0] == '\0')
      abort();
  if (n && (e[0].checkpoint_len != m->cp_len[s] || memcmp(e[0].checkpoint, m->cp[s], m->cp_len[s]) != 0))
    abort();
  logstate_history_free(e, n);
}

static void check_get(logstate *ls, const model *m, int s) {
  uint8_t *cp = NULL;
  size_t len = 0;
  logstate_status st = get_latest(ls, m->id[s], &cp, &len);
  if (m->cp_len[s] == 0 ? st != LOGSTATE_NOT_FOUND
                        : st != LOGSTATE_OK || len != m->cp_len[s] || memcmp(cp, m->cp[s], len) != 0)
    abort(); /* the store disagrees with what was acknowledged */
  free(cp);
}

/* Whether slot s's ID is an earlier slot's. */
static int clashes(const model *m, int s) {
  for (int t = 0; t < s; t++)
    if (strcmp(m->id[s], m->id[t]) == 0)
      return 1;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  input in = {data, data + size};
  model m;
  memset(&m, 0, sizeof(m));
  logstate *ls = NULL;
  if (logstate_open(&ls, "memory:?history=3&client_name=fuzz") != LOGSTATE_OK || logstate_init(ls) != LOGSTATE_OK)
    abort();
  for (int s = 0; s < SLOTS; s++) { /* four distinct, valid IDs */
    if (take(&in, m.id[s], sizeof(m.id[s])) == 0 || strlen(m.id[s]) == 0)
      snprintf(m.id[s], sizeof(m.id[s]), "slot-%d", s);
    /* A name given instead must differ from the earlier slots' too: the
     * input may have chosen "slot-2" for slot 0 (found by fuzz_memory). */
    for (int k = 1; clashes(&m, s); k++)
      snprintf(m.id[s], sizeof(m.id[s]), "slot-%d-%d", s, k);
  }
  while (in.p < in.end) {
    unsigned int op = byte(&in), s = byte(&in) % SLOTS;
    char cp[64];
    size_t len = take(&in, cp, sizeof(cp));
    logstate_write *w = NULL;
    logstate_status st;
    switch (op % 3) {
    case 0: /* a write transaction: set if the snapshot is still current */
      if (logstate_write_ops(ls, m.id[s], &w) != LOGSTATE_OK)
        abort();
      st = logstate_write_set(w, (const uint8_t *)cp, len);
      logstate_write_close(w);
      if (st == LOGSTATE_OK) {
        memcpy(m.cp[s], cp, len);
        m.cp_len[s] = len;
        m.sets[s]++;
      } else if (st != LOGSTATE_INVALID_ARGUMENT || len != 0) {
        abort(); /* alone on the handle, a set of 1..63 bytes must succeed */
      }
      break;
    case 1: { /* an arbitrary log ID: checked at the boundary */
      uint8_t *got = NULL;
      size_t got_len = 0;
      st = get_latest(ls, cp, &got, &got_len);
      if (st != LOGSTATE_NOT_FOUND && st != LOGSTATE_INVALID_ARGUMENT && st != LOGSTATE_OK)
        abort();
      free(got);
      break;
    }
    default:
      check_get(ls, &m, (int)s);
      break;
    }
  }
  for (int s = 0; s < SLOTS; s++) {
    check_get(ls, &m, s);
    check_history(ls, &m, s);
  }
  logstate_free(ls);
  return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The policy every API and backend shares, written once: option
 * resolution, the update step and its messages, the backoff between update
 * attempts, the write object's set-once rule, the snapshot copy and the
 * NOT_FOUND message. The sync core (core.c) and the async core
 * (async/async.c) both call these, so the two APIs cannot drift apart. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define MAX_UPDATE_ATTEMPTS 1000000u

logstate_status ls_policy_from_options(const char *fn, const logstate_options *o, ls_policy *out) {
  out->update_attempts = LOGSTATE_DEFAULT_UPDATE_ATTEMPTS;
  out->on_op = NULL;
  out->on_op_arg = NULL;
  out->max_checkpoint_len = LOGSTATE_DEFAULT_MAX_CHECKPOINT_LEN;
  if (o == NULL)
    return LOGSTATE_OK;
  if (o->version != LOGSTATE_OPTIONS_VERSION)
    return ls_err(LOGSTATE_INVALID_ARGUMENT,
                  "%s: options version %u is not supported (this library takes %u: start from LOGSTATE_OPTIONS_INIT)",
                  fn, o->version, LOGSTATE_OPTIONS_VERSION);
  if (o->update_attempts > MAX_UPDATE_ATTEMPTS)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: update_attempts %u is above %u", fn, o->update_attempts,
                  MAX_UPDATE_ATTEMPTS);
  if (o->update_attempts)
    out->update_attempts = o->update_attempts;
  if (o->max_checkpoint_len)
    out->max_checkpoint_len = o->max_checkpoint_len;
  out->on_op = o->on_op;
  out->on_op_arg = o->on_op_arg;
  return LOGSTATE_OK;
}

void logstate_logs_free(char **ids, size_t n) {
  if (ids == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    free(ids[i]);
  free(ids);
}

logstate_status ls_check_log_id(const char *fn, const char *log_id, size_t *out_len) {
  if (log_id == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: log ID is NULL", fn);
  size_t n = strnlen(log_id, LOGSTATE_MAX_LOG_ID_LEN + 1);
  if (n == 0)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: log ID is empty", fn);
  if (n > LOGSTATE_MAX_LOG_ID_LEN)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: log ID is longer than %d bytes", fn, LOGSTATE_MAX_LOG_ID_LEN);
  *out_len = n;
  return LOGSTATE_OK;
}

logstate_status ls_check_checkpoint(const char *fn, size_t max_len, const uint8_t *cp, size_t len) {
  if (cp == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: checkpoint is NULL", fn);
  if (len == 0)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: checkpoint is empty (it must be 1 to %zu bytes)", fn, max_len);
  if (len > max_len)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: checkpoint is %zu bytes, above the maximum of %zu", fn, len, max_len);
  return LOGSTATE_OK;
}

logstate_status ls_not_found(const char *log_id, size_t log_id_len) {
  char q[LS_QUOTE_BUFSZ];
  return ls_err(LOGSTATE_NOT_FOUND, "no checkpoint stored for log %s", ls_quote(q, sizeof(q), log_id, log_id_len));
}

logstate_status ls_snapshot_copy(const uint8_t *cp, size_t len, const char *log_id, size_t log_id_len, uint8_t **out_cp,
                                 size_t *out_len) {
  if (cp == NULL)
    return ls_not_found(log_id, log_id_len);
  if ((*out_cp = ls_memdup(cp, len)) == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "out of memory copying a checkpoint");
  *out_len = len;
  return LOGSTATE_OK;
}

logstate_status ls_write_usable(const char *fn, int ended) {
  if (!ended)
    return LOGSTATE_OK;
  return ls_err(LOGSTATE_FAILED_PRECONDITION,
                "%s: the transaction already ended with a set; only closing it is allowed now", fn);
}

int ls_update_apply(const char *fn, const ls_policy *p, logstate_update_fn f, void *arg, const char *log_id,
                    size_t log_id_len, const uint8_t *cur, size_t cur_len, uint8_t **out_next, size_t *out_next_len,
                    logstate_status *out_st) {
  uint8_t *next = NULL;
  size_t next_len = 0;
  char q[LS_QUOTE_BUFSZ];
  logstate_status st = f(cur, cur_len, &next, &next_len, arg);
  if (st != LOGSTATE_OK) {
    free(next);
    *out_st = ls_err(st, "%s: the update function for log %s returned %s", fn,
                     ls_quote(q, sizeof(q), log_id, log_id_len), logstate_status_name(st));
    return 0;
  }
  if (next == NULL) { /* OK with no value: no change */
    *out_st = LOGSTATE_OK;
    return 0;
  }
  if (next_len == 0) {
    free(next);
    *out_st = ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: the update function returned an empty checkpoint", fn);
    return 0;
  }
  if ((*out_st = ls_check_checkpoint(fn, p->max_checkpoint_len, next, next_len)) != LOGSTATE_OK) {
    free(next);
    return 0;
  }
  *out_next = next;
  *out_next_len = next_len;
  return 1;
}

/* One random source for every backoff: xorshift64, per thread (the async
 * core runs on its loop's thread), seeded from the clock and the thread. */
uint64_t ls_random(void) {
  static _Thread_local uint64_t rng;
  if (rng == 0) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    rng = ((uint64_t)now.tv_nsec << 20) ^ (uint64_t)(uintptr_t)&rng ^ (uint64_t)now.tv_sec;
    rng |= 1;
  }
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

int ls_update_retry(const char *fn, const ls_policy *p, unsigned int attempt, int fresh, const char *log_id,
                    size_t log_id_len, uint64_t *out_delay_us) {
  char q[LS_QUOTE_BUFSZ];
  if (attempt >= p->update_attempts) {
    ls_err(LOGSTATE_ABORTED, "%s: log %s: another writer won the race %u times in a row", fn,
           ls_quote(q, sizeof(q), log_id, log_id_len), attempt);
    return 0;
  }
  /* A lost race that brought the current state back retries at once, twice:
   * it has what a read would give. After that, a randomized backoff spreads
   * a crowd of writers out, and the caller reads again after it: the state
   * a lost race brought back is stale once slept on (a writer that slept
   * and then used it lost every race after: 30 s of losses measured). */
  if (fresh && attempt <= 2) {
    *out_delay_us = 0;
    return 1;
  }
  /* Randomized exponential backoff, so that writers that collided do not
   * collide again in lockstep: 100 us after the first loss, up to 12.8 ms. */
  unsigned int shift = attempt < 8 ? attempt : 8;
  uint64_t cap_us = (uint64_t)50 << shift;
  *out_delay_us = ls_random() % (cap_us + 1);
  return 1;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The bottom of the Redis protocol module: building a command, and the
 * commands and replies that several of its files share (the set script's
 * SCRIPT LOAD, WAIT and WAITAOF, a log's state and how to read it). */
#define _POSIX_C_SOURCE 200809L
#include <string.h>

#include "redis/proto.h"

/* The hash fields of {N}:log:<logID>, as lua/set.lua writes them. */
#define F_VERSION "version"
#define F_CHECKPOINT "checkpoint"

void ls_rp_cmd_script_load(ls_rp_cmd *c) {
  const char *argv[] = {"SCRIPT", "LOAD", ls_lua_set};
  size_t len[] = {6, 4, ls_lua_set_len};
  ls_rp_cmd_set(c, 3, argv, len);
}

const char ls_rp_cmd_wait[] = "WAIT", ls_rp_cmd_waitaof[] = "WAITAOF";

/* A log's state, and whether the index lists it: HMGET, SISMEMBER. The two
 * together tell an absent log from a damaged one, in the same round trip. */
void ls_rp_plan_state(const ls_redis_config *c, const char *key, size_t key_len, const char *log_id, size_t id_len,
                      ls_rp_plan *plan) {
  ls_rp_add(plan, 4, (const char *[]){"HMGET", key, F_VERSION, F_CHECKPOINT}, (const size_t[]){5, key_len, 7, 10});
  ls_rp_add(plan, 3, (const char *[]){"SISMEMBER", c->key_logs, log_id}, (const size_t[]){9, c->key_logs_len, id_len});
}

/* A positive decimal without sign or leading zeros, as the script writes. */
static int parse_version(const char *s, size_t n, uint64_t *out) {
  uint64_t v = 0;
  if (n == 0 || n > 19 || s[0] == '0')
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return 0;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  *out = v;
  return 1;
}

int ls_rp_classify(const ls_redis_config *c, const redisReply *h, const redisReply *m, const char *key, size_t key_len,
                   int *listed, uint64_t *version, logstate_status *st) {
  if (h->type == REDIS_REPLY_ERROR) {
    *st = ls_redis_reply_error(c, h, "reading the log", key, key_len);
    return -1;
  }
  if (m->type == REDIS_REPLY_ERROR) {
    *st = ls_redis_reply_error(c, m, "reading the index", c->key_logs, c->key_logs_len);
    return -1;
  }
  if (h->type != REDIS_REPLY_ARRAY || h->elements != 2 || m->type != REDIS_REPLY_INTEGER) {
    *st = ls_redis_unexpected("HMGET", h);
    return -1;
  }
  const redisReply *ver = h->element[0], *cp = h->element[1];
  *listed = m->integer == 1;
  if (ver->type == REDIS_REPLY_NIL && cp->type == REDIS_REPLY_NIL)
    return 0;
  int whole = ver->type == REDIS_REPLY_STRING && cp->type == REDIS_REPLY_STRING &&
              parse_version(ver->str, ver->len, version) && cp->len > 0;
  return whole ? 1 : 2;
}

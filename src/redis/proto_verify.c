/* SPDX-License-Identifier: Apache-2.0 */
/* The VERIFY op: walks a namespace for disagreements between the index and
 * the log hashes, the damage that would otherwise read as "no checkpoint
 * yet". Phase 0 scans the index (SSCAN) and checks that every listed log has
 * a whole hash; phase 1 scans the log keys (SCAN, never KEYS) and checks
 * that the index lists every one. Phases 2 and 3 do the same for the log
 * configurations ({N}:configs and the {N}:config: hashes, proto_config.c),
 * whose ID must also be the one of their origin. Checks go four to a
 * pipeline (the state of each: HMGET + SISMEMBER). */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/proto.h"

#define SCAN_COUNT "200"
#define CHECKS_PER_PLAN 4

enum { PHASE_INDEX, PHASE_KEYS, PHASE_CONFIG_INDEX, PHASE_CONFIG_KEYS, PHASE_DONE };

typedef struct ls_rp_walk {
  int phase;       /* PHASE_* */
  char cursor[32]; /* of the scan of this phase */
  char **names;    /* log IDs the last scan returned, to check */
  size_t n, next;
  int checking;                                              /* the last plan checked names[next - checking .. next) */
  int ended;                                                 /* this phase's scan came back to cursor 0 */
  char keys[CHECKS_PER_PLAN][LOGSTATE_MAX_LOG_ID_LEN + 300]; /* the checks' keys, which a plan points into */
  size_t key_len[CHECKS_PER_PLAN];
  char *pattern[2]; /* {N}:log:* and {N}:config:*, the glob characters of N escaped */
  size_t pattern_len[2];
} ls_rp_walk;

static int configs(const ls_rp_walk *w) { return w->phase >= PHASE_CONFIG_INDEX; }
static int scans_keys(const ls_rp_walk *w) { return w->phase == PHASE_KEYS || w->phase == PHASE_CONFIG_KEYS; }

static void drop_names(ls_rp_walk *w) {
  logstate_logs_free(w->names, w->n);
  w->names = NULL;
  w->n = w->next = 0;
}

/* PREFIX* with the glob characters of the prefix escaped (the namespace is
 * the caller's: never a pattern), malloc()ed. */
static char *pattern_of(const char *prefix, size_t len, size_t *out_len) {
  char *pat = malloc(2 * len + 2);
  size_t o = 0;
  for (size_t i = 0; pat && i < len; i++) {
    if (strchr("*?[]\\", prefix[i]))
      pat[o++] = '\\';
    pat[o++] = prefix[i];
  }
  if (pat) {
    pat[o++] = '*';
    pat[o] = '\0';
  }
  *out_len = o;
  return pat;
}

logstate_status ls_rp_walk_begin(const ls_redis_config *c, ls_rp_op *op) {
  ls_rp_walk *w = calloc(1, sizeof(*w));
  if (w) {
    w->pattern[0] = pattern_of(c->key_log_prefix, c->key_log_prefix_len, &w->pattern_len[0]);
    w->pattern[1] = pattern_of(c->key_config_prefix, c->key_config_prefix_len, &w->pattern_len[1]);
  }
  if (w == NULL || w->pattern[0] == NULL || w->pattern[1] == NULL) {
    if (w) {
      free(w->pattern[0]);
      free(w->pattern[1]);
    }
    free(w);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
  }
  snprintf(w->cursor, sizeof(w->cursor), "0");
  op->u.verify.walk = w;
  return LOGSTATE_OK;
}

void ls_rp_walk_end(ls_rp_op *op) {
  if (op->u.verify.walk == NULL)
    return;
  drop_names(op->u.verify.walk);
  free(op->u.verify.walk->pattern[0]);
  free(op->u.verify.walk->pattern[1]);
  free(op->u.verify.walk);
  op->u.verify.walk = NULL;
}

void ls_rp_plan_walk(const ls_redis_config *c, ls_rp_op *op, ls_rp_plan *plan) {
  ls_rp_walk *w = op->u.verify.walk;
  plan->n = 0;
  w->checking = 0;
  while (w->next < w->n && w->checking < CHECKS_PER_PLAN) {
    const char *id = w->names[w->next++];
    int k = w->checking++;
    w->key_len[k] = (size_t)snprintf(w->keys[k], sizeof(w->keys[k]), "%s%s",
                                     configs(w) ? c->key_config_prefix : c->key_log_prefix, id);
    if (configs(w))
      ls_rp_plan_config_state(c, w->keys[k], w->key_len[k], id, plan);
    else
      ls_rp_plan_state(c, w->keys[k], w->key_len[k], id, strlen(id), plan);
  }
  if (w->checking)
    return;
  const char *index = configs(w) ? c->key_configs : c->key_logs;
  size_t index_len = configs(w) ? c->key_configs_len : c->key_logs_len;
  if (!scans_keys(w))
    ls_rp_cmd_set(&plan->cmd[plan->n++], 5, (const char *[]){"SSCAN", index, w->cursor, "COUNT", SCAN_COUNT},
                  (const size_t[]){5, index_len, strlen(w->cursor), 5, strlen(SCAN_COUNT)});
  else
    ls_rp_cmd_set(&plan->cmd[plan->n++], 6,
                  (const char *[]){"SCAN", w->cursor, "MATCH", w->pattern[configs(w)], "COUNT", SCAN_COUNT},
                  (const size_t[]){4, strlen(w->cursor), 5, w->pattern_len[configs(w)], 5, strlen(SCAN_COUNT)});
}

/* Takes a scan's reply [cursor, [names]]: log IDs from the index, or log
 * keys (their IDs: the key less the {N}:log: prefix). */
static logstate_status take_scan(const ls_redis_config *c, ls_rp_walk *w, const redisReply *r) {
  if (r->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(c, r, scans_keys(w) ? "SCAN of the keys" : "SSCAN of an index", NULL, 0);
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
      r->element[0]->len >= sizeof(w->cursor) || r->element[1]->type != REDIS_REPLY_ARRAY)
    return ls_redis_unexpected(scans_keys(w) ? "SCAN" : "SSCAN", r);
  snprintf(w->cursor, sizeof(w->cursor), "%.*s", (int)r->element[0]->len, r->element[0]->str);
  w->ended = strcmp(w->cursor, "0") == 0;
  drop_names(w);
  const redisReply *list = r->element[1];
  size_t skip = !scans_keys(w) ? 0 : configs(w) ? c->key_config_prefix_len : c->key_log_prefix_len;
  if (list->elements && (w->names = calloc(list->elements, sizeof(*w->names))) == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
  for (size_t i = 0; i < list->elements; i++) {
    const redisReply *e = list->element[i];
    if (e->type != REDIS_REPLY_STRING || e->len <= skip || e->len - skip > LOGSTATE_MAX_LOG_ID_LEN ||
        memchr(e->str + skip, '\0', e->len - skip) ||
        (configs(w) && (e->len - skip != LOGSTATE_LOG_ID_HEX_LEN ||
                        strspn(e->str + skip, "0123456789abcdef") < LOGSTATE_LOG_ID_HEX_LEN)))
      continue; /* not a name logstate could have written: not its to judge */
    if ((w->names[w->n] = ls_memdup(e->str + skip, e->len - skip)) == NULL)
      return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
    w->n++;
  }
  return LOGSTATE_OK;
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
static void
report(ls_rp_op *op, const char *id, const char *fmt, ...) {
  char msg[LOGSTATE_MAX_LOG_ID_LEN + 900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  op->u.verify.problems++;
  if (op->u.verify.report)
    op->u.verify.report(op->u.verify.report_arg, id, msg);
}

/* Judges the checks of one plan: the index phases report listed names
 * without a whole hash, the key phases hashes the index does not list. */
static logstate_status take_checks(const ls_redis_config *c, ls_rp_op *op, const redisReply *const *r) {
  ls_rp_walk *w = op->u.verify.walk;
  logstate_status st = LOGSTATE_OK;
  const char *index = configs(w) ? c->key_configs : c->key_logs, *what = configs(w) ? "configuration" : "log";
  char why[200];
  for (int i = 0; i < w->checking; i++) {
    const char *id = w->names[w->next - (size_t)w->checking + (size_t)i];
    uint64_t version = 0;
    int listed = 0;
    int kind = configs(w)
                   ? ls_rp_judge_config_state(c, r[2 * i], r[2 * i + 1], id, &listed, why, sizeof(why), &st)
                   : ls_rp_classify(c, r[2 * i], r[2 * i + 1], w->keys[i], w->key_len[i], &listed, &version, &st);
    if (kind < 0)
      return st;
    if (!configs(w))
      snprintf(why, sizeof(why), "lacks its version or its checkpoint");
    if (!scans_keys(w) && listed && kind == 0)
      report(op, id, "key %s is missing, but %s lists the %s", w->keys[i], index, what);
    else if (!scans_keys(w) && listed && kind == 2)
      report(op, id, "key %s %s (%s lists the %s)", w->keys[i], why, index, what);
    else if (scans_keys(w) && !listed && kind != 0)
      report(op, id, "key %s exists, but %s does not list the %s", w->keys[i], index, what);
  }
  return LOGSTATE_OK;
}

int ls_rp_judge_walk(const ls_redis_config *c, ls_rp_op *op, const redisReply *const *r, int n, logstate_status *st) {
  ls_rp_walk *w = op->u.verify.walk;
  (void)n;
  *st = w->checking ? take_checks(c, op, r) : take_scan(c, w, r[0]);
  if (*st != LOGSTATE_OK)
    return 1;
  if (w->next == w->n && w->ended) { /* this phase is through: the next, or done */
    drop_names(w);
    w->phase++;
    w->ended = 0;
    snprintf(w->cursor, sizeof(w->cursor), "0");
  }
  return w->phase == PHASE_DONE;
}

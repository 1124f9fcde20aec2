/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the protocol module's judges (proto.c, proto_init.c,
 * proto_verify.c, primary.c) on arbitrary hiredis reply trees. The first
 * bytes pick the operation and the configuration (pinned store, sentinel
 * or cluster, min_replicas, wait_aof, read-only); the rest is decoded into
 * the replies of each plan, for up to four plans. Whatever the server
 * answers, the judge must return a status, never crash or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redis/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct input {
  const uint8_t *p, *end;
} input;

static unsigned int byte(input *in) { return in->p < in->end ? *in->p++ : 0; }

/* Server texts worth meeting often: redirects, codes the judges look at. */
static const char *const texts[] = {"MOVED 7 127.0.0.1:7001",
                                    "ASK 7 127.0.0.1:7002",
                                    "MOVED 7 :7003",
                                    "ASK 1 [::1]:9",
                                    "NOSCRIPT No matching script",
                                    "READONLY replica",
                                    "TRYAGAIN",
                                    "OK",
                                    "CONFLICT",
                                    "master",
                                    "slave",
                                    "WRONGTYPE x [key: index]",
                                    "LOGSTATE_GUARD g",
                                    "1",
                                    "redis_version:7.0.15\r\n",
                                    "aof_enabled:1\r\naof_last_write_status:ok\r\n"};

static redisReply *decode(input *in, int depth) {
  redisReply *r = calloc(1, sizeof(*r));
  if (r == NULL)
    abort();
  static const int types[] = {REDIS_REPLY_STRING, REDIS_REPLY_ARRAY,  REDIS_REPLY_INTEGER,
                              REDIS_REPLY_NIL,    REDIS_REPLY_STATUS, REDIS_REPLY_ERROR};
  r->type = types[byte(in) % 6];
  if (r->type == REDIS_REPLY_INTEGER) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
      v = (v << 8) | byte(in);
    memcpy(&r->integer, &v, sizeof(v));
    if (byte(in) & 1)
      r->integer %= 100; /* small numbers too: versions, slots, ports */
  } else if (r->type == REDIS_REPLY_ARRAY && depth < 4) {
    r->elements = byte(in) % 6;
    r->element = calloc(r->elements ? r->elements : 1, sizeof(*r->element));
    for (size_t i = 0; i < r->elements; i++)
      r->element[i] = decode(in, depth + 1);
  } else if (r->type != REDIS_REPLY_NIL && r->type != REDIS_REPLY_ARRAY) {
    unsigned int k = byte(in);
    const char *s = NULL;
    size_t len;
    if (k & 1) {
      s = texts[(k >> 1) % (sizeof(texts) / sizeof(texts[0]))];
      len = strlen(s);
    } else {
      len = (k >> 1) % 48;
      if ((size_t)(in->end - in->p) < len)
        len = (size_t)(in->end - in->p);
      s = (const char *)in->p;
      in->p += len;
    }
    r->str = malloc(len + 1);
    memcpy(r->str, s, len);
    r->str[len] = '\0';
    r->len = len;
  } else {
    r->type = REDIS_REPLY_NIL;
  }
  return r;
}

static void report(void *arg, const char *log_id, const char *problem) { (void)arg, (void)log_id, (void)problem; }

static void quiet(void *arg, const char *message) { (void)arg, (void)message; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  input in = {data, data + size};
  unsigned int kind = byte(&in) % 9, flags = byte(&in), hflags = byte(&in);
  logstate_redis_options o = LOGSTATE_REDIS_OPTIONS_INIT;
  o.store_id = flags & 1 ? "0123456789abcdef0123456789abcdef" : NULL;
  o.sentinels = flags & 2 ? "127.0.0.1:26379" : NULL;
  o.master_name = flags & 2 ? "m" : NULL;
  o.cluster_nodes = (flags & 6) == 4 ? "127.0.0.1:7000" : NULL;
  o.min_replicas = flags & 8 ? 1 : 0;
  o.wait_aof = flags & 16 ? 1 : 0;
  o.read_only = flags & 32 ? 1 : 0;
  o.durability = (logstate_redis_durability)((flags >> 6) % 3);
  o.log = quiet;
  o.history = hflags & 1 ? 4 : 0; /* the set script's history arguments, and a HISTORY op's reply */
  o.history_bodies = (hflags & 2) ? LOGSTATE_FLAG_NO : LOGSTATE_FLAG_YES;
  o.client_name = hflags & 4 ? "fuzz-w" : NULL;
  ls_redis_proto p;
  memset(&p, 0, sizeof(p));
  if (ls_redis_config_from_options(&p.cfg, &o) != LOGSTATE_OK)
    return 0;
  ls_rp_proto_init(&p);
  static const ls_rp_kind kinds[] = {LS_RP_CONNECT, LS_RP_INIT,   LS_RP_GET, LS_RP_LOGS,   LS_RP_OPEN,
                                     LS_RP_SET,     LS_RP_VERIFY, LS_RP_SET, LS_RP_HISTORY};
  ls_rp_op op = {.kind = kinds[kind], .log_id = "example.com/log", .log_id_len = 15};
  uint64_t expect = byte(&in) % 4;
  size_t max = 1 + byte(&in) % 8;
  if (op.kind == LS_RP_SET)
    op.u.set = (ls_rp_set){
        .watch = kind == 7, .expect = expect, .cp = (const uint8_t *)"example.com/log\n5\nhash\n", .cp_len = 23};
  else if (op.kind == LS_RP_OPEN)
    op.u.read.settling = (hflags & 8) != 0;
  else if (op.kind == LS_RP_HISTORY)
    op.u.history.max = max;
  else if (op.kind == LS_RP_VERIFY)
    op.u.verify.report = report;
  if (ls_rp_begin(&p, &op) == LOGSTATE_OK) {
    logstate_status st;
    for (int step = 0; step < 4; step++) {
      ls_rp_plan plan, ask;
      int map[LS_RP_MAX_CMDS];
      redisReply *r[LS_RP_MAX_CMDS] = {0};
      ls_rp_plan_next(&p, &op, &plan);
      for (int i = 0; i < plan.n; i++)
        r[i] = decode(&in, 0);
      char host[LS_REDIS_MAX_HOST_LEN + 1] = "127.0.0.1";
      unsigned int port = 7000;
      ls_rp_plan_ask(&p, &op, &plan, r, &ask, map, host, &port);
      int done = ls_rp_judge(&p, &op, (const redisReply *const *)r, plan.n, &st);
      for (int i = 0; i < plan.n; i++)
        freeReplyObject(r[i]);
      if (done)
        break;
    }
    if (op.kind == LS_RP_SET) {
      logstate_backend_state now = {byte(&in), (uint8_t *)"theirs", 6};
      ls_rp_outcome_of(&op.u.set, &now);
    }
  }
  ls_rp_end(&op);
  /* The seeds' question and answer too. */
  if (p.cfg.nseeds) {
    ls_rp_plan plan;
    redisReply *r[LS_RP_MAX_CMDS] = {0};
    ls_rp_plan_discover(&p.cfg, &plan);
    for (int i = 0; i < plan.n; i++)
      r[i] = decode(&in, 0);
    ls_rp_judge_discover(&p, (const redisReply *const *)r, plan.n, "127.0.0.1");
    for (int i = 0; i < plan.n; i++)
      freeReplyObject(r[i]);
  }
  ls_rp_proto_destroy(&p);
  return 0;
}

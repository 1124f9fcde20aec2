/* What the sync and async Redis paths share: configuration (URL and
 * options), key names, the embedded Lua script, error mapping and the
 * parsing of replies. */
#ifndef LOGSTATE_REDIS_COMMON_H
#define LOGSTATE_REDIS_COMMON_H

#include <hiredis/hiredis.h>

#include "internal.h"
#include "logstate/redis.h"

typedef struct ls_redis_config {
  char *host;
  unsigned int port;
  char *unix_path;
  char *user;
  char *password;
  unsigned int db;
  char *prefix;
  unsigned int pool;
  unsigned int connect_timeout_ms;
  unsigned int timeout_ms;
  logstate_redis_durability durability;
  unsigned int min_replicas;
  unsigned int replica_timeout_ms;
  logstate_redis_guard guard;
  void (*log)(void *log_arg, const char *message);
  void *log_arg;
  /* Derived key names: {N}:logs, {N}:meta and the {N}:log: prefix. */
  char *key_logs, *key_meta, *key_log_prefix;
  size_t key_logs_len, key_meta_len, key_log_prefix_len;
} ls_redis_config;

/* Validates `o` (NULL: defaults) into `c`, copying every string. On failure
 * `c` holds nothing to free. */
logstate_status ls_redis_config_from_options(ls_redis_config *c, const logstate_redis_options *o);
/* Parses a redis:// or redis+unix:// URL. Messages never repeat a password. */
logstate_status ls_redis_config_from_url(ls_redis_config *c, const char *url);
void ls_redis_config_free(ls_redis_config *c);
/* "host:port" or the socket path, for messages. */
void ls_redis_config_where(const ls_redis_config *c, char *buf, size_t bufsz);
/* Reports a warning through the configured log callback (or stderr). */
void ls_redis_log(const ls_redis_config *c, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* {N}:log:<logID>, malloc()ed, with its length. NULL when out of memory. */
char *ls_redis_log_key(const ls_redis_config *c, const char *log_id, size_t log_id_len, size_t *out_len);

/* The set script (lua/set.lua, embedded at build time) and its SHA1. */
extern const char ls_lua_set[];
extern const size_t ls_lua_set_len;
extern const char ls_lua_set_sha1[];

/* The guard argument of the set script. */
const char *ls_redis_guard_arg(const ls_redis_config *c);

/* Maps a server error reply to a status and records a message:
 * "redis: <what>: <server text>". `key`, when not NULL, is named for
 * WRONGTYPE. */
logstate_status ls_redis_reply_error(const ls_redis_config *c, const redisReply *r, const char *what, const char *key,
                                     size_t key_len);

/* Maps a dead hiredis context (c->err set) to a status and message. */
logstate_status ls_redis_io_error(const ls_redis_config *cfg, int err, const char *errstr, const char *what);

/* Parses the HMGET version checkpoint reply of a snapshot. On OK,
 * *out_version is 0 and *out_cp NULL for an absent log; otherwise *out_cp is
 * a malloc()ed copy. */
logstate_status ls_redis_parse_snapshot(const ls_redis_config *c, const redisReply *r, const char *key, size_t key_len,
                                        uint64_t *out_version, uint8_t **out_cp, size_t *out_len);

/* Parses the set script's result (not an error reply): OK, or ABORTED for
 * {"CONFLICT", v}, or INTERNAL. */
logstate_status ls_redis_parse_set_result(const ls_redis_config *c, const redisReply *r, const char *key,
                                          size_t key_len);

/* Parses SMEMBERS {N}:logs into an array of C strings. */
logstate_status ls_redis_parse_logs(const ls_redis_config *c, const redisReply *r, char ***out_ids, size_t *out_n);

/* The replies of the init pipeline, checked in order. The durability
 * replies may be NULL when durability=ignore. */
typedef struct ls_redis_init_replies {
  const redisReply *info_server;     /* INFO server */
  const redisReply *meta_setnx;      /* HSETNX {N}:meta schema 1 */
  const redisReply *meta_get;        /* HGET {N}:meta schema */
  const redisReply *script_load;     /* SCRIPT LOAD <set.lua> */
  const redisReply *cfg_appendonly;  /* CONFIG GET appendonly */
  const redisReply *cfg_appendfsync; /* CONFIG GET appendfsync */
  const redisReply *info_persist;    /* INFO persistence */
  const redisReply *cfg_eviction;    /* CONFIG GET maxmemory-policy */
} ls_redis_init_replies;

logstate_status ls_redis_check_init(const ls_redis_config *c, const ls_redis_init_replies *r);

/* One command as an argument vector: what the sync and async paths send. */
typedef struct ls_redis_cmd {
  int argc;
  const char *argv[9];
  size_t len[9];
} ls_redis_cmd;

#define LS_REDIS_INIT_CMDS 8
/* The init pipeline, in the order of ls_redis_init_replies; returns how many
 * commands (4, or 8 with the durability check). */
int ls_redis_init_cmds(const ls_redis_config *c, ls_redis_cmd out[LS_REDIS_INIT_CMDS]);
/* Checks the replies of the init pipeline, given in the same order. */
logstate_status ls_redis_check_init_replies(const ls_redis_config *c, const redisReply *const *r, int n);
/* EVALSHA of the set script. `version_buf` (24 bytes) must outlive `out`. */
void ls_redis_evalsha_cmd(const ls_redis_config *c, ls_redis_cmd *out, const char *key, size_t key_len,
                          uint64_t version, char *version_buf, const uint8_t *cp, size_t len, const char *log_id,
                          size_t log_id_len);
void ls_redis_script_load_cmd(ls_redis_cmd *out);
/* WAIT min_replicas replica_timeout_ms. `bufs` (32 bytes) must outlive it. */
void ls_redis_wait_cmd(const ls_redis_config *c, ls_redis_cmd *out, char *bufs);
logstate_status ls_redis_check_wait(const ls_redis_config *c, const redisReply *r);
int ls_redis_is_noscript(const redisReply *r);
/* Parses HGET key checkpoint into a malloc()ed copy, or NOT_FOUND. */
logstate_status ls_redis_parse_get(const ls_redis_config *c, const redisReply *r, const char *key, size_t key_len,
                                   const char *log_id, size_t log_id_len, uint8_t **out_cp, size_t *out_len);

#endif

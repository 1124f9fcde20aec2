/* SPDX-License-Identifier: Apache-2.0 */
/* The validated configuration of a Redis store, from typed options or a
 * redis:// URL. Shared by the protocol module and both drivers. */
#ifndef LOGSTATE_REDIS_CONFIG_H
#define LOGSTATE_REDIS_CONFIG_H

#include "internal.h"
#include "logstate/redis.h"

#define LS_REDIS_MAX_ADDRS 16
#define LS_REDIS_MAX_POOL 1024u
#define LS_REDIS_MAX_TIMEOUT_MS 3600000u
#define LS_REDIS_MAX_HOST_LEN 255

typedef struct ls_redis_addr {
  char *host;
  unsigned int port;
} ls_redis_addr;

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
  int wait_aof; /* WAITAOF 1 min_replicas instead of WAIT min_replicas */
  logstate_redis_guard guard;
  char *store_id; /* pinned: init and every connection refuse another store */
  int create;     /* init may create the namespace */
  int read_only;  /* mode=ro: init writes nothing and checks no durability; the core refuses writes */
  /* Where the primary is found (primary.c): redis+sentinel asks the seeds
   * (sentinels) for master_name; redis+cluster asks the seeds (cluster
   * nodes) which primary owns the namespace's slot. */
  char *master_name;
  int cluster;
  ls_redis_addr seeds[LS_REDIS_MAX_ADDRS];
  unsigned int nseeds;
  char *sentinel_user, *sentinel_password;
  void (*log)(void *log_arg, const char *message);
  void *log_arg;
  ls_history_cfg hist; /* history=K, history_bodies, client_name */
  /* Derived key names: {N}:logs, {N}:meta, the {N}:log: and {N}:history:
   * prefixes; for log configurations {N}:configs (the index), the
   * {N}:config: prefix and {N}:config-audit (the audit stream). */
  char *key_logs, *key_meta, *key_log_prefix, *key_history_prefix;
  size_t key_logs_len, key_meta_len, key_log_prefix_len, key_history_prefix_len;
  char *key_configs, *key_config_prefix, *key_config_audit;
  size_t key_configs_len, key_config_prefix_len, key_config_audit_len;
} ls_redis_config;

/* Validates `o` (NULL: defaults) into `c`, copying every string. On failure
 * `c` holds nothing to free. */
logstate_status ls_redis_config_from_options(ls_redis_config *c, const logstate_redis_options *o);
/* Whether `url` has one of the Redis schemes. */
int ls_redis_is_url(const char *url);
/* url.c: parses a redis://, redis+unix://, redis+sentinel:// or
 * redis+cluster:// URL. Messages never repeat a password. */
logstate_status ls_redis_config_from_url(ls_redis_config *c, const char *url);
void ls_redis_config_free(ls_redis_config *c);
/* "host:port", the socket path, "sentinel master NAME" or "cluster
 * primary of {N}", for messages. */
void ls_redis_config_where(const ls_redis_config *c, char *buf, size_t bufsz);
/* Reports a warning through the configured log callback (or stderr). */
void ls_redis_log(const ls_redis_config *c, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Fills the derived key names from c->prefix. */
logstate_status ls_redis_derive_keys(ls_redis_config *c);
/* {N}:log:<logID>, malloc()ed, with its length. NULL when out of
 * memory. */
char *ls_redis_log_key(const ls_redis_config *c, const char *log_id, size_t log_id_len, size_t *out_len);

#endif

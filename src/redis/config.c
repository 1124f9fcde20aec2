/* SPDX-License-Identifier: Apache-2.0 */
/* The Redis configuration: typed options (and, through url.c, URLs) into
 * one validated ls_redis_config, and what derives from it: the key names
 * and where the server is, for messages. Both drivers start from here. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "redis/config.h"

#define DEFAULT_PORT 6379
#define DEFAULT_SENTINEL_PORT 26379
#define DEFAULT_CLUSTER_PORT 6379
#define MAX_MASTER_NAME_LEN 128
#define DEFAULT_POOL 8
#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_REPLICA_TIMEOUT_MS 1000
#define MAX_PREFIX_LEN 256
#define DEFAULT_PREFIX "logstate"

/* --- configuration ------------------------------------------------------ */

static char *dup_or_null(const char *s) { return s ? ls_memdup(s, strlen(s)) : NULL; }

static void free_secret(char *s) {
  if (s) /* do not leave it lying in freed memory */
    memset(s, 0, strlen(s));
  free(s);
}

void ls_redis_config_free(ls_redis_config *c) {
  free(c->host);
  free(c->unix_path);
  free(c->user);
  free_secret(c->password);
  free(c->master_name);
  for (unsigned int i = 0; i < c->nseeds; i++)
    free(c->seeds[i].host);
  free(c->sentinel_user);
  free_secret(c->sentinel_password);
  free(c->prefix);
  free(c->store_id);
  free(c->key_logs);
  free(c->key_meta);
  free(c->key_log_prefix);
  free(c->key_history_prefix);
  free(c->key_configs);
  free(c->key_config_prefix);
  free(c->key_config_audit);
  memset(c, 0, sizeof(*c));
}

/* "host[:port],..." (IPv6 in brackets) into out[0..*n): each host copied,
 * `default_port` where none is given. */
static logstate_status parse_addrs(const char *list, unsigned int default_port, ls_redis_addr *out, unsigned int *n) {
  *n = 0;
  for (const char *s = list;; s++) {
    const char *end = s + strcspn(s, ","), *colon, *h = s, *hend;
    if (*n == LS_REDIS_MAX_ADDRS)
      return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: at most %d addresses in a list", LS_REDIS_MAX_ADDRS);
    if (*s == '[') {
      h = s + 1;
      hend = memchr(s, ']', (size_t)(end - s));
      colon = hend && hend + 1 < end && hend[1] == ':' ? hend + 1 : NULL;
      if (hend == NULL || (hend + 1 != end && colon == NULL))
        return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: bad IPv6 address in \"%.*s\"", (int)(end - s), s);
    } else {
      colon = memchr(s, ':', (size_t)(end - s));
      hend = colon ? colon : end;
    }
    unsigned int port = default_port;
    if (hend == h || (size_t)(hend - h) > LS_REDIS_MAX_HOST_LEN)
      return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: an address list needs a host (1 to %d bytes) before each port",
                    LS_REDIS_MAX_HOST_LEN);
    if (colon && (!ls_parse_uint(colon + 1, (size_t)(end - colon - 1), 65535, &port) || port == 0))
      return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: the port in \"%.*s\" must be a number from 1 to 65535",
                    (int)(end - s), s);
    if ((out[*n].host = ls_memdup(h, (size_t)(hend - h))) == NULL)
      return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
    out[(*n)++].port = port;
    if (*end == '\0')
      return LOGSTATE_OK;
    s = end;
  }
}

/* The sentinel fields: both or neither of sentinels and master_name, and no
 * Unix socket with them. */
static logstate_status check_sentinel_options(const logstate_redis_options *o) {
  if ((o->sentinels == NULL && o->master_name == NULL && o->sentinel_user == NULL && o->sentinel_password == NULL))
    return LOGSTATE_OK;
  if (o->sentinels == NULL || o->sentinels[0] == '\0' || o->master_name == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT,
                  "redis: sentinels and master_name go together (sentinel_user and sentinel_password need them)");
  size_t n = strlen(o->master_name);
  if (n == 0 || n > MAX_MASTER_NAME_LEN || strpbrk(o->master_name, " \t\r\n"))
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: master_name must be 1 to %d bytes without spaces",
                  MAX_MASTER_NAME_LEN);
  if (o->unix_path)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: a Unix socket and sentinels exclude each other");
  if (o->sentinel_user && o->sentinel_user[0] && !(o->sentinel_password && o->sentinel_password[0]))
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: sentinel_user given without sentinel_password");
  return LOGSTATE_OK;
}

/* The cluster field: seeds, and nothing that a cluster does not have (a
 * Unix socket, a database, sentinels). */
static logstate_status check_cluster_options(const logstate_redis_options *o) {
  if (o->cluster_nodes == NULL)
    return LOGSTATE_OK;
  if (o->cluster_nodes[0] == '\0')
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: cluster_nodes is empty");
  if (o->sentinels || o->master_name)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: cluster_nodes and sentinels exclude each other");
  if (o->unix_path)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: a Unix socket and cluster_nodes exclude each other");
  if (o->db)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: a cluster has database 0 only (db %u given)", o->db);
  return LOGSTATE_OK;
}

/* Checks every field of `o`; *password gets the password to use (the
 * option, else $LOGSTATE_REDIS_PASSWORD, else NULL). */
static logstate_status check_options(const logstate_redis_options *o, const char **password) {
  if (o->version != LOGSTATE_REDIS_OPTIONS_VERSION)
    return ls_err(LOGSTATE_INVALID_ARGUMENT,
                  "redis: options version %u is not supported (this library takes %u: start from "
                  "LOGSTATE_REDIS_OPTIONS_INIT)",
                  o->version, LOGSTATE_REDIS_OPTIONS_VERSION);
  if (ls_store_id_check_arg("redis", o->store_id) != LOGSTATE_OK ||
      ls_check_create("redis", o->create, 0) != LOGSTATE_OK)
    return LOGSTATE_INVALID_ARGUMENT;
  if (check_sentinel_options(o) != LOGSTATE_OK || check_cluster_options(o) != LOGSTATE_OK)
    return LOGSTATE_INVALID_ARGUMENT;
  const char *prefix = o->prefix ? o->prefix : DEFAULT_PREFIX;
  if (prefix[0] == '\0' || strlen(prefix) > MAX_PREFIX_LEN)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: prefix must be 1 to %d bytes", MAX_PREFIX_LEN);
  if (strpbrk(prefix, "{}"))
    return ls_err(LOGSTATE_INVALID_ARGUMENT,
                  "redis: prefix must not contain { or } (it becomes the hash tag {prefix})");
  if (o->port > 65535)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: port %u is above 65535", o->port);
  if (o->pool > LS_REDIS_MAX_POOL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: pool %u is above %u", o->pool, LS_REDIS_MAX_POOL);
  if (o->connect_timeout_ms > LS_REDIS_MAX_TIMEOUT_MS || o->timeout_ms > LS_REDIS_MAX_TIMEOUT_MS ||
      o->replica_timeout_ms > LS_REDIS_MAX_TIMEOUT_MS)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: timeouts must be at most %u ms", LS_REDIS_MAX_TIMEOUT_MS);
  if ((unsigned)o->durability > LOGSTATE_REDIS_DURABILITY_IGNORE)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: durability %d is not require, warn or ignore", (int)o->durability);
  if ((unsigned)o->guard > LOGSTATE_REDIS_GUARD_SIZE)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: guard %d is not none or size", (int)o->guard);
  if (o->min_replicas > 1000)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: min_replicas %u is above 1000", o->min_replicas);
  if (o->db > INT_MAX)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: db %u is too large", o->db);
  if (o->host && (o->host[0] == '\0' || strlen(o->host) > LS_REDIS_MAX_HOST_LEN))
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: host must be 1 to %d bytes", LS_REDIS_MAX_HOST_LEN);
  if (o->unix_path && o->unix_path[0] == '\0')
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: unix socket path is empty");
  *password = o->password;
  if (*password == NULL) {
    const char *env = getenv("LOGSTATE_REDIS_PASSWORD");
    *password = env && env[0] ? env : NULL;
  }
  if (o->user && o->user[0] && *password == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT,
                  "redis: user given without a password (set one in the URL, the options or LOGSTATE_REDIS_PASSWORD)");
  return LOGSTATE_OK;
}

/* The seeds (cluster nodes or sentinels) and the sentinels' credentials. */
static logstate_status copy_seeds(ls_redis_config *c, const logstate_redis_options *o) {
  logstate_status st = LOGSTATE_OK;
  if (o->cluster_nodes) {
    c->cluster = 1;
    return parse_addrs(o->cluster_nodes, DEFAULT_CLUSTER_PORT, c->seeds, &c->nseeds);
  }
  if (o->sentinels == NULL ||
      (st = parse_addrs(o->sentinels, DEFAULT_SENTINEL_PORT, c->seeds, &c->nseeds)) != LOGSTATE_OK)
    return st;
  c->master_name = dup_or_null(o->master_name);
  c->sentinel_user = o->sentinel_user && o->sentinel_user[0] ? dup_or_null(o->sentinel_user) : NULL;
  c->sentinel_password = o->sentinel_password && o->sentinel_password[0] ? dup_or_null(o->sentinel_password) : NULL;
  if (!c->master_name || (o->sentinel_user && o->sentinel_user[0] && !c->sentinel_user) ||
      (o->sentinel_password && o->sentinel_password[0] && !c->sentinel_password))
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
  return LOGSTATE_OK;
}

/* The connection's settings: where, who, how long. */
static void copy_connection(ls_redis_config *c, const logstate_redis_options *o, const char *password) {
  c->host = dup_or_null(o->host ? o->host : "127.0.0.1");
  c->unix_path = dup_or_null(o->unix_path);
  c->user = o->user && o->user[0] ? dup_or_null(o->user) : NULL;
  c->password = dup_or_null(password);
  c->prefix = dup_or_null(o->prefix ? o->prefix : DEFAULT_PREFIX);
  c->port = o->port ? o->port : DEFAULT_PORT;
  c->db = o->db;
  c->pool = o->pool ? o->pool : DEFAULT_POOL;
  c->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : DEFAULT_TIMEOUT_MS;
  c->timeout_ms = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
}

logstate_status ls_redis_config_from_options(ls_redis_config *c, const logstate_redis_options *o) {
  static const logstate_redis_options defaults = LOGSTATE_REDIS_OPTIONS_INIT;
  const char *password = NULL;
  memset(c, 0, sizeof(*c));
  if (o == NULL)
    o = &defaults;
  logstate_status st = check_options(o, &password);
  int bodies = st == LOGSTATE_OK ? ls_flag_value("redis", "history_bodies", o->history_bodies, 1, &st) : 1;
  if (st != LOGSTATE_OK)
    return st;
  copy_connection(c, o, password);
  c->durability = o->durability;
  c->min_replicas = o->min_replicas;
  c->wait_aof = o->wait_aof != 0;
  c->replica_timeout_ms = o->replica_timeout_ms ? o->replica_timeout_ms : DEFAULT_REPLICA_TIMEOUT_MS;
  c->guard = o->guard;
  c->store_id = dup_or_null(o->store_id);
  c->create = o->create != LOGSTATE_CREATE_NO;
  c->read_only = o->read_only != 0;
  c->log = o->log;
  c->log_arg = o->log_arg;
  ls_history_cfg_init(&c->hist);
  if ((st = ls_history_cfg_set("redis", &c->hist, o->history, bodies, o->client_name)) == LOGSTATE_OK &&
      (st = copy_seeds(c, o)) == LOGSTATE_OK &&
      (!c->host || (o->unix_path && !c->unix_path) || (o->user && o->user[0] && !c->user) ||
       (o->store_id && !c->store_id) || (password && !c->password) || !c->prefix ||
       ls_redis_derive_keys(c) != LOGSTATE_OK))
    st = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
  if (st != LOGSTATE_OK)
    ls_redis_config_free(c);
  return st;
}

void ls_redis_config_where(const ls_redis_config *c, char *buf, size_t bufsz) {
  if (c->master_name)
    snprintf(buf, bufsz, "sentinel master %s", c->master_name);
  else if (c->cluster)
    snprintf(buf, bufsz, "cluster primary of {%s}", c->prefix);
  else if (c->unix_path)
    snprintf(buf, bufsz, "%s", c->unix_path);
  else if (strchr(c->host, ':'))
    snprintf(buf, bufsz, "[%s]:%u", c->host, c->port);
  else
    snprintf(buf, bufsz, "%s:%u", c->host, c->port);
}

void ls_redis_log(const ls_redis_config *c, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (c->log)
    c->log(c->log_arg, msg);
  else
    fprintf(stderr, "logstate: warning: %s\n", msg);
}

/* --- keys: {N}:logs, {N}:meta, {N}:log:<logID>, {N}:configs, {N}:config:<ID>,
 * {N}:config-audit (README "Key layout") --------------------------------- */

static char *make_key(const char *prefix, const char *suffix, size_t *out_len) {
  size_t n = strlen(prefix) + strlen(suffix) + 3;
  char *k = malloc(n + 1);
  if (k)
    *out_len = (size_t)snprintf(k, n + 1, "{%s}:%s", prefix, suffix);
  return k;
}

logstate_status ls_redis_derive_keys(ls_redis_config *c) {
  c->key_logs = make_key(c->prefix, "logs", &c->key_logs_len);
  c->key_meta = make_key(c->prefix, "meta", &c->key_meta_len);
  c->key_log_prefix = make_key(c->prefix, "log:", &c->key_log_prefix_len);
  c->key_history_prefix = make_key(c->prefix, "history:", &c->key_history_prefix_len);
  c->key_configs = make_key(c->prefix, "configs", &c->key_configs_len);
  c->key_config_prefix = make_key(c->prefix, "config:", &c->key_config_prefix_len);
  c->key_config_audit = make_key(c->prefix, "config-audit", &c->key_config_audit_len);
  if (c->key_logs && c->key_meta && c->key_log_prefix && c->key_history_prefix && c->key_configs &&
      c->key_config_prefix && c->key_config_audit)
    return LOGSTATE_OK;
  return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
}

char *ls_redis_log_key(const ls_redis_config *c, const char *log_id, size_t log_id_len, size_t *out_len) {
  char *k = malloc(c->key_log_prefix_len + log_id_len + 1);
  if (k == NULL)
    return NULL;
  memcpy(k, c->key_log_prefix, c->key_log_prefix_len);
  memcpy(k + c->key_log_prefix_len, log_id, log_id_len);
  k[c->key_log_prefix_len + log_id_len] = '\0';
  *out_len = c->key_log_prefix_len + log_id_len;
  return k;
}

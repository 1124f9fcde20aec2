/* SPDX-License-Identifier: Apache-2.0 */
/* The Redis configuration: typed options and redis:// URLs into one
 * validated ls_redis_config, and the names derived from it (where the
 * server is, for messages). Both drivers start from here. */
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
#define MAX_TIMEOUT_MS 3600000u
#define MAX_POOL 1024u
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
  if (o->pool > MAX_POOL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: pool %u is above %u", o->pool, MAX_POOL);
  if (o->connect_timeout_ms > MAX_TIMEOUT_MS || o->timeout_ms > MAX_TIMEOUT_MS ||
      o->replica_timeout_ms > MAX_TIMEOUT_MS)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: timeouts must be at most %u ms", MAX_TIMEOUT_MS);
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

typedef struct url_parts {
  logstate_redis_options o;
  ls_history_cfg hist; /* o.client_name points into it */
  char *strings[11];   /* decoded strings the options point at */
  int nstrings;
} url_parts;

static const char *keep(url_parts *p, char *s) {
  if (s)
    p->strings[p->nstrings++] = s;
  return s;
}

static void url_parts_free(url_parts *p) {
  for (int i = 0; i < p->nstrings; i++) {
    memset(p->strings[i], 0, strlen(p->strings[i])); /* may be the password */
    free(p->strings[i]);
  }
}

#define URL_ERR(...) ls_err(LOGSTATE_INVALID_ARGUMENT, __VA_ARGS__)

/* Decodes s[0..n) into *out, kept in `p` for freeing. */
static logstate_status decode(url_parts *p, const char *s, size_t n, const char **out) {
  int bad = 0;
  if ((*out = keep(p, ls_pct_decode(s, n, &bad))) != NULL)
    return LOGSTATE_OK;
  return bad ? URL_ERR("redis URL: bad %%-escape in the user, password, host or path")
             : ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis URL: out of memory");
}

#define REDIS_KEYS                                                                                                     \
  "prefix, pool, connect_timeout_ms, timeout_ms, durability, min_replicas, replica_timeout_ms, guard, store_id, "      \
  "create, mode, wait_aof, " LS_HISTORY_KEYS
#define SENTINEL_KEYS REDIS_KEYS ", sentinel_user, sentinel_password"

enum { SCHEME_TCP, SCHEME_UNIX, SCHEME_SENTINEL, SCHEME_CLUSTER };

/* A value from a fixed list: its index, or -1. */
static int choice(const ls_query_param *p, const char *const *names, int n) {
  for (int i = 0; i < n; i++)
    if (p->val_len == strlen(names[i]) && memcmp(p->val, names[i], p->val_len) == 0)
      return i;
  return -1;
}

/* A string value given at most once. */
static logstate_status once(url_parts *p, const ls_query_param *q, const char *name, const char **out) {
  if (*out)
    return URL_ERR("redis URL: %s is given twice", name);
  return decode(p, q->val, q->val_len, out);
}

static logstate_status parse_param(url_parts *p, const ls_query_param *q, int scheme) {
  static const char *const durability[] = {"require", "warn", "ignore"}, *const guard[] = {"none", "size"};
  logstate_redis_options *o = &p->o;
  logstate_status hst;
  if (ls_history_param("redis", q, &p->hist, &hst)) {
    o->history = p->hist.keep;
    o->history_bodies = p->hist.bodies ? LOGSTATE_FLAG_YES : LOGSTATE_FLAG_NO;
    o->client_name = p->hist.client_name[0] ? p->hist.client_name : NULL;
    return hst;
  }
  /* Each string at most once: that also bounds what `p` keeps. */
  if (ls_query_is(q, "prefix"))
    return once(p, q, "prefix", &o->prefix);
  if (ls_query_is(q, "store_id"))
    return once(p, q, "store_id", &o->store_id);
  if (ls_query_is(q, "sentinel_user") && scheme == SCHEME_SENTINEL)
    return once(p, q, "sentinel_user", &o->sentinel_user);
  if (ls_query_is(q, "sentinel_password") && scheme == SCHEME_SENTINEL)
    return once(p, q, "sentinel_password", &o->sentinel_password);
  if (ls_query_is(q, "pool"))
    return ls_query_uint("redis", q, 1, MAX_POOL, &o->pool);
  if (ls_query_is(q, "connect_timeout_ms"))
    return ls_query_uint("redis", q, 0, MAX_TIMEOUT_MS, &o->connect_timeout_ms);
  if (ls_query_is(q, "timeout_ms"))
    return ls_query_uint("redis", q, 0, MAX_TIMEOUT_MS, &o->timeout_ms);
  if (ls_query_is(q, "replica_timeout_ms"))
    return ls_query_uint("redis", q, 0, MAX_TIMEOUT_MS, &o->replica_timeout_ms);
  if (ls_query_is(q, "min_replicas"))
    return ls_query_uint("redis", q, 0, 1000, &o->min_replicas);
  if (ls_query_is(q, "db") && scheme == SCHEME_UNIX)
    return ls_query_uint("redis", q, 0, INT_MAX, &o->db);
  if (ls_query_is(q, "durability")) {
    int i = choice(q, durability, 3);
    o->durability = (logstate_redis_durability)(i < 0 ? 0 : i);
    return i < 0 ? URL_ERR("redis URL: durability must be require, warn or ignore") : LOGSTATE_OK;
  }
  if (ls_query_is(q, "mode")) {
    static const char *const modes[] = {"rw", "ro"};
    int i = choice(q, modes, 2);
    o->read_only = i == 1;
    return i < 0 ? URL_ERR("redis URL: mode must be ro or rw") : LOGSTATE_OK;
  }
  if (ls_query_is(q, "wait_aof")) {
    int yes = ls_query_yes_no("redis", q);
    o->wait_aof = yes == 1;
    return yes < 0 ? LOGSTATE_INVALID_ARGUMENT : LOGSTATE_OK;
  }
  if (ls_query_is(q, "create"))
    return ls_query_create("redis", q, 0, &o->create);
  if (ls_query_is(q, "guard")) {
    int i = choice(q, guard, 2);
    o->guard = (logstate_redis_guard)(i < 0 ? 0 : i);
    return i < 0 ? URL_ERR("redis URL: guard must be none or size") : LOGSTATE_OK;
  }
  return ls_query_unknown("redis", q,
                          scheme == SCHEME_UNIX       ? REDIS_KEYS ", db"
                          : scheme == SCHEME_SENTINEL ? SENTINEL_KEYS
                                                      : REDIS_KEYS);
}

static logstate_status parse_query(url_parts *p, const char *q, int scheme) {
  ls_query_param param;
  int more;
  while ((more = ls_query_next("redis", &q, &param)) > 0) {
    logstate_status st = parse_param(p, &param, scheme);
    if (st != LOGSTATE_OK)
      return st;
  }
  return more == 0 ? LOGSTATE_OK : LOGSTATE_INVALID_ARGUMENT;
}

/* user[:password] before the '@' at `at`. */
static logstate_status parse_userinfo(url_parts *p, const char *s, const char *at) {
  const char *colon = memchr(s, ':', (size_t)(at - s));
  size_t ulen = colon ? (size_t)(colon - s) : (size_t)(at - s);
  logstate_status st = ulen ? decode(p, s, ulen, &p->o.user) : LOGSTATE_OK;
  if (st == LOGSTATE_OK && colon)
    st = decode(p, colon + 1, (size_t)(at - colon - 1), &p->o.password);
  if (st == LOGSTATE_OK && p->o.password && p->o.password[0] == '\0')
    p->o.password = NULL;
  return st;
}

/* host[:port][/db] in s[0..end). */
static logstate_status parse_host(url_parts *p, const char *s, const char *end) {
  const char *hend;
  logstate_status st;
  if (*s == '[') {
    const char *rb = memchr(s, ']', (size_t)(end - s));
    if (rb == NULL)
      return URL_ERR("redis URL: unclosed [ in an IPv6 host");
    st = decode(p, s + 1, (size_t)(rb - s - 1), &p->o.host);
    hend = rb + 1;
  } else {
    hend = s + strcspn(s, ":/?");
    if (hend > end)
      hend = end;
    st = decode(p, s, (size_t)(hend - s), &p->o.host);
  }
  if (st != LOGSTATE_OK)
    return st;
  if (p->o.host[0] == '\0')
    return URL_ERR("redis URL: no host (as in redis://127.0.0.1:6379)");
  const char *r = hend;
  if (r < end && *r == ':') {
    size_t plen = strcspn(r + 1, "/?");
    unsigned int port;
    if (!ls_parse_uint(r + 1, plen, 65535, &port) || port == 0)
      return URL_ERR("redis URL: the port must be a number from 1 to 65535");
    p->o.port = port;
    r += 1 + plen;
  }
  if (r < end && *r == '/') {
    size_t dlen = (size_t)(end - r - 1);
    if (dlen && !ls_parse_uint(r + 1, dlen, INT_MAX, &p->o.db))
      return URL_ERR("redis URL: the path must be a database number, as in redis://host:6379/0");
    r = end;
  }
  return r == end ? LOGSTATE_OK : URL_ERR("redis URL: unexpected text after the host");
}

/* host1[:port],host2[:port]/MASTERNAME[/db] in s[0..end). */
static logstate_status parse_sentinel(url_parts *p, const char *s, const char *end) {
  const char *slash = memchr(s, '/', (size_t)(end - s));
  static const char form[] = "redis+sentinel://[user[:password]@]host1:port,host2:port/MASTERNAME[/db]";
  if (slash == NULL || slash == s || slash + 1 == end)
    return URL_ERR("redis URL: %s: sentinel addresses and a master name are needed", form);
  logstate_status st = decode(p, s, (size_t)(slash - s), &p->o.sentinels);
  const char *name = slash + 1, *name_end = memchr(name, '/', (size_t)(end - name));
  if (name_end == NULL)
    name_end = end;
  if (st == LOGSTATE_OK)
    st = decode(p, name, (size_t)(name_end - name), &p->o.master_name);
  if (st == LOGSTATE_OK && name_end < end &&
      !ls_parse_uint(name_end + 1, (size_t)(end - name_end - 1), INT_MAX, &p->o.db))
    return URL_ERR("redis URL: %s: the database after the master name must be a number", form);
  return st;
}

static const struct {
  const char *prefix;
  int scheme;
} schemes[] = {{"redis://", SCHEME_TCP},
               {"redis+unix://", SCHEME_UNIX},
               {"redis+sentinel://", SCHEME_SENTINEL},
               {"redis+cluster://", SCHEME_CLUSTER}};

/* The scheme of `url` and the text after it; NULL when none matches. */
static const char *scheme_of(const char *url, int *scheme) {
  for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
    if (strncmp(url, schemes[i].prefix, strlen(schemes[i].prefix)) == 0) {
      *scheme = schemes[i].scheme;
      return url + strlen(schemes[i].prefix);
    }
  return NULL;
}

int ls_redis_is_url(const char *url) {
  int scheme;
  return scheme_of(url, &scheme) != NULL;
}

static logstate_status parse_url(url_parts *p, const char *url) {
  int scheme = SCHEME_TCP;
  const char *s = scheme_of(url, &scheme);
  if (s == NULL)
    return URL_ERR("redis URL: must start with redis://, redis+unix:// or redis+sentinel://");
  if (strchr(s, '#'))
    return URL_ERR("redis URL: fragments (#) are not supported; percent-encode # as %%23");
  const char *qmark = strchr(s, '?'), *at = NULL;
  /* userinfo ends at the last '@' before the path. */
  for (size_t i = 0, n = strcspn(s, "/?"); i < n; i++)
    if (s[i] == '@')
      at = s + i;
  logstate_status st = at ? parse_userinfo(p, s, at) : LOGSTATE_OK;
  if (at)
    s = at + 1;
  const char *end = qmark ? qmark : s + strlen(s);
  if (st == LOGSTATE_OK && scheme == SCHEME_UNIX) {
    if (end == s || s[0] != '/')
      return URL_ERR("redis URL: redis+unix:// needs an absolute socket path, as in redis+unix:///run/redis.sock");
    st = decode(p, s, (size_t)(end - s), &p->o.unix_path);
  } else if (st == LOGSTATE_OK && scheme == SCHEME_SENTINEL) {
    st = parse_sentinel(p, s, end);
  } else if (st == LOGSTATE_OK && scheme == SCHEME_CLUSTER) {
    /* host1:port,host2:port[/]: a cluster has no database to name. */
    const char *slash = memchr(s, '/', (size_t)(end - s));
    if (slash == s || (slash && slash + 1 != end))
      return URL_ERR("redis URL: redis+cluster://[user[:password]@]host1:port,host2:port[/]: seed nodes, and no "
                     "database (a cluster has database 0 only)");
    st = decode(p, s, (size_t)((slash ? slash : end) - s), &p->o.cluster_nodes);
  } else if (st == LOGSTATE_OK) {
    st = parse_host(p, s, end);
  }
  if (st == LOGSTATE_OK && qmark)
    st = parse_query(p, qmark + 1, scheme);
  return st;
}

logstate_status ls_redis_config_from_url(ls_redis_config *c, const char *url) {
  url_parts p = {.o = LOGSTATE_REDIS_OPTIONS_INIT};
  ls_history_cfg_init(&p.hist);
  memset(c, 0, sizeof(*c));
  logstate_status st = parse_url(&p, url);
  if (st == LOGSTATE_OK)
    st = ls_redis_config_from_options(c, &p.o);
  url_parts_free(&p);
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

/* SPDX-License-Identifier: Apache-2.0 */
/* redis://, redis+unix://, redis+sentinel:// and redis+cluster:// URLs into
 * typed options, which config.c validates like any others: a URL can say
 * nothing the options cannot. Messages never repeat a password. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "redis/config.h"

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
    return ls_query_uint("redis", q, 1, LS_REDIS_MAX_POOL, &o->pool);
  if (ls_query_is(q, "connect_timeout_ms"))
    return ls_query_uint("redis", q, 0, LS_REDIS_MAX_TIMEOUT_MS, &o->connect_timeout_ms);
  if (ls_query_is(q, "timeout_ms"))
    return ls_query_uint("redis", q, 0, LS_REDIS_MAX_TIMEOUT_MS, &o->timeout_ms);
  if (ls_query_is(q, "replica_timeout_ms"))
    return ls_query_uint("redis", q, 0, LS_REDIS_MAX_TIMEOUT_MS, &o->replica_timeout_ms);
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

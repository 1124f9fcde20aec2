/* The Redis configuration: typed options and redis:// URLs into one
 * validated ls_redis_config, and the names derived from it (where the
 * server is, for messages). Both drivers start from here. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "redis/config.h"

#define DEFAULT_PORT 6379
#define DEFAULT_POOL 8
#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_REPLICA_TIMEOUT_MS 1000
#define MAX_TIMEOUT_MS 3600000u
#define MAX_POOL 1024u
#define MAX_PREFIX_LEN 256

/* --- configuration ------------------------------------------------------ */

static char *dup_or_null(const char *s) { return s ? ls_memdup(s, strlen(s)) : NULL; }

void ls_redis_config_free(ls_redis_config *c) {
  free(c->host);
  free(c->unix_path);
  free(c->user);
  if (c->password) /* do not leave it lying in freed memory */
    memset(c->password, 0, strlen(c->password));
  free(c->password);
  free(c->prefix);
  free(c->key_logs);
  free(c->key_meta);
  free(c->key_log_prefix);
  memset(c, 0, sizeof(*c));
}

static char *make_key(const char *prefix, const char *suffix, size_t *out_len) {
  size_t n = strlen(prefix) + strlen(suffix) + 3;
  char *k = malloc(n + 1);
  if (k)
    *out_len = (size_t)snprintf(k, n + 1, "{%s}:%s", prefix, suffix);
  return k;
}

logstate_status ls_redis_config_from_options(ls_redis_config *c, const logstate_redis_options *o) {
  static const logstate_redis_options defaults = LOGSTATE_REDIS_OPTIONS_INIT;
  memset(c, 0, sizeof(*c));
  if (o == NULL)
    o = &defaults;
  if (o->version != LOGSTATE_REDIS_OPTIONS_VERSION)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: options version %u is not supported (expected %u)", o->version,
                  LOGSTATE_REDIS_OPTIONS_VERSION);
  const char *prefix = o->prefix ? o->prefix : "logstate";
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
  if (o->host && o->host[0] == '\0')
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: host is empty");
  if (o->unix_path && o->unix_path[0] == '\0')
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "redis: unix socket path is empty");
  const char *password = o->password;
  if (password == NULL) {
    const char *env = getenv("LOGSTATE_REDIS_PASSWORD");
    password = env && env[0] ? env : NULL;
  }
  if (o->user && o->user[0] && password == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT,
                  "redis: user given without a password (set one in the URL, the options or LOGSTATE_REDIS_PASSWORD)");

  c->host = dup_or_null(o->host ? o->host : "127.0.0.1");
  c->unix_path = dup_or_null(o->unix_path);
  c->user = o->user && o->user[0] ? dup_or_null(o->user) : NULL;
  c->password = dup_or_null(password);
  c->prefix = dup_or_null(prefix);
  c->port = o->port ? o->port : DEFAULT_PORT;
  c->db = o->db;
  c->pool = o->pool ? o->pool : DEFAULT_POOL;
  c->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : DEFAULT_TIMEOUT_MS;
  c->timeout_ms = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
  c->durability = o->durability;
  c->min_replicas = o->min_replicas;
  c->replica_timeout_ms = o->replica_timeout_ms ? o->replica_timeout_ms : DEFAULT_REPLICA_TIMEOUT_MS;
  c->guard = o->guard;
  c->log = o->log;
  c->log_arg = o->log_arg;
  c->key_logs = make_key(prefix, "logs", &c->key_logs_len);
  c->key_meta = make_key(prefix, "meta", &c->key_meta_len);
  c->key_log_prefix = make_key(prefix, "log:", &c->key_log_prefix_len);
  if (!c->host || (o->unix_path && !c->unix_path) || (o->user && o->user[0] && !c->user) ||
      (password && !c->password) || !c->prefix || !c->key_logs || !c->key_meta || !c->key_log_prefix) {
    ls_redis_config_free(c);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory");
  }
  return LOGSTATE_OK;
}

typedef struct url_parts {
  logstate_redis_options o;
  char *strings[6]; /* decoded strings the options point at */
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

#define REDIS_KEYS "prefix, pool, connect_timeout_ms, timeout_ms, durability, min_replicas, replica_timeout_ms, guard"

/* A value from a fixed list: its index, or -1. */
static int choice(const ls_query_param *p, const char *const *names, int n) {
  for (int i = 0; i < n; i++)
    if (p->val_len == strlen(names[i]) && memcmp(p->val, names[i], p->val_len) == 0)
      return i;
  return -1;
}

static logstate_status parse_param(url_parts *p, const ls_query_param *q, int is_unix) {
  static const char *const durability[] = {"require", "warn", "ignore"}, *const guard[] = {"none", "size"};
  logstate_redis_options *o = &p->o;
  if (ls_query_is(q, "prefix")) {
    int bad = 0;
    if ((o->prefix = keep(p, ls_pct_decode(q->val, q->val_len, &bad))) == NULL)
      return bad ? URL_ERR("redis URL: prefix has a bad %%-escape")
                 : ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "out of memory");
    return LOGSTATE_OK;
  }
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
  if (ls_query_is(q, "db") && is_unix)
    return ls_query_uint("redis", q, 0, INT_MAX, &o->db);
  if (ls_query_is(q, "durability")) {
    int i = choice(q, durability, 3);
    o->durability = (logstate_redis_durability)(i < 0 ? 0 : i);
    return i < 0 ? URL_ERR("redis URL: durability must be require, warn or ignore") : LOGSTATE_OK;
  }
  if (ls_query_is(q, "guard")) {
    int i = choice(q, guard, 2);
    o->guard = (logstate_redis_guard)(i < 0 ? 0 : i);
    return i < 0 ? URL_ERR("redis URL: guard must be none or size") : LOGSTATE_OK;
  }
  return ls_query_unknown("redis", q, is_unix ? REDIS_KEYS ", db" : REDIS_KEYS);
}

static logstate_status parse_query(url_parts *p, const char *q, int is_unix) {
  ls_query_param param;
  int more;
  while ((more = ls_query_next("redis", &q, &param)) > 0) {
    logstate_status st = parse_param(p, &param, is_unix);
    if (st != LOGSTATE_OK)
      return st;
  }
  return more == 0 ? LOGSTATE_OK : LOGSTATE_INVALID_ARGUMENT;
}

static logstate_status parse_url(url_parts *p, const char *url) {
  int is_unix = strncmp(url, "redis+unix://", 13) == 0;
  if (!is_unix && strncmp(url, "redis://", 8) != 0)
    return URL_ERR("redis URL: must start with redis:// or redis+unix://");
  const char *s = url + (is_unix ? 13 : 8);
  if (strchr(s, '#'))
    return URL_ERR("redis URL: fragments (#) are not supported; percent-encode # as %%23");
  const char *qmark = strchr(s, '?');
  size_t main_len = qmark ? (size_t)(qmark - s) : strlen(s);
  /* userinfo ends at the last '@' before the path. */
  size_t auth_len = strcspn(s, "/?");
  const char *at = NULL;
  for (size_t i = 0; i < auth_len; i++)
    if (s[i] == '@')
      at = s + i;
  int bad = 0;
  if (at) {
    const char *colon = memchr(s, ':', (size_t)(at - s));
    size_t ulen = colon ? (size_t)(colon - s) : (size_t)(at - s);
    if (ulen) {
      if ((p->o.user = keep(p, ls_pct_decode(s, ulen, &bad))) == NULL)
        goto decode_failed;
    }
    if (colon) {
      if ((p->o.password = keep(p, ls_pct_decode(colon + 1, (size_t)(at - colon - 1), &bad))) == NULL)
        goto decode_failed;
      if (p->o.password[0] == '\0')
        p->o.password = NULL;
    }
    s = at + 1;
    main_len = qmark ? (size_t)(qmark - s) : strlen(s);
  }
  if (is_unix) {
    if (main_len == 0 || s[0] != '/')
      return URL_ERR("redis URL: redis+unix:// needs an absolute socket path, as in redis+unix:///run/redis.sock");
    if ((p->o.unix_path = keep(p, ls_pct_decode(s, main_len, &bad))) == NULL)
      goto decode_failed;
  } else {
    const char *h = s, *end = s + main_len;
    const char *hend;
    if (*h == '[') {
      const char *rb = memchr(h, ']', (size_t)(end - h));
      if (rb == NULL)
        return URL_ERR("redis URL: unclosed [ in an IPv6 host");
      if ((p->o.host = keep(p, ls_pct_decode(h + 1, (size_t)(rb - h - 1), &bad))) == NULL)
        goto decode_failed;
      hend = rb + 1;
    } else {
      hend = h + strcspn(h, ":/?");
      if (hend > end)
        hend = end;
      if ((p->o.host = keep(p, ls_pct_decode(h, (size_t)(hend - h), &bad))) == NULL)
        goto decode_failed;
    }
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
    if (r != end)
      return URL_ERR("redis URL: unexpected text after the host");
  }
  return qmark ? parse_query(p, qmark + 1, is_unix) : LOGSTATE_OK;
decode_failed:
  return bad ? URL_ERR("redis URL: bad %%-escape in the user, password, host or path")
             : ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis URL: out of memory");
}

logstate_status ls_redis_config_from_url(ls_redis_config *c, const char *url) {
  url_parts p = {.o = LOGSTATE_REDIS_OPTIONS_INIT};
  memset(c, 0, sizeof(*c));
  logstate_status st = parse_url(&p, url);
  if (st == LOGSTATE_OK)
    st = ls_redis_config_from_options(c, &p.o);
  url_parts_free(&p);
  return st;
}

void ls_redis_config_where(const ls_redis_config *c, char *buf, size_t bufsz) {
  if (c->unix_path)
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

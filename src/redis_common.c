/* Configuration, key names, error mapping and reply parsing shared by the
 * sync Redis backend and the async API. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "redis_common.h"

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

/* Percent-decodes s[0..n) into a new string. NULL and *bad set on a bad
 * escape or an encoded NUL; NULL alone when out of memory. */
static char *pct_decode(const char *s, size_t n, int *bad) {
  char *d = malloc(n + 1), *o = d;
  if (d == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '%') {
      *o++ = s[i];
      continue;
    }
    unsigned v = 0;
    for (int j = 1; j <= 2; j++) {
      char h = i + (size_t)j < n ? s[i + (size_t)j] : '\0';
      int x = h >= '0' && h <= '9'   ? h - '0'
              : h >= 'a' && h <= 'f' ? h - 'a' + 10
              : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                     : -1;
      if (x < 0) {
        free(d);
        *bad = 1;
        return NULL;
      }
      v = v * 16 + (unsigned)x;
    }
    if (v == 0) {
      free(d);
      *bad = 1;
      return NULL;
    }
    *o++ = (char)v;
    i += 2;
  }
  *o = '\0';
  return d;
}

/* A decimal in [0, max], the whole of s[0..n). */
static int parse_uint(const char *s, size_t n, unsigned long max, unsigned int *out) {
  unsigned long v = 0;
  if (n == 0 || n > 10)
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return 0;
    v = v * 10 + (unsigned long)(s[i] - '0');
  }
  if (v > max)
    return 0;
  *out = (unsigned int)v;
  return 1;
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

static logstate_status parse_query(url_parts *p, const char *q, int is_unix) {
  char qk[LS_QUOTE_BUFSZ];
  while (*q) {
    size_t len = strcspn(q, "&");
    const char *eq = memchr(q, '=', len);
    if (eq == NULL)
      return URL_ERR("redis URL: query parameter %s has no value", ls_quote(qk, sizeof(qk), q, len));
    size_t klen = (size_t)(eq - q);
    const char *v = eq + 1;
    size_t vlen = len - klen - 1;
    unsigned int u = 0;
#define KEY(name) (klen == strlen(name) && memcmp(q, name, klen) == 0)
#define UINT(field, max)                                                                                               \
  do {                                                                                                                 \
    if (!parse_uint(v, vlen, max, &u))                                                                                 \
      return URL_ERR("redis URL: %.*s must be a whole number from 0 to %lu", (int)klen, q, (unsigned long)(max));      \
    p->o.field = u;                                                                                                    \
  } while (0)
    if (KEY("prefix")) {
      int bad = 0;
      const char *s = keep(p, pct_decode(v, vlen, &bad));
      if (s == NULL)
        return bad ? URL_ERR("redis URL: prefix has a bad %%-escape")
                   : ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "out of memory");
      p->o.prefix = s;
    } else if (KEY("pool")) {
      UINT(pool, 1024);
      if (u == 0)
        return URL_ERR("redis URL: pool must be at least 1");
    } else if (KEY("connect_timeout_ms")) {
      UINT(connect_timeout_ms, MAX_TIMEOUT_MS);
    } else if (KEY("timeout_ms")) {
      UINT(timeout_ms, MAX_TIMEOUT_MS);
    } else if (KEY("replica_timeout_ms")) {
      UINT(replica_timeout_ms, MAX_TIMEOUT_MS);
    } else if (KEY("min_replicas")) {
      UINT(min_replicas, 1000);
    } else if (KEY("db") && is_unix) {
      UINT(db, INT_MAX);
    } else if (KEY("durability")) {
      if (vlen == 7 && memcmp(v, "require", 7) == 0)
        p->o.durability = LOGSTATE_REDIS_DURABILITY_REQUIRE;
      else if (vlen == 4 && memcmp(v, "warn", 4) == 0)
        p->o.durability = LOGSTATE_REDIS_DURABILITY_WARN;
      else if (vlen == 6 && memcmp(v, "ignore", 6) == 0)
        p->o.durability = LOGSTATE_REDIS_DURABILITY_IGNORE;
      else
        return URL_ERR("redis URL: durability must be require, warn or ignore");
    } else if (KEY("guard")) {
      if (vlen == 4 && memcmp(v, "none", 4) == 0)
        p->o.guard = LOGSTATE_REDIS_GUARD_NONE;
      else if (vlen == 4 && memcmp(v, "size", 4) == 0)
        p->o.guard = LOGSTATE_REDIS_GUARD_SIZE;
      else
        return URL_ERR("redis URL: guard must be none or size");
    } else {
      return URL_ERR("redis URL: unknown query parameter %s (known: prefix, pool, connect_timeout_ms, timeout_ms, "
                     "durability, min_replicas, replica_timeout_ms, guard%s)",
                     ls_quote(qk, sizeof(qk), q, klen), is_unix ? ", db" : "");
    }
#undef KEY
#undef UINT
    q += len;
    if (*q == '&')
      q++;
  }
  return LOGSTATE_OK;
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
      if ((p->o.user = keep(p, pct_decode(s, ulen, &bad))) == NULL)
        goto decode_failed;
    }
    if (colon) {
      if ((p->o.password = keep(p, pct_decode(colon + 1, (size_t)(at - colon - 1), &bad))) == NULL)
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
    if ((p->o.unix_path = keep(p, pct_decode(s, main_len, &bad))) == NULL)
      goto decode_failed;
  } else {
    const char *h = s, *end = s + main_len;
    const char *hend;
    if (*h == '[') {
      const char *rb = memchr(h, ']', (size_t)(end - h));
      if (rb == NULL)
        return URL_ERR("redis URL: unclosed [ in an IPv6 host");
      if ((p->o.host = keep(p, pct_decode(h + 1, (size_t)(rb - h - 1), &bad))) == NULL)
        goto decode_failed;
      hend = rb + 1;
    } else {
      hend = h + strcspn(h, ":/?");
      if (hend > end)
        hend = end;
      if ((p->o.host = keep(p, pct_decode(h, (size_t)(hend - h), &bad))) == NULL)
        goto decode_failed;
    }
    if (p->o.host[0] == '\0')
      return URL_ERR("redis URL: no host (as in redis://127.0.0.1:6379)");
    const char *r = hend;
    if (r < end && *r == ':') {
      size_t plen = strcspn(r + 1, "/?");
      unsigned int port;
      if (!parse_uint(r + 1, plen, 65535, &port) || port == 0)
        return URL_ERR("redis URL: the port must be a number from 1 to 65535");
      p->o.port = port;
      r += 1 + plen;
    }
    if (r < end && *r == '/') {
      size_t dlen = (size_t)(end - r - 1);
      if (dlen && !parse_uint(r + 1, dlen, INT_MAX, &p->o.db))
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

const char *ls_redis_guard_arg(const ls_redis_config *c) {
  return c->guard == LOGSTATE_REDIS_GUARD_SIZE ? "size" : "none";
}

/* --- errors ------------------------------------------------------------- */

static const struct {
  const char *code;
  logstate_status st;
} error_codes[] = {
    {"NOAUTH", LOGSTATE_PERMISSION_DENIED},
    {"WRONGPASS", LOGSTATE_PERMISSION_DENIED},
    {"NOPERM", LOGSTATE_PERMISSION_DENIED},
    {"OOM", LOGSTATE_RESOURCE_EXHAUSTED},
    {"LOADING", LOGSTATE_UNAVAILABLE},
    {"BUSY", LOGSTATE_UNAVAILABLE},
    {"READONLY", LOGSTATE_UNAVAILABLE},
    {"MASTERDOWN", LOGSTATE_UNAVAILABLE},
    {"TRYAGAIN", LOGSTATE_UNAVAILABLE},
    {"MOVED", LOGSTATE_UNAVAILABLE},
    {"ASK", LOGSTATE_UNAVAILABLE},
    {"CLUSTERDOWN", LOGSTATE_UNAVAILABLE},
    {"NOREPLICAS", LOGSTATE_UNAVAILABLE},
    {"WRONGTYPE", LOGSTATE_INTERNAL},
    {"LOGSTATE_GUARD", LOGSTATE_FAILED_PRECONDITION},
    {"LOGSTATE_CORRUPT", LOGSTATE_INTERNAL},
};

static logstate_status error_status(const char *s, size_t n) {
  size_t code_len = 0;
  while (code_len < n && s[code_len] != ' ')
    code_len++;
  for (size_t i = 0; i < sizeof(error_codes) / sizeof(error_codes[0]); i++)
    if (strlen(error_codes[i].code) == code_len && memcmp(s, error_codes[i].code, code_len) == 0)
      return error_codes[i].st;
  /* An ACL refusal inside a script comes back as a plain ERR. */
  static const char acl_in_script[] = "ERR The user executing the script can't run";
  if (n >= sizeof(acl_in_script) - 1 && memcmp(s, acl_in_script, sizeof(acl_in_script) - 1) == 0)
    return LOGSTATE_PERMISSION_DENIED;
  return LOGSTATE_INTERNAL;
}

logstate_status ls_redis_reply_error(const ls_redis_config *c, const redisReply *r, const char *what, const char *key,
                                     size_t key_len) {
  const char *s = r->str ? r->str : "";
  size_t n = r->str ? r->len : 0;
  logstate_status st = error_status(s, n);
  char q[LS_QUOTE_BUFSZ];
  /* The set script tags which of its keys a WRONGTYPE concerns. */
  if (st == LOGSTATE_INTERNAL && n >= 9 && memcmp(s, "WRONGTYPE", 9) == 0) {
    if (strstr(s, "[key: index]")) {
      key = c->key_logs;
      key_len = c->key_logs_len;
    }
    return ls_err(st, "redis: %s: key %s holds the wrong type (did an operator overwrite it?): %.*s", what,
                  key ? ls_quote(q, sizeof(q), key, key_len) : "(unknown)", (int)(n > 300 ? 300 : n), s);
  }
  return ls_err(st, "redis: %s: %.*s", what, (int)(n > 400 ? 400 : n), s);
}

logstate_status ls_redis_io_error(const ls_redis_config *cfg, int err, const char *errstr, const char *what) {
  char where[300];
  ls_redis_config_where(cfg, where, sizeof(where));
  if (err == REDIS_ERR_OOM)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis %s: %s: out of memory", where, what);
  if (err == REDIS_ERR_PROTOCOL)
    return ls_err(LOGSTATE_INTERNAL, "redis %s: %s: protocol error: %s", where, what, errstr);
  if (err == REDIS_ERR_EOF)
    return ls_err(LOGSTATE_UNAVAILABLE, "redis %s: %s: the server closed the connection", where, what);
  if (err == REDIS_ERR_IO && (strstr(errstr, "temporarily unavailable") || strstr(errstr, "timed out")))
    return ls_err(LOGSTATE_UNAVAILABLE, "redis %s: %s: timed out after %u ms", where, what, cfg->timeout_ms);
  return ls_err(LOGSTATE_UNAVAILABLE, "redis %s: %s: %s", where, what, errstr && errstr[0] ? errstr : "I/O error");
}

/* --- replies ------------------------------------------------------------ */

static logstate_status unexpected(const char *what, const redisReply *r) {
  return ls_err(LOGSTATE_INTERNAL, "redis: %s: unexpected reply of type %d", what, r ? r->type : -1);
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

logstate_status ls_redis_parse_snapshot(const ls_redis_config *c, const redisReply *r, const char *key, size_t key_len,
                                        uint64_t *out_version, uint8_t **out_cp, size_t *out_len) {
  char q[LS_QUOTE_BUFSZ];
  *out_version = 0;
  *out_cp = NULL;
  *out_len = 0;
  if (r->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(c, r, "reading the log", key, key_len);
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
    return unexpected("HMGET", r);
  const redisReply *v = r->element[0], *cp = r->element[1];
  if (v->type == REDIS_REPLY_NIL && cp->type == REDIS_REPLY_NIL)
    return LOGSTATE_OK;
  if (v->type != REDIS_REPLY_STRING || cp->type != REDIS_REPLY_STRING || !parse_version(v->str, v->len, out_version) ||
      cp->len == 0)
    return ls_err(LOGSTATE_INTERNAL, "redis: key %s is corrupt: it needs a checkpoint and a positive version",
                  ls_quote(q, sizeof(q), key, key_len));
  if ((*out_cp = ls_memdup(cp->str, cp->len)) == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory copying a checkpoint");
  *out_len = cp->len;
  return LOGSTATE_OK;
}

logstate_status ls_redis_parse_set_result(const ls_redis_config *c, const redisReply *r, const char *key,
                                          size_t key_len) {
  char q[LS_QUOTE_BUFSZ];
  if (r->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(c, r, "set script", key, key_len);
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
      r->element[1]->type != REDIS_REPLY_INTEGER)
    return unexpected("set script", r);
  const redisReply *s = r->element[0];
  if (s->len == 2 && memcmp(s->str, "OK", 2) == 0)
    return LOGSTATE_OK;
  if (s->len == 8 && memcmp(s->str, "CONFLICT", 8) == 0)
    return ls_err(LOGSTATE_ABORTED, "redis: log key %s changed since the transaction began (now at version %lld)",
                  ls_quote(q, sizeof(q), key, key_len), r->element[1]->integer);
  return unexpected("set script", r);
}

logstate_status ls_redis_parse_logs(const ls_redis_config *c, const redisReply *r, char ***out_ids, size_t *out_n) {
  *out_ids = NULL;
  *out_n = 0;
  if (r->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(c, r, "listing logs", c->key_logs, c->key_logs_len);
  if (r->type != REDIS_REPLY_ARRAY)
    return unexpected("SMEMBERS", r);
  if (r->elements == 0)
    return LOGSTATE_OK;
  char **ids = calloc(r->elements, sizeof(*ids));
  if (ids == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory listing logs");
  for (size_t i = 0; i < r->elements; i++) {
    const redisReply *e = r->element[i];
    if (e->type != REDIS_REPLY_STRING || e->len == 0 || e->len > LOGSTATE_MAX_LOG_ID_LEN ||
        memchr(e->str, '\0', e->len)) {
      *out_ids = ids;
      *out_n = i;
      return ls_err(LOGSTATE_INTERNAL, "redis: the index %s holds a member that is not a valid log ID", c->key_logs);
    }
    if ((ids[i] = ls_memdup(e->str, e->len)) == NULL) {
      *out_ids = ids;
      *out_n = i;
      return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory listing logs");
    }
  }
  *out_ids = ids;
  *out_n = r->elements;
  return LOGSTATE_OK;
}

/* "name:value" from an INFO section, into buf. */
static int info_field(const redisReply *r, const char *name, char *buf, size_t bufsz) {
  if (r == NULL || r->type != REDIS_REPLY_STRING)
    return 0;
  size_t n = strlen(name);
  for (const char *p = r->str; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    if (strncmp(p, name, n) == 0 && p[n] == ':') {
      size_t v = strcspn(p + n + 1, "\r\n");
      snprintf(buf, bufsz, "%.*s", (int)v, p + n + 1);
      return 1;
    }
  }
  return 0;
}

/* CONFIG GET's value: 1 and buf filled; 0 when refused or unknown (the
 * reason in why). */
static int config_value(const redisReply *r, char *buf, size_t bufsz, char *why, size_t whysz) {
  if (r->type == REDIS_REPLY_ERROR) {
    snprintf(why, whysz, "CONFIG GET refused: %.*s", (int)(r->len > 200 ? 200 : r->len), r->str);
    return 0;
  }
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[1]->type != REDIS_REPLY_STRING) {
    snprintf(why, whysz, "CONFIG GET gave no value");
    return 0;
  }
  snprintf(buf, bufsz, "%.*s", (int)r->element[1]->len, r->element[1]->str);
  return 1;
}

#define MIN_REDIS_MAJOR 5

logstate_status ls_redis_check_init(const ls_redis_config *c, const ls_redis_init_replies *r) {
  char buf[128], q[LS_QUOTE_BUFSZ];
  /* Permission and availability errors first: they explain the rest. */
  const redisReply *all[] = {r->info_server, r->meta_setnx, r->meta_get, r->script_load};
  const char *what[] = {"INFO server", "writing the schema to the meta key", "reading the meta key",
                        "SCRIPT LOAD of the set script"};
  for (size_t i = 0; i < 4; i++)
    if (all[i]->type == REDIS_REPLY_ERROR)
      return ls_redis_reply_error(c, all[i], what[i], i == 1 || i == 2 ? c->key_meta : NULL, c->key_meta_len);

  if (!info_field(r->info_server, "redis_version", buf, sizeof(buf)))
    return ls_err(LOGSTATE_INTERNAL, "redis: INFO server has no redis_version");
  if (atoi(buf) < MIN_REDIS_MAJOR)
    return ls_err(LOGSTATE_FAILED_PRECONDITION,
                  "redis: server version %s is too old; logstate needs Redis %d.0 or later", buf, MIN_REDIS_MAJOR);

  const redisReply *m = r->meta_get;
  if (m->type != REDIS_REPLY_STRING)
    return unexpected("HGET schema", m);
  if (m->len != 1 || m->str[0] != '1')
    return ls_err(LOGSTATE_FAILED_PRECONDITION,
                  "redis: %s has schema %s; this version of logstate knows schema 1 only (is the prefix shared with "
                  "another application, or was the store written by a newer logstate?)",
                  c->key_meta, ls_quote(q, sizeof(q), m->str, m->len));

  const redisReply *s = r->script_load;
  if (s->type != REDIS_REPLY_STRING || s->len != 40 || strncasecmp(s->str, ls_lua_set_sha1, 40) != 0)
    return ls_err(LOGSTATE_INTERNAL, "redis: SCRIPT LOAD returned an unexpected SHA1 for the set script");

  if (c->durability == LOGSTATE_REDIS_DURABILITY_IGNORE)
    return LOGSTATE_OK;

  char problems[900] = "";
  size_t pn = 0;
#define PROBLEM(...)                                                                                                   \
  do {                                                                                                                 \
    if (pn < sizeof(problems))                                                                                         \
      pn += (size_t)snprintf(problems + pn, sizeof(problems) - pn, "%s", pn ? "; " : "");                              \
    if (pn < sizeof(problems))                                                                                         \
      pn += (size_t)snprintf(problems + pn, sizeof(problems) - pn, __VA_ARGS__);                                       \
  } while (0)
  char why[300];
  char aof_status[32];
  if (config_value(r->cfg_appendonly, buf, sizeof(buf), why, sizeof(why))) {
    if (strcmp(buf, "yes") != 0)
      PROBLEM("appendonly is %s: set 'appendonly yes'", buf);
  } else {
    /* Without CONFIG GET, INFO persistence still tells whether AOF is on. */
    if (!info_field(r->info_persist, "aof_enabled", buf, sizeof(buf)))
      PROBLEM("could not verify appendonly (%s; INFO persistence unavailable)", why);
    else if (strcmp(buf, "1") != 0)
      PROBLEM("the append-only file is off (INFO persistence aof_enabled:%s): set 'appendonly yes'", buf);
  }
  if (config_value(r->cfg_appendfsync, buf, sizeof(buf), why, sizeof(why))) {
    if (strcmp(buf, "always") != 0)
      PROBLEM("appendfsync is %s: set 'appendfsync always'", buf);
  } else {
    PROBLEM("could not verify appendfsync (%s): grant the user +config|get, or open with durability=warn", why);
  }
  /* An allkeys-* policy may evict a checkpoint: a silent rollback. */
  if (config_value(r->cfg_eviction, buf, sizeof(buf), why, sizeof(why)) && strncmp(buf, "allkeys-", 8) == 0)
    PROBLEM("maxmemory-policy is %s, which may evict checkpoints: set 'maxmemory-policy noeviction'", buf);
  if (info_field(r->info_persist, "aof_last_write_status", aof_status, sizeof(aof_status)) &&
      strcmp(aof_status, "ok") != 0)
    PROBLEM("the last append-only file write failed (aof_last_write_status:%s)", aof_status);
#undef PROBLEM
  if (pn == 0)
    return LOGSTATE_OK;
  if (c->durability == LOGSTATE_REDIS_DURABILITY_WARN) {
    ls_redis_log(c, "redis: the server may lose acknowledged writes: %s", problems);
    return LOGSTATE_OK;
  }
  return ls_err(LOGSTATE_FAILED_PRECONDITION,
                "redis: the server may lose acknowledged writes, which a witness must never do: %s. Change redis.conf "
                "(or CONFIG SET), or open with durability=warn to accept the risk",
                problems);
}

/* --- commands ----------------------------------------------------------- */

static void set_cmd(ls_redis_cmd *c, int argc, const char *const *argv, const size_t *len) {
  c->argc = argc;
  for (int i = 0; i < argc; i++) {
    c->argv[i] = argv[i];
    c->len[i] = len ? len[i] : strlen(argv[i]);
  }
}

int ls_redis_init_cmds(const ls_redis_config *c, ls_redis_cmd out[LS_REDIS_INIT_CMDS]) {
  const char *info[] = {"INFO", "server"};
  const char *setnx[] = {"HSETNX", c->key_meta, "schema", "1"};
  const char *get[] = {"HGET", c->key_meta, "schema"};
  const char *load[] = {"SCRIPT", "LOAD", ls_lua_set};
  size_t load_len[] = {6, 4, ls_lua_set_len};
  const char *cfg1[] = {"CONFIG", "GET", "appendonly"};
  const char *cfg2[] = {"CONFIG", "GET", "appendfsync"};
  const char *pers[] = {"INFO", "persistence"};
  const char *evict[] = {"CONFIG", "GET", "maxmemory-policy"};
  set_cmd(&out[0], 2, info, NULL);
  set_cmd(&out[1], 4, setnx, NULL);
  set_cmd(&out[2], 3, get, NULL);
  set_cmd(&out[3], 3, load, load_len);
  if (c->durability == LOGSTATE_REDIS_DURABILITY_IGNORE)
    return 4;
  set_cmd(&out[4], 3, cfg1, NULL);
  set_cmd(&out[5], 3, cfg2, NULL);
  set_cmd(&out[6], 2, pers, NULL);
  set_cmd(&out[7], 3, evict, NULL);
  return 8;
}

logstate_status ls_redis_check_init_replies(const ls_redis_config *c, const redisReply *const *r, int n) {
  ls_redis_init_replies ir = {r[0], r[1], r[2], r[3], NULL, NULL, NULL, NULL};
  if (n == 8) {
    ir.cfg_appendonly = r[4];
    ir.cfg_appendfsync = r[5];
    ir.info_persist = r[6];
    ir.cfg_eviction = r[7];
  }
  return ls_redis_check_init(c, &ir);
}

void ls_redis_evalsha_cmd(const ls_redis_config *c, ls_redis_cmd *out, const char *key, size_t key_len,
                          uint64_t version, char *version_buf, const uint8_t *cp, size_t len, const char *log_id,
                          size_t log_id_len) {
  snprintf(version_buf, 24, "%llu", (unsigned long long)version);
  const char *guard = ls_redis_guard_arg(c);
  const char *argv[] = {"EVALSHA",   ls_lua_set_sha1,  "2",    key,  c->key_logs,
                        version_buf, (const char *)cp, log_id, guard};
  size_t lens[] = {7, 40, 1, key_len, c->key_logs_len, strlen(version_buf), len, log_id_len, strlen(guard)};
  set_cmd(out, 9, argv, lens);
}

void ls_redis_script_load_cmd(ls_redis_cmd *out) {
  const char *load[] = {"SCRIPT", "LOAD", ls_lua_set};
  size_t load_len[] = {6, 4, ls_lua_set_len};
  set_cmd(out, 3, load, load_len);
}

void ls_redis_wait_cmd(const ls_redis_config *c, ls_redis_cmd *out, char *bufs) {
  snprintf(bufs, 16, "%u", c->min_replicas);
  snprintf(bufs + 16, 16, "%u", c->replica_timeout_ms);
  const char *argv[] = {"WAIT", bufs, bufs + 16};
  set_cmd(out, 3, argv, NULL);
}

logstate_status ls_redis_check_wait(const ls_redis_config *c, const redisReply *r) {
  if (r->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(c, r, "WAIT for replicas", NULL, 0);
  if (r->type != REDIS_REPLY_INTEGER)
    return unexpected("WAIT", r);
  if (r->integer < (long long)c->min_replicas)
    return ls_err(LOGSTATE_UNAVAILABLE,
                  "redis: the checkpoint is stored on the primary, but only %lld of the %u required replicas "
                  "acknowledged it within %u ms",
                  r->integer, c->min_replicas, c->replica_timeout_ms);
  return LOGSTATE_OK;
}

int ls_redis_is_noscript(const redisReply *r) {
  return r->type == REDIS_REPLY_ERROR && r->len >= 8 && memcmp(r->str, "NOSCRIPT", 8) == 0;
}

logstate_status ls_redis_parse_get(const ls_redis_config *c, const redisReply *r, const char *key, size_t key_len,
                                   const char *log_id, size_t log_id_len, uint8_t **out_cp, size_t *out_len) {
  char q[LS_QUOTE_BUFSZ];
  if (r->type == REDIS_REPLY_NIL)
    return ls_err(LOGSTATE_NOT_FOUND, "redis: no checkpoint stored for log %s",
                  ls_quote(q, sizeof(q), log_id, log_id_len));
  if (r->type == REDIS_REPLY_ERROR)
    return ls_redis_reply_error(c, r, "reading a checkpoint", key, key_len);
  if (r->type != REDIS_REPLY_STRING || r->len == 0)
    return ls_err(LOGSTATE_INTERNAL, "redis: key %s holds an empty or non-string checkpoint",
                  ls_quote(q, sizeof(q), key, key_len));
  if ((*out_cp = ls_memdup(r->str, r->len)) == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "redis: out of memory copying a checkpoint");
  *out_len = r->len;
  return LOGSTATE_OK;
}

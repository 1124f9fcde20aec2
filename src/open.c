/* SPDX-License-Identifier: Apache-2.0 */
/* logstate_open(): the one registry of URL schemes, above the backends: it
 * hands a URL to its backend's constructor and wraps the backend in a
 * handle (handle.c). Nothing below calls it. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifdef LOGSTATE_HAVE_SQLITE
logstate_status ls_sqlite_backend_from_url(logstate_backend **out, const char *url);
#endif
#ifdef LOGSTATE_HAVE_REDIS
logstate_status ls_redis_backend_from_url(logstate_backend **out, const char *url);
#endif

/* memory:[NAME][?history=K&history_bodies=yes|no&client_name=W]: NAME is
 * percent-decoded. */
static logstate_status memory_from_url(logstate_backend **out, const char *url) {
  const char *rest = url + strlen("memory:"), *qmark = strchr(rest, '?');
  ls_query_param p;
  ls_history_cfg h;
  int bad = 0, more = 0;
  ls_history_cfg_init(&h);
  for (const char *at = qmark ? qmark + 1 : ""; (more = ls_query_next("memory", &at, &p)) > 0;) {
    logstate_status st;
    if (!ls_history_param("memory", &p, &h, &st))
      return ls_query_unknown("memory", &p, LS_HISTORY_KEYS);
    if (st != LOGSTATE_OK)
      return st;
  }
  if (more < 0)
    return LOGSTATE_INVALID_ARGUMENT;
  char *name = ls_pct_decode(rest, qmark ? (size_t)(qmark - rest) : strlen(rest), &bad);
  if (name == NULL)
    return bad ? ls_err(LOGSTATE_INVALID_ARGUMENT, "memory URL: bad %%-escape in the name")
               : ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "memory: out of memory");
  logstate_status st = ls_memory_backend_new(out, name, &h);
  free(name);
  return st;
}

static const struct {
  const char *prefix;
  logstate_status (*from_url)(logstate_backend **out, const char *url);
} schemes[] = {
    {"memory:", memory_from_url},
#ifdef LOGSTATE_HAVE_SQLITE
    {"sqlite:", ls_sqlite_backend_from_url},
#endif
#ifdef LOGSTATE_HAVE_REDIS
    {"redis://", ls_redis_backend_from_url},
    {"redis+unix://", ls_redis_backend_from_url},
    {"redis+sentinel://", ls_redis_backend_from_url},
    {"redis+cluster://", ls_redis_backend_from_url},
#endif
};

logstate_status logstate_open_ext(logstate **out, const char *url, const logstate_options *opts) {
  if (out)
    *out = NULL;
  if (out == NULL || url == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_open: %s is NULL", out ? "url" : "out");
  ls_policy policy;
  logstate_status st = ls_policy_from_options("logstate_open", opts, &policy);
  if (st != LOGSTATE_OK)
    return st;
  for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
    if (strncmp(url, schemes[i].prefix, strlen(schemes[i].prefix)) != 0)
      continue;
    logstate_backend *be = NULL;
    st = schemes[i].from_url(&be, url);
    if (st != LOGSTATE_OK)
      return st;
    st = logstate_open_backend(out, be, opts);
    if (st != LOGSTATE_OK)
      be->methods->free(be);
    return st;
  }
  /* Name only the scheme, and only when it looks like one: the rest of a
   * URL, or a string that is no URL at all, may be a password. */
  size_t n = strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
  char q[LS_QUOTE_BUFSZ];
  return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_open: %s%s (this build knows: memory:%s%s)",
                n > 0 && n <= 32 && url[n] == ':' ? "unknown or unsupported URL scheme " : "URL has no scheme",
                n > 0 && n <= 32 && url[n] == ':' ? ls_quote(q, sizeof(q), url, n) : "",
#ifdef LOGSTATE_HAVE_SQLITE
                ", sqlite:",
#else
                "",
#endif
#ifdef LOGSTATE_HAVE_REDIS
                ", redis://, redis+unix://, redis+sentinel://, redis+cluster://"
#else
                ""
#endif
  );
}

logstate_status logstate_open(logstate **out, const char *url) { return logstate_open_ext(out, url, NULL); }

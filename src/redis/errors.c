/* SPDX-License-Identifier: Apache-2.0 */
/* How Redis failures become statuses: the server's error codes, a dead
 * connection, a reply of the wrong shape. Messages carry the server's own
 * text, never a password. */
#define _POSIX_C_SOURCE 200809L
#include <string.h>

#include "redis/proto.h"

static const struct {
  const char *code;
  logstate_status st;
} error_codes[] = {
    {"NOAUTH", LOGSTATE_PERMISSION_DENIED},
    {"WRONGPASS", LOGSTATE_PERMISSION_DENIED},
    {"NOPERM", LOGSTATE_PERMISSION_DENIED},
    {"OOM", LOGSTATE_RESOURCE_EXHAUSTED}, /* maxmemory: the store is full (LOGSTATE_CAUSE_NO_SPACE) */
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
    {"LOGSTATE_RESET", LOGSTATE_FAILED_PRECONDITION},
    {"LOGSTATE_CORRUPT", LOGSTATE_INTERNAL},
};

static logstate_status error_status(const char *s, size_t n) {
  size_t code_len = 0;
  while (code_len < n && s[code_len] != ' ')
    code_len++;
  for (size_t i = 0; i < sizeof(error_codes) / sizeof(error_codes[0]); i++)
    if (strlen(error_codes[i].code) == code_len && memcmp(s, error_codes[i].code, code_len) == 0)
      return error_codes[i].st;
  /* An ACL refusal inside a script comes back as a plain ERR: "... can't
   * run this command" (its command), "... can't access at least one of the
   * keys" (its keys, as under an ACL selector). */
  static const char acl_in_script[] = "ERR The user executing the script can't ";
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
  logstate_cause cause = n >= 3 && memcmp(s, "OOM", 3) == 0 ? LOGSTATE_CAUSE_NO_SPACE : LOGSTATE_CAUSE_NONE;
  return ls_err_cause(cause, st, "redis: %s: %.*s", what, (int)(n > 400 ? 400 : n), s);
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

logstate_status ls_redis_unexpected(const char *what, const redisReply *r) {
  return ls_err(LOGSTATE_INTERNAL, "redis: %s: unexpected reply of type %d", what, r ? r->type : -1);
}

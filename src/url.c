/* SPDX-License-Identifier: Apache-2.0 */
/* The URL helpers every backend uses: percent-decoding, whole numbers, and
 * the `?key=value&...` query, so that every scheme reads its options the
 * same way and refuses a key it does not know. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "internal.h"

char *ls_pct_decode(const char *s, size_t n, int *bad) {
  char *d = malloc(n + 1), *o = d;
  if (d == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '%') {
      *o++ = s[i];
      continue;
    }
    unsigned v = 0;
    for (size_t j = 1; j <= 2; j++) {
      char h = i + j < n ? s[i + j] : '\0';
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
    if (v == 0) { /* an encoded NUL would cut the string short */
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

int ls_parse_uint(const char *s, size_t n, unsigned long max, unsigned int *out) {
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

int ls_query_next(const char *what, const char **q, ls_query_param *p) {
  char qk[LS_QUOTE_BUFSZ];
  const char *s = *q;
  while (*s == '&')
    s++;
  if (*s == '\0') {
    *q = s;
    return 0;
  }
  size_t len = strcspn(s, "&");
  const char *eq = memchr(s, '=', len);
  if (eq == NULL) {
    ls_err(LOGSTATE_INVALID_ARGUMENT, "%s URL: query parameter %s has no value", what,
           ls_quote(qk, sizeof(qk), s, len));
    return -1;
  }
  p->key = s;
  p->key_len = (size_t)(eq - s);
  p->val = eq + 1;
  p->val_len = len - p->key_len - 1;
  *q = s + len;
  return 1;
}

int ls_query_is(const ls_query_param *p, const char *key) {
  return p->key_len == strlen(key) && memcmp(p->key, key, p->key_len) == 0;
}

logstate_status ls_query_unknown(const char *what, const ls_query_param *p, const char *known) {
  char qk[LS_QUOTE_BUFSZ];
  return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s URL: unknown query parameter %s (known: %s)", what,
                ls_quote(qk, sizeof(qk), p->key, p->key_len), known[0] ? known : "none");
}

logstate_status ls_query_uint(const char *what, const ls_query_param *p, unsigned long min, unsigned long max,
                              unsigned int *out) {
  unsigned int v;
  if (!ls_parse_uint(p->val, p->val_len, max, &v) || v < min)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s URL: %.*s must be a whole number from %lu to %lu", what,
                  (int)p->key_len, p->key, min, max);
  *out = v;
  return LOGSTATE_OK;
}

int ls_query_yes_no(const char *what, const ls_query_param *p) {
  if (p->val_len == 3 && memcmp(p->val, "yes", 3) == 0)
    return 1;
  if (p->val_len == 2 && memcmp(p->val, "no", 2) == 0)
    return 0;
  ls_err(LOGSTATE_INVALID_ARGUMENT, "%s URL: %.*s must be yes or no", what, (int)p->key_len, p->key);
  return -1;
}

logstate_status ls_query_create(const char *what, const ls_query_param *p, int on_write_ok, logstate_create *out) {
  if (p->val_len == 3 && memcmp(p->val, "yes", 3) == 0)
    *out = LOGSTATE_CREATE_YES;
  else if (p->val_len == 2 && memcmp(p->val, "no", 2) == 0)
    *out = LOGSTATE_CREATE_NO;
  else if (on_write_ok && p->val_len == 8 && memcmp(p->val, "on_write", 8) == 0)
    *out = LOGSTATE_CREATE_ON_WRITE;
  else
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s URL: create must be yes, no%s", what,
                  on_write_ok ? " or on_write" : "");
  return LOGSTATE_OK;
}

logstate_status ls_check_create(const char *what, logstate_create c, int on_write_ok) {
  if (c == LOGSTATE_CREATE_YES || c == LOGSTATE_CREATE_NO || (on_write_ok && c == LOGSTATE_CREATE_ON_WRITE))
    return LOGSTATE_OK;
  return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: create %d is not %s", what, (int)c,
                on_write_ok ? "LOGSTATE_CREATE_YES, _NO or _ON_WRITE" : "LOGSTATE_CREATE_YES or _NO");
}

int ls_flag_value(const char *what, const char *name, logstate_flag f, int dflt, logstate_status *st) {
  *st = LOGSTATE_OK;
  if (f == LOGSTATE_FLAG_DEFAULT)
    return dflt;
  if (f == LOGSTATE_FLAG_YES || f == LOGSTATE_FLAG_NO)
    return f == LOGSTATE_FLAG_YES;
  *st = ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: %s %d is not LOGSTATE_FLAG_DEFAULT, _YES or _NO", what, name, (int)f);
  return dflt;
}

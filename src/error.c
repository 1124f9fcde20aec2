/* SPDX-License-Identifier: Apache-2.0 */
/* Status names and the per-thread last-error message. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* One buffer per thread, like libgit2's git_error_last(): no allocation, so
 * reporting out-of-memory cannot itself fail. */
static _Thread_local char last_error[LS_ERROR_MAX];
static _Thread_local logstate_cause last_cause;

const char *logstate_status_name(logstate_status st) {
  switch (st) {
  case LOGSTATE_OK:
    return "OK";
  case LOGSTATE_NOT_FOUND:
    return "NOT_FOUND";
  case LOGSTATE_ABORTED:
    return "ABORTED";
  case LOGSTATE_INVALID_ARGUMENT:
    return "INVALID_ARGUMENT";
  case LOGSTATE_FAILED_PRECONDITION:
    return "FAILED_PRECONDITION";
  case LOGSTATE_UNAVAILABLE:
    return "UNAVAILABLE";
  case LOGSTATE_PERMISSION_DENIED:
    return "PERMISSION_DENIED";
  case LOGSTATE_RESOURCE_EXHAUSTED:
    return "RESOURCE_EXHAUSTED";
  case LOGSTATE_INTERNAL:
    return "INTERNAL";
  }
  return "UNKNOWN";
}

const char *logstate_last_error(void) { return last_error[0] ? last_error : "no error"; }

logstate_cause logstate_last_error_cause(void) { return last_cause; }

logstate_status logstate_error_setv(logstate_status st, const char *fmt, va_list ap) {
  last_cause = LOGSTATE_CAUSE_NONE;
  if (fmt == NULL) {
    snprintf(last_error, sizeof(last_error), "%s", logstate_status_name(st));
    return st;
  }
  /* Format into a scratch buffer first: fmt's arguments may point into
   * last_error itself (a backend re-wrapping the previous message). */
  char tmp[sizeof(last_error)];
  vsnprintf(tmp, sizeof(tmp), fmt, ap);
  memcpy(last_error, tmp, sizeof(tmp));
  return st;
}

logstate_status logstate_error_set(logstate_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  logstate_error_setv(st, fmt, ap);
  va_end(ap);
  return st;
}

logstate_status ls_err_cause(logstate_cause cause, logstate_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  logstate_error_setv(st, fmt, ap);
  va_end(ap);
  last_cause = cause;
  return st;
}

void ls_error_save(ls_saved_error *e, logstate_status st) {
  e->st = st;
  e->cause = st == LOGSTATE_OK ? LOGSTATE_CAUSE_NONE : last_cause;
  snprintf(e->msg, sizeof(e->msg), "%s", st == LOGSTATE_OK ? "" : logstate_last_error());
}

logstate_status ls_error_restore(const ls_saved_error *e) {
  if (e->st != LOGSTATE_OK)
    ls_err_cause(e->cause, e->st, "%s", e->msg);
  return e->st;
}

/* The length of the UTF-8 sequence at s[0..n) that a terminal shows as a
 * character: 1 to 4, or 0 for an invalid sequence, a C1 control (U+0080 to
 * U+009F: some terminals obey them) or a bidirectional override (U+202A to
 * U+202E, U+2066 to U+2069: they reorder what follows). */
size_t ls_printable_utf8(const unsigned char *s, size_t n) {
  size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
  if (len == 0 || len > n)
    return 0;
  uint32_t cp = s[0] & (0x7f >> len);
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp <= 0x9f ||
      (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
    return 0;
  return len;
}

const char *logstate_quote(char *buf, size_t bufsz, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  if (buf == NULL || bufsz < 8)
    return "";
  if (s == NULL)
    n = 0;
  buf[o++] = '"';
  for (size_t i = 0; i < n;) {
    const unsigned char *c = (const unsigned char *)s + i;
    size_t chr = *c < 0x80 ? 1 : ls_printable_utf8(c, n - i);
    int escape = chr == 0 || *c < 0x20 || *c == 0x7f, backslash = *c == '"' || *c == '\\';
    size_t need = escape ? 4 : backslash ? 2 : chr;
    /* Room for this, the ellipsis (3), the closing quote and the NUL. */
    if (o + need + 5 > bufsz) {
      memcpy(buf + o, "...", 3);
      o += 3;
      break;
    }
    if (escape) {
      buf[o++] = '\\';
      buf[o++] = 'x';
      buf[o++] = hex[*c >> 4];
      buf[o++] = hex[*c & 15];
      i++;
      continue;
    }
    if (backslash)
      buf[o++] = '\\';
    memcpy(buf + o, c, chr);
    o += chr;
    i += chr;
  }
  buf[o++] = '"';
  buf[o] = '\0';
  return buf;
}

void *ls_memdup(const void *p, size_t n) {
  char *d = malloc(n + 1);
  if (d == NULL)
    return NULL;
  if (n)
    memcpy(d, p, n);
  d[n] = '\0';
  return d;
}

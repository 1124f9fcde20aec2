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
static _Thread_local char last_error[1024];

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

logstate_status logstate_error_setv(logstate_status st, const char *fmt, va_list ap) {
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

const char *ls_quote(char *buf, size_t bufsz, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  if (bufsz < 8)
    return "";
  buf[o++] = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    /* Room for an escape (4), the ellipsis (3), the quote and the NUL. */
    if (o + 9 > bufsz) {
      memcpy(buf + o, "...", 3);
      o += 3;
      break;
    }
    if (c == '"' || c == '\\') {
      buf[o++] = '\\';
      buf[o++] = (char)c;
    } else if (c < 0x20 || c == 0x7f) {
      buf[o++] = '\\';
      buf[o++] = 'x';
      buf[o++] = hex[c >> 4];
      buf[o++] = hex[c & 15];
    } else {
      buf[o++] = (char)c;
    }
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

uint64_t ls_hash(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  return h;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Log configurations: what an entry may hold, its ID, and the entries and
 * events themselves (copies, frees, comparison). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "configs.h"

/* Whether s reads as a number to SQLite: [+-]digits[.digits][e[+-]digits]
 * or [+-].digits[...]. The witness's logs table declares origin, vkey and
 * contact STRING, a type with NUMERIC affinity, so SQLite would store such
 * a value as a number ("007" as 7, "1e5" as 100000.0) and read it back
 * changed. */
static int numeric(const char *s) {
  size_t digits = 0;
  if (*s == '+' || *s == '-')
    s++;
  for (; *s >= '0' && *s <= '9'; s++)
    digits++;
  if (*s == '.')
    for (s++; *s >= '0' && *s <= '9'; s++)
      digits++;
  if (digits == 0)
    return 0;
  if (*s == 'e' || *s == 'E') {
    s++;
    if (*s == '+' || *s == '-')
      s++;
    if (!(*s >= '0' && *s <= '9'))
      return 0;
    while (*s >= '0' && *s <= '9')
      s++;
  }
  return *s == '\0';
}

logstate_status ls_cfg_check_text(const char *fn, const char *what, const char *s, size_t max, int ascii_only) {
  if (s == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: %s is NULL", fn, what);
  size_t n = strnlen(s, max + 1);
  if (n == 0 || n > max)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: %s must be 1 to %zu bytes (%s)", fn, what, max,
                  n ? "longer given" : "empty given");
  for (size_t i = 0; i < n;) {
    const unsigned char *c = (const unsigned char *)s + i;
    size_t len = *c >= 0x20 && *c < 0x7f ? 1 : *c >= 0x80 && !ascii_only ? ls_printable_utf8(c, n - i) : 0;
    if (len == 0 || (ascii_only && *c == ' '))
      return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: %s has %s at byte %zu", fn, what,
                    ascii_only ? "a byte that is not visible ASCII" : "a control character or invalid UTF-8", i);
    i += len;
  }
  if (s[0] == ' ' || s[n - 1] == ' ')
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: %s begins or ends with a space", fn, what);
  if (numeric(s))
    return ls_err(LOGSTATE_INVALID_ARGUMENT,
                  "%s: %s reads as a number, which the Go witness's SQLite table would store as one", fn, what);
  return LOGSTATE_OK;
}

logstate_status logstate_log_id(const char *origin, char out[LOGSTATE_LOG_ID_HEX_LEN + 1]) {
  if (out == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_log_id: out is NULL");
  out[0] = '\0';
  logstate_status st = ls_cfg_check_text("logstate_log_id", "origin", origin, LOGSTATE_MAX_ORIGIN_LEN, 0);
  if (st != LOGSTATE_OK)
    return st;
  size_t n = strlen(origin);
  uint8_t *buf = malloc(n + 2);
  if (buf == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "logstate_log_id: out of memory");
  memcpy(buf, "o:", 2);
  memcpy(buf + 2, origin, n);
  ls_sha256_hex(buf, n + 2, out);
  free(buf);
  return LOGSTATE_OK;
}

int64_t ls_cfg_now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void ls_cfg_entry_release(logstate_log_entry *e) {
  free(e->origin);
  free(e->vkey);
  free(e->contact);
  free(e->changed_by);
  free(e->reason);
  memset(e, 0, sizeof(*e));
}

void ls_cfg_event_release(logstate_config_event *e) {
  free(e->origin);
  free(e->by);
  free(e->reason);
  memset(e, 0, sizeof(*e));
}

/* A copy of s, or NULL for NULL; *oom set when out of memory. */
static char *dup(const char *s, int *oom) {
  char *d = s ? ls_memdup(s, strlen(s)) : NULL;
  *oom |= s != NULL && d == NULL;
  return d;
}

logstate_status ls_cfg_entry_copy(logstate_log_entry *dst, const logstate_log_entry *src) {
  int oom = 0;
  *dst = *src;
  dst->origin = dup(src->origin, &oom);
  dst->vkey = dup(src->vkey, &oom);
  dst->contact = dup(src->contact, &oom);
  dst->changed_by = dup(src->changed_by, &oom);
  dst->reason = dup(src->reason, &oom);
  if (!oom)
    return LOGSTATE_OK;
  ls_cfg_entry_release(dst);
  return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "log configurations: out of memory");
}

logstate_status ls_cfg_event_copy(logstate_config_event *dst, const logstate_config_event *src) {
  int oom = 0;
  *dst = *src;
  dst->origin = dup(src->origin, &oom);
  dst->by = dup(src->by, &oom);
  dst->reason = dup(src->reason, &oom);
  if (!oom)
    return LOGSTATE_OK;
  ls_cfg_event_release(dst);
  return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "log configurations: out of memory");
}

static int same_str(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

int ls_cfg_same(const logstate_log_entry *a, const logstate_log_entry *b) {
  return same_str(a->origin, b->origin) && same_str(a->vkey, b->vkey) && same_str(a->contact, b->contact) &&
         (a->has_qpd != 0) == (b->has_qpd != 0) && (!a->has_qpd || a->qpd == b->qpd);
}

logstate_status ls_cfg_entry_check(const char *backend, const logstate_log_entry *e) {
  size_t n = strnlen(e->log_id, sizeof(e->log_id));
  int hex = n == LOGSTATE_LOG_ID_HEX_LEN && strspn(e->log_id, "0123456789abcdef") == n;
  if (hex && e->origin && e->vkey && (!e->has_qpd || isfinite(e->qpd)))
    return LOGSTATE_OK;
  char q[LS_QUOTE_BUFSZ];
  return ls_err(LOGSTATE_INTERNAL, "%s: the log configuration %s is damaged: %s", backend,
                ls_quote(q, sizeof(q), e->log_id, n),
                !hex         ? "its ID is not 64 lowercase hex digits"
                : !e->origin ? "it has no origin"
                : !e->vkey   ? "it has no verifier key"
                             : "its queries per day is not a number");
}

void logstate_log_entry_free(logstate_log_entry *e) {
  if (e == NULL)
    return;
  ls_cfg_entry_release(e);
  free(e);
}

void logstate_log_entries_free(logstate_log_entry *entries, size_t n) {
  if (entries == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    ls_cfg_entry_release(&entries[i]);
  free(entries);
}

void logstate_config_events_free(logstate_config_event *events, size_t n) {
  if (events == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    ls_cfg_event_release(&events[i]);
  free(events);
}

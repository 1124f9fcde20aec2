/* SPDX-License-Identifier: Apache-2.0 */
/* The sync handle: wrapping a backend, its references, what it knows of
 * each log (logtab.h), and the calls on it that read no log. core.c (the
 * read and write objects) and update.c (updates) stand on it. */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"
#include "internal.h"
#include "logtab.h"

void ls_handle_release(logstate *ls) {
  if (atomic_fetch_sub(&ls->refs, 1) == 1) {
    ls->be->methods->free(ls->be);
    ls_logtab_free(ls->tab);
    ls_group_free(ls->group);
    ls_opstats_free(ls->opstats);
    free(ls);
  }
}

static logstate_status check_methods(const logstate_backend_methods *m) {
  if (m == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_open_backend: backend has no methods table");
  if (m->version != LOGSTATE_BACKEND_VERSION)
    return ls_err(LOGSTATE_INVALID_ARGUMENT,
                  "logstate_open_backend: backend methods version %u is not supported (this library takes %u: the "
                  "table of logstate 0.2)",
                  m->version, LOGSTATE_BACKEND_VERSION);
  const char *missing = m->name == NULL          ? "name"
                        : m->logs == NULL        ? "logs"
                        : m->get_latest == NULL  ? "get_latest"
                        : m->write_begin == NULL ? "write_begin"
                        : m->write_set == NULL   ? "write_set"
                        : m->write_end == NULL   ? "write_end"
                        : m->free == NULL        ? "free"
                                                 : NULL;
  if (missing)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_open_backend: backend does not provide the required method %s",
                  missing);
  if (m->cas != NULL && m->read_state == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_open_backend: backend provides cas without read_state");
  if (m->cas_batch != NULL && m->cas == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_open_backend: backend provides cas_batch without cas");
  return LOGSTATE_OK;
}

logstate_status logstate_open_backend(logstate **out, logstate_backend *be, const logstate_options *opts) {
  if (out)
    *out = NULL;
  if (out == NULL || be == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_open_backend: %s is NULL", out ? "backend" : "out");
  ls_policy policy;
  logstate_status st = check_methods(be->methods);
  if (st == LOGSTATE_OK)
    st = ls_policy_from_options("logstate_open", opts, &policy);
  if (st != LOGSTATE_OK)
    return st;
  logstate *ls = calloc(1, sizeof(*ls));
  if (ls == NULL || (ls->tab = ls_logtab_new()) == NULL || (ls->group = ls_group_new(be)) == NULL ||
      (ls->opstats = ls_opstats_new()) == NULL) {
    if (ls) {
      ls_logtab_free(ls->tab);
      ls_group_free(ls->group);
    }
    free(ls);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "logstate_open_backend: out of memory");
  }
  ls->be = be;
  atomic_init(&ls->refs, 1);
  ls->policy = policy;
  *out = ls;
  return LOGSTATE_OK;
}

void logstate_free(logstate *ls) {
  if (ls)
    ls_handle_release(ls);
}

logstate_backend *logstate_get_backend(logstate *ls) { return ls ? ls->be : NULL; }

const char *logstate_version(void) { return LOGSTATE_VERSION_STRING; }

logstate_status logstate_describe(logstate *ls, logstate_info *out) {
  if (ls == NULL || out == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_describe: %s is NULL", ls ? "out" : "handle");
  const logstate_backend_methods *m = ls->be->methods;
  out->backend = m->name;
  out->durability = m->durability ? m->durability(ls->be) : LOGSTATE_DURABILITY_UNKNOWN;
  out->store_id[0] = '\0';
  if (m->store_id)
    m->store_id(ls->be, out->store_id, sizeof(out->store_id));
  out->detail[0] = '\0';
  if (m->detail)
    m->detail(ls->be, out->detail, sizeof(out->detail));
  return LOGSTATE_OK;
}

logstate_status ls_check_writable(logstate *ls, const char *fn) {
  const logstate_backend_methods *m = ls->be->methods;
  if (m->read_only && m->read_only(ls->be))
    return ls_err(LOGSTATE_FAILED_PRECONDITION, "%s: the store was opened read-only (mode=ro)", fn);
  return LOGSTATE_OK;
}

logstate_status ls_backend_read_state(logstate *ls, const char *fn, const char *id, size_t n,
                                      logstate_backend_state *s) {
  char q[LS_QUOTE_BUFSZ];
  memset(s, 0, sizeof(*s));
  uint64_t before = ls_logtab_seen(ls->tab, id, n);
  logstate_status st = ls->be->methods->read_state(ls->be, id, n, s);
  if (st == LOGSTATE_OK && (s->version == 0) != (s->cp == NULL))
    st = ls_err(LOGSTATE_INTERNAL, "%s: %s backend returned version %llu %s a checkpoint for log %s", fn,
                ls->be->methods->name, (unsigned long long)s->version, s->cp ? "with" : "without",
                ls_quote(q, sizeof(q), id, n));
  if (st == LOGSTATE_OK)
    st = ls_logtab_saw(ls->tab, fn, id, n, before, s->version, s->cp, s->len, 1);
  if (st != LOGSTATE_OK) {
    free(s->cp);
    memset(s, 0, sizeof(*s));
    ls_logtab_forget(ls->tab, id, n);
  }
  return st;
}

logstate_status logstate_get_stats(logstate *ls, logstate_stats *out) {
  if (ls == NULL || out == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_get_stats: %s is NULL", ls ? "out" : "handle");
  memset(out, 0, sizeof(*out));
  ls_logtab_stats(ls->tab, out);
  ls_group_stats(ls->group, out);
  if (ls->be->methods->stats)
    ls->be->methods->stats(ls->be, out);
  return LOGSTATE_OK;
}

int ls_core_by_version(const logstate *ls) {
  const logstate_backend_methods *m = ls->be->methods;
  return m->read_state != NULL && m->cas != NULL;
}

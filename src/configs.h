/* SPDX-License-Identifier: Apache-2.0 */
/* Log configurations (log_config.h), the part both APIs share: an
 * operation is prepared (its inputs checked, IDs and times computed), run
 * on a backend (ls_cfg_run) or by an async driver, and finished (results
 * compared, lists filtered and sorted) here, once. */
#ifndef LOGSTATE_CONFIGS_H
#define LOGSTATE_CONFIGS_H

#include "internal.h"

typedef enum ls_cfg_kind { LS_CFG_ADD, LS_CFG_GET, LS_CFG_LIST, LS_CFG_CHANGE, LS_CFG_HISTORY } ls_cfg_kind;

typedef struct ls_cfg_op {
  ls_cfg_kind kind;
  /* Inputs, the op's own. */
  logstate_log_entry *add; /* ADD: the n entries to add */
  size_t n;
  char *origin; /* GET, CHANGE, HISTORY (NULL: every log) */
  char log_id[LOGSTATE_LOG_ID_HEX_LEN + 1];
  logstate_config_event ev; /* CHANGE: by is NULL until the backend's client name is known */
  size_t max;               /* HISTORY */
  int all;                  /* LIST */
  /* What the store returned (the backend's method or a driver). */
  logstate_log_entry **existing; /* ADD: n, NULL where added */
  logstate_log_entry *entries;   /* GET: one; LIST */
  size_t nentries;
  logstate_config_event *events; /* HISTORY */
  size_t nevents;
  int changed; /* CHANGE */
  /* For the caller, after ls_cfg_finish. */
  logstate_config_result *results; /* ADD: n */
  int usable;                      /* GET */
} ls_cfg_op;

/* The preparations: check the arguments (messages name `fn`) and fill
 * `op` (zeroed first). On failure `op` holds nothing. */
logstate_status ls_cfg_prepare_add(const char *fn, ls_cfg_op *op, const logstate_log_config *cfgs, size_t n);
logstate_status ls_cfg_prepare_get(const char *fn, ls_cfg_op *op, const char *origin);
logstate_status ls_cfg_prepare_list(ls_cfg_op *op, int all);
logstate_status ls_cfg_prepare_change(const char *fn, ls_cfg_op *op, const char *origin, int disabled,
                                      const char *reason);
logstate_status ls_cfg_prepare_history(const char *fn, ls_cfg_op *op, const char *origin, size_t max);

/* Runs `op` through the backend's methods: FAILED_PRECONDITION when it has
 * none, or for a write on a store opened read-only; a CHANGE's `by` filled
 * from its client name. */
logstate_status ls_cfg_run(logstate_backend *be, ls_cfg_op *op);
/* After the store's answer `st`: checks what it returned (INTERNAL for a
 * damaged entry), compares an ADD's entries, filters and sorts a LIST.
 * Returns the operation's status. */
logstate_status ls_cfg_finish(ls_cfg_op *op, logstate_status st);
/* Frees what the op holds. */
void ls_cfg_op_release(ls_cfg_op *op);

/* Entries and events (config_check.c): what they point to freed, the
 * struct cleared. */
void ls_cfg_entry_release(logstate_log_entry *e);
void ls_cfg_event_release(logstate_config_event *e);
/* Copies of every string; RESOURCE_EXHAUSTED (nothing to free) when out of
 * memory. */
logstate_status ls_cfg_entry_copy(logstate_log_entry *dst, const logstate_log_entry *src);
logstate_status ls_cfg_event_copy(logstate_config_event *dst, const logstate_config_event *src);
/* Whether a stored entry has what every entry has (INTERNAL naming
 * `backend` and the log otherwise). */
logstate_status ls_cfg_entry_check(const char *backend, const logstate_log_entry *e);
/* Whether two entries have the same configuration (origin, vkey, contact,
 * qpd; not the disabled flag, which is the operator's). */
int ls_cfg_same(const logstate_log_entry *a, const logstate_log_entry *b);
/* A field's check: `s` is NULL-terminated text of 1 to max bytes, printable
 * UTF-8 (ascii_only: visible ASCII), no space at either end, not a number
 * to SQLite. INVALID_ARGUMENT naming fn, what and the problem. */
logstate_status ls_cfg_check_text(const char *fn, const char *what, const char *s, size_t max, int ascii_only);
/* The time, ms since the epoch (the client's clock). */
int64_t ls_cfg_now_ms(void);

#endif

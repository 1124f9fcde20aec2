/* SPDX-License-Identifier: Apache-2.0 */
/* How SQLite failures become statuses: one rule per cause, whatever the
 * statement it hit (the tool's exit codes follow the status and cause):
 *
 *   busy or locked past the busy timeout   RESOURCE_EXHAUSTED, cause BUSY
 *   disk or quota full (SQLITE_FULL, ENOSPC, EDQUOT)
 *                                          RESOURCE_EXHAUSTED, cause NO_SPACE
 *   out of memory                          RESOURCE_EXHAUSTED
 *   permission (the file, its directory)   PERMISSION_DENIED
 *   a directory where the file belongs     INVALID_ARGUMENT
 *   other I/O errors, cannot open          UNAVAILABLE
 *   a table missing                        FAILED_PRECONDITION (init first)
 *   corrupt, not a database, the rest      INTERNAL */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <string.h>

#include "sqlite/sqlite_int.h"

static int is_no_space(int e) { return e == ENOSPC || e == EDQUOT; }
static int is_permission(int e) { return e == EACCES || e == EPERM || e == EROFS; }

logstate_status ls_sqlite_errno(int e, const char *what, const char *path) {
  char q[LS_QUOTE_BUFSZ];
  const char *p = ls_quote(q, sizeof(q), path, strlen(path));
  if (is_no_space(e))
    return ls_err_cause(LOGSTATE_CAUSE_NO_SPACE, LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: %s %s: no space left: %s", what,
                        p, strerror(e));
  if (is_permission(e))
    return ls_err(LOGSTATE_PERMISSION_DENIED, "sqlite: %s %s: permission denied: %s", what, p, strerror(e));
  if (e == EISDIR)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "sqlite: %s is a directory, not a database file", p);
  if (e == ENOMEM)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: %s %s: out of memory", what, p);
  return ls_err(LOGSTATE_UNAVAILABLE, "sqlite: %s %s: %s", what, p, strerror(e));
}

/* The status and cause of a result code; `e` is the system error behind
 * it (0: none known). */
static logstate_status classify(int rc, int e, logstate_cause *cause) {
  *cause = LOGSTATE_CAUSE_NONE;
  /* A full disk shows as SQLITE_FULL, or as I/O or open errors with ENOSPC
   * behind them (a -shm or -wal that cannot be made). */
  if ((rc & 0xff) == SQLITE_FULL || ((rc & 0xff) != SQLITE_BUSY && is_no_space(e))) {
    *cause = LOGSTATE_CAUSE_NO_SPACE;
    return LOGSTATE_RESOURCE_EXHAUSTED;
  }
  switch (rc & 0xff) {
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    *cause = LOGSTATE_CAUSE_BUSY; /* pushback: answer 429, retry later */
    return LOGSTATE_RESOURCE_EXHAUSTED;
  case SQLITE_NOMEM:
    return LOGSTATE_RESOURCE_EXHAUSTED;
  case SQLITE_PERM:
  case SQLITE_READONLY:
  case SQLITE_AUTH:
    return LOGSTATE_PERMISSION_DENIED;
  case SQLITE_CANTOPEN:
    return is_permission(e) ? LOGSTATE_PERMISSION_DENIED
           : e == EISDIR    ? LOGSTATE_INVALID_ARGUMENT
                            : LOGSTATE_UNAVAILABLE;
  case SQLITE_IOERR:
    return is_permission(e) ? LOGSTATE_PERMISSION_DENIED : LOGSTATE_UNAVAILABLE;
  default:
    return LOGSTATE_INTERNAL; /* CORRUPT, NOTADB, unexpected errors */
  }
}

logstate_status ls_sqlite_err(sqlite3 *db, int rc, const char *what) {
  logstate_cause cause;
  int e = db ? sqlite3_system_errno(db) : 0;
  logstate_status st = classify(rc, e, &cause);
  const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  if (strstr(msg, "no such table"))
    return ls_err(LOGSTATE_FAILED_PRECONDITION, "sqlite: %s: %s (call logstate_init first)", what, msg);
  if (cause == LOGSTATE_CAUSE_NO_SPACE)
    return ls_err_cause(cause, st, "sqlite: %s: no space left on the disk: %s", what, msg);
  if (cause == LOGSTATE_CAUSE_BUSY)
    return ls_err_cause(cause, st, "sqlite: %s: the database stayed locked by another writer past the busy timeout: %s",
                        what, msg);
  if (e && (rc & 0xff) != SQLITE_BUSY && (st == LOGSTATE_PERMISSION_DENIED || st == LOGSTATE_UNAVAILABLE))
    return ls_err(st, "sqlite: %s: %s (%s)", what, msg, strerror(e));
  return ls_err(st, "sqlite: %s: %s", what, msg);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite backend: `sqlite:PATH[?busy_timeout_ms=N&store_id=ID&create=no&mode=ro]`,
 * or logstate_sqlite_open(). PATH is percent-decoded (write a literal `?` as
 * %3F); an unknown query key is refused with INVALID_ARGUMENT, so a typo
 * never becomes part of a file name. The directory must exist
 * (INVALID_ARGUMENT otherwise); the file is created when missing, unless a
 * store_id is pinned or create=no.
 *
 * Store identity: logstate_init() gives a database a random store_id (and
 * created_ms) in a side table `logstate_meta (key TEXT PRIMARY KEY, value
 * TEXT)`, in the same transaction that creates the tables, and only after
 * every check passed. A pinned store_id makes opening refuse a missing file
 * and logstate_init() refuse a database without that store_id, with
 * FAILED_PRECONDITION: a replaced or emptied file must not pass for a new
 * store. create=no refuses a database that holds no store.
 *
 * It uses the Go witness's table, so an existing witness database opens as
 * it is:
 *
 *     CREATE TABLE chkpts (logID BLOB PRIMARY KEY, chkpt BLOB, range BLOB)
 *
 * with logID holding the log ID's bytes (rows written as TEXT, as the sqlite3
 * shell does, are found too). logstate_init() creates the table if missing,
 * and a side table `logstate_versions (logID BLOB PRIMARY KEY, version
 * INTEGER)` that counts logstate's own sets; the Go witness ignores it.
 *
 * The database runs in WAL mode with synchronous=FULL and a busy timeout;
 * opening reads the pragmas back and refuses (FAILED_PRECONDITION) if SQLite
 * did not apply them, because a silent fallback would lose durability.
 *
 * Transactions hold no lock between open and set. The set is a short
 * BEGIN IMMEDIATE transaction that stores the checkpoint only if the stored
 * checkpoint and version are still those of the snapshot, else ABORTED. A
 * database still busy after the busy timeout gives RESOURCE_EXHAUSTED (the
 * "pushback" case: answer 429, retry later). Several processes may share one
 * file.
 */
#ifndef LOGSTATE_SQLITE_H
#define LOGSTATE_SQLITE_H

#include "logstate.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct logstate_sqlite_options {
  unsigned int version;         /* LOGSTATE_SQLITE_OPTIONS_VERSION */
  unsigned int busy_timeout_ms; /* 0: 5000 */
  /* --- version 2 --- */
  /** The store this handle must find (`logstate check` prints it), as in
   *  logstate_redis_options: 1 to 64 of [A-Za-z0-9_-]; NULL: any. */
  const char *store_id;
  /** Non-zero: neither opening nor init creates a store that is missing. */
  int no_create;
  /** Non-zero (mode=ro): open the file read-only. A missing file is
   *  refused, init writes nothing (not even the journal mode: a Go witness
   *  database stays byte-identical) and refuses a file without a store, no
   *  durability is checked (logstate_describe says UNKNOWN), and every
   *  write returns FAILED_PRECONDITION. */
  int read_only;
  /* --- version 3 --- */
  /** history=K: each set also appends to the log's history (the side table
   *  logstate_history, in the same transaction), the K newest kept;
   *  0 (the default): none. At most 100000. */
  unsigned int history;
  /** Non-zero (history_bodies=no): entries keep the checkpoint's SHA-256,
   *  not the checkpoint. */
  int history_no_bodies;
  /** client_name: recorded with each entry; 1 to 64 visible ASCII bytes
   *  without spaces; NULL: none. */
  const char *client_name;
} logstate_sqlite_options;

#define LOGSTATE_SQLITE_OPTIONS_VERSION 3
#define LOGSTATE_SQLITE_OPTIONS_INIT                                                                                   \
  { .version = LOGSTATE_SQLITE_OPTIONS_VERSION }

/**
 * Opens (creating if needed) the database file at `path`.
 *
 * @param out receives the handle (caller frees with logstate_free()).
 * @param so SQLite options, NULL for the defaults. @param opts as logstate.h.
 * @return LOGSTATE_OK; LOGSTATE_INVALID_ARGUMENT for NULL or empty
 *         arguments, bad options, or a directory that does not exist;
 *         LOGSTATE_FAILED_PRECONDITION for a missing file when a store_id is
 *         pinned, LOGSTATE_NOT_FOUND when no_create or read_only is set
 *         (nothing is created);
 *         LOGSTATE_UNAVAILABLE when the file
 *         cannot be opened; LOGSTATE_PERMISSION_DENIED when it may not be
 *         written; LOGSTATE_FAILED_PRECONDITION when WAL or synchronous=FULL
 *         did not take effect; LOGSTATE_INTERNAL for a file that is not a
 *         database. Thread-safe.
 */
LOGSTATE_API logstate_status logstate_sqlite_open(logstate **out, const char *path, const logstate_sqlite_options *so,
                                                  const logstate_options *opts);

#ifdef __cplusplus
}
#endif

#endif /* LOGSTATE_SQLITE_H */

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite backend: `sqlite:PATH[?busy_timeout_ms=N&store_id=ID&create=yes|no|on_write&mode=ro]`,
 * or logstate_sqlite_open(). PATH is percent-decoded (write a literal `?` as
 * %3F); an unknown query key is refused with INVALID_ARGUMENT, so a typo
 * never becomes part of a file name. The directory must exist
 * (INVALID_ARGUMENT otherwise, and for a PATH that is a directory).
 *
 * The file is the Go witness's: its table
 *
 *     CREATE TABLE chkpts (logID BLOB PRIMARY KEY, chkpt BLOB, range BLOB)
 *
 * (the 2024 schema; the 2026 one, without `range`, works too), with the log
 * ID bound as TEXT, as the witness binds it: one row per log, which the
 * witness reads as its own. Rows an earlier logstate wrote with BLOB IDs
 * are read as the same logs, and a set turns its row's ID into TEXT; a log
 * stored under both is damage (INTERNAL on every read, every set refused,
 * logstate_verify() names it; logstate_sqlite_repair() mends it). A row
 * with an empty (or NULL) checkpoint is present: it reads as an empty
 * checkpoint, never as "none".
 *
 * What logstate does to a file: logstate_init() first validates it by
 * reads that change nothing; a `chkpts` that is a view, lacks a column or
 * has others, or a foreign object under one of logstate's table names, is
 * FAILED_PRECONDITION naming it, and the file is left byte for byte as it
 * was. Then it adds its side tables where missing, in one transaction:
 * `logstate_versions (logID, version)` (its count of its own sets),
 * `logstate_meta (key, value)` (store_id, created_ms) and, when a handle
 * keeps history, `logstate_history`. The Go witness ignores them. Its own
 * connection runs with synchronous=FULL and the busy timeout, both read
 * back (FAILED_PRECONDITION if SQLite did not apply them). It never changes
 * the file's journal mode: a file logstate creates itself is made in WAL
 * mode, any other keeps the mode its owner chose (the Go witness's default
 * rollback journal stays one, and so stays durable for the witness's own
 * synchronous=NORMAL commits). logstate_describe() says which (`detail`).
 *
 * Creating: a missing file is made by logstate_init() (create=yes, the
 * default) or by the first set (create=on_write: until then the store
 * reads as empty and init creates nothing), whole or not at all: built
 * under a private name in the same directory, then linked into place, so a
 * failure (a full disk, say) leaves no file, and two processes creating
 * one store end with one. create=no and a pinned store_id never create.
 *
 * Store identity: logstate_init() gives a new store a random store_id (and
 * created_ms) in logstate_meta, in the same transaction that creates the
 * tables. A pinned store_id makes opening refuse a missing file and
 * logstate_init() refuse a database without that store_id, with
 * FAILED_PRECONDITION: a replaced or emptied file must not pass for a new
 * store. create=no refuses a database that holds no store.
 *
 * mode=ro opens for reading only, and creates and changes no file, for a
 * user who may read the database but not write its directory too (a file
 * in WAL mode that every writer closed is read without locks, each read
 * checked against a writer arriving meanwhile). A file in WAL mode with
 * only one of its -wal and -shm files cannot be read without creating the
 * other: FAILED_PRECONDITION, saying so.
 *
 * Transactions hold no lock between open and set. The set is a short
 * BEGIN IMMEDIATE transaction that stores the checkpoint only if the stored
 * checkpoint and version are still those of the snapshot, else ABORTED. A
 * database still locked by another writer after the busy timeout gives
 * RESOURCE_EXHAUSTED with cause LOGSTATE_CAUSE_BUSY (the "pushback" case:
 * answer 429, retry later); a full disk RESOURCE_EXHAUSTED with cause
 * LOGSTATE_CAUSE_NO_SPACE; a file or directory it may not write
 * PERMISSION_DENIED. Several processes, the Go witness among them, may
 * share one file.
 */
#ifndef LOGSTATE_SQLITE_H
#define LOGSTATE_SQLITE_H

#include "logstate.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct logstate_sqlite_options {
  unsigned int version;         /* LOGSTATE_SQLITE_OPTIONS_VERSION: the struct of logstate 0.2 */
  unsigned int busy_timeout_ms; /* 0: 5000 */
  /** The store this handle must find (`logstate check` prints it), as in
   *  logstate_redis_options: 1 to 64 of [A-Za-z0-9_-]; NULL: any. */
  const char *store_id;
  /** create=: YES (the default: init creates a missing file), NO (neither
   *  opening nor init creates it: NOT_FOUND), or ON_WRITE (the first set
   *  creates it, with itself; until then the store reads as empty). */
  logstate_create create;
  /** Non-zero (mode=ro): open the file read-only. A missing file is
   *  refused, init writes nothing (not even the journal mode: a Go witness
   *  database stays byte-identical) and refuses a file without a store, no
   *  durability is checked (logstate_describe says UNKNOWN), and every
   *  write returns FAILED_PRECONDITION. */
  int read_only;
  /** history=K: each set also appends to the log's history (the side table
   *  logstate_history, in the same transaction), the K newest kept;
   *  0 (the default): none. At most 100000. */
  unsigned int history;
  /** history_bodies=: YES (the default) keeps each entry's checkpoint; NO
   *  its SHA-256 only. */
  logstate_flag history_bodies;
  /** client_name: recorded with each entry; 1 to 64 visible ASCII bytes
   *  without spaces; NULL: none. */
  const char *client_name;
} logstate_sqlite_options;

#define LOGSTATE_SQLITE_OPTIONS_VERSION 2
#define LOGSTATE_SQLITE_OPTIONS_INIT                                                                                   \
  { .version = LOGSTATE_SQLITE_OPTIONS_VERSION }

/**
 * Opens a handle on the database file at `path`. Nothing is opened or
 * created yet: logstate_init() validates the file, and creates it when
 * missing (see above).
 *
 * @param out receives the handle (caller frees with logstate_free()).
 * @param so SQLite options, NULL for the defaults. @param opts as logstate.h.
 * @return LOGSTATE_OK; LOGSTATE_INVALID_ARGUMENT for NULL or empty
 *         arguments, bad options, a directory that does not exist, or a
 *         path that is a directory; LOGSTATE_FAILED_PRECONDITION for
 *         ":memory:", and for a missing file when a store_id is pinned;
 *         LOGSTATE_NOT_FOUND for a missing file with create NO or read_only
 *         is set (nothing is created); LOGSTATE_PERMISSION_DENIED when the
 *         file may not be read; LOGSTATE_INTERNAL for a file that is not a
 *         database. Thread-safe.
 */
LOGSTATE_API logstate_status logstate_sqlite_open(logstate **out, const char *path, const logstate_sqlite_options *so,
                                                  const logstate_options *opts);

/** What logstate_sqlite_repair() did with one log stored under a BLOB ID.
 *  Valid during the call only. */
typedef struct logstate_sqlite_repair_item {
  const char *log_id; /* NUL-terminated; any byte but NUL (print it with logstate_quote()) */
  int repaired;       /* 1: mended as `action` says; 0: left as it is */
  const char *action; /* what was done, or why not */
  /* Left as it is (two rows that disagree): the checkpoint of the row with
   * the TEXT ID (the one the Go witness reads), and of the one with the
   * BLOB ID; NULL otherwise. */
  const uint8_t *text_cp, *blob_cp;
  size_t text_len, blob_len;
} logstate_sqlite_repair_item;

typedef void (*logstate_sqlite_repair_fn)(void *arg, const logstate_sqlite_repair_item *item);

/**
 * Gives every log ID an earlier logstate stored as a BLOB its TEXT form, in
 * one write transaction, so that the Go witness sees those logs: a log
 * with one row gets a TEXT ID; a log stored twice with the same checkpoint
 * loses its BLOB row; a log stored twice with different checkpoints is
 * left as it is and reported with both, for an operator to decide (delete
 * the row to drop with the sqlite3 shell, then run this again).
 * logstate_versions and logstate_history are converted too. Nothing else
 * is changed. Idempotent.
 *
 * @param report called after the transaction, once per log found (may be
 *        NULL).
 * @param out_repaired receives the number of logs mended.
 * @param out_left receives the number of logs left for an operator.
 * @return LOGSTATE_OK (whatever the counts); LOGSTATE_INVALID_ARGUMENT for
 *         NULL arguments or a handle on another backend;
 *         LOGSTATE_FAILED_PRECONDITION for a read-only handle; backend
 *         statuses as for logstate_init() (nothing is changed then).
 *         Thread-safe.
 */
LOGSTATE_API logstate_status logstate_sqlite_repair(logstate *ls, logstate_sqlite_repair_fn report, void *arg,
                                                    size_t *out_repaired, size_t *out_left);

#ifdef __cplusplus
}
#endif

#endif /* LOGSTATE_SQLITE_H */

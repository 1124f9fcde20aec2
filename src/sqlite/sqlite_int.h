/* SPDX-License-Identifier: Apache-2.0 */
/* What the SQLite backend's files share.
 *
 *   errors.c   SQLite result codes into statuses and causes
 *   conn.c     connections and their statements (each spelled once here)
 *   reader.c   which connection a read runs on (a read-only handle creates
 *              and changes no file, in either journal mode)
 *   schema.c   what a file holds: validated before anything is written
 *   setup.c    init: the checks, then logstate's tables, once per handle
 *   create.c   a new file made whole in a private name, then linked in place
 *   backend.c  the methods: reads, the write transaction, the set
 *   repair.c   logs stored twice or under BLOB IDs: verify and repair
 *   history.c  the history side table
 *   options.c  URL keys, typed options, the constructor */
#ifndef LOGSTATE_SQLITE_INT_H
#define LOGSTATE_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "internal.h"
#include "logstate/sqlite.h"

/* --- errors.c ----------------------------------------------------------- */

/* Maps an SQLite result code (with the system error behind it) to a status
 * and a cause, and records SQLite's message (from `db` when given),
 * prefixed with what was being done. */
logstate_status ls_sqlite_err(sqlite3 *db, int rc, const char *what);
/* The same for a failed system call on `path` (errno `e`). */
logstate_status ls_sqlite_errno(int e, const char *what, const char *path);

/* --- conn.c ------------------------------------------------------------- */

/* The statements, each spelled once in conn.c. */
typedef enum sq_stmt_id {
  SQ_BEGIN,
  SQ_BEGIN_IMMEDIATE,
  SQ_COMMIT,
  SQ_ROLLBACK,
  SQ_SNAPSHOT,             /* ?1 the log ID: its rows (0 to 2) and logstate's version */
  SQ_SNAPSHOT_NO_VERSIONS, /* the same on a file without logstate_versions */
  SQ_LOGS,
  SQ_CP_UPDATE,      /* ?1 ID ?2 checkpoint: the TEXT row */
  SQ_CP_UPDATE_BLOB, /* ... the BLOB row (an earlier logstate's), which gets a TEXT ID */
  SQ_CP_INSERT,
  SQ_VERSION_PUT,       /* ?1 ID ?2 version */
  SQ_VERSION_DROP_BLOB, /* ?1 ID: an earlier logstate's BLOB-keyed version row */
  SQ_HISTORY_INSERT,
  SQ_HISTORY_TRIM,
  SQ_HISTORY_READ,
  /* Log configurations (config.c): ?1 is the log ID where there is one. */
  SQ_CFG_TABLES,
  SQ_CFG_MAKE_LOGS, /* the Go witness's own statement */
  SQ_CFG_MAKE_META,
  SQ_CFG_MAKE_AUDIT,
  SQ_CFG_GET, /* with the side table's columns */
  SQ_CFG_GET_BARE,
  SQ_CFG_LIST,
  SQ_CFG_LIST_BARE,
  SQ_CFG_INSERT,       /* ?2 origin ?3 vkey ?4 contact ?5 qpd ?6 disabled */
  SQ_CFG_META_ADDED,   /* ?2 added_ms */
  SQ_CFG_DISABLE,      /* ?2 disabled */
  SQ_CFG_META_CHANGED, /* ?2 changed_ms ?3 changed_by ?4 reason */
  SQ_CFG_AUDIT,        /* ?2 origin ?3 disabled ?4 at_ms ?5 by ?6 reason */
  SQ_CFG_HISTORY,      /* ?2 max */
  SQ_CFG_HISTORY_ALL,
  SQ_CFG_IDS, /* every row's logID, its type and origin, for verify */
  SQ_NSTMT
} sq_stmt_id;

/* A connection and its prepared statements. */
typedef struct sq_conn {
  sqlite3 *db;
  sqlite3_stmt *st[SQ_NSTMT];
  unsigned int busy_ms;  /* how long a lock is waited for */
  uint64_t busy_from_us; /* when the current wait began */
} sq_conn;

/* How a connection is opened. */
typedef enum sq_open_kind {
  SQ_OPEN_WRITER,    /* read-write, never creating the file */
  SQ_OPEN_CREATE,    /* read-write, the (private) file created */
  SQ_OPEN_READER,    /* read-only, sharing the file's locks as SQLite does */
  SQ_OPEN_IMMUTABLE, /* read-only without locks or side files (reader.c guards it) */
} sq_open_kind;

/* Opens `path`; the busy timeout and synchronous=FULL are set and read
 * back on every kind but IMMUTABLE. */
logstate_status sq_conn_open(sq_conn *c, const char *path, sq_open_kind kind, unsigned int busy_ms);
void sq_conn_close(sq_conn *c);
/* The statement, prepared on first use and reset, with ?1 bound to the log
 * ID as TEXT (as the Go witness binds it) when id is not NULL. NULL with
 * *rc set on failure. */
sqlite3_stmt *sq_stmt(sq_conn *c, sq_stmt_id id, const char *log_id, size_t log_id_len, int *rc);
/* Steps a statement that returns no row: SQLITE_OK or the error. */
int sq_run(sqlite3_stmt *st);
/* Runs BEGIN, BEGIN IMMEDIATE, COMMIT or ROLLBACK: SQLITE_OK or the error. */
int sq_exec(sq_conn *c, sq_stmt_id id);
/* The first n bytes (or fewer: *got) of the database file at `path`. */
logstate_status sq_read_head(const char *path, unsigned char *buf, int n, int *got);
/* One text value of a one-row query (buf "" and *found 0 when no row). */
int sq_one_value(sqlite3 *db, const char *sql, char *buf, size_t n, int *found);

/* PATH's directory ("." for a bare name), in buf. */
void sq_dir_of(const char *path, char *buf, size_t n);
/* Whether the database file exists; INVALID_ARGUMENT for a directory,
 * PERMISSION_DENIED and the like when stat() fails otherwise. */
logstate_status sq_file_exists(const char *path, int *exists);

/* --- the backend ---------------------------------------------------------- */

typedef enum sq_create { SQ_CREATE_NO, SQ_CREATE_YES, SQ_CREATE_ON_WRITE } sq_create;

typedef enum sq_state {
  SQ_UNSET,  /* init has not run */
  SQ_ABSENT, /* no file yet: the first set makes it (create=on_write) */
  SQ_READY,  /* validated (and for a writer, set up) */
} sq_state;

/* What the file says of itself, read by schema.c. */
typedef struct sq_file {
  int has_store;    /* a chkpts table */
  int has_versions; /* logstate_versions */
  int has_meta;     /* logstate_meta */
  int has_history;  /* logstate_history */
  int made_by_us;   /* logstate created it (and chose WAL) */
  char store_id[LS_STORE_ID_MAX + 1];
} sq_file;

typedef struct sq_backend {
  logstate_backend base;
  pthread_mutex_t mu; /* everything below the options */
  char *path;         /* the database file */
  char *pin;          /* the pinned store_id, or NULL */
  sq_create create;
  int read_only; /* mode=ro */
  unsigned int busy_ms;
  ls_history_cfg hist;
  sq_state state;
  sq_conn rw;   /* a writer's connection, once init opened it */
  sq_conn live; /* a read-only handle's connection, once the file had its side files */
  sq_file file; /* as the last validation found it */
  int wal;      /* the file's header says WAL (else a rollback journal), as init read it */
} sq_backend;

/* --- reader.c ----------------------------------------------------------- */

/* A read on the file: `fn` runs inside a read transaction on a connection
 * that creates and changes no file (the writer's own for a writer). It may
 * run more than once (a read without a lock that a writer disturbed): each
 * run releases what an earlier one left in `arg`. */
typedef logstate_status (*sq_read_fn)(sq_backend *b, sq_conn *c, void *arg);
logstate_status sq_read(sq_backend *b, sq_read_fn fn, void *arg);
/* The same for a `fn` that runs one statement (a log's snapshot, the
 * list of logs): on the writer's connection, without BEGIN and COMMIT. */
logstate_status sq_read1(sq_backend *b, sq_read_fn fn, void *arg);
/* *wal: the header of the file says WAL (else a rollback journal). */
logstate_status sq_header_wal(const char *path, int *wal);
void sq_reader_close(sq_backend *b);

/* --- schema.c ----------------------------------------------------------- */

/* Reads what the file holds into *f and refuses (FAILED_PRECONDITION,
 * naming it) a chkpts that is not the witness's table, foreign objects
 * under logstate's table names, and an encoding other than UTF-8. Reads
 * only. */
logstate_status sq_schema_check(sq_conn *c, const char *where, sq_file *f);
/* The tables a store needs that *f lacks, created with `c` inside the
 * caller's write transaction; store_id and created_ms when missing, and
 * created_by when `made_here` (create.c's new file). */
logstate_status sq_schema_create(sq_conn *c, const sq_file *f, int with_history, int made_here);

/* --- setup.c ------------------------------------------------------------ */

/* Brings the handle to SQ_READY (or SQ_ABSENT): validates the file, opens
 * a writer's connection, creates logstate's tables if missing. With
 * `may_create` (init) a missing file is created per b->create; without
 * (an operation before init) a missing store is "call logstate_init
 * first". Under b->mu. */
logstate_status sq_setup(sq_backend *b, int may_create);
/* SQ_READY, or SQ_ABSENT when the file is still missing; the operations'
 * entry. Under b->mu. */
logstate_status sq_ready(sq_backend *b);

/* --- rows.c ------------------------------------------------------------- */

/* A log's rows as one statement reads them. */
typedef struct sq_snapshot {
  int rows;        /* chkpts rows of the log: 0, 1, or 2 (TEXT and BLOB: damage) */
  int blob_id;     /* the one row has a BLOB ID (an earlier logstate's) */
  uint8_t *cp;     /* the checkpoint of the one row (NULL when none; "" for an empty one) */
  size_t cp_len;   /* 0 for an empty checkpoint (the Go witness may store one) */
  int64_t version; /* logstate's count of its sets (0: none) */
} sq_snapshot;

void sq_snapshot_free(sq_snapshot *s);
/* Reads the snapshot of one log; damage (two rows, or a version without a
 * row) is INTERNAL naming it. */
logstate_status sq_snapshot_read(sq_conn *c, int has_versions, const char *id, size_t id_len, sq_snapshot *s);
/* The log's version as the backend reports it: logstate's count of its
 * sets, or 1 for a row logstate never counted (the Go witness's), 0 for
 * none. A set stores this plus one, so that it grows by one with every
 * logstate set and is never 0 beside a checkpoint. */
int64_t sq_version_of(const sq_snapshot *s);
/* Writes `cp` as the log's next state after `s` (checked by the caller),
 * inside the caller's write transaction. An SQLite result code. */
int sq_store(sq_conn *c, const ls_history_cfg *h, const char *id, size_t id_len, const sq_snapshot *s,
             const uint8_t *cp, size_t len);

/* --- config.c, config_write.c: log configurations ---------------------- */

/* Which of the tables of log configurations the file has. */
typedef struct sq_cfg_tables {
  int logs, meta, audit;
} sq_cfg_tables;
/* Reads them from the schema: an SQLite result code. */
int sq_cfg_tables_of(sq_conn *c, sq_cfg_tables *t);
/* The entry of log_id on `c`, inside the caller's transaction: *out NULL
 * when none. */
logstate_status sq_cfg_get_on(sq_conn *c, const sq_cfg_tables *t, const char *log_id, logstate_log_entry **out);
/* logstate_verify()'s part: each row of `logs` whose ID is not the TEXT
 * log ID of its origin, given to add(arg, id, len, SQ_CFG_WRONG_ID) (0:
 * out of memory). */
#define SQ_CFG_WRONG_ID 4
logstate_status sq_cfg_verify(sq_conn *c, int (*add)(void *arg, const void *id, size_t len, int kind), void *arg);
/* The backend methods (sys/backend.h). */
logstate_status sq_config_add(logstate_backend *be, const logstate_log_entry *entries, size_t n,
                              logstate_log_entry **existing);
logstate_status sq_config_get(logstate_backend *be, const char *origin, const char *log_id, logstate_log_entry **out);
logstate_status sq_config_list(logstate_backend *be, logstate_log_entry **out, size_t *out_n);
logstate_status sq_config_change(logstate_backend *be, const logstate_config_event *ev, int *changed);
logstate_status sq_config_history(logstate_backend *be, const char *origin, const char *log_id, size_t max,
                                  logstate_config_event **out, size_t *out_n);

/* --- cas.c -------------------------------------------------------------- */

/* A log's snapshot in a read of its own (none when the store is not made
 * yet: create=on_write). Takes b->mu. */
logstate_status sq_snapshot_of(sq_backend *b, const char *id, size_t id_len, sq_snapshot *s);

/* --- backend.c ---------------------------------------------------------- */

extern const logstate_backend_methods ls_sqlite_methods;

/* --- cas.c -------------------------------------------------------------- */

/* The read_state, cas and cas_batch methods. */
logstate_status sq_read_state(logstate_backend *be, const char *log_id, size_t log_id_len, logstate_backend_state *out);
void sq_cas(logstate_backend *be, logstate_backend_cas *const *reqs, size_t n);
size_t sq_cas_batch(logstate_backend *be);

/* --- create.c ----------------------------------------------------------- */

/* The first set of a store made by it. */
typedef struct sq_first_set {
  const char *id;
  size_t id_len;
  const uint8_t *cp;
  size_t len;
} sq_first_set;
/* Makes the store file at b->path whole or not at all: a private file in
 * the same directory gets the tables, the store_id, WAL and (when `first`
 * is given) the first set, is closed and synced, then linked into place.
 * *raced is set when another process made the file first (nothing of ours
 * is left; use theirs). On failure nothing is left either. */
logstate_status sq_create_file(sq_backend *b, const sq_first_set *first, int *raced);

/* --- history.c ---------------------------------------------------------- */

/* Appends the set's entry (version: the one the set made) inside the
 * caller's write transaction, and drops entries beyond h->keep. An SQLite
 * result code. */
int ls_sqlite_history_append(sq_conn *c, const ls_history_cfg *h, const char *id, size_t id_len, uint64_t version,
                             const uint8_t *cp, size_t len);
/* Up to `max` entries, newest first (*out malloc()ed, the caller's, even on
 * failure: *out_n of them filled); none when the table does not exist. */
logstate_status ls_sqlite_history_read(sq_conn *c, const char *id, size_t id_len, size_t max,
                                       logstate_history_entry **out, size_t *out_n);

/* --- verify.c ----------------------------------------------------------- */

logstate_status ls_sqlite_verify(sq_backend *b, logstate_verify_fn report, void *arg, size_t *out_problems);

#endif /* LOGSTATE_SQLITE_INT_H */

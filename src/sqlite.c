/* SPDX-License-Identifier: Apache-2.0 */
/* The SQLite backend, on the Go witness's chkpts table.
 *
 * A handle has one connection, used under a mutex. Opening a transaction
 * reads a snapshot (the row, its checkpoint, and logstate's version of it)
 * in a short read transaction and holds nothing afterwards, so one thread
 * may hold many. The set runs BEGIN IMMEDIATE, re-reads, and writes only if
 * the row, checkpoint and version are still the snapshot's: the version
 * catches logstate writers that restored an earlier value, and the
 * checkpoint comparison catches writers that do not know the version table
 * (the Go witness). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "logstate/sqlite.h"
#include "sqlite_int.h"

#define DEFAULT_BUSY_TIMEOUT_MS 5000
#define MAX_BUSY_TIMEOUT_MS 3600000u

typedef struct sq_backend {
  logstate_backend base;
  sqlite3 *db;
  pthread_mutex_t mu;
  char *path; /* for messages */
  char *pin;  /* the pinned store_id, or NULL */
  int create;
  int read_only;                      /* mode=ro: opened SQLITE_OPEN_READONLY, init writes nothing */
  int has_versions;                   /* logstate_versions exists (a Go witness database may lack it) */
  char store_id[LS_STORE_ID_MAX + 1]; /* once init read it; under mu */
  ls_history_cfg hist;
  int history_ready; /* a commit of this handle's saw the history table made; under mu */
} sq_backend;

typedef struct snapshot {
  int row;     /* a chkpts row exists (maybe with a NULL chkpt) */
  uint8_t *cp; /* NULL: no checkpoint */
  size_t cp_len;
  sqlite3_int64 version;
} snapshot;

struct logstate_backend_txn {
  char *id;
  size_t id_len;
  snapshot snap;
};

static const logstate_backend_methods sq_methods;

logstate_status ls_sqlite_err(sqlite3 *db, int rc, const char *what) {
  logstate_status st;
  switch (rc & 0xff) {
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    st = LOGSTATE_RESOURCE_EXHAUSTED; /* pushback: the database is busy */
    break;
  case SQLITE_NOMEM:
  case SQLITE_FULL:
    st = LOGSTATE_RESOURCE_EXHAUSTED;
    break;
  case SQLITE_PERM:
  case SQLITE_READONLY:
  case SQLITE_AUTH:
    st = LOGSTATE_PERMISSION_DENIED;
    break;
  case SQLITE_CANTOPEN:
  case SQLITE_IOERR:
    st = LOGSTATE_UNAVAILABLE;
    break;
  default:
    st = LOGSTATE_INTERNAL; /* CORRUPT, NOTADB, unexpected errors */
    break;
  }
  const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  if (strstr(msg, "no such table"))
    return ls_err(LOGSTATE_FAILED_PRECONDITION, "sqlite: %s: %s (call logstate_init first)", what, msg);
  return ls_err(st, "sqlite: %s: %s", what, msg);
}

static logstate_status sq_err(sq_backend *b, int rc, const char *what) {
  return ls_sqlite_err(b ? b->db : NULL, rc, what);
}

static int exec(sq_backend *b, const char *sql) { return sqlite3_exec(b->db, sql, NULL, NULL, NULL); }

/* Prepares `sql` and binds ?1 = the log ID (blob), ?2 = cp when given. */
static int prepare(sq_backend *b, sqlite3_stmt **st, const char *sql, const char *id, size_t id_len, const uint8_t *cp,
                   size_t cp_len) {
  int rc = sqlite3_prepare_v2(b->db, sql, -1, st, NULL);
  if (rc == SQLITE_OK && id)
    rc = sqlite3_bind_blob(*st, 1, id, (int)id_len, SQLITE_STATIC);
  if (rc == SQLITE_OK && cp)
    rc = sqlite3_bind_blob(*st, 2, cp, (int)cp_len, SQLITE_STATIC);
  return rc;
}

/* Rows written as TEXT (by the sqlite3 shell, say) match too. */
#define WHERE_ID "WHERE logID = ?1 OR logID = CAST(?1 AS TEXT)"

/* Reads the row of a log and, when `with_version`, logstate's version of
 * it; the caller holds the mutex. */
static logstate_status read_snapshot(sq_backend *b, const char *id, size_t id_len, int with_version, snapshot *s) {
  sqlite3_stmt *st = NULL;
  memset(s, 0, sizeof(*s));
  int rc = prepare(b, &st, "SELECT chkpt FROM chkpts " WHERE_ID " LIMIT 1", id, id_len, NULL, 0);
  if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    s->row = 1;
    if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
      const void *p = sqlite3_column_blob(st, 0);
      size_t n = (size_t)sqlite3_column_bytes(st, 0);
      if (n > 0 && (s->cp = ls_memdup(p, n)) == NULL) {
        sqlite3_finalize(st);
        return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory");
      }
      s->cp_len = n;
    }
    rc = SQLITE_DONE;
  }
  sqlite3_finalize(st);
  st = NULL;
  if (rc == SQLITE_DONE && with_version && b->has_versions)
    rc = prepare(b, &st, "SELECT version FROM logstate_versions WHERE logID = ?1", id, id_len, NULL, 0);
  if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    s->version = sqlite3_column_int64(st, 0);
    rc = SQLITE_DONE;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    free(s->cp);
    s->cp = NULL;
    return sq_err(b, rc, "reading a checkpoint");
  }
  return LOGSTATE_OK;
}

static logstate_status sq_init(logstate_backend *be) {
  sq_backend *b = (sq_backend *)be;
  pthread_mutex_lock(&b->mu);
  ls_sqlite_mode mode = {.where = b->path, .pin = b->pin, .create = b->create, .read_only = b->read_only};
  logstate_status st = ls_sqlite_identity(b->db, &mode, b->store_id, &b->has_versions);
  pthread_mutex_unlock(&b->mu);
  return st;
}

static void sq_store_id(logstate_backend *be, char *buf, size_t size) {
  sq_backend *b = (sq_backend *)be;
  pthread_mutex_lock(&b->mu);
  snprintf(buf, size, "%s", b->store_id);
  pthread_mutex_unlock(&b->mu);
}

static logstate_status sq_logs(logstate_backend *be, char ***out_ids, size_t *out_n) {
  sq_backend *b = (sq_backend *)be;
  sqlite3_stmt *st = NULL;
  char **ids = NULL;
  size_t n = 0, cap = 0;
  logstate_status status = LOGSTATE_OK;
  pthread_mutex_lock(&b->mu);
  int rc = prepare(b, &st, "SELECT logID FROM chkpts WHERE chkpt IS NOT NULL AND length(chkpt) > 0", NULL, 0, NULL, 0);
  while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const void *p = sqlite3_column_blob(st, 0);
    size_t len = (size_t)sqlite3_column_bytes(st, 0);
    if (len == 0 || len > LOGSTATE_MAX_LOG_ID_LEN || memchr(p, 0, len)) {
      status = ls_err(LOGSTATE_INTERNAL, "sqlite: chkpts holds a logID that is not a valid log ID");
      break;
    }
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      char **grown = realloc(ids, cap * sizeof(*ids));
      if (grown == NULL) {
        status = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory listing logs");
        break;
      }
      ids = grown;
    }
    if ((ids[n] = ls_memdup(p, len)) == NULL) {
      status = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory listing logs");
      break;
    }
    n++;
    rc = SQLITE_OK;
  }
  if (status == LOGSTATE_OK && rc != SQLITE_DONE)
    status = sq_err(b, rc, "listing logs");
  sqlite3_finalize(st);
  pthread_mutex_unlock(&b->mu);
  *out_ids = ids;
  *out_n = n;
  return status;
}

/* A write transaction's snapshot: both SELECTs in one read transaction. */
/* A log logstate has set (it has a version) whose checkpoint is gone is
 * damage, never "no checkpoint yet". */
static logstate_status check_damage(const snapshot *s, const char *id, size_t id_len) {
  char q[LS_QUOTE_BUFSZ];
  if (s->cp != NULL || s->version == 0)
    return LOGSTATE_OK;
  return ls_err(LOGSTATE_INTERNAL,
                "sqlite: the store is damaged: logstate_versions has log %s at version %lld, but chkpts has no "
                "checkpoint for it (restore it; do not trust a first checkpoint)",
                ls_quote(q, sizeof(q), id, id_len), (long long)s->version);
}

static logstate_status snapshot_of(sq_backend *b, const char *id, size_t id_len, snapshot *s) {
  pthread_mutex_lock(&b->mu);
  int rc = exec(b, "BEGIN");
  logstate_status st = rc == SQLITE_OK ? read_snapshot(b, id, id_len, 1, s) : sq_err(b, rc, "beginning a read");
  if (rc == SQLITE_OK)
    exec(b, st == LOGSTATE_OK ? "COMMIT" : "ROLLBACK");
  pthread_mutex_unlock(&b->mu);
  return st == LOGSTATE_OK ? check_damage(s, id, id_len) : st;
}

static logstate_status sq_get_latest(logstate_backend *be, const char *log_id, size_t log_id_len, uint8_t **out_cp,
                                     size_t *out_len) {
  sq_backend *b = (sq_backend *)be;
  snapshot s;
  /* A read needs the checkpoint only: one statement, atomic by itself;
   * only an absent checkpoint needs the version too, to tell damage. */
  pthread_mutex_lock(&b->mu);
  logstate_status st = read_snapshot(b, log_id, log_id_len, 0, &s);
  if (st == LOGSTATE_OK && s.cp == NULL) {
    st = read_snapshot(b, log_id, log_id_len, 1, &s);
    if (st == LOGSTATE_OK && (st = check_damage(&s, log_id, log_id_len)) != LOGSTATE_OK)
      free(s.cp);
  }
  pthread_mutex_unlock(&b->mu);
  if (st != LOGSTATE_OK)
    return st;
  if (s.cp == NULL)
    return ls_not_found(log_id, log_id_len);
  *out_cp = s.cp;
  *out_len = s.cp_len;
  return LOGSTATE_OK;
}

static logstate_status sq_write_begin(logstate_backend *be, const char *log_id, size_t log_id_len,
                                      logstate_backend_txn **out_txn) {
  logstate_backend_txn *t = calloc(1, sizeof(*t));
  if (t == NULL || (t->id = ls_memdup(log_id, log_id_len)) == NULL) {
    free(t);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory");
  }
  t->id_len = log_id_len;
  logstate_status st = snapshot_of((sq_backend *)be, log_id, log_id_len, &t->snap);
  if (st != LOGSTATE_OK) {
    free(t->id);
    free(t);
    return st;
  }
  *out_txn = t;
  return LOGSTATE_OK;
}

static logstate_status sq_write_get_latest(logstate_backend *be, logstate_backend_txn *t, uint8_t **out_cp,
                                           size_t *out_len) {
  (void)be;
  return ls_snapshot_copy(t->snap.cp, t->snap.cp_len, t->id, t->id_len, out_cp, out_len);
}

static int same_snapshot(const snapshot *a, const snapshot *b) {
  if (a->row != b->row || a->version != b->version || (a->cp == NULL) != (b->cp == NULL))
    return 0;
  return a->cp == NULL || (a->cp_len == b->cp_len && memcmp(a->cp, b->cp, a->cp_len) == 0);
}

static int run(sq_backend *b, const char *sql, const char *id, size_t id_len, const uint8_t *cp, size_t cp_len) {
  sqlite3_stmt *st = NULL;
  int rc = prepare(b, &st, sql, id, id_len, cp, cp_len);
  if (rc == SQLITE_OK)
    rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static logstate_status sq_write_set(logstate_backend *be, logstate_backend_txn *t, const uint8_t *cp, size_t len) {
  sq_backend *b = (sq_backend *)be;
  char q[LS_QUOTE_BUFSZ];
  snapshot now;
  logstate_status st;
  pthread_mutex_lock(&b->mu);
  /* IMMEDIATE takes the write lock now, waiting up to the busy timeout:
   * still busy after that is pushback (RESOURCE_EXHAUSTED). */
  int rc = exec(b, "BEGIN IMMEDIATE");
  if (rc != SQLITE_OK) {
    st = sq_err(b, rc, "beginning a write (the database stayed busy)");
    pthread_mutex_unlock(&b->mu);
    return st;
  }
  st = read_snapshot(b, t->id, t->id_len, 1, &now);
  if (st == LOGSTATE_OK && !same_snapshot(&now, &t->snap))
    st = ls_err(LOGSTATE_ABORTED, "sqlite: log %s changed since the transaction began",
                ls_quote(q, sizeof(q), t->id, t->id_len));
  if (st == LOGSTATE_OK) {
    rc = now.row ? run(b, "UPDATE chkpts SET chkpt = ?2 " WHERE_ID, t->id, t->id_len, cp, len)
                 : run(b, "INSERT INTO chkpts (logID, chkpt) VALUES (?1, ?2)", t->id, t->id_len, cp, len);
    if (rc == SQLITE_OK)
      rc = run(b,
               "INSERT INTO logstate_versions (logID, version) VALUES (?1, 1) "
               "ON CONFLICT (logID) DO UPDATE SET version = version + 1",
               t->id, t->id_len, NULL, 0);
    if (rc == SQLITE_OK && b->hist.keep) /* in the same transaction */
      rc = ls_sqlite_history_append(b->db, &b->hist, !b->history_ready, t->id, t->id_len, (uint64_t)now.version + 1, cp,
                                    len);
    if (rc == SQLITE_OK && (rc = exec(b, "COMMIT")) == SQLITE_OK && b->hist.keep)
      b->history_ready = 1;
    if (rc != SQLITE_OK)
      st = sq_err(b, rc, "storing a checkpoint");
  }
  if (st != LOGSTATE_OK && sqlite3_get_autocommit(b->db) == 0)
    exec(b, "ROLLBACK");
  free(now.cp);
  pthread_mutex_unlock(&b->mu);
  return st;
}

static logstate_status sq_write_end(logstate_backend *be, logstate_backend_txn *t) {
  (void)be;
  free(t->snap.cp);
  free(t->id);
  free(t);
  return LOGSTATE_OK;
}

static void sq_free(logstate_backend *be) {
  sq_backend *b = (sq_backend *)be;
  sqlite3_close(b->db);
  pthread_mutex_destroy(&b->mu);
  free(b->path);
  free(b->pin);
  free(b);
}

/* logstate_verify(): every log logstate has set (logstate_versions) must
 * still have its checkpoint in chkpts. The problems are gathered under the
 * mutex and reported after it, so that `report` may use the handle. */
static logstate_status sq_verify(logstate_backend *be, logstate_verify_fn report, void *arg, size_t *out_problems) {
  sq_backend *b = (sq_backend *)be;
  sqlite3_stmt *st = NULL;
  char **ids = NULL;
  size_t n = 0;
  logstate_status status = LOGSTATE_OK;
  pthread_mutex_lock(&b->mu);
  if (!b->has_versions) { /* a Go witness database opened read-only */
    pthread_mutex_unlock(&b->mu);
    *out_problems = 0;
    return LOGSTATE_OK;
  }
  int rc = prepare(b, &st,
                   "SELECT v.logID FROM logstate_versions v WHERE NOT EXISTS (SELECT 1 FROM chkpts c WHERE (c.logID = "
                   "v.logID OR c.logID = CAST(v.logID AS TEXT)) AND c.chkpt IS NOT NULL AND length(c.chkpt) > 0)",
                   NULL, 0, NULL, 0);
  while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    char **grown = realloc(ids, (n + 1) * sizeof(*ids));
    if (grown == NULL ||
        (grown[n] = ls_memdup(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0))) == NULL) {
      ids = grown ? grown : ids;
      status = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory");
      break;
    }
    ids = grown;
    n++;
    rc = SQLITE_OK;
  }
  if (status == LOGSTATE_OK && rc != SQLITE_DONE)
    status = sq_err(b, rc, "verifying the store");
  sqlite3_finalize(st);
  pthread_mutex_unlock(&b->mu);
  for (size_t i = 0; i < n && status == LOGSTATE_OK && report; i++)
    report(arg, ids[i], "logstate_versions has the log, but chkpts has no checkpoint for it");
  *out_problems = status == LOGSTATE_OK ? n : 0;
  logstate_logs_free(ids, n);
  return status;
}

/* logstate's own count of its sets (Go witness writes do not count). */
static uint64_t sq_txn_version(logstate_backend *be, logstate_backend_txn *t) {
  (void)be;
  return (uint64_t)t->snap.version;
}

/* Opening refuses a database unless WAL and synchronous=FULL took effect;
 * a read-only open leaves the file as it is and checks nothing. */
static logstate_status sq_history(logstate_backend *be, const char *log_id, size_t log_id_len, size_t max,
                                  logstate_history_entry **out, size_t *out_n) {
  sq_backend *b = (sq_backend *)be;
  pthread_mutex_lock(&b->mu);
  logstate_status st = ls_sqlite_history_read(b->db, log_id, log_id_len, max, out, out_n);
  pthread_mutex_unlock(&b->mu);
  return st;
}

static logstate_durability sq_durability(logstate_backend *be) {
  return ((sq_backend *)be)->read_only ? LOGSTATE_DURABILITY_UNKNOWN : LOGSTATE_DURABILITY_VERIFIED;
}

static int sq_read_only(logstate_backend *be) { return ((sq_backend *)be)->read_only; }

static const logstate_backend_methods sq_methods = {
    .version = LOGSTATE_BACKEND_VERSION,
    .name = "sqlite",
    .init = sq_init,
    .logs = sq_logs,
    .get_latest = sq_get_latest,
    .write_begin = sq_write_begin,
    .write_get_latest = sq_write_get_latest,
    .write_set = sq_write_set,
    .write_end = sq_write_end,
    .free = sq_free,
    .durability = sq_durability,
    .verify = sq_verify,
    .txn_version = sq_txn_version,
    .store_id = sq_store_id,
    .read_only = sq_read_only,
    .history = sq_history,
};

/* Runs a pragma and returns its first column as text in buf. */
static int pragma(sq_backend *b, const char *sql, char *buf, size_t bufsz) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(b->db, sql, -1, &st, NULL);
  buf[0] = '\0';
  if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const unsigned char *v = sqlite3_column_text(st, 0);
    snprintf(buf, bufsz, "%s", v ? (const char *)v : "");
    rc = SQLITE_OK;
  } else if (rc == SQLITE_DONE) {
    rc = SQLITE_OK;
  }
  sqlite3_finalize(st);
  return rc;
}

/* The directory a database file goes in must exist: SQLite would say
 * "unable to open", which reads like an outage rather than a typo. */
static logstate_status check_directory(const char *path) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL || strcmp(path, ":memory:") == 0)
    return LOGSTATE_OK;
  char *dir = ls_memdup(path, slash == path ? 1 : (size_t)(slash - path));
  if (dir == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory");
  struct stat sb;
  int missing = stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode);
  char q[LS_QUOTE_BUFSZ];
  logstate_status st = missing ? ls_err(LOGSTATE_INVALID_ARGUMENT, "sqlite: the directory %s does not exist",
                                        ls_quote(q, sizeof(q), dir, strlen(dir)))
                               : LOGSTATE_OK;
  free(dir);
  return st;
}

/* Checks the options; *busy gets the busy timeout to use. */
static logstate_status check_options(const logstate_sqlite_options *so, const char *path, unsigned int *busy) {
  if (so && (so->version < 1 || so->version > LOGSTATE_SQLITE_OPTIONS_VERSION))
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "sqlite: options version %u is not supported (1 to %u)", so->version,
                  LOGSTATE_SQLITE_OPTIONS_VERSION);
  if (path == NULL || path[0] == '\0')
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "sqlite: the database path is empty (as in sqlite:witness.db)");
  *busy = so && so->busy_timeout_ms ? so->busy_timeout_ms : DEFAULT_BUSY_TIMEOUT_MS;
  if (*busy > MAX_BUSY_TIMEOUT_MS)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "sqlite: busy_timeout_ms must be at most %u", MAX_BUSY_TIMEOUT_MS);
  if (so && so->version >= 2 && ls_store_id_check_arg("sqlite", so->store_id) != LOGSTATE_OK)
    return LOGSTATE_INVALID_ARGUMENT;
  return check_directory(path);
}

/* A pinned store or create=no never creates the file: a missing file is a
 * store that was lost or never made, not a new one. */
static logstate_status check_missing_file(const sq_backend *b) {
  struct stat sb;
  if ((b->create && !b->pin && !b->read_only) || strcmp(b->path, ":memory:") == 0 || stat(b->path, &sb) == 0)
    return LOGSTATE_OK;
  if (b->read_only)
    return ls_store_absent("sqlite", b->path, "the file does not exist", 1);
  if (b->pin)
    return ls_store_id_compare("sqlite", b->path, b->pin, NULL, 0);
  return ls_store_absent("sqlite", b->path, "the file does not exist", 0);
}

/* Opens the file and checks that WAL, synchronous=FULL and the busy
 * timeout took effect. A read-only open changes nothing in the file (not
 * its journal mode) and so checks no durability. */
static logstate_status open_db(sq_backend *b, unsigned int busy) {
  int flags =
      b->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | (b->create && !b->pin ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(b->path, &b->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
  char v[64], want[16];
  if (rc != SQLITE_OK)
    return sq_err(b, rc, "opening the database");
  if (b->read_only)
    return (rc = sqlite3_busy_timeout(b->db, (int)busy)) == SQLITE_OK ? LOGSTATE_OK
                                                                      : sq_err(b, rc, "setting the busy timeout");
  if ((rc = sqlite3_busy_timeout(b->db, (int)busy)) != SQLITE_OK ||
      (rc = pragma(b, "PRAGMA journal_mode=WAL", v, sizeof(v))) != SQLITE_OK)
    return sq_err(b, rc, "setting journal_mode=WAL");
  if (strcmp(v, "wal") != 0)
    return ls_err(LOGSTATE_FAILED_PRECONDITION, "sqlite: journal_mode is %s, not wal, after PRAGMA journal_mode=WAL",
                  v);
  if ((rc = exec(b, "PRAGMA synchronous=FULL")) != SQLITE_OK ||
      (rc = pragma(b, "PRAGMA synchronous", v, sizeof(v))) != SQLITE_OK)
    return sq_err(b, rc, "setting synchronous=FULL");
  if (strcmp(v, "2") != 0)
    return ls_err(LOGSTATE_FAILED_PRECONDITION, "sqlite: synchronous is %s, not FULL (2): writes could be lost", v);
  if ((rc = pragma(b, "PRAGMA busy_timeout", v, sizeof(v))) != SQLITE_OK)
    return sq_err(b, rc, "reading busy_timeout");
  snprintf(want, sizeof(want), "%u", busy);
  if (strcmp(v, want) != 0)
    return ls_err(LOGSTATE_FAILED_PRECONDITION, "sqlite: busy_timeout is %s, not %u", v, busy);
  return LOGSTATE_OK;
}

static logstate_status backend_new(logstate_backend **out, const char *path, const logstate_sqlite_options *so) {
  unsigned int busy = 0;
  logstate_status st = check_options(so, path, &busy);
  if (st != LOGSTATE_OK)
    return st;
  sq_backend *b = calloc(1, sizeof(*b));
  if (b == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory");
  b->base.methods = &sq_methods;
  pthread_mutex_init(&b->mu, NULL);
  int v2 = so && so->version >= 2;
  b->create = !(v2 && so->no_create);
  b->read_only = v2 && so->read_only;
  b->has_versions = 1; /* init says; until then a missing table is "call logstate_init first" */
  ls_history_cfg_init(&b->hist);
  if (so && so->version >= 3)
    st = ls_history_cfg_set("sqlite", &b->hist, so->history, !so->history_no_bodies, so->client_name);
  b->path = ls_memdup(path, strlen(path));
  b->pin = v2 && so->store_id ? ls_memdup(so->store_id, strlen(so->store_id)) : NULL;
  if (b->path == NULL || (v2 && so->store_id && b->pin == NULL))
    st = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory");
  if (st == LOGSTATE_OK)
    st = check_missing_file(b);
  if (st == LOGSTATE_OK)
    st = open_db(b, busy);
  if (st != LOGSTATE_OK) {
    sq_free(&b->base);
    return st;
  }
  *out = &b->base;
  return LOGSTATE_OK;
}

#define SQLITE_KEYS "busy_timeout_ms, store_id, create, mode, " LS_HISTORY_KEYS

/* One query parameter into `so`; a store_id is copied into *pin, the
 * history keys go to `h`. */
static logstate_status parse_param(const ls_query_param *p, logstate_sqlite_options *so, char **pin,
                                   ls_history_cfg *h) {
  logstate_status hst;
  if (ls_history_param("sqlite", p, h, &hst))
    return hst;
  if (ls_query_is(p, "busy_timeout_ms"))
    return ls_query_uint("sqlite", p, 1, MAX_BUSY_TIMEOUT_MS, &so->busy_timeout_ms);
  if (ls_query_is(p, "mode")) {
    int rw = p->val_len == 2 && memcmp(p->val, "rw", 2) == 0, ro = p->val_len == 2 && memcmp(p->val, "ro", 2) == 0;
    so->read_only = ro;
    return rw || ro ? LOGSTATE_OK : ls_err(LOGSTATE_INVALID_ARGUMENT, "sqlite URL: mode must be ro or rw");
  }
  if (ls_query_is(p, "create")) {
    int yes = ls_query_yes_no("sqlite", p);
    so->no_create = yes == 0;
    return yes < 0 ? LOGSTATE_INVALID_ARGUMENT : LOGSTATE_OK;
  }
  if (!ls_query_is(p, "store_id"))
    return ls_query_unknown("sqlite", p, SQLITE_KEYS);
  if (*pin)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "sqlite URL: store_id is given twice");
  if ((*pin = ls_memdup(p->val, p->val_len)) == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory");
  so->store_id = *pin;
  return LOGSTATE_OK;
}

/* sqlite:PATH[?key=value&...]; PATH is percent-decoded (write a literal ?
 * as %3F). */
logstate_status ls_sqlite_backend_from_url(logstate_backend **out, const char *url) {
  const char *rest = url + strlen("sqlite:"), *q = strchr(rest, '?');
  logstate_sqlite_options so = LOGSTATE_SQLITE_OPTIONS_INIT;
  ls_query_param p;
  ls_history_cfg h;
  char *pin = NULL, *path = NULL;
  int more = 0, bad = 0;
  logstate_status st = LOGSTATE_OK;
  ls_history_cfg_init(&h);
  for (const char *at = q ? q + 1 : ""; st == LOGSTATE_OK && (more = ls_query_next("sqlite", &at, &p)) > 0;)
    st = parse_param(&p, &so, &pin, &h);
  so.history = h.keep;
  so.history_no_bodies = !h.bodies;
  so.client_name = h.client_name[0] ? h.client_name : NULL;
  if (st == LOGSTATE_OK && more < 0)
    st = LOGSTATE_INVALID_ARGUMENT;
  if (st == LOGSTATE_OK && (path = ls_pct_decode(rest, q ? (size_t)(q - rest) : strlen(rest), &bad)) == NULL)
    st = bad ? ls_err(LOGSTATE_INVALID_ARGUMENT, "sqlite URL: bad %%-escape in the path")
             : ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory");
  if (st == LOGSTATE_OK)
    st = backend_new(out, path, &so);
  free(path);
  free(pin);
  return st;
}

logstate_status logstate_sqlite_open(logstate **out, const char *path, const logstate_sqlite_options *so,
                                     const logstate_options *opts) {
  if (out)
    *out = NULL;
  if (out == NULL)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "logstate_sqlite_open: out is NULL");
  logstate_backend *be = NULL;
  logstate_status st = backend_new(&be, path, so);
  if (st == LOGSTATE_OK && (st = logstate_open_backend(out, be, opts)) != LOGSTATE_OK)
    sq_free(be);
  return st;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The SQLite backend's options (URL keys and typed) and its constructor.
 * Opening checks the arguments and what the path names, and opens nothing:
 * logstate_init() validates the file before anything is written to it. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "sqlite/sqlite_int.h"

#define DEFAULT_BUSY_TIMEOUT_MS 5000
#define MAX_BUSY_TIMEOUT_MS 3600000u

/* The directory a database file goes in must exist: SQLite would say
 * "unable to open", which reads like an outage rather than a typo. */
static logstate_status check_directory(const char *path) {
  char dir[4200], q[LS_QUOTE_BUFSZ];
  struct stat sb;
  sq_dir_of(path, dir, sizeof(dir));
  if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))
    return LOGSTATE_OK;
  return ls_err(LOGSTATE_INVALID_ARGUMENT, "sqlite: the directory %s does not exist",
                ls_quote(q, sizeof(q), dir, strlen(dir)));
}

/* An existing file must be one SQLite can read: a database, or empty. */
static logstate_status check_file(const char *path) {
  static const char magic[16] = "SQLite format 3";
  unsigned char head[16];
  char q[LS_QUOTE_BUFSZ];
  int exists = 0, n = 0;
  logstate_status st = sq_file_exists(path, &exists);
  if (st != LOGSTATE_OK || !exists || (st = sq_read_head(path, head, (int)sizeof(head), &n)) != LOGSTATE_OK)
    return st;
  if (n == 0 || (n == (int)sizeof(head) && memcmp(head, magic, sizeof(head)) == 0))
    return LOGSTATE_OK;
  return ls_err(LOGSTATE_INTERNAL, "sqlite: %s is not an SQLite database", ls_quote(q, sizeof(q), path, strlen(path)));
}

/* Checks the options; *busy gets the busy timeout to use. */
static logstate_status check_options(const logstate_sqlite_options *so, const char *path, unsigned int *busy) {
  if (so && so->version != LOGSTATE_SQLITE_OPTIONS_VERSION)
    return ls_err(LOGSTATE_INVALID_ARGUMENT,
                  "sqlite: options version %u is not supported (this library takes %u: start from "
                  "LOGSTATE_SQLITE_OPTIONS_INIT)",
                  so->version, LOGSTATE_SQLITE_OPTIONS_VERSION);
  if (path == NULL || path[0] == '\0')
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "sqlite: the database path is empty (as in sqlite:witness.db)");
  *busy = so && so->busy_timeout_ms ? so->busy_timeout_ms : DEFAULT_BUSY_TIMEOUT_MS;
  if (*busy > MAX_BUSY_TIMEOUT_MS)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "sqlite: busy_timeout_ms must be at most %u", MAX_BUSY_TIMEOUT_MS);
  if (so && (ls_store_id_check_arg("sqlite", so->store_id) != LOGSTATE_OK ||
             ls_check_create("sqlite", so->create, 1) != LOGSTATE_OK))
    return LOGSTATE_INVALID_ARGUMENT;
  /* Not a file: it can be neither shared nor made durable. */
  if (strcmp(path, ":memory:") == 0)
    return ls_err(
        LOGSTATE_FAILED_PRECONDITION,
        "sqlite: :memory: is not a file: logstate needs one it can keep durable (journal_mode=wal or a rollback "
        "journal, synchronous=FULL); use memory: for an in-process store");
  logstate_status st = check_directory(path);
  return st == LOGSTATE_OK ? check_file(path) : st;
}

/* A pinned store, create=no or mode=ro never makes the file: a missing file
 * is a store that was lost or never made, not a new one. */
static logstate_status check_missing_file(const sq_backend *b) {
  int exists = 1;
  if (b->create != SQ_CREATE_NO && !b->pin && !b->read_only)
    return LOGSTATE_OK;
  logstate_status st = sq_file_exists(b->path, &exists);
  if (st != LOGSTATE_OK || exists)
    return st;
  if (b->read_only)
    return ls_store_absent("sqlite", b->path, "the file does not exist", 1);
  if (b->pin)
    return ls_store_id_compare("sqlite", b->path, b->pin, NULL, 0);
  return ls_store_absent("sqlite", b->path, "the file does not exist", 0);
}

static void backend_free(sq_backend *b) { ls_sqlite_methods.free(&b->base); }

static logstate_status backend_new(logstate_backend **out, const char *path, const logstate_sqlite_options *so) {
  unsigned int busy = 0;
  logstate_status st = check_options(so, path, &busy);
  if (st != LOGSTATE_OK)
    return st;
  sq_backend *b = calloc(1, sizeof(*b));
  if (b == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory");
  b->base.methods = &ls_sqlite_methods;
  pthread_mutex_init(&b->mu, NULL);
  b->create = so == NULL                               ? SQ_CREATE_YES
              : so->create == LOGSTATE_CREATE_NO       ? SQ_CREATE_NO
              : so->create == LOGSTATE_CREATE_ON_WRITE ? SQ_CREATE_ON_WRITE
                                                       : SQ_CREATE_YES;
  b->read_only = so && so->read_only;
  b->busy_ms = busy;
  ls_history_cfg_init(&b->hist);
  if (so) {
    int bodies = ls_flag_value("sqlite", "history_bodies", so->history_bodies, 1, &st);
    if (st == LOGSTATE_OK)
      st = ls_history_cfg_set("sqlite", &b->hist, so->history, bodies, so->client_name);
  }
  /* SQLite reads a name starting with file: as a URI: ./ keeps it a path. */
  b->path = strncmp(path, "file:", 5) == 0 ? malloc(strlen(path) + 3) : ls_memdup(path, strlen(path));
  if (b->path && strncmp(path, "file:", 5) == 0)
    strcat(strcpy(b->path, "./"), path);
  b->pin = so && so->store_id ? ls_memdup(so->store_id, strlen(so->store_id)) : NULL;
  if (b->path == NULL || (so && so->store_id && b->pin == NULL))
    st = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "sqlite: out of memory");
  if (st == LOGSTATE_OK)
    st = check_missing_file(b);
  if (st != LOGSTATE_OK) {
    backend_free(b);
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
  if (ls_query_is(p, "create"))
    return ls_query_create("sqlite", p, 1, &so->create);
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
  so.history_bodies = h.bodies ? LOGSTATE_FLAG_YES : LOGSTATE_FLAG_NO;
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
    be->methods->free(be);
  return st;
}

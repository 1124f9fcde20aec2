/* SPDX-License-Identifier: Apache-2.0 */
/* Which connection a read runs on. A writer reads on its own connection,
 * once init opened it (init validates a file before it opens it for
 * writing, the way a read-only handle reads). A read-only handle (mode=ro: the tool's logs, get, export, check) must
 * create and change no file, for an operator who may read the database but
 * not write its directory too:
 *
 * - A file with a rollback journal, or in WAL mode with its -wal and -shm
 *   files beside it (a writer has it open), is read on a read-only
 *   connection, kept for the handle's life.
 * - A file in WAL mode without them (every writer closed it cleanly) would
 *   have them created by such a connection, and left behind. It is read on
 *   an immutable connection, which takes no lock and makes no file, opened
 *   for that one read. So is a file whose -wal is empty (SQLite leaves an
 *   empty -wal and a short -shm behind when a full disk stopped a writer):
 *   all of it is in the main file, and a reader sharing the -shm would have
 *   to grow it on that full disk. Since it takes no lock, the read is
 *   trusted only if the file was the same (inode, size, times) and its -wal
 *   still absent or empty after the read: a writer that came meanwhile
 *   makes it start again (then, usually, on the shared connection).
 * - WAL mode with a -wal that holds frames but no -shm (a crash, or a copy
 *   of the files) cannot be read without creating the -shm: refused, saying
 *   how to recover (a writer's init, which opens the file read-write next
 *   anyway, reads it the ordinary way). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sqlite/sqlite_int.h"

#define GUARDED_TRIES 5

logstate_status sq_header_wal(const char *path, int *wal) {
  unsigned char h[20];
  int n = 0;
  logstate_status st = sq_read_head(path, h, (int)sizeof(h), &n);
  /* Bytes 18 and 19: the file format versions, 2 in WAL mode. A file
   * shorter than a header is an empty database (rollback journal). */
  *wal = st == LOGSTATE_OK && n == (int)sizeof(h) && h[18] == 2 && h[19] == 2;
  return st;
}

/* stat() of PATH plus a suffix: 1 exists, 0 not. */
static int side_file(const char *path, const char *suffix, struct stat *sb) {
  char buf[4200];
  snprintf(buf, sizeof(buf), "%s%s", path, suffix);
  return stat(buf, sb) == 0;
}

static int same_file(const struct stat *a, const struct stat *b) {
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
         a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
         a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* `fn` in a read transaction on `c`. A guarded read may run it again: it
 * releases what an earlier run left in `arg`. */
static logstate_status in_read_txn(sq_backend *b, sq_conn *c, sq_read_fn fn, void *arg) {
  int rc = sq_exec(c, SQ_BEGIN);
  if (rc != SQLITE_OK)
    return ls_sqlite_err(c->db, rc, "beginning a read");
  logstate_status st = fn(b, c, arg);
  /* A read transaction commits nothing: ending it cannot lose a write. */
  sq_exec(c, st == LOGSTATE_OK ? SQ_COMMIT : SQ_ROLLBACK);
  return st;
}

/* One read on an immutable connection; *changed when the file moved under
 * it (the result, or the failure, is then thrown away). */
static logstate_status guarded(sq_backend *b, const struct stat *before, sq_read_fn fn, void *arg, int *changed) {
  sq_conn c;
  struct stat after, wal;
  logstate_status st = sq_conn_open(&c, b->path, SQ_OPEN_IMMUTABLE, 0);
  if (st == LOGSTATE_OK)
    st = in_read_txn(b, &c, fn, arg);
  sq_conn_close(&c);
  *changed =
      stat(b->path, &after) != 0 || !same_file(before, &after) || (side_file(b->path, "-wal", &wal) && wal.st_size > 0);
  return st;
}

/* Whether there is a -wal that holds frames without its -shm. A writer
 * makes the -wal, then the -shm, then frames; the last one to close removes
 * the -wal, then the -shm: the -shm is looked at first, and a few times
 * more when the two disagree, since between two stat() calls a writer may
 * have come or gone. */
static int wal_without_shm(const char *path, struct stat *wal) {
  struct stat shm;
  for (int i = 0;; i++) {
    int has_shm = side_file(path, "-shm", &shm), has_wal = side_file(path, "-wal", wal);
    if (!has_wal)
      wal->st_size = 0;
    if (has_shm || wal->st_size == 0)
      return 0;
    if (i == 20)
      return 1;
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
}

/* How to read the file now: *shared 1 on the shared connection (opened
 * here when needed), 0 guarded with *sb the file before the read. */
static logstate_status choose(sq_backend *b, struct stat *sb, int *shared) {
  struct stat wal;
  char q[LS_QUOTE_BUFSZ];
  *shared = 1;
  if (b->live.db)
    return LOGSTATE_OK; /* while it is open, no writer removes the side files */
  if (stat(b->path, sb) != 0)
    return ls_sqlite_errno(errno, "reading", b->path);
  int is_wal = 0;
  logstate_status st = sq_header_wal(b->path, &is_wal);
  if (st != LOGSTATE_OK)
    return st;
  int orphan = is_wal && wal_without_shm(b->path, &wal);
  if (is_wal && !orphan && wal.st_size == 0) {
    *shared = 0;
    return LOGSTATE_OK;
  }
  /* A writer's init is about to open the file read-write, which makes the
   * -shm anyway. */
  if (orphan && b->read_only)
    return ls_err(LOGSTATE_FAILED_PRECONDITION,
                  "sqlite: %s is in WAL mode and has a -wal file without its -shm file: reading it would create that "
                  "file. Let a writer open it once (logstate init, or the witness), or read it as a user who may write "
                  "its directory",
                  ls_quote(q, sizeof(q), b->path, strlen(b->path)));
  return sq_conn_open(&b->live, b->path, SQ_OPEN_READER, b->busy_ms);
}

logstate_status sq_read1(sq_backend *b, sq_read_fn fn, void *arg) {
  /* One statement outside a transaction is a read transaction of its own:
   * on the writer's connection, BEGIN and COMMIT around it would add two
   * steps to every snapshot of a write. */
  return b->rw.db ? fn(b, &b->rw, arg) : sq_read(b, fn, arg);
}

logstate_status sq_read(sq_backend *b, sq_read_fn fn, void *arg) {
  char q[LS_QUOTE_BUFSZ];
  if (b->rw.db)
    return in_read_txn(b, &b->rw, fn, arg);
  for (int i = 0; i < GUARDED_TRIES; i++) {
    struct stat sb;
    int shared = 1, changed = 0;
    logstate_status st = choose(b, &sb, &shared);
    if (st == LOGSTATE_OK && shared)
      return in_read_txn(b, &b->live, fn, arg);
    if (st != LOGSTATE_OK)
      return st;
    st = guarded(b, &sb, fn, arg, &changed);
    if (!changed) /* else its result, or its failure (a page torn by a writer), is not trusted */
      return st;
  }
  return ls_err_cause(LOGSTATE_CAUSE_BUSY, LOGSTATE_RESOURCE_EXHAUSTED,
                      "sqlite: %s changed during each of %d reads without a lock (writers open and close it): try "
                      "again",
                      ls_quote(q, sizeof(q), b->path, strlen(b->path)), GUARDED_TRIES);
}

void sq_reader_close(sq_backend *b) { sq_conn_close(&b->live); }

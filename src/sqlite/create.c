/* SPDX-License-Identifier: Apache-2.0 */
/* A new store file, made whole or not at all. It is built under a private
 * name in the same directory (tables, store_id, WAL and synchronous=FULL,
 * and the first set when there is one), closed (SQLite then folds its WAL
 * back into the file and removes the side files), synced, and linked to its
 * name, which fails if the name exists: two processes creating one store at
 * once end with one file, and the loser uses the winner's. A failure
 * anywhere, a full disk say, leaves no file behind: neither a 0-byte file
 * nor an empty database. */
#define _GNU_SOURCE /* renameat2 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sqlite/sqlite_int.h"

static void remove_private(const char *tmp) {
  static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
  char buf[4320];
  for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
    snprintf(buf, sizeof(buf), "%s%s", tmp, suffix[i]);
    unlink(buf);
  }
}

static int fsync_path(const char *path, int flags) {
  int fd = open(path, flags | O_CLOEXEC);
  int ok = fd >= 0 && fsync(fd) == 0;
  int e = errno;
  if (fd >= 0)
    close(fd);
  errno = e;
  return ok;
}

/* The private file, created empty and only by us. */
static logstate_status private_name(const char *path, char *tmp, size_t n) {
  char dir[4200], id[33];
  sq_dir_of(path, dir, sizeof(dir));
  if (!ls_store_id_new(id))
    return ls_err(LOGSTATE_INTERNAL, "sqlite: cannot read /dev/urandom for a file name");
  snprintf(tmp, n, "%s/.logstate-new-%.16s.db", dir, id);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return ls_sqlite_errno(errno, "creating a file in the directory of", path);
  close(fd);
  return LOGSTATE_OK;
}

/* The store's contents, in one transaction on the private file. */
static logstate_status fill(sq_backend *b, sq_conn *c, const sq_first_set *first) {
  char mode[16];
  int found, rc = sq_one_value(c->db, "PRAGMA journal_mode=WAL", mode, sizeof(mode), &found);
  if (rc != SQLITE_OK)
    return ls_sqlite_err(c->db, rc, "setting journal_mode=WAL on a new file");
  if (strcmp(mode, "wal") != 0)
    return ls_err(LOGSTATE_FAILED_PRECONDITION, "sqlite: journal_mode is %s, not wal, after PRAGMA journal_mode=WAL",
                  mode);
  sq_file none;
  memset(&none, 0, sizeof(none));
  logstate_status st = (rc = sq_exec(c, SQ_BEGIN_IMMEDIATE)) == SQLITE_OK
                           ? sq_schema_create(c, &none, b->hist.keep > 0, 1)
                           : ls_sqlite_err(c->db, rc, "creating a new file");
  sq_snapshot empty;
  memset(&empty, 0, sizeof(empty));
  if (st == LOGSTATE_OK && first &&
      (rc = sq_store(c, &b->hist, first->id, first->id_len, &empty, first->cp, first->len)) != SQLITE_OK)
    st = ls_sqlite_err(c->db, rc, "storing the first checkpoint");
  if (st == LOGSTATE_OK && (rc = sq_exec(c, SQ_COMMIT)) != SQLITE_OK)
    st = ls_sqlite_err(c->db, rc, "committing a new file");
  return st;
}

/* Closes the private file and checks SQLite folded everything into it. */
static logstate_status close_whole(sq_conn *c, const char *tmp) {
  char side[4320];
  struct stat sb;
  for (int i = 0; i < SQ_NSTMT; i++)
    sqlite3_finalize(c->st[i]);
  memset(c->st, 0, sizeof(c->st));
  int rc = sqlite3_close(c->db);
  c->db = NULL;
  if (rc != SQLITE_OK)
    return ls_sqlite_err(NULL, rc, "closing a new file");
  snprintf(side, sizeof(side), "%s-wal", tmp);
  if (stat(side, &sb) == 0)
    return ls_err(LOGSTATE_INTERNAL, "sqlite: a new file kept its -wal file after it was closed");
  if (!fsync_path(tmp, O_RDONLY))
    return ls_sqlite_errno(errno, "syncing", tmp);
  return LOGSTATE_OK;
}

/* Links tmp to path unless path exists (*raced then). */
static logstate_status publish(const char *tmp, const char *path, int *raced) {
  char dir[4200];
  *raced = 0;
  int rc = link(tmp, path);
  if (rc != 0 && (errno == EPERM || errno == ENOTSUP || errno == EOPNOTSUPP || errno == ENOSYS))
    rc = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE); /* a file system without hard links */
  if (rc != 0 && errno == EEXIST) {
    *raced = 1;
    return LOGSTATE_OK;
  }
  if (rc != 0)
    return ls_sqlite_errno(errno, "creating", path);
  sq_dir_of(path, dir, sizeof(dir));
  if (!fsync_path(dir, O_RDONLY | O_DIRECTORY))
    return ls_sqlite_errno(errno, "syncing the directory of", path);
  return LOGSTATE_OK;
}

logstate_status sq_create_file(sq_backend *b, const sq_first_set *first, int *raced) {
  char tmp[4300];
  sq_conn c;
  memset(&c, 0, sizeof(c));
  *raced = 0;
  logstate_status st = private_name(b->path, tmp, sizeof(tmp));
  if (st != LOGSTATE_OK)
    return st;
  st = sq_conn_open(&c, tmp, SQ_OPEN_CREATE, b->busy_ms);
  if (st == LOGSTATE_OK)
    st = fill(b, &c, first);
  if (st == LOGSTATE_OK)
    st = close_whole(&c, tmp);
  if (st == LOGSTATE_OK)
    st = publish(tmp, b->path, raced);
  sq_conn_close(&c);
  remove_private(tmp); /* after a link, the store lives on under its name */
  return st;
}

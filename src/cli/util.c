/* SPDX-License-Identifier: Apache-2.0 */
/* Reporting, files, the write transaction and progress of the tool. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

const char *cli_prog = "logstate";

int cli_usage_error(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: ", cli_prog);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, " (see 'logstate --help')\n");
  return EXIT_USAGE;
}

int cli_exit_for(logstate_status st) {
  switch (st) {
  case LOGSTATE_OK:
    return EXIT_OK;
  case LOGSTATE_NOT_FOUND:
    return EXIT_NOT_FOUND;
  case LOGSTATE_ABORTED:
    return EXIT_CONFLICT;
  case LOGSTATE_UNAVAILABLE:
    return EXIT_UNAVAILABLE;
  case LOGSTATE_INVALID_ARGUMENT:
    return EXIT_USAGE;
  case LOGSTATE_RESOURCE_EXHAUSTED: /* busy: try again; no space or memory: an operator acts */
    return logstate_last_error_cause() == LOGSTATE_CAUSE_BUSY ? EXIT_UNAVAILABLE : EXIT_ERROR;
  default:
    return EXIT_ERROR;
  }
}

/* A reason the tool itself found (an expectation that failed), shown by
 * cli_fail instead of the library's last error. */
static char reason[1100];

static logstate_status refuse(logstate_status st, const char *why, const char *detail) {
  snprintf(reason, sizeof(reason), "%s%s%s", why, detail ? ": " : "", detail ? detail : "");
  return st;
}

int cli_fail(logstate_status st, const char *what) {
  int rc = cli_exit_for(st); /* before stdio can touch errno or the library's error */
  fprintf(stderr, "%s: %s: %s: %s\n", cli_prog, what, logstate_status_name(st),
          reason[0] ? reason : logstate_last_error());
  reason[0] = '\0';
  return rc;
}

int cli_read_all(const char *path, size_t max, uint8_t **out, size_t *out_len) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "%s: cannot read %s: %s\n", cli_prog, path, strerror(errno));
    return EXIT_ERROR;
  }
  size_t cap = 4096, n = 0;
  uint8_t *buf = malloc(cap + 1);
  int oom = buf == NULL;
  while (!oom) {
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0 || n > max)
      break;
    if (n == cap) {
      uint8_t *grown = realloc(buf, cap * 2 + 1);
      if ((oom = grown == NULL) == 0) {
        buf = grown;
        cap *= 2;
      }
    }
  }
  int err = ferror(f) ? errno : 0;
  if (f != stdin)
    fclose(f);
  if (oom || err) {
    free(buf);
    fprintf(stderr, "%s: cannot read %s: %s\n", cli_prog, path, oom ? "out of memory" : strerror(err));
    return EXIT_ERROR;
  }
  buf[n] = '\0';
  *out = buf;
  *out_len = n; /* n > max tells the caller the input was too large */
  return EXIT_OK;
}

int cli_finish_output(FILE *f, const char *name) {
  int failed = ferror(f) != 0, e = errno;
  if (fflush(f) != 0) {
    failed = 1;
    e = errno;
  }
  if (f != stdout && fclose(f) != 0 && !failed) {
    failed = 1;
    e = errno;
  }
  if (!failed)
    return EXIT_OK;
  fprintf(stderr, "%s: cannot write %s: %s\n", cli_prog, name, strerror(e ? e : EIO));
  return EXIT_ERROR;
}

logstate_status cli_read_latest(logstate *ls, const char *id, uint8_t **cp, size_t *len) {
  logstate_read *r = NULL;
  logstate_status st = logstate_read_ops(ls, id, &r);
  if (st == LOGSTATE_OK)
    st = logstate_read_get_latest(r, cp, len);
  logstate_read_free(r);
  return st;
}

logstate_status cli_store(logstate *ls, const char *id, const uint8_t *cp, size_t len, cli_expectation e,
                          const uint8_t *want, size_t want_len) {
  logstate_write *w = NULL;
  uint8_t *cur = NULL;
  size_t cur_len = 0;
  logstate_status st = logstate_write_ops(ls, id, &w);
  if (st != LOGSTATE_OK)
    return st;
  st = logstate_write_get_latest(w, &cur, &cur_len);
  if (st == LOGSTATE_OK || st == LOGSTATE_NOT_FOUND) {
    int present = st == LOGSTATE_OK;
    st = LOGSTATE_OK;
    if ((e == EXPECT_ABSENT && present) ||
        (e == EXPECT_BYTES && (!present || cur_len != want_len || memcmp(cur, want, cur_len) != 0)))
      st = refuse(LOGSTATE_ABORTED, "the stored checkpoint is not what was expected", NULL);
  }
  if (st == LOGSTATE_OK) {
    st = logstate_write_set(w, cp, len);
    /* Only a backend guard refuses a valid first set: a conflict between
     * the stored checkpoint and the new one, not a broken store. */
    if (st == LOGSTATE_FAILED_PRECONDITION)
      st = refuse(LOGSTATE_ABORTED, "refused by the store's guard", logstate_last_error());
  }
  free(cur);
  logstate_write_close(w);
  return st;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void cli_progress_start(cli_progress *p, const char *what, size_t total) {
  p->what = what;
  p->total = total;
  p->tty = isatty(STDERR_FILENO);
  p->start = p->last = now_s();
}

static void show(cli_progress *p, size_t done, double t) {
  double rate = t > p->start ? (double)done / (t - p->start) : 0;
  fprintf(stderr, "\r%s: %zu/%zu logs, %.0f logs/s", p->what, done, p->total, rate);
}

void cli_progress_step(cli_progress *p, size_t done) {
  if (!p->tty)
    return;
  double t = now_s();
  if (t - p->last < 0.1)
    return;
  p->last = t;
  show(p, done, t);
}

void cli_progress_end(cli_progress *p, size_t done) {
  if (!p->tty || p->total == 0)
    return;
  show(p, done, now_s());
  fputc('\n', stderr);
}

/* NOT_FOUND from opening means the store does not exist (read-only, or
 * create=no): EXIT_NO_STORE, not the "no such log" of EXIT_NOT_FOUND. */
static int open_init(const char *url, logstate **out) {
  logstate_status st = logstate_open(out, url);
  const char *what = "opening the store";
  if (st == LOGSTATE_OK && (st = logstate_init(*out)) != LOGSTATE_OK) {
    what = "initializing the store";
    logstate_free(*out);
    *out = NULL;
  }
  if (st == LOGSTATE_NOT_FOUND) {
    fprintf(stderr, "logstate: no store: %s\n", logstate_last_error());
    return EXIT_NO_STORE;
  }
  return st == LOGSTATE_OK ? EXIT_OK : cli_fail(st, what);
}

int cli_open(const char *url, logstate **out) { return open_init(url, out); }

/* Opens `url` with key=value added to its query unless it sets the key. */
static int open_with(const char *url, const char *key, const char *value, logstate **out) {
  char *u = cli_url_with(url, key, value);
  if (u == NULL) {
    fprintf(stderr, "%s: out of memory\n", cli_prog);
    return EXIT_ERROR;
  }
  int rc = open_init(u, out);
  free(u);
  return rc;
}

int cli_open_writer(const char *url, logstate **out) {
  return strncmp(url, "sqlite:", 7) == 0 ? open_with(url, "create", "on_write", out) : open_init(url, out);
}

int cli_open_existing(const char *url, logstate **out) {
  return strncmp(url, "memory:", 7) == 0 ? open_init(url, out) : open_with(url, "create", "no", out);
}

/* The in-process memory: store has no mode (and nothing to protect). */
int cli_open_ro(const char *url, logstate **out) {
  return strncmp(url, "memory:", 7) == 0 ? open_init(url, out) : open_with(url, "mode", "ro", out);
}

/* --- output written whole or not at all ------------------------------------ */

int cli_out_begin(cli_out *o, const char *file, const char *what) {
  o->file = file;
  o->to_stdout = strcmp(file, "-") == 0;
  snprintf(o->tmp, sizeof(o->tmp), "%s.logstate-%ld.tmp", file, (long)getpid());
  o->f = o->to_stdout ? stdout : fopen(o->tmp, "wb");
  if (o->f == NULL)
    return (fprintf(stderr, "%s: %s: cannot write %s: %s\n", cli_prog, what, file, strerror(errno)), EXIT_ERROR);
  return EXIT_OK;
}

int cli_out_end(cli_out *o, int rc, const char *what) {
  int out = cli_finish_output(o->f, o->to_stdout ? "standard output" : o->file);
  if (!o->to_stdout && rc == EXIT_OK && out == EXIT_OK && rename(o->tmp, o->file) != 0)
    out = (fprintf(stderr, "%s: %s: cannot write %s: %s\n", cli_prog, what, o->file, strerror(errno)), EXIT_ERROR);
  if (!o->to_stdout && (rc != EXIT_OK || out != EXIT_OK))
    unlink(o->tmp);
  return rc != EXIT_OK ? rc : out;
}

int cli_each_line(const char *data, size_t len, cli_line_fn fn, void *arg) {
  size_t lineno = 0;
  for (const char *line = data, *end; line < data + len; line = end + 1) {
    end = memchr(line, '\n', (size_t)(data + len - line));
    if (end == NULL)
      end = data + len;
    lineno++;
    int rc = end == line ? EXIT_OK : fn(line, (size_t)(end - line), lineno, arg); /* an empty line: nothing */
    if (rc != EXIT_OK)
      return rc;
  }
  return EXIT_OK;
}

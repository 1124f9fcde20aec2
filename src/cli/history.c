/* SPDX-License-Identifier: Apache-2.0 */
/* The tool's history and export-monitoring commands: what the store kept of
 * a log's sets, and the C2SP monitoring tree a static web server or a CDN
 * serves: DIR/<hex SHA-256 of the origin line>/checkpoint, each file
 * written whole (write, fsync, rename, fsync of the directory). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* --- history ------------------------------------------------------------ */

typedef struct history_args {
  unsigned long limit;
  int json;
} history_args;

static int history_opt(int c, void *arg) {
  history_args *a = arg;
  char *end = NULL;
  if (c == 'j') {
    a->json = 1;
  } else if (c == 'n') {
    errno = 0;
    a->limit = strtoul(optarg, &end, 10);
    if (errno || end == optarg || *end || optarg[0] == '-' || a->limit < 1 || a->limit > LOGSTATE_MAX_HISTORY)
      return cli_usage_error("history: --limit must be a number from 1 to %d", LOGSTATE_MAX_HISTORY);
  }
  return EXIT_OK;
}

const char *cli_format_time(int64_t ms, char *buf, size_t n) {
  time_t s = (time_t)(ms / 1000);
  struct tm tm;
  char day[32];
  if (gmtime_r(&s, &tm) && strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm))
    snprintf(buf, n, "%s.%03dZ", day, (int)(ms % 1000));
  else
    snprintf(buf, n, "?");
  return buf;
}

/* One entry as a JSON object (jansson); NULL when out of memory. Text
 * fields that are not valid UTF-8 are left out ("log": ""). */
static json_t *entry_json(const char *log_id, const logstate_history_entry *e) {
  char when[48];
  json_t *o = json_object(), *log = cli_json_text(log_id, strlen(log_id));
  int bad = o == NULL;
  bad |= json_object_set_new(o, "log", log ? log : json_string("")) != 0;
  bad |= json_object_set_new(o, "version", json_integer((json_int_t)e->version)) != 0;
  bad |= json_object_set_new(o, "time_ms", json_integer(e->time_ms)) != 0;
  bad |= json_object_set_new(o, "time", json_string(cli_format_time(e->time_ms, when, sizeof(when)))) != 0;
  bad |= json_object_set_new(o, "sha256", json_string(e->sha256)) != 0;
  json_t *origin = e->origin ? cli_json_text(e->origin, strlen(e->origin)) : NULL;
  if (origin)
    bad |= json_object_set_new(o, "origin", origin) != 0;
  if (e->has_tree_size && e->tree_size <= (uint64_t)INT64_MAX)
    bad |= json_object_set_new(o, "tree_size", json_integer((json_int_t)e->tree_size)) != 0;
  if (e->client_name)
    bad |= json_object_set_new(o, "client_name", json_string(e->client_name)) != 0;
  char *b64 = e->checkpoint ? cli_b64(e->checkpoint, e->checkpoint_len) : NULL;
  if (e->checkpoint)
    bad |= b64 == NULL || json_object_set_new(o, "checkpoint_b64", json_string(b64)) != 0;
  free(b64);
  if (bad) {
    json_decref(o);
    return NULL;
  }
  return o;
}

/* One line per entry: version, time, tree size, SHA-256, client name. */
static void put_entry_text(FILE *f, const logstate_history_entry *e) {
  char when[48];
  fprintf(f, "%llu\t%s", (unsigned long long)e->version, cli_format_time(e->time_ms, when, sizeof(when)));
  if (e->has_tree_size)
    fprintf(f, "\tsize %llu", (unsigned long long)e->tree_size);
  else
    fputs("\tsize -", f);
  fprintf(f, "\tsha256 %s\t%s\n", e->sha256, e->client_name ? e->client_name : "-");
}

int cli_history(const char *url, int argc, char **argv) {
  static const struct option opts[] = {
      {"limit", required_argument, NULL, 'n'}, {"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
  history_args a = {.limit = 10};
  cli_args args = {url, NULL, 0};
  int rc = cli_parse(argc, argv, "n:j", opts, history_opt, &a, &args);
  if (rc == EXIT_OK)
    rc = cli_positional("history", args.npos, 1, 1);
  const char *log_id = rc == EXIT_OK ? args.pos[0] : NULL;
  cli_args_free(&args);
  logstate *ls = NULL;
  if (rc != EXIT_OK || (rc = cli_open_ro(args.url, &ls)) != EXIT_OK)
    return rc;
  logstate_history_entry *e = NULL;
  size_t n = 0;
  logstate_status st = logstate_history(ls, log_id, a.limit, &e, &n);
  logstate_free(ls);
  if (st != LOGSTATE_OK)
    return cli_fail(st, "history");
  for (size_t i = 0; i < n && rc == EXIT_OK; i++) {
    if (!a.json)
      put_entry_text(stdout, &e[i]);
    else if (cli_put_json_line(stdout, entry_json(log_id, &e[i])) != 0 && !ferror(stdout))
      rc = (fprintf(stderr, "%s: history: out of memory\n", cli_prog), EXIT_ERROR);
  }
  logstate_history_free(e, n);
  int out = cli_finish_output(stdout, "standard output");
  return rc != EXIT_OK ? rc : out;
}

/* --- export-monitoring --------------------------------------------------- */

/* The hex SHA-256 of the checkpoint's origin line; 0 when it has none (no
 * newline, or an empty first line). */
static int origin_hash(const uint8_t *cp, size_t len, char hex[65]) {
  const uint8_t *nl = memchr(cp, '\n', len);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (nl == NULL || nl == cp || EVP_Digest(cp, (size_t)(nl - cp), md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
    return 0;
  for (unsigned int i = 0; i < 32; i++)
    snprintf(hex + 2 * i, 3, "%02x", md[i]);
  return 1;
}

/* Whether `path` holds exactly these bytes. */
static int same_file(const char *path, const uint8_t *cp, size_t len) {
  uint8_t *old = NULL;
  size_t old_len = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return 0;
  fclose(f);
  int same = cli_read_all(path, len + 1, &old, &old_len) == EXIT_OK && old_len == len && memcmp(old, cp, len) == 0;
  free(old);
  return same;
}

static int fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  int ok = fd >= 0 && fsync(fd) == 0;
  if (fd >= 0)
    close(fd);
  return ok;
}

/* DIR/HEX/checkpoint, whole or not at all: a temporary file beside it,
 * written and fsynced, renamed over it, then its directory fsynced (and
 * DIR, when HEX is new). */
static int write_atomically(const char *dir, const char *hex, const uint8_t *cp, size_t len) {
  char sub[4096], tmp[4200], dst[4200];
  snprintf(sub, sizeof(sub), "%s/%s", dir, hex);
  snprintf(dst, sizeof(dst), "%s/checkpoint", sub);
  snprintf(tmp, sizeof(tmp), "%s/.checkpoint.%ld.tmp", sub, (long)getpid());
  int made = mkdir(sub, 0755) == 0;
  if (!made && errno != EEXIST) {
    fprintf(stderr, "%s: export-monitoring: %s: %s\n", cli_prog, sub, strerror(errno));
    return EXIT_ERROR;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  size_t off = 0;
  while (fd >= 0 && off < len) {
    ssize_t w = write(fd, cp + off, len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      break;
    off += (size_t)w;
  }
  int ok = fd >= 0 && off == len && fsync(fd) == 0;
  if (fd >= 0 && close(fd) != 0)
    ok = 0;
  if (ok && rename(tmp, dst) != 0)
    ok = 0;
  if (!ok) {
    fprintf(stderr, "%s: export-monitoring: writing %s: %s\n", cli_prog, dst, strerror(errno));
    unlink(tmp); /* our own temporary file only */
    return EXIT_ERROR;
  }
  return fsync_dir(sub) && (!made || fsync_dir(dir)) ? EXIT_OK : EXIT_ERROR;
}

typedef struct monitoring_run {
  const char *dir;
  char (*seen)[65]; /* the origin hashes written by this run */
  char **seen_log;
  size_t nseen;
  size_t wrote, unchanged, skipped;
  int rc;
} monitoring_run;

/* One log: skipped without an origin line, refused when another log of
 * this run has the same origin, else written unless the file holds it. */
static void export_one(monitoring_run *r, const char *id, const uint8_t *cp, size_t len) {
  char hex[65], path[4200], q[CLI_QUOTE_SIZE], q2[CLI_QUOTE_SIZE];
  if (!origin_hash(cp, len, hex)) {
    fprintf(stderr, "%s: export-monitoring: skipped %s: its checkpoint has no origin line\n", cli_prog,
            cli_quote(q, id));
    r->skipped++;
    return;
  }
  for (size_t i = 0; i < r->nseen; i++) {
    if (strcmp(r->seen[i], hex) == 0) {
      fprintf(stderr, "%s: export-monitoring: logs %s and %s have the same origin line: %s not written\n", cli_prog,
              cli_quote(q, r->seen_log[i]), cli_quote(q2, id), q2);
      r->rc = EXIT_ERROR;
      return;
    }
  }
  memcpy(r->seen[r->nseen], hex, 65);
  r->seen_log[r->nseen++] = (char *)id;
  snprintf(path, sizeof(path), "%s/%s/checkpoint", r->dir, hex);
  if (same_file(path, cp, len)) {
    r->unchanged++;
    return;
  }
  if (write_atomically(r->dir, hex, cp, len) == EXIT_OK)
    r->wrote++;
  else
    r->rc = EXIT_ERROR;
}

/* mkdir -p DIR, each new directory 0755 (before the umask). */
static int make_dirs(const char *dir) {
  char buf[4096];
  struct stat sb;
  if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf)) {
    fprintf(stderr, "%s: export-monitoring: %s: the path is too long\n", cli_prog, dir);
    return EXIT_ERROR;
  }
  for (char *p = buf + 1;; p++) {
    if (*p != '/' && *p != '\0')
      continue;
    char c = *p;
    *p = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
      fprintf(stderr, "%s: export-monitoring: cannot create %s: %s\n", cli_prog, buf, strerror(errno));
      return EXIT_ERROR;
    }
    *p = c;
    if (c == '\0')
      break;
  }
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    fprintf(stderr, "%s: export-monitoring: %s is not a directory\n", cli_prog, dir);
    return EXIT_ERROR;
  }
  return EXIT_OK;
}

/* Each log into r, DIR made first (once the store was read). */
static logstate_status export_logs(logstate *ls, char **ids, size_t n, monitoring_run *r) {
  logstate_status st = LOGSTATE_OK;
  r->seen = calloc(n ? n : 1, sizeof(*r->seen));
  r->seen_log = calloc(n ? n : 1, sizeof(*r->seen_log));
  if (r->seen == NULL || r->seen_log == NULL) {
    fprintf(stderr, "%s: export-monitoring: out of memory\n", cli_prog);
    r->rc = EXIT_ERROR;
  } else {
    r->rc = make_dirs(r->dir);
  }
  for (size_t i = 0; r->rc == EXIT_OK && st == LOGSTATE_OK && i < n; i++) {
    uint8_t *cp = NULL;
    size_t len = 0;
    if ((st = cli_read_latest(ls, ids[i], &cp, &len)) == LOGSTATE_NOT_FOUND) {
      st = LOGSTATE_OK; /* removed since it was listed */
      continue;
    }
    if (st == LOGSTATE_OK)
      export_one(r, ids[i], cp, len);
    free(cp);
  }
  free(r->seen);
  free(r->seen_log);
  return st;
}

int cli_export_monitoring(const char *url, int argc, char **argv) {
  cli_args a = {url, NULL, 0};
  int rc = cli_parse(argc, argv, "", NULL, cli_no_opts, NULL, &a);
  if (rc == EXIT_OK)
    rc = cli_positional("export-monitoring", a.npos, 1, 1);
  monitoring_run r = {.dir = rc == EXIT_OK ? a.pos[0] : NULL, .rc = EXIT_OK};
  cli_args_free(&a);
  struct stat sb;
  if (rc == EXIT_OK && stat(r.dir, &sb) == 0 && !S_ISDIR(sb.st_mode))
    rc = cli_usage_error("export-monitoring: %s is not a directory", r.dir);
  logstate *ls = NULL;
  char **ids = NULL;
  size_t n = 0;
  if (rc != EXIT_OK || (rc = cli_open_ro(a.url, &ls)) != EXIT_OK)
    return rc;
  logstate_status st = logstate_logs(ls, &ids, &n);
  if (st == LOGSTATE_OK)
    st = export_logs(ls, ids, n, &r);
  if (st != LOGSTATE_OK)
    rc = cli_fail(st, "export-monitoring");
  logstate_free(ls);
  logstate_logs_free(ids, n);
  if (rc != EXIT_OK)
    return rc;
  printf("export-monitoring: %zu written, %zu unchanged, %zu skipped (no origin line)\n", r.wrote, r.unchanged,
         r.skipped);
  rc = cli_finish_output(stdout, "standard output");
  return r.rc != EXIT_OK ? r.rc : rc;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* export and import: every log as one JSON object per line,
 *
 *   {"log": "ID", "log_b64": "...", "checkpoint_b64": "..."}
 *
 * log_b64 and checkpoint_b64 are standard padded base64 of the exact bytes;
 * "log" is for people, written when the ID is valid UTF-8. Lines are made
 * and read by jansson, base64 by OpenSSL; import validates the whole input
 * before its first write. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* --- base64 and JSON ------------------------------------------------------ */

char *cli_b64(const uint8_t *p, size_t n) {
  if (n > ((size_t)INT_MAX / 4) * 3)
    return NULL;
  char *out = malloc(4 * ((n + 2) / 3) + 1);
  if (out)
    EVP_EncodeBlock((unsigned char *)out, p, (int)n); /* NUL-terminated */
  return out;
}

static int b64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* Decodes standard padded base64 (EVP_DecodeBlock, after checking that the
 * text is exactly that: it would skip blanks and take '=' anywhere) into a
 * malloc()ed buffer; NULL on anything else (or when out of memory, with
 * *oom set). */
static uint8_t *decode_b64(const char *s, size_t n, size_t *out_len, int *oom) {
  *oom = 0;
  if (n % 4 || n > INT_MAX)
    return NULL;
  size_t pad = n && s[n - 1] == '=' ? 1 + (s[n - 2] == '=') : 0;
  for (size_t i = 0; i < n - pad; i++)
    if (!b64_char(s[i]))
      return NULL;
  uint8_t *out = malloc(n / 4 * 3 + 1);
  if ((*oom = out == NULL) != 0)
    return NULL;
  int got = n ? EVP_DecodeBlock(out, (const unsigned char *)s, (int)n) : 0;
  if (got < 0 || (size_t)got < pad) {
    free(out);
    return NULL;
  }
  *out_len = (size_t)got - pad; /* EVP_DecodeBlock counts the padding as zero bytes */
  return out;
}

json_t *cli_json_text(const char *s, size_t n) { return json_stringn(s, n); }

int cli_put_json_line(FILE *f, json_t *obj) {
  int rc = obj ? json_dumpf(obj, f, 0) : -1;
  json_decref(obj);
  return rc == 0 && fputc('\n', f) != EOF ? 0 : -1;
}

/* --- export ------------------------------------------------------------- */

/* Sets key to a new base64 string of n bytes; 0, or -1 when out of memory. */
static int set_b64(json_t *obj, const char *key, const uint8_t *p, size_t n) {
  char *b = cli_b64(p, n);
  int rc = b ? json_object_set_new(obj, key, json_string(b)) : -1;
  free(b);
  return rc;
}

static int put_line(FILE *f, const char *id, const uint8_t *cp, size_t len) {
  json_t *obj = json_object(), *log = cli_json_text(id, strlen(id));
  if (obj && log) /* "log" is for people: only when the ID is valid UTF-8 */
    json_object_set_new(obj, "log", log);
  if (obj == NULL || set_b64(obj, "log_b64", (const uint8_t *)id, strlen(id)) != 0 ||
      set_b64(obj, "checkpoint_b64", cp, len) != 0) {
    json_decref(obj);
    return -1;
  }
  return cli_put_json_line(f, obj);
}

/* Every log of `ls` as a line of `f`. */
static int export_all(logstate *ls, char **ids, size_t n, FILE *f) {
  int rc = EXIT_OK;
  for (size_t k = 0; k < n && rc == EXIT_OK; k++) {
    uint8_t *cp = NULL;
    size_t len = 0;
    logstate_status st = cli_read_latest(ls, ids[k], &cp, &len);
    if (st == LOGSTATE_OK && put_line(f, ids[k], cp, len) != 0 && !ferror(f)) {
      fprintf(stderr, "%s: export: out of memory\n", cli_prog);
      rc = EXIT_ERROR;
    } else if (st != LOGSTATE_OK && st != LOGSTATE_NOT_FOUND) { /* not found: removed since listed */
      rc = cli_fail(st, "export");
    }
    free(cp);
  }
  return rc;
}

/* Every log configuration of `ls`, as {"config": {...}} lines. */
static int export_configs(logstate *ls, FILE *f) {
  logstate_log_entry *e = NULL;
  size_t n = 0;
  logstate_status st = logstate_config_list(ls, 1, &e, &n);
  int rc = st == LOGSTATE_OK ? EXIT_OK : cli_fail(st, "export");
  for (size_t i = 0; rc == EXIT_OK && i < n; i++) {
    json_t *line = json_object(), *c = cli_config_json(&e[i], 0);
    if (line == NULL || c == NULL || json_object_set_new(line, "config", c) != 0) {
      json_decref(line);
      rc = (fprintf(stderr, "%s: export: out of memory\n", cli_prog), EXIT_ERROR);
    } else if (cli_put_json_line(f, line) != 0) {
      rc = EXIT_ERROR; /* a write error: cli_out_end reports it */
    }
  }
  logstate_log_entries_free(e, n);
  return rc;
}

int cli_export(const char *url, int argc, char **argv) {
  cli_args a = {url, NULL, 0};
  int rc = cli_parse(argc, argv, "", NULL, cli_no_opts, NULL, &a);
  if (rc == EXIT_OK && a.npos > 1)
    rc = cli_usage_error("export takes at most one FILE");
  const char *file = rc == EXIT_OK && a.npos == 1 ? a.pos[0] : "-";
  char **ids = NULL;
  size_t n = 0;
  logstate *ls = NULL;
  cli_out out;
  cli_args_free(&a);
  if (rc != EXIT_OK || (rc = cli_open_ro(a.url, &ls)) != EXIT_OK)
    return rc;
  logstate_status st = logstate_logs(ls, &ids, &n);
  if (st != LOGSTATE_OK)
    rc = cli_fail(st, "export");
  else if ((rc = cli_out_begin(&out, file, "export")) == EXIT_OK) {
    rc = export_all(ls, ids, n, out.f);
    if (rc == EXIT_OK)
      rc = export_configs(ls, out.f);
    rc = cli_out_end(&out, rc, "export");
  }
  logstate_logs_free(ids, n);
  logstate_free(ls);
  return rc;
}

/* --- import ------------------------------------------------------------- */

typedef struct record {
  char *id;
  uint8_t *cp;
  size_t cp_len;
  size_t lineno;
} record;

static void records_free(record *r, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(r[i].id);
    free(r[i].cp);
  }
  free(r);
}

/* A base64 field of the object: its decoded bytes, or an error message. */
static const char *b64_field(json_t *obj, const char *key, uint8_t **out, size_t *len) {
  json_t *v = json_object_get(obj, key);
  int oom = 0;
  if (v == NULL)
    return "is missing";
  if (!json_is_string(v))
    return "is not a string";
  if ((*out = decode_b64(json_string_value(v), json_string_length(v), len, &oom)) == NULL)
    return oom ? "could not be decoded: out of memory" : "is not standard padded base64";
  if (*len == 0)
    return "is empty";
  return NULL;
}

/* A {"config": {...}} line into `cfg`: NULL, or the problem. */
static const char *parse_config_line(json_t *obj, cli_cfg_rec *cfg, const char **field) {
  static char inner[160];
  if (json_object_size(obj) != 1) {
    *field = "config";
    return "must be the line's only member";
  }
  const char *why = cli_config_from_json(json_object_get(obj, "config"), cfg, field);
  if (why && *field) { /* name the member inside */
    snprintf(inner, sizeof(inner), "config.%s", *field);
    *field = inner;
  } else if (why) {
    *field = "config";
  }
  return why;
}

/* Validates one line into `rec`, or into `cfg` (*is_config set) for a log
 * configuration. NULL, or the problem with `*field` naming the field it
 * concerns. */
static const char *parse_line(const char *line, size_t len, record *rec, cli_cfg_rec *cfg, int *is_config,
                              const char **field) {
  static char jerr[JSON_ERROR_TEXT_LENGTH + 32], unknown[128];
  json_error_t e;
  const char *why = NULL, *key;
  json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &e), *v;
  *field = NULL;
  *is_config = 0;
  if (obj == NULL) {
    snprintf(jerr, sizeof(jerr), "is not valid JSON: %s (column %d)", e.text, e.column);
    return jerr;
  }
  if (!json_is_object(obj)) {
    json_decref(obj);
    return "is not a JSON object";
  }
  if (json_object_get(obj, "config")) {
    *is_config = 1;
    why = parse_config_line(obj, cfg, field);
    json_decref(obj);
    return why;
  }
  json_object_foreach(obj, key, v) {
    if (strcmp(key, "log") != 0 && strcmp(key, "log_b64") != 0 && strcmp(key, "checkpoint_b64") != 0) {
      snprintf(unknown, sizeof(unknown), "%s", key); /* key dies with obj */
      *field = unknown;
      json_decref(obj);
      return "is not one export writes (log, log_b64, checkpoint_b64; or config)";
    }
  }
  size_t id_len = 0;
  if ((why = b64_field(obj, *field = "log_b64", (uint8_t **)&rec->id, &id_len)) == NULL) {
    if (id_len > LOGSTATE_MAX_LOG_ID_LEN || memchr(rec->id, '\0', id_len))
      why = "is not a valid log ID (1 to 1024 bytes, no NUL)";
  }
  if (why == NULL && (v = json_object_get(obj, *field = "log")) != NULL &&
      (!json_is_string(v) || json_string_length(v) != id_len || memcmp(json_string_value(v), rec->id, id_len) != 0))
    why = "disagrees with log_b64";
  if (why == NULL && (why = b64_field(obj, *field = "checkpoint_b64", &rec->cp, &rec->cp_len)) == NULL &&
      rec->cp_len > LOGSTATE_DEFAULT_MAX_CHECKPOINT_LEN)
    why = "is larger than the 1 MiB a checkpoint may be";
  if (why == NULL)
    rec->id[id_len] = '\0'; /* decode_b64 leaves room for it */
  json_decref(obj);
  return why;
}

/* What an import file holds: the logs' records and the configurations. */
typedef struct import_data {
  record *recs;
  size_t n, cap;
  cli_cfg_rec *cfgs;
  size_t ncfg, cfgcap;
} import_data;

static void import_data_free(import_data *d) {
  records_free(d->recs, d->n);
  cli_cfg_recs_free(d->cfgs, d->ncfg);
  memset(d, 0, sizeof(*d));
}

/* Room for one more of each; 0 when out of memory. */
static int grow(import_data *d) {
  if (d->n == d->cap) {
    record *g = realloc(d->recs, (d->cap = d->cap ? d->cap * 2 : 64) * sizeof(*g));
    if (g == NULL)
      return 0;
    d->recs = g;
  }
  if (d->ncfg == d->cfgcap) {
    cli_cfg_rec *g = realloc(d->cfgs, (d->cfgcap = d->cfgcap ? d->cfgcap * 2 : 16) * sizeof(*g));
    if (g == NULL)
      return 0;
    d->cfgs = g;
  }
  return 1;
}

typedef struct parse_arg {
  const char *file;
  import_data *d;
} parse_arg;

/* One line into p->d: EXIT_OK, or EXIT_USAGE reported. */
static int parse_one(const char *line, size_t len, size_t lineno, void *arg) {
  parse_arg *p = arg;
  import_data *d = p->d;
  if (!grow(d))
    return (fprintf(stderr, "%s: import: out of memory\n", cli_prog), EXIT_ERROR);
  const char *field;
  int is_config = 0;
  memset(&d->recs[d->n], 0, sizeof(d->recs[d->n]));
  memset(&d->cfgs[d->ncfg], 0, sizeof(d->cfgs[d->ncfg]));
  d->recs[d->n].lineno = d->cfgs[d->ncfg].lineno = lineno;
  const char *why = parse_line(line, len, &d->recs[d->n], &d->cfgs[d->ncfg], &is_config, &field);
  if (why) {
    fprintf(stderr, "%s: import: %s line %zu: %s%s%s %s; nothing was imported\n", cli_prog, p->file, lineno,
            field ? "field \"" : "the line", field ? field : "", field ? "\"" : "", why);
    d->n++; /* what the failed line holds is freed with the rest */
    d->ncfg++;
    return EXIT_USAGE;
  }
  if (is_config)
    d->ncfg++;
  else
    d->n++;
  return EXIT_OK;
}

/* Parses every line of `data`: all valid, or none. */
static int parse_all(const char *file, char *data, size_t len, import_data *d) {
  parse_arg p = {file, d};
  memset(d, 0, sizeof(*d));
  int rc = cli_each_line(data, len, parse_one, &p);
  if (rc != EXIT_OK)
    import_data_free(d);
  return rc;
}

static int by_id(const void *a, const void *b) { return strcmp(((const record *)a)->id, ((const record *)b)->id); }

/* Two lines for one log would make the result depend on their order. */
static int check_unique(const char *file, record *recs, size_t n) {
  if (n < 2)
    return EXIT_OK; /* and recs may be NULL: no qsort (found by fuzz_import) */
  qsort(recs, n, sizeof(*recs), by_id);
  for (size_t i = 1; i < n; i++) {
    if (strcmp(recs[i - 1].id, recs[i].id) == 0) {
      fprintf(stderr, "%s: import: %s lines %zu and %zu are for the same log; nothing was imported\n", cli_prog, file,
              recs[i - 1].lineno < recs[i].lineno ? recs[i - 1].lineno : recs[i].lineno,
              recs[i - 1].lineno < recs[i].lineno ? recs[i].lineno : recs[i - 1].lineno);
      return EXIT_USAGE;
    }
  }
  return EXIT_OK;
}

/* parse_all and check_unique: everything, or nothing (and the message). */
static int read_records(const char *file, char *data, size_t len, import_data *d) {
  int rc = parse_all(file, data, len, d);
  if (rc == EXIT_OK && (rc = check_unique(file, d->recs, d->n)) != EXIT_OK)
    import_data_free(d);
  return rc;
}

int cli_import_check(const char *file, char *data, size_t len) {
  import_data d;
  int rc = read_records(file, data, len, &d);
  import_data_free(&d);
  return rc;
}

typedef struct import_counts {
  size_t stored, unchanged, refused;
} import_counts;

static int import_one(logstate *ls, const record *r, int force, import_counts *n) {
  uint8_t *cur = NULL;
  size_t cur_len = 0;
  int rc = EXIT_OK;
  logstate_status st = cli_read_latest(ls, r->id, &cur, &cur_len);
  if (st == LOGSTATE_OK && cur_len == r->cp_len && memcmp(cur, r->cp, cur_len) == 0) {
    n->unchanged++;
  } else if (st == LOGSTATE_OK && !force) {
    char q[CLI_QUOTE_SIZE];
    fprintf(stderr, "%s: import: log %s holds a different checkpoint; not overwritten (use --force)\n", cli_prog,
            cli_quote(q, r->id));
    n->refused++;
  } else if (st == LOGSTATE_OK || st == LOGSTATE_NOT_FOUND) {
    /* Expect what was just read, so a racing writer is not overwritten. */
    st = cli_store(ls, r->id, r->cp, r->cp_len, st == LOGSTATE_OK ? EXPECT_BYTES : EXPECT_ABSENT, cur, cur_len);
    if (st == LOGSTATE_OK)
      n->stored++;
    else
      rc = cli_fail(st, "import");
  } else {
    rc = cli_fail(st, "import");
  }
  free(cur);
  return rc;
}

static int import_opt(int c, void *arg) {
  *(int *)arg = c == 'f';
  return EXIT_OK;
}

int cli_import(const char *url, int argc, char **argv) {
  static const struct option opts[] = {{"force", no_argument, NULL, 'f'}, {NULL, 0, NULL, 0}};
  int force = 0;
  cli_args a = {url, NULL, 0};
  int rc = cli_parse(argc, argv, "", opts, import_opt, &force, &a);
  if (rc == EXIT_OK && a.npos > 1)
    rc = cli_usage_error("import takes at most one FILE");
  const char *file = rc == EXIT_OK && a.npos == 1 ? a.pos[0] : "-";
  url = a.url;
  cli_args_free(&a);
  if (rc != EXIT_OK)
    return rc;
  uint8_t *data = NULL;
  size_t len = 0, i = 0;
  import_data d = {0};
  rc = cli_read_all(file, CLI_MAX_INPUT, &data, &len);
  if (rc == EXIT_OK && len > CLI_MAX_INPUT) {
    fprintf(stderr, "%s: import: %s is larger than %zu bytes\n", cli_prog, file, CLI_MAX_INPUT);
    rc = EXIT_USAGE;
  }
  if (rc == EXIT_OK)
    rc = read_records(file, (char *)data, len, &d);
  free(data);
  logstate *ls = NULL;
  if (rc == EXIT_OK && (rc = cli_open_writer(url, &ls)) != EXIT_OK)
    import_data_free(&d);
  if (rc != EXIT_OK)
    return rc;
  import_counts counts = {0, 0, 0};
  cli_cfg_counts cfg = {0, 0, 0};
  cli_progress progress;
  cli_progress_start(&progress, "import", d.n);
  for (; i < d.n && rc == EXIT_OK; i++) {
    rc = import_one(ls, &d.recs[i], force, &counts);
    cli_progress_step(&progress, i + 1);
  }
  cli_progress_end(&progress, i);
  if (rc == EXIT_OK && d.ncfg) /* insert-only: --force changes no configuration */
    rc = cli_config_add_all(ls, d.cfgs, d.ncfg, "import", &cfg);
  import_data_free(&d);
  logstate_free(ls);
  fprintf(stderr, "%s: import: %zu stored, %zu unchanged, %zu refused\n", cli_prog, counts.stored, counts.unchanged,
          counts.refused);
  if (cfg.added + cfg.identical + cfg.different)
    fprintf(stderr,
            "%s: import: log configurations: %zu added, %zu identical, %zu with other values (left as they are)\n",
            cli_prog, cfg.added, cfg.identical, cfg.different);
  counts.refused += cfg.different;
  return rc == EXIT_OK && counts.refused ? EXIT_CONFLICT : rc;
}

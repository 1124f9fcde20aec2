/* SPDX-License-Identifier: Apache-2.0 */
/* export and import: every log as one JSON object per line,
 *
 *   {"log": "ID", "log_b64": "...", "checkpoint_b64": "..."}
 *
 * log_b64 and checkpoint_b64 are standard padded base64 of the exact bytes;
 * "log" is for people, written when the ID is valid UTF-8. Export writes
 * this shape byte for byte as earlier versions did. Import parses each line
 * with jansson and validates the whole input before its first write. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* --- base64 ------------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void cli_put_b64(FILE *f, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
    fputc(b64[v >> 18 & 63], f);
    fputc(b64[v >> 12 & 63], f);
    fputc(i + 1 < n ? b64[v >> 6 & 63] : '=', f);
    fputc(i + 2 < n ? b64[v & 63] : '=', f);
  }
}

static int b64_value(char c) {
  const char *p = c ? strchr(b64, c) : NULL;
  return p ? (int)(p - b64) : -1;
}

/* Decodes standard padded base64 into a malloc()ed buffer; NULL on
 * anything else (or when out of memory, with *oom set). */
static uint8_t *decode_b64(const char *s, size_t n, size_t *out_len, int *oom) {
  if (n % 4)
    return NULL;
  uint8_t *out = malloc(n / 4 * 3 + 1);
  size_t o = 0;
  if ((*oom = out == NULL) != 0)
    return NULL;
  for (size_t i = 0; i < n; i += 4) {
    int pad = (s[i + 3] == '=') + (s[i + 2] == '=' && s[i + 3] == '=');
    uint32_t v = 0;
    for (size_t j = 0; j < 4; j++) {
      int x = j >= 4 - (size_t)pad ? 0 : b64_value(s[i + j]);
      if (x < 0 || (pad && i + 4 != n)) {
        free(out);
        return NULL;
      }
      v = v << 6 | (uint32_t)x;
    }
    out[o++] = (uint8_t)(v >> 16);
    if (pad < 2)
      out[o++] = (uint8_t)(v >> 8);
    if (pad < 1)
      out[o++] = (uint8_t)v;
  }
  *out_len = o;
  return out;
}

/* --- export ------------------------------------------------------------- */

int cli_valid_utf8(const unsigned char *s) {
  while (*s) {
    int n = *s < 0x80 ? 0 : (*s & 0xe0) == 0xc0 ? 1 : (*s & 0xf0) == 0xe0 ? 2 : (*s & 0xf8) == 0xf0 ? 3 : -1;
    if (n < 0 || (n == 1 && *s < 0xc2))
      return 0;
    s++;
    for (int i = 0; i < n; i++, s++)
      if ((*s & 0xc0) != 0x80)
        return 0;
  }
  return 1;
}

void cli_put_json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p < 0x20 || *p == 0x7f)
      fprintf(f, "\\u%04x", *p);
    else
      fputc(*p, f);
  }
  fputc('"', f);
}

static void put_line(FILE *f, const char *id, const uint8_t *cp, size_t len) {
  fputc('{', f);
  if (cli_valid_utf8((const unsigned char *)id)) {
    fputs("\"log\": ", f);
    cli_put_json_string(f, id);
    fputs(", ", f);
  }
  fputs("\"log_b64\": \"", f);
  cli_put_b64(f, (const uint8_t *)id, strlen(id));
  fputs("\", \"checkpoint_b64\": \"", f);
  cli_put_b64(f, cp, len);
  fputs("\"}\n", f);
}

int cli_export(const char *url, int argc, char **argv) {
  const char *file = "-";
  int i = 1;
  if (i < argc && strcmp(argv[i], "--") == 0)
    i++;
  if (argc - i > 1)
    return cli_usage_error("export takes at most one FILE");
  if (i < argc)
    file = argv[i];
  char **ids = NULL;
  size_t n = 0;
  logstate *ls = NULL;
  int rc = cli_open_ro(url, &ls);
  if (rc != EXIT_OK)
    return rc;
  logstate_status st = logstate_logs(ls, &ids, &n);
  FILE *f = st != LOGSTATE_OK ? NULL : strcmp(file, "-") == 0 ? stdout : fopen(file, "wb");
  if (f == NULL) {
    rc = st != LOGSTATE_OK ? cli_fail(st, "export") : (perror(file), EXIT_ERROR);
    logstate_logs_free(ids, n);
    logstate_free(ls);
    return rc;
  }
  for (size_t k = 0; k < n && rc == EXIT_OK; k++) {
    uint8_t *cp = NULL;
    size_t len = 0;
    st = cli_read_latest(ls, ids[k], &cp, &len);
    if (st == LOGSTATE_OK)
      put_line(f, ids[k], cp, len);
    else if (st != LOGSTATE_NOT_FOUND) /* not found: removed since listed */
      rc = cli_fail(st, "export");
    free(cp);
  }
  logstate_logs_free(ids, n);
  logstate_free(ls);
  int out = cli_finish_output(f, strcmp(file, "-") == 0 ? "standard output" : file);
  return rc != EXIT_OK ? rc : out;
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

/* Validates one line into `rec`. NULL, or the problem with `*field` naming
 * the field it concerns. */
static const char *parse_line(const char *line, size_t len, record *rec, const char **field) {
  static char jerr[JSON_ERROR_TEXT_LENGTH + 32], unknown[128];
  json_error_t e;
  const char *why = NULL, *key;
  json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &e), *v;
  *field = NULL;
  if (obj == NULL) {
    snprintf(jerr, sizeof(jerr), "is not valid JSON: %s (column %d)", e.text, e.column);
    return jerr;
  }
  if (!json_is_object(obj)) {
    json_decref(obj);
    return "is not a JSON object";
  }
  json_object_foreach(obj, key, v) {
    if (strcmp(key, "log") != 0 && strcmp(key, "log_b64") != 0 && strcmp(key, "checkpoint_b64") != 0) {
      snprintf(unknown, sizeof(unknown), "%s", key); /* key dies with obj */
      *field = unknown;
      json_decref(obj);
      return "is not one export writes (log, log_b64, checkpoint_b64)";
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

/* Parses every line of `data` into records: all valid, or none. */
static int parse_all(const char *file, char *data, size_t len, record **out, size_t *out_n) {
  size_t n = 0, cap = 0, lineno = 0;
  record *recs = NULL;
  for (char *line = data, *end; line < data + len; line = end + 1) {
    end = memchr(line, '\n', (size_t)(data + len - line));
    if (end == NULL)
      end = data + len;
    lineno++;
    if (end == line)
      continue; /* an empty line */
    if (n == cap) {
      record *grown = realloc(recs, (cap = cap ? cap * 2 : 64) * sizeof(*recs));
      if (grown == NULL) {
        records_free(recs, n);
        fprintf(stderr, "%s: import: out of memory\n", cli_prog);
        return EXIT_ERROR;
      }
      recs = grown;
    }
    const char *field;
    memset(&recs[n], 0, sizeof(recs[n]));
    recs[n].lineno = lineno;
    const char *why = parse_line(line, (size_t)(end - line), &recs[n], &field);
    if (why) {
      fprintf(stderr, "%s: import: %s line %zu: %s%s%s %s; nothing was imported\n", cli_prog, file, lineno,
              field ? "field \"" : "the line", field ? field : "", field ? "\"" : "", why);
      records_free(recs, n + 1);
      return EXIT_USAGE;
    }
    n++;
  }
  *out = recs;
  *out_n = n;
  return EXIT_OK;
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

/* parse_all and check_unique: every record, or none (and the message). */
static int read_records(const char *file, char *data, size_t len, record **out, size_t *n) {
  int rc = parse_all(file, data, len, out, n);
  if (rc == EXIT_OK && (rc = check_unique(file, *out, *n)) != EXIT_OK) {
    records_free(*out, *n);
    *out = NULL;
    *n = 0;
  }
  return rc;
}

int cli_import_check(const char *file, char *data, size_t len) {
  record *recs = NULL;
  size_t n = 0;
  int rc = read_records(file, data, len, &recs, &n);
  records_free(recs, n);
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
    fprintf(stderr, "%s: import: log %s holds a different checkpoint; not overwritten (use --force)\n", cli_prog,
            r->id);
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

int cli_import(const char *url, int argc, char **argv) {
  static const struct option opts[] = {{"force", no_argument, NULL, 'f'}, {NULL, 0, NULL, 0}};
  int force = 0, c;
  opterr = 0;
  optind = 0;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c != 'f')
      return cli_usage_error("import: unknown option, or an option without its value: %s", argv[optind - 1]);
    force = 1;
  }
  if (argc - optind > 1)
    return cli_usage_error("import takes at most one FILE");
  const char *file = optind < argc ? argv[optind] : "-";
  uint8_t *data = NULL;
  size_t len = 0, n = 0, i = 0;
  record *recs = NULL;
  int rc = cli_read_all(file, CLI_MAX_INPUT, &data, &len);
  if (rc == EXIT_OK && len > CLI_MAX_INPUT) {
    fprintf(stderr, "%s: import: %s is larger than %zu bytes\n", cli_prog, file, CLI_MAX_INPUT);
    rc = EXIT_USAGE;
  }
  if (rc == EXIT_OK)
    rc = read_records(file, (char *)data, len, &recs, &n);
  free(data);
  logstate *ls = NULL;
  if (rc == EXIT_OK && (rc = cli_open(url, &ls)) != EXIT_OK)
    records_free(recs, n);
  if (rc != EXIT_OK)
    return rc;
  import_counts counts = {0, 0, 0};
  cli_progress progress;
  cli_progress_start(&progress, "import", n);
  for (; i < n && rc == EXIT_OK; i++) {
    rc = import_one(ls, &recs[i], force, &counts);
    cli_progress_step(&progress, i + 1);
  }
  cli_progress_end(&progress, i);
  records_free(recs, n);
  logstate_free(ls);
  fprintf(stderr, "%s: import: %zu stored, %zu unchanged, %zu refused\n", cli_prog, counts.stored, counts.unchanged,
          counts.refused);
  return rc == EXIT_OK && counts.refused ? EXIT_CONFLICT : rc;
}

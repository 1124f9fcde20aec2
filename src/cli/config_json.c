/* SPDX-License-Identifier: Apache-2.0 */
/* Log configurations as JSON, for the tool's config commands, export,
 * import and copy:
 *
 *   {"origin": "...", "vkey": "...", "contact": "...", "qpd": 86400,
 *    "disabled": true}
 *
 * contact, qpd and disabled may be left out (none, none, false). `config
 * get --json` and `config list --json` add what logstate keeps beside:
 * log_id, added_ms, changed_ms, changed_by, reason (when known). */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int set_str(json_t *o, const char *key, const char *v) {
  json_t *s = v ? cli_json_text(v, strlen(v)) : NULL;
  return v == NULL ? 0 : s ? json_object_set_new(o, key, s) : -1;
}

json_t *cli_config_json(const logstate_log_entry *e, int full) {
  json_t *o = json_object();
  int bad =
      o == NULL || set_str(o, "origin", e->origin) || set_str(o, "vkey", e->vkey) || set_str(o, "contact", e->contact);
  if (!bad && e->has_qpd)
    bad = json_object_set_new(o, "qpd", json_real(e->qpd)) != 0;
  if (!bad && e->disabled)
    bad = json_object_set_new(o, "disabled", json_true()) != 0;
  if (!bad && full) {
    bad = set_str(o, "log_id", e->log_id);
    if (!bad && e->added_ms)
      bad = json_object_set_new(o, "added_ms", json_integer(e->added_ms)) != 0;
    if (!bad && e->changed_ms)
      bad = json_object_set_new(o, "changed_ms", json_integer(e->changed_ms)) != 0;
    bad = bad || set_str(o, "changed_by", e->changed_by) || set_str(o, "reason", e->reason);
  }
  if (bad) {
    json_decref(o);
    return NULL;
  }
  return o;
}

void cli_cfg_recs_free(cli_cfg_rec *r, size_t n) {
  for (size_t i = 0; r && i < n; i++) {
    free((char *)r[i].c.origin);
    free((char *)r[i].c.vkey);
    free((char *)r[i].c.contact);
  }
  free(r);
}

/* A string member: copied into *out (NULL when absent and optional). */
static const char *string_of(json_t *obj, const char *key, int optional, const char **out) {
  json_t *v = json_object_get(obj, key);
  *out = NULL;
  if (v == NULL)
    return optional ? NULL : "is missing";
  if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
    return "is not a string (without NUL)";
  if ((*out = strdup(json_string_value(v))) == NULL)
    return "could not be copied: out of memory";
  return NULL;
}

const char *cli_config_from_json(json_t *obj, cli_cfg_rec *r, const char **field) {
  static const char *const known[] = {"origin", "vkey", "contact", "qpd", "disabled"};
  static char unknown[128];
  const char *key, *why = NULL;
  json_t *v;
  *field = NULL;
  if (!json_is_object(obj))
    return "is not a JSON object";
  json_object_foreach(obj, key, v) {
    size_t k = 0;
    while (k < 5 && strcmp(key, known[k]) != 0)
      k++;
    if (k == 5) {
      snprintf(unknown, sizeof(unknown), "%s", key);
      *field = unknown;
      return "is not a configuration's (origin, vkey, contact, qpd, disabled)";
    }
  }
  if ((why = string_of(obj, *field = "origin", 0, &r->c.origin)) ||
      (why = string_of(obj, *field = "vkey", 0, &r->c.vkey)) ||
      (why = string_of(obj, *field = "contact", 1, &r->c.contact)))
    return why;
  if ((v = json_object_get(obj, *field = "qpd")) != NULL) {
    if (!json_is_number(v))
      return "is not a number";
    r->c.qpd = json_number_value(v);
    r->c.has_qpd = 1;
  }
  if ((v = json_object_get(obj, *field = "disabled")) != NULL) {
    if (!json_is_boolean(v))
      return "is not true or false";
    r->c.disabled = json_is_true(v);
  }
  /* The library's own checks, before anything is written anywhere. */
  *field = NULL;
  if (logstate_config_check(&r->c, 1) != LOGSTATE_OK) {
    static char msg[1100];
    const char *e = logstate_last_error(), *colon = strstr(e, ": "), *mine = strstr(e, "configuration 0's ");
    /* "logstate_config_check: configuration 0's origin ...": the field and the problem */
    snprintf(msg, sizeof(msg), "is refused: %s", mine ? mine + strlen("configuration 0's ") : colon ? colon + 2 : e);
    return msg;
  }
  return NULL;
}

int cli_config_add_all(logstate *ls, const cli_cfg_rec *recs, size_t n, const char *what, cli_cfg_counts *counts) {
  logstate_log_config *c = n ? malloc(n * sizeof(*c)) : NULL;
  logstate_config_result *r = n ? malloc(n * sizeof(*r)) : NULL;
  int rc = EXIT_OK;
  if (n && (c == NULL || r == NULL))
    rc = (fprintf(stderr, "%s: %s: out of memory\n", cli_prog, what), EXIT_ERROR);
  for (size_t i = 0; rc == EXIT_OK && i < n; i++)
    c[i] = recs[i].c;
  for (size_t at = 0; rc == EXIT_OK && at < n; at += LOGSTATE_MAX_CONFIG_BATCH) {
    size_t k = n - at < LOGSTATE_MAX_CONFIG_BATCH ? n - at : LOGSTATE_MAX_CONFIG_BATCH;
    logstate_status st = logstate_config_add(ls, c + at, k, r + at);
    if (st != LOGSTATE_OK) {
      rc = cli_fail(st, what);
      break;
    }
    for (size_t i = at; i < at + k; i++) {
      char q[CLI_QUOTE_SIZE];
      counts->added += r[i] == LOGSTATE_CONFIG_ADDED;
      counts->identical += r[i] == LOGSTATE_CONFIG_IDENTICAL;
      if (r[i] == LOGSTATE_CONFIG_DIFFERENT) {
        counts->different++;
        fprintf(stderr, "%s: %s: origin %s has an entry with other values; it is left as it is\n", cli_prog, what,
                cli_quote(q, c[i].origin));
      }
    }
  }
  free(c);
  free(r);
  return rc;
}

/* --- config import and export ----------------------------------------------- */

typedef struct cfg_lines {
  const char *file;
  cli_cfg_rec *recs;
  size_t n, cap;
} cfg_lines;

/* One line, a configuration object, into l->recs: EXIT_OK, or the problem
 * reported. */
static int parse_config(const char *line, size_t len, size_t lineno, void *arg) {
  cfg_lines *l = arg;
  cli_cfg_rec *grown = l->n < l->cap ? l->recs : realloc(l->recs, (l->cap = l->cap ? 2 * l->cap : 16) * sizeof(*grown));
  if (grown == NULL)
    return (fprintf(stderr, "%s: config import: out of memory\n", cli_prog), EXIT_ERROR);
  l->recs = grown;
  cli_cfg_rec *r = &l->recs[l->n++];
  memset(r, 0, sizeof(*r));
  r->lineno = lineno;
  json_error_t e;
  json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &e);
  const char *field = NULL, *why = obj ? cli_config_from_json(obj, r, &field) : "is not valid JSON";
  json_decref(obj);
  if (why == NULL)
    return EXIT_OK;
  fprintf(stderr, "%s: config import: %s line %zu: %s%s%s %s; nothing was imported\n", cli_prog, l->file, lineno,
          field ? "field \"" : "the line", field ? field : "", field ? "\"" : "", why);
  return EXIT_USAGE;
}

int cli_config_import(const char *url, int argc, char **argv) {
  cli_args a = {url, NULL, 0};
  int rc = cli_parse(argc, argv, "", NULL, cli_no_opts, NULL, &a);
  if (rc == EXIT_OK)
    rc = cli_positional("config import", a.npos, 1, 1);
  uint8_t *data = NULL;
  size_t len = 0;
  cfg_lines lines = {rc == EXIT_OK ? a.pos[0] : NULL, NULL, 0, 0};
  if (rc == EXIT_OK && (rc = cli_read_all(a.pos[0], CLI_MAX_INPUT, &data, &len)) == EXIT_OK)
    rc = cli_each_line((const char *)data, len, parse_config, &lines);
  free(data);
  cli_cfg_rec *recs = lines.recs;
  size_t n = lines.n;
  logstate *ls = NULL;
  cli_cfg_counts c = {0, 0, 0};
  if (rc == EXIT_OK && (rc = cli_open_writer(a.url, &ls)) == EXIT_OK) {
    rc = cli_config_add_all(ls, recs, n, "config import", &c);
    logstate_free(ls);
    fprintf(stderr, "%s: config import: %zu added, %zu identical, %zu with other values (left as they are)\n", cli_prog,
            c.added, c.identical, c.different);
  }
  cli_cfg_recs_free(recs, n);
  cli_args_free(&a);
  return rc == EXIT_OK && c.different ? EXIT_CONFLICT : rc;
}

int cli_config_export(const char *url, int argc, char **argv) {
  cli_args a = {url, NULL, 0};
  int rc = cli_parse(argc, argv, "", NULL, cli_no_opts, NULL, &a);
  if (rc == EXIT_OK)
    rc = cli_positional("config export", a.npos, 0, 1);
  const char *file = rc == EXIT_OK && a.npos == 1 ? a.pos[0] : "-";
  logstate *ls = NULL;
  logstate_log_entry *e = NULL;
  size_t n = 0;
  cli_out out;
  if (rc == EXIT_OK && (rc = cli_open_ro(a.url, &ls)) == EXIT_OK) {
    logstate_status st = logstate_config_list(ls, 1, &e, &n);
    logstate_free(ls);
    rc = st == LOGSTATE_OK ? cli_out_begin(&out, file, "config export") : cli_fail(st, "config export");
    for (size_t i = 0; rc == EXIT_OK && i < n; i++)
      if (cli_put_json_line(out.f, cli_config_json(&e[i], 0)) != 0)
        rc = EXIT_ERROR; /* out of memory or a write error: reported by cli_out_end when it is the latter */
    if (st == LOGSTATE_OK)
      rc = cli_out_end(&out, rc, "config export");
  }
  logstate_log_entries_free(e, n);
  cli_args_free(&a);
  return rc;
}

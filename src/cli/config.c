/* SPDX-License-Identifier: Apache-2.0 */
/* The tool's log configuration commands (log_config.h):
 *
 *   logstate id ORIGIN
 *   logstate config add ORIGIN VKEY [--contact C] [--qpd Q]
 *   logstate config get ORIGIN [--json]
 *   logstate config list [--all] [--json]
 *   logstate config disable|enable ORIGIN [--reason R]
 *   logstate config import FILE | export [FILE]
 *   logstate config history [ORIGIN] [--limit N] [--json]
 *
 * Adds are insert-only: exit 0 when added or identical, 4 when an entry
 * with other values exists (nothing changed). A missing entry is exit 3. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Every option of every config subcommand; each takes the ones it allows. */
typedef struct cfg_opts {
  const char *contact, *qpd, *reason, *limit;
  int json, all;
  const char *allowed; /* the subcommand's option letters */
  const char *cmd;
} cfg_opts;

static int cfg_opt(int c, void *arg) {
  cfg_opts *o = arg;
  switch (c) {
  case 'c':
    o->contact = optarg;
    break;
  case 'q':
    o->qpd = optarg;
    break;
  case 'r':
    o->reason = optarg;
    break;
  case 'n':
    o->limit = optarg;
    break;
  case 'j':
    o->json = 1;
    break;
  case 'a':
    o->all = 1;
    break;
  }
  return EXIT_OK;
}

/* Parses a subcommand's arguments: EXIT_OK with between min and max
 * positional ones. */
static int parse(int argc, char **argv, cfg_opts *o, cli_args *a, int min, int max) {
  static const struct option every[] = {
      {"contact", required_argument, NULL, 'c'}, {"qpd", required_argument, NULL, 'q'},
      {"reason", required_argument, NULL, 'r'},  {"limit", required_argument, NULL, 'n'},
      {"json", no_argument, NULL, 'j'},          {"all", no_argument, NULL, 'a'}};
  struct option opts[7];
  size_t k = 0;
  for (size_t i = 0; i < sizeof(every) / sizeof(every[0]); i++) /* the subcommand's own: others are unknown */
    if (strchr(o->allowed, every[i].val))
      opts[k++] = every[i];
  opts[k] = (struct option){NULL, 0, NULL, 0};
  int rc = cli_parse(argc, argv, "", opts, cfg_opt, o, a);
  return rc == EXIT_OK ? cli_positional(o->cmd, a->npos, min, max) : rc;
}

/* --- id --------------------------------------------------------------------- */

int cli_id(const char *url, int argc, char **argv) {
  cli_args a = {url, NULL, 0};
  int rc = cli_parse(argc, argv, "", NULL, cli_no_opts, NULL, &a);
  if (rc == EXIT_OK)
    rc = cli_positional("id", a.npos, 1, 1);
  char id[LOGSTATE_LOG_ID_HEX_LEN + 1];
  logstate_status st = rc == EXIT_OK ? logstate_log_id(a.pos[0], id) : LOGSTATE_OK;
  cli_args_free(&a);
  if (rc != EXIT_OK)
    return rc;
  if (st != LOGSTATE_OK)
    return cli_fail(st, "id");
  printf("%s\n", id);
  return cli_finish_output(stdout, "standard output");
}

/* --- add, get, list ------------------------------------------------------------ */

static int add(const char *url, int argc, char **argv) {
  cfg_opts o = {.allowed = "cq", .cmd = "config add"};
  cli_args a = {url, NULL, 0};
  int rc = parse(argc, argv, &o, &a, 2, 2);
  cli_cfg_rec rec = {.c = {.contact = o.contact}};
  char *end = NULL;
  if (rc == EXIT_OK) {
    rec.c.origin = a.pos[0];
    rec.c.vkey = a.pos[1];
  }
  if (rc == EXIT_OK && o.qpd) {
    errno = 0;
    rec.c.qpd = strtod(o.qpd, &end);
    rec.c.has_qpd = 1;
    if (errno || end == o.qpd || *end)
      rc = cli_usage_error("config add: --qpd must be a number (%s given)", o.qpd);
  }
  if (rc == EXIT_OK && logstate_config_check(&rec.c, 1) != LOGSTATE_OK)
    rc = cli_fail(LOGSTATE_INVALID_ARGUMENT, "config add");
  logstate *ls = NULL;
  cli_cfg_counts n = {0, 0, 0};
  if (rc == EXIT_OK && (rc = cli_open_writer(a.url, &ls)) == EXIT_OK) {
    rc = cli_config_add_all(ls, &rec, 1, "config add", &n);
    logstate_free(ls);
  }
  if (rc == EXIT_OK && !n.different)
    printf("%s %s\n", n.added ? "added" : "identical", rec.c.origin);
  cli_args_free(&a);
  if (rc == EXIT_OK && cli_finish_output(stdout, "standard output") != EXIT_OK)
    rc = EXIT_ERROR;
  return rc == EXIT_OK && n.different ? EXIT_CONFLICT : rc;
}

static void put_text(const logstate_log_entry *e) {
  char when[48];
  printf("origin: %s\nlog_id: %s\nvkey: %s\n", e->origin, e->log_id, e->vkey);
  if (e->contact)
    printf("contact: %s\n", e->contact);
  if (e->has_qpd)
    printf("qpd: %.17g\n", e->qpd);
  printf("state: %s\n", e->disabled ? "disabled" : "enabled");
  if (e->added_ms)
    printf("added: %s\n", cli_format_time(e->added_ms, when, sizeof(when)));
  if (e->changed_ms)
    printf("changed: %s by %s%s%s\n", cli_format_time(e->changed_ms, when, sizeof(when)),
           e->changed_by ? e->changed_by : "-", e->reason ? ": " : "", e->reason ? e->reason : "");
}

static int get(const char *url, int argc, char **argv) {
  cfg_opts o = {.allowed = "j", .cmd = "config get"};
  cli_args a = {url, NULL, 0};
  int rc = parse(argc, argv, &o, &a, 1, 1);
  logstate *ls = NULL;
  logstate_log_entry *e = NULL;
  if (rc == EXIT_OK && (rc = cli_open_ro(a.url, &ls)) == EXIT_OK) {
    logstate_status st = logstate_config_get(ls, a.pos[0], &e, NULL);
    logstate_free(ls);
    rc = st == LOGSTATE_OK ? EXIT_OK : cli_fail(st, "config get");
  }
  cli_args_free(&a);
  if (rc != EXIT_OK)
    return rc;
  if (o.json && cli_put_json_line(stdout, cli_config_json(e, 1)) != 0 && !ferror(stdout))
    rc = (fprintf(stderr, "%s: config get: out of memory\n", cli_prog), EXIT_ERROR);
  else if (!o.json)
    put_text(e);
  logstate_log_entry_free(e);
  return rc == EXIT_OK ? cli_finish_output(stdout, "standard output") : rc;
}

static int list(const char *url, int argc, char **argv) {
  cfg_opts o = {.allowed = "ja", .cmd = "config list"};
  cli_args a = {url, NULL, 0};
  int rc = parse(argc, argv, &o, &a, 0, 0);
  logstate *ls = NULL;
  logstate_log_entry *e = NULL;
  size_t n = 0;
  if (rc == EXIT_OK && (rc = cli_open_ro(a.url, &ls)) == EXIT_OK) {
    logstate_status st = logstate_config_list(ls, o.all, &e, &n);
    logstate_free(ls);
    rc = st == LOGSTATE_OK ? EXIT_OK : cli_fail(st, "config list");
  }
  cli_args_free(&a);
  for (size_t i = 0; rc == EXIT_OK && i < n; i++) {
    if (!o.json)
      printf("%s\t%s\t%s\n", e[i].origin, e[i].vkey, e[i].disabled ? "disabled" : "enabled");
    else if (cli_put_json_line(stdout, cli_config_json(&e[i], 1)) != 0 && !ferror(stdout))
      rc = (fprintf(stderr, "%s: config list: out of memory\n", cli_prog), EXIT_ERROR);
  }
  logstate_log_entries_free(e, n);
  return rc == EXIT_OK ? cli_finish_output(stdout, "standard output") : rc;
}

/* --- disable, enable, history ----------------------------------------------- */

static int set_disabled(const char *url, int argc, char **argv, int disabled) {
  cfg_opts o = {.allowed = "r", .cmd = disabled ? "config disable" : "config enable"};
  cli_args a = {url, NULL, 0};
  int rc = parse(argc, argv, &o, &a, 1, 1), changed = 0;
  logstate *ls = NULL;
  if (rc == EXIT_OK && (rc = cli_open_existing(a.url, &ls)) == EXIT_OK) {
    logstate_status st = logstate_config_set_disabled(ls, a.pos[0], disabled, o.reason, &changed);
    logstate_free(ls);
    rc = st == LOGSTATE_OK ? EXIT_OK : cli_fail(st, o.cmd);
  }
  if (rc == EXIT_OK)
    printf(changed ? "%s %s\n" : "%s %s already\n", disabled ? "disabled" : "enabled", a.pos[0]);
  cli_args_free(&a);
  return rc == EXIT_OK ? cli_finish_output(stdout, "standard output") : rc;
}

static json_t *event_json(const logstate_config_event *ev) {
  char when[48];
  json_t *o = json_object();
  json_t *origin = cli_json_text(ev->origin, strlen(ev->origin));
  int bad = o == NULL || origin == NULL || json_object_set_new(o, "origin", origin) != 0;
  bad = bad || json_object_set_new(o, "log_id", json_string(ev->log_id)) != 0 ||
        json_object_set_new(o, "disabled", json_boolean(ev->disabled)) != 0 ||
        json_object_set_new(o, "at_ms", json_integer(ev->at_ms)) != 0 ||
        json_object_set_new(o, "at", json_string(cli_format_time(ev->at_ms, when, sizeof(when)))) != 0;
  if (!bad && ev->by)
    bad = json_object_set_new(o, "by", json_string(ev->by)) != 0;
  json_t *why = ev->reason ? cli_json_text(ev->reason, strlen(ev->reason)) : NULL;
  if (!bad && why)
    bad = json_object_set_new(o, "reason", why) != 0;
  if (bad) {
    json_decref(o);
    return NULL;
  }
  return o;
}

static int history(const char *url, int argc, char **argv) {
  cfg_opts o = {.allowed = "nj", .cmd = "config history", .limit = "20"};
  cli_args a = {url, NULL, 0};
  int rc = parse(argc, argv, &o, &a, 0, 1);
  char *end = NULL, when[48];
  unsigned long max = rc == EXIT_OK ? strtoul(o.limit, &end, 10) : 0;
  if (rc == EXIT_OK && (*end || max < 1 || max > LOGSTATE_MAX_CONFIG_HISTORY))
    rc = cli_usage_error("config history: --limit must be 1 to %d", LOGSTATE_MAX_CONFIG_HISTORY);
  logstate *ls = NULL;
  logstate_config_event *ev = NULL;
  size_t n = 0;
  if (rc == EXIT_OK && (rc = cli_open_ro(a.url, &ls)) == EXIT_OK) {
    logstate_status st = logstate_config_history(ls, a.npos ? a.pos[0] : NULL, max, &ev, &n);
    logstate_free(ls);
    rc = st == LOGSTATE_OK ? EXIT_OK : cli_fail(st, "config history");
  }
  cli_args_free(&a);
  for (size_t i = 0; rc == EXIT_OK && i < n; i++) {
    if (o.json) {
      if (cli_put_json_line(stdout, event_json(&ev[i])) != 0 && !ferror(stdout))
        rc = (fprintf(stderr, "%s: config history: out of memory\n", cli_prog), EXIT_ERROR);
    } else {
      printf("%s\t%s\t%s\t%s\t%s\n", cli_format_time(ev[i].at_ms, when, sizeof(when)),
             ev[i].disabled ? "disabled" : "enabled", ev[i].origin, ev[i].by ? ev[i].by : "-",
             ev[i].reason ? ev[i].reason : "-");
    }
  }
  logstate_config_events_free(ev, n);
  return rc == EXIT_OK ? cli_finish_output(stdout, "standard output") : rc;
}

/* --- the dispatcher ----------------------------------------------------------- */

int cli_config(const char *url, int argc, char **argv) {
  const char *sub = argc > 1 ? argv[1] : NULL;
  if (sub == NULL)
    return cli_usage_error("config: missing SUBCOMMAND (add, get, list, disable, enable, import, export, history)");
  argc--, argv++;
  if (strcmp(sub, "add") == 0)
    return add(url, argc, argv);
  if (strcmp(sub, "get") == 0)
    return get(url, argc, argv);
  if (strcmp(sub, "list") == 0)
    return list(url, argc, argv);
  if (strcmp(sub, "disable") == 0 || strcmp(sub, "enable") == 0)
    return set_disabled(url, argc, argv, sub[0] == 'd');
  if (strcmp(sub, "history") == 0)
    return history(url, argc, argv);
  if (strcmp(sub, "import") == 0)
    return cli_config_import(url, argc, argv);
  if (strcmp(sub, "export") == 0)
    return cli_config_export(url, argc, argv);
  return cli_usage_error("config: unknown SUBCOMMAND %s", sub);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The tool's command lines: options anywhere among the arguments (`--`
 * ends them, for a LOG that starts with '-'), --url on every command, an
 * unknown option named as it was written; and the URLs themselves (a
 * password on the command line is hidden from ps; a query key the command
 * needs is added unless the URL sets it). */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define URL_OPT 0x100 /* --url: beyond every short option */

/* The option getopt refused, as written: "-o" or "--frob". */
static void name_option(int argc, char **argv, char *buf, size_t n) {
  const char *el = optind > 0 && optind <= argc ? argv[optind - 1] : "";
  if (strncmp(el, "--", 2) == 0)
    snprintf(buf, n, "%.*s", (int)strcspn(el, "="), el);
  else
    snprintf(buf, n, "-%c", optopt > 32 && optopt < 127 ? optopt : '?');
}

/* The command's long options and --url. */
static struct option *with_url(const struct option *longopts) {
  size_t n = 0;
  while (longopts && longopts[n].name)
    n++;
  struct option *all = calloc(n + 2, sizeof(*all));
  if (all == NULL)
    return NULL;
  if (n)
    memcpy(all, longopts, n * sizeof(*all));
  all[n] = (struct option){"url", required_argument, NULL, URL_OPT};
  return all;
}

int cli_parse(int argc, char **argv, const char *shortopts, const struct option *longopts,
              int (*on_opt)(int c, void *arg), void *arg, cli_args *a) {
  char opts[64], name[128];
  struct option *all = with_url(longopts);
  a->pos = calloc((size_t)argc + 1, sizeof(*a->pos));
  a->npos = 0;
  if (all == NULL || a->pos == NULL) {
    free(all);
    fprintf(stderr, "%s: out of memory\n", cli_prog);
    return EXIT_ERROR;
  }
  /* '-': every argument in order, whatever POSIXLY_CORRECT says; ':': a
   * missing value is told apart from an unknown option. */
  snprintf(opts, sizeof(opts), "-:%s", shortopts);
  opterr = 0;
  optind = 0; /* glibc: start afresh, as for a new argv */
  int c, rc = EXIT_OK;
  while (rc == EXIT_OK && (c = getopt_long(argc, argv, opts, all, NULL)) != -1) {
    if (c == 1)
      a->pos[a->npos++] = optarg;
    else if (c == URL_OPT)
      a->url = cli_keep_url(optarg);
    else if (c == '?' || c == ':') {
      name_option(argc, argv, name, sizeof(name));
      rc = cli_usage_error("%s: %s %s", argv[0], c == ':' ? "option needs a value:" : "unknown option", name);
    } else if (on_opt(c, arg) != EXIT_OK)
      rc = EXIT_USAGE;
  }
  while (rc == EXIT_OK && optind < argc) /* after "--" */
    a->pos[a->npos++] = argv[optind++];
  free(all);
  return rc;
}

void cli_args_free(cli_args *a) {
  free(a->pos);
  a->pos = NULL;
  a->npos = 0;
}

int cli_no_opts(int c, void *arg) {
  (void)c, (void)arg;
  return EXIT_OK;
}

int cli_positional(const char *cmd, int n, int min, int max) {
  if (n < min)
    return cli_usage_error("%s: missing %s", cmd, min == 1 && max == 1 ? "LOG" : "arguments");
  if (n > max)
    return max == 0 ? cli_usage_error("%s takes no arguments", cmd) : cli_usage_error("%s: too many arguments", cmd);
  return EXIT_OK;
}

/* --- URLs ------------------------------------------------------------------ */

/* Overwrites with '*' the n bytes at s. */
static void mask(char *s, size_t n) { memset(s, '*', n); }

static char *kept[4]; /* the URLs cli_keep_url copied, freed at exit */
static int nkept;

static void forget_urls(void) {
  while (nkept > 0)
    free(kept[--nkept]);
}

const char *cli_keep_url(char *arg) {
  char *copy = nkept < 4 ? strdup(arg) : NULL;
  if (copy == NULL)
    return arg; /* out of memory: the password stays visible, the command works */
  if (nkept == 0)
    atexit(forget_urls);
  kept[nkept++] = copy;
  char *auth = strstr(arg, "://"), *at = NULL;
  if (auth) {
    auth += 3;
    for (char *p = auth; *p && *p != '/' && *p != '?'; p++)
      if (*p == '@')
        at = p;
    char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon)
      mask(colon + 1, (size_t)(at - colon - 1));
  }
  for (char *p = strstr(arg, "password="); p; p = strstr(p + 1, "password="))
    mask(p + 9, strcspn(p + 9, "&"));
  return copy;
}

/* Whether the URL's query (after its first '?') has `key`. */
static int has_key(const char *url, const char *key) {
  const char *q = strchr(url, '?');
  size_t n = strlen(key);
  for (const char *p = q ? q + 1 : NULL; p && *p; p += strcspn(p, "&"), p += *p == '&') {
    if (strncmp(p, key, n) == 0 && p[n] == '=')
      return 1;
  }
  return 0;
}

char *cli_url_with(const char *url, const char *key, const char *value) {
  size_t n = strlen(url) + strlen(key) + strlen(value) + 3;
  char *u = malloc(n);
  if (u == NULL)
    return NULL;
  if (has_key(url, key))
    snprintf(u, n, "%s", url);
  else
    snprintf(u, n, "%s%c%s=%s", url, strchr(url, '?') ? '&' : '?', key, value);
  return u;
}

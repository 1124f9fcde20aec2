/* logstate: the command-line tool.
 *
 *   logstate [--url URL] COMMAND [ARGS]
 *
 * The URL comes from --url, else $LOGSTATE_URL, else sqlite:logstate.db.
 * Exit codes (stable): 0 ok, 1 any other error, 2 usage or invalid input,
 * 3 not found, 4 conflict, 5 unavailable. Errors are one line on stderr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logstate/logstate.h"
#include "logstate/sys/backend.h"

enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = 2, EXIT_NOT_FOUND = 3, EXIT_CONFLICT = 4, EXIT_UNAVAILABLE = 5 };

#define DEFAULT_URL "sqlite:logstate.db"

static const char *prog = "logstate";

static const char usage_main[] =
    "usage: logstate [--url URL] COMMAND [ARGS]\n"
    "\n"
    "Stores and reads the latest checkpoint per log of a transparency-log witness.\n"
    "\n"
    "commands:\n"
    "  logs                         list the logs, one ID per line\n"
    "  get LOG                      write LOG's checkpoint to stdout, byte for byte\n"
    "  set LOG [FILE|-]             store a checkpoint (from FILE or stdin)\n"
    "  export [FILE|-]              every log and checkpoint, as JSON Lines\n"
    "  import [FILE|-]              store what export wrote\n"
    "  copy --to URL                copy every log to another store, and verify\n"
    "  check                        connectivity, schema, durability, number of logs\n"
    "  help [COMMAND]               this text, or a command's\n"
    "\n"
    "The URL is --url, else $LOGSTATE_URL, else " DEFAULT_URL ".\n"
    "URLs: memory:, sqlite:PATH, redis://[user[:password]@]host[:port][/db][?...],\n"
    "redis+unix:///path.sock (the Redis password may come from $LOGSTATE_REDIS_PASSWORD).\n"
    "\n"
    "exit codes: 0 ok, 1 other error, 2 usage or invalid input, 3 not found,\n"
    "4 conflict, 5 unavailable.\n";

static const struct {
  const char *name, *help;
} command_help[] = {
    {"logs", "usage: logstate logs\n\nLists the IDs of the logs that have a checkpoint, sorted, one per line.\n"},
    {"get", "usage: logstate get LOG\n\nWrites LOG's latest checkpoint to stdout exactly (no newline added).\n"
            "Exit 3 when LOG has none.\n"},
    {"set", "usage: logstate set LOG [FILE|-] [--expect-absent | --expect FILE]\n\n"
            "Stores the checkpoint read from FILE (or stdin) as LOG's latest, in one write\n"
            "transaction. --expect-absent stores only if LOG has no checkpoint;\n"
            "--expect FILE only if the stored checkpoint is exactly FILE's bytes.\n"
            "Exit 4 when the expectation fails or another writer won the race.\n"},
    {"export", "usage: logstate export [FILE|-]\n\n"
               "Writes every log as one JSON object per line:\n"
               "  {\"log\": \"ID\", \"log_b64\": \"...\", \"checkpoint_b64\": \"...\"}\n"
               "log_b64 and checkpoint_b64 are base64 of the exact bytes (lossless); \"log\" is\n"
               "for people and appears when the ID is valid UTF-8.\n"},
    {"import", "usage: logstate import [FILE|-] [--force]\n\n"
               "Stores every line export wrote. A log that already holds a different\n"
               "checkpoint is refused (exit 4) unless --force; an equal one is left alone.\n"},
    {"copy", "usage: logstate copy --to URL [--force]\n\n"
             "Copies every log of the current store (--url) to URL, then reads each back\n"
             "from URL to verify it. A log that holds a different checkpoint at URL is\n"
             "refused (exit 4) unless --force. For example, from a Go witness database:\n"
             "  logstate --url sqlite:witness.db copy --to redis://127.0.0.1:6379/\n"},
    {"check", "usage: logstate check\n\n"
              "Connects, initializes (creating tables or the schema key if missing, and\n"
              "checking the durability settings), and counts the logs. Run it first.\n"},
    {"help", "usage: logstate help [COMMAND]\n"},
};

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "%s: ", prog);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see 'logstate --help')\n");
  return EXIT_USAGE;
}

static int exit_for(logstate_status st) {
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
  default:
    return EXIT_ERROR;
  }
}

/* Reports a library failure as one line and returns its exit code. */
static int fail(logstate_status st, const char *what) {
  fprintf(stderr, "%s: %s: %s: %s\n", prog, what, logstate_status_name(st), logstate_last_error());
  return exit_for(st);
}

/* --- files ------------------------------------------------------------- */

/* Reads all of FILE ("-": stdin), up to max + 1 bytes so that an oversized
 * input is seen as such. */
static int read_all(const char *path, size_t max, uint8_t **out, size_t *out_len) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "%s: cannot read %s: %s\n", prog, path, strerror(errno));
    return EXIT_ERROR;
  }
  size_t cap = 4096, n = 0;
  uint8_t *buf = malloc(cap);
  while (buf) {
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (n > max || got == 0)
      break;
    if (n == cap) {
      uint8_t *grown = realloc(buf, cap * 2);
      if (grown == NULL) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = grown;
      cap *= 2;
    }
  }
  int err = ferror(f);
  if (f != stdin)
    fclose(f);
  if (buf == NULL || err) {
    free(buf);
    fprintf(stderr, "%s: cannot read %s\n", prog, path);
    return EXIT_ERROR;
  }
  *out = buf;
  *out_len = n;
  return EXIT_OK;
}

/* --- base64 and JSON --------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void put_b64(FILE *f, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
    fputc(b64[v >> 18 & 63], f);
    fputc(b64[v >> 12 & 63], f);
    fputc(i + 1 < n ? b64[v >> 6 & 63] : '=', f);
    fputc(i + 2 < n ? b64[v & 63] : '=', f);
  }
}

/* Decodes standard padded base64; -1 on anything else. */
static long decode_b64(const char *s, size_t n, uint8_t *out) {
  if (n % 4)
    return -1;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (int j = 0; j < 4; j++) {
      const char *c = s[i + (size_t)j] == '=' ? NULL : strchr(b64, s[i + (size_t)j]);
      if (s[i + (size_t)j] == '=') {
        if (i + 4 != n || j < 2)
          return -1;
        pad++;
      } else if (c == NULL || s[i + (size_t)j] == '\0' || pad) {
        return -1;
      }
      v = v << 6 | (c ? (uint32_t)(c - b64) : 0);
    }
    out[o++] = (uint8_t)(v >> 16);
    if (pad < 2)
      out[o++] = (uint8_t)(v >> 8);
    if (pad < 1)
      out[o++] = (uint8_t)v;
  }
  return (long)o;
}

static int valid_utf8(const unsigned char *s) {
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

static void put_json_string(FILE *f, const char *s) {
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

/* Finds "key": "value" in a line export wrote (values are base64 or plain
 * strings); returns the value's start and length, or NULL. */
static const char *json_field(const char *line, const char *key, size_t *len) {
  char pat[64];
  snprintf(pat, sizeof(pat), "\"%s\"", key);
  const char *p = strstr(line, pat);
  if (p == NULL)
    return NULL;
  p += strlen(pat);
  while (*p == ' ')
    p++;
  if (*p++ != ':')
    return NULL;
  while (*p == ' ')
    p++;
  if (*p++ != '"')
    return NULL;
  const char *end = strchr(p, '"');
  if (end == NULL)
    return NULL;
  *len = (size_t)(end - p);
  return p;
}

/* --- commands ---------------------------------------------------------- */

static logstate_status read_latest(logstate *ls, const char *id, uint8_t **cp, size_t *len) {
  logstate_read *r = NULL;
  logstate_status st = logstate_read_ops(ls, id, &r);
  if (st == LOGSTATE_OK)
    st = logstate_read_get_latest(r, cp, len);
  logstate_read_free(r);
  return st;
}

static int cmd_logs(logstate *ls) {
  char **ids = NULL;
  size_t n = 0;
  logstate_status st = logstate_logs(ls, &ids, &n);
  if (st != LOGSTATE_OK)
    return fail(st, "logs");
  for (size_t i = 0; i < n; i++)
    printf("%s\n", ids[i]);
  logstate_logs_free(ids, n);
  return EXIT_OK;
}

static int cmd_get(logstate *ls, const char *id) {
  uint8_t *cp = NULL;
  size_t len = 0;
  logstate_status st = read_latest(ls, id, &cp, &len);
  if (st != LOGSTATE_OK)
    return fail(st, "get");
  int ok = fwrite(cp, 1, len, stdout) == len && fflush(stdout) == 0;
  free(cp);
  return ok ? EXIT_OK : EXIT_ERROR;
}

typedef enum { EXPECT_NOTHING, EXPECT_ABSENT, EXPECT_BYTES } expectation;

/* One write transaction: check the expectation, then set. */
static logstate_status store(logstate *ls, const char *id, const uint8_t *cp, size_t len, expectation e,
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
        (e == EXPECT_BYTES && (!present || cur_len != want_len || memcmp(cur, want, cur_len) != 0))) {
      st = logstate_error_set(LOGSTATE_ABORTED, "the stored checkpoint is not what was expected");
    }
  }
  if (st == LOGSTATE_OK)
    st = logstate_write_set(w, cp, len);
  free(cur);
  logstate_write_close(w);
  return st;
}

static int cmd_set(logstate *ls, int argc, char **argv) {
  const char *id = NULL, *file = "-", *expect_file = NULL;
  expectation e = EXPECT_NOTHING;
  int positional = 0;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--expect-absent") == 0) {
      e = EXPECT_ABSENT;
    } else if (strcmp(argv[i], "--expect") == 0) {
      if (++i == argc)
        return usage_error("set: --expect needs a FILE%s", "");
      e = EXPECT_BYTES;
      expect_file = argv[i];
    } else if (argv[i][0] == '-' && argv[i][1] == '-') {
      return usage_error("set: unknown option %s", argv[i]);
    } else if (positional == 0) {
      id = argv[i];
      positional++;
    } else if (positional == 1) {
      file = argv[i];
      positional++;
    } else {
      return usage_error("set: unexpected argument %s", argv[i]);
    }
  }
  if (id == NULL)
    return usage_error("set: missing LOG%s", "");
  uint8_t *cp = NULL, *want = NULL;
  size_t len = 0, want_len = 0;
  int rc = read_all(file, 64 * 1024 * 1024, &cp, &len);
  if (rc == EXIT_OK && expect_file)
    rc = read_all(expect_file, 64 * 1024 * 1024, &want, &want_len);
  if (rc == EXIT_OK) {
    logstate_status st = store(ls, id, cp, len, e, want, want_len);
    rc = st == LOGSTATE_OK ? EXIT_OK : fail(st, "set");
  }
  free(cp);
  free(want);
  return rc;
}

static int cmd_export(logstate *ls, const char *file) {
  FILE *f = strcmp(file, "-") == 0 ? stdout : fopen(file, "wb");
  if (f == NULL) {
    fprintf(stderr, "%s: cannot write %s: %s\n", prog, file, strerror(errno));
    return EXIT_ERROR;
  }
  char **ids = NULL;
  size_t n = 0;
  int rc = EXIT_OK;
  logstate_status st = logstate_logs(ls, &ids, &n);
  if (st != LOGSTATE_OK)
    rc = fail(st, "export");
  for (size_t i = 0; i < n && rc == EXIT_OK; i++) {
    uint8_t *cp = NULL;
    size_t len = 0;
    st = read_latest(ls, ids[i], &cp, &len);
    if (st == LOGSTATE_NOT_FOUND)
      continue; /* removed since listed */
    if (st != LOGSTATE_OK) {
      rc = fail(st, "export");
      break;
    }
    fputc('{', f);
    if (valid_utf8((const unsigned char *)ids[i])) {
      fputs("\"log\": ", f);
      put_json_string(f, ids[i]);
      fputs(", ", f);
    }
    fputs("\"log_b64\": \"", f);
    put_b64(f, (const uint8_t *)ids[i], strlen(ids[i]));
    fputs("\", \"checkpoint_b64\": \"", f);
    put_b64(f, cp, len);
    fputs("\"}\n", f);
    free(cp);
  }
  logstate_logs_free(ids, n);
  if ((f == stdout ? fflush(f) : fclose(f)) != 0 && rc == EXIT_OK) {
    fprintf(stderr, "%s: cannot write %s\n", prog, file);
    rc = EXIT_ERROR;
  }
  return rc;
}

static int cmd_import(logstate *ls, int argc, char **argv) {
  const char *file = "-";
  int force = 0, positional = 0;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--force") == 0)
      force = 1;
    else if (argv[i][0] == '-' && argv[i][1] == '-')
      return usage_error("import: unknown option %s", argv[i]);
    else if (positional++ == 0)
      file = argv[i];
    else
      return usage_error("import: unexpected argument %s", argv[i]);
  }
  uint8_t *data = NULL;
  size_t len = 0;
  int rc = read_all(file, (size_t)1 << 34, &data, &len);
  if (rc != EXIT_OK)
    return rc;
  data = realloc(data, len + 1);
  data[len] = '\0';
  size_t stored = 0, unchanged = 0, refused = 0, lineno = 0;
  char *save = NULL;
  for (char *line = strtok_r((char *)data, "\n", &save); line && rc == EXIT_OK; line = strtok_r(NULL, "\n", &save)) {
    lineno++;
    size_t idl, cpl;
    const char *id64 = json_field(line, "log_b64", &idl), *cp64 = json_field(line, "checkpoint_b64", &cpl);
    char *id = id64 ? malloc(idl / 4 * 3 + 1) : NULL;
    uint8_t *cp = cp64 ? malloc(cpl / 4 * 3 + 1) : NULL;
    long idn = id ? decode_b64(id64, idl, (uint8_t *)id) : -1;
    long cpn = cp ? decode_b64(cp64, cpl, cp) : -1;
    if (idn <= 0 || cpn <= 0 || memchr(id, 0, (size_t)idn)) {
      fprintf(stderr, "%s: import: %s line %zu is not a line export wrote\n", prog, file, lineno);
      rc = EXIT_USAGE;
    } else {
      id[idn] = '\0';
      uint8_t *cur = NULL;
      size_t cur_len = 0;
      logstate_status st = read_latest(ls, id, &cur, &cur_len);
      if (st == LOGSTATE_OK && cur_len == (size_t)cpn && memcmp(cur, cp, cur_len) == 0) {
        unchanged++;
      } else if (st == LOGSTATE_OK && !force) {
        fprintf(stderr, "%s: import: log %s holds a different checkpoint; not overwritten (use --force)\n", prog, id);
        refused++;
      } else if (st == LOGSTATE_OK || st == LOGSTATE_NOT_FOUND) {
        /* Expect what was just read, so a racing writer is not overwritten. */
        st = store(ls, id, cp, (size_t)cpn, st == LOGSTATE_OK ? EXPECT_BYTES : EXPECT_ABSENT, cur, cur_len);
        if (st == LOGSTATE_OK)
          stored++;
        else
          rc = fail(st, "import");
      } else {
        rc = fail(st, "import");
      }
      free(cur);
    }
    free(id);
    free(cp);
  }
  free(data);
  fprintf(stderr, "%s: import: %zu stored, %zu unchanged, %zu refused\n", prog, stored, unchanged, refused);
  return rc == EXIT_OK && refused ? EXIT_CONFLICT : rc;
}

static int cmd_copy(logstate *src, int argc, char **argv) {
  const char *to = NULL;
  int force = 0;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
      to = argv[++i];
    else if (strncmp(argv[i], "--to=", 5) == 0)
      to = argv[i] + 5;
    else if (strcmp(argv[i], "--force") == 0)
      force = 1;
    else
      return usage_error("copy: unexpected argument %s", argv[i]);
  }
  if (to == NULL)
    return usage_error("copy: missing --to URL%s", "");
  logstate *dst = NULL;
  logstate_status st = logstate_open(&dst, to);
  if (st != LOGSTATE_OK)
    return fail(st, "copy: opening --to");
  if ((st = logstate_init(dst)) != LOGSTATE_OK) {
    logstate_free(dst);
    return fail(st, "copy: initializing --to");
  }
  char **ids = NULL;
  size_t n = 0, copied = 0, unchanged = 0, refused = 0;
  int rc = EXIT_OK;
  if ((st = logstate_logs(src, &ids, &n)) != LOGSTATE_OK)
    rc = fail(st, "copy: listing logs");
  for (size_t i = 0; i < n && rc == EXIT_OK; i++) {
    uint8_t *cp = NULL, *cur = NULL, *back = NULL;
    size_t len = 0, cur_len = 0, back_len = 0;
    if ((st = read_latest(src, ids[i], &cp, &len)) != LOGSTATE_OK) {
      rc = fail(st, "copy: reading");
    } else if ((st = read_latest(dst, ids[i], &cur, &cur_len)) == LOGSTATE_OK && cur_len == len &&
               memcmp(cur, cp, len) == 0) {
      unchanged++;
    } else if (st == LOGSTATE_OK && !force) {
      fprintf(stderr, "%s: copy: log %s holds a different checkpoint at the destination (use --force)\n", prog, ids[i]);
      refused++;
    } else if (st != LOGSTATE_OK && st != LOGSTATE_NOT_FOUND) {
      rc = fail(st, "copy: reading the destination");
    } else {
      st = store(dst, ids[i], cp, len, st == LOGSTATE_OK ? EXPECT_BYTES : EXPECT_ABSENT, cur, cur_len);
      if (st != LOGSTATE_OK) {
        rc = fail(st, "copy: writing");
      } else if ((st = read_latest(dst, ids[i], &back, &back_len)) != LOGSTATE_OK) {
        rc = fail(st, "copy: verifying");
      } else if (back_len != len || memcmp(back, cp, len) != 0) {
        fprintf(stderr, "%s: copy: log %s reads back different from what was written\n", prog, ids[i]);
        rc = EXIT_ERROR;
      } else {
        copied++;
      }
    }
    free(cp);
    free(cur);
    free(back);
  }
  logstate_logs_free(ids, n);
  logstate_free(dst);
  printf("copied %zu, unchanged %zu, refused %zu (every copied log read back and verified)\n", copied, unchanged,
         refused);
  return rc == EXIT_OK && refused ? EXIT_CONFLICT : rc;
}

static int cmd_check(logstate *ls) {
  const char *backend = logstate_get_backend(ls)->methods->name;
  logstate_status st = logstate_init(ls);
  if (st != LOGSTATE_OK)
    return fail(st, "check");
  char **ids = NULL;
  size_t n = 0;
  if ((st = logstate_logs(ls, &ids, &n)) != LOGSTATE_OK)
    return fail(st, "check");
  logstate_logs_free(ids, n);
  printf("ok: %s backend reachable, schema and durability settings accepted, %zu log%s\n", backend, n,
         n == 1 ? "" : "s");
  return EXIT_OK;
}

static int help(const char *command) {
  if (command == NULL) {
    fputs(usage_main, stdout);
    return EXIT_OK;
  }
  for (size_t i = 0; i < sizeof(command_help) / sizeof(command_help[0]); i++) {
    if (strcmp(command, command_help[i].name) == 0) {
      fputs(command_help[i].help, stdout);
      return EXIT_OK;
    }
  }
  return usage_error("unknown command %s", command);
}

int main(int argc, char **argv) {
  const char *url = NULL;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
      return help(NULL);
    if (strcmp(argv[i], "--url") == 0) {
      if (++i == argc)
        return usage_error("--url needs a URL%s", "");
      url = argv[i];
    } else if (strncmp(argv[i], "--url=", 6) == 0) {
      url = argv[i] + 6;
    } else {
      return usage_error("unknown option %s", argv[i]);
    }
  }
  if (i == argc) {
    fputs(usage_main, stderr);
    return EXIT_USAGE;
  }
  const char *command = argv[i++];
  int nargs = argc - i;
  char **args = argv + i;
  if (strcmp(command, "help") == 0)
    return help(nargs ? args[0] : NULL);
  for (int j = 0; j < nargs; j++)
    if (strcmp(args[j], "--help") == 0 || strcmp(args[j], "-h") == 0)
      return help(command);
  int known = 0;
  for (size_t j = 0; j < sizeof(command_help) / sizeof(command_help[0]); j++)
    known |= strcmp(command, command_help[j].name) == 0;
  if (!known)
    return usage_error("unknown command %s", command);
  if ((strcmp(command, "logs") == 0 || strcmp(command, "check") == 0) && nargs != 0)
    return usage_error("%s takes no arguments", command);
  if (strcmp(command, "get") == 0 && nargs != 1)
    return usage_error("get needs exactly one LOG%s", "");
  if (strcmp(command, "export") == 0 && nargs > 1)
    return usage_error("export takes at most one FILE%s", "");

  if (url == NULL)
    url = getenv("LOGSTATE_URL");
  if (url == NULL || url[0] == '\0')
    url = DEFAULT_URL;
  logstate *ls = NULL;
  logstate_status st = logstate_open(&ls, url);
  if (st != LOGSTATE_OK)
    return fail(st, "opening the store");
  int rc;
  if (strcmp(command, "check") == 0) {
    rc = cmd_check(ls);
  } else if ((st = logstate_init(ls)) != LOGSTATE_OK) {
    rc = fail(st, "initializing the store");
  } else if (strcmp(command, "logs") == 0) {
    rc = cmd_logs(ls);
  } else if (strcmp(command, "get") == 0) {
    rc = cmd_get(ls, args[0]);
  } else if (strcmp(command, "set") == 0) {
    rc = cmd_set(ls, nargs, args);
  } else if (strcmp(command, "export") == 0) {
    rc = cmd_export(ls, nargs ? args[0] : "-");
  } else if (strcmp(command, "import") == 0) {
    rc = cmd_import(ls, nargs, args);
  } else {
    rc = cmd_copy(ls, nargs, args);
  }
  logstate_free(ls);
  return rc;
}

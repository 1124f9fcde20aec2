/* SPDX-License-Identifier: Apache-2.0 */
/* logstate: the command-line tool.
 *
 *   logstate [--url URL] COMMAND [OPTIONS] [ARGS]
 *
 * The URL comes from --url, else $LOGSTATE_URL, else sqlite:logstate.db.
 * Exit codes (stable): 0 ok, 1 any other error, 2 usage or invalid input,
 * 3 not found, 4 conflict, 5 unavailable or busy (try again), 6 no store.
 * Errors are one line on stderr. Options may come anywhere among a
 * command's arguments; `--` ends them. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define DEFAULT_URL "sqlite:logstate.db"

static const char usage_main[] =
    "usage: logstate [--url URL] COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "Stores and reads the latest checkpoint per log of a transparency-log witness.\n"
    "\n"
    "commands:\n"
    "  logs [-0]                    list the logs, one ID per line (-0: NUL after each)\n"
    "  get LOG                      write LOG's checkpoint to stdout, byte for byte\n"
    "  set LOG [FILE|-]             store a checkpoint (from FILE or stdin)\n"
    "  export [FILE|-]              every log and checkpoint, as JSON Lines\n"
    "  import [FILE|-]              store what export wrote\n"
    "  copy --to URL                copy every log to another store, and verify\n"
    "  init                         create the store if missing; print its store_id\n"
    "  check                        connectivity, schema, durability, number of logs\n"
    "  history LOG [--limit N] [--json]  what was stored for LOG, and when (history=K)\n"
    "  export-monitoring DIR        DIR/<sha256 of origin>/checkpoint for each log\n"
    "  repair                       mend logs an earlier logstate stored under BLOB IDs\n"
    "  id ORIGIN                    the log ID of ORIGIN: hex SHA-256 of \"o:\" ORIGIN\n"
    "  config SUBCOMMAND            the logs a witness serves: add, get, list, disable,\n"
    "                               enable, import, export, history (help config)\n"
    "  help [COMMAND]               this text, or a command's\n"
    "\n"
    "options: --url URL, --help, --version. A command's options may come anywhere\n"
    "among its arguments (--url too); '--' ends them (for a LOG that starts with '-').\n"
    "The URL is --url, else $LOGSTATE_URL, else " DEFAULT_URL ".\n"
    "URLs: memory:[NAME][?history=K], "
    "sqlite:PATH[?busy_timeout_ms=N&store_id=ID&create=no|on_write&mode=ro&history=K], "
    "redis://[user[:password]@]host[:port][/db][?...],\n"
    "redis+unix:///path.sock, redis+sentinel://host1:port,host2:port/MASTERNAME[/db][?...],\n"
    "redis+cluster://host1:port,host2:port[/][?...]\n"
    "(the Redis password may come from $LOGSTATE_REDIS_PASSWORD).\n"
    "\n"
    "exit codes: 0 ok, 1 other error (no space, permission, damage), 2 usage or\n"
    "invalid input, 3 not found, 4 conflict, 5 unavailable or busy (try again),\n"
    "6 no store. logs, get, export, check, history, export-monitoring and copy's\n"
    "source open the store read-only: they never create or change it; init creates\n"
    "it; set, import and copy's target create a missing SQLite file with their\n"
    "first write (create=on_write: a command that fails leaves no file), other\n"
    "stores at opening, unless the URL says create=no; repair never creates one.\n";

typedef struct command {
  const char *name;
  int (*run)(const char *url, int argc, char **argv);
  const char *help;
} command;

static const command commands[] = {
    {"logs", cli_logs,
     "usage: logstate logs [-0|--null]\n\nLists the IDs of the logs that have a checkpoint, sorted, one per line;\n"
     "with -0, each followed by a NUL instead (IDs may contain newlines).\n"},
    {"get", cli_get,
     "usage: logstate get [--] LOG\n\nWrites LOG's latest checkpoint to stdout exactly (no newline added).\n"
     "Exit 3 when LOG has none.\n"},
    {"set", cli_set,
     "usage: logstate set LOG [FILE|-] [--expect-absent | --expect FILE]\n\n"
     "Stores the checkpoint read from FILE (or stdin) as LOG's latest, in one write\n"
     "transaction. --expect-absent stores only if LOG has no checkpoint;\n"
     "--expect FILE only if the stored checkpoint is exactly FILE's bytes.\n"
     "Exit 4 when the expectation fails, another writer won the race, or the\n"
     "store's guard refused the checkpoint. A missing SQLite file is created by\n"
     "the set itself: if the command fails, no file is left.\n"},
    {"export", cli_export,
     "usage: logstate export [FILE|-]\n\n"
     "Writes every log as one JSON object per line:\n"
     "  {\"log\": \"ID\", \"log_b64\": \"...\", \"checkpoint_b64\": \"...\"}\n"
     "log_b64 and checkpoint_b64 are base64 of the exact bytes (lossless); \"log\" is\n"
     "for people and appears when the ID is valid UTF-8. FILE is written whole or\n"
     "not at all.\n"},
    {"import", cli_import,
     "usage: logstate import [FILE|-] [--force]\n\n"
     "Stores every line export wrote. The whole input is checked first: one bad\n"
     "line (named with its field) and nothing is imported (exit 2). A log that\n"
     "already holds a different checkpoint is refused (exit 4) unless --force; an\n"
     "equal one is left alone. Progress goes to stderr when it is a terminal.\n"},
    {"copy", cli_copy,
     "usage: logstate copy --to URL [--force]\n\n"
     "Copies every log of the current store (--url) to URL, then reads each back\n"
     "from URL to verify it. A log that holds a different checkpoint at URL is\n"
     "refused (exit 4) unless --force. Progress goes to stderr when it is a\n"
     "terminal. For example, from a Go witness database:\n"
     "  logstate --url sqlite:witness.db copy --to redis://127.0.0.1:6379/\n"},
    {"check", cli_check,
     "usage: logstate check\n\n"
     "Opens the store read-only, checks the schema and the durability settings\n"
     "where the backend has any, walks the index and the logs for damage (exit 1,\n"
     "each problem named), prints store_id and counts the logs; on SQLite, says\n"
     "which journal mode the file is in and whose choice it is. A store that does\n"
     "not exist gives exit 6; `logstate init` creates one.\n"},
    {"init", cli_init,
     "usage: logstate init\n\n"
     "Creates the store if it does not exist (tables or the namespace's meta key),\n"
     "after every check passed (a server whose durability settings are refused is\n"
     "left untouched), and prints `store_id: ID`: pin it with store_id=ID in the\n"
     "witness's URL so that a reset or another store is refused; on SQLite, says\n"
     "which journal mode the file is in and whose choice it is (logstate leaves a\n"
     "file it did not create in its owner's mode). It says ok only when a set\n"
     "would work. Idempotent.\n"},
    {"history", cli_history,
     "usage: logstate history [--limit N] [--json] [--] LOG\n\n"
     "What the store kept of LOG's sets (writers opened with history=K keep the K\n"
     "newest), newest first, at most N (default 10): one line each with the\n"
     "version, the time it was stored (UTC), the tree size, the checkpoint's SHA-256\n"
     "and the writer's client_name; with --json, one JSON object per line:\n"
     "  {\"log\", \"version\", \"time_ms\", \"time\", \"sha256\", \"origin\", \"tree_size\",\n"
     "   \"client_name\", \"checkpoint_b64\"} (the last four when known).\n"},
    {"export-monitoring", cli_export_monitoring,
     "usage: logstate export-monitoring DIR\n\n"
     "Writes DIR/<hex SHA-256 of the origin line>/checkpoint for every log whose\n"
     "checkpoint starts with an origin line (C2SP's monitoring path, for a static\n"
     "web server or a CDN). Each file is written whole or not at all (a temporary\n"
     "file, fsync, rename); a file that already holds the checkpoint is left alone,\n"
     "and nothing is removed. Logs without an origin line are skipped (named on\n"
     "stderr); two logs with the same origin line are an error (exit 1). DIR and\n"
     "its parents are created (0755) when missing.\n"},
    {"repair", cli_repair,
     "usage: logstate repair\n\n"
     "On an SQLite store: gives every log ID an earlier logstate stored as a BLOB\n"
     "its TEXT form, in one transaction, so that the Go witness sees those logs.\n"
     "A log stored twice with the same checkpoint loses its BLOB row; a log stored\n"
     "twice with different checkpoints is left as it is and shown with both (exit\n"
     "1): delete the row to drop with the sqlite3 shell, then run repair again.\n"
     "Other stores have nothing to repair. A store that does not exist gives exit 6.\n"},
    {"id", cli_id,
     "usage: logstate id [--] ORIGIN\n\n"
     "Prints ORIGIN's log ID, hex(SHA-256(\"o:\" || ORIGIN)), as the Go witness keys it\n"
     "(lowercase, 64 digits). Opens no store.\n"},
    {"config", cli_config,
     "usage: logstate config add ORIGIN VKEY [--contact C] [--qpd Q]\n"
     "       logstate config get ORIGIN [--json]\n"
     "       logstate config list [--all] [--json]\n"
     "       logstate config disable ORIGIN [--reason R]\n"
     "       logstate config enable ORIGIN [--reason R]\n"
     "       logstate config import FILE\n"
     "       logstate config export [FILE|-]\n"
     "       logstate config history [ORIGIN] [--limit N] [--json]\n\n"
     "The logs a witness serves, kept in the store as the 2026 Go witness keeps them.\n"
     "Adding is insert-only: an existing entry is never changed (its disabled flag\n"
     "neither). add and import: exit 0 when added or identical, 4 when an entry with\n"
     "other values exists (nothing changed). get: exit 3 when ORIGIN has no entry.\n"
     "list shows the enabled ones (--all: every one): ORIGIN, VKEY, state, tab-separated.\n"
     "disable and enable are an operator's acts, recorded with the time, the URL's\n"
     "client_name and the reason (history, newest first). import and export use one\n"
     "JSON object per line: {\"origin\", \"vkey\", \"contact\"?, \"qpd\"?, \"disabled\"?};\n"
     "import checks every line before it writes anything.\n"},
    {"help", NULL, "usage: logstate help [COMMAND]\n"},
};

static const command *find(const char *name) {
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    if (strcmp(commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

static int help(const char *name) {
  const command *c = name ? find(name) : NULL;
  if (name && c == NULL)
    return cli_usage_error("unknown command %s", name);
  fputs(c ? c->help : usage_main, stdout);
  return cli_finish_output(stdout, "standard output");
}

/* --help anywhere before a "--" asks for the command's help. */
static int wants_help(int argc, char **argv) {
  for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
      return 1;
  return 0;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {{"url", required_argument, NULL, 'u'},
                                       {"help", no_argument, NULL, 'h'},
                                       {"version", no_argument, NULL, 'V'},
                                       {NULL, 0, NULL, 0}};
  const char *url = NULL;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+:hV", opts, NULL)) != -1) {
    if (c == 'u')
      url = cli_keep_url(optarg);
    else if (c == 'h')
      return help(NULL);
    else if (c == 'V')
      return printf("logstate %s\n", logstate_version()) < 0 ? EXIT_ERROR
                                                             : cli_finish_output(stdout, "standard output");
    else if (c == ':')
      return cli_usage_error("option needs a value: %s", argv[optind - 1]);
    else {
      char name[3] = {'-', (char)optopt, '\0'};
      return cli_usage_error("unknown option %s", optopt ? name : argv[optind - 1]);
    }
  }
  if (optind == argc) {
    fputs(usage_main, stderr);
    return EXIT_USAGE;
  }
  const command *cmd = find(argv[optind]);
  int nargs = argc - optind;
  char **args = argv + optind;
  if (cmd == NULL)
    return cli_usage_error("unknown command %s", args[0]);
  if (cmd->run == NULL)
    return nargs > 2 ? cli_usage_error("help takes at most one COMMAND") : help(nargs == 2 ? args[1] : NULL);
  if (wants_help(nargs, args))
    return help(cmd->name);
  if (url == NULL)
    url = getenv("LOGSTATE_URL");
  if (url == NULL || url[0] == '\0')
    url = DEFAULT_URL;
  return cmd->run(url, nargs, args);
}

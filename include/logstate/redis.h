/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Redis backend (hiredis 0.14), for several witness processes sharing one
 * Redis. Opened with logstate_open(&ls, "redis://...") or, typed, with
 * logstate_redis_open().
 *
 * URL forms (percent-encode reserved characters in user, password, prefix):
 *
 *   redis://[user[:password]@]host[:port][/db][?key=value&...]
 *   redis+unix://[user[:password]@]/path/to/redis.sock[?key=value&...]
 *   redis+sentinel://[user[:password]@]host1[:port],host2[:port]/MASTERNAME[/db][?key=value&...]
 *   redis+cluster://[user[:password]@]host1[:port],host2[:port][/][?key=value&...]
 *
 * Query keys: prefix, pool, connect_timeout_ms, timeout_ms, durability
 * (require|warn|ignore), min_replicas, replica_timeout_ms, guard (none|size),
 * store_id (pin the store), create (yes|no), mode (rw|ro), wait_aof (yes|no),
 * history, history_bodies (yes|no), client_name, db (for redis+unix),
 * sentinel_user and sentinel_password (for redis+sentinel: the sentinels'
 * own credentials; user and password are the data servers'). An IPv6 host
 * is written in brackets: redis://[::1]:6379. Without a password in the URL
 * or the options, $LOGSTATE_REDIS_PASSWORD is used when set, so that the
 * password need not appear in a process list.
 *
 * Key layout (a contract; see README "Operating with Redis"): with namespace
 * N, `{N}:logs` (SET of log IDs), `{N}:log:<logID>` (HASH: checkpoint,
 * version, updated_ms), `{N}:meta` (HASH: schema = 1, store_id,
 * created_ms), and with history=K `{N}:history:<logID>` (STREAM, the K
 * newest sets: version, checkpoint or sha256, origin, tree_size, client).
 * The hash tag {N} keeps every key in one Redis Cluster slot.
 *
 * Requires Redis 5.0 or later (7.0 is tested).
 */
#ifndef LOGSTATE_REDIS_H
#define LOGSTATE_REDIS_H

#include <stdint.h>

#include "logstate.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What logstate_init() does about a server that may lose acknowledged writes. */
typedef enum logstate_redis_durability {
  /** Refuse (FAILED_PRECONDITION) unless appendonly yes and appendfsync always. */
  LOGSTATE_REDIS_DURABILITY_REQUIRE = 0,
  /** Report the problem through the log callback and go on. */
  LOGSTATE_REDIS_DURABILITY_WARN,
  /** Do not check. */
  LOGSTATE_REDIS_DURABILITY_IGNORE
} logstate_redis_durability;

/** Server-side checks of each new checkpoint, in the set script. */
typedef enum logstate_redis_guard {
  LOGSTATE_REDIS_GUARD_NONE = 0,
  /** Refuse (FAILED_PRECONDITION) a checkpoint whose first line (origin)
   *  differs from the stored one, or whose second line (tree size, decimal)
   *  is smaller: defense in depth against a buggy or hostile writer. */
  LOGSTATE_REDIS_GUARD_SIZE
} logstate_redis_guard;

/**
 * Options of the Redis backend. Start from LOGSTATE_REDIS_OPTIONS_INIT; a
 * zero or NULL field takes the default shown. Strings are copied.
 */
typedef struct logstate_redis_options {
  unsigned int version;            /* LOGSTATE_REDIS_OPTIONS_VERSION: the struct of logstate 0.2 */
  const char *host;                /* "127.0.0.1"; IPv6 literal without brackets */
  unsigned int port;               /* 6379 */
  const char *unix_path;           /* a Unix socket instead of host and port */
  const char *user;                /* ACL user; NULL: "default" */
  const char *password;            /* NULL: $LOGSTATE_REDIS_PASSWORD, if set */
  unsigned int db;                 /* SELECTed on every connection */
  const char *prefix;              /* the namespace N: "logstate"; no { or } */
  unsigned int pool;               /* connections: 8 */
  unsigned int connect_timeout_ms; /* 2000 */
  unsigned int timeout_ms;         /* per command, and for a free pool connection: 2000 */
  logstate_redis_durability durability;
  unsigned int min_replicas;       /* WAIT for this many replicas after each set: 0 */
  unsigned int replica_timeout_ms; /* WAIT's timeout: 1000 */
  logstate_redis_guard guard;
  /** Receives warnings (durability=warn). NULL: written to stderr. Called
   *  from the thread that runs the operation; must be thread-safe. */
  void (*log)(void *log_arg, const char *message);
  void *log_arg;
  /** The store this handle must find (`logstate check` prints it): init and
   *  every new connection refuse, with FAILED_PRECONDITION, a namespace
   *  whose store_id is missing (reset) or differs (another store). NULL: any.
   *  1 to 64 characters of [A-Za-z0-9_-]. */
  const char *store_id;
  /** create=: YES (the default) or NO (init refuses with NOT_FOUND a
   *  namespace that does not exist). ON_WRITE is SQLite's only. */
  logstate_create create;
  /** Non-zero (mode=ro): a read-only handle, for operators. init reads the
   *  meta and the store_id (no schema write, no script load, so a user
   *  limited to +@read can use it), reports the durability settings without
   *  refusing them (logstate_describe), and refuses with NOT_FOUND a
   *  namespace that does not exist; every write returns
   *  FAILED_PRECONDITION. The sync API only: logstate_async_open refuses it. */
  int read_only;
  /** Redis Sentinel: "host:port,host:port,..." (port 26379 when left out;
   *  IPv6 in brackets), at most 16 sentinels. The primary of master_name is
   *  asked of the sentinels in turn (SENTINEL get-master-addr-by-name) and
   *  confirmed with ROLE on each new connection; it is found again after a
   *  connection is lost, a reply says READONLY, or ROLE says replica. host,
   *  port and unix_path are then not used. NULL: one server, as before. */
  const char *sentinels;
  /** The name the sentinels monitor the primary under: required with
   *  sentinels, and only with them. */
  const char *master_name;
  /** Credentials for the sentinels themselves (AUTH), when they need any;
   *  user and password above are the data servers'. */
  const char *sentinel_user;
  const char *sentinel_password;
  /** Redis Cluster: seed nodes, "host:port,host:port,..." (port 6379 when
   *  left out), at most 16. The primary that owns the namespace's slot
   *  (every key of a namespace shares the slot of its {N} hash tag) is asked
   *  of the seeds in turn (CLUSTER KEYSLOT, CLUSTER SLOTS), confirmed with
   *  ROLE, and found again after MOVED, READONLY, a replica's ROLE or a
   *  lost connection. host, port, unix_path and db are then not used (a
   *  cluster has database 0 only). Excludes sentinels. */
  const char *cluster_nodes;
  /** Non-zero (wait_aof=yes): after each set, WAITAOF 1 min_replicas
   *  replica_timeout_ms instead of WAIT: OK only once the set is fsynced to
   *  the primary's append-only file and to min_replicas replicas' (WAIT
   *  counts receipt, not fsync). Needs Redis 7.2 or later: init refuses an
   *  older server with FAILED_PRECONDITION. */
  int wait_aof;
  /** history=K: the set script also appends each set to the log's stream
   *  {N}:history:<logID> (XADD MAXLEN K, in the same atomic step), so that
   *  logstate_history() can tell what was stored and when. 0 (the default):
   *  none. At most 100000. Needs +xadd +xlen (and +xrevrange to read). */
  unsigned int history;
  /** history_bodies=: YES (the default) keeps each entry's checkpoint; NO
   *  its SHA-256 only. */
  logstate_flag history_bodies;
  /** client_name: sent with CLIENT SETNAME on every connection (so that
   *  CLIENT LIST names the witness) and recorded with each history entry.
   *  1 to 64 visible ASCII bytes, no spaces; NULL: none. Needs
   *  +client|setname. */
  const char *client_name;
} logstate_redis_options;

#define LOGSTATE_REDIS_OPTIONS_VERSION 2
#define LOGSTATE_REDIS_OPTIONS_INIT                                                                                    \
  { .version = LOGSTATE_REDIS_OPTIONS_VERSION }

/**
 * Opens a handle on Redis with typed options. No connection is made until
 * the first operation; call logstate_init() first, as with every backend.
 *
 * @param out receives the handle (caller frees with logstate_free()).
 * @param ro Redis options; NULL for all defaults. Copied.
 * @param opts common options (logstate.h); NULL for the defaults.
 * @return LOGSTATE_OK; LOGSTATE_INVALID_ARGUMENT for NULL `out`, a bad
 *         option (named in the message); LOGSTATE_RESOURCE_EXHAUSTED.
 *         Thread-safe.
 */
LOGSTATE_API logstate_status logstate_redis_open(logstate **out, const logstate_redis_options *ro,
                                                 const logstate_options *opts);

#ifdef __cplusplus
}
#endif

#endif /* LOGSTATE_REDIS_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* logstate's Redis protocol, without I/O.
 *
 * For each operation it plans the next pipeline (the commands to send in one
 * round trip) and judges the replies: either the operation is done, with a
 * status (and its message recorded) and data, or there is a next plan to
 * send. The sync driver (sync.c) and the async driver (async.c) only move
 * plans and replies; every command, key, hash field and reply index is
 * written in proto.c (and proto_init.c for the set-up checks).
 *
 *   ls_rp_op op = {.kind = LS_RP_GET, .log_id = id, .log_id_len = n};
 *   st = ls_rp_begin(p, &op);
 *   do { ls_rp_plan_next(p, &op, &plan); send plan; read plan.n replies; }
 *   while (!ls_rp_judge(p, &op, replies, plan.n, &st));
 *   ... use op.u.read.state ...; ls_rp_end(&op);
 */
#ifndef LOGSTATE_REDIS_PROTO_H
#define LOGSTATE_REDIS_PROTO_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "redis/config.h"

/* Where the primary is (primary.c): the configured server, or the one the
 * sentinels named. `gen` changes whenever the address is found or lost. */
typedef struct ls_rp_target {
  pthread_mutex_t mu;
  char host[LS_REDIS_MAX_HOST_LEN + 1];
  unsigned int port;
  uint64_t gen;
  int known; /* 0: ask the sentinels */
} ls_rp_target;

/* What every operation of one handle shares: the configuration, where the
 * primary is, and the counters of what the replies showed (atomic: sync
 * threads share them). */
typedef struct ls_redis_proto {
  ls_redis_config cfg;
  ls_rp_target target;
  atomic_uint_fast64_t script_reloads; /* NOSCRIPT recoveries */
  atomic_uint_fast64_t resolved;       /* sets whose lost reply was resolved by reading the log */
  atomic_int durability;               /* logstate_durability the last init found */
  char store_id[65];                   /* the namespace's, once an init read it */
  atomic_int has_store_id;
} ls_redis_proto;

typedef enum {
  LS_RP_CONNECT, /* [AUTH] [SELECT] PING on a new connection */
  LS_RP_INIT,    /* server version, schema, script, durability */
  LS_RP_GET,     /* the checkpoint of a log */
  LS_RP_LOGS,    /* the index of logs */
  LS_RP_OPEN,    /* a snapshot: version and checkpoint [under WATCH] */
  LS_RP_SET,     /* the set script, a compare-and-set on the version */
  LS_RP_VERIFY,  /* walk the index and the log keys for disagreements */
  LS_RP_HISTORY, /* the newest entries of a log's history stream (proto_history.c) */
  LS_RP_CONFIG   /* a log configuration operation (proto_config.c) */
} ls_rp_kind;

#define LS_RP_MAX_CMDS 16
#define LS_RP_MAX_ARGS 20

typedef struct ls_rp_cmd {
  int argc;
  const char *argv[LS_RP_MAX_ARGS];
  size_t len[LS_RP_MAX_ARGS];
  /* A command with more arguments (a batch of log configurations): they
   * are here instead, in the op's own arrays; NULL otherwise. */
  const char *const *xargv;
  const size_t *xlen;
} ls_rp_cmd;

/* The arguments of `c`, wherever they are: what the drivers send. */
static inline const char **ls_rp_argv(const ls_rp_cmd *c) { return (const char **)(c->xargv ? c->xargv : c->argv); }
static inline const size_t *ls_rp_lens(const ls_rp_cmd *c) { return c->xargv ? c->xlen : c->len; }

/* One pipeline. Its arguments point into the op, the proto and `num`, so a
 * plan is sent before the op changes. */
typedef struct ls_rp_plan {
  int n;
  ls_rp_cmd cmd[LS_RP_MAX_CMDS];
  char num[4][24];
} ls_rp_plan;

/* One type per kind of op: its inputs and what it found. A result is a
 * logstate_backend_state where it is a log's state, the type the backend
 * interface and the async requests carry too, so that it is moved whole to
 * the caller, never copied field by field. */
typedef struct ls_rp_read {     /* GET, OPEN */
  int watch;                    /* OPEN: WATCH the key */
  int unwatch;                  /* OPEN: UNWATCH first (a WATCH may linger on the connection) */
  int settling;                 /* OPEN: the read after a lost set reply; with history, its newest entries too */
  logstate_backend_state state; /* the result: version 0 and cp NULL for an absent log */
  logstate_history_entry *hist; /* settling with history: the newest entries */
  size_t nhist;
} ls_rp_read;

typedef struct ls_rp_set {  /* SET */
  int watch;                /* run the script in MULTI/EXEC (a write transaction's WATCH) */
  uint64_t expect;          /* the version the snapshot saw, 0 for none */
  const uint8_t *expect_cp; /* non-NULL: expect exactly this checkpoint too (a set chained on one in flight) */
  size_t expect_len;
  char *expect_arg; /* the script's ARGV[1], "<expect>=<expect_cp>" (ls_rp_begin) */
  size_t expect_arg_len;
  const uint8_t *cp; /* the new checkpoint, borrowed */
  size_t cp_len;
  ls_history_rec hrec; /* with history: what its entry records */
  uint64_t version;    /* OK: the new version */
  int fresh;           /* ABORTED: `now` is the log's current state, from the script's CONFLICT reply */
  logstate_backend_state now;
  int undecided; /* a lost reply that could not be settled: the log moved on too far
                  * (UNAVAILABLE; nothing is wrong with the server) */
} ls_rp_set;

typedef struct ls_rp_logs { /* LOGS */
  char **ids;
  size_t n;
} ls_rp_logs;

typedef struct ls_rp_history {  /* HISTORY */
  size_t max;                   /* at most this many entries */
  logstate_history_entry *hist; /* the result, newest first */
  size_t nhist;
} ls_rp_history;

typedef struct ls_rp_config { /* CONFIG */
  struct ls_cfg_op *cfg;      /* the core's operation (configs.h): its inputs, and where the results go */
  const char *what;           /* for messages */
  /* ADD: the script's arguments (EVAL, the script, the keys, 7 per entry) */
  const char **argv;
  size_t *len;
  int argc;
  char numkeys[24];
  char *buf; /* the keys and numbers they point to; GET, CHANGE: the key; LIST: a round's keys */
  size_t buf_len;
  /* LIST: the IDs the index holds, and how many are read */
  char **ids;
  size_t nids, next;
} ls_rp_config;

typedef struct ls_rp_verify { /* VERIFY */
  struct ls_rp_walk *walk;    /* its state (proto_verify.c) */
  logstate_verify_fn report;  /* inputs */
  void *report_arg;
  size_t problems; /* the result */
} ls_rp_verify;

typedef struct ls_rp_op {
  ls_rp_kind kind;
  const char *log_id; /* GET, OPEN, SET, HISTORY: borrowed for the op's life */
  size_t log_id_len;
  /* Progress. */
  int step;
  int redirected; /* a reply said MOVED: nothing ran, the op may go again to the new owner */
  int redirects;  /* MOVED followed (ls_rp_redirect) */
  char *key;      /* {N}:log:<logID> */
  size_t key_len;
  char *hkey; /* SET with history, HISTORY, a settling read with history: {N}:history:<logID> */
  size_t hkey_len;
  union {
    ls_rp_read read;
    ls_rp_set set;
    ls_rp_logs logs;
    ls_rp_history history;
    ls_rp_verify verify;
    ls_rp_config config;
    char store_id[40]; /* INIT: the store_id to create */
  } u;
} ls_rp_op;

/* Sets up `p` around p->cfg (already filled); ls_rp_proto_destroy frees
 * both. */
void ls_rp_proto_init(ls_redis_proto *p);
void ls_rp_proto_destroy(ls_redis_proto *p);

/* Where to connect: 1 and host, port and the address's generation; 0 when
 * the seeds must be asked first (ls_rp_discovery). For
 * a Unix socket the configured path is used instead. Thread-safe. */
int ls_rp_target_get(ls_redis_proto *p, char host[LS_REDIS_MAX_HOST_LEN + 1], unsigned int *port, uint64_t *gen);
/* Whether `gen` is still the current address (else drop the connection). */
int ls_rp_target_current(ls_redis_proto *p, uint64_t gen);
/* A connection to generation `gen` found a dead server, a replica or
 * READONLY: ask the sentinels again (no-op without sentinels). */
void ls_rp_target_lost(ls_redis_proto *p, uint64_t gen);
/* The question to a seed: a sentinel ([AUTH] SENTINEL
 * get-master-addr-by-name) or a cluster node ([AUTH] CLUSTER KEYSLOT,
 * CLUSTER SLOTS), and its judge: OK with the target found, or the status
 * with a message that the driver prefixes with the seed's address. `asked`
 * is the seed's host (a cluster may name "" for it). */
void ls_rp_plan_discover(const ls_redis_config *c, ls_rp_plan *plan);
logstate_status ls_rp_judge_discover(ls_redis_proto *p, const redisReply *const *r, int n, const char *asked);
/* "sentinel" or "cluster node", for messages. */
const char *ls_rp_seed_kind(const ls_redis_config *c);
/* The search for the primary: the seeds asked in turn until one names it,
 * or one answers what asking another cannot mend (out of memory), or every
 * one was asked. Both drivers run it as: start; while seed(): ask it, judge
 * its replies with ls_rp_judge_discover, and stop when answer() says so;
 * then result(). */
typedef struct ls_rp_discovery {
  unsigned int next;    /* the seed to ask */
  logstate_status last; /* the last seed's answer */
  char why[600];        /* ... and its message, naming the seed */
} ls_rp_discovery;
void ls_rp_discovery_start(ls_rp_discovery *d);
/* The seed to ask now; NULL when every one was asked. */
const ls_redis_addr *ls_rp_discovery_seed(const ls_redis_proto *p, const ls_rp_discovery *d);
/* The answer of seed() (`st`, its message recorded): 1 when the search is
 * over. */
int ls_rp_discovery_answer(const ls_redis_proto *p, ls_rp_discovery *d, logstate_status st);
/* OK when a seed named the primary; else the status (UNAVAILABLE, or the
 * last answer when it was PERMISSION_DENIED or RESOURCE_EXHAUSTED) and a
 * message naming the last seed's answer. */
logstate_status ls_rp_discovery_result(const ls_redis_proto *p, const ls_rp_discovery *d);
/* A MOVED reply on a cluster: the target becomes the node it names.
 * Returns 1 when `r` was one. */
int ls_rp_note_moved(ls_redis_proto *p, const redisReply *r);
/* Whether any of the n replies is an ASK (a cheap test before planning). */
int ls_rp_any_ask(const ls_redis_config *c, const redisReply *const *r, int n);
/* The plan that follows the ASK replies among `r` (the replies to `plan`)
 * on a cluster whose slot is being migrated:
 * [AUTH] [SCRIPT LOAD] then, for each command that got ASK, ASKING and the
 * command again, and a WAIT of the plan along with them. map[j] is the
 * index in `plan` whose reply the j-th reply replaces, -1 for the others
 * (which must not be errors). Returns the number of commands redirected: 0
 * when there is nothing to follow, or when the plan is a MULTI/EXEC, which
 * cannot be split. `out` goes to the node ASK named, set in `host` and
 * `*port`; `host` must hold the current primary's host beforehand (an ASK
 * that leaves its host out means that one). */
int ls_rp_plan_ask(const ls_redis_proto *p, const ls_rp_op *op, const ls_rp_plan *plan, redisReply *const *r,
                   ls_rp_plan *out, int *map, char host[LS_REDIS_MAX_HOST_LEN + 1], unsigned int *port);

/* Prepares `op` (its inputs set): RESOURCE_EXHAUSTED when out of memory. */
logstate_status ls_rp_begin(const ls_redis_proto *p, ls_rp_op *op);
/* Frees what the op holds. */
void ls_rp_end(ls_rp_op *op);
/* Makes the op start from its first plan again (after a dead connection or
 * MOVED: nothing of it ran). */
void ls_rp_restart(ls_rp_op *op);
/* How many times an op follows MOVED before it returns UNAVAILABLE. */
#define LS_RP_MAX_REDIRECTS 4
/* The next pipeline to send for `op`. */
void ls_rp_plan_next(const ls_redis_proto *p, ls_rp_op *op, ls_rp_plan *plan);
/* Judges the `n` replies of the last plan. Returns 1 when the op is done
 * (*st set, its message recorded), 0 when the next plan must be sent. */
int ls_rp_judge(ls_redis_proto *p, ls_rp_op *op, const redisReply *const *r, int n, logstate_status *st);

/* What a set whose reply was lost (the connection went with it in flight)
 * did, judged from the log's state read afterwards. */
typedef enum {
  LS_RP_APPLIED,     /* version expect + 1 holding exactly its bytes (ours, or the same bytes from another writer:
                      * the state asked for) */
  LS_RP_NOT_APPLIED, /* still at expect: the same compare-and-set may be sent again */
  LS_RP_LOST_RACE,   /* expect + 1 holding other bytes: another writer's set won, not this one (ABORTED) */
  LS_RP_UNDECIDED    /* anything else: the log moved on further, and this set may be one of the steps, or not
                      * (UNAVAILABLE, the outcome is unknown: ABORTED would make an update apply twice) */
} ls_rp_outcome;
ls_rp_outcome ls_rp_outcome_of(const ls_rp_set *set, const logstate_backend_state *now);
/* Settles `set` from `rd`, the OPEN op that read the log after: OK (it was
 * applied: u.set.version is the new one), OK with *again (not applied: send
 * the same set again), ABORTED with the read's state moved whole into
 * u.set.now (fresh), or UNAVAILABLE saying the outcome is unknown, with
 * u.set.undecided (final: reading again cannot tell more). Counted in
 * p->resolved. */
logstate_status ls_rp_settle(ls_redis_proto *p, ls_rp_op *set, ls_rp_op *rd, int *again);
/* UNAVAILABLE: no connection came back within timeout_ms to tell what the
 * set did; `why` is the last failure. */
logstate_status ls_rp_outcome_unknown(const ls_redis_proto *p, const char *why);

/* --- rules.c: what the drivers do when something goes wrong ------------- */

/* After a lost connection (or one dropped for a timeout) with the op's plan
 * in flight: fail the op, settle it (a set: read the log to learn what it
 * did), or run it again on a new connection (the connection had sat idle in
 * a pool and died there: nothing ran; once). */
typedef enum { LS_RP_FAIL, LS_RP_SETTLE, LS_RP_RETRY } ls_rp_after_loss;
ls_rp_after_loss ls_rp_after_loss_of(const ls_rp_op *op, int idle_conn, unsigned int attempt);
/* The op ended with `st` on a connection to generation `gen`: what that says
 * of the primary (UNAVAILABLE: look for it again). */
void ls_rp_op_failed(ls_redis_proto *p, uint64_t gen, const ls_rp_op *op, logstate_status st);
/* MOVED: 1 when the op may go again to the slot's new owner (restarted,
 * counted against LS_RP_MAX_REDIRECTS), 0 when `st` stands. */
int ls_rp_redirect(ls_rp_op *op, logstate_status st);
/* Reconnecting: the wait after `prev_ms` (0: the first). */
#define LS_RP_BACKOFF_MIN_MS 50
#define LS_RP_BACKOFF_MAX_MS 2000
unsigned int ls_rp_backoff_next(unsigned int prev_ms);

/* Settling a set whose reply was lost: `rd` reads the log on a new
 * connection, again and again (LS_RP_SETTLE_PAUSE_MS apart, or as a
 * connection comes back) until ls_rp_settle_ms() after the first loss. */
typedef struct ls_rp_settler {
  ls_rp_op rd;
  uint64_t deadline_us; /* on the monotonic clock (ls_now_us) */
  int active;
  char why[400]; /* the last failure */
} ls_rp_settler;
#define LS_RP_SETTLE_PAUSE_MS 20
unsigned int ls_rp_settle_ms(const ls_redis_proto *p);
/* (Re)starts the read; the deadline is set by the first call. */
logstate_status ls_rp_settle_begin(const ls_redis_proto *p, ls_rp_settler *s, const ls_rp_op *set, const char *why,
                                   uint64_t now_us);
int ls_rp_settle_expired(const ls_rp_settler *s, uint64_t now_us);
/* UNAVAILABLE: the outcome is unknown (no connection told in time). */
logstate_status ls_rp_settle_give_up(const ls_redis_proto *p, ls_rp_settler *s);
void ls_rp_settle_end(ls_rp_settler *s);

/* The longest a reply may take: timeout_ms, plus replica_timeout_ms when
 * sets wait for replicas (WAIT or WAITAOF). */
unsigned int ls_rp_longest_ms(const ls_redis_config *c);
/* How long the last plan may take: timeout_ms, plus replica_timeout_ms for a
 * set that WAITs. */
unsigned int ls_rp_timeout_ms(const ls_redis_proto *p, const ls_rp_op *op);
/* The connection failed with the last plan in flight (hiredis error `err`,
 * `errstr`; err 0 for a connection the driver dropped or lost, `errstr`
 * saying why). Records the message (a set says that it may or may not have
 * been applied) and returns the status. */
logstate_status ls_rp_failed(const ls_redis_proto *p, const ls_rp_op *op, int err, const char *errstr);
/* The last plan got no reply within ls_rp_timeout_ms. */
logstate_status ls_rp_timed_out(const ls_redis_proto *p, const ls_rp_op *op);
/* Whether the last plan ended a WATCH on its connection (EXEC was sent). */
int ls_rp_ends_watch(const ls_rp_op *op);

/* --- for proto.c and proto_init.c only ---------------------------------- */

/* Maps a server error reply to a status and records "redis: <what>: <text>";
 * `key` (may be NULL) is named for WRONGTYPE. */
logstate_status ls_redis_reply_error(const ls_redis_config *c, const redisReply *r, const char *what, const char *key,
                                     size_t key_len);
/* Maps a dead hiredis context's error to a status and message. */
logstate_status ls_redis_io_error(const ls_redis_config *cfg, int err, const char *errstr, const char *what);
/* INTERNAL: "redis: <what>: unexpected reply of type T". */
logstate_status ls_redis_unexpected(const char *what, const redisReply *r);
/* Fills `c` with argv (lengths from `len`, or strlen when NULL). Inline:
 * every plan builds its commands with these. */
static inline void ls_rp_cmd_set(ls_rp_cmd *c, int argc, const char *const *argv, const size_t *len) {
  c->argc = argc;
  c->xargv = NULL;
  for (int i = 0; i < argc; i++) {
    c->argv[i] = argv[i];
    c->len[i] = len ? len[i] : strlen(argv[i]);
  }
}
/* Appends a command to `plan`. */
static inline void ls_rp_add(ls_rp_plan *plan, int argc, const char *const *argv, const size_t *len) {
  ls_rp_cmd_set(&plan->cmd[plan->n++], argc, argv, len);
}
/* Adds one argument to `cmd`. */
static inline void ls_rp_arg(ls_rp_cmd *cmd, const char *s, size_t len) {
  cmd->argv[cmd->argc] = s;
  cmd->len[cmd->argc++] = len;
}
/* SCRIPT LOAD of the set script. */
void ls_rp_cmd_script_load(ls_rp_cmd *c);
/* The INIT op's plan and judge (proto_init.c). */
void ls_rp_plan_init(const ls_redis_proto *p, ls_rp_op *op, ls_rp_plan *plan);
int ls_rp_judge_init(ls_redis_proto *p, ls_rp_op *op, const redisReply *const *r, int n, logstate_status *st);
/* A ROLE reply on a connection to the sentinels' primary: UNAVAILABLE
 * unless it says master. */
logstate_status ls_rp_check_role(const ls_redis_config *c, const redisReply *r);
/* A reply to HGET {N}:meta store_id against the pinned store_id (if any):
 * FAILED_PRECONDITION when missing or different. */
logstate_status ls_rp_check_store_id(const ls_redis_config *c, const redisReply *id);

/* HMGET version checkpoint, SISMEMBER index log_id: one log's state and
 * whether the index lists it (2 commands appended to `plan`). */
void ls_rp_plan_state(const ls_redis_config *c, const char *key, size_t key_len, const char *log_id, size_t id_len,
                      ls_rp_plan *plan);
/* What those two replies say: 0 no hash, 1 a whole hash (*version set), 2
 * a hash without its version or checkpoint; *listed from SISMEMBER. -1 for an error reply
 * or an unexpected one (status recorded, naming `key`). */
int ls_rp_classify(const ls_redis_config *c, const redisReply *h, const redisReply *m, const char *key, size_t key_len,
                   int *listed, uint64_t *version, logstate_status *st);
/* The VERIFY op (proto_verify.c). */
logstate_status ls_rp_walk_begin(const ls_redis_config *c, ls_rp_op *op);
void ls_rp_walk_end(ls_rp_op *op);
void ls_rp_plan_walk(const ls_redis_config *c, ls_rp_op *op, ls_rp_plan *plan);
int ls_rp_judge_walk(const ls_redis_config *c, ls_rp_op *op, const redisReply *const *r, int n, logstate_status *st);

/* History (proto_history.c): the stream key and, for a SET, what its entry
 * records, when the handle keeps history (or for a HISTORY op). */
logstate_status ls_rp_history_begin(const ls_redis_config *c, ls_rp_op *op);
/* Appends the set script's history arguments (ARGV[6..11]) to `cmd`;
 * `num` holds the count it sends. */
void ls_rp_history_args(const ls_redis_config *c, const ls_rp_op *op, char num[24], ls_rp_cmd *cmd);

void ls_rp_plan_history(const ls_rp_op *op, size_t max, ls_rp_plan *plan);
/* XREVRANGE's reply into *hist and *nhist (op: its stream key). */
logstate_status ls_rp_judge_history(const ls_redis_config *c, const ls_rp_op *op, const redisReply *r,
                                    logstate_history_entry **hist, size_t *nhist);
/* What a settling read's history says of `set`, whose reply was lost:
 * 1 its entry (version expect + 1) holds its bytes, 0 another writer's,
 * -1 no entry tells (history off, trimmed, or unreadable). */
int ls_rp_history_decides(const ls_rp_set *set, const ls_rp_read *rd);
void ls_rp_history_end(ls_rp_op *op);
/* How many entries a settling read looks at: a log that moved on further
 * stays undecided. */
size_t ls_rp_settle_lookback(const ls_redis_config *c);

/* Log configurations (proto_config.c): op->u.config.cfg set by the
 * caller. */
logstate_status ls_rp_config_begin(const ls_redis_config *c, ls_rp_op *op);
void ls_rp_config_end(ls_rp_op *op);
void ls_rp_plan_config(const ls_redis_config *c, ls_rp_op *op, ls_rp_plan *plan);
/* The state of one configuration, for VERIFY: HMGET of its hash's origin
 * and vkey, and SISMEMBER of {N}:configs, appended to `plan`. */
void ls_rp_plan_config_state(const ls_redis_config *c, const char *key, size_t key_len, const char *id,
                             ls_rp_plan *plan);
/* Their replies: -1 (*st set) for an error; else *listed, and 0 for no
 * hash, 1 for a whole one, 2 for a damaged one (`why` says how: an origin
 * or vkey missing, or an origin whose ID is not `id`). */
int ls_rp_judge_config_state(const ls_redis_config *c, const redisReply *h, const redisReply *m, const char *id,
                             int *listed, char *why, size_t why_size, logstate_status *st);
int ls_rp_judge_config(const ls_redis_config *c, ls_rp_op *op, const redisReply *const *r, int n, logstate_status *st);

/* "WAIT" and "WAITAOF", as the plans spell them (a plan's argv[0] points
 * here). */
extern const char ls_rp_cmd_wait[], ls_rp_cmd_waitaof[];

/* The set script (lua/set.lua, embedded at build time) and its SHA1. */
extern const char ls_lua_set[];
extern const size_t ls_lua_set_len;
extern const char ls_lua_set_sha1[];

#endif

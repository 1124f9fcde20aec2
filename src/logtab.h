/* SPDX-License-Identifier: Apache-2.0 */
/* What one handle knows of each log, in one table used by both APIs:
 *
 * - the state it last read or wrote (version and checkpoint), so that an
 *   update can start with the compare-and-set instead of a read; a stale
 *   state costs a retry, never a lost update (the set compares versions);
 * - the highest version it saw (rollback detection): a store that later
 *   shows less has gone back (a failover to a replica that lacked writes, a
 *   restore), and serving that would make a witness cosign a fork;
 * - the turn of its sets and updates: one handle's sets and updates on one
 *   log run one after another, so a handle never races itself. Sync threads
 *   take the turn like a lock (whoever comes when it is free: the thread
 *   that gives it back may take it again at once, without a hand-over);
 *   async operations queue, in the order they were submitted, and the
 *   async core starts the next one when one leaves.
 *
 * Bounded: at most LS_LOGTAB_LOGS logs (least recently used first out,
 * never one whose turn is taken or awaited), of which LS_LOGTAB_CACHED keep a
 * state, LS_LOGTAB_BYTES of checkpoints in all. Thread-safe. */
#ifndef LOGSTATE_LOGTAB_H
#define LOGSTATE_LOGTAB_H

#include <stddef.h>
#include <stdint.h>

#include "logstate/logstate.h"

#define LS_LOGTAB_LOGS 65536
#define LS_LOGTAB_CACHED 4096
#define LS_LOGTAB_BYTES ((size_t)16 << 20)

typedef struct ls_logtab ls_logtab;
typedef struct ls_logent ls_logent;

/* A turn: a place in a log's queue (async, embedded in the operation), or
 * the log's lock while a sync call holds it (on the call's stack). */
typedef struct ls_turn {
  struct ls_turn *next; /* async: the next in the queue */
  ls_logent *e;         /* the log's entry while queued or held; NULL for a nested sync turn */
} ls_turn;

/* NULL when out of memory. */
ls_logtab *ls_logtab_new(void);
/* Every turn must have been given back. */
void ls_logtab_free(ls_logtab *t);

/* --- turns -------------------------------------------------------------- */

/* Queues `turn` on the log: 1 when it is first and may run now, 0 when it
 * waits (the async core starts it when ls_logtab_leave hands it over), -1
 * when out of memory (RESOURCE_EXHAUSTED recorded). */
int ls_logtab_enter(ls_logtab *t, const char *id, size_t n, ls_turn *turn);
/* Takes `turn` out of its queue; returns the turn that is first now and
 * may run (NULL: none, or `turn` was not first). */
ls_turn *ls_logtab_leave(ls_logtab *t, ls_turn *turn);
/* The sync form: waits until the log's turn is free and takes it;
 * RESOURCE_EXHAUSTED (naming `fn`) when out of memory. A thread that has
 * the log's turn already (an update function writing its own log through
 * the same handle) goes on at once: waiting would be waiting for itself. */
logstate_status ls_logtab_wait_turn(ls_logtab *t, const char *fn, const char *id, size_t n, ls_turn *turn);
/* Gives a sync turn back and wakes the threads waiting on the log. */
void ls_logtab_give_turn(ls_logtab *t, ls_turn *turn);

/* --- state and marks ---------------------------------------------------- */

/* 1 and a copy of the state the handle knows (*cp malloc()ed, NULL for an
 * absent log, version 0), counted as a hit; 0 when none (a miss).
 * *pending: the state is one a set still in flight is making. */
int ls_logtab_cached(ls_logtab *t, const char *id, size_t n, uint64_t *version, uint8_t **cp, size_t *len,
                     int *pending);
/* The highest version of the log the handle saw (0: none). Take it before
 * an operation goes out, and pass it to ls_logtab_saw with what the
 * operation found: then the handle's other operations finishing first
 * cannot raise it and cause a false alarm. */
uint64_t ls_logtab_seen(ls_logtab *t, const char *id, size_t n);
/* The operation found the log at `version` (cp: its checkpoint, NULL for
 * none; keep 0: remember only the version). OK when that is not below
 * `before`, remembering the state; FAILED_PRECONDITION ("store rolled
 * back", naming `fn`), counted, and the state forgotten, otherwise. */
logstate_status ls_logtab_saw(ls_logtab *t, const char *fn, const char *id, size_t n, uint64_t before, uint64_t version,
                              const uint8_t *cp, size_t len, int keep);
/* A set stored `cp` as `version`: remembered as the log's state and its
 * highest version (cp NULL: the version only). The states ls_logtab_saw and
 * this keep never replace a newer one. */
void ls_logtab_stored(ls_logtab *t, const char *id, size_t n, uint64_t version, const uint8_t *cp, size_t len);
/* A set now in flight will store `cp` as `version`, unless it fails: the
 * log's state for the next update to chain on (its set then expects this
 * checkpoint exactly), never its highest version seen. Whoever learns the
 * set failed forgets the state. */
void ls_logtab_pending(ls_logtab *t, const char *id, size_t n, uint64_t version, const uint8_t *cp, size_t len);
/* Forgets the log's state (an outcome that says nothing of it); its highest
 * version stays. */
void ls_logtab_forget(ls_logtab *t, const char *id, size_t n);
/* A set or an update attempt lost a race (ABORTED). */
void ls_logtab_conflict(ls_logtab *t);
/* Adds the table's counters (hits, misses, rollbacks, conflicts) to `out`. */
void ls_logtab_stats(ls_logtab *t, logstate_stats *out);

#endif

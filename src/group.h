/* SPDX-License-Identifier: Apache-2.0 */
/* Group commit: the compare-and-sets that a handle's threads make at the
 * same moment go to the backend in one cas call (one round trip, one
 * fsync) when the backend says a batch costs about one set (cas_batch).
 *
 * A handle's sets queue in lanes (as many as the backend has connections
 * to run batches on, cas_lanes), a log's sets always in the same lane. One
 * batch is in flight per lane at a time. A thread that finds none takes
 * the sets queued there so far (its own among them, at most the backend's
 * bound, oldest first) and runs them; the others wait for it, and the next
 * batch is whatever queued meanwhile, plus, when fewer are queued than
 * there were writers at the end of the last batch, those writers' next
 * sets: the leader waits for them at most half the last batch's time and
 * LS_GROUP_GATHER_US. A lone writer therefore runs at once: a set waits
 * only while an earlier batch of its lane is in flight, or, bounded, for
 * writers that were just there. Sets are taken in the order they were queued, so a set queued
 * after another of the same log (chained on the state it makes) runs after
 * it; sets of different logs in different lanes run in parallel. */
#ifndef LOGSTATE_GROUP_H
#define LOGSTATE_GROUP_H

#include <stddef.h>

#include "internal.h"
#include "logstate/sys/backend.h"

/* The most sets of one batch, and the most lanes, whatever the backend
 * allows. */
#define LS_GROUP_MAX 64
#define LS_GROUP_LANES 64
/* The longest a batch's leader waits for the writers of the last batch to
 * come back with their next sets (ls_group_wait), in microseconds. */
#define LS_GROUP_GATHER_US 1000

/* One set: the request the backend sees, and what the core keeps of its
 * outcome (logstate_backend_cas_result()). */
typedef struct ls_gcas {
  logstate_backend_cas req; /* first: the backend's pointer is the set's */
  ls_saved_error err;
  int decided; /* the backend recorded an outcome */
  int done;    /* its batch ran (under its lane's mutex) */
  struct ls_lane *lane;
  struct ls_gcas *next;
} ls_gcas;

typedef struct ls_group ls_group;

/* A group with the lanes `be` asks for; NULL when out of memory. */
ls_group *ls_group_new(logstate_backend *be);
/* Nothing may be queued. */
void ls_group_free(ls_group *g);
/* The most sets one cas call of `be` may take (1: no grouping). */
size_t ls_group_batch_max(logstate_backend *be);
/* Queues `r` (its request filled): from now on a set queued later runs
 * after it. */
void ls_group_submit(ls_group *g, ls_gcas *r);
/* Runs `r`'s batch, or waits for the thread running it; returns its status
 * (its message recorded). */
logstate_status ls_group_wait(logstate_backend *be, ls_gcas *r);
/* Adds the group's counters to `out`. */
void ls_group_stats(ls_group *g, logstate_stats *out);
/* n sets of one thread, each on its own log: queued together, so that
 * they go in as few batches as the backend takes (one by one when it
 * takes one). Each one's outcome is in its `err`. */
void ls_group_run_many(ls_group *g, logstate_backend *be, ls_gcas *const *rs, size_t n);
/* `r` alone, in one cas call, without a group. */
logstate_status ls_group_run_one(logstate_backend *be, ls_gcas *r);

#endif

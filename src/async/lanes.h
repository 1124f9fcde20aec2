/* SPDX-License-Identifier: Apache-2.0 */
/* Per-log queues of one async handle: the sets and updates a handle has on
 * one log run one at a time, in the order they were submitted. A hash
 * table from log ID to a FIFO of items, each embedded in an operation. */
#ifndef LOGSTATE_ASYNC_LANES_H
#define LOGSTATE_ASYNC_LANES_H

#include <stddef.h>
#include <stdint.h>

typedef struct ls_lane_item {
  struct ls_lane_item *next;
} ls_lane_item;

typedef struct ls_lane {
  struct ls_lane *next_in_bucket;
  uint64_t hash;
  char *id;
  size_t len;
  ls_lane_item *head, *tail;
} ls_lane;

typedef struct ls_lanes {
  ls_lane **buckets;
  size_t nbuckets, count;
} ls_lanes;

/* Appends `it` to the lane of log `id` (created when missing). Returns the
 * lane, with *is_head set when `it` is first and may run now; NULL when out
 * of memory. */
ls_lane *ls_lane_push(ls_lanes *t, const char *id, size_t len, ls_lane_item *it, int *is_head);
/* Removes `it` from lane `l`. Returns the item that became the head and may
 * run now (NULL when `it` was not the head or the lane is now empty); an
 * empty lane is freed. */
ls_lane_item *ls_lane_pop(ls_lanes *t, ls_lane *l, ls_lane_item *it);
/* Frees the table (every lane must be empty). */
void ls_lanes_free(ls_lanes *t);

#endif

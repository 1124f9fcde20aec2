/* SPDX-License-Identifier: Apache-2.0 */
/* Per-log queues of one async handle (see lanes.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "async/lanes.h"
#include "internal.h"

/* Doubles the table when it holds as many lanes as buckets; a failed
 * allocation keeps the old table, which still works. */
static void maybe_grow(ls_lanes *t) {
  if (t->buckets && t->count < t->nbuckets)
    return;
  size_t nb = t->nbuckets ? t->nbuckets * 2 : 16;
  ls_lane **b = calloc(nb, sizeof(*b));
  if (b == NULL)
    return;
  for (size_t i = 0; i < t->nbuckets; i++) {
    for (ls_lane *l = t->buckets[i], *next; l; l = next) {
      next = l->next_in_bucket;
      l->next_in_bucket = b[l->hash % nb];
      b[l->hash % nb] = l;
    }
  }
  free(t->buckets);
  t->buckets = b;
  t->nbuckets = nb;
}

ls_lane *ls_lane_push(ls_lanes *t, const char *id, size_t len, ls_lane_item *it, int *is_head) {
  maybe_grow(t);
  if (t->buckets == NULL)
    return NULL;
  uint64_t h = ls_hash(id, len);
  ls_lane *l = t->buckets[h % t->nbuckets];
  while (l && !(l->hash == h && l->len == len && memcmp(l->id, id, len) == 0))
    l = l->next_in_bucket;
  if (l == NULL) {
    if ((l = calloc(1, sizeof(*l))) == NULL || (l->id = ls_memdup(id, len)) == NULL) {
      free(l);
      return NULL;
    }
    l->hash = h;
    l->len = len;
    l->next_in_bucket = t->buckets[h % t->nbuckets];
    t->buckets[h % t->nbuckets] = l;
    t->count++;
  }
  it->next = NULL;
  *is_head = l->head == NULL;
  if (l->tail)
    l->tail->next = it;
  else
    l->head = it;
  l->tail = it;
  return l;
}

ls_lane_item *ls_lane_pop(ls_lanes *t, ls_lane *l, ls_lane_item *it) {
  ls_lane_item **p = &l->head, *prev = NULL;
  while (*p && *p != it) {
    prev = *p;
    p = &(*p)->next;
  }
  if (*p == NULL)
    return NULL;
  int was_head = it == l->head;
  *p = it->next;
  if (l->tail == it)
    l->tail = prev;
  if (l->head)
    return was_head ? l->head : NULL;
  ls_lane **b = &t->buckets[l->hash % t->nbuckets];
  while (*b != l)
    b = &(*b)->next_in_bucket;
  *b = l->next_in_bucket;
  t->count--;
  free(l->id);
  free(l);
  return NULL;
}

void ls_lanes_free(ls_lanes *t) {
  for (size_t i = 0; i < t->nbuckets; i++) {
    for (ls_lane *l = t->buckets[i], *next; l; l = next) {
      next = l->next_in_bucket;
      free(l->id);
      free(l);
    }
  }
  free(t->buckets);
  memset(t, 0, sizeof(*t));
}

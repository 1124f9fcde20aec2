/* SPDX-License-Identifier: Apache-2.0 */
/* A handle's cache of the state it last read or wrote per log (version and
 * checkpoint), so that an update can start with the compare-and-set instead
 * of a read. Bounded in entries and bytes, least recently used first out.
 * A stale entry costs a retry, never a lost update: the compare-and-set
 * checks the version on the server. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct entry {
  struct entry *next_in_bucket, *prev, *next; /* prev/next: the LRU list, newest first */
  uint64_t hash;
  char *id;
  size_t id_len;
  uint64_t version;
  uint8_t *cp;
  size_t len;
} entry;

struct ls_cache {
  pthread_mutex_t mu;
  entry **buckets;
  size_t nbuckets, count, bytes, max_entries, max_bytes;
  entry *newest, *oldest;
  uint64_t hits, misses;
};

ls_cache *ls_cache_new(size_t max_entries, size_t max_bytes) {
  ls_cache *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  c->nbuckets = 64;
  while (c->nbuckets < max_entries)
    c->nbuckets *= 2;
  if ((c->buckets = calloc(c->nbuckets, sizeof(*c->buckets))) == NULL) {
    free(c);
    return NULL;
  }
  c->max_entries = max_entries;
  c->max_bytes = max_bytes;
  pthread_mutex_init(&c->mu, NULL);
  return c;
}

static entry **slot(ls_cache *c, const char *id, size_t n, uint64_t h) {
  entry **p = &c->buckets[h % c->nbuckets];
  while (*p && !((*p)->hash == h && (*p)->id_len == n && memcmp((*p)->id, id, n) == 0))
    p = &(*p)->next_in_bucket;
  return p;
}

static void lru_unlink(ls_cache *c, entry *e) {
  if (e->prev)
    e->prev->next = e->next;
  else
    c->newest = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    c->oldest = e->prev;
  e->prev = e->next = NULL;
}

static void lru_push(ls_cache *c, entry *e) {
  e->next = c->newest;
  if (c->newest)
    c->newest->prev = e;
  c->newest = e;
  if (c->oldest == NULL)
    c->oldest = e;
}

/* Removes the entry `*p` points at. */
static void remove_at(ls_cache *c, entry **p) {
  entry *e = *p;
  *p = e->next_in_bucket;
  lru_unlink(c, e);
  c->count--;
  c->bytes -= e->len;
  free(e->id);
  free(e->cp);
  free(e);
}

void ls_cache_drop(ls_cache *c, const char *id, size_t n) {
  pthread_mutex_lock(&c->mu);
  entry **p = slot(c, id, n, ls_hash(id, n));
  if (*p)
    remove_at(c, p);
  pthread_mutex_unlock(&c->mu);
}

int ls_cache_get(ls_cache *c, const char *id, size_t n, uint64_t *version, uint8_t **cp, size_t *len) {
  int hit = 0;
  pthread_mutex_lock(&c->mu);
  entry *e = *slot(c, id, n, ls_hash(id, n));
  if (e && (e->cp == NULL || (*cp = ls_memdup(e->cp, e->len)) != NULL)) {
    if (e->cp == NULL)
      *cp = NULL;
    *version = e->version;
    *len = e->len;
    lru_unlink(c, e);
    lru_push(c, e);
    hit = 1;
  }
  if (hit)
    c->hits++;
  else
    c->misses++;
  pthread_mutex_unlock(&c->mu);
  return hit;
}

void ls_cache_put(ls_cache *c, const char *id, size_t n, uint64_t version, const uint8_t *cp, size_t len) {
  if (len > c->max_bytes) {
    ls_cache_drop(c, id, n);
    return;
  }
  uint64_t h = ls_hash(id, n);
  entry *e = calloc(1, sizeof(*e));
  uint8_t *copy = cp ? ls_memdup(cp, len) : NULL;
  char *idc = ls_memdup(id, n);
  pthread_mutex_lock(&c->mu);
  entry **p = slot(c, id, n, h);
  if (*p)
    remove_at(c, p); /* the new state replaces it, or (out of memory) nothing does */
  if (e && idc && (cp == NULL || copy)) {
    *e = (entry){.hash = h, .id = idc, .id_len = n, .version = version, .cp = copy, .len = cp ? len : 0};
    e->next_in_bucket = c->buckets[h % c->nbuckets];
    c->buckets[h % c->nbuckets] = e;
    lru_push(c, e);
    c->count++;
    c->bytes += e->len;
    e = NULL;
    idc = NULL;
    copy = NULL;
    while (c->count > c->max_entries || c->bytes > c->max_bytes)
      remove_at(c, slot(c, c->oldest->id, c->oldest->id_len, c->oldest->hash));
  }
  pthread_mutex_unlock(&c->mu);
  free(e);
  free(idc);
  free(copy);
}

uint64_t ls_cache_version(ls_cache *c, const char *id, size_t n) {
  pthread_mutex_lock(&c->mu);
  entry *e = *slot(c, id, n, ls_hash(id, n));
  uint64_t v = e ? e->version : 0;
  pthread_mutex_unlock(&c->mu);
  return v;
}

uint64_t ls_cache_raise(ls_cache *c, const char *id, size_t n, uint64_t version) {
  uint64_t h = ls_hash(id, n), before = 0;
  pthread_mutex_lock(&c->mu);
  entry *e = *slot(c, id, n, h);
  if (e) {
    before = e->version;
    if (version > e->version)
      e->version = version;
    lru_unlink(c, e);
    lru_push(c, e);
  }
  pthread_mutex_unlock(&c->mu);
  if (e == NULL && version > 0)
    ls_cache_put(c, id, n, version, NULL, 0); /* a race may lose a raise here: a weaker check, never a false alarm */
  return before;
}

void ls_cache_counts(ls_cache *c, uint64_t *hits, uint64_t *misses) {
  pthread_mutex_lock(&c->mu);
  *hits = c->hits;
  *misses = c->misses;
  pthread_mutex_unlock(&c->mu);
}

void ls_cache_free(ls_cache *c) {
  if (c == NULL)
    return;
  while (c->oldest)
    remove_at(c, slot(c, c->oldest->id, c->oldest->id_len, c->oldest->hash));
  free(c->buckets);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* A handle's per-log table (logtab.h): a hash table of entries, each on a
 * least-recently-used list of all entries and, while it keeps a state, on
 * a second one of the entries with a state, so that both bounds evict in
 * constant time. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "logtab.h"

typedef struct link {
  ls_logent *prev, *next;
} link;

typedef struct list {
  ls_logent *newest, *oldest;
} list;

struct ls_logent {
  ls_logent *next_in_bucket;
  link all, cached_link;
  uint64_t hash;
  char *id;
  size_t id_len;
  uint64_t seen; /* the highest version the handle saw */
  int has_state; /* version, cp and len are a state the handle knows */
  int pending;   /* ... that a set still in flight is making (ls_logtab_pending) */
  uint64_t version;
  uint8_t *cp; /* NULL: the log has no checkpoint */
  size_t len;
  ls_turn *head, *tail; /* async: the operations waiting, the first one running */
  pthread_mutex_t turn; /* sync: the turn itself, a lock (no queue: no hand-over to a sleeping thread) */
  int held;             /* sync: a thread has the turn, `holder` */
  pthread_t holder;
  unsigned int waiting; /* sync: threads taking or giving it back: the entry stays */
};

struct ls_logtab {
  pthread_mutex_t mu;
  ls_logent **buckets;
  size_t nbuckets, count, ncached, bytes;
  list all, cached;
  uint64_t hits, misses, rollbacks, conflicts;
};

ls_logtab *ls_logtab_new(void) {
  ls_logtab *t = calloc(1, sizeof(*t));
  if (t == NULL)
    return NULL;
  t->nbuckets = 1024; /* grows with the logs */
  if ((t->buckets = calloc(t->nbuckets, sizeof(*t->buckets))) == NULL) {
    free(t);
    return NULL;
  }
  pthread_mutex_init(&t->mu, NULL);
  return t;
}

/* --- the two lists ------------------------------------------------------ */

static void unlink_from(list *l, ls_logent *e, size_t off) {
  link *k = (link *)((char *)e + off);
  if (k->prev)
    ((link *)((char *)k->prev + off))->next = k->next;
  else
    l->newest = k->next;
  if (k->next)
    ((link *)((char *)k->next + off))->prev = k->prev;
  else
    l->oldest = k->prev;
  k->prev = k->next = NULL;
}

static void push_to(list *l, ls_logent *e, size_t off) {
  link *k = (link *)((char *)e + off);
  k->prev = NULL;
  k->next = l->newest;
  if (l->newest)
    ((link *)((char *)l->newest + off))->prev = e;
  l->newest = e;
  if (l->oldest == NULL)
    l->oldest = e;
}

#define ALL offsetof(ls_logent, all)
#define CACHED offsetof(ls_logent, cached_link)

static void drop_state(ls_logtab *t, ls_logent *e) {
  if (!e->has_state)
    return;
  unlink_from(&t->cached, e, CACHED);
  t->ncached--;
  t->bytes -= e->len;
  free(e->cp);
  e->cp = NULL;
  e->len = 0;
  e->has_state = e->pending = 0;
}

/* --- entries ------------------------------------------------------------ */

static ls_logent **slot(ls_logtab *t, const char *id, size_t n, uint64_t h) {
  ls_logent **p = &t->buckets[h % t->nbuckets];
  while (*p && !((*p)->hash == h && (*p)->id_len == n && memcmp((*p)->id, id, n) == 0))
    p = &(*p)->next_in_bucket;
  return p;
}

static void remove_entry(ls_logtab *t, ls_logent *e) {
  drop_state(t, e);
  unlink_from(&t->all, e, ALL);
  *slot(t, e->id, e->id_len, e->hash) = e->next_in_bucket;
  t->count--;
  pthread_mutex_destroy(&e->turn);
  free(e->id);
  free(e);
}

/* Doubles the buckets while there are more logs than buckets; a failed
 * allocation keeps the table as it is, which still works. */
static void maybe_grow(ls_logtab *t) {
  if (t->count < t->nbuckets || t->nbuckets >= LS_LOGTAB_LOGS)
    return;
  size_t nb = t->nbuckets * 2;
  ls_logent **b = calloc(nb, sizeof(*b));
  if (b == NULL)
    return;
  for (size_t i = 0; i < t->nbuckets; i++) {
    for (ls_logent *e = t->buckets[i], *next; e; e = next) {
      next = e->next_in_bucket;
      e->next_in_bucket = b[e->hash % nb];
      b[e->hash % nb] = e;
    }
  }
  free(t->buckets);
  t->buckets = b;
  t->nbuckets = nb;
}

/* Evicts the least recently used logs without waiting operations until
 * there is room for one more. A log with operations waiting is passed over
 * (a handle has only so many at once). */
static void make_room(ls_logtab *t) {
  for (ls_logent *e = t->all.oldest; e && t->count >= LS_LOGTAB_LOGS;) {
    ls_logent *newer = e->all.prev;
    if (e->head == NULL && !e->held && e->waiting == 0)
      remove_entry(t, e);
    e = newer;
  }
}

/* The log's entry, made when missing (create), and now the most recently
 * used. NULL when missing and not made (or out of memory). */
static ls_logent *find(ls_logtab *t, const char *id, size_t n, int create) {
  uint64_t h = ls_hash(id, n);
  ls_logent **p = slot(t, id, n, h), *e = *p;
  if (e == NULL && create && (e = calloc(1, sizeof(*e))) != NULL) {
    if ((e->id = ls_memdup(id, n)) == NULL) {
      free(e);
      return NULL;
    }
    make_room(t);
    e->hash = h;
    e->id_len = n;
    pthread_mutex_init(&e->turn, NULL);
    e->next_in_bucket = t->buckets[h % t->nbuckets];
    t->buckets[h % t->nbuckets] = e;
    t->count++;
    push_to(&t->all, e, ALL);
    maybe_grow(t);
    return e;
  }
  if (e) {
    unlink_from(&t->all, e, ALL);
    push_to(&t->all, e, ALL);
  }
  return e;
}

void ls_logtab_free(ls_logtab *t) {
  if (t == NULL)
    return;
  while (t->all.oldest)
    remove_entry(t, t->all.oldest);
  free(t->buckets);
  pthread_mutex_destroy(&t->mu);
  free(t);
}

/* --- turns -------------------------------------------------------------- */

static int enter_locked(ls_logtab *t, const char *id, size_t n, ls_turn *turn) {
  ls_logent *e = find(t, id, n, 1);
  if (e == NULL)
    return -1;
  turn->next = NULL;
  turn->e = e;
  if (e->tail)
    e->tail->next = turn;
  else
    e->head = turn;
  e->tail = turn;
  return e->head == turn;
}

int ls_logtab_enter(ls_logtab *t, const char *id, size_t n, ls_turn *turn) {
  pthread_mutex_lock(&t->mu);
  int r = enter_locked(t, id, n, turn);
  pthread_mutex_unlock(&t->mu);
  if (r < 0)
    ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "out of memory queueing an operation");
  return r;
}

static ls_turn *leave_locked(ls_turn *turn) {
  ls_logent *e = turn->e;
  ls_turn **p = &e->head, *prev = NULL;
  while (*p && *p != turn) {
    prev = *p;
    p = &(*p)->next;
  }
  if (*p == NULL)
    return NULL;
  int was_first = turn == e->head;
  *p = turn->next;
  if (e->tail == turn)
    e->tail = prev;
  turn->e = NULL;
  return was_first ? e->head : NULL;
}

ls_turn *ls_logtab_leave(ls_logtab *t, ls_turn *turn) {
  pthread_mutex_lock(&t->mu);
  ls_turn *next = turn->e ? leave_locked(turn) : NULL;
  pthread_mutex_unlock(&t->mu);
  return next;
}

/* Sync turns are a lock per log, not a queue: the thread that gives the
 * turn back may take it again at once for its next update, where handing
 * it to a sleeping thread would cost a wake-up and a context switch each
 * time (8 threads x 250 updates of one memory log: 3 ms against 100 ms).
 * The table's mutex only pins the entry while a thread takes or gives the
 * turn back; it is never held while waiting for the turn. */
logstate_status ls_logtab_wait_turn(ls_logtab *t, const char *fn, const char *id, size_t n, ls_turn *turn) {
  pthread_t self = pthread_self();
  pthread_mutex_lock(&t->mu);
  ls_logent *e = find(t, id, n, 1);
  if (e == NULL) {
    pthread_mutex_unlock(&t->mu);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "%s: out of memory", fn);
  }
  if (e->held && pthread_equal(e->holder, self)) {
    turn->e = NULL; /* the thread has the turn already (an update function writing its own log): go on */
    pthread_mutex_unlock(&t->mu);
    return LOGSTATE_OK;
  }
  e->waiting++;
  pthread_mutex_unlock(&t->mu);
  pthread_mutex_lock(&e->turn);
  pthread_mutex_lock(&t->mu);
  e->waiting--;
  e->held = 1;
  e->holder = self;
  pthread_mutex_unlock(&t->mu);
  turn->e = e;
  return LOGSTATE_OK;
}

void ls_logtab_give_turn(ls_logtab *t, ls_turn *turn) {
  ls_logent *e = turn->e;
  if (e == NULL)
    return; /* a nested turn: the outer one gives it back */
  turn->e = NULL;
  pthread_mutex_lock(&t->mu);
  e->held = 0;
  e->waiting++; /* the entry stays until its lock is given back */
  pthread_mutex_unlock(&t->mu);
  pthread_mutex_unlock(&e->turn);
  pthread_mutex_lock(&t->mu);
  e->waiting--;
  pthread_mutex_unlock(&t->mu);
}

/* --- state and marks ---------------------------------------------------- */

int ls_logtab_cached(ls_logtab *t, const char *id, size_t n, uint64_t *version, uint8_t **cp, size_t *len,
                     int *pending) {
  int hit = 0;
  pthread_mutex_lock(&t->mu);
  ls_logent *e = find(t, id, n, 0);
  if (e && e->has_state && (e->cp == NULL || (*cp = ls_memdup(e->cp, e->len)) != NULL)) {
    if (e->cp == NULL)
      *cp = NULL;
    *version = e->version;
    *len = e->len;
    *pending = e->pending;
    unlink_from(&t->cached, e, CACHED);
    push_to(&t->cached, e, CACHED);
    hit = 1;
  }
  if (hit)
    t->hits++;
  else
    t->misses++;
  pthread_mutex_unlock(&t->mu);
  return hit;
}

uint64_t ls_logtab_seen(ls_logtab *t, const char *id, size_t n) {
  pthread_mutex_lock(&t->mu);
  ls_logent *e = find(t, id, n, 0);
  uint64_t v = e ? e->seen : 0;
  pthread_mutex_unlock(&t->mu);
  return v;
}

/* Replaces the entry's state with a copy of (version, cp, len); a
 * checkpoint above the byte bound, or no memory, leaves none. A state
 * never replaces a newer one (versions count sets): a read that went out
 * before the handle's own set came back, or the reply to the first of two
 * chained sets, says less than the table knows. */
static void keep_state(ls_logtab *t, ls_logent *e, uint64_t version, const uint8_t *cp, size_t len, int pending) {
  if (e->has_state && version < e->version)
    return;
  if (e->has_state && version == e->version && e->pending == pending && (e->cp != NULL) == (cp != NULL) &&
      (cp == NULL || (e->len == len && memcmp(e->cp, cp, len) == 0))) {
    unlink_from(&t->cached, e, CACHED); /* the state it has: no copy (a read of a log nobody wrote since) */
    push_to(&t->cached, e, CACHED);
    return;
  }
  uint8_t *copy = cp ? ls_memdup(cp, len) : NULL;
  drop_state(t, e);
  if ((cp && copy == NULL) || len > LS_LOGTAB_BYTES) {
    free(copy);
    return;
  }
  e->has_state = 1;
  e->pending = pending;
  e->version = version;
  e->cp = copy;
  e->len = cp ? len : 0;
  t->ncached++;
  t->bytes += e->len;
  push_to(&t->cached, e, CACHED);
  while (t->ncached > LS_LOGTAB_CACHED || t->bytes > LS_LOGTAB_BYTES)
    drop_state(t, t->cached.oldest);
}

logstate_status ls_logtab_saw(ls_logtab *t, const char *fn, const char *id, size_t n, uint64_t before, uint64_t version,
                              const uint8_t *cp, size_t len, int keep) {
  char q[LS_QUOTE_BUFSZ];
  pthread_mutex_lock(&t->mu);
  ls_logent *e = find(t, id, n, 1); /* out of memory: no entry, a weaker check, never a false alarm */
  int back = version < before;
  if (e && version > e->seen)
    e->seen = version;
  if (e && back)
    drop_state(t, e);
  else if (e && keep)
    keep_state(t, e, version, cp, len, 0);
  if (back)
    t->rollbacks++;
  pthread_mutex_unlock(&t->mu);
  if (!back)
    return LOGSTATE_OK;
  if (version == 0)
    return ls_err(LOGSTATE_FAILED_PRECONDITION,
                  "%s: store rolled back: log %s has no checkpoint, but this handle saw version %llu of it (was the "
                  "store restored, flushed or failed over to a replica that lacked writes?)",
                  fn, ls_quote(q, sizeof(q), id, n), (unsigned long long)before);
  return ls_err(LOGSTATE_FAILED_PRECONDITION,
                "%s: store rolled back: log %s is at version %llu < %llu seen by this handle (was the store "
                "restored or failed over to a replica that lacked writes?)",
                fn, ls_quote(q, sizeof(q), id, n), (unsigned long long)version, (unsigned long long)before);
}

void ls_logtab_stored(ls_logtab *t, const char *id, size_t n, uint64_t version, const uint8_t *cp, size_t len) {
  pthread_mutex_lock(&t->mu);
  ls_logent *e = find(t, id, n, 1);
  if (e && version > e->seen)
    e->seen = version;
  if (e && cp)
    keep_state(t, e, version, cp, len, 0);
  else if (e)
    drop_state(t, e);
  pthread_mutex_unlock(&t->mu);
}

void ls_logtab_pending(ls_logtab *t, const char *id, size_t n, uint64_t version, const uint8_t *cp, size_t len) {
  pthread_mutex_lock(&t->mu);
  ls_logent *e = find(t, id, n, 1);
  if (e)
    keep_state(t, e, version, cp, len, 1);
  pthread_mutex_unlock(&t->mu);
}

void ls_logtab_forget(ls_logtab *t, const char *id, size_t n) {
  pthread_mutex_lock(&t->mu);
  ls_logent *e = find(t, id, n, 0);
  if (e)
    drop_state(t, e);
  pthread_mutex_unlock(&t->mu);
}

void ls_logtab_conflict(ls_logtab *t) {
  pthread_mutex_lock(&t->mu);
  t->conflicts++;
  pthread_mutex_unlock(&t->mu);
}

void ls_logtab_stats(ls_logtab *t, logstate_stats *out) {
  pthread_mutex_lock(&t->mu);
  out->cache_hits += t->hits;
  out->cache_misses += t->misses;
  out->rollbacks += t->rollbacks;
  out->conflicts += t->conflicts;
  pthread_mutex_unlock(&t->mu);
}

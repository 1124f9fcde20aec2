/* SPDX-License-Identifier: Apache-2.0 */
/* The in-memory backend: a hash table of log ID -> (checkpoint, version,
 * history) under one mutex per store. Write transactions hold no lock: they
 * remember the version they saw, and the set compares it (like the Go
 * inmemory package's snapshot check), so one thread may hold many at once.
 * With history=K, each log keeps its K newest sets in a ring, appended under
 * the same lock as the set. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "memory_config.h"

/* A log's history: a ring of entries, the oldest at `start`. */
typedef struct mem_hist {
  logstate_history_entry *e;
  size_t cap, start, n;
} mem_hist;

typedef struct mem_entry {
  struct mem_entry *next;
  uint64_t hash;
  char *id;
  size_t id_len;
  uint8_t *cp;
  size_t cp_len;
  uint64_t version; /* 0: never set; entries are never removed */
  mem_hist hist;
} mem_entry;

typedef struct mem_store {
  pthread_mutex_t mu;
  mem_entry **buckets;
  size_t nbuckets;
  size_t count;
  ls_mem_configs *configs; /* log configurations (memory_config.c) */
  /* Named stores are shared and live in the registry below. */
  char *name;
  unsigned int refs;
  struct mem_store *next_named;
} mem_store;

typedef struct mem_backend {
  logstate_backend base;
  mem_store *store;
  ls_history_cfg hist; /* this handle's: what its sets append */
} mem_backend;

struct logstate_backend_txn {
  mem_entry probe; /* id, id_len, hash of the log */
  uint64_t version;
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static mem_store *registry;

static mem_entry *find(mem_store *s, const mem_entry *probe) {
  for (mem_entry *e = s->buckets[probe->hash % s->nbuckets]; e; e = e->next)
    if (e->hash == probe->hash && e->id_len == probe->id_len && memcmp(e->id, probe->id, e->id_len) == 0)
      return e;
  return NULL;
}

/* Doubles the table when it is full; on allocation failure it keeps the old
 * one, which still works, only slower. */
static void maybe_grow(mem_store *s) {
  if (s->count < s->nbuckets)
    return;
  size_t nb = s->nbuckets * 2;
  mem_entry **b = calloc(nb, sizeof(*b));
  if (b == NULL)
    return;
  for (size_t i = 0; i < s->nbuckets; i++) {
    for (mem_entry *e = s->buckets[i], *next; e; e = next) {
      next = e->next;
      e->next = b[e->hash % nb];
      b[e->hash % nb] = e;
    }
  }
  free(s->buckets);
  s->buckets = b;
  s->nbuckets = nb;
}

/* Room for one more entry when fewer than `keep` are kept: 0 when out of
 * memory (nothing changed). */
static int hist_reserve(mem_hist *h, size_t keep) {
  if (h->n < h->cap || h->n >= keep)
    return 1;
  size_t cap = h->cap ? h->cap * 2 : 4;
  cap = cap > keep ? keep : cap;
  logstate_history_entry *e = calloc(cap, sizeof(*e));
  if (e == NULL)
    return 0;
  for (size_t i = 0; i < h->n; i++) /* in order, the oldest first */
    e[i] = h->e[(h->start + i) % h->cap];
  free(h->e);
  h->e = e;
  h->cap = cap;
  h->start = 0;
  return 1;
}

/* Appends `he` (taken over), dropping the oldest beyond `keep`; after
 * hist_reserve. */
static void hist_push(mem_hist *h, logstate_history_entry *he, size_t keep) {
  while (h->n > 0 && h->n >= keep) {
    ls_history_entry_release(&h->e[h->start]);
    h->start = (h->start + 1) % h->cap;
    h->n--;
  }
  h->e[(h->start + h->n) % h->cap] = *he;
  h->n++;
  memset(he, 0, sizeof(*he));
}

static void hist_free(mem_hist *h) {
  for (size_t i = 0; i < h->n; i++)
    ls_history_entry_release(&h->e[(h->start + i) % h->cap]);
  free(h->e);
}

static void store_destroy(mem_store *s) {
  for (size_t i = 0; i < s->nbuckets; i++) {
    for (mem_entry *e = s->buckets[i], *next; e; e = next) {
      next = e->next;
      hist_free(&e->hist);
      free(e->id);
      free(e->cp);
      free(e);
    }
  }
  free(s->buckets);
  free(s->name);
  ls_mem_configs_free(s->configs);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

static mem_store *store_new(const char *name) {
  mem_store *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return NULL;
  s->nbuckets = 64;
  s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
  s->name = name ? ls_memdup(name, strlen(name)) : NULL;
  s->configs = ls_mem_configs_new();
  if (s->buckets == NULL || (name && s->name == NULL) || s->configs == NULL || pthread_mutex_init(&s->mu, NULL) != 0) {
    free(s->buckets);
    free(s->name);
    ls_mem_configs_free(s->configs);
    free(s);
    return NULL;
  }
  s->refs = 1;
  return s;
}

static logstate_status mem_logs(logstate_backend *be, char ***out_ids, size_t *out_n) {
  mem_store *s = ((mem_backend *)be)->store;
  logstate_status st = LOGSTATE_OK;
  pthread_mutex_lock(&s->mu);
  char **ids = s->count ? calloc(s->count, sizeof(*ids)) : NULL;
  size_t n = 0;
  if (s->count && ids == NULL)
    st = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "memory: out of memory listing logs");
  for (size_t i = 0; st == LOGSTATE_OK && i < s->nbuckets; i++) {
    for (mem_entry *e = s->buckets[i]; e && st == LOGSTATE_OK; e = e->next) {
      if ((ids[n] = ls_memdup(e->id, e->id_len)) == NULL)
        st = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "memory: out of memory listing logs");
      else
        n++;
    }
  }
  pthread_mutex_unlock(&s->mu);
  *out_ids = ids;
  *out_n = n; /* on failure the core frees what was copied */
  return st;
}

/* Copies the stored value of `probe` (under the lock) into out. */
static logstate_status read_entry(mem_store *s, const mem_entry *probe, uint8_t **out_cp, size_t *out_len,
                                  uint64_t *out_version) {
  logstate_status st = LOGSTATE_OK;
  pthread_mutex_lock(&s->mu);
  mem_entry *e = find(s, probe);
  *out_version = e ? e->version : 0;
  if (e == NULL) {
    st = LOGSTATE_NOT_FOUND;
  } else if ((*out_cp = ls_memdup(e->cp, e->cp_len)) == NULL) {
    st = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "memory: out of memory copying a checkpoint");
  } else {
    *out_len = e->cp_len;
  }
  pthread_mutex_unlock(&s->mu);
  return st;
}

static logstate_status mem_get_latest(logstate_backend *be, const char *log_id, size_t log_id_len, uint8_t **out_cp,
                                      size_t *out_len) {
  mem_entry probe = {.id = (char *)log_id, .id_len = log_id_len, .hash = ls_hash(log_id, log_id_len)};
  uint64_t version;
  logstate_status st = read_entry(((mem_backend *)be)->store, &probe, out_cp, out_len, &version);
  return st; /* NOT_FOUND's message is the core's */
}

static logstate_status mem_write_begin(logstate_backend *be, const char *log_id, size_t log_id_len,
                                       logstate_backend_txn **out_txn, logstate_backend_state *snap) {
  logstate_backend_txn *t = calloc(1, sizeof(*t));
  if (t == NULL || (t->probe.id = ls_memdup(log_id, log_id_len)) == NULL) {
    free(t);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "memory: out of memory opening a transaction");
  }
  t->probe.id_len = log_id_len;
  t->probe.hash = ls_hash(log_id, log_id_len);
  logstate_status st = read_entry(((mem_backend *)be)->store, &t->probe, &snap->cp, &snap->len, &t->version);
  if (st != LOGSTATE_OK && st != LOGSTATE_NOT_FOUND) {
    free(t->probe.id);
    free(t);
    return st;
  }
  snap->version = t->version;
  *out_txn = t;
  return LOGSTATE_OK;
}

/* The history entry a set appends (its version filled in on success). */
static logstate_status hist_entry_for(const ls_history_cfg *h, const uint8_t *cp, size_t len,
                                      logstate_history_entry *he) {
  ls_history_rec r;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  ls_history_rec_of(cp, len, !h->bodies, &r); /* with the body, the entry hashes it itself */
  return ls_history_entry_fill(he, 0, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, h->bodies ? cp : NULL, len,
                               r.sha256, strlen(r.sha256), r.origin, r.origin_len, r.tree_size, strlen(r.tree_size),
                               h->client_name, strlen(h->client_name));
}

/* Stores `cp` if the log is still at version `expect`: the one atomic step
 * of the memory backend. On a mismatch, *fresh gets the current state when
 * it is not NULL. */
/* Links `e` (its history already reserved) into the store as the log of
 * `probe`, named `id` (both taken over). Under the store's lock. */
static mem_entry *insert(mem_store *s, const mem_entry *probe, mem_entry *e, char *id) {
  mem_hist reserved = e->hist;
  *e = *probe;
  e->hist = reserved;
  e->id = id;
  maybe_grow(s);
  e->next = s->buckets[e->hash % s->nbuckets];
  s->buckets[e->hash % s->nbuckets] = e;
  s->count++;
  return e;
}

/* Whether the log `e` (NULL: absent) is at the expected state: its
 * version, and with `exact` its checkpoint too. */
static int at(const mem_entry *e, const logstate_backend_state *expect, int exact) {
  if ((e ? e->version : 0) != expect->version)
    return 0;
  return !exact || !e || (e->cp_len == expect->len && memcmp(e->cp, expect->cp, expect->len) == 0);
}

static logstate_status store_if(mem_backend *m, const mem_entry *probe, const logstate_backend_state *expect, int exact,
                                const uint8_t *cp, size_t len, uint64_t *out_version, logstate_backend_state *fresh,
                                int *fresh_known) {
  char q[LS_QUOTE_BUFSZ];
  mem_store *s = m->store;
  logstate_history_entry he = {0};
  /* Allocate before taking the lock, and everything that may fail, so that
   * a failure leaves the store as it was. */
  uint8_t *copy = ls_memdup(cp, len);
  mem_entry *fresh_entry = calloc(1, sizeof(*fresh_entry));
  char *id = ls_memdup(probe->id, probe->id_len);
  logstate_status st = LOGSTATE_OK;
  if (copy == NULL || fresh_entry == NULL || id == NULL ||
      (m->hist.keep && hist_entry_for(&m->hist, cp, len, &he) != LOGSTATE_OK)) {
    st = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "memory: out of memory storing a checkpoint");
    goto out;
  }
  pthread_mutex_lock(&s->mu);
  mem_entry *e = find(s, probe);
  if (m->hist.keep && !hist_reserve(e ? &e->hist : &fresh_entry->hist, m->hist.keep)) {
    pthread_mutex_unlock(&s->mu);
    st = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "memory: out of memory storing a checkpoint's history");
    goto out;
  }
  if (!at(e, expect, exact)) {
    if (fresh && e && (fresh->cp = ls_memdup(e->cp, e->cp_len)) != NULL) {
      fresh->version = e->version;
      fresh->len = e->cp_len;
      *fresh_known = 1;
    }
    pthread_mutex_unlock(&s->mu);
    st = ls_err(LOGSTATE_ABORTED, "memory: log %s changed since the transaction began",
                ls_quote(q, sizeof(q), probe->id, probe->id_len));
    goto out;
  }
  if (e == NULL) {
    e = insert(s, probe, fresh_entry, id);
    fresh_entry = NULL;
    id = NULL;
  }
  free(e->cp);
  e->cp = copy;
  copy = NULL;
  e->cp_len = len;
  *out_version = ++e->version;
  if (m->hist.keep) {
    he.version = e->version;
    hist_push(&e->hist, &he, m->hist.keep);
  }
  pthread_mutex_unlock(&s->mu);
out:
  ls_history_entry_release(&he);
  free(copy);
  if (fresh_entry)
    free(fresh_entry->hist.e);
  free(fresh_entry);
  free(id);
  return st;
}

static logstate_status mem_write_set(logstate_backend *be, logstate_backend_txn *t, const uint8_t *cp, size_t len) {
  uint64_t version;
  logstate_backend_state expect = {t->version, NULL, 0};
  return store_if((mem_backend *)be, &t->probe, &expect, 0, cp, len, &version, NULL, NULL);
}

static logstate_status mem_read_state(logstate_backend *be, const char *log_id, size_t log_id_len,
                                      logstate_backend_state *out) {
  mem_entry probe = {.id = (char *)log_id, .id_len = log_id_len, .hash = ls_hash(log_id, log_id_len)};
  logstate_status st = read_entry(((mem_backend *)be)->store, &probe, &out->cp, &out->len, &out->version);
  return st == LOGSTATE_NOT_FOUND ? LOGSTATE_OK : st;
}

static void mem_cas(logstate_backend *be, logstate_backend_cas *const *reqs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    logstate_backend_cas *r = reqs[i];
    mem_entry probe = {.id = (char *)r->log_id, .id_len = r->log_id_len, .hash = ls_hash(r->log_id, r->log_id_len)};
    logstate_backend_cas_result(r, store_if((mem_backend *)be, &probe, &r->expect, r->exact, r->cp, r->len, &r->version,
                                            &r->fresh, &r->fresh_known));
  }
}

static logstate_status mem_write_end(logstate_backend *be, logstate_backend_txn *t) {
  (void)be;
  free(t->probe.id);
  free(t);
  return LOGSTATE_OK;
}

static void mem_free(logstate_backend *be) {
  mem_backend *m = (mem_backend *)be;
  pthread_mutex_lock(&registry_mu);
  mem_store *s = m->store;
  int last = --s->refs == 0;
  if (last && s->name) {
    mem_store **p = &registry;
    while (*p != s)
      p = &(*p)->next_named;
    *p = s->next_named;
  }
  pthread_mutex_unlock(&registry_mu);
  if (last)
    store_destroy(s);
  free(m);
}

static logstate_status mem_history(logstate_backend *be, const char *log_id, size_t log_id_len, size_t max,
                                   logstate_history_entry **out, size_t *out_n) {
  mem_store *s = ((mem_backend *)be)->store;
  mem_entry probe = {.id = (char *)log_id, .id_len = log_id_len, .hash = ls_hash(log_id, log_id_len)};
  logstate_status st = LOGSTATE_OK;
  pthread_mutex_lock(&s->mu);
  mem_entry *e = find(s, &probe);
  size_t n = e ? (e->hist.n < max ? e->hist.n : max) : 0, got = 0;
  logstate_history_entry *a = n ? calloc(n, sizeof(*a)) : NULL;
  if (n && a == NULL)
    st = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "memory: out of memory copying a history");
  for (; st == LOGSTATE_OK && got < n; got++) { /* newest first */
    const mem_hist *h = &e->hist;
    st = ls_history_entry_copy(&a[got], &h->e[(h->start + h->n - 1 - got) % h->cap]);
  }
  pthread_mutex_unlock(&s->mu);
  *out = a;
  *out_n = got; /* on failure the core frees what was copied (a failed copy is left empty) */
  return st;
}

static logstate_durability mem_durability(logstate_backend *be) {
  (void)be;
  return LOGSTATE_DURABILITY_NONE;
}

/* --- log configurations: the store's (memory_config.c) --------------------- */

#define CONFIGS(be) (((mem_backend *)(be))->store->configs)

static void mem_client_name(logstate_backend *be, char *buf, size_t size) {
  snprintf(buf, size, "%s", ((mem_backend *)be)->hist.client_name);
}

static logstate_status mem_config_add(logstate_backend *be, const logstate_log_entry *entries, size_t n,
                                      logstate_log_entry **existing) {
  return ls_mem_config_add(CONFIGS(be), entries, n, existing);
}

static logstate_status mem_config_get(logstate_backend *be, const char *origin, const char *log_id,
                                      logstate_log_entry **out) {
  (void)origin;
  return ls_mem_config_get(CONFIGS(be), log_id, out);
}

static logstate_status mem_config_list(logstate_backend *be, logstate_log_entry **out, size_t *out_n) {
  return ls_mem_config_list(CONFIGS(be), out, out_n);
}

static logstate_status mem_config_change(logstate_backend *be, const logstate_config_event *ev, int *changed) {
  return ls_mem_config_change(CONFIGS(be), ev, changed);
}

static logstate_status mem_config_history(logstate_backend *be, const char *origin, const char *log_id, size_t max,
                                          logstate_config_event **out, size_t *out_n) {
  (void)origin;
  return ls_mem_config_history(CONFIGS(be), log_id, max, out, out_n);
}

static const logstate_backend_methods mem_methods = {
    .version = LOGSTATE_BACKEND_VERSION,
    .name = "memory",
    .counts_versions = 1,
    .init = NULL, /* nothing to set up */
    .logs = mem_logs,
    .get_latest = mem_get_latest,
    .write_begin = mem_write_begin,
    .write_set = mem_write_set,
    .write_end = mem_write_end,
    .free = mem_free,
    .durability = mem_durability,
    .read_state = mem_read_state,
    .cas = mem_cas,
    .history = mem_history,
    .client_name = mem_client_name,
    .config_add = mem_config_add,
    .config_get = mem_config_get,
    .config_list = mem_config_list,
    .config_change = mem_config_change,
    .config_history = mem_config_history,
};

logstate_status ls_memory_backend_new(logstate_backend **out, const char *name, const ls_history_cfg *h) {
  *out = NULL;
  mem_backend *m = calloc(1, sizeof(*m));
  if (m == NULL)
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "memory: out of memory");
  m->base.methods = &mem_methods;
  if (h)
    m->hist = *h;
  else
    ls_history_cfg_init(&m->hist);
  if (name[0] == '\0') {
    m->store = store_new(NULL);
  } else {
    pthread_mutex_lock(&registry_mu);
    for (mem_store *s = registry; s; s = s->next_named) {
      if (strcmp(s->name, name) == 0) {
        s->refs++;
        m->store = s;
        break;
      }
    }
    if (m->store == NULL && (m->store = store_new(name)) != NULL) {
      m->store->next_named = registry;
      registry = m->store;
    }
    pthread_mutex_unlock(&registry_mu);
  }
  if (m->store == NULL) {
    free(m);
    return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "memory: out of memory");
  }
  *out = &m->base;
  return LOGSTATE_OK;
}

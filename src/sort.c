/* SPDX-License-Identifier: Apache-2.0 */
/* Sorting log IDs (logstate_logs). IDs share long prefixes
 * ("example.com/log/..."): a comparison sort would follow every pointer
 * and compare the prefix again in each of its n log n steps (over 100,000
 * IDs, most of the time of logstate_logs). Here the prefix all IDs share is
 * skipped, the next 16 bytes of each ID are copied beside it and sorted by
 * a radix sort (a pass per byte that is not the same everywhere); IDs those
 * bytes do not tell apart are sorted further by a three-way radix
 * quicksort (multikey quicksort) on 8 bytes at a time. Each ID is read
 * about once per 16 bytes of depth. Duplicates are dropped on the way. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The bytes d..d+7 of s as a big-endian number (so that numbers compare as
 * the bytes do), zeros after its end. s has at least d bytes before its
 * NUL. The last byte is 0 exactly when s ends within the word. */
static uint64_t word(const char *s, size_t d) {
  uint64_t w = 0;
  int k = 0;
  for (s += d; k < 8 && *s; k++, s++)
    w = w << 8 | (unsigned char)*s;
  return k == 0 ? 0 : w << (8 * (8 - k)); /* (a shift by 64 is undefined) */
}

static void swap(char **a, uint64_t *k, size_t i, size_t j) {
  char *t = a[i];
  uint64_t u = k[i];
  a[i] = a[j];
  a[j] = t;
  k[i] = k[j];
  k[j] = u;
}

/* Small parts: insertion sort on what follows the common prefix d. */
static void insertion(char **a, uint64_t *k, size_t n, size_t d) {
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && strcmp(a[j] + d, a[j - 1] + d) < 0; j--)
      swap(a, k, j, j - 1);
}

/* The median of the words of the first, middle and last: to position 0. */
static void pivot(char **a, uint64_t *k, size_t n) {
  size_t m = n / 2, l = n - 1;
  uint64_t x = k[0], y = k[m], z = k[l];
  size_t p = (x < y) ? (y < z ? m : (x < z ? l : 0)) : (x < z ? 0 : (y < z ? l : m));
  swap(a, k, 0, p);
}

/* a[0..n) share their first d bytes; k holds their words at d. */
static void sort_from(char **a, uint64_t *k, size_t n, size_t d) {
  while (n > 12) {
    pivot(a, k, n);
    uint64_t v = k[0];
    size_t lt = 0, gt = n - 1, i = 1;
    while (i <= gt) {
      if (k[i] < v)
        swap(a, k, lt++, i++);
      else if (k[i] > v)
        swap(a, k, i, gt--);
      else
        i++;
    }
    /* [0, lt) below, [lt, gt] equal at d, (gt, n) above: recurse on the
     * two smaller parts, go on with the largest. The equal part goes on at
     * d + 8, unless its IDs end within this word: then they are equal. */
    int ended = (v & 0xff) == 0;
    size_t part[3][3] = {{0, lt, d}, {lt, gt + 1 - lt, d + 8}, {gt + 1, n - gt - 1, d}};
    if (!ended)
      for (size_t j = lt; j <= gt; j++)
        k[j] = word(a[j], d + 8);
    int big = part[0][1] >= part[1][1] && part[0][1] >= part[2][1] ? 0 : part[1][1] >= part[2][1] ? 1 : 2;
    for (int p = 0; p < 3; p++)
      if (p != big && part[p][1] > 1 && !(p == 1 && ended))
        sort_from(a + part[p][0], k + part[p][0], part[p][1], part[p][2]);
    if (big == 1 && ended)
      return;
    a += part[big][0];
    k += part[big][0];
    n = part[big][1];
    d = part[big][2];
  }
  insertion(a, k, n, d);
}

static int cmp_ids(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Whether the IDs are in strictly increasing order already (a backend
 * that lists them so: SQLite along its index): then there is nothing to
 * sort or drop. One look at each neighbour; an unsorted list is found out
 * at its first inversion, usually at once. */
static int sorted_unique(char *const *ids, size_t n) {
  for (size_t i = 1; i < n; i++)
    if (strcmp(ids[i - 1], ids[i]) >= 0)
      return 0;
  return 1;
}

/* An ID's 16 bytes from the depth all IDs share, and the ID. */
typedef struct rec {
  uint64_t hi, lo;
  char *s;
} rec;

/* The bytes every ID starts with: at most the first ID's length. */
static size_t common_prefix(char *const *ids, size_t n) {
  size_t l = strlen(ids[0]);
  for (size_t i = 1; i < n && l > 0; i++) {
    size_t j = 0;
    while (j < l && ids[i][j] == ids[0][j])
      j++;
    l = j;
  }
  return l;
}

/* Byte b (0: the most significant of hi, 15: the least of lo) of r. */
static unsigned key_byte(const rec *r, int b) {
  uint64_t w = b < 8 ? r->hi : r->lo;
  return (unsigned)(w >> (8 * (7 - (b & 7)))) & 0xff;
}

/* A stable counting sort of r on each byte, least significant first,
 * skipping a byte all records share. Returns the sorted array (r or t). */
static rec *radix16(rec *r, rec *t, size_t n) {
  size_t(*count)[256] = calloc(16, sizeof(*count));
  if (count == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++)
    for (int b = 0; b < 16; b++)
      count[b][key_byte(&r[i], b)]++;
  for (int b = 15; b >= 0; b--) {
    if (count[b][key_byte(&r[0], b)] == n)
      continue; /* one value: the order stays */
    size_t at = 0;
    for (int v = 0; v < 256; v++) {
      size_t c = count[b][v];
      count[b][v] = at;
      at += c;
    }
    for (size_t i = 0; i < n; i++)
      t[count[b][key_byte(&r[i], b)]++] = r[i];
    rec *x = r;
    r = t;
    t = x;
  }
  free(count);
  return r;
}

/* ids[i..j) sorted: drops (frees) all but the first of each run of equal
 * IDs into ids[w..); returns the new w. */
static size_t keep_unique(char **ids, size_t i, size_t j, size_t w) {
  ids[w++] = ids[i];
  for (size_t t = i + 1; t < j; t++) {
    if (strcmp(ids[t], ids[w - 1]) == 0)
      free(ids[t]);
    else
      ids[w++] = ids[t];
  }
  return w;
}

/* Sorts ids from depth d (their common prefix) and drops duplicates: a
 * radix sort on the next 16 bytes, then the multikey quicksort on each run
 * of IDs those bytes do not tell apart. IDs that end within the 16 bytes
 * and have the same bytes are equal, found so without reading them again.
 * Returns the new count, 0 when out of memory (ids untouched). */
static size_t sort_wide(char **ids, size_t n, size_t d) {
  rec *r = malloc(2 * n * sizeof(*r));
  uint64_t *k = r ? malloc(n * sizeof(*k)) : NULL;
  rec *sorted = NULL;
  if (k != NULL) {
    for (size_t i = 0; i < n; i++) {
      r[i].s = ids[i];
      r[i].hi = word(ids[i], d);
      r[i].lo = (r[i].hi & 0xff) ? word(ids[i], d + 8) : 0;
    }
    sorted = radix16(r, r + n, n);
  }
  if (sorted == NULL) {
    free(r);
    free(k);
    return 0;
  }
  for (size_t i = 0; i < n; i++)
    ids[i] = sorted[i].s;
  size_t w = 0;
  for (size_t i = 0, j; i < n; i = j) {
    for (j = i + 1; j < n && sorted[j].hi == sorted[i].hi && sorted[j].lo == sorted[i].lo;)
      j++;
    if (j - i == 1) {
      ids[w++] = ids[i];
    } else if (!(sorted[i].lo & 0xff)) { /* they end within the 16 bytes: equal */
      ids[w++] = ids[i];
      for (size_t t = i + 1; t < j; t++)
        free(ids[t]);
    } else {
      for (size_t t = i; t < j; t++)
        k[t] = word(ids[t], d + 16);
      sort_from(ids + i, k + i, j - i, d + 16);
      w = keep_unique(ids, i, j, w);
    }
  }
  free(r);
  free(k);
  return w;
}

void ls_sort_unique(char **ids, size_t *n) {
  if (*n < 2 || sorted_unique(ids, *n))
    return;
  size_t w = sort_wide(ids, *n, common_prefix(ids, *n));
  if (w == 0) { /* out of memory: a comparison sort needs none */
    qsort(ids, *n, sizeof(*ids), cmp_ids);
    w = keep_unique(ids, 0, *n, 0);
  }
  *n = w;
}

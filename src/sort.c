/* SPDX-License-Identifier: Apache-2.0 */
/* Sorting log IDs (logstate_logs): a three-way radix quicksort (multikey
 * quicksort) on 8 bytes at a time, with each ID's current 8 bytes copied
 * into an array beside it. IDs share long prefixes ("example.com/log/..."):
 * a comparison sort would follow every pointer and compare the prefix
 * again in each of its n log n steps (over 100,000 IDs, most of the time of
 * logstate_logs); this reads each ID once per 8 bytes of depth and sorts
 * the copies in place. The recursion is on parts at most half as big, so
 * its depth stays below log2(n). */
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

void ls_sort_unique(char **ids, size_t *n) {
  if (*n < 2 || sorted_unique(ids, *n))
    return;
  uint64_t *k = malloc(*n * sizeof(*k));
  if (k == NULL) { /* out of memory for the copies: a comparison sort needs none */
    qsort(ids, *n, sizeof(*ids), cmp_ids);
  } else {
    for (size_t i = 0; i < *n; i++)
      k[i] = word(ids[i], 0);
    sort_from(ids, k, *n, 0);
    free(k);
  }
  size_t w = 1;
  for (size_t i = 1; i < *n; i++) {
    if (strcmp(ids[i], ids[w - 1]) == 0)
      free(ids[i]);
    else
      ids[w++] = ids[i];
  }
  *n = w;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Per-log history, the part every backend shares: the options (history=K,
 * history_bodies, client_name) and their checks, what an entry records of
 * a checkpoint (SHA-256, origin line, tree size), building the entries
 * handed to the caller, and logstate_history() itself. The backends only
 * store and read the fields, each in the same atomic step as its set. */
#define _POSIX_C_SOURCE 200809L
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void ls_history_cfg_init(ls_history_cfg *h) {
  memset(h, 0, sizeof(*h));
  h->bodies = 1;
}

/* 1 to 64 visible ASCII bytes: CLIENT SETNAME refuses spaces and newlines. */
static int client_name_ok(const char *s, size_t n) {
  if (n == 0 || n > LS_CLIENT_NAME_MAX)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] < '!' || s[i] > '~')
      return 0;
  return 1;
}

logstate_status ls_history_cfg_set(const char *what, ls_history_cfg *h, unsigned int keep, int bodies,
                                   const char *client_name) {
  if (keep > LS_HISTORY_MAX_KEEP)
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: history %u is above %u", what, keep, LS_HISTORY_MAX_KEEP);
  if (client_name && !client_name_ok(client_name, strlen(client_name)))
    return ls_err(LOGSTATE_INVALID_ARGUMENT, "%s: client_name must be 1 to %d visible ASCII bytes, no spaces", what,
                  LS_CLIENT_NAME_MAX);
  h->keep = keep;
  h->bodies = bodies != 0;
  snprintf(h->client_name, sizeof(h->client_name), "%s", client_name ? client_name : "");
  return LOGSTATE_OK;
}

int ls_history_param(const char *what, const ls_query_param *p, ls_history_cfg *h, logstate_status *st) {
  if (ls_query_is(p, "history")) {
    *st = ls_query_uint(what, p, 0, LS_HISTORY_MAX_KEEP, &h->keep);
  } else if (ls_query_is(p, "history_bodies")) {
    int yes = ls_query_yes_no(what, p);
    *st = yes < 0 ? LOGSTATE_INVALID_ARGUMENT : LOGSTATE_OK;
    h->bodies = yes == 1;
  } else if (ls_query_is(p, "client_name")) {
    int bad = 0;
    char *name = ls_pct_decode(p->val, p->val_len, &bad);
    if (name == NULL && !bad)
      *st = ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "%s: out of memory", what);
    else if (name == NULL || !client_name_ok(name, strlen(name)))
      *st = ls_err(LOGSTATE_INVALID_ARGUMENT, "%s URL: client_name must be 1 to %d visible ASCII bytes, no spaces",
                   what, LS_CLIENT_NAME_MAX);
    else
      *st = LOGSTATE_OK;
    if (*st == LOGSTATE_OK)
      snprintf(h->client_name, sizeof(h->client_name), "%s", name);
    free(name);
  } else {
    return 0;
  }
  return 1;
}

void ls_sha256_hex(const uint8_t *p, size_t n, char out[65]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  static const char hex[] = "0123456789abcdef";
  if (EVP_Digest(p, n, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
    md_len = 0; /* cannot happen with OpenSSL's own SHA-256; leaves "" */
  for (unsigned int i = 0; i < md_len; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[2 * md_len] = '\0';
}

/* A decimal of 1 to 20 digits that fits in 64 bits. */
static int parse_u64(const char *s, size_t n, uint64_t *out) {
  uint64_t v = 0;
  if (n == 0 || n > 20)
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
      return 0;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  *out = v;
  return 1;
}

void ls_history_rec_of(const uint8_t *cp, size_t len, int with_sha, ls_history_rec *r) {
  memset(r, 0, sizeof(*r));
  if (with_sha)
    ls_sha256_hex(cp, len, r->sha256);
  /* A checkpoint body starts "<origin>\n<tree size>\n" (C2SP tlog-checkpoint). */
  const char *s = (const char *)cp, *nl = memchr(s, '\n', len);
  if (nl == NULL || nl == s)
    return;
  r->origin = s;
  r->origin_len = (size_t)(nl - s);
  const char *size = nl + 1, *end = memchr(size, '\n', len - (size_t)(size - s));
  uint64_t v;
  if (end && parse_u64(size, (size_t)(end - size), &v))
    snprintf(r->tree_size, sizeof(r->tree_size), "%llu", (unsigned long long)v);
}

void ls_history_entry_release(logstate_history_entry *e) {
  free(e->checkpoint);
  free(e->origin);
  free(e->client_name);
  memset(e, 0, sizeof(*e));
}

logstate_status ls_history_entry_fill(logstate_history_entry *e, uint64_t version, int64_t time_ms, const uint8_t *body,
                                      size_t body_len, const char *sha_hex, size_t sha_len, const char *origin,
                                      size_t origin_len, const char *tree_size, size_t tree_size_len,
                                      const char *client, size_t client_len) {
  memset(e, 0, sizeof(*e));
  e->version = version;
  e->time_ms = time_ms;
  if (body) {
    if ((e->checkpoint = ls_memdup(body, body_len)) == NULL)
      goto oom;
    e->checkpoint_len = body_len;
    ls_sha256_hex(body, body_len, e->sha256);
  } else if (sha_len == 64) {
    memcpy(e->sha256, sha_hex, 64);
  }
  if (origin_len && (e->origin = ls_memdup(origin, origin_len)) == NULL)
    goto oom;
  e->has_tree_size = tree_size_len > 0 && parse_u64(tree_size, tree_size_len, &e->tree_size);
  if (client_len && (e->client_name = ls_memdup(client, client_len)) == NULL)
    goto oom;
  return LOGSTATE_OK;
oom:
  ls_history_entry_release(e);
  return ls_err(LOGSTATE_RESOURCE_EXHAUSTED, "history: out of memory");
}

void logstate_history_free(logstate_history_entry *entries, size_t n) {
  if (entries == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    ls_history_entry_release(&entries[i]);
  free(entries);
}

logstate_status ls_history_entry_copy(logstate_history_entry *dst, const logstate_history_entry *src) {
  logstate_status st =
      ls_history_entry_fill(dst, src->version, src->time_ms, src->checkpoint, src->checkpoint_len, src->sha256,
                            strlen(src->sha256), src->origin, src->origin ? strlen(src->origin) : 0, NULL, 0,
                            src->client_name, src->client_name ? strlen(src->client_name) : 0);
  dst->tree_size = src->tree_size;
  dst->has_tree_size = src->has_tree_size;
  return st;
}

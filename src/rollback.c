/* SPDX-License-Identifier: Apache-2.0 */
/* Rollback detection: a handle remembers the highest version it saw per log
 * (up to LS_MARK_LOGS logs, least recently used first out), and a store
 * that later shows a lower one, or no checkpoint at all, has gone back: a
 * failover to a replica that lacked acknowledged writes, a restart without
 * the AOF, a restore from an old backup. Serving that state would lead a
 * witness to cosign a fork, so the operation fails instead. */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"

uint64_t ls_mark_before(ls_cache *marks, const char *log_id, size_t log_id_len) {
  return ls_cache_version(marks, log_id, log_id_len);
}

logstate_status ls_mark_seen(ls_cache *marks, const char *fn, const char *log_id, size_t log_id_len, uint64_t before,
                             uint64_t version) {
  char q[LS_QUOTE_BUFSZ];
  uint64_t seen = before;
  ls_cache_raise(marks, log_id, log_id_len, version);
  if (version >= seen)
    return LOGSTATE_OK;
  if (version == 0)
    return ls_err(LOGSTATE_FAILED_PRECONDITION,
                  "%s: store rolled back: log %s has no checkpoint, but this handle saw version %llu of it (was the "
                  "store restored, flushed or failed over to a replica that lacked writes?)",
                  fn, ls_quote(q, sizeof(q), log_id, log_id_len), (unsigned long long)seen);
  return ls_err(LOGSTATE_FAILED_PRECONDITION,
                "%s: store rolled back: log %s is at version %llu < %llu seen by this handle (was the store "
                "restored or failed over to a replica that lacked writes?)",
                fn, ls_quote(q, sizeof(q), log_id, log_id_len), (unsigned long long)version, (unsigned long long)seen);
}

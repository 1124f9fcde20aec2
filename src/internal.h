/* Internal helpers shared by the core and the bundled backends. */
#ifndef LOGSTATE_INTERNAL_H
#define LOGSTATE_INTERNAL_H

#include <stddef.h>

#include "logstate/logstate.h"
#include "logstate/sys/backend.h"

/* Shorthand for backends and the core: record and return an error. */
#define ls_err logstate_error_set

/* Writes a printable, quoted and shortened form of `s` (length `n`) into
 * `buf`, so that log IDs with newlines or control bytes stay on one line in
 * messages. Returns buf. */
const char *ls_quote(char *buf, size_t bufsz, const char *s, size_t n);
#define LS_QUOTE_BUFSZ 96

/* malloc()ed copy of n bytes, plus a NUL so that C strings can be copied the
 * same way. NULL when out of memory. */
void *ls_memdup(const void *p, size_t n);

/* The argument checks of the public API, shared with the async API. They
 * record a message naming `fn` and return INVALID_ARGUMENT. */
logstate_status ls_check_log_id(const char *fn, const char *log_id, size_t *out_len);
logstate_status ls_check_checkpoint(const char *fn, size_t max_len, const uint8_t *cp, size_t len);

/* Sorts `ids` bytewise and drops duplicates (freeing them); *n shrinks. */
void ls_sort_unique(char **ids, size_t *n);

/* Constructor of the in-memory backend, from what follows "memory:". */
logstate_status ls_memory_backend_new(logstate_backend **out, const char *name);

#endif

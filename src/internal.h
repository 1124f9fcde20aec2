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

/* Constructor of the in-memory backend, from what follows "memory:". */
logstate_status ls_memory_backend_new(logstate_backend **out, const char *name);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The logstate conformance suite: one set of cmocka tests that every backend
 * runs unchanged (memory, SQLite, Redis sync, Redis async, and third-party
 * backends built on include/logstate/sys/backend.h).
 *
 * To run it against a backend, describe how to open a handle and call
 * logstate_conformance_run() from a test program:
 *
 *     static logstate_conformance_target t = {
 *         .name = "mybackend",
 *         .open = logstate_conformance_open_url,
 *         .ctx = "mybackend:/tmp/conf-%u", // %u: the store number
 *         .shares_store = 1,
 *     };
 *     int main(void) { return logstate_conformance_run(&t); }
 *
 * and link the program with the conformance library: in the source tree the
 * CMake target `logstate_conformance`; installed, `logstate::conformance`
 * from find_package(logstate CONFIG), or -llogstate_conformance with cmocka,
 * logstate and pthreads. Installed, this header is <logstate/conformance.h>. A backend that is not reachable by
 * URL supplies its own `open` function instead.
 */
#ifndef LOGSTATE_CONFORMANCE_H
#define LOGSTATE_CONFORMANCE_H

#include "logstate/logstate.h"

typedef struct logstate_conformance_target {
  /** Shown in cmocka's group name. */
  const char *name;
  /**
   * Opens a new handle on store number `store`. Every test uses a number no
   * earlier test in the process used, and that number must give an empty
   * store. When `shares_store` is set, opening the same number again must
   * give a second handle on the same store (two witnesses sharing it). The
   * handle must use the default logstate_options checkpoint limit (1 MiB).
   */
  logstate_status (*open)(void *ctx, unsigned int store, logstate **out);
  void *ctx;
  /** Non-zero when two handles can share one store (see `open`). */
  int shares_store;
  /** Lost-update test size: threads (default 8), increments each (250). */
  unsigned int threads;
  unsigned int increments;
  /**
   * Optional: opens store number `store` as `open` does, with `query`
   * ("history=3&client_name=w", URL query keys) added to its options. The
   * history tests (logstate_history()) run only when it is given.
   */
  logstate_status (*open_query)(void *ctx, unsigned int store, const char *query, logstate **out);
  /**
   * Optional: a `ctx` for `open` and `open_query` whose user may also
   * disable and enable logs (log_config.h) where the target's own may not
   * (a witness's Redis ACL user). The log configuration tests then disable
   * through it, and check that the target's own user is refused
   * (PERMISSION_DENIED). NULL: `ctx` does everything.
   */
  void *operator_ctx;
} logstate_conformance_target;

/** An `open` for URL-based backends: `ctx` is a printf format for the URL
 * with one %u, the store number (for example "memory:conformance-%u"). */
logstate_status logstate_conformance_open_url(void *ctx, unsigned int store, logstate **out);
/** An `open_query` for URL-based backends: the URL `ctx` makes, with
 * `query` appended after '?' (or '&' when it has a query already). */
logstate_status logstate_conformance_open_url_query(void *ctx, unsigned int store, const char *query, logstate **out);

/** Runs every conformance test against `t`; returns the number that failed
 * (0 when all passed), suitable as main()'s exit status. */
int logstate_conformance_run(const logstate_conformance_target *t);

#ifdef LOGSTATE_HAVE_ASYNC
/**
 * The native async suite: the async API (logstate/async.h) itself on a
 * libevent loop, including the lost-update case through
 * logstate_async_update() with several handles and many updates in flight,
 * and one handle's updates on one log never racing each other.
 */
typedef struct logstate_conformance_async_target {
  /** Shown in cmocka's group name. */
  const char *name;
  /** A printf format for the URL with one %u, the store number; as for
   *  `open` above, a number no earlier test used gives an empty store. */
  const char *url;
  /** Non-zero when two handles on one URL share the store. */
  int shares_store;
  /** Lost-update size: handles (default 3), in flight per handle (64),
   *  updates per handle (300). */
  unsigned int handles, in_flight, updates;
  /** Updates in the one-handle case (default 3000, 128 in flight). */
  unsigned int self_race;
} logstate_conformance_async_target;

/** Runs the native async suite; returns the number of failed tests. */
int logstate_conformance_async_run(const logstate_conformance_async_target *t);
#endif

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* Runs the conformance suite through the async API: a logstate backend whose
 * every method submits an async operation and runs a private event loop
 * until its callback fires. A mutex serializes the methods, so threads can
 * share the handle (the async handle itself is single-threaded). */
#ifndef LOGSTATE_TEST_ASYNC_ADAPTER_H
#define LOGSTATE_TEST_ASYNC_ADAPTER_H

#include "logstate/logstate.h"

/* A conformance `open`: ctx is a URL format (any scheme) with one %u. */
logstate_status async_adapter_open(void *ctx, unsigned int store, logstate **out);
/* The same with `query` added to the URL (a conformance `open_query`). */
logstate_status async_adapter_open_query(void *ctx, unsigned int store, const char *query, logstate **out);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* The async core's own types, shared by async.c (operations: callbacks,
 * turns, driving the update engine) and handle.c (the handle and its
 * write objects). */
#ifndef LOGSTATE_ASYNC_CORE_H
#define LOGSTATE_ASYNC_CORE_H

#include <event2/event.h>

#include "async/driver.h"
#include "engine.h"
#include "logstate/async.h"

typedef enum { OP_INIT, OP_LOGS, OP_GET, OP_OPEN, OP_SET, OP_UPDATE, OP_HISTORY, OP_CONFIG } op_kind;

struct ls_aop {
  ls_turn turn;               /* SET and UPDATE: its place in the log's queue */
  int queued;                 /* the turn is in a queue */
  struct ls_aop *prev, *next; /* the handle's unfinished ops */
  logstate_async *a;
  op_kind kind;
  int finished, busy;  /* busy: fn is running; free the op after it */
  ls_areq *req;        /* the request out, if any */
  struct event *timer; /* UPDATE: the engine's wait, or fn deferred out of the submit */
  int timer_applies;   /* UPDATE: the timer runs fn (else the wait is over) */
  logstate_async_done_cb done_cb;
  logstate_async_get_cb get_cb;
  logstate_async_logs_cb logs_cb;
  logstate_async_write_cb write_cb;
  logstate_async_history_cb history_cb;
  size_t max;                         /* HISTORY: input */
  const logstate_history_entry *hist; /* HISTORY: the result, borrowed from the request while it finishes */
  size_t nhist;
  void *arg;
  char *log_id;
  size_t log_id_len;
  ls_asnap snap; /* SET: the snapshot to set against; UPDATE: the transaction read (threaded driver) */
  uint8_t *cp;   /* SET: the checkpoint */
  size_t cp_len;
  ls_upd u;              /* UPDATE: the engine */
  struct ls_cfg_op *cfg; /* CONFIG: the operation (configs.h), the request's while it is out */
  void (*cfg_done)(struct ls_aop *o, logstate_status st); /* CONFIG: calls the caller's callback (config.c) */
  const void *cfg_cb;                                     /* ... which is this */
  uint64_t mark_before;        /* GET, OPEN, SET: the version the handle had seen of the log when the request went */
  uint64_t t0_us, round_trips; /* for the operations hook */
};
typedef struct ls_aop op;

struct logstate_async {
  struct event_base *base;
  ls_adriver *drv;
  ls_policy policy;
  ls_logtab *tab; /* turns always; known states and marks when the driver sets by version */
  op *ops;
  logstate_async_write *writes; /* open write objects */
  ls_opstats *opstats;          /* logstate_async_get_op_stats() */
  int depth, closing;
  unsigned int refs; /* the user's handle + open write objects */
};

struct logstate_async_write {
  logstate_async *a;
  logstate_async_write *prev, *next;
  char *log_id;
  size_t log_id_len;
  ls_asnap snap;
  int ended, orphaned; /* orphaned: the handle was freed */
};

/* async.c */
void ls_async_destroy(logstate_async *a);
/* A call from the loop is on the stack (enter), or leaves it: the handle is
 * destroyed once freed, with no call on the stack and no write object. */
void ls_async_enter(logstate_async *a);
void ls_async_leave(logstate_async *a);
op *ls_aop_new(const char *fn, logstate_async *a, op_kind kind, const char *log_id, void *arg, logstate_status *st);
/* The start of every submit: the handle, callback and log ID checked, and
 * a new op. NULL with *st recorded. */
op *ls_aop_begin(const char *fn, logstate_async *a, op_kind kind, const void *cb, const char *log_id, void *arg,
                 logstate_status *st);
void ls_aop_abandon(op *o);
logstate_status ls_aop_launch(const char *fn, op *o, int laned);
void ls_aop_finish_all(logstate_async *a);

#endif

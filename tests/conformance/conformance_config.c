/* SPDX-License-Identifier: Apache-2.0 */
/* The conformance suite's log configuration tests (log_config.h): insert-
 * only adds, get, list, disable and enable with their audit trail, and
 * racing adders, run by logstate_conformance_run() on every target. A
 * target without log configurations is told by FAILED_PRECONDITION, and
 * the group then fails: every bundled backend keeps them. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conformance.h"
#include "test_util.h"

static const logstate_conformance_target *target;
unsigned int ls_conformance_next_store(void);

static logstate *open_store(unsigned int store) {
  logstate *ls = NULL;
  assert_status(target->open(target->ctx, store, &ls), LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  return ls;
}

/* A handle that may disable and enable logs, with client_name `client`. */
static logstate *open_operator(unsigned int store, const char *client) {
  void *ctx = target->operator_ctx ? target->operator_ctx : target->ctx;
  logstate *ls = NULL;
  char q[80];
  snprintf(q, sizeof(q), "client_name=%s", client);
  assert_status(target->open_query ? target->open_query(ctx, store, q, &ls) : target->open(ctx, store, &ls),
                LOGSTATE_OK);
  assert_status(logstate_init(ls), LOGSTATE_OK);
  return ls;
}

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void id_of(const char *origin, char out[65]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  size_t n = strlen(origin);
  char *buf = malloc(n + 2);
  memcpy(buf, "o:", 2);
  memcpy(buf + 2, origin, n);
  assert_int_equal(EVP_Digest(buf, n + 2, md, &len, EVP_sha256(), NULL), 1);
  free(buf);
  for (unsigned int i = 0; i < len; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static logstate_config_result add1(logstate *ls, const char *origin, const char *vkey, int disabled) {
  logstate_log_config c = {.origin = origin, .vkey = vkey, .disabled = disabled};
  logstate_config_result r = 0;
  assert_status(logstate_config_add(ls, &c, 1, &r), LOGSTATE_OK);
  return r;
}

/* --- tests -------------------------------------------------------------- */

/* Added once; the same again is IDENTICAL, other values DIFFERENT, and
 * neither changes the entry; every field reads back as given. */
static void test_config_insert_only(void **state) {
  (void)state;
  logstate *ls = open_store(ls_conformance_next_store());
  int64_t t0 = now_ms();
  logstate_log_config c = {.origin = "example.com/log",
                           .vkey = "example.com/log+01234567+AQIDBA==",
                           .contact = "ops@example.com",
                           .qpd = 86400.5,
                           .has_qpd = 1};
  logstate_config_result r = 0;
  assert_status(logstate_config_add(ls, &c, 1, &r), LOGSTATE_OK);
  assert_int_equal(r, LOGSTATE_CONFIG_ADDED);
  assert_status(logstate_config_add(ls, &c, 1, &r), LOGSTATE_OK);
  assert_int_equal(r, LOGSTATE_CONFIG_IDENTICAL);
  logstate_log_config other = c;
  other.vkey = "example.com/log+89abcdef+BQYHCA==";
  other.qpd = 1;
  assert_status(logstate_config_add(ls, &other, 1, &r), LOGSTATE_OK);
  assert_int_equal(r, LOGSTATE_CONFIG_DIFFERENT);
  other = c;
  other.contact = NULL;
  assert_status(logstate_config_add(ls, &other, 1, &r), LOGSTATE_OK);
  assert_int_equal(r, LOGSTATE_CONFIG_DIFFERENT);
  logstate_log_entry *e = NULL;
  int usable = 0;
  assert_status(logstate_config_get(ls, "example.com/log", &e, &usable), LOGSTATE_OK);
  char id[65];
  id_of("example.com/log", id);
  assert_string_equal(e->log_id, id);
  assert_string_equal(e->origin, c.origin);
  assert_string_equal(e->vkey, c.vkey);
  assert_string_equal(e->contact, c.contact);
  assert_true(e->has_qpd);
  assert_true(e->qpd == 86400.5);
  assert_false(e->disabled);
  assert_true(usable);
  assert_true(e->added_ms >= t0 - 1000 && e->added_ms <= now_ms() + 1000);
  assert_int_equal(e->changed_ms, 0);
  assert_null(e->changed_by);
  assert_null(e->reason);
  logstate_log_entry_free(e);
  logstate_free(ls);
}

/* A batch is judged in order (the same origin twice: the second against
 * the first), and one bad entry refuses the whole batch: nothing stored. */
static void test_config_batch(void **state) {
  (void)state;
  logstate *ls = open_store(ls_conformance_next_store());
  logstate_log_config c[4] = {{.origin = "b.example/log", .vkey = "b+1+AA=="},
                              {.origin = "a.example/log", .vkey = "a+1+AA==", .contact = "a@example"},
                              {.origin = "b.example/log", .vkey = "b+1+AA=="},
                              {.origin = "a.example/log", .vkey = "a+2+AA=="}};
  logstate_config_result r[4];
  assert_status(logstate_config_add(ls, c, 4, r), LOGSTATE_OK);
  assert_int_equal(r[0], LOGSTATE_CONFIG_ADDED);
  assert_int_equal(r[1], LOGSTATE_CONFIG_ADDED);
  assert_int_equal(r[2], LOGSTATE_CONFIG_IDENTICAL);
  assert_int_equal(r[3], LOGSTATE_CONFIG_DIFFERENT);
  logstate_log_config bad[2] = {{.origin = "c.example/log", .vkey = "c+1+AA=="},
                                {.origin = "d.example/log", .vkey = "has space"}};
  assert_status(logstate_config_add(ls, bad, 2, r), LOGSTATE_INVALID_ARGUMENT);
  assert_non_null(strstr(logstate_last_error(), "configuration 1's vkey"));
  logstate_log_entry *e = NULL;
  size_t n = 0;
  assert_status(logstate_config_list(ls, 1, &e, &n), LOGSTATE_OK);
  assert_int_equal(n, 2); /* c.example was not added */
  assert_string_equal(e[0].origin, "a.example/log");
  assert_string_equal(e[1].origin, "b.example/log");
  logstate_log_entries_free(e, n);
  logstate_free(ls);
}

/* Disabled by the operator: unusable, out of the enabled list, kept so by
 * every re-add (enabled or not); enabled again; each change in the audit
 * trail, newest first, with who, when and why; a second disable changes
 * nothing and records nothing. */
static void test_config_disable_survives_re_add(void **state) {
  (void)state;
  unsigned int store = ls_conformance_next_store();
  logstate *ls = open_operator(store, "operator-1");
  assert_int_equal(add1(ls, "x.example/log", "x+1+AA==", 0), LOGSTATE_CONFIG_ADDED);
  assert_int_equal(add1(ls, "y.example/log", "y+1+AA==", 0), LOGSTATE_CONFIG_ADDED);
  int changed = 0, usable = 1;
  int64_t t0 = now_ms();
  assert_status(logstate_config_set_disabled(ls, "x.example/log", 1, "key compromised", &changed), LOGSTATE_OK);
  assert_true(changed);
  assert_status(logstate_config_set_disabled(ls, "x.example/log", 1, "again", &changed), LOGSTATE_OK);
  assert_false(changed);
  assert_int_equal(add1(ls, "x.example/log", "x+1+AA==", 0), LOGSTATE_CONFIG_IDENTICAL);
  assert_int_equal(add1(ls, "x.example/log", "x+2+AA==", 0), LOGSTATE_CONFIG_DIFFERENT);
  if (target->operator_ctx) { /* the target's own user: adds, reads, and may not enable */
    logstate *w = open_store(store);
    assert_int_equal(add1(w, "x.example/log", "x+1+AA==", 0), LOGSTATE_CONFIG_IDENTICAL);
    assert_status(logstate_config_set_disabled(w, "x.example/log", 0, "feed", &changed), LOGSTATE_PERMISSION_DENIED);
    assert_false(changed);
    logstate_free(w);
  }
  logstate_log_entry *e = NULL;
  assert_status(logstate_config_get(ls, "x.example/log", &e, &usable), LOGSTATE_OK);
  assert_false(usable);
  assert_true(e->disabled);
  assert_string_equal(e->vkey, "x+1+AA==");
  assert_string_equal(e->reason, "key compromised");
  if (target->open_query)
    assert_string_equal(e->changed_by, "operator-1");
  assert_true(e->changed_ms >= t0 - 1000);
  logstate_log_entry_free(e);
  size_t n = 0;
  assert_status(logstate_config_list(ls, 0, &e, &n), LOGSTATE_OK);
  assert_int_equal(n, 1);
  assert_string_equal(e[0].origin, "y.example/log");
  logstate_log_entries_free(e, n);
  assert_status(logstate_config_set_disabled(ls, "x.example/log", 0, NULL, &changed), LOGSTATE_OK);
  assert_true(changed);
  assert_status(logstate_config_get(ls, "x.example/log", &e, &usable), LOGSTATE_OK);
  assert_true(usable);
  assert_null(e->reason);
  logstate_log_entry_free(e);
  logstate_config_event *ev = NULL;
  assert_status(logstate_config_history(ls, "x.example/log", 10, &ev, &n), LOGSTATE_OK);
  assert_int_equal(n, 2);
  assert_false(ev[0].disabled); /* newest first */
  assert_true(ev[1].disabled);
  assert_string_equal(ev[1].reason, "key compromised");
  assert_null(ev[0].reason);
  assert_string_equal(ev[1].origin, "x.example/log");
  if (target->open_query)
    assert_string_equal(ev[1].by, "operator-1");
  assert_true(ev[0].at_ms >= ev[1].at_ms);
  logstate_config_events_free(ev, n);
  assert_status(logstate_config_set_disabled(ls, "y.example/log", 1, NULL, &changed), LOGSTATE_OK);
  assert_status(logstate_config_history(ls, NULL, 10, &ev, &n), LOGSTATE_OK);
  assert_int_equal(n, 3);
  assert_string_equal(ev[0].origin, "y.example/log");
  logstate_config_events_free(ev, n);
  assert_status(logstate_config_history(ls, "x.example/log", 1, &ev, &n), LOGSTATE_OK);
  assert_int_equal(n, 1);
  logstate_config_events_free(ev, n);
  logstate_free(ls);
}

/* An entry added disabled stays so; an origin without an entry is
 * NOT_FOUND to get and to disable; a log ID is the Go witness's. */
static void test_config_absent_and_added_disabled(void **state) {
  (void)state;
  logstate *ls = open_operator(ls_conformance_next_store(), "operator-2");
  logstate_log_entry *e = (logstate_log_entry *)1;
  int usable = 1, changed = 1;
  assert_status(logstate_config_get(ls, "nobody.example/log", &e, &usable), LOGSTATE_NOT_FOUND);
  assert_null(e);
  assert_false(usable);
  assert_status(logstate_config_set_disabled(ls, "nobody.example/log", 1, NULL, &changed), LOGSTATE_NOT_FOUND);
  assert_false(changed);
  assert_int_equal(add1(ls, "off.example/log", "off+1+AA==", 1), LOGSTATE_CONFIG_ADDED);
  assert_status(logstate_config_get(ls, "off.example/log", &e, &usable), LOGSTATE_OK);
  assert_false(usable);
  logstate_log_entry_free(e);
  size_t n = 1;
  assert_status(logstate_config_list(ls, 0, &e, &n), LOGSTATE_OK);
  assert_int_equal(n, 0);
  assert_null(e);
  logstate_config_event *ev = NULL;
  assert_status(logstate_config_history(ls, NULL, 5, &ev, &n), LOGSTATE_OK);
  assert_int_equal(n, 0); /* added disabled: no act of an operator */
  assert_null(ev);        /* none: NULL, nothing to free */
  char id[65], want[65];
  assert_status(logstate_log_id("off.example/log", id), LOGSTATE_OK);
  id_of("off.example/log", want);
  assert_string_equal(id, want);
  logstate_free(ls);
}

/* Bad input is refused at the boundary, with the field named. */
static void test_config_bad_arguments(void **state) {
  (void)state;
  logstate *ls = open_store(ls_conformance_next_store());
  char longer[LOGSTATE_MAX_ORIGIN_LEN + 2];
  memset(longer, 'a', sizeof(longer) - 1);
  longer[sizeof(longer) - 1] = '\0';
  const struct {
    logstate_log_config c;
    const char *says;
  } bad[] = {
      {{.origin = "", .vkey = "k+1+AA=="}, "origin"},
      {{.origin = NULL, .vkey = "k+1+AA=="}, "origin"},
      {{.origin = longer, .vkey = "k+1+AA=="}, "origin"},
      {{.origin = "new\nline", .vkey = "k+1+AA=="}, "origin"},
      {{.origin = "bad\xff utf8", .vkey = "k+1+AA=="}, "origin"},
      {{.origin = " padded", .vkey = "k+1+AA=="}, "origin"},
      {{.origin = "007", .vkey = "k+1+AA=="}, "number"},
      {{.origin = "-1.5e3", .vkey = "k+1+AA=="}, "number"},
      {{.origin = "o.example", .vkey = ""}, "vkey"},
      {{.origin = "o.example", .vkey = "k+1+\xc3\xa9"}, "vkey"},
      {{.origin = "o.example", .vkey = "k+1+AA==", .contact = ""}, "contact"},
      {{.origin = "o.example", .vkey = "k+1+AA==", .contact = "tab\there"}, "contact"},
      {{.origin = "o.example", .vkey = "k+1+AA==", .qpd = -1, .has_qpd = 1}, "qpd"},
      {{.origin = "o.example", .vkey = "k+1+AA==", .qpd = NAN, .has_qpd = 1}, "qpd"},
      {{.origin = "o.example", .vkey = "k+1+AA==", .qpd = INFINITY, .has_qpd = 1}, "qpd"},
  };
  logstate_config_result r;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    logstate_status st = logstate_config_add(ls, &bad[i].c, 1, &r);
    if (st != LOGSTATE_INVALID_ARGUMENT || strstr(logstate_last_error(), bad[i].says) == NULL)
      fail_msg("case %zu: %s: %s", i, logstate_status_name(st), logstate_last_error());
  }
  logstate_log_config ok = {
      .origin = "o.example/é", .vkey = "k+1+AA==", .contact = "ünïcode contact", .qpd = 0, .has_qpd = 1};
  assert_status(logstate_config_add(NULL, &ok, 1, &r), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_config_add(ls, NULL, 1, &r), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_config_add(ls, &ok, 0, &r), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_config_add(ls, &ok, 1, NULL), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_config_set_disabled(ls, "o.example/é", 1, "bad\x01reason", NULL), LOGSTATE_INVALID_ARGUMENT);
  logstate_log_entry *e = NULL;
  size_t n = 0;
  assert_status(logstate_config_list(ls, 1, &e, &n), LOGSTATE_OK);
  assert_int_equal(n, 0); /* nothing of the refused calls */
  assert_status(logstate_config_add(ls, &ok, 1, &r), LOGSTATE_OK);
  assert_int_equal(r, LOGSTATE_CONFIG_ADDED);
  assert_status(logstate_config_get(ls, "o.example/é", &e, NULL), LOGSTATE_OK);
  assert_string_equal(e->contact, "ünïcode contact");
  assert_true(e->has_qpd && e->qpd == 0);
  logstate_log_entry_free(e);
  logstate_config_event *ev = NULL;
  assert_status(logstate_config_history(ls, NULL, 0, &ev, &n), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_config_history(ls, NULL, LOGSTATE_MAX_CONFIG_HISTORY + 1, &ev, &n), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_config_list(ls, 0, NULL, &n), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_config_get(ls, NULL, &e, NULL), LOGSTATE_INVALID_ARGUMENT);
  char id[65];
  assert_status(logstate_log_id("", id), LOGSTATE_INVALID_ARGUMENT);
  assert_status(logstate_log_id("x", NULL), LOGSTATE_INVALID_ARGUMENT);
  logstate_free(ls);
}

/* Racing adders of one origin, each with its own vkey, on two handles:
 * exactly one is ADDED, the stored entry is its, and every other adder is
 * told DIFFERENT. */
typedef struct adder {
  logstate *ls;
  char vkey[32];
  logstate_config_result r;
  logstate_status st;
  pthread_t t;
} adder;

static void *add_race(void *arg) {
  adder *a = arg;
  logstate_log_config c = {.origin = "race.example/log", .vkey = a->vkey};
  a->st = logstate_config_add(a->ls, &c, 1, &a->r);
  return NULL;
}

static void test_config_racing_adders(void **state) {
  (void)state;
  unsigned int store = ls_conformance_next_store();
  logstate *ls[2] = {open_store(store), target->shares_store ? open_store(store) : NULL};
  adder a[8];
  for (int i = 0; i < 8; i++) {
    a[i] = (adder){.ls = ls[target->shares_store ? i % 2 : 0]};
    snprintf(a[i].vkey, sizeof(a[i].vkey), "race+%d+AA==", i);
    assert_int_equal(pthread_create(&a[i].t, NULL, add_race, &a[i]), 0);
  }
  int added = -1;
  for (int i = 0; i < 8; i++) {
    pthread_join(a[i].t, NULL);
    assert_status(a[i].st, LOGSTATE_OK);
    if (a[i].r == LOGSTATE_CONFIG_ADDED) {
      assert_int_equal(added, -1);
      added = i;
    } else {
      assert_int_equal(a[i].r, LOGSTATE_CONFIG_DIFFERENT);
    }
  }
  assert_true(added >= 0);
  logstate_log_entry *e = NULL;
  size_t n = 0;
  assert_status(logstate_config_list(ls[target->shares_store ? 1 : 0], 1, &e, &n), LOGSTATE_OK);
  assert_int_equal(n, 1);
  assert_string_equal(e[0].vkey, a[added].vkey);
  logstate_log_entries_free(e, n);
  logstate_free(ls[0]);
  logstate_free(ls[1]);
}

int ls_conformance_config_run(const logstate_conformance_target *t) {
  static const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_insert_only),
      cmocka_unit_test(test_config_batch),
      cmocka_unit_test(test_config_disable_survives_re_add),
      cmocka_unit_test(test_config_absent_and_added_disabled),
      cmocka_unit_test(test_config_bad_arguments),
      cmocka_unit_test(test_config_racing_adders),
  };
  char name[128];
  target = t;
  snprintf(name, sizeof(name), "conformance-config/%s", t->name ? t->name : "backend");
  return _cmocka_run_group_tests(name, tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
}

/*
** test_core_finalize.c -- finalize and pause (finalize.h) against an
** on-disk store: the inferred status and its event, terminal sessions left
** alone, and stale-version conflicts made deterministic by the hooked
** platform (another writer saves right before finalize's own save).
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "agentsim/events.h"
#include "agentsim/finalize.h"
#include "agentsim/locks.h"
#include "agentsim/store.h"
#include "coretest.h"

static ct_dir D;
static as_store *ST, *OTHER;
static as_lock_registry *REG;

static int setup(void **state) {
  (void)state;
  ct_dir_make(&D);
  ST = ct_open(&D, "f.db", "wal", 1000);
  OTHER = ct_open(&D, "f.db", "wal", 1000);
  return as_locks_new(&REG, 16) == AS_OK ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  ct_hooks_remove();
  assert_int_equal(as_locks_size(REG), 0); /* nothing left locked */
  as_locks_free(REG);
  as_store_close(ST);
  as_store_close(OTHER);
  ct_dir_remove(&D);
  return 0;
}

/* Create id with status and the given executed tools (NULL-terminated). */
static void make(const char *id, as_session_status status, const char *const *tools) {
  as_session s;
  assert_int_equal(as_session_init(&s, id), AS_OK);
  s.status = status;
  for (; tools && *tools; tools++)
    assert_int_equal(as_session_add_call(&s, *tools, NULL, NULL, AS_TOOL_EXECUTED), AS_OK);
  assert_int_equal(as_session_create(ST, &s), AS_OK);
  as_session_clear(&s);
}

static as_session load(const char *id) {
  as_session s = {0};
  assert_int_equal(as_session_load(ST, id, &s), AS_OK);
  return s;
}

/* The status_changed events of id as "from>to" joined by spaces. */
static void transitions(const char *id, char *buf, size_t cap) {
  as_event_list l = {0};
  assert_int_equal(as_event_read(ST, id, 0, AS_EVENT_READ_MAX, &l), AS_OK);
  size_t len = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < l.n; i++) {
    assert_string_equal(l.items[i].kind, AS_EVENT_STATUS_CHANGED);
    assert_int_equal(l.items[i].seq, (int64_t)i + 1);
    const char *from = strstr(l.items[i].payload, "\"from\":\"") + 8;
    const char *to = strstr(l.items[i].payload, "\"to\":\"") + 6;
    int n = snprintf(buf + len, cap - len, "%s%.*s>%.*s", len ? " " : "",
                     (int)strcspn(from, "\""), from, (int)strcspn(to, "\""), to);
    assert_true(n > 0 && (size_t)n < cap - len);
    len += (size_t)n;
  }
  as_event_list_clear(&l);
}

static void test_finalize_infers(void **state) {
  (void)state;
  static const char *const resolved[] = {"search", "mark_resolved", NULL};
  static const char *const escalated[] = {"mark_resolved", "srv:mark_escalated", NULL};
  static const char *const legacy[] = {"notify_team", NULL};
  static const char *const nothing[] = {"search", NULL};
  static const char *const legacy_names[] = {"notify_team"};
  const as_finalize_rules rules = {legacy_names, 1};
  make("r", AS_SESS_IN_PROGRESS, resolved);
  make("e", AS_SESS_IN_PROGRESS, escalated);
  make("l", AS_SESS_AWAITING_INPUT, legacy);
  make("n", AS_SESS_NEW, nothing);
  static const struct {
    const char *id;
    as_session_status want;
    const char *events;
  } cases[] = {
      {"r", AS_SESS_RESOLVED, "in_progress>resolved"},
      {"e", AS_SESS_ESCALATED, "in_progress>escalated"},
      {"l", AS_SESS_ESCALATED, "awaiting_input>escalated"},
      {"n", AS_SESS_NEEDS_REVIEW, "new>needs_review"},
  };
  for (size_t i = 0; i < 4; i++) {
    as_session_status got = AS__SESS_COUNT;
    assert_int_equal(as_finalize(ST, REG, cases[i].id, &rules, &got), AS_OK);
    assert_int_equal(got, cases[i].want);
    as_session s = load(cases[i].id);
    assert_int_equal(s.status, cases[i].want);
    assert_int_equal(s.version, 2);
    assert_string_equal(s.needs_review_reason,
                        cases[i].want == AS_SESS_NEEDS_REVIEW ? AS_REASON_NO_TERMINAL : "");
    as_session_clear(&s);
    char ev[256];
    transitions(cases[i].id, ev, sizeof ev);
    assert_string_equal(ev, cases[i].events);
    /* Finalizing again changes nothing: terminal is left alone. */
    assert_int_equal(as_finalize(ST, REG, cases[i].id, &rules, NULL), AS_OK);
    s = load(cases[i].id);
    assert_int_equal(s.version, 2);
    as_session_clear(&s);
    transitions(cases[i].id, ev, sizeof ev);
    assert_string_equal(ev, cases[i].events);
  }
  /* The needs_review event carries the reason. */
  as_event_list l = {0};
  assert_int_equal(as_event_read(ST, "n", 0, 1, &l), AS_OK);
  assert_non_null(strstr(l.items[0].payload, "\"reason\":\"" AS_REASON_NO_TERMINAL "\""));
  as_event_list_clear(&l);
}

static void test_finalize_leaves_terminal(void **state) {
  (void)state;
  static const char *const resolved[] = {"mark_resolved", NULL};
  static const as_session_status terminal[] = {AS_SESS_RESOLVED, AS_SESS_ESCALATED,
                                               AS_SESS_NEEDS_REVIEW, AS_SESS_ERROR};
  static const char *const ids[] = {"t0", "t1", "t2", "t3"};
  for (size_t i = 0; i < 4; i++) {
    /* Even with a history that says otherwise. */
    make(ids[i], terminal[i], i == 1 ? resolved : NULL);
    as_session_status got = AS__SESS_COUNT;
    assert_int_equal(as_finalize(ST, REG, ids[i], NULL, &got), AS_OK);
    assert_int_equal(got, terminal[i]);
    as_session s = load(ids[i]);
    assert_int_equal(s.status, terminal[i]);
    assert_int_equal(s.version, 1);
    as_session_clear(&s);
    char ev[64];
    transitions(ids[i], ev, sizeof ev);
    assert_string_equal(ev, "");
  }
}

static void test_refusals_and_reentry(void **state) {
  (void)state;
  assert_int_equal(as_finalize(NULL, REG, "x", NULL, NULL), AS_INVAL);
  assert_int_equal(as_finalize(ST, NULL, "x", NULL, NULL), AS_INVAL);
  assert_int_equal(as_finalize(ST, REG, "", NULL, NULL), AS_INVAL);
  assert_int_equal(as_finalize(ST, REG, "missing", NULL, NULL), AS_NOTFOUND);
  assert_int_equal(as_mark_paused(NULL, REG, "x", NULL), AS_INVAL);
  assert_int_equal(as_mark_paused(ST, REG, "missing", NULL), AS_NOTFOUND);
  assert_int_equal(as_locks_size(REG), 0);

  /* A caller already holding the session lock finalizes under it. */
  make("held", AS_SESS_IN_PROGRESS, NULL);
  assert_int_equal(as_lock_acquire(REG, "held"), AS_OK);
  bool changed = false;
  assert_int_equal(as_mark_paused(ST, REG, "held", &changed), AS_OK);
  assert_true(changed);
  as_session_status got;
  assert_int_equal(as_finalize(ST, REG, "held", NULL, &got), AS_OK);
  assert_int_equal(got, AS_SESS_NEEDS_REVIEW);
  assert_true(as_lock_is_locked(REG, "held"));
  assert_int_equal(as_lock_release(REG, "held"), AS_OK);
  char ev[128];
  transitions("held", ev, sizeof ev);
  assert_string_equal(ev, "in_progress>awaiting_input awaiting_input>needs_review");
}

static void test_pause(void **state) {
  (void)state;
  make("p", AS_SESS_IN_PROGRESS, NULL);
  make("q", AS_SESS_NEW, NULL);
  make("done", AS_SESS_ESCALATED, NULL);
  bool changed = false;
  assert_int_equal(as_mark_paused(ST, REG, "p", &changed), AS_OK);
  assert_true(changed);
  assert_int_equal(as_mark_paused(ST, REG, "p", &changed), AS_OK); /* already there */
  assert_false(changed);
  assert_int_equal(as_mark_paused(ST, REG, "q", NULL), AS_OK);
  assert_int_equal(as_mark_paused(ST, REG, "done", &changed), AS_OK); /* terminal */
  assert_false(changed);
  as_session s = load("p");
  assert_int_equal(s.status, AS_SESS_AWAITING_INPUT);
  assert_int_equal(s.version, 2);
  as_session_clear(&s);
  s = load("done");
  assert_int_equal(s.status, AS_SESS_ESCALATED);
  assert_int_equal(s.version, 1);
  as_session_clear(&s);
  char ev[128];
  transitions("p", ev, sizeof ev);
  assert_string_equal(ev, "in_progress>awaiting_input");
  transitions("q", ev, sizeof ev);
  assert_string_equal(ev, "new>awaiting_input");
  transitions("done", ev, sizeof ev);
  assert_string_equal(ev, "");
}

/* --- stale-version conflicts ---------------------------------------------------- */

/* What the other writer does right before finalize's save. */
typedef struct other_write {
  const char *id;
  as_session_status status; /* AS__SESS_COUNT: leave it */
  const char *tool;         /* NULL: none */
  int runs;
} other_write;

static void other_writer(void *arg) {
  other_write *w = arg;
  as_session s = {0};
  assert_int_equal(as_session_load(OTHER, w->id, &s), AS_OK);
  if (w->status != AS__SESS_COUNT) s.status = w->status;
  if (w->tool) assert_int_equal(as_session_add_call(&s, w->tool, NULL, NULL, AS_TOOL_EXECUTED),
                                AS_OK);
  assert_int_equal(as_session_save(OTHER, &s), AS_OK);
  as_session_clear(&s);
  w->runs++;
}

/* Arm the hook: the other writer runs at the next as_now_wall_ns() --
** inside finalize, after its load and before its save. */
static void arm(other_write *w, bool repeat) {
  ct_hooks_install(false);
  ct_h.on_wall = other_writer;
  ct_h.wall_arg = w;
  ct_h.wall_repeat = repeat;
}

static void test_stale_then_terminal(void **state) {
  (void)state;
  make("s1", AS_SESS_IN_PROGRESS, NULL);
  /* Another writer settles it escalated first: finalize reloads, sees a
  ** terminal status and leaves it -- no needs_review over it. */
  other_write w = {"s1", AS_SESS_ESCALATED, NULL, 0};
  arm(&w, false);
  as_session_status got = AS__SESS_COUNT;
  assert_int_equal(as_finalize(ST, REG, "s1", NULL, &got), AS_OK);
  assert_int_equal(w.runs, 1);
  assert_int_equal(got, AS_SESS_ESCALATED);
  as_session s = load("s1");
  assert_int_equal(s.status, AS_SESS_ESCALATED);
  assert_int_equal(s.version, 2);
  as_session_clear(&s);
  char ev[64];
  transitions("s1", ev, sizeof ev);
  assert_string_equal(ev, "");
}

static void test_stale_then_recompute(void **state) {
  (void)state;
  make("s2", AS_SESS_IN_PROGRESS, NULL);
  /* Another writer adds mark_escalated but leaves it in_progress: finalize
  ** decides again from the new history. */
  other_write w = {"s2", AS__SESS_COUNT, "mark_escalated", 0};
  arm(&w, false);
  as_session_status got = AS__SESS_COUNT;
  assert_int_equal(as_finalize(ST, REG, "s2", NULL, &got), AS_OK);
  assert_int_equal(got, AS_SESS_ESCALATED);
  as_session s = load("s2");
  assert_int_equal(s.status, AS_SESS_ESCALATED);
  assert_int_equal(s.version, 3);
  assert_int_equal(s.ncalls, 1);
  as_session_clear(&s);
  char ev[64];
  transitions("s2", ev, sizeof ev);
  assert_string_equal(ev, "in_progress>escalated");

  /* The same for pause. */
  make("s3", AS_SESS_NEW, NULL);
  other_write p = {"s3", AS_SESS_IN_PROGRESS, NULL, 0};
  arm(&p, false);
  bool changed = false;
  assert_int_equal(as_mark_paused(ST, REG, "s3", &changed), AS_OK);
  assert_true(changed);
  transitions("s3", ev, sizeof ev);
  assert_string_equal(ev, "in_progress>awaiting_input");
}

static void test_stale_forever(void **state) {
  (void)state;
  make("s4", AS_SESS_IN_PROGRESS, NULL);
  /* Some writer always wins: finalize gives up after a bound, with
  ** AS_BUSY, having written nothing of its own. */
  other_write w = {"s4", AS__SESS_COUNT, NULL, 0};
  arm(&w, true);
  assert_int_equal(as_finalize(ST, REG, "s4", NULL, NULL), AS_BUSY);
  assert_int_equal(w.runs, AS_FINALIZE_ATTEMPTS);
  bool changed = true;
  assert_int_equal(as_mark_paused(ST, REG, "s4", &changed), AS_BUSY);
  assert_false(changed);
  ct_hooks_remove();
  char ev[64];
  transitions("s4", ev, sizeof ev);
  assert_string_equal(ev, "");
  /* Once the writers stop, it settles. */
  as_session_status got;
  assert_int_equal(as_finalize(ST, REG, "s4", NULL, &got), AS_OK);
  assert_int_equal(got, AS_SESS_NEEDS_REVIEW);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_finalize_infers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_finalize_leaves_terminal, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refusals_and_reentry, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pause, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stale_then_terminal, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stale_then_recompute, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stale_forever, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

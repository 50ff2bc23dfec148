/*
** test_core_mutants.c -- the switchable bugs of the sim build (mutant.h),
** linked against as_core_mut: the list and the switch, and for every mutant
** the exact misbehaviour it plants, next to the correct behaviour with the
** switch off -- so each one is observable, and none leaks into the other.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "agentsim/checkpoints.h"
#include "agentsim/events.h"
#include "agentsim/finalize.h"
#include "agentsim/locks.h"
#include "agentsim/mutant.h"
#include "agentsim/seam.h"
#include "agentsim/store.h"
#include "coretest.h"
#include "sim.h"
#include "simdb.h"

static ct_dir D;
static as_store *ST, *OTHER;
static as_lock_registry *REG;

static int setup(void **state) {
  (void)state;
  ct_dir_make(&D);
  ST = ct_open(&D, "m.db", "wal", 1000);
  OTHER = ct_open(&D, "m.db", "wal", 1000);
  return as_locks_new(&REG, 8) == AS_OK ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  assert_int_equal(as_mutant_set(NULL), AS_OK);
  ct_hooks_remove();
  as_locks_free(REG);
  as_store_close(ST);
  as_store_close(OTHER);
  ct_dir_remove(&D);
  return 0;
}

static void make(const char *id, const char *tool) {
  as_session s;
  assert_int_equal(as_session_init(&s, id), AS_OK);
  s.status = AS_SESS_IN_PROGRESS;
  if (tool) assert_int_equal(as_session_add_call(&s, tool, NULL, NULL, AS_TOOL_EXECUTED), AS_OK);
  assert_int_equal(as_session_create(ST, &s), AS_OK);
  as_session_clear(&s);
}

static as_session_status status_of(const char *id) {
  as_session s = {0};
  assert_int_equal(as_session_load(ST, id, &s), AS_OK);
  as_session_status st = s.status;
  as_session_clear(&s);
  return st;
}

static void test_list_and_switch(void **state) {
  (void)state;
  static const char *const want[] = {
      "lock_noop",           "finalize_coerce_resolved", "finalize_no_lock",
      "finalize_stale_escapes", "pause_not_marked",      "gc_no_suffix_strip",
      "save_no_version_check", "load_not_snapshot",      "finalize_blind_retry",
      "pause_clobbers_terminal", "fail_clobbers_terminal", "infer_oldest_first",
      "infer_counts_unexecuted", "gc_reaps_errored",     "gc_keep_list_stale",
      "lock_wait_if",          "load_drops_reason",      "retry_from_version",
      "save_stale_updated",    "stale_leaves_tx_open",   "try_grants_holder",
      "result_gets_args",      "ckpt_keeps_data",        "gc_keeps_orphans",
      "event_seq_outside_tx",  "lock_waiter_leak",       "payload_old_reason",
      "delete_sync_full",      "pending_saved_after_pause", "watchdog_peek_then_resume",
      "patch_accepts_status",  "terminal_not_locked",    "injected_arg_llm_wins",
      "approval_double_resolve", "concurrent_retry_not_rejected", "retry_count_not_incremented",
      "unknown_error_transient", "preview_mutates", "retry_from_non_error",
      "inflight_not_cleared_on_cancel", "budget_check_then_record", "budget_rmw_outside_tx",
      "cost_counted_twice", "reservation_not_released_on_error", "settle_not_idempotent",
      "parent_span_usage", "cached_tokens_billed_as_input", "stream_usage_needs_choice"};
  size_t n = 0;
  const as_mutant_info *m = as_mutant_list(&n);
  assert_int_equal(n, sizeof want / sizeof want[0]);
  assert_ptr_equal(as_mutant_list(NULL), m);
  assert_null(as_mutant_active());
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(m[i].name, want[i]);
    assert_int_equal(m[i].id, (int)i + 1);
    assert_true(strlen(m[i].what) > 10);
    assert_int_equal(as_mutant_set(want[i]), AS_OK);
    assert_string_equal(as_mutant_active(), want[i]);
  }
  /* An unknown name changes nothing; NULL, "" and "none" switch off. */
  assert_int_equal(as_mutant_set("lock_noop_"), AS_NOTFOUND);
  assert_string_equal(as_mutant_active(), "stream_usage_needs_choice");
  assert_int_equal(as_mutant_set(""), AS_OK);
  assert_null(as_mutant_active());
  assert_int_equal(as_mutant_set("pause_not_marked"), AS_OK);
  assert_int_equal(as_mutant_set("none"), AS_OK);
  assert_null(as_mutant_active());
  assert_int_equal(as_mutant_set(NULL), AS_OK);
}

/* --- lock_noop: acquire excludes no one ------------------------------------------- */

typedef struct holder_arg {
  as_lock_registry *r;
  as_mutex *mu;
  int phase; /* 1: holds the lock; 2: may release */
  int rc;
} holder_arg;

static int phase_of(holder_arg *h) {
  as_mutex_lock(h->mu);
  int p = h->phase;
  as_mutex_unlock(h->mu);
  return p;
}

static void set_phase(holder_arg *h, int p) {
  as_mutex_lock(h->mu);
  h->phase = p;
  as_mutex_unlock(h->mu);
}

static void hold_until_told(void *arg) {
  holder_arg *h = arg;
  h->rc = as_lock_try_acquire(h->r, "k");
  set_phase(h, 1);
  while (phase_of(h) != 2) as_task_yield();
  if (h->rc == AS_OK) h->rc = as_lock_release(h->r, "k");
}

static void count_entries(void *ctx, const char *key, uint64_t task, as_lock_event ev) {
  (void)key;
  (void)task;
  *(int *)ctx += ev == AS_LOCK_RELEASED ? -1 : ev == AS_LOCK_TRY_REFUSED ? 0 : 1;
}

static void test_lock_noop(void **state) {
  (void)state;
  holder_arg h = {.r = REG};
  assert_int_equal(as_mutex_new(&h.mu), AS_OK);
  as_task *t;
  assert_int_equal(as_task_spawn(&t, "holder", hold_until_told, &h), AS_OK);
  while (phase_of(&h) != 1) as_task_yield();
  assert_int_equal(h.rc, AS_OK);

  /* With the mutant a blocking acquire returns at once although another
  ** task holds the lock; an observer sees both tasks inside. */
  int entered = 0;
  as_locks_observe(REG, count_entries, &entered);
  assert_int_equal(as_mutant_set("lock_noop"), AS_OK);
  assert_int_equal(as_lock_acquire(REG, "k"), AS_OK);
  assert_int_equal(entered, 1);
  assert_int_equal(as_lock_release(REG, "k"), AS_OK); /* undoes nothing */
  assert_int_equal(entered, 0);
  as_locks_observe(REG, NULL, NULL);
  assert_int_equal(as_lock_release(REG, "never"), AS_OK);
  assert_true(as_lock_is_locked(REG, "k")); /* still the holder's */
  assert_int_equal(as_lock_try_acquire(REG, "k"), AS_BUSY); /* try is untouched */
  /* Off again: the correct registry refuses a release by a non-holder. */
  assert_int_equal(as_mutant_set(NULL), AS_OK);
  assert_int_equal(as_lock_release(REG, "k"), AS_INVAL);
  set_phase(&h, 2);
  assert_int_equal(as_task_join(t), AS_OK);
  assert_int_equal(h.rc, AS_OK);
  assert_int_equal(as_locks_size(REG), 0);
  as_mutex_free(h.mu);
}

/* --- finalize_no_lock: finalize ignores the session lock ----------------------- */

static void test_finalize_no_lock(void **state) {
  (void)state;
  make("nl", NULL);
  holder_arg h = {.r = REG};
  assert_int_equal(as_mutex_new(&h.mu), AS_OK);
  as_task *t;
  /* The holder takes "k": use the session id as the key. */
  make("k", NULL);
  assert_int_equal(as_task_spawn(&t, "holder", hold_until_told, &h), AS_OK);
  while (phase_of(&h) != 1) as_task_yield();
  assert_int_equal(as_mutant_set("finalize_no_lock"), AS_OK);
  as_session_status got;
  /* Would block until the holder lets go; the mutant writes under its feet. */
  assert_int_equal(as_finalize(ST, REG, "k", NULL, &got), AS_OK);
  assert_int_equal(got, AS_SESS_NEEDS_REVIEW);
  assert_true(as_lock_is_locked(REG, "k"));
  assert_int_equal(as_mutant_set(NULL), AS_OK);
  set_phase(&h, 2);
  assert_int_equal(as_task_join(t), AS_OK);
  /* A bad id still fails, in load rather than in the lock. */
  assert_int_equal(as_mutant_set("finalize_no_lock"), AS_OK);
  assert_int_equal(as_finalize(ST, NULL, "", NULL, NULL), AS_INVAL);
  assert_int_equal(as_locks_size(REG), 0);
  as_mutex_free(h.mu);
}

/* --- finalize_coerce_resolved ------------------------------------------------------ */

static void test_finalize_coerce_resolved(void **state) {
  (void)state;
  make("c1", "search");
  make("c2", "mark_escalated");
  make("c3", "search");
  assert_int_equal(as_mutant_set("finalize_coerce_resolved"), AS_OK);
  as_session_status got;
  assert_int_equal(as_finalize(ST, REG, "c1", NULL, &got), AS_OK);
  assert_int_equal(got, AS_SESS_RESOLVED); /* should be needs_review */
  assert_int_equal(as_finalize(ST, REG, "c2", NULL, &got), AS_OK);
  assert_int_equal(got, AS_SESS_RESOLVED); /* should be escalated */
  /* The pure inference is untouched (the oracle relies on it). */
  as_session s = {0};
  assert_int_equal(as_session_load(ST, "c3", &s), AS_OK);
  char reason[AS_REASON_MAX];
  assert_int_equal(as_infer_terminal(&s, NULL, &got, reason, sizeof reason), AS_OK);
  assert_int_equal(got, AS_SESS_NEEDS_REVIEW);
  as_session_clear(&s);
  assert_int_equal(as_mutant_set(NULL), AS_OK);
  assert_int_equal(as_finalize(ST, REG, "c3", NULL, &got), AS_OK);
  assert_int_equal(got, AS_SESS_NEEDS_REVIEW);
}

/* --- finalize_stale_escapes -------------------------------------------------------- */

static void bump(void *arg) {
  as_session s = {0};
  assert_int_equal(as_session_load(OTHER, arg, &s), AS_OK);
  assert_int_equal(as_session_add_call(&s, "search", NULL, NULL, AS_TOOL_EXECUTED), AS_OK);
  assert_int_equal(as_session_save(OTHER, &s), AS_OK);
  as_session_clear(&s);
}

static void test_finalize_stale_escapes(void **state) {
  (void)state;
  make("st", NULL);
  assert_int_equal(as_mutant_set("finalize_stale_escapes"), AS_OK);
  ct_hooks_install(false);
  ct_h.on_wall = bump;
  ct_h.wall_arg = (void *)"st";
  assert_int_equal(as_finalize(ST, REG, "st", NULL, NULL), AS_STALE);
  assert_int_equal(status_of("st"), AS_SESS_IN_PROGRESS); /* stranded */
  assert_int_equal(as_locks_size(REG), 0);
  /* Pause is not finalize: it still retries. */
  ct_h.on_wall = bump;
  bool changed = false;
  assert_int_equal(as_mark_paused(ST, REG, "st", &changed), AS_OK);
  assert_true(changed);
  assert_int_equal(status_of("st"), AS_SESS_AWAITING_INPUT);
  /* Off: the same conflict is absorbed and the session settles. */
  assert_int_equal(as_mutant_set(NULL), AS_OK);
  ct_h.on_wall = bump;
  as_session_status got;
  assert_int_equal(as_finalize(ST, REG, "st", NULL, &got), AS_OK);
  assert_int_equal(got, AS_SESS_NEEDS_REVIEW);
}

/* --- pause_not_marked ----------------------------------------------------------------- */

static void test_pause_not_marked(void **state) {
  (void)state;
  make("p", NULL);
  assert_int_equal(as_mutant_set("pause_not_marked"), AS_OK);
  bool changed = true;
  assert_int_equal(as_mark_paused(ST, REG, "p", &changed), AS_OK);
  assert_false(changed);
  assert_int_equal(status_of("p"), AS_SESS_IN_PROGRESS); /* should be awaiting_input */
  /* Finalize is not pause. */
  assert_int_equal(as_finalize(ST, REG, "p", NULL, NULL), AS_OK);
  assert_int_equal(status_of("p"), AS_SESS_NEEDS_REVIEW);
  make("p2", NULL);
  assert_int_equal(as_mutant_set(NULL), AS_OK);
  assert_int_equal(as_mark_paused(ST, REG, "p2", &changed), AS_OK);
  assert_true(changed);
}

/* --- gc_no_suffix_strip ------------------------------------------------------------------ */

static void test_gc_no_suffix_strip(void **state) {
  (void)state;
  make("A", NULL);
  assert_int_equal(as_checkpoint_put(ST, "A", "x", 1), AS_OK);
  assert_int_equal(as_checkpoint_put(ST, "A:retry-1", "x", 1), AS_OK);
  assert_int_equal(as_mutant_set("gc_no_suffix_strip"), AS_OK);
  size_t removed = 0, len;
  assert_int_equal(as_checkpoint_gc(ST, &removed), AS_OK);
  assert_int_equal(removed, 1); /* the active session's retry checkpoint */
  assert_int_equal(as_checkpoint_get(ST, "A:retry-1", NULL, 0, &len), AS_NOTFOUND);
  assert_int_equal(as_checkpoint_get(ST, "A", NULL, 0, &len), AS_TOOBIG);
  /* The pure base-id function is untouched (the oracle relies on it). */
  assert_int_equal(as_thread_base_len("A:retry-1"), 1);
  assert_int_equal(as_mutant_set(NULL), AS_OK);
  assert_int_equal(as_checkpoint_put(ST, "A:retry-2", "x", 1), AS_OK);
  assert_int_equal(as_checkpoint_gc(ST, &removed), AS_OK);
  assert_int_equal(removed, 0);
}

/* --- the oracle issue's mutants ------------------------------------------------------ */

static size_t calls_of(const char *id) {
  as_session s = {0};
  assert_int_equal(as_session_load(ST, id, &s), AS_OK);
  size_t n = s.ncalls;
  as_session_clear(&s);
  return n;
}

static void make_calls(const char *id, const char *a, as_tool_state sa, const char *b,
                       as_tool_state sb) {
  as_session s;
  assert_int_equal(as_session_init(&s, id), AS_OK);
  s.status = AS_SESS_IN_PROGRESS;
  assert_int_equal(as_session_add_call(&s, a, NULL, NULL, sa), AS_OK);
  assert_int_equal(as_session_add_call(&s, b, NULL, NULL, sb), AS_OK);
  assert_int_equal(as_session_create(ST, &s), AS_OK);
  as_session_clear(&s);
}

/* A save from a stale copy: refused, or (the mutant) it wins and the other
** writer's call is gone. */
static void test_save_no_version_check(void **state) {
  (void)state;
  for (int on = 0; on < 2; on++) {
    const char *id = on ? "sv1" : "sv0";
    make(id, NULL);
    as_session s = {0};
    assert_int_equal(as_session_load(ST, id, &s), AS_OK);
    bump((void *)id); /* another writer saves a call first */
    assert_int_equal(as_mutant_set(on ? "save_no_version_check" : NULL), AS_OK);
    assert_int_equal(as_session_set_extra(&s, "{\"stale\":1}"), AS_OK);
    assert_int_equal(as_session_save(ST, &s), on ? AS_OK : AS_STALE);
    assert_int_equal(as_mutant_set(NULL), AS_OK);
    assert_int_equal(calls_of(id), on ? 0 : 1);
    as_session_clear(&s);
  }
}

/* The mutant reads the calls and the row outside one transaction; alone it
** reads the same (the race is the scenarios' to find). */
static void test_load_not_snapshot(void **state) {
  (void)state;
  make_calls("ls", "search", AS_TOOL_EXECUTED, "mark_resolved", AS_TOOL_REJECTED);
  assert_int_equal(as_mutant_set("load_not_snapshot"), AS_OK);
  as_session s = {0};
  assert_int_equal(as_session_load(ST, "ls", &s), AS_OK);
  assert_int_equal(s.ncalls, 2);
  assert_int_equal(s.version, 1);
  assert_int_equal(s.calls[1].state, AS_TOOL_REJECTED);
  as_session_clear(&s);
  assert_int_equal(as_session_load(ST, "nope", &s), AS_NOTFOUND);
  assert_int_equal(as_mutant_set(NULL), AS_OK);
}

/* A conflict during finalize: reload and decide again, or (the mutant)
** overwrite the other writer's call with the stale copy. */
static void test_finalize_blind_retry(void **state) {
  (void)state;
  for (int on = 0; on < 2; on++) {
    const char *id = on ? "br1" : "br0";
    make(id, "mark_resolved");
    assert_int_equal(as_mutant_set(on ? "finalize_blind_retry" : NULL), AS_OK);
    ct_hooks_install(false);
    ct_h.on_wall = bump;
    ct_h.wall_arg = (void *)id;
    as_session_status got;
    assert_int_equal(as_finalize(ST, REG, id, NULL, &got), AS_OK);
    ct_hooks_remove();
    assert_int_equal(as_mutant_set(NULL), AS_OK);
    assert_int_equal(got, AS_SESS_RESOLVED);
    assert_int_equal(calls_of(id), on ? 1 : 2); /* the bump's call survives, or not */
  }
}

static void test_pause_fail_clobber(void **state) {
  (void)state;
  for (int on = 0; on < 2; on++) {
    const char *p = on ? "pc1" : "pc0", *f = on ? "fc1" : "fc0";
    make(p, "mark_resolved");
    make(f, "mark_escalated");
    assert_int_equal(as_finalize(ST, REG, p, NULL, NULL), AS_OK);
    assert_int_equal(as_finalize(ST, REG, f, NULL, NULL), AS_OK);
    bool changed = !on;
    assert_int_equal(as_mutant_set(on ? "pause_clobbers_terminal" : NULL), AS_OK);
    assert_int_equal(as_mark_paused(ST, REG, p, &changed), AS_OK);
    assert_int_equal(changed, on);
    assert_int_equal(status_of(p), on ? AS_SESS_AWAITING_INPUT : AS_SESS_RESOLVED);
    assert_int_equal(as_mutant_set(on ? "fail_clobbers_terminal" : NULL), AS_OK);
    changed = !on;
    assert_int_equal(as_mark_failed(ST, REG, f, &changed), AS_OK);
    assert_int_equal(changed, on);
    assert_int_equal(status_of(f), on ? AS_SESS_ERROR : AS_SESS_ESCALATED);
    /* An errored session stays errored either way. */
    changed = true;
    assert_int_equal(as_mark_failed(ST, REG, f, &changed), AS_OK);
    assert_false(changed);
    assert_int_equal(as_mutant_set(NULL), AS_OK);
  }
}

static void test_infer_mutants(void **state) {
  (void)state;
  make_calls("io", "mark_escalated", AS_TOOL_EXECUTED, "mark_resolved", AS_TOOL_EXECUTED);
  make_calls("iu", "mark_escalated", AS_TOOL_EXECUTED, "mark_resolved", AS_TOOL_REJECTED);
  make_calls("io2", "search", AS_TOOL_EXECUTED, "search", AS_TOOL_EXECUTED);
  as_session_status got;
  assert_int_equal(as_mutant_set("infer_oldest_first"), AS_OK);
  assert_int_equal(as_finalize(ST, REG, "io", NULL, &got), AS_OK);
  assert_int_equal(got, AS_SESS_ESCALATED); /* should be resolved: the newest decides */
  assert_int_equal(as_finalize(ST, REG, "io2", NULL, &got), AS_OK);
  assert_int_equal(got, AS_SESS_NEEDS_REVIEW);
  assert_int_equal(as_mutant_set("infer_counts_unexecuted"), AS_OK);
  assert_int_equal(as_finalize(ST, REG, "iu", NULL, &got), AS_OK);
  assert_int_equal(got, AS_SESS_RESOLVED); /* should be escalated: the rejected call is no decision */
  assert_int_equal(as_mutant_set(NULL), AS_OK);
  make_calls("iu2", "mark_escalated", AS_TOOL_EXECUTED, "mark_resolved", AS_TOOL_REJECTED);
  assert_int_equal(as_finalize(ST, REG, "iu2", NULL, &got), AS_OK);
  assert_int_equal(got, AS_SESS_ESCALATED);
}

static void test_gc_mutants(void **state) {
  (void)state;
  make("ge", NULL);
  assert_int_equal(as_mark_failed(ST, REG, "ge", NULL), AS_OK);
  assert_int_equal(as_checkpoint_put(ST, "ge", "x", 1), AS_OK);
  assert_int_equal(as_checkpoint_put(ST, "ge:retry-1", "x", 1), AS_OK);
  assert_int_equal(as_checkpoint_put(ST, "orphan", "x", 1), AS_OK);
  size_t removed = 0, len;
  /* The stale keep list, alone, removes what the correct GC removes. */
  assert_int_equal(as_mutant_set("gc_keep_list_stale"), AS_OK);
  assert_int_equal(as_checkpoint_gc(ST, &removed), AS_OK);
  assert_int_equal(removed, 1);
  assert_int_equal(as_checkpoint_get(ST, "ge", NULL, 0, &len), AS_TOOBIG);
  assert_int_equal(as_checkpoint_put(ST, "orphan", "x", 1), AS_OK);
  assert_int_equal(as_mutant_set(NULL), AS_OK);
  assert_int_equal(as_checkpoint_gc(ST, &removed), AS_OK);
  assert_int_equal(removed, 1); /* the orphan; the errored session's stay */
  assert_int_equal(as_mutant_set("gc_reaps_errored"), AS_OK);
  assert_int_equal(as_checkpoint_gc(ST, &removed), AS_OK);
  assert_int_equal(removed, 2); /* should be 0: an errored session may be retried */
  assert_int_equal(as_checkpoint_get(ST, "ge:retry-1", NULL, 0, &len), AS_NOTFOUND);
  assert_int_equal(as_mutant_set(NULL), AS_OK);
}

static void release_later(void *arg) {
  holder_arg *h = arg;
  as_sleep_until(as_now_mono_ns() + 20000000u); /* the main task is waiting by now */
  set_phase(h, 2);
}

/* The `if` wait: with one waiter and no one sneaking in, it still works
** (the race is the scenarios' to find). */
static void test_lock_wait_if(void **state) {
  (void)state;
  holder_arg h = {.r = REG};
  assert_int_equal(as_mutex_new(&h.mu), AS_OK);
  as_task *t, *later;
  assert_int_equal(as_task_spawn(&t, "holder", hold_until_told, &h), AS_OK);
  while (phase_of(&h) != 1) as_task_yield();
  assert_int_equal(as_mutant_set("lock_wait_if"), AS_OK);
  assert_int_equal(as_task_spawn(&later, "releaser", release_later, &h), AS_OK);
  assert_int_equal(as_lock_acquire(REG, "k"), AS_OK); /* waits for the holder */
  assert_int_equal(as_task_join(later), AS_OK);
  assert_int_equal(as_task_join(t), AS_OK);
  assert_int_equal(h.rc, AS_OK);
  assert_int_equal(as_lock_release(REG, "k"), AS_OK);
  assert_int_equal(as_mutant_set(NULL), AS_OK);
  assert_int_equal(as_locks_size(REG), 0);
  as_mutex_free(h.mu);
}

/* --- the second review's mutants: what the model compares column by column --- */

static as_session *load_with(as_store *st, const char *id, as_session *s) {
  memset(s, 0, sizeof *s);
  assert_int_equal(as_session_load(st, id, s), AS_OK);
  return s;
}

/* needs_review keeps its reason through later saves, or (the mutant) the
** load drops it and the next save wipes it. */
static void test_load_drops_reason(void **state) {
  (void)state;
  for (int on = 0; on < 2; on++) {
    const char *id = on ? "dr1" : "dr0";
    make(id, NULL);
    assert_int_equal(as_finalize(ST, REG, id, NULL, NULL), AS_OK);
    assert_int_equal(as_mutant_set(on ? "load_drops_reason" : NULL), AS_OK);
    as_session s;
    load_with(ST, id, &s);
    assert_int_equal(as_session_set_extra(&s, "{\"later\":1}"), AS_OK);
    assert_int_equal(as_session_save(ST, &s), AS_OK);
    as_session_clear(&s);
    assert_int_equal(as_mutant_set(NULL), AS_OK);
    load_with(OTHER, id, &s);
    assert_string_equal(s.needs_review_reason, on ? "" : AS_REASON_NO_TERMINAL);
    as_session_clear(&s);
  }
}

static void test_retry_from_version(void **state) {
  (void)state;
  make("rv", NULL);
  as_session s;
  load_with(ST, "rv", &s);
  assert_int_equal(as_session_save(ST, &s), AS_OK); /* version 2 */
  as_session_clear(&s);
  load_with(ST, "rv", &s);
  assert_int_equal(s.retry_count, 0);
  as_session_clear(&s);
  assert_int_equal(as_mutant_set("retry_from_version"), AS_OK);
  load_with(ST, "rv", &s);
  assert_int_equal(s.retry_count, 2); /* should be 0 */
  as_session_clear(&s);
}

static void test_save_stale_updated(void **state) {
  (void)state;
  for (int on = 0; on < 2; on++) {
    const char *id = on ? "su1" : "su0";
    make(id, NULL);
    as_session s;
    load_with(ST, id, &s);
    int64_t loaded = s.updated_ns;
    while (as_now_wall_ns() <= loaded) as_task_yield();
    assert_int_equal(as_mutant_set(on ? "save_stale_updated" : NULL), AS_OK);
    assert_int_equal(as_session_save(ST, &s), AS_OK);
    assert_int_equal(as_mutant_set(NULL), AS_OK);
    as_session_clear(&s);
    load_with(OTHER, id, &s);
    if (on)
      assert_true(s.updated_ns == loaded);
    else
      assert_true(s.updated_ns > loaded);
    as_session_clear(&s);
  }
}

/* After a stale save, another connection can write at once; or (the
** mutant) the stale one still holds the write lock. */
static void test_stale_leaves_tx_open(void **state) {
  (void)state;
  as_store *third = ct_open(&D, "m.db", "wal", 0); /* no waiting for a busy lock */
  for (int on = 0; on < 2; on++) {
    const char *id = on ? "so1" : "so0";
    make(id, NULL);
    as_session s;
    load_with(ST, id, &s);
    bump((void *)id);
    assert_int_equal(as_mutant_set(on ? "stale_leaves_tx_open" : NULL), AS_OK);
    assert_int_equal(as_session_save(ST, &s), AS_STALE);
    assert_int_equal(as_mutant_set(NULL), AS_OK);
    as_session_clear(&s);
    assert_int_equal(as_checkpoint_put(third, id, "x", 1), on ? AS_BUSY : AS_OK);
    /* The next transaction of the stale connection ends the leftover one. */
    assert_int_equal(calls_of(id), 1);
    assert_int_equal(as_checkpoint_put(third, id, "x", 1), AS_OK);
  }
  as_store_close(third);
}

static void test_try_grants_holder(void **state) {
  (void)state;
  for (int on = 0; on < 2; on++) {
    assert_int_equal(as_lock_acquire(REG, "t"), AS_OK);
    assert_int_equal(as_mutant_set(on ? "try_grants_holder" : NULL), AS_OK);
    assert_int_equal(as_lock_try_acquire(REG, "t"), on ? AS_OK : AS_BUSY);
    assert_int_equal(as_mutant_set(NULL), AS_OK);
    assert_int_equal(as_lock_release(REG, "t"), AS_OK);
    assert_false(as_lock_is_locked(REG, "t"));
  }
}

static void test_result_gets_args(void **state) {
  (void)state;
  for (int on = 0; on < 2; on++) {
    const char *id = on ? "ra1" : "ra0";
    as_session s;
    assert_int_equal(as_session_init(&s, id), AS_OK);
    assert_int_equal(as_session_add_call(&s, "search", "{\"q\":1}", "{\"hits\":2}", AS_TOOL_EXECUTED),
                     AS_OK);
    assert_int_equal(as_mutant_set(on ? "result_gets_args" : NULL), AS_OK);
    assert_int_equal(as_session_create(ST, &s), AS_OK);
    assert_int_equal(as_mutant_set(NULL), AS_OK);
    as_session_clear(&s);
    load_with(OTHER, id, &s);
    assert_string_equal(s.calls[0].result, on ? "{\"q\":1}" : "{\"hits\":2}");
    as_session_clear(&s);
  }
}

static void test_ckpt_keeps_data(void **state) {
  (void)state;
  for (int on = 0; on < 2; on++) {
    const char *tid = on ? "kd1" : "kd0";
    char buf[4];
    size_t len = 0;
    assert_int_equal(as_checkpoint_put(ST, tid, "old", 3), AS_OK);
    assert_int_equal(as_mutant_set(on ? "ckpt_keeps_data" : NULL), AS_OK);
    assert_int_equal(as_checkpoint_put(ST, tid, "new", 3), AS_OK);
    assert_int_equal(as_mutant_set(NULL), AS_OK);
    assert_int_equal(as_checkpoint_get(OTHER, tid, buf, sizeof buf, &len), AS_OK);
    assert_memory_equal(buf, on ? "old" : "new", 3);
  }
}

static void test_gc_keeps_orphans(void **state) {
  (void)state;
  make("gk", NULL);
  assert_int_equal(as_finalize(ST, REG, "gk", NULL, NULL), AS_OK);
  assert_int_equal(as_checkpoint_put(ST, "gk", "x", 1), AS_OK);
  assert_int_equal(as_checkpoint_put(ST, "ghost", "x", 1), AS_OK);
  size_t removed = 0, len;
  assert_int_equal(as_mutant_set("gc_keeps_orphans"), AS_OK);
  assert_int_equal(as_checkpoint_gc(ST, &removed), AS_OK);
  assert_int_equal(removed, 1); /* the finished session's; should be 2 */
  assert_int_equal(as_checkpoint_get(ST, "ghost", NULL, 0, &len), AS_TOOBIG);
  assert_int_equal(as_mutant_set(NULL), AS_OK);
  assert_int_equal(as_checkpoint_gc(ST, &removed), AS_OK);
  assert_int_equal(removed, 1);
}

/* Alone, the read-first append numbers events as the correct one does (the
** race is the scenarios' to find). */
static void test_event_seq_outside_tx(void **state) {
  (void)state;
  make("ev", NULL);
  assert_int_equal(as_mutant_set("event_seq_outside_tx"), AS_OK);
  int64_t seq = 0;
  assert_int_equal(as_event_append(ST, "ev", "note", "{\"n\":1}", &seq), AS_OK);
  assert_int_equal(seq, 1);
  assert_int_equal(as_event_append(ST, "ev", "note", NULL, &seq), AS_OK);
  assert_int_equal(seq, 2);
  assert_int_equal(as_mutant_set(NULL), AS_OK);
  as_event_list l = {0};
  assert_int_equal(as_event_read(OTHER, "ev", 0, 10, &l), AS_OK);
  assert_int_equal(l.n, 2);
  assert_string_equal(l.items[1].payload, "{}");
  as_event_list_clear(&l);
}

/* A contended lock's entry goes once it is released, or (the mutant) it
** stays for good. */
static void test_lock_waiter_leak(void **state) {
  (void)state;
  for (int on = 0; on < 2; on++) {
    holder_arg h = {.r = REG};
    assert_int_equal(as_mutex_new(&h.mu), AS_OK);
    as_task *t, *later;
    assert_int_equal(as_task_spawn(&t, "holder", hold_until_told, &h), AS_OK);
    while (phase_of(&h) != 1) as_task_yield();
    assert_int_equal(as_mutant_set(on ? "lock_waiter_leak" : NULL), AS_OK);
    assert_int_equal(as_task_spawn(&later, "releaser", release_later, &h), AS_OK);
    assert_int_equal(as_lock_acquire(REG, "k"), AS_OK);
    assert_int_equal(as_task_join(later), AS_OK);
    assert_int_equal(as_task_join(t), AS_OK);
    assert_int_equal(as_lock_release(REG, "k"), AS_OK);
    assert_int_equal(as_mutant_set(NULL), AS_OK);
    assert_int_equal(as_locks_size(REG), on ? 1 : 0);
    as_mutex_free(h.mu);
    if (on) { /* a fresh registry for the next test's sake */
      as_locks_free(REG);
      assert_int_equal(as_locks_new(&REG, 8), AS_OK);
    }
  }
}

static void test_payload_old_reason(void **state) {
  (void)state;
  for (int on = 0; on < 2; on++) {
    const char *id = on ? "po1" : "po0";
    make(id, NULL);
    assert_int_equal(as_mutant_set(on ? "payload_old_reason" : NULL), AS_OK);
    assert_int_equal(as_finalize(ST, REG, id, NULL, NULL), AS_OK);
    assert_int_equal(as_mutant_set(NULL), AS_OK);
    as_event_list l = {0};
    assert_int_equal(as_event_read(OTHER, id, 0, 10, &l), AS_OK);
    assert_int_equal(l.n, 1);
    assert_non_null(strstr(l.items[0].payload, on ? "\"reason\":\"\"" : AS_REASON_NO_TERMINAL));
    as_event_list_clear(&l);
  }
}

/* --- delete_sync_full: on the honest disk, power loss rolls back a commit ------- */

/* A store in journal mode delete with the default level on a simulated
** disk: one session created (acknowledged), power loss, then a new store
** looks for it. With the mutant the default is FULL, whose commit (the
** journal's unlink) is not durable: the hot journal comes back and rolls
** the creation back. In journal mode wal the mutant changes nothing. */
static struct dsf_obs {
  int open_rc, create_rc, reopen_rc, load_rc;
} dsf;
static const char *dsf_journal;

typedef struct dsf_state {
  simdb_disk *disk;
} dsf_state;

static int dsf_setup(void *state, sim_rng *r) {
  dsf_state *d = state;
  (void)r;
  int rc = simdb_run_begin();
  return rc == AS_OK ? simdb_disk_new(&d->disk, NULL) : rc;
}

static void dsf_teardown(void *state) {
  (void)state;
  (void)simdb_run_end(); /* ignore: the test closed everything; a leftover is the run's */
}

static void dsf_main(void *state) {
  dsf_state *d = state;
  as_store_opts o = {.vfs = simdb_disk_vfs(d->disk), .journal_mode = dsf_journal};
  as_store *st = NULL;
  dsf.open_rc = as_store_open(&st, "/d.db", &o);
  if (dsf.open_rc != AS_OK) return;
  as_session s;
  dsf.create_rc = as_session_init(&s, "acked");
  if (dsf.create_rc == AS_OK) dsf.create_rc = as_session_create(st, &s);
  as_session_clear(&s);
  simdb_crash(d->disk);
  as_store_close(st); /* the old connection is dead; closing still works */
  dsf.reopen_rc = as_store_open(&st, "/d.db", &o);
  if (dsf.reopen_rc != AS_OK) return;
  as_session got = {0};
  dsf.load_rc = as_session_load(st, "acked", &got);
  as_session_clear(&got);
  as_store_close(st);
}

static const sim_program dsf_prog = {
    .name = "mutants:delete_sync_full",
    .summary = "an acknowledged create, power loss, a reload",
    .state_size = sizeof(dsf_state),
    .est_tasks = 1,
    .est_steps = 1000,
    .setup = dsf_setup,
    .main = dsf_main,
    .teardown = dsf_teardown,
};

static void test_delete_sync_full(void **state) {
  (void)state;
  sim *S = NULL;
  assert_int_equal(sim_new(&S, SIM_SWITCH_FCONTEXT, 0), AS_OK);
  assert_int_equal(simdb_install(), AS_OK);
  for (int k = 0; k < 4; k++) {
    int on = k & 1;
    bool wal = k >= 2;
    dsf_journal = wal ? "wal" : "delete";
    memset(&dsf, -1, sizeof dsf);
    assert_int_equal(as_mutant_set(on ? "delete_sync_full" : NULL), AS_OK);
    sim_config cfg = {.seed = 1, .strategy = SIM_STRATEGY_RANDOM};
    sim_result res;
    assert_int_equal(sim_run(S, &dsf_prog, &cfg, &res), AS_OK);
    sim_result_clear(&res);
    assert_int_equal(as_mutant_set(NULL), AS_OK);
    assert_int_equal(res.outcome, SIM_PASS);
    assert_int_equal(dsf.open_rc, AS_OK);
    assert_int_equal(dsf.create_rc, AS_OK); /* acknowledged */
    assert_int_equal(dsf.reopen_rc, AS_OK);
    assert_int_equal(dsf.load_rc, on && !wal ? AS_NOTFOUND : AS_OK);
  }
  assert_int_equal(simdb_uninstall(), AS_OK);
  sim_free(S);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_delete_sync_full),
      cmocka_unit_test_setup_teardown(test_list_and_switch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_load_drops_reason, setup, teardown),
      cmocka_unit_test_setup_teardown(test_retry_from_version, setup, teardown),
      cmocka_unit_test_setup_teardown(test_save_stale_updated, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stale_leaves_tx_open, setup, teardown),
      cmocka_unit_test_setup_teardown(test_try_grants_holder, setup, teardown),
      cmocka_unit_test_setup_teardown(test_result_gets_args, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ckpt_keeps_data, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gc_keeps_orphans, setup, teardown),
      cmocka_unit_test_setup_teardown(test_event_seq_outside_tx, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lock_waiter_leak, setup, teardown),
      cmocka_unit_test_setup_teardown(test_payload_old_reason, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lock_noop, setup, teardown),
      cmocka_unit_test_setup_teardown(test_finalize_no_lock, setup, teardown),
      cmocka_unit_test_setup_teardown(test_finalize_coerce_resolved, setup, teardown),
      cmocka_unit_test_setup_teardown(test_finalize_stale_escapes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pause_not_marked, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gc_no_suffix_strip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_save_no_version_check, setup, teardown),
      cmocka_unit_test_setup_teardown(test_load_not_snapshot, setup, teardown),
      cmocka_unit_test_setup_teardown(test_finalize_blind_retry, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pause_fail_clobber, setup, teardown),
      cmocka_unit_test_setup_teardown(test_infer_mutants, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gc_mutants, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lock_wait_if, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
** test_oracle.c -- the oracle alone (sim/oracle/oracle.h), fed histories
** through its sink: for every check a planted violation it must name, and
** legal histories it must accept -- the tricky ones included (a stale
** conflict resolved by reload, a re-entrant acquire, a terminal session
** finalized again, a commit that failed after its commit point, power loss
** in the middle of a commit). The quiescence read runs against a plain
** SQLite database built to match, or not match, the model.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/status.h"
#include "docgen.h"
#include "oracle/oracle.h"
#include "oracle/spec.h"
#include "oracle_feed.h"
#include "scenario/scenario.h"

/* --- locks ---------------------------------------------------------------------------- */

static void test_lock_exclusive(void **state) {
  (void)state;
  /* Legal: re-entry by the holder, a release per acquire, then another task. */
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  lock(T1, "s0", ORC_LOCK_RELEASED);
  lock(T1, "s0", ORC_LOCK_RELEASED);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  lock(T2, "s0", ORC_LOCK_RELEASED);
  expect_ok();
  /* Planted: a second task inside. */
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  expect_violation(ORC_CK_LOCK_EXCLUSIVE, "tasks 1 and 2 both hold the lock of s0");
}

static void test_lock_try(void **state) {
  (void)state;
  /* Legal: refused while another holds it, and while the caller itself does. */
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  lock(T2, "s0", ORC_LOCK_TRY_REFUSED);
  lock(T1, "s0", ORC_LOCK_TRY_REFUSED);
  lock(T1, "s0", ORC_LOCK_RELEASED);
  lock(T2, "s0", ORC_LOCK_TRY_ACQUIRED);
  lock(T2, "s0", ORC_LOCK_ACQUIRED); /* a blocking acquire on top re-enters */
  lock(T2, "s0", ORC_LOCK_RELEASED);
  lock(T2, "s0", ORC_LOCK_RELEASED);
  expect_ok();
  /* Planted: refused though free. */
  lock(T1, "s1", ORC_LOCK_TRY_REFUSED);
  expect_violation(ORC_CK_LOCK_TRY, "refused while nobody holds the lock");
}

static void test_lock_try_holder(void **state) {
  (void)state;
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  lock(T1, "s0", ORC_LOCK_TRY_ACQUIRED);
  expect_violation(ORC_CK_LOCK_TRY, "by its own holder, task 1, was granted");
}

static void test_lock_try_exclusive(void **state) {
  (void)state;
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  lock(T2, "s0", ORC_LOCK_TRY_ACQUIRED);
  expect_violation(ORC_CK_LOCK_EXCLUSIVE, "the second by try-acquire");
}

static void test_lock_release(void **state) {
  (void)state;
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  lock(T1, "s0", ORC_LOCK_RELEASED);
  expect_ok();
  lock(T2, "s0", ORC_LOCK_RELEASED);
  expect_violation(ORC_CK_LOCK_RELEASE, "task 2 released the lock of s0, held by nobody");
}

static void test_lock_scope(void **state) {
  (void)state;
  create("s0");
  conn(1);
  /* Legal: an unlocked save that does not change the status. */
  tool_at(T1, 1, "s0", "new", 1, NULL, 0, "search");
  expect_ok();
  /* Planted: new -> in_progress committed without the lock. */
  orc_op *o = op(T1, SCN_OP_START, "s0");
  begin(T1, o);
  session_update(T1, 1, "s0", "new", 2, "{}", "in_progress", 3, "{}", "");
  status_event(T1, 1, "s0", 1, "new", "in_progress");
  committing(T1, 1);
  expect_violation(ORC_CK_LOCK_SCOPE, "s0: status new -> in_progress committed by task 1 without holding");
}

static void test_lock_scope_other_holder(void **state) {
  (void)state;
  create("s0");
  conn(1);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  orc_op *o = op(T1, SCN_OP_START, "s0");
  begin(T1, o);
  session_update(T1, 1, "s0", "new", 1, "{}", "in_progress", 2, "{}", "");
  status_event(T1, 1, "s0", 1, "new", "in_progress");
  committing(T1, 1);
  expect_violation(ORC_CK_LOCK_SCOPE, "while task 2 holds the session's lock");
}

/* --- commits: evidence, versions, terminal, status events, history ------------------- */

/* Legal: a save loses to another writer (no rows committed), reloads, and
** saves from the new version. */
static void test_stale_conflict_resolved_by_reload(void **state) {
  (void)state;
  create("s0");
  conn(1);
  conn(2);
  tool_at(T2, 2, "s0", "new", 1, NULL, 0, "a"); /* the other writer wins: v2 */
  orc_op *o = op(T1, SCN_OP_TOOL, "s0");
  o->tool = "b";
  o->base_version = 1;
  begin(T1, o);
  rollback(T1, 1); /* the stale UPDATE matched no row: nothing changed */
  answer(T1, o, AS_STALE);
  static const char *const one[] = {"a"};
  tool_at(T1, 1, "s0", "new", 2, one, 1, "b");
  expect_ok();
}

static void test_evidence(void **state) {
  (void)state;
  create("s0");
  conn(1);
  orc_op *o = op(T1, SCN_OP_WRITE, "s0");
  o->content = "{\"w\":1}";
  begin(T1, o);
  /* The row says version 3: a commit the model never saw. */
  session_update(T1, 1, "s0", "new", 3, "{}", "new", 4, "{\"w\":1}", "");
  committing(T1, 1);
  expect_violation(ORC_CK_EVIDENCE, "session s0 before this commit is version 3");
}

static void test_version_step(void **state) {
  (void)state;
  create("s0");
  conn(1);
  orc_op *o = op(T1, SCN_OP_WRITE, "s0");
  o->content = "{}";
  begin(T1, o);
  session_update(T1, 1, "s0", "new", 1, "{}", "new", 3, "{}", "");
  committing(T1, 1);
  expect_violation(ORC_CK_VERSION, "session s0 went from version 1 to 3");
}

static void test_stale_save(void **state) {
  (void)state;
  create("s0");
  conn(1);
  conn(2);
  tool_at(T2, 2, "s0", "new", 1, NULL, 0, "a"); /* v2 */
  /* Loaded at 1, committed over 2 (a save that did not check the version). */
  orc_op *o = op(T1, SCN_OP_WRITE, "s0");
  o->content = "{\"w\":1}";
  o->base_version = 1;
  begin(T1, o);
  session_update(T1, 1, "s0", "new", 2, "{}", "new", 3, "{\"w\":1}", "");
  committing(T1, 1);
  expect_violation(ORC_CK_STALE_SAVE, "write s0 loaded version 1 and committed over version 2");
}

/* Legal: finalize of an already terminal session commits nothing; the
** answer names the status it has. */
static void test_terminal_finalized_again(void **state) {
  (void)state;
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  finalize_to(T1, "s0", "in_progress", 2, "needs_review", 2, "no terminal tool call");
  expect_ok();
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  orc_op *o = op(T2, SCN_OP_FINALIZE, "s0");
  begin(T2, o);
  lock(T2, "s0", ORC_LOCK_RELEASED);
  o->status = "needs_review";
  answer(T2, o, AS_OK);
  expect_ok();
}

static void test_terminal_left(void **state) {
  (void)state;
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  finalize_to(T1, "s0", "in_progress", 2, "needs_review", 2, "no terminal tool call");
  /* A late pause that ignored the terminal status. */
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  orc_op *o = op(T2, SCN_OP_PAUSE, "s0");
  begin(T2, o);
  session_update(T2, 1, "s0", "needs_review", 3, "{}", "awaiting_input", 4, "{}", "");
  status_event(T2, 1, "s0", 3, "needs_review", "awaiting_input");
  committing(T2, 1);
  expect_violation(ORC_CK_TERMINAL, "s0 left needs_review for awaiting_input");
}

static void test_status_event_missing(void **state) {
  (void)state;
  create("s0");
  conn(1);
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  orc_op *o = op(T1, SCN_OP_START, "s0");
  begin(T1, o);
  session_update(T1, 1, "s0", "new", 1, "{}", "in_progress", 2, "{}", "");
  committing(T1, 1);
  expect_violation(ORC_CK_STATUS_EVENT, "new -> in_progress committed with 0 status_changed events");
}

static void test_status_event_wrong_from(void **state) {
  (void)state;
  create("s0");
  conn(1);
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  orc_op *o = op(T1, SCN_OP_START, "s0");
  begin(T1, o);
  session_update(T1, 1, "s0", "new", 1, "{}", "in_progress", 2, "{}", "");
  status_event(T1, 1, "s0", 1, "awaiting_input", "in_progress");
  committing(T1, 1);
  expect_violation(ORC_CK_STATUS_EVENT, "with an event saying awaiting_input -> in_progress");
}

static void test_status_event_without_change(void **state) {
  (void)state;
  create("s0");
  conn(1);
  orc_op *o = op(T1, SCN_OP_WRITE, "s0");
  o->content = "{}";
  begin(T1, o);
  session_update(T1, 1, "s0", "new", 1, "{}", "new", 2, "{}", "");
  status_event(T1, 1, "s0", 1, "new", "new");
  committing(T1, 1);
  expect_violation(ORC_CK_STATUS_EVENT, "but the status stays new");
}

static void test_event_seq(void **state) {
  (void)state;
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  expect_ok();
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  orc_op *o = op(T1, SCN_OP_PAUSE, "s0");
  begin(T1, o);
  session_update(T1, 1, "s0", "in_progress", 2, "{}", "awaiting_input", 3, "{}", "");
  status_event(T1, 1, "s0", 3, "in_progress", "awaiting_input"); /* 2 skipped */
  committing(T1, 1);
  expect_violation(ORC_CK_EVENT_SEQ, "event 3 follows event 1");
}

static void test_event_changed(void **state) {
  (void)state;
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  orc_op *o = op(T1, SCN_OP_WRITE, "s0");
  o->content = "{}";
  begin(T1, o);
  session_update(T1, 1, "s0", "in_progress", 2, "{}", "in_progress", 3, "{}", "");
  event_row(T1, 1, ORC_DELETE, "s0", 1, "status_changed", "{}");
  committing(T1, 1);
  expect_violation(ORC_CK_EVENT_SEQ, "event 1 was removed (the log is append-only)");
}

static void test_history(void **state) {
  (void)state;
  create("s0");
  conn(1);
  conn(2);
  tool_at(T2, 2, "s0", "new", 1, NULL, 0, "a");
  expect_ok();
  /* A save from a copy without "a": it is gone. */
  orc_op *o = op(T1, SCN_OP_TOOL, "s0");
  o->tool = "b";
  o->base_version = 2;
  begin(T1, o);
  session_update(T1, 1, "s0", "new", 2, "{}", "new", 3, "{}", "");
  call_row(T1, 1, ORC_DELETE, "s0", 0, "a", "executed");
  call_row(T1, 1, ORC_INSERT, "s0", 0, "b", "executed");
  committing(T1, 1);
  expect_violation(ORC_CK_HISTORY, "the history went from 1 to 1 calls");
}

static void test_history_hole(void **state) {
  (void)state;
  create("s0");
  conn(1);
  orc_op *o = op(T1, SCN_OP_TOOL, "s0");
  o->tool = "b";
  o->base_version = 1;
  begin(T1, o);
  session_update(T1, 1, "s0", "new", 1, "{}", "new", 2, "{}", "");
  call_row(T1, 1, ORC_INSERT, "s0", 1, "b", "executed");
  committing(T1, 1);
  expect_violation(ORC_CK_HISTORY, "has a hole at 0");
}

static void test_write_content(void **state) {
  (void)state;
  create("s0");
  conn(1);
  orc_op *o = op(T1, SCN_OP_WRITE, "s0");
  o->content = "{\"w\":1}";
  o->base_version = 1;
  begin(T1, o);
  session_update(T1, 1, "s0", "new", 1, "{}", "new", 2, "{\"w\":2}", "");
  committing(T1, 1);
  expect_violation(ORC_CK_CONTENT, "write s0 was to commit {\"w\":1} but committed {\"w\":2}");
}

/* --- finalize and the other settling operations --------------------------------------- */

/* A started session with the calls (tools, states), one tool op each;
** returns its version. */
static int64_t with_calls(const char *id, const char *const *tools, const char *const *states,
                          size_t n) {
  create(id);
  conn(1);
  start(T1, 1, id);
  for (size_t i = 0; i < n; i++)
    tool_call_at(T2, 1, id, "in_progress", 2 + (int64_t)i, tools, states, i, tools[i], states[i]);
  return 2 + (int64_t)n;
}

static void test_inference_newest_first(void **state) {
  (void)state;
  static const char *const tools[] = {"mark_escalated", "srv:mark_resolved"};
  int64_t v = with_calls("s0", tools, EXEC, 2);
  expect_ok();
  /* Legal: the newest terminal call decides (resolved, the server prefix aside). */
  finalize_to(T1, "s0", "in_progress", v, "resolved", 2, "");
  expect_ok();
}

static void test_inference_wrong(void **state) {
  (void)state;
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  tool_at(T2, 1, "s0", "in_progress", 2, NULL, 0, "notify"); /* a legacy escalate tool */
  finalize_to(T1, "s0", "in_progress", 3, "resolved", 2, "");
  expect_violation(ORC_CK_INFER, "finalize s0 committed resolved, but its history of 1 calls implies escalated");
}

static void test_inference_unexecuted(void **state) {
  (void)state;
  static const char *const tools[] = {"mark_escalated", "mark_resolved"};
  static const char *const states[] = {"executed", "rejected"};
  int64_t v = with_calls("s0", tools, states, 2);
  expect_ok();
  /* Legal: the rejected mark_resolved is no decision. */
  finalize_to(T1, "s0", "in_progress", v, "escalated", 2, "");
  expect_ok();
  static const char *const t2[] = {"mark_resolved"};
  static const char *const s2[] = {"pending_approval"};
  v = with_calls("s1", t2, s2, 1);
  finalize_to(T1, "s1", "in_progress", v, "resolved", 2, "");
  expect_violation(ORC_CK_INFER, "implies needs_review");
}

static void test_finalize_outcome(void **state) {
  (void)state;
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  /* Returned success having committed nothing, the session in_progress. */
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  orc_op *o = op(T1, SCN_OP_FINALIZE, "s0");
  begin(T1, o);
  lock(T1, "s0", ORC_LOCK_RELEASED);
  o->status = "resolved";
  answer(T1, o, AS_OK);
  expect_violation(ORC_CK_OUTCOME, "finalize s0 returned success leaving it in_progress");
}

static void test_finalize_says_wrong_status(void **state) {
  (void)state;
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  orc_op *o = op(T1, SCN_OP_FINALIZE, "s0");
  begin(T1, o);
  session_update(T1, 1, "s0", "in_progress", 2, "{}", "needs_review", 3, "{}", "why");
  status_event(T1, 1, "s0", 2, "in_progress", "needs_review");
  commit(T1, 1);
  lock(T1, "s0", ORC_LOCK_RELEASED);
  o->status = "resolved";
  answer(T1, o, AS_OK);
  expect_violation(ORC_CK_OUTCOME, "finalize s0 said it ended resolved, but it is needs_review");
}

static void test_stale_escaped(void **state) {
  (void)state;
  create("s0");
  conn(1);
  orc_op *o = op(T1, SCN_OP_FINALIZE, "s0");
  begin(T1, o);
  answer(T1, o, AS_STALE);
  expect_violation(ORC_CK_STALE_ESCAPED, "finalize s0 returned a stale-version conflict");
}

static void test_pause_outcome(void **state) {
  (void)state;
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  orc_op *o = op(T1, SCN_OP_PAUSE, "s0");
  begin(T1, o);
  o->changed = 0;
  answer(T1, o, AS_OK);
  expect_violation(ORC_CK_OUTCOME, "paused run s0 is in_progress, not awaiting_input");
}

static void test_pause_said_changed(void **state) {
  (void)state;
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  orc_op *o = op(T1, SCN_OP_PAUSE, "s0");
  begin(T1, o);
  session_update(T1, 1, "s0", "in_progress", 2, "{}", "awaiting_input", 3, "{}", "");
  status_event(T1, 1, "s0", 2, "in_progress", "awaiting_input");
  commit(T1, 1);
  lock(T1, "s0", ORC_LOCK_RELEASED);
  o->changed = 0;
  answer(T1, o, AS_OK);
  expect_violation(ORC_CK_OUTCOME, "pause s0 said it wrote nothing, but it committed 1 changes");
}

static void test_reason(void **state) {
  (void)state;
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  finalize_to(T1, "s0", "in_progress", 2, "needs_review", 2, "");
  expect_violation(ORC_CK_REASON, "s0 became needs_review without a reason");
}

static void test_fail(void **state) {
  (void)state;
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  orc_op *o = op(T1, SCN_OP_FAIL, "s0");
  begin(T1, o);
  session_update(T1, 1, "s0", "in_progress", 2, "{}", "resolved", 3, "{}", "");
  status_event(T1, 1, "s0", 2, "in_progress", "resolved");
  committing(T1, 1);
  expect_violation(ORC_CK_OP_SCOPE, "fail s0 committed resolved, not error");
}

/* --- checkpoints and the GC --------------------------------------------------------------- */

static void test_gc_exact(void **state) {
  (void)state;
  create("s0");
  create("s1");
  create("s2");
  conn(1);
  start(T1, 1, "s1");
  finalize_to(T1, "s1", "in_progress", 2, "needs_review", 2, "why");
  start(T1, 1, "s2");
  lock(T1, "s2", ORC_LOCK_ACQUIRED);
  orc_op *f = op(T1, SCN_OP_FAIL, "s2");
  begin(T1, f);
  session_update(T1, 1, "s2", "in_progress", 2, "{}", "error", 3, "{}", "");
  status_event(T1, 1, "s2", 2, "in_progress", "error");
  commit(T1, 1);
  lock(T1, "s2", ORC_LOCK_RELEASED);
  f->changed = 1;
  answer(T1, f, AS_OK);
  put(T2, "s0:retry-1", ORC_INSERT);
  put(T2, "s1", ORC_INSERT);
  put(T2, "s1:retry-12", ORC_INSERT);
  put(T2, "s1:retry-12", ORC_UPDATE);
  put(T2, "s2:retry-1", ORC_INSERT);
  put(T2, "gone", ORC_INSERT);
  expect_ok();
  /* Legal: exactly the finished session's and the orphan's; the errored
  ** session may be retried, so its stays. */
  static const char *const rm[] = {"s1", "s1:retry-12", "gone"};
  gc(T2, rm, 3);
  expect_ok();
  gc(T2, NULL, 0);
  expect_ok();
  /* Planted: the active session's. */
  static const char *const bad[] = {"s0:retry-1"};
  gc(T2, bad, 1);
  expect_violation(ORC_CK_GC, "gc removed s0:retry-1 while its session is active");
}

static void test_gc_keeps(void **state) {
  (void)state;
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  finalize_to(T1, "s0", "in_progress", 2, "needs_review", 2, "why");
  put(T2, "s0:retry-3", ORC_INSERT);
  gc(T2, NULL, 0);
  expect_violation(ORC_CK_GC, "gc kept s0:retry-3 though its session is not active");
}

static void test_gc_count(void **state) {
  (void)state;
  create("s0");
  conn(1);
  put(T2, "orphan", ORC_INSERT);
  orc_op *o = op(T2, SCN_OP_GC, NULL);
  begin(T2, o);
  ckpt_row(T2, 1, ORC_DELETE, "orphan");
  commit(T2, 1);
  o->removed = 2;
  answer(T2, o, AS_OK);
  expect_violation(ORC_CK_OUTCOME, "gc said it removed 2 checkpoints; it removed 1");
}

static void test_ckpt_evidence(void **state) {
  (void)state;
  create("s0");
  conn(1);
  put(T2, "s0", ORC_INSERT);
  put(T2, "s0", ORC_INSERT); /* inserted again: the model has it stored */
  expect_violation(ORC_CK_EVIDENCE, "checkpoint s0 was inserted, but the model has it stored");
}

/* --- op scope and answers ----------------------------------------------------------------- */

static void test_outside_op(void **state) {
  (void)state;
  create("s0");
  conn(1);
  session_update(T1, 1, "s0", "new", 1, "{}", "new", 2, "{}", "");
  committing(T1, 1);
  expect_violation(ORC_CK_OP_SCOPE, "task 1 committed a change outside any operation");
}

static void test_finalize_changes_extra(void **state) {
  (void)state;
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  orc_op *o = op(T1, SCN_OP_FINALIZE, "s0");
  begin(T1, o);
  session_update(T1, 1, "s0", "in_progress", 2, "{}", "needs_review", 3, "{\"x\":1}", "why");
  status_event(T1, 1, "s0", 2, "in_progress", "needs_review");
  committing(T1, 1);
  expect_violation(ORC_CK_OP_SCOPE, "finalize s0 changed the extra fields");
}

static void test_answer_not_allowed(void **state) {
  (void)state;
  create("s0");
  conn(1);
  orc_op *o = op(T1, SCN_OP_PAUSE, "s0");
  begin(T1, o);
  answer(T1, o, AS_INVAL);
  expect_violation(ORC_CK_OUTCOME, "pause s0 returned AS_INVAL");
}

static void test_write_version_answer(void **state) {
  (void)state;
  create("s0");
  conn(1);
  orc_op *o = op(T1, SCN_OP_WRITE, "s0");
  o->content = "{}";
  o->base_version = 1;
  begin(T1, o);
  session_update(T1, 1, "s0", "new", 1, "{}", "new", 2, "{}", "");
  commit(T1, 1);
  o->version = 5;
  answer(T1, o, AS_OK);
  expect_violation(ORC_CK_OUTCOME, "write s0 reported version 5, but its commit made version 2");
}

/* --- commits not settled: in flight, failed after the commit point, power loss ------------ */

/* A failed commit (rollback after the hook) that a later commit shows did
** not happen: the model goes back. */
static void test_rolled_back_then_evidence_not(void **state) {
  (void)state;
  create("s0");
  conn(1);
  conn(2);
  orc_op *o = op(T1, SCN_OP_WRITE, "s0");
  o->content = "{\"w\":1}";
  o->base_version = 1;
  begin(T1, o);
  session_update(T1, 1, "s0", "new", 1, "{}", "new", 2, "{\"w\":1}", "");
  committing(T1, 1);
  rollback(T1, 1);
  answer(T1, o, AS_IO);
  tool_at(T2, 2, "s0", "new", 1, NULL, 0, "a"); /* starts from version 1: it did not happen */
  expect_ok();
}

/* ... or did: the data stood though the commit reported failure. */
static void test_rolled_back_then_evidence_happened(void **state) {
  (void)state;
  create("s0");
  conn(1);
  conn(2);
  orc_op *o = op(T1, SCN_OP_WRITE, "s0");
  o->content = "{}";
  o->base_version = 1;
  begin(T1, o);
  session_update(T1, 1, "s0", "new", 1, "{}", "new", 2, "{}", "");
  committing(T1, 1);
  rollback(T1, 1);
  answer(T1, o, AS_IO);
  tool_at(T2, 2, "s0", "new", 2, NULL, 0, "a");
  expect_ok();
}

/* A commit still in flight is what other tasks already read. */
static void test_in_flight_visible(void **state) {
  (void)state;
  create("s0");
  conn(1);
  conn(2);
  start(T1, 1, "s0");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  orc_op *f = op(T1, SCN_OP_FINALIZE, "s0");
  begin(T1, f);
  session_update(T1, 1, "s0", "in_progress", 2, "{}", "needs_review", 3, "{}", "why");
  status_event(T1, 1, "s0", 2, "in_progress", "needs_review");
  committing(T1, 1); /* not confirmed yet */
  lock(T1, "s0", ORC_LOCK_RELEASED);
  /* Another task loads it finished and adds no call: a fair answer. */
  orc_op *o = op(T2, SCN_OP_TOOL, "s0");
  o->tool = "a";
  o->base_version = 3;
  begin(T2, o);
  answer(T2, o, AS_OK);
  expect_ok();
  committed(T1, 1);
  f->status = "needs_review";
  answer(T1, f, AS_OK);
  expect_ok();
}

/* Power loss in the middle of a commit, then the next commit decides. */
static void test_power_loss_in_doubt(void **state) {
  (void)state;
  create("s0");
  conn(1);
  orc_op *o = op(T1, SCN_OP_WRITE, "s0");
  o->content = "{\"w\":1}";
  o->base_version = 1;
  begin(T1, o);
  session_update(T1, 1, "s0", "new", 1, "{}", "new", 2, "{\"w\":1}", "");
  committing(T1, 1);
  power_loss();
  rollback(T1, 1); /* the dead connection's: ignored */
  answer(T1, o, AS_IO);
  conn(2);
  tool_at(T2, 2, "s0", "new", 1, NULL, 0, "a"); /* the write was lost with the power */
  expect_ok();
}

/* A connection from before the power loss commits nothing the model takes. */
static void test_dead_connection(void **state) {
  (void)state;
  create("s0");
  conn(1);
  power_loss();
  orc_op *o = op(T1, SCN_OP_WRITE, "s0");
  o->content = "{}";
  begin(T1, o);
  session_update(T1, 1, "s0", "new", 1, "{}", "new", 2, "{}", "");
  committing(T1, 1);
  rollback(T1, 1);
  answer(T1, o, AS_IO);
  conn(2);
  tool_at(T2, 2, "s0", "new", 1, NULL, 0, "a");
  expect_ok();
}

static void test_harness(void **state) {
  (void)state;
  /* A row from a connection the audit never saw open. */
  orc_row r = {.table = ORC_T_SESSIONS, .op = ORC_INSERT};
  r.nw[ORC_SC_ID] = text("s0");
  row(T1, 7, &r);
  assert_non_null(orc_violation(O));
  assert_int_equal(orc_violated_check(O), ORC__CK_COUNT);
  assert_non_null(strstr(orc_violation(O), "the oracle lost track"));
}

static void test_harness_unmapped(void **state) {
  (void)state;
  conn(0);
  feed(ORC_EV_ROW, T1, 0, 0, "sessions", NULL);
  assert_non_null(strstr(orc_violation(O), "before the audit learnt the schema"));
}

static void test_answer_outside_op(void **state) {
  (void)state;
  orc_op o = {.kind = SCN_OP_TOOL};
  feed(ORC_EV_ACK, T1, 0, 0, "t", &o);
  assert_non_null(strstr(orc_violation(O), "which is in no operation"));
}

/* --- quiescence ------------------------------------------------------------------------------- */

static void history_for_db(void) {
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  tool_at(T1, 1, "s0", "in_progress", 2, NULL, 0, "mark_resolved");
  finalize_to(T1, "s0", "in_progress", 3, "resolved", 2, "");
  put(T2, "s0", ORC_INSERT);
  expect_ok();
}

static void db_rows(const char *version) {
  char sql[1024];
  snprintf(sql, sizeof sql,
           "INSERT INTO sessions VALUES ('s0','resolved',%s,0,'','{}',0,0);"
           "INSERT INTO tool_calls VALUES ('s0',0,'mark_resolved','{}','{}','executed');"
           "INSERT INTO events VALUES ('s0',1,'status_changed','{\"from\":\"new\",\"to\":\"in_progress\",\"reason\":\"\"}',0);"
           "INSERT INTO events VALUES ('s0',2,'status_changed','{\"from\":\"in_progress\",\"to\":\"resolved\",\"reason\":\"\"}',0);"
           "INSERT INTO checkpoints VALUES ('s0',x'636b',0);",
           version);
  db_exec(sql);
}

static void test_quiescence_agrees(void **state) {
  (void)state;
  history_for_db();
  make_db();
  db_rows("4");
  char msg[1024];
  int v = quiesce(msg, sizeof msg);
  if (v) fail_msg("%s", msg);
}

static void test_quiescence_lost_write(void **state) {
  (void)state;
  history_for_db();
  make_db();
  db_rows("3"); /* the last commit is not there */
  char msg[1024];
  assert_int_equal(quiesce(msg, sizeof msg), SIM_INVARIANT);
  if (!strstr(msg, "lost-write: session s0: version 3 in the database, 4 committed"))
    fail_msg("%s", msg);
}

static void test_quiescence_extra_session(void **state) {
  (void)state;
  history_for_db();
  make_db();
  db_rows("4");
  db_exec("INSERT INTO sessions VALUES ('ghost','new',1,0,'','{}',0,0);");
  char msg[1024];
  assert_int_equal(quiesce(msg, sizeof msg), SIM_INVARIANT);
  assert_non_null(strstr(msg, "session ghost, which was never committed"));
}

static void test_quiescence_missing_checkpoint(void **state) {
  (void)state;
  history_for_db();
  make_db();
  db_rows("4");
  db_exec("DELETE FROM checkpoints;");
  char msg[1024];
  assert_int_equal(quiesce(msg, sizeof msg), SIM_INVARIANT);
  assert_non_null(strstr(msg, "checkpoint s0 was committed but is not in the database"));
}

static void test_quiescence_cannot_read(void **state) {
  (void)state;
  history_for_db();
  assert_int_equal(sqlite3_open(":memory:", &DB), SQLITE_OK); /* no tables */
  char msg[1024];
  assert_int_equal(quiesce(msg, sizeof msg), SIM_HARNESS);
  assert_non_null(strstr(msg, "the oracle cannot read the sessions"));
}

/* Power loss left a write in doubt: the database may hold either state. */
static void test_quiescence_either_side(void **state) {
  (void)state;
  for (int lost = 0; lost < 2; lost++) {
    teardown(NULL);
    setup(NULL);
    create("s0");
    conn(1);
    orc_op *o = op(T1, SCN_OP_WRITE, "s0");
    o->content = "{\"w\":1}";
    o->base_version = 1;
    begin(T1, o);
    session_update(T1, 1, "s0", "new", 1, "{}", "new", 2, "{\"w\":1}", "");
    committing(T1, 1);
    power_loss();
    answer(T1, o, AS_IO);
    make_db();
    db_exec(lost ? "INSERT INTO sessions VALUES ('s0','new',1,0,'','{}',0,0);"
                 : "INSERT INTO sessions VALUES ('s0','new',2,0,'','{\"w\":1}',0,0);");
    char msg[1024];
    int v = quiesce(msg, sizeof msg);
    if (v) fail_msg("lost=%d: %s", lost, msg);
  }
}

/* --- the specification's own pieces ---------------------------------------------------------- */

static void test_spec(void **state) {
  (void)state;
  assert_int_equal(orc_status_parse("awaiting_input", 14), ORC_ST_AWAITING_INPUT);
  assert_int_equal(orc_status_parse("awaiting", 8), -1);
  assert_string_equal(orc_status_name(99), "?");
  assert_true(orc_terminal(ORC_ST_ERROR) && !orc_active(ORC_ST_RESOLVED) && orc_active(ORC_ST_ERROR));
  assert_int_equal(orc_base_len("s1:retry-12"), 2);
  assert_int_equal(orc_base_len("s1:retry-"), 9);
  assert_int_equal(orc_base_len("s1:retry-1:retry-2"), 10);
  assert_int_equal(orc_base_len("s1retry-2"), 9);
  orc_call calls[] = {{"mark_resolved", ORC_CS_EXECUTED}, {"x:notify", ORC_CS_EXECUTED},
                      {"mark_escalated", ORC_CS_TIMED_OUT}};
  static const char *const legacy[] = {"notify"};
  assert_int_equal(orc_infer(calls, 3, legacy, 1), ORC_ST_ESCALATED);
  assert_int_equal(orc_infer(calls, 3, NULL, 0), ORC_ST_RESOLVED);
  assert_int_equal(orc_infer(calls, 0, NULL, 0), ORC_ST_NEEDS_REVIEW);
  char buf[256];
  sim_ev ev = {.kind = ORC_EV_LOCK, .label = "s3", .extra = ORC_LOCK_TRY_REFUSED};
  orc_describe(&ev, buf, sizeof buf);
  assert_string_equal(buf, "session-lock s3 try refused");
  for (int c = 0; c < ORC__CK_COUNT; c++) assert_true(strlen(orc_check_what((orc_check)c)) > 10);
  assert_string_equal(orc_check_name(ORC__CK_COUNT), "?");
}

/* docs/oracle.md carries the generated table of checks, exactly; the text
** form names every check too. */
static void test_docs(void **state) {
  (void)state;
  docgen_match(AS_SOURCE_DIR "/docs/oracle.md", orc_write_checks);
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  orc_write_checks(f, 0);
  assert_int_equal(fclose(f), 0);
  for (int c = 0; c < ORC__CK_COUNT; c++) {
    char want[40];
    snprintf(want, sizeof want, "\n  %s ", orc_check_name((orc_check)c));
    if (c && !strstr(text, want)) fail_msg("the text lacks %s", want);
  }
  free(text);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_lock_exclusive),         T(test_lock_try),
      T(test_lock_try_holder),        T(test_lock_try_exclusive),
      T(test_lock_release),           T(test_lock_scope),
      T(test_lock_scope_other_holder), T(test_stale_conflict_resolved_by_reload),
      T(test_evidence),               T(test_version_step),
      T(test_stale_save),             T(test_terminal_finalized_again),
      T(test_terminal_left),          T(test_status_event_missing),
      T(test_status_event_wrong_from), T(test_status_event_without_change),
      T(test_event_seq),              T(test_event_changed),
      T(test_history),                T(test_history_hole),
      T(test_write_content),          T(test_inference_newest_first),
      T(test_inference_wrong),        T(test_inference_unexecuted),
      T(test_finalize_outcome),       T(test_finalize_says_wrong_status),
      T(test_stale_escaped),          T(test_pause_outcome),
      T(test_pause_said_changed),     T(test_reason),
      T(test_fail),                   T(test_gc_exact),
      T(test_gc_keeps),               T(test_gc_count),
      T(test_ckpt_evidence),          T(test_outside_op),
      T(test_finalize_changes_extra), T(test_answer_not_allowed),
      T(test_write_version_answer),   T(test_rolled_back_then_evidence_not),
      T(test_rolled_back_then_evidence_happened), T(test_in_flight_visible),
      T(test_power_loss_in_doubt),    T(test_dead_connection),
      T(test_harness),                T(test_harness_unmapped),
      T(test_answer_outside_op),      T(test_quiescence_agrees),
      T(test_quiescence_lost_write),  T(test_quiescence_extra_session),
      T(test_quiescence_missing_checkpoint), T(test_quiescence_cannot_read),
      T(test_quiescence_either_side), T(test_spec),
      cmocka_unit_test(test_docs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

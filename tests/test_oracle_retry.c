/*
** test_oracle_retry.c -- the oracle's failure-path checks, fed hand-made
** histories (oracle_feed.h): each check fires on the history it exists for
** and stays quiet on the right one -- retry-once (the registry's account),
** retry-count, retry-start, retry-decision (the oracle's own should_retry),
** preview-pure, cancel, error-kind, turn-cap, runs-evict -- and the spec's
** table of kinds and its policy, order by order.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "oracle_feed.h"

static orc_app APP;

static int setup_app(void **state) {
  if (setup(state) != 0) return -1;
  memset(&APP, 0, sizeof APP);
  snprintf(APP.agents[0].name, sizeof APP.agents[0].name, "intake");
  APP.agents[0].max_calls = 3;
  APP.nagents = 1;
  snprintf(APP.routes[0].agent, sizeof APP.routes[0].agent, "intake");
  snprintf(APP.routes[0].to, sizeof APP.routes[0].to, "end");
  APP.nroutes = 1;
  APP.max_retries = 2;
  APP.retry_min_confidence = 0.3;
  APP.retry_transient = true;
  ERR_KIND = "llm_timeout";
  ERR_CAUSE = "agent intake, LLM call 1: no answer";
  return orc_set_app(O, &APP) == AS_OK ? 0 : -1;
}

static void fresh(void) {
  teardown(NULL);
  assert_int_equal(setup_app(NULL), 0);
}

static void runs(uint32_t t, const char *key, orc_runs_event e) {
  feed(ORC_EV_RUNS, t, 0, (uint64_t)e, key, NULL);
}

/* A session row update with every column given. */
static void srow(uint32_t t, const char *id, const char *st0, int64_t v0, int64_t r0,
                 const char *k0, const char *c0, const char *st1, int64_t r1, const char *k1,
                 const char *c1, const char *x) {
  orc_row r = {.table = ORC_T_SESSIONS, .op = ORC_UPDATE};
  r.old[ORC_SC_ID] = r.nw[ORC_SC_ID] = text(id);
  r.old[ORC_SC_STATUS] = text(st0);
  r.nw[ORC_SC_STATUS] = text(st1);
  r.old[ORC_SC_VERSION] = num(v0);
  r.nw[ORC_SC_VERSION] = num(v0 + 1);
  r.old[ORC_SC_RETRY] = num(r0);
  r.nw[ORC_SC_RETRY] = num(r1);
  r.old[ORC_SC_REASON] = text(kept_reason(st0));
  r.nw[ORC_SC_REASON] = text("");
  r.old[ORC_SC_EXTRA] = r.nw[ORC_SC_EXTRA] = text(x);
  r.old[ORC_SC_CREATED] = r.old[ORC_SC_UPDATED] = num(NOW);
  r.nw[ORC_SC_CREATED] = r.nw[ORC_SC_UPDATED] = num(NOW);
  r.old[ORC_SC_KIND] = text(k0);
  r.old[ORC_SC_CAUSE] = text(c0);
  r.nw[ORC_SC_KIND] = text(k1);
  r.nw[ORC_SC_CAUSE] = text(c1);
  row(t, 1, &r);
}

/* Task t fails s0 (in_progress, v) with kind: the operation and its rows
** (seq), committed; the answer the caller's. */
static orc_op *fail_rows(uint32_t t, const char *kind, int64_t v, int64_t seq) {
  lock(t, "s0", ORC_LOCK_ACQUIRED);
  orc_op *o = op(t, SCN_OP_FAIL, "s0");
  o->errkind = kind;
  begin(t, o);
  session_update(t, 1, "s0", "in_progress", v, "{}", "error", v + 1, "{}", "");
  status_event(t, 1, "s0", seq, "in_progress", "error");
  commit(t, 1);
  return o;
}

/* s0 created, started by T1 (v2, seq 1), failed by T1 with ERR_KIND (v3, seq 2). */
static void errored(void) {
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  orc_op *o = fail_rows(T1, ERR_KIND, 2, 2);
  lock(T1, "s0", ORC_LOCK_RELEASED);
  o->changed = 1;
  answer(T1, o, AS_OK);
}

static orc_op RET;

/* Task t's retry of s0 begins and goes in flight. */
static void retry_begin(uint32_t t) {
  RET = (orc_op){.kind = SCN_OP_RETRY, .line = 1, .session = "s0", .changed = -1, .removed = -1};
  begin(t, &RET);
  runs(t, "s0", ORC_RUNS_RETRY_ENTERED);
}

/* The accepted retry's commit: error (v, retry r) -> in_progress, retry r + dr, with its
** status_changed (seq) and retry_started {retry: r + dr, thread} events. */
static void started(uint32_t t, int64_t v, int64_t r, int64_t dr, const char *from, int64_t seq) {
  lock(t, "s0", ORC_LOCK_ACQUIRED);
  bool err = strcmp(from, "error") == 0;
  srow(t, "s0", from, v, r, err ? ERR_KIND : "", err ? ERR_CAUSE : "", "in_progress", r + dr, "", "",
       "{}");
  char p[160];
  snprintf(p, sizeof p, "{\"from\":\"%s\",\"to\":\"in_progress\",\"reason\":\"\"}", from);
  event_row(t, 1, ORC_INSERT, "s0", seq, "status_changed", p);
  snprintf(p, sizeof p, "{\"retry\":%lld,\"thread\":\"s0:retry-%lld\"}", (long long)(r + dr),
           (long long)(r + dr));
  event_row(t, 1, ORC_INSERT, "s0", seq + 1, "retry_started", p);
  commit(t, 1);
}

/* ... and its end: the lock released, the retry out of flight, the answer. */
static void retry_end(uint32_t t, int answer_kind, const char *reason, int64_t count,
                      const char *thread) {
  lock(t, "s0", ORC_LOCK_RELEASED);
  runs(t, "s0", ORC_RUNS_RETRY_LEFT);
  RET.answer = answer_kind;
  RET.reason = reason;
  RET.retry_count = count;
  RET.thread = thread;
  answer(t, &RET, AS_OK);
}

/* A refusal under the lock: its retry_rejected event alone. */
static void rejected(uint32_t t, const char *reason, int64_t count, int64_t seq) {
  lock(t, "s0", ORC_LOCK_ACQUIRED);
  char p[160];
  snprintf(p, sizeof p, "{\"reason\":\"%s\",\"retry_count\":%lld}", reason, (long long)count);
  event_row(t, 1, ORC_INSERT, "s0", seq, "retry_rejected", p);
  commit(t, 1);
}

/* --- the spec's table and policy ------------------------------------------------- */

static void test_policy(void **state) {
  (void)state;
  bool tr = true;
  assert_true(orc_kind_known("llm_timeout", &tr) && tr);
  assert_true(orc_kind_known("cancelled", &tr) && tr);
  assert_true(orc_kind_known("llm_refusal", &tr) && !tr);
  assert_true(orc_kind_known("unknown", &tr) && !tr);
  assert_false(orc_kind_known("no_such_kind", &tr));
  assert_false(orc_kind_known(NULL, &tr));
  orc_retry_policy p = {2, 0.3, true};
  assert_int_equal(orc_should_retry(0, "llm_timeout", false, 0, &p), ORC_DEC_AUTO);
  assert_int_equal(orc_should_retry(2, "llm_timeout", false, 0, &p), ORC_DEC_MAX);
  /* the order: the cap before the class, the class before the confidence */
  assert_int_equal(orc_should_retry(2, "llm_refusal", true, 0.1, &p), ORC_DEC_MAX);
  assert_int_equal(orc_should_retry(0, "llm_refusal", true, 0.1, &p), ORC_DEC_PERMANENT);
  assert_int_equal(orc_should_retry(0, "quota_v9", false, 0, &p), ORC_DEC_PERMANENT);
  assert_int_equal(orc_should_retry(0, "", false, 0, &p), ORC_DEC_PERMANENT);
  assert_int_equal(orc_should_retry(0, "io_error", true, 0.1, &p), ORC_DEC_LOW_CONFIDENCE);
  assert_int_equal(orc_should_retry(0, "io_error", true, 0.3, &p), ORC_DEC_AUTO);
  p.transient = false;
  assert_int_equal(orc_should_retry(0, "io_error", true, 0.1, &p), ORC_DEC_LOW_CONFIDENCE);
  assert_int_equal(orc_should_retry(0, "io_error", false, 0, &p), ORC_DEC_TRANSIENT_DISABLED);
  assert_string_equal(orc_decision_name(ORC_DEC_TRANSIENT_DISABLED), "transient_disabled");
  assert_string_equal(orc_decision_name((orc_decision)99), "?");
}

/* --- retry: accepted, counted, from error only --------------------------------------- */

static void test_accepted_retry(void **state) {
  (void)state;
  errored();
  retry_begin(T2);
  started(T2, 3, 0, 1, "error", 3);
  expect_ok();
  retry_end(T2, ORC_RA_ACCEPTED, "auto_retry", 1, "s0:retry-1");
  expect_ok();
  /* The retry's run checkpoints the thread retry_count names. */
  fresh();
  errored();
  retry_begin(T2);
  started(T2, 3, 0, 1, "error", 3);
  ckpt_row(T2, 1, ORC_INSERT, "s0:retry-1");
  commit(T2, 1);
  expect_ok();
  ckpt_row(T2, 1, ORC_INSERT, "s0");
  commit(T2, 1);
  expect_violation(ORC_CK_RETRY_COUNT, "retry s0 stored checkpoint s0, not the session's own (s0:retry-1");
  /* An answer that disagrees with the commit. */
  fresh();
  errored();
  retry_begin(T2);
  started(T2, 3, 0, 1, "error", 3);
  retry_end(T2, ORC_RA_ACCEPTED, "auto_retry", 1, "s0:retry-2");
  expect_violation(ORC_CK_OUTCOME, "answered retry 1 on thread s0:retry-2");
}

static void test_retry_count(void **state) {
  (void)state;
  errored();
  retry_begin(T2);
  started(T2, 3, 0, 0, "error", 3); /* retry_count_not_incremented */
  expect_violation(ORC_CK_RETRY_COUNT, "1 retry_started events in a commit that leaves retry_count (0 -> 0)");
  fresh();
  errored();
  retry_begin(T2);
  started(T2, 3, 0, 2, "error", 3);
  expect_violation(ORC_CK_RETRY_COUNT, "a retry moved retry_count 0 -> 2");
  /* Raised by anything but a retry. */
  fresh();
  create("s0");
  conn(1);
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  orc_op *w = op(T1, SCN_OP_START, "s0");
  begin(T1, w);
  srow(T1, "s0", "new", 1, 0, "", "", "in_progress", 1, "", "", "{}");
  status_event(T1, 1, "s0", 1, "new", "in_progress");
  commit(T1, 1);
  expect_violation(ORC_CK_RETRY_COUNT, "retry_count 0 -> 1 committed by start");
}

static void test_retry_start(void **state) {
  (void)state;
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  retry_begin(T2);
  started(T2, 2, 0, 1, "in_progress", 2); /* retry_from_non_error */
  expect_violation(ORC_CK_RETRY_START, "s0: a retry started from in_progress");
  /* From a terminal status: retry-start speaks before terminal-left. */
  fresh();
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  NR_REASON = "no terminal call";
  finalize_to(T1, "s0", "in_progress", 2, "needs_review", 2, NR_REASON);
  expect_ok();
  retry_begin(T2);
  started(T2, 3, 0, 1, "needs_review", 3);
  expect_violation(ORC_CK_RETRY_START, "a retry started from needs_review");
}

/* --- decisions: the oracle's own should_retry --------------------------------------- */

static void test_decisions(void **state) {
  (void)state;
  /* An unknown kind is permanent: a retry that starts is wrong (unknown_error_transient). */
  ERR_KIND = "quota_exhausted_v9";
  errored();
  retry_begin(T2);
  started(T2, 3, 0, 1, "error", 3);
  expect_violation(ORC_CK_RETRY_DECISION, "retry s0 started retry 1, but the policy says permanent_error");
  /* A permanent kind, refused as such: quiet; refused otherwise: not. */
  fresh();
  ERR_KIND = "llm_refusal";
  errored();
  retry_begin(T2);
  rejected(T2, "permanent_error", 0, 3);
  expect_ok();
  retry_end(T2, ORC_RA_DENIED, "permanent_error", 0, "");
  expect_ok();
  fresh();
  errored(); /* llm_timeout: transient */
  retry_begin(T2);
  rejected(T2, "permanent_error", 0, 3);
  expect_violation(ORC_CK_RETRY_DECISION, "retry s0 was refused for 'permanent_error', but the session");
  /* Not in error, recorded; an answer that disagrees with what was recorded. */
  fresh();
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  retry_begin(T2);
  rejected(T2, "not in error state", 0, 2);
  expect_ok();
  retry_end(T2, ORC_RA_NOT_ERROR, "not in error state", 0, "");
  expect_ok();
  fresh();
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  retry_begin(T2);
  rejected(T2, "not in error state", 0, 2);
  retry_end(T2, ORC_RA_DENIED, "max_retries_exceeded", 0, "");
  expect_violation(ORC_CK_RETRY_DECISION, "retry s0 answered denied ('max_retries_exceeded')");
  /* A refusal's retry_count is the session's. */
  fresh();
  ERR_KIND = "llm_refusal";
  errored();
  retry_begin(T2);
  rejected(T2, "permanent_error", 4, 3);
  expect_violation(ORC_CK_RETRY_DECISION, "recorded its refusal with retry_count 4");
  /* A denial answered without its record. */
  fresh();
  ERR_KIND = "llm_refusal";
  errored();
  retry_begin(T2);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  retry_end(T2, ORC_RA_DENIED, "permanent_error", 0, "");
  expect_violation(ORC_CK_OUTCOME, "retry s0 answered 'permanent_error' but recorded no refusal");
  /* Low confidence: the session's own extra field. */
  fresh();
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  orc_op *f = op(T1, SCN_OP_FAIL, "s0");
  f->errkind = ERR_KIND;
  begin(T1, f);
  srow(T1, "s0", "in_progress", 2, 0, "", "", "error", 0, ERR_KIND, ERR_CAUSE, "{}");
  status_event(T1, 1, "s0", 2, "in_progress", "error");
  commit(T1, 1);
  lock(T1, "s0", ORC_LOCK_RELEASED);
  answer(T1, f, AS_OK);
  expect_ok();
}

/* --- retry-once: the registry's account --------------------------------------------------- */

static void test_retry_once(void **state) {
  (void)state;
  errored();
  retry_begin(T1);
  RET = (orc_op){.kind = SCN_OP_RETRY, .line = 1, .session = "s0", .changed = -1, .removed = -1};
  begin(T2, &RET);
  runs(T2, "s0", ORC_RUNS_RETRY_REFUSED); /* one in flight: refused, quiet */
  RET.answer = ORC_RA_IN_PROGRESS;
  RET.reason = "retry already in progress";
  answer(T2, &RET, AS_OK);
  expect_ok();
  runs(T2, "s0", ORC_RUNS_RETRY_ENTERED); /* concurrent_retry_not_rejected */
  expect_violation(ORC_CK_RETRY_ONCE, "two retries of s0 in flight at once");
  /* Refused with none in flight. */
  fresh();
  errored();
  RET = (orc_op){.kind = SCN_OP_RETRY, .line = 1, .session = "s0", .changed = -1, .removed = -1};
  begin(T2, &RET);
  runs(T2, "s0", ORC_RUNS_RETRY_REFUSED);
  expect_violation(ORC_CK_RETRY_ONCE, "refused as already in progress, but none is in flight");
  /* Answered in progress without the registry's refusal. */
  fresh();
  errored();
  retry_begin(T2);
  runs(T2, "s0", ORC_RUNS_RETRY_LEFT);
  RET.answer = ORC_RA_IN_PROGRESS;
  RET.reason = "retry already in progress";
  answer(T2, &RET, AS_OK);
  expect_violation(ORC_CK_RETRY_ONCE, "answered 'retry already in progress' though the registry refused nothing");
  /* In progress recorded. */
  fresh();
  errored();
  retry_begin(T2);
  rejected(T2, "retry already in progress", 0, 3);
  expect_violation(ORC_CK_RETRY_ONCE, "recorded 'retry already in progress'");
  /* Leaving a retry that is not in flight; answering with one still in flight. */
  fresh();
  errored();
  begin(T2, op(T2, SCN_OP_RETRY, "s0"));
  runs(T2, "s0", ORC_RUNS_RETRY_LEFT);
  expect_violation(ORC_CK_RETRY_ONCE, "left the in-flight set, but none was in flight");
  fresh();
  ERR_KIND = "llm_refusal";
  errored();
  retry_begin(T2);
  rejected(T2, "permanent_error", 0, 3);
  lock(T2, "s0", ORC_LOCK_RELEASED);
  RET.answer = ORC_RA_DENIED;
  RET.reason = "permanent_error";
  answer(T2, &RET, AS_OK);
  expect_violation(ORC_CK_RETRY_ONCE, "retry s0 answered with its retry still in flight");
}

/* --- preview ------------------------------------------------------------------------ */

static void test_preview(void **state) {
  (void)state;
  ERR_KIND = "llm_refusal";
  errored();
  orc_op *p = op(T2, SCN_OP_PREVIEW, "s0");
  begin(T2, p);
  p->answer = ORC_RA_DENIED;
  p->reason = "permanent_error";
  answer(T2, p, AS_OK);
  expect_ok();
  p = op(T2, SCN_OP_PREVIEW, "s0");
  begin(T2, p);
  p->answer = ORC_RA_ACCEPTED;
  p->reason = "auto_retry";
  answer(T2, p, AS_OK);
  expect_violation(ORC_CK_RETRY_DECISION, "preview s0 answered accepted ('auto_retry'), but the "
                                          "oracle's policy on the session's states meanwhile says permanent_error");
  /* preview_mutates: its denial recorded. */
  fresh();
  ERR_KIND = "llm_refusal";
  errored();
  p = op(T2, SCN_OP_PREVIEW, "s0");
  begin(T2, p);
  event_row(T2, 1, ORC_INSERT, "s0", 3, "retry_rejected", "{\"reason\":\"permanent_error\",\"retry_count\":0}");
  commit(T2, 1);
  expect_violation(ORC_CK_PREVIEW, "preview s0 committed a change (1 sessions, 0 checkpoints, an event)");
  /* In progress only while a retry is in flight. */
  fresh();
  errored();
  p = op(T2, SCN_OP_PREVIEW, "s0");
  begin(T2, p);
  p->answer = ORC_RA_IN_PROGRESS;
  answer(T2, p, AS_OK);
  expect_violation(ORC_CK_RETRY_ONCE, "preview s0 answered 'retry already in progress', but no retry");
  fresh();
  errored();
  retry_begin(T1);
  p = op(T2, SCN_OP_PREVIEW, "s0");
  begin(T2, p);
  p->answer = ORC_RA_IN_PROGRESS;
  answer(T2, p, AS_OK);
  expect_ok();
  /* A state that moves while it looks: either answer will do. */
  fresh();
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  p = op(T2, SCN_OP_PREVIEW, "s0");
  begin(T2, p);
  orc_op *f = fail_rows(T1, ERR_KIND, 2, 2);
  lock(T1, "s0", ORC_LOCK_RELEASED);
  answer(T1, f, AS_OK);
  p->answer = ORC_RA_NOT_ERROR;
  p->reason = "not in error state";
  answer(T2, p, AS_OK);
  expect_ok();
}

/* --- cancel --------------------------------------------------------------------------- */

static void test_cancel(void **state) {
  (void)state;
  create("s0");
  conn(1);
  /* A run registered, a cancel marks it, it stops and fails the session cancelled. */
  orc_op *r = op(T1, SCN_OP_RUN, "s0");
  begin(T1, r);
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  runs(T1, "s0", ORC_RUNS_RUN_BEGAN);
  orc_op *c = op(T2, SCN_OP_CANCEL, "s0");
  begin(T2, c);
  runs(T2, "s0", ORC_RUNS_CANCEL_MARKED);
  c->answer = ORC_CANCEL_STOPPING;
  answer(T2, c, AS_OK);
  expect_ok();
  runs(T1, "s0", ORC_RUNS_CANCEL_SEEN);
  ERR_KIND = "cancelled";
  session_update(T1, 1, "s0", "new", 1, "{}", "error", 2, "{}", "");
  status_event(T1, 1, "s0", 1, "new", "error");
  commit(T1, 1);
  expect_ok();
  runs(T1, "s0", ORC_RUNS_RUN_ENDED);
  lock(T1, "s0", ORC_LOCK_RELEASED);
  r->outcome = ORC_RUN_FAILED;
  answer(T1, r, AS_OK);
  expect_ok();
  /* ... recording another kind. */
  fresh();
  create("s0");
  conn(1);
  r = op(T1, SCN_OP_RUN, "s0");
  begin(T1, r);
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  runs(T1, "s0", ORC_RUNS_RUN_BEGAN);
  c = op(T2, SCN_OP_CANCEL, "s0");
  begin(T2, c);
  runs(T2, "s0", ORC_RUNS_CANCEL_MARKED);
  runs(T1, "s0", ORC_RUNS_CANCEL_SEEN);
  ERR_KIND = "llm_timeout";
  session_update(T1, 1, "s0", "new", 1, "{}", "error", 2, "{}", "");
  status_event(T1, 1, "s0", 1, "new", "error");
  commit(T1, 1);
  expect_violation(ORC_CK_CANCEL, "run s0 stopped its run for a cancel, but recorded the kind 'llm_timeout'");
  /* Stopping without a mark; a cancel answered against the registry; a run without its lock. */
  fresh();
  create("s0");
  r = op(T1, SCN_OP_RUN, "s0");
  begin(T1, r);
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  runs(T1, "s0", ORC_RUNS_RUN_BEGAN);
  runs(T1, "s0", ORC_RUNS_CANCEL_SEEN);
  expect_violation(ORC_CK_CANCEL, "stopped for a cancel, but no cancel marked it");
  fresh();
  create("s0");
  c = op(T2, SCN_OP_CANCEL, "s0");
  begin(T2, c);
  runs(T2, "s0", ORC_RUNS_CANCEL_IDLE);
  c->answer = ORC_CANCEL_STOPPING;
  answer(T2, c, AS_OK);
  expect_violation(ORC_CK_CANCEL, "cancel s0 answered stopping, but the registry found no run");
  fresh();
  create("s0");
  r = op(T1, SCN_OP_RUN, "s0");
  begin(T1, r);
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  runs(T1, "s0", ORC_RUNS_RUN_BEGAN);
  c = op(T2, SCN_OP_CANCEL, "s0");
  begin(T2, c);
  runs(T2, "s0", ORC_RUNS_CANCEL_IDLE);
  expect_violation(ORC_CK_CANCEL, "a cancel of s0 found no run, but 1 is registered");
  fresh();
  create("s0");
  begin(T1, op(T1, SCN_OP_RUN, "s0"));
  runs(T1, "s0", ORC_RUNS_RUN_BEGAN);
  expect_violation(ORC_CK_CANCEL, "registered a run of s0 without holding its lock");
  fresh();
  create("s0");
  c = op(T2, SCN_OP_CANCEL, "s0");
  begin(T2, c);
  runs(T2, "s0", ORC_RUNS_CANCEL_MARKED);
  expect_violation(ORC_CK_CANCEL, "a cancel marked a run of s0, but none is registered");
  /* inflight_not_cleared_on_cancel: the cancelled retry answers still in flight. */
  fresh();
  errored();
  retry_begin(T2);
  started(T2, 3, 0, 1, "error", 3);
  runs(T2, "s0", ORC_RUNS_RUN_BEGAN);
  c = op(T1, SCN_OP_CANCEL, "s0");
  begin(T1, c);
  runs(T1, "s0", ORC_RUNS_CANCEL_MARKED);
  runs(T2, "s0", ORC_RUNS_CANCEL_SEEN);
  ERR_KIND = "cancelled";
  srow(T2, "s0", "in_progress", 4, 1, "", "", "error", 1, ERR_KIND, ERR_CAUSE, "{}");
  status_event(T2, 1, "s0", 5, "in_progress", "error");
  commit(T2, 1);
  runs(T2, "s0", ORC_RUNS_RUN_ENDED);
  lock(T2, "s0", ORC_LOCK_RELEASED);
  RET.answer = ORC_RA_ACCEPTED;
  RET.reason = "auto_retry";
  RET.retry_count = 1;
  RET.thread = "s0:retry-1";
  RET.outcome = ORC_RUN_FAILED;
  answer(T2, &RET, AS_OK);
  expect_violation(ORC_CK_CANCEL, "retry s0 answered with its retry still in flight (its run was cancelled)");
}

/* --- error rows, the turn cap, the registry at quiescence --------------------------------- */

static void test_error_kind(void **state) {
  (void)state;
  ERR_KIND = "";
  errored();
  expect_violation(ORC_CK_ERROR_KIND, "s0 is error with the kind '' and cause");
  fresh();
  create("s0");
  conn(1);
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  orc_op *o = op(T1, SCN_OP_START, "s0");
  begin(T1, o);
  srow(T1, "s0", "new", 1, 0, "", "", "in_progress", 0, "llm_timeout", "x", "{}");
  status_event(T1, 1, "s0", 1, "new", "in_progress");
  commit(T1, 1);
  expect_violation(ORC_CK_ERROR_KIND, "s0 is in_progress with the error kind 'llm_timeout'");
  /* The event must say what the row says. */
  fresh();
  create("s0");
  conn(1);
  fresh();
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  o = op(T1, SCN_OP_FAIL, "s0");
  o->errkind = ERR_KIND;
  begin(T1, o);
  session_update(T1, 1, "s0", "in_progress", 2, "{}", "error", 3, "{}", "");
  event_row(T1, 1, ORC_INSERT, "s0", 2, "status_changed",
            "{\"from\":\"in_progress\",\"to\":\"error\",\"reason\":\"\",\"error_kind\":\"io_error\",\"error\":\"x\"}");
  commit(T1, 1);
  expect_violation(ORC_CK_ERROR_KIND, "but its status_changed event says error_kind 'io_error'");
  /* fail stores the kind it was given. */
  fresh();
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  (void)fail_rows(T1, "no_such_kind", 2, 2);
  expect_violation(ORC_CK_ERROR_KIND, "fail s0 stored the error llm_timeout");
}

static void llm(uint32_t t, const char *agent, unsigned call, unsigned attempt) {
  orc_llm l = {.session = "s0", .agent = agent, .call = call, .attempt = attempt};
  feed(ORC_EV_LLM, t, 0, 0, NULL, &l);
}

static void test_turn_cap(void **state) {
  (void)state;
  create("s0");
  orc_op *r = op(T1, SCN_OP_RUN, "s0");
  begin(T1, r);
  for (unsigned c = 1; c <= 3; c++) {
    llm(T1, "intake", c, 1);
    llm(T1, "intake", c, 2); /* tried again: the same call */
  }
  expect_ok();
  llm(T1, "intake", 4, 1);
  expect_violation(ORC_CK_TURN_CAP, "agent intake of s0 made its LLM call 4 in one run; its max_calls is 3");
  fresh();
  create("s0");
  begin(T1, op(T1, SCN_OP_RUN, "s0"));
  llm(T1, "nobody", 1, 1);
  expect_violation(ORC_CK_OP_SCOPE, "asked the model as agent nobody");
  fresh();
  llm(T1, "intake", 1, 1);
  expect_harness("an LLM request outside any operation");
}

static void test_runs_evict(void **state) {
  (void)state;
  orc_runs_idle(O, 0);
  expect_ok();
  orc_runs_idle(O, 2);
  expect_violation(ORC_CK_RUNS_EVICT, "the runs registry keeps 2 entries");
}

/* --- the reviewer's rules: a preview's lock, a whole retry, leaving under the lock, a
** stopped run's calls ------------------------------------------------------------------ */

static void test_more_rules(void **state) {
  (void)state;
  errored();
  /* A preview that goes for the lock. */
  orc_op *p = op(T2, SCN_OP_PREVIEW, "s0");
  begin(T2, p);
  lock(T2, "s0", ORC_LOCK_TRY_REFUSED);
  expect_violation(ORC_CK_PREVIEW, "preview s0 went for the lock of s0");
  /* ... or answers busy. */
  fresh();
  errored();
  p = op(T2, SCN_OP_PREVIEW, "s0");
  begin(T2, p);
  answer(T2, p, AS_BUSY);
  expect_violation(ORC_CK_PREVIEW, "preview s0 answered busy");
  /* A retry in flight from the preview's start to its answer: in progress. */
  fresh();
  errored();
  retry_begin(T1);
  p = op(T2, SCN_OP_PREVIEW, "s0");
  begin(T2, p);
  p->answer = ORC_RA_ACCEPTED;
  p->reason = "auto_retry";
  answer(T2, p, AS_OK);
  expect_violation(ORC_CK_RETRY_ONCE, "though a retry of it was in flight from its start to its answer");
  /* ... but one that left meanwhile allows the policy's answer. */
  fresh();
  errored();
  retry_begin(T1);
  p = op(T2, SCN_OP_PREVIEW, "s0");
  begin(T2, p);
  runs(T1, "s0", ORC_RUNS_RETRY_LEFT);
  p->answer = ORC_RA_ACCEPTED;
  p->reason = "auto_retry";
  answer(T2, p, AS_OK);
  expect_ok();
  /* A retry leaving the in-flight set with the lock still held. */
  fresh();
  errored();
  retry_begin(T1);
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  runs(T1, "s0", ORC_RUNS_RETRY_LEFT);
  expect_violation(ORC_CK_RETRY_ONCE, "left the in-flight set still holding the session's lock");
  /* A run that saw its cancel asks the model again, or carries out a tool. */
  for (int k = 0; k < 2; k++) {
    fresh();
    create("s0");
    orc_op *r = op(T1, SCN_OP_RUN, "s0");
    begin(T1, r);
    lock(T1, "s0", ORC_LOCK_ACQUIRED);
    runs(T1, "s0", ORC_RUNS_RUN_BEGAN);
    runs(T2, "s0", ORC_RUNS_CANCEL_MARKED);
    llm(T1, "intake", 1, 1);
    expect_ok();
    runs(T1, "s0", ORC_RUNS_CANCEL_SEEN);
    if (k == 0) {
      llm(T1, "intake", 2, 1);
      expect_violation(ORC_CK_CANCEL, "asked the model (agent intake) after its run of s0 saw its cancel");
    } else {
      orc_exec x = {.session = "s0", .tool = "srv:low", .args = "{}"};
      feed(ORC_EV_EXEC, T1, 0, 0, "t", &x);
      expect_violation(ORC_CK_CANCEL, "srv:low was carried out for s0 after its run saw its cancel");
    }
  }
}

/* --- the registry's account, every way it can be wrong ---------------------------------- */

static void test_registry_account(void **state) {
  (void)state;
  errored();
  /* Refused while its own retry is the one in flight. */
  retry_begin(T2);
  runs(T2, "s0", ORC_RUNS_RETRY_REFUSED);
  expect_violation(ORC_CK_RETRY_ONCE, "refused as already in progress, but the one in flight is its own");
  /* Leaving while another's is in flight. */
  fresh();
  errored();
  retry_begin(T1);
  begin(T2, op(T2, SCN_OP_RETRY, "s0"));
  runs(T2, "s0", ORC_RUNS_RETRY_LEFT);
  expect_violation(ORC_CK_RETRY_ONCE, "left the in-flight set, but another task's is the one in flight");
  /* A run ended that was never registered. */
  fresh();
  create("s0");
  begin(T1, op(T1, SCN_OP_RUN, "s0"));
  runs(T1, "s0", ORC_RUNS_RUN_ENDED);
  expect_violation(ORC_CK_CANCEL, "ended a run of s0 it had not registered");
  /* A cancel that finds nothing though runs are registered (one, two). */
  for (int n = 1; n <= 2; n++) {
    fresh();
    create("s0");
    for (int k = 0; k < n; k++) {
      uint32_t t = k ? T2 : T1;
      begin(t, op(t, SCN_OP_RUN, "s0"));
      lock(t, "s0", ORC_LOCK_ACQUIRED);
      runs(t, "s0", ORC_RUNS_RUN_BEGAN);
      if (n == 2 && k == 0) lock(t, "s0", ORC_LOCK_RELEASED); /* the next one holds it */
    }
    begin(T3, op(T3, SCN_OP_CANCEL, "s0"));
    runs(T3, "s0", ORC_RUNS_CANCEL_IDLE);
    expect_violation(ORC_CK_CANCEL, n == 1 ? "but 1 is registered" : "but 2 are registered");
  }
  /* A cancel that marks a run nobody registered; a run that stops unmarked. */
  fresh();
  create("s0");
  begin(T3, op(T3, SCN_OP_CANCEL, "s0"));
  runs(T3, "s0", ORC_RUNS_CANCEL_MARKED);
  expect_violation(ORC_CK_CANCEL, "a cancel marked a run of s0, but none is registered");
  fresh();
  create("s0");
  begin(T1, op(T1, SCN_OP_RUN, "s0"));
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  runs(T1, "s0", ORC_RUNS_RUN_BEGAN);
  runs(T1, "s0", ORC_RUNS_CANCEL_SEEN);
  expect_violation(ORC_CK_CANCEL, "stopped for a cancel, but no cancel marked it");
  /* Registered without the lock. */
  fresh();
  create("s0");
  begin(T1, op(T1, SCN_OP_RUN, "s0"));
  runs(T1, "s0", ORC_RUNS_RUN_BEGAN);
  expect_violation(ORC_CK_CANCEL, "registered a run of s0 without holding its lock");
  /* One entry left at the end. */
  fresh();
  orc_runs_idle(O, 1);
  expect_violation(ORC_CK_RUNS_EVICT, "keeps 1 entry ");
  /* An LLM request that names no agent. */
  fresh();
  create("s0");
  begin(T1, op(T1, SCN_OP_RUN, "s0"));
  orc_llm l = {.session = "s0", .agent = NULL, .call = 1, .attempt = 1};
  feed(ORC_EV_LLM, T1, 0, 0, NULL, &l);
  expect_harness("an LLM request that names no agent");
  /* A save that keeps error but changes the kind. */
  fresh();
  errored();
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  begin(T1, op(T1, SCN_OP_WRITE, "s0"));
  srow(T1, "s0", "error", 3, 0, ERR_KIND, ERR_CAUSE, "error", 0, "io_error", "other", "{}");
  commit(T1, 1);
  expect_violation(ORC_CK_ERROR_KIND, "(still error) changed its error");
}

/* --- a retry's commits and answers, every way they can be wrong -------------------------- */

static void test_retry_answers(void **state) {
  (void)state;
  ERR_KIND = "llm_refusal";
  errored();
  /* A refusal committed with a row change. */
  retry_begin(T2);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  srow(T2, "s0", "error", 3, 0, ERR_KIND, ERR_CAUSE, "error", 0, ERR_KIND, ERR_CAUSE, "{}");
  event_row(T2, 1, ORC_INSERT, "s0", 3, "retry_rejected", "{\"reason\":\"permanent_error\",\"retry_count\":0}");
  commit(T2, 1);
  expect_violation(ORC_CK_OP_SCOPE, "committed its refusal with other changes");
  /* Refused for auto_retry, for a reason no policy gives, twice. */
  static const char *const reasons[] = {"auto_retry", "bored"};
  for (int k = 0; k < 2; k++) {
    fresh();
    ERR_KIND = "llm_refusal";
    errored();
    retry_begin(T2);
    rejected(T2, reasons[k], 0, 3);
    expect_violation(ORC_CK_RETRY_DECISION, "was refused for");
  }
  fresh();
  ERR_KIND = "llm_refusal";
  errored();
  retry_begin(T2);
  rejected(T2, "permanent_error", 0, 3);
  rejected(T2, "permanent_error", 0, 4);
  expect_violation(ORC_CK_OP_SCOPE, "or more than once");
  /* A commit to another session. */
  fresh();
  errored();
  create("s1");
  retry_begin(T2);
  lock(T2, "s1", ORC_LOCK_ACQUIRED);
  event_row(T2, 1, ORC_INSERT, "s1", 1, "note", "{}");
  commit(T2, 1);
  expect_violation(ORC_CK_OP_SCOPE, "retry s0 committed a change to s1");
  /* Denied, but the answer's count is not the recorded one. */
  fresh();
  ERR_KIND = "llm_refusal";
  errored();
  retry_begin(T2);
  rejected(T2, "permanent_error", 0, 3);
  retry_end(T2, ORC_RA_DENIED, "permanent_error", 5, NULL);
  expect_violation(ORC_CK_OUTCOME, "answered retry_count 5, but recorded 0");
  /* Refused by the registry, answered otherwise. */
  fresh();
  errored();
  retry_begin(T1);
  RET = (orc_op){.kind = SCN_OP_RETRY, .line = 1, .session = "s0", .changed = -1, .removed = -1};
  begin(T2, &RET);
  runs(T2, "s0", ORC_RUNS_RETRY_REFUSED);
  RET.answer = ORC_RA_NOT_ERROR;
  RET.reason = "not in error state";
  answer(T2, &RET, AS_OK);
  expect_violation(ORC_CK_RETRY_ONCE, "was refused as in progress by the registry, but answered otherwise");
  /* Denied without recording it. */
  fresh();
  ERR_KIND = "llm_refusal";
  errored();
  retry_begin(T2);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  retry_end(T2, ORC_RA_DENIED, "permanent_error", 0, NULL);
  expect_violation(ORC_CK_OUTCOME, "answered 'permanent_error' but recorded no refusal");
  /* A preview's count that is not the session's. */
  fresh();
  ERR_KIND = "llm_refusal";
  errored();
  orc_op *pv = op(T2, SCN_OP_PREVIEW, "s0");
  begin(T2, pv);
  pv->answer = ORC_RA_DENIED;
  pv->reason = "permanent_error";
  pv->retry_count = 7;
  answer(T2, pv, AS_OK);
  expect_violation(ORC_CK_OUTCOME, "preview s0 answered retry_count 7; it is 0");
  /* A cancel answered though the registry heard of none. */
  fresh();
  errored();
  orc_op *cc = op(T3, SCN_OP_CANCEL, "s0");
  begin(T3, cc);
  cc->answer = ORC_CANCEL_NOT_RUNNING;
  answer(T3, cc, AS_OK);
  expect_violation(ORC_CK_CANCEL, "cancel s0 answered not running, but the registry heard of no cancel");
  /* Previews answered not in error, with no answer at all, with a reason no policy has. */
  for (int k = 0; k < 3; k++) {
    fresh();
    ERR_KIND = "llm_refusal";
    errored();
    orc_op *q = op(T2, SCN_OP_PREVIEW, "s0");
    begin(T2, q);
    q->answer = k == 0 ? ORC_RA_NOT_ERROR : k == 1 ? 99 : ORC_RA_DENIED;
    q->reason = k == 0 ? "not in error state" : k == 1 ? NULL : "bored";
    answer(T2, q, AS_OK);
    expect_violation(ORC_CK_RETRY_DECISION, k == 0 ? "answered not in error ('not in error state')"
                                            : k == 1 ? "answered ? ('(none)')" : "answered denied ('bored')");
  }
  /* A preview and a cancel that fail say nothing more. */
  fresh();
  errored();
  orc_op *p = op(T2, SCN_OP_PREVIEW, "s0");
  begin(T2, p);
  answer(T2, p, AS_IO);
  orc_op *c = op(T3, SCN_OP_CANCEL, "s0");
  begin(T3, c);
  answer(T3, c, AS_NOMEM);
  expect_ok();
}


/* --- corners: payloads, commits and answers the checks above do not reach ---------------- */

/* A retry_started commit of s0 (error v3, retry 0 -> 1) whose event says payload. */
static void started_saying(uint32_t t, const char *payload) {
  lock(t, "s0", ORC_LOCK_ACQUIRED);
  srow(t, "s0", "error", 3, 0, ERR_KIND, ERR_CAUSE, "in_progress", 1, "", "", "{}");
  event_row(t, 1, ORC_INSERT, "s0", 3, "status_changed",
            "{\"from\":\"error\",\"to\":\"in_progress\",\"reason\":\"\"}");
  event_row(t, 1, ORC_INSERT, "s0", 4, "retry_started", payload);
  commit(t, 1);
}

static void test_started_payloads(void **state) {
  (void)state;
  /* No payload, no count, another count, no thread, another thread. */
  static const char *const bad[] = {NULL, "{\"thread\":\"s0:retry-1\"}",
                                    "{\"retry\":2,\"thread\":\"s0:retry-1\"}", "{\"retry\":1}",
                                    "{\"retry\":1,\"thread\":\"s0:retry-9\"}"};
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    fresh();
    errored();
    retry_begin(T2);
    started_saying(T2, bad[k]);
    expect_violation(ORC_CK_RETRY_COUNT, "s0: retry_started ");
    assert_non_null(strstr(orc_violation(O), "(its thread is s0:retry-1)"));
  }
  fresh();
  errored();
  retry_begin(T2);
  started_saying(T2, "{\"retry\":1,\"thread\":\"s0:retry-1\"}");
  expect_ok();
  /* Two retry_started events for one raise; none for a raise. */
  fresh();
  errored();
  retry_begin(T2);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  srow(T2, "s0", "error", 3, 0, ERR_KIND, ERR_CAUSE, "in_progress", 1, "", "", "{}");
  event_row(T2, 1, ORC_INSERT, "s0", 3, "retry_started", "{\"retry\":1,\"thread\":\"s0:retry-1\"}");
  event_row(T2, 1, ORC_INSERT, "s0", 4, "retry_started", "{\"retry\":1,\"thread\":\"s0:retry-1\"}");
  commit(T2, 1);
  expect_violation(ORC_CK_RETRY_COUNT, "s0: 2 retry_started events in a commit that raises retry_count (0 -> 1)");
  fresh();
  errored();
  retry_begin(T2);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  srow(T2, "s0", "error", 3, 0, ERR_KIND, ERR_CAUSE, "in_progress", 1, "", "", "{}");
  status_event(T2, 1, "s0", 3, "error", "in_progress");
  commit(T2, 1);
  expect_violation(ORC_CK_RETRY_COUNT, "s0: 0 retry_started events in a commit that raises");
  /* From error, but not to in_progress. */
  fresh();
  errored();
  retry_begin(T2);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  srow(T2, "s0", "error", 3, 0, ERR_KIND, ERR_CAUSE, "resolved", 1, "", "", "{}");
  event_row(T2, 1, ORC_INSERT, "s0", 3, "retry_started", "{\"retry\":1,\"thread\":\"s0:retry-1\"}");
  commit(T2, 1);
  expect_violation(ORC_CK_RETRY_START, "s0: a retry started from error, moving it to resolved");
}

/* The start committed with more than the start, or twice, or after a refusal. */
static void test_started_scope(void **state) {
  (void)state;
  for (int k = 0; k < 6; k++) {
    fresh();
    ERR_KIND = "llm_timeout";
    errored();
    if (k == 4) create("s1");
    if (k == 3) put(T1, "s0", ORC_INSERT);
    retry_begin(T2);
    if (k == 5) {
      started(T2, 3, 0, 1, "error", 3);
      expect_ok();
      /* its run fails the session, and it starts again */
      srow(T2, "s0", "in_progress", 4, 1, "", "", "error", 1, ERR_KIND, ERR_CAUSE, "{}");
      status_event(T2, 1, "s0", 5, "in_progress", "error");
      commit(T2, 1);
      expect_ok();
      started(T2, 5, 1, 1, "error", 6);
      expect_violation(ORC_CK_OP_SCOPE, "retry s0 committed its start with other changes");
      continue;
    }
    lock(T2, "s0", ORC_LOCK_ACQUIRED);
    srow(T2, "s0", "error", 3, 0, ERR_KIND, ERR_CAUSE, "in_progress", 1, "", "", "{}");
    if (k == 1) { /* the same commit writes the session's extra too */
      orc_row r = {.table = ORC_T_SESSIONS, .op = ORC_UPDATE};
      r.old[ORC_SC_ID] = r.nw[ORC_SC_ID] = text("s0");
      r.old[ORC_SC_STATUS] = r.nw[ORC_SC_STATUS] = text("in_progress");
      r.old[ORC_SC_VERSION] = num(4);
      r.nw[ORC_SC_VERSION] = num(5);
      r.old[ORC_SC_RETRY] = r.nw[ORC_SC_RETRY] = num(1);
      r.old[ORC_SC_REASON] = r.nw[ORC_SC_REASON] = text("");
      r.old[ORC_SC_EXTRA] = text("{}");
      r.nw[ORC_SC_EXTRA] = text("{\"a\":1}");
      r.old[ORC_SC_CREATED] = r.old[ORC_SC_UPDATED] = r.nw[ORC_SC_CREATED] = r.nw[ORC_SC_UPDATED] = num(NOW);
      r.old[ORC_SC_KIND] = r.old[ORC_SC_CAUSE] = r.nw[ORC_SC_KIND] = r.nw[ORC_SC_CAUSE] = text("");
      row(T2, 1, &r);
    }
    event_row(T2, 1, ORC_INSERT, "s0", 3, "status_changed",
              "{\"from\":\"error\",\"to\":\"in_progress\",\"reason\":\"\"}");
    event_row(T2, 1, ORC_INSERT, "s0", 4, "retry_started", "{\"retry\":1,\"thread\":\"s0:retry-1\"}");
    if (k == 0) ckpt_row(T2, 1, ORC_INSERT, "s0:retry-1");
    if (k == 2) event_row(T2, 1, ORC_INSERT, "s0", 5, "note", "{}");
    if (k == 3) ckpt_row(T2, 1, ORC_DELETE, "s0");
    if (k == 4) event_row(T2, 1, ORC_INSERT, "s1", 1, "note", "{}");
    commit(T2, 1);
    expect_violation(ORC_CK_OP_SCOPE, "retry s0 committed its start with other changes");
  }
  /* A run's commit before the retry was accepted. */
  fresh();
  errored();
  retry_begin(T2);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  ckpt_row(T2, 1, ORC_INSERT, "s0:retry-1");
  commit(T2, 1);
  expect_violation(ORC_CK_OP_SCOPE, "retry s0 committed before its retry_started");
  /* A retry of no session that commits. */
  fresh();
  errored();
  RET = (orc_op){.kind = SCN_OP_RETRY, .line = 1, .session = NULL, .changed = -1, .removed = -1};
  begin(T2, &RET);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  event_row(T2, 1, ORC_INSERT, "s0", 3, "note", "{}");
  commit(T2, 1);
  expect_violation(ORC_CK_OP_SCOPE, "retry (none) committed a change to s0");
}

/* Refusals: with a row deleted or a second event, after the start, without a reason,
** without a count. */
static void test_rejected_corners(void **state) {
  (void)state;
  for (int k = 0; k < 3; k++) {
    fresh();
    ERR_KIND = "llm_refusal";
    errored();
    retry_begin(T2);
    lock(T2, "s0", ORC_LOCK_ACQUIRED);
    if (k == 0) ckpt_row(T2, 1, ORC_INSERT, "s0");
    if (k == 1) event_row(T2, 1, ORC_INSERT, "s0", 3, "note", "{}");
    if (k == 2) ckpt_row(T2, 1, ORC_DELETE, "s0");
    event_row(T2, 1, ORC_INSERT, "s0", k == 1 ? 4 : 3, "retry_rejected",
              "{\"reason\":\"permanent_error\",\"retry_count\":0}");
    commit(T2, 1);
    if (k == 2) {
      /* a checkpoint that never was: the checkpoint rules may speak first */
      assert_non_null(orc_violation(O));
      continue;
    }
    expect_violation(ORC_CK_OP_SCOPE, "retry s0 committed its refusal with other changes");
  }
  fresh();
  errored();
  retry_begin(T2);
  started(T2, 3, 0, 1, "error", 3);
  expect_ok();
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  event_row(T2, 1, ORC_INSERT, "s0", 5, "retry_rejected", "{\"reason\":\"permanent_error\",\"retry_count\":1}");
  commit(T2, 1);
  expect_violation(ORC_CK_OP_SCOPE, "retry s0 committed its refusal with other changes, or more than once");
  fresh();
  ERR_KIND = "llm_refusal";
  errored();
  retry_begin(T2);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  event_row(T2, 1, ORC_INSERT, "s0", 3, "retry_rejected", "{\"retry_count\":0}");
  commit(T2, 1);
  expect_violation(ORC_CK_RETRY_DECISION, "retry s0 was refused for '?'");
  fresh();
  ERR_KIND = "llm_refusal";
  errored();
  retry_begin(T2);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  event_row(T2, 1, ORC_INSERT, "s0", 3, "retry_rejected", "{\"reason\":\"permanent_error\"}");
  commit(T2, 1);
  expect_violation(ORC_CK_RETRY_DECISION, "recorded its refusal with retry_count -1, but the session's is 0");
  /* Recorded not in error, answered not in error under another reason. */
  fresh();
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  retry_begin(T2);
  rejected(T2, "not in error state", 0, 2);
  retry_end(T2, ORC_RA_NOT_ERROR, "permanent_error", 0, "");
  expect_violation(ORC_CK_OUTCOME, "retry s0 answered 'permanent_error' but recorded 'not in error state'");
}

/* A retry's answers: accepted without a start, on no thread, with another count;
** in progress after a commit. */
static void test_retry_answer_corners(void **state) {
  (void)state;
  errored();
  retry_begin(T2);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  retry_end(T2, ORC_RA_ACCEPTED, "auto_retry", 1, "s0:retry-1");
  expect_violation(ORC_CK_OUTCOME, "retry s0 answered accepted without committing its start");
  fresh();
  errored();
  retry_begin(T2);
  started(T2, 3, 0, 1, "error", 3);
  retry_end(T2, ORC_RA_ACCEPTED, "auto_retry", 1, NULL);
  expect_violation(ORC_CK_OUTCOME, "answered retry 1 on thread (none); it committed retry 1 (thread s0:retry-1)");
  fresh();
  errored();
  retry_begin(T2);
  started(T2, 3, 0, 1, "error", 3);
  retry_end(T2, ORC_RA_ACCEPTED, "auto_retry", 2, "s0:retry-1");
  expect_violation(ORC_CK_OUTCOME, "answered retry 2 on thread s0:retry-1");
  /* Refused by the registry, yet it committed. */
  fresh();
  ERR_KIND = "llm_refusal";
  errored();
  retry_begin(T1);
  RET = (orc_op){.kind = SCN_OP_RETRY, .line = 1, .session = "s0", .changed = -1, .removed = -1};
  begin(T2, &RET);
  runs(T2, "s0", ORC_RUNS_RETRY_REFUSED);
  rejected(T2, "permanent_error", 0, 3);
  lock(T2, "s0", ORC_LOCK_RELEASED);
  RET.answer = ORC_RA_IN_PROGRESS;
  RET.reason = "retry already in progress";
  answer(T2, &RET, AS_OK);
  expect_violation(ORC_CK_RETRY_ONCE, "retry s0 answered 'retry already in progress' and committed");
  /* No app: the policy's defaults allow no retry at all. */
  reset();
  ERR_KIND = "llm_timeout";
  errored();
  retry_begin(T2);
  started(T2, 3, 0, 1, "error", 3);
  expect_violation(ORC_CK_RETRY_DECISION, "retry s0 started retry 1, but the policy says max_retries_exceeded");
}

/* The session's confidence decides: a number below the floor, an integer above it. */
static void test_confidence(void **state) {
  (void)state;
  static const char *const extra[] = {"{\"confidence\":0.1}", "{\"confidence\":1}", "{\"confidence\":\"low\"}"};
  for (int k = 0; k < 3; k++) {
    fresh();
    create("s0");
    conn(1);
    start(T1, 1, "s0");
    orc_op *w = write_rows(T1, 1, "s0", "in_progress", 2, "{}", extra[k]);
    commit(T1, 1);
    w->version = 3;
    answer(T1, w, AS_OK);
    expect_ok();
    lock(T1, "s0", ORC_LOCK_ACQUIRED);
    orc_op *f = op(T1, SCN_OP_FAIL, "s0");
    f->errkind = ERR_KIND;
    begin(T1, f);
    srow(T1, "s0", "in_progress", 3, 0, "", "", "error", 0, ERR_KIND, ERR_CAUSE, extra[k]);
    status_event(T1, 1, "s0", 2, "in_progress", "error");
    commit(T1, 1);
    lock(T1, "s0", ORC_LOCK_RELEASED);
    answer(T1, f, AS_OK);
    expect_ok();
    orc_op *p = op(T2, SCN_OP_PREVIEW, "s0");
    begin(T2, p);
    p->answer = k == 0 ? ORC_RA_DENIED : ORC_RA_ACCEPTED;
    p->reason = k == 0 ? "low_confidence_no_retry" : "auto_retry";
    answer(T2, p, AS_OK);
    expect_ok();
    /* ... and the other answer is wrong */
    p = op(T2, SCN_OP_PREVIEW, "s0");
    begin(T2, p);
    p->answer = k == 0 ? ORC_RA_ACCEPTED : ORC_RA_DENIED;
    p->reason = k == 0 ? "auto_retry" : "low_confidence_no_retry";
    answer(T2, p, AS_OK);
    expect_violation(ORC_CK_RETRY_DECISION, k == 0 ? "meanwhile says low_confidence_no_retry" : "meanwhile says auto_retry");
  }
}

/* Previews: of a session nobody has, while the state moves, of one session while
** another moves or is retried, with a decision named for the wrong answer. */
static void test_preview_corners(void **state) {
  (void)state;
  create("s0");
  orc_op *p = op(T2, SCN_OP_PREVIEW, "s9");
  begin(T2, p);
  p->answer = ORC_RA_DENIED;
  p->reason = "permanent_error";
  answer(T2, p, AS_OK);
  expect_violation(ORC_CK_RETRY_DECISION, "preview s9 answered denied ('permanent_error'), but the "
                                          "oracle's policy on the session's states meanwhile says none");
  /* Two states meanwhile: either answer, not a third. */
  fresh();
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  p = op(T2, SCN_OP_PREVIEW, "s0");
  begin(T2, p);
  orc_op *f = fail_rows(T1, ERR_KIND, 2, 2);
  lock(T1, "s0", ORC_LOCK_RELEASED);
  answer(T1, f, AS_OK);
  p->answer = ORC_RA_DENIED;
  p->reason = "permanent_error";
  answer(T2, p, AS_OK);
  expect_violation(ORC_CK_RETRY_DECISION, "meanwhile says not in error state, auto_retry");
  /* A preview of s1 hears nothing of s0's moves and retries; its own count stands. */
  fresh();
  create("s1");
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  p = op(T2, SCN_OP_PREVIEW, "s1");
  begin(T2, p);
  f = fail_rows(T1, ERR_KIND, 2, 2);
  lock(T1, "s0", ORC_LOCK_RELEASED);
  answer(T1, f, AS_OK);
  retry_begin(T3);
  runs(T3, "s0", ORC_RUNS_RETRY_LEFT);
  p->answer = ORC_RA_NOT_ERROR;
  p->reason = "not in error state";
  answer(T2, p, AS_OK);
  expect_ok();
  /* A denial named auto_retry is no answer the spec has. */
  fresh();
  errored();
  p = op(T2, SCN_OP_PREVIEW, "s0");
  begin(T2, p);
  p->answer = ORC_RA_DENIED;
  p->reason = "auto_retry";
  answer(T2, p, AS_OK);
  expect_violation(ORC_CK_RETRY_DECISION, "preview s0 answered denied ('auto_retry')");
  /* While the state moves, a count off the final state's is no violation. */
  fresh();
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  p = op(T2, SCN_OP_PREVIEW, "s0");
  begin(T2, p);
  f = fail_rows(T1, ERR_KIND, 2, 2);
  lock(T1, "s0", ORC_LOCK_RELEASED);
  answer(T1, f, AS_OK);
  p->answer = ORC_RA_ACCEPTED;
  p->reason = "auto_retry";
  p->retry_count = 3;
  answer(T2, p, AS_OK);
  expect_ok();
  /* A preview that writes a row, or a checkpoint. */
  fresh();
  create("s0");
  conn(1);
  p = op(T2, SCN_OP_PREVIEW, "s0");
  begin(T2, p);
  session_update(T2, 1, "s0", "new", 1, "{}", "new", 2, "{}", "");
  commit(T2, 1);
  expect_violation(ORC_CK_PREVIEW, "preview s0 committed a change (1 sessions, 0 checkpoints)");
  fresh();
  create("s0");
  conn(1);
  p = op(T2, SCN_OP_PREVIEW, "s0");
  begin(T2, p);
  ckpt_row(T2, 1, ORC_INSERT, "s0");
  commit(T2, 1);
  expect_violation(ORC_CK_PREVIEW, "preview s0 committed a change (0 sessions, 1 checkpoints)");
}

/* A run stopped for a cancel: cancelled, or the store failing under it, is how it ends;
** new is not; holding the lock at its answer is not; an answer that failed says nothing. */
static void cancelled_run(uint32_t t, const char *kind, int how) {
  create("s0");
  conn(1);
  orc_op *r = op(t, SCN_OP_RUN, "s0");
  begin(t, r);
  lock(t, "s0", ORC_LOCK_ACQUIRED);
  runs(t, "s0", ORC_RUNS_RUN_BEGAN);
  orc_op *c = op(T3, SCN_OP_CANCEL, "s0");
  begin(T3, c);
  runs(T3, "s0", ORC_RUNS_CANCEL_MARKED);
  c->answer = ORC_CANCEL_STOPPING;
  answer(T3, c, AS_OK);
  runs(t, "s0", ORC_RUNS_CANCEL_SEEN);
  if (kind) {
    ERR_KIND = kind;
    session_update(t, 1, "s0", "new", 1, "{}", "error", 2, "{}", "");
    status_event(t, 1, "s0", 1, "new", "error");
    commit(t, 1);
  }
  runs(t, "s0", ORC_RUNS_RUN_ENDED);
  if (how != 1) lock(t, "s0", ORC_LOCK_RELEASED);
  r = op(t, SCN_OP_RUN, "s0");
  r->outcome = ORC_RUN_FAILED;
  answer(t, r, how == 2 ? AS_IO : AS_OK);
}

static void test_cancelled_runs(void **state) {
  (void)state;
  static const char *const ok[] = {"cancelled", "io_error", "db_busy"};
  for (int k = 0; k < 3; k++) {
    fresh();
    cancelled_run(T1, ok[k], 0);
    expect_ok();
  }
  fresh();
  cancelled_run(T1, NULL, 0);
  expect_violation(ORC_CK_CANCEL, "run stopped the run of s0 for a cancel and answered, leaving it new");
  fresh();
  cancelled_run(T1, NULL, 2); /* the answer failed: nothing to judge */
  expect_ok();
  fresh();
  cancelled_run(T1, "cancelled", 1);
  expect_violation(ORC_CK_CANCEL, "run answered holding the lock of s0, whose run it stopped for a cancel");
  /* A cancel that commits; cancels answered against the registry. */
  fresh();
  create("s0");
  conn(1);
  orc_op *c = op(T3, SCN_OP_CANCEL, "s0");
  begin(T3, c);
  event_row(T3, 1, ORC_INSERT, "s0", 1, "note", "{}");
  commit(T3, 1);
  expect_violation(ORC_CK_OP_SCOPE, "cancel s0 committed a change (a cancel only marks a run)");
  fresh();
  create("s0");
  c = op(T3, SCN_OP_CANCEL, "s0");
  begin(T3, c);
  c->answer = ORC_CANCEL_STOPPING;
  answer(T3, c, AS_OK);
  expect_violation(ORC_CK_CANCEL, "cancel s0 answered stopping, but the registry heard of no cancel");
  fresh();
  create("s0");
  c = op(T3, SCN_OP_CANCEL, "s0");
  begin(T3, c);
  runs(T3, "s0", ORC_RUNS_CANCEL_IDLE);
  c->answer = 99;
  answer(T3, c, AS_OK);
  expect_violation(ORC_CK_CANCEL, "cancel s0 answered nothing, but the registry found no run");
}

/* The registry's account: unknown events, no key, another's run, a cancel seen by
** a task whose run it did not mark, no task at all. */
static void test_registry_corners(void **state) {
  (void)state;
  errored();
  retry_begin(T2);
  feed(ORC_EV_RUNS, T2, 0, 99, "s0", NULL);
  expect_harness("a runs event of unknown kind 99");
  fresh();
  begin(T1, op(T1, SCN_OP_RUN, "s0"));
  feed(ORC_EV_RUNS, T1, 0, ORC_RUNS_RUN_ENDED, NULL, NULL);
  expect_violation(ORC_CK_CANCEL, "task 1 ended a run of ? it had not registered");
  fresh();
  create("s0");
  feed(ORC_EV_RUNS, SIM_TASK_NONE, 0, ORC_RUNS_RETRY_ENTERED, "s0", NULL);
  expect_ok(); /* no task: nothing to account it to */
  fresh();
  create("s0");
  begin(T1, op(T1, SCN_OP_RUN, "s0"));
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  runs(T1, "s0", ORC_RUNS_RUN_BEGAN);
  begin(T2, op(T2, SCN_OP_RUN, "s0"));
  runs(T2, "s0", ORC_RUNS_RUN_ENDED);
  expect_violation(ORC_CK_CANCEL, "task 2 ended a run of s0 it had not registered");
  fresh();
  create("s0");
  begin(T1, op(T1, SCN_OP_RUN, "s0"));
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  runs(T1, "s0", ORC_RUNS_RUN_BEGAN);
  runs(T3, "s0", ORC_RUNS_CANCEL_MARKED);
  begin(T2, op(T2, SCN_OP_RUN, "s0"));
  runs(T2, "s0", ORC_RUNS_CANCEL_SEEN);
  expect_violation(ORC_CK_CANCEL, "task 2's run of s0 stopped for a cancel, but no cancel marked it");
  /* A retry entering and leaving while a preview of another session looks. */
  fresh();
  create("s1");
  errored();
  orc_op *p = op(T3, SCN_OP_PREVIEW, "s1");
  begin(T3, p);
  retry_begin(T2);
  runs(T2, "s0", ORC_RUNS_RETRY_LEFT);
  p->answer = ORC_RA_NOT_ERROR;
  p->reason = "not in error state";
  answer(T3, p, AS_OK);
  expect_ok();
  /* A preview of no session hears nothing of s0's retries and moves. */
  fresh();
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  p = op(T3, SCN_OP_PREVIEW, NULL);
  begin(T3, p);
  orc_op *f = fail_rows(T1, ERR_KIND, 2, 2);
  lock(T1, "s0", ORC_LOCK_RELEASED);
  answer(T1, f, AS_OK);
  retry_begin(T2);
  runs(T2, "s0", ORC_RUNS_RETRY_LEFT);
  expect_ok();
  /* retry_count raised by a commit no operation made. */
  fresh();
  errored();
  srow(SIM_TASK_NONE, "s0", "error", 3, 0, ERR_KIND, ERR_CAUSE, "error", 1, ERR_KIND, ERR_CAUSE, "{}");
  commit(SIM_TASK_NONE, 1);
  expect_violation(ORC_CK_RETRY_COUNT, "s0: retry_count 0 -> 1 committed by no operation");
  /* After a violation, the registry at the end says nothing more. */
  fresh();
  orc_runs_idle(O, 1);
  const char *first = orc_violation(O);
  orc_runs_idle(O, 2);
  assert_ptr_equal(orc_violation(O), first);
  expect_violation(ORC_CK_RUNS_EVICT, "keeps 1 entry ");
}

/* LLM requests: none given, no app, an agent without a cap. */
static void test_llm_corners(void **state) {
  (void)state;
  create("s0");
  begin(T1, op(T1, SCN_OP_RUN, "s0"));
  feed(ORC_EV_LLM, T1, 0, 0, NULL, NULL);
  expect_harness("an LLM request that names no agent");
  fresh();
  create("s0");
  feed(ORC_EV_LLM, SIM_TASK_NONE, 0, 0, NULL, &(orc_llm){.session = "s0", .agent = "intake", .call = 1, .attempt = 1});
  expect_harness("an LLM request outside any operation");
  reset();
  create("s0");
  begin(T1, op(T1, SCN_OP_RUN, "s0"));
  llm(T1, "intake", 1, 1);
  expect_violation(ORC_CK_OP_SCOPE, "run asked the model as agent intake, which the app does not have");
  fresh();
  APP.agents[0].max_calls = 0; /* no cap */
  assert_int_equal(orc_set_app(O, &APP), AS_OK);
  create("s0");
  begin(T1, op(T1, SCN_OP_RUN, "s0"));
  for (unsigned c = 1; c <= 10; c++) llm(T1, "intake", c, 1);
  expect_ok();
}

/* Error rows: a kind without a cause, a cause without a kind, a save changing the
** cause only, an event that gives no kind or another cause. */
static void test_error_corners(void **state) {
  (void)state;
  create("s0");
  conn(1);
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  orc_op *o = op(T1, SCN_OP_START, "s0");
  begin(T1, o);
  srow(T1, "s0", "new", 1, 0, "", "", "in_progress", 0, "", "x", "{}");
  status_event(T1, 1, "s0", 1, "new", "in_progress");
  commit(T1, 1);
  expect_violation(ORC_CK_ERROR_KIND, "s0 is in_progress with the error kind '' and cause 'x'");
  fresh();
  ERR_CAUSE = "";
  errored();
  expect_violation(ORC_CK_ERROR_KIND, "s0 is error with the kind 'llm_timeout' and cause ''");
  fresh();
  errored();
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  begin(T1, op(T1, SCN_OP_WRITE, "s0"));
  srow(T1, "s0", "error", 3, 0, ERR_KIND, ERR_CAUSE, "error", 0, ERR_KIND, "other", "{}");
  commit(T1, 1);
  expect_violation(ORC_CK_ERROR_KIND, "(still error) changed its error from llm_timeout");
  for (int k = 0; k < 2; k++) {
    fresh();
    create("s0");
    conn(1);
    start(T1, 1, "s0");
    lock(T1, "s0", ORC_LOCK_ACQUIRED);
    o = op(T1, SCN_OP_FAIL, "s0");
    o->errkind = ERR_KIND;
    begin(T1, o);
    session_update(T1, 1, "s0", "in_progress", 2, "{}", "error", 3, "{}", "");
    char p[256];
    snprintf(p, sizeof p, k == 0 ? "{\"from\":\"in_progress\",\"to\":\"error\",\"reason\":\"\"}"
                                 : "{\"from\":\"in_progress\",\"to\":\"error\",\"reason\":\"\","
                                   "\"error_kind\":\"%s\",\"error\":\"another\"}", ERR_KIND);
    event_row(T1, 1, ORC_INSERT, "s0", 2, "status_changed", p);
    commit(T1, 1);
    expect_violation(ORC_CK_ERROR_KIND, k == 0 ? "but its status_changed event says error_kind '(none)', error '(none)'"
                                               : "says error_kind 'llm_timeout', error 'another'");
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_policy),
      cmocka_unit_test_setup_teardown(test_accepted_retry, setup_app, teardown),
      cmocka_unit_test_setup_teardown(test_retry_count, setup_app, teardown),
      cmocka_unit_test_setup_teardown(test_retry_start, setup_app, teardown),
      cmocka_unit_test_setup_teardown(test_decisions, setup_app, teardown),
      cmocka_unit_test_setup_teardown(test_retry_once, setup_app, teardown),
      cmocka_unit_test_setup_teardown(test_preview, setup_app, teardown),
      cmocka_unit_test_setup_teardown(test_cancel, setup_app, teardown),
      cmocka_unit_test_setup_teardown(test_error_kind, setup_app, teardown),
      cmocka_unit_test_setup_teardown(test_turn_cap, setup_app, teardown),
      cmocka_unit_test_setup_teardown(test_runs_evict, setup_app, teardown),
      cmocka_unit_test_setup_teardown(test_more_rules, setup_app, teardown),
      cmocka_unit_test_setup_teardown(test_registry_account, setup_app, teardown),
      cmocka_unit_test_setup_teardown(test_retry_answers, setup_app, teardown),
      cmocka_unit_test_setup_teardown(test_started_payloads, setup_app, teardown),
      cmocka_unit_test_setup_teardown(test_started_scope, setup_app, teardown),
      cmocka_unit_test_setup_teardown(test_rejected_corners, setup_app, teardown),
      cmocka_unit_test_setup_teardown(test_retry_answer_corners, setup_app, teardown),
      cmocka_unit_test_setup_teardown(test_confidence, setup_app, teardown),
      cmocka_unit_test_setup_teardown(test_preview_corners, setup_app, teardown),
      cmocka_unit_test_setup_teardown(test_cancelled_runs, setup_app, teardown),
      cmocka_unit_test_setup_teardown(test_registry_corners, setup_app, teardown),
      cmocka_unit_test_setup_teardown(test_llm_corners, setup_app, teardown),
      cmocka_unit_test_setup_teardown(test_error_corners, setup_app, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

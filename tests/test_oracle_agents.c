/*
** test_oracle_agents.c -- the oracle's model of the agents' operations
** (sim/oracle/agents.c), fed histories through its sink: a legal gated run
** (begin, a call, the pause, the approval, the end) it must accept, and for
** each rule a planted violation it must name: the gate, approval-once,
** injected arguments, the patch tool's scope, routes and envelopes, and
** the kinds of change an agents' operation may commit at all.
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
#include "oracle/oracle.h"
#include "oracle/spec.h"
#include "oracle_feed.h"
#include "scenario/scenario.h"

static orc_app APP;

static void add_tool(const char *q, int kind, int risk, unsigned inject_mask) {
  orc_app_tool *t = &APP.tools[APP.ntools++];
  snprintf(t->qname, sizeof t->qname, "%s", q);
  t->kind = kind;
  t->risk = risk;
  for (unsigned k = 0; k < 2; k++)
    if (inject_mask & (1u << k)) t->inject[t->ninject++] = k;
}

static void add_route(const char *agent, const char *signal, const char *to) {
  orc_app_route *r = &APP.routes[APP.nroutes++];
  snprintf(r->agent, sizeof r->agent, "%s", agent);
  snprintf(r->signal, sizeof r->signal, "%s", signal);
  snprintf(r->to, sizeof r->to, "%s", to);
}

static int app_setup(void **state) {
  if (setup(state) != 0) return -1;
  memset(&APP, 0, sizeof APP);
  add_tool("runtime:mark_resolved", ORC_TK_RESOLVE, 0, 0);
  add_tool("runtime:patch_session", ORC_TK_PATCH, 0, 0);
  add_tool("srv:low", ORC_TK_APP, 0, 3);
  add_tool("srv:high", ORC_TK_APP, 2, 1);
  add_tool("runtime:submit_hypothesis", ORC_TK_HYPOTHESIS, 0, 0);
  APP.inject[0] = (orc_app_inject){"env", ORC_INJ_EXTRA, "env"};
  APP.inject[1] = (orc_app_inject){"sid", ORC_INJ_ID, ""};
  APP.ninject = 2;
  add_route("a", "next", "b");
  add_route("a", "", "end");
  add_route("b", "", "end");
  snprintf(APP.agents[0].name, sizeof APP.agents[0].name, "a");
  snprintf(APP.agents[1].name, sizeof APP.agents[1].name, "b");
  APP.agents[1].has_gate = true;
  APP.agents[1].gate = 0.9;
  APP.nagents = 2;
  snprintf(APP.env_field, sizeof APP.env_field, "env");
  snprintf(APP.production[0], sizeof APP.production[0], "prod");
  APP.nproduction = 1;
  APP.gated_risk = 2;
  APP.min_confidence = 0.4;
  snprintf(APP.fields[0], sizeof APP.fields[0], "env");
  APP.nfields = 1;
  APP.approval_timeout_ns = 1000;
  return orc_set_app(O, &APP) == AS_OK ? 0 : -1;
}

/* --- the session as the test keeps it ------------------------------------------------- */

#define NOTERM "no terminal tool call in the executed history"

typedef struct tcall {
  const char *tool, *state, *args, *result;
} tcall;

static struct {
  const char *st, *extra;
  int64_t v, seq;
  tcall calls[8];
  size_t ncalls;
} S;

static void call_row_full(uint32_t t, orc_row_op rop, const tcall *c, int64_t idx) {
  orc_row r = {.table = ORC_T_CALLS, .op = rop};
  orc_val *v = rop == ORC_INSERT ? r.nw : r.old;
  v[ORC_TC_SESSION] = text("s0");
  v[ORC_TC_IDX] = num(idx);
  v[ORC_TC_TOOL] = text(c->tool);
  v[ORC_TC_ARGS] = text(c->args);
  v[ORC_TC_RESULT] = text(c->result);
  v[ORC_TC_STATE] = text(c->state);
  row(t, 1, &r);
}

/* s0 made with extra fields x. */
static void make(const char *x) {
  conn(0);
  conn(1);
  orc_op *o = op(MAIN, ORC_OP_CREATE, "s0");
  begin(MAIN, o);
  orc_row r = {.table = ORC_T_SESSIONS, .op = ORC_INSERT};
  r.nw[ORC_SC_ID] = text("s0");
  r.nw[ORC_SC_STATUS] = text("new");
  r.nw[ORC_SC_VERSION] = num(1);
  r.nw[ORC_SC_RETRY] = num(0);
  r.nw[ORC_SC_REASON] = text("");
  r.nw[ORC_SC_EXTRA] = text(x);
  r.nw[ORC_SC_CREATED] = r.nw[ORC_SC_UPDATED] = num(NOW);
  row(MAIN, 0, &r);
  commit(MAIN, 0);
  answer(MAIN, o, AS_OK);
  S.st = "new";
  S.extra = x;
  S.v = 1;
  S.seq = 0;
  S.ncalls = 0;
}

/* A save of s0 to status st1 and extra x1, with the calls as S holds them
** after `apply` (the rows rewritten, as the store does). */
static void save(uint32_t t, const char *st1, const char *x1, const tcall *before, size_t nbefore) {
  const char *why = strcmp(st1, "needs_review") == 0 ? NOTERM : "";
  session_update(t, 1, "s0", S.st, S.v, S.extra, st1, S.v + 1, x1, why);
  for (size_t i = 0; i < nbefore; i++) call_row_full(t, ORC_DELETE, &before[i], (int64_t)i);
  for (size_t i = 0; i < S.ncalls; i++) call_row_full(t, ORC_INSERT, &S.calls[i], (int64_t)i);
  S.st = st1;
  S.extra = x1;
  S.v++;
}

static void ev(uint32_t t, const char *kind, const char *payload) {
  event_row(t, 1, ORC_INSERT, "s0", ++S.seq, kind, payload);
}

static void status_ev(uint32_t t, const char *from, const char *to) {
  char p[128];
  snprintf(p, sizeof p, "{\"from\":\"%s\",\"to\":\"%s\",\"reason\":\"\"}", from, to);
  ev(t, "status_changed", p);
}

static orc_op *op_call(uint32_t t, unsigned kind, int64_t call) {
  orc_op *o = op(t, kind, "s0");
  o->call = call;
  begin(t, o);
  return o;
}

static orc_op *op_on(uint32_t t, unsigned kind) { return op_call(t, kind, -1); }

/* new -> in_progress, then agent_started (two commits). */
static void begin_run(uint32_t t, const char *agent) {
  save(t, "in_progress", S.extra, S.calls, S.ncalls);
  status_ev(t, "new", "in_progress");
  commit(t, 1);
  char p[64];
  snprintf(p, sizeof p, "{\"agent\":\"%s\",\"run\":0}", agent);
  ev(t, "agent_started", p);
  commit(t, 1);
}

/* Append call c executed (or pending) with its event(s); status to st1. */
static void append(uint32_t t, tcall c, const char *st1, const char *x1, unsigned answer_no) {
  tcall before[8];
  memcpy(before, S.calls, sizeof before);
  size_t nb = S.ncalls;
  const char *st0 = S.st;
  S.calls[S.ncalls++] = c;
  save(t, st1, x1, before, nb);
  char p[160];
  if (strcmp(c.state, "pending_approval") == 0) {
    if (strcmp(st1, st0) != 0) status_ev(t, st0, st1);
    snprintf(p, sizeof p, "{\"call\":%zu,\"tool\":\"%s\"}", nb, c.tool);
    ev(t, "approval_requested", p);
  } else {
    snprintf(p, sizeof p, "{\"call\":%zu,\"tool\":\"%s\",\"answer\":%u}", nb, c.tool, answer_no);
    ev(t, "tool_invoked", p);
  }
  commit(t, 1);
}

/* Resolve call idx to state, with approval_resolved and the status back. */
static void resolve_to(uint32_t t, size_t idx, const char *state, const char *st1) {
  tcall before[8];
  memcpy(before, S.calls, sizeof before);
  const char *st0 = S.st;
  S.calls[idx].state = state;
  S.calls[idx].result = "{\"done\":1}";
  save(t, st1, S.extra, before, S.ncalls);
  char p[96];
  snprintf(p, sizeof p, "{\"call\":%zu,\"decision\":\"x\"}", idx);
  ev(t, "approval_resolved", p);
  if (strcmp(st0, st1) != 0) status_ev(t, st0, st1);
  commit(t, 1);
}

static void exec_ev(uint32_t t, const char *tool, const char *args) {
  orc_exec x = {.session = "s0", .tool = tool, .args = args};
  feed(ORC_EV_EXEC, t, 0, 0, "t", &x);
}

static const tcall LOW_DEV = {"srv:low", "executed", "{\"n\":1,\"env\":\"dev\",\"sid\":\"s0\"}", "{}"};
static const tcall HIGH_PENDING = {"srv:high", "pending_approval", "{\"env\":\"prod\"}",
                                   "{\"pending_since_ns\":1}"};

/* A run to the gate in production: begin, a low call, the pause. */
static orc_op *to_the_gate(void) {
  make("{\"env\":\"prod\"}");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  orc_op *o = op_on(T1, SCN_OP_RUN);
  begin_run(T1, "a");
  tcall low = LOW_DEV;
  low.args = "{\"n\":1,\"env\":\"prod\",\"sid\":\"s0\"}";
  exec_ev(T1, "srv:low", low.args);
  append(T1, low, "in_progress", S.extra, 1);
  append(T1, HIGH_PENDING, "awaiting_input", S.extra, 2);
  return o;
}

/* --- the legal run -------------------------------------------------------------------- */

static void test_gated_run_accepted(void **state) {
  (void)state;
  orc_op *o = to_the_gate();
  lock(T1, "s0", ORC_LOCK_RELEASED);
  o->outcome = ORC_RUN_PAUSED;
  answer(T1, o, AS_OK);
  expect_ok();
  /* The approval: the call runs, is resolved, the run goes on to the end. */
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  orc_op *a = op_call(T2, SCN_OP_APPROVE, 1);
  exec_ev(T2, "srv:high", HIGH_PENDING.args);
  resolve_to(T2, 1, "executed", "in_progress");
  ev(T2, "confidence_emitted", "{\"agent\":\"a\",\"confidence\":0.7}");
  ev(T2, "route_decided", "{\"agent\":\"a\",\"signal\":\"\",\"to\":\"end\"}");
  ev(T2, "agent_finished", "{\"agent\":\"a\",\"ok\":true}");
  commit(T2, 1);
  save(T2, "needs_review", S.extra, S.calls, S.ncalls);
  event_row(T2, 1, ORC_INSERT, "s0", ++S.seq, "status_changed",
            "{\"from\":\"in_progress\",\"to\":\"needs_review\",\"reason\":\"no terminal tool call in the executed history\"}");
  commit(T2, 1);
  lock(T2, "s0", ORC_LOCK_RELEASED);
  a->outcome = ORC_RUN_ENDED;
  answer(T2, a, AS_OK);
  /* A second approval: already resolved, says so. */
  orc_op *b = op_call(T1, SCN_OP_APPROVE, 1);
  answer(T1, b, AS_EXISTS);
  expect_ok();
}

/* --- the gate ------------------------------------------------------------------------ */

static void test_pause_without_pending(void **state) {
  (void)state;
  make("{\"env\":\"prod\"}");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  (void)op_on(T1, SCN_OP_RUN);
  begin_run(T1, "a");
  save(T1, "awaiting_input", S.extra, S.calls, S.ncalls);
  status_ev(T1, "in_progress", "awaiting_input");
  commit(T1, 1);
  expect_violation(ORC_CK_GATE, "paused (awaiting_input) without committing its pending call");
}

static void test_pending_without_pause(void **state) {
  (void)state;
  make("{\"env\":\"prod\"}");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  (void)op_on(T1, SCN_OP_RUN);
  begin_run(T1, "a");
  append(T1, HIGH_PENDING, "in_progress", S.extra, 1);
  expect_violation(ORC_CK_GATE, "committed a pending call without the pause");
}

static void test_gated_executed(void **state) {
  (void)state;
  make("{\"env\":\"prod\"}");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  (void)op_on(T1, SCN_OP_RUN);
  begin_run(T1, "a");
  tcall c = {"srv:high", "executed", "{\"env\":\"prod\"}", "{}"};
  append(T1, c, "in_progress", S.extra, 1);
  expect_violation(ORC_CK_GATE, "recorded srv:high executed without an approval");
}

static void test_gated_carried_out(void **state) {
  (void)state;
  make("{\"env\":\"prod\"}");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  (void)op_on(T1, SCN_OP_RUN);
  begin_run(T1, "a");
  exec_ev(T1, "srv:high", "{\"env\":\"prod\"}");
  expect_violation(ORC_CK_GATE, "srv:high was carried out for s0 before any approval");
}

static void test_low_confidence_gates(void **state) {
  (void)state;
  make("{\"env\":\"dev\",\"confidence\":0.5}");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  (void)op_on(T1, SCN_OP_RUN);
  begin_run(T1, "b"); /* b's own floor is 0.9 */
  exec_ev(T1, "srv:low", "{}");
  expect_violation(ORC_CK_GATE, "srv:low was carried out for s0 before any approval");
}

/* --- approvals ---------------------------------------------------------------------- */

static void test_approval_twice(void **state) {
  (void)state;
  (void)to_the_gate();
  lock(T1, "s0", ORC_LOCK_RELEASED);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  (void)op_call(T2, SCN_OP_APPROVE, 1);
  exec_ev(T2, "srv:high", HIGH_PENDING.args);
  resolve_to(T2, 1, "executed", "in_progress");
  exec_ev(T2, "srv:high", HIGH_PENDING.args);
  expect_violation(ORC_CK_APPROVAL, "carried out call 1 (srv:high) again: it was already executed");
}

static void test_resolution_rules(void **state) {
  (void)state;
  /* A run resolving a call. */
  (void)to_the_gate();
  resolve_to(T1, 1, "executed", "in_progress");
  expect_violation(ORC_CK_APPROVAL, "run s0 resolved call 1");
  /* A rejection resolving to executed. */
  reset();
  assert_int_equal(orc_set_app(O, &APP), AS_OK);
  (void)to_the_gate();
  lock(T1, "s0", ORC_LOCK_RELEASED);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  (void)op_call(T2, SCN_OP_REJECT, 1);
  resolve_to(T2, 1, "executed", "in_progress");
  expect_violation(ORC_CK_APPROVAL, "to executed, not rejected");
  /* An approval of another call than asked. */
  reset();
  assert_int_equal(orc_set_app(O, &APP), AS_OK);
  (void)to_the_gate();
  lock(T1, "s0", ORC_LOCK_RELEASED);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  (void)op_call(T2, SCN_OP_APPROVE, 0);
  resolve_to(T2, 1, "executed", "in_progress");
  expect_violation(ORC_CK_APPROVAL, "was asked to resolve call 0 and resolved 1");
  /* A resolution that leaves the session awaiting. */
  reset();
  assert_int_equal(orc_set_app(O, &APP), AS_OK);
  (void)to_the_gate();
  lock(T1, "s0", ORC_LOCK_RELEASED);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  (void)op_call(T2, SCN_OP_APPROVE, 1);
  resolve_to(T2, 1, "executed", "awaiting_input");
  expect_violation(ORC_CK_APPROVAL, "not awaiting_input -> in_progress");
  /* The watchdog before the timeout. */
  reset();
  assert_int_equal(orc_set_app(O, &APP), AS_OK);
  APP.approval_timeout_ns = 1000000000ull;
  (void)to_the_gate();
  lock(T1, "s0", ORC_LOCK_RELEASED);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  (void)op_on(T2, SCN_OP_WATCHDOG);
  resolve_to(T2, 1, "timed_out", "in_progress");
  expect_violation(ORC_CK_APPROVAL, "the watchdog timed out call 1 of s0 after");
  APP.approval_timeout_ns = 1000;
}

static void test_resolving_what_was_not_pending(void **state) {
  (void)state;
  (void)to_the_gate();
  lock(T1, "s0", ORC_LOCK_RELEASED);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  (void)op_call(T2, SCN_OP_APPROVE, 0);
  resolve_to(T2, 0, "executed", "in_progress"); /* call 0 was executed already */
  expect_violation(ORC_CK_APPROVAL, "resolved call 0, which was executed");
}

static void test_exists_while_pending(void **state) {
  (void)state;
  orc_op *o = to_the_gate();
  lock(T1, "s0", ORC_LOCK_RELEASED);
  o->outcome = ORC_RUN_PAUSED;
  answer(T1, o, AS_OK);
  orc_op *a = op_call(T2, SCN_OP_APPROVE, 1);
  answer(T2, a, AS_EXISTS);
  expect_violation(ORC_CK_APPROVAL, "answered 'already resolved' for call 1, which is still pending");
}

static void test_exec_for_settled(void **state) {
  (void)state;
  (void)to_the_gate();
  save(T1, "needs_review", S.extra, S.calls, S.ncalls);
  event_row(T1, 1, ORC_INSERT, "s0", ++S.seq, "status_changed",
            "{\"from\":\"awaiting_input\",\"to\":\"needs_review\",\"reason\":\"no terminal tool call in the executed history\"}");
  commit(T1, 1);
  exec_ev(T1, "srv:low", "{}");
  expect_violation(ORC_CK_APPROVAL, "srv:low was carried out for s0, which is already needs_review");
}

/* --- injected arguments, the patch tool ------------------------------------------------- */

static void test_injected_args(void **state) {
  (void)state;
  make("{\"env\":\"dev\"}");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  (void)op_on(T1, SCN_OP_RUN);
  begin_run(T1, "a");
  tcall c = {"srv:low", "executed", "{\"n\":1,\"env\":\"prod\",\"sid\":\"s0\"}", "{}"};
  append(T1, c, "in_progress", S.extra, 1);
  expect_violation(ORC_CK_INJECT, "recorded srv:low with env=\"prod\"; the session's value is \"dev\"");
  reset();
  assert_int_equal(orc_set_app(O, &APP), AS_OK);
  make("{}");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  (void)op_on(T1, SCN_OP_RUN);
  begin_run(T1, "a");
  append(T1, LOW_DEV, "in_progress", S.extra, 1); /* env given, the session has none */
  expect_violation(ORC_CK_INJECT, "env=\"dev\"; the session's value is (none)");
}

static void test_patch_rules(void **state) {
  (void)state;
  make("{\"env\":\"dev\"}");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  (void)op_on(T1, SCN_OP_RUN);
  begin_run(T1, "a");
  tcall p = {"runtime:patch_session", "executed", "{\"status\":\"resolved\"}", "{}"};
  append(T1, p, "in_progress", S.extra, 1);
  expect_violation(ORC_CK_PATCH, "carried out patch_session with 'status'");
  /* The terminal lock. */
  reset();
  assert_int_equal(orc_set_app(O, &APP), AS_OK);
  make("{\"env\":\"dev\"}");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  (void)op_on(T1, SCN_OP_RUN);
  begin_run(T1, "a");
  tcall h = {"runtime:submit_hypothesis", "executed", "{\"confidence\":0.8}", "{}"};
  append(T1, h, "in_progress", "{\"env\":\"dev\",\"confidence\":0.8}", 3);
  tcall q = {"runtime:patch_session", "executed", "{\"confidence\":0.1}", "{}"};
  append(T1, q, "in_progress", "{\"env\":\"dev\",\"confidence\":0.1}", 3);
  expect_violation(ORC_CK_PATCH, "a patch changed confidence after a typed terminal call in the same answer (3)");
  /* A call that changes the status. */
  reset();
  assert_int_equal(orc_set_app(O, &APP), AS_OK);
  make("{\"env\":\"dev\"}");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  (void)op_on(T1, SCN_OP_RUN);
  begin_run(T1, "a");
  tcall m = {"runtime:mark_resolved", "executed", "{}", "{}"};
  append(T1, m, "resolved", S.extra, 1);
  expect_violation(ORC_CK_STATUS_EVENT, "");
}

/* --- routes, envelopes, the end -------------------------------------------------------- */

static void test_routes(void **state) {
  (void)state;
  make("{}");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  (void)op_on(T1, SCN_OP_RUN);
  begin_run(T1, "a");
  ev(T1, "route_decided", "{\"agent\":\"a\",\"signal\":\"next\",\"to\":\"b\"}");
  commit(T1, 1);
  ev(T1, "route_decided", "{\"agent\":\"a\",\"signal\":\"other\",\"to\":\"end\"}"); /* the default */
  commit(T1, 1);
  expect_ok();
  ev(T1, "route_decided", "{\"agent\":\"a\",\"signal\":\"next\",\"to\":\"end\"}");
  commit(T1, 1);
  expect_violation(ORC_CK_ROUTE, "routed agent a on signal 'next' to end; the app routes it to b");
  reset();
  assert_int_equal(orc_set_app(O, &APP), AS_OK);
  make("{}");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  (void)op_on(T1, SCN_OP_RUN);
  begin_run(T1, "a");
  ev(T1, "confidence_emitted", "{\"agent\":\"a\",\"confidence\":1.5}");
  commit(T1, 1);
  expect_violation(ORC_CK_ROUTE, "outside [0, 1]");
}

static void test_ended_unfinished(void **state) {
  (void)state;
  make("{}");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  orc_op *o = op_on(T1, SCN_OP_RUN);
  begin_run(T1, "a");
  save(T1, "needs_review", S.extra, S.calls, S.ncalls);
  event_row(T1, 1, ORC_INSERT, "s0", ++S.seq, "status_changed",
            "{\"from\":\"in_progress\",\"to\":\"needs_review\",\"reason\":\"no terminal tool call in the executed history\"}");
  commit(T1, 1);
  lock(T1, "s0", ORC_LOCK_RELEASED);
  o->outcome = ORC_RUN_ENDED;
  answer(T1, o, AS_OK);
  expect_violation(ORC_CK_ROUTE, "said the run ended with an agent run unfinished");
}

static void test_outcome_mismatch(void **state) {
  (void)state;
  make("{}");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  orc_op *o = op_on(T1, SCN_OP_RUN);
  begin_run(T1, "a");
  lock(T1, "s0", ORC_LOCK_RELEASED);
  o->outcome = ORC_RUN_PAUSED;
  answer(T1, o, AS_OK);
  expect_violation(ORC_CK_OUTCOME, "said the run paused, but the session is in_progress");
}

/* --- what an agents' operation may not commit at all ------------------------------------ */

static void test_scope(void **state) {
  (void)state;
  make("{}");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  (void)op_on(T1, SCN_OP_RUN);
  begin_run(T1, "a");
  ev(T1, "note", "{}");
  commit(T1, 1);
  expect_violation(ORC_CK_OP_SCOPE, "appended a note event");

  static const char *const why[] = {"a tool the app does not have", "recorded srv:low as rejected",
                                    "changed the extra fields without a tool call",
                                    "stored checkpoint other, not the session's own",
                                    "moved it in_progress -> new"};
  for (int k = 0; k < 5; k++) {
    reset();
    assert_int_equal(orc_set_app(O, &APP), AS_OK);
    make("{}");
    lock(T1, "s0", ORC_LOCK_ACQUIRED);
    (void)op_on(T1, SCN_OP_RUN);
    begin_run(T1, "a");
    if (k == 0) {
      tcall c = {"srv:nope", "executed", "{}", "{}"};
      append(T1, c, "in_progress", S.extra, 1);
    } else if (k == 1) {
      tcall c = {"srv:low", "rejected", "{\"sid\":\"s0\"}", "{}"};
      append(T1, c, "in_progress", S.extra, 1);
    } else if (k == 2) {
      save(T1, "in_progress", "{\"x\":1}", S.calls, S.ncalls);
      commit(T1, 1);
    } else if (k == 3) {
      ckpt_row(T1, 1, ORC_INSERT, "other");
      commit(T1, 1);
    } else {
      save(T1, "new", S.extra, S.calls, S.ncalls);
      status_ev(T1, "in_progress", "new");
      commit(T1, 1);
    }
    expect_violation(k == 1 ? ORC_CK_OP_SCOPE : ORC_CK_OP_SCOPE, why[k]);
  }
  /* The wrong terminal status: resolved with nothing to resolve it. */
  reset();
  assert_int_equal(orc_set_app(O, &APP), AS_OK);
  make("{}");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  (void)op_on(T1, SCN_OP_RUN);
  begin_run(T1, "a");
  save(T1, "resolved", S.extra, S.calls, S.ncalls);
  status_ev(T1, "in_progress", "resolved");
  commit(T1, 1);
  expect_violation(ORC_CK_INFER, "finalized it resolved, but its history of 0 calls implies needs_review");
}

static void test_without_app(void **state) {
  (void)state;
  assert_int_equal(orc_set_app(O, NULL), AS_OK);
  make("{}");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  (void)op_on(T1, SCN_OP_RUN);
  save(T1, "in_progress", S.extra, S.calls, S.ncalls);
  status_ev(T1, "new", "in_progress");
  commit(T1, 1);
  expect_harness("run ran without the app's data");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_gated_run_accepted, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_pause_without_pending, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_pending_without_pause, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_gated_executed, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_gated_carried_out, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_low_confidence_gates, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_approval_twice, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_resolution_rules, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_resolving_what_was_not_pending, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_exists_while_pending, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_exec_for_settled, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_injected_args, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_patch_rules, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_routes, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_ended_unfinished, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_outcome_mismatch, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_scope, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_without_app, app_setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

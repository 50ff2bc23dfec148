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
  for (unsigned k = 0; k < 4; k++)
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
  add_tool("plain", ORC_TK_APP, 0, 0);   /* a name without a server */
  add_tool("srv:dup", ORC_TK_APP, 0, 0); /* two tools one bare name names */
  add_tool("alt:dup", ORC_TK_APP, 0, 0);
  add_tool("srv:meta", ORC_TK_APP, 0, 4 | 8);
  add_tool("notify:page", ORC_TK_APP, 0, 0);
  APP.tools[APP.ntools - 1].legacy = true; /* an executed page counts as escalated */
  APP.inject[0] = (orc_app_inject){"env", ORC_INJ_EXTRA, "env"};
  APP.inject[1] = (orc_app_inject){"sid", ORC_INJ_ID, ""};
  APP.inject[2] = (orc_app_inject){"st", ORC_INJ_STATUS, ""};
  APP.inject[3] = (orc_app_inject){"retry", ORC_INJ_RETRY, ""};
  APP.ninject = 4;
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
  snprintf(APP.production[1], sizeof APP.production[1], "live");
  APP.nproduction = 2;
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
  tcall calls[16];
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
  char p[256];
  if (strcmp(to, "error") == 0) /* a failed run's kind and cause (oracle_feed.h's) */
    snprintf(p, sizeof p, "{\"from\":\"%s\",\"to\":\"%s\",\"reason\":\"\",\"error_kind\":\"%s\","
             "\"error\":\"%s\"}", from, to, ERR_KIND, ERR_CAUSE);
  else
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
  tcall before[16];
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

/* The rows of resolve_to, the commit left to the caller. */
static void resolve_rows(uint32_t t, size_t idx, const char *state, const char *st1);

/* Resolve call idx to state, with approval_resolved and the status back. */
static void resolve_to(uint32_t t, size_t idx, const char *state, const char *st1) {
  resolve_rows(t, idx, state, st1);
  commit(t, 1);
}

static void resolve_rows(uint32_t t, size_t idx, const char *state, const char *st1) {
  tcall before[16];
  memcpy(before, S.calls, sizeof before);
  const char *st0 = S.st;
  S.calls[idx].state = state;
  S.calls[idx].result = "{\"done\":1}";
  save(t, st1, S.extra, before, S.ncalls);
  char p[96];
  snprintf(p, sizeof p, "{\"call\":%zu,\"decision\":\"x\"}", idx);
  ev(t, "approval_resolved", p);
  if (strcmp(st0, st1) != 0) status_ev(t, st0, st1);
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

/* --- more of each rule: the app's names, the gate's floors, every shape of commit ------------ */

/* A fresh oracle with the app, for a test that plays several histories. */
static void again(void) {
  reset();
  assert_int_equal(orc_set_app(O, &APP), AS_OK);
  VNOW = 0;
}

/* s0 made with extra x, and T1's run begun on it (its lock taken), agent `agent`. */
static void running(const char *x, const char *agent) {
  make(x);
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  (void)op_on(T1, SCN_OP_RUN);
  begin_run(T1, agent);
}

/* The older tool operation appends c to s0 (no lock, no events), committed and answered. */
static void tool_op(uint32_t t, tcall c) {
  orc_op *o = op(t, SCN_OP_TOOL, "s0");
  o->tool = c.tool;
  o->tool_state = orc_call_state_parse(c.state, strlen(c.state));
  o->args = c.args;
  o->result = c.result;
  o->base_version = S.v;
  begin(t, o);
  tcall before[16];
  memcpy(before, S.calls, sizeof before);
  size_t nb = S.ncalls;
  S.calls[S.ncalls++] = c;
  save(t, S.st, S.extra, before, nb);
  commit(t, 1);
  o->version = S.v;
  answer(t, o, AS_OK);
}

/* Append call c, status to st1 and extra to x1, with the status event when
** it moves and one event of kind (NULL: none) with payload; committed. */
static void append_with(uint32_t t, tcall c, const char *st1, const char *x1, const char *kind,
                        const char *payload) {
  tcall before[16];
  memcpy(before, S.calls, sizeof before);
  size_t nb = S.ncalls;
  const char *st0 = S.st;
  S.calls[S.ncalls++] = c;
  save(t, st1, x1, before, nb);
  if (strcmp(st0, st1) != 0) status_ev(t, st0, st1);
  if (kind) ev(t, kind, payload);
  commit(t, 1);
}

/* s1, a second session (no events, extra {}). */
static void make_other(const char *id) {
  orc_op *o = op(MAIN, ORC_OP_CREATE, id);
  begin(MAIN, o);
  session_insert(MAIN, 0, id);
  commit(MAIN, 0);
  answer(MAIN, o, AS_OK);
}

#define T3 3u

static const tcall LOW_ENV_DEV = {"srv:low", "executed", "{\"env\":\"dev\",\"sid\":\"s0\"}", "{}"};
static const tcall LOW_DEV_PROD = {"srv:low", "executed", "{\"env\":\"prod\",\"sid\":\"s0\"}", "{}"};

/* The pause operation moves s0 to awaiting_input (no call), under t's lock. */
static void pause_op(uint32_t t) {
  lock(t, "s0", ORC_LOCK_ACQUIRED);
  orc_op *o = op_on(t, SCN_OP_PAUSE);
  const char *st0 = S.st;
  save(t, "awaiting_input", S.extra, S.calls, S.ncalls);
  status_ev(t, st0, "awaiting_input");
  commit(t, 1);
  lock(t, "s0", ORC_LOCK_RELEASED);
  o->changed = 1;
  answer(t, o, AS_OK);
}

/* Qualified, bare, and server-less names; a bare name two tools have is no tool. */
static void test_tool_names(void **state) {
  (void)state;
  running("{\"env\":\"dev\"}", "a");
  tcall c = {"low", "executed", "{\"env\":\"dev\",\"sid\":\"s0\"}", "{}"}; /* srv:low, bare */
  exec_ev(T1, "low", c.args);
  append(T1, c, "in_progress", S.extra, 1);
  tcall p = {"plain", "executed", "{}", "{}"};
  exec_ev(T1, "plain", "{}");
  append(T1, p, "in_progress", S.extra, 1);
  expect_ok();
  exec_ev(T1, "dup", "{}");
  expect_violation(ORC_CK_OP_SCOPE, "dup was carried out for s0: the app has no such tool");
  again();
  running("{}", "a");
  tcall d = {"dup", "executed", "{}", "{}"};
  append(T1, d, "in_progress", S.extra, 1);
  expect_violation(ORC_CK_OP_SCOPE, "recorded a call of dup, a tool the app does not have");
}

/* Whose floor the confidence is held to, and which environments are production. */
static void test_gate_floors(void **state) {
  (void)state;
  static const struct {
    const char *extra, *agent; /* agent_started's payload; NULL: none yet */
    const char *tool, *args;
    int gated;
  } cases[] = {
      /* No agent started yet, a nameless one, an unknown one: the policy's floor (0.4). */
      {"{\"env\":\"dev\",\"confidence\":0.3}", NULL, "srv:low", "{\"env\":\"dev\",\"sid\":\"s0\"}", 1},
      {"{\"env\":\"dev\",\"confidence\":0.3}", "{\"run\":0}", "srv:low", "{\"env\":\"dev\",\"sid\":\"s0\"}", 1},
      {"{\"env\":\"dev\",\"confidence\":0.3}", "{\"agent\":\"zed\"}", "srv:low", "{\"env\":\"dev\",\"sid\":\"s0\"}", 1},
      {"{\"env\":\"dev\",\"confidence\":0.5}", "{\"agent\":\"zed\"}", "srv:low", "{\"env\":\"dev\",\"sid\":\"s0\"}", 0},
      /* a has no floor of its own; b's is 0.9; integers are numbers too. */
      {"{\"env\":\"dev\",\"confidence\":0.5}", "{\"agent\":\"a\"}", "srv:low", "{\"env\":\"dev\",\"sid\":\"s0\"}", 0},
      {"{\"env\":\"dev\",\"confidence\":0}", "{\"agent\":\"a\"}", "srv:low", "{\"env\":\"dev\",\"sid\":\"s0\"}", 1},
      {"{\"env\":\"dev\",\"confidence\":1}", "{\"agent\":\"b\"}", "srv:low", "{\"env\":\"dev\",\"sid\":\"s0\"}", 0},
      /* A confidence that is no number holds nothing back. */
      {"{\"env\":\"dev\",\"confidence\":\"low\"}", "{\"agent\":\"b\"}", "srv:low", "{\"env\":\"dev\",\"sid\":\"s0\"}", 0},
      /* The second production environment; a tool below the gated risk; an
      ** environment that is no name; none at all. */
      {"{\"env\":\"live\"}", "{\"agent\":\"a\"}", "srv:high", "{\"env\":\"live\"}", 1},
      {"{\"env\":\"prod\"}", "{\"agent\":\"a\"}", "srv:low", "{\"env\":\"prod\",\"sid\":\"s0\"}", 0},
      {"{\"env\":5}", "{\"agent\":\"a\"}", "srv:high", "{\"env\":5}", 0},
      {"{}", "{\"agent\":\"a\"}", "srv:high", "{}", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (i) again();
    make(cases[i].extra);
    lock(T1, "s0", ORC_LOCK_ACQUIRED);
    (void)op_on(T1, SCN_OP_RUN);
    save(T1, "in_progress", S.extra, S.calls, S.ncalls);
    status_ev(T1, "new", "in_progress");
    commit(T1, 1);
    if (cases[i].agent) {
      ev(T1, "agent_started", cases[i].agent);
      ev(T1, "gate_fired", "{}"); /* the agent is the one last started, not the last event's */
      commit(T1, 1);
    }
    exec_ev(T1, cases[i].tool, cases[i].args);
    if (cases[i].gated) {
      expect_violation(ORC_CK_GATE, "before any approval, but the gate holds it for a human");
      continue;
    }
    tcall c = {cases[i].tool, "executed", cases[i].args, "{}"};
    append(T1, c, "in_progress", S.extra, 1);
    if (orc_violation(O)) fail_msg("case %zu: %s", i, orc_violation(O));
  }
  /* An app without an environment field: production means nothing. */
  again();
  APP.env_field[0] = '\0';
  running("{\"env\":\"prod\"}", "a");
  exec_ev(T1, "srv:high", "{\"env\":\"prod\"}");
  tcall h = {"srv:high", "executed", "{\"env\":\"prod\"}", "{}"};
  append(T1, h, "in_progress", S.extra, 1);
  snprintf(APP.env_field, sizeof APP.env_field, "env");
  expect_ok();
}

/* The id, the status and the retry count as injected arguments; one left out. */
static void test_injected_sources(void **state) {
  (void)state;
  running("{}", "a");
  tcall m = {"srv:meta", "executed", "{\"st\":\"in_progress\",\"retry\":0}", "{}"};
  append(T1, m, "in_progress", S.extra, 1);
  tcall q = {"srv:low", "executed", "{\"sid\":\"s0\"}", "{}"}; /* no env: the session has none */
  append(T1, q, "in_progress", S.extra, 1);
  expect_ok();
  tcall w = {"srv:meta", "executed", "{\"st\":\"in_progress\",\"retry\":5}", "{}"};
  append(T1, w, "in_progress", S.extra, 1);
  expect_violation(ORC_CK_INJECT, "recorded srv:meta with retry=5; the session's value is 0");
  again();
  running("{}", "a");
  tcall s = {"srv:meta", "executed", "{\"st\":\"new\",\"retry\":0}", "{}"};
  append(T1, s, "in_progress", S.extra, 1);
  expect_violation(ORC_CK_INJECT, "with st=\"new\"; the session's value is \"in_progress\"");
  again();
  running("{\"env\":\"dev\"}", "a");
  tcall n = {"srv:low", "executed", "{\"sid\":\"s0\"}", "{}"};
  append(T1, n, "in_progress", S.extra, 1);
  expect_violation(ORC_CK_INJECT, "recorded srv:low with env=(none); the session's value is \"dev\"");
}

/* The patch tool's keys, and the terminal lock over the calls before it. */
static void test_patch_lock(void **state) {
  (void)state;
  static const char *const forbidden[] = {"resolution", "escalation"};
  for (int k = 0; k < 2; k++) {
    if (k) again();
    running("{}", "a");
    char args[64], want[96];
    snprintf(args, sizeof args, "{\"%s\":\"x\"}", forbidden[k]);
    snprintf(want, sizeof want, "carried out patch_session with '%s'", forbidden[k]);
    tcall p = {"runtime:patch_session", "executed", args, "{}"};
    append(T1, p, "in_progress", S.extra, 1);
    expect_violation(ORC_CK_PATCH, want);
  }
  /* None of the calls before locks: a terminal call of no answer (an older
  ** tool operation's), a tool the app does not have, a terminal call that did
  ** not run, an app tool and a patch of the same answer. */
  again();
  make("{\"env\":\"dev\"}");
  tcall mr = {"runtime:mark_resolved", "executed", "{}", "{}"};
  tcall other = {"other:tool", "executed", "{}", "{}"};
  tcall hr = {"runtime:submit_hypothesis", "rejected", "{}", "{}"};
  tool_op(T2, mr);
  tool_op(T2, other);
  tool_op(T2, hr);
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  (void)op_on(T1, SCN_OP_RUN);
  begin_run(T1, "a");
  append(T1, LOW_ENV_DEV, "in_progress", S.extra, 4);
  tcall p1 = {"runtime:patch_session", "executed", "{\"summary\":\"a\"}", "{}"};
  append(T1, p1, "in_progress", "{\"env\":\"dev\",\"summary\":\"a\",\"confidence\":0.2}", 4);
  tcall p2 = {"runtime:patch_session", "executed", "{\"confidence\":0.3}", "{}"};
  append(T1, p2, "in_progress", "{\"env\":\"dev\",\"summary\":\"a\",\"confidence\":0.3}", 4);
  expect_ok();
  /* Locked (a hypothesis of answer 5), and kept: the patch changes neither. */
  tcall h = {"runtime:submit_hypothesis", "executed", "{\"confidence\":0.8}", "{}"};
  append(T1, h, "in_progress", "{\"env\":\"dev\",\"summary\":\"a\",\"confidence\":0.8}", 5);
  append(T1, LOW_ENV_DEV, "in_progress", S.extra, 5);
  tcall p3 = {"runtime:patch_session", "executed", "{\"summary\":\"b\"}", "{}"};
  append(T1, p3, "in_progress", "{\"env\":\"dev\",\"summary\":\"b\",\"confidence\":0.8}", 5);
  /* A patch whose event names no answer is in none. */
  tcall p4 = {"runtime:patch_session", "executed", "{\"confidence\":0.1}", "{}"};
  append_with(T1, p4, "in_progress", "{\"env\":\"dev\",\"summary\":\"b\",\"confidence\":0.1}",
              "tool_invoked", "{\"call\":9,\"tool\":\"runtime:patch_session\"}");
  expect_ok();
  /* Locked: a confidence the patch takes away, a rationale it adds. */
  static const char *const after[] = {"{\"env\":\"dev\"}",
                                      "{\"env\":\"dev\",\"confidence\":0.8,\"rationale\":\"r\"}"};
  static const char *const what[] = {"a patch changed confidence after a typed terminal call",
                                     "a patch changed rationale after a typed terminal call"};
  for (int k = 0; k < 2; k++) {
    again();
    running("{\"env\":\"dev\"}", "a");
    append(T1, h, "in_progress", "{\"env\":\"dev\",\"confidence\":0.8}", 2);
    tcall p = {"runtime:patch_session", "executed", "{}", "{}"};
    append(T1, p, "in_progress", after[k], 2);
    expect_violation(ORC_CK_PATCH, what[k]);
  }
}

/* What an emitted confidence and a route_decided event may say. */
static void test_event_payloads(void **state) {
  (void)state;
  running("{}", "a");
  ev(T1, "confidence_emitted", "{\"agent\":\"a\",\"confidence\":1}");
  ev(T1, "confidence_emitted", "{\"agent\":\"a\",\"confidence\":0}");
  ev(T1, "route_decided", "{\"agent\":\"a\",\"to\":\"end\"}"); /* no signal: the default */
  ev(T1, "route_decided", "{\"agent\":\"a\",\"signal\":\"\",\"to\":\"end\"}");
  commit(T1, 1);
  expect_ok();
  static const struct {
    const char *kind, *payload, *message;
  } bad[] = {
      {"confidence_emitted", "{\"agent\":\"a\",\"confidence\":-0.1}", "outside [0, 1]"},
      {"confidence_emitted", "{\"agent\":\"a\",\"confidence\":\"high\"}", "outside [0, 1]"},
      {"confidence_emitted", "{\"agent\":\"a\"}", "emitted confidence {\"agent\":\"a\"}, outside"},
      {"route_decided", "{}", "routed agent (none) on signal '' to (none); the app routes it to (none)"},
      {"route_decided", "{\"agent\":\"zed\",\"signal\":\"x\",\"to\":\"end\"}",
       "routed agent zed on signal 'x' to end; the app routes it to (none)"},
      {"route_decided", "{\"agent\":\"a\",\"signal\":\"next\"}",
       "routed agent a on signal 'next' to (none); the app routes it to b"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    again();
    running("{}", "a");
    ev(T1, bad[i].kind, bad[i].payload);
    commit(T1, 1);
    expect_violation(ORC_CK_ROUTE, bad[i].message);
  }
}

/* Every kind of commit an agents' operation may not make, and the legal
** ones near them. */
static void test_commit_shapes(void **state) {
  (void)state;
  static const struct {
    orc_check ck;
    const char *message;
  } want[] = {
      {ORC_CK_OP_SCOPE, "run s0 removed checkpoints or changed 0 sessions"},
      {ORC_CK_OP_SCOPE, "run s0 removed checkpoints or changed 2 sessions"},
      {ORC_CK_OP_SCOPE, "run (none) committed a change to s0"},
      {ORC_CK_OP_SCOPE, "run s0 committed a change to s1"},
      {ORC_CK_OP_SCOPE, "run created session s2"},
      {ORC_CK_HISTORY, "run s0 changed more than one recorded call"},
      {ORC_CK_APPROVAL, "run s0 changed call 0 without an approval_resolved event"},
      {ORC_CK_APPROVAL, "approve s0 changed call 1 but logged the resolution of another"},
      {ORC_CK_APPROVAL, "approve s0 resolved call 7, which was not there"},
      {ORC_CK_OP_SCOPE, "approve s0 resolved and recorded calls in one commit"},
      {ORC_CK_HISTORY, "run s0 dropped tool calls (1 before, 0 after)"},
      {ORC_CK_OP_SCOPE, "run s0 recorded 2 calls in one commit"},
      {ORC_CK_GATE, "run s0 paused without its approval_requested event"},
      {ORC_CK_OP_SCOPE, "run s0 recorded call 0 without its tool_invoked event"},
      {ORC_CK_OP_SCOPE, "run s0 recorded call 0 without its tool_invoked event"},
      {ORC_CK_OP_SCOPE, "run s0 recorded call 0 without its tool_invoked event"},
      {ORC_CK_PATCH, "run s0: carrying out srv:low changed the status in_progress -> error"},
      {ORC_CK_OP_SCOPE, "run s0 changed its status and its extra fields at once"},
      {ORC_CK_OP_SCOPE, "run s0 moved it awaiting_input -> in_progress with an approval still pending"},
      {ORC_CK_OP_SCOPE, "run s0 moved it awaiting_input -> in_progress with an approval still pending"},
  };
  for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
    if (k) again();
    tcall before[16];
    switch (k) {
    case 0: /* a checkpoint removed */
      make("{}");
      put(T2, "s0", ORC_INSERT);
      lock(T1, "s0", ORC_LOCK_ACQUIRED);
      (void)op_on(T1, SCN_OP_RUN);
      ckpt_row(T1, 1, ORC_DELETE, "s0");
      commit(T1, 1);
      break;
    case 1: /* two sessions */
    case 3: /* another session */
      make("{}");
      make_other("s1");
      lock(T1, "s0", ORC_LOCK_ACQUIRED);
      (void)op_on(T1, SCN_OP_RUN);
      if (k == 1) ev(T1, "agent_started", "{\"agent\":\"a\"}");
      event_row(T1, 1, ORC_INSERT, "s1", 1, "agent_started", "{\"agent\":\"a\"}");
      commit(T1, 1);
      break;
    case 2: /* no session named */
      make("{}");
      begin(T1, op(T1, SCN_OP_RUN, NULL));
      ev(T1, "agent_started", "{\"agent\":\"a\"}");
      commit(T1, 1);
      break;
    case 4: /* a session created */
      make("{}");
      begin(T1, op(T1, SCN_OP_RUN, "s2"));
      session_insert(T1, 1, "s2");
      commit(T1, 1);
      break;
    case 5: /* two calls changed */
    case 6: /* one call changed, no resolution logged */
    case 10: /* a call dropped */
      running("{\"env\":\"dev\"}", "a");
      append(T1, LOW_ENV_DEV, "in_progress", S.extra, 1);
      if (k == 5) append(T1, LOW_ENV_DEV, "in_progress", S.extra, 1);
      memcpy(before, S.calls, sizeof before);
      if (k == 10) {
        S.ncalls = 0;
        save(T1, S.st, S.extra, before, 1);
      } else {
        S.calls[0].result = "{\"again\":1}";
        if (k == 5) S.calls[1].result = "{\"again\":1}";
        save(T1, S.st, S.extra, before, S.ncalls);
      }
      commit(T1, 1);
      break;
    case 7: /* the resolution of another call logged */
    case 8: /* the resolution of a call that is not there */
    case 9: /* a resolution and a new call */
      (void)to_the_gate();
      lock(T1, "s0", ORC_LOCK_RELEASED);
      lock(T2, "s0", ORC_LOCK_ACQUIRED);
      (void)op_call(T2, SCN_OP_APPROVE, k == 8 ? 7 : 1);
      memcpy(before, S.calls, sizeof before);
      if (k != 8) S.calls[1].state = "executed";
      if (k == 9) S.calls[S.ncalls++] = LOW_DEV;
      save(T2, "in_progress", S.extra, before, 2);
      ev(T2, "approval_resolved", k == 7 ? "{\"call\":0}" : k == 8 ? "{\"call\":7}" : "{\"call\":1}");
      status_ev(T2, "awaiting_input", "in_progress");
      commit(T2, 1);
      break;
    case 11: /* two calls at once */
      running("{\"env\":\"dev\"}", "a");
      memcpy(before, S.calls, sizeof before);
      S.calls[S.ncalls++] = LOW_ENV_DEV;
      S.calls[S.ncalls++] = LOW_ENV_DEV;
      save(T1, S.st, S.extra, before, 0);
      ev(T1, "tool_invoked", "{\"call\":0,\"answer\":1}");
      ev(T1, "tool_invoked", "{\"call\":1,\"answer\":1}");
      commit(T1, 1);
      break;
    case 12: /* a pause without its request */
      running("{\"env\":\"prod\"}", "a");
      append_with(T1, HIGH_PENDING, "awaiting_input", S.extra, "gate_fired", "{\"call\":0}");
      break;
    case 13: /* an executed call without its event */
    case 14: /* ... or with another call's */
    case 15: /* ... or naming its call as a string */
      running("{\"env\":\"dev\"}", "a");
      append_with(T1, LOW_ENV_DEV, "in_progress", S.extra, k == 13 ? NULL : "tool_invoked",
                  k == 14 ? "{\"call\":5,\"answer\":1}" : "{\"call\":\"0\",\"answer\":1}");
      break;
    case 16: /* an executed call that moves the status */
      running("{\"env\":\"dev\"}", "a");
      append_with(T1, LOW_ENV_DEV, "error", S.extra, "tool_invoked", "{\"call\":0,\"answer\":1}");
      break;
    case 17: /* status and fields together */
      running("{}", "a");
      save(T1, "error", "{\"x\":1}", S.calls, S.ncalls);
      status_ev(T1, "in_progress", "error");
      commit(T1, 1);
      break;
    case 18: /* resumed while the approval is pending */
      (void)to_the_gate();
      save(T1, "in_progress", S.extra, S.calls, S.ncalls);
      status_ev(T1, "awaiting_input", "in_progress");
      commit(T1, 1);
      break;
    default: /* ... an older one, the session paused by pause, not by the gate */
      make("{\"env\":\"prod\"}");
      tool_op(T2, HIGH_PENDING);
      lock(T1, "s0", ORC_LOCK_ACQUIRED);
      (void)op_on(T1, SCN_OP_RUN);
      begin_run(T1, "a");
      append(T1, LOW_DEV_PROD, "in_progress", S.extra, 1);
      lock(T1, "s0", ORC_LOCK_RELEASED);
      pause_op(T2);
      lock(T1, "s0", ORC_LOCK_ACQUIRED);
      save(T1, "in_progress", S.extra, S.calls, S.ncalls);
      status_ev(T1, "awaiting_input", "in_progress");
      commit(T1, 1);
      break;
    }
    expect_violation(want[k].ck, want[k].message);
  }
  /* Legal: its own checkpoint alone; a save that changes nothing; a paused
  ** session (pause) taken up again; a failed run. */
  again();
  make("{}");
  orc_op *pa = status_rows(T2, SCN_OP_PAUSE, "s0", "new", 1, "awaiting_input", 1, "");
  commit(T2, 1);
  lock(T2, "s0", ORC_LOCK_RELEASED);
  pa->changed = 1;
  answer(T2, pa, AS_OK);
  S.st = "awaiting_input";
  S.v = 2;
  S.seq = 1;
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  orc_op *o = op_on(T1, SCN_OP_RUN);
  ckpt_row(T1, 1, ORC_INSERT, "s0");
  commit(T1, 1);
  save(T1, "in_progress", S.extra, S.calls, S.ncalls);
  status_ev(T1, "awaiting_input", "in_progress");
  commit(T1, 1);
  save(T1, "in_progress", S.extra, S.calls, S.ncalls);
  commit(T1, 1);
  save(T1, "error", S.extra, S.calls, S.ncalls);
  status_ev(T1, "in_progress", "error");
  commit(T1, 1);
  lock(T1, "s0", ORC_LOCK_RELEASED);
  o->outcome = ORC_RUN_FAILED;
  answer(T1, o, AS_OK);
  expect_ok();
}

/* A resolution keeps the call's tool and arguments, and moves the session back. */
static void test_resolution_keeps(void **state) {
  (void)state;
  static const char *const what[] = {"resolved call 1 (srv:high) to executed, not executed with "
                                     "its arguments kept",
                                     "resolved call 1 (srv:high) to executed, not executed with "
                                     "its arguments kept"};
  for (int k = 0; k < 2; k++) {
    if (k) again();
    (void)to_the_gate();
    lock(T1, "s0", ORC_LOCK_RELEASED);
    lock(T2, "s0", ORC_LOCK_ACQUIRED);
    (void)op_call(T2, SCN_OP_APPROVE, 1);
    tcall before[16];
    memcpy(before, S.calls, sizeof before);
    S.calls[1].state = "executed";
    if (k == 0) S.calls[1].args = "{\"env\":\"dev\"}";
    else S.calls[1].tool = "srv:low";
    save(T2, "in_progress", S.extra, before, S.ncalls);
    ev(T2, "approval_resolved", "{\"call\":1}");
    status_ev(T2, "awaiting_input", "in_progress");
    commit(T2, 1);
    expect_violation(ORC_CK_APPROVAL, what[k]);
  }
  /* A pending call an older tool operation recorded, the session never
  ** paused: approving it leaves the session where it was. */
  again();
  make("{\"env\":\"prod\"}");
  tool_op(T2, HIGH_PENDING);
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  (void)op_on(T1, SCN_OP_RUN);
  begin_run(T1, "a");
  expect_ok();
  lock(T1, "s0", ORC_LOCK_RELEASED);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  (void)op_call(T2, SCN_OP_APPROVE, 0);
  resolve_to(T2, 0, "executed", "in_progress");
  expect_violation(ORC_CK_APPROVAL, "approve s0 resolved call 0 moving it in_progress -> in_progress");
}

/* The watchdog: a call whose wait it cannot know; one that waited the
** timeout; and the checkpoint of the run it resumes, which is that
** session's own (a second pause of the resumed run stores it). */
static void test_watchdog_resumes(void **state) {
  (void)state;
  /* Call 0 pending by an older tool operation (when, the oracle never saw),
  ** call 1 by the run's pause: the watchdog times out call 0. */
  make("{\"env\":\"prod\"}");
  tool_op(T2, HIGH_PENDING);
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  orc_op *o = op_on(T1, SCN_OP_RUN);
  begin_run(T1, "a");
  append(T1, HIGH_PENDING, "awaiting_input", S.extra, 1);
  lock(T1, "s0", ORC_LOCK_RELEASED);
  o->outcome = ORC_RUN_PAUSED;
  answer(T1, o, AS_OK);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  orc_op *w = op_on(T2, SCN_OP_WATCHDOG);
  resolve_to(T2, 0, "timed_out", "in_progress");
  ckpt_row(T2, 1, ORC_INSERT, "s0");
  commit(T2, 1);
  lock(T2, "s0", ORC_LOCK_RELEASED);
  answer(T2, w, AS_OK);
  expect_ok();
  /* The run paused at call 1 at time 0; the watchdog's commit comes after
  ** the timeout (1000 ns); the resumed run pauses again at call 2, storing
  ** its conversation; then stores another session's. */
  again();
  (void)to_the_gate();
  lock(T1, "s0", ORC_LOCK_RELEASED);
  /* Meanwhile s1 pauses too (its wait is not s0's). */
  make_other("s1");
  lock(T3, "s1", ORC_LOCK_ACQUIRED);
  orc_op *r1 = op(T3, SCN_OP_RUN, "s1");
  begin(T3, r1);
  session_update(T3, 1, "s1", "new", 1, "{}", "awaiting_input", 2, "{}", "");
  call_row(T3, 1, ORC_INSERT, "s1", 0, "srv:high", "pending_approval");
  status_event(T3, 1, "s1", 1, "new", "awaiting_input");
  event_row(T3, 1, ORC_INSERT, "s1", 2, "approval_requested", "{\"call\":0}");
  commit(T3, 1);
  lock(T3, "s1", ORC_LOCK_RELEASED);
  r1->outcome = ORC_RUN_PAUSED;
  answer(T3, r1, AS_OK);
  expect_ok();
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  (void)op_on(T2, SCN_OP_WATCHDOG);
  VNOW = 5000;
  resolve_to(T2, 1, "timed_out", "in_progress");
  tcall next = {"srv:high", "pending_approval", "{\"env\":\"prod\"}", "{\"pending_since_ns\":2}"};
  ckpt_row(T2, 1, ORC_INSERT, "s0");
  commit(T2, 1);
  append(T2, next, "awaiting_input", S.extra, 3);
  expect_ok();
  ckpt_row(T2, 1, ORC_INSERT, "s1");
  commit(T2, 1);
  expect_violation(ORC_CK_OP_SCOPE, "watchdog s0 stored checkpoint s1, not the session's own");
  /* Before it resolved anything, no session's checkpoint is the watchdog's. */
  again();
  make("{}");
  (void)op_on(T2, SCN_OP_WATCHDOG);
  ckpt_row(T2, 1, ORC_INSERT, "s0");
  commit(T2, 1);
  expect_violation(ORC_CK_OP_SCOPE, "watchdog (none) stored checkpoint s0, not the session's own");
}

/* The tool server's evidence: what it cannot judge, and what an approval licenses. */
static void test_exec_evidence(void **state) {
  (void)state;
  /* Not judged: a session the oracle does not know, one whose creation
  ** rolled back, a settled session whose settling commit is in flight or in
  ** doubt after power loss. */
  running("{\"env\":\"dev\"}", "a");
  exec_ev(T1, "srv:low", "{}");
  orc_exec unknown = {.session = "s9", .tool = "srv:high", .args = "{}"};
  feed(ORC_EV_EXEC, T1, 0, 0, "t", &unknown);
  conn(2);
  orc_op *c = op(T2, ORC_OP_CREATE, "s3");
  begin(T2, c);
  session_insert(T2, 2, "s3");
  committing(T2, 2);
  rollback(T2, 2);
  answer(T2, c, AS_IO);
  orc_exec gone = {.session = "s3", .tool = "srv:high", .args = "{}"};
  feed(ORC_EV_EXEC, T1, 0, 0, "t", &gone);
  save(T1, "error", S.extra, S.calls, S.ncalls);
  status_ev(T1, "in_progress", "error");
  committing(T1, 1);
  exec_ev(T1, "srv:low", "{}"); /* the session is error, unless the commit rolls back */
  power_loss();
  exec_ev(T1, "srv:low", "{}");
  expect_ok();
  /* An exec outside any task, or by a task in no operation: the gate judges it. */
  static const uint32_t tasks[] = {SIM_TASK_NONE, 7};
  for (int k = 0; k < 2; k++) {
    again();
    running("{\"env\":\"prod\"}", "a");
    orc_exec x = {.session = "s0", .tool = "srv:high", .args = "{\"env\":\"prod\"}"};
    feed(ORC_EV_EXEC, tasks[k], 0, 0, "t", &x);
    expect_violation(ORC_CK_GATE, "srv:high was carried out for s0 before any approval");
  }
  /* An approval licenses its own call, with its arguments: not another
  ** call's, not a call that is not there, not the call with other arguments;
  ** an ungated tool the resumed run calls is fine. */
  static const struct {
    int64_t call;
    const char *tool, *args;
    int ok;
  } lic[] = {
      {1, "srv:low", "{}", 1},
      {-1, "srv:high", "{\"env\":\"prod\"}", 0},
      {5, "srv:high", "{\"env\":\"prod\"}", 0},
      {0, "srv:high", "{\"env\":\"prod\"}", 0},
      {1, "srv:high", "{\"env\":\"prod\",\"x\":1}", 0},
  };
  for (size_t k = 0; k < sizeof lic / sizeof lic[0]; k++) {
    again();
    (void)to_the_gate();
    lock(T1, "s0", ORC_LOCK_RELEASED);
    lock(T2, "s0", ORC_LOCK_ACQUIRED);
    (void)op_call(T2, SCN_OP_APPROVE, lic[k].call);
    exec_ev(T2, lic[k].tool, lic[k].args);
    if (lic[k].ok)
      expect_ok();
    else
      expect_violation(ORC_CK_GATE, "srv:high was carried out for s0 before any approval");
  }
  /* An exec event that does not say what, for whom; or with no app at all:
  ** the oracle lost track. */
  again();
  running("{}", "a");
  orc_exec nameless = {.session = "s0", .tool = NULL, .args = "{}"};
  feed(ORC_EV_EXEC, T1, 0, 0, "t", &nameless);
  expect_harness("a tool was carried out, but the event does not say which, or for whom");
  again();
  feed(ORC_EV_EXEC, T1, 0, 0, "t", NULL);
  expect_harness("the event does not say which, or for whom");
  again();
  orc_exec anon = {.session = NULL, .tool = "srv:low", .args = "{}"};
  feed(ORC_EV_EXEC, T1, 0, 0, "t", &anon);
  expect_harness("the event does not say which, or for whom");
  again();
  assert_int_equal(orc_set_app(O, NULL), AS_OK);
  exec_ev(T1, "srv:low", "{}");
  expect_harness("a tool was carried out, but the run has no app");
}

/* What a run's answer may say: ended (terminal, not error), paused, failed
** (error, or settled); not judged while the session is in doubt. */
static void test_answers(void **state) {
  (void)state;
  static const struct {
    const char *to;
    int outcome;
    const char *message; /* NULL: fine */
  } cases[] = {
      {"error", ORC_RUN_ENDED, "run s0 said the run ended, but the session is error"},
      {"in_progress", ORC_RUN_ENDED, "run s0 said the run ended, but the session is in_progress"},
      {"in_progress", ORC_RUN_FAILED, "run s0 said the run failed, but the session is in_progress"},
      {"error", ORC_RUN_FAILED, NULL},
      {"needs_review", ORC_RUN_FAILED, NULL}, /* a finalize settled it meanwhile */
      {"in_progress", ORC_RUN_IDLE, NULL},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    if (k) again();
    make("{}");
    lock(T1, "s0", ORC_LOCK_ACQUIRED);
    orc_op *o = op_on(T1, SCN_OP_RUN);
    save(T1, cases[k].to, S.extra, S.calls, S.ncalls);
    if (strcmp(cases[k].to, "needs_review") == 0)
      event_row(T1, 1, ORC_INSERT, "s0", ++S.seq, "status_changed",
                "{\"from\":\"new\",\"to\":\"needs_review\",\"reason\":\"" NOTERM "\"}");
    else
      status_ev(T1, "new", cases[k].to);
    commit(T1, 1);
    lock(T1, "s0", ORC_LOCK_RELEASED);
    o->outcome = cases[k].outcome;
    answer(T1, o, AS_OK);
    if (cases[k].message)
      expect_violation(ORC_CK_OUTCOME, cases[k].message);
    else if (orc_violation(O))
      fail_msg("case %zu: %s", k, orc_violation(O));
  }
  /* In doubt: another task's commit in flight, or power loss since. */
  for (int k = 0; k < 2; k++) {
    again();
    make("{}");
    lock(T1, "s0", ORC_LOCK_ACQUIRED);
    orc_op run = *op_on(T1, SCN_OP_RUN);
    save(T1, "in_progress", S.extra, S.calls, S.ncalls);
    status_ev(T1, "new", "in_progress");
    commit(T1, 1);
    lock(T1, "s0", ORC_LOCK_RELEASED);
    conn(2);
    (void)write_rows(T2, 2, "s0", "in_progress", S.v, "{}", "{\"w\":1}"); /* ignore: left in flight */
    committing(T2, 2);
    if (k) power_loss();
    run.outcome = ORC_RUN_PAUSED; /* not so, but nobody can tell yet */
    answer(T1, &run, AS_OK);
    expect_ok();
  }
  /* An answer for a session the oracle never saw, or for none. */
  again();
  orc_op *u = op(T1, SCN_OP_RUN, "s7");
  begin(T1, u);
  u->outcome = ORC_RUN_ENDED;
  answer(T1, u, AS_NOTFOUND);
  u = op(T1, SCN_OP_RUN, NULL);
  begin(T1, u);
  u->outcome = ORC_RUN_ENDED;
  answer(T1, u, AS_OK);
  expect_ok();
  /* Paused: a log event alone is no second pause. Approved: the run goes
  ** on; a second decision is told the call is already resolved. */
  again();
  orc_op pr = *to_the_gate();
  ev(T1, "agent_finished", "{\"agent\":\"a\",\"ok\":false}");
  commit(T1, 1);
  lock(T1, "s0", ORC_LOCK_RELEASED);
  pr.outcome = ORC_RUN_PAUSED;
  answer(T1, &pr, AS_OK);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  orc_op ap = *op_call(T2, SCN_OP_APPROVE, 1);
  exec_ev(T2, "srv:high", HIGH_PENDING.args);
  resolve_to(T2, 1, "executed", "in_progress");
  lock(T2, "s0", ORC_LOCK_RELEASED);
  ap.outcome = ORC_RUN_IDLE;
  answer(T2, &ap, AS_OK);
  orc_op *again_ap = op_call(T1, SCN_OP_APPROVE, 1);
  answer(T1, again_ap, AS_EXISTS);
  expect_ok();
}

/* The app's legacy tools: an executed page settles a run escalated. */
static void test_legacy_escalates(void **state) {
  (void)state;
  running("{}", "a");
  tcall page = {"notify:page", "executed", "{}", "{}"};
  exec_ev(T1, "notify:page", "{}");
  append(T1, page, "in_progress", S.extra, 1);
  save(T1, "escalated", S.extra, S.calls, S.ncalls);
  status_ev(T1, "in_progress", "escalated");
  commit(T1, 1);
  expect_ok();
  again();
  running("{}", "a");
  append(T1, page, "in_progress", S.extra, 1);
  save(T1, "resolved", S.extra, S.calls, S.ncalls);
  status_ev(T1, "in_progress", "resolved");
  commit(T1, 1);
  expect_violation(ORC_CK_INFER, "run s0 finalized it resolved, but its history of 1 calls implies escalated");
}

/* Runs a fault or a crash cut: the agent runs they began are abandoned,
** and the next run begins again (from the entry, or its checkpoint); what
** one operation starts it finishes before it starts another, per session. */
static void test_interrupted_runs(void **state) {
  (void)state;
  make("{}");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  orc_op first = *op_on(T1, SCN_OP_RUN);
  begin_run(T1, "a");
  lock(T1, "s0", ORC_LOCK_RELEASED);
  answer(T1, &first, AS_IO); /* cut after agent a began */
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  orc_op second = *op_on(T1, SCN_OP_RUN);
  ev(T1, "agent_started", "{\"agent\":\"a\",\"run\":0}");
  commit(T1, 1);
  ev(T1, "confidence_emitted", "{\"agent\":\"a\",\"confidence\":0.7}");
  ev(T1, "route_decided", "{\"agent\":\"a\",\"signal\":\"next\",\"to\":\"b\"}");
  ev(T1, "agent_finished", "{\"agent\":\"a\",\"ok\":true}");
  commit(T1, 1);
  ev(T1, "agent_started", "{\"agent\":\"b\",\"run\":1}");
  commit(T1, 1);
  ev(T1, "route_decided", "{\"agent\":\"b\",\"signal\":\"\",\"to\":\"end\"}");
  ev(T1, "agent_finished", "{\"agent\":\"b\",\"ok\":true}");
  commit(T1, 1);
  save(T1, "needs_review", S.extra, S.calls, S.ncalls);
  event_row(T1, 1, ORC_INSERT, "s0", ++S.seq, "status_changed",
            "{\"from\":\"in_progress\",\"to\":\"needs_review\",\"reason\":\"" NOTERM "\"}");
  commit(T1, 1);
  lock(T1, "s0", ORC_LOCK_RELEASED);
  second.outcome = ORC_RUN_ENDED; /* three agent runs started, two finished: one abandoned */
  answer(T1, &second, AS_OK);
  expect_ok();
  /* One operation starting b while its a is unfinished skipped a's end. */
  again();
  running("{}", "a");
  ev(T1, "agent_started", "{\"agent\":\"b\",\"run\":1}");
  commit(T1, 1);
  expect_violation(ORC_CK_ROUTE, "run s0 started an agent run ({\"agent\":\"b\",\"run\":1}) with "
                                 "the one it started before unfinished");
  /* The watchdog resumes one session, then another: each its own. */
  again();
  make("{}");
  make_other("s1");
  (void)op_on(T2, SCN_OP_WATCHDOG);
  ev(T2, "agent_started", "{\"agent\":\"a\",\"run\":0}");
  commit(T2, 1);
  event_row(T2, 1, ORC_INSERT, "s1", 1, "agent_started", "{\"agent\":\"a\",\"run\":0}");
  commit(T2, 1);
  expect_ok();
  event_row(T2, 1, ORC_INSERT, "s1", 2, "agent_started", "{\"agent\":\"b\",\"run\":1}");
  commit(T2, 1);
  expect_violation(ORC_CK_ROUTE, "watchdog s1 started an agent run");
}

/* A state in doubt: what the runtime reads may be either candidate. */
static void test_exec_in_doubt(void **state) {
  (void)state;
  /* The approval's resolution failed after its commit point: the retry
  ** finds the call pending, and carries it out again. */
  (void)to_the_gate();
  lock(T1, "s0", ORC_LOCK_RELEASED);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  orc_op a1 = *op_call(T2, SCN_OP_APPROVE, 1);
  exec_ev(T2, "srv:high", HIGH_PENDING.args);
  resolve_rows(T2, 1, "executed", "in_progress");
  committing(T2, 1);
  rollback(T2, 1);
  lock(T2, "s0", ORC_LOCK_RELEASED);
  answer(T2, &a1, AS_IO);
  lock(T2, "s0", ORC_LOCK_ACQUIRED);
  (void)op_call(T2, SCN_OP_APPROVE, 1);
  exec_ev(T2, "srv:high", HIGH_PENDING.args);
  expect_ok();
  /* A patch to production in flight: the gate holds srv:high only if it
  ** lands, so an exec meanwhile is not judged; once it landed, it is. So
  ** too after power loss: no telling. */
  for (int k = 0; k < 2; k++) {
    again();
    running("{\"env\":\"dev\"}", "a");
    tcall p = {"runtime:patch_session", "executed", "{\"env\":\"prod\"}", "{}"};
    tcall before[16];
    memcpy(before, S.calls, sizeof before);
    S.calls[S.ncalls++] = p;
    save(T1, "in_progress", "{\"env\":\"prod\"}", before, 0);
    ev(T1, "tool_invoked", "{\"call\":0,\"answer\":1}");
    committing(T1, 1);
    exec_ev(T2, "srv:high", "{\"env\":\"prod\"}");
    expect_ok();
    if (k) {
      power_loss();
      exec_ev(T2, "srv:high", "{\"env\":\"prod\"}");
      expect_ok();
      continue;
    }
    committed(T1, 1);
    exec_ev(T2, "srv:high", "{\"env\":\"prod\"}");
    expect_violation(ORC_CK_GATE, "srv:high was carried out for s0 before any approval");
  }
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
      cmocka_unit_test_setup_teardown(test_tool_names, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_gate_floors, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_injected_sources, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_patch_lock, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_event_payloads, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_commit_shapes, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_resolution_keeps, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_watchdog_resumes, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_exec_evidence, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_answers, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_legacy_escalates, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_interrupted_runs, app_setup, teardown),
      cmocka_unit_test_setup_teardown(test_exec_in_doubt, app_setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

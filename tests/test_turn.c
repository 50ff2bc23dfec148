/*
** test_turn.c -- the turn loop, the gateway, approvals and the watchdog
** (turn.h) and the gate policy (gate.h), on the posix platform with a fake
** monotonic clock, an on-disk database, a test app (YAML, below) and the
** stub LLM answering from a script per test:
**
**   the path through two agents and their events; the gate in production,
**   the pending row with the pause, the approval that resumes, a second
**   decision refused; reject and the watchdog (not due, due, busy); the
**   gateway's refusals one by one; the patch tool's limits and the terminal
**   lock; LLM errors tried again or failing the run; envelope_missing; the
**   caps; a damaged checkpoint; session_start's checks; and every store
**   operation of a gated run with each allocation failing in turn and each
**   SQLite call failing in turn (STYLE.md rule 7), nothing leaked.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <string.h>

#include "agentsim/app.h"
#include "agentsim/checkpoints.h"
#include "agentsim/events.h"
#include "agentsim/finalize.h"
#include "agentsim/gate.h"
#include "agentsim/locks.h"
#include "agentsim/store.h"
#include "agentsim/turn.h"
#include "coretest.h"
#include "faultwrap.h"
#include "llm/stub.h"
#include "sqlwrap.h"

static const char APP_YAML[] =
    "name: t\n"
    "entry: a\n"
    "approval_timeout: 1h\n"
    "max_agent_runs: 3\n"
    "rosters:\n"
    "  envs: [dev, prod]\n"
    "  teams: [ops, db]\n"
    "fields:\n"
    "  env: {type: string, roster: envs, default: dev}\n"
    "  note: {type: string}\n"
    "inject:\n"
    "  env: extra.env\n"
    "  sid: id\n"
    "  st: status\n"
    "  rc: retry_count\n"
    "gate:\n"
    "  environment_field: env\n"
    "  production: [prod]\n"
    "  gated_risk: high\n"
    "  min_confidence: 0.4\n"
    "escalation:\n"
    "  roster: teams\n"
    "  default_team: ops\n"
    "  legacy_tools: [srv:page]\n"
    "servers:\n"
    "  srv:\n"
    "    tools:\n"
    "      low:\n"
    "        description: a harmless tool\n"
    "        risk: low\n"
    "        args:\n"
    "          env: {type: string, required: true, roster: envs}\n"
    "          sid: {type: string}\n"
    "          n: {type: integer, required: true}\n"
    "      high:\n"
    "        description: a risky tool\n"
    "        risk: high\n"
    "        args:\n"
    "          env: {type: string, required: true}\n"
    "          sid: {type: string, required: true}\n"
    "          st: {type: string}\n"
    "          rc: {type: integer}\n"
    "      page:\n"
    "        description: page a team\n"
    "        risk: medium\n"
    "        args:\n"
    "          team: {type: string, required: true, roster: teams}\n"
    "agents:\n"
    "  a:\n"
    "    prompt: prompts/a.md\n"
    "    tools: [srv:low, srv:high, srv:page, patch_session, mark_resolved, mark_escalated,\n"
    "            submit_hypothesis]\n"
    "    max_calls: 6\n"
    "    routes: {next: b, default: end}\n"
    "  b:\n"
    "    prompt: prompts/b.md\n"
    "    tools: [srv:low]\n"
    "    gate: {min_confidence: 0.9}\n"
    "    routes: {loop: a, default: end}\n";

static ct_dir D;
static as_store *ST;
static as_lock_registry *REG;
static as_app *APP;
static as_stub_script *SCR;
static as_llm LLM;
static bool have_llm;
static int exec_calls, exec_fail;

static int exec_fn(void *ctx, const char *sid, const as_app_tool *t, const char *args, char **out) {
  (void)ctx;
  (void)sid;
  (void)t;
  (void)args;
  exec_calls++;
  if (exec_fail) return exec_fail;
  static const char r[] = "{\"done\":1}";
  *out = as_malloc(sizeof r);
  if (!*out) return AS_NOMEM;
  memcpy(*out, r, sizeof r);
  return AS_OK;
}

static as_runtime rt(void) {
  return (as_runtime){.st = ST, .locks = REG, .app = APP, .llm = &LLM, .exec = exec_fn};
}

static void script(const char *text) {
  if (have_llm) as_llm_destroy(&LLM);
  as_stub_script_free(SCR);
  SCR = NULL;
  as_stub_diag d;
  if (as_stub_script_parse(text, strlen(text), "t.stub", &SCR, &d) != AS_OK)
    fail_msg("script %u:%u: %s", d.line, d.column, d.message);
  assert_int_equal(as_stub_llm_new(&LLM, SCR, 1), AS_OK);
  have_llm = true;
}

static int setup(void **state) {
  (void)state;
  fw_reset();
  sw_reset();
  ct_hooks_install(true);
  ct_dir_make(&D);
  ST = ct_open(&D, "t.db", "wal", 0);
  as_app_diag *diag = calloc(1, sizeof *diag);
  int rc = as_app_load_text(APP_YAML, sizeof APP_YAML - 1, "app.yaml", D.path, AS_APP_NO_PROMPTS,
                            &APP, diag);
  if (rc != AS_OK) fail_msg("app: %u:%u: %s", diag->items[0].line, diag->items[0].column,
                            diag->items[0].message);
  free(diag);
  exec_calls = exec_fail = 0;
  if (as_locks_new(&REG, 0) != AS_OK || as_lock_acquire(REG, "warm") != AS_OK) return -1;
  return as_lock_release(REG, "warm") == AS_OK ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  fw_reset();
  sw_reset();
  if (have_llm) as_llm_destroy(&LLM);
  have_llm = false;
  as_stub_script_free(SCR);
  SCR = NULL;
  as_app_free(APP);
  as_locks_free(REG);
  as_store_close(ST);
  ct_dir_remove(&D);
  (void)as_platform_set(&as_platform_posix);
  return 0;
}

static void start(const char *id, const char *fields) {
  as_runtime r = rt();
  assert_int_equal(as_session_start(&r, id, fields), AS_OK);
}

static as_run_result run(const char *id, as_run_outcome want) {
  as_runtime r = rt();
  as_run_result res;
  int rc = as_run(&r, id, false, &res);
  if (rc != AS_OK) fail_msg("run %s: %s", id, as_status_name(rc));
  if (res.outcome != want)
    fail_msg("run %s: %s (%s: %s), not %s", id, as_run_outcome_name(res.outcome), res.error_kind,
             res.error, as_run_outcome_name(want));
  return res;
}

static as_session load(const char *id) {
  as_session s = {0};
  assert_int_equal(as_session_load(ST, id, &s), AS_OK);
  return s;
}

static size_t events(const char *id, const char *kind) {
  as_event_list l = {0};
  assert_int_equal(as_event_read(ST, id, 0, AS_EVENT_READ_MAX, &l), AS_OK);
  size_t n = 0;
  for (size_t i = 0; i < l.n; i++) n += strcmp(l.items[i].kind, kind) == 0;
  as_event_list_clear(&l);
  return n;
}

/* The value of key in a JSON text (a new reference). */
static json_t *jget(const char *text, const char *key) {
  json_t *o = json_loads(text, 0, NULL);
  json_t *v = json_incref(json_object_get(o, key));
  json_decref(o);
  return v;
}

static void assert_jstr(const char *text, const char *key, const char *want) {
  json_t *v = jget(text, key);
  if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0)
    fail_msg("%s in %s is not \"%s\"", key, text, want);
  json_decref(v);
}

static double jnum(const char *text, const char *key) {
  json_t *v = jget(text, key);
  double d = json_is_number(v) ? json_number_value(v) : -1;
  json_decref(v);
  return d;
}

/* --- the path through two agents --------------------------------------------------- */

static void test_two_agents(void **state) {
  (void)state;
  script("agent a\n"
         "    call 1\n"
         "        tool srv:low {\"n\": 1, \"env\": \"prod\", \"junk\": true}\n"
         "        tool runtime:patch_session {\"note\": \"seen\", \"confidence\": 0.8}\n"
         "    call 2\n"
         "        envelope {\"content\": \"over to b\", \"confidence\": 0.8, \"rationale\": \"r\", \"signal\": \"next\"}\n"
         "agent b\n"
         "    call 1\n"
         "        envelope in=fence {\"content\": \"done\", \"confidence\": 0.95, \"rationale\": \"r\"}\n");
  start("s1", NULL);
  as_run_result res = run("s1", AS_RUN_ENDED);
  assert_int_equal(res.status, AS_SESS_NEEDS_REVIEW);
  as_session s = load("s1");
  assert_int_equal(s.ncalls, 2);
  assert_string_equal(s.calls[0].tool, "srv:low");
  assert_jstr(s.calls[0].args, "env", "dev"); /* the session's, not the model's */
  assert_jstr(s.calls[0].args, "sid", "s1");
  json_t *junk = jget(s.calls[0].args, "junk");
  assert_null(junk); /* a key the tool does not take */
  assert_true(jnum(s.calls[0].result, "done") == 1);
  assert_string_equal(s.calls[1].tool, "runtime:patch_session");
  assert_jstr(s.extra, "note", "seen");
  assert_true(jnum(s.extra, "confidence") == 0.8);
  assert_int_equal(events("s1", AS_EVENT_AGENT_STARTED), 2);
  assert_int_equal(events("s1", AS_EVENT_AGENT_FINISHED), 2);
  assert_int_equal(events("s1", AS_EVENT_ROUTE_DECIDED), 2);
  assert_int_equal(events("s1", AS_EVENT_CONFIDENCE_EMITTED), 2);
  assert_int_equal(events("s1", AS_EVENT_TOOL_INVOKED), 2);
  assert_int_equal(events("s1", AS_EVENT_STATUS_CHANGED), 2); /* in_progress, needs_review */
  assert_int_equal(exec_calls, 1);
  assert_int_equal(as_locks_size(REG), 0);
  (void)run("s1", AS_RUN_IDLE); /* terminal: nothing to do */
  as_session_clear(&s);
}


/* --- the gate, the pause and the approval ------------------------------------------ */

static const char GATED[] =
    "agent a\n"
    "    call 1\n"
    "        tool srv:high {\"env\": \"dev\"}\n"
    "    call 2\n"
    "        tool runtime:mark_resolved {\"resolution\": \"fixed\", \"confidence\": 0.9, \"rationale\": \"ok\"}\n"
    "        tool runtime:patch_session {\"note\": \"after\", \"confidence\": 0.1, \"rationale\": \"doubt\"}\n"
    "    call 3\n"
    "        envelope {\"content\": \"fixed\", \"confidence\": 0.5, \"rationale\": \"ok\"}\n";

static int resolve(const char *id, size_t call, as_approval_decision d, as_run_result *res) {
  as_runtime r = rt();
  return as_approval_resolve(&r, id, call, d, false, res);
}

static void test_gate_and_approve(void **state) {
  (void)state;
  script(GATED);
  start("p1", "{\"env\": \"prod\"}");
  as_run_result res = run("p1", AS_RUN_PAUSED);
  assert_int_equal(res.status, AS_SESS_AWAITING_INPUT);
  assert_int_equal(exec_calls, 0); /* not before its approval */
  as_session s = load("p1");
  assert_int_equal(s.status, AS_SESS_AWAITING_INPUT);
  assert_int_equal(s.ncalls, 1);
  assert_int_equal(s.calls[0].state, AS_TOOL_PENDING_APPROVAL);
  assert_jstr(s.calls[0].args, "env", "prod");
  assert_jstr(s.calls[0].args, "sid", "p1");
  assert_jstr(s.calls[0].args, "st", "in_progress");
  assert_true(jnum(s.calls[0].args, "rc") == 0);
  as_session_clear(&s);
  assert_int_equal(events("p1", AS_EVENT_GATE_FIRED), 1);
  assert_int_equal(events("p1", AS_EVENT_APPROVAL_REQUESTED), 1);
  (void)run("p1", AS_RUN_IDLE); /* still waiting */
  assert_int_equal(resolve("p1", 0, AS_APPROVE, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_ENDED);
  assert_int_equal(res.status, AS_SESS_RESOLVED);
  assert_int_equal(exec_calls, 1);
  s = load("p1");
  assert_int_equal(s.calls[0].state, AS_TOOL_EXECUTED);
  assert_true(jnum(s.calls[0].result, "done") == 1);
  /* The terminal lock: the patch after mark_resolved kept its note only. */
  assert_jstr(s.extra, "note", "after");
  assert_true(jnum(s.extra, "confidence") == 0.9);
  assert_jstr(s.extra, "rationale", "ok");
  assert_jstr(s.extra, "resolution", "fixed");
  as_session_clear(&s);
  assert_int_equal(resolve("p1", 0, AS_APPROVE, &res), AS_EXISTS);
  assert_int_equal(resolve("p1", 1, AS_APPROVE, &res), AS_EXISTS); /* settled: too late */
  assert_int_equal(resolve("p1", 99, AS_APPROVE, &res), AS_NOTFOUND);
  assert_int_equal(resolve("nope", 0, AS_APPROVE, &res), AS_NOTFOUND);
  assert_int_equal(exec_calls, 1);
  assert_int_equal(events("p1", AS_EVENT_APPROVAL_RESOLVED), 1);
  assert_int_equal(as_locks_size(REG), 0);
}

static void test_reject_and_watchdog(void **state) {
  (void)state;
  script(GATED);
  start("r1", "{\"env\": \"prod\"}");
  start("w1", "{\"env\": \"prod\"}");
  start("w2", "{\"env\": \"prod\"}");
  (void)run("r1", AS_RUN_PAUSED);
  (void)run("w1", AS_RUN_PAUSED);
  (void)run("w2", AS_RUN_PAUSED);
  as_run_result res;
  assert_int_equal(resolve("r1", 0, AS_REJECT, &res), AS_OK);
  as_session s = load("r1");
  assert_int_equal(s.calls[0].state, AS_TOOL_REJECTED);
  as_session_clear(&s);
  as_runtime r = rt();
  as_watchdog_stats ws;
  assert_int_equal(as_watchdog_tick(&r, &ws), AS_OK);
  assert_int_equal(ws.resolved, 0); /* not due for an hour */
  assert_int_equal(ws.looked, 2);
  APP->approval_timeout_ns = 0;
  assert_int_equal(as_lock_acquire(REG, "w2"), AS_OK); /* someone is at w2 */
  assert_int_equal(as_watchdog_tick(&r, &ws), AS_OK);
  assert_int_equal(ws.resolved, 1);
  assert_int_equal(ws.skipped, 1);
  assert_int_equal(as_lock_release(REG, "w2"), AS_OK);
  s = load("w1");
  assert_int_equal(s.calls[0].state, AS_TOOL_TIMED_OUT);
  assert_int_equal(s.status, AS_SESS_RESOLVED);
  as_session_clear(&s);
  assert_int_equal(as_watchdog_tick(&r, &ws), AS_OK);
  assert_int_equal(ws.resolved, 1);
  assert_int_equal(exec_calls, 0);
  assert_int_equal(as_watchdog_tick(NULL, &ws), AS_INVAL);
  /* A session a finalize settled meanwhile: the decision comes too late. */
  APP->approval_timeout_ns = 3600000000000ull;
  start("f1", "{\"env\": \"prod\"}");
  (void)run("f1", AS_RUN_PAUSED);
  assert_int_equal(as_finalize(ST, REG, "f1", NULL, NULL), AS_OK);
  assert_int_equal(resolve("f1", 0, AS_APPROVE, &res), AS_EXISTS);
  assert_int_equal(exec_calls, 0);
}

/* --- the gateway's refusals ------------------------------------------------------------- */

static void test_gateway_refusals(void **state) {
  (void)state;
  script("agent a\n"
         "    call 1\n"
         "        tool srv:nope {}\n"
         "        tool srv:low {}\n"
         "        tool srv:low {\"n\": \"many\"}\n"
         "        tool srv:page {\"team\": \"nobody\"}\n"
         "        tool runtime:mark_escalated {\"team\": \"nobody\", \"confidence\": 0.5, \"rationale\": \"r\"}\n"
         "        tool runtime:mark_resolved {\"resolution\": \"r\", \"confidence\": 2, \"rationale\": \"r\"}\n"
         "        tool runtime:patch_session {\"status\": \"resolved\"}\n"
         "        tool runtime:patch_session {\"bogus\": 1}\n"
         "        tool runtime:patch_session {\"confidence\": 5}\n"
         "        tool runtime:patch_session {\"resolution\": \"x\"}\n"
         "    call 2\n"
         "        tool srv:low {\"n\": 2}\n"
         "        tool runtime:submit_hypothesis {\"hypothesis\": \"h\", \"confidence\": 0.7, \"rationale\": \"r\"}\n"
         "    call 3\n"
         "        envelope {\"content\": \"c\", \"confidence\": 0.7, \"rationale\": \"r\"}\n");
  start("g1", NULL);
  exec_fail = AS_IO; /* the tool server fails: the model is told */
  as_run_result res = run("g1", AS_RUN_ENDED);
  assert_int_equal(res.status, AS_SESS_NEEDS_REVIEW);
  as_session s = load("g1");
  assert_int_equal(s.ncalls, 1); /* only the hypothesis ran */
  assert_string_equal(s.calls[0].tool, "runtime:submit_hypothesis");
  assert_jstr(s.extra, "hypothesis", "h");
  assert_jstr(s.extra, "env", "dev");
  as_session_clear(&s);
  assert_int_equal(exec_calls, 1);
}

/* A low confidence gates any app tool; an agent's own floor wins. */
static void test_low_confidence_gate(void **state) {
  (void)state;
  script("agent a\n"
         "    call 1\n"
         "        tool runtime:patch_session {\"confidence\": 0.5}\n"
         "    call 2\n"
         "        envelope {\"content\": \"to b\", \"confidence\": 0.5, \"rationale\": \"r\", \"signal\": \"next\"}\n"
         "agent b\n"
         "    call 1\n"
         "        tool srv:low {\"n\": 3}\n");
  start("c1", NULL);
  as_run_result res = run("c1", AS_RUN_PAUSED); /* 0.5 is below b's 0.9 */
  (void)res;
  assert_int_equal(events("c1", AS_EVENT_GATE_FIRED), 1);
  as_runtime r = rt();
  assert_int_equal(as_approval_resolve(&r, "c1", 0, AS_APPROVE, false, &res), AS_INVAL); /* never gated */
  const as_app_tool *low = as_app_tool_find(APP, "srv:low");
  const as_app_tool *mr = as_app_tool_find(APP, "mark_resolved");
  as_session s = load("c1");
  assert_int_equal(as_should_gate(&s, APP, NULL, low, true, 0.5), AS_GATE_PASS); /* policy 0.4 */
  assert_int_equal(as_should_gate(&s, APP, NULL, low, true, 0.3), AS_GATE_LOW_CONFIDENCE);
  assert_int_equal(as_should_gate(&s, APP, NULL, low, false, 0), AS_GATE_PASS);
  assert_int_equal(as_should_gate(&s, APP, NULL, mr, true, 0.0), AS_GATE_PASS); /* built-ins never */
  assert_int_equal(as_should_gate(NULL, APP, NULL, low, true, 0.0), AS_GATE_PASS);
  as_session_clear(&s);
  assert_string_equal(as_gate_decision_name(AS_GATE_LOW_CONFIDENCE), "low_confidence");
  assert_string_equal(as_gate_decision_name(AS__GATE_COUNT), "?");
  assert_string_equal(as_run_outcome_name(AS__RUN_COUNT), "?");
}

/* --- LLM errors, the envelope, the caps ---------------------------------------------------- */

static void test_llm_errors(void **state) {
  (void)state;
  script("agent a\n"
         "    call 1 attempt=1\n"
         "        rate_limited retry_after=2s \"slow down\"\n"
         "    call 1 attempt=2\n"
         "        timeout\n"
         "    call 1\n"
         "        envelope {\"content\": \"c\", \"confidence\": 0.6, \"rationale\": \"r\"}\n");
  start("e1", NULL);
  uint64_t t0 = as_now_mono_ns();
  (void)run("e1", AS_RUN_ENDED);
  assert_true(as_now_mono_ns() - t0 >= 2000000000ull); /* it waited the retry-after */
  script("agent a\n    call 1\n        refusal \"no\"\n");
  start("e2", NULL);
  as_run_result res = run("e2", AS_RUN_FAILED);
  assert_string_equal(res.error_kind, "llm_refusal");
  as_session s = load("e2");
  assert_int_equal(s.status, AS_SESS_ERROR);
  as_session_clear(&s);
  assert_int_equal(events("e2", AS_EVENT_AGENT_FINISHED), 1);
  script("agent a\n    call 1\n        server_error status=503 \"down\"\n");
  start("e3", NULL);
  res = run("e3", AS_RUN_FAILED);
  assert_string_equal(res.error_kind, "llm_server_error");
  script("agent a\n    call 1\n        text \"I think it is fine.\"\n");
  start("e4", NULL);
  res = run("e4", AS_RUN_FAILED);
  assert_string_equal(res.error_kind, "envelope_missing");
}

static void test_caps(void **state) {
  (void)state;
  script("agent a\n    default\n        tool srv:low {\"n\": 1}\n");
  start("k1", NULL);
  as_run_result res = run("k1", AS_RUN_FAILED);
  assert_string_equal(res.error_kind, "turn_cap");
  as_session s = load("k1");
  assert_int_equal(s.ncalls, 6);
  as_session_clear(&s);
  script("agent a\n    default\n        envelope {\"content\": \"c\", \"confidence\": 0.6, \"rationale\": \"r\", \"signal\": \"next\"}\n"
         "agent b\n    default\n        envelope {\"content\": \"c\", \"confidence\": 0.95, \"rationale\": \"r\", \"signal\": \"loop\"}\n");
  start("k2", NULL);
  res = run("k2", AS_RUN_FAILED);
  assert_string_equal(res.error_kind, "agent_run_cap");
}

/* --- resuming, and what cannot be resumed ------------------------------------------------- */

static void test_resume_paths(void **state) {
  (void)state;
  script(GATED);
  /* in_progress without a checkpoint: the run begins again. */
  start("m1", NULL);
  as_session s = load("m1");
  s.status = AS_SESS_IN_PROGRESS;
  assert_int_equal(as_session_save(ST, &s), AS_OK);
  as_session_clear(&s);
  (void)run("m1", AS_RUN_ENDED);
  /* A damaged checkpoint: the approval resolves, the resume cannot go on. */
  start("m2", "{\"env\": \"prod\"}");
  (void)run("m2", AS_RUN_PAUSED);
  assert_int_equal(as_checkpoint_put(ST, "m2", "{\"v\": 9}", 8), AS_OK);
  as_run_result res;
  assert_int_equal(resolve("m2", 0, AS_APPROVE, &res), AS_IO);
  start("m3", "{\"env\": \"prod\"}");
  (void)run("m3", AS_RUN_PAUSED);
  assert_int_equal(as_checkpoint_put(ST, "m3", "not json", 8), AS_OK);
  assert_int_equal(resolve("m3", 0, AS_REJECT, &res), AS_IO);
  /* Busy: an API caller's try, and a missing session. */
  start("m4", NULL);
  assert_int_equal(as_lock_acquire(REG, "m4"), AS_OK);
  as_runtime r = rt();
  assert_int_equal(as_run(&r, "m4", true, &res), AS_BUSY);
  assert_int_equal(as_approval_resolve(&r, "m4", 0, AS_APPROVE, true, &res), AS_BUSY);
  assert_int_equal(as_lock_release(REG, "m4"), AS_OK);
  assert_int_equal(as_run(&r, "none", false, &res), AS_NOTFOUND);
  assert_int_equal(as_run(NULL, "m4", false, &res), AS_INVAL);
  assert_int_equal(as_approval_resolve(&r, "m4", 0, (as_approval_decision)7, false, &res), AS_INVAL);
}

static void test_session_start(void **state) {
  (void)state;
  as_runtime r = rt();
  assert_int_equal(as_session_start(&r, "x1", NULL), AS_OK);
  as_session s = load("x1");
  assert_jstr(s.extra, "env", "dev"); /* the field's default */
  as_session_clear(&s);
  assert_int_equal(as_session_start(&r, "x1", NULL), AS_EXISTS);
  assert_int_equal(as_session_start(&r, "x2", "{oops"), AS_PARSE);
  assert_int_equal(as_session_start(&r, "x3", "[1]"), AS_INVAL);
  assert_int_equal(as_session_start(&r, "x4", "{\"color\": \"red\"}"), AS_INVAL);
  assert_int_equal(as_session_start(&r, "x5", "{\"note\": 3}"), AS_INVAL);
  assert_int_equal(as_session_start(&r, "x6", "{\"env\": \"moon\"}"), AS_INVAL);
  assert_int_equal(as_session_start(NULL, "x7", NULL), AS_INVAL);
  assert_int_equal(as_session_start(&r, "x8", "{\"note\": \"n\", \"env\": \"prod\"}"), AS_OK);
}

/* --- every failure in turn ------------------------------------------------------------- */

/* One gated run: start, run to the gate, approve, to the end. Returns the
** first status that is not AS_OK (the run's own outcome aside). */
static int gated_flow(const char *id) {
  as_runtime r = rt();
  as_run_result res;
  int rc = as_session_start(&r, id, "{\"env\": \"prod\"}");
  if (rc == AS_EXISTS) rc = AS_OK;
  if (rc == AS_OK) rc = as_run(&r, id, false, &res);
  if (rc == AS_OK) rc = as_approval_resolve(&r, id, 0, AS_APPROVE, false, &res);
  return rc;
}

static bool allowed(int rc) {
  return rc == AS_OK || rc == AS_NOMEM || rc == AS_IO || rc == AS_INTERNAL || rc == AS_BUSY ||
         rc == AS_NOTFOUND || rc == AS_EXISTS || rc == AS_INVAL || rc == AS_PARSE ||
         rc == AS_STALE || rc == AS_FULL || rc == AS_TOOBIG;
}

static void test_alloc_failures(void **state) {
  (void)state;
  script(GATED);
  /* Warm what stays allocated once made (the SQLite page cache grows). */
  assert_int_equal(gated_flow("warm"), AS_OK);
  unsigned long n;
  for (n = 1;; n++) {
    char id[32];
    snprintf(id, sizeof id, "a%lu", n);
    size_t live = fw_live_blocks();
    fw_countdown(FW_ALLOC, n, ENOMEM, 0);
    int rc = gated_flow(id);
    bool fired = fw_fired();
    fw_disarm();
    if (!allowed(rc)) fail_msg("allocation %lu: %s", n, as_status_name(rc));
    if (!fired) {
      assert_int_equal(rc, AS_OK);
      break;
    }
    assert_true(fw_live_blocks() <= live + 64); /* SQLite may keep a page or two */
    assert_int_equal(as_locks_size(REG), 0);
  }
  print_message("allocation countdown: %lu allocations in a gated run\n", n);
}

static void test_sql_failures(void **state) {
  (void)state;
  script(GATED);
  unsigned long n;
  for (n = 1;; n++) {
    char id[32];
    snprintf(id, sizeof id, "q%lu", n);
    sw_countdown(SW_COUNTDOWN, n, SQLITE_IOERR, 0);
    int rc = gated_flow(id);
    bool fired = sw_fired();
    sw_disarm();
    if (!allowed(rc)) fail_msg("SQLite call %lu: %s", n, as_status_name(rc));
    if (!fired) {
      assert_int_equal(rc, AS_OK);
      break;
    }
    assert_int_equal(as_locks_size(REG), 0);
    /* What a failure left, the next run settles: never stuck in progress. */
    as_runtime r = rt();
    as_run_result res;
    int again = as_run(&r, id, false, &res);
    if (again == AS_OK && res.outcome == AS_RUN_PAUSED)
      again = as_approval_resolve(&r, id, 0, AS_APPROVE, false, &res);
    if (again != AS_OK && again != AS_NOTFOUND && again != AS_IO)
      fail_msg("SQLite call %lu: the run after it: %s", n, as_status_name(again));
  }
  print_message("SQLite countdown: %lu calls in a gated run\n", n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_two_agents, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gate_and_approve, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reject_and_watchdog, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gateway_refusals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_low_confidence_gate, setup, teardown),
      cmocka_unit_test_setup_teardown(test_llm_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_caps, setup, teardown),
      cmocka_unit_test_setup_teardown(test_resume_paths, setup, teardown),
      cmocka_unit_test_setup_teardown(test_session_start, setup, teardown),
      cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sql_failures, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

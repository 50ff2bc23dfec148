/*
** test_oracle_budget.c -- the oracle's budget and ledger checks (budget.c),
** fed planted event sequences: each check fires on the history that breaks
** it and stays quiet on the legal one.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "faultwrap.h"
#include "oracle_feed.h"
#include "oracle/orc_int.h"

static const char PRICES[] =
    "{\"version\": \"v1\", \"tool_call\": \"0.0001\", \"models\": ["
    "{\"model\": \"stub-1\", \"input\": \"3.00\", \"cache_read\": \"0.30\", \"cache_write\": \"3.75\","
    " \"output\": \"15.00\"},"
    "{\"model\": \"gpt-*\", \"input\": \"1\", \"cache_read\": \"0\", \"cache_write\": \"0\","
    " \"output\": \"2\"}]}";

#define DAY "2026-01-01"

static void budget_on(int64_t limit) {
  char err[256];
  assert_int_equal(orc_set_budget_text(O, limit, 100000, PRICES, strlen(PRICES), "p.json", err,
                                       sizeof err),
                   AS_OK);
}

static orc_row resv_row(orc_row_op rop, const char *opid, const char *sid, int64_t est,
                        const char *st0, const char *st1, const char *out1, int64_t settled) {
  orc_row r = {.table = ORC_T_RESERVATIONS, .op = rop};
  orc_val *sides[2] = {r.old, r.nw};
  for (int k = 0; k < 2; k++) {
    orc_val *v = sides[k];
    v[ORC_BC_OP] = text(opid);
    v[ORC_BC_SESSION] = text(sid);
    v[ORC_BC_DAY] = text(DAY);
    v[ORC_BC_ESTIMATE] = num(est);
    v[ORC_BC_STATE] = text(k ? st1 : st0);
    v[ORC_BC_OUTCOME] = text(k ? out1 : "");
    v[ORC_BC_SETTLED] = num(k ? settled : 0);
    v[ORC_BC_OPENED] = num(NOW);
    v[ORC_BC_CLOSED] = num(0);
  }
  return r;
}

static orc_row cost_row(const char *sid, const char *opid, int64_t seq, const char *leaf,
                        const char *name, int64_t in, int64_t cr, int64_t cw, int64_t out,
                        int64_t est, const char *pv, int64_t cost) {
  orc_row r = {.table = ORC_T_COSTS, .op = ORC_INSERT};
  orc_val *v = r.nw;
  v[ORC_KC_DAY] = text(DAY);
  v[ORC_KC_SEQ] = num(seq);
  v[ORC_KC_OP] = text(opid);
  v[ORC_KC_LEAF] = text(leaf);
  v[ORC_KC_SESSION] = text(sid);
  v[ORC_KC_AGENT] = text("a");
  v[ORC_KC_NAME] = text(name);
  v[ORC_KC_INPUT] = num(in);
  v[ORC_KC_CACHE_READ] = num(cr);
  v[ORC_KC_CACHE_WRITE] = num(cw);
  v[ORC_KC_OUTPUT] = num(out);
  v[ORC_KC_ESTIMATED] = num(est);
  v[ORC_KC_PRICE_VERSION] = text(pv);
  v[ORC_KC_COST] = num(cost);
  v[ORC_KC_DURATION] = num(0);
  v[ORC_KC_AT] = num(NOW);
  return r;
}

/* The operations begun, one record per task (op() hands out a single one). */
static orc_op OPS[8];

static orc_op *begin_op(uint32_t t, unsigned kind, const char *sid) {
  OPS[t] = *op(t, kind, sid);
  begin(t, &OPS[t]);
  return &OPS[t];
}

/* A trigger of sid by task t reserving est (the operation left open). */
static orc_op *trigger_reserves(uint32_t t, const char *sid, const char *opid, int64_t est) {
  OPS[t] = *op(t, SCN_OP_TRIGGER, sid);
  OPS[t].estimate = est == 100000 ? 0 : est;
  begin(t, &OPS[t]);
  orc_row r = resv_row(ORC_INSERT, opid, sid, est, "open", "open", "", 0);
  row(t, 1, &r);
  commit(t, 1);
  return &OPS[t];
}

static void answered_m(uint32_t t, const char *sid, const char *agent, const char *model,
                       int64_t prompt, int64_t cr, int64_t cw, int64_t completion, int known) {
  orc_llm_answer a = {.session = sid, .agent = agent, .model = model, .call = 1, .attempt = 1,
                      .rc = AS_OK, .usage_known = known, .prompt = prompt, .cache_read = cr,
                      .cache_write = cw, .completion = completion};
  feed(ORC_EV_LLM_ANSWER, t, 0, 0, NULL, &a);
}

static void answered(uint32_t t, const char *sid, const char *agent, int64_t prompt, int64_t cr,
                     int64_t cw, int64_t completion, int known) {
  answered_m(t, sid, agent, "stub-1", prompt, cr, cw, completion, known);
}

static void record(uint32_t t, orc_row r) {
  row(t, 1, &r);
  commit(t, 1);
}

static void test_prices(void **state) {
  (void)state;
  char err[256];
  static const struct {
    const char *text, *needle;
  } bad[] = {
      {"{", "p.json:1:"},
      {"{\"tool_call\": \"1\", \"models\": []}", "version"},
      {"{\"version\": \"v\", \"tool_call\": 1, \"models\": []}", "tool_call"},
      {"{\"version\": \"v\", \"tool_call\": \"1\"}", "models"},
      {"{\"version\": \"v\", \"tool_call\": \"1\", \"models\": [{\"input\": \"1\"}]}", "models[0].model"},
      {"{\"version\": \"v\", \"tool_call\": \"1\", \"models\": [{\"model\": \"m\", \"input\": \"x\"}]}",
       "models[0].input"},
      {"{\"version\": \"v\", \"tool_call\": \"1\", \"models\": [{\"model\": \"m\", \"input\": \"1\","
       " \"cache_read\": \"1\", \"cache_write\": \"1\", \"output\": \"1001\"}]}",
       "models[0].output"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    reset();
    err[0] = '\0';
    assert_int_equal(orc_set_budget_text(O, 1, 1, bad[i].text, strlen(bad[i].text), "p.json", err,
                                         sizeof err),
                     AS_PARSE);
    if (!strstr(err, bad[i].needle)) fail_msg("'%s' lacks '%s'", err, bad[i].needle);
  }
  assert_int_equal(orc_set_budget(O, 1, 1, "/nonexistent/p.json", err, sizeof err), AS_IO);
  assert_int_equal(orc_set_budget(O, 1, 0, AS_SOURCE_DIR "/fixtures/prices/default.json", err,
                                  sizeof err),
                   AS_OK);
}

/* A whole legal cycle: reserve, an LLM call and a tool call recorded,
** settled; the answer, a scrape, the spans; the read-back. */
static void test_cycle(void **state) {
  (void)state;
  budget_on(1000000);
  create("s0");
  conn(1);
  orc_op *tr = trigger_reserves(T1, "s0", "s0:cycle-1", 100000);
  answered(T1, "s0", "a", 1200, 800, 100, 40, 1);
  /* 300*3 + 800*0.3 + 100*3.75 + 40*15 = 900+240+375+600 micro-dollars */
  record(T1, cost_row("s0", "s0:cycle-1", 1, "llm_call", "stub-1", 300, 800, 100, 40, 0, "v1", 2115));
  orc_exec ex = {.session = "s0", .tool = "repo:get", .args = "{}", .fail = AS_OK};
  orc__budget_on_exec(O, &ex, &O->tasks[T1]); /* (the app's part needs an app) */
  record(T1, cost_row("s0", "s0:cycle-1", 2, "tool_call", "repo:get", 0, 0, 0, 0, 0, "v1", 100));
  orc_row r = resv_row(ORC_UPDATE, "s0:cycle-1", "s0", 100000, "open", "settled", "completed", 2215);
  record(T1, r);
  orc_span_attr at[] = {{"gen_ai.request.model", "stub-1", 0}, {"gen_ai.usage.input_tokens", NULL, 1200},
                        {"gen_ai.usage.cache_read.input_tokens", NULL, 800},
                        {"gen_ai.usage.cache_creation.input_tokens", NULL, 100},
                        {"gen_ai.usage.output_tokens", NULL, 40},
                        {"agentsim.price_version", "v1", 0}, {"agentsim.cost_micros", NULL, 2115}};
  orc_span sp = {.name = "chat stub-1", .attrs = at, .nattrs = 7};
  feed(ORC_EV_SPAN, T1, 0, 0, NULL, &sp);
  orc_span parent = {.name = "invoke_agent a", .attrs = at, .nattrs = 1};
  feed(ORC_EV_SPAN, T1, 0, 0, NULL, &parent);
  tr->answer = ORC_TA_ACCEPTED;
  tr->op_id = "s0:cycle-1";
  tr->remaining = 1000000;
  tr->need = 100000;
  tr->outcome = ORC_RUN_NONE; /* the session model is not this test's */
  answer(T1, tr, AS_OK);
  expect_ok();
  orc_op *sc = op(T2, SCN_OP_SCRAPE, NULL);
  begin(T2, sc);
  sc->date = DAY;
  sc->limit = 1000000;
  sc->spent = 2215;
  sc->remaining = 1000000 - 2215;
  sc->cycles = (1000000 - 2215) / 100000;
  sc->spend_events = 2;
  answer(T2, sc, AS_OK);
  expect_ok();
  orc_op *fl = op(T2, SCN_OP_FLUSH, NULL);
  begin(T2, fl);
  answer(T2, fl, AS_OK);
  expect_ok();
  /* The settle retried: unchanged. */
  orc_op *st = op(T3, SCN_OP_SETTLE, "s0");
  begin(T3, st);
  conn(3);
  commit(T3, 3); /* a write transaction that found nothing to do */
  st->changed = 0;
  answer(T3, st, AS_OK);
  expect_ok();
  make_db();
  db_exec("INSERT INTO cost_records (day, seq, op_id, leaf, session_id, agent, name, cost_micros)"
          " VALUES ('" DAY "', 1, 's0:cycle-1', 'llm_call', 's0', 'a', 'stub-1', 2115);"
          "INSERT INTO cost_records (day, seq, op_id, leaf, session_id, agent, name, cost_micros)"
          " VALUES ('" DAY "', 2, 's0:cycle-1', 'tool_call', 's0', 'a', 'repo:get', 100);"
          "INSERT INTO budget_reservations (op_id, state, outcome, settled_micros)"
          " VALUES ('s0:cycle-1', 'settled', 'completed', 2215);");
  char msg[512];
  assert_int_equal(orc__budget_quiescence(O, DB, msg, sizeof msg), 0);
  (void)sqlite3_close(DB);
  DB = NULL;
}

static void test_limit(void **state) {
  (void)state;
  budget_on(150000);
  create("s0");
  create("s1");
  conn(1);
  (void)trigger_reserves(T1, "s0", "s0:cycle-1", 100000);
  expect_ok();
  (void)trigger_reserves(T2, "s1", "s1:cycle-1", 100000);
  expect_violation(ORC_CK_BUDGET_LIMIT, "over the daily limit of 150000");
  reset();
  budget_on(1000000);
  create("s0");
  conn(1);
  (void)trigger_reserves(T1, "s0", "s0:cycle-7", 100000);
  expect_violation(ORC_CK_BUDGET_LIMIT, "the model says s0:cycle-1");
  reset();
  budget_on(1000000);
  create("s0");
  conn(1);
  (void)trigger_reserves(T1, "s0", "s0:cycle-1", 100000);
  (void)trigger_reserves(T2, "s0", "s0:cycle-2", 100000);
  expect_violation(ORC_CK_BUDGET_LIMIT, "is open");
  reset();
  budget_on(1000000);
  create("s0");
  conn(1);
  orc_op *o = op(T1, SCN_OP_RUN, "s0");
  begin(T1, o);
  orc_row r = resv_row(ORC_INSERT, "s0:cycle-1", "s0", 100000, "open", "open", "", 0);
  record(T1, r);
  expect_violation(ORC_CK_OP_SCOPE, "only a trigger reserves");
}

static void test_records(void **state) {
  (void)state;
  budget_on(1000000);
  create("s0");
  conn(1);
  orc_op *o = op(T1, SCN_OP_RUN, "s0");
  begin(T1, o);
  record(T1, cost_row("s0", "", 1, "llm_call", "stub-1", 1, 0, 0, 0, 0, "v1", 1));
  expect_violation(ORC_CK_LEDGER_LEAF, "no LLM answer waiting");
  /* The mutant's edge: cache reads billed as input too. */
  reset();
  budget_on(1000000);
  create("s0");
  conn(1);
  begin(T1, op(T1, SCN_OP_RUN, "s0"));
  answered(T1, "s0", "a", 1200, 800, 100, 40, 1);
  record(T1, cost_row("s0", "", 1, "llm_call", "stub-1", 1100, 800, 100, 40, 0, "v1", 2));
  expect_violation(ORC_CK_USAGE_EXACT, "which is input 300");
  reset();
  budget_on(1000000);
  create("s0");
  conn(1);
  begin(T1, op(T1, SCN_OP_RUN, "s0"));
  answered(T1, "s0", "a", 0, 0, 0, 0, 0);
  record(T1, cost_row("s0", "", 1, "llm_call", "stub-1", 5, 0, 0, 5, 0, "v1", 1));
  expect_violation(ORC_CK_USAGE_EXACT, "reported no usage");
  reset();
  budget_on(1000000);
  create("s0");
  conn(1);
  begin(T1, op(T1, SCN_OP_RUN, "s0"));
  answered(T1, "s0", "a", 1000000, 0, 0, 0, 1);
  record(T1, cost_row("s0", "", 1, "llm_call", "stub-1", 1000000, 0, 0, 0, 0, "v1", 2));
  expect_violation(ORC_CK_COST_EXACT, "makes it 3000000");
  reset();
  budget_on(1000000);
  create("s0");
  conn(1);
  begin(T1, op(T1, SCN_OP_RUN, "s0"));
  answered(T1, "s0", "a", 10, 0, 0, 0, 1);
  record(T1, cost_row("s0", "", 1, "llm_call", "stub-1", 10, 0, 0, 0, 0, "v0", 1));
  expect_violation(ORC_CK_COST_EXACT, "priced by the table's version");
  reset();
  budget_on(1000000);
  create("s0");
  conn(1);
  begin(T1, op(T1, SCN_OP_RUN, "s0"));
  answered(T1, "s0", "a", 10, 0, 0, 0, 1);
  record(T1, cost_row("s0", "s0:cycle-1", 1, "llm_call", "stub-1", 10, 0, 0, 0, 0, "v1", 30));
  expect_violation(ORC_CK_BUDGET_DAY, "no reservation open");
  reset();
  budget_on(1000000);
  create("s0");
  conn(1);
  begin(T1, op(T1, SCN_OP_RUN, "s0"));
  answered(T1, "s0", "a", 10, 0, 0, 0, 1);
  record(T1, cost_row("s0", "", 2, "llm_call", "stub-1", 10, 0, 0, 0, 0, "v1", 30));
  expect_violation(ORC_CK_SPEND_DURABLE, "numbered 1, 2");
  reset();
  budget_on(1000000);
  create("s0");
  conn(1);
  begin(T1, op(T1, SCN_OP_RUN, "s0"));
  answered(T1, "s0", "a", 10, 0, 0, 0, 1);
  answered(T1, "s0", "a", 10, 0, 0, 0, 1);
  record(T1, cost_row("s0", "", 1, "llm_call", "stub-1", 10, 0, 0, 0, 0, "v1", 30));
  record(T1, cost_row("s0", "", 1, "llm_call", "stub-1", 10, 0, 0, 0, 0, "v1", 30));
  expect_violation(ORC_CK_SPEND_DURABLE, "written over");
  reset();
  budget_on(1000000);
  create("s0");
  conn(1);
  begin(T1, op(T1, SCN_OP_RUN, "s0"));
  orc_row d = cost_row("s0", "", 1, "llm_call", "stub-1", 10, 0, 0, 0, 0, "v1", 1);
  d.op = ORC_DELETE;
  memcpy(d.old, d.nw, sizeof d.old);
  record(T1, d);
  expect_violation(ORC_CK_SPEND_DURABLE, "deleted");
  reset();
  budget_on(1000000);
  create("s0");
  conn(1);
  orc_op *nt = op(T1, SCN_OP_NOTE, "s0");
  begin(T1, nt);
  record(T1, cost_row("s0", "", 1, "llm_call", "stub-1", 10, 0, 0, 0, 0, "v1", 30));
  expect_violation(ORC_CK_OP_SCOPE, "changed the ledger");
  /* An answer left without its record. */
  reset();
  budget_on(1000000);
  create("s0");
  conn(1);
  orc_op *run = op(T1, SCN_OP_WATCHDOG, NULL);
  begin(T1, run);
  answered(T1, "s0", "a", 10, 0, 0, 0, 1);
  run->outcome = ORC_RUN_PAUSED;
  answer(T1, run, AS_OK);
  expect_violation(ORC_CK_LEDGER_LEAF, "no record of");
}

static void test_closing(void **state) {
  (void)state;
  budget_on(1000000);
  create("s0");
  conn(1);
  orc_op *tr = trigger_reserves(T1, "s0", "s0:cycle-1", 100000);
  tr->answer = ORC_TA_ACCEPTED;
  tr->op_id = "s0:cycle-1";
  tr->remaining = 1000000;
  tr->need = 100000;
  tr->outcome = ORC_RUN_IDLE;
  answer(T1, tr, AS_OK);
  expect_violation(ORC_CK_BUDGET_CLOSE, "leaving its cycle s0:cycle-1 open");
  reset();
  budget_on(1000000);
  create("s0");
  conn(1);
  (void)trigger_reserves(T1, "s0", "s0:cycle-1", 100000);
  orc_row r = resv_row(ORC_UPDATE, "s0:cycle-1", "s0", 100000, "open", "settled", "completed", 5);
  record(T1, r);
  expect_violation(ORC_CK_LEDGER_MATCH, "ledger cost is 0");
  reset();
  budget_on(1000000);
  create("s0");
  conn(1);
  (void)trigger_reserves(T1, "s0", "s0:cycle-1", 100000);
  orc_row a = resv_row(ORC_UPDATE, "s0:cycle-1", "s0", 100000, "open", "settled", "completed", 0);
  record(T1, a);
  orc_op *st = op(T2, SCN_OP_SETTLE, "s0");
  begin(T2, st);
  orc_row b = resv_row(ORC_UPDATE, "s0:cycle-1", "s0", 100000, "settled", "settled", "completed", 0);
  record(T2, b);
  expect_violation(ORC_CK_SETTLE_ONCE, "never changes");
  reset();
  budget_on(1000000);
  create("s0");
  conn(1);
  (void)trigger_reserves(T1, "s0", "s0:cycle-1", 100000);
  orc_op *rec = op(T2, SCN_OP_RECOVER, NULL);
  begin(T2, rec);
  orc_row c = resv_row(ORC_UPDATE, "s0:cycle-1", "s0", 100000, "open", "released", "recovered", 0);
  record(T2, c);
  rec->removed = 2;
  answer(T2, rec, AS_OK);
  expect_violation(ORC_CK_BUDGET_CLOSE, "answered 2 released");
  /* Open at quiescence, the session not waiting. */
  reset();
  budget_on(1000000);
  create("s0");
  conn(1);
  (void)trigger_reserves(T1, "s0", "s0:cycle-1", 100000);
  make_db();
  db_exec("INSERT INTO budget_reservations (op_id, state, outcome, settled_micros)"
          " VALUES ('s0:cycle-1', 'open', '', 0);");
  char msg[512];
  assert_int_equal(orc__budget_quiescence(O, DB, msg, sizeof msg), SIM_INVARIANT);
  assert_non_null(strstr(msg, "budget-quiesce"));
  (void)sqlite3_close(DB);
  DB = NULL;
}

static void test_answers_and_spans(void **state) {
  (void)state;
  budget_on(50000);
  create("s0");
  conn(1);
  orc_op *tr = op(T1, SCN_OP_TRIGGER, "s0");
  begin(T1, tr);
  event_row(T1, 1, ORC_INSERT, "s0", 1, "budget_rejected",
            "{\"reason\":\"budget_exhausted\",\"remaining_micros\":50000,\"need_micros\":100000}");
  commit(T1, 1);
  tr->answer = ORC_TA_BUDGET;
  tr->reason = "budget_exhausted";
  tr->message = "Daily budget exhausted: $0.05 remaining, need $0.10";
  tr->remaining = 50000;
  tr->need = 100000;
  answer(T1, tr, AS_OK);
  expect_ok();
  orc_op *t2 = op(T2, SCN_OP_TRIGGER, "s0");
  begin(T2, t2);
  t2->answer = ORC_TA_BUDGET;
  t2->reason = "budget_exhausted";
  answer(T2, t2, AS_OK);
  expect_violation(ORC_CK_TRIGGER_ANSWER, "without its budget_rejected event");
  reset();
  budget_on(50000);
  create("s0");
  orc_op *t3 = op(T2, SCN_OP_TRIGGER, "s0");
  begin(T2, t3);
  t3->answer = ORC_TA_ACTIVE;
  answer(T2, t3, AS_OK);
  expect_violation(ORC_CK_TRIGGER_ANSWER, "no cycle of it was open");
  reset();
  budget_on(1000000);
  orc_span_attr at[] = {{"gen_ai.request.model", "stub-1", 0}, {"gen_ai.usage.input_tokens", NULL, 10},
                        {"agentsim.price_version", "v1", 0}, {"agentsim.cost_micros", NULL, 7}};
  orc_span sp = {.name = "chat stub-1", .attrs = at, .nattrs = 4};
  feed(ORC_EV_SPAN, T1, 0, 0, NULL, &sp);
  expect_violation(ORC_CK_SPAN_USAGE, "priced, it is 30");
  reset();
  budget_on(1000000);
  orc_span parent = {.name = "invoke_agent a", .attrs = at + 1, .nattrs = 1};
  feed(ORC_EV_SPAN, T1, 0, 0, NULL, &parent);
  expect_violation(ORC_CK_SPAN_USAGE, "carries usage");
  reset();
  budget_on(1000000);
  at[3].i = 30;
  feed(ORC_EV_SPAN, T1, 0, 0, NULL, &sp);
  orc_op *fl = op(T2, SCN_OP_FLUSH, NULL);
  begin(T2, fl);
  answer(T2, fl, AS_OK);
  expect_violation(ORC_CK_LEDGER_MATCH, "the spans' usage");
  reset();
  budget_on(1000000);
  orc_op *sc = op(T2, SCN_OP_SCRAPE, NULL);
  begin(T2, sc);
  sc->date = DAY;
  sc->limit = 1000000;
  sc->spent = 3;
  answer(T2, sc, AS_OK);
  expect_violation(ORC_CK_LEDGER_MATCH, "a scrape read");
}

/* --- more histories: every corner the model decides on ------------------------------ */

/* A fresh oracle with a budget of limit and connections 1 and 2; no session
** the sessions' model knows (so a run's answer is the budget's business only). */
static void fresh(int64_t limit) {
  reset();
  budget_on(limit);
  conn(1);
  conn(2);
}

/* An LLM record of s0's agent a billed to no reservation, buckets exclusive. */
static orc_row llm_rec(int64_t seq, int64_t in, int64_t cr, int64_t cw, int64_t out, int64_t cost) {
  return cost_row("s0", "", seq, "llm_call", "stub-1", in, cr, cw, out, 0, "v1", cost);
}

static orc_row close_row(const char *opid, const char *sid, const char *st, const char *outcome,
                         int64_t settled) {
  return resv_row(ORC_UPDATE, opid, sid, 100000, "open", st, outcome, settled);
}

static void run_answers(uint32_t t, orc_op *o, int outcome) {
  o->outcome = outcome;
  answer(t, o, AS_OK);
}

static void accept_answer(uint32_t t, orc_op *tr, const char *opid, int64_t remaining, int64_t need,
                          int outcome) {
  tr->answer = ORC_TA_ACCEPTED;
  tr->op_id = opid;
  tr->remaining = remaining;
  tr->need = need;
  run_answers(t, tr, outcome);
}

static void exec_tool(uint32_t t, const char *sid, const char *tool, int fail) {
  orc_exec ex = {.session = sid, .tool = tool, .args = "{}", .fail = fail};
  orc__budget_on_exec(O, &ex, &O->tasks[t]); /* (the sink's path wants an app: agents.c's) */
}

static void test_price_tables(void **state) {
  (void)state;
  char err[256], name[200], ver[80], t1[512], t2[512], t3[512], many[4096];
  memset(name, 'm', 192);
  name[192] = '\0';
  memset(ver, 'v', 64);
  ver[64] = '\0';
  (void)snprintf(t1, sizeof t1, "{\"version\": \"v\", \"tool_call\": \"1\", \"models\": [{\"model\": "
                 "\"%s\"}]}", name);
  (void)snprintf(t2, sizeof t2, "{\"version\": \"%s\", \"tool_call\": \"1\", \"models\": []}", ver);
  size_t n = (size_t)snprintf(many, sizeof many, "{\"version\": \"v\", \"tool_call\": \"1\", \"models\": [");
  for (int i = 0; i < 65; i++) n += (size_t)snprintf(many + n, sizeof many - n, "%s{}", i ? "," : "");
  (void)snprintf(many + n, sizeof many - n, "]}");
  const struct {
    const char *text, *needle;
  } bad[] = {
      {"{\"version\": \"v\", \"tool_call\": \"1\", \"models\": {}}", "models: expected an array"},
      {"{\"version\": \"v\", \"tool_call\": \"1\", \"models\": [\"m\"]}",
       "p.json: models[0].model: expected a model name of 1 to 191 characters"},
      {"{\"version\": \"v\", \"tool_call\": \"1\", \"models\": [{\"model\": \"\"}]}", "models[0].model:"},
      {t1, "models[0].model:"},
      {"{\"version\": \"\", \"tool_call\": \"1\", \"models\": []}", "p.json: version: expected"},
      {t2, "p.json: version: expected"},
      {many, "models: expected an array of at most 64 models"},
      {"{\"version\": \"v\", \"tool_call\": \"1\", \"models\": [{\"model\": \"a\", \"input\": \"1\","
       " \"cache_read\": \"1\", \"cache_write\": \"1\", \"output\": \"1\"}, {\"model\": \"b\"}]}",
       "models[1].input:"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    reset();
    err[0] = '\0';
    assert_int_equal(orc_set_budget_text(O, 1, 1, bad[i].text, strlen(bad[i].text), "p.json", err,
                                         sizeof err),
                     AS_PARSE);
    if (!strstr(err, bad[i].needle)) fail_msg("'%s' lacks '%s'", err, bad[i].needle);
  }
  /* The longest name and version it takes. */
  reset();
  name[191] = '\0';
  ver[63] = '\0';
  (void)snprintf(t3, sizeof t3, "{\"version\": \"%s\", \"tool_call\": \"1\", \"models\": [{\"model\": "
                 "\"%s\", \"input\": \"1\", \"cache_read\": \"1\", \"cache_write\": \"1\", \"output\": "
                 "\"1\"}]}", ver, name);
  assert_int_equal(orc_set_budget_text(O, 1, 1, t3, strlen(t3), "p.json", err, sizeof err), AS_OK);
  /* A directory opens and does not read; a table past 256 KiB is refused. */
  reset();
  assert_int_equal(orc_set_budget(O, 1, 1, AS_SOURCE_DIR "/fixtures/prices", err, sizeof err), AS_IO);
  assert_non_null(strstr(err, "fixtures/prices: "));
  char path[] = "/tmp/test_oracle_budget-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "wb");
  assert_non_null(f);
  for (size_t i = 0; i <= 256u * 1024u; i++) assert_int_equal(fputc(' ', f), ' ');
  assert_int_equal(fclose(f), 0);
  assert_int_equal(orc_set_budget(O, 1, 1, path, err, sizeof err), AS_TOOBIG);
  assert_non_null(strstr(err, ": a price table of at most 262144 bytes"));
  assert_int_equal(unlink(path), 0);
  /* Its buffer not there; the budget's own state not there. */
  size_t live = fw_live_blocks();
  fw_inject(FW_MALLOC, ENOMEM, 1);
  assert_int_equal(orc_set_budget(O, 1, 1, AS_SOURCE_DIR "/fixtures/prices/default.json", err,
                                  sizeof err),
                   AS_NOMEM);
  assert_non_null(strstr(err, "default.json: "));
  assert_int_equal(fw_live_blocks(), live);
  fw_inject(FW_CALLOC, ENOMEM, 1);
  assert_int_equal(orc_set_budget_text(O, 1, 1, PRICES, strlen(PRICES), "p.json", err, sizeof err),
                   AS_NOMEM);
  expect_harness("out of memory");
  fw_reset();
}

/* The UTC day of a record's own time, by the oracle's calendar. */
static void test_days(void **state) {
  (void)state;
  fresh(1000000);
  (void)begin_op(T1, SCN_OP_RUN, "s0");
  for (int k = 0; k < 4; k++) answered(T1, "s0", "a", 10, 0, 0, 0, 1);
  orc_row r = llm_rec(1, 10, 0, 0, 0, 30);
  r.nw[ORC_KC_DAY] = text("1969-12-31"); /* half a second before 1970 */
  r.nw[ORC_KC_AT] = num(-500000000);
  record(T1, r);
  r.nw[ORC_KC_DAY] = text("2026-03-15"); /* 73 days on, in the months after February */
  r.nw[ORC_KC_AT] = num(NOW + 73ll * 86400 * 1000000000 + 1);
  record(T1, r);
  r.nw[ORC_KC_DAY] = text("2024-02-29");
  r.nw[ORC_KC_AT] = num(NOW - 672ll * 86400 * 1000000000);
  record(T1, r);
  record(T1, llm_rec(1, 10, 0, 0, 0, 30)); /* each day numbered from 1 */
  expect_ok();
  fresh(1000000);
  (void)begin_op(T1, SCN_OP_RUN, "s0");
  answered(T1, "s0", "a", 10, 0, 0, 0, 1);
  r = llm_rec(1, 10, 0, 0, 0, 30);
  r.nw[ORC_KC_AT] = num(-500000000);
  record(T1, r);
  expect_violation(ORC_CK_BUDGET_DAY, "with no reservation open: op_id \"\" and its own day, 1969-12-31");
  /* While a reservation is open: its day and its op_id. */
  static const struct {
    const char *day, *op;
  } open_bad[] = {{"2026-01-02", "s0:cycle-1"}, {DAY, ""}, {DAY, "s0:cycle-2"}};
  for (size_t i = 0; i < sizeof open_bad / sizeof open_bad[0]; i++) {
    fresh(1000000);
    (void)trigger_reserves(T1, "s0", "s0:cycle-1", 100000);
    answered(T1, "s0", "a", 10, 0, 0, 0, 1);
    r = cost_row("s0", open_bad[i].op, 1, "llm_call", "stub-1", 10, 0, 0, 0, 0, "v1", 30);
    r.nw[ORC_KC_DAY] = text(open_bad[i].day);
    record(T1, r);
    expect_violation(ORC_CK_BUDGET_DAY, "while its reservation s0:cycle-1 (of " DAY ") is open");
  }
}

static void test_costs(void **state) {
  (void)state;
  /* Legal: a model priced by a pattern; a cost that is not whole micro-dollars rounds up. */
  fresh(1000000);
  (void)begin_op(T1, SCN_OP_RUN, "s0");
  answered_m(T1, "s0", "a", "gpt-4o", 10, 0, 0, 5, 1);
  record(T1, cost_row("s0", "", 1, "llm_call", "gpt-4o", 10, 0, 0, 5, 0, "v1", 20));
  answered(T1, "s0", "a", 1, 1, 0, 0, 1); /* one cached token at $0.30 a million */
  record(T1, llm_rec(2, 0, 1, 0, 0, 1));
  expect_ok();
  static const struct {
    const char *model;
    int64_t prompt, cost;
    const char *needle;
  } bad[] = {
      {"zz", 10, 30, "must be priced by a model the table has, with buckets in range ('v1')"},
      {"stub-1", -1, 0, "must be priced by a model the table has, with buckets in range"},
      {"stub-1", 100000001, 0, "must be priced by a model the table has, with buckets in range"},
      {"stub-1", 1, 1, "costs 1 micro-dollars; the table (v1) makes it 3"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    fresh(1000000);
    (void)begin_op(T1, SCN_OP_RUN, "s0");
    answered_m(T1, "s0", "a", bad[i].model, bad[i].prompt, 0, 0, 0, 1);
    record(T1, cost_row("s0", "", 1, "llm_call", bad[i].model, bad[i].prompt, 0, 0, 0, 0, "v1",
                        bad[i].cost));
    expect_violation(ORC_CK_COST_EXACT, bad[i].needle);
  }
  fresh(1000000);
  (void)begin_op(T1, SCN_OP_RUN, "s0");
  exec_tool(T1, "s0", "repo:get", AS_OK);
  record(T1, cost_row("s0", "", 1, "tool_call", "repo:get", 0, 0, 0, 0, 0, "v1", 7));
  expect_violation(ORC_CK_COST_EXACT, "(tool repo:get: input 0, cache read 0, cache write 0, output 0) "
                   "costs 7 micro-dollars; the table (v1) makes it 100");
  fresh(1000000);
  (void)begin_op(T1, SCN_OP_RUN, "s0");
  exec_tool(T1, "s0", "repo:get", AS_OK);
  record(T1, cost_row("s0", "", 1, "tool_call", "repo:get", 0, 0, 0, 0, 0, "v0", 100));
  expect_violation(ORC_CK_COST_EXACT, "record " DAY " #1 (tool repo:get) has price version 'v0': it must "
                   "be priced by the table's version ('v1')");
  /* Legal: an answer with no usage billed by whatever estimate, marked so. */
  fresh(1000000);
  (void)begin_op(T1, SCN_OP_RUN, "s0");
  answered(T1, "s0", "a", 0, 0, 0, 0, 0);
  record(T1, cost_row("s0", "", 1, "llm_call", "stub-1", 5, 0, 0, 5, 1, "v1", 90));
  expect_ok();
}

/* Which leaf a record takes, and what no record is waited for. */
static void test_leaves(void **state) {
  (void)state;
  /* Legal: tools are taken by name, whatever order they are recorded in. */
  fresh(1000000);
  orc_op *o = begin_op(T1, SCN_OP_RUN, "s0");
  exec_tool(T1, "s0", "repo:get", AS_OK);
  exec_tool(T1, "s0", "repo:put", AS_OK);
  record(T1, cost_row("s0", "", 1, "tool_call", "repo:put", 0, 0, 0, 0, 0, "v1", 100));
  record(T1, cost_row("s0", "", 2, "tool_call", "repo:get", 0, 0, 0, 0, 0, "v1", 100));
  run_answers(T1, o, ORC_RUN_ENDED);
  expect_ok();
  /* Nothing waits for the answers and tools that are not billed: an error, an answer with
  ** no event or outside an operation, a tool whose server failed; without a budget, none. */
  fresh(1000000);
  o = begin_op(T1, SCN_OP_RUN, "s0");
  orc_llm_answer err = {.session = "s0", .agent = "a", .model = "stub-1", .rc = AS_IO};
  feed(ORC_EV_LLM_ANSWER, T1, 0, 0, NULL, &err);
  feed(ORC_EV_LLM_ANSWER, T1, 0, 0, NULL, NULL);
  answered(SIM_TASK_NONE, "s0", "a", 10, 0, 0, 0, 1);
  answered(T3, "s0", "a", 10, 0, 0, 0, 1);
  exec_tool(T1, "s0", "repo:get", AS_IO);
  exec_tool(T3, "s0", "repo:get", AS_OK);
  orc_exec ex = {.session = "s0", .tool = "repo:get", .args = "{}", .fail = AS_OK};
  orc__budget_on_exec(O, &ex, NULL);
  run_answers(T1, o, ORC_RUN_ENDED);
  expect_ok();
  reset();
  conn(1);
  o = begin_op(T1, SCN_OP_RUN, "s0");
  answered(T1, "s0", "a", 10, 0, 0, 0, 1);
  exec_tool(T1, "s0", "repo:get", AS_OK);
  run_answers(T1, o, ORC_RUN_ENDED);
  expect_ok();
  /* A tool carried out and never recorded. */
  fresh(1000000);
  o = begin_op(T1, SCN_OP_RUN, "s0");
  exec_tool(T1, "s0", "repo:get", AS_OK);
  run_answers(T1, o, ORC_RUN_ENDED);
  expect_violation(ORC_CK_LEDGER_LEAF, "run s0 answered with no record of tool repo:get (s0)");
  /* Records of leaves the task did not do, or not so. */
  static const struct {
    const char *agent, *model; /* the stub's answer */
    const char *leaf, *session; /* the record */
    orc_check check;
    const char *needle;
  } bad[] = {
      {"a", "stub-1", "agent_turn", "s0", ORC_CK_LEDGER_LEAF, "a record of leaf 'agent_turn'"},
      {"a", "stub-1", NULL, "s0", ORC_CK_LEDGER_LEAF, "a record of leaf ''"},
      {"a", "stub-1", "tool_call", "s0", ORC_CK_LEDGER_LEAF, "no app tool call of that name waiting"},
      {"a", "stub-1", "llm_call", "s1", ORC_CK_LEDGER_LEAF, "record for s1/a/stub-1, but the leaf it "
                                                           "records was s0/a/stub-1"},
      {"b", "stub-1", "llm_call", "s0", ORC_CK_LEDGER_LEAF, "the leaf it records was s0/b/stub-1"},
      {"a", "stub-2", "llm_call", "s0", ORC_CK_LEDGER_LEAF, "the leaf it records was s0/a/stub-2"},
      {NULL, NULL, "llm_call", "s0", ORC_CK_LEDGER_LEAF, "the leaf it records was s0//unknown"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    fresh(1000000);
    (void)begin_op(T1, SCN_OP_RUN, "s0");
    answered_m(T1, "s0", bad[i].agent, bad[i].model, 10, 0, 0, 0, 1);
    orc_row r = cost_row(bad[i].session, "", 1, bad[i].leaf ? bad[i].leaf : "", "stub-1", 10, 0, 0, 0, 0,
                         "v1", 30);
    if (!bad[i].leaf) r.nw[ORC_KC_LEAF] = num(3); /* not text */
    record(T1, r);
    expect_violation(bad[i].check, bad[i].needle);
  }
  fresh(1000000);
  (void)begin_op(T1, SCN_OP_RUN, "s0");
  answered(T1, "s0", "a", 10, 0, 0, 0, 1);
  orc_row r = llm_rec(1, 10, 0, 0, 0, 30);
  r.nw[ORC_KC_LEAF] = text(NULL);
  record(T1, r);
  expect_violation(ORC_CK_LEDGER_LEAF, "a record of leaf ''");
  fresh(1000000);
  (void)begin_op(T1, SCN_OP_RUN, "s0");
  answered(T1, "s0", "a", 10, 0, 0, 0, 1);
  record(T1, cost_row("s0", "", 1, "llm_call", "stub-1", 10, 0, 0, 0, 1, "v1", 30));
  expect_violation(ORC_CK_USAGE_EXACT, "the record of s0's a call is estimated, but the LLM reported usage");
  /* One task waits for at most 64 leaves. */
  fresh(1000000);
  (void)begin_op(T1, SCN_OP_RUN, "s0");
  for (int k = 0; k < 64; k++) answered(T1, "s0", "a", 10, 0, 0, 0, 1);
  expect_ok();
  answered(T1, "s0", "a", 10, 0, 0, 0, 1);
  expect_harness("more than 64 leaf operations of one task wait for their record");
}

/* Who may change the ledger's tables, and how. */
static void test_scope(void **state) {
  (void)state;
  fresh(1000000);
  orc_row r = llm_rec(1, 10, 0, 0, 0, 30);
  record(T3, r); /* T3 is in no operation */
  expect_violation(ORC_CK_OP_SCOPE, "a change to cost_records outside any operation");
  fresh(1000000);
  orc_op *run = begin_op(T1, SCN_OP_RUN, "s0");
  run_answers(T1, run, ORC_RUN_IDLE);
  record(T1, r); /* T1's operation answered */
  expect_violation(ORC_CK_OP_SCOPE, "a change to cost_records outside any operation");
  reset(); /* no budget, no operation yet */
  conn(1);
  record(T3, r);
  expect_violation(ORC_CK_OP_SCOPE, "a change to cost_records outside any operation");
  /* The first violation of a transaction is the one reported. */
  fresh(1000000);
  (void)begin_op(T1, SCN_OP_NOTE, "s0");
  row(T1, 1, &r);
  orc_row r2 = close_row("s0:cycle-1", "s0", "settled", "completed", 0);
  row(T1, 1, &r2);
  commit(T1, 1);
  expect_violation(ORC_CK_OP_SCOPE, "note s0 changed the ledger");
  fresh(1000000);
  r = resv_row(ORC_INSERT, "s0:cycle-1", "s0", 100000, "open", "open", "", 0);
  row(SIM_TASK_NONE, 1, &r);
  commit(SIM_TASK_NONE, 1);
  expect_violation(ORC_CK_OP_SCOPE, "a change to budget_reservations outside any operation");
  fresh(1000000);
  (void)begin_op(T1, SCN_OP_NOTE, "s0");
  record(T1, close_row("s0:cycle-1", "s0", "settled", "completed", 0));
  expect_violation(ORC_CK_OP_SCOPE, "note s0 changed a reservation");
  fresh(1000000);
  (void)begin_op(T1, SCN_OP_RUN, "s0");
  answered(T1, "s0", "a", 10, 0, 0, 0, 1);
  record(T1, llm_rec(1, 10, 0, 0, 0, 30));
  r = llm_rec(1, 10, 0, 0, 0, 30);
  r.op = ORC_UPDATE;
  memcpy(r.old, r.nw, sizeof r.old);
  r.nw[ORC_KC_COST] = num(3);
  record(T1, r);
  expect_violation(ORC_CK_SPEND_DURABLE, "run s0 changed ledger record " DAY);
  fresh(1000000);
  (void)trigger_reserves(T1, "s0", "s0:cycle-1", 100000);
  r = resv_row(ORC_DELETE, "s0:cycle-1", "s0", 100000, "open", "open", "", 0);
  record(T1, r);
  expect_violation(ORC_CK_SPEND_DURABLE, "trigger s0 deleted reservation s0:cycle-1");
  /* A settle whose transaction changes more than reservations. */
  reset();
  budget_on(1000000);
  create("s0");
  conn(1);
  (void)trigger_reserves(T1, "s0", "s0:cycle-1", 100000);
  (void)begin_op(T2, SCN_OP_SETTLE, "s0");
  r = close_row("s0:cycle-1", "s0", "settled", "completed", 0);
  row(T2, 1, &r);
  ckpt_row(T2, 1, ORC_INSERT, "s0");
  commit(T2, 1);
  expect_violation(ORC_CK_OP_SCOPE, "settle committed a change to 0 sessions and 1 checkpoints (it "
                   "only closes reservations)");
  reset();
  budget_on(1000000);
  create("s0");
  conn(1);
  (void)begin_op(T2, SCN_OP_RECOVER, NULL);
  event_row(T2, 1, ORC_INSERT, "s0", 1, "note", "{}");
  commit(T2, 1);
  expect_violation(ORC_CK_OP_SCOPE, "recover committed a change to 1 sessions and 0 checkpoints");
  /* The budget's state not there at a commit, at an operation's beginning. */
  reset();
  conn(1);
  r = llm_rec(1, 10, 0, 0, 0, 30);
  row(T3, 1, &r);
  fw_inject(FW_CALLOC, ENOMEM, 1);
  commit(T3, 1);
  fw_reset();
  expect_harness("out of memory");
  reset();
  fw_inject(FW_CALLOC, ENOMEM, 1);
  (void)begin_op(T1, SCN_OP_RUN, "s0");
  fw_reset();
  expect_harness("out of memory");
}

/* A trigger's reservation: its name, session, day, estimate, state, and the limit on what is sure. */
static void test_reserve(void **state) {
  (void)state;
  /* Legal: an estimate the trigger asked for; a reservation of the day it began. */
  fresh(1000000);
  orc_op *tr = trigger_reserves(T1, "b0", "b0:cycle-1", 50000);
  accept_answer(T1, tr, "b0:cycle-1", 1000000, 50000, ORC_RUN_NONE);
  expect_ok();
  fresh(1000000);
  OPS[T1] = *op(T1, SCN_OP_TRIGGER, "b0");
  begin(T1, &OPS[T1]);
  VNOW = 86400ull * 1000000000; /* it commits the next day */
  orc_row r = resv_row(ORC_INSERT, "b0:cycle-1", "b0", 100000, "open", "open", "", 0);
  record(T1, r);
  expect_ok();
  VNOW = 0;
  static const struct {
    const char *sid, *opid, *day, *state;
    int64_t est, settled;
    const char *trig; /* the trigger's session */
  } bad[] = {
      {"b1", "b1:cycle-1", DAY, "open", 100000, 0, "b0"},
      {"b0", "b0:cycle-1", "2026-01-03", "open", 100000, 0, "b0"},
      {"b0", "b0:cycle-1", DAY, "open", 90000, 0, "b0"},
      {"b0", "b0:cycle-1", DAY, "settled", 100000, 0, "b0"},
      {"b0", "b0:cycle-1", DAY, "open", 100000, 5, "b0"},
      {"b0", "b0:cycle-1", DAY, "open", 100000, 0, NULL},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    fresh(1000000);
    (void)begin_op(T1, SCN_OP_TRIGGER, bad[i].trig);
    r = resv_row(ORC_INSERT, bad[i].opid, bad[i].sid, bad[i].est, "open", bad[i].state, "", bad[i].settled);
    r.nw[ORC_BC_DAY] = text(bad[i].day);
    record(T1, r);
    expect_violation(ORC_CK_BUDGET_LIMIT, "; the model says ");
  }
  /* The limit is judged on what is sure: a record whose commit failed after its
  ** commit point, a reservation likewise, count for nothing. */
  fresh(150000);
  orc_op *run = begin_op(T1, SCN_OP_RUN, "b0");
  answered(T1, "b0", "a", 0, 0, 0, 4000, 1); /* 4000 out at $15 a million */
  r = cost_row("b0", "", 1, "llm_call", "stub-1", 0, 0, 0, 4000, 0, "v1", 60000);
  row(T1, 1, &r);
  committing(T1, 1);
  rollback(T1, 1);
  run->outcome = ORC_RUN_FAILED;
  answer(T1, run, AS_IO);
  OPS[T2] = *op(T2, SCN_OP_TRIGGER, "b1");
  begin(T2, &OPS[T2]);
  r = resv_row(ORC_INSERT, "b1:cycle-1", "b1", 100000, "open", "open", "", 0);
  row(T2, 2, &r);
  committing(T2, 2);
  rollback(T2, 2);
  answer(T2, &OPS[T2], AS_IO);
  (void)trigger_reserves(T3, "b2", "b2:cycle-1", 100000);
  expect_ok();
  /* ... and what is sure counts. */
  fresh(150000);
  (void)trigger_reserves(T2, "b1", "b1:cycle-1", 100000);
  answer(T2, &OPS[T2], AS_IO); /* an error after its commit was confirmed: it stands */
  (void)trigger_reserves(T3, "b2", "b2:cycle-1", 100000);
  expect_violation(ORC_CK_BUDGET_LIMIT, "where 0 is spent and 100000 held: 200000 is over the daily "
                   "limit of 150000");
}

/* A paused session s0 (awaiting_input, v3) with a trigger's open cycle s0:cycle-1. */
static void paused_s0(void) {
  reset();
  budget_on(1000000);
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  orc_op *tr = trigger_reserves(T2, "s0", "s0:cycle-1", 100000);
  tr->answer = ORC_TA_ACCEPTED;
  tr->op_id = "s0:cycle-1";
  tr->remaining = 1000000;
  tr->need = 100000;
  tr->outcome = ORC_RUN_NONE;
  answer(T2, tr, AS_OK);
  orc_op *o = status_rows(T1, SCN_OP_PAUSE, "s0", "in_progress", 2, "awaiting_input", 2, "");
  commit(T1, 1);
  lock(T1, "s0", ORC_LOCK_RELEASED);
  o->changed = 1;
  answer(T1, o, AS_OK);
  expect_ok();
}

/* Closing a reservation: what the update must say. */
static void test_close_rows(void **state) {
  (void)state;
  static const struct {
    unsigned kind;
    const char *old_state, *st, *outcome, *op2, *sid2, *day2;
    int64_t est2;
    orc_check check;
    const char *needle;
  } bad[] = {
      {SCN_OP_RUN, "settled", "settled", "completed", NULL, NULL, NULL, 100000, ORC_CK_SETTLE_ONCE,
       "run changed reservation b0:cycle-1, open (, 0 micro-dollars), to settled"},
      {SCN_OP_RUN, "open", "open", "", NULL, NULL, NULL, 100000, ORC_CK_SPEND_DURABLE,
       "run changed open reservation b0:cycle-1 without closing it (state open)"},
      {SCN_OP_RUN, "open", "bogus", "", NULL, NULL, NULL, 100000, ORC_CK_SPEND_DURABLE,
       "without closing it (state bogus)"},
      {SCN_OP_RUN, "open", "settled", "completed", "b0:cycle-9", NULL, NULL, 100000,
       ORC_CK_SPEND_DURABLE, "closing reservation b0:cycle-1 changed its session, day or estimate"},
      {SCN_OP_RUN, "open", "settled", "completed", NULL, "b9", NULL, 100000, ORC_CK_SPEND_DURABLE,
       "changed its session, day or estimate"},
      {SCN_OP_RUN, "open", "settled", "completed", NULL, NULL, "2026-01-02", 100000,
       ORC_CK_SPEND_DURABLE, "changed its session, day or estimate"},
      {SCN_OP_RUN, "open", "settled", "completed", NULL, NULL, NULL, 5, ORC_CK_SPEND_DURABLE,
       "changed its session, day or estimate"},
      {SCN_OP_SETTLE, "open", "settled", "idle", NULL, NULL, NULL, 100000, ORC_CK_BUDGET_CLOSE,
       "settle closed reservation b0:cycle-1 as settled with outcome 'idle'"},
      {SCN_OP_RUN, "open", "released", "bogus", NULL, NULL, NULL, 100000, ORC_CK_BUDGET_CLOSE,
       "as released with outcome 'bogus'"},
      {SCN_OP_RUN, "open", "released", "recovered", NULL, NULL, NULL, 100000, ORC_CK_BUDGET_CLOSE,
       "run closed reservation b0:cycle-1 as released with outcome 'recovered'"},
      {SCN_OP_RECOVER, "open", "released", "failed", NULL, NULL, NULL, 100000, ORC_CK_BUDGET_CLOSE,
       "recover closed reservation b0:cycle-1 as released with outcome 'failed'"},
      {SCN_OP_SETTLE, "open", "released", "failed", NULL, NULL, NULL, 100000, ORC_CK_BUDGET_CLOSE,
       "settle closed reservation b0:cycle-1 as released with outcome 'failed'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    fresh(1000000);
    (void)trigger_reserves(T1, "b0", "b0:cycle-1", 100000);
    (void)begin_op(T2, bad[i].kind, bad[i].kind == SCN_OP_RECOVER ? NULL : "b0");
    orc_row r = resv_row(ORC_UPDATE, "b0:cycle-1", "b0", 100000, bad[i].old_state, bad[i].st,
                         bad[i].outcome, 0);
    if (bad[i].op2) r.nw[ORC_BC_OP] = text(bad[i].op2);
    if (bad[i].sid2) r.nw[ORC_BC_SESSION] = text(bad[i].sid2);
    if (bad[i].day2) r.nw[ORC_BC_DAY] = text(bad[i].day2);
    r.nw[ORC_BC_ESTIMATE] = num(bad[i].est2);
    record(T2, r);
    expect_violation(bad[i].check, bad[i].needle);
  }
  fresh(1000000);
  (void)begin_op(T1, SCN_OP_SETTLE, "b0");
  record(T1, close_row("b0:cycle-9", "b0", "settled", "completed", 0));
  expect_violation(ORC_CK_SPEND_DURABLE, "an update of reservation b0:cycle-9, which was never committed");
  /* Recovery keeps the cycle of a session waiting for its approval, and releases one
  ** whose session the model never heard of. */
  paused_s0();
  (void)begin_op(T3, SCN_OP_RECOVER, NULL);
  record(T3, close_row("s0:cycle-1", "s0", "released", "recovered", 0));
  expect_violation(ORC_CK_BUDGET_CLOSE, "recovery released s0:cycle-1, though s0 is awaiting_input");
  paused_s0(); /* ... unless a commit that may move it on is in flight */
  conn(2);
  (void)write_rows(T1, 2, "s0", "awaiting_input", 3, "{}", "{\"w\":1}");
  committing(T1, 2);
  (void)begin_op(T3, SCN_OP_RECOVER, NULL);
  record(T3, close_row("s0:cycle-1", "s0", "released", "recovered", 0));
  expect_ok();
  fresh(1000000);
  (void)trigger_reserves(T1, "b0", "b0:cycle-1", 100000);
  orc_op *rec = begin_op(T2, SCN_OP_RECOVER, NULL);
  record(T2, close_row("b0:cycle-1", "b0", "released", "recovered", 0));
  rec->removed = 1;
  answer(T2, rec, AS_OK);
  expect_ok();
}

/* A close in doubt, and a reservation changed before its insert was confirmed. */
static void test_close_doubt(void **state) {
  (void)state;
  /* The close failed after its commit point; the next close's row says it did not happen. */
  fresh(1000000);
  (void)trigger_reserves(T1, "b0", "b0:cycle-1", 100000);
  orc_op *st = begin_op(T2, SCN_OP_SETTLE, "b0");
  orc_row r = close_row("b0:cycle-1", "b0", "settled", "completed", 0);
  row(T2, 2, &r);
  committing(T2, 2);
  rollback(T2, 2);
  answer(T2, st, AS_IO);
  (void)begin_op(T3, SCN_OP_SETTLE, "b0");
  r = close_row("b0:cycle-1", "b0", "settled", "completed", 0);
  record(T3, r); /* from open: the first did not happen */
  expect_ok();
  /* ... or that it did. */
  fresh(1000000);
  (void)trigger_reserves(T1, "b0", "b0:cycle-1", 100000);
  st = begin_op(T2, SCN_OP_SETTLE, "b0");
  r = close_row("b0:cycle-1", "b0", "settled", "completed", 0);
  row(T2, 2, &r);
  committing(T2, 2);
  rollback(T2, 2);
  answer(T2, st, AS_IO);
  (void)begin_op(T3, SCN_OP_SETTLE, "b0");
  r = resv_row(ORC_UPDATE, "b0:cycle-1", "b0", 100000, "settled", "settled", "completed", 0);
  record(T3, r);
  expect_violation(ORC_CK_SETTLE_ONCE, "a closed reservation never changes");
  /* Closed on connection 2 while its insert on 1 waits for its confirmation. */
  fresh(1000000);
  orc_op *tr = begin_op(T1, SCN_OP_TRIGGER, "b0");
  r = resv_row(ORC_INSERT, "b0:cycle-1", "b0", 100000, "open", "open", "", 0);
  row(T1, 1, &r);
  committing(T1, 1);
  (void)begin_op(T2, SCN_OP_SETTLE, "b0");
  r = close_row("b0:cycle-1", "b0", "settled", "completed", 0);
  row(T2, 2, &r);
  commit(T2, 2);
  committed(T1, 1);
  accept_answer(T1, tr, "b0:cycle-1", 1000000, 100000, ORC_RUN_NONE);
  expect_ok();
  /* Records unsettled on two connections: one confirmed leaves the other unsettled. */
  fresh(1000000);
  orc_op *a = begin_op(T1, SCN_OP_RUN, "s0");
  orc_op *b = begin_op(T2, SCN_OP_RUN, "s1");
  answered(T1, "s0", "a", 10, 0, 0, 0, 1);
  answered(T2, "s1", "a", 10, 0, 0, 0, 1);
  r = llm_rec(1, 10, 0, 0, 0, 30);
  row(T1, 1, &r);
  committing(T1, 1);
  r = cost_row("s1", "", 2, "llm_call", "stub-1", 10, 0, 0, 0, 0, "v1", 30);
  row(T2, 2, &r);
  commit(T2, 2);
  rollback(T1, 1);
  run_answers(T2, b, ORC_RUN_ENDED);
  a->outcome = ORC_RUN_FAILED;
  answer(T1, a, AS_IO);
  expect_ok();
  make_db();
  db_exec("INSERT INTO cost_records (day, seq, op_id, leaf, session_id, agent, name, cost_micros)"
          " VALUES ('" DAY "', 2, '', 'llm_call', 's1', 'a', 'stub-1', 30);");
  char msg[512];
  assert_int_equal(orc__budget_quiescence(O, DB, msg, sizeof msg), 0); /* #1 in doubt: absent */
  (void)sqlite3_close(DB);
  DB = NULL;
}

/* A run's ending and the cycle it must close. */
static void test_close_endings(void **state) {
  (void)state;
  static const struct {
    int outcome;
    const char *st, *out; /* the close it committed (NULL none) */
    const char *needle;   /* NULL: legal */
  } cases[] = {
      {ORC_RUN_ENDED, "settled", "completed", NULL},
      {ORC_RUN_FAILED, "released", "failed", NULL},
      {ORC_RUN_FAILED, "released", "cancelled", NULL},
      {ORC_RUN_IDLE, "released", "idle", NULL},
      {ORC_RUN_ENDED, NULL, NULL, "trigger b0 answered its run ended, leaving its cycle b0:cycle-1 open"},
      {ORC_RUN_FAILED, NULL, NULL, "answered its run failed, leaving its cycle b0:cycle-1 open"},
      {ORC_RUN_ENDED, "released", "failed", "trigger b0's run ended, and it closed its cycle b0:cycle-1 "
                                            "released (failed)"},
      {ORC_RUN_FAILED, "released", "idle", "'s run failed, and it closed its cycle b0:cycle-1 released (idle)"},
      {ORC_RUN_FAILED, "settled", "completed", "'s run failed, and it closed its cycle b0:cycle-1 settled"},
      {ORC_RUN_IDLE, "released", "failed", "'s run was idle, and it closed its cycle b0:cycle-1 released (failed)"},
      {ORC_RUN_PAUSED, "released", "failed", "trigger b0 paused, but closed its cycle b0:cycle-1 (failed): a "
                                             "paused run keeps it open"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fresh(1000000);
    orc_op *tr = trigger_reserves(T1, "b0", "b0:cycle-1", 100000);
    if (cases[i].st) record(T1, close_row("b0:cycle-1", "b0", cases[i].st, cases[i].out, 0));
    accept_answer(T1, tr, "b0:cycle-1", 1000000, 100000, cases[i].outcome);
    if (cases[i].needle)
      expect_violation(ORC_CK_BUDGET_CLOSE, cases[i].needle);
    else
      expect_ok();
  }
  /* It closed another session's cycle, and left its own open. */
  fresh(1000000);
  (void)trigger_reserves(T2, "b1", "b1:cycle-1", 100000);
  orc_op *tr = trigger_reserves(T1, "b0", "b0:cycle-1", 100000);
  record(T1, close_row("b1:cycle-1", "b1", "settled", "completed", 0));
  accept_answer(T1, tr, "b0:cycle-1", 900000, 100000, ORC_RUN_ENDED);
  expect_violation(ORC_CK_BUDGET_CLOSE, "leaving its cycle b0:cycle-1 open");
  /* Another ending closed it meanwhile. */
  fresh(1000000);
  tr = trigger_reserves(T1, "b0", "b0:cycle-1", 100000);
  (void)begin_op(T2, SCN_OP_SETTLE, "b0");
  record(T2, close_row("b0:cycle-1", "b0", "settled", "completed", 0));
  accept_answer(T1, tr, "b0:cycle-1", 1000000, 100000, ORC_RUN_ENDED);
  expect_ok();
  /* A run that began with its session's cycle open closes that one. */
  fresh(1000000);
  tr = trigger_reserves(T1, "b0", "b0:cycle-1", 100000);
  accept_answer(T1, tr, "b0:cycle-1", 1000000, 100000, ORC_RUN_NONE);
  orc_op *run = begin_op(T2, SCN_OP_RUN, "b0");
  run_answers(T2, run, ORC_RUN_IDLE);
  expect_violation(ORC_CK_BUDGET_CLOSE, "run b0 answered its run idle, leaving its cycle b0:cycle-1 open");
  /* Idle while the session still waits for its approval: the cycle goes on, closed by nobody. */
  paused_s0();
  run = begin_op(T3, SCN_OP_RUN, "s0");
  run_answers(T3, run, ORC_RUN_IDLE);
  expect_ok();
  paused_s0();
  run = begin_op(T3, SCN_OP_RUN, "s0");
  record(T3, close_row("s0:cycle-1", "s0", "released", "idle", 0));
  run_answers(T3, run, ORC_RUN_IDLE);
  expect_violation(ORC_CK_BUDGET_CLOSE, "run s0 paused, but closed its cycle s0:cycle-1 (idle)");
  /* The store failed under it: another commit on its session still in flight. */
  reset();
  budget_on(1000000);
  create("s0");
  conn(1);
  conn(2);
  tr = trigger_reserves(T1, "s0", "s0:cycle-1", 100000);
  (void)write_rows(T2, 2, "s0", "new", 1, "{}", "{\"w\":1}");
  committing(T2, 2);
  accept_answer(T1, tr, "s0:cycle-1", 1000000, 100000, ORC_RUN_ENDED);
  expect_ok();
  /* ... or cut by power loss. */
  reset();
  budget_on(1000000);
  create("s0");
  conn(1);
  conn(2);
  tr = trigger_reserves(T1, "s0", "s0:cycle-1", 100000);
  (void)write_rows(T2, 2, "s0", "new", 1, "{}", "{\"w\":1}");
  committing(T2, 2);
  power_loss();
  accept_answer(T1, tr, "s0:cycle-1", 1000000, 100000, ORC_RUN_ENDED);
  expect_ok();
}

static void test_trigger_answers(void **state) {
  (void)state;
  /* Accepted, but not as reserved. */
  static const struct {
    bool reserve;
    const char *opid;
    int64_t remaining, need;
    const char *needle;
  } acc[] = {
      {false, "b0:cycle-1", 1000000, 100000, "it reserved nothing (remaining 0 before it, need 100000)"},
      {true, NULL, 1000000, 100000, "answered accepted as '(none)'"},
      {true, "b0:cycle-2", 1000000, 100000, "answered accepted as 'b0:cycle-2'"},
      {true, "b0:cycle-1", 999999, 100000, "(remaining 999999, need 100000); it reserved b0:cycle-1"},
      {true, "b0:cycle-1", 1000000, 1, "(remaining 1000000, need 1); it reserved b0:cycle-1"},
  };
  for (size_t i = 0; i < sizeof acc / sizeof acc[0]; i++) {
    fresh(1000000);
    orc_op *tr = acc[i].reserve ? trigger_reserves(T1, "b0", "b0:cycle-1", 100000)
                                : begin_op(T1, SCN_OP_TRIGGER, "b0");
    accept_answer(T1, tr, acc[i].opid, acc[i].remaining, acc[i].need, ORC_RUN_NONE);
    expect_violation(ORC_CK_TRIGGER_ANSWER, acc[i].needle);
  }
  fresh(1000000);
  orc_op *tr = trigger_reserves(T1, "b0", "b0:cycle-1", 100000);
  tr->answer = ORC_TA_ACTIVE;
  tr->reason = "cycle_in_progress";
  answer(T1, tr, AS_OK);
  expect_violation(ORC_CK_TRIGGER_ANSWER, "trigger b0 reserved b0:cycle-1, but answered 'cycle_in_progress'");
  /* cycle_in_progress while one is open. */
  fresh(1000000);
  tr = trigger_reserves(T1, "b0", "b0:cycle-1", 100000);
  accept_answer(T1, tr, "b0:cycle-1", 1000000, 100000, ORC_RUN_NONE);
  tr = begin_op(T2, SCN_OP_TRIGGER, "b0");
  tr->answer = ORC_TA_ACTIVE;
  answer(T2, tr, AS_OK);
  expect_ok();
  fresh(1000000); /* opened by another while it ran */
  orc_op *late = begin_op(T2, SCN_OP_TRIGGER, "b0");
  (void)trigger_reserves(T1, "b0", "b0:cycle-1", 100000);
  late->answer = ORC_TA_ACTIVE;
  answer(T2, late, AS_OK);
  expect_ok();
}

/* A refused trigger of s0: its budget_rejected event (payload), the day's limit and spend
** (spend 1: a tool record of 100 first, in doubt; 2: confirmed), its answer; the verdict's
** needle (NULL legal). */
static void refusal(int64_t limit, int64_t estimate, int spend, const char *payload, int answer_kind,
                    const char *reason, const char *message, int64_t remaining, int64_t need,
                    orc_check check, const char *needle) {
  reset();
  budget_on(limit);
  create("s0");
  conn(1);
  if (spend) {
    orc_op *run = begin_op(T2, SCN_OP_RUN, "b0");
    exec_tool(T2, "b0", "repo:get", AS_OK);
    orc_row r = cost_row("b0", "", 1, "tool_call", "repo:get", 0, 0, 0, 0, 0, "v1", 100);
    row(T2, 1, &r);
    committing(T2, 1);
    if (spend == 1) rollback(T2, 1);
    else committed(T2, 1);
    run->outcome = ORC_RUN_FAILED;
    answer(T2, run, spend == 1 ? AS_IO : AS_OK);
  }
  OPS[T1] = *op(T1, SCN_OP_TRIGGER, "s0");
  OPS[T1].estimate = estimate;
  begin(T1, &OPS[T1]);
  event_row(T1, 1, ORC_INSERT, "s0", 1, "budget_rejected", payload);
  commit(T1, 1);
  orc_op *tr = &OPS[T1];
  tr->answer = answer_kind;
  tr->reason = reason;
  tr->message = message;
  tr->remaining = remaining;
  tr->need = need;
  answer(T1, tr, AS_OK); /* (after a violation the oracle hears nothing more) */
  if (needle)
    expect_violation(check, needle);
  else
    expect_ok();
}

static void test_refusals(void **state) {
  (void)state;
  static const char P[] = "{\"reason\":\"budget_exhausted\",\"remaining_micros\":50000,\"need_micros\":100000}";
  static const char M[] = "Daily budget exhausted: $0.05 remaining, need $0.10";
  static const char AMOUNTS[] = "with other amounts than its event or the model";
  static const char REASON[] = "with another reason or message";
  static const char LACKS[] = "budget_rejected event";
  /* Legal: in cents, the remaining rounded down and the need up. */
  refusal(50001, 100001, 0,
          "{\"reason\":\"budget_exhausted\",\"remaining_micros\":50001,\"need_micros\":100001}",
          ORC_TA_BUDGET, "budget_exhausted", "Daily budget exhausted: $0.05 remaining, need $0.11",
          50001, 100001, ORC_CK_TRIGGER_ANSWER, NULL);
  /* Legal: what was spent counts. */
  refusal(100050, 0, 2,
          "{\"reason\":\"budget_exhausted\",\"remaining_micros\":99950,\"need_micros\":100000}",
          ORC_TA_BUDGET, "budget_exhausted", "Daily budget exhausted: $0.09 remaining, need $0.10",
          99950, 100000, ORC_CK_TRIGGER_ANSWER, NULL);
  /* Legal: with a record in doubt the day may not have afforded it. */
  refusal(150000, 0, 1,
          "{\"reason\":\"budget_exhausted\",\"remaining_micros\":149900,\"need_micros\":100000}",
          ORC_TA_BUDGET, "budget_exhausted", "Daily budget exhausted: $0.14 remaining, need $0.10",
          149900, 100000, ORC_CK_TRIGGER_ANSWER, NULL);
  static const struct {
    int64_t limit;
    const char *payload;
    int answer;
    const char *reason, *message;
    int64_t remaining, need;
    const char *needle;
  } bad[] = {
      {1000000, P, ORC_TA_BUDGET, "budget_exhausted", M, 50000, 100000, "though the day could afford it"},
      {50000, P, ORC_TA_BUDGET, "budget_exhausted", M, 50000, 99999, AMOUNTS},
      {50000, "{\"reason\":\"budget_exhausted\",\"remaining_micros\":50000,\"need_micros\":90000}",
       ORC_TA_BUDGET, "budget_exhausted", M, 50000, 100000, AMOUNTS},
      {50000, P, ORC_TA_BUDGET, "budget_exhausted", M, 40000, 100000, AMOUNTS},
      {50000, "{\"reason\":\"budget_exhausted\",\"remaining_micros\":40000,\"need_micros\":100000}",
       ORC_TA_BUDGET, "budget_exhausted", "Daily budget exhausted: $0.04 remaining, need $0.10", 40000,
       100000, AMOUNTS},
      {50000, P, ORC_TA_NONE, "budget_exhausted", M, 50000, 100000, REASON},
      {50000, P, ORC_TA_BUDGET, NULL, M, 50000, 100000, REASON},
      {50000, P, ORC_TA_BUDGET, "budget", M, 50000, 100000, REASON},
      {50000, P, ORC_TA_BUDGET, "budget_exhausted", NULL, 50000, 100000, REASON},
      {50000, P, ORC_TA_BUDGET, "budget_exhausted", "Daily budget exhausted", 50000, 100000, REASON},
      {50000, "not json", ORC_TA_BUDGET, "budget_exhausted", M, 50000, 100000, LACKS},
      {50000, "{\"reason\":\"budget_exhausted\",\"remaining_micros\":50000}", ORC_TA_BUDGET,
       "budget_exhausted", M, 50000, 100000, LACKS},
      {50000, "{\"reason\":\"budget_exhausted\",\"remaining_micros\":50000,\"need_micros\":\"100000\"}",
       ORC_TA_BUDGET, "budget_exhausted", M, 50000, 100000, LACKS},
      {50000, "{\"reason\":\"other\",\"remaining_micros\":50000,\"need_micros\":100000}", ORC_TA_BUDGET,
       "budget_exhausted", M, 50000, 100000, LACKS},
      {50000, NULL, ORC_TA_BUDGET, "budget_exhausted", M, 50000, 100000, LACKS},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    refusal(bad[i].limit, 0, 0, bad[i].payload, bad[i].answer, bad[i].reason, bad[i].message,
            bad[i].remaining, bad[i].need, ORC_CK_TRIGGER_ANSWER, bad[i].needle);
  /* The refusal commits its event alone, once, on its own session. */
  for (int k = 0; k < 5; k++) {
    reset();
    budget_on(50000);
    create("s0");
    create("s1");
    conn(1);
    if (k == 2) (void)trigger_reserves(T1, "s0", "s0:cycle-1", 50000);
    else (void)begin_op(T1, SCN_OP_TRIGGER, k == 4 ? NULL : "s0");
    if (k == 1) {
      event_row(T1, 1, ORC_INSERT, "s0", 1, "budget_rejected", P);
      commit(T1, 1);
    }
    if (k == 0) session_update(T1, 1, "s0", "new", 1, "{}", "new", 2, "{}", "");
    event_row(T1, 1, ORC_INSERT, k == 3 ? "s1" : "s0", k == 1 ? 2 : 1, "budget_rejected", P);
    commit(T1, 1);
    expect_violation(ORC_CK_OP_SCOPE, "committed its refusal with other changes, or twice");
  }
}

/* What settle and recovery answer. */
static void test_settle_answers(void **state) {
  (void)state;
  for (int k = 0; k < 3; k++) {
    fresh(1000000);
    (void)trigger_reserves(T1, "b0", "b0:cycle-1", 100000);
    orc_op *st = begin_op(T2, SCN_OP_SETTLE, "b0");
    if (k != 1) record(T2, close_row("b0:cycle-1", "b0", "settled", "completed", 0));
    st->changed = k != 0;
    answer(T2, st, AS_OK);
    if (k == 0) expect_violation(ORC_CK_SETTLE_ONCE, "settle b0 answered unchanged, but it closed its cycle");
    if (k == 1) expect_violation(ORC_CK_SETTLE_ONCE, "settle b0 answered changed, but it wrote nothing");
    if (k == 2) expect_ok();
  }
}

/* A scrape's status and metrics against the ledger: 100 spent, 99,900 held. */
static void scrape_ledger(void) {
  fresh(1000000);
  (void)trigger_reserves(T1, "b0", "b0:cycle-1", 100000);
  exec_tool(T1, "b0", "repo:get", AS_OK);
  record(T1, cost_row("b0", "b0:cycle-1", 1, "tool_call", "repo:get", 0, 0, 0, 0, 0, "v1", 100));
}

static void scrape_answers(orc_op *sc, int k) {
  sc->date = k == 2 ? NULL : k == 3 ? "2026-01-02" : DAY;
  sc->limit = k == 4 ? 1 : 1000000;
  sc->spent = k == 5 ? 1 : 100;
  sc->reserved = k == 6 ? 1 : 99900;
  sc->remaining = k == 7 ? 1 : 900000;
  sc->cycles = k == 8 ? 1 : 9;
  sc->spend_events = k == 9 ? 2 : 1;
  sc->has_metric = k == 1 || k >= 10;
  sc->metric_spend = k == 10 ? 1 : 100;
  sc->metric_remaining = k == 11 ? 1 : 900000;
  answer(T2, sc, AS_OK);
}

static void test_scrapes(void **state) {
  (void)state;
  for (int k = 0; k < 12; k++) {
    scrape_ledger();
    scrape_answers(begin_op(T2, SCN_OP_SCRAPE, NULL), k);
    if (k < 2) expect_ok();
    else expect_violation(ORC_CK_LEDGER_MATCH, "a scrape read ");
  }
  /* No telling: the ledger moved while it read; a record in doubt. */
  scrape_ledger();
  orc_op *sc = begin_op(T2, SCN_OP_SCRAPE, NULL);
  exec_tool(T1, "b0", "repo:get", AS_OK);
  record(T1, cost_row("b0", "b0:cycle-1", 2, "tool_call", "repo:get", 0, 0, 0, 0, 0, "v1", 100));
  scrape_answers(sc, 5);
  expect_ok();
  scrape_ledger();
  orc_op *run = begin_op(T3, SCN_OP_RUN, "b1");
  exec_tool(T3, "b1", "repo:get", AS_OK);
  orc_row r = cost_row("b1", "", 2, "tool_call", "repo:get", 0, 0, 0, 0, 0, "v1", 100);
  row(T3, 2, &r);
  committing(T3, 2);
  rollback(T3, 2);
  run->outcome = ORC_RUN_FAILED;
  answer(T3, run, AS_IO);
  scrape_answers(begin_op(T2, SCN_OP_SCRAPE, NULL), 5);
  expect_ok();
}

/* A chat span of stub-1 with 10 input tokens, costing 30: attribute k replaced. */
static void span_of(orc_span_attr at[4], size_t k, orc_span_attr with) {
  at[0] = (orc_span_attr){"gen_ai.request.model", "stub-1", 0};
  at[1] = (orc_span_attr){"gen_ai.usage.input_tokens", NULL, 10};
  at[2] = (orc_span_attr){"agentsim.price_version", "v1", 0};
  at[3] = (orc_span_attr){"agentsim.cost_micros", NULL, 30};
  if (k < 4) at[k] = with;
}

static void flush_answers(void) {
  orc_op *fl = begin_op(T2, SCN_OP_FLUSH, NULL);
  answer(T2, fl, AS_OK);
}

static void test_span_corners(void **state) {
  (void)state;
  orc_span_attr at[4];
  orc_span sp = {.name = "chat stub-1", .attrs = at, .nattrs = 4};
  /* Usage on a span that is not a chat: named by the first it finds. */
  static const char *const keys[] = {"gen_ai.usage.output_tokens", "gen_ai.usage.cache_read.input_tokens",
                                     "gen_ai.usage.cache_creation.input_tokens"};
  for (size_t i = 0; i < 3; i++) {
    fresh(1000000);
    orc_span_attr u = {keys[i], NULL, 1};
    orc_span agent = {.name = "invoke_agent a", .attrs = &u, .nattrs = 1};
    feed(ORC_EV_SPAN, T1, 0, 0, NULL, &agent);
    char want[128];
    (void)snprintf(want, sizeof want, "carries usage (%s)", keys[i]);
    expect_violation(ORC_CK_SPAN_USAGE, want);
  }
  /* A chat span's cost attribute against its usage priced. */
  static const struct {
    size_t k;
    orc_span_attr with;
    const char *needle;
  } bad[] = {
      {1, {"gen_ai.usage.input_tokens", "10", 0}, "(usage in 0, cache read 0, cache write 0, out 0; price "
                                                  "version v1) says it cost 30 micro-dollars; priced, it is 0"},
      {0, {"gen_ai.response.id", "x", 0}, "priced, it is -1"},
      {0, {"gen_ai.request.model", NULL, 1}, "priced, it is -1"},
      {0, {"gen_ai.request.model", "zz", 0}, "priced, it is -1"},
      {2, {"agentsim.other", "v1", 0}, "price version (none)) says it cost 30"},
      {2, {"agentsim.price_version", NULL, 1}, "price version (none)) says it cost 30"},
      {2, {"agentsim.price_version", "v0", 0}, "price version v0) says it cost 30 micro-dollars; priced, it is -1"},
      {3, {"agentsim.other", NULL, 30}, "says it cost -1 micro-dollars; priced, it is 30"},
      {3, {"agentsim.cost_micros", "30", 0}, "says it cost -1 micro-dollars; priced, it is 30"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    fresh(1000000);
    span_of(at, bad[i].k, bad[i].with);
    feed(ORC_EV_SPAN, T1, 0, 0, NULL, &sp);
    expect_violation(ORC_CK_SPAN_USAGE, bad[i].needle);
  }
  /* Legal, and counted: an attribute without a key is no attribute; without a budget the
  ** usage costs 0. Not counted: a chat span with no usage (a failed call), an event
  ** without its span or a span without its name. */
  fresh(1000000);
  span_of(at, 0, (orc_span_attr){NULL, "stub-1", 0});
  orc_span_attr at6[6] = {{NULL, "x", 0}, at[1], at[2], at[3], {"gen_ai.request.model", "stub-1", 0}};
  orc_span keyless = {.name = "chat stub-1", .attrs = at6, .nattrs = 5};
  feed(ORC_EV_SPAN, T1, 0, 0, NULL, &keyless);
  orc_span failed = {.name = "chat stub-1", .attrs = at, .nattrs = 1};
  feed(ORC_EV_SPAN, T1, 0, 0, NULL, &failed);
  feed(ORC_EV_SPAN, T1, 0, 0, NULL, NULL);
  orc_span nameless = {.name = NULL, .attrs = at6, .nattrs = 5};
  feed(ORC_EV_SPAN, T1, 0, 0, NULL, &nameless);
  expect_ok();
  flush_answers();
  expect_violation(ORC_CK_LEDGER_MATCH, "comes to 30 micro-dollars over 1 chat spans; the ledger's LLM "
                   "records to 0");
  reset();
  span_of(at, 3, (orc_span_attr){"agentsim.cost_micros", NULL, 0});
  feed(ORC_EV_SPAN, T1, 0, 0, NULL, &sp);
  flush_answers();
  expect_ok();
  /* The spans and the ledger part ways after power loss, and while a record is in doubt. */
  fresh(1000000);
  span_of(at, 4, at[0]);
  feed(ORC_EV_SPAN, T1, 0, 0, NULL, &sp);
  power_loss();
  flush_answers();
  expect_ok();
  fresh(1000000);
  feed(ORC_EV_SPAN, T1, 0, 0, NULL, &sp);
  orc_op *run = begin_op(T1, SCN_OP_RUN, "s0");
  answered(T1, "s0", "a", 10, 0, 0, 0, 1);
  orc_row r = llm_rec(1, 10, 0, 0, 0, 30);
  row(T1, 1, &r);
  committing(T1, 1);
  rollback(T1, 1);
  run->outcome = ORC_RUN_FAILED;
  answer(T1, run, AS_IO);
  feed(ORC_EV_SPAN, T1, 0, 0, NULL, &sp); /* the second call's span; its record cut */
  flush_answers();
  expect_ok();
  /* The budget's state not there when the first span comes. */
  reset();
  fw_inject(FW_CALLOC, ENOMEM, 1);
  feed(ORC_EV_SPAN, T1, 0, 0, NULL, &sp);
  expect_harness("out of memory");
  fw_reset();
}

/* --- at quiescence ------------------------------------------------------------------ */

/* A settled cycle of b0 with one LLM record, and a tool record of s9 with no cycle. */
static void q_history(void) {
  fresh(1000000);
  orc_op *tr = trigger_reserves(T1, "b0", "b0:cycle-1", 100000);
  answered(T1, "b0", "a", 10, 0, 0, 0, 1);
  record(T1, cost_row("b0", "b0:cycle-1", 1, "llm_call", "stub-1", 10, 0, 0, 0, 0, "v1", 30));
  record(T1, close_row("b0:cycle-1", "b0", "settled", "completed", 30));
  accept_answer(T1, tr, "b0:cycle-1", 1000000, 100000, ORC_RUN_ENDED);
  orc_op *run = begin_op(T2, SCN_OP_RUN, "s9");
  exec_tool(T2, "s9", "repo:get", AS_OK);
  record(T2, cost_row("s9", "", 2, "tool_call", "repo:get", 0, 0, 0, 0, 0, "v1", 100));
  run_answers(T2, run, ORC_RUN_ENDED);
  expect_ok();
}

#define Q_REC1 "('" DAY "', 1, 'b0:cycle-1', 'llm_call', 'b0', 'a', 'stub-1', 30)"
#define Q_REC2 "('" DAY "', 2, '', 'tool_call', 's9', 'a', 'repo:get', 100)"
#define Q_RECS "INSERT INTO cost_records (day, seq, op_id, leaf, session_id, agent, name, cost_micros) VALUES "
#define Q_RESV "INSERT INTO budget_reservations (op_id, state, outcome, settled_micros) VALUES "

/* The budget's read of a database of schema and rows. */
static int q_read(const char *schema, const char *rows, char *msg, size_t cap) {
  assert_int_equal(sqlite3_open(":memory:", &DB), SQLITE_OK);
  db_exec(schema);
  db_exec(rows);
  msg[0] = '\0';
  int v = orc__budget_quiescence(O, DB, msg, cap);
  (void)sqlite3_close(DB); /* ignore: an in-memory database */
  DB = NULL;
  return v;
}

static void test_read_back(void **state) {
  (void)state;
  char msg[512];
  static const struct {
    const char *rows;
    int verdict;
    const char *needle;
  } cases[] = {
      {Q_RECS Q_REC1 "," Q_REC2 ";" Q_RESV "('b0:cycle-1', 'settled', 'completed', 30);", 0, ""},
      {Q_RECS Q_REC1 "," Q_REC2 ",('" DAY "', 3, '', 'tool_call', 's9', 'a', 'repo:get', 100);",
       SIM_INVARIANT, "spend-durable: at quiescence the ledger holds record " DAY " #3 (repo:get, 100 "
                      "micro-dollars), which was never committed"},
      {Q_RECS "('2026-01-02', 1, '', 'tool_call', 's9', 'a', 'repo:get', 100);", SIM_INVARIANT,
       "which was never committed"},
      {Q_RECS "('" DAY "', 1, 'b0:cycle-2', 'llm_call', 'b0', 'a', 'stub-1', 30);", SIM_INVARIANT,
       "#1 (stub-1, 30 micro-dollars), which was committed otherwise"},
      {Q_RECS "('" DAY "', 1, 'b0:cycle-1', 'tool_call', 'b0', 'a', 'stub-1', 30);", SIM_INVARIANT,
       "which was committed otherwise"},
      {Q_RECS "('" DAY "', 1, 'b0:cycle-1', 'llm_call', 'b1', 'a', 'stub-1', 30);", SIM_INVARIANT,
       "which was committed otherwise"},
      {Q_RECS "('" DAY "', 1, 'b0:cycle-1', 'llm_call', 'b0', 'a', 'stub-2', 30);", SIM_INVARIANT,
       "which was committed otherwise"},
      {Q_RECS "('" DAY "', 1, 'b0:cycle-1', 'llm_call', 'b0', 'a', 'stub-1', 31);", SIM_INVARIANT,
       "which was committed otherwise"},
      {Q_RECS Q_REC1 ";", SIM_INVARIANT, "ledger record " DAY " #2 (s9 repo:get, 100 micro-dollars) was "
                                         "committed, and is gone at quiescence"},
      {Q_RECS Q_REC1 "," Q_REC2 ";" Q_RESV "('b0:cycle-1', 'settled', 'completed', 30),"
       "('b0:cycle-2', 'open', '', 0);", SIM_INVARIANT,
       "at quiescence reservation b0:cycle-2 is open (, 0), which was never committed"},
      {Q_RECS Q_REC1 "," Q_REC2 ";" Q_RESV "('b0:cycle-1', 'open', '', 0);", SIM_INVARIANT,
       "reservation b0:cycle-1 is open (, 0), which is not what was committed"},
      {Q_RECS Q_REC1 "," Q_REC2 ";" Q_RESV "('b0:cycle-1', 'bogus', 'completed', 30);", SIM_INVARIANT,
       "which is not what was committed"},
      {Q_RECS Q_REC1 "," Q_REC2 ";" Q_RESV "('b0:cycle-1', 'settled', 'idle', 30);", SIM_INVARIANT,
       "which is not what was committed"},
      {Q_RECS Q_REC1 "," Q_REC2 ";" Q_RESV "('b0:cycle-1', 'settled', 'completed', 31);", SIM_INVARIANT,
       "which is not what was committed"},
      {Q_RECS Q_REC1 "," Q_REC2 ";", SIM_INVARIANT,
       "at quiescence the database holds 0 reservations; 1 were committed (1 of them for sure)"},
      /* The first row it cannot explain is the one reported. */
      {Q_RECS "('2025-12-31', 1, '', 'tool_call', 's9', 'a', 'repo:get', 100)," Q_REC1 "," Q_REC2 ";",
       SIM_INVARIANT, "record 2025-12-31 #1 (repo:get, 100 micro-dollars), which was never committed"},
      {Q_RECS Q_REC1 "," Q_REC2 ";" Q_RESV "('a0:cycle-1', 'open', '', 0), ('b0:cycle-1', 'settled', "
       "'completed', 30);", SIM_INVARIANT, "reservation a0:cycle-1 is open (, 0), which was never committed"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    q_history();
    int v = q_read(ORC_FEED_SCHEMA, cases[i].rows, msg, sizeof msg);
    if (v != cases[i].verdict || !strstr(msg, cases[i].needle))
      fail_msg("case %zu: verdict %d '%s', expected %d with '%s'", i, v, msg, cases[i].verdict,
               cases[i].needle);
  }
  /* A reservation read twice (a schema without its key): more rows than were committed. */
  q_history();
  assert_int_equal(q_read("CREATE TABLE cost_records (day TEXT, seq INTEGER, op_id TEXT, leaf TEXT,"
                          " session_id TEXT, agent TEXT, name TEXT, cost_micros INTEGER);"
                          "CREATE TABLE budget_reservations (op_id TEXT, state TEXT, outcome TEXT,"
                          " settled_micros INTEGER);",
                          Q_RECS Q_REC1 "," Q_REC2 ";" Q_RESV "('b0:cycle-1', 'settled', 'completed', 30),"
                          "('b0:cycle-1', 'settled', 'completed', 30);", msg, sizeof msg),
                   SIM_INVARIANT);
  assert_non_null(strstr(msg, "holds 2 reservations; 1 were committed"));
  /* The tables not there to read. */
  q_history();
  assert_int_equal(q_read("CREATE TABLE t (x);", "", msg, sizeof msg), SIM_HARNESS);
  assert_non_null(strstr(msg, "the oracle cannot read cost_records: no such table"));
  q_history();
  assert_int_equal(q_read("CREATE TABLE cost_records (day TEXT, seq INTEGER, op_id TEXT, leaf TEXT,"
                          " session_id TEXT, agent TEXT, name TEXT, cost_micros INTEGER);",
                          Q_RECS Q_REC1 "," Q_REC2 ";", msg, sizeof msg), SIM_HARNESS);
  assert_non_null(strstr(msg, "the oracle cannot read budget_reservations: no such table"));
  q_history();
  fw_inject(FW_CALLOC, ENOMEM, 1);
  assert_int_equal(q_read(ORC_FEED_SCHEMA, "", msg, sizeof msg), SIM_HARNESS);
  fw_reset();
  assert_non_null(strstr(msg, "the oracle cannot read cost_records (out of memory)"));
  /* No budget and nothing recorded: nothing to read (not even the tables). */
  reset();
  (void)begin_op(T1, SCN_OP_RUN, "s0");
  assert_int_equal(q_read("CREATE TABLE t (x);", "", msg, sizeof msg), 0);
  /* The spans' priced usage against the ledger, at the end too. */
  q_history();
  orc_span_attr at[4];
  span_of(at, 4, at[0]);
  orc_span sp = {.name = "chat stub-1", .attrs = at, .nattrs = 4};
  feed(ORC_EV_SPAN, T1, 0, 0, NULL, &sp);
  assert_int_equal(q_read(ORC_FEED_SCHEMA, cases[0].rows, msg, sizeof msg), 0);
  feed(ORC_EV_SPAN, T1, 0, 0, NULL, &sp);
  assert_int_equal(q_read(ORC_FEED_SCHEMA, cases[0].rows, msg, sizeof msg), SIM_INVARIANT);
  assert_non_null(strstr(msg, "ledger-match: the spans' usage, priced, comes to 60"));
}

/* Commits in doubt at quiescence: either way. */
static void test_read_doubt(void **state) {
  (void)state;
  char msg[512];
  /* A close that failed after its commit point: open or settled, nothing else. */
  static const struct {
    const char *rows;
    int verdict;
  } close_doubt[] = {
      {Q_RESV "('b0:cycle-1', 'open', '', 0);", 0},
      {Q_RESV "('b0:cycle-1', 'settled', 'completed', 0);", 0},
      {Q_RESV "('b0:cycle-1', 'released', 'idle', 0);", SIM_INVARIANT},
      {Q_RESV "('b0:cycle-1', 'open', 'idle', 0);", SIM_INVARIANT},
  };
  for (size_t i = 0; i < sizeof close_doubt / sizeof close_doubt[0]; i++) {
    fresh(1000000);
    (void)trigger_reserves(T1, "b0", "b0:cycle-1", 100000);
    orc_op *st = begin_op(T2, SCN_OP_SETTLE, "b0");
    orc_row r = close_row("b0:cycle-1", "b0", "settled", "completed", 0);
    row(T2, 2, &r);
    committing(T2, 2);
    rollback(T2, 2);
    answer(T2, st, AS_IO);
    expect_ok();
    assert_int_equal(q_read(ORC_FEED_SCHEMA, close_doubt[i].rows, msg, sizeof msg), close_doubt[i].verdict);
  }
  /* A reservation whose insert is in doubt: there or not, and open is fine. */
  for (int k = 0; k < 2; k++) {
    reset();
    budget_on(1000000);
    create("s0");
    conn(1);
    orc_op *tr = begin_op(T1, SCN_OP_TRIGGER, "s0");
    orc_row r = resv_row(ORC_INSERT, "s0:cycle-1", "s0", 100000, "open", "open", "", 0);
    row(T1, 1, &r);
    committing(T1, 1);
    rollback(T1, 1);
    answer(T1, tr, AS_IO);
    expect_ok();
    assert_int_equal(q_read(ORC_FEED_SCHEMA, k ? Q_RESV "('s0:cycle-1', 'open', '', 0);" : "", msg,
                            sizeof msg),
                     0);
  }
  /* Open at the end: a cycle paused for its approval (its outcome NULL, read as ""), a
  ** session the model never heard of; two of sessions not waiting, the first reported. */
  paused_s0();
  assert_int_equal(q_read(ORC_FEED_SCHEMA, Q_RESV "('s0:cycle-1', 'open', NULL, 0);", msg, sizeof msg), 0);
  fresh(1000000);
  (void)trigger_reserves(T1, "b0", "b0:cycle-1", 100000);
  assert_int_equal(q_read(ORC_FEED_SCHEMA, Q_RESV "('b0:cycle-1', 'open', '', 0);", msg, sizeof msg), 0);
  reset();
  budget_on(1000000);
  create("s0");
  create("s1");
  conn(1);
  (void)trigger_reserves(T1, "s0", "s0:cycle-1", 100000);
  (void)trigger_reserves(T2, "s1", "s1:cycle-1", 100000);
  assert_int_equal(q_read(ORC_FEED_SCHEMA, Q_RESV "('s0:cycle-1', 'open', '', 0), ('s1:cycle-1', 'open', '', 0);",
                          msg, sizeof msg),
                   SIM_INVARIANT);
  assert_non_null(strstr(msg, "budget-quiesce: at quiescence reservation s0:cycle-1 is open, and s0 is new"));
  /* ... but not while its session's state is in doubt: a commit in flight, or cut by power loss. */
  for (int k = 0; k < 2; k++) {
    reset();
    budget_on(1000000);
    create("s0");
    conn(1);
    conn(2);
    (void)trigger_reserves(T1, "s0", "s0:cycle-1", 100000);
    (void)write_rows(T2, 2, "s0", "new", 1, "{}", "{\"w\":1}");
    committing(T2, 2);
    if (k) power_loss();
    assert_int_equal(q_read(ORC_FEED_SCHEMA, Q_RESV "('s0:cycle-1', 'open', '', 0);", msg, sizeof msg), 0);
  }
  /* Without a budget a reservation (of nothing, within a limit of nothing) is read back too. */
  reset();
  conn(1);
  (void)trigger_reserves(T1, "b0", "b0:cycle-1", 0);
  expect_ok();
  assert_int_equal(q_read(ORC_FEED_SCHEMA, "", msg, sizeof msg), SIM_INVARIANT);
  assert_non_null(strstr(msg, "holds 0 reservations; 1 were committed"));
  /* No budget, and no operation ever: nothing to read. */
  reset();
  assert_int_equal(q_read("CREATE TABLE t (x);", "", msg, sizeof msg), 0);
}

/* --- the oracle's memory under a budget history ------------------------------------ */

static void budget_history(void) {
  char err[256];
  if (orc_set_budget_text(O, 1000000, 100000, PRICES, strlen(PRICES), "p.json", err, sizeof err) != AS_OK)
    return;
  conn(1);
  orc_op *tr = trigger_reserves(T1, "b0", "b0:cycle-1", 100000);
  answered(T1, "b0", "a", 10, 0, 0, 0, 1);
  record(T1, cost_row("b0", "b0:cycle-1", 1, "llm_call", "stub-1", 10, 0, 0, 0, 0, "v1", 30));
  record(T1, close_row("b0:cycle-1", "b0", "settled", "completed", 30));
  accept_answer(T1, tr, "b0:cycle-1", 1000000, 100000, ORC_RUN_ENDED);
}

/* Every allocation of the history and its read, failed in turn (transient, then
** persistent): each a harness error saying so, never a check's violation; nothing leaks. */
static void test_oom(void **state) {
  (void)state;
  orc_free(O);
  O = NULL;
  for (int persistent = 0; persistent < 2; persistent++) {
    unsigned long n;
    for (n = 1;; n++) {
      size_t live = fw_live_blocks();
      STEP = 0;
      fw_countdown(FW_ALLOC, n, ENOMEM, persistent);
      int rc = orc_new(&O, NULL, 0);
      char msg[512] = "";
      int v = 0;
      if (rc == AS_OK) {
        budget_history();
        if (!orc_violation(O))
          v = q_read(ORC_FEED_SCHEMA, Q_RECS Q_REC1 ";" Q_RESV "('b0:cycle-1', 'settled', 'completed', 30);",
                     msg, sizeof msg);
      }
      int fired = fw_fired();
      fw_disarm();
      if (rc != AS_OK) {
        assert_int_equal(rc, AS_NOMEM);
      } else {
        const char *bad = orc_violation(O);
        if (!fired && (bad || v)) fail_msg("n=%lu, nothing failed: %s", n, bad ? bad : msg);
        if (fired && bad && (orc_violated_check(O) != ORC__CK_COUNT || !strstr(bad, "out of memory")))
          fail_msg("n=%lu: '%s' is not the oracle losing track for memory", n, bad);
        if (fired && !bad && (v != SIM_HARNESS || !strstr(msg, "out of memory")))
          fail_msg("n=%lu failed and nobody said so (verdict %d '%s')", n, v, msg);
        orc_free(O);
        O = NULL;
      }
      if (fw_live_blocks() != live) fail_msg("n=%lu: %zu blocks leaked", n, fw_live_blocks() - live);
      if (!fired) break;
    }
    assert_true(n > 10);
  }
  assert_int_equal(orc_new(&O, NULL, 0), AS_OK); /* for the teardown */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_prices, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cycle, setup, teardown),
      cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_records, setup, teardown),
      cmocka_unit_test_setup_teardown(test_closing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_answers_and_spans, setup, teardown),
      cmocka_unit_test_setup_teardown(test_price_tables, setup, teardown),
      cmocka_unit_test_setup_teardown(test_days, setup, teardown),
      cmocka_unit_test_setup_teardown(test_costs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_leaves, setup, teardown),
      cmocka_unit_test_setup_teardown(test_scope, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reserve, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_rows, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_doubt, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_endings, setup, teardown),
      cmocka_unit_test_setup_teardown(test_trigger_answers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_settle_answers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_scrapes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_span_corners, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_back, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_doubt, setup, teardown),
      cmocka_unit_test_setup_teardown(test_oom, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

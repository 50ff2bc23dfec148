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

/* A trigger of sid by task t reserving est (the operation left open). */
static orc_op *trigger_reserves(uint32_t t, const char *sid, const char *opid, int64_t est) {
  static orc_op tr;
  tr = *op(t, SCN_OP_TRIGGER, sid);
  tr.estimate = est == 100000 ? 0 : est;
  begin(t, &tr);
  orc_row r = resv_row(ORC_INSERT, opid, sid, est, "open", "open", "", 0);
  row(t, 1, &r);
  commit(t, 1);
  return &tr;
}

static void answered(uint32_t t, const char *sid, const char *agent, int64_t prompt, int64_t cr,
                     int64_t cw, int64_t completion, int known) {
  orc_llm_answer a = {.session = sid, .agent = agent, .model = "stub-1", .call = 1, .attempt = 1,
                      .rc = AS_OK, .usage_known = known, .prompt = prompt, .cache_read = cr,
                      .cache_write = cw, .completion = completion};
  feed(ORC_EV_LLM_ANSWER, t, 0, 0, NULL, &a);
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_prices, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cycle, setup, teardown),
      cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_records, setup, teardown),
      cmocka_unit_test_setup_teardown(test_closing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_answers_and_spans, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

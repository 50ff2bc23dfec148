/*
** test_budget.c -- the ledger, prices and the daily budget (budget.h): money
** and days, the price table and its errors, the cost formula, the edge's
** usage conversion, reservations (reserve, settle, release, recover, the
** day key), the status, and cycles end to end through as_trigger with a
** provider of the test's own; then every allocation and SQLite call failing
** in turn, and the mutants' branches (the _mut build).
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "agentsim/app.h"
#include "agentsim/budget.h"
#include "agentsim/events.h"
#include "agentsim/locks.h"
#include "agentsim/mutant.h"
#include "agentsim/retry.h"
#include "agentsim/seam.h"
#include "agentsim/store.h"
#include "agentsim/turn.h"
#include "coretest.h"
#include "faultwrap.h"
#include "sqlwrap.h"

#define SEC 1000000000ll
#define DAY (86400ll * SEC)
/* 2026-12-01T23:59:50Z */
#define LATE (((int64_t)20788 * 86400 + 86390) * SEC)

static const char APP_YAML[] =
    "name: b\n"
    "entry: a\n"
    "rosters:\n"
    "  envs: [dev, prod]\n"
    "fields:\n"
    "  env: {type: string, roster: envs, default: prod}\n"
    "gate: {environment_field: env, production: [prod], gated_risk: high, min_confidence: 0.4}\n"
    "servers:\n"
    "  srv:\n"
    "    tools:\n"
    "      low:\n"
    "        description: a harmless tool\n"
    "        risk: low\n"
    "      high:\n"
    "        description: a gated tool\n"
    "        risk: high\n"
    "agents:\n"
    "  a:\n"
    "    prompt: prompts/a.md\n"
    "    tools: [srv:low, srv:high, mark_resolved]\n"
    "    max_calls: 6\n"
    "    routes: {default: end}\n";

static const char PRICES[] =
    "{\"version\": \"t-1\", \"tool_call\": \"0.000100\",\n"
    " \"models\": [\n"
    "  {\"model\": \"m-exact\", \"input\": \"2.50\", \"cache_read\": \"1.25\",\n"
    "   \"cache_write\": \"3.75\", \"output\": \"10\"},\n"
    "  {\"model\": \"m-*\", \"input\": \"1\", \"cache_read\": \"0.1\", \"cache_write\": \"0\",\n"
    "   \"output\": \"2\"}]}";

static ct_dir D;
static as_store *ST;
static as_lock_registry *REG;
static as_app *APP;
static as_prices P;
static as_budget_cfg CFG;

/* --- the provider ----------------------------------------------------------------- */

typedef enum fp_kind { FP_END, FP_LOW, FP_HIGH, FP_TIMEOUT, FP_NOUSAGE } fp_kind;

static struct {
  fp_kind plan[8];
  size_t nplan;
  unsigned calls;
  int64_t prompt, cache_read, cache_write, completion; /* what it reports */
} FP;

static char *dup_text(const char *t) {
  size_t n = strlen(t) + 1;
  char *p = as_malloc(n);
  if (p) memcpy(p, t, n);
  return p;
}

static int add_call(as_llm_response *out, const char *name) {
  out->calls = as_calloc(1, sizeof *out->calls);
  if (!out->calls) return AS_NOMEM;
  snprintf(out->calls[0].id, sizeof out->calls[0].id, "c0");
  snprintf(out->calls[0].name, sizeof out->calls[0].name, "%s", name);
  out->calls[0].args = dup_text("{}");
  out->ncalls = 1;
  out->finish = AS_LLM_FINISH_TOOL_CALLS;
  return out->calls[0].args ? AS_OK : AS_NOMEM;
}

static int fp_complete(void *self, const as_llm_request *req, as_llm_response *out,
                       as_llm_error *err) {
  (void)self;
  FP.calls++;
  fp_kind k = FP.nplan ? FP.plan[FP.calls - 1 < FP.nplan ? FP.calls - 1 : FP.nplan - 1] : FP_END;
  if (req->nmsgs > 0 && req->msgs[req->nmsgs - 1].role == AS_LLM_TOOL) k = FP_END;
  int rc = as_llm_usage_from_inclusive(FP.prompt, FP.cache_read, FP.cache_write, FP.completion,
                                       &out->usage);
  if (rc != AS_OK) return rc;
  out->usage_known = k != FP_NOUSAGE;
  if (!out->usage_known) memset(&out->usage, 0, sizeof out->usage);
  switch (k) {
  case FP_TIMEOUT:
    memset(&out->usage, 0, sizeof out->usage);
    out->usage_known = false;
    err->kind = AS_LLM_ERR_TIMEOUT;
    snprintf(err->message, sizeof err->message, "no answer in time");
    return AS_TIMEDOUT;
  case FP_LOW: return add_call(out, "srv:low");
  case FP_HIGH: return add_call(out, "srv:high");
  default:
    out->structured = dup_text("{\"content\": \"done\", \"confidence\": 0.8, \"rationale\": \"r\"}");
    out->finish = AS_LLM_FINISH_STOP;
    return out->structured ? AS_OK : AS_NOMEM;
  }
}

static void fp_destroy(void *self) { (void)self; }
static const as_llm_vtable FP_VT = {"fp", fp_complete, fp_destroy};
static as_llm LLM = {&FP_VT, NULL, 0, "m-exact"};

static as_runs *RUNS;
static bool cancel_in_exec;

static int exec_fn(void *ctx, const char *sid, const as_app_tool *t, const char *args, char **out) {
  (void)ctx;
  (void)t;
  (void)args;
  if (cancel_in_exec) {
    cancel_in_exec = false;
    as_runtime r = {.runs = RUNS};
    as_cancel_answer ca;
    int rc = as_cancel_session(&r, sid, &ca);
    if (rc != AS_OK || ca != AS_CANCEL_STOPPING) return AS_INTERNAL;
  }
  *out = dup_text("{\"done\": 1}");
  return *out ? AS_OK : AS_NOMEM;
}

/* --- spans, kept by a sink of the test's own ------------------------------------------ */

#define SPANS_MAX 64
static struct {
  char name[SPANS_MAX][AS_SPAN_NAME_MAX];
  bool usage[SPANS_MAX];
  int64_t input[SPANS_MAX];
  char op[SPANS_MAX][AS_OP_ID_MAX];
  bool root[SPANS_MAX];
  size_t n;
} SP;

/* The attribute key of sp (the test's own reading, not trace.c's). */
static const as_span_attr *attr_of(const as_span *sp, const char *key) {
  for (size_t i = 0; i < sp->nattrs; i++)
    if (strcmp(sp->attrs[i].key, key) == 0) return &sp->attrs[i];
  return NULL;
}

static void sink(void *self, const as_span *sp) {
  (void)self;
  if (SP.n == SPANS_MAX) return;
  snprintf(SP.name[SP.n], sizeof SP.name[0], "%s", sp->name);
  const as_span_attr *in = attr_of(sp, "gen_ai.usage.input_tokens");
  SP.usage[SP.n] = in && !in->s;
  SP.input[SP.n] = in ? in->i : 0;
  const as_span_attr *op = attr_of(sp, "operation.id");
  snprintf(SP.op[SP.n], sizeof SP.op[0], "%s", op && op->s ? op->s : "");
  static const uint8_t zero[8];
  SP.root[SP.n] = memcmp(sp->parent_id, zero, sizeof zero) == 0;
  SP.n++;
}

static const as_tracer TRACER = {sink, NULL};

static as_runtime rt(void) {
  return (as_runtime){.st = ST,
                      .locks = REG,
                      .app = APP,
                      .llm = &LLM,
                      .exec = exec_fn,
                      .runs = RUNS,
                      .budget = &CFG,
                      .tracer = &TRACER};
}

/* --- fixtures --------------------------------------------------------------------- */

static int setup(void **state) {
  (void)state;
  fw_reset();
  sw_reset();
  ct_hooks_install(true);
  ct_h.wall_ns = LATE - 3600 * SEC;
  ct_dir_make(&D);
  ST = ct_open(&D, "t.db", "wal", 0);
  as_app_diag *diag = calloc(1, sizeof *diag);
  int rc = as_app_load_text(APP_YAML, sizeof APP_YAML - 1, "app.yaml", D.path, AS_APP_NO_PROMPTS,
                            &APP, diag);
  if (rc != AS_OK)
    fail_msg("app: %u:%u: %s", diag->items[0].line, diag->items[0].column, diag->items[0].message);
  free(diag);
  char err[256];
  rc = as_prices_parse(PRICES, sizeof PRICES - 1, "prices.json", &P, err, sizeof err);
  if (rc != AS_OK) fail_msg("prices: %s", err);
  CFG = (as_budget_cfg){.daily_limit_micros = 1000000, .cycle_estimate_micros = 150000,
                        .prices = &P};
  memset(&FP, 0, sizeof FP);
  memset(&SP, 0, sizeof SP);
  cancel_in_exec = false;
  FP.prompt = 1000;
  FP.completion = 100;
  LLM.model = "m-exact";
  if (as_locks_new(&REG, 0) != AS_OK || as_runs_new(&RUNS, 0) != AS_OK) return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  fw_reset();
  sw_reset();
#ifdef AS_WITH_MUTANTS
  assert_int_equal(as_mutant_set(NULL), AS_OK);
#endif
  assert_int_equal(as_locks_size(REG), 0);
  as_runs_free(RUNS);
  as_app_free(APP);
  as_locks_free(REG);
  as_store_close(ST);
  ct_dir_remove(&D);
  (void)as_platform_set(&as_platform_posix);
  return 0;
}

static void start(const char *id) {
  as_runtime r = rt();
  assert_int_equal(as_session_start(&r, id, NULL), AS_OK);
}

static int64_t q64(const char *sql) {
  sqlite3 *raw = ct_raw_open(&D, "t.db");
  sqlite3_stmt *q;
  assert_int_equal(sqlite3_prepare_v2(raw, sql, -1, &q, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  ct_raw_close(raw);
  return v;
}

static void qtext(const char *sql, char *buf, size_t cap) {
  sqlite3 *raw = ct_raw_open(&D, "t.db");
  sqlite3_stmt *q;
  assert_int_equal(sqlite3_prepare_v2(raw, sql, -1, &q, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(q, 0));
  sqlite3_finalize(q);
  ct_raw_close(raw);
}

static as_budget_status status(void) {
  as_budget_status s;
  assert_int_equal(as_budget_status_get(ST, &CFG, &s), AS_OK);
  return s;
}

/* --- money, days, prices, costs ------------------------------------------------------ */

static void test_money(void **state) {
  (void)state;
  int64_t v = 0;
  assert_int_equal(as_money_parse("5", &v), AS_OK);
  assert_int_equal(v, 5000000);
  assert_int_equal(as_money_parse("0.000001", &v), AS_OK);
  assert_int_equal(v, 1);
  assert_int_equal(as_money_parse("12.5", &v), AS_OK);
  assert_int_equal(v, 12500000);
  assert_int_equal(as_money_parse("1000000000", &v), AS_OK);
  assert_int_equal(v, AS_MONEY_MAX);
  static const char *const bad[] = {"",     "-1",   "+1",  ".5",   "1.",        "1.0000001",
                                    "1e3",  "1,5",  " 1",  "1 ",   "1000000000.000001",
                                    "99999999999999999999", "0x10", "1..2",
                                    "1.a",  "10000000000"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (as_money_parse(bad[i], &v) != AS_PARSE) fail_msg("\"%s\" accepted", bad[i]);
  assert_int_equal(as_money_parse(NULL, &v), AS_INVAL);
  assert_int_equal(as_money_parse("1", NULL), AS_INVAL);
  char buf[32];
  as_money_cents(buf, sizeof buf, 49999, false);
  assert_string_equal(buf, "$0.04");
  as_money_cents(buf, sizeof buf, 49999, true);
  assert_string_equal(buf, "$0.05");
  as_money_cents(buf, sizeof buf, 150000, true);
  assert_string_equal(buf, "$0.15");
  as_money_cents(buf, sizeof buf, -5, false);
  assert_string_equal(buf, "$0.00");
  as_money_cents(buf, sizeof buf, 1234567890, false);
  assert_string_equal(buf, "$1234.56");
}

static void test_days(void **state) {
  (void)state;
  char d[AS_DAY_LEN + 1];
  as_utc_day(0, d);
  assert_string_equal(d, "1970-01-01");
  as_utc_day(-1, d);
  assert_string_equal(d, "1969-12-31");
  as_utc_day(LATE, d);
  assert_string_equal(d, "2026-12-01");
  as_utc_day(LATE + 10 * SEC, d);
  assert_string_equal(d, "2026-12-02");
  as_utc_day(LATE + 10 * SEC - 1, d);
  assert_string_equal(d, "2026-12-01");
  as_utc_day((int64_t)951782400 * SEC, d); /* 2000-02-29 */
  assert_string_equal(d, "2000-02-29");
  as_utc_day((int64_t)4107542400ll * SEC, d); /* 2100-03-01 (2100 is no leap year) */
  assert_string_equal(d, "2100-03-01");
  as_utc_day(INT64_MIN, d);
  assert_int_equal(strlen(d), AS_DAY_LEN);
  as_utc_day(INT64_MAX, d);
  assert_string_equal(d, "2262-04-11");
}

static void bad_prices(const char *text, const char *want) {
  as_prices p;
  memset(&p, 0x5a, sizeof p);
  as_prices before = p;
  char err[256];
  int rc = as_prices_parse(text, strlen(text), "p.json", &p, err, sizeof err);
  if (rc != AS_PARSE) fail_msg("%s: %s, not AS_PARSE", text, as_status_name(rc));
  if (!strstr(err, want)) fail_msg("%s: \"%s\" lacks \"%s\"", text, err, want);
  assert_true(strncmp(err, "p.json: ", 8) == 0);
  assert_memory_equal(&p, &before, sizeof p); /* nothing half-written */
}

static void test_prices(void **state) {
  (void)state;
  assert_string_equal(P.version, "t-1");
  assert_int_equal(P.tool_call_micros, 100);
  assert_int_equal(P.n, 2);
  assert_int_equal(P.models[0].input, 2500000);
  assert_int_equal(P.models[0].cache_write, 3750000);
  assert_ptr_equal(as_prices_find(&P, "m-exact"), &P.models[0]);
  assert_ptr_equal(as_prices_find(&P, "m-other"), &P.models[1]);
  assert_ptr_equal(as_prices_find(&P, "m-"), &P.models[1]);
  assert_null(as_prices_find(&P, "gpt"));
  assert_null(as_prices_find(&P, NULL));
  assert_null(as_prices_find(NULL, "m-exact"));
  bad_prices("{", "line 1, column");
  bad_prices("[]", "must be a JSON object");
  bad_prices("{\"version\": \"v\", \"models\": [], \"x\": 1}", "unknown key \"x\"");
  bad_prices("{\"models\": []}", "\"version\" must be a string");
  bad_prices("{\"version\": \"v\", \"models\": []}", "\"models\" must be an array of 1 to");
  bad_prices("{\"version\": \"v\", \"tool_call\": 1, \"models\": []}", "\"tool_call\" must be a");
  bad_prices("{\"version\": \"v\", \"models\": [1]}", "models[0] must be an object");
  bad_prices("{\"version\": \"v\", \"models\": [{\"model\": \"m\", \"input\": \"1\"}]}",
             "models[0]: \"cache_read\" is missing");
  bad_prices("{\"version\": \"v\", \"models\": [{\"model\": \"\", \"input\": \"1\"}]}",
             "models[0]: \"model\" must be a string");
  bad_prices("{\"version\": \"v\", \"models\": [{\"model\": \"m\", \"input\": \"1001\","
             " \"cache_read\": \"0\", \"cache_write\": \"0\", \"output\": \"0\"}]}",
             "models[0]: \"input\" must be a dollar amount");
  bad_prices("{\"version\": \"v\", \"models\": [{\"model\": \"m\", \"inputs\": \"1\"}]}",
             "models[0]: unknown key \"inputs\"");
  bad_prices("{\"version\": \"v\", \"version\": \"w\", \"models\": []}", "duplicate");
  char big[AS_PRICES_FILE_MAX + 2];
  memset(big, ' ', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  bad_prices(big, "more than the");
  /* From a file; a missing file names its path. */
  char path[256], err[256];
  ct_path(path, sizeof path, &D, "prices.json");
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(PRICES, f);
  assert_int_equal(fclose(f), 0);
  as_prices p;
  assert_int_equal(as_prices_load(path, &p, err, sizeof err), AS_OK);
  assert_memory_equal(&p, &P, sizeof p);
  assert_int_equal(unlink(path), 0);
  assert_int_not_equal(as_prices_load(path, &p, err, sizeof err), AS_OK);
  assert_non_null(strstr(err, path));
  /* The bundled table parses. */
  assert_int_equal(as_prices_load(AS_SOURCE_DIR "/fixtures/prices/default.json", &p, err,
                                  sizeof err),
                   AS_OK);
  assert_non_null(as_prices_find(&p, "stub-1"));
}

static void test_costs(void **state) {
  (void)state;
  as_cost_usage u = {1000, 200, 40, 100};
  int64_t c = 0;
  assert_int_equal(as_cost_micros(&P.models[0], &u, &c), AS_OK);
  /* 1000*2.5 + 200*1.25 + 40*3.75 + 100*10 = 2500 + 250 + 150 + 1000 = 3900 micro */
  assert_int_equal(c, 3900);
  u = (as_cost_usage){1, 0, 0, 0};
  assert_int_equal(as_cost_micros(&P.models[0], &u, &c), AS_OK);
  assert_int_equal(c, 3); /* 2.5 rounded up: never under-billed */
  u = (as_cost_usage){0, 0, 0, 0};
  assert_int_equal(as_cost_micros(&P.models[0], &u, &c), AS_OK);
  assert_int_equal(c, 0);
  u = (as_cost_usage){AS_TOKENS_MAX, AS_TOKENS_MAX, AS_TOKENS_MAX, AS_TOKENS_MAX};
  as_price top = {"x", AS_PRICE_MAX, AS_PRICE_MAX, AS_PRICE_MAX, AS_PRICE_MAX};
  assert_int_equal(as_cost_micros(&top, &u, &c), AS_OK);
  assert_int_equal(c, 4 * AS_TOKENS_MAX * (AS_PRICE_MAX / 1000000));
  u.output = AS_TOKENS_MAX + 1;
  assert_int_equal(as_cost_micros(&top, &u, &c), AS_INVAL);
  u.output = -1;
  assert_int_equal(as_cost_micros(&top, &u, &c), AS_INVAL);
  assert_int_equal(as_cost_micros(NULL, &u, &c), AS_INVAL);
  assert_int_equal(as_cost_micros(&top, NULL, &c), AS_INVAL);
  assert_int_equal(as_cost_micros(&top, &u, NULL), AS_INVAL);
  as_cost_usage badu[] = {{-1, 0, 0, 0}, {0, -1, 0, 0}, {0, 0, AS_TOKENS_MAX + 1, 0}};
  for (size_t i = 0; i < 3; i++) assert_int_equal(as_cost_micros(&top, &badu[i], &c), AS_INVAL);
  /* The edge: inclusive counts in, exclusive buckets out. */
  as_llm_usage lu;
  assert_int_equal(as_llm_usage_from_inclusive(1000, 800, 50, 70, &lu), AS_OK);
  assert_int_equal(lu.input_tokens, 150);
  assert_int_equal(lu.cache_read_tokens, 800);
  assert_int_equal(lu.cache_write_tokens, 50);
  assert_int_equal(lu.output_tokens, 70);
  assert_int_equal(as_llm_usage_from_inclusive(100, 101, 0, 0, &lu), AS_PARSE);
  assert_int_equal(as_llm_usage_from_inclusive(100, 60, 41, 0, &lu), AS_PARSE);
  assert_int_equal(as_llm_usage_from_inclusive(-1, 0, 0, 0, &lu), AS_PARSE);
  assert_int_equal(as_llm_usage_from_inclusive(1, 0, 0, -1, &lu), AS_PARSE);
  assert_int_equal(as_llm_usage_from_inclusive(1, -1, 0, 0, &lu), AS_PARSE);
  assert_int_equal(as_llm_usage_from_inclusive(1, 0, -1, 0, &lu), AS_PARSE);
  assert_int_equal(as_llm_usage_from_inclusive(1, 0, 0, 0, NULL), AS_INVAL);
}

/* --- reservations ---------------------------------------------------------------------- */

static as_trigger_answer reserve(const char *id, int64_t estimate, bool want) {
  as_trigger_answer a;
  assert_int_equal(as_budget_reserve(ST, &CFG, id, estimate, &a), AS_OK);
  if (a.triggered != want) fail_msg("reserve %s: %s (%s)", id, a.reason, a.message);
  return a;
}

static void test_reserve(void **state) {
  (void)state;
  start("s1");
  start("s2");
  start("s3");
  as_trigger_answer a = reserve("s1", 0, true);
  assert_string_equal(a.op_id, "s1:cycle-1");
  assert_string_equal(a.day, "2026-12-01");
  assert_int_equal(a.need_micros, 150000);
  assert_int_equal(a.remaining_micros, 1000000);
  /* One open cycle per session. */
  as_trigger_answer b = reserve("s1", 0, false);
  assert_int_equal(b.refusal, AS_TRIGGER_ACTIVE);
  assert_string_equal(b.reason, "cycle_in_progress");
  assert_string_equal(b.op_id, "s1:cycle-1");
  /* Up to the limit exactly, and not a micro-dollar past it. */
  reserve("s2", 850000, true);
  b = reserve("s3", 1, false);
  assert_int_equal(b.refusal, AS_TRIGGER_BUDGET);
  assert_string_equal(b.reason, "budget_exhausted");
  assert_string_equal(b.message, "Daily budget exhausted: $0.00 remaining, need $0.01");
  assert_int_equal(b.remaining_micros, 0);
  as_event_list l = {0};
  assert_int_equal(as_event_read(ST, "s3", 0, 64, &l), AS_OK);
  bool seen = false;
  for (size_t i = 0; i < l.n; i++)
    if (strcmp(l.items[i].kind, AS_EVENT_BUDGET_REJECTED) == 0) {
      seen = true;
      assert_string_equal(l.items[i].payload,
                          "{\"reason\":\"budget_exhausted\",\"remaining_micros\":0,\"need_micros\":1}");
    }
  as_event_list_clear(&l);
  assert_true(seen);
  as_budget_status s = status();
  assert_string_equal(s.date, "2026-12-01");
  assert_int_equal(s.reserved_micros, 1000000);
  assert_int_equal(s.remaining_micros, 0);
  assert_int_equal(s.open_reservations, 2);
  /* A record under s1's cycle shrinks its hold by as much: counted once. */
  as_cost_record rec = {.leaf = AS_LEAF_LLM, .session_id = "s1", .agent = "a", .name = "m-exact",
                        .price_version = "t-1", .cost_micros = 40000, .at_ns = LATE};
  assert_int_equal(as_ledger_record(ST, &rec), AS_OK);
  assert_string_equal(rec.op_id, "s1:cycle-1");
  assert_string_equal(rec.day, "2026-12-01");
  assert_int_equal(rec.seq, 1);
  s = status();
  assert_int_equal(s.spent_micros, 40000);
  assert_int_equal(s.reserved_micros, 960000);
  assert_int_equal(s.spend_events, 1);
  /* Settle: the cycle's cost is what it settled at; again: nothing. */
  bool changed = false;
  assert_int_equal(as_budget_settle(ST, "s1:cycle-1", &changed), AS_OK);
  assert_true(changed);
  assert_int_equal(q64("SELECT settled_micros FROM budget_reservations WHERE op_id='s1:cycle-1'"),
                   40000);
  assert_int_equal(as_budget_settle(ST, "s1:cycle-1", &changed), AS_OK);
  assert_false(changed);
  assert_int_equal(as_budget_release(ST, "s1:cycle-1", "failed", &changed), AS_OK);
  assert_false(changed);
  assert_int_equal(q64("SELECT settled_micros FROM budget_reservations WHERE op_id='s1:cycle-1'"),
                   40000);
  assert_int_equal(as_budget_settle(ST, "nope", &changed), AS_NOTFOUND);
  assert_int_equal(as_budget_release(ST, "s1:cycle-1", "", &changed), AS_INVAL);
  s = status();
  assert_int_equal(s.remaining_micros, 1000000 - 40000 - 850000);
  assert_int_equal(s.cycles_affordable, 0);
  /* A second cycle of s1 gets the next number. */
  ct_h.wall_ns += 60 * SEC;
  a = reserve("s1", 100000, true);
  assert_string_equal(a.op_id, "s1:cycle-2");
  /* Release with an outcome. */
  assert_int_equal(as_budget_release(ST, "s1:cycle-2", "cancelled", &changed), AS_OK);
  assert_true(changed);
  char out[32];
  qtext("SELECT state || '/' || outcome FROM budget_reservations WHERE op_id='s1:cycle-2'", out,
        sizeof out);
  assert_string_equal(out, "released/cancelled");
  /* Bad arguments; no such session. */
  assert_int_equal(as_budget_reserve(ST, &CFG, "zz", 0, &a), AS_NOTFOUND);
  assert_false(a.triggered);
  assert_int_equal(as_budget_reserve(ST, &CFG, "s1", -1, &a), AS_INVAL);
  as_budget_cfg bad = CFG;
  bad.cycle_estimate_micros = 0;
  assert_int_equal(as_budget_reserve(ST, &bad, "s1", 0, &a), AS_INVAL);
  assert_int_equal(as_budget_status_get(ST, &bad, &s), AS_INVAL);
  char op[AS_OP_ID_MAX];
  assert_int_equal(as_budget_open_of(ST, "s2", op, sizeof op), AS_OK);
  assert_string_equal(op, "s2:cycle-1");
  assert_int_equal(as_budget_open_of(ST, "s1", op, sizeof op), AS_OK);
  assert_string_equal(op, "");
  assert_int_equal(as_budget_open_of(ST, "s1", op, 0), AS_INVAL);
}

/* The day is the key: a cycle that crosses midnight bills the day it
** reserved against; the new day starts empty. */
static void test_days_key(void **state) {
  (void)state;
  ct_h.wall_ns = LATE;
  start("s1");
  start("s2");
  reserve("s1", 900000, true);
  reserve("s2", 200000, false);
  ct_h.wall_ns = LATE + 20 * SEC; /* 2026-12-02 */
  as_cost_record rec = {.leaf = AS_LEAF_LLM, .session_id = "s1", .agent = "a", .name = "m-exact",
                        .price_version = "t-1", .cost_micros = 500000, .at_ns = LATE + 20 * SEC};
  assert_int_equal(as_ledger_record(ST, &rec), AS_OK);
  assert_string_equal(rec.day, "2026-12-01");
  as_budget_status s = status();
  assert_string_equal(s.date, "2026-12-02");
  assert_int_equal(s.spent_micros, 0);
  assert_int_equal(s.reserved_micros, 0);
  assert_int_equal(s.remaining_micros, 1000000);
  assert_int_equal(s.cycles_affordable, 6);
  as_trigger_answer a = reserve("s2", 200000, true);
  assert_string_equal(a.day, "2026-12-02");
  /* A record outside any cycle bills its own day. */
  as_cost_record lone = {.leaf = AS_LEAF_TOOL, .session_id = "s9", .agent = "a", .name = "srv:low",
                         .cost_micros = 100, .at_ns = LATE + 30 * SEC};
  assert_int_equal(as_ledger_record(ST, &lone), AS_OK);
  assert_string_equal(lone.op_id, "");
  assert_string_equal(lone.day, "2026-12-02");
  assert_int_equal(lone.seq, 1);
  as_cost_record all[4];
  size_t n = 0;
  bool more = true;
  assert_int_equal(as_ledger_list(ST, all, 4, &n, &more), AS_OK);
  assert_int_equal(n, 2);
  assert_false(more);
  assert_string_equal(all[0].day, "2026-12-01");
  assert_int_equal(all[0].cost_micros, 500000);
  assert_string_equal(all[1].leaf, AS_LEAF_TOOL);
  assert_int_equal(as_ledger_list(ST, all, 1, &n, &more), AS_OK);
  assert_int_equal(n, 1);
  assert_true(more);
  /* Bad records. */
  as_cost_record bad = rec;
  snprintf(bad.leaf, sizeof bad.leaf, "agent_turn");
  assert_int_equal(as_ledger_record(ST, &bad), AS_INVAL);
  bad = rec;
  bad.cost_micros = -1;
  assert_int_equal(as_ledger_record(ST, &bad), AS_INVAL);
}

/* Restart: every open reservation of a session not awaiting input is
** released (recovered) with what its cycle spent; the spend stays. */
static void test_recover(void **state) {
  (void)state;
  start("s1");
  start("s2");
  reserve("s1", 0, true);
  reserve("s2", 0, true);
  as_cost_record rec = {.leaf = AS_LEAF_LLM, .session_id = "s1", .agent = "a", .name = "m-exact",
                        .price_version = "t-1", .cost_micros = 7, .at_ns = LATE};
  assert_int_equal(as_ledger_record(ST, &rec), AS_OK);
  sqlite3 *raw = ct_raw_open(&D, "t.db");
  ct_raw_exec(raw, "UPDATE sessions SET status = 'awaiting_input' WHERE id = 's2'");
  ct_raw_close(raw);
  as_store_close(ST);
  ST = ct_open(&D, "t.db", "wal", 0);
  size_t released = 0;
  assert_int_equal(as_budget_recover(ST, &released), AS_OK);
  assert_int_equal(released, 1);
  char out[64];
  qtext("SELECT state || '/' || outcome || '/' || settled_micros FROM budget_reservations"
        " WHERE op_id = 's1:cycle-1'",
        out, sizeof out);
  assert_string_equal(out, "released/recovered/7");
  assert_int_equal(status().spent_micros, 7);
  assert_int_equal(status().open_reservations, 1);
  assert_int_equal(as_budget_recover(ST, &released), AS_OK);
  assert_int_equal(released, 0);
  assert_int_equal(as_budget_recover(ST, NULL), AS_INVAL);
}

static void test_status_text(void **state) {
  (void)state;
  start("s1");
  reserve("s1", 0, true);
  as_budget_status s = status();
  char *t = NULL;
  assert_int_equal(as_budget_status_text(&s, false, &t), AS_OK);
  assert_string_equal(t, "Agent Budget Status\n"
                         "==============================\n"
                         "Date: 2026-12-01\n"
                         "Daily Limit: $1.00\n"
                         "Today's Spend: $0.00\n"
                         "Reserved: $0.15\n"
                         "Remaining: $0.85\n"
                         "Cycles Affordable: ~5\n"
                         "Spend Events: 0\n");
  as_free(t);
  assert_int_equal(as_budget_status_text(&s, true, &t), AS_OK);
  assert_string_equal(t, "{\"date\":\"2026-12-01\",\"daily_limit\":1.0,\"today_spend\":0.0,"
                         "\"reserved\":0.15,\"remaining\":0.85,\"cycles_affordable\":5,"
                         "\"spend_events\":0,\"open_reservations\":1,\"daily_limit_micros\":1000000,"
                         "\"today_spend_micros\":0,\"reserved_micros\":150000,"
                         "\"remaining_micros\":850000}");
  as_free(t);
  assert_int_equal(as_budget_status_text(NULL, true, &t), AS_INVAL);
}

/* --- cycles, end to end ------------------------------------------------------------------ */

static as_trigger_answer trigger(const char *id, as_run_outcome want, as_run_result *res) {
  as_runtime r = rt();
  as_trigger_answer a;
  int rc = as_trigger(&r, id, 0, false, &a, res);
  if (rc != AS_OK) fail_msg("trigger %s: %s", id, as_status_name(rc));
  if (!a.triggered) fail_msg("trigger %s refused: %s", id, a.message);
  if (res->outcome != want)
    fail_msg("trigger %s: %s (%s), not %s", id, as_run_outcome_name(res->outcome), res->error,
             as_run_outcome_name(want));
  return a;
}

static void res_state(const char *op, const char *want) {
  char sql[512], out[64];
  snprintf(sql, sizeof sql,
           "SELECT state || '/' || outcome FROM budget_reservations WHERE op_id = '%s'", op);
  qtext(sql, out, sizeof out);
  assert_string_equal(out, want);
}

static size_t spans_named(const char *prefix, bool with_usage) {
  size_t n = 0;
  for (size_t i = 0; i < SP.n; i++)
    n += strncmp(SP.name[i], prefix, strlen(prefix)) == 0 && SP.usage[i] == with_usage;
  return n;
}

static void test_cycle_completed(void **state) {
  (void)state;
  start("s1");
  FP.nplan = 2;
  FP.plan[0] = FP_LOW;
  FP.plan[1] = FP_END;
  FP.cache_read = 800;
  FP.cache_write = 50;
  as_run_result res;
  as_trigger_answer a = trigger("s1", AS_RUN_ENDED, &res);
  res_state(a.op_id, "settled/completed");
  /* Two LLM calls (the tool call, then the envelope), one tool call. */
  assert_int_equal(q64("SELECT COUNT(*) FROM cost_records WHERE leaf='llm_call'"), 2);
  assert_int_equal(q64("SELECT COUNT(*) FROM cost_records WHERE leaf='tool_call'"), 1);
  /* 150*2.5 + 800*1.25 + 50*3.75 + 100*10 = 375 + 1000 + 187.5 + 1000 -> 2563 */
  assert_int_equal(q64("SELECT MIN(cost_micros) FROM cost_records WHERE leaf='llm_call'"), 2563);
  assert_int_equal(q64("SELECT SUM(input_tokens) FROM cost_records"), 300);
  assert_int_equal(q64("SELECT cost_micros FROM cost_records WHERE leaf='tool_call'"), 100);
  assert_int_equal(q64("SELECT COUNT(*) FROM cost_records WHERE op_id='s1:cycle-1' AND"
                       " price_version='t-1' AND session_id='s1' AND agent='a'"),
                   3);
  int64_t total = q64("SELECT SUM(cost_micros) FROM cost_records");
  assert_int_equal(total, 2 * 2563 + 100);
  assert_int_equal(q64("SELECT settled_micros FROM budget_reservations"), total);
  assert_int_equal(status().spent_micros, total);
  /* Spans: usage only on the chat leaves; every span names the cycle. */
  assert_int_equal(spans_named("chat m-exact", true), 2);
  assert_int_equal(spans_named("execute_tool srv:low", false), 1);
  assert_int_equal(spans_named("invoke_agent a", false), 1);
  assert_int_equal(spans_named("invoke_agent", false), 2);
  size_t roots = 0;
  for (size_t i = 0; i < SP.n; i++) {
    assert_string_equal(SP.op[i], "s1:cycle-1");
    roots += SP.root[i];
    if (SP.usage[i]) assert_int_equal(SP.input[i], 1000);
  }
  assert_int_equal(roots, 1);
  /* The session's spend survives a restart. */
  as_store_close(ST);
  ST = ct_open(&D, "t.db", "wal", 0);
  assert_int_equal(status().spent_micros, total);
}

static void test_cycle_endings(void **state) {
  (void)state;
  as_run_result res;
  /* An error releases. */
  start("e1");
  FP.nplan = 1;
  FP.plan[0] = FP_TIMEOUT;
  as_trigger_answer a = trigger("e1", AS_RUN_FAILED, &res);
  res_state(a.op_id, "released/failed");
  assert_int_equal(q64("SELECT COUNT(*) FROM cost_records"), 0);
  /* A pause keeps it; the approval's run settles it. */
  start("p1");
  FP.calls = 0;
  FP.plan[0] = FP_HIGH;
  a = trigger("p1", AS_RUN_PAUSED, &res);
  res_state(a.op_id, "open/");
  as_runtime r = rt();
  assert_int_equal(as_run(&r, "p1", false, &res), AS_OK); /* still waiting: idle, kept */
  assert_int_equal(res.outcome, AS_RUN_IDLE);
  res_state(a.op_id, "open/");
  as_session s = {0};
  assert_int_equal(as_session_load(ST, "p1", &s), AS_OK);
  size_t idx = s.ncalls - 1;
  as_session_clear(&s);
  assert_int_equal(as_approval_resolve(&r, "p1", idx, AS_APPROVE, false, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_ENDED);
  res_state(a.op_id, "settled/completed");
  assert_int_equal(q64("SELECT COUNT(*) FROM cost_records WHERE session_id='p1' AND"
                       " leaf='tool_call' AND op_id='p1:cycle-1'"),
                   1);
  /* A terminal session: idle, released. */
  a = trigger("p1", AS_RUN_IDLE, &res);
  res_state(a.op_id, "released/idle");
  /* A model the table lacks fails the run (internal), released. */
  start("u1");
  LLM.model = "gpt-unknown";
  FP.plan[0] = FP_END;
  a = trigger("u1", AS_RUN_FAILED, &res);
  assert_string_equal(res.error_kind, "internal");
  assert_non_null(strstr(res.error, "no price for model gpt-unknown in price table t-1"));
  res_state(a.op_id, "released/failed");
  /* No usage reported: estimated, a token per four bytes. */
  start("n1");
  LLM.model = "m-x";
  FP.calls = 0;
  FP.plan[0] = FP_NOUSAGE;
  a = trigger("n1", AS_RUN_ENDED, &res);
  assert_int_equal(q64("SELECT usage_estimated FROM cost_records WHERE session_id='n1'"), 1);
  assert_true(q64("SELECT input_tokens FROM cost_records WHERE session_id='n1'") > 0);
  assert_true(q64("SELECT output_tokens FROM cost_records WHERE session_id='n1'") > 0);
  /* A held lock refuses the run: the cycle never began, released. */
  start("b1");
  assert_int_equal(as_lock_acquire(REG, "b1"), AS_OK);
  as_trigger_answer b;
  assert_int_equal(as_trigger(&r, "b1", 0, true, &b, &res), AS_BUSY);
  assert_int_equal(as_lock_release(REG, "b1"), AS_OK);
  res_state(b.op_id, "released/idle");
  /* No budget: no trigger. */
  r.budget = NULL;
  assert_int_equal(as_trigger(&r, "b1", 0, false, &b, &res), AS_INVAL);
}

static void test_cycle_cancelled(void **state) {
  (void)state;
  start("c1");
  FP.nplan = 1;
  FP.plan[0] = FP_LOW;
  cancel_in_exec = true; /* a caller cancels while the tool runs */
  as_run_result res;
  as_trigger_answer a = trigger("c1", AS_RUN_FAILED, &res);
  assert_false(cancel_in_exec);
  assert_string_equal(res.error_kind, "cancelled");
  res_state(a.op_id, "released/cancelled");
  /* What it spent before the cancel stays spent. */
  assert_int_equal(q64("SELECT settled_micros FROM budget_reservations"),
                   q64("SELECT SUM(cost_micros) FROM cost_records"));
  assert_true(q64("SELECT COUNT(*) FROM cost_records") >= 2);
}

/* --- every allocation and SQLite call failing in turn ----------------------------------- */

static void arm_fault(int sql, unsigned long n) {
  if (sql)
    sw_countdown(SW_COUNTDOWN, n, sql == 2 ? SQLITE_FULL : SQLITE_IOERR, 0);
  else
    fw_countdown(FW_ALLOC, n, ENOMEM, 0);
}

static bool disarm_fault(int sql) {
  bool fired = sql ? sw_fired() : fw_fired();
  if (sql)
    sw_disarm();
  else
    fw_disarm();
  return fired;
}

static bool allowed(int rc) {
  return rc == AS_OK || rc == AS_NOMEM || rc == AS_IO || rc == AS_FULL || rc == AS_INTERNAL;
}

/* A whole cycle with each failure in turn: the trigger answers a status or
** an answer; afterwards no reservation is left open and the spend the
** ledger holds is what the reservation settled or released at. */
static void test_countdowns(void **state) {
  (void)state;
  CFG.daily_limit_micros = AS_MONEY_MAX; /* hundreds of cycles */
  as_runtime r = rt();
  for (int sql = 0; sql < 3; sql++) {
    unsigned long n;
    for (n = 1;; n++) {
      char id[32];
      snprintf(id, sizeof id, "n%d-%lu", sql, n);
      start(id);
      FP.calls = 0;
      FP.nplan = 1;
      FP.plan[0] = FP_LOW;
      as_trigger_answer a;
      as_run_result res;
      arm_fault(sql, n);
      int rc = as_trigger(&r, id, 0, false, &a, &res);
      bool fired = disarm_fault(sql);
      if (!allowed(rc))
        fail_msg("%s %lu: trigger %s", sql ? "SQLite call" : "allocation", n, as_status_name(rc));
      assert_int_equal(as_locks_size(REG), 0);
      char op[AS_OP_ID_MAX];
      assert_int_equal(as_budget_open_of(ST, id, op, sizeof op), AS_OK);
      if (op[0]) { /* a failed release: what recovery is for */
        size_t k = 0;
        assert_int_equal(as_budget_recover(ST, &k), AS_OK);
        assert_true(k >= 1);
      }
      if (!fired) {
        assert_int_equal(rc, AS_OK);
        assert_true(a.triggered);
        assert_int_equal(res.outcome, AS_RUN_ENDED);
        break;
      }
    }
    print_message("trigger countdown: %lu %s\n", n,
                  sql == 2 ? "SQLite calls, disk full" : sql ? "SQLite calls" : "allocations");
  }
  assert_int_equal(q64("SELECT COUNT(*) FROM budget_reservations WHERE state = 'open'"), 0);
  assert_int_equal(q64("SELECT COUNT(*) FROM budget_reservations r WHERE settled_micros !="
                       " (SELECT COALESCE(SUM(cost_micros), 0) FROM cost_records c"
                       " WHERE c.op_id = r.op_id)"),
                   0);
}

/* --- the price table's edges ------------------------------------------------------------ */

#define ROW "\"input\": \"1\", \"cache_read\": \"0\", \"cache_write\": \"0\", \"output\": \"0\""

static void test_prices_edges(void **state) {
  (void)state;
  bad_prices("{\"version\": \"v\", \"models\": [{\"model\": \"m\", \"input\": \"abc\","
             " \"cache_read\": \"0\", \"cache_write\": \"0\", \"output\": \"0\"}]}",
             "models[0]: \"input\" must be a dollar amount");
  bad_prices("{\"version\": \"\", \"models\": []}", "\"version\" must be a string of 1 to 63");
  char text[8192];
  snprintf(text, sizeof text, "{\"version\": \"%064d\", \"models\": []}", 0);
  bad_prices(text, "\"version\" must be a string of 1 to 63");
  bad_prices("{\"version\": \"v\"}", "\"models\" must be an array of 1 to 64");
  bad_prices("{\"version\": \"v\", \"models\": 5}", "\"models\" must be an array of 1 to 64");
  size_t n = (size_t)snprintf(text, sizeof text, "{\"version\": \"v\", \"models\": [");
  for (unsigned i = 0; i <= AS_PRICES_MAX; i++)
    n += (size_t)snprintf(text + n, sizeof text - n, "%s{\"model\": \"m%u\", " ROW "}",
                          i ? ", " : "", i);
  snprintf(text + n, sizeof text - n, "]}");
  bad_prices(text, "\"models\" must be an array of 1 to 64");
  bad_prices("{\"version\": \"v\", \"models\": [{" ROW "}]}",
             "models[0]: \"model\" must be a string of 1 to");
  snprintf(text, sizeof text, "{\"version\": \"v\", \"models\": [{\"model\": \"%0*d\", " ROW "}]}",
           AS_LLM_NAME_MAX, 0);
  bad_prices(text, "models[0]: \"model\" must be a string of 1 to");
  /* No error buffer, no file name, a buffer too small for the name. */
  as_prices p;
  char err[8] = "x";
  assert_int_equal(as_prices_parse("[]", 2, "p.json", &p, NULL, 0), AS_PARSE);
  assert_int_equal(as_prices_parse("[]", 2, "p.json", &p, err, 0), AS_PARSE);
  assert_string_equal(err, "x");
  char e2[64];
  assert_int_equal(as_prices_parse("[]", 2, NULL, &p, e2, sizeof e2), AS_PARSE);
  assert_string_equal(e2, "prices: the table must be a JSON object");
  assert_int_equal(as_prices_parse("[]", 2, "p.json", &p, err, 4), AS_PARSE);
  assert_string_equal(err, "the"); /* the message, cut; no half a name */
  assert_int_equal(as_prices_parse(NULL, 0, "p.json", &p, e2, sizeof e2), AS_INVAL);
  assert_int_equal(as_prices_parse("[]", 2, "p.json", NULL, e2, sizeof e2), AS_INVAL);
  assert_int_equal(as_prices_load(NULL, &p, e2, sizeof e2), AS_INVAL);
  assert_int_equal(as_prices_load("x", NULL, e2, sizeof e2), AS_INVAL);
  /* A file too big, a directory, a missing file with no error buffer. */
  char path[256], e3[512];
  ct_path(path, sizeof path, &D, "big.json");
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  for (unsigned i = 0; i <= AS_PRICES_FILE_MAX / 64; i++)
    fputs("                                                               \n", f);
  assert_int_equal(fclose(f), 0);
  assert_int_equal(as_prices_load(path, &p, e3, sizeof e3), AS_PARSE);
  assert_non_null(strstr(e3, "more than the 262144 bytes a price table may have"));
  assert_int_equal(strncmp(e3, path, strlen(path)), 0);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(as_prices_load(D.path, &p, e3, sizeof e3), AS_IO);
  assert_non_null(strstr(e3, "cannot read: Is a directory"));
  assert_int_equal(as_prices_load(path, &p, NULL, 0), AS_NOTFOUND);
  assert_int_equal(as_prices_load(path, &p, e3, 0), AS_NOTFOUND);
  /* Out of memory reading it: named as such. */
  ct_path(path, sizeof path, &D, "p.json");
  f = fopen(path, "w");
  assert_non_null(f);
  fputs(PRICES, f);
  assert_int_equal(fclose(f), 0);
  fw_countdown(FW_ALLOC, 1, ENOMEM, 0);
  int rc = as_prices_load(path, &p, e3, sizeof e3);
  assert_true(fw_fired());
  fw_disarm();
  assert_int_equal(rc, AS_NOMEM);
  assert_non_null(strstr(e3, ": cannot read: "));
  /* A row with an empty name (built by hand) matches only "". */
  as_prices h = {.version = "h", .n = 1};
  assert_ptr_equal(as_prices_find(&h, ""), &h.models[0]);
  assert_null(as_prices_find(&h, "x"));
}

/* --- arguments and damaged rows ----------------------------------------------------------- */

static void test_args(void **state) {
  (void)state;
  start("s1");
  as_trigger_answer a;
  char op[AS_OP_ID_MAX];
  assert_int_equal(as_budget_open_of(NULL, "s1", op, sizeof op), AS_INVAL);
  assert_int_equal(as_budget_open_of(ST, NULL, op, sizeof op), AS_INVAL);
  assert_int_equal(as_budget_open_of(ST, "s1", NULL, sizeof op), AS_INVAL);
  assert_int_equal(as_budget_reserve(NULL, &CFG, "s1", 0, &a), AS_INVAL);
  assert_int_equal(as_budget_reserve(ST, NULL, "s1", 0, &a), AS_INVAL);
  assert_int_equal(as_budget_reserve(ST, &CFG, NULL, 0, &a), AS_INVAL);
  assert_int_equal(as_budget_reserve(ST, &CFG, "s1", 0, NULL), AS_INVAL);
  assert_int_equal(as_budget_reserve(ST, &CFG, "s1", AS_MONEY_MAX + 1, &a), AS_INVAL);
  as_budget_cfg bad = CFG;
  bad.daily_limit_micros = -1;
  assert_int_equal(as_budget_reserve(ST, &bad, "s1", 0, &a), AS_INVAL);
  assert_int_equal(q64("SELECT COUNT(*) FROM budget_reservations"), 0);
  a = reserve("s1", 0, true);
  bool changed = true;
  assert_int_equal(as_budget_settle(NULL, a.op_id, &changed), AS_INVAL);
  assert_int_equal(as_budget_settle(ST, NULL, &changed), AS_INVAL);
  assert_int_equal(as_budget_settle(ST, a.op_id, NULL), AS_INVAL);
  assert_int_equal(as_budget_release(ST, a.op_id, NULL, &changed), AS_INVAL);
  assert_int_equal(as_budget_release(ST, a.op_id, "an-outcome-of-17b", &changed), AS_INVAL);
  res_state(a.op_id, "open/");
  /* The longest outcome is fine. */
  assert_int_equal(as_budget_release(ST, a.op_id, "outcome-of-16-by", &changed), AS_OK);
  assert_true(changed);
  res_state(a.op_id, "released/outcome-of-16-by");
  size_t k = 1;
  assert_int_equal(as_budget_recover(NULL, &k), AS_INVAL);
  as_budget_status s;
  assert_int_equal(as_budget_status_get(NULL, &CFG, &s), AS_INVAL);
  assert_int_equal(as_budget_status_get(ST, NULL, &s), AS_INVAL);
  assert_int_equal(as_budget_status_get(ST, &CFG, NULL), AS_INVAL);
  assert_int_equal(as_budget_status_text(&s, false, NULL), AS_INVAL);
  as_cost_record rec = {.leaf = AS_LEAF_TOOL, .session_id = "s1", .agent = "a", .name = "t",
                        .price_version = "t-1", .cost_micros = 1, .at_ns = LATE};
  assert_int_equal(as_ledger_record(NULL, &rec), AS_INVAL);
  assert_int_equal(as_ledger_record(ST, NULL), AS_INVAL);
  as_cost_record r2 = rec;
  r2.session_id[0] = '\0';
  assert_int_equal(as_ledger_record(ST, &r2), AS_INVAL);
  r2 = rec;
  r2.cost_micros = AS_MONEY_MAX + 1;
  assert_int_equal(as_ledger_record(ST, &r2), AS_INVAL);
  r2.cost_micros = AS_MONEY_MAX;
  assert_int_equal(as_ledger_record(ST, &r2), AS_OK);
  assert_int_equal(q64("SELECT COUNT(*) FROM cost_records"), 1);
  as_cost_record out[2];
  size_t n = 9;
  bool more = true;
  assert_int_equal(as_ledger_list(NULL, out, 2, &n, &more), AS_INVAL);
  assert_int_equal(as_ledger_list(ST, NULL, 2, &n, &more), AS_INVAL);
  assert_int_equal(as_ledger_list(ST, out, 2, NULL, &more), AS_INVAL);
  assert_int_equal(as_ledger_list(ST, out, 2, &n, NULL), AS_INVAL);
  assert_int_equal(as_ledger_list(ST, NULL, 0, &n, &more), AS_OK); /* counting only */
  assert_int_equal(n, 0);
  assert_true(more);
}

static void raw(const char *sql) {
  sqlite3 *db = ct_raw_open(&D, "t.db");
  ct_raw_exec(db, sql);
  ct_raw_close(db);
}

/* Rows no reserve wrote: billing and reserving refuse them and write nothing. */
static void test_damaged(void **state) {
  (void)state;
  start("s1");
  start("s2");
  as_trigger_answer a = reserve("s1", 0, true);
  char op[AS_OP_ID_MAX];
  assert_int_equal(as_budget_open_of(ST, "s1", op, 3), AS_TOOBIG);
  as_cost_record rec = {.leaf = AS_LEAF_LLM, .session_id = "s1", .agent = "a", .name = "m-exact",
                        .price_version = "t-1", .cost_micros = 5, .at_ns = LATE};
  raw("UPDATE budget_reservations SET day = '2026-12-1' WHERE session_id = 's1'");
  assert_int_equal(as_ledger_record(ST, &rec), AS_IO);
  raw("UPDATE budget_reservations SET day = '2026-12-01', op_id = '' WHERE session_id = 's1'");
  assert_int_equal(as_ledger_record(ST, &rec), AS_IO);
  assert_int_equal(q64("SELECT COUNT(*) FROM cost_records"), 0);
  /* An open op_id longer than any reserve makes. */
  char sql[1024], big[AS_OP_ID_MAX + 8];
  memset(big, 'o', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  snprintf(sql, sizeof sql, "UPDATE budget_reservations SET op_id = '%s' WHERE session_id = 's1'",
           big);
  raw(sql);
  assert_int_equal(as_ledger_record(ST, &rec), AS_IO);
  assert_int_equal(q64("SELECT COUNT(*) FROM cost_records"), 0);
  assert_int_equal(as_budget_reserve(ST, &CFG, "s1", 0, &a), AS_TOOBIG);
  assert_false(a.triggered);
  assert_int_equal(a.need_micros, 150000);
  /* A session id longer than any as_session_start takes: no op_id fits. */
  memset(big, 's', AS_OP_ID_MAX - 4);
  big[AS_OP_ID_MAX - 4] = '\0';
  snprintf(sql, sizeof sql,
           "INSERT INTO sessions (id, status, version, retry_count, needs_review_reason, extra,"
           " created_ns, updated_ns) SELECT '%s', status, version, retry_count,"
           " needs_review_reason, extra, created_ns, updated_ns FROM sessions WHERE id = 's2'",
           big);
  raw(sql);
  assert_int_equal(as_budget_reserve(ST, &CFG, big, 0, &a), AS_TOOBIG);
  assert_false(a.triggered);
  assert_int_equal(q64("SELECT COUNT(*) FROM budget_reservations"), 1);
  /* The mutant-free path refuses an unknown session. */
  assert_int_equal(as_budget_reserve(ST, &CFG, "nobody", 0, &a), AS_NOTFOUND);
}

/* --- every budget API with each failure in turn ----------------------------------------- */

typedef int (*api_fn)(void *ctx);
/* rc: what the call returned; whether the armed failure fired. The
** checker asserts the outcome and that nothing was half-written. */
typedef void (*api_check)(void *ctx, int rc, bool fired);

/* Before each attempt (unarmed: the test's own SQLite calls count too). */
static void (*PRE)(void);
/* Before each kind of failure but the first: undo the last one's success. */
static void (*RESET)(void);

static void countdown(const char *what, api_fn fn, api_check chk, void *ctx, int only_alloc) {
  for (int sql = 0; sql < (only_alloc ? 1 : 3); sql++) {
    if (sql && RESET) RESET();
    unsigned long n;
    for (n = 1; n < 10000; n++) {
      if (PRE) PRE();
      arm_fault(sql, n);
      int rc = fn(ctx);
      bool fired = disarm_fault(sql);
      if (!allowed(rc) && rc != AS_FULL)
        fail_msg("%s: %s %lu: %s", what, sql ? "SQLite call" : "allocation", n, as_status_name(rc));
      if (fired) assert_int_not_equal(rc, AS_OK); /* no failure swallowed */
      chk(ctx, rc, fired);
      if (!fired) break;
    }
    assert_true(n < 10000);
  }
}

static struct {
  as_trigger_answer a;
  int64_t estimate;
  bool want;
  char op[AS_OP_ID_MAX];
  bool changed;
  size_t k;
  as_budget_status s;
  char *t;
  as_cost_record rec;
  as_cost_record list[8];
  int64_t spent, events;
  size_t n;
  bool more;
  int64_t before;
} C;

static int do_reserve(void *x) {
  return as_budget_reserve(ST, &CFG, (const char *)x, C.estimate, &C.a);
}
static int64_t res_events(void) {
  return q64("SELECT COUNT(*) FROM budget_reservations") * 1000 +
         q64("SELECT COUNT(*) FROM events WHERE kind = 'budget_rejected'");
}
static void pre_reserve(void) { C.before = res_events(); }
static void reset_reserve(void) { raw("DELETE FROM budget_reservations WHERE session_id = 's1'"); }
static void chk_reserve(void *x, int rc, bool fired) {
  (void)x;
  if (rc != AS_OK) {
    assert_false(C.a.triggered);
    assert_int_equal(res_events(), C.before);
    return;
  }
  assert_false(fired);
  assert_int_equal(C.a.triggered, C.want);
}

static int do_settle(void *x) { return as_budget_settle(ST, (const char *)x, &C.changed); }
static int do_release(void *x) {
  return as_budget_release(ST, (const char *)x, "failed", &C.changed);
}
static const char *CLOSING;
static void reset_close(void) {
  char sql[512];
  snprintf(sql, sizeof sql, "UPDATE budget_reservations SET state = 'open' WHERE op_id = '%s'",
           CLOSING);
  raw(sql);
}
static void chk_close(void *x, int rc, bool fired) {
  (void)fired;
  char sql[512], out[64];
  snprintf(sql, sizeof sql, "SELECT state FROM budget_reservations WHERE op_id = '%s'",
           (const char *)x);
  qtext(sql, out, sizeof out);
  if (rc != AS_OK) {
    assert_false(C.changed);
    assert_string_equal(out, "open");
  } else {
    assert_true(C.changed);
    assert_string_not_equal(out, "open");
  }
}

static int do_recover(void *x) {
  (void)x;
  return as_budget_recover(ST, &C.k);
}
static void reset_recover(void) {
  raw("UPDATE budget_reservations SET state = 'open' WHERE op_id IN ('s1:cycle-2', 's2:cycle-2')");
}
static void chk_recover(void *x, int rc, bool fired) {
  (void)x;
  (void)fired;
  int64_t open = q64("SELECT COUNT(*) FROM budget_reservations WHERE state = 'open'");
  if (rc != AS_OK) {
    assert_int_equal(C.k, 0);
    assert_int_equal(open, 2);
  } else {
    assert_int_equal(C.k, 2);
    assert_int_equal(open, 0);
  }
}

static int do_status(void *x) {
  (void)x;
  memset(&C.s, 0x5a, sizeof C.s);
  return as_budget_status_get(ST, &CFG, &C.s);
}
static void pre_status(void) {
  C.spent = q64("SELECT SUM(cost_micros) FROM cost_records WHERE day = '2026-12-01'");
  C.events = q64("SELECT COUNT(*) FROM cost_records WHERE day = '2026-12-01'");
}
static void chk_status(void *x, int rc, bool fired) {
  (void)x;
  (void)fired;
  if (rc != AS_OK) {
    as_budget_status junk;
    memset(&junk, 0x5a, sizeof junk);
    assert_memory_equal(&C.s, &junk, sizeof junk); /* nothing half-written */
  } else {
    assert_int_equal(C.s.spent_micros, C.spent);
    assert_int_equal(C.s.spend_events, C.events);
    assert_string_equal(C.s.date, "2026-12-01");
  }
}

static int do_text(void *x) { return as_budget_status_text(&C.s, x != NULL, &C.t); }
static void chk_text(void *x, int rc, bool fired) {
  (void)x;
  (void)fired;
  if (rc != AS_OK) {
    assert_null(C.t);
  } else {
    assert_non_null(strstr(C.t, "2026-12-01"));
    as_free(C.t);
    C.t = NULL;
  }
}

static int do_record(void *x) {
  (void)x;
  C.rec.seq = 0;
  return as_ledger_record(ST, &C.rec);
}
static void pre_record(void) { C.before = q64("SELECT COUNT(*) FROM cost_records"); }
static void chk_record(void *x, int rc, bool fired) {
  (void)x;
  (void)fired;
  int64_t now = q64("SELECT COUNT(*) FROM cost_records");
  if (rc != AS_OK) {
    assert_int_equal(now, C.before);
  } else {
    assert_int_equal(now, C.before + 1);
    assert_int_equal(C.rec.seq, now);
  }
}

static int do_list(void *x) {
  (void)x;
  return as_ledger_list(ST, C.list, 8, &C.n, &C.more);
}
static void chk_list(void *x, int rc, bool fired) {
  (void)x;
  (void)fired;
  if (rc == AS_OK) {
    assert_int_equal(C.n, 6);
    assert_false(C.more);
    assert_string_equal(C.list[5].session_id, "s3");
    assert_string_equal(C.list[1].name, "m-exact");
  }
}

static int do_open_of(void *x) { return as_budget_open_of(ST, (const char *)x, C.op, sizeof C.op); }
static void chk_open_of(void *x, int rc, bool fired) {
  (void)x;
  (void)fired;
  if (rc == AS_OK) assert_string_equal(C.op, "s1:cycle-1");
}

static void test_api_countdowns(void **state) {
  (void)state;
  memset(&C, 0, sizeof C);
  start("s1");
  start("s2");
  start("s3");
  /* Reserve: accepted, refused for the budget, refused as active. */
  PRE = pre_reserve;
  RESET = reset_reserve;
  C.want = true;
  countdown("reserve", do_reserve, chk_reserve, "s1", 0);
  RESET = NULL;
  C.want = false;
  C.estimate = 2000000;
  countdown("reserve refused", do_reserve, chk_reserve, "s2", 0);
  assert_int_equal(C.a.refusal, AS_TRIGGER_BUDGET);
  C.estimate = 0;
  countdown("reserve active", do_reserve, chk_reserve, "s1", 0);
  assert_int_equal(C.a.refusal, AS_TRIGGER_ACTIVE);
  /* The ledger, under s1's cycle and under none. */
  C.rec = (as_cost_record){.leaf = AS_LEAF_LLM, .session_id = "s1", .agent = "a",
                           .name = "m-exact", .price_version = "t-1", .cost_micros = 5,
                           .at_ns = LATE};
  PRE = pre_record;
  countdown("ledger record", do_record, chk_record, NULL, 0);
  assert_string_equal(C.rec.op_id, "s1:cycle-1");
  C.rec.session_id[1] = '3';
  countdown("ledger record, no cycle", do_record, chk_record, NULL, 0);
  assert_string_equal(C.rec.op_id, "");
  PRE = pre_status;
  countdown("status", do_status, chk_status, NULL, 0);
  PRE = NULL;
  countdown("status text", do_text, chk_text, NULL, 1);
  countdown("status json", do_text, chk_text, "json", 1);
  countdown("open_of", do_open_of, chk_open_of, "s1", 0);
  countdown("ledger list", do_list, chk_list, NULL, 0);
  CLOSING = "s1:cycle-1";
  RESET = reset_close;
  countdown("settle", do_settle, chk_close, "s1:cycle-1", 0);
  C.a = reserve("s2", 0, true);
  CLOSING = "s2:cycle-1";
  countdown("release", do_release, chk_close, "s2:cycle-1", 0);
  reserve("s1", 0, true);
  reserve("s2", 0, true);
  RESET = reset_recover;
  countdown("recover", do_recover, chk_recover, NULL, 0);
  RESET = NULL;
}

/* --- the mutants' branches ------------------------------------------------------------- */

#ifdef AS_WITH_MUTANTS
static void mut(const char *name) { assert_int_equal(as_mutant_set(name), AS_OK); }

static void test_mutants(void **state) {
  (void)state;
  as_llm_usage lu;
  mut("cached_tokens_billed_as_input");
  assert_int_equal(as_llm_usage_from_inclusive(1000, 800, 0, 10, &lu), AS_OK);
  assert_int_equal(lu.input_tokens, 1000); /* cache reads billed twice */
  mut("settle_not_idempotent");
  start("s1");
  as_trigger_answer a = reserve("s1", 0, true);
  as_cost_record rec = {.leaf = AS_LEAF_LLM, .session_id = "s1", .agent = "a", .name = "m-exact",
                        .price_version = "t-1", .cost_micros = 10, .at_ns = LATE};
  assert_int_equal(as_ledger_record(ST, &rec), AS_OK);
  bool changed = false;
  assert_int_equal(as_budget_settle(ST, a.op_id, &changed), AS_OK);
  assert_int_equal(as_budget_settle(ST, a.op_id, &changed), AS_OK);
  assert_true(changed);
  assert_int_equal(q64("SELECT settled_micros FROM budget_reservations"), 20);
  start("s0");
  a = reserve("s0", 0, true);
  assert_int_equal(as_budget_release(ST, a.op_id, "failed", &changed), AS_OK);
  assert_int_equal(as_budget_settle(ST, a.op_id, &changed), AS_OK);
  assert_false(changed); /* a released one is not settled, even by the mutant */
  assert_int_equal(as_budget_release(ST, a.op_id, "cancelled", &changed), AS_OK);
  assert_false(changed); /* nor released again */
  res_state(a.op_id, "released/failed");
  mut("budget_check_then_record");
  start("s2");
  a = reserve("s2", 0, true);
  assert_string_equal(a.op_id, "s2:cycle-1");
  a = reserve("s2", 0, false);
  assert_int_equal(a.refusal, AS_TRIGGER_ACTIVE);
  start("s3");
  a = reserve("s3", 2000000, false);
  assert_int_equal(a.refusal, AS_TRIGGER_BUDGET);
  assert_int_equal(as_budget_reserve(ST, &CFG, "nobody", 0, &a), AS_NOTFOUND);
  assert_false(a.triggered);
  mut("budget_rmw_outside_tx");
  int64_t nrec = q64("SELECT COUNT(*) FROM cost_records");
  sw_countdown(SW_COUNTDOWN, 1, SQLITE_IOERR, 0);
  assert_int_equal(as_ledger_record(ST, &rec), AS_IO); /* the read fails: nothing written */
  assert_true(sw_fired());
  sw_disarm();
  assert_int_equal(q64("SELECT COUNT(*) FROM cost_records"), nrec);
  rec.seq = 0;
  assert_int_equal(as_ledger_record(ST, &rec), AS_OK);
  assert_int_equal(rec.seq, 2);
  mut("reservation_not_released_on_error");
  start("e1");
  FP.nplan = 1;
  FP.plan[0] = FP_TIMEOUT;
  as_run_result res;
  a = trigger("e1", AS_RUN_FAILED, &res);
  res_state(a.op_id, "open/");
  mut("parent_span_usage");
  start("p1");
  FP.calls = 0;
  FP.plan[0] = FP_END;
  SP.n = 0;
  trigger("p1", AS_RUN_ENDED, &res);
  assert_int_equal(spans_named("invoke_agent a", true), 1);
}
#endif

/* jansson allocates through the wrapped malloc, so its failures count in a
** countdown too -- but not for the sizes its string buffers grow to (see
** test_turn.c's j_malloc: jansson 2.14's lexer asserts on such a failure). */
static void *j_malloc(size_t n) {
  if (n < 32 || (n & (n - 1)) != 0) return malloc(n);
  void *p = NULL;
  return posix_memalign(&p, sizeof(void *), n) == 0 ? p : NULL;
}

static void j_free(void *p) { free(p); }

int main(void) {
  json_set_alloc_funcs(j_malloc, j_free);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_money),
      cmocka_unit_test(test_days),
      cmocka_unit_test_setup_teardown(test_prices, setup, teardown),
      cmocka_unit_test_setup_teardown(test_costs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reserve, setup, teardown),
      cmocka_unit_test_setup_teardown(test_days_key, setup, teardown),
      cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
      cmocka_unit_test_setup_teardown(test_status_text, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cycle_completed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cycle_endings, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cycle_cancelled, setup, teardown),
      cmocka_unit_test_setup_teardown(test_countdowns, setup, teardown),
      cmocka_unit_test_setup_teardown(test_prices_edges, setup, teardown),
      cmocka_unit_test_setup_teardown(test_args, setup, teardown),
      cmocka_unit_test_setup_teardown(test_damaged, setup, teardown),
      cmocka_unit_test_setup_teardown(test_api_countdowns, setup, teardown),
#ifdef AS_WITH_MUTANTS
      cmocka_unit_test_setup_teardown(test_mutants, setup, teardown),
#endif
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

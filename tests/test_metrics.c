/*
** test_metrics.c -- the Prometheus exposition derived from the ledger, the
** reservations and the event log (metrics.h): exact values, cumulative
** buckets, +Inf == _count, escaping, no session label, an empty database,
** the cap; in the sim build, the cost_counted_twice mutant seen.
**
** The tables are filled with SQL, as budget.c and turn.c would leave them.
** With AS_METRICS_DUMP_DIR set, every exposition rendered is also written
** there (NAME-N.prom), for promtool (tests/metrics_promtool_test.sh).
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/metrics.h"
#include "agentsim/mutant.h"
#include "agentsim/seam.h"
#include "core_internal.h"
#include "coretest.h"
#include "faultwrap.h"
#include "sqlwrap.h"

static ct_dir D;
static as_platform P;

/* 2025-12-13T12:00:00Z: the fixed wall clock, so "today" is known. */
#define NOON 1765627200000000000ll
#define TODAY "2025-12-13"
#define YESTERDAY "2025-12-12"

static int64_t fixed_wall(void) { return NOON; }

static int setup(void **state) {
  (void)state;
  ct_dir_make(&D);
  P = as_platform_posix;
  P.name = "metrics-test";
  P.now_wall_ns = fixed_wall;
  (void)as_platform_set(&P);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  (void)as_platform_set(NULL);
  ct_dir_remove(&D);
  return 0;
}

static const as_budget_cfg CFG = {500000, 150000, NULL}; /* $0.50 a day */

/* Render, keep a copy for promtool when asked, and check the text's shape. */
static void check_histograms(const char *text);

static char *render(as_store *st, const as_budget_cfg *cfg, const char *name) {
  char *text = NULL;
  int rc = as_metrics_render(st, cfg, &text);
  if (rc != AS_OK) fail_msg("as_metrics_render: %s (%s)", as_status_name(rc), as_store_errmsg(st));
  assert_non_null(text);
  const char *dir = getenv("AS_METRICS_DUMP_DIR");
  if (dir && *dir) {
    static unsigned k;
    char p[512];
    snprintf(p, sizeof p, "%s/%s-%u.prom", dir, name, ++k);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
  }
  check_histograms(text);
  return text;
}

static void has_line(const char *text, const char *line) {
  size_t n = strlen(line);
  for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
    if ((p == text || p[-1] == '\n') && p[n] == '\n') return;
  fail_msg("no line '%s' in:\n%s", line, text);
}

static void lacks(const char *text, const char *s) {
  if (strstr(text, s)) fail_msg("'%s' should not be in:\n%s", s, text);
}

/* Every histogram series: buckets non-decreasing in the order printed,
** ending in le="+Inf", whose value is the series' _count. */
#define KEYS_MAX 64
static void check_histograms(const char *text) {
  char keys[KEYS_MAX][512];
  long long inf[KEYS_MAX], last[KEYS_MAX];
  int counted[KEYS_MAX];
  size_t nk = 0;
  char line[2048];
  for (const char *p = text; *p;) {
    const char *e = strchr(p, '\n');
    assert_non_null(e); /* every line ends in a newline */
    size_t len = (size_t)(e - p);
    assert_true(len < sizeof line);
    memcpy(line, p, len);
    line[len] = '\0';
    p = e + 1;
    if (line[0] == '#') continue;
    char *sp = strrchr(line, ' ');
    assert_non_null(sp);
    long long v = strtoll(sp + 1, NULL, 10);
    *sp = '\0';
    char key[512];
    char *b = strstr(line, "_bucket");
    char *c = strstr(line, "_count");
    if (b && (b[7] == '{')) {
      char *le = strstr(b, "le=\"");
      assert_non_null(le);
      snprintf(key, sizeof key, "%.*s{%.*s", (int)(b - line), line, (int)(le - b - 8), b + 8);
      size_t k;
      for (k = 0; k < nk && strcmp(keys[k], key) != 0; k++) continue;
      if (k == nk) {
        assert_true(nk < KEYS_MAX);
        snprintf(keys[nk], sizeof keys[nk], "%s", key);
        last[nk] = 0;
        inf[nk] = -1;
        counted[nk] = 0;
        nk++;
      }
      if (v < last[k]) fail_msg("bucket %s decreases: %lld < %lld", line, v, last[k]);
      last[k] = v;
      if (strncmp(le, "le=\"+Inf\"", 9) == 0) inf[k] = v;
    } else if (c && (c[6] == '{' || c[6] == '\0')) {
      if (c[6] == '{')
        snprintf(key, sizeof key, "%.*s{%.*s,", (int)(c - line), line,
                 (int)strlen(c + 7) - 1, c + 7);
      else
        snprintf(key, sizeof key, "%.*s{", (int)(c - line), line);
      size_t k;
      for (k = 0; k < nk && strcmp(keys[k], key) != 0; k++) continue;
      if (k == nk) {
        /* a _count of a family that is not a histogram would be a bug here */
        fail_msg("%s: a _count without buckets (key %s)", line, key);
      }
      if (inf[k] != v) fail_msg("%s: +Inf is %lld, _count %lld", key, inf[k], v);
      counted[k] = 1;
    }
  }
  for (size_t k = 0; k < nk; k++)
    if (!counted[k] || inf[k] < 0) fail_msg("%s: no +Inf bucket or no _count", keys[k]);
}

static void exec(as_store *st, const char *sql) { ct_raw_exec(st->db, sql); }

static void fill(as_store *st) {
  exec(st,
       "INSERT INTO sessions(id, status, version, retry_count, needs_review_reason, extra,"
       " created_ns, updated_ns) VALUES"
       " ('sess-secret-1', 'resolved', 1, 0, '', '{}', 0, 0),"
       " ('sess-secret-2', 'error', 1, 0, '', '{}', 0, 0)");
  exec(st,
       "INSERT INTO budget_reservations VALUES"
       " ('sess-secret-1:cycle-1', 'sess-secret-1', '" TODAY "', 150000, 'settled', 'completed',"
       "  120000, 0, 45000000000),"
       " ('sess-secret-1:cycle-2', 'sess-secret-1', '" TODAY "', 150000, 'released', 'failed',"
       "  30000, 0, 400000000000),"
       " ('sess-secret-2:cycle-1', 'sess-secret-2', '" TODAY "', 150000, 'released', 'cancelled',"
       "  0, 0, 700000000000),"
       " ('sess-secret-2:cycle-2', 'sess-secret-2', '" TODAY "', 150000, 'released', 'recovered',"
       "  0, 0, 4000000000000),"
       " ('sess-secret-2:cycle-3', 'sess-secret-2', '" TODAY "', 200000, 'open', '', 0, 0, 0),"
       " ('sess-secret-1:cycle-3', 'sess-secret-1', '" YESTERDAY "', 100000, 'open', '', 0, 0, 0)");
  exec(st,
       "INSERT INTO cost_records VALUES"
       " ('" TODAY "', 1, 'sess-secret-1:cycle-1', 'llm_call', 'sess-secret-1', 'triage', 'gpt-4o',"
       "  1000, 500, 0, 200, 0, 'v1', 70000, 1500000000, 0),"
       " ('" TODAY "', 2, 'sess-secret-1:cycle-1', 'tool_call', 'sess-secret-1', 'triage',"
       "  'app.lookup', 0, 0, 0, 0, 0, 'v1', 50000, 200000000, 0),"
       " ('" TODAY "', 3, 'sess-secret-2:cycle-3', 'llm_call', 'sess-secret-2', 'fix', 'claude-x',"
       "  10, 0, 100, 5, 0, 'v1', 50000, 5000000, 0),"
       " ('" YESTERDAY "', 1, '', 'llm_call', 'sess-secret-1', 'triage', 'gpt-4o',"
       "  3, 0, 0, 70000, 0, 'v1', 30000, 100000000000, 0)");
  exec(st,
       "INSERT INTO events VALUES"
       " ('sess-secret-1', 1, 'agent_started', '{\"agent\":\"triage\"}', 0),"
       " ('sess-secret-1', 2, 'gate_fired', '{\"call\":0,\"tool\":\"app.restart\",\"why\":\"w\"}',"
       "  5000000000),"
       " ('sess-secret-1', 3, 'approval_resolved', '{\"call\":0,\"decision\":\"approved\"}',"
       "  6000000000),"
       " ('sess-secret-1', 4, 'agent_finished', '{\"agent\":\"triage\",\"ok\":true}', 20000000000),"
       " ('sess-secret-1', 5, 'agent_started', '{\"agent\":\"fix\"}', 20000000000),"
       " ('sess-secret-1', 6, 'agent_finished', '{\"agent\":\"fix\",\"ok\":false,\"error\":\"x\"}',"
       "  100000000000),"
       " ('sess-secret-1', 7, 'agent_finished', '{\"agent\":\"fix\",\"ok\":true}', 101000000000),"
       " ('sess-secret-2', 1, 'agent_started', '{\"agent\":\"triage\"}', 0),"
       " ('sess-secret-2', 2, 'agent_finished', '{\"agent\":\"triage\",\"ok\":true}', 700000000000),"
       " ('sess-secret-2', 3, 'gate_fired', '{\"call\":1,\"tool\":\"app.restart\",\"why\":\"w\"}', 1),"
       " ('sess-secret-2', 4, 'approval_resolved', '{\"call\":1,\"decision\":\"rejected\"}', 2),"
       " ('sess-secret-2', 5, 'gate_fired', '{\"call\":2,\"tool\":\"app.delete\",\"why\":\"w\"}', 3),"
       " ('sess-secret-2', 6, 'approval_resolved', '{\"call\":2,\"decision\":\"timed_out\"}', 4),"
       " ('sess-secret-2', 7, 'gate_fired', '{\"call\":3,\"tool\":\"app.delete\",\"why\":\"w\"}', 5),"
       " ('sess-secret-2', 8, 'approval_resolved', '{\"call\":9,\"decision\":\"approved\"}', 6),"
       " ('sess-secret-2', 9, 'status_changed', '{\"from\":\"a\",\"to\":\"b\"}', 7)");
}

static void test_empty(void **state) {
  (void)state;
  as_store *st = ct_open(&D, "empty.db", "wal", 0);
  char *t = render(st, &CFG, "empty");
  has_line(t, "# TYPE agent_cycles_total counter");
  has_line(t, "agent_cycles_total{outcome=\"completed\"} 0");
  has_line(t, "agent_cycles_total{outcome=\"recovered\"} 0");
  has_line(t, "# TYPE agent_cycle_duration_seconds histogram");
  has_line(t, "agent_cycle_duration_seconds_bucket{le=\"60\"} 0");
  has_line(t, "agent_cycle_duration_seconds_bucket{le=\"+Inf\"} 0");
  has_line(t, "agent_cycle_duration_seconds_sum 0.000000000");
  has_line(t, "agent_cycle_duration_seconds_count 0");
  has_line(t, "# TYPE agent_phase_duration_seconds histogram");
  lacks(t, "agent_phase_duration_seconds_bucket");
  lacks(t, "agent_gate_results_total{");
  has_line(t, "agent_tokens_total{type=\"input\"} 0");
  has_line(t, "agent_tokens_total{type=\"output\"} 0");
  has_line(t, "agent_budget_spend_dollars_total 0.000000");
  has_line(t, "agent_budget_remaining_dollars 0.500000");
  has_line(t, "# TYPE gen_ai_client_token_usage histogram");
  lacks(t, "gen_ai_client_token_usage_bucket");
  as_free(t);
  /* No cfg: no budget gauge. */
  t = render(st, NULL, "empty-nocfg");
  lacks(t, "agent_budget_remaining_dollars");
  has_line(t, "agent_budget_spend_dollars_total 0.000000");
  as_free(t);
  as_store_close(st);
}

static void test_values(void **state) {
  (void)state;
  as_store *st = ct_open(&D, "values.db", "wal", 0);
  fill(st);
  char *t = render(st, &CFG, "values");
  /* Cycles by outcome; the open ones are not cycles yet. */
  has_line(t, "agent_cycles_total{outcome=\"cancelled\"} 1");
  has_line(t, "agent_cycles_total{outcome=\"completed\"} 1");
  has_line(t, "agent_cycles_total{outcome=\"failed\"} 1");
  has_line(t, "agent_cycles_total{outcome=\"idle\"} 0");
  has_line(t, "agent_cycles_total{outcome=\"recovered\"} 1");
  lacks(t, "outcome=\"\"");
  /* 45 s, 400 s, 700 s, 4000 s. */
  has_line(t, "agent_cycle_duration_seconds_bucket{le=\"60\"} 1");
  has_line(t, "agent_cycle_duration_seconds_bucket{le=\"300\"} 1");
  has_line(t, "agent_cycle_duration_seconds_bucket{le=\"600\"} 2");
  has_line(t, "agent_cycle_duration_seconds_bucket{le=\"900\"} 3");
  has_line(t, "agent_cycle_duration_seconds_bucket{le=\"3600\"} 3");
  has_line(t, "agent_cycle_duration_seconds_bucket{le=\"+Inf\"} 4");
  has_line(t, "agent_cycle_duration_seconds_sum 5145.000000000");
  has_line(t, "agent_cycle_duration_seconds_count 4");
  /* triage: 20 s and 700 s; fix: 80 s (its stray second finish pairs with nothing). */
  has_line(t, "agent_phase_duration_seconds_bucket{phase=\"fix\",le=\"60\"} 0");
  has_line(t, "agent_phase_duration_seconds_bucket{phase=\"fix\",le=\"120\"} 1");
  has_line(t, "agent_phase_duration_seconds_count{phase=\"fix\"} 1");
  has_line(t, "agent_phase_duration_seconds_sum{phase=\"fix\"} 80.000000000");
  has_line(t, "agent_phase_duration_seconds_bucket{phase=\"triage\",le=\"10\"} 0");
  has_line(t, "agent_phase_duration_seconds_bucket{phase=\"triage\",le=\"30\"} 1");
  has_line(t, "agent_phase_duration_seconds_bucket{phase=\"triage\",le=\"600\"} 1");
  has_line(t, "agent_phase_duration_seconds_bucket{phase=\"triage\",le=\"+Inf\"} 2");
  has_line(t, "agent_phase_duration_seconds_sum{phase=\"triage\"} 720.000000000");
  /* Gates: resolved calls only, by their gated call's tool. */
  has_line(t, "agent_gate_results_total{gate=\"app.delete\",result=\"timed_out\"} 1");
  has_line(t, "agent_gate_results_total{gate=\"app.restart\",result=\"approved\"} 1");
  has_line(t, "agent_gate_results_total{gate=\"app.restart\",result=\"rejected\"} 1");
  lacks(t, "gate=\"app.delete\",result=\"approved\"");
  /* The ledger's buckets. */
  has_line(t, "agent_tokens_total{type=\"input\"} 1013");
  has_line(t, "agent_tokens_total{type=\"cache_read\"} 500");
  has_line(t, "agent_tokens_total{type=\"cache_write\"} 100");
  has_line(t, "agent_tokens_total{type=\"output\"} 70205");
  /* Money: every record; today: 0.50 - 0.17 spent - (0.20 - 0.05) held. */
  has_line(t, "agent_budget_spend_dollars_total 0.200000");
  has_line(t, "agent_budget_remaining_dollars 0.180000");
  /* GenAI: per llm_call record, input counting the cached tokens. */
  has_line(t, "gen_ai_client_token_usage_bucket{gen_ai_operation_name=\"chat\","
              "gen_ai_request_model=\"claude-x\",gen_ai_token_type=\"input\",le=\"64\"} 0");
  has_line(t, "gen_ai_client_token_usage_bucket{gen_ai_operation_name=\"chat\","
              "gen_ai_request_model=\"claude-x\",gen_ai_token_type=\"input\",le=\"256\"} 1");
  has_line(t, "gen_ai_client_token_usage_sum{gen_ai_operation_name=\"chat\","
              "gen_ai_request_model=\"gpt-4o\",gen_ai_token_type=\"input\"} 1503");
  has_line(t, "gen_ai_client_token_usage_bucket{gen_ai_operation_name=\"chat\","
              "gen_ai_request_model=\"gpt-4o\",gen_ai_token_type=\"input\",le=\"4\"} 1");
  has_line(t, "gen_ai_client_token_usage_bucket{gen_ai_operation_name=\"chat\","
              "gen_ai_request_model=\"gpt-4o\",gen_ai_token_type=\"output\",le=\"67108864\"} 2");
  has_line(t, "gen_ai_client_token_usage_count{gen_ai_operation_name=\"chat\","
              "gen_ai_request_model=\"gpt-4o\",gen_ai_token_type=\"output\"} 2");
  lacks(t, "app.lookup"); /* a tool call is no LLM operation */
  has_line(t, "gen_ai_client_operation_duration_seconds_bucket{gen_ai_operation_name=\"chat\","
              "gen_ai_request_model=\"claude-x\",le=\"0.01\"} 1");
  has_line(t, "gen_ai_client_operation_duration_seconds_bucket{gen_ai_operation_name=\"chat\","
              "gen_ai_request_model=\"gpt-4o\",le=\"1.28\"} 0");
  has_line(t, "gen_ai_client_operation_duration_seconds_bucket{gen_ai_operation_name=\"chat\","
              "gen_ai_request_model=\"gpt-4o\",le=\"2.56\"} 1");
  has_line(t, "gen_ai_client_operation_duration_seconds_bucket{gen_ai_operation_name=\"chat\","
              "gen_ai_request_model=\"gpt-4o\",le=\"81.92\"} 1");
  has_line(t, "gen_ai_client_operation_duration_seconds_sum{gen_ai_operation_name=\"chat\","
              "gen_ai_request_model=\"gpt-4o\"} 101.500000000");
  /* Never a session id. */
  lacks(t, "sess-secret");
  lacks(t, "session");
  /* The same database gives the same text. */
  char *again = render(st, &CFG, "values");
  assert_string_equal(t, again);
  as_free(again);
  as_free(t);
  /* A spent-out day floors at 0. */
  const as_budget_cfg small = {100000, 150000, NULL};
  t = render(st, &small, "values-small");
  has_line(t, "agent_budget_remaining_dollars 0.000000");
  as_free(t);
  as_store_close(st);
}

static void test_escaping(void **state) {
  (void)state;
  as_store *st = ct_open(&D, "esc.db", "wal", 0);
  exec(st, "INSERT INTO sessions(id, status, version, retry_count, needs_review_reason, extra,"
           " created_ns, updated_ns) VALUES ('s', 'resolved', 1, 0, '', '{}', 0, 0)");
  exec(st, "INSERT INTO events VALUES"
           " ('s', 1, 'agent_started', '{\"agent\":\"a\\\"b\\\\c\\nd\\u00e9\"}', 0),"
           " ('s', 2, 'agent_finished', '{\"agent\":\"a\\\"b\\\\c\\nd\\u00e9\"}', 1000000000)");
  sqlite3_stmt *q = NULL;
  assert_int_equal(sqlite3_prepare_v2(st->db,
                                      "INSERT INTO cost_records VALUES ('" TODAY "', 1, '',"
                                      " 'llm_call', 's', 'x', ?1, 1, 0, 0, 1, 0, 'v1', 1, 1, 0)",
                                      -1, &q, NULL),
                   SQLITE_OK);
  /* A quote, a backslash, a newline, an invalid byte, a truncated sequence. */
  assert_int_equal(sqlite3_bind_text(q, 1, "m\"x\\y\nz\xff\xe2\x82", -1, SQLITE_STATIC),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(q), SQLITE_DONE);
  assert_int_equal(sqlite3_finalize(q), SQLITE_OK);
  char *t = render(st, &CFG, "escaping");
  has_line(t, "agent_phase_duration_seconds_count{phase=\"a\\\"b\\\\c\\nd\xc3\xa9\"} 1");
  has_line(t, "gen_ai_client_operation_duration_seconds_count{gen_ai_operation_name=\"chat\","
              "gen_ai_request_model=\"m\\\"x\\\\y\\nz\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"} 1");
  has_line(t, "agent_budget_spend_dollars_total 0.000001");
  as_free(t);
  as_store_close(st);
}

static void test_cap(void **state) {
  (void)state;
  as_store *st = ct_open(&D, "cap.db", "wal", 0);
  fill(st);
  char *t = render(st, &CFG, "cap");
  size_t len = strlen(t);
  char *u = NULL;
  /* Exactly the text's length fits; a byte less does not, and nothing is handed out. */
  assert_int_equal(as_metrics_render_capped(st, &CFG, len, &u), AS_OK);
  assert_string_equal(t, u);
  as_free(u);
  u = (char *)1;
  assert_int_equal(as_metrics_render_capped(st, &CFG, len - 1, &u), AS_TOOBIG);
  assert_null(u);
  assert_int_equal(as_metrics_render_capped(st, &CFG, 10, &u), AS_TOOBIG);
  assert_null(u);
  assert_int_equal(as_metrics_render_capped(st, &CFG, 0, &u), AS_INVAL);
  assert_int_equal(as_metrics_render_capped(st, &CFG, AS_METRICS_MAX + 1u, &u), AS_INVAL);
  const as_budget_cfg neg = {-1, 1, NULL};
  assert_int_equal(as_metrics_render(st, &neg, &u), AS_INVAL);
  assert_null(u);
  as_free(t);
  /* The hard cap itself: models' names past 4 MiB of text. */
  exec(st, "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 3000)"
           " INSERT INTO cost_records SELECT '2020-01-01', i, '', 'llm_call', 's', 'a',"
           " printf('model-%05d-%.200c', i, 'x'), 1, 0, 0, 1, 0, 'v1', 0, 1, 0 FROM k");
  assert_int_equal(as_metrics_render(st, &CFG, &u), AS_TOOBIG);
  assert_null(u);
  /* The store is still usable: the read transaction ended. */
  assert_int_equal(as_metrics_render_capped(st, NULL, AS_METRICS_MAX, &u), AS_TOOBIG);
  exec(st, "DELETE FROM cost_records WHERE day = '2020-01-01'");
  t = render(st, &CFG, "cap-after");
  as_free(t);
  as_store_close(st);
}


/* Label values byte by byte: a tab passes as is; every UTF-8 corner
** (the first and last valid lead bytes, overlongs, surrogates, past
** U+10FFFF, a bad continuation, a sequence cut by the end) either passes
** whole or becomes one U+FFFD per invalid byte. */
static void test_utf8_corners(void **state) {
  (void)state;
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"a\tb", "a\tb"},
      {"\xc2\x80", "\xc2\x80"},                  /* U+0080 */
      {"\xc1\xbf", "\xef\xbf\xbd\xef\xbf\xbd"},  /* overlong 2-byte lead */
      {"\xe0\xa0\x80", "\xe0\xa0\x80"},          /* U+0800 */
      {"\xe0\x9f\xbf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* overlong */
      {"\xed\x9f\xbf", "\xed\x9f\xbf"},          /* U+D7FF */
      {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* a surrogate */
      {"\xe2\x82\x41", "\xef\xbf\xbd\xef\xbf\xbd" "A"},  /* bad third byte */
      {"\xe2\x82\xc0", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* third byte too high */
      {"\xf0\x90\x80\x80", "\xf0\x90\x80\x80"},  /* U+10000 */
      {"\xf0\x8f\xbf\xbf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* overlong */
      {"\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"},  /* U+10FFFF */
      {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* past it */
      {"\xf5\x80", "\xef\xbf\xbd\xef\xbf\xbd"},  /* no such lead */
      {"\xf0\x90\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* cut by the end */
      {"x\xc3", "x\xef\xbf\xbd"},                /* cut after one byte */
  };
  as_store *st = ct_open(&D, "utf8.db", "wal", 0);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    exec(st, "DELETE FROM cost_records");
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(st->db,
                                        "INSERT INTO cost_records VALUES ('" TODAY "', 1, '',"
                                        " 'llm_call', 's', 'x', ?1, 1, 0, 0, 1, 0, 'v1', 1, 1, 0)",
                                        -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_bind_text(q, 1, cases[i].in, -1, SQLITE_STATIC), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_DONE);
    assert_int_equal(sqlite3_finalize(q), SQLITE_OK);
    char *t = render(st, NULL, "utf8");
    char line[256];
    snprintf(line, sizeof line,
             "gen_ai_client_operation_duration_seconds_count{gen_ai_operation_name=\"chat\","
             "gen_ai_request_model=\"%s\"} 1", cases[i].out);
    has_line(t, line);
    as_free(t);
  }
  as_store_close(st);
}

/* The refusals: no store, and *out NULL after each. */
static void test_refusals(void **state) {
  (void)state;
  char *u = (char *)1;
  assert_int_equal(as_metrics_render(NULL, &CFG, &u), AS_INVAL);
  assert_null(u);
  u = (char *)1;
  assert_int_equal(as_metrics_render_capped(NULL, NULL, 100, &u), AS_INVAL);
  assert_null(u);
}

/* Every allocation, every SQLite call and every vsnprintf of a render
** failing in turn (STYLE.md rule 7): each failing render returns an error,
** hands out nothing and leaks nothing, the store stays usable (the read
** transaction ended: the next render is the unfaulted text), and once the
** countdown no longer fires the render is the unfaulted one byte for byte. */
static void test_faults(void **state) {
  (void)state;
  as_store *st = ct_open(&D, "faults.db", "wal", 0);
  fill(st);
  char *want = render(st, &CFG, "faults");
  static const char *const kinds[] = {"allocation", "SQLite call", "vsnprintf"};
  for (int kind = 0; kind < 3; kind++) {
    unsigned long fails = 0;
    for (unsigned long n = 1;; n++) {
      assert_true(n < 100000);
      size_t blocks = fw_live_blocks();
      char *u = (char *)1;
      if (kind == 0) fw_countdown(FW_ALLOC, n, ENOMEM, 0);
      if (kind == 1) sw_countdown(SW_COUNTDOWN, n, n % 2 ? SQLITE_IOERR : SQLITE_NOMEM, 0);
      if (kind == 2) fw_countdown(FW_BIT(VSNPRINTF), n, EOVERFLOW, 0);
      int rc = as_metrics_render(st, &CFG, &u);
      bool fired = kind == 1 ? sw_fired() : fw_fired();
      fw_disarm();
      sw_disarm();
      if (!fired) {
        if (rc != AS_OK) fail_msg("%s: unfaulted render: %s", kinds[kind], as_status_name(rc));
        assert_string_equal(u, want);
        as_free(u);
        assert_int_equal(fw_live_blocks(), blocks);
        break;
      }
      fails++;
      if (rc == AS_OK) fail_msg("%s %lu failed, yet the render succeeded", kinds[kind], n);
      if (rc != AS_NOMEM && rc != AS_IO && rc != AS_INTERNAL)
        fail_msg("%s %lu: %s", kinds[kind], n, as_status_name(rc));
      if (u != NULL) fail_msg("%s %lu: *out not NULL after %s", kinds[kind], n,
                              as_status_name(rc));
      assert_int_equal(fw_live_blocks(), blocks);
      char *again = NULL; /* not render(): hundreds of copies of want for promtool */
      assert_int_equal(as_metrics_render(st, &CFG, &again), AS_OK);
      assert_string_equal(again, want);
      as_free(again);
    }
    assert_true(fails > 0); /* each kind reached the render */
  }
  /* Two failures at once: the first one's status is the one returned. */
  char *u = (char *)1;
  sw_countdown(SW_COUNTDOWN, 1, SQLITE_IOERR, 0);
  fw_countdown(FW_BIT(VSNPRINTF), 1, EOVERFLOW, 1);
  int rc = as_metrics_render(st, &CFG, &u);
  assert_true(sw_fired());
  assert_true(fw_fired());
  fw_disarm();
  sw_disarm();
  assert_int_equal(rc, AS_IO);
  assert_null(u);
  as_free(want);
  as_store_close(st);
}

/* The sim build only: the classic "ledger + metric" double count. */
#ifdef AS_WITH_MUTANTS
static void test_mutant_counted_twice(void **state) {
  (void)state;
  as_store *st = ct_open(&D, "mut.db", "wal", 0);
  fill(st);
  char *t = render(st, &CFG, "mutant-off");
  has_line(t, "agent_budget_spend_dollars_total 0.200000");
  as_free(t);
  assert_int_equal(as_mutant_set("cost_counted_twice"), AS_OK);
  t = render(st, &CFG, "mutant-on");
  /* 0.20 in the ledger + 0.15 settled on the closed reservations. */
  has_line(t, "agent_budget_spend_dollars_total 0.350000");
  has_line(t, "agent_budget_remaining_dollars 0.180000"); /* only the metric is wrong */
  as_free(t);
  /* A settlement below zero (no CHECK on settled_micros) drives the wrong
  ** metric negative: printed exactly, sign and all. */
  exec(st, "INSERT INTO budget_reservations VALUES ('sess-secret-1:cycle-9', 'sess-secret-1',"
           " '" YESTERDAY "', 1, 'released', 'failed', -900000, 0, 0)");
  t = render(st, &CFG, "mutant-negative");
  has_line(t, "agent_budget_spend_dollars_total -0.550000");
  as_free(t);
  assert_int_equal(as_mutant_set(NULL), AS_OK);
  as_store_close(st);
}
#endif

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
      cmocka_unit_test_setup_teardown(test_values, setup, teardown),
      cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cap, setup, teardown),
      cmocka_unit_test_setup_teardown(test_utf8_corners, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_faults, setup, teardown),
#ifdef AS_WITH_MUTANTS /* the production objects hold no mutant */
      cmocka_unit_test_setup_teardown(test_mutant_counted_twice, setup, teardown),
#endif
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
** metrics_fill.c -- `metrics_fill DB ROUND`: give a runtime database the
** rows budget.c and turn.c would leave, for the tests of the real
** components (tests/metrics_real_test.sh): ROUND 0 only creates the schema
** (through as_store_open, so it is the runtime's own), 1 adds cycles,
** records and events on today's UTC day, 2 adds to them what a later
** cycle would (so a second push changes every family).
*/
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "agentsim/store.h"

static const char round1[] =
    "INSERT INTO sessions(id, status, version, retry_count, needs_review_reason, extra,"
    " created_ns, updated_ns) VALUES"
    " ('s-1', 'resolved', 1, 0, '', '{}', 0, 0), ('s-2', 'error', 1, 0, '', '{}', 0, 0);"
    "INSERT INTO budget_reservations VALUES"
    " ('s-1:cycle-1', 's-1', date('now'), 150000, 'settled', 'completed', 120000, 0, 45000000000),"
    " ('s-1:cycle-2', 's-1', date('now'), 150000, 'released', 'failed', 30000, 0, 400000000000),"
    " ('s-2:cycle-1', 's-2', date('now'), 150000, 'released', 'cancelled', 0, 0, 700000000000),"
    " ('s-2:cycle-2', 's-2', date('now'), 150000, 'released', 'recovered', 0, 0, 4000000000000),"
    " ('s-2:cycle-3', 's-2', date('now'), 200000, 'open', '', 0, 1000000000000, 0);"
    "INSERT INTO cost_records VALUES"
    " (date('now'), 1, 's-1:cycle-1', 'llm_call', 's-1', 'triage', 'gpt-4o',"
    "  1000, 500, 0, 200, 0, 'v1', 70000, 1500000000, 0),"
    " (date('now'), 2, 's-1:cycle-1', 'tool_call', 's-1', 'triage', 'app.lookup',"
    "  0, 0, 0, 0, 0, 'v1', 50000, 200000000, 0),"
    " (date('now'), 3, 's-2:cycle-3', 'llm_call', 's-2', 'fix', 'claude-x',"
    "  10, 0, 100, 5, 0, 'v1', 50000, 5000000, 0),"
    " (date('now', '-1 day'), 1, '', 'llm_call', 's-1', 'triage', 'gpt-4o',"
    "  3, 0, 0, 70000, 0, 'v1', 30000, 100000000000, 0);"
    "INSERT INTO events VALUES"
    " ('s-1', 1, 'agent_started', '{\"agent\":\"triage\"}', 0),"
    " ('s-1', 2, 'gate_fired', '{\"call\":0,\"tool\":\"app.restart\",\"why\":\"w\"}', 5000000000),"
    " ('s-1', 3, 'approval_resolved', '{\"call\":0,\"decision\":\"approved\"}', 6000000000),"
    " ('s-1', 4, 'agent_finished', '{\"agent\":\"triage\",\"ok\":true}', 20000000000),"
    " ('s-1', 5, 'agent_started', '{\"agent\":\"fix\"}', 20000000000),"
    " ('s-1', 6, 'agent_finished', '{\"agent\":\"fix\",\"ok\":false,\"error\":\"x\"}',"
    "  100000000000),"
    " ('s-2', 1, 'agent_started', '{\"agent\":\"triage\"}', 0),"
    " ('s-2', 2, 'agent_finished', '{\"agent\":\"triage\",\"ok\":true}', 700000000000),"
    " ('s-2', 3, 'gate_fired', '{\"call\":1,\"tool\":\"app.restart\",\"why\":\"w\"}', 1),"
    " ('s-2', 4, 'approval_resolved', '{\"call\":1,\"decision\":\"rejected\"}', 2),"
    " ('s-2', 5, 'gate_fired', '{\"call\":2,\"tool\":\"app.delete\",\"why\":\"w\"}', 3),"
    " ('s-2', 6, 'approval_resolved', '{\"call\":2,\"decision\":\"timed_out\"}', 4);";

/* The open cycle ends: one more LLM call, its agent's run, an approved gate. */
static const char round2[] =
    "INSERT INTO cost_records VALUES"
    " (date('now'), 4, 's-2:cycle-3', 'llm_call', 's-2', 'fix', 'claude-x',"
    "  2000, 0, 0, 300, 0, 'v1', 30000, 3000000000, 0);"
    "UPDATE budget_reservations SET state = 'settled', outcome = 'completed',"
    " settled_micros = 80000, closed_ns = 1120000000000 WHERE op_id = 's-2:cycle-3';"
    "INSERT INTO events VALUES"
    " ('s-2', 7, 'agent_started', '{\"agent\":\"fix\"}', 800000000000),"
    " ('s-2', 8, 'gate_fired', '{\"call\":3,\"tool\":\"app.restart\",\"why\":\"w\"}', 810000000000),"
    " ('s-2', 9, 'approval_resolved', '{\"call\":3,\"decision\":\"approved\"}', 820000000000),"
    " ('s-2', 10, 'agent_finished', '{\"agent\":\"fix\",\"ok\":true}', 850000000000);";

int main(int argc, char **argv) {
  if (argc != 3 || (strcmp(argv[2], "0") && strcmp(argv[2], "1") && strcmp(argv[2], "2"))) {
    fprintf(stderr, "usage: metrics_fill DB 0|1|2\n");
    return 2;
  }
  as_store_opts o = {.synchronous = "off", .not_durable = 1};
  as_store *st = NULL;
  int rc = as_store_open(&st, argv[1], &o);
  if (rc != AS_OK) {
    fprintf(stderr, "metrics_fill: %s: %s\n", argv[1], as_status_msg(rc));
    return 1;
  }
  as_store_close(st);
  if (argv[2][0] == '0') return 0;
  sqlite3 *db = NULL;
  char *err = NULL;
  int src = sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, NULL);
  if (src == SQLITE_OK)
    src = sqlite3_exec(db, argv[2][0] == '1' ? round1 : round2, NULL, NULL, &err);
  if (src != SQLITE_OK)
    fprintf(stderr, "metrics_fill: %s: %s\n", argv[1], err ? err : sqlite3_errstr(src));
  sqlite3_free(err);
  if (sqlite3_close(db) != SQLITE_OK && src == SQLITE_OK) src = SQLITE_ERROR;
  return src == SQLITE_OK ? 0 : 1;
}

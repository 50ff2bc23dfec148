/*
** oracle_feed.h -- feeding the oracle (sim/oracle/oracle.h) a history through
** its sink, for the tests that judge it (test_oracle.c) and the ones that
** fail its allocations (test_oracle_faults.c): connections, rows, commits,
** lock events, operations and their answers, each event a step of its own;
** the histories the tests build on (create, start, a tool call, finalize, a
** checkpoint, a GC); and a plain SQLite database for the quiescence read.
** Include after cmocka.h. The oracle under test is O, made by setup().
*/
#ifndef AGENTSIM_TESTS_ORACLE_FEED_H
#define AGENTSIM_TESTS_ORACLE_FEED_H

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "agentsim/status.h"
#include "oracle/oracle.h"
#include "oracle/spec.h"
#include "scenario/scenario.h"

#define ORC_FEED_UNUSED __attribute__((unused))

static orc *O ORC_FEED_UNUSED;
static uint64_t STEP ORC_FEED_UNUSED;

static inline int setup(void **state) {
  (void)state;
  static const char *const legacy[] = {"notify"};
  STEP = 0;
  return orc_new(&O, legacy, 1) == AS_OK ? 0 : -1;
}

static inline int teardown(void **state) {
  (void)state;
  orc_free(O);
  O = NULL;
  return 0;
}

/* --- feeding events ---------------------------------------------------------------- */

static inline void feed(uint32_t kind, uint32_t task, uint64_t obj, uint64_t extra, const char *label,
                        const void *ref) {
  sim_ev ev = {.step = ++STEP, .task = task, .kind = kind, .object = obj, .extra = extra,
               .label = label, .ref = ref};
  orc_sink(O, &ev);
}

static inline void conn(uint32_t c) { feed(ORC_EV_CONN, SIM_TASK_NONE, c, 0, NULL, NULL); }

static inline void lock(uint32_t task, const char *key, orc_lock_event e) {
  feed(ORC_EV_LOCK, task, 0, (uint64_t)e, key, NULL);
}

static orc_op OPREC ORC_FEED_UNUSED;

static inline orc_op *op(uint32_t task, unsigned kind, const char *session) {
  (void)task; /* the task is the event's: begin and answer name it */
  OPREC = (orc_op){.kind = kind, .line = 1, .session = session, .changed = -1, .removed = -1};
  return &OPREC;
}

static inline void begin(uint32_t task, orc_op *o) { feed(ORC_EV_OP, task, o->kind, 0, "t", o); }

static inline void answer(uint32_t task, orc_op *o, int rc) {
  o->rc = rc;
  feed(ORC_EV_ACK, task, o->kind, 0, "t", o);
}

static inline orc_val text(const char *s) {
  return (orc_val){.type = SQLITE_TEXT, .t = s, .n = s ? strlen(s) : 0};
}
static inline orc_val num(int64_t i) { return (orc_val){.type = SQLITE_INTEGER, .i = i}; }

static inline void row(uint32_t task, uint32_t c, orc_row *r) {
  r->conn = c;
  feed(ORC_EV_ROW, task, c, (uint64_t)r->op, "row", r);
}

static inline void session_insert(uint32_t task, uint32_t c, const char *id) {
  orc_row r = {.table = ORC_T_SESSIONS, .op = ORC_INSERT};
  r.nw[ORC_SC_ID] = text(id);
  r.nw[ORC_SC_STATUS] = text("new");
  r.nw[ORC_SC_VERSION] = num(1);
  r.nw[ORC_SC_RETRY] = num(0);
  r.nw[ORC_SC_REASON] = text("");
  r.nw[ORC_SC_EXTRA] = text("{}");
  row(task, c, &r);
}

/* An update of session id from (st0, v0, x0) to (st1, v1, x1, reason). */
static inline void session_update(uint32_t task, uint32_t c, const char *id, const char *st0, int64_t v0,
                                  const char *x0, const char *st1, int64_t v1, const char *x1,
                                  const char *reason) {
  orc_row r = {.table = ORC_T_SESSIONS, .op = ORC_UPDATE};
  r.old[ORC_SC_ID] = text(id);
  r.old[ORC_SC_STATUS] = text(st0);
  r.old[ORC_SC_VERSION] = num(v0);
  r.old[ORC_SC_RETRY] = num(0);
  r.old[ORC_SC_REASON] = text("");
  r.old[ORC_SC_EXTRA] = text(x0);
  r.nw[ORC_SC_ID] = text(id);
  r.nw[ORC_SC_STATUS] = text(st1);
  r.nw[ORC_SC_VERSION] = num(v1);
  r.nw[ORC_SC_RETRY] = num(0);
  r.nw[ORC_SC_REASON] = text(reason);
  r.nw[ORC_SC_EXTRA] = text(x1);
  row(task, c, &r);
}

static inline void call_row(uint32_t task, uint32_t c, orc_row_op rop, const char *id, int64_t idx,
                            const char *tool, const char *state) {
  orc_row r = {.table = ORC_T_CALLS, .op = rop};
  orc_val *v = rop == ORC_INSERT ? r.nw : r.old;
  v[ORC_TC_SESSION] = text(id);
  v[ORC_TC_IDX] = num(idx);
  v[ORC_TC_TOOL] = text(tool);
  v[ORC_TC_ARGS] = text("{}");
  v[ORC_TC_RESULT] = text("{}");
  v[ORC_TC_STATE] = text(state);
  row(task, c, &r);
}

static inline void event_row(uint32_t task, uint32_t c, orc_row_op rop, const char *id, int64_t seq,
                             const char *kind, const char *payload) {
  orc_row r = {.table = ORC_T_EVENTS, .op = rop};
  orc_val *v = rop == ORC_INSERT ? r.nw : r.old;
  v[ORC_EC_SESSION] = text(id);
  v[ORC_EC_SEQ] = num(seq);
  v[ORC_EC_KIND] = text(kind);
  v[ORC_EC_PAYLOAD] = text(payload);
  row(task, c, &r);
}

static inline void status_event(uint32_t task, uint32_t c, const char *id, int64_t seq, const char *from,
                                const char *to) {
  char p[128];
  snprintf(p, sizeof p, "{\"from\":\"%s\",\"to\":\"%s\",\"reason\":\"\"}", from, to);
  event_row(task, c, ORC_INSERT, id, seq, "status_changed", p);
}

static inline void ckpt_row(uint32_t task, uint32_t c, orc_row_op rop, const char *tid) {
  orc_row r = {.table = ORC_T_CHECKPOINTS, .op = rop};
  orc_val *v = rop == ORC_INSERT ? r.nw : r.old;
  v[ORC_CC_THREAD] = text(tid);
  v[ORC_CC_DATA] = (orc_val){.type = SQLITE_BLOB, .t = "ck", .n = 2};
  if (rop == ORC_UPDATE) r.nw[ORC_CC_THREAD] = text(tid), r.nw[ORC_CC_DATA] = r.old[ORC_CC_DATA];
  row(task, c, &r);
}

static inline void committing(uint32_t task, uint32_t c) { feed(ORC_EV_COMMITTING, task, c, 0, NULL, NULL); }
static inline void committed(uint32_t task, uint32_t c) { feed(ORC_EV_COMMITTED, task, c, 0, NULL, NULL); }
static inline void rollback(uint32_t task, uint32_t c) { feed(ORC_EV_ROLLBACK, task, c, 0, NULL, NULL); }
static inline void commit(uint32_t task, uint32_t c) {
  committing(task, c);
  committed(task, c);
}
static inline void power_loss(void) { feed(SIM_EV_DISK_CRASH, 9, 1, 1, NULL, NULL); }

/* --- the histories the tests build on ----------------------------------------------- */

#define MAIN 0u
#define T1 1u
#define T2 2u

static inline void create(const char *id) {
  static uint32_t opened;
  if (!opened || STEP == 0) conn(0);
  opened = 1;
  orc_op *o = op(MAIN, ORC_OP_CREATE, id);
  begin(MAIN, o);
  session_insert(MAIN, 0, id);
  commit(MAIN, 0);
  answer(MAIN, o, AS_OK);
}

/* start id by task t on conn c, the lock taken: new -> in_progress, v1 -> v2. */
static inline void start(uint32_t t, uint32_t c, const char *id) {
  lock(t, id, ORC_LOCK_ACQUIRED);
  orc_op *o = op(t, SCN_OP_START, id);
  begin(t, o);
  session_update(t, c, id, "new", 1, "{}", "in_progress", 2, "{}", "");
  status_event(t, c, id, 1, "new", "in_progress");
  commit(t, c);
  lock(t, id, ORC_LOCK_RELEASED);
  o->changed = 1;
  answer(t, o, AS_OK);
}

/* A tool call (tool, state) appended to id at version v, after the n
** calls (tools, states) it has. */
static inline void tool_call_at(uint32_t t, uint32_t c, const char *id, const char *status, int64_t v,
                                const char *const *tools, const char *const *states, size_t n,
                                const char *tool, const char *state) {
  orc_op *o = op(t, SCN_OP_TOOL, id);
  o->tool = tool;
  o->tool_state = orc_call_state_parse(state, strlen(state));
  o->base_version = v;
  begin(t, o);
  session_update(t, c, id, status, v, "{}", status, v + 1, "{}", "");
  for (size_t i = 0; i < n; i++) call_row(t, c, ORC_DELETE, id, (int64_t)i, tools[i], states[i]);
  for (size_t i = 0; i < n; i++) call_row(t, c, ORC_INSERT, id, (int64_t)i, tools[i], states[i]);
  call_row(t, c, ORC_INSERT, id, (int64_t)n, tool, state);
  commit(t, c);
  o->version = v + 1;
  answer(t, o, AS_OK);
}

static const char *const EXEC[] = {"executed", "executed", "executed", "executed"};

static inline void tool_at(uint32_t t, uint32_t c, const char *id, const char *status, int64_t v,
                           const char *const *calls, size_t n, const char *tool) {
  tool_call_at(t, c, id, status, v, calls, EXEC, n, tool, "executed");
}

static inline void expect_ok(void) {
  if (orc_violation(O)) fail_msg("unexpected violation: %s", orc_violation(O));
}

static inline void expect_violation(orc_check c, const char *needle) {
  const char *v = orc_violation(O);
  if (!v) fail_msg("no violation; expected %s", orc_check_name(c));
  if (orc_violated_check(O) != c || !strstr(v, needle))
    fail_msg("violation '%s', expected %s with '%s'", v, orc_check_name(c), needle);
  char head[64];
  snprintf(head, sizeof head, "%s: ", orc_check_name(c));
  assert_int_equal(strncmp(v, head, strlen(head)), 0); /* it names its check first */
}

static inline void finalize_to(uint32_t t, const char *id, const char *from, int64_t v, const char *to,
                               int64_t seq, const char *reason) {
  lock(t, id, ORC_LOCK_ACQUIRED);
  orc_op *o = op(t, SCN_OP_FINALIZE, id);
  begin(t, o);
  session_update(t, 1, id, from, v, "{}", to, v + 1, "{}", reason);
  status_event(t, 1, id, seq, from, to);
  commit(t, 1);
  lock(t, id, ORC_LOCK_RELEASED);
  o->status = to;
  answer(t, o, AS_OK);
}

static inline void put(uint32_t t, const char *tid, orc_row_op rop) {
  orc_op *o = op(t, SCN_OP_CHECKPOINT, "s0");
  o->thread = tid;
  begin(t, o);
  ckpt_row(t, 1, rop, tid);
  commit(t, 1);
  answer(t, o, AS_OK);
}

static inline void gc(uint32_t t, const char *const *removed, size_t n) {
  orc_op *o = op(t, SCN_OP_GC, NULL);
  begin(t, o);
  for (size_t i = 0; i < n; i++) ckpt_row(t, 1, ORC_DELETE, removed[i]);
  commit(t, 1);
  o->removed = (int64_t)n;
  answer(t, o, AS_OK);
}

/* --- the quiescence read: a plain SQLite database built to match, or not ------------ */

static sqlite3 *DB ORC_FEED_UNUSED;

static inline void db_exec(const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(DB, sql, NULL, NULL, &err) != SQLITE_OK) fail_msg("%s: %s", sql, err);
}

static inline void make_db(void) {
  assert_int_equal(sqlite3_open(":memory:", &DB), SQLITE_OK);
  db_exec("CREATE TABLE sessions (id TEXT PRIMARY KEY, status TEXT NOT NULL, version INTEGER NOT NULL,"
          " retry_count INTEGER NOT NULL, needs_review_reason TEXT NOT NULL, extra TEXT NOT NULL,"
          " created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL);"
          "CREATE TABLE tool_calls (session_id TEXT, idx INTEGER, tool TEXT, args TEXT, result TEXT,"
          " state TEXT, PRIMARY KEY (session_id, idx)) WITHOUT ROWID;"
          "CREATE TABLE events (session_id TEXT, seq INTEGER, kind TEXT, payload TEXT, at_ns INTEGER,"
          " PRIMARY KEY (session_id, seq)) WITHOUT ROWID;"
          "CREATE TABLE checkpoints (thread_id TEXT PRIMARY KEY, data BLOB, updated_ns INTEGER);");
}

static inline int quiesce(char *msg, size_t cap) {
  int v = orc_quiescence(O, DB, msg, cap);
  (void)sqlite3_close(DB); /* ignore: an in-memory database */
  DB = NULL;
  return v;
}

#endif

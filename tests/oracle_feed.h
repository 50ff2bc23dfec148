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
#include <stdbool.h>
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

/* Fed events carry virtual time 0, so every stamp the rows carry is the
** world's wall epoch (time-stamp: between the operation's start and its
** commit). */
#define NOW SIM_WALL_EPOCH_NS
/* The virtual time the next fed events carry (0 unless a test moves it). */
static uint64_t VNOW ORC_FEED_UNUSED;

/* The reason the last update to needs_review gave: what a later update
** from needs_review finds in the row (one needs_review session at a time). */
static const char *NR_REASON ORC_FEED_UNUSED = "";
/* The error kind and cause an update to error stores (and an update from
** error finds), and the retry count every update finds and keeps. */
static const char *ERR_KIND ORC_FEED_UNUSED = "unknown";
static const char *ERR_CAUSE ORC_FEED_UNUSED = "it failed";


static inline int setup(void **state) {
  (void)state;
  static const char *const legacy[] = {"notify"};
  STEP = 0;
  VNOW = 0;
  NR_REASON = "";
  ERR_KIND = "unknown";
  ERR_CAUSE = "it failed";
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
  sim_ev ev = {.step = ++STEP, .now_ns = VNOW, .task = task, .kind = kind, .object = obj,
               .extra = extra, .label = label, .ref = ref};
  orc_sink(O, &ev);
}

static inline void conn(uint32_t c) { feed(ORC_EV_CONN, SIM_TASK_NONE, c, 0, NULL, NULL); }

static inline void lock(uint32_t task, const char *key, orc_lock_event e) {
  feed(ORC_EV_LOCK, task, 0, (uint64_t)e, key, NULL);
}

static orc_op OPREC ORC_FEED_UNUSED;

static inline orc_op *op(uint32_t task, unsigned kind, const char *session) {
  (void)task; /* the task is the event's: begin and answer name it */
  /* A call's arguments and result are call_row's. */
  OPREC = (orc_op){.kind = kind, .line = 1, .session = session, .changed = -1, .removed = -1,
                   .args = "{}", .result = "{}"};
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
  r.nw[ORC_SC_CREATED] = r.nw[ORC_SC_UPDATED] = num(NOW);
  r.nw[ORC_SC_KIND] = text("");
  r.nw[ORC_SC_CAUSE] = text("");
  row(task, c, &r);
}

/* The reason a save that keeps status st keeps. */
static inline const char *kept_reason(const char *st) {
  return strcmp(st, "needs_review") == 0 ? NR_REASON : "";
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
  r.old[ORC_SC_REASON] = text(strcmp(st0, "needs_review") == 0 ? NR_REASON : "");
  if (strcmp(st1, "needs_review") == 0 && reason) NR_REASON = reason;
  r.old[ORC_SC_EXTRA] = text(x0);
  r.old[ORC_SC_CREATED] = r.old[ORC_SC_UPDATED] = num(NOW);
  r.nw[ORC_SC_ID] = text(id);
  r.nw[ORC_SC_STATUS] = text(st1);
  r.nw[ORC_SC_VERSION] = num(v1);
  r.nw[ORC_SC_RETRY] = num(0);
  r.nw[ORC_SC_REASON] = text(reason);
  r.nw[ORC_SC_EXTRA] = text(x1);
  r.nw[ORC_SC_CREATED] = r.nw[ORC_SC_UPDATED] = num(NOW);
  bool e0 = strcmp(st0, "error") == 0, e1 = strcmp(st1, "error") == 0;
  r.old[ORC_SC_KIND] = text(e0 ? ERR_KIND : "");
  r.old[ORC_SC_CAUSE] = text(e0 ? ERR_CAUSE : "");
  r.nw[ORC_SC_KIND] = text(e1 ? ERR_KIND : "");
  r.nw[ORC_SC_CAUSE] = text(e1 ? ERR_CAUSE : "");
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
  v[ORC_EC_AT] = num(NOW);
  row(task, c, &r);
}

/* A status_changed event giving the new status's reason. */
static inline void status_event_why(uint32_t task, uint32_t c, const char *id, int64_t seq,
                                    const char *from, const char *to, const char *reason) {
  char p[512];
  if (strcmp(to, "error") == 0)
    snprintf(p, sizeof p, "{\"from\":\"%s\",\"to\":\"%s\",\"reason\":\"%s\",\"error_kind\":\"%s\","
             "\"error\":\"%s\"}", from, to, reason ? reason : "", ERR_KIND, ERR_CAUSE);
  else
    snprintf(p, sizeof p, "{\"from\":\"%s\",\"to\":\"%s\",\"reason\":\"%s\"}", from, to,
             reason ? reason : "");
  event_row(task, c, ORC_INSERT, id, seq, "status_changed", p);
}

/* ... and the reason session_update gave, for needs_review. */
static inline void status_event(uint32_t task, uint32_t c, const char *id, int64_t seq, const char *from,
                                const char *to) {
  status_event_why(task, c, id, seq, from, to, strcmp(to, "needs_review") == 0 ? NR_REASON : "");
}

static inline void ckpt_row(uint32_t task, uint32_t c, orc_row_op rop, const char *tid) {
  orc_row r = {.table = ORC_T_CHECKPOINTS, .op = rop};
  orc_val *v = rop == ORC_INSERT ? r.nw : r.old;
  v[ORC_CC_THREAD] = text(tid);
  v[ORC_CC_DATA] = (orc_val){.type = SQLITE_BLOB, .t = "ck", .n = 2};
  v[ORC_CC_UPDATED] = num(NOW);
  if (rop == ORC_UPDATE) {
    r.nw[ORC_CC_THREAD] = text(tid);
    r.nw[ORC_CC_DATA] = r.old[ORC_CC_DATA];
    r.nw[ORC_CC_UPDATED] = r.old[ORC_CC_UPDATED];
  }
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
#define T3 3u

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
  session_update(t, c, id, status, v, "{}", status, v + 1, "{}", kept_reason(status));
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
  status_event_why(t, 1, id, seq, from, to, reason);
  commit(t, 1);
  lock(t, id, ORC_LOCK_RELEASED);
  o->status = to;
  answer(t, o, AS_OK);
}

static inline void put(uint32_t t, const char *tid, orc_row_op rop) {
  orc_op *o = op(t, SCN_OP_CHECKPOINT, "s0");
  o->thread = tid;
  o->content = "ck"; /* ckpt_row's bytes */
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

/* --- more of them: several histories in one test, operations begun with their rows --------- */

/* A fresh oracle, for a test that plays several histories. */
static inline void reset(void) {
  teardown(NULL);
  assert_int_equal(setup(NULL), 0);
}

/* The oracle lost track (a harness error, no check), saying why. */
static inline void expect_harness(const char *needle) {
  const char *v = orc_violation(O);
  if (!v) fail_msg("no harness error; expected '%s'", needle);
  if (orc_violated_check(O) != ORC__CK_COUNT || !strstr(v, needle) ||
      strncmp(v, "the oracle lost track: ", 23) != 0)
    fail_msg("'%s', expected a harness error with '%s'", v, needle);
}

/* A write by task t on connection c of session id (status st) from version v, extra
** x0 -> x1: the operation begun and its row, the commit left to the caller. */
static inline orc_op *write_rows(uint32_t t, uint32_t c, const char *id, const char *st, int64_t v,
                                 const char *x0, const char *x1) {
  orc_op *o = op(t, SCN_OP_WRITE, id);
  o->content = x1;
  o->base_version = v;
  begin(t, o);
  session_update(t, c, id, st, v, x0, st, v + 1, x1, kept_reason(st));
  return o;
}

/* A tool call `tool` on id (status st) from version v: the operation and its session
** row; the call rows and the commit are the caller's. */
static inline orc_op *tool_rows(uint32_t t, uint32_t c, const char *id, const char *st, int64_t v,
                                const char *tool) {
  orc_op *o = op(t, SCN_OP_TOOL, id);
  o->tool = tool;
  o->tool_state = ORC_CS_EXECUTED;
  o->base_version = v;
  begin(t, o);
  session_update(t, c, id, st, v, "{}", st, v + 1, "{}", kept_reason(st));
  return o;
}

/* A checkpoint of thread tid by task t on connection c: the operation and its row. */
static inline orc_op *put_rows(uint32_t t, uint32_t c, const char *tid, orc_row_op rop) {
  orc_op *o = op(t, SCN_OP_CHECKPOINT, "s0");
  o->thread = tid;
  o->content = "ck"; /* ckpt_row's bytes */
  begin(t, o);
  ckpt_row(t, c, rop, tid);
  return o;
}

/* A GC on connection c removing the n checkpoints, committed and answered. */
static inline void gc_on(uint32_t t, uint32_t c, const char *const *removed, size_t n) {
  orc_op *o = op(t, SCN_OP_GC, NULL);
  begin(t, o);
  for (size_t i = 0; i < n; i++) ckpt_row(t, c, ORC_DELETE, removed[i]);
  commit(t, c);
  o->removed = (int64_t)n;
  answer(t, o, AS_OK);
}

/* A status change of id from (st0, v) to st1 by task t on connection 1 under the
** lock, with its event (seq), committed; the answer left to the caller. */
static inline orc_op *status_rows(uint32_t t, unsigned kind, const char *id, const char *st0, int64_t v,
                                  const char *st1, int64_t seq, const char *reason) {
  lock(t, id, ORC_LOCK_ACQUIRED);
  orc_op *o = op(t, kind, id);
  begin(t, o);
  session_update(t, 1, id, st0, v, "{}", st1, v + 1, "{}", reason);
  status_event(t, 1, id, seq, st0, st1);
  return o;
}

/* --- the quiescence read: a plain SQLite database built to match, or not ------------ */

static sqlite3 *DB ORC_FEED_UNUSED;

static inline void db_exec(const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(DB, sql, NULL, NULL, &err) != SQLITE_OK) fail_msg("%s: %s", sql, err);
}

/* The audited tables as the runtime's schema has them. */
#define ORC_FEED_SCHEMA                                                                            \
  "CREATE TABLE sessions (id TEXT PRIMARY KEY, status TEXT NOT NULL, version INTEGER NOT NULL,"    \
  " retry_count INTEGER NOT NULL, needs_review_reason TEXT NOT NULL, extra TEXT NOT NULL,"         \
  " created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL, error_kind TEXT NOT NULL DEFAULT '',"  \
  " error_cause TEXT NOT NULL DEFAULT '');"                                    \
  "CREATE TABLE tool_calls (session_id TEXT, idx INTEGER, tool TEXT, args TEXT, result TEXT,"      \
  " state TEXT, PRIMARY KEY (session_id, idx)) WITHOUT ROWID;"                                     \
  "CREATE TABLE events (session_id TEXT, seq INTEGER, kind TEXT, payload TEXT, at_ns INTEGER,"     \
  " PRIMARY KEY (session_id, seq)) WITHOUT ROWID;"                                                 \
  "CREATE TABLE checkpoints (thread_id TEXT PRIMARY KEY, data BLOB, updated_ns INTEGER);"        \
  "CREATE TABLE cost_records (day TEXT, seq INTEGER, op_id TEXT, leaf TEXT, session_id TEXT,"     \
  " agent TEXT, name TEXT, input_tokens INTEGER, cache_read_tokens INTEGER,"                      \
  " cache_write_tokens INTEGER, output_tokens INTEGER, usage_estimated INTEGER,"                  \
  " price_version TEXT, cost_micros INTEGER, duration_ns INTEGER, at_ns INTEGER,"                 \
  " PRIMARY KEY (day, seq)) WITHOUT ROWID;"                                                        \
  "CREATE TABLE budget_reservations (op_id TEXT PRIMARY KEY, session_id TEXT, day TEXT,"          \
  " estimate_micros INTEGER, state TEXT, outcome TEXT, settled_micros INTEGER, opened_ns INTEGER," \
  " closed_ns INTEGER) WITHOUT ROWID;"

static inline void make_db(void) {
  assert_int_equal(sqlite3_open(":memory:", &DB), SQLITE_OK);
  db_exec(ORC_FEED_SCHEMA);
}

static inline int quiesce(char *msg, size_t cap) {
  int v = orc_quiescence(O, DB, msg, cap);
  (void)sqlite3_close(DB); /* ignore: an in-memory database */
  DB = NULL;
  return v;
}


/* The database a finished history leaves (history_for_db with db_rows("4")). */
/* A session started, with a call, resolved, and its checkpoint: what db_rows("4") holds. */
static inline void finished_history(void) {
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  tool_at(T1, 1, "s0", "in_progress", 2, NULL, 0, "mark_resolved");
  finalize_to(T1, "s0", "in_progress", 3, "resolved", 2, "");
  put(T2, "s0", ORC_INSERT);
}

static inline void history_for_db(void) {
  finished_history();
  expect_ok();
}

static inline void db_rows(const char *version) {
  char sql[1024];
  snprintf(sql, sizeof sql,
           "INSERT INTO sessions (id,status,version,retry_count,needs_review_reason,extra,created_ns,updated_ns) VALUES ('s0','resolved',%s,0,'','{}',0,0);"
           "INSERT INTO tool_calls VALUES ('s0',0,'mark_resolved','{}','{}','executed');"
           "INSERT INTO events VALUES ('s0',1,'status_changed','{\"from\":\"new\",\"to\":\"in_progress\",\"reason\":\"\"}',0);"
           "INSERT INTO events VALUES ('s0',2,'status_changed','{\"from\":\"in_progress\",\"to\":\"resolved\",\"reason\":\"\"}',0);"
           "INSERT INTO checkpoints VALUES ('s0',x'636b',0);",
           version);
  db_exec(sql);
}

#endif

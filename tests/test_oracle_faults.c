/*
** test_oracle_faults.c -- the oracle's failure paths, and its audit at work.
**
**   the oracle's memory   every allocation the oracle makes fails in turn
**                         (faultwrap.h countdowns, transient and persistent)
**                         while it follows a history that makes it allocate
**                         everywhere it does, and while it reads the database
**                         back: each failure is a harness error saying so,
**                         never a check's violation, never swallowed, and
**                         nothing leaks. strdup is wrapped too (this target
**                         links with --wrap=strdup, below).
**   the audit             SQLite's hooks in a sim run on the simulated disk
**                         (simdb): the events a session's life produces, in
**                         order and with the values SQLite gave; a COMMIT that
**                         met SQLITE_BUSY; what it does not look at; a schema
**                         it does not know; and SQLite's memory failing in
**                         turn under it (simdb's countdown) when a connection
**                         opens, when a row changes, when it maps the schema,
**                         when it registers.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/fmt.h"
#include "faultwrap.h"
#include "oracle_feed.h"
#include "sim.h"
#include "simdb.h"

/* strdup through the wrapped malloc, so its blocks count and can fail. */
char *__wrap_strdup(const char *s);
char *__wrap_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

static const char *const LEGACY[] = {"notify", "page"};

/* --- the oracle's own memory ------------------------------------------------------------------ */

/* A legal history that makes the oracle allocate at every place it does, once: a
** session created, started, given a call, finalized (its history and log copied),
** written by an operation that names everything; a checkpoint stored and removed;
** a commit in flight seen by another, one in doubt, a power loss. Small on purpose:
** the loop replays it once per allocation. */
static void rich_history(void) {
  create("s0");
  create("s1");
  conn(1);
  conn(2);
  start(T1, 1, "s0");
  tool_at(T2, 1, "s0", "in_progress", 2, NULL, 0, "mark_resolved");
  finalize_to(T1, "s0", "in_progress", 3, "resolved", 2, "");
  orc_op *o = write_rows(T2, 1, "s0", "resolved", 4, "{}", "{\"w\":1}");
  o->tool = "a";
  o->thread = "s0";
  commit(T2, 1);
  o->version = 5;
  answer(T2, o, AS_OK);
  put(T2, "s0", ORC_INSERT);
  static const char *const rm[] = {"s0"};
  gc(T2, rm, 1);
  /* In flight on 1, seen by 2, which fails after its commit point; then power loss. */
  orc_op w = *write_rows(T1, 1, "s1", "new", 1, "{}", "{\"w\":1}");
  committing(T1, 1);
  o = write_rows(T2, 2, "s1", "new", 2, "{\"w\":1}", "{\"w\":2}");
  committing(T2, 2);
  rollback(T2, 2);
  answer(T2, o, AS_IO);
  w.version = 2;
  answer(T1, &w, AS_OK);
  power_loss();
  conn(3);
  o = op(T2, SCN_OP_TOOL, "s0"); /* a finished session takes no call */
  o->tool = "late";
  begin(T2, o);
  answer(T2, o, AS_OK);
}

/* How one armed run of the oracle went. */
typedef struct oom_run {
  int rc;       /* orc_new */
  int verdict;  /* orc_quiescence, when it read */
  char msg[1024];
  int fired;
} oom_run;

/* The final read of history_for_db's database, or none. */
static sqlite3 *READ_DB;

static void run_armed(void (*history)(void), unsigned long n, int persistent, oom_run *r) {
  memset(r, 0, sizeof *r);
  STEP = 0;
  O = NULL;
  fw_countdown(FW_ALLOC, n, ENOMEM, persistent);
  r->rc = orc_new(&O, LEGACY, 2);
  if (r->rc == AS_OK) {
    history();
    if (READ_DB) r->verdict = orc_quiescence(O, READ_DB, r->msg, sizeof r->msg);
  }
  r->fired = fw_fired();
  fw_disarm();
}

/* history under a countdown for n = 1, 2, ... until the failure no longer fires:
** every failure reported, as memory, nothing leaked; returns the allocations. */
static unsigned long oom_loop(void (*history)(void), int persistent) {
  unsigned long n;
  for (n = 1;; n++) {
    size_t live = fw_live_blocks();
    oom_run r;
    run_armed(history, n, persistent, &r);
    if (r.rc != AS_OK) {
      assert_int_equal(r.rc, AS_NOMEM);
      assert_true(r.fired);
    } else {
      const char *v = orc_violation(O);
      if (!r.fired) {
        if (v || r.verdict) fail_msg("n=%lu, nothing failed: %s", n, v ? v : r.msg);
      } else if (v) {
        if (orc_violated_check(O) != ORC__CK_COUNT || !strstr(v, "out of memory"))
          fail_msg("n=%lu (%s): '%s' is not the oracle losing track for memory", n,
                   fw_fn_name(fw_fired_fn()), v);
        if (READ_DB) {
          assert_int_equal(r.verdict, SIM_HARNESS);
          assert_string_equal(r.msg, v);
        }
      } else if (!READ_DB || r.verdict != SIM_HARNESS || !strstr(r.msg, "out of memory")) {
        fail_msg("n=%lu (%s) failed and nobody said so (verdict %d '%s')", n,
                 fw_fn_name(fw_fired_fn()), r.verdict, r.msg);
      }
      orc_free(O);
      O = NULL;
    }
    if (fw_live_blocks() != live) fail_msg("n=%lu: %zu blocks leaked", n, fw_live_blocks() - live);
    if (!r.fired) break;
  }
  return n - 1;
}

static int reset_faults(void **state) {
  (void)state;
  fw_reset();
  return 0;
}

static void test_oom_history(void **state) {
  (void)state;
  READ_DB = NULL;
  unsigned long n = oom_loop(rich_history, 0);
  assert_true(n > 50); /* it did allocate */
  assert_int_equal(oom_loop(rich_history, 1), n);
}

static void test_oom_quiescence(void **state) {
  (void)state;
  make_db();
  db_rows("4");
  READ_DB = DB;
  unsigned long n = oom_loop(finished_history, 0);
  assert_int_equal(oom_loop(finished_history, 1), n);
  READ_DB = NULL;
  (void)sqlite3_close(DB); /* ignore: an in-memory database */
  DB = NULL;
  /* The read itself, alone: each of its allocations in turn. */
  STEP = 0;
  assert_int_equal(orc_new(&O, LEGACY, 2), AS_OK);
  history_for_db();
  make_db();
  db_rows("4");
  unsigned long k;
  for (k = 1;; k++) {
    size_t live = fw_live_blocks();
    char msg[512];
    fw_countdown(FW_ALLOC, k, ENOMEM, 0);
    int v = orc_quiescence(O, DB, msg, sizeof msg);
    int fired = fw_fired();
    fw_disarm();
    assert_int_equal(fw_live_blocks(), live);
    if (!fired) {
      if (v) fail_msg("%s", msg);
      break;
    }
    assert_int_equal(v, SIM_HARNESS);
    if (!strstr(msg, "out of memory")) fail_msg("k=%lu: %s", k, msg);
  }
  assert_true(k > 8); /* got, seen, two texts, a call, two event texts ... */
  (void)sqlite3_close(DB); /* ignore: an in-memory database */
  DB = NULL;
  orc_free(O);
  O = NULL;
}

/* orc_new alone: its copy of the legacy tools. */
static void test_oom_new(void **state) {
  (void)state;
  unsigned long n;
  for (n = 1;; n++) {
    size_t live = fw_live_blocks();
    orc *o = NULL;
    fw_countdown(FW_ALLOC, n, ENOMEM, 0);
    int rc = orc_new(&o, LEGACY, 2);
    int fired = fw_fired();
    fw_disarm();
    if (!fired) {
      assert_int_equal(rc, AS_OK);
      orc_free(o);
      assert_int_equal(fw_live_blocks(), live);
      break;
    }
    assert_int_equal(rc, AS_NOMEM);
    assert_null(o);
    assert_int_equal(fw_live_blocks(), live);
  }
  assert_int_equal(n, 5); /* the oracle, the list, two names; the fifth did not fail */
  orc_free(NULL);
}

/* The agents' model: the app's legacy tools copied (orc_set_app), and a
** pause noted with its time, each allocation failing in turn. */
static orc_app FAPP;

static void fapp_init(void) {
  memset(&FAPP, 0, sizeof FAPP);
  snprintf(FAPP.tools[0].qname, sizeof FAPP.tools[0].qname, "k8s:restart");
  FAPP.tools[0].risk = 2;
  snprintf(FAPP.tools[1].qname, sizeof FAPP.tools[1].qname, "notify:page");
  FAPP.tools[1].legacy = true;
  snprintf(FAPP.tools[2].qname, sizeof FAPP.tools[2].qname, "notify:call");
  FAPP.tools[2].legacy = true;
  FAPP.ntools = 3;
}

/* A run that pauses s0 at a pending call (the app without its legacy tools:
** orc_set_app allocates nothing then). */
static void paused_history(void) {
  static orc_app bare;
  bare = FAPP;
  bare.ntools = 1;
  assert_int_equal(orc_set_app(O, &bare), AS_OK);
  create("s0");
  conn(1);
  start(T1, 1, "s0");
  lock(T1, "s0", ORC_LOCK_ACQUIRED);
  orc_op *o = op(T1, SCN_OP_RUN, "s0");
  begin(T1, o);
  session_update(T1, 1, "s0", "in_progress", 2, "{}", "awaiting_input", 3, "{}", "");
  call_row(T1, 1, ORC_INSERT, "s0", 0, "k8s:restart", "pending_approval");
  status_event(T1, 1, "s0", 2, "in_progress", "awaiting_input");
  event_row(T1, 1, ORC_INSERT, "s0", 3, "approval_requested", "{\"call\":0}");
  commit(T1, 1);
  lock(T1, "s0", ORC_LOCK_RELEASED);
  o->outcome = ORC_RUN_PAUSED;
  answer(T1, o, AS_OK);
}

static void test_oom_agents(void **state) {
  (void)state;
  fapp_init();
  READ_DB = NULL;
  unsigned long n = oom_loop(paused_history, 0);
  assert_true(n > 10);
  assert_int_equal(oom_loop(paused_history, 1), n);
  /* orc_set_app alone: the list grows and a name is copied, per legacy tool. */
  unsigned long k;
  for (k = 1;; k++) {
    size_t live = fw_live_blocks();
    orc *o = NULL;
    assert_int_equal(orc_new(&o, LEGACY, 2), AS_OK);
    fw_countdown(FW_ALLOC, k, ENOMEM, 0);
    int rc = orc_set_app(o, &FAPP);
    int fired = fw_fired();
    fw_disarm();
    orc_free(o);
    assert_int_equal(fw_live_blocks(), live); /* what it copied before failing is freed too */
    if (!fired) {
      assert_int_equal(rc, AS_OK);
      break;
    }
    assert_int_equal(rc, AS_NOMEM);
  }
  assert_int_equal(k, 5); /* two tools: the list, the name, the list, the name */
}

/* --- the audit in a sim run ------------------------------------------------------------------- */

enum { AUDIT_FLOW, AUDIT_UNMAPPED, AUDIT_SCHEMA, AUDIT_OPEN_OOM, AUDIT_ROW_OOM, AUDIT_REGISTER_OOM };

/* What the audited run does, and what it saw (the run's own state is gone after it). */
static struct {
  int script;
  simdb_disk *disk;
  char log[8192]; /* the oracle's events, described, one a line */
  size_t len;
  char fail[256]; /* the first check in the run that did not hold */
  int map_rc[4];
  char map_err[4][256];
  unsigned long loops, harness, nomem; /* the countdown loops inside the run */
  int verdict;                         /* the final read */
  char msg[1024];
  char violation[1536];
} R;

static sim *S;

#define CHECK(cond)                                                                         \
  do {                                                                                      \
    if (!(cond) && !R.fail[0]) snprintf(R.fail, sizeof R.fail, "line %d: %s", __LINE__, #cond); \
  } while (0)

static void val(const orc_val *v) {
  switch (v->type) {
  case SQLITE_INTEGER: R.len = as_appendf(R.log, sizeof R.log, R.len, " %" PRId64, v->i); return;
  case SQLITE_TEXT: R.len = as_appendf(R.log, sizeof R.log, R.len, " '%.*s'", (int)v->n, v->t); return;
  case SQLITE_BLOB: R.len = as_appendf(R.log, sizeof R.log, R.len, " x%zu", v->n); return;
  case ORC_VAL_UNREADABLE: R.len = as_appendf(R.log, sizeof R.log, R.len, " !"); return;
  default: R.len = as_appendf(R.log, sizeof R.log, R.len, " -"); return;
  }
}

/* The oracle's events as the sim publishes them, with a row's values. */
static void record(void *ctx, const sim_ev *ev) {
  (void)ctx;
  if (ev->kind < ORC_EV_BASE || ev->kind >= ORC__EV_END || R.script != AUDIT_FLOW) return;
  char line[256];
  orc_describe(ev, line, sizeof line);
  R.len = as_appendf(R.log, sizeof R.log, R.len, "%s", line);
  const orc_row *r = ev->kind == ORC_EV_ROW ? ev->ref : NULL;
  static const int ncols[ORC__T_COUNT] = {6, 6, 4, 2};
  for (int side = 0; r && side < 2; side++) {
    if ((side == 0 && r->op == ORC_INSERT) || (side == 1 && r->op == ORC_DELETE)) continue;
    R.len = as_appendf(R.log, sizeof R.log, R.len, " %s", side ? "new" : "old");
    for (int i = 0; i < ncols[r->table]; i++) val(side ? &r->nw[i] : &r->old[i]);
  }
  R.len = as_appendf(R.log, sizeof R.log, R.len, "\n");
}

/* The sink for the run's oracle, whichever it is now. */
static void to_oracle(void *ctx, const sim_ev *ev) {
  (void)ctx;
  if (O) orc_sink(O, ev);
}

static void tell(uint32_t kind, orc_op *op) {
  sim_publish(&(sim_ev){.kind = kind, .object = op->kind, .label = "main", .ref = op});
}

static orc_op operation(unsigned kind, const char *session) {
  return (orc_op){.kind = kind, .session = session, .line = 1, .changed = -1, .removed = -1};
}

static int x(sqlite3 *db, const char *sql) { return sqlite3_exec(db, sql, NULL, NULL, NULL); }

static sqlite3 *open_db(void) {
  sqlite3 *db = NULL;
  int src = sqlite3_open_v2("a.db", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                            simdb_disk_vfs(R.disk));
  CHECK(src == SQLITE_OK);
  if (src == SQLITE_OK) return db;
  (void)sqlite3_close_v2(db); /* ignore: already failing */
  return NULL;
}

/* The audit's number for db (SELECT as_audit_conn()), or -1. */
static int64_t conn_number(sqlite3 *db) {
  sqlite3_stmt *q = NULL;
  int64_t n = -1;
  if (sqlite3_prepare_v2(db, "SELECT as_audit_conn()", -1, &q, NULL) == SQLITE_OK &&
      sqlite3_step(q) == SQLITE_ROW)
    n = sqlite3_column_int64(q, 0);
  (void)sqlite3_finalize(q); /* ignore: n says it */
  return n;
}

#define SCHEMA "BEGIN;" ORC_FEED_SCHEMA "COMMIT;"
/* SIM_WALL_EPOCH_NS as SQL: these runs stamp their rows at virtual time 0. */
#define EPOCH "1767225600000000000"
_Static_assert(SIM_WALL_EPOCH_NS == 1767225600000000000, "EPOCH is the world's wall epoch");

/* One statement as an operation: begun, run, answered (version: a save's). */
static int as_op(sqlite3 *db, orc_op *op, const char *sql, int64_t version) {
  tell(ORC_EV_OP, op);
  int src = x(db, sql);
  op->rc = src == SQLITE_OK ? AS_OK : (src & 0xff) == SQLITE_NOMEM ? AS_NOMEM : AS_IO;
  if (src == SQLITE_OK) op->version = version;
  tell(ORC_EV_ACK, op);
  return src;
}

static void flow(void) {
  sqlite3 *db = open_db();
  if (!db) return;
  CHECK(x(db, SCHEMA) == SQLITE_OK);
  R.map_rc[0] = orc_audit_map(db, R.map_err[0], sizeof R.map_err[0]);
  orc_op c = operation(ORC_OP_CREATE, "s0");
  CHECK(as_op(db, &c, "INSERT INTO sessions (id,status,version,retry_count,needs_review_reason,extra,created_ns,updated_ns) VALUES ('s0','new',1,0,'','{}'," EPOCH "," EPOCH ")", 0) == SQLITE_OK);
  orc_op w = operation(SCN_OP_WRITE, "s0");
  w.content = "{\"w\":1}";
  w.base_version = 1;
  CHECK(as_op(db, &w, "UPDATE sessions SET version = 2, extra = '{\"w\":1}' WHERE id = 's0'", 2) ==
        SQLITE_OK);
  /* A COMMIT that meets SQLITE_BUSY taking its lock: no commit yet (SQLite takes the lock
  ** before it calls the hook), the transaction stays open, and the retry commits. */
  w = operation(SCN_OP_WRITE, "s0");
  w.content = "{\"w\":2}";
  w.base_version = 2;
  tell(ORC_EV_OP, &w);
  CHECK(x(db, "BEGIN; UPDATE sessions SET version = 3, extra = '{\"w\":2}' WHERE id = 's0'") == SQLITE_OK);
  simdb_disk_fault_rate(R.disk, AS_FP_VFS_LOCK_BUSY, 1000000);
  CHECK(x(db, "COMMIT") == SQLITE_BUSY);
  CHECK(!sqlite3_get_autocommit(db));
  simdb_disk_fault_rate(R.disk, AS_FP_VFS_LOCK_BUSY, 0);
  CHECK(x(db, "COMMIT") == SQLITE_OK);
  w.rc = AS_OK;
  w.version = 3;
  tell(ORC_EV_ACK, &w);
  /* Rolled back before its commit: nothing happened. */
  w = operation(SCN_OP_WRITE, "s0");
  w.content = "{}";
  w.base_version = 3;
  tell(ORC_EV_OP, &w);
  CHECK(x(db, "BEGIN; UPDATE sessions SET version = 4, extra = '{}' WHERE id = 's0'; ROLLBACK") ==
        SQLITE_OK);
  w.rc = AS_IO;
  tell(ORC_EV_ACK, &w);
  /* Checkpoints: bytes, no bytes, no value; a GC takes them all (no such sessions). */
  static const char *const puts[][3] = {{"t1", "x'636b'", "ck"}, {"t2", "x''", ""}, {"t3", "NULL", ""}};
  for (int i = 0; i < 3; i++) {
    orc_op k = operation(SCN_OP_CHECKPOINT, "s0");
    k.thread = puts[i][0];
    k.content = puts[i][2];
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT INTO checkpoints VALUES ('%s', %s, " EPOCH ")", puts[i][0], puts[i][1]);
    CHECK(as_op(db, &k, sql, 0) == SQLITE_OK);
  }
  orc_op g = operation(SCN_OP_GC, NULL);
  g.removed = 3;
  CHECK(as_op(db, &g, "DELETE FROM checkpoints", 0) == SQLITE_OK);
  /* What the audit does not look at: a temporary table of the same name, a table it
  ** does not know. */
  CHECK(x(db, "CREATE TEMP TABLE sessions (id TEXT); INSERT INTO temp.sessions VALUES ('s9');"
              "CREATE TABLE other (x); INSERT INTO other VALUES (1.5)") == SQLITE_OK);
  /* Each audited connection knows its number; a second one is c1. */
  CHECK(conn_number(db) == 0);
  sqlite3 *db2 = open_db();
  if (db2) {
    CHECK(conn_number(db2) == 1);
    CHECK(sqlite3_close_v2(db2) == SQLITE_OK);
  }
  CHECK(sqlite3_close_v2(db) == SQLITE_OK);
  /* The run is over for the audit: a connection opened now is not followed. */
  orc_audit_end();
  db = open_db();
  if (db) {
    CHECK(x(db, "UPDATE sessions SET status = 'new'") == SQLITE_OK);
    CHECK(sqlite3_close_v2(db) == SQLITE_OK);
  }
}

/* A change before the audit learnt the schema: it has nothing to report. */
static void unmapped(void) {
  sqlite3 *db = open_db();
  if (!db) return;
  CHECK(x(db, SCHEMA) == SQLITE_OK);
  orc_op c = operation(ORC_OP_CREATE, "s0");
  (void)as_op(db, &c, "INSERT INTO sessions (id,status,version,retry_count,needs_review_reason,extra,created_ns,updated_ns) VALUES ('s0','new',1,0,'','{}'," EPOCH "," EPOCH ")", 0);
  CHECK(sqlite3_close_v2(db) == SQLITE_OK);
}

/* Schemas the audit refuses, and a schema it cannot read. */
static void schema(void) {
  static const char *const broken[] = {
      "CREATE TABLE sessions (id TEXT, status TEXT, version INTEGER, retry_count INTEGER,"
      " needs_review_reason TEXT);",
      "CREATE TABLE sessions (id, status, version, retry_count, needs_review_reason, extra,"
      " created_ns, updated_ns, error_kind, error_cause);"
      "CREATE TABLE tool_calls (session_id, idx, tool, args, result, state);"
      "CREATE TABLE events (session_id, seq, kind, payload, at_ns);"};
  for (int k = 0; k < 2; k++) {
    sqlite3 *db = NULL;
    char name[16];
    snprintf(name, sizeof name, "b%d.db", k);
    CHECK(sqlite3_open_v2(name, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, simdb_disk_vfs(R.disk)) ==
          SQLITE_OK);
    CHECK(x(db, broken[k]) == SQLITE_OK);
    R.map_rc[k] = orc_audit_map(db, R.map_err[k], sizeof R.map_err[k]);
    CHECK(sqlite3_close_v2(db) == SQLITE_OK);
  }
  sqlite3 *db = open_db();
  if (!db) return;
  CHECK(x(db, SCHEMA) == SQLITE_OK);
  CHECK(sqlite3_close_v2(db) == SQLITE_OK);
  /* A fresh connection reads the schema from the disk, which fails. */
  db = open_db();
  if (!db) return;
  simdb_disk_fault_rate(R.disk, AS_FP_VFS_READ, 1000000);
  R.map_rc[2] = orc_audit_map(db, R.map_err[2], sizeof R.map_err[2]);
  simdb_disk_fault_rate(R.disk, AS_FP_VFS_READ, 0);
  /* SQLite's memory fails in turn while it maps. */
  for (R.loops = 1;; R.loops++) {
    simdb_malloc_fail_after(R.loops, false);
    int rc = orc_audit_map(db, R.map_err[3], sizeof R.map_err[3]);
    bool fired = simdb_malloc_fired();
    simdb_malloc_fail_after(0, false);
    if (!fired) {
      R.map_rc[3] = rc;
      break;
    }
    if (rc == AS_NOMEM) {
      R.nomem++;
      CHECK(strstr(R.map_err[3], "reading the columns of ") && strstr(R.map_err[3], ": out of memory"));
    } else {
      CHECK(rc == AS_OK); /* a failure SQLite itself shrugged off */
    }
  }
  CHECK(sqlite3_close_v2(db) == SQLITE_OK);
}

/* SQLite's memory fails in turn while a connection opens (the audit installs its
** hooks as it does): the open fails, or it works and is followed; nothing leaks. */
static void open_oom(void) {
  for (R.loops = 1;; R.loops++) {
    uint64_t before = simdb_mem_outstanding();
    sqlite3 *db = NULL;
    simdb_malloc_fail_after(R.loops, false);
    int src = sqlite3_open_v2("a.db", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, simdb_disk_vfs(R.disk));
    bool fired = simdb_malloc_fired();
    simdb_malloc_fail_after(0, false);
    if (src != SQLITE_OK) {
      CHECK((src & 0xff) == SQLITE_NOMEM);
      R.nomem++;
    }
    CHECK(sqlite3_close_v2(db) == SQLITE_OK);
    CHECK(simdb_mem_outstanding() == before);
    if (!fired) break;
  }
}

/* SQLite's memory fails in turn while a write changes a session's row: the write
** fails, or the audit cannot read the row and the oracle says it lost track, or all
** is well; never a check's violation. A fresh oracle, connection and session each time. */
static void row_oom(void) {
  sqlite3 *db = open_db();
  if (!db) return;
  CHECK(x(db, SCHEMA) == SQLITE_OK);
  R.map_rc[0] = orc_audit_map(db, R.map_err[0], sizeof R.map_err[0]);
  CHECK(sqlite3_close_v2(db) == SQLITE_OK);
  for (R.loops = 1;; R.loops++) {
    orc_free(O);
    O = NULL;
    if (orc_new(&O, LEGACY, 2) != AS_OK) {
      CHECK(!"orc_new");
      return;
    }
    db = open_db();
    if (!db) return;
    char id[32], sql[256];
    snprintf(id, sizeof id, "s%lu", R.loops);
    orc_op c = operation(ORC_OP_CREATE, id);
    snprintf(sql, sizeof sql, "INSERT INTO sessions (id,status,version,retry_count,needs_review_reason,extra,created_ns,updated_ns) VALUES ('%s','new',1,0,'','{}'," EPOCH "," EPOCH ")", id);
    CHECK(as_op(db, &c, sql, 0) == SQLITE_OK);
    orc_op w = operation(SCN_OP_WRITE, id);
    w.content = "{\"w\":1}";
    w.base_version = 1;
    snprintf(sql, sizeof sql, "UPDATE sessions SET version = 2, extra = '{\"w\":1}' WHERE id = '%s'", id);
    tell(ORC_EV_OP, &w);
    simdb_malloc_fail_after(R.loops, false);
    int src = x(db, sql);
    bool fired = simdb_malloc_fired();
    simdb_malloc_fail_after(0, false);
    w.rc = src == SQLITE_OK ? AS_OK : (src & 0xff) == SQLITE_NOMEM ? AS_NOMEM : AS_IO;
    w.version = src == SQLITE_OK ? 2 : 0;
    tell(ORC_EV_ACK, &w);
    if (src != SQLITE_OK) R.nomem++;
    const char *v = orc_violation(O);
    if (v) {
      R.harness++;
      CHECK(orc_violated_check(O) == ORC__CK_COUNT);
      CHECK(strstr(v, "SQLite could not give the audit a changed row of sessions (out of memory)"));
    }
    CHECK(sqlite3_close_v2(db) == SQLITE_OK);
    if (!fired) break;
  }
}

static int audit_setup(void *state, sim_rng *workload) {
  (void)state;
  (void)workload;
  int rc = simdb_run_begin();
  if (rc == AS_OK) rc = simdb_disk_new(&R.disk, NULL);
  if (rc == AS_OK) rc = orc_new(&O, LEGACY, 2);
  if (rc == AS_OK) rc = sim_sink_add(to_oracle, NULL);
  if (rc == AS_OK) rc = sim_sink_add(record, NULL);
  if (rc != AS_OK) return rc;
  simdb_disk_latency_off(R.disk); /* the scripts stamp their rows at the epoch: no time passes */
  if (R.script == AUDIT_REGISTER_OOM) {
    /* SQLite's list of automatic extensions emptied: registering allocates. */
    for (R.loops = 1;; R.loops++) {
      sqlite3_reset_auto_extension();
      simdb_malloc_fail_after(R.loops, false);
      rc = orc_audit_begin();
      bool fired = simdb_malloc_fired();
      simdb_malloc_fail_after(0, false);
      if (!fired) break;
      CHECK(rc == AS_NOMEM);
      R.nomem++;
    }
    return rc;
  }
  return orc_audit_begin();
}

static void audit_main(void *state) {
  (void)state;
  switch (R.script) {
  case AUDIT_FLOW: flow(); break;
  case AUDIT_UNMAPPED: unmapped(); break;
  case AUDIT_SCHEMA: schema(); break;
  case AUDIT_OPEN_OOM: open_oom(); break;
  case AUDIT_ROW_OOM: row_oom(); break;
  default: {
    sqlite3 *db = open_db(); /* the audit registered after all: it follows this one */
    if (db) CHECK(sqlite3_close_v2(db) == SQLITE_OK);
    CHECK(orc_violation(O) == NULL);
    break;
  }
  }
}

/* At quiescence, the audit over: the database read back against the model. */
static int audit_check(void *state, char *msg, size_t cap) {
  (void)state;
  (void)msg;
  (void)cap;
  orc_audit_end();
  sqlite3 *db = NULL;
  int src = sqlite3_open_v2("a.db", &db, SQLITE_OPEN_READWRITE, simdb_disk_vfs(R.disk));
  R.verdict = src == SQLITE_OK ? orc_quiescence(O, db, R.msg, sizeof R.msg) : -1;
  (void)sqlite3_close_v2(db); /* ignore: the verdict is what counts */
  return 0;
}

static void audit_teardown(void *state) {
  (void)state;
  orc_audit_end();
  if (O && orc_violation(O)) snprintf(R.violation, sizeof R.violation, "%s", orc_violation(O));
  orc_free(O);
  O = NULL;
  (void)simdb_run_end(); /* ignore: a count of leftovers */
}

static const sim_program AUDIT_PROGRAM = {
    .name = "audit",
    .summary = "the oracle's SQLite hooks in a run",
    .state_size = 8,
    .est_tasks = 1,
    .est_steps = 1000,
    .setup = audit_setup,
    .main = audit_main,
    .check = audit_check,
    .describe = orc_describe,
    .teardown = audit_teardown,
};

/* Run the script; the run itself passes (what it saw is in R). */
static void audit_run(int script) {
  memset(&R, 0, sizeof R);
  R.script = script;
  sim_config cfg = {.seed = 1, .strategy = SIM_STRATEGY_RANDOM};
  sim_result res;
  assert_int_equal(sim_run(S, &AUDIT_PROGRAM, &cfg, &res), AS_OK);
  if (res.outcome != SIM_PASS) fail_msg("%s: %s", sim_outcome_name(res.outcome), res.message);
  sim_result_clear(&res);
  if (R.fail[0]) fail_msg("in the run, %s", R.fail);
}

static int audit_group_setup(void **state) {
  (void)state;
  if (sim_new(&S, SIM_SWITCH_FCONTEXT, 0) != AS_OK) return -1;
  return simdb_install() == AS_OK ? 0 : -1;
}

static int audit_group_teardown(void **state) {
  (void)state;
  sim_free(S);
  S = NULL;
  return simdb_uninstall() == AS_OK ? 0 : -1;
}

static void test_audit_flow(void **state) {
  (void)state;
  audit_run(AUDIT_FLOW);
  assert_int_equal(R.map_rc[0], AS_OK);
  if (R.violation[0]) fail_msg("%s", R.violation);
  if (R.verdict) fail_msg("final read %d: %s", R.verdict, R.msg);
  static const char want[] =
      "db-open c0\n"
      "db-tx c0 open\n" /* the schema, in its own transaction */
      "db-commit c0\n"
      "db-committed c0\n"
      "db-tx c0 ended\n"
      "op create s0\n"
      "db-row c0 insert sessions s0 status=new version=1 new 's0' 'new' 1 0 '' '{}'\n"
      "db-commit c0\n"
      "db-committed c0\n"
      "ack create s0 -> AS_OK\n"
      "op write s0\n"
      "db-row c0 update sessions s0 status=new version=2 old 's0' 'new' 1 0 '' '{}' new 's0' 'new' 2 0 '' '{\"w\":1}'\n"
      "db-commit c0\n"
      "db-committed c0\n"
      "ack write s0 -> AS_OK\n"
      "op write s0\n"
      "db-tx c0 open\n"
      "db-row c0 update sessions s0 status=new version=3 old 's0' 'new' 2 0 '' '{\"w\":1}' new 's0' 'new' 3 0 '' '{\"w\":2}'\n"
      "db-commit c0\n" /* once: the busy COMMIT never reached the hook */
      "db-committed c0\n"
      "db-tx c0 ended\n"
      "ack write s0 -> AS_OK\n"
      "op write s0\n"
      "db-tx c0 open\n"
      "db-row c0 update sessions s0 status=new version=4 old 's0' 'new' 3 0 '' '{\"w\":2}' new 's0' 'new' 4 0 '' '{}'\n"
      "db-rollback c0\n"
      "db-tx c0 ended\n"
      "ack write s0 -> AS_IO\n"
      "op checkpoint s0\n"
      "db-row c0 insert checkpoints t1 new 't1' x2\n"
      "db-commit c0\n"
      "db-committed c0\n"
      "ack checkpoint s0 -> AS_OK\n"
      "op checkpoint s0\n"
      "db-row c0 insert checkpoints t2 new 't2' x0\n"
      "db-commit c0\n"
      "db-committed c0\n"
      "ack checkpoint s0 -> AS_OK\n"
      "op checkpoint s0\n"
      "db-row c0 insert checkpoints t3 new 't3' -\n"
      "db-commit c0\n"
      "db-committed c0\n"
      "ack checkpoint s0 -> AS_OK\n"
      "op gc\n"
      "db-row c0 delete checkpoints t1 old 't1' x2\n"
      "db-row c0 delete checkpoints t2 old 't2' x0\n"
      "db-row c0 delete checkpoints t3 old 't3' -\n"
      "db-commit c0\n"
      "db-committed c0\n"
      "ack gc -> AS_OK\n"
      /* the temporary table, its row, the other table, its row: commits with no rows */
      "db-commit c0\ndb-committed c0\ndb-commit c0\ndb-committed c0\n"
      "db-commit c0\ndb-committed c0\ndb-commit c0\ndb-committed c0\n"
      "db-open c1\n";
  assert_string_equal(R.log, want);
}

static void test_audit_unmapped(void **state) {
  (void)state;
  audit_run(AUDIT_UNMAPPED);
  if (!strstr(R.violation, "the oracle lost track: a change to sessions before the audit learnt the schema"))
    fail_msg("'%s'", R.violation);
  assert_int_equal(R.verdict, SIM_HARNESS);
}

static void test_audit_schema(void **state) {
  (void)state;
  audit_run(AUDIT_SCHEMA);
  assert_int_equal(R.map_rc[0], AS_UNSUPPORTED);
  assert_string_equal(R.map_err[0], "table sessions has no column extra: the schema changed, tell the oracle");
  assert_int_equal(R.map_rc[1], AS_UNSUPPORTED);
  assert_string_equal(R.map_err[1], "table checkpoints has no column thread_id: the schema changed, tell the oracle");
  assert_int_equal(R.map_rc[2], AS_IO);
  assert_string_equal(R.map_err[2], "reading the columns of sessions: disk I/O error");
  assert_int_equal(R.map_rc[3], AS_OK);
  assert_true(R.nomem > 0);
}

static void test_audit_open_oom(void **state) {
  (void)state;
  audit_run(AUDIT_OPEN_OOM);
  assert_true(R.nomem > 0);
  assert_true(R.loops > R.nomem);
}

static void test_audit_row_oom(void **state) {
  (void)state;
  audit_run(AUDIT_ROW_OOM);
  assert_int_equal(R.map_rc[0], AS_OK);
  assert_true(R.harness > 0); /* the audit could not read the row, and said so */
  assert_true(R.nomem > 0);   /* the write failed */
}

static void test_audit_register_oom(void **state) {
  (void)state;
  audit_run(AUDIT_REGISTER_OOM);
  assert_true(R.nomem > 0);
}

/* Armed outside a run, the audit follows nothing. */
static void test_audit_outside_run(void **state) {
  (void)state;
  assert_int_equal(orc_audit_begin(), AS_OK);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "CREATE TABLE sessions (id TEXT)", NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_close_v2(db), SQLITE_OK);
  orc_audit_end();
}

int main(void) {
  const struct CMUnitTest memory[] = {
      cmocka_unit_test_setup(test_oom_new, reset_faults),
      cmocka_unit_test_setup(test_oom_history, reset_faults),
      cmocka_unit_test_setup(test_oom_quiescence, reset_faults),
      cmocka_unit_test_setup(test_oom_agents, reset_faults),
  };
  const struct CMUnitTest audit[] = {
      cmocka_unit_test(test_audit_flow),         cmocka_unit_test(test_audit_unmapped),
      cmocka_unit_test(test_audit_schema),       cmocka_unit_test(test_audit_open_oom),
      cmocka_unit_test(test_audit_row_oom),      cmocka_unit_test(test_audit_register_oom),
      cmocka_unit_test(test_audit_outside_run),
  };
  int failed = cmocka_run_group_tests_name("memory", memory, NULL, NULL);
  return failed + cmocka_run_group_tests_name("audit", audit, audit_group_setup, audit_group_teardown);
}

/*
** test_simdb.c -- the simulated database through SQLite: workloads inside
** sim runs on a simulated disk, in every rollback journal mode and WAL.
**
** Writes read back; two connections in two tasks interleave at VFS calls
** and lock each other out as SQLite's protocol says, with busy waits in
** virtual time; a crash keeps exactly what was committed (swept over every
** crash point of a transaction), a hot journal is rolled back, unsynced
** writes are lost; faults map to SQLite's errors; the allocation countdown
** leaks nothing; a run's leftovers are swept; the same seed gives the same
** trace; and the process can switch to real SQLite and back.
*/
#include "simdb_test.h"

#include <time.h>
#include <unistd.h>

/* What the test sets before a run. */
static struct params {
  const char *mode; /* journal_mode */
  simdb_disk_config cfg;
  uint64_t crash_after;
  uint32_t ppm[AS__FP_COUNT];
  unsigned fault_point;
  uint64_t malloc_n;
  bool malloc_persistent;
} P;

/* What tasks saw, for the test to check after the run. */
static struct observations {
  size_t swept;
  uint64_t mem_task_before, mem_task_after;
  int rc[8];
  long long n[8];
  uint64_t u[8];
  bool crashed, hot, fired;
} obs;

typedef struct dbst {
  simdb_disk *disk;
  as_task *t[3];
  int flag;
  uint64_t when[4];
} dbst;

static int db_setup(void *state, sim_rng *r) {
  dbst *st = state;
  (void)r;
  int rc = simdb_run_begin();
  if (rc != AS_OK) return rc;
  return simdb_disk_new(&st->disk, &P.cfg);
}

static void db_teardown(void *state) {
  (void)state;
  obs.swept = simdb_run_end();
}

#define DB_PROGRAM(nm, mainfn)                                                 \
  static const sim_program nm##_prog = {                                       \
      .name = "simdb:" #nm,                                                    \
      .summary = #nm,                                                          \
      .state_size = sizeof(dbst),                                              \
      .est_tasks = 3,                                                          \
      .est_steps = 1000,                                                       \
      .setup = db_setup,                                                       \
      .main = mainfn,                                                          \
      .teardown = db_teardown,                                                 \
  }

/* Poll a flag another task sets. Sleeping, not yielding: virtual time
** moves only when every task is blocked, and the other may be asleep. */
static void wait_flag(const dbst *st, int v) {
  while (st->flag != v) as_sleep_until(as_now_mono_ns() + 1000000u);
}

static void reset(const char *mode) {
  memset(&P, 0, sizeof P);
  memset(&obs, 0, sizeof obs);
  P.mode = mode;
}

/* journal_mode=P.mode (checked: WAL must really be on) and synchronous. */
static int set_mode(sqlite3 *db, const char *sync) {
  char q[128];
  /* synchronous first: switching to WAL writes (and syncs) the header. */
  snprintf(q, sizeof q, "PRAGMA synchronous=%s", sync);
  int rc = sql(db, q);
  if (rc != SQLITE_OK) return rc;
  snprintf(q, sizeof q, "PRAGMA journal_mode=%s", P.mode);
  sqlite3_stmt *st = NULL;
  rc = sqlite3_prepare_v2(db, q, -1, &st, NULL);
  if (rc != SQLITE_OK) return rc;
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const char *got = (const char *)sqlite3_column_text(st, 0);
    rc = got && strcmp(got, P.mode) == 0 ? SQLITE_OK : SQLITE_MISMATCH;
  }
  int frc = sqlite3_finalize(st);
  return rc == SQLITE_OK ? frc : rc;
}

/* Open name, set the mode, or record why not. */
static sqlite3 *open_mode(const char *name, const char *sync) {
  int rc;
  sqlite3 *db = sql_open(name, NULL, &rc);
  TEQ(rc, SQLITE_OK);
  TEQ(set_mode(db, sync), SQLITE_OK);
  return db;
}

static void close_db(sqlite3 *db) { TEQ(sqlite3_close(db), SQLITE_OK); }

static const char *const modes[] = {"delete", "truncate", "persist", "wal"};
/* What the crash tests need to find every commit: EXTRA, the level at which
** every journal mode is durable on the honest disk (delete's commit is an
** unlink, durable only with a directory sync; test_simdb_durability.c has
** the whole table). */
#define DURABLE "EXTRA"
#define NMODES (sizeof modes / sizeof modes[0])

/* --- write and read back ------------------------------------------------------ */

static void basic_main(void *state) {
  dbst *st = state;
  int rc;
  sqlite3 *db = open_mode("basic.db", "FULL");
  TEQ(sql(db, "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)"), SQLITE_OK);
  TEQ(sql(db, "BEGIN"), SQLITE_OK);
  for (int i = 0; i < 100; i++) {
    char q[96];
    snprintf(q, sizeof q, "INSERT INTO t(v) VALUES ('row-%d')", i);
    TEQ(sql(db, q), SQLITE_OK);
  }
  TEQ(sql(db, "COMMIT"), SQLITE_OK);
  TEQ(sql_int(db, "SELECT count(*) FROM t"), 100);
  /* An in-memory temp table spills to simvfs temp files with a tiny cache. */
  TEQ(sql(db, "PRAGMA temp.cache_size=2; CREATE TEMP TABLE tt AS SELECT * FROM t, t AS u LIMIT 3000"),
      SQLITE_OK);
  TEQ(sql_int(db, "SELECT count(*) FROM tt"), 3000);
  close_db(db);
  /* Again through the disk's own VFS, by its absolute name. */
  db = sql_open("/basic.db", simdb_disk_vfs(st->disk), &rc);
  TEQ(rc, SQLITE_OK);
  TEQ(sql_int(db, "SELECT count(*) FROM t WHERE v LIKE 'row-%'"), 100);
  TCHECK(sql_intact(db));
  close_db(db);
  simdb_file_info fi;
  TEQ(simdb_disk_stat(st->disk, "basic.db", &fi), AS_OK);
  TCHECK(fi.durable);
  TCHECK(fi.size >= 8192);
  TEQ(fi.durable_size, fi.size);
  TEQ(fi.handles, 0);
  TEQ(simdb_disk_stat(st->disk, "basic.db-wal", &fi), AS_NOTFOUND);
  obs.u[0] = simdb_disk_used(st->disk);
}
DB_PROGRAM(basic, basic_main);

static void test_write_read_back(void **state) {
  (void)state;
  for (size_t m = 0; m < NMODES; m++) {
    reset(modes[m]);
    sim_result res;
    sdb_run(&basic_prog, 1, &res);
    sim_result_clear(&res);
    assert_int_equal(obs.swept, 0);
    assert_true(obs.u[0] >= 8192);
  }
}

/* --- two connections: interleaving, locks, busy waits in virtual time -------- */

static void lk_writer(void *arg) {
  dbst *st = arg;
  int rc;
  sqlite3 *db = sql_open("lock.db", NULL, &rc);
  TEQ(rc, SQLITE_OK);
  TEQ(sql(db, "BEGIN IMMEDIATE"), SQLITE_OK); /* RESERVED, or WAL's write lock */
  TEQ(sql(db, "INSERT INTO t VALUES (1)"), SQLITE_OK);
  st->flag = 1;
  wait_flag(st, 2);
  as_sleep_until(as_now_mono_ns() + 100 * SEC_NS);
  st->when[0] = as_now_mono_ns();
  TEQ(sql(db, "COMMIT"), SQLITE_OK);
  wait_flag(st, 3);
  /* EXCLUSIVE keeps even readers out (in rollback modes). */
  TEQ(sql(db, "BEGIN EXCLUSIVE"), SQLITE_OK);
  st->flag = 4;
  wait_flag(st, 5);
  TEQ(sql(db, "COMMIT"), SQLITE_OK);
  close_db(db);
}

static void lk_other(void *arg) {
  dbst *st = arg;
  int rc;
  sqlite3 *db = sql_open("lock.db", NULL, &rc);
  TEQ(rc, SQLITE_OK);
  wait_flag(st, 1);
  /* A reader is not blocked by a writer that has not committed yet. */
  TEQ(sql_int(db, "SELECT count(*) FROM t"), 0);
  /* A second writer is: at once without a busy timeout ... */
  TEQ(sql(db, "BEGIN IMMEDIATE"), SQLITE_BUSY);
  st->flag = 2;
  /* ... and until the first commits with one, waiting in virtual time. */
  TEQ(sqlite3_busy_timeout(db, 1000 * 1000), SQLITE_OK);
  TEQ(sql(db, "BEGIN IMMEDIATE"), SQLITE_OK);
  st->when[1] = as_now_mono_ns();
  TEQ(sql_int(db, "SELECT count(*) FROM t"), 1);
  TEQ(sql(db, "COMMIT"), SQLITE_OK);
  TEQ(sqlite3_busy_timeout(db, 0), SQLITE_OK);
  st->flag = 3;
  wait_flag(st, 4);
  bool wal = strcmp(P.mode, "wal") == 0;
  TEQ(sql_int(db, "SELECT count(*) FROM t"), wal ? 1 : -1);
  TEQ(sqlite3_errcode(db), wal ? SQLITE_OK : SQLITE_BUSY);
  st->flag = 5;
  close_db(db);
}

static void lk_main(void *state) {
  dbst *st = state;
  sqlite3 *db = open_mode("lock.db", "FULL");
  TEQ(sql(db, "CREATE TABLE t(x)"), SQLITE_OK);
  close_db(db);
  TEQ(as_task_spawn(&st->t[0], "writer", lk_writer, st), AS_OK);
  TEQ(as_task_spawn(&st->t[1], "other", lk_other, st), AS_OK);
  TEQ(as_task_join(st->t[0]), AS_OK);
  TEQ(as_task_join(st->t[1]), AS_OK);
}
DB_PROGRAM(lk, lk_main);

static double wall_s(void) {
  struct timespec ts;
  assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_two_connections_lock_and_interleave(void **state) {
  (void)state;
  const char *lmodes[] = {"delete", "wal"};
  for (size_t m = 0; m < 2; m++) {
    reset(lmodes[m]);
    char *text = NULL;
    size_t len = 0;
    FILE *tr = open_memstream(&text, &len);
    assert_non_null(tr);
    sim_config cfg = sdb_config(3);
    cfg.trace = tr;
    sim_result res;
    double t0 = wall_s();
    sdb_run_cfg(&lk_prog, &cfg, &res);
    double took = wall_s() - t0;
    assert_int_equal(fclose(tr), 0);
    /* The waits were virtual: 100 s passed, far less on the wall clock. */
    assert_true(res.virtual_ns >= 100 * SEC_NS);
    assert_true(took < 20.0);
    sim_result_clear(&res);
    /* Both connections reached the disk, and the busy one slept. */
    assert_non_null(strstr(text, "[1 writer] disk-"));
    assert_non_null(strstr(text, "[2 other] disk-"));
    assert_non_null(strstr(text, "[2 other] sleep"));
    free(text);
  }
}

/* --- crashes ------------------------------------------------------------------- */

/* Committed twice, crashed: the old connection is dead, a new one sees both. */
static void cb_main(void *state) {
  dbst *st = state;
  sqlite3 *db = open_mode("cb.db", DURABLE);
  TEQ(sql(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)"), SQLITE_OK);
  TEQ(sql(db, "INSERT INTO t VALUES (2)"), SQLITE_OK);
  simdb_crash(st->disk);
  TEQ(sql_int(db, "SELECT count(*) FROM t"), -1);
  TEQ(sqlite3_errcode(db), SQLITE_IOERR);
  TEQ(sql(db, "INSERT INTO t VALUES (3)"), SQLITE_IOERR);
  close_db(db);
  int rc;
  db = sql_open("cb.db", NULL, &rc);
  TEQ(rc, SQLITE_OK);
  TEQ(sql_int(db, "SELECT count(*) FROM t"), 2);
  TCHECK(sql_intact(db));
  TEQ(sql(db, "INSERT INTO t VALUES (3)"), SQLITE_OK);
  close_db(db);
  TEQ(simdb_disk_crashes(st->disk), 1);
}
DB_PROGRAM(cb, cb_main);

static void test_crash_between_transactions(void **state) {
  (void)state;
  for (size_t m = 0; m < NMODES; m++) {
    reset(modes[m]);
    sim_result res;
    sdb_run(&cb_prog, 2, &res);
    sim_result_clear(&res);
  }
}

#define BIG_TX                                                                 \
  "BEGIN; INSERT INTO t(v) SELECT randomblob(900) FROM "                       \
  "(WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<200) " \
  "SELECT i FROM c); UPDATE t SET v = zeroblob(10) WHERE k <= 10; COMMIT"

static void journal_name(char *out, size_t cap, const char *db) {
  snprintf(out, cap, "%s%s", db, strcmp(P.mode, "wal") == 0 ? "-wal" : "-journal");
}

/* A big transaction and a small one, with the crash countdown armed; then a
** new connection must see each all or nothing, in order, and every commit
** that was acknowledged. */
static void sweep_main(void *state) {
  dbst *st = state;
  sqlite3 *db = open_mode("sweep.db", DURABLE);
  TEQ(sql(db, "CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB); CREATE TABLE u(x);"
              "INSERT INTO t(v) SELECT zeroblob(500) FROM (SELECT 1 UNION SELECT 2 UNION "
              "SELECT 3 UNION SELECT 4 UNION SELECT 5 UNION SELECT 6 UNION SELECT 7 "
              "UNION SELECT 8 UNION SELECT 9 UNION SELECT 10)"),
      SQLITE_OK);
  TEQ(sql_int(db, "SELECT count(*) FROM t"), 10);
  simdb_file_info fi;
  TEQ(simdb_disk_stat(st->disk, "sweep.db", &fi), AS_OK);
  uint64_t base_size = fi.durable_size;
  simdb_disk_crash_after(st->disk, P.crash_after);
  obs.rc[0] = sql(db, BIG_TX);
  obs.rc[1] = sql(db, "INSERT INTO u VALUES (1)");
  simdb_disk_crash_after(st->disk, 0);
  obs.crashed = simdb_disk_crashes(st->disk) > 0;
  if (obs.crashed) {
    char jn[64];
    journal_name(jn, sizeof jn, "sweep.db");
    obs.hot = simdb_disk_stat(st->disk, jn, &fi) == AS_OK && fi.size > 0;
    TEQ(simdb_disk_stat(st->disk, "sweep.db", &fi), AS_OK);
    obs.u[0] = fi.size > base_size; /* the DB kept some of the new pages */
  }
  (void)sqlite3_close(db); /* ignore: after a crash the old connection may complain */
  int rc;
  db = sql_open("sweep.db", NULL, &rc);
  TEQ(rc, SQLITE_OK);
  TCHECK(sql_intact(db));
  long long n = sql_int(db, "SELECT count(*) FROM t");
  long long small = sql_int(db, "SELECT count(*) FROM t WHERE length(v) = 10");
  long long u = sql_int(db, "SELECT count(*) FROM u");
  TCHECK((n == 10 && small == 0) || (n == 210 && small == 10));
  TCHECK(u == 0 || u == 1);
  if (obs.rc[0] == SQLITE_OK) TEQ(n, 210);
  if (obs.rc[1] == SQLITE_OK) TEQ(u, 1);
  if (u == 1) TEQ(n, 210);
  obs.n[0] = n;
  close_db(db);
}
DB_PROGRAM(sweep, sweep_main);

static void test_crash_sweep(void **state) {
  (void)state;
  for (size_t m = 0; m < NMODES; m++) {
    unsigned crashes = 0, rolled_back = 0, recovered_committed = 0;
    for (uint64_t n = 1;; n++) {
      reset(modes[m]);
      P.crash_after = n;
      sim_result res;
      sdb_run(&sweep_prog, n, &res);
      sim_result_clear(&res);
      if (!obs.crashed) break;
      crashes++;
      /* A synced journal met a database that had new pages: rolled back. */
      if (obs.hot && obs.u[0] && obs.n[0] == 10) rolled_back++;
      if (obs.n[0] == 210 && obs.rc[0] != SQLITE_OK) recovered_committed++;
      assert_true(n < 5000);
    }
    print_message("%s: %u crash points, %u hot-journal rollbacks, %u commits found after "
                  "a crash that hid them\n",
                  modes[m], crashes, rolled_back, recovered_committed);
    assert_true(crashes > 20);
    if (strcmp(modes[m], "wal") != 0) assert_true(rolled_back > 0);
  }
}

/* Crash in the middle of a transaction whose journal is synced (the cache
** spilled), before its commit: the next connection rolls the hot journal
** back to the state before the transaction. */
static void mid_main(void *state) {
  dbst *st = state;
  sqlite3 *db = open_mode("mid.db", DURABLE);
  TEQ(sql(db, "CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB);"
              "INSERT INTO t(v) VALUES (zeroblob(100)), (zeroblob(100))"),
      SQLITE_OK);
  TEQ(sql(db, "PRAGMA cache_size=5; BEGIN; INSERT INTO t(v) SELECT randomblob(900) FROM "
              "(WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<100) "
              "SELECT i FROM c); UPDATE t SET v = zeroblob(5) WHERE k <= 2"),
      SQLITE_OK);
  simdb_file_info fi;
  char jn[64];
  journal_name(jn, sizeof jn, "mid.db");
  TEQ(simdb_disk_stat(st->disk, jn, &fi), AS_OK);
  TCHECK(fi.durable && fi.durable_size > 0);
  simdb_crash(st->disk);
  TEQ(simdb_disk_stat(st->disk, jn, &fi), AS_OK); /* the hot journal */
  TEQ(sql(db, "COMMIT"), SQLITE_IOERR);
  (void)sqlite3_close(db); /* ignore: the old connection is dead */
  int rc;
  db = sql_open("mid.db", NULL, &rc);
  TEQ(rc, SQLITE_OK);
  TEQ(sql_int(db, "SELECT count(*) FROM t"), 2);
  TEQ(sql_int(db, "SELECT count(*) FROM t WHERE length(v) = 100"), 2);
  TCHECK(sql_intact(db));
  close_db(db);
  if (strcmp(P.mode, "delete") == 0) TEQ(simdb_disk_stat(st->disk, jn, &fi), AS_NOTFOUND);
}
DB_PROGRAM(mid, mid_main);

static void test_crash_mid_transaction(void **state) {
  (void)state;
  for (size_t m = 0; m < 3; m++) { /* the rollback journal modes */
    reset(modes[m]);
    sim_result res;
    sdb_run(&mid_prog, 5, &res);
    sim_result_clear(&res);
  }
}

/* Nothing synced, nothing kept. */
static void lost_main(void *state) {
  dbst *st = state;
  simdb_file_info fi;
  sqlite3 *db = open_mode("lost.db", "OFF");
  TEQ(sql(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)"), SQLITE_OK);
  close_db(db);
  TEQ(simdb_disk_stat(st->disk, "lost.db", &fi), AS_OK);
  TCHECK(!fi.durable && fi.size > 0);
  simdb_crash(st->disk);
  TEQ(simdb_disk_stat(st->disk, "lost.db", &fi), AS_NOTFOUND);
  /* Synced, then an unsynced commit: only the first survives. */
  db = open_mode("lost.db", DURABLE);
  TEQ(sql_int(db, "SELECT count(*) FROM sqlite_master"), 0);
  TEQ(sql(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)"), SQLITE_OK);
  TEQ(sql(db, "PRAGMA synchronous=OFF; INSERT INTO t VALUES (2)"), SQLITE_OK);
  TEQ(sql_int(db, "SELECT count(*) FROM t"), 2);
  simdb_crash(st->disk);
  close_db(db);
  int rc;
  db = sql_open("lost.db", NULL, &rc);
  TEQ(sql_int(db, "SELECT count(*) FROM t"), 1);
  TCHECK(sql_intact(db));
  close_db(db);
}
DB_PROGRAM(lost, lost_main);

static void test_unsynced_writes_are_lost(void **state) {
  (void)state;
  const char *lmodes[] = {"delete", "wal"};
  for (size_t m = 0; m < 2; m++) {
    reset(lmodes[m]);
    sim_result res;
    sdb_run(&lost_prog, 4, &res);
    sim_result_clear(&res);
  }
}

/* --- faults -------------------------------------------------------------------- */

static void fault_main(void *state) {
  dbst *st = state;
  sqlite3 *db = open_mode("f.db", "FULL");
  TEQ(sql(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)"), SQLITE_OK);
  close_db(db);
  int rc;
  db = sql_open("f.db", NULL, &rc); /* opening reads the header: before the fault */
  TEQ(rc, SQLITE_OK);
  simdb_disk_fault_rate(st->disk, P.fault_point, 1000000);
  obs.rc[0] = sql(db, "INSERT INTO t VALUES (randomblob(20000))");
  obs.rc[1] = sqlite3_extended_errcode(db);
  close_db(db);
  /* Off again: everything works and nothing was damaged. */
  simdb_disk_fault_rate(st->disk, P.fault_point, 0);
  db = sql_open("f.db", NULL, &rc);
  TCHECK(sql_intact(db));
  TEQ(sql_int(db, "SELECT count(*) FROM t"), obs.rc[0] == SQLITE_OK ? 2 : 1);
  TEQ(sql(db, "INSERT INTO t VALUES (randomblob(20000))"), SQLITE_OK);
  close_db(db);
}
DB_PROGRAM(fault, fault_main);

static void test_faults_map_to_sqlite_errors(void **state) {
  (void)state;
  static const struct {
    unsigned point;
    int want_rc, want_ext;
  } cases[] = {
      {AS_FP_VFS_READ, SQLITE_IOERR_READ, SQLITE_IOERR_READ},
      {AS_FP_VFS_WRITE, SQLITE_IOERR_WRITE, SQLITE_IOERR_WRITE},
      {AS_FP_VFS_FULL, SQLITE_FULL, SQLITE_FULL},
      {AS_FP_VFS_SYNC, SQLITE_IOERR_FSYNC, SQLITE_IOERR_FSYNC},
      {AS_FP_VFS_LOCK_BUSY, SQLITE_BUSY, SQLITE_BUSY},
  };
  for (size_t m = 0; m < NMODES; m++) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      reset(modes[m]);
      P.fault_point = cases[i].point;
      sim_result res;
      sdb_run(&fault_prog, 9, &res);
      sim_result_clear(&res);
      if (obs.rc[0] != cases[i].want_rc || obs.rc[1] != cases[i].want_ext)
        fail_msg("%s, point %u: rc %d (%s), extended %d; want %d, %d", modes[m],
                 cases[i].point, obs.rc[0], sqlite3_errstr(obs.rc[0]), obs.rc[1],
                 cases[i].want_rc, cases[i].want_ext);
    }
    /* A point simdb does not own: no rate, no fault. */
    reset(modes[m]);
    P.fault_point = AS_FP_SELFTEST;
    sim_result res;
    sdb_run(&fault_prog, 9, &res);
    sim_result_clear(&res);
    assert_int_equal(obs.rc[0], SQLITE_OK);
  }
}

/* --- determinism ----------------------------------------------------------------- */

static void dt_worker(void *arg) {
  dbst *st = arg;
  int rc;
  sqlite3 *db = sql_open("dt.db", NULL, &rc);
  if (sqlite3_busy_timeout(db, 60000) != SQLITE_OK) TCHECK(0);
  for (int i = 0; i < 10; i++) {
    rc = sql(db, "INSERT INTO t VALUES (randomblob(300))");
    if (rc == SQLITE_OK) st->flag++;
  }
  long long n = sql_int(db, "SELECT count(*) FROM t");
  sim_note("rows", (uint64_t)n);
  (void)sqlite3_close(db); /* ignore: faults may fail it; it frees either way */
}

static void dt_main(void *state) {
  dbst *st = state;
  sqlite3 *db = open_mode("dt.db", "FULL");
  TEQ(sql(db, "CREATE TABLE t(x)"), SQLITE_OK);
  close_db(db);
  for (unsigned p = AS_FP_VFS_READ; p <= AS_FP_VFS_LOCK_BUSY; p++)
    simdb_disk_fault_rate(st->disk, p, 20000);
  for (int i = 0; i < 3; i++) TEQ(as_task_spawn(&st->t[i], "worker", dt_worker, st), AS_OK);
  for (int i = 0; i < 3; i++) TEQ(as_task_join(st->t[i]), AS_OK);
  sim_note("inserted", (uint64_t)st->flag);
  obs.n[0] = st->flag;
}
DB_PROGRAM(dt, dt_main);

static void test_same_seed_same_trace(void **state) {
  (void)state;
  for (size_t m = 0; m < NMODES; m++) {
    uint64_t h[3];
    long long n[3];
    for (int i = 0; i < 3; i++) {
      reset(modes[m]);
      sim_result res;
      sdb_run(&dt_prog, i < 2 ? 42 : 43, &res);
      h[i] = res.trace_hash;
      n[i] = obs.n[0];
      sim_result_clear(&res);
      assert_int_equal(obs.swept, 0);
    }
    assert_int_equal(h[0], h[1]);
    assert_int_equal(n[0], n[1]);
    assert_true(h[0] != h[2]);
    /* Printed so that builds can be compared (release, ASan, coverage). */
    print_message("%s: seed 42 trace hash %016" PRIx64 ", %lld rows\n", modes[m], h[0], n[0]);
  }
}

/* --- the allocation countdown ---------------------------------------------------- */

static void oom_main(void *state) {
  (void)state;
  obs.mem_task_before = simdb_mem_outstanding();
  simdb_malloc_fail_after(P.malloc_n, P.malloc_persistent);
  int rc;
  sqlite3 *db = sql_open("oom.db", NULL, &rc);
  if (rc == SQLITE_OK) rc = set_mode(db, "FULL");
  if (rc == SQLITE_OK) rc = sql(db, "CREATE TABLE IF NOT EXISTS t(x); INSERT INTO t VALUES (1)");
  if (rc == SQLITE_OK) rc = sql(db, "INSERT INTO t SELECT randomblob(5000) FROM t");
  if (rc == SQLITE_OK) rc = sql_int(db, "SELECT count(*) FROM t") == 2 ? SQLITE_OK : SQLITE_ERROR;
  obs.rc[0] = rc;
  (void)sqlite3_close(db); /* ignore: frees whatever it says */
  obs.fired = simdb_malloc_fired();
  simdb_malloc_fail_after(0, false);
  obs.mem_task_after = simdb_mem_outstanding();
}
DB_PROGRAM(oom, oom_main);

static void test_malloc_countdown(void **state) {
  (void)state;
  const char *lmodes[] = {"delete", "wal"};
  for (size_t m = 0; m < 2; m++) {
    for (int persistent = 0; persistent < 2; persistent++) {
      uint64_t before = simdb_mem_outstanding();
      uint64_t n;
      for (n = 1;; n++) {
        reset(lmodes[m]);
        P.malloc_n = n;
        P.malloc_persistent = persistent;
        sim_result res;
        sdb_run(&oom_prog, n, &res);
        sim_result_clear(&res);
        if (obs.mem_task_after != obs.mem_task_before || obs.swept != 0)
          fail_msg("%s n=%" PRIu64 "%s: %" PRIu64 " blocks before, %" PRIu64
                   " after, %zu swept (rc %d)",
                   lmodes[m], n, persistent ? " persistent" : "", obs.mem_task_before,
                   obs.mem_task_after, obs.swept, obs.rc[0]);
        assert_int_equal(simdb_mem_outstanding(), before);
        if (!obs.fired) break;
        assert_true(n < 100000);
      }
      assert_int_equal(obs.rc[0], SQLITE_OK); /* the last one ran clean */
      print_message("%s%s: %" PRIu64 " allocation failure points\n", lmodes[m],
                    persistent ? " (persistent)" : "", n - 1);
      assert_true(n > 50);
    }
  }
}

/* --- a failed run's leftovers ---------------------------------------------------- */

static void leak_task(void *arg) {
  dbst *st = arg;
  int rc;
  sqlite3 *db = sql_open("leak.db", NULL, &rc);
  TEQ(sql(db, "CREATE TABLE t(x); BEGIN; INSERT INTO t VALUES (1)"), SQLITE_OK);
  st->flag = 1;
  /* Wait inside SQLite, holding its locks, until the run fails. */
  TEQ(sqlite3_busy_timeout(db, 1000000), SQLITE_OK);
  as_sleep_until(AS_DEADLINE_NEVER - 1);
}

static void leak_main(void *state) {
  dbst *st = state;
  int rc;
  TEQ(as_task_spawn(&st->t[0], "leaker", leak_task, st), AS_OK);
  wait_flag(st, 1);
  sqlite3 *db = sql_open("leak.db", NULL, &rc);
  TEQ(sqlite3_busy_timeout(db, 1000000), SQLITE_OK);
  /* Blocks in the busy handler (virtual sleeps) while the other holds the
  ** write lock; abandoned there when the run fails. */
  TEQ(sql(db, "BEGIN IMMEDIATE"), SQLITE_OK);
}
DB_PROGRAM(leak, leak_main);

/* The same, with simdb_run_end called after sim_run returned. */
static const sim_program leak_late_prog = {
    .name = "simdb:leak_late",
    .summary = "leftovers swept after the run",
    .state_size = sizeof(dbst),
    .setup = db_setup,
    .main = leak_main,
};

static void test_failed_run_leftovers_are_swept(void **state) {
  (void)state;
  reset("delete");
  uint64_t before = simdb_mem_outstanding();
  sim_config cfg = sdb_config(6);
  cfg.max_virtual_ns = 3600 * SEC_NS;
  sim_result res;
  memset(&tc, 0, sizeof tc);
  assert_int_equal(sim_run(S, &leak_prog, &cfg, &res), AS_OK);
  assert_int_equal(res.outcome, SIM_HANG);
  sim_result_clear(&res);
  assert_true(obs.swept > 10);
  assert_int_equal(simdb_mem_outstanding(), before);
  reset("delete");
  assert_int_equal(sim_run(S, &leak_late_prog, &cfg, &res), AS_OK);
  assert_int_equal(res.outcome, SIM_HANG);
  sim_result_clear(&res);
  assert_true(simdb_mem_outstanding() > before);
  assert_true(simdb_run_end() > 10);
  assert_int_equal(simdb_mem_outstanding(), before);
  /* The next run starts clean: mutexes the abandoned tasks held are new. */
  reset("wal");
  sdb_run(&basic_prog, 1, &res);
  sim_result_clear(&res);
  assert_int_equal(obs.swept, 0);
}

/* --- back and forth between real SQLite and the sim ------------------------------ */

static void posix_roundtrip(const char *path, int value) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                   SQLITE_OK);
  assert_string_equal(sqlite3_vfs_find(NULL)->zName, "unix");
  char q[96];
  snprintf(q, sizeof q, "CREATE TABLE IF NOT EXISTS t(x); INSERT INTO t VALUES (%d)", value);
  assert_int_equal(sql(db, q), SQLITE_OK);
  assert_int_equal(sql_int(db, "SELECT sum(x) FROM t"), value == 1 ? 1 : 3);
  assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_switch_posix_and_sim(void **state) {
  (void)state;
  char path[] = "/tmp/simdb-test-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(close(fd), 0);
  assert_int_equal(unlink(path), 0);

  assert_true(simdb_installed());
  assert_int_equal(simdb_uninstall(), AS_OK);
  assert_int_equal(simdb_uninstall(), AS_OK); /* not installed: nothing to do */
  assert_false(simdb_installed());
  posix_roundtrip(path, 1);

  assert_int_equal(simdb_install(), AS_OK);
  assert_int_equal(simdb_install(), AS_OK); /* already */
  assert_string_equal(sqlite3_vfs_find(NULL)->zName, SIMDB_VFS_NAME);
  /* Outside a run simvfs has no disk; the unix VFS is still there. */
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2("x.db", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                   SQLITE_CANTOPEN);
  assert_int_equal(sqlite3_close(db), SQLITE_OK);
  db = NULL;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, "unix"), SQLITE_OK);
  assert_int_equal(sql_int(db, "SELECT sum(x) FROM t"), 1);
  assert_int_equal(sqlite3_close(db), SQLITE_OK);
  reset("wal");
  sim_result res;
  sdb_run(&basic_prog, 1, &res);
  sim_result_clear(&res);

  assert_int_equal(simdb_uninstall(), AS_OK);
  /* SQLite freed its globals at shutdown: nothing of simdb's is left. */
  assert_int_equal(simdb_mem_outstanding(), 0);
  posix_roundtrip(path, 2);
  assert_int_equal(simdb_install(), AS_OK);
  sdb_run(&basic_prog, 2, &res);
  sim_result_clear(&res);
  assert_int_equal(unlink(path), 0);
}

int main(void) {
  (void)alarm(600); /* ignore: no earlier alarm; a hang dies of SIGALRM */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_write_read_back),
      cmocka_unit_test(test_two_connections_lock_and_interleave),
      cmocka_unit_test(test_crash_between_transactions),
      cmocka_unit_test(test_crash_sweep),
      cmocka_unit_test(test_crash_mid_transaction),
      cmocka_unit_test(test_unsynced_writes_are_lost),
      cmocka_unit_test(test_faults_map_to_sqlite_errors),
      cmocka_unit_test(test_same_seed_same_trace),
      cmocka_unit_test(test_malloc_countdown),
      cmocka_unit_test(test_failed_run_leftovers_are_swept),
      cmocka_unit_test(test_switch_posix_and_sim),
  };
  return cmocka_run_group_tests(tests, sdb_group_setup, sdb_group_teardown);
}

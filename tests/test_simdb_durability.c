/*
** test_simdb_durability.c -- what each journal mode and synchronous level
** guarantees on the honest disk (sim/db/disk.c: names durable only at a
** directory sync, torn sectors and lengths at power loss).
**
** For each (journal_mode, synchronous) pair, three transactions on a fresh
** database with raw SQLite, power loss fired by the crash countdown at every
** mutating I/O in turn (the transactions and the closing checkpoint), each
** crash point with tearing off and with three tear seeds (half of the
** unsynced sectors and lengths survive); then a new connection checks:
**
**   intact      PRAGMA integrity_check is ok and the rows read;
**   prefix      the rows are exactly what transactions 1..m left, for some m
**               (all or nothing, in order);
**   durable     every transaction whose COMMIT returned SQLITE_OK is there.
**
** Each pair is then one of: durable (all three always hold), consistent
** (intact and prefix always, but an acknowledged commit was lost at some
** crash point), corrupts (at some crash point the database is damaged or
** holds half a transaction). The measured class must be the expected one,
** so the table below is a fact about the disk and SQLite; synchronous=OFF,
** which SQLite documents may corrupt, is only run (nothing may crash).
** Found: delete+full loses an acknowledged commit (the unlink that commits
** is not durable without the directory sync only EXTRA asks for) and
** delete+extra never does; truncate+normal loses commits (the unsynced
** truncate is lost, the journal comes back hot and rolls the commit back;
** until the disk modelled a truncation as metadata that is undone whole or
** not at all, old bytes past the cut mixed with the next journal's and the
** rollback corrupted the file: 24 of 176 torn runs); persist+normal is durable (it syncs the zeroed header at each
** commit); wal+normal loses commits (SQLite documents that). The store
** (runtime/core/store.c) offers only the durable ones.
*/
#include "simdb_test.h"

#include <unistd.h>

typedef enum dclass { D_DURABLE, D_CONSISTENT, D_CORRUPTS, D_ANY } dclass;
static const char *const class_names[] = {"durable", "consistent", "corrupts", "(any)"};

static const char *const modes[] = {"delete", "truncate", "persist", "wal"};
static const char *const levels[] = {"off", "normal", "full", "extra"};
#define NMODES 4
#define NLEVELS 4

/* What the matrix measured (and SQLite's documentation explains). */
static const dclass expected[NMODES][NLEVELS] = {
    /*            off            normal        full          extra */
    /* delete   */ {D_ANY, D_CONSISTENT, D_CONSISTENT, D_DURABLE},
    /* truncate */ {D_ANY, D_CONSISTENT, D_DURABLE, D_DURABLE},
    /* persist  */ {D_ANY, D_DURABLE, D_DURABLE, D_DURABLE},
    /* wal      */ {D_ANY, D_CONSISTENT, D_DURABLE, D_DURABLE},
};

#define NTX 3
#define TEAR_SEEDS 3 /* besides one run with tearing off */
#define TEAR_PPM 500000u

static struct params {
  const char *mode, *level;
  uint64_t crash_after;
  uint32_t tear_ppm;
} P;

static struct observations {
  bool crashed;
  int acked;       /* transactions whose COMMIT returned SQLITE_OK */
  bool intact;     /* integrity_check ok and the rows could be read */
  long long rows;  /* rows after the crash */
  bool prefix;     /* they are what transactions 1..rows left */
} obs;

typedef struct dst {
  simdb_disk *disk;
} dst;

static int d_setup(void *state, sim_rng *r) {
  dst *st = state;
  (void)r;
  int rc = simdb_run_begin();
  return rc == AS_OK ? simdb_disk_new(&st->disk, NULL) : rc;
}

static void d_teardown(void *state) {
  (void)state;
  (void)simdb_run_end(); /* ignore: a dead connection's blocks are expected */
}

static int pragmas(sqlite3 *db) {
  char q[128];
  snprintf(q, sizeof q, "PRAGMA synchronous=%s; PRAGMA journal_mode=%s", P.level, P.mode);
  return sql(db, q);
}

/* Transaction i (1-based) adds row i and stamps every row with i: after
** transactions 1..m the table holds rows 1..m, all with gen m. Each row
** spans a few pages, so a torn page shows. */
static int transaction(sqlite3 *db, int i) {
  char q[512];
  snprintf(q, sizeof q,
           "BEGIN; %s INSERT INTO t VALUES (%d, %d, randomblob(3000)); "
           "UPDATE t SET gen = %d; COMMIT",
           i == 1 ? "CREATE TABLE t(k INTEGER PRIMARY KEY, gen INTEGER, pad BLOB);" : "", i, i, i);
  int rc = sql(db, q);
  if (rc != SQLITE_OK) (void)sql(db, "ROLLBACK"); /* ignore: may be gone already */
  return rc;
}

/* What a new connection finds. */
static void look(void) {
  int rc;
  sqlite3 *db = sql_open("d.db", NULL, &rc);
  obs.intact = rc == SQLITE_OK && sql_intact(db);
  long long tables = sql_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 't'");
  long long n = tables == 1 ? sql_int(db, "SELECT count(*) FROM t") : 0;
  long long ok = tables == 1 ? sql_int(db, "SELECT count(*) FROM t WHERE k BETWEEN 1 AND "
                                           "(SELECT count(*) FROM t) AND gen = (SELECT count(*) FROM t)")
                             : 0;
  obs.intact = obs.intact && tables >= 0 && n >= 0 && ok >= 0;
  obs.rows = n;
  obs.prefix = n == ok && n <= NTX;
  (void)sqlite3_close(db); /* ignore: a corrupt database may complain */
}

static void d_main(void *state) {
  dst *st = state;
  int rc;
  simdb_disk_fault_rate(st->disk, AS_FP_VFS_TEAR, P.tear_ppm);
  sqlite3 *db = sql_open("d.db", NULL, &rc);
  TEQ(rc, SQLITE_OK);
  TEQ(pragmas(db), SQLITE_OK);
  simdb_disk_crash_after(st->disk, P.crash_after);
  for (int i = 1; i <= NTX && simdb_disk_crashes(st->disk) == 0; i++)
    if (transaction(db, i) == SQLITE_OK) obs.acked = i;
  (void)sqlite3_close(db); /* ignore: after a crash the old connection is dead */
  simdb_disk_crash_after(st->disk, 0);
  obs.crashed = simdb_disk_crashes(st->disk) > 0;
  if (obs.crashed) look();
}

static const sim_program d_prog = {
    .name = "simdb:durability",
    .summary = "three transactions, power loss at the n-th mutating I/O",
    .state_size = sizeof(dst),
    .est_tasks = 1,
    .est_steps = 1000,
    .setup = d_setup,
    .main = d_main,
    .teardown = d_teardown,
};

/* What one pair showed over every crash point and tear seed. */
typedef struct tally {
  unsigned points, runs, lost, torn_prefix, corrupt;
} tally;

static void one_run(uint64_t n, uint64_t seed, uint32_t tear, tally *t) {
  memset(&obs, 0, sizeof obs);
  P.crash_after = n;
  P.tear_ppm = tear;
  sim_result res;
  sdb_run(&d_prog, seed, &res);
  sim_result_clear(&res);
  if (!obs.crashed) return;
  t->runs++;
  if (!obs.intact) t->corrupt++;
  else if (!obs.prefix) t->torn_prefix++;
  else if (obs.rows < obs.acked) t->lost++;
}

static dclass measure(size_t m, size_t l, tally *t) {
  memset(t, 0, sizeof *t);
  P.mode = modes[m];
  P.level = levels[l];
  for (uint64_t n = 1;; n++) {
    unsigned before = t->runs;
    one_run(n, n, 0, t);
    if (t->runs == before) break; /* the sequence ended before the n-th I/O */
    t->points++;
    for (uint64_t s = 1; s <= TEAR_SEEDS; s++) one_run(n, n * 100 + s, TEAR_PPM, t);
    assert_true(n < 2000);
  }
  if (t->corrupt || t->torn_prefix) return D_CORRUPTS;
  return t->lost ? D_CONSISTENT : D_DURABLE;
}

static void test_durability_matrix(void **state) {
  (void)state;
  print_message("%-9s %-7s %-12s %6s %5s %5s %7s %8s\n", "journal", "sync", "class", "points",
                "runs", "lost", "partial", "corrupt");
  unsigned mismatches = 0;
  for (size_t m = 0; m < NMODES; m++) {
    for (size_t l = 0; l < NLEVELS; l++) {
      tally t;
      dclass got = measure(m, l, &t);
      print_message("%-9s %-7s %-12s %6u %5u %5u %7u %8u\n", modes[m], levels[l],
                    class_names[got], t.points, t.runs, t.lost, t.torn_prefix, t.corrupt);
      assert_true(t.points > 10);
      /* OFF may do anything but crash (sdb_run failed otherwise). */
      if (expected[m][l] != D_ANY && got != expected[m][l]) {
        print_message("  expected %s\n", class_names[expected[m][l]]);
        mismatches++;
      }
    }
  }
  assert_int_equal(mismatches, 0);
}

int main(void) {
  (void)alarm(600); /* ignore: no earlier alarm; a hang dies of SIGALRM */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_durability_matrix),
  };
  return cmocka_run_group_tests(tests, sdb_group_setup, sdb_group_teardown);
}

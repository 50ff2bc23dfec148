/*
** test_simdb_latency.c -- what simulated-disk I/O costs in virtual time
** (sim/db/latency.c): a call inside a task takes its latency and one outside
** takes none; a timer fires and another task runs while a write is in
** flight, and the write lands only once its time is up; power lost in
** flight means the call never happened; the countdown over every I/O call
** fires where it says; the draws are the same per seed and leave the fault
** stream alone; bad distributions are refused; I/O ending close together
** ends together, and a cost past the virtual-time budget is a hang.
*/
#include "simdb_test.h"

typedef struct lst {
  simdb_disk *disk;
  sqlite3_file *f;
  as_task *t;
} lst;

#define RW_CREATE (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MAIN_DB)
#define US 1000ull
#define MS 1000000ull

/* What the runs saw, for the test to check after sim_run. */
static struct {
  uint64_t t[8];
  long long v[8];
  unsigned nfault;
  char faults[64];
} obs;

static void (*main_fn)(lst *st);
static int (*setup_fn)(lst *st);

static int l_setup(void *state, sim_rng *r) {
  lst *st = state;
  (void)r;
  int rc = simdb_run_begin();
  if (rc == AS_OK) rc = simdb_disk_new(&st->disk, NULL);
  if (rc == AS_OK && setup_fn) rc = setup_fn(st);
  return rc;
}

static void l_main(void *state) { main_fn(state); }

static void l_teardown(void *state) {
  lst *st = state;
  free(st->f);
  (void)simdb_run_end(); /* ignore: the handles were the test's own */
}

static const sim_program prog = {
    .name = "simdb-latency",
    .summary = "latency",
    .state_size = sizeof(lst),
    .est_tasks = 2,
    .est_steps = 100,
    .setup = l_setup,
    .main = l_main,
    .teardown = l_teardown,
};

static void run(void (*fn)(lst *), int (*setup)(lst *), uint64_t seed, sim_result *res) {
  memset(&obs, 0, sizeof obs);
  main_fn = fn;
  setup_fn = setup;
  sdb_run(&prog, seed, res);
}

static sqlite3_file *open_file(lst *st, const char *name) {
  sqlite3_vfs *v = sqlite3_vfs_find(simdb_disk_vfs(st->disk));
  sqlite3_file *f = calloc(1, (size_t)v->szOsFile);
  if (f && v->xOpen(v, name, f, RW_CREATE, NULL) != SQLITE_OK) TCHECK(!"xOpen");
  return f;
}

static AS_WUR int fixed(simdb_disk *d, simdb_io_kind k, uint64_t ns) {
  simdb_latency l = {ns, ns, 0, 0};
  return simdb_disk_latency(d, k, &l);
}

/* --- inside a task, and outside ------------------------------------------------ */

/* In setup nothing costs anything, defaults and all. */
static int io_in_setup(lst *st) {
  st->f = open_file(st, "a.db");
  if (!st->f) return AS_NOMEM;
  TEQ(st->f->pMethods->xWrite(st->f, "abcd", 4, 0), SQLITE_OK);
  TEQ(st->f->pMethods->xSync(st->f, 0), SQLITE_OK);
  obs.t[0] = as_now_mono_ns();
  obs.v[0] = (long long)simdb_disk_ios(st->disk);
  return AS_OK;
}

static void io_in_task(lst *st) {
  sqlite3_file *f = st->f;
  char buf[4];
  TEQ(fixed(st->disk, SIMDB_IO_WRITE, 40 * US), AS_OK);
  TEQ(fixed(st->disk, SIMDB_IO_SYNC, 2 * MS), AS_OK);
  uint64_t t0 = as_now_mono_ns();
  TEQ(f->pMethods->xWrite(f, "efgh", 4, 4), SQLITE_OK);
  obs.t[1] = as_now_mono_ns() - t0;
  TEQ(f->pMethods->xSync(f, 0), SQLITE_OK);
  obs.t[2] = as_now_mono_ns() - t0;
  /* The default read: 20 to 100 us. */
  t0 = as_now_mono_ns();
  TEQ(f->pMethods->xRead(f, buf, 4, 0), SQLITE_OK);
  obs.t[3] = as_now_mono_ns() - t0;
  /* Off: free again. */
  simdb_disk_latency_off(st->disk);
  t0 = as_now_mono_ns();
  TEQ(f->pMethods->xWrite(f, "ijkl", 4, 8), SQLITE_OK);
  TEQ(f->pMethods->xSync(f, 0), SQLITE_OK);
  obs.t[4] = as_now_mono_ns() - t0;
  obs.v[1] = (long long)simdb_disk_ios(st->disk);
}

static void test_inside_task_only(void **state) {
  (void)state;
  sim_result res;
  run(io_in_task, io_in_setup, 1, &res);
  sim_result_clear(&res);
  assert_true(obs.t[0] == 0);
  assert_int_equal(obs.v[0], 0); /* setup's calls are not counted either */
  assert_true(obs.t[1] == 40 * US);
  assert_true(obs.t[2] == 40 * US + 2 * MS);
  assert_true(obs.t[3] >= 20 * US && obs.t[3] <= 100 * US);
  assert_true(obs.t[4] == 0);
  assert_int_equal(obs.v[1], 5);
}

/* --- a timer fires while a write is in flight ----------------------------------- */

static void watcher(void *arg) {
  lst *st = arg;
  as_sleep_until(as_now_mono_ns() + 1 * MS);
  obs.t[1] = as_now_mono_ns();
  simdb_file_info fi;
  TEQ(simdb_disk_stat(st->disk, "b.db", &fi), AS_OK);
  obs.v[0] = (long long)fi.size; /* the write has not landed */
}

static void slow_write(lst *st) {
  st->f = open_file(st, "b.db");
  if (!st->f) return;
  TEQ(fixed(st->disk, SIMDB_IO_WRITE, 10 * MS), AS_OK);
  uint64_t t0 = as_now_mono_ns();
  TEQ(as_task_spawn(&st->t, "watcher", watcher, st), AS_OK);
  TEQ(st->f->pMethods->xWrite(st->f, "data", 4, 0), SQLITE_OK);
  obs.t[0] = as_now_mono_ns() - t0;
  simdb_file_info fi;
  TEQ(simdb_disk_stat(st->disk, "b.db", &fi), AS_OK);
  obs.v[1] = (long long)fi.size;
  TEQ(as_task_join(st->t), AS_OK);
}

static void test_timer_fires_inside_a_write(void **state) {
  (void)state;
  sim_result res;
  run(slow_write, NULL, 1, &res);
  sim_result_clear(&res);
  /* The watcher slept 1 ms of the write's 10 and looked: nothing yet. */
  assert_true(obs.t[1] >= 1 * MS && obs.t[1] < 10 * MS);
  assert_int_equal(obs.v[0], 0);
  assert_true(obs.t[0] >= 10 * MS);
  assert_int_equal(obs.v[1], 4);
}

/* --- power lost in flight ---------------------------------------------------------- */

static void power_cut(void *arg) {
  lst *st = arg;
  as_sleep_until(as_now_mono_ns() + 1 * MS);
  simdb_crash(st->disk);
}

static void cut_write(lst *st) {
  /* Opened as a new journal is, so its first sync also syncs the directory
  ** and its name survives the power cuts below (the honest disk). */
  sqlite3_vfs *jv = sqlite3_vfs_find(simdb_disk_vfs(st->disk));
  st->f = calloc(1, (size_t)jv->szOsFile);
  if (st->f && jv->xOpen(jv, "c.db", st->f,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MAIN_JOURNAL,
                         NULL) != SQLITE_OK)
    TCHECK(!"xOpen");
  if (!st->f) return;
  TEQ(st->f->pMethods->xWrite(st->f, "old!", 4, 0), SQLITE_OK);
  TEQ(st->f->pMethods->xSync(st->f, 0), SQLITE_OK);
  TEQ(fixed(st->disk, SIMDB_IO_WRITE, 10 * MS), AS_OK);
  TEQ(fixed(st->disk, SIMDB_IO_DELETE, 10 * MS), AS_OK);
  TEQ(as_task_spawn(&st->t, "power", power_cut, st), AS_OK);
  obs.v[0] = st->f->pMethods->xWrite(st->f, "new!", 4, 0);
  TEQ(as_task_join(st->t), AS_OK);
  /* A delete in flight when the power goes does not unlink. */
  sqlite3_vfs *v = sqlite3_vfs_find(simdb_disk_vfs(st->disk));
  TEQ(as_task_spawn(&st->t, "power", power_cut, st), AS_OK);
  obs.v[1] = v->xDelete(v, "c.db", 0);
  TEQ(as_task_join(st->t), AS_OK);
  /* So do an open and an access by name. */
  TEQ(fixed(st->disk, SIMDB_IO_OPEN, 10 * MS), AS_OK);
  TEQ(fixed(st->disk, SIMDB_IO_ACCESS, 10 * MS), AS_OK);
  sqlite3_file *h = calloc(1, (size_t)v->szOsFile);
  TEQ(as_task_spawn(&st->t, "power", power_cut, st), AS_OK);
  if (h) obs.v[3] = v->xOpen(v, "new.db", h, RW_CREATE, NULL);
  TEQ(as_task_join(st->t), AS_OK);
  free(h);
  int res = 1;
  TEQ(as_task_spawn(&st->t, "power", power_cut, st), AS_OK);
  obs.v[4] = v->xAccess(v, "c.db", SQLITE_ACCESS_EXISTS, &res);
  obs.v[5] = res;
  TEQ(as_task_join(st->t), AS_OK);
  simdb_file_info fi;
  obs.v[6] = simdb_disk_stat(st->disk, "new.db", &fi);
  simdb_disk_latency_off(st->disk);
  sqlite3_file *g = open_file(st, "c.db");
  char buf[4] = {0};
  if (g) TEQ(g->pMethods->xRead(g, buf, 4, 0), SQLITE_OK);
  obs.v[2] = memcmp(buf, "old!", 4) == 0;
  if (g) TEQ(g->pMethods->xClose(g), SQLITE_OK);
  free(g);
  TEQ(st->f->pMethods->xClose(st->f), SQLITE_OK);
}

static void test_crash_in_flight(void **state) {
  (void)state;
  sim_result res;
  run(cut_write, NULL, 1, &res);
  sim_result_clear(&res);
  assert_int_equal(obs.v[0], SQLITE_IOERR);
  assert_int_equal(obs.v[1], SQLITE_IOERR_DELETE);
  assert_int_equal(obs.v[2], 1); /* neither the write nor the delete happened */
  assert_int_equal(obs.v[3], SQLITE_IOERR);
  assert_int_equal(obs.v[6], AS_NOTFOUND); /* the open made nothing */
  assert_int_equal(obs.v[4], SQLITE_IOERR_ACCESS);
  assert_int_equal(obs.v[5], 0);
}

/* --- the countdown over every call -------------------------------------------- */

static void countdown(lst *st) {
  st->f = open_file(st, "d.db");
  if (!st->f) return;
  sqlite3_file *f = st->f;
  char buf[4];
  sqlite3_int64 size = 0;
  uint64_t before = simdb_disk_crashes(st->disk);
  simdb_disk_crash_after_io(st->disk, 3);
  TEQ(f->pMethods->xWrite(f, "abcd", 4, 0), SQLITE_OK);                 /* 1 */
  TEQ(f->pMethods->xFileSize(f, &size), SQLITE_OK);                     /* 2 */
  obs.v[0] = f->pMethods->xRead(f, buf, 4, 0);                          /* 3: crashes */
  obs.v[1] = (long long)(simdb_disk_crashes(st->disk) - before);
  obs.v[2] = f->pMethods->xRead(f, buf, 4, 0); /* stale from now on */
  obs.v[3] = (long long)(simdb_disk_crashes(st->disk) - before);        /* disarmed */
  TEQ(f->pMethods->xClose(f), SQLITE_OK);
}

static void test_countdown_counts_every_call(void **state) {
  (void)state;
  sim_result res;
  run(countdown, NULL, 1, &res);
  sim_result_clear(&res);
  assert_int_equal(obs.v[0], SQLITE_IOERR);
  assert_int_equal(obs.v[1], 1);
  assert_int_equal(obs.v[2], SQLITE_IOERR);
  assert_int_equal(obs.v[3], 1);
}

/* --- the same per seed; the fault stream untouched ----------------------------- */

static int latency_on;

static void draws(lst *st) {
  if (!latency_on) simdb_disk_latency_off(st->disk);
  st->f = open_file(st, "e.db");
  if (!st->f) return;
  simdb_disk_fault_rate(st->disk, AS_FP_VFS_WRITE, 500000);
  for (unsigned i = 0; i < 40; i++) {
    int rc = st->f->pMethods->xWrite(st->f, "x", 1, (sqlite3_int64)i);
    obs.faults[i] = rc == SQLITE_OK ? '.' : 'F';
  }
  obs.t[0] = as_now_mono_ns();
  TEQ(st->f->pMethods->xClose(st->f), SQLITE_OK);
}

static void test_same_per_seed_faults_untouched(void **state) {
  (void)state;
  sim_result res;
  char on[64], off[64];
  latency_on = 1;
  run(draws, NULL, 7, &res);
  uint64_t hash = res.trace_hash, t = obs.t[0];
  sim_result_clear(&res);
  memcpy(on, obs.faults, sizeof on);
  run(draws, NULL, 7, &res);
  assert_true(res.trace_hash == hash && obs.t[0] == t);
  sim_result_clear(&res);
  run(draws, NULL, 8, &res);
  assert_true(obs.t[0] != t); /* another seed, other costs */
  sim_result_clear(&res);
  latency_on = 0;
  run(draws, NULL, 7, &res);
  sim_result_clear(&res);
  memcpy(off, obs.faults, sizeof off);
  assert_true(t > 40 * 20 * US);
  assert_true(obs.t[0] == 0);
  assert_string_equal(on, off); /* the same writes failed, costs or not */
  assert_non_null(strchr(on, 'F'));
  assert_non_null(strchr(on, '.'));
}

/* --- the distributions ---------------------------------------------------------- */

static int bad_latencies(lst *st) {
  static const simdb_latency bad[] = {
      {5, 4, 0, 0},                                 /* lo above hi */
      {0, SIMDB_LATENCY_MAX_NS + 1, 0, 0},          /* past the cap */
      {0, 10, 1000001, 20},                         /* a rate past one */
      {0, 10, 1000, 10},                            /* a tail not above hi */
      {0, 10, 1000, SIMDB_LATENCY_MAX_NS + 1},      /* a tail past the cap */
      {0, 10, 0, 20},                               /* a tail that never comes */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    TEQ(simdb_disk_latency(st->disk, SIMDB_IO_READ, &bad[i]), AS_INVAL);
  simdb_latency good = {0, 10, 1000000, SIMDB_LATENCY_MAX_NS};
  TEQ(simdb_disk_latency(st->disk, SIMDB__IO_COUNT, &good), AS_INVAL);
  TEQ(simdb_disk_latency(st->disk, SIMDB_IO_READ, NULL), AS_INVAL);
  TEQ(simdb_disk_latency(st->disk, SIMDB_IO_READ, &good), AS_OK);
  return AS_OK;
}

static void only_tail(lst *st) {
  /* Every read takes the tail: above 10 ns, at most the cap. */
  st->f = open_file(st, "f.db");
  if (!st->f) return;
  char buf[1];
  uint64_t t0 = as_now_mono_ns();
  obs.v[0] = st->f->pMethods->xRead(st->f, buf, 1, 0);
  obs.t[0] = as_now_mono_ns() - t0;
  TEQ(st->f->pMethods->xClose(st->f), SQLITE_OK);
}

static void test_distributions(void **state) {
  (void)state;
  sim_result res;
  run(only_tail, bad_latencies, 1, &res);
  sim_result_clear(&res);
  assert_int_equal(obs.v[0], SQLITE_IOERR_SHORT_READ);
  assert_true(obs.t[0] > 10 && obs.t[0] <= SIMDB_LATENCY_MAX_NS);
  for (unsigned k = 0; k < SIMDB__IO_COUNT; k++) {
    simdb_latency l = simdb_latency_default((simdb_io_kind)k);
    assert_true(simdb_latency_valid(&l));
    assert_non_null(simdb_io_name((simdb_io_kind)k));
  }
  assert_null(simdb_io_name(SIMDB__IO_COUNT));
  simdb_latency none = simdb_latency_default(SIMDB__IO_COUNT);
  assert_true(none.hi_ns == 0);
  /* A sync has the heavy tail; a lock costs about a microsecond. */
  assert_true(simdb_latency_default(SIMDB_IO_SYNC).tail_ppm > 0);
  assert_true(simdb_latency_default(SIMDB_IO_LOCK).hi_ns <= 2 * US);
}

/* --- sim_busy: the window, the budget, the edges --------------------------------- */

static uint64_t busy_ns[2];

static void busy_task(void *arg) {
  uint64_t *slot = arg;
  sim_busy(*slot);
  *slot = as_now_mono_ns();
}

static void two_busy(lst *st) {
  (void)st;
  as_task *t[2];
  for (int i = 0; i < 2; i++) TEQ(as_task_spawn(&t[i], "busy", busy_task, &busy_ns[i]), AS_OK);
  for (int i = 0; i < 2; i++) TEQ(as_task_join(t[i]), AS_OK);
  uint64_t t0 = as_now_mono_ns();
  sim_busy(0); /* nothing */
  obs.t[0] = as_now_mono_ns() - t0;
}

static void busy_past_budget(lst *st) {
  (void)st;
  sim_busy(2 * MS);
}

static void test_busy(void **state) {
  (void)state;
  sim_result res;
  /* I/O ending within 50 us of the first ends with it: both see 120 us. */
  busy_ns[0] = 100 * US;
  busy_ns[1] = 120 * US;
  run(two_busy, NULL, 1, &res);
  sim_result_clear(&res);
  assert_true(busy_ns[0] == 120 * US && busy_ns[1] == 120 * US);
  assert_true(obs.t[0] == 0);
  /* Farther apart: each at its own time. */
  busy_ns[0] = 100 * US;
  busy_ns[1] = 100 * US + SIM_BUSY_SLACK_NS + 1;
  run(two_busy, NULL, 1, &res);
  sim_result_clear(&res);
  assert_true(busy_ns[0] == 100 * US && busy_ns[1] == 100 * US + SIM_BUSY_SLACK_NS + 1);
  /* Past the virtual-time budget: a hang that says so. */
  memset(&obs, 0, sizeof obs);
  main_fn = busy_past_budget;
  setup_fn = NULL;
  sim_config cfg = sdb_config(1);
  cfg.max_virtual_ns = 1 * MS;
  assert_int_equal(sim_run(S, &prog, &cfg, &res), AS_OK);
  assert_int_equal(res.outcome, SIM_HANG);
  assert_non_null(strstr(res.message, "exceeded by an operation of 2000000 ns"));
  sim_result_clear(&res);
  /* Outside a run: no seed, nothing to wait for. */
  assert_true(sim_stream_seed_of(SIM_STREAM_FAULTS) == 0);
  sim_busy(5);
}

/* --- what a task's I/O costs does not depend on the interleaving ------------------ */

/* Two writers, each on a file of its own, make the same calls whatever the
** order; each records what every one of its calls cost (the clock across
** the call, minus nothing else: no locks, no other waits). */
static uint64_t costs[2][12];

static lst *LST;

static void io_worker(void *arg) {
  uintptr_t k = (uintptr_t)arg;
  sqlite3_file *f = open_file(LST, k ? "w1.db" : "w0.db");
  if (!f) return;
  for (unsigned i = 0; i < 12; i++) {
    uint64_t t0 = as_now_mono_ns();
    if (i % 3 == 2)
      TEQ(f->pMethods->xSync(f, 0), SQLITE_OK);
    else
      TEQ(f->pMethods->xWrite(f, "abcd", 4, (sqlite3_int64)(4 * i)), SQLITE_OK);
    costs[k][i] = as_now_mono_ns() - t0;
  }
  TEQ(f->pMethods->xClose(f), SQLITE_OK);
  free(f);
}

static void two_writers(lst *st) {
  LST = st;
  as_task *t[2];
  TEQ(as_task_spawn(&t[0], "w0", io_worker, (void *)(uintptr_t)0), AS_OK);
  TEQ(as_task_spawn(&t[1], "w1", io_worker, (void *)(uintptr_t)1), AS_OK);
  TEQ(as_task_join(t[0]), AS_OK);
  TEQ(as_task_join(t[1]), AS_OK);
}

/* The slack window aside (calls that end within SIM_BUSY_SLACK_NS end
** together), the n-th call of a task costs the same under every strategy;
** and a free disk's first call costs nothing either way. */
static void test_cost_per_task(void **state) {
  (void)state;
  uint64_t want[2][12];
  for (int strat = 0; strat < 3; strat++) {
    sim_config cfg = sdb_config(5);
    cfg.strategy = strat == 0 ? SIM_STRATEGY_RANDOM : strat == 1 ? SIM_STRATEGY_PCT : SIM_STRATEGY_POS;
    cfg.pct_steps = 50;
    memset(costs, 0, sizeof costs);
    memset(&obs, 0, sizeof obs);
    main_fn = two_writers;
    setup_fn = NULL;
    sim_result res;
    sdb_run_cfg(&prog, &cfg, &res);
    sim_result_clear(&res);
    for (int k = 0; k < 2; k++)
      for (int i = 0; i < 12; i++) {
        assert_true(costs[k][i] >= (i % 3 == 2 ? 500 * US : 20 * US));
        if (strat == 0)
          want[k][i] = costs[k][i];
        else if (costs[k][i] + SIM_BUSY_SLACK_NS < want[k][i] ||
                 want[k][i] + SIM_BUSY_SLACK_NS < costs[k][i])
          fail_msg("strategy %d: call %d of writer %d cost %" PRIu64 " ns, under random %" PRIu64,
                   strat, i, k, costs[k][i], want[k][i]);
      }
  }
  /* Two writers' costs differ: each has a stream of its own. */
  assert_true(memcmp(want[0], want[1], sizeof want[0]) != 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_inside_task_only),
      cmocka_unit_test(test_timer_fires_inside_a_write),
      cmocka_unit_test(test_crash_in_flight),
      cmocka_unit_test(test_countdown_counts_every_call),
      cmocka_unit_test(test_same_per_seed_faults_untouched),
      cmocka_unit_test(test_distributions),
      cmocka_unit_test(test_busy),
      cmocka_unit_test(test_cost_per_task),
  };
  return cmocka_run_group_tests(tests, sdb_group_setup, sdb_group_teardown);
}

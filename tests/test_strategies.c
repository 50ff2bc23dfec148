/*
** test_strategies.c -- the search strategies: PCT meets its bound on the
** self-tests with the measured k; k is the program's (the same whatever ran
** before) and change points fall on decisions; POS redraws exactly the
** events that conflict with the one that ran; the portfolio rotates by seed.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedule.h"
#include "selftest/programs.h"
#include "sim.h"
#include "simfix.h"
#include "testutil.h"

#define SEEDS 1000

static void run_ok(const sim_program *p, const sim_config *cfg, sim_result *res) {
  int rc = sim_run(S, p, cfg, res);
  if (rc != AS_OK) fail_msg("%s: sim_run: %s: %s", p->name, as_status_name(rc), res->message);
}

static uint64_t option_u64(const sim_result *r, const char *name) {
  char key[64];
  snprintf(key, sizeof key, " %s=", name);
  const char *p = strstr(r->options, key);
  if (!p) fail_msg("no %s in options: %s", name, r->options);
  return strtoull(p + strlen(key), NULL, 10);
}

/* --- PCT's bound ----------------------------------------------------------- */

/* PCT finds a bug of depth d among n tasks, k decisions, with probability at
** least 1/(n k^(d-1)) -- and so does PCT of any depth d' >= d, with k^(d'-1).
** Each buggy self-test is swept over SEEDS seeds at its bug's depth and every
** depth above it up to 3, with k as sim_pct_estimate measures it and n the
** most tasks any seed spawned; the measured rate must clear three quarters
** of the bound (room for sampling error: the depth-1 case is exactly 1/3 for
** selftest:ordering, and 250 hits against an expectation of 333 is more than
** five standard deviations away). */
static void check_bound(const selftest *t, unsigned d) {
  uint64_t k = 0;
  char err[256];
  sim_config cal = {.strategy = SIM_STRATEGY_PCT, .pct_depth = d};
  assert_int_equal(sim_pct_estimate(S, t->prog, &cal, &k, err, sizeof err), AS_OK);
  unsigned hits = 0, n = 0;
  for (uint64_t seed = 0; seed < SEEDS; seed++) {
    sim_config cfg = {.seed = seed, .strategy = SIM_STRATEGY_PCT, .pct_depth = d};
    sim_result r;
    run_ok(t->prog, &cfg, &r);
    assert_int_equal(option_u64(&r, "pct_k"), k);
    if (r.tasks > n) n = r.tasks;
    if (r.outcome != SIM_PASS) {
      assert_int_equal(r.outcome, t->expect);
      hits++;
    }
    sim_result_clear(&r);
  }
  double bound = 1.0 / n;
  for (unsigned i = 1; i < d; i++) bound /= (double)k;
  double rate = (double)hits / SEEDS;
  printf("# %-18s depth %u  pct:d=%u  n=%u k=%-3" PRIu64 " measured %.3f (%4u/%d)  bound %.4f\n",
         t->prog->name, t->pct_depth, d, n, k, rate, hits, SEEDS, bound);
  assert_true(rate >= 0.75 * bound);
}

static void test_pct_bound(void **state) {
  (void)state;
  unsigned checked = 0;
  for (unsigned i = 0; i < selftest_count; i++) {
    const selftest *t = &selftests[i];
    if (!t->expect_fail || t->needs_spurious) continue;
    for (unsigned d = t->pct_depth; d <= 3; d++, checked++) check_bound(t, d);
  }
  assert_true(checked >= 6); /* ordering 1-3, abba 2-3, atomicity 2-3 */
}

/* --- PCT's k ------------------------------------------------------------------ */

/* k is the most decisions of the calibration runs, whatever ran before in
** the process: measured cold, after other programs, and from the cache. */
static void test_pct_k_is_the_programs(void **state) {
  (void)state;
  const selftest *t = selftest_find("selftest:counter");
  sim_config cfg = {.strategy = SIM_STRATEGY_PCT, .max_steps = 123456};
  uint64_t most = 0, k1 = 0, k2 = 0, k3 = 0;
  for (uint64_t seed = 0; seed < SIM_PCT_CALIBRATION_RUNS; seed++) {
    for (int pct = 0; pct <= 1; pct++) {
      sim_config c = {.seed = seed, .max_steps = 123456};
      if (pct) c = (sim_config){.seed = seed, .strategy = SIM_STRATEGY_PCT, .pct_depth = 1,
                                .pct_steps = 1, .max_steps = 123456};
      sim_result r;
      run_ok(t->prog, &c, &r);
      if (r.decisions > most) most = r.decisions;
      sim_result_clear(&r);
    }
  }
  char err[128];
  assert_int_equal(sim_pct_estimate(S, t->prog, &cfg, &k1, err, sizeof err), AS_OK);
  assert_int_equal(k1, most);
  /* Other programs in between, other seeds and strategies: the same k. */
  for (unsigned i = 0; i < selftest_count; i++) {
    sim_config o = {.seed = 99, .strategy = SIM_STRATEGY_PORTFOLIO};
    sim_result r;
    run_ok(selftests[i].prog, &o, &r);
    sim_result_clear(&r);
  }
  cfg.seed = 77;
  cfg.pct_depth = 3;
  assert_int_equal(sim_pct_estimate(S, t->prog, &cfg, &k2, err, sizeof err), AS_OK);
  assert_int_equal(k2, k1);
  /* Another limit is another program to calibrate: measured afresh. */
  cfg.max_steps = 0;
  assert_int_equal(sim_pct_estimate(S, t->prog, &cfg, &k3, err, sizeof err), AS_OK);
  assert_int_equal(k3, k1); /* same runs: no budget was hit */
  /* Given k and a program's k win over measuring. */
  sim_config given = {.seed = 1, .strategy = SIM_STRATEGY_PCT, .pct_steps = 5000};
  assert_false(sim_pct_needs_estimate(t->prog, &given));
  sim_result r;
  run_ok(t->prog, &given, &r);
  assert_non_null(strstr(r.options, "pct_k=5000 pct_k_from=given"));
  sim_result_clear(&r);
  sim_program fixed = *t->prog;
  fixed.est_steps = 77;
  given.pct_steps = 0;
  assert_false(sim_pct_needs_estimate(&fixed, &given));
  run_ok(&fixed, &given, &r);
  assert_non_null(strstr(r.options, "pct_k=77 pct_k_from=program"));
  sim_result_clear(&r);
}

/* A program whose setup fails cannot be measured: the PCT run reports the
** calibration run's failure, and nothing is cached for it. */
static int failing_setup(void *st, sim_rng *r) {
  (void)st;
  (void)r;
  return AS_IO;
}

static void nothing_main(void *st) { (void)st; }

static void test_pct_k_unmeasurable(void **state) {
  (void)state;
  const sim_program bad = {.name = "test:bad-setup", .setup = failing_setup, .main = nothing_main};
  sim_config cfg = {.seed = 3, .strategy = SIM_STRATEGY_PCT};
  sim_result r;
  for (int i = 0; i < 2; i++) {
    assert_int_equal(sim_run(S, &bad, &cfg, &r), AS_IO);
    assert_non_null(strstr(r.message, "PCT's calibration run 0: test:bad-setup: setup failed"));
    sim_result_clear(&r);
  }
}

/* Two tasks, each taking two steps, then main joins them: the decisions
** are few and known, and a change point beyond them does nothing. */
static void two_steps(void *arg) {
  (void)arg;
  sim_step();
  sim_step();
}

static void pair_main(void *st) {
  (void)st;
  as_task *a = NULL, *b = NULL;
  if (as_task_spawn(&a, "a", two_steps, NULL) != AS_OK) sim_fail(SIM_ASSERT, "spawn");
  if (as_task_spawn(&b, "b", two_steps, NULL) != AS_OK) sim_fail(SIM_ASSERT, "spawn");
  if (as_task_join(a) != AS_OK || as_task_join(b) != AS_OK) sim_fail(SIM_ASSERT, "join");
}

static const sim_program pair_prog = {.name = "test:pair", .main = pair_main};

/* Change points are decision numbers in [1, k]: with k the decisions a run
** makes, every change point lands inside it (a step with one runnable task is
** never one), and they are printed with k and where k came from. */
static void test_pct_change_points_are_decisions(void **state) {
  (void)state;
  for (uint64_t seed = 0; seed < 200; seed++) {
    sim_config cfg = {.seed = seed, .strategy = SIM_STRATEGY_PCT, .pct_depth = 3};
    sim_result r;
    run_ok(&pair_prog, &cfg, &r);
    uint64_t k = option_u64(&r, "pct_k");
    assert_true(k >= 1 && k < r.steps);
    assert_non_null(strstr(r.options, "pct_k_from=max-decisions-of-"));
    const char *cp = strstr(r.options, "pct_change_points=");
    assert_non_null(cp);
    cp += strlen("pct_change_points=");
    for (int i = 0; i < 2; i++) {
      char *end;
      uint64_t c = strtoull(cp, &end, 10);
      assert_true(c >= 1 && c <= k);
      cp = end + (*end == ',');
    }
    sim_result_clear(&r);
  }
}

/* --- POS ------------------------------------------------------------------------ */

/* Whether a flag set under the lock is seen before the other task sets it:
** POS must find both orders of two tasks' lock sections (they conflict on
** the mutex), and runs are replayable from their schedule. */
typedef struct race {
  as_mutex *m;
  int first; /* 1 or 2: who locked first */
} race;

static int race_setup(void *st, sim_rng *r) {
  (void)r;
  return as_mutex_new(&((race *)st)->m);
}

static void race_teardown(void *st) { as_mutex_free(((race *)st)->m); }

static race *race_state;

static void racer(void *arg) {
  int me = (int)(intptr_t)arg;
  sim_step();
  as_mutex_lock(race_state->m);
  if (!race_state->first) race_state->first = me;
  as_mutex_unlock(race_state->m);
}

static void race_main(void *st) {
  race_state = st;
  as_task *a = NULL, *b = NULL;
  if (as_task_spawn(&a, "one", racer, (void *)(intptr_t)1) != AS_OK) sim_fail(SIM_ASSERT, "spawn");
  if (as_task_spawn(&b, "two", racer, (void *)(intptr_t)2) != AS_OK) sim_fail(SIM_ASSERT, "spawn");
  if (as_task_join(a) != AS_OK || as_task_join(b) != AS_OK) sim_fail(SIM_ASSERT, "join");
  sim_note("first", (uint64_t)race_state->first);
}

static int race_check(void *st, char *msg, size_t cap) {
  (void)msg;
  (void)cap;
  (void)st;
  return 0;
}

static const sim_program race_prog = {.name = "test:race",
                                      .state_size = sizeof(race),
                                      .setup = race_setup,
                                      .main = race_main,
                                      .check = race_check,
                                      .teardown = race_teardown};

static void test_pos_finds_both_orders_and_replays(void **state) {
  (void)state;
  uint64_t seen_hash[2] = {0, 0};
  unsigned distinct = 0;
  for (uint64_t seed = 0; seed < 100; seed++) {
    sim_config cfg = {.seed = seed, .strategy = SIM_STRATEGY_POS};
    sim_result a, b, c;
    run_ok(&race_prog, &cfg, &a);
    run_ok(&race_prog, &cfg, &b);
    sim_config rc = {.strategy = SIM_STRATEGY_REPLAY, .schedule = a.schedule};
    run_ok(&race_prog, &rc, &c);
    assert_int_equal(a.outcome, SIM_PASS);
    assert_true(a.trace_hash == b.trace_hash && a.trace_hash == c.trace_hash);
    assert_non_null(strstr(a.options, "strategy=pos"));
    if (distinct < 2 && a.trace_hash != seen_hash[0] && a.trace_hash != seen_hash[1])
      seen_hash[distinct++] = a.trace_hash;
    sim_result_clear(&a);
    sim_result_clear(&b);
    sim_result_clear(&c);
  }
  assert_int_equal(distinct, 2);
}

/* The conflict relation, seen from the scheduler. Task a locks and unlocks
** m in a loop, b only steps: no event of one conflicts with an event of the
** other, so after each step POS redraws only the runner's priority and the
** waiting task keeps the one it lost with. Runs of one task then come in
** long stretches, where a random walk flips a coin at every step. */
static void worker_a(void *arg) {
  as_mutex *m = arg;
  for (int i = 0; i < 6; i++) {
    as_mutex_lock(m);
    as_mutex_unlock(m);
  }
}

static void worker_b(void *arg) {
  (void)arg;
  for (int i = 0; i < 12; i++) sim_step();
}

static as_mutex *ab_m;

static int ab_setup(void *st, sim_rng *r) {
  (void)st;
  (void)r;
  return as_mutex_new(&ab_m);
}

static void ab_teardown(void *st) {
  (void)st;
  as_mutex_free(ab_m);
}

static void ab_main(void *st) {
  (void)st;
  as_task *a = NULL, *b = NULL;
  if (as_task_spawn(&a, "a", worker_a, ab_m) != AS_OK) sim_fail(SIM_ASSERT, "spawn");
  if (as_task_spawn(&b, "b", worker_b, NULL) != AS_OK) sim_fail(SIM_ASSERT, "spawn");
  if (as_task_join(a) != AS_OK || as_task_join(b) != AS_OK) sim_fail(SIM_ASSERT, "join");
}

static const sim_program ab_prog = {
    .name = "test:ab", .setup = ab_setup, .main = ab_main, .teardown = ab_teardown};

/* Switches between tasks a (1) and b (2) among a schedule's decisions. */
static unsigned switches(const char *text) {
  sim_schedule sc;
  char err[128];
  assert_int_equal(sim_schedule_decode(text, &sc, err, sizeof err), AS_OK);
  unsigned n = 0;
  uint32_t prev = 0;
  for (size_t i = 0; i < sc.ndec; i++) {
    if (sc.dec[i] != 1 && sc.dec[i] != 2) continue;
    if (prev && sc.dec[i] != prev) n++;
    prev = sc.dec[i];
  }
  sim_schedule_clear(&sc);
  return n;
}

static void test_pos_keeps_independent_priorities(void **state) {
  (void)state;
  unsigned pos_sw = 0, rnd_sw = 0;
  for (uint64_t seed = 0; seed < 300; seed++) {
    sim_config p = {.seed = seed, .strategy = SIM_STRATEGY_POS};
    sim_config r = {.seed = seed, .strategy = SIM_STRATEGY_RANDOM};
    sim_result a, b;
    run_ok(&ab_prog, &p, &a);
    run_ok(&ab_prog, &r, &b);
    pos_sw += switches(a.schedule);
    rnd_sw += switches(b.schedule);
    sim_result_clear(&a);
    sim_result_clear(&b);
  }
  printf("# a/b switches over 300 seeds: pos %u, random %u\n", pos_sw, rnd_sw);
  /* B's steps conflict with nothing, so POS redraws only the runner's
  ** priority: far fewer switches than a coin flip per step. */
  assert_true(pos_sw * 3 < rnd_sw * 2);
}

/* The relation through sim_step_on: two tasks each step twelve times on an
** object. Writes to one object conflict (each step redraws the other task:
** about as many switches as a random walk); writes to two objects, or reads
** of one, do not (few switches). */
typedef struct touch {
  uint64_t obj[2];
  int read;
} touch;

static touch touch_mode;

static void toucher(void *arg) {
  int me = (int)(intptr_t)arg;
  for (int i = 0; i < 12; i++) sim_step_on(touch_mode.obj[me], touch_mode.read);
}

static void touch_main(void *st) {
  (void)st;
  as_task *a = NULL, *b = NULL;
  if (as_task_spawn(&a, "a", toucher, (void *)(intptr_t)0) != AS_OK) sim_fail(SIM_ASSERT, "spawn");
  if (as_task_spawn(&b, "b", toucher, (void *)(intptr_t)1) != AS_OK) sim_fail(SIM_ASSERT, "spawn");
  if (as_task_join(a) != AS_OK || as_task_join(b) != AS_OK) sim_fail(SIM_ASSERT, "join");
}

static const sim_program touch_prog = {.name = "test:touch", .main = touch_main};

static unsigned touch_switches(uint64_t a, uint64_t b, int read) {
  touch_mode = (touch){{a, b}, read};
  unsigned n = 0;
  for (uint64_t seed = 0; seed < 300; seed++) {
    sim_config cfg = {.seed = seed, .strategy = SIM_STRATEGY_POS};
    sim_result r;
    run_ok(&touch_prog, &cfg, &r);
    n += switches(r.schedule);
    sim_result_clear(&r);
  }
  return n;
}

static void test_pos_conflict_relation(void **state) {
  (void)state;
  uint64_t f1 = SIM_OBJECT(SIM_OBJ_FILE, 1), f2 = SIM_OBJECT(SIM_OBJ_FILE, 2);
  uint64_t m1 = SIM_OBJECT(SIM_OBJ_MUTEX, 1);
  unsigned same = touch_switches(f1, f1, 0), other = touch_switches(f1, f2, 0);
  unsigned reads = touch_switches(f1, f1, 1), kinds = touch_switches(f1, m1, 0);
  unsigned any = touch_switches(SIM_OBJECT(SIM_OBJ_ANY, 0), f2, 0);
  printf("# switches over 300 seeds: one object %u, two objects %u, reads %u, "
         "file 1 and mutex 1 %u, any %u\n", same, other, reads, kinds, any);
  assert_true(other * 3 < same * 2);
  assert_true(reads * 3 < same * 2);
  assert_true(kinds * 3 < same * 2); /* the class keeps ids of kinds apart */
  assert_true(other * 3 < any * 2);  /* "any" conflicts with everything */
}

/* --- the portfolio ---------------------------------------------------------------- */

static void test_portfolio_rotates_by_seed(void **state) {
  (void)state;
  static const char *const want[SIM_PORTFOLIO_SIZE] = {
      "portfolio_pick=random", "portfolio_pick=pct:d=1", "portfolio_pick=pct:d=2",
      "portfolio_pick=pct:d=3", "portfolio_pick=pos"};
  const selftest *t = selftest_find("selftest:atomicity");
  for (uint64_t seed = 0; seed < 3 * SIM_PORTFOLIO_SIZE; seed++) {
    unsigned d = 9;
    sim_strategy_kind k = sim_portfolio_pick(seed, &d);
    sim_config cfg = {.seed = seed, .strategy = SIM_STRATEGY_PORTFOLIO};
    sim_result a, b;
    run_ok(t->prog, &cfg, &a);
    assert_non_null(strstr(a.options, "strategy=portfolio"));
    assert_non_null(strstr(a.options, want[seed % SIM_PORTFOLIO_SIZE]));
    /* The same run as the strategy it picked. */
    sim_config same = {.seed = seed, .strategy = k, .pct_depth = d};
    run_ok(t->prog, &same, &b);
    assert_true(a.trace_hash == b.trace_hash);
    assert_string_equal(a.schedule, b.schedule);
    assert_int_equal(sim_pct_needs_estimate(t->prog, &cfg), k == SIM_STRATEGY_PCT);
    sim_result_clear(&a);
    sim_result_clear(&b);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pct_bound),
      cmocka_unit_test(test_pct_k_is_the_programs),
      cmocka_unit_test(test_pct_k_unmeasurable),
      cmocka_unit_test(test_pct_change_points_are_decisions),
      cmocka_unit_test(test_pos_finds_both_orders_and_replays),
      cmocka_unit_test(test_pos_keeps_independent_priorities),
      cmocka_unit_test(test_pos_conflict_relation),
      cmocka_unit_test(test_portfolio_rotates_by_seed),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

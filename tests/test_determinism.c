/*
** test_determinism.c -- same seed, same trace hash; replay from the schedule
** string equals replay from the seed, under every strategy (PCT's bound is
** tested in test_strategies.c).
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "selftest/programs.h"
#include "testutil.h"
#include "sim.h"
#include "simfix.h"

#define SEEDS 1000


static void run_ok(const sim_program *p, const sim_config *cfg, sim_result *res) {
  int rc = sim_run(S, p, cfg, res);
  if (rc != AS_OK) fail_msg("%s: sim_run: %s: %s", p->name, as_status_name(rc), res->message);
}

/* 1,000 seeds of one self-test under one strategy: twice from the seed, once
** from the schedule string; all three hashes and schedules agree. */
static void check_program(const selftest *t, sim_strategy_kind strat) {
  unsigned fails = 0;
  for (uint64_t seed = 0; seed < SEEDS; seed++) {
    /* Wakeups on (the sweeps' default): their replay is checked too. */
    sim_config cfg = {.seed = seed, .strategy = strat, .pct_depth = t->pct_depth, .spurious_ppm = 1000};
    sim_result a, b, c;
    run_ok(t->prog, &cfg, &a);
    run_ok(t->prog, &cfg, &b);
    sim_config rc = {.strategy = SIM_STRATEGY_REPLAY, .schedule = a.schedule};
    run_ok(t->prog, &rc, &c);
    if (a.trace_hash != b.trace_hash || a.trace_hash != c.trace_hash ||
        strcmp(a.schedule, b.schedule) != 0 || strcmp(a.schedule, c.schedule) != 0 ||
        a.outcome != b.outcome || a.outcome != c.outcome || a.steps != c.steps) {
      fail_msg("%s seed %" PRIu64 ": hashes %016" PRIx64 " %016" PRIx64 " replay %016" PRIx64,
               t->prog->name, seed, a.trace_hash, b.trace_hash, c.trace_hash);
    }
    fails += a.outcome != SIM_PASS;
    sim_result_clear(&a);
    sim_result_clear(&b);
    sim_result_clear(&c);
  }
  /* The sweep is not vacuous: buggy programs fail sometimes, correct never. */
  if (t->expect_fail && strat != SIM_STRATEGY_RANDOM) assert_true(fails > 0);
  if (!t->expect_fail) assert_int_equal(fails, 0);
}

static void test_determinism_random(void **state) {
  (void)state;
  for (unsigned i = 0; i < selftest_count; i++) check_program(&selftests[i], SIM_STRATEGY_RANDOM);
}

static void test_determinism_pct(void **state) {
  (void)state;
  for (unsigned i = 0; i < selftest_count; i++) check_program(&selftests[i], SIM_STRATEGY_PCT);
}

static void test_determinism_pos(void **state) {
  (void)state;
  for (unsigned i = 0; i < selftest_count; i++) check_program(&selftests[i], SIM_STRATEGY_POS);
}

static void test_determinism_portfolio(void **state) {
  (void)state;
  for (unsigned i = 0; i < selftest_count; i++)
    check_program(&selftests[i], SIM_STRATEGY_PORTFOLIO);
}

/* Distinct seeds give distinct runs: the hash is not a constant. */
static void test_hash_varies(void **state) {
  (void)state;
  const selftest *t = selftest_find("selftest:counter");
  assert_non_null(t);
  uint64_t first = 0;
  int differs = 0;
  for (uint64_t seed = 0; seed < 20; seed++) {
    sim_config cfg = {.seed = seed};
    sim_result r;
    run_ok(t->prog, &cfg, &r);
    if (seed == 0) first = r.trace_hash;
    differs |= r.trace_hash != first;
    sim_result_clear(&r);
  }
  assert_true(differs);
}

/* The scheduler stream is the only thing a strategy draws from: the workload
** options of a seed are the same under random, PCT and POS. */
static void test_streams_independent(void **state) {
  (void)state;
  const selftest *t = selftest_find("selftest:counter");
  for (uint64_t seed = 0; seed < 50; seed++) {
    sim_config a = {.seed = seed};
    sim_config b = {.seed = seed, .strategy = seed % 2 ? SIM_STRATEGY_PCT : SIM_STRATEGY_POS};
    sim_result ra, rb;
    run_ok(t->prog, &a, &ra);
    run_ok(t->prog, &b, &rb);
    unsigned long tasks_a = 0, incs_a = 0, tasks_b = 0, incs_b = 0;
    const char *ta = strstr(ra.options, "tasks="), *tb = strstr(rb.options, "tasks=");
    assert_non_null(ta);
    assert_non_null(tb);
    assert_true(tu_lit(&ta, "tasks=") && tu_uint(&ta, &tasks_a) &&
                tu_lit(&ta, " increments=") && tu_uint(&ta, &incs_a));
    assert_true(tu_lit(&tb, "tasks=") && tu_uint(&tb, &tasks_b) &&
                tu_lit(&tb, " increments=") && tu_uint(&tb, &incs_b));
    assert_int_equal(tasks_a, tasks_b);
    assert_int_equal(incs_a, incs_b);
    sim_result_clear(&ra);
    sim_result_clear(&rb);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_determinism_random),    cmocka_unit_test(test_determinism_pct),
      cmocka_unit_test(test_determinism_pos),       cmocka_unit_test(test_determinism_portfolio),
      cmocka_unit_test(test_hash_varies),           cmocka_unit_test(test_streams_independent),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

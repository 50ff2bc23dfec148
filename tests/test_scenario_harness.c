/*
** test_scenario_harness.c -- the scenario runner's own failures
** (sim/scenario/runner.c), not the runtime's: SQLite refusing to open or to
** close the harness's connections (sqlwrap.h, persistent and one-shot, at
** every call in turn), and a budget scenario whose price table is missing
** or malformed. Each ends in a harness failure or a load error that says
** what went wrong, never a crash, a pass that hid it, or a leak.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultwrap.h"
#include "scenario/runner.h"
#include "scenario/scenario.h"
#include "simdb.h"
#include "sqlwrap.h"

static sim *S;
static scenario *SC;

static int group_setup(void **state) {
  (void)state;
  SC = calloc(1, sizeof *SC);
  if (!SC) return -1;
  if (sim_new(&S, SIM_SWITCH_FCONTEXT, 0) != AS_OK) return -1;
  return simdb_install() == AS_OK ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  sim_free(S);
  scn_clear(SC);
  free(SC);
  return simdb_uninstall() == AS_OK ? 0 : -1;
}

static int reset(void **state) {
  (void)state;
  sw_reset();
  fw_reset();
  return 0;
}

static void parse_text(const char *file, const char *text) {
  char err[256];
  scn_clear(SC);
  if (scn_parse(file, text, strlen(text), SC, err, sizeof err) != AS_OK) fail_msg("%s", err);
}

/* Run SC once (seed 1) with the countdown (mask, n, persistent) armed around sim_run;
** whether it fired. */
static int run_armed(sw_fn fn, unsigned long n, int persistent, sim_result *res) {
  scn_runner *r = NULL;
  assert_int_equal(scn_runner_new(&r, SC, NULL, 0), AS_OK);
  sim_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.seed = 1;
  cfg.max_steps = SC->max_steps;
  cfg.max_virtual_ns = SC->max_virtual_ns;
  sw_countdown(1ull << fn, n, fn == SW_OPEN ? SQLITE_CANTOPEN : SQLITE_BUSY, persistent);
  assert_int_equal(sim_run(S, scn_runner_program(r), &cfg, res), AS_OK);
  int fired = sw_fired();
  sw_disarm();
  scn_runner_free(r);
  return fired;
}

#define SIMPLE "scenario h\nsessions 2\nactor a\n    start s=0\n    write s=1\n"

/* The n-th call of fn fails (and every later one, persistent), for n = 1, 2, ...
** until a run goes by without it: every run ends passing or failing as a harness
** or invariant failure; the messages seen include each of want[]. */
static void walk(sw_fn fn, int persistent, const char *const *want, size_t nwant) {
  parse_text("h.scn", SIMPLE);
  int seen[8] = {0};
  sim_result warm; /* a run without faults first: what the first run keeps for later */
  assert_int_equal(run_armed(fn, 100000, 0, &warm), 0);
  assert_int_equal(warm.outcome, SIM_PASS);
  sim_result_clear(&warm);
  unsigned long n;
  for (n = 1; n < 400; n++) {
    sim_result res;
    size_t live = fw_live_blocks();
    int fired = run_armed(fn, n, persistent, &res);
    if (res.outcome != SIM_PASS && res.outcome != SIM_HARNESS && res.outcome != SIM_INVARIANT)
      fail_msg("%s #%lu: %s: %s", sw_fn_name(fn), n, sim_outcome_name(res.outcome), res.message);
    if (fired && persistent && res.outcome == SIM_PASS)
      fail_msg("%s #%lu on and on: the run passed", sw_fn_name(fn), n);
    for (size_t k = 0; k < nwant; k++)
      if (res.outcome == SIM_HARNESS && strstr(res.message, want[k])) seen[k] = 1;
    sim_result_clear(&res);
    assert_int_equal(fw_live_blocks(), live);
    if (!fired) break;
  }
  assert_true(n > 1 && n < 400);
  for (size_t k = 0; k < nwant; k++)
    if (!seen[k]) fail_msg("%s: no run said '%s'", sw_fn_name(fn), want[k]);
}

static void test_opens_fail(void **state) {
  (void)state;
  static const char *const want[] = {"the harness cannot open the database"};
  walk(SW_OPEN, 1, want, 1);
}

static void test_closes_fail(void **state) {
  (void)state;
  static const char *const want[] = {"the harness cannot close its connection"};
  walk(SW_CLOSE, 0, want, 1);
}

/* A budget scenario whose price table is not there, or not a price table. */
static void test_bad_prices(void **state) {
  (void)state;
  static const char *const prices[] = {"no-such-prices.json", "../scenarios/budget_crash.scn"};
  for (int k = 0; k < 2; k++) {
    char text[512], file[512], err[1024] = "";
    snprintf(text, sizeof text,
             "scenario p\nsessions 1\napp ../apps/code_review\nscript ../scripts/budget.stub\n"
             "fields repo=shop target_branch=develop change_number=11\nbudget limit=1\n"
             "prices %s\nactor a\n    trigger s=0\n", prices[k]);
    snprintf(file, sizeof file, "%s/fixtures/scenarios/p.scn", AS_SOURCE_DIR);
    parse_text(file, text);
    scn_runner *r = NULL;
    assert_int_equal(scn_runner_new(&r, SC, err, sizeof err), AS_PARSE);
    assert_null(r);
    if (!strstr(err, k == 0 ? "no-such-prices.json" : "budget_crash.scn")) fail_msg("err: %s", err);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_opens_fail, reset, reset),
      cmocka_unit_test_setup_teardown(test_closes_fail, reset, reset),
      cmocka_unit_test_setup_teardown(test_bad_prices, reset, reset),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

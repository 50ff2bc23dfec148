/*
** test_args.c -- command-line parsing: what each command accepts, and that
** every refusal names the argument and what was expected.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "args.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static cli_opts O;
static char err[512];

static int parse(int argc, const char **argv) {
  return cli_parse(argc, (char **)argv, &O, err, sizeof err);
}

static void expect_bad(int argc, const char **argv, const char *needle) {
  int rc = parse(argc, argv);
  if (rc != AS_INVAL) fail_msg("argv of %d parsed, expected an error", argc);
  if (!strstr(err, needle)) fail_msg("error '%s' lacks '%s'", err, needle);
}

static void test_run(void **state) {
  (void)state;
  const char *a[] = {"agentsim", "run", "selftest:abba", "--seed", "18446744073709551615",
                     "--strategy", "pct:d=2,k=40", "--json", "--max-time=12h"};
  assert_int_equal(parse(ARGC(a), a), AS_OK);
  assert_int_equal(O.cmd, CMD_RUN);
  assert_string_equal(O.scenarios[0], "selftest:abba");
  assert_true(O.seed == UINT64_MAX);
  assert_int_equal(O.strategy, SIM_STRATEGY_PCT);
  assert_int_equal(O.pct_depth, 2);
  assert_int_equal(O.pct_steps, 40);
  assert_true(O.json);
  assert_true(O.max_virtual_ns == 12ull * 3600 * 1000000000ull);
}

static void test_sweep(void **state) {
  (void)state;
  const char *a[] = {"agentsim", "sweep", "x", "y", "--seeds", "100", "--jobs", "4",
                     "--shard", "2/4", "--junit", "out.xml", "--seed-start", "7"};
  assert_int_equal(parse(ARGC(a), a), AS_OK);
  assert_int_equal(O.nscenarios, 2);
  assert_int_equal(O.seeds, 100);
  assert_int_equal(O.jobs, 4);
  assert_int_equal(O.shard_i, 2);
  assert_int_equal(O.shard_n, 4);
  assert_string_equal(O.junit, "out.xml");
  assert_int_equal(O.seed_start, 7);
  /* A sweep's default strategy is the portfolio; run's stays random. */
  assert_int_equal(O.strategy, SIM_STRATEGY_PORTFOLIO);
  assert_string_equal(O.strategy_text, "portfolio");
  const char *b[] = {"agentsim", "sweep", "x", "--seeds", "1", "--strategy", "random"};
  assert_int_equal(parse(ARGC(b), b), AS_OK);
  assert_int_equal(O.strategy, SIM_STRATEGY_RANDOM);
  const char *c[] = {"agentsim", "run", "x", "--seed", "1"};
  assert_int_equal(parse(ARGC(c), c), AS_OK);
  assert_int_equal(O.strategy, SIM_STRATEGY_RANDOM);
}

/* Every strategy's name parses to its kind, and those without settings
** refuse them by name. */
static void test_strategies(void **state) {
  (void)state;
  static const struct {
    const char *text;
    sim_strategy_kind kind;
  } ok[] = {{"random", SIM_STRATEGY_RANDOM}, {"pct", SIM_STRATEGY_PCT},
            {"pct:k=9", SIM_STRATEGY_PCT},    {"pos", SIM_STRATEGY_POS},
            {"portfolio", SIM_STRATEGY_PORTFOLIO}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    const char *a[] = {"agentsim", "run", "x", "--seed", "1", "--strategy", ok[i].text};
    assert_int_equal(parse(ARGC(a), a), AS_OK);
    assert_int_equal(O.strategy, ok[i].kind);
    assert_true(O.has_strategy);
  }
  const char *a[] = {"agentsim", "run", "x", "--seed", "1", "--strategy", "pos:d=2"};
  expect_bad(ARGC(a), a, "--strategy 'pos:d=2': pos takes no settings (d= and k= are PCT's)");
  const char *b[] = {"agentsim", "run", "x", "--seed", "1", "--strategy", "portfolio:k=3"};
  expect_bad(ARGC(b), b, "--strategy 'portfolio:k=3': portfolio takes no settings");
  const char *c[] = {"agentsim", "run", "x", "--seed", "1", "--strategy", "posx"};
  expect_bad(ARGC(c), c, "expected random, pct, pct:d=K, pct:d=K,k=N, pos or portfolio");
  const char *d[] = {"agentsim", "run", "x", "--seed", "1", "--strategy", "randomly"};
  expect_bad(ARGC(d), d, "--strategy 'randomly': expected random,");
  const char *e[] = {"agentsim", "replay", "x", "--schedule", "v2:", "--strategy", "random"};
  expect_bad(ARGC(e), e, "--strategy goes with --seed");
}

/* --spurious: a rate or off; the default is on in sweep and selftest only. */
static void test_spurious(void **state) {
  (void)state;
  const char *a[] = {"agentsim", "sweep", "x", "--seeds", "3"};
  assert_int_equal(parse(ARGC(a), a), AS_OK);
  assert_int_equal(cli_spurious_ppm(&O), CLI_DEFAULT_SPURIOUS_PPM);
  const char *b[] = {"agentsim", "sweep", "x", "--seeds", "3", "--spurious", "off"};
  assert_int_equal(parse(ARGC(b), b), AS_OK);
  assert_int_equal(cli_spurious_ppm(&O), 0);
  const char *c[] = {"agentsim", "run", "x", "--seed", "3"};
  assert_int_equal(parse(ARGC(c), c), AS_OK);
  assert_int_equal(cli_spurious_ppm(&O), 0);
  const char *d[] = {"agentsim", "run", "x", "--seed", "3", "--spurious=250"};
  assert_int_equal(parse(ARGC(d), d), AS_OK);
  assert_int_equal(cli_spurious_ppm(&O), 250);
  const char *e[] = {"agentsim", "selftest"};
  assert_int_equal(parse(ARGC(e), e), AS_OK);
  assert_int_equal(cli_spurious_ppm(&O), CLI_DEFAULT_SPURIOUS_PPM);
  const char *f[] = {"agentsim", "run", "x", "--seed", "3", "--spurious", "-1"};
  expect_bad(ARGC(f), f, "--spurious '-1': expected a rate from 0 to 1000000");
  const char *g[] = {"agentsim", "run", "x", "--seed", "3", "--spurious", "1000001"};
  expect_bad(ARGC(g), g, "expected a rate from 0 to 1000000");
  const char *h[] = {"agentsim", "replay", "x", "--schedule", "v3:", "--spurious", "5"};
  expect_bad(ARGC(h), h, "a schedule lists its wakeups");
  const char *i[] = {"agentsim", "mutants", "--spurious", "5"};
  expect_bad(ARGC(i), i, "mutants does not take --spurious");
}

static void test_replay(void **state) {
  (void)state;
  const char *a[] = {"agentsim", "replay", "x", "--schedule", "v2:abc", "--verbose"};
  assert_int_equal(parse(ARGC(a), a), AS_OK);
  assert_string_equal(O.schedule, "v2:abc");
  const char *b[] = {"agentsim", "replay", "x"};
  expect_bad(ARGC(b), b, "exactly one of --seed N or --schedule");
  const char *c[] = {"agentsim", "replay", "x", "--seed", "1", "--schedule", "v2:"};
  expect_bad(ARGC(c), c, "exactly one of");
  const char *d[] = {"agentsim", "replay", "x", "--schedule", "v2:", "--strategy", "pct"};
  expect_bad(ARGC(d), d, "--strategy goes with --seed");
}

static void test_errors(void **state) {
  (void)state;
  const char *a0[] = {"agentsim"};
  expect_bad(ARGC(a0), a0, "no command");
  const char *a1[] = {"agentsim", "frobnicate"};
  expect_bad(ARGC(a1), a1, "unknown command 'frobnicate'");
  const char *a2[] = {"agentsim", "run", "x"};
  expect_bad(ARGC(a2), a2, "expected --seed");
  const char *a3[] = {"agentsim", "run", "x", "--seed", "-1"};
  expect_bad(ARGC(a3), a3, "--seed '-1': expected an unsigned");
  const char *a4[] = {"agentsim", "run", "x", "--seed", "18446744073709551616"};
  expect_bad(ARGC(a4), a4, "expected an unsigned 64-bit");
  const char *a5[] = {"agentsim", "run", "x", "--seed", "1", "--strategy", "dfs"};
  expect_bad(ARGC(a5), a5, "--strategy 'dfs': expected random, pct");
  const char *a6[] = {"agentsim", "run", "x", "--seed", "1", "--strategy", "pct:d=0"};
  expect_bad(ARGC(a6), a6, "positive");
  const char *a7[] = {"agentsim", "run", "x", "--seed", "1", "--strategy", "pct:d=65"};
  expect_bad(ARGC(a7), a7, "at most 64");
  const char *a8[] = {"agentsim", "run", "x", "--seed"};
  expect_bad(ARGC(a8), a8, "--seed needs a value");
  const char *a9[] = {"agentsim", "run", "x", "--seed", "1", "--jobs", "2"};
  expect_bad(ARGC(a9), a9, "run does not take --jobs");
  const char *b0[] = {"agentsim", "sweep", "x", "--seeds", "10", "--shard", "5/4"};
  expect_bad(ARGC(b0), b0, "expected I/N");
  const char *b1[] = {"agentsim", "sweep", "x", "--seeds", "0"};
  expect_bad(ARGC(b1), b1, "positive count");
  const char *b2[] = {"agentsim", "run", "x", "y", "--seed", "1"};
  expect_bad(ARGC(b2), b2, "run takes one scenario");
  const char *b3[] = {"agentsim", "run", "x", "--seed", "1", "--max-time", "5 parsecs"};
  expect_bad(ARGC(b3), b3, "expected a duration");
  const char *b4[] = {"agentsim", "run", "x", "--seed", "1", "--json=yes"};
  expect_bad(ARGC(b4), b4, "--json takes no value");
  const char *b5[] = {"agentsim", "run", "x", "--seed", "1", "--bogus"};
  expect_bad(ARGC(b5), b5, "unknown option '--bogus'");
  const char *b6[] = {"agentsim", "sweep", "x", "--seeds", "3", "--shard", "1/4"};
  expect_bad(ARGC(b6), b6, "fewer seeds than shards");
  const char *b7[] = {"agentsim", "run", "x", "--seed", "1", "--switch", "setjmp"};
  expect_bad(ARGC(b7), b7, "expected fcontext or ucontext");
}

static void test_help(void **state) {
  (void)state;
  const char *a[] = {"agentsim", "run", "--help"};
  assert_int_equal(parse(ARGC(a), a), AS_OK);
  assert_int_equal(O.cmd, CMD_HELP);
  assert_int_equal(O.help_for, CMD_RUN);
  const char *b[] = {"agentsim", "help", "sweep"};
  assert_int_equal(parse(ARGC(b), b), AS_OK);
  assert_int_equal(O.help_for, CMD_SWEEP);
}

static void test_check(void **state) {
  (void)state;
  const char *a[] = {"agentsim", "check", "app", "fixtures/apps/x", "--json"};
  assert_int_equal(parse(ARGC(a), a), AS_OK);
  assert_int_equal(O.cmd, CMD_CHECK);
  assert_string_equal(O.check_kind, "app");
  assert_string_equal(O.check_path, "fixtures/apps/x");
  assert_true(O.json);
  const char *b[] = {"agentsim", "check"};
  expect_bad(ARGC(b), b, "check app DIR");
  const char *c[] = {"agentsim", "check", "app"};
  expect_bad(ARGC(c), c, "expected DIR");
  const char *d[] = {"agentsim", "check", "scenario", "x"};
  expect_bad(ARGC(d), d, "unknown kind 'scenario' (expected: app)");
  const char *e[] = {"agentsim", "check", "app", "x", "y"};
  expect_bad(ARGC(e), e, "takes one DIR; unexpected 'y'");
  const char *f[] = {"agentsim", "check", "app", "x", "--seed", "1"};
  expect_bad(ARGC(f), f, "check does not take --seed");
}

static void test_durations(void **state) {
  (void)state;
  uint64_t v;
  assert_int_equal(cli_parse_duration("250ms", &v), AS_OK);
  assert_true(v == 250000000ull);
  assert_int_equal(cli_parse_duration("7d", &v), AS_OK);
  assert_true(v == 7ull * 86400 * 1000000000ull);
  assert_int_equal(cli_parse_duration("42", &v), AS_OK);
  assert_true(v == 42);
  assert_int_equal(cli_parse_duration("99999999999d", &v), AS_INVAL);
  assert_int_equal(cli_parse_duration("1.5s", &v), AS_INVAL);
  assert_int_equal(cli_parse_duration("s", &v), AS_INVAL);
  assert_int_equal(cli_parse_duration("", &v), AS_INVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_run),    cmocka_unit_test(test_sweep),
      cmocka_unit_test(test_spurious), cmocka_unit_test(test_strategies),
      cmocka_unit_test(test_replay), cmocka_unit_test(test_errors),
      cmocka_unit_test(test_help),   cmocka_unit_test(test_durations),
      cmocka_unit_test(test_check),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

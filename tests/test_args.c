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

/* Every option's refusal names the option and the value, and what was
** expected; the edges of the accepted ranges parse. */
static void test_option_values(void **state) {
  (void)state;
  static const struct {
    const char *opt, *val, *needle;
  } bad[] = {
      {"--seeds", "x", "--seeds 'x': expected a positive count"},
      {"--seed-start", "x", "--seed-start 'x': expected an unsigned 64-bit decimal number"},
      {"--jobs", "x", "--jobs 'x': expected a count from 1 to 256"},
      {"--jobs", "0", "--jobs '0': expected a count from 1 to 256"},
      {"--jobs", "257", "--jobs '257': expected a count from 1 to 256"},
      {"--max-steps", "x", "--max-steps 'x': expected a count from 1 to 16000000"},
      {"--max-steps", "0", "--max-steps '0': expected a count from 1 to"},
      {"--max-steps", "16000001", "--max-steps '16000001': expected a count from 1 to"},
      {"--max-time", "0s", "--max-time '0s': expected a duration"},
      {"--max-cpu", "x", "--max-cpu 'x': expected seconds from 1 to 86400"},
      {"--max-cpu", "0", "--max-cpu '0': expected seconds"},
      {"--max-cpu", "86401", "--max-cpu '86401': expected seconds"},
      {"--shard", "2", "--shard '2': expected I/N with 1 <= I <= N"},
      {"--shard", "/4", "--shard '/4': expected I/N"},
      {"--shard", "12345678901/2", "expected I/N"},
      {"--shard", "a/4", "--shard 'a/4': expected I/N"},
      {"--shard", "1/x", "--shard '1/x': expected I/N"},
      {"--shard", "1/0", "--shard '1/0': expected I/N"},
      {"--shard", "0/4", "--shard '0/4': expected I/N"},
      {"--shard", "1/1000001", "--shard '1/1000001': expected I/N"},
      {"--junit", "", "--junit: expected a file name"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *a[] = {"agentsim", "sweep", "x", "--seeds", "2000000", bad[i].opt, bad[i].val};
    expect_bad(ARGC(a), a, bad[i].needle);
  }
  const char *ok[] = {"agentsim", "sweep", "x", "--seeds", "1000000", "--shard", "1000000/1000000",
                      "--jobs", "256", "--max-steps", "16000000", "--max-cpu", "86400",
                      "--switch", "fcontext", "--swarm", "--seed-start", "18446744073709551615"};
  assert_int_equal(parse(ARGC(ok), ok), AS_OK);
  assert_int_equal(O.shard_i, 1000000);
  assert_int_equal(O.shard_n, 1000000);
  assert_int_equal(O.jobs, 256);
  assert_true(O.max_steps == 16000000);
  assert_int_equal(O.max_cpu_s, 86400);
  assert_int_equal(O.sw, SIM_SWITCH_FCONTEXT);
  assert_true(O.swarm);
  assert_true(O.seed_start == UINT64_MAX);
  const char *u[] = {"agentsim", "run", "x", "--seed", "1", "--switch=ucontext"};
  assert_int_equal(parse(ARGC(u), u), AS_OK);
  assert_int_equal(O.sw, SIM_SWITCH_UCONTEXT);
  /* An option's value over the length cap, as the next word. */
  static char longval[CLI_MAX_ARG_LEN + 2];
  memset(longval, '7', sizeof longval - 1);
  const char *l[] = {"agentsim", "run", "x", "--seed", longval};
  expect_bad(ARGC(l), l, "--seed: value longer than 4096 bytes");
  /* --schedule's may be longer (the schedule decoder caps it). */
  const char *s[] = {"agentsim", "replay", "x", "--schedule", longval};
  assert_int_equal(parse(ARGC(s), s), AS_OK);
  assert_ptr_equal(O.schedule, longval);
}

static void test_pct_settings(void **state) {
  (void)state;
  static const struct {
    const char *text, *needle;
  } bad[] = {
      {"pctx", "--strategy 'pctx': expected random, pct"},
      {"pct:", "--strategy 'pct:': expected d=K or k=N after 'pct:'"},
      {"pct:x=1", "--strategy 'pct:x=1': expected d=K or k=N"},
      {"pct:d1", "--strategy 'pct:d1': expected d=K or k=N"},
      {"pct:k", "--strategy 'pct:k': expected d=K or k=N"},
      {"pct:d=", "--strategy 'pct:d=': expected a number after '='"},
      {"pct:k=12345678901234567890", "expected a number after '='"},
      {"pct:k=0", "--strategy 'pct:k=0': expected a positive number"},
      {"pct:k=1,k=2", "--strategy 'pct:k=1,k=2': k= given twice"},
      {"pct:d=1,d=2", "--strategy 'pct:d=1,d=2': d= given twice"},
      {"pct:d=1,", "--strategy 'pct:d=1,': trailing ','"},
      {"pct:d=1;k=2", "--strategy 'pct:d=1;k=2': expected ',' between settings"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *a[] = {"agentsim", "run", "x", "--seed", "1", "--strategy", bad[i].text};
    expect_bad(ARGC(a), a, bad[i].needle);
  }
  /* The largest setting 19 digits hold, and k before d. */
  const char *a[] = {"agentsim", "run", "x", "--seed", "1", "--strategy",
                     "pct:k=9999999999999999999,d=64"};
  assert_int_equal(parse(ARGC(a), a), AS_OK);
  assert_true(O.pct_steps == 9999999999999999999ull);
  assert_int_equal(O.pct_depth, 64);
}

/* Each command's required pieces, and the pairs that exclude each other. */
static void test_required(void **state) {
  (void)state;
  const char *a[] = {"agentsim", "run", "--seed", "1"};
  expect_bad(ARGC(a), a, "run: expected a SCENARIO");
  const char *b[] = {"agentsim", "sweep", "--seeds", "1"};
  expect_bad(ARGC(b), b, "sweep: expected at least one SCENARIO");
  const char *c[] = {"agentsim", "sweep", "x"};
  expect_bad(ARGC(c), c, "sweep: expected --seeds N");
  const char *d[] = {"agentsim", "replay", "--seed", "1"};
  expect_bad(ARGC(d), d, "replay: expected a SCENARIO");
  const char *e[] = {"agentsim", "metrics"};
  expect_bad(ARGC(e), e, "metrics: expected --db PATH");
  const char *f[] = {"agentsim", "metrics", "--db", "x.db", "--out", "m.prom", "--push",
                     "http://127.0.0.1:9091"};
  expect_bad(ARGC(f), f, "metrics: --out and --push exclude each other");
  const char *g[] = {"agentsim", "metrics", "--db", "x.db", "--job", "j"};
  expect_bad(ARGC(g), g, "metrics: --job goes with --push");
  const char *h[] = {"agentsim", "metrics", "--db", ""};
  expect_bad(ARGC(h), h, "--db: expected a value");
  const char *i[] = {"agentsim", "metrics", "--db", "x.db", "--push", "http://h:1", "--job", "j",
                     "--budget", "2", "--app", "apps/a"};
  assert_int_equal(parse(ARGC(i), i), AS_OK);
  assert_string_equal(O.db, "x.db");
  assert_string_equal(O.push, "http://h:1");
  assert_string_equal(O.job, "j");
  assert_string_equal(O.budget, "2");
  assert_string_equal(O.app, "apps/a");
  const char *j[] = {"agentsim", "metrics", "--db", "x.db", "--out", "m.prom"};
  assert_int_equal(parse(ARGC(j), j), AS_OK);
  assert_string_equal(O.out, "m.prom");
  /* "-" is a word, not an option: a SCENARIO named "-". */
  const char *k[] = {"agentsim", "run", "-", "--seed", "1"};
  assert_int_equal(parse(ARGC(k), k), AS_OK);
  assert_string_equal(O.scenarios[0], "-");
  /* The envelope's FILE may be stdin while --structured is a file. */
  const char *l[] = {"agentsim", "parse", "envelope", "-", "--structured", "s.json"};
  assert_int_equal(parse(ARGC(l), l), AS_OK);
  const char *m[] = {"agentsim", "parse", "envelope", "a.txt", "--structured", "-"};
  assert_int_equal(parse(ARGC(m), m), AS_OK);
  assert_string_equal(O.structured, "-");
  assert_string_equal(O.parse_file, "a.txt");
  const char *n[] = {"agentsim", "help", "run", "sweep"};
  expect_bad(ARGC(n), n, "help takes one command or topic");
}

/* No room for a message: the refusal still comes back. */
static void test_no_err_buffer(void **state) {
  (void)state;
  const char *a[] = {"agentsim", "frobnicate"};
  assert_int_equal(cli_parse(ARGC(a), (char **)a, &O, NULL, 0), AS_INVAL);
  char one[1] = {'x'};
  assert_int_equal(cli_parse(ARGC(a), (char **)a, &O, one, 0), AS_INVAL);
  assert_int_equal(one[0], 'x'); /* a zero capacity: not written */
  const char *b[] = {"agentsim", "version"};
  assert_int_equal(cli_parse(ARGC(b), (char **)b, &O, NULL, 0), AS_OK);
  assert_int_equal(O.cmd, CMD_VERSION);
  uint64_t v = 7;
  assert_int_equal(cli_parse_u64(NULL, &v), AS_INVAL);
  assert_int_equal(cli_parse_duration(NULL, &v), AS_INVAL);
  assert_true(v == 7);
  assert_string_equal(cli_cmd_name(CMD_SWEEP), "sweep");
  assert_string_equal(cli_cmd_name(CMD_NONE), "agentsim");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_run),    cmocka_unit_test(test_sweep),
      cmocka_unit_test(test_spurious), cmocka_unit_test(test_strategies),
      cmocka_unit_test(test_replay), cmocka_unit_test(test_errors),
      cmocka_unit_test(test_help),   cmocka_unit_test(test_durations),
      cmocka_unit_test(test_check),
      cmocka_unit_test(test_option_values), cmocka_unit_test(test_pct_settings),
      cmocka_unit_test(test_required), cmocka_unit_test(test_no_err_buffer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
** test_cli_scenarios.c -- the commands on scenario files, called directly
** (as test_cli_paths.c does): `mutants` with named scenarios, refusals and
** the JSON kill table; `bench --quick --json` over a scenario directory
** holding a broken file; `replay --schedule @FILE` with every kind of file;
** the scenario catalog's caps and allocation failures; json_str on
** malformed UTF-8.
**
** Linked with --wrap (faultwrap.h). Runs in a scratch directory that holds a
** fixtures/scenarios/ of its own.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentsim/mutant.h"
#include "clitest.h"

static char scratch[] = "/tmp/agentsim-scn-XXXXXX";
static char good[256], broken[256];

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fputs(text, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);
}

static int group_setup(void **state) {
  (void)state;
  if (!mkdtemp(scratch)) return -1;
  char dir[256];
  snprintf(dir, sizeof dir, "%s/fixtures", scratch);
  if (mkdir(dir, 0700) != 0) return -1;
  snprintf(dir, sizeof dir, "%s/fixtures/scenarios", scratch);
  if (mkdir(dir, 0700) != 0) return -1;
  snprintf(good, sizeof good, "%s/fixtures/scenarios/a_good.scn", scratch);
  snprintf(broken, sizeof broken, "%s/fixtures/scenarios/b_broken.scn", scratch);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  cli_programs_free();
  if (unlink(good) != 0 || unlink(broken) != 0) return -1;
  char dir[256];
  snprintf(dir, sizeof dir, "%s/fixtures/scenarios", scratch);
  if (rmdir(dir) != 0) return -1;
  snprintf(dir, sizeof dir, "%s/fixtures", scratch);
  if (rmdir(dir) != 0) return -1;
  return rmdir(scratch);
}



static int bench_cmd(const cli_opts *o, const char *argv0) {
  (void)argv0;
  return cmd_bench(o);
}

/* The scenario every test here runs: small and quick, and one the
** finalize_no_lock and pause_not_marked mutants fail at once. */
#define GOOD_SCN                                                              \
  "scenario a_good\nsessions 1\nactor a\n    start s=0\n    pause s=0\n"     \
  "    tool s=0 name=mark_resolved\n    finalize s=0\n"

/* --- mutants ------------------------------------------------------------------- */

static void test_mutants_named(void **state) {
  (void)state;
  write_file(good, GOOD_SCN);
  /* Named scenarios, 3 seeds: some mutants are found, some survive (so the
  ** kill table says "survived" and the JSON null, and mutants exits 1). */
  const char *a[] = {"agentsim", "mutants", good, "--seeds", "3", "--jobs", "1", "--json"};
  cli_opts o = parse(ARGC(a), a);
  outcome r = call(cmd_mutants, &o);
  assert_int_equal(r.ex, EXIT_FOUND);
  expect_in(r.err, "1 scenarios, up to 3 seeds each", "stderr");
  expect_in(r.err, "survived", "stderr");
  expect_in(r.err, "finalize_no_lock", "stderr");
  expect_in(r.err, "replay: agentsim replay ", "stderr");
  const char *last = capture_last_line(r.out);
  expect_in(last, "{\"command\":\"mutants\",\"seeds\":3,\"result\":\"fail\"", "JSON");
  expect_in(last, "\"mutant\":\"finalize_no_lock\"", "JSON");
  expect_in(last, "\"killed\":true", "JSON");
  expect_in(last, "\"killed\":false", "JSON");
  expect_in(last, ":null", "JSON");
  expect_in(last, "lock-scope: s0: status", "JSON");
  expect_in(last, "\"check\":\"lock-scope\"", "JSON");
  expect_in(last, "\"kill_rate\":", "JSON");
  expect_in(last, "\"replay\":\"agentsim replay ", "JSON");
  expect_in(last, "\"random\":", "JSON");
  expect_in(last, "\"pct\":", "JSON");
  expect_in(last, "\"pos\":", "JSON");
  expect_in(last, "\"portfolio\":", "JSON");
  outcome_free(&r);
  assert_null(as_mutant_active()); /* switched off at the end */

  /* The text table on stdout. */
  const char *b[] = {"agentsim", "mutants", good, "--seeds", "2", "--jobs", "1"};
  o = parse(ARGC(b), b);
  r = call(cmd_mutants, &o);
  assert_int_equal(r.ex, EXIT_FOUND);
  expect_in(r.out, "mutant                    random    pct    pos portfolio", "stdout");
  size_t nmut = 0;
  (void)as_mutant_list(&nmut);
  char want[48];
  snprintf(want, sizeof want, "mutants: %zu, killed by the portfolio ", nmut);
  expect_in(r.out, want, "stdout");
  outcome_free(&r);
}

static void test_mutants_refusals(void **state) {
  (void)state;
  write_file(good, GOOD_SCN);
  const char *a[] = {"agentsim", "mutants", "selftest:abba", "--seeds", "2"};
  cli_opts o = parse(ARGC(a), a);
  outcome r = call(cmd_mutants, &o);
  assert_int_equal(r.ex, EXIT_USAGE);
  expect_in(r.err, "mutants: the runtime's mutants need scenario files", "stderr");
  outcome_free(&r);

  const char *b[] = {"agentsim", "mutants", good, "no/such.scn", "--seeds", "2"};
  o = parse(ARGC(b), b);
  r = call(cmd_mutants, &o);
  assert_int_equal(r.ex, EXIT_USAGE);
  expect_in(r.err, "no/such.scn: cannot open", "stderr");
  outcome_free(&r);

  /* No arguments, from a directory without fixtures/scenarios. */
  char cwd[1024];
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir("/"), 0);
  const char *c[] = {"agentsim", "mutants", "--seeds", "2"};
  o = parse(ARGC(c), c);
  r = call(cmd_mutants, &o);
  assert_int_equal(chdir(cwd), 0);
  assert_int_equal(r.ex, EXIT_USAGE);
  expect_in(r.err, "mutants: no scenarios: run from the project root", "stderr");
  outcome_free(&r);

  /* No arguments, from a directory whose fixtures hold a broken file. */
  write_file(broken, "scenario b\nsessions 1\nactor a\n    start s=5\n");
  assert_int_equal(chdir(scratch), 0);
  r = call(cmd_mutants, &o);
  assert_int_equal(chdir(cwd), 0);
  assert_int_equal(r.ex, EXIT_USAGE);
  expect_in(r.err, "b_broken.scn:4:13: expected a session number", "stderr");
  outcome_free(&r);
}

static void test_mutants_sweep_breaks(void **state) {
  (void)state;
  write_file(good, GOOD_SCN);
  const char *a[] = {"agentsim", "mutants", good, "--seeds", "4", "--jobs", "2", "--json"};
  cli_opts o = parse(ARGC(a), a);
  fw_countdown(FW_BIT(FORK), 1, EAGAIN, 0);
  outcome r = call(cmd_mutants, &o);
  fw_disarm();
  assert_int_equal(r.ex, EXIT_INTERNAL);
  expect_in(r.err, "mutants: a_good: ", "stderr");
  outcome_free(&r);
  errno = 0;
  assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
  assert_null(as_mutant_active());
}

/* --- bench over a scenario directory ---------------------------------------------- */

static void test_bench_scenarios(void **state) {
  (void)state;
  write_file(good, GOOD_SCN);
  write_file(broken, "scenario b\nsessions 1\nactor a\n    start s=5\n");
  char cwd[1024];
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(scratch), 0);
  const char *a[] = {"agentsim", "bench", "--quick", "--json"};
  cli_opts o = parse(ARGC(a), a);
  /* The switch timings (the first four clock readings) see a clock that
  ** stands still: no rate can be told, so the bars are not met (exit 1). */
  fw_inject(FW_CLOCK_GETTIME, 0, 4);
  outcome r = call(bench_cmd, &o);
  fw_reset();
  assert_int_equal(chdir(cwd), 0);
  if (r.ex != EXIT_FOUND) /* say why: the end of what bench said */
    fail_msg("bench exited %d: ...%s", r.ex,
             strlen(r.err) > 600 ? r.err + strlen(r.err) - 600 : r.err);
  expect_in(r.err, "context switch  fcontext            0 /s", "stderr");
  expect_in(r.err, "ratio fcontext/ucontext           0.0 x", "stderr");
  expect_in(r.err, "ucontext: NOT met", "stderr");
  /* The good scenario has its row; the broken one is reported and skipped. */
  expect_in(r.err, "a_good ", "stderr");
  expect_in(r.err, "bench: fixtures/scenarios/b_broken.scn:4:13: expected a session", "stderr");
  const char *last = capture_last_line(r.out);
  expect_in(last, "\"scenarios\":[", "JSON");
  expect_in(last, "\"a_good\"", "JSON");
  expect_in(last, "\"latency_off\":{\"seeds_per_s\":", "JSON"); /* the same seeds, I/O free */
  expect_in(last, "\"steps_per_switch\":0.0,", "JSON");
  expect_in(last, "\"bars_met\":false", "JSON");
  expect_in(r.err, "steps/seed", "stderr"); /* --json: the table goes to stderr */
  assert_null(strstr(last, "b_broken"));
  outcome_free(&r);
}

/* --- replay --schedule @FILE -------------------------------------------------------- */

static void test_schedule_files(void **state) {
  (void)state;
  const char *a[] = {"agentsim", "run", "selftest:ordering", "--seed", "2", "--json"};
  cli_opts o = parse(ARGC(a), a);
  outcome r = call(cmd_run, &o);
  const char *last = capture_last_line(r.out);
  const char *sched = strstr(last, "\"schedule\":\"");
  assert_non_null(sched);
  sched += strlen("\"schedule\":\"");
  char schedule[4096], hash[64];
  size_t len = strcspn(sched, "\"");
  assert_true(len < sizeof schedule);
  memcpy(schedule, sched, len);
  schedule[len] = '\0';
  const char *h = strstr(last, "\"trace_hash\":\"");
  assert_non_null(h);
  h += strlen("\"trace_hash\":\"");
  len = strcspn(h, "\"");
  assert_true(len < sizeof hash);
  memcpy(hash, h, len);
  hash[len] = '\0';
  outcome_free(&r);

  char path[300], arg[310], text[4200];
  snprintf(path, sizeof path, "%s/sched.txt", scratch);
  snprintf(arg, sizeof arg, "@%s", path);
  /* The line as run prints it, with a CRLF and trailing spaces. */
  snprintf(text, sizeof text, "schedule: %s  \r\n\n", schedule);
  write_file(path, text);
  const char *b[] = {"agentsim", "replay", "selftest:ordering", "--schedule", arg, "--json"};
  o = parse(ARGC(b), b);
  r = call(cmd_replay, &o);
  last = capture_last_line(r.out);
  expect_in(last, "\"strategy\":\"replay\"", "JSON");
  expect_in(last, hash, "JSON (the same trace hash)");
  outcome_free(&r);

  /* The string alone. */
  write_file(path, schedule);
  r = call(cmd_replay, &o);
  expect_in(capture_last_line(r.out), hash, "JSON (the same trace hash)");
  outcome_free(&r);

  /* A schedule longer than the first buffer grows it (and then fails to
  ** decode, naming the problem, not the file). */
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  for (int i = 0; i < 3000; i++) assert_true(fputs("0123456789", f) >= 0);
  assert_int_equal(fclose(f), 0);
  r = call(cmd_replay, &o);
  assert_int_equal(r.ex, EXIT_USAGE);
  assert_null(strstr(r.err, "--schedule @"));
  outcome_free(&r);

  /* The same, when the buffer cannot grow: out of memory, not a cut
  ** schedule. */
  fw_inject(FW_REALLOC, ENOMEM, 1);
  r = call(cmd_replay, &o);
  fw_reset();
  assert_int_equal(r.ex, EXIT_USAGE);
  expect_in(r.err, ": out of memory", "stderr");
  outcome_free(&r);

  /* An empty file: an empty schedule, refused by the decoder. */
  write_file(path, "");
  r = call(cmd_replay, &o);
  assert_int_equal(r.ex, EXIT_USAGE);
  outcome_free(&r);

  /* The first buffer cannot be had. */
  fw_inject(FW_MALLOC, ENOMEM, 1);
  r = call(cmd_replay, &o);
  fw_reset();
  assert_int_equal(r.ex, EXIT_USAGE);
  expect_in(r.err, "--schedule @", "stderr");
  expect_in(r.err, ": out of memory", "stderr");
  outcome_free(&r);
  assert_int_equal(unlink(path), 0);

  /* A directory opens but cannot be read. */
  snprintf(arg, sizeof arg, "@%s", scratch);
  const char *c[] = {"agentsim", "replay", "selftest:ordering", "--schedule", arg};
  o = parse(ARGC(c), c);
  r = call(cmd_replay, &o);
  assert_int_equal(r.ex, EXIT_USAGE);
  expect_in(r.err, ": read error: ", "stderr");
  outcome_free(&r);
}

/* --- the catalog ------------------------------------------------------------------ */

static void test_catalog(void **state) {
  (void)state;
  write_file(good, GOOD_SCN);
  char err[512];
  cli_programs_free();
  /* The first allocation (the scenario) and the runner's fail. */
  fw_inject(FW_MALLOC, ENOMEM, 1);
  const sim_program *p = cli_find_program(good, err, sizeof err);
  fw_reset();
  assert_null(p);
  expect_in(err, "a_good.scn: out of memory", "err");
  /* Once SQLite is set up (by a first load), the next calloc is the
  ** runner's. */
  assert_non_null(cli_find_program(good, err, sizeof err));
  fw_inject(FW_CALLOC, ENOMEM, 1);
  p = cli_find_program(good, err, sizeof err);
  fw_reset();
  assert_null(p);
  expect_in(err, "a_good.scn: out of memory", "err");
  /* At most twice CLI_MAX_SCENARIOS scenario programs in one process. */
  unsigned n = 1;
  while ((p = cli_find_program(good, err, sizeof err)) != NULL) {
    assert_true(cli_program_is_scenario(p));
    n++;
    assert_true(n <= 2 * CLI_MAX_SCENARIOS);
  }
  assert_int_equal(n, 2 * CLI_MAX_SCENARIOS);
  expect_in(err, "a_good.scn: too many scenarios in one command", "err");
  cli_programs_free();
  p = cli_find_program(good, err, sizeof err);
  assert_non_null(p);
  assert_string_equal(p->name, "a_good");
  cli_programs_free();
}

/* --- JSON strings --------------------------------------------------------------- */

static void test_json_utf8(void **state) {
  (void)state;
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"\x80", "\"\xef\xbf\xbd\""},                         /* a lone continuation byte */
      {"\xc0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\""},              /* overlong NUL */
      {"\xc3", "\"\xef\xbf\xbd\""},                         /* cut short */
      {"\xc3(", "\"\xef\xbf\xbd(\""},                       /* not a continuation */
      {"\xe2\x82\xac", "\"\xe2\x82\xac\""},            /* the euro sign */
      {"\xe0\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},   /* overlong 3 bytes */
      {"\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},   /* a surrogate */
      {"\xed\x9f\xbf", "\"\xed\x9f\xbf\""},            /* the last before them */
      {"\xe0\xa0\x80", "\"\xe0\xa0\x80\""},            /* U+0800, the first of 3 bytes */
      {"\xed\x80\x80", "\"\xed\x80\x80\""},            /* U+D000 */
      {"\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""},    /* an emoji */
      {"\xf0\x80\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""}, /* overlong 4 bytes */
      {"\xf4\x90\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""}, /* past U+10FFFF */
      {"\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""},    /* U+10FFFF */
      {"\xf5\x80\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""}, /* no such lead byte */
      {"\xf8", "\"\xef\xbf\xbd\""},                         /* nor this */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_t *v = cli_jstr(cases[i].in);
    assert_non_null(v);
    char *buf = json_dumps(v, JSON_ENCODE_ANY);
    json_decref(v);
    assert_non_null(buf);
    if (strcmp(buf, cases[i].out) != 0) fail_msg("case %zu: got %s, want %s", i, buf, cases[i].out);
    free(buf);
  }
}

/* --- list, with a bundled scenario that does not parse ------------------------------- */

static int list_cmd(const cli_opts *o, const char *argv0) {
  (void)argv0;
  return cmd_list(o);
}

static void test_list_broken(void **state) {
  (void)state;
  write_file(good, GOOD_SCN);
  write_file(broken, "scenario b\nsessions 1\nactor a\n    start s=5\n");
  char cwd[1024];
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(scratch), 0);
  const char *a[] = {"agentsim", "list"};
  cli_opts o = parse(ARGC(a), a);
  outcome r = call(list_cmd, &o);
  assert_int_equal(chdir(cwd), 0);
  /* Bad input, named; the good one is still listed. */
  assert_int_equal(r.ex, EXIT_USAGE);
  expect_in(r.err, "agentsim: list: fixtures/scenarios/b_broken.scn:4:13: expected a session",
            "stderr");
  expect_in(r.out, "  fixtures/scenarios/a_good.scn\n", "stdout");
  assert_null(strstr(r.out, "b_broken"));
  outcome_free(&r);
  cli_programs_free();
}

/* --- replay commands that paste --------------------------------------------------- */

static void test_replay_quoting(void **state) {
  (void)state;
  char odd[300];
  snprintf(odd, sizeof odd, "%s/it's.scn", scratch);
  write_file(odd, GOOD_SCN);
  const char *a[] = {"agentsim", "run", odd, "--seed", "1", "--mutant", "finalize_no_lock",
                     "--max-cpu", "5"};
  cli_opts o = parse(ARGC(a), a);
  capture co, ce;
  capture_begin(&co, stdout);
  capture_begin(&ce, stderr);
  int ex = cmd_run(&o, ""); /* an empty argv0 is a word too: '' */
  outcome r = {ex, capture_end(&co), NULL};
  r.err = capture_end(&ce);
  cli_programs_free();
  assert_int_equal(as_mutant_set(NULL), AS_OK); /* run leaves it on: the process ends */
  assert_int_equal(unlink(odd), 0);
  assert_int_equal(r.ex, EXIT_FOUND);
  char want[400];
  snprintf(want, sizeof want, "replay: '' replay '%s/it'\\''s.scn' --seed 1 --strategy random "
           "--mutant finalize_no_lock --max-cpu 5\n", scratch);
  expect_in(r.out, want, "stdout");
  expect_in(r.out, "replay by schedule: '' replay '", "stdout");
  outcome_free(&r);
}

/* --- a sweep's names in its reports ---------------------------------------------- */

static void test_sweep_names(void **state) {
  (void)state;
  char odd[300], junit[300];
  /* Longer than the summary's name column, and with a control byte, which
  ** JUnit's XML cannot carry (a space there) and JSON escapes. */
  snprintf(odd, sizeof odd, "%s/././././././././././././././././././././././x\001y.scn", scratch);
  write_file(odd, GOOD_SCN);
  snprintf(junit, sizeof junit, "%s/j.xml", scratch);
  const char *a[] = {"agentsim", "sweep", odd, "--seeds", "2", "--jobs", "1",
                     "--junit", junit, "--json"};
  cli_opts o = parse(ARGC(a), a);
  outcome r = call(cmd_sweep, &o);
  cli_programs_free();
  assert_int_equal(unlink(odd), 0);
  if (r.ex != EXIT_PASS) fail_msg("sweep exited %d:\n%s", r.ex, r.err);
  /* The column is cut at 64 bytes: the figures follow the whole name. */
  char row[400];
  snprintf(row, sizeof row, "%s portfolio         2 seeds", odd);
  expect_in(r.err, row, "stderr");
  expect_in(capture_last_line(r.out), "x\\u0001y.scn\"", "JSON");
  FILE *f = fopen(junit, "r");
  assert_non_null(f);
  char xml[8192];
  size_t got = fread(xml, 1, sizeof xml - 1, f);
  xml[got] = '\0';
  assert_int_equal(fclose(f), 0);
  assert_int_equal(unlink(junit), 0);
  expect_in(xml, "/x y.scn\" tests=\"2\" failures=\"0\"", "JUnit");
  assert_null(strchr(xml, '\001'));
  outcome_free(&r);
}

/* --- bench when memory runs out --------------------------------------------------- */

static void test_bench_breaks(void **state) {
  (void)state;
  /* Without --json the table is stdout's; the first stack cannot be had. */
  const char *a[] = {"agentsim", "bench", "--quick"};
  cli_opts o = parse(ARGC(a), a);
  fw_inject(FW_MMAP, ENOMEM, 1);
  outcome r = call(bench_cmd, &o);
  fw_reset();
  assert_int_equal(r.ex, EXIT_INTERNAL);
  expect_in(r.err, "agentsim: bench: out of memory", "stderr");
  assert_string_equal(r.out, "");
  outcome_free(&r);
  /* The switch rates measured, the first self-test's sim cannot be made
  ** (every allocation fails from the first), then its first run cannot. */
  static const unsigned long nth[] = {1, 3};
  for (size_t k = 0; k < 2; k++) {
    size_t blocks = fw_live_blocks(), maps = fw_live_maps();
    capture co, ce;
    capture_begin(&co, stdout);
    capture_begin(&ce, stderr);
    fw_countdown(FW_ALLOC, nth[k], ENOMEM, 1);
    r.ex = cmd_bench(&o);
    fw_reset();
    r.err = capture_end(&ce);
    r.out = capture_end(&co);
    assert_int_equal(r.ex, EXIT_INTERNAL);
    expect_in(r.out, "context switch  fcontext ", "stdout");
    expect_in(r.err, "agentsim: bench: selftest:abba: out of memory", "stderr");
    outcome_free(&r);
    if (fw_live_blocks() != blocks || fw_live_maps() != maps)
      fail_msg("n=%lu: %zu blocks, %zu mappings leaked", nth[k], fw_live_blocks() - blocks,
               fw_live_maps() - maps);
  }
}

/* --- the lock_noop hunt on its own --------------------------------------------------- */

#include "bench_threads.h"

static void test_hunt(void **state) {
  (void)state;
  cli_programs_free(); /* SQLite not on the simulated disk: nothing to uninstall first */
  bench_hunt real, simh;
  assert_int_equal(bench_threads_vs_sim(NULL, 2, &real, &simh), AS_OK);
  assert_int_equal(real.runs, 2);
  assert_true(real.detections <= 2);
  assert_int_equal(simh.runs, 0); /* no scenario: no sim half */
  assert_null(as_mutant_active());
  /* A thread that cannot start: the hunt fails, the started ones joined. */
  for (unsigned long n = 1; n <= 4; n += 3) {
    fw_countdown(FW_BIT(PTHREAD_CREATE), n, EAGAIN, 0);
    int rc = bench_threads_vs_sim(NULL, 2, &real, &simh);
    int fired = fw_fired();
    fw_reset();
    assert_true(fired);
    assert_int_not_equal(rc, AS_OK);
    assert_int_equal(real.runs, 1);
    assert_null(as_mutant_active());
  }
  cli_programs_free();
}

int main(void) {
  (void)alarm(300); /* ignore: no earlier alarm; a hang dies of SIGALRM */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_mutants_named, reset_faults),
      cmocka_unit_test_teardown(test_mutants_refusals, reset_faults),
      cmocka_unit_test_teardown(test_mutants_sweep_breaks, reset_faults),
      cmocka_unit_test_teardown(test_bench_scenarios, reset_faults),
      cmocka_unit_test_teardown(test_schedule_files, reset_faults),
      cmocka_unit_test_teardown(test_catalog, reset_faults),
      cmocka_unit_test_teardown(test_json_utf8, reset_faults),
      cmocka_unit_test_teardown(test_list_broken, reset_faults),
      cmocka_unit_test_teardown(test_replay_quoting, reset_faults),
      cmocka_unit_test_teardown(test_sweep_names, reset_faults),
      cmocka_unit_test_teardown(test_bench_breaks, reset_faults),
      cmocka_unit_test_teardown(test_hunt, reset_faults),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

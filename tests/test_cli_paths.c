/*
** test_cli_paths.c -- the commands (sim/cli/cli.h) called directly, on the
** paths tests/cli_test.sh cannot reach from outside: a fork or an allocation
** that fails under them (faultwrap.h), selftest's table when programs do not
** behave as expected, and the JSON of every such ending. Options come from
** cli_parse, as the tool builds them.
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

#include <sqlite3.h>

#include "clitest.h"
#include "sweep.h"



static void expect_no_children(void) {
  errno = 0;
  assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
  assert_int_equal(errno, ECHILD);
}

static int list_cmd(const cli_opts *o, const char *argv0) {
  (void)argv0;
  return cmd_list(o);
}

/* --- selftest ---------------------------------------------------------------- */

static void test_selftest_unexpected(void **state) {
  (void)state;
  /* One seed finds no planted bug: every buggy row is unexpected, and the
  ** JSON rows say null for "first failing seed". */
  const char *a1[] = {"agentsim", "selftest", "--seeds", "1", "--jobs", "1", "--json"};
  cli_opts o = parse(ARGC(a1), a1);
  outcome r = call(cmd_selftest, &o);
  assert_int_equal(r.ex, EXIT_FOUND);
  expect_in(r.err, "UNEXPECTED selftest:", "stderr");
  expect_in(r.err, "its bug was not found by any strategy", "stderr");
  const char *last = capture_last_line(r.out);
  expect_in(last, "{\"command\":\"selftest\"", "JSON");
  expect_in(last, "\"result\":\"fail\"", "JSON");
  expect_in(last, "\"first_failing_seed\":null", "JSON");
  outcome_free(&r);

  /* A step budget nothing fits in: every program hangs, which no planted
  ** bug explains; the table lists the seeds with their replay commands. */
  const char *a2[] = {"agentsim", "selftest", "--seeds", "3", "--jobs", "1", "--max-steps", "3"};
  o = parse(ARGC(a2), a2);
  r = call(cmd_selftest, &o);
  assert_int_equal(r.ex, EXIT_FOUND);
  expect_in(r.out, "failed in a way its bug cannot explain", "stdout");
  expect_in(r.out, "(hang)", "stdout");
  expect_in(r.out, "replay: agentsim replay selftest:", "stdout");
  expect_in(r.out, "--max-steps 3", "stdout");
  outcome_free(&r);
}

static void test_selftest_sweep_breaks(void **state) {
  (void)state;
  const char *a[] = {"agentsim", "selftest", "--seeds", "4", "--jobs", "2"};
  cli_opts o = parse(ARGC(a), a);
  fw_countdown(FW_BIT(FORK), 1, EAGAIN, 0);
  outcome r = call(cmd_selftest, &o);
  fw_disarm();
  assert_int_equal(r.ex, EXIT_INTERNAL);
  expect_in(r.err, "fork: ", "stderr");
  outcome_free(&r);
  expect_no_children();
}

/* --- run and replay ------------------------------------------------------------ */

/* Fail every allocation and mapping of `run --check-determinism --json` in
** turn: each ends as "internal error" or with a report, never a crash or a
** leak; with nothing failing it is the run everyone else sees. */
static void test_run_countdown(void **state) {
  (void)state;
  const char *a[] = {"agentsim", "run", "selftest:abba", "--seed", "1",
                     "--check-determinism", "--json"};
  cli_opts o = parse(ARGC(a), a);
  outcome want = call(cmd_run, &o);
  assert_int_equal(want.ex, EXIT_FOUND);
  expect_in(want.err, "determinism: ok", "stderr");
  unsigned long n;
  unsigned internal = 0;
  for (n = 1;; n++) {
    size_t blocks = fw_live_blocks(), maps = fw_live_maps();
    capture co, ce;
    capture_begin(&co, stdout);
    capture_begin(&ce, stderr);
    fw_countdown(FW_ALLOC | FW_BIT(MMAP), n, ENOMEM, 0);
    int ex = cmd_run(&o, "agentsim");
    fw_disarm();
    outcome r = {ex, capture_end(&co), NULL};
    r.err = capture_end(&ce);
    int fired = fw_fired();
    fw_fn fn = fw_fired_fn();
    int same = strcmp(r.out, want.out) == 0;
    if (fired && ex != EXIT_INTERNAL && ex != EXIT_FOUND)
      fail_msg("n=%lu (%s): exit %d; stderr:\n%s", n, fw_fn_name(fn), ex, r.err);
    outcome_free(&r);
    if (fw_live_blocks() != blocks || fw_live_maps() != maps)
      fail_msg("n=%lu (%s): %zu blocks, %zu mappings leaked", n,
               fired ? fw_fn_name(fn) : "none", fw_live_blocks() - blocks,
               fw_live_maps() - maps);
    if (!fired) {
      assert_int_equal(ex, EXIT_FOUND);
      assert_true(same);
      break;
    }
    if (ex == EXIT_INTERNAL) internal++;
  }
  assert_true(internal > 0);
  assert_true(n > 10);
  outcome_free(&want);
}

/* s without what measures wall time: the "seconds" field and the line
** that ends with the shrink's duration (a copy, the caller frees). */
static char *timeless(const char *s) {
  char *o = strdup(s);
  assert_non_null(o);
  char *p;
  while ((p = strstr(o, "\"seconds\":")) != NULL) {
    char *e = p + strcspn(p, ",}");
    memmove(p, e, strlen(e) + 1);
  }
  while ((p = strstr(o, " steps, ")) != NULL) {
    char *e = strchr(p, '\n');
    if (!e) e = p + strlen(p);
    memmove(p, e, strlen(e) + 1);
  }
  return o;
}

/* shrink: every allocation failing in turn, on a self-test with a spurious
** wakeup (the wakeup pass too) and on one with a waiter choice: an internal
** error or the same report, no leak. */
static void countdown_shrink(const char **a, int argc) {
  cli_opts o = parse(argc, a);
  outcome want = call(cmd_shrink, &o);
  assert_int_equal(want.ex, EXIT_FOUND);
  if (!strstr(want.err, "minimal:")) expect_in(want.out, "minimal:", "stdout");
  unsigned long n;
  unsigned internal = 0;
  for (n = 1;; n++) {
    size_t blocks = fw_live_blocks(), maps = fw_live_maps();
    capture co, ce;
    capture_begin(&co, stdout);
    capture_begin(&ce, stderr);
    fw_countdown(FW_ALLOC | FW_BIT(MMAP), n, ENOMEM, 0);
    int ex = cmd_shrink(&o, "agentsim");
    fw_disarm();
    outcome r = {ex, capture_end(&co), NULL};
    r.err = capture_end(&ce);
    int fired = fw_fired();
    fw_fn fn = fw_fired_fn();
    if (fired && ex != EXIT_INTERNAL && ex != EXIT_FOUND)
      fail_msg("n=%lu (%s): exit %d; stderr:\n%s", n, fw_fn_name(fn), ex, r.err);
    char *x = timeless(r.out), *y = timeless(want.out);
    int same = strcmp(x, y) == 0;
    free(x);
    free(y);
    outcome_free(&r);
    if (fw_live_blocks() != blocks || fw_live_maps() != maps)
      fail_msg("n=%lu (%s): %zu blocks, %zu mappings leaked", n,
               fired ? fw_fn_name(fn) : "none", fw_live_blocks() - blocks,
               fw_live_maps() - maps);
    if (!fired) {
      assert_int_equal(ex, EXIT_FOUND);
      assert_true(same);
      break;
    }
    if (ex == EXIT_INTERNAL) internal++;
  }
  assert_true(internal > 0);
  outcome_free(&want);
}

static void test_shrink_countdown(void **state) {
  (void)state;
  const char *a[] = {"agentsim", "shrink", "selftest:cond_if", "--seed", "0",
                     "--spurious", "100000", "--json"};
  countdown_shrink(a, ARGC(a));
  const char *b[] = {"agentsim", "shrink", "selftest:signal_fifo", "--seed", "1"};
  countdown_shrink(b, ARGC(b));
}

static void test_replay_json(void **state) {
  (void)state;
  const char *a[] = {"agentsim", "run", "selftest:ordering", "--seed", "2",
                     "--strategy", "pct:d=1,k=40", "--json"};
  cli_opts o = parse(ARGC(a), a);
  outcome r = call(cmd_run, &o);
  const char *last = capture_last_line(r.out);
  expect_in(last, "\"strategy\":\"pct:d=1,k=40\"", "JSON");
  const char *sched = strstr(last, "\"schedule\":\"");
  assert_non_null(sched);
  sched += strlen("\"schedule\":\"");
  char schedule[4096];
  size_t len = strcspn(sched, "\"");
  assert_true(len < sizeof schedule);
  memcpy(schedule, sched, len);
  schedule[len] = '\0';
  outcome_free(&r);

  const char *b[] = {"agentsim", "replay", "selftest:ordering", "--schedule", schedule, "--json"};
  o = parse(ARGC(b), b);
  r = call(cmd_replay, &o);
  last = capture_last_line(r.out);
  expect_in(last, "\"seed\":null", "JSON");
  expect_in(last, "\"strategy\":\"replay\"", "JSON");
  outcome_free(&r);
}

/* --- sweep ------------------------------------------------------------------- */

static void test_sweep_refusals(void **state) {
  (void)state;
  char dir[] = "/tmp/agentsim-cli-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char missing[128], isdir[128], tmp[140];
  snprintf(missing, sizeof missing, "%s/no/such/dir/j.xml", dir);
  snprintf(isdir, sizeof isdir, "%s/taken", dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", isdir);
  assert_int_equal(mkdir(isdir, 0700), 0);

  const char *a1[] = {"agentsim", "sweep", "selftest:counter", "--seeds", "4", "--jobs", "1",
                      "--junit", missing};
  cli_opts o = parse(ARGC(a1), a1);
  outcome r = call(cmd_sweep, &o);
  assert_int_equal(r.ex, EXIT_USAGE);
  expect_in(r.err, "cannot write", "stderr");
  outcome_free(&r);

  /* The report cannot replace a directory: the run fails, and no .tmp stays. */
  const char *a2[] = {"agentsim", "sweep", "selftest:counter", "--seeds", "4", "--jobs", "1",
                      "--junit", isdir};
  o = parse(ARGC(a2), a2);
  r = call(cmd_sweep, &o);
  assert_int_equal(r.ex, EXIT_INTERNAL);
  expect_in(r.err, "write failed", "stderr");
  assert_int_equal(access(tmp, F_OK), -1);
  outcome_free(&r);
  assert_int_equal(rmdir(isdir), 0);
  assert_int_equal(rmdir(dir), 0);

  const char *a3[] = {"agentsim", "sweep", "selftest:counter", "--seeds", "2",
                      "--seed-start", "18446744073709551615"};
  o = parse(ARGC(a3), a3);
  r = call(cmd_sweep, &o);
  assert_int_equal(r.ex, EXIT_USAGE);
  expect_in(r.err, "overflows", "stderr");
  outcome_free(&r);

  const char *a4[] = {"agentsim", "sweep", "selftest:counter", "nosuch.scn", "--seeds", "2"};
  o = parse(ARGC(a4), a4);
  r = call(cmd_sweep, &o);
  assert_int_equal(r.ex, EXIT_USAGE);
  expect_in(r.err, "cannot open", "stderr");
  outcome_free(&r);

  const char *a5[] = {"agentsim", "sweep", "selftest:counter", "--seeds", "2", "--mutant", "x"};
  o = parse(ARGC(a5), a5);
  r = call(cmd_sweep, &o);
  assert_int_equal(r.ex, EXIT_USAGE);
  expect_in(r.err, "no mutant", "stderr");
  outcome_free(&r);
}

static void test_sweep_breaks_json(void **state) {
  (void)state;
  const char *a[] = {"agentsim", "sweep", "selftest:abba", "selftest:counter", "--seeds", "6",
                     "--jobs", "2", "--json"};
  cli_opts o = parse(ARGC(a), a);
  fw_countdown(FW_BIT(FORK), 2, EAGAIN, 0);
  outcome r = call(cmd_sweep, &o);
  fw_disarm();
  assert_int_equal(r.ex, EXIT_INTERNAL);
  expect_in(r.err, "fork: ", "stderr");
  expect_in(capture_last_line(r.out), "\"result\":\"error\"", "JSON");
  outcome_free(&r);
  expect_no_children();

  /* A worker that dies: the summary says the sweep is incomplete. */
  const char *k[] = {"agentsim", "sweep", "selftest:counter", "--seeds", "6", "--jobs", "2"};
  o = parse(ARGC(k), k);
  fw_child_action(FW_CHILD_KILL);
  r = call(cmd_sweep, &o);
  fw_reset();
  assert_int_equal(r.ex, EXIT_INTERNAL);
  expect_in(r.err, "died of signal 9", "stderr");
  expect_in(r.out, "sweep: INCOMPLETE (see the error above)", "stdout");
  outcome_free(&r);
  expect_no_children();

  /* Sharded, with a report: the JSON names the shard. */
  char path[] = "/tmp/agentsim-junit-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(close(fd), 0);
  const char *b[] = {"agentsim", "sweep", "selftest:abba", "--seeds", "9", "--jobs", "1",
                     "--shard", "2/3", "--junit", path, "--json", "--strategy", "random"};
  o = parse(ARGC(b), b);
  r = call(cmd_sweep, &o);
  assert_int_equal(r.ex, EXIT_FOUND);
  expect_in(capture_last_line(r.out), "\"shard\":\"2/3\"", "JSON");
  outcome_free(&r);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char xml[8192];
  size_t got = fread(xml, 1, sizeof xml - 1, f);
  xml[got] = '\0';
  assert_int_equal(fclose(f), 0);
  assert_int_equal(unlink(path), 0);
  expect_in(xml, "name=\"seed 1\"", "JUnit");
  expect_in(xml, "name=\"seed 7\"", "JUnit");
  assert_null(strstr(xml, "name=\"seed 0\""));
}

/* --- list and JSON strings ------------------------------------------------------ */

static void test_list_json(void **state) {
  (void)state;
  const char *a[] = {"agentsim", "list", "--json"};
  cli_opts o = parse(ARGC(a), a);
  outcome r = call(list_cmd, &o);
  assert_int_equal(r.ex, EXIT_PASS);
  const char *last = capture_last_line(r.out);
  expect_in(last, "{\"scenarios\":[{\"name\":\"selftest:", "JSON");
  expect_in(last, "\"kind\":\"selftest\"", "JSON");
  expect_in(last, "\"expect\":\"fail\"", "JSON");
  expect_in(last, "\"expect\":\"pass\"", "JSON");
  outcome_free(&r);
}

static void test_json_str(void **state) {
  (void)state;
  json_t *v = cli_jstr("q\"b\\n\nr\rt\tc\x01 caf\xc3\xa9 bad\xff end");
  assert_non_null(v);
  char *buf = json_dumps(v, JSON_ENCODE_ANY);
  json_decref(v);
  assert_non_null(buf);
  expect_in(buf, "q\\\"b\\\\n\\nr\\rt\\tc\\u0001 caf", "cli_jstr");
  expect_in(buf, " end\"", "cli_jstr");
  assert_int_equal(buf[0], '"');
  /* The invalid byte never reaches the output as is. */
  assert_null(strchr(buf, '\xff'));
  free(buf);
}

/* --- check app ---------------------------------------------------------------- */

static int check_cmd(const cli_opts *o, const char *argv0) {
  (void)argv0;
  return cmd_check(o);
}

/* check app under a failing allocation, for each one in turn: out of memory
** is exit 3 (never a pass, never "bad input"), still ends --json with an
** object, and leaks nothing; the good app and the broken one alike. */
static void test_check_countdown(void **state) {
  (void)state;
  const char *apps[] = {AS_SOURCE_DIR "/fixtures/apps/incident",
                        AS_SOURCE_DIR "/tests/data/apps/broken"};
  for (size_t k = 0; k < 2; k++) {
    const char *a[] = {"agentsim", "check", "app", apps[k], "--json"};
    cli_opts o = parse(ARGC(a), a);
    outcome want = call(check_cmd, &o);
    int want_ex = k == 0 ? EXIT_PASS : EXIT_USAGE;
    assert_int_equal(want.ex, want_ex);
    expect_in(want.out, k == 0 ? "\"ok\":true" : "\"ok\":false", "JSON");
    unsigned long n;
    for (n = 1;; n++) {
      size_t blocks = fw_live_blocks();
      capture co, ce;
      capture_begin(&co, stdout);
      capture_begin(&ce, stderr);
      fw_countdown(FW_ALLOC, n, ENOMEM, 0);
      int ex = cmd_check(&o);
      fw_disarm();
      outcome r = {ex, capture_end(&co), NULL};
      r.err = capture_end(&ce);
      int fired = fw_fired();
      if (fired && ex != EXIT_INTERNAL)
        fail_msg("%s n=%lu (%s): exit %d; stderr:\n%s", apps[k], n, fw_fn_name(fw_fired_fn()),
                 ex, r.err);
      int same = strcmp(r.out, want.out) == 0;
      if (fired && r.out[0]) expect_in(capture_last_line(r.out), "{", "JSON");
      outcome_free(&r);
      if (fw_live_blocks() != blocks) fail_msg("n=%lu: %zu blocks leaked", n, fw_live_blocks() - blocks);
      if (!fired) {
        assert_int_equal(ex, want_ex);
        assert_true(same);
        break;
      }
    }
    assert_true(n > 10);
    outcome_free(&want);
  }
}

/* list --json with each allocation failing in turn: out of memory is exit 3
** with the fixed error object as the last line, never a cut one. */
static void test_list_countdown(void **state) {
  (void)state;
  /* From a directory without fixtures/scenarios: the self-tests alone. */
  char cwd[1024];
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir("/"), 0);
  const char *a[] = {"agentsim", "list", "--json"};
  cli_opts o = parse(ARGC(a), a);
  outcome want = call(list_cmd, &o);
  assert_int_equal(want.ex, EXIT_PASS);
  unsigned long n;
  for (n = 1;; n++) {
    size_t blocks = fw_live_blocks();
    capture co, ce;
    capture_begin(&co, stdout);
    capture_begin(&ce, stderr);
    fw_countdown(FW_ALLOC, n, ENOMEM, 0);
    int ex = cmd_list(&o);
    fw_disarm();
    int fired = fw_fired();
    outcome r = {ex, capture_end(&co), NULL};
    r.err = capture_end(&ce);
    if (!fired) {
      assert_int_equal(ex, EXIT_PASS);
      assert_string_equal(r.out, want.out);
    } else {
      if (ex != EXIT_INTERNAL) fail_msg("n=%lu: exit %d", n, ex);
      assert_string_equal(capture_last_line(r.out),
                          "{\"result\":\"error\",\"exit\":3,\"error\":\"out of memory building the JSON\"}");
    }
    outcome_free(&r);
    if (fw_live_blocks() != blocks) fail_msg("n=%lu: %zu blocks leaked", n, fw_live_blocks() - blocks);
    if (!fired) break;
  }
  assert_true(n > 10);
  outcome_free(&want);
  assert_int_equal(chdir(cwd), 0);
}

/* More failing seeds than a sweep keeps the details of: JUnit still lists
** every one (the rest say to replay them, each with its bucket's signature
** as its type), the JSON the 1000 kept and the bucket's smallest, the text
** the first 5 and how many more. */
static void test_sweep_many_failures(void **state) {
  (void)state;
  char path[] = "/tmp/agentsim-junit-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(close(fd), 0);
  /* Three steps fit no program: every seed hangs. */
  const char *a[] = {"agentsim", "sweep", "selftest:counter", "--seeds", "1003", "--jobs", "2",
                     "--max-steps", "3", "--junit", path, "--json"};
  cli_opts o = parse(ARGC(a), a);
  outcome r = call(cmd_sweep, &o);
  assert_int_equal(r.ex, EXIT_FOUND);
  expect_in(r.err, "  ... and 998 more failing seeds\n", "stderr");
  const char *last = capture_last_line(r.out);
  expect_in(last, "\"runs\":1003,\"failed\":1003", "JSON");
  size_t nrep = 0;
  for (const char *q = last; (q = strstr(q, "\"replay\":")) != NULL; q++) nrep++;
  assert_int_equal(nrep, SWEEP_KEEP_FAILS + 1);
  expect_in(last, "\"buckets\":[{\"signature\":\"hang step-budget-of\",\"outcome\":\"hang\","
                  "\"count\":1003,\"smallest_seed\":0,", "JSON");
  outcome_free(&r);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  static char xml[1 << 20];
  size_t got = fread(xml, 1, sizeof xml - 1, f);
  xml[got] = '\0';
  assert_int_equal(fclose(f), 0);
  assert_int_equal(unlink(path), 0);
  expect_in(xml, "name=\"seed 999\">\n      <failure type=\"hang step-budget-of\" message=\"", "JUnit");
  expect_in(xml, "<property name=\"bucket 1\" value=\"1003 x hang step-budget-of; smallest seed 0: "
                 "agentsim replay selftest:counter --seed 0 ", "JUnit");
  expect_in(xml, "name=\"seed 1000\">\n      <failure type=\"hang step-budget-of\" message=\"details are kept "
                 "for the smallest failing seeds only: replay it\">replay: agentsim replay "
                 "selftest:counter --seed 1000 ", "JUnit");
  expect_in(xml, "name=\"seed 1002\">\n      <failure type=\"hang step-budget-of\"", "JUnit");
  expect_no_children();
}

/* --- budget and metrics ---------------------------------------------------------- */

static int budget_cmd(const cli_opts *o, const char *argv0) {
  (void)argv0;
  return cmd_budget(o);
}

static int metrics_cmd(const cli_opts *o, const char *argv0) {
  (void)argv0;
  return cmd_metrics(o);
}

/* budget and metrics, with --app, on an empty database, each allocation
** failing in turn: exit 3 (never bad usage, never a pass), nothing leaked;
** a directory for --db is no database. */
static void test_budget_metrics_countdown(void **state) {
  (void)state;
  cli_programs_free(); /* SQLite's own VFS, not the simulated disk */
  char db[] = "/tmp/agentsim-db-XXXXXX";
  int fd = mkstemp(db);
  assert_true(fd >= 0);
  assert_int_equal(close(fd), 0);
  const char *app = AS_SOURCE_DIR "/fixtures/apps/incident";
  const char *b[] = {"agentsim", "budget", "--db", db, "--app", app, "--json"};
  const char *m[] = {"agentsim", "metrics", "--db", db, "--app", app};
  cli_opts ob = parse(ARGC(b), b), om = parse(ARGC(m), m);
  command cmds[] = {budget_cmd, metrics_cmd};
  const cli_opts *opts[] = {&ob, &om};
  for (int k = 0; k < 2; k++) {
    outcome want = call(cmds[k], opts[k]);
    assert_int_equal(want.ex, EXIT_PASS);
    unsigned long n;
    unsigned internal = 0;
    for (n = 1;; n++) {
      size_t blocks = fw_live_blocks();
      capture co, ce;
      capture_begin(&co, stdout);
      capture_begin(&ce, stderr);
      fw_countdown(FW_ALLOC, n, ENOMEM, 0);
      int ex = cmds[k](opts[k], "agentsim");
      fw_disarm();
      int fired = fw_fired();
      outcome r = {ex, capture_end(&co), NULL};
      r.err = capture_end(&ce);
      if (fired && ex != EXIT_INTERNAL)
        fail_msg("%s n=%lu: exit %d:\n%s", opts[k]->cmd == CMD_BUDGET ? "budget" : "metrics", n,
                 ex, r.err);
      if (!fired) {
        assert_int_equal(ex, EXIT_PASS);
        assert_string_equal(r.out, want.out);
      }
      internal += ex == EXIT_INTERNAL;
      outcome_free(&r);
      if (fw_live_blocks() != blocks) fail_msg("n=%lu: %zu blocks leaked", n, fw_live_blocks() - blocks);
      if (!fired) break;
    }
    assert_true(internal > 3);
    outcome_free(&want);
  }
  assert_int_equal(unlink(db), 0);
  const char *d[] = {"agentsim", "budget", "--db", "/tmp"};
  cli_opts od = parse(ARGC(d), d);
  outcome r = call(budget_cmd, &od);
  assert_int_equal(r.ex, EXIT_USAGE);
  expect_in(r.err, "agentsim: budget: --db /tmp: no such database file", "stderr");
  outcome_free(&r);
}

/* A sweep's PCT calibration, before the workers fork, cannot make its sim. */
static void test_sweep_calibrate_nomem(void **state) {
  (void)state;
  const char *a[] = {"agentsim", "sweep", "selftest:abba", "--seeds", "4", "--jobs", "2",
                     "--strategy", "pct"};
  cli_opts o = parse(ARGC(a), a);
  capture co, ce;
  capture_begin(&co, stdout);
  capture_begin(&ce, stderr);
  fw_inject(FW_CALLOC, ENOMEM, 1);
  int ex = cmd_sweep(&o, "agentsim");
  fw_reset();
  outcome r = {ex, capture_end(&co), NULL};
  r.err = capture_end(&ce);
  assert_int_equal(r.ex, EXIT_INTERNAL);
  expect_in(r.err, "agentsim: sweep: selftest:abba: cannot make the sim: out of memory", "stderr");
  expect_in(r.out, "sweep: INCOMPLETE (see the error above): 0 runs before it", "stdout");
  outcome_free(&r);
  expect_no_children();
}

/* A database at the current schema version whose tables are not there:
** it opens, and is refused as not the runtime's (bad input, exit 2, the
** first missing table named). */
static void test_budget_tables_missing(void **state) {
  (void)state;
  cli_programs_free(); /* SQLite's own VFS, not the simulated disk */
  char db[] = "/tmp/agentsim-db-XXXXXX";
  int fd = mkstemp(db);
  assert_true(fd >= 0);
  assert_int_equal(close(fd), 0);
  sqlite3 *h = NULL;
  assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
  assert_int_equal(sqlite3_exec(h, "PRAGMA user_version = 3", NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_close(h), SQLITE_OK);
  const char *a[] = {"agentsim", "budget", "--db", db};
  cli_opts o = parse(ARGC(a), a);
  outcome r = call(budget_cmd, &o);
  assert_int_equal(unlink(db), 0);
  assert_int_equal(r.ex, EXIT_USAGE);
  char want[128];
  snprintf(want, sizeof want, "agentsim: budget: --db %s: not the runtime's database: it has no table sessions", db);
  expect_in(r.err, want, "stderr");
  assert_string_equal(r.out, "");
  outcome_free(&r);
}

/* --- JSON helpers ----------------------------------------------------------------- */

static void test_json_helpers(void **state) {
  (void)state;
  json_t *arr = json_array();
  assert_non_null(arr);
  /* A value that could not be made, or no array: 1, and v is released. */
  assert_int_equal(cli_jpush(arr, NULL), 1);
  assert_int_equal(cli_jpush(NULL, json_string("x")), 1);
  assert_int_equal(cli_jpush(arr, json_string("y")), 0);
  assert_int_equal(json_array_size(arr), 1);
  json_decref(arr);
  sim_result res;
  memset(&res, 0, sizeof res);
  res.outcome = SIM_HARNESS;
  assert_string_equal(cli_result_word(&res), "error");
  res.outcome = SIM_HANG;
  assert_string_equal(cli_result_word(&res), "fail");
  res.outcome = SIM_PASS;
  assert_string_equal(cli_result_word(&res), "pass");
}

int main(void) {
  (void)alarm(300); /* ignore: no earlier alarm; a hang dies of SIGALRM */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_selftest_unexpected, reset_faults),
      cmocka_unit_test_teardown(test_selftest_sweep_breaks, reset_faults),
      cmocka_unit_test_teardown(test_run_countdown, reset_faults),
      cmocka_unit_test_teardown(test_replay_json, reset_faults),
      cmocka_unit_test_teardown(test_shrink_countdown, reset_faults),
      cmocka_unit_test_teardown(test_sweep_refusals, reset_faults),
      cmocka_unit_test_teardown(test_sweep_breaks_json, reset_faults),
      cmocka_unit_test_teardown(test_list_json, reset_faults),
      cmocka_unit_test_teardown(test_json_str, reset_faults),
      cmocka_unit_test_teardown(test_check_countdown, reset_faults),
      cmocka_unit_test_teardown(test_list_countdown, reset_faults),
      cmocka_unit_test_teardown(test_sweep_many_failures, reset_faults),
      cmocka_unit_test_teardown(test_budget_metrics_countdown, reset_faults),
      cmocka_unit_test_teardown(test_sweep_calibrate_nomem, reset_faults),
      cmocka_unit_test_teardown(test_budget_tables_missing, reset_faults),
      cmocka_unit_test_teardown(test_json_helpers, reset_faults),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

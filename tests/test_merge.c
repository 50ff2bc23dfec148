/*
** test_merge.c -- failure buckets (buckets.h), --shard auto's engines
** (shard_env.h), the report's helpers (report.h) and merge (cmd_merge.c)
** on the paths tests/merge_test.sh cannot reach from outside: allocations
** and reads that fail under them (faultwrap.h), and the overflow bucket.
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
#include <unistd.h>

#include "buckets.h"
#include "clitest.h"
#include "report.h"
#include "shard_env.h"
#include "signature.h"

/* --- buckets ------------------------------------------------------------------ */

static void test_buckets_order_and_overflow(void **state) {
  (void)state;
  bkt_table t;
  memset(&t, 0, sizeof t);
  uint32_t idx, remap[BKT_MAX + 1];
  char sig[32];
  /* Signature k fails k % 3 + 1 times, its smallest seed 1000 - k. */
  for (unsigned k = 0; k < BKT_MAX + 10; k++) {
    snprintf(sig, sizeof sig, "invariant c%u", k);
    for (unsigned r = 0; r <= k % 3; r++) {
      assert_int_equal(bkt_add(&t, sig, SIM_INVARIANT, 1000 - k + r * 5000, 1, &idx), AS_OK);
      assert_int_equal(idx, k < BKT_MAX ? k : BKT_OTHER);
    }
  }
  assert_int_equal(t.n, BKT_MAX);
  assert_int_equal(bkt_count(&t), BKT_MAX + 1);
  const bkt *o = bkt_at(&t, BKT_OTHER);
  assert_string_equal(o->sig, BKT_OTHER_TEXT);
  assert_int_equal(o->outcome, -1);
  assert_int_equal(o->smallest, 1000 - (BKT_MAX + 9));
  /* The same text with another outcome is another bucket (here: overflow). */
  assert_int_equal(bkt_add(&t, "invariant c0", SIM_HANG, 1, 1, &idx), AS_OK);
  assert_int_equal(idx, BKT_OTHER);
  bkt_sort(&t, remap);
  assert_int_equal(remap[BKT_OTHER], BKT_OTHER);
  for (unsigned i = 1; i < t.n; i++) {
    const bkt *a = bkt_at(&t, i - 1), *b = bkt_at(&t, i);
    assert_true(a->count > b->count || (a->count == b->count && a->smallest < b->smallest));
  }
  assert_int_equal(bkt_at(&t, 0)->count, 3);
  assert_string_equal(bkt_at(&t, remap[2])->sig, "invariant c2");
  bkt_clear(&t);
  assert_int_equal(bkt_count(&t), 0);
}

static void test_buckets_nomem(void **state) {
  (void)state;
  bkt_table t;
  memset(&t, 0, sizeof t);
  uint32_t idx;
  fw_countdown(FW_ALLOC, 1, ENOMEM, 0);
  assert_int_equal(bkt_add(&t, "deadlock deadlock", SIM_DEADLOCK, 3, 1, &idx), AS_NOMEM);
  fw_disarm();
  assert_int_equal(t.n, 0);
  char sig[32];
  for (unsigned k = 0; k < 8; k++) {
    snprintf(sig, sizeof sig, "hang h%u", k);
    assert_int_equal(bkt_add(&t, sig, SIM_HANG, k, 2, &idx), AS_OK);
  }
  fw_countdown(FW_ALLOC, 1, ENOMEM, 0); /* the ninth needs more room */
  assert_int_equal(bkt_add(&t, "hang h8", SIM_HANG, 9, 1, &idx), AS_NOMEM);
  fw_disarm();
  assert_int_equal(t.n, 8);
  assert_int_equal(bkt_at(&t, 7)->count, 2);
  bkt_clear(&t);
}

/* Every failure of a sweep is in one bucket, whatever --jobs. */
static void test_sweep_buckets_jobs(void **state) {
  (void)state;
  const char *a[] = {"agentsim", "sweep", "selftest:abba", "selftest:ordering", "--seeds", "80",
                     "--jobs", "1", "--json"};
  cli_opts o = parse(ARGC(a), a);
  outcome one = call(cmd_sweep, &o);
  assert_int_equal(one.ex, EXIT_FOUND);
  const char *b[] = {"agentsim", "sweep", "selftest:abba", "selftest:ordering", "--seeds", "80",
                     "--jobs", "3", "--json"};
  o = parse(ARGC(b), b);
  outcome three = call(cmd_sweep, &o);
  assert_int_equal(three.ex, EXIT_FOUND);
  json_error_t je;
  json_t *x = json_loads(capture_last_line(one.out), 0, &je),
         *y = json_loads(capture_last_line(three.out), 0, &je);
  assert_non_null(x);
  assert_non_null(y);
  for (size_t k = 0; k < 2; k++) {
    json_t *sx = json_array_get(json_object_get(x, "scenarios"), k),
           *sy = json_array_get(json_object_get(y, "scenarios"), k);
    assert_true(json_equal(json_object_get(sx, "buckets"), json_object_get(sy, "buckets")));
    assert_true(json_equal(json_object_get(sx, "failures"), json_object_get(sy, "failures")));
    assert_true(json_equal(json_object_get(sx, "digest"), json_object_get(sy, "digest")));
    assert_true(json_array_size(json_object_get(sx, "buckets")) >= 1);
  }
  json_decref(x);
  json_decref(y);
  expect_in(one.err, "  buckets: ", "stderr");
  outcome_free(&one);
  outcome_free(&three);
}

/* --- signatures, as buckets key them ---------------------------------------------- */

static void sig_is(int oc, const char *msg, const char *want) {
  cli_sig sig;
  char text[BKT_TEXT_MAX];
  cli_signature(oc, msg, &sig);
  cli_sig_text(&sig, text, sizeof text);
  if (strcmp(text, want) != 0) fail_msg("'%s' -> '%s', want '%s'", msg ? msg : "(null)", text, want);
}

static void test_signatures(void **state) {
  (void)state;
  sig_is(SIM_INVARIANT, "lock-exclusive: two holders [step 9, task 2 'a', in finalize s1 (line 12)]",
         "invariant lock-exclusive in finalize (line 12)");
  sig_is(SIM_INVARIANT, "at quiescence: no-in-progress: s2 is in_progress [step 3]",
         "invariant no-in-progress at quiescence");
  sig_is(SIM_INVARIANT, "at quiescence: version-step: x [step 3, task 1 'r', in save s0]",
         "invariant version-step at save");
  sig_is(SIM_INVARIANT, "Runner Could Not  - start 3 sessions", "invariant runner-could-not");
  sig_is(SIM_HARNESS, "the oracle could not read [step 1, task 1 'r', in check s0 (line 4)]\nmore",
         "harness error the-oracle-could in check (line 4)");
  sig_is(SIM_INVARIANT, "x: y [in op (line 1)", "invariant x");
  sig_is(SIM_INVARIANT, "x: y, in op (line 1", "invariant x in op (line 1)");
  sig_is(SIM_INVARIANT, "x: y, in op (line 99999999999)", "invariant x in op (line 999999999)");
  sig_is(SIM_INVARIANT, "x: y, in op\n(line 4)", "invariant x at op");
  sig_is(SIM_HANG, "step budget of 10 exceeded", "hang step-budget-of");
  sig_is(SIM_HANG, "  --Budget-- ", "hang budget");
  sig_is(SIM_DEADLOCK, NULL, "deadlock deadlock");
  sig_is(SIM_CRASH, "7 signals", "crash crash");
  sig_is(SIM_HANG, "abc{x", "hang abc");
  sig_is(SIM_HANG, "a - -b c d", "hang a-b-c");
  sig_is(SIM_INVARIANT, "x: y, in op (line 4x)", "invariant x in op (line 4)");
  sig_is(SIM_INVARIANT, "x:y in z", "invariant x");
  char longname[200];
  memset(longname, 'a', sizeof longname - 4);
  memcpy(longname + sizeof longname - 4, ": x", 4);
  cli_sig sig;
  cli_signature(SIM_INVARIANT, longname, &sig);
  assert_int_equal(strlen(sig.check), CLI_SIG_PART - 1);
  cli_sig a, b;
  cli_signature(SIM_INVARIANT, "c: x [step 1, in op s0 (line 2)]", &a);
  cli_signature(SIM_INVARIANT, "c: y [step 7, in op s3 (line 2)]", &b);
  assert_true(cli_sig_equal(&a, &b));
  b.line = 3;
  assert_false(cli_sig_equal(&a, &b));
  assert_true(cli_sig_same_failure(&a, &b));
  memcpy(b.op, "other", 6);
  assert_false(cli_sig_equal(&a, &b));
  cli_signature(SIM_INVARIANT, "d: y", &b);
  assert_false(cli_sig_same_failure(&a, &b));
  assert_false(cli_sig_equal(&a, &b));
  cli_signature(SIM_HANG, "c: x", &b);
  assert_false(cli_sig_same_failure(&a, &b));
}

/* --- --shard auto ------------------------------------------------------------- */

static const char *const *fake_env;

static const char *fake_get(const char *name) {
  size_t n = strlen(name);
  for (const char *const *e = fake_env; *e; e++)
    if (!strncmp(*e, name, n) && (*e)[n] == '=') return *e + n + 1;
  return NULL;
}

static int shard_with(const char *const *env, unsigned *i, unsigned *n, char *src, char *err) {
  fake_env = env;
  return cli_shard_auto(fake_get, i, n, src, 160, err, 768);
}

static void test_shard_engines(void **state) {
  (void)state;
  unsigned i = 0, n = 0;
  char src[160], err[768];
  const char *gl[] = {"CI_NODE_INDEX=3", "CI_NODE_TOTAL=8", NULL};
  assert_int_equal(shard_with(gl, &i, &n, src, err), AS_OK);
  assert_int_equal(i, 3);
  assert_int_equal(n, 8);
  assert_string_equal(src, "GitLab CI (CI_NODE_INDEX, CI_NODE_TOTAL)");
  const char *gl1[] = {"CI_NODE_TOTAL=1", NULL}; /* a GitLab job without parallel: */
  assert_int_equal(shard_with(gl1, &i, &n, src, err), AS_NOTFOUND);
  expect_in(err, "no shard in the environment", "error");
  const char *k8s[] = {"JOB_COMPLETION_INDEX=0", "AGENTSIM_SHARD_TOTAL=5", NULL};
  assert_int_equal(shard_with(k8s, &i, &n, src, err), AS_OK);
  assert_int_equal(i, 1);
  assert_int_equal(n, 5);
  const char *k8s_far[] = {"JOB_COMPLETION_INDEX=18446744073709551615", "AGENTSIM_SHARD_TOTAL=5", NULL};
  assert_int_equal(shard_with(k8s_far, &i, &n, src, err), AS_INVAL);
  expect_in(err, "gives shard 0 of 5", "error");
  const char *big[] = {"AGENTSIM_SHARD_INDEX=1", "AGENTSIM_SHARD_TOTAL=1000001", NULL};
  assert_int_equal(shard_with(big, &i, &n, src, err), AS_INVAL);
  expect_in(err, "total <= 1000000", "error");
  const char *slurm[] = {"SLURM_ARRAY_TASK_ID=12", "SLURM_ARRAY_TASK_MIN=10",
                         "SLURM_ARRAY_TASK_COUNT=4", NULL};
  assert_int_equal(shard_with(slurm, &i, &n, src, err), AS_OK);
  assert_int_equal(i, 3);
  assert_int_equal(n, 4);
  const char *slurm_bad[] = {"SLURM_ARRAY_TASK_ID=x", NULL};
  assert_int_equal(shard_with(slurm_bad, &i, &n, src, err), AS_INVAL);
  const char *slurm_min[] = {"SLURM_ARRAY_TASK_ID=1", "SLURM_ARRAY_TASK_MIN=y", NULL};
  assert_int_equal(shard_with(slurm_min, &i, &n, src, err), AS_INVAL);
  expect_in(err, "SLURM_ARRAY_TASK_MIN='y'", "error");
  const char *k8s_bad[] = {"JOB_COMPLETION_INDEX=-1", NULL};
  assert_int_equal(shard_with(k8s_bad, &i, &n, src, err), AS_INVAL);
  const char *gh_bad[] = {"AGENTSIM_SHARD_INDEX=1e3", NULL};
  assert_int_equal(shard_with(gh_bad, &i, &n, src, err), AS_INVAL);
  const char *gh_off[] = {"GITHUB_ACTIONS=false", "AGENTSIM_SHARD_INDEX=2", "AGENTSIM_SHARD_TOTAL=2", NULL};
  assert_int_equal(shard_with(gh_off, &i, &n, src, err), AS_OK);
  expect_in(src, "the job's environment", "source");
  /* Three engines: the third disagrees in the total alone. */
  const char *three[] = {"CI_NODE_INDEX=1", "CI_NODE_TOTAL=2", "AGENTSIM_SHARD_INDEX=1",
                         "AGENTSIM_SHARD_TOTAL=2", "SLURM_ARRAY_TASK_ID=0",
                         "SLURM_ARRAY_TASK_MIN=0", "SLURM_ARRAY_TASK_COUNT=3", NULL};
  assert_int_equal(shard_with(three, &i, &n, src, err), AS_INVAL);
  expect_in(err, "says shard 1/2 but a Slurm job array", "error");
}

/* --- the report's helpers --------------------------------------------------- */

static void test_hash_file(void **state) {
  (void)state;
  char path[] = "/tmp/agentsim-hash-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "a", 1), 1);
  assert_int_equal(close(fd), 0);
  uint64_t h = 0;
  assert_int_equal(cli_hash_file(path, &h), AS_OK);
  assert_int_equal(h, 0xaf63dc4c8601ec8cull); /* FNV-1a 64 of "a" */
  assert_int_equal(cli_hash_text("a"), h);
  fw_inject(FW_READ, EINTR, 1);
  assert_int_equal(cli_hash_file(path, &h), AS_OK);
  assert_int_equal(h, 0xaf63dc4c8601ec8cull);
  fw_inject(FW_READ, EIO, 1);
  assert_int_equal(cli_hash_file(path, &h), AS_IO);
  fw_reset();
  assert_int_equal(unlink(path), 0);
  char id[64];
  assert_int_equal(cli_build_id(path, id, sizeof id), AS_IO);
  assert_int_equal(cli_build_id("/proc/self/exe", id, sizeof id), AS_OK);
  assert_int_equal(strncmp(id, CLI_VERSION "+", sizeof CLI_VERSION), 0);
  assert_int_equal(strlen(id), sizeof CLI_VERSION + 16);
}

/* The build id and the fingerprint cannot be read: exit 3 and 2, said. */
static void test_sweep_unreadable(void **state) {
  (void)state;
  const char *a[] = {"agentsim", "sweep", "selftest:counter", "--seeds", "2", "--jobs", "1", "--json"};
  cli_opts o = parse(ARGC(a), a);
  fw_inject(FW_READ, EIO, 1);
  outcome r = call(cmd_sweep, &o);
  fw_reset();
  assert_int_equal(r.ex, EXIT_INTERNAL);
  expect_in(r.err, "cannot read its own executable (/proc/self/exe) for the build id", "stderr");
  outcome_free(&r);
  const char *b[] = {"agentsim", "sweep", AS_SOURCE_DIR "/fixtures/scenarios/finalize_vs_escalate.scn",
                     "--seeds", "2", "--jobs", "1", "--json"};
  o = parse(ARGC(b), b);
  fw_inject(FW_READ, EIO, 1);
  r = call(cmd_sweep, &o);
  fw_reset();
  assert_int_equal(r.ex, EXIT_USAGE);
  expect_in(r.err, "cannot read it again for its fingerprint", "stderr");
  outcome_free(&r);
}

/* JUnit's text: markup and control bytes escaped; a fail without kept details. */
static void test_junit_text(void **state) {
  (void)state;
  char path[] = "/tmp/agentsim-junit-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(close(fd), 0);
  sweep_stats st;
  memset(&st, 0, sizeof st);
  st.runs = 3;
  st.failed = 2;
  assert_int_equal(sweep_add_fail_seed(&st, 11, "invariant a<b", SIM_INVARIANT), AS_OK);
  assert_int_equal(sweep_add_fail_seed(&st, 12, "", -1), AS_OK);
  sweep_fail f = {.seed = 11, .outcome = SIM_INVARIANT};
  snprintf(f.msg, sizeof f.msg, "%s", "x<y & \"z\"\x01\ttab");
  assert_int_equal(sweep_keep_fail(&st, &f), AS_OK);
  sweep_finish(&st);
  rpt_scn r;
  memset(&r, 0, sizeof r);
  r.scenario = "s&<\">";
  r.name = "s";
  r.start = 10;
  r.count = 3;
  r.replay_prefix = rpt_strdup("agentsim replay s --seed ");
  r.replay_suffix = rpt_strdup("");
  r.st = &st;
  assert_int_equal(rpt_junit(path, "test", &r, 1), EXIT_PASS);
  FILE *in = fopen(path, "r");
  assert_non_null(in);
  static char xml[8192];
  xml[fread(xml, 1, sizeof xml - 1, in)] = '\0';
  assert_int_equal(fclose(in), 0);
  expect_in(xml, "<testsuite name=\"s&amp;&lt;&quot;&gt;\" tests=\"3\" failures=\"2\"", "JUnit");
  expect_in(xml, "<failure type=\"invariant a&lt;b\" message=\"x&lt;y &amp; &quot;z&quot; \ttab\">"
                 "replay: agentsim replay s --seed 11</failure>", "JUnit");
  expect_in(xml, "<failure type=\"" BKT_OTHER_TEXT "\" message=\"details are kept", "JUnit");
  expect_in(xml, "name=\"seed 10\"/>", "JUnit");
  expect_in(xml, "<property name=\"bucket 2\" value=\"1 x " BKT_OTHER_TEXT "; smallest seed 12: ", "JUnit");
  json_t *j = rpt_json(&r);
  assert_non_null(j);
  json_t *b = json_array_get(json_object_get(j, "buckets"), 1);
  assert_true(json_is_true(json_object_get(b, "overflow")));
  assert_true(json_is_null(json_object_get(b, "outcome")));
  json_decref(j);
  rpt_free(&r);
  sweep_stats_clear(&st);
  assert_int_equal(unlink(path), 0);
}

/* --- merge under failing allocations --------------------------------------------- */

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fputs(text, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);
}

/* Allocations failing in turn under merge, or the first `upto` under sweep
** (its replay command's; later ones are the programs', which a self-test
** reports as its own failure): exit 3 (never a pass, never bad input),
** nothing leaked; once none fails, the same result. */
static void countdown(const char **argv, int argc, command cmd, int want_ex, unsigned long upto) {
  cli_opts o = parse(argc, argv);
  outcome want = call(cmd, &o);
  if (want.ex != want_ex) fail_msg("exit %d, want %d; stderr:\n%s", want.ex, want_ex, want.err);
  unsigned long n;
  for (n = 1;; n++) {
    size_t blocks = fw_live_blocks();
    capture co, ce;
    capture_begin(&co, stdout);
    capture_begin(&ce, stderr);
    fw_countdown(FW_ALLOC, n, ENOMEM, 0);
    int ex = cmd(&o, "agentsim");
    fw_disarm();
    outcome r = {ex, capture_end(&co), NULL};
    r.err = capture_end(&ce);
    int fired = fw_fired();
    if (fired && ex != EXIT_INTERNAL)
      fail_msg("%s n=%lu (%s): exit %d; stderr:\n%s", argv[1], n, fw_fn_name(fw_fired_fn()), ex, r.err);
    outcome_free(&r);
    if (fw_live_blocks() != blocks) fail_msg("n=%lu: %zu blocks leaked", n, fw_live_blocks() - blocks);
    if (!fired) {
      assert_int_equal(ex, want_ex);
      break;
    }
    if (n == upto) break;
  }
  assert_true(n > 3);
  outcome_free(&want);
}

static int merge_cmd(const cli_opts *o, const char *argv0) {
  (void)argv0;
  return cmd_merge(o);
}

static void test_merge_countdown(void **state) {
  (void)state;
  char dir[] = "/tmp/agentsim-merge-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char files[3][96], junit[96];
  for (int i = 0; i < 3; i++) {
    char shard[8];
    snprintf(shard, sizeof shard, "%d/3", i + 1);
    snprintf(files[i], sizeof files[i], "%s/s%d.json", dir, i + 1);
    const char *a[] = {"agentsim", "sweep", "selftest:abba", "selftest:counter", "--seeds", "90",
                       "--jobs", "1", "--shard", shard, "--json"};
    cli_opts o = parse(ARGC(a), a);
    outcome r = call(cmd_sweep, &o);
    assert_int_equal(r.ex, EXIT_FOUND);
    write_file(files[i], capture_last_line(r.out));
    outcome_free(&r);
  }
  snprintf(junit, sizeof junit, "%s/m.xml", dir);
  const char *m[] = {"agentsim", "merge", files[2], "--junit", junit, files[0], files[1], "--json"};
  countdown(m, ARGC(m), merge_cmd, EXIT_FOUND, 0);
  const char *s[] = {"agentsim", "sweep", "selftest:abba", "--seeds", "20", "--jobs", "1",
                     "--junit", junit, "--json"};
  countdown(s, ARGC(s), cmd_sweep, EXIT_FOUND, 4);
  for (int i = 0; i < 3; i++) assert_int_equal(unlink(files[i]), 0);
  assert_int_equal(unlink(junit), 0);
  assert_int_equal(rmdir(dir), 0);
}

/* The merge's argv: files gathered at the front, options kept. */
static void test_merge_args(void **state) {
  (void)state;
  const char *a[] = {"agentsim", "merge", "a.json", "--junit", "j.xml", "b.json", "--json", "c.json"};
  cli_opts o = parse(ARGC(a), a);
  assert_int_equal(o.nfiles, 3);
  assert_string_equal(o.files[0], "a.json");
  assert_string_equal(o.files[1], "b.json");
  assert_string_equal(o.files[2], "c.json");
  assert_string_equal(o.junit, "j.xml");
  assert_true(o.json);
  char err[256];
  cli_opts p;
  const char *b[] = {"agentsim", "merge", "--junit", "j.xml"};
  assert_int_equal(cli_parse(ARGC(b), (char **)b, &p, err, sizeof err), AS_INVAL);
  expect_in(err, "merge: expected RESULT.json files", "error");
  const char *c[] = {"agentsim", "merge", "a.json", "--seeds", "3"};
  assert_int_equal(cli_parse(ARGC(c), (char **)c, &p, err, sizeof err), AS_INVAL);
  expect_in(err, "merge does not take --seeds", "error");
  const char *d[] = {"agentsim", "sweep", "selftest:abba", "--seeds", "3", "--shard", "2/3",
                     "--shard", "auto"};
  assert_int_equal(cli_parse(ARGC(d), (char **)d, &p, err, sizeof err), AS_OK);
  assert_true(p.shard_auto);
  assert_int_equal(p.shard_n, 0);
  static char *many[CLI_MAX_MERGE_FILES + 3];
  many[0] = "agentsim";
  many[1] = "merge";
  for (int i = 2; i < CLI_MAX_MERGE_FILES + 3; i++) many[i] = "x.json";
  assert_int_equal(cli_parse(CLI_MAX_MERGE_FILES + 3, many, &p, err, sizeof err), AS_INVAL);
  expect_in(err, "merge: too many files (at most 4096)", "error");
}

int main(void) {
  (void)alarm(300); /* ignore: no earlier alarm; a hang dies of SIGALRM */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_buckets_order_and_overflow),
      cmocka_unit_test_teardown(test_buckets_nomem, reset_faults),
      cmocka_unit_test(test_sweep_buckets_jobs),
      cmocka_unit_test(test_signatures),
      cmocka_unit_test(test_shard_engines),
      cmocka_unit_test_teardown(test_hash_file, reset_faults),
      cmocka_unit_test_teardown(test_sweep_unreadable, reset_faults),
      cmocka_unit_test(test_junit_text),
      cmocka_unit_test_teardown(test_merge_countdown, reset_faults),
      cmocka_unit_test(test_merge_args),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

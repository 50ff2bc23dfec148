/*
** test_scenario_run.c -- scenario programs (sim/scenario/runner.h) run in
** this process: every operation kind and journal mode passes on the correct
** runtime, under I/O faults and crashes; every mutant of the runtime core is
** caught by the oracle invariant written for it, with its message; a run
** whose sessions cannot be made fails naming the session; and the runner's
** own allocations (scn_runner_new, setup, the oracle's version lists) and
** SQLite's fail in turn without a crash or a leak.
**
** Linked with --wrap (faultwrap.h) for the allocation countdowns.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentsim/mutant.h"
#include "faultwrap.h"
#include "oracle/oracle.h"
#include "scenario/runner.h"
#include "scenario/scenario.h"
#include "simdb.h"

static sim *S;
static scenario *SC;

/* A countdown run_once arms around sim_run alone (n 0: none), and whether
** it fired. */
static struct {
  uint64_t mask;
  unsigned long n;
  int fired;
} arm;

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
  S = NULL;
  scn_clear(SC);
  free(SC);
  return simdb_uninstall() == AS_OK ? 0 : -1;
}

static int reset(void **state) {
  (void)state;
  fw_reset();
  arm.n = 0;
  simdb_malloc_fail_after(0, false);
  assert_int_equal(as_mutant_set(NULL), AS_OK);
  return 0;
}

static void parse_text(const char *text) {
  char err[256];
  scn_clear(SC);
  if (scn_parse("t.scn", text, strlen(text), SC, err, sizeof err) != AS_OK) fail_msg("%s", err);
}

static void load_bundled(const char *name) {
  char path[512], err[512];
  scn_clear(SC);
  snprintf(path, sizeof path, "%s/fixtures/scenarios/%s.scn", AS_SOURCE_DIR, name);
  if (scn_load(path, SC, err, sizeof err) != AS_OK) fail_msg("%s", err);
}

/* Run SC once; sim_run's status (the run took place: AS_OK). */
static int run_once(uint64_t seed, sim_strategy_kind strat, sim_result *res) {
  scn_runner *r = NULL;
  assert_int_equal(scn_runner_new(&r, SC, NULL, 0), AS_OK);
  assert_string_equal(scn_runner_scenario(r)->name, SC->name);
  assert_string_equal(scn_runner_program(r)->name, SC->name);
  sim_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.seed = seed;
  cfg.strategy = strat;
  cfg.max_steps = SC->max_steps;
  cfg.max_virtual_ns = SC->max_virtual_ns;
  if (arm.n) fw_countdown(arm.mask, arm.n, ENOMEM, 0);
  int rc = sim_run(S, scn_runner_program(r), &cfg, res);
  if (arm.n) {
    arm.fired = fw_fired();
    fw_disarm();
  }
  scn_runner_free(r);
  return rc;
}

/* Seeds [1, n] of SC pass under random walk, PCT and POS. */
static void expect_pass(uint64_t n) {
  static const sim_strategy_kind kinds[] = {SIM_STRATEGY_RANDOM, SIM_STRATEGY_PCT,
                                            SIM_STRATEGY_POS};
  static const char *const names[] = {"random", "pct", "pos"};
  for (uint64_t seed = 1; seed <= n; seed++) {
    for (int k = 0; k < 3; k++) {
      sim_result res;
      int rc = run_once(seed, kinds[k], &res);
      if (rc != AS_OK) fail_msg("%s seed %" PRIu64 ": %s", SC->name, seed, as_status_name(rc));
      if (res.outcome != SIM_PASS)
        fail_msg("%s seed %" PRIu64 " (%s): %s: %s", SC->name, seed, names[k],
                 sim_outcome_name(res.outcome), res.message);
      assert_true(res.steps > 0);
      sim_result_clear(&res);
    }
  }
}

/* Run SC once with every event printed into *trace (the caller frees it). */
static void run_traced(uint64_t seed, sim_result *res, char **trace) {
  size_t len = 0;
  FILE *f = open_memstream(trace, &len);
  assert_non_null(f);
  scn_runner *r = NULL;
  assert_int_equal(scn_runner_new(&r, SC, NULL, 0), AS_OK);
  sim_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.seed = seed;
  cfg.max_steps = SC->max_steps;
  cfg.trace = f;
  assert_int_equal(sim_run(S, scn_runner_program(r), &cfg, res), AS_OK);
  scn_runner_free(r);
  assert_int_equal(fclose(f), 0);
}

/* How many lines of a trace contain needle. */
static unsigned count_lines(const char *trace, const char *needle) {
  unsigned n = 0;
  for (const char *p = trace; (p = strstr(p, needle)) != NULL; p++) n++;
  return n;
}

/* The value of option name in a run's options ("" when absent). */
static void option_of(const sim_result *res, const char *name, char *out, size_t cap) {
  char key[64];
  snprintf(key, sizeof key, " %s=", name);
  const char *p = strstr(res->options, key);
  out[0] = '\0';
  if (!p) return;
  p += strlen(key);
  size_t n = strcspn(p, " ");
  snprintf(out, cap, "%.*s", (int)(n < cap - 1 ? n : cap - 1), p);
}

/* --- swarm and generated actors --------------------------------------------------- */

/* A generated actor runs exactly `draws` operations per task, in the
** proportions of its weights; a seed's swarm choices are printed, the same
** for the same seed, different across seeds, and an operation a seed
** switched off is never run. */
static void test_swarm_runs(void **state) {
  (void)state;
  parse_text("scenario gen\nsessions 2\nlimits steps=400000\n"
             "actor a count=2 draws=30\n    weight=1 gc\n    weight=4 note s=any\n");
  unsigned gc = 0, note = 0;
  for (uint64_t seed = 1; seed <= 5; seed++) {
    sim_result res;
    char *trace = NULL;
    run_traced(seed, &res, &trace);
    if (res.outcome != SIM_PASS) fail_msg("seed %" PRIu64 ": %s", seed, res.message);
    unsigned g = count_lines(trace, "] op gc"), n = count_lines(trace, "] op note");
    assert_int_equal(g + n, 60); /* 2 tasks x 30 draws, no faults: no retries */
    gc += g;
    note += n;
    assert_null(strstr(res.options, "swarm_")); /* no swarm: nothing chosen */
    free(trace);
    sim_result_clear(&res);
  }
  assert_true(note > 2 * gc && gc > 0); /* weights 4:1 over 300 draws */

  load_bundled("swarm_core");
  char first[SIM_OPTIONS_MAX] = "";
  unsigned distinct = 0, off_seen = 0;
  for (uint64_t seed = 1; seed <= 12; seed++) {
    sim_result res, again;
    char *trace = NULL, *trace2 = NULL;
    run_traced(seed, &res, &trace);
    if (res.outcome != SIM_PASS) fail_msg("swarm_core seed %" PRIu64 ": %s", seed, res.message);
    run_traced(seed, &again, &trace2);
    assert_string_equal(res.options, again.options);
    assert_true(res.trace_hash == again.trace_hash);
    char ops[512], counts[128], faults[128], weights[512];
    option_of(&res, "swarm_ops", ops, sizeof ops);
    option_of(&res, "swarm_counts", counts, sizeof counts);
    option_of(&res, "swarm_faults", faults, sizeof faults);
    option_of(&res, "swarm_weights", weights, sizeof weights);
    assert_true(ops[0] && counts[0] && faults[0] && weights[0]);
    assert_non_null(strstr(counts, "agent="));
    if (seed == 1) snprintf(first, sizeof first, "%s", ops);
    else distinct += strcmp(first, ops) != 0;
    /* Every operation switched off is absent from the run. */
    for (const char *p = ops; *p;) {
      size_t n = strcspn(p, ",");
      if (*p == '-') {
        char needle[64];
        snprintf(needle, sizeof needle, "] op %.*s ", (int)(n - 1), p + 1);
        if (strcmp(needle, "] op sleep ") != 0 && strcmp(needle, "] op crash ") != 0) {
          off_seen++;
          if (strstr(trace, needle)) fail_msg("seed %" PRIu64 ": %s is off but ran", seed, needle);
        }
      }
      p += n + (p[n] == ',');
    }
    free(trace);
    free(trace2);
    sim_result_clear(&res);
    sim_result_clear(&again);
  }
  assert_true(distinct >= 5); /* the seeds choose different mixes */
  assert_true(off_seen > 0);

  /* One operation a seed may switch off: it stays on (else the seed runs
  ** nothing of it), and one not listed is never off. */
  parse_text("scenario one\nsessions 1\nswarm ops=note faults=keep\n"
             "actor a count=3\n    note s=0\n    gc\n");
  for (uint64_t seed = 1; seed <= 8; seed++) {
    sim_result res;
    char *trace = NULL;
    run_traced(seed, &res, &trace);
    if (res.outcome != SIM_PASS) fail_msg("seed %" PRIu64 ": %s", seed, res.message);
    char ops[128], faults[64];
    option_of(&res, "swarm_ops", ops, sizeof ops);
    option_of(&res, "swarm_faults", faults, sizeof faults);
    assert_string_equal(ops, "gc,note");
    assert_string_equal(faults, ""); /* faults=keep: nothing drawn, nothing printed */
    assert_non_null(strstr(trace, "] op note "));
    free(trace);
    sim_result_clear(&res);
  }
}

/* --- the correct runtime passes ------------------------------------------------ */

static void test_bundled_pass(void **state) {
  (void)state;
  static const char *const names[] = {"finalize_vs_escalate", "double_finalize", "stale_storm",
                                      "crash_restart", "gc_vs_retry", "pause_vs_finalize",
                                      "terminal_history", "gc_vs_errored", "try_refused",
                                      "crash_gc", "stream_turns", "swarm_core",
                                      "crash_truncate"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    load_bundled(names[i]);
    expect_pass(4);
  }
}

/* Every operation, on every session in turn and at random, repeated, with
** legacy escalation rules, in each journal mode. */
static void test_every_op(void **state) {
  (void)state;
  static const char *const journals[] = {"delete", "truncate", "persist", "wal"};
  for (size_t j = 0; j < 4; j++) {
    char text[1024];
    snprintf(text, sizeof text,
             "scenario every_op\n"
             "sessions 3\n"
             "journal %s\n"
             "limits steps=400000 time=2h\n"
             "legacy_escalate notify page\n"
             "actor a count=2\n"
             "    start s=all\n"
             "    repeat=2 write s=any\n"
             "    tool s=all name=notify\n"
             "    tool s=1 name=search\n"
             "    checkpoint s=all\n"
             "    checkpoint s=0 retry=3\n"
             "    checkpoint s=2 retry=31\n"
             "    gc\n"
             "    pause s=2\n"
             "    sleep d=5ms\n"
             "    finalize s=any\n"
             "    tool s=1 name=mark_resolved state=rejected\n"
             "    hold s=any d=1ms\n"
             "    try s=any\n"
             "    fail s=2\n"
             "    checkpoint s=1 retry=999999\n"
             "actor b\n"
             "    repeat=3 tool s=0 name=mark_resolved\n"
             "    pause s=0\n"
             "    turn s=1 name=notify\n"
             "    finalize s=all\n"
             "    repeat=2 gc\n",
             journals[j]);
    parse_text(text);
    assert_int_equal((int)SC->journal, (int)j);
    expect_pass(3);
  }
}

/* I/O faults of every kind and crashes in each journal mode: operations
** back off and retry, connections are reopened after a crash, and the
** oracle still holds the runtime to what it acknowledged. */
static void test_faults_and_crashes(void **state) {
  (void)state;
  static const char *const journals[] = {"delete", "truncate", "persist", "wal"};
  for (size_t j = 0; j < 4; j++) {
    char text[1024];
    snprintf(text, sizeof text,
             "scenario faulty\n"
             "sessions 2\n"
             "journal %s\n"
             "limits steps=600000 time=12h\n"
             "faults read=20000 write=20000 full=10000 busy=60000 sync=20000\n"
             "actor w count=3\n"
             "    start s=any\n"
             "    repeat=3 write s=any\n"
             "    tool s=all name=mark_resolved\n"
             "    checkpoint s=any retry=1\n"
             "    gc\n"
             "    pause s=any\n"
             "    fail s=any\n"
             "    finalize s=any\n"
             "actor power\n"
             "    sleep d=2ms\n"
             "    crash\n"
             "    sleep d=20ms\n"
             "    crash\n"
             "    crash\n",
             journals[j]);
    parse_text(text);
    expect_pass(4);
  }
}

/* --- a crash at a random I/O lands inside another task's transaction -------------- */

/* What the counting sink saw: connections with a transaction open (by the
** oracle's connection number), the task that armed the crash, and how many
** power losses came while a transaction was open in a task that was not the
** arming one. */
static struct {
  unsigned char open[256];
  uint32_t armer;
  unsigned crashes, inside;
} land;

static void land_sink(void *ctx, const sim_ev *ev) {
  (void)ctx;
  if (ev->kind == ORC_EV_TX && ev->object < sizeof land.open) land.open[ev->object] = ev->extra != 0;
  if (ev->kind == SIM_EV_NOTE && ev->label && strcmp(ev->label, "crash-armed") == 0) land.armer = ev->task;
  if (ev->kind != SIM_EV_DISK_CRASH) return;
  land.crashes++;
  int any = 0;
  for (size_t i = 0; i < sizeof land.open; i++) any |= land.open[i];
  if (any && ev->task != land.armer) land.inside++;
  memset(land.open, 0, sizeof land.open);
}

static int (*land_setup_next)(void *state, sim_rng *workload);

static int land_setup(void *state, sim_rng *workload) {
  int rc = land_setup_next(state, workload);
  return rc == AS_OK ? sim_sink_add(land_sink, NULL) : rc;
}

static void test_crash_random_io(void **state) {
  (void)state;
  parse_text("scenario rio\nsessions 2\nlimits steps=400000 time=2h\n"
             "actor w count=3\n    start s=any\n    repeat=4 write s=any\n    finalize s=any\n"
             "actor power\n    sleep d=5ms\n    crash at=random-io ios=40\n"
             "actor closer\n    sleep d=1h\n    finalize s=all\n");
  unsigned inside = 0, crashes = 0;
  for (uint64_t seed = 1; seed <= 10; seed++) {
    scn_runner *r = NULL;
    assert_int_equal(scn_runner_new(&r, SC, NULL, 0), AS_OK);
    sim_program p = *scn_runner_program(r);
    land_setup_next = p.setup;
    p.setup = land_setup;
    memset(&land, 0, sizeof land);
    land.armer = UINT32_MAX;
    sim_config cfg = {.seed = seed, .strategy = SIM_STRATEGY_RANDOM};
    sim_result res;
    assert_int_equal(sim_run(S, &p, &cfg, &res), AS_OK);
    if (res.outcome != SIM_PASS) fail_msg("seed %" PRIu64 ": %s", seed, res.message);
    sim_result_clear(&res);
    scn_runner_free(r);
    assert_true(land.crashes <= 1);
    crashes += land.crashes;
    inside += land.inside;
  }
  /* The draw is from the next 40 calls, most of them inside a transaction. */
  if (crashes < 8 || inside < 4) fail_msg("%u of %u crashes inside a transaction", inside, crashes);
}

/* A disk on which nothing can be written: the sessions cannot be made and
** the run fails saying which. */
static void test_sessions_cannot_be_made(void **state) {
  (void)state;
  parse_text("scenario full\nsessions 2\nfaults full=1000000 write=1000000\n"
             "actor a\n    start s=0\n");
  sim_result res;
  assert_int_equal(run_once(1, SIM_STRATEGY_RANDOM, &res), AS_OK);
  assert_int_equal(res.outcome, SIM_INVARIANT);
  if (!strstr(res.message, "could not create session s0"))
    fail_msg("message: %s", res.message);
  sim_result_clear(&res);
}

/* --- every mutant is caught, by the invariant written for it -------------------- */

typedef struct mcase {
  const char *mutant;
  const char *scenario; /* bundled name */
  const char *text;     /* or this text */
  const char *message;  /* what the violation says */
} mcase;

static void kill_mutant(const mcase *c) {
  if (c->scenario)
    load_bundled(c->scenario);
  else
    parse_text(c->text);
  assert_int_equal(as_mutant_set(c->mutant), AS_OK);
  uint64_t seed;
  sim_result res;
  int found = 0;
  for (seed = 1; seed <= 400 && !found; seed++) {
    for (int k = 0; k < 2 && !found; k++) {
      assert_int_equal(run_once(seed, k ? SIM_STRATEGY_PCT : SIM_STRATEGY_RANDOM, &res), AS_OK);
      if (res.outcome != SIM_PASS) {
        found = 1;
        if (res.outcome != SIM_INVARIANT || !strstr(res.message, c->message))
          fail_msg("%s on %s seed %" PRIu64 ": %s: %s (wanted \"%s\")", c->mutant, SC->name, seed,
                   sim_outcome_name(res.outcome), res.message, c->message);
      }
      sim_result_clear(&res);
    }
  }
  if (!found) fail_msg("%s survived 400 seeds of %s", c->mutant, SC->name);
  /* The same seed passes on the correct runtime: the mutant made the failure. */
  seed--;
  assert_int_equal(as_mutant_set(NULL), AS_OK);
  for (int k = 0; k < 2; k++) {
    assert_int_equal(run_once(seed, k ? SIM_STRATEGY_PCT : SIM_STRATEGY_RANDOM, &res), AS_OK);
    if (res.outcome != SIM_PASS) fail_msg("unmutated seed %" PRIu64 ": %s", seed, res.message);
    sim_result_clear(&res);
  }
}

static void test_mutant_lock_noop(void **state) {
  (void)state;
  mcase c = {"lock_noop", NULL,
             "scenario locks\nsessions 1\nlimits steps=200000 time=1h\n"
             "actor f count=4\n    repeat=3 finalize s=0\n    repeat=2 pause s=0\n",
             "lock-exclusive: tasks "};
  kill_mutant(&c);
}

static void test_mutant_coerce_resolved(void **state) {
  (void)state;
  mcase c = {"finalize_coerce_resolved", NULL,
             "scenario coerce\nsessions 1\nlimits steps=200000 time=1h\n"
             "actor a\n    start s=0\n    tool s=0 name=mark_escalated\n    finalize s=0\n",
             "finalize-inference: finalize s0 committed resolved, but its history of 1 calls implies escalated"};
  kill_mutant(&c);
  /* A legacy tool counts as an escalation too. */
  mcase d = {"finalize_coerce_resolved", NULL,
             "scenario legacy\nsessions 1\nlegacy_escalate page_oncall\n"
             "actor a\n    start s=0\n    tool s=0 name=page_oncall\n    finalize s=0\n",
             "finalize-inference: finalize s0 committed resolved, but its history of 1 calls implies escalated"};
  kill_mutant(&d);
}

static void test_mutant_no_lock(void **state) {
  (void)state;
  mcase c = {"finalize_no_lock", NULL,
             "scenario nolock\nsessions 1\nactor a\n    start s=0\n    finalize s=0\n",
             "lock-scope: s0: status in_progress -> needs_review committed by task 1 without holding "
             "the session's lock"};
  kill_mutant(&c);
}

static void test_mutant_stale_escapes(void **state) {
  (void)state;
  mcase c = {"finalize_stale_escapes", "finalize_vs_escalate", NULL,
             "stale-escaped: finalize s"};
  kill_mutant(&c);
}

static void test_mutant_pause_not_marked(void **state) {
  (void)state;
  mcase c = {"pause_not_marked", NULL,
             "scenario pause\nsessions 1\nactor a\n    start s=0\n    pause s=0\n",
             "outcome: paused run s0 is in_progress, not awaiting_input"};
  kill_mutant(&c);
}

static void test_mutant_gc_suffix(void **state) {
  (void)state;
  mcase c = {"gc_no_suffix_strip", NULL,
             "scenario gc\nsessions 2\nactor a\n    start s=all\n    checkpoint s=1 retry=2\n"
             "    gc\n",
             "gc-exact: gc removed s1:retry-2 while its session is active"};
  kill_mutant(&c);
}

/* --- the oracle issue's mutants: each needs its interleaving, or the model ------------ */

static void test_mutant_save_no_version_check(void **state) {
  (void)state;
  mcase c = {"save_no_version_check", NULL,
             "scenario lost\nsessions 1\nactor w count=2\n    repeat=3 write s=0\n",
             "stale-save: write s0 loaded version "};
  kill_mutant(&c);
}

static void test_mutant_load_not_snapshot(void **state) {
  (void)state;
  mcase c = {"load_not_snapshot", NULL,
             "scenario snap\nsessions 1\nlimits steps=400000 time=1h\n"
             "actor t count=2\n    repeat=4 tool s=0 name=note\nactor w\n    repeat=4 write s=0\n",
             "tool-history: "};
  kill_mutant(&c);
}

static void test_mutant_finalize_blind_retry(void **state) {
  (void)state;
  mcase c = {"finalize_blind_retry", NULL,
             "scenario blind\nsessions 1\nlimits steps=400000 time=1h\n"
             "actor t\n    repeat=4 tool s=0 name=note\nactor f\n    repeat=4 finalize s=0\n",
             "tool-history: finalize s0 changed the tool-call history"};
  kill_mutant(&c);
}

static void test_mutant_clobbers(void **state) {
  (void)state;
  mcase c = {"pause_clobbers_terminal", NULL,
             "scenario late\nsessions 1\nactor f\n    finalize s=0\nactor p\n    pause s=0\n",
             "terminal-left: s0 left needs_review for awaiting_input"};
  kill_mutant(&c);
  /* The failure comes after a tool call of its own: with I/O taking time
  ** it must start late to race the finalize at all. */
  mcase d = {"fail_clobbers_terminal", NULL,
             "scenario late\nsessions 1\nactor f\n    tool s=0 name=mark_resolved\n    finalize s=0\n"
             "actor e\n    tool s=0 name=note\n    fail s=0\n",
             "terminal-left: s0 left resolved for error"};
  kill_mutant(&d);
}

static void test_mutant_inference(void **state) {
  (void)state;
  mcase c = {"infer_oldest_first", "terminal_history", NULL, "finalize-inference: finalize s"};
  kill_mutant(&c);
  mcase d = {"infer_counts_unexecuted", NULL,
             "scenario unexec\nsessions 1\nactor a\n    tool s=0 name=mark_escalated\n"
             "    tool s=0 name=mark_resolved state=rejected\n    finalize s=0\n",
             "finalize-inference: finalize s0 committed resolved, but its history of 2 calls implies "
             "escalated"};
  kill_mutant(&d);
}

static void test_mutant_gc_errored_and_stale(void **state) {
  (void)state;
  mcase c = {"gc_reaps_errored", NULL,
             "scenario errgc\nsessions 1\nactor a\n    fail s=0\n    checkpoint s=0\n    gc\n",
             "gc-exact: gc removed s0 while its session is active"};
  kill_mutant(&c);
  mcase d = {"gc_keep_list_stale", "gc_vs_errored", NULL, "gc-exact: gc "};
  kill_mutant(&d);
}

static void test_mutant_lock_wait_if(void **state) {
  (void)state;
  mcase c = {"lock_wait_if", NULL,
             "scenario wait\nsessions 1\nlimits steps=200000 time=1h\n"
             "actor f count=3\n    repeat=3 finalize s=0\n    repeat=2 pause s=0\n",
             "lock-exclusive: tasks "};
  kill_mutant(&c);
}

/* --- the agents: an app, a script, the sessions' fields ------------------------------ */

/* A scratch directory with a small app (mini/), its script, an app that is
** broken (bad/), a script that is (bad.stub), and the app with a boolean
** field; removed at the end. */
static char TMP[64];

static void put_file(const char *rel, const char *text) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", TMP, rel);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fputs(text, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);
}

static void sub_dir(const char *rel) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", TMP, rel);
  assert_int_equal(mkdir(path, 0700), 0);
}

static const char MINI_APP[] =
    "name: mini\nentry: solo\nrosters:\n  envs: [dev, prod]\n"
    "fields:\n  env: {type: string, roster: envs}\n  count: {type: integer}\n"
    "  flag: {type: boolean}\n  note: {type: string}\n"
    "gate:\n  environment_field: env\n  production: [prod]\n  gated_risk: high\n"
    "servers:\n  srv:\n    tools:\n"
    "      probe:\n        description: Probe the thing.\n        risk: low\n"
    "        args:\n          what: {type: string}\n"
    "      quiet:\n        description: A tool the script has no result for.\n"
    "        risk: low\n        args: {}\n"
    "      fix:\n        description: Fix the thing.\n        risk: high\n        args: {}\n"
    "agents:\n  solo:\n    prompt: prompts/solo.md\n"
    "    tools: [srv:probe, srv:quiet, srv:fix, mark_resolved]\n    routes:\n      default: end\n";

/* Each call's delay lets the API callers find the session held. */
static const char MINI_STUB[] =
    "agent solo\n"
    "    call 1 delay=100ms\n"
    "        tool srv:probe {\"what\": \"disk\"}\n"
    "        tool srv:quiet {}\n"
    "    call 2 delay=100ms\n"
    "        tool srv:fix {}\n"
    "    call 3 delay=100ms\n"
    "        tool runtime:mark_resolved {\"resolution\": \"fixed\", \"confidence\": 0.9, "
    "\"rationale\": \"the probe says so\"}\n"
    "    default\n"
    "        envelope {\"content\": \"Fixed.\", \"confidence\": 0.9, \"rationale\": \"done\"}\n"
    "\n"
    "result srv:probe {\"disk\": \"ok\"}\n"
    "result srv:fix {\"fixed\": true}\n";

static void make_tmp(void) {
  snprintf(TMP, sizeof TMP, "/tmp/agentsim-run-XXXXXX");
  assert_non_null(mkdtemp(TMP));
  sub_dir("mini");
  sub_dir("mini/prompts");
  sub_dir("bad");
  put_file("mini/app.yaml", MINI_APP);
  put_file("mini/prompts/solo.md", "You probe, then fix.\n");
  put_file("mini.stub", MINI_STUB);
  put_file("bad/app.yaml", "name: bad\nentry: nobody\n");
  put_file("bad.stub", "agent solo\n    call 1\n        frobnicate\n");
  put_file("mute.stub", "agent solo\n    default\n        text \"I will not say.\"\n");
}

static void rm_tmp(void) {
  static const char *const files[] = {"mini/prompts/solo.md", "mini/app.yaml", "mini.stub",
                                      "bad/app.yaml", "bad.stub", "mute.stub", "mini/prompts", "mini", "bad"};
  char path[256];
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", TMP, files[i]);
    assert_int_equal(remove(path), 0);
  }
  assert_int_equal(rmdir(TMP), 0);
}

/* SC: the mini app in TMP with app, script and fields as given, then body. */
static void parse_agents(const char *app, const char *script, const char *fields, const char *body) {
  char text[2048];
  snprintf(text, sizeof text,
           "scenario agents\nsessions 2\napp %s/%s\nscript %s/%s\n%s%s%s"
           "limits steps=2000000 time=2h\n%s",
           TMP, app, TMP, script, fields ? "fields " : "", fields ? fields : "", fields ? "\n" : "",
           body);
  parse_text(text);
}

static const char AGENT_BODY[] = "actor agent\n    run s=all\n";

/* scn_runner_new refuses; err says where. */
static void expect_load_error(int rc, const char *needle) {
  scn_runner *r = NULL;
  char err[1024];
  assert_int_equal(scn_runner_new(&r, SC, err, sizeof err), rc);
  assert_null(r);
  if (!strstr(err, needle)) fail_msg("'%s' is not in '%s'", needle, err);
}

/* A bad app, a bad or missing script, and fields the app does not take:
** scn_runner_new refuses them, saying where, as `agentsim check` does. */
static void test_agents_refused(void **state) {
  (void)state;
  make_tmp();
  char want[512];
  parse_agents("bad", "mini.stub", NULL, AGENT_BODY);
  snprintf(want, sizeof want, "%s/bad/app.yaml:1:1: missing key 'agents'", TMP);
  expect_load_error(AS_PARSE, want);
  snprintf(want, sizeof want, "\n%s/bad/app.yaml:2:8: entry: names unknown agent 'nobody'", TMP);
  expect_load_error(AS_PARSE, want); /* every error, one a line */
  scn_runner *r = NULL;
  assert_int_equal(scn_runner_new(&r, SC, NULL, 0), AS_PARSE); /* no err: said nowhere */
  assert_null(r);
  parse_agents("none", "mini.stub", NULL, AGENT_BODY);
  snprintf(want, sizeof want, "%s/none/app.yaml: cannot read: No such file or directory", TMP);
  expect_load_error(AS_PARSE, want);
  parse_agents("mini", "bad.stub", NULL, AGENT_BODY);
  snprintf(want, sizeof want, "%s/bad.stub:3:9: ", TMP);
  expect_load_error(AS_PARSE, want);
  parse_agents("mini", "none.stub", NULL, AGENT_BODY);
  snprintf(want, sizeof want, "%s/none.stub: cannot open: ", TMP);
  expect_load_error(AS_PARSE, want);
  static const struct {
    const char *fields, *why;
  } bad[] = {
      {"env=dev size=3", "agents: fields size=3: the app has no such field"},
      {"count=three", "agents: fields count=three: not an integer"},
      {"count=3x", "agents: fields count=3x: not an integer"},
      {"count=99999999999999999999", "fields count=99999999999999999999: not an integer"},
      {"env=staging", "agents: fields env=staging: not a value of the field's roster"},
      {"flag=true", "agents: fields flag=true: a field that is neither a string nor an integer"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    parse_agents("mini", "mini.stub", bad[i].fields, AGENT_BODY);
    expect_load_error(AS_PARSE, bad[i].why);
  }
  /* The app's own values: fine. */
  parse_agents("mini", "mini.stub", "env=dev count=-3 note=x", AGENT_BODY);
  assert_int_equal(scn_runner_new(&r, SC, NULL, 0), AS_OK);
  scn_runner_free(r);
  rm_tmp();
}

/* The agents at work on the mini app: decisions before anything was asked
** (not found), API callers told busy while the run holds the session, the
** watchdog's single tick and its ticks, a tool the script has a result for
** and one it has none for, an approval that licenses the gated fix (in
** production), and the disk's latency as the scenario sets it. */
static void test_agents_run(void **state) {
  (void)state;
  make_tmp();
  parse_agents("mini", "mini.stub", "env=prod count=3",
               "latency read=1us..5us sync=10us..20us\n"
               "actor agent\n    run s=all\n"
               "actor early\n    approve s=all\n    reject s=all\n    repeat=4 run s=0 api=1\n"
               "    sleep d=1s\n    repeat=2 approve s=all api=1\n"
               "actor watchdog\n    watchdog\n    watchdog ticks=3 every=500ms\n");
  unsigned notfound = 0, busy = 0, quiet = 0, fixed = 0;
  for (uint64_t seed = 1; seed <= 4; seed++) {
    sim_result res;
    char *trace = NULL;
    run_traced(seed, &res, &trace);
    if (res.outcome != SIM_PASS) fail_msg("seed %" PRIu64 ": %s", seed, res.message);
    notfound += count_lines(trace, "ack approve s0 -> AS_NOTFOUND") +
                count_lines(trace, "ack reject s1 -> AS_NOTFOUND");
    busy += count_lines(trace, "ack run s0 -> AS_BUSY");
    quiet += count_lines(trace, "tool-exec srv:quiet for s");
    fixed += count_lines(trace, "tool-exec srv:fix for s");
    assert_int_equal(count_lines(trace, "] ack watchdog -> AS_OK"), 4);
    free(trace);
    sim_result_clear(&res);
  }
  assert_int_equal(notfound, 8); /* nothing was asked for yet */
  assert_true(busy > 0);
  assert_int_equal(quiet, 8); /* each session's run, each seed */
  assert_true(fixed > 0);     /* approved, then carried out */
  expect_pass(1);
  /* A model that never gives an envelope: each run fails (the session
  ** error), and the approver finds nothing asked for. */
  parse_agents("mini", "mute.stub", NULL, "actor agent\n    run s=all\n    approve s=0\n");
  expect_pass(2);
  /* A log longer than one read: the approver reads it all, page by page. */
  parse_agents("mini", "mini.stub", "env=prod",
               "actor noisy\n    repeat=1100 note s=0\n    run s=0\n    approve s=0\n");
  sim_result res;
  char *trace = NULL;
  run_traced(1, &res, &trace);
  if (res.outcome != SIM_PASS) fail_msg("%s", res.message);
  assert_int_equal(count_lines(trace, "tool-exec srv:fix for s0"), 1); /* the request found */
  free(trace);
  sim_result_clear(&res);
  rm_tmp();
}

/* The bundled incident app with two gated calls in a row, the watchdog
** alone to time them out: it resumes the run, which pauses at the second
** and stores its conversation (the oracle once called that checkpoint the
** watchdog's stray one). And under I/O faults and power loss: runs cut
** midway begin again, approvals are retried. */
static void test_agents_faults(void **state) {
  (void)state;
  static const char *const texts[] = {
      "scenario two_gates\nsessions 1\napp " AS_SOURCE_DIR "/fixtures/apps/incident\n"
      "script " AS_SOURCE_DIR "/fixtures/scripts/incident_two_gates.stub\n"
      "fields environment=production service=checkout\napproval_timeout 5s\n"
      "limits steps=4000000 time=6h\n"
      "actor agent\n    run s=all\nactor watchdog\n    watchdog ticks=30 every=1s\n",
      "scenario faulty_agents\nsessions 2\napp " AS_SOURCE_DIR "/fixtures/apps/incident\n"
      "script " AS_SOURCE_DIR "/fixtures/scripts/incident_two_gates.stub\n"
      "fields environment=production service=checkout\napproval_timeout 5s\n"
      "limits steps=4000000 time=6h\n"
      "faults read=10000 write=10000 full=5000 busy=30000 sync=10000\n"
      "actor agent\n    run s=all\n    sleep d=20s\n    run s=all\n"
      "actor approver draws=40\n    weight=6 sleep d=700ms\n    weight=1 approve s=any\n"
      "    weight=1 reject s=any\n"
      "actor watchdog\n    watchdog ticks=30 every=1s\n"
      "actor power\n    sleep d=2s\n    crash at=random-io ios=300\n    sleep d=8s\n    crash\n",
  };
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    parse_text(texts[i]);
    expect_pass(i ? 3 : 2);
  }
}

/* scn_runner_new with an app: every allocation it makes fails in turn (the
** app's, the script's, the oracle's copy of the app, the hashes), once or
** for good: out of memory, said so, nothing left behind -- or, once, got
** over (the script's JSON is parsed again). */
static void test_agents_nomem(void **state) {
  (void)state;
  make_tmp();
  parse_agents("mini", "mini.stub", "env=dev", AGENT_BODY);
  for (int persistent = 0; persistent < 2; persistent++) {
    unsigned long n, recovered = 0;
    for (n = 1;; n++) {
      size_t live = fw_live_blocks();
      scn_runner *r = NULL;
      char err[512] = "";
      fw_countdown(FW_ALLOC, n, ENOMEM, persistent);
      int rc = scn_runner_new(&r, SC, err, sizeof err);
      int fired = fw_fired();
      fw_disarm();
      if (rc == AS_OK) {
        recovered += fired != 0;
        scn_runner_free(r);
      } else if (rc != AS_NOMEM || (err[0] && !strstr(err, "out of memory"))) {
        fail_msg("persistent=%d n=%lu: %s: %s", persistent, n, as_status_name(rc), err);
      } else {
        assert_null(r);
      }
      assert_int_equal(fw_live_blocks(), live);
      if (!fired) break;
    }
    assert_true(n > 8);
    if (persistent) assert_int_equal(recovered, 0);
    else assert_true(recovered > 0);
  }
  rm_tmp();
}

/* The scenario format's own memory (scn_load: the file's buffer, the
** actors, their operations, the legacy tools), failing in turn: out of
** memory at the line it was read, nothing left half-made. */
static void test_scenario_nomem(void **state) {
  (void)state;
  char path[512];
  snprintf(path, sizeof path, "%s/fixtures/scenarios/terminal_history.scn", AS_SOURCE_DIR);
  static const char text[] = "scenario m\nlegacy_escalate a b\nactor x\n    gc\nactor y\n    gc\n";
  for (int from_file = 0; from_file < 2; from_file++) {
    unsigned long n;
    for (n = 1;; n++) {
      scn_clear(SC);
      size_t live = fw_live_blocks();
      char err[256] = "";
      fw_countdown(FW_ALLOC, n, ENOMEM, 0);
      int rc = from_file ? scn_load(path, SC, err, sizeof err)
                         : scn_parse("m.scn", text, sizeof text - 1, SC, err, sizeof err);
      int fired = fw_fired();
      fw_disarm();
      if (!fired) {
        if (rc != AS_OK) fail_msg("%s", err);
        scn_clear(SC);
        assert_int_equal(fw_live_blocks(), live);
        break;
      }
      if (rc != AS_NOMEM) fail_msg("n=%lu: %s: %s", n, as_status_name(rc), err);
      if (!strstr(err, ": out of memory")) fail_msg("n=%lu: %s", n, err);
      assert_int_equal(SC->nactors, 0);
      if (fw_live_blocks() != live)
        fail_msg("from_file=%d n=%lu (%s): %zu blocks leaked: %s", from_file, n,
                 fw_fn_name(fw_fired_fn()), fw_live_blocks() - live, err);
    }
    assert_true(n > 3); /* the buffer or the legacy list, actors, operations */
  }
}

/* --- out of memory ---------------------------------------------------------------- */

static void test_runner_new_nomem(void **state) {
  (void)state;
  parse_text("scenario m\nlegacy_escalate x y\nactor a count=3\n    gc\n");
  unsigned long n;
  for (n = 1;; n++) {
    size_t live = fw_live_blocks();
    scn_runner *r = NULL;
    fw_countdown(FW_ALLOC, n, ENOMEM, 0);
    int rc = scn_runner_new(&r, SC, NULL, 0);
    int fired = fw_fired();
    fw_disarm();
    if (!fired) {
      assert_int_equal(rc, AS_OK);
      const sim_program *p = scn_runner_program(r);
      assert_int_equal(p->est_tasks, 2 + 3);
      assert_ptr_equal(p->user, r);
      scn_runner_free(r);
      assert_int_equal(fw_live_blocks(), live);
      break;
    }
    assert_int_equal(rc, AS_NOMEM);
    assert_null(r);
    assert_int_equal(fw_live_blocks(), live);
  }
  assert_int_equal(n, 6); /* the runner, its copy's legacy tools, actors, operations, the
                           ** canonical text its fingerprint hashes */
  scn_runner_free(NULL);
}

/* The n-th calloc of a run fails (the sim's, the runner's setup, SQLite's
** zeroed blocks ...): sim_run reports NOMEM, or the run ends, failed or not,
** and nothing leaks. */
static void test_run_calloc_countdown(void **state) {
  (void)state;
  parse_text("scenario c\nsessions 2\nactor a count=2\n    start s=any\n    tool s=any name=t\n"
             "    finalize s=any\n");
  unsigned long n;
  unsigned nomem = 0;
  for (n = 1; n < 400; n++) {
    size_t live = fw_live_blocks(), maps = fw_live_maps();
    sim_result res;
    arm.mask = FW_BIT(CALLOC);
    arm.n = n;
    int rc = run_once(1, SIM_STRATEGY_RANDOM, &res);
    int fired = arm.fired;
    arm.n = 0;
    if (rc != AS_OK && rc != AS_NOMEM) fail_msg("n=%lu: %s", n, as_status_name(rc));
    if (rc == AS_NOMEM) nomem++;
    if (!fired) {
      assert_int_equal(rc, AS_OK);
      if (res.outcome != SIM_PASS) fail_msg("n=%lu: %s", n, res.message);
    }
    /* One known loss: a task stopped by a failed assertion inside
    ** as_store_open (SQLite's seam mutex could not be made) strands the
    ** store struct that call had just allocated. */
    int abandoned = res.outcome == SIM_ASSERT && strstr(res.message, "p->m != NULL");
    sim_result_clear(&res);
    if (!abandoned && (fw_live_blocks() != live || fw_live_maps() != maps))
      fail_msg("n=%lu rc=%d msg=%s: %zu blocks, %zu maps leaked", n, rc, res.message, fw_live_blocks() - live,
               fw_live_maps() - maps);
    if (!fired) break;
  }
  assert_true(n < 400);
  assert_true(nomem > 0);
}

/* SQLite's allocations fail from the n-th on for a while (simdb's
** countdown, transient and persistent): operations see NOMEM and retry or
** give up, the run passes or fails cleanly, never crashes. */
static void test_run_sqlite_nomem(void **state) {
  (void)state;
  parse_text("scenario s\nsessions 2\nactor a count=2\n    start s=any\n    write s=any\n"
             "    tool s=any name=t\n    checkpoint s=any\n    gc\n    pause s=any\n"
             "    finalize s=any\n");
  unsigned failed = 0;
  for (int persistent = 0; persistent < 2; persistent++) {
    for (uint64_t n = 1; n < 2000; n += 37) {
      sim_result res;
      simdb_malloc_fail_after(n, persistent);
      int rc = run_once(2, SIM_STRATEGY_RANDOM, &res);
      simdb_malloc_fail_after(0, false);
      if (rc != AS_OK && rc != AS_NOMEM) fail_msg("n=%" PRIu64 ": %s", n, as_status_name(rc));
      if (rc == AS_OK && res.outcome != SIM_PASS) {
        failed++;
        /* Only a session that could not be made, or (memory gone for good)
        ** a database the harness cannot open or read, is a fair failure
        ** here: never a violation charged to the runtime. */
        int harness = res.outcome == SIM_HARNESS;
        if (!strstr(res.message, "could not create session") && !harness)
          fail_msg("n=%" PRIu64 " persistent=%d: %s: %s", n, persistent,
                   sim_outcome_name(res.outcome), res.message);
      }
      sim_result_clear(&res);
    }
  }
  assert_true(failed > 0);
}

/* The oracle's own memory runs out: the run is a harness error saying so,
** never a violation charged to the runtime. */
static void test_oracle_nomem(void **state) {
  (void)state;
  parse_text("scenario o\nsessions 1\nactor a\n    repeat=40 write s=0\n");
  int seen = 0;
  for (unsigned long n = 1; n < 400 && !seen; n++) {
    sim_result res;
    arm.mask = FW_BIT(REALLOC);
    arm.n = n;
    int rc = run_once(1, SIM_STRATEGY_RANDOM, &res);
    int fired = arm.fired;
    arm.n = 0;
    if (rc == AS_OK && res.outcome == SIM_HARNESS && strstr(res.message, "the oracle lost track"))
      seen = 1;
    if (rc == AS_OK && res.outcome == SIM_INVARIANT) fail_msg("n=%lu: %s", n, res.message);
    sim_result_clear(&res);
    if (!fired) break;
  }
  assert_true(seen);
}

int main(void) {
  (void)alarm(600); /* ignore: no earlier alarm; a hang dies of SIGALRM */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_bundled_pass, reset),
      cmocka_unit_test_teardown(test_every_op, reset),
      cmocka_unit_test_teardown(test_swarm_runs, reset),
      cmocka_unit_test_teardown(test_faults_and_crashes, reset),
      cmocka_unit_test_teardown(test_crash_random_io, reset),
      cmocka_unit_test_teardown(test_sessions_cannot_be_made, reset),
      cmocka_unit_test_teardown(test_mutant_lock_noop, reset),
      cmocka_unit_test_teardown(test_mutant_coerce_resolved, reset),
      cmocka_unit_test_teardown(test_mutant_no_lock, reset),
      cmocka_unit_test_teardown(test_mutant_stale_escapes, reset),
      cmocka_unit_test_teardown(test_mutant_pause_not_marked, reset),
      cmocka_unit_test_teardown(test_mutant_gc_suffix, reset),
      cmocka_unit_test_teardown(test_mutant_save_no_version_check, reset),
      cmocka_unit_test_teardown(test_mutant_load_not_snapshot, reset),
      cmocka_unit_test_teardown(test_mutant_finalize_blind_retry, reset),
      cmocka_unit_test_teardown(test_mutant_clobbers, reset),
      cmocka_unit_test_teardown(test_mutant_inference, reset),
      cmocka_unit_test_teardown(test_mutant_gc_errored_and_stale, reset),
      cmocka_unit_test_teardown(test_mutant_lock_wait_if, reset),
      cmocka_unit_test_teardown(test_runner_new_nomem, reset),
      cmocka_unit_test_teardown(test_run_calloc_countdown, reset),
      cmocka_unit_test_teardown(test_run_sqlite_nomem, reset),
      cmocka_unit_test_teardown(test_oracle_nomem, reset),
      cmocka_unit_test_teardown(test_agents_refused, reset),
      cmocka_unit_test_teardown(test_agents_run, reset),
      cmocka_unit_test_teardown(test_agents_faults, reset),
      cmocka_unit_test_teardown(test_agents_nomem, reset),
      cmocka_unit_test_teardown(test_scenario_nomem, reset),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

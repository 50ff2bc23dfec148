/*
** test_sim_faults.c -- the sim and the sweep engine when the system says no.
**
** Linked with --wrap (faultwrap.h). The creation and run paths are STYLE.md
** rule 7 countdowns: for n = 1, 2, ... the n-th allocation (or mapping,
** mprotect, sigaction, sigaltstack) fails, transiently and then
** persistently, until the operation completes; every step must end in the
** status the contract promises (or a run that reports the failed spawn),
** never a crash, and must leave no block and no mapping behind. The sweep
** engine is also driven through failed pipes and forks, workers that die,
** exit early or cannot write, and every retry path of its reader.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture.h"
#include "faultwrap.h"
#include "schedule.h"
#include "selftest/programs.h"
#include "sim.h"
#include "sweep.h"

#define WORKERS 3
#define ROUNDS 300 /* lock rounds per worker: > 1024 decisions in all */

static int reset_faults(void **state) {
  (void)state;
  fw_reset();
  return 0;
}

/* --- a program that uses every allocating path of a run ---------------------- */

typedef struct busy {
  as_mutex *m;
  as_cond *c;
  uint64_t count;
} busy;

static int busy_setup(void *state, sim_rng *r) {
  busy *x = state;
  (void)r;
  int rc = as_mutex_new(&x->m);
  if (rc == AS_OK) rc = as_cond_new(&x->c);
  return rc;
}

static void busy_worker(void *arg) {
  busy *x = arg;
  for (int i = 0; i < ROUNDS; i++) {
    as_mutex_lock(x->m);
    x->count++;
    sim_step();
    as_mutex_unlock(x->m);
  }
  as_sleep_until(as_now_mono_ns() + 1000);
}

static void busy_main(void *state) {
  busy *x = state;
  as_task *t[WORKERS];
  for (int i = 0; i < WORKERS; i++) {
    int rc = as_task_spawn(&t[i], "worker", busy_worker, x);
    if (rc != AS_OK) sim_fail(SIM_ASSERT, "spawn failed: %s", as_status_name(rc));
  }
  for (int i = 0; i < WORKERS; i++)
    if (as_task_join(t[i]) != AS_OK) sim_fail(SIM_ASSERT, "join failed");
  if (x->count != WORKERS * ROUNDS) sim_fail(SIM_INVARIANT, "count %" PRIu64, x->count);
}

static void busy_teardown(void *state) {
  busy *x = state;
  as_cond_free(x->c);
  as_mutex_free(x->m);
}

static const sim_program busy_prog = {
    .name = "test:busy",
    .summary = "spawns, locks, sleeps and decides a lot",
    .state_size = sizeof(busy),
    .est_tasks = WORKERS + 1,
    .est_steps = 4000,
    .setup = busy_setup,
    .main = busy_main,
    .teardown = busy_teardown,
};

/* The system calls whose failure is AS_SYS rather than AS_NOMEM. */
static int is_sys(fw_fn fn) {
  return fn == FW_MPROTECT || fn == FW_SIGACTION || fn == FW_SIGALTSTACK;
}

/* sim_new + sim_run + sim_free with the countdown armed; returns sim_run's
** (or sim_new's) status, the result in *res (cleared by the caller). */
static int run_once(const sim_config *cfg, uint64_t mask, unsigned long n, int persistent,
                    sim_result *res) {
  sim *s = NULL;
  memset(res, 0, sizeof *res);
  fw_countdown(mask, n, ENOMEM, persistent);
  int rc = sim_new(&s, SIM_SWITCH_FCONTEXT, 0);
  if (rc == AS_OK) {
    rc = sim_run(s, &busy_prog, cfg, res);
    sim_free(s);
  } else {
    assert_null(s);
  }
  fw_disarm();
  return rc;
}

static void countdown_run(const sim_config *cfg, int persistent, uint64_t want_hash) {
  const uint64_t mask = FW_ALLOC | FW_BIT(MMAP) | FW_BIT(MPROTECT) | FW_BIT(SIGACTION) |
                        FW_BIT(SIGALTSTACK);
  unsigned long n;
  unsigned nomem = 0, sys = 0, reported = 0, absorbed = 0;
  for (n = 1;; n++) {
    size_t blocks = fw_live_blocks(), maps = fw_live_maps();
    sim_result res;
    int rc = run_once(cfg, mask, n, persistent, &res);
    int fired = fw_fired();
    fw_fn fn = fw_fired_fn();
    char *sched = res.schedule; /* the result's own block, released below */
    res.schedule = NULL;
    if (fw_live_blocks() - (sched != NULL) != blocks || fw_live_maps() != maps)
      fail_msg("n=%lu (%s, %s): %zu blocks and %zu mappings leaked; sim_run = %s, %s: %s", n,
               persistent ? "persistent" : "once", fired ? fw_fn_name(fn) : "none",
               fw_live_blocks() - (sched != NULL) - blocks, fw_live_maps() - maps,
               as_status_name(rc), sim_outcome_name(res.outcome), res.message);
    res.schedule = sched;
    assert_ptr_equal(as__plat, &as_platform_posix);
    if (!fired) {
      assert_int_equal(rc, AS_OK);
      assert_int_equal(res.outcome, SIM_PASS);
      assert_int_equal(res.trace_hash, want_hash);
      sim_result_clear(&res);
      break;
    }
    if (rc == AS_DIVERGED && cfg->strategy == SIM_STRATEGY_REPLAY) {
      reported++; /* the failure changed the run, so the schedule no longer fits */
    } else if (rc != AS_OK) {
      /* Persistent: later failures (an allocation) may decide the status. */
      int ok = rc == (is_sys(fn) ? AS_SYS : AS_NOMEM) || (persistent && rc == AS_NOMEM);
      if (!ok)
        fail_msg("n=%lu: %s failed, sim_run = %s: %s", n, fw_fn_name(fn), as_status_name(rc),
                 res.message);
      if (rc == AS_SYS) sys++; else nomem++;
    } else if (res.outcome == SIM_PASS) {
      /* Only a failure the sim can do without may pass: the same run. */
      assert_int_equal(res.trace_hash, want_hash);
      absorbed++;
    } else {
      if (!strstr(res.message, "spawn failed: AS_NOMEM") &&
          !strstr(res.message, "spawn failed: AS_SYS"))
        fail_msg("n=%lu: %s failed, outcome %s: %s", n, fw_fn_name(fn),
                 sim_outcome_name(res.outcome), res.message);
      reported++;
    }
    sim_result_clear(&res);
  }
  /* Every kind of ending happened, so the loop exercised what it claims. */
  assert_true(nomem > 0);
  assert_true(sys > 0);
  if (!persistent) { /* a persistent failure ends every run in the encoder */
    assert_true(reported > 0);
    assert_true(absorbed > 0);
  }
  assert_true(n > 20);
}

static uint64_t reference_hash(const sim_config *cfg) {
  sim_result res;
  assert_int_equal(run_once(cfg, 0, 1, 0, &res), AS_OK);
  assert_int_equal(res.outcome, SIM_PASS);
  assert_true(res.decisions > 1024); /* the decision log grew at least twice */
  uint64_t h = res.trace_hash;
  sim_result_clear(&res);
  return h;
}

static void test_run_countdown(void **state) {
  (void)state;
  sim_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.seed = 7;
  uint64_t h = reference_hash(&cfg);
  countdown_run(&cfg, 0, h);
  countdown_run(&cfg, 1, h);
}

/* Replaying a schedule allocates its decisions first. */
static void test_replay_countdown(void **state) {
  (void)state;
  sim_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.seed = 3;
  sim_result first;
  assert_int_equal(run_once(&cfg, 0, 1, 0, &first), AS_OK);
  sim_config rc = cfg;
  rc.strategy = SIM_STRATEGY_REPLAY;
  rc.schedule = first.schedule;
  countdown_run(&rc, 0, first.trace_hash);
  sim_result_clear(&first);
}

/* Two sims alive: the second does not install the handlers again, and the
** handlers come off only when the last one goes. */
static void test_sim_new_countdown(void **state) {
  (void)state;
  const uint64_t mask = FW_ALLOC | FW_BIT(SIGACTION);
  /* How many counted calls a sim_new makes when nothing fails. */
  sim *probe = NULL;
  fw_countdown(mask, ULONG_MAX, 0, 0);
  assert_int_equal(sim_new(&probe, SIM_SWITCH_FCONTEXT, 0), AS_OK);
  unsigned long calls = fw_counted();
  fw_disarm();
  sim_free(probe);
  assert_true(calls >= 3); /* calloc, malloc and at least one sigaction */
  unsigned long n;
  for (n = 1;; n++) {
    size_t blocks = fw_live_blocks();
    sim *s = NULL;
    fw_countdown(mask, n, EINVAL, 0);
    int rc = sim_new(&s, SIM_SWITCH_UCONTEXT, 64 * 1024);
    fw_disarm();
    if (!fw_fired()) {
      assert_int_equal(rc, AS_OK);
      sim *other = NULL;
      fw_countdown(FW_BIT(SIGACTION), 1, EINVAL, 1);
      assert_int_equal(sim_new(&other, SIM_SWITCH_FCONTEXT, 0), AS_OK);
      fw_disarm();
      assert_int_equal(fw_counted(), 0); /* handlers already in place */
      sim_free(other);
      sim_free(s);
      assert_int_equal(fw_live_blocks(), blocks);
      break;
    }
    assert_int_equal(rc, fw_fired_fn() == FW_SIGACTION ? AS_SYS : AS_NOMEM);
    assert_null(s);
    assert_int_equal(fw_live_blocks(), blocks);
  }
  assert_int_equal(n, calls + 1);
}

/* A formatting failure inside the sim still leaves a readable result. */
static void test_schedule_encode_tolerates_nothing_lost(void **state) {
  (void)state;
  sim_schedule sc;
  memset(&sc, 0, sizeof sc);
  uint32_t dec[300];
  for (size_t i = 0; i < 300; i++) dec[i] = (uint32_t)(i % 70);
  sc.dec = dec;
  sc.ndec = 300;
  char *out = NULL;
  unsigned long n;
  for (n = 1;; n++) {
    size_t blocks = fw_live_blocks();
    fw_countdown(FW_BIT(REALLOC), n, ENOMEM, 0);
    int rc = sim_schedule_encode(&sc, &out);
    fw_disarm();
    if (!fw_fired()) {
      assert_int_equal(rc, AS_OK);
      sim_schedule back;
      char err[128];
      assert_int_equal(sim_schedule_decode(out, &back, err, sizeof err), AS_OK);
      assert_int_equal(back.ndec, 300);
      assert_memory_equal(back.dec, dec, sizeof dec);
      sim_schedule_clear(&back);
      free(out);
      break;
    }
    assert_int_equal(rc, AS_NOMEM);
    assert_null(out);
    assert_int_equal(fw_live_blocks(), blocks);
  }
  assert_true(n >= 3);
}

/* --- sweeps ----------------------------------------------------------------- */

static sweep_spec spec(const char *name, uint64_t count, unsigned jobs) {
  sweep_spec sp;
  memset(&sp, 0, sizeof sp);
  const selftest *t = selftest_find(name);
  assert_non_null(t);
  sp.prog = t->prog;
  sp.base.strategy = SIM_STRATEGY_RANDOM;
  sp.sw = SIM_SWITCH_FCONTEXT;
  sp.start = 100;
  sp.count = count;
  sp.jobs = jobs;
  sp.label = name;
  return sp;
}

static void expect_same_stats(const sweep_stats *a, const sweep_stats *b) {
  assert_int_equal(a->runs, b->runs);
  assert_int_equal(a->failed, b->failed);
  assert_int_equal(a->steps, b->steps);
  assert_int_equal(a->nfails, b->nfails);
  for (size_t i = 0; i < a->nfails; i++) {
    assert_int_equal(a->fails[i].seed, b->fails[i].seed);
    assert_int_equal(a->fails[i].hash, b->fails[i].hash);
    assert_string_equal(a->fails[i].msg, b->fails[i].msg);
  }
}

/* No worker is left behind: no child to reap, none still running. */
static void expect_no_children(void) {
  errno = 0;
  assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
  assert_int_equal(errno, ECHILD);
}

static void test_sweep_inprocess_countdown(void **state) {
  (void)state;
  sweep_spec sp = spec("selftest:abba", 20, 1);
  sweep_stats want, st;
  assert_int_equal(sweep_exec(&sp, &want), AS_OK);
  assert_int_equal(want.runs, 20);
  assert_true(want.failed > 0);
  const uint64_t mask = FW_ALLOC | FW_BIT(MMAP) | FW_BIT(MPROTECT);
  unsigned long n;
  unsigned errors = 0;
  for (n = 1;; n++) {
    size_t blocks = fw_live_blocks(), maps = fw_live_maps();
    fw_countdown(mask, n, ENOMEM, 0);
    int rc = sweep_exec(&sp, &st);
    fw_disarm();
    if (!fw_fired()) {
      assert_int_equal(rc, AS_OK);
      expect_same_stats(&st, &want);
      sweep_stats_clear(&st);
      break;
    }
    if (rc != AS_OK) {
      assert_true(rc == AS_NOMEM || rc == AS_SYS);
      assert_true(st.error[0] != '\0');
      errors++;
    }
    sweep_stats_clear(&st);
    assert_int_equal(fw_live_blocks(), blocks);
    assert_int_equal(fw_live_maps(), maps);
  }
  assert_true(errors > 0);
  sweep_stats_clear(&want);
}

/* Every retry path of the reader and the writers; the result must not move. */
static void test_sweep_forked_retries(void **state) {
  (void)state;
  sweep_spec sp = spec("selftest:abba", 30, 1);
  sweep_stats want, st;
  assert_int_equal(sweep_exec(&sp, &want), AS_OK);

  sp.jobs = WORKERS;
  sp.progress = 1;
  capture cap;
  capture_begin(&cap, stderr);
  fw_inject(FW_POLL, 0, 2);       /* two timeouts: progress, then poll again */
  fw_inject(FW_READ, 0, 3);       /* short reads: records arrive in pieces */
  fw_inject(FW_WAITPID, EINTR, 1);
  fw_inject(FW_WRITE, EINTR, 1);  /* inherited: each worker's first write */
  int rc = sweep_exec(&sp, &st);
  fw_reset();
  char *err = capture_end(&cap);
  if (rc != AS_OK) fail_msg("sweep: %s", st.error);
  expect_same_stats(&st, &want);
  sweep_stats_clear(&st);
  assert_non_null(strstr(err, "selftest:abba: 30/30 seeds"));
  free(err);
  expect_no_children();

  sp.progress = 0;
  fw_inject(FW_POLL, EINTR, 1);
  fw_inject(FW_READ, EINTR, 1);
  /* (No short writes: a record is smaller than PIPE_BUF, so a pipe takes it
  ** whole; a worker's record split in two could interleave with another's.) */
  rc = sweep_exec(&sp, &st);
  fw_reset();
  if (rc != AS_OK) fail_msg("sweep: %s", st.error);
  expect_same_stats(&st, &want);
  sweep_stats_clear(&st);
  expect_no_children();

  /* More jobs than seeds: one worker per seed. */
  sweep_spec few = spec("selftest:counter", 2, 8);
  assert_int_equal(sweep_exec(&few, &st), AS_OK);
  assert_int_equal(st.runs, 2);
  sweep_stats_clear(&st);
  sweep_stats_clear(&want);
  expect_no_children();
}

static void test_sweep_shards(void **state) {
  (void)state;
  sweep_spec sp = spec("selftest:atomicity", 10, 1);
  sp.shard_i = 2;
  sp.shard_n = 3;
  sweep_stats a, b;
  assert_int_equal(sweep_exec(&sp, &a), AS_OK);
  assert_int_equal(a.runs, 3); /* seeds 101, 104, 107 */
  sp.jobs = 2;
  assert_int_equal(sweep_exec(&sp, &b), AS_OK);
  expect_same_stats(&a, &b);
  for (size_t i = 0; i < a.nfails; i++) assert_int_equal((a.fails[i].seed - 101) % 3, 0);
  sweep_stats_clear(&a);
  sweep_stats_clear(&b);
  expect_no_children();
}

static void test_sweep_pipe_and_fork_fail(void **state) {
  (void)state;
  sweep_spec sp = spec("selftest:counter", 12, WORKERS);
  sweep_stats st;
  fw_inject(FW_PIPE, EMFILE, 1);
  assert_int_equal(sweep_exec(&sp, &st), AS_SYS);
  assert_non_null(strstr(st.error, "pipe: "));
  sweep_stats_clear(&st);

  unsigned long n;
  for (n = 1;; n++) {
    fw_countdown(FW_BIT(FORK), n, EAGAIN, 0);
    int rc = sweep_exec(&sp, &st);
    fw_disarm();
    expect_no_children(); /* the workers that did start were stopped and reaped */
    if (!fw_fired()) {
      assert_int_equal(rc, AS_OK);
      assert_int_equal(st.runs, 12);
      sweep_stats_clear(&st);
      break;
    }
    assert_int_equal(rc, AS_SYS);
    assert_non_null(strstr(st.error, "fork: "));
    sweep_stats_clear(&st);
  }
  assert_int_equal(n, WORKERS + 1);
}

static void test_sweep_workers_that_fail(void **state) {
  (void)state;
  static const struct {
    fw_child what;
    const char *needle;
  } cases[] = {
      {FW_CHILD_EXIT0, "seeds were not reported"},
      {FW_CHILD_KILL, "died of signal 9"},
      {FW_CHILD_NOMEM, "exited with status 3"},
      {FW_CHILD_NOWRITE, "exited with status 3"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    sweep_spec sp = spec("selftest:counter", 6, 2);
    sweep_stats st;
    fw_child_action(cases[i].what);
    int rc = sweep_exec(&sp, &st);
    fw_reset();
    assert_int_equal(rc, AS_INTERNAL);
    if (!strstr(st.error, cases[i].needle))
      fail_msg("case %zu: error '%s' lacks '%s'", i, st.error, cases[i].needle);
    sweep_stats_clear(&st);
    expect_no_children();
  }
}

/* A seed whose run cannot take place stops the sweep with that seed named. */
static int flaky_setup(void *state, sim_rng *r) {
  (void)state;
  return sim_rng_below(r, 4) == 0 ? AS_IO : AS_OK;
}

static void flaky_main(void *state) { (void)state; }

static const sim_program flaky_prog = {
    .name = "test:flaky",
    .summary = "setup fails for some seeds",
    .est_tasks = 1,
    .est_steps = 1,
    .setup = flaky_setup,
    .main = flaky_main,
};

static void test_sweep_run_error(void **state) {
  (void)state;
  for (unsigned jobs = 1; jobs <= 2; jobs++) {
    sweep_spec sp = spec("selftest:counter", 40, jobs);
    sp.prog = &flaky_prog;
    sweep_stats st;
    assert_int_equal(sweep_exec(&sp, &st), AS_IO);
    assert_non_null(strstr(st.error, "input/output error: test:flaky: setup failed"));
    assert_int_equal(strncmp(st.error, "seed 1", 6), 0);
    sweep_stats_clear(&st);
    expect_no_children();
  }
}

int main(void) {
  (void)alarm(300); /* ignore: no earlier alarm; a hang dies of SIGALRM */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_sim_new_countdown, reset_faults),
      cmocka_unit_test_teardown(test_run_countdown, reset_faults),
      cmocka_unit_test_teardown(test_replay_countdown, reset_faults),
      cmocka_unit_test_teardown(test_schedule_encode_tolerates_nothing_lost, reset_faults),
      cmocka_unit_test_teardown(test_sweep_inprocess_countdown, reset_faults),
      cmocka_unit_test_teardown(test_sweep_forked_retries, reset_faults),
      cmocka_unit_test_teardown(test_sweep_shards, reset_faults),
      cmocka_unit_test_teardown(test_sweep_pipe_and_fork_fail, reset_faults),
      cmocka_unit_test_teardown(test_sweep_workers_that_fail, reset_faults),
      cmocka_unit_test_teardown(test_sweep_run_error, reset_faults),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

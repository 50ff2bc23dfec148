/*
** test_sim_paths.c -- the sim's seam and run loop on the paths test_sim.c
** does not take: every traced event kind, seam misuse that the sim reports
** as a failure, configuration errors, the program API outside a run, and the
** harness bugs that abort (in forked children).
**
** Tasks never call cmocka assertions (a longjmp out of a green stack would
** strand the scheduler); they record what they saw in `obs`.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentsim/seam.h"
#include "faultwrap.h"
#include "sim.h"

#define SEC_NS ((uint64_t)1000000000u)

static struct observations {
  int rc[8];
  uint64_t u[8];
  const void *p[4];
} obs;

static sim *S;

static int make_sim(void **state) {
  (void)state;
  fw_reset();
  memset(&obs, 0, sizeof obs);
  return sim_new(&S, SIM_SWITCH_FCONTEXT, 0) == AS_OK ? 0 : -1;
}

static int free_sim(void **state) {
  (void)state;
  sim_free(S);
  S = NULL;
  fw_reset();
  return 0;
}

static sim_config config(uint64_t seed) {
  sim_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.seed = seed;
  cfg.strategy = SIM_STRATEGY_RANDOM;
  return cfg;
}

/* Run p; sim_run must return want_rc. The caller clears res. */
static void run_expect(const sim_program *p, const sim_config *cfg, sim_result *res,
                       int want_rc) {
  int rc = sim_run(S, p, cfg, res);
  if (rc != want_rc)
    fail_msg("sim_run(%s) = %s, want %s: %s", p->name, as_status_name(rc),
             as_status_name(want_rc), res->message);
  assert_ptr_equal(as__plat, &as_platform_posix);
}

static void expect_failure(const sim_result *res, sim_outcome kind, const char *needle) {
  if (res->outcome != kind || !strstr(res->message, needle))
    fail_msg("outcome %s (want %s), message lacks \"%s\":\n%s", sim_outcome_name(res->outcome),
             sim_outcome_name(kind), needle, res->message);
}

/* Program state shared by the small programs below. */
typedef struct st {
  as_mutex *m;
  as_cond *c;
  as_task *a, *b;
  int flag;
  int parked; /* a waiter is about to wait (set under m) */
} st;

static int st_setup(void *state, sim_rng *r) {
  st *x = state;
  (void)r;
  if (as_mutex_new(&x->m) != AS_OK || as_cond_new(&x->c) != AS_OK) return AS_NOMEM;
  return AS_OK;
}

static void st_teardown(void *state) {
  st *x = state;
  as_cond_free(x->c);
  as_mutex_free(x->m);
}

#define PROGRAM(nm, mainfn)                                                    \
  static const sim_program nm##_prog = {                                       \
      .name = "test:" #nm,                                                     \
      .summary = #nm,                                                          \
      .state_size = sizeof(st),                                                \
      .est_tasks = 3,                                                          \
      .est_steps = 20,                                                         \
      .setup = st_setup,                                                       \
      .main = mainfn,                                                          \
      .teardown = st_teardown,                                                 \
  }

/* --- every event in the trace ----------------------------------------------- */

static void signaller(void *arg) {
  st *x = arg;
  as_mutex_lock(x->m);
  x->flag = 1;
  as_cond_signal(x->c);
  as_mutex_unlock(x->m);
}

static void trace_main(void *state) {
  st *x = state;
  unsigned char buf[13];
  obs.rc[0] = as_random_bytes(buf, sizeof buf);
  sim_fault_rate(AS_FP_SELFTEST, 1000000);
  obs.rc[1] = as_fault(AS_FP_SELFTEST);
  obs.rc[2] = as_fault(AS__FP_COUNT + 3); /* no such point: never a fault */
  sim_fault_rate(AS__FP_COUNT + 3, 5);    /* ignored */
  as_log(AS_LOG_INFO, "hello %d", 5);
  sim_advance(1000);
  sim_note("mark", 7);
  obs.p[0] = sim_workload_rng();
  obs.u[0] = as_task_id();
  obs.u[1] = as_now_mono_ns();
  obs.rc[3] = sim_mutant();
  as_cond_signal(x->c); /* nobody waits yet */
  as_mutex_lock(x->m);
  obs.rc[4] = as_task_spawn(&x->a, "signaller", signaller, x);
  while (!x->flag) obs.rc[5] = as_cond_timedwait(x->c, x->m, as_now_mono_ns() + 5 * SEC_NS);
  as_mutex_unlock(x->m);
  obs.rc[6] = as_mutex_trylock(x->m);
  as_mutex_unlock(x->m);
  obs.rc[7] = as_task_join(x->a);
  sim_step();
}

static int trace_setup(void *state, sim_rng *r) {
  obs.u[2] = as_task_id(); /* outside any task */
  as_log(AS_LOG_DEBUG, "from setup");
  return st_setup(state, r);
}

static const sim_program trace_prog = {
    .name = "test:trace",
    .summary = "every event kind",
    .state_size = sizeof(st),
    .est_tasks = 2,
    .est_steps = 20,
    .setup = trace_setup,
    .main = trace_main,
    .teardown = st_teardown,
};

static void test_trace_every_event(void **state) {
  (void)state;
  FILE *f = tmpfile();
  assert_non_null(f);
  sim_config cfg = config(11);
  cfg.trace = f;
  sim_result res;
  run_expect(&trace_prog, &cfg, &res, AS_OK);
  assert_int_equal(res.outcome, SIM_PASS);
  for (int i = 0; i < 8; i++)
    if (i != 1 && i != 2) assert_int_equal(obs.rc[i], AS_OK);
  assert_int_equal(obs.rc[1], 1);
  assert_int_equal(obs.rc[2], 0);
  assert_non_null(obs.p[0]);
  assert_int_equal(obs.u[0], 1); /* task 0's id + 1 */
  assert_int_equal(obs.u[1], 1000);
  assert_int_equal(obs.u[2], UINT64_MAX);
  uint64_t hash = res.trace_hash;
  sim_result_clear(&res);

  long size = ftell(f);
  assert_true(size > 0);
  char *text = calloc(1, (size_t)size + 1);
  assert_non_null(text);
  rewind(f);
  assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
  assert_int_equal(fclose(f), 0);
  static const char *const want[] = {
      "[sched] log debug: from setup", "random 13 bytes", "fault at point 0",
      "log info: hello 5",             "advance by 1000 ns", "note mark=7",
      "(no waiter)",                   "until 5000001000 ns", "wakes task 0",
      "(trylock)",                     "join task 1",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(text, want[i])) fail_msg("trace lacks \"%s\":\n%s", want[i], text);
  free(text);

  /* Tracing does not change the run; logging without a trace is silent. */
  cfg.trace = NULL;
  run_expect(&trace_prog, &cfg, &res, AS_OK);
  assert_int_equal(res.trace_hash, hash);
  sim_result_clear(&res);
}

/* --- misuse the sim reports -------------------------------------------------- */

static void nothing(void *arg) { (void)arg; }

static void join_twice_main(void *state) {
  st *x = state;
  if (as_task_spawn(&x->a, "child", nothing, NULL) != AS_OK) return;
  obs.rc[0] = as_task_join(x->a);
  obs.rc[1] = as_task_join(x->a); /* reported; does not return */
  obs.rc[2] = 99;
}
PROGRAM(join_twice, join_twice_main);

static void wait_unheld_main(void *state) {
  st *x = state;
  obs.rc[0] = as_cond_timedwait(x->c, x->m, AS_DEADLINE_NEVER);
}
PROGRAM(wait_unheld, wait_unheld_main);

static void free_locked_main(void *state) {
  st *x = state;
  as_mutex_lock(x->m);
  as_mutex_free(x->m);
}
PROGRAM(free_locked, free_locked_main);

static void cond_waiter(void *arg) {
  st *x = arg;
  as_mutex_lock(x->m);
  x->parked = 1;
  while (!x->flag) as_cond_wait(x->c, x->m);
  as_mutex_unlock(x->m);
}

/* Return holding m once the task that set x->parked under m waits on x->c. */
static void lock_when_parked(st *x) {
  for (;;) {
    as_mutex_lock(x->m);
    if (x->parked) return;
    as_mutex_unlock(x->m);
    sim_step();
  }
}

static void free_waited_main(void *state) {
  st *x = state;
  if (as_task_spawn(&x->a, "waiter", cond_waiter, x) != AS_OK) return;
  lock_when_parked(x);
  as_cond_free(x->c); /* reported; does not return */
  obs.rc[2] = 99;
}
PROGRAM(free_waited, free_waited_main);

static void assert_main(void *state) {
  (void)state;
  AS_ASSERT(1 + 1 == 3);
}
PROGRAM(assert_in_task, assert_main);

static void pass_kind_main(void *state) {
  (void)state;
  sim_fail(SIM_PASS, "a pass is not a failure kind");
}
PROGRAM(pass_kind, pass_kind_main);

static void unformattable_main(void *state) {
  (void)state;
  fw_inject(FW_VSNPRINTF, EILSEQ, 1);
  sim_fail(SIM_INVARIANT, "lost %d", 1);
}
PROGRAM(unformattable, unformattable_main);

static void nested_main(void *state) {
  (void)state;
  sim_result inner;
  sim_config cfg = config(1);
  obs.rc[0] = sim_run(S, &pass_kind_prog, &cfg, &inner);
  obs.rc[1] = strstr(inner.message, "already active") != NULL;
}
PROGRAM(nested, nested_main);

static void test_misuse_is_reported(void **state) {
  (void)state;
  static const struct {
    const sim_program *p;
    sim_outcome kind;
    const char *needle;
  } cases[] = {
      {&join_twice_prog, SIM_ASSERT, "joined twice"},
      {&wait_unheld_prog, SIM_ASSERT, "waited on without holding mutex"},
      {&free_locked_prog, SIM_ASSERT, "freed while locked"},
      {&free_waited_prog, SIM_ASSERT, "freed while tasks wait on it"},
      {&assert_in_task_prog, SIM_ASSERT, "assertion failed: 1 + 1 == 3"},
      {&pass_kind_prog, SIM_ASSERT, "a pass is not a failure kind"},
      {&unformattable_prog, SIM_INVARIANT, " [in task 0 'main'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    sim_config cfg = config(3);
    sim_result res;
    memset(&obs, 0, sizeof obs);
    run_expect(cases[i].p, &cfg, &res, AS_OK);
    expect_failure(&res, cases[i].kind, cases[i].needle);
    sim_result_clear(&res);
  }
  assert_int_equal(obs.rc[2], 0); /* nothing ran past a reported misuse */

  /* One run at a time per process. */
  sim_config cfg = config(5);
  sim_result res;
  memset(&obs, 0, sizeof obs);
  run_expect(&nested_prog, &cfg, &res, AS_OK);
  assert_int_equal(res.outcome, SIM_PASS);
  assert_int_equal(obs.rc[0], AS_BUSY);
  assert_int_equal(obs.rc[1], 1);
  sim_result_clear(&res);
}

/* --- deadlock and hang reports -------------------------------------------------- */

static void join_b(void *arg) {
  st *x = arg;
  sim_step();
  obs.rc[0] = as_task_join(x->b);
}

static void join_a(void *arg) {
  st *x = arg;
  sim_step();
  obs.rc[1] = as_task_join(x->a);
}

static void join_cycle_main(void *state) {
  st *x = state;
  if (as_task_spawn(&x->a, "a", join_b, x) != AS_OK) return;
  if (as_task_spawn(&x->b, "b", join_a, x) != AS_OK) return;
  sim_step();
  sim_step();
}
PROGRAM(join_cycle, join_cycle_main);

static void long_waiter(void *arg) {
  st *x = arg;
  as_mutex_lock(x->m);
  x->parked = 1;
  obs.rc[0] = as_cond_timedwait(x->c, x->m, 10 * SEC_NS);
  as_mutex_unlock(x->m);
}

static void short_waiter(void *arg) {
  st *x = arg;
  as_mutex_lock(x->m);
  obs.rc[1] = as_cond_timedwait(x->c, x->m, 1 * SEC_NS);
  as_mutex_unlock(x->m);
}

static void two_waiters_main(void *state) {
  st *x = state;
  if (as_task_spawn(&x->a, "long", long_waiter, x) != AS_OK) return;
  lock_when_parked(x); /* the long waiter queues first */
  as_mutex_unlock(x->m);
  if (as_task_spawn(&x->b, "short", short_waiter, x) != AS_OK) return;
  obs.rc[2] = as_task_join(x->b);
  obs.rc[3] = as_task_join(x->a);
}
PROGRAM(two_waiters, two_waiters_main);

static void test_reports(void **state) {
  (void)state;
  sim_config cfg = config(1);
  sim_result res;
  run_expect(&join_cycle_prog, &cfg, &res, AS_OK);
  expect_failure(&res, SIM_DEADLOCK, "-> join -> task");
  sim_result_clear(&res);

  /* The short waiter times out from the middle of the queue; the long one's
  ** timer lies past the virtual-time budget: a hang, naming the timed wait. */
  cfg.max_virtual_ns = 5 * SEC_NS;
  unsigned hangs = 0;
  for (uint64_t seed = 1; seed <= 8; seed++) {
    cfg.seed = seed;
    memset(&obs, 0, sizeof obs);
    run_expect(&two_waiters_prog, &cfg, &res, AS_OK);
    expect_failure(&res, SIM_HANG, "virtual-time budget");
    if (strstr(res.message, "with a timeout")) hangs++;
    assert_int_equal(obs.rc[1], AS_TIMEDOUT);
    assert_int_equal(obs.rc[2], AS_OK);
    sim_result_clear(&res);
  }
  assert_int_equal(hangs, 8);
}

/* --- setup, check, configuration ----------------------------------------------- */

static int failing_setup(void *state, sim_rng *r) {
  (void)state;
  (void)r;
  return AS_IO;
}

static void empty_main(void *state) { (void)state; }

static int failing_check(void *state, char *msg, size_t cap) {
  (void)state;
  snprintf(msg, cap, "the books do not balance");
  return 1;
}

static void spawned_in_setup(void *arg) { ((st *)arg)->flag = 1; }

static int spawning_setup(void *state, sim_rng *r) {
  st *x = state;
  int rc = st_setup(state, r);
  if (rc != AS_OK) return rc;
  return as_task_spawn(&x->a, "early", spawned_in_setup, x);
}

static void join_early_main(void *state) {
  st *x = state;
  obs.rc[0] = as_task_join(x->a);
  obs.rc[1] = x->flag;
}

static void test_setup_check_config(void **state) {
  (void)state;
  sim_config cfg = config(1);
  sim_result res;

  const sim_program bad_setup = {.name = "test:bad-setup", .setup = failing_setup,
                                 .main = empty_main};
  run_expect(&bad_setup, &cfg, &res, AS_IO);
  assert_non_null(strstr(res.message, "test:bad-setup: setup failed: input/output error"));

  const sim_program bad_check = {.name = "test:bad-check", .main = empty_main,
                                 .check = failing_check};
  run_expect(&bad_check, &cfg, &res, AS_OK);
  expect_failure(&res, SIM_INVARIANT, "at quiescence: the books do not balance");
  sim_result_clear(&res);

  const sim_program early = {.name = "test:early", .state_size = sizeof(st),
                             .setup = spawning_setup, .main = join_early_main,
                             .teardown = st_teardown};
  memset(&obs, 0, sizeof obs);
  run_expect(&early, &cfg, &res, AS_OK);
  assert_int_equal(res.outcome, SIM_PASS);
  assert_int_equal(obs.rc[0], AS_OK);
  assert_int_equal(obs.rc[1], 1);
  assert_int_equal(res.tasks, 2);
  sim_result_clear(&res);

  cfg.strategy = SIM_STRATEGY_REPLAY; /* without a schedule */
  run_expect(&early, &cfg, &res, AS_INVAL);
  assert_non_null(strstr(res.message, "replay needs a schedule string"));
  cfg.strategy = (sim_strategy_kind)42;
  run_expect(&early, &cfg, &res, AS_INVAL);
  cfg.strategy = SIM_STRATEGY_PCT;
  cfg.pct_depth = SIM_MAX_PCT_DEPTH + 1;
  run_expect(&early, &cfg, &res, AS_INVAL);

  /* PCT with neither a configured nor a program's k measures it: a program
  ** that never has two tasks runnable makes no decision, and k is 1. */
  cfg.pct_depth = 2;
  const sim_program no_estimate = {.name = "test:no-estimate", .main = empty_main};
  run_expect(&no_estimate, &cfg, &res, AS_OK);
  assert_non_null(strstr(res.options, "pct_k=1 pct_k_from=max-decisions-of-4-random+4-pct:d=1-runs "
                                      "pct_change_points=1"));
  sim_result_clear(&res);
}

/* The program API outside a run does nothing and breaks nothing. */
static void test_api_outside_a_run(void **state) {
  (void)state;
  sim_fail(SIM_ASSERT, "nobody hears this");
  sim_note("nobody", 1);
  sim_option("nobody", "%d", 1);
  sim_fault_rate(AS_FP_SELFTEST, 1000000);
  sim_advance(5);
  assert_int_equal(sim_mutant(), 0);
  assert_null(sim_workload_rng());
  assert_false(as_fault(AS_FP_SELFTEST));
  assert_string_equal(sim_outcome_name((sim_outcome)77), "?");
  assert_string_equal(sim_outcome_name(SIM_HANG), "hang");
}

/* --- harness bugs abort ---------------------------------------------------------- */

static void dump_and_die(int sig) {
  (void)sig;
  fw_gcov_dump();
}

static int yielding_setup(void *state, sim_rng *r) {
  (void)state;
  (void)r;
  as_task_yield(); /* a blocking call outside any task */
  return AS_OK;
}

static void child_block_in_setup(void) {
  sim *s = NULL;
  if (sim_new(&s, SIM_SWITCH_FCONTEXT, 0) != AS_OK) _exit(5);
  const sim_program p = {.name = "test:yield-in-setup", .setup = yielding_setup,
                         .main = empty_main};
  sim_config cfg = config(1);
  sim_result res;
  if (sim_run(s, &p, &cfg, &res) == AS_OK) _exit(6); /* it aborts first */
}

static void child_no_active_run(void) { sim_platform.task_yield(); }

static void expect_child_abort(void (*fn)(void), const char *needle) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  assert_int_equal(fflush(NULL), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    (void)signal(SIGABRT, dump_and_die); /* ignore: best effort in the child */
    (void)alarm(10); /* ignore: no earlier alarm */
    if (dup2(fds[1], STDERR_FILENO) < 0) _exit(4);
    fn();
    _exit(0);
  }
  assert_int_equal(close(fds[1]), 0);
  char text[4096];
  size_t len = 0;
  for (;;) {
    ssize_t got = read(fds[0], text + len, sizeof text - 1 - len);
    if (got <= 0) break;
    len += (size_t)got;
  }
  text[len] = '\0';
  assert_int_equal(close(fds[0]), 0);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT || !strstr(text, needle))
    fail_msg("child status 0x%x, wanted SIGABRT and \"%s\"; stderr:\n%s", (unsigned)status,
             needle, text);
}

static void test_harness_bugs_abort(void **state) {
  (void)state;
  expect_child_abort(child_block_in_setup, "called outside a sim task");
  expect_child_abort(child_no_active_run, "with no active run");
}

int main(void) {
  (void)alarm(120); /* ignore: no earlier alarm; a hang dies of SIGALRM */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_trace_every_event, make_sim, free_sim),
      cmocka_unit_test_setup_teardown(test_misuse_is_reported, make_sim, free_sim),
      cmocka_unit_test_setup_teardown(test_reports, make_sim, free_sim),
      cmocka_unit_test_setup_teardown(test_setup_check_config, make_sim, free_sim),
      cmocka_unit_test(test_api_outside_a_run),
      cmocka_unit_test(test_harness_bugs_abort),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

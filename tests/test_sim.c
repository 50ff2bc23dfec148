/*
** test_sim.c -- the deterministic scheduler (sim/) through its public API.
**
** Every test runs a small sim_program with sim_new/sim_run and asserts on the
** sim_result. cmocka assertions longjmp, and a longjmp out of a sim task
** would leave the scheduler stranded on a green stack, so tasks never assert:
** they record what they saw in `obs` (file-static, zeroed before each run,
** read by the test after sim_run returns) or end the run with sim_fail. The
** program's own state (state_size) holds the seam objects, which the sim
** zeroes and frees around each run.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testutil.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/seam.h"
#include "sim.h"

#define SEC_NS ((uint64_t)1000000000u)
#define HOUR_NS (3600u * SEC_NS)
#define DAY_NS (24u * HOUR_NS)

/* Length of a schedule string's header: "v3:", the 16-digit fingerprint
** and four 16-digit seeds, each followed by ':' (schedule.h). Decisions
** start here. */
#define SCHED_HEADER_LEN (3u + 5u * 17u)

#define OBS_LOG_MAX 64

/* What tasks saw, for the test to check after the run. */
static struct observations {
  int rc[4];
  uint64_t at[4];
  int flag;
  unsigned count[4];
  unsigned log[OBS_LOG_MAX];
  unsigned nlog;
  uint64_t when[OBS_LOG_MAX];
  int64_t wall_delta;
  const as_platform *plat_inside;
} obs;

/* --- helpers --------------------------------------------------------------- */

/* The sims a test made and has not freed: a failing assertion leaves the
** test early, and a leaked sim would keep its signal handlers counted as
** installed, so later tests' crashes would reach cmocka instead. */
#define SIMS_MAX 4
static sim *live_sims[SIMS_MAX];

static sim *make_sim(sim_switch_kind sw, size_t stack) {
  sim *s = NULL;
  assert_int_equal(sim_new(&s, sw, stack), AS_OK);
  assert_non_null(s);
  for (unsigned i = 0; i < SIMS_MAX; i++) {
    if (!live_sims[i]) {
      live_sims[i] = s;
      return s;
    }
  }
  fail_msg("more than %d sims alive", SIMS_MAX);
  return NULL;
}

static void free_sim(sim *s) {
  for (unsigned i = 0; i < SIMS_MAX; i++)
    if (live_sims[i] == s) live_sims[i] = NULL;
  sim_free(s);
}

static int free_leaked_sims(void **state) {
  (void)state;
  for (unsigned i = 0; i < SIMS_MAX; i++) {
    sim_free(live_sims[i]);
    live_sims[i] = NULL;
  }
  return 0;
}

static sim_config config(uint64_t seed) {
  sim_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.seed = seed;
  cfg.strategy = SIM_STRATEGY_RANDOM;
  return cfg;
}

/* Run p (sim_run must succeed) and reset obs first. The caller clears res. */
static void run(sim *s, const sim_program *p, const sim_config *cfg, sim_result *res) {
  memset(&obs, 0, sizeof obs);
  int rc = sim_run(s, p, cfg, res);
  if (rc != AS_OK)
    print_error("sim_run(%s) = %s: %s\n", p->name, as_status_name(rc), res->message);
  assert_int_equal(rc, AS_OK);
  assert_ptr_equal(as__plat, &as_platform_posix);
}

static void expect_outcome(const sim_result *res, sim_outcome want) {
  if (res->outcome != want)
    print_error("outcome %s, expected %s; message:\n%s\noptions: %s\n",
                sim_outcome_name(res->outcome), sim_outcome_name(want), res->message,
                res->options);
  assert_int_equal(res->outcome, want);
}

static void expect_in_message(const sim_result *res, const char *needle) {
  if (!strstr(res->message, needle))
    print_error("message lacks \"%s\":\n%s\n", needle, res->message);
  assert_non_null(strstr(res->message, needle));
}

/* Run p with seed and expect it to pass. */
static void run_pass(sim *s, const sim_program *p, uint64_t seed) {
  sim_config cfg = config(seed);
  sim_result res;
  run(s, p, &cfg, &res);
  expect_outcome(&res, SIM_PASS);
  assert_string_equal(res.message, "");
  sim_result_clear(&res);
}

static as_task *spawn_or_fail(const char *name, as_task_fn fn, void *arg) {
  as_task *t = NULL;
  if (as_task_spawn(&t, name, fn, arg) != AS_OK) sim_fail(SIM_ASSERT, "spawn %s failed", name);
  return t;
}

static void join_or_fail(as_task *t) {
  if (as_task_join(t) != AS_OK) sim_fail(SIM_ASSERT, "join failed");
}

/* Two mutexes and a condition variable: the state of most programs below. */
typedef struct mc_state {
  as_mutex *m, *m2;
  as_cond *c;
  as_task *child;
  int flag;
  unsigned waiting, woken;
} mc_state;

static int mc_setup(void *st, sim_rng *r) {
  mc_state *x = st;
  (void)r;
  int rc = as_mutex_new(&x->m);
  if (rc == AS_OK) rc = as_mutex_new(&x->m2);
  if (rc == AS_OK) rc = as_cond_new(&x->c);
  return rc;
}

/* Frees what setup made; only meaningful after a run that released them (a
** failed run's leftovers are reclaimed by the sim). */
static void mc_teardown(void *st) {
  mc_state *x = st;
  as_cond_free(x->c);
  as_mutex_free(x->m2);
  as_mutex_free(x->m);
}

#define MC_PROGRAM(ident, main_fn, steps)                                      \
  static const sim_program ident = {                                          \
      .name = #ident,                                                          \
      .summary = "test_sim: " #main_fn,                                       \
      .state_size = sizeof(mc_state),                                          \
      .est_tasks = 4,                                                          \
      .est_steps = (steps),                                                    \
      .setup = mc_setup,                                                       \
      .main = main_fn,                                                         \
      .teardown = mc_teardown,                                                 \
  }

/* --- mutex: mutual exclusion and lost updates -------------------------------- */

#define MX_TASKS 4
#define MX_INCS 8

typedef struct mx_state {
  as_mutex *m;
  int inside; /* tasks inside the critical section */
  uint64_t value;
} mx_state;

static int mx_setup(void *st, sim_rng *r) {
  (void)r;
  return as_mutex_new(&((mx_state *)st)->m);
}

static void mx_worker(void *arg) {
  mx_state *x = arg;
  /* Mutant 1 forgets the lock: the negative control for the checks below. */
  int locked = sim_mutant() != 1;
  for (unsigned i = 0; i < MX_INCS; i++) {
    if (locked) as_mutex_lock(x->m);
    x->inside++;
    uint64_t v = x->value;
    as_task_yield(); /* read-yield-write: correct only under the lock */
    x->value = v + 1;
    x->inside--;
    if (locked) as_mutex_unlock(x->m);
  }
}

static void mx_main(void *st) {
  as_task *ts[MX_TASKS];
  for (unsigned i = 0; i < MX_TASKS; i++) ts[i] = spawn_or_fail("worker", mx_worker, st);
  for (unsigned i = 0; i < MX_TASKS; i++) join_or_fail(ts[i]);
}

static int mx_invariant(void *st, char *msg, size_t cap) {
  mx_state *x = st;
  if (x->inside <= 1) return 0;
  snprintf(msg, cap, "%d tasks inside the critical section", x->inside);
  return 1;
}

static int mx_check(void *st, char *msg, size_t cap) {
  mx_state *x = st;
  if (x->value == (uint64_t)MX_TASKS * MX_INCS) return 0;
  snprintf(msg, cap, "counter is %" PRIu64 ", expected %u", x->value, MX_TASKS * MX_INCS);
  return 1;
}

static void mx_teardown(void *st) { as_mutex_free(((mx_state *)st)->m); }

static const sim_program mx_prog = {
    .name = "test:mutex-exclusion",
    .summary = "N tasks x M locked read-yield-write increments",
    .state_size = sizeof(mx_state),
    .est_tasks = MX_TASKS + 1,
    .est_steps = MX_TASKS * MX_INCS * 4 + 20,
    .setup = mx_setup,
    .main = mx_main,
    .invariant = mx_invariant,
    .check = mx_check,
    .teardown = mx_teardown,
};

#define MX_SEEDS 150

static void run_mx_seeds(sim_strategy_kind strategy, int mutant, unsigned *failures) {
  sim *s = make_sim(SIM_SWITCH_FCONTEXT, 0);
  *failures = 0;
  for (uint64_t seed = 1; seed <= MX_SEEDS; seed++) {
    sim_config cfg = config(seed);
    cfg.strategy = strategy;
    cfg.mutant = mutant;
    sim_result res;
    run(s, &mx_prog, &cfg, &res);
    if (!mutant) {
      if (res.outcome != SIM_PASS) print_error("seed %" PRIu64 ": ", seed);
      expect_outcome(&res, SIM_PASS);
      assert_true(res.steps >= (uint64_t)MX_TASKS * MX_INCS * 3);
    } else if (res.outcome != SIM_PASS) {
      assert_true(res.outcome == SIM_INVARIANT);
      (*failures)++;
    }
    sim_result_clear(&res);
  }
  free_sim(s);
}

static void test_mutex_exclusion_random(void **state) {
  (void)state;
  unsigned failures;
  run_mx_seeds(SIM_STRATEGY_RANDOM, 0, &failures);
  /* The same program without the lock must be caught, or the pass above
  ** proves nothing. */
  run_mx_seeds(SIM_STRATEGY_RANDOM, 1, &failures);
  assert_true(failures > MX_SEEDS / 2);
}

static void test_mutex_exclusion_pct(void **state) {
  (void)state;
  unsigned failures;
  run_mx_seeds(SIM_STRATEGY_PCT, 0, &failures);
  run_mx_seeds(SIM_STRATEGY_PCT, 1, &failures);
  assert_true(failures > 0);
}

/* --- mutex: trylock, relock, foreign unlock --------------------------------- */

static void try_holder(void *arg) {
  mc_state *x = arg;
  as_mutex_lock(x->m);
  as_sleep_until(2 * SEC_NS);
  as_mutex_unlock(x->m);
}

static void try_prober(void *arg) {
  mc_state *x = arg;
  as_sleep_until(1 * SEC_NS);
  obs.rc[0] = as_mutex_trylock(x->m); /* the holder sleeps with it */
  if (obs.rc[0] == AS_OK) as_mutex_unlock(x->m);
  as_sleep_until(3 * SEC_NS);
  obs.rc[1] = as_mutex_trylock(x->m); /* released at 2 s */
  if (obs.rc[1] == AS_OK) {
    obs.rc[2] = as_mutex_trylock(x->m); /* held by ourselves now: busy too */
    as_mutex_unlock(x->m);
  }
}

static void try_main(void *st) {
  as_task *a = spawn_or_fail("holder", try_holder, st);
  as_task *b = spawn_or_fail("prober", try_prober, st);
  join_or_fail(a);
  join_or_fail(b);
}
MC_PROGRAM(try_prog, try_main, 30);

static void test_mutex_trylock(void **state) {
  (void)state;
  sim *s = make_sim(SIM_SWITCH_FCONTEXT, 0);
  for (uint64_t seed = 1; seed <= 10; seed++) {
    sim_config cfg = config(seed);
    sim_result res;
    run(s, &try_prog, &cfg, &res);
    expect_outcome(&res, SIM_PASS);
    assert_int_equal(obs.rc[0], AS_BUSY);
    assert_int_equal(obs.rc[1], AS_OK);
    assert_int_equal(obs.rc[2], AS_BUSY);
    assert_int_equal(res.virtual_ns, 3 * SEC_NS);
    sim_result_clear(&res);
  }
  free_sim(s);
}

static void relock_main(void *st) {
  mc_state *x = st;
  as_mutex_lock(x->m);
  as_mutex_lock(x->m);
  obs.flag = 1; /* never reached: the run ends at the relock */
  as_mutex_unlock(x->m);
}
MC_PROGRAM(relock_prog, relock_main, 10);

static void foreign_owner(void *arg) {
  mc_state *x = arg;
  as_mutex_lock(x->m);
  as_sleep_until(2 * SEC_NS);
  as_mutex_unlock(x->m);
}

static void foreign_thief(void *arg) {
  mc_state *x = arg;
  as_sleep_until(1 * SEC_NS);
  /* Mutant 1: the mutex is held by another task; 2: it is not held at all. */
  as_mutex_unlock(sim_mutant() == 1 ? x->m : x->m2);
  obs.flag = 1; /* never reached */
}

static void foreign_main(void *st) {
  as_task *a = spawn_or_fail("owner", foreign_owner, st);
  as_task *b = spawn_or_fail("thief", foreign_thief, st);
  join_or_fail(a);
  join_or_fail(b);
}
MC_PROGRAM(foreign_prog, foreign_main, 20);

static void test_mutex_misuse(void **state) {
  (void)state;
  sim *s = make_sim(SIM_SWITCH_FCONTEXT, 0);
  sim_config cfg = config(3);
  sim_result res;

  run(s, &relock_prog, &cfg, &res);
  expect_outcome(&res, SIM_ASSERT);
  expect_in_message(&res, "locked again by its holder");
  expect_in_message(&res, "'main'");
  assert_int_equal(obs.flag, 0);
  sim_result_clear(&res);

  for (int mutant = 1; mutant <= 2; mutant++) {
    cfg.mutant = mutant;
    run(s, &foreign_prog, &cfg, &res);
    expect_outcome(&res, SIM_ASSERT);
    expect_in_message(&res, "unlocked by a task that does not hold it");
    expect_in_message(&res, "'thief'");
    assert_int_equal(obs.flag, 0);
    assert_int_equal(res.virtual_ns, 1 * SEC_NS);
    sim_result_clear(&res);
  }
  free_sim(s);
}

/* --- condition variables ---------------------------------------------------- */

#define CV_WAITERS 5

static void cv_waiter(void *arg) {
  mc_state *x = arg;
  as_mutex_lock(x->m);
  x->waiting++;
  /* No predicate loop on purpose: the sim has no spurious wakeups, so each
  ** return is one wakeup the test counts. */
  as_cond_wait(x->c, x->m);
  x->woken++;
  as_mutex_unlock(x->m);
}

static void cv_main(void *st) {
  mc_state *x = st;
  as_task *ts[CV_WAITERS];
  for (unsigned i = 0; i < CV_WAITERS; i++) ts[i] = spawn_or_fail("waiter", cv_waiter, x);
  /* Time moves only when every task is blocked: after each sleep, everyone
  ** who could run has run. */
  as_sleep_until(1 * SEC_NS);
  obs.count[0] = x->waiting;
  as_mutex_lock(x->m);
  as_cond_signal(x->c);
  as_mutex_unlock(x->m);
  as_sleep_until(2 * SEC_NS);
  obs.count[1] = x->woken;
  as_mutex_lock(x->m);
  as_cond_broadcast(x->c);
  as_mutex_unlock(x->m);
  as_sleep_until(3 * SEC_NS);
  obs.count[2] = x->woken;
  for (unsigned i = 0; i < CV_WAITERS; i++) join_or_fail(ts[i]);
}
MC_PROGRAM(cv_prog, cv_main, 60);

static void test_cond_signal_broadcast(void **state) {
  (void)state;
  sim *s = make_sim(SIM_SWITCH_FCONTEXT, 0);
  for (uint64_t seed = 1; seed <= 20; seed++) {
    sim_config cfg = config(seed);
    cfg.strategy = seed % 2 ? SIM_STRATEGY_RANDOM : SIM_STRATEGY_PCT;
    sim_result res;
    run(s, &cv_prog, &cfg, &res);
    expect_outcome(&res, SIM_PASS);
    assert_int_equal(obs.count[0], CV_WAITERS);
    assert_int_equal(obs.count[1], 1);
    assert_int_equal(obs.count[2], CV_WAITERS);
    sim_result_clear(&res);
  }
  free_sim(s);
}

/* Timed wait that nobody signals: times out at exactly its deadline. */
static void tw_timeout_main(void *st) {
  mc_state *x = st;
  as_sleep_until(1 * SEC_NS); /* so the deadline is not measured from 0 */
  uint64_t deadline = as_now_mono_ns() + 5 * SEC_NS;
  as_mutex_lock(x->m);
  obs.rc[0] = as_cond_timedwait(x->c, x->m, deadline);
  obs.at[0] = as_now_mono_ns();
  obs.flag = as_mutex_trylock(x->m) == AS_BUSY; /* the wait gave m back to us */
  as_mutex_unlock(x->m);
}
MC_PROGRAM(tw_timeout_prog, tw_timeout_main, 10);

static void tw_signaller(void *arg) {
  mc_state *x = arg;
  as_sleep_until(3 * SEC_NS);
  as_mutex_lock(x->m);
  x->flag = 1;
  as_cond_signal(x->c);
  as_mutex_unlock(x->m);
}

static void tw_waiter(void *arg) {
  mc_state *x = arg;
  int rc = AS_OK;
  as_mutex_lock(x->m);
  while (!x->flag && rc == AS_OK) rc = as_cond_timedwait(x->c, x->m, 10 * SEC_NS);
  obs.rc[0] = rc;
  obs.at[0] = as_now_mono_ns();
  obs.flag = x->flag;
  as_mutex_unlock(x->m);
}

static void tw_signal_main(void *st) {
  as_task *a = spawn_or_fail("waiter", tw_waiter, st);
  as_task *b = spawn_or_fail("signaller", tw_signaller, st);
  join_or_fail(a);
  join_or_fail(b);
}
MC_PROGRAM(tw_signal_prog, tw_signal_main, 20);

/* A deadline already past (and one equal to now) times out at once and time
** stays put, but the mutex is let go and retaken through a scheduling point
** (as pthreads does), so the intruder, woken at the same instant and racing
** for it, may change the flag across the waits: in some seeds it does. */
static void tw_intruder(void *arg) {
  mc_state *x = arg;
  as_sleep_until(5 * SEC_NS);
  as_mutex_lock(x->m);
  x->flag++;
  as_mutex_unlock(x->m);
}

static void tw_past_main(void *st) {
  mc_state *x = st;
  as_task *t = spawn_or_fail("intruder", tw_intruder, x);
  as_sleep_until(5 * SEC_NS);
  as_mutex_lock(x->m);
  int before = x->flag;
  obs.rc[0] = as_cond_timedwait(x->c, x->m, 2 * SEC_NS);
  obs.at[0] = as_now_mono_ns();
  obs.rc[1] = as_cond_timedwait(x->c, x->m, as_now_mono_ns());
  obs.at[1] = as_now_mono_ns();
  obs.flag = x->flag - before;
  as_mutex_unlock(x->m);
  join_or_fail(t);
}
MC_PROGRAM(tw_past_prog, tw_past_main, 20);

static void test_cond_timedwait(void **state) {
  (void)state;
  sim *s = make_sim(SIM_SWITCH_FCONTEXT, 0);
  sim_result res;
  unsigned slipped = 0;
  for (uint64_t seed = 1; seed <= 16; seed++) {
    sim_config cfg = config(seed);

    run(s, &tw_timeout_prog, &cfg, &res);
    expect_outcome(&res, SIM_PASS);
    assert_int_equal(obs.rc[0], AS_TIMEDOUT);
    assert_int_equal(obs.at[0], 6 * SEC_NS);
    assert_int_equal(obs.flag, 1);
    assert_int_equal(res.virtual_ns, 6 * SEC_NS);
    sim_result_clear(&res);

    run(s, &tw_signal_prog, &cfg, &res);
    expect_outcome(&res, SIM_PASS);
    assert_int_equal(obs.rc[0], AS_OK);
    assert_int_equal(obs.at[0], 3 * SEC_NS);
    assert_int_equal(obs.flag, 1);
    /* The cancelled timer must not move time on to 10 s. */
    assert_int_equal(res.virtual_ns, 3 * SEC_NS);
    sim_result_clear(&res);

    run(s, &tw_past_prog, &cfg, &res);
    expect_outcome(&res, SIM_PASS);
    assert_int_equal(obs.rc[0], AS_TIMEDOUT);
    assert_int_equal(obs.at[0], 5 * SEC_NS);
    assert_int_equal(obs.rc[1], AS_TIMEDOUT);
    assert_int_equal(obs.at[1], 5 * SEC_NS);
    assert_true(obs.flag == 0 || obs.flag == 1);
    slipped += obs.flag;
    assert_int_equal(res.virtual_ns, 5 * SEC_NS);
    sim_result_clear(&res);
  }
  /* Measured: the intruder slips in in 6 of these 16 seeds. */
  assert_true(slipped > 0 && slipped < 16);
  free_sim(s);
}

/* --- sleeping and virtual time ---------------------------------------------- */

static void days_main(void *st) {
  (void)st;
  int64_t wall0 = as_now_wall_ns();
  for (unsigned d = 1; d <= 3; d++) {
    uint64_t want = d * DAY_NS + (d == 3 ? 17 : 0);
    as_sleep_until(want);
    obs.at[d - 1] = as_now_mono_ns();
  }
  obs.wall_delta = as_now_wall_ns() - wall0;
  as_sleep_until(1 * DAY_NS); /* in the past: returns at once */
  obs.at[3] = as_now_mono_ns();
}

static const sim_program days_prog = {
    .name = "test:days",
    .summary = "sleep across three virtual days",
    .est_tasks = 1,
    .est_steps = 10,
    .main = days_main,
};

static void test_sleep_across_days(void **state) {
  (void)state;
  sim *s = make_sim(SIM_SWITCH_FCONTEXT, 0);
  sim_config cfg = config(11);
  sim_result res;
  run(s, &days_prog, &cfg, &res);
  expect_outcome(&res, SIM_PASS);
  assert_int_equal(obs.at[0], 1 * DAY_NS);
  assert_int_equal(obs.at[1], 2 * DAY_NS);
  assert_int_equal(obs.at[2], 3 * DAY_NS + 17);
  assert_int_equal(obs.at[3], 3 * DAY_NS + 17);
  assert_true(obs.wall_delta == (int64_t)(3 * DAY_NS + 17));
  assert_int_equal(res.virtual_ns, 3 * DAY_NS + 17);
  sim_result_clear(&res);
  free_sim(s);
}

#define ORDER_SLEEPERS 9

typedef struct order_arg {
  unsigned idx;
  uint64_t deadline;
} order_arg;

static void order_sleeper(void *arg) {
  order_arg *a = arg;
  as_sleep_until(a->deadline);
  if (obs.nlog < OBS_LOG_MAX) {
    obs.when[obs.nlog] = as_now_mono_ns();
    obs.log[obs.nlog++] = a->idx;
  }
}

static void order_main(void *st) {
  (void)st;
  order_arg args[ORDER_SLEEPERS];
  as_task *ts[ORDER_SLEEPERS];
  /* Deadlines in an order unrelated to spawn order: (i*4 mod 9)+1 minutes. */
  for (unsigned i = 0; i < ORDER_SLEEPERS; i++) {
    args[i].idx = i;
    args[i].deadline = ((i * 4u) % ORDER_SLEEPERS + 1) * 60u * SEC_NS;
    ts[i] = spawn_or_fail("sleeper", order_sleeper, &args[i]);
  }
  for (unsigned i = 0; i < ORDER_SLEEPERS; i++) join_or_fail(ts[i]);
}

static const sim_program order_prog = {
    .name = "test:sleep-order",
    .summary = "sleepers wake in deadline order",
    .est_tasks = ORDER_SLEEPERS + 1,
    .est_steps = 60,
    .main = order_main,
};

static void test_sleep_deadline_order(void **state) {
  (void)state;
  sim *s = make_sim(SIM_SWITCH_FCONTEXT, 0);
  for (uint64_t seed = 1; seed <= 10; seed++) {
    sim_config cfg = config(seed);
    cfg.strategy = seed % 2 ? SIM_STRATEGY_RANDOM : SIM_STRATEGY_PCT;
    sim_result res;
    run(s, &order_prog, &cfg, &res);
    expect_outcome(&res, SIM_PASS);
    assert_int_equal(obs.nlog, ORDER_SLEEPERS);
    for (unsigned k = 0; k < ORDER_SLEEPERS; k++) {
      unsigned i = obs.log[k];
      uint64_t deadline = ((i * 4u) % ORDER_SLEEPERS + 1) * 60u * SEC_NS;
      assert_int_equal(obs.when[k], deadline);
      assert_int_equal(obs.when[k], (k + 1) * 60u * SEC_NS);
    }
    sim_result_clear(&res);
  }
  free_sim(s);
}

/* Ties: sleepers reach one shared deadline in a known order (each first wakes
** alone at a distinct time, reversed from spawn order), then all wake at T.
** Which of the woken runs first is the strategy's choice, so the wake order
** is read from the event trace: the order in which the timers at T fire. */
#define TIE_SLEEPERS 6
#define TIE_T (1 * HOUR_NS)

static void tie_sleeper(void *arg) {
  unsigned idx = (unsigned)(uintptr_t)arg;
  as_sleep_until((TIE_SLEEPERS - idx) * SEC_NS);
  if (obs.nlog < OBS_LOG_MAX) obs.log[obs.nlog++] = idx; /* the order they sleep */
  as_sleep_until(TIE_T);
  if (as_now_mono_ns() != TIE_T) sim_fail(SIM_ASSERT, "woke at %" PRIu64, as_now_mono_ns());
}

static void tie_main(void *st) {
  (void)st;
  as_task *ts[TIE_SLEEPERS];
  char name[16];
  for (unsigned i = 0; i < TIE_SLEEPERS; i++) {
    snprintf(name, sizeof name, "sleeper-%u", i);
    ts[i] = spawn_or_fail(name, tie_sleeper, (void *)(uintptr_t)i);
  }
  for (unsigned i = 0; i < TIE_SLEEPERS; i++) join_or_fail(ts[i]);
}

static const sim_program tie_prog = {
    .name = "test:sleep-ties",
    .summary = "sleepers with one deadline wake in the order they slept",
    .est_tasks = TIE_SLEEPERS + 1,
    .est_steps = 60,
    .main = tie_main,
};

/* The sleeper indices in the order their timers at `deadline` fired, read
** from the trace. Only the parts of a trace line that say which task and
** when are relied on ("STEP SEC.NS  [ID NAME] event ..."): a sleeper's first
** line stamped at the deadline that mentions the deadline is its timer. */
static unsigned trace_timer_order(const char *trace, uint64_t deadline, unsigned *out,
                                  unsigned cap) {
  char want_time[48], want_ns[32];
  int seen[OBS_LOG_MAX] = {0};
  unsigned n = 0;
  snprintf(want_time, sizeof want_time, "%" PRIu64 ".%09" PRIu64, deadline / SEC_NS,
           deadline % SEC_NS);
  snprintf(want_ns, sizeof want_ns, "%" PRIu64, deadline);
  for (const char *line = trace; line && *line;) {
    const char *nl = strchr(line, '\n');
    char buf[512], when[48], name[AS_TASK_NAME_MAX];
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    if (len >= sizeof buf) len = sizeof buf - 1;
    memcpy(buf, line, len);
    buf[len] = '\0';
    unsigned long id, idx;
    char steps[32];
    const char *p = buf, *q = name;
    tu_spaces(&p);
    int parsed = tu_until(&p, " ", steps, sizeof steps) && (tu_spaces(&p), 1) &&
                 tu_until(&p, " ", when, sizeof when) && (tu_spaces(&p), 1) &&
                 tu_lit(&p, "[") && tu_uint(&p, &id) && tu_lit(&p, " ") &&
                 tu_until(&p, "]", name, sizeof name) && tu_lit(&p, "]");
    if (parsed && strcmp(when, want_time) == 0 && tu_lit(&q, "sleeper-") && tu_uint(&q, &idx) &&
        *q == '\0' && idx < OBS_LOG_MAX && !seen[idx] && strstr(p, want_ns) && n < cap) {
      seen[idx] = 1;
      out[n++] = idx;
    }
    line = nl ? nl + 1 : NULL;
  }
  return n;
}

static void test_sleep_ties_in_sleep_order(void **state) {
  (void)state;
  sim *s = make_sim(SIM_SWITCH_FCONTEXT, 0);
  for (uint64_t seed = 1; seed <= 6; seed++) {
    char *trace = NULL;
    size_t trace_len = 0;
    FILE *f = open_memstream(&trace, &trace_len);
    assert_non_null(f);
    sim_config cfg = config(seed);
    cfg.trace = f;
    sim_result res;
    run(s, &tie_prog, &cfg, &res);
    assert_int_equal(fclose(f), 0);
    expect_outcome(&res, SIM_PASS);
    assert_int_equal(obs.nlog, TIE_SLEEPERS);
    for (unsigned k = 0; k < TIE_SLEEPERS; k++) assert_int_equal(obs.log[k], TIE_SLEEPERS - 1 - k);
    unsigned woke[TIE_SLEEPERS + 1];
    unsigned n = trace_timer_order(trace, TIE_T, woke, TIE_SLEEPERS + 1);
    assert_int_equal(n, TIE_SLEEPERS);
    for (unsigned k = 0; k < TIE_SLEEPERS; k++) assert_int_equal(woke[k], obs.log[k]);
    free(trace);
    sim_result_clear(&res);
  }
  free_sim(s);
}

#define DAY_TASKS 4

static void day_ticker(void *arg) {
  (void)arg;
  for (unsigned h = 1; h <= 24; h++) {
    as_sleep_until(h * HOUR_NS);
    if (as_now_mono_ns() != h * HOUR_NS) sim_fail(SIM_ASSERT, "hour %u late", h);
    obs.count[0]++;
  }
}

static void day_main(void *st) {
  (void)st;
  as_task *ts[DAY_TASKS];
  int64_t wall0 = as_now_wall_ns();
  for (unsigned i = 0; i < DAY_TASKS; i++) ts[i] = spawn_or_fail("ticker", day_ticker, NULL);
  for (unsigned i = 0; i < DAY_TASKS; i++) join_or_fail(ts[i]);
  obs.wall_delta = as_now_wall_ns() - wall0;
}

static const sim_program day_prog = {
    .name = "test:day",
    .summary = "a whole virtual day of hourly sleeps",
    .est_tasks = DAY_TASKS + 1,
    .est_steps = 120,
    .main = day_main,
};

static void test_sleep_whole_day(void **state) {
  (void)state;
  sim *s = make_sim(SIM_SWITCH_FCONTEXT, 0);
  sim_config cfg = config(5);
  sim_result res;
  run(s, &day_prog, &cfg, &res);
  expect_outcome(&res, SIM_PASS);
  assert_int_equal(obs.count[0], 24 * DAY_TASKS);
  assert_true(obs.wall_delta == (int64_t)DAY_NS);
  assert_int_equal(res.virtual_ns, DAY_NS);
  sim_result_clear(&res);
  free_sim(s);
}

/* --- join ------------------------------------------------------------------- */

static void join_child(void *arg) {
  mc_state *x = arg;
  as_sleep_until(1 * SEC_NS);
  as_task_yield();
  x->flag = 1;
}

static void join_main(void *st) {
  mc_state *x = st;
  as_task *t = spawn_or_fail("child", join_child, x);
  obs.rc[0] = as_task_join(t);
  obs.flag = x->flag;
  obs.at[0] = as_now_mono_ns();
}
MC_PROGRAM(join_prog, join_main, 10);

static void self_child(void *arg) {
  mc_state *x = arg;
  while (!x->child) as_task_yield();
  obs.rc[0] = as_task_join(x->child);
}

static void self_main(void *st) {
  mc_state *x = st;
  x->child = spawn_or_fail("child", self_child, x);
  obs.rc[1] = as_task_join(x->child);
}
MC_PROGRAM(self_prog, self_main, 10);

static void twice_child(void *arg) { (void)arg; }

static void twice_main(void *st) {
  (void)st;
  as_task *t = spawn_or_fail("child", twice_child, NULL);
  obs.rc[0] = as_task_join(t);
  obs.flag = 1;
  obs.rc[1] = as_task_join(t); /* ends the run */
  obs.flag = 2;
}
MC_PROGRAM(twice_prog, twice_main, 10);

static void test_join(void **state) {
  (void)state;
  sim *s = make_sim(SIM_SWITCH_FCONTEXT, 0);
  sim_result res;
  for (uint64_t seed = 1; seed <= 10; seed++) {
    sim_config cfg = config(seed);
    run(s, &join_prog, &cfg, &res);
    expect_outcome(&res, SIM_PASS);
    assert_int_equal(obs.rc[0], AS_OK);
    assert_int_equal(obs.flag, 1);
    assert_int_equal(obs.at[0], 1 * SEC_NS);
    sim_result_clear(&res);

    run(s, &self_prog, &cfg, &res);
    expect_outcome(&res, SIM_PASS);
    assert_int_equal(obs.rc[0], AS_INVAL);
    assert_int_equal(obs.rc[1], AS_OK);
    sim_result_clear(&res);

    run(s, &twice_prog, &cfg, &res);
    expect_outcome(&res, SIM_ASSERT);
    expect_in_message(&res, "joined twice");
    expect_in_message(&res, "'main'");
    assert_int_equal(obs.rc[0], AS_OK);
    assert_int_equal(obs.flag, 1);
    sim_result_clear(&res);
  }
  free_sim(s);
}

/* --- deadlock --------------------------------------------------------------- */

/* Each takes its first lock, sleeps so the other surely takes its own, then
** wants the other's: a cycle under every schedule. */
static void abba_alpha(void *arg) {
  mc_state *x = arg;
  as_mutex_lock(x->m);
  as_sleep_until(1 * SEC_NS);
  as_mutex_lock(x->m2);
  as_mutex_unlock(x->m2);
  as_mutex_unlock(x->m);
}

static void abba_beta(void *arg) {
  mc_state *x = arg;
  as_mutex_lock(x->m2);
  as_sleep_until(1 * SEC_NS);
  as_mutex_lock(x->m);
  as_mutex_unlock(x->m);
  as_mutex_unlock(x->m2);
}

static void abba_main(void *st) {
  as_task *a = spawn_or_fail("alpha", abba_alpha, st);
  as_task *b = spawn_or_fail("beta", abba_beta, st);
  join_or_fail(a);
  join_or_fail(b);
}
MC_PROGRAM(abba_prog, abba_main, 20);

static void lonely_waiter(void *arg) {
  mc_state *x = arg;
  as_mutex_lock(x->m);
  while (!x->flag) as_cond_wait(x->c, x->m);
  as_mutex_unlock(x->m);
}

static void lonely_main(void *st) { join_or_fail(spawn_or_fail("lonely", lonely_waiter, st)); }
MC_PROGRAM(lonely_prog, lonely_main, 10);

static void test_deadlock(void **state) {
  (void)state;
  sim *s = make_sim(SIM_SWITCH_FCONTEXT, 0);
  sim_result res;
  for (uint64_t seed = 1; seed <= 10; seed++) {
    sim_config cfg = config(seed);
    cfg.strategy = seed % 2 ? SIM_STRATEGY_RANDOM : SIM_STRATEGY_PCT;
    run(s, &abba_prog, &cfg, &res);
    expect_outcome(&res, SIM_DEADLOCK);
    expect_in_message(&res, "wait-for graph");
    expect_in_message(&res, "'alpha'");
    expect_in_message(&res, "'beta'");
    expect_in_message(&res, "held by");
    expect_in_message(&res, "cycle:");
    assert_int_equal(res.virtual_ns, 1 * SEC_NS);
    sim_result_clear(&res);

    run(s, &lonely_prog, &cfg, &res);
    expect_outcome(&res, SIM_DEADLOCK);
    expect_in_message(&res, "wait-for graph");
    expect_in_message(&res, "'lonely' waits on condition");
    assert_null(strstr(res.message, "cycle:"));
    sim_result_clear(&res);
  }
  free_sim(s);
}

/* --- hang ------------------------------------------------------------------- */

static void spinner(void *arg) {
  (void)arg;
  for (;;) as_task_yield();
}

static void spin_main(void *st) {
  (void)st;
  as_task *a = spawn_or_fail("spinner-a", spinner, NULL);
  as_task *b = spawn_or_fail("spinner-b", spinner, NULL);
  join_or_fail(a);
  join_or_fail(b);
}

static const sim_program spin_prog = {
    .name = "test:spin",
    .summary = "two tasks yield forever",
    .est_tasks = 3,
    .est_steps = 100,
    .main = spin_main,
};

static void napper(void *arg) {
  (void)arg;
  for (;;) as_sleep_until(as_now_mono_ns() + 60 * SEC_NS);
}

static void nap_main(void *st) {
  (void)st;
  join_or_fail(spawn_or_fail("napper", napper, NULL));
}

static const sim_program nap_prog = {
    .name = "test:nap",
    .summary = "a task sleeps in a loop forever",
    .est_tasks = 2,
    .est_steps = 100,
    .main = nap_main,
};

static void test_hang(void **state) {
  (void)state;
  sim *s = make_sim(SIM_SWITCH_FCONTEXT, 0);
  sim_config cfg = config(9);
  sim_result res;

  cfg.max_steps = 1000;
  run(s, &spin_prog, &cfg, &res);
  expect_outcome(&res, SIM_HANG);
  expect_in_message(&res, "step budget");
  expect_in_message(&res, "spinner-a");
  assert_int_equal(res.steps, 1000);
  assert_int_equal(res.virtual_ns, 0);
  sim_result_clear(&res);

  cfg = config(9);
  cfg.max_virtual_ns = HOUR_NS;
  run(s, &nap_prog, &cfg, &res);
  expect_outcome(&res, SIM_HANG);
  expect_in_message(&res, "virtual-time budget");
  expect_in_message(&res, "napper");
  assert_int_equal(res.virtual_ns, HOUR_NS);
  assert_true(res.steps < 200);
  sim_result_clear(&res);
  free_sim(s);
}

/* --- crashes ---------------------------------------------------------------- */

typedef struct crash_state {
  int *volatile nowhere; /* NULL, out of the optimiser's sight */
  unsigned limit;
} crash_state;

static int crash_setup(void *st, sim_rng *r) {
  (void)r;
  ((crash_state *)st)->limit = UINT_MAX;
  return AS_OK;
}

/* The NULL store is the point: keep UBSan from turning it into an exit. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((no_sanitize("null")))
#endif
static void write_null(crash_state *x) {
  *(volatile int *)x->nowhere = 42;
}

/* Recursion that cannot become a loop: each frame keeps a volatile array
** and reads it after the call returns. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static unsigned recurse(unsigned depth, unsigned limit) {
  volatile unsigned char pad[512];
  pad[depth % sizeof pad] = (unsigned char)depth;
  if (depth >= limit) return pad[depth % sizeof pad];
  unsigned r = recurse(depth + 1, limit);
  return r + pad[depth % sizeof pad];
}

static void crasher(void *arg) {
  crash_state *x = arg;
  as_task_yield();
  switch (sim_mutant()) {
  case 1: write_null(x); break;
  case 2: abort();
  case 3: obs.count[0] = recurse(0, x->limit); break;
  default: break;
  }
  obs.flag = 1; /* never reached */
}

static void crash_main(void *st) {
  as_task *t = spawn_or_fail("crasher", crasher, st);
  as_task_yield();
  join_or_fail(t);
}

static const sim_program crash_prog = {
    .name = "test:crash",
    .summary = "a task that faults (mutant 1: NULL write, 2: abort, 3: recursion)",
    .state_size = sizeof(crash_state),
    .est_tasks = 2,
    .est_steps = 10,
    .setup = crash_setup,
    .main = crash_main,
};

static void expect_crash(sim *s, int mutant, const char *signal_text) {
  sim_config cfg = config(21);
  cfg.mutant = mutant;
  sim_result res;
  run(s, &crash_prog, &cfg, &res);
  expect_outcome(&res, SIM_CRASH);
  expect_in_message(&res, signal_text);
  expect_in_message(&res, "'crasher'");
  if (mutant == 3)
    expect_in_message(&res, "stack overflow");
  else
    assert_null(strstr(res.message, "stack overflow"));
  assert_int_equal(obs.flag, 0);
  sim_result_clear(&res);
  /* The same sim runs on as if nothing happened. */
  run_pass(s, &mx_prog, 4);
  run_pass(s, &cv_prog, 4);
}

static void test_crash_null_write(void **state) {
  (void)state;
  sim *s = make_sim(SIM_SWITCH_FCONTEXT, 0);
  expect_crash(s, 1, "signal 11");
  expect_crash(s, 1, "signal 11"); /* the handler is still in place */
  free_sim(s);
}

static void test_crash_abort(void **state) {
  (void)state;
  sim *s = make_sim(SIM_SWITCH_FCONTEXT, 0);
  expect_crash(s, 2, "signal 6");
  expect_crash(s, 2, "signal 6");
  free_sim(s);
}

static void test_crash_stack_overflow(void **state) {
  (void)state;
  sim *s = make_sim(SIM_SWITCH_FCONTEXT, 64 * 1024);
  expect_crash(s, 3, "signal 11");
  expect_crash(s, 3, "signal 11");
  free_sim(s);
  s = make_sim(SIM_SWITCH_UCONTEXT, 64 * 1024);
  expect_crash(s, 3, "signal 11");
  free_sim(s);
}

/* Two sims alive at once: freeing one must not take the other's alternate
** signal stack with it, or the other's next stack overflow kills the
** process (the handler would have to run on the overflowed stack). */
static void test_crash_with_two_sims(void **state) {
  (void)state;
  sim *a = make_sim(SIM_SWITCH_FCONTEXT, 64 * 1024);
  sim *b = make_sim(SIM_SWITCH_UCONTEXT, 64 * 1024);
  free_sim(b); /* made last: its alternate stack was the one installed */
  expect_crash(a, 3, "signal 11");
  b = make_sim(SIM_SWITCH_FCONTEXT, 64 * 1024);
  free_sim(a); /* made first, but ran last */
  expect_crash(b, 3, "signal 11");
  expect_crash(b, 1, "signal 11");
  free_sim(b);
}

/* --- both context switches -------------------------------------------------- */

static void run_on_both(const sim_program *p, uint64_t seed, sim_outcome want) {
  sim_result res[2];
  static const sim_switch_kind sws[2] = {SIM_SWITCH_FCONTEXT, SIM_SWITCH_UCONTEXT};
  for (int i = 0; i < 2; i++) {
    sim *s = make_sim(sws[i], 0);
    sim_config cfg = config(seed);
    run(s, p, &cfg, &res[i]);
    expect_outcome(&res[i], want);
    assert_non_null(strstr(res[i].options, i ? "switch=ucontext" : "switch=fcontext"));
    free_sim(s);
  }
  assert_int_equal(res[0].trace_hash, res[1].trace_hash);
  assert_int_equal(res[0].steps, res[1].steps);
  assert_string_equal(res[0].schedule, res[1].schedule);
  assert_string_equal(res[0].message, res[1].message);
  sim_result_clear(&res[0]);
  sim_result_clear(&res[1]);
}

static void test_both_switches(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 5; seed++) {
    run_on_both(&mx_prog, seed, SIM_PASS);
    run_on_both(&cv_prog, seed, SIM_PASS);
    run_on_both(&abba_prog, seed, SIM_DEADLOCK);
  }
}

/* --- determinism ------------------------------------------------------------ */

static void test_same_seed_same_run(void **state) {
  (void)state;
  sim *s = make_sim(SIM_SWITCH_FCONTEXT, 0);
  uint64_t first_hash = 0;
  int hashes_differ = 0;
  for (uint64_t seed = 1; seed <= 12; seed++) {
    for (int strategy = 0; strategy < 2; strategy++) {
      sim_config cfg = config(seed);
      cfg.strategy = strategy ? SIM_STRATEGY_PCT : SIM_STRATEGY_RANDOM;
      sim_result a, b;
      run(s, &mx_prog, &cfg, &a);
      run(s, &mx_prog, &cfg, &b);
      expect_outcome(&a, SIM_PASS);
      assert_int_equal(a.trace_hash, b.trace_hash);
      assert_int_equal(a.steps, b.steps);
      assert_int_equal(a.decisions, b.decisions);
      assert_true(a.decisions > 0);
      assert_non_null(a.schedule);
      assert_string_equal(a.schedule, b.schedule);
      assert_string_equal(a.options, b.options);
      if (seed == 1 && strategy == 0)
        first_hash = a.trace_hash;
      else if (a.trace_hash != first_hash)
        hashes_differ = 1;
      sim_result_clear(&a);
      sim_result_clear(&b);
    }
  }
  /* A hash that never changes would make every comparison above vacuous. */
  assert_true(hashes_differ);
  free_sim(s);
}

static void replay_matches(sim *s, const sim_program *p, sim_strategy_kind strategy,
                           uint64_t seed, sim_outcome want) {
  sim_config cfg = config(seed);
  cfg.strategy = strategy;
  sim_result first, again;
  run(s, p, &cfg, &first);
  expect_outcome(&first, want);
  sim_config rcfg = config(0);
  rcfg.strategy = SIM_STRATEGY_REPLAY;
  rcfg.schedule = first.schedule;
  run(s, p, &rcfg, &again);
  expect_outcome(&again, want);
  assert_int_equal(again.trace_hash, first.trace_hash);
  assert_int_equal(again.steps, first.steps);
  assert_int_equal(again.virtual_ns, first.virtual_ns);
  assert_string_equal(again.schedule, first.schedule);
  assert_non_null(strstr(again.options, "strategy=replay"));
  sim_result_clear(&first);
  sim_result_clear(&again);
}

static void test_replay(void **state) {
  (void)state;
  sim *s = make_sim(SIM_SWITCH_FCONTEXT, 0);
  for (uint64_t seed = 1; seed <= 8; seed++) {
    replay_matches(s, &mx_prog, SIM_STRATEGY_RANDOM, seed, SIM_PASS);
    replay_matches(s, &mx_prog, SIM_STRATEGY_PCT, seed, SIM_PASS);
    replay_matches(s, &cv_prog, SIM_STRATEGY_RANDOM, seed, SIM_PASS);
    replay_matches(s, &abba_prog, SIM_STRATEGY_RANDOM, seed, SIM_DEADLOCK);
  }
  free_sim(s);
}

/* Replay `schedule` and return sim_run's status; res is cleared. */
static int replay_status(sim *s, const char *schedule, char *msg, size_t cap) {
  sim_config cfg = config(0);
  cfg.strategy = SIM_STRATEGY_REPLAY;
  cfg.schedule = schedule;
  sim_result res;
  int rc = sim_run(s, &mx_prog, &cfg, &res);
  assert_ptr_equal(as__plat, &as_platform_posix);
  snprintf(msg, cap, "%s", res.message);
  sim_result_clear(&res);
  return rc;
}

static void test_replay_bad_schedules(void **state) {
  (void)state;
  sim *s = make_sim(SIM_SWITCH_FCONTEXT, 0);
  sim_config cfg = config(77);
  sim_result first;
  char msg[SIM_MSG_MAX];
  run(s, &mx_prog, &cfg, &first);
  expect_outcome(&first, SIM_PASS);
  size_t len = strlen(first.schedule);
  assert_true(len > SCHED_HEADER_LEN);
  char *bad = malloc(len + 8);
  assert_non_null(bad);

  /* Corrupt: a bad version, a non-hex seed digit, a bad decision char. */
  memcpy(bad, first.schedule, len + 1);
  bad[1] = '9';
  assert_int_equal(replay_status(s, bad, msg, sizeof msg), AS_PARSE);
  memcpy(bad, first.schedule, len + 1);
  bad[5] = 'G';
  assert_int_equal(replay_status(s, bad, msg, sizeof msg), AS_PARSE);
  assert_non_null(strstr(msg, "hex"));
  memcpy(bad, first.schedule, len + 1);
  bad[SCHED_HEADER_LEN] = '!';
  assert_int_equal(replay_status(s, bad, msg, sizeof msg), AS_PARSE);
  assert_int_equal(replay_status(s, "garbage", msg, sizeof msg), AS_PARSE);

  /* Diverged: the first decision names task 61 ('Z'), which never exists. */
  memcpy(bad, first.schedule, SCHED_HEADER_LEN);
  memcpy(bad + SCHED_HEADER_LEN, "Z::", 4);
  assert_int_equal(replay_status(s, bad, msg, sizeof msg), AS_DIVERGED);
  assert_non_null(strstr(msg, "task 61 is not runnable"));
  /* ... and a schedule with no decisions runs out. */
  memcpy(bad + SCHED_HEADER_LEN, "::", 3);
  assert_int_equal(replay_status(s, bad, msg, sizeof msg), AS_DIVERGED);
  assert_non_null(strstr(msg, "ran out"));

  /* The intact schedule still replays on the same sim. */
  sim_result again;
  sim_config rcfg = config(0);
  rcfg.strategy = SIM_STRATEGY_REPLAY;
  rcfg.schedule = first.schedule;
  run(s, &mx_prog, &rcfg, &again);
  expect_outcome(&again, SIM_PASS);
  assert_int_equal(again.trace_hash, first.trace_hash);
  sim_result_clear(&again);

  free(bad);
  sim_result_clear(&first);
  free_sim(s);
}

/* --- options, faults, platform ---------------------------------------------- */

static int opt_setup(void *st, sim_rng *r) {
  (void)st;
  sim_option("widgets", "%d", 7);
  sim_option("colour", "%s", "teal");
  sim_option("drawn", "%" PRIu64, sim_rng_range(r, 100, 100));
  return AS_OK;
}

#define FAULT_TRIES 200

static void opt_main(void *st) {
  (void)st;
  obs.plat_inside = as__plat;
  if (sim_mutant() == 1) {
    /* No rate set in this run: whatever the last run left must be gone. */
    for (unsigned i = 0; i < FAULT_TRIES; i++) obs.count[3] += as_fault(AS_FP_SELFTEST);
    return;
  }
  sim_fault_rate(AS_FP_SELFTEST, 1000000);
  for (unsigned i = 0; i < FAULT_TRIES; i++) obs.count[0] += as_fault(AS_FP_SELFTEST);
  sim_fault_rate(AS_FP_SELFTEST, 0);
  for (unsigned i = 0; i < FAULT_TRIES; i++) obs.count[1] += as_fault(AS_FP_SELFTEST);
  sim_fault_rate(AS_FP_SELFTEST, 500000);
  for (unsigned i = 0; i < FAULT_TRIES; i++) obs.count[2] += as_fault(AS_FP_SELFTEST);
}

static const sim_program opt_prog = {
    .name = "test:options",
    .summary = "options and fault rates",
    .est_tasks = 1,
    .est_steps = 10,
    .setup = opt_setup,
    .main = opt_main,
};

static void test_options_and_faults(void **state) {
  (void)state;
  sim *s = make_sim(SIM_SWITCH_FCONTEXT, 0);
  sim_config cfg = config(1234);
  sim_result res;
  run(s, &opt_prog, &cfg, &res);
  expect_outcome(&res, SIM_PASS);
  assert_non_null(strstr(res.options, "widgets=7"));
  assert_non_null(strstr(res.options, "colour=teal"));
  assert_non_null(strstr(res.options, "drawn=100"));
  assert_non_null(strstr(res.options, "seed=1234"));
  assert_non_null(strstr(res.options, "strategy=random"));
  assert_int_equal(obs.count[0], FAULT_TRIES);
  assert_int_equal(obs.count[1], 0);
  assert_true(obs.count[2] > 0 && obs.count[2] < FAULT_TRIES);
  assert_ptr_equal(obs.plat_inside, &sim_platform);
  sim_result_clear(&res);

  /* Faults are off outside a run, and a fresh run starts with rate 0. */
  assert_false(as_fault(AS_FP_SELFTEST));
  cfg.mutant = 1;
  run(s, &opt_prog, &cfg, &res);
  expect_outcome(&res, SIM_PASS);
  assert_int_equal(obs.count[3], 0);
  sim_result_clear(&res);
  free_sim(s);
}

static void test_platform_restored(void **state) {
  (void)state;
  sim *s = make_sim(SIM_SWITCH_FCONTEXT, 0);
  sim_config cfg = config(2);
  sim_result res;
  assert_ptr_equal(as__plat, &as_platform_posix);
  run(s, &opt_prog, &cfg, &res); /* run() asserts the restore after each run */
  assert_ptr_equal(obs.plat_inside, &sim_platform);
  sim_result_clear(&res);
  run(s, &abba_prog, &cfg, &res);
  expect_outcome(&res, SIM_DEADLOCK);
  sim_result_clear(&res);
  cfg.max_steps = 50;
  run(s, &spin_prog, &cfg, &res);
  expect_outcome(&res, SIM_HANG);
  sim_result_clear(&res);
  assert_false(as__fault_armed);
  free_sim(s);
  assert_ptr_equal(as__plat, &as_platform_posix);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_mutex_exclusion_random, free_leaked_sims),
      cmocka_unit_test_teardown(test_mutex_exclusion_pct, free_leaked_sims),
      cmocka_unit_test_teardown(test_mutex_trylock, free_leaked_sims),
      cmocka_unit_test_teardown(test_mutex_misuse, free_leaked_sims),
      cmocka_unit_test_teardown(test_cond_signal_broadcast, free_leaked_sims),
      cmocka_unit_test_teardown(test_cond_timedwait, free_leaked_sims),
      cmocka_unit_test_teardown(test_sleep_across_days, free_leaked_sims),
      cmocka_unit_test_teardown(test_sleep_deadline_order, free_leaked_sims),
      cmocka_unit_test_teardown(test_sleep_ties_in_sleep_order, free_leaked_sims),
      cmocka_unit_test_teardown(test_sleep_whole_day, free_leaked_sims),
      cmocka_unit_test_teardown(test_join, free_leaked_sims),
      cmocka_unit_test_teardown(test_deadlock, free_leaked_sims),
      cmocka_unit_test_teardown(test_hang, free_leaked_sims),
      cmocka_unit_test_teardown(test_crash_null_write, free_leaked_sims),
      cmocka_unit_test_teardown(test_crash_abort, free_leaked_sims),
      cmocka_unit_test_teardown(test_crash_stack_overflow, free_leaked_sims),
      cmocka_unit_test_teardown(test_crash_with_two_sims, free_leaked_sims),
      cmocka_unit_test_teardown(test_both_switches, free_leaked_sims),
      cmocka_unit_test_teardown(test_same_seed_same_run, free_leaked_sims),
      cmocka_unit_test_teardown(test_replay, free_leaked_sims),
      cmocka_unit_test_teardown(test_replay_bad_schedules, free_leaked_sims),
      cmocka_unit_test_teardown(test_options_and_faults, free_leaked_sims),
      cmocka_unit_test_teardown(test_platform_restored, free_leaked_sims),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

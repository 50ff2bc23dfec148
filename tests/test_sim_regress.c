/*
** test_sim_regress.c -- regressions for bugs a review of the scheduler
** found: each test failed before its fix.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "simfix.h"

#define HOUR_NS ((uint64_t)3600 * 1000000000u)


/* --- a spinning task must not starve the one it waits for under PCT ------- */

static int spin_flag;

static void spin_setter(void *arg) {
  (void)arg;
  sim_step();
  spin_flag = 1;
}

static void spin_main(void *st) {
  (void)st;
  spin_flag = 0;
  as_task *t = NULL;
  if (as_task_spawn(&t, "setter", spin_setter, NULL) != AS_OK) sim_fail(SIM_ASSERT, "spawn");
  while (!spin_flag) as_task_yield();
  if (as_task_join(t) != AS_OK) sim_fail(SIM_ASSERT, "join");
}

static const sim_program spin_prog = {.name = "spin", .est_steps = 20, .main = spin_main};

static void test_pct_spin_wait_is_not_a_hang(void **state) {
  (void)state;
  for (unsigned d = 1; d <= 3; d++) {
    for (uint64_t seed = 0; seed < 200; seed++) {
      sim_config cfg = {.seed = seed, .strategy = SIM_STRATEGY_PCT, .pct_depth = d,
                        .max_steps = 10000};
      sim_result r;
      assert_int_equal(sim_run(S, &spin_prog, &cfg, &r), AS_OK);
      if (r.outcome != SIM_PASS) fail_msg("d=%u seed %lu: %s", d, (unsigned long)seed, r.message);
      sim_result_clear(&r);
    }
  }
}

/* --- freeing a mutex that woken waiters are about to retake ---------------- */

typedef struct freeing {
  as_mutex *m;
  int started;
} freeing;

static void freeing_waiter(void *arg) {
  freeing *x = arg;
  x->started = 1;
  as_mutex_lock(x->m);
  as_mutex_unlock(x->m);
}

static void freeing_main(void *st) {
  freeing *x = st;
  if (as_mutex_new(&x->m) != AS_OK) sim_fail(SIM_ASSERT, "mutex_new");
  as_mutex_lock(x->m);
  as_task *t = NULL;
  if (as_task_spawn(&t, "waiter", freeing_waiter, x) != AS_OK) sim_fail(SIM_ASSERT, "spawn");
  while (!x->started) sim_step();
  /* The waiter is parked before its lock, queued on it, or (after the
  ** unlock) woken to retake it: in every case it still uses m. */
  for (int i = 0; i < 3; i++) sim_step();
  as_mutex_unlock(x->m);
  as_mutex_free(x->m); /* misuse */
  if (as_task_join(t) != AS_OK) sim_fail(SIM_ASSERT, "join");
}

static const sim_program freeing_prog = {
    .name = "freeing", .state_size = sizeof(freeing), .main = freeing_main};

static void test_free_with_woken_contender_is_misuse(void **state) {
  (void)state;
  int caught = 0;
  for (uint64_t seed = 0; seed < 50; seed++) {
    sim_config cfg = {.seed = seed};
    sim_result r;
    assert_int_equal(sim_run(S, &freeing_prog, &cfg, &r), AS_OK);
    if (r.outcome != SIM_ASSERT || !strstr(r.message, "tasks wait to lock it"))
      fail_msg("seed %lu: %s: %s", (unsigned long)seed, sim_outcome_name(r.outcome), r.message);
    caught++;
    sim_result_clear(&r);
  }
  assert_int_equal(caught, 50); /* and ASan sees no use after free in any seed */
}

/* --- sim_advance fires the timers it passes -------------------------------- */

typedef struct adv {
  as_mutex *m;
  as_cond *c;
  uint64_t woke_at;
  int rc;
} adv;

static void adv_waiter(void *arg) {
  adv *x = arg;
  as_mutex_lock(x->m);
  x->rc = as_cond_timedwait(x->c, x->m, 1000);
  x->woke_at = as_now_mono_ns();
  as_mutex_unlock(x->m);
}

static void adv_main(void *st) {
  adv *x = st;
  if (as_mutex_new(&x->m) != AS_OK || as_cond_new(&x->c) != AS_OK) sim_fail(SIM_ASSERT, "new");
  as_task *t = NULL;
  if (as_task_spawn(&t, "waiter", adv_waiter, x) != AS_OK) sim_fail(SIM_ASSERT, "spawn");
  for (int i = 0; i < 5; i++) sim_step();
  sim_advance(1000000);
  /* main never blocks: only the advance can have fired the waiter's timer */
  for (int i = 0; i < 50 && x->woke_at == 0; i++) sim_step();
  if (x->woke_at == 0) sim_fail(SIM_ASSERT, "the timer passed by sim_advance did not fire");
  if (as_task_join(t) != AS_OK) sim_fail(SIM_ASSERT, "join");
  as_cond_free(x->c);
  as_mutex_free(x->m);
}

static const sim_program adv_prog = {.name = "advance", .state_size = sizeof(adv), .main = adv_main};

static void test_advance_fires_due_timers(void **state) {
  (void)state;
  for (uint64_t seed = 0; seed < 50; seed++) {
    sim_config cfg = {.seed = seed};
    sim_result r;
    assert_int_equal(sim_run(S, &adv_prog, &cfg, &r), AS_OK);
    if (r.outcome != SIM_PASS) fail_msg("seed %lu: %s", (unsigned long)seed, r.message);
    sim_result_clear(&r);
  }
  /* Past the virtual-time budget an advance is a hang, not a wrap-around. */
  sim_config cfg = {.seed = 1, .max_virtual_ns = 500000};
  sim_result r;
  assert_int_equal(sim_run(S, &adv_prog, &cfg, &r), AS_OK);
  assert_int_equal(r.outcome, SIM_HANG);
  assert_non_null(strstr(r.message, "virtual-time budget"));
  sim_result_clear(&r);
}

/* --- a lock cycle is a deadlock even while a timer task keeps time moving -- */

typedef struct cyc {
  as_mutex *a, *b;
} cyc;

static void cyc_ab(void *arg) {
  cyc *x = arg;
  as_mutex_lock(x->a);
  sim_step();
  as_mutex_lock(x->b);
  as_mutex_unlock(x->b);
  as_mutex_unlock(x->a);
}

static void cyc_ba(void *arg) {
  cyc *x = arg;
  as_mutex_lock(x->b);
  sim_step();
  as_mutex_lock(x->a);
  as_mutex_unlock(x->a);
  as_mutex_unlock(x->b);
}

static void cyc_watchdog(void *arg) {
  (void)arg;
  for (uint64_t h = 1;; h++) as_sleep_until(h * HOUR_NS); /* never ends */
}

static void cyc_main(void *st) {
  cyc *x = st;
  if (as_mutex_new(&x->a) != AS_OK || as_mutex_new(&x->b) != AS_OK) sim_fail(SIM_ASSERT, "new");
  as_task *w = NULL, *t1 = NULL, *t2 = NULL;
  if (as_task_spawn(&w, "watchdog", cyc_watchdog, x) != AS_OK ||
      as_task_spawn(&t1, "ab", cyc_ab, x) != AS_OK || as_task_spawn(&t2, "ba", cyc_ba, x) != AS_OK)
    sim_fail(SIM_ASSERT, "spawn");
  if (as_task_join(t1) != AS_OK || as_task_join(t2) != AS_OK) sim_fail(SIM_ASSERT, "join");
  sim_fail(SIM_INVARIANT, "done"); /* a run without the deadlock ends here */
}

static const sim_program cyc_prog = {.name = "cycle", .state_size = sizeof(cyc), .main = cyc_main};

static void test_lock_cycle_found_despite_timers(void **state) {
  (void)state;
  int deadlocks = 0;
  for (uint64_t seed = 0; seed < 100; seed++) {
    sim_config cfg = {.seed = seed};
    sim_result r;
    assert_int_equal(sim_run(S, &cyc_prog, &cfg, &r), AS_OK);
    assert_true(r.outcome == SIM_DEADLOCK || r.outcome == SIM_INVARIANT);
    if (r.outcome == SIM_DEADLOCK) {
      deadlocks++;
      assert_non_null(strstr(r.message, "cycle:"));
      assert_true(r.virtual_ns < 24 * HOUR_NS); /* found when it formed, not at the budget */
    }
    sim_result_clear(&r);
  }
  assert_true(deadlocks > 0);
}

/* --- replay must use every recorded decision -------------------------------- */

static void two_main_worker(void *arg) {
  (void)arg;
  for (int i = 0; i < 5; i++) sim_step();
}

static void two_main(void *st) {
  (void)st;
  as_task *t = NULL;
  if (as_task_spawn(&t, "w", two_main_worker, NULL) != AS_OK) sim_fail(SIM_ASSERT, "spawn");
  for (int i = 0; i < 5; i++) sim_step();
  if (as_task_join(t) != AS_OK) sim_fail(SIM_ASSERT, "join");
}

static const sim_program two_prog = {.name = "two", .main = two_main};

static void test_replay_leftover_decisions_diverge(void **state) {
  (void)state;
  sim_config cfg = {.seed = 3};
  sim_result a, b;
  assert_int_equal(sim_run(S, &two_prog, &cfg, &a), AS_OK);
  size_t len = strlen(a.schedule);
  char *longer = malloc(len + 8);
  assert_non_null(longer);
  /* Seven more decisions, before the (empty) wakeups and faults. */
  size_t dend = (size_t)(strchr(a.schedule + 3 + 5 * 17, ':') - a.schedule);
  memcpy(longer, a.schedule, dend);
  memcpy(longer + dend, "1111111", 7);
  memcpy(longer + dend + 7, a.schedule + dend, len - dend + 1);
  sim_config rc = {.strategy = SIM_STRATEGY_REPLAY, .schedule = longer};
  assert_int_equal(sim_run(S, &two_prog, &rc, &b), AS_DIVERGED);
  assert_non_null(strstr(b.message, "decisions"));
  free(longer);
  sim_result_clear(&a);
  sim_result_clear(&b);
}

/* --- a divergence message survives a teardown that misuses the seam -------- */

typedef struct held {
  as_mutex *m;
} held;

static void held_main(void *st) {
  held *x = st;
  if (as_mutex_new(&x->m) != AS_OK) sim_fail(SIM_ASSERT, "new");
  as_mutex_lock(x->m);
  as_task *t = NULL;
  if (as_task_spawn(&t, "w", two_main_worker, NULL) != AS_OK) sim_fail(SIM_ASSERT, "spawn");
  for (int i = 0; i < 5; i++) sim_step();
  as_mutex_unlock(x->m);
  if (as_task_join(t) != AS_OK) sim_fail(SIM_ASSERT, "join");
}

static void held_teardown(void *st) { as_mutex_free(((held *)st)->m); }

static const sim_program held_prog = {
    .name = "held", .state_size = sizeof(held), .main = held_main, .teardown = held_teardown};

static void test_divergence_message_kept(void **state) {
  (void)state;
  char sched[200];
  /* Decisions naming a task that never exists: diverges while main holds m. */
  snprintf(sched, sizeof sched, "v3:%016x:%016x:%016x:%016x:%016x:9::", 0, 0, 0, 0, 0);
  sim_config rc = {.strategy = SIM_STRATEGY_REPLAY, .schedule = sched};
  sim_result r;
  assert_int_equal(sim_run(S, &held_prog, &rc, &r), AS_DIVERGED);
  assert_non_null(strstr(r.message, "not runnable"));
  assert_null(strstr(r.message, "freed"));
  sim_result_clear(&r);
}

/* --- a task looping without seam calls is a hang, not a stuck sweep -------- */

static void spin_forever(void *st) {
  (void)st;
  volatile unsigned long x = 0;
  for (;;) x++;
}

static const sim_program forever_prog = {.name = "forever", .main = spin_forever};

static void test_seam_free_loop_is_a_hang(void **state) {
  (void)state;
  sim_config cfg = {.seed = 1, .max_cpu_s = 1};
  sim_result r;
  assert_int_equal(sim_run(S, &forever_prog, &cfg, &r), AS_OK);
  assert_int_equal(r.outcome, SIM_HANG);
  assert_non_null(strstr(r.message, "without reaching a scheduling point"));
  sim_result_clear(&r);
  /* The sim is usable afterwards. */
  sim_config ok = {.seed = 1};
  assert_int_equal(sim_run(S, &two_prog, &ok, &r), AS_OK);
  assert_int_equal(r.outcome, SIM_PASS);
  sim_result_clear(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pct_spin_wait_is_not_a_hang),
      cmocka_unit_test(test_free_with_woken_contender_is_misuse),
      cmocka_unit_test(test_advance_fires_due_timers),
      cmocka_unit_test(test_lock_cycle_found_despite_timers),
      cmocka_unit_test(test_replay_leftover_decisions_diverge),
      cmocka_unit_test(test_divergence_message_kept),
      cmocka_unit_test(test_seam_free_loop_is_a_hang),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

/*
** test_evlog.c -- the event recorder (sim/evlog.h): every event kept in
** order with its words, task names, decisions, the run's end; the same trace
** hash with and without it; the cap; out of memory inside the sink (through
** faultwrap's countdown) leaves the run as it was and the log marked.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/seam.h"
#include "faultwrap.h"
#include "sim.h"

static sim *S;
static int fail_it;    /* the program's invariant fails at the end */
static int odd_spawns; /* main publishes spawns of no task the sim made */

static int make_sim(void **state) {
  (void)state;
  fw_reset();
  return sim_new(&S, SIM_SWITCH_FCONTEXT, 0) == AS_OK ? 0 : -1;
}

static int free_sim(void **state) {
  (void)state;
  sim_free(S);
  S = NULL;
  fw_reset();
  return 0;
}

static as_mutex *M;
static int done;

static void worker(void *arg) {
  (void)arg;
  for (int i = 0; i < 3; i++) {
    as_mutex_lock(M);
    sim_note("w", (uint64_t)i);
    as_mutex_unlock(M);
  }
  char big[SIM_EVLOG_LABEL_MAX + 100];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  sim_emit(SIM_EV_PROGRAM + 1, 1, 2, big);
  as_log(AS_LOG_INFO, "a log line");
}

static void prog_main(void *state) {
  (void)state;
  as_task *a, *b;
  if (odd_spawns) {
    sim_emit(SIM_EV_SPAWN, SIM_MAX_TASKS + 5, 0, "nobody");
    sim_emit(SIM_EV_SPAWN, 1, 0, NULL);
  }
  if (as_task_spawn(&a, "alpha", worker, NULL) != AS_OK) return;
  if (as_task_spawn(&b, "beta", worker, NULL) != AS_OK) sim_fail(SIM_ASSERT, "spawn");
  if (as_task_join(a) != AS_OK || as_task_join(b) != AS_OK) sim_fail(SIM_ASSERT, "join");
  done = 1;
}

static int prog_setup(void *state, sim_rng *w) {
  (void)state;
  (void)w;
  done = 0;
  return as_mutex_new(&M);
}

static void prog_teardown(void *state) {
  (void)state;
  as_mutex_free(M);
  M = NULL;
}

static int prog_invariant(void *state, char *msg, size_t cap) {
  (void)state;
  if (!fail_it || !done) return 0;
  snprintf(msg, cap, "it broke");
  return 1;
}

static void prog_describe(const sim_ev *ev, char *buf, size_t cap) {
  snprintf(buf, cap, "mine %u", (unsigned)(ev->kind - SIM_EV_PROGRAM));
}

static const sim_program prog = {.name = "evlog", .setup = prog_setup, .main = prog_main,
                                 .invariant = prog_invariant, .describe = prog_describe,
                                 .teardown = prog_teardown};

static sim_config config(uint64_t seed, sim_evlog *l) {
  sim_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.seed = seed;
  cfg.strategy = SIM_STRATEGY_RANDOM;
  cfg.evlog = l;
  return cfg;
}

static void test_records(void **state) {
  (void)state;
  sim_evlog *l;
  assert_int_equal(sim_evlog_new(&l), AS_OK);
  assert_int_equal(sim_evlog_count(l), 0);
  assert_null(sim_evlog_at(l, 0));
  fail_it = 0;
  for (uint64_t seed = 1; seed <= 4; seed++) {
    sim_config plain = config(seed, NULL), rec = config(seed, l);
    sim_result r1, r2;
    assert_int_equal(sim_run(S, &prog, &plain, &r1), AS_OK);
    assert_int_equal(sim_run(S, &prog, &rec, &r2), AS_OK);
    /* Recording changes nothing of the run. */
    assert_true(r1.trace_hash == r2.trace_hash);
    assert_int_equal(r1.decisions, r2.decisions);
    assert_string_equal(r1.schedule, r2.schedule);
    assert_int_equal(sim_evlog_truncated(l), 0);
    size_t n = sim_evlog_count(l);
    assert_true(n > 20);
    assert_int_equal(sim_evlog_seen(l), n);
    assert_null(sim_evlog_at(l, n));
    int logs = 0, notes = 0, longlab = 0;
    uint64_t prev_step = 0, prev_dec = 0;
    for (size_t i = 0; i < n; i++) {
      const sim_evrec *e = sim_evlog_at(l, i);
      assert_non_null(e->text);
      assert_true(e->step >= prev_step);
      assert_true(e->decisions >= prev_dec);
      assert_true(e->decisions <= r2.decisions);
      prev_step = e->step;
      prev_dec = e->decisions;
      logs += e->kind == SIM_EV_LOG;
      if (e->kind == SIM_EV_NOTE) {
        notes++;
        assert_string_equal(e->label, "w");
        char want[64];
        snprintf(want, sizeof want, "note w=%llu", (unsigned long long)e->extra);
        assert_string_equal(e->text, want);
      }
      if (e->kind == SIM_EV_PROGRAM + 1) {
        longlab++;
        assert_int_equal(strlen(e->label), SIM_EVLOG_LABEL_MAX);
        assert_string_equal(e->text, "mine 1");
      }
      if (e->kind == SIM_EV_LOCK) assert_non_null(strstr(e->text, "lock m"));
    }
    assert_int_equal(logs, 2); /* SIM_EV_LOG kept, though never hashed */
    assert_int_equal(notes, 6);
    assert_int_equal(longlab, 2);
    assert_true(prev_dec == r2.decisions || prev_dec + 1 == r2.decisions);
    assert_int_equal(sim_evlog_ntasks(l), 3);
    assert_string_equal(sim_evlog_task_name(l, 0), "main");
    assert_string_equal(sim_evlog_task_name(l, 1), "alpha");
    assert_string_equal(sim_evlog_task_name(l, 2), "beta");
    assert_string_equal(sim_evlog_task_name(l, 3), "");
    assert_int_equal(sim_evlog_outcome(l), SIM_PASS);
    assert_string_equal(sim_evlog_message(l), "");
    assert_true(sim_evlog_fail_step(l) == sim_evlog_at(l, n - 1)->step);
    sim_result_clear(&r1);
    sim_result_clear(&r2);
  }
  /* A failing run: its outcome, message and failing step kept. */
  fail_it = 1;
  sim_config rec = config(3, l), plain = config(3, NULL);
  sim_result r, p;
  assert_int_equal(sim_run(S, &prog, &rec, &r), AS_OK);
  assert_int_equal(sim_run(S, &prog, &plain, &p), AS_OK);
  assert_true(r.trace_hash == p.trace_hash);
  assert_int_equal(r.outcome, SIM_INVARIANT);
  assert_int_equal(sim_evlog_outcome(l), SIM_INVARIANT);
  assert_string_equal(sim_evlog_message(l), r.message);
  assert_non_null(strstr(sim_evlog_message(l), "it broke"));
  assert_true(sim_evlog_fail_step(l) > 0);
  sim_result_clear(&r);
  sim_result_clear(&p);
  fail_it = 0;
  /* Spawn events that name no task of the sim's leave the names alone. */
  odd_spawns = 1;
  assert_int_equal(sim_run(S, &prog, &rec, &r), AS_OK);
  odd_spawns = 0;
  assert_int_equal(sim_evlog_ntasks(l), 3);
  assert_string_equal(sim_evlog_task_name(l, 1), "alpha");
  sim_result_clear(&r);
  sim_evlog_free(l);
  sim_evlog_free(NULL);
  assert_int_equal(sim_evlog_count(NULL), 0);
  assert_null(sim_evlog_at(NULL, 0));
}

/* PCT's calibration runs do not record into the log (nor reset it). */
static void test_pct_calibration(void **state) {
  (void)state;
  sim_evlog *l;
  assert_int_equal(sim_evlog_new(&l), AS_OK);
  sim_config c = config(2, l), plain = config(2, NULL);
  c.strategy = plain.strategy = SIM_STRATEGY_PCT;
  sim_result r, p;
  assert_int_equal(sim_run(S, &prog, &c, &r), AS_OK);
  assert_int_equal(sim_run(S, &prog, &plain, &p), AS_OK);
  assert_true(r.trace_hash == p.trace_hash);
  assert_int_equal(sim_evlog_seen(l), sim_evlog_count(l));
  assert_int_equal(sim_evlog_ntasks(l), 3);
  sim_result_clear(&r);
  sim_result_clear(&p);
  sim_evlog_free(l);
}

static void test_cap(void **state) {
  (void)state;
  sim_evlog *l;
  assert_int_equal(sim_evlog_new(&l), AS_OK);
  sim_evlog_set_max(l, 5);
  sim_config c = config(1, l), plain = config(1, NULL);
  sim_result r, p;
  assert_int_equal(sim_run(S, &prog, &c, &r), AS_OK);
  assert_int_equal(sim_run(S, &prog, &plain, &p), AS_OK);
  assert_true(r.trace_hash == p.trace_hash);
  assert_int_equal(sim_evlog_count(l), 5);
  assert_int_equal(sim_evlog_truncated(l), 1);
  assert_true(sim_evlog_seen(l) > 5);
  /* The fail step is the run's last event's, kept or not. */
  assert_true(sim_evlog_fail_step(l) > sim_evlog_at(l, 4)->step);
  sim_result_clear(&r);
  /* Clamped: 0 keeps one, too many keeps SIM_EVLOG_MAX. */
  sim_evlog_set_max(l, 0);
  assert_int_equal(sim_run(S, &prog, &c, &r), AS_OK);
  assert_int_equal(sim_evlog_count(l), 1);
  sim_result_clear(&r);
  sim_evlog_set_max(l, (size_t)SIM_EVLOG_MAX * 4);
  assert_int_equal(sim_run(S, &prog, &c, &r), AS_OK);
  assert_int_equal(sim_evlog_truncated(l), 0);
  assert_int_equal(sim_evlog_count(l), sim_evlog_seen(l));
  sim_result_clear(&r);
  sim_result_clear(&p);
  sim_evlog_free(l);
}

/* STYLE.md rule 7: fail the n-th allocation for n = 1, 2, ... A run either
** fails as a run does without memory (not the recorder's doing: the program
** sees its own allocations fail), or, when the failed allocation was the
** recorder's, takes place with the hash it has without a log and the log says
** it lost events; nothing leaks. */
static void test_nomem(void **state) {
  (void)state;
  sim_config plain = config(4, NULL);
  sim_result base;
  assert_int_equal(sim_run(S, &prog, &plain, &base), AS_OK);
  int marked = 0;
  unsigned long n;
  for (n = 1; n < 100000; n++) {
    size_t live = fw_live_blocks();
    sim_evlog *l = NULL;
    fw_countdown(FW_ALLOC, n, 0, 0);
    int rc = sim_evlog_new(&l);
    if (rc != AS_OK) {
      assert_int_equal(rc, AS_NOMEM);
      assert_true(fw_fired());
      fw_disarm();
      assert_int_equal(fw_live_blocks(), live);
      continue;
    }
    sim_config c = config(4, l);
    sim_result r;
    rc = sim_run(S, &prog, &c, &r);
    int fired = fw_fired();
    fw_disarm();
    if (rc == AS_OK) {
      if (sim_evlog_truncated(l)) {
        /* The one failure was the recorder's: the run is the run without it. */
        assert_true(r.trace_hash == base.trace_hash);
        assert_int_equal(sim_evlog_truncated(l), 2);
        assert_true(sim_evlog_count(l) < sim_evlog_seen(l));
        marked++;
      } else {
        assert_int_equal(sim_evlog_count(l), sim_evlog_seen(l));
      }
    } else {
      assert_int_equal(rc, AS_NOMEM);
    }
    sim_result_clear(&r);
    sim_evlog_free(l);
    assert_int_equal(fw_live_blocks(), live);
    if (!fired) break;
  }
  assert_true(n < 100000);
  assert_true(marked >= 3); /* the records, the arena, the task names */
  sim_result_clear(&base);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_records),
      cmocka_unit_test(test_pct_calibration),
      cmocka_unit_test(test_cap),
      cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, make_sim, free_sim);
}

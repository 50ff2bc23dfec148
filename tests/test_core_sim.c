/*
** test_core_sim.c -- the runtime core under the deterministic scheduler.
**
** Workers take a session's lock (locks.h), load, add a tool call and save
** (store.h, SQLite's default VFS on an on-disk file, one connection per
** task) while a finalizer settles the session (finalize.h). Every lock and
** condition-variable call is a scheduling point, so the strategy decides
** the interleaving; the program checks that no two tasks are ever inside
** the lock at once, that no save under the lock meets a stale version, and
** at the end that every save and the finalize are accounted for.
**
** Shown: the same seed gives the same trace hash and schedule, and a replay
** of the schedule string gives it again; different seeds interleave
** differently; and with a mutant switched on (this test links as_core_mut)
** the same program fails within a bounded number of seeds, replayably.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agentsim/finalize.h"
#include "agentsim/locks.h"
#include "agentsim/mutant.h"
#include "agentsim/store.h"
#include "coretest.h"
#include "sim.h"

#define MAXW 4
#define SEEDS 40

static ct_dir D;
static char DB[256];
static sim *S;

typedef struct lockstep {
  as_store *st[MAXW + 1]; /* one connection per task: workers, then the finalizer */
  as_session sess[MAXW];  /* each worker's copy: here, not on its stack, because a run
                          ** that fails abandons its tasks where they stand, and
                          ** teardown must still free what they held */
  as_lock_registry *reg;
  unsigned workers, rounds, fin_delay;
  int holders;    /* tasks inside the session lock (workers) */
  long saves;     /* acknowledged saves */
  int finalized;
  char error[256]; /* the first thing a task found wrong; the invariant reports it */
} lockstep;

typedef struct task_arg {
  lockstep *x;
  unsigned idx;
} task_arg;

static void set_error(lockstep *x, const char *fmt, ...) AS_PRINTF(2, 3);
static void set_error(lockstep *x, const char *fmt, ...) {
  if (x->error[0]) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(x->error, sizeof x->error, fmt, ap);
  va_end(ap);
}

/* A fresh file per run: stores are opened here and closed in teardown, so a
** run that fails never leaks a connection. */
static int ls_setup(void *state, sim_rng *r) {
  lockstep *x = state;
  static const char *const suffix[] = {"", "-journal", "-wal", "-shm"};
  for (int i = 0; i < 4; i++) {
    char p[300];
    snprintf(p, sizeof p, "%s%s", DB, suffix[i]);
    (void)unlink(p);
  }
  x->workers = (unsigned)sim_rng_range(r, 2, MAXW);
  x->rounds = (unsigned)sim_rng_range(r, 1, 3);
  x->fin_delay = (unsigned)sim_rng_range(r, 0, 6);
  sim_option("workers", "%u", x->workers);
  sim_option("rounds", "%u", x->rounds);
  sim_option("fin_delay", "%u", x->fin_delay);
  as_store_opts o = {.journal_mode = "delete", .synchronous = "off", .not_durable = 1, .busy_timeout_ms = 1000};
  for (unsigned i = 0; i <= x->workers; i++) {
    int rc = as_store_open(&x->st[i], DB, &o);
    if (rc != AS_OK) return rc;
  }
  as_session s;
  int rc = as_session_init(&s, "s");
  s.status = AS_SESS_IN_PROGRESS;
  if (rc == AS_OK) rc = as_session_create(x->st[0], &s);
  as_session_clear(&s);
  if (rc == AS_OK) rc = as_locks_new(&x->reg, 8);
  return rc;
}

static void ls_teardown(void *state) {
  lockstep *x = state;
  for (unsigned i = 0; i <= MAXW; i++) as_store_close(x->st[i]);
  for (unsigned i = 0; i < MAXW; i++) as_session_clear(&x->sess[i]);
  as_locks_free(x->reg);
}

static void worker(void *arg) {
  task_arg *a = arg;
  lockstep *x = a->x;
  for (unsigned r = 0; r < x->rounds && !x->error[0]; r++) {
    int rc = as_lock_acquire(x->reg, "s");
    if (rc != AS_OK) {
      set_error(x, "worker %u: acquire: %s", a->idx, as_status_name(rc));
      return;
    }
    if (++x->holders > 1) set_error(x, "two tasks hold the lock of s");
    sim_step();
    as_session *s = &x->sess[a->idx];
    rc = as_session_load(x->st[a->idx], "s", s);
    if (rc == AS_OK && !as_session_status_terminal(s->status)) {
      rc = as_session_add_call(s, "search", "{}", "{}", AS_TOOL_EXECUTED);
      sim_step();
      if (rc == AS_OK) rc = as_session_save(x->st[a->idx], s);
      if (rc == AS_OK) {
        x->saves++;
        sim_note("saved", (uint64_t)s->version);
      }
    }
    if (rc != AS_OK) set_error(x, "worker %u: save under the lock: %s", a->idx, as_status_name(rc));
    as_session_clear(s);
    x->holders--;
    rc = as_lock_release(x->reg, "s");
    if (rc != AS_OK) set_error(x, "worker %u: release: %s", a->idx, as_status_name(rc));
  }
}

static void finalizer(void *arg) {
  task_arg *a = arg;
  lockstep *x = a->x;
  for (unsigned i = 0; i < x->fin_delay; i++) sim_step();
  as_session_status final;
  int rc = as_finalize(x->st[a->idx], x->reg, "s", NULL, &final);
  if (rc != AS_OK) set_error(x, "finalize: %s", as_status_name(rc));
  else if (final != AS_SESS_NEEDS_REVIEW) set_error(x, "finalize: %s", as_session_status_name(final));
  x->finalized = rc == AS_OK;
}

static void ls_main(void *state) {
  lockstep *x = state;
  task_arg args[MAXW + 1];
  as_task *t[MAXW + 1];
  for (unsigned i = 0; i <= x->workers; i++) {
    args[i] = (task_arg){x, i};
    bool fin = i == x->workers;
    if (as_task_spawn(&t[i], fin ? "finalizer" : "worker", fin ? finalizer : worker, &args[i]) !=
        AS_OK)
      sim_fail(SIM_ASSERT, "spawn failed");
  }
  for (unsigned i = 0; i <= x->workers; i++)
    if (as_task_join(t[i]) != AS_OK) sim_fail(SIM_ASSERT, "join failed");
  if (!x->error[0] && as_locks_size(x->reg) != 0)
    sim_fail(SIM_INVARIANT, "%zu lock entries left", as_locks_size(x->reg));
}

static int ls_invariant(void *state, char *msg, size_t cap) {
  lockstep *x = state;
  if (!x->error[0]) return 0;
  snprintf(msg, cap, "%s", x->error);
  return 1;
}

/* At quiescence: every acknowledged save and the finalize, one version each. */
static int ls_check(void *state, char *msg, size_t cap) {
  lockstep *x = state;
  as_session s = {0};
  int rc = as_session_load(x->st[0], "s", &s);
  int bad = rc != AS_OK || s.version != 1 + x->saves + x->finalized ||
            s.status != AS_SESS_NEEDS_REVIEW || (long)s.ncalls != x->saves;
  if (bad)
    snprintf(msg, cap, "load %s: version %" PRId64 " status %s calls %zu; saves %ld",
             as_status_name(rc), s.version, as_session_status_name(s.status), s.ncalls,
             x->saves);
  as_session_clear(&s);
  return bad;
}

static const sim_program lockstep_prog = {
    .name = "core:lockstep",
    .summary = "workers save under the session lock while a finalizer settles it",
    .state_size = sizeof(lockstep),
    .est_tasks = MAXW + 2,
    .est_steps = 200,
    .setup = ls_setup,
    .main = ls_main,
    .invariant = ls_invariant,
    .check = ls_check,
    .teardown = ls_teardown,
};

/* --- the hand-off: between a release and the waiter's wake-up ------------- */

typedef struct handoff {
  as_lock_registry *reg;
  int waiting, got;
} handoff;

static int ho_seen_free; /* is_locked said no while the waiter was being handed the lock */

static int ho_setup(void *state, sim_rng *r) {
  (void)r;
  handoff *h = state;
  ho_seen_free = 0;
  return as_locks_new(&h->reg, 4);
}

static void ho_teardown(void *state) {
  handoff *h = state;
  as_locks_free(h->reg);
}

static void ho_waiter(void *arg) {
  handoff *h = arg;
  h->waiting = 1;
  if (as_lock_acquire(h->reg, "k") != AS_OK) sim_fail(SIM_ASSERT, "acquire");
  h->got = 1;
  if (as_lock_release(h->reg, "k") != AS_OK) sim_fail(SIM_ASSERT, "release");
}

static void ho_main(void *state) {
  handoff *h = state;
  if (as_lock_acquire(h->reg, "k") != AS_OK) sim_fail(SIM_ASSERT, "acquire");
  as_task *t;
  if (as_task_spawn(&t, "waiter", ho_waiter, h) != AS_OK) sim_fail(SIM_ASSERT, "spawn");
  while (!h->waiting) as_task_yield();
  for (int i = 0; i < 4; i++) sim_step(); /* let it block in acquire */
  if (as_lock_release(h->reg, "k") != AS_OK) sim_fail(SIM_ASSERT, "release");
  /* Released, the waiter signalled but perhaps not yet running: the lock is
  ** free (its entry stays, for the waiter). */
  if (!as_lock_is_locked(h->reg, "k") && !h->got) ho_seen_free = 1;
  if (as_task_join(t) != AS_OK) sim_fail(SIM_ASSERT, "join");
  if (!h->got || as_locks_size(h->reg) != 0) sim_fail(SIM_INVARIANT, "hand-off lost");
}

static const sim_program handoff_prog = {
    .name = "core:handoff",
    .summary = "a blocked acquire is handed the lock on release",
    .state_size = sizeof(handoff),
    .est_tasks = 2,
    .est_steps = 30,
    .setup = ho_setup,
    .main = ho_main,
    .teardown = ho_teardown,
};

static void test_handoff(void **state) {
  (void)state;
  unsigned seen = 0;
  for (uint64_t seed = 0; seed < 20; seed++) {
    sim_config cfg = {.seed = seed, .strategy = SIM_STRATEGY_RANDOM};
    sim_result res;
    int rc = sim_run(S, &handoff_prog, &cfg, &res);
    if (rc != AS_OK || res.outcome != SIM_PASS)
      fail_msg("seed %" PRIu64 ": %s %s", seed, as_status_name(rc), res.message);
    seen += ho_seen_free;
    sim_result_clear(&res);
  }
  /* Some interleavings look in the window, some after the waiter ran. */
  assert_true(seen > 0 && seen < 20);
}

static void run_ok(const sim_config *cfg, sim_result *res) {
  int rc = sim_run(S, &lockstep_prog, cfg, res);
  if (rc != AS_OK) fail_msg("sim_run: %s: %s", as_status_name(rc), res->message);
}

/* SEEDS seeds under one strategy: each twice from the seed and once from
** its schedule string, all three alike; returns how many failed and the
** first failing seed (UINT64_MAX if none). */
static unsigned sweep(sim_strategy_kind strat, uint64_t *first_fail, unsigned *distinct) {
  unsigned fails = 0;
  uint64_t hashes[SEEDS];
  *first_fail = UINT64_MAX;
  *distinct = 0;
  for (uint64_t seed = 0; seed < SEEDS; seed++) {
    sim_config cfg = {.seed = seed, .strategy = strat};
    sim_result a, b, c;
    run_ok(&cfg, &a);
    run_ok(&cfg, &b);
    sim_config rcfg = {.strategy = SIM_STRATEGY_REPLAY, .schedule = a.schedule};
    run_ok(&rcfg, &c);
    if (a.trace_hash != b.trace_hash || a.trace_hash != c.trace_hash ||
        strcmp(a.schedule, b.schedule) != 0 || a.outcome != b.outcome ||
        a.outcome != c.outcome || a.steps != c.steps)
      fail_msg("seed %" PRIu64 ": hashes %016" PRIx64 " %016" PRIx64 " replay %016" PRIx64
               " (%s / %s / %s)",
               seed, a.trace_hash, b.trace_hash, c.trace_hash, sim_outcome_name(a.outcome),
               sim_outcome_name(b.outcome), sim_outcome_name(c.outcome));
    if (a.outcome != SIM_PASS) {
      if (fails++ == 0) {
        *first_fail = seed;
        print_message("  seed %" PRIu64 ": %s: %s\n", seed, sim_outcome_name(a.outcome),
                      a.message);
      }
    }
    hashes[seed] = a.trace_hash;
    unsigned k = 0;
    while (k < seed && hashes[k] != a.trace_hash) k++;
    *distinct += k == seed;
    sim_result_clear(&a);
    sim_result_clear(&b);
    sim_result_clear(&c);
  }
  return fails;
}

static void test_deterministic(void **state) {
  (void)state;
  static const sim_strategy_kind strats[] = {SIM_STRATEGY_RANDOM, SIM_STRATEGY_PCT};
  for (int i = 0; i < 2; i++) {
    uint64_t first;
    unsigned distinct;
    unsigned fails = sweep(strats[i], &first, &distinct);
    if (fails) fail_msg("the correct core failed %u of %d seeds (first %" PRIu64 ")", fails,
                        SEEDS, first);
    /* Not one interleaving over and over: the seeds explore. */
    assert_true(distinct > SEEDS / 2);
  }
}

/* A mutant of the lock or of finalize is caught within SEEDS seeds. */
static void test_mutants_caught(void **state) {
  (void)state;
  static const char *const names[] = {"lock_noop", "finalize_no_lock"};
  static const sim_strategy_kind strats[] = {SIM_STRATEGY_RANDOM, SIM_STRATEGY_PCT};
  for (int m = 0; m < 2; m++) {
    assert_int_equal(as_mutant_set(names[m]), AS_OK);
    for (int i = 0; i < 2; i++) {
      uint64_t first;
      unsigned distinct;
      unsigned fails = sweep(strats[i], &first, &distinct);
      print_message("%s under %s: killed by %u of %d seeds, first at seed %" PRIu64 "\n",
                    names[m], i ? "pct" : "random", fails, SEEDS, first);
      /* The random walk must catch both; PCT's numbers are reported (its
      ** priorities favour running one worker's whole round at once). */
      if (strats[i] == SIM_STRATEGY_RANDOM) assert_true(fails > 0);
    }
  }
  assert_int_equal(as_mutant_set(NULL), AS_OK);
}

static int setup(void **state) {
  (void)state;
  ct_dir_make(&D);
  ct_path(DB, sizeof DB, &D, "sim.db");
  return sim_new(&S, SIM_SWITCH_FCONTEXT, 1u << 20) == AS_OK ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  sim_free(S);
  ct_dir_remove(&D);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_handoff),
      cmocka_unit_test(test_mutants_caught),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

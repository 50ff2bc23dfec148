/*
** programs.c -- the self-test programs (see programs.h).
*/
#include "programs.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define HOUR_NS ((uint64_t)3600 * 1000000000u)

/* Every seam object a self-test makes is checked here: setup may fail. */
#define TRY(expr)                                                             \
  do {                                                                        \
    int rc_ = (expr);                                                         \
    if (rc_ != AS_OK) return rc_;                                             \
  } while (0)

/* n steps of unrelated work: scheduling points at which others may run. */
static void work(unsigned n) {
  for (unsigned i = 0; i < n; i++) sim_step();
}

static void join_or_fail(as_task *t) {
  if (as_task_join(t) != AS_OK) sim_fail(SIM_ASSERT, "join failed");
}

static as_task *spawn_or_fail(const char *name, as_task_fn fn, void *arg) {
  as_task *t = NULL;
  if (as_task_spawn(&t, name, fn, arg) != AS_OK) sim_fail(SIM_ASSERT, "spawn failed");
  return t;
}

/* --- selftest:abba -- two tasks take two locks in opposite orders --------- */

typedef struct abba {
  as_mutex *a, *b;
  unsigned work; /* steps between the two acquisitions */
} abba;

static int abba_setup(void *st, sim_rng *r) {
  abba *x = st;
  x->work = (unsigned)sim_rng_range(r, 0, 3);
  sim_option("work", "%u", x->work);
  TRY(as_mutex_new(&x->a));
  TRY(as_mutex_new(&x->b));
  return AS_OK;
}

static void abba_ab(void *arg) {
  abba *x = arg;
  as_mutex_lock(x->a);
  work(x->work);
  as_mutex_lock(x->b);
  as_mutex_unlock(x->b);
  as_mutex_unlock(x->a);
}

static void abba_ba(void *arg) {
  abba *x = arg;
  as_mutex_lock(x->b);
  work(x->work);
  as_mutex_lock(x->a);
  as_mutex_unlock(x->a);
  as_mutex_unlock(x->b);
}

static void abba_main(void *st) {
  as_task *t1 = spawn_or_fail("ab", abba_ab, st);
  as_task *t2 = spawn_or_fail("ba", abba_ba, st);
  join_or_fail(t1);
  join_or_fail(t2);
}

static void abba_teardown(void *st) {
  abba *x = st;
  as_mutex_free(x->a);
  as_mutex_free(x->b);
}

static const sim_program abba_prog = {
    .name = "selftest:abba",
    .fingerprint = 0x73656c6674657300ull + 1, /* "selftest" 1 */
    .summary = "two tasks lock A then B and B then A: a two-lock deadlock",
    .state_size = sizeof(abba),
    .est_tasks = 3,
    .setup = abba_setup,
    .main = abba_main,
    .teardown = abba_teardown,
};

/* --- selftest:ordering -- a use before initialisation (depth 1) ----------- */

typedef struct ordering {
  as_mutex *m;
  int ready;
  unsigned lead; /* steps the user takes before it reads */
} ordering;

static int ordering_setup(void *st, sim_rng *r) {
  ordering *x = st;
  x->lead = (unsigned)sim_rng_range(r, 4, 8);
  sim_option("lead", "%u", x->lead);
  TRY(as_mutex_new(&x->m));
  return AS_OK;
}

static void ordering_init(void *arg) {
  ordering *x = arg;
  as_mutex_lock(x->m);
  x->ready = 1;
  sim_note("initialised", 1);
  as_mutex_unlock(x->m);
}

static void ordering_use(void *arg) {
  ordering *x = arg;
  work(x->lead);
  as_mutex_lock(x->m);
  int ready = x->ready;
  as_mutex_unlock(x->m);
  if (!ready) sim_fail(SIM_ASSERT, "used before it was initialised");
}

static void ordering_main(void *st) {
  /* The bug: nothing orders "use" after "init". */
  as_task *a = spawn_or_fail("init", ordering_init, st);
  as_task *b = spawn_or_fail("use", ordering_use, st);
  join_or_fail(a);
  join_or_fail(b);
}

static void ordering_teardown(void *st) { as_mutex_free(((ordering *)st)->m); }

static const sim_program ordering_prog = {
    .name = "selftest:ordering",
    .fingerprint = 0x73656c6674657300ull + 2, /* "selftest" 2 */
    .summary = "a user that runs before its initialiser: a depth-1 ordering bug",
    .state_size = sizeof(ordering),
    .est_tasks = 3,
    .setup = ordering_setup,
    .main = ordering_main,
    .teardown = ordering_teardown,
};

/* --- selftest:atomicity -- check-then-act across two critical sections ----- */

typedef struct atomicity {
  as_mutex *m;
  int taken;
  int holders;
  unsigned gap; /* steps between the check and the act */
} atomicity;

static int atomicity_setup(void *st, sim_rng *r) {
  atomicity *x = st;
  x->gap = (unsigned)sim_rng_range(r, 0, 4);
  sim_option("gap", "%u", x->gap);
  TRY(as_mutex_new(&x->m));
  return AS_OK;
}

static void atomicity_claim(void *arg) {
  atomicity *x = arg;
  as_mutex_lock(x->m);
  int free_now = !x->taken;
  as_mutex_unlock(x->m);
  if (!free_now) return;
  work(x->gap);
  /* The bug: the check above no longer holds here. */
  as_mutex_lock(x->m);
  x->taken = 1;
  x->holders++;
  sim_note("claimed", (uint64_t)x->holders);
  as_mutex_unlock(x->m);
}

static void atomicity_main(void *st) {
  as_task *a = spawn_or_fail("claim1", atomicity_claim, st);
  as_task *b = spawn_or_fail("claim2", atomicity_claim, st);
  join_or_fail(a);
  join_or_fail(b);
}

static int atomicity_invariant(void *st, char *msg, size_t cap) {
  atomicity *x = st;
  if (x->holders <= 1) return 0;
  snprintf(msg, cap, "the resource has %d holders (at most 1 allowed)", x->holders);
  return 1;
}

static void atomicity_teardown(void *st) { as_mutex_free(((atomicity *)st)->m); }

static const sim_program atomicity_prog = {
    .name = "selftest:atomicity",
    .fingerprint = 0x73656c6674657300ull + 3, /* "selftest" 3 */
    .summary = "check-then-act split over two critical sections: a depth-2 "
               "atomicity violation",
    .state_size = sizeof(atomicity),
    .est_tasks = 3,
    .setup = atomicity_setup,
    .main = atomicity_main,
    .invariant = atomicity_invariant,
    .teardown = atomicity_teardown,
};

/* --- selftest:timer -- sleeps and timed waits across virtual hours -------- */

#define TIMER_SLEEPERS_MAX 4

typedef struct timer_prog {
  as_mutex *m;
  as_cond *c;
  int flag;
  unsigned nsleepers;
  uint64_t sleep_until[TIMER_SLEEPERS_MAX];
  uint64_t signal_at, deadline;
  uint64_t ticks;
} timer_prog;

typedef struct sleeper_arg {
  timer_prog *x;
  unsigned i;
} sleeper_arg;

static int timer_setup(void *st, sim_rng *r) {
  timer_prog *x = st;
  x->nsleepers = (unsigned)sim_rng_range(r, 1, TIMER_SLEEPERS_MAX);
  for (unsigned i = 0; i < x->nsleepers; i++)
    x->sleep_until[i] = sim_rng_range(r, 1, 48 * 60) * 60ull * 1000000000ull;
  x->signal_at = sim_rng_range(r, 1, 12) * HOUR_NS;
  x->deadline = sim_rng_range(r, 1, 12) * HOUR_NS + 1; /* never equal to signal_at */
  sim_option("sleepers", "%u", x->nsleepers);
  sim_option("signal_at_h", "%" PRIu64, x->signal_at / HOUR_NS);
  sim_option("deadline_h", "%" PRIu64, x->deadline / HOUR_NS);
  TRY(as_mutex_new(&x->m));
  TRY(as_cond_new(&x->c));
  return AS_OK;
}

static void timer_sleeper(void *arg) {
  sleeper_arg *a = arg;
  uint64_t want = a->x->sleep_until[a->i];
  as_sleep_until(want);
  uint64_t now = as_now_mono_ns();
  if (now != want)
    sim_fail(SIM_ASSERT, "sleep_until(%" PRIu64 ") woke at %" PRIu64, want, now);
}

static void timer_signaller(void *arg) {
  timer_prog *x = arg;
  as_sleep_until(x->signal_at);
  as_mutex_lock(x->m);
  x->flag = 1;
  as_cond_signal(x->c);
  as_mutex_unlock(x->m);
}

static void timer_waiter(void *arg) {
  timer_prog *x = arg;
  int rc = AS_OK;
  as_mutex_lock(x->m);
  while (!x->flag && rc == AS_OK) rc = as_cond_timedwait(x->c, x->m, x->deadline);
  int flag = x->flag;
  as_mutex_unlock(x->m);
  uint64_t now = as_now_mono_ns();
  if (x->signal_at < x->deadline) {
    if (!flag || now != x->signal_at)
      sim_fail(SIM_ASSERT, "timed wait: expected the signal at %" PRIu64 ", got rc=%d at %" PRIu64,
               x->signal_at, rc, now);
  } else if (rc != AS_TIMEDOUT || now != x->deadline) {
    sim_fail(SIM_ASSERT, "timed wait: expected a timeout at %" PRIu64 ", got rc=%d at %" PRIu64,
             x->deadline, rc, now);
  }
}

static void timer_ticker(void *arg) {
  timer_prog *x = arg;
  int64_t wall0 = as_now_wall_ns();
  for (int h = 1; h <= 24; h++) {
    as_sleep_until((uint64_t)h * HOUR_NS);
    x->ticks++;
  }
  if (as_now_wall_ns() - wall0 != (int64_t)(24 * HOUR_NS))
    sim_fail(SIM_ASSERT, "the wall clock did not move with virtual time");
}

static void timer_main(void *st) {
  timer_prog *x = st;
  sleeper_arg args[TIMER_SLEEPERS_MAX];
  as_task *ts[TIMER_SLEEPERS_MAX + 3];
  unsigned n = 0;
  for (unsigned i = 0; i < x->nsleepers; i++) {
    args[i] = (sleeper_arg){x, i};
    ts[n++] = spawn_or_fail("sleeper", timer_sleeper, &args[i]);
  }
  ts[n++] = spawn_or_fail("signaller", timer_signaller, x);
  ts[n++] = spawn_or_fail("waiter", timer_waiter, x);
  ts[n++] = spawn_or_fail("ticker", timer_ticker, x);
  for (unsigned i = 0; i < n; i++) join_or_fail(ts[i]);
}

static int timer_check(void *st, char *msg, size_t cap) {
  timer_prog *x = st;
  if (x->ticks == 24) return 0;
  snprintf(msg, cap, "ticker ticked %" PRIu64 " times, expected 24", x->ticks);
  return 1;
}

static void timer_teardown(void *st) {
  timer_prog *x = st;
  as_cond_free(x->c);
  as_mutex_free(x->m);
}

static const sim_program timer_prog_def = {
    .name = "selftest:timer",
    .fingerprint = 0x73656c6674657300ull + 4, /* "selftest" 4 */
    .summary = "sleeps and timed waits across two virtual days; must never fail",
    .state_size = sizeof(timer_prog),
    .est_tasks = 8,
    .setup = timer_setup,
    .main = timer_main,
    .check = timer_check,
    .teardown = timer_teardown,
};

/* --- selftest:counter -- a correct locked counter; must never fail -------- */

typedef struct counter {
  as_mutex *m;
  as_cond *done_cv;
  unsigned tasks, incs, done;
  uint64_t value;
  int in_section; /* tasks inside the critical section: must stay <= 1 */
} counter;

static int counter_setup(void *st, sim_rng *r) {
  counter *x = st;
  x->tasks = (unsigned)sim_rng_range(r, 2, 6);
  x->incs = (unsigned)sim_rng_range(r, 1, 20);
  sim_option("tasks", "%u", x->tasks);
  sim_option("increments", "%u", x->incs);
  TRY(as_mutex_new(&x->m));
  TRY(as_cond_new(&x->done_cv));
  return AS_OK;
}

static void counter_worker(void *arg) {
  counter *x = arg;
  for (unsigned i = 0; i < x->incs; i++) {
    as_mutex_lock(x->m);
    x->in_section++;
    uint64_t v = x->value;
    sim_step(); /* a read-modify-write that is safe only under the lock */
    x->value = v + 1;
    x->in_section--;
    as_mutex_unlock(x->m);
  }
  as_mutex_lock(x->m);
  x->done++;
  as_cond_broadcast(x->done_cv);
  as_mutex_unlock(x->m);
}

static void counter_main(void *st) {
  counter *x = st;
  as_task *ts[6];
  for (unsigned i = 0; i < x->tasks; i++) ts[i] = spawn_or_fail("worker", counter_worker, x);
  as_mutex_lock(x->m);
  while (x->done < x->tasks) as_cond_wait(x->done_cv, x->m);
  as_mutex_unlock(x->m);
  for (unsigned i = 0; i < x->tasks; i++) join_or_fail(ts[i]);
  sim_note("value", x->value);
}

static int counter_invariant(void *st, char *msg, size_t cap) {
  counter *x = st;
  if (x->in_section <= 1) return 0;
  snprintf(msg, cap, "%d tasks inside the critical section", x->in_section);
  return 1;
}

static int counter_check(void *st, char *msg, size_t cap) {
  counter *x = st;
  uint64_t want = (uint64_t)x->tasks * x->incs;
  if (x->value == want) return 0;
  snprintf(msg, cap, "counter is %" PRIu64 ", expected %" PRIu64, x->value, want);
  return 1;
}

static void counter_teardown(void *st) {
  counter *x = st;
  as_cond_free(x->done_cv);
  as_mutex_free(x->m);
}

static const sim_program counter_prog = {
    .name = "selftest:counter",
    .fingerprint = 0x73656c6674657300ull + 5, /* "selftest" 5 */
    .summary = "tasks increment a shared counter under a lock; must never fail",
    .state_size = sizeof(counter),
    .est_tasks = 7,
    .setup = counter_setup,
    .main = counter_main,
    .invariant = counter_invariant,
    .check = counter_check,
    .teardown = counter_teardown,
};

/* --- selftest:cond_if / cond_while -- a condition wait guarded by if ------ */

/* A consumer waits for a producer's item. Guarded by `if`, a wakeup with no
** signal (a spurious one: POSIX allows them, and the sim makes them) lets it
** consume before anything was produced; guarded by `while` it waits again. */
typedef struct guarded {
  as_mutex *m;
  as_cond *c;
  int ready;
  int loop;      /* 1: while (correct); 0: if (the bug) */
  unsigned lead; /* steps the producer works before it publishes */
} guarded;

static int guarded_setup_common(guarded *x, sim_rng *r) {
  x->lead = (unsigned)sim_rng_range(r, 50, 200);
  sim_option("lead", "%u", x->lead);
  TRY(as_mutex_new(&x->m));
  TRY(as_cond_new(&x->c));
  return AS_OK;
}

static int cond_if_setup(void *st, sim_rng *r) { return guarded_setup_common(st, r); }

static int cond_while_setup(void *st, sim_rng *r) {
  ((guarded *)st)->loop = 1;
  return guarded_setup_common(st, r);
}

static void guarded_consumer(void *arg) {
  guarded *x = arg;
  as_mutex_lock(x->m);
  if (x->loop) {
    while (!x->ready) as_cond_wait(x->c, x->m);
  } else if (!x->ready) {
    as_cond_wait(x->c, x->m); /* the bug: a wakeup is not the condition */
  }
  int ready = x->ready;
  as_mutex_unlock(x->m);
  if (!ready) sim_fail(SIM_ASSERT, "consumed before anything was produced (woken with no signal)");
}

static void guarded_producer(void *arg) {
  guarded *x = arg;
  work(x->lead);
  as_mutex_lock(x->m);
  x->ready = 1;
  as_cond_signal(x->c);
  as_mutex_unlock(x->m);
}

static void guarded_main(void *st) {
  as_task *a = spawn_or_fail("consumer", guarded_consumer, st);
  as_task *b = spawn_or_fail("producer", guarded_producer, st);
  join_or_fail(a);
  join_or_fail(b);
}

static void guarded_teardown(void *st) {
  guarded *x = st;
  as_cond_free(x->c);
  as_mutex_free(x->m);
}

static const sim_program cond_if_prog = {
    .name = "selftest:cond_if",
    .fingerprint = 0x73656c6674657300ull + 0x11,
    .summary = "a condition wait guarded by if, not while: caught by a spurious wakeup",
    .state_size = sizeof(guarded),
    .est_tasks = 3,
    .setup = cond_if_setup,
    .main = guarded_main,
    .teardown = guarded_teardown,
};

static const sim_program cond_while_prog = {
    .name = "selftest:cond_while",
    .fingerprint = 0x73656c6674657300ull + 0x12,
    .summary = "the same wait guarded by while; must never fail",
    .state_size = sizeof(guarded),
    .est_tasks = 3,
    .setup = cond_while_setup,
    .main = guarded_main,
    .teardown = guarded_teardown,
};

/* --- selftest:signal_fifo / signal_ticket -- who a signal wakes ------------ */

/* Waiters queue on a condition variable in a known order and a dispatcher
** hands out one token at a time. The buggy one signals and assumes the
** oldest waiter takes it (FIFO hand-off): a signal wakes *some* waiter. The
** correct one gives each waiter a ticket, broadcasts, and lets only the
** ticket's holder go. */
#define QUEUE_WAITERS_MAX 4

typedef struct queue {
  as_mutex *m;
  as_cond *c, *arrived, *ack;
  unsigned n, arrivals, served, tokens, turn;
  int ticket; /* 1: by ticket (correct); 0: signal and assume FIFO (the bug) */
} queue;

static int queue_setup_common(queue *x, sim_rng *r) {
  x->n = (unsigned)sim_rng_range(r, 2, QUEUE_WAITERS_MAX);
  sim_option("waiters", "%u", x->n);
  TRY(as_mutex_new(&x->m));
  TRY(as_cond_new(&x->c));
  TRY(as_cond_new(&x->arrived));
  TRY(as_cond_new(&x->ack));
  return AS_OK;
}

static int signal_fifo_setup(void *st, sim_rng *r) { return queue_setup_common(st, r); }

static int signal_ticket_setup(void *st, sim_rng *r) {
  ((queue *)st)->ticket = 1;
  return queue_setup_common(st, r);
}

static void queue_waiter(void *arg) {
  queue *x = arg;
  as_mutex_lock(x->m);
  unsigned my = x->arrivals++;
  as_cond_signal(x->arrived);
  if (x->ticket) {
    while (x->turn != my + 1) as_cond_wait(x->c, x->m);
  } else {
    while (x->tokens == 0) as_cond_wait(x->c, x->m);
    x->tokens--;
  }
  unsigned order = x->served++;
  as_cond_signal(x->ack);
  as_mutex_unlock(x->m);
  if (order != my)
    sim_fail(SIM_ASSERT, "the waiter queued at position %u was served at position %u: the "
             "signal woke another waiter than the oldest", my, order);
}

static void queue_main(void *st) {
  queue *x = st;
  as_task *ts[QUEUE_WAITERS_MAX];
  for (unsigned i = 0; i < x->n; i++) ts[i] = spawn_or_fail("waiter", queue_waiter, x);
  as_mutex_lock(x->m);
  /* Every waiter is queued on c once arrivals is n: each counted itself and
  ** waited in one critical section. */
  while (x->arrivals < x->n) as_cond_wait(x->arrived, x->m);
  for (unsigned i = 0; i < x->n; i++) {
    if (x->ticket) {
      x->turn = i + 1;
      as_cond_broadcast(x->c);
    } else {
      x->tokens = 1;
      as_cond_signal(x->c);
    }
    while (x->served <= i) as_cond_wait(x->ack, x->m);
  }
  as_mutex_unlock(x->m);
  for (unsigned i = 0; i < x->n; i++) join_or_fail(ts[i]);
}

static void queue_teardown(void *st) {
  queue *x = st;
  as_cond_free(x->c);
  as_cond_free(x->arrived);
  as_cond_free(x->ack);
  as_mutex_free(x->m);
}

static const sim_program signal_fifo_prog = {
    .name = "selftest:signal_fifo",
    .fingerprint = 0x73656c6674657300ull + 0x13,
    .summary = "a hand-off that assumes a signal wakes the oldest waiter: caught by the "
               "strategy's choice of waiter",
    .state_size = sizeof(queue),
    .est_tasks = 5,
    .setup = signal_fifo_setup,
    .main = queue_main,
    .teardown = queue_teardown,
};

static const sim_program signal_ticket_prog = {
    .name = "selftest:signal_ticket",
    .fingerprint = 0x73656c6674657300ull + 0x14,
    .summary = "the same hand-off by ticket and broadcast; must never fail",
    .state_size = sizeof(queue),
    .est_tasks = 5,
    .setup = signal_ticket_setup,
    .main = queue_main,
    .teardown = queue_teardown,
};

/* --- selftest:timeout_stale / timeout_recheck -- after a timed-out wait ---- */

/* A waiter reads a value, waits with a deadline, and on a timeout writes
** back what it read plus one, as if nothing could have changed: nobody
** signalled. A writer comes at the deadline; it can slip in between the
** wait's expiry and the waiter retaking the mutex, and its update is lost.
** The correct waiter reads the value again after the wait. */
typedef struct stale {
  as_mutex *m;
  as_cond *c;
  uint64_t value, deadline;
  int recheck; /* 1: read again after the wait (correct); 0: the bug */
} stale;

static int stale_setup_common(stale *x, sim_rng *r) {
  x->deadline = sim_rng_range(r, 1, 60) * UINT64_C(1000000000);
  sim_option("deadline_s", "%" PRIu64, x->deadline / UINT64_C(1000000000));
  TRY(as_mutex_new(&x->m));
  TRY(as_cond_new(&x->c));
  return AS_OK;
}

static int timeout_stale_setup(void *st, sim_rng *r) { return stale_setup_common(st, r); }

static int timeout_recheck_setup(void *st, sim_rng *r) {
  ((stale *)st)->recheck = 1;
  return stale_setup_common(st, r);
}

static void stale_waiter(void *arg) {
  stale *x = arg;
  as_mutex_lock(x->m);
  uint64_t seen = x->value;
  int rc = as_cond_timedwait(x->c, x->m, x->deadline);
  if (rc == AS_TIMEDOUT && !x->recheck)
    x->value = seen + 1; /* the bug: "timed out, so nobody wrote" */
  else
    x->value += 1;
  as_mutex_unlock(x->m);
}

static void stale_writer(void *arg) {
  stale *x = arg;
  as_sleep_until(x->deadline);
  as_mutex_lock(x->m);
  x->value += 10;
  as_mutex_unlock(x->m);
}

static void stale_main(void *st) {
  as_task *a = spawn_or_fail("waiter", stale_waiter, st);
  as_task *b = spawn_or_fail("writer", stale_writer, st);
  join_or_fail(a);
  join_or_fail(b);
}

static int stale_check(void *st, char *msg, size_t cap) {
  stale *x = st;
  if (x->value == 11) return 0;
  snprintf(msg, cap, "the value is %" PRIu64 ", expected 11: the writer's update was lost "
           "(it slipped in between the wait's expiry and the waiter retaking the mutex)",
           x->value);
  return 1;
}

static void stale_teardown(void *st) {
  stale *x = st;
  as_cond_free(x->c);
  as_mutex_free(x->m);
}

static const sim_program timeout_stale_prog = {
    .name = "selftest:timeout_stale",
    .fingerprint = 0x73656c6674657300ull + 0x15,
    .summary = "after a timed-out wait, assumes nothing changed: a writer slips in between "
               "the expiry and the retake",
    .state_size = sizeof(stale),
    .est_tasks = 3,
    .setup = timeout_stale_setup,
    .main = stale_main,
    .check = stale_check,
    .teardown = stale_teardown,
};

static const sim_program timeout_recheck_prog = {
    .name = "selftest:timeout_recheck",
    .fingerprint = 0x73656c6674657300ull + 0x16,
    .summary = "the same waiter reading the value again after the wait; must never fail",
    .state_size = sizeof(stale),
    .est_tasks = 3,
    .setup = timeout_recheck_setup,
    .main = stale_main,
    .check = stale_check,
    .teardown = stale_teardown,
};

/* --- registry ----------------------------------------------------------- */

const selftest selftests[] = {
    {&abba_prog, 1, SIM_DEADLOCK, 2, 0},
    {&ordering_prog, 1, SIM_ASSERT, 1, 0},
    {&atomicity_prog, 1, SIM_INVARIANT, 2, 0},
    {&timer_prog_def, 0, SIM_PASS, 0, 0},
    {&counter_prog, 0, SIM_PASS, 0, 0},
    {&cond_if_prog, 1, SIM_ASSERT, 1, 1},
    {&cond_while_prog, 0, SIM_PASS, 0, 0},
    {&signal_fifo_prog, 1, SIM_ASSERT, 1, 0},
    {&signal_ticket_prog, 0, SIM_PASS, 0, 0},
    {&timeout_stale_prog, 1, SIM_INVARIANT, 1, 0},
    {&timeout_recheck_prog, 0, SIM_PASS, 0, 0},
};
const unsigned selftest_count = sizeof selftests / sizeof selftests[0];

const selftest *selftest_find(const char *name) {
  for (unsigned i = 0; i < selftest_count; i++)
    if (strcmp(selftests[i].prog->name, name) == 0) return &selftests[i];
  return NULL;
}

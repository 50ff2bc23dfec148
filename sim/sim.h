/*
** sim.h -- the deterministic world.
**
** A sim runs a program's tasks as green threads on the calling OS thread and
** implements the platform seam (seam.h) for them: every seam call that can
** block or publish is a scheduling point at which a strategy (random walk,
** PCT, POS, a portfolio of them, or a recorded schedule) picks the next
** task. Time is virtual: it
** moves only when every task is blocked (to the earliest timer) or by
** sim_advance. One root seed expands into independent streams, and those
** into substreams (per fault point, per actor instance).
**
** The world is not polite: a condition waiter may wake with no signal
** (sim_config.spurious_ppm), a signal wakes the waiter the strategy chooses,
** and a timed wait that expires retakes its mutex through a scheduling point.
**
** A run ends in one outcome: pass, or a failure with a description (an
** invariant or assertion message, the wait-for graph of a deadlock, the
** budget a hang exceeded, the signal of a crash), or a harness error (the
** program's checks could not look at what they needed). Everything a run
** does is one typed event stream (stream.h) that sinks consume: the trace
** hash, the --verbose printer, the hash log, a program's oracle. Every run
** records its decisions, spurious wakeups and fault outcomes as a versioned
** schedule string (schedule.h); replay from the seed or from the schedule
** gives the same hash, and sim_config can override the last two lists.
**
** One sim object may be reused for many runs (its stacks are pooled); it is
** not thread-safe, and only one run may be active in a process at a time.
*/
#ifndef AGENTSIM_SIM_H
#define AGENTSIM_SIM_H

#include <stdint.h>
#include <stdio.h>

#include "agentsim/seam.h"
#include "ctx.h"
#include "evlog.h"
#include "rng.h"
#include "schedule.h"
#include "stream.h"

/* X(NAME, text) -- how a run ended. */
#define SIM_OUTCOME_MAP(X)                                                    \
  X(PASS, "pass")                                                             \
  X(INVARIANT, "invariant")                                                   \
  X(ASSERT, "assertion")                                                      \
  X(DEADLOCK, "deadlock")                                                     \
  X(HANG, "hang")                                                             \
  X(CRASH, "crash")                                                           \
  X(HARNESS, "harness error")

typedef enum sim_outcome {
#define SIM__OUT(name, text) SIM_##name,
  SIM_OUTCOME_MAP(SIM__OUT)
#undef SIM__OUT
  SIM__OUTCOME_COUNT
} sim_outcome;

const char *sim_outcome_name(sim_outcome o);

/* Who runs next (strategy.c):
**   RANDOM     a uniform random walk over the runnable tasks;
**   PCT        Burckhardt et al.'s priorities with d-1 change points drawn
**              over the run's decisions (steps where more than one task can
**              run), k estimated from the program (sim_pct_estimate);
**   REPLAY     the decisions of a schedule string;
**   POS        partial-order sampling (Yuan et al., CAV 2018; pos.c) with the
**              seam's object identities as the conflict relation;
**   PORTFOLIO  one of random, PCT d=1, d=2, d=3 and POS, by seed % 5
**              (sim_portfolio_pick). */
typedef enum sim_strategy_kind {
  SIM_STRATEGY_RANDOM,
  SIM_STRATEGY_PCT,
  SIM_STRATEGY_REPLAY,
  SIM_STRATEGY_POS,
  SIM_STRATEGY_PORTFOLIO
} sim_strategy_kind;

/* Defaults for the budgets and PCT. */
#define SIM_DEFAULT_MAX_STEPS 1000000ull
#define SIM_DEFAULT_MAX_VIRTUAL_NS (30ull * 24 * 3600 * 1000000000ull)
#define SIM_DEFAULT_PCT_DEPTH 3u
/* PCT's k is the most decisions any of this many random-walk runs and as
** many PCT d=1 runs of the program made (seeds 0, 1, ...): sim_pct_estimate. */
#define SIM_PCT_CALIBRATION_RUNS 4u
/* The portfolio's rotation: seed % SIM_PORTFOLIO_SIZE picks the strategy. */
#define SIM_PORTFOLIO_SIZE 5u
#define SIM_DEFAULT_STACK (256u * 1024u)
/* Hard caps. */
#define SIM_MAX_TASKS 4096u
#define SIM_MAX_PCT_DEPTH 64u
#define SIM_MSG_MAX 8192
#define SIM_OPTIONS_MAX 2048

typedef struct sim_program sim_program;

typedef struct sim_config {
  uint64_t seed;
  sim_strategy_kind strategy;
  unsigned pct_depth;      /* PCT d >= 1; 0: SIM_DEFAULT_PCT_DEPTH */
  uint64_t pct_steps;      /* PCT k, in decisions; 0: the program's estimate
                           ** (sim_program.est_steps, else calibrated) */
  const char *schedule;    /* with SIM_STRATEGY_REPLAY */
  uint64_t max_steps;      /* 0: SIM_DEFAULT_MAX_STEPS */
  uint64_t max_virtual_ns; /* 0: SIM_DEFAULT_MAX_VIRTUAL_NS */
  FILE *trace;             /* non-NULL: print every event (the interleaving) */
  unsigned max_cpu_s;      /* a task that runs this many CPU seconds without a
                           ** scheduling point is a hang; 0: no limit */
  int mutant;              /* program-defined bug switch; 0 = none */
  sim_hashlog *hashlog;    /* non-NULL: log every event (--check-determinism) */
  sim_evlog *evlog;        /* non-NULL: record every event, SIM_EV_LOG included,
                           ** with its words (evlog.h: the timeline); reset at
                           ** the run's start, the outcome kept at its end */
  /* Spurious wakeups: at every step where some task waits on a condition
  ** variable and some task can run, one waiter (drawn uniformly) wakes with
  ** no signal with this probability, in parts per million. 0: never (the
  ** default). A replay takes its wakeups from the schedule instead. */
  uint32_t spurious_ppm;
  /* Overrides, for any strategy (a shrinker's knobs). With faults_given the
  ** listed outcomes fire and no other (a replay's schedule's list and the
  ** seed's draws are both set aside); with wakeups_given the listed spurious
  ** wakeups happen and no other. The lists are copied; any order. */
  int faults_given;
  const sim_fault_draw *faults;
  size_t nfaults;
  int wakeups_given;
  const sim_wakeup *wakeups;
  size_t nwakeups;
} sim_config;

typedef struct sim_result {
  sim_outcome outcome;
  uint64_t steps;      /* scheduling points taken */
  uint64_t decisions;  /* points where more than one task could run */
  uint64_t virtual_ns; /* virtual time at the end */
  uint64_t trace_hash;
  unsigned tasks;      /* tasks spawned, main included */
  uint64_t faults;     /* fault outcomes that fired (listed in the schedule) */
  uint64_t wakeups;    /* spurious wakeups (listed in the schedule) */
  char *schedule;      /* owned; release with sim_result_clear */
  char options[SIM_OPTIONS_MAX]; /* "name=value ..." every option the seed chose */
  char message[SIM_MSG_MAX];     /* what failed, or empty */
} sim_result;

/* A program the sim can run: the self-tests, later the scenarios. */
struct sim_program {
  const char *name;
  const char *summary;
  size_t state_size;   /* zeroed state handed to every hook */
  uint64_t fingerprint; /* what the program is (its text's hash): a schedule
                        ** recorded for another is refused on replay */
  unsigned est_tasks;  /* PCT's n, for reports */
  uint64_t est_steps;  /* PCT's k (decisions) when the config leaves it 0;
                       ** 0 (the norm): calibrated, see sim_pct_estimate */
  uint64_t max_steps;      /* the program's own step budget when the config
                           ** leaves it 0 (0: SIM_DEFAULT_MAX_STEPS) */
  uint64_t max_virtual_ns; /* likewise its virtual-time budget */
  /* Before any task: draw workload options (sim_option prints them) and make
  ** objects. Nonzero aborts the run with that status. */
  int (*setup)(void *state, sim_rng *workload);
  /* The body of task 0, "main". */
  void (*main)(void *state);
  /* After every step (optional): nonzero = violated, message in msg. */
  int (*invariant)(void *state, char *msg, size_t cap);
  /* At quiescence of a run that otherwise passed (optional), outside any
  ** task: 0 when it holds; SIM_HARNESS when the check could not look at
  ** what it needed; anything else is an invariant violation. msg says what. */
  int (*check)(void *state, char *msg, size_t cap);
  /* Describe one of the program's own events (kind >= SIM_EV_PROGRAM) in
  ** words, for the printer and the hash log (optional). */
  void (*describe)(const sim_ev *ev, char *buf, size_t cap);
  /* Always, last (optional): release what setup made. */
  void (*teardown)(void *state);
  /* The program's own data (a parsed scenario, say), for its hooks:
  ** sim_program_user() during a run. */
  const void *user;
};

typedef struct sim sim;

/* A reusable world with the given context switch and task stack size
** (0: SIM_DEFAULT_STACK). */
AS_WUR int sim_new(sim **out, sim_switch_kind sw, size_t stack_size);
void sim_free(sim *s);

/* Run `p` once. AS_OK when the run took place, whatever its outcome (see
** res->outcome); AS_PARSE for an undecodable schedule, AS_DIVERGED when a
** replay's recorded decision cannot be taken (res->message says where),
** AS_NOMEM, or the status a setup hook returned. res is always initialised;
** free it with sim_result_clear. */
AS_WUR int sim_run(sim *s, const sim_program *p, const sim_config *cfg,
                   sim_result *res);
void sim_result_clear(sim_result *res);

/* PCT's k for p under cfg's limits and mutant: the most decisions (steps
** where more than one task could run) any of SIM_PCT_CALIBRATION_RUNS
** random-walk runs and as many PCT d=1 runs of p made, seeds 0, 1, ...; at
** least 1. It does not
** depend on cfg's seed or strategy, so k is the same for every seed of a
** sweep, whatever --jobs or the order the seeds run in. Cached per program
** and limits in the process (a forked worker inherits the cache); sim_run
** calls it when a PCT run needs k and neither cfg nor p gives one. AS_OK, or
** the status a calibration run returned (its message in err). */
AS_WUR int sim_pct_estimate(sim *s, const sim_program *p, const sim_config *cfg, uint64_t *k,
                            char *err, size_t cap);
/* Whether a run of cfg needs PCT's k estimated (PCT, or a portfolio seed
** that picks PCT, with no k in cfg or p). */
int sim_pct_needs_estimate(const sim_program *p, const sim_config *cfg);
/* The portfolio's choice for a seed: the strategy (RANDOM, PCT or POS) and,
** for PCT, its depth d (1, 2 or 3). */
sim_strategy_kind sim_portfolio_pick(uint64_t seed, unsigned *pct_depth);

/* --- for programs, inside a run ------------------------------------------ */

/* Record an option the seed chose; printed with the run. */
void sim_option(const char *name, const char *fmt, ...) AS_PRINTF(2, 3);
/* End the run with a failure (from a task: does not return). */
void sim_fail(sim_outcome kind, const char *fmt, ...) AS_PRINTF(2, 3);
/* A program-level note (SIM_EV_NOTE with label `what`): traced, hashed. */
void sim_note(const char *what, uint64_t value);
/* Move virtual time forward by ns (a scheduling point); due timers fire. */
void sim_advance(uint64_t ns);
/* A plain scheduling point: a step of work (unlike as_task_yield, which PCT
** takes as "I am waiting for someone else"). */
void sim_step(void);
/* The running task is busy for ns of virtual time, as an operation in
** flight is (a disk I/O): it blocks on a timer until then while the others
** run and due timers fire. Blocking is the scheduling point: no other is
** taken before it. A traced SIM_EV_SLEEP (object: the deadline, extra: 1).
** A no-op outside a task or for ns 0; past the virtual-time budget the run
** ends as a hang. */
void sim_busy(uint64_t ns);
/* I/O that ends within this long of the earliest I/O to end, when time
** jumps to it, ends together with it, and the strategy picks who goes
** first: completions that close are not ordered by the nanosecond on a real
** machine either (Linux wakes a sleeper up to its timer slack late, 50 us
** by default: prctl(2), PR_SET_TIMERSLACK). A timer due inside that window
** fires with them, late by at most this. */
#define SIM_BUSY_SLACK_NS 50000u
/* The seed the active run gave stream st (0 outside a run): for a
** component that keeps a substream of its own, seeded from it. */
uint64_t sim_stream_seed_of(sim_stream st);
/* The run's workload stream (what setup draws from). */
sim_rng *sim_workload_rng(void);
/* Seed *out as substream `key` of the active run's stream `st`
** (sim_substream_seed): a generator of its own, so how many draws others
** make, in whatever order, does not change its draws. Keys in use: under
** SIM_STREAM_FAULTS the fault point numbers (0..AS__FP_COUNT-1); under
** SIM_STREAM_SCHED SIM_SUBSTREAM_SPURIOUS. Outside a run *out is seeded
** from 0. */
void sim_substream(sim_rng *out, sim_stream st, uint64_t key);
/* Substream `key` of the workload stream: one per actor instance. */
void sim_workload_substream(sim_rng *out, uint64_t key);
#define SIM_SUBSTREAM_SPURIOUS 0x73707572696f7573ull /* "spurious" */
/* The running task's own substream of the fault stream (key
** SIM_SUBSTREAM_IO ^ task id), for what its I/O calls cost: the n-th call of
** a task costs the same whatever the interleaving. NULL outside a task. */
sim_rng *sim_task_io_rng(void);
#define SIM_SUBSTREAM_IO 0x696f74696d650000ull /* "iotime" */
/* Fault rate for a numbered fault point, in parts per million. */
void sim_fault_rate(unsigned point, uint32_t ppm);
/* The mutant switched on for this run (0 = none). */
int sim_mutant(void);
/* The running program's user pointer (NULL outside a run). */
const void *sim_program_user(void);
/* A number unique to the active run within this process (runs count up
** from 1), or 0 outside a run: lets code that outlives a run (a library's
** static locks) tell that objects it made through the seam were reclaimed. */
uint64_t sim_run_id(void);
/* The world's wall clock: it reads SIM_WALL_EPOCH_NS (2026-01-01T00:00:00Z)
** plus the virtual time, so runs stamp the same times on every machine. */
#define SIM_WALL_EPOCH_NS ((int64_t)1767225600 * 1000000000)
/* Nonzero when the caller is one of the active run's tasks, so a blocking
** seam call is allowed; 0 in setup, teardown, the scheduler, or outside a
** run. */
int sim_in_task(void);

/* Object identities, for POS's conflict relation (pos.c): the class in the
** top byte, so ids of different classes never collide. */
typedef enum sim_obj_class {
  SIM_OBJ_NONE,  /* touches nothing shared */
  SIM_OBJ_MUTEX, /* a seam mutex, by its id (m1, m2, ...) */
  SIM_OBJ_COND,  /* a seam condition variable, by its id */
  SIM_OBJ_TASK,  /* a task, by id (join) */
  SIM_OBJ_FILE,  /* a simulated-disk file, by its id */
  SIM_OBJ_NAME,  /* a file name in the simulated directory, by its hash */
  SIM_OBJ_SHM,   /* the simulated disk's shared-memory locks */
  SIM_OBJ_ANY    /* every object: conflicts with every event */
} sim_obj_class;
#define SIM_OBJECT(cls, id) (((uint64_t)(cls) << 56) | ((uint64_t)(id) & ((1ull << 56) - 1)))
/* A scheduling point like sim_step, before an operation on `object`
** (SIM_OBJECT(...)) that only reads it when `read` is nonzero. */
void sim_step_on(uint64_t object, int read);
/* The scheduling point before a simulated-disk event of `kind`
** (SIM_EV_DISK_*) on `object` (a file id, a lock offset) or the file named
** `label`: sim_step_on with the object and access pos.c gives that kind. */
void sim_step_io(uint32_t kind, uint64_t object, const char *label);
/* The same object and access noted for an I/O whose scheduling point is
** not a step but the wait of sim_busy (it costs time): call it first. */
void sim_pending_io(uint32_t kind, uint64_t object, const char *label);

/* The seam implementation the sim installs while a run is active. */
extern const as_platform sim_platform;

#endif

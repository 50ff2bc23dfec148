/*
** sim_internal.h -- the sim's private structures, shared by sched.c (the run
** loop and task life), timers.c, stream.c (the event stream, the trace hash),
** crash.c (signals and the CPU watchdog), waitfor.c (the wait-for graph and
** failure reports), sync.c (the seam), wakeups.c (spurious wakeups, listed
** outcomes), strategy.c, pos.c, pct_k.c and schedule.c.
*/
#ifndef AGENTSIM_SIM_INTERNAL_H
#define AGENTSIM_SIM_INTERNAL_H

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "agentsim/fmt.h"
#include "grow.h"
#include "sim.h"

typedef enum task_state { TS_RUNNABLE, TS_BLOCKED, TS_DONE, TS_DEAD } task_state;
typedef enum wait_kind { WAIT_NONE, WAIT_MUTEX, WAIT_COND, WAIT_JOIN, WAIT_SLEEP } wait_kind;

typedef struct waitq {
  struct as_task *head, *tail;
} waitq;

#define NO_TIMER SIZE_MAX

struct as_task {
  uint32_t id;
  char name[AS_TASK_NAME_MAX];
  task_state state;
  wait_kind wait;
  void *wait_obj;          /* the mutex, cond or task waited on */
  struct as_task *wq_next, *wq_prev;
  waitq *wq;               /* the queue this task is on, or NULL */
  size_t heap_idx;         /* position in the timer heap, or NO_TIMER */
  uint64_t deadline, timer_seq;
  int busy;                /* the timer ends a sim_busy (an I/O in flight) */
  int wake_rc;             /* AS_OK or AS_TIMEDOUT for the last wait */
  uint32_t runnable_idx;
  uint64_t prio;           /* PCT or POS priority; higher runs first */
  /* The pending event: what the task does when it next runs (POS). */
  uint64_t next_obj[2];    /* SIM_OBJECT ids it touches; 0: none */
  int next_read;           /* it only reads them */
  uint64_t pos_gen;        /* the last pick (s->pos_gen) it was runnable at */
  struct as_task *joiner;
  int joined;
  as_task_fn fn;
  void *arg;
  const char *doing;       /* the last seam call, for reports */
  sim_rng io_rng;          /* its own substream of the fault stream for the
                           ** time its I/O takes (sim_task_io_rng) */
  int io_seeded;
  sim_ctx ctx;
  sim_stack stack;
};

typedef enum obj_kind { OBJ_MUTEX, OBJ_COND } obj_kind;

/* The header of an as_malloc block under the sim: 16 bytes, so the payload
** keeps malloc's alignment. */
typedef struct sim_blk {
  struct sim_blk *prev, *next;
} sim_blk;

/* Every mutex and cond made during a run, so a run's leftovers are freed. */
typedef struct sim_obj {
  obj_kind kind;
  uint32_t id;
  struct sim_obj *prev, *next;
} sim_obj;

struct as_mutex {
  sim_obj obj; /* first: a mutex is an object */
  struct as_task *owner;
  waitq q;
  uint32_t contenders; /* tasks that will touch it: about to lock, queued,
                       ** woken to retry, or waiting on a cond to retake it */
};

struct as_cond {
  sim_obj obj;
  waitq q;
  uint32_t users; /* tasks parked at a scheduling point about to use it */
};

/* A registered sink. */
typedef struct sim__sink {
  sim_sink_fn fn;
  void *ctx;
} sim__sink;

/* Bytes of one event's hashed record (stream.h). */
#define SIM_EV_RECORD 48

struct sim {
  sim_switch_kind sw;
  size_t stack_size;
  sim_stack *pool; /* stacks kept between runs */
  size_t npool, cappool;
  sim_ctx main_ctx;
  char *altstack;
  size_t altstack_size;

  /* --- one run ---------------------------------------------------------- */
  const sim_program *prog;
  const sim_config *cfg;
  sim_result *res;
  void *state;
  FILE *trace;
  sim_rng rng[SIM_STREAM_COUNT];
  uint64_t stream_seed[SIM_STREAM_COUNT];

  struct as_task **tasks;
  uint32_t ntasks;
  size_t captasks, caprunnable, capheap;
  struct as_task **runnable;
  uint32_t nrunnable;
  struct as_task *cur; /* running task; NULL in the scheduler */
  uint32_t live;       /* tasks not yet done */
  struct as_task *dying;

  struct as_task **heap; /* timers: min (deadline, seq) */
  size_t nheap;
  uint64_t timer_seq;

  uint64_t now, steps, max_steps, max_vns;
  sim_obj objs; /* list head */
  struct sim_blk *blocks; /* the run's live as_malloc blocks (a ring; NULL: none) */
  uint32_t next_obj_id;

  sim__sink sinks[SIM_MAX_SINKS];
  unsigned nsinks;
  struct XXH64_state_s *xxh; /* the trace hash (stream.c) */
  int hash_broken;           /* XXH64 refused an update: the result is an error */
  /* Records not yet fed to xxh: hashed a buffer at a time, the same bytes
  ** in the same order (XXH64 streams), far fewer calls. */
  unsigned char hbuf[SIM_EV_RECORD * 64];
  size_t hlen;

  uint32_t *dec; /* decisions taken */
  size_t ndec, capdec;
  uint32_t *rdec; /* decisions to replay */
  size_t nrdec, rpos;
  struct as_task **cand; /* scratch: a choice's candidates (room for every task) */
  size_t capcand;

  /* Spurious wakeups (sched.c): drawn at spurious_ppm from their own
  ** substream, or applied from a list (a replay, an override). */
  uint32_t spurious_ppm;
  sim_rng spurious_rng;
  uint32_t ncondwait; /* tasks blocked on a condition variable */
  sim_wakeup *wk;     /* the run's wakeups, recorded */
  size_t nwk, capwk;
  int wk_listed;      /* wakeups come from rwk, not from draws */
  sim_wakeup *rwk;    /* listed, sorted by step */
  size_t nrwk, rwkpos;

  /* Fault outcomes (sync.c): each point's n-th consultation draws from the
  ** point's own substream, or is looked up in a list. */
  sim_rng fault_rng[AS__FP_COUNT];
  uint64_t fault_draws[AS__FP_COUNT]; /* consultations so far */
  sim_fault_draw *fl;  /* fired, recorded */
  size_t nfl, capfl;
  int fl_listed;
  sim_fault_draw *rfl; /* listed, sorted by (point, draw) */
  size_t nrfl;

  sim_strategy_kind kind; /* the strategy this run uses (a portfolio's pick) */
  unsigned pct_d;
  uint64_t pct_k;
  uint64_t pos_gen;       /* POS: picks made */
  uint64_t pos_obj[2];    /* POS: the objects of the event that ran last ... */
  int pos_read;           /* ... whether it only read them ... */
  struct as_task *pos_ran; /* ... and its task (NULL before the first pick) */
  uint64_t change[SIM_MAX_PCT_DEPTH];
  unsigned nchange;
  uint64_t yield_floor; /* PCT: the next priority for a task that yields */

  int failed;
  int oom;
  int diverged;
  size_t optlen;
  uint32_t fault_ppm[AS__FP_COUNT];

  sigjmp_buf jmp;
  volatile sig_atomic_t crash_sig;
  volatile uint64_t wd_steps; /* the watchdog's view of progress */
  volatile unsigned wd_ticks;
  void *crash_addr;
  uint32_t crash_task;
  int crash_guard;
};

/* The active run (one per process). */
extern struct sim *sim__active;


/* stream.c */
/* Publish an event of the sim's: step, time and the running task filled in. */
void sim__event(struct sim *s, uint32_t kind, uint64_t obj, uint64_t extra, const char *label);
/* Fill ev's step, time and task, and hand it to every sink. */
void sim__publish(struct sim *s, sim_ev *ev);
/* The run's own sinks (hash, hash log, printer), at the start of a run. */
AS_WUR int sim__sinks_start(struct sim *s);
/* The event's 48 hashed bytes (stream.h). */
void sim__ev_record(const sim_ev *ev, unsigned char rec[SIM_EV_RECORD]);
/* The trace hash: the outcome appended, the digest taken. */
uint64_t sim__hash_final(struct sim *s, uint64_t outcome);

/* evlog.c */
/* Empty l for a run of s (sim_run, before any event). */
void sim__evlog_reset(sim_evlog *l, const struct sim *s);
/* The recorder's sink; ctx is the sim_evlog. */
void sim__evlog_sink(void *ctx, const sim_ev *ev);
/* The run's end: its outcome and message, kept. */
void sim__evlog_end(sim_evlog *l, int outcome, const char *message);

/* sched.c */
void sim__point(struct sim *s, const char *doing);
void sim__block(struct sim *s, wait_kind w, void *obj, const char *doing);
void sim__wake(struct sim *s, struct as_task *t, int rc);
AS_WUR int sim__spawn(struct sim *s, struct as_task **out, const char *name,
                      as_task_fn fn, void *arg);
void sim__failv(struct sim *s, sim_outcome kind, const char *fmt, va_list ap) AS_PRINTF(3, 0);
struct as_task *sim__self(struct sim *s, const char *op);
/* The running task stops for good (a failure inside it); does not return. */
AS_NORETURN void sim__task_abandon(struct sim *s, struct as_task *t);
/* Take t out of the run loop's sets (runnable, timers, wait queues) and
** count it dead, without leaving its context (the crash path has already
** left it). */
void sim__task_retire(struct sim *s, struct as_task *t);
void sim__runnable_remove(struct sim *s, struct as_task *t);
/* End the run as a hang: which budget ran out (why), then where every task is. */
void sim__hang(struct sim *s, const char *why);
/* Append a decision (a pick or a choice) to the run's record; a failure
** ends the run (a hang past the cap, or out of memory: s->failed, s->oom). */
void sim__record_decision(struct sim *s, uint32_t id);

/* wakeups.c */
/* Before a step's pick: the listed wakeups due, or perhaps one drawn. */
void sim__spurious_step(struct sim *s);
/* The listed wakeups and faults for the run: the config's overrides first,
** else own's (a replay's schedule, whose arrays are taken over; NULL for a
** seed run: nothing listed). Copies are sorted; AS_INVAL (message in the
** result) for a fault point that does not exist, AS_TOOBIG past the caps. */
AS_WUR int sim__take_lists(struct sim *s, const sim_config *cfg, sim_schedule *own);

/* timers.c */
void sim__timer_add(struct sim *s, struct as_task *t, uint64_t deadline);
void sim__timer_cancel(struct sim *s, struct as_task *t);
/* Wake every task whose timer is due now, in the order the timers were set. */
void sim__fire_due_timers(struct sim *s);
/* Every task is blocked: jump to the earliest deadline and fire what is due
** (when it ends an I/O, with the I/O ending within SIM_BUSY_SLACK_NS of it). */
void sim__advance_to_next_timer(struct sim *s);

/* crash.c */
/* Counted process-wide: the first sim installs the crash handlers and the
** CPU watchdog, the last one out removes them. */
AS_WUR int sim__crash_install(void);
void sim__crash_remove(void);
/* Put s's alternate signal stack in place if another sim's is there. */
AS_WUR int sim__crash_use_altstack(struct sim *s);
void sim__crash_forget_altstack(struct sim *s);
/* Run the loop with crash signals caught; a crash ends the run described. */
void sim__run_guarded(struct sim *s, void (*loop)(struct sim *s));

/* Free the run's as_malloc blocks still live (abandoned tasks' heap). */
void sim__free_blocks(struct sim *s);

/* waitq helpers (sync.c) */
void sim__wq_push(waitq *q, struct as_task *t);
void sim__wq_remove(struct as_task *t);

/* strategy.c */
/* Which strategy the run uses (s->kind, s->pct_d), before anything runs. */
void sim__strategy_resolve(struct sim *s);
AS_WUR int sim__strategy_init(struct sim *s);
void sim__strategy_on_spawn(struct sim *s, struct as_task *t);
struct as_task *sim__strategy_pick(struct sim *s);
void sim__strategy_on_yield(struct sim *s, struct as_task *t);
/* One of n >= 1 candidate tasks (cond_signal's waiters, in queue order),
** chosen as the strategy chooses a task to run: random uniformly, PCT the
** highest priority, replay the recorded id (a divergence when it is not a
** candidate: then cand[0], and the run stops at its next step). With more
** than one candidate the choice is recorded as a decision. */
struct as_task *sim__strategy_choose(struct sim *s, struct as_task **cand, uint32_t n);

/* pos.c */
struct as_task *sim__pos_pick(struct sim *s);
void sim__pos_on_spawn(struct sim *s, struct as_task *t);
/* The seam as POS needs it: sim_platform, with every call that reaches a
** scheduling point first noting on the running task the objects it is
** about to touch. */
const as_platform *sim__pos_platform(void);
/* Note the running task's pending event (what it touches when next run). */
void sim__pending(struct sim *s, uint64_t a, uint64_t b, int read);

/* waitfor.c */
/* The task t waits for, when its wait has one owner (a mutex holder or a
** joined task); NULL otherwise. */
struct as_task *sim__waits_on(const struct as_task *t);
/* Whether t's lock or join wait closes a cycle in the wait-for graph. */
int sim__closes_cycle(struct sim *s, const struct as_task *t);
void sim__report_deadlock(struct sim *s, char *buf, size_t cap);
void sim__report_tasks(struct sim *s, char *buf, size_t cap);

#endif

/*
** sched.c -- the run loop: tasks, timers, the event trace and its hash,
** failure capture (including crash signals), and the result.
*/
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "schedule.h"
#include "sim_internal.h"

struct sim *sim__active;
/* sim_run_id: the active run's number; run_count numbers them. */
static uint64_t run_count, active_run_id;

static const char *const outcome_names[] = {
#define SIM__N(name, text) text,
    SIM_OUTCOME_MAP(SIM__N)
#undef SIM__N
};

static const char *const event_names[] = {
#define SIM__N(name, text) text,
    SIM_EVENT_MAP(SIM__N)
#undef SIM__N
};

const char *sim_outcome_name(sim_outcome o) {
  return (unsigned)o < SIM__OUTCOME_COUNT ? outcome_names[o] : "?";
}

/* --- crash signals -------------------------------------------------------- */

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGVTALRM};
#define NCRASH (sizeof crash_signals / sizeof crash_signals[0])
static struct sigaction old_actions[NCRASH];
static int handlers_installed;

/* Once a CPU second: a task that has not reached a scheduling point for
** max_cpu_s ticks is looping without touching the seam. */
static int watchdog_expired(struct sim *s) {
  if (!s->cfg->max_cpu_s) return 0;
  if (s->steps != s->wd_steps) {
    s->wd_steps = s->steps;
    s->wd_ticks = 0;
    return 0;
  }
  return ++s->wd_ticks >= s->cfg->max_cpu_s;
}

static void crash_handler(int sig, siginfo_t *si, void *uctx) {
  struct sim *s = sim__active;
  (void)uctx;
  if (sig == SIGVTALRM) {
    if (!s || !s->cur || !watchdog_expired(s)) return;
  }
  if (s && s->cur) {
    s->crash_sig = sig;
    s->crash_addr = si->si_addr;
    s->crash_task = s->cur->id;
    s->crash_guard = sim_stack_in_guard(&s->cur->stack, si->si_addr);
    sim_ctx_asan_abandon(&s->main_ctx);
    siglongjmp(s->jmp, 1);
  }
  /* Not a task's: put back what was there and let the signal happen again. */
  for (size_t i = 0; i < NCRASH; i++) {
    if (crash_signals[i] == sig) {
      (void)sigaction(sig, &old_actions[i], NULL); /* ignore: nothing better to do in a handler */
    }
  }
  if (si->si_code <= 0) (void)raise(sig); /* ignore: a sent signal; a fault re-executes */
}

/* The sim whose alternate stack the thread has; crash_handler runs on it. */
static struct sim *altstack_owner;

/* Put s's alternate stack in place if another sim's is there (or none). */
static AS_WUR int use_altstack(struct sim *s) {
  if (altstack_owner == s) return AS_OK;
  stack_t ss = {.ss_sp = s->altstack, .ss_size = s->altstack_size, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) return AS_SYS;
  altstack_owner = s;
  return AS_OK;
}

/* Counted: the first sim installs the handlers, the last one out removes them. */
static AS_WUR int install_handlers(void) {
  if (handlers_installed++) return AS_OK;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = crash_handler;
  /* SA_RESTART: the watchdog's tick must not fail the process's own I/O. */
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < NCRASH; i++) {
    if (sigaction(crash_signals[i], &sa, &old_actions[i]) != 0) {
      while (i-- > 0) (void)sigaction(crash_signals[i], &old_actions[i], NULL); /* ignore: undoing */
      handlers_installed--;
      return AS_SYS;
    }
  }
  /* CPU time, not wall time: a loop burns it, a blocked process does not,
  ** and alarm() stays free for the program. */
  struct itimerval it = {.it_interval = {1, 0}, .it_value = {1, 0}};
  if (setitimer(ITIMER_VIRTUAL, &it, NULL) != 0) return AS_SYS;
  return AS_OK;
}

static void remove_handlers(void) {
  if (handlers_installed == 0 || --handlers_installed > 0) return;
  struct itimerval off = {{0, 0}, {0, 0}};
  (void)setitimer(ITIMER_VIRTUAL, &off, NULL); /* ignore: cannot fail with valid values */
  for (size_t i = 0; i < NCRASH; i++) {
    (void)sigaction(crash_signals[i], &old_actions[i], NULL); /* ignore: restoring */
  }
}

/* --- sim object ----------------------------------------------------------- */

int sim_new(sim **out, sim_switch_kind sw, size_t stack_size) {
  sim *s = calloc(1, sizeof *s);
  if (!s) return AS_NOMEM;
  s->sw = sw;
  s->stack_size = stack_size ? stack_size : SIM_DEFAULT_STACK;
  s->altstack_size = 64 * 1024;
  s->altstack = malloc(s->altstack_size);
  if (!s->altstack) {
    free(s);
    return AS_NOMEM;
  }
  int rc = install_handlers();
  if (rc != AS_OK) {
    free(s->altstack);
    free(s);
    return rc;
  }
  *out = s;
  return AS_OK;
}

void sim_free(sim *s) {
  if (!s) return;
  for (size_t i = 0; i < s->npool; i++) sim_stack_free(&s->pool[i]);
  free(s->pool);
  remove_handlers();
  if (altstack_owner == s) { /* another live sim may have put its own in place */
    stack_t ss = {.ss_flags = SS_DISABLE};
    (void)sigaltstack(&ss, NULL); /* ignore: the stack is freed next either way */
    altstack_owner = NULL;
  }
  free(s->altstack);
  free(s->tasks);
  free(s->runnable);
  free(s->heap);
  free(s->dec);
  free(s);
}

static AS_WUR int stack_get(struct sim *s, sim_stack *st) {
  if (s->npool > 0) {
    *st = s->pool[--s->npool];
    return AS_OK;
  }
  return sim_stack_alloc(st, s->stack_size);
}

static void stack_put(struct sim *s, sim_stack *st) {
  if (!st->map) return;
  if (s->npool == s->cappool) {
    size_t nc = s->cappool ? s->cappool * 2 : 16;
    sim_stack *np = realloc(s->pool, nc * sizeof *np);
    if (!np) {
      sim_stack_free(st); /* cannot keep it: give it back to the OS */
      return;
    }
    s->pool = np;
    s->cappool = nc;
  }
  s->pool[s->npool++] = *st;
  memset(st, 0, sizeof *st);
}

/* --- trace and hash ------------------------------------------------------- */

static inline uint64_t mix(uint64_t h, uint64_t w) {
  h ^= w + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
  h *= 0xFF51AFD7ED558CCDull;
  return h ^ (h >> 33);
}

/* The event in words, for --verbose. */
static void print_event(struct sim *s, sim_event ev, uint64_t obj, uint64_t extra,
                        const char *label) {
  uint64_t sec = s->now / 1000000000u, ns = s->now % 1000000000u;
  fprintf(s->trace, "%8" PRIu64 " %6" PRIu64 ".%09" PRIu64 "  ", s->steps, sec, ns);
  if (s->cur)
    fprintf(s->trace, "[%" PRIu32 " %s] ", s->cur->id, s->cur->name);
  else
    fprintf(s->trace, "[sched] ");
  fputs(event_names[ev], s->trace);
  switch (ev) {
  case EV_SPAWN:
  case EV_FINISH:
  case EV_JOIN:
  case EV_JOIN_WAIT:
    fprintf(s->trace, " task %" PRIu64 "%s%s", obj, label ? " " : "", label ? label : "");
    break;
  case EV_LOCK:
    fprintf(s->trace, " m%" PRIu64 "%s", obj, extra ? " (trylock)" : "");
    break;
  case EV_LOCK_WAIT:
  case EV_TRYLOCK_BUSY:
    fprintf(s->trace, " m%" PRIu64 ", held by task %" PRIu64, obj, extra);
    break;
  case EV_UNLOCK:
    fprintf(s->trace, " m%" PRIu64, obj);
    break;
  case EV_WAIT:
    if (extra == UINT64_MAX)
      fprintf(s->trace, " c%" PRIu64, obj);
    else
      fprintf(s->trace, " c%" PRIu64 " until %" PRIu64 " ns", obj, extra);
    break;
  case EV_SIGNAL:
    if (extra == UINT32_MAX)
      fprintf(s->trace, " c%" PRIu64 " (no waiter)", obj);
    else
      fprintf(s->trace, " c%" PRIu64 " wakes task %" PRIu64, obj, extra);
    break;
  case EV_BROADCAST:
    fprintf(s->trace, " c%" PRIu64, obj);
    break;
  case EV_SLEEP:
    fprintf(s->trace, " until %" PRIu64 " ns", obj);
    break;
  case EV_TIMEOUT:
    fprintf(s->trace, " ends %s at %" PRIu64 " ns", obj ? "a timed wait" : "a sleep", extra);
    break;
  case EV_TIME:
    fprintf(s->trace, " jumps to %" PRIu64 " ns", obj);
    break;
  case EV_ADVANCE:
    fprintf(s->trace, " by %" PRIu64 " ns", obj);
    break;
  case EV_FAULT:
    fprintf(s->trace, " at point %" PRIu64, obj);
    break;
  case EV_RANDOM:
    fprintf(s->trace, " %" PRIu64 " bytes", obj);
    break;
  case EV_NOTE:
    fprintf(s->trace, " %s=%" PRIu64, label ? label : "?", extra);
    break;
  case EV_YIELD:
  case EV_STEP:
  case EV__COUNT:
    break;
  }
  fputc('\n', s->trace);
}

void sim__event(struct sim *s, sim_event ev, uint64_t obj, uint64_t extra,
                const char *label) {
  uint32_t tid = s->cur ? s->cur->id : UINT32_MAX;
  s->hash = mix(s->hash, ((uint64_t)ev << 32) | tid);
  s->hash = mix(s->hash, obj);
  s->hash = mix(s->hash, extra);
  if (s->trace) print_event(s, ev, obj, extra, label);
}

void sim_note(const char *what, uint64_t value) {
  struct sim *s = sim__active;
  if (!s) return;
  /* The note's text is hashed too, so two different notes never collide. */
  uint64_t h = 1469598103934665603ull;
  for (const char *p = what; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
  sim__event(s, EV_NOTE, h, value, what);
}

/* --- options -------------------------------------------------------------- */

void sim_option(const char *name, const char *fmt, ...) {
  struct sim *s = sim__active;
  if (!s || !s->res) return;
  char val[256];
  va_list ap;
  va_start(ap, fmt);
  (void)vsnprintf(val, sizeof val, fmt, ap); /* ignore: a cut value still reads */
  va_end(ap);
  s->optlen = as_appendf(s->res->options, sizeof s->res->options, s->optlen,
                           "%s%s=%s", s->optlen ? " " : "", name, val);
}

/* --- failures ------------------------------------------------------------- */

static void task_abandon(struct sim *s, struct as_task *t);

void sim__failv(struct sim *s, sim_outcome kind, const char *fmt, va_list ap) {
  if (!s->failed && !s->diverged && !s->oom) {
    s->failed = 1;
    s->res->outcome = kind;
    int n = vsnprintf(s->res->message, sizeof s->res->message, fmt, ap);
    if (n < 0) s->res->message[0] = '\0';
    if (s->cur) {
      size_t len = strlen(s->res->message);
      (void)as_appendf(s->res->message, sizeof s->res->message, len, /* ignore: length unused */
                       " [in task %" PRIu32 " '%s' at step %" PRIu64 "]", s->cur->id,
                       s->cur->name, s->steps);
    }
  }
  if (s->cur) task_abandon(s, s->cur);
}

void sim_fail(sim_outcome kind, const char *fmt, ...) {
  struct sim *s = sim__active;
  if (!s) return;
  if (kind == SIM_PASS || (unsigned)kind >= SIM__OUTCOME_COUNT) kind = SIM_ASSERT;
  va_list ap;
  va_start(ap, fmt);
  sim__failv(s, kind, fmt, ap);
  va_end(ap);
}

struct as_task *sim__self(struct sim *s, const char *op) {
  if (!s->cur) {
    /* A blocking call from setup or the scheduler: a harness bug. */
    fprintf(stderr, "agentsim: %s called outside a sim task\n", op);
    abort();
  }
  return s->cur;
}

/* --- runnable set --------------------------------------------------------- */

static void runnable_add(struct sim *s, struct as_task *t) {
  t->runnable_idx = s->nrunnable;
  s->runnable[s->nrunnable++] = t;
}

static void runnable_remove(struct sim *s, struct as_task *t) {
  /* Keep spawn order: the strategies index into this array, and order must
  ** depend on history only. */
  uint32_t i = t->runnable_idx;
  memmove(&s->runnable[i], &s->runnable[i + 1],
          (s->nrunnable - i - 1) * sizeof *s->runnable);
  s->nrunnable--;
  for (; i < s->nrunnable; i++) s->runnable[i]->runnable_idx = i;
}

/* --- timers --------------------------------------------------------------- */

static inline int timer_less(const struct as_task *a, const struct as_task *b) {
  return a->deadline != b->deadline ? a->deadline < b->deadline
                                    : a->timer_seq < b->timer_seq;
}

static void heap_set(struct sim *s, size_t i, struct as_task *t) {
  s->heap[i] = t;
  t->heap_idx = i;
}

static void heap_up(struct sim *s, size_t i) {
  struct as_task *t = s->heap[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!timer_less(t, s->heap[p])) break;
    heap_set(s, i, s->heap[p]);
    i = p;
  }
  heap_set(s, i, t);
}

static void heap_down(struct sim *s, size_t i) {
  struct as_task *t = s->heap[i];
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    struct as_task *best = t;
    if (l < s->nheap && timer_less(s->heap[l], best)) m = l, best = s->heap[l];
    if (r < s->nheap && timer_less(s->heap[r], best)) m = r, best = s->heap[r];
    if (m == i) break;
    heap_set(s, i, s->heap[m]);
    i = m;
  }
  heap_set(s, i, t);
}

void sim__timer_add(struct sim *s, struct as_task *t, uint64_t deadline) {
  t->deadline = deadline;
  t->timer_seq = s->timer_seq++;
  s->heap[s->nheap] = t;
  t->heap_idx = s->nheap++;
  heap_up(s, t->heap_idx);
}

void sim__timer_cancel(struct sim *s, struct as_task *t) {
  size_t i = t->heap_idx;
  if (i == NO_TIMER) return;
  t->heap_idx = NO_TIMER;
  struct as_task *last = s->heap[--s->nheap];
  if (i == s->nheap) return;
  heap_set(s, i, last);
  heap_down(s, i);
  heap_up(s, last->heap_idx);
}

/* Every task is blocked: jump to the earliest deadline and fire all timers
** due then, in the order they were set. */
/* Wake every task whose timer is due at the current time, in the order the
** timers were set. */
static void fire_due_timers(struct sim *s) {
  while (s->nheap > 0 && s->heap[0]->deadline <= s->now) {
    struct as_task *t = s->heap[0];
    sim__timer_cancel(s, t);
    struct as_task *saved = s->cur;
    s->cur = t;
    sim__event(s, EV_TIMEOUT, t->wait == WAIT_SLEEP ? 0 : 1, t->deadline, NULL);
    s->cur = saved;
    if (t->wq) sim__wq_remove(t);
    sim__wake(s, t, t->wait == WAIT_SLEEP ? AS_OK : AS_TIMEDOUT);
  }
}

static void advance_to_next_timer(struct sim *s) {
  uint64_t when = s->heap[0]->deadline;
  if (when > s->now) s->now = when;
  sim__event(s, EV_TIME, s->now, 0, NULL);
  fire_due_timers(s);
}

/* --- task life ------------------------------------------------------------ */

static void task_entry(void *arg) {
  struct as_task *t = arg;
  t->fn(t->arg);
  struct sim *s = sim__active;
  sim__event(s, EV_FINISH, t->id, 0, NULL);
  t->state = TS_DONE;
  runnable_remove(s, t);
  s->live--;
  if (t->joiner) sim__wake(s, t->joiner, AS_OK);
  s->dying = t;
  sim_ctx_exit(&t->ctx, &s->main_ctx);
}

/* The running task stops for good (a failure inside it). */
static void task_abandon(struct sim *s, struct as_task *t) {
  if (t->state == TS_RUNNABLE) runnable_remove(s, t);
  sim__timer_cancel(s, t);
  if (t->wq) sim__wq_remove(t);
  t->state = TS_DEAD;
  s->live--;
  s->dying = t;
  sim_ctx_exit(&t->ctx, &s->main_ctx);
}

int sim__spawn(struct sim *s, struct as_task **out, const char *name,
               as_task_fn fn, void *arg) {
  int rc = AS_OK;
  if (s->ntasks >= SIM_MAX_TASKS) return AS_TOOBIG;
  if (s->ntasks == s->captasks) {
    uint32_t nc = s->captasks ? s->captasks * 2 : 16;
    struct as_task **nt = realloc(s->tasks, nc * sizeof *nt);
    if (!nt) return AS_NOMEM;
    s->tasks = nt;
    struct as_task **nr = realloc(s->runnable, nc * sizeof *nr);
    if (!nr) return AS_NOMEM;
    s->runnable = nr;
    struct as_task **nh = realloc(s->heap, nc * sizeof *nh);
    if (!nh) return AS_NOMEM;
    s->heap = nh;
    s->captasks = nc;
  }
  struct as_task *t = calloc(1, sizeof *t);
  if (!t) return AS_NOMEM;
  rc = stack_get(s, &t->stack);
  if (rc != AS_OK) goto fail;
  rc = sim_ctx_make(&t->ctx, s->sw, &t->stack, task_entry, t);
  if (rc != AS_OK) goto fail;
  t->id = s->ntasks;
  snprintf(t->name, sizeof t->name, "%s", name ? name : "task");
  t->fn = fn;
  t->arg = arg;
  t->heap_idx = NO_TIMER;
  t->state = TS_RUNNABLE;
  t->doing = "start";
  s->tasks[s->ntasks++] = t;
  s->live++;
  runnable_add(s, t);
  sim__strategy_on_spawn(s, t);
  sim__event(s, EV_SPAWN, t->id, 0, t->name);
  *out = t;
  return AS_OK;
fail:
  stack_put(s, &t->stack);
  free(t);
  return rc;
}

/* --- scheduling points ---------------------------------------------------- */

void sim__point(struct sim *s, const char *doing) {
  struct as_task *t = sim__self(s, doing);
  t->doing = doing;
  sim_ctx_switch(&t->ctx, &s->main_ctx);
}

/* The task t waits for, when its wait has one owner (a mutex holder or a
** joined task); NULL otherwise. */
struct as_task *sim__waits_on(const struct as_task *t) {
  if (t->state != TS_BLOCKED) return NULL;
  if (t->wait == WAIT_MUTEX) return ((const struct as_mutex *)t->wait_obj)->owner;
  if (t->wait == WAIT_JOIN) return t->wait_obj;
  return NULL;
}

/* A chain of lock and join waits that comes back to t can never resolve
** (neither has a timeout), whatever else still runs: report it now rather
** than when the rest of the program winds down or a budget runs out. */
static int closes_cycle(struct sim *s, const struct as_task *t) {
  const struct as_task *u = sim__waits_on(t);
  for (uint32_t hops = 0; u && hops <= s->ntasks; hops++) {
    if (u == t) return 1;
    u = sim__waits_on(u);
  }
  return 0;
}

void sim__block(struct sim *s, wait_kind w, void *obj, const char *doing) {
  struct as_task *t = sim__self(s, doing);
  t->doing = doing;
  t->state = TS_BLOCKED;
  t->wait = w;
  t->wait_obj = obj;
  runnable_remove(s, t);
  if ((w == WAIT_MUTEX || w == WAIT_JOIN) && closes_cycle(s, t)) {
    s->failed = 1;
    s->res->outcome = SIM_DEADLOCK;
    sim__report_deadlock(s, s->res->message, sizeof s->res->message);
    t->state = TS_DEAD;
    s->live--;
    s->dying = t;
    sim_ctx_exit(&t->ctx, &s->main_ctx);
  }
  sim_ctx_switch(&t->ctx, &s->main_ctx);
}

void sim__wake(struct sim *s, struct as_task *t, int rc) {
  if (t->state != TS_BLOCKED) return;
  sim__timer_cancel(s, t);
  t->state = TS_RUNNABLE;
  t->wait = WAIT_NONE;
  t->wait_obj = NULL;
  t->wake_rc = rc;
  runnable_add(s, t);
}

/* --- the run -------------------------------------------------------------- */

static void reap(struct sim *s) {
  if (s->dying) {
    stack_put(s, &s->dying->stack);
    s->dying = NULL;
  }
}

static AS_WUR int record_decision(struct sim *s, uint32_t id) {
  if (s->ndec >= SIM_SCHEDULE_MAX_DECISIONS) return AS_TOOBIG;
  if (s->ndec == s->capdec) {
    size_t nc = s->capdec ? s->capdec * 2 : 1024;
    uint32_t *nd = realloc(s->dec, nc * sizeof *nd);
    if (!nd) return AS_NOMEM;
    s->dec = nd;
    s->capdec = nc;
  }
  s->dec[s->ndec++] = id;
  return AS_OK;
}

static void run_loop(struct sim *s) {
  const sim_program *p = s->prog;
  char msg[1024];
  for (;;) {
    reap(s);
    if (s->failed || s->oom || s->diverged) return;
    if (p->invariant && s->steps > 0) {
      msg[0] = '\0';
      if (p->invariant(s->state, msg, sizeof msg)) {
        sim_fail(SIM_INVARIANT, "%s", msg);
        return;
      }
    }
    if (s->live == 0) return;
    if (s->nrunnable == 0) {
      if (s->nheap == 0) {
        s->failed = 1;
        s->res->outcome = SIM_DEADLOCK;
        sim__report_deadlock(s, s->res->message, sizeof s->res->message);
        return;
      }
      if (s->heap[0]->deadline > s->max_vns) {
        s->failed = 1;
        s->res->outcome = SIM_HANG;
        size_t n = as_appendf(s->res->message, sizeof s->res->message, 0,
                                "virtual-time budget of %" PRIu64 " ns exceeded "
                                "(next timer at %" PRIu64 " ns)\n",
                                s->max_vns, s->heap[0]->deadline);
        sim__report_tasks(s, s->res->message + n, sizeof s->res->message - n);
        return;
      }
      advance_to_next_timer(s);
      continue;
    }
    if (s->steps >= s->max_steps) {
      s->failed = 1;
      s->res->outcome = SIM_HANG;
      size_t n = as_appendf(s->res->message, sizeof s->res->message, 0,
                              "step budget of %" PRIu64 " exceeded\n", s->max_steps);
      sim__report_tasks(s, s->res->message + n, sizeof s->res->message - n);
      return;
    }
    uint32_t nr = s->nrunnable;
    struct as_task *t = sim__strategy_pick(s);
    if (!t) return; /* replay diverged: message already set */
    if (nr > 1) {
      int rc = record_decision(s, t->id);
      if (rc == AS_TOOBIG) {
        s->failed = 1;
        s->res->outcome = SIM_HANG;
        size_t n = as_appendf(s->res->message, sizeof s->res->message, 0,
                              "decision budget of %u exceeded (a schedule cannot hold more)\n",
                              SIM_SCHEDULE_MAX_DECISIONS);
        sim__report_tasks(s, s->res->message + n, sizeof s->res->message - n);
        return;
      }
      if (rc != AS_OK) {
        s->oom = 1;
        return;
      }
    }
    s->steps++;
    s->cur = t;
    sim_ctx_switch(&s->main_ctx, &t->ctx);
    s->cur = NULL;
  }
}

static void main_task(void *arg) {
  struct sim *s = arg;
  s->prog->main(s->state);
}

static void free_run(struct sim *s) {
  for (uint32_t i = 0; i < s->ntasks; i++) {
    stack_put(s, &s->tasks[i]->stack);
    free(s->tasks[i]);
  }
  s->ntasks = 0;
  s->nrunnable = 0;
  s->nheap = 0;
  s->live = 0;
  s->dying = NULL;
  sim_obj *o = s->objs.next;
  while (o && o != &s->objs) {
    sim_obj *next = o->next;
    free(o);
    o = next;
  }
  s->objs.next = s->objs.prev = &s->objs;
  sim__free_blocks(s);
  free(s->rdec);
  s->rdec = NULL;
  s->nrdec = s->rpos = 0;
}

static AS_WUR int start_streams(struct sim *s, const sim_config *cfg) {
  if (cfg->strategy == SIM_STRATEGY_REPLAY) {
    sim_schedule sc;
    char err[256];
    if (!cfg->schedule) {
      snprintf(s->res->message, sizeof s->res->message, "replay needs a schedule string");
      return AS_INVAL;
    }
    int rc = sim_schedule_decode(cfg->schedule, &sc, err, sizeof err);
    if (rc != AS_OK) {
      snprintf(s->res->message, sizeof s->res->message, "%s", err);
      return rc;
    }
    s->stream_seed[SIM_STREAM_SCHED] = 0;
    s->stream_seed[SIM_STREAM_FAULTS] = sc.seed_faults;
    s->stream_seed[SIM_STREAM_WORKLOAD] = sc.seed_workload;
    s->stream_seed[SIM_STREAM_LLM] = sc.seed_llm;
    s->stream_seed[SIM_STREAM_RUNTIME] = sc.seed_runtime;
    s->rdec = sc.dec;
    s->nrdec = sc.ndec;
  } else {
    for (int i = 0; i < SIM_STREAM_COUNT; i++)
      s->stream_seed[i] = sim_stream_seed(cfg->seed, (sim_stream)i);
  }
  for (int i = 0; i < SIM_STREAM_COUNT; i++) sim_rng_seed(&s->rng[i], s->stream_seed[i]);
  return AS_OK;
}

static AS_WUR int finish_result(struct sim *s) {
  sim_result *res = s->res;
  res->steps = s->steps;
  res->decisions = s->ndec;
  res->virtual_ns = s->now;
  res->trace_hash = mix(s->hash, (uint64_t)res->outcome);
  res->tasks = s->ntasks;
  sim_schedule sc = {
      .seed_faults = s->stream_seed[SIM_STREAM_FAULTS],
      .seed_workload = s->stream_seed[SIM_STREAM_WORKLOAD],
      .seed_llm = s->stream_seed[SIM_STREAM_LLM],
      .seed_runtime = s->stream_seed[SIM_STREAM_RUNTIME],
      .dec = s->dec,
      .ndec = s->ndec,
  };
  return sim_schedule_encode(&sc, &res->schedule);
}

static void describe_crash(struct sim *s) {
  struct as_task *t = s->tasks[s->crash_task];
  s->failed = 1;
  s->res->outcome = SIM_CRASH;
  if (s->crash_sig == SIGVTALRM) {
    s->res->outcome = SIM_HANG;
    snprintf(s->res->message, sizeof s->res->message,
             "task %" PRIu32 " '%s' ran %u CPU seconds without reaching a scheduling point "
             "(a loop that never calls the seam?) [at step %" PRIu64 ", last seam call: %s]",
             t->id, t->name, s->cfg->max_cpu_s, s->steps, t->doing);
  } else {
    snprintf(s->res->message, sizeof s->res->message,
             "signal %d (%s)%s%s [in task %" PRIu32 " '%s' at step %" PRIu64
             ", last seam call: %s]",
             (int)s->crash_sig, strsignal(s->crash_sig),
             s->crash_guard ? ": stack overflow into the guard page" : "",
             /* Other addresses move with ASLR; the message must not. */
             (uintptr_t)s->crash_addr < 4096 && s->crash_sig == SIGSEGV ? " at a null pointer" : "",
             t->id, t->name, s->steps, t->doing);
  }
  if (t->state == TS_RUNNABLE) runnable_remove(s, t);
  sim__timer_cancel(s, t);
  if (t->wq) sim__wq_remove(t);
  t->state = TS_DEAD;
  s->live--;
  s->dying = t;
}

static void run_guarded(struct sim *s) {
  if (sigsetjmp(s->jmp, 1) != 0) {
    /* Back from crash_handler: the task that faulted is abandoned. */
    sim_ctx_asan_landed(&s->main_ctx);
    s->cur = NULL;
    describe_crash(s);
    reap(s);
    return;
  }
  run_loop(s);
}

int sim_run(sim *s, const sim_program *p, const sim_config *cfg, sim_result *res) {
  int rc = AS_OK;
  const as_platform *prev_plat = NULL;
  memset(res, 0, sizeof *res);
  res->outcome = SIM_PASS;
  if (sim__active) {
    snprintf(res->message, sizeof res->message, "a sim run is already active in this process");
    return AS_BUSY;
  }

  s->prog = p;
  s->cfg = cfg;
  s->res = res;
  s->trace = cfg->trace;
  s->ntasks = s->nrunnable = s->live = 0;
  s->nheap = 0;
  s->timer_seq = 0;
  s->now = s->steps = 0;
  s->ndec = 0;
  s->hash = 0x6A09E667F3BCC909ull;
  s->failed = s->oom = s->diverged = 0;
  s->optlen = 0;
  s->next_obj_id = 1;
  s->objs.next = s->objs.prev = &s->objs;
  s->cur = NULL;
  s->dying = NULL;
  s->crash_sig = 0;
  s->wd_steps = 0;
  s->wd_ticks = 0;
  memset(s->fault_ppm, 0, sizeof s->fault_ppm);
  s->max_steps = cfg->max_steps ? cfg->max_steps : SIM_DEFAULT_MAX_STEPS;
  s->max_vns = cfg->max_virtual_ns ? cfg->max_virtual_ns : SIM_DEFAULT_MAX_VIRTUAL_NS;
  s->state = NULL;

  rc = start_streams(s, cfg);
  if (rc != AS_OK) goto out;
  s->state = p->state_size ? calloc(1, p->state_size) : NULL;
  if (p->state_size && !s->state) {
    rc = AS_NOMEM;
    goto out;
  }

  sim__active = s;
  active_run_id = ++run_count;
  prev_plat = as_platform_set(&sim_platform);
  as_fault_arm(1);

  if (cfg->strategy == SIM_STRATEGY_REPLAY)
    sim_option("seed", "(from schedule)");
  else
    sim_option("seed", "%" PRIu64, cfg->seed);
  for (int i = 0; i < SIM_STREAM_COUNT; i++) {
    char name[32];
    snprintf(name, sizeof name, "%s_seed", sim_stream_name((sim_stream)i));
    if (i == SIM_STREAM_SCHED && cfg->strategy == SIM_STRATEGY_REPLAY) continue;
    sim_option(name, "%016" PRIx64, s->stream_seed[i]);
  }
  sim_option("switch", "%s", sim_switch_name(s->sw));
  rc = sim__strategy_init(s);
  if (rc != AS_OK) goto out;
  if (p->setup) {
    rc = p->setup(s->state, &s->rng[SIM_STREAM_WORKLOAD]);
    if (rc != AS_OK) {
      if (!res->message[0])
        snprintf(res->message, sizeof res->message, "%s: setup failed: %s", p->name,
                 as_status_msg(rc));
      goto out;
    }
  }
  struct as_task *main_t;
  rc = sim__spawn(s, &main_t, "main", main_task, s);
  if (rc != AS_OK) goto out;
  main_t->joined = 1; /* nobody joins main */

  rc = use_altstack(s);
  if (rc != AS_OK) goto out;
  sim_ctx_init_self(&s->main_ctx, s->sw);
  run_guarded(s);
  if (cfg->strategy == SIM_STRATEGY_REPLAY && !s->diverged && !s->oom && s->rpos != s->nrdec) {
    snprintf(res->message, sizeof res->message,
             "schedule diverged: the run ended after %zu of its %zu decisions", s->rpos,
             s->nrdec);
    s->diverged = 1;
  }

  if (s->oom) {
    rc = AS_NOMEM;
    goto out;
  }
  if (s->diverged) {
    rc = AS_DIVERGED;
    goto out;
  }
  if (!s->failed && p->check) {
    char msg[2048] = "";
    if (p->check(s->state, msg, sizeof msg)) {
      res->outcome = SIM_INVARIANT;
      snprintf(res->message, sizeof res->message, "at quiescence: %s", msg);
    }
  }
  rc = finish_result(s);

out:
  if (p->teardown && s->state) p->teardown(s->state);
  free_run(s);
  free(s->state);
  s->state = NULL;
  if (prev_plat) {
    as_fault_arm(0);
    (void)as_platform_set(prev_plat); /* ignore: the returned value is the sim */
  }
  sim__active = NULL;
  active_run_id = 0;
  s->res = NULL;
  return rc;
}

void sim_result_clear(sim_result *res) {
  free(res->schedule);
  res->schedule = NULL;
}

/* --- small program API ---------------------------------------------------- */

sim_rng *sim_workload_rng(void) {
  struct sim *s = sim__active;
  return s ? &s->rng[SIM_STREAM_WORKLOAD] : NULL;
}

void sim_fault_rate(unsigned point, uint32_t ppm) {
  struct sim *s = sim__active;
  if (s && point < AS__FP_COUNT) s->fault_ppm[point] = ppm;
}

const void *sim_program_user(void) {
  struct sim *s = sim__active;
  return s && s->prog ? s->prog->user : NULL;
}

int sim_mutant(void) {
  struct sim *s = sim__active;
  return s ? s->cfg->mutant : 0;
}

uint64_t sim_run_id(void) { return sim__active ? active_run_id : 0; }

int sim_in_task(void) {
  struct sim *s = sim__active;
  return s && s->cur ? 1 : 0;
}

void sim_advance(uint64_t ns) {
  struct sim *s = sim__active;
  if (!s) return;
  sim__point(s, "advance");
  uint64_t to = ns > UINT64_MAX - s->now ? UINT64_MAX : s->now + ns;
  if (to > s->max_vns) {
    sim_fail(SIM_HANG, "virtual-time budget of %" PRIu64 " ns exceeded by an advance of %" PRIu64
                       " ns at %" PRIu64 " ns", s->max_vns, ns, s->now);
    return;
  }
  s->now = to;
  sim__event(s, EV_ADVANCE, ns, s->now, NULL);
  fire_due_timers(s);
}

void sim_step(void) {
  struct sim *s = sim__active;
  if (!s) return;
  sim__point(s, "step");
  sim__event(s, EV_STEP, 0, 0, NULL);
}

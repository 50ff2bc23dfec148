/*
** crash.c -- a crash inside a task ends the run, not the process: the
** signal handlers (on a per-sim alternate stack), the CPU-time watchdog for
** tasks that loop without reaching a scheduling point, and the description
** of what crashed.
*/
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "sim_internal.h"

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

int sim__crash_use_altstack(struct sim *s) {
  if (altstack_owner == s) return AS_OK;
  stack_t ss = {.ss_sp = s->altstack, .ss_size = s->altstack_size, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) return AS_SYS;
  altstack_owner = s;
  return AS_OK;
}

void sim__crash_forget_altstack(struct sim *s) {
  if (altstack_owner != s) return; /* another live sim may have put its own in place */
  stack_t ss = {.ss_flags = SS_DISABLE};
  (void)sigaltstack(&ss, NULL); /* ignore: the stack is freed next either way */
  altstack_owner = NULL;
}

int sim__crash_install(void) {
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

void sim__crash_remove(void) {
  if (handlers_installed == 0 || --handlers_installed > 0) return;
  struct itimerval off = {{0, 0}, {0, 0}};
  (void)setitimer(ITIMER_VIRTUAL, &off, NULL); /* ignore: cannot fail with valid values */
  for (size_t i = 0; i < NCRASH; i++) {
    (void)sigaction(crash_signals[i], &old_actions[i], NULL); /* ignore: restoring */
  }
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
  sim__task_retire(s, t);
}

void sim__run_guarded(struct sim *s, void (*loop)(struct sim *s)) {
  if (sigsetjmp(s->jmp, 1) != 0) {
    /* Back from crash_handler: the task that faulted is abandoned. */
    sim_ctx_asan_landed(&s->main_ctx);
    s->cur = NULL;
    describe_crash(s);
    return;
  }
  loop(s);
}

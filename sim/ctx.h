/*
** ctx.h -- execution contexts for green tasks.
**
** Two switch implementations behind one call: Boost.Context's assembly
** make_fcontext/jump_fcontext (~10 ns, the default) and ucontext
** (swapcontext saves the signal mask with a system call; kept as the
** fallback and the benchmark baseline). Under AddressSanitizer every switch
** is announced with __sanitizer_start/finish_switch_fiber.
**
** A context that is not the thread's own needs a stack: sim_stack_alloc maps
** one with an inaccessible guard page below it, so an overflow faults
** instead of corrupting a neighbour.
*/
#ifndef AGENTSIM_SIM_CTX_H
#define AGENTSIM_SIM_CTX_H

#include <stddef.h>
#include <ucontext.h>

#include "agentsim/status.h"

typedef enum sim_switch_kind {
  SIM_SWITCH_FCONTEXT,
  SIM_SWITCH_UCONTEXT
} sim_switch_kind;

const char *sim_switch_name(sim_switch_kind k);

typedef struct sim_stack {
  void *map;     /* mapping base: the guard page */
  size_t maplen; /* guard + usable */
  void *lo;      /* lowest usable byte */
  size_t size;   /* usable bytes */
} sim_stack;

/* Map a stack of at least `size` usable bytes plus a guard page. */
AS_WUR int sim_stack_alloc(sim_stack *st, size_t size);
/* Unmap; a zeroed stack is a no-op. */
void sim_stack_free(sim_stack *st);
/* True when addr falls inside st's guard page. */
int sim_stack_in_guard(const sim_stack *st, const void *addr);

typedef struct sim_ctx sim_ctx;
struct sim_ctx {
  sim_switch_kind kind;
  void *fctx;             /* fcontext_t while suspended */
  ucontext_t uc;          /* ucontext while suspended */
  void (*entry)(void *);  /* first call on a fresh context; must not return */
  void *arg;
  const void *stack_lo;   /* for ASan: this context's stack bounds */
  size_t stack_size;
  void *fake_stack;       /* for ASan: saved fake stack while suspended */
};

/* The calling thread's own context (the scheduler's); switch out of it to
** start. */
void sim_ctx_init_self(sim_ctx *c, sim_switch_kind kind);
/* A fresh context that will run entry(arg) on stack st when first entered. */
AS_WUR int sim_ctx_make(sim_ctx *c, sim_switch_kind kind, sim_stack *st,
                        void (*entry)(void *), void *arg);
/* Suspend the running context into `from` and resume `to`. Returns when some
** context switches back to `from`. */
void sim_ctx_switch(sim_ctx *from, sim_ctx *to);
/* Leave the running context for good and resume `to`; `from` must never be
** resumed again (ASan frees its fake stack). */
AS_NORETURN void sim_ctx_exit(sim_ctx *from, sim_ctx *to);

/* Crash path: a signal handler running on a task is about to siglongjmp to
** the context `to` without a switch; tell ASan first. */
void sim_ctx_asan_abandon(sim_ctx *to);
/* ... and, once landed on `self`'s stack, finish the announcement. */
void sim_ctx_asan_landed(sim_ctx *self);

#endif

/*
** ctx.c -- context switches (fcontext, ucontext) and guard-paged stacks.
*/
#include "ctx.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define AS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AS_ASAN 1
#endif
#endif

#ifdef AS_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

/* Boost.Context's C-callable assembly (libboost_context). */
typedef void *fcontext_t;
typedef struct {
  fcontext_t fctx;
  void *data;
} transfer_t;
extern transfer_t jump_fcontext(fcontext_t const to, void *vp);
extern fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));

const char *sim_switch_name(sim_switch_kind k) {
  return k == SIM_SWITCH_UCONTEXT ? "ucontext" : "fcontext";
}

static size_t page_size(void) {
  long p = sysconf(_SC_PAGESIZE);
  return p > 0 ? (size_t)p : 4096;
}

int sim_stack_alloc(sim_stack *st, size_t size) {
  size_t pg = page_size();
  size_t usable = (size + pg - 1) / pg * pg;
  if (usable < 4 * pg) usable = 4 * pg;
  size_t len = usable + pg;
  void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (m == MAP_FAILED) return AS_NOMEM;
  if (mprotect(m, pg, PROT_NONE) != 0) {
    (void)munmap(m, len); /* ignore: already failing; the mapping is unused */
    return AS_SYS;
  }
  st->map = m;
  st->maplen = len;
  st->lo = (char *)m + pg;
  st->size = usable;
  return AS_OK;
}

void sim_stack_free(sim_stack *st) {
  if (st->map) {
#ifdef AS_ASAN
    /* Frames abandoned on it leave their redzones in the shadow, and munmap
    ** does not clear them: the next mapping at this address (a large
    ** malloc, SQLite's buffers) would read as a stack underflow. */
    ASAN_UNPOISON_MEMORY_REGION(st->lo, st->size);
#endif
    (void)munmap(st->map, st->maplen); /* ignore: nothing to do if unmap fails */
  }
  memset(st, 0, sizeof *st);
}

int sim_stack_in_guard(const sim_stack *st, const void *addr) {
  uintptr_t a = (uintptr_t)addr, g = (uintptr_t)st->map;
  return st->map && a >= g && a < (uintptr_t)st->lo;
}

/* --- ASan fiber annotations --------------------------------------------- */

static inline void asan_start(sim_ctx *from, sim_ctx *to, int dying) {
#ifdef AS_ASAN
  __sanitizer_start_switch_fiber(dying ? NULL : &from->fake_stack, to->stack_lo,
                                 to->stack_size);
#else
  (void)from;
  (void)to;
  (void)dying;
#endif
}

/* Runs first thing on `self` after a switch from `from`: learns from's bounds
** (how the thread's own stack gets known). */
static inline void asan_finish(sim_ctx *self, sim_ctx *from) {
#ifdef AS_ASAN
  const void *lo = NULL;
  size_t size = 0;
  __sanitizer_finish_switch_fiber(self->fake_stack, &lo, &size);
  if (from && lo) {
    from->stack_lo = lo;
    from->stack_size = size;
  }
#else
  (void)self;
  (void)from;
#endif
}

void sim_ctx_asan_abandon(sim_ctx *to) {
#ifdef AS_ASAN
  __sanitizer_start_switch_fiber(NULL, to->stack_lo, to->stack_size);
#else
  (void)to;
#endif
}

void sim_ctx_asan_landed(sim_ctx *self) {
#ifdef AS_ASAN
  __sanitizer_finish_switch_fiber(self->fake_stack, NULL, NULL);
#else
  (void)self;
#endif
}

/* --- fcontext ------------------------------------------------------------ */

/* What a switching context hands the one it resumes. */
typedef struct switch_pair {
  sim_ctx *from;
  sim_ctx *to;
} switch_pair;

static void fctx_trampoline(transfer_t t) {
  switch_pair *p = t.data;
  sim_ctx *self = p->to;
  p->from->fctx = t.fctx;
  asan_finish(self, p->from);
  self->entry(self->arg);
  abort(); /* entry must leave through sim_ctx_exit */
}

/* --- ucontext ------------------------------------------------------------ */

/* makecontext passes only ints; the context being started is handed over
** here (one sim per thread). */
static _Thread_local sim_ctx *uctx_starting;
static _Thread_local sim_ctx *uctx_from;

static void uctx_trampoline(void) {
  sim_ctx *self = uctx_starting;
  asan_finish(self, uctx_from);
  self->entry(self->arg);
  abort();
}

/* --- common -------------------------------------------------------------- */

void sim_ctx_init_self(sim_ctx *c, sim_switch_kind kind) {
  memset(c, 0, sizeof *c);
  c->kind = kind;
}

int sim_ctx_make(sim_ctx *c, sim_switch_kind kind, sim_stack *st,
                 void (*entry)(void *), void *arg) {
  memset(c, 0, sizeof *c);
  c->kind = kind;
  c->entry = entry;
  c->arg = arg;
  c->stack_lo = st->lo;
  c->stack_size = st->size;
#ifdef AS_ASAN
  /* A reused stack may carry poison from frames that were abandoned. */
  ASAN_UNPOISON_MEMORY_REGION(st->lo, st->size);
#endif
  if (kind == SIM_SWITCH_FCONTEXT) {
    c->fctx = make_fcontext((char *)st->lo + st->size, st->size,
                            fctx_trampoline);
    return c->fctx ? AS_OK : AS_INTERNAL;
  }
  if (getcontext(&c->uc) != 0) return AS_SYS;
  c->uc.uc_stack.ss_sp = st->lo;
  c->uc.uc_stack.ss_size = st->size;
  c->uc.uc_link = NULL;
  makecontext(&c->uc, uctx_trampoline, 0);
  return AS_OK;
}

/* The fcontext switch: whoever resumes us hands back our new fctx slot. */
static inline void fctx_switch(sim_ctx *from, sim_ctx *to) {
  switch_pair p = {from, to};
  transfer_t t = jump_fcontext(to->fctx, &p);
  switch_pair *back = t.data;
  back->from->fctx = t.fctx;
  asan_finish(from, back->from);
}

static inline void uctx_switch(sim_ctx *from, sim_ctx *to) {
  uctx_starting = to;
  uctx_from = from;
  if (swapcontext(&from->uc, &to->uc) != 0) abort(); /* cannot fail: valid ctxs */
  asan_finish(from, uctx_from);
}

void sim_ctx_switch(sim_ctx *from, sim_ctx *to) {
  asan_start(from, to, 0);
  if (to->kind == SIM_SWITCH_FCONTEXT)
    fctx_switch(from, to);
  else
    uctx_switch(from, to);
}

void sim_ctx_exit(sim_ctx *from, sim_ctx *to) {
  asan_start(from, to, 1);
  if (to->kind == SIM_SWITCH_FCONTEXT) {
    switch_pair p = {from, to};
    (void)jump_fcontext(to->fctx, &p); /* ignore: never returns here */
  } else {
    uctx_starting = to;
    uctx_from = from;
    (void)setcontext(&to->uc); /* ignore: returns only on a broken context */
  }
  abort();
}

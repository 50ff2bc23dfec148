/*
** faultwrap.h -- countdown fault injection for test binaries, through the
** linker's --wrap (see FAULTWRAP_SYMBOLS in tests/CMakeLists.txt).
**
** Production code has no hook for this: a test binary linked with
** -Wl,--wrap=calloc (and so on) sends every call the production objects make
** to __wrap_calloc here, which passes it on to the real function unless the
** test armed a failure. Two ways to fail:
**
**   countdown  fw_countdown(mask, n, err): the n-th call, counted over the
**              functions in mask, fails with err (and, when persistent, every
**              later one too). A test runs an operation for n = 1, 2, ...
**              until the armed failure no longer fires (fw_fired() == 0),
**              checking at every step the status and that nothing leaked:
**              the STYLE.md rule 7 loop.
**   inject     fw_inject(fn, err, times): the next `times` calls of fn fail
**              with err (EINTR, a timeout, a spurious wakeup ...).
**
** Leaks: every block from the wrapped allocators and every mapping from the
** wrapped mmap is remembered until it is freed or unmapped, so a test
** compares fw_live_blocks()/fw_live_maps() before and after, in every build
** (the ASan build's LeakSanitizer checks again at exit).
**
** Forked children (sweep workers) inherit the armed state; fw_child_action
** says what a child does first, and the wrapped _exit writes the child's
** coverage counters out (a child leaving by _exit would otherwise lose them).
*/
#ifndef AGENTSIM_TESTS_FAULTWRAP_H
#define AGENTSIM_TESTS_FAULTWRAP_H

#include <stddef.h>
#include <stdint.h>

/* X(ID, symbol) -- every wrapped function. */
#define FW_FUNCS(X)                                                           \
  X(CALLOC, calloc)                                                           \
  X(MALLOC, malloc)                                                           \
  X(REALLOC, realloc)                                                         \
  X(MMAP, mmap)                                                               \
  X(MPROTECT, mprotect)                                                       \
  X(SIGALTSTACK, sigaltstack)                                                 \
  X(SIGACTION, sigaction)                                                     \
  X(PTHREAD_CREATE, pthread_create)                                           \
  X(PTHREAD_JOIN, pthread_join)                                               \
  X(MUTEXATTR_INIT, pthread_mutexattr_init)                                   \
  X(MUTEXATTR_SETTYPE, pthread_mutexattr_settype)                             \
  X(MUTEX_INIT, pthread_mutex_init)                                           \
  X(MUTEX_TRYLOCK, pthread_mutex_trylock)                                     \
  X(CONDATTR_INIT, pthread_condattr_init)                                     \
  X(CONDATTR_SETCLOCK, pthread_condattr_setclock)                             \
  X(COND_INIT, pthread_cond_init)                                             \
  X(COND_DESTROY, pthread_cond_destroy)                                       \
  X(COND_SIGNAL, pthread_cond_signal)                                         \
  X(COND_BROADCAST, pthread_cond_broadcast)                                   \
  X(COND_TIMEDWAIT, pthread_cond_timedwait)                                   \
  X(CLOCK_GETTIME, clock_gettime)                                             \
  X(CLOCK_NANOSLEEP, clock_nanosleep)                                         \
  X(GETRANDOM, getrandom)                                                     \
  X(GMTIME_R, gmtime_r)                                                       \
  X(VSNPRINTF, vsnprintf)                                                     \
  X(FORK, fork)                                                               \
  X(PIPE, pipe)                                                               \
  X(POLL, poll)                                                               \
  X(READ, read)                                                               \
  X(WRITE, write)                                                             \
  X(WAITPID, waitpid)

typedef enum fw_fn {
#define FW__ID(id, sym) FW_##id,
  FW_FUNCS(FW__ID)
#undef FW__ID
  FW__COUNT
} fw_fn;

#define FW_BIT(id) (1ull << FW_##id)
#define FW_ALLOC (FW_BIT(CALLOC) | FW_BIT(MALLOC) | FW_BIT(REALLOC))

/* Fail the n-th call (n >= 1) counted over mask with err; with persistent,
** every later counted call fails too. Replaces any armed countdown. */
void fw_countdown(uint64_t mask, unsigned long n, int err, int persistent);
/* Stop the countdown (injections stay). */
void fw_disarm(void);
/* Whether the countdown's failure happened since it was armed, and where. */
int fw_fired(void);
fw_fn fw_fired_fn(void);
const char *fw_fn_name(fw_fn fn);
/* Calls counted since the countdown was armed. */
unsigned long fw_counted(void);

/* The next `times` calls of fn fail with err. For poll, err 0 means "return
** 0" (a timeout); for read/write, err 0 means "move only half the bytes";
** for write, err -1 means "return 0" (nothing moved, no errno);
** for clock_gettime, err 0 means "report a wall clock before 1970"; for
** pthread_cond_timedwait, ETIMEDOUT returns early, before the deadline. */
void fw_inject(fw_fn fn, int err, unsigned times);
/* Forget every injection and the countdown. */
void fw_reset(void);

/* Blocks from the wrapped allocators, mappings from mmap, not yet released. */
size_t fw_live_blocks(void);
size_t fw_live_maps(void);

/* What a forked child does before returning from fork. */
typedef enum fw_child {
  FW_CHILD_RUN,      /* carry on (the default) */
  FW_CHILD_EXIT0,    /* _exit(0) at once: a worker that reports nothing */
  FW_CHILD_KILL,     /* die of SIGKILL */
  FW_CHILD_NOMEM,    /* every allocation fails from here on */
  FW_CHILD_NOWRITE   /* every write fails with EPIPE */
} fw_child;
void fw_child_action(fw_child what);

/* Write this process's coverage counters now (a no-op outside the coverage
** build); for children about to die without running atexit handlers. */
void fw_gcov_dump(void);

#endif

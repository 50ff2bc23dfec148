/*
** faultwrap.c -- the --wrap wrappers and their countdown (faultwrap.h).
*/
#include "faultwrap.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* --- state ------------------------------------------------------------------ */

static pthread_mutex_t fw_mu = PTHREAD_MUTEX_INITIALIZER;

static struct {
  uint64_t mask;
  unsigned long nth, count;
  int err, persistent, fired;
  fw_fn fired_fn;
  int inj_err[FW__COUNT];
  unsigned inj_times[FW__COUNT];
  fw_child child;
} fw;

static const char *const fw_names[] = {
#define FW__NAME(id, sym) #sym,
    FW_FUNCS(FW__NAME)
#undef FW__NAME
};

const char *fw_fn_name(fw_fn fn) { return (unsigned)fn < FW__COUNT ? fw_names[fn] : "?"; }

void fw_countdown(uint64_t mask, unsigned long n, int err, int persistent) {
  pthread_mutex_lock(&fw_mu);
  fw.mask = mask;
  fw.nth = n;
  fw.count = 0;
  fw.err = err;
  fw.persistent = persistent;
  fw.fired = 0;
  fw.fired_fn = FW__COUNT;
  pthread_mutex_unlock(&fw_mu);
}

void fw_disarm(void) {
  pthread_mutex_lock(&fw_mu);
  fw.mask = 0;
  pthread_mutex_unlock(&fw_mu);
}

int fw_fired(void) { return fw.fired; }
fw_fn fw_fired_fn(void) { return fw.fired_fn; }
unsigned long fw_counted(void) { return fw.count; }

void fw_inject(fw_fn fn, int err, unsigned times) {
  pthread_mutex_lock(&fw_mu);
  fw.inj_err[fn] = err;
  fw.inj_times[fn] = times;
  pthread_mutex_unlock(&fw_mu);
}

void fw_reset(void) {
  pthread_mutex_lock(&fw_mu);
  memset(fw.inj_times, 0, sizeof fw.inj_times);
  fw.mask = 0;
  fw.fired = 0;
  fw.child = FW_CHILD_RUN;
  pthread_mutex_unlock(&fw_mu);
}

void fw_child_action(fw_child what) { fw.child = what; }

/* Should this call of fn fail? 1 with *err set when it should. */
static int should_fail(fw_fn fn, int *err) {
  int fail = 0;
  pthread_mutex_lock(&fw_mu);
  if (fw.inj_times[fn] > 0) {
    fw.inj_times[fn]--;
    *err = fw.inj_err[fn];
    fail = 1;
  } else if (fw.mask & (1ull << fn)) {
    fw.count++;
    if (fw.count == fw.nth || (fw.persistent && fw.count > fw.nth)) {
      if (!fw.fired) fw.fired_fn = fn;
      fw.fired = 1;
      *err = fw.err;
      fail = 1;
    }
  }
  pthread_mutex_unlock(&fw_mu);
  return fail;
}

/* --- live blocks and mappings ---------------------------------------------- */

#define FW_SET_CAP (1u << 17)
#define FW_TOMB ((void *)1)

typedef struct ptrset {
  void *slot[FW_SET_CAP];
  size_t n;
} ptrset;

static ptrset blocks, maps;

static size_t slot_of(const void *p) {
  uintptr_t x = (uintptr_t)p;
  x ^= x >> 17;
  x *= 0xed5ad4bbu;
  x ^= x >> 11;
  return (size_t)x & (FW_SET_CAP - 1);
}

static void set_add(ptrset *s, void *p) {
  if (!p) return;
  pthread_mutex_lock(&fw_mu);
  size_t i = slot_of(p);
  size_t tomb = SIZE_MAX;
  for (size_t k = 0; k < FW_SET_CAP; k++, i = (i + 1) & (FW_SET_CAP - 1)) {
    if (s->slot[i] == p) goto out; /* already there */
    if (s->slot[i] == FW_TOMB && tomb == SIZE_MAX) tomb = i;
    if (s->slot[i] == NULL) {
      s->slot[tomb != SIZE_MAX ? tomb : i] = p;
      s->n++;
      goto out;
    }
  }
  if (tomb != SIZE_MAX) {
    s->slot[tomb] = p;
    s->n++;
  } else {
    abort(); /* more live blocks than a test should ever make */
  }
out:
  pthread_mutex_unlock(&fw_mu);
}

static void set_del(ptrset *s, void *p) {
  if (!p) return;
  pthread_mutex_lock(&fw_mu);
  size_t i = slot_of(p);
  for (size_t k = 0; k < FW_SET_CAP && s->slot[i]; k++, i = (i + 1) & (FW_SET_CAP - 1)) {
    if (s->slot[i] == p) {
      s->slot[i] = FW_TOMB;
      s->n--;
      break;
    }
  }
  pthread_mutex_unlock(&fw_mu);
}

size_t fw_live_blocks(void) { return blocks.n; }
size_t fw_live_maps(void) { return maps.n; }

/* --- coverage from children ------------------------------------------------- */

#ifdef AS_TEST_GCOV
extern void __gcov_dump(void);
#endif

void fw_gcov_dump(void) {
#ifdef AS_TEST_GCOV
  __gcov_dump();
#endif
}

/* --- the wrappers ----------------------------------------------------------- */

/* Prototypes of the wrappers (they have external linkage) and of the real
** functions the linker provides under __real_. */
#define FW_PROTO(ret, name, params)                                            \
  ret __wrap_##name params;                                                    \
  ret __real_##name params

FW_PROTO(void *, calloc, (size_t n, size_t size));
FW_PROTO(void *, malloc, (size_t size));
FW_PROTO(void *, realloc, (void *p, size_t size));
FW_PROTO(void, free, (void *p));
FW_PROTO(void *, mmap, (void *addr, size_t len, int prot, int flags, int fd, off_t off));
FW_PROTO(int, munmap, (void *addr, size_t len));
FW_PROTO(int, mprotect, (void *addr, size_t len, int prot));
FW_PROTO(int, sigaltstack, (const stack_t *ss, stack_t *old));
FW_PROTO(int, sigaction, (int sig, const struct sigaction *sa, struct sigaction *old));
FW_PROTO(int, pthread_create,
         (pthread_t * t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg));
FW_PROTO(int, pthread_join, (pthread_t t, void **ret));
FW_PROTO(int, pthread_mutexattr_init, (pthread_mutexattr_t * a));
FW_PROTO(int, pthread_mutexattr_settype, (pthread_mutexattr_t * a, int type));
FW_PROTO(int, pthread_mutex_init, (pthread_mutex_t * m, const pthread_mutexattr_t *a));
FW_PROTO(int, pthread_mutex_trylock, (pthread_mutex_t * m));
FW_PROTO(int, pthread_condattr_init, (pthread_condattr_t * a));
FW_PROTO(int, pthread_condattr_setclock, (pthread_condattr_t * a, clockid_t clk));
FW_PROTO(int, pthread_cond_init, (pthread_cond_t * c, const pthread_condattr_t *a));
FW_PROTO(int, pthread_cond_destroy, (pthread_cond_t * c));
FW_PROTO(int, pthread_cond_signal, (pthread_cond_t * c));
FW_PROTO(int, pthread_cond_broadcast, (pthread_cond_t * c));
FW_PROTO(int, pthread_cond_timedwait,
         (pthread_cond_t * c, pthread_mutex_t *m, const struct timespec *ts));
FW_PROTO(int, clock_gettime, (clockid_t clk, struct timespec *ts));
FW_PROTO(int, clock_nanosleep,
         (clockid_t clk, int flags, const struct timespec *ts, struct timespec *rem));
FW_PROTO(ssize_t, getrandom, (void *buf, size_t n, unsigned flags));
FW_PROTO(struct tm *, gmtime_r, (const time_t *t, struct tm *tm));
FW_PROTO(int, vsnprintf, (char *buf, size_t cap, const char *fmt, va_list ap));
FW_PROTO(pid_t, fork, (void));
FW_PROTO(int, pipe, (int fds[2]));
FW_PROTO(int, poll, (struct pollfd * fds, nfds_t n, int timeout));
FW_PROTO(ssize_t, read, (int fd, void *buf, size_t n));
FW_PROTO(ssize_t, write, (int fd, const void *buf, size_t n));
FW_PROTO(pid_t, waitpid, (pid_t pid, int *status, int options));
void __wrap__exit(int code) __attribute__((noreturn));
void __real__exit(int code) __attribute__((noreturn));

void *__wrap_calloc(size_t n, size_t size) {
  int err;
  if (should_fail(FW_CALLOC, &err)) {
    errno = ENOMEM;
    return NULL;
  }
  void *p = __real_calloc(n, size);
  set_add(&blocks, p);
  return p;
}

void *__wrap_malloc(size_t size) {
  int err;
  if (should_fail(FW_MALLOC, &err)) {
    errno = ENOMEM;
    return NULL;
  }
  void *p = __real_malloc(size);
  set_add(&blocks, p);
  return p;
}

void *__wrap_realloc(void *p, size_t size) {
  int err;
  if (should_fail(FW_REALLOC, &err)) {
    errno = ENOMEM;
    return NULL;
  }
  void *np = __real_realloc(p, size);
  if (np) {
    set_del(&blocks, p);
    set_add(&blocks, np);
  }
  return np;
}

void __wrap_free(void *p) {
  set_del(&blocks, p);
  __real_free(p);
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  int err;
  if (should_fail(FW_MMAP, &err)) {
    errno = err;
    return MAP_FAILED;
  }
  void *p = __real_mmap(addr, len, prot, flags, fd, off);
  if (p != MAP_FAILED) set_add(&maps, p);
  return p;
}

int __wrap_munmap(void *addr, size_t len) {
  set_del(&maps, addr);
  return __real_munmap(addr, len);
}

/* For the calls that report failure as -1 with errno. */
#define FW_ERRNO_CALL(id, call)                                                \
  do {                                                                         \
    int err_;                                                                  \
    if (should_fail(FW_##id, &err_)) {                                         \
      errno = err_;                                                            \
      return -1;                                                               \
    }                                                                          \
    return call;                                                               \
  } while (0)

/* For the calls that return the error number. */
#define FW_ERRNUM_CALL(id, call)                                               \
  do {                                                                         \
    int err_;                                                                  \
    if (should_fail(FW_##id, &err_)) return err_;                              \
    return call;                                                               \
  } while (0)

int __wrap_mprotect(void *addr, size_t len, int prot) {
  FW_ERRNO_CALL(MPROTECT, __real_mprotect(addr, len, prot));
}

int __wrap_sigaltstack(const stack_t *ss, stack_t *old) {
  /* Only changes count: a sanitizer runtime linked statically (clang's)
  ** queries the stack through here too, and must not see a failure. */
  if (!ss) return __real_sigaltstack(ss, old);
  FW_ERRNO_CALL(SIGALTSTACK, __real_sigaltstack(ss, old));
}

int __wrap_sigaction(int sig, const struct sigaction *sa, struct sigaction *old) {
  FW_ERRNO_CALL(SIGACTION, __real_sigaction(sig, sa, old));
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                          void *arg) {
  FW_ERRNUM_CALL(PTHREAD_CREATE, __real_pthread_create(t, attr, fn, arg));
}

int __wrap_pthread_join(pthread_t t, void **ret) {
  FW_ERRNUM_CALL(PTHREAD_JOIN, __real_pthread_join(t, ret));
}

int __wrap_pthread_mutexattr_init(pthread_mutexattr_t *a) {
  FW_ERRNUM_CALL(MUTEXATTR_INIT, __real_pthread_mutexattr_init(a));
}

int __wrap_pthread_mutexattr_settype(pthread_mutexattr_t *a, int type) {
  FW_ERRNUM_CALL(MUTEXATTR_SETTYPE, __real_pthread_mutexattr_settype(a, type));
}

int __wrap_pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a) {
  FW_ERRNUM_CALL(MUTEX_INIT, __real_pthread_mutex_init(m, a));
}

int __wrap_pthread_mutex_trylock(pthread_mutex_t *m) {
  FW_ERRNUM_CALL(MUTEX_TRYLOCK, __real_pthread_mutex_trylock(m));
}

int __wrap_pthread_condattr_init(pthread_condattr_t *a) {
  FW_ERRNUM_CALL(CONDATTR_INIT, __real_pthread_condattr_init(a));
}

int __wrap_pthread_condattr_setclock(pthread_condattr_t *a, clockid_t clk) {
  FW_ERRNUM_CALL(CONDATTR_SETCLOCK, __real_pthread_condattr_setclock(a, clk));
}

int __wrap_pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *a) {
  FW_ERRNUM_CALL(COND_INIT, __real_pthread_cond_init(c, a));
}

int __wrap_pthread_cond_destroy(pthread_cond_t *c) {
  FW_ERRNUM_CALL(COND_DESTROY, __real_pthread_cond_destroy(c));
}

int __wrap_pthread_cond_signal(pthread_cond_t *c) {
  FW_ERRNUM_CALL(COND_SIGNAL, __real_pthread_cond_signal(c));
}

int __wrap_pthread_cond_broadcast(pthread_cond_t *c) {
  FW_ERRNUM_CALL(COND_BROADCAST, __real_pthread_cond_broadcast(c));
}

int __wrap_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
                                  const struct timespec *ts) {
  FW_ERRNUM_CALL(COND_TIMEDWAIT, __real_pthread_cond_timedwait(c, m, ts));
}

int __wrap_clock_gettime(clockid_t clk, struct timespec *ts) {
  int err;
  if (should_fail(FW_CLOCK_GETTIME, &err)) {
    if (err == 0) { /* a wall clock half a second before the epoch */
      ts->tv_sec = -1;
      ts->tv_nsec = 500000000;
      return 0;
    }
    errno = err;
    return -1;
  }
  return __real_clock_gettime(clk, ts);
}

int __wrap_clock_nanosleep(clockid_t clk, int flags, const struct timespec *ts,
                           struct timespec *rem) {
  FW_ERRNUM_CALL(CLOCK_NANOSLEEP, __real_clock_nanosleep(clk, flags, ts, rem));
}

ssize_t __wrap_getrandom(void *buf, size_t n, unsigned flags) {
  int err;
  if (should_fail(FW_GETRANDOM, &err)) {
    if (err == 0) /* a short read: one byte */
      return n ? __real_getrandom(buf, 1, flags) : 0;
    errno = err;
    return -1;
  }
  return __real_getrandom(buf, n, flags);
}

struct tm *__wrap_gmtime_r(const time_t *t, struct tm *tm) {
  int err;
  if (should_fail(FW_GMTIME_R, &err)) {
    errno = err;
    return NULL;
  }
  return __real_gmtime_r(t, tm);
}

int __wrap_vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap) {
  int err;
  if (should_fail(FW_VSNPRINTF, &err)) {
    errno = err;
    return -1;
  }
  return __real_vsnprintf(buf, cap, fmt, ap);
}

void __wrap__exit(int code) {
  fw_reset(); /* the coverage runtime allocates and writes as it dumps */
  fw_gcov_dump();
  __real__exit(code);
}

pid_t __wrap_fork(void) {
  int err;
  if (should_fail(FW_FORK, &err)) {
    errno = err;
    return -1;
  }
  pid_t pid = __real_fork();
  if (pid != 0) return pid;
  switch (fw.child) {
  case FW_CHILD_RUN: break;
  case FW_CHILD_EXIT0: __wrap__exit(0);
  case FW_CHILD_KILL:
    fw_reset();
    fw_gcov_dump();
    (void)raise(SIGKILL); /* ignore: the next line never runs */
    break;
  case FW_CHILD_NOMEM: fw_countdown(FW_ALLOC, 1, ENOMEM, 1); break;
  case FW_CHILD_NOWRITE: fw_inject(FW_WRITE, EPIPE, UINT32_MAX); break;
  }
  return 0;
}

int __wrap_pipe(int fds[2]) { FW_ERRNO_CALL(PIPE, __real_pipe(fds)); }

int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout) {
  int err;
  if (should_fail(FW_POLL, &err)) {
    if (err == 0) return 0; /* a timeout */
    errno = err;
    return -1;
  }
  return __real_poll(fds, n, timeout);
}

ssize_t __wrap_read(int fd, void *buf, size_t n) {
  int err;
  if (should_fail(FW_READ, &err)) {
    if (err == 0) return __real_read(fd, buf, n > 1 ? n / 2 : n);
    errno = err;
    return -1;
  }
  return __real_read(fd, buf, n);
}

ssize_t __wrap_write(int fd, const void *buf, size_t n) {
  int err;
  if (should_fail(FW_WRITE, &err)) {
    if (err == 0) return __real_write(fd, buf, n > 1 ? n / 2 : n);
    if (err == -1) return 0; /* moved nothing, no error */
    errno = err;
    return -1;
  }
  return __real_write(fd, buf, n);
}

pid_t __wrap_waitpid(pid_t pid, int *status, int options) {
  FW_ERRNO_CALL(WAITPID, __real_waitpid(pid, status, options));
}

/*
** seam.h -- the platform seam.
**
** The runtime reaches tasks, locks, condition variables, sleeping, clocks,
** randomness, fault points and logging only through this interface. Two
** implementations exist: posix (real threads and clocks, fault points always
** off; runtime/posix/) and sim (the deterministic scheduler; sim/). Which one
** answers is a process-wide pointer set with as_platform_set(); the posix
** platform is the default.
**
** Ownership: objects made by *_new are owned by the caller and released with
** the matching *_free. A task handle is released by as_task_join. Under the
** sim, objects still alive when a run ends are reclaimed by the sim.
**
** Misuse that is a programming error (unlocking a mutex you do not hold,
** relocking a non-recursive mutex, waiting on a condition without its mutex)
** is not a status: the platform reports it through assert_fail, which in the
** sim is a detected failure and under posix aborts.
*/
#ifndef AGENTSIM_SEAM_H
#define AGENTSIM_SEAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentsim/status.h"

typedef struct as_task as_task;
typedef struct as_mutex as_mutex;
typedef struct as_cond as_cond;
typedef void (*as_task_fn)(void *arg);

typedef enum as_log_level {
  AS_LOG_DEBUG,
  AS_LOG_INFO,
  AS_LOG_WARN,
  AS_LOG_ERROR
} as_log_level;

/* Numbered fault points: X(NAME, what a fault there means). */
#define AS_FAULT_MAP(X)                                                       \
  X(SELFTEST, "a fault point reserved for the seam's own tests")              \
  X(VFS_READ, "a simulated-disk read fails (SQLITE_IOERR_READ)")              \
  X(VFS_WRITE, "a simulated-disk write fails (SQLITE_IOERR_WRITE)")           \
  X(VFS_FULL, "the simulated disk is full for a write that grows a file")     \
  X(VFS_SYNC, "a simulated-disk sync fails (SQLITE_IOERR_FSYNC)")             \
  X(VFS_LOCK_BUSY, "a simulated file or WAL-index lock is refused (SQLITE_BUSY)") \
  X(VFS_TEAR, "at power loss, an unsynced simulated-disk sector or length survives")

typedef enum as_fault_point {
#define AS__FP(name, what) AS_FP_##name,
  AS_FAULT_MAP(AS__FP)
#undef AS__FP
  AS__FP_COUNT
} as_fault_point;

/* A deadline that never comes. */
#define AS_DEADLINE_NEVER UINT64_MAX

/* Longest formatted log message; longer ones are cut and end in "...". */
#define AS_LOG_MAX 1024
/* Longest task name kept (longer ones are cut). */
#define AS_TASK_NAME_MAX 32

typedef struct as_platform {
  const char *name;
  int (*task_spawn)(as_task **out, const char *name, as_task_fn fn, void *arg);
  int (*task_join)(as_task *t);
  void (*task_yield)(void);
  uint64_t (*task_id)(void);
  int (*mutex_new)(as_mutex **out);
  void (*mutex_free)(as_mutex *m);
  void (*mutex_lock)(as_mutex *m);
  int (*mutex_trylock)(as_mutex *m);
  void (*mutex_unlock)(as_mutex *m);
  int (*cond_new)(as_cond **out);
  void (*cond_free)(as_cond *c);
  void (*cond_wait)(as_cond *c, as_mutex *m);
  int (*cond_timedwait)(as_cond *c, as_mutex *m, uint64_t deadline_ns);
  void (*cond_signal)(as_cond *c);
  void (*cond_broadcast)(as_cond *c);
  void (*sleep_until)(uint64_t deadline_ns);
  uint64_t (*now_mono_ns)(void);
  int64_t (*now_wall_ns)(void);
  int (*random_bytes)(void *buf, size_t n);
  bool (*fault)(unsigned point);
  void (*log)(as_log_level level, const char *msg);
  void (*assert_fail)(const char *file, int line, const char *expr);
  void *(*mem_alloc)(size_t n);
  void *(*mem_realloc)(void *p, size_t n);
  void (*mem_free)(void *p);
} as_platform;

/* The posix platform (always linked). */
extern const as_platform as_platform_posix;

/* Current platform; never NULL. Internal: use the functions below. */
extern const as_platform *as__plat;
/* Nonzero while some platform may inject faults (keeps as_fault free when off). */
extern int as__fault_armed;

/* Make p the current platform (NULL restores posix); returns the previous one.
** Call only while no task of the previous platform is running. */
const as_platform *as_platform_set(const as_platform *p);
/* Arm or disarm fault injection; only the sim arms it. */
void as_fault_arm(int on);

/* --- tasks ---------------------------------------------------------------- */

/* Start fn(arg) as a new task named `name` (cut to AS_TASK_NAME_MAX-1).
** On success *out is a handle the caller must pass to as_task_join once. */
static inline AS_WUR int as_task_spawn(as_task **out, const char *name,
                                       as_task_fn fn, void *arg) {
  return as__plat->task_spawn(out, name, fn, arg);
}
/* Wait for t to finish and release its handle. AS_INVAL for joining oneself;
** after a failed join the handle stays valid and the caller's. */
static inline AS_WUR int as_task_join(as_task *t) {
  return as__plat->task_join(t);
}
/* Let another task run. */
static inline void as_task_yield(void) { as__plat->task_yield(); }
/* A nonzero id unique among the platform's live tasks (for re-entrant locks);
** rely on nothing stronger. */
static inline uint64_t as_task_id(void) { return as__plat->task_id(); }

/* --- mutex (not recursive) ------------------------------------------------ */

static inline AS_WUR int as_mutex_new(as_mutex **out) {
  return as__plat->mutex_new(out);
}
/* Free an unlocked mutex; NULL is a no-op. */
static inline void as_mutex_free(as_mutex *m) {
  if (m) as__plat->mutex_free(m);
}
static inline void as_mutex_lock(as_mutex *m) { as__plat->mutex_lock(m); }
/* AS_OK with the lock taken, or AS_BUSY without blocking (also when the
** caller itself holds it). */
static inline AS_WUR int as_mutex_trylock(as_mutex *m) {
  return as__plat->mutex_trylock(m);
}
static inline void as_mutex_unlock(as_mutex *m) { as__plat->mutex_unlock(m); }

/* --- condition variable --------------------------------------------------- */

static inline AS_WUR int as_cond_new(as_cond **out) {
  return as__plat->cond_new(out);
}
static inline void as_cond_free(as_cond *c) {
  if (c) as__plat->cond_free(c);
}
/* Atomically release m and wait; m is held again on return. Spurious
** wakeups are allowed: wait in a loop on the predicate. */
static inline void as_cond_wait(as_cond *c, as_mutex *m) {
  as__plat->cond_wait(c, m);
}
/* As as_cond_wait, but gives up at monotonic time deadline_ns:
** AS_OK when woken, AS_TIMEDOUT when the deadline passed (then
** as_now_mono_ns() >= deadline_ns). AS_DEADLINE_NEVER waits without limit. */
static inline AS_WUR int as_cond_timedwait(as_cond *c, as_mutex *m,
                                           uint64_t deadline_ns) {
  return as__plat->cond_timedwait(c, m, deadline_ns);
}
static inline void as_cond_signal(as_cond *c) { as__plat->cond_signal(c); }
static inline void as_cond_broadcast(as_cond *c) {
  as__plat->cond_broadcast(c);
}

/* --- time ----------------------------------------------------------------- */

/* Sleep until monotonic time deadline_ns (returns at once if it has passed). */
static inline void as_sleep_until(uint64_t deadline_ns) {
  as__plat->sleep_until(deadline_ns);
}
/* Monotonic nanoseconds; in the sim, virtual time since the run began. */
static inline uint64_t as_now_mono_ns(void) { return as__plat->now_mono_ns(); }
/* Wall-clock nanoseconds since the Unix epoch (UTC). */
static inline int64_t as_now_wall_ns(void) { return as__plat->now_wall_ns(); }

/* --- memory --------------------------------------------------------------- */

/* The runtime's heap. Under posix, libc's; under the sim, blocks are
** tracked per run, so those a failed run's abandoned tasks still held are
** reclaimed when the run ends. A block is freed under the platform that
** allocated it. NULL on failure (or for n == 0). */
static inline void *as_malloc(size_t n) { return n ? as__plat->mem_alloc(n) : NULL; }
static inline void *as_calloc(size_t k, size_t n) {
  if (k && n > SIZE_MAX / k) return NULL;
  unsigned char *p = as_malloc(k * n);
  if (p)
    for (size_t i = 0; i < k * n; i++) p[i] = 0;
  return p;
}
static inline void *as_realloc(void *p, size_t n) { return as__plat->mem_realloc(p, n); }
static inline void as_free(void *p) {
  if (p) as__plat->mem_free(p);
}

/* --- randomness, faults, logging ------------------------------------------ */

/* Fill buf with n random bytes. */
static inline AS_WUR int as_random_bytes(void *buf, size_t n) {
  return as__plat->random_bytes(buf, n);
}
/* True when the platform injects a fault at numbered point `point`.
** Costs one load and a branch when no platform has armed faults. */
static inline bool as_fault(unsigned point) {
  return as__fault_armed && as__plat->fault(point);
}
/* printf-style log line; cut at AS_LOG_MAX bytes. Never log secrets. */
void as_log(as_log_level level, const char *fmt, ...) AS_PRINTF(2, 3);
const char *as_log_level_name(as_log_level level);

/* Checked invariant: in the sim a failure the run reports (the task stops
** there); under posix, abort. Called outside any task, the sim records the
** failure and returns. */
#define AS_ASSERT(expr)                                                       \
  ((expr) ? (void)0 : as__plat->assert_fail(__FILE__, __LINE__, #expr))

#endif /* AGENTSIM_SEAM_H */

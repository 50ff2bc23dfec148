/*
** mutex.c -- SQLite's mutexes on the seam (SQLITE_CONFIG_MUTEX).
**
** Each SQLite mutex wraps one seam mutex (as_mutex) and counts recursion by
** as_task_id(). Under the sim an enter is a scheduling point and blocks in
** the scheduler; under posix it is a pthread mutex.
**
** The trap: the seam mutex of a static SQLite mutex (and of any mutex that
** outlives a run) goes stale, because the sim reclaims what a run made when
** the run ends, and because the platform itself changes between posix and
** the sim. So each SQLite mutex records the epoch its seam mutex was made in
** (sim_run_id() + 1; 1 is posix; 0 is "none yet") and makes a new one on
** first use in another epoch, forgetting any holder left over from the old
** one (a task abandoned by a failed run). A posix-made seam mutex is freed
** through the posix platform; a sim-made one is the sim's to reclaim.
**
** Outside a task but inside a run (a program's setup or teardown) nothing
** else can run and the sim cannot block, so an enter only records the
** holder; one still held by an abandoned task is taken over.
*/
#include <pthread.h>
#include <stdatomic.h>

#include "sim.h"
#include "simdb_int.h"

struct sqlite3_mutex {
  int id;
  as_mutex *m;
  _Atomic uint64_t epoch; /* published after m (release) */
  _Atomic uint64_t owner; /* as_task_id() of the holder, 0 when free */
  unsigned count;         /* recursion depth, the holder's */
  bool seam_held;         /* the holder locked m (not a setup/teardown enter) */
};

#define NSTATIC (SQLITE_MUTEX_STATIC_VFS3 - SQLITE_MUTEX_STATIC_MAIN + 1)
static sqlite3_mutex statics[NSTATIC];
/* Serialises remaking seam mutexes (real threads may race under posix). */
static pthread_mutex_t remake = PTHREAD_MUTEX_INITIALIZER;

#define EPOCH_POSIX 1u

static inline uint64_t epoch_now(void) { return sim_run_id() + 1; }

/* A blocking seam call is allowed: under posix, or in a sim task. */
static inline bool can_block(void) { return sim_run_id() == 0 || sim_in_task(); }

/* Let go of p's seam mutex: free it if posix made it (always through the
** posix platform), or if it is this run's and free_current; otherwise the
** sim already reclaimed it, or will. */
static void forget_seam(sqlite3_mutex *p, bool free_current) {
  uint64_t e = atomic_load(&p->epoch);
  if (e == EPOCH_POSIX)
    as_platform_posix.mutex_free(p->m);
  else if (free_current && e == epoch_now())
    as_mutex_free(p->m);
  p->m = NULL;
  atomic_store(&p->epoch, 0);
}

/* Make sure p's seam mutex belongs to the current epoch. */
static void refresh(sqlite3_mutex *p) {
  uint64_t now = epoch_now();
  if (atomic_load_explicit(&p->epoch, memory_order_acquire) == now) return;
  pthread_mutex_lock(&remake);
  if (atomic_load(&p->epoch) != now) {
    forget_seam(p, false);
    atomic_store(&p->owner, 0);
    p->count = 0;
    p->seam_held = false;
    as_mutex *m = NULL;
    if (as_mutex_new(&m) == AS_OK) {
      p->m = m;
      atomic_store_explicit(&p->epoch, now, memory_order_release);
    }
  }
  pthread_mutex_unlock(&remake);
  /* No seam mutex: in a task the run fails here; outside one nothing can
  ** run concurrently and the enter goes on unguarded. */
  AS_ASSERT(p->m != NULL);
}

static AS_WUR int mx_init(void) { return SQLITE_OK; }

static AS_WUR int mx_end(void) {
  for (unsigned i = 0; i < NSTATIC; i++) forget_seam(&statics[i], false);
  return SQLITE_OK;
}

static sqlite3_mutex *mx_alloc(int id) {
  if (id >= SQLITE_MUTEX_STATIC_MAIN && id <= SQLITE_MUTEX_STATIC_VFS3) {
    sqlite3_mutex *p = &statics[id - SQLITE_MUTEX_STATIC_MAIN];
    p->id = id;
    return p;
  }
  if (id != SQLITE_MUTEX_FAST && id != SQLITE_MUTEX_RECURSIVE) return NULL;
  sqlite3_mutex *p = simdb__mem_alloc(sizeof *p, MEM_MUTEX, true);
  if (p) p->id = id;
  return p;
}

static void mx_free(sqlite3_mutex *p) {
  forget_seam(p, true);
  simdb__mem_free(p);
}

void simdb__mutex_drop(void *block) { forget_seam(block, false); }

static void mx_enter(sqlite3_mutex *p) {
  refresh(p);
  uint64_t me = as_task_id();
  if (atomic_load(&p->owner) == me) {
    p->count++;
    return;
  }
  bool seam = p->m && can_block();
  if (seam) as_mutex_lock(p->m);
  atomic_store(&p->owner, me);
  p->count = 1;
  p->seam_held = seam;
}

static AS_WUR int mx_try(sqlite3_mutex *p) {
  refresh(p);
  uint64_t me = as_task_id();
  if (atomic_load(&p->owner) == me) {
    p->count++;
    return SQLITE_OK;
  }
  bool seam = p->m && can_block();
  if (seam ? as_mutex_trylock(p->m) != AS_OK : atomic_load(&p->owner) != 0) return SQLITE_BUSY;
  atomic_store(&p->owner, me);
  p->count = 1;
  p->seam_held = seam;
  return SQLITE_OK;
}

static void mx_leave(sqlite3_mutex *p) {
  if (--p->count > 0) return;
  bool seam = p->seam_held;
  p->seam_held = false;
  atomic_store(&p->owner, 0);
  if (seam) as_mutex_unlock(p->m);
}

/* For SQLite's debug-build asserts: held by the caller in this epoch. */
static AS_WUR int mx_held(sqlite3_mutex *p) {
  return atomic_load(&p->epoch) == epoch_now() && atomic_load(&p->owner) == as_task_id();
}

static AS_WUR int mx_notheld(sqlite3_mutex *p) { return !mx_held(p); }

const sqlite3_mutex_methods simdb__mutex_methods = {
    mx_init, mx_end, mx_alloc, mx_free, mx_enter, mx_try, mx_leave, mx_held, mx_notheld,
};

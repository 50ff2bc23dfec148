/*
** mem.c -- SQLite's allocator under the sim (SQLITE_CONFIG_MALLOC): counts
** outstanding blocks, fails on a countdown, and remembers what was
** allocated during a sim run so that simdb_run_end() can free what an
** abandoned task left inside SQLite.
**
** Every block carries a 32-byte header in front (keeping malloc's 16-byte
** alignment; SQLite needs 8): the run list's links, the size for xSize, and
** its kind. Blocks made outside a run (SQLite's globals) are not on the
** list. The list and the countdown sit behind one pthread mutex: with
** memory statistics off SQLite calls xMalloc from any thread without a lock
** of its own, and simdb may be installed while real threads run.
*/
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "simdb_int.h"

typedef struct blk {
  struct blk *prev, *next; /* on the run list, or NULL */
  uint64_t size;
  uint32_t kind;
  uint32_t tracked;
} blk;

_Static_assert(sizeof(blk) % 16 == 0, "the header keeps malloc's alignment");

static pthread_mutex_t guard = PTHREAD_MUTEX_INITIALIZER;
static blk run_list = {&run_list, &run_list, 0, 0, 0};
static _Atomic uint64_t outstanding;
/* > 0: what SQLite allocates now is process-wide state, not the run's. */
static int untracked;

void simdb_untracked(bool on) { untracked += on ? 1 : -1; }

/* The countdown (STYLE.md rule 7). armed is read without the guard on the
** fast path; the rest only under it. */
static atomic_int armed;
static uint64_t cd_left;
static bool cd_persistent, cd_failing;
static atomic_bool cd_fired;

bool simdb__alloc_fails(void) {
  if (!atomic_load_explicit(&armed, memory_order_relaxed)) return false;
  bool fail = true;
  pthread_mutex_lock(&guard);
  if (!cd_failing) {
    fail = --cd_left == 0;
    if (fail) {
      atomic_store(&cd_fired, true);
      cd_failing = cd_persistent;
      atomic_store(&armed, cd_persistent);
    }
  }
  pthread_mutex_unlock(&guard);
  if (fail) sim_emit(SIM_EV_MALLOC_FAIL, 0, 0, NULL);
  return fail;
}

void simdb_malloc_fail_after(uint64_t n, bool persistent) {
  pthread_mutex_lock(&guard);
  cd_left = n;
  cd_persistent = persistent;
  cd_failing = false;
  atomic_store(&cd_fired, false);
  atomic_store(&armed, n > 0);
  pthread_mutex_unlock(&guard);
}

bool simdb_malloc_fired(void) { return atomic_load(&cd_fired); }

uint64_t simdb_mem_outstanding(void) { return atomic_load(&outstanding); }

static inline blk *hdr(void *p) { return (blk *)p - 1; }

void *simdb__mem_alloc(size_t n, mem_kind kind, bool zero) {
  blk *b = simdb__alloc_fails() ? NULL : zero ? calloc(1, sizeof *b + n) : malloc(sizeof *b + n);
  if (!b) return NULL;
  b->size = n;
  b->kind = kind;
  b->tracked = sim_run_id() != 0 && untracked == 0;
  b->prev = b->next = NULL;
  if (b->tracked) {
    pthread_mutex_lock(&guard);
    b->next = run_list.next;
    b->prev = &run_list;
    run_list.next->prev = b;
    run_list.next = b;
    pthread_mutex_unlock(&guard);
  }
  atomic_fetch_add(&outstanding, 1);
  return b + 1;
}

void simdb__mem_free(void *p) {
  blk *b = hdr(p);
  if (b->tracked) {
    pthread_mutex_lock(&guard);
    b->prev->next = b->next;
    b->next->prev = b->prev;
    pthread_mutex_unlock(&guard);
  }
  free(b);
  atomic_fetch_sub(&outstanding, 1);
}

size_t simdb__mem_sweep(void) {
  pthread_mutex_lock(&guard);
  blk *b = run_list.next;
  run_list.next = run_list.prev = &run_list;
  pthread_mutex_unlock(&guard);
  size_t n = 0;
  while (b != &run_list) {
    blk *next = b->next;
    if (b->kind == MEM_MUTEX) simdb__mutex_drop(b + 1);
    free(b);
    atomic_fetch_sub(&outstanding, 1);
    n++;
    b = next;
  }
  return n;
}

/* --- sqlite3_mem_methods ----------------------------------------------------- */

static void *m_malloc(int n) { return simdb__mem_alloc((size_t)n, MEM_SQLITE, false); }

static void m_free(void *p) { simdb__mem_free(p); }

/* A tracked block keeps its place on the run list when it moves: the guard
** is held across realloc so the list is never seen half-updated. */
static void *m_realloc(void *p, int n) {
  bool fail = simdb__alloc_fails(); /* before the guard: it takes it too */
  blk *b = hdr(p);
  uint32_t tracked = b->tracked;
  if (tracked) pthread_mutex_lock(&guard);
  blk *nb = fail ? NULL : realloc(b, sizeof *nb + (size_t)n);
  if (nb) {
    nb->size = (uint64_t)n;
    if (tracked) {
      nb->prev->next = nb;
      nb->next->prev = nb;
    }
  }
  if (tracked) pthread_mutex_unlock(&guard);
  return nb ? nb + 1 : NULL;
}

static AS_WUR int m_size(void *p) { return (int)hdr(p)->size; }

static AS_WUR int m_roundup(int n) { return (n + 7) & ~7; }

static AS_WUR int m_init(void *app) {
  (void)app;
  return SQLITE_OK;
}

static void m_shutdown(void *app) { (void)app; }

const sqlite3_mem_methods simdb__mem_methods = {
    m_malloc, m_free, m_realloc, m_size, m_roundup, m_init, m_shutdown, NULL,
};

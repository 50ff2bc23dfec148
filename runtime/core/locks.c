/*
** locks.c -- the per-session lock registry (locks.h).
**
** One seam mutex guards the table; each entry has its own condition
** variable for its waiters. Entries live in a fixed array of slots (an
** entry's address must not change while tasks wait on it), scanned up to the
** highest slot in use; a slot keeps its condition variable when its entry is
** evicted, for the next key that lands there.
*/
#include <stdlib.h>
#include <string.h>

#include "agentsim/locks.h"
#include "agentsim/mutant.h"
#include "agentsim/seam.h"
#include "core_internal.h"

typedef struct lk_entry {
  char key[AS_SESSION_ID_MAX];
  bool used;
  uint64_t owner;   /* as_task_id() of the holder; 0 when free */
  unsigned depth;   /* re-entrant acquires by the owner */
  unsigned waiters; /* tasks blocked in as_lock_acquire */
  as_cond *cv;      /* made when the slot is first used */
} lk_entry;

struct as_lock_registry {
  as_mutex *mu;
  lk_entry *slots;
  size_t max;  /* slots */
  size_t high; /* slots [high, max) are unused */
  size_t live; /* used slots */
  as_lock_observer observer;
  void *observer_ctx;
};

int as_locks_new(as_lock_registry **out, size_t max_entries) {
  if (!out) return AS_INVAL;
  *out = NULL;
  if (max_entries == 0) max_entries = AS_LOCKS_DEFAULT_ENTRIES;
  if (max_entries > AS_LOCKS_MAX_ENTRIES) return AS_INVAL;
  as_lock_registry *r = as_calloc(1, sizeof *r);
  int rc = r ? AS_OK : AS_NOMEM;
  if (rc == AS_OK) {
    r->max = max_entries;
    r->slots = as_calloc(max_entries, sizeof *r->slots);
    rc = r->slots ? as_mutex_new(&r->mu) : AS_NOMEM;
  }
  if (rc != AS_OK) {
    as_locks_free(r);
    return rc;
  }
  *out = r;
  return AS_OK;
}

void as_locks_free(as_lock_registry *r) {
  if (!r) return;
  for (size_t i = 0; r->slots && i < r->max; i++) as_cond_free(r->slots[i].cv);
  as_free(r->slots);
  as_mutex_free(r->mu);
  as_free(r);
}

void as_locks_observe(as_lock_registry *r, as_lock_observer fn, void *ctx) {
  if (!r) return;
  r->observer = fn;
  r->observer_ctx = ctx;
}

/* Tell the observer. Registry mutex held. */
static void observe(as_lock_registry *r, const char *key, uint64_t task, as_lock_event ev) {
  if (r->observer) r->observer(r->observer_ctx, key, task, ev);
}

static AS_WUR int key_check(as_lock_registry *r, const char *key) {
  if (!r || !key || !*key) return AS_INVAL;
  return strnlen(key, AS_SESSION_ID_MAX) < AS_SESSION_ID_MAX ? AS_OK : AS_TOOBIG;
}

/* The entry for key, or NULL. Registry mutex held. */
static lk_entry *find(as_lock_registry *r, const char *key) {
  for (size_t i = 0; i < r->high; i++)
    if (r->slots[i].used && strcmp(r->slots[i].key, key) == 0) return &r->slots[i];
  return NULL;
}

/* The entry for key, made (free) if there is none. Registry mutex held. */
static AS_WUR int find_or_add(as_lock_registry *r, const char *key, lk_entry **out) {
  lk_entry *e = find(r, key);
  if (e) {
    *out = e;
    return AS_OK;
  }
  size_t i = 0;
  while (i < r->max && r->slots[i].used) i++;
  if (i == r->max) return AS_TOOBIG;
  e = &r->slots[i];
  if (!e->cv) {
    int rc = as_cond_new(&e->cv);
    if (rc != AS_OK) return rc;
  }
  memcpy(e->key, key, strlen(key) + 1);
  e->used = true;
  r->live++;
  if (i >= r->high) r->high = i + 1;
  *out = e;
  return AS_OK;
}

/* Forget a free entry nobody waits for. Registry mutex held. */
static void evict(as_lock_registry *r, lk_entry *e) {
  e->used = false;
  r->live--;
  while (r->high > 0 && !r->slots[r->high - 1].used) r->high--;
}

int as_lock_acquire(as_lock_registry *r, const char *key) {
  int rc = key_check(r, key);
  if (rc != AS_OK) return rc;
  uint64_t me = as_task_id();
  lk_entry *e;
  as_mutex_lock(r->mu);
  /* The seed's first lock: acquire returned at once, excluding no one. */
  if (AS_MUTANT(LOCK_NOOP)) {
    observe(r, key, me, AS_LOCK_ACQUIRED);
    as_mutex_unlock(r->mu);
    return AS_OK;
  }
  rc = find_or_add(r, key, &e);
  if (rc == AS_OK && e->owner == me) {
    e->depth++;
  } else if (rc == AS_OK) {
    e->waiters++;
    /* A wakeup is a hint, not a hand-over: someone else may have taken the
    ** lock between the signal and this task running again. */
    if (AS_MUTANT(LOCK_WAIT_IF)) {
      if (e->owner != 0) as_cond_wait(e->cv, r->mu);
    } else {
      while (e->owner != 0) as_cond_wait(e->cv, r->mu);
    }
    if (!AS_MUTANT(LOCK_WAITER_LEAK)) e->waiters--;
    e->owner = me;
    e->depth = 1;
  }
  if (rc == AS_OK) observe(r, key, me, AS_LOCK_ACQUIRED);
  as_mutex_unlock(r->mu);
  return rc;
}

int as_lock_try_acquire(as_lock_registry *r, const char *key) {
  int rc = key_check(r, key);
  if (rc != AS_OK) return rc;
  lk_entry *e;
  as_mutex_lock(r->mu);
  rc = find_or_add(r, key, &e);
  uint64_t me = as_task_id();
  /* A "re-entrant" try that only asked whether someone else holds it. */
  if (rc == AS_OK && e->owner != 0 && !(AS_MUTANT(TRY_GRANTS_HOLDER) && e->owner == me)) {
    rc = AS_BUSY;
    observe(r, key, me, AS_LOCK_TRY_REFUSED);
  }
  if (rc == AS_OK) {
    e->owner = me;
    e->depth = 1;
    observe(r, key, me, AS_LOCK_TRY_ACQUIRED);
  }
  as_mutex_unlock(r->mu);
  return rc;
}

int as_lock_release(as_lock_registry *r, const char *key) {
  int rc = key_check(r, key);
  if (rc != AS_OK) return rc;
  uint64_t me = as_task_id();
  as_mutex_lock(r->mu);
  lk_entry *e = find(r, key);
  if (!e || e->owner != me) {
    /* Under the no-op lock its acquires took nothing: nothing to undo. */
    rc = AS_MUTANT(LOCK_NOOP) ? AS_OK : AS_INVAL;
  } else if (--e->depth == 0) {
    e->owner = 0;
    if (e->waiters)
      as_cond_signal(e->cv);
    else
      evict(r, e);
  }
  if (rc == AS_OK) observe(r, key, me, AS_LOCK_RELEASED);
  as_mutex_unlock(r->mu);
  return rc;
}

bool as_lock_is_locked(as_lock_registry *r, const char *key) {
  if (key_check(r, key) != AS_OK) return false;
  as_mutex_lock(r->mu);
  lk_entry *e = find(r, key);
  bool held = e && e->owner != 0;
  as_mutex_unlock(r->mu);
  return held;
}

size_t as_locks_size(as_lock_registry *r) {
  if (!r) return 0;
  as_mutex_lock(r->mu);
  size_t n = r->live;
  as_mutex_unlock(r->mu);
  return n;
}

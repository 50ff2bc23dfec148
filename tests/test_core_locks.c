/*
** test_core_locks.c -- the per-session lock registry (locks.h) on the posix
** platform: re-entrancy, fail-fast try_acquire, eviction back to size 0,
** the entry cap, and blocking acquires between real threads.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "agentsim/locks.h"
#include "agentsim/seam.h"

#define MS(n) ((uint64_t)(n) * 1000000ull)

static void test_new_and_free(void **state) {
  (void)state;
  as_lock_registry *r = (as_lock_registry *)&r;
  assert_int_equal(as_locks_new(NULL, 4), AS_INVAL);
  assert_int_equal(as_locks_new(&r, AS_LOCKS_MAX_ENTRIES + 1), AS_INVAL);
  assert_null(r);
  /* 0: the default size. */
  assert_int_equal(as_locks_new(&r, 0), AS_OK);
  char key[16];
  for (unsigned i = 0; i < AS_LOCKS_DEFAULT_ENTRIES; i++) {
    snprintf(key, sizeof key, "k%u", i);
    assert_int_equal(as_lock_try_acquire(r, key), AS_OK);
  }
  assert_int_equal(as_lock_acquire(r, "one-more"), AS_TOOBIG);
  for (unsigned i = 0; i < AS_LOCKS_DEFAULT_ENTRIES; i++) {
    snprintf(key, sizeof key, "k%u", i);
    assert_int_equal(as_lock_release(r, key), AS_OK);
  }
  assert_int_equal(as_locks_size(r), 0);
  as_locks_free(r);
  assert_int_equal(as_locks_new(&r, AS_LOCKS_MAX_ENTRIES), AS_OK);
  assert_int_equal(as_locks_size(r), 0);
  as_locks_free(r);
  as_locks_free(NULL);
  assert_int_equal(as_locks_size(NULL), 0);
}

static void test_keys(void **state) {
  (void)state;
  as_lock_registry *r;
  assert_int_equal(as_locks_new(&r, 4), AS_OK);
  char longkey[AS_SESSION_ID_MAX + 1];
  memset(longkey, 'k', sizeof longkey - 1);
  longkey[sizeof longkey - 1] = '\0';
  assert_int_equal(as_lock_acquire(NULL, "a"), AS_INVAL);
  assert_int_equal(as_lock_acquire(r, NULL), AS_INVAL);
  assert_int_equal(as_lock_acquire(r, ""), AS_INVAL);
  assert_int_equal(as_lock_acquire(r, longkey), AS_TOOBIG);
  assert_int_equal(as_lock_try_acquire(r, longkey), AS_TOOBIG);
  assert_int_equal(as_lock_try_acquire(NULL, "a"), AS_INVAL);
  assert_int_equal(as_lock_release(r, ""), AS_INVAL);
  assert_false(as_lock_is_locked(r, longkey));
  assert_false(as_lock_is_locked(NULL, "a"));
  longkey[AS_SESSION_ID_MAX - 1] = '\0'; /* the longest key there may be */
  assert_int_equal(as_lock_acquire(r, longkey), AS_OK);
  assert_true(as_lock_is_locked(r, longkey));
  assert_int_equal(as_lock_release(r, longkey), AS_OK);
  assert_int_equal(as_locks_size(r), 0);
  as_locks_free(r);
}

static void test_reentrant_and_eviction(void **state) {
  (void)state;
  as_lock_registry *r;
  assert_int_equal(as_locks_new(&r, 8), AS_OK);
  assert_false(as_lock_is_locked(r, "s"));
  for (int i = 0; i < 3; i++) assert_int_equal(as_lock_acquire(r, "s"), AS_OK);
  assert_int_equal(as_locks_size(r), 1);
  for (int i = 0; i < 3; i++) {
    assert_true(as_lock_is_locked(r, "s"));
    assert_int_equal(as_lock_release(r, "s"), AS_OK);
  }
  assert_false(as_lock_is_locked(r, "s"));
  assert_int_equal(as_locks_size(r), 0);
  /* One release too many, and a key never locked. */
  assert_int_equal(as_lock_release(r, "s"), AS_INVAL);
  assert_int_equal(as_lock_release(r, "never"), AS_INVAL);
  assert_int_equal(as_locks_size(r), 0);

  /* Evicting below the top keeps the others; the table shrinks back. */
  static const char *const keys[] = {"a", "b", "c", "d"};
  for (int i = 0; i < 4; i++) assert_int_equal(as_lock_acquire(r, keys[i]), AS_OK);
  assert_int_equal(as_locks_size(r), 4);
  assert_int_equal(as_lock_release(r, "b"), AS_OK);
  assert_int_equal(as_locks_size(r), 3);
  assert_true(as_lock_is_locked(r, "c"));
  assert_int_equal(as_lock_acquire(r, "e"), AS_OK); /* reuses b's slot */
  assert_int_equal(as_lock_release(r, "d"), AS_OK);
  assert_int_equal(as_lock_release(r, "c"), AS_OK);
  assert_int_equal(as_lock_release(r, "e"), AS_OK);
  assert_int_equal(as_lock_release(r, "a"), AS_OK);
  assert_int_equal(as_locks_size(r), 0);
  as_locks_free(r);
}

static void test_try_acquire(void **state) {
  (void)state;
  as_lock_registry *r;
  assert_int_equal(as_locks_new(&r, 4), AS_OK);
  assert_int_equal(as_lock_try_acquire(r, "s"), AS_OK);
  /* Not re-entrant: the holder itself is refused, and nothing changes. */
  assert_int_equal(as_lock_try_acquire(r, "s"), AS_BUSY);
  assert_int_equal(as_lock_release(r, "s"), AS_OK);
  assert_int_equal(as_locks_size(r), 0);
  /* Held through the blocking acquire: still refused. */
  assert_int_equal(as_lock_acquire(r, "s"), AS_OK);
  assert_int_equal(as_lock_try_acquire(r, "s"), AS_BUSY);
  /* ... but a blocking acquire on top of a try-acquire re-enters. */
  assert_int_equal(as_lock_try_acquire(r, "t"), AS_OK);
  assert_int_equal(as_lock_acquire(r, "t"), AS_OK);
  assert_int_equal(as_lock_release(r, "t"), AS_OK);
  assert_int_equal(as_lock_release(r, "t"), AS_OK);
  assert_int_equal(as_lock_release(r, "s"), AS_OK);
  assert_int_equal(as_locks_size(r), 0);
  as_locks_free(r);
}

/* The observer hears every acquire, try (taken or refused) and release, in
** order: A acquired, T try-acquired, R try refused, - released. */
typedef struct heard {
  char log[512];
  size_t len;
} heard;

static void listen(void *ctx, const char *key, uint64_t task, as_lock_event ev) {
  heard *h = ctx;
  static const char mark[] = {[AS_LOCK_ACQUIRED] = 'A', [AS_LOCK_TRY_ACQUIRED] = 'T',
                              [AS_LOCK_TRY_REFUSED] = 'R', [AS_LOCK_RELEASED] = '-'};
  assert_int_equal(task, as_task_id());
  int n = snprintf(h->log + h->len, sizeof h->log - h->len, "%s%c%s", h->len ? " " : "",
                   mark[ev], key);
  assert_true(n > 0 && (size_t)n < sizeof h->log - h->len);
  h->len += (size_t)n;
}

static void test_observer(void **state) {
  (void)state;
  as_lock_registry *r;
  heard h = {0};
  assert_int_equal(as_locks_new(&r, 2), AS_OK);
  as_locks_observe(NULL, listen, &h); /* harmless */
  as_locks_observe(r, listen, &h);
  assert_int_equal(as_lock_acquire(r, "a"), AS_OK);
  assert_int_equal(as_lock_acquire(r, "a"), AS_OK);
  assert_int_equal(as_lock_try_acquire(r, "a"), AS_BUSY);   /* refused: heard */
  assert_int_equal(as_lock_try_acquire(r, "b"), AS_OK);
  assert_int_equal(as_lock_acquire(r, "c"), AS_TOOBIG);     /* not heard */
  assert_int_equal(as_lock_release(r, "a"), AS_OK);
  assert_int_equal(as_lock_release(r, "a"), AS_OK);
  assert_int_equal(as_lock_release(r, "a"), AS_INVAL);      /* not heard */
  assert_int_equal(as_lock_release(r, "b"), AS_OK);
  assert_string_equal(h.log, "Aa Aa Ra Tb -a -a -b");
  as_locks_observe(r, NULL, NULL);
  assert_int_equal(as_lock_acquire(r, "a"), AS_OK);
  assert_int_equal(as_lock_release(r, "a"), AS_OK);
  assert_string_equal(h.log, "Aa Aa Ra Tb -a -a -b");
  as_locks_free(r);
}

static void test_cap(void **state) {
  (void)state;
  as_lock_registry *r;
  assert_int_equal(as_locks_new(&r, 2), AS_OK);
  assert_int_equal(as_lock_acquire(r, "a"), AS_OK);
  assert_int_equal(as_lock_try_acquire(r, "b"), AS_OK);
  assert_int_equal(as_lock_acquire(r, "c"), AS_TOOBIG);
  assert_int_equal(as_lock_try_acquire(r, "c"), AS_TOOBIG);
  assert_int_equal(as_lock_acquire(r, "a"), AS_OK); /* a known key needs no entry */
  assert_int_equal(as_locks_size(r), 2);
  assert_int_equal(as_lock_release(r, "b"), AS_OK);
  assert_int_equal(as_lock_acquire(r, "c"), AS_OK);
  assert_int_equal(as_lock_release(r, "c"), AS_OK);
  assert_int_equal(as_lock_release(r, "a"), AS_OK);
  assert_int_equal(as_lock_release(r, "a"), AS_OK);
  assert_int_equal(as_locks_size(r), 0);
  as_locks_free(r);
}

/* --- between threads ------------------------------------------------------- */

typedef struct shared {
  as_lock_registry *r;
  as_mutex *mu; /* guards the fields below */
  int holding;  /* tasks inside the critical section */
  int max_holding;
  long counter;
  int phase;
  int rc;       /* first failure seen by a task */
} shared;

static void note_rc(shared *sh, int rc) {
  as_mutex_lock(sh->mu);
  if (sh->rc == AS_OK) sh->rc = rc;
  as_mutex_unlock(sh->mu);
}

static void enter(shared *sh) {
  as_mutex_lock(sh->mu);
  sh->holding++;
  if (sh->holding > sh->max_holding) sh->max_holding = sh->holding;
  as_mutex_unlock(sh->mu);
}

static void leave(shared *sh) {
  as_mutex_lock(sh->mu);
  sh->holding--;
  as_mutex_unlock(sh->mu);
}

/* Hold "k" until phase 1, then release. */
static void holder(void *arg) {
  shared *sh = arg;
  note_rc(sh, as_lock_acquire(sh->r, "k"));
  as_mutex_lock(sh->mu);
  sh->phase = 1;
  as_mutex_unlock(sh->mu);
  as_sleep_until(as_now_mono_ns() + MS(50));
  /* Another task is now blocked on "k": the entry has a waiter. */
  note_rc(sh, as_lock_release(sh->r, "k"));
}

static void test_acquire_blocks_until_release(void **state) {
  (void)state;
  shared sh = {0};
  assert_int_equal(as_locks_new(&sh.r, 4), AS_OK);
  assert_int_equal(as_mutex_new(&sh.mu), AS_OK);
  as_task *t;
  assert_int_equal(as_task_spawn(&t, "holder", holder, &sh), AS_OK);
  for (;;) {
    as_mutex_lock(sh.mu);
    int p = sh.phase;
    as_mutex_unlock(sh.mu);
    if (p) break;
    as_task_yield();
  }
  /* Held by the other task: try fails fast, release is refused. */
  assert_int_equal(as_lock_try_acquire(sh.r, "k"), AS_BUSY);
  assert_int_equal(as_lock_release(sh.r, "k"), AS_INVAL);
  assert_true(as_lock_is_locked(sh.r, "k"));
  uint64_t t0 = as_now_mono_ns();
  assert_int_equal(as_lock_acquire(sh.r, "k"), AS_OK);
  assert_true(as_now_mono_ns() - t0 >= MS(20));
  assert_int_equal(as_task_join(t), AS_OK);
  assert_int_equal(sh.rc, AS_OK);
  assert_int_equal(as_lock_release(sh.r, "k"), AS_OK);
  assert_int_equal(as_locks_size(sh.r), 0);
  as_mutex_free(sh.mu);
  as_locks_free(sh.r);
}

#define WORKERS 6
#define ROUNDS 400

/* ROUNDS times: lock one of two keys (re-entering once), count, unlock. */
static void worker(void *arg) {
  shared *sh = arg;
  for (int i = 0; i < ROUNDS; i++) {
    const char *key = (i % 3) ? "hot" : "other";
    int rc = as_lock_acquire(sh->r, key);
    if (rc == AS_OK) rc = as_lock_acquire(sh->r, key);
    if (rc != AS_OK) {
      note_rc(sh, rc);
      return;
    }
    if (key[0] == 'h') {
      enter(sh);
      long c = sh->counter; /* a lost update if the lock failed */
      if (i % 7 == 0) as_task_yield();
      sh->counter = c + 1;
      leave(sh);
    }
    note_rc(sh, as_lock_release(sh->r, key));
    note_rc(sh, as_lock_release(sh->r, key));
  }
}

static void test_contention(void **state) {
  (void)state;
  shared sh = {0};
  assert_int_equal(as_locks_new(&sh.r, 4), AS_OK);
  assert_int_equal(as_mutex_new(&sh.mu), AS_OK);
  as_task *t[WORKERS];
  for (int i = 0; i < WORKERS; i++)
    assert_int_equal(as_task_spawn(&t[i], "worker", worker, &sh), AS_OK);
  for (int i = 0; i < WORKERS; i++) assert_int_equal(as_task_join(t[i]), AS_OK);
  assert_int_equal(sh.rc, AS_OK);
  assert_int_equal(sh.max_holding, 1);
  long want = 0;
  for (int i = 0; i < ROUNDS; i++) want += (i % 3) != 0;
  assert_int_equal(sh.counter, want * WORKERS);
  assert_int_equal(as_locks_size(sh.r), 0);
  as_mutex_free(sh.mu);
  as_locks_free(sh.r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_new_and_free),
      cmocka_unit_test(test_keys),
      cmocka_unit_test(test_reentrant_and_eviction),
      cmocka_unit_test(test_try_acquire),
      cmocka_unit_test(test_cap),
      cmocka_unit_test(test_observer),
      cmocka_unit_test(test_acquire_blocks_until_release),
      cmocka_unit_test(test_contention),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
** test_posix_faults.c -- the posix seam when the system says no.
**
** Linked with --wrap (faultwrap.h), so calloc, pthread_* and the clock and
** random calls platform_posix.c makes can be failed on demand. Creation
** paths run as STYLE.md rule 7 countdowns: fail the n-th fallible call for
** n = 1, 2, ... until the operation completes, checking every time that it
** fails with the status the contract promises and leaves nothing allocated.
** Misuse paths (which abort) run in forked children that write their
** coverage counters out before they die.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentsim/fmt.h"
#include "agentsim/seam.h"
#include "capture.h"
#include "faultwrap.h"

#define MS(n) ((uint64_t)(n) * 1000000ull)

static int reset_faults(void **state) {
  (void)state;
  fw_reset();
  return 0;
}

/* The status a failed creation call must turn into. */
static int status_for(fw_fn fn, int err) {
  switch (fn) {
  case FW_CALLOC: return AS_NOMEM;
  case FW_MUTEXATTR_SETTYPE:
  case FW_CONDATTR_SETCLOCK: return AS_SYS; /* only a bad argument explains it */
  default: return (err == ENOMEM || err == EAGAIN) ? AS_NOMEM : AS_SYS;
  }
}

/* --- tasks ----------------------------------------------------------------- */

static void set_flag(void *arg) { *(int *)arg = 1; }

static void test_spawn_countdown(void **state) {
  (void)state;
  static const int errs[] = {EAGAIN, EINVAL};
  for (size_t e = 0; e < 2; e++) {
    unsigned long n;
    for (n = 1;; n++) {
      size_t live = fw_live_blocks();
      int ran = 0;
      as_task *t = (as_task *)&ran; /* must come back NULL on failure */
      fw_countdown(FW_BIT(CALLOC) | FW_BIT(PTHREAD_CREATE), n, errs[e], 0);
      int rc = as_task_spawn(&t, "countdown", set_flag, &ran);
      fw_disarm();
      if (!fw_fired()) {
        assert_int_equal(rc, AS_OK);
        assert_int_equal(as_task_join(t), AS_OK);
        assert_int_equal(ran, 1);
        assert_int_equal(fw_live_blocks(), live);
        break;
      }
      assert_int_equal(rc, status_for(fw_fired_fn(), errs[e]));
      assert_null(t);
      assert_int_equal(ran, 0);
      assert_int_equal(fw_live_blocks(), live);
    }
    assert_int_equal(n, 3); /* calloc, pthread_create, then success */
  }
}

static void test_spawn_and_join_refusals(void **state) {
  (void)state;
  int ran = 0;
  as_task *t = NULL;
  assert_int_equal(as_task_spawn(NULL, "x", set_flag, &ran), AS_INVAL);
  assert_int_equal(as_task_spawn(&t, "x", NULL, &ran), AS_INVAL);
  assert_int_equal(as_task_join(NULL), AS_INVAL);

  /* A NULL name is "task"; a join that fails keeps the handle valid. */
  size_t live = fw_live_blocks();
  assert_int_equal(as_task_spawn(&t, NULL, set_flag, &ran), AS_OK);
  fw_inject(FW_PTHREAD_JOIN, EDEADLK, 1);
  assert_int_equal(as_task_join(t), AS_INVAL);
  fw_inject(FW_PTHREAD_JOIN, ESRCH, 1);
  assert_int_equal(as_task_join(t), AS_SYS);
  assert_int_equal(as_task_join(t), AS_OK);
  assert_int_equal(ran, 1);
  assert_int_equal(fw_live_blocks(), live);
}

/* --- mutex and condition variable ---------------------------------------- */

static void test_mutex_new_countdown(void **state) {
  (void)state;
  static const int errs[] = {ENOMEM, EINVAL};
  const uint64_t mask = FW_BIT(CALLOC) | FW_BIT(MUTEXATTR_INIT) | FW_BIT(MUTEXATTR_SETTYPE) |
                        FW_BIT(MUTEX_INIT);
  for (size_t e = 0; e < 2; e++) {
    unsigned long n;
    for (n = 1;; n++) {
      size_t live = fw_live_blocks();
      as_mutex *m = NULL;
      fw_countdown(mask, n, errs[e], 0);
      int rc = as_mutex_new(&m);
      fw_disarm();
      if (!fw_fired()) {
        assert_int_equal(rc, AS_OK);
        as_mutex_lock(m);
        assert_int_equal(as_mutex_trylock(m), AS_BUSY);
        as_mutex_unlock(m);
        as_mutex_free(m);
        assert_int_equal(fw_live_blocks(), live);
        break;
      }
      assert_int_equal(rc, status_for(fw_fired_fn(), errs[e]));
      assert_null(m);
      assert_int_equal(fw_live_blocks(), live);
    }
    assert_int_equal(n, 5);
  }
  assert_int_equal(as_mutex_new(NULL), AS_INVAL);
  as_mutex_free(NULL); /* a no-op */
}

static void test_cond_new_countdown(void **state) {
  (void)state;
  static const int errs[] = {EAGAIN, EINVAL};
  const uint64_t mask = FW_BIT(CALLOC) | FW_BIT(CONDATTR_INIT) | FW_BIT(CONDATTR_SETCLOCK) |
                        FW_BIT(COND_INIT);
  for (size_t e = 0; e < 2; e++) {
    unsigned long n;
    for (n = 1;; n++) {
      size_t live = fw_live_blocks();
      as_cond *c = NULL;
      fw_countdown(mask, n, errs[e], 0);
      int rc = as_cond_new(&c);
      fw_disarm();
      if (!fw_fired()) {
        assert_int_equal(rc, AS_OK);
        as_cond_signal(c);
        as_cond_broadcast(c);
        as_cond_free(c);
        assert_int_equal(fw_live_blocks(), live);
        break;
      }
      assert_int_equal(rc, status_for(fw_fired_fn(), errs[e]));
      assert_null(c);
      assert_int_equal(fw_live_blocks(), live);
    }
    assert_int_equal(n, 5);
  }
  assert_int_equal(as_cond_new(NULL), AS_INVAL);
  as_cond_free(NULL);
}

/* Persistent failure: every call fails, and still nothing leaks. */
static void test_persistent_failure(void **state) {
  (void)state;
  size_t live = fw_live_blocks();
  as_mutex *m = NULL;
  as_cond *c = NULL;
  as_task *t = NULL;
  int ran = 0;
  fw_countdown(FW_BIT(CALLOC), 1, ENOMEM, 1);
  assert_int_equal(as_mutex_new(&m), AS_NOMEM);
  assert_int_equal(as_cond_new(&c), AS_NOMEM);
  assert_int_equal(as_task_spawn(&t, "p", set_flag, &ran), AS_NOMEM);
  assert_int_equal(fw_counted(), 3);
  fw_disarm();
  assert_int_equal(fw_live_blocks(), live);
}

/* Interrupted and early-returning timed waits still end at the deadline. */
static void test_timedwait_retries(void **state) {
  (void)state;
  as_mutex *m = NULL;
  as_cond *c = NULL;
  assert_int_equal(as_mutex_new(&m), AS_OK);
  assert_int_equal(as_cond_new(&c), AS_OK);
  as_mutex_lock(m);
  uint64_t deadline = as_now_mono_ns() + MS(20);
  fw_inject(FW_COND_TIMEDWAIT, EINTR, 1);
  assert_int_equal(as_cond_timedwait(c, m, deadline), AS_TIMEDOUT);
  assert_true(as_now_mono_ns() >= deadline);
  deadline = as_now_mono_ns() + MS(20);
  fw_inject(FW_COND_TIMEDWAIT, ETIMEDOUT, 1); /* "timed out" before the deadline */
  assert_int_equal(as_cond_timedwait(c, m, deadline), AS_TIMEDOUT);
  assert_true(as_now_mono_ns() >= deadline);
  as_mutex_unlock(m);
  as_cond_free(c);
  as_mutex_free(m);

  /* An interrupted sleep goes back to sleep until the deadline. */
  deadline = as_now_mono_ns() + MS(5);
  fw_inject(FW_CLOCK_NANOSLEEP, EINTR, 1);
  as_sleep_until(deadline);
  assert_true(as_now_mono_ns() >= deadline);
}

/* --- randomness ------------------------------------------------------------ */

static void test_random_bytes_faults(void **state) {
  (void)state;
  unsigned char buf[64];
  memset(buf, 0, sizeof buf);
  fw_inject(FW_GETRANDOM, EINTR, 1);
  assert_int_equal(as_random_bytes(buf, sizeof buf), AS_OK);
  fw_inject(FW_GETRANDOM, 0, 3); /* three one-byte reads, then the rest */
  assert_int_equal(as_random_bytes(buf, sizeof buf), AS_OK);
  fw_inject(FW_GETRANDOM, EIO, 1);
  assert_int_equal(as_random_bytes(buf, sizeof buf), AS_SYS);
  assert_int_equal(as_random_bytes(NULL, 4), AS_INVAL);
  assert_int_equal(as_random_bytes(NULL, 0), AS_OK);
}

/* --- logging and formatting -------------------------------------------------- */

static void test_log_odd_paths(void **state) {
  (void)state;
  capture cap;
  capture_begin(&cap, stderr);
  fw_inject(FW_CLOCK_GETTIME, 0, 1); /* the wall clock reads 1969-12-31T23:59:59.5 */
  as_log(AS_LOG_INFO, "before the epoch");
  fw_inject(FW_GMTIME_R, EOVERFLOW, 1);
  as_log(AS_LOG_WARN, "no calendar");
  as_log(AS_LOG_ERROR, "ctl\x01" "del\x7f" "tab\tend");
  fw_inject(FW_VSNPRINTF, EILSEQ, 1);
  as_log(AS_LOG_DEBUG, "fmt %d", 1);
  char *out = capture_end(&cap);
  assert_non_null(strstr(out, "1969-12-31T23:59:59.500000Z info "));
  assert_non_null(strstr(out, "(unknown time) warn "));
  assert_non_null(strstr(out, "] ctl?del?tab\tend\n"));
  assert_non_null(strstr(out, "] (unformattable log message: fmt %d)\n"));
  free(out);
  assert_string_equal(as_log_level_name((as_log_level)99), "?");
}

static void test_appendf(void **state) {
  (void)state;
  char buf[16];
  assert_int_equal(as_appendf(buf, 0, 0, "x"), 0);
  memset(buf, 'z', sizeof buf);
  assert_int_equal(as_appendf(buf, sizeof buf, 0, "%s", "abc"), 3);
  assert_string_equal(buf, "abc");
  assert_int_equal(as_appendf(buf, sizeof buf, 16, "more"), 16); /* len >= cap: no change */
  /* Cut: the buffer ends in "..." and the length is cap-1, so chains stop. */
  assert_int_equal(as_appendf(buf, sizeof buf, 3, "%s", "defghijklmnopqrstu"), 15);
  assert_string_equal(buf, "abcdefghijkl...");
  assert_int_equal(as_appendf(buf, sizeof buf, 15, "x"), 15);
  /* A buffer too small for "..." is just cut. */
  char tiny[3];
  assert_int_equal(as_appendf(tiny, sizeof tiny, 0, "%s", "abcdef"), 2);
  assert_string_equal(tiny, "ab");
  /* A formatting error leaves what was there, terminated. */
  assert_int_equal(as_appendf(buf, sizeof buf, 0, "%s", "ok"), 2);
  fw_inject(FW_VSNPRINTF, EILSEQ, 1);
  assert_int_equal(as_appendf(buf, sizeof buf, 2, "%s", "lost"), 2);
  assert_string_equal(buf, "ok");
}

/* --- misuse and impossible errors abort ----------------------------------- */

static void dump_and_die(int sig) {
  (void)sig;
  fw_gcov_dump(); /* abort() re-raises with the default action once we return */
}

/* Run fn in a child; return its stderr (caller frees) and wait status. */
static char *run_child(void (*fn)(void), int *status) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  assert_int_equal(fflush(NULL), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    (void)signal(SIGABRT, dump_and_die); /* ignore: best effort in the child */
    (void)alarm(10); /* ignore: no earlier alarm */
    if (dup2(fds[1], STDERR_FILENO) < 0) _exit(4);
    (void)close(fds[0]); /* ignore: the child exits soon anyway */
    fn();
    _exit(0); /* reached only if the misuse went unreported */
  }
  assert_int_equal(close(fds[1]), 0);
  size_t cap = 8192, len = 0;
  char *text = malloc(cap);
  assert_non_null(text);
  for (;;) {
    ssize_t got = read(fds[0], text + len, cap - 1 - len);
    if (got <= 0) break;
    len += (size_t)got;
    assert_true(len < cap - 1);
  }
  text[len] = '\0';
  assert_int_equal(close(fds[0]), 0);
  assert_int_equal(waitpid(pid, status, 0), pid);
  return text;
}

static void expect_abort(void (*fn)(void), const char *must_mention) {
  int status = 0;
  char *err = run_child(fn, &status);
  bool aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
  bool said = strstr(err, "agentsim: assertion failed: ") != NULL;
  bool named = strstr(err, must_mention) != NULL;
  if (!aborted || !said || !named)
    fail_msg("child status 0x%x, wanted \"%s\", stderr:\n%s", (unsigned)status, must_mention,
             err);
  free(err);
}

static as_mutex *new_mutex(void) {
  as_mutex *m = NULL;
  if (as_mutex_new(&m) != AS_OK) _exit(5);
  return m;
}

static as_cond *new_cond(void) {
  as_cond *c = NULL;
  if (as_cond_new(&c) != AS_OK) _exit(5);
  return c;
}

static void m_unlock_unheld(void) { as_mutex_unlock(new_mutex()); }
static void m_relock(void) {
  as_mutex *m = new_mutex();
  as_mutex_lock(m);
  as_mutex_lock(m);
}
static void m_free_locked(void) {
  as_mutex *m = new_mutex();
  as_mutex_lock(m);
  as_mutex_free(m);
}
static void m_trylock_error(void) {
  as_mutex *m = new_mutex();
  fw_inject(FW_MUTEX_TRYLOCK, EINVAL, 1);
  if (as_mutex_trylock(m) == AS_OK) _exit(6);
}
static void c_wait_unheld(void) { as_cond_wait(new_cond(), new_mutex()); }
static void c_timedwait_error(void) {
  as_mutex *m = new_mutex();
  as_mutex_lock(m);
  fw_inject(FW_COND_TIMEDWAIT, EINVAL, 1);
  if (as_cond_timedwait(new_cond(), m, as_now_mono_ns() + MS(1000)) == AS_OK) _exit(6);
}
static void c_destroy_error(void) {
  fw_inject(FW_COND_DESTROY, EBUSY, 1);
  as_cond_free(new_cond());
}
static void c_signal_error(void) {
  fw_inject(FW_COND_SIGNAL, EINVAL, 1);
  as_cond_signal(new_cond());
}
static void c_broadcast_error(void) {
  fw_inject(FW_COND_BROADCAST, EINVAL, 1);
  as_cond_broadcast(new_cond());
}
static void clock_mono_error(void) {
  fw_inject(FW_CLOCK_GETTIME, EINVAL, 1);
  (void)as_now_mono_ns(); /* ignore: it aborts */
}
static void clock_wall_error(void) {
  fw_inject(FW_CLOCK_GETTIME, EINVAL, 1);
  (void)as_now_wall_ns(); /* ignore: it aborts */
}
static void sleep_error(void) {
  fw_inject(FW_CLOCK_NANOSLEEP, EINVAL, 1);
  as_sleep_until(0);
}
static void assert_false_expr(void) { AS_ASSERT(2 + 2 == 5); }
/* The entry itself, given no expression and no file: "?" for each. */
static void assert_nulls(void) { as_platform_posix.assert_fail(NULL, 7, NULL); }

static void test_misuse_aborts(void **state) {
  (void)state;
  expect_abort(m_unlock_unheld, "pthread_mutex_unlock");
  expect_abort(m_relock, "pthread_mutex_lock");
  expect_abort(m_free_locked, "pthread_mutex_destroy");
  expect_abort(m_trylock_error, "pthread_mutex_trylock");
  expect_abort(c_wait_unheld, "pthread_cond_wait");
  expect_abort(c_timedwait_error, "pthread_cond_timedwait");
  expect_abort(c_destroy_error, "pthread_cond_destroy");
  expect_abort(c_signal_error, "pthread_cond_signal");
  expect_abort(c_broadcast_error, "pthread_cond_broadcast");
  expect_abort(clock_mono_error, "clock_gettime(CLOCK_MONOTONIC)");
  expect_abort(clock_wall_error, "clock_gettime(CLOCK_REALTIME)");
  expect_abort(sleep_error, "clock_nanosleep");
  expect_abort(assert_false_expr, "2 + 2 == 5");
  expect_abort(assert_nulls, "agentsim: assertion failed: ? (?:7)\n");
}

int main(void) {
  (void)alarm(60); /* ignore: no earlier alarm; a hang dies of SIGALRM */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_spawn_countdown, reset_faults),
      cmocka_unit_test_teardown(test_spawn_and_join_refusals, reset_faults),
      cmocka_unit_test_teardown(test_mutex_new_countdown, reset_faults),
      cmocka_unit_test_teardown(test_cond_new_countdown, reset_faults),
      cmocka_unit_test_teardown(test_persistent_failure, reset_faults),
      cmocka_unit_test_teardown(test_timedwait_retries, reset_faults),
      cmocka_unit_test_teardown(test_random_bytes_faults, reset_faults),
      cmocka_unit_test_teardown(test_log_odd_paths, reset_faults),
      cmocka_unit_test_teardown(test_appendf, reset_faults),
      cmocka_unit_test_teardown(test_misuse_aborts, reset_faults),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

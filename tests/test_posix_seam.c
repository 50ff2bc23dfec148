/*
** test_posix_seam.c -- the posix platform under real threads, through the
** public functions of seam.h (never the pthread calls behind them).
**
** cmocka assertions longjmp, which is only defined on the thread running the
** test, so tasks record what they saw in shared state and the test thread
** asserts on it after joining them. Waits that a broken platform would make
** endless are bounded (WAIT_LIMIT_NS) so a bug fails the test instead of
** hanging it.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testutil.h"

#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentsim/seam.h"

#define MS(n) ((uint64_t)(n) * 1000000ull)
/* Longest the test waits for something a working platform does in
** microseconds; only reached when the platform is broken. */
#define WAIT_LIMIT_NS MS(1500)

/* Poll until *v >= want or WAIT_LIMIT_NS passes; true when reached. */
static bool wait_for_at_least(atomic_int *v, int want) {
  uint64_t give_up = as_now_mono_ns() + WAIT_LIMIT_NS;
  while (atomic_load(v) < want) {
    if (as_now_mono_ns() > give_up) return false;
    as_task_yield();
  }
  return true;
}

/* Lock m and return with it held once *count (guarded by m) reaches want;
** false (m held) when WAIT_LIMIT_NS passes first. Because waiters bump the
** count under m just before waiting, holding m with the count at want means
** every one of them is inside as_cond_wait. */
static bool lock_when_count(as_mutex *m, const int *count, int want) {
  uint64_t give_up = as_now_mono_ns() + WAIT_LIMIT_NS;
  as_mutex_lock(m);
  while (*count < want) {
    as_mutex_unlock(m);
    if (as_now_mono_ns() > give_up) {
      as_mutex_lock(m);
      return false;
    }
    as_sleep_until(as_now_mono_ns() + 100000); /* 100 us */
    as_mutex_lock(m);
  }
  return true;
}

/* --- tasks ---------------------------------------------------------------- */

#define SPAWN_TASKS 8

struct spawn_slot {
  atomic_int *arrived; /* shared by all slots */
  int ran;
  int met;             /* saw every task alive at once */
  uint64_t id;
  uint64_t id_again;
};

static void record_task(void *arg) {
  struct spawn_slot *s = arg;
  s->id = as_task_id();
  /* Stay alive until every task has its id: seam.h promises ids unique
  ** among live tasks, so that is when distinctness is owed. */
  atomic_fetch_add(s->arrived, 1);
  s->met = wait_for_at_least(s->arrived, SPAWN_TASKS);
  s->id_again = as_task_id();
  s->ran = 1;
}

static void test_spawn_join_ids(void **state) {
  (void)state;
  struct spawn_slot slots[SPAWN_TASKS];
  as_task *tasks[SPAWN_TASKS];
  char long_name[3 * AS_TASK_NAME_MAX];
  atomic_int arrived = 0;
  memset(slots, 0, sizeof slots);
  memset(long_name, 'n', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';

  uint64_t main_id = as_task_id();
  assert_true(main_id != 0);
  assert_true(as_task_id() == main_id);

  for (int i = 0; i < SPAWN_TASKS; i++) {
    /* Odd tasks get a name past AS_TASK_NAME_MAX, which the platform cuts. */
    const char *name = (i % 2) ? long_name : "worker";
    slots[i].arrived = &arrived;
    assert_int_equal(as_task_spawn(&tasks[i], name, record_task, &slots[i]),
                     AS_OK);
    assert_non_null(tasks[i]);
  }
  for (int i = 0; i < SPAWN_TASKS; i++)
    assert_int_equal(as_task_join(tasks[i]), AS_OK);

  for (int i = 0; i < SPAWN_TASKS; i++) {
    assert_int_equal(slots[i].ran, 1);
    assert_int_equal(slots[i].met, 1);
    assert_true(slots[i].id != 0);
    assert_true(slots[i].id == slots[i].id_again);
    assert_true(slots[i].id != main_id);
    for (int j = 0; j < i; j++) assert_true(slots[i].id != slots[j].id);
  }
}

struct self_join {
  as_mutex *m;
  as_cond *c;
  as_task *self; /* guarded by m; set once the handle exists */
  int rc;        /* the task's own as_task_join result */
};

static void join_self_task(void *arg) {
  struct self_join *sj = arg;
  as_mutex_lock(sj->m);
  while (sj->self == NULL) as_cond_wait(sj->c, sj->m);
  as_task *me = sj->self;
  as_mutex_unlock(sj->m);
  sj->rc = as_task_join(me);
}

static void test_join_self_is_inval(void **state) {
  (void)state;
  struct self_join sj = {.rc = -1};
  as_task *t = NULL;
  assert_int_equal(as_mutex_new(&sj.m), AS_OK);
  assert_int_equal(as_cond_new(&sj.c), AS_OK);

  assert_int_equal(as_task_spawn(&t, "self-joiner", join_self_task, &sj),
                   AS_OK);
  as_mutex_lock(sj.m);
  sj.self = t;
  as_cond_signal(sj.c);
  as_mutex_unlock(sj.m);

  /* The refused self-join must leave the handle alive for this join. */
  assert_int_equal(as_task_join(t), AS_OK);
  assert_int_equal(sj.rc, AS_INVAL);
  as_cond_free(sj.c);
  as_mutex_free(sj.m);
}

/* --- mutex ---------------------------------------------------------------- */

#define EXCL_TASKS 4
#define EXCL_ITERS 20000

struct excl {
  as_mutex *m;
  atomic_int go;       /* start line, so the tasks really overlap */
  atomic_int inside;   /* tasks currently in the critical section */
  atomic_int overlaps; /* times a task found another one inside */
  long counter;        /* plain: only the mutex protects it */
};

static void excl_task(void *arg) {
  struct excl *e = arg;
  while (!atomic_load(&e->go)) as_task_yield();
  for (int i = 0; i < EXCL_ITERS; i++) {
    as_mutex_lock(e->m);
    if (atomic_fetch_add(&e->inside, 1) != 0) atomic_fetch_add(&e->overlaps, 1);
    long v = e->counter;
    /* Give up the CPU mid-update now and then: without exclusion another
    ** task would run here and its increments would be lost. */
    if (i % 64 == 0) as_task_yield();
    e->counter = v + 1;
    atomic_fetch_sub(&e->inside, 1);
    as_mutex_unlock(e->m);
  }
}

static void test_mutex_exclusion(void **state) {
  (void)state;
  struct excl e = {0};
  as_task *tasks[EXCL_TASKS];
  assert_int_equal(as_mutex_new(&e.m), AS_OK);
  for (int i = 0; i < EXCL_TASKS; i++)
    assert_int_equal(as_task_spawn(&tasks[i], "excl", excl_task, &e), AS_OK);
  atomic_store(&e.go, 1);
  for (int i = 0; i < EXCL_TASKS; i++)
    assert_int_equal(as_task_join(tasks[i]), AS_OK);

  assert_int_equal(atomic_load(&e.overlaps), 0);
  assert_int_equal(e.counter, (long)EXCL_TASKS * EXCL_ITERS);
  as_mutex_free(e.m);
}

struct holder {
  as_mutex *m;
  atomic_int held;
  atomic_int release;
};

static void holder_task(void *arg) {
  struct holder *h = arg;
  as_mutex_lock(h->m);
  atomic_store(&h->held, 1);
  uint64_t give_up = as_now_mono_ns() + WAIT_LIMIT_NS;
  while (!atomic_load(&h->release) && as_now_mono_ns() < give_up)
    as_task_yield();
  as_mutex_unlock(h->m);
}

static void test_trylock(void **state) {
  (void)state;
  struct holder h = {0};
  as_task *t = NULL;
  assert_int_equal(as_mutex_new(&h.m), AS_OK);

  /* Uncontended: taken at once. */
  assert_int_equal(as_mutex_trylock(h.m), AS_OK);
  as_mutex_unlock(h.m);

  assert_int_equal(as_task_spawn(&t, "holder", holder_task, &h), AS_OK);
  bool held = wait_for_at_least(&h.held, 1);
  int busy1 = as_mutex_trylock(h.m);
  int busy2 = as_mutex_trylock(h.m);
  atomic_store(&h.release, 1);
  assert_int_equal(as_task_join(t), AS_OK);

  assert_true(held);
  assert_int_equal(busy1, AS_BUSY);
  assert_int_equal(busy2, AS_BUSY);
  /* The holder is gone, so the lock is free again. */
  assert_int_equal(as_mutex_trylock(h.m), AS_OK);
  as_mutex_unlock(h.m);
  as_mutex_free(h.m);
}

/* --- condition variable --------------------------------------------------- */

#define COND_WAITERS 3

struct gate {
  as_mutex *m;
  as_cond *c;
  int waiting; /* guarded by m: waiters that reached their wait loop */
  int tokens;  /* guarded by m: signal test, one per waiter to release */
  int open;    /* guarded by m: broadcast test, releases everyone */
  atomic_int woken;
};

static void token_waiter(void *arg) {
  struct gate *g = arg;
  as_mutex_lock(g->m);
  g->waiting++;
  while (g->tokens == 0) as_cond_wait(g->c, g->m);
  g->tokens--;
  as_mutex_unlock(g->m);
  atomic_fetch_add(&g->woken, 1);
}

static void open_waiter(void *arg) {
  struct gate *g = arg;
  as_mutex_lock(g->m);
  g->waiting++;
  while (!g->open) as_cond_wait(g->c, g->m);
  as_mutex_unlock(g->m);
  atomic_fetch_add(&g->woken, 1);
}

static void gate_init(struct gate *g) {
  memset(g, 0, sizeof *g);
  assert_int_equal(as_mutex_new(&g->m), AS_OK);
  assert_int_equal(as_cond_new(&g->c), AS_OK);
}

static void gate_free(struct gate *g) {
  as_cond_free(g->c);
  as_mutex_free(g->m);
}

static void test_cond_signal(void **state) {
  (void)state;
  /* static: if the test fails before joining, the stranded waiters still
  ** point at live memory rather than at a dead stack frame. */
  static struct gate g;
  as_task *tasks[COND_WAITERS];
  gate_init(&g);
  for (int i = 0; i < COND_WAITERS; i++)
    assert_int_equal(as_task_spawn(&tasks[i], "sig", token_waiter, &g), AS_OK);

  bool all_waiting = lock_when_count(g.m, &g.waiting, COND_WAITERS);
  as_mutex_unlock(g.m);
  assert_true(all_waiting);
  /* Each signal hands out one token; waking nobody would strand a waiter. */
  for (int i = 0; i < COND_WAITERS; i++) {
    as_mutex_lock(g.m);
    g.tokens++;
    as_cond_signal(g.c);
    as_mutex_unlock(g.m);
  }
  assert_true(wait_for_at_least(&g.woken, COND_WAITERS));
  for (int i = 0; i < COND_WAITERS; i++)
    assert_int_equal(as_task_join(tasks[i]), AS_OK);
  assert_int_equal(g.tokens, 0);
  gate_free(&g);
}

static void test_cond_broadcast(void **state) {
  (void)state;
  /* static: if the test fails before joining, the stranded waiters still
  ** point at live memory rather than at a dead stack frame. */
  static struct gate g;
  as_task *tasks[COND_WAITERS];
  gate_init(&g);
  for (int i = 0; i < COND_WAITERS; i++)
    assert_int_equal(as_task_spawn(&tasks[i], "bcast", open_waiter, &g), AS_OK);

  bool all_waiting = lock_when_count(g.m, &g.waiting, COND_WAITERS);
  /* One broadcast must wake every waiter (a signal would wake one). */
  g.open = 1;
  as_cond_broadcast(g.c);
  as_mutex_unlock(g.m);
  assert_true(all_waiting);
  assert_true(wait_for_at_least(&g.woken, COND_WAITERS));
  for (int i = 0; i < COND_WAITERS; i++)
    assert_int_equal(as_task_join(tasks[i]), AS_OK);
  gate_free(&g);
}

/* Wait on an unsignalled condition until `deadline`; returns the status and
** the monotonic time it returned at. AS_OK (spurious) is waited through, but
** only until WAIT_LIMIT_NS past the deadline, so a platform that never times
** out fails instead of hanging. */
static int wait_out(struct gate *g, uint64_t deadline, uint64_t *returned_at) {
  int rc;
  uint64_t now = as_now_mono_ns();
  uint64_t give_up = (deadline > now ? deadline : now) + WAIT_LIMIT_NS;
  as_mutex_lock(g->m);
  do {
    rc = as_cond_timedwait(g->c, g->m, deadline);
  } while (rc == AS_OK && as_now_mono_ns() < give_up);
  *returned_at = as_now_mono_ns();
  as_mutex_unlock(g->m);
  return rc;
}

static void test_cond_timedwait_times_out(void **state) {
  (void)state;
  struct gate g;
  uint64_t at = 0;
  gate_init(&g);

  uint64_t deadline = as_now_mono_ns() + MS(30);
  assert_int_equal(wait_out(&g, deadline, &at), AS_TIMEDOUT);
  assert_true(at >= deadline);
  assert_true(at - deadline < MS(1000)); /* not wildly late either */

  /* A deadline already in the past times out at once. */
  uint64_t start = as_now_mono_ns();
  assert_int_equal(wait_out(&g, start - 1, &at), AS_TIMEDOUT);
  assert_int_equal(wait_out(&g, 0, &at), AS_TIMEDOUT);
  assert_true(at - start < MS(1000));
  gate_free(&g);
}

static void open_gate_task(void *arg) {
  struct gate *g = arg;
  as_mutex_lock(g->m);
  g->open = 1;
  as_cond_signal(g->c);
  as_mutex_unlock(g->m);
}

/* A timed wait that another task signals long before `deadline`. */
static void signalled_before(uint64_t deadline) {
  struct gate g;
  as_task *t = NULL;
  int rc = AS_INTERNAL;
  gate_init(&g);

  /* Hold the mutex before the signaller exists: it can only set the flag
  ** once this thread is inside timedwait, so the signal is not lost. */
  as_mutex_lock(g.m);
  assert_int_equal(as_task_spawn(&t, "signaller", open_gate_task, &g), AS_OK);
  while (!g.open) {
    rc = as_cond_timedwait(g.c, g.m, deadline);
    if (rc == AS_TIMEDOUT) break;
  }
  uint64_t at = as_now_mono_ns();
  int was_open = g.open;
  as_mutex_unlock(g.m);
  assert_int_equal(as_task_join(t), AS_OK);

  assert_int_equal(rc, AS_OK);
  assert_int_equal(was_open, 1);
  assert_true(at < deadline);
  gate_free(&g);
}

static void test_cond_timedwait_signalled(void **state) {
  (void)state;
  signalled_before(as_now_mono_ns() + WAIT_LIMIT_NS);
  /* The farthest deadline means "no deadline", not an instant timeout from
  ** a wrapped conversion (a hang here is caught by main's alarm). */
  signalled_before(UINT64_MAX);
}

/* --- time ----------------------------------------------------------------- */

static void test_sleep_until(void **state) {
  (void)state;
  uint64_t deadline = as_now_mono_ns() + MS(20);
  as_sleep_until(deadline);
  uint64_t at = as_now_mono_ns();
  assert_true(at >= deadline);
  assert_true(at - deadline < MS(1000));

  /* Past deadlines return at once. */
  uint64_t start = as_now_mono_ns();
  as_sleep_until(start);
  as_sleep_until(0);
  assert_true(as_now_mono_ns() - start < MS(1000));
}

static void test_clocks(void **state) {
  (void)state;
  /* 2020-01-01T00:00:00Z and 2100-01-01T00:00:00Z in ns: catches a clock in
  ** the wrong unit as well as a wrong epoch. */
  const int64_t y2020 = INT64_C(1577836800) * INT64_C(1000000000);
  const int64_t y2100 = INT64_C(4102444800) * INT64_C(1000000000);
  int64_t wall = as_now_wall_ns();
  assert_true(wall > y2020);
  assert_true(wall < y2100);

  uint64_t prev = as_now_mono_ns();
  for (int i = 0; i < 1000; i++) {
    uint64_t now = as_now_mono_ns();
    assert_true(now >= prev);
    prev = now;
  }
}

/* --- randomness, faults --------------------------------------------------- */

static bool all_zero(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != 0) return false;
  return true;
}

static void test_random_bytes(void **state) {
  (void)state;
  unsigned char a[64] = {0};
  unsigned char b[64] = {0};
  assert_int_equal(as_random_bytes(a, sizeof a), AS_OK);
  assert_int_equal(as_random_bytes(b, sizeof b), AS_OK);
  /* Each has odds 2^-512 of being wrong for a working source. */
  assert_false(all_zero(a, sizeof a));
  assert_false(all_zero(b, sizeof b));
  assert_memory_not_equal(a, b, sizeof a);

  /* n == 0 succeeds and writes nothing. */
  unsigned char sentinel[4] = {0xA5, 0xA5, 0xA5, 0xA5};
  assert_int_equal(as_random_bytes(sentinel, 0), AS_OK);
  for (size_t i = 0; i < sizeof sentinel; i++)
    assert_int_equal(sentinel[i], 0xA5);
}

static void test_fault_never_fires(void **state) {
  (void)state;
  /* Past the last point too: an unknown point is still "no fault". */
  for (unsigned p = 0; p < AS__FP_COUNT + 4; p++)
    assert_false(as_fault(p));
  /* Armed, as_fault really asks the platform; posix must still say no. */
  as_fault_arm(1);
  bool any = false;
  for (unsigned p = 0; p < AS__FP_COUNT + 4; p++) any = any || as_fault(p);
  as_fault_arm(0);
  assert_false(any);
  assert_false(as_platform_posix.fault(AS_FP_SELFTEST));
}

/* --- logging -------------------------------------------------------------- */

/* Redirects fd 2 into a temporary file between begin and end. */
struct capture {
  FILE *file;
  int saved_fd;
};

static void capture_begin(struct capture *cap) {
  assert_int_equal(fflush(stderr), 0);
  cap->file = tmpfile();
  assert_non_null(cap->file);
  cap->saved_fd = dup(STDERR_FILENO);
  assert_true(cap->saved_fd >= 0);
  assert_true(dup2(fileno(cap->file), STDERR_FILENO) >= 0);
}

/* Restore stderr and return what was written (caller frees). */
static char *capture_end(struct capture *cap, size_t *len) {
  assert_int_equal(fflush(stderr), 0);
  assert_true(dup2(cap->saved_fd, STDERR_FILENO) >= 0);
  assert_int_equal(close(cap->saved_fd), 0);
  long size = ftell(cap->file);
  assert_true(size >= 0);
  char *text = malloc((size_t)size + 1);
  assert_non_null(text);
  rewind(cap->file);
  assert_int_equal(fread(text, 1, (size_t)size, cap->file), (size_t)size);
  text[size] = '\0';
  assert_int_equal(fclose(cap->file), 0);
  *len = (size_t)size;
  return text;
}

/* The value of n decimal digits at s (already checked to be digits). */
static int atoi_digits(const char *s, int n) {
  int v = 0;
  for (int i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
  return v;
}

/* Check that `line` (without its newline) is "<ISO UTC> <level> [task N] "
** followed by the message; returns a pointer to the message. */
static const char *check_log_head(const char *line, const char *level,
                                  uint64_t task) {
  /* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ ": check the shape digit by digit. */
  static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ ";
  int used = (int)strlen(shape);
  for (int i = 0; i < used; i++) {
    if (shape[i] == 'd')
      assert_true(line[i] >= '0' && line[i] <= '9');
    else
      assert_int_equal(line[i], shape[i]);
  }
  int y = atoi_digits(line, 4), mo = atoi_digits(line + 5, 2), d = atoi_digits(line + 8, 2);
  assert_true(y >= 2020 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31);
  char head[64];
  int n = snprintf(head, sizeof head, "%s [task %" PRIu64 "] ", level, task);
  assert_true(n > 0 && (size_t)n < sizeof head);
  assert_memory_equal(line + used, head, (size_t)n);
  return line + used + n;
}

static void test_log_format_and_cut(void **state) {
  (void)state;
  const size_t big = 3 * AS_LOG_MAX;
  char *long_msg = malloc(big + 1);
  assert_non_null(long_msg);
  memset(long_msg, 'x', big);
  long_msg[big] = '\0';
  uint64_t me = as_task_id();

  struct capture cap;
  capture_begin(&cap);
  as_log(AS_LOG_DEBUG, "hello %d", 42);
  as_log(AS_LOG_WARN, "%s", long_msg);
  as_log(AS_LOG_INFO, "two\nlines");
  /* Straight to the platform, past as_log's cut: the platform caps too. */
  as_platform_posix.log(AS_LOG_ERROR, long_msg);
  /* Newlines are escaped to two bytes each; the line must still fit. */
  memset(long_msg, '\n', big);
  as_platform_posix.log(AS_LOG_INFO, long_msg);
  size_t len = 0;
  char *out = capture_end(&cap, &len);
  free(long_msg);

  /* Exactly five lines, each ending in a newline. */
  char *lines[5];
  char *p = out;
  for (int i = 0; i < 5; i++) {
    char *nl = strchr(p, '\n');
    assert_non_null(nl);
    *nl = '\0';
    lines[i] = p;
    p = nl + 1;
  }
  assert_string_equal(p, "");

  assert_string_equal(check_log_head(lines[0], "debug", me), "hello 42");

  const char *msg = check_log_head(lines[1], "warn", me);
  size_t mlen = strlen(msg);
  assert_int_equal(mlen, AS_LOG_MAX - 1); /* as_log keeps AS_LOG_MAX-1 bytes */
  assert_string_equal(msg + mlen - 3, "...");

  assert_string_equal(check_log_head(lines[2], "info", me), "two\\nlines");

  /* Cut exactly as as_log cuts: same bytes as the warn line's message. */
  assert_string_equal(check_log_head(lines[3], "error", me),
                      check_log_head(lines[1], "warn", me));

  msg = check_log_head(lines[4], "info", me);
  mlen = strlen(msg);
  assert_int_equal(mlen, 2 * (AS_LOG_MAX - 4) + 3);
  for (size_t i = 0; i + 3 < mlen; i += 2)
    assert_memory_equal(msg + i, "\\n", 2);
  assert_string_equal(msg + mlen - 3, "...");
  free(out);
}

/* A carriage return is escaped as a newline is; a NULL message (only the
** platform's entry can be handed one) prints as "(null)". */
static void test_log_escapes_and_null(void **state) {
  (void)state;
  uint64_t me = as_task_id();
  struct capture cap;
  capture_begin(&cap);
  as_log(AS_LOG_WARN, "a\rb\r\nc\td\x01" "e\x7f");
  as_platform_posix.log(AS_LOG_ERROR, NULL);
  size_t len = 0;
  char *out = capture_end(&cap, &len);
  char *nl = strchr(out, '\n');
  assert_non_null(nl);
  *nl = '\0';
  assert_string_equal(check_log_head(out, "warn", me), "a\\rb\\r\\nc\td?e?");
  char *second = nl + 1;
  nl = strchr(second, '\n');
  assert_non_null(nl);
  *nl = '\0';
  assert_string_equal(check_log_head(second, "error", me), "(null)");
  assert_string_equal(nl + 1, "");
  free(out);
}

#define LOG_TASKS 4
#define LOG_LINES 50
#define LOG_PAD 200

struct log_arg {
  int index;
  uint64_t id;
};

static void log_task(void *arg) {
  struct log_arg *la = arg;
  char pad[LOG_PAD + 1];
  memset(pad, 'a' + la->index, LOG_PAD);
  pad[LOG_PAD] = '\0';
  la->id = as_task_id();
  for (int i = 0; i < LOG_LINES; i++)
    as_log(AS_LOG_INFO, "t%d-%d %s", la->index, i, pad);
}

static void test_log_lines_do_not_interleave(void **state) {
  (void)state;
  struct log_arg args[LOG_TASKS];
  as_task *tasks[LOG_TASKS];
  int seen[LOG_TASKS] = {0};

  struct capture cap;
  capture_begin(&cap);
  for (int i = 0; i < LOG_TASKS; i++) {
    args[i] = (struct log_arg){.index = i};
    assert_int_equal(as_task_spawn(&tasks[i], "logger", log_task, &args[i]),
                     AS_OK);
  }
  for (int i = 0; i < LOG_TASKS; i++)
    assert_int_equal(as_task_join(tasks[i]), AS_OK);
  size_t len = 0;
  char *out = capture_end(&cap, &len);

  /* Every line must be whole: its own task's header, then its own payload in
  ** order; an interleaved write would break one of them. */
  char *save = NULL;
  for (char *line = strtok_r(out, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    unsigned long who = 0, nth = 0;
    const char *rest = strstr(line, "] t");
    assert_non_null(rest);
    const char *pad = rest + 3;
    assert_true(tu_uint(&pad, &who) && tu_lit(&pad, "-") && tu_uint(&pad, &nth) &&
                tu_lit(&pad, " "));
    assert_in_range(who, 0, LOG_TASKS - 1);
    assert_int_equal(nth, seen[who]);
    seen[who]++;
    check_log_head(line, "info", args[who].id);
    assert_int_equal(strlen(pad), LOG_PAD);
    for (size_t k = 0; k < LOG_PAD; k++) assert_int_equal(pad[k], 'a' + who);
  }
  for (int i = 0; i < LOG_TASKS; i++) assert_int_equal(seen[i], LOG_LINES);
  free(out);
}

/* --- status names --------------------------------------------------------- */

static void test_status_names(void **state) {
  (void)state;
  static const char *const want_names[] = {
#define WANT_NAME(name, msg) "AS_" #name,
      AS_STATUS_MAP(WANT_NAME)
#undef WANT_NAME
  };
  static const char *const want_msgs[] = {
#define WANT_MSG(name, msg) msg,
      AS_STATUS_MAP(WANT_MSG)
#undef WANT_MSG
  };
  assert_int_equal(sizeof want_names / sizeof want_names[0], AS__STATUS_COUNT);

  for (int rc = 0; rc < AS__STATUS_COUNT; rc++) {
    assert_string_equal(as_status_name(rc), want_names[rc]);
    assert_string_equal(as_status_msg(rc), want_msgs[rc]);
    assert_true(strlen(as_status_msg(rc)) > 0);
    for (int j = 0; j < rc; j++)
      assert_string_not_equal(as_status_name(rc), as_status_name(j));
  }
  assert_string_equal(as_status_name(AS_OK), "AS_OK");
  assert_string_equal(as_status_name(AS_TIMEDOUT), "AS_TIMEDOUT");
  assert_string_equal(as_status_msg(AS_NOMEM), "out of memory");

  const int out_of_range[] = {-1, AS__STATUS_COUNT, AS__STATUS_COUNT + 1,
                              INT_MAX, INT_MIN};
  for (size_t i = 0; i < sizeof out_of_range / sizeof out_of_range[0]; i++) {
    assert_string_equal(as_status_name(out_of_range[i]), "AS_UNKNOWN");
    assert_string_equal(as_status_msg(out_of_range[i]), "unknown status");
  }
}

/* --- the platform itself -------------------------------------------------- */

static void test_platform_is_posix(void **state) {
  (void)state;
  assert_ptr_equal(as__plat, &as_platform_posix);
  assert_string_equal(as_platform_posix.name, "posix");
  /* Setting NULL restores posix and hands back what was current. */
  assert_ptr_equal(as_platform_set(NULL), &as_platform_posix);
  assert_ptr_equal(as__plat, &as_platform_posix);

  const as_platform *p = &as_platform_posix;
  const void *entries[] = {
      (const void *)p->task_spawn,     (const void *)p->task_join,
      (const void *)p->task_yield,     (const void *)p->task_id,
      (const void *)p->mutex_new,      (const void *)p->mutex_free,
      (const void *)p->mutex_lock,     (const void *)p->mutex_trylock,
      (const void *)p->mutex_unlock,   (const void *)p->cond_new,
      (const void *)p->cond_free,      (const void *)p->cond_wait,
      (const void *)p->cond_timedwait, (const void *)p->cond_signal,
      (const void *)p->cond_broadcast, (const void *)p->sleep_until,
      (const void *)p->now_mono_ns,    (const void *)p->now_wall_ns,
      (const void *)p->random_bytes,   (const void *)p->fault,
      (const void *)p->log,            (const void *)p->assert_fail,
  };
  for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++)
    assert_non_null(entries[i]);
}

/* --- misuse aborts -------------------------------------------------------- */

static void misuse_unlock_unheld(void) {
  as_mutex *m = NULL;
  if (as_mutex_new(&m) != AS_OK) _exit(3);
  as_mutex_unlock(m);
}

static void misuse_relock(void) {
  as_mutex *m = NULL;
  if (as_mutex_new(&m) != AS_OK) _exit(3);
  as_mutex_lock(m);
  as_mutex_lock(m);
}

static void misuse_wait_unheld(void) {
  as_mutex *m = NULL;
  as_cond *c = NULL;
  if (as_mutex_new(&m) != AS_OK || as_cond_new(&c) != AS_OK) _exit(3);
  as_cond_wait(c, m);
}

static void misuse_free_locked(void) {
  as_mutex *m = NULL;
  if (as_mutex_new(&m) != AS_OK) _exit(3);
  as_mutex_lock(m);
  as_mutex_free(m);
}

static void misuse_assert(void) { AS_ASSERT(1 + 1 == 3); }

/* Run fn in a child process with stderr captured; returns its wait status
** and what it wrote to stderr (caller frees). No task is running here, so
** forking this process is safe. */
static char *run_child(void (*fn)(void), int *status) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  assert_int_equal(fflush(NULL), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    (void)signal(SIGABRT, SIG_DFL); /* ignore: best effort in the child */
    /* A platform that deadlocks instead of reporting (say, a relock on a
    ** mutex without error checking) dies of SIGALRM and fails the test. */
    (void)alarm(10); /* ignore: returns the previous alarm, there is none */
    if (dup2(fds[1], STDERR_FILENO) < 0) _exit(4);
    (void)close(fds[0]); /* ignore: the child exits soon anyway */
    fn();
    _exit(0); /* reached only if the misuse went unreported */
  }
  assert_int_equal(close(fds[1]), 0);
  size_t cap = 4096, len = 0;
  char *text = malloc(cap);
  assert_non_null(text);
  for (;;) {
    if (len + 1 == cap) {
      char *bigger = realloc(text, cap * 2);
      assert_non_null(bigger);
      text = bigger;
      cap *= 2;
    }
    ssize_t got = read(fds[0], text + len, cap - 1 - len);
    if (got <= 0) break;
    len += (size_t)got;
  }
  text[len] = '\0';
  assert_int_equal(close(fds[0]), 0);
  assert_int_equal(waitpid(pid, status, 0), pid);
  return text;
}

/* Run fn in a child and check it aborted through assert_fail with a message
** mentioning must_mention; returns its stderr (caller frees). */
static char *expect_abort(void (*fn)(void), const char *must_mention) {
  int status = 0;
  char *err = run_child(fn, &status);
  bool aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
  bool said = strstr(err, "agentsim: assertion failed: ") != NULL;
  bool named = strstr(err, must_mention) != NULL;
  if (!aborted || !said || !named)
    fail_msg("child status 0x%x, wanted \"%s\", stderr:\n%s", (unsigned)status,
             must_mention, err);
  return err;
}

static void test_misuse_aborts(void **state) {
  (void)state;
  free(expect_abort(misuse_unlock_unheld, "pthread_mutex_unlock"));
  free(expect_abort(misuse_relock, "pthread_mutex_lock"));
  free(expect_abort(misuse_wait_unheld, "pthread_cond_wait"));
  free(expect_abort(misuse_free_locked, "pthread_mutex_destroy"));

  /* AS_ASSERT under posix: "<expr> (<file>:<line>)" on one line. */
  const char *head = "agentsim: assertion failed: 1 + 1 == 3 (" __FILE__ ":";
  char *err = expect_abort(misuse_assert, head);
  const char *at = strstr(err, head) + strlen(head);
  unsigned long line = 0;
  assert_true(tu_uint(&at, &line));
  assert_true(line > 0);
  assert_true(tu_lit(&at, ")\n")); /* the ")\n" after the line number was there */
  free(err);
}

/* --- the heap's edges (seam.h) ---------------------------------------------- */

static void test_alloc_edges(void **state) {
  (void)state;
  assert_null(as_malloc(0));             /* n == 0: NULL, nothing allocated */
  assert_null(as_calloc(0, 8));          /* no elements */
  assert_null(as_calloc(8, 0));          /* no bytes each */
  /* k * n would wrap: refused, not a short block. */
  volatile size_t k = SIZE_MAX / 2 + 1;
  assert_null(as_calloc(k, 2));
  assert_null(as_calloc(2, k));
  unsigned char *p = as_calloc(3, 5);
  assert_non_null(p);
  for (int i = 0; i < 15; i++) assert_int_equal(p[i], 0);
  as_free(p);
  as_free(NULL); /* a no-op */
  as_mutex_free(NULL);
  as_cond_free(NULL);
}

int main(void) {
  /* Backstop for a platform that deadlocks where the bounded waits above
  ** cannot reach (a mutex that never unlocks): die of SIGALRM, not hang. */
  (void)alarm(60); /* ignore: returns the previous alarm, there is none */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_platform_is_posix),
      cmocka_unit_test(test_spawn_join_ids),
      cmocka_unit_test(test_join_self_is_inval),
      cmocka_unit_test(test_mutex_exclusion),
      cmocka_unit_test(test_trylock),
      cmocka_unit_test(test_cond_signal),
      cmocka_unit_test(test_cond_broadcast),
      cmocka_unit_test(test_cond_timedwait_times_out),
      cmocka_unit_test(test_cond_timedwait_signalled),
      cmocka_unit_test(test_sleep_until),
      cmocka_unit_test(test_clocks),
      cmocka_unit_test(test_random_bytes),
      cmocka_unit_test(test_fault_never_fires),
      cmocka_unit_test(test_log_format_and_cut),
      cmocka_unit_test(test_log_escapes_and_null),
      cmocka_unit_test(test_log_lines_do_not_interleave),
      cmocka_unit_test(test_alloc_edges),
      cmocka_unit_test(test_status_names),
      cmocka_unit_test(test_misuse_aborts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
** platform_posix.c -- the seam on real threads, clocks and randomness.
**
** This is the one file in runtime/ allowed to call pthreads, clock_gettime,
** clock_nanosleep and getrandom directly; everything else reaches them
** through as_platform_posix (see seam.h for the contract of each entry).
**
** Error policy: a resource shortage (no memory, no thread) is a status the
** caller handles. An error that only a programming mistake can cause
** (unlocking a mutex not held, relocking it, waiting without the mutex,
** freeing a locked mutex) goes to px_assert_fail, which aborts: the seam
** contract says misuse is not a status, and carrying on past it would turn a
** clear bug into a corrupted lock.
*/
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "agentsim/seam.h"

#define PX_NS_PER_S 1000000000ull

/* Linux keeps at most 15 bytes of a thread's name (plus the NUL). */
#define PX_OS_NAME_MAX 16

struct as_task {
  pthread_t thread;
  as_task_fn fn;
  void *arg;
  char name[AS_TASK_NAME_MAX];
};

struct as_mutex {
  pthread_mutex_t mu;
};

struct as_cond {
  pthread_cond_t cv;
};

/* --- misuse --------------------------------------------------------------- */

static AS_NORETURN void px_assert_fail(const char *file, int line,
                                       const char *expr) {
  /* One fprintf so the line is not split by another thread's output. */
  (void)fprintf(stderr, "agentsim: assertion failed: %s (%s:%d)\n",
                expr ? expr : "?", file ? file : "?",
                line); /* ignore: no better channel on the way to abort */
  abort();
}

/* A pthread call returned err where only misuse can explain it. */
static AS_NORETURN void px_misuse(const char *file, int line, const char *call,
                                  int err) {
  char expr[192];
  char ebuf[64];
  /* GNU strerror_r (_GNU_SOURCE is global): thread-safe, returns the text. */
  const char *what = strerror_r(err, ebuf, sizeof ebuf);
  (void)snprintf(expr, sizeof expr, "%s == 0 [%s]", call,
                 what); /* ignore: a cut message still names the call */
  px_assert_fail(file, line, expr);
}

/* Run a pthread call whose failure means misuse; report it and abort. */
#define PX_CHECK(call)                                                        \
  do {                                                                        \
    int px_err_ = (call);                                                     \
    if (px_err_ != 0) px_misuse(__FILE__, __LINE__, #call, px_err_);          \
  } while (0)

/* Status for an errno from creating a thread or sync object. glibc reports
** a failed stack mmap from pthread_create as EAGAIN, so EAGAIN is treated as
** a resource shortage like ENOMEM rather than as a system-call failure. */
static AS_WUR int px_status_of_create_err(int err) {
  if (err == ENOMEM || err == EAGAIN) return AS_NOMEM;
  return AS_SYS;
}

/* Copy src into dst[cap], cutting it to cap-1 bytes: a cut name is the
** documented behaviour, not an error. */
static void px_copy_cut(char *dst, size_t cap, const char *src) {
  size_t n = strnlen(src, cap - 1);
  memcpy(dst, src, n);
  dst[n] = '\0';
}

/* --- time helpers --------------------------------------------------------- */

/* Largest time_t, without assuming its width (it is signed on Linux). */
#define PX_TIME_MAX                                                           \
  ((time_t)((((uint64_t)1) << (sizeof(time_t) * 8 - 1)) - 1))

static struct timespec px_timespec_of(uint64_t ns) {
  struct timespec ts;
  uint64_t sec = ns / PX_NS_PER_S;
  /* A deadline beyond time_t means "never"; clamp instead of wrapping into
  ** the past, which would turn a long wait into an immediate timeout. Only
  ** a time_t narrower than 64 bits can be exceeded (UINT64_MAX ns is under
  ** 2^35 s), so with a 64-bit one the test folds away. */
  if (sizeof(time_t) < sizeof(uint64_t) && sec > (uint64_t)PX_TIME_MAX) {
    ts.tv_sec = PX_TIME_MAX;
    ts.tv_nsec = (long)(PX_NS_PER_S - 1);
  } else {
    ts.tv_sec = (time_t)sec;
    ts.tv_nsec = (long)(ns % PX_NS_PER_S);
  }
  return ts;
}

static uint64_t px_now_mono_ns(void) {
  struct timespec ts;
  /* CLOCK_MONOTONIC cannot fail on Linux with a valid pointer; if it does,
  ** every deadline in the process is meaningless, so do not limp on. */
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
    px_misuse(__FILE__, __LINE__, "clock_gettime(CLOCK_MONOTONIC)", errno);
  return (uint64_t)ts.tv_sec * PX_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static int64_t px_now_wall_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
    px_misuse(__FILE__, __LINE__, "clock_gettime(CLOCK_REALTIME)", errno);
  return (int64_t)ts.tv_sec * (int64_t)PX_NS_PER_S + (int64_t)ts.tv_nsec;
}

static void px_sleep_until(uint64_t deadline_ns) {
  struct timespec ts = px_timespec_of(deadline_ns);
  int err;
  /* Absolute time makes a retry after a signal exact: no drift. */
  do {
    err = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
  } while (err == EINTR);
  if (err != 0) px_misuse(__FILE__, __LINE__, "clock_nanosleep", err);
}

/* --- tasks ---------------------------------------------------------------- */

/* Ids start at 1 so that 0 can never be a task's id. A 64-bit counter never
** wraps in practice, so an id is unique for the life of the process, not
** merely among live tasks. */
static _Atomic uint64_t px_next_id = 1;
static _Thread_local uint64_t px_my_id;

static uint64_t px_task_id(void) {
  /* Assigned on first use so threads the platform did not spawn (main,
  ** library threads) get an id too. Relaxed: only uniqueness matters. */
  if (px_my_id == 0)
    px_my_id = atomic_fetch_add_explicit(&px_next_id, 1, memory_order_relaxed);
  return px_my_id;
}

static void *px_task_main(void *p) {
  as_task *t = p;
  char os_name[PX_OS_NAME_MAX];
  px_copy_cut(os_name, sizeof os_name, t->name);
  (void)pthread_setname_np(pthread_self(),
                           os_name); /* ignore: the name only helps debuggers */
  t->fn(t->arg);
  return NULL;
}

static AS_WUR int px_task_spawn(as_task **out, const char *name, as_task_fn fn,
                                void *arg) {
  int rc = AS_OK;
  as_task *t = NULL;
  if (out == NULL || fn == NULL) return AS_INVAL;
  *out = NULL;

  t = calloc(1, sizeof *t);
  if (t == NULL) {
    rc = AS_NOMEM;
    goto out;
  }
  t->fn = fn;
  t->arg = arg;
  px_copy_cut(t->name, sizeof t->name, name ? name : "task");

  int err = pthread_create(&t->thread, NULL, px_task_main, t);
  if (err != 0) {
    rc = px_status_of_create_err(err);
    goto out;
  }
  *out = t;
  t = NULL;
out:
  free(t);
  return rc;
}

static AS_WUR int px_task_join(as_task *t) {
  if (t == NULL) return AS_INVAL;
  /* Checked here rather than left to pthread_join's EDEADLK because the
  ** handle must survive the refusal: the caller still owns it and another
  ** task may join it later. */
  if (pthread_equal(t->thread, pthread_self())) return AS_INVAL;
  int err = pthread_join(t->thread, NULL);
  if (err == EDEADLK) return AS_INVAL; /* two tasks joining each other */
  if (err != 0) return AS_SYS;         /* handle kept: the thread may live */
  free(t);
  return AS_OK;
}

static void px_task_yield(void) {
  (void)sched_yield(); /* ignore: cannot fail on Linux; only a hint anyway */
}

/* --- mutex ---------------------------------------------------------------- */

static AS_WUR int px_mutex_new(as_mutex **out) {
  int rc = AS_OK;
  as_mutex *m = NULL;
  pthread_mutexattr_t attr;
  bool attr_live = false;
  if (out == NULL) return AS_INVAL;
  *out = NULL;

  m = calloc(1, sizeof *m);
  if (m == NULL) {
    rc = AS_NOMEM;
    goto out;
  }
  int err = pthread_mutexattr_init(&attr);
  if (err != 0) {
    rc = px_status_of_create_err(err);
    goto out;
  }
  attr_live = true;
  /* Error checking turns relock and foreign unlock into errors we can report
  ** instead of a silent deadlock or a corrupted lock. */
  err = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
  if (err != 0) {
    rc = AS_SYS;
    goto out;
  }
  err = pthread_mutex_init(&m->mu, &attr);
  if (err != 0) {
    rc = px_status_of_create_err(err);
    goto out;
  }
  *out = m;
  m = NULL;
out:
  if (attr_live)
    (void)pthread_mutexattr_destroy(&attr); /* ignore: cannot fail once init */
  free(m);
  return rc;
}

/* Never NULL: as_mutex_free (seam.h) takes NULL as a no-op before it gets
** here, as the sim's entry expects too. */
static void px_mutex_free(as_mutex *m) {
  /* EBUSY here means the mutex is still locked: freeing it is misuse. */
  PX_CHECK(pthread_mutex_destroy(&m->mu));
  free(m);
}

static void px_mutex_lock(as_mutex *m) {
  /* EDEADLK: the calling task already holds this non-recursive mutex. */
  PX_CHECK(pthread_mutex_lock(&m->mu));
}

static AS_WUR int px_mutex_trylock(as_mutex *m) {
  /* An error-checking mutex answers EBUSY also when the caller itself holds
  ** it; that is reported as AS_BUSY, not as misuse. */
  int err = pthread_mutex_trylock(&m->mu);
  if (err == 0) return AS_OK;
  if (err == EBUSY) return AS_BUSY;
  px_misuse(__FILE__, __LINE__, "pthread_mutex_trylock(&m->mu)", err);
}

static void px_mutex_unlock(as_mutex *m) {
  /* EPERM: the calling task does not hold the mutex. */
  PX_CHECK(pthread_mutex_unlock(&m->mu));
}

/* --- condition variable --------------------------------------------------- */

static AS_WUR int px_cond_new(as_cond **out) {
  int rc = AS_OK;
  as_cond *c = NULL;
  pthread_condattr_t attr;
  bool attr_live = false;
  if (out == NULL) return AS_INVAL;
  *out = NULL;

  c = calloc(1, sizeof *c);
  if (c == NULL) {
    rc = AS_NOMEM;
    goto out;
  }
  int err = pthread_condattr_init(&attr);
  if (err != 0) {
    rc = px_status_of_create_err(err);
    goto out;
  }
  attr_live = true;
  /* Deadlines are monotonic (seam.h); the default realtime clock would make
  ** a wall-clock step shorten or stretch every timed wait. */
  err = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  if (err != 0) {
    rc = AS_SYS;
    goto out;
  }
  err = pthread_cond_init(&c->cv, &attr);
  if (err != 0) {
    rc = px_status_of_create_err(err);
    goto out;
  }
  *out = c;
  c = NULL;
out:
  if (attr_live)
    (void)pthread_condattr_destroy(&attr); /* ignore: cannot fail once init */
  free(c);
  return rc;
}

/* Never NULL, as px_mutex_free. */
static void px_cond_free(as_cond *c) {
  PX_CHECK(pthread_cond_destroy(&c->cv));
  free(c);
}

static void px_cond_wait(as_cond *c, as_mutex *m) {
  /* EPERM from the error-checking mutex: waiting without holding m. */
  PX_CHECK(pthread_cond_wait(&c->cv, &m->mu));
}

static AS_WUR int px_cond_timedwait(as_cond *c, as_mutex *m,
                                    uint64_t deadline_ns) {
  struct timespec ts = px_timespec_of(deadline_ns);
  for (;;) {
    int err = pthread_cond_timedwait(&c->cv, &m->mu, &ts);
    if (err == 0) return AS_OK;
    if (err == EINTR) continue;
    if (err == ETIMEDOUT) {
      /* Promise callers that AS_TIMEDOUT means the deadline really passed
      ** on the clock they read, whatever the kernel's timer slack did. */
      if (px_now_mono_ns() >= deadline_ns) return AS_TIMEDOUT;
      continue;
    }
    px_misuse(__FILE__, __LINE__, "pthread_cond_timedwait(&c->cv, &m->mu)",
              err);
  }
}

static void px_cond_signal(as_cond *c) {
  PX_CHECK(pthread_cond_signal(&c->cv));
}

static void px_cond_broadcast(as_cond *c) {
  PX_CHECK(pthread_cond_broadcast(&c->cv));
}

/* --- randomness, faults --------------------------------------------------- */

static AS_WUR int px_random_bytes(void *buf, size_t n) {
  unsigned char *p = buf;
  size_t done = 0;
  if (buf == NULL && n != 0) return AS_INVAL;
  /* getrandom may return fewer bytes than asked (large requests, or a
  ** signal after some bytes were copied); keep going until n are filled. */
  while (done < n) {
    ssize_t got = getrandom(p + done, n - done, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return AS_SYS;
    }
    done += (size_t)got;
  }
  return AS_OK;
}

static bool px_fault(unsigned point) {
  (void)point; /* fault points are a sim feature; production never fails one */
  return false;
}

/* --- logging -------------------------------------------------------------- */

/* Room for the header ("<timestamp> <level> [task <id>] "). */
#define PX_LOG_HEAD_MAX 96
/* Escaping a newline doubles it, so a line holds twice AS_LOG_MAX plus the
** header, "..." and "\n"; that stays under PIPE_BUF, so even a pipe gets the
** line in one atomic write. */
#define PX_LOG_LINE_MAX (PX_LOG_HEAD_MAX + 2 * AS_LOG_MAX + 8)
_Static_assert(PX_LOG_LINE_MAX <= 4096, "a log line must fit PIPE_BUF");

/* Write "<ISO-8601 UTC>" of the wall clock into ts (at least 32 bytes). */
static void px_format_time(char *ts, size_t cap) {
  int64_t now = px_now_wall_ns();
  int64_t sec = now / (int64_t)PX_NS_PER_S;
  int64_t sub = now % (int64_t)PX_NS_PER_S;
  if (sub < 0) { /* before 1970: floor, so the fraction stays positive */
    sub += (int64_t)PX_NS_PER_S;
    sec -= 1;
  }
  time_t t = (time_t)sec;
  struct tm tm;
  char date[24];
  if (gmtime_r(&t, &tm) == NULL ||
      strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
    px_copy_cut(ts, cap, "(unknown time)");
    return;
  }
  (void)snprintf(ts, cap, "%s.%06ldZ", date,
                 (long)(sub / 1000)); /* ignore: fixed width fits in cap */
}

/* Append msg to line at len so that it stays one line: \n and \r become
** the two characters "\n" and "\r", other control bytes become '?'. The
** message is cut as as_log cuts it (AS_LOG_MAX-1 bytes ending in "..."), so a
** caller reaching the platform directly gets the same bound and as_log's
** output passes through unchanged. line must have room for the header, twice
** AS_LOG_MAX and a newline. Returns the new length. */
static size_t px_append_msg(char *line, size_t len, const char *msg) {
  size_t mlen = strnlen(msg, AS_LOG_MAX);
  bool cut = mlen > AS_LOG_MAX - 1;
  size_t take = cut ? AS_LOG_MAX - 4 : mlen;
  for (size_t i = 0; i < take; i++) {
    unsigned char ch = (unsigned char)msg[i];
    if (ch == '\n' || ch == '\r') {
      line[len++] = '\\';
      line[len++] = ch == '\n' ? 'n' : 'r';
    } else if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
      line[len++] = '?';
    } else {
      line[len++] = (char)ch;
    }
  }
  if (cut) {
    memcpy(line + len, "...", 3);
    len += 3;
  }
  return len;
}

static void px_log(as_log_level level, const char *msg) {
  char line[PX_LOG_LINE_MAX];
  char ts[40];
  px_format_time(ts, sizeof ts);
  int n = snprintf(line, PX_LOG_HEAD_MAX, "%s %s [task %" PRIu64 "] ", ts,
                   as_log_level_name(level), px_task_id());
  if (n < 0) return; /* cannot happen with these formats; nothing to print */
  size_t len = (size_t)n < PX_LOG_HEAD_MAX ? (size_t)n : PX_LOG_HEAD_MAX - 1;
  len = px_append_msg(line, len, msg ? msg : "(null)");
  line[len++] = '\n';
  line[len] = '\0';
  /* One fputs of the whole line: stdio locks stderr for the call and, being
  ** unbuffered, hands the line to one write(), so lines never interleave. */
  (void)fputs(line, stderr); /* ignore: a log that cannot be written is lost */
}

/* --- the platform --------------------------------------------------------- */

static void *px_mem_alloc(size_t n) { return malloc(n); }
static void *px_mem_realloc(void *p, size_t n) { return realloc(p, n); }
static void px_mem_free(void *p) { free(p); }

const as_platform as_platform_posix = {
    .name = "posix",
    .task_spawn = px_task_spawn,
    .task_join = px_task_join,
    .task_yield = px_task_yield,
    .task_id = px_task_id,
    .mutex_new = px_mutex_new,
    .mutex_free = px_mutex_free,
    .mutex_lock = px_mutex_lock,
    .mutex_trylock = px_mutex_trylock,
    .mutex_unlock = px_mutex_unlock,
    .cond_new = px_cond_new,
    .cond_free = px_cond_free,
    .cond_wait = px_cond_wait,
    .cond_timedwait = px_cond_timedwait,
    .cond_signal = px_cond_signal,
    .cond_broadcast = px_cond_broadcast,
    .sleep_until = px_sleep_until,
    .now_mono_ns = px_now_mono_ns,
    .now_wall_ns = px_now_wall_ns,
    .random_bytes = px_random_bytes,
    .fault = px_fault,
    .log = px_log,
    .assert_fail = px_assert_fail,
    .mem_alloc = px_mem_alloc,
    .mem_realloc = px_mem_realloc,
    .mem_free = px_mem_free,
};

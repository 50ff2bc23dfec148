/*
** sync.c -- the seam as the sim implements it: tasks, mutexes, condition
** variables, sleeping, virtual clocks, seeded randomness, fault points and
** logging. Every call that can block or publish first passes a scheduling
** point, so the strategy decides who goes next before it takes effect.
*/
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

/* Wall time in the sim starts here: 2026-01-01T00:00:00Z. */

/* --- wait queues ------------------------------------------------------------ */

void sim__wq_push(waitq *q, struct as_task *t) {
  t->wq = q;
  t->wq_next = NULL;
  t->wq_prev = q->tail;
  if (q->tail)
    q->tail->wq_next = t;
  else
    q->head = t;
  q->tail = t;
}

void sim__wq_remove(struct as_task *t) {
  waitq *q = t->wq;
  if (!q) return;
  if (t->wq_prev)
    t->wq_prev->wq_next = t->wq_next;
  else
    q->head = t->wq_next;
  if (t->wq_next)
    t->wq_next->wq_prev = t->wq_prev;
  else
    q->tail = t->wq_prev;
  t->wq = NULL;
  t->wq_next = t->wq_prev = NULL;
}

static struct sim *active(const char *op) {
  struct sim *s = sim__active;
  if (!s) {
    fprintf(stderr, "agentsim: sim seam call %s with no active run\n", op);
    abort();
  }
  return s;
}

static void misuse(struct sim *s, const char *fmt, ...) AS_PRINTF(2, 3);
static void misuse(struct sim *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sim__failv(s, SIM_ASSERT, fmt, ap);
  va_end(ap);
}

/* --- objects ---------------------------------------------------------------- */

static void obj_link(struct sim *s, sim_obj *o, obj_kind k) {
  o->kind = k;
  o->id = s->next_obj_id++;
  o->next = s->objs.next;
  o->prev = &s->objs;
  s->objs.next->prev = o;
  s->objs.next = o;
}

static void obj_unlink(sim_obj *o) {
  o->prev->next = o->next;
  o->next->prev = o->prev;
}

/* --- tasks ------------------------------------------------------------------ */

static AS_WUR int s_task_spawn(as_task **out, const char *name, as_task_fn fn, void *arg) {
  struct sim *s = active("task_spawn");
  if (s->cur) sim__point(s, "spawn");
  return sim__spawn(s, out, name, fn, arg);
}

static AS_WUR int s_task_join(as_task *t) {
  struct sim *s = active("task_join");
  struct as_task *self = sim__self(s, "join");
  sim__point(s, "join");
  if (t == self) return AS_INVAL;
  if (t->joined || t->joiner) {
    misuse(s, "task %" PRIu32 " '%s' joined twice", t->id, t->name);
    return AS_INVAL;
  }
  if (t->state != TS_DONE && t->state != TS_DEAD) {
    t->joiner = self;
    sim__event(s, SIM_EV_JOIN_WAIT, t->id, 0, t->name);
    sim__block(s, WAIT_JOIN, t, "join");
  }
  t->joined = 1;
  sim__event(s, SIM_EV_JOIN, t->id, 0, t->name);
  return AS_OK;
}

/* A yield says "I cannot progress until another task does" (a polling
** loop): under PCT the yielder drops below every other task, or a spinning
** high-priority task would starve the one it waits for forever. Programs
** that only want a scheduling point call sim_step. */
static void s_task_yield(void) {
  struct sim *s = active("task_yield");
  sim__strategy_on_yield(s, sim__self(s, "yield"));
  sim__point(s, "yield");
  sim__event(s, SIM_EV_YIELD, 0, 0, NULL);
}

static uint64_t s_task_id(void) {
  struct sim *s = active("task_id");
  return s->cur ? (uint64_t)s->cur->id + 1 : UINT64_MAX;
}

/* --- mutex ------------------------------------------------------------------ */

static AS_WUR int s_mutex_new(as_mutex **out) {
  struct sim *s = active("mutex_new");
  struct as_mutex *m = calloc(1, sizeof *m);
  if (!m) return AS_NOMEM;
  obj_link(s, &m->obj, OBJ_MUTEX);
  *out = m;
  return AS_OK;
}

static void s_mutex_free(as_mutex *m) {
  struct sim *s = active("mutex_free");
  if (m->owner || m->contenders) {
    misuse(s, "mutex m%" PRIu32 " freed while %s", m->obj.id,
           m->owner ? "locked" : "tasks wait to lock it");
    return;
  }
  obj_unlink(&m->obj);
  free(m);
}

/* Take m for the running task, blocking while another holds it. When m is
** released every waiter becomes runnable and they race for it again, so the
** strategy, not queue order, decides who gets it. The caller has counted
** the task among m's contenders (from before its scheduling point: a task
** parked there already holds m), and this uncounts it. */
static void acquire(struct sim *s, struct as_task *t, struct as_mutex *m) {
  if (m->owner == t) {
    m->contenders--;
    misuse(s, "mutex m%" PRIu32 " locked again by its holder (not recursive)", m->obj.id);
    return;
  }
  while (m->owner) {
    sim__event(s, SIM_EV_LOCK_WAIT, m->obj.id, m->owner->id, NULL);
    sim__wq_push(&m->q, t);
    sim__block(s, WAIT_MUTEX, m, "lock");
  }
  m->contenders--;
  m->owner = t;
  sim__event(s, SIM_EV_LOCK, m->obj.id, 0, NULL);
}

static void release(struct sim *s, struct as_mutex *m) {
  m->owner = NULL;
  sim__event(s, SIM_EV_UNLOCK, m->obj.id, 0, NULL);
  while (m->q.head) {
    struct as_task *w = m->q.head;
    sim__wq_remove(w);
    sim__wake(s, w, AS_OK);
  }
}

static void s_mutex_lock(as_mutex *m) {
  struct sim *s = active("mutex_lock");
  m->contenders++;
  sim__point(s, "lock");
  acquire(s, s->cur, m);
}

static AS_WUR int s_mutex_trylock(as_mutex *m) {
  struct sim *s = active("mutex_trylock");
  m->contenders++;
  sim__point(s, "trylock");
  m->contenders--;
  if (m->owner) {
    sim__event(s, SIM_EV_TRYLOCK_BUSY, m->obj.id, m->owner->id, NULL);
    return AS_BUSY;
  }
  m->owner = s->cur;
  sim__event(s, SIM_EV_LOCK, m->obj.id, 1, NULL);
  return AS_OK;
}

static void s_mutex_unlock(as_mutex *m) {
  struct sim *s = active("mutex_unlock");
  sim__point(s, "unlock");
  if (m->owner != s->cur) {
    misuse(s, "mutex m%" PRIu32 " unlocked by a task that does not hold it", m->obj.id);
    return;
  }
  release(s, m);
}

/* --- condition variable ----------------------------------------------------- */

static AS_WUR int s_cond_new(as_cond **out) {
  struct sim *s = active("cond_new");
  struct as_cond *c = calloc(1, sizeof *c);
  if (!c) return AS_NOMEM;
  obj_link(s, &c->obj, OBJ_COND);
  *out = c;
  return AS_OK;
}

static void s_cond_free(as_cond *c) {
  struct sim *s = active("cond_free");
  if (c->q.head || c->users) {
    misuse(s, "cond c%" PRIu32 " freed while tasks %s it", c->obj.id,
           c->q.head ? "wait on" : "are about to use");
    return;
  }
  obj_unlink(&c->obj);
  free(c);
}

static AS_WUR int cond_wait_until(struct sim *s, struct as_cond *c, struct as_mutex *m,
                           uint64_t deadline, int timed) {
  struct as_task *t = s->cur;
  c->users++;
  sim__point(s, timed ? "timedwait" : "wait");
  c->users--;
  if (m->owner != t) {
    misuse(s, "cond c%" PRIu32 " waited on without holding mutex m%" PRIu32, c->obj.id,
           m->obj.id);
    return AS_INVAL;
  }
  if (timed && deadline <= s->now) {
    /* Expired already: m is still let go and taken again, as pthreads does,
    ** so another task may slip in between. */
    sim__event(s, SIM_EV_TIMEOUT, c->obj.id, deadline, NULL);
    release(s, m);
    m->contenders++;
    sim__point(s, "timedwait-expired");
    acquire(s, t, m);
    return AS_TIMEDOUT;
  }
  release(s, m);
  m->contenders++; /* it will take m again when woken */
  sim__event(s, SIM_EV_WAIT, c->obj.id, timed ? deadline : UINT64_MAX, NULL);
  sim__wq_push(&c->q, t);
  if (timed) sim__timer_add(s, t, deadline);
  sim__block(s, WAIT_COND, c, timed ? "timedwait" : "wait");
  int rc = t->wake_rc;
  /* An expired wait retakes m through a scheduling point, like a lock: who
  ** runs between the expiry and the retake is the strategy's to decide, and
  ** a holder makes it block. */
  int expired = rc == AS_TIMEDOUT;
  if (expired) sim__point(s, "timedwait-expired");
  acquire(s, t, m);
  return rc;
}

static void s_cond_wait(as_cond *c, as_mutex *m) {
  struct sim *s = active("cond_wait");
  (void)sim__self(s, "cond_wait"); /* ignore: called for its outside-a-task check */
  int rc = cond_wait_until(s, c, m, 0, 0);
  AS_ASSERT(rc == AS_OK); /* only a timer ends a wait otherwise, and this one has none */
}

static AS_WUR int s_cond_timedwait(as_cond *c, as_mutex *m, uint64_t deadline_ns) {
  struct sim *s = active("cond_timedwait");
  (void)sim__self(s, "cond_timedwait"); /* ignore: called for its outside-a-task check */
  return cond_wait_until(s, c, m, deadline_ns, deadline_ns != AS_DEADLINE_NEVER);
}

static void s_cond_signal(as_cond *c) {
  struct sim *s = active("cond_signal");
  c->users++;
  sim__point(s, "signal");
  c->users--;
  /* Not always the oldest waiter: the strategy chooses among them. */
  uint32_t n = 0;
  for (struct as_task *q = c->q.head; q; q = q->wq_next) s->cand[n++] = q;
  struct as_task *w = n ? sim__strategy_choose(s, s->cand, n) : NULL;
  sim__event(s, SIM_EV_SIGNAL, c->obj.id, w ? w->id : UINT32_MAX, NULL);
  if (w) {
    sim__wq_remove(w);
    sim__wake(s, w, AS_OK);
  }
}

static void s_cond_broadcast(as_cond *c) {
  struct sim *s = active("cond_broadcast");
  c->users++;
  sim__point(s, "broadcast");
  c->users--;
  sim__event(s, SIM_EV_BROADCAST, c->obj.id, 0, NULL);
  while (c->q.head) {
    struct as_task *w = c->q.head;
    sim__wq_remove(w);
    sim__wake(s, w, AS_OK);
  }
}

/* --- time ------------------------------------------------------------------- */

static void s_sleep_until(uint64_t deadline_ns) {
  struct sim *s = active("sleep_until");
  struct as_task *t = sim__self(s, "sleep");
  sim__point(s, "sleep");
  sim__event(s, SIM_EV_SLEEP, deadline_ns, 0, NULL);
  if (deadline_ns <= s->now) return;
  sim__timer_add(s, t, deadline_ns);
  sim__block(s, WAIT_SLEEP, NULL, "sleep");
}

static uint64_t s_now_mono_ns(void) { return active("now_mono_ns")->now; }

static int64_t s_now_wall_ns(void) {
  return SIM_WALL_EPOCH_NS + (int64_t)active("now_wall_ns")->now;
}

/* --- randomness, faults, logging -------------------------------------------- */

static AS_WUR int s_random_bytes(void *buf, size_t n) {
  struct sim *s = active("random_bytes");
  sim_rng *r = &s->rng[SIM_STREAM_RUNTIME];
  unsigned char *p = buf;
  size_t left = n;
  while (left) {
    uint64_t v = sim_rng_next(r);
    size_t k = left < 8 ? left : 8;
    memcpy(p, &v, k);
    p += k;
    left -= k;
  }
  sim__event(s, SIM_EV_RANDOM, n, 0, NULL);
  return AS_OK;
}

static int fault_listed(const struct sim *s, unsigned point, uint64_t draw) {
  size_t lo = 0, hi = s->nrfl;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const sim_fault_draw *f = &s->rfl[mid];
    if (f->point < point || (f->point == point && f->draw < draw))
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < s->nrfl && s->rfl[lo].point == point && s->rfl[lo].draw == draw;
}

/* The n-th consultation of a point draws from the point's own substream (so
** its outcome does not depend on the interleaving), or, with a list (a
** replay, an override), fires exactly when listed. Fired faults are
** recorded for the schedule. */
static bool s_fault(unsigned point) {
  struct sim *s = active("fault");
  if (point >= AS__FP_COUNT || s->fault_ppm[point] == 0) return false;
  uint64_t n = s->fault_draws[point]++;
  int fire = s->fl_listed ? fault_listed(s, point, n)
                          : sim_rng_chance_ppm(&s->fault_rng[point], s->fault_ppm[point]);
  if (!fire) return false;
  if (s->nfl >= SIM_SCHEDULE_MAX_EVENTS ||
      sim_grow(&s->fl, &s->capfl, s->nfl + 1, sizeof *s->fl, SIM_SCHEDULE_MAX_EVENTS) != AS_OK) {
    s->oom = 1; /* the run stops at its next step; the fault is not injected */
    return false;
  }
  s->fl[s->nfl++] = (sim_fault_draw){.point = point, .draw = n};
  sim__event(s, SIM_EV_FAULT, point, n, NULL);
  return true;
}

/* A log line is an event the printer shows and the hash leaves out. */
static void s_log(as_log_level level, const char *msg) {
  struct sim *s = sim__active;
  if (!s) return;
  char line[AS_LOG_MAX + 16];
  snprintf(line, sizeof line, "%s: %s", as_log_level_name(level), msg);
  sim__event(s, SIM_EV_LOG, (uint64_t)level, 0, line);
}

static void s_assert_fail(const char *file, int line, const char *expr) {
  struct sim *s = active("assert_fail");
  misuse(s, "assertion failed: %s (%s:%d)", expr, file, line);
}

/* --- memory ------------------------------------------------------------------- */

static void blk_link(struct sim *s, sim_blk *b) {
  if (!s->blocks) {
    b->prev = b->next = b;
    s->blocks = b;
    return;
  }
  b->next = s->blocks;
  b->prev = s->blocks->prev;
  b->prev->next = b;
  s->blocks->prev = b;
}

static void blk_unlink(struct sim *s, sim_blk *b) {
  if (b->next == b) {
    s->blocks = NULL;
    return;
  }
  b->prev->next = b->next;
  b->next->prev = b->prev;
  if (s->blocks == b) s->blocks = b->next;
}

static void *s_mem_alloc(size_t n) {
  struct sim *s = active("mem_alloc");
  if (n > SIZE_MAX - sizeof(sim_blk)) return NULL;
  sim_blk *b = malloc(sizeof *b + n);
  if (!b) return NULL;
  blk_link(s, b);
  return b + 1;
}

static void *s_mem_realloc(void *p, size_t n) {
  struct sim *s = active("mem_realloc");
  if (!p) return s_mem_alloc(n);
  if (n > SIZE_MAX - sizeof(sim_blk)) return NULL;
  sim_blk *b = (sim_blk *)p - 1;
  blk_unlink(s, b);
  sim_blk *nb = realloc(b, sizeof *nb + n);
  if (!nb) {
    blk_link(s, b); /* the old block stays the caller's */
    return NULL;
  }
  blk_link(s, nb);
  return nb + 1;
}

static void s_mem_free(void *p) {
  struct sim *s = active("mem_free");
  sim_blk *b = (sim_blk *)p - 1;
  blk_unlink(s, b);
  free(b);
}

void sim__free_blocks(struct sim *s) {
  while (s->blocks) {
    sim_blk *b = s->blocks;
    blk_unlink(s, b);
    free(b);
  }
}

const as_platform sim_platform = {
    .name = "sim",
    .task_spawn = s_task_spawn,
    .task_join = s_task_join,
    .task_yield = s_task_yield,
    .task_id = s_task_id,
    .mutex_new = s_mutex_new,
    .mutex_free = s_mutex_free,
    .mutex_lock = s_mutex_lock,
    .mutex_trylock = s_mutex_trylock,
    .mutex_unlock = s_mutex_unlock,
    .cond_new = s_cond_new,
    .cond_free = s_cond_free,
    .cond_wait = s_cond_wait,
    .cond_timedwait = s_cond_timedwait,
    .cond_signal = s_cond_signal,
    .cond_broadcast = s_cond_broadcast,
    .sleep_until = s_sleep_until,
    .now_mono_ns = s_now_mono_ns,
    .now_wall_ns = s_now_wall_ns,
    .random_bytes = s_random_bytes,
    .fault = s_fault,
    .log = s_log,
    .assert_fail = s_assert_fail,
    .mem_alloc = s_mem_alloc,
    .mem_realloc = s_mem_realloc,
    .mem_free = s_mem_free,
};

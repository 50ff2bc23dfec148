/*
** pos.c -- POS, partial-order sampling (Yuan, Yang, Gu; "Partial Order
** Aware Concurrency Sampling", CAV 2018), and the object identities it
** needs.
**
** A task's pending event is what it does when it next runs: the seam call
** it is parked in and the objects that call touches. POS gives every
** pending event a random priority; at each step the runnable event with the
** highest priority runs; then every other pending event that conflicts with
** the one that ran gets a fresh random priority, and so does every newly
** enabled event (the runner's next one, a task just woken or spawned). An
** event that does not conflict keeps its priority, so how independent
** events happen to interleave does not change what is sampled: POS samples
** partial orders far more evenly than a random walk, which is exponentially
** biased towards interleavings that keep tasks in lockstep.
**
** The conflict relation: two pending events conflict when they share an
** object (sim.h, SIM_OBJ_*) and not both only read it.
**   mutex   lock, trylock, unlock                               write
**   cond    signal, broadcast; wait and timed wait (the wait
**           also releases and retakes its mutex: both objects)  write
**   task    join of that task                                    write
**   file    disk read, size, reserved-lock check                 read
**           disk write, truncate, sync, lock, unlock             write
**   name    disk access                                          read
**           disk open (it may create), delete                    write
**   shm     the shared-memory locks (one object: ranges overlap) write
**   any     a yield: it polls state another task will change, so it
**           conflicts with every event
** A plain step (sim_step, sim_advance), a spawn, a sleep and a shm barrier
** touch nothing shared and conflict with nothing. Memory the tasks share
** outside the seam is invisible here: programs guard it with seam locks,
** and the lock operations carry the conflict.
**
** The seam functions (sync.c) take their objects as arguments; under POS the
** sim installs sim__pos_platform(), which notes them on the running task and
** then calls sim_platform's function, so the scheduler sees, at every
** scheduling point, what each parked task is about to touch. The disk's
** scheduling points come through sim_step_io.
*/
#include <string.h>
#include <xxhash.h>

#include "sim_internal.h"

/* Random and distinct: the low 12 bits are the task id. */
static uint64_t draw(struct sim *s, const struct as_task *t) {
  return (sim_rng_next(&s->rng[SIM_STREAM_SCHED]) & ~0xFFFull) | (t->id & 0xFFFu);
}

void sim__pending(struct sim *s, uint64_t a, uint64_t b, int read) {
  if (!s->cur) return;
  s->cur->next_obj[0] = a;
  s->cur->next_obj[1] = b;
  s->cur->next_read = read;
}

void sim__pos_on_spawn(struct sim *s, struct as_task *t) {
  t->prio = draw(s, t);
  t->pos_gen = s->pos_gen; /* enabled now, with its priority */
}

static int is_any(uint64_t o) { return o >> 56 == SIM_OBJ_ANY; }

/* Whether t's pending event conflicts with the event that ran last. */
static int conflicts(const struct sim *s, const struct as_task *t) {
  if (t->next_read && s->pos_read) return 0;
  for (int i = 0; i < 2; i++) {
    uint64_t a = t->next_obj[i];
    if (!a) continue;
    for (int j = 0; j < 2; j++) {
      uint64_t b = s->pos_obj[j];
      if (b && (a == b || is_any(a) || is_any(b))) return 1;
    }
  }
  return 0;
}

struct as_task *sim__pos_pick(struct sim *s) {
  uint64_t gen = ++s->pos_gen;
  struct as_task *best = NULL;
  for (uint32_t i = 0; i < s->nrunnable; i++) {
    struct as_task *t = s->runnable[i];
    /* Newly enabled (not runnable at the last pick), the runner's next
    ** event, or one the last event raced with: a fresh priority. */
    if (t->pos_gen + 1 < gen || t == s->pos_ran || (s->pos_ran && conflicts(s, t)))
      t->prio = draw(s, t);
    t->pos_gen = gen;
    if (!best || t->prio > best->prio) best = t;
  }
  s->pos_ran = best;
  s->pos_obj[0] = best->next_obj[0];
  s->pos_obj[1] = best->next_obj[1];
  s->pos_read = best->next_read;
  return best;
}

/* --- object identities from the disk ------------------------------------- */

/* The object and access POS gives a disk event of `kind`. */
static uint64_t io_object(uint32_t kind, uint64_t object, const char *label, int *read) {
  *read = 0;
  switch (kind) {
  case SIM_EV_DISK_READ:
  case SIM_EV_DISK_SIZE:
  case SIM_EV_DISK_RESERVED:
    *read = 1;
    return SIM_OBJECT(SIM_OBJ_FILE, object);
  case SIM_EV_DISK_WRITE:
  case SIM_EV_DISK_TRUNCATE:
  case SIM_EV_DISK_SYNC:
  case SIM_EV_DISK_LOCK:
  case SIM_EV_DISK_UNLOCK:
    return SIM_OBJECT(SIM_OBJ_FILE, object);
  case SIM_EV_DISK_ACCESS:
    *read = 1;
    /* fall through */
  case SIM_EV_DISK_OPEN:
  case SIM_EV_DISK_DELETE:
    return SIM_OBJECT(SIM_OBJ_NAME, label ? XXH64(label, strlen(label), 0) : 0);
  case SIM_EV_DISK_SHM_LOCK:
    return SIM_OBJECT(SIM_OBJ_SHM, 0);
  default: /* a barrier, and kinds this relation does not know: independent */
    return 0;
  }
}

void sim_step_io(uint32_t kind, uint64_t object, const char *label) {
  struct sim *s = sim__active;
  if (!s || s->kind != SIM_STRATEGY_POS) {
    sim_step(); /* only POS reads objects: spare the other strategies the hash */
    return;
  }
  int read;
  uint64_t obj = io_object(kind, object, label, &read);
  sim_step_on(obj, read);
}

void sim_pending_io(uint32_t kind, uint64_t object, const char *label) {
  struct sim *s = sim__active;
  if (!s || !s->cur || s->kind != SIM_STRATEGY_POS) return;
  int read;
  uint64_t obj = io_object(kind, object, label, &read);
  sim__pending(s, obj, 0, read);
}

/* --- the seam, noting objects --------------------------------------------- */

static void note(uint64_t a, uint64_t b) {
  struct sim *s = sim__active;
  if (s) sim__pending(s, a, b, 0);
}

static uint64_t mutex_obj(const as_mutex *m) { return SIM_OBJECT(SIM_OBJ_MUTEX, m->obj.id); }
static uint64_t cond_obj(const as_cond *c) { return SIM_OBJECT(SIM_OBJ_COND, c->obj.id); }

static AS_WUR int p_task_spawn(as_task **out, const char *name, as_task_fn fn, void *arg) {
  note(0, 0);
  return sim_platform.task_spawn(out, name, fn, arg);
}

static AS_WUR int p_task_join(as_task *t) {
  note(SIM_OBJECT(SIM_OBJ_TASK, t->id), 0);
  return sim_platform.task_join(t);
}

static void p_mutex_lock(as_mutex *m) {
  note(mutex_obj(m), 0);
  sim_platform.mutex_lock(m);
}

static AS_WUR int p_mutex_trylock(as_mutex *m) {
  note(mutex_obj(m), 0);
  return sim_platform.mutex_trylock(m);
}

static void p_mutex_unlock(as_mutex *m) {
  note(mutex_obj(m), 0);
  sim_platform.mutex_unlock(m);
}

static void p_cond_wait(as_cond *c, as_mutex *m) {
  note(cond_obj(c), mutex_obj(m));
  sim_platform.cond_wait(c, m);
}

static AS_WUR int p_cond_timedwait(as_cond *c, as_mutex *m, uint64_t deadline_ns) {
  note(cond_obj(c), mutex_obj(m));
  return sim_platform.cond_timedwait(c, m, deadline_ns);
}

static void p_cond_signal(as_cond *c) {
  note(cond_obj(c), 0);
  sim_platform.cond_signal(c);
}

static void p_cond_broadcast(as_cond *c) {
  note(cond_obj(c), 0);
  sim_platform.cond_broadcast(c);
}

static void p_sleep_until(uint64_t deadline_ns) {
  note(0, 0);
  sim_platform.sleep_until(deadline_ns);
}

const as_platform *sim__pos_platform(void) {
  /* sim_platform with the calls that reach a scheduling point wrapped (a
  ** yield is noted by sim__strategy_on_yield); built on first use, since a
  ** constant initialiser cannot read another object's members. */
  static as_platform plat;
  static int ready;
  if (!ready) {
    plat = sim_platform;
    plat.task_spawn = p_task_spawn;
    plat.task_join = p_task_join;
    plat.mutex_lock = p_mutex_lock;
    plat.mutex_trylock = p_mutex_trylock;
    plat.mutex_unlock = p_mutex_unlock;
    plat.cond_wait = p_cond_wait;
    plat.cond_timedwait = p_cond_timedwait;
    plat.cond_signal = p_cond_signal;
    plat.cond_broadcast = p_cond_broadcast;
    plat.sleep_until = p_sleep_until;
    ready = 1;
  }
  return &plat;
}

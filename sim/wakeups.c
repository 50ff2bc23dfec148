/*
** wakeups.c -- spurious wakeups, and the outcomes a run takes from a list
** instead of drawing them: the wakeups and fault outcomes a replay's
** schedule records, or those sim_config gives as an override.
**
** Rate: at every step where some task waits on a condition variable and
** some task can run, one waiter (the k-th in task order, k uniform) wakes
** with no signal with probability spurious_ppm / 1e6, drawn from the
** scheduler stream's SIM_SUBSTREAM_SPURIOUS substream. A wakeup happens
** before the step's pick, so it is recorded as (step, task) and replayed at
** that step, whether or not the step had a pick to record before.
*/
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

static int wakeup_cmp(const void *a, const void *b) {
  const sim_wakeup *x = a, *y = b;
  if (x->step != y->step) return x->step < y->step ? -1 : 1;
  return x->task < y->task ? -1 : x->task > y->task;
}

static int fault_cmp(const void *a, const void *b) {
  const sim_fault_draw *x = a, *y = b;
  if (x->point != y->point) return x->point < y->point ? -1 : 1;
  return x->draw < y->draw ? -1 : x->draw > y->draw;
}

int sim__take_lists(struct sim *s, const sim_config *cfg, sim_schedule *own) {
  if (cfg->wakeups_given) {
    s->wk_listed = 1;
    if (cfg->nwakeups > SIM_SCHEDULE_MAX_EVENTS) return AS_TOOBIG;
    if (cfg->nwakeups) {
      s->rwk = malloc(cfg->nwakeups * sizeof *s->rwk);
      if (!s->rwk) return AS_NOMEM;
      memcpy(s->rwk, cfg->wakeups, cfg->nwakeups * sizeof *s->rwk);
    }
    s->nrwk = cfg->nwakeups;
  } else if (own) {
    s->wk_listed = 1;
    s->rwk = own->wakeups;
    s->nrwk = own->nwakeups;
    own->wakeups = NULL;
  }
  if (cfg->faults_given) {
    s->fl_listed = 1;
    if (cfg->nfaults > SIM_SCHEDULE_MAX_EVENTS) return AS_TOOBIG;
    if (cfg->nfaults) {
      s->rfl = malloc(cfg->nfaults * sizeof *s->rfl);
      if (!s->rfl) return AS_NOMEM;
      memcpy(s->rfl, cfg->faults, cfg->nfaults * sizeof *s->rfl);
    }
    s->nrfl = cfg->nfaults;
  } else if (own) {
    s->fl_listed = 1;
    s->rfl = own->faults;
    s->nrfl = own->nfaults;
    own->faults = NULL;
  }
  if (s->nrwk) qsort(s->rwk, s->nrwk, sizeof *s->rwk, wakeup_cmp);
  if (s->nrfl) qsort(s->rfl, s->nrfl, sizeof *s->rfl, fault_cmp);
  for (size_t i = 0; i < s->nrfl; i++) {
    if (s->rfl[i].point >= AS__FP_COUNT) {
      snprintf(s->res->message, sizeof s->res->message,
               "fault %" PRIu32 ".%" PRIu64 ": there is no fault point %" PRIu32 " (points 0..%d)",
               s->rfl[i].point, s->rfl[i].draw, s->rfl[i].point, AS__FP_COUNT - 1);
      return AS_INVAL;
    }
  }
  return AS_OK;
}

/* --- spurious wakeups ------------------------------------------------------ */

/* Wake t, blocked on a condition variable, with no signal. */
static void spurious_wake(struct sim *s, struct as_task *t) {
  struct as_cond *c = t->wait_obj;
  struct as_task *saved = s->cur;
  s->cur = t;
  sim__event(s, SIM_EV_SPURIOUS, c->obj.id, 0, NULL);
  s->cur = saved;
  sim__wq_remove(t);
  sim__wake(s, t, AS_OK);
}

/* A failure ends the run, as for decisions. */
static void record_wakeup(struct sim *s, uint64_t step, uint32_t id) {
  if (s->nwk >= SIM_SCHEDULE_MAX_EVENTS) {
    sim__hang(s, "spurious-wakeup budget exceeded (a schedule cannot list more)");
    return;
  }
  if (sim_grow(&s->wk, &s->capwk, s->nwk + 1, sizeof *s->wk, SIM_SCHEDULE_MAX_EVENTS) != AS_OK) {
    s->oom = 1;
    return;
  }
  s->wk[s->nwk++] = (sim_wakeup){.step = step, .task = id};
}

/* The listed wakeups due before this step; a divergence when the task named
** is not waiting on a condition variable. */
static void listed_wakeups(struct sim *s, uint64_t step) {
  while (s->rwkpos < s->nrwk && s->rwk[s->rwkpos].step <= step) {
    const sim_wakeup *w = &s->rwk[s->rwkpos];
    struct as_task *t = w->task < s->ntasks ? s->tasks[w->task] : NULL;
    if (w->step < step || !t || t->state != TS_BLOCKED || t->wait != WAIT_COND) {
      if (s->lenient) { /* a shrinker's list: what cannot happen is dropped */
        s->rwkpos++;
        continue;
      }
      snprintf(s->res->message, sizeof s->res->message,
               "schedule diverged at step %" PRIu64 ": its spurious wakeup %zu names task %" PRIu32
               ", which is not waiting on a condition variable",
               step, s->rwkpos + 1, w->task);
      s->diverged = 1;
      return;
    }
    s->rwkpos++;
    spurious_wake(s, t);
    record_wakeup(s, step, t->id);
    if (s->failed || s->oom) return;
  }
}

/* Before a step's pick: perhaps wake one condition waiter with no signal
** (listed, or drawn from the spurious substream at the configured rate). */
void sim__spurious_step(struct sim *s) {
  uint64_t step = s->steps + 1;
  if (s->wk_listed) {
    listed_wakeups(s, step);
    return;
  }
  if (!s->spurious_ppm || !s->ncondwait) return;
  if (!sim_rng_chance_ppm(&s->spurious_rng, s->spurious_ppm)) return;
  uint64_t k = sim_rng_below(&s->spurious_rng, s->ncondwait);
  for (uint32_t i = 0; i < s->ntasks; i++) {
    struct as_task *t = s->tasks[i];
    if (t->state != TS_BLOCKED || t->wait != WAIT_COND || k-- > 0) continue;
    spurious_wake(s, t);
    record_wakeup(s, step, t->id);
    return;
  }
}


/*
** waitfor.c -- the wait-for graph: who waits for whom, the cycles that
** make a deadlock (found when they form), and the failure descriptions: the
** graph of a deadlock and the whereabouts of every task for a hang.
*/
#include <inttypes.h>
#include <string.h>

#include "sim_internal.h"

struct as_task *sim__waits_on(const struct as_task *t) {
  if (t->state != TS_BLOCKED) return NULL;
  if (t->wait == WAIT_MUTEX) return ((const struct as_mutex *)t->wait_obj)->owner;
  if (t->wait == WAIT_JOIN) return t->wait_obj;
  return NULL;
}

/* A chain of lock and join waits that comes back to t can never resolve
** (neither has a timeout), whatever else still runs: the caller reports it
** now rather than when the rest of the program winds down or a budget runs
** out. */
int sim__closes_cycle(struct sim *s, const struct as_task *t) {
  const struct as_task *u = sim__waits_on(t);
  for (uint32_t hops = 0; u && hops <= s->ntasks; hops++) {
    if (u == t) return 1;
    u = sim__waits_on(u);
  }
  return 0;
}

static const char *state_name(const struct as_task *t) {
  switch (t->state) {
  case TS_RUNNABLE: return "runnable";
  case TS_BLOCKED: return "blocked";
  case TS_DONE: return "done";
  case TS_DEAD: return "dead";
  }
  return "?";
}

/* One line: what task t waits for, and who holds it. */
static size_t describe_wait(struct sim *s, const struct as_task *t, char *buf, size_t cap,
                            size_t len) {
  (void)s;
  len = as_appendf(buf, cap, len, "  task %" PRIu32 " '%s' ", t->id, t->name);
  switch (t->wait) {
  case WAIT_MUTEX: {
    const struct as_mutex *m = t->wait_obj;
    if (m->owner)
      return as_appendf(buf, cap, len,
                          "waits for mutex m%" PRIu32 ", held by task %" PRIu32 " '%s'\n",
                          m->obj.id, m->owner->id, m->owner->name);
    return as_appendf(buf, cap, len, "waits for mutex m%" PRIu32 " (free)\n", m->obj.id);
  }
  case WAIT_COND: {
    const struct as_cond *c = t->wait_obj;
    return as_appendf(buf, cap, len,
                        "waits on condition c%" PRIu32 "%s\n",
                        c->obj.id, t->heap_idx != NO_TIMER ? " with a timeout" : "");
  }
  case WAIT_JOIN: {
    const struct as_task *o = t->wait_obj;
    return as_appendf(buf, cap, len, "waits to join task %" PRIu32 " '%s' (%s)\n", o->id,
                        o->name, state_name(o));
  }
  case WAIT_SLEEP:
    return as_appendf(buf, cap, len, "sleeps until %" PRIu64 " ns\n", t->deadline);
  case WAIT_NONE:
    break;
  }
  return as_appendf(buf, cap, len, "is %s (last seam call: %s)\n", state_name(t), t->doing);
}

void sim__report_deadlock(struct sim *s, char *buf, size_t cap) {
  size_t len = as_appendf(buf, cap, 0,
                            "no task can run and no timer is pending; wait-for graph:\n");
  for (uint32_t i = 0; i < s->ntasks; i++) {
    const struct as_task *t = s->tasks[i];
    if (t->state == TS_BLOCKED) len = describe_wait(s, t, buf, cap, len);
  }
  /* Find a cycle: follow waits_on from each task for at most ntasks hops. */
  for (uint32_t i = 0; i < s->ntasks; i++) {
    const struct as_task *slow = s->tasks[i], *fast = slow;
    uint32_t hops = 0;
    while (fast && hops <= s->ntasks) {
      fast = sim__waits_on(fast);
      hops++;
      if (fast == slow) break;
    }
    if (fast != slow || hops > s->ntasks) continue;
    len = as_appendf(buf, cap, len, "  cycle: task %" PRIu32, slow->id);
    const struct as_task *t = slow;
    do {
      if (t->wait == WAIT_MUTEX)
        len = as_appendf(buf, cap, len, " -> m%" PRIu32,
                           ((const struct as_mutex *)t->wait_obj)->obj.id);
      else
        len = as_appendf(buf, cap, len, " -> join");
      t = sim__waits_on(t);
      len = as_appendf(buf, cap, len, " -> task %" PRIu32, t->id);
    } while (t != slow);
    len = as_appendf(buf, cap, len, "\n");
    break;
  }
}

void sim__report_tasks(struct sim *s, char *buf, size_t cap) {
  size_t len = as_appendf(buf, cap, 0, "tasks:\n");
  for (uint32_t i = 0; i < s->ntasks; i++) {
    const struct as_task *t = s->tasks[i];
    if (t->state == TS_DONE) continue;
    if (t->state == TS_BLOCKED)
      len = describe_wait(s, t, buf, cap, len);
    else
      len = as_appendf(buf, cap, len, "  task %" PRIu32 " '%s' is %s (last seam call: %s)\n",
                         t->id, t->name, state_name(t), t->doing);
  }
}

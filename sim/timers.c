/*
** timers.c -- the virtual clock's timers: a binary min-heap of tasks keyed
** by (deadline, the order the timers were set), so ties break by a sequence
** number (STYLE.md rule 11) and firing order depends on history only.
*/
#include "sim_internal.h"

static inline int timer_less(const struct as_task *a, const struct as_task *b) {
  return a->deadline != b->deadline ? a->deadline < b->deadline
                                    : a->timer_seq < b->timer_seq;
}

static void heap_set(struct sim *s, size_t i, struct as_task *t) {
  s->heap[i] = t;
  t->heap_idx = i;
}

static void heap_up(struct sim *s, size_t i) {
  struct as_task *t = s->heap[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!timer_less(t, s->heap[p])) break;
    heap_set(s, i, s->heap[p]);
    i = p;
  }
  heap_set(s, i, t);
}

static void heap_down(struct sim *s, size_t i) {
  struct as_task *t = s->heap[i];
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    struct as_task *best = t;
    if (l < s->nheap && timer_less(s->heap[l], best)) m = l, best = s->heap[l];
    if (r < s->nheap && timer_less(s->heap[r], best)) m = r, best = s->heap[r];
    if (m == i) break;
    heap_set(s, i, s->heap[m]);
    i = m;
  }
  heap_set(s, i, t);
}

/* The heap has room for every task (sim__spawn grows it with the tasks). */
void sim__timer_add(struct sim *s, struct as_task *t, uint64_t deadline) {
  t->deadline = deadline;
  t->timer_seq = s->timer_seq++;
  s->heap[s->nheap] = t;
  t->heap_idx = s->nheap++;
  heap_up(s, t->heap_idx);
}

void sim__timer_cancel(struct sim *s, struct as_task *t) {
  size_t i = t->heap_idx;
  if (i == NO_TIMER) return;
  t->heap_idx = NO_TIMER;
  struct as_task *last = s->heap[--s->nheap];
  if (i == s->nheap) return;
  heap_set(s, i, last);
  heap_down(s, i);
  heap_up(s, last->heap_idx);
}

void sim__fire_due_timers(struct sim *s) {
  while (s->nheap > 0 && s->heap[0]->deadline <= s->now) {
    struct as_task *t = s->heap[0];
    sim__timer_cancel(s, t);
    struct as_task *saved = s->cur;
    s->cur = t;
    sim__event(s, SIM_EV_TIMEOUT, t->wait == WAIT_SLEEP ? 0 : 1, t->deadline, NULL);
    s->cur = saved;
    if (t->wq) sim__wq_remove(t);
    sim__wake(s, t, t->wait == WAIT_SLEEP ? AS_OK : AS_TIMEDOUT);
  }
}

/* The last deadline of an I/O ending within the slack of the first one
** (the heap holds at most one timer per task: a scan is cheap). */
static uint64_t busy_window_end(const struct sim *s, uint64_t first) {
  uint64_t limit = first + SIM_BUSY_SLACK_NS, end = first;
  for (size_t i = 0; i < s->nheap; i++) {
    const struct as_task *t = s->heap[i];
    if (t->busy && t->deadline <= limit && t->deadline > end) end = t->deadline;
  }
  return end;
}

void sim__advance_to_next_timer(struct sim *s) {
  uint64_t when = s->heap[0]->deadline;
  if (s->heap[0]->busy && when <= UINT64_MAX - SIM_BUSY_SLACK_NS) when = busy_window_end(s, when);
  if (when > s->now) s->now = when;
  sim__event(s, SIM_EV_TIME, s->now, 0, NULL);
  sim__fire_due_timers(s);
}

/*
** shrink_table.c -- a run's interleaving as a table: a column per task, a
** row per event, and at every switch from one task to another the reason
** it happened, read from the events themselves: the task that ran blocked
** (a lock held by another, a condition, a join, a sleep, an I/O in flight),
** yielded or finished -- or it could have gone on and the schedule chose
** another task (a preemption, a decision the schedule states).
**
** Without `all` the rows are the notable events (the scenario's operations
** and answers, session locks, commits, model and tool calls, contention,
** waits, signals, faults, crashes, spawns and finishes) and every switch;
** the scheduler's own mutexes, plain I/O and timers are left out.
*/
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "evlog.h"
#include "shrink_table.h"
#include "stream.h"

#define COL_W 34u
#define MAX_COLS 12u

static int notable(const sim_evrec *e) {
  if (e->kind >= SIM_EV_PROGRAM) return strncmp(e->text, "db-row", 6) != 0;
  switch (e->kind) {
  case SIM_EV_SPAWN:
  case SIM_EV_FINISH:
  case SIM_EV_LOCK_WAIT:
  case SIM_EV_TRYLOCK_BUSY:
  case SIM_EV_WAIT:
  case SIM_EV_SIGNAL:
  case SIM_EV_BROADCAST:
  case SIM_EV_JOIN_WAIT:
  case SIM_EV_FAULT:
  case SIM_EV_NOTE:
  case SIM_EV_DISK_CRASH:
  case SIM_EV_MALLOC_FAIL:
  case SIM_EV_SPURIOUS:
    return 1;
  case SIM_EV_SLEEP:
    return e->extra == 0; /* a sleep the program asked for, not an I/O's */
  default:
    return 0;
  }
}

/* Why the task whose last event was `last` stopped running (it was not
** preempted: a pick says so). */
static void why_switch(const sim_evlog *l, const sim_evrec *last, char *buf, size_t cap) {
  const char *from = sim_evlog_task_name(l, last->task);
  switch (last->kind) {
  case SIM_EV_FINISH:
    snprintf(buf, cap, "%s finished", from);
    return;
  case SIM_EV_LOCK_WAIT:
    snprintf(buf, cap, "%s waits for m%" PRIu64 ", held by task %" PRIu64, from, last->object,
             last->extra);
    return;
  case SIM_EV_WAIT:
    snprintf(buf, cap, "%s waits on a condition", from);
    return;
  case SIM_EV_JOIN_WAIT:
    snprintf(buf, cap, "%s waits to join a task", from);
    return;
  case SIM_EV_SLEEP:
    snprintf(buf, cap, "%s %s until %.3f ms", from, last->extra ? "has an I/O in flight" : "sleeps",
             (double)last->object / 1e6);
    return;
  default: /* a yield, or a step with no event of its own */
    snprintf(buf, cap, "%s stopped after: %s", from, last->text);
    return;
  }
}

/* The start of a switch row: the step, then the arrow in the column of
** the task that runs next. */
static void switch_row(FILE *f, const sim_evlog *l, uint64_t step, uint32_t to, uint32_t cols) {
  fprintf(f, "%8" PRIu64 " %12s  %*s-> %s: ", step, "",
          (int)((to < cols ? to : cols - 1) * COL_W), "", sim_evlog_task_name(l, to));
}

/* A column's cell; the last one of a row is not padded (no trailing
** blanks), and only a cell with another after it is cut to the width. */
static void cell(FILE *f, const char *text, unsigned w, int last) {
  size_t n = strlen(text);
  if (last)
    fputs(text, f);
  else if (n > w - 1)
    fprintf(f, "%.*s~ ", (int)(w - 2), text);
  else
    fprintf(f, "%-*s", (int)w, text);
}

/* The event's own words, without the "[task] kind" the column says. */
static const char *words(const sim_evrec *e) { return e->text; /* the log always gives one */ }

void shrink_print_table(FILE *f, const sim_evlog *l, int all) {
  size_t n = sim_evlog_count(l);
  uint32_t ntasks = sim_evlog_ntasks(l);
  uint32_t cols = ntasks < MAX_COLS ? ntasks : MAX_COLS;
  size_t shown = 0, switches = 0, preempts = 0;
  /* Header. */
  fprintf(f, "%8s %12s  ", "step", "time (ms)");
  for (uint32_t t = 0; t < cols; t++) {
    char h[64];
    snprintf(h, sizeof h, "%u %s", t, sim_evlog_task_name(l, t));
    cell(f, h, COL_W, t + 1 == cols);
  }
  fputc('\n', f);
  fprintf(f, "%8s %12s  ", "--------", "------------");
  for (uint32_t t = 0; t < cols; t++) {
    for (unsigned i = 0; i + 2 < COL_W; i++) fputc('-', f);
    if (t + 1 < cols) fputs("  ", f);
  }
  fputc('\n', f);
  const sim_evrec *last = NULL; /* the running task's last event */
  uint32_t running = SIM_TASK_NONE;
  for (size_t i = 0; i < n; i++) {
    const sim_evrec *e = sim_evlog_at(l, i);
    if (e->kind == SIM_EVLOG_PICK && (e->extra & SIM_PICK_WAITER)) {
      if (!(e->extra & SIM_PICK_CHOICE)) continue;
      fprintf(f, "%8" PRIu64 " %12s  %*s   (the schedule chose which waiter wakes: %s, not the "
                 "oldest, task %" PRIu64 "; decision %" PRIu64 ")\n",
              e->step, "", (int)((e->task < cols ? e->task : cols - 1) * COL_W), "",
              sim_evlog_task_name(l, e->task), e->object, e->decisions + 1);
      continue;
    }
    if (e->kind == SIM_EVLOG_PICK) {
      if (!(e->extra & SIM_PICK_PREEMPT)) continue;
      switches++;
      preempts++;
      switch_row(f, l, e->step, e->task, cols);
      fprintf(f, "PREEMPTED: %s could go on; the schedule chose %s (decision %" PRIu64 ")\n",
              sim_evlog_task_name(l, (uint32_t)e->object), sim_evlog_task_name(l, e->task),
              e->decisions + 1);
      running = e->task;
      last = NULL;
      continue;
    }
    if (e->task == SIM_TASK_NONE) continue; /* the scheduler's */
    /* The scheduler's events about a task (a timer that fires, a spurious
    ** wakeup) do not mean the task runs. */
    int sched_own = e->kind == SIM_EV_TIMEOUT || e->kind == SIM_EV_SPURIOUS;
    if (!sched_own && running != SIM_TASK_NONE && e->task != running) {
      char why[512];
      if (last)
        why_switch(l, last, why, sizeof why);
      else
        snprintf(why, sizeof why, "%s stopped", sim_evlog_task_name(l, running));
      switches++;
      switch_row(f, l, e->step, e->task, cols);
      fprintf(f, "%s\n", why);
    }
    if (all || notable(e)) {
      fprintf(f, "%8" PRIu64 " %12.6f  ", e->step, (double)e->now_ns / 1e6);
      uint32_t c = e->task < cols ? e->task : cols - 1;
      for (uint32_t t = 0; t < c; t++) cell(f, "", COL_W, 0);
      cell(f, words(e), COL_W, 1);
      fputc('\n', f);
      shown++;
    }
    if (!sched_own) {
      running = e->task;
      last = e;
    }
  }
  /* The table is of a shrunk run: it fails. */
  fprintf(f, "%8" PRIu64 " %12s  FAILS HERE: %s\n", sim_evlog_fail_step(l), "",
          sim_evlog_message(l));
  fprintf(f, "(%zu of %zu events shown%s; %zu switches, %zu of them preemptions%s%s)\n", shown, n,
          all ? "" : ", --verbose shows every one", switches, preempts,
          ntasks > cols ? "; tasks past the 12th share the last column" : "",
          sim_evlog_truncated(l) ? "; the log was cut short" : "");
}

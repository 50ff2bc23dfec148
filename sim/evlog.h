/*
** evlog.h -- the event recorder: every event of a run, kept in order with
** its words, for a person to look at afterwards (the timeline page, the
** Chrome trace-event JSON of agentsim run --timeline / --trace-json).
**
** Owned by the caller; hand it to a run through sim_config.evlog. The run
** resets it at its start, records every event it publishes (SIM_EV_LOG
** included) and at its end stores the outcome and message. Recording never
** changes the run: not its trace hash, not its decisions. When an event
** cannot be kept (past SIM_EVLOG_MAX events, or memory ran out) the log
** stops keeping and says so (sim_evlog_truncated); the run goes on.
*/
#ifndef AGENTSIM_SIM_EVLOG_H
#define AGENTSIM_SIM_EVLOG_H

#include <stddef.h>
#include <stdint.h>

#include "agentsim/status.h"

typedef struct sim_evrec {
  uint64_t step, now_ns;
  uint32_t task, kind;      /* as sim_ev */
  uint64_t object, extra;
  uint64_t decisions;       /* decisions (sim_result.decisions sense) taken before this event */
  const char *label;        /* copied, owned by the log; NULL if none */
  const char *text;         /* sim_ev_describe() of the event, owned by the log */
} sim_evrec;

typedef struct sim_evlog sim_evlog;

#define SIM_EVLOG_MAX (1u << 20)  /* events kept; past it: truncated flag */
/* A label longer than this is kept cut to it (bytes, the NUL not counted);
** an event's text is at most SIM_EVLOG_TEXT_MAX - 1 bytes. */
#define SIM_EVLOG_LABEL_MAX 1024u
#define SIM_EVLOG_TEXT_MAX 512u

/* An empty log. AS_OK or AS_NOMEM. */
AS_WUR int sim_evlog_new(sim_evlog **out);
/* Release l and every string it handed out (NULL is fine). */
void sim_evlog_free(sim_evlog *l);
/* Events kept by the last run it was given to. */
size_t sim_evlog_count(const sim_evlog *l);
/* The i-th event kept (i < count), or NULL; valid until the next run or free. */
const sim_evrec *sim_evlog_at(const sim_evlog *l, size_t i);
/* 0 when every event was kept; 1 when the log stopped at its cap
** (SIM_EVLOG_MAX, or the one sim_evlog_set_max gave), 2 when memory ran out.
** Either way the events kept are the run's first ones, in order. */
int sim_evlog_truncated(const sim_evlog *l);
/* task names from SPAWN events ("main" for 0); "" when unknown */
const char *sim_evlog_task_name(const sim_evlog *l, uint32_t task);
/* Tasks seen spawned: one more than the highest task id named. */
uint32_t sim_evlog_ntasks(const sim_evlog *l);
/* The run's end: outcome, message, failing step (the step of the last event); set by sim_run */
int sim_evlog_outcome(const sim_evlog *l);
const char *sim_evlog_message(const sim_evlog *l);
/* The step of the last event the run published (kept or not): where a
** failing run failed. 0 when it published none. */
uint64_t sim_evlog_fail_step(const sim_evlog *l);
/* Events the last run published, kept or not. */
uint64_t sim_evlog_seen(const sim_evlog *l);
/* Keep at most max events (1 .. SIM_EVLOG_MAX; others are clamped) from the
** next run on: for tests of the cap, and callers that want a smaller one. */
void sim_evlog_set_max(sim_evlog *l, size_t max);

#endif

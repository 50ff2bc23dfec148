/*
** schedule.h -- the versioned schedule string.
**
** A schedule records what a run needs to be replayed without its seed: the
** program it was recorded for, the seeds of the non-scheduler streams, every
** decision (the task chosen at every point where more than one task could
** run, and the waiter a cond_signal woke when more than one waited), the
** spurious wakeups, and the fault outcomes that fired.
** Grammar (version 3; the version changes whenever the grammar does):
**
**   schedule  = "v3:" print ":" seed ":" seed ":" seed ":" seed ":"
**               decisions ":" wakeups ":" faults
**   print     = 16 lowercase hex digits      (the program's fingerprint)
**   seed      = 16 lowercase hex digits      (faults, workload, llm, runtime)
**   decisions = *item                        (in the order the run took them)
**   item      = id [ "-" count "." ]          (count >= 2: the id repeats)
**   id        = one of 0-9 a-z A-Z            (tasks 0..61)
**             / "_" 1*10DIGIT "_"             (any task id)
**   wakeups   = [ wakeup *( "-" wakeup ) ]
**   wakeup    = step "." task                 (before step `step`, counted from
**                                             1, task `task`, waiting on a
**                                             condition variable, wakes with
**                                             no signal)
**   faults    = [ fault *( "-" fault ) ]
**   fault     = point "." draw                (the draw-th consultation,
**                                             counted from 0, of fault point
**                                             `point` fires)
**   step, draw = 1*20DIGIT; task, point = 1*10DIGIT   (decimal)
**
** A consultation of a fault point is an as_fault() call while the point's
** rate is nonzero; on replay the listed outcomes fire and no other, so
** removing an entry suppresses that fault and adding one injects it.
** Every character is shell-safe, so the string can be pasted unquoted.
*/
#ifndef AGENTSIM_SIM_SCHEDULE_H
#define AGENTSIM_SIM_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "agentsim/status.h"

/* The grammar's version, and its prefix. */
#define SIM_SCHEDULE_VERSION 3
#define SIM_SCHEDULE_PREFIX "v3:"

/* Caps on what a schedule may hold. */
#define SIM_SCHEDULE_MAX_DECISIONS 16000000u
#define SIM_SCHEDULE_MAX_LEN (256u * 1024u * 1024u)
/* Spurious wakeups and fault outcomes a schedule may list (each). */
#define SIM_SCHEDULE_MAX_EVENTS 1000000u

/* One spurious wakeup: before step `step` (from 1), task `task`, blocked on
** a condition variable, wakes with no signal. */
typedef struct sim_wakeup {
  uint64_t step;
  uint32_t task;
} sim_wakeup;

/* One fault outcome: the draw-th consultation (from 0) of fault point
** `point` fires. */
typedef struct sim_fault_draw {
  uint32_t point;
  uint64_t draw;
} sim_fault_draw;

typedef struct sim_schedule {
  uint64_t fingerprint; /* sim_program.fingerprint of what was run */
  uint64_t seed_faults, seed_workload, seed_llm, seed_runtime;
  uint32_t *dec; /* owned */
  size_t ndec;
  sim_wakeup *wakeups; /* owned, in the order given */
  size_t nwakeups;
  sim_fault_draw *faults; /* owned, in the order given */
  size_t nfaults;
} sim_schedule;

/* Encode into a malloc'd string (*out, caller frees). */
AS_WUR int sim_schedule_encode(const sim_schedule *sc, char **out);
/* Decode str; on error AS_PARSE (or AS_TOOBIG) with a message naming the
** position and what was expected in err (a string of another version: which
** version this build reads). On success the caller owns sc->dec, wakeups
** and faults (sim_schedule_clear). */
AS_WUR int sim_schedule_decode(const char *str, sim_schedule *sc, char *err,
                               size_t errcap);
void sim_schedule_clear(sim_schedule *sc);

#endif

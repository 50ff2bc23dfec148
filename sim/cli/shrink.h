/*
** shrink.h -- make a failing run small while it keeps failing the same way.
**
** The shrinker works on what a run chose, not on what it printed (as
** Hypothesis shrinks the sequence of random choices): the run's decisions,
** its injected fault outcomes and spurious wakeups, and -- for a scenario,
** when asked -- the scenario's operations, actors and sessions. Every
** attempt is a lenient replay (sim_config.lenient): a decision lowered to
** SIM_DECISION_DEFAULT, or one that no longer fits, keeps running the task
** that ran last. An attempt is kept when the run fails with the same
** outcome and check (cli_sig_same_failure) and is no bigger in any measure
** (shrink_size) and smaller in one; what it then actually did becomes the
** new current case, so every case the shrinker holds replays strictly.
**
** The passes, repeated until one round changes nothing or the budget of
** runs is spent: the scenario's actors, counts, operations, repeats and
** sessions; the faults and wakeups, in halving chunks then one at a time;
** the choices lowered to the default in halving chunks then one at a time;
** each choice deleted (later decisions move up one). A round that changes
** nothing has tried every single remaining choice, fault and wakeup: the
** result is then 1-minimal (shrink_out.minimal).
*/
#ifndef AGENTSIM_CLI_SHRINK_H
#define AGENTSIM_CLI_SHRINK_H

#include <stdint.h>

#include "scenario/runner.h"
#include "scenario/scenario.h"
#include "signature.h"
#include "sim.h"

#define SHRINK_DEFAULT_ATTEMPTS 2000u

/* What a case costs to read. */
typedef struct shrink_size {
  uint64_t choices;     /* decisions the schedule must state (sim_result.choices) */
  uint64_t preemptions; /* switches away from a task that could go on */
  uint64_t faults, wakeups;
  uint64_t ops;         /* operations the actors run: count x (draws or repeats) */
  uint64_t actors;      /* tasks the actors make: the sum of counts */
  uint64_t sessions;
  uint64_t decisions, steps; /* tie-breakers only */
} shrink_size;

typedef struct shrink_spec {
  const sim_program *prog; /* what the failure was found in */
  const scenario *sc;      /* its scenario, to shrink too (NULL: the schedule only) */
  sim_config base;         /* limits and mutant; strategy and schedule are set per run */
  const char *schedule;    /* the failing run's schedule, replayed strictly first */
  uint64_t attempts;       /* 0: SHRINK_DEFAULT_ATTEMPTS */
  int progress;            /* a progress line on stderr */
} shrink_spec;

typedef struct shrink_out {
  cli_sig sig;             /* the failure kept */
  shrink_size before, after;
  uint64_t runs;           /* runs made, the first replay included */
  int exhausted;           /* the budget ran out before a round changed nothing */
  int minimal;             /* a whole round changed nothing */
  char *schedule;          /* the shrunk run's strict schedule (for prog, or for scn) */
  uint64_t trace_hash;
  int outcome;
  char message[SIM_MSG_MAX];
  int scn_changed;         /* scn differs from spec->sc */
  scenario scn;            /* the shrunk scenario (with spec->sc) */
  scn_runner *runner;      /* scn's program when scn_changed (owned) */
  double wall_s;
} shrink_out;

/* Shrink. AS_OK with *out filled (shrink_out_clear it); AS_NOTFOUND when
** the schedule's run does not fail (nothing to shrink), AS_DIVERGED or
** AS_PARSE when it does not replay, AS_NOMEM: err says what. */
AS_WUR int shrink_exec(sim *s, const shrink_spec *sp, shrink_out *out, char *err, size_t cap);
void shrink_out_clear(shrink_out *out);
/* The program out's schedule is for. */
const sim_program *shrink_out_program(const shrink_spec *sp, const shrink_out *out);
/* The operations, actors and sessions of a scenario (shrink_size). */
void shrink_scenario_size(const scenario *sc, shrink_size *z);

#endif

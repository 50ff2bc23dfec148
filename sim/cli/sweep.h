/*
** sweep.h -- run one program over a range of seeds, in this process or in
** J worker processes, and gather what failed.
**
** Seeds are start, start+1, ..., start+count-1; with a shard I/N only those
** at index i with i % N == I-1 are run. Results do not depend on the number
** of jobs: failures come back sorted by seed.
*/
#ifndef AGENTSIM_CLI_SWEEP_H
#define AGENTSIM_CLI_SWEEP_H

#include <stdint.h>

#include "sim.h"

#define SWEEP_MSG_MAX 240
/* Failures kept with details: those of the smallest failing seeds, so what
** is kept does not depend on --jobs. Every failing seed is kept as a number. */
#define SWEEP_KEEP_FAILS 1000u

typedef struct sweep_fail {
  uint64_t seed;
  uint64_t hash;
  uint64_t steps;
  int outcome;
  char msg[SWEEP_MSG_MAX];
} sweep_fail;

typedef struct sweep_spec {
  const sim_program *prog;
  sim_config base;   /* seed is set per run */
  sim_switch_kind sw;
  uint64_t start, count;
  unsigned shard_i, shard_n; /* shard_n 0: all */
  unsigned jobs;             /* 1: in this process */
  const char *label;         /* progress line prefix */
  int progress;              /* draw a progress line on stderr */
} sweep_spec;

typedef struct sweep_stats {
  uint64_t runs, failed;
  uint64_t by_outcome[SIM__OUTCOME_COUNT];
  uint64_t steps, virtual_ns;
  sweep_fail *fails; /* the smallest failing seeds, sorted; owned */
  size_t nfails;
  uint64_t *fail_seeds; /* every failing seed, sorted; owned */
  size_t nfail_seeds, cap_fail_seeds;
  double wall_s;
  char error[256];   /* set when the sweep itself broke */
  int has_dead_seed; /* a worker died running this seed */
  uint64_t dead_seed;
} sweep_stats;

/* AS_OK when every seed ran (see st for what failed); otherwise an error
** status with st->error saying what broke. Release st with sweep_stats_clear. */
AS_WUR int sweep_exec(const sweep_spec *sp, sweep_stats *st);
void sweep_stats_clear(sweep_stats *st);
/* Monotonic seconds, for the tool's own timing. */
double sweep_now(void);

#endif

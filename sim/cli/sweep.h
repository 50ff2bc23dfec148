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

#include "buckets.h"
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
  uint32_t bucket; /* its bucket in sweep_stats.buckets (set by sweep_finish) */
  char msg[SWEEP_MSG_MAX];
} sweep_fail;

/* A failing seed and its bucket. */
typedef struct sweep_seed {
  uint64_t seed;
  uint32_t bucket;
} sweep_seed;

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
  sweep_seed *fail_seeds; /* every failing seed, sorted, with its bucket; owned */
  size_t nfail_seeds, cap_fail_seeds;
  bkt_table buckets; /* the failures by signature, sorted (bkt_sort) */
  uint64_t digest;   /* the sum of sweep_digest over the seeds run: shards add up */
  double wall_s;
  char error[256];   /* set when the sweep itself broke */
  int has_dead_seed; /* a worker died running this seed */
  uint64_t dead_seed;
} sweep_stats;

/* AS_OK when every seed ran (see st for what failed); otherwise an error
** status with st->error saying what broke. Release st with sweep_stats_clear. */
AS_WUR int sweep_exec(const sweep_spec *sp, sweep_stats *st);
void sweep_stats_clear(sweep_stats *st);
/* Note failing seed `seed` of signature text `sig` (buckets.h): its bucket
** counts it (outcome -1: the overflow bucket's). AS_OK, or AS_NOMEM with st->error set. */
AS_WUR int sweep_add_fail_seed(sweep_stats *st, uint64_t seed, const char *sig, int outcome);
/* Keep f's details if it is among the SWEEP_KEEP_FAILS smallest failing
** seeds. AS_OK, or AS_NOMEM with st->error set. */
AS_WUR int sweep_keep_fail(sweep_stats *st, const sweep_fail *f);
/* After the last failure: buckets sorted (bkt_sort), seeds and details
** sorted by seed, each with its bucket. A merge calls it too. */
void sweep_finish(sweep_stats *st);
/* One seed's share of sweep_stats.digest: a mix of the seed and its trace
** hash, summed, so the digest of shards adds up to the whole sweep's. */
uint64_t sweep_digest(uint64_t seed, uint64_t trace_hash);
/* Monotonic seconds, for the tool's own timing. */
double sweep_now(void);

#endif

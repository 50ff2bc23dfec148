/*
** bench_threads.h -- the lock_noop mutant hunted with real threads and with
** the sim, measured in the same run (bench_threads.c).
*/
#ifndef AGENTSIM_CLI_BENCH_THREADS_H
#define AGENTSIM_CLI_BENCH_THREADS_H

#include "sim.h"

typedef struct bench_hunt {
  unsigned runs, detections;
  double seconds;
} bench_hunt;

/* `runs` real-threads runs on an on-disk database, then `runs` seeds of
** `scenario` in the sim, both with lock_noop switched on. Leaves the mutant
** off and simdb installed. */
AS_WUR int bench_threads_vs_sim(const sim_program *scenario, unsigned runs, bench_hunt *real,
                                bench_hunt *simh);

#endif

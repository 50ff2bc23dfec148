/*
** runner.h -- run a scenario in the sim: the runtime core on the simulated
** disk, driven by the scenario's actors, judged by the oracle.
**
** The runner executes each operation through the runtime (the executor
** column of the operation table, scenario.h) and publishes what it asked
** and what the runtime answered; the oracle (sim/oracle/oracle.h) judges
** every commit and answer as it happens, from the database's own evidence,
** and reads the database back at quiescence. A violation ends the run as an
** invariant failure; the oracle unable to look is a harness error.
**
** simdb must be installed (simdb_install) before a scenario runs.
*/
#ifndef AGENTSIM_SCENARIO_RUNNER_H
#define AGENTSIM_SCENARIO_RUNNER_H

#include "scenario/scenario.h"
#include "sim.h"

typedef struct scn_runner scn_runner;

/* A program that runs a copy of sc; *out is the caller's (scn_runner_free).
** A scenario with an app loads it and its script (relative to sc->base)
** here: AS_PARSE with every error in err ("FILE:LINE:COL: ..." lines) when
** either is bad input; err may be NULL. */
AS_WUR int scn_runner_new(scn_runner **out, const scenario *sc, char *err, size_t errcap);
void scn_runner_free(scn_runner *r);
/* The sim program; valid while r lives. */
const sim_program *scn_runner_program(const scn_runner *r);
const scenario *scn_runner_scenario(const scn_runner *r);

#endif

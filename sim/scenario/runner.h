/*
** runner.h -- run a scenario in the sim: the runtime core on the simulated
** disk, driven by the scenario's actors, checked by the oracle.
**
** The oracle (DESIGN.md section 6) checks, after every step: no two tasks
** hold one session's lock at once (re-entry by the holder aside); no two
** acknowledged saves of a session produce one version (a lost update); a
** finalize takes the session's lock; a paused run is awaiting_input (or
** terminal) once the pause returns; the GC leaves every checkpoint of an
** active session. And at quiescence, from a fresh connection: every
** acknowledged write is there (versions, tool calls, checkpoints); event
** seqs are contiguous; a terminal status is never left; a finalized
** session's status is the one its tool-call history implies, so none is
** left in_progress.
**
** simdb must be installed (simdb_install) before a scenario runs.
*/
#ifndef AGENTSIM_SCENARIO_RUNNER_H
#define AGENTSIM_SCENARIO_RUNNER_H

#include "scenario/scenario.h"
#include "sim.h"

typedef struct scn_runner scn_runner;

/* A program that runs a copy of sc; *out is the caller's (scn_runner_free). */
AS_WUR int scn_runner_new(scn_runner **out, const scenario *sc);
void scn_runner_free(scn_runner *r);
/* The sim program; valid while r lives. */
const sim_program *scn_runner_program(const scn_runner *r);
const scenario *scn_runner_scenario(const scn_runner *r);

#endif

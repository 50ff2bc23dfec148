/*
** schedule.h -- the versioned schedule string.
**
** A schedule records what a run needs to be replayed without its seed: the
** program it was recorded for, the seeds of the non-scheduler streams and
** the task chosen at every point where more than one task could run.
** Grammar (version 2; the version changes whenever the grammar does):
**
**   schedule  = "v2:" print ":" seed ":" seed ":" seed ":" seed ":" decisions
**   print     = 16 lowercase hex digits      (the program's fingerprint)
**   seed      = 16 lowercase hex digits      (faults, workload, llm, runtime)
**   decisions = *item
**   item      = id [ "-" count "." ]          (count >= 2: the id repeats)
**   id        = one of 0-9 a-z A-Z            (tasks 0..61)
**             / "_" 1*10DIGIT "_"             (any task id)
**
** Every character is shell-safe, so the string can be pasted unquoted.
*/
#ifndef AGENTSIM_SIM_SCHEDULE_H
#define AGENTSIM_SIM_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "agentsim/status.h"

/* The grammar's version, and its prefix. */
#define SIM_SCHEDULE_VERSION 2
#define SIM_SCHEDULE_PREFIX "v2:"

/* Caps on what a schedule may hold. */
#define SIM_SCHEDULE_MAX_DECISIONS 16000000u
#define SIM_SCHEDULE_MAX_LEN (256u * 1024u * 1024u)

typedef struct sim_schedule {
  uint64_t fingerprint; /* sim_program.fingerprint of what was run */
  uint64_t seed_faults, seed_workload, seed_llm, seed_runtime;
  uint32_t *dec; /* owned */
  size_t ndec;
} sim_schedule;

/* Encode into a malloc'd string (*out, caller frees). */
AS_WUR int sim_schedule_encode(const sim_schedule *sc, char **out);
/* Decode str; on error AS_PARSE (or AS_TOOBIG) with a message naming the
** position and what was expected in err (a string of another version: which
** version this build reads). On success the caller owns sc->dec
** (sim_schedule_clear). */
AS_WUR int sim_schedule_decode(const char *str, sim_schedule *sc, char *err,
                               size_t errcap);
void sim_schedule_clear(sim_schedule *sc);

#endif

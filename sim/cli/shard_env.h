/*
** shard_env.h -- `sweep --shard auto`: which shard this process is, from the
** environment the common engines give a job (docs/sharding.md):
**
**   GitLab CI `parallel: N`   CI_NODE_INDEX (1..N), CI_NODE_TOTAL
**   a GitHub Actions matrix   AGENTSIM_SHARD_INDEX (1..N), AGENTSIM_SHARD_TOTAL,
**   (or any engine)           set from the matrix in the workflow
**   a Kubernetes Indexed Job  JOB_COMPLETION_INDEX (0..N-1), and
**                             AGENTSIM_SHARD_TOTAL set to the Job's completions
**   a Slurm job array         SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN,
**                             SLURM_ARRAY_TASK_COUNT (SLURM_ARRAY_TASK_STEP,
**                             SLURM_ARRAY_TASK_MAX when set)
**
** An engine counts as present when its index variable is set. The CLI reads
** the environment (the runtime never does: the nondeterminism ratchet).
*/
#ifndef AGENTSIM_CLI_SHARD_ENV_H
#define AGENTSIM_CLI_SHARD_ENV_H

#include <stddef.h>

#include "agentsim/status.h"

/* The most shards a sweep takes (--shard I/N too). */
#define CLI_SHARD_MAX 1000000u

/* A variable's value, or NULL when unset (getenv, or a test's table). */
typedef const char *(*cli_getenv_fn)(const char *name);

/* The shard (1-based *i of *n) and which engine said so, "GitLab CI
** (CI_NODE_INDEX, CI_NODE_TOTAL)", into source. AS_OK; AS_NOTFOUND when no
** engine's variables are set; AS_INVAL when one is malformed or out of
** range, or two engines disagree. err says which variables and why. */
AS_WUR int cli_shard_auto(cli_getenv_fn get, unsigned *i, unsigned *n, char *source,
                          size_t scap, char *err, size_t ecap);

#endif

/*
** shard_env.c -- the shard from the job's environment (shard_env.h).
*/
#include "shard_env.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "args.h"

typedef struct found {
  const char *engine; /* "GitLab CI (CI_NODE_INDEX, CI_NODE_TOTAL)" */
  uint64_t i, n;      /* 1-based */
} found;

/* name's value as a number; *present 0 when unset. AS_INVAL (err) when
** set but not an unsigned decimal. */
static AS_WUR int num(cli_getenv_fn get, const char *name, int *present, uint64_t *v, char *err,
                      size_t cap) {
  const char *s = get(name);
  *present = s != NULL;
  if (!s) return AS_OK;
  if (cli_parse_u64(s, v) != AS_OK) {
    snprintf(err, cap, "--shard auto: %s='%.32s': expected an unsigned decimal number", name, s);
    return AS_INVAL;
  }
  return AS_OK;
}

/* A variable the engine needs once its index is set. */
static AS_WUR int need(cli_getenv_fn get, const char *engine, const char *name, uint64_t *v,
                       char *err, size_t cap) {
  int present;
  int rc = num(get, name, &present, v, err, cap);
  if (rc == AS_OK && !present) {
    snprintf(err, cap, "--shard auto: %s is set but %s is not", engine, name);
    rc = AS_INVAL;
  }
  return rc;
}

static AS_WUR int in_range(const found *f, char *err, size_t cap) {
  if (f->n == 0 || f->n > CLI_SHARD_MAX || f->i == 0 || f->i > f->n) {
    snprintf(err, cap, "--shard auto: %s gives shard %" PRIu64 " of %" PRIu64
             ", expected 1 <= shard <= total <= %u", f->engine, f->i, f->n, CLI_SHARD_MAX);
    return AS_INVAL;
  }
  return AS_OK;
}

static AS_WUR int gitlab(cli_getenv_fn get, found *f, int *on, char *err, size_t cap) {
  int rc = num(get, "CI_NODE_INDEX", on, &f->i, err, cap);
  if (rc != AS_OK || !*on) return rc;
  f->engine = "GitLab CI (CI_NODE_INDEX, CI_NODE_TOTAL)";
  return need(get, "GitLab CI (CI_NODE_INDEX)", "CI_NODE_TOTAL", &f->n, err, cap);
}

static AS_WUR int matrix(cli_getenv_fn get, found *f, int *on, char *err, size_t cap) {
  int rc = num(get, "AGENTSIM_SHARD_INDEX", on, &f->i, err, cap);
  if (rc != AS_OK || !*on) return rc;
  const char *gh = get("GITHUB_ACTIONS");
  f->engine = gh && strcmp(gh, "true") == 0
                  ? "a GitHub Actions matrix (AGENTSIM_SHARD_INDEX, AGENTSIM_SHARD_TOTAL)"
                  : "the job's environment (AGENTSIM_SHARD_INDEX, AGENTSIM_SHARD_TOTAL)";
  return need(get, "AGENTSIM_SHARD_INDEX", "AGENTSIM_SHARD_TOTAL", &f->n, err, cap);
}

static AS_WUR int k8s(cli_getenv_fn get, found *f, int *on, char *err, size_t cap) {
  int rc = num(get, "JOB_COMPLETION_INDEX", on, &f->i, err, cap);
  if (rc != AS_OK || !*on) return rc;
  f->engine = "a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, AGENTSIM_SHARD_TOTAL)";
  f->i++; /* 0-based (UINT64_MAX wraps to 0: out of range below) */
  return need(get, "a Kubernetes Indexed Job (JOB_COMPLETION_INDEX)", "AGENTSIM_SHARD_TOTAL",
              &f->n, err, cap);
}

static AS_WUR int slurm(cli_getenv_fn get, found *f, int *on, char *err, size_t cap) {
  uint64_t id, min, step = 1, max;
  int has;
  int rc = num(get, "SLURM_ARRAY_TASK_ID", on, &id, err, cap);
  if (rc != AS_OK || !*on) return rc;
  static const char who[] = "a Slurm job array (SLURM_ARRAY_TASK_ID)";
  f->engine = "a Slurm job array (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_COUNT)";
  rc = need(get, who, "SLURM_ARRAY_TASK_MIN", &min, err, cap);
  if (rc == AS_OK) rc = need(get, who, "SLURM_ARRAY_TASK_COUNT", &f->n, err, cap);
  if (rc == AS_OK) rc = num(get, "SLURM_ARRAY_TASK_STEP", &has, &step, err, cap);
  if (rc != AS_OK) return rc;
  if (step == 0 || id < min || (id - min) % step != 0) {
    snprintf(err, cap, "--shard auto: a Slurm job array: task %" PRIu64 " is not on the array's "
             "range (min %" PRIu64 ", step %" PRIu64 "); use --array=MIN-MAX[:STEP]", id, min, step);
    return AS_INVAL;
  }
  f->i = (id - min) / step + 1;
  rc = num(get, "SLURM_ARRAY_TASK_MAX", &has, &max, err, cap);
  if (rc == AS_OK && has && (max < min || (max - min) / step + 1 != f->n)) {
    snprintf(err, cap, "--shard auto: a Slurm job array: min %" PRIu64 ", max %" PRIu64
             ", step %" PRIu64 " do not make %" PRIu64 " tasks (SLURM_ARRAY_TASK_COUNT): the "
             "array must be one evenly stepped range", min, max, step, f->n);
    rc = AS_INVAL;
  }
  return rc;
}

typedef int (*engine_fn)(cli_getenv_fn, found *, int *, char *, size_t);

int cli_shard_auto(cli_getenv_fn get, unsigned *i, unsigned *n, char *source, size_t scap,
                   char *err, size_t ecap) {
  static const engine_fn engines[] = {gitlab, matrix, k8s, slurm};
  found got[4];
  unsigned ngot = 0;
  for (size_t e = 0; e < sizeof engines / sizeof engines[0]; e++) {
    int on = 0;
    int rc = engines[e](get, &got[ngot], &on, err, ecap);
    if (rc == AS_OK && on) rc = in_range(&got[ngot], err, ecap);
    if (rc != AS_OK) return rc;
    if (!on) continue;
    if (ngot && (got[ngot].i != got[0].i || got[ngot].n != got[0].n)) {
      snprintf(err, ecap, "--shard auto: %s says shard %" PRIu64 "/%" PRIu64 " but %s says %"
               PRIu64 "/%" PRIu64 "; unset one, or give --shard I/N", got[0].engine, got[0].i,
               got[0].n, got[ngot].engine, got[ngot].i, got[ngot].n);
      return AS_INVAL;
    }
    ngot++;
  }
  if (!ngot) {
    snprintf(err, ecap, "--shard auto: no shard in the environment; expected one of "
             "CI_NODE_INDEX and CI_NODE_TOTAL (GitLab CI parallel), AGENTSIM_SHARD_INDEX and "
             "AGENTSIM_SHARD_TOTAL (a GitHub Actions matrix or any engine), "
             "JOB_COMPLETION_INDEX and AGENTSIM_SHARD_TOTAL (a Kubernetes Indexed Job), "
             "SLURM_ARRAY_TASK_ID, _MIN and _COUNT (a Slurm job array) (docs/sharding.md)");
    return AS_NOTFOUND;
  }
  *i = (unsigned)got[0].i;
  *n = (unsigned)got[0].n;
  snprintf(source, scap, "%s", got[0].engine);
  return AS_OK;
}

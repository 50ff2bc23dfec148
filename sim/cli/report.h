/*
** report.h -- what a sweep found, per scenario, written as text, as the
** JSON of `sweep --json` and as JUnit; `merge` builds the same from the
** shards' JSON and writes it with the same functions, so a merge of shards
** reads exactly as one sweep of their seeds.
*/
#ifndef AGENTSIM_CLI_REPORT_H
#define AGENTSIM_CLI_REPORT_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "sweep.h"

#define CLI_VERSION "0.1.0"
/* The JSON of sweep --json and merge --json: its "format". */
#define RPT_FORMAT 1
/* How many failures per scenario the text prints with their replay command. */
#define RPT_SHOW_FAILS 5

typedef struct rpt_scn {
  const char *scenario;   /* as the user named it */
  const char *name;       /* the program's name */
  char fingerprint[24];   /* what the scenario is: a hash of its file (16 hex digits) */
  uint64_t start, count;  /* the seed range */
  unsigned shard_n;       /* 0: every seed of the range */
  unsigned shard_i;       /* 1..shard_n: that shard alone; 0: those present[] marks */
  const unsigned char *present; /* merge: shard_n flags, shard k+1 at [k] */
  char *replay_prefix;    /* a seed's replay command is prefix SEED suffix; owned */
  char *replay_suffix;
  const sweep_stats *st;
} rpt_scn;

/* Seed index idx (seed start+idx) belongs to what r covers. */
int rpt_has_seed(const rpt_scn *r, uint64_t idx);
/* The command that replays `seed`. */
void rpt_replay(const rpt_scn *r, uint64_t seed, char *buf, size_t cap);
/* prefix and suffix from the sweep's options. AS_OK or AS_NOMEM. */
AS_WUR int rpt_set_replay(rpt_scn *r, const char *argv0, const cli_opts *o);
void rpt_free(rpt_scn *r);
/* A copy of s (malloc'd; NULL when out of memory). */
char *rpt_strdup(const char *s);

/* The summary line, the first failures and the buckets. */
void rpt_text(FILE *out, const rpt_scn *r, int width, const char *strat);
/* The scenario's object in the JSON; NULL when out of memory. */
json_t *rpt_json(const rpt_scn *r);
/* A JUnit file of n scenarios, written beside path and renamed (a reader
** never sees half of one): EXIT_PASS, or EXIT_USAGE / EXIT_INTERNAL with
** the error reported as "cmd: --junit PATH: ...". */
int rpt_junit(const char *path, const char *cmd, const rpt_scn *rs, unsigned n);

/* FNV-1a 64 of a file's bytes: AS_OK, or AS_IO (open or read failed). */
AS_WUR int cli_hash_file(const char *path, uint64_t *h);
uint64_t cli_hash_text(const char *s);
/* The build identity, "VERSION+HASH" with HASH that of the executable at
** exe (/proc/self/exe): shards of one sweep must come from one binary. */
AS_WUR int cli_build_id(const char *exe, char *buf, size_t cap);

#endif

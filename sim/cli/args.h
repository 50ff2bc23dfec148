/*
** args.h -- the command line, parsed into a struct without side effects
** (no printing, no exiting), so it can be unit-tested and fuzzed.
*/
#ifndef AGENTSIM_CLI_ARGS_H
#define AGENTSIM_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "agentsim/status.h"
#include "sim.h"

typedef enum cli_cmd {
  CMD_NONE,
  CMD_HELP,
  CMD_VERSION,
  CMD_LIST,
  CMD_RUN,
  CMD_SWEEP,
  CMD_REPLAY,
  CMD_SELFTEST,
  CMD_BENCH,
  CMD_MUTANTS
} cli_cmd;

#define CLI_MAX_SCENARIOS 64
/* CPU seconds a task may run without a scheduling point before it is a hang. */
#define CLI_DEFAULT_MAX_CPU_S 60u
#define CLI_MAX_ARG_LEN 4096

typedef struct cli_opts {
  cli_cmd cmd;
  cli_cmd help_for;         /* CMD_HELP: which command (CMD_NONE: all) */
  const char *scenarios[CLI_MAX_SCENARIOS];
  unsigned nscenarios;
  int has_seed;
  uint64_t seed;
  uint64_t seeds;           /* sweep/selftest/mutants: how many */
  int has_seeds;
  uint64_t seed_start;
  sim_strategy_kind strategy;
  unsigned pct_depth;       /* 0: default */
  uint64_t pct_steps;       /* 0: program estimate */
  const char *strategy_text;/* as given, for replay commands */
  const char *mutant;
  const char *schedule;
  unsigned jobs;            /* 0: one per CPU */
  unsigned shard_i, shard_n;/* 1-based; shard_n 0 = no sharding */
  const char *junit;
  int json;
  int verbose;
  int check_determinism;
  int quick;                /* bench: shorter measurements */
  uint64_t max_steps;
  uint64_t max_virtual_ns;
  unsigned max_cpu_s;       /* 0: the default (CLI_DEFAULT_MAX_CPU_S) */
  sim_switch_kind sw;
} cli_opts;

/* Parse argv[1..argc-1]. AS_OK, or AS_INVAL with a message in err naming the
** argument and what was expected. Pointers in *o point into argv. */
AS_WUR int cli_parse(int argc, char **argv, cli_opts *o, char *err, size_t errcap);

/* Parse a strategy "random", "pct", "pct:d=K", "pct:d=K,k=N" into o. */
AS_WUR int cli_parse_strategy(const char *s, cli_opts *o, char *err, size_t errcap);
/* Parse a duration "90", "250ms", "30s", "12h", "7d" (bare numbers are ns). */
AS_WUR int cli_parse_duration(const char *s, uint64_t *ns);
/* Parse an unsigned decimal, rejecting signs, junk and overflow. */
AS_WUR int cli_parse_u64(const char *s, uint64_t *v);

const char *cli_cmd_name(cli_cmd c);

#endif

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
  CMD_MUTANTS,
  CMD_CHECK,
  CMD_PARSE,
  CMD_METRICS,
  CMD_BUDGET,
  CMD_SERVE,
  CMD_SHRINK,
  CMD_MERGE
} cli_cmd;

#define CLI_MAX_SCENARIOS 64
/* merge: at most this many RESULT.json files (shards). */
#define CLI_MAX_MERGE_FILES 4096
/* CPU seconds a task may run without a scheduling point before it is a hang. */
#define CLI_DEFAULT_MAX_CPU_S 60u
/* Spurious wakeups per million steps with a condition waiter, in sweeps and
** selftest unless --spurious says otherwise (run and replay: off). */
#define CLI_DEFAULT_SPURIOUS_PPM 1000u
#define CLI_MAX_ARG_LEN 4096
/* A printed command line: the tool and a scenario path, each quoted for the
** shell (at most four bytes per byte), and the options. */
#define CLI_CMD_MAX (8 * CLI_MAX_ARG_LEN + 1024)

typedef struct cli_opts {
  cli_cmd cmd;
  cli_cmd help_for;         /* CMD_HELP: which command (CMD_NONE: all) */
  const char *help_topic;   /* CMD_HELP: a topic instead (scenarios, checks, mutants) */
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
  int has_strategy;         /* --strategy was given (sweep's default is the portfolio) */
  const char *mutant;
  const char *schedule;
  unsigned jobs;            /* 0: one per CPU */
  unsigned shard_i, shard_n;/* 1-based; shard_n 0 = no sharding */
  int shard_auto;           /* --shard auto: the command reads it from the environment */
  char *const *files;       /* merge: the RESULT.json files, nfiles of them (in argv) */
  unsigned nfiles;
  const char *junit;
  int json;
  int verbose;
  int check_determinism;
  int quick;                /* bench: shorter measurements */
  int swarm;                /* --swarm: scenarios get a default `swarm` line */
  uint64_t max_steps;
  uint64_t max_virtual_ns;
  unsigned max_cpu_s;       /* 0: the default (CLI_DEFAULT_MAX_CPU_S) */
  int spurious_set;         /* --spurious given */
  uint32_t spurious_ppm;    /* its rate (0: off) */
  sim_switch_kind sw;
  const char *check_kind;   /* check: what to check ("app") */
  const char *check_path;   /* check: its path (an app's directory), as given */
  const char *parse_kind;   /* parse: "envelope" or "json" */
  const char *parse_file;   /* parse: a path, or "-" for stdin */
  const char *structured;   /* parse envelope --structured: a path, or "-" */
  const char *db;           /* metrics --db: the database's path */
  const char *out;          /* metrics --out: the textfile to write */
  const char *push;         /* metrics --push: the Pushgateway's base URL */
  const char *job;          /* metrics --job: the Pushgateway job (with --push) */
  const char *budget;       /* metrics, budget --budget: the daily limit in dollars, as given */
  const char *app;          /* metrics, budget --app: the app whose budget settings apply;
                            ** serve --app: the app it runs */
  const char *url;          /* budget --url: a running server's base URL */
  const char *listen;       /* serve --listen: HOST:PORT (NULL: 127.0.0.1:8080) */
  const char *llm;          /* serve --llm: the provider's SPEC (sim/llm/spec.h) */
  const char *prices;       /* serve --prices: the price table's file */
  uint64_t grace_ns;        /* serve --grace: the drain's grace period (0: 10 s) */
  unsigned queue;           /* serve --queue: cycles queued or running, past it 503 (0: 1024) */
  uint64_t attempts;        /* shrink --attempts: runs the shrinker may make (0: the default) */
  const char *emit_scenario;/* shrink --emit-scenario: the shrunk case as a scenario file */
  const char *timeline;     /* run, replay --timeline: the HTML page to write */
  const char *trace_json;   /* run, replay --trace-json: the trace-event JSON to write */
} cli_opts;

/* The commands, a row each: what `help` prints is generated from these and
** from the option table below, so it cannot fall behind the parser. */
typedef struct cli_command_info {
  const char *name;
  cli_cmd cmd;
  const char *args;    /* what follows the name besides options: "SCENARIO --seed N" */
  const char *summary; /* one line */
  const char *details; /* a paragraph, or NULL */
} cli_command_info;

extern const cli_command_info cli_commands[];
extern const size_t cli_ncommands;

/* Which commands take an option: a bit per cli_cmd. */
#define CLI_ON(c) (1u << (c))

typedef struct cli_option_info {
  const char *name;    /* "--seed" */
  int id;
  int has_arg;
  unsigned cmds;       /* CLI_ON(...) bits */
  const char *metavar; /* "N", or NULL for a flag */
  const char *help;    /* one line, or a few joined by '\n' */
} cli_option_info;

extern const cli_option_info cli_options[];
extern const size_t cli_noptions;

/* The help topics besides the commands: "scenarios", "checks", "mutants". */
extern const char *const cli_help_topics[];

/* Parse argv[1..argc-1]. AS_OK, or AS_INVAL with a message in err naming the
** argument and what was expected. Pointers in *o point into argv. For merge
** the file names are moved to the front of argv[2..] (as GNU getopt permutes),
** so o->files can point at them. */
AS_WUR int cli_parse(int argc, char **argv, cli_opts *o, char *err, size_t errcap);

/* Parse a strategy "random", "pct", "pct:d=K", "pct:d=K,k=N", "pos" or
** "portfolio" into o. */
AS_WUR int cli_parse_strategy(const char *s, cli_opts *o, char *err, size_t errcap);
/* Parse a duration "90", "250ms", "30s", "12h", "7d" (bare numbers are ns). */
AS_WUR int cli_parse_duration(const char *s, uint64_t *ns);
/* Parse an unsigned decimal, rejecting signs, junk and overflow. */
AS_WUR int cli_parse_u64(const char *s, uint64_t *v);

const char *cli_cmd_name(cli_cmd c);
/* The spurious-wakeup rate the options ask for: --spurious, else the
** command's default (CLI_DEFAULT_SPURIOUS_PPM for sweep and selftest). */
uint32_t cli_spurious_ppm(const cli_opts *o);
/* "random", "pct:d=3", "pos", "portfolio" -- the strategy as a replay
** command should spell it (args.c: the JSON and replay lines of every
** command need it, agentsim-real's too). */
void cli_strategy_text(const cli_opts *o, char *buf, size_t cap);

#endif

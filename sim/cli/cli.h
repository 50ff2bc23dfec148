/*
** cli.h -- the commands of the agentsim tool and what they share.
**
** Exit status (DESIGN.md section 9): 0 pass, 1 a failure found, 2 bad usage
** or bad input, 3 an internal error (out of memory, a failed fork).
*/
#ifndef AGENTSIM_CLI_H
#define AGENTSIM_CLI_H

#include <stdio.h>

#include "agentsim/fmt.h"
#include "args.h"
#include "sim.h"

enum { EXIT_PASS = 0, EXIT_FOUND = 1, EXIT_USAGE = 2, EXIT_INTERNAL = 3 };

/* The program a SCENARIO names: "selftest:NAME" or a scenario file's path
** (parsed; a malformed one gives NULL with "FILE:LINE:COL: expected ...").
** NULL with a message in err. Scenario programs live until
** cli_programs_free(). */
const sim_program *cli_find_program(const char *name, char *err, size_t cap);
int cli_program_is_scenario(const sim_program *p);
/* The bundled scenarios, relative to the working directory. */
#define CLI_BUNDLED_DIR "fixtures/scenarios"
/* Paths of CLI_BUNDLED_DIR/ *.scn, sorted, into paths[] (the caller frees
** each); 0 when the directory is not there. */
unsigned cli_bundled_scenarios(char **paths, unsigned max);
void cli_programs_free(void);
/* The sim config the options ask for (seed left to the caller). */
void cli_config(const cli_opts *o, sim_config *cfg);
/* Resolve --mutant against a program and switch it on (scenario programs
** only: the mutants live in the runtime core): AS_OK with *id (0 = none)
** or AS_INVAL with a message listing the mutants. */
AS_WUR int cli_mutant(const cli_opts *o, const sim_program *p, int *id, char *err, size_t cap);
/* "random" or "pct:d=3" -- the strategy as a replay command should spell it. */
void cli_strategy_text(const cli_opts *o, char *buf, size_t cap);
/* The command that replays seed `seed` of `scenario`, into buf. */
void cli_replay_text(char *buf, size_t cap, const char *argv0, const char *scenario,
                     uint64_t seed, const cli_opts *o);
/* Worker processes to use: --jobs, or one per online CPU. */
unsigned cli_jobs(const cli_opts *o);
/* Print the command that replays seed `seed` of `scenario`. */
void cli_print_replay(FILE *f, const char *argv0, const char *scenario, uint64_t seed,
                      const cli_opts *o);

int cmd_run(const cli_opts *o, const char *argv0);
int cmd_replay(const cli_opts *o, const char *argv0);
int cmd_sweep(const cli_opts *o, const char *argv0);
int cmd_selftest(const cli_opts *o, const char *argv0);
int cmd_bench(const cli_opts *o);
int cmd_list(const cli_opts *o);
int cmd_mutants(const cli_opts *o, const char *argv0);
void cli_help(FILE *f, cli_cmd which);

/* Report an error: "agentsim: MESSAGE" on stderr, and kept for the JSON
** error object main prints when --json was asked and the command printed
** none. */
void cli_error(const char *fmt, ...) AS_PRINTF(1, 2);
const char *cli_last_error(void);
/* A command printed its JSON object (so main must not print another). */
void cli_json_done(void);
int cli_json_printed(void);

/* JSON output helpers: a quoted, escaped string (invalid UTF-8 bytes become
** U+FFFD, so the output is always valid JSON). */
void json_str(FILE *f, const char *s);
/* The run's result as one JSON object on one line (no newline); determinism
** is "ok", "mismatch" or NULL (not checked). */
void json_result(FILE *f, const char *scenario, const cli_opts *o, const sim_config *cfg,
                 const sim_result *res, const char *replay, const char *determinism);

#endif

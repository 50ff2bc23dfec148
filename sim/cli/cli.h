/*
** cli.h -- the commands of the agentsim tool and what they share.
**
** Exit status (DESIGN.md section 9): 0 pass, 1 a failure found, 2 bad usage
** or bad input, 3 an internal error (out of memory, a failed fork).
*/
#ifndef AGENTSIM_CLI_H
#define AGENTSIM_CLI_H

#include <jansson.h>
#include <stdio.h>

#include "agentsim/app.h"
#include "agentsim/budget.h"
#include "agentsim/fmt.h"
#include "agentsim/store.h"
#include "args.h"
#include "sim.h"

enum { EXIT_PASS = 0, EXIT_FOUND = 1, EXIT_USAGE = 2, EXIT_INTERNAL = 3 };

/* The program a SCENARIO names: "selftest:NAME" or a scenario file's path
** (parsed; a malformed one gives NULL with "FILE:LINE:COL: expected ...").
** NULL with a message in err. Scenario programs live until
** cli_programs_free(). */
const sim_program *cli_find_program(const char *name, char *err, size_t cap);
/* With on, scenarios loaded from now on get swarm testing (--swarm): a
** `swarm` line with its defaults unless they have one. */
void cli_catalog_swarm(int on);
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
/* The command that replays seed `seed` of `scenario`, into buf. */
void cli_replay_text(char *buf, size_t cap, const char *argv0, const char *scenario,
                     uint64_t seed, const cli_opts *o);
/* Worker processes to use: --jobs, or one per online CPU. */
unsigned cli_jobs(const cli_opts *o);
/* Print the command that replays seed `seed` of `scenario`. */
void cli_print_replay(FILE *f, const char *argv0, const char *scenario, uint64_t seed,
                      const cli_opts *o);

/* Print "replay by schedule: ..." for a failing run's schedule. */
void cli_print_schedule_replay(FILE *f, const char *argv0, const char *scenario,
                               const char *schedule, const cli_opts *o);
/* The same command as text (the schedule inline, however long), into buf. */
void cli_schedule_replay_text(char *buf, size_t cap, const char *argv0, const char *scenario,
                              const char *schedule, const cli_opts *o);
/* Read a schedule from a file (--schedule @FILE): the string itself, or a
** "schedule: ..." line as run prints it; capped at SIM_SCHEDULE_MAX_LEN.
** AS_OK with *out malloc'd, or an error reported with cli_error. */
AS_WUR int cli_read_schedule_file(const char *path, char **out);
/* The scenario a scenario program runs (NULL for a self-test). */
const struct scenario *cli_program_scenario(const sim_program *p);

int cmd_run(const cli_opts *o, const char *argv0);
int cmd_shrink(const cli_opts *o, const char *argv0);
int cmd_replay(const cli_opts *o, const char *argv0);
int cmd_sweep(const cli_opts *o, const char *argv0);
/* `merge RESULT.json... [--junit FILE] [--json]` (cmd_merge.c): the shards'
** sweep JSON as one sweep; 0 pass, 1 failures, 2 refused or shards missing,
** 3 harness errors or the output could not be written. */
int cmd_merge(const cli_opts *o);
int cmd_selftest(const cli_opts *o, const char *argv0);
int cmd_bench(const cli_opts *o);
int cmd_list(const cli_opts *o);
int cmd_mutants(const cli_opts *o, const char *argv0);
/* check app DIR (cmd_check.c). */
int cmd_check(const cli_opts *o);
/* `parse envelope|json FILE|-`: 0 accepted, 1 refused, 2 a file that
** cannot be read, 3 out of memory. */
int cmd_parse(const cli_opts *o, const char *argv0);
/* `metrics --db PATH [--out FILE | --push URL [--job NAME]] [--budget DOLLARS]`
** (cmd_metrics.c): 0 written, 2 bad usage or a database that cannot be
** read, 3 the output could not be written or pushed. */
int cmd_metrics(const cli_opts *o);
/* `budget --db PATH [--json] [--budget DOLLARS] [--app DIR]` (cmd_budget.c):
** 0 printed, 2 bad usage or a database that cannot be read. */
int cmd_budget(const cli_opts *o);
/* `serve --app DIR --db PATH --llm SPEC [--listen HOST:PORT] [--budget D]
** [--prices FILE] [--grace DUR] [--queue N]` (cmd_serve.c): 0 after a clean drain, 2 bad
** usage, 3 the server could not start or drain. */
int cmd_serve(const cli_opts *o);
/* The budget the options name (--budget, AGENT_DAILY_BUDGET, --app, $5;
** the estimate from --app, else $0.15), errors reported as `cmd: ...`:
** AS_OK, or AS_PARSE/AS_NOTFOUND/AS_IO (bad usage), AS_NOMEM. */
AS_WUR int cli_budget_cfg(const cli_opts *o, const char *cmd, as_budget_cfg *cfg);
/* The same from an app already loaded (NULL: none). */
AS_WUR int cli_budget_from(const cli_opts *o, const char *cmd, const as_app *app,
                           as_budget_cfg *cfg);
/* Load the app in dir for cmd, every diagnostic reported (file:line:column:
** message, or file: message when it has no place): AS_OK, AS_PARSE, AS_NOMEM. */
AS_WUR int cli_load_app(const char *cmd, const char *dir, as_app **app);
/* Open the existing database at o->db for cmd (reported): NULL on failure,
** with *ex the exit status. */
as_store *cli_open_db(const cli_opts *o, const char *cmd, int *ex);
/* The help text: everything, one command's, or a topic's (o NULL: everything). */
void cli_help(FILE *f, const cli_opts *o);

/* Report an error: "agentsim: MESSAGE" on stderr, and kept for the JSON
** error object main prints when --json was asked and the command printed
** none. */
void cli_error(const char *fmt, ...) AS_PRINTF(1, 2);
const char *cli_last_error(void);
/* A command printed its JSON object (so main must not print another). */
void cli_json_done(void);
int cli_json_printed(void);

/* --- JSON, always through jansson (json.c) ------------------------------------ */

/* A JSON string of s, its invalid UTF-8 bytes made U+FFFD; NULL s is null.
** NULL when out of memory. */
json_t *cli_jstr(const char *s);
/* A seed: an integer, or its digits as a string past INT64_MAX. */
json_t *cli_jseed(uint64_t seed);
/* Set obj[key] = v (v's reference taken, even on failure); 1 on failure
** (obj or v NULL, or memory), else 0: `bad |= cli_jset(...)` keeps it sticky. */
int cli_jset(json_t *obj, const char *key, json_t *v);
int cli_jpush(json_t *arr, json_t *v);
/* Print obj as one line on stdout (a fixed error object instead when it
** could not be built: bad, or obj NULL), release it, and note that the
** command printed its JSON. AS_NOMEM when the fallback was printed. */
AS_WUR int cli_jemit(json_t *obj, int bad);
/* The error object of a command that failed before printing its own;
** AS_NOMEM when only the fixed fallback could be printed. */
AS_WUR int cli_json_error(const char *command, int ex);
/* "pass", "fail", or "error" for a harness error. */
const char *cli_result_word(const sim_result *res);
/* The run object of DESIGN.md section 9 (scenario as the user named it);
** determinism "ok", "mismatch" or NULL; divergence: where runs parted, or
** NULL. NULL when out of memory. */
json_t *cli_run_json(const char *scenario, const cli_opts *o, const sim_config *cfg,
                     const sim_result *res, const char *replay, const char *determinism,
                     const char *divergence);

#endif

/*
** timeline.h -- a recorded run (sim/evlog.h) shown to a person: the Chrome
** trace-event JSON that Perfetto and chrome://tracing open (--trace-json),
** and one self-contained HTML page to step through (--timeline).
** docs/timeline.md says what each shows.
**
** Time: a trace's ts is virtual time in microseconds plus one nanosecond
** per scheduling step taken (CLI_TL_STEP_US), so events at the same virtual
** time keep the stream's order and a lock held across steps but no virtual
** time still has a width. A run of S steps is drawn up to S ns longer than
** it took.
*/
#ifndef AGENTSIM_CLI_TIMELINE_H
#define AGENTSIM_CLI_TIMELINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "agentsim/status.h"
#include "evlog.h"
#include "sim.h"

/* The microseconds each scheduling step adds to a trace's ts: 1 ns. */
#define CLI_TL_STEP_US 0.001
/* The lane of events published outside any task. */
#define CLI_TL_SCHED_TID SIM_MAX_TASKS
/* Most sessions the page's table and mutexes a trace tracks; past them the
** rest are drawn without their holds. */
#define CLI_TL_MAX_SESSIONS 4096u
#define CLI_TL_MAX_MUTEXES (1u << 20)

/* What the outputs say of the run besides its events. */
typedef struct cli_tl_meta {
  const char *scenario; /* as the user named it */
  const char *command;  /* "run" or "replay" */
  const char *seed;     /* its digits, or NULL (a replay by schedule) */
  const char *strategy; /* as a replay command spells it */
  const char *mutant;   /* or NULL */
  uint64_t trace_hash;
  int scenario_kinds;   /* the program is a scenario: its events are the oracle's */
} cli_tl_meta;

/* The trace-event JSON object of the recorded run l (a new reference), or
** NULL when out of memory. */
json_t *cli_tl_trace(const sim_evlog *l, const cli_tl_meta *m);
/* The page (NUL-terminated, malloc'd: the caller frees it), or NULL when out
** of memory. */
char *cli_tl_html(const sim_evlog *l, const cli_tl_meta *m);
/* Before the run: whether path can be written (its directory exists and
** takes a new file; path is not a directory). AS_OK, or AS_IO with err
** naming the option, the path and why. */
AS_WUR int cli_tl_check_path(const char *opt, const char *path, char *err, size_t cap);
/* After it: write what was asked (html_path, json_path: NULL for none),
** each atomically (a temporary file renamed over it: nothing half-written),
** and name them on out. AS_OK, AS_NOMEM or AS_IO with err naming the path. */
AS_WUR int cli_tl_write(const sim_evlog *l, const cli_tl_meta *m, const char *html_path,
                        const char *json_path, FILE *out, char *err, size_t cap);

#endif

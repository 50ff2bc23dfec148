/*
** scenario.h -- scenario files: what a simulated run does.
**
** A scenario is a small line-oriented text file (fixtures/scenarios/NAME.scn).
** '#' starts a comment; blank lines are ignored; every other line is a
** directive, or an operation when it is indented under an `actor` line:
**
**   scenario NAME                      required, first directive
**   describe "TEXT"                    one line for humans (optional)
**   sessions N                         sessions made before the actors start (1..1024)
**   journal delete|truncate|persist|wal   SQLite journal mode (default delete)
**   limits [steps=N] [time=DUR]        step and virtual-time budgets
**   faults [read=PPM] [write=PPM] [full=PPM] [busy=PPM] [sync=PPM]
**                                      I/O fault rates, parts per million
**   legacy_escalate TOOL...            tools a finalize reads as escalated
**   actor NAME [count=N]               N concurrent tasks running the ops below
**       [repeat=N] OP [KEY=VALUE]...   an operation, N times (default 1)
**
** Operations (s= picks the session: a number 0..sessions-1, `any` for a
** fresh pick from the workload stream each time, or `all` for every session
** in turn):
**   start s=S                   in_progress (load, set, save; stale -> retry)
**   tool s=S name=TOOL          record an executed tool call (stale -> retry)
**   finalize s=S                finalize under the session lock
**   pause s=S                   mark a paused run awaiting_input
**   write s=S                   load, step, save: a writer racing others
**   checkpoint s=S [retry=N]    store a checkpoint for S (or S:retry-N, N <= 31)
**   gc                          checkpoint garbage collection
**   sleep d=DUR                 sleep in virtual time
**   crash                       power loss: unsynced writes lost; reopen
**
** Each directive but `actor` appears at most once.
** DUR is a number with a unit: ns, us, ms, s, m, h, d. Everything is capped
** (line length, names, counts); a malformed file is refused with its name,
** line, column and what was expected.
*/
#ifndef AGENTSIM_SCENARIO_H
#define AGENTSIM_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "agentsim/status.h"

#define SCN_MAX_BYTES (256u * 1024u)
#define SCN_MAX_LINE 1024u
#define SCN_MAX_NAME 64u
#define SCN_MAX_TEXT 256u
#define SCN_MAX_ACTORS 32u
#define SCN_MAX_OPS 128u     /* per actor */
#define SCN_MAX_COUNT 64u    /* tasks per actor */
#define SCN_MAX_REPEAT 10000u
#define SCN_MAX_SESSIONS 1024u
#define SCN_MAX_LEGACY 8u
#define SCN_MAX_RETRY 31u    /* checkpoint retry=N: the oracle tracks 0..31 */
#define SCN_MAX_TOOLS 64u    /* distinct tool names in `tool` operations */
#define SCN_ANY UINT32_MAX   /* s=any */
#define SCN_ALL (UINT32_MAX - 1) /* s=all */

/* X(NAME, keyword) */
#define SCN_OP_MAP(X)                                                         \
  X(START, "start")                                                           \
  X(TOOL, "tool")                                                             \
  X(FINALIZE, "finalize")                                                     \
  X(PAUSE, "pause")                                                           \
  X(WRITE, "write")                                                           \
  X(CHECKPOINT, "checkpoint")                                                 \
  X(GC, "gc")                                                                 \
  X(SLEEP, "sleep")                                                           \
  X(CRASH, "crash")

typedef enum scn_op_kind {
#define SCN__OP(name, kw) SCN_OP_##name,
  SCN_OP_MAP(SCN__OP)
#undef SCN__OP
  SCN__OP_COUNT
} scn_op_kind;

const char *scn_op_name(scn_op_kind k);

typedef struct scn_op {
  scn_op_kind kind;
  uint32_t session;   /* or SCN_ANY, SCN_ALL */
  uint32_t repeat;    /* >= 1 */
  uint32_t retry;     /* checkpoint: retry suffix N; 0 = none */
  uint64_t duration;  /* sleep: ns */
  char tool[SCN_MAX_NAME];
  unsigned line;      /* where it was written, for messages */
} scn_op;

typedef struct scn_actor {
  char name[SCN_MAX_NAME];
  uint32_t count;
  scn_op ops[SCN_MAX_OPS];
  uint32_t nops;
  unsigned line;
} scn_actor;

typedef struct scn_faults {
  uint32_t read, write, full, busy, sync; /* ppm */
} scn_faults;

typedef enum scn_journal { SCN_JOURNAL_DELETE, SCN_JOURNAL_TRUNCATE, SCN_JOURNAL_PERSIST, SCN_JOURNAL_WAL } scn_journal;

typedef struct scenario {
  char name[SCN_MAX_NAME];
  char describe[SCN_MAX_TEXT];
  uint32_t sessions;
  scn_journal journal;
  uint64_t max_steps;      /* 0: the sim's default */
  uint64_t max_virtual_ns; /* 0: the sim's default */
  scn_faults faults;
  char legacy[SCN_MAX_LEGACY][SCN_MAX_NAME];
  uint32_t nlegacy;
  uint32_t nactors;
  scn_actor actors[SCN_MAX_ACTORS]; /* last: everything before it is the header */
} scenario;

const char *scn_journal_name(scn_journal j);

/* Parse len bytes of text (need not be NUL-terminated). On error AS_PARSE
** (or AS_TOOBIG) and err holds "FILE:LINE:COL: expected ..." using `file`
** as the name, and *out is left empty (nactors 0, settings zeroed). On
** success the header and actors[0..nactors) are fully written; later actor
** slots are not touched. */
AS_WUR int scn_parse(const char *file, const char *text, size_t len, scenario *out, char *err,
                     size_t errcap);
/* Write sc back as scenario text (canonical: one directive a line, every
** setting spelled out), into a buffer of cap bytes. AS_TOOBIG when it does
** not fit. scn_parse of the result gives sc again. */
AS_WUR int scn_format(const scenario *sc, char *buf, size_t cap, size_t *len);

/* Read and parse a file (capped at SCN_MAX_BYTES); AS_IO when it cannot be
** read, with err naming the file and the reason. */
AS_WUR int scn_load(const char *path, scenario *out, char *err, size_t errcap);

#endif

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
**   synchronous off|normal|full|extra  SQLite synchronous level (default: the
**                                      store's durable level for the journal;
**                                      one that is not durable is refused)
**   limits [steps=N] [time=DUR]        step and virtual-time budgets
**   faults [read=PPM] [write=PPM] [full=PPM] [busy=PPM] [sync=PPM] [tear=PPM]
**                                      I/O fault rates, parts per million
**   latency off | latency KIND=LAT...  what each kind of disk I/O costs in
**                                      virtual time (default: a local SSD);
**                                      LAT is DUR, LO..HI or LO..HI+TAIL..MAX
**                                      (TAIL: N% or Nppm of calls cost
**                                      more than HI, up to MAX)
**   legacy_escalate TOOL...            tools a finalize reads as escalated
**   app PATH                           the app the sessions run (a directory
**                                      holding app.yaml; relative to the file)
**   script PATH                        the stub LLM's script (relative to the file)
**   llm cassette:PATH                  a recorded cassette as the LLM (sim/llm/cassette.h);
**                                      llm record:DIR,KIND,URL,MODEL[,stream][,structured]
**                                      records a real peer's answers into a new cassette
**   fields KEY=VALUE...                the sessions' fields when they are made
**   approval_timeout DUR               the watchdog's timeout (default: the app's)
**   budget limit=MONEY [estimate=MONEY] the daily budget and a cycle's default
**                                      estimate (dollars, at most six decimals)
**   prices PATH                        the price table (default
**                                      ../prices/default.json, relative to the file)
**   actor NAME [count=N]               N concurrent tasks running the ops below
**       [repeat=N] OP [KEY=VALUE]...   an operation, N times (default 1)
**
** The operations are one table, SCN_OP_MAP below: each row is an operation's
** keyword, the keys it takes (with their bounds), the runner's executor, the
** oracle's model step and one line of help. The parser, the canonical writer,
** the runner (runner.c), the oracle (oracle/) and the format reference
** (scn_write_reference, docs/scenarios.md) are all driven by it: a new
** operation is one new row, and the build fails until its executor and its
** model step exist.
**
** Each directive but `actor` appears at most once. DUR is a number with a
** unit: ns, us, ms, s, m, h, d. Everything is capped (line length, names,
** counts); storage grows with what a file declares. A malformed file is
** refused with its name, line, column and what was expected.
*/
#ifndef AGENTSIM_SCENARIO_H
#define AGENTSIM_SCENARIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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
#define SCN_MAX_RETRY 1000000u /* checkpoint retry=N */
#define SCN_MAX_DRAWS 100000u  /* actor draws=N */
#define SCN_MAX_WEIGHT 1000u   /* weight=N before an operation */
#define SCN_ANY UINT32_MAX     /* s=any */
#define SCN_ALL (UINT32_MAX - 1) /* s=all */
#define SCN_MAX_CRASH_IOS 1000000u /* crash ios=N */
#define SCN_CRASH_IOS_DEFAULT 100u
#define SCN_MAX_LATENCY_NS 1000000000ull /* one I/O call's cost, at most */
#define SCN_MAX_PATH 256u
#define SCN_MAX_FIELDS 16u
#define SCN_MAX_TICKS 100000u  /* watchdog ticks=N */
#define SCN_MONEY_MAX (1000000000ll * 1000000ll) /* $1e9, as budget.h's AS_MONEY_MAX */
#define SCN_ESTIMATE_DEFAULT 150000ll /* $0.15, as budget.h's default */
#define SCN_PRICES_DEFAULT "../prices/default.json" /* relative to the scenario file */

/* --- keys: KEY=VALUE settings of an operation ------------------------------- */

typedef enum scn_key_type {
  SCN_KT_SESSION,  /* a number below `sessions`, any or all */
  SCN_KT_NAME,     /* a name: letters, digits, _ - . : */
  SCN_KT_DURATION, /* a number and a unit */
  SCN_KT_COUNT,    /* a number in [lo, hi] */
  SCN_KT_STATE,    /* a tool call's state: executed (default), pending_approval,
                   ** rejected, timed_out */
  SCN_KT_THREAD,   /* a thread id: letters, digits, _ - . : */
  SCN_KT_WHEN,     /* when a crash happens: now (default) or random-io */
  SCN_KT_MONEY     /* dollars: "0.15", at most six decimals (micro-dollars) */
} scn_key_type;

/* scn_key.required: 0 optional, 1 required, SCN_ONE_OF: at least one of the
** operation's SCN_ONE_OF keys must be given. */
#define SCN_ONE_OF 2

/* Which field of scn_op a key sets. */
typedef enum scn_slot {
  SCN_SLOT_SESSION,
  SCN_SLOT_NAME,
  SCN_SLOT_DURATION,
  SCN_SLOT_RETRY,
  SCN_SLOT_STATE,
  SCN_SLOT_WHEN,
  SCN_SLOT_IOS,
  SCN_SLOT_API,
  SCN_SLOT_TICKS,
  SCN_SLOT_MONEY
} scn_slot;

typedef struct scn_key {
  const char *name;  /* "s" */
  scn_key_type type;
  scn_slot slot;
  uint64_t lo, hi;   /* SCN_KT_COUNT bounds */
  int required;      /* 0, 1 or SCN_ONE_OF */
  const char *help;  /* "SESSION" style placeholder and meaning */
} scn_key;

/* The keys operations take, as table entries. */
#define SCN_K_S {"s", SCN_KT_SESSION, SCN_SLOT_SESSION, 0, 0, 1, "the session: a number below `sessions`, `any` (a fresh pick each time) or `all` (each in turn)"},
#define SCN_K_NAME {"name", SCN_KT_NAME, SCN_SLOT_NAME, 0, 0, 1, "the tool's name (a terminal tool: mark_resolved, mark_escalated, or a legacy_escalate one)"},
#define SCN_K_STATE {"state", SCN_KT_STATE, SCN_SLOT_STATE, 0, 0, 0, "the call's state: executed (default), pending_approval, rejected or timed_out"},
#define SCN_K_RETRY {"retry", SCN_KT_COUNT, SCN_SLOT_RETRY, 1, SCN_MAX_RETRY, 0, "the retry thread N: the checkpoint of S:retry-N, or NAME:retry-N (1 to 1000000)"},
#define SCN_K_D {"d", SCN_KT_DURATION, SCN_SLOT_DURATION, 0, 0, 1, "a virtual duration, such as 5ms or 1h"},
#define SCN_K_D_OPT {"d", SCN_KT_DURATION, SCN_SLOT_DURATION, 0, 0, 0, "a virtual duration, such as 5ms or 1h"},
#define SCN_K_S_ONE_OF {"s", SCN_KT_SESSION, SCN_SLOT_SESSION, 0, 0, SCN_ONE_OF, "the session: a number below `sessions`, `any` (a fresh pick each time) or `all` (each in turn)"},
#define SCN_K_AT {"at", SCN_KT_WHEN, SCN_SLOT_WHEN, 0, 0, 0, "when the power fails: `now` (default), or `random-io`: at an I/O call drawn uniformly from the next ios= the run's tasks make (the operation returns at once; the crash lands inside another task's I/O)"},
#define SCN_K_IOS {"ios", SCN_KT_COUNT, SCN_SLOT_IOS, 1, SCN_MAX_CRASH_IOS, 0, "with at=random-io: how many upcoming I/O calls the crash is drawn from (1 to 1000000; default 100)"},
#define SCN_K_API {"api", SCN_KT_COUNT, SCN_SLOT_API, 0, 1, 0, "1: as an API caller: try-acquire the session's lock, and a busy session is the answer (HTTP 429 + Retry-After: 1), never a wait"},
#define SCN_K_TICKS {"ticks", SCN_KT_COUNT, SCN_SLOT_TICKS, 1, SCN_MAX_TICKS, 0, "how many watchdog ticks (1 to 100000; default 1)"},
#define SCN_K_EVERY {"every", SCN_KT_DURATION, SCN_SLOT_DURATION, 0, 0, 0, "the virtual time between two ticks (default 1s)"},
#define SCN_K_KIND {"kind", SCN_KT_NAME, SCN_SLOT_NAME, 0, 0, 0, "the error kind it stores (default unknown): any name, one the runtime does not know included"},
#define SCN_K_ESTIMATE {"estimate", SCN_KT_MONEY, SCN_SLOT_MONEY, 0, 0, 0, "the cycle's estimated cost in dollars, such as 0.15 (default: the budget's estimate)"},
#define SCN_K_THREAD {"thread", SCN_KT_THREAD, SCN_SLOT_NAME, 0, 0, SCN_ONE_OF, "a thread id of its own instead of S's (one of no session, which a GC must remove)"},

/* --- the operation table ----------------------------------------------------- */

/* X(NAME, keyword, keys, executor, model step, help) */
#define SCN_OP_MAP(X)                                                              \
  X(START, "start", SCN_K_S, exec_start, orc_model_start,                          \
    "move a new session to in_progress, under the session lock")                   \
  X(TOOL, "tool", SCN_K_S SCN_K_NAME SCN_K_STATE, exec_tool, orc_model_tool,       \
    "record a tool call in the session's history (load, append, save; a stale "    \
    "version is retried); a finished session takes none")                          \
  X(FINALIZE, "finalize", SCN_K_S, exec_finalize, orc_model_finalize,              \
    "settle the terminal status the executed tool calls imply, under the lock")    \
  X(PAUSE, "pause", SCN_K_S, exec_pause, orc_model_pause,                          \
    "mark a paused run awaiting_input, under the lock (never undoes a finalize)")  \
  X(FAIL, "fail", SCN_K_S SCN_K_KIND, exec_fail, orc_model_fail,                  \
    "a run failed: mark the session error with the kind and a cause of its own, "  \
    "under the lock (never undoes a finalize)")                                    \
  X(WRITE, "write", SCN_K_S, exec_write, orc_model_write,                          \
    "load, take a scheduling step, save new extra fields: a writer racing others") \
  X(CHECKPOINT, "checkpoint", SCN_K_S_ONE_OF SCN_K_RETRY SCN_K_THREAD, exec_checkpoint, \
    orc_model_checkpoint,                                                          \
    "store the checkpoint of thread S (or S:retry-N), or of thread NAME: one of s= " \
    "or thread=; each store writes bytes of its own")                              \
  X(GC, "gc", , exec_gc, orc_model_gc,                                             \
    "remove every checkpoint whose base session is not active")                    \
  X(HOLD, "hold", SCN_K_S SCN_K_D, exec_hold, orc_model_hold,                      \
    "take the session lock, keep it for the duration, release it")                \
  X(TRY, "try", SCN_K_S SCN_K_D_OPT, exec_try, orc_model_try,                      \
    "try-acquire the session lock without waiting (refused while anyone holds it); " \
    "with d, a granted lock is kept that long and its holder tries again meanwhile " \
    "(which must be refused too)")                                                 \
  X(NOTE, "note", SCN_K_S, exec_note, orc_model_note,                              \
    "append a note event to the session's log without the lock, as an agent's "   \
    "progress report does")                                                        \
  X(TURN, "turn", SCN_K_S SCN_K_NAME, exec_turn, orc_model_turn,                   \
    "one agent run under the session lock: start, record the tool call, then "     \
    "finalize (which takes the lock again, re-entrantly)")                         \
  X(RUN, "run", SCN_K_S SCN_K_API, exec_run, orc_model_run,                      \
    "run the app's agents on the session (needs `app`): LLM calls, tool calls "     \
    "through the gateway, routes, until the run pauses for an approval, ends "     \
    "(finalized) or fails, holding the session lock throughout")                   \
  X(APPROVE, "approve", SCN_K_S SCN_K_API, exec_approve, orc_model_approve,         \
    "approve the session's newest requested approval and resume the run, under "   \
    "the lock; one already resolved answers `already resolved`")                   \
  X(REJECT, "reject", SCN_K_S SCN_K_API, exec_reject, orc_model_reject,             \
    "reject the session's newest requested approval and resume the run (the "      \
    "model hears it was rejected)")                                                \
  X(RETRY, "retry", SCN_K_S SCN_K_API, exec_retry, orc_model_retry,               \
    "retry the session (needs `app`): refused at once while another retry of it is " \
    "in flight, else under its lock refused unless it is in error and the app's "   \
    "retry policy allows it (each refusal recorded), else retry_count + 1 and the " \
    "app's agents run afresh on thread S:retry-N")                                 \
  X(PREVIEW, "preview", SCN_K_S, exec_preview, orc_model_preview,                   \
    "ask what a retry of the session would answer now (needs `app`), changing "    \
    "nothing: no write, no lock")                                                  \
  X(CANCEL, "cancel", SCN_K_S, exec_cancel, orc_model_cancel,                       \
    "cancel the session's running run (needs `app`): it stops at its next "        \
    "scheduling point and ends error, kind cancelled; a session with no run "      \
    "running answers that, changing nothing")                                      \
  X(WATCHDOG, "watchdog", SCN_K_TICKS SCN_K_EVERY, exec_watchdog, orc_model_watchdog, \
    "approval watchdog ticks: every pending approval older than the timeout is "   \
    "resolved as timed out and its run resumed; a busy session is skipped")        \
  X(SLEEP, "sleep", SCN_K_D, exec_sleep, orc_model_sleep, "sleep in virtual time") \
  X(CRASH, "crash", SCN_K_AT SCN_K_IOS, exec_crash, orc_model_crash,               \
    "power loss, now or at a random upcoming I/O call: what was not synced is lost "\
    "(data, and names and unlinks without a directory sync) unless torn in, a call " \
    "in flight never happens; the database is reopened and recovered")             \
  X(TRIGGER, "trigger", SCN_K_S SCN_K_ESTIMATE SCN_K_API, exec_trigger, orc_model_trigger, \
    "a budget cycle (needs `budget`): reserve the estimate in the transaction that "   \
    "checks the day's budget, then run the session's agents; refused with "          \
    "budget_exhausted when the day cannot afford it, cycle_in_progress while the "    \
    "session's last cycle is open")                                                  \
  X(SETTLE, "settle", SCN_K_S, exec_settle, orc_model_settle,                        \
    "settle the session's latest cycle again, as a caller retrying a settle after a " \
    "timeout does: a closed cycle answers unchanged and nothing is written")         \
  X(RECOVER, "recover", , exec_recover, orc_model_recover,                           \
    "restart recovery: release every open reservation whose session is not "          \
    "awaiting_input (outcome recovered), as startup after a crash does")             \
  X(SCRAPE, "scrape", , exec_scrape, orc_model_scrape,                               \
    "read the budget's status (today's spend, held, remaining, records) as a "        \
    "scrape does; the oracle compares it with its ledger")                           \
  X(FLUSH, "flush", , exec_flush, orc_model_flush,                                   \
    "hand the spans collected so far to the oracle: the ledger must equal the "       \
    "leaf spans' usage priced by each record's price version")

typedef enum scn_op_kind {
#define SCN__OP(NAME, kw, keys, exec, model, help) SCN_OP_##NAME,
  SCN_OP_MAP(SCN__OP)
#undef SCN__OP
  SCN__OP_COUNT
} scn_op_kind;

/* One row of the table, as the parser and the writer see it. */
typedef struct scn_opdef {
  const char *keyword;
  const scn_key *keys; /* ends with a NULL name */
  const char *help;
} scn_opdef;

extern const scn_opdef scn_ops[SCN__OP_COUNT];

const char *scn_op_name(scn_op_kind k);
/* The tool-call states SCN_KT_STATE names, in as_tool_state order. */
#define SCN_NSTATES 4
extern const char *const scn_tool_states[SCN_NSTATES];

typedef struct scn_op {
  scn_op_kind kind;
  uint32_t repeat;    /* >= 1 */
  uint32_t weight;    /* in an actor with draws: how often it is drawn, >= 1 */
  unsigned line;      /* where it was written, for messages */
  uint32_t session;   /* or SCN_ANY, SCN_ALL */
  uint64_t duration;  /* ns */
  uint64_t retry;     /* 0: none */
  unsigned state;     /* index in scn_tool_states; 0 executed */
  unsigned when;      /* crash at=: SCN_WHEN_NOW or SCN_WHEN_RANDOM_IO */
  uint64_t ios;       /* crash ios=; 0: SCN_CRASH_IOS_DEFAULT */
  uint64_t api;       /* api=1: try-acquire */
  uint64_t ticks;     /* watchdog ticks=; 0: 1 */
  int64_t money;      /* trigger estimate=, micro-dollars; 0: the budget's */
  char name[SCN_MAX_NAME];
} scn_op;

/* The words of SCN_KT_WHEN, in scn_op.when order. */
enum { SCN_WHEN_NOW, SCN_WHEN_RANDOM_IO, SCN_NWHEN };
extern const char *const scn_whens[SCN_NWHEN];

typedef struct scn_actor {
  char name[SCN_MAX_NAME];
  uint32_t count;
  uint32_t draws;     /* 0: the operations in order; N: N operations drawn
                      ** by weight (a generated actor), each task its own */
  unsigned line;
  scn_op *ops; /* owned */
  size_t nops, capops;
} scn_actor;

typedef struct scn_faults {
  uint32_t read, write, full, busy, sync; /* ppm */
  uint32_t tear; /* ppm: an unsynced sector or length survives power loss */
} scn_faults;

/* X(NAME, name) -- the kinds of disk I/O a `latency` line sets (the
** simulated disk's, simdb.h SIMDB_IO_MAP, by name). */
#define SCN_IO_MAP(X)                                                          \
  X(OPEN, "open") X(READ, "read") X(WRITE, "write") X(TRUNCATE, "truncate")     \
  X(SYNC, "sync") X(SIZE, "size") X(LOCK, "lock") X(DELETE, "delete")          \
  X(ACCESS, "access") X(SHM, "shm")

typedef enum scn_io_kind {
#define SCN__IO(NAME, name) SCN_IO_##NAME,
  SCN_IO_MAP(SCN__IO)
#undef SCN__IO
  SCN__IO_COUNT
} scn_io_kind;

extern const char *const scn_io_names[SCN__IO_COUNT];

/* One kind's cost: uniform in [lo, hi] ns, or with probability tail_ppm
** / 1e6 in (hi, tail_hi]. */
typedef struct scn_lat {
  uint64_t lo, hi, tail_hi;
  uint32_t tail_ppm;
} scn_lat;

/* The `latency` line: nothing given (the disk's defaults), `off`, or some
** kinds set (bit k of `given`), the others left at the defaults. */
typedef struct scn_latency {
  int off;
  unsigned given;
  scn_lat kind[SCN__IO_COUNT];
} scn_latency;

/* Swarm testing (`swarm`, or --swarm): each seed chooses, before any task,
** which of the operations in `may_off` are on, each generated actor's
** weights, each actor's task count in [min_count, count] and, with
** vary_faults, which fault kinds are on and at what rate up to the one the
** scenario gives. */
typedef struct scn_swarm {
  int on;
  uint32_t min_count;                    /* >= 1 */
  int vary_faults;
  int ops_given;                         /* ops= was written (or resolved) */
  unsigned char may_off[SCN__OP_COUNT];  /* 1: a seed may switch it off */
} scn_swarm;

typedef enum scn_journal { SCN_JOURNAL_DELETE, SCN_JOURNAL_TRUNCATE, SCN_JOURNAL_PERSIST, SCN_JOURNAL_WAL } scn_journal;
/* SCN_SYNC_DEFAULT: the store chooses (as_store_opts.synchronous NULL). */
typedef enum scn_sync { SCN_SYNC_DEFAULT, SCN_SYNC_OFF, SCN_SYNC_NORMAL, SCN_SYNC_FULL, SCN_SYNC_EXTRA } scn_sync;

/* A parsed scenario. It owns its arrays: release with scn_clear. A zeroed
** one is a valid empty scenario. */
/* One `fields` setting. */
typedef struct scn_field {
  char key[SCN_MAX_NAME];
  char value[SCN_MAX_NAME];
} scn_field;

typedef struct scenario {
  char name[SCN_MAX_NAME];
  char describe[SCN_MAX_TEXT];
  uint32_t sessions;
  scn_journal journal;
  scn_sync synchronous;
  uint64_t max_steps;      /* 0: the sim's default */
  uint64_t max_virtual_ns; /* 0: the sim's default */
  scn_faults faults;
  scn_latency latency;
  scn_swarm swarm;
  char base[SCN_MAX_PATH];  /* the file's directory: app and script are relative to it */
  char app[SCN_MAX_PATH];   /* as written; "" for none */
  char script[SCN_MAX_PATH];
  char cassette[SCN_MAX_PATH]; /* `llm cassette:PATH`, as written; "" for none */
  int llm_record;               /* the line was `llm record:SPEC` (cassette holds SPEC) */
  scn_field fields[SCN_MAX_FIELDS];
  size_t nfields;
  uint64_t approval_timeout_ns; /* 0: the app's */
  int budget;                   /* a `budget` line was given */
  int64_t daily_limit_micros;   /* its limit= */
  int64_t cycle_estimate_micros; /* its estimate= (0: SCN_ESTIMATE_DEFAULT) */
  char prices[SCN_MAX_PATH];    /* as written; "": SCN_PRICES_DEFAULT */
  char (*legacy)[SCN_MAX_NAME]; /* owned */
  size_t nlegacy, caplegacy;
  scn_actor *actors;            /* owned */
  size_t nactors, capactors;
} scenario;

const char *scn_journal_name(scn_journal j);
/* "off", "normal", "full", "extra"; NULL for SCN_SYNC_DEFAULT. */
const char *scn_sync_name(scn_sync s);

/* Parse len bytes of text (need not be NUL-terminated) into *out (storage,
** overwritten without being released). On success *out owns what it holds
** (scn_clear). On error AS_PARSE (or AS_TOOBIG, AS_NOMEM) with err holding
** "FILE:LINE:COL: expected ..." using `file` as the name, and *out is empty
** and owns nothing. */
AS_WUR int scn_parse(const char *file, const char *text, size_t len, scenario *out, char *err,
                     size_t errcap);
/* Switch swarm testing on with its defaults (the `swarm` directive alone):
** every operation the actors use may be switched off, counts down to 1,
** fault rates vary. A scenario that has a `swarm` line keeps it. */
void scn_swarm_default(scenario *sc);
/* Release what sc owns and zero it; NULL is a no-op. */
void scn_clear(scenario *sc);
/* A deep copy of src into *dst (storage). AS_NOMEM leaves *dst empty. */
AS_WUR int scn_copy(scenario *dst, const scenario *src);
/* Write sc back as scenario text (canonical: one directive a line, every
** setting spelled out), into a buffer of cap bytes. AS_TOOBIG when it does
** not fit. scn_parse of the result gives sc again (line numbers aside). */
AS_WUR int scn_format(const scenario *sc, char *buf, size_t cap, size_t *len);
/* Whether two scenarios say the same thing (line numbers aside). */
int scn_equal(const scenario *a, const scenario *b);

/* Dollars ("12.5", "0.000001", "5") into micro-dollars, exactly: digits, an
** optional point and at most six decimals, at most SCN_MONEY_MAX. AS_PARSE
** otherwise. (The harness's own reading; the oracle uses it too.) */
AS_WUR int scn_money_parse(const char *s, size_t len, int64_t *micros);
/* micros as the shortest exact dollar text ("0.15", "5"), into buf. */
void scn_money_text(char *buf, size_t cap, int64_t micros);

/* Read and parse a file (capped at SCN_MAX_BYTES); AS_IO when it cannot be
** read, with err naming the file and the reason. */
AS_WUR int scn_load(const char *path, scenario *out, char *err, size_t errcap);

/* The format's reference, generated from the operation table: the
** directives, then every operation with its keys and help. markdown nonzero
** writes the tables docs/scenarios.md holds (between its "generated" marks). */
void scn_write_reference(FILE *f, int markdown);

#endif

/*
** oracle.h -- the independent oracle of scenario runs (DESIGN.md section 6).
**
** The oracle keeps its own reference model of every session, lock and
** checkpoint, written from the specification (spec.h), and never calls
** runtime code to form an expectation. It takes its evidence from two
** places, both as events on the run's stream (stream.h), judged the moment
** they arrive:
**
**   the database itself   audit.c installs SQLite hooks on every connection
**                         of a run: each row a transaction changes (the
**                         pre-update hook, old and new values), the commit,
**                         its confirmation, the rollback. So the model moves
**                         with what was committed, not with what the runtime
**                         says it did.
**   the runner            what each operation was asked to do (ORC_EV_OP)
**                         and what the runtime answered (ORC_EV_ACK), and what
**                         the session-lock registry did (ORC_EV_LOCK). The
**                         answers are judged against the model, never used to
**                         form it.
**
** Every committed transaction is checked by the generic rules (versions,
** terminal statuses, status events, lock scope, history) and by the model
** step of the operation that made it (the operation table's model column,
** scenario.h); every answer by that step's acknowledgement check. At
** quiescence the database is read back, raw, and must be exactly the model.
**
** The first violation is kept, named by its check (ORC_CHECK_MAP): the
** runner's invariant hook reports it. A check that cannot look at what it
** needs is a harness error (orc_quiescence returns SIM_HARNESS).
*/
#ifndef AGENTSIM_ORACLE_H
#define AGENTSIM_ORACLE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "agentsim/status.h"
#include "sim.h"

/* X(NAME, name, what it holds) -- the checks. Names appear in messages and
** in the kill table; they are stable. */
#define ORC_CHECK_MAP(X)                                                           \
  X(LOCK_EXCLUSIVE, "lock-exclusive",                                              \
    "no two tasks hold one session's lock at once (re-entry by the holder aside)") \
  X(LOCK_TRY, "lock-try",                                                          \
    "a try-acquire is refused exactly when some task, the caller included, holds the lock") \
  X(LOCK_RELEASE, "lock-release", "only the holder releases, once per acquire")    \
  X(LOCK_SCOPE, "lock-scope",                                                      \
    "every status-changing commit is made by the task holding that session's lock") \
  X(LOCK_EVICT, "lock-evict",                                                      \
    "at quiescence the lock registry keeps no entry: unused entries are evicted")  \
  X(TX_SCOPE, "tx-scope",                                                          \
    "an operation that answers leaves no transaction open on its connection")      \
  X(EVIDENCE, "evidence",                                                          \
    "each commit starts from the state the model committed last (none lost, none unseen)") \
  X(VERSION, "version-step", "a committed save raises the version by exactly one") \
  X(STALE_SAVE, "stale-save", "a save commits over exactly the version it was loaded at") \
  X(TERMINAL, "terminal-left",                                                     \
    "a terminal status is never left (but error, by an accepted retry)")                  \
  X(STATUS_EVENT, "status-event",                                                  \
    "a status change commits with one status_changed event from the old status to the new") \
  X(EVENT_SEQ, "event-seq", "event seqs are contiguous; events are never changed or removed") \
  X(HISTORY, "tool-history",                                                       \
    "a save keeps the tool-call history it loaded, adding only its own call")      \
  X(CONTENT, "write-content", "a write commits exactly the content it was given") \
  X(INFER, "finalize-inference",                                                   \
    "finalize commits the status the executed history implies, newest call first") \
  X(OUTCOME, "outcome",                                                            \
    "an operation's answer agrees with the model: a finalize that returned success left " \
    "the session terminal, a pause awaiting_input, versions and counts as committed") \
  X(STALE_ESCAPED, "stale-escaped",                                                \
    "finalize, pause and fail settle version conflicts themselves (no AS_STALE escapes)") \
  X(REASON, "reason",                                                              \
    "needs_review carries its reason, in the row and in its status_changed event; " \
    "other statuses none; a later save keeps it")                                  \
  X(TIME, "time-stamp",                                                            \
    "a commit stamps the time it was made: updated_ns, an event's at_ns and a "     \
    "checkpoint's updated_ns fall between its operation's start and the commit; "  \
    "created_ns never changes")                                                    \
  X(GC, "gc-exact",                                                                \
    "a GC removes exactly the checkpoints whose base session is inactive in its transaction") \
  X(OP_SCOPE, "op-scope",                                                          \
    "every commit belongs to an operation and is the kind of change that operation makes") \
  X(LOST, "lost-write", "at quiescence the database holds exactly what was committed") \
  X(GATE, "gate",                                                                  \
    "a call the gate policy gates is never carried out before its approval; its "   \
    "pending row commits in the transaction that marks the session awaiting_input, " \
    "and a pause commits a pending row")                                           \
  X(APPROVAL, "approval-once",                                                     \
    "an approval resolves a pending call exactly once, to the state its decision "  \
    "names, and only the approved call is carried out; the watchdog times out only " \
    "calls that waited the timeout")                                               \
  X(INJECT, "injected-args",                                                       \
    "every recorded call's injected arguments hold the session's values")          \
  X(PATCH, "patch-scope",                                                          \
    "a tool call never changes the status; patch_session never sets status, "      \
    "resolution or escalation; after a typed terminal call in one answer, a patch " \
    "in that answer leaves confidence and rationale as the terminal call set them") \
  X(ROUTE, "route",                                                                \
    "the route taken is the app's route for the agent and signal (or its default); " \
    "an emitted confidence lies in [0, 1]; every agent run that ends has an "       \
    "envelope or an envelope_missing error")                                        \
  X(RETRY_ONCE, "retry-once",                                                      \
    "at most one retry of a session is in flight (the registry's own account: no "  \
    "second entry before the first leaves, and a retry leaves only once it released " \
    "the lock); a retry or preview is answered already in progress only while "    \
    "another is in flight, and then writes nothing; a preview during a whole retry " \
    "is answered so")                                                               \
  X(RETRY_COUNT, "retry-count",                                                    \
    "retry_count rises by exactly one with each accepted retry (its retry_started " \
    "commit, on thread <id>:retry-N) and never otherwise; a run checkpoints the "   \
    "thread its session's retry_count names")                                      \
  X(RETRY_START, "retry-start",                                                    \
    "an accepted retry starts only from error (the model's status) and moves it to " \
    "in_progress, clearing the error kind and cause")                              \
  X(RETRY_DECISION, "retry-decision",                                              \
    "every retry decision (a retry_started is auto_retry; a retry_rejected's reason; " \
    "the answers of retry and preview) is the oracle's own should_retry on the "    \
    "model's state and the app's retry policy")                                    \
  X(PREVIEW, "preview-pure", "a preview commits nothing, takes no lock and is never busy") \
  X(CANCEL, "cancel",                                                              \
    "a run registers holding its session's lock; a run stops for a cancel only once " \
    "marked, and then makes no LLM request or tool call more and ends error with "  \
    "kind cancelled, holding no lock and no "                                       \
    "in-flight retry at its answer; a cancel answers not-running exactly when the " \
    "registry had no run of the session")                                          \
  X(ERROR_KIND, "error-kind",                                                      \
    "an error row carries its failure's kind (one the spec knows, for the "        \
    "runtime's own failures; the one given, for fail) and a cause, as its "        \
    "status_changed event says; other rows carry neither")                         \
  X(TURN_CAP, "turn-cap", "no agent run makes more LLM calls than its agent's max_calls") \
  X(RUNS_EVICT, "runs-evict",                                                      \
    "at quiescence the runs registry (in-flight retries, running runs) keeps no entry") \
  X(BUDGET_LIMIT, "budget-limit",                                                  \
    "at every reservation's commit the day's ledger spend plus what its open "        \
    "reservations hold (each its estimate less its cycle's ledger cost, at least 0) " \
    "plus the new estimate stays within the daily limit; a reservation is made by a " \
    "trigger, for a session with none open, as <session>:cycle-<k>, on the day of "   \
    "the wall clock")                                                              \
  X(BUDGET_CLOSE, "budget-close",                                                  \
    "every run ending closes the session's open reservation: an ended run settles it " \
    "(completed), a failed run releases it (failed or cancelled), an idle run "      \
    "releases it (idle), a paused run keeps it; recovery releases exactly those of "  \
    "sessions not awaiting_input (recovered)")                                      \
  X(BUDGET_QUIESCE, "budget-quiesce",                                              \
    "at quiescence every reservation is settled or released, but those of sessions " \
    "awaiting_input")                                                              \
  X(SETTLE_ONCE, "settle-once",                                                    \
    "a closed reservation never changes: a repeated settle or release writes nothing " \
    "and answers unchanged")                                                        \
  X(SPEND_DURABLE, "spend-durable",                                                \
    "ledger records are never changed, replaced or removed (crash and restart "      \
    "included); a day's records are numbered 1, 2, ...; at quiescence the database " \
    "holds every committed record and reservation exactly")                        \
  X(LEDGER_MATCH, "ledger-match",                                                  \
    "a closed reservation's settled amount is its cycle's ledger cost then; a "       \
    "scrape's spend, held, remaining, affordable cycles and records are the "        \
    "ledger's; the flushed leaf spans' usage, priced by each span's price version, " \
    "equals the ledger's LLM cost")                                                \
  X(LEDGER_LEAF, "ledger-leaf",                                                    \
    "one record per leaf operation and none else: an llm_call record for each LLM "   \
    "answer the stub gave (its session, agent and model), a tool_call record for each " \
    "app tool the world carried out")                                              \
  X(COST_EXACT, "cost-exact",                                                      \
    "each record's cost is its buckets times its model's prices in the price table "  \
    "of its version (ceil of the sum over 1e6), a tool call the table's tool price")  \
  X(USAGE_EXACT, "usage-exact",                                                    \
    "each llm_call record's buckets are the LLM's reported usage converted by the "  \
    "oracle's reading of the spec (input = prompt - cache reads - cache writes), "   \
    "estimated exactly when it reported none")                               \
  X(BUDGET_DAY, "budget-day",                                                      \
    "a record made while its session holds an open reservation is billed to that "   \
    "reservation's day and carries its op_id; any other carries op_id \"\" and the "  \
    "day of its own time")                                                         \
  X(TRIGGER_ANSWER, "trigger-answer",                                              \
    "a trigger's answer agrees with the model: accepted with the op_id it reserved, " \
    "the remaining before it and its estimate; budget_exhausted exactly when the "   \
    "day could not afford it (its budget_rejected event saying so); "                \
    "cycle_in_progress only while the session had an open reservation")            \
  X(SPAN_USAGE, "span-usage",                                                      \
    "usage sits only on the leaf LLM spans (chat <model>), whose cost attribute is "  \
    "their usage priced by their price version")

typedef enum orc_check {
#define ORC__CK(NAME, name, what) ORC_CK_##NAME,
  ORC_CHECK_MAP(ORC__CK)
#undef ORC__CK
  ORC__CK_COUNT
} orc_check;

const char *orc_check_name(orc_check c);
const char *orc_check_what(orc_check c);
/* The checks as a reference: a markdown table (docs/oracle.md holds it
** between its generated marks) or text filled to 80 columns. */
void orc_write_checks(FILE *f, int markdown);

/* --- the events the oracle consumes ------------------------------------------ */

/* X(NAME, text) */
#define ORC_EVENT_MAP(X)                                                      \
  X(CONN, "db-open")          /* a connection opened: object conn */          \
  X(ROW, "db-row")            /* a row is about to change: ref orc_row */     \
  X(COMMITTING, "db-commit")  /* object conn commits (commit hook) */         \
  X(COMMITTED, "db-committed") /* ... and the commit went through */          \
  X(ROLLBACK, "db-rollback")  /* object conn's transaction rolled back */     \
  X(LOCK, "session-lock")     /* label key, extra orc_lock_event */           \
  X(OP, "op")                 /* a task starts an operation: ref orc_op */    \
  X(ACK, "ack")               /* the runtime answered it: ref orc_op */         \
  X(TX, "db-tx")              /* object conn opened (extra 1) or ended (0) a  \
                              ** transaction */                                 \
  X(EXEC, "tool-exec")        /* the world carried out an app tool: ref orc_exec */ \
  X(RUNS, "runs")             /* label key, extra orc_runs_event: the runs       \
                              ** registry's account */                          \
  X(LLM, "llm-call")          /* a run asked the model: ref orc_llm */           \
  X(LLM_ANSWER, "llm-answer") /* ... and the stub answered: ref orc_llm_answer */ \
  X(SPAN, "span")             /* a run's span ended: ref orc_span */

enum {
  ORC_EV_BASE = SIM_EV_PROGRAM,
#define ORC__EV(NAME, text) ORC_EV_##NAME,
  ORC__EV_FIRST = ORC_EV_BASE - 1,
  ORC_EVENT_MAP(ORC__EV)
#undef ORC__EV
  ORC__EV_END
};

/* What the lock registry did (the runner translates its observer's events). */
typedef enum orc_lock_event {
  ORC_LOCK_ACQUIRED,     /* a blocking acquire returned holding it (re-entry too) */
  ORC_LOCK_TRY_ACQUIRED, /* a try-acquire took it */
  ORC_LOCK_TRY_REFUSED,  /* a try-acquire was refused */
  ORC_LOCK_RELEASED      /* one acquire undone */
} orc_lock_event;

/* What the runs registry did (retry.h's as_runs_event, translated). */
typedef enum orc_runs_event {
  ORC_RUNS_RETRY_ENTERED, /* a retry of key went in flight */
  ORC_RUNS_RETRY_REFUSED, /* one was in flight already: refused */
  ORC_RUNS_RETRY_LEFT,    /* the retry left the set */
  ORC_RUNS_RUN_BEGAN,     /* a run of key began */
  ORC_RUNS_RUN_ENDED,     /* ... and ended */
  ORC_RUNS_CANCEL_MARKED, /* a cancel found key running and marked it */
  ORC_RUNS_CANCEL_IDLE,   /* a cancel found no run of key */
  ORC_RUNS_CANCEL_SEEN    /* a marked run noticed, and stops */
} orc_runs_event;

/* One LLM request of a run (the runner's provider wrapper). */
typedef struct orc_llm {
  const char *session, *agent;
  unsigned call, attempt;
} orc_llm;

/* What the stub answered an LLM request: what a provider reports,
** inclusively (prompt holds the cache reads and writes). */
typedef struct orc_llm_answer {
  const char *session, *agent, *model;
  unsigned call, attempt;
  int rc;            /* the provider's status: AS_OK an answer */
  int usage_known;   /* 0: the stub reported no usage */
  int64_t prompt, cache_read, cache_write, completion;
} orc_llm_answer;

/* A span a run ended (the runner copies trace.h's as_span into this, so the
** oracle needs no runtime header). Strings borrowed for the event. */
typedef struct orc_span_attr {
  const char *key;
  const char *s; /* a string value, or NULL: the integer i */
  int64_t i;
} orc_span_attr;

typedef struct orc_span {
  const char *name;
  const orc_span_attr *attrs;
  size_t nattrs;
} orc_span;

/* The audited tables and their columns, in the oracle's order. */
typedef enum orc_table { ORC_T_SESSIONS, ORC_T_CALLS, ORC_T_EVENTS, ORC_T_CHECKPOINTS, ORC_T_COSTS,
                         ORC_T_RESERVATIONS, ORC__T_COUNT } orc_table;
enum { ORC_SC_ID, ORC_SC_STATUS, ORC_SC_VERSION, ORC_SC_RETRY, ORC_SC_REASON, ORC_SC_EXTRA,
       ORC_SC_CREATED, ORC_SC_UPDATED, ORC_SC_KIND, ORC_SC_CAUSE };
enum { ORC_TC_SESSION, ORC_TC_IDX, ORC_TC_TOOL, ORC_TC_ARGS, ORC_TC_RESULT, ORC_TC_STATE };
enum { ORC_EC_SESSION, ORC_EC_SEQ, ORC_EC_KIND, ORC_EC_PAYLOAD, ORC_EC_AT };
enum { ORC_CC_THREAD, ORC_CC_DATA, ORC_CC_UPDATED };
enum { ORC_KC_DAY, ORC_KC_SEQ, ORC_KC_OP, ORC_KC_LEAF, ORC_KC_SESSION, ORC_KC_AGENT, ORC_KC_NAME,
       ORC_KC_INPUT, ORC_KC_CACHE_READ, ORC_KC_CACHE_WRITE, ORC_KC_OUTPUT, ORC_KC_ESTIMATED,
       ORC_KC_PRICE_VERSION, ORC_KC_COST, ORC_KC_DURATION, ORC_KC_AT, ORC__KC_COUNT };
enum { ORC_BC_OP, ORC_BC_SESSION, ORC_BC_DAY, ORC_BC_ESTIMATE, ORC_BC_STATE, ORC_BC_OUTCOME,
       ORC_BC_SETTLED, ORC_BC_OPENED, ORC_BC_CLOSED, ORC__BC_COUNT };
#define ORC_MAX_COLS 16

typedef enum orc_row_op { ORC_INSERT, ORC_UPDATE, ORC_DELETE } orc_row_op;

/* A column's type when SQLite could not produce its value (out of memory). */
#define ORC_VAL_UNREADABLE (-1)

/* A column value as SQLite gave it (text borrowed for the event's duration). */
typedef struct orc_val {
  int type;       /* SQLITE_INTEGER, SQLITE_TEXT, ... or ORC_VAL_UNREADABLE */
  int64_t i;
  const char *t;  /* text or blob bytes */
  size_t n;
} orc_val;

/* One changed row: old values for UPDATE and DELETE, new for INSERT and UPDATE. */
typedef struct orc_row {
  uint32_t conn;
  orc_table table;
  orc_row_op op;
  orc_val old[ORC_MAX_COLS], nw[ORC_MAX_COLS];
} orc_row;

/* An app tool the world carried out (the runner's tool server). */
typedef struct orc_exec {
  const char *session, *tool, *args;
  int fail; /* the status the server failed with (the script's fail=), AS_OK none */
} orc_exec;

/* How an agents' run ended, as the runner reports it (ACK). */
enum { ORC_RUN_NONE, ORC_RUN_ENDED, ORC_RUN_PAUSED, ORC_RUN_FAILED, ORC_RUN_IDLE };

/* --- the app, as the oracle reads it ------------------------------------------------ */

/* What the oracle knows of a scenario's app: the runner copies it from the
** app file's contents (names, risks, routes, policy values: data, not
** decisions), and the oracle draws its own conclusions from it. */
#define ORC_APP_NAME 128
#define ORC_APP_TOOLS 128
#define ORC_APP_ROUTES 544 /* 32 agents, 16 routes and a default each */
#define ORC_APP_AGENTS 32
#define ORC_APP_INJECT 16
#define ORC_APP_VALUES 32
#define ORC_APP_FIELDS 32

enum { ORC_TK_APP, ORC_TK_RESOLVE, ORC_TK_ESCALATE, ORC_TK_HYPOTHESIS, ORC_TK_PATCH };
enum { ORC_INJ_ID, ORC_INJ_STATUS, ORC_INJ_RETRY, ORC_INJ_EXTRA };

typedef struct orc_app_tool {
  char qname[ORC_APP_NAME];
  int kind;        /* ORC_TK_* */
  int risk;        /* 0 low, 1 medium, 2 high */
  bool legacy;     /* an executed call counts as escalated */
  unsigned inject[ORC_APP_INJECT]; /* indices into orc_app.inject of its injected args */
  size_t ninject;
} orc_app_tool;

typedef struct orc_app_inject {
  char arg[ORC_APP_NAME];
  int src;                 /* ORC_INJ_* */
  char field[ORC_APP_NAME]; /* ORC_INJ_EXTRA: the field */
} orc_app_inject;

typedef struct orc_app_route {
  char agent[ORC_APP_NAME];
  char signal[ORC_APP_NAME]; /* "" : the agent's default */
  char to[ORC_APP_NAME];     /* an agent, or "end" */
} orc_app_route;

typedef struct orc_app_agent {
  char name[ORC_APP_NAME];
  bool has_gate;
  double gate; /* its least confidence that does not gate */
  unsigned max_calls; /* LLM calls in one run of it */
} orc_app_agent;

typedef struct orc_app {
  orc_app_tool tools[ORC_APP_TOOLS];
  size_t ntools;
  orc_app_inject inject[ORC_APP_INJECT];
  size_t ninject;
  orc_app_route routes[ORC_APP_ROUTES];
  size_t nroutes;
  orc_app_agent agents[ORC_APP_AGENTS];
  size_t nagents;
  char env_field[ORC_APP_NAME]; /* "" : no environment */
  char production[ORC_APP_VALUES][ORC_APP_NAME];
  size_t nproduction;
  int gated_risk;               /* at or above, production gates */
  double min_confidence;        /* below, any app tool gates */
  char fields[ORC_APP_FIELDS][ORC_APP_NAME]; /* the fields a patch may set */
  size_t nfields;
  uint64_t approval_timeout_ns;
  /* The retry policy's settings. */
  unsigned max_retries;
  double retry_min_confidence; /* below: low_confidence_no_retry */
  bool retry_transient;        /* transient errors retried at all */
} orc_app;

/* The setup's session creation: an operation outside the table. */
#define ORC_OP_CREATE 1000u

/* An operation, as the runner hands it over (ORC_EV_OP), and with the
** runtime's answer filled in (ORC_EV_ACK). Strings are borrowed for the
** event; the label of the event is the task's name. */
typedef struct orc_op {
  unsigned kind;          /* scn_op_kind */
  unsigned line;          /* in the scenario file */
  const char *session;    /* the session id, or NULL */
  const char *tool;       /* tool, turn: the tool's name */
  int tool_state;         /* tool: orc_call_state */
  const char *args;       /* tool, turn: the call's arguments and result (JSON) */
  const char *result;
  const char *thread;     /* checkpoint: the thread id; ACK of an accepted retry: its thread */
  const char *content;    /* write: the extra fields it saves; checkpoint: the
                          ** bytes it stores; note: the event's payload */
  int64_t base_version;   /* tool, write: the version the save is based on (0: none) */
  /* ACK only: what the runtime answered. */
  int rc;                 /* as_status */
  int64_t version;        /* a save's new version, as reported; 0 none */
  const char *status;     /* finalize: the status it reported; NULL none */
  int changed;            /* pause, fail: whether it said it wrote; -1 n/a */
  int64_t removed;        /* gc: how many it said it removed; -1 n/a */
  int64_t seq;            /* note: the seq it said the event got; 0 none */
  int api;                /* run, approve, reject: 1 try-acquire (busy answers) */
  int64_t call;           /* approve, reject: the call they resolve (-1 none) */
  int outcome;            /* ACK of run, approve, reject, retry: ORC_RUN_* */
  const char *errkind;    /* fail: the kind it stores (OP) */
  int answer;             /* ACK of retry, preview: ORC_RA_*; cancel: ORC_CANCEL_* */
  const char *reason;     /* ACK of retry, preview: the answer's reason */
  int64_t retry_count;    /* ACK of retry, preview: the count it reports */
  /* trigger: the estimate asked for (OP; 0 the budget's); ACK: answer is
  ** ORC_TA_*, reason its reason, with these: */
  int64_t estimate;
  const char *op_id;      /* ACK of trigger: the cycle's op_id (accepted) */
  const char *message;    /* ACK of trigger: its message */
  int64_t remaining, need; /* ACK of trigger: remaining before it, the estimate */
  /* ACK of scrape: the status read (status.h's fields), and the metric's spend
  ** (has_metric: the scrape rendered metrics). */
  const char *date;
  int64_t limit, spent, reserved, cycles, spend_events, open_reservations;
  int has_metric;
  int64_t metric_spend;     /* agent_budget_spend_dollars_total, micro-dollars */
  int64_t metric_remaining; /* agent_budget_remaining_dollars */
} orc_op;

/* How a trigger answered. */
enum { ORC_TA_NONE, ORC_TA_ACCEPTED, ORC_TA_BUDGET, ORC_TA_ACTIVE };

/* How a retry (or its preview) answered. */
enum { ORC_RA_NONE, ORC_RA_ACCEPTED, ORC_RA_IN_PROGRESS, ORC_RA_NOT_ERROR, ORC_RA_DENIED };
/* How a cancel answered. */
enum { ORC_CANCEL_NONE, ORC_CANCEL_STOPPING, ORC_CANCEL_NOT_RUNNING };

/* --- the oracle ---------------------------------------------------------------- */

typedef struct orc orc;

/* A new oracle for a run with the given legacy escalate tools (copied).
** AS_NOMEM. */
AS_WUR int orc_new(orc **out, const char *const *legacy, size_t nlegacy);
void orc_free(orc *o);
/* The scenario's app (borrowed: it must outlive o). Before the run starts. */
AS_WUR int orc_set_app(orc *o, const orc_app *app);
void orc_app_free(orc_app *app);
/* The scenario's budget: the daily limit and a cycle's default estimate
** (micro-dollars), and the price table the oracle reads itself (its own
** reading of budget.h's format). AS_PARSE (or AS_IO, AS_NOMEM) with err
** naming the file and what is wrong. Before the run starts. */
AS_WUR int orc_set_budget(orc *o, int64_t limit, int64_t estimate, const char *prices_path,
                          char *err, size_t cap);
/* The same from the table's text (file names it in errors). */
AS_WUR int orc_set_budget_text(orc *o, int64_t limit, int64_t estimate, const char *text,
                               size_t len, const char *file, char *err, size_t cap);
/* The sink to register for the run (sim_sink_add(orc_sink, o)). */
void orc_sink(void *ctx, const sim_ev *ev);
/* The first violation ("CHECK: ...") or NULL; which check it was. */
const char *orc_violation(const orc *o);
orc_check orc_violated_check(const orc *o);
/* Describe one of the oracle's events (for sim_program.describe). */
void orc_describe(const sim_ev *ev, char *buf, size_t cap);

/* --- the audit (audit.c) --------------------------------------------------------- */

/* Arm the audit for this run: every SQLite connection opened from now on
** reports its rows and commits as events. From setup; AS_UNSUPPORTED when
** this SQLite lacks the pre-update hook. */
AS_WUR int orc_audit_begin(void);
/* The run is over: connections opened later are not audited. */
void orc_audit_end(void);
/* Learn the column order of the audited tables from db (PRAGMA table_info).
** Before the first audited change; AS_UNSUPPORTED for a table or column the
** oracle does not find (the schema moved: the oracle must be told), with a
** message in err. */
AS_WUR int orc_audit_map(sqlite3 *db, char *err, size_t cap);

/* --- at quiescence (quiesce.c) ---------------------------------------------------- */

/* At quiescence: the lock registry holds `entries` entries (as_locks_size);
** with no lock held there must be none. A violation (lock-evict) is kept
** like any other. */
void orc_locks_idle(orc *o, size_t entries);
/* At quiescence: the runs registry holds `entries` (as_runs_size); it must
** hold none (runs-evict). */
void orc_runs_idle(orc *o, size_t entries);

/* Read everything back from db (outside any task, faults off) and compare it
** with the model. 0 when it agrees; SIM_INVARIANT with msg saying what
** differs; SIM_HARNESS when the database cannot be read. */
int orc_quiescence(orc *o, sqlite3 *db, char *msg, size_t cap);

#endif

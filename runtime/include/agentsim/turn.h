/*
** turn.h -- running an app's agents on a session: the turn loop, the tool
** gateway, approvals and the approval watchdog (DESIGN.md section 4).
**
** A run (as_run) holds the session's lock throughout (blocking acquire, or
** try-acquire for an API caller, which gets AS_BUSY: 429 + Retry-After: 1)
** and goes agent by agent. One agent's run: build the messages (its
** prompt, the session's brief, the conversation so far) and the tools the
** model sees (injected arguments removed), call the LLM (a transient error
** is tried again, up to llm_attempts, after a 429's retry-after), execute
** each tool call of the answer through the gateway, call the LLM again
** with the results, until an answer without tool calls; its envelope
** (envelope.h) routes to the next agent by the signal (the app's route, or
** the agent's default). The run ends at the route "end" or once a typed
** terminal tool (mark_resolved, mark_escalated) has run; then finalize
** (finalize.h) settles the status from the executed history. Caps: an
** agent's max_calls LLM calls (turn_cap), the app's max_tool_calls tool
** calls in one agent run (tool_call_cap), its max_agent_runs agent runs
** (agent_run_cap), AS_LLM_CALLS_MAX calls per answer (llm_bad_answer) and
** AS_LLM_MESSAGES_MAX messages in the conversation (conversation_cap,
** whatever the message past it: an answer, a tool's result, an approval's
** outcome): past one the run fails, permanent, never a hang. Every LLM
** request carries a timeout (as_runtime.llm_timeout_ns). A session a
** writer without the lock settled meanwhile (seen when the run begins, or
** at a gate's pause) runs no further: AS_RUN_IDLE.
**
** A failed run leaves the session error with its kind and one-line cause
** (retry.h): the LLM's typed errors after their tries, envelope_missing, a
** cap, an app tool whose executor fails (AS_IO, AS_TIMEDOUT, AS_BUSY:
** tool_unavailable; AS_INVAL, AS_PARSE, AS_TOOBIG: validation; else
** tool_failed), a tool of the app the agent was not given (tool_forbidden),
** a cancel (cancelled), and the database failing once the run has put the
** session in progress (db_busy for AS_BUSY, else io_error: then the call
** answers AS_OK with the run failed, if the store still takes the record).
**
** The gateway, for each tool call of an answer, in order:
**   1. the tool must be one the agent has (qualified, or a unique bare
**      name); a name the app does not know is told to the model and
**      nothing runs; a tool of the app the agent lacks fails the run
**      (tool_forbidden); past max_tool_calls the run fails too;
**   2. injected arguments are set from the session (the runtime's value
**      wins over the model's); keys the tool does not take are dropped
**      (logged); a missing required argument or a wrong type is told to
**      the model and nothing runs;
**   3. the gate policy (gate.h) decides; a gated call is appended as
**      pending_approval, in the same transaction that marks the session
**      awaiting_input (with its status_changed and approval_requested
**      events, after a gate_fired event), before the run pauses: the
**      watchdog and any approval UI see it at once;
**   4. otherwise it runs: an app tool through the tool executor; the
**      runtime's built-ins here: mark_resolved, mark_escalated (its team
**      checked against the app's escalation roster), submit_hypothesis
**      (each records its confidence and rationale in the session's extra
**      fields; resolution and escalation too), patch_session (declared
**      fields and confidence/rationale only; status, resolution and
**      escalation are refused, as are unknown keys; once a typed terminal
**      tool has run in an answer, a later patch in that answer cannot
**      change confidence or rationale: those keys are dropped, logged).
**      The executed call and its tool_invoked event commit together. An
**      app tool whose executor fails fails the run (its kind above).
**
** The conversation lives in the checkpoint of the session's thread (its id,
** or "<id>:retry-N" after N retries: retry.h), written before each pause,
** so that the approval's resume continues where the run stopped. An
** approved call whose executor fails is stored executed with its error as
** its result, and the run fails with the failure's kind.
**
** Events (payloads are JSON objects): agent_started {agent}, tool_invoked
** {call, tool}, gate_fired {call, tool, why}, confidence_emitted {agent,
** confidence}, route_decided {agent, signal, to}, agent_finished {agent,
** ok, error?}, approval_requested {call, tool}, approval_resolved {call,
** decision}, status_changed (finalize.h's; to error with error_kind and
** error), retry_started {retry, thread}, retry_rejected {reason,
** retry_count} (retry.h).
**
** Approvals (as_approval_resolve): under the session's lock, a
** pending_approval call is resolved exactly once: approved (it runs now
** and is stored executed with its result), rejected, or timed out (the
** watchdog); a second decision gets AS_EXISTS ("already resolved") and
** resumes nothing. Then the run resumes: the model is told the outcome.
**
** The watchdog (as_watchdog_tick): every session awaiting_input whose
** pending call has waited app->approval_timeout_ns or more is taken with
** try-acquire; a busy one is skipped (counted) and looked at again on a
** later tick, never resumed under another holder.
*/
#ifndef AGENTSIM_TURN_H
#define AGENTSIM_TURN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentsim/app.h"
#include "agentsim/budget.h"
#include "agentsim/llm.h"
#include "agentsim/locks.h"
#include "agentsim/retry.h"
#include "agentsim/session.h"
#include "agentsim/status.h"
#include "agentsim/store.h"
#include "agentsim/trace.h"

#define AS_EVENT_AGENT_STARTED "agent_started"
#define AS_EVENT_AGENT_FINISHED "agent_finished"
#define AS_EVENT_TOOL_INVOKED "tool_invoked"
#define AS_EVENT_GATE_FIRED "gate_fired"
#define AS_EVENT_CONFIDENCE_EMITTED "confidence_emitted"
#define AS_EVENT_ROUTE_DECIDED "route_decided"
#define AS_EVENT_APPROVAL_REQUESTED "approval_requested"
#define AS_EVENT_APPROVAL_RESOLVED "approval_resolved"

#define AS_RUN_ERROR_MAX 256
#define AS_RUN_KIND_MAX 32
#define AS_LLM_ATTEMPTS_DEFAULT 3u
#define AS_WATCHDOG_SCAN_MAX 256u /* sessions one tick looks at */

/* Runs an app tool: *result gets an owned (as_malloc) JSON text. A failure
** status fails the run (its kind above); nothing is retried. */
typedef int (*as_tool_exec_fn)(void *ctx, const char *session_id, const as_app_tool *tool,
                               const char *args, char **result);

typedef struct as_runtime {
  as_store *st;            /* this task's connection */
  as_lock_registry *locks; /* shared by every task */
  const as_app *app;
  as_llm *llm;
  as_tool_exec_fn exec;    /* NULL: every app tool answers {"ok":true} */
  void *exec_ctx;
  uint64_t llm_timeout_ns; /* per LLM request, at most AS_LLM_TIMEOUT_MAX_NS; 0: the
                           ** provider's (as_llm.timeout_ns), else AS_LLM_TIMEOUT_DEFAULT_NS */
  unsigned llm_attempts;   /* 0: AS_LLM_ATTEMPTS_DEFAULT */
  as_runs *runs;           /* shared by every task: in-flight retries and running runs
                           ** (retry.h); NULL: runs cannot be cancelled, and
                           ** as_retry_session, as_preview_retry and
                           ** as_cancel_session answer AS_INVAL */
  const as_budget_cfg *budget; /* the daily budget and the price table (budget.h);
                           ** NULL: as_trigger answers AS_INVAL and LLM calls are
                           ** recorded unpriced (price_version "", cost 0) */
  const as_tracer *tracer; /* spans (trace.h); NULL: none */
} as_runtime;

#define AS_RUN_OUTCOME_MAP(X)                                                 \
  X(ENDED, ended)   /* finalized: the session is terminal */                   \
  X(PAUSED, paused) /* waiting for an approval */                              \
  X(FAILED, failed) /* the session is error (kind, message) */                 \
  X(IDLE, idle)     /* nothing to do: terminal already, or still waiting */

typedef enum as_run_outcome {
#define AS__ROUT(NAME, name) AS_RUN_##NAME,
  AS_RUN_OUTCOME_MAP(AS__ROUT)
#undef AS__ROUT
  AS__RUN_COUNT
} as_run_outcome;

typedef struct as_run_result {
  as_run_outcome outcome;
  as_session_status status;         /* the session's status after */
  as_error_kind kind;               /* FAILED: the kind (retry.h) */
  char error_kind[AS_RUN_KIND_MAX]; /* FAILED: its name: envelope_missing, llm_timeout, ... */
  char error[AS_RUN_ERROR_MAX];     /* FAILED: the one-line cause the session stores */
} as_run_result;

/* How as_retry_session answered (and as_preview_retry would). */
typedef enum as_retry_refusal {
  AS_RETRY_ACCEPTED,    /* the retry ran (preview: would run): see run */
  AS_RETRY_IN_PROGRESS, /* another retry of the session is in flight */
  AS_RETRY_NOT_ERROR,   /* the session is not in error */
  AS_RETRY_DENIED       /* the policy said no: see decision */
} as_retry_refusal;

typedef struct as_retry_answer {
  as_retry_refusal refusal;
  as_retry_decision decision; /* ACCEPTED and DENIED: the policy's */
  char reason[48];            /* "retry already in progress", "not in error state", or
                              ** the decision's name */
  int64_t retry_count;        /* the session's, after (in progress: unknown, 0) */
  char thread[AS_THREAD_ID_MAX]; /* ACCEPTED: the retry's thread id, "<id>:retry-N" */
  as_run_result run;          /* ACCEPTED (not preview): how its run went */
} as_retry_answer;

typedef enum as_cancel_answer {
  AS_CANCEL_STOPPING,   /* a run was marked: it stops at its next scheduling point */
  AS_CANCEL_NOT_RUNNING /* no run of the session: nothing changed */
} as_cancel_answer;

typedef enum as_approval_decision {
  AS_APPROVE,
  AS_REJECT,
  AS_TIME_OUT /* the watchdog's */
} as_approval_decision;

typedef struct as_watchdog_stats {
  size_t looked;    /* sessions awaiting_input it read */
  size_t resolved;  /* approvals it timed out */
  size_t skipped;   /* due, but the session was busy */
} as_watchdog_stats;

/* Create session id (status new) with the app's field defaults, then the
** fields in fields_json (NULL: none), each checked against the app's
** fields and rosters (AS_INVAL, logged, for an unknown field or a value
** outside its roster). AS_EXISTS when it exists. */
AS_WUR int as_session_start(const as_runtime *rt, const char *id, const char *fields_json);
/* Run id's agents until the run pauses, ends or fails (see above). try:
** take the lock with try-acquire (AS_BUSY when held). *res says how it
** went; the return is AS_OK unless the run could not be carried out
** (store, lock or memory statuses; AS_NOTFOUND for no such session). */
AS_WUR int as_run(const as_runtime *rt, const char *id, bool try, as_run_result *res);
/* Resolve id's pending call number `call` (its index in the session's
** calls) and resume the run. AS_EXISTS: already resolved; AS_NOTFOUND: no
** such session or call; AS_INVAL: that call never waited for approval;
** AS_BUSY (try only). */
AS_WUR int as_approval_resolve(const as_runtime *rt, const char *id, size_t call,
                               as_approval_decision d, bool try, as_run_result *res);
/* One watchdog tick at the seam's wall clock. */
AS_WUR int as_watchdog_tick(const as_runtime *rt, as_watchdog_stats *stats);

/* Retry id (retry.h, as_retry_session): *ans says how it was answered; the
** return is AS_OK unless it could not be carried out (store, lock, memory
** statuses; AS_NOTFOUND for no such session; AS_BUSY with try when the lock
** is held). rt->runs is required. */
AS_WUR int as_retry_session(const as_runtime *rt, const char *id, bool try, as_retry_answer *ans);
/* The answer as_retry_session would give now, changing nothing (ans->run
** stays empty). Statuses as as_retry_session, AS_BUSY aside. */
AS_WUR int as_preview_retry(const as_runtime *rt, const char *id, as_retry_answer *ans);
/* Stop id's running run at its next scheduling point (retry.h). AS_OK with
** *ans; AS_INVAL without rt->runs. Takes no session lock. */
AS_WUR int as_cancel_session(const as_runtime *rt, const char *id, as_cancel_answer *ans);

/* A cycle (budget.h): reserve estimate (0: the budget's default) for id in
** the transaction that checks the day's budget, then run id as as_run does
** (its ending settles or releases the reservation). *ans says whether it
** was triggered; *res how the run went (zeroed when refused). AS_INVAL
** without rt->budget; otherwise statuses as as_budget_reserve and as_run. */
AS_WUR int as_trigger(const as_runtime *rt, const char *id, int64_t estimate, bool try,
                      as_trigger_answer *ans, as_run_result *res);

/* as_trigger in two steps, for a caller that answers the trigger before the
** run (an HTTP API: the reservation in the request, the run on a worker).
** as_trigger_reserve: the reservation alone (as_budget_reserve on rt->st,
** logged when accepted); AS_INVAL without rt->budget. as_trigger_run: run id
** as as_run does; when the run could not be carried out (rc not AS_OK: a
** held lock with try, a store failure) it releases op_id's reservation
** (outcome "idle" for AS_BUSY, else "failed"), as as_trigger does. as_trigger
** is exactly reserve, then run when triggered. */
AS_WUR int as_trigger_reserve(const as_runtime *rt, const char *id, int64_t estimate,
                              as_trigger_answer *ans);
AS_WUR int as_trigger_run(const as_runtime *rt, const char *id, const char *op_id, bool try,
                          as_run_result *res);

const char *as_run_outcome_name(as_run_outcome o);

#endif /* AGENTSIM_TURN_H */

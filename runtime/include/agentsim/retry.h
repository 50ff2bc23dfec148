/*
** retry.h -- the failure paths: error kinds and their class, the retry
** policy, retry_session and its preview, cancellation (DESIGN.md section 4).
**
** Error kinds. Every failure a run can meet is one kind (AS_ERROR_KIND_MAP)
** with a class: transient (trying again may work: the model or a server was
** slow, busy or down, the disk or a connection failed, a caller cancelled)
** or permanent (trying again gives the same answer: a refusal, a missing
** envelope, a tool that refused its arguments, a tool the agent may not
** call, a cap). A failed run leaves the session `error` with the kind and a
** one-line cause, in the transaction of its status_changed event (whose
** payload carries them as error_kind and error). A kind this build does not
** know (a newer build's, a damaged row) is AS_ERR_UNKNOWN: permanent, so a
** failure nobody understands is never retried by itself (fail closed).
**
** The policy (as_should_retry) is pure and looks, in this order, at:
**   1. retry_count >= max_retries            -> max_retries_exceeded
**   2. a permanent kind (unknown included)   -> permanent_error
**   3. a confidence below min_confidence     -> low_confidence_no_retry
**      (only when the session has one)
**   4. transient retries switched off        -> transient_disabled
**   5. otherwise                             -> auto_retry
**
** as_retry_session, in order:
**   1. the in-flight set: a retry of a session already in flight (another
**      caller's, in this process) is refused at once, without waiting for
**      the lock: "retry already in progress", logged as a warning, nothing
**      written;
**   2. the session's lock (blocking, or try-acquire for an API caller:
**      AS_BUSY);
**   3. a session not in `error` is refused: "not in error state";
**   4. the policy, from the stored retry_count, error kind and the
**      session's confidence (its extra field "confidence", when a number);
**      a denial is refused with the decision's name as its reason.
**   A refusal under the lock is recorded: a retry_rejected event {reason,
**   retry_count}. An accepted retry is one transaction: retry_count + 1,
**   status error -> in_progress, the error kind and cause cleared, its
**   status_changed event and a retry_started event {retry, thread}. Then the
**   app's entry agent runs afresh on thread id "<id>:retry-N" (N the new
**   retry_count: unique per session), whose checkpoint holds that run's
**   conversation; an approval later resumes the thread the session's
**   retry_count names. The in-flight entry is removed once the lock is
**   released, whatever happened.
**
** as_preview_retry gives the answer as_retry_session would give now and
** changes nothing: no write, no lock taken, no in-flight entry.
**
** Cancellation (as_cancel_session): a run (as_run, an approval's or the
** watchdog's resume, a retry's run) registers itself while it holds the
** session's lock; a cancel marks it, and the run stops at its next
** scheduling point (before each LLM call and each tool call, after each LLM
** answer, between tries of a call): its agent_finished event says
** cancelled, and the session ends `error` with kind `cancelled`. A cancel
** of a session with no run registered (waiting for an approval, finished,
** never started) changes nothing and says so (AS_CANCEL_NOT_RUNNING).
**
** The registry (as_runs) holds both the in-flight retries and the running
** runs; one per process, shared by every task, like the lock registry. Its
** entries exist only while a retry is in flight or a run runs: 0 when idle.
*/
#ifndef AGENTSIM_RETRY_H
#define AGENTSIM_RETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentsim/app.h"
#include "agentsim/checkpoints.h" /* AS_THREAD_ID_MAX: "<id>:retry-N" */
#include "agentsim/session.h"
#include "agentsim/status.h"

#define AS_EVENT_RETRY_STARTED "retry_started"
#define AS_EVENT_RETRY_REJECTED "retry_rejected"

#define AS_RETRY_REASON_IN_PROGRESS "retry already in progress"
#define AS_RETRY_REASON_NOT_ERROR "not in error state"

/* Buffer sizes, NUL included. */
#define AS_ERROR_KIND_MAX AS_SESSION_KIND_MAX
#define AS_ERROR_CAUSE_MAX AS_SESSION_CAUSE_MAX

#define AS_RUNS_MAX_ENTRIES 65536u
#define AS_RUNS_DEFAULT_ENTRIES 1024u

typedef enum as_error_class { AS_ERR_TRANSIENT, AS_ERR_PERMANENT } as_error_class;

/* X(NAME, name, class) -- the kinds, their stored names and classes. */
#define AS_ERROR_KIND_MAP(X)                                                    \
  X(LLM_TIMEOUT, llm_timeout, TRANSIENT)         /* no answer within the timeout */ \
  X(LLM_RATE_LIMITED, llm_rate_limited, TRANSIENT) /* a 429 past the call's tries */ \
  X(LLM_SERVER_ERROR, llm_server_error, TRANSIENT) /* a 5xx */                     \
  X(LLM_MALFORMED, llm_malformed_response, TRANSIENT) /* a body that was not JSON */ \
  X(IO_ERROR, io_error, TRANSIENT)    /* the database's disk failed or filled */   \
  X(DB_BUSY, db_busy, TRANSIENT)      /* SQLite busy past its timeout; writers kept winning */ \
  X(TOOL_UNAVAILABLE, tool_unavailable, TRANSIENT) /* a tool's server: I/O, timeout, busy */ \
  X(CANCELLED, cancelled, TRANSIENT)  /* a caller stopped the run */               \
  X(LLM_REFUSAL, llm_refusal, PERMANENT)                                          \
  X(LLM_BAD_ANSWER, llm_bad_answer, PERMANENT) /* past a cap, or against the contract */ \
  X(ENVELOPE_MISSING, envelope_missing, PERMANENT)                                \
  X(VALIDATION, validation, PERMANENT) /* a tool refused its arguments */         \
  X(TOOL_FORBIDDEN, tool_forbidden, PERMANENT) /* a tool of the app the agent lacks */ \
  X(TOOL_FAILED, tool_failed, PERMANENT) /* a tool failed otherwise */             \
  X(TURN_CAP, turn_cap, PERMANENT)     /* an agent's LLM calls in one turn */     \
  X(TOOL_CALL_CAP, tool_call_cap, PERMANENT) /* an agent's tool calls in one turn */ \
  X(AGENT_RUN_CAP, agent_run_cap, PERMANENT) /* turns (agent runs) in one run */ \
  X(CONVERSATION_CAP, conversation_cap, PERMANENT) /* messages in one turn */     \
  X(INTERNAL, internal, PERMANENT)     /* the runtime's own state was unusable */ \
  X(UNKNOWN, unknown, PERMANENT)       /* a name this build does not know */

typedef enum as_error_kind {
#define AS__EKIND(NAME, name, cls) AS_ERR_##NAME,
  AS_ERROR_KIND_MAP(AS__EKIND)
#undef AS__EKIND
  AS__ERR_KIND_COUNT
} as_error_kind;

/* The kind's stored name; "unknown" out of range. */
const char *as_error_kind_name(as_error_kind k);
/* The kind called name (NULL and "" included): AS_ERR_UNKNOWN for a name
** this build does not know. Never fails. */
as_error_kind as_error_kind_parse(const char *name);
/* The kind's class; permanent out of range. */
as_error_class as_error_kind_class(as_error_kind k);
const char *as_error_class_name(as_error_class c);

/* X(NAME, name) -- the policy's decisions. */
#define AS_RETRY_DECISION_MAP(X)                                                \
  X(AUTO_RETRY, auto_retry)                                                     \
  X(MAX_RETRIES_EXCEEDED, max_retries_exceeded)                                 \
  X(PERMANENT_ERROR, permanent_error)                                           \
  X(LOW_CONFIDENCE_NO_RETRY, low_confidence_no_retry)                           \
  X(TRANSIENT_DISABLED, transient_disabled)

typedef enum as_retry_decision {
#define AS__RDEC(NAME, name) AS_RETRY_##NAME,
  AS_RETRY_DECISION_MAP(AS__RDEC)
#undef AS__RDEC
  AS__RETRY_DEC_COUNT
} as_retry_decision;

const char *as_retry_decision_name(as_retry_decision d);

/* Pure: the decision for a session retried retry_count times so far, that
** failed with kind, with confidence conf if has_conf, under policy p (the
** order above). p NULL: permanent_error. */
as_retry_decision as_should_retry(int64_t retry_count, as_error_kind kind, bool has_conf,
                                  double conf, const as_retry_settings *p);

/* --- the registry of in-flight retries and running runs --------------------------- */

typedef struct as_runs as_runs;

/* A registry of at most max_entries (0: AS_RUNS_DEFAULT_ENTRIES; at most
** AS_RUNS_MAX_ENTRIES) live entries. AS_INVAL, AS_NOMEM, or the seam's
** status for its mutex. */
AS_WUR int as_runs_new(as_runs **out, size_t max_entries);
/* Free it (NULL is a no-op): no retry in flight, no run registered. */
void as_runs_free(as_runs *r);

/* What an observer hears, in the order the registry serializes it, with
** its mutex held (the observer must not call the registry, nor block);
** `task` is as_task_id() of the caller. The registry's own account: an
** oracle checks from it that one session never has two retries in flight. */
typedef enum as_runs_event {
  AS_RUNS_RETRY_ENTERED, /* a retry of key went in flight */
  AS_RUNS_RETRY_REFUSED, /* one was in flight already: refused */
  AS_RUNS_RETRY_LEFT,    /* the retry left the set */
  AS_RUNS_RUN_BEGAN,     /* a run of key began (its lock held) */
  AS_RUNS_RUN_ENDED,     /* ... and ended */
  AS_RUNS_CANCEL_MARKED, /* a cancel found key running and marked its run(s) */
  AS_RUNS_CANCEL_IDLE,   /* a cancel found no run of key */
  AS_RUNS_CANCEL_SEEN    /* a marked run noticed, and stops */
} as_runs_event;
typedef void (*as_runs_observer)(void *ctx, const char *key, uint64_t task, as_runs_event ev);
/* Install fn (NULL: none) with its ctx, before the tasks start. */
void as_runs_observe(as_runs *r, as_runs_observer fn, void *ctx);
/* Live entries (retries in flight plus runs registered). */
size_t as_runs_size(as_runs *r);
/* Whether a retry of key is in flight right now (a snapshot). */
bool as_runs_retry_in_flight(as_runs *r, const char *key);

#endif /* AGENTSIM_RETRY_H */

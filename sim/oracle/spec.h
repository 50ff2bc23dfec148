/*
** spec.h -- the oracle's own reading of the specification (DESIGN.md
** section 4): session statuses and which are terminal or active, tool-call
** states, the terminal status an executed history implies, and the base id
** of a thread. Written from the text, never from runtime/: the oracle must
** not share a bug with the code it judges.
*/
#ifndef AGENTSIM_ORACLE_SPEC_H
#define AGENTSIM_ORACLE_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Session statuses, as the database spells them. */
#define ORC_STATUS_MAP(X)                                                     \
  X(NEW, "new")                                                               \
  X(IN_PROGRESS, "in_progress")                                               \
  X(AWAITING_INPUT, "awaiting_input")                                         \
  X(RESOLVED, "resolved")                                                     \
  X(ESCALATED, "escalated")                                                   \
  X(NEEDS_REVIEW, "needs_review")                                             \
  X(ERROR, "error")

typedef enum orc_status {
#define ORC__ST(NAME, text) ORC_ST_##NAME,
  ORC_STATUS_MAP(ORC__ST)
#undef ORC__ST
  ORC__ST_COUNT
} orc_status;

/* Tool-call states. */
#define ORC_CALL_STATE_MAP(X)                                                 \
  X(EXECUTED, "executed")                                                     \
  X(PENDING_APPROVAL, "pending_approval")                                     \
  X(REJECTED, "rejected")                                                     \
  X(TIMED_OUT, "timed_out")

typedef enum orc_call_state {
#define ORC__CS(NAME, text) ORC_CS_##NAME,
  ORC_CALL_STATE_MAP(ORC__CS)
#undef ORC__CS
  ORC__CS_COUNT
} orc_call_state;

const char *orc_status_name(int st);
/* The status spelled `name` (len bytes), or -1. */
int orc_status_parse(const char *name, size_t len);
const char *orc_call_state_name(int cs);
int orc_call_state_parse(const char *name, size_t len);

/* Terminal: resolved, escalated, needs_review, error -- a finished run;
** finalize, pause and fail leave it, and nothing moves it again. */
bool orc_terminal(int st);
/* Active for the checkpoint GC: a session that may still resume or be
** retried -- everything but resolved, escalated and needs_review (an
** errored session may be retried). */
bool orc_active(int st);

/* A tool call as the oracle keeps it. */
typedef struct orc_call {
  char *tool;
  int state;    /* orc_call_state */
  char *args;   /* JSON texts, as stored */
  char *result;
} orc_call;

/* The terminal status an executed history implies, newest call first:
** mark_escalated or a legacy escalate tool -> escalated, mark_resolved ->
** resolved; calls not executed do not count; none -> needs_review. A tool
** matches by its whole name or by the part after its last ':'. */
int orc_infer(const orc_call *calls, size_t n, const char *const *legacy, size_t nlegacy);

/* The length of thread id tid's base: tid without one trailing ":retry-N"
** (N one or more digits). */
size_t orc_base_len(const char *tid);

/* --- the failure paths: error kinds, their classes, the retry policy --------------- */

/* The error kinds the specification names (DESIGN.md section 4, the failure
** paths issue), as the database spells them, with their class: transient
** (trying again may work) or permanent. A kind not in this list is unknown:
** permanent (fail closed). The oracle's own table: never the runtime's. */
#define ORC_KIND_MAP(X)                                                        \
  X("llm_timeout", true) X("llm_rate_limited", true) X("llm_server_error", true) \
  X("llm_malformed_response", true) X("io_error", true) X("db_busy", true)      \
  X("tool_unavailable", true) X("cancelled", true) X("llm_refusal", false)      \
  X("llm_bad_answer", false) X("envelope_missing", false) X("validation", false) \
  X("tool_forbidden", false) X("tool_failed", false) X("turn_cap", false)       \
  X("tool_call_cap", false) X("agent_run_cap", false) X("conversation_cap", false) \
  X("internal", false) X("unknown", false)

/* Whether the spec knows kind (NULL: no); *transient its class. */
bool orc_kind_known(const char *kind, bool *transient);

/* The retry policy's decisions, as the runtime's answers name them. */
#define ORC_DECISION_MAP(X)                                                    \
  X(AUTO, "auto_retry") X(MAX, "max_retries_exceeded") X(PERMANENT, "permanent_error") \
  X(LOW_CONFIDENCE, "low_confidence_no_retry") X(TRANSIENT_DISABLED, "transient_disabled")

typedef enum orc_decision {
#define ORC__DEC(NAME, text) ORC_DEC_##NAME,
  ORC_DECISION_MAP(ORC__DEC)
#undef ORC__DEC
  ORC__DEC_COUNT
} orc_decision;

const char *orc_decision_name(orc_decision d);

/* The retry policy's settings (the app's `retry` section). */
typedef struct orc_retry_policy {
  unsigned max_retries;
  double min_confidence;
  bool transient;
} orc_retry_policy;

/* should_retry, from the specification's order: a session retried `count`
** times that failed with `kind` (as stored; unknown is permanent), with
** confidence conf when has_conf: max_retries_exceeded, permanent_error,
** low_confidence_no_retry, transient_disabled, else auto_retry. */
orc_decision orc_should_retry(int64_t count, const char *kind, bool has_conf, double conf,
                              const orc_retry_policy *p);

#endif

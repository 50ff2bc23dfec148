/*
** session.h -- the session model (DESIGN.md section 4), in memory.
**
** A session is what one agent conversation is about: its status, the history
** of tool calls its agents made, a retry count, free-form extra fields, and a
** version that every successful save raises by exactly one (store.h keeps it
** in SQLite and refuses saves from a stale copy).
**
** Ownership: an as_session owns its tool-call array, the JSON texts in it and
** its extra text; as_session_clear releases them. A zero-initialised
** as_session ({0}) is a valid empty one: clear and load accept it. Copies
** made with `=` share owned memory: do not clear both.
**
** Every size is capped (the AS_*_MAX constants); a setter that would pass a
** cap fails with AS_TOOBIG and changes nothing.
*/
#ifndef AGENTSIM_SESSION_H
#define AGENTSIM_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentsim/status.h"

/* Buffer sizes, NUL included. */
#define AS_SESSION_ID_MAX 128
#define AS_TOOL_NAME_MAX 128
#define AS_REASON_MAX 512
#define AS_SESSION_KIND_MAX 32   /* error_kind (retry.h AS_ERROR_KIND_MAX) */
#define AS_SESSION_CAUSE_MAX 256 /* error_cause (retry.h AS_ERROR_CAUSE_MAX) */
/* Text lengths, NUL excluded. */
#define AS_TOOL_JSON_MAX (64u * 1024u) /* a tool call's args or result */
#define AS_EXTRA_MAX (64u * 1024u)     /* the extra-fields JSON object */
/* Tool calls one session may hold. */
#define AS_TOOL_CALLS_MAX 256u

/* X(NAME, name): terminal statuses are resolved, escalated, needs_review and
** error (finalize never changes them). */
#define AS_SESSION_STATUS_MAP(X)                                              \
  X(NEW, new)                                                                 \
  X(IN_PROGRESS, in_progress)                                                 \
  X(AWAITING_INPUT, awaiting_input)                                           \
  X(RESOLVED, resolved)                                                       \
  X(ESCALATED, escalated)                                                     \
  X(NEEDS_REVIEW, needs_review)                                               \
  X(ERROR, error)

typedef enum as_session_status {
#define AS__SST(NAME, name) AS_SESS_##NAME,
  AS_SESSION_STATUS_MAP(AS__SST)
#undef AS__SST
  AS__SESS_COUNT
} as_session_status;

/* X(NAME, name): what became of a tool call. */
#define AS_TOOL_STATE_MAP(X)                                                  \
  X(EXECUTED, executed)                                                       \
  X(PENDING_APPROVAL, pending_approval)                                       \
  X(REJECTED, rejected)                                                       \
  X(TIMED_OUT, timed_out)

typedef enum as_tool_state {
#define AS__TST(NAME, name) AS_TOOL_##NAME,
  AS_TOOL_STATE_MAP(AS__TST)
#undef AS__TST
  AS__TOOL_COUNT
} as_tool_state;

typedef struct as_tool_call {
  char tool[AS_TOOL_NAME_MAX]; /* "mark_resolved" or "server:mark_resolved" */
  char *args;                  /* owned JSON text */
  char *result;                /* owned JSON text */
  as_tool_state state;
} as_tool_call;

typedef struct as_session {
  char id[AS_SESSION_ID_MAX];
  as_session_status status;
  int64_t version;     /* 0 until created or loaded; then the stored version */
  int64_t retry_count;
  char needs_review_reason[AS_REASON_MAX];
  char error_kind[AS_SESSION_KIND_MAX];   /* status error: the failure's kind (retry.h); else "" */
  char error_cause[AS_SESSION_CAUSE_MAX]; /* status error: its one-line cause; else "" */
  as_tool_call *calls; /* owned, oldest first */
  size_t ncalls;
  size_t calls_cap;    /* allocated slots */
  char *extra;         /* owned JSON object text; NULL means "{}" */
  int64_t created_ns;  /* wall clock (seam) when created; set by the store */
  int64_t updated_ns;  /* wall clock (seam) of the last save */
} as_session;

/* "in_progress"-style name; "?" out of range. */
const char *as_session_status_name(as_session_status st);
/* The status called `name` into *out: AS_PARSE for an unknown name. */
AS_WUR int as_session_status_parse(const char *name, as_session_status *out);
/* resolved, escalated, needs_review or error: finalize leaves it alone. */
bool as_session_status_terminal(as_session_status st);
/* Active for the checkpoint GC: anything but resolved, escalated and
** needs_review (an errored session may still be retried). */
bool as_session_status_active(as_session_status st);

/* "pending_approval"-style name; "?" out of range. */
const char *as_tool_state_name(as_tool_state st);
/* The state called `name` into *out: AS_PARSE for an unknown name. */
AS_WUR int as_tool_state_parse(const char *name, as_tool_state *out);

/* AS_OK when id can name a session: 1..AS_SESSION_ID_MAX-1 bytes, each a
** printable ASCII character other than space and ':' (the colon separates
** a retry suffix in thread ids, checkpoints.h). AS_INVAL for a bad
** character or an empty/NULL id, AS_TOOBIG when too long. */
AS_WUR int as_session_id_check(const char *id);

/* Make *s an empty session called id, status new, version 0. *s is
** overwritten without being released: pass a fresh or cleared one. */
AS_WUR int as_session_init(as_session *s, const char *id);
/* Release what *s owns and zero it. NULL is a no-op. */
void as_session_clear(as_session *s);

/* Append a tool call; tool, args and result are copied. tool: 1 ..
** AS_TOOL_NAME_MAX-1 bytes; args (NULL: "{}") and result (NULL: "null") are
** JSON texts of at most AS_TOOL_JSON_MAX bytes (the store refuses invalid
** JSON with AS_PARSE). AS_TOOBIG past a cap or at AS_TOOL_CALLS_MAX calls,
** AS_NOMEM; on failure nothing changes. */
AS_WUR int as_session_add_call(as_session *s, const char *tool, const char *args,
                               const char *result, as_tool_state state);
/* Replace the extra-fields text (copied; NULL: "{}"); AS_TOOBIG past
** AS_EXTRA_MAX, AS_NOMEM. On failure nothing changes. */
AS_WUR int as_session_set_extra(as_session *s, const char *json);
/* Replace needs_review_reason (copied; NULL: empty); AS_TOOBIG when it does
** not fit AS_REASON_MAX. On failure nothing changes. */
AS_WUR int as_session_set_reason(as_session *s, const char *reason);

#endif /* AGENTSIM_SESSION_H */

/*
** finalize.h -- settling a session's status when a run ends or pauses.
**
** The terminal status comes from what the agents did, never from a default:
** the executed tool-call history is read newest first, and the first
** terminal decision found wins (as_infer_terminal). A session with none is
** needs_review, with a reason, never silently resolved.
**
** as_finalize, as_mark_paused and as_mark_failed run under the session's lock (locks.h,
** re-entrant, so a caller already holding it may call them), never touch a
** terminal session, and write the new status together with its
** status_changed event in one transaction. A stale-version conflict means
** another writer got there first: they reload and decide again, a bounded
** number of times; a conflict never leaves the session in_progress.
*/
#ifndef AGENTSIM_FINALIZE_H
#define AGENTSIM_FINALIZE_H

#include <stdbool.h>
#include <stddef.h>

#include "agentsim/locks.h"
#include "agentsim/session.h"
#include "agentsim/status.h"
#include "agentsim/store.h"

/* The typed terminal tools (matched on the name after the last ':'). */
#define AS_TOOL_MARK_RESOLVED "mark_resolved"
#define AS_TOOL_MARK_ESCALATED "mark_escalated"
/* The reason needs_review gets when no terminal call is in the history. */
#define AS_REASON_NO_TERMINAL "no terminal tool call in the executed history"
/* Saves as_finalize / as_mark_paused try before giving up with AS_BUSY. */
#define AS_FINALIZE_ATTEMPTS 8

/* What the application's config adds: tool names whose executed call also
** means escalated (a legacy notify tool). An entry matches a tool call whose
** full name or whose name after the last ':' equals it. Borrowed. */
typedef struct as_finalize_rules {
  const char *const *legacy_escalate;
  size_t n_legacy_escalate;
} as_finalize_rules;

/* Pure: the terminal status s's executed tool calls imply, newest first:
** mark_escalated -> escalated, mark_resolved -> resolved, a legacy_escalate
** tool -> escalated; none -> needs_review with reason AS_REASON_NO_TERMINAL.
** Calls that are pending_approval, rejected or timed_out do not count.
** rules may be NULL (no legacy list). reason (cap bytes) gets the reason, ""
** for a decided status. AS_INVAL for NULL s/out/reason, AS_TOOBIG when the
** reason does not fit. */
AS_WUR int as_infer_terminal(const as_session *s, const as_finalize_rules *rules,
                             as_session_status *out, char *reason, size_t cap);

/* Under id's lock: load the session; if terminal, leave it; else store the
** inferred status (and needs_review_reason) with a status_changed event.
** *final (may be NULL) gets the status the session ended with. AS_NOTFOUND
** for no such session; AS_BUSY when AS_FINALIZE_ATTEMPTS saves in a row
** lost to other writers; store and lock statuses. */
AS_WUR int as_finalize(as_store *st, as_lock_registry *reg, const char *id,
                       const as_finalize_rules *rules, as_session_status *final);

/* Under id's lock: mark a paused run awaiting_input with a status_changed
** event; a no-op when it is already awaiting_input or terminal (a late pause
** must not undo a finalize). *changed (may be NULL) says whether it wrote.
** Statuses as as_finalize. */
AS_WUR int as_mark_paused(as_store *st, as_lock_registry *reg, const char *id, bool *changed);

/* Under id's lock: a run failed, so mark the session error with a
** status_changed event; a no-op when it is already terminal (a failure
** reported late must not undo a finalize). *changed (may be NULL) says
** whether it wrote. Statuses as as_finalize. */
AS_WUR int as_mark_failed(as_store *st, as_lock_registry *reg, const char *id, bool *changed);
/* as_mark_failed, storing the failure's kind (its name, retry.h; stored as
** given, so a name this build does not know stays, and reads as unknown:
** permanent) and its one-line cause (NULL: ""), cut to fit, in the row
** and in the status_changed event's payload (error_kind, error).
** as_mark_failed stores kind "unknown" and no cause. AS_INVAL for a NULL or
** empty kind. */
AS_WUR int as_mark_failed_as(as_store *st, as_lock_registry *reg, const char *id,
                             const char *kind, const char *cause, bool *changed);

#endif /* AGENTSIM_FINALIZE_H */

/*
** mutant.h -- switchable, historically real bugs for the sim build.
**
** The harness proves it can catch bugs by running the runtime with one of
** these switched on (DESIGN.md section 7). Each sits at the exact place its
** historical bug lived, as `if (AS_MUTANT(NAME)) ...`.
**
** Two builds of the same sources: the production library (as_core) is
** compiled without AS_WITH_MUTANTS, so AS_MUTANT(NAME) is the constant 0 and
** the objects hold no trace of any mutant (no symbol, no string: a ctest test
** checks with nm and strings). The sim library (as_core_mut) is compiled with
** AS_WITH_MUTANTS=1; there AS_MUTANT(NAME) reads one process-global switch
** that as_mutant_set() sets before the run starts.
*/
#ifndef AGENTSIM_MUTANT_H
#define AGENTSIM_MUTANT_H

#include <stddef.h>

#include "agentsim/status.h"

#ifdef AS_WITH_MUTANTS

/* X(NAME, name, what the bug does) */
#define AS_MUTANT_MAP(X)                                                      \
  X(LOCK_NOOP, lock_noop, "lock acquire made a no-op")                        \
  X(FINALIZE_COERCE_RESOLVED, finalize_coerce_resolved,                       \
    "finalize coerces every session to resolved")                             \
  X(FINALIZE_NO_LOCK, finalize_no_lock, "finalize runs without the session lock") \
  X(FINALIZE_STALE_ESCAPES, finalize_stale_escapes,                           \
    "a stale-version conflict escapes finalize and strands the session in_progress") \
  X(PAUSE_NOT_MARKED, pause_not_marked, "a paused run is not marked awaiting_input") \
  X(GC_NO_SUFFIX_STRIP, gc_no_suffix_strip,                                   \
    "checkpoint GC does not strip the :retry-N suffix")                        \
  X(SAVE_NO_VERSION_CHECK, save_no_version_check,                             \
    "a save does not check the stored version: a stale copy overwrites newer work") \
  X(LOAD_NOT_SNAPSHOT, load_not_snapshot,                                     \
    "a load reads the tool calls, then the row, outside one transaction")       \
  X(FINALIZE_BLIND_RETRY, finalize_blind_retry,                               \
    "after a stale-version conflict finalize refreshes only the version and saves its stale copy") \
  X(PAUSE_CLOBBERS_TERMINAL, pause_clobbers_terminal,                         \
    "a late pause moves a finalized session back to awaiting_input")          \
  X(FAIL_CLOBBERS_TERMINAL, fail_clobbers_terminal,                           \
    "a failed run marks an already finalized session error")                  \
  X(INFER_OLDEST_FIRST, infer_oldest_first,                                   \
    "terminal inference reads the tool-call history oldest first")            \
  X(INFER_COUNTS_UNEXECUTED, infer_counts_unexecuted,                         \
    "terminal inference counts rejected, pending and timed-out calls")        \
  X(GC_REAPS_ERRORED, gc_reaps_errored,                                       \
    "checkpoint GC treats errored sessions (which may be retried) as finished") \
  X(GC_KEEP_LIST_STALE, gc_keep_list_stale,                                   \
    "checkpoint GC reads what to keep in one transaction and deletes the rest in another") \
  X(LOCK_WAIT_IF, lock_wait_if,                                               \
    "lock acquire waits with `if`, not `while`: a woken waiter does not re-check the owner") \
  X(LOAD_DROPS_REASON, load_drops_reason,                                     \
    "a load does not read the needs_review reason: the next save of the session wipes it") \
  X(RETRY_FROM_VERSION, retry_from_version,                                   \
    "a load reads retry_count from the version column (a column index off by one)") \
  X(SAVE_STALE_UPDATED, save_stale_updated,                                   \
    "a save stamps updated_ns with the time the copy was loaded, not the time of the save") \
  X(STALE_LEAVES_TX_OPEN, stale_leaves_tx_open,                               \
    "a save that finds a stale version returns without ending its write transaction") \
  X(TRY_GRANTS_HOLDER, try_grants_holder,                                     \
    "a try-acquire by the lock's own holder is granted (and resets its depth)") \
  X(RESULT_GETS_ARGS, result_gets_args,                                       \
    "a tool call's result column is written with its arguments")              \
  X(CKPT_KEEPS_DATA, ckpt_keeps_data,                                         \
    "storing a checkpoint over an existing one keeps the old bytes")          \
  X(GC_KEEPS_ORPHANS, gc_keeps_orphans,                                       \
    "checkpoint GC removes checkpoints of finished sessions only, keeping those of no session") \
  X(EVENT_SEQ_OUTSIDE_TX, event_seq_outside_tx,                               \
    "an appended event's seq is read before its write transaction begins")    \
  X(LOCK_WAITER_LEAK, lock_waiter_leak,                                       \
    "a woken waiter is not unregistered: a contended lock's entry is never evicted") \
  X(PAYLOAD_OLD_REASON, payload_old_reason,                                   \
    "the status_changed event carries the session's old reason, not the new one") \
  X(DELETE_SYNC_FULL, delete_sync_full,                                       \
    "the store's default for journal delete is synchronous full (SQLite's), whose commit unlink is not durable") \
  X(PENDING_SAVED_AFTER_PAUSE, pending_saved_after_pause,                     \
    "a gated call marks the session awaiting_input first and saves its pending row after") \
  X(WATCHDOG_PEEK_THEN_RESUME, watchdog_peek_then_resume,                     \
    "the watchdog peeks is_locked, then takes the lock blocking and resumes (check-then-act)") \
  X(PATCH_ACCEPTS_STATUS, patch_accepts_status,                               \
    "the generic patch tool accepts a status field and writes it")           \
  X(TERMINAL_NOT_LOCKED, terminal_not_locked,                                 \
    "no terminal lock: a patch after a typed terminal call in one answer changes its confidence and rationale") \
  X(INJECTED_ARG_LLM_WINS, injected_arg_llm_wins,                             \
    "an injected argument the model also sent keeps the model's value")      \
  X(APPROVAL_DOUBLE_RESOLVE, approval_double_resolve,                         \
    "an approval does not check that the call is still pending: a second decision resolves and resumes again") \
  X(CONCURRENT_RETRY_NOT_REJECTED, concurrent_retry_not_rejected,             \
    "the in-flight set counts callers: a second concurrent retry waits for the lock and runs too") \
  X(RETRY_COUNT_NOT_INCREMENTED, retry_count_not_incremented,                 \
    "an accepted retry leaves retry_count as it was (the policy's cap never comes)") \
  X(UNKNOWN_ERROR_TRANSIENT, unknown_error_transient,                         \
    "an error kind the classifier does not know counts as transient")         \
  X(PREVIEW_MUTATES, preview_mutates,                                         \
    "the retry preview goes through the retry's path and records its denial") \
  X(RETRY_FROM_NON_ERROR, retry_from_non_error,                               \
    "retry does not check that the session is in error")                      \
  X(INFLIGHT_NOT_CLEARED_ON_CANCEL, inflight_not_cleared_on_cancel,           \
    "a cancelled retry never leaves the in-flight set: the session can never be retried again") \
  X(BUDGET_CHECK_THEN_RECORD, budget_check_then_record,                       \
    "a trigger checks the budget in one transaction and reserves in another: concurrent " \
    "triggers overspend")                                                     \
  X(BUDGET_RMW_OUTSIDE_TX, budget_rmw_outside_tx,                             \
    "a ledger record reads the day's next seq outside its transaction and replaces on " \
    "conflict: concurrent records lose spend")                                \
  X(COST_COUNTED_TWICE, cost_counted_twice,                                   \
    "the spend metric adds the settled reservations to the ledger total")     \
  X(RESERVATION_NOT_RELEASED_ON_ERROR, reservation_not_released_on_error,     \
    "a failed run leaves its cycle's reservation open")                       \
  X(SETTLE_NOT_IDEMPOTENT, settle_not_idempotent,                             \
    "settling a settled reservation adds the cycle's cost to it again")       \
  X(PARENT_SPAN_USAGE, parent_span_usage,                                     \
    "the agent's span carries its LLM calls' usage too")                      \
  X(CACHED_TOKENS_BILLED_AS_INPUT, cached_tokens_billed_as_input,             \
    "the edge bills cache reads as uncached input as well")                   \
  X(STREAM_USAGE_NEEDS_CHOICE, stream_usage_needs_choice,                     \
    "the stream parser skips a chunk without a choice whole: the usage of OpenAI's last chunk is lost")

typedef enum as_mutant_id {
  AS_MUT_NONE = 0,
#define AS__MUT_ENUM(NAME, name, what) AS_MUT_##NAME,
  AS_MUTANT_MAP(AS__MUT_ENUM)
#undef AS__MUT_ENUM
  AS__MUT_COUNT
} as_mutant_id;

typedef struct as_mutant_info {
  as_mutant_id id;
  const char *name; /* "lock_noop" */
  const char *what; /* one line */
} as_mutant_info;

/* The active mutant; internal: test it with AS_MUTANT(NAME). */
extern int as__mutant_active;

#define AS_MUTANT(NAME) (as__mutant_active == AS_MUT_##NAME)

/* Switch on the mutant called `name`; NULL, "" or "none" switch every mutant
** off. AS_NOTFOUND (and nothing changes) for an unknown name. Process-global:
** call it before the tasks that should see it start. */
AS_WUR int as_mutant_set(const char *name);
/* The name of the active mutant, or NULL when none is on. */
const char *as_mutant_active(void);
/* Every mutant, in declaration order; *n gets the count. Static storage. */
const as_mutant_info *as_mutant_list(size_t *n);

#else

/* Production: no mutant exists, and none can be switched on. */
#define AS_MUTANT(NAME) 0

#endif

#endif /* AGENTSIM_MUTANT_H */

/*
** retry_internal.h -- the registry's calls the turn loop makes (retry.c).
*/
#ifndef AGENTSIM_RETRY_INTERNAL_H
#define AGENTSIM_RETRY_INTERNAL_H

#include <stdbool.h>

#include "agentsim/retry.h"

typedef struct as__run_entry as__run_entry;

/* Put a retry of key in flight: AS_BUSY when one is (nothing changes);
** AS_TOOBIG past the registry's size, AS_INVAL for a bad key, AS_NOMEM. */
AS_WUR int as__runs_retry_enter(as_runs *r, const char *key);
/* The calling task's retry of key leaves the set (no-op when not in). */
void as__runs_retry_leave(as_runs *r, const char *key);
/* Register a run of key (lock held); *out its entry. r NULL: AS_OK, *out
** NULL (a run nobody can cancel). */
AS_WUR int as__runs_run_begin(as_runs *r, const char *key, as__run_entry **out);
/* Unregister it; NULL is a no-op. */
void as__runs_run_end(as_runs *r, as__run_entry *e);
/* Whether a cancel marked e's run (under the registry's mutex). */
bool as__runs_cancelled(as_runs *r, as__run_entry *e);
/* Mark every run of key cancelled: *marked whether there was one. */
AS_WUR int as__runs_cancel(as_runs *r, const char *key, bool *marked);

#endif /* AGENTSIM_RETRY_INTERNAL_H */

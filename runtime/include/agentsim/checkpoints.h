/*
** checkpoints.h -- per-thread checkpoints and their garbage collector.
**
** A run's checkpoint (the state it resumes from) is stored under its thread
** id: the session id for the first run, `<session id>:retry-N` (N decimal)
** for the N-th retry, which runs on a fresh thread. Old threads are never
** resumed once a session stops being active, so their checkpoints pile up;
** the GC removes the checkpoints whose base id (the thread id with exactly
** one trailing `:retry-N` stripped) names no active session, and never one
** whose base session is active (as_session_status_active: anything but
** resolved, escalated, needs_review).
*/
#ifndef AGENTSIM_CHECKPOINTS_H
#define AGENTSIM_CHECKPOINTS_H

#include <stddef.h>

#include "agentsim/session.h"
#include "agentsim/status.h"
#include "agentsim/store.h"

/* Buffer size of a thread id, NUL included: a session id, ":retry-", and up
** to 20 digits. */
#define AS_THREAD_ID_MAX (AS_SESSION_ID_MAX + 27)
/* Largest checkpoint, bytes. */
#define AS_CHECKPOINT_MAX (1024u * 1024u)

/* Pure: the length of thread_id's base id, i.e. strlen(thread_id) minus a
** trailing ":retry-N" (N one or more decimal digits; nothing else counts as
** the suffix, and only one is stripped). 0 for NULL. */
size_t as_thread_base_len(const char *thread_id);

/* Store (or replace) the checkpoint of thread_id: len bytes at data (data
** may be NULL when len is 0). thread_id: 1 .. AS_THREAD_ID_MAX-1 printable
** non-space ASCII bytes (AS_INVAL / AS_TOOBIG); AS_TOOBIG past
** AS_CHECKPOINT_MAX. */
AS_WUR int as_checkpoint_put(as_store *st, const char *thread_id, const void *data, size_t len);
/* Copy thread_id's checkpoint into buf (cap bytes); *len gets its size.
** AS_NOTFOUND when there is none; AS_TOOBIG (with *len set, buf untouched)
** when cap is too small. */
AS_WUR int as_checkpoint_get(as_store *st, const char *thread_id, void *buf, size_t cap,
                             size_t *len);
/* Remove every checkpoint whose base id names no active session, in one
** statement; *removed (may be NULL) gets how many went. */
AS_WUR int as_checkpoint_gc(as_store *st, size_t *removed);

#endif /* AGENTSIM_CHECKPOINTS_H */

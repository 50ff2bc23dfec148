/*
** locks.h -- the per-session lock registry.
**
** One lock per key (a session id), built on the seam's mutex and condition
** variable, so the sim schedules every contention. Two ways in:
**
**   as_lock_acquire      blocks until the lock is free; re-entrant for the
**                        task holding it (as_task_id()): each acquire needs
**                        its own release.
**   as_lock_try_acquire  never blocks: AS_BUSY when anyone holds the lock,
**                        the caller included (not re-entrant, on purpose: a
**                        watchdog must never act on a session it is already
**                        in the middle of). The API maps AS_BUSY to
**                        429 + Retry-After: 1.
**
** Entries exist only while a lock is held or waited for: the release that
** frees a lock nobody waits for evicts its entry, so the registry's size
** returns to 0 when idle. The number of entries is capped (max_entries given
** at creation); an acquire that would need one more fails with AS_TOOBIG.
**
** Ownership: the registry is the creator's; free it when no task holds or
** waits for any of its locks. Keys are copied.
*/
#ifndef AGENTSIM_LOCKS_H
#define AGENTSIM_LOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentsim/session.h"
#include "agentsim/status.h"

/* Longest key: AS_SESSION_ID_MAX-1 bytes. Most entries a registry may have,
** and how many it gets when its creator says 0. */
#define AS_LOCKS_MAX_ENTRIES 65536u
#define AS_LOCKS_DEFAULT_ENTRIES 1024u

typedef struct as_lock_registry as_lock_registry;

/* A registry of at most max_entries (0: AS_LOCKS_DEFAULT_ENTRIES; at most
** AS_LOCKS_MAX_ENTRIES) live locks. AS_INVAL for a bad size, AS_NOMEM or the
** seam's status for its mutex. */
AS_WUR int as_locks_new(as_lock_registry **out, size_t max_entries);
/* Free the registry (NULL is a no-op); no task may hold or wait for a lock. */
void as_locks_free(as_lock_registry *r);

/* What an observer hears, in the order the registry serializes it, with its
** mutex held (the observer must not call the registry, nor block):
**   AS_LOCK_ACQUIRED      as_lock_acquire returned holding the lock (every
**                         success, re-entries included)
**   AS_LOCK_TRY_ACQUIRED  as_lock_try_acquire took the lock
**   AS_LOCK_TRY_REFUSED   as_lock_try_acquire answered AS_BUSY
**   AS_LOCK_RELEASED      as_lock_release undid one acquire
** `task` is as_task_id() of the caller. For an oracle checking that no two
** tasks are ever inside one lock; the registry's own account, so a lock
** that excludes no one shows up as two tasks inside. */
typedef enum as_lock_event {
  AS_LOCK_ACQUIRED,
  AS_LOCK_TRY_ACQUIRED,
  AS_LOCK_TRY_REFUSED,
  AS_LOCK_RELEASED
} as_lock_event;
typedef void (*as_lock_observer)(void *ctx, const char *key, uint64_t task, as_lock_event ev);
/* Install fn (NULL: none) with its ctx (borrowed). Call before the tasks
** that use the registry start. */
void as_locks_observe(as_lock_registry *r, as_lock_observer fn, void *ctx);

/* Block until the calling task holds key's lock (at once when it already
** does: the depth goes up). AS_INVAL for an empty or NULL key, AS_TOOBIG for
** a key too long or no free entry, or the seam's status making one. */
AS_WUR int as_lock_acquire(as_lock_registry *r, const char *key);
/* Take key's lock if nobody holds it, the caller included; AS_BUSY (without
** waiting) otherwise. Other statuses as as_lock_acquire. */
AS_WUR int as_lock_try_acquire(as_lock_registry *r, const char *key);
/* Undo one acquire by the calling task. AS_INVAL when the caller does not
** hold key's lock (nothing changes). */
AS_WUR int as_lock_release(as_lock_registry *r, const char *key);
/* Whether some task holds key's lock right now (a snapshot: never decide to
** act on it; use as_lock_try_acquire). */
bool as_lock_is_locked(as_lock_registry *r, const char *key);
/* Live entries: locks held or waited for. 0 when idle. */
size_t as_locks_size(as_lock_registry *r);

#endif /* AGENTSIM_LOCKS_H */

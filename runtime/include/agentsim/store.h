/*
** store.h -- sessions in SQLite.
**
** One as_store is one SQLite connection. It is used by one task at a time;
** concurrent actors each open their own on the same file, and SQLite's file
** locks (through whatever VFS the options name) keep them consistent.
**
** Versions: creating a session stores version 1; every successful save
** stores version+1 in the same UPDATE ... WHERE id=? AND version=? that
** writes the row, and the whole save (row and tool calls, and with
** as_session_save_with_event its event) is one transaction. A save from a
** stale copy fails with AS_STALE and changes nothing.
**
** Errors from SQLite become statuses: busy after the busy timeout -> AS_BUSY;
** disk full -> AS_FULL; out of memory -> AS_NOMEM; I/O errors, a corrupt or
** unopenable file -> AS_IO; a primary key taken -> AS_EXISTS; a JSON text the
** schema refuses -> AS_PARSE; anything else -> AS_INTERNAL. After any error
** the transaction is rolled back; the handle stays usable.
**
** Waiting for a busy database goes through the seam (as_sleep_until and the
** monotonic clock), not SQLite's built-in handler, so the sim's virtual
** clock times it whatever the VFS.
**
** The schema is versioned with PRAGMA user_version and migrated on open
** (store.c holds the migration list; schema version AS_STORE_SCHEMA_VERSION).
**
** Durability: the store offers only combinations of journal mode and
** synchronous level under which a transaction that returned AS_OK survives
** power loss, on a file system that keeps what fsync(2) persisted and
** nothing else (POSIX; Linux ext4 and xfs: a new name or an unlink is
** durable only once the directory is synced). Measured on the honest
** simulated disk (tests/test_simdb_durability.c: power loss at every I/O of
** three transactions, torn sectors) and read against SQLite's pager:
**
**   journal   off   normal      full        extra   default
**   wal       no    lost        DURABLE     DURABLE full
**   delete    no    lost        lost        DURABLE extra
**   truncate  no    lost        DURABLE     DURABLE full
**   persist   no    (refused)   DURABLE     DURABLE full
**
**   wal+normal: commits are synced only at a checkpoint (SQLite documents
**     that they may roll back after power loss).
**   delete+normal/full: the commit point is the journal's unlink, and only
**     EXTRA syncs the directory after it (xDelete's dirSync); without it
**     the hot journal comes back and rolls the acknowledged commit back.
**   truncate+normal: the truncation that commits is not synced; power
**     loss can undo it, and the journal, hot again, rolls the acknowledged
**     commit back. (On a file system that hands the cut blocks to the next
**     transaction's journal at once, the old header could come back over
**     records half overwritten, and the rollback corrupt the file.)
**   persist+normal: the matrix found it durable (the zeroed header is
**     synced at each commit), but the journal header is written without
**     first syncing its records, which SQLite documents may corrupt on
**     power loss ("a very small chance"): refused.
**   off: nothing is ever synced.
**   full: truncate and persist sync the journal's reset at commit, and WAL
**     syncs the WAL at each commit, so FULL is enough for them.
** as_store_durable() answers for one combination. A combination it calls
** not durable is refused (AS_INVAL, with a log line) unless the options say
** not_durable: a scratch database or a test that must not fsync.
*/
#ifndef AGENTSIM_STORE_H
#define AGENTSIM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "agentsim/session.h"
#include "agentsim/status.h"

/* The schema version this build writes. */
#define AS_STORE_SCHEMA_VERSION 3
/* Longest busy timeout accepted (10 minutes). */
#define AS_STORE_BUSY_MAX_MS 600000
/* Most sessions one as_store_list call returns. */
#define AS_STORE_LIST_MAX 1024u

typedef struct as_store as_store;

typedef struct as_store_opts {
  const char *vfs;          /* SQLite VFS name; NULL: the default VFS */
  const char *journal_mode; /* "wal", "delete", "truncate" or "persist"; NULL: "wal" */
  const char *synchronous;  /* "extra", "full", "normal" or "off"; NULL: the
                            ** level that makes journal_mode durable (the
                            ** table above) */
  int busy_timeout_ms;      /* 0 .. AS_STORE_BUSY_MAX_MS: how long to wait
                            ** for another connection's lock */
  int not_durable;          /* nonzero: accept a combination that is not
                            ** durable (then nothing is promised across
                            ** power loss) */
} as_store_opts;

/* Whether journal mode `journal` with synchronous level `synchronous` is
** durable (the table above; NULL for either means the store's default).
** AS_OK when it is, with *level (if not NULL) the synchronous level that
** will be set ("full" or "extra", static); AS_INVAL when it is not or a
** name is unknown, with *why (if not NULL) one static sentence saying why
** and what to use instead. Pure: no I/O, no state. */
AS_WUR int as_store_durable(const char *journal, const char *synchronous, const char **level,
                            const char **why);

/* Open (creating if missing) the database at path, set the journal mode,
** and create or migrate the schema. opts NULL means all defaults. On success
** *out is the caller's, released with as_store_close. AS_INVAL for bad
** options, a not-durable combination among them (unless not_durable; the
** reason is logged at AS_LOG_ERROR); AS_UNSUPPORTED when the file's schema is newer than this build's
** or the journal mode cannot be set (a VFS without WAL, an in-memory file);
** AS_NOTFOUND for an unknown VFS; the SQLite statuses above. On failure *out
** is NULL. */
AS_WUR int as_store_open(as_store **out, const char *path, const as_store_opts *opts);
/* Close the connection and free the handle; NULL is a no-op. Call it with
** no transaction in progress (no function here leaves one). */
void as_store_close(as_store *st);
/* Free the handle without touching its connection: for a harness whose
** task died inside a SQLite call, so the connection is in no state to be
** closed, and whose allocator reclaims SQLite's memory wholesale. NULL is a
** no-op. */
void as_store_forget(as_store *st);
/* The schema version of the open file (AS_STORE_SCHEMA_VERSION after open). */
AS_WUR int as_store_schema_version(as_store *st, int *version);
/* SQLite's message for the last failed call on this handle (for logs);
** never NULL, owned by the handle, valid until its next call. */
const char *as_store_errmsg(as_store *st);

/* Insert *s as a new session with version 1 (whatever s->version says),
** created_ns = updated_ns = now; on success s->version and the times are
** updated. AS_EXISTS when the id is taken; on failure nothing is stored and
** *s is unchanged. */
AS_WUR int as_session_create(as_store *st, as_session *s);
/* Read session `id` with its tool calls (one consistent snapshot) into *out.
** *out is storage, overwritten without being released (like
** as_session_init): pass a fresh or cleared one. On success the caller owns
** what it holds; on failure it is an empty (zeroed) session, so clearing it
** is always safe. AS_NOTFOUND when no such session exists; AS_PARSE or
** AS_TOOBIG for a row this build cannot represent. */
AS_WUR int as_session_load(as_store *st, const char *id, as_session *out);
/* Store *s over the stored row if the stored version is still s->version:
** version+1, updated_ns = now, the tool calls replaced by s's. On success
** s->version and s->updated_ns are updated. AS_STALE when the stored version
** differs (another writer saved first), AS_NOTFOUND when the row is gone; on
** any failure nothing changes, in the database or in *s. */
AS_WUR int as_session_save(as_store *st, as_session *s);
/* as_session_save and as_event_append(kind, payload) in one transaction:
** both happen or neither. On success *seq (may be NULL) gets the event's sequence
** number. For transitions whose audit record must not be lost or doubled
** (status_changed). kind NULL: no event, as as_session_save. */
AS_WUR int as_session_save_with_event(as_store *st, as_session *s, const char *kind,
                                      const char *payload, int64_t *seq);
/* One event to append with a save. */
typedef struct as_event_in {
  const char *kind;
  const char *payload; /* JSON text; NULL: "{}" */
} as_event_in;
#define AS_SAVE_EVENTS_MAX 8u
/* as_session_save and n (0 .. AS_SAVE_EVENTS_MAX) events, in order, in one
** transaction; *first_seq (may be NULL) gets the first event's number (0
** for n 0). For a step whose records belong together: a paused turn's
** pending call, its status change and its approval request. */
AS_WUR int as_session_save_with_events(as_store *st, as_session *s, const as_event_in *evs,
                                       size_t n, int64_t *first_seq);

/* One row of a listing. */
typedef struct as_session_brief {
  char id[AS_SESSION_ID_MAX];
  as_session_status status;
  int64_t version;
} as_session_brief;

/* Sessions with id > after (byte order; after NULL or "" starts at the
** beginning), ascending, at most `max` (1 .. AS_STORE_LIST_MAX) into out[];
** *n gets how many. A page shorter than max is the last. */
AS_WUR int as_session_list(as_store *st, const char *after, as_session_brief *out, size_t max,
                           size_t *n);

/* Sessions newest first (created_ns descending, then id descending), those
** with status `status` only (an as_session_status; -1: any), at most max (1 ..
** AS_STORE_LIST_MAX) into out[]; *n gets how many. AS_INVAL for a bad
** argument. For an API's listings (recent sessions, pending approvals). */
AS_WUR int as_session_recent(as_store *st, int status, as_session_brief *out, size_t max,
                             size_t *n);
/* Checkpoint the WAL into the database and truncate it (SQLITE_CHECKPOINT_TRUNCATE):
** for a server's orderly shutdown, once its other connections are idle.
** AS_BUSY when another connection still reads or writes; AS_OK for a database
** not in WAL mode (nothing to do). */
AS_WUR int as_store_checkpoint(as_store *st);

#endif /* AGENTSIM_STORE_H */

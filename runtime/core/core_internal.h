/*
** core_internal.h -- what the core's modules share and nobody else sees
** (tests include it to reach the helpers directly).
**
** The SQL helpers keep a sticky status (STYLE.md rule 5): each takes the
** status so far as its last argument and does nothing but hand it back when
** it is already an error, so a sequence of calls needs one check at the end
** and cannot report success after a failed step.
*/
#ifndef AGENTSIM_CORE_INTERNAL_H
#define AGENTSIM_CORE_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentsim/session.h"
#include "agentsim/status.h"
#include "agentsim/store.h"

struct as_store {
  sqlite3 *db;
  int busy_timeout_ms;
  uint64_t busy_deadline_ns; /* end of the current wait for a lock */
};

/* --- SQLite glue (sql.c) ------------------------------------------------- */

/* The status for a SQLite result code (extended or primary); AS_OK for
** SQLITE_OK, SQLITE_ROW and SQLITE_DONE. */
AS_WUR int as__sql_status(int src);
/* Prepare one statement; *q is NULL unless this returns AS_OK. */
AS_WUR int as__sql_prepare(as_store *st, const char *sql, sqlite3_stmt **q, int rc);
/* Bind parameter i (1-based). Text and blobs must outlive the statement's
** next reset or finalize (they are not copied). */
AS_WUR int as__sql_text(sqlite3_stmt *q, int i, const char *v, int rc);
AS_WUR int as__sql_int64(sqlite3_stmt *q, int i, int64_t v, int rc);
AS_WUR int as__sql_blob(sqlite3_stmt *q, int i, const void *v, size_t n, int rc);
/* One step; *row is 1 when a row is ready, else 0. */
AS_WUR int as__sql_step(sqlite3_stmt *q, int *row, int rc);
/* Reset for the next round of binds and steps. */
AS_WUR int as__sql_reset(sqlite3_stmt *q, int rc);
/* Column col of the current row as text: *out points into the statement
** (valid until its next step, reset or finalize); "" when rc is an error.
** A NULL from SQLite (the columns read are NOT NULL) is out of memory. */
AS_WUR int as__sql_column_text(sqlite3_stmt *q, int col, const char **out, int rc);
/* Finalize q (always; NULL is fine) and fold its status into rc. */
AS_WUR int as__sql_finish(sqlite3_stmt *q, int rc);
/* Prepare, step once, finalize: for statements with no parameters and no
** result rows. */
AS_WUR int as__sql_exec(as_store *st, const char *sql, int rc);
/* Begin a transaction: a write one takes the write lock at once (BEGIN
** IMMEDIATE), so two writers never deadlock upgrading read locks. A
** transaction an earlier failed rollback left open is rolled back first. */
AS_WUR int as__tx_begin(as_store *st, bool write);
/* Commit when rc is AS_OK, else (or when the commit fails) roll back.
** Returns the transaction's status. */
AS_WUR int as__tx_end(as_store *st, int rc);

/* --- JSON texts (json.c) ------------------------------------------------- */

/* Give jansson back a text it made (json_dumps), through whatever allocator
** the process installed (json_set_alloc_funcs). NULL is a no-op. */
void as__json_free(void *p);

/* --- text (session.c) ---------------------------------------------------- */

/* Copy src (1 .. cap-1 bytes) into dst: AS_INVAL for NULL or "", AS_TOOBIG
** when it does not fit; dst unchanged on failure. */
AS_WUR int as__copy_name(char *dst, size_t cap, const char *src);
/* A malloc'ed copy of src (at most max bytes, else AS_TOOBIG) into *out. */
AS_WUR int as__dup_text(const char *src, size_t max, char **out);

/* --- events (events.c) ---------------------------------------------------- */

/* Check an event's kind and payload (AS_INVAL, AS_TOOBIG); payload NULL is
** "{}". */
AS_WUR int as__event_check(const char *kind, const char *payload);
/* Insert an event inside the caller's write transaction; *seq gets its
** number (only meaningful when the transaction commits). */
AS_WUR int as__event_insert(as_store *st, const char *session_id, const char *kind,
                            const char *payload, int64_t now, int64_t *seq, int rc);

/* --- the budget (budget.c) ------------------------------------------------ */

/* spent(day) and held(day) as budget.h defines them, inside the caller's
** transaction (sticky rc). */
AS_WUR int as__budget_day_totals(as_store *st, const char *day, int64_t *spent, int64_t *held,
                                 int rc);

/* --- checkpoints (checkpoints.c) ------------------------------------------ */

/* Register the SQL function the GC uses on a new connection. */
AS_WUR int as__checkpoint_register(sqlite3 *db);

#endif /* AGENTSIM_CORE_INTERNAL_H */

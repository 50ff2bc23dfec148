/*
** checkpoints.c -- per-thread checkpoints and their GC (checkpoints.h).
*/
#include <string.h>

#include "agentsim/checkpoints.h"
#include "agentsim/mutant.h"
#include "agentsim/seam.h"
#include "core_internal.h"

#define RETRY_SUFFIX ":retry-"

size_t as_thread_base_len(const char *thread_id) {
  if (!thread_id) return 0;
  size_t n = strlen(thread_id), d = n;
  while (d > 0 && thread_id[d - 1] >= '0' && thread_id[d - 1] <= '9') d--;
  size_t k = sizeof RETRY_SUFFIX - 1;
  /* At least one digit, preceded by exactly ":retry-". */
  if (d == n || d < k || memcmp(thread_id + d - k, RETRY_SUFFIX, k) != 0) return n;
  return d - k;
}

/* as_base_id(thread_id) in SQL, for the GC's one statement. */
static void base_id_sql(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  const char *t = (const char *)sqlite3_value_text(argv[0]);
  if (!t) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  size_t n = as_thread_base_len(t);
  /* The seed's first GC compared the whole thread id with session ids, so
  ** every retry thread's checkpoint looked orphaned. */
  if (AS_MUTANT(GC_NO_SUFFIX_STRIP)) n = strlen(t);
  sqlite3_result_text(ctx, t, (int)n, SQLITE_TRANSIENT);
}

int as__checkpoint_register(sqlite3 *db) {
  return as__sql_status(sqlite3_create_function_v2(db, "as_base_id", 1,
                                                   SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                                   base_id_sql, NULL, NULL, NULL));
}

static AS_WUR int thread_id_check(const char *tid) {
  if (!tid || !*tid) return AS_INVAL;
  size_t n = strnlen(tid, AS_THREAD_ID_MAX);
  if (n >= AS_THREAD_ID_MAX) return AS_TOOBIG;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)tid[i] <= ' ' || (unsigned char)tid[i] > '~') return AS_INVAL;
  return AS_OK;
}

int as_checkpoint_put(as_store *st, const char *thread_id, const void *data, size_t len) {
  if (!st || (!data && len)) return AS_INVAL;
  int rc = thread_id_check(thread_id);
  if (rc != AS_OK) return rc;
  if (len > AS_CHECKPOINT_MAX) return AS_TOOBIG;
  sqlite3_stmt *q;
  int row;
  int64_t now = as_now_wall_ns();
  rc = as__tx_begin(st, true);
  /* An upsert that listed only the stamp among the columns to update. */
  rc = as__sql_prepare(st,
                       AS_MUTANT(CKPT_KEEPS_DATA)
                           ? "INSERT INTO checkpoints (thread_id, data, updated_ns) VALUES (?1, ?2, ?3)"
                             " ON CONFLICT (thread_id) DO UPDATE SET updated_ns = excluded.updated_ns"
                           : "INSERT INTO checkpoints (thread_id, data, updated_ns) VALUES (?1, ?2, ?3)"
                             " ON CONFLICT (thread_id) DO UPDATE SET data = excluded.data,"
                             " updated_ns = excluded.updated_ns",
                       &q, rc);
  rc = as__sql_text(q, 1, thread_id, rc);
  rc = as__sql_blob(q, 2, data, len, rc);
  rc = as__sql_int64(q, 3, now, rc);
  rc = as__sql_step(q, &row, rc);
  rc = as__sql_finish(q, rc);
  return as__tx_end(st, rc);
}

int as_checkpoint_get(as_store *st, const char *thread_id, void *buf, size_t cap, size_t *len) {
  if (!st || !len || (!buf && cap)) return AS_INVAL;
  int rc = thread_id_check(thread_id);
  if (rc != AS_OK) return rc;
  sqlite3_stmt *q;
  int row;
  rc = as__tx_begin(st, false);
  rc = as__sql_prepare(st, "SELECT data FROM checkpoints WHERE thread_id = ?1", &q, rc);
  rc = as__sql_text(q, 1, thread_id, rc);
  rc = as__sql_step(q, &row, rc);
  if (rc == AS_OK && !row) rc = AS_NOTFOUND;
  if (rc == AS_OK) {
    const void *p = sqlite3_column_blob(q, 0);
    size_t n = (size_t)sqlite3_column_bytes(q, 0);
    *len = n;
    if (!p && n) /* NULL for a non-empty blob: SQLite ran out of memory */
      rc = AS_NOMEM;
    else if (n > cap)
      rc = AS_TOOBIG;
    else if (n)
      memcpy(buf, p, n);
  }
  rc = as__sql_finish(q, rc);
  return as__tx_end(st, rc);
}

/* Bind the statuses the GC counts as finished: ?1 ?2 ?3, and ?4, which
** repeats ?3 but for the mutant. */
static AS_WUR int bind_finished(sqlite3_stmt *q, int rc) {
  rc = as__sql_text(q, 1, as_session_status_name(AS_SESS_RESOLVED), rc);
  rc = as__sql_text(q, 2, as_session_status_name(AS_SESS_ESCALATED), rc);
  rc = as__sql_text(q, 3, as_session_status_name(AS_SESS_NEEDS_REVIEW), rc);
  /* The seed's GC called every terminal status finished, error included,
  ** though an errored session may still be retried. */
  as_session_status fourth = AS_MUTANT(GC_REAPS_ERRORED) ? AS_SESS_ERROR : AS_SESS_NEEDS_REVIEW;
  return as__sql_text(q, 4, as_session_status_name(fourth), rc);
}

#define GC_ACTIVE_BASE                                                        \
  "EXISTS (SELECT 1 FROM sessions WHERE sessions.id = as_base_id(checkpoints.thread_id)" \
  " AND sessions.status NOT IN (?1, ?2, ?3, ?4))"

/* The mutant's GC: what to keep, read in one transaction, as a JSON array. */
static AS_WUR int gc_keep_list(as_store *st, char **keep) {
  sqlite3_stmt *q;
  int row;
  const char *text;
  *keep = NULL;
  int rc = as__tx_begin(st, false);
  rc = as__sql_prepare(st, "SELECT json_group_array(thread_id) FROM checkpoints WHERE "
                           GC_ACTIVE_BASE, &q, rc);
  rc = bind_finished(q, rc);
  rc = as__sql_step(q, &row, rc);
  rc = as__sql_column_text(q, 0, &text, rc);
  if (rc == AS_OK) rc = as__dup_text(text, AS_CHECKPOINT_MAX, keep);
  rc = as__sql_finish(q, rc);
  return as__tx_end(st, rc);
}

int as_checkpoint_gc(as_store *st, size_t *removed) {
  if (!st) return AS_INVAL;
  sqlite3_stmt *q;
  int row;
  char *keep = NULL;
  int rc = AS_OK;
  /* The seed's GC listed the survivors first and deleted the rest later, in
  ** its own transaction: a checkpoint stored in between was not on the list. */
  if (AS_MUTANT(GC_KEEP_LIST_STALE)) rc = gc_keep_list(st, &keep);
  rc = as__tx_begin(st, true);
  if (keep)
    rc = as__sql_prepare(st, "DELETE FROM checkpoints WHERE thread_id NOT IN"
                             " (SELECT value FROM json_each(?1))", &q, rc);
  else if (AS_MUTANT(GC_KEEPS_ORPHANS)) /* "delete the finished", not "keep the active" */
    rc = as__sql_prepare(st, "DELETE FROM checkpoints WHERE EXISTS (SELECT 1 FROM sessions WHERE"
                             " sessions.id = as_base_id(checkpoints.thread_id) AND sessions.status"
                             " IN (?1, ?2, ?3, ?4))", &q, rc);
  else
    rc = as__sql_prepare(st, "DELETE FROM checkpoints WHERE NOT " GC_ACTIVE_BASE, &q, rc);
  rc = keep ? as__sql_text(q, 1, keep, rc) : bind_finished(q, rc);
  rc = as__sql_step(q, &row, rc);
  size_t n = (size_t)sqlite3_changes(st->db); /* meaningless unless rc is AS_OK */
  rc = as__sql_finish(q, rc);
  rc = as__tx_end(st, rc);
  as_free(keep);
  if (removed) *removed = rc == AS_OK ? n : 0;
  return rc;
}

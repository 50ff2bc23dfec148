/*
** events.c -- the per-session append-only event log (events.h).
*/
#include <stdlib.h>
#include <string.h>

#include "agentsim/events.h"
#include "agentsim/mutant.h"
#include "agentsim/seam.h"
#include "core_internal.h"

int as__event_check(const char *kind, const char *payload) {
  char tmp[AS_EVENT_KIND_MAX];
  int rc = as__copy_name(tmp, sizeof tmp, kind);
  if (rc == AS_OK && payload && strnlen(payload, AS_EVENT_PAYLOAD_MAX + 1) > AS_EVENT_PAYLOAD_MAX)
    rc = AS_TOOBIG;
  return rc;
}

int as__event_insert(as_store *st, const char *session_id, const char *kind,
                     const char *payload, int64_t now, int64_t *seq, int rc) {
  sqlite3_stmt *q;
  int row;
  /* The next number is taken in the statement that inserts it, inside the
  ** caller's write transaction: no gap, no duplicate. */
  rc = as__sql_prepare(st,
                       "INSERT INTO events (session_id, seq, kind, payload, at_ns)"
                       " SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3, ?4"
                       " FROM events WHERE session_id = ?1 RETURNING seq",
                       &q, rc);
  rc = as__sql_text(q, 1, session_id, rc);
  rc = as__sql_text(q, 2, kind, rc);
  rc = as__sql_text(q, 3, payload ? payload : "{}", rc);
  rc = as__sql_int64(q, 4, now, rc);
  rc = as__sql_step(q, &row, rc);
  *seq = row ? sqlite3_column_int64(q, 0) : 0;
  return as__sql_finish(q, rc);
}

/* The mutant's append: the next seq read on its own, before the write
** transaction that inserts it (another append may take it in between). */
static AS_WUR int insert_read_first(as_store *st, const char *session_id, const char *kind,
                                    const char *payload, int64_t now, int64_t *seq) {
  sqlite3_stmt *q;
  int row;
  int rc = as__sql_prepare(st, "SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE session_id = ?1",
                           &q, AS_OK);
  rc = as__sql_text(q, 1, session_id, rc);
  rc = as__sql_step(q, &row, rc);
  *seq = row ? sqlite3_column_int64(q, 0) : 0;
  rc = as__sql_finish(q, rc);
  rc = as__tx_begin(st, true);
  rc = as__sql_prepare(st, "INSERT INTO events (session_id, seq, kind, payload, at_ns)"
                           " VALUES (?1, ?2, ?3, ?4, ?5)", &q, rc);
  rc = as__sql_text(q, 1, session_id, rc);
  rc = as__sql_int64(q, 2, *seq, rc);
  rc = as__sql_text(q, 3, kind, rc);
  rc = as__sql_text(q, 4, payload ? payload : "{}", rc);
  rc = as__sql_int64(q, 5, now, rc);
  rc = as__sql_step(q, &row, rc);
  return as__sql_finish(q, rc);
}

int as_event_append(as_store *st, const char *session_id, const char *kind,
                    const char *payload, int64_t *seq) {
  if (!st) return AS_INVAL;
  int rc = as_session_id_check(session_id);
  if (rc == AS_OK) rc = as__event_check(kind, payload);
  if (rc != AS_OK) return rc;
  int64_t now = as_now_wall_ns(), n = 0;
  if (AS_MUTANT(EVENT_SEQ_OUTSIDE_TX)) {
    rc = insert_read_first(st, session_id, kind, payload, now, &n);
    rc = as__tx_end(st, rc);
    if (rc == AS_OK && seq) *seq = n;
    return rc;
  }
  rc = as__tx_begin(st, true);
  rc = as__event_insert(st, session_id, kind, payload, now, &n, rc);
  rc = as__tx_end(st, rc);
  if (rc == AS_OK && seq) *seq = n;
  return rc;
}

void as_event_list_clear(as_event_list *l) {
  if (!l) return;
  for (size_t i = 0; i < l->n; i++) as_free(l->items[i].payload);
  as_free(l->items);
  l->items = NULL;
  l->n = 0;
}

/* One row (seq, kind, payload, at_ns) into *e. */
static AS_WUR int read_event(sqlite3_stmt *q, as_event *e, int rc) {
  const char *kind, *payload;
  rc = as__sql_column_text(q, 1, &kind, rc);
  rc = as__sql_column_text(q, 2, &payload, rc);
  if (rc == AS_OK) rc = as__copy_name(e->kind, sizeof e->kind, kind);
  if (rc == AS_OK) rc = as__dup_text(payload, AS_EVENT_PAYLOAD_MAX, &e->payload);
  if (rc == AS_OK) {
    e->seq = sqlite3_column_int64(q, 0);
    e->at_ns = sqlite3_column_int64(q, 3);
  }
  return rc;
}

int as_event_read(as_store *st, const char *session_id, int64_t after, size_t max,
                  as_event_list *out) {
  if (!out) return AS_INVAL;
  out->items = NULL;
  out->n = 0;
  if (!st || max == 0 || max > AS_EVENT_READ_MAX) return AS_INVAL;
  int rc = as_session_id_check(session_id);
  if (rc != AS_OK) return rc;
  as_event_list tmp = {as_calloc(max, sizeof(as_event)), 0};
  if (!tmp.items) return AS_NOMEM;
  sqlite3_stmt *q;
  int row;
  rc = as__tx_begin(st, false);
  rc = as__sql_prepare(st,
                       "SELECT seq, kind, payload, at_ns FROM events"
                       " WHERE session_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                       &q, rc);
  rc = as__sql_text(q, 1, session_id, rc);
  rc = as__sql_int64(q, 2, after, rc);
  rc = as__sql_int64(q, 3, (int64_t)max, rc);
  for (;;) {
    rc = as__sql_step(q, &row, rc);
    if (!row) break; /* the end, or an error (sticky) */
    rc = read_event(q, &tmp.items[tmp.n], rc);
    if (rc == AS_OK) tmp.n++;
  }
  rc = as__sql_finish(q, rc);
  rc = as__tx_end(st, rc);
  if (rc != AS_OK) {
    as_event_list_clear(&tmp);
    return rc;
  }
  *out = tmp;
  return AS_OK;
}

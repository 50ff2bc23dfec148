/*
** audit.c -- the database's own evidence: SQLite hooks on every connection
** a run opens, installed through sqlite3_auto_extension (so the runtime is
** untouched, and no connection escapes), reporting into the event stream.
**
**   pre-update hook   each row a statement is about to insert, update or
**                     delete, with its old and new values (ORC_EV_ROW), in
**                     the transaction that changes it
**   commit hook       the connection is committing (ORC_EV_COMMITTING)
**   rollback hook     its transaction rolled back (ORC_EV_ROLLBACK)
**   profile trace     a statement ended with the connection back in
**                     autocommit after a commit and no rollback: the commit
**                     went through (ORC_EV_COMMITTED); and whenever a
**                     statement leaves the connection inside a transaction
**                     or out of one (ORC_EV_TX)
**
** The per-connection state lives in SQLite's memory (swept with a run's
** leftovers) and goes with the connection: it is the user data of a no-op
** SQL function, whose destructor SQLite calls when the connection closes.
** Rows are reported by column names learnt once per run (orc_audit_map), so
** a column added to a table cannot shift what the oracle reads.
*/
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "oracle.h"
#include "simdb.h"

static const char *const table_names[ORC__T_COUNT] = {
    "sessions", "tool_calls", "events", "checkpoints", "cost_records", "budget_reservations"};
static const char *const column_names[ORC__T_COUNT][ORC_MAX_COLS] = {
    {"id", "status", "version", "retry_count", "needs_review_reason", "extra", "created_ns",
     "updated_ns", "error_kind", "error_cause"},
    {"session_id", "idx", "tool", "args", "result", "state"},
    {"session_id", "seq", "kind", "payload", "at_ns"},
    {"thread_id", "data", "updated_ns"},
    {"day", "seq", "op_id", "leaf", "session_id", "agent", "name", "input_tokens",
     "cache_read_tokens", "cache_write_tokens", "output_tokens", "usage_estimated",
     "price_version", "cost_micros", "duration_ns", "at_ns"},
    {"op_id", "session_id", "day", "estimate_micros", "state", "outcome", "settled_micros",
     "opened_ns", "closed_ns"},
};

static struct {
  bool armed;
  bool registered; /* the auto-extension is in SQLite's list */
  bool mapped;
  uint32_t next_conn;
  int col[ORC__T_COUNT][ORC_MAX_COLS]; /* SQLite's column index, -1 none */
} A;

typedef struct audit_conn {
  uint32_t id;
  bool committing;
  bool in_tx; /* outside autocommit, as of the last statement's end */
} audit_conn;

static int table_of(const char *name) {
  for (int t = 0; t < ORC__T_COUNT; t++)
    if (strcmp(name, table_names[t]) == 0) return t;
  return -1;
}

/* A column's value into d; no value at all (SQLite could not give one) is
** unreadable, which the oracle reports rather than guess. */
static void set_value(orc_val *d, sqlite3_value *v) {
  d->type = v ? sqlite3_value_type(v) : ORC_VAL_UNREADABLE;
  d->i = 0;
  d->t = NULL;
  d->n = 0;
  switch (d->type) {
  case SQLITE_INTEGER:
    d->i = sqlite3_value_int64(v);
    break;
  case SQLITE_TEXT:
    d->t = (const char *)sqlite3_value_text(v);
    d->n = (size_t)sqlite3_value_bytes(v);
    if (!d->t) d->type = ORC_VAL_UNREADABLE; /* out of memory */
    break;
  case SQLITE_BLOB:
    d->t = sqlite3_value_blob(v);
    d->n = (size_t)sqlite3_value_bytes(v);
    if (!d->t && d->n) d->type = ORC_VAL_UNREADABLE;
    break;
  default:
    break;
  }
}

static void on_preupdate(void *ctx, sqlite3 *db, int op, const char *zdb, const char *ztab,
                         sqlite3_int64 k1, sqlite3_int64 k2) {
  audit_conn *c = ctx;
  (void)k1;
  (void)k2;
  int t = strcmp(zdb, "main") == 0 ? table_of(ztab) : -1;
  if (t < 0) return;
  orc_row row;
  memset(&row, 0, sizeof row);
  row.conn = c->id;
  row.table = (orc_table)t;
  row.op = op == SQLITE_INSERT ? ORC_INSERT : op == SQLITE_UPDATE ? ORC_UPDATE : ORC_DELETE;
  if (!A.mapped) {
    /* Nothing sensible to report: the oracle reads it as lost track. */
    sim_publish(&(sim_ev){.kind = ORC_EV_ROW, .object = c->id, .extra = (uint64_t)row.op,
                          .label = ztab, .ref = NULL});
    return;
  }
  for (int i = 0; i < ORC_MAX_COLS; i++) {
    int col = A.col[t][i];
    if (col < 0) continue;
    sqlite3_value *v = NULL;
    if (row.op != ORC_INSERT)
      set_value(&row.old[i], sqlite3_preupdate_old(db, col, &v) == SQLITE_OK ? v : NULL);
    v = NULL;
    if (row.op != ORC_DELETE)
      set_value(&row.nw[i], sqlite3_preupdate_new(db, col, &v) == SQLITE_OK ? v : NULL);
  }
  sim_publish(&(sim_ev){.kind = ORC_EV_ROW, .object = c->id, .extra = (uint64_t)row.op,
                        .label = ztab, .ref = &row});
}

static int on_commit(void *ctx) {
  audit_conn *c = ctx;
  c->committing = true;
  sim_emit(ORC_EV_COMMITTING, c->id, 0, NULL);
  return 0; /* go on with the commit */
}

static void on_rollback(void *ctx) {
  audit_conn *c = ctx;
  c->committing = false;
  sim_emit(ORC_EV_ROLLBACK, c->id, 0, NULL);
}

static int on_trace(unsigned type, void *ctx, void *p, void *x) {
  audit_conn *c = ctx;
  (void)x;
  if (type != SQLITE_TRACE_PROFILE) return 0;
  bool in_tx = !sqlite3_get_autocommit(sqlite3_db_handle((sqlite3_stmt *)p));
  if (c->committing && !in_tx) {
    c->committing = false;
    sim_emit(ORC_EV_COMMITTED, c->id, 0, NULL);
  }
  if (in_tx != c->in_tx) {
    c->in_tx = in_tx;
    sim_emit(ORC_EV_TX, c->id, in_tx, NULL);
  }
  return 0;
}

static void conn_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  const audit_conn *c = sqlite3_user_data(ctx);
  sqlite3_result_int64(ctx, c->id);
}

static AS_WUR int audit_entry(sqlite3 *db, const char **errmsg, const struct sqlite3_api_routines *api) {
  (void)errmsg;
  (void)api;
  if (!A.armed || !sim_run_id()) return SQLITE_OK;
  audit_conn *c = sqlite3_malloc(sizeof *c);
  if (!c) return SQLITE_NOMEM;
  c->id = A.next_conn++;
  c->committing = false;
  c->in_tx = false;
  /* On failure SQLite calls the destructor itself. */
  int rc = sqlite3_create_function_v2(db, "as_audit_conn", 0, SQLITE_UTF8, c, conn_fn, NULL,
                                      NULL, sqlite3_free);
  if (rc != SQLITE_OK) return rc;
  sqlite3_preupdate_hook(db, on_preupdate, c);
  sqlite3_commit_hook(db, on_commit, c);
  sqlite3_rollback_hook(db, on_rollback, c);
  rc = sqlite3_trace_v2(db, SQLITE_TRACE_PROFILE, on_trace, c);
  if (rc != SQLITE_OK) return rc;
  sim_emit(ORC_EV_CONN, c->id, 0, NULL);
  return SQLITE_OK;
}

int orc_audit_begin(void) {
  if (!sqlite3_compileoption_used("ENABLE_PREUPDATE_HOOK")) return AS_UNSUPPORTED;
  /* sqlite3_shutdown (simdb_install) empties the list: register every run;
  ** a second registration of the same entry is a no-op. */
  typedef void (*entry_fn)(void);
  simdb_untracked(true); /* SQLite's list outlives the run */
  int src = sqlite3_auto_extension((entry_fn)(void (*)(void))audit_entry);
  simdb_untracked(false);
  if (src != SQLITE_OK) return AS_NOMEM;
  A.registered = true;
  A.armed = true;
  A.mapped = false;
  A.next_conn = 0;
  return AS_OK;
}

void orc_audit_end(void) { A.armed = false; }

int orc_audit_map(sqlite3 *db, char *err, size_t cap) {
  for (int t = 0; t < ORC__T_COUNT; t++) {
    for (int i = 0; i < ORC_MAX_COLS; i++) A.col[t][i] = -1;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA table_info(%s)", table_names[t]);
    sqlite3_stmt *q = NULL;
    int src = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
    while (src == SQLITE_OK && (src = sqlite3_step(q)) == SQLITE_ROW) {
      int idx = sqlite3_column_int(q, 0);
      const char *name = (const char *)sqlite3_column_text(q, 1);
      for (int i = 0; name && i < ORC_MAX_COLS; i++)
        if (column_names[t][i] && strcmp(column_names[t][i], name) == 0) A.col[t][i] = idx;
      src = SQLITE_OK;
    }
    int fin = sqlite3_finalize(q);
    if (src != SQLITE_DONE || fin != SQLITE_OK) {
      snprintf(err, cap, "reading the columns of %s: %s", table_names[t], sqlite3_errmsg(db));
      int e = src != SQLITE_DONE ? src : fin;
      return (e & 0xff) == SQLITE_NOMEM ? AS_NOMEM : AS_IO;
    }
    for (int i = 0; i < ORC_MAX_COLS; i++) {
      if (column_names[t][i] && A.col[t][i] < 0) {
        snprintf(err, cap, "table %s has no column %s: the schema changed, tell the oracle",
                 table_names[t], column_names[t][i]);
        return AS_UNSUPPORTED;
      }
    }
  }
  A.mapped = true;
  return AS_OK;
}

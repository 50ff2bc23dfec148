/*
** sql.c -- SQLite glue with a sticky status (core_internal.h).
*/
#include "agentsim/seam.h"
#include "core_internal.h"

int as__sql_status(int src) {
  switch (src) {
  case SQLITE_OK:
  case SQLITE_ROW:
  case SQLITE_DONE: return AS_OK;
  case SQLITE_IOERR_NOMEM: return AS_NOMEM;
  case SQLITE_CONSTRAINT_PRIMARYKEY:
  case SQLITE_CONSTRAINT_UNIQUE: return AS_EXISTS;
  case SQLITE_CONSTRAINT_FOREIGNKEY: return AS_NOTFOUND;
  case SQLITE_CONSTRAINT_CHECK: return AS_PARSE;
  default: break;
  }
  switch (src & 0xff) {
  case SQLITE_BUSY:
  case SQLITE_LOCKED: return AS_BUSY;
  case SQLITE_NOMEM: return AS_NOMEM;
  case SQLITE_FULL: return AS_FULL;
  case SQLITE_TOOBIG: return AS_TOOBIG;
  case SQLITE_CONSTRAINT: return AS_INVAL;
  case SQLITE_IOERR:
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB:
  case SQLITE_CANTOPEN:
  case SQLITE_READONLY:
  case SQLITE_PROTOCOL: return AS_IO;
  default: return AS_INTERNAL;
  }
}

int as__sql_prepare(as_store *st, const char *sql, sqlite3_stmt **q, int rc) {
  *q = NULL;
  if (rc != AS_OK) return rc;
  return as__sql_status(sqlite3_prepare_v2(st->db, sql, -1, q, NULL));
}

int as__sql_text(sqlite3_stmt *q, int i, const char *v, int rc) {
  if (rc != AS_OK) return rc;
  return as__sql_status(sqlite3_bind_text(q, i, v, -1, SQLITE_STATIC));
}

int as__sql_int64(sqlite3_stmt *q, int i, int64_t v, int rc) {
  if (rc != AS_OK) return rc;
  return as__sql_status(sqlite3_bind_int64(q, i, v));
}

int as__sql_blob(sqlite3_stmt *q, int i, const void *v, size_t n, int rc) {
  if (rc != AS_OK) return rc;
  /* A NULL pointer would bind SQL NULL: an empty blob needs a real one. */
  return as__sql_status(sqlite3_bind_blob(q, i, v ? v : "", (int)n, SQLITE_STATIC));
}

int as__sql_step(sqlite3_stmt *q, int *row, int rc) {
  *row = 0;
  if (rc != AS_OK) return rc;
  int src = sqlite3_step(q);
  *row = src == SQLITE_ROW;
  return as__sql_status(src);
}

int as__sql_reset(sqlite3_stmt *q, int rc) {
  if (rc != AS_OK) return rc;
  return as__sql_status(sqlite3_reset(q));
}

int as__sql_column_text(sqlite3_stmt *q, int col, const char **out, int rc) {
  *out = "";
  if (rc != AS_OK) return rc;
  const unsigned char *t = sqlite3_column_text(q, col);
  if (!t) return AS_NOMEM;
  *out = (const char *)t;
  return AS_OK;
}

int as__sql_finish(sqlite3_stmt *q, int rc) {
  int src = sqlite3_finalize(q);
  return rc != AS_OK ? rc : as__sql_status(src);
}

int as__sql_exec(as_store *st, const char *sql, int rc) {
  sqlite3_stmt *q;
  int row;
  rc = as__sql_prepare(st, sql, &q, rc);
  rc = as__sql_step(q, &row, rc);
  return as__sql_finish(q, rc);
}

int as__tx_begin(as_store *st, bool write) {
  int rc = AS_OK;
  if (!sqlite3_get_autocommit(st->db)) rc = as__sql_exec(st, "ROLLBACK", rc);
  return as__sql_exec(st, write ? "BEGIN IMMEDIATE" : "BEGIN", rc);
}

int as__tx_end(as_store *st, int rc) {
  if (rc == AS_OK) {
    rc = as__sql_exec(st, "COMMIT", rc);
    if (rc == AS_OK) return AS_OK;
  }
  if (!sqlite3_get_autocommit(st->db)) {
    int rb = as__sql_exec(st, "ROLLBACK", AS_OK);
    if (rb != AS_OK)
      as_log(AS_LOG_WARN, "store: rollback failed (%s: %s); the next transaction retries it",
             as_status_name(rb), sqlite3_errmsg(st->db));
  }
  return rc;
}

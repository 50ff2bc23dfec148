/*
** store.c -- opening the database, its schema, and sessions in it (store.h).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/events.h"
#include "agentsim/mutant.h"
#include "agentsim/seam.h"
#include "agentsim/store.h"
#include "core_internal.h"

/* --- schema ------------------------------------------------------------------ */

/* Migration i takes the schema from version i to i+1; each is a list of
** statements ending in NULL, run in one transaction with the version bump.
** Later issues append v2, v3 ...; a step is never edited once shipped. */
static const char *const migration_v1[] = {
    "CREATE TABLE sessions ("
    " id TEXT PRIMARY KEY,"
    " status TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " retry_count INTEGER NOT NULL,"
    " needs_review_reason TEXT NOT NULL,"
    " extra TEXT NOT NULL CHECK (json_valid(extra)),"
    " created_ns INTEGER NOT NULL,"
    " updated_ns INTEGER NOT NULL)",
    "CREATE TABLE tool_calls ("
    " session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
    " idx INTEGER NOT NULL,"
    " tool TEXT NOT NULL,"
    " args TEXT NOT NULL CHECK (json_valid(args)),"
    " result TEXT NOT NULL CHECK (json_valid(result)),"
    " state TEXT NOT NULL,"
    " PRIMARY KEY (session_id, idx)) WITHOUT ROWID",
    "CREATE TABLE events ("
    " session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL,"
    " kind TEXT NOT NULL,"
    " payload TEXT NOT NULL CHECK (json_valid(payload)),"
    " at_ns INTEGER NOT NULL,"
    " PRIMARY KEY (session_id, seq)) WITHOUT ROWID",
    "CREATE TABLE checkpoints ("
    " thread_id TEXT PRIMARY KEY,"
    " data BLOB NOT NULL,"
    " updated_ns INTEGER NOT NULL)",
    "PRAGMA user_version = 1",
    NULL};

/* v2: a failed session's error kind and cause (retry.h). */
static const char *const migration_v2[] = {
    "ALTER TABLE sessions ADD COLUMN error_kind TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE sessions ADD COLUMN error_cause TEXT NOT NULL DEFAULT ''",
    "PRAGMA user_version = 2",
    NULL};

/* v3: the cost ledger and the daily budget's reservations (budget.h). */
static const char *const migration_v3[] = {
    "CREATE TABLE cost_records ("
    " day TEXT NOT NULL,"
    " seq INTEGER NOT NULL,"
    " op_id TEXT NOT NULL,"
    " leaf TEXT NOT NULL CHECK (leaf IN ('llm_call', 'tool_call')),"
    " session_id TEXT NOT NULL,"
    " agent TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " input_tokens INTEGER NOT NULL CHECK (input_tokens >= 0),"
    " cache_read_tokens INTEGER NOT NULL CHECK (cache_read_tokens >= 0),"
    " cache_write_tokens INTEGER NOT NULL CHECK (cache_write_tokens >= 0),"
    " output_tokens INTEGER NOT NULL CHECK (output_tokens >= 0),"
    " usage_estimated INTEGER NOT NULL,"
    " price_version TEXT NOT NULL,"
    " cost_micros INTEGER NOT NULL CHECK (cost_micros >= 0),"
    " duration_ns INTEGER NOT NULL,"
    " at_ns INTEGER NOT NULL,"
    " PRIMARY KEY (day, seq)) WITHOUT ROWID",
    "CREATE INDEX cost_records_op ON cost_records(op_id)",
    "CREATE TABLE budget_reservations ("
    " op_id TEXT PRIMARY KEY,"
    " session_id TEXT NOT NULL,"
    " day TEXT NOT NULL,"
    " estimate_micros INTEGER NOT NULL CHECK (estimate_micros > 0),"
    " state TEXT NOT NULL CHECK (state IN ('open', 'settled', 'released')),"
    " outcome TEXT NOT NULL,"
    " settled_micros INTEGER NOT NULL,"
    " opened_ns INTEGER NOT NULL,"
    " closed_ns INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE INDEX budget_reservations_open ON budget_reservations(state, day)",
    "CREATE INDEX budget_reservations_session ON budget_reservations(session_id, state)",
    "PRAGMA user_version = 3",
    NULL};

static const char *const *const migrations[] = {migration_v1, migration_v2, migration_v3};
_Static_assert(sizeof migrations / sizeof migrations[0] == AS_STORE_SCHEMA_VERSION,
               "one migration per schema version");

/* Read PRAGMA user_version. */
static AS_WUR int read_version(as_store *st, int *version, int rc) {
  sqlite3_stmt *q;
  int row;
  rc = as__sql_prepare(st, "PRAGMA user_version", &q, rc);
  rc = as__sql_step(q, &row, rc);
  *version = row ? sqlite3_column_int(q, 0) : 0;
  return as__sql_finish(q, rc);
}

/* Bring the schema up to AS_STORE_SCHEMA_VERSION, one migration per
** transaction. Several connections may open a new file at once: each step
** re-reads the version under the write lock and skips what another did. */
static AS_WUR int migrate(as_store *st) {
  int version = 0;
  int rc = read_version(st, &version, AS_OK);
  while (rc == AS_OK && version < AS_STORE_SCHEMA_VERSION) {
    rc = as__tx_begin(st, true);
    rc = read_version(st, &version, rc);
    if (rc == AS_OK && version < AS_STORE_SCHEMA_VERSION) {
      for (const char *const *sql = migrations[version]; rc == AS_OK && *sql; sql++)
        rc = as__sql_exec(st, *sql, rc);
    }
    rc = as__tx_end(st, rc);
    rc = read_version(st, &version, rc);
  }
  if (rc == AS_OK && version > AS_STORE_SCHEMA_VERSION) rc = AS_UNSUPPORTED;
  return rc;
}

/* --- opening -------------------------------------------------------------------- */

/* SQLite calls this while another connection holds a lock we need: wait
** through the seam (virtual time in the sim) until the timeout, backing off
** from 1 ms to 64 ms. Returning 0 gives up with SQLITE_BUSY. */
static int busy_wait(void *arg, int count) {
  as_store *st = arg;
  uint64_t now = as_now_mono_ns();
  if (count == 0) st->busy_deadline_ns = now + (uint64_t)st->busy_timeout_ms * 1000000u;
  if (now >= st->busy_deadline_ns) return 0;
  uint64_t wake = now + (1000000ull << (count < 6 ? count : 6));
  as_sleep_until(wake < st->busy_deadline_ns ? wake : st->busy_deadline_ns);
  return 1;
}

/* The index of s in names[] (NULL-terminated), s NULL meaning names[0]; -1
** if absent. */
static int pick(const char *s, const char *const *names) {
  for (int i = 0; names[i]; i++)
    if (!s || strcmp(s, names[i]) == 0) return i;
  return -1;
}

/* The journal modes as_store_open accepts (store.h), and how each is set. */
enum { J_WAL, J_DELETE, J_TRUNCATE, J_PERSIST };
static const char *const journals[] = {"wal", "delete", "truncate", "persist", NULL};
static const char *const journal_sql[] = {
    "PRAGMA journal_mode = wal", "PRAGMA journal_mode = delete",
    "PRAGMA journal_mode = truncate", "PRAGMA journal_mode = persist"};

/* The synchronous levels, weakest first, and how each is set (which are
** durable with which journal mode: runtime/durable.c). */
enum { S_OFF, S_NORMAL, S_FULL, S_EXTRA };
static const char *const syncs[] = {"off", "normal", "full", "extra", NULL};
static const char *const sync_sql[] = {"PRAGMA synchronous = OFF", "PRAGMA synchronous = NORMAL",
                                       "PRAGMA synchronous = FULL", "PRAGMA synchronous = EXTRA"};

/* The level a store with no synchronous option gets: the journal mode's
** durable one, `level` (as_store_durable's answer for no option). */
static int default_sync(int journal, const char *level) {
  if (AS_MUTANT(DELETE_SYNC_FULL) && journal == J_DELETE) return S_FULL; /* SQLite's default */
  return pick(level, syncs);
}

/* The synchronous level opts ask for, or -1 with the reason logged; journal
** is a mode pick() found. Only a synchronous option can be refused: with
** none, every journal mode has its durable level (as_store_durable). */
static int choose_sync(const as_store_opts *opts, int journal) {
  const char *level = NULL, *why = NULL;
  if (as_store_durable(opts->journal_mode, opts->synchronous, &level, &why) != AS_OK) {
    int k = pick(opts->synchronous, syncs);
    if (opts->not_durable && k >= 0) return k; /* asked for knowingly */
    as_log(AS_LOG_ERROR, "store: %s", why);
    return -1;
  }
  return opts->synchronous ? pick(opts->synchronous, syncs) : default_sync(journal, level);
}

/* Set journal mode journals[j] and check that it took: SQLite answers with
** the mode in force, which is not the one asked for when the VFS or the file
** cannot do it. */
static AS_WUR int set_journal(as_store *st, int j, int rc) {
  sqlite3_stmt *q;
  int row;
  const char *got;
  rc = as__sql_prepare(st, journal_sql[j], &q, rc);
  rc = as__sql_step(q, &row, rc);
  rc = as__sql_column_text(q, 0, &got, rc);
  if (rc == AS_OK && sqlite3_stricmp(got, journals[j]) != 0) rc = AS_UNSUPPORTED;
  return as__sql_finish(q, rc);
}

int as_store_open(as_store **out, const char *path, const as_store_opts *opts) {
  static const as_store_opts defaults = {0};
  if (!out) return AS_INVAL;
  *out = NULL;
  if (!opts) opts = &defaults;
  int journal = pick(opts->journal_mode, journals);
  int sync = journal < 0 ? -1 : choose_sync(opts, journal);
  if (!path || journal < 0 || sync < 0 || opts->busy_timeout_ms < 0 ||
      opts->busy_timeout_ms > AS_STORE_BUSY_MAX_MS)
    return AS_INVAL;
  if (opts->vfs && !sqlite3_vfs_find(opts->vfs)) return AS_NOTFOUND;

  as_store *st = as_calloc(1, sizeof *st);
  if (!st) return AS_NOMEM;
  st->busy_timeout_ms = opts->busy_timeout_ms;
  int rc = as__sql_status(sqlite3_open_v2(
      path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, opts->vfs));
  if (rc == AS_OK) rc = as__sql_status(sqlite3_extended_result_codes(st->db, 1));
  if (rc == AS_OK) rc = as__sql_status(sqlite3_busy_handler(st->db, busy_wait, st));
  if (rc == AS_OK) rc = as__checkpoint_register(st->db);
  rc = as__sql_exec(st, "PRAGMA foreign_keys = ON", rc);
  rc = as__sql_exec(st, sync_sql[sync], rc);
  rc = set_journal(st, journal, rc);
  if (rc == AS_OK) rc = migrate(st);
  if (rc != AS_OK) {
    as_store_close(st);
    return rc;
  }
  *out = st;
  return AS_OK;
}

void as_store_close(as_store *st) {
  if (!st) return;
  int src = sqlite3_close_v2(st->db);
  if (src != SQLITE_OK)
    as_log(AS_LOG_WARN, "store: close: %s", sqlite3_errstr(src));
  as_free(st);
}

void as_store_forget(as_store *st) {
  /* Its connection belongs to a task stopped mid-call: SQLite's side is
  ** reclaimed by whoever owns SQLite's memory (the sim); only ours goes. */
  as_free(st);
}

int as_store_schema_version(as_store *st, int *version) {
  if (!st || !version) return AS_INVAL;
  int rc = as__tx_begin(st, false);
  rc = read_version(st, version, rc);
  return as__tx_end(st, rc);
}

const char *as_store_errmsg(as_store *st) {
  return st ? sqlite3_errmsg(st->db) : "no store";
}

/* --- writing sessions ------------------------------------------------------------ */

/* Replace the stored tool calls of s->id with s's. */
static AS_WUR int write_calls(as_store *st, const as_session *s, int rc) {
  sqlite3_stmt *q;
  int row;
  rc = as__sql_prepare(st, "DELETE FROM tool_calls WHERE session_id = ?1", &q, rc);
  rc = as__sql_text(q, 1, s->id, rc);
  rc = as__sql_step(q, &row, rc);
  rc = as__sql_finish(q, rc);
  rc = as__sql_prepare(st,
                       "INSERT INTO tool_calls (session_id, idx, tool, args, result, state)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                       &q, rc);
  for (size_t i = 0; rc == AS_OK && i < s->ncalls; i++) {
    const as_tool_call *c = &s->calls[i];
    rc = as__sql_text(q, 1, s->id, rc);
    rc = as__sql_int64(q, 2, (int64_t)i, rc);
    rc = as__sql_text(q, 3, c->tool, rc);
    rc = as__sql_text(q, 4, c->args, rc);
    rc = as__sql_text(q, 5, AS_MUTANT(RESULT_GETS_ARGS) ? c->args : c->result, rc);
    rc = as__sql_text(q, 6, as_tool_state_name(c->state), rc);
    rc = as__sql_step(q, &row, rc);
    rc = as__sql_reset(q, rc);
  }
  return as__sql_finish(q, rc);
}

/* Bind the row fields every write sets: ?1 id, ?2 status, ?3 retry_count,
** ?4 reason, ?5 extra, ?6 now, ?8 error_kind, ?9 error_cause (?7 is the
** version an update is based on). */
static AS_WUR int bind_row(sqlite3_stmt *q, const as_session *s, int64_t now, int rc) {
  rc = as__sql_text(q, 1, s->id, rc);
  rc = as__sql_text(q, 2, as_session_status_name(s->status), rc);
  rc = as__sql_int64(q, 3, s->retry_count, rc);
  rc = as__sql_text(q, 4, s->needs_review_reason, rc);
  rc = as__sql_text(q, 5, s->extra ? s->extra : "{}", rc);
  rc = as__sql_text(q, 8, s->error_kind, rc);
  rc = as__sql_text(q, 9, s->error_cause, rc);
  return as__sql_int64(q, 6, now, rc);
}

/* What the fields a caller may set must satisfy before any write. */
static AS_WUR int check_session(const as_session *s) {
  if (!s || (unsigned)s->status >= AS__SESS_COUNT) return AS_INVAL;
  return as_session_id_check(s->id);
}

int as_session_create(as_store *st, as_session *s) {
  if (!st) return AS_INVAL;
  int rc = check_session(s);
  if (rc != AS_OK) return rc;
  int64_t now = as_now_wall_ns();
  sqlite3_stmt *q;
  int row;
  rc = as__tx_begin(st, true);
  rc = as__sql_prepare(st,
                       "INSERT INTO sessions (id, status, version, retry_count,"
                       " needs_review_reason, extra, created_ns, updated_ns, error_kind,"
                       " error_cause) VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?6, ?8, ?9)",
                       &q, rc);
  rc = bind_row(q, s, now, rc);
  rc = as__sql_step(q, &row, rc);
  rc = as__sql_finish(q, rc);
  rc = write_calls(st, s, rc);
  rc = as__tx_end(st, rc);
  if (rc == AS_OK) {
    s->version = 1;
    s->created_ns = s->updated_ns = now;
  }
  return rc;
}

/* After an UPDATE that matched no row: AS_STALE if the session exists
** (at another version), else AS_NOTFOUND. */
static AS_WUR int why_unchanged(as_store *st, const char *id) {
  sqlite3_stmt *q;
  int row;
  int rc = as__sql_prepare(st, "SELECT 1 FROM sessions WHERE id = ?1", &q, AS_OK);
  rc = as__sql_text(q, 1, id, rc);
  rc = as__sql_step(q, &row, rc);
  if (rc == AS_OK) rc = row ? AS_STALE : AS_NOTFOUND;
  return as__sql_finish(q, rc);
}

int as_session_save_with_events(as_store *st, as_session *s, const as_event_in *evs, size_t n,
                                int64_t *first_seq) {
  if (!st || (n && !evs) || n > AS_SAVE_EVENTS_MAX) return AS_INVAL;
  int rc = check_session(s);
  if (rc != AS_OK) return rc;
  for (size_t i = 0; i < n; i++) {
    rc = as__event_check(evs[i].kind, evs[i].payload);
    if (rc != AS_OK) return rc;
  }
  int64_t now = as_now_wall_ns();
  sqlite3_stmt *q;
  int row;
  /* The seed's first store wrote by id alone: last writer wins. */
  const char *sql = AS_MUTANT(SAVE_NO_VERSION_CHECK)
                        ? "UPDATE sessions SET status = ?2, version = version + 1,"
                          " retry_count = ?3, needs_review_reason = ?4, extra = ?5,"
                          " updated_ns = ?6, error_kind = ?8, error_cause = ?9"
                          " WHERE id = ?1 AND ?7 IS NOT NULL"
                        : "UPDATE sessions SET status = ?2, version = version + 1,"
                          " retry_count = ?3, needs_review_reason = ?4, extra = ?5,"
                          " updated_ns = ?6, error_kind = ?8, error_cause = ?9"
                          " WHERE id = ?1 AND version = ?7";
  rc = as__tx_begin(st, true);
  rc = as__sql_prepare(st, sql, &q, rc);
  /* The copy's own stamp, as a save that "keeps the row as loaded" wrote it. */
  rc = bind_row(q, s, AS_MUTANT(SAVE_STALE_UPDATED) ? s->updated_ns : now, rc);
  rc = as__sql_int64(q, 7, s->version, rc);
  rc = as__sql_step(q, &row, rc);
  rc = as__sql_finish(q, rc);
  if (rc == AS_OK && sqlite3_changes(st->db) != 1) {
    rc = why_unchanged(st, s->id);
    /* An early return that skipped the transaction's end. */
    if (AS_MUTANT(STALE_LEAVES_TX_OPEN)) return rc;
  }
  rc = write_calls(st, s, rc);
  int64_t first = 0;
  for (size_t i = 0; i < n; i++) {
    int64_t seq = 0;
    rc = as__event_insert(st, s->id, evs[i].kind, evs[i].payload, now, &seq, rc);
    if (i == 0) first = seq;
  }
  rc = as__tx_end(st, rc);
  if (rc == AS_OK) {
    s->version++;
    s->updated_ns = now;
    if (first_seq) *first_seq = first;
  }
  return rc;
}

int as_session_save_with_event(as_store *st, as_session *s, const char *kind,
                               const char *payload, int64_t *seq) {
  as_event_in ev = {kind, payload};
  return as_session_save_with_events(st, s, &ev, kind ? 1 : 0, seq);
}

int as_session_save(as_store *st, as_session *s) {
  return as_session_save_with_event(st, s, NULL, NULL, NULL);
}

/* --- reading sessions ------------------------------------------------------------ */

/* The session row of s->id into s. */
static AS_WUR int read_row(as_store *st, as_session *s, int rc) {
  sqlite3_stmt *q;
  int row;
  const char *status, *reason, *extra, *kind, *cause;
  rc = as__sql_prepare(st,
                       "SELECT status, version, retry_count, needs_review_reason, extra,"
                       " created_ns, updated_ns, error_kind, error_cause FROM sessions"
                       " WHERE id = ?1",
                       &q, rc);
  rc = as__sql_text(q, 1, s->id, rc);
  rc = as__sql_step(q, &row, rc);
  if (rc == AS_OK && !row) rc = AS_NOTFOUND;
  rc = as__sql_column_text(q, 0, &status, rc);
  rc = as__sql_column_text(q, 3, &reason, rc);
  rc = as__sql_column_text(q, 4, &extra, rc);
  rc = as__sql_column_text(q, 7, &kind, rc);
  rc = as__sql_column_text(q, 8, &cause, rc);
  if (rc == AS_OK) rc = as_session_status_parse(status, &s->status);
  /* A refactoring once dropped the reason from the columns it copied. */
  if (rc == AS_OK && !AS_MUTANT(LOAD_DROPS_REASON)) rc = as_session_set_reason(s, reason);
  if (rc == AS_OK) rc = as_session_set_extra(s, extra);
  if (rc == AS_OK) {
    s->version = sqlite3_column_int64(q, 1);
    s->retry_count = sqlite3_column_int64(q, AS_MUTANT(RETRY_FROM_VERSION) ? 1 : 2);
    s->created_ns = sqlite3_column_int64(q, 5);
    s->updated_ns = sqlite3_column_int64(q, 6);
    /* A kind or cause longer than this build keeps is cut: a cut kind is
    ** one this build does not know, so it reads as unknown (permanent). */
    (void)snprintf(s->error_kind, sizeof s->error_kind, "%s", kind); /* ignore: cut to fit */
    (void)snprintf(s->error_cause, sizeof s->error_cause, "%s", cause); /* ignore: as above */
  }
  return as__sql_finish(q, rc);
}

/* The tool calls of s->id, in order, appended to s. */
static AS_WUR int read_calls(as_store *st, as_session *s, int rc) {
  sqlite3_stmt *q;
  int row;
  rc = as__sql_prepare(st,
                       "SELECT tool, args, result, state FROM tool_calls"
                       " WHERE session_id = ?1 ORDER BY idx",
                       &q, rc);
  rc = as__sql_text(q, 1, s->id, rc);
  for (;;) {
    const char *tool, *args, *result, *state_s;
    as_tool_state state;
    rc = as__sql_step(q, &row, rc);
    if (!row) break; /* the end, or an error (sticky) */
    rc = as__sql_column_text(q, 0, &tool, rc);
    rc = as__sql_column_text(q, 1, &args, rc);
    rc = as__sql_column_text(q, 2, &result, rc);
    rc = as__sql_column_text(q, 3, &state_s, rc);
    if (rc == AS_OK) rc = as_tool_state_parse(state_s, &state);
    if (rc == AS_OK) rc = as_session_add_call(s, tool, args, result, state);
  }
  return as__sql_finish(q, rc);
}

int as_session_load(as_store *st, const char *id, as_session *out) {
  if (!out) return AS_INVAL;
  memset(out, 0, sizeof *out);
  int rc = st ? as_session_init(out, id) : AS_INVAL;
  if (rc != AS_OK) return rc;
  if (AS_MUTANT(LOAD_NOT_SNAPSHOT)) {
    /* Two statements, each its own snapshot: a save in between pairs a
    ** newer row with older calls. */
    rc = read_calls(st, out, rc);
    rc = read_row(st, out, rc);
  } else {
    rc = as__tx_begin(st, false);
    rc = read_row(st, out, rc);
    rc = read_calls(st, out, rc);
    rc = as__tx_end(st, rc);
  }
  if (rc != AS_OK) as_session_clear(out); /* empty, whatever went wrong */
  return rc;
}

int as_session_list(as_store *st, const char *after, as_session_brief *out, size_t max,
                    size_t *n) {
  if (!st || !out || !n || max == 0 || max > AS_STORE_LIST_MAX) return AS_INVAL;
  sqlite3_stmt *q;
  int row;
  size_t k = 0;
  int rc = as__tx_begin(st, false);
  rc = as__sql_prepare(st,
                       "SELECT id, status, version FROM sessions WHERE id > ?1"
                       " ORDER BY id LIMIT ?2",
                       &q, rc);
  rc = as__sql_text(q, 1, after ? after : "", rc);
  rc = as__sql_int64(q, 2, (int64_t)max, rc);
  for (;;) {
    const char *id, *status;
    rc = as__sql_step(q, &row, rc);
    if (!row) break; /* the end, or an error (sticky) */
    rc = as__sql_column_text(q, 0, &id, rc);
    rc = as__sql_column_text(q, 1, &status, rc);
    if (rc == AS_OK) rc = as__copy_name(out[k].id, sizeof out[k].id, id);
    if (rc == AS_OK) rc = as_session_status_parse(status, &out[k].status);
    if (rc == AS_OK) out[k++].version = sqlite3_column_int64(q, 2);
  }
  rc = as__sql_finish(q, rc);
  rc = as__tx_end(st, rc);
  *n = rc == AS_OK ? k : 0;
  return rc;
}

int as_session_recent(as_store *st, int status, as_session_brief *out, size_t max, size_t *n) {
  if (!st || !out || !n || max == 0 || max > AS_STORE_LIST_MAX || status < -1 ||
      status >= (int)AS__SESS_COUNT)
    return AS_INVAL;
  sqlite3_stmt *q;
  int row;
  size_t k = 0;
  int rc = as__tx_begin(st, false);
  rc = as__sql_prepare(st,
                       "SELECT id, status, version FROM sessions WHERE ?1 = '' OR status = ?1"
                       " ORDER BY created_ns DESC, id DESC LIMIT ?2",
                       &q, rc);
  rc = as__sql_text(q, 1, status < 0 ? "" : as_session_status_name((as_session_status)status), rc);
  rc = as__sql_int64(q, 2, (int64_t)max, rc);
  for (;;) {
    const char *id, *name;
    rc = as__sql_step(q, &row, rc);
    if (!row) break; /* the end, or an error (sticky) */
    rc = as__sql_column_text(q, 0, &id, rc);
    rc = as__sql_column_text(q, 1, &name, rc);
    if (rc == AS_OK) rc = as__copy_name(out[k].id, sizeof out[k].id, id);
    if (rc == AS_OK) rc = as_session_status_parse(name, &out[k].status);
    if (rc == AS_OK) out[k++].version = sqlite3_column_int64(q, 2);
  }
  rc = as__sql_finish(q, rc);
  rc = as__tx_end(st, rc);
  *n = rc == AS_OK ? k : 0;
  return rc;
}

int as_store_checkpoint(as_store *st) {
  if (!st) return AS_INVAL;
  return as__sql_status(
      sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL));
}

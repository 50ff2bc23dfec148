/*
** test_core_store.c -- sessions in SQLite (store.h) on an on-disk database
** in a fresh temp dir: opening and the schema, versions, stale saves that
** change nothing, caps on what is read back, listing, and waiting for a
** busy database (on the hooked platform's fake clock: no real sleeping).
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "agentsim/store.h"
#include "core_internal.h"
#include "coretest.h"

static ct_dir D;

static int setup(void **state) {
  (void)state;
  ct_dir_make(&D);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  ct_hooks_remove();
  ct_dir_remove(&D);
  return 0;
}

/* A session called id with two tool calls and some fields set. */
static void sample(as_session *s, const char *id) {
  assert_int_equal(as_session_init(s, id), AS_OK);
  s->status = AS_SESS_IN_PROGRESS;
  s->retry_count = 2;
  assert_int_equal(as_session_set_extra(s, "{\"env\":\"staging\"}"), AS_OK);
  assert_int_equal(as_session_set_reason(s, "because \"quoted\""), AS_OK);
  assert_int_equal(as_session_add_call(s, "srv:search", "{\"q\":\"x\"}", "[1,2]",
                                       AS_TOOL_EXECUTED),
                   AS_OK);
  assert_int_equal(as_session_add_call(s, "mark_resolved", "{}", "null",
                                       AS_TOOL_PENDING_APPROVAL),
                   AS_OK);
}

static void assert_same(const as_session *a, const as_session *b) {
  assert_string_equal(a->id, b->id);
  assert_int_equal(a->status, b->status);
  assert_int_equal(a->version, b->version);
  assert_int_equal(a->retry_count, b->retry_count);
  assert_string_equal(a->needs_review_reason, b->needs_review_reason);
  assert_string_equal(a->extra ? a->extra : "{}", b->extra ? b->extra : "{}");
  assert_int_equal(a->created_ns, b->created_ns);
  assert_int_equal(a->updated_ns, b->updated_ns);
  assert_int_equal(a->ncalls, b->ncalls);
  for (size_t i = 0; i < a->ncalls; i++) {
    assert_string_equal(a->calls[i].tool, b->calls[i].tool);
    assert_string_equal(a->calls[i].args, b->calls[i].args);
    assert_string_equal(a->calls[i].result, b->calls[i].result);
    assert_int_equal(a->calls[i].state, b->calls[i].state);
  }
}

/* --- the status mapping ------------------------------------------------------ */

static void test_sqlite_status_map(void **state) {
  (void)state;
  static const struct {
    int src, want;
  } map[] = {
      {SQLITE_OK, AS_OK},
      {SQLITE_ROW, AS_OK},
      {SQLITE_DONE, AS_OK},
      {SQLITE_BUSY, AS_BUSY},
      {SQLITE_BUSY_SNAPSHOT, AS_BUSY},
      {SQLITE_LOCKED, AS_BUSY},
      {SQLITE_NOMEM, AS_NOMEM},
      {SQLITE_IOERR_NOMEM, AS_NOMEM},
      {SQLITE_IOERR, AS_IO},
      {SQLITE_IOERR_WRITE, AS_IO},
      {SQLITE_CORRUPT, AS_IO},
      {SQLITE_NOTADB, AS_IO},
      {SQLITE_CANTOPEN, AS_IO},
      {SQLITE_READONLY, AS_IO},
      {SQLITE_PROTOCOL, AS_IO},
      {SQLITE_FULL, AS_FULL},
      {SQLITE_TOOBIG, AS_TOOBIG},
      {SQLITE_CONSTRAINT_PRIMARYKEY, AS_EXISTS},
      {SQLITE_CONSTRAINT_UNIQUE, AS_EXISTS},
      {SQLITE_CONSTRAINT_FOREIGNKEY, AS_NOTFOUND},
      {SQLITE_CONSTRAINT_CHECK, AS_PARSE},
      {SQLITE_CONSTRAINT_NOTNULL, AS_INVAL},
      {SQLITE_CONSTRAINT, AS_INVAL},
      {SQLITE_ERROR, AS_INTERNAL},
      {SQLITE_MISUSE, AS_INTERNAL},
      {SQLITE_RANGE, AS_INTERNAL},
  };
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
    if (as__sql_status(map[i].src) != map[i].want)
      fail_msg("sqlite %d -> %s, want %s", map[i].src, as_status_name(as__sql_status(map[i].src)),
               as_status_name(map[i].want));
  }
}

/* --- opening ------------------------------------------------------------------ */

static void test_open_refusals(void **state) {
  (void)state;
  char p[256];
  ct_path(p, sizeof p, &D, "x.db");
  as_store *st = (as_store *)&st;
  assert_int_equal(as_store_open(NULL, p, NULL), AS_INVAL);
  assert_int_equal(as_store_open(&st, NULL, NULL), AS_INVAL);
  assert_null(st);
  static const as_store_opts bad[] = {
      {.journal_mode = "memory"},  {.journal_mode = "WAL"},    {.synchronous = "EXTRA"},
      {.busy_timeout_ms = -1},     {.busy_timeout_ms = AS_STORE_BUSY_MAX_MS + 1},
      /* Not durable (store.h's table), and not asked for knowingly. */
      {.journal_mode = "delete", .synchronous = "full"}, {.synchronous = "normal"},
      {.journal_mode = "truncate", .synchronous = "normal"}, {.synchronous = "off"},
      {.journal_mode = "persist", .synchronous = "normal"},
      {.synchronous = "EXTRA", .not_durable = 1}, /* knowingly, but unknown */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(as_store_open(&st, p, &bad[i]), AS_INVAL);
  as_store_opts novfs = {.vfs = "no-such-vfs"};
  assert_int_equal(as_store_open(&st, p, &novfs), AS_NOTFOUND);
  assert_null(st);
  /* Nothing was created by a refused open. */
  assert_int_equal(access(p, F_OK), -1);

  /* A directory that does not exist; a file that is not a database. */
  char q[300];
  ct_path(q, sizeof q, &D, "missing/x.db");
  assert_int_equal(as_store_open(&st, q, NULL), AS_IO);
  ct_path(q, sizeof q, &D, "junk.db");
  FILE *f = fopen(q, "w");
  assert_non_null(f);
  for (int i = 0; i < 300; i++) fputs("this is not a database file\n", f);
  assert_int_equal(fclose(f), 0);
  assert_int_equal(as_store_open(&st, q, NULL), AS_IO);
  assert_null(st);

  /* An in-memory database has neither WAL nor a rollback journal on disk. */
  assert_int_equal(as_store_open(&st, ":memory:", NULL), AS_UNSUPPORTED);
  as_store_opts del = {.journal_mode = "delete"};
  assert_int_equal(as_store_open(&st, ":memory:", &del), AS_UNSUPPORTED);

  as_store_close(NULL);
  assert_string_equal(as_store_errmsg(NULL), "no store");
  int v;
  assert_int_equal(as_store_schema_version(NULL, &v), AS_INVAL);
}

static void test_open_modes_and_reopen(void **state) {
  (void)state;
  static const char *const journals[] = {"wal", "delete", "truncate", "persist"};
  static const char *const syncs[] = {"extra", "full", "normal", "off"};
  char p[256];
  ct_path(p, sizeof p, &D, "modes.db");
  for (size_t j = 0; j < 4; j++) {
    for (size_t k = 0; k < 4; k++) {
      /* Every combination opens; the ones that are not durable only when
      ** the options say so. */
      as_store_opts o = {.vfs = "unix", .journal_mode = journals[j], .synchronous = syncs[k],
                         .not_durable = as_store_durable(journals[j], syncs[k], NULL, NULL) != AS_OK};
      as_store *st = NULL;
      assert_int_equal(as_store_open(&st, p, &o), AS_OK);
      int v = 0;
      assert_int_equal(as_store_schema_version(st, &v), AS_OK);
      assert_int_equal(v, AS_STORE_SCHEMA_VERSION);
      assert_int_equal(as_store_schema_version(st, NULL), AS_INVAL);
      as_store_close(st);
    }
  }

  /* Defaults (NULL options: WAL) on a fresh file; the schema is created;
  ** data survives a reopen, which migrates nothing. */
  ct_path(p, sizeof p, &D, "fresh.db");
  as_store *st = NULL;
  assert_int_equal(as_store_open(&st, p, NULL), AS_OK);
  as_session s, t = {0};
  sample(&s, "keep");
  assert_int_equal(as_session_create(st, &s), AS_OK);
  as_store_close(st);
  assert_int_equal(access(p, F_OK), 0);

  sqlite3 *raw = ct_raw_open(&D, "fresh.db");
  sqlite3_stmt *q;
  assert_int_equal(sqlite3_prepare_v2(raw,
                                      "SELECT group_concat(name, ',') FROM (SELECT name FROM"
                                      " sqlite_schema WHERE type = 'table' ORDER BY name)",
                                      -1, &q, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(q, 0),
                      "budget_reservations,checkpoints,cost_records,events,sessions,tool_calls");
  assert_int_equal(sqlite3_finalize(q), SQLITE_OK);
  ct_raw_close(raw);

  assert_int_equal(as_store_open(&st, p, NULL), AS_OK);
  assert_int_equal(as_session_load(st, "keep", &t), AS_OK);
  assert_same(&s, &t);
  as_store_close(st);
  as_session_clear(&s);
  as_session_clear(&t);
}

/* store.h's durability table, cell by cell: what as_store_durable says,
** the level a default gets, and a reason naming the fix for every refusal. */
static void test_durability_table(void **state) {
  (void)state;
  static const char *const journals[] = {"wal", "delete", "truncate", "persist"};
  static const char *const syncs[] = {"off", "normal", "full", "extra"};
  static const int durable[4][4] = {{0, 0, 1, 1}, {0, 0, 0, 1}, {0, 0, 1, 1}, {0, 0, 1, 1}};
  static const char *const dflt[] = {"full", "extra", "full", "full"};
  for (size_t j = 0; j < 4; j++) {
    const char *level = "x", *why = "x";
    assert_int_equal(as_store_durable(journals[j], NULL, &level, &why), AS_OK);
    assert_string_equal(level, dflt[j]);
    assert_null(why);
    for (size_t k = 0; k < 4; k++) {
      int rc = as_store_durable(journals[j], syncs[k], &level, &why);
      assert_int_equal(rc, durable[j][k] ? AS_OK : AS_INVAL);
      if (durable[j][k]) {
        assert_string_equal(level, syncs[k]);
        continue;
      }
      assert_null(level);
      assert_non_null(strstr(why, journals[j]));
      assert_non_null(strstr(why, syncs[k]));
      assert_non_null(strstr(why, dflt[j])); /* "use ..." */
    }
  }
  const char *why = NULL;
  assert_int_equal(as_store_durable(NULL, NULL, NULL, &why), AS_OK); /* wal, full */
  assert_int_equal(as_store_durable("memory", "full", NULL, &why), AS_INVAL);
  assert_non_null(strstr(why, "journal mode"));
  assert_int_equal(as_store_durable("wal", "Full", NULL, &why), AS_INVAL);
  assert_non_null(strstr(why, "synchronous level"));
  assert_int_equal(as_store_durable(NULL, "normal", NULL, NULL), AS_INVAL);
}

static void test_newer_schema_refused(void **state) {
  (void)state;
  sqlite3 *raw = ct_raw_open(&D, "future.db");
  ct_raw_exec(raw, "PRAGMA user_version = 99");
  ct_raw_close(raw);
  char p[256];
  ct_path(p, sizeof p, &D, "future.db");
  as_store *st = NULL;
  assert_int_equal(as_store_open(&st, p, NULL), AS_UNSUPPORTED);
  assert_null(st);
}

/* Another connection migrates the file while this one waits for the write
** lock: once it gets the lock it must see version 1 and skip the step. */
static sqlite3 *race_raw;
static char race_path[256];

static void migrate_meanwhile(void *arg) {
  (void)arg;
  ct_raw_exec(race_raw, "COMMIT");
  as_store *other = NULL;
  as_store_opts o = {.journal_mode = "delete"};
  assert_int_equal(as_store_open(&other, race_path, &o), AS_OK);
  as_store_close(other);
}

static void test_concurrent_migration(void **state) {
  (void)state;
  ct_hooks_install(true);
  ct_path(race_path, sizeof race_path, &D, "race.db");
  race_raw = ct_raw_open(&D, "race.db");
  ct_raw_exec(race_raw, "BEGIN IMMEDIATE");
  ct_h.on_sleep = migrate_meanwhile;
  as_store_opts o = {.journal_mode = "delete", .busy_timeout_ms = 1000};
  as_store *st = NULL;
  assert_int_equal(as_store_open(&st, race_path, &o), AS_OK);
  assert_int_equal(ct_h.sleeps, 1);
  int v = 0;
  assert_int_equal(as_store_schema_version(st, &v), AS_OK);
  assert_int_equal(v, AS_STORE_SCHEMA_VERSION);
  as_session s;
  sample(&s, "after-race");
  assert_int_equal(as_session_create(st, &s), AS_OK);
  as_session_clear(&s);
  as_store_close(st);
  ct_raw_close(race_raw);
}

/* --- versions ------------------------------------------------------------------ */

static void test_create_load_save(void **state) {
  (void)state;
  as_store *st = ct_open(&D, "v.db", "wal", 0);
  as_session s, t = {0};
  sample(&s, "s1");
  s.version = 42; /* ignored: creation stores version 1 */
  assert_int_equal(as_session_create(st, &s), AS_OK);
  assert_int_equal(s.version, 1);
  assert_true(s.created_ns > 0);
  assert_int_equal(s.created_ns, s.updated_ns);

  assert_int_equal(as_session_load(st, "s1", &t), AS_OK);
  assert_same(&s, &t);

  /* Every save: exactly one more. Tool calls are replaced, not appended. */
  for (int64_t v = 2; v <= 5; v++) {
    assert_int_equal(as_session_add_call(&s, "step", "{}", "{}", AS_TOOL_EXECUTED), AS_OK);
    s.retry_count++;
    assert_int_equal(as_session_save(st, &s), AS_OK);
    assert_int_equal(s.version, v);
    assert_true(s.updated_ns >= s.created_ns);
    as_session_clear(&t); /* a load overwrites: release first */
    assert_int_equal(as_session_load(st, "s1", &t), AS_OK);
    assert_same(&s, &t);
  }
  /* Dropping every call and the extra text round-trips too. */
  as_session_clear(&t);
  assert_int_equal(as_session_init(&t, "s1"), AS_OK);
  t.version = s.version;
  t.created_ns = s.created_ns;
  t.status = AS_SESS_AWAITING_INPUT;
  assert_int_equal(as_session_save(st, &t), AS_OK);
  as_session u = {0};
  assert_int_equal(as_session_load(st, "s1", &u), AS_OK);
  assert_same(&t, &u);
  assert_string_equal(u.extra, "{}");

  as_session_clear(&s);
  as_session_clear(&t);
  as_session_clear(&u);
  as_store_close(st);
}

static void test_stale_save_changes_nothing(void **state) {
  (void)state;
  as_store *a = ct_open(&D, "stale.db", "wal", 1000);
  as_store *b = ct_open(&D, "stale.db", "wal", 1000);
  as_session s, x = {0}, y = {0}, z = {0};
  sample(&s, "shared");
  assert_int_equal(as_session_create(a, &s), AS_OK);
  assert_int_equal(as_session_load(a, "shared", &x), AS_OK);
  assert_int_equal(as_session_load(b, "shared", &y), AS_OK);

  x.status = AS_SESS_RESOLVED;
  assert_int_equal(as_session_add_call(&x, "mark_resolved", NULL, NULL, AS_TOOL_EXECUTED), AS_OK);
  assert_int_equal(as_session_save(a, &x), AS_OK);
  assert_int_equal(x.version, 2);

  /* y is a stale copy: its save fails and changes nothing, anywhere. */
  y.status = AS_SESS_ESCALATED;
  y.retry_count = 99;
  assert_int_equal(as_session_add_call(&y, "mark_escalated", NULL, NULL, AS_TOOL_EXECUTED),
                   AS_OK);
  int64_t before = y.updated_ns;
  assert_int_equal(as_session_save(b, &y), AS_STALE);
  assert_int_equal(y.version, 1);
  assert_int_equal(y.updated_ns, before);
  assert_int_equal(as_session_load(b, "shared", &z), AS_OK);
  assert_same(&x, &z);

  /* Reloaded, the same change goes through at the next version. */
  z.status = AS_SESS_ESCALATED;
  assert_int_equal(as_session_save(b, &z), AS_OK);
  assert_int_equal(z.version, 3);

  /* A session that was never created: AS_NOTFOUND, still nothing stored. */
  as_session ghost;
  sample(&ghost, "ghost");
  ghost.version = 1;
  assert_int_equal(as_session_save(a, &ghost), AS_NOTFOUND);
  as_session_clear(&x);
  x.version = 7;
  assert_int_equal(as_session_load(a, "ghost", &x), AS_NOTFOUND);
  assert_int_equal(x.version, 0); /* a failed load leaves out empty */
  assert_null(x.calls);

  /* The id is taken. */
  assert_int_equal(as_session_create(b, &ghost), AS_OK);
  assert_int_equal(as_session_create(a, &ghost), AS_EXISTS);

  as_session_clear(&s);
  as_session_clear(&x);
  as_session_clear(&y);
  as_session_clear(&z);
  as_session_clear(&ghost);
  as_store_close(a);
  as_store_close(b);
}

static void test_write_refusals(void **state) {
  (void)state;
  as_store *st = ct_open(&D, "refuse.db", "delete", 0);
  as_session s, t = {0};
  sample(&s, "r");
  assert_int_equal(as_session_create(NULL, &s), AS_INVAL);
  assert_int_equal(as_session_create(st, NULL), AS_INVAL);
  assert_int_equal(as_session_save(NULL, &s), AS_INVAL);
  assert_int_equal(as_session_save(st, NULL), AS_INVAL);
  s.status = AS__SESS_COUNT;
  assert_int_equal(as_session_create(st, &s), AS_INVAL);
  s.status = AS_SESS_NEW;
  memcpy(s.id, "a:b", 4);
  assert_int_equal(as_session_create(st, &s), AS_INVAL);
  memcpy(s.id, "r", 2);

  /* JSON the schema refuses: nothing is stored. */
  assert_int_equal(as_session_set_extra(&s, "{not json"), AS_OK);
  assert_int_equal(as_session_create(st, &s), AS_PARSE);
  assert_int_equal(as_session_load(st, "r", &t), AS_NOTFOUND);
  assert_int_equal(as_session_set_extra(&s, "{}"), AS_OK);
  assert_int_equal(as_session_add_call(&s, "t", "{\"a\":", "1", AS_TOOL_EXECUTED), AS_OK);
  assert_int_equal(as_session_create(st, &s), AS_PARSE);
  assert_int_equal(as_session_load(st, "r", &t), AS_NOTFOUND);
  s.ncalls--; /* drop the bad call (its memory is freed by clear: keep it) */
  assert_int_equal(as_session_create(st, &s), AS_OK);
  s.ncalls++;
  s.calls[s.ncalls - 1].state = AS_TOOL_EXECUTED;
  assert_int_equal(as_session_save(st, &s), AS_PARSE);
  assert_int_equal(s.version, 1);
  assert_int_equal(as_session_load(st, "r", &t), AS_OK);
  assert_int_equal(t.version, 1);
  assert_int_equal(t.ncalls, 2);

  /* Events with a save: none where some are counted, or too many. */
  as_event_in evs[AS_SAVE_EVENTS_MAX + 1];
  for (size_t i = 0; i < AS_SAVE_EVENTS_MAX + 1; i++)
    evs[i] = (as_event_in){.kind = "session_created"};
  int64_t first = -1;
  assert_int_equal(as_session_save_with_events(NULL, &s, evs, 1, &first), AS_INVAL);
  assert_int_equal(as_session_save_with_events(st, &s, NULL, 1, &first), AS_INVAL);
  assert_int_equal(as_session_save_with_events(st, &s, evs, AS_SAVE_EVENTS_MAX + 1, &first),
                   AS_INVAL);
  assert_int_equal(first, -1);
  assert_int_equal(s.version, 1); /* nothing saved */

  as_session_clear(&t);
  assert_int_equal(as_session_load(NULL, "r", &t), AS_INVAL);
  assert_int_equal(as_session_load(st, "r", NULL), AS_INVAL);
  assert_int_equal(as_session_load(st, "", &t), AS_INVAL);
  assert_string_equal(t.id, "");
  /* Garbage in out is overwritten, not freed. */
  memset(&t, 0x5a, sizeof t);
  assert_int_equal(as_session_load(st, "nope", &t), AS_NOTFOUND);
  assert_null(t.calls);
  memset(&t, 0x5a, sizeof t);
  assert_int_equal(as_session_load(st, "r", &t), AS_OK);

  as_session_clear(&s);
  as_session_clear(&t);
  as_store_close(st);
}

/* Rows another writer left that this build cannot represent. */
static void test_load_caps(void **state) {
  (void)state;
  as_store *st = ct_open(&D, "caps.db", "wal", 0);
  as_session s;
  static const char *const ids[] = {"status", "reason", "extra", "state", "args", "ok"};
  for (size_t i = 0; i < 6; i++) {
    sample(&s, ids[i]);
    assert_int_equal(as_session_create(st, &s), AS_OK);
    as_session_clear(&s);
  }
  sqlite3 *raw = ct_raw_open(&D, "caps.db");
  ct_raw_exec(raw, "UPDATE sessions SET status = 'done' WHERE id = 'status';"
                   "UPDATE sessions SET needs_review_reason = printf('%.*c', 600, 'r')"
                   " WHERE id = 'reason';"
                   "UPDATE sessions SET extra = '[' || printf('%.*c', 70000, '1') || ']'"
                   " WHERE id = 'extra';"
                   "UPDATE tool_calls SET state = 'approved' WHERE session_id = 'state';"
                   "UPDATE tool_calls SET args = '[' || printf('%.*c', 70000, '1') || ']'"
                   " WHERE session_id = 'args' AND idx = 1;");
  ct_raw_close(raw);
  static const int want[] = {AS_PARSE, AS_TOOBIG, AS_TOOBIG, AS_PARSE, AS_TOOBIG, AS_OK};
  for (size_t i = 0; i < 6; i++) {
    as_session t = {0};
    if (as_session_load(st, ids[i], &t) != want[i]) fail_msg("load %s", ids[i]);
    as_session_clear(&t);
  }
  as_store_close(st);
}

/* --- listing ---------------------------------------------------------------------- */

static void test_list(void **state) {
  (void)state;
  as_store *st = ct_open(&D, "list.db", "wal", 0);
  as_session_brief page[3];
  size_t n = 99;
  assert_int_equal(as_session_list(st, NULL, page, 3, &n), AS_OK);
  assert_int_equal(n, 0);
  static const char *const ids[] = {"d", "a", "e", "c", "b"};
  for (size_t i = 0; i < 5; i++) {
    as_session s;
    assert_int_equal(as_session_init(&s, ids[i]), AS_OK);
    s.status = (as_session_status)i;
    assert_int_equal(as_session_create(st, &s), AS_OK);
    for (size_t k = 0; k < i; k++) assert_int_equal(as_session_save(st, &s), AS_OK);
    as_session_clear(&s);
  }
  /* Pages of two: a b | c d | e. */
  static const char *const order[] = {"a", "b", "c", "d", "e"};
  static const as_session_status status[] = {1, 4, 3, 0, 2};
  char after[AS_SESSION_ID_MAX] = "";
  size_t seen = 0;
  do {
    assert_int_equal(as_session_list(st, after, page, 2, &n), AS_OK);
    for (size_t i = 0; i < n; i++, seen++) {
      assert_string_equal(page[i].id, order[seen]);
      assert_int_equal(page[i].status, status[seen]);
      assert_int_equal(page[i].version, 1 + (int64_t)status[seen]);
    }
    if (n) memcpy(after, page[n - 1].id, strlen(page[n - 1].id) + 1);
  } while (n == 2);
  assert_int_equal(seen, 5);

  assert_int_equal(as_session_list(NULL, NULL, page, 2, &n), AS_INVAL);
  assert_int_equal(as_session_list(st, NULL, NULL, 2, &n), AS_INVAL);
  assert_int_equal(as_session_list(st, NULL, page, 2, NULL), AS_INVAL);
  assert_int_equal(as_session_list(st, NULL, page, 0, &n), AS_INVAL);
  assert_int_equal(as_session_list(st, NULL, page, AS_STORE_LIST_MAX + 1, &n), AS_INVAL);

  /* A row this build cannot read makes the page fail, and says nothing. */
  sqlite3 *raw = ct_raw_open(&D, "list.db");
  ct_raw_exec(raw, "UPDATE sessions SET status = 'gone' WHERE id = 'b'");
  ct_raw_close(raw);
  assert_int_equal(as_session_list(st, NULL, page, 3, &n), AS_PARSE);
  assert_int_equal(n, 0);
  as_store_close(st);
}

/* --- a busy database ---------------------------------------------------------- */

static void test_busy_timeout(void **state) {
  (void)state;
  ct_hooks_install(true);
  as_store *st = ct_open(&D, "busy.db", "delete", 100);
  as_store *now = ct_open(&D, "busy.db", "delete", 0);
  as_session s, t = {0};
  sample(&s, "b");
  assert_int_equal(as_session_create(st, &s), AS_OK);

  /* A writer holds the write lock: saves wait 100 ms (fake clock), backing
  ** off 1, 2, 4 ... 64 ms, then give up with AS_BUSY. */
  sqlite3 *raw = ct_raw_open(&D, "busy.db");
  ct_raw_exec(raw, "BEGIN IMMEDIATE");
  uint64_t t0 = ct_h.mono;
  s.status = AS_SESS_RESOLVED;
  assert_int_equal(as_session_save(st, &s), AS_BUSY);
  assert_int_equal(ct_h.mono - t0, 100000000u);
  assert_int_equal(ct_h.sleeps, 7);
  assert_int_equal(s.version, 1);
  assert_true(strlen(as_store_errmsg(st)) > 0);
  /* Timeout 0: no waiting at all. */
  ct_h.sleeps = 0;
  assert_int_equal(as_session_save(now, &s), AS_BUSY);
  assert_int_equal(ct_h.sleeps, 0);
  ct_raw_exec(raw, "ROLLBACK");

  /* A reader holds its lock through our commit: the commit waits, gives up,
  ** and the transaction is rolled back. */
  ct_raw_exec(raw, "BEGIN; SELECT count(*) FROM sessions;");
  assert_int_equal(as_session_save(st, &s), AS_BUSY);
  assert_int_equal(s.version, 1);
  ct_raw_exec(raw, "COMMIT");
  assert_int_equal(as_session_load(st, "b", &t), AS_OK);
  assert_int_equal(t.status, AS_SESS_IN_PROGRESS);
  assert_int_equal(t.version, 1);

  /* Free again: the same save goes through. */
  assert_int_equal(as_session_save(st, &s), AS_OK);
  assert_int_equal(s.version, 2);
  ct_raw_close(raw);
  as_session_clear(&s);
  as_session_clear(&t);
  as_store_close(st);
  as_store_close(now);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sqlite_status_map),
      cmocka_unit_test_setup_teardown(test_open_refusals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_open_modes_and_reopen, setup, teardown),
      cmocka_unit_test(test_durability_table),
      cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_migration, setup, teardown),
      cmocka_unit_test_setup_teardown(test_create_load_save, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stale_save_changes_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_refusals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_load_caps, setup, teardown),
      cmocka_unit_test_setup_teardown(test_list, setup, teardown),
      cmocka_unit_test_setup_teardown(test_busy_timeout, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
** test_core_faults.c -- the runtime core when SQLite or the allocator says
** no. Linked with --wrap (sqlwrap.h, faultwrap.h): every store operation
** runs as a STYLE.md rule 7 countdown -- fail the n-th SQLite call for n = 1,
** 2, ... until the operation completes -- transient and persistent, checking
** every time the status the contract promises, that the database is as it
** was (the transaction rolled back; a rollback that itself failed is undone
** by the next transaction), and that nothing was left allocated. The same
** for allocations.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "agentsim/checkpoints.h"
#include "agentsim/events.h"
#include "agentsim/finalize.h"
#include "agentsim/locks.h"
#include "agentsim/store.h"
#include "core_internal.h"
#include "coretest.h"
#include "faultwrap.h"
#include "sqlwrap.h"

static ct_dir D;
static as_store *ST;
static as_lock_registry *REG;

static int setup(void **state) {
  (void)state;
  fw_reset();
  sw_reset();
  ct_dir_make(&D);
  ST = ct_open(&D, "f.db", "delete", 0);
  /* A registry slot keeps the condition variable it made on first use:
  ** make it now, so the leak checks below see only what an operation keeps. */
  if (as_locks_new(&REG, 8) != AS_OK || as_lock_acquire(REG, "warm") != AS_OK) return -1;
  return as_lock_release(REG, "warm") == AS_OK ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  fw_reset();
  sw_reset();
  as_locks_free(REG);
  as_store_close(ST);
  ct_dir_remove(&D);
  return 0;
}

static void create(const char *id, as_session_status status, const char *tool) {
  as_session s;
  assert_int_equal(as_session_init(&s, id), AS_OK);
  s.status = status;
  if (tool) assert_int_equal(as_session_add_call(&s, tool, "{}", "{}", AS_TOOL_EXECUTED), AS_OK);
  assert_int_equal(as_session_create(ST, &s), AS_OK);
  as_session_clear(&s);
}

/* The stored version and status of id (0 / -1 when missing). */
static int64_t version_of(const char *id, as_session_status *status) {
  as_session s = {0};
  int rc = as_session_load(ST, id, &s);
  assert_true(rc == AS_OK || rc == AS_NOTFOUND);
  int64_t v = rc == AS_OK ? s.version : 0;
  if (status) *status = rc == AS_OK ? s.status : AS__SESS_COUNT;
  as_session_clear(&s);
  return v;
}

static size_t events_of(const char *id) {
  as_event_list l = {0};
  assert_int_equal(as_event_read(ST, id, 0, AS_EVENT_READ_MAX, &l), AS_OK);
  size_t n = l.n;
  as_event_list_clear(&l);
  return n;
}

/* --- the countdown --------------------------------------------------------------- */

typedef struct op {
  const char *name;
  void (*prep)(struct op *o);      /* before each run, faults off (optional) */
  int (*run)(struct op *o);      /* the operation; its status */
  void (*unchanged)(struct op *o); /* after a failure: nothing happened */
  void (*reset)(struct op *o);   /* after the success: ready for another run */
  const char *id;
  int64_t v;                     /* version before */
  size_t n;                      /* a count before */
  void *p;                       /* op-specific */
  as_session sess;               /* what prep loaded */
} op;

/* What a failure of fn with SQLite code err must come back as. */
static int want_status(sw_fn fn, int err) {
  if (fn == SW_COLUMN_TEXT || fn == SW_COLUMN_BLOB || fn == SW_VALUE_TEXT) return AS_NOMEM;
  return as__sql_status(err);
}

/* Run o for n = 1, 2, ... failing the n-th SQLite call; returns the number
** of calls the operation makes (the n at which nothing fired). */
static unsigned long countdown(op *o, int err, int persistent) {
  unsigned long n;
  for (n = 1;; n++) {
    size_t live = fw_live_blocks();
    if (o->prep) o->prep(o);
    sw_countdown(SW_COUNTDOWN, n, err, persistent);
    int rc = o->run(o);
    sw_disarm();
    if (!sw_fired()) {
      if (rc != AS_OK) fail_msg("%s: clean run gave %s", o->name, as_status_name(rc));
      if (o->reset) o->reset(o);
      assert_int_equal(fw_live_blocks(), live);
      break;
    }
    int want = want_status(sw_fired_fn(), err);
    if (rc != want)
      fail_msg("%s: failing call %lu (%s, %s) gave %s, want %s", o->name, n,
               sw_fn_name(sw_fired_fn()), persistent ? "persistent" : "once",
               as_status_name(rc), as_status_name(want));
    o->unchanged(o);
    /* A persistent fault also failed the rollback: any transaction that
    ** left open is rolled back by the next one (here, at the latest). */
    int v;
    assert_int_equal(as_store_schema_version(ST, &v), AS_OK);
    assert_int_equal(fw_live_blocks(), live);
  }
  return n;
}

static void run_countdowns(op *o) {
  unsigned long a = countdown(o, SQLITE_IOERR, 0);
  unsigned long b = countdown(o, SQLITE_FULL, 1);
  unsigned long c = countdown(o, SQLITE_BUSY, 0);
  assert_true(a > 1);
  assert_int_equal(a, b);
  assert_int_equal(a, c);
}

/* --- open ---------------------------------------------------------------------- */

/* o->v: 0 a new file (rollback journal), 1 a new file (WAL), 2 reopening an
** existing file (nothing to migrate). o->n numbers the new files. */
static void open_path(op *o, char *p, size_t cap) {
  char name[32];
  if (o->v == 2)
    snprintf(name, sizeof name, "existing.db");
  else
    snprintf(name, sizeof name, "open-%zu.db", o->n);
  ct_path(p, cap, &D, name);
}

static int open_run(op *o) {
  char p[256];
  open_path(o, p, sizeof p);
  as_store *st = (as_store *)&st;
  as_store_opts opts = {.journal_mode = o->v == 1 ? "wal" : "delete", .synchronous = "off",
                        .not_durable = 1};
  int rc = as_store_open(&st, p, &opts);
  sw_disarm(); /* the checks below are not under test */
  if (rc == AS_OK) {
    int v = 0;
    assert_int_equal(as_store_schema_version(st, &v), AS_OK);
    assert_int_equal(v, AS_STORE_SCHEMA_VERSION);
    as_store_close(st);
  } else {
    assert_null(st);
  }
  return rc;
}

/* A failed open of a new file may leave an empty or half-migrated file:
** opening it again must finish the job. */
static void open_unchanged(op *o) {
  sw_disarm();
  assert_int_equal(open_run(o), AS_OK);
  if (o->v != 2) o->n++;
}

static void open_reset(op *o) {
  if (o->v != 2) o->n++;
}

static void test_open_countdown(void **state) {
  (void)state;
  op o = {.name = "open", .run = open_run, .unchanged = open_unchanged, .reset = open_reset};
  run_countdowns(&o);
  o.name = "open wal";
  o.v = 1;
  run_countdowns(&o);
  o.name = "reopen";
  o.v = 2;
  assert_int_equal(open_run(&o), AS_OK);
  run_countdowns(&o);
}

/* --- sessions -------------------------------------------------------------------- */

static int create_run(op *o) {
  as_session s;
  assert_int_equal(as_session_init(&s, o->id), AS_OK);
  assert_int_equal(as_session_add_call(&s, "a", "{}", "1", AS_TOOL_EXECUTED), AS_OK);
  assert_int_equal(as_session_add_call(&s, "b", "[]", "2", AS_TOOL_REJECTED), AS_OK);
  int rc = as_session_create(ST, &s);
  assert_int_equal(s.version, rc == AS_OK ? 1 : 0);
  as_session_clear(&s);
  return rc;
}

static void create_unchanged(op *o) { assert_int_equal(version_of(o->id, NULL), 0); }

static void create_reset(op *o) {
  static const char *const next[] = {"c1", "c2", "c3"};
  assert_int_equal(version_of(o->id, NULL), 1);
  o->id = next[o->n++];
}

static void save_prep(op *o) {
  as_session *s = &o->sess;
  assert_int_equal(as_session_load(ST, o->id, s), AS_OK);
  s->status = AS_SESS_AWAITING_INPUT;
  assert_int_equal(as_session_add_call(s, "c", "{}", "3", AS_TOOL_PENDING_APPROVAL), AS_OK);
}

static int save_run(op *o) {
  as_session *s = &o->sess;
  int64_t v = s->version, seq = -1;
  int rc = o->p ? as_session_save_with_event(ST, s, "status_changed", "{}", &seq)
                : as_session_save(ST, s);
  assert_int_equal(s->version, rc == AS_OK ? v + 1 : v);
  if (o->p) assert_int_equal(seq, rc == AS_OK ? (int64_t)o->n + 1 : -1);
  as_session_clear(s);
  return rc;
}

static void save_unchanged(op *o) {
  as_session_status st;
  assert_int_equal(version_of(o->id, &st), o->v);
  assert_int_equal(st, AS_SESS_IN_PROGRESS);
  assert_int_equal(events_of(o->id), o->n);
}

static void save_reset(op *o) {
  /* Back to in_progress for the next countdown (a save of our own). */
  as_session s = {0};
  assert_int_equal(as_session_load(ST, o->id, &s), AS_OK);
  assert_int_equal(s.status, AS_SESS_AWAITING_INPUT);
  assert_int_equal(s.version, o->v + 1);
  assert_int_equal(events_of(o->id), o->n + (o->p != NULL));
  s.status = AS_SESS_IN_PROGRESS;
  s.ncalls--;
  free(s.calls[s.ncalls].args);
  free(s.calls[s.ncalls].result);
  assert_int_equal(as_session_save(ST, &s), AS_OK);
  o->v = s.version;
  o->n = events_of(o->id);
  as_session_clear(&s);
}

static int load_run(op *o) {
  as_session s = {0};
  int rc = as_session_load(ST, o->id, &s);
  assert_int_equal(s.version, rc == AS_OK ? o->v : 0);
  if (rc == AS_OK) assert_int_equal(s.ncalls, 2);
  as_session_clear(&s);
  return rc;
}

static void nothing_to_check(op *o) { (void)o; }

static int list_run(op *o) {
  as_session_brief b[4];
  size_t n = 99;
  int rc = as_session_list(ST, NULL, b, 4, &n);
  assert_int_equal(n, rc == AS_OK ? o->n : 0);
  return rc;
}

static int schema_run(op *o) {
  (void)o;
  int v = 0;
  return as_store_schema_version(ST, &v);
}

static void test_session_countdowns(void **state) {
  (void)state;
  op o = {.name = "create", .run = create_run, .unchanged = create_unchanged,
          .reset = create_reset, .id = "c0"};
  run_countdowns(&o);

  op s = {.name = "save", .prep = save_prep, .run = save_run, .unchanged = save_unchanged,
          .reset = save_reset, .id = "c0"};
  /* first get it to in_progress */
  as_session x = {0};
  assert_int_equal(as_session_load(ST, "c0", &x), AS_OK);
  x.status = AS_SESS_IN_PROGRESS;
  assert_int_equal(as_session_save(ST, &x), AS_OK);
  as_session_clear(&x);
  s.v = version_of("c0", NULL);
  run_countdowns(&s);
  s.name = "save_with_event";
  s.p = &s;
  run_countdowns(&s);

  op l = {.name = "load", .run = load_run, .unchanged = nothing_to_check, .id = "c0"};
  l.v = version_of("c0", NULL);
  run_countdowns(&l);

  op ls = {.name = "list", .run = list_run, .unchanged = nothing_to_check, .n = 3};
  run_countdowns(&ls);
  op sv = {.name = "schema_version", .run = schema_run, .unchanged = nothing_to_check};
  run_countdowns(&sv);
}

/* --- events ---------------------------------------------------------------------- */

static int append_run(op *o) {
  int64_t seq = -1;
  int rc = as_event_append(ST, o->id, "tool_invoked", "{\"n\":1}", &seq);
  assert_int_equal(seq, rc == AS_OK ? (int64_t)o->n + 1 : -1);
  return rc;
}

static void append_unchanged(op *o) { assert_int_equal(events_of(o->id), o->n); }
static void append_reset(op *o) { o->n = events_of(o->id); }

static int read_run(op *o) {
  as_event_list l = {0};
  int rc = as_event_read(ST, o->id, 1, 10, &l);
  assert_int_equal(l.n, rc == AS_OK ? o->n - 1 : 0);
  as_event_list_clear(&l);
  return rc;
}

static void test_event_countdowns(void **state) {
  (void)state;
  create("e", AS_SESS_NEW, NULL);
  op a = {.name = "event_append", .run = append_run, .unchanged = append_unchanged,
          .reset = append_reset, .id = "e"};
  run_countdowns(&a);
  op r = {.name = "event_read", .run = read_run, .unchanged = nothing_to_check, .id = "e",
          .n = events_of("e")};
  run_countdowns(&r);
}

/* --- checkpoints ------------------------------------------------------------------ */

static int put_run(op *o) {
  (void)o;
  return as_checkpoint_put(ST, "t:retry-1", "new", 3);
}

static void put_unchanged(op *o) {
  (void)o;
  char buf[8];
  size_t len;
  assert_int_equal(as_checkpoint_get(ST, "t:retry-1", buf, sizeof buf, &len), AS_OK);
  assert_int_equal(len, 3);
  assert_memory_equal(buf, "old", 3);
}

static void put_reset(op *o) {
  (void)o;
  assert_int_equal(as_checkpoint_put(ST, "t:retry-1", "old", 3), AS_OK);
}

static int get_run(op *o) {
  (void)o;
  char buf[8];
  size_t len = 0;
  int rc = as_checkpoint_get(ST, "t:retry-1", buf, sizeof buf, &len);
  if (rc == AS_OK) assert_memory_equal(buf, "old", 3);
  return rc;
}

static int gc_run(op *o) {
  size_t removed = 99;
  int rc = as_checkpoint_gc(ST, &removed);
  assert_int_equal(removed, rc == AS_OK ? o->n : 0);
  return rc;
}

static void gc_unchanged(op *o) {
  (void)o;
  size_t len;
  assert_int_equal(as_checkpoint_get(ST, "gone:retry-2", NULL, 0, &len), AS_TOOBIG);
  assert_int_equal(as_checkpoint_get(ST, "t:retry-1", NULL, 0, &len), AS_TOOBIG);
}

static void gc_reset(op *o) {
  size_t len;
  assert_int_equal(as_checkpoint_get(ST, "gone:retry-2", NULL, 0, &len), AS_NOTFOUND);
  assert_int_equal(as_checkpoint_get(ST, "t:retry-1", NULL, 0, &len), AS_TOOBIG);
  assert_int_equal(as_checkpoint_put(ST, "gone:retry-2", "x", 1), AS_OK);
  o->n = 1;
}

static void test_checkpoint_countdowns(void **state) {
  (void)state;
  create("t", AS_SESS_IN_PROGRESS, NULL);
  assert_int_equal(as_checkpoint_put(ST, "t:retry-1", "old", 3), AS_OK);
  op p = {.name = "checkpoint_put", .run = put_run, .unchanged = put_unchanged,
          .reset = put_reset};
  run_countdowns(&p);
  op g = {.name = "checkpoint_get", .run = get_run, .unchanged = nothing_to_check};
  run_countdowns(&g);
  assert_int_equal(as_checkpoint_put(ST, "gone:retry-2", "x", 1), AS_OK);
  op c = {.name = "checkpoint_gc", .run = gc_run, .unchanged = gc_unchanged, .reset = gc_reset,
          .n = 1};
  run_countdowns(&c);

  /* SQLite out of memory for a non-empty blob. */
  char buf[8];
  size_t len;
  sw_inject(SW_COLUMN_BLOB, 0, 1);
  assert_int_equal(as_checkpoint_get(ST, "t:retry-1", buf, sizeof buf, &len), AS_NOMEM);
}

/* --- finalize and pause ------------------------------------------------------------ */

static int finalize_run(op *o) {
  as_session_status got = AS__SESS_COUNT;
  int rc = as_finalize(ST, REG, o->id, NULL, &got);
  assert_int_equal(got, rc == AS_OK ? AS_SESS_RESOLVED : AS__SESS_COUNT);
  assert_int_equal(as_locks_size(REG), 0);
  return rc;
}

static int pause_run(op *o) {
  bool changed = false;
  int rc = as_mark_paused(ST, REG, o->id, &changed);
  assert_int_equal(changed, rc == AS_OK);
  assert_int_equal(as_locks_size(REG), 0);
  return rc;
}

static void settle_unchanged(op *o) {
  as_session_status st;
  assert_int_equal(version_of(o->id, &st), o->v);
  assert_int_equal(st, AS_SESS_IN_PROGRESS);
  assert_int_equal(events_of(o->id), 0);
}

static void settle_reset(op *o) {
  /* Settled: a fresh session for the next countdown. */
  assert_int_equal(events_of(o->id), 1);
  static char ids[16][8];
  static int next;
  snprintf(ids[next], sizeof ids[next], "f%d", next);
  o->id = ids[next++];
  create(o->id, AS_SESS_IN_PROGRESS, "mark_resolved");
  o->v = 1;
}

static void test_settle_countdowns(void **state) {
  (void)state;
  create("f", AS_SESS_IN_PROGRESS, "mark_resolved");
  op f = {.name = "finalize", .run = finalize_run, .unchanged = settle_unchanged,
          .reset = settle_reset, .id = "f", .v = 1};
  run_countdowns(&f);
  op p = {.name = "pause", .run = pause_run, .unchanged = settle_unchanged,
          .reset = settle_reset, .id = f.id, .v = 1};
  run_countdowns(&p);
}

/* --- one-off failures ------------------------------------------------------------ */

static void test_one_offs(void **state) {
  (void)state;
  /* A finalize that fails after the statement ran. */
  int v;
  sw_inject(SW_FINALIZE, SQLITE_IOERR, 1);
  assert_int_equal(as_store_schema_version(ST, &v), AS_IO);
  assert_int_equal(as_store_schema_version(ST, &v), AS_OK);

  /* A close that reports an error still frees everything. */
  as_store *st = ct_open(&D, "close.db", "delete", 0);
  size_t live = fw_live_blocks();
  sw_inject(SW_CLOSE, SQLITE_BUSY, 1);
  as_store_close(st);
  assert_true(fw_live_blocks() < live);

  /* changes() == 0 after the UPDATE: some other writer won -- stale. */
  create("ch", AS_SESS_IN_PROGRESS, NULL);
  as_session s = {0};
  assert_int_equal(as_session_load(ST, "ch", &s), AS_OK);
  sw_inject(SW_CHANGES, 0, 1);
  assert_int_equal(as_session_save(ST, &s), AS_STALE);
  assert_int_equal(s.version, 1);
  /* ... and the look that tells stale from gone fails itself (the third
  ** step: BEGIN, UPDATE, then its SELECT). */
  sw_inject(SW_CHANGES, 0, 1);
  sw_countdown(SW_BIT(STEP), 3, SQLITE_IOERR, 0);
  assert_int_equal(as_session_save(ST, &s), AS_IO);
  assert_true(sw_fired());
  sw_disarm();
  assert_int_equal(s.version, 1);
  sw_inject(SW_CHANGES, 0, 100);
  assert_int_equal(as_finalize(ST, REG, "ch", NULL, NULL), AS_BUSY);
  sw_reset();
  as_session_status got;
  assert_int_equal(as_finalize(ST, REG, "ch", NULL, &got), AS_OK);
  assert_int_equal(got, AS_SESS_NEEDS_REVIEW);
  as_session_clear(&s);

  /* A rollback that fails leaves the transaction open; the next
  ** transaction rolls it back first, and nothing of it survives. */
  create("rb", AS_SESS_IN_PROGRESS, NULL);
  assert_int_equal(as_session_load(ST, "rb", &s), AS_OK);
  s.status = AS_SESS_RESOLVED;
  /* UPDATE runs, then the tool-call DELETE's step fails, then ROLLBACK's. */
  sw_countdown(SW_BIT(STEP), 3, SQLITE_IOERR, 1);
  assert_int_equal(as_session_save(ST, &s), AS_IO);
  sw_disarm();
  as_session_status st2;
  assert_int_equal(version_of("rb", &st2), 1);
  assert_int_equal(st2, AS_SESS_IN_PROGRESS);
  assert_int_equal(as_session_save(ST, &s), AS_OK);
  assert_int_equal(version_of("rb", &st2), 2);
  assert_int_equal(st2, AS_SESS_RESOLVED);
  as_session_clear(&s);
}

/* --- allocations -------------------------------------------------------------------- */

/* Run fn(arg) failing the n-th allocation (and mutex/cond creation) for n =
** 1, 2 ... until it succeeds; every failure must be AS_NOMEM, leak nothing. */
static void alloc_countdown(const char *name, int (*fn)(void *), void (*undo)(void *),
                            void *arg) {
  const uint64_t mask = FW_ALLOC | FW_BIT(MUTEX_INIT) | FW_BIT(COND_INIT);
  for (unsigned long n = 1;; n++) {
    size_t live = fw_live_blocks();
    fw_countdown(mask, n, ENOMEM, 0);
    int rc = fn(arg);
    fw_disarm();
    if (!fw_fired()) {
      assert_int_equal(rc, AS_OK);
      undo(arg);
      assert_int_equal(fw_live_blocks(), live);
      break;
    }
    if (rc != AS_NOMEM)
      fail_msg("%s: failing allocation %lu (%s) gave %s", name, n, fw_fn_name(fw_fired_fn()),
               as_status_name(rc));
    assert_int_equal(fw_live_blocks(), live);
  }
}

static int a_open(void *arg) {
  char p[256];
  ct_path(p, sizeof p, &D, "alloc.db");
  return as_store_open((as_store **)arg, p, NULL);
}
static void u_open(void *arg) { as_store_close(*(as_store **)arg); }

static int a_locks(void *arg) {
  as_lock_registry **r = arg;
  int rc = as_locks_new(r, 4);
  if (rc == AS_OK) rc = as_lock_acquire(*r, "k");
  if (rc == AS_OK) rc = as_lock_try_acquire(*r, "j");
  if (rc != AS_OK) {
    as_locks_free(*r);
    *r = NULL;
  }
  return rc;
}
static void u_locks(void *arg) {
  as_lock_registry *r = *(as_lock_registry **)arg;
  assert_int_equal(as_lock_release(r, "k"), AS_OK);
  assert_int_equal(as_lock_release(r, "j"), AS_OK);
  as_locks_free(r);
}

static int a_session(void *arg) {
  as_session *s = arg;
  int rc = as_session_init(s, "m");
  for (int i = 0; rc == AS_OK && i < 10; i++) rc = as_session_add_call(s, "t", "{}", "1",
                                                                      AS_TOOL_EXECUTED);
  if (rc == AS_OK) rc = as_session_set_extra(s, "{\"a\":1}");
  if (rc != AS_OK) as_session_clear(s);
  return rc;
}
static void u_session(void *arg) { as_session_clear(arg); }

static int a_load(void *arg) { return as_session_load(ST, "m", arg); }

static int a_events(void *arg) { return as_event_read(ST, "m", 0, 10, arg); }
static void u_events(void *arg) { as_event_list_clear(arg); }

static int a_finalize(void *arg) {
  (void)arg;
  return as_finalize(ST, REG, "m", NULL, NULL);
}
static void u_finalize(void *arg) {
  (void)arg;
  as_session_status st;
  assert_int_equal(version_of("m", &st), 2);
  assert_int_equal(st, AS_SESS_NEEDS_REVIEW);
}

static void test_alloc_countdowns(void **state) {
  (void)state;
  as_store *st = NULL;
  alloc_countdown("open", a_open, u_open, &st);
  as_lock_registry *r = NULL;
  alloc_countdown("locks", a_locks, u_locks, &r);
  as_session s = {0};
  alloc_countdown("session", a_session, u_session, &s);
  assert_int_equal(as_session_init(&s, "m"), AS_OK);
  for (int i = 0; i < 10; i++)
    assert_int_equal(as_session_add_call(&s, "t", "{}", "1", AS_TOOL_EXECUTED), AS_OK);
  s.status = AS_SESS_IN_PROGRESS;
  assert_int_equal(as_session_create(ST, &s), AS_OK);
  assert_int_equal(as_event_append(ST, "m", "k", "{}", NULL), AS_OK);
  assert_int_equal(as_event_append(ST, "m", "k", "{}", NULL), AS_OK);
  as_session_clear(&s);
  alloc_countdown("load", a_load, u_session, &s);
  as_event_list l = {0};
  alloc_countdown("event_read", a_events, u_events, &l);
  alloc_countdown("finalize", a_finalize, u_finalize, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_open_countdown, setup, teardown),
      cmocka_unit_test_setup_teardown(test_session_countdowns, setup, teardown),
      cmocka_unit_test_setup_teardown(test_event_countdowns, setup, teardown),
      cmocka_unit_test_setup_teardown(test_checkpoint_countdowns, setup, teardown),
      cmocka_unit_test_setup_teardown(test_settle_countdowns, setup, teardown),
      cmocka_unit_test_setup_teardown(test_one_offs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_alloc_countdowns, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

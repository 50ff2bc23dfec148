/*
** test_core_threads.c -- "real threads, same code": the runtime core on the
** posix platform, several pthread-backed seam tasks, each with its own
** SQLite connection to one on-disk WAL database, checking the oracle's
** invariants (DESIGN.md section 6) afterwards:
**
**   stale storm     writers save the same sessions without any lock,
**                   reloading on AS_STALE: versions rise by exactly one per
**                   acknowledged save (no two saves share a version), and no
**                   acknowledged write is lost;
**   settle race     turn-loop writers (under the session lock), two
**                   finalizers and a pauser on the same sessions at once:
**                   nobody sees a stale version under the lock, every session
**                   ends terminal with the status its history implies, a
**                   terminal status is never overwritten, events are
**                   contiguous, and the lock registry is empty at the end.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/events.h"
#include "agentsim/finalize.h"
#include "agentsim/locks.h"
#include "agentsim/seam.h"
#include "agentsim/store.h"
#include "coretest.h"

#define SESSIONS 4
#define WRITERS 4
#define SAVES 24 /* per writer */
#define MAX_ACKS (WRITERS * SAVES)

static ct_dir D;

typedef struct world {
  as_lock_registry *reg;
  as_mutex *mu; /* guards everything below */
  int ready, expect; /* the start line */
  int rc;       /* first unexpected status any task saw */
  char what[160];
  long stale;          /* AS_STALE seen (storm) */
  long stale_locked;   /* AS_STALE seen by a writer holding the lock (must be 0) */
  int64_t versions[SESSIONS][MAX_ACKS]; /* version each acknowledged save got */
  size_t nv[SESSIONS];
  char acked[SESSIONS][MAX_ACKS][16];   /* tool name each acknowledged save added */
} world;

typedef struct task_arg {
  world *w;
  int idx;
} task_arg;

static void fail_task(world *w, int rc, const char *what) {
  as_mutex_lock(w->mu);
  if (w->rc == AS_OK) {
    w->rc = rc ? rc : AS_INTERNAL;
    snprintf(w->what, sizeof w->what, "%s: %s", what, as_status_name(rc));
  }
  as_mutex_unlock(w->mu);
}

static void ack(world *w, int sess, int64_t version, const char *tool) {
  as_mutex_lock(w->mu);
  size_t k = w->nv[sess]++;
  w->versions[sess][k] = version;
  snprintf(w->acked[sess][k], sizeof w->acked[sess][k], "%s", tool);
  as_mutex_unlock(w->mu);
}

static as_store *open_own(world *w) {
  char p[256];
  ct_path(p, sizeof p, &D, "t.db");
  as_store_opts o = {.journal_mode = "wal", .synchronous = "off", .not_durable = 1, .busy_timeout_ms = 30000};
  as_store *st = NULL;
  int rc = as_store_open(&st, p, &o);
  if (rc != AS_OK) fail_task(w, rc, "open");
  return st;
}

static void sid(char *buf, size_t cap, const char *prefix, int i) {
  snprintf(buf, cap, "%s%d", prefix, i);
}

/* --- the stale storm ------------------------------------------------------------ */

/* Hold every task at the start line until all of them are there. */
static void start_line(world *w) {
  as_mutex_lock(w->mu);
  w->ready++;
  as_mutex_unlock(w->mu);
  for (;;) {
    as_mutex_lock(w->mu);
    int go = w->ready >= w->expect;
    as_mutex_unlock(w->mu);
    if (go) return;
    as_task_yield();
  }
}

static void storm_writer(void *arg) {
  task_arg *a = arg;
  world *w = a->w;
  as_store *st = open_own(w);
  start_line(w);
  for (int i = 0; st && i < SAVES; i++) {
    int k = (a->idx + i) % SESSIONS;
    char id[16], tool[16];
    sid(id, sizeof id, "storm", k);
    snprintf(tool, sizeof tool, "w%d-%d", a->idx, i);
    for (;;) {
      as_session s = {0};
      int rc = as_session_load(st, id, &s);
      if (rc == AS_OK) rc = as_session_add_call(&s, tool, "{}", "{}", AS_TOOL_EXECUTED);
      as_task_yield(); /* widen the window between load and save */
      if (rc == AS_OK) rc = as_session_save(st, &s);
      int64_t v = s.version;
      as_session_clear(&s);
      if (rc == AS_OK) {
        ack(w, k, v, tool);
        break;
      }
      if (rc != AS_STALE) {
        fail_task(w, rc, "storm save");
        break;
      }
      as_mutex_lock(w->mu);
      w->stale++;
      as_mutex_unlock(w->mu);
    }
  }
  as_store_close(st);
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static void test_stale_storm(void **state) {
  (void)state;
  world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  assert_int_equal(as_mutex_new(&w->mu), AS_OK);
  as_store *st = ct_open(&D, "t.db", "wal", 30000);
  for (int k = 0; k < SESSIONS; k++) {
    char id[16];
    sid(id, sizeof id, "storm", k);
    as_session s;
    assert_int_equal(as_session_init(&s, id), AS_OK);
    s.status = AS_SESS_IN_PROGRESS;
    assert_int_equal(as_session_create(st, &s), AS_OK);
    as_session_clear(&s);
  }
  task_arg args[WRITERS];
  as_task *t[WRITERS];
  w->expect = WRITERS;
  for (int i = 0; i < WRITERS; i++) {
    args[i] = (task_arg){w, i};
    assert_int_equal(as_task_spawn(&t[i], "storm", storm_writer, &args[i]), AS_OK);
  }
  for (int i = 0; i < WRITERS; i++) assert_int_equal(as_task_join(t[i]), AS_OK);
  if (w->rc != AS_OK) fail_msg("%s", w->what);

  size_t total = 0;
  for (int k = 0; k < SESSIONS; k++) {
    char id[16];
    sid(id, sizeof id, "storm", k);
    as_session s = {0};
    assert_int_equal(as_session_load(st, id, &s), AS_OK);
    size_t n = w->nv[k];
    total += n;
    /* One version per acknowledged save: exactly 2 .. n+1, each once. */
    qsort(w->versions[k], n, sizeof w->versions[k][0], cmp_i64);
    for (size_t i = 0; i < n; i++) assert_int_equal(w->versions[k][i], (int64_t)i + 2);
    assert_int_equal(s.version, (int64_t)n + 1);
    /* No acknowledged write lost, nothing unacknowledged in. */
    assert_int_equal(s.ncalls, n);
    for (size_t i = 0; i < n; i++) {
      size_t found = 0;
      for (size_t j = 0; j < s.ncalls; j++) found += strcmp(s.calls[j].tool, w->acked[k][i]) == 0;
      if (found != 1) fail_msg("%s: acknowledged %s found %zu times", id, w->acked[k][i], found);
    }
    as_session_clear(&s);
  }
  assert_int_equal(total, WRITERS * SAVES);
  print_message("stale storm: %zu saves, %ld stale retries\n", total, w->stale);
  as_store_close(st);
  as_mutex_free(w->mu);
  free(w);
}

/* --- the settle race --------------------------------------------------------------- */

#define ROUNDS 12 /* tool calls a turn-loop writer tries per session */

/* The tool a turn-loop writer adds in round r on session k: session 0 ends
** with mark_resolved, 1 with mark_escalated, 2 with the legacy notify tool,
** 3 with nothing terminal. */
static const char *turn_tool(int k, int r) {
  static const char *const last[] = {"mark_resolved", "srv:mark_escalated", "notify_team",
                                     "search"};
  return r == ROUNDS - 1 ? last[k] : "search";
}

static const char *const legacy_names[] = {"notify_team"};
static const as_finalize_rules rules = {legacy_names, 1};

static void turn_loop(void *arg) {
  task_arg *a = arg;
  world *w = a->w;
  as_store *st = open_own(w);
  start_line(w);
  for (int r = 0; st && r < ROUNDS; r++) {
    for (int k = 0; k < SESSIONS; k++) {
      char id[16];
      sid(id, sizeof id, "race", k);
      int rc = as_lock_acquire(w->reg, id);
      if (rc != AS_OK) {
        fail_task(w, rc, "turn lock");
        continue;
      }
      as_session s = {0};
      rc = as_session_load(st, id, &s);
      /* A settled session gets no more tool calls (the run is over). */
      if (rc == AS_OK && !as_session_status_terminal(s.status)) {
        s.status = AS_SESS_IN_PROGRESS;
        rc = as_session_add_call(&s, turn_tool(k, r), "{}", "{}", AS_TOOL_EXECUTED);
        if (rc == AS_OK) rc = as_session_save(st, &s);
        if (rc == AS_OK) ack(w, k, s.version, turn_tool(k, r));
      }
      if (rc == AS_STALE) {
        as_mutex_lock(w->mu);
        w->stale_locked++;
        as_mutex_unlock(w->mu);
      } else if (rc != AS_OK) {
        fail_task(w, rc, "turn save");
      }
      as_session_clear(&s);
      rc = as_lock_release(w->reg, id);
      if (rc != AS_OK) fail_task(w, rc, "turn unlock");
      as_task_yield();
    }
  }
  as_store_close(st);
}

/* Finalize every session now and then, from two paths (a == 0, 1). */
static void finalizer(void *arg) {
  task_arg *a = arg;
  world *w = a->w;
  as_store *st = open_own(w);
  start_line(w);
  for (int r = 0; st && r < ROUNDS; r++) {
    for (int k = 0; k < SESSIONS; k++) {
      char id[16];
      sid(id, sizeof id, "race", (k + a->idx) % SESSIONS);
      /* Only late rounds: earlier the run is still going. */
      if (r < ROUNDS / 2 + a->idx) continue;
      as_session_status final;
      int rc = as_finalize(st, w->reg, id, &rules, &final);
      if (rc != AS_OK) fail_task(w, rc, "finalize");
      else if (!as_session_status_terminal(final)) fail_task(w, AS_INTERNAL, "not terminal");
    }
    as_task_yield();
  }
  as_store_close(st);
}

static void pauser(void *arg) {
  task_arg *a = arg;
  world *w = a->w;
  as_store *st = open_own(w);
  start_line(w);
  for (int r = 0; st && r < ROUNDS; r++) {
    for (int k = 0; k < SESSIONS; k++) {
      char id[16];
      sid(id, sizeof id, "race", k);
      int rc = as_mark_paused(st, w->reg, id, NULL);
      if (rc != AS_OK) fail_task(w, rc, "pause");
    }
    as_task_yield();
  }
  as_store_close(st);
}

/* Check the status_changed history of one session: contiguous seqs, each
** "from" the previous "to", exactly one terminal "to", and it is the last. */
static void check_events(as_store *st, const char *id, as_session_status final) {
  as_event_list l = {0};
  assert_int_equal(as_event_read(st, id, 0, AS_EVENT_READ_MAX, &l), AS_OK);
  size_t terminal = 0;
  char prev[32] = "";
  for (size_t i = 0; i < l.n; i++) {
    assert_int_equal(l.items[i].seq, (int64_t)i + 1);
    char from[32], to[32];
    const char *f = strstr(l.items[i].payload, "\"from\":\"") + 8;
    const char *t = strstr(l.items[i].payload, "\"to\":\"") + 6;
    snprintf(from, sizeof from, "%.*s", (int)strcspn(f, "\""), f);
    snprintf(to, sizeof to, "%.*s", (int)strcspn(t, "\""), t);
    if (prev[0] && strcmp(from, prev) != 0 && strcmp(from, "in_progress") != 0)
      fail_msg("%s: event %zu from %s after %s", id, i + 1, from, prev);
    as_session_status st_to;
    assert_int_equal(as_session_status_parse(to, &st_to), AS_OK);
    if (as_session_status_terminal(st_to)) {
      terminal++;
      assert_int_equal(i, l.n - 1); /* nothing after the terminal one */
      assert_int_equal(st_to, final);
    }
    memcpy(prev, to, sizeof to);
  }
  assert_int_equal(terminal, 1);
  as_event_list_clear(&l);
}

static void test_settle_race(void **state) {
  (void)state;
  world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  assert_int_equal(as_mutex_new(&w->mu), AS_OK);
  assert_int_equal(as_locks_new(&w->reg, 64), AS_OK);
  as_store *st = ct_open(&D, "t.db", "wal", 30000);
  for (int k = 0; k < SESSIONS; k++) {
    char id[16];
    sid(id, sizeof id, "race", k);
    as_session s;
    assert_int_equal(as_session_init(&s, id), AS_OK);
    s.status = AS_SESS_IN_PROGRESS;
    assert_int_equal(as_session_create(st, &s), AS_OK);
    as_session_clear(&s);
  }
  enum { TURNS = 2, FIN = 2, ALL = TURNS + FIN + 1 };
  task_arg args[ALL];
  as_task *t[ALL];
  w->expect = ALL;
  for (int i = 0; i < ALL; i++) {
    args[i] = (task_arg){w, i < TURNS ? i : i < TURNS + FIN ? i - TURNS : 0};
    as_task_fn fn = i < TURNS ? turn_loop : i < TURNS + FIN ? finalizer : pauser;
    assert_int_equal(as_task_spawn(&t[i], "race", fn, &args[i]), AS_OK);
  }
  for (int i = 0; i < ALL; i++) assert_int_equal(as_task_join(t[i]), AS_OK);
  if (w->rc != AS_OK) fail_msg("%s", w->what);
  assert_int_equal(w->stale_locked, 0);

  /* A last finalize from the main task settles whatever the race left. */
  for (int k = 0; k < SESSIONS; k++) {
    char id[16];
    sid(id, sizeof id, "race", k);
    assert_int_equal(as_finalize(st, w->reg, id, &rules, NULL), AS_OK);
    as_session s = {0};
    assert_int_equal(as_session_load(st, id, &s), AS_OK);
    assert_true(as_session_status_terminal(s.status));
    /* The final status is what the history implies. */
    as_session_status want;
    char reason[AS_REASON_MAX];
    assert_int_equal(as_infer_terminal(&s, &rules, &want, reason, sizeof reason), AS_OK);
    assert_int_equal(s.status, want);
    /* Every acknowledged turn-loop save is in the history. */
    assert_int_equal(s.ncalls, w->nv[k]);
    check_events(st, id, s.status);
    as_session_clear(&s);
  }
  assert_int_equal(as_locks_size(w->reg), 0);
  as_locks_free(w->reg);
  as_store_close(st);
  as_mutex_free(w->mu);
  free(w);
}

static int setup(void **state) {
  (void)state;
  ct_dir_make(&D);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  ct_dir_remove(&D);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_stale_storm, setup, teardown),
      cmocka_unit_test_setup_teardown(test_settle_race, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

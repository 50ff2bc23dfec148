/*
** test_core_events.c -- the per-session event log (events.h) and the save
** that writes its event in the same transaction.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "agentsim/events.h"
#include "agentsim/store.h"
#include "coretest.h"

static ct_dir D;

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

static void create(as_store *st, const char *id) {
  as_session s;
  assert_int_equal(as_session_init(&s, id), AS_OK);
  assert_int_equal(as_session_create(st, &s), AS_OK);
  as_session_clear(&s);
}

/* Every event of id, checking the seqs are 1..n without a gap. */
static size_t count_contiguous(as_store *st, const char *id) {
  as_event_list l = {0};
  assert_int_equal(as_event_read(st, id, 0, AS_EVENT_READ_MAX, &l), AS_OK);
  for (size_t i = 0; i < l.n; i++) assert_int_equal(l.items[i].seq, (int64_t)i + 1);
  size_t n = l.n;
  as_event_list_clear(&l);
  return n;
}

static void test_append_and_read(void **state) {
  (void)state;
  as_store *st = ct_open(&D, "ev.db", "wal", 0);
  create(st, "a");
  create(st, "b");
  int64_t seq = 0;
  /* Interleaved appends: each session counts on its own, without gaps. */
  for (int i = 1; i <= 5; i++) {
    char payload[32];
    snprintf(payload, sizeof payload, "{\"i\":%d}", i);
    assert_int_equal(as_event_append(st, "a", "tool_invoked", payload, &seq), AS_OK);
    assert_int_equal(seq, i);
    if (i % 2) {
      assert_int_equal(as_event_append(st, "b", "agent_started", NULL, &seq), AS_OK);
      assert_int_equal(seq, (i + 1) / 2);
    }
  }
  assert_int_equal(as_event_append(st, "a", "x", "[]", NULL), AS_OK);

  as_event_list l = {0};
  assert_int_equal(as_event_read(st, "a", 0, AS_EVENT_READ_MAX, &l), AS_OK);
  assert_int_equal(l.n, 6);
  assert_string_equal(l.items[0].kind, "tool_invoked");
  assert_string_equal(l.items[0].payload, "{\"i\":1}");
  assert_true(l.items[0].at_ns > 0);
  assert_true(l.items[5].at_ns >= l.items[0].at_ns);
  assert_string_equal(l.items[5].kind, "x");

  /* From a watermark, and in pages. */
  as_event_list_clear(&l); /* a read overwrites: release first */
  assert_int_equal(as_event_read(st, "a", 4, AS_EVENT_READ_MAX, &l), AS_OK);
  assert_int_equal(l.n, 2);
  assert_int_equal(l.items[0].seq, 5);
  assert_int_equal(l.items[1].seq, 6);
  as_event_list_clear(&l);
  assert_int_equal(as_event_read(st, "a", 1, 2, &l), AS_OK);
  assert_int_equal(l.n, 2);
  assert_int_equal(l.items[0].seq, 2);
  as_event_list_clear(&l);
  assert_int_equal(as_event_read(st, "a", 6, 10, &l), AS_OK);
  assert_int_equal(l.n, 0);
  as_event_list_clear(&l);
  assert_int_equal(as_event_read(st, "b", 0, 10, &l), AS_OK);
  assert_int_equal(l.n, 3);
  assert_string_equal(l.items[2].payload, "{}");
  /* A session with no events, and one that does not exist: empty. */
  create(st, "quiet");
  as_event_list_clear(&l);
  assert_int_equal(as_event_read(st, "quiet", 0, 10, &l), AS_OK);
  assert_int_equal(l.n, 0);
  as_event_list_clear(&l);
  assert_int_equal(as_event_read(st, "nobody", 0, 10, &l), AS_OK);
  assert_int_equal(l.n, 0);
  as_event_list_clear(&l);
  as_event_list_clear(&l);
  as_event_list_clear(NULL);
  assert_int_equal(count_contiguous(st, "a"), 6);
  as_store_close(st);
}

static void test_refusals(void **state) {
  (void)state;
  as_store *st = ct_open(&D, "ev.db", "delete", 0);
  create(st, "a");
  char kind[AS_EVENT_KIND_MAX + 1];
  memset(kind, 'k', sizeof kind - 1);
  kind[sizeof kind - 1] = '\0';
  static char big[AS_EVENT_PAYLOAD_MAX + 2];
  memset(big, '1', sizeof big - 1);
  big[sizeof big - 1] = '\0';

  assert_int_equal(as_event_append(NULL, "a", "k", NULL, NULL), AS_INVAL);
  assert_int_equal(as_event_append(st, "a:b", "k", NULL, NULL), AS_INVAL);
  assert_int_equal(as_event_append(st, "a", NULL, NULL, NULL), AS_INVAL);
  assert_int_equal(as_event_append(st, "a", "", NULL, NULL), AS_INVAL);
  assert_int_equal(as_event_append(st, "a", kind, NULL, NULL), AS_TOOBIG);
  kind[AS_EVENT_KIND_MAX - 1] = '\0';
  assert_int_equal(as_event_append(st, "a", kind, NULL, NULL), AS_OK);
  assert_int_equal(as_event_append(st, "a", "k", big, NULL), AS_TOOBIG);
  big[AS_EVENT_PAYLOAD_MAX] = '\0';
  assert_int_equal(as_event_append(st, "a", "k", big, NULL), AS_OK);
  assert_int_equal(as_event_append(st, "a", "k", "{oops", NULL), AS_PARSE);
  assert_int_equal(as_event_append(st, "nobody", "k", NULL, NULL), AS_NOTFOUND);
  assert_int_equal(count_contiguous(st, "a"), 2);

  as_event_list l = {0};
  assert_int_equal(as_event_read(NULL, "a", 0, 1, &l), AS_INVAL);
  assert_int_equal(as_event_read(st, "a", 0, 1, NULL), AS_INVAL);
  assert_int_equal(as_event_read(st, "a", 0, 0, &l), AS_INVAL);
  assert_int_equal(as_event_read(st, "a", 0, AS_EVENT_READ_MAX + 1, &l), AS_INVAL);
  assert_int_equal(as_event_read(st, "", 0, 1, &l), AS_INVAL);

  /* Rows this build cannot hold: the read fails, and out is empty. */
  assert_int_equal(as_event_read(st, "a", 0, 1, &l), AS_OK);
  assert_int_equal(l.n, 1);
  assert_int_equal(l.items[0].seq, 1);
  as_event_list_clear(&l);
  sqlite3 *raw = ct_raw_open(&D, "ev.db");
  ct_raw_exec(raw, "UPDATE events SET payload = '[' || printf('%.*c', 17000, '1') || ']'"
                   " WHERE seq = 2;"
                   "INSERT INTO events VALUES ('a', 3, printf('%.*c', 70, 'k'), '{}', 1)");
  ct_raw_close(raw);
  assert_int_equal(as_event_read(st, "a", 1, 1, &l), AS_TOOBIG);
  assert_int_equal(as_event_read(st, "a", 2, 1, &l), AS_TOOBIG);
  assert_int_equal(l.n, 0);
  assert_null(l.items);
  as_store_close(st);
}

/* The save and its event: both or neither. */
static void test_save_with_event(void **state) {
  (void)state;
  as_store *a = ct_open(&D, "swe.db", "wal", 1000);
  as_store *b = ct_open(&D, "swe.db", "wal", 1000);
  as_session s, stale = {0}, t = {0};
  assert_int_equal(as_session_init(&s, "s"), AS_OK);
  assert_int_equal(as_session_create(a, &s), AS_OK);
  assert_int_equal(as_session_load(b, "s", &stale), AS_OK);

  int64_t seq = 0;
  s.status = AS_SESS_IN_PROGRESS;
  assert_int_equal(as_session_save_with_event(a, &s, "status_changed",
                                              "{\"from\":\"new\",\"to\":\"in_progress\"}", &seq),
                   AS_OK);
  assert_int_equal(seq, 1);
  assert_int_equal(s.version, 2);
  assert_int_equal(as_session_save_with_event(a, &s, "agent_started", NULL, NULL), AS_OK);
  assert_int_equal(s.version, 3);

  /* A stale save writes no event; a refused event writes no save. */
  stale.status = AS_SESS_RESOLVED;
  seq = -1;
  assert_int_equal(as_session_save_with_event(b, &stale, "status_changed", "{}", &seq),
                   AS_STALE);
  assert_int_equal(seq, -1);
  assert_int_equal(count_contiguous(a, "s"), 2);
  s.status = AS_SESS_RESOLVED;
  assert_int_equal(as_session_save_with_event(a, &s, "", "{}", NULL), AS_INVAL);
  assert_int_equal(as_session_save_with_event(a, &s, "k", "{bad", NULL), AS_PARSE);
  assert_int_equal(s.version, 3);
  assert_int_equal(as_session_load(b, "s", &t), AS_OK);
  assert_int_equal(t.version, 3);
  assert_int_equal(t.status, AS_SESS_IN_PROGRESS);
  assert_int_equal(count_contiguous(b, "s"), 2);

  as_session_clear(&s);
  as_session_clear(&stale);
  as_session_clear(&t);
  as_store_close(a);
  as_store_close(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_append_and_read, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_save_with_event, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
** test_core_checkpoints.c -- checkpoints per thread id and their GC
** (checkpoints.h): with and without retry suffixes, never removing the
** checkpoints of an active session.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "agentsim/checkpoints.h"
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

static void test_put_get(void **state) {
  (void)state;
  as_store *st = ct_open(&D, "cp.db", "wal", 0);
  char buf[16];
  size_t len = 99;
  assert_int_equal(as_checkpoint_get(st, "t", buf, sizeof buf, &len), AS_NOTFOUND);
  assert_int_equal(as_checkpoint_put(st, "t", "hello", 5), AS_OK);
  assert_int_equal(as_checkpoint_get(st, "t", buf, sizeof buf, &len), AS_OK);
  assert_int_equal(len, 5);
  assert_memory_equal(buf, "hello", 5);
  /* Replaced, binary-safe. */
  assert_int_equal(as_checkpoint_put(st, "t", "a\0b", 3), AS_OK);
  assert_int_equal(as_checkpoint_get(st, "t", buf, sizeof buf, &len), AS_OK);
  assert_int_equal(len, 3);
  assert_memory_equal(buf, "a\0b", 3);
  /* Too small a buffer: the size, and the buffer untouched. */
  memset(buf, '#', sizeof buf);
  assert_int_equal(as_checkpoint_get(st, "t", buf, 2, &len), AS_TOOBIG);
  assert_int_equal(len, 3);
  assert_int_equal(buf[0], '#');
  assert_int_equal(as_checkpoint_get(st, "t", NULL, 0, &len), AS_TOOBIG);
  /* Empty. */
  assert_int_equal(as_checkpoint_put(st, "s:retry-1", NULL, 0), AS_OK);
  assert_int_equal(as_checkpoint_get(st, "s:retry-1", NULL, 0, &len), AS_OK);
  assert_int_equal(len, 0);
  assert_int_equal(as_checkpoint_get(st, "s:retry-1", buf, sizeof buf, &len), AS_OK);
  assert_int_equal(len, 0);
  /* The largest there may be. */
  static char big[AS_CHECKPOINT_MAX + 1];
  memset(big, 0x5a, sizeof big);
  assert_int_equal(as_checkpoint_put(st, "big", big, AS_CHECKPOINT_MAX + 1), AS_TOOBIG);
  assert_int_equal(as_checkpoint_put(st, "big", big, AS_CHECKPOINT_MAX), AS_OK);
  static char back[AS_CHECKPOINT_MAX];
  assert_int_equal(as_checkpoint_get(st, "big", back, sizeof back, &len), AS_OK);
  assert_int_equal(len, AS_CHECKPOINT_MAX);
  assert_memory_equal(back, big, AS_CHECKPOINT_MAX);
  as_store_close(st);
}

static void test_refusals(void **state) {
  (void)state;
  as_store *st = ct_open(&D, "cp.db", "delete", 0);
  char buf[4];
  size_t len;
  char longid[AS_THREAD_ID_MAX + 1];
  memset(longid, 'x', sizeof longid - 1);
  longid[sizeof longid - 1] = '\0';
  assert_int_equal(as_checkpoint_put(NULL, "t", "x", 1), AS_INVAL);
  assert_int_equal(as_checkpoint_put(st, "t", NULL, 1), AS_INVAL);
  assert_int_equal(as_checkpoint_put(st, NULL, "x", 1), AS_INVAL);
  assert_int_equal(as_checkpoint_put(st, "", "x", 1), AS_INVAL);
  assert_int_equal(as_checkpoint_put(st, "a b", "x", 1), AS_INVAL);
  assert_int_equal(as_checkpoint_put(st, "a\x80", "x", 1), AS_INVAL);
  assert_int_equal(as_checkpoint_put(st, longid, "x", 1), AS_TOOBIG);
  longid[AS_THREAD_ID_MAX - 1] = '\0';
  assert_int_equal(as_checkpoint_put(st, longid, "x", 1), AS_OK);
  assert_int_equal(as_checkpoint_get(NULL, "t", buf, 4, &len), AS_INVAL);
  assert_int_equal(as_checkpoint_get(st, "t", buf, 4, NULL), AS_INVAL);
  assert_int_equal(as_checkpoint_get(st, "t", NULL, 4, &len), AS_INVAL);
  assert_int_equal(as_checkpoint_get(st, "", buf, 4, &len), AS_INVAL);
  assert_int_equal(as_checkpoint_gc(NULL, NULL), AS_INVAL);
  as_store_close(st);
}

static void create(as_store *st, const char *id, as_session_status status) {
  as_session s;
  assert_int_equal(as_session_init(&s, id), AS_OK);
  s.status = status;
  assert_int_equal(as_session_create(st, &s), AS_OK);
  as_session_clear(&s);
}

static bool present(as_store *st, const char *tid) {
  size_t len;
  int rc = as_checkpoint_get(st, tid, NULL, 0, &len);
  assert_true(rc == AS_OK || rc == AS_TOOBIG || rc == AS_NOTFOUND);
  return rc != AS_NOTFOUND;
}

static void test_gc(void **state) {
  (void)state;
  as_store *st = ct_open(&D, "gc.db", "wal", 0);
  create(st, "A", AS_SESS_IN_PROGRESS);
  create(st, "B", AS_SESS_RESOLVED);
  create(st, "C", AS_SESS_ERROR); /* may be retried: active */
  create(st, "D", AS_SESS_NEEDS_REVIEW);
  create(st, "E", AS_SESS_ESCALATED);
  create(st, "F", AS_SESS_AWAITING_INPUT);
  create(st, "N", AS_SESS_NEW);
  static const struct {
    const char *tid;
    bool keep;
  } cps[] = {
      {"A", true},           {"A:retry-1", true},  {"A:retry-22", true}, {"B", false},
      {"B:retry-1", false},  {"C:retry-3", true},  {"D", false},         {"E:retry-1", false},
      {"F", true},           {"N:retry-9", true},  {"G", false},         {"G:retry-1", false},
      {"A:retry-x", false},  {"A:retry-", false},  {"A:retry-1:retry-2", false},
      {"a", false}, /* ids are case-sensitive */
  };
  const size_t n = sizeof cps / sizeof cps[0];
  size_t want_removed = 0;
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(as_checkpoint_put(st, cps[i].tid, "cp", 2), AS_OK);
    want_removed += !cps[i].keep;
  }
  size_t removed = 99;
  assert_int_equal(as_checkpoint_gc(st, &removed), AS_OK);
  assert_int_equal(removed, want_removed);
  for (size_t i = 0; i < n; i++)
    if (present(st, cps[i].tid) != cps[i].keep) fail_msg("%s", cps[i].tid);
  assert_int_equal(as_checkpoint_gc(st, &removed), AS_OK);
  assert_int_equal(removed, 0);

  /* A settles: its checkpoints, retries included, go at the next GC. */
  as_session a = {0};
  assert_int_equal(as_session_load(st, "A", &a), AS_OK);
  a.status = AS_SESS_RESOLVED;
  assert_int_equal(as_session_save(st, &a), AS_OK);
  as_session_clear(&a);
  assert_int_equal(as_checkpoint_gc(st, NULL), AS_OK);
  assert_false(present(st, "A"));
  assert_false(present(st, "A:retry-1"));
  assert_false(present(st, "A:retry-22"));
  assert_true(present(st, "C:retry-3"));
  as_store_close(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_put_get, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

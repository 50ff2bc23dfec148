/*
** test_schedule.c -- the schedule string codec: round trips, compactness,
** the wakeup and fault lists of version 3, and errors that name the
** position and what was expected.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "schedule.h"

static void roundtrip(const uint32_t *dec, size_t n) {
  sim_schedule in = {.seed_faults = 0x0123456789abcdefull,
                     .seed_workload = 1,
                     .seed_llm = UINT64_MAX,
                     .seed_runtime = 7,
                     .dec = (uint32_t *)dec,
                     .ndec = n};
  char *s = NULL;
  assert_int_equal(sim_schedule_encode(&in, &s), AS_OK);
  sim_schedule out;
  char err[128];
  int rc = sim_schedule_decode(s, &out, err, sizeof err);
  if (rc != AS_OK) fail_msg("decode(%s): %s", s, err);
  assert_int_equal(out.ndec, n);
  assert_true(out.seed_faults == in.seed_faults);
  assert_true(out.seed_workload == 1);
  assert_true(out.seed_llm == UINT64_MAX);
  assert_true(out.seed_runtime == 7);
  if (n) assert_memory_equal(out.dec, dec, n * sizeof *dec);
  /* Every character is shell-safe. */
  for (const char *p = s; *p; p++)
    assert_non_null(strchr("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:._-v", *p));
  sim_schedule_clear(&out);
  free(s);
}

static void test_roundtrip_fixed(void **state) {
  (void)state;
  roundtrip(NULL, 0);
  uint32_t a[] = {0, 1, 2, 61, 62, 63, 1000, 4294967295u};
  roundtrip(a, sizeof a / sizeof a[0]);
  uint32_t b[] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 3, 3, 100, 100, 100, 5, 5};
  roundtrip(b, sizeof b / sizeof b[0]);
}

static void test_roundtrip_random(void **state) {
  (void)state;
  sim_rng r;
  sim_rng_seed(&r, 42);
  uint32_t dec[2000];
  for (int iter = 0; iter < 300; iter++) {
    size_t n = sim_rng_below(&r, 2000);
    unsigned tasks = (unsigned)sim_rng_range(&r, 1, iter % 3 == 0 ? 200 : 8);
    for (size_t i = 0; i < n; i++) {
      /* Runs of repeats, as PCT makes them. */
      if (i > 0 && sim_rng_below(&r, 3) == 0)
        dec[i] = dec[i - 1];
      else
        dec[i] = (uint32_t)sim_rng_below(&r, tasks);
    }
    roundtrip(dec, n);
  }
}

static void test_runs_are_compact(void **state) {
  (void)state;
  uint32_t dec[1000];
  for (int i = 0; i < 1000; i++) dec[i] = 3;
  sim_schedule in = {.dec = dec, .ndec = 1000};
  char *s = NULL;
  assert_int_equal(sim_schedule_encode(&in, &s), AS_OK);
  assert_string_equal(strchr(s + 3 + 17 * 5, '3'), "3-1000.::");
  free(s);
}

static void expect_error(const char *str, const char *needle) {
  sim_schedule sc;
  char err[200];
  int rc = sim_schedule_decode(str, &sc, err, sizeof err);
  assert_int_equal(rc, AS_PARSE);
  if (!strstr(err, needle)) fail_msg("decode(%s): message '%s' lacks '%s'", str, err, needle);
  assert_null(sc.dec);
}

#define Z16 "0000000000000000"
#define HEAD "v3:" Z16 ":" Z16 ":" Z16 ":" Z16 ":" Z16 ":"
static void test_errors(void **state) {
  (void)state;
  expect_error("", "character 1: expected the version prefix");
  expect_error("x2:", "version prefix \"v3:\"");
  /* Another version says which this build reads. */
  expect_error("v1:" Z16 ":" Z16 ":" Z16 ":" Z16 ":01", "version 1 is not this build's: it reads version 3");
  expect_error("v2:" Z16 ":" Z16 ":" Z16 ":" Z16 ":" Z16 ":01", "version 2 is not this build's: it reads version 3");
  expect_error("v17:", "version 17 is not this build's");
  expect_error("v3:00", "character 6: expected a lowercase hex digit of the 16-digit program fingerprint");
  expect_error("v3:" Z16 "x", "character 20: expected ':' after the fingerprint");
  expect_error("v3:" Z16 ":" Z16 "x", "character 37: expected ':' after a stream seed");
  expect_error("v3:" Z16 ":00", "character 23: expected a lowercase hex digit of a 16-digit stream seed");
  expect_error(HEAD "01*::", "character 91: expected a task id");
  expect_error(HEAD "1-::", "repeat count");
  expect_error(HEAD "1-1.::", "repeat count of at least 2");
  expect_error(HEAD "1-5::", "'.' ending a repeat count");
  expect_error(HEAD "_12::", "'_' closing");
  expect_error(HEAD "_99999999999_::", "task id");
  expect_error(HEAD "1-99999999999.::", "repeat count");
  /* Version 3's sections: the wakeups and the faults, both required. */
  expect_error(HEAD "01", "character 91: expected ':' after the decisions");
  expect_error(HEAD "01:", "character 92: expected ':' after the wakeups");
  expect_error(HEAD "01:5", "character 93: expected '.' between a wakeup's step and task");
  expect_error(HEAD "01:5.", "character 94: expected a task id (decimal");
  expect_error(HEAD "01:5.4294967296:", "task id (decimal, at most 4294967295)");
  expect_error(HEAD "01:5.1.", "'-' between wakeups");
  expect_error(HEAD "01:x", "a wakeup's step");
  expect_error(HEAD "01:5.1-:", "a wakeup's step");
  expect_error(HEAD "01:99999999999999999999.1:", "a wakeup's step"); /* past 64 bits */
  expect_error(HEAD "01::2", "'.' between a fault's point and draw");
  expect_error(HEAD "01::2.", "a draw number");
  expect_error(HEAD "01::4294967296.1", "a fault point (decimal, at most 4294967295)");
  expect_error(HEAD "01::2.1.3", "'-' between faults");
  expect_error(HEAD "01::2.1:", "the end of the schedule after the faults");
}

/* The wakeups and faults go through encode and decode unchanged, in the
** order given, and read as the grammar says. */
static void test_wakeups_and_faults(void **state) {
  (void)state;
  uint32_t dec[] = {1, 2, 2, 2};
  sim_wakeup wk[] = {{.step = 7, .task = 3}, {.step = 18446744073709551615ull, .task = 4294967295u}};
  sim_fault_draw fl[] = {{.point = 2, .draw = 17}, {.point = 0, .draw = 0}, {.point = 4, .draw = 18446744073709551615ull}};
  sim_schedule in = {.dec = dec, .ndec = 4, .wakeups = wk, .nwakeups = 2, .faults = fl, .nfaults = 3};
  char *s = NULL;
  assert_int_equal(sim_schedule_encode(&in, &s), AS_OK);
  assert_string_equal(s + 3 + 5 * 17,
                      "12-3.:7.3-18446744073709551615.4294967295:2.17-0.0-4.18446744073709551615");
  sim_schedule out;
  char err[200];
  int rc = sim_schedule_decode(s, &out, err, sizeof err);
  if (rc != AS_OK) fail_msg("decode(%s): %s", s, err);
  assert_int_equal(out.ndec, 4);
  assert_int_equal(out.nwakeups, 2);
  assert_int_equal(out.nfaults, 3);
  for (size_t i = 0; i < 2; i++) {
    assert_true(out.wakeups[i].step == wk[i].step);
    assert_int_equal(out.wakeups[i].task, wk[i].task);
  }
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(out.faults[i].point, fl[i].point);
    assert_true(out.faults[i].draw == fl[i].draw);
  }
  for (const char *p = s; *p; p++)
    assert_non_null(strchr("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:._-", *p));
  sim_schedule_clear(&out);
  free(s);
  /* Empty sections decode to nothing. */
  assert_int_equal(sim_schedule_decode(HEAD "::", &out, err, sizeof err), AS_OK);
  assert_int_equal(out.ndec + out.nwakeups + out.nfaults, 0);
  sim_schedule_clear(&out);
}

/* The fingerprint goes through encode and decode unchanged. */
static void test_fingerprint(void **state) {
  (void)state;
  uint32_t dec[] = {1, 2};
  sim_schedule in = {.fingerprint = 0xfeedfacecafebeefull, .seed_faults = 1, .dec = dec, .ndec = 2};
  char *s = NULL;
  assert_int_equal(sim_schedule_encode(&in, &s), AS_OK);
  assert_int_equal(strncmp(s, "v3:feedfacecafebeef:0000000000000001:", 37), 0);
  sim_schedule out;
  char err[200];
  assert_int_equal(sim_schedule_decode(s, &out, err, sizeof err), AS_OK);
  assert_true(out.fingerprint == in.fingerprint);
  assert_true(out.seed_faults == 1);
  sim_schedule_clear(&out);
  free(s);
}

static void test_too_many(void **state) {
  (void)state;
  sim_schedule sc;
  char err[200];
  /* Two runs that together pass the decision cap: refused before the
  ** second is allocated. */
  const char *buf = HEAD "1-10000000.2-10000000.::";
  int rc = sim_schedule_decode(buf, &sc, err, sizeof err);
  assert_int_equal(rc, AS_TOOBIG);
  assert_non_null(strstr(err, "more than"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip_fixed), cmocka_unit_test(test_roundtrip_random),
      cmocka_unit_test(test_runs_are_compact), cmocka_unit_test(test_errors),
      cmocka_unit_test(test_too_many), cmocka_unit_test(test_fingerprint),
      cmocka_unit_test(test_wakeups_and_faults),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

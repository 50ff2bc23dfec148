/*
** test_schedule.c -- the schedule string codec: round trips, compactness,
** and errors that name the position and what was expected.
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
  assert_string_equal(strchr(s + 3 + 17 * 5, '3'), "3-1000.");
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
#define HEAD "v2:" Z16 ":" Z16 ":" Z16 ":" Z16 ":" Z16 ":"
static void test_errors(void **state) {
  (void)state;
  expect_error("", "character 1: expected the version prefix");
  expect_error("x2:", "version prefix \"v2:\"");
  /* Another version says which this build reads. */
  expect_error("v1:" Z16 ":" Z16 ":" Z16 ":" Z16 ":01", "version 1 is not this build's: it reads version 2");
  expect_error("v17:", "version 17 is not this build's");
  expect_error("v2:00", "character 6: expected a lowercase hex digit of the 16-digit program fingerprint");
  expect_error("v2:" Z16 "x", "character 20: expected ':' after the fingerprint");
  expect_error("v2:" Z16 ":" Z16 "x", "character 37: expected ':' after a stream seed");
  expect_error("v2:" Z16 ":00", "character 23: expected a lowercase hex digit of a 16-digit stream seed");
  expect_error(HEAD "01*", "character 91: expected a task id");
  expect_error(HEAD "1-", "repeat count");
  expect_error(HEAD "1-1.", "repeat count of at least 2");
  expect_error(HEAD "1-5", "'.' ending a repeat count");
  expect_error(HEAD "_12", "'_' closing");
  expect_error(HEAD "_99999999999_", "task id");
  expect_error(HEAD "1-99999999999.", "repeat count");
}

/* The fingerprint goes through encode and decode unchanged. */
static void test_fingerprint(void **state) {
  (void)state;
  uint32_t dec[] = {1, 2};
  sim_schedule in = {.fingerprint = 0xfeedfacecafebeefull, .seed_faults = 1, .dec = dec, .ndec = 2};
  char *s = NULL;
  assert_int_equal(sim_schedule_encode(&in, &s), AS_OK);
  assert_int_equal(strncmp(s, "v2:feedfacecafebeef:0000000000000001:", 37), 0);
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
  const char *buf = HEAD "1-10000000.2-10000000.";
  int rc = sim_schedule_decode(buf, &sc, err, sizeof err);
  assert_int_equal(rc, AS_TOOBIG);
  assert_non_null(strstr(err, "more than"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip_fixed), cmocka_unit_test(test_roundtrip_random),
      cmocka_unit_test(test_runs_are_compact), cmocka_unit_test(test_errors),
      cmocka_unit_test(test_too_many), cmocka_unit_test(test_fingerprint),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

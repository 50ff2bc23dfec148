/*
** test_stream.c -- the event stream (sim/stream.h): XXH64's published test
** vectors; the trace hash recomputed from its specification over the events
** a sink saw, independently of the streaming code; a pinned vector for the
** record layout; the hash log locating the first event where two runs part;
** the sink API's limits; the growable array and the number parser.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "grow.h"
#include "num.h"
#include "sim.h"
#include "simfix.h"
#include "text.h"


/* --- XXH64 ---------------------------------------------------------------------- */

static void test_xxh64_vectors(void **state) {
  (void)state;
  /* xxHash's own test vectors, seed 0. */
  assert_true(XXH64("", 0, 0) == 0xEF46DB3751D8E999ull);
  assert_true(XXH64("a", 1, 0) == 0xD24EC4F1A98C6E5Bull);
  assert_true(XXH64("abc", 3, 0) == 0x44BC2CF5AD770999ull);
}

/* --- the trace hash, recomputed from its specification ---------------------------- */

#define MAXEV 4096
static struct {
  sim_ev ev[MAXEV];
  char labels[MAXEV][64];
  uint64_t data_digest[MAXEV];
  size_t n;
  int variant; /* the program publishes something else at one point */
  int nsinks_extra;
} seen;

static void collect(void *ctx, const sim_ev *ev) {
  (void)ctx;
  if (seen.n == MAXEV) return;
  size_t i = seen.n++;
  seen.ev[i] = *ev;
  if (ev->label) {
    snprintf(seen.labels[i], sizeof seen.labels[i], "%s", ev->label);
    seen.ev[i].label = seen.labels[i];
  }
  seen.data_digest[i] = ev->data ? XXH64(ev->data, ev->len, 0) : 0;
  seen.ev[i].data = NULL;
}

static void worker(void *arg) {
  (void)arg;
  sim_step();
  sim_note("worked", 7);
  static const char bytes[] = "some bytes a disk write carries";
  sim_publish(&(sim_ev){.kind = SIM_EV_PROGRAM + 3, .object = 1, .extra = 2, .label = "data",
                        .data = bytes, .len = sizeof bytes});
  sim_emit(SIM_EV_PROGRAM + 4, seen.variant ? 99 : 5, 6, NULL);
  as_log(AS_LOG_INFO, "a log line, never hashed");
}

static void prog_main(void *state) {
  (void)state;
  as_task *t;
  if (as_task_spawn(&t, "w", worker, NULL) != AS_OK) return;
  sim_advance(1000);
  if (as_task_join(t) != AS_OK) sim_fail(SIM_ASSERT, "join");
}

static int prog_setup(void *state, sim_rng *w) {
  (void)state;
  (void)w;
  seen.n = 0;
  int rc = sim_sink_add(collect, NULL);
  for (int i = 0; rc == AS_OK && i < seen.nsinks_extra; i++) rc = sim_sink_add(collect, NULL);
  return rc;
}

static void prog_describe(const sim_ev *ev, char *buf, size_t cap) {
  snprintf(buf, cap, "mine %u", (unsigned)(ev->kind - SIM_EV_PROGRAM));
}

static const sim_program prog = {.name = "stream", .setup = prog_setup, .main = prog_main,
                                  .describe = prog_describe};

static void put64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* stream.h's byte string, built from what the sink saw. */
static uint64_t spec_hash(uint64_t outcome) {
  size_t cap = seen.n * 48 + 8, len = 0;
  unsigned char *buf = malloc(cap);
  assert_non_null(buf);
  for (size_t i = 0; i < seen.n; i++) {
    const sim_ev *e = &seen.ev[i];
    if (e->kind == SIM_EV_LOG) continue;
    unsigned char *p = buf + len;
    for (int k = 0; k < 4; k++) p[k] = (unsigned char)(e->kind >> (8 * k));
    for (int k = 0; k < 4; k++) p[4 + k] = (unsigned char)(e->task >> (8 * k));
    put64(p + 8, e->now_ns);
    put64(p + 16, e->object);
    put64(p + 24, e->extra);
    put64(p + 32, e->label ? XXH64(e->label, strlen(e->label), 0) : 0);
    put64(p + 40, seen.data_digest[i]);
    len += 48;
  }
  put64(buf + len, outcome);
  len += 8;
  uint64_t h = XXH64(buf, len, 0);
  free(buf);
  return h;
}

static void test_trace_hash_spec(void **state) {
  (void)state;
  sim_config cfg = {.seed = 5};
  sim_result res;
  seen.variant = 0;
  assert_int_equal(sim_run(S, &prog, &cfg, &res), AS_OK);
  assert_int_equal(res.outcome, SIM_PASS);
  assert_true(seen.n > 10);
  int logs = 0, data = 0;
  for (size_t i = 0; i < seen.n; i++) {
    logs += seen.ev[i].kind == SIM_EV_LOG;
    data += seen.data_digest[i] != 0;
  }
  assert_int_equal(logs, 1);
  assert_int_equal(data, 1);
  assert_true(res.trace_hash == spec_hash(SIM_PASS));
  sim_result_clear(&res);
}

/* A pinned vector: one record, hashed as stream.h says. If this changes, so
** does every trace hash: change it only with the format, on purpose. */
static void test_record_vector(void **state) {
  (void)state;
  unsigned char rec[48] = {0};
  rec[0] = 0x00;
  rec[1] = 0x04; /* kind 1024 */
  put64(rec + 8, 5);
  put64(rec + 16, 7);
  put64(rec + 24, 9);
  put64(rec + 32, XXH64("x", 1, 0));
  unsigned char all[56];
  memcpy(all, rec, 48);
  put64(all + 48, SIM_PASS);
  assert_true(XXH64("x", 1, 0) == 0x5c80c09683041123ull);
  assert_true(XXH64(all, sizeof all, 0) == 0xc76fb5b7c7d91a74ull);
}

/* --- the hash log --------------------------------------------------------------------- */

static void test_hashlog(void **state) {
  (void)state;
  sim_hashlog *a, *b;
  assert_int_equal(sim_hashlog_new(&a), AS_OK);
  assert_int_equal(sim_hashlog_new(&b), AS_OK);
  sim_config ca = {.seed = 5, .hashlog = a}, cb = {.seed = 5, .hashlog = b};
  sim_result r1, r2;
  seen.variant = 0;
  assert_int_equal(sim_run(S, &prog, &ca, &r1), AS_OK);
  assert_int_equal(sim_run(S, &prog, &cb, &r2), AS_OK);
  char why[512];
  assert_int_equal(sim_hashlog_diff(a, b, "one", "two", why, sizeof why), 0);
  assert_true(sim_hashlog_count(a) > 5);
  assert_true(r1.trace_hash == r2.trace_hash);
  sim_result_clear(&r2);
  /* One event differs: the log says which, and what each run did there. */
  seen.variant = 1;
  assert_int_equal(sim_run(S, &prog, &cb, &r2), AS_OK);
  assert_true(r1.trace_hash != r2.trace_hash);
  assert_int_equal(sim_hashlog_diff(a, b, "one", "two", why, sizeof why), 1);
  if (!strstr(why, "first difference at event") || !strstr(why, "one at step") ||
      !strstr(why, "two at step") || !strstr(why, "[w] mine 4"))
    fail_msg("%s", why);
  sim_result_clear(&r1);
  sim_result_clear(&r2);
  seen.variant = 0;
  /* A log of a run that went on longer. */
  sim_config cs = {.seed = 5, .hashlog = b, .max_steps = 3};
  assert_int_equal(sim_run(S, &prog, &cs, &r2), AS_OK);
  assert_int_equal(sim_hashlog_diff(a, b, "one", "short", why, sizeof why), 1);
  assert_non_null(strstr(why, "then one goes on"));
  sim_result_clear(&r2);
  sim_hashlog_free(a);
  sim_hashlog_free(b);
  sim_hashlog_free(NULL);
  assert_int_equal(sim_hashlog_count(NULL), 0);
}

/* --- sinks ----------------------------------------------------------------------------- */

static void test_sink_limits(void **state) {
  (void)state;
  assert_int_equal(sim_sink_add(collect, NULL), AS_INVAL); /* outside a run */
  sim_publish(&(sim_ev){.kind = SIM_EV_NOTE}); /* a no-op outside a run */
  sim_emit(SIM_EV_NOTE, 0, 0, NULL);
  sim_config cfg = {.seed = 1};
  sim_result res;
  seen.nsinks_extra = SIM_MAX_SINKS; /* one past what is left */
  int rc = sim_run(S, &prog, &cfg, &res);
  assert_int_equal(rc, AS_TOOBIG);
  sim_result_clear(&res);
  seen.nsinks_extra = 0;
}

static void test_describe(void **state) {
  (void)state;
  char buf[256];
  static const char bytes[] = "abc";
  sim_ev w = {.kind = SIM_EV_DISK_WRITE, .object = 2, .extra = 4096, .data = bytes, .len = 3};
  sim_ev_describe(&w, buf, sizeof buf);
  assert_string_equal(buf, "disk-write f2 3 bytes at 4096 (xxh64 44bc2cf5ad770999)");
  sim_ev l = {.kind = SIM_EV_LOCK_WAIT, .object = 3, .extra = 1};
  sim_ev_describe(&l, buf, sizeof buf);
  assert_string_equal(buf, "lock-wait m3, held by task 1");
  sim_ev p = {.kind = SIM_EV_PROGRAM + 9, .object = 1, .extra = 2, .label = "z"};
  sim_ev_describe(&p, buf, sizeof buf); /* no program running: generic */
  assert_string_equal(buf, "event 1033 1 2 z");
  assert_string_equal(sim_ev_kind_name(SIM_EV_DISK_CRASH), "power-loss");
  assert_null(sim_ev_kind_name(SIM_EV_PROGRAM));
  /* Every sim kind has a name and a description that starts with it. */
  for (uint32_t k = 0; k < SIM__EV_COUNT; k++) {
    sim_ev e = {.kind = k};
    sim_ev_describe(&e, buf, sizeof buf);
    assert_int_equal(strncmp(buf, sim_ev_kind_name(k), strlen(sim_ev_kind_name(k))), 0);
  }
}

/* --- the growable array and the number parser --------------------------------------------- */

static void test_grow(void **state) {
  (void)state;
  int *v = NULL;
  size_t cap = 0;
  assert_int_equal(sim_grow(&v, &cap, 0, sizeof *v, 10), AS_OK);
  assert_null(v);
  assert_int_equal(sim_grow(&v, &cap, 3, sizeof *v, 100), AS_OK);
  assert_int_equal(cap, 16);
  assert_int_equal(sim_grow(&v, &cap, 17, sizeof *v, 100), AS_OK);
  assert_int_equal(cap, 32);
  assert_int_equal(sim_grow(&v, &cap, 90, sizeof *v, 100), AS_OK);
  assert_int_equal(cap, 100); /* never past the cap */
  assert_int_equal(sim_grow(&v, &cap, 101, sizeof *v, 100), AS_TOOBIG);
  assert_int_equal(sim_grow(&v, &cap, 200, 0, 1000), AS_TOOBIG);
  assert_int_equal(sim_grow(&v, &cap, (SIZE_MAX / 4) + 1, 8, SIZE_MAX), AS_TOOBIG);
  free(v);
}

static void test_numbers(void **state) {
  (void)state;
  uint64_t v, ns;
  assert_int_equal(sim_parse_u64("18446744073709551615", 20, &v), AS_OK);
  assert_true(v == UINT64_MAX);
  assert_int_equal(sim_parse_u64("18446744073709551616", 20, &v), AS_TOOBIG);
  assert_int_equal(sim_parse_u64("12x", 3, &v), AS_PARSE);
  assert_int_equal(sim_parse_u64("12x", 2, &v), AS_OK); /* need not be NUL-terminated */
  assert_true(v == 12);
  assert_int_equal(sim_parse_u64("000000000000000000001", 21, &v), AS_TOOBIG); /* 21 digits */
  assert_int_equal(sim_parse_u64("00000000000000000001", 20, &v), AS_OK);
  assert_true(v == 1);
  assert_int_equal(sim_parse_duration("0000000000000000000001s", 23, 0, &ns), AS_TOOBIG);
  assert_int_equal(sim_parse_u64("", 0, &v), AS_PARSE);
  assert_int_equal(sim_parse_u64(NULL, 0, &v), AS_PARSE);
  assert_int_equal(sim_parse_duration("250ms", 5, 0, &ns), AS_OK);
  assert_true(ns == 250000000ull);
  assert_int_equal(sim_parse_duration("3", 1, 0, &ns), AS_PARSE); /* a unit is needed */
  assert_int_equal(sim_parse_duration("3", 1, 1, &ns), AS_OK);     /* unless bare ns allowed */
  assert_int_equal(sim_parse_duration("999999999999d", 13, 0, &ns), AS_TOOBIG);
  assert_int_equal(sim_parse_duration("5parsecs", 8, 0, &ns), AS_PARSE);
  assert_int_equal(sim_parse_duration("ms", 2, 0, &ns), AS_PARSE);
  assert_int_equal(sim_parse_duration(NULL, 0, 0, &ns), AS_PARSE);
  assert_int_equal(sim_parse_duration("99999999999999999999999s", 24, 0, &ns), AS_TOOBIG);
  assert_string_equal(sim_duration_units, "ns, us, ms, s, m, h, d");
}

/* sim_wrap: words fill to 80 columns under the head's column; a head that
** reaches the column puts the text on the next line; newlines are kept. */
static void wrapped(const char *head, int col, const char *text, const char *want) {
  char *got = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&got, &len);
  assert_non_null(f);
  sim_wrap(f, head, col, text);
  assert_int_equal(fclose(f), 0);
  assert_string_equal(got, want);
  free(got);
}

static void test_wrap(void **state) {
  (void)state;
  wrapped("  a", 6, "one two", "  a   one two\n");
  wrapped("  --long-option", 6, "text", "  --long-option\n      text\n");
  wrapped("x", 2, "first\nsecond", "x first\n  second\n");
  wrapped("h", 0, "", "h\n");
  char text[200], want[240];
  for (int i = 0; i < 30; i++) memcpy(text + 5 * i, "word ", 5);
  text[150] = '\0';
  /* 4 + 15 words of 5 = 79 columns, then the rest under column 4. */
  snprintf(want, sizeof want, "%-4s%s\n    %s\n", "",
           "word word word word word word word word word word word word word word word",
           "word word word word word word word word word word word word word word word");
  wrapped("", 4, text, want);
  char longw[120];
  memset(longw, 'w', 100);
  longw[100] = 0;
  char lw[140];
  snprintf(lw, sizeof lw, "a %s\n", longw);
  wrapped("a", 2, longw, lw); /* a word past the room is printed whole */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_xxh64_vectors), cmocka_unit_test(test_trace_hash_spec),
      cmocka_unit_test(test_record_vector), cmocka_unit_test(test_hashlog),
      cmocka_unit_test(test_sink_limits),   cmocka_unit_test(test_describe),
      cmocka_unit_test(test_grow),          cmocka_unit_test(test_numbers),
      cmocka_unit_test(test_wrap),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

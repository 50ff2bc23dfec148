/*
** test_trace.c -- spans (trace.h): attribute lookups, deep-copied records
** (caps, UTF-8 repair), the bounded queue (bound, drop counts, FIFO, close,
** many real threads pushing while one pops), the sim's sink, and the OTLP
** JSON encoding byte for byte (hex ids, decimal-string times and ints,
** kinds, status), its refusals and its size cap. Every test counts the
** runtime heap's blocks and ends with none outstanding.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/seam.h"
#include "agentsim/trace.h"
#include "trace_internal.h"

/* --- a posix platform whose heap counts its blocks ------------------------ */

/* It also fails on demand (STYLE.md rule 7): armed with fail_arm(n), the
** n-th fallible call -- a runtime allocation, a mutex or condition
** variable's creation, or one of jansson's allocations (main installs
** j_malloc) -- fails, and fail_disarm() says whether one did. Counted with
** atomics: the real-thread tests go through it too. */
static atomic_long live_blocks, jansson_blocks;
static atomic_long fail_at, fail_calls; /* fail_at 0: off */
static atomic_int fail_fired;
static atomic_int timedwaits; /* cond_timedwait calls (a waiter parked) */
static as_platform counted;

static bool should_fail(void) {
  long at = atomic_load(&fail_at);
  if (at == 0 || atomic_fetch_add(&fail_calls, 1) + 1 != at) return false;
  atomic_store(&fail_fired, 1);
  return true;
}
static void fail_arm(long n) {
  atomic_store(&fail_calls, 0);
  atomic_store(&fail_fired, 0);
  atomic_store(&fail_at, n);
}
static bool fail_disarm(void) {
  atomic_store(&fail_at, 0);
  return atomic_load(&fail_fired) != 0;
}

static void *c_alloc(size_t n) {
  if (should_fail()) return NULL;
  void *p = as_platform_posix.mem_alloc(n);
  if (p) atomic_fetch_add(&live_blocks, 1);
  return p;
}
static void *c_realloc(void *p, size_t n) {
  if (should_fail()) return NULL;
  void *q = as_platform_posix.mem_realloc(p, n);
  if (q && !p) atomic_fetch_add(&live_blocks, 1);
  return q;
}
static void c_free(void *p) {
  if (p) atomic_fetch_sub(&live_blocks, 1);
  as_platform_posix.mem_free(p);
}
/* A failed creation answers AS_SYS, so a test can tell it from AS_NOMEM. */
static int c_mutex_new(as_mutex **out) {
  if (should_fail()) {
    *out = NULL;
    return AS_SYS;
  }
  return as_platform_posix.mutex_new(out);
}
static int c_cond_new(as_cond **out) {
  if (should_fail()) {
    *out = NULL;
    return AS_SYS;
  }
  return as_platform_posix.cond_new(out);
}
static int c_cond_timedwait(as_cond *c, as_mutex *m, uint64_t deadline_ns) {
  atomic_fetch_add(&timedwaits, 1); /* m is held: the waiter counts already */
  return as_platform_posix.cond_timedwait(c, m, deadline_ns);
}

static void *j_malloc(size_t n) {
  if (should_fail()) return NULL;
  void *p = malloc(n);
  if (p) atomic_fetch_add(&jansson_blocks, 1);
  return p;
}
static void j_free(void *p) {
  if (p) atomic_fetch_sub(&jansson_blocks, 1);
  free(p);
}

static int setup(void **state) {
  (void)state;
  counted = as_platform_posix;
  counted.name = "posix-counted";
  counted.mem_alloc = c_alloc;
  counted.mem_realloc = c_realloc;
  counted.mem_free = c_free;
  counted.mutex_new = c_mutex_new;
  counted.cond_new = c_cond_new;
  counted.cond_timedwait = c_cond_timedwait;
  atomic_store(&live_blocks, 0);
  atomic_store(&jansson_blocks, 0);
  (void)fail_disarm(); /* ignore: nothing was armed */
  as_platform_set(&counted);
  return 0;
}
static int teardown(void **state) {
  (void)state;
  as_platform_set(NULL);
  assert_int_equal(atomic_load(&fail_at), 0);        /* no countdown left armed */
  assert_int_equal(atomic_load(&live_blocks), 0);    /* nothing leaked */
  assert_int_equal(atomic_load(&jansson_blocks), 0); /* nor by jansson */
  return 0;
}

/* --- helpers ------------------------------------------------------------- */

static void fill_ids(as_span *sp, uint8_t t, uint8_t s, uint8_t p) {
  for (size_t i = 0; i < 16; i++) sp->trace_id[i] = (uint8_t)(t + i);
  for (size_t i = 0; i < 8; i++) sp->span_id[i] = (uint8_t)(s + 0x11 * i);
  if (p)
    for (size_t i = 0; i < 8; i++) sp->parent_id[i] = (uint8_t)(p + i);
}

static as_span make_span(const char *name, int64_t seq) {
  as_span sp = {0};
  snprintf(sp.name, sizeof sp.name, "%s", name);
  fill_ids(&sp, 1, (uint8_t)seq, 0);
  sp.start_ns = seq;
  sp.end_ns = seq + 1;
  sp.attrs[0] = (as_span_attr){.key = "seq", .i = seq};
  sp.nattrs = 1;
  return sp;
}

/* --- attributes and records --------------------------------------------- */

static void test_attr_lookup(void **state) {
  (void)state;
  as_span sp = {0};
  sp.attrs[0] = (as_span_attr){.key = "gen_ai.usage.input_tokens", .i = 1200};
  sp.attrs[1] = (as_span_attr){.key = "gen_ai.request.model", .s = "m"};
  sp.attrs[2] = (as_span_attr){.key = "gen_ai.usage.input_tokens", .i = 7}; /* not the first */
  sp.nattrs = 3;
  int64_t v = 0;
  assert_true(as_span_int(&sp, "gen_ai.usage.input_tokens", &v));
  assert_int_equal(v, 1200);
  assert_false(as_span_int(&sp, "gen_ai.request.model", &v)); /* a string */
  assert_false(as_span_int(&sp, "absent", &v));
  assert_false(as_span_int(NULL, "x", &v));
  assert_string_equal(as_span_str(&sp, "gen_ai.request.model"), "m");
  assert_null(as_span_str(&sp, "gen_ai.usage.input_tokens"));
  assert_null(as_span_str(&sp, "absent"));
  sp.nattrs = 1;
  assert_null(as_span_str(&sp, "gen_ai.request.model")); /* past nattrs */
  assert_true(as_span_int(&sp, "gen_ai.usage.input_tokens", NULL)); /* out may be NULL */
  assert_null(as_span_str(&sp, NULL));
  assert_false(as_span_int(&sp, NULL, &v));
  /* An attribute without a key is passed over, not matched. */
  sp.attrs[0].key = NULL;
  sp.nattrs = 3;
  assert_true(as_span_int(&sp, "gen_ai.usage.input_tokens", &v));
  assert_int_equal(v, 7);
}

/* Every form the validator tells apart: each lead byte's range of second
** bytes (overlongs, surrogates, past U+10FFFF), continuation bytes, bytes
** that start nothing, a sequence the end cuts, a NUL. */
static void test_utf8_forms(void **state) {
  (void)state;
  static const struct {
    const char *s;
    size_t n;
    bool ok;
  } cases[] = {
      {"", 0, true},
      {"\xc2\x80", 2, true},
      {"\xdf\xbf", 2, true},
      {"\xc1\xbf", 2, false}, /* overlong two-byte */
      {"\xc3\x41", 2, false}, /* second byte below the range */
      {"\xc3\xc0", 2, false}, /* and above it */
      {"\xe0\xa0\x80", 3, true},
      {"\xe0\x9f\xbf", 3, false}, /* overlong */
      {"\xed\x9f\xbf", 3, true},
      {"\xed\xa0\x80", 3, false}, /* a surrogate */
      {"\xee\x80\x80", 3, true},
      {"\xe2\x82\x41", 3, false}, /* third byte no continuation */
      {"\xe2\x82", 2, false},      /* cut by the end */
      {"\xf0\x90\x80\x80", 4, true},
      {"\xf0\x8f\xbf\xbf", 4, false}, /* overlong */
      {"\xf1\x80\x80\x80", 4, true},
      {"\xf1\x80\x80\x41", 4, false}, /* fourth byte no continuation */
      {"\xf4\x8f\xbf\xbf", 4, true},   /* U+10FFFF */
      {"\xf4\x90\x80\x80", 4, false}, /* past it */
      {"\xf5\x80\x80\x80", 4, false},
      {"\x80", 1, false},
      {"\xff", 1, false},
      {"a\0b", 3, false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    if (as__utf8_valid(cases[i].s, cases[i].n) != cases[i].ok)
      fail_msg("case %zu: expected %s", i, cases[i].ok ? "valid" : "invalid");
}

static void test_rec_deep_copy(void **state) {
  (void)state;
  char key[16] = "tool", val[16] = "search", msg[16] = "boom";
  as_span sp = make_span("execute_tool search", 3);
  sp.attrs[1] = (as_span_attr){.key = key, .s = val};
  sp.nattrs = 2;
  sp.error = true;
  sp.message = msg;
  as_span_rec r;
  assert_int_equal(as_span_rec_copy(&r, &sp), AS_OK);
  /* The caller's buffers change or go: the record keeps its own. */
  memset(key, 'x', sizeof key - 1);
  memset(val, 'y', sizeof val - 1);
  memset(msg, 'z', sizeof msg - 1);
  assert_string_equal(as_span_str(&r.span, "tool"), "search");
  assert_string_equal(r.span.message, "boom");
  assert_string_equal(r.span.name, "execute_tool search");
  int64_t v;
  assert_true(as_span_int(&r.span, "seq", &v));
  assert_int_equal(v, 3);
  assert_true(r.span.error);
  assert_memory_equal(r.span.span_id, sp.span_id, 8);
  as_span_rec_free(&r);
  assert_null(r.text);
  as_span_rec_free(&r); /* twice is fine */
  as_span_rec_free(NULL);
  /* A span with no texts but its name needs no block. */
  as_span bare = {0};
  snprintf(bare.name, sizeof bare.name, "bare");
  assert_int_equal(as_span_rec_copy(&r, &bare), AS_OK);
  assert_null(r.text);
  assert_string_equal(r.span.name, "bare");
  assert_int_equal(atomic_load(&live_blocks), 0);
  as_span_rec_free(&r);
}

static void test_rec_caps_and_utf8(void **state) {
  (void)state;
  static char long_val[AS_SPAN_VALUE_MAX + 100];
  memset(long_val, 'a', sizeof long_val - 1);
  /* A two-byte character straddling the cap: cut before it, not split. */
  long_val[AS_SPAN_VALUE_MAX - 1] = (char)0xC3;
  long_val[AS_SPAN_VALUE_MAX] = (char)0xA9;
  as_span sp = {0};
  memset(sp.name, 'n', sizeof sp.name); /* no NUL at all */
  sp.attrs[0] = (as_span_attr){.key = "long", .s = long_val};
  sp.attrs[1] = (as_span_attr){.key = "bad\xff", .s = "caf\xc3\xa9 \xc0\xaf \xed\xa0\x80 ok"};
  sp.nattrs = 2;
  sp.message = "\xe2\x82"; /* a truncated sequence, at the real end */
  as_span_rec r;
  assert_int_equal(as_span_rec_copy(&r, &sp), AS_OK);
  assert_int_equal(strlen(r.span.name), AS_SPAN_NAME_MAX - 1);
  const char *lv = as_span_str(&r.span, "long");
  assert_non_null(lv);
  assert_int_equal(strlen(lv), AS_SPAN_VALUE_MAX - 1);
  assert_string_equal(as_span_str(&r.span, "bad?"), "caf\xc3\xa9 ?? ??? ok");
  assert_string_equal(r.span.message, "??");
  /* Every text it keeps encodes. */
  char *json = NULL;
  assert_int_equal(as_otlp_encode(&r, 1, "svc", &json), AS_OK);
  as_free(json);
  as_span_rec_free(&r);
  /* Refusals leave a zeroed record. */
  sp.nattrs = AS_SPAN_ATTRS_MAX + 1;
  assert_int_equal(as_span_rec_copy(&r, &sp), AS_INVAL);
  assert_null(r.text);
  sp.nattrs = 1;
  sp.attrs[0].key = NULL;
  assert_int_equal(as_span_rec_copy(&r, &sp), AS_INVAL);
  sp.attrs[0].key = "";
  assert_int_equal(as_span_rec_copy(&r, &sp), AS_INVAL);
  assert_int_equal(as_span_rec_copy(&r, NULL), AS_INVAL);
  assert_int_equal(as_span_rec_copy(NULL, &sp), AS_INVAL);
  assert_true(as__utf8_valid("caf\xc3\xa9", 5));
  assert_false(as__utf8_valid("a\0b", 3));
  assert_false(as__utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
}

/* A value of AS_SPAN_VALUE_MAX bytes ending in end, then past (beyond the
** cap): the record keeps the a's and then exactly kept. */
static void expect_cut(const char *end, const char *past, const char *kept) {
  static char v[AS_SPAN_VALUE_MAX + 8];
  size_t e = strlen(end), a = AS_SPAN_VALUE_MAX - e;
  assert_true(strlen(past) > 0 && strlen(past) < 8);
  memset(v, 'a', a);
  memcpy(v + a, end, e);
  memcpy(v + AS_SPAN_VALUE_MAX, past, strlen(past) + 1);
  as_span sp = {0};
  sp.attrs[0] = (as_span_attr){.key = "v", .s = v};
  sp.nattrs = 1;
  as_span_rec r;
  assert_int_equal(as_span_rec_copy(&r, &sp), AS_OK);
  const char *got = as_span_str(&r.span, "v");
  assert_non_null(got);
  assert_int_equal(strlen(got), a + strlen(kept));
  assert_memory_equal(got, v, a);
  assert_string_equal(got + a, kept);
  as_span_rec_free(&r);
}

/* At the cap: a character the cap splits is left out whole, whatever its
** length and wherever the split; bytes that could never start one become
** '?' as anywhere else; a whole character just before the cap stays. The
** name (cut at AS_SPAN_NAME_MAX - 1), keys and the message have their own
** caps. */
static void test_rec_cut_at_caps(void **state) {
  (void)state;
  expect_cut("\xf0\x9f\x98", "\x80", "");   /* 4 bytes, 3 before the cap */
  expect_cut("\xf0\x9f", "\x98\x80", "");   /* 2 before it */
  expect_cut("\xe2\x82", "\xac", "");       /* 3 bytes, 2 before */
  expect_cut("\xe2", "\x82\xac", "");       /* 1 before */
  expect_cut("\xc3\xa9", "b", "\xc3\xa9");  /* whole: kept */
  expect_cut("\xe2" "A", "b", "?A");        /* a lead whose next byte is none */
  expect_cut("\x80", "b", "?");             /* a lone continuation */
  expect_cut("\xff", "b", "?");             /* never UTF-8 */
  expect_cut("\xc3" "abc", "d", "?abc");    /* a bad lead well before the cap */

  as_span sp = {0};
  char key[AS_SPAN_KEY_MAX + 3], msg[AS_SPAN_MESSAGE_MAX + 3];
  memset(key, 'k', sizeof key - 1);
  key[sizeof key - 1] = '\0';
  memset(msg, 'm', sizeof msg - 1);
  msg[sizeof msg - 1] = '\0';
  sp.attrs[0] = (as_span_attr){.key = key, .i = 5};
  sp.nattrs = 1;
  sp.message = msg;
  /* A name of AS_SPAN_NAME_MAX - 1 bytes and its NUL is whole: not cut. */
  memset(sp.name, 'n', AS_SPAN_NAME_MAX - 1);
  sp.name[AS_SPAN_NAME_MAX - 2] = (char)0xC3; /* ends in a lone lead: '?' */
  as_span_rec r;
  assert_int_equal(as_span_rec_copy(&r, &sp), AS_OK);
  assert_int_equal(strlen(r.span.name), AS_SPAN_NAME_MAX - 1);
  assert_int_equal(r.span.name[AS_SPAN_NAME_MAX - 2], '?');
  assert_int_equal(strlen(r.span.attrs[0].key), AS_SPAN_KEY_MAX);
  assert_int_equal(strspn(r.span.attrs[0].key, "k"), AS_SPAN_KEY_MAX);
  assert_int_equal(r.span.attrs[0].i, 5);
  assert_int_equal(strlen(r.span.message), AS_SPAN_MESSAGE_MAX);
  as_span_rec_free(&r);
  /* The same lead with its continuation where the NUL was: the name goes on
  ** past its cap, so the split character is left out. */
  sp.name[AS_SPAN_NAME_MAX - 1] = (char)0xA9;
  assert_int_equal(as_span_rec_copy(&r, &sp), AS_OK);
  assert_int_equal(strlen(r.span.name), AS_SPAN_NAME_MAX - 2);
  assert_int_equal(strspn(r.span.name, "n"), AS_SPAN_NAME_MAX - 2);
  as_span_rec_free(&r);
}

/* The record's one allocation failing: AS_NOMEM, a zeroed record. */
static void test_rec_alloc_failure(void **state) {
  (void)state;
  as_span sp = make_span("s", 4);
  sp.message = "m";
  as_span_rec r;
  long n;
  for (n = 1;; n++) {
    fail_arm(n);
    int rc = as_span_rec_copy(&r, &sp);
    if (!fail_disarm()) {
      assert_int_equal(rc, AS_OK);
      assert_string_equal(r.span.message, "m");
      as_span_rec_free(&r);
      break;
    }
    assert_int_equal(rc, AS_NOMEM);
    assert_null(r.text);
    assert_int_equal(r.span.nattrs, 0);
    assert_int_equal(atomic_load(&live_blocks), 0);
  }
  assert_int_equal(n, 2);
}

/* --- the queue ------------------------------------------------------------ */

static void test_queue_bound_and_drops(void **state) {
  (void)state;
  as_span_queue *q = (as_span_queue *)&q;
  assert_int_equal(as_span_queue_new(&q, 0), AS_INVAL);
  assert_null(q);
  assert_int_equal(as_span_queue_new(&q, AS_SPAN_QUEUE_MAX + 1), AS_INVAL);
  assert_int_equal(as_span_queue_new(&q, 4), AS_OK);
  as_tracer t = as_span_queue_tracer(q);
  for (int i = 0; i < 10; i++) {
    as_span sp = make_span("s", i);
    t.emit(t.self, &sp);
  }
  as_span bad = make_span("bad", 99);
  bad.nattrs = AS_SPAN_ATTRS_MAX + 1;
  as_span_queue_push(q, &bad);
  as_span_queue_stats st;
  as_span_queue_stats_get(q, &st);
  assert_int_equal(st.capacity, 4);
  assert_int_equal(st.len, 4);
  assert_int_equal(st.accepted, 4);
  assert_int_equal(st.dropped_full, 6);
  assert_int_equal(st.dropped_copy, 1);
  /* FIFO: the first four were kept, in order. */
  as_span_rec out[3];
  size_t n;
  as_span_queue_pop(q, out, 3, &n);
  assert_int_equal(n, 3);
  for (size_t i = 0; i < n; i++) {
    int64_t v;
    assert_true(as_span_int(&out[i].span, "seq", &v));
    assert_int_equal(v, (int64_t)i);
    as_span_rec_free(&out[i]);
  }
  /* Room again: the ring wraps. */
  for (int i = 10; i < 13; i++) {
    as_span sp = make_span("s", i);
    as_span_queue_push(q, &sp);
  }
  assert_true(as_span_queue_wait(q, 4, 0)); /* already there: no wait */
  assert_true(as_span_queue_wait(q, 1000, as_now_mono_ns() + 1000000)); /* min capped at 4, */
  as_span_queue_pop(q, out, 1, &n);                                       /* but 4 are there */
  assert_int_equal(n, 1);
  int64_t v;
  assert_true(as_span_int(&out[0].span, "seq", &v));
  assert_int_equal(v, 3);
  as_span_rec_free(&out[0]);
  assert_false(as_span_queue_wait(q, 4, as_now_mono_ns() + 1000000)); /* 3 < 4: times out */
  /* Closed: pops still drain, pushes drop, waits return at once. */
  as_span_queue_close(q);
  assert_true(as_span_queue_wait(q, 4, AS_DEADLINE_NEVER));
  as_span sp = make_span("late", 50);
  as_span_queue_push(q, &sp);
  as_span_queue_stats_get(q, &st);
  assert_int_equal(st.dropped_full, 7);
  size_t gone;
  as_span_queue_discard(q, &gone);
  assert_int_equal(gone, 3);
  as_span_queue_pop(q, out, 3, &n);
  assert_int_equal(n, 0);
  /* Free with records still queued frees them too. */
  as_span_queue_free(q);
  assert_int_equal(as_span_queue_new(&q, 2), AS_OK);
  as_span_queue_push(q, &sp);
  as_span_queue_free(q);
  as_span_queue_free(NULL);
}

/* Creation failing at each step (the queue, its ring, its mutex, its
** condition variable): that step's status, nothing left behind. */
static void test_queue_new_failures(void **state) {
  (void)state;
  assert_int_equal(as_span_queue_new(NULL, 4), AS_INVAL);
  static const int want[] = {AS_NOMEM, AS_NOMEM, AS_SYS, AS_SYS};
  as_span_queue *q;
  long n;
  for (n = 1;; n++) {
    q = (as_span_queue *)&q;
    fail_arm(n);
    int rc = as_span_queue_new(&q, 4);
    if (!fail_disarm()) {
      assert_int_equal(rc, AS_OK);
      break;
    }
    assert_true(n <= 4);
    assert_int_equal(rc, want[n - 1]);
    assert_null(q);
    assert_int_equal(atomic_load(&live_blocks), 0);
  }
  assert_int_equal(n, 5);
  /* A push whose copy runs out of memory is dropped and counted as such. */
  as_span sp = make_span("s", 1);
  fail_arm(1);
  as_span_queue_push(q, &sp);
  assert_true(fail_disarm());
  as_span_queue_stats st;
  as_span_queue_stats_get(q, &st);
  assert_int_equal(st.len, 0);
  assert_int_equal(st.accepted, 0);
  assert_int_equal(st.dropped_copy, 1);
  assert_int_equal(st.dropped_full, 0);
  as_span_queue_free(q);
}

/* NULL queues, outputs and counts: no-ops that report nothing. */
static void test_queue_null_args(void **state) {
  (void)state;
  as_span_queue *q;
  assert_int_equal(as_span_queue_new(&q, 4), AS_OK);
  as_span sp = make_span("s", 1);
  as_span_queue_push(NULL, &sp);
  as_span_rec out[4];
  size_t k = 99;
  as_span_queue_pop(NULL, out, 4, &k);
  assert_int_equal(k, 0);
  as_span_queue_push(q, &sp);
  sp = make_span("s", 2);
  as_span_queue_push(q, &sp);
  k = 99;
  as_span_queue_pop(q, NULL, 4, &k); /* nowhere to put them: none moved */
  assert_int_equal(k, 0);
  as_span_queue_stats st;
  as_span_queue_stats_get(q, &st);
  assert_int_equal(st.len, 2);
  as_span_queue_pop(q, out, 1, NULL); /* moved, just not counted for us */
  int64_t v;
  assert_true(as_span_int(&out[0].span, "seq", &v));
  assert_int_equal(v, 1);
  as_span_rec_free(&out[0]);
  assert_false(as_span_queue_wait(NULL, 1, AS_DEADLINE_NEVER));
  as_span_queue_close(NULL);
  as_span_queue_stats_get(q, NULL);
  memset(&st, 0xff, sizeof st);
  as_span_queue_stats_get(NULL, &st);
  assert_int_equal(st.capacity, 0);
  assert_int_equal(st.len, 0);
  assert_int_equal(st.accepted, 0);
  assert_int_equal(st.dropped_full + st.dropped_copy, 0);
  k = 99;
  as_span_queue_discard(NULL, &k);
  assert_int_equal(k, 0);
  as_span_queue_discard(q, NULL); /* the last one goes, uncounted */
  as_span_queue_stats_get(q, &st);
  assert_int_equal(st.len, 0);
  assert_int_equal(st.accepted, 2);
  as_span_queue_free(q);
}

typedef struct waiter_arg {
  as_span_queue *q;
  size_t min;
  bool ready;
} waiter_arg;

#define WAITER_DEADLINE_NS 20000000000ull /* a waiter gives up after 20 s */
#define WAKE_WITHIN_NS 10000000000ull     /* one not woken takes that long */

static void *waiter(void *arg) {
  waiter_arg *a = arg;
  a->ready = as_span_queue_wait(a->q, a->min, as_now_mono_ns() + WAITER_DEADLINE_NS);
  return NULL;
}

/* Start a thread waiting for min records; back once it has parked (it
** counts itself a waiter before its cond_timedwait, under the queue's lock,
** so whoever takes the lock next sees it). */
static void start_waiter(pthread_t *th, waiter_arg *a, int parked_before) {
  assert_int_equal(pthread_create(th, NULL, waiter, a), 0);
  while (atomic_load(&timedwaits) <= parked_before) sched_yield();
}

static void push_seq(as_span_queue *q, int from, int to) {
  for (int i = from; i < to; i++) {
    as_span sp = make_span("w", i);
    as_span_queue_push(q, &sp);
  }
}

/* Join th, which must come back ready well before its deadline: it was
** woken, not timed out. */
static void join_woken(pthread_t th, const waiter_arg *a, uint64_t since) {
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_true(a->ready);
  assert_true(as_now_mono_ns() - since < WAKE_WITHIN_NS);
}

/* Waiters with different minimums share one wake-up threshold, the
** smallest any of them wants: a later waiter wanting more must not raise
** it (the eager one would sleep through the push it waits for), one
** wanting fewer must lower it (or it would). */
static void test_queue_two_waiters(void **state) {
  (void)state;
  as_span_queue *q;
  assert_int_equal(as_span_queue_new(&q, 8), AS_OK);
  pthread_t ta, tb;
  /* One waits for 1; another wanting 3 comes and goes; one push wakes the
  ** first. */
  atomic_store(&timedwaits, 0);
  waiter_arg a = {q, 1, false};
  start_waiter(&ta, &a, 0);
  assert_false(as_span_queue_wait(q, 3, as_now_mono_ns() + 2000000)); /* times out */
  uint64_t t0 = as_now_mono_ns();
  push_seq(q, 0, 1);
  join_woken(ta, &a, t0);
  size_t gone;
  as_span_queue_discard(q, &gone);
  assert_int_equal(gone, 1);
  /* One waits for 3, then another for 1: one push wakes the second, the
  ** first waits on through it until three are there. */
  atomic_store(&timedwaits, 0);
  a = (waiter_arg){q, 3, false};
  waiter_arg b = {q, 1, false};
  start_waiter(&ta, &a, 0);
  start_waiter(&tb, &b, 1);
  t0 = as_now_mono_ns();
  push_seq(q, 0, 1);
  join_woken(tb, &b, t0);
  push_seq(q, 1, 3);
  join_woken(ta, &a, t0);
  as_span_queue_discard(q, &gone);
  assert_int_equal(gone, 3);
  as_span_queue_free(q);
}

#define PRODUCERS 4
#define PER_PRODUCER 20000

typedef struct prod_arg {
  as_span_queue *q;
  int id;
} prod_arg;

static void *producer(void *arg) {
  prod_arg *a = arg;
  as_tracer t = as_span_queue_tracer(a->q);
  for (int i = 0; i < PER_PRODUCER; i++) {
    as_span sp = make_span("p", i);
    sp.attrs[1] = (as_span_attr){.key = "producer", .i = a->id};
    sp.attrs[2] = (as_span_attr){.key = "note", .s = "a string the copy owns"};
    sp.nattrs = 3;
    t.emit(t.self, &sp);
  }
  return NULL;
}

/* Real threads push while one pops: nothing is lost or counted twice, and
** each producer's spans come out in its order. Run under TSan (label
** threads). */
static void test_queue_threads(void **state) {
  (void)state;
  as_span_queue *q;
  assert_int_equal(as_span_queue_new(&q, 256), AS_OK);
  pthread_t th[PRODUCERS];
  prod_arg args[PRODUCERS];
  for (int i = 0; i < PRODUCERS; i++) {
    args[i] = (prod_arg){q, i};
    assert_int_equal(pthread_create(&th[i], NULL, producer, &args[i]), 0);
  }
  int64_t last[PRODUCERS];
  for (int i = 0; i < PRODUCERS; i++) last[i] = -1;
  uint64_t popped = 0;
  as_span_rec batch[64];
  for (int rounds = 0;; rounds++) {
    (void)as_span_queue_wait(q, 32, as_now_mono_ns() + 1000000); /* ignore: pop whatever is there */
    size_t n;
    as_span_queue_pop(q, batch, 64, &n);
    for (size_t i = 0; i < n; i++) {
      int64_t p, s;
      assert_true(as_span_int(&batch[i].span, "producer", &p));
      assert_true(as_span_int(&batch[i].span, "seq", &s));
      assert_true(s > last[p]);
      last[p] = s;
      assert_string_equal(as_span_str(&batch[i].span, "note"), "a string the copy owns");
      as_span_rec_free(&batch[i]);
    }
    popped += n;
    as_span_queue_stats st;
    as_span_queue_stats_get(q, &st);
    if (st.accepted + st.dropped_full == (uint64_t)PRODUCERS * PER_PRODUCER && st.len == 0) break;
  }
  for (int i = 0; i < PRODUCERS; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
  as_span_queue_stats st;
  as_span_queue_stats_get(q, &st);
  assert_int_equal(st.accepted, popped);
  assert_int_equal(st.accepted + st.dropped_full, (uint64_t)PRODUCERS * PER_PRODUCER);
  assert_int_equal(st.dropped_copy, 0);
  print_message("queue threads: %llu popped, %llu dropped\n", (unsigned long long)popped,
                (unsigned long long)st.dropped_full);
  as_span_queue_free(q);
}

/* --- the sink ----------------------------------------------------------- */

static void test_sink(void **state) {
  (void)state;
  as_span_sink *s = (as_span_sink *)&s;
  assert_int_equal(as_span_sink_new(&s, 0, false), AS_INVAL);
  assert_null(s);
  assert_int_equal(as_span_sink_new(&s, AS_SPAN_SINK_MAX + 1, false), AS_INVAL);
  for (int locked = 0; locked < 2; locked++) {
    assert_int_equal(as_span_sink_new(&s, 40, locked), AS_OK);
    as_tracer t = as_span_sink_tracer(s);
    for (int i = 0; i < 50; i++) {
      as_span sp = make_span("k", i);
      t.emit(t.self, &sp);
    }
    assert_int_equal(as_span_sink_count(s), 40);
    assert_int_equal(as_span_sink_dropped(s), 10);
    for (size_t i = 0; i < 40; i++) {
      int64_t v;
      assert_true(as_span_int(&as_span_sink_get(s, i)->span, "seq", &v));
      assert_int_equal(v, (int64_t)i); /* in emission order */
    }
    assert_null(as_span_sink_get(s, 40));
    as_span_sink_clear(s);
    assert_int_equal(as_span_sink_count(s), 0);
    assert_int_equal(as_span_sink_dropped(s), 0);
    as_span sp = make_span("again", 7);
    as_span_sink_record(s, &sp);
    assert_int_equal(as_span_sink_count(s), 1);
    as_span_sink_free(s);
  }
  as_span_sink_free(NULL);
}

/* Creation failing (the sink, its mutex), records refused (none, malformed,
** the copy or the growth out of memory): each drop counted, nothing
** leaked; and the NULL sink answers nothing. */
static void test_sink_failures(void **state) {
  (void)state;
  assert_int_equal(as_span_sink_new(NULL, 4, false), AS_INVAL);
  static const int want[] = {AS_NOMEM, AS_SYS};
  as_span_sink *s;
  long n;
  for (n = 1;; n++) {
    s = (as_span_sink *)&s;
    fail_arm(n);
    int rc = as_span_sink_new(&s, 4, true);
    if (!fail_disarm()) {
      assert_int_equal(rc, AS_OK);
      break;
    }
    assert_true(n <= 2);
    assert_int_equal(rc, want[n - 1]);
    assert_null(s);
    assert_int_equal(atomic_load(&live_blocks), 0);
  }
  assert_int_equal(n, 3);
  as_span_sink_record(NULL, NULL);
  as_span bad = make_span("bad", 1);
  bad.nattrs = AS_SPAN_ATTRS_MAX + 1;
  as_span_sink_record(s, &bad);
  assert_int_equal(as_span_sink_dropped(s), 1);
  as_span sp = make_span("s", 2);
  fail_arm(1); /* the record's copy */
  as_span_sink_record(s, &sp);
  assert_true(fail_disarm());
  assert_int_equal(as_span_sink_dropped(s), 2);
  fail_arm(2); /* the sink's first growth, after the copy */
  as_span_sink_record(s, &sp);
  assert_true(fail_disarm());
  assert_int_equal(as_span_sink_dropped(s), 3);
  assert_int_equal(as_span_sink_count(s), 0);
  assert_int_equal(atomic_load(&live_blocks), 1); /* the sink alone */
  as_span_sink_record(s, &sp);
  assert_int_equal(as_span_sink_count(s), 1);
  int64_t v;
  assert_true(as_span_int(&as_span_sink_get(s, 0)->span, "seq", &v));
  assert_int_equal(v, 2);
  as_span_sink_clear(NULL);
  assert_int_equal(as_span_sink_count(NULL), 0);
  assert_null(as_span_sink_get(NULL, 0));
  assert_int_equal(as_span_sink_dropped(NULL), 0);
  as_span_sink_free(s);
}

/* --- OTLP JSON ------------------------------------------------------------ */

static void test_encode_exact(void **state) {
  (void)state;
  as_span_rec recs[2];
  as_span root = {0}, chat = {0};
  snprintf(root.name, sizeof root.name, "invoke_agent");
  for (int i = 0; i < 16; i++) root.trace_id[i] = (uint8_t)(i + 1);
  const uint8_t rid[8] = {0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5, 0x06, 0x17};
  const uint8_t cid[8] = {0xff, 0, 0, 0, 0, 0, 0, 0x01};
  memcpy(root.span_id, rid, 8);
  root.start_ns = 1700000000123456789;
  root.end_ns = 1700000000223456789;
  root.attrs[0] = (as_span_attr){.key = "operation.id", .s = "op-\"1\""};
  root.nattrs = 1;
  memcpy(chat.trace_id, root.trace_id, 16);
  memcpy(chat.span_id, cid, 8);
  memcpy(chat.parent_id, rid, 8);
  snprintf(chat.name, sizeof chat.name, "chat m\xc3\xa9");
  chat.kind = AS_SPAN_CLIENT;
  chat.start_ns = -5; /* before the epoch: 0 */
  chat.end_ns = INT64_MAX;
  chat.attrs[0] = (as_span_attr){.key = "gen_ai.usage.input_tokens", .i = 1200};
  chat.attrs[1] = (as_span_attr){.key = "neg", .i = INT64_MIN};
  chat.nattrs = 2;
  chat.error = true;
  chat.message = "rate limited";
  assert_int_equal(as_span_rec_copy(&recs[0], &root), AS_OK);
  assert_int_equal(as_span_rec_copy(&recs[1], &chat), AS_OK);
  char *json = NULL;
  assert_int_equal(as_otlp_encode(recs, 2, "agentsim-test", &json), AS_OK);
  const char *want =
      "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
      "\"value\":{\"stringValue\":\"agentsim-test\"}}]},\"scopeSpans\":[{\"scope\":"
      "{\"name\":\"agentsim\"},\"spans\":["
      "{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"a0b1c2d3e4f50617\","
      "\"name\":\"invoke_agent\",\"kind\":1,\"startTimeUnixNano\":\"1700000000123456789\","
      "\"endTimeUnixNano\":\"1700000000223456789\",\"attributes\":[{\"key\":\"operation.id\","
      "\"value\":{\"stringValue\":\"op-\\\"1\\\"\"}}],\"status\":{\"code\":0}},"
      "{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"ff00000000000001\","
      "\"parentSpanId\":\"a0b1c2d3e4f50617\",\"name\":\"chat m\xc3\xa9\",\"kind\":3,"
      "\"startTimeUnixNano\":\"0\",\"endTimeUnixNano\":\"9223372036854775807\","
      "\"attributes\":[{\"key\":\"gen_ai.usage.input_tokens\",\"value\":{\"intValue\":\"1200\"}},"
      "{\"key\":\"neg\",\"value\":{\"intValue\":\"-9223372036854775808\"}}],"
      "\"status\":{\"code\":2,\"message\":\"rate limited\"}}]}]}]}";
  assert_string_equal(json, want);
  /* The same spans, the same bytes. */
  char *again = NULL;
  assert_int_equal(as_otlp_encode(recs, 2, "agentsim-test", &again), AS_OK);
  assert_string_equal(json, again);
  as_free(again);
  /* And jansson reads it back as one object. */
  json_error_t je;
  json_t *v = json_loads(json, JSON_REJECT_DUPLICATES, &je);
  assert_non_null(v);
  json_decref(v);
  as_free(json);
  for (int i = 0; i < 2; i++) as_span_rec_free(&recs[i]);
}

static void test_encode_refusals(void **state) {
  (void)state;
  as_span_rec r;
  as_span sp = make_span("s", 1);
  assert_int_equal(as_span_rec_copy(&r, &sp), AS_OK);
  char *json = (char *)&json;
  assert_int_equal(as_otlp_encode(&r, 0, "svc", &json), AS_INVAL);
  assert_null(json);
  assert_int_equal(as_otlp_encode(NULL, 1, "svc", &json), AS_INVAL);
  assert_int_equal(as_otlp_encode(&r, 1, "", &json), AS_INVAL);
  assert_int_equal(as_otlp_encode(&r, 1, NULL, &json), AS_INVAL);
  assert_int_equal(as_otlp_encode(&r, 1, "bad\xff", &json), AS_INVAL);
  char longname[AS_OTLP_SERVICE_MAX + 2];
  memset(longname, 's', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  assert_int_equal(as_otlp_encode(&r, 1, longname, &json), AS_INVAL);
  assert_int_equal(as_otlp_encode(&r, AS_OTLP_SPANS_MAX + 1, "svc", &json), AS_TOOBIG);
  assert_int_equal(as_otlp_encode(&r, 1, "svc", NULL), AS_INVAL);
  /* A hand-made record whose text is not UTF-8 is refused, not mangled. */
  as_span_rec hand = {.span = make_span("x", 2)};
  hand.span.attrs[0] = (as_span_attr){.key = "k", .s = "\xff"};
  assert_int_equal(as_otlp_encode(&hand, 1, "svc", &json), AS_INVAL);
  hand.span.attrs[0] = (as_span_attr){.key = "k", .s = "ok"};
  hand.span.kind = (as_span_kind)7;
  assert_int_equal(as_otlp_encode(&hand, 1, "svc", &json), AS_INVAL);
  hand.span.kind = AS_SPAN_INTERNAL;
  /* Each of the other malformations alone, after a record that is fine. */
  as_span_rec two[2] = {r, hand};
  assert_int_equal(as_otlp_encode(two, 2, "svc", &json), AS_OK); /* the control */
  as_free(json);
  two[1].span.attrs[0].key = NULL;
  assert_int_equal(as_otlp_encode(two, 2, "svc", &json), AS_INVAL);
  two[1].span.attrs[0].key = "";
  assert_int_equal(as_otlp_encode(two, 2, "svc", &json), AS_INVAL);
  two[1].span.attrs[0].key = "k\xc3";
  assert_int_equal(as_otlp_encode(two, 2, "svc", &json), AS_INVAL);
  two[1] = hand;
  two[1].span.nattrs = AS_SPAN_ATTRS_MAX + 1;
  assert_int_equal(as_otlp_encode(two, 2, "svc", &json), AS_INVAL);
  two[1] = hand;
  two[1].span.message = "\xed\xa0\x80"; /* a surrogate */
  assert_int_equal(as_otlp_encode(two, 2, "svc", &json), AS_INVAL);
  two[1] = hand;
  memset(two[1].span.name, 'n', sizeof two[1].span.name); /* no NUL */
  assert_int_equal(as_otlp_encode(two, 2, "svc", &json), AS_INVAL);
  snprintf(two[1].span.name, sizeof two[1].span.name, "bad\x80");
  assert_int_equal(as_otlp_encode(two, 2, "svc", &json), AS_INVAL);
  assert_null(json);
  as_span_rec_free(&r);
}

/* An error without a message is code 2 alone; zero ids and times. */
static void test_encode_error_without_message(void **state) {
  (void)state;
  as_span_rec r = {0};
  snprintf(r.span.name, sizeof r.span.name, "e");
  r.span.error = true;
  char *json = NULL;
  assert_int_equal(as_otlp_encode(&r, 1, "svc", &json), AS_OK);
  const char *want =
      "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
      "\"value\":{\"stringValue\":\"svc\"}}]},\"scopeSpans\":[{\"scope\":"
      "{\"name\":\"agentsim\"},\"spans\":["
      "{\"traceId\":\"00000000000000000000000000000000\",\"spanId\":\"0000000000000000\","
      "\"name\":\"e\",\"kind\":1,\"startTimeUnixNano\":\"0\",\"endTimeUnixNano\":\"0\","
      "\"attributes\":[],\"status\":{\"code\":2}}]}]}]}";
  assert_string_equal(json, want);
  as_free(json);
}

/* Every allocation of an encoding failing in turn -- jansson's, for each
** object, array, string and integer and inside json_dumpb (the first time,
** sizing, and the second, writing), and the runtime's for the body: always
** AS_NOMEM, *json NULL, nothing left allocated; and once none fails, the
** very bytes of an encoding that never failed. */
static void test_encode_alloc_countdown(void **state) {
  (void)state;
  as_span_rec recs[3];
  as_span root = make_span("invoke_agent", 1);
  root.attrs[1] = (as_span_attr){.key = "operation.id", .s = "op-1"};
  /* More attributes than a jansson array starts with room for (8): its
  ** growth fails too. */
  static const char *const more[] = {"a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "a10"};
  for (size_t i = 0; i < 9; i++)
    root.attrs[2 + i] = (as_span_attr){.key = more[i], .i = (int64_t)i};
  root.nattrs = 11;
  as_span chat = make_span("chat m", 2);
  memcpy(chat.parent_id, root.span_id, 8);
  chat.kind = AS_SPAN_CLIENT;
  chat.attrs[1] = (as_span_attr){.key = "gen_ai.usage.input_tokens", .i = -12};
  chat.nattrs = 2;
  chat.error = true;
  chat.message = "rate limited";
  as_span tool = make_span("execute_tool t", 3);
  tool.error = true;
  assert_int_equal(as_span_rec_copy(&recs[0], &root), AS_OK);
  assert_int_equal(as_span_rec_copy(&recs[1], &chat), AS_OK);
  assert_int_equal(as_span_rec_copy(&recs[2], &tool), AS_OK);
  char *want = NULL;
  assert_int_equal(as_otlp_encode(recs, 3, "svc", &want), AS_OK);
  assert_non_null(strstr(want, "{\"intValue\":\"-12\"}"));
  const long base = atomic_load(&live_blocks); /* the records' and want */
  long n;
  for (n = 1;; n++) {
    char *json = (char *)&json;
    fail_arm(n);
    int rc = as_otlp_encode(recs, 3, "svc", &json);
    if (!fail_disarm()) {
      assert_int_equal(rc, AS_OK);
      assert_string_equal(json, want);
      as_free(json);
      break;
    }
    if (rc != AS_NOMEM) fail_msg("allocation %ld failing gave %s", n, as_status_name(rc));
    assert_null(json);
    assert_int_equal(atomic_load(&live_blocks), base);
    assert_int_equal(atomic_load(&jansson_blocks), 0);
  }
  print_message("encode countdown: %ld allocations\n", n - 1);
  assert_true(n > 60); /* 3 spans' objects, twice dumped: many steps */
  as_free(want);
  for (int i = 0; i < 3; i++) as_span_rec_free(&recs[i]);
}

/* Past AS_OTLP_BODY_MAX the encoder refuses (the exporter then halves). */
static void test_encode_size_cap(void **state) {
  (void)state;
  static char big[AS_SPAN_VALUE_MAX + 1];
  memset(big, 'v', AS_SPAN_VALUE_MAX);
  enum { N = 300 };
  as_span_rec *recs = calloc(N, sizeof *recs);
  assert_non_null(recs);
  for (int i = 0; i < N; i++) {
    as_span sp = make_span("big", i);
    for (size_t k = 0; k < AS_SPAN_ATTRS_MAX; k++)
      sp.attrs[k] = (as_span_attr){.key = "k", .s = big};
    sp.nattrs = AS_SPAN_ATTRS_MAX;
    assert_int_equal(as_span_rec_copy(&recs[i], &sp), AS_OK);
  }
  char *json = NULL;
  assert_int_equal(as_otlp_encode(recs, N, "svc", &json), AS_TOOBIG);
  assert_null(json);
  assert_int_equal(as_otlp_encode(recs, N / 2, "svc", &json), AS_OK);
  assert_true(strlen(json) <= AS_OTLP_BODY_MAX);
  as_free(json);
  for (int i = 0; i < N; i++) as_span_rec_free(&recs[i]);
  free(recs);
}

int main(void) {
  json_set_alloc_funcs(j_malloc, j_free); /* before jansson allocates anything */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_attr_lookup, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rec_deep_copy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_utf8_forms, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rec_caps_and_utf8, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rec_cut_at_caps, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rec_alloc_failure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_queue_bound_and_drops, setup, teardown),
      cmocka_unit_test_setup_teardown(test_queue_new_failures, setup, teardown),
      cmocka_unit_test_setup_teardown(test_queue_null_args, setup, teardown),
      cmocka_unit_test_setup_teardown(test_queue_two_waiters, setup, teardown),
      cmocka_unit_test_setup_teardown(test_queue_threads, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sink, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sink_failures, setup, teardown),
      cmocka_unit_test_setup_teardown(test_encode_exact, setup, teardown),
      cmocka_unit_test_setup_teardown(test_encode_refusals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_encode_error_without_message, setup, teardown),
      cmocka_unit_test_setup_teardown(test_encode_alloc_countdown, setup, teardown),
      cmocka_unit_test_setup_teardown(test_encode_size_cap, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

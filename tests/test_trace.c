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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/seam.h"
#include "agentsim/trace.h"
#include "trace_internal.h"

/* --- a posix platform whose heap counts its blocks ------------------------ */

static atomic_long live_blocks;
static as_platform counted;

static void *c_alloc(size_t n) {
  void *p = as_platform_posix.mem_alloc(n);
  if (p) atomic_fetch_add(&live_blocks, 1);
  return p;
}
static void *c_realloc(void *p, size_t n) {
  void *q = as_platform_posix.mem_realloc(p, n);
  if (q && !p) atomic_fetch_add(&live_blocks, 1);
  return q;
}
static void c_free(void *p) {
  if (p) atomic_fetch_sub(&live_blocks, 1);
  as_platform_posix.mem_free(p);
}

static int setup(void **state) {
  (void)state;
  counted = as_platform_posix;
  counted.name = "posix-counted";
  counted.mem_alloc = c_alloc;
  counted.mem_realloc = c_realloc;
  counted.mem_free = c_free;
  atomic_store(&live_blocks, 0);
  as_platform_set(&counted);
  return 0;
}
static int teardown(void **state) {
  (void)state;
  as_platform_set(NULL);
  assert_int_equal(atomic_load(&live_blocks), 0); /* nothing leaked */
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
  as_span_rec_free(&r);
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
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_attr_lookup, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rec_deep_copy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rec_caps_and_utf8, setup, teardown),
      cmocka_unit_test_setup_teardown(test_queue_bound_and_drops, setup, teardown),
      cmocka_unit_test_setup_teardown(test_queue_threads, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sink, setup, teardown),
      cmocka_unit_test_setup_teardown(test_encode_exact, setup, teardown),
      cmocka_unit_test_setup_teardown(test_encode_refusals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_encode_size_cap, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

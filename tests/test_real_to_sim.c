/*
** test_real_to_sim.c -- issue 12's "a cassette recorded in real mode
** replays bit-for-bit in the sim", for every behaviour of the loopback peer
** (tests/llm_peer.py) in both formats, streaming and not: texts, tool
** calls, structured output, the usage quirks, 429s (Retry-After as seconds,
** as a date, lower case, with the body cut, bare), 4xx/5xx, not JSON, an
** error inside a stream, truncations, silence (the timeout), a head line
** past its cap, bytes that are not HTTP, answers past the caps, delayed
** answers; and the transport endings of its /raw/ modes (a reset, a close
** before anything or inside the head, a cut chunk, a body ended by the
** close, a 1xx first) and a refused port.
**
** Each case is recorded in REAL mode: the spec `record:DIR,KIND:URL,...`
** opened as real mode opens it (as_llm_spec_open: the production provider,
** runtime/posix/llm_http.c over http_client.c and libcurl, with the
** cassette recorder as its tap, on the posix seam and the real clock). The
** cassette is then replayed twice in the sim (as_cassette_llm_new: the same
** provider code over the simulated connection, the recorded latencies as
** virtual time), in two runs of different seeds, and each replay must give
** what the real call gave, field for field: the status, the error's kind,
** HTTP status, Retry-After and message (curl's own wording only up to its
** first ':'), the text, the structured output, the tool calls, the usage
** buckets, the finish reason; and the call must take, in virtual time, the
** recorded time: the last chunk's for an ok ending (the replay sends the
** last HTTP chunk with it), the recorded end for the others (see expected_ns
** for the two endings the client decides itself). The two replays must be
** identical to each other, time included.
**
** Not a case: the peer's `trickle` (a byte every 1.5 s: ~45 s of real time,
** and its low-speed limit is not a spec option). The request carries its
** timeout (as a turn's request always does: llm.h), so the recording and
** the replay have the same deadline; a cassette holds no timeout.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agentsim/http_client.h"
#include "agentsim/llm.h"
#include "agentsim/seam.h"
#include "cassette.h"
#include "cassette_fixed.h"
#include "llm_peer.h"
#include "sim.h"
#include "spec.h"

#if defined(__GNUC__) && !defined(__clang__) /* gcc only: clang has no such warning */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#define MS 1000000ull
#define CASES_MAX 192
#define CALLS_MAX AS_LLM_CALLS_MAX

/* --- the cases ----------------------------------------------------------------------- */

typedef struct behaviour {
  const char *model;
  int stream;          /* 0 no, 1 yes, 2 both */
  unsigned timeout_ms; /* the request's; 0: the default below */
  const char *base;    /* NULL: the peer's API; "/raw/MODE?x=": the peer's transport
                       ** behaviour MODE (the format's path lands in the query);
                       ** "refused": a port nobody listens on */
} behaviour;

#define TIMEOUT_MS 5000u  /* long enough under ASan; never reached but by the silent ones */
#define SILENT_MS 200u    /* the silent behaviours' deadline: real wall time spent */

#define API(m, s) {m, s, 0, NULL}
#define RAW(mode) {"text", 2, 0, "/raw/" mode "?x="}

static const behaviour BEHAVIOURS[] = {
    API("text", 2), API("tools", 2), API("tools-one", 2), API("structured", 2),
    API("usage-null-choices", 2), API("usage-empty-choices", 2),
    API("usage-absent-choices", 2), API("usage-on-last-choice", 2), API("no-usage", 2),
    API("length", 2), API("filter", 2), API("big", 2), API("huge", 2), API("echo", 2),
    API("429", 2), API("429-date", 2), API("429-lower", 2), API("429-cut", 2),
    API("429-bare", 2), API("500", 2), API("500-big", 2), API("502", 2), API("503", 2),
    API("400", 2), API("408", 2), API("redirect", 2), API("notjson", 2),
    API("notjson-stream", 1), API("truncate", 2), API("no-done", 1), API("garbage", 2),
    API("bigheader", 2), API("stream-error", 2), {"slow", 2, SILENT_MS, NULL},
    {"slow-head", 2, SILENT_MS, NULL}, API("text@300", 2), API("tools@150", 1),
    /* transport endings the API paths do not give: a reset (RST) inside a
    ** Content-Length body, a close before anything, a close inside the head,
    ** a chunked body cut inside a chunk, a body ended by the close, a 1xx
    ** before the answer; and no peer at all */
    RAW("reset"), RAW("close"), RAW("cut-head"), RAW("cut-chunked"), RAW("eof"),
    RAW("continue"), {"text", 2, 0, "refused"},
};

typedef struct result {
  int rc;
  as_llm_error_kind kind;
  int http_status;
  uint64_t retry_ns;
  char msg[AS_LLM_ERROR_MAX];
  char *text, *structured; /* libc malloc'd copies, or NULL */
  size_t ncalls;
  char call_id[CALLS_MAX][AS_LLM_CALL_ID_MAX], call_name[CALLS_MAX][AS_LLM_NAME_MAX];
  char *call_args[CALLS_MAX];
  bool usage_known;
  as_llm_usage usage;
  as_llm_finish finish;
  uint64_t took_ns;
} result;

typedef struct tcase {
  as_wire_kind kind;
  bool stream, structured;
  const char *model, *base;
  unsigned timeout_ms;
  char name[96];
  char dir[256];
  as_http_fail fail;   /* the recorded ending */
  uint64_t expect_ns;  /* the time the replay must take */
  uint64_t end_ns;     /* the recorded end */
  result real, sim[2];
} tcase;

static tcase CASES[CASES_MAX];
static size_t NCASES;
static char TMP[256];
static sim *S;

static char *dup_or_null(const char *s) {
  if (!s) return NULL;
  char *d = strdup(s);
  assert_non_null(d);
  return d;
}

static void result_take(result *r, int rc, const as_llm_response *out, const as_llm_error *e,
                        uint64_t took) {
  memset(r, 0, sizeof *r);
  r->rc = rc;
  r->took_ns = took;
  r->kind = e->kind;
  r->http_status = e->http_status;
  r->retry_ns = e->retry_after_ns;
  snprintf(r->msg, sizeof r->msg, "%s", e->message);
  if (rc != AS_OK) return;
  r->text = dup_or_null(out->text);
  r->structured = dup_or_null(out->structured);
  r->ncalls = out->ncalls;
  for (size_t i = 0; i < out->ncalls && i < CALLS_MAX; i++) {
    snprintf(r->call_id[i], sizeof r->call_id[i], "%s", out->calls[i].id);
    snprintf(r->call_name[i], sizeof r->call_name[i], "%s", out->calls[i].name);
    r->call_args[i] = dup_or_null(out->calls[i].args);
  }
  r->usage_known = out->usage_known;
  r->usage = out->usage;
  r->finish = out->finish;
}

static void result_clear(result *r) {
  free(r->text);
  free(r->structured);
  for (size_t i = 0; i < CALLS_MAX; i++) free(r->call_args[i]);
  memset(r, 0, sizeof *r);
}

static bool str_eq(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The message up to its first ':' (all of it when it has none). */
static size_t head_len(const char *m) {
  const char *c = strchr(m, ':');
  return c ? (size_t)(c - m) : strlen(m);
}

/* Whether the message carries curl's own wording (errbuf: the replay's
** framing is chunked where the recording's may not be). */
static bool curl_worded(as_http_fail f) {
  return f == AS_HTTP_FAIL_TRUNCATED || f == AS_HTTP_FAIL_PROTOCOL || f == AS_HTTP_FAIL_CONNECT;
}

static size_t MISMATCHES;

/* A Retry-After that is an HTTP date (the peer's: its clock plus 120 s) is
** measured from the answer's own Date header (llm_wire.h), recorded with it,
** so the sim's wall clock (SIM_WALL_EPOCH_NS plus virtual time) does not
** enter and the replay reads the wait the real call read. */
static bool wall_dated(const tcase *t) { return strcmp(t->model, "429-date") == 0; }

/* a against b (what = "sim 1" etc.); exact says messages must be equal whole.
** Every difference is printed (and counted): the test fails after all cases. */
static void compare(const tcase *t, const result *a, const result *b, const char *what,
                    bool exact) {
#define MISMATCH(fmt, ...)                                                                 \
  do {                                                                                     \
    print_error("%s: %s differs from the real call: " fmt "\n", t->name, what, __VA_ARGS__); \
    MISMATCHES++;                                                                          \
    return;                                                                                \
  } while (0)
  if (a->rc != b->rc || a->kind != b->kind)
    MISMATCH("%s %s (%s), real %s %s (%s)", as_status_name(b->rc), as_llm_error_name(b->kind),
             b->msg, as_status_name(a->rc), as_llm_error_name(a->kind), a->msg);
  if (a->http_status != b->http_status)
    MISMATCH("HTTP status %d, real %d", b->http_status, a->http_status);
  if (a->retry_ns != b->retry_ns)
    MISMATCH("retry-after %llu ns, real %llu ns", (unsigned long long)b->retry_ns,
             (unsigned long long)a->retry_ns);
  bool same_msg = exact || !curl_worded(t->fail)
                      ? strcmp(a->msg, b->msg) == 0
                      : head_len(a->msg) == head_len(b->msg) &&
                            memcmp(a->msg, b->msg, head_len(a->msg)) == 0;
  if (!same_msg) MISMATCH("message '%s', real '%s'", b->msg, a->msg);
  if (!str_eq(a->text, b->text))
    MISMATCH("text '%.60s', real '%.60s'", b->text ? b->text : "(none)",
             a->text ? a->text : "(none)");
  if (!str_eq(a->structured, b->structured))
    MISMATCH("structured '%.60s', real '%.60s'", b->structured ? b->structured : "(none)",
             a->structured ? a->structured : "(none)");
  if (a->ncalls != b->ncalls) MISMATCH("%zu tool calls, real %zu", b->ncalls, a->ncalls);
  for (size_t i = 0; i < a->ncalls && i < CALLS_MAX; i++)
    if (strcmp(a->call_id[i], b->call_id[i]) || strcmp(a->call_name[i], b->call_name[i]) ||
        !str_eq(a->call_args[i], b->call_args[i]))
      MISMATCH("call %zu %s %s %s, real %s %s %s", i, b->call_id[i], b->call_name[i],
               b->call_args[i], a->call_id[i], a->call_name[i], a->call_args[i]);
  if (a->usage_known != b->usage_known || a->usage.input_tokens != b->usage.input_tokens ||
      a->usage.cache_read_tokens != b->usage.cache_read_tokens ||
      a->usage.cache_write_tokens != b->usage.cache_write_tokens ||
      a->usage.output_tokens != b->usage.output_tokens)
    MISMATCH("usage %d %lld/%lld/%lld/%lld, real %d %lld/%lld/%lld/%lld", b->usage_known,
             (long long)b->usage.input_tokens, (long long)b->usage.cache_read_tokens,
             (long long)b->usage.cache_write_tokens, (long long)b->usage.output_tokens,
             a->usage_known, (long long)a->usage.input_tokens,
             (long long)a->usage.cache_read_tokens, (long long)a->usage.cache_write_tokens,
             (long long)a->usage.output_tokens);
  if (a->finish != b->finish)
    MISMATCH("finish %s, real %s", as_llm_finish_name(b->finish), as_llm_finish_name(a->finish));
#undef MISMATCH
}

static as_llm_request case_request(const tcase *t) {
  as_llm_request r = fixed_request();
  r.timeout_ns = (uint64_t)t->timeout_ms * MS;
  return r;
}

/* --- recording in real mode ------------------------------------------------------------ */

/* The time a faithful replay takes: an ok ending's last chunk goes with the
** last recorded chunk (or the head, when there is no body); a timeout ends
** at the client's deadline (the request's timeout: the recording client
** noticed it as late as its poll woke, which is no part of the peer's
** answer); a body the client refused itself (aborted) ends with the chunk
** it refused; every other ending comes when it was recorded. */
static uint64_t expected_ns(const tcase *t, const as_cassette_exchange *x) {
  uint64_t last = x->nchunks ? x->chunks[x->nchunks - 1].at_ns : x->status_at_ns;
  switch (x->fail) {
  case AS_HTTP_FAIL_NONE:
  case AS_HTTP_FAIL_ABORTED: return last;
  case AS_HTTP_FAIL_TIMEOUT: return (uint64_t)t->timeout_ms * MS;
  default: return x->end_at_ns;
  }
}

static void record_one(tcase *t, const llm_peer *peer) {
  char spec_text[1024], err[512], base[256];
  if (!t->base)
    snprintf(base, sizeof base, "%s%s", peer->base, t->kind == AS_WIRE_OPENAI ? "/v1" : "");
  else if (strcmp(t->base, "refused") == 0)
    snprintf(base, sizeof base, "http://127.0.0.1:1");
  else
    snprintf(base, sizeof base, "%s%s", peer->base, t->base);
  snprintf(spec_text, sizeof spec_text, "record:%s,%s:%s,model=%s%s%s", t->dir,
           t->kind == AS_WIRE_OPENAI ? "openai" : "ollama", base, t->model,
           t->stream ? ",stream" : "", t->structured ? ",structured" : "");
  as_llm_spec spec;
  if (as_llm_spec_parse(spec_text, &spec, err, sizeof err) != AS_OK)
    fail_msg("%s: %s", spec_text, err);
  assert_int_equal(spec.kind, AS_SPEC_RECORD);
  as_llm_opened o;
  int rc = as_llm_spec_open(&spec, 0, NULL, &o, err, sizeof err);
  if (rc != AS_OK) fail_msg("%s: open: %s: %s", t->name, as_status_name(rc), err);
  assert_non_null(o.rec);
  as_llm_request req = case_request(t);
  as_llm_response out;
  as_llm_error e;
  uint64_t t0 = as_now_mono_ns();
  rc = as_llm_complete(&o.llm, &req, &out, &e);
  uint64_t took = as_now_mono_ns() - t0;
  result_take(&t->real, rc, &out, &e, took);
  as_llm_response_clear(&out);
  if (as_cassette_recorder_count(o.rec) != 1)
    fail_msg("%s: %zu exchanges recorded (%s)", t->name, as_cassette_recorder_count(o.rec),
             as_cassette_recorder_error(o.rec));
  as_llm_opened_close(&o);
  as_cassette *c = NULL;
  rc = as_cassette_load(t->dir, &c, err, sizeof err);
  if (rc != AS_OK) fail_msg("%s: load: %s", t->name, err);
  assert_int_equal(c->n, 1);
  t->fail = c->x[0].fail;
  t->expect_ns = expected_ns(t, &c->x[0]);
  t->end_ns = c->x[0].end_at_ns;
  /* the recording is the real call's: it took at least the recorded end */
  assert_true(took >= c->x[0].end_at_ns);
  as_cassette_free(c);
}

static void add_cases(void) {
  NCASES = 0;
  for (int k = 0; k < AS__WIRE_COUNT; k++)
    for (size_t i = 0; i < sizeof BEHAVIOURS / sizeof *BEHAVIOURS; i++)
      for (int s = 0; s <= 1; s++) {
        const behaviour *b = &BEHAVIOURS[i];
        if (b->stream != 2 && b->stream != s) continue;
        assert_true(NCASES < CASES_MAX);
        tcase *t = &CASES[NCASES];
        memset(t, 0, sizeof *t);
        t->kind = (as_wire_kind)k;
        t->stream = s;
        t->structured = strcmp(b->model, "structured") == 0;
        t->model = b->model;
        t->base = b->base;
        t->timeout_ms = b->timeout_ms ? b->timeout_ms : TIMEOUT_MS;
        snprintf(t->name, sizeof t->name, "%s %s%s%s%s", k == AS_WIRE_OPENAI ? "openai" : "ollama",
                 b->model, s ? " stream" : "", b->base ? " at " : "", b->base ? b->base : "");
        snprintf(t->dir, sizeof t->dir, "%s/c%zu", TMP, NCASES);
        NCASES++;
      }
}

/* --- replaying in the sim ---------------------------------------------------------------- */

static int REPLAY; /* which of the two replays the sim program fills */
static char SIM_ERR[1024]; /* the sim program's failure (no longjmp out of a sim task) */

static void replay_main(void *state) {
  (void)state;
  for (size_t i = 0; i < NCASES; i++) {
    tcase *t = &CASES[i];
    as_llm llm;
    char err[512];
    int rc = as_cassette_llm_new(t->dir, &llm, err, sizeof err);
    if (rc != AS_OK) {
      snprintf(SIM_ERR, sizeof SIM_ERR, "%s: cassette: %s", t->name, err);
      return;
    }
    as_llm_request req = case_request(t);
    as_llm_response out;
    as_llm_error e;
    uint64_t t0 = as_now_mono_ns();
    rc = as_llm_complete(&llm, &req, &out, &e);
    result_take(&t->sim[REPLAY], rc, &out, &e, as_now_mono_ns() - t0);
    as_llm_response_clear(&out);
    const as_cassette_exchange *x = NULL;
    if ((as_cassette_llm_taken(&llm, &x, err, sizeof err) != AS_OK || !x) && !SIM_ERR[0])
      snprintf(SIM_ERR, sizeof SIM_ERR, "%s: the replay took no exchange (%s)", t->name, err);
    as_llm_destroy(&llm);
  }
}

static const sim_program replay_prog = {.name = "real-to-sim",
                                        .summary = "real recordings replayed in the sim",
                                        .est_tasks = 1,
                                        .main = replay_main};

static double wall_s(const struct timespec *a, const struct timespec *b) {
  return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void test_real_to_sim(void **state) {
  (void)state;
  snprintf(TMP, sizeof TMP, "/tmp/test_real_to_sim.%d", (int)getpid());
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", TMP, TMP);
  assert_int_equal(system(cmd), 0);
  add_cases();
  llm_peer peer;
  llm_peer_start(&peer, NULL, "real_to_sim");
  struct timespec w0, w1, w2;
  clock_gettime(CLOCK_MONOTONIC, &w0);
  for (size_t i = 0; i < NCASES; i++) record_one(&CASES[i], &peer);
  clock_gettime(CLOCK_MONOTONIC, &w1);
  llm_peer_stop(&peer); /* the replays need no peer */
  for (REPLAY = 0; REPLAY < 2; REPLAY++) {
    sim_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.seed = 17 + (uint64_t)REPLAY;
    cfg.strategy = SIM_STRATEGY_RANDOM;
    sim_result res;
    int rc = sim_run(S, &replay_prog, &cfg, &res);
    if (rc != AS_OK || res.outcome != SIM_PASS)
      fail_msg("sim_run: %s %s: %s", as_status_name(rc), sim_outcome_name(res.outcome),
               res.message);
    sim_result_clear(&res);
    if (SIM_ERR[0]) fail_msg("sim replay %d: %s", REPLAY + 1, SIM_ERR);
  }
  clock_gettime(CLOCK_MONOTONIC, &w2);
  size_t by_fail[AS__HTTP_FAIL_COUNT] = {0};
  uint64_t late[AS__HTTP_FAIL_COUNT] = {0}; /* the recorded end past the replay's, at most */
  for (size_t i = 0; i < NCASES; i++) {
    tcase *t = &CASES[i];
    by_fail[t->fail]++;
    assert_true(t->end_ns >= t->expect_ns);
    if (t->end_ns - t->expect_ns > late[t->fail]) late[t->fail] = t->end_ns - t->expect_ns;
    if (t->fail == AS_HTTP_FAIL_TIMEOUT) /* the recording's deadline was the request's */
      assert_true(t->end_ns - t->expect_ns < 250 * MS);
    if (wall_dated(t)) /* the peer's date is 120 s past its Date header */
      assert_int_equal(t->real.retry_ns, 120000 * MS);
    compare(t, &t->real, &t->sim[0], "sim replay 1", false);
    compare(t, &t->real, &t->sim[1], "sim replay 2", false);
    compare(t, &t->sim[0], &t->sim[1], "sim replay 2 (against replay 1)", true);
    for (int r = 0; r < 2; r++)
      if (t->sim[r].took_ns != t->expect_ns) {
        print_error("%s (recorded %s): sim replay %d took %llu ns of virtual time, the "
                    "recording %llu ns\n", t->name, as_http_fail_name(t->fail), r + 1,
                    (unsigned long long)t->sim[r].took_ns, (unsigned long long)t->expect_ns);
        MISMATCHES++;
      }
  }
  if (MISMATCHES) fail_msg("%zu mismatches in %zu cases", MISMATCHES, NCASES);
  print_message("real to sim: %zu cases (", NCASES);
  for (int f = 0; f < AS__HTTP_FAIL_COUNT; f++)
    if (by_fail[f]) print_message("%s%zu %s", f ? ", " : "", by_fail[f], as_http_fail_name(f));
  print_message(") recorded in real mode in %.2f s, replayed twice in the sim in %.2f s of wall "
                "time: every field and every virtual time equal; the client's own endings came after the recorded event by at "
                "most %.3f ms (timeout) and %.3f ms (aborted) in real time\n",
                wall_s(&w0, &w1), wall_s(&w1, &w2), (double)late[AS_HTTP_FAIL_TIMEOUT] / 1e6,
                (double)late[AS_HTTP_FAIL_ABORTED] / 1e6);
  for (size_t i = 0; i < NCASES; i++)
    for (int r = 0; r < 3; r++) result_clear(r == 2 ? &CASES[i].real : &CASES[i].sim[r]);
  snprintf(cmd, sizeof cmd, "rm -rf %s", TMP);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  if (as_http_global_init() != AS_OK) return 1;
  if (sim_new(&S, SIM_SWITCH_FCONTEXT, 0) != AS_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_real_to_sim),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  sim_free(S);
  return rc;
}

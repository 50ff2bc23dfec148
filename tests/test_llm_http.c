/*
** test_llm_http.c -- the OpenAI-compatible and Ollama providers
** (llm_http.h) against the loopback peer (tests/llm_peer.py) speaking the
** real wire formats, streaming and not: every behaviour of the peer and
** the answer llm.h gets for it (texts, tool calls with argument fragments,
** structured output, the usage quirks, 429 with its Retry-After as a delay
** or a date, 5xx, 4xx, 408, a body that is not JSON, an error inside a
** stream, silence and trickles (the timeout and the low-speed limit), a
** cut stream or body, a stream without its end, a head line past its cap,
** bytes that are not HTTP, a refused port, a wrong key).
**
** The key: never in a log line (the seam's log captured through a platform
** wrapper), never in an error message, never in the peer's request log
** (which logs every header but Authorization): it went only as the header,
** and the peer says every request carried it.
**
** Also: load-time refusals, a tap that sees no secret and one that fails,
** every allocation of a call and of the provider failing in turn, four
** threads sharing one provider (label threads), and the round trip on
** loopback (median of N, printed).
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/http_client.h"
#include "agentsim/llm.h"
#include "agentsim/llm_http.h"
#include "agentsim/seam.h"
#include "faultwrap.h"
#include "llm_peer.h"

#define KEY "sk-peer-SECRET-7f3a9c"
#define MS 1000000ull

static llm_peer PEER;
static char BASE_OPENAI[96], BASE_OLLAMA[96];

/* --- the seam's log, captured ------------------------------------------------- */

static pthread_mutex_t LOG_MU = PTHREAD_MUTEX_INITIALIZER;
static char LOGS[1 << 16];
static size_t LOGS_LEN;
static as_platform PLAT;

static void cap_log(as_log_level level, const char *msg) {
  (void)level;
  pthread_mutex_lock(&LOG_MU);
  int n = snprintf(LOGS + LOGS_LEN, sizeof LOGS - LOGS_LEN, "%s\n", msg);
  if (n > 0 && (size_t)n < sizeof LOGS - LOGS_LEN) LOGS_LEN += (size_t)n;
  pthread_mutex_unlock(&LOG_MU);
}

/* --- a provider and a request --------------------------------------------------- */

static const as_llm_tool TOOLS[] = {
    {"obs:get_logs", "the logs of a service", "{\"type\": \"object\"}"},
    {"core:note", "a note", "{\"type\": \"object\"}"},
};

static as_llm_request request(void) {
  static const as_llm_message msgs[] = {
      {.role = AS_LLM_SYSTEM, .text = "You are a test."},
      {.role = AS_LLM_USER, .text = "Say something."},
  };
  as_llm_request r = {.session_id = "s1", .agent = "a", .call = 1, .attempt = 1,
                      .msgs = msgs, .nmsgs = 2, .tools = TOOLS, .ntools = 2};
  return r;
}

typedef struct pcfg {
  as_wire_kind kind;
  bool stream, structured;
  const char *key;
  uint64_t timeout_ms, ls_ms;
  const char *base; /* NULL: the peer's */
  const as_http_tap *tap;
} pcfg;

static void make(as_llm *llm, const char *model, const pcfg *c) {
  as_llm_http_cfg cfg = {.kind = c->kind,
                         .base_url = c->base ? c->base
                                     : c->kind == AS_WIRE_OPENAI ? BASE_OPENAI
                                                                 : BASE_OLLAMA,
                         .model = model,
                         .api_key = c->key,
                         .stream = c->stream,
                         .structured = c->structured,
                         .timeout_ns = c->timeout_ms * MS,
                         .low_speed_bytes = c->ls_ms ? 1 : 0,
                         .low_speed_ns = c->ls_ms * MS,
                         .tap = c->tap};
  char err[256];
  int rc = as_llm_http_new(&cfg, llm, err, sizeof err);
  if (rc != AS_OK) fail_msg("new: %s: %s", as_status_name(rc), err);
  assert_string_equal(llm->model, model);
  assert_string_equal(llm->vt->name, c->kind == AS_WIRE_OPENAI ? "openai" : "ollama");
}

static void no_key_in(const char *s) {
  if (strstr(s, KEY) || strstr(s, "SECRET")) fail_msg("the key in '%s'", s);
}

/* One call of model with c; the answer in *out / *err. */
static int call_once(const char *model, const pcfg *c, as_llm_response *out, as_llm_error *err) {
  as_llm llm;
  make(&llm, model, c);
  as_llm_request r = request();
  int rc = as_llm_complete(&llm, &r, out, err);
  as_llm_destroy(&llm);
  no_key_in(err->message);
  return rc;
}

/* --- the behaviours ------------------------------------------------------------------ */

typedef struct expect {
  const char *model;
  int stream;              /* 0 no, 1 yes, 2 both */
  int rc;
  as_llm_error_kind kind;
  const char *text;        /* a part of the text, or of the error's message */
  size_t ncalls;
  int64_t in, cache, out;  /* usage; -1: not known */
  as_llm_finish finish;
  uint64_t retry_ns;
  uint64_t timeout_ms, ls_ms;
} expect;

static void check(const expect *e, as_wire_kind kind, bool stream) {
  pcfg c = {.kind = kind,
            .stream = stream,
            .key = KEY,
            .timeout_ms = e->timeout_ms ? e->timeout_ms : 10000,
            .ls_ms = e->ls_ms,
            .structured = strcmp(e->model, "structured") == 0};
  as_llm_response out;
  as_llm_error err;
  int rc = call_once(e->model, &c, &out, &err);
  const char *what = kind == AS_WIRE_OPENAI ? "openai" : "ollama";
  if (rc != e->rc || err.kind != e->kind)
    fail_msg("%s %s%s: %s %s (%s), not %s %s", what, e->model, stream ? " stream" : "",
             as_status_name(rc), as_llm_error_name(err.kind), err.message,
             as_status_name(e->rc), as_llm_error_name(e->kind));
  if (rc != AS_OK) {
    if (e->text && !strstr(err.message, e->text))
      fail_msg("%s %s: '%s' lacks '%s'", what, e->model, err.message, e->text);
    if (e->kind == AS_LLM_ERR_RATE_LIMITED) {
      assert_int_equal(err.http_status, 429);
      if (e->retry_ns > 60000 * MS) /* a date two minutes ahead */
        assert_true(err.retry_after_ns > 100000 * MS && err.retry_after_ns <= 121000 * MS);
      else
        assert_int_equal(err.retry_after_ns, e->retry_ns);
    }
    return;
  }
  if (e->text) {
    const char *got = out.structured ? out.structured : out.text;
    if (!got || !strstr(got, e->text))
      fail_msg("%s %s%s: text '%s' lacks '%s'", what, e->model, stream ? " stream" : "",
               got ? got : "(none)", e->text);
  }
  assert_int_equal(out.ncalls, e->ncalls);
  if (e->ncalls) {
    assert_string_equal(out.calls[0].name, "obs:get_logs"); /* mapped back */
    assert_non_null(strstr(out.calls[0].args, "\"api\""));
    assert_non_null(strstr(out.calls[0].args, "15"));
    if (e->ncalls > 1) {
      assert_string_equal(out.calls[1].name, "core:note");
      assert_non_null(strstr(out.calls[1].args, "{across}"));
    }
  }
  if (e->in < 0) {
    assert_false(out.usage_known);
  } else {
    if (!out.usage_known) fail_msg("%s %s%s: no usage", what, e->model, stream ? " stream" : "");
    int64_t in = kind == AS_WIRE_OPENAI ? e->in - e->cache : e->in + 10000;
    int64_t cache = kind == AS_WIRE_OPENAI ? e->cache : 0;
    int64_t o = kind == AS_WIRE_OPENAI ? e->out : e->out + 1000;
    if (out.usage.input_tokens != in || out.usage.cache_read_tokens != cache ||
        out.usage.output_tokens != o || out.usage.cache_write_tokens != 0)
      fail_msg("%s %s%s: usage %lld/%lld/%lld, not %lld/%lld/%lld", what, e->model,
               stream ? " stream" : "", (long long)out.usage.input_tokens,
               (long long)out.usage.cache_read_tokens, (long long)out.usage.output_tokens,
               (long long)in, (long long)cache, (long long)o);
  }
  assert_int_equal(out.finish, e->finish);
  as_llm_response_clear(&out);
}

#define OKT(m, s, t, n, i, c, o, f) {m, s, AS_OK, AS_LLM_ERR_NONE, t, n, i, c, o, f, 0, 0, 0}
#define ERR(m, s, rc, k, t) {m, s, rc, k, t, 0, 0, 0, 0, 0, 0, 0, 0}

static const expect BOTH[] = {
    OKT("text", 2, "Hello from the loopback peer.", 0, 1234, 230, 567, AS_LLM_FINISH_STOP),
    OKT("tools", 2, NULL, 2, 2345, 0, 678, AS_LLM_FINISH_TOOL_CALLS),
    OKT("tools-one", 2, NULL, 1, 2346, 0, 679, AS_LLM_FINISH_TOOL_CALLS),
    OKT("structured", 2, "Structured answer", 0, 3456, 456, 789, AS_LLM_FINISH_STOP),
    OKT("usage-null-choices", 2, "peer", 0, 4567, 67, 890, AS_LLM_FINISH_STOP),
    OKT("usage-empty-choices", 2, "peer", 0, 4568, 68, 891, AS_LLM_FINISH_STOP),
    OKT("usage-absent-choices", 2, "peer", 0, 4569, 69, 892, AS_LLM_FINISH_STOP),
    OKT("usage-on-last-choice", 2, "peer", 0, 5678, 78, 901, AS_LLM_FINISH_STOP),
    OKT("no-usage", 2, "peer", 0, -1, 0, 0, AS_LLM_FINISH_STOP),
    OKT("length", 2, "peer", 0, 6789, 0, 1012, AS_LLM_FINISH_LENGTH),
    OKT("big", 2, "peer peer peer", 0, 7890, 0, 2345, AS_LLM_FINISH_STOP),
    OKT("echo", 2, "\"messages\"", 0, 8901, 0, 23, AS_LLM_FINISH_STOP),
    {"429", 2, AS_BUSY, AS_LLM_ERR_RATE_LIMITED, "rate limited by the peer", 0, 0, 0, 0, 0,
     7000 * MS, 0, 0},
    {"429-date", 2, AS_BUSY, AS_LLM_ERR_RATE_LIMITED, "until a date", 0, 0, 0, 0, 0,
     120000 * MS, 0, 0},
    {"429-lower", 2, AS_BUSY, AS_LLM_ERR_RATE_LIMITED, "lower case", 0, 0, 0, 0, 0,
     3000 * MS, 0, 0},
    {"429-cut", 2, AS_BUSY, AS_LLM_ERR_RATE_LIMITED, "HTTP 429", 0, 0, 0, 0, 0, 5000 * MS, 0, 0},
    {"429-bare", 2, AS_BUSY, AS_LLM_ERR_RATE_LIMITED, "HTTP 429", 0, 0, 0, 0, 0, 0, 0, 0},
    ERR("500", 2, AS_IO, AS_LLM_ERR_SERVER, "the peer failed (500)"),
    ERR("500-big", 2, AS_IO, AS_LLM_ERR_SERVER, "HTTP 500"), /* kept cut: not JSON */
    ERR("502", 2, AS_IO, AS_LLM_ERR_SERVER, "HTTP 502"),
    ERR("503", 2, AS_IO, AS_LLM_ERR_SERVER, "HTTP 503"),
    ERR("400", 2, AS_INVAL, AS_LLM_ERR_REFUSAL, "the peer refuses this request"),
    ERR("408", 2, AS_TIMEDOUT, AS_LLM_ERR_TIMEOUT, "HTTP 408"),
    ERR("redirect", 2, AS_IO, AS_LLM_ERR_SERVER, "HTTP 302"),
    ERR("notjson", 2, AS_PARSE, AS_LLM_ERR_MALFORMED, NULL),
    ERR("notjson-stream", 1, AS_PARSE, AS_LLM_ERR_MALFORMED, NULL),
    ERR("truncate", 2, AS_PARSE, AS_LLM_ERR_MALFORMED, NULL),
    ERR("no-done", 1, AS_PARSE, AS_LLM_ERR_MALFORMED, NULL),
    ERR("garbage", 2, AS_PARSE, AS_LLM_ERR_MALFORMED, "a malformed answer"),
    ERR("bigheader", 2, AS_TOOBIG, AS_LLM_ERR_NONE, "header"),
    ERR("huge", 2, AS_TOOBIG, AS_LLM_ERR_NONE, NULL),
    {"slow", 2, AS_TIMEDOUT, AS_LLM_ERR_TIMEOUT, "within 400 ms", 0, 0, 0, 0, 0, 0, 400, 0},
    {"slow-head", 2, AS_TIMEDOUT, AS_LLM_ERR_TIMEOUT, "fewer than 1 bytes in 300 ms", 0, 0, 0,
     0, 0, 0, 5000, 300},
    {"trickle", 1, AS_TIMEDOUT, AS_LLM_ERR_TIMEOUT, "fewer than 1 bytes in 1000 ms", 0, 0, 0,
     0, 0, 0, 8000, 1000},
};

static void test_behaviours(void **state) {
  (void)state;
  for (int kind = 0; kind < AS__WIRE_COUNT; kind++)
    for (size_t i = 0; i < sizeof BOTH / sizeof BOTH[0]; i++)
      for (int s = 0; s <= 1; s++)
        if (BOTH[i].stream == 2 || BOTH[i].stream == s) check(&BOTH[i], (as_wire_kind)kind, s);
}

/* An error inside a stream, and a 200 whose body is an error object. */
static void test_stream_errors(void **state) {
  (void)state;
  for (int kind = 0; kind < AS__WIRE_COUNT; kind++)
    for (int s = 0; s <= 1; s++) {
      pcfg c = {.kind = (as_wire_kind)kind, .stream = s, .key = KEY, .timeout_ms = 5000};
      as_llm_response out;
      as_llm_error err;
      int rc = call_once("stream-error", &c, &out, &err);
      assert_int_not_equal(rc, AS_OK);
      assert_int_not_equal(err.kind, AS_LLM_ERR_NONE);
      assert_non_null(strstr(err.message, s ? "mid-stream" : "mid-answer"));
    }
}

static void test_filter_and_connect(void **state) {
  (void)state;
  as_llm_response out;
  as_llm_error err;
  pcfg c = {.kind = AS_WIRE_OPENAI, .key = KEY, .timeout_ms = 5000};
  assert_int_equal(call_once("filter", &c, &out, &err), AS_OK);
  assert_int_equal(out.finish, AS_LLM_FINISH_CONTENT_FILTER);
  as_llm_response_clear(&out);
  /* one trailing '/' on the base URL is dropped: ".../v1/" posts to
  ** ".../v1/chat/completions", which the peer answers (not "//chat") */
  char slash[sizeof BASE_OPENAI + 1];
  snprintf(slash, sizeof slash, "%s/", BASE_OPENAI);
  c.base = slash;
  assert_int_equal(call_once("text", &c, &out, &err), AS_OK);
  as_llm_response_clear(&out);
  /* a port nobody listens on: transient, and the message says so */
  c.base = "http://127.0.0.1:1/v1/";
  assert_int_equal(call_once("text", &c, &out, &err), AS_IO);
  assert_int_equal(err.kind, AS_LLM_ERR_SERVER);
  assert_non_null(strstr(err.message, "the connection failed"));
  /* a wrong key: refused, and neither key is in the message */
  c.base = NULL;
  c.key = "sk-wrong-SECRET";
  assert_int_equal(call_once("text", &c, &out, &err), AS_INVAL);
  assert_int_equal(err.kind, AS_LLM_ERR_REFUSAL);
  assert_int_equal(err.http_status, 401);
  /* no key at all */
  c.key = NULL;
  assert_int_equal(call_once("text", &c, &out, &err), AS_INVAL);
  assert_int_equal(err.http_status, 401);
  /* a request the format cannot express */
  as_llm llm;
  c.key = KEY;
  make(&llm, "text", &c);
  as_llm_message bad[] = {{.role = AS_LLM_TOOL, .text = "x"}};
  as_llm_request r = {.msgs = bad, .nmsgs = 1, .call = 1, .attempt = 1};
  assert_int_equal(as_llm_complete(&llm, &r, &out, &err), AS_INVAL);
  /* no timeout anywhere: the default */
  as_llm_destroy(&llm);
  c.timeout_ms = 0;
  make(&llm, "text", &c);
  as_llm_request r0 = request();
  assert_int_equal(as_llm_complete(&llm, &r0, &out, &err), AS_OK);
  as_llm_response_clear(&out);
  /* the request's own timeout wins over the provider's */
  as_llm_request r2 = request();
  r2.timeout_ns = 300 * MS;
  uint64_t t0 = as_now_mono_ns();
  as_llm_destroy(&llm);
  c.timeout_ms = 0;
  make(&llm, "slow", &c);
  assert_int_equal(as_llm_complete(&llm, &r2, &out, &err), AS_TIMEDOUT);
  assert_true(as_now_mono_ns() - t0 < 2000 * MS);
  assert_non_null(strstr(err.message, "within 300 ms"));
  as_llm_destroy(&llm);
  /* ... also when the provider has one of its own (a longer one) */
  c.timeout_ms = 10000;
  make(&llm, "slow", &c);
  t0 = as_now_mono_ns();
  assert_int_equal(as_llm_complete(&llm, &r2, &out, &err), AS_TIMEDOUT);
  assert_true(as_now_mono_ns() - t0 < 2000 * MS);
  assert_non_null(strstr(err.message, "within 300 ms"));
  as_llm_destroy(&llm);
}

/* --- a tap ----------------------------------------------------------------------------- */

typedef struct taprec {
  int reqs, ends, fail_end;
} taprec;

static int tp_req(void *ctx, const as_http_request *req) {
  taprec *t = ctx;
  t->reqs++;
  assert_null(req->secret_header);
  no_key_in(req->body);
  for (size_t i = 0; i < req->nheaders; i++) no_key_in(req->headers[i].value);
  return AS_OK;
}
static int tp_status(void *ctx, int st, const as_http_header *h, size_t n, uint64_t at) {
  (void)ctx, (void)st, (void)h, (void)n, (void)at;
  return AS_OK;
}
static int tp_data(void *ctx, const char *d, size_t n, uint64_t at) {
  (void)ctx, (void)d, (void)n, (void)at;
  return AS_OK;
}
static int tp_end(void *ctx, const as_http_result *res) {
  taprec *t = ctx;
  t->ends++;
  no_key_in(res->message);
  return t->fail_end ? AS_IO : AS_OK;
}

static void test_tap(void **state) {
  (void)state;
  taprec t = {0};
  as_http_tap tap = {&t, tp_req, tp_status, tp_data, tp_end};
  pcfg c = {.kind = AS_WIRE_OLLAMA, .stream = true, .key = KEY, .timeout_ms = 5000, .tap = &tap};
  as_llm_response out;
  as_llm_error err;
  assert_int_equal(call_once("text", &c, &out, &err), AS_OK);
  as_llm_response_clear(&out);
  assert_int_equal(t.reqs, 1);
  assert_int_equal(t.ends, 1);
  t.fail_end = 1;
  assert_int_equal(call_once("text", &c, &out, &err), AS_IO);
  assert_int_equal(err.kind, AS_LLM_ERR_SERVER);
  assert_non_null(strstr(err.message, "observer"));
}

/* --- a simulated connection under a virtual clock -------------------------------------- */

static uint64_t VNOW;
static uint64_t vnow(void) { return VNOW; }

typedef struct vnet {
  int other;
  const char *answer;
  uint64_t at;
  bool sent;
  char request[16384];
  size_t reqlen;
} vnet;

static int vn_open(void *ctx, const as_http_request *req) {
  vnet *v = ctx;
  (void)req;
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  v->other = sv[1];
  return sv[0];
}

static int vn_wait(void *ctx, int fd, uint64_t deadline) {
  vnet *v = ctx;
  (void)fd;
  struct pollfd p = {v->other, POLLIN, 0};
  while (poll(&p, 1, 0) == 1 && (p.revents & POLLIN)) {
    ssize_t r = read(v->other, v->request + v->reqlen, sizeof v->request - 1 - v->reqlen);
    if (r <= 0) break;
    v->reqlen += (size_t)r;
  }
  if (v->sent || v->at > deadline) {
    VNOW = deadline;
    return 1;
  }
  VNOW = v->at;
  size_t n = strlen(v->answer);
  assert_int_equal(write(v->other, v->answer, n), (ssize_t)n);
  assert_int_equal(shutdown(v->other, SHUT_WR), 0);
  v->sent = true;
  return 0;
}

/* A chunked SSE answer, one chunk per event (the sizes computed). */
static const char *sse_answer(void) {
  static char buf[1024];
  static const char *const ev[] = {
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"virtual hi\"}}]}\n\n",
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":22}}\n\n",
      "data: [DONE]\n\n"};
  size_t n = (size_t)snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream"
                                               "\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (size_t i = 0; i < 3; i++)
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%zx\r\n%s\r\n", strlen(ev[i]), ev[i]);
  snprintf(buf + n, sizeof buf - n, "0\r\n\r\n");
  return buf;
}

/* The provider over a simulated connection: the answer at its virtual time,
** and a virtual deadline that passes with no real wait. */
static void test_simulated(void **state) {
  (void)state;
  as_platform vp = PLAT;
  vp.now_mono_ns = vnow;
  for (int slow = 0; slow <= 1; slow++) {
    vnet v = {.answer = sse_answer(), .at = slow ? 200000 * MS : 1500 * MS};
    as_http_net net = {&v, vn_open, vn_wait};
    as_llm_http_cfg cfg = {.kind = AS_WIRE_OPENAI, .base_url = "http://127.0.0.1:8080/v1",
                           .model = "gpt-sim", .api_key = KEY, .stream = true, .net = &net};
    as_llm llm;
    assert_int_equal(as_llm_http_new(&cfg, &llm, NULL, 0), AS_OK);
    as_llm_request r = request();
    as_llm_response out;
    as_llm_error err;
    VNOW = 1000 * MS;
    uint64_t t0 = as_now_mono_ns();
    as_platform_set(&vp);
    int rc = as_llm_complete(&llm, &r, &out, &err);
    as_platform_set(&PLAT);
    assert_true(as_now_mono_ns() - t0 < 2000 * MS); /* real time: none waited */
    v.request[v.reqlen] = '\0';
    assert_non_null(strstr(v.request, "POST /v1/chat/completions HTTP/1.1\r\n"));
    assert_non_null(strstr(v.request, "Authorization: Bearer " KEY "\r\n"));
    assert_non_null(strstr(v.request, "\"model\":\"gpt-sim\""));
    if (slow) { /* the default low-speed limit (30 s of silence) in virtual time */
      assert_int_equal(rc, AS_TIMEDOUT);
      assert_int_equal(err.kind, AS_LLM_ERR_TIMEOUT);
      assert_true(VNOW == 1000 * MS + 30000 * MS);
      assert_non_null(strstr(err.message, "fewer than 1 bytes in 30000 ms"));
    } else {
      if (rc != AS_OK) fail_msg("%s: %s", as_status_name(rc), err.message);
      assert_string_equal(out.text, "virtual hi");
      assert_int_equal(out.usage.input_tokens, 11);
      assert_int_equal(out.usage.output_tokens, 22);
      as_llm_response_clear(&out);
    }
    as_llm_destroy(&llm);
    assert_int_equal(close(v.other), 0);
  }
}

/* --- load-time refusals ---------------------------------------------------------------- */

static void test_refusals(void **state) {
  (void)state;
  char longkey[AS_LLM_HTTP_KEY_MAX + 2], longurl[AS_HTTP_URL_MAX + 2];
  memset(longkey, 'k', sizeof longkey - 1);
  longkey[sizeof longkey - 1] = '\0';
  memcpy(longurl, "http://", 7);
  memset(longurl + 7, 'h', sizeof longurl - 8);
  longurl[sizeof longurl - 1] = '\0';
  struct {
    as_llm_http_cfg cfg;
    const char *msg;
  } cases[] = {
      {{.kind = AS__WIRE_COUNT, .base_url = "http://h", .model = "m"}, "unknown provider"},
      {{.base_url = NULL, .model = "m"}, "needs a base URL"},
      {{.base_url = "", .model = "m"}, "needs a base URL"},
      {{.base_url = "ftp://h", .model = "m"}, "http:// or https://"},
      {{.base_url = "127.0.0.1:11434", .model = "m"}, "http:// or https://"},
      {{.base_url = "https://", .model = "m"}, "no host"},
      {{.base_url = "http:///v1", .model = "m"}, "no host"},
      {{.base_url = "http://:8080/v1", .model = "m"}, "no host"},
      {{.base_url = "http://?q", .model = "m"}, "no host"},
      {{.base_url = longurl, .model = "m"}, "too long"},
      {{.base_url = "http://h/a b", .model = "m"}, "space"},
      {{.base_url = "http://h/\n", .model = "m"}, "control"},
      {{.base_url = "http://h/\x7f", .model = "m"}, "control"},
      {{.base_url = "http://h", .model = NULL}, "needs a model"},
      {{.base_url = "http://h", .model = ""}, "needs a model"},
      {{.base_url = "http://h", .model = "m", .api_key = longkey}, "longer than 512"},
      {{.base_url = "http://h", .model = "m", .api_key = ""}, "empty"},
      {{.base_url = "http://h", .model = "m", .api_key = "sk-SECRET\r\nX: y"}, "line break"},
      {{.base_url = "http://h", .model = "m", .timeout_ns = AS_LLM_TIMEOUT_MAX_NS + 1}, "600"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    as_llm llm;
    char err[256];
    assert_int_equal(as_llm_http_new(&cases[i].cfg, &llm, err, sizeof err), AS_INVAL);
    if (!strstr(err, cases[i].msg)) fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
    no_key_in(err);
    assert_null(llm.vt);
  }
  as_llm llm;
  char e0[4] = "x";
  assert_int_equal(as_llm_http_new(NULL, &llm, e0, 0), AS_INVAL); /* no room: untouched */
  assert_string_equal(e0, "x");
  assert_int_equal(as_llm_http_new(NULL, &llm, NULL, 0), AS_INVAL);
  as_llm_http_cfg ok = {.base_url = "HTTPS://h", .model = "m"};
  assert_int_equal(as_llm_http_new(&ok, NULL, NULL, 0), AS_INVAL);
  assert_int_equal(as_llm_http_new(&ok, &llm, NULL, 0), AS_OK);
  assert_int_equal(llm.timeout_ns, 0);
  as_llm_destroy(&llm);
}

/* --- allocations ------------------------------------------------------------------------ */

static void test_alloc_countdown(void **state) {
  (void)state;
  as_llm_http_cfg cfg = {.kind = AS_WIRE_OPENAI, .base_url = BASE_OPENAI, .model = "tools",
                         .api_key = KEY, .stream = true, .timeout_ns = 5000 * MS};
  as_llm_request r = request();
  as_llm_response out;
  as_llm_error err;
  as_llm llm;
  size_t live = fw_live_blocks();
  for (unsigned long n = 1;; n++) { /* the provider */
    fw_countdown(FW_ALLOC, n, ENOMEM, 0);
    int rc = as_llm_http_new(&cfg, &llm, NULL, 0);
    int fired = fw_fired();
    fw_disarm();
    if (rc == AS_OK) as_llm_destroy(&llm);
    assert_int_equal(fw_live_blocks(), live);
    if (!fired) break;
    assert_int_equal(rc, AS_NOMEM);
  }
  assert_int_equal(as_llm_http_new(&cfg, &llm, NULL, 0), AS_OK);
  assert_int_equal(as_llm_complete(&llm, &r, &out, &err), AS_OK); /* warm */
  as_llm_response_clear(&out);
  live = fw_live_blocks();
  unsigned long n;
  for (n = 1;; n++) { /* a call */
    fw_countdown(FW_ALLOC, n, ENOMEM, 0);
    int rc = as_llm_complete(&llm, &r, &out, &err);
    int fired = fw_fired();
    fw_disarm();
    as_llm_response_clear(&out);
    assert_int_equal(fw_live_blocks(), live);
    if (!fired) {
      assert_int_equal(rc, AS_OK);
      break;
    }
    if (rc != AS_NOMEM) fail_msg("n=%lu: %s (%s)", n, as_status_name(rc), err.message);
  }
  assert_true(n > 5);
  as_llm_destroy(&llm);
}

/* --- threads and the round trip ----------------------------------------------------------- */

static as_llm SHARED;

static void *worker(void *arg) {
  (void)arg;
  for (int i = 0; i < 5; i++) {
    as_llm_request r = request();
    as_llm_response out;
    as_llm_error err;
    if (as_llm_complete(&SHARED, &r, &out, &err) != AS_OK) return (void *)1;
    bool ok = out.text && strstr(out.text, "loopback");
    as_llm_response_clear(&out);
    if (!ok) return (void *)1;
  }
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  pcfg c = {.kind = AS_WIRE_OPENAI, .stream = true, .key = KEY, .timeout_ms = 10000};
  make(&SHARED, "text", &c);
  pthread_t t[4];
  for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, worker, NULL), 0);
  for (int i = 0; i < 4; i++) {
    void *ret;
    assert_int_equal(pthread_join(t[i], &ret), 0);
    assert_null(ret);
  }
  as_llm_destroy(&SHARED);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void test_round_trip(void **state) {
  (void)state;
  enum { N = 41 };
  for (int kind = 0; kind < AS__WIRE_COUNT; kind++)
    for (int s = 0; s <= 1; s++) {
      pcfg c = {.kind = (as_wire_kind)kind, .stream = s, .key = KEY, .timeout_ms = 10000};
      as_llm llm;
      make(&llm, "text", &c);
      uint64_t t[N];
      for (int i = 0; i < N; i++) {
        as_llm_request r = request();
        as_llm_response out;
        as_llm_error err;
        uint64_t t0 = as_now_mono_ns();
        assert_int_equal(as_llm_complete(&llm, &r, &out, &err), AS_OK);
        t[i] = as_now_mono_ns() - t0;
        as_llm_response_clear(&out);
      }
      qsort(t, N, sizeof t[0], cmp_u64);
      printf("round trip %s%s on loopback: median %.2f ms, min %.2f, max %.2f (N=%d)\n",
             kind == AS_WIRE_OPENAI ? "openai" : "ollama", s ? " stream" : "",
             (double)t[N / 2] / 1e6, (double)t[0] / 1e6, (double)t[N - 1] / 1e6, N);
      as_llm_destroy(&llm);
    }
}

/* --- the key, last: nowhere but the header ------------------------------------------------ */

static void test_key_nowhere(void **state) {
  (void)state;
  pthread_mutex_lock(&LOG_MU);
  LOGS[LOGS_LEN] = '\0';
  no_key_in(LOGS);
  pthread_mutex_unlock(&LOG_MU);
  char *log = llm_peer_log(&PEER);
  no_key_in(log);
  /* every model request carried it: auth_ok is false only for the wrong-key,
  ** no-key and refused-port calls (the last never reached the peer) */
  int ok = 0, bad = 0;
  for (const char *p = log; (p = strstr(p, "\"auth_ok\": ")) != NULL; p++) {
    if (strncmp(p + 11, "true", 4) == 0) ok++;
    else bad++;
  }
  assert_true(ok > 100);
  assert_int_equal(bad, 2);
  free(log);
}

static int setup(void **state) {
  (void)state;
  assert_int_equal(as_http_global_init(), AS_OK);
  PLAT = as_platform_posix;
  PLAT.log = cap_log;
  as_platform_set(&PLAT);
  llm_peer_start(&PEER, KEY, "llm");
  snprintf(BASE_OPENAI, sizeof BASE_OPENAI, "%s/v1", PEER.base);
  snprintf(BASE_OLLAMA, sizeof BASE_OLLAMA, "%s/", PEER.base);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  llm_peer_stop(&PEER);
  as_platform_set(NULL);
  curl_global_cleanup();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_behaviours),
      cmocka_unit_test(test_stream_errors),
      cmocka_unit_test(test_filter_and_connect),
      cmocka_unit_test(test_tap),
      cmocka_unit_test(test_simulated),
      cmocka_unit_test(test_alloc_countdown),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_key_nowhere),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

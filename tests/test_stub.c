/*
** test_stub.c -- the scripted stub LLM (sim/llm/stub.h) and the checked
** call every provider goes through (runtime/core/llm.c).
**
** Every answer kind through as_llm_complete; the choice among weighted
** alternatives (deterministic, independent of call order, following the
** weights over 10,000 sessions, every alternative reachable by some seed);
** the fallback from a call to the agent's default to the script's default
** to the "no answer" error; virtual time in the sim (a delay takes exactly
** its time while another task runs; past the request's timeout it ends at
** the timeout); the caps, in scripts and in providers; parse errors with
** their exact line and column; the canonical writer's round trip; every
** allocation failing in turn, with nothing leaked.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/fmt.h"
#include "agentsim/llm.h"
#include "agentsim/seam.h"
#include "sim.h"
#include "stub.h"

#define MS 1000000ull
#define SEC 1000000000ull

/* --- helpers ------------------------------------------------------------------- */

static as_stub_script *parse_ok(const char *text) {
  as_stub_script *s = NULL;
  as_stub_diag d;
  char msg[600];
  int rc = as_stub_script_parse(text, strlen(text), "t.stub", &s, &d);
  as_stub_diag_format(&d, msg, sizeof msg);
  if (rc != AS_OK) fail_msg("parse: %s: %s\n%s", as_status_name(rc), msg, text);
  assert_non_null(s);
  return s;
}

/* The script refused with rc at line:col, the message containing `what`. */
static void parse_bad(const char *text, int rc, unsigned line, unsigned col, const char *what) {
  as_stub_script *s = (as_stub_script *)1;
  as_stub_diag d;
  char msg[600];
  int got = as_stub_script_parse(text, strlen(text), "bad.stub", &s, &d);
  as_stub_diag_format(&d, msg, sizeof msg);
  if (got != rc || d.line != line || d.column != col || !strstr(d.message, what) ||
      strncmp(d.message, "expected ", 9) != 0)
    fail_msg("want %s at %u:%u with '%s', got %s: %s\n%s", as_status_name(rc), line, col, what,
             as_status_name(got), msg, text);
  assert_null(s);
  assert_string_equal(d.file, "bad.stub");
}

static as_llm_request req_of(const char *session, const char *agent, unsigned call,
                             unsigned attempt) {
  as_llm_request r;
  memset(&r, 0, sizeof r);
  r.session_id = session;
  r.agent = agent;
  r.call = call;
  r.attempt = attempt;
  return r;
}

/* One call of the stub on s with seed; the status. */
static int ask(const as_stub_script *s, uint64_t seed, const as_llm_request *req,
               as_llm_response *out, as_llm_error *err) {
  as_llm llm;
  assert_int_equal(as_stub_llm_new(&llm, s, seed), AS_OK);
  int rc = as_llm_complete(&llm, req, out, err);
  as_llm_destroy(&llm);
  assert_null(llm.vt);
  return rc;
}

/* The text an (agent, call, attempt) of session gets, as an owned copy. */
static char *text_for(const as_stub_script *s, uint64_t seed, const char *session,
                      const char *agent, unsigned call, unsigned attempt) {
  as_llm_request req = req_of(session, agent, call, attempt);
  as_llm_response out;
  as_llm_error err;
  int rc = ask(s, seed, &req, &out, &err);
  if (rc != AS_OK) fail_msg("%s call %u: %s %s", agent, call, as_status_name(rc), err.message);
  char *t = out.text ? strdup(out.text) : strdup("(none)");
  as_llm_response_clear(&out);
  return t;
}

static void expect_text(const as_stub_script *s, const char *agent, unsigned call,
                        unsigned attempt, const char *want) {
  char *t = text_for(s, 1, "s", agent, call, attempt);
  assert_string_equal(t, want);
  free(t);
}

/* --- every answer kind ------------------------------------------------------------ */

static void test_text(void **state) {
  (void)state;
  as_stub_script *s = parse_ok("agent a\n"
                               "    call 1\n"
                               "        text \"first line\"\n"
                               "        text \"second \\\"quoted\\\" \\u00e9\\n\"  # a comment\n");
  as_llm_request req = req_of("s1", "a", 1, 1);
  as_llm_message m = {AS_LLM_USER, "0123456789abcdef", NULL, 0, NULL};
  as_llm_tool tool = {"kb:search", "search", "{\"type\":\"object\"}"};
  req.msgs = &m;
  req.nmsgs = 1;
  req.tools = &tool;
  req.ntools = 1;
  as_llm_response out;
  as_llm_error err;
  assert_int_equal(ask(s, 1, &req, &out, &err), AS_OK);
  assert_string_equal(out.text, "first line\nsecond \"quoted\" \xc3\xa9\n");
  assert_int_equal(out.ncalls, 0);
  assert_null(out.calls);
  assert_null(out.structured);
  assert_int_equal(out.finish, AS_LLM_FINISH_STOP);
  assert_int_equal(err.kind, AS_LLM_ERR_NONE);
  /* Derived usage: a token per four bytes, rounded up. In: 16 + 9 + 6 + 17. */
  assert_int_equal(out.usage.input_tokens, (16 + 9 + 6 + 17 + 3) / 4);
  assert_int_equal(out.usage.cache_read_tokens, 0);
  assert_int_equal(out.usage.output_tokens, (strlen(out.text) + 3) / 4);
  as_llm_response_clear(&out);
  as_llm_response_clear(&out); /* a cleared response clears again */
  as_llm_response_clear(NULL);
  as_stub_script_free(s);
  as_stub_script_free(NULL);
}

static void test_tools(void **state) {
  (void)state;
  as_stub_script *s = parse_ok("agent a\n"
                               "  call 4\n"
                               "    tool kb:search {\"q\": \"x\", \"n\": [1, {\"k\": \"#}\"}]}\n"
                               "    text \"looking\"\n"
                               "    tool files.v2:read-all {}\n");
  as_llm_request req = req_of("s1", "a", 4, 2);
  as_llm_message prior = {AS_LLM_ASSISTANT, NULL, NULL, 0, NULL};
  as_llm_tool_call pc = {"call_1_1", "kb:search", (char *)"{}"};
  prior.calls = &pc;
  prior.ncalls = 1;
  as_llm_message tool_msg = {AS_LLM_TOOL, "{\"hits\":[]}", NULL, 0, "call_1_1"};
  as_llm_message msgs[2] = {prior, tool_msg};
  req.msgs = msgs;
  req.nmsgs = 2;
  as_llm_response out;
  as_llm_error err;
  assert_int_equal(ask(s, 1, &req, &out, &err), AS_OK);
  assert_string_equal(out.text, "looking");
  assert_int_equal(out.ncalls, 2);
  assert_string_equal(out.calls[0].id, "call_4_1");
  assert_string_equal(out.calls[0].name, "kb:search");
  assert_string_equal(out.calls[0].args, "{\"q\": \"x\", \"n\": [1, {\"k\": \"#}\"}]}");
  assert_string_equal(out.calls[1].id, "call_4_2");
  assert_string_equal(out.calls[1].name, "files.v2:read-all");
  assert_string_equal(out.calls[1].args, "{}");
  assert_int_equal(out.finish, AS_LLM_FINISH_TOOL_CALLS);
  /* In: 9 + 2 (the call) + 11 + 8 (the result and its id). */
  assert_int_equal(out.usage.input_tokens, (9 + 2 + 11 + 8 + 3) / 4);
  size_t outb = strlen(out.text);
  for (size_t i = 0; i < out.ncalls; i++) outb += strlen(out.calls[i].name) + strlen(out.calls[i].args);
  assert_int_equal(out.usage.output_tokens, (outb + 3) / 4);
  as_llm_response_clear(&out);
  as_stub_script_free(s);
}

#define ENV "{\"content\": \"ok\", \"confidence\": 0.9, \"rationale\": \"r\"}"
#define ENV_Q "{\\\"content\\\": \\\"ok\\\"}"

static void test_envelopes(void **state) {
  (void)state;
  as_stub_script *s = parse_ok("agent a\n"
                               "    call 1\n"
                               "        envelope " ENV "\n"
                               "    call 2\n"
                               "        text \"with prose\"\n"
                               "        envelope in=structured " ENV "\n"
                               "    call 3\n"
                               "        envelope in=message " ENV "\n"
                               "    call 4\n"
                               "        text \"Before.\"\n"
                               "        envelope in=fence " ENV "\n"
                               "        text \"After.\"\n"
                               "    call 5\n"
                               "        envelope in=fence " ENV "\n"
                               "    call 6\n"
                               "        envelope in=prose " ENV "\n"
                               "    call 7\n"
                               "        text \"I think\"\n"
                               "        envelope in=prose " ENV "\n"
                               "    call 8\n"
                               "        envelope in=prose " ENV "\n"
                               "        text \"is it.\"\n"
                               "    call 9\n"
                               "        text \"\"\n"
                               "        envelope in=fence " ENV "\n");
  as_llm_request req = req_of("s", "a", 1, 1);
  as_llm_response out;
  as_llm_error err;
  assert_int_equal(ask(s, 1, &req, &out, &err), AS_OK);
  assert_null(out.text);
  assert_string_equal(out.structured, ENV);
  assert_int_equal(out.finish, AS_LLM_FINISH_STOP);
  assert_int_equal(out.usage.output_tokens, (strlen(ENV) + 3) / 4);
  as_llm_response_clear(&out);
  req.call = 2;
  assert_int_equal(ask(s, 1, &req, &out, &err), AS_OK);
  assert_string_equal(out.text, "with prose");
  assert_string_equal(out.structured, ENV);
  as_llm_response_clear(&out);
  as_stub_script_free(s);
  /* The message forms: text only. */
  s = parse_ok("agent a\n"
               "    call 3\n"
               "        envelope in=message " ENV "\n"
               "    call 4\n"
               "        text \"Before.\"\n"
               "        envelope in=fence " ENV "\n"
               "        text \"After.\"\n"
               "    call 5\n"
               "        envelope in=fence " ENV "\n"
               "    call 6\n"
               "        envelope in=prose " ENV "\n"
               "    call 7\n"
               "        text \"I think\"\n"
               "        envelope in=prose " ENV "\n"
               "    call 8\n"
               "        envelope in=prose " ENV "\n"
               "        text \"is it.\"\n"
               "    call 9\n"
               "        text \"\"\n"
               "        envelope in=fence " ENV "\n");
  expect_text(s, "a", 3, 1, ENV);
  expect_text(s, "a", 4, 1, "Before.\n\n```json\n" ENV "\n```\n\nAfter.");
  expect_text(s, "a", 5, 1, "Here is my answer:\n\n```json\n" ENV "\n```");
  expect_text(s, "a", 6, 1, "Here is my answer: " ENV " I hope this helps.");
  expect_text(s, "a", 7, 1, "I think " ENV);
  expect_text(s, "a", 8, 1, ENV " is it.");
  expect_text(s, "a", 9, 1, "```json\n" ENV "\n```");
  req.call = 4;
  assert_int_equal(ask(s, 1, &req, &out, &err), AS_OK);
  assert_null(out.structured);
  as_llm_response_clear(&out);
  as_stub_script_free(s);
}

static void test_truncated_and_finish(void **state) {
  (void)state;
  as_stub_script *s = parse_ok("agent a\n"
                               "    call 1\n"
                               "        text \"0123456789\"\n"
                               "        truncated\n"
                               "    call 2\n"
                               "        text \"0123456789\"\n"
                               "        truncated at=3\n"
                               "    call 3\n"
                               "        text \"ab\\u00e9cd\"\n" /* a b c3 a9 c d: 6 bytes */
                               "        truncated\n"        /* 3 is inside the é: back to 2 */
                               "    call 4\n"
                               "        envelope in=message " ENV "\n"
                               "        truncated at=0\n"
                               "    call 5\n"
                               "        text \"blocked\"\n"
                               "        finish content_filter\n"
                               "    call 6\n"
                               "        tool kb:search {}\n"
                               "        finish stop\n");
  as_llm_request req = req_of("s", "a", 1, 1);
  as_llm_response out;
  as_llm_error err;
  const char *want[] = {"01234", "012", "ab", ""};
  for (unsigned c = 1; c <= 4; c++) {
    req.call = c;
    assert_int_equal(ask(s, 1, &req, &out, &err), AS_OK);
    assert_string_equal(out.text, want[c - 1]);
    assert_int_equal(out.finish, AS_LLM_FINISH_LENGTH);
    as_llm_response_clear(&out);
  }
  req.call = 5;
  assert_int_equal(ask(s, 1, &req, &out, &err), AS_OK);
  assert_int_equal(out.finish, AS_LLM_FINISH_CONTENT_FILTER);
  as_llm_response_clear(&out);
  req.call = 6;
  assert_int_equal(ask(s, 1, &req, &out, &err), AS_OK);
  assert_int_equal(out.finish, AS_LLM_FINISH_STOP);
  assert_int_equal(out.ncalls, 1);
  as_llm_response_clear(&out);
  as_stub_script_free(s);
}

static void test_usage(void **state) {
  (void)state;
  as_stub_script *s = parse_ok("agent a\n"
                               "    call 1\n"
                               "        text \"0123456789abcdef0123\"\n" /* 20 bytes: 5 tokens */
                               "        usage input=100 cached=30 output=7 reasoning=2\n"
                               "    call 2\n"
                               "        text \"0123456789abcdef0123\"\n"
                               "        usage cached=1 reasoning=2\n"
                               "    call 3\n"
                               "        text \"0123456789abcdef0123\"\n"
                               "        usage cached=1000 reasoning=1000\n");
  as_llm_request req = req_of("s", "a", 1, 1);
  as_llm_message m = {AS_LLM_SYSTEM, "0123456789abcdef0123456789abcdef", NULL, 0, NULL};
  req.msgs = &m;
  req.nmsgs = 1; /* 32 bytes: 8 tokens */
  as_llm_response out;
  as_llm_error err;
  assert_int_equal(ask(s, 1, &req, &out, &err), AS_OK);
  assert_int_equal(out.usage.input_tokens, 100);
  assert_int_equal(out.usage.cache_read_tokens, 30);
  assert_int_equal(out.usage.output_tokens, 9);
  as_llm_response_clear(&out);
  /* Derived buckets stay exclusive of the given ones. */
  req.call = 2;
  assert_int_equal(ask(s, 1, &req, &out, &err), AS_OK);
  assert_int_equal(out.usage.input_tokens, 7);
  assert_int_equal(out.usage.cache_read_tokens, 1);
  assert_int_equal(out.usage.output_tokens, 5);
  as_llm_response_clear(&out);
  req.call = 3;
  assert_int_equal(ask(s, 1, &req, &out, &err), AS_OK);
  assert_int_equal(out.usage.input_tokens, 0);
  assert_int_equal(out.usage.output_tokens, 1000); /* reasoning is billed as output */
  as_llm_response_clear(&out);
  as_stub_script_free(s);
}

/* What a provider reports, inclusively, converted at the edge. */
static int64_t edge_calls;
static int counting_edge(int64_t prompt, int64_t cache_read, int64_t cache_write,
                         int64_t completion, as_llm_usage *out) {
  edge_calls++;
  if (prompt > 1000000) return AS_PARSE; /* refuses what it cannot convert */
  out->input_tokens = prompt - cache_read - cache_write;
  out->cache_read_tokens = cache_read;
  out->cache_write_tokens = cache_write;
  out->output_tokens = completion;
  return AS_OK;
}

static void test_usage_inclusive(void **state) {
  (void)state;
  as_stub_script *s = parse_ok("model m-1\n"
                               "agent a\n"
                               "    call 1\n"
                               "        text \"0123456789abcdef0123\"\n"
                               "        usage prompt=100 cache_read=30 cache_write=20 completion=9\n"
                               "    call 2\n"
                               "        text \"0123456789abcdef0123\"\n"
                               "        usage cache_read=1\n"
                               "    call 3\n"
                               "        text \"0123456789abcdef0123\"\n"
                               "        usage cache_read=40 cache_write=1\n"
                               "    call 4\n"
                               "        text \"x\"\n"
                               "        usage none\n"
                               "    call 5\n"
                               "        text \"x\"\n"
                               "        usage prompt=2000000\n");
  as_llm llm;
  assert_int_equal(as_stub_llm_new(&llm, s, 1), AS_OK);
  assert_string_equal(llm.model, "m-1");
  as_llm_request req = req_of("s", "a", 1, 1);
  as_llm_message m = {AS_LLM_SYSTEM, "0123456789abcdef0123456789abcdef", NULL, 0, NULL};
  req.msgs = &m;
  req.nmsgs = 1; /* 32 bytes: 8 tokens */
  as_llm_response out;
  as_llm_error err;
  /* The stub's own edge. */
  assert_int_equal(as_llm_complete(&llm, &req, &out, &err), AS_OK);
  assert_true(out.usage_known);
  assert_int_equal(out.usage.input_tokens, 50);
  assert_int_equal(out.usage.cache_read_tokens, 30);
  assert_int_equal(out.usage.cache_write_tokens, 20);
  assert_int_equal(out.usage.output_tokens, 9);
  as_llm_response_clear(&out);
  /* The edge handed in. */
  as_stub_llm_set_edge(&llm, counting_edge);
  edge_calls = 0;
  req.call = 2; /* a derived prompt (8 tokens) holds the cache read; completion 5 */
  assert_int_equal(as_llm_complete(&llm, &req, &out, &err), AS_OK);
  assert_int_equal(edge_calls, 1);
  assert_int_equal(out.usage.input_tokens, 7);
  assert_int_equal(out.usage.cache_read_tokens, 1);
  assert_int_equal(out.usage.output_tokens, 5);
  as_llm_response_clear(&out);
  req.call = 3; /* a derived prompt is never below what is cached */
  assert_int_equal(as_llm_complete(&llm, &req, &out, &err), AS_OK);
  assert_int_equal(out.usage.input_tokens, 0);
  assert_int_equal(out.usage.cache_read_tokens, 40);
  assert_int_equal(out.usage.cache_write_tokens, 1);
  as_llm_response_clear(&out);
  req.call = 4; /* a stream that ended without usage */
  assert_int_equal(as_llm_complete(&llm, &req, &out, &err), AS_OK);
  assert_false(out.usage_known);
  assert_int_equal(out.usage.input_tokens + out.usage.output_tokens, 0);
  assert_int_equal(edge_calls, 2);
  as_llm_response_clear(&out);
  req.call = 5; /* the edge refuses: malformed */
  assert_int_equal(as_llm_complete(&llm, &req, &out, &err), AS_PARSE);
  assert_int_equal(err.kind, AS_LLM_ERR_MALFORMED);
  assert_non_null(strstr(err.message, "prompt 2000000"));
  as_llm_destroy(&llm);
  as_stub_llm_set_edge(NULL, counting_edge); /* a no-op */
  as_stub_script_free(s);
  s = parse_ok("default\n  text \"x\"\n");
  assert_string_equal(as_stub_script_model(s), AS_STUB_MODEL_DEFAULT);
  assert_string_equal(as_stub_script_model(NULL), AS_STUB_MODEL_DEFAULT);
  as_stub_script_free(s);
}

static void expect_error(const as_stub_script *s, unsigned call, int rc, as_llm_error_kind kind,
                         int http, uint64_t retry, const char *msg) {
  as_llm_request req = req_of("s", "a", call, 1);
  as_llm_response out;
  as_llm_error err;
  assert_int_equal(ask(s, 1, &req, &out, &err), rc);
  assert_int_equal(err.kind, kind);
  assert_int_equal(err.http_status, http);
  assert_true(err.retry_after_ns == retry);
  assert_string_equal(err.message, msg);
  assert_null(out.text);
  assert_null(out.calls);
  assert_null(out.structured);
  assert_int_equal(out.ncalls, 0);
}

static void test_errors(void **state) {
  (void)state;
  as_stub_script *s = parse_ok("agent a\n"
                               "    call 1\n"
                               "        refusal\n"
                               "    call 2\n"
                               "        refusal \"no way\"\n"
                               "    call 3 delay=0s\n"
                               "        timeout\n"
                               "    call 4 delay=0s\n"
                               "        timeout \"too slow\"\n"
                               "    call 5\n"
                               "        rate_limited\n"
                               "    call 6\n"
                               "        rate_limited retry_after=2500ms \"slow down\"\n"
                               "    call 7\n"
                               "        rate_limited retry_after=0s\n"
                               "    call 8\n"
                               "        server_error\n"
                               "    call 9\n"
                               "        server_error status=503 \"overloaded\"\n"
                               "    call 10\n"
                               "        malformed\n"
                               "    call 11\n"
                               "        malformed \"{\\\"content\\\": [1,\"\n");
  expect_error(s, 1, AS_INVAL, AS_LLM_ERR_REFUSAL, 0, 0, "the model refused to answer");
  expect_error(s, 2, AS_INVAL, AS_LLM_ERR_REFUSAL, 0, 0, "no way");
  expect_error(s, 3, AS_TIMEDOUT, AS_LLM_ERR_TIMEOUT, 0, 0, "the model did not answer in time");
  expect_error(s, 4, AS_TIMEDOUT, AS_LLM_ERR_TIMEOUT, 0, 0, "too slow");
  expect_error(s, 5, AS_BUSY, AS_LLM_ERR_RATE_LIMITED, 429, SEC, "rate limited");
  expect_error(s, 6, AS_BUSY, AS_LLM_ERR_RATE_LIMITED, 429, 2500 * MS, "slow down");
  expect_error(s, 7, AS_BUSY, AS_LLM_ERR_RATE_LIMITED, 429, 0, "rate limited");
  expect_error(s, 8, AS_IO, AS_LLM_ERR_SERVER, 500, 0, "server error");
  expect_error(s, 9, AS_IO, AS_LLM_ERR_SERVER, 503, 0, "overloaded");
  expect_error(s, 10, AS_PARSE, AS_LLM_ERR_MALFORMED, 0, 0, "{\"content\": \"the answer stops here");
  expect_error(s, 11, AS_PARSE, AS_LLM_ERR_MALFORMED, 0, 0, "{\"content\": [1,");
  as_stub_script_free(s);
}

/* --- which block answers ----------------------------------------------------------------- */

static void test_fallback(void **state) {
  (void)state;
  as_stub_script *s = parse_ok("agent a\n"
                               "    call 2 attempt=3\n"
                               "        text \"a 2/3\"\n"
                               "    call 2\n"
                               "        text \"a 2/any\"\n"
                               "    call * attempt=3\n"
                               "        text \"a any/3\"\n"
                               "    default\n"
                               "        text \"a default\"\n"
                               "agent b\n"
                               "    call 1\n"
                               "        text \"b 1\"\n"
                               "default\n"
                               "    text \"script default\"\n"
                               "agent a\n" /* an agent may come back */
                               "    call 9\n"
                               "        text \"a 9\"\n");
  expect_text(s, "a", 2, 3, "a 2/3");
  expect_text(s, "a", 2, 1, "a 2/any");
  expect_text(s, "a", 2, 4, "a 2/any");
  expect_text(s, "a", 1, 3, "a any/3");
  expect_text(s, "a", 5, 3, "a any/3");
  expect_text(s, "a", 1, 1, "a default");
  expect_text(s, "a", 9, 1, "a 9");
  expect_text(s, "b", 1, 7, "b 1");
  expect_text(s, "b", 2, 1, "script default");
  expect_text(s, "c", 1, 1, "script default");
  as_stub_script_free(s);

  /* Without a default: the scenario bug is reported, not hidden. */
  s = parse_ok("agent b\n    call 1\n        text \"b 1\"\n");
  as_llm_request req = req_of("s", "planner", 3, 1);
  as_llm_response out;
  as_llm_error err;
  assert_int_equal(ask(s, 1, &req, &out, &err), AS_IO);
  assert_int_equal(err.kind, AS_LLM_ERR_SERVER);
  assert_string_equal(err.message, "the script has no answer for planner call 3");
  req = req_of(NULL, "b", 2, 1);
  assert_int_equal(ask(s, 1, &req, &out, &err), AS_IO);
  assert_string_equal(err.message, "the script has no answer for b call 2");
  /* A bad request. */
  req = req_of("s", NULL, 1, 1);
  assert_int_equal(ask(s, 1, &req, &out, &err), AS_INVAL);
  assert_int_equal(err.kind, AS_LLM_ERR_NONE);
  req = req_of("s", "b", 0, 1);
  assert_int_equal(ask(s, 1, &req, &out, &err), AS_INVAL);
  req = req_of("s", "b", 1, 0);
  assert_int_equal(ask(s, 1, &req, &out, &err), AS_INVAL);
  as_llm llm;
  assert_int_equal(as_stub_llm_new(&llm, NULL, 1), AS_INVAL);
  assert_null(llm.vt);
  assert_int_equal(as_stub_llm_new(NULL, s, 1), AS_INVAL);
  as_stub_script_free(s);
}

/* --- alternatives ---------------------------------------------------------------------- */

static const char alts_script[] = "agent a\n"
                                  "    call 1\n"
                                  "        alt weight=1\n"
                                  "            text \"A\"\n"
                                  "        alt weight=3\n"
                                  "            text \"B\"\n"
                                  "        alt weight=6\n"
                                  "            text \"C\"\n"
                                  "    call 2\n"
                                  "        alt\n"
                                  "            text \"x\"\n"
                                  "        alt\n"
                                  "            text \"y\"\n";

static unsigned pick_of(const as_stub_script *s, uint64_t seed, const char *session, unsigned call,
                        unsigned attempt) {
  char *t = text_for(s, seed, session, "a", call, attempt);
  unsigned k = (unsigned)(t[0] == 'x' || t[0] == 'y' ? t[0] - 'x' : t[0] - 'A');
  free(t);
  return k;
}

static void test_alternatives_distribution(void **state) {
  (void)state;
  as_stub_script *s = parse_ok(alts_script);
  unsigned count[3] = {0, 0, 0};
  char sid[32];
  for (unsigned i = 0; i < 10000; i++) {
    snprintf(sid, sizeof sid, "session-%u", i);
    count[pick_of(s, 42, sid, 1, 1)]++;
  }
  /* Expected 1000, 3000, 6000; five standard deviations is under 250. */
  assert_in_range(count[0], 750, 1250);
  assert_in_range(count[1], 2750, 3250);
  assert_in_range(count[2], 5750, 6250);
  /* Over seeds, for one session, likewise: every alternative is reachable. */
  memset(count, 0, sizeof count);
  for (uint64_t seed = 0; seed < 2000; seed++) count[pick_of(s, seed, "one", 1, 1)]++;
  assert_in_range(count[0], 100, 300);
  assert_in_range(count[1], 450, 750);
  assert_in_range(count[2], 1000, 1400);
  /* Attempts choose afresh: some session's retry answers differently. */
  unsigned differ = 0;
  for (unsigned i = 0; i < 100; i++) {
    snprintf(sid, sizeof sid, "s%u", i);
    differ += pick_of(s, 5, sid, 2, 1) != pick_of(s, 5, sid, 2, 2);
  }
  assert_in_range(differ, 25, 75);
  as_stub_script_free(s);
}

static void test_alternatives_deterministic(void **state) {
  (void)state;
  as_stub_script *s = parse_ok(alts_script);
  /* The same key answers the same, from a fresh provider or the same one, in
  ** any order of calls. */
  unsigned fwd[64], back[64];
  char sid[32];
  for (unsigned i = 0; i < 64; i++) {
    snprintf(sid, sizeof sid, "s%u", i % 8);
    fwd[i] = pick_of(s, 99, sid, 1 + i / 32, 1 + (i / 8) % 4);
  }
  for (unsigned i = 64; i-- > 0;) {
    snprintf(sid, sizeof sid, "s%u", i % 8);
    back[i] = pick_of(s, 99, sid, 1 + i / 32, 1 + (i / 8) % 4);
  }
  assert_memory_equal(fwd, back, sizeof fwd);
  as_llm llm;
  assert_int_equal(as_stub_llm_new(&llm, s, 99), AS_OK);
  for (unsigned i = 0; i < 64; i += 7) {
    snprintf(sid, sizeof sid, "s%u", i % 8);
    as_llm_request req = req_of(sid, "a", 1 + i / 32, 1 + (i / 8) % 4);
    as_llm_response out;
    as_llm_error err;
    assert_int_equal(as_llm_complete(&llm, &req, &out, &err), AS_OK);
    unsigned k = (unsigned)(out.text[0] == 'x' || out.text[0] == 'y' ? out.text[0] - 'x'
                                                                      : out.text[0] - 'A');
    assert_int_equal(k, fwd[i]);
    as_llm_response_clear(&out);
  }
  as_llm_destroy(&llm);
  as_llm_destroy(&llm); /* destroyed: a no-op */
  as_llm_destroy(NULL);
  /* The key is the whole key: the seed, the session, the call all matter. */
  unsigned by_seed = 0, by_session = 0, by_call = 0;
  for (unsigned i = 0; i < 50; i++) {
    snprintf(sid, sizeof sid, "k%u", i);
    unsigned base = pick_of(s, 1, sid, 2, 1);
    by_seed += base != pick_of(s, 2, sid, 2, 1);
    snprintf(sid, sizeof sid, "k%u", i + 1000);
    by_session += base != pick_of(s, 1, sid, 2, 1);
  }
  for (unsigned i = 0; i < 50; i++) by_call += pick_of(s, 1, "k", 2, 1) != pick_of(s, 1, "k", 2, 1);
  assert_true(by_seed > 5 && by_session > 5);
  assert_int_equal(by_call, 0);
  as_stub_script_free(s);
}

/* --- tool results ------------------------------------------------------------------------ */

static void test_tool_results(void **state) {
  (void)state;
  as_stub_script *s = parse_ok("result kb:fetch {\"body\": \"any call\"}\n"
                               "result kb:fetch call=2 [\"second\"]\n"
                               "result kb:search\n"
                               "    alt weight=3 {\"hits\": 0}\n"
                               "    alt {\"hits\": 1}\n");
  char *r = NULL;
  assert_int_equal(as_stub_tool_result(s, 1, "s", "kb:fetch", 1, &r), AS_OK);
  assert_string_equal(r, "{\"body\": \"any call\"}");
  as_free(r);
  assert_int_equal(as_stub_tool_result(s, 1, NULL, "kb:fetch", 2, &r), AS_OK);
  assert_string_equal(r, "[\"second\"]");
  as_free(r);
  assert_int_equal(as_stub_tool_result(s, 1, "s", "kb:fetch", 3, &r), AS_OK);
  assert_string_equal(r, "{\"body\": \"any call\"}");
  as_free(r);
  unsigned zero = 0;
  char sid[32];
  for (unsigned i = 0; i < 4000; i++) {
    snprintf(sid, sizeof sid, "t%u", i);
    assert_int_equal(as_stub_tool_result(s, 3, sid, "kb:search", 1, &r), AS_OK);
    zero += strcmp(r, "{\"hits\": 0}") == 0;
    as_free(r);
  }
  assert_in_range(zero, 2800, 3200);
  /* Pure: the same key, the same result. */
  char *r2 = NULL;
  assert_int_equal(as_stub_tool_result(s, 8, "x", "kb:search", 4, &r), AS_OK);
  assert_int_equal(as_stub_tool_result(s, 8, "x", "kb:search", 4, &r2), AS_OK);
  assert_string_equal(r, r2);
  as_free(r);
  as_free(r2);
  assert_int_equal(as_stub_tool_result(s, 1, "s", "kb:other", 1, &r), AS_NOTFOUND);
  assert_null(r);
  assert_int_equal(as_stub_tool_result(s, 1, "s", "kb:fetch", 0, &r), AS_INVAL);
  assert_int_equal(as_stub_tool_result(s, 1, "s", NULL, 1, &r), AS_INVAL);
  assert_int_equal(as_stub_tool_result(NULL, 1, "s", "kb:fetch", 1, &r), AS_INVAL);
  assert_int_equal(as_stub_tool_result(s, 1, "s", "kb:fetch", 1, NULL), AS_INVAL);
  as_stub_script_free(s);
}

static void round_trip(const as_stub_script *s);

/* A tool's server failing: fail=KIND on a result line or its alts. */
static void test_tool_failures(void **state) {
  (void)state;
  as_stub_script *s = parse_ok("result kb:fetch call=1 fail=io\n"
                               "result kb:fetch call=2 fail=timeout\n"
                               "result kb:fetch call=3 fail=busy\n"
                               "result kb:fetch call=4 fail=invalid\n"
                               "result kb:fetch call=5 fail=other\n"
                               "result kb:fetch {\"ok\": 1}\n"
                               "result kb:search\n"
                               "    alt weight=3 {\"hits\": 0}\n"
                               "    alt fail=timeout\n");
  static const int want[] = {AS_IO, AS_TIMEDOUT, AS_BUSY, AS_INVAL, AS_INTERNAL};
  char *r = (char *)1;
  for (unsigned n = 1; n <= 5; n++) {
    assert_int_equal(as_stub_tool_result(s, 1, "s", "kb:fetch", n, &r), want[n - 1]);
    assert_null(r);
  }
  assert_int_equal(as_stub_tool_result(s, 1, "s", "kb:fetch", 6, &r), AS_OK);
  assert_string_equal(r, "{\"ok\": 1}");
  as_free(r);
  unsigned failed = 0;
  char sid[32];
  for (unsigned i = 0; i < 4000; i++) {
    snprintf(sid, sizeof sid, "t%u", i);
    int rc = as_stub_tool_result(s, 3, sid, "kb:search", 1, &r);
    assert_true(rc == AS_OK || rc == AS_TIMEDOUT);
    failed += rc == AS_TIMEDOUT;
    as_free(r);
  }
  assert_in_range(failed, 800, 1200);
  round_trip(s);
  as_stub_script_free(s);
  parse_bad("result kb:x fail=io {}\n", AS_PARSE, 1, 21, "nothing after fail=io");
  parse_bad("result kb:x fail=slow\n", AS_PARSE, 1, 18, "fail=io, timeout, busy, invalid or other, found 'slow'");
  parse_bad("result kb:x\n    alt fail=io {}\n", AS_PARSE, 2, 17, "nothing after fail=io");
  parse_bad("result kb:x\n    alt fail=\n", AS_PARSE, 2, 14, "a value after 'fail='");
  parse_bad("result kb:x fail=io fail=busy\n", AS_PARSE, 1, 21, "one fail= on a line");
  parse_bad("agent a\n    call 1\n        text \"x\"\nresult kb:x call=0 fail=io\n", AS_PARSE, 4, 18,
            "call: a number from 1");
}

/* retry=N: the run of the session's retry N (the request says which; 0 the first). */
static void test_runs(void **state) {
  (void)state;
  as_stub_script *s = parse_ok("agent a\n"
                               "    call 1 retry=0\n        text \"first\"\n"
                               "    call 1 attempt=2 retry=1\n        text \"retry 1, tried again\"\n"
                               "    call * retry=2\n        text \"retry 2, any call\"\n"
                               "    call 1\n        text \"later\"\n"
                               "    default\n        text \"more\"\n");
  struct { unsigned call, attempt, retry; const char *want; } steps[] = {
      {1, 1, 0, "first"}, {2, 1, 0, "more"}, {1, 2, 0, "first"},
      {1, 1, 1, "later"}, {1, 2, 1, "retry 1, tried again"},
      {1, 1, 2, "later"}, {2, 1, 2, "retry 2, any call"}, /* call 1 first, then call * */
      {1, 1, 3, "later"}, {2, 1, 3, "more"}, {2, 1, 5000, "more"},
  };
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
    as_llm_request req = req_of("s", "a", steps[i].call, steps[i].attempt);
    req.retry = steps[i].retry;
    as_llm_response out;
    as_llm_error err;
    assert_int_equal(ask(s, 1, &req, &out, &err), AS_OK);
    if (!out.text || strcmp(out.text, steps[i].want) != 0)
      fail_msg("step %zu: '%s', want '%s'", i, out.text ? out.text : "(none)", steps[i].want);
    as_llm_response_clear(&out);
  }
  round_trip(s);
  as_stub_script_free(s);
  parse_bad("agent a\n    call 1 retry=1001\n        text \"x\"\n", AS_PARSE, 2, 18, "retry: a number from 0 to 1000");
  parse_bad("agent a\n    call 1 retry=1\n        text \"x\"\n    call 1 retry=1\n        text \"y\"\n",
            AS_PARSE, 4, 5, "one block for this agent, call and attempt");
  parse_bad("agent a\n    default retry=1\n        text \"x\"\n", AS_PARSE, 2, 13, "a key of default, found 'retry='");
}

/* --- caps ------------------------------------------------------------------------------- */

/* A script of `head`, then `line` n times, then `tail`: malloc'd. */
static char *repeat(const char *head, const char *line, unsigned n, const char *tail) {
  size_t hl = strlen(head), ll = strlen(line), tl = strlen(tail);
  char *b = malloc(hl + ll * n + tl + 1);
  assert_non_null(b);
  memcpy(b, head, hl);
  for (unsigned i = 0; i < n; i++) memcpy(b + hl + ll * i, line, ll);
  memcpy(b + hl + ll * n, tail, tl + 1);
  return b;
}

static void test_caps(void **state) {
  (void)state;
  char *t = repeat("default\n", "  tool a:b {}\n", AS_LLM_CALLS_MAX, "");
  as_stub_script *s = parse_ok(t);
  as_stub_script_free(s);
  free(t);
  t = repeat("default\n", "  tool a:b {}\n", AS_LLM_CALLS_MAX + 1, "");
  parse_bad(t, AS_TOOBIG, AS_LLM_CALLS_MAX + 2, 3, "at most 16 tool calls");
  free(t);
  /* A text: 65536 bytes pass, one more does not. */
  char *big = repeat("default\n  text \"", "A", AS_LLM_TEXT_MAX, "\"\n");
  s = parse_ok(big);
  as_stub_script_free(s);
  free(big);
  big = repeat("default\n  text \"", "A", AS_LLM_TEXT_MAX + 1, "\"\n");
  parse_bad(big, AS_TOOBIG, 2, 8, "a string of at most 65536 bytes");
  free(big);
  /* Lines that add up past the cap, and fence decoration that does. */
  char *half = repeat("  text \"", "A", AS_LLM_TEXT_MAX / 2, "\"\n");
  size_t hl = strlen(half);
  big = malloc(8 + 2 * hl + 1);
  assert_non_null(big);
  memcpy(big, "default\n", 8);
  memcpy(big + 8, half, hl);
  memcpy(big + 8 + hl, half, hl + 1);
  parse_bad(big, AS_TOOBIG, 3, 8, "an answer's text of at most 65536 bytes (this one renders to 65537)");
  free(big);
  free(half);
  big = repeat("default\n  text \"", "A", AS_LLM_TEXT_MAX - 10, "\"\n  envelope in=fence {}\n");
  parse_bad(big, AS_TOOBIG, 3, 21, "an answer's text of at most");
  free(big);
  /* Tool arguments: {"k":"AAA..."} of 65537 bytes. */
  big = repeat("default\n  tool a:b {\"k\":\"", "A", AS_LLM_ARGS_MAX - 8, "\"}\n");
  s = parse_ok(big);
  as_stub_script_free(s);
  free(big);
  big = repeat("default\n  tool a:b {\"k\":\"", "A", AS_LLM_ARGS_MAX - 7, "\"}\n");
  parse_bad(big, AS_TOOBIG, 2, 12, "tool arguments of at most 65536 bytes");
  free(big);
  /* Alternatives. */
  t = repeat("default\n", "  alt\n    text \"x\"\n", AS_STUB_ALTS_MAX, "");
  s = parse_ok(t);
  as_stub_script_free(s);
  free(t);
  t = repeat("default\n", "  alt\n    text \"x\"\n", AS_STUB_ALTS_MAX + 1, "");
  parse_bad(t, AS_TOOBIG, 2 * AS_STUB_ALTS_MAX + 2, 3, "at most 8 alternatives");
  free(t);
  /* Blocks: result lines are blocks too. */
  char *lines = malloc(64 * (AS_STUB_ENTRIES_MAX + 1));
  assert_non_null(lines);
  size_t n = 0, before_last = 0;
  for (unsigned i = 1; i <= AS_STUB_ENTRIES_MAX + 1; i++) {
    before_last = n;
    n += (size_t)snprintf(lines + n, 64, "result a:b call=%u {}\n", i);
  }
  parse_bad(lines, AS_TOOBIG, AS_STUB_ENTRIES_MAX + 1, 1, "at most 512 blocks");
  lines[before_last] = '\0';
  s = parse_ok(lines);
  as_stub_script_free(s);
  free(lines);
  /* An error's message fits the error. */
  t = repeat("default\n  refusal \"", "m", AS_LLM_ERROR_MAX - 1, "\"\n");
  s = parse_ok(t);
  as_stub_script_free(s);
  free(t);
  t = repeat("default\n  malformed \"", "m", AS_LLM_ERROR_MAX, "\"\n");
  parse_bad(t, AS_TOOBIG, 2, 13, "a string of at most 255 bytes");
  free(t);
  /* The file. */
  t = repeat("# padding\n", "#", AS_STUB_FILE_MAX, "\ndefault\n  text \"x\"\n");
  parse_bad(t, AS_TOOBIG, 1, 1, "a script of at most 262144 bytes");
  free(t);
  /* Bad calls. */
  as_stub_diag d;
  assert_int_equal(as_stub_script_parse("x", 1, NULL, NULL, &d), AS_INVAL);
  assert_int_equal(as_stub_script_parse(NULL, 1, NULL, &s, NULL), AS_INVAL);
  assert_null(s);
  assert_int_equal(as_stub_script_parse(NULL, 0, NULL, &s, &d), AS_PARSE);
  assert_string_equal(d.file, "(script)");
  assert_int_equal(as_stub_script_parse(NULL, 0, NULL, &s, NULL), AS_PARSE);
}

/* --- the checked call: a provider held to the contract ------------------------------------ */

static int fake_mode;
static int fake_destroyed;

static int fake_complete(void *self, const as_llm_request *req, as_llm_response *out,
                         as_llm_error *err) {
  (void)self;
  (void)req;
  static const char name[] = "a:b";
  switch (fake_mode) {
  case 0: /* too many calls */
  case 1: /* a call's arguments past the cap */
  case 2: /* no arguments */
  case 3: /* an unterminated id */
    out->ncalls = fake_mode == 0 ? AS_LLM_CALLS_MAX + 1 : 1;
    out->calls = as_calloc(out->ncalls, sizeof *out->calls);
    for (size_t i = 0; i < out->ncalls; i++) {
      memcpy(out->calls[i].name, name, sizeof name);
      memcpy(out->calls[i].id, "c", 2);
      out->calls[i].args = fake_mode == 2 ? NULL : as_calloc(1, AS_LLM_ARGS_MAX + 2);
      if (out->calls[i].args) memset(out->calls[i].args, '1', fake_mode == 1 ? AS_LLM_ARGS_MAX + 1 : 1);
    }
    if (fake_mode == 3) memset(out->calls[0].id, 'x', sizeof out->calls[0].id);
    return AS_OK;
  case 4: /* a text past the cap */
  case 5: /* structured output past the cap */
  case 6: /* exactly at the cap: fine */
    out->text = as_calloc(1, AS_LLM_TEXT_MAX + 2);
    memset(out->text, 'x', fake_mode == 6 ? AS_LLM_TEXT_MAX : AS_LLM_TEXT_MAX + 1);
    if (fake_mode == 5) {
      out->structured = out->text;
      out->text = NULL;
    }
    return AS_OK;
  case 7: /* a kind with AS_OK */
    err->kind = AS_LLM_ERR_TIMEOUT;
    return AS_OK;
  case 8: /* a typed status without its kind */
    return AS_BUSY;
  case 9: /* a kind with another status */
    err->kind = AS_LLM_ERR_REFUSAL;
    return AS_IO;
  case 10: /* an error with a response */
    err->kind = AS_LLM_ERR_SERVER;
    out->text = as_calloc(1, 4);
    return AS_IO;
  case 11: /* a kind out of range */
    err->kind = (as_llm_error_kind)99;
    return AS_IO;
  case 12: /* calls without their array */
    out->ncalls = 2;
    return AS_OK;
  case 13: /* a finish out of range */
    out->finish = (as_llm_finish)77;
    return AS_OK;
  case 14: /* kindless failures pass */
    return AS_NOMEM;
  case 15:
    err->kind = AS_LLM_ERR_RATE_LIMITED;
    err->retry_after_ns = 5;
    return AS_BUSY;
  case 16: /* an unterminated name */
    out->ncalls = 1;
    out->calls = as_calloc(1, sizeof *out->calls);
    out->calls[0].args = as_calloc(1, 3);
    memset(out->calls[0].name, 'n', sizeof out->calls[0].name);
    return AS_OK;
  case 18: /* kindless failures pass */
    return AS_TOOBIG;
  case 19:
    return AS_INVAL;
  case 20:
    return AS_INTERNAL;
  case 21: /* failures with parts of a response */
    err->kind = AS_LLM_ERR_SERVER;
    out->calls = as_calloc(1, sizeof *out->calls);
    return AS_IO;
  case 22:
    err->kind = AS_LLM_ERR_SERVER;
    out->ncalls = 1;
    return AS_IO;
  case 23:
    err->kind = AS_LLM_ERR_SERVER;
    out->structured = as_calloc(1, 2);
    return AS_IO;
  default: /* a status no provider returns */
    return AS_NOTFOUND;
  }
}

static void fake_destroy(void *self) {
  (void)self;
  fake_destroyed++;
}

static void test_llm_contract(void **state) {
  (void)state;
  static const as_llm_vtable vt = {"fake", fake_complete, fake_destroy};
  static const as_llm_vtable unnamed = {NULL, fake_complete, NULL};
  static const struct {
    int mode, rc;
    const char *msg;
  } cases[] = {
      {0, AS_TOOBIG, "provider fake answered 17 tool calls, more than 16"},
      {1, AS_TOOBIG, "provider fake answered tool call 1 with arguments past 65536 bytes"},
      {2, AS_INTERNAL, "provider fake answered tool call 1 without a name, id or arguments"},
      {3, AS_INTERNAL, "provider fake answered tool call 1 without a name, id or arguments"},
      {4, AS_TOOBIG, "provider fake answered a text past 65536 bytes"},
      {5, AS_TOOBIG, "provider fake answered a text past 65536 bytes"},
      {6, AS_OK, ""},
      {7, AS_INTERNAL, "provider fake answered with a typed error set"},
      {8, AS_INTERNAL, "provider fake failed with AS_BUSY without keeping the error contract"},
      {9, AS_INTERNAL, "provider fake failed with AS_IO without keeping the error contract"},
      {10, AS_INTERNAL, "provider fake failed with AS_IO without keeping the error contract"},
      {11, AS_INTERNAL, "provider fake failed with AS_IO without keeping the error contract"},
      {12, AS_INTERNAL, "provider fake answered a malformed response"},
      {13, AS_INTERNAL, "provider fake answered a malformed response"},
      {14, AS_NOMEM, ""},
      {15, AS_BUSY, ""},
      {16, AS_INTERNAL, "provider fake answered tool call 1 without a name, id or arguments"},
      {18, AS_TOOBIG, ""},
      {19, AS_INVAL, ""},
      {20, AS_INTERNAL, ""},
      {21, AS_INTERNAL, "provider fake failed with AS_IO without keeping the error contract"},
      {22, AS_INTERNAL, "provider fake failed with AS_IO without keeping the error contract"},
      {23, AS_INTERNAL, "provider fake failed with AS_IO without keeping the error contract"},
      {99, AS_INTERNAL, "provider fake failed with AS_NOTFOUND without keeping the error contract"},
  };
  as_llm llm = {&vt, NULL, 0, NULL};
  as_llm_request req = req_of("s", "a", 1, 1);
  as_llm_response out;
  as_llm_error err;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fake_mode = cases[i].mode;
    memset(&out, 0x5a, sizeof out); /* garbage in: zeroed first */
    memset(&err, 0x5a, sizeof err);
    int rc = as_llm_complete(&llm, &req, &out, &err);
    if (rc != cases[i].rc) fail_msg("mode %d: %s", fake_mode, as_status_name(rc));
    assert_string_equal(err.message, cases[i].msg);
    if (rc == AS_OK) {
      assert_int_equal(strlen(out.text), AS_LLM_TEXT_MAX);
      as_llm_response_clear(&out);
    }
    assert_null(out.text);
    assert_null(out.calls);
    assert_null(out.structured);
    assert_int_equal(out.ncalls, 0);
    if (rc != AS_BUSY) assert_int_equal(err.kind, AS_LLM_ERR_NONE);
  }
  assert_int_equal(err.kind, AS_LLM_ERR_NONE);
  fake_mode = 15;
  assert_int_equal(as_llm_complete(&llm, &req, &out, &err), AS_BUSY);
  assert_int_equal(err.kind, AS_LLM_ERR_RATE_LIMITED);
  assert_true(err.retry_after_ns == 5);
  fake_mode = 8;
  as_llm anon = {&unnamed, NULL, 0, NULL};
  assert_int_equal(as_llm_complete(&anon, &req, &out, &err), AS_INTERNAL);
  assert_string_equal(err.message, "provider ? failed with AS_BUSY without keeping the error contract");
  fake_mode = 7;
  assert_int_equal(as_llm_complete(&anon, &req, &out, &err), AS_INTERNAL);
  as_llm_destroy(&anon); /* no destroy hook */
  assert_null(anon.vt);
  /* Bad calls. */
  assert_int_equal(as_llm_complete(NULL, &req, &out, &err), AS_INVAL);
  assert_int_equal(as_llm_complete(&llm, NULL, &out, &err), AS_INVAL);
  assert_int_equal(as_llm_complete(&llm, &req, NULL, &err), AS_INVAL);
  assert_int_equal(as_llm_complete(&llm, &req, &out, NULL), AS_INVAL);
  as_llm none = {NULL, NULL, 0, NULL};
  assert_int_equal(as_llm_complete(&none, &req, &out, &err), AS_INVAL);
  static const as_llm_vtable nocall = {"nocall", NULL, NULL};
  as_llm nc = {&nocall, NULL, 0, NULL};
  assert_int_equal(as_llm_complete(&nc, &req, &out, &err), AS_INVAL);
  req.nmsgs = AS_LLM_MESSAGES_MAX + 1;
  assert_int_equal(as_llm_complete(&llm, &req, &out, &err), AS_TOOBIG);
  req.nmsgs = 1;
  assert_int_equal(as_llm_complete(&llm, &req, &out, &err), AS_INVAL);
  req.nmsgs = 0;
  req.ntools = 1;
  assert_int_equal(as_llm_complete(&llm, &req, &out, &err), AS_INVAL);
  as_llm_destroy(&llm);
  assert_int_equal(fake_destroyed, 1);
  as_llm_destroy(&none);
}

static void test_names(void **state) {
  (void)state;
  assert_string_equal(as_llm_error_name(AS_LLM_ERR_NONE), "none");
  assert_string_equal(as_llm_error_name(AS_LLM_ERR_TIMEOUT), "timeout");
  assert_string_equal(as_llm_error_name(AS_LLM_ERR_RATE_LIMITED), "rate_limited");
  assert_string_equal(as_llm_error_name(AS_LLM_ERR_SERVER), "server_error");
  assert_string_equal(as_llm_error_name(AS_LLM_ERR_MALFORMED), "malformed_response");
  assert_string_equal(as_llm_error_name(AS_LLM_ERR_REFUSAL), "refusal");
  assert_string_equal(as_llm_error_name(AS__LLM_ERR_COUNT), "?");
  assert_string_equal(as_llm_error_name((as_llm_error_kind)-1), "?");
  assert_string_equal(as_llm_finish_name(AS_LLM_FINISH_STOP), "stop");
  assert_string_equal(as_llm_finish_name(AS_LLM_FINISH_TOOL_CALLS), "tool_calls");
  assert_string_equal(as_llm_finish_name(AS_LLM_FINISH_LENGTH), "length");
  assert_string_equal(as_llm_finish_name(AS_LLM_FINISH_CONTENT_FILTER), "content_filter");
  assert_string_equal(as_llm_finish_name(AS__LLM_FINISH_COUNT), "?");
  as_stub_diag d = {"f.stub", 3, 7, "expected x"};
  char buf[64];
  as_stub_diag_format(&d, buf, sizeof buf);
  assert_string_equal(buf, "f.stub:3:7: expected x");
  d.line = 0;
  as_stub_diag_format(&d, buf, sizeof buf);
  assert_string_equal(buf, "f.stub: expected x");
  as_stub_diag_format(NULL, buf, sizeof buf);
  assert_string_equal(buf, "");
  as_stub_diag_format(&d, NULL, 0);
  as_stub_diag_format(&d, buf, 0);
}

/* --- parse errors: where, and what was expected --------------------------------------------- */

static void round_trip(const as_stub_script *s);

/* "default\n  tool a:b " and an object holding arrays nested to depth. */
static void n_deep(char *buf, size_t cap, unsigned depth) {
  size_t n = (size_t)snprintf(buf, cap, "default\n  tool a:b {\"k\":");
  for (unsigned i = 1; i < depth && n + 2 < cap; i++) buf[n++] = '[';
  for (unsigned i = 1; i < depth && n + 2 < cap; i++) buf[n++] = ']';
  snprintf(buf + n, cap - n, "}\n");
}

static void test_parse_errors(void **state) {
  (void)state;
  static const struct {
    const char *text;
    int rc;
    unsigned line, col;
    const char *what;
  } cases[] = {
      {"agent a\n    call 1\n        txt \"x\"\n", AS_PARSE, 3, 9, "under call, found 'txt'"},
      {"agent a\n  call 1\n    text \"abc\n", AS_PARSE, 3, 10, "a closing '\"'"},
      {"agent a\n  call 1\n    tool kb:x {\"a\": 1\n", AS_PARSE, 3, 15, "to close on the same line"},
      {"agent a\n  call 1\n    tool kb:x {\"a\":1,\"a\":2}\n", AS_PARSE, 3, 24,
       "valid JSON (duplicate object key"},
      {"agent a\n  call 1\n    tool kb:x {\"a\":tru}\n", AS_PARSE, 3, 22, "valid JSON (invalid token"},
      {"agent a\n    call 1\n        text \"x\"\n      text \"y\"\n", AS_PARSE, 4, 7,
       "the indentation of the lines above it under call (8 spaces)"},
      {"agent a\n\tcall 1\n", AS_PARSE, 2, 1, "only spaces to indent (found byte 0x09)"},
      {"agnet a\n", AS_PARSE, 1, 1, "agent, default, result or model, found 'agnet'"},
      {"text \"x\"\n", AS_PARSE, 1, 1, "('text' goes indented under a block)"},
      {"agent a\n  call 0\n    text \"x\"\n", AS_PARSE, 2, 8, "a call number or *: a number from 1"},
      {"agent a\n  call 1\n    alt weight=1001\n      text \"x\"\n", AS_PARSE, 3, 16,
       "weight: a number from 1 to 1000"},
      {"agent a\n  call 1\n    text \"x\"\nagent a\n  call 1\n    text \"y\"\n", AS_PARSE, 5, 3,
       "one block for this agent, call and attempt (the first is at line 2)"},
      {"agent a\n  default\n    text \"x\"\n  call *\n    text \"y\"\n", AS_PARSE, 4, 3,
       "one block for this agent, call and attempt (the first is at line 2)"},
      {"default\n  text \"x\"\ndefault\n  text \"y\"\n", AS_PARSE, 3, 1, "one block for this script's default"},
      {"result a:b {}\nresult a:b []\n", AS_PARSE, 2, 1, "one block for this tool and call"},
      {"agent a\n  call 1\n    text \"x\"\n    alt\n      text \"y\"\n", AS_PARSE, 4, 5,
       "answer lines, as above"},
      {"agent a\n  call 1\n    alt\n      text \"y\"\n    text \"x\"\n", AS_PARSE, 5, 5,
       "alt lines, as above"},
      {"agent a\n  call 1\nagent b\n  call 1\n    text \"x\"\n", AS_PARSE, 2, 3,
       "an answer (indented lines) under call"},
      {"agent a\nagent b\n  default\n    text \"x\"\n", AS_PARSE, 1, 1,
       "call or default blocks (indented) under agent a"},
      {"agent a\n  call 1\n    refusal\n    text \"x\"\n", AS_PARSE, 4, 5, "nothing after an error line"},
      {"agent a\n  call 1\n    text \"x\"\n    timeout\n", AS_PARSE, 4, 5, "timeout alone in its answer"},
      {"default\n  envelope [1]\n", AS_PARSE, 2, 12, "an envelope: a JSON object"},
      {"default\n  text \"x\"\n  envelope in=message {}\n", AS_PARSE, 3, 3,
       "no text with an envelope in=message"},
      {"default\n  envelope in=message {}\n  text \"x\"\n", AS_PARSE, 3, 3,
       "no text with an envelope in=message"},
      {"default\n  envelope {}\n  envelope {}\n", AS_PARSE, 3, 3, "one envelope line"},
      {"default\n  envelope in=fancy {}\n", AS_PARSE, 2, 15, "in=structured, message, fence or prose, found 'fancy'"},
      {"default\n  text \"abc\"\n  truncated at=3\n", AS_PARSE, 3, 16, "below the text's length (3 bytes)"},
      {"default\n  text \"\\u00e9\"\n  truncated at=1\n", AS_PARSE, 3, 16, "on a character boundary"},
      {"default\n  tool a:b {}\n  truncated\n", AS_PARSE, 3, 3, "a text to cut under default"},
      {"default\n  text \"a\\qb\"\n", AS_PARSE, 2, 11, "a valid JSON string (invalid escape"},
      {"default\n  text \"a\\u0000\"\n", AS_PARSE, 2, 16, "a valid JSON string (\\u0000 is not allowed"},
      {"default delay=5x\n  text \"x\"\n", AS_PARSE, 1, 15, "a duration of at most 1d"},
      {"default delay=2d\n  text \"x\"\n", AS_PARSE, 1, 15, "a duration of at most 1d"},
      {"default\n  server_error status=404\n", AS_PARSE, 2, 23, "status: a number from 500 to 599"},
      {"default\n  tool search {}\n", AS_PARSE, 2, 8, "a tool's qualified name SERVER:TOOL"},
      {"default\n  tool a:b:c {}\n", AS_PARSE, 2, 11, "a tool name made of letters"},
      {"default\n  tool a b {}\n", AS_PARSE, 2, 10, "tool SERVER:TOOL {ARGS}, found 'b'"},
      {"result kb:x\n", AS_PARSE, 1, 1, "a JSON result on the result line, or alt lines under it"},
      {"result kb:x\n  text \"x\"\n", AS_PARSE, 2, 3, "alt lines under result, found 'text'"},
      {"result kb:x {}\n  alt {}\n", AS_PARSE, 2, 3, "nothing indented under a result line"},
      {"result kb:x\n  alt weight=2\n", AS_PARSE, 2, 16, "JSON after alt, or fail=KIND (alt [weight=N] fail=KIND | JSON)"},
      {"# nothing\n\n", AS_PARSE, 2, 1, "at least one block"},
      {"", AS_PARSE, 1, 1, "at least one block"},
      {"default\n  text \"a\x01\"\n", AS_PARSE, 2, 10, "printable text (found byte 0x01)"},
      {"  agent a\n", AS_PARSE, 1, 1, "a top-level line (agent, default or result) without"},
      {"default\n  text \"x\"\n    text \"y\"\n", AS_PARSE, 3, 5, "nothing indented under text"},
      {"agent a\n  call 1 tries=2\n", AS_PARSE, 2, 10, "a key of call, found 'tries='"},
      {"agent a\n  call 1 attempt=1 attempt=2\n", AS_PARSE, 2, 20, "one attempt= on a line"},
      {"agent a\n  call\n", AS_PARSE, 2, 8, "call N|* [attempt=N] [retry=N] [delay=DUR]"},
      {"agent a\n  text \"x\"\n", AS_PARSE, 2, 3, "call or default under agent a, found 'text'"},
      {"agent a!\n", AS_PARSE, 1, 8, "an agent name made of letters"},
      {"agent a b\n", AS_PARSE, 1, 9, "agent NAME, found 'b'"},
      {"agent a x=1\n", AS_PARSE, 1, 9, "no KEY=VALUE on this line (agent NAME)"},
      {"default\n  text \"x\"\n  truncated\n  finish stop\n", AS_PARSE, 4, 3, "one of truncated and finish"},
      {"default\n  text \"x\"\n  finish done\n", AS_PARSE, 3, 10, "a finish reason: stop, tool_calls"},
      {"default\n  text \"x\"\n  usage\n", AS_PARSE, 3, 3, "usage [prompt=N]"},
      {"default\n  text \"x\"\n  usage some\n", AS_PARSE, 3, 9, "or usage none"},
      {"default\n  text \"x\"\n  usage none prompt=1\n", AS_PARSE, 3, 9, "or usage none"},
      {"default\n  text \"x\"\n  usage none\n  usage none\n", AS_PARSE, 4, 3, "one usage line"},
      {"default\n  text \"x\"\n  usage input=1 prompt=2\n", AS_PARSE, 3, 17, "one form of usage"},
      {"default\n  text \"x\"\n  usage prompt=2 cache_read=2 cache_write=1\n", AS_PARSE, 3, 9,
       "prompt= at least cache_read= + cache_write="},
      {"model a\nmodel b\n", AS_PARSE, 2, 1, "one model line"},
      {"model\n", AS_PARSE, 1, 7, "model NAME"},
      {"model a!b\n", AS_PARSE, 1, 8, "a model name made of"},
      {"default\n  text \"x\"\n  usage input=1\n  usage output=1\n", AS_PARSE, 4, 3, "one usage line"},
      {"default\n  text \"x\"\n  usage input=-1\n", AS_PARSE, 3, 15, "input: a number from 0"},
      {"default\n  tool a:b {} extra\n", AS_PARSE, 2, 15, "tool SERVER:TOOL {ARGS}, found 'extra'"},
      {"default\n  text \"x\"y\n", AS_PARSE, 2, 11, "a space after the string"},
      {"default\n  tool a:b {}x\n", AS_PARSE, 2, 14, "a space after the JSON"},
      {"default\n  text a\"x\"\n", AS_PARSE, 2, 9, "a space before '\"'"},
      {"default\n  text\n", AS_PARSE, 2, 8, "a \"string\" after text"},
      {"default\n  tool a:b\n", AS_PARSE, 2, 12, "JSON after tool"},
      {"default\n  text =x\n", AS_PARSE, 2, 8, "a name before '='"},
      {"default\n  text x=\n", AS_PARSE, 2, 10, "a value after 'x='"},
      {"default\n  \"x\"\n", AS_PARSE, 2, 3, "a keyword first on a line, found '\"x\"'"},
      {"default\n  text \"x\" \"y\"\n", AS_PARSE, 2, 12, "text \"STRING\", found '\"y\"'"},
      {"default\n  usage\n", AS_PARSE, 2, 3, "usage [prompt=N]"},
      {"default\n  usage input=1\n", AS_PARSE, 1, 1, "an answer under default: text, tool or envelope"},
      {"agent a\n  call 1\n    alt\n      finish stop\n", AS_PARSE, 3, 5, "an answer under alt"},
      {"agent a\n  call 1\n    alt\n      call 2\n", AS_PARSE, 4, 7, "an answer line (text, tool"},
      {"agent a\n  call 1\n    call 2\n", AS_PARSE, 3, 5, "alt or an answer line"},
      {"default\n  rate_limited retry_after=soon\n", AS_PARSE, 2, 28, "a duration of at most 1d"},
      {"a b c d e f g h i j k l m n o p q\n", AS_PARSE, 1, 33, "at most 16 words on a line"},
      {"default\n  text \"a\x7f\"\n", AS_PARSE, 2, 10, "printable text (found byte 0x7f)"},
      {"default\n\r text \"x\"\n", AS_PARSE, 2, 1, "only spaces to indent (found byte 0x0d)"},
      {"default\n  text \"\"\n  truncated\n", AS_PARSE, 3, 3, "a text to cut under default"},
      {"default\n  tool :b {}\n", AS_PARSE, 2, 8, "SERVER:TOOL"},
      {"default\n  tool a: {}\n", AS_PARSE, 2, 8, "SERVER:TOOL"},
      {"default\n  tool a!:b {}\n", AS_PARSE, 2, 9, "a server name made of letters"},
      {"default\n  tool a:b {\"k\": \"\\\"}\"\n", AS_PARSE, 2, 12, "to close on the same line"},
      {"result a:b call=0 {}\n", AS_PARSE, 1, 17, "call: a number from 1 to 1000000"},
      {"agent a\n  call 1 attempt=0\n", AS_PARSE, 2, 18, "attempt: a number from 1 to 1000"},
      {"agent a\n  call x\n", AS_PARSE, 2, 8, "a call number or *"},
      {"agent a\n  call 99999999999999999999999\n", AS_PARSE, 2, 8, "a call number or *"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    parse_bad(cases[i].text, cases[i].rc, cases[i].line, cases[i].col, cases[i].what);
  /* Names: at most AS_LLM_NAME_MAX - 1 characters. */
  char name128[AS_LLM_NAME_MAX + 1], line[300];
  memset(name128, 'n', AS_LLM_NAME_MAX);
  name128[AS_LLM_NAME_MAX] = '\0';
  snprintf(line, sizeof line, "agent %s\n", name128);
  parse_bad(line, AS_PARSE, 1, 7, "an agent name of 1 to 127 characters");
  snprintf(line, sizeof line, "default\n  tool a:%s {}\n", name128 + 2);
  parse_bad(line, AS_PARSE, 2, 8, "SERVER:TOOL of at most 127 characters");
  snprintf(line, sizeof line, "default\n  tool a:%s {}\n", name128 + 3);
  as_stub_script *ok = parse_ok(line);
  as_stub_script_free(ok);
  snprintf(line, sizeof line, "agent %s\n  default\n    text \"x\"\n", name128 + 1);
  ok = parse_ok(line);
  as_stub_script_free(ok);
  /* Lines that look odd and are fine. */
  ok = parse_ok("default\r\n  text \"x\"#no space before the comment\r\n"
                "  tool a:b {\"k\": \"a\\\"}#\"}\t\n"
                "  usage input=1#c\n\n   \n  # an indented comment\n");
  char *t = text_for(ok, 1, "s", "any", 1, 1);
  assert_string_equal(t, "x");
  free(t);
  round_trip(ok);
  as_stub_script_free(ok);
  /* JSON nests at most 64 deep. */
  char deep[200];
  n_deep(deep, sizeof deep, 64);
  ok = parse_ok(deep);
  as_stub_script_free(ok);
  n_deep(deep, sizeof deep, 65);
  parse_bad(deep, AS_PARSE, 2, 80, "JSON nested at most 64 deep");
  /* A long file name is cut, never overrun. */
  char name[400];
  memset(name, 'f', sizeof name - 1);
  name[sizeof name - 1] = '\0';
  as_stub_script *s = NULL;
  as_stub_diag d;
  assert_int_equal(as_stub_script_parse("x", 1, name, &s, &d), AS_PARSE);
  assert_int_equal(strlen(d.file), sizeof d.file - 1);
  /* No diag: still refused. */
  assert_int_equal(as_stub_script_parse("x", 1, "f", &s, NULL), AS_PARSE);
}

/* --- the canonical writer ------------------------------------------------------------- */

static const char every_line[] =
    "# every line the format has\n"
    "model gpt-4o-mini.v2\n"
    "agent first.agent:v2\n"
    "    call 1 attempt=2 delay=1500ms\n"
    "        text \"a \\\"quoted\\\" line\\twith\\u0001control \\u007f and \\u00e9\"\n"
    "        text \"back\\\\slash \\b \\f \\r / \\n\"\n"
    "        tool s:t {\"a\": [1, 2, {\"b\": null}]}\n"
    "        usage input=1 cached=2 output=3 reasoning=4\n"
    "    call *\n"
    "        alt weight=7 delay=90s\n"
    "            envelope in=prose {\"content\": \"c\"}\n"
    "            text \"after\"\n"
    "        alt delay=1ns\n"
    "            text \"t\"\n"
    "            envelope in=fence {}\n"
    "        alt delay=3us\n"
    "            envelope in=message {}\n"
    "            truncated at=1\n"
    "    call * attempt=3 delay=2m\n"
    "        alt weight=2\n"
    "            text \"x\"\n"
    "            truncated\n"
    "        alt weight=1000 delay=0s\n"
    "            text \"y\"\n"
    "            finish tool_calls\n"
    "agent other\n"
    "  default delay=3h\n"
    "    rate_limited retry_after=1d \"m\"\n"
    "  call 3\n"
    "    refusal \"r\"\n"
    "  call 4 delay=1d\n"
    "    timeout\n"
    "  call 5\n"
    "    server_error status=599\n"
    "  call 6\n"
    "    malformed \"{\"\n"
    "  call 7\n"
    "    rate_limited\n"
    "  call 8\n"
    "    envelope in=structured {\"a\": \"#\"}   # a comment after JSON\n"
    "  call 9\n"
    "    text \"p\"\n"
    "    usage prompt=10 cache_read=3 cache_write=2 completion=4\n"
    "  call 10\n"
    "    text \"n\"\n"
    "    usage none\n"
    "default\n"
    "    alt\n"
    "        server_error\n"
    "result a:b {\"x\": 1}\n"
    "result a:b call=2\n"
    "    alt weight=3 [1]\n"
    "    alt {}\n";

/* parse(write(parse(x))) == parse(x), and the text is a fixed point. */
static void round_trip(const as_stub_script *s) {
  char *w1 = NULL, *w2 = NULL;
  as_stub_diag d;
  char msg[600];
  assert_int_equal(as_stub_script_write(s, &w1), AS_OK);
  as_stub_script *again = NULL;
  int rc = as_stub_script_parse(w1, strlen(w1), "written", &again, &d);
  as_stub_diag_format(&d, msg, sizeof msg);
  if (rc != AS_OK) fail_msg("reparse: %s\n%s", msg, w1);
  assert_true(as_stub_script_equal(s, again));
  assert_true(as_stub_script_equal(again, s));
  assert_int_equal(as_stub_script_write(again, &w2), AS_OK);
  assert_string_equal(w1, w2);
  as_free(w1);
  as_free(w2);
  as_stub_script_free(again);
}

static void test_round_trip(void **state) {
  (void)state;
  as_stub_script *s = parse_ok(every_line);
  round_trip(s);
  char *w = NULL;
  assert_int_equal(as_stub_script_write(s, &w), AS_OK);
  /* Canonical: four spaces a level, exact units, escapes, defaults unwritten. */
  assert_non_null(strstr(w, "agent first.agent:v2\n    call 1 attempt=2 delay=1500ms\n        text \"a \\\"quoted\\\" line\\twith\\u0001control \\u007f and \xc3\xa9\"\n"));
  assert_non_null(strstr(w, "        text \"back\\\\slash \\b \\f \\r / \\n\"\n"));
  assert_non_null(strstr(w, "    default\n        alt weight=7 delay=90s\n"));
  assert_non_null(strstr(w, "        alt delay=1ns\n"));
  assert_non_null(strstr(w, "        alt delay=3us\n"));
  assert_null(strstr(w, "    call * attempt=3 delay=2m\n")); /* on each alt instead */
  assert_non_null(strstr(w, "    call * attempt=3\n        alt weight=2 delay=2m\n"));
  assert_non_null(strstr(w, "    default delay=3h\n        rate_limited retry_after=1d \"m\"\n"));
  assert_non_null(strstr(w, "    call 4 delay=1d\n        timeout\n"));
  assert_non_null(strstr(w, "        envelope {\"a\": \"#\"}\n"));
  assert_non_null(strstr(w, "default\n    alt\n        server_error\n"));
  assert_non_null(strstr(w, "result a:b {\"x\": 1}\nresult a:b call=2\n    alt weight=3 [1]\n    alt {}\n"));
  assert_null(strstr(w, "#"  " a comment"));
  as_free(w);
  as_stub_script_free(s);
  /* The bundled example. */
  as_stub_diag d;
  char msg[600];
  int rc = as_stub_script_load(AS_SOURCE_DIR "/fixtures/scripts/example.stub", &s, &d);
  as_stub_diag_format(&d, msg, sizeof msg);
  if (rc != AS_OK) fail_msg("example.stub: %s", msg);
  round_trip(s);
  as_stub_script_free(s);
  /* The reference's annotated example is a script. */
  FILE *f = fopen(AS_SOURCE_DIR "/docs/stub-scripts.md", "rb");
  assert_non_null(f);
  static char doc[64 * 1024];
  size_t n = fread(doc, 1, sizeof doc - 1, f);
  assert_int_equal(fclose(f), 0);
  doc[n] = '\0';
  char *ex = strstr(doc, "## An annotated example\n\n```sh\n");
  assert_non_null(ex);
  ex += strlen("## An annotated example\n\n```sh\n");
  char *end = strstr(ex, "\n```\n");
  assert_non_null(end);
  end[1] = '\0';
  s = parse_ok(ex);
  round_trip(s);
  as_stub_script_free(s);
  assert_int_equal(as_stub_script_write(NULL, &w), AS_INVAL);
  assert_null(w);
  assert_int_equal(as_stub_script_write(s, NULL), AS_INVAL);
}

/* Scripts that differ in one thing are not equal. */
static void test_equal(void **state) {
  (void)state;
  static const char *const base = "agent a\n  call 1 delay=1s\n    text \"x\"\n    usage input=1\n";
  static const char *const variants[] = {
      "agent b\n  call 1 delay=1s\n    text \"x\"\n    usage input=1\n",
      "agent a\n  call 2 delay=1s\n    text \"x\"\n    usage input=1\n",
      "agent a\n  call 1 attempt=1 delay=1s\n    text \"x\"\n    usage input=1\n",
      "agent a\n  call 1 delay=2s\n    text \"x\"\n    usage input=1\n",
      "agent a\n  call 1\n    text \"x\"\n    usage input=1\n",
      "agent a\n  call 1 delay=1s\n    text \"y\"\n    usage input=1\n",
      "agent a\n  call 1 delay=1s\n    text \"x\"\n    usage input=2\n",
      "agent a\n  call 1 delay=1s\n    text \"x\"\n    usage output=1\n",
      "agent a\n  call 1 delay=1s\n    text \"x\"\n",
      "agent a\n  call 1 delay=1s\n    text \"x\"\n    text \"x\"\n    usage input=1\n",
      "agent a\n  call 1 delay=1s\n    alt\n      text \"x\"\n      usage input=1\n",
      "agent a\n  call 1 delay=1s\n    text \"x\"\n    usage input=1\n    finish stop\n",
      "agent a\n  call 1 delay=1s\n    text \"x\"\n    usage input=1\n    truncated\n",
      "agent a\n  call 1 delay=1s\n    text \"x\"\n    usage input=1\n    tool a:b {}\n",
      "agent a\n  call 1 delay=1s\n    text \"x\"\n    usage input=1\n    envelope {}\n",
      "agent a\n  call 1 delay=1s\n    refusal\n",
      "agent a\n  call 1 delay=1s\n    text \"x\"\n    usage input=1\nresult a:b {}\n",
      "default delay=1s\n  text \"x\"\n  usage input=1\n",
      "model m\nagent a\n  call 1 delay=1s\n    text \"x\"\n    usage input=1\n",
      "agent a\n  call 1 delay=1s\n    text \"x\"\n    usage none\n",
      "agent a\n  call 1 delay=1s\n    text \"x\"\n    usage prompt=1\n",
  };
  as_stub_script *a = parse_ok(base);
  assert_true(as_stub_script_equal(a, a));
  assert_false(as_stub_script_equal(a, NULL));
  assert_true(as_stub_script_equal(NULL, NULL));
  as_stub_script *m1 = parse_ok("model m\ndefault\n  text \"x\"\n");
  as_stub_script *m2 = parse_ok("model n\ndefault\n  text \"x\"\n");
  assert_false(as_stub_script_equal(m1, m2)); /* the same blocks, another model */
  as_stub_script_free(m1);
  as_stub_script_free(m2);
  for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
    as_stub_script *b = parse_ok(variants[i]);
    if (as_stub_script_equal(a, b)) fail_msg("equal to the base: %s", variants[i]);
    round_trip(b);
    as_stub_script_free(b);
  }
  /* Pairs that differ inside an answer's other fields. */
  static const char *const pairs[][2] = {
      {"default\n  rate_limited\n", "default\n  rate_limited retry_after=1s\n"},
      {"default\n  rate_limited retry_after=1s\n", "default\n  rate_limited retry_after=2s\n"},
      {"default\n  server_error\n", "default\n  server_error status=500\n"},
      {"default\n  refusal\n", "default\n  refusal \"x\"\n"},
      {"default\n  refusal \"y\"\n", "default\n  refusal \"x\"\n"},
      {"default\n  refusal\n", "default\n  timeout\n"},
      {"default\n  text \"x\"\n  envelope {}\n", "default\n  envelope {}\n  text \"x\"\n"},
      {"default\n  envelope {}\n", "default\n  envelope in=fence {}\n"},
      {"default\n  envelope {}\n", "default\n  envelope {\"a\":1}\n"},
      {"default\n  tool a:b {}\n", "default\n  tool a:c {}\n"},
      {"default\n  tool a:b {}\n", "default\n  tool a:b { }\n"},
      {"default\n  text \"ab\"\n  truncated\n", "default\n  text \"ab\"\n  truncated at=1\n"},
      {"default\n  text \"ab\"\n  truncated at=0\n", "default\n  text \"ab\"\n  truncated at=1\n"},
      {"default\n  text \"x\"\n  finish stop\n", "default\n  text \"x\"\n  finish length\n"},
      {"default\n  alt\n    text \"x\"\n", "default\n  alt weight=2\n    text \"x\"\n"},
      {"result a:b {}\n", "result a:b []\n"},
      {"result a:b {}\n", "result a:b call=1 {}\n"},
  };
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    as_stub_script *x = parse_ok(pairs[i][0]), *y = parse_ok(pairs[i][1]);
    if (as_stub_script_equal(x, y)) fail_msg("equal: %s and %s", pairs[i][0], pairs[i][1]);
    as_stub_script_free(x);
    as_stub_script_free(y);
  }
  as_stub_script_free(a);
}

/* --- loading ----------------------------------------------------------------------------- */

static void test_load(void **state) {
  (void)state;
  as_stub_script *s = NULL;
  as_stub_diag d;
  assert_int_equal(as_stub_script_load(AS_SOURCE_DIR "/fixtures/scripts/nope.stub", &s, &d),
                   AS_NOTFOUND);
  assert_null(s);
  assert_int_equal(d.line, 0);
  assert_string_equal(d.file, AS_SOURCE_DIR "/fixtures/scripts/nope.stub");
  assert_non_null(strstr(d.message, "cannot open: "));
  assert_int_equal(as_stub_script_load(AS_SOURCE_DIR "/fixtures/scripts", &s, &d), AS_NOTFOUND);
  assert_non_null(strstr(d.message, "cannot read: "));
  assert_int_equal(as_stub_script_load(AS_SOURCE_DIR "/fixtures/scripts/nope.stub", &s, NULL),
                   AS_NOTFOUND);
  assert_int_equal(as_stub_script_load(AS_SOURCE_DIR "/fixtures/scripts", &s, NULL), AS_NOTFOUND);
  assert_int_equal(as_stub_script_load(NULL, &s, &d), AS_INVAL);
  assert_int_equal(as_stub_script_load("x", NULL, &d), AS_INVAL);
  /* A refusal names the path it was given. */
  assert_int_equal(as_stub_script_load(AS_SOURCE_DIR "/docs/stub-scripts.md", &s, &d), AS_PARSE);
  assert_string_equal(d.file, AS_SOURCE_DIR "/docs/stub-scripts.md");
  assert_true(d.line > 1); /* after the comment lines */
}

/* --- virtual time, in the sim ---------------------------------------------------------------- */

static sim *S;

/* What the run saw (tasks never assert: a longjmp out of a green stack
** would strand the scheduler). */
static struct {
  int rc;
  as_llm_error err;
  char text[64];
  uint64_t took;
  unsigned ticks;
  uint64_t tick_at[16];
  int setup_failed;
} obs;

static const as_stub_script *sim_script;
static uint64_t sim_timeout;
static unsigned sim_call;

/* Another task: wakes every millisecond for 10 ms. */
static void ticker(void *arg) {
  (void)arg;
  for (unsigned i = 0; i < 10; i++) {
    as_sleep_until(as_now_mono_ns() + MS);
    obs.tick_at[obs.ticks++] = as_now_mono_ns();
  }
}

static void llm_main(void *state) {
  (void)state;
  as_llm llm;
  as_task *t = NULL;
  if (as_stub_llm_new(&llm, sim_script, 11) != AS_OK ||
      as_task_spawn(&t, "ticker", ticker, NULL) != AS_OK) {
    obs.setup_failed = 1;
    return;
  }
  as_llm_request req = req_of("s", "a", sim_call, 1);
  req.timeout_ns = sim_timeout;
  as_llm_response out;
  uint64_t t0 = as_now_mono_ns();
  obs.rc = as_llm_complete(&llm, &req, &out, &obs.err);
  obs.took = as_now_mono_ns() - t0;
  if (out.text) as_appendf(obs.text, sizeof obs.text, 0, "%s", out.text);
  as_llm_response_clear(&out);
  if (as_task_join(t) != AS_OK) obs.setup_failed = 1;
  as_llm_destroy(&llm);
}

static const sim_program llm_prog = {
    .name = "stub-llm",
    .summary = "a stub LLM call while another task runs",
    .est_tasks = 2,
    .main = llm_main,
};

static void run_call(const as_stub_script *s, unsigned call, uint64_t timeout, uint64_t seed) {
  memset(&obs, 0, sizeof obs);
  sim_script = s;
  sim_call = call;
  sim_timeout = timeout;
  sim_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.seed = seed;
  cfg.strategy = SIM_STRATEGY_RANDOM;
  sim_result res;
  int rc = sim_run(S, &llm_prog, &cfg, &res);
  if (rc != AS_OK || res.outcome != SIM_PASS)
    fail_msg("sim_run: %s %s: %s", as_status_name(rc), sim_outcome_name(res.outcome), res.message);
  sim_result_clear(&res);
  assert_int_equal(obs.setup_failed, 0);
}

static void test_sim_delay(void **state) {
  (void)state;
  as_stub_script *s = parse_ok("agent a\n"
                               "    call 1 delay=5500us\n"
                               "        text \"late\"\n"
                               "    call 2 delay=20s\n"
                               "        text \"too late\"\n"
                               "    call 3\n"
                               "        timeout\n"
                               "    call 4 delay=2500us\n"
                               "        timeout\n"
                               "    call 5\n"
                               "        text \"at once\"\n"
                               "    call 6 delay=3s\n"
                               "        server_error\n");
  for (uint64_t seed = 1; seed <= 3; seed++) {
    /* The answer takes exactly its delay, and the other task ran meanwhile. */
    run_call(s, 1, 0, seed);
    assert_int_equal(obs.rc, AS_OK);
    assert_string_equal(obs.text, "late");
    assert_true(obs.took == 5500 * 1000ull);
    assert_int_equal(obs.ticks, 10);
    assert_true(obs.tick_at[4] == 5 * MS);
    /* Within the request's timeout it answers; exactly at it too. */
    run_call(s, 1, 6 * MS, seed);
    assert_int_equal(obs.rc, AS_OK);
    run_call(s, 1, 5500 * 1000ull, seed);
    assert_int_equal(obs.rc, AS_OK);
    assert_true(obs.took == 5500 * 1000ull);
    /* Past it: a timeout at the timeout. */
    run_call(s, 2, 3 * MS, seed);
    assert_int_equal(obs.rc, AS_TIMEDOUT);
    assert_int_equal(obs.err.kind, AS_LLM_ERR_TIMEOUT);
    assert_string_equal(obs.err.message, "no answer within the request's timeout of 3000000 ns");
    assert_true(obs.took == 3 * MS);
    assert_true(obs.tick_at[1] == 2 * MS); /* the ticker ran inside the call */
    assert_string_equal(obs.text, "");
  }
  /* A timeout answer waits for the request's timeout, else the stub's. */
  run_call(s, 3, 7 * MS, 1);
  assert_int_equal(obs.rc, AS_TIMEDOUT);
  assert_true(obs.took == 7 * MS);
  assert_string_equal(obs.err.message, "the model did not answer in time");
  run_call(s, 3, 0, 1);
  assert_int_equal(obs.rc, AS_TIMEDOUT);
  assert_true(obs.took == AS_STUB_TIMEOUT_DEFAULT_NS);
  assert_string_equal(obs.err.message, "the model did not answer in time");
  /* With its own delay, that; past the request's timeout, the timeout. */
  run_call(s, 4, 0, 1);
  assert_int_equal(obs.rc, AS_TIMEDOUT);
  assert_true(obs.took == 2500 * 1000ull);
  run_call(s, 4, MS, 1);
  assert_true(obs.took == MS);
  /* No delay: no time, yet a scheduling point. */
  run_call(s, 5, MS, 1);
  assert_int_equal(obs.rc, AS_OK);
  assert_true(obs.took == 0);
  /* Errors take their delay too. */
  run_call(s, 6, 0, 1);
  assert_int_equal(obs.rc, AS_IO);
  assert_true(obs.took == 3 * SEC);
  as_stub_script_free(s);
}

/* --- allocation failures, each in turn ----------------------------------------------------- */

static as_platform counting;
static long alloc_n, fail_at, live;

static void *c_alloc(size_t n) {
  if (fail_at && ++alloc_n == fail_at) return NULL;
  void *p = malloc(n);
  if (p) live++;
  return p;
}

static void *c_realloc(void *p, size_t n) {
  if (fail_at && ++alloc_n == fail_at) return NULL;
  void *q = realloc(p, n);
  if (q && !p) live++;
  return q;
}

static void c_free(void *p) {
  live--;
  free(p);
}

/* A clock that moves only when slept on: the scripts' delays cost no real
** time here. */
static uint64_t fake_now;
static void c_sleep_until(uint64_t deadline) {
  if (deadline > fake_now) fake_now = deadline;
}
static uint64_t c_now(void) { return fake_now; }

/* Run fn with the Nth allocation failing, N = 1, 2, ... until it passes;
** every failure is AS_NOMEM and leaves nothing allocated. */
static void countdown(int (*fn)(void), const char *what) {
  counting = as_platform_posix;
  counting.mem_alloc = c_alloc;
  counting.mem_realloc = c_realloc;
  counting.mem_free = c_free;
  counting.sleep_until = c_sleep_until;
  counting.now_mono_ns = c_now;
  const as_platform *prev = as_platform_set(&counting);
  int rc = AS_NOMEM;
  long n;
  for (n = 1; rc == AS_NOMEM && n < 100000; n++) {
    fail_at = n;
    alloc_n = 0;
    live = 0;
    rc = fn();
    if (live != 0) break;
  }
  fail_at = 0;
  as_platform_set(prev);
  if (live != 0) fail_msg("%s: %ld blocks left at N=%ld", what, live, n - 1);
  if (rc != AS_OK) fail_msg("%s: %s at N=%ld", what, as_status_name(rc), n - 1);
  assert_true(n > 2);
}

static as_stub_script *nomem_script;

static int parse_example(void) {
  as_stub_script *s = NULL;
  as_stub_diag d;
  int rc = as_stub_script_load(AS_SOURCE_DIR "/fixtures/scripts/example.stub", &s, &d);
  if (rc == AS_NOMEM && !strstr(d.message, "out of memory")) return AS_INTERNAL;
  if (rc == AS_OK) {
    char *w = NULL;
    as_stub_script *again = NULL;
    rc = as_stub_script_write(s, &w);
    if (rc == AS_OK) rc = as_stub_script_parse(w, strlen(w), "w", &again, &d);
    if (rc == AS_OK && !as_stub_script_equal(s, again)) rc = AS_INTERNAL;
    as_free(w);
    as_stub_script_free(again);
  }
  as_stub_script_free(s);
  return rc;
}

static int parse_every_line(void) {
  as_stub_script *s = NULL;
  int rc = as_stub_script_parse(every_line, strlen(every_line), "e", &s, NULL);
  as_stub_script_free(s);
  return rc;
}

static int call_with_tools(void) {
  as_llm llm;
  int rc = as_stub_llm_new(&llm, nomem_script, 3);
  if (rc != AS_OK) return rc;
  as_llm_request req = req_of("s", "planner", 1, 1);
  as_llm_response out;
  as_llm_error err;
  rc = as_llm_complete(&llm, &req, &out, &err);
  if (rc == AS_OK && (out.ncalls != 2 || !out.text)) rc = AS_INTERNAL;
  as_llm_response_clear(&out);
  if (rc == AS_OK) {
    req.call = 2;
    rc = as_llm_complete(&llm, &req, &out, &err);
    as_llm_response_clear(&out);
  }
  char *r = NULL;
  if (rc == AS_OK) rc = as_stub_tool_result(nomem_script, 1, "s", "kb:fetch", 1, &r);
  as_free(r);
  as_llm_destroy(&llm);
  return rc;
}

static void test_nomem(void **state) {
  (void)state;
  countdown(parse_example, "example.stub");
  countdown(parse_every_line, "every_line");
  as_stub_diag d;
  assert_int_equal(as_stub_script_load(AS_SOURCE_DIR "/fixtures/scripts/example.stub", &nomem_script, &d), AS_OK);
  countdown(call_with_tools, "calls");
  as_stub_script_free(nomem_script);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_text),
      cmocka_unit_test(test_tools),
      cmocka_unit_test(test_envelopes),
      cmocka_unit_test(test_truncated_and_finish),
      cmocka_unit_test(test_usage),
      cmocka_unit_test(test_usage_inclusive),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_fallback),
      cmocka_unit_test(test_alternatives_distribution),
      cmocka_unit_test(test_alternatives_deterministic),
      cmocka_unit_test(test_tool_results),
      cmocka_unit_test(test_tool_failures),
      cmocka_unit_test(test_runs),
      cmocka_unit_test(test_caps),
      cmocka_unit_test(test_llm_contract),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_parse_errors),
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_equal),
      cmocka_unit_test(test_load),
      cmocka_unit_test(test_sim_delay),
      cmocka_unit_test(test_nomem),
  };
  if (sim_new(&S, SIM_SWITCH_FCONTEXT, 0) != AS_OK) return 1;
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  sim_free(S);
  return failed;
}

/*
** test_envelope.c -- the turn-output envelope (envelope.h): every source and
** its priority, the fence and brace recovery, the check of each member, the
** caps, where a refusal points, the reconciliation with a terminal tool's
** confidence, and allocations failing in turn.
**
** Linked with --wrap (faultwrap.h).
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/envelope.h"
#include "agentsim/fmt.h"
#include "faultwrap.h"

static int setup(void **state) {
  (void)state;
  fw_reset();
  return 0;
}

/* An envelope's JSON with content c and confidence 0.5. */
#define ENV(c) "{\"content\":\"" c "\",\"confidence\":0.5,\"rationale\":\"r\"}"

/* Find the envelope in (structured, text); expect it found with content. */
static as_envelope found(const char *structured, const char *text, const char *content,
                         as_envelope_from from) {
  as_envelope e;
  as_json_error err;
  int rc = as_envelope_parse(structured, structured ? strlen(structured) : 0, text,
                             text ? strlen(text) : 0, &e, &err);
  if (rc != AS_OK) fail_msg("not found (%s): %s at %zu", as_status_name(rc), err.reason, err.offset);
  if (strcmp(e.content, content) != 0 || e.from != from)
    fail_msg("found \"%s\" from %s, want \"%s\" from %s", e.content, as_envelope_from_name(e.from),
             content, as_envelope_from_name(from));
  return e;
}

static void expect_found(const char *structured, const char *text, const char *content,
                         as_envelope_from from) {
  as_envelope e = found(structured, text, content, from);
  as_envelope_clear(&e);
}

/* Expect AS_NOTFOUND with a reason holding `reason` at line:column. */
static void expect_missing(const char *structured, const char *text, const char *reason,
                           unsigned line, unsigned column) {
  as_envelope e;
  memset(&e, 0x5A, sizeof e);
  as_json_error err;
  int rc = as_envelope_parse(structured, structured ? strlen(structured) : 0, text,
                             text ? strlen(text) : 0, &e, &err);
  if (rc != AS_NOTFOUND)
    fail_msg("'%s': %s, want AS_NOTFOUND", text ? text : "(null)", as_status_name(rc));
  if (strncmp(err.reason, "envelope_missing: ", 18) != 0 || !strstr(err.reason, reason))
    fail_msg("'%s': reason \"%s\" lacks \"%s\"", text ? text : "(null)", err.reason, reason);
  if (err.line != line || err.column != column)
    fail_msg("'%s': at %u:%u, want %u:%u (%s)", text ? text : "(null)", err.line, err.column,
             line, column, err.reason);
  /* Nothing filled, nothing owned. */
  assert_null(e.content);
  assert_null(e.rationale);
  assert_int_equal(e.signal[0], 0);
}

static void test_sources_and_priority(void **state) {
  (void)state;
  const char *fenced_and_braced = "See {\"content\":\"braces\",\"confidence\":0.5,\"rationale\":"
                                  "\"a much wider object than the fence's\"}\n```json\n" ENV("fence")
                                  "\n```\n";
  /* Structured beats the message, the message beats a fence, a fence beats
  ** the braces. */
  expect_found(ENV("structured"), ENV("message"), "structured", AS_ENV_FROM_STRUCTURED);
  expect_found(NULL, ENV("message"), "message", AS_ENV_FROM_MESSAGE);
  expect_found(NULL, fenced_and_braced, "fence", AS_ENV_FROM_FENCE);
  expect_found(NULL, "So: " ENV("braces") " done", "braces", AS_ENV_FROM_BRACES);
  /* Each falls to the next when it is no envelope. */
  expect_found("{\"content\":1}", ENV("message"), "message", AS_ENV_FROM_MESSAGE);
  expect_found("not json", fenced_and_braced, "fence", AS_ENV_FROM_FENCE);
  expect_found(NULL, "See " ENV("braces") "\n```json\n{\"content\":\"fence\"}\n```\n", "braces",
               AS_ENV_FROM_BRACES);
  /* Structured only; empty structured means none. */
  expect_found(ENV("only"), NULL, "only", AS_ENV_FROM_STRUCTURED);
  expect_found("", ENV("message"), "message", AS_ENV_FROM_MESSAGE);
  /* Whitespace around the message is fine. */
  expect_found(NULL, "\n  " ENV("ws") "  \n", "ws", AS_ENV_FROM_MESSAGE);
  expect_found(NULL, "\t\r\n" ENV("tabs") "\r\t", "tabs", AS_ENV_FROM_MESSAGE);
}

static void test_fences(void **state) {
  (void)state;
  expect_found(NULL, "x\n```json\n" ENV("json") "\n```\n", "json", AS_ENV_FROM_FENCE);
  expect_found(NULL, "x\n```\n" ENV("bare") "\n```", "bare", AS_ENV_FROM_FENCE);
  expect_found(NULL, "x\n```JSON  \r\n" ENV("upper") "\r\n```\r\n", "upper", AS_ENV_FROM_FENCE);
  expect_found(NULL, "x\n   ````json\n" ENV("four") "\n````\n", "four", AS_ENV_FROM_FENCE);
  /* A shorter run of backticks does not close it: the fence holds it, so
  ** is no JSON, and the braces find the object. */
  expect_found(NULL, "x\n````json\n" ENV("short") "\n```\n````\n", "short", AS_ENV_FROM_BRACES);
  /* Left open at the end of the text: closed by it. */
  expect_found(NULL, "x\n```json\n" ENV("open"), "open", AS_ENV_FROM_FENCE);
  /* The last fence wins... */
  expect_found(NULL, "```json\n" ENV("first") "\n```\nthen\n```json\n" ENV("last") "\n```\n",
               "last", AS_ENV_FROM_FENCE);
  /* ... unless it is no envelope: then the one before it. */
  expect_found(NULL, "```json\n" ENV("first") "\n```\n```json\n{\"content\":\"x\"}\n```\n",
               "first", AS_ENV_FROM_FENCE);
  /* Another language's fence is not a candidate, and a ``` inside it opens
  ** nothing; its object is still found by the braces. */
  expect_found(NULL, "```python\n```json\n" ENV("py") "\n```\n", "py", AS_ENV_FROM_BRACES);
  /* Not fences: indented four spaces, mid-line, backticks in the info. */
  expect_found(NULL, "    ```json\n" ENV("indented") "\n    ```\n", "indented",
               AS_ENV_FROM_BRACES);
  expect_found(NULL, "see ```json " ENV("inline") " ```", "inline", AS_ENV_FROM_BRACES);
  /* An info string naming another language of four letters, or holding a
  ** backtick: not a JSON fence (the second opens one with no info, left
  ** open and empty). */
  expect_found(NULL, "```yaml\n" ENV("yaml") "\n```\n", "yaml", AS_ENV_FROM_BRACES);
  expect_found(NULL, "```js\n" ENV("js") "\n```\n", "js", AS_ENV_FROM_BRACES);
  expect_found(NULL, "```a`b\n" ENV("tick") "\n```\n", "tick", AS_ENV_FROM_BRACES);
  /* Another language's fence left open at the end: skipped whole. */
  expect_found(NULL, "text\n```python\n" ENV("open py"), "open py", AS_ENV_FROM_BRACES);
  /* Lines of spaces, and an empty fence before a good one. */
  expect_found(NULL, "Intro\n   \n```json\n" ENV("after blank") "\n```\n", "after blank",
               AS_ENV_FROM_FENCE);
  expect_found(NULL, "```json\n" ENV("good") "\n```\n```json\n  \n```\n", "good",
               AS_ENV_FROM_FENCE);
  expect_missing(NULL, "text\n```json\n \t \n```\n", "empty text: expected a JSON value (in a "
                 "``` fence", 4, 1);
  /* A fence holding extra text around the object: strict, so refused; the
  ** braces then find the object. */
  expect_found(NULL, "```json\n// comment\n" ENV("commented") "\n```\n", "commented",
               AS_ENV_FROM_BRACES);
}

static void test_braces(void **state) {
  (void)state;
  /* Braces inside JSON strings do not count. */
  expect_found(NULL, "Here {\"content\":\"a } and { b\",\"confidence\":0.5,\"rationale\":\"}\"} end",
               "a } and { b", AS_ENV_FROM_BRACES);
  expect_found(NULL, "Here {\"content\":\"q \\\" } \",\"confidence\":0.5,\"rationale\":\"r\"}",
               "q \" } ", AS_ENV_FROM_BRACES);
  /* The widest of two objects, wherever it is. */
  expect_found(NULL, "a " ENV("narrow") " b " ENV("the wider one") " c", "the wider one",
               AS_ENV_FROM_BRACES);
  expect_found(NULL, "a " ENV("the wider one") " b " ENV("narrow") " c", "the wider one",
               AS_ENV_FROM_BRACES);
  /* Of two as wide, the later. */
  expect_found(NULL, "a " ENV("one") " b " ENV("two") " c", "two", AS_ENV_FROM_BRACES);
  /* The widest is no envelope: the next widest. */
  expect_found(NULL, "a {\"note\": \"a very long object that is not an envelope at all, no\"} "
               ENV("ok"), "ok", AS_ENV_FROM_BRACES);
  /* An object inside a refused one is not a candidate. */
  expect_missing(NULL, "x {\"content\":\"c\",\"confidence\":2,\"rationale\":\"r\",\"inner\":"
                 ENV("inner") "}", "confidence 2 outside [0,1]", 1, 3);
  /* A '{' that never closes does not hide what follows. */
  expect_found(NULL, "set {a, b and then " ENV("after") " fin", "after", AS_ENV_FROM_BRACES);
  expect_found(NULL, "{{{ " ENV("deep") " fin", "deep", AS_ENV_FROM_BRACES);
  /* ... but a '}' after it closes one of them round it: that span is the
  ** candidate, and what it holds is not. */
  expect_missing(NULL, "{{{ " ENV("held") " }", "expected a string key or '}', found '{'", 1, 5);
  /* A stray '}' in prose is nothing. */
  expect_found(NULL, "} " ENV("stray") " }", "stray", AS_ENV_FROM_BRACES);
}

static void test_missing(void **state) {
  (void)state;
  expect_missing(NULL, "Just prose, no object.", "no JSON object in the answer", 1, 1);
  expect_missing(NULL, "[1, 2", "no JSON object in the answer", 1, 1);
  expect_missing(NULL, NULL, "no structured output and no answer text", 1, 1);
  expect_missing("", "", "no structured output and no answer text", 1, 1);
  /* The message was JSON but no object: that is what it lacked. */
  expect_missing(NULL, "\"a string\"", "the JSON is a string, not an object (in the answer", 1, 1);
  expect_missing(NULL, "[1]", "the JSON is an array, not an object", 1, 1);
  /* Structured output refused and prose: the structured output's reason. */
  expect_missing("{\"content\":\"c\"}", "prose", "no \"confidence\" member (in the structured "
                 "output)", 1, 1);
  /* Positions are in the text the candidate came from. */
  expect_missing(NULL, "line one\nline two\n  {\"content\":\"c\",\"confidence\":1.5,"
                 "\"rationale\":\"r\"}\n", "confidence 1.5 outside [0,1] (in a {...}", 3, 3);
  expect_missing(NULL, "intro\n```json\n{\"content\":\"c\",\n \"content\":\"d\"}\n```\n",
                 "member once) (in a ``` fence", 4, 2);
  expect_missing(NULL, "{\"content\":\"c\",\"confidence\":0.5,\"rationale\":\"r\",}",
                 "trailing comma before '}' (in the answer read as JSON)", 1, 49);
  expect_missing("{\"content\":\"c\",\n\"confidence\":\"high\",\"rationale\":\"r\"}", NULL,
                 "\"confidence\" is a string, not a number (in the structured output)", 1, 1);
}

/* The envelope with one member replaced: {content, confidence, rationale}
** as JSON texts (NULL: absent), and extra members. */
static void member(const char *content, const char *conf, const char *rationale,
                   const char *extra, const char *reason) {
  char buf[512];
  size_t n = as_appendf(buf, sizeof buf, 0, "{");
  const char *sep = "";
  if (content) {
    n = as_appendf(buf, sizeof buf, n, "\"content\":%s", content);
    sep = ",";
  }
  if (conf) {
    n = as_appendf(buf, sizeof buf, n, "%s\"confidence\":%s", sep, conf);
    sep = ",";
  }
  if (rationale) {
    n = as_appendf(buf, sizeof buf, n, "%s\"rationale\":%s", sep, rationale);
    sep = ",";
  }
  if (extra) n = as_appendf(buf, sizeof buf, n, "%s%s", sep, extra);
  n = as_appendf(buf, sizeof buf, n, "}");
  assert_true(n < sizeof buf - 1);
  if (reason) {
    expect_missing(NULL, buf, reason, 1, 1);
    return;
  }
  as_envelope e;
  as_json_error err;
  if (as_envelope_parse(NULL, 0, buf, n, &e, &err) != AS_OK) fail_msg("%s: %s", buf, err.reason);
  as_envelope_clear(&e);
}

static void test_members(void **state) {
  (void)state;
  const char *c = "\"c\"", *h = "0.5", *r = "\"r\"";
  member(NULL, h, r, NULL, "no \"content\" member");
  member("1", h, r, NULL, "\"content\" is a number, not a string");
  member("null", h, r, NULL, "\"content\" is null, not a string");
  member(c, NULL, r, NULL, "no \"confidence\" member");
  member(c, "\"0.5\"", r, NULL, "\"confidence\" is a string, not a number");
  member(c, "true", r, NULL, "\"confidence\" is true, not a number");
  member(c, "[0.5]", r, NULL, "\"confidence\" is an array, not a number");
  member(c, "1.5", r, NULL, "confidence 1.5 outside [0,1]");
  member(c, "-0.1", r, NULL, "confidence -0.1 outside [0,1]");
  member(c, "1.0000001", r, NULL, "confidence 1.0000001 outside [0,1]");
  member(c, "2", r, NULL, "confidence 2 outside [0,1]");
  member(c, "1e300", r, NULL, "confidence 1e+300 outside [0,1]");
  member(c, "false", r, NULL, "\"confidence\" is false, not a number");
  member(c, "{}", r, NULL, "\"confidence\" is an object, not a number");
  member(c, "null", r, NULL, "\"confidence\" is null, not a number");
  member("0.5", h, r, NULL, "\"content\" is a number, not a string");
  member(c, "1.0000000000000002", r, NULL, "confidence 1.0000000000000002 outside [0,1]");
  member(c, "-1e-300", r, NULL, "confidence -1e-300 outside [0,1]");
  member(c, h, NULL, NULL, "no \"rationale\" member");
  member(c, h, "{}", NULL, "\"rationale\" is an object, not a string");
  /* The bounds and the integers are in; -0 is 0. */
  member(c, "0", r, NULL, NULL);
  member(c, "1", r, NULL, NULL);
  member(c, "0.0", r, NULL, NULL);
  member(c, "1.0", r, NULL, NULL);
  member(c, "-0", r, NULL, NULL);
  /* Empty strings are strings. */
  member("\"\"", h, "\"\"", NULL, NULL);
  /* Unknown members are ignored, whatever their type. */
  member(c, h, r, "\"extra\":[1,{\"x\":null}],\"tool\":\"t\"", NULL);
  /* The strict layer still holds: a duplicate member is refused. */
  expect_missing(NULL, "{\"content\":\"c\",\"confidence\":0.5,\"rationale\":\"r\",\"content\":\"d\"}",
                 "duplicate key \"content\"", 1, 49);
}

static void test_signal(void **state) {
  (void)state;
  const char *c = "\"c\"", *h = "0.5", *r = "\"r\"";
  as_envelope e = found(NULL, "{\"content\":\"c\",\"confidence\":0.75,\"rationale\":\"why\","
                        "\"signal\":\"next_agent-2\"}", "c", AS_ENV_FROM_MESSAGE);
  assert_string_equal(e.signal, "next_agent-2");
  assert_string_equal(e.rationale, "why");
  assert_true(e.confidence == 0.75);
  as_envelope_clear(&e);
  assert_null(e.content);
  /* Absent and null are no signal. */
  e = found(NULL, ENV("none"), "none", AS_ENV_FROM_MESSAGE);
  assert_string_equal(e.signal, "");
  as_envelope_clear(&e);
  member(c, h, r, "\"signal\":null", NULL);
  /* 63 bytes is the most. */
  char sig[128];
  memset(sig, 'a', sizeof sig);
  char extra[160];
  snprintf(extra, sizeof extra, "\"signal\":\"%.63s\"", sig);
  member(c, h, r, extra, NULL);
  snprintf(extra, sizeof extra, "\"signal\":\"%.64s\"", sig);
  member(c, h, r, extra, "\"signal\" is 64 bytes (1 to 63 of a-z, 0-9, _ and -)");
  member(c, h, r, "\"signal\":\"\"", "\"signal\" is 0 bytes");
  member(c, h, r, "\"signal\":7", "\"signal\" is a number, not a string");
  member(c, h, r, "\"signal\":\"Escalate\"", "\"signal\" has 'E' at byte 0");
  member(c, h, r, "\"signal\":\"go on\"", "\"signal\" has byte 0x20 at byte 2");
  member(c, h, r, "\"signal\":\"go.on\"", "\"signal\" has '.' at byte 2");
  member(c, h, r, "\"signal\":\"caf\xC3\xA9\"", "\"signal\" has byte 0xC3 at byte 3");
  member(c, h, r, "\"signal\":\"a\\tb\"", "has byte 0x09 at byte 1");
  member(c, h, r, "\"signal\":\"a_b-c9\"", NULL);
}

static void test_caps(void **state) {
  (void)state;
  /* A text past the recovery cap: the whole-message layer still reads it
  ** (up to AS_JSON_MAX_BYTES), recovery does not. */
  size_t n = AS_ENVELOPE_TEXT_MAX + 100;
  char *big = malloc(n + 1);
  assert_non_null(big);
  const char *tail = "\",\"confidence\":0.5,\"rationale\":\"r\"}    ";
  memset(big, 'x', n);
  memcpy(big, "{\"content\":\"", 12);
  memcpy(big + n - strlen(tail), tail, strlen(tail));
  big[n] = '\0';
  as_envelope e;
  as_json_error err;
  assert_int_equal(as_envelope_parse(NULL, 0, big, n, &e, &err), AS_OK);
  assert_int_equal(e.from, AS_ENV_FROM_MESSAGE);
  assert_int_equal(strlen(e.content), n - 12 - strlen(tail));
  as_envelope_clear(&e);
  /* The same object after a word of prose: only recovery could find it. */
  memcpy(big, "xx", 2);
  assert_int_equal(as_envelope_parse(NULL, 0, big, n, &e, &err), AS_NOTFOUND);
  assert_non_null(strstr(err.reason, "the answer is 65636 bytes; recovery reads at most 65536"));
  assert_int_equal(err.offset, AS_ENVELOPE_TEXT_MAX);
  free(big);

  /* At most AS_ENVELOPE_CANDIDATES candidates: a valid fence followed by
  ** 15 refused ones is found (the 16th tried); by 16, not. */
  for (unsigned bad = 15; bad <= 16; bad++) {
    char text[4096];
    size_t len = as_appendf(text, sizeof text, 0, "```json\n" ENV("first") "\n```\n");
    for (unsigned i = 0; i < bad; i++)
      len = as_appendf(text, sizeof text, len, "```json\n{\"content\":\"bad%u\"}\n```\n", i);
    int rc = as_envelope_parse(NULL, 0, text, len, &e, &err);
    if (bad == 15) {
      assert_int_equal(rc, AS_OK);
      assert_string_equal(e.content, "first");
      as_envelope_clear(&e);
    } else {
      assert_int_equal(rc, AS_NOTFOUND);
      /* The last candidate tried was the second fence, "bad0". */
      assert_non_null(strstr(err.reason, "no \"confidence\" member (in a ``` fence"));
      assert_int_equal(err.line, 5);
    }
  }
  /* Brace spans count too, after the fences; a span that is a tried fence
  ** is not tried again. */
  {
    char text[4096];
    size_t len = 0;
    for (unsigned i = 0; i < 16; i++)
      len = as_appendf(text, sizeof text, len, "```json\n{\"content\":\"bad%02u\"}\n```\n", i);
    len = as_appendf(text, sizeof text, len, "and " ENV("braces"));
    assert_int_equal(as_envelope_parse(NULL, 0, text, len, &e, &err), AS_NOTFOUND);
    len = 0;
    for (unsigned i = 0; i < 15; i++)
      len = as_appendf(text, sizeof text, len, "```json\n{\"content\":\"bad%02u\"}\n```\n", i);
    len = as_appendf(text, sizeof text, len, "and " ENV("braces"));
    assert_int_equal(as_envelope_parse(NULL, 0, text, len, &e, &err), AS_OK);
    assert_int_equal(e.from, AS_ENV_FROM_BRACES);
    as_envelope_clear(&e);
  }
  /* NUL bytes: the message is refused, recovery finds the object beside them. */
  const char nul[] = "a\0b " ENV("beside") " \0";
  assert_int_equal(as_envelope_parse(NULL, 0, nul, sizeof nul - 1, &e, &err), AS_OK);
  assert_string_equal(e.content, "beside");
  as_envelope_clear(&e);
}

static void test_arguments_and_names(void **state) {
  (void)state;
  as_json_error err;
  assert_int_equal(as_envelope_parse(NULL, 0, ENV("x"), 10, NULL, &err), AS_INVAL);
  as_envelope e;
  assert_int_equal(as_envelope_parse(NULL, 0, "prose", 5, &e, NULL), AS_NOTFOUND);
  as_envelope_clear(NULL);
  assert_string_equal(as_envelope_from_name(AS_ENV_FROM_STRUCTURED), "structured");
  assert_string_equal(as_envelope_from_name(AS_ENV_FROM_MESSAGE), "message");
  assert_string_equal(as_envelope_from_name(AS_ENV_FROM_FENCE), "fence");
  assert_string_equal(as_envelope_from_name(AS_ENV_FROM_BRACES), "braces");
  assert_string_equal(as_envelope_from_name(AS__ENV_FROM_COUNT), "?");
  assert_string_equal(as_envelope_from_name((as_envelope_from)-1), "?");
  assert_string_equal(AS_ENVELOPE_MISSING, "envelope_missing");
}

static void test_reconcile(void **state) {
  (void)state;
  bool mm = true;
  /* Within the tolerance, inclusive: the envelope's stands. */
  assert_true(as_confidence_reconcile(0.5, 0.5, &mm) == 0.5 && !mm);
  mm = true;
  assert_true(as_confidence_reconcile(0.5, 0.55, &mm) == 0.5 && !mm);
  mm = true;
  assert_true(as_confidence_reconcile(0.55, 0.5, &mm) == 0.55 && !mm);
  mm = true;
  assert_true(as_confidence_reconcile(0.9, 0.95, &mm) == 0.9 && !mm);
  mm = true;
  assert_true(as_confidence_reconcile(0.05, 0.0, &mm) == 0.05 && !mm);
  mm = true;
  assert_true(as_confidence_reconcile(1.0, 0.95, &mm) == 1.0 && !mm);
  /* Just over: the tool's wins, and the mismatch is said. */
  mm = false;
  assert_true(as_confidence_reconcile(0.5, 0.5501, &mm) == 0.5501 && mm);
  mm = false;
  assert_true(as_confidence_reconcile(0.5, 0.44999, &mm) == 0.44999 && mm);
  mm = false;
  assert_true(as_confidence_reconcile(0.0, 1.0, &mm) == 1.0 && mm);
  mm = false;
  assert_true(as_confidence_reconcile(0.9, 0.85 - 1e-6, &mm) == 0.85 - 1e-6 && mm);
  /* mismatch may be NULL. */
  assert_true(as_confidence_reconcile(0.2, 0.8, NULL) == 0.8);
}

/* Allocations fail in turn, the runtime's (as_malloc) and jansson's (handed
** the wrapped malloc): every failure is AS_NOMEM, nothing is left. */
static void countdown(const char *structured, const char *text) {
  json_set_alloc_funcs(malloc, free);
  for (unsigned long n = 1;; n++) {
    size_t live = fw_live_blocks();
    fw_countdown(FW_ALLOC, n, ENOMEM, 0);
    as_envelope e;
    as_json_error err;
    int rc = as_envelope_parse(structured, structured ? strlen(structured) : 0, text,
                               strlen(text), &e, &err);
    fw_disarm();
    if (!fw_fired()) {
      assert_int_equal(rc, AS_OK);
      as_envelope_clear(&e);
      assert_int_equal(fw_live_blocks(), live);
      break;
    }
    if (rc != AS_NOMEM) fail_msg("allocation %lu failing gave %s", n, as_status_name(rc));
    assert_null(e.content);
    assert_null(e.rationale);
    assert_int_equal(fw_live_blocks(), live);
  }
}

static void test_alloc_countdown(void **state) {
  (void)state;
  countdown(ENV("s"), "x");
  countdown(NULL, ENV("m"));
  countdown(NULL, "```json\n" ENV("f") "\n```\n");
  /* Many spans: the brace stacks grow. */
  char text[2048];
  size_t len = 0;
  for (int i = 0; i < 40; i++) len = as_appendf(text, sizeof text, len, "{{x}} ");
  len = as_appendf(text, sizeof text, len, "%s", ENV("spans"));
  countdown(NULL, text);
}

int main(void) {
  json_object_seed(1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_sources_and_priority, setup),
      cmocka_unit_test_setup(test_fences, setup),
      cmocka_unit_test_setup(test_braces, setup),
      cmocka_unit_test_setup(test_missing, setup),
      cmocka_unit_test_setup(test_members, setup),
      cmocka_unit_test_setup(test_signal, setup),
      cmocka_unit_test_setup(test_caps, setup),
      cmocka_unit_test_setup(test_arguments_and_names, setup),
      cmocka_unit_test_setup(test_reconcile, setup),
      cmocka_unit_test_setup(test_alloc_countdown, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

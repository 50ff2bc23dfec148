/*
** test_json.c -- the strict JSON layer (json.h): what it accepts, every
** refusal with its offset, line, column and reason, the caps (size, depth),
** and its allocations failing in turn (jansson's, through the wrapped
** allocator the test hands it).
**
** Linked with --wrap (faultwrap.h).
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/json.h"
#include "faultwrap.h"
#include "json_internal.h"

static int setup(void **state) {
  (void)state;
  fw_reset();
  return 0;
}

/* Parse s (n bytes) and expect a refusal with rc at offset/line/column
** whose reason holds `reason`. */
static void refused_n(const char *s, size_t n, int rc, size_t offset, unsigned line,
                      unsigned column, const char *reason) {
  json_t *v = (json_t *)1;
  as_json_error e;
  int got = as_json_parse(s, n, &v, &e);
  if (got != rc)
    fail_msg("'%.*s': rc %s, want %s (%s)", (int)(n > 60 ? 60 : n), s, as_status_name(got),
             as_status_name(rc), e.reason);
  assert_null(v);
  if (!strstr(e.reason, reason))
    fail_msg("'%.*s': reason \"%s\" lacks \"%s\"", (int)(n > 60 ? 60 : n), s, e.reason, reason);
  if (e.offset != offset || e.line != line || e.column != column)
    fail_msg("'%.*s': at %zu (%u:%u), want %zu (%u:%u): %s", (int)(n > 60 ? 60 : n), s, e.offset,
             e.line, e.column, offset, line, column, e.reason);
  assert_true(strlen(e.reason) < AS_JSON_REASON_MAX);
}

#define REFUSED(lit, off, line, col, reason)                                  \
  refused_n(lit, sizeof(lit) - 1, AS_PARSE, off, line, col, reason)

/* Parse s and return its compact form (static buffer). */
static const char *accepted(const char *s) {
  static char buf[4096];
  json_t *v = NULL;
  as_json_error e;
  int rc = as_json_parse(s, strlen(s), &v, &e);
  if (rc != AS_OK) fail_msg("'%s' refused: %s at %zu", s, e.reason, e.offset);
  char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  assert_non_null(d);
  assert_true(strlen(d) < sizeof buf);
  memcpy(buf, d, strlen(d) + 1);
  free(d);
  json_decref(v);
  return buf;
}

static void test_accepts(void **state) {
  (void)state;
  assert_string_equal(accepted("{}"), "{}");
  assert_string_equal(accepted(" \t\r\n[ ]\n"), "[]");
  assert_string_equal(accepted("0"), "0");
  assert_string_equal(accepted("-0.5e-3"), "-0.00050000000000000001");
  assert_string_equal(accepted("true"), "true");
  assert_string_equal(accepted("null"), "null");
  assert_string_equal(accepted("\"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\""), "\"a\\\"b\\\\c/\\b\\f\\n\\r\\t\"");
  /* A surrogate pair, raw UTF-8 of every length, DEL unescaped. */
  assert_string_equal(accepted("\"\\ud83d\\ude00\""), "\"\xF0\x9F\x98\x80\"");
  assert_string_equal(accepted("\"\xC3\xA9\xE2\x82\xAC\xF4\x8F\xBF\xBF\x7F\""),
                      "\"\xC3\xA9\xE2\x82\xAC\xF4\x8F\xBF\xBF\x7F\"");
  /* Member order is kept. */
  assert_string_equal(accepted("{\"z\":1,\"a\":[true,false,null],\"m\":{\"k\":\"v\"}}"),
                      "{\"z\":1,\"a\":[true,false,null],\"m\":{\"k\":\"v\"}}");
  /* The same name in two different objects is no duplicate. */
  assert_string_equal(accepted("[{\"a\":1},{\"a\":2}]"), "[{\"a\":1},{\"a\":2}]");
  /* Brackets inside strings are not nesting. */
  assert_string_equal(accepted("\"[[[[{{{{\""), "\"[[[[{{{{\"");
  /* Keys that differ only past a NUL jansson would cut are not an issue:
  ** \u0000 is refused, so keys are C strings. */
  assert_string_equal(accepted("{\"a\\u0001\":1,\"a\":2}"), "{\"a\\u0001\":1,\"a\":2}");
}

static void test_duplicates(void **state) {
  (void)state;
  REFUSED("{\"a\":1,\"a\":2}", 7, 1, 8, "duplicate key \"a\"");
  /* Nested, on line 3: the second key's opening quote. */
  REFUSED("{\"x\":\n {\"conf\":1,\n  \"conf\":2}}", 20, 3, 3, "duplicate key \"conf\"");
  /* The same key written two ways is the same key. */
  REFUSED("{\"a\":1,\"\\u0061\":2}", 7, 1, 8, "duplicate key \"\\u0061\"");
  /* An escaped quote inside the key does not fool the position. */
  REFUSED("{\"q\\\"\":1, \"q\\\"\":2}", 10, 1, 11, "duplicate key \"q\\\"\"");
}

static void test_duplicate_long_key(void **state) {
  (void)state;
  /* A 300-byte key of two-byte characters: the reason is cut at a character. */
  char s[700];
  size_t n = 0;
  for (int k = 0; k < 2; k++) {
    s[n++] = k ? ',' : '{';
    s[n++] = '"';
    for (int i = 0; i < 150; i++) {
      s[n++] = (char)0xC3;
      s[n++] = (char)0xA9;
    }
    memcpy(s + n, "\":1", 3);
    n += 3;
  }
  s[n++] = '}';
  json_t *v;
  as_json_error e;
  assert_int_equal(as_json_parse(s, n, &v, &e), AS_PARSE);
  assert_int_equal(e.offset, 306);
  assert_non_null(strstr(e.reason, "duplicate key"));
  size_t len = strlen(e.reason);
  assert_true(len < AS_JSON_REASON_MAX);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)e.reason[i];
    if (c == 0xC3) assert_int_equal((unsigned char)e.reason[i + 1], 0xA9);
    if (c == 0xA9) assert_int_equal((unsigned char)e.reason[i - 1], 0xC3);
  }
}

static void test_trailing(void **state) {
  (void)state;
  REFUSED("[1] x", 4, 1, 5, "after the JSON value, found 'x'");
  REFUSED("{} {}", 3, 1, 4, "after the JSON value, found '{'");
  REFUSED("1 2", 2, 1, 3, "after the JSON value");
  REFUSED("true\n\n  false", 8, 3, 3, "after the JSON value");
  REFUSED("\"a\"\"b\"", 3, 1, 4, "after the JSON value");
  REFUSED("truex", 0, 1, 1, "invalid literal 'truex'");
  REFUSED("[1]]", 3, 1, 4, "after the JSON value, found ']'");
}

static void test_nul(void **state) {
  (void)state;
  refused_n("\"a\0b\"", 5, AS_PARSE, 2, 1, 3, "NUL byte (0x00) in a string");
  refused_n("[1,\0]", 5, AS_PARSE, 3, 1, 4, "NUL byte (0x00)");
  refused_n("{}\0", 3, AS_PARSE, 2, 1, 3, "NUL byte (0x00)");
  refused_n("\0", 1, AS_PARSE, 0, 1, 1, "NUL byte");
  REFUSED("\"ab\\u0000\"", 3, 1, 4, "\\u0000 (NUL) is not allowed");
  REFUSED("{\"\\u0000\":1}", 2, 1, 3, "\\u0000 (NUL) is not allowed");
}

static void test_utf8(void **state) {
  (void)state;
  /* Overlong forms of '/' and NUL, at every length. */
  REFUSED("\"\xC0\x80\"", 1, 1, 2, "invalid UTF-8 byte 0xC0 (overlong encoding)");
  REFUSED("\"\xC1\xBF\"", 1, 1, 2, "invalid UTF-8 byte 0xC1 (overlong encoding)");
  REFUSED("\"\xE0\x80\xAF\"", 1, 1, 2, "invalid UTF-8 byte 0xE0 (overlong encoding)");
  REFUSED("\"\xF0\x80\x80\xAF\"", 1, 1, 2, "invalid UTF-8 byte 0xF0 (overlong encoding)");
  /* Surrogates encoded in UTF-8 (CESU), high and low. */
  REFUSED("\"\xED\xA0\x80\"", 1, 1, 2, "invalid UTF-8 byte 0xED (an encoded UTF-16 surrogate");
  REFUSED("\"ok\xED\xBF\xBF\"", 3, 1, 4, "0xED (an encoded UTF-16 surrogate");
  /* Past U+10FFFF. */
  REFUSED("\"\xF4\x90\x80\x80\"", 1, 1, 2, "invalid UTF-8 byte 0xF4 (past U+10FFFF)");
  REFUSED("\"\xF5\x80\x80\x80\"", 1, 1, 2, "invalid UTF-8 byte 0xF5");
  REFUSED("\"\xFF\"", 1, 1, 2, "invalid UTF-8 byte 0xFF");
  /* A stray continuation byte, a sequence cut short, cut by the end. */
  REFUSED("\"\x80\"", 1, 1, 2, "0x80 (a continuation byte with no lead byte)");
  REFUSED("\"\xE2\x82x\"", 1, 1, 2, "0xE2 (cut short: the next byte is not a continuation");
  REFUSED("\"\xC3x\"", 1, 1, 2, "0xC3 (cut short: the next byte is not a continuation");
  REFUSED("\"\xC3\xC3\"", 1, 1, 2, "0xC3 (cut short: the next byte is not a continuation");
  REFUSED("\"\xF0\x9F\x98x\"", 1, 1, 2, "0xF0 (cut short: the next byte is not a continuation");
  REFUSED("\"\xC3", 1, 1, 2, "0xC3 (cut short by the end of the text)");
  /* Outside strings too, and the byte order mark. */
  REFUSED("[\xC0\x80]", 1, 1, 2, "invalid UTF-8 byte 0xC0");
  REFUSED("\xEF\xBB\xBF{}", 0, 1, 1, "byte order mark");
  REFUSED("[\xC3\xA9]", 1, 1, 2, "found the character U+00E9");
  REFUSED("[\xE2\x82\xAC]", 1, 1, 2, "found the character U+20AC");
  REFUSED("[\xF0\x9F\x98\x80]", 1, 1, 2, "found the character U+1F600");
  REFUSED("\xE2\x82\xAC", 0, 1, 1, "expected a JSON value, found the character U+20AC");
  REFUSED("\xEF\xBB\xBE", 0, 1, 1, "found the character U+FEFE");
  REFUSED("\xC3\xA9", 0, 1, 1, "found the character U+00E9");
  /* Escaped surrogates must pair. */
  REFUSED("\"\\ud800\"", 1, 1, 2, "\\uD800 is a lone UTF-16 high surrogate");
  REFUSED("\"\\uD800\\u0041\"", 1, 1, 2, "lone UTF-16 high surrogate");
  REFUSED("\"x\\udc00\"", 2, 1, 3, "\\uDC00 is a lone UTF-16 low surrogate");
  REFUSED("\"\\ud800\\ud800\"", 1, 1, 2, "lone UTF-16 high surrogate");
  REFUSED("\"\\ud800\\uE000\"", 1, 1, 2, "lone UTF-16 high surrogate");
  REFUSED("\"\\udbff\\n\"", 1, 1, 2, "\\uDBFF is a lone UTF-16 high surrogate");
  REFUSED("\"\\ud800", 1, 1, 2, "lone UTF-16 high surrogate");
  REFUSED("\"\\ud800abcdefgh\"", 1, 1, 2, "lone UTF-16 high surrogate");
  REFUSED("\"\\ud800\\nabcdef\"", 1, 1, 2, "lone UTF-16 high surrogate");
  assert_string_equal(accepted("\"\\uE000\\uFFFF\\uD7FF\\udbff\\udfff\""),
                      "\"\xEE\x80\x80\xEF\xBF\xBF\xED\x9F\xBF\xF4\x8F\xBF\xBF\"");
}

static void test_strings(void **state) {
  (void)state;
  REFUSED("\"abc", 0, 1, 1, "unterminated string");
  REFUSED("[\"abc\\\"]", 1, 1, 2, "unterminated string");
  REFUSED("\"a\\", 0, 1, 1, "unterminated string");
  REFUSED("\"a\tb\"", 2, 1, 3, "control byte 0x09 in a string");
  REFUSED("\"a\nb\"", 2, 1, 3, "control byte 0x0A in a string");
  REFUSED("\"\\x\"", 1, 1, 2, "invalid escape '\\x'");
  REFUSED("\"\\'\"", 1, 1, 2, "invalid escape '\\''");
  REFUSED("\"\\u12\"", 1, 1, 2, "\\u must be followed by four hex digits");
  REFUSED("\"\\u12g4\"", 1, 1, 2, "four hex digits");
  refused_n("\"\\\x01\"", 4, AS_PARSE, 1, 1, 2, "followed by byte 0x01");
  REFUSED("\"\\\xC3\xA9\"", 1, 1, 2, "followed by byte 0xC3");
  REFUSED("[\x7F]", 1, 1, 2, "found the control byte 0x7F");
  REFUSED("\"\\u00:0\"", 1, 1, 2, "four hex digits");
  REFUSED("\"\\u00 0\"", 1, 1, 2, "four hex digits");
  assert_string_equal(accepted("\"\\u00C9\\u00e9\\u0041\""), "\"\xC3\x89\xC3\xA9" "A\"");
}

static void test_grammar(void **state) {
  (void)state;
  REFUSED("[1,]", 3, 1, 4, "trailing comma before ']'");
  REFUSED("{\"a\":1,}", 7, 1, 8, "trailing comma before '}'");
  REFUSED("[1 2]", 3, 1, 4, "expected ',' or ']' after an array element, found '2'");
  REFUSED("{\"a\" 1}", 5, 1, 6, "expected ':' after the key, found '1'");
  REFUSED("{\"a\":}", 5, 1, 6, "expected a value after ':', found '}'");
  REFUSED("{\"a\":1 \"b\":2}", 7, 1, 8, "expected ',' or '}' after a member's value");
  REFUSED("{'a':1}", 1, 1, 2, "JSON strings use double quotes");
  REFUSED("{a:1}", 1, 1, 2, "expected a string key or '}', found 'a'");
  REFUSED("{\"a\":1,2}", 7, 1, 8, "expected a string key after ','");
  REFUSED("[,1]", 1, 1, 2, "expected a value or ']', found ','");
  REFUSED("[1,,2]", 3, 1, 4, "expected a value after ','");
  REFUSED("[1}", 2, 1, 3, "'}' does not close the '[' at line 1, column 1");
  REFUSED("{\"a\":[1]]", 8, 1, 9, "']' does not close the '{'");
  REFUSED("]", 0, 1, 1, "expected a JSON value, found ']'");
  REFUSED("[\n  1,\n  {\"a\":", 14, 3, 8, "the text ends before the '{' at line 3, column 3");
  REFUSED("[1", 2, 1, 3, "the text ends before the '[' at line 1, column 1 is closed");
  REFUSED("[\x01]", 1, 1, 2, "found the control byte 0x01");
  REFUSED("[+1]", 1, 1, 2, "found '+'");
  REFUSED("[.5]", 1, 1, 2, "found '.'");
}

static void test_numbers_and_literals(void **state) {
  (void)state;
  REFUSED("01", 0, 1, 1, "invalid number '01': no leading zeros");
  REFUSED("-01", 0, 1, 1, "no leading zeros");
  REFUSED("[-]", 1, 1, 2, "invalid number '-': expected a digit after '-'");
  REFUSED("-a", 0, 1, 1, "expected a digit after '-'");
  REFUSED("1.", 0, 1, 1, "invalid number '1.': expected a digit after '.'");
  REFUSED("1.e5", 0, 1, 1, "expected a digit after '.'");
  REFUSED("1e", 0, 1, 1, "expected a digit in the exponent");
  REFUSED("[1E+]", 1, 1, 2, "invalid number '1E+': expected a digit in the exponent");
  REFUSED("-", 0, 1, 1, "invalid number '-': expected a digit after '-'");
  REFUSED("[-0x]", 3, 1, 4, "expected ',' or ']' after an array element, found 'x'");
  assert_string_equal(accepted("1.5"), "1.5");
  assert_string_equal(accepted("-10"), "-10");
  assert_string_equal(accepted("[0,-0,1E2,1e-2,0.5e+1]"), "[0,0,100.0,0.01,5.0]");
  REFUSED("abcdefghijklmnopqrstuvwxyzabc", 0, 1, 1,
          "invalid literal 'abcdefghijklmnopqrstuvwx...' (expected true, false, null");
  REFUSED("[true,fals]", 6, 1, 7, "invalid literal 'fals'");
  REFUSED("true1", 0, 1, 1, "invalid literal 'true1'");
  REFUSED("nul", 0, 1, 1, "invalid literal 'nul'");
  REFUSED("True", 0, 1, 1, "invalid literal 'True'");
  REFUSED("[NaN]", 1, 1, 2, "invalid literal 'NaN'");
  REFUSED("-Infinity", 0, 1, 1, "expected a digit after '-'");
  REFUSED("[1, undefined]", 4, 1, 5, "invalid literal 'undefined'");
  /* Past what jansson holds: named, at the number's first byte. */
  REFUSED("123456789012345678901234567890", 0, 1, 1, "number '123456789012345678901234...' "
          "is out of range");
  REFUSED("[1,\n 1e400]", 5, 2, 2, "number '1e400' is out of range");
  REFUSED("{\"n\":-9223372036854775809}", 5, 1, 6, "is out of range");
  assert_string_equal(accepted("[9223372036854775807,-9223372036854775808,1e-400]"),
                      "[9223372036854775807,-9223372036854775808,0.0]");
}

static void test_empty(void **state) {
  (void)state;
  refused_n("", 0, AS_PARSE, 0, 1, 1, "empty text: expected a JSON value");
  refused_n(NULL, 0, AS_PARSE, 0, 1, 1, "empty text");
  REFUSED("  \n\t ", 5, 2, 3, "empty text");
}

/* A text of exactly `depth` nested arrays (and objects, alternating). */
static char *nested(unsigned depth, int objects) {
  char *s = malloc(8 * (size_t)depth + 8);
  assert_non_null(s);
  size_t n = 0;
  for (unsigned i = 0; i < depth; i++) {
    if (objects && i % 2 && i == depth - 1) {
      s[n++] = '{';
    } else if (objects && i % 2) {
      memcpy(s + n, "{\"k\":", 5);
      n += 5;
    } else {
      s[n++] = '[';
    }
  }
  for (unsigned i = depth; i-- > 0;) s[n++] = objects && i % 2 ? '}' : ']';
  s[n] = '\0';
  return s;
}

static void test_depth(void **state) {
  (void)state;
  for (int objects = 0; objects <= 1; objects++) {
    char *ok = nested(AS_JSON_MAX_DEPTH, objects);
    json_t *v = NULL;
    assert_int_equal(as_json_parse(ok, strlen(ok), &v, NULL), AS_OK);
    json_decref(v);
    free(ok);
    char *deep = nested(AS_JSON_MAX_DEPTH + 1, objects);
    as_json_error e;
    assert_int_equal(as_json_parse(deep, strlen(deep), &v, &e), AS_PARSE);
    assert_null(v);
    assert_string_equal(e.reason, "nesting deeper than 32 arrays and objects");
    /* The 33rd opening bracket. */
    assert_int_equal(e.offset, objects ? 16 * 5 + 16 : 32);
    free(deep);
  }
  /* Deep enough that a recursive parser would overflow its stack: refused
  ** by the validator's fixed stack before jansson sees it. */
  size_t n = 200000;
  char *s = malloc(n);
  assert_non_null(s);
  memset(s, '[', n);
  json_t *v = NULL;
  as_json_error e;
  assert_int_equal(as_json_parse(s, n, &v, &e), AS_PARSE);
  assert_int_equal(e.offset, 32);
  free(s);
}

static void test_size_cap(void **state) {
  (void)state;
  size_t n = AS_JSON_MAX_BYTES + 1;
  char *s = malloc(n);
  assert_non_null(s);
  /* A string of exactly the cap is fine... */
  memset(s, 'a', n);
  s[0] = '"';
  s[AS_JSON_MAX_BYTES - 1] = '"';
  json_t *v = NULL;
  as_json_error e;
  assert_int_equal(as_json_parse(s, AS_JSON_MAX_BYTES, &v, &e), AS_OK);
  assert_int_equal(json_string_length(v), AS_JSON_MAX_BYTES - 2);
  json_decref(v);
  /* ... one byte more is not, even when that byte is a space. */
  s[AS_JSON_MAX_BYTES] = ' ';
  v = (json_t *)1;
  assert_int_equal(as_json_parse(s, n, &v, &e), AS_TOOBIG);
  assert_null(v);
  assert_int_equal(e.offset, AS_JSON_MAX_BYTES);
  assert_int_equal(e.line, 1);
  assert_int_equal(e.column, AS_JSON_MAX_BYTES + 1);
  assert_non_null(strstr(e.reason, "over the cap of 262144"));
  free(s);
}

static void test_arguments(void **state) {
  (void)state;
  as_json_error e;
  json_t *v = NULL;
  assert_int_equal(as_json_parse("{}", 2, NULL, &e), AS_INVAL);
  assert_int_equal(as_json_parse(NULL, 3, &v, &e), AS_INVAL);
  assert_null(v);
  /* err may be NULL, on success and on failure. */
  assert_int_equal(as_json_parse("[1,]", 4, &v, NULL), AS_PARSE);
  assert_int_equal(as_json_parse("[1]", 3, &v, NULL), AS_OK);
  json_decref(v);
  /* len, not a NUL, ends the text. */
  assert_int_equal(as_json_parse("[1]garbage", 3, &v, NULL), AS_OK);
  json_decref(v);
}

static void test_locate(void **state) {
  (void)state;
  unsigned line, col;
  const char *t = "ab\ncd\n\nef";
  as_json_locate(t, strlen(t), 0, &line, &col);
  assert_true(line == 1 && col == 1);
  as_json_locate(t, strlen(t), 2, &line, &col);
  assert_true(line == 1 && col == 3);
  as_json_locate(t, strlen(t), 3, &line, &col);
  assert_true(line == 2 && col == 1);
  as_json_locate(t, strlen(t), 7, &line, &col);
  assert_true(line == 4 && col == 1);
  as_json_locate(t, strlen(t), 1000, &line, &col);
  assert_true(line == 4 && col == 3);
  as_json_locate(t, strlen(t), 4, NULL, &col);
  assert_int_equal(col, 2);
  as_json_locate(t, strlen(t), 4, &line, NULL);
  assert_int_equal(line, 2);
  /* The reason helper cuts at a character, and tolerates a NULL err. */
  char small[6];
  as__utf8_copy(small, sizeof small, "ab\xC3\xA9\xC3\xA9", 6);
  assert_string_equal(small, "ab\xC3\xA9");
  as__utf8_copy(small, sizeof small, "abcd\xE2\x82\xAC", 7);
  assert_string_equal(small, "abcd");
  as__json_fail(NULL, "x", 1, 0, "nothing to fill");
  as__utf8_copy(small, 2, "\xA9\xA9\xA9", 3);
  assert_string_equal(small, "");
  /* A format that fails leaves an empty reason; the refusal stands. */
  fw_inject(FW_VSNPRINTF, EILSEQ, 1);
  json_t *v = NULL;
  as_json_error e;
  assert_int_equal(as_json_parse("[1,]", 4, &v, &e), AS_PARSE);
  assert_string_equal(e.reason, "");
  assert_int_equal(e.offset, 3);
}

/* jansson's positions back to the token's start, and its errors mapped:
** fed directly, for the positions a real parse never gives. */
static void test_jansson_mapping(void **state) {
  (void)state;
  const char *s = "{\"ab\":1e999,\"q\\\"\":[12], \"\\\\\":0}";
  /* offsets: '{' 0, "ab" 1-4, 1e999 6-10, "q\"" 12-16, 12 19-20, "\\" 24-27, ':' 28 */
  assert_int_equal(as__json_token_start(s, 0), 0);
  assert_int_equal(as__json_token_start(s, 1), 0);  /* '{': the byte before */
  assert_int_equal(as__json_token_start(s, 5), 1);  /* "ab" */
  assert_int_equal(as__json_token_start(s, 11), 6); /* 1e999 */
  assert_int_equal(as__json_token_start(s, 17), 12); /* "q\"" */
  assert_int_equal(as__json_token_start(s, 21), 19); /* 12 */
  assert_int_equal(as__json_token_start(s, 28), 24); /* "\\\\" */
  assert_int_equal(as__json_token_start(s, 29), 28); /* ':' */
  assert_int_equal(as__json_token_start("x\"", 2), 1); /* no opening quote */
  assert_int_equal(as__json_token_start("\"", 1), 0);
  assert_int_equal(as__json_token_start("\\\"x\"", 4), 3); /* only backslashes before */

  json_error_t je;
  as_json_error e;
  memset(&je, 0, sizeof je);
  je.text[JSON_ERROR_TEXT_LENGTH - 1] = (char)json_error_duplicate_key;
  je.position = 5;
  assert_int_equal(as__json_from_jansson(s, strlen(s), &je, &e), AS_PARSE);
  assert_string_equal(e.reason, "duplicate key \"ab\" (an object names each member once)");
  assert_int_equal(e.offset, 1);
  /* A key token too short to hold its quotes (no real parse gives one). */
  je.position = 1;
  assert_int_equal(as__json_from_jansson(s, strlen(s), &je, &e), AS_PARSE);
  assert_string_equal(e.reason, "duplicate key \"\" (an object names each member once)");
  /* Positions outside the text count as its end. */
  je.text[JSON_ERROR_TEXT_LENGTH - 1] = (char)json_error_numeric_overflow;
  je.position = -4;
  assert_int_equal(as__json_from_jansson("12", 2, &je, &e), AS_PARSE);
  assert_int_equal(e.offset, 0);
  assert_non_null(strstr(e.reason, "number '12' is out of range"));
  je.position = 99;
  assert_int_equal(as__json_from_jansson("[7]", 3, &je, &e), AS_PARSE);
  assert_int_equal(e.offset, 2);
  /* Anything else, after the validator passed the text, is memory. */
  je.text[JSON_ERROR_TEXT_LENGTH - 1] = (char)json_error_invalid_syntax;
  je.position = 3;
  assert_int_equal(as__json_from_jansson("[7]", 3, &je, &e), AS_NOMEM);
  assert_string_equal(e.reason, "out of memory");
}

/* jansson's allocations, through the wrapped malloc, fail in turn: every
** failure is AS_NOMEM with nothing left allocated. */
static void test_alloc_countdown(void **state) {
  (void)state;
  json_set_alloc_funcs(malloc, free);
  const char *t = "{\"a\":[1,2.5,\"three\",{\"b\":null}],\"c\":\"\\u00e9\"}";
  for (unsigned long n = 1;; n++) {
    size_t live = fw_live_blocks();
    fw_countdown(FW_ALLOC, n, ENOMEM, 0);
    json_t *v = NULL;
    as_json_error e;
    int rc = as_json_parse(t, strlen(t), &v, &e);
    fw_disarm();
    if (!fw_fired()) {
      assert_int_equal(rc, AS_OK);
      json_decref(v);
      assert_int_equal(fw_live_blocks(), live);
      assert_true(n > 3);
      break;
    }
    if (rc != AS_NOMEM) fail_msg("allocation %lu failing gave %s", n, as_status_name(rc));
    assert_null(v);
    assert_string_equal(e.reason, "out of memory");
    assert_int_equal(fw_live_blocks(), live);
  }
}

int main(void) {
  json_object_seed(1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_accepts, setup),
      cmocka_unit_test_setup(test_duplicates, setup),
      cmocka_unit_test_setup(test_duplicate_long_key, setup),
      cmocka_unit_test_setup(test_trailing, setup),
      cmocka_unit_test_setup(test_nul, setup),
      cmocka_unit_test_setup(test_utf8, setup),
      cmocka_unit_test_setup(test_strings, setup),
      cmocka_unit_test_setup(test_grammar, setup),
      cmocka_unit_test_setup(test_numbers_and_literals, setup),
      cmocka_unit_test_setup(test_empty, setup),
      cmocka_unit_test_setup(test_depth, setup),
      cmocka_unit_test_setup(test_size_cap, setup),
      cmocka_unit_test_setup(test_arguments, setup),
      cmocka_unit_test_setup(test_locate, setup),
      cmocka_unit_test_setup(test_jansson_mapping, setup),
      cmocka_unit_test_setup(test_alloc_countdown, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

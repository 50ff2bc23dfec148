/*
** json.c -- the strict JSON layer (json.h).
**
** Two passes. First a validator of our own walks the text once with a fixed
** stack of AS_JSON_MAX_DEPTH levels and checks all of RFC 8259's grammar and
** encoding: NUL bytes, UTF-8 (overlong forms, surrogates, past U+10FFFF),
** string escapes (\u0000, lone UTF-16 surrogates), control bytes, number
** and literal syntax, nesting, and text after the value. Then jansson builds
** the value and refuses what only it can see: duplicate keys and numbers
** out of its range.
**
** Why not jansson alone: it reports the position after the token it choked
** on and a column in characters, its messages name its flags, and it
** recurses once per nesting level. The validator names the byte where the
** problem starts, in words a person can act on, and deep input never
** reaches jansson. The fuzz harness (fuzz/json/) checks that the two agree
** on every input but the deep ones.
**
** jansson allocates through its own hooks (json_set_alloc_funcs), which
** this file leaves alone: who installs them is the process's choice.
*/
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "agentsim/json.h"
#include "core_internal.h"
#include "json_internal.h"

/* --- positions and reasons ---------------------------------------------------- */

void as_json_locate(const char *text, size_t len, size_t offset, unsigned *line,
                    unsigned *column) {
  if (offset > len) offset = len;
  size_t ln = 1, bol = 0;
  for (size_t i = 0; i < offset; i++)
    if (text[i] == '\n') {
      ln++;
      bol = i + 1;
    }
  if (line) *line = (unsigned)ln;
  if (column) *column = (unsigned)(offset - bol + 1);
}

void as__utf8_copy(char *dst, size_t cap, const char *src, size_t n) {
  if (n >= cap) {
    n = cap - 1;
    /* A cut before a continuation byte splits a character: cut before its
    ** lead byte instead. */
    while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80) n--;
  }
  memcpy(dst, src, n);
  dst[n] = '\0';
}

void as__json_fail(as_json_error *err, const char *text, size_t len, size_t offset,
                   const char *fmt, ...) {
  if (!err) return;
  /* Room past the reason's buffer, so a cut lands where as__utf8_copy can
  ** see the character it would split. */
  char tmp[2 * AS_JSON_REASON_MAX] = "";
  va_list ap;
  va_start(ap, fmt);
  (void)vsnprintf(tmp, sizeof tmp, fmt, ap); /* ignore: a failed or cut format still refuses */
  va_end(ap);
  as__utf8_copy(err->reason, sizeof err->reason, tmp, strnlen(tmp, sizeof tmp - 1));
  err->offset = offset;
  as_json_locate(text, len, offset, &err->line, &err->column);
}

/* --- UTF-8 -------------------------------------------------------------------- */

/* Length (2..4) of the valid UTF-8 sequence at s[i..n), s[i] >= 0x80, or
** 0 with *why saying what is wrong with it (the lead byte at s[i] is the
** one named). */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t i, const char **why) {
  unsigned char b = s[i];
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF; /* the second byte's range */
  if (b < 0xC0) {
    *why = "a continuation byte with no lead byte";
    return 0;
  }
  if (b < 0xC2) {
    *why = "overlong encoding";
    return 0;
  }
  if (b < 0xE0) {
    len = 2;
  } else if (b < 0xF0) {
    len = 3;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
  } else if (b < 0xF5) {
    len = 4;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    *why = "not a UTF-8 lead byte (past U+10FFFF)";
    return 0;
  }
  if (n - i < len) {
    *why = "cut short by the end of the text";
    return 0;
  }
  if (s[i + 1] < lo || s[i + 1] > hi) {
    if (s[i + 1] < 0x80 || s[i + 1] > 0xBF)
      *why = "cut short: the next byte is not a continuation byte";
    else if (b == 0xED)
      *why = "an encoded UTF-16 surrogate, U+D800..U+DFFF";
    else if (b == 0xF4)
      *why = "past U+10FFFF";
    else
      *why = "overlong encoding";
    return 0;
  }
  for (size_t k = 2; k < len; k++)
    if ((s[i + k] & 0xC0) != 0x80) {
      *why = "cut short: the next byte is not a continuation byte";
      return 0;
    }
  return len;
}

/* --- the validator ------------------------------------------------------------ */

typedef enum want {
  W_VALUE,         /* a value: the start, after ':' or after ',' in an array */
  W_VALUE_OR_END,  /* just after '[' */
  W_KEY_OR_END,    /* just after '{' */
  W_KEY,           /* after ',' in an object */
  W_COLON,         /* after a key */
  W_NEXT,          /* after a value in an array or object: ',' or its close */
  W_DONE           /* after the top-level value */
} want;

typedef struct scan {
  const unsigned char *s;
  size_t n, i;
  as_json_error *err;
  unsigned depth;
  unsigned char open[AS_JSON_MAX_DEPTH]; /* '[' or '{' */
  size_t at[AS_JSON_MAX_DEPTH];          /* where each was opened */
  char after;                            /* for W_VALUE: 0 (the start), ':' or ',' */
} scan;

#define FAIL(sc, off, ...)                                                    \
  (as__json_fail((sc)->err, (const char *)(sc)->s, (sc)->n, (off), __VA_ARGS__), AS_PARSE)

/* A refusal of an invalid UTF-8 sequence at s[i]. */
static AS_WUR int bad_utf8(scan *sc, size_t i, const char *why) {
  return FAIL(sc, i, "invalid UTF-8 byte 0x%02X (%s)", sc->s[i], why);
}

/* Refuse the byte at sc->i, which is not what `expected` (a phrase) asks
** for. */
static AS_WUR int unexpected(scan *sc, const char *expected) {
  size_t i = sc->i;
  unsigned char c = sc->s[i];
  if (c == 0) return FAIL(sc, i, "NUL byte (0x00) in the text; %s", expected);
  if (c >= 0x80) {
    const char *why = NULL;
    size_t len = utf8_seq(sc->s, sc->n, i, &why);
    if (len == 0) return bad_utf8(sc, i, why);
    if (i == 0 && len == 3 && memcmp(sc->s, "\xEF\xBB\xBF", 3) == 0)
      return FAIL(sc, i, "a byte order mark (EF BB BF) starts the text; JSON text has none");
    uint32_t cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    for (size_t k = 1; k < len; k++) cp = (cp << 6) | (sc->s[i + k] & 0x3F);
    return FAIL(sc, i, "%s, found the character U+%04X", expected, (unsigned)cp);
  }
  if (c < 0x20 || c == 0x7F) return FAIL(sc, i, "%s, found the control byte 0x%02X", expected, c);
  if (c == '\'')
    return FAIL(sc, i, "%s, found '\\'' (JSON strings use double quotes)", expected);
  return FAIL(sc, i, "%s, found '%c'", expected, c);
}

static int is_hex(unsigned char c) { return memchr("0123456789abcdefABCDEF", c, 22) != NULL; }

/* The value of the four hex digits at s[i..i+4) (all checked present). */
static unsigned hex4(const unsigned char *s, size_t i) {
  unsigned v = 0;
  for (size_t k = 0; k < 4; k++) {
    unsigned char c = s[i + k];
    v = v * 16 + (c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10));
  }
  return v;
}

/* "\uXXXX" at s[i] (the backslash): 1 when it is there with four hex digits. */
static int has_u_escape(const scan *sc, size_t i) {
  if (sc->n - i < 6 || sc->s[i] != '\\' || sc->s[i + 1] != 'u') return 0;
  for (size_t k = 2; k < 6; k++)
    if (!is_hex(sc->s[i + k])) return 0;
  return 1;
}

/* One escape at s[i] (the backslash); *next past it. */
static AS_WUR int scan_escape(scan *sc, size_t i, size_t *next) {
  unsigned char e = sc->s[i + 1];
  if (memchr("\"\\/bfnrt", e, 8)) {
    *next = i + 2;
    return AS_OK;
  }
  if (e != 'u') {
    if (e < 0x21 || e > 0x7E)
      return FAIL(sc, i, "invalid escape: '\\' followed by byte 0x%02X (valid: \\\" \\\\ \\/ "
                  "\\b \\f \\n \\r \\t \\uXXXX)", e);
    return FAIL(sc, i, "invalid escape '\\%c' (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t "
                "\\uXXXX)", e);
  }
  if (!has_u_escape(sc, i)) return FAIL(sc, i, "\\u must be followed by four hex digits");
  unsigned cp = hex4(sc->s, i + 2);
  if (cp == 0) return FAIL(sc, i, "\\u0000 (NUL) is not allowed in a string");
  if (cp >= 0xDC00 && cp <= 0xDFFF)
    return FAIL(sc, i, "\\u%04X is a lone UTF-16 low surrogate (it must follow a "
                "\\uD800..\\uDBFF escape)", cp);
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    if (!has_u_escape(sc, i + 6) || hex4(sc->s, i + 8) < 0xDC00 || hex4(sc->s, i + 8) > 0xDFFF)
      return FAIL(sc, i, "\\u%04X is a lone UTF-16 high surrogate (it must be followed by a "
                  "\\uDC00..\\uDFFF escape)", cp);
    *next = i + 12;
    return AS_OK;
  }
  *next = i + 6;
  return AS_OK;
}

/* A string starting at s[i] (the quote); sc->i past its closing quote. */
static AS_WUR int scan_string(scan *sc) {
  size_t start = sc->i, i = start + 1;
  for (;;) {
    if (i >= sc->n) return FAIL(sc, start, "unterminated string: no closing '\"'");
    unsigned char c = sc->s[i];
    if (c == '"') break;
    if (c == '\\') {
      if (i + 1 >= sc->n) return FAIL(sc, start, "unterminated string: no closing '\"'");
      int rc = scan_escape(sc, i, &i);
      if (rc != AS_OK) return rc;
    } else if (c == 0) {
      return FAIL(sc, i, "NUL byte (0x00) in a string");
    } else if (c < 0x20) {
      return FAIL(sc, i, "control byte 0x%02X in a string (write it as an escape: \\n, \\t, "
                  "\\u00%02X)", c, c);
    } else if (c < 0x80) {
      i++;
    } else {
      const char *why = NULL;
      size_t len = utf8_seq(sc->s, sc->n, i, &why);
      if (len == 0) return bad_utf8(sc, i, why);
      i += len;
    }
  }
  sc->i = i + 1;
  return AS_OK;
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

#define NUMBER_BYTES "0123456789+-.eE"

/* How many bytes of a number-looking run start at s[i] (for messages). */
static int number_run(const scan *sc, size_t i) {
  size_t k = i;
  while (k < sc->n && k - i < 24 && memchr(NUMBER_BYTES, sc->s[k], sizeof NUMBER_BYTES - 1)) k++;
  return (int)(k - i);
}

/* A number at s[i]: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static AS_WUR int scan_number(scan *sc) {
  size_t start = sc->i, i = start;
  const unsigned char *s = sc->s;
  int run = number_run(sc, start);
  if (s[i] == '-') i++;
  if (i < sc->n && s[i] == '0') {
    i++;
    if (i < sc->n && is_digit(s[i]))
      return FAIL(sc, start, "invalid number '%.*s': no leading zeros (write 5 or 0.5, not 05)",
                  run, (const char *)s + start);
  } else if (i < sc->n && is_digit(s[i])) {
    while (i < sc->n && is_digit(s[i])) i++;
  } else {
    return FAIL(sc, start, "invalid number '%.*s': expected a digit after '-'", run,
                (const char *)s + start);
  }
  if (i < sc->n && s[i] == '.') {
    i++;
    if (i >= sc->n || !is_digit(s[i]))
      return FAIL(sc, start, "invalid number '%.*s': expected a digit after '.'", run,
                  (const char *)s + start);
    while (i < sc->n && is_digit(s[i])) i++;
  }
  if (i < sc->n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < sc->n && (s[i] == '+' || s[i] == '-')) i++;
    if (i >= sc->n || !is_digit(s[i]))
      return FAIL(sc, start, "invalid number '%.*s': expected a digit in the exponent", run,
                  (const char *)s + start);
    while (i < sc->n && is_digit(s[i])) i++;
  }
  sc->i = i;
  return AS_OK;
}

static int is_alnum(unsigned char c) {
  return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* A word at s[i] (a letter): true, false or null, and nothing else. */
static AS_WUR int scan_literal(scan *sc) {
  size_t start = sc->i, i = start;
  while (i < sc->n && is_alnum(sc->s[i])) i++;
  size_t len = i - start;
  const char *w = (const char *)sc->s + start;
  if ((len == 4 && memcmp(w, "true", 4) == 0) || (len == 5 && memcmp(w, "false", 5) == 0) ||
      (len == 4 && memcmp(w, "null", 4) == 0)) {
    sc->i = i;
    return AS_OK;
  }
  return FAIL(sc, start, "invalid literal '%.*s%s' (expected true, false, null, a number "
              "or a string)", len > 24 ? 24 : (int)len, w, len > 24 ? "..." : "");
}

/* The value starting at s[i]: a scalar is scanned whole, a container is
** opened; `expected` says what was wanted when there is none. */
static AS_WUR int scan_value(scan *sc, want *w, const char *expected) {
  unsigned char c = sc->s[sc->i];
  int rc;
  if (c == '[' || c == '{') {
    if (sc->depth == AS_JSON_MAX_DEPTH)
      return FAIL(sc, sc->i, "nesting deeper than %u arrays and objects", AS_JSON_MAX_DEPTH);
    sc->open[sc->depth] = c;
    sc->at[sc->depth] = sc->i;
    sc->depth++;
    sc->i++;
    *w = c == '[' ? W_VALUE_OR_END : W_KEY_OR_END;
    return AS_OK;
  }
  if (c == '"')
    rc = scan_string(sc);
  else if (c == '-' || is_digit(c))
    rc = scan_number(sc);
  else if (c < 0x80 && is_alnum(c))
    rc = scan_literal(sc);
  else
    return unexpected(sc, expected);
  if (rc == AS_OK) *w = sc->depth ? W_NEXT : W_DONE;
  return rc;
}

/* A close bracket at s[i] for the innermost open container. */
static AS_WUR int scan_close(scan *sc, want *w) {
  unsigned char c = sc->s[sc->i];
  unsigned char want_close = sc->open[sc->depth - 1] == '[' ? ']' : '}';
  if (c != want_close) {
    unsigned line, col;
    as_json_locate((const char *)sc->s, sc->n, sc->at[sc->depth - 1], &line, &col);
    return FAIL(sc, sc->i, "'%c' does not close the '%c' at line %u, column %u (expected '%c')",
                c, sc->open[sc->depth - 1], line, col, want_close);
  }
  sc->depth--;
  sc->i++;
  *w = sc->depth ? W_NEXT : W_DONE;
  return AS_OK;
}

static int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* One step of the grammar at a non-space byte s[i]. */
static AS_WUR int step(scan *sc, want *w) {
  unsigned char c = sc->s[sc->i];
  int in_array = sc->depth && sc->open[sc->depth - 1] == '[';
  switch (*w) {
  case W_VALUE_OR_END:
    if (c == ']') return scan_close(sc, w);
    return scan_value(sc, w, "expected a value or ']'");
  case W_VALUE:
    if (c == ']' && sc->after == ',') return FAIL(sc, sc->i, "trailing comma before ']'");
    return scan_value(sc, w, sc->after == ':'   ? "expected a value after ':'"
                             : sc->after == ',' ? "expected a value after ','"
                                                : "expected a JSON value");
  case W_KEY_OR_END:
    if (c == '}') return scan_close(sc, w);
    if (c != '"') return unexpected(sc, "expected a string key or '}'");
    *w = W_COLON;
    return scan_string(sc);
  case W_KEY:
    if (c == '}') return FAIL(sc, sc->i, "trailing comma before '}'");
    if (c != '"') return unexpected(sc, "expected a string key after ','");
    *w = W_COLON;
    return scan_string(sc);
  case W_COLON:
    if (c != ':') return unexpected(sc, "expected ':' after the key");
    sc->i++;
    sc->after = ':';
    *w = W_VALUE;
    return AS_OK;
  case W_NEXT:
    if (c == ',') {
      sc->i++;
      sc->after = ',';
      *w = in_array ? W_VALUE : W_KEY;
      return AS_OK;
    }
    if (c == ']' || c == '}') return scan_close(sc, w);
    return unexpected(sc, in_array ? "expected ',' or ']' after an array element"
                                   : "expected ',' or '}' after a member's value");
  default: /* W_DONE */
    break;
  }
  return unexpected(sc, "expected the end of the text after the JSON value");
}

static AS_WUR int validate(const char *text, size_t len, as_json_error *err) {
  scan sc;
  memset(&sc, 0, sizeof sc);
  sc.s = (const unsigned char *)text;
  sc.n = len;
  sc.err = err;
  want w = W_VALUE;
  for (;;) {
    while (sc.i < sc.n && is_ws(sc.s[sc.i])) sc.i++;
    if (sc.i >= sc.n) break;
    int rc = step(&sc, &w);
    if (rc != AS_OK) return rc;
  }
  if (w == W_DONE) return AS_OK;
  if (sc.depth == 0) return FAIL(&sc, sc.n, "empty text: expected a JSON value");
  unsigned line, col;
  as_json_locate(text, len, sc.at[sc.depth - 1], &line, &col);
  return FAIL(&sc, sc.n, "the text ends before the '%c' at line %u, column %u is closed",
              sc.open[sc.depth - 1], line, col);
}

/* --- jansson ------------------------------------------------------------------ */

/* Where the token ending at s[pos] starts: jansson reports the position
** after the token it refused. A string's opening quote is the first quote
** back that an even number of backslashes precedes (every quote inside it
** is escaped); a number is a run of its characters; anything else is the
** byte before pos. */
size_t as__json_token_start(const char *s, size_t pos) {
  if (pos == 0) return 0;
  if (s[pos - 1] == '"') {
    for (size_t q = pos - 1; q-- > 0;) {
      if (s[q] != '"') continue;
      size_t bs = 0;
      while (bs < q && s[q - 1 - bs] == '\\') bs++;
      if (bs % 2 == 0) return q;
    }
    return pos - 1;
  }
  size_t p = pos;
  while (p > 0 && memchr(NUMBER_BYTES, s[p - 1], sizeof NUMBER_BYTES - 1)) p--;
  return p < pos ? p : pos - 1;
}

int as__json_from_jansson(const char *text, size_t len, const json_error_t *je,
                          as_json_error *err) {
  size_t pos = je->position < 0 || (size_t)je->position > len ? len : (size_t)je->position;
  size_t at = as__json_token_start(text, pos);
  size_t tok = pos - at; /* the token's length */
  switch (json_error_code(je)) {
  case json_error_duplicate_key: {
    /* The key as written, between its quotes (a token of at least the two
    ** quotes), cut to keep the reason short. */
    char key[49];
    size_t klen = tok >= 2 ? tok - 2 : 0;
    as__utf8_copy(key, sizeof key, text + at + (tok >= 2), klen);
    as__json_fail(err, text, len, at, "duplicate key \"%s%s\" (an object names each member once)",
                  key, klen >= sizeof key ? "..." : "");
    return AS_PARSE;
  }
  case json_error_numeric_overflow:
    as__json_fail(err, text, len, at, "number '%.*s%s' is out of range (64-bit integers, finite "
                  "doubles)", (int)(tok > 24 ? 24 : tok), text + at, tok > 24 ? "..." : "");
    return AS_PARSE;
  default:
    /* The validator passed the text, so the grammar is sound: what jansson
    ** refuses now is its memory running out, which it reports as it can --
    ** json_error_out_of_memory, no message at all (a failed lex_init or
    ** object insert), or the "invalid token" of a string it could not copy.
    ** (The fuzz harness checks that jansson alone refuses no text the
    ** validator passes, but for duplicates and numbers out of range.) */
    as__json_fail(err, text, len, at, "out of memory");
    return AS_NOMEM;
  }
}

int as_json_parse(const char *text, size_t len, json_t **out, as_json_error *err) {
  if (out) *out = NULL;
  if (err) memset(err, 0, sizeof *err);
  if (!out || (!text && len)) {
    as__json_fail(err, "", 0, 0, "invalid argument: no output or no text");
    return AS_INVAL;
  }
  if (!text) text = "";
  if (len > AS_JSON_MAX_BYTES) {
    as__json_fail(err, text, len, AS_JSON_MAX_BYTES, "the text is %zu bytes, over the cap of %u",
                  len, AS_JSON_MAX_BYTES);
    return AS_TOOBIG;
  }
  int rc = validate(text, len, err);
  if (rc != AS_OK) return rc;
  json_error_t je;
  json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
  if (!v) return as__json_from_jansson(text, len, &je, err);
  *out = v;
  return AS_OK;
}

void as__json_free(void *p) {
  json_malloc_t m;
  json_free_t f;
  json_get_alloc_funcs(&m, &f);
  if (p) f(p);
}

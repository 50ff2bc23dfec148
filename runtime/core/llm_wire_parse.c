/*
** llm_wire_parse.c -- the response side of the providers' wire formats
** (llm_wire.h): one JSON body, an SSE stream (OpenAI) or an NDJSON stream
** (Ollama) into an as_llm_response; a non-2xx answer into a typed error.
**
** Bytes are split into lines as they come (a line, and so a UTF-8
** sequence, may span any number of feeds); each complete line is parsed
** whole, so every split of the same bytes gives the same answer. A JSON
** text of up to AS_JSON_MAX_BYTES goes through the strict layer
** (as_json_parse); a longer one (a big non-streaming body) through jansson
** with duplicate keys refused, after a scan that refuses nesting past
** AS_WIRE_DEPTH_MAX. What the formats look like, and every quirk
** tolerated, is in docs/providers.md.
**
** The parser's status is sticky (STYLE.md rule 5): after a failure every
** call answers the same status and error.
*/
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agentsim/budget.h"
#include "agentsim/json.h"
#include "agentsim/llm_wire.h"
#include "agentsim/mutant.h"
#include "agentsim/seam.h"
#include "json_internal.h"

/* --- capped buffers ---------------------------------------------------------------- */

typedef struct wbuf {
  char *p; /* NUL-terminated once anything was added */
  size_t len, cap;
} wbuf;

/* Append s[0..n) to b, keeping b->len <= max: AS_TOOBIG past it. */
static AS_WUR int wbuf_add(wbuf *b, const char *s, size_t n, size_t max) {
  if (n > max - b->len) return AS_TOOBIG;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1) cap *= 2;
    if (cap > max + 1) cap = max + 1;
    char *q = as_realloc(b->p, cap);
    if (!q) return AS_NOMEM;
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
  return AS_OK;
}

static void wbuf_free(wbuf *b) {
  as_free(b->p);
  memset(b, 0, sizeof *b);
}

static char *dup_n(const char *s, size_t n) {
  char *d = as_malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

/* --- the parser --------------------------------------------------------------------- */

typedef struct slot {
  int64_t key; /* OpenAI's delta index: fragments with the same one join */
  char id[AS_LLM_CALL_ID_MAX];
  char name[AS_LLM_NAME_MAX]; /* the wire name */
  wbuf args;
} slot;

struct as_wire_parser {
  as_wire_kind kind;
  bool stream, structured;
  const as_wire_names *names;
  int rc;           /* sticky */
  as_llm_error err; /* its error */
  bool finished;
  size_t total;     /* bytes fed */
  size_t lines;     /* stream lines seen */
  char loc[32];     /* "line N" or "the body": where messages place a fault */
  wbuf buf;         /* the body, or the stream's current line */
  bool cr;          /* SSE: the last byte ended a line with CR */
  bool ended;       /* [DONE], done: true, or a whole body read */
  wbuf text;
  slot calls[AS_LLM_CALLS_MAX];
  size_t ncalls;
  bool has_finish;
  as_llm_finish finish;
  bool has_usage;
  as_llm_usage usage;
};

/* The status of a typed kind (not NONE). */
static int kind_status(as_llm_error_kind k) {
  static const int st[] = {
      AS_INTERNAL,
#define AS__KST(NAME, name, status) status,
      AS_LLM_ERROR_MAP(AS__KST)
#undef AS__KST
  };
  return st[k];
}

/* Fail p with status rc (a typed kind, or NONE for AS_TOOBIG / AS_NOMEM) and
** a message. Returns rc. */
static int fail(as_wire_parser *p, int rc, as_llm_error_kind kind, const char *fmt, ...)
    AS_PRINTF(4, 5);
static int fail(as_wire_parser *p, int rc, as_llm_error_kind kind, const char *fmt, ...) {
  memset(&p->err, 0, sizeof p->err);
  p->err.kind = kind;
  /* Room past the message's buffer, so a cut lands where as__utf8_copy can
  ** see the character it would split. */
  char tmp[2 * AS_LLM_ERROR_MAX] = "";
  va_list ap;
  va_start(ap, fmt);
  (void)vsnprintf(tmp, sizeof tmp, fmt, ap); /* ignore: a cut message still says what */
  va_end(ap);
  as__utf8_copy(p->err.message, sizeof p->err.message, tmp, strnlen(tmp, sizeof tmp - 1));
  p->rc = rc;
  return rc;
}

#define MALFORMED(p, ...) fail((p), AS_PARSE, AS_LLM_ERR_MALFORMED, __VA_ARGS__)

static int nomem(as_wire_parser *p) {
  return fail(p, AS_NOMEM, AS_LLM_ERR_NONE, "out of memory");
}

/* A capped buffer's status (AS_TOOBIG: "WHAT over MAX bytes"; AS_NOMEM)
** as p's failure. */
static int fail_cap(as_wire_parser *p, int rc, const char *what, unsigned max) {
  if (rc == AS_NOMEM) return nomem(p);
  return fail(p, rc, AS_LLM_ERR_NONE, "%s: %s over %u bytes", p->loc, what, max);
}

int as_wire_parser_new(as_wire_parser **out, const as_wire_opts *o, const as_wire_names *names) {
  if (out) *out = NULL;
  if (!out || !o || (unsigned)o->kind >= AS__WIRE_COUNT) return AS_INVAL;
  as_wire_parser *p = as_calloc(1, sizeof *p);
  if (!p) return AS_NOMEM;
  p->kind = o->kind;
  p->stream = o->stream;
  p->structured = o->structured;
  p->names = names;
  *out = p;
  return AS_OK;
}

void as_wire_parser_free(as_wire_parser *p) {
  if (!p) return;
  wbuf_free(&p->buf);
  wbuf_free(&p->text);
  for (size_t i = 0; i < p->ncalls; i++) wbuf_free(&p->calls[i].args);
  as_free(p);
}

/* --- JSON ---------------------------------------------------------------------------- */

/* Whether s[0..n) nests arrays and objects deeper than AS_WIRE_DEPTH_MAX
** (brackets inside strings do not count). */
static bool too_deep(const char *s, size_t n) {
  unsigned depth = 0;
  bool str = false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (str) {
      if (c == '\\') i++;
      else if (c == '"') str = false;
    } else if (c == '"') {
      str = true;
    } else if (c == '{' || c == '[') {
      if (++depth > AS_WIRE_DEPTH_MAX) return true;
    } else if (c == '}' || c == ']') {
      depth -= depth > 0;
    }
  }
  return false;
}

/* s[0..n) as one JSON value (p->loc says where for the message). AS_OK;
** MALFORMED; AS_NOMEM. A body that is not JSON is also said to be perhaps
** cut short. */
static AS_WUR int parse_json(as_wire_parser *p, const char *s, size_t n, json_t **v) {
  const char *trunc = p->stream && !p->finished ? "" : "truncated or not JSON: ";
  *v = NULL;
  if (n <= AS_JSON_MAX_BYTES) {
    as_json_error je;
    int rc = as_json_parse(s, n, v, &je);
    if (rc == AS_NOMEM) return nomem(p);
    if (rc != AS_OK)
      return MALFORMED(p, "%s%s is not JSON: %s (line %u, column %u)", trunc, p->loc, je.reason,
                       je.line, je.column);
    return AS_OK;
  }
  if (too_deep(s, n))
    return MALFORMED(p, "%s%s is not JSON: nesting deeper than %d arrays and objects", trunc,
                     p->loc, AS_WIRE_DEPTH_MAX);
  json_error_t je;
  *v = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
  if (*v) return AS_OK;
  /* Malformed even when jansson's memory ran out: it does not tell that
  ** apart reliably there (its lexer drops a failed growth of its token
  ** buffer and reads on), and malformed is transient for the retry policy,
  ** as memory would be. */
  return MALFORMED(p, "%s%s is not JSON: %s (line %d, column %d)", trunc, p->loc, je.text,
                   je.line, je.column);
}

static const char *type_name(const json_t *v) {
  static const char *const names[] = {"an object", "an array",  "a string", "an integer",
                                      "a number",  "a boolean", "a boolean", "null"};
  return names[json_typeof(v)];
}

/* v's type (v not NULL: jansson's json_is_* also test for NULL). */
#define IS(v, T) (json_typeof(v) == JSON_##T)

/* A member that may be absent or null: NULL for both. */
static json_t *member(const json_t *o, const char *key) {
  json_t *m = json_object_get(o, key);
  return json_is_null(m) ? NULL : m;
}

/* --- the provider's error object ------------------------------------------------------ */

static as_llm_error_kind kind_of_status(json_int_t st) {
  if (st == 429) return AS_LLM_ERR_RATE_LIMITED;
  if (st == 408) return AS_LLM_ERR_TIMEOUT;
  if (st >= 500 && st <= 599) return AS_LLM_ERR_SERVER;
  if (st >= 400 && st <= 499) return AS_LLM_ERR_REFUSAL;
  return AS_LLM_ERR_MALFORMED;
}

static as_llm_error_kind kind_of_word(const char *s) {
  static const struct {
    const char *word;
    as_llm_error_kind kind;
  } words[] = {
      {"rate_limit_exceeded", AS_LLM_ERR_RATE_LIMITED}, {"rate_limit_error", AS_LLM_ERR_RATE_LIMITED},
      {"server_error", AS_LLM_ERR_SERVER},              {"overloaded_error", AS_LLM_ERR_SERVER},
      {"timeout", AS_LLM_ERR_TIMEOUT},
  };
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (strcmp(s, words[i].word) == 0) return words[i].kind;
  return AS_LLM_ERR_MALFORMED;
}

/* The kind an error object's "code" (an HTTP status, as a number or
** digits) or "code"/"type" word names; MALFORMED when none does. */
static as_llm_error_kind kind_of_error(const json_t *e) {
  const json_t *code = json_object_get(e, "code");
  if (json_is_integer(code)) return kind_of_status(json_integer_value(code));
  const char *keys[] = {"code", "type"};
  for (size_t i = 0; i < 2; i++) {
    const json_t *w = json_object_get(e, keys[i]);
    if (!json_is_string(w)) continue;
    const char *s = json_string_value(w);
    size_t n = strspn(s, "0123456789");
    if (n == 3 && !s[n]) return kind_of_status((s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0'));
    as_llm_error_kind k = kind_of_word(s);
    if (k != AS_LLM_ERR_MALFORMED) return k;
  }
  return AS_LLM_ERR_MALFORMED;
}

/* The message of an error member: itself when a string, else its
** "message" string; NULL for none. */
static const char *error_message(const json_t *e) {
  if (IS(e, STRING)) return json_string_value(e);
  const json_t *m = json_object_get(e, "message");
  return json_is_string(m) ? json_string_value(m) : NULL;
}

static int provider_error(as_wire_parser *p, const json_t *e) {
  as_llm_error_kind k = IS(e, OBJECT) ? kind_of_error(e) : AS_LLM_ERR_MALFORMED;
  const char *msg = error_message(e);
  return fail(p, kind_status(k), k, "the provider reported an error: %s",
              msg ? msg : type_name(e));
}

/* --- the answer's parts ----------------------------------------------------------------- */

static AS_WUR int add_text(as_wire_parser *p, const json_t *m) {
  const json_t *c = member(m, "content");
  if (!c) return AS_OK;
  if (!IS(c, STRING)) return MALFORMED(p, "%s: content is %s, not a string", p->loc, type_name(c));
  int rc = wbuf_add(&p->text, json_string_value(c), json_string_length(c), AS_LLM_TEXT_MAX);
  if (rc != AS_OK) return fail_cap(p, rc, "the answer's text is", AS_LLM_TEXT_MAX);
  return AS_OK;
}

/* A string member into dst[cap] unless dst already holds one (the first
** fragment names the call). */
static AS_WUR int first_of(as_wire_parser *p, const json_t *o, const char *key, char *dst,
                           size_t cap) {
  const json_t *v = member(o, key);
  if (!v) return AS_OK;
  if (!IS(v, STRING)) return MALFORMED(p, "%s: a tool call's %s is %s, not a string", p->loc, key, type_name(v));
  size_t n = json_string_length(v);
  if (dst[0] || n == 0) return AS_OK;
  if (n >= cap)
    return fail(p, AS_TOOBIG, AS_LLM_ERR_NONE, "a tool call's %s is %zu bytes (at most %zu)",
                key, n, cap - 1);
  memcpy(dst, json_string_value(v), n + 1);
  return AS_OK;
}

/* Arguments: a JSON text (a fragment of one, streaming) appended, or an
** object (Ollama's form) serialized compact. */
static AS_WUR int add_args(as_wire_parser *p, slot *s, const json_t *a) {
  int rc = AS_OK;
  char *tmp = NULL;
  if (!a) return AS_OK;
  if (IS(a, STRING)) {
    rc = wbuf_add(&s->args, json_string_value(a), json_string_length(a), AS_LLM_ARGS_MAX);
  } else if (IS(a, OBJECT) && s->args.len == 0) {
    size_t n = json_dumpb(a, NULL, 0, JSON_COMPACT);
    tmp = n ? as_malloc(n) : NULL;
    if (!tmp || json_dumpb(a, tmp, n, JSON_COMPACT) != n) rc = AS_NOMEM;
    else rc = wbuf_add(&s->args, tmp, n, AS_LLM_ARGS_MAX);
  } else {
    return MALFORMED(p, "%s: a tool call's arguments are %s, not a JSON text or an object",
                     p->loc, type_name(a));
  }
  as_free(tmp);
  if (rc != AS_OK) return fail_cap(p, rc, "a tool call's arguments are", AS_LLM_ARGS_MAX);
  return AS_OK;
}

/* The slot for a call: when joining fragments, the latest with key, unless
** the fragment names another call's id (servers that send whole calls
** without an index, each at position 0); else a new one. */
static AS_WUR int slot_for(as_wire_parser *p, bool join, int64_t key, const json_t *id,
                           slot **out) {
  const char *ids = id && IS(id, STRING) ? json_string_value(id) : "";
  for (size_t i = p->ncalls; join && i-- > 0;)
    if (p->calls[i].key == key) {
      if (ids[0] && p->calls[i].id[0] && strcmp(ids, p->calls[i].id) != 0) break;
      *out = &p->calls[i];
      return AS_OK;
    }
  if (p->ncalls == AS_LLM_CALLS_MAX)
    return fail(p, AS_TOOBIG, AS_LLM_ERR_NONE, "more than %u tool calls", AS_LLM_CALLS_MAX);
  *out = &p->calls[p->ncalls++];
  (*out)->key = key;
  return AS_OK;
}

/* m's tool_calls: joined by their index when streaming OpenAI (join), one
** call each otherwise. */
static AS_WUR int add_calls(as_wire_parser *p, const json_t *m, bool join) {
  int rc = AS_OK;
  const json_t *tcs = member(m, "tool_calls");
  if (!tcs) return AS_OK;
  if (!IS(tcs, ARRAY)) return MALFORMED(p, "%s: tool_calls is %s, not an array", p->loc, type_name(tcs));
  for (size_t k = 0; rc == AS_OK && k < json_array_size(tcs); k++) {
    const json_t *tc = json_array_get(tcs, k);
    if (!IS(tc, OBJECT)) return MALFORMED(p, "%s: a tool call is %s, not an object", p->loc, type_name(tc));
    int64_t key = (int64_t)k;
    const json_t *idx = member(tc, "index");
    if (join && idx) {
      if (!IS(idx, INTEGER)) return MALFORMED(p, "%s: a tool call's index is %s, not an integer", p->loc, type_name(idx));
      key = (int64_t)json_integer_value(idx);
    }
    slot *s = NULL;
    rc = slot_for(p, join, key, member(tc, "id"), &s);
    if (rc != AS_OK) return rc;
    rc = first_of(p, tc, "id", s->id, sizeof s->id);
    if (rc != AS_OK) return rc;
    const json_t *fn = member(tc, "function");
    if (!fn) continue;
    if (!IS(fn, OBJECT))
      return MALFORMED(p, "%s: a tool call's function is %s, not an object", p->loc, type_name(fn));
    rc = first_of(p, fn, "name", s->name, sizeof s->name);
    if (rc == AS_OK) rc = add_args(p, s, member(fn, "arguments"));
  }
  return rc;
}

static bool finish_of(const char *s, as_llm_finish *f) {
  static const struct {
    const char *word;
    as_llm_finish f;
  } words[] = {
      {"stop", AS_LLM_FINISH_STOP},           {"end_turn", AS_LLM_FINISH_STOP},
      {"stop_sequence", AS_LLM_FINISH_STOP},  {"eos", AS_LLM_FINISH_STOP},
      {"tool_calls", AS_LLM_FINISH_TOOL_CALLS}, {"function_call", AS_LLM_FINISH_TOOL_CALLS},
      {"tool_use", AS_LLM_FINISH_TOOL_CALLS}, {"length", AS_LLM_FINISH_LENGTH},
      {"max_tokens", AS_LLM_FINISH_LENGTH},   {"content_filter", AS_LLM_FINISH_CONTENT_FILTER},
  };
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (strcmp(s, words[i].word) == 0) {
      *f = words[i].f;
      return true;
    }
  return false;
}

/* A finish reason member: a known word is kept, an unknown one is as if
** absent (the end decides: calls, else stop). */
static AS_WUR int set_finish(as_wire_parser *p, const json_t *o, const char *key) {
  const json_t *v = member(o, key);
  if (!v) return AS_OK;
  if (!IS(v, STRING)) return MALFORMED(p, "%s: %s is %s, not a string", p->loc, key, type_name(v));
  if (finish_of(json_string_value(v), &p->finish)) p->has_finish = true;
  return AS_OK;
}

/* A token count: absent or null leaves *present false. */
static AS_WUR int count(as_wire_parser *p, const json_t *o, const char *key, int64_t *out,
                        bool *present) {
  const json_t *v = member(o, key);
  *out = 0;
  *present = v != NULL;
  if (!v) return AS_OK;
  if (!IS(v, INTEGER) || json_integer_value(v) < 0 || json_integer_value(v) > AS_TOKENS_MAX)
    return MALFORMED(p, "%s: %s is not a token count (an integer in 0..%lld)", p->loc, key,
                     (long long)AS_TOKENS_MAX);
  *out = (int64_t)json_integer_value(v);
  return AS_OK;
}

/* Inclusive counts into the exclusive buckets; a usage missing a count
** stays unknown. */
static AS_WUR int set_usage(as_wire_parser *p, bool known, int64_t prompt, int64_t cached,
                            int64_t completion) {
  if (!known) return AS_OK;
  if (as_llm_usage_from_inclusive(prompt, cached, 0, completion, &p->usage) != AS_OK)
    return MALFORMED(p, "%s: usage counts %lld cached tokens of %lld", p->loc,
                     (long long)cached, (long long)prompt);
  p->has_usage = true;
  return AS_OK;
}

static AS_WUR int openai_usage(as_wire_parser *p, const json_t *u) {
  int64_t prompt, completion, cached = 0;
  bool hp, hc, hk = false;
  if (!IS(u, OBJECT)) return MALFORMED(p, "%s: usage is %s, not an object", p->loc, type_name(u));
  int rc = count(p, u, "prompt_tokens", &prompt, &hp);
  if (rc == AS_OK) rc = count(p, u, "completion_tokens", &completion, &hc);
  const json_t *d = member(u, "prompt_tokens_details");
  if (rc == AS_OK && d && !IS(d, OBJECT))
    return MALFORMED(p, "%s: prompt_tokens_details is %s, not an object", p->loc, type_name(d));
  if (rc == AS_OK && d) rc = count(p, d, "cached_tokens", &cached, &hk);
  if (rc == AS_OK) rc = set_usage(p, hp && hc, prompt, cached, completion);
  return rc;
}

/* The choice of index 0 (the one we asked for): the element whose "index"
** is 0, else the first one when it names no index. NULL when none. */
static const json_t *choice0(const json_t *choices) {
  for (size_t i = 0; i < json_array_size(choices); i++) {
    const json_t *c = json_array_get(choices, i);
    const json_t *idx = json_object_get(c, "index");
    if (idx ? IS(idx, INTEGER) && json_integer_value(idx) == 0 : i == 0) return c;
  }
  return NULL;
}

/* One OpenAI object: a streamed chunk (delta) or the whole body
** (message). */
static AS_WUR int openai_obj(as_wire_parser *p, const json_t *v, bool delta) {
  int rc = AS_OK;
  if (!IS(v, OBJECT)) return MALFORMED(p, "%s: the JSON is %s, not an object", p->loc, type_name(v));
  const json_t *e = member(v, "error");
  if (e) return provider_error(p, e);
  const json_t *choices = member(v, "choices");
  if (choices && !IS(choices, ARRAY))
    return MALFORMED(p, "%s: choices is %s, not an array", p->loc, type_name(choices));
  const json_t *ch = choices ? choice0(choices) : NULL;
  if (!ch && !delta) return MALFORMED(p, "the body has no choice 0");
  if (ch) {
    if (!IS(ch, OBJECT)) return MALFORMED(p, "%s: choice 0 is %s, not an object", p->loc, type_name(ch));
    const json_t *m = member(ch, delta ? "delta" : "message");
    if (m && !IS(m, OBJECT))
      return MALFORMED(p, "%s: choice 0's %s is %s, not an object", p->loc,
                       delta ? "delta" : "message", type_name(m));
    if (!m && !delta) return MALFORMED(p, "the body's choice 0 has no message");
    if (m) rc = add_text(p, m);
    if (m && rc == AS_OK) rc = add_calls(p, m, delta);
    if (rc == AS_OK) rc = set_finish(p, ch, "finish_reason");
  }
  /* A chunk may carry usage beside choices, or with none (an empty, null or
  ** absent array: OpenAI's include_usage chunk): read it either way. */
  if (AS_MUTANT(STREAM_USAGE_NEEDS_CHOICE) && delta && !ch) return rc;
  const json_t *u = member(v, "usage");
  if (rc == AS_OK && u) rc = openai_usage(p, u);
  return rc;
}

/* One Ollama object: a line of the stream, or the whole body. */
static AS_WUR int ollama_obj(as_wire_parser *p, const json_t *v) {
  int rc = AS_OK;
  if (!IS(v, OBJECT)) return MALFORMED(p, "%s: the JSON is %s, not an object", p->loc, type_name(v));
  const json_t *e = member(v, "error");
  if (e) return provider_error(p, e);
  const json_t *m = member(v, "message");
  if (m && !IS(m, OBJECT)) return MALFORMED(p, "%s: message is %s, not an object", p->loc, type_name(m));
  if (m) rc = add_text(p, m);
  if (m && rc == AS_OK) rc = add_calls(p, m, false);
  const json_t *d = member(v, "done");
  if (rc == AS_OK && d && !(IS(d, TRUE) || IS(d, FALSE)))
    return MALFORMED(p, "%s: done is %s, not a boolean", p->loc, type_name(d));
  if (rc == AS_OK && json_is_true(d)) {
    int64_t prompt, completion;
    bool hp, hc;
    p->ended = true;
    rc = set_finish(p, v, "done_reason");
    if (rc == AS_OK) rc = count(p, v, "prompt_eval_count", &prompt, &hp);
    if (rc == AS_OK) rc = count(p, v, "eval_count", &completion, &hc);
    if (rc == AS_OK) rc = set_usage(p, hp && hc, prompt, 0, completion);
  }
  return rc;
}

/* --- lines ------------------------------------------------------------------------------ */

static AS_WUR int sse_line(as_wire_parser *p, const char *s, size_t n) {
  if (n == 0 || s[0] == ':') return AS_OK; /* an event's end; a comment */
  const char *colon = memchr(s, ':', n);
  size_t flen = colon ? (size_t)(colon - s) : n;
  if (flen != 4 || memcmp(s, "data", 4) != 0) return AS_OK; /* event:, id:, retry:, ... */
  const char *val = colon ? colon + 1 : s + n;
  size_t vlen = (size_t)(s + n - val);
  if (vlen && val[0] == ' ') {
    val++;
    vlen--;
  }
  size_t tlen = vlen; /* without trailing blanks */
  while (tlen && (val[tlen - 1] == ' ' || val[tlen - 1] == '\t')) tlen--;
  if (tlen == 0) return AS_OK; /* a keep-alive */
  if (p->ended) return MALFORMED(p, "%s: data after data: [DONE]", p->loc);
  if (tlen == 6 && memcmp(val, "[DONE]", 6) == 0) {
    p->ended = true;
    return AS_OK;
  }
  json_t *v = NULL;
  int rc = parse_json(p, val, vlen, &v);
  if (rc == AS_OK) rc = openai_obj(p, v, true);
  json_decref(v);
  return rc;
}

static AS_WUR int ndjson_line(as_wire_parser *p, const char *s, size_t n) {
  if (strspn(s, " \t\r") == n) return AS_OK; /* a blank line */
  if (p->ended) return MALFORMED(p, "%s: a line after the one with done: true", p->loc);
  json_t *v = NULL;
  int rc = parse_json(p, s, n, &v);
  if (rc == AS_OK) rc = ollama_obj(p, v);
  json_decref(v);
  return rc;
}

/* The line in p->buf is complete. */
static AS_WUR int line_done(as_wire_parser *p) {
  p->lines++;
  (void)snprintf(p->loc, sizeof p->loc, "line %zu", p->lines); /* ignore: fits */
  const char *s = p->buf.p;
  size_t n = p->buf.len;
  p->buf.len = 0;
  return p->kind == AS_WIRE_OPENAI ? sse_line(p, s, n) : ndjson_line(p, s, n);
}

static AS_WUR int feed_lines(as_wire_parser *p, const char *data, size_t n) {
  int rc = AS_OK;
  bool sse = p->kind == AS_WIRE_OPENAI;
  for (size_t i = 0; rc == AS_OK && i < n;) {
    if (p->cr) {
      p->cr = false;
      if (data[i] == '\n') { /* the LF of a CRLF */
        i++;
        continue;
      }
    }
    size_t j = i;
    while (j < n && data[j] != '\n' && !(sse && data[j] == '\r')) j++;
    rc = wbuf_add(&p->buf, data + i, j - i, AS_WIRE_LINE_MAX);
    if (rc != AS_OK) {
      (void)snprintf(p->loc, sizeof p->loc, "line %zu", p->lines + 1); /* ignore: fits */
      return fail_cap(p, rc, "the line is", AS_WIRE_LINE_MAX);
    }
    if (j == n) break;
    p->cr = data[j] == '\r';
    rc = line_done(p);
    i = j + 1;
  }
  return rc;
}

static void copy_err(const as_wire_parser *p, as_llm_error *err) {
  if (err) *err = p->err;
}

int as_wire_parser_feed(as_wire_parser *p, const char *data, size_t n, as_llm_error *err) {
  int rc = AS_OK;
  if (err) memset(err, 0, sizeof *err);
  if (!p || (n && !data)) return AS_INVAL;
  if (p->rc != AS_OK) goto out;
  if (p->finished) return AS_INVAL;
  if (n == 0) goto out;
  if (n > AS_WIRE_BODY_MAX - p->total) {
    rc = fail(p, AS_TOOBIG, AS_LLM_ERR_NONE, "the response is over %u bytes", AS_WIRE_BODY_MAX);
    goto out;
  }
  p->total += n;
  if (p->stream) {
    rc = feed_lines(p, data, n);
  } else {
    rc = wbuf_add(&p->buf, data, n, AS_WIRE_BODY_MAX);
    if (rc != AS_OK) rc = nomem(p); /* not AS_TOOBIG: the total was checked */
  }
out:
  copy_err(p, err);
  return p->rc;
}

/* --- the end ------------------------------------------------------------------------------ */

static AS_WUR int read_body(as_wire_parser *p) {
  const char *s = p->buf.p ? p->buf.p : "";
  size_t n = p->buf.len;
  json_t *v = NULL;
  memcpy(p->loc, "the body", sizeof "the body");
  if (strspn(s, " \t\r\n") == n) return MALFORMED(p, "truncated: the body is empty");
  int rc = parse_json(p, s, n, &v);
  if (rc == AS_OK && p->kind == AS_WIRE_OPENAI) {
    rc = openai_obj(p, v, false);
    p->ended = true;
  } else if (rc == AS_OK) {
    rc = ollama_obj(p, v);
  }
  json_decref(v);
  return rc;
}

/* The qualified name of wire name w (w itself when the map lacks it). */
static const char *qualified_of(const as_wire_names *m, const char *w) {
  for (size_t i = 0; m && i < m->n; i++)
    if (strcmp(m->wire[i], w) == 0) return m->qualified[i];
  return w;
}

static AS_WUR int answer(as_wire_parser *p, as_llm_response *out) {
  int rc = AS_OK;
  if (p->text.len) {
    out->text = dup_n(p->text.p, p->text.len);
    if (!out->text) return nomem(p);
  }
  if (p->ncalls) {
    out->calls = as_calloc(p->ncalls, sizeof *out->calls);
    if (!out->calls) return nomem(p);
  }
  for (size_t i = 0; i < p->ncalls; i++) {
    slot *s = &p->calls[i];
    as_llm_tool_call *c = &out->calls[i];
    if (!s->name[0]) return MALFORMED(p, "tool call %zu has no name", i + 1);
    if (s->id[0]) memcpy(c->id, s->id, sizeof c->id);
    else (void)snprintf(c->id, sizeof c->id, "call_%zu", i + 1); /* ignore: fits */
    const char *q = qualified_of(p->names, s->name);
    as__utf8_copy(c->name, sizeof c->name, q, strlen(q));
    c->args = s->args.len ? dup_n(s->args.p, s->args.len) : dup_n("{}", 2);
    out->ncalls = i + 1;
    if (!c->args) return nomem(p);
  }
  if (p->structured && out->text && out->text[strspn(out->text, " \t\r\n")] == '{') {
    json_t *v = NULL;
    as_json_error je;
    rc = as_json_parse(out->text, p->text.len, &v, &je);
    json_decref(v);
    if (rc == AS_NOMEM) return nomem(p);
    if (rc == AS_OK) {
      out->structured = dup_n(out->text, p->text.len);
      if (!out->structured) return nomem(p);
    }
  }
  out->finish = p->has_finish ? p->finish
                : p->ncalls   ? AS_LLM_FINISH_TOOL_CALLS
                              : AS_LLM_FINISH_STOP;
  /* Ollama says "stop" when it made calls. */
  if (p->kind == AS_WIRE_OLLAMA && p->ncalls && out->finish == AS_LLM_FINISH_STOP)
    out->finish = AS_LLM_FINISH_TOOL_CALLS;
  out->usage = p->usage;
  out->usage_known = p->has_usage;
  return AS_OK;
}

int as_wire_parser_finish(as_wire_parser *p, as_llm_response *out, as_llm_error *err) {
  int rc = AS_OK;
  if (err) memset(err, 0, sizeof *err);
  if (out) memset(out, 0, sizeof *out);
  if (!p || !out) return AS_INVAL;
  rc = p->rc;
  if (rc != AS_OK) goto out;
  if (p->finished) return AS_INVAL;
  p->finished = true;
  if (!p->stream) rc = read_body(p);
  else if (p->buf.len) rc = line_done(p); /* the last line had no newline */
  if (rc == AS_OK && !p->ended)
    rc = MALFORMED(p, "truncated: the stream ended after %zu bytes without %s", p->total,
                   p->kind == AS_WIRE_OPENAI ? "data: [DONE]" : "a line with done: true");
  if (rc == AS_OK) rc = answer(p, out);
out:
  copy_err(p, err);
  if (rc != AS_OK) as_llm_response_clear(out);
  return rc;
}

/* --- HTTP errors ---------------------------------------------------------------------------- */

#define RETRY_AFTER_MAX_S 86400ll /* a longer wait is cut to a day */

static bool digits(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return false;
  return n > 0;
}

static int64_t num(const char *s, size_t n) {
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
  return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
** days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/* An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") as Unix seconds. */
static bool http_date(const char *s, int64_t *out) {
  static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  if (strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
      s[16] != ' ' || s[19] != ':' || s[22] != ':' || strcmp(s + 25, " GMT") != 0)
    return false;
  if (!digits(s + 5, 2) || !digits(s + 12, 4) || !digits(s + 17, 2) || !digits(s + 20, 2) ||
      !digits(s + 23, 2))
    return false;
  const char *mo = NULL;
  for (size_t i = 0; i < 12 && !mo; i++)
    if (memcmp(s + 8, months + 3 * i, 3) == 0) mo = months + 3 * i;
  int64_t d = num(s + 5, 2), h = num(s + 17, 2), mi = num(s + 20, 2), se = num(s + 23, 2);
  if (!mo || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return false;
  int64_t m = (mo - months) / 3 + 1;
  *out = days_from_civil(num(s + 12, 4), m, d) * 86400 + h * 3600 + mi * 60 + se;
  return true;
}

/* A header's value without its surrounding blanks: *len bytes from the
** pointer returned. */
static const char *trimmed(const char *h, size_t *len) {
  h += strspn(h, " \t");
  size_t n = strlen(h);
  while (n && (h[n - 1] == ' ' || h[n - 1] == '\t')) n--;
  *len = n;
  return h;
}

/* An HTTP date header's value as Unix seconds: false when it is not one. */
static bool date_header(const char *h, int64_t *out) {
  char d[30];
  size_t n;
  h = trimmed(h, &n);
  if (n >= sizeof d) return false;
  memcpy(d, h, n);
  d[n] = '\0';
  return http_date(d, out);
}

/* Retry-After: delta-seconds or an HTTP date, as a wait from now; 0 when
** absent, unreadable or past. A date is measured from the answer's own Date
** header when it has a readable one (the server's clock against the
** server's clock: no skew with ours, and a recorded answer replays the same
** wait), else from now_wall_ns. */
static uint64_t retry_after_ns(const char *h, const char *date, int64_t now_wall_ns) {
  int64_t secs = 0, at = 0, now_s = now_wall_ns / 1000000000ll, sent;
  size_t n;
  if (!h) return 0;
  const char *v = trimmed(h, &n);
  if (digits(v, n)) {
    secs = n > 6 ? RETRY_AFTER_MAX_S : num(v, n);
  } else {
    if (date && date_header(date, &sent)) now_s = sent;
    if (!date_header(h, &at) || at <= now_s) return 0;
    secs = at - now_s;
  }
  if (secs > RETRY_AFTER_MAX_S) secs = RETRY_AFTER_MAX_S;
  return (uint64_t)secs * 1000000000ull;
}

int as_wire_http_error(int status, const char *retry_after, const char *date, const char *body,
                       size_t len, int64_t now_wall_ns, as_llm_error *err) {
  if (!err) return AS_INVAL;
  memset(err, 0, sizeof *err);
  as_llm_error_kind k = status == 429                   ? AS_LLM_ERR_RATE_LIMITED
                        : status == 408                 ? AS_LLM_ERR_TIMEOUT
                        : status >= 400 && status < 500 ? AS_LLM_ERR_REFUSAL
                                                        : AS_LLM_ERR_SERVER;
  err->kind = k;
  err->http_status = status;
  if (k == AS_LLM_ERR_RATE_LIMITED)
    err->retry_after_ns = retry_after_ns(retry_after, date, now_wall_ns);
  json_t *v = NULL;
  as_json_error je;
  const char *msg = NULL;
  if (body && len && len <= AS_JSON_MAX_BYTES && as_json_parse(body, len, &v, &je) == AS_OK &&
      IS(v, OBJECT)) {
    const json_t *e = member(v, "error");
    msg = e ? error_message(e) : NULL;
    if (!msg) msg = error_message(v); /* {"message": ...}, as some servers answer */
  }
  char tmp[2 * AS_LLM_ERROR_MAX] = "";
  if (msg) (void)snprintf(tmp, sizeof tmp, "HTTP %d: %s", status, msg); /* ignore: cut below */
  else (void)snprintf(tmp, sizeof tmp, "HTTP %d", status);               /* ignore: fits */
  as__utf8_copy(err->message, sizeof err->message, tmp, strnlen(tmp, sizeof tmp - 1));
  json_decref(v);
  return kind_status(k);
}

/*
** script.c -- the stub script parser (stub.h; docs/stub-scripts.md).
**
** A line is cut into tokens, each remembering its column: words,
** KEY=VALUE pairs, one JSON string ("..." with JSON's escapes) and one JSON
** value ({...} or [...], on the one line). Indentation makes the blocks:
** agent > call/default > alt > answer lines, as a stack of open frames;
** a frame is checked when a line less indented (or the end) closes it, so
** an error there names the line the frame opened on. Every JSON text goes
** through jansson (duplicates refused) at parse time.
*/
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "agentsim/fmt.h"
#include "agentsim/seam.h"
#include "num.h"
#include "script_internal.h"

const char *const stub_env_in_names[STUB__IN_COUNT] = {"none", "structured", "message", "fence",
                                                        "prose"};
const char *const stub_fail_names[STUB__FAIL_COUNT] = {
    "none",
#define STUB__FN(NAME, name, st) name,
    STUB_FAIL_MAP(STUB__FN)
#undef STUB__FN
};
const int stub_fail_status[STUB__FAIL_COUNT] = {
    AS_OK,
#define STUB__FS(NAME, name, st) st,
    STUB_FAIL_MAP(STUB__FS)
#undef STUB__FS
};
const char *const stub_usage_names[STUB_NUSAGE] = {"input",      "cached",     "output",
                                                   "reasoning",  "prompt",     "cache_read",
                                                   "cache_write", "completion"};
const char *const stub_finish_names[AS__LLM_FINISH_COUNT] = {
#define STUB__FIN(NAME, name) #name,
    AS_LLM_FINISH_MAP(STUB__FIN)
#undef STUB__FIN
};

#define MAX_TOKENS 16
#define MAX_DEPTH 5 /* root, agent, block, alt, answer line */

/* --- memory ------------------------------------------------------------------ */

/* Room for need elements in *arrp (capacity *cap), at most max. */
static AS_WUR int grow(void *arrp, size_t *cap, size_t need, size_t elem, size_t max) {
  if (need <= *cap) return AS_OK;
  if (need > max) return AS_TOOBIG;
  size_t nc = *cap ? *cap * 2 : 4;
  if (nc < need) nc = need;
  if (nc > max) nc = max;
  void *old;
  memcpy(&old, arrp, sizeof old);
  void *nw = as_realloc(old, nc * elem);
  if (!nw) return AS_NOMEM;
  memcpy(arrp, &nw, sizeof nw);
  *cap = nc;
  return AS_OK;
}

static char *dup_n(const char *s, size_t n) {
  char *d = as_malloc(n + 1);
  if (!d) return NULL;
  if (n) memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

static void answer_clear(stub_answer *a) {
  as_free(a->message);
  for (size_t i = 0; i < a->ntexts; i++) as_free(a->texts[i]);
  as_free(a->texts);
  as_free(a->env);
  for (size_t i = 0; i < a->ntools; i++) as_free(a->tools[i].args);
  as_free(a->tools);
  as_free(a->result);
  as_free(a->out_text);
  memset(a, 0, sizeof *a);
}

void as_stub_script_free(as_stub_script *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n; i++) {
    for (size_t j = 0; j < s->entries[i].nalts; j++) answer_clear(&s->entries[i].alts[j]);
    as_free(s->entries[i].alts);
  }
  as_free(s->entries);
  as_free(s);
}

/* --- the parser's state and its messages --------------------------------------- */

typedef enum tok_type { T_WORD, T_STRING, T_JSON } tok_type;

typedef struct tok {
  tok_type type;
  const char *s; /* a string or JSON token: its bytes, delimiters included */
  size_t len;
  unsigned col;    /* 1-based */
  const char *val; /* a word's value after '=', or NULL */
  size_t vlen;
  unsigned vcol;
} tok;

typedef enum fkind { F_ROOT, F_AGENT, F_BLOCK, F_ALT, F_LEAF } fkind;

typedef struct frame {
  fkind kind;
  unsigned indent;   /* of its own line */
  unsigned child;    /* of the lines under it; 0 until the first */
  unsigned line, col;
  const char *what;  /* its keyword, for messages */
  size_t entry;      /* F_BLOCK, F_ALT: the entry */
  bool result;       /* F_BLOCK: a result block (alt lines only) */
  size_t blocks;     /* F_AGENT: blocks opened under it */
  char name[AS_LLM_NAME_MAX]; /* F_AGENT: the agent */
  bool has_delay;    /* F_BLOCK: delay= on its line, for its answers */
  uint64_t delay_ns;
} frame;

typedef struct pstate {
  const char *file;
  unsigned line;
  as_stub_diag *diag;
  as_stub_script *s;
  frame st[MAX_DEPTH];
  unsigned depth;
} pstate;

static void diag_set(pstate *p, unsigned col, const char *fmt, va_list ap) AS_PRINTF(3, 0);
static void diag_set(pstate *p, unsigned col, const char *fmt, va_list ap) {
  as_stub_diag *d = p->diag;
  if (!d) return;
  as_appendf(d->file, sizeof d->file, 0, "%s", p->file);
  d->line = p->line;
  d->column = col;
  size_t n = as_appendf(d->message, sizeof d->message, 0, "expected ");
  if (n < sizeof d->message)
    /* ignore: a cut message still reads */
    (void)vsnprintf(d->message + n, sizeof d->message - n, fmt, ap);
}

/* An error at column col of the current line: AS_PARSE (what, wrong) or
** AS_TOOBIG (a cap passed). */
static AS_WUR int perr_rc(pstate *p, int rc, unsigned col, const char *fmt, ...) AS_PRINTF(4, 5);
static AS_WUR int perr_rc(pstate *p, int rc, unsigned col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  diag_set(p, col, fmt, ap);
  va_end(ap);
  return rc;
}
#define perr(p, col, ...) perr_rc((p), AS_PARSE, (col), __VA_ARGS__)
#define pbig(p, col, ...) perr_rc((p), AS_TOOBIG, (col), __VA_ARGS__)

static AS_WUR int poom(pstate *p, unsigned col) {
  int rc = perr_rc(p, AS_NOMEM, col, "memory for the script (out of memory)");
  return rc;
}

/* A growth failed: TOOBIG is the cap `what` names, NOMEM is ours. */
static AS_WUR int grow_err(pstate *p, int rc, unsigned col, const char *what) {
  if (rc == AS_NOMEM) return poom(p, col);
  return pbig(p, col, "%s", what);
}

/* A token or text for a message: cut and made printable. */
static const char *shown(const char *s, size_t len, char *buf, size_t cap) {
  size_t n = len < cap - 1 ? len : cap - 1;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
  }
  buf[n] = '\0';
  return buf;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

static bool word_is(const tok *t, const char *w) {
  return t->type == T_WORD && !t->val && t->len == strlen(w) && memcmp(t->s, w, t->len) == 0;
}

static bool key_is(const tok *t, const char *k) {
  return t->type == T_WORD && t->val && t->len == strlen(k) && memcmp(t->s, k, t->len) == 0;
}

/* --- tokens -------------------------------------------------------------------- */

/* The end of the JSON string opening at line[i] (its closing quote), or len. */
static size_t string_end(const char *line, size_t len, size_t i) {
  for (size_t j = i + 1; j < len; j++) {
    if (line[j] == '\\')
      j++;
    else if (line[j] == '"')
      return j;
  }
  return len;
}

/* The end of the JSON value opening at line[i] (its last bracket), or len;
** or, nested deeper than STUB_JSON_DEPTH_MAX, where that happens (*deep). */
static size_t json_end(const char *line, size_t len, size_t i, bool *deep) {
  unsigned depth = 0;
  bool instr = false;
  *deep = false;
  for (size_t j = i; j < len; j++) {
    char c = line[j];
    if (instr) {
      if (c == '\\')
        j++;
      else if (c == '"')
        instr = false;
    } else if (c == '"') {
      instr = true;
    } else if (c == '{' || c == '[') {
      if (++depth > STUB_JSON_DEPTH_MAX) {
        *deep = true;
        return j;
      }
    } else if ((c == '}' || c == ']') && --depth == 0) {
      return j;
    }
  }
  return len;
}

static AS_WUR int tokenize(pstate *p, const char *line, size_t len, size_t i, tok *toks,
                           unsigned *ntok) {
  *ntok = 0;
  while (i < len) {
    while (i < len && is_space(line[i])) i++;
    if (i >= len || line[i] == '#') break;
    if (*ntok == MAX_TOKENS)
      return perr(p, (unsigned)i + 1, "at most %d words on a line", MAX_TOKENS);
    tok *t = &toks[(*ntok)++];
    memset(t, 0, sizeof *t);
    t->col = (unsigned)i + 1;
    t->s = line + i;
    if (line[i] == '"' || line[i] == '{' || line[i] == '[') {
      bool str = line[i] == '"', deep = false;
      size_t j = str ? string_end(line, len, i) : json_end(line, len, i, &deep);
      if (deep)
        return perr(p, (unsigned)j + 1, "JSON nested at most %u deep", STUB_JSON_DEPTH_MAX);
      if (j >= len)
        return str ? perr(p, t->col, "a closing '\"' for the string opened here")
                   : perr(p, t->col, "the JSON opened here to close on the same line (JSON takes "
                                     "one line)");
      t->type = str ? T_STRING : T_JSON;
      t->len = j - i + 1;
      i = j + 1;
      if (i < len && !is_space(line[i]) && line[i] != '#')
        return perr(p, (unsigned)i + 1, "a space after the %s", str ? "string" : "JSON");
      continue;
    }
    size_t j = i;
    while (j < len && !is_space(line[j]) && line[j] != '#') {
      if (line[j] == '"') return perr(p, (unsigned)j + 1, "a space before '\"'");
      j++;
    }
    t->type = T_WORD;
    t->len = j - i;
    const char *eq = memchr(t->s, '=', t->len);
    if (eq) {
      t->val = eq + 1;
      t->vlen = t->len - (size_t)(eq - t->s) - 1;
      t->vcol = t->col + (unsigned)(eq - t->s) + 1;
      t->len = (size_t)(eq - t->s);
      if (t->len == 0) return perr(p, t->col, "a name before '='");
      if (t->vlen == 0) return perr(p, t->vcol, "a value after '%.*s='", (int)t->len, t->s);
    }
    i = j;
  }
  return AS_OK;
}

/* --- a line's arguments, by keyword ------------------------------------------------ */

#define MAX_KEYS 8

/* What a keyword takes: an optional or required positional word (right
** after it), KEY=VALUE pairs from keys, a string, a JSON value. */
typedef struct kwdef {
  const char *kw;
  const char *syntax;
  unsigned word, str, json; /* 0 none, 1 optional, 2 required */
  const char *keys[MAX_KEYS];
} kwdef;

typedef struct args {
  const tok *word, *str, *json;
  const tok *kv[MAX_KEYS];
} args;

static AS_WUR int take(pstate *p, const kwdef *d, const tok *t, unsigned n, args *a) {
  char b[40];
  memset(a, 0, sizeof *a);
  for (unsigned i = 1; i < n; i++) {
    const tok *x = &t[i];
    if (x->type == T_STRING && d->str && !a->str) {
      a->str = x;
    } else if (x->type == T_JSON && d->json && !a->json) {
      a->json = x;
    } else if (x->type == T_WORD && !x->val && d->word && i == 1) {
      a->word = x;
    } else if (x->type == T_WORD && x->val) {
      unsigned k;
      for (k = 0; k < MAX_KEYS && d->keys[k]; k++)
        if (key_is(x, d->keys[k])) break;
      if (k == MAX_KEYS || !d->keys[k]) {
        if (!d->keys[0]) return perr(p, x->col, "no KEY=VALUE on this line (%s)", d->syntax);
        return perr(p, x->col, "a key of %s, found '%s=' (%s)", d->kw,
                    shown(x->s, x->len, b, sizeof b), d->syntax);
      }
      if (a->kv[k]) return perr(p, x->col, "one %s= on a line", d->keys[k]);
      a->kv[k] = x;
    } else {
      return perr(p, x->col, "%s, found '%s'", d->syntax, shown(x->s, x->len, b, sizeof b));
    }
  }
  const tok *last = &t[n - 1]; /* the column after it, for what is missing */
  unsigned end = last->col + (unsigned)last->len + (last->val ? (unsigned)last->vlen + 1 : 0);
  if (d->word == 2 && !a->word) return perr(p, n > 1 ? t[1].col : end + 1, "%s", d->syntax);
  if (d->str == 2 && !a->str)
    return perr(p, end + 1, "a \"string\" after %s (%s)", d->kw, d->syntax);
  if (d->json == 2 && !a->json) return perr(p, end + 1, "JSON after %s (%s)", d->kw, d->syntax);
  return AS_OK;
}

/* An unsigned decimal in [lo, hi]. */
static AS_WUR int num_in(pstate *p, const char *s, size_t len, unsigned col, uint64_t lo,
                         uint64_t hi, const char *what, uint64_t *out) {
  uint64_t v = 0;
  if (sim_parse_u64(s, len, &v) != AS_OK || v < lo || v > hi)
    return perr(p, col, "%s: a number from %llu to %llu", what, (unsigned long long)lo,
                (unsigned long long)hi);
  *out = v;
  return AS_OK;
}

static AS_WUR int kv_num(pstate *p, const tok *t, uint64_t lo, uint64_t hi, uint64_t *out) {
  char what[24];
  return num_in(p, t->val, t->vlen, t->vcol, lo, hi, shown(t->s, t->len, what, sizeof what), out);
}

static AS_WUR int kv_duration(pstate *p, const tok *t, uint64_t max, uint64_t *out) {
  int rc = sim_parse_duration(t->val, t->vlen, 0, out);
  if (rc != AS_OK || *out > max)
    return perr(p, t->vcol, "a duration of at most 1d: a number and a unit (%s)",
                sim_duration_units);
  return AS_OK;
}

/* A name of letters, digits and _ - . (and : where colon_ok) into dst. */
static AS_WUR int name_chars(pstate *p, const tok *t, bool colon_ok, const char *what) {
  for (size_t i = 0; i < t->len; i++) {
    char c = t->s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '-' || c == '.' || (colon_ok && c == ':')))
      return perr(p, t->col + (unsigned)i, "%s made of letters, digits and _ - .%s", what,
                  colon_ok ? " :" : "");
  }
  return AS_OK;
}

static AS_WUR int agent_name(pstate *p, const tok *t, char *dst) {
  if (t->len == 0 || t->len >= AS_LLM_NAME_MAX)
    return perr(p, t->col, "an agent name of 1 to %d characters", AS_LLM_NAME_MAX - 1);
  int rc = name_chars(p, t, true, "an agent name");
  if (rc == AS_OK) {
    memcpy(dst, t->s, t->len);
    dst[t->len] = '\0';
  }
  return rc;
}

/* SERVER:TOOL, each part a name without ':'. */
static AS_WUR int tool_name(pstate *p, const tok *t, char *dst) {
  const char *colon = memchr(t->s, ':', t->len);
  if (!colon || colon == t->s || colon == t->s + t->len - 1 || t->len >= AS_LLM_NAME_MAX)
    return perr(p, t->col, "a tool's qualified name SERVER:TOOL of at most %d characters",
                AS_LLM_NAME_MAX - 1);
  tok server = *t, tool = *t;
  server.len = (size_t)(colon - t->s);
  tool.s = colon + 1;
  tool.len = t->len - server.len - 1;
  tool.col = t->col + (unsigned)server.len + 1;
  int rc = name_chars(p, &server, false, "a server name");
  if (rc == AS_OK) rc = name_chars(p, &tool, false, "a tool name");
  if (rc == AS_OK) {
    memcpy(dst, t->s, t->len);
    dst[t->len] = '\0';
  }
  return rc;
}

/* jansson's complaint at a token: "valid JSON (...)" at its column; or its
** memory running out, which it reports with that code or no message. */
static AS_WUR int json_err(pstate *p, const tok *t, const json_error_t *e, const char *what) {
  if (json_error_code(e) == json_error_out_of_memory || !e->text[0]) return poom(p, t->col);
  char b[96];
  size_t pos = e->position > 0 ? (size_t)e->position - 1 : 0;
  if (pos >= t->len) pos = t->len - 1;
  return perr(p, t->col + (unsigned)pos, "%s (%s)", what,
              shown(e->text, strlen(e->text), b, sizeof b));
}

/* jansson's parse of a token. It tells its memory running out as it can --
** that code, no message, or a syntax error about a string it could not
** copy -- so a refusal is tried once more before it counts: memory that
** came back parses. */
static json_t *load_token(const tok *t, size_t flags, json_error_t *e) {
  json_t *j = json_loadb(t->s, t->len, flags, e);
  return j ? j : json_loadb(t->s, t->len, flags, e);
}

/* A JSON string token, decoded (UTF-8, no NUL) into an owned copy. */
static AS_WUR int decode_string(pstate *p, const tok *t, size_t max, char **out, size_t *len) {
  json_error_t e;
  json_t *j = load_token(t, JSON_DECODE_ANY, &e);
  if (!j) return json_err(p, t, &e, "a valid JSON string");
  int rc = AS_OK;
  size_t n = json_string_length(j);
  if (n > max) {
    rc = pbig(p, t->col, "a string of at most %zu bytes (this one has %zu)", max, n);
  } else {
    *out = dup_n(json_string_value(j), n);
    *len = n;
    if (!*out) rc = poom(p, t->col);
  }
  json_decref(j);
  return rc;
}

/* A JSON token checked with jansson (duplicate keys refused), kept as
** written. object: it must be an object (else an object or array). */
static AS_WUR int take_json(pstate *p, const tok *t, bool object, size_t max, const char *what,
                            char **out, size_t *len) {
  if (t->len > max)
    return pbig(p, t->col, "%s of at most %zu bytes (this one has %zu)", what, max, t->len);
  if (object && t->s[0] != '{') return perr(p, t->col, "%s: a JSON object", what);
  json_error_t e;
  json_t *j = load_token(t, JSON_REJECT_DUPLICATES, &e);
  if (!j) return json_err(p, t, &e, "valid JSON");
  json_decref(j);
  *out = dup_n(t->s, t->len);
  *len = t->len;
  return *out ? AS_OK : poom(p, t->col);
}

/* --- answers ----------------------------------------------------------------------- */

static void put(char *buf, size_t *n, const char *s, size_t len) {
  if (buf && len) memcpy(buf + *n, s, len);
  *n += len;
}

static void put_join(char *buf, size_t *n, char *const *v, size_t from, size_t to) {
  for (size_t i = from; i < to; i++) {
    if (i > from) put(buf, n, "\n", 1);
    put(buf, n, v[i], strlen(v[i]));
  }
}

static size_t join_len(char *const *v, size_t from, size_t to) {
  size_t n = 0;
  put_join(NULL, &n, v, from, to);
  return n;
}

/* What the answer's message text is (docs/stub-scripts.md, "Envelopes"),
** into buf (NULL: only its length). */
static size_t render(const stub_answer *a, char *buf) {
  size_t n = 0;
  size_t nb = a->nbefore, nt = a->ntexts;
  bool fence = a->env_in == STUB_IN_FENCE;
  switch (a->env_in) {
  case STUB_IN_NONE:
  case STUB_IN_STRUCTURED:
  case STUB__IN_COUNT:
    put_join(buf, &n, a->texts, 0, nt);
    break;
  case STUB_IN_MESSAGE:
    put(buf, &n, a->env, a->envlen);
    break;
  case STUB_IN_FENCE:
  case STUB_IN_PROSE: {
    const char *sep = fence ? "\n\n" : " ";
    size_t seplen = strlen(sep);
    if (nt == 0) {
      put(buf, &n, STUB_PROSE_BEFORE, strlen(STUB_PROSE_BEFORE));
      put(buf, &n, sep, seplen);
    } else if (join_len(a->texts, 0, nb) > 0) {
      put_join(buf, &n, a->texts, 0, nb);
      put(buf, &n, sep, seplen);
    }
    if (fence) put(buf, &n, "```json\n", 8);
    put(buf, &n, a->env, a->envlen);
    if (fence) put(buf, &n, "\n```", 4);
    if (nt == 0 && !fence) {
      put(buf, &n, sep, seplen);
      put(buf, &n, STUB_PROSE_AFTER, strlen(STUB_PROSE_AFTER));
    } else if (join_len(a->texts, nb, nt) > 0) {
      put(buf, &n, sep, seplen);
      put_join(buf, &n, a->texts, nb, nt);
    }
    break;
  }
  }
  return n;
}

static bool answer_has_message(const stub_answer *a) {
  return a->ntexts || a->env_in != STUB_IN_NONE || a->ntools || a->truncated || a->has_finish ||
         a->usage_given;
}

/* The rendered text still fits AS_LLM_TEXT_MAX (checked as lines arrive). */
static AS_WUR int check_render(pstate *p, const stub_answer *a, unsigned col) {
  size_t n = render(a, NULL);
  if (n > AS_LLM_TEXT_MAX)
    return pbig(p, col, "an answer's text of at most %u bytes (this one renders to %zu)",
                AS_LLM_TEXT_MAX, n);
  return AS_OK;
}

/* The answer is complete: check it as a whole and render it. */
static AS_WUR int finish_answer(pstate *p, stub_answer *a, const char *what) {
  if (a->error != AS_LLM_ERR_NONE) return AS_OK;
  p->line = a->line;
  if (!a->ntexts && a->env_in == STUB_IN_NONE && !a->ntools)
    return perr(p, a->col, "an answer under %s: text, tool or envelope lines, or one of refusal, "
                           "timeout, rate_limited, server_error, malformed", what);
  size_t n = render(a, NULL);
  a->out_has_text = a->ntexts > 0 || a->env_in == STUB_IN_MESSAGE || a->env_in == STUB_IN_FENCE ||
                    a->env_in == STUB_IN_PROSE;
  a->out_text = as_malloc(n + 1);
  if (!a->out_text) return poom(p, a->col);
  size_t m = render(a, a->out_text);
  a->out_text[m] = '\0';
  a->out_len = m;
  if (a->truncated) {
    p->line = a->cut_line;
    if (!a->out_has_text || a->out_len == 0)
      return perr(p, a->cut_col, "a text to cut under %s (truncated cuts the message's text)",
                  what);
    if (a->has_cut) {
      if (a->cut >= a->out_len)
        return perr(p, a->cut_col, "truncated at= below the text's length (%zu bytes)", a->out_len);
      if (((unsigned char)a->out_text[a->cut] & 0xC0) == 0x80)
        return perr(p, a->cut_col, "truncated at= on a character boundary (byte %zu is inside a "
                                   "UTF-8 character)", a->cut);
      a->out_len = a->cut;
    } else {
      size_t cut = a->out_len / 2;
      while (cut > 0 && ((unsigned char)a->out_text[cut] & 0xC0) == 0x80) cut--;
      a->out_len = cut;
    }
    a->out_text[a->out_len] = '\0';
    a->out_finish = AS_LLM_FINISH_LENGTH;
  } else if (a->has_finish) {
    a->out_finish = a->finish;
  } else {
    a->out_finish = a->ntools ? AS_LLM_FINISH_TOOL_CALLS : AS_LLM_FINISH_STOP;
  }
  return AS_OK;
}

/* --- the frames ---------------------------------------------------------------------- */

static stub_entry *entry_of(pstate *p, const frame *f) { return &p->s->entries[f->entry]; }

/* Close the innermost frame: check what it holds. */
static AS_WUR int close_frame(pstate *p) {
  frame *f = &p->st[--p->depth];
  int rc = AS_OK;
  p->line = f->line;
  if (f->kind == F_AGENT && f->blocks == 0)
    return perr(p, f->col, "call or default blocks (indented) under agent %s", f->name);
  if (f->kind == F_BLOCK) {
    stub_entry *e = entry_of(p, f);
    if (e->nalts == 0)
      return f->result ? perr(p, f->col, "a JSON result on the result line, or alt lines under it")
                       : perr(p, f->col, "an answer (indented lines) under %s", f->what);
    if (!e->alt_form && !f->result) rc = finish_answer(p, &e->alts[0], f->what);
  }
  if (f->kind == F_ALT) {
    stub_entry *e = entry_of(p, f);
    rc = finish_answer(p, &e->alts[e->nalts - 1], "alt");
  }
  return rc;
}

/* Open a frame for the current line (the stack has room: each kind sits at
** its own depth, which dispatch keeps). */
static frame *push(pstate *p, fkind kind, unsigned indent, const tok *t, const char *what) {
  frame *f = &p->st[p->depth++];
  memset(f, 0, sizeof *f);
  f->kind = kind;
  f->indent = indent;
  f->line = p->line;
  f->col = t->col;
  f->what = what;
  return f;
}

/* A new entry, unless one with the same selector exists (a second would
** never answer). */
static AS_WUR int new_entry(pstate *p, stub_entry_kind kind, const char *name, unsigned call,
                            unsigned attempt, unsigned run, unsigned col, size_t *idx) {
  static const char *const sel[] = {"agent, call and attempt", "script's default",
                                     "tool and call"};
  for (size_t i = 0; i < p->s->n; i++) {
    const stub_entry *e = &p->s->entries[i];
    if (e->kind == kind && strcmp(e->name, name) == 0 && e->call == call && e->attempt == attempt &&
        e->run == run)
      return perr(p, col, "one block for this %s (the first is at line %u)", sel[kind], e->line);
  }
  int rc =
      grow(&p->s->entries, &p->s->cap, p->s->n + 1, sizeof *p->s->entries, AS_STUB_ENTRIES_MAX);
  if (rc != AS_OK)
    return grow_err(p, rc, col, "at most 512 blocks (call, default, result) in a script");
  stub_entry *e = &p->s->entries[p->s->n];
  memset(e, 0, sizeof *e);
  e->kind = kind;
  memcpy(e->name, name, strlen(name) + 1);
  e->call = call;
  e->attempt = attempt;
  e->run = run;
  e->line = p->line;
  *idx = p->s->n++;
  return AS_OK;
}

/* A new answer (an alternative) of entry e. */
static AS_WUR int new_answer(pstate *p, stub_entry *e, unsigned col, unsigned weight,
                             stub_answer **out) {
  int rc = grow(&e->alts, &e->capalts, e->nalts + 1, sizeof *e->alts, AS_STUB_ALTS_MAX);
  if (rc != AS_OK) return grow_err(p, rc, col, "at most 8 alternatives in a block");
  stub_answer *a = &e->alts[e->nalts++];
  memset(a, 0, sizeof *a);
  a->line = p->line;
  a->col = col;
  a->weight = weight;
  e->total_weight += weight;
  *out = a;
  return AS_OK;
}

/* --- the keywords ---------------------------------------------------------------------- */

static const kwdef kw_agent = {"agent", "agent NAME", 2, 0, 0, {NULL}};
static const kwdef kw_default = {"default", "default [delay=DUR]", 0, 0, 0, {"delay"}};
static const kwdef kw_call = {"call", "call N|* [attempt=N] [retry=N] [delay=DUR]", 2, 0, 0,
                              {"attempt", "delay", "retry"}};
static const kwdef kw_result = {"result", "result SERVER:TOOL [call=N] [fail=KIND | JSON]", 2, 0, 1,
                                {"call", "fail"}};
static const kwdef kw_alt = {"alt", "alt [weight=N] [delay=DUR]", 0, 0, 0, {"weight", "delay"}};
static const kwdef kw_ralt = {"alt", "alt [weight=N] fail=KIND | JSON", 0, 0, 1, {"weight", "fail"}};
static const kwdef kw_text = {"text", "text \"STRING\"", 0, 2, 0, {NULL}};
static const kwdef kw_tool = {"tool", "tool SERVER:TOOL {ARGS}", 2, 0, 2, {NULL}};
static const kwdef kw_envelope = {"envelope", "envelope [in=structured|message|fence|prose] {JSON}",
                                  0, 0, 2, {"in"}};
static const kwdef kw_truncated = {"truncated", "truncated [at=N]", 0, 0, 0, {"at"}};
static const kwdef kw_finish = {"finish", "finish stop|tool_calls|length|content_filter", 2, 0, 0,
                                {NULL}};
static const kwdef kw_usage = {
    "usage",
    "usage [prompt=N] [cache_read=N] [cache_write=N] [completion=N], usage [input=N] "
    "[cached=N] [output=N] [reasoning=N], or usage none",
    1, 0, 0,
    {"input", "cached", "output", "reasoning", "prompt", "cache_read", "cache_write", "completion"}};
static const kwdef kw_model = {"model", "model NAME", 2, 0, 0, {NULL}};
static const kwdef kw_refusal = {"refusal", "refusal [\"MESSAGE\"]", 0, 1, 0, {NULL}};
static const kwdef kw_timeout = {"timeout", "timeout [\"MESSAGE\"]", 0, 1, 0, {NULL}};
static const kwdef kw_rate = {"rate_limited", "rate_limited [retry_after=DUR] [\"MESSAGE\"]", 0, 1,
                              0, {"retry_after"}};
static const kwdef kw_server = {"server_error", "server_error [status=N] [\"MESSAGE\"]", 0, 1, 0,
                                {"status"}};
static const kwdef kw_malformed = {"malformed", "malformed [\"TEXT\"]", 0, 1, 0, {NULL}};

static const kwdef *const answer_kws[] = {&kw_text,    &kw_tool,    &kw_envelope, &kw_truncated,
                                          &kw_finish,  &kw_usage,   &kw_refusal,  &kw_timeout,
                                          &kw_rate,    &kw_server,  &kw_malformed};
#define NANSWER_KWS (sizeof answer_kws / sizeof answer_kws[0])
#define ANSWER_WORDS "text, tool, envelope, truncated, finish, usage, refusal, timeout, " \
                     "rate_limited, server_error or malformed"

static const kwdef *answer_kw(const tok *t) {
  for (size_t i = 0; i < NANSWER_KWS; i++)
    if (word_is(t, answer_kws[i]->kw)) return answer_kws[i];
  return NULL;
}

/* delay= on a block or alt line. */
static AS_WUR int take_delay(pstate *p, const tok *kv, bool *has, uint64_t *ns) {
  if (!kv) return AS_OK;
  *has = true;
  return kv_duration(p, kv, STUB_DELAY_MAX, ns);
}

static AS_WUR int do_agent(pstate *p, const tok *t, unsigned n, unsigned indent) {
  args a;
  int rc = take(p, &kw_agent, t, n, &a);
  if (rc != AS_OK) return rc;
  return agent_name(p, a.word, push(p, F_AGENT, indent, t, "agent")->name);
}

/* call N|* [attempt=N] [delay=DUR], or default [delay=DUR] (under an agent
** or at the top). */
static AS_WUR int do_block(pstate *p, const tok *t, unsigned n, unsigned indent, frame *agent) {
  bool is_call = word_is(&t[0], "call");
  args a;
  int rc = take(p, is_call ? &kw_call : &kw_default, t, n, &a);
  uint64_t call = 0, attempt = 0, delay = 0, run = 0;
  bool has_delay = false;
  if (rc == AS_OK && is_call && !word_is(a.word, "*"))
    rc = num_in(p, a.word->s, a.word->len, a.word->col, 1, STUB_CALL_MAX, "a call number or *",
                &call);
  if (rc == AS_OK && is_call && a.kv[0]) rc = kv_num(p, a.kv[0], 1, STUB_ATTEMPT_MAX, &attempt);
  if (rc == AS_OK && is_call && a.kv[2]) {
    rc = kv_num(p, a.kv[2], 0, STUB_RETRY_MAX, &run);
    run++; /* stored as retry + 1: 0 is any */
  }
  if (rc == AS_OK) rc = take_delay(p, a.kv[is_call ? 1 : 0], &has_delay, &delay);
  size_t idx = 0;
  if (rc == AS_OK)
    rc = new_entry(p, agent ? STUB_E_CALL : STUB_E_DEFAULT, agent ? agent->name : "",
                   (unsigned)call, (unsigned)attempt, (unsigned)run, t[0].col, &idx);
  if (rc != AS_OK) return rc;
  if (agent) agent->blocks++;
  frame *f = push(p, F_BLOCK, indent, t, is_call ? "call" : "default");
  f->entry = idx;
  f->has_delay = has_delay;
  f->delay_ns = delay;
  return AS_OK;
}

/* A result's answer: its JSON, or fail=KIND (exactly one of the two; the
** line ends at end, for a message about what is missing). */
static AS_WUR int take_result(pstate *p, const args *a, const tok *fail, unsigned end,
                              stub_answer *ans) {
  char b[40];
  if (fail && a->json)
    return perr(p, a->json->col, "nothing after fail=%.*s (a failed call has no result)",
                (int)fail->vlen, fail->val);
  if (!fail && !a->json) return perr(p, end, "JSON after alt, or fail=KIND (alt [weight=N] fail=KIND | JSON)");
  if (!fail)
    return take_json(p, a->json, false, AS_LLM_TEXT_MAX, "a tool result", &ans->result, &ans->rlen);
  for (unsigned k = 1; k < STUB__FAIL_COUNT; k++)
    if (fail->vlen == strlen(stub_fail_names[k]) && memcmp(fail->val, stub_fail_names[k], fail->vlen) == 0) {
      ans->tool_fail = k;
      return AS_OK;
    }
  return perr(p, fail->vcol, "fail=io, timeout, busy, invalid or other, found '%s'",
              shown(fail->val, fail->vlen, b, sizeof b));
}

/* The column after a line's last token. */
static unsigned line_end(const tok *t, unsigned n) {
  const tok *last = &t[n - 1];
  return last->col + (unsigned)last->len + (last->val ? (unsigned)last->vlen + 1 : 0) + 1;
}

/* model NAME: the model the provider says it is (once, at the top). */
static AS_WUR int do_model(pstate *p, const tok *t, unsigned n) {
  args a;
  int rc = take(p, &kw_model, t, n, &a);
  if (rc == AS_OK && p->s->has_model) rc = perr(p, t[0].col, "one model line in a script");
  if (rc == AS_OK && (a.word->len == 0 || a.word->len >= AS_LLM_NAME_MAX))
    rc = perr(p, a.word->col, "a model name of 1 to %d characters", AS_LLM_NAME_MAX - 1);
  if (rc == AS_OK) rc = name_chars(p, a.word, true, "a model name");
  if (rc == AS_OK) {
    memcpy(p->s->model, a.word->s, a.word->len);
    p->s->model[a.word->len] = '\0';
    p->s->has_model = true;
  }
  return rc;
}

static AS_WUR int do_result(pstate *p, const tok *t, unsigned n, unsigned indent) {
  args a;
  char name[AS_LLM_NAME_MAX];
  uint64_t call = 0;
  size_t idx = 0;
  int rc = take(p, &kw_result, t, n, &a);
  if (rc == AS_OK) rc = tool_name(p, a.word, name);
  if (rc == AS_OK && a.kv[0]) rc = kv_num(p, a.kv[0], 1, STUB_CALL_MAX, &call);
  if (rc == AS_OK) rc = new_entry(p, STUB_E_RESULT, name, (unsigned)call, 0, 0, t[0].col, &idx);
  if (rc != AS_OK) return rc;
  if (a.json || a.kv[1]) {
    stub_entry *e = &p->s->entries[idx];
    stub_answer *ans = NULL;
    rc = new_answer(p, e, t[0].col, 1, &ans);
    if (rc == AS_OK) rc = take_result(p, &a, a.kv[1], line_end(t, n), ans);
    if (rc == AS_OK) push(p, F_LEAF, indent, t, "a result line with its JSON");
    return rc;
  }
  frame *f = push(p, F_BLOCK, indent, t, "result");
  f->entry = idx;
  f->result = true;
  return AS_OK;
}

static AS_WUR int do_alt(pstate *p, const tok *t, unsigned n, unsigned indent, frame *block) {
  stub_entry *e = entry_of(p, block);
  if (e->nalts && !e->alt_form)
    return perr(p, t[0].col, "answer lines, as above (a block holds one answer or alt blocks, "
                             "not both)");
  args a;
  uint64_t weight = 1;
  int rc = take(p, block->result ? &kw_ralt : &kw_alt, t, n, &a);
  if (rc == AS_OK && a.kv[0]) rc = kv_num(p, a.kv[0], 1, STUB_WEIGHT_MAX, &weight);
  stub_answer *ans = NULL;
  if (rc == AS_OK) rc = new_answer(p, e, t[0].col, (unsigned)weight, &ans);
  if (rc != AS_OK) return rc;
  e->alt_form = true;
  if (block->result) {
    rc = take_result(p, &a, a.kv[1], line_end(t, n), ans);
    if (rc == AS_OK) push(p, F_LEAF, indent, t, "alt");
    return rc;
  }
  ans->has_delay = block->has_delay;
  ans->delay_ns = block->delay_ns;
  size_t entry = block->entry; /* block may move: push writes the stack */
  rc = take_delay(p, a.kv[1], &ans->has_delay, &ans->delay_ns);
  if (rc == AS_OK) push(p, F_ALT, indent, t, "alt")->entry = entry;
  return rc;
}

static AS_WUR int add_text(pstate *p, stub_answer *ans, const tok *t, const tok *str) {
  char *s = NULL;
  size_t len = 0;
  if (ans->env_in == STUB_IN_MESSAGE)
    return perr(p, t[0].col, "no text with an envelope in=message (the message is the "
                                 "envelope's JSON)");
  int rc = grow(&ans->texts, &ans->captexts, ans->ntexts + 1, sizeof *ans->texts, AS_LLM_TEXT_MAX);
  if (rc != AS_OK) return grow_err(p, rc, str->col, "fewer text lines");
  rc = decode_string(p, str, AS_LLM_TEXT_MAX, &s, &len);
  if (rc != AS_OK) return rc;
  ans->texts[ans->ntexts++] = s;
  if (ans->env_in == STUB_IN_NONE) ans->nbefore = ans->ntexts;
  return check_render(p, ans, str->col);
}

static AS_WUR int add_envelope(pstate *p, stub_answer *ans, const tok *t, const args *a) {
  char b[40];
  if (ans->env_in != STUB_IN_NONE) return perr(p, t[0].col, "one envelope line in an answer");
  stub_env_in in = STUB_IN_STRUCTURED;
  if (a->kv[0]) {
    unsigned k;
    for (k = STUB_IN_STRUCTURED; k < STUB__IN_COUNT; k++)
      if (a->kv[0]->vlen == strlen(stub_env_in_names[k]) &&
          memcmp(a->kv[0]->val, stub_env_in_names[k], a->kv[0]->vlen) == 0)
        break;
    if (k == STUB__IN_COUNT)
      return perr(p, a->kv[0]->vcol, "in=structured, message, fence or prose, found '%s'",
                  shown(a->kv[0]->val, a->kv[0]->vlen, b, sizeof b));
    in = (stub_env_in)k;
  }
  if (in == STUB_IN_MESSAGE && ans->ntexts)
    return perr(p, t[0].col, "no text with an envelope in=message (the message is the "
                             "envelope's JSON)");
  int rc = take_json(p, a->json, true, AS_LLM_TEXT_MAX, "an envelope", &ans->env, &ans->envlen);
  if (rc != AS_OK) return rc;
  ans->env_in = in;
  return check_render(p, ans, a->json->col);
}

static AS_WUR int add_tool(pstate *p, stub_answer *ans, const tok *t, const args *a) {
  if (ans->ntools == AS_LLM_CALLS_MAX)
    return pbig(p, t[0].col, "at most %u tool calls in an answer", AS_LLM_CALLS_MAX);
  int rc = grow(&ans->tools, &ans->captools, ans->ntools + 1, sizeof *ans->tools, AS_LLM_CALLS_MAX);
  if (rc != AS_OK) return grow_err(p, rc, a->word->col, "fewer tool calls");
  stub_tool *tl = &ans->tools[ans->ntools];
  memset(tl, 0, sizeof *tl);
  rc = tool_name(p, a->word, tl->name);
  if (rc == AS_OK)
    rc = take_json(p, a->json, true, AS_LLM_ARGS_MAX, "tool arguments", &tl->args, &tl->len);
  if (rc == AS_OK) ans->ntools++;
  return rc;
}

/* usage KEY=N... in one form (exclusive or inclusive), or usage none. */
static AS_WUR int add_usage(pstate *p, stub_answer *ans, const tok *t, const args *a) {
  if (ans->usage_given || ans->usage_none) return perr(p, t[0].col, "one usage line in an answer");
  if (a->word) {
    bool keys = false;
    for (unsigned k = 0; k < STUB_NUSAGE; k++) keys |= a->kv[k] != NULL;
    if (!word_is(a->word, "none") || keys)
      return perr(p, a->word->col, "%s", kw_usage.syntax);
    ans->usage_none = true;
    return AS_OK;
  }
  unsigned mask = 0;
  for (unsigned k = 0; k < STUB_NUSAGE; k++)
    if (a->kv[k]) mask |= 1u << k;
  if ((mask & STUB_U_EXCLUSIVE) && (mask & ~STUB_U_EXCLUSIVE)) {
    const tok *last = NULL; /* the clash is named where the line goes wrong: its last key */
    for (unsigned k = 0; k < STUB_NUSAGE; k++)
      if (a->kv[k] && (!last || a->kv[k]->col > last->col)) last = a->kv[k];
    return perr(p, last->col, "one form of usage on a line: prompt, cache_read, cache_write, "
                              "completion (what a provider reports) or input, cached, output, "
                              "reasoning (exclusive buckets)");
  }
  for (unsigned k = 0; k < STUB_NUSAGE; k++) {
    if (!a->kv[k]) continue;
    uint64_t v = 0;
    int rc = kv_num(p, a->kv[k], 0, (uint64_t)STUB_TOKENS_MAX, &v);
    if (rc != AS_OK) return rc;
    ans->usage[k] = (int64_t)v;
    ans->usage_given |= 1u << k;
  }
  if (!ans->usage_given) return perr(p, t[0].col, "%s", kw_usage.syntax);
  unsigned g = ans->usage_given;
  const int64_t *u = ans->usage;
  if ((g & (1u << STUB_U_PROMPT)) &&
      u[STUB_U_CACHE_READ] + u[STUB_U_CACHE_WRITE] > u[STUB_U_PROMPT])
    return perr(p, a->kv[STUB_U_PROMPT]->col, "prompt= at least cache_read= + cache_write= (the "
                                               "prompt holds what was read from and written to "
                                               "the cache)");
  return AS_OK;
}

static AS_WUR int add_error(pstate *p, stub_answer *ans, const kwdef *d, const tok *t,
                            const args *a) {
  if (answer_has_message(ans) || ans->error != AS_LLM_ERR_NONE)
    return perr(p, t[0].col, "%s alone in its answer (an error is the whole answer)", d->kw);
  int rc = AS_OK;
  if (d == &kw_refusal) ans->error = AS_LLM_ERR_REFUSAL;
  if (d == &kw_timeout) ans->error = AS_LLM_ERR_TIMEOUT;
  if (d == &kw_malformed) ans->error = AS_LLM_ERR_MALFORMED;
  if (d == &kw_rate) {
    ans->error = AS_LLM_ERR_RATE_LIMITED;
    if (a->kv[0]) {
      ans->has_retry_after = true;
      rc = kv_duration(p, a->kv[0], STUB_DELAY_MAX, &ans->retry_after_ns);
    }
  }
  if (d == &kw_server) {
    ans->error = AS_LLM_ERR_SERVER;
    uint64_t v = 0;
    if (a->kv[0]) rc = kv_num(p, a->kv[0], 500, 599, &v);
    ans->status = (int)v;
  }
  size_t len = 0;
  if (rc == AS_OK && a->str)
    rc = decode_string(p, a->str, AS_LLM_ERROR_MAX - 1, &ans->message, &len);
  return rc;
}

/* One answer line into ans. */
static AS_WUR int answer_line(pstate *p, stub_answer *ans, const kwdef *d, const tok *t,
                              unsigned n) {
  args a;
  char b[40];
  int rc = take(p, d, t, n, &a);
  if (rc != AS_OK) return rc;
  if (ans->error != AS_LLM_ERR_NONE)
    return perr(p, t[0].col, "nothing after an error line in its answer (an error is the whole "
                             "answer)");
  if (d == &kw_text) return add_text(p, ans, t, a.str);
  if (d == &kw_tool) return add_tool(p, ans, t, &a);
  if (d == &kw_envelope) return add_envelope(p, ans, t, &a);
  if (d == &kw_usage) return add_usage(p, ans, t, &a);
  if (d == &kw_truncated || d == &kw_finish) {
    if (ans->truncated || ans->has_finish)
      return perr(p, t[0].col, "one of truncated and finish in an answer (truncated finishes "
                               "with length)");
    if (d == &kw_truncated) {
      ans->truncated = true;
      uint64_t v = 0;
      if (a.kv[0]) rc = kv_num(p, a.kv[0], 0, AS_LLM_TEXT_MAX - 1, &v);
      ans->has_cut = a.kv[0] != NULL;
      ans->cut = (size_t)v;
      ans->cut_line = p->line;
      ans->cut_col = a.kv[0] ? a.kv[0]->vcol : t[0].col;
      return rc;
    }
    for (unsigned k = 0; k < AS__LLM_FINISH_COUNT; k++)
      if (word_is(a.word, stub_finish_names[k])) {
        ans->has_finish = true;
        ans->finish = (as_llm_finish)k;
        return AS_OK;
      }
    return perr(p, a.word->col, "a finish reason: stop, tool_calls, length or content_filter, "
                                "found '%s'", shown(a.word->s, a.word->len, b, sizeof b));
  }
  return add_error(p, ans, d, t, &a);
}

/* An answer line directly under a block (its one answer) or under an alt. */
static AS_WUR int do_answer(pstate *p, const tok *t, unsigned n, unsigned indent, frame *parent) {
  stub_entry *e = entry_of(p, parent);
  stub_answer *ans = NULL;
  int rc = AS_OK;
  if (parent->kind == F_ALT) {
    ans = &e->alts[e->nalts - 1];
  } else if (e->alt_form) {
    return perr(p, t[0].col, "alt lines, as above (a block holds one answer or alt blocks, "
                             "not both)");
  } else if (e->nalts == 0) {
    rc = new_answer(p, e, parent->col, 1, &ans);
    if (rc != AS_OK) return rc;
    ans->line = parent->line;
    ans->has_delay = parent->has_delay;
    ans->delay_ns = parent->delay_ns;
  } else {
    ans = &e->alts[0];
  }
  const kwdef *d = answer_kw(&t[0]);
  rc = answer_line(p, ans, d, t, n);
  if (rc == AS_OK) push(p, F_LEAF, indent, t, d->kw);
  return rc;
}

/* A line with its tokens, under the innermost open frame. */
static AS_WUR int dispatch(pstate *p, const tok *t, unsigned n, unsigned indent) {
  char b[40];
  frame *parent = &p->st[p->depth - 1];
  const char *found = shown(t[0].s, t[0].len, b, sizeof b);
  if (t[0].type != T_WORD || t[0].val)
    return perr(p, t[0].col, "a keyword first on a line, found '%s'", found);
  switch (parent->kind) {
  case F_ROOT:
    if (word_is(&t[0], "agent")) return do_agent(p, t, n, indent);
    if (word_is(&t[0], "default")) return do_block(p, t, n, indent, NULL);
    if (word_is(&t[0], "result")) return do_result(p, t, n, indent);
    if (word_is(&t[0], "model")) return do_model(p, t, n);
    if (answer_kw(&t[0]) || word_is(&t[0], "call") || word_is(&t[0], "alt"))
      return perr(p, t[0].col, "agent, default or result at the top level ('%s' goes indented "
                               "under a block)", found);
    return perr(p, t[0].col, "agent, default, result or model, found '%s'", found);
  case F_AGENT:
    if (word_is(&t[0], "call") || word_is(&t[0], "default"))
      return do_block(p, t, n, indent, parent);
    return perr(p, t[0].col, "call or default under agent %s, found '%s'", parent->name, found);
  case F_BLOCK:
    if (word_is(&t[0], "alt")) return do_alt(p, t, n, indent, parent);
    if (parent->result) return perr(p, t[0].col, "alt lines under result, found '%s'", found);
    if (answer_kw(&t[0])) return do_answer(p, t, n, indent, parent);
    return perr(p, t[0].col, "alt or an answer line (" ANSWER_WORDS ") under %s, found '%s'",
                parent->what, found);
  case F_ALT:
    if (answer_kw(&t[0])) return do_answer(p, t, n, indent, parent);
    return perr(p, t[0].col, "an answer line (" ANSWER_WORDS ") under alt, found '%s'", found);
  case F_LEAF:
    break;
  }
  return perr(p, t[0].col, "nothing indented under %s", parent->what);
}

static AS_WUR int parse_line(pstate *p, const char *line, size_t ll) {
  size_t w = 0;
  for (size_t i = 0; i < ll; i++) {
    unsigned char c = (unsigned char)line[i];
    if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
      return perr(p, (unsigned)i + 1, "printable text (found byte 0x%02x)", c);
  }
  while (w < ll && line[w] == ' ') w++;
  tok t[MAX_TOKENS];
  unsigned n = 0;
  int rc = tokenize(p, line, ll, w, t, &n);
  if (rc != AS_OK || n == 0) return rc;
  if (line[w] == '\t' || line[w] == '\r')
    return perr(p, (unsigned)w + 1, "only spaces to indent (found byte 0x%02x)",
                (unsigned char)line[w]);
  unsigned indent = (unsigned)w, here = p->line;
  while (p->depth > 1 && p->st[p->depth - 1].indent >= indent) {
    rc = close_frame(p);
    if (rc != AS_OK) return rc;
  }
  p->line = here; /* close_frame moved it to the frame's line */
  frame *parent = &p->st[p->depth - 1];
  if (parent->kind == F_ROOT && indent > 0)
    return perr(p, 1, "a top-level line (agent, default or result) without indentation");
  if (parent->kind != F_ROOT && parent->kind != F_LEAF) {
    if (parent->child == 0) parent->child = indent;
    if (parent->child != indent)
      return perr(p, indent + 1, "the indentation of the lines above it under %s (%u spaces)",
                  parent->what, parent->child);
  }
  return dispatch(p, t, n, indent);
}

int as_stub_script_parse(const char *text, size_t len, const char *file, as_stub_script **out,
                         as_stub_diag *diag) {
  pstate p;
  memset(&p, 0, sizeof p);
  p.file = file ? file : "(script)";
  p.diag = diag;
  if (diag) memset(diag, 0, sizeof *diag);
  if (out) *out = NULL;
  if (!out || (!text && len)) return AS_INVAL;
  int rc = AS_OK;
  p.line = 1;
  if (len > AS_STUB_FILE_MAX) return pbig(&p, 1, "a script of at most %u bytes", AS_STUB_FILE_MAX);
  p.s = as_calloc(1, sizeof *p.s);
  if (!p.s) return poom(&p, 1);
  p.st[0].kind = F_ROOT;
  p.depth = 1;
  size_t pos = 0;
  unsigned lineno = 0;
  while (pos < len && rc == AS_OK) {
    const char *nl = memchr(text + pos, '\n', len - pos);
    size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
    p.line = ++lineno;
    rc = parse_line(&p, text + pos, ll);
    pos += ll + (nl ? 1 : 0);
  }
  while (rc == AS_OK && p.depth > 1) rc = close_frame(&p);
  if (rc == AS_OK && p.s->n == 0) {
    p.line = lineno ? lineno : 1;
    rc = perr(&p, 1, "at least one block: agent NAME with call or default under it, default, or "
                     "result (the script is empty)");
  }
  if (rc != AS_OK) {
    as_stub_script_free(p.s);
    return rc;
  }
  *out = p.s;
  return AS_OK;
}

/* A file that cannot be read: its path and why. */
static AS_WUR int load_failed(as_stub_diag *diag, const char *path, const char *what) {
  if (diag) {
    as_appendf(diag->file, sizeof diag->file, 0, "%s", path);
    as_appendf(diag->message, sizeof diag->message, 0, "cannot %s: %s", what, strerror(errno));
  }
  return AS_NOTFOUND;
}

int as_stub_script_load(const char *path, as_stub_script **out, as_stub_diag *diag) {
  int rc = AS_OK;
  if (diag) memset(diag, 0, sizeof *diag);
  if (out) *out = NULL;
  if (!path || !out) return AS_INVAL;
  char *buf = as_malloc(AS_STUB_FILE_MAX + 1);
  if (!buf) {
    if (diag) as_appendf(diag->message, sizeof diag->message, 0, "out of memory");
    return AS_NOMEM;
  }
  FILE *f = fopen(path, "rb");
  if (!f) {
    rc = load_failed(diag, path, "open");
  } else {
    size_t n = fread(buf, 1, AS_STUB_FILE_MAX + 1, f);
    bool failed = ferror(f) != 0;
    if (fclose(f) != 0 || failed)
      rc = load_failed(diag, path, "read");
    else
      rc = as_stub_script_parse(buf, n, path, out, diag);
  }
  as_free(buf);
  return rc;
}

void as_stub_diag_format(const as_stub_diag *d, char *buf, size_t cap) {
  if (!buf || !cap) return;
  buf[0] = '\0';
  if (!d) return;
  if (d->line)
    as_appendf(buf, cap, 0, "%s:%u:%u: %s", d->file, d->line, d->column, d->message);
  else
    as_appendf(buf, cap, 0, "%s: %s", d->file, d->message);
}

/*
** envelope.c -- finding and checking the turn-output envelope (envelope.h).
**
** The candidates, in the order they are tried (the first valid one wins):
**   1. the structured output, whole;
**   2. the answer's text, whole;
**   3. recovery, at most AS_ENVELOPE_CANDIDATES candidates in all:
**      a. the markdown fences (``` or ```json) from the last to the first;
**      b. the balanced {...} spans of the text not inside another one, the
**         widest first (on a tie the later one: the last word counts).
** Every candidate goes through the strict layer (as_json_parse); only
** where a candidate is cut out of the text is lenient. A span that is the
** very text an earlier candidate already was (a fence holding just the
** object, the whole answer) is not tried twice.
**
** Braces inside JSON strings do not count: inside a span, "..." is tracked
** with its escapes; outside every span the text is prose and its quotes
** mean nothing. A '{' that never closes is not a span, and the spans inside
** it count as outermost. The scan is one pass; its two stacks grow with
** the text, which recovery caps at AS_ENVELOPE_TEXT_MAX bytes.
*/
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/envelope.h"
#include "agentsim/seam.h"
#include "json_internal.h"

const char *as_envelope_from_name(as_envelope_from f) {
  switch (f) {
#define AS__EFNAME(NAME, name)                                                \
  case AS_ENV_FROM_##NAME:                                                    \
    return #name;
    AS_ENVELOPE_FROM_MAP(AS__EFNAME)
#undef AS__EFNAME
  default:
    return "?";
  }
}

/* Where a candidate came from, for the end of a reason. */
static const char *from_phrase(as_envelope_from f) {
  switch (f) {
  case AS_ENV_FROM_STRUCTURED: return "in the structured output";
  case AS_ENV_FROM_MESSAGE: return "in the answer read as JSON";
  case AS_ENV_FROM_FENCE: return "in a ``` fence of the answer";
  default: return "in a {...} of the answer";
  }
}

void as_envelope_clear(as_envelope *e) {
  if (!e) return;
  as_free(e->content);
  as_free(e->rationale);
  memset(e, 0, sizeof *e);
}

double as_confidence_reconcile(double env_conf, double tool_conf, bool *mismatch) {
  /* Inclusive in decimal terms: 0.50 and 0.55 agree, though their doubles
  ** lie a hair more than 0.05 apart; the slack is far below any confidence
  ** a person or a model writes. */
  bool agree = fabs(env_conf - tool_conf) <= AS_CONFIDENCE_TOLERANCE + 1e-9;
  if (mismatch) *mismatch = !agree;
  return agree ? env_conf : tool_conf;
}

/* --- checking one parsed candidate ---------------------------------------------- */

static const char *type_phrase(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "an object";
  case JSON_ARRAY: return "an array";
  case JSON_STRING: return "a string";
  case JSON_INTEGER:
  case JSON_REAL: return "a number";
  case JSON_TRUE: return "true";
  case JSON_FALSE: return "false";
  default: return "null";
  }
}

/* The shortest %g form that reads back as d (17 digits always do). */
static void number_text(char *buf, size_t cap, double d) {
  for (int prec = 1; prec < 17; prec++) {
    snprintf(buf, cap, "%.*g", prec, d);
    if (strtod(buf, NULL) == d) return;
  }
  snprintf(buf, cap, "%.17g", d);
}

static int signal_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* A string member `name` of v: *s and *len, or AS_NOTFOUND saying why. */
static AS_WUR int string_member(const json_t *v, const char *name, const char **s, size_t *len,
                                char *why, size_t cap) {
  const json_t *m = json_object_get(v, name);
  if (!m) {
    snprintf(why, cap, "no \"%s\" member", name);
    return AS_NOTFOUND;
  }
  if (json_typeof(m) != JSON_STRING) {
    snprintf(why, cap, "\"%s\" is %s, not a string", name, type_phrase(m));
    return AS_NOTFOUND;
  }
  *s = json_string_value(m);
  *len = json_string_length(m);
  return AS_OK;
}

static AS_WUR int check_signal(const json_t *v, char *sig, char *why, size_t cap) {
  const json_t *m = json_object_get(v, "signal");
  sig[0] = '\0';
  /* Absent or null: no signal (strict structured-output schemas make an
  ** optional member a required nullable one). */
  if (!m || json_typeof(m) == JSON_NULL) return AS_OK;
  if (json_typeof(m) != JSON_STRING) {
    snprintf(why, cap, "\"signal\" is %s, not a string", type_phrase(m));
    return AS_NOTFOUND;
  }
  const char *s = json_string_value(m);
  size_t len = json_string_length(m);
  if (len == 0 || len >= AS_SIGNAL_MAX) {
    snprintf(why, cap, "\"signal\" is %zu bytes (1 to %d of a-z, 0-9, _ and -)", len,
             AS_SIGNAL_MAX - 1);
    return AS_NOTFOUND;
  }
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (signal_byte(c)) continue;
    if (c > 0x20 && c < 0x7F)
      snprintf(why, cap, "\"signal\" has '%c' at byte %zu (allowed: a-z, 0-9, _ and -)", c, i);
    else
      snprintf(why, cap, "\"signal\" has byte 0x%02X at byte %zu (allowed: a-z, 0-9, _ and -)",
               c, i);
    return AS_NOTFOUND;
  }
  memcpy(sig, s, len + 1);
  return AS_OK;
}

static char *copy_string(const char *s, size_t len) {
  char *p = as_malloc(len + 1);
  if (p) {
    memcpy(p, s, len);
    p[len] = '\0';
  }
  return p;
}

/* v as an envelope into *out: AS_OK; AS_NOTFOUND with why[] saying what v
** lacks; AS_NOMEM. *out is left zeroed unless AS_OK. */
static AS_WUR int take(const json_t *v, as_envelope_from from, as_envelope *out, char *why,
                       size_t cap) {
  const char *content, *rationale;
  size_t clen, rlen;
  char sig[AS_SIGNAL_MAX];
  if (json_typeof(v) != JSON_OBJECT) {
    snprintf(why, cap, "the JSON is %s, not an object", type_phrase(v));
    return AS_NOTFOUND;
  }
  int rc = string_member(v, "content", &content, &clen, why, cap);
  if (rc != AS_OK) return rc;
  const json_t *c = json_object_get(v, "confidence");
  if (!c) {
    snprintf(why, cap, "no \"confidence\" member");
    return AS_NOTFOUND;
  }
  if (json_typeof(c) != JSON_INTEGER && json_typeof(c) != JSON_REAL) {
    snprintf(why, cap, "\"confidence\" is %s, not a number", type_phrase(c));
    return AS_NOTFOUND;
  }
  double conf = json_number_value(c);
  if (!(conf >= 0.0 && conf <= 1.0)) { /* NaN too, though JSON has none */
    char num[32];
    number_text(num, sizeof num, conf);
    snprintf(why, cap, "confidence %s outside [0,1]", num);
    return AS_NOTFOUND;
  }
  rc = string_member(v, "rationale", &rationale, &rlen, why, cap);
  if (rc != AS_OK) return rc;
  rc = check_signal(v, sig, why, cap);
  if (rc != AS_OK) return rc;
  out->content = copy_string(content, clen);
  out->rationale = copy_string(rationale, rlen);
  if (!out->content || !out->rationale) {
    as_envelope_clear(out);
    return AS_NOMEM;
  }
  out->confidence = conf;
  memcpy(out->signal, sig, sizeof out->signal);
  out->from = from;
  return AS_OK;
}

/* --- candidates ----------------------------------------------------------------- */

typedef struct range {
  size_t start, end; /* [start, end) */
} range;

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static range trimmed(const char *t, range r) {
  while (r.start < r.end && is_ws(t[r.start])) r.start++;
  while (r.end > r.start && is_ws(t[r.end - 1])) r.end--;
  return r;
}

typedef struct finder {
  as_envelope *out;
  as_json_error last;  /* what the last candidate lacked */
  int last_parsed;     /* ... and it was JSON (not an envelope) */
  unsigned tried;      /* recovery candidates tried */
  size_t found;        /* recovery candidates found (tried or not) */
  range seen[AS_ENVELOPE_CANDIDATES + 1]; /* trimmed texts tried: the answer, fences */
  unsigned nseen;
} finder;

/* Try src[r) as an envelope: AS_OK (found, in f->out), AS_NOTFOUND (f->last
** says why, placed in src), AS_NOMEM. */
static AS_WUR int try_one(finder *f, const char *src, size_t srclen, range r,
                          as_envelope_from from) {
  json_t *v = NULL;
  as_json_error je;
  int rc = as_json_parse(src + r.start, r.end - r.start, &v, &je);
  if (rc == AS_NOMEM) return rc;
  f->last_parsed = rc == AS_OK;
  if (rc != AS_OK) {
    as__json_fail(&f->last, src, srclen, r.start + je.offset, AS_ENVELOPE_MISSING ": %s (%s)",
                  je.reason, from_phrase(from));
    return AS_NOTFOUND;
  }
  char why[AS_JSON_REASON_MAX];
  rc = take(v, from, f->out, why, sizeof why);
  json_decref(v);
  if (rc == AS_NOTFOUND)
    as__json_fail(&f->last, src, srclen, trimmed(src, r).start, AS_ENVELOPE_MISSING ": %s (%s)",
                  why, from_phrase(from));
  return rc;
}

static int seen_before(const finder *f, const char *t, range r) {
  r = trimmed(t, r);
  for (unsigned i = 0; i < f->nseen; i++)
    if (f->seen[i].start == r.start && f->seen[i].end == r.end) return 1;
  return 0;
}

/* Called for the answer and for each fence tried: at most 1 +
** AS_ENVELOPE_CANDIDATES times, which f->seen holds. */
static void note_seen(finder *f, const char *t, range r) { f->seen[f->nseen++] = trimmed(t, r); }

/* A recovery candidate, unless the cap is reached or it was tried already. */
static AS_WUR int try_recovered(finder *f, const char *t, size_t n, range r,
                                as_envelope_from from) {
  if (f->tried >= AS_ENVELOPE_CANDIDATES || seen_before(f, t, r)) return AS_NOTFOUND;
  f->tried++;
  if (from == AS_ENV_FROM_FENCE) note_seen(f, t, r);
  return try_one(f, t, n, r, from);
}

/* --- markdown fences ------------------------------------------------------------- */

/* The last AS_ENVELOPE_CANDIDATES fences' contents, oldest first. */
typedef struct fences {
  range r[AS_ENVELOPE_CANDIDATES];
  unsigned n;     /* kept */
  unsigned first; /* index of the oldest kept */
} fences;

static void fence_push(fences *fs, range r) {
  if (fs->n < AS_ENVELOPE_CANDIDATES) {
    fs->r[(fs->first + fs->n++) % AS_ENVELOPE_CANDIDATES] = r;
  } else {
    fs->r[fs->first] = r;
    fs->first = (fs->first + 1) % AS_ENVELOPE_CANDIDATES;
  }
}

/* The info string of an opening fence names JSON or nothing. */
static int json_info(const char *s, size_t len) {
  static const char json[] = "json";
  if (len == 0) return 1;
  if (len != 4) return 0;
  for (size_t i = 0; i < 4; i++)
    if ((s[i] | 0x20) != json[i]) return 0;
  return 1;
}

/* The fences of t, as CommonMark has them: a line of at least three
** backticks (indented at most three spaces) opens one, with an info string
** that holds no backtick; a line of at least as many backticks and nothing
** else closes it; the text's end closes one left open. Only those whose
** info string is empty or "json" are kept; the others are skipped whole, so
** a ``` inside them opens nothing. */
static void find_fences(const char *t, size_t n, fences *fs) {
  int inside = 0, wanted = 0;
  size_t ticks = 0, content = 0;
  for (size_t i = 0; i < n;) {
    const char *nl = memchr(t + i, '\n', n - i);
    size_t eol = nl ? (size_t)(nl - t) : n, next = nl ? eol + 1 : n;
    size_t p = i, bt = 0;
    while (p < eol && p - i < 4 && t[p] == ' ') p++;
    if (p - i < 4)
      while (p + bt < eol && t[p + bt] == '`') bt++;
    size_t a = p + bt, b = eol;
    while (a < b && is_ws(t[a])) a++;
    while (b > a && is_ws(t[b - 1])) b--;
    if (!inside) {
      if (bt >= 3 && !memchr(t + a, '`', b - a)) {
        inside = 1;
        ticks = bt;
        wanted = json_info(t + a, b - a);
        content = next;
      }
    } else if (bt >= ticks && a == b) {
      if (wanted) fence_push(fs, (range){content, i});
      inside = 0;
    }
    i = next;
  }
  if (inside && wanted) fence_push(fs, (range){content, n});
}

/* --- balanced braces -------------------------------------------------------------- */

typedef struct spans {
  size_t *open; /* where each '{' still open was */
  size_t nopen, capopen;
  range *out;   /* the closed spans inside no other closed span, by start */
  size_t nout, capout;
} spans;

static AS_WUR int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return AS_OK;
  size_t ncap = *cap ? *cap * 2 : 16; /* need is one more than *cap */
  void *np = as_realloc(*p, ncap * elem);
  if (!np) return AS_NOMEM;
  *p = np;
  *cap = ncap;
  return AS_OK;
}

/* The outermost balanced spans of t into sp->out. */
static AS_WUR int find_spans(const char *t, size_t n, spans *sp) {
  int in_str = 0;
  for (size_t i = 0; i < n; i++) {
    char c = t[i];
    if (in_str) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_str = 0;
    } else if (c == '{') {
      int rc = grow((void **)&sp->open, &sp->capopen, sp->nopen + 1, sizeof *sp->open);
      if (rc != AS_OK) return rc;
      sp->open[sp->nopen++] = i;
    } else if (c == '}' && sp->nopen) {
      size_t start = sp->open[--sp->nopen];
      /* Spans closed since this one opened lie inside it. */
      while (sp->nout && sp->out[sp->nout - 1].start > start) sp->nout--;
      int rc = grow((void **)&sp->out, &sp->capout, sp->nout + 1, sizeof *sp->out);
      if (rc != AS_OK) return rc;
      sp->out[sp->nout++] = (range){start, i + 1};
    } else if (c == '"' && sp->nopen) {
      in_str = 1;
    }
  }
  return AS_OK;
}

/* Widest first; on a tie, the later one. */
static int by_width(const void *a, const void *b) {
  const range *x = a, *y = b;
  size_t wx = x->end - x->start, wy = y->end - y->start;
  int c = (wx < wy) - (wx > wy);
  return c ? c : (x->start < y->start) - (x->start > y->start);
}

/* --- the search ------------------------------------------------------------------- */

static AS_WUR int recover(finder *f, const char *t, size_t n) {
  fences fs;
  memset(&fs, 0, sizeof fs);
  find_fences(t, n, &fs);
  f->found += fs.n;
  for (unsigned k = fs.n; k-- > 0;) {
    int rc = try_recovered(f, t, n, fs.r[(fs.first + k) % AS_ENVELOPE_CANDIDATES],
                           AS_ENV_FROM_FENCE);
    if (rc != AS_NOTFOUND) return rc;
  }
  spans sp;
  memset(&sp, 0, sizeof sp);
  int rc = find_spans(t, n, &sp);
  if (rc == AS_OK) {
    f->found += sp.nout;
    if (sp.nout > 1) qsort(sp.out, sp.nout, sizeof *sp.out, by_width);
    rc = AS_NOTFOUND;
    for (size_t k = 0; k < sp.nout && rc == AS_NOTFOUND; k++)
      rc = try_recovered(f, t, n, sp.out[k], AS_ENV_FROM_BRACES);
  }
  as_free(sp.open);
  as_free(sp.out);
  return rc;
}

int as_envelope_parse(const char *structured, size_t slen, const char *text, size_t tlen,
                      as_envelope *out, as_json_error *err) {
  if (err) memset(err, 0, sizeof *err);
  if (!out) {
    as__json_fail(err, "", 0, 0, "invalid argument: no envelope to fill");
    return AS_INVAL;
  }
  memset(out, 0, sizeof *out);
  finder f;
  memset(&f, 0, sizeof f);
  f.out = out;
  int have_s = structured && slen, have_t = text && tlen;
  int rc = AS_NOTFOUND;
  if (have_s) rc = try_one(&f, structured, slen, (range){0, slen}, AS_ENV_FROM_STRUCTURED);
  as_json_error s_why = f.last;
  if (rc == AS_NOTFOUND && have_t) {
    note_seen(&f, text, (range){0, tlen});
    rc = try_one(&f, text, tlen, (range){0, tlen}, AS_ENV_FROM_MESSAGE);
    int message_parsed = f.last_parsed;
    if (rc == AS_NOTFOUND && tlen > AS_ENVELOPE_TEXT_MAX) {
      as__json_fail(&f.last, text, tlen, AS_ENVELOPE_TEXT_MAX,
                    AS_ENVELOPE_MISSING ": the answer is %zu bytes; recovery reads at most %u",
                    tlen, AS_ENVELOPE_TEXT_MAX);
    } else if (rc == AS_NOTFOUND) {
      rc = recover(&f, text, tlen);
      /* Prose and nothing else: say so, rather than quote the JSON error
      ** of reading prose -- unless the structured output was a real
      ** candidate, whose reason then stands. */
      if (rc == AS_NOTFOUND && f.found == 0 && !message_parsed) {
        if (have_s)
          f.last = s_why;
        else
          as__json_fail(&f.last, text, tlen, 0, AS_ENVELOPE_MISSING ": no JSON object in the answer");
      }
    }
  }
  if (rc == AS_NOTFOUND && !have_s && !have_t)
    as__json_fail(&f.last, "", 0, 0,
                  AS_ENVELOPE_MISSING ": no structured output and no answer text");
  if (rc != AS_OK && err) *err = f.last;
  return rc;
}

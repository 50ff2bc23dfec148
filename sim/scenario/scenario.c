/*
** scenario.c -- the scenario file parser (format in scenario.h).
**
** A line is cut into tokens (words, KEY=VALUE pairs, one quoted string),
** each remembering its column, so every refusal can say where it happened
** and what was expected there.
*/
#include "scenario.h"

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/fmt.h"

static const char *const op_names[] = {
#define SCN__N(name, kw) kw,
    SCN_OP_MAP(SCN__N)
#undef SCN__N
};

const char *scn_op_name(scn_op_kind k) {
  return (unsigned)k < SCN__OP_COUNT ? op_names[k] : "?";
}

const char *scn_journal_name(scn_journal j) {
  static const char *const names[] = {"delete", "truncate", "persist", "wal"};
  return (unsigned)j < 4 ? names[j] : "?";
}

#define MAX_TOKENS 24

typedef struct tok {
  const char *s; /* not NUL-terminated */
  size_t len;
  unsigned col;  /* 1-based */
  const char *val; /* after '=', or NULL */
  size_t vlen;
  unsigned vcol;
  int quoted;
} tok;

typedef struct pstate {
  const char *file;
  unsigned line;
  char *err;
  size_t errcap;
  const char *tools[SCN_MAX_TOOLS]; /* distinct tool names so far (in the scenario) */
  unsigned ntools;
} pstate;


/* "FILE:LINE:COL: expected ..." into the caller's buffer. */
static void pmsgv(pstate *p, unsigned col, const char *fmt, va_list ap) AS_PRINTF(3, 0);
static void pmsgv(pstate *p, unsigned col, const char *fmt, va_list ap) {
  if (!p->err || !p->errcap) return;
  size_t n = as_appendf(p->err, p->errcap, 0, "%s:%u:%u: expected ", p->file, p->line, col);
  if (n < p->errcap) (void)vsnprintf(p->err + n, p->errcap - n, fmt, ap); /* ignore: a cut message still reads */
}

static AS_WUR int perr(pstate *p, unsigned col, const char *fmt, ...) AS_PRINTF(3, 4);
static AS_WUR int perr(pstate *p, unsigned col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  pmsgv(p, col, fmt, ap);
  va_end(ap);
  return AS_PARSE;
}

static void pmsg(pstate *p, unsigned col, const char *fmt, ...) AS_PRINTF(3, 4);
static void pmsg(pstate *p, unsigned col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  pmsgv(p, col, fmt, ap);
  va_end(ap);
}

/* The oracle tracks every tool name a scenario uses: keep them countable. */
static AS_WUR int note_tool(pstate *p, const char *name, unsigned col) {
  for (unsigned k = 0; k < p->ntools; k++)
    if (strcmp(p->tools[k], name) == 0) return AS_OK;
  if (p->ntools == SCN_MAX_TOOLS)
    return perr(p, col, "at most %u distinct tool names in a scenario", SCN_MAX_TOOLS);
  p->tools[p->ntools++] = name;
  return AS_OK;
}

/* "found 'xyz'" for a message: the token, cut and made printable. */
static const char *shown(const tok *t, char *buf, size_t cap) {
  size_t n = t->len < cap - 1 ? t->len : cap - 1;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)t->s[i];
    buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
  }
  buf[n] = '\0';
  return buf;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Cut one line into tokens. */
static AS_WUR int tokenize(pstate *p, const char *line, size_t len, tok *toks, unsigned *ntok) {
  size_t i = 0;
  *ntok = 0;
  while (i < len) {
    while (i < len && is_space(line[i])) i++;
    if (i >= len || line[i] == '#') break;
    if (*ntok == MAX_TOKENS)
      return perr(p, (unsigned)i + 1, "at most %d words on a line", MAX_TOKENS);
    tok *t = &toks[(*ntok)++];
    memset(t, 0, sizeof *t);
    t->col = (unsigned)i + 1;
    if (line[i] == '"') {
      size_t j = i + 1;
      while (j < len && line[j] != '"') {
        if (line[j] == '\\') return perr(p, (unsigned)j + 1, "a closing '\"' (strings have no escapes)");
        j++;
      }
      if (j >= len) return perr(p, t->col, "a closing '\"' for the string opened here");
      t->s = line + i + 1;
      t->len = j - i - 1;
      t->quoted = 1;
      i = j + 1;
      if (i < len && !is_space(line[i]) && line[i] != '#')
        return perr(p, (unsigned)i + 1, "a space after the closing '\"'");
      continue;
    }
    size_t j = i;
    while (j < len && !is_space(line[j]) && line[j] != '#') {
      if (line[j] == '"') return perr(p, (unsigned)j + 1, "a space before a '\"'");
      j++;
    }
    t->s = line + i;
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

static int tok_is(const tok *t, const char *word) {
  return !t->quoted && t->len == strlen(word) && memcmp(t->s, word, t->len) == 0;
}

static AS_WUR int want_word(pstate *p, const tok *t) {
  char b[40];
  if (t->quoted || t->val) return perr(p, t->col, "a word, found '%s'", shown(t, b, sizeof b));
  return AS_OK;
}

/* An unsigned decimal in [lo, hi] from s (len bytes). */
static AS_WUR int num_in(pstate *p, const char *s, size_t len, unsigned col, uint64_t lo,
                         uint64_t hi, const char *what, uint64_t *out) {
  uint64_t v = 0;
  if (len == 0 || len > 20) return perr(p, col, "%s (a number from %llu to %llu)", what,
                                        (unsigned long long)lo, (unsigned long long)hi);
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10)
      return perr(p, col, "%s (a number from %llu to %llu)", what, (unsigned long long)lo,
                  (unsigned long long)hi);
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (v < lo || v > hi)
    return perr(p, col, "%s from %llu to %llu, found %llu", what, (unsigned long long)lo,
                (unsigned long long)hi, (unsigned long long)v);
  *out = v;
  return AS_OK;
}

static AS_WUR int duration(pstate *p, const char *s, size_t len, unsigned col, uint64_t *out) {
  static const struct {
    const char *u;
    uint64_t mult;
  } units[] = {{"ns", 1},          {"us", 1000},         {"ms", 1000000},
               {"s", 1000000000},  {"m", 60000000000},   {"h", 3600000000000},
               {"d", 86400000000000}};
  size_t d = 0;
  while (d < len && s[d] >= '0' && s[d] <= '9') d++;
  const char *u = s + d;
  size_t ul = len - d;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (ul == strlen(units[i].u) && memcmp(u, units[i].u, ul) == 0) {
      uint64_t v;
      int rc = num_in(p, s, d, col, 0, UINT64_MAX / units[i].mult, "a duration", &v);
      if (rc != AS_OK) return rc;
      *out = v * units[i].mult;
      return AS_OK;
    }
  }
  return perr(p, col, "a duration: a number and a unit (ns, us, ms, s, m, h, d)");
}

static AS_WUR int copy_name(pstate *p, const char *s, size_t len, unsigned col, char *dst,
                            const char *what) {
  if (len == 0 || len >= SCN_MAX_NAME)
    return perr(p, col, "%s of 1 to %u characters", what, SCN_MAX_NAME - 1);
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '-' || c == '.' || c == ':'))
      return perr(p, col + (unsigned)i, "%s made of letters, digits and _ - . :", what);
  }
  memcpy(dst, s, len);
  dst[len] = '\0';
  return AS_OK;
}

/* --- directives ------------------------------------------------------------ */

static AS_WUR int parse_kv_only(pstate *p, const tok *t, unsigned n, unsigned first) {
  char b[40];
  for (unsigned i = first; i < n; i++)
    if (!t[i].val) return perr(p, t[i].col, "KEY=VALUE, found '%s'", shown(&t[i], b, sizeof b));
  return AS_OK;
}

static AS_WUR int parse_limits(pstate *p, scenario *sc, const tok *t, unsigned n) {
  int rc = parse_kv_only(p, t, n, 1);
  for (unsigned i = 1; rc == AS_OK && i < n; i++) {
    if (tok_is(&t[i], "steps"))
      rc = num_in(p, t[i].val, t[i].vlen, t[i].vcol, 1, 16000000, "steps", &sc->max_steps);
    else if (tok_is(&t[i], "time"))
      rc = duration(p, t[i].val, t[i].vlen, t[i].vcol, &sc->max_virtual_ns);
    else
      rc = perr(p, t[i].col, "steps= or time=");
  }
  return rc;
}

static AS_WUR int parse_faults(pstate *p, scenario *sc, const tok *t, unsigned n) {
  static const char *const keys[] = {"read", "write", "full", "busy", "sync"};
  uint32_t *dst[] = {&sc->faults.read, &sc->faults.write, &sc->faults.full, &sc->faults.busy,
                     &sc->faults.sync};
  int rc = parse_kv_only(p, t, n, 1);
  for (unsigned i = 1; rc == AS_OK && i < n; i++) {
    size_t k;
    for (k = 0; k < 5; k++)
      if (tok_is(&t[i], keys[k])) break;
    if (k == 5) return perr(p, t[i].col, "read=, write=, full=, busy= or sync=");
    uint64_t v;
    rc = num_in(p, t[i].val, t[i].vlen, t[i].vcol, 0, 1000000, "a rate in parts per million", &v);
    if (rc == AS_OK) *dst[k] = (uint32_t)v;
  }
  return rc;
}

static AS_WUR int parse_op(pstate *p, const scenario *sc, scn_actor *a, const tok *t,
                           unsigned n) {
  char b[40];
  unsigned i = 0;
  uint64_t repeat = 1;
  if (a->nops == SCN_MAX_OPS) return perr(p, t[0].col, "at most %u operations per actor", SCN_MAX_OPS);
  if (t[0].val && tok_is(&t[0], "repeat")) {
    int rc = num_in(p, t[0].val, t[0].vlen, t[0].vcol, 1, SCN_MAX_REPEAT, "repeat", &repeat);
    if (rc != AS_OK) return rc;
    i = 1;
    if (n < 2) return perr(p, t[0].col + (unsigned)(t[0].len + t[0].vlen) + 2, "an operation after repeat=");
  }
  int rc = want_word(p, &t[i]);
  if (rc != AS_OK) return rc;
  scn_op *op = &a->ops[a->nops];
  memset(op, 0, sizeof *op);
  op->repeat = (uint32_t)repeat;
  op->line = p->line;
  op->session = SCN_ANY;
  unsigned k;
  for (k = 0; k < SCN__OP_COUNT; k++)
    if (tok_is(&t[i], op_names[k])) break;
  if (k == SCN__OP_COUNT)
    return perr(p, t[i].col, "an operation (start, tool, finalize, pause, write, checkpoint, gc, "
                             "sleep, crash), found '%s'", shown(&t[i], b, sizeof b));
  op->kind = (scn_op_kind)k;
  unsigned opcol = t[i].col;
  int need_s = op->kind != SCN_OP_GC && op->kind != SCN_OP_SLEEP && op->kind != SCN_OP_CRASH;
  int have_s = 0, have_name = 0, have_d = 0;
  rc = parse_kv_only(p, t, n, i + 1);
  for (unsigned j = i + 1; rc == AS_OK && j < n; j++) {
    tok key = {.s = t[j].s, .len = t[j].len};
    if (need_s && tok_is(&key, "s")) {
      if (have_s++) return perr(p, t[j].col, "one s=");
      if (t[j].vlen == 3 && memcmp(t[j].val, "any", 3) == 0) {
        op->session = SCN_ANY;
      } else if (t[j].vlen == 3 && memcmp(t[j].val, "all", 3) == 0) {
        op->session = SCN_ALL;
      } else {
        uint64_t v;
        rc = num_in(p, t[j].val, t[j].vlen, t[j].vcol, 0, sc->sessions ? sc->sessions - 1 : 0,
                    "a session number below `sessions`, any or all", &v);
        op->session = (uint32_t)v;
      }
    } else if (op->kind == SCN_OP_TOOL && tok_is(&key, "name")) {
      if (have_name++) return perr(p, t[j].col, "one name=");
      rc = copy_name(p, t[j].val, t[j].vlen, t[j].vcol, op->tool, "a tool name");
      if (rc == AS_OK) rc = note_tool(p, op->tool, t[j].vcol);
    } else if (op->kind == SCN_OP_SLEEP && tok_is(&key, "d")) {
      if (have_d++) return perr(p, t[j].col, "one d=");
      rc = duration(p, t[j].val, t[j].vlen, t[j].vcol, &op->duration);
    } else if (op->kind == SCN_OP_CHECKPOINT && tok_is(&key, "retry")) {
      uint64_t v;
      rc = num_in(p, t[j].val, t[j].vlen, t[j].vcol, 1, SCN_MAX_RETRY, "a retry number", &v);
      op->retry = (uint32_t)v;
    } else {
      return perr(p, t[j].col, "no '%s=' for %s (see scenario.h)", shown(&key, b, sizeof b), op_names[op->kind]);
    }
  }
  if (rc != AS_OK) return rc;
  if (need_s && !have_s)
    return perr(p, opcol, "s=SESSION (a number, any or all) for %s", op_names[op->kind]);
  if (op->kind == SCN_OP_TOOL && !have_name) return perr(p, opcol, "name=TOOL for tool");
  if (op->kind == SCN_OP_SLEEP && !have_d) return perr(p, opcol, "d=DURATION for sleep");
  a->nops++;
  return AS_OK;
}

/* Directives that may appear once: a second one would silently win. */
static const char *const once[] = {"describe", "sessions", "journal", "limits", "faults",
                                   "legacy_escalate"};
#define NONCE (sizeof once / sizeof once[0])

static AS_WUR int parse_directive(pstate *p, scenario *sc, const tok *t, unsigned n, int *named,
                                  unsigned *seen) {
  char b[40];
  int rc = want_word(p, &t[0]);
  if (rc != AS_OK) return rc;
  for (unsigned k = 0; k < NONCE; k++)
    if (tok_is(&t[0], once[k]) && (*seen & (1u << k)) && *named)
      return perr(p, t[0].col, "one '%s' line", once[k]);
    else if (tok_is(&t[0], once[k]) && *named)
      *seen |= 1u << k;
  if (!*named && !tok_is(&t[0], "scenario"))
    return perr(p, t[0].col, "'scenario NAME' first, found '%s'", shown(&t[0], b, sizeof b));
  if (tok_is(&t[0], "scenario")) {
    if (*named) return perr(p, t[0].col, "one 'scenario' line");
    if (n != 2) return perr(p, t[0].col, "scenario NAME");
    *named = 1;
    return copy_name(p, t[1].s, t[1].len, t[1].col, sc->name, "a scenario name");
  }
  if (tok_is(&t[0], "describe")) {
    if (n != 2 || !t[1].quoted) return perr(p, t[0].col, "describe \"TEXT\"");
    if (t[1].len >= SCN_MAX_TEXT) return perr(p, t[1].col, "text of at most %u characters", SCN_MAX_TEXT - 1);
    memcpy(sc->describe, t[1].s, t[1].len);
    sc->describe[t[1].len] = '\0';
    return AS_OK;
  }
  if (tok_is(&t[0], "sessions")) {
    if (n != 2) return perr(p, t[0].col, "sessions N");
    if (sc->nactors) return perr(p, t[0].col, "sessions before the first actor");
    uint64_t v;
    rc = num_in(p, t[1].s, t[1].val ? 0 : t[1].len, t[1].col, 1, SCN_MAX_SESSIONS, "a session count", &v);
    sc->sessions = (uint32_t)v;
    return rc;
  }
  if (tok_is(&t[0], "journal")) {
    static const char *const modes[] = {"delete", "truncate", "persist", "wal"};
    if (n == 2)
      for (unsigned j = 0; j < 4; j++)
        if (tok_is(&t[1], modes[j])) {
          sc->journal = (scn_journal)j;
          return AS_OK;
        }
    return perr(p, n == 2 ? t[1].col : t[0].col, "journal delete, truncate, persist or wal");
  }
  if (tok_is(&t[0], "limits")) return parse_limits(p, sc, t, n);
  if (tok_is(&t[0], "faults")) return parse_faults(p, sc, t, n);
  if (tok_is(&t[0], "legacy_escalate")) {
    if (n < 2) return perr(p, t[0].col, "legacy_escalate TOOL...");
    for (unsigned j = 1; j < n; j++) {
      if (sc->nlegacy == SCN_MAX_LEGACY) return perr(p, t[j].col, "at most %u legacy tools", SCN_MAX_LEGACY);
      rc = want_word(p, &t[j]);
      if (rc == AS_OK) rc = copy_name(p, t[j].s, t[j].len, t[j].col, sc->legacy[sc->nlegacy++], "a tool name");
      if (rc != AS_OK) return rc;
    }
    return AS_OK;
  }
  if (tok_is(&t[0], "actor")) {
    if (sc->nactors == SCN_MAX_ACTORS) return perr(p, t[0].col, "at most %u actors", SCN_MAX_ACTORS);
    if (n < 2 || n > 3) return perr(p, t[0].col, "actor NAME [count=N]");
    scn_actor *a = &sc->actors[sc->nactors];
    memset(a, 0, sizeof *a);
    a->count = 1;
    a->line = p->line;
    rc = want_word(p, &t[1]);
    if (rc == AS_OK) rc = copy_name(p, t[1].s, t[1].len, t[1].col, a->name, "an actor name");
    if (rc == AS_OK && n == 3) {
      if (!t[2].val || !tok_is(&t[2], "count"))
        return perr(p, t[2].col, "count=N");
      uint64_t v;
      rc = num_in(p, t[2].val, t[2].vlen, t[2].vcol, 1, SCN_MAX_COUNT, "count", &v);
      a->count = (uint32_t)v;
    }
    if (rc == AS_OK) sc->nactors++;
    return rc;
  }
  return perr(p, t[0].col, "a directive (scenario, describe, sessions, journal, limits, faults, "
                           "legacy_escalate, actor), found '%s'", shown(&t[0], b, sizeof b));
}

int scn_parse(const char *file, const char *text, size_t len, scenario *out, char *err,
              size_t errcap) {
  pstate p = {.file = file ? file : "(scenario)", .line = 0, .err = err, .errcap = errcap};
  int rc = AS_OK, named = 0;
  unsigned seen = 0;
  if (err && errcap) err[0] = '\0';
  /* Actors are zeroed as they are added: the arrays are large. */
  memset(out, 0, offsetof(scenario, actors));
  out->sessions = 1;
  if (len > SCN_MAX_BYTES) {
    p.line = 1;
    pmsg(&p, 1, "a file of at most %u bytes", SCN_MAX_BYTES);
    rc = AS_TOOBIG;
    goto out;
  }
  size_t pos = 0;
  while (pos < len && rc == AS_OK) {
    const char *nl = memchr(text + pos, '\n', len - pos);
    size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
    const char *line = text + pos;
    p.line++;
    pos += ll + (nl ? 1 : 0);
    if (ll > SCN_MAX_LINE) {
      rc = perr(&p, SCN_MAX_LINE + 1, "a line of at most %u characters", SCN_MAX_LINE);
      break;
    }
    for (size_t i = 0; i < ll; i++) {
      unsigned char c = (unsigned char)line[i];
      if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
        rc = perr(&p, (unsigned)i + 1, "printable text (found byte 0x%02x)", c);
        break;
      }
    }
    if (rc != AS_OK) break;
    tok t[MAX_TOKENS];
    unsigned n = 0;
    rc = tokenize(&p, line, ll, t, &n);
    if (rc != AS_OK || n == 0) continue;
    if (is_space(line[0])) {
      if (!named || out->nactors == 0) {
        rc = perr(&p, t[0].col, "an 'actor' line before an indented operation");
        break;
      }
      rc = parse_op(&p, out, &out->actors[out->nactors - 1], t, n);
    } else {
      rc = parse_directive(&p, out, t, n, &named, &seen);
    }
  }
  if (rc == AS_OK && !named) {
    p.line = p.line ? p.line : 1;
    rc = perr(&p, 1, "'scenario NAME' (the file is empty)");
  }
  if (rc == AS_OK && out->nactors == 0) rc = perr(&p, 1, "at least one actor");
  for (uint32_t i = 0; rc == AS_OK && i < out->nactors; i++) {
    if (out->actors[i].nops == 0) {
      p.line = out->actors[i].line;
      rc = perr(&p, 1, "operations (indented lines) under actor %s", out->actors[i].name);
    }
  }
out:
  if (rc != AS_OK) {
    uint32_t used = out->nactors < SCN_MAX_ACTORS ? out->nactors + 1 : SCN_MAX_ACTORS;
    memset(out->actors, 0, used * sizeof out->actors[0]); /* the one being added too */
    memset(out, 0, offsetof(scenario, actors));
  }
  return rc;
}

int scn_format(const scenario *sc, char *buf, size_t cap, size_t *len) {
  size_t n = 0;
  if (cap == 0) return AS_TOOBIG;
  n = as_appendf(buf, cap, n, "scenario %s\n", sc->name);
  if (sc->describe[0]) n = as_appendf(buf, cap, n, "describe \"%s\"\n", sc->describe);
  n = as_appendf(buf, cap, n, "sessions %u\njournal %s\n", sc->sessions,
                 scn_journal_name(sc->journal));
  if (sc->max_steps || sc->max_virtual_ns) {
    n = as_appendf(buf, cap, n, "limits");
    if (sc->max_steps) n = as_appendf(buf, cap, n, " steps=%llu", (unsigned long long)sc->max_steps);
    if (sc->max_virtual_ns)
      n = as_appendf(buf, cap, n, " time=%lluns", (unsigned long long)sc->max_virtual_ns);
    n = as_appendf(buf, cap, n, "\n");
  }
  const scn_faults *f = &sc->faults;
  n = as_appendf(buf, cap, n, "faults read=%u write=%u full=%u busy=%u sync=%u\n", f->read,
                 f->write, f->full, f->busy, f->sync);
  if (sc->nlegacy) {
    n = as_appendf(buf, cap, n, "legacy_escalate");
    for (uint32_t i = 0; i < sc->nlegacy; i++) n = as_appendf(buf, cap, n, " %s", sc->legacy[i]);
    n = as_appendf(buf, cap, n, "\n");
  }
  for (uint32_t i = 0; i < sc->nactors; i++) {
    const scn_actor *a = &sc->actors[i];
    n = as_appendf(buf, cap, n, "actor %s count=%u\n", a->name, a->count);
    for (uint32_t j = 0; j < a->nops; j++) {
      const scn_op *op = &a->ops[j];
      n = as_appendf(buf, cap, n, "    repeat=%u %s", op->repeat, op_names[op->kind]);
      if (op->kind != SCN_OP_GC && op->kind != SCN_OP_SLEEP && op->kind != SCN_OP_CRASH) {
        if (op->session == SCN_ANY)
          n = as_appendf(buf, cap, n, " s=any");
        else if (op->session == SCN_ALL)
          n = as_appendf(buf, cap, n, " s=all");
        else
          n = as_appendf(buf, cap, n, " s=%u", op->session);
      }
      if (op->kind == SCN_OP_TOOL) n = as_appendf(buf, cap, n, " name=%s", op->tool);
      if (op->kind == SCN_OP_SLEEP)
        n = as_appendf(buf, cap, n, " d=%lluns", (unsigned long long)op->duration);
      if (op->kind == SCN_OP_CHECKPOINT && op->retry) n = as_appendf(buf, cap, n, " retry=%u", op->retry);
      n = as_appendf(buf, cap, n, "\n");
    }
  }
  if (n >= cap - 1) return AS_TOOBIG;
  *len = n;
  return AS_OK;
}

int scn_load(const char *path, scenario *out, char *err, size_t errcap) {
  int rc = AS_OK;
  char *buf = NULL;
  memset(out, 0, offsetof(scenario, actors));
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errcap, "%s: cannot open: %s", path, strerror(errno));
    return AS_IO;
  }
  buf = malloc(SCN_MAX_BYTES + 1);
  if (!buf) {
    rc = AS_NOMEM;
    snprintf(err, errcap, "%s: out of memory", path);
    goto out;
  }
  size_t n = fread(buf, 1, SCN_MAX_BYTES + 1, f);
  if (ferror(f)) {
    rc = AS_IO;
    snprintf(err, errcap, "%s: read error: %s", path, strerror(errno));
    goto out;
  }
  rc = scn_parse(path, buf, n, out, err, errcap);
out:
  free(buf);
  if (fclose(f) != 0 && rc == AS_OK) rc = AS_IO;
  return rc;
}

/*
** scenario.c -- the scenario file parser, the canonical writer and the
** format reference, all driven by the operation table (scenario.h).
**
** A line is cut into tokens (words, KEY=VALUE pairs, one quoted string),
** each remembering its column, so every refusal can say where it happened
** and what was expected there.
*/
#include "scenario.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/fmt.h"
#include "agentsim/store.h"
#include "grow.h"
#include "num.h"
#include "text.h"

#define SCN__KEYS(NAME, kw, keys, exec, model, help) \
  static const scn_key keys_##NAME[] = {keys{NULL, SCN_KT_NAME, SCN_SLOT_NAME, 0, 0, 0, NULL}};
SCN_OP_MAP(SCN__KEYS)
#undef SCN__KEYS

const scn_opdef scn_ops[SCN__OP_COUNT] = {
#define SCN__DEF(NAME, kw, keys, exec, model, help) [SCN_OP_##NAME] = {kw, keys_##NAME, help},
    SCN_OP_MAP(SCN__DEF)
#undef SCN__DEF
};

const char *const scn_tool_states[SCN_NSTATES] = {"executed", "pending_approval", "rejected",
                                                  "timed_out"};

const char *const scn_whens[SCN_NWHEN] = {"now", "random-io"};

const char *const scn_io_names[SCN__IO_COUNT] = {
#define SCN__IONAME(NAME, name) name,
    SCN_IO_MAP(SCN__IONAME)
#undef SCN__IONAME
};

const char *scn_op_name(scn_op_kind k) {
  return (unsigned)k < SCN__OP_COUNT ? scn_ops[k].keyword : "?";
}

const char *scn_journal_name(scn_journal j) {
  static const char *const names[] = {"delete", "truncate", "persist", "wal"};
  return (unsigned)j < 4 ? names[j] : "?";
}

const char *scn_sync_name(scn_sync s) {
  static const char *const names[] = {NULL, "off", "normal", "full", "extra"};
  return (unsigned)s < 5 ? names[s] : NULL;
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
  unsigned sync_line, sync_col; /* where `synchronous` was set */
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

/* A growing array failed: its cap is checked first (with the file's
** position), so what is left is our memory. */
static AS_WUR int grow_err(pstate *p) {
  if (p->err && p->errcap) snprintf(p->err, p->errcap, "%s:%u: out of memory", p->file, p->line);
  return AS_NOMEM;
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

/* The first `pat` in s's len bytes, or NULL. */
static const char *strstr_n(const char *s, size_t len, const char *pat) {
  size_t m = strlen(pat);
  for (size_t i = 0; i + m <= len; i++)
    if (memcmp(s + i, pat, m) == 0) return s + i;
  return NULL;
}

static int tok_is(const tok *t, const char *word) {
  return !t->quoted && t->len == strlen(word) && memcmp(t->s, word, t->len) == 0;
}

static int text_is(const char *s, size_t len, const char *word) {
  return len == strlen(word) && memcmp(s, word, len) == 0;
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
  if (sim_parse_u64(s, len, &v) != AS_OK)
    return perr(p, col, "%s (a number from %llu to %llu)", what, (unsigned long long)lo,
                (unsigned long long)hi);
  if (v < lo || v > hi)
    return perr(p, col, "%s from %llu to %llu, found %llu", what, (unsigned long long)lo,
                (unsigned long long)hi, (unsigned long long)v);
  *out = v;
  return AS_OK;
}

static AS_WUR int duration(pstate *p, const char *s, size_t len, unsigned col, uint64_t *out) {
  int rc = sim_parse_duration(s, len, 0, out);
  if (rc == AS_TOOBIG) return perr(p, col, "a duration that fits 64 bits of nanoseconds");
  if (rc != AS_OK)
    return perr(p, col, "a duration: a number and a unit (%s)", sim_duration_units);
  return AS_OK;
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
  static const char *const keys[] = {"read", "write", "full", "busy", "sync", "tear"};
  uint32_t *dst[] = {&sc->faults.read, &sc->faults.write, &sc->faults.full, &sc->faults.busy,
                     &sc->faults.sync, &sc->faults.tear};
  int rc = parse_kv_only(p, t, n, 1);
  for (unsigned i = 1; rc == AS_OK && i < n; i++) {
    size_t k;
    for (k = 0; k < 6; k++)
      if (tok_is(&t[i], keys[k])) break;
    if (k == 6) return perr(p, t[i].col, "read=, write=, full=, busy=, sync= or tear=");
    uint64_t v = 0;
    rc = num_in(p, t[i].val, t[i].vlen, t[i].vcol, 0, 1000000, "a rate in parts per million", &v);
    if (rc == AS_OK) *dst[k] = (uint32_t)v;
  }
  return rc;
}

/* One latency bound: a duration of at most SCN_MAX_LATENCY_NS. */
static AS_WUR int lat_bound(pstate *p, const char *s, size_t len, unsigned col, uint64_t *out) {
  int rc = duration(p, s, len, col, out);
  if (rc == AS_OK && *out > SCN_MAX_LATENCY_NS)
    return perr(p, col, "a latency of at most 1s");
  return rc;
}

/* TAIL: N% (0..100) or Nppm (0..1000000), more than 0. */
static AS_WUR int lat_tail(pstate *p, const char *s, size_t len, unsigned col, uint32_t *out) {
  uint64_t v = 0;
  int pct = len > 1 && s[len - 1] == '%';
  int ppm = len > 3 && memcmp(s + len - 3, "ppm", 3) == 0;
  if (!pct && !ppm) return perr(p, col, "how often the tail comes: N%% or Nppm");
  int rc = num_in(p, s, len - (pct ? 1 : 3), col, 1, pct ? 100 : 1000000,
                  pct ? "a percentage" : "parts per million", &v);
  *out = (uint32_t)(pct ? v * 10000 : v);
  return rc;
}

/* LAT: DUR, LO..HI or LO..HI+TAIL..MAX, at column col. */
static AS_WUR int parse_lat(pstate *p, const char *s, size_t len, unsigned col, scn_lat *out) {
  memset(out, 0, sizeof *out);
  const char *plus = memchr(s, '+', len);
  size_t head = plus ? (size_t)(plus - s) : len;
  const char *dots = head > 2 ? strstr_n(s, head, "..") : NULL;
  int rc = AS_OK;
  if (!dots) {
    if (plus) return perr(p, col, "LO..HI before a tail");
    rc = lat_bound(p, s, len, col, &out->lo);
    out->hi = out->lo;
    return rc;
  }
  size_t lo_len = (size_t)(dots - s);
  rc = lat_bound(p, s, lo_len, col, &out->lo);
  if (rc == AS_OK) rc = lat_bound(p, dots + 2, head - lo_len - 2, col + (unsigned)lo_len + 2, &out->hi);
  if (rc == AS_OK && out->hi < out->lo) return perr(p, col, "LO..HI with LO at most HI");
  if (rc != AS_OK || !plus) return rc;
  const char *t = plus + 1;
  size_t tlen = len - head - 1;
  unsigned tcol = col + (unsigned)head + 1;
  const char *tdots = tlen > 2 ? strstr_n(t, tlen, "..") : NULL;
  if (!tdots) return perr(p, tcol, "a tail TAIL..MAX, such as 1%%..30ms");
  size_t f_len = (size_t)(tdots - t);
  rc = lat_tail(p, t, f_len, tcol, &out->tail_ppm);
  if (rc == AS_OK)
    rc = lat_bound(p, tdots + 2, tlen - f_len - 2, tcol + (unsigned)f_len + 2, &out->tail_hi);
  if (rc == AS_OK && out->tail_hi <= out->hi)
    return perr(p, tcol + (unsigned)f_len + 2, "a tail's MAX above HI");
  return rc;
}

static AS_WUR int parse_latency(pstate *p, scenario *sc, const tok *t, unsigned n) {
  if (n == 2 && tok_is(&t[1], "off")) {
    sc->latency.off = 1;
    return AS_OK;
  }
  if (n < 2) return perr(p, t[0].col, "latency off, or latency KIND=LAT...");
  int rc = parse_kv_only(p, t, n, 1);
  for (unsigned i = 1; rc == AS_OK && i < n; i++) {
    unsigned k;
    for (k = 0; k < SCN__IO_COUNT; k++)
      if (tok_is(&t[i], scn_io_names[k])) break;
    if (k == SCN__IO_COUNT)
      return perr(p, t[i].col, "a kind of I/O: open=, read=, write=, truncate=, sync=, size=, "
                               "lock=, delete=, access= or shm=");
    if (sc->latency.given & (1u << k)) return perr(p, t[i].col, "one %s=", scn_io_names[k]);
    sc->latency.given |= 1u << k;
    rc = parse_lat(p, t[i].val, t[i].vlen, t[i].vcol, &sc->latency.kind[k]);
  }
  return rc;
}

/* --- operations: the table's keys ------------------------------------------- */

static const scn_key *find_key(const scn_key *keys, const tok *t) {
  for (const scn_key *k = keys; k->name; k++)
    if (text_is(t->s, t->len, k->name)) return k;
  return NULL;
}

/* The keys of an operation for a message: "s=, name= or state=". */
static void key_list(const scn_key *keys, char *buf, size_t cap) {
  size_t n = 0, total = 0, i = 0;
  for (const scn_key *k = keys; k->name; k++) total++;
  buf[0] = '\0';
  for (const scn_key *k = keys; k->name; k++, i++)
    n = as_appendf(buf, cap, n, "%s%s=", i == 0 ? "" : i + 1 == total ? " or " : ", ", k->name);
}

/* The field of op a SCN_KT_COUNT key sets. */
static uint64_t *count_slot(scn_op *op, scn_slot slot) {
  switch (slot) {
  case SCN_SLOT_IOS: return &op->ios;
  case SCN_SLOT_API: return &op->api;
  case SCN_SLOT_TICKS: return &op->ticks;
  default: return &op->retry;
  }
}

static AS_WUR int set_key(pstate *p, const scenario *sc, scn_op *op, const scn_key *k,
                          const tok *t) {
  uint64_t v = 0;
  int rc = AS_OK;
  switch (k->type) {
  case SCN_KT_SESSION:
    if (text_is(t->val, t->vlen, "any")) {
      op->session = SCN_ANY;
    } else if (text_is(t->val, t->vlen, "all")) {
      op->session = SCN_ALL;
    } else {
      rc = num_in(p, t->val, t->vlen, t->vcol, 0, sc->sessions ? sc->sessions - 1 : 0,
                  "a session number below `sessions`, any or all", &v);
      op->session = (uint32_t)v;
    }
    return rc;
  case SCN_KT_NAME:
    return copy_name(p, t->val, t->vlen, t->vcol, op->name,
                     strcmp(k->name, "kind") == 0 ? "an error kind" : "a tool name");
  case SCN_KT_THREAD:
    return copy_name(p, t->val, t->vlen, t->vcol, op->name, "a thread id");
  case SCN_KT_DURATION:
    return duration(p, t->val, t->vlen, t->vcol, &op->duration);
  case SCN_KT_COUNT:
    rc = num_in(p, t->val, t->vlen, t->vcol, k->lo, k->hi, k->name, &v);
    if (rc == AS_OK) *count_slot(op, k->slot) = v;
    return rc;
  case SCN_KT_MONEY:
    if (scn_money_parse(t->val, t->vlen, &op->money) != AS_OK || op->money <= 0)
      return perr(p, t->vcol, "%s: dollars above 0, such as 0.15 (at most six decimals)", k->name);
    return AS_OK;
  case SCN_KT_WHEN:
    for (unsigned i = 0; i < SCN_NWHEN; i++)
      if (text_is(t->val, t->vlen, scn_whens[i])) {
        op->when = i;
        return AS_OK;
      }
    return perr(p, t->vcol, "when: now or random-io");
  case SCN_KT_STATE:
    for (unsigned i = 0; i < SCN_NSTATES; i++)
      if (text_is(t->val, t->vlen, scn_tool_states[i])) {
        op->state = i;
        return AS_OK;
      }
    return perr(p, t->vcol, "a state: executed, pending_approval, rejected or timed_out");
  }
  return AS_INTERNAL;
}

static AS_WUR int parse_op(pstate *p, const scenario *sc, scn_actor *a, const tok *t,
                           unsigned n) {
  char b[40], keys[128];
  unsigned i = 0;
  uint64_t repeat = 1;
  uint64_t weight = 1;
  unsigned prefixed = 0; /* bit 0: repeat=, bit 1: weight= */
  if (a->nops == SCN_MAX_OPS) return perr(p, t[0].col, "at most %u operations per actor", SCN_MAX_OPS);
  while (i < n && t[i].val && (tok_is(&t[i], "repeat") || tok_is(&t[i], "weight"))) {
    int is_w = tok_is(&t[i], "weight");
    if (prefixed & (1u << is_w)) return perr(p, t[i].col, "one %s=", is_w ? "weight" : "repeat");
    prefixed |= 1u << is_w;
    if (is_w && !a->draws)
      return perr(p, t[i].col, "weight= only under an actor with draws= (its operations are "
                               "drawn by weight)");
    int rc = is_w ? num_in(p, t[i].val, t[i].vlen, t[i].vcol, 1, SCN_MAX_WEIGHT, "weight", &weight)
                  : num_in(p, t[i].val, t[i].vlen, t[i].vcol, 1, SCN_MAX_REPEAT, "repeat", &repeat);
    if (rc != AS_OK) return rc;
    i++;
    if (i == n)
      return perr(p, t[i - 1].col + (unsigned)(t[i - 1].len + t[i - 1].vlen) + 2,
                  "an operation after %s=", is_w ? "weight" : "repeat");
  }
  int rc = want_word(p, &t[i]);
  if (rc != AS_OK) return rc;
  scn_op op;
  memset(&op, 0, sizeof op);
  op.repeat = (uint32_t)repeat;
  op.weight = (uint32_t)weight;
  op.line = p->line;
  op.session = SCN_ANY;
  unsigned k;
  for (k = 0; k < SCN__OP_COUNT; k++)
    if (tok_is(&t[i], scn_ops[k].keyword)) break;
  if (k == SCN__OP_COUNT) {
    char list[256];
    size_t len = 0;
    for (unsigned j = 0; j < SCN__OP_COUNT; j++)
      len = as_appendf(list, sizeof list, len, "%s%s", j ? ", " : "", scn_ops[j].keyword);
    return perr(p, t[i].col, "an operation (%s), found '%s'", list, shown(&t[i], b, sizeof b));
  }
  op.kind = (scn_op_kind)k;
  const scn_opdef *def = &scn_ops[k];
  unsigned opcol = t[i].col;
  unsigned seen = 0;
  rc = parse_kv_only(p, t, n, i + 1);
  for (unsigned j = i + 1; rc == AS_OK && j < n; j++) {
    tok key = {.s = t[j].s, .len = t[j].len};
    const scn_key *kd = find_key(def->keys, &t[j]);
    if (!kd) {
      key_list(def->keys, keys, sizeof keys);
      if (!def->keys[0].name) return perr(p, t[j].col, "nothing after %s (it takes no keys)", def->keyword);
      return perr(p, t[j].col, "%s for %s, found '%s='", keys, def->keyword, shown(&key, b, sizeof b));
    }
    unsigned bit = 1u << (unsigned)(kd - def->keys);
    if (seen & bit) return perr(p, t[j].col, "one %s=", kd->name);
    seen |= bit;
    rc = set_key(p, sc, &op, kd, &t[j]);
  }
  if (rc != AS_OK) return rc;
  unsigned one_of = 0, one_seen = 0;
  for (const scn_key *kd = def->keys; kd->name; kd++) {
    unsigned bit = 1u << (unsigned)(kd - def->keys);
    if (kd->required == SCN_ONE_OF) {
      one_of |= bit;
      one_seen |= seen & bit;
    } else if (kd->required && !(seen & bit)) {
      return perr(p, opcol, "%s= for %s (%s)", kd->name, def->keyword, kd->help);
    }
  }
  if (op.ios && op.when != SCN_WHEN_RANDOM_IO)
    return perr(p, opcol, "at=random-io with ios= (it counts the I/O calls to draw from)");
  if (one_of && !one_seen) {
    char list[96];
    size_t len = 0;
    for (const scn_key *kd = def->keys; kd->name; kd++)
      if (kd->required == SCN_ONE_OF) len = as_appendf(list, sizeof list, len, "%s%s=", len ? " or " : "", kd->name);
    return perr(p, opcol, "%s for %s", list, def->keyword);
  }
  rc = sim_grow(&a->ops, &a->capops, a->nops + 1, sizeof *a->ops, SCN_MAX_OPS);
  if (rc != AS_OK) return grow_err(p);
  a->ops[a->nops++] = op;
  return AS_OK;
}

/* Directives that may appear once: a second one would silently win. */
static const char *const once[] = {"describe", "sessions", "journal", "synchronous", "limits",
                                   "faults", "latency", "legacy_escalate", "swarm", "app",
                                   "script", "fields", "approval_timeout", "budget", "prices", "llm"};
#define NONCE (sizeof once / sizeof once[0])

static AS_WUR int parse_legacy(pstate *p, scenario *sc, const tok *t, unsigned n) {
  if (n < 2) return perr(p, t[0].col, "legacy_escalate TOOL...");
  for (unsigned j = 1; j < n; j++) {
    if (sc->nlegacy == SCN_MAX_LEGACY) return perr(p, t[j].col, "at most %u legacy tools", SCN_MAX_LEGACY);
    int rc = want_word(p, &t[j]);
    if (rc != AS_OK) return rc;
    rc = sim_grow(&sc->legacy, &sc->caplegacy, sc->nlegacy + 1, sizeof *sc->legacy, SCN_MAX_LEGACY);
    if (rc != AS_OK) return grow_err(p);
    rc = copy_name(p, t[j].s, t[j].len, t[j].col, sc->legacy[sc->nlegacy], "a tool name");
    if (rc != AS_OK) return rc;
    sc->nlegacy++;
  }
  return AS_OK;
}

/* app PATH, script PATH: a path of printable bytes, quoted when it has spaces. */
static AS_WUR int parse_path(pstate *p, const tok *t, unsigned n, char *dst, const char *what) {
  if (n != 2 || t[1].val) return perr(p, t[0].col, "%s PATH", what);
  if (t[1].len == 0 || t[1].len >= SCN_MAX_PATH)
    return perr(p, t[1].col, "a path of 1 to %u characters", SCN_MAX_PATH - 1);
  memcpy(dst, t[1].s, t[1].len);
  dst[t[1].len] = '\0';
  return AS_OK;
}

/* llm cassette:PATH -- a recorded cassette answers instead of the stub;
** llm record:DIR,KIND,URL,MODEL[,stream][,structured] -- a real peer does,
** and its exchanges are recorded (docs/cassettes.md). */
static AS_WUR int parse_llm(pstate *p, scenario *sc, const tok *t, unsigned n) {
  static const char pre[] = "cassette:", rec[] = "record:";
  size_t k = sizeof pre - 1;
  if (n == 2 && !t[1].val && t[1].len > sizeof rec - 1 && memcmp(t[1].s, rec, sizeof rec - 1) == 0) {
    k = sizeof rec - 1;
    sc->llm_record = 1;
  } else if (n != 2 || t[1].val || t[1].len <= k || memcmp(t[1].s, pre, k) != 0) {
    return perr(p, n >= 2 ? t[1].col : t[0].col, "llm cassette:PATH");
  }
  if (t[1].len - k >= SCN_MAX_PATH)
    return perr(p, t[1].col + (unsigned)k, "a path of 1 to %u characters", SCN_MAX_PATH - 1);
  memcpy(sc->cassette, t[1].s + k, t[1].len - k);
  sc->cassette[t[1].len - k] = '\0';
  return AS_OK;
}

/* fields KEY=VALUE... */
static AS_WUR int parse_fields(pstate *p, scenario *sc, const tok *t, unsigned n) {
  if (n < 2) return perr(p, t[0].col, "fields KEY=VALUE...");
  int rc = parse_kv_only(p, t, n, 1);
  for (unsigned i = 1; rc == AS_OK && i < n; i++) {
    if (sc->nfields == SCN_MAX_FIELDS) return perr(p, t[i].col, "at most %u fields", SCN_MAX_FIELDS);
    scn_field *f = &sc->fields[sc->nfields];
    rc = copy_name(p, t[i].s, t[i].len, t[i].col, f->key, "a field name");
    for (size_t j = 0; rc == AS_OK && j < sc->nfields; j++)
      if (strcmp(sc->fields[j].key, f->key) == 0) rc = perr(p, t[i].col, "one %s=", f->key);
    if (rc == AS_OK) rc = copy_name(p, t[i].val, t[i].vlen, t[i].vcol, f->value, "a field value");
    if (rc == AS_OK) sc->nfields++;
  }
  return rc;
}

/* budget limit=MONEY [estimate=MONEY] */
static AS_WUR int parse_budget(pstate *p, scenario *sc, const tok *t, unsigned n) {
  int rc = parse_kv_only(p, t, n, 1);
  unsigned seen = 0;
  for (unsigned i = 1; rc == AS_OK && i < n; i++) {
    int est = tok_is(&t[i], "estimate");
    if (!est && !tok_is(&t[i], "limit"))
      return perr(p, t[i].col, "budget limit=MONEY [estimate=MONEY]");
    if (seen & (1u << est)) return perr(p, t[i].col, "one %s=", est ? "estimate" : "limit");
    seen |= 1u << est;
    int64_t *dst = est ? &sc->cycle_estimate_micros : &sc->daily_limit_micros;
    if (scn_money_parse(t[i].val, t[i].vlen, dst) != AS_OK || (est && *dst == 0))
      return perr(p, t[i].vcol, "%s: dollars%s, such as 0.15 (at most six decimals)",
                  est ? "estimate" : "limit", est ? " above 0" : "");
  }
  if (rc == AS_OK && !(seen & 1u)) return perr(p, t[0].col, "budget limit=MONEY [estimate=MONEY]");
  if (rc == AS_OK) sc->budget = 1;
  return rc;
}

int scn_money_parse(const char *s, size_t len, int64_t *micros) {
  int64_t whole = 0, frac = 0;
  size_t i = 0, digits = 0, decimals = 0;
  *micros = 0;
  if (!s) return AS_PARSE;
  for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
    if (whole > SCN_MONEY_MAX / 1000000) return AS_PARSE;
    whole = whole * 10 + (s[i] - '0');
  }
  if (i < len && s[i] == '.') {
    for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, decimals++) {
      if (decimals == 6) return AS_PARSE;
      frac = frac * 10 + (s[i] - '0');
    }
    if (!decimals) return AS_PARSE;
  }
  if (i != len || !digits) return AS_PARSE;
  for (size_t k = decimals; k < 6; k++) frac *= 10;
  if (whole > SCN_MONEY_MAX / 1000000 || whole * 1000000 > SCN_MONEY_MAX - frac) return AS_PARSE;
  *micros = whole * 1000000 + frac;
  return AS_OK;
}

void scn_money_text(char *buf, size_t cap, int64_t micros) {
  int64_t frac = micros % 1000000;
  size_t n = as_appendf(buf, cap, 0, "%lld", (long long)(micros / 1000000));
  if (!frac) return;
  char f[8];
  (void)snprintf(f, sizeof f, "%06lld", (long long)frac); /* ignore: six digits fit */
  size_t k = 6;
  while (k > 1 && f[k - 1] == '0') k--;
  f[k] = '\0';
  (void)as_appendf(buf, cap, n, ".%s", f); /* ignore: the caller's buffer is sized */
}

/* The operation a name in ops= is, or SCN__OP_COUNT. */
static unsigned op_named(const char *s, size_t len) {
  for (unsigned k = 0; k < SCN__OP_COUNT; k++)
    if (text_is(s, len, scn_ops[k].keyword)) return k;
  return SCN__OP_COUNT;
}

/* swarm [ops=OP,OP...] [min_count=N] [faults=vary|keep] */
static AS_WUR int parse_swarm(pstate *p, scenario *sc, const tok *t, unsigned n) {
  scn_swarm *w = &sc->swarm;
  int rc = parse_kv_only(p, t, n, 1);
  unsigned seen = 0;
  w->on = 1;
  w->min_count = 1;
  w->vary_faults = 1;
  w->ops_given = 0;
  for (unsigned i = 1; rc == AS_OK && i < n; i++) {
    unsigned which = tok_is(&t[i], "ops") ? 0 : tok_is(&t[i], "min_count") ? 1
                     : tok_is(&t[i], "faults")                            ? 2
                                                                           : 3;
    if (which == 3) return perr(p, t[i].col, "ops=, min_count= or faults= for swarm");
    if (seen & (1u << which)) return perr(p, t[i].col, "one %.*s=", (int)t[i].len, t[i].s);
    seen |= 1u << which;
    if (which == 1) {
      uint64_t v = 0;
      rc = num_in(p, t[i].val, t[i].vlen, t[i].vcol, 1, SCN_MAX_COUNT, "min_count", &v);
      w->min_count = (uint32_t)v;
    } else if (which == 2) {
      if (text_is(t[i].val, t[i].vlen, "vary"))
        w->vary_faults = 1;
      else if (text_is(t[i].val, t[i].vlen, "keep"))
        w->vary_faults = 0;
      else
        return perr(p, t[i].vcol, "faults=vary or faults=keep");
    } else {
      w->ops_given = 1;
      size_t k = 0;
      while (k <= t[i].vlen) {
        size_t e = k;
        while (e < t[i].vlen && t[i].val[e] != ',') e++;
        unsigned op = op_named(t[i].val + k, e - k);
        if (op == SCN__OP_COUNT)
          return perr(p, t[i].vcol + (unsigned)k, "an operation name in ops= (a list split by ',')");
        w->may_off[op] = 1;
        k = e + 1;
      }
    }
  }
  return rc;
}

static AS_WUR int parse_actor(pstate *p, scenario *sc, const tok *t, unsigned n) {
  if (sc->nactors == SCN_MAX_ACTORS) return perr(p, t[0].col, "at most %u actors", SCN_MAX_ACTORS);
  if (n < 2 || n > 4) return perr(p, t[0].col, "actor NAME [count=N] [draws=N]");
  scn_actor a;
  memset(&a, 0, sizeof a);
  a.count = 1;
  a.line = p->line;
  int rc = want_word(p, &t[1]);
  if (rc == AS_OK) rc = copy_name(p, t[1].s, t[1].len, t[1].col, a.name, "an actor name");
  unsigned seen = 0;
  for (unsigned j = 2; rc == AS_OK && j < n; j++) {
    int is_d = t[j].val && tok_is(&t[j], "draws");
    if (!t[j].val || (!is_d && !tok_is(&t[j], "count")))
      return perr(p, t[j].col, "count=N or draws=N");
    if (seen & (1u << is_d)) return perr(p, t[j].col, "one %s=", is_d ? "draws" : "count");
    seen |= 1u << is_d;
    uint64_t v = 0;
    rc = is_d ? num_in(p, t[j].val, t[j].vlen, t[j].vcol, 1, SCN_MAX_DRAWS, "draws", &v)
              : num_in(p, t[j].val, t[j].vlen, t[j].vcol, 1, SCN_MAX_COUNT, "count", &v);
    if (is_d)
      a.draws = (uint32_t)v;
    else
      a.count = (uint32_t)v;
  }
  if (rc != AS_OK) return rc;
  rc = sim_grow(&sc->actors, &sc->capactors, sc->nactors + 1, sizeof *sc->actors, SCN_MAX_ACTORS);
  if (rc != AS_OK) return grow_err(p);
  sc->actors[sc->nactors++] = a;
  return AS_OK;
}

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
    uint64_t v = 0;
    rc = num_in(p, t[1].s, t[1].val ? 0 : t[1].len, t[1].col, 1, SCN_MAX_SESSIONS, "a session count", &v);
    sc->sessions = (uint32_t)v;
    return rc;
  }
  if (tok_is(&t[0], "journal")) {
    if (n == 2)
      for (unsigned j = 0; j < 4; j++)
        if (tok_is(&t[1], scn_journal_name((scn_journal)j))) {
          sc->journal = (scn_journal)j;
          return AS_OK;
        }
    return perr(p, n == 2 ? t[1].col : t[0].col, "journal delete, truncate, persist or wal");
  }
  if (tok_is(&t[0], "synchronous")) {
    if (n == 2)
      for (unsigned k = SCN_SYNC_OFF; k <= SCN_SYNC_EXTRA; k++)
        if (tok_is(&t[1], scn_sync_name((scn_sync)k))) {
          sc->synchronous = (scn_sync)k;
          p->sync_line = p->line;
          p->sync_col = t[1].col;
          return AS_OK;
        }
    return perr(p, n == 2 ? t[1].col : t[0].col, "synchronous off, normal, full or extra");
  }
  if (tok_is(&t[0], "limits")) return parse_limits(p, sc, t, n);
  if (tok_is(&t[0], "faults")) return parse_faults(p, sc, t, n);
  if (tok_is(&t[0], "latency")) return parse_latency(p, sc, t, n);
  if (tok_is(&t[0], "legacy_escalate")) return parse_legacy(p, sc, t, n);
  if (tok_is(&t[0], "swarm")) return parse_swarm(p, sc, t, n);
  if (tok_is(&t[0], "app")) return parse_path(p, t, n, sc->app, "app");
  if (tok_is(&t[0], "script")) return parse_path(p, t, n, sc->script, "script");
  if (tok_is(&t[0], "fields")) return parse_fields(p, sc, t, n);
  if (tok_is(&t[0], "llm")) return parse_llm(p, sc, t, n);
  if (tok_is(&t[0], "approval_timeout")) {
    if (n != 2 || t[1].val) return perr(p, t[0].col, "approval_timeout DUR");
    rc = duration(p, t[1].s, t[1].len, t[1].col, &sc->approval_timeout_ns);
    if (rc == AS_OK && sc->approval_timeout_ns == 0) rc = perr(p, t[1].col, "a timeout above 0");
    return rc;
  }
  if (tok_is(&t[0], "budget")) return parse_budget(p, sc, t, n);
  if (tok_is(&t[0], "prices")) return parse_path(p, t, n, sc->prices, "prices");
  if (tok_is(&t[0], "actor")) return parse_actor(p, sc, t, n);
  return perr(p, t[0].col, "a directive (scenario, describe, sessions, journal, synchronous, "
                           "limits, faults, latency, legacy_escalate, swarm, app, script, llm, "
                           "fields, approval_timeout, budget, prices, actor), found '%s'",
              shown(&t[0], b, sizeof b));
}

/* One line: its bytes checked, cut into tokens, parsed. */
static AS_WUR int parse_line(pstate *p, scenario *out, const char *line, size_t ll, int *named,
                             unsigned *seen) {
  if (ll > SCN_MAX_LINE) return perr(p, SCN_MAX_LINE + 1, "a line of at most %u characters", SCN_MAX_LINE);
  for (size_t i = 0; i < ll; i++) {
    unsigned char c = (unsigned char)line[i];
    if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
      return perr(p, (unsigned)i + 1, "printable text (found byte 0x%02x)", c);
  }
  tok t[MAX_TOKENS];
  unsigned n = 0;
  int rc = tokenize(p, line, ll, t, &n);
  if (rc != AS_OK || n == 0) return rc;
  if (is_space(line[0])) {
    if (!*named || out->nactors == 0)
      return perr(p, t[0].col, "an 'actor' line before an indented operation");
    return parse_op(p, out, &out->actors[out->nactors - 1], t, n);
  }
  return parse_directive(p, out, t, n, named, seen);
}

void scn_clear(scenario *sc) {
  if (!sc) return;
  for (size_t i = 0; i < sc->nactors; i++) free(sc->actors[i].ops);
  free(sc->actors);
  free(sc->legacy);
  memset(sc, 0, sizeof *sc);
}

/* The store refuses a synchronous level that is not durable with the
** journal (store.h): say so at the level's line and column. The journal
** may come later in the file, so this waits for the end. */
static AS_WUR int check_durable(pstate *p, const scenario *sc) {
  const char *why = NULL;
  if (sc->synchronous == SCN_SYNC_DEFAULT ||
      as_store_durable(scn_journal_name(sc->journal), scn_sync_name(sc->synchronous), NULL,
                       &why) == AS_OK)
    return AS_OK;
  p->line = p->sync_line;
  return perr(p, p->sync_col, "a synchronous level that is durable with journal %s: %s",
              scn_journal_name(sc->journal), why);
}

/* The agents' operations need an app and a script, and a script needs an
** app: said at the first line that lacks them. */
static AS_WUR int check_app(pstate *p, const scenario *sc) {
  if (sc->script[0] && !sc->app[0]) {
    p->line = 1;
    return perr(p, 1, "an 'app PATH' line for the script to drive");
  }
  if (sc->cassette[0] && !sc->app[0]) {
    p->line = 1;
    return perr(p, 1, "an 'app PATH' line for the cassette's answers to drive");
  }
  if (sc->app[0] && !sc->script[0] && !sc->cassette[0]) {
    p->line = 1;
    return perr(p, 1, "a 'script PATH' line (the stub LLM's answers for the app's agents) or "
                      "an 'llm cassette:PATH' line");
  }
  if ((sc->nfields || sc->approval_timeout_ns) && !sc->app[0]) {
    p->line = 1;
    return perr(p, 1, "an 'app PATH' line (fields and approval_timeout are the app's)");
  }
  for (size_t i = 0; !sc->app[0] && i < sc->nactors; i++)
    for (size_t j = 0; j < sc->actors[i].nops; j++) {
      scn_op_kind k = sc->actors[i].ops[j].kind;
      if (k == SCN_OP_RUN || k == SCN_OP_APPROVE || k == SCN_OP_REJECT || k == SCN_OP_WATCHDOG ||
          k == SCN_OP_RETRY || k == SCN_OP_PREVIEW || k == SCN_OP_CANCEL ||
          k == SCN_OP_TRIGGER || k == SCN_OP_FLUSH) {
        p->line = sc->actors[i].ops[j].line;
        return perr(p, 1, "an 'app PATH' line: %s runs the app's agents", scn_ops[k].keyword);
      }
    }
  if (sc->prices[0] && !sc->budget) {
    p->line = 1;
    return perr(p, 1, "a 'budget limit=MONEY' line (the prices are the budget's)");
  }
  for (size_t i = 0; !sc->budget && i < sc->nactors; i++)
    for (size_t j = 0; j < sc->actors[i].nops; j++) {
      scn_op_kind k = sc->actors[i].ops[j].kind;
      if (k == SCN_OP_TRIGGER || k == SCN_OP_SETTLE || k == SCN_OP_RECOVER ||
          k == SCN_OP_SCRAPE || k == SCN_OP_FLUSH) {
        p->line = sc->actors[i].ops[j].line;
        return perr(p, 1, "a 'budget limit=MONEY' line: %s works on the daily budget",
                    scn_ops[k].keyword);
      }
    }
  return AS_OK;
}

/* The directory of file ("." for none or a bare name). */
static void set_base(scenario *sc, const char *file) {
  const char *slash = file ? strrchr(file, '/') : NULL;
  if (!slash) {
    (void)snprintf(sc->base, sizeof sc->base, "."); /* ignore: fits */
    return;
  }
  size_t n = (size_t)(slash - file);
  if (n == 0) n = 1; /* "/x.scn": the root */
  if (n >= sizeof sc->base) n = sizeof sc->base - 1; /* ignore: a path that long fails to open */
  memcpy(sc->base, file, n);
  sc->base[n] = '\0';
}

int scn_parse(const char *file, const char *text, size_t len, scenario *out, char *err,
              size_t errcap) {
  pstate p = {.file = file ? file : "(scenario)", .line = 0, .err = err, .errcap = errcap};
  int rc = AS_OK, named = 0;
  unsigned seen = 0;
  if (err && errcap) err[0] = '\0';
  memset(out, 0, sizeof *out);
  out->sessions = 1;
  if (len > SCN_MAX_BYTES) {
    p.line = 1;
    rc = perr(&p, 1, "a file of at most %u bytes", SCN_MAX_BYTES);
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
    rc = parse_line(&p, out, line, ll, &named, &seen);
  }
  if (rc == AS_OK && !named) {
    p.line = p.line ? p.line : 1;
    rc = perr(&p, 1, "'scenario NAME' (the file is empty)");
  }
  if (rc == AS_OK && out->nactors == 0) rc = perr(&p, 1, "at least one actor");
  if (rc == AS_OK) rc = check_durable(&p, out);
  if (rc == AS_OK) rc = check_app(&p, out);
  if (rc == AS_OK) set_base(out, file);
  for (size_t i = 0; rc == AS_OK && i < out->nactors; i++) {
    if (out->actors[i].nops == 0) {
      p.line = out->actors[i].line;
      rc = perr(&p, 1, "operations (indented lines) under actor %s", out->actors[i].name);
    }
  }
  if (rc != AS_OK) goto out;
  if (out->swarm.on && !out->swarm.ops_given) scn_swarm_default(out);
out:
  if (rc != AS_OK) scn_clear(out); /* nothing half-written */
  return rc;
}

void scn_swarm_default(scenario *sc) {
  scn_swarm *w = &sc->swarm;
  if (w->on && w->ops_given) return;
  if (!w->on) {
    w->on = 1;
    w->min_count = 1;
    w->vary_faults = 1;
  }
  memset(w->may_off, 0, sizeof w->may_off);
  for (size_t i = 0; i < sc->nactors; i++)
    for (size_t j = 0; j < sc->actors[i].nops; j++) w->may_off[sc->actors[i].ops[j].kind] = 1;
  w->ops_given = 1; /* spelled out now: the canonical text lists them */
}

int scn_copy(scenario *dst, const scenario *src) {
  *dst = *src;
  dst->legacy = NULL;
  dst->actors = NULL;
  dst->nlegacy = dst->caplegacy = dst->nactors = dst->capactors = 0;
  int rc = sim_grow(&dst->legacy, &dst->caplegacy, src->nlegacy, sizeof *dst->legacy, SCN_MAX_LEGACY);
  if (rc == AS_OK)
    rc = sim_grow(&dst->actors, &dst->capactors, src->nactors, sizeof *dst->actors, SCN_MAX_ACTORS);
  if (rc != AS_OK) goto fail;
  if (src->nlegacy) memcpy(dst->legacy, src->legacy, src->nlegacy * sizeof *src->legacy);
  dst->nlegacy = src->nlegacy;
  for (size_t i = 0; i < src->nactors; i++) {
    scn_actor *a = &dst->actors[dst->nactors];
    *a = src->actors[i];
    a->ops = NULL;
    a->nops = a->capops = 0;
    dst->nactors++;
    rc = sim_grow(&a->ops, &a->capops, src->actors[i].nops, sizeof *a->ops, SCN_MAX_OPS);
    if (rc != AS_OK) goto fail;
    memcpy(a->ops, src->actors[i].ops, src->actors[i].nops * sizeof *a->ops);
    a->nops = src->actors[i].nops;
  }
  return AS_OK;
fail:
  scn_clear(dst);
  return rc;
}

static int same_op(const scn_op *x, const scn_op *y) {
  return x->kind == y->kind && x->repeat == y->repeat && x->weight == y->weight &&
         x->session == y->session &&
         x->duration == y->duration && x->retry == y->retry && x->state == y->state &&
         x->when == y->when && x->ios == y->ios && x->api == y->api && x->ticks == y->ticks && x->money == y->money &&
         strcmp(x->name, y->name) == 0;
}

static int same_latency(const scn_latency *a, const scn_latency *b) {
  if (a->off != b->off || a->given != b->given) return 0;
  for (unsigned k = 0; k < SCN__IO_COUNT; k++) {
    const scn_lat *x = &a->kind[k], *y = &b->kind[k];
    if (x->lo != y->lo || x->hi != y->hi || x->tail_ppm != y->tail_ppm || x->tail_hi != y->tail_hi)
      return 0;
  }
  return 1;
}

int scn_equal(const scenario *a, const scenario *b) {
  if (strcmp(a->name, b->name) != 0 || strcmp(a->describe, b->describe) != 0 ||
      a->sessions != b->sessions || a->journal != b->journal ||
      a->synchronous != b->synchronous || a->max_steps != b->max_steps ||
      a->max_virtual_ns != b->max_virtual_ns || memcmp(&a->faults, &b->faults, sizeof a->faults) != 0 ||
      memcmp(&a->swarm, &b->swarm, sizeof a->swarm) != 0 || a->nlegacy != b->nlegacy ||
      a->nactors != b->nactors || !same_latency(&a->latency, &b->latency) ||
      strcmp(a->app, b->app) != 0 || strcmp(a->script, b->script) != 0 ||
      strcmp(a->cassette, b->cassette) != 0 || a->llm_record != b->llm_record ||
      a->nfields != b->nfields || a->approval_timeout_ns != b->approval_timeout_ns ||
      a->budget != b->budget || a->daily_limit_micros != b->daily_limit_micros ||
      a->cycle_estimate_micros != b->cycle_estimate_micros || strcmp(a->prices, b->prices) != 0)
    return 0;
  for (size_t i = 0; i < a->nfields; i++)
    if (strcmp(a->fields[i].key, b->fields[i].key) != 0 ||
        strcmp(a->fields[i].value, b->fields[i].value) != 0)
      return 0;
  for (size_t i = 0; i < a->nlegacy; i++)
    if (strcmp(a->legacy[i], b->legacy[i]) != 0) return 0;
  for (size_t i = 0; i < a->nactors; i++) {
    const scn_actor *x = &a->actors[i], *y = &b->actors[i];
    if (strcmp(x->name, y->name) != 0 || x->count != y->count || x->draws != y->draws ||
        x->nops != y->nops)
      return 0;
    for (size_t j = 0; j < x->nops; j++)
      if (!same_op(&x->ops[j], &y->ops[j])) return 0;
  }
  return 1;
}

/* --- the canonical writer ------------------------------------------------------ */

static size_t format_op(const scn_op *op, int drawn, char *buf, size_t cap, size_t n) {
  n = as_appendf(buf, cap, n, "    ");
  if (drawn) n = as_appendf(buf, cap, n, "weight=%u ", op->weight);
  n = as_appendf(buf, cap, n, "repeat=%u %s", op->repeat, scn_ops[op->kind].keyword);
  for (const scn_key *k = scn_ops[op->kind].keys; k->name; k++) {
    switch (k->type) {
    case SCN_KT_SESSION:
      if (op->session == SCN_ANY)
        n = as_appendf(buf, cap, n, " s=any");
      else if (op->session == SCN_ALL)
        n = as_appendf(buf, cap, n, " s=all");
      else
        n = as_appendf(buf, cap, n, " s=%u", op->session);
      break;
    case SCN_KT_NAME:
    case SCN_KT_THREAD:
      if (op->name[0]) n = as_appendf(buf, cap, n, " %s=%s", k->name, op->name);
      break;
    case SCN_KT_DURATION:
      n = as_appendf(buf, cap, n, " %s=%lluns", k->name, (unsigned long long)op->duration);
      break;
    case SCN_KT_COUNT: {
      uint64_t v = *count_slot((scn_op *)op, k->slot);
      if (v) n = as_appendf(buf, cap, n, " %s=%llu", k->name, (unsigned long long)v);
      break;
    }
    case SCN_KT_WHEN:
      if (op->when) n = as_appendf(buf, cap, n, " %s=%s", k->name, scn_whens[op->when]);
      break;
    case SCN_KT_STATE:
      if (op->state) n = as_appendf(buf, cap, n, " %s=%s", k->name, scn_tool_states[op->state]);
      break;
    case SCN_KT_MONEY:
      if (op->money) {
        char m[32];
        scn_money_text(m, sizeof m, op->money);
        n = as_appendf(buf, cap, n, " %s=%s", k->name, m);
      }
      break;
    }
  }
  return as_appendf(buf, cap, n, "\n");
}

/* The latency line, when the file has one: the kinds it sets, in ns. */
static size_t format_latency(const scn_latency *l, char *buf, size_t cap, size_t n) {
  if (l->off) return as_appendf(buf, cap, n, "latency off\n");
  if (!l->given) return n;
  n = as_appendf(buf, cap, n, "latency");
  for (unsigned k = 0; k < SCN__IO_COUNT; k++) {
    const scn_lat *x = &l->kind[k];
    if (!(l->given & (1u << k))) continue;
    n = as_appendf(buf, cap, n, " %s=%lluns..%lluns", scn_io_names[k], (unsigned long long)x->lo,
                   (unsigned long long)x->hi);
    if (x->tail_ppm)
      n = as_appendf(buf, cap, n, "+%uppm..%lluns", (unsigned)x->tail_ppm,
                     (unsigned long long)x->tail_hi);
  }
  return as_appendf(buf, cap, n, "\n");
}

int scn_format(const scenario *sc, char *buf, size_t cap, size_t *len) {
  size_t n = 0;
  if (cap == 0) return AS_TOOBIG;
  n = as_appendf(buf, cap, n, "scenario %s\n", sc->name);
  if (sc->describe[0]) n = as_appendf(buf, cap, n, "describe \"%s\"\n", sc->describe);
  n = as_appendf(buf, cap, n, "sessions %u\njournal %s\n", sc->sessions,
                 scn_journal_name(sc->journal));
  /* Only when set: the default is the store's choice, not a level. */
  if (sc->synchronous != SCN_SYNC_DEFAULT)
    n = as_appendf(buf, cap, n, "synchronous %s\n", scn_sync_name(sc->synchronous));
  if (sc->max_steps || sc->max_virtual_ns) {
    n = as_appendf(buf, cap, n, "limits");
    if (sc->max_steps) n = as_appendf(buf, cap, n, " steps=%llu", (unsigned long long)sc->max_steps);
    if (sc->max_virtual_ns)
      n = as_appendf(buf, cap, n, " time=%lluns", (unsigned long long)sc->max_virtual_ns);
    n = as_appendf(buf, cap, n, "\n");
  }
  const scn_faults *f = &sc->faults;
  n = as_appendf(buf, cap, n, "faults read=%u write=%u full=%u busy=%u sync=%u", f->read,
                 f->write, f->full, f->busy, f->sync);
  /* Only when on, so files written before it keep their text (and fingerprint). */
  n = f->tear ? as_appendf(buf, cap, n, " tear=%u\n", f->tear) : as_appendf(buf, cap, n, "\n");
  n = format_latency(&sc->latency, buf, cap, n);
  if (sc->swarm.on) {
    n = as_appendf(buf, cap, n, "swarm ops=");
    for (unsigned k = 0, first = 1; k < SCN__OP_COUNT; k++)
      if (sc->swarm.may_off[k]) {
        n = as_appendf(buf, cap, n, "%s%s", first ? "" : ",", scn_ops[k].keyword);
        first = 0;
      }
    n = as_appendf(buf, cap, n, " min_count=%u faults=%s\n", sc->swarm.min_count,
                   sc->swarm.vary_faults ? "vary" : "keep");
  }
  if (sc->app[0]) n = as_appendf(buf, cap, n, "app \"%s\"\n", sc->app);
  if (sc->script[0]) n = as_appendf(buf, cap, n, "script \"%s\"\n", sc->script);
  if (sc->cassette[0])
    n = as_appendf(buf, cap, n, "llm \"%s:%s\"\n", sc->llm_record ? "record" : "cassette",
                   sc->cassette);
  if (sc->nfields) {
    n = as_appendf(buf, cap, n, "fields");
    for (size_t i = 0; i < sc->nfields; i++)
      n = as_appendf(buf, cap, n, " %s=%s", sc->fields[i].key, sc->fields[i].value);
    n = as_appendf(buf, cap, n, "\n");
  }
  if (sc->approval_timeout_ns)
    n = as_appendf(buf, cap, n, "approval_timeout %lluns\n", (unsigned long long)sc->approval_timeout_ns);
  if (sc->budget) {
    char m[32];
    scn_money_text(m, sizeof m, sc->daily_limit_micros);
    n = as_appendf(buf, cap, n, "budget limit=%s", m);
    if (sc->cycle_estimate_micros) {
      scn_money_text(m, sizeof m, sc->cycle_estimate_micros);
      n = as_appendf(buf, cap, n, " estimate=%s", m);
    }
    n = as_appendf(buf, cap, n, "\n");
  }
  if (sc->prices[0]) n = as_appendf(buf, cap, n, "prices \"%s\"\n", sc->prices);
  if (sc->nlegacy) {
    n = as_appendf(buf, cap, n, "legacy_escalate");
    for (size_t i = 0; i < sc->nlegacy; i++) n = as_appendf(buf, cap, n, " %s", sc->legacy[i]);
    n = as_appendf(buf, cap, n, "\n");
  }
  for (size_t i = 0; i < sc->nactors; i++) {
    const scn_actor *a = &sc->actors[i];
    n = as_appendf(buf, cap, n, "actor %s count=%u", a->name, a->count);
    if (a->draws) n = as_appendf(buf, cap, n, " draws=%u", a->draws);
    n = as_appendf(buf, cap, n, "\n");
    for (size_t j = 0; j < a->nops; j++) n = format_op(&a->ops[j], a->draws != 0, buf, cap, n);
  }
  if (n >= cap - 1) return AS_TOOBIG;
  *len = n;
  return AS_OK;
}

int scn_load(const char *path, scenario *out, char *err, size_t errcap) {
  int rc = AS_OK;
  char *buf = NULL;
  memset(out, 0, sizeof *out);
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
  if (fclose(f) != 0 && rc == AS_OK) {
    rc = AS_IO;
    scn_clear(out);
    snprintf(err, errcap, "%s: read error: %s", path, strerror(errno));
  }
  return rc;
}

/* --- the reference ------------------------------------------------------------- */

static const struct {
  const char *syntax, *help;
} directives[] = {
    {"scenario NAME", "required, first line; letters, digits, `_ - . :`"},
    {"describe \"TEXT\"", "one line for people (no escapes in strings)"},
    {"sessions N", "1..1024 sessions created before the actors start (default 1); before any actor"},
    {"journal MODE", "`delete` (default), `truncate`, `persist` or `wal`"},
    {"synchronous LEVEL",
     "`off`, `normal`, `full` or `extra`: SQLite's synchronous level (default: the store's "
     "durable level for the journal, `extra` for delete and `full` for the others); a level "
     "that is not durable with the journal is refused"},
    {"limits steps=N time=DUR", "step budget (1..16,000,000) and virtual-time budget"},
    {"faults read= write= full= busy= sync= tear=",
     "rates in parts per million (0..1,000,000) of read errors, write errors, disk full, lock "
     "busy and sync errors in the simulated disk (a failed sync drops what it was to persist "
     "half the time), and of torn writes: at power loss, each sector written since its file's "
     "last sync (and each changed length) survives at the tear rate (default 0: none does)"},
    {"latency KIND=LAT... (or latency off)",
     "what each kind of simulated-disk I/O costs in virtual time, inside a task (the caller "
     "waits while others run; power lost meanwhile means the call never happened). KIND: "
     "open, read, write, truncate, sync, size, lock (lock, unlock, check-reserved), delete, "
     "access, shm (WAL shared-memory locks and barriers). LAT: DUR, LO..HI (uniform), or "
     "LO..HI+TAIL..MAX (TAIL, N% or Nppm, of the calls cost more than HI, up to MAX); at most "
     "1s. Kinds not named keep the default, a local SSD: open 5us..20us, read 20us..100us, "
     "write 20us..50us, truncate and delete 20us..100us, sync 500us..5ms+1%..30ms, size and "
     "lock 1us..2us, access 2us..5us, shm 100ns..1us. `off`: I/O takes no time"},
    {"legacy_escalate TOOL...", "up to 8 tool names that count as an escalation when a session is finalized"},
    {"swarm [ops=OP,...] [min_count=N] [faults=vary|keep]",
     "swarm testing: each seed switches each listed operation (default: every one the actors "
     "use) on or off, redraws the weights of generated actors, runs min_count..count tasks of "
     "each actor (min_count default 1) and, with faults=vary (the default), switches each fault "
     "kind on or off with a rate up to the one `faults` gives; every choice is printed with the "
     "seed's options (--swarm adds this line with its defaults)"},
    {"app PATH", "the app whose agents `run` runs: a directory holding app.yaml (docs/apps.md), "
                 "relative to the scenario file; sessions are made with its field defaults"},
    {"script PATH", "the stub LLM's script (docs/stub-scripts.md), relative to the scenario file; "
                    "required with `app` unless `llm` names a cassette (then it gives only the app "
                    "tools' results)"},
    {"llm cassette:PATH", "the app's LLM is a recorded cassette (docs/cassettes.md), relative "
                          "to the scenario file: the real HTTP provider replays it on a "
                          "simulated connection, its recorded latencies as virtual time; "
                          "`llm record:DIR,KIND,URL,MODEL[,stream][,structured]` instead "
                          "records a real peer's answers into the new cassette DIR (one seed: "
                          "a recording, not a verification run)"},
    {"fields KEY=VALUE...", "up to 16 fields every session is made with (checked against the "
                            "app's fields and rosters)"},
    {"approval_timeout DUR", "how long a pending approval waits before the watchdog times it out "
                             "(default: the app's)"},
    {"budget limit=MONEY [estimate=MONEY]",
     "the daily budget the runtime enforces (dollars, at most six decimals) and a cycle's "
     "default estimate (default 0.15); needed by trigger, settle, recover, scrape and flush. "
     "The world's wall clock starts at 2026-01-01T00:00:00Z: sleep to near a midnight to "
     "cross it mid-cycle"},
    {"prices PATH", "the price table (budget.h's format), relative to the scenario file "
                    "(default " SCN_PRICES_DEFAULT ")"},
    {"actor NAME [count=N] [draws=N]",
     "1..64 tasks running the operations indented below (at most 32 actors, 128 operations "
     "each); with draws, each task instead runs N operations drawn from them by weight (a "
     "generated actor)"},
};

/* "s=SESSION name=TOOL [state=STATE]" for an operation's keys. */
static void key_syntax(const scn_key *keys, char *buf, size_t cap) {
  static const char *const ph[] = {"S", "TOOL", "DUR", "N", "STATE", "NAME", "WHEN", "MONEY"};
  size_t n = 0;
  buf[0] = '\0';
  for (const scn_key *k = keys; k->name; k++)
    n = as_appendf(buf, cap, n, " %s%s=%s%s", k->required == 1 ? "" : "[", k->name, ph[k->type],
                   k->required == 1 ? "" : "]");
}

/* Whether kd, a key of operation k, is the first key of its name in the
** table (the reference explains each key name once). */
static int first_of_name(const scn_key *kd, unsigned k) {
  for (unsigned j = 0; j <= k; j++)
    for (const scn_key *e = scn_ops[j].keys; e->name && e != kd; e++)
      if (strcmp(e->name, kd->name) == 0) return 0;
  return 1;
}

void scn_write_reference(FILE *f, int markdown) {
  char syn[160];
  if (markdown) {
    fputs("| directive | meaning |\n| --- | --- |\n", f);
    for (size_t i = 0; i < sizeof directives / sizeof directives[0]; i++)
      fprintf(f, "| `%s` | %s |\n", directives[i].syntax, directives[i].help);
    fputs("\n| operation | what the actor does |\n| --- | --- |\n", f);
    for (unsigned k = 0; k < SCN__OP_COUNT; k++) {
      key_syntax(scn_ops[k].keys, syn, sizeof syn);
      fprintf(f, "| `%s%s` | %s |\n", scn_ops[k].keyword, syn, scn_ops[k].help);
    }
    fputs("\n| key | meaning |\n| --- | --- |\n", f);
    fprintf(f, "| `repeat=N` | before any operation: run it N times (1 to %u) |\n", SCN_MAX_REPEAT);
    fprintf(f, "| `weight=N` | before an operation of an actor with draws: how often it is drawn "
               "(1 to %u, default 1) |\n", SCN_MAX_WEIGHT);
    for (unsigned k = 0; k < SCN__OP_COUNT; k++)
      for (const scn_key *kd = scn_ops[k].keys; kd->name; kd++) {
        if (!first_of_name(kd, k)) continue;
        fprintf(f, "| `%s=` | %s |\n", kd->name, kd->help);
      }
    return;
  }
  fputs("Directives (each at most once, but actor):\n", f);
  for (size_t i = 0; i < sizeof directives / sizeof directives[0]; i++) {
    fprintf(f, "  %s\n", directives[i].syntax);
    sim_wrap(f, "", 6, directives[i].help);
  }
  fputs("\nOperations (indented under an actor; any may start with repeat=N and, under\n"
        "an actor with draws, weight=N):\n", f);
  for (unsigned k = 0; k < SCN__OP_COUNT; k++) {
    key_syntax(scn_ops[k].keys, syn, sizeof syn);
    fprintf(f, "  %s%s\n", scn_ops[k].keyword, syn);
    sim_wrap(f, "", 6, scn_ops[k].help);
  }
  fputs("\nKeys:\n", f);
  for (unsigned k = 0; k < SCN__OP_COUNT; k++)
    for (const scn_key *kd = scn_ops[k].keys; kd->name; kd++) {
      if (!first_of_name(kd, k)) continue;
      char head[32];
      snprintf(head, sizeof head, "  %s", kd->name);
      sim_wrap(f, head, 11, kd->help);
    }
  fprintf(f, "\nDurations are a number and a unit: %s.\n", sim_duration_units);
}

/*
** script_write.c -- a stub script's canonical text and its equality
** (stub.h).
**
** The canonical text says exactly what the script said, in its order, and
** nothing by default that was not written: four spaces per level, keys in
** the order of the reference, durations in the largest unit that is
** exact, strings with JSON's escapes (non-ASCII UTF-8 as it is), JSON
** values byte for byte. Comments are not kept. The writer keeps a sticky
** error: once a step fails, nothing after it reports success.
*/
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agentsim/seam.h"
#include "script_internal.h"

/* A written text may be larger than the file it came from (indentation,
** default keys spelled out), within reason. */
#define WRITE_MAX (4u * AS_STUB_FILE_MAX)

typedef struct wbuf {
  char *b;
  size_t n, cap;
  int rc; /* sticky */
} wbuf;

static void w_room(wbuf *w, size_t more) {
  if (w->rc != AS_OK) return;
  if (w->n + more + 1 > WRITE_MAX) {
    w->rc = AS_TOOBIG;
    return;
  }
  if (w->n + more + 1 <= w->cap) return;
  size_t nc = w->cap ? w->cap : 4096;
  while (nc < w->n + more + 1) nc *= 2;
  if (nc > WRITE_MAX) nc = WRITE_MAX;
  char *nb = as_realloc(w->b, nc);
  if (!nb) {
    w->rc = AS_NOMEM;
    return;
  }
  w->b = nb;
  w->cap = nc;
}

static void w_put(wbuf *w, const char *s, size_t len) {
  w_room(w, len);
  if (w->rc != AS_OK) return;
  memcpy(w->b + w->n, s, len);
  w->n += len;
  w->b[w->n] = '\0';
}

static void w_puts(wbuf *w, const char *s) { w_put(w, s, strlen(s)); }

static void w_printf(wbuf *w, const char *fmt, ...) AS_PRINTF(2, 3);
static void w_printf(wbuf *w, const char *fmt, ...) {
  char tmp[160];
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (k >= 0 && (size_t)k < sizeof tmp)
    w_put(w, tmp, (size_t)k);
  else if (w->rc == AS_OK)
    w->rc = AS_INTERNAL; /* only short pieces (a name, a number) come here */
}

static void w_indent(wbuf *w, unsigned level) {
  for (unsigned i = 0; i < level; i++) w_puts(w, "    ");
}

/* s as a JSON string: '"', '\\' and control bytes escaped, the rest as is. */
static void w_string(wbuf *w, const char *s) {
  w_puts(w, "\"");
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    switch (*c) {
    case '"': w_puts(w, "\\\""); break;
    case '\\': w_puts(w, "\\\\"); break;
    case '\n': w_puts(w, "\\n"); break;
    case '\t': w_puts(w, "\\t"); break;
    case '\r': w_puts(w, "\\r"); break;
    case '\b': w_puts(w, "\\b"); break;
    case '\f': w_puts(w, "\\f"); break;
    default:
      if (*c < 0x20 || *c == 0x7f)
        w_printf(w, "\\u%04x", (unsigned)*c);
      else
        w_put(w, (const char *)c, 1);
    }
  }
  w_puts(w, "\"");
}

/* " key=DUR" in the largest unit that divides it. */
static void w_duration(wbuf *w, const char *key, uint64_t ns) {
  static const struct {
    const char *u;
    uint64_t mult;
  } units[] = {{"d", 86400000000000ull}, {"h", 3600000000000ull}, {"m", 60000000000ull},
               {"s", 1000000000ull},     {"ms", 1000000ull},      {"us", 1000ull}};
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (ns % units[i].mult == 0) {
      w_printf(w, " %s=%llu%s", key, (unsigned long long)(ns / units[i].mult), units[i].u);
      return;
    }
  w_printf(w, " %s=%lluns", key, (unsigned long long)ns);
}

static void w_delay(wbuf *w, const stub_answer *a) {
  if (a->has_delay) w_duration(w, "delay", a->delay_ns);
}

static void w_error(wbuf *w, const stub_answer *a, unsigned level) {
  static const char *const kw[AS__LLM_ERR_COUNT] = {
      [AS_LLM_ERR_TIMEOUT] = "timeout",     [AS_LLM_ERR_RATE_LIMITED] = "rate_limited",
      [AS_LLM_ERR_SERVER] = "server_error", [AS_LLM_ERR_MALFORMED] = "malformed",
      [AS_LLM_ERR_REFUSAL] = "refusal"};
  w_indent(w, level);
  w_puts(w, kw[a->error]);
  if (a->has_retry_after) w_duration(w, "retry_after", a->retry_after_ns);
  if (a->status) w_printf(w, " status=%d", a->status);
  if (a->message) {
    w_puts(w, " ");
    w_string(w, a->message);
  }
  w_puts(w, "\n");
}

static void w_texts(wbuf *w, const stub_answer *a, size_t from, size_t to, unsigned level) {
  for (size_t i = from; i < to; i++) {
    w_indent(w, level);
    w_puts(w, "text ");
    w_string(w, a->texts[i]);
    w_puts(w, "\n");
  }
}

static void w_answer(wbuf *w, const stub_answer *a, unsigned level) {
  if (a->error != AS_LLM_ERR_NONE) {
    w_error(w, a, level);
    return;
  }
  w_texts(w, a, 0, a->nbefore, level);
  if (a->env_in != STUB_IN_NONE) {
    w_indent(w, level);
    w_puts(w, "envelope ");
    if (a->env_in != STUB_IN_STRUCTURED) w_printf(w, "in=%s ", stub_env_in_names[a->env_in]);
    w_put(w, a->env, a->envlen);
    w_puts(w, "\n");
  }
  w_texts(w, a, a->nbefore, a->ntexts, level);
  for (size_t i = 0; i < a->ntools; i++) {
    w_indent(w, level);
    w_printf(w, "tool %s ", a->tools[i].name);
    w_put(w, a->tools[i].args, a->tools[i].len);
    w_puts(w, "\n");
  }
  if (a->truncated) {
    w_indent(w, level);
    w_puts(w, "truncated");
    if (a->has_cut) w_printf(w, " at=%zu", a->cut);
    w_puts(w, "\n");
  }
  if (a->has_finish) {
    w_indent(w, level);
    w_printf(w, "finish %s\n", stub_finish_names[a->finish]);
  }
  if (a->usage_none) {
    w_indent(w, level);
    w_puts(w, "usage none\n");
  }
  if (a->usage_given) {
    w_indent(w, level);
    w_puts(w, "usage");
    for (unsigned k = 0; k < STUB_NUSAGE; k++)
      if (a->usage_given & (1u << k))
        w_printf(w, " %s=%lld", stub_usage_names[k], (long long)a->usage[k]);
    w_puts(w, "\n");
  }
}

/* A call or default block's line (already indented), its answers below. */
static void w_block(wbuf *w, const stub_entry *e, unsigned level) {
  if (e->kind == STUB_E_DEFAULT || (e->call == 0 && e->attempt == 0 && e->run == 0)) {
    w_puts(w, "default");
  } else {
    w_puts(w, "call ");
    if (e->call)
      w_printf(w, "%u", e->call);
    else
      w_puts(w, "*");
    if (e->attempt) w_printf(w, " attempt=%u", e->attempt);
    if (e->run) w_printf(w, " retry=%u", e->run - 1);
  }
  if (!e->alt_form) {
    w_delay(w, &e->alts[0]);
    w_puts(w, "\n");
    w_answer(w, &e->alts[0], level + 1);
    return;
  }
  w_puts(w, "\n");
  for (size_t i = 0; i < e->nalts; i++) {
    w_indent(w, level + 1);
    w_puts(w, "alt");
    if (e->alts[i].weight != 1) w_printf(w, " weight=%u", e->alts[i].weight);
    w_delay(w, &e->alts[i]);
    w_puts(w, "\n");
    w_answer(w, &e->alts[i], level + 2);
  }
}

/* A result's JSON, or its fail=KIND. */
static void w_result_answer(wbuf *w, const stub_answer *a) {
  if (a->tool_fail)
    w_printf(w, "fail=%s", stub_fail_names[a->tool_fail]);
  else
    w_put(w, a->result, a->rlen);
}

static void w_result(wbuf *w, const stub_entry *e) {
  w_printf(w, "result %s", e->name);
  if (e->call) w_printf(w, " call=%u", e->call);
  if (!e->alt_form) {
    w_puts(w, " ");
    w_result_answer(w, &e->alts[0]);
    w_puts(w, "\n");
    return;
  }
  w_puts(w, "\n");
  for (size_t i = 0; i < e->nalts; i++) {
    w_indent(w, 1);
    w_puts(w, "alt ");
    if (e->alts[i].weight != 1) w_printf(w, "weight=%u ", e->alts[i].weight);
    w_result_answer(w, &e->alts[i]);
    w_puts(w, "\n");
  }
}

int as_stub_script_write(const as_stub_script *s, char **out) {
  wbuf w = {NULL, 0, 0, AS_OK};
  if (!out) return AS_INVAL;
  *out = NULL;
  if (!s) return AS_INVAL;
  w_put(&w, "", 0);
  if (s->has_model) w_printf(&w, "model %s\n", s->model);
  const char *agent = NULL; /* the agent line the entries are under */
  for (size_t i = 0; i < s->n && w.rc == AS_OK; i++) {
    const stub_entry *e = &s->entries[i];
    if (e->kind != STUB_E_CALL) {
      agent = NULL;
      if (e->kind == STUB_E_RESULT)
        w_result(&w, e);
      else
        w_block(&w, e, 0);
      continue;
    }
    if (!agent || strcmp(agent, e->name) != 0) {
      w_printf(&w, "agent %s\n", e->name);
      agent = e->name;
    }
    w_indent(&w, 1);
    w_block(&w, e, 1);
  }
  if (w.rc != AS_OK) {
    as_free(w.b);
    return w.rc;
  }
  *out = w.b;
  return AS_OK;
}

/* --- equality ---------------------------------------------------------------- */

static bool same_str(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_bytes(const char *a, size_t alen, const char *b, size_t blen) {
  return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static bool same_answer(const stub_answer *x, const stub_answer *y) {
  if (x->weight != y->weight || x->has_delay != y->has_delay ||
      (x->has_delay && x->delay_ns != y->delay_ns) || x->error != y->error ||
      !same_str(x->message, y->message) || x->has_retry_after != y->has_retry_after ||
      (x->has_retry_after && x->retry_after_ns != y->retry_after_ns) || x->status != y->status ||
      x->ntexts != y->ntexts || x->nbefore != y->nbefore || x->env_in != y->env_in ||
      !same_bytes(x->env, x->envlen, y->env, y->envlen) || x->ntools != y->ntools ||
      x->truncated != y->truncated || x->has_cut != y->has_cut ||
      (x->has_cut && x->cut != y->cut) || x->has_finish != y->has_finish ||
      (x->has_finish && x->finish != y->finish) || x->usage_given != y->usage_given ||
      x->usage_none != y->usage_none || !same_bytes(x->result, x->rlen, y->result, y->rlen) || x->tool_fail != y->tool_fail)
    return false;
  for (size_t i = 0; i < x->ntexts; i++)
    if (strcmp(x->texts[i], y->texts[i]) != 0) return false;
  for (size_t i = 0; i < x->ntools; i++)
    if (strcmp(x->tools[i].name, y->tools[i].name) != 0 ||
        !same_bytes(x->tools[i].args, x->tools[i].len, y->tools[i].args, y->tools[i].len))
      return false;
  for (unsigned k = 0; k < STUB_NUSAGE; k++)
    if ((x->usage_given & (1u << k)) && x->usage[k] != y->usage[k]) return false;
  return true;
}

bool as_stub_script_equal(const as_stub_script *a, const as_stub_script *b) {
  if (!a || !b) return a == b;
  if (a->n != b->n || a->has_model != b->has_model || strcmp(a->model, b->model) != 0) return false;
  for (size_t i = 0; i < a->n; i++) {
    const stub_entry *x = &a->entries[i], *y = &b->entries[i];
    if (x->kind != y->kind || strcmp(x->name, y->name) != 0 || x->call != y->call ||
        x->attempt != y->attempt || x->run != y->run || x->alt_form != y->alt_form || x->nalts != y->nalts)
      return false;
    for (size_t j = 0; j < x->nalts; j++)
      if (!same_answer(&x->alts[j], &y->alts[j])) return false;
  }
  return true;
}

/*
** app_load.c -- reading app.yaml's tree: the typed accessors every section
** uses (each reports what it found and what was expected, at the node's
** place), and the sections that refer to nothing declared later: rosters,
** fields, the escalation roster, the runtime's own tools, tool servers and
** the retry settings. app_refs.c has the sections that refer back.
*/
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/budget.h"
#include "agentsim/llm.h"
#include "agentsim/fmt.h"
#include "app_internal.h"

/* --- accessors ----------------------------------------------------------------- */

int app_get(const app_loader *L, int map, const char *key) {
  const ay_doc *d = L->d;
  if (map < 0 || ay_at(d, map)->kind != AY_MAP) return -1;
  AY_PAIRS(d, map, k, v) {
    if (ay_at(d, k)->kind == AY_SCALAR && strcmp(ay_text(d, k), key) == 0) return v;
  }
  return -1;
}

const char *app_what(const app_loader *L, int i, char *buf, size_t cap) {
  const ay_node *n = ay_at(L->d, i);
  if (n->kind == AY_MAP) return "a mapping";
  if (n->kind == AY_SEQ) return "a list";
  if (ay_is_null(L->d, i)) return "nothing (null)";
  snprintf(buf, cap, "'%.48s%s'", ay_text(L->d, i), n->len > 48 ? "..." : "");
  return buf;
}

void app_node_err(app_loader *L, int i, const char *path, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (w < 0) msg[0] = '\0';
  const ay_node *n = ay_at(L->d, i);
  if (*path)
    app_err(&L->e, n->line, n->col, "%s: %s", path, msg);
  else
    app_err(&L->e, n->line, n->col, "%s", msg);
}

void app_list(char *buf, size_t cap, const void *base, size_t stride, size_t n) {
  size_t len = 0;
  buf[0] = '\0';
  if (n == 0) {
    as_appendf(buf, cap, 0, "none");
    return;
  }
  for (size_t i = 0; i < n; i++)
    len = as_appendf(buf, cap, len, "%s%s", i ? ", " : "",
                     (const char *)base + i * stride);
}

/* More keys than a fixed-key mapping has (the top level's 12 are the most):
** a known key's index in `allowed` is always below it. */
#define APP_KEYS_MAX 16

/* "a, b, c" of a NULL-terminated list. */
static void keys_text(char *buf, size_t cap, const char *const *keys) {
  size_t len = 0;
  buf[0] = '\0';
  for (size_t i = 0; keys[i]; i++) len = as_appendf(buf, cap, len, "%s%s", i ? ", " : "", keys[i]);
}

bool app_check_map(app_loader *L, int map, const char *path, const char *const *allowed,
                   const char *what, size_t max) {
  const ay_doc *d = L->d;
  char w[64], exp[256];
  if (ay_at(d, map)->bad) return false;
  if (allowed) keys_text(exp, sizeof exp, allowed);
  if (ay_at(d, map)->kind != AY_MAP) {
    if (allowed)
      app_node_err(L, map, path, "expected a mapping (keys: %s), found %s", exp,
                   app_what(L, map, w, sizeof w));
    else
      app_node_err(L, map, path, "expected a mapping of %s names, found %s", what,
                   app_what(L, map, w, sizeof w));
    return false;
  }
  if (!allowed && ay_at(d, map)->n > max) {
    app_node_err(L, map, path, "%u %ss: the cap is %zu", ay_at(d, map)->n, what, max);
    return false;
  }
  /* A fixed set of keys: where each was first given. */
  int first[APP_KEYS_MAX];
  for (size_t j = 0; j < APP_KEYS_MAX; j++) first[j] = -1;
  AY_PAIRS(d, map, k, v) {
    const ay_node *kn = ay_at(d, k);
    if (kn->bad) continue;
    if (kn->kind != AY_SCALAR || ay_is_null(d, k)) {
      app_node_err(L, k, path, "expected a %s name as the key, found %s", what,
                   app_what(L, k, w, sizeof w));
      continue;
    }
    const char *name = ay_text(d, k);
    int prev = -1;
    if (allowed) {
      size_t j = 0;
      while (allowed[j] && strcmp(allowed[j], name) != 0) j++;
      if (!allowed[j]) {
        app_node_err(L, k, path, "unknown key '%.64s' (expected: %s)", name, exp);
        continue;
      }
      prev = first[j];
      if (prev < 0) first[j] = k;
    } else {
      /* The keys before k (the walk ends at k, one of them): n <= max, so at
      ** most max * max comparisons. */
      for (int k2 = ay_at(d, map)->first; k2 != k; k2 = ay_at(d, ay_at(d, k2)->next)->next)
        if (ay_at(d, k2)->kind == AY_SCALAR && strcmp(ay_text(d, k2), name) == 0) {
          prev = k2;
          break;
        }
    }
    if (prev >= 0)
      app_node_err(L, k, path, "%s '%.64s' given twice (first at %u:%u)", what, name,
                   ay_at(d, prev)->line, ay_at(d, prev)->col);
  }
  return true;
}

bool app_check_seq(app_loader *L, int seq, const char *path, const char *what, size_t max) {
  char w[64];
  if (ay_at(L->d, seq)->bad) return false;
  if (ay_at(L->d, seq)->kind != AY_SEQ) {
    app_node_err(L, seq, path, "expected a list of %ss, found %s", what,
                 app_what(L, seq, w, sizeof w));
    return false;
  }
  if (ay_at(L->d, seq)->n > max) {
    app_node_err(L, seq, path, "%u %ss: the cap is %zu", ay_at(L->d, seq)->n, what, max);
    return false;
  }
  return true;
}

/* A scalar that is not null, or a report. */
static bool scalar(app_loader *L, int i, const char *path, const char *expected) {
  char w[64];
  if (ay_at(L->d, i)->bad) return false;
  if (ay_at(L->d, i)->kind != AY_SCALAR || ay_is_null(L->d, i)) {
    app_node_err(L, i, path, "expected %s, found %s", expected, app_what(L, i, w, sizeof w));
    return false;
  }
  return true;
}

static bool name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (!first && ((c >= '0' && c <= '9') || c == '-'));
}

bool app_name(app_loader *L, int i, const char *path, char *dst, size_t cap) {
  if (!scalar(L, i, path, "a name")) return false;
  const char *s = ay_text(L->d, i);
  size_t n = ay_at(L->d, i)->len;
  bool ok = n > 0;
  for (size_t j = 0; ok && j < n; j++) ok = name_char(s[j], j == 0);
  if (!ok) {
    app_node_err(L, i, path,
                 "'%.64s' is not a name (letters, digits, '_' and '-'; a letter or '_' first)", s);
    return false;
  }
  if (n >= cap) {
    app_node_err(L, i, path, "name '%.32s...' is %zu bytes: the cap is %zu", s, n, cap - 1);
    return false;
  }
  memcpy(dst, s, n + 1);
  return true;
}

bool app_textv(app_loader *L, int i, const char *path, char *dst, size_t cap) {
  if (!scalar(L, i, path, "text")) return false;
  const char *s = ay_text(L->d, i);
  size_t n = ay_at(L->d, i)->len;
  for (size_t j = 0; j < n; j++) {
    unsigned char c = (unsigned char)s[j];
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F) {
      app_node_err(L, i, path, "a control character (0x%02X) in the text", c);
      return false;
    }
  }
  if (n >= cap) {
    app_node_err(L, i, path, "text of %zu bytes: the cap is %zu", n, cap - 1);
    return false;
  }
  memcpy(dst, s, n + 1);
  return true;
}

/* A plain scalar, or a report that expected `what`. */
static bool plain(app_loader *L, int i, const char *path, const char *expected) {
  if (!scalar(L, i, path, expected)) return false;
  if (!ay_at(L->d, i)->plain) {
    app_node_err(L, i, path, "expected %s, found the quoted text '%.48s'", expected,
                 ay_text(L->d, i));
    return false;
  }
  return true;
}

bool app_number(app_loader *L, int i, const char *path, double lo, double hi, double *out) {
  char exp[96];
  as_appendf(exp, sizeof exp, 0, "a number from %g to %g", lo, hi);
  if (!plain(L, i, path, exp)) return false;
  const char *s = ay_text(L->d, i);
  /* Decimal only: strtod would also take hex, inf and nan. So v is finite:
  ** strtod gives an infinity only for an overflow, which sets ERANGE; and
  ** it always sets end. */
  bool ok = strspn(s, "0123456789+-.eE") == ay_at(L->d, i)->len && strpbrk(s, "0123456789");
  char *end = NULL;
  errno = 0;
  double v = ok ? strtod(s, &end) : 0;
  if (!ok || errno || *end || v < lo || v > hi) {
    app_node_err(L, i, path, "expected %s, found '%.48s'", exp, s);
    return false;
  }
  *out = v;
  return true;
}

bool app_uint(app_loader *L, int i, const char *path, unsigned lo, unsigned hi, unsigned *out) {
  char exp[96];
  as_appendf(exp, sizeof exp, 0, "a whole number from %u to %u", lo, hi);
  if (!plain(L, i, path, exp)) return false;
  const char *s = ay_text(L->d, i);
  size_t n = ay_at(L->d, i)->len;
  bool ok = n <= 9 && strspn(s, "0123456789") == n; /* n > 0: plain() refused null */
  unsigned long v = ok ? strtoul(s, NULL, 10) : 0;
  if (!ok || v < lo || v > hi) {
    app_node_err(L, i, path, "expected %s, found '%.48s'", exp, s);
    return false;
  }
  *out = (unsigned)v;
  return true;
}

bool app_money(app_loader *L, int i, const char *path, int64_t lo, int64_t *out) {
  static const char exp[] = "a dollar amount like 5.00 (at most six decimals, at most 1000000000)";
  if (!plain(L, i, path, exp)) return false;
  const char *s = ay_text(L->d, i);
  int64_t v = 0;
  if (as_money_parse(s, &v) != AS_OK || v < lo) {
    app_node_err(L, i, path, "expected %s%s, found '%.48s'", exp, lo > 0 ? ", above 0" : "", s);
    return false;
  }
  *out = v;
  return true;
}

bool app_bool(app_loader *L, int i, const char *path, bool *out) {
  if (!plain(L, i, path, "true or false")) return false;
  const char *s = ay_text(L->d, i);
  if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
    *out = s[0] == 't';
    return true;
  }
  app_node_err(L, i, path, "expected true or false, found '%.48s'", s);
  return false;
}

#define DURATION_EXPECTED "a duration: a whole number and ms, s, m, h or d (\"90s\", \"30m\")"

/* s as a duration of at most max_ns (app_duration's form). */
static bool duration_of(const char *s, uint64_t max_ns, uint64_t *out) {
  static const struct {
    const char *unit;
    uint64_t ns;
  } units[] = {{"ms", 1000000ull}, {"s", 1000000000ull}, {"m", 60000000000ull},
               {"h", 3600000000000ull}, {"d", 86400000000000ull}};
  size_t digits = strspn(s, "0123456789");
  uint64_t v = 0;
  bool ok = digits > 0 && digits <= 12;
  for (size_t j = 0; ok && j < digits; j++) v = v * 10 + (uint64_t)(s[j] - '0');
  size_t u = 0;
  while (ok && u < sizeof units / sizeof units[0] && strcmp(s + digits, units[u].unit) != 0) u++;
  ok = ok && u < sizeof units / sizeof units[0] && v > 0;
  if (ok) ok = v <= max_ns / units[u].ns; /* so the product <= max_ns */
  if (ok) *out = v * units[u].ns;
  return ok;
}

bool app_duration(app_loader *L, int i, const char *path, uint64_t max_ns, uint64_t *out) {
  if (!scalar(L, i, path, DURATION_EXPECTED)) return false;
  const char *s = ay_text(L->d, i);
  if (!duration_of(s, max_ns, out)) {
    app_node_err(L, i, path, "expected %s of at most %llu days, found '%.48s'",
                 DURATION_EXPECTED, (unsigned long long)(max_ns / 86400000000000ull), s);
    return false;
  }
  return true;
}

int app_roster_ref(app_loader *L, int i, const char *path, const char *name) {
  const as_app *a = L->app;
  for (size_t r = 0; r < a->nrosters; r++)
    if (strcmp(a->rosters[r].name, name) == 0) return (int)r;
  char list[200];
  app_list(list, sizeof list, a->rosters[0].name, sizeof a->rosters[0], a->nrosters);
  app_node_err(L, i, path, "unknown roster '%s' (rosters are: %s)", name, list);
  return -1;
}

/* --- names of the enums -------------------------------------------------------- */

static const char *const type_names[] = {
#define AS__TN(NAME, name) #name,
    AS_ARG_TYPE_MAP(AS__TN)
#undef AS__TN
        NULL};
static const char *const risk_names[] = {
#define AS__RN(NAME, name) #name,
    AS_RISK_MAP(AS__RN)
#undef AS__RN
        NULL};

/* The index of node i's text among names[] (NULL-terminated), or -1 after
** reporting. */
static int one_of(app_loader *L, int i, const char *path, const char *const *names,
                  const char *what) {
  char list[128];
  keys_text(list, sizeof list, names);
  char exp[160];
  as_appendf(exp, sizeof exp, 0, "a %s (%s)", what, list);
  if (!scalar(L, i, path, exp)) return -1;
  const char *s = ay_text(L->d, i);
  for (int j = 0; names[j]; j++)
    if (strcmp(names[j], s) == 0) return j;
  app_node_err(L, i, path, "expected a %s (%s), found '%.48s'", what, list, s);
  return -1;
}

/* --- rosters ---------------------------------------------------------------------- */

void app_load_rosters(app_loader *L, int root) {
  const ay_doc *d = L->d;
  as_app *a = L->app;
  int m = app_get(L, root, "rosters");
  if (m < 0 || !app_check_map(L, m, "rosters", NULL, "roster", AS_APP_ROSTERS_MAX)) return;
  AY_PAIRS(d, m, k, v) {
    as_app_roster *r = &a->rosters[a->nrosters];
    if (!app_name(L, k, "rosters", r->name, sizeof r->name)) continue;
    L->roster_at[a->nrosters++] = k;
    char path[96];
    as_appendf(path, sizeof path, 0, "rosters.%s", r->name);
    if (!app_check_seq(L, v, path, "value", AS_APP_ROSTER_VALUES_MAX)) continue;
    if (ay_at(d, v)->n == 0) app_node_err(L, v, path, "a roster needs at least one value");
    AY_ITEMS(d, v, it) {
      char *val = r->values[r->nvalues];
      if (!app_textv(L, it, path, val, AS_APP_NAME_MAX)) continue;
      if (as_app_roster_has(a, (int)(r - a->rosters), val)) {
        app_node_err(L, it, path, "value '%s' listed twice", val);
        continue;
      }
      r->nvalues++;
    }
  }
}

/* --- fields ------------------------------------------------------------------------- */

/* Names the runtime owns: a field by one of these would let the generic
** patch tool write a decision (status, resolution, escalation) or clash with
** its own arguments (confidence, rationale) or the session's columns. */
static const char *const reserved_fields[] = {"id", "status", "version", "retry_count",
                                              "resolution", "escalation", "confidence",
                                              "rationale", NULL};

/* The default of field f at node i, checked against its type and roster. */
static void field_default(app_loader *L, as_app_field *f, int i, const char *path) {
  char p[128];
  as_appendf(p, sizeof p, 0, "%s.default", path);
  double num;
  unsigned u;
  bool b;
  switch (f->type) {
  case AS_ARG_STRING:
    if (!app_textv(L, i, p, f->default_value, sizeof f->default_value)) return;
    break;
  case AS_ARG_NUMBER:
    if (!app_number(L, i, p, -1e15, 1e15, &num)) return;
    break;
  case AS_ARG_INTEGER:
    if (!app_uint(L, i, p, 0, 999999999u, &u)) return;
    break;
  case AS_ARG_BOOLEAN:
    if (!app_bool(L, i, p, &b)) return;
    break;
  default:
    app_node_err(L, i, p, "only a string, number, integer or boolean field has a default");
    return;
  }
  if (f->type != AS_ARG_STRING &&
      !app_textv(L, i, p, f->default_value, sizeof f->default_value))
    return;
  if (f->roster >= 0 && !as_app_roster_has(L->app, f->roster, f->default_value)) {
    const as_app_roster *r = &L->app->rosters[f->roster];
    char list[160];
    app_list(list, sizeof list, r->values[0], sizeof r->values[0], r->nvalues);
    app_node_err(L, i, p, "'%s' is not in roster %s (values: %s)", f->default_value, r->name,
                 list);
    return;
  }
  f->has_default = true;
}

void app_load_fields(app_loader *L, int root) {
  static const char *const keys[] = {"type", "roster", "default", NULL};
  const ay_doc *d = L->d;
  as_app *a = L->app;
  int m = app_get(L, root, "fields");
  if (m < 0 || !app_check_map(L, m, "fields", NULL, "field", AS_APP_FIELDS_MAX)) return;
  AY_PAIRS(d, m, k, v) {
    as_app_field *f = &a->fields[a->nfields];
    if (!app_name(L, k, "fields", f->name, sizeof f->name)) continue;
    for (size_t j = 0; reserved_fields[j]; j++)
      if (strcmp(f->name, reserved_fields[j]) == 0)
        app_node_err(L, k, "fields", "field name '%s' is reserved: the runtime owns it", f->name);
    f->roster = -1;
    L->field_at[a->nfields++] = k;
    char path[96];
    as_appendf(path, sizeof path, 0, "fields.%s", f->name);
    if (!app_check_map(L, v, path, keys, "key", 8)) continue;
    int t = app_get(L, v, "type");
    if (t < 0) {
      app_node_err(L, v, path, "missing key 'type' (string, number, integer, boolean, object "
                               "or array)");
      continue;
    }
    char p[128];
    as_appendf(p, sizeof p, 0, "%s.type", path);
    int ti = one_of(L, t, p, type_names, "type");
    if (ti < 0) continue;
    f->type = (as_arg_type)ti;
    int r = app_get(L, v, "roster");
    if (r >= 0) {
      char rn[AS_APP_NAME_MAX];
      as_appendf(p, sizeof p, 0, "%s.roster", path);
      if (f->type != AS_ARG_STRING)
        app_node_err(L, r, p, "only a string field can have a roster (this one is %s)",
                     as_arg_type_name(f->type));
      else if (app_name(L, r, p, rn, sizeof rn))
        f->roster = app_roster_ref(L, r, p, rn);
    }
    int def = app_get(L, v, "default");
    if (def >= 0) field_default(L, f, def, path);
  }
}

/* --- escalation's roster -------------------------------------------------------------- */

void app_load_escalation_roster(app_loader *L, int root) {
  static const char *const keys[] = {"roster", "default_team", "legacy_tools", NULL};
  as_app *a = L->app;
  a->escalation_roster = -1;
  int m = app_get(L, root, "escalation");
  if (m < 0 || !app_check_map(L, m, "escalation", keys, "key", 8)) return;
  int r = app_get(L, m, "roster");
  char rn[AS_APP_NAME_MAX];
  if (r >= 0 && app_name(L, r, "escalation.roster", rn, sizeof rn))
    a->escalation_roster = app_roster_ref(L, r, "escalation.roster", rn);
  int t = app_get(L, m, "default_team");
  if (t < 0) return;
  if (!app_textv(L, t, "escalation.default_team", a->escalation_default,
                 sizeof a->escalation_default))
    return;
  if (r >= 0 && a->escalation_roster < 0) return; /* its roster was reported */
  if (a->escalation_roster < 0) {
    app_node_err(L, t, "escalation.default_team", "a default team needs escalation.roster to "
                                                  "check it against");
  } else if (!as_app_roster_has(a, a->escalation_roster, a->escalation_default)) {
    const as_app_roster *ro = &a->rosters[a->escalation_roster];
    char list[160];
    app_list(list, sizeof list, ro->values[0], sizeof ro->values[0], ro->nvalues);
    app_node_err(L, t, "escalation.default_team", "'%s' is not in roster %s (values: %s)",
                 a->escalation_default, ro->name, list);
  }
}

/* --- the runtime's tools --------------------------------------------------------------- */

static void arg_add(as_app_tool *t, const char *name, as_arg_type type, bool req, int roster) {
  as_app_arg *g = &t->args[t->nargs++];
  as_appendf(g->name, sizeof g->name, 0, "%s", name);
  g->type = type;
  g->required = req;
  g->roster = roster;
  g->injected = -1;
}

static as_app_tool *builtin(as_app *a, as_tool_kind kind, const char *desc) {
  as_app_tool *t = &a->tools[a->ntools++];
  const char *name = as_tool_kind_name(kind);
  as_appendf(t->server, sizeof t->server, 0, "%s", AS_APP_RUNTIME_SERVER);
  as_appendf(t->name, sizeof t->name, 0, "%s", name);
  as_appendf(t->qname, sizeof t->qname, 0, "%s:%s", AS_APP_RUNTIME_SERVER, name);
  as_appendf(t->description, sizeof t->description, 0, "%s", desc);
  t->kind = kind;
  t->risk = AS_RISK_LOW;
  return t;
}

void app_load_builtins(app_loader *L) {
  as_app *a = L->app;
  as_app_tool *t = builtin(a, AS_TOOLK_MARK_RESOLVED,
                           "Record the final decision that the session is resolved.");
  arg_add(t, "resolution", AS_ARG_STRING, true, -1);
  arg_add(t, "confidence", AS_ARG_NUMBER, true, -1);
  arg_add(t, "rationale", AS_ARG_STRING, true, -1);
  t = builtin(a, AS_TOOLK_MARK_ESCALATED,
              "Record the final decision that the session goes to a team of people.");
  arg_add(t, "team", AS_ARG_STRING, true, a->escalation_roster);
  arg_add(t, "confidence", AS_ARG_NUMBER, true, -1);
  arg_add(t, "rationale", AS_ARG_STRING, true, -1);
  t = builtin(a, AS_TOOLK_SUBMIT_HYPOTHESIS,
              "Record a hypothesis for the next agent; it decides nothing.");
  arg_add(t, "hypothesis", AS_ARG_STRING, true, -1);
  arg_add(t, "confidence", AS_ARG_NUMBER, true, -1);
  arg_add(t, "rationale", AS_ARG_STRING, true, -1);
  t = builtin(a, AS_TOOLK_PATCH,
              "Update some of the session's fields; it cannot change the session's status.");
  for (size_t i = 0; i < a->nfields; i++)
    arg_add(t, a->fields[i].name, a->fields[i].type, false, a->fields[i].roster);
  arg_add(t, "confidence", AS_ARG_NUMBER, false, -1);
  arg_add(t, "rationale", AS_ARG_STRING, false, -1);
}

/* --- tool servers ------------------------------------------------------------------------ */

static void load_arg(app_loader *L, as_app_tool *t, int k, int v, const char *path) {
  static const char *const keys[] = {"type", "required", "roster", NULL};
  as_app_arg *g = &t->args[t->nargs];
  if (!app_name(L, k, path, g->name, sizeof g->name)) return;
  t->nargs++;
  g->roster = -1;
  g->injected = -1;
  char p[192], q[224];
  as_appendf(p, sizeof p, 0, "%s.%s", path, g->name);
  if (!app_check_map(L, v, p, keys, "key", 8)) return;
  int ty = app_get(L, v, "type");
  if (ty < 0) {
    app_node_err(L, v, p, "missing key 'type' (string, number, integer, boolean, object or "
                          "array)");
    return;
  }
  as_appendf(q, sizeof q, 0, "%s.type", p);
  int ti = one_of(L, ty, q, type_names, "type");
  if (ti >= 0) g->type = (as_arg_type)ti;
  int rq = app_get(L, v, "required");
  as_appendf(q, sizeof q, 0, "%s.required", p);
  if (rq >= 0 && !app_bool(L, rq, q, &g->required)) g->required = false;
  int ro = app_get(L, v, "roster");
  if (ro >= 0) {
    char rn[AS_APP_NAME_MAX];
    as_appendf(q, sizeof q, 0, "%s.roster", p);
    if (ti >= 0 && g->type != AS_ARG_STRING)
      app_node_err(L, ro, q, "only a string argument can have a roster (this one is %s)",
                   as_arg_type_name(g->type));
    else if (app_name(L, ro, q, rn, sizeof rn))
      g->roster = app_roster_ref(L, ro, q, rn);
  }
}

static void load_tool(app_loader *L, const char *server, int k, int v, const char *path) {
  static const char *const keys[] = {"description", "risk", "args", NULL};
  as_app *a = L->app;
  if (a->ntools >= AS_APP_TOOLS_MAX) {
    app_node_err(L, k, path, "more than %u app tools (the cap is %u with the runtime's %u)",
                 AS_APP_TOOLS_MAX - AS_APP_BUILTIN_TOOLS, AS_APP_TOOLS_MAX,
                 AS_APP_BUILTIN_TOOLS);
    return;
  }
  as_app_tool *t = &a->tools[a->ntools];
  if (!app_name(L, k, path, t->name, sizeof t->name)) return;
  for (size_t j = 0; j < AS_APP_BUILTIN_TOOLS; j++)
    if (strcmp(t->name, a->tools[j].name) == 0) {
      app_node_err(L, k, path, "tool name '%s' is the runtime's (%s): pick another", t->name,
                   a->tools[j].qname);
      memset(t, 0, sizeof *t);
      return;
    }
  a->ntools++;
  as_appendf(t->server, sizeof t->server, 0, "%s", server);
  as_appendf(t->qname, sizeof t->qname, 0, "%s:%s", server, t->name);
  t->kind = AS_TOOLK_APP;
  t->line = ay_at(L->d, k)->line;
  char p[160], q[192];
  as_appendf(p, sizeof p, 0, "%s.%s", path, t->name);
  if (!app_check_map(L, v, p, keys, "key", 8)) return;
  int de = app_get(L, v, "description");
  as_appendf(q, sizeof q, 0, "%s.description", p);
  if (de < 0)
    app_node_err(L, v, p, "missing key 'description' (what the tool does, for the model)");
  else if (app_textv(L, de, q, t->description, sizeof t->description) && !t->description[0])
    app_node_err(L, de, q, "an empty description");
  int ri = app_get(L, v, "risk");
  as_appendf(q, sizeof q, 0, "%s.risk", p);
  if (ri < 0) {
    app_node_err(L, v, p, "missing key 'risk' (low, medium or high)");
  } else {
    int r = one_of(L, ri, q, risk_names, "risk");
    if (r >= 0) t->risk = (as_risk)r;
  }
  int ar = app_get(L, v, "args");
  as_appendf(q, sizeof q, 0, "%s.args", p);
  if (ar < 0 || ay_is_null(L->d, ar) ||
      !app_check_map(L, ar, q, NULL, "argument", AS_APP_ARGS_MAX))
    return;
  AY_PAIRS(L->d, ar, ak, av) load_arg(L, t, ak, av, q);
}

void app_load_servers(app_loader *L, int root) {
  static const char *const keys[] = {"tools", NULL};
  const ay_doc *d = L->d;
  int m = app_get(L, root, "servers");
  if (m < 0 || !app_check_map(L, m, "servers", NULL, "server", AS_APP_TOOLS_MAX)) return;
  AY_PAIRS(d, m, k, v) {
    char name[AS_APP_NAME_MAX], path[96];
    if (!app_name(L, k, "servers", name, sizeof name)) continue;
    if (strcmp(name, AS_APP_RUNTIME_SERVER) == 0) {
      app_node_err(L, k, "servers", "server '%s' is built in: its tools (mark_resolved, "
                                    "mark_escalated, submit_hypothesis, patch_session) need "
                                    "no declaring", name);
      continue;
    }
    as_appendf(path, sizeof path, 0, "servers.%s", name);
    if (!app_check_map(L, v, path, keys, "key", 4)) continue;
    int tools = app_get(L, v, "tools");
    as_appendf(path, sizeof path, 0, "servers.%s.tools", name);
    if (tools < 0) {
      app_node_err(L, v, path, "missing (a server declares its tools)");
      continue;
    }
    if (!app_check_map(L, tools, path, NULL, "tool", AS_APP_TOOLS_MAX)) continue;
    if (ay_at(d, tools)->n == 0) app_node_err(L, tools, path, "a server needs a tool");
    AY_PAIRS(d, tools, tk, tv) load_tool(L, name, tk, tv, path);
  }
}

/* --- retry and the run's limits ------------------------------------------------------------- */

void app_load_budget(app_loader *L, int root) {
  static const char *const keys[] = {"daily_limit", "cycle_estimate", NULL};
  as_app *a = L->app;
  int m = app_get(L, root, "budget");
  if (m < 0 || !app_check_map(L, m, "budget", keys, "key", 8)) return;
  int v = app_get(L, m, "daily_limit");
  if (v >= 0) app_money(L, v, "budget.daily_limit", 0, &a->daily_limit_micros);
  v = app_get(L, m, "cycle_estimate");
  if (v >= 0) app_money(L, v, "budget.cycle_estimate", 1, &a->cycle_estimate_micros);
}

void app_load_retry(app_loader *L, int root) {
  static const char *const keys[] = {"max_retries", "min_confidence", "transient", NULL};
  as_retry_settings *r = &L->app->retry;
  int m = app_get(L, root, "retry");
  if (m < 0 || !app_check_map(L, m, "retry", keys, "key", 8)) return;
  /* A bad value is reported and leaves the default. */
  int v = app_get(L, m, "max_retries");
  if (v >= 0) app_uint(L, v, "retry.max_retries", 0, 100, &r->max_retries);
  v = app_get(L, m, "min_confidence");
  if (v >= 0) app_number(L, v, "retry.min_confidence", 0, 1, &r->min_confidence);
  v = app_get(L, m, "transient");
  if (v >= 0) app_bool(L, v, "retry.transient", &r->transient);
}

/* --- the LLM provider ------------------------------------------------------------------ */

/* "1B/30s": fewer than N bytes in any window this long is a timeout. */
static bool low_speed(app_loader *L, int i, as_app_llm *m) {
  static const char exp[] = "a low-speed limit: bytes and a window (\"1B/30s\", \"100B/10s\")";
  if (!scalar(L, i, "llm.low_speed", exp)) return false;
  const char *s = ay_text(L->d, i);
  size_t digits = strspn(s, "0123456789");
  uint64_t b = 0;
  bool ok = digits > 0 && digits <= 9;
  for (size_t j = 0; ok && j < digits; j++) b = b * 10 + (uint64_t)(s[j] - '0');
  ok = ok && b > 0 && strncmp(s + digits, "B/", 2) == 0 &&
       duration_of(s + digits + 2, AS_LLM_TIMEOUT_MAX_NS, &m->low_speed_ns);
  if (!ok) {
    app_node_err(L, i, "llm.low_speed", "expected %s, a window of at most 600s, found '%.48s'",
                 exp, s);
    return false;
  }
  m->low_speed_bytes = b;
  return true;
}

/* An environment variable's name: [A-Za-z_][A-Za-z0-9_]*. */
static bool env_name(app_loader *L, int i, char *dst, size_t cap) {
  if (!app_textv(L, i, "llm.api_key_env", dst, cap)) return false;
  bool ok = dst[0] && !(dst[0] >= '0' && dst[0] <= '9');
  for (const char *c = dst; ok && *c; c++)
    ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
         *c == '_';
  if (!ok)
    app_node_err(L, i, "llm.api_key_env",
                 "expected the name of an environment variable (letters, digits and '_', not "
                 "a digit first; the key itself never goes in app.yaml), found '%.48s'",
                 dst);
  return ok;
}

static void base_url(app_loader *L, int i, as_app_llm *m) {
  if (!app_textv(L, i, "llm.base_url", m->base_url, sizeof m->base_url)) return;
  const char *u = m->base_url;
  size_t scheme = strncmp(u, "http://", 7) == 0 ? 7 : strncmp(u, "https://", 8) == 0 ? 8 : 0;
  if (!scheme || !u[scheme] || strchr(u, ' '))
    app_node_err(L, i, "llm.base_url",
                 "expected an http:// or https:// URL with a host and no space (there is no "
                 "default endpoint), found '%.64s'",
                 u);
}

void app_load_llm(app_loader *L, int root) {
  static const char *const keys[] = {"provider", "base_url",   "model",   "api_key_env",
                                     "stream",   "structured", "timeout", "low_speed", NULL};
  static const char *const providers[] = {"openai", "ollama", NULL};
  as_app_llm *m = &L->app->llm;
  int s = app_get(L, root, "llm");
  if (s < 0 || !app_check_map(L, s, "llm", keys, "key", 8)) return;
  m->present = true;
  int v = app_get(L, s, "provider");
  if (v < 0) app_node_err(L, s, "llm", "missing key 'provider' (openai or ollama)");
  else {
    int k = one_of(L, v, "llm.provider", providers, "provider");
    if (k >= 0) m->provider = k == 0 ? AS_WIRE_OPENAI : AS_WIRE_OLLAMA;
  }
  v = app_get(L, s, "base_url");
  if (v < 0) app_node_err(L, s, "llm", "missing key 'base_url' (there is no default endpoint)");
  else base_url(L, v, m);
  v = app_get(L, s, "model");
  if (v < 0) app_node_err(L, s, "llm", "missing key 'model' (the model's name, priced by it)");
  else app_textv(L, v, "llm.model", m->model, sizeof m->model);
  v = app_get(L, s, "api_key_env");
  if (v >= 0) env_name(L, v, m->api_key_env, sizeof m->api_key_env);
  v = app_get(L, s, "stream");
  if (v >= 0) app_bool(L, v, "llm.stream", &m->stream);
  v = app_get(L, s, "structured");
  if (v >= 0) app_bool(L, v, "llm.structured", &m->structured);
  v = app_get(L, s, "timeout");
  if (v >= 0) app_duration(L, v, "llm.timeout", AS_LLM_TIMEOUT_MAX_NS, &m->timeout_ns);
  v = app_get(L, s, "low_speed");
  if (v >= 0) low_speed(L, v, m);
}

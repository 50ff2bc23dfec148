/*
** app.c -- an app from its directory (app.h): reading app.yaml and the
** prompt files, running the loader's sections in order, and what the turn
** loop asks of a loaded app (tools by name, agents, rosters, the JSON Schema
** a model sees).
*/
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agentsim/app.h"
#include "agentsim/budget.h"
#include "agentsim/fmt.h"
#include "agentsim/seam.h"
#include "app_internal.h"

static const char *const risk_names[] = {
#define AS__RN(NAME, name) #name,
    AS_RISK_MAP(AS__RN)
#undef AS__RN
};
static const char *const type_names[] = {
#define AS__TN(NAME, name) #name,
    AS_ARG_TYPE_MAP(AS__TN)
#undef AS__TN
};
static const char *const kind_names[] = {
#define AS__KN(NAME, name) #name,
    AS_TOOL_KIND_MAP(AS__KN)
#undef AS__KN
};

const char *as_risk_name(as_risk r) { return (unsigned)r < AS__RISK_COUNT ? risk_names[r] : "?"; }
const char *as_arg_type_name(as_arg_type t) {
  return (unsigned)t < AS__ARG_COUNT ? type_names[t] : "?";
}
const char *as_tool_kind_name(as_tool_kind k) {
  return (unsigned)k < AS__TOOLK_COUNT ? kind_names[k] : "?";
}

/* --- files ------------------------------------------------------------------------ */

int as__app_read_file(const char *path, size_t cap, char **out, size_t *len, int *err) {
  *out = NULL;
  *len = 0;
  *err = 0;
  FILE *f = fopen(path, "rb");
  if (!f) {
    *err = errno;
    if (errno == ENOMEM) return AS_NOMEM;
    return errno == ENOENT || errno == ENOTDIR ? AS_NOTFOUND : AS_IO;
  }
  int rc = AS_OK;
  char *buf = as_malloc(cap + 2);
  size_t n = 0;
  if (!buf) {
    rc = AS_NOMEM;
    goto out;
  }
  /* One byte past the cap tells a file at the cap from a longer one. */
  while (n <= cap) {
    size_t got = fread(buf + n, 1, cap + 1 - n, f);
    if (got == 0) break;
    n += got;
  }
  if (ferror(f)) {
    *err = errno ? errno : EIO;
    rc = AS_IO;
  } else if (n > cap) {
    rc = AS_TOOBIG;
  }
out:
  if (fclose(f) != 0 && rc == AS_OK) {
    *err = errno;
    rc = AS_IO;
  }
  if (rc != AS_OK) {
    as_free(buf);
    return rc;
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return AS_OK;
}

/* --- loading ------------------------------------------------------------------------- */

static const char *const top_keys[] = {"name",    "entry",  "approval_timeout", "max_agent_runs",
                                       "max_tool_calls", "rosters", "fields", "servers",
                                       "inject",  "gate",   "retry",  "escalation",
                                       "agents",  "budget", "llm", NULL};

#define APP_TIMEOUT_MAX_NS (30ull * 86400ull * 1000000000ull)

static void defaults(as_app *a) {
  a->entry = -1;
  a->escalation_roster = -1;
  a->gate.env_field = -1;
  a->gate.env_roster = -1;
  a->gate.gated_risk = AS_RISK_HIGH;
  a->gate.min_confidence = 0;
  a->retry.max_retries = 2;
  a->retry.min_confidence = 0.3;
  a->retry.transient = true;
  a->approval_timeout_ns = 30ull * 60ull * 1000000000ull;
  a->max_agent_runs = 8;
  a->max_tool_calls = 32;
  a->daily_limit_micros = 5000000;                       /* the seed's $5.00 */
  a->cycle_estimate_micros = AS_CYCLE_ESTIMATE_DEFAULT; /* and its $0.15 */
}

static void load_top(app_loader *L, int root) {
  as_app *a = L->app;
  int v = app_get(L, root, "name");
  if (v < 0)
    app_node_err(L, root, "", "missing key 'name' (the app's name)");
  else
    app_name(L, v, "name", a->name, sizeof a->name);
  v = app_get(L, root, "approval_timeout");
  if (v >= 0) app_duration(L, v, "approval_timeout", APP_TIMEOUT_MAX_NS, &a->approval_timeout_ns);
  v = app_get(L, root, "max_agent_runs");
  if (v >= 0) app_uint(L, v, "max_agent_runs", 1, 256, &a->max_agent_runs);
  v = app_get(L, root, "max_tool_calls");
  if (v >= 0) app_uint(L, v, "max_tool_calls", 1, 1024, &a->max_tool_calls);
}

static void load_entry(app_loader *L, int root) {
  as_app *a = L->app;
  int v = app_get(L, root, "entry");
  char name[AS_APP_NAME_MAX], list[160];
  if (v < 0) {
    app_node_err(L, root, "", "missing key 'entry' (the agent a run starts with)");
    return;
  }
  if (!app_name(L, v, "entry", name, sizeof name)) return;
  a->entry = as_app_agent_find(a, name);
  if (a->entry >= 0) return;
  app_list(list, sizeof list, a->agents[0].name, sizeof a->agents[0], a->nagents);
  app_node_err(L, v, "entry", "names unknown agent '%s' (agents are: %s)", name, list);
}

/* Every section, in the order their references need. */
static void load_all(app_loader *L, const char *dir) {
  int root = L->d->root;
  if (root < 0) {
    app_err(&L->e, 1, 1, "an empty file: expected a mapping with name, entry and agents");
    return;
  }
  if (!app_check_map(L, root, "", top_keys, "key", 32)) return;
  load_top(L, root);
  app_load_rosters(L, root);
  app_load_fields(L, root);
  app_load_escalation_roster(L, root);
  app_load_builtins(L);
  app_load_servers(L, root);
  app_load_legacy(L, root);
  app_load_inject(L, root);
  app_load_gate(L, root);
  app_load_retry(L, root);
  app_load_budget(L, root);
  app_load_llm(L, root);
  app_load_agents(L, root, dir);
  load_entry(L, root);
}

int as_app_load_text(const char *text, size_t len, const char *file, const char *dir,
                     unsigned flags, as_app **out, as_app_diag *diag) {
  if (out) *out = NULL;
  if (!text || !dir || !out || !diag) return AS_INVAL;
  memset(diag, 0, sizeof *diag);
  app_loader *L = as_malloc(sizeof *L);
  if (!L) return AS_NOMEM;
  memset(L, 0, sizeof *L);
  L->e.diag = diag;
  L->e.file = file ? file : "app.yaml";
  L->flags = flags;
  if (len > AS_APP_FILE_MAX) {
    app_err(&L->e, 0, 0, "%zu bytes: the cap of app.yaml is %u", len, AS_APP_FILE_MAX);
    as_free(L);
    return AS_TOOBIG;
  }
  if (strlen(dir) >= AS_APP_PATH_MAX) {
    app_err(&L->e, 0, 0, "the app's directory path is longer than %d bytes", AS_APP_PATH_MAX - 1);
    as_free(L);
    return AS_INVAL;
  }
  ay_doc doc;
  as_app *a = NULL;
  int rc = ay_parse(text, len, &doc, &L->e);
  if (rc != AS_OK) goto out;
  a = as_malloc(sizeof *a);
  if (!a) {
    rc = AS_NOMEM;
    goto out;
  }
  memset(a, 0, sizeof *a);
  defaults(a);
  as_appendf(a->dir, sizeof a->dir, 0, "%s", dir);
  L->d = &doc;
  L->app = a;
  load_all(L, dir);
  rc = L->rc;
  if (rc == AS_OK && diag->n > 0) rc = AS_PARSE; /* diag->more only past AS_APP_DIAG_MAX items */
out:
  ay_free(&doc);
  app_errs_sort(&L->e);
  as_free(L);
  if (rc != AS_OK) {
    as_app_free(a);
    return rc;
  }
  *out = a;
  return AS_OK;
}

int as_app_load(const char *dir, as_app **out, as_app_diag *diag) {
  if (out) *out = NULL;
  if (!dir || !out || !diag) return AS_INVAL;
  memset(diag, 0, sizeof *diag);
  size_t dl = strlen(dir);
  if (dl >= AS_APP_PATH_MAX) {
    app_errs e0 = {.diag = diag, .file = "app.yaml"};
    app_err(&e0, 0, 0, "the app's directory path is longer than %d bytes", AS_APP_PATH_MAX - 1);
    return AS_INVAL;
  }
  /* dir, a '/' and "app.yaml" fit. */
  char path[AS_APP_PATH_MAX + 16];
  snprintf(path, sizeof path, "%s%sapp.yaml", dir, dl && dir[dl - 1] == '/' ? "" : "/");
  app_errs e = {.diag = diag, .file = path};
  char *text = NULL;
  size_t len = 0;
  int err = 0;
  int rc = as__app_read_file(path, AS_APP_FILE_MAX, &text, &len, &err);
  if (rc == AS_TOOBIG) {
    app_err(&e, 0, 0, "larger than %u bytes: the cap of app.yaml", AS_APP_FILE_MAX);
    return rc;
  }
  if (rc != AS_OK) {
    if (rc != AS_NOMEM)
      app_err(&e, 0, 0, "cannot read: %s", err ? strerror(err) : as_status_msg(rc));
    return rc;
  }
  rc = as_app_load_text(text, len, path, dir, 0, out, diag);
  as_free(text);
  return rc;
}

void as_app_free(as_app *app) {
  if (!app) return;
  for (size_t i = 0; i < AS_APP_AGENTS_MAX; i++) as_free(app->agents[i].prompt);
  as_free(app);
}

/* --- queries ---------------------------------------------------------------------------- */

const as_app_tool *as_app_tool_find(const as_app *app, const char *name) {
  if (!app || !name) return NULL;
  if (strchr(name, ':')) {
    for (size_t t = 0; t < app->ntools; t++)
      if (strcmp(app->tools[t].qname, name) == 0) return &app->tools[t];
    return NULL;
  }
  const as_app_tool *found = NULL;
  for (size_t t = 0; t < app->ntools; t++)
    if (strcmp(app->tools[t].name, name) == 0) {
      if (found) return NULL; /* ambiguous */
      found = &app->tools[t];
    }
  return found;
}

int as_app_agent_find(const as_app *app, const char *name) {
  if (!app || !name) return -1;
  for (size_t i = 0; i < app->nagents; i++)
    if (strcmp(app->agents[i].name, name) == 0) return (int)i;
  return -1;
}

bool as_app_roster_has(const as_app *app, int roster, const char *value) {
  if (!app || !value || roster < 0 || (size_t)roster >= app->nrosters) return false;
  const as_app_roster *r = &app->rosters[roster];
  for (size_t i = 0; i < r->nvalues; i++)
    if (strcmp(r->values[i], value) == 0) return true;
  return false;
}

/* --- the schema a model sees ----------------------------------------------------------------- */

typedef struct jbuf {
  char *p;
  size_t len;
} jbuf;

/* Append s; with no buffer yet, only count (the first of two passes). The
** second pass appends exactly what the first counted (schema() depends on
** nothing else), into the len + 1 bytes it counted. */
static void jraw(jbuf *b, const char *s) {
  size_t n = strlen(s);
  if (b->p) memcpy(b->p + b->len, s, n + 1);
  b->len += n;
}

/* A JSON string of s (names and roster values: no control characters). */
static void jstr(jbuf *b, const char *s) {
  char one[8];
  jraw(b, "\"");
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\') {
      one[0] = '\\';
      one[1] = (char)*c;
      one[2] = '\0';
    } else if (*c < 0x20) {
      snprintf(one, sizeof one, "\\u%04x", *c);
    } else {
      one[0] = (char)*c;
      one[1] = '\0';
    }
    jraw(b, one);
  }
  jraw(b, "\"");
}

static void schema(jbuf *b, const as_app *app, const as_app_tool *t) {
  jraw(b, "{\"type\":\"object\",\"properties\":{");
  bool first = true;
  for (size_t i = 0; i < t->nargs; i++) {
    const as_app_arg *g = &t->args[i];
    if (g->injected >= 0) continue;
    jraw(b, first ? "" : ",");
    first = false;
    jstr(b, g->name);
    jraw(b, ":{\"type\":");
    jstr(b, as_arg_type_name(g->type));
    if (g->roster >= 0 && (size_t)g->roster < app->nrosters) {
      const as_app_roster *r = &app->rosters[g->roster];
      jraw(b, ",\"enum\":[");
      for (size_t v = 0; v < r->nvalues; v++) {
        jraw(b, v ? "," : "");
        jstr(b, r->values[v]);
      }
      jraw(b, "]");
    }
    jraw(b, "}");
  }
  jraw(b, "},\"required\":[");
  first = true;
  for (size_t i = 0; i < t->nargs; i++) {
    const as_app_arg *g = &t->args[i];
    if (g->injected >= 0 || !g->required) continue;
    jraw(b, first ? "" : ",");
    first = false;
    jstr(b, g->name);
  }
  jraw(b, "],\"additionalProperties\":false}");
}

int as_app_tool_schema(const as_app *app, const as_app_tool *t, char **out) {
  if (out) *out = NULL;
  if (!app || !t || !out || t->nargs > AS_APP_TOOL_ARGS_MAX) return AS_INVAL;
  jbuf b = {.p = NULL, .len = 0};
  schema(&b, app, t); /* count */
  size_t cap = b.len + 1;
  b.len = 0;
  b.p = as_malloc(cap);
  if (!b.p) return AS_NOMEM;
  b.p[0] = '\0';
  schema(&b, app, t);
  *out = b.p;
  return AS_OK;
}

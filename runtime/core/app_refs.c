/*
** app_refs.c -- the sections of app.yaml that refer to what others declare:
** legacy escalate tools and agents' tools (a tool server's tool), injected
** arguments (a session field, and the tools' arguments they fill), the
** gate (a field, its roster's values), agents (prompt files, tools, routes
** to other agents) and the entry agent.
*/
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agentsim/fmt.h"
#include "agentsim/seam.h"
#include "app_internal.h"

/* --- tool references ------------------------------------------------------------ */

int app_tool_ref(app_loader *L, int i, const char *path) {
  const as_app *a = L->app;
  char ref[AS_TOOL_NAME_MAX], list[200];
  if (!app_textv(L, i, path, ref, sizeof ref)) return -1;
  const char *colon = strchr(ref, ':');
  if (colon) {
    for (size_t t = 0; t < a->ntools; t++)
      if (strcmp(a->tools[t].qname, ref) == 0) return (int)t;
    size_t slen = (size_t)(colon - ref), len = 0, has = 0;
    list[0] = '\0';
    for (size_t t = 0; t < a->ntools; t++)
      if (strlen(a->tools[t].server) == slen && strncmp(a->tools[t].server, ref, slen) == 0) {
        len = as_appendf(list, sizeof list, len, "%s%s", has ? ", " : "", a->tools[t].name);
        has++;
      }
    if (has)
      app_node_err(L, i, path, "unknown tool '%s' (server %.*s has: %s)", ref, (int)slen, ref,
                   list);
    else
      app_node_err(L, i, path, "unknown tool '%s': no server '%.*s'", ref, (int)slen, ref);
    return -1;
  }
  int found = -1;
  size_t n = 0, len = 0;
  list[0] = '\0';
  for (size_t t = 0; t < a->ntools; t++)
    if (strcmp(a->tools[t].name, ref) == 0) {
      len = as_appendf(list, sizeof list, len, "%s%s", n ? ", " : "", a->tools[t].qname);
      if (n++ == 0) found = (int)t;
    }
  if (n == 1) return found;
  if (n == 0)
    app_node_err(L, i, path, "unknown tool '%s': no server has a tool of that name", ref);
  else
    app_node_err(L, i, path, "bare tool name '%s' is ambiguous (%s): write the qualified form "
                             "SERVER:%s", ref, list, ref);
  return -1;
}

/* --- legacy escalate tools ---------------------------------------------------------- */

void app_load_legacy(app_loader *L, int root) {
  const char *path = "escalation.legacy_tools";
  as_app *a = L->app;
  int m = app_get(L, root, "escalation");
  int s = app_get(L, m, "legacy_tools");
  if (s < 0 || !app_check_seq(L, s, path, "tool", AS_APP_LEGACY_MAX)) return;
  AY_ITEMS(L->d, s, it) {
    int t = app_tool_ref(L, it, path);
    if (t < 0) continue;
    as_app_tool *tool = &a->tools[t];
    if (tool->kind != AS_TOOLK_APP) {
      app_node_err(L, it, path, "%s is the runtime's own: only an app tool is a legacy "
                                "escalate tool", tool->qname);
      continue;
    }
    if (tool->legacy_escalate) {
      app_node_err(L, it, path, "%s listed twice", tool->qname);
      continue;
    }
    tool->legacy_escalate = true;
    a->legacy_escalate[a->nlegacy++] = tool->qname;
  }
}

/* --- injected arguments --------------------------------------------------------------- */

/* What session field path p names into j; false after reporting at node i. */
static bool inject_path(app_loader *L, int i, const char *path, as_app_inject *j) {
  static const char *const plain[] = {
#define AS__IS(NAME, name) #name,
      AS_INJECT_SRC_MAP(AS__IS)
#undef AS__IS
  };
  const as_app *a = L->app;
  j->field = -1;
  for (int s = 0; s < AS__INJECT_COUNT; s++) {
    if (s == AS_INJECT_EXTRA) continue;
    if (strcmp(j->path, plain[s]) == 0) {
      j->src = (as_inject_src)s;
      return true;
    }
  }
  if (strncmp(j->path, "extra.", 6) == 0)
    for (size_t f = 0; f < a->nfields; f++)
      if (strcmp(j->path + 6, a->fields[f].name) == 0) {
        j->src = AS_INJECT_EXTRA;
        j->field = (int)f;
        return true;
      }
  char list[160];
  app_list(list, sizeof list, a->fields[0].name, sizeof a->fields[0], a->nfields);
  app_node_err(L, i, path, "'%s' names no session field (expected id, status, retry_count or "
                           "extra.FIELD; fields are: %s)", j->path, list);
  return false;
}

/* The type a source fills an argument with. */
static as_arg_type inject_type(const as_app *a, const as_app_inject *j) {
  if (j->src == AS_INJECT_RETRY_COUNT) return AS_ARG_INTEGER;
  if (j->src == AS_INJECT_EXTRA) return a->fields[j->field].type;
  return AS_ARG_STRING;
}

/* Mark every tool argument injection j fills; report a type it cannot fill
** and an entry that fills nothing. */
static void inject_mark(app_loader *L, size_t idx, int at, const char *path) {
  as_app *a = L->app;
  const as_app_inject *j = &a->inject[idx];
  as_arg_type src = inject_type(a, j);
  size_t hits = 0;
  for (size_t t = 0; t < a->ntools; t++) {
    as_app_tool *tool = &a->tools[t];
    for (size_t g = 0; g < tool->nargs; g++) {
      as_app_arg *arg = &tool->args[g];
      if (strcmp(arg->name, j->arg) != 0) continue;
      hits++;
      arg->injected = (int)idx;
      if (arg->type != src && !(arg->type == AS_ARG_NUMBER && src == AS_ARG_INTEGER))
        app_node_err(L, at, path, "fills %s's argument %s (%s) from %s (%s)", tool->qname,
                     arg->name, as_arg_type_name(arg->type), j->path, as_arg_type_name(src));
    }
  }
  if (hits == 0) app_node_err(L, at, path, "no tool has an argument '%s'", j->arg);
}

void app_load_inject(app_loader *L, int root) {
  as_app *a = L->app;
  int m = app_get(L, root, "inject");
  if (m < 0 || !app_check_map(L, m, "inject", NULL, "argument", AS_APP_INJECT_MAX)) return;
  AY_PAIRS(L->d, m, k, v) {
    as_app_inject *j = &a->inject[a->ninject];
    if (!app_name(L, k, "inject", j->arg, sizeof j->arg)) continue;
    char path[96];
    as_appendf(path, sizeof path, 0, "inject.%s", j->arg);
    if (!app_textv(L, v, path, j->path, sizeof j->path) || !inject_path(L, v, path, j)) {
      memset(j, 0, sizeof *j);
      continue;
    }
    L->inject_at[a->ninject] = v;
    inject_mark(L, a->ninject, v, path);
    a->ninject++;
  }
}

/* --- the gate ----------------------------------------------------------------------------- */

void app_load_gate(app_loader *L, int root) {
  static const char *const keys[] = {"environment_field", "production", "gated_risk",
                                     "min_confidence", NULL};
  static const char *const risks[] = {
#define AS__GR(NAME, name) #name,
      AS_RISK_MAP(AS__GR)
#undef AS__GR
          NULL};
  as_app *a = L->app;
  as_gate_policy *g = &a->gate;
  int m = app_get(L, root, "gate");
  if (m < 0 || !app_check_map(L, m, "gate", keys, "key", 8)) return;
  int ef = app_get(L, m, "environment_field");
  bool env_ok = false;
  if (ef >= 0) {
    char name[AS_APP_NAME_MAX], list[160];
    if (app_name(L, ef, "gate.environment_field", name, sizeof name)) {
      int f = -1;
      for (size_t i = 0; i < a->nfields; i++)
        if (strcmp(a->fields[i].name, name) == 0) f = (int)i;
      app_list(list, sizeof list, a->fields[0].name, sizeof a->fields[0], a->nfields);
      if (f < 0) {
        app_node_err(L, ef, "gate.environment_field", "unknown field '%s' (fields are: %s)",
                     name, list);
      } else if (a->fields[f].roster < 0) {
        app_node_err(L, ef, "gate.environment_field", "field '%s' has no roster: the gate "
                                                      "checks production against one", name);
      } else {
        g->env_field = f;
        g->env_roster = a->fields[f].roster;
        env_ok = true;
      }
    }
  }
  int pr = app_get(L, m, "production");
  if (pr >= 0 && app_check_seq(L, pr, "gate.production", "environment",
                               AS_APP_ROSTER_VALUES_MAX)) {
    if (ef < 0)
      app_node_err(L, pr, "gate.production", "production environments need "
                                             "gate.environment_field (the field that holds one)");
    AY_ITEMS(L->d, pr, it) {
      char *val = g->production[g->nproduction];
      if (!app_textv(L, it, "gate.production", val, AS_APP_NAME_MAX) || !env_ok) continue;
      const as_app_roster *r = &a->rosters[g->env_roster];
      bool dup = false;
      for (size_t i = 0; i < g->nproduction; i++) dup |= strcmp(g->production[i], val) == 0;
      if (dup) {
        app_node_err(L, it, "gate.production", "'%s' listed twice", val);
      } else if (!as_app_roster_has(a, g->env_roster, val)) {
        char list[160];
        app_list(list, sizeof list, r->values[0], sizeof r->values[0], r->nvalues);
        app_node_err(L, it, "gate.production", "'%s' is not in roster %s (values: %s)", val,
                     r->name, list);
      } else {
        g->nproduction++;
      }
    }
  }
  int gr = app_get(L, m, "gated_risk");
  if (gr >= 0) {
    char w[64];
    int r = -1;
    if (ay_at(L->d, gr)->kind == AY_SCALAR && !ay_at(L->d, gr)->bad)
      for (int i = 0; risks[i]; i++)
        if (strcmp(ay_text(L->d, gr), risks[i]) == 0) r = i;
    if (r >= 0)
      g->gated_risk = (as_risk)r;
    else if (!ay_at(L->d, gr)->bad)
      app_node_err(L, gr, "gate.gated_risk", "expected a risk (low, medium, high), found %s",
                   app_what(L, gr, w, sizeof w));
  }
  int mc = app_get(L, m, "min_confidence");
  if (mc >= 0) app_number(L, mc, "gate.min_confidence", 0, 1, &g->min_confidence);
}

/* --- agents ----------------------------------------------------------------------------------- */

/* A prompt path: relative to the app's directory and inside it. */
static bool prompt_path_ok(app_loader *L, int i, const char *path, const char *p) {
  if (!p[0]) {
    app_node_err(L, i, path, "an empty path (expected a file under the app's directory, "
                             "such as prompts/NAME.md)");
    return false;
  }
  if (p[0] == '/') {
    app_node_err(L, i, path, "'%s' is absolute: give a path relative to the app's directory",
                 p);
    return false;
  }
  for (const char *c = p; *c;) {
    size_t n = strcspn(c, "/");
    if (n == 2 && c[0] == '.' && c[1] == '.') {
      app_node_err(L, i, path, "'%s' leaves the app's directory ('..'): give a path inside it",
                   p);
      return false;
    }
    c += n;
    if (*c == '/') c++;
  }
  return true;
}

/* Read the prompt file dir/rel into the agent. */
static void prompt_read(app_loader *L, int i, const char *path, const char *dir,
                        as_app_agent *ag) {
  /* It fits: dir is shorter than AS_APP_PATH_MAX (as_app_load_text refuses
  ** a longer one), and so is prompt_path (its buffer). */
  char full[AS_APP_PATH_MAX * 2 + 2];
  snprintf(full, sizeof full, "%s/%s", dir, ag->prompt_path);
  size_t len = 0;
  int err = 0;
  int rc = as__app_read_file(full, AS_APP_PROMPT_MAX, &ag->prompt, &len, &err);
  if (rc == AS_NOMEM) {
    L->rc = AS_NOMEM;
  } else if (rc == AS_TOOBIG) {
    app_node_err(L, i, path, "prompt file '%s' is larger than %u bytes (the cap)",
                 ag->prompt_path, AS_APP_PROMPT_MAX);
  } else if (rc != AS_OK) {
    app_node_err(L, i, path, "cannot read prompt file '%s': %s", ag->prompt_path,
                 err ? strerror(err) : as_status_msg(rc));
  } else if (memchr(ag->prompt, '\0', len)) {
    app_node_err(L, i, path, "prompt file '%s' holds a NUL byte", ag->prompt_path);
  } else if (len == 0) {
    app_node_err(L, i, path, "prompt file '%s' is empty", ag->prompt_path);
  }
}

static bool signal_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n >= AS_SIGNAL_MAX) return false;
  return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* A route target: an agent's index, AS_APP_END, or -2 after reporting. */
static AS_WUR int route_target(app_loader *L, int i, const char *path, const char *signal) {
  const as_app *a = L->app;
  char name[AS_APP_NAME_MAX];
  if (!app_name(L, i, path, name, sizeof name)) return -2;
  if (strcmp(name, "end") == 0) return AS_APP_END;
  int ag = as_app_agent_find(a, name);
  if (ag >= 0) return ag;
  char list[160];
  app_list(list, sizeof list, a->agents[0].name, sizeof a->agents[0], a->nagents);
  app_node_err(L, i, path, "route '%s' goes to unknown agent '%s' (agents are: %s; 'end' ends "
                           "the run)", signal, name, list);
  return -2;
}

static void load_routes(app_loader *L, as_app_agent *ag, int at, int v, const char *apath) {
  const ay_doc *d = L->d;
  char path[128];
  as_appendf(path, sizeof path, 0, "%s.routes", apath);
  bool has_default = false;
  if (v < 0) {
    app_node_err(L, at, apath, "missing key 'routes' (each signal's next agent, and a "
                               "required 'default: AGENT' or 'default: end')");
    return;
  }
  if (!app_check_map(L, v, path, NULL, "signal", AS_APP_ROUTES_MAX + 1)) return;
  AY_PAIRS(d, v, k, t) {
    if (ay_at(d, k)->kind != AY_SCALAR || ay_at(d, k)->bad) continue; /* reported */
    const char *sig = ay_text(d, k);
    bool is_default = strcmp(sig, "default") == 0;
    if (!is_default && !signal_ok(sig)) {
      app_node_err(L, k, path, "'%.64s' is not a signal (1 to %d of a-z, 0-9, '_' and '-')", sig,
                   AS_SIGNAL_MAX - 1);
      continue;
    }
    int target = route_target(L, t, path, sig);
    if (is_default) {
      has_default = true;
      if (target != -2) ag->default_route = target;
      continue;
    }
    if (ag->nroutes >= AS_APP_ROUTES_MAX) {
      app_node_err(L, k, path, "more than %u routes besides default", AS_APP_ROUTES_MAX);
      continue;
    }
    if (target == -2) continue;
    as_app_route *r = &ag->routes[ag->nroutes++];
    as_appendf(r->signal, sizeof r->signal, 0, "%s", sig);
    r->agent = target;
  }
  if (!has_default)
    app_node_err(L, v, path, "no default route (add 'default: AGENT' or 'default: end': a "
                             "signal without a route of its own takes it)");
}

static void load_agent_tools(app_loader *L, as_app_agent *ag, int v, const char *apath) {
  char path[128];
  as_appendf(path, sizeof path, 0, "%s.tools", apath);
  if (!app_check_seq(L, v, path, "tool", AS_APP_AGENT_TOOLS_MAX)) return;
  AY_ITEMS(L->d, v, it) {
    int t = app_tool_ref(L, it, path);
    if (t < 0) continue;
    bool dup = false;
    for (size_t j = 0; j < ag->ntools; j++) dup |= ag->tools[j] == t;
    if (dup) {
      app_node_err(L, it, path, "%s listed twice", L->app->tools[t].qname);
      continue;
    }
    ag->tools[ag->ntools++] = t;
  }
}

static void load_agent(app_loader *L, as_app_agent *ag, int k, int v, const char *dir) {
  static const char *const keys[] = {"prompt", "tools", "routes", "gate", "max_calls", NULL};
  static const char *const gate_keys[] = {"min_confidence", NULL};
  char path[96], p[128];
  as_appendf(path, sizeof path, 0, "agents.%s", ag->name);
  if (!app_check_map(L, v, path, keys, "key", 8)) return;
  int pr = app_get(L, v, "prompt");
  as_appendf(p, sizeof p, 0, "%s.prompt", path);
  if (pr < 0)
    app_node_err(L, v, path, "missing key 'prompt' (the agent's prompt file, such as "
                             "prompts/%s.md)", ag->name);
  else if (app_textv(L, pr, p, ag->prompt_path, sizeof ag->prompt_path) &&
           prompt_path_ok(L, pr, p, ag->prompt_path) && !(L->flags & AS_APP_NO_PROMPTS))
    prompt_read(L, pr, p, dir, ag);
  int tl = app_get(L, v, "tools");
  if (tl >= 0 && !ay_is_null(L->d, tl)) load_agent_tools(L, ag, tl, path);
  load_routes(L, ag, k, app_get(L, v, "routes"), path);
  int g = app_get(L, v, "gate");
  as_appendf(p, sizeof p, 0, "%s.gate", path);
  if (g >= 0 && app_check_map(L, g, p, gate_keys, "key", 4)) {
    int mc = app_get(L, g, "min_confidence");
    as_appendf(p, sizeof p, 0, "%s.gate.min_confidence", path);
    if (mc < 0)
      app_node_err(L, g, p, "missing (the least confidence that does not gate, 0 to 1)");
    else
      ag->has_gate = app_number(L, mc, p, 0, 1, &ag->gate_min_confidence);
  }
  int mx = app_get(L, v, "max_calls");
  as_appendf(p, sizeof p, 0, "%s.max_calls", path);
  if (mx >= 0) app_uint(L, mx, p, 1, 64, &ag->max_calls);
}

void app_load_agents(app_loader *L, int root, const char *dir) {
  const ay_doc *d = L->d;
  as_app *a = L->app;
  int m = app_get(L, root, "agents");
  if (m < 0) {
    app_node_err(L, root, "", "missing key 'agents' (the app's agents: prompt, tools, routes)");
    return;
  }
  if (!app_check_map(L, m, "agents", NULL, "agent", AS_APP_AGENTS_MAX)) return;
  if (ay_at(d, m)->n == 0) app_node_err(L, m, "agents", "an app needs at least one agent");
  /* Names first: routes may go to an agent declared further down. */
  AY_PAIRS(d, m, k, v) {
    as_app_agent *ag = &a->agents[a->nagents];
    if (!app_name(L, k, "agents", ag->name, sizeof ag->name)) continue;
    if (strcmp(ag->name, "end") == 0) {
      app_node_err(L, k, "agents", "'end' is the route target that ends a run: not an agent's "
                                   "name");
      memset(ag, 0, sizeof *ag);
      continue;
    }
    ag->default_route = AS_APP_END;
    ag->max_calls = 8;
    L->agent_at[a->nagents++] = k;
  }
  size_t n = 0;
  AY_PAIRS(d, m, k, v) {
    if (n < a->nagents && L->agent_at[n] == k) load_agent(L, &a->agents[n++], k, v, dir);
  }
}

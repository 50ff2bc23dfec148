/*
** test_app.c -- apps (runtime/include/agentsim/app.h): the two bundled apps
** load with the contents their app.yaml declares; every refusal is
** reported at its line:column with what was expected, all of them in one
** load; caps are errors, never truncations; the schema a model sees leaves
** injected arguments out; a failing allocation anywhere is AS_NOMEM and
** leaks nothing.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "agentsim/app.h"
#include "agentsim/seam.h"
#include "faultwrap.h"

#define APPS AS_SOURCE_DIR "/fixtures/apps"

static as_app_diag D;

static void dump(const as_app_diag *d) {
  for (size_t i = 0; i < d->n; i++)
    fprintf(stderr, "  %s:%u:%u: %s\n", d->items[i].file, d->items[i].line, d->items[i].column,
            d->items[i].message);
}

/* Load yaml (no prompt files read) expecting success. */
static as_app *load_ok(const char *yaml) {
  as_app *a = NULL;
  int rc = as_app_load_text(yaml, strlen(yaml), "t.yaml", "/nonexistent", AS_APP_NO_PROMPTS,
                            &a, &D);
  if (rc != AS_OK) {
    dump(&D);
    fail_msg("load: %s", as_status_name(rc));
  }
  assert_int_equal(D.n, 0);
  return a;
}

/* Load yaml expecting AS_PARSE; returns the number of errors. */
static size_t load_bad(const char *yaml) {
  as_app *a = (as_app *)1;
  int rc = as_app_load_text(yaml, strlen(yaml), "t.yaml", "/nonexistent", AS_APP_NO_PROMPTS,
                            &a, &D);
  if (rc != AS_PARSE) {
    dump(&D);
    fail_msg("expected AS_PARSE, got %s", as_status_name(rc));
  }
  assert_null(a);
  assert_true(D.n > 0);
  return D.n;
}

/* An error at line:col whose message holds fragment. */
static void expect_err(unsigned line, unsigned col, const char *fragment) {
  for (size_t i = 0; i < D.n; i++)
    if (D.items[i].line == line && D.items[i].column == col &&
        strstr(D.items[i].message, fragment)) {
      assert_string_equal(D.items[i].file, "t.yaml");
      return;
    }
  dump(&D);
  fail_msg("no error at %u:%u with \"%s\"", line, col, fragment);
}

static const as_app_tool *tool(const as_app *a, const char *name) {
  const as_app_tool *t = as_app_tool_find(a, name);
  if (!t) fail_msg("no tool %s", name);
  return t;
}

static const as_app_arg *arg(const as_app_tool *t, const char *name) {
  for (size_t i = 0; i < t->nargs; i++)
    if (strcmp(t->args[i].name, name) == 0) return &t->args[i];
  fail_msg("%s has no argument %s", t->qname, name);
  return NULL;
}

static int roster(const as_app *a, const char *name) {
  for (size_t i = 0; i < a->nrosters; i++)
    if (strcmp(a->rosters[i].name, name) == 0) return (int)i;
  fail_msg("no roster %s", name);
  return -1;
}

static const as_app_agent *agent(const as_app *a, const char *name) {
  int i = as_app_agent_find(a, name);
  if (i < 0) fail_msg("no agent %s", name);
  return &a->agents[i];
}

static bool agent_has(const as_app *a, const as_app_agent *ag, const char *qname) {
  for (size_t i = 0; i < ag->ntools; i++)
    if (strcmp(a->tools[ag->tools[i]].qname, qname) == 0) return true;
  return false;
}

/* The route signal takes from ag: an agent's name, "end", or NULL. */
static const char *route(const as_app *a, const as_app_agent *ag, const char *signal) {
  int to = -2;
  if (strcmp(signal, "default") == 0) to = ag->default_route;
  for (size_t i = 0; i < ag->nroutes; i++)
    if (strcmp(ag->routes[i].signal, signal) == 0) to = ag->routes[i].agent;
  if (to == -2) return NULL;
  return to == AS_APP_END ? "end" : a->agents[to].name;
}

/* The schema of tool name, parsed. */
static json_t *schema(const as_app *a, const char *name) {
  char *text = NULL;
  assert_int_equal(as_app_tool_schema(a, tool(a, name), &text), AS_OK);
  json_error_t je;
  json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
  if (!j) fail_msg("schema of %s is not JSON (%s): %s", name, je.text, text);
  as_free(text);
  assert_string_equal(json_string_value(json_object_get(j, "type")), "object");
  assert_true(json_is_false(json_object_get(j, "additionalProperties")));
  return j;
}

static bool schema_has(json_t *j, const char *prop) {
  return json_object_get(json_object_get(j, "properties"), prop) != NULL;
}

static bool schema_requires(json_t *j, const char *prop) {
  json_t *req = json_object_get(j, "required");
  size_t i;
  json_t *v;
  json_array_foreach(req, i, v) if (strcmp(json_string_value(v), prop) == 0) return true;
  return false;
}

/* --- the bundled apps ------------------------------------------------------------- */

static void test_incident(void **state) {
  (void)state;
  as_app *a = NULL;
  int rc = as_app_load(APPS "/incident", &a, &D);
  if (rc != AS_OK) dump(&D);
  assert_int_equal(rc, AS_OK);
  assert_string_equal(a->name, "incident");
  assert_int_equal(a->nagents, 4);
  assert_string_equal(a->agents[a->entry].name, "intake");
  assert_int_equal(a->ntools, AS_APP_BUILTIN_TOOLS + 8);
  assert_true(a->approval_timeout_ns == 30ull * 60 * 1000000000ull);
  assert_int_equal(a->max_agent_runs, 8);

  /* The runtime's tools come first, then the servers' in file order. */
  assert_int_equal(a->tools[0].kind, AS_TOOLK_MARK_RESOLVED);
  assert_int_equal(a->tools[1].kind, AS_TOOLK_MARK_ESCALATED);
  assert_int_equal(a->tools[2].kind, AS_TOOLK_SUBMIT_HYPOTHESIS);
  assert_int_equal(a->tools[3].kind, AS_TOOLK_PATCH);
  assert_string_equal(a->tools[4].qname, "observability:get_service_health");
  assert_true(a->tools[4].line > 0);
  assert_int_equal(tool(a, "k8s:restart_deployment")->risk, AS_RISK_HIGH);
  assert_int_equal(tool(a, "scale_deployment")->risk, AS_RISK_MEDIUM);
  assert_int_equal(tool(a, "get_logs")->risk, AS_RISK_LOW);

  /* Rosters, fields, injection. */
  int envs = roster(a, "environments"), teams = roster(a, "teams");
  assert_true(as_app_roster_has(a, envs, "production"));
  assert_false(as_app_roster_has(a, envs, "prod"));
  assert_false(as_app_roster_has(a, 99, "production"));
  assert_int_equal(a->nfields, 4);
  assert_string_equal(a->fields[0].name, "environment");
  assert_int_equal(a->fields[0].roster, envs);
  assert_true(a->fields[0].has_default);
  assert_string_equal(a->fields[0].default_value, "dev");
  assert_int_equal(a->fields[2].type, AS_ARG_INTEGER);
  assert_int_equal(a->ninject, 2);
  assert_string_equal(a->inject[0].arg, "environment");
  assert_int_equal(a->inject[0].src, AS_INJECT_EXTRA);
  assert_int_equal(a->inject[0].field, 0);
  assert_int_equal(a->inject[1].src, AS_INJECT_ID);
  const as_app_tool *h = tool(a, "observability:get_service_health");
  assert_int_equal(arg(h, "environment")->injected, 0);
  assert_int_equal(arg(h, "environment")->roster, envs);
  assert_int_equal(arg(h, "service")->injected, -1);
  assert_true(arg(h, "service")->required);
  assert_int_equal(arg(tool(a, "k8s:restart_deployment"), "session_id")->injected, 1);

  /* Gate, retry, escalation. */
  assert_int_equal(a->gate.env_field, 0);
  assert_int_equal(a->gate.env_roster, envs);
  assert_int_equal(a->gate.nproduction, 1);
  assert_string_equal(a->gate.production[0], "production");
  assert_int_equal(a->gate.gated_risk, AS_RISK_HIGH);
  assert_true(a->gate.min_confidence == 0.4);
  assert_int_equal(a->retry.max_retries, 2);
  assert_true(a->retry.min_confidence == 0.3 && a->retry.transient);
  assert_int_equal(a->escalation_roster, teams);
  assert_string_equal(a->escalation_default, "platform");
  assert_int_equal(a->nlegacy, 1);
  assert_string_equal(a->legacy_escalate[0], "notify:page_team");
  assert_true(tool(a, "notify:page_team")->legacy_escalate);
  assert_false(tool(a, "k8s:restart_deployment")->legacy_escalate);
  assert_int_equal(arg(tool(a, "mark_escalated"), "team")->roster, teams);

  /* Agents: tools, routes, gates, prompts. */
  const as_app_agent *tri = agent(a, "triage");
  assert_true(agent_has(a, tri, "observability:get_service_health"));
  assert_true(agent_has(a, tri, "runtime:patch_session"));
  assert_true(agent_has(a, tri, "runtime:mark_escalated"));
  assert_false(agent_has(a, tri, "k8s:restart_deployment"));
  assert_string_equal(route(a, tri, "investigate"), "investigate");
  assert_string_equal(route(a, tri, "escalated"), "end");
  assert_string_equal(route(a, tri, "default"), "investigate");
  assert_false(tri->has_gate);
  assert_int_equal(tri->max_calls, 8);
  const as_app_agent *inv = agent(a, "investigate");
  assert_true(inv->has_gate && inv->gate_min_confidence == 0.5);
  assert_string_equal(route(a, inv, "fix_ready"), "remediate");
  const as_app_agent *rem = agent(a, "remediate");
  assert_int_equal(rem->max_calls, 6);
  assert_int_equal(rem->ntools, 6);
  assert_string_equal(route(a, rem, "default"), "end");
  for (size_t i = 0; i < a->nagents; i++) {
    assert_non_null(a->agents[i].prompt);
    assert_non_null(strstr(a->agents[i].prompt, "```tool"));
  }
  assert_string_equal(agent(a, "intake")->prompt_path, "prompts/intake.md");
  as_app_free(a);
}

static void test_code_review(void **state) {
  (void)state;
  as_app *a = NULL;
  int rc = as_app_load(APPS "/code_review/", &a, &D);
  if (rc != AS_OK) dump(&D);
  assert_int_equal(rc, AS_OK);
  assert_string_equal(a->name, "code_review");
  assert_int_equal(a->nagents, 3);
  assert_string_equal(a->agents[a->entry].name, "reviewer");
  assert_true(a->approval_timeout_ns == 2ull * 3600 * 1000000000ull);
  assert_int_equal(a->max_agent_runs, 6);
  assert_int_equal(tool(a, "repo:merge")->risk, AS_RISK_HIGH);
  assert_int_equal(tool(a, "ci:rerun_checks")->risk, AS_RISK_MEDIUM);
  int branches = roster(a, "branches");
  assert_string_equal(a->fields[a->gate.env_field].name, "target_branch");
  assert_int_equal(a->gate.env_roster, branches);
  assert_int_equal(a->gate.nproduction, 2);
  assert_string_equal(a->gate.production[0], "main");
  assert_string_equal(a->gate.production[1], "release");
  assert_true(as_app_roster_has(a, a->gate.env_roster, "develop"));
  assert_int_equal(a->retry.max_retries, 3);
  const as_app_tool *m = tool(a, "merge");
  assert_true(arg(m, "repo")->injected >= 0);
  assert_true(arg(m, "change")->injected >= 0);
  assert_true(arg(m, "target_branch")->injected >= 0);
  assert_int_equal(arg(m, "method")->injected, -1);
  assert_int_equal(arg(m, "method")->roster, roster(a, "merge_methods"));
  assert_string_equal(a->legacy_escalate[0], "notify:request_review");
  const as_app_agent *sec = agent(a, "security");
  assert_true(sec->has_gate && sec->gate_min_confidence == 0.6);
  assert_string_equal(route(a, sec, "blocked"), "end");
  assert_string_equal(route(a, sec, "default"), "summarizer");
  assert_string_equal(route(a, agent(a, "reviewer"), "trivial"), "summarizer");
  assert_true(agent_has(a, agent(a, "summarizer"), "repo:merge"));
  /* The patch tool: every field, the injected ones left out of its schema. */
  const as_app_tool *p = tool(a, "patch_session");
  assert_int_equal(p->nargs, a->nfields + 2);
  json_t *j = schema(a, "runtime:patch_session");
  assert_true(schema_has(j, "verdict") && schema_has(j, "findings"));
  assert_true(schema_has(j, "confidence") && schema_has(j, "rationale"));
  assert_false(schema_has(j, "repo") || schema_has(j, "target_branch"));
  assert_int_equal(json_array_size(json_object_get(j, "required")), 0);
  json_decref(j);
  as_app_free(a);
}

static void test_schema(void **state) {
  (void)state;
  as_app *a = NULL;
  assert_int_equal(as_app_load(APPS "/incident", &a, &D), AS_OK);
  json_t *j = schema(a, "observability:get_service_health");
  assert_true(schema_has(j, "service"));
  assert_false(schema_has(j, "environment"));
  assert_true(schema_requires(j, "service"));
  assert_false(schema_requires(j, "environment"));
  assert_int_equal(json_object_size(json_object_get(j, "properties")), 1);
  json_decref(j);
  j = schema(a, "k8s:restart_deployment");
  assert_false(schema_has(j, "session_id") || schema_has(j, "environment"));
  assert_true(schema_requires(j, "deployment") && schema_requires(j, "reason"));
  assert_string_equal(
      json_string_value(json_object_get(
          json_object_get(json_object_get(j, "properties"), "deployment"), "type")),
      "string");
  json_decref(j);
  j = schema(a, "k8s:scale_deployment");
  assert_string_equal(
      json_string_value(json_object_get(
          json_object_get(json_object_get(j, "properties"), "replicas"), "type")),
      "integer");
  json_decref(j);
  /* A roster becomes an enum: mark_escalated's team. */
  j = schema(a, "mark_escalated");
  json_t *e = json_object_get(json_object_get(json_object_get(j, "properties"), "team"), "enum");
  assert_int_equal(json_array_size(e), 4);
  assert_string_equal(json_string_value(json_array_get(e, 0)), "platform");
  assert_true(schema_requires(j, "team") && schema_requires(j, "confidence") &&
              schema_requires(j, "rationale"));
  json_decref(j);
  char *text = NULL;
  assert_int_equal(as_app_tool_schema(NULL, a->tools, &text), AS_INVAL);
  assert_null(text);
  as_app_free(a);
}

/* --- defaults and lookups --------------------------------------------------------------- */

#define MIN                                                                   \
  "name: t\n"                                                                 \
  "entry: a\n"                                                                \
  "agents:\n"                                                                 \
  "  a:\n"                                                                    \
  "    prompt: a.md\n"                                                        \
  "    routes: {default: end}\n"

static void test_defaults(void **state) {
  (void)state;
  as_app *a = load_ok(MIN);
  assert_true(a->approval_timeout_ns == 30ull * 60 * 1000000000ull);
  assert_int_equal(a->max_agent_runs, 8);
  assert_int_equal(a->agents[0].max_calls, 8);
  assert_int_equal(a->agents[0].default_route, AS_APP_END);
  assert_false(a->agents[0].has_gate);
  assert_null(a->agents[0].prompt); /* AS_APP_NO_PROMPTS */
  assert_int_equal(a->retry.max_retries, 2);
  assert_true(a->retry.min_confidence == 0.3 && a->retry.transient);
  assert_true(a->gate.min_confidence == 0);
  assert_int_equal(a->gate.gated_risk, AS_RISK_HIGH);
  assert_int_equal(a->gate.env_field, -1);
  assert_int_equal(a->gate.env_roster, -1);
  assert_int_equal(a->escalation_roster, -1);
  assert_string_equal(a->escalation_default, "");
  assert_int_equal(a->nlegacy, 0);
  assert_int_equal(a->ntools, AS_APP_BUILTIN_TOOLS);
  assert_int_equal(arg(tool(a, "mark_escalated"), "team")->roster, -1);
  assert_string_equal(a->dir, "/nonexistent");
  as_app_free(a);
}

static void test_lookups(void **state) {
  (void)state;
  as_app *a = load_ok("name: t\n"
                      "entry: a\n"
                      "servers:\n"
                      "  s1: {tools: {ping: {description: p, risk: low}, only: {description: o, "
                      "risk: medium}}}\n"
                      "  s2: {tools: {ping: {description: p, risk: high}}}\n"
                      "agents:\n"
                      "  a: {prompt: a.md, tools: [s1:ping, only, runtime:mark_resolved], "
                      "routes: {default: b, x: a}}\n"
                      "  b: {prompt: b.md, routes: {default: end}}\n");
  assert_null(as_app_tool_find(a, "ping")); /* ambiguous */
  assert_int_equal(tool(a, "s2:ping")->risk, AS_RISK_HIGH);
  assert_string_equal(tool(a, "only")->qname, "s1:only");
  assert_null(as_app_tool_find(a, "s3:ping"));
  assert_null(as_app_tool_find(a, "nope"));
  assert_null(as_app_tool_find(NULL, "only"));
  assert_string_equal(tool(a, "runtime:submit_hypothesis")->name, "submit_hypothesis");
  assert_int_equal(as_app_agent_find(a, "b"), 1);
  assert_int_equal(as_app_agent_find(a, "c"), -1);
  assert_string_equal(route(a, &a->agents[0], "default"), "b");
  assert_string_equal(route(a, &a->agents[0], "x"), "a"); /* a loop is fine: runs are capped */
  assert_string_equal(as_risk_name(AS_RISK_MEDIUM), "medium");
  assert_string_equal(as_risk_name((as_risk)9), "?");
  assert_string_equal(as_arg_type_name(AS_ARG_BOOLEAN), "boolean");
  assert_string_equal(as_arg_type_name((as_arg_type)-1), "?");
  assert_string_equal(as_tool_kind_name(AS_TOOLK_PATCH), "patch_session");
  assert_string_equal(as_tool_kind_name(AS__TOOLK_COUNT), "?");
  as_app_free(a);
  as_app_free(NULL);
}

/* --- refusals: one case each, at its place ---------------------------------------------- */

typedef struct refusal {
  const char *what;
  const char *yaml;
  unsigned line, col;
  const char *fragment;
} refusal;

#define HEAD "name: t\nentry: a\n"              /* lines 1-2 */
#define AGENT_A "agents:\n  a:\n    prompt: a.md\n    routes: {default: end}\n"

static const refusal refusals[] = {
    {"unknown top-level key", HEAD "colour: blue\n" AGENT_A, 3, 1,
     "unknown key 'colour' (expected: name, entry, approval_timeout, max_agent_runs, rosters, "
     "fields, servers, inject, gate, retry, escalation, agents)"},
    {"unknown agent key", HEAD "agents:\n  a:\n    prompt: a.md\n    tool: [x]\n"
                          "    routes: {default: end}\n",
     6, 5, "agents.a: unknown key 'tool' (expected: prompt, tools, routes, gate, max_calls)"},
    {"wrong type: a number", HEAD "max_agent_runs: many\n" AGENT_A, 3, 17,
     "max_agent_runs: expected a whole number from 1 to 256, found 'many'"},
    {"wrong type: a list", HEAD "agents:\n  a:\n    prompt: a.md\n    tools: get_logs\n"
                           "    routes: {default: end}\n",
     6, 12, "agents.a.tools: expected a list of tools, found 'get_logs'"},
    {"wrong type: a mapping", HEAD "rosters: [a, b]\n" AGENT_A, 3, 10,
     "rosters: expected a mapping of roster names, found a list"},
    {"wrong type: a quoted number", HEAD "gate: {min_confidence: '0.5'}\n" AGENT_A, 3, 24,
     "gate.min_confidence: expected a number from 0 to 1, found the quoted text '0.5'"},
    {"a number out of range", HEAD "retry: {min_confidence: 1.5}\n" AGENT_A, 3, 25,
     "retry.min_confidence: expected a number from 0 to 1, found '1.5'"},
    {"not a boolean", HEAD "retry: {transient: yes}\n" AGENT_A, 3, 20,
     "retry.transient: expected true or false, found 'yes'"},
    {"unknown tool", HEAD "agents:\n  a:\n    prompt: a.md\n    tools: [get_logz]\n"
                     "    routes: {default: end}\n",
     6, 13, "agents.a.tools: unknown tool 'get_logz': no server has a tool of that name"},
    {"unknown tool on a server",
     HEAD "servers: {s: {tools: {t: {description: d, risk: low}}}}\n"
          "agents:\n  a:\n    prompt: a.md\n    tools: [s:u]\n    routes: {default: end}\n",
     7, 13, "unknown tool 's:u' (server s has: t)"},
    {"ambiguous bare tool",
     HEAD "servers:\n  s1: {tools: {notify: {description: d, risk: low}}}\n"
          "  s2: {tools: {notify: {description: d, risk: low}}}\n"
          "agents:\n  a:\n    prompt: a.md\n    tools: [notify]\n    routes: {default: end}\n",
     9, 13,
     "bare tool name 'notify' is ambiguous (s1:notify, s2:notify): write the qualified form "
     "SERVER:notify"},
    {"no default route", HEAD "agents:\n  a:\n    prompt: a.md\n    routes: {done: end}\n", 6, 13,
     "agents.a.routes: no default route"},
    {"no routes at all", HEAD "agents:\n  a:\n    prompt: a.md\n", 4, 3,
     "agents.a: missing key 'routes'"},
    {"route to an unknown agent",
     "name: t\nentry: triage\nagents:\n  triage:\n    prompt: t.md\n"
     "    routes: {diagnose: diagnoser, default: end}\n"
     "  fixer: {prompt: f.md, routes: {default: end}}\n",
     6, 24,
     "agents.triage.routes: route 'diagnose' goes to unknown agent 'diagnoser' (agents are: "
     "triage, fixer; 'end' ends the run)"},
    {"a bad signal", HEAD "agents:\n  a:\n    prompt: a.md\n    routes: {Done!: end, default: end}\n",
     6, 14, "'Done!' is not a signal"},
    {"injected path names no field", HEAD "inject: {env: session.environment}\n" AGENT_A, 3, 15,
     "inject.env: 'session.environment' names no session field (expected id, status, "
     "retry_count or extra.FIELD; fields are: none)"},
    {"injected extra field not declared",
     HEAD "fields: {service: {type: string}}\ninject: {env: extra.environment}\n" AGENT_A, 4, 15,
     "'extra.environment' names no session field (expected id, status, retry_count or "
     "extra.FIELD; fields are: service)"},
    {"injected argument no tool has", HEAD "inject: {session_id: id}\n" AGENT_A, 3, 22,
     "inject.session_id: no tool has an argument 'session_id'"},
    {"injected type mismatch",
     HEAD "servers: {s: {tools: {t: {description: d, risk: low, args: {n: {type: integer}}}}}}\n"
          "inject: {n: id}\n" AGENT_A,
     4, 13, "inject.n: fills s:t's argument n (integer) from id (string)"},
    {"gate production outside its roster",
     HEAD "rosters: {envs: [dev, prod]}\nfields: {env: {type: string, roster: envs}}\n"
          "gate: {environment_field: env, production: [production]}\n" AGENT_A,
     5, 45, "gate.production: 'production' is not in roster envs (values: dev, prod)"},
    {"gate production without a field", HEAD "gate: {production: [prod]}\n" AGENT_A, 3, 20,
     "production environments need gate.environment_field"},
    {"gate field without a roster",
     HEAD "fields: {env: {type: string}}\ngate: {environment_field: env}\n" AGENT_A, 4, 27,
     "field 'env' has no roster"},
    {"field default outside its roster",
     HEAD "rosters: {envs: [dev, prod]}\nfields: {env: {type: string, roster: envs, default: "
          "staging}}\n" AGENT_A,
     4, 53, "fields.env.default: 'staging' is not in roster envs (values: dev, prod)"},
    {"escalation default outside its roster",
     HEAD "rosters: {teams: [a, b]}\nescalation: {roster: teams, default_team: c}\n" AGENT_A, 4,
     43, "escalation.default_team: 'c' is not in roster teams (values: a, b)"},
    {"argument roster unknown",
     HEAD "servers: {s: {tools: {t: {description: d, risk: low, args: {x: {type: string, "
          "roster: nobody}}}}}}\n" AGENT_A,
     3, 87, "servers.s.tools.t.args.x.roster: unknown roster 'nobody' (rosters are: none)"},
    {"roster on a number", HEAD "rosters: {r: [a]}\nfields: {n: {type: number, roster: r}}\n" AGENT_A,
     4, 36, "only a string field can have a roster"},
    {"duplicate agent", HEAD "agents:\n  a: {prompt: a.md, routes: {default: end}}\n"
                         "  a: {prompt: b.md, routes: {default: end}}\n",
     5, 3, "agents: agent 'a' given twice (first at 4:3)"},
    {"duplicate roster value", HEAD "rosters: {r: [x, y, x]}\n" AGENT_A, 3, 21,
     "rosters.r: value 'x' listed twice"},
    {"duplicate agent tool", HEAD "agents:\n  a:\n    prompt: a.md\n"
                             "    tools: [mark_resolved, runtime:mark_resolved]\n"
                             "    routes: {default: end}\n",
     6, 28, "runtime:mark_resolved listed twice"},
    {"reserved field", HEAD "fields: {status: {type: string}}\n" AGENT_A, 3, 10,
     "field name 'status' is reserved"},
    {"a server called runtime", HEAD "servers: {runtime: {tools: {}}}\n" AGENT_A, 3, 11,
     "server 'runtime' is built in"},
    {"an app tool with a runtime name",
     HEAD "servers: {s: {tools: {mark_resolved: {description: d, risk: low}}}}\n" AGENT_A, 3, 23,
     "tool name 'mark_resolved' is the runtime's (runtime:mark_resolved)"},
    {"a tool without risk", HEAD "servers: {s: {tools: {t: {description: d}}}}\n" AGENT_A, 3, 26,
     "servers.s.tools.t: missing key 'risk' (low, medium or high)"},
    {"a bad risk", HEAD "servers: {s: {tools: {t: {description: d, risk: huge}}}}\n" AGENT_A, 3,
     49, "expected a risk (low, medium, high), found 'huge'"},
    {"legacy tool unknown", HEAD "escalation: {legacy_tools: [pager]}\n" AGENT_A, 3, 29,
     "escalation.legacy_tools: unknown tool 'pager'"},
    {"legacy tool of the runtime", HEAD "escalation: {legacy_tools: [mark_escalated]}\n" AGENT_A,
     3, 29, "only an app tool is a legacy escalate tool"},
    {"absolute prompt", HEAD "agents:\n  a:\n    prompt: /etc/passwd\n    routes: {default: end}\n",
     5, 13, "agents.a.prompt: '/etc/passwd' is absolute"},
    {"prompt outside the app",
     HEAD "agents:\n  a:\n    prompt: prompts/../../x.md\n    routes: {default: end}\n", 5, 13,
     "leaves the app's directory ('..')"},
    {"entry unknown", "name: t\nentry: intake\n" AGENT_A, 2, 8,
     "entry: names unknown agent 'intake' (agents are: a)"},
    {"no entry", "name: t\n" AGENT_A, 1, 1, "missing key 'entry'"},
    {"no agents", HEAD, 1, 1, "missing key 'agents'"},
    {"an agent called end", HEAD "agents:\n  end: {prompt: e.md, routes: {default: end}}\n", 4, 3,
     "'end' is the route target that ends a run"},
    {"a bad duration", HEAD "approval_timeout: 30 minutes\n" AGENT_A, 3, 19,
     "approval_timeout: expected a duration"},
    {"a zero duration", HEAD "approval_timeout: 0s\n" AGENT_A, 3, 19, "expected a duration"},
    {"a bad name", "name: my app\nentry: a\n" AGENT_A, 1, 7, "'my app' is not a name"},
    {"an alias", HEAD "rosters: {a: &x [1], b: *x}\n" AGENT_A, 3, 25, "aliases (*x) are not supported"},
    {"a tag", HEAD "max_agent_runs: !!int 3\n" AGENT_A, 3, 17, "tags (tag:yaml.org,2002:int)"},
    {"YAML syntax", HEAD "agents:\n  a: {prompt: a.md\n", 5, 1, "invalid YAML:"},
    {"two documents", MIN "---\nname: u\n", 7, 1, "a second YAML document"},
    {"not a mapping", "- a\n- b\n", 1, 1, "expected a mapping (keys: name, entry"},
    {"an empty file", "", 1, 1, "an empty file"},
};

static void test_refusals(void **state) {
  (void)state;
  size_t bad = 0;
  for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
    const refusal *r = &refusals[i];
    as_app *a = (as_app *)1;
    int rc = as_app_load_text(r->yaml, strlen(r->yaml), "t.yaml", "/nonexistent",
                              AS_APP_NO_PROMPTS, &a, &D);
    bool hit = false;
    for (size_t j = 0; j < D.n && !hit; j++)
      hit = D.items[j].line == r->line && D.items[j].column == r->col &&
            strstr(D.items[j].message, r->fragment) != NULL &&
            strcmp(D.items[j].file, "t.yaml") == 0;
    if (rc != AS_PARSE || a != NULL || !hit) {
      fprintf(stderr, "%s: %s; no error at %u:%u with \"%s\" among:\n", r->what,
              as_status_name(rc), r->line, r->col, r->fragment);
      dump(&D);
      bad++;
    }
  }
  assert_int_equal(bad, 0);
}

/* Every error of one load is reported, in file order. */
static void test_all_errors(void **state) {
  (void)state;
  size_t n = load_bad("name: t\n"
                      "entry: b\n"
                      "colour: blue\n"
                      "agents:\n"
                      "  a:\n"
                      "    prompt: /a.md\n"
                      "    tools: [nope]\n"
                      "    routes: {next: c}\n");
  assert_int_equal(n, 6);
  expect_err(2, 8, "entry: names unknown agent 'b'");
  expect_err(3, 1, "unknown key 'colour'");
  expect_err(6, 13, "is absolute");
  expect_err(7, 13, "unknown tool 'nope'");
  expect_err(8, 13, "no default route");
  expect_err(8, 20, "route 'next' goes to unknown agent 'c'");
  for (size_t i = 1; i < D.n; i++)
    assert_true(D.items[i - 1].line < D.items[i].line ||
                (D.items[i - 1].line == D.items[i].line &&
                 D.items[i - 1].column <= D.items[i].column));
  assert_false(D.more);
}

/* Past AS_APP_DIAG_MAX errors: the first ones kept, `more` set. */
static void test_diag_cap(void **state) {
  (void)state;
  char *y = malloc(16384);
  assert_non_null(y);
  size_t n = (size_t)snprintf(y, 16384, "%s", MIN);
  for (unsigned i = 0; i < AS_APP_DIAG_MAX + 6; i++)
    n += (size_t)snprintf(y + n, 16384 - n, "unknown%u: 1\n", i);
  load_bad(y);
  assert_int_equal(D.n, AS_APP_DIAG_MAX);
  assert_true(D.more);
  expect_err(7, 1, "unknown key 'unknown0'");
  free(y);
}

/* Caps: one past each is an error at its place, never a truncation. */
static void test_caps(void **state) {
  (void)state;
  enum { CAP = 64 * 1024 };
  char *y = malloc(CAP);
  assert_non_null(y);
  /* AS_APP_AGENTS_MAX + 1 agents. */
  size_t n = (size_t)snprintf(y, CAP, "name: t\nentry: a0\nagents:\n");
  for (unsigned i = 0; i <= AS_APP_AGENTS_MAX; i++)
    n += (size_t)snprintf(y + n, CAP - n, "  a%u: {prompt: p.md, routes: {default: end}}\n", i);
  load_bad(y);
  expect_err(4, 3, "agents: 33 agents: the cap is 32");
  /* AS_APP_ARGS_MAX + 1 arguments of one tool. */
  n = (size_t)snprintf(y, CAP, "%sservers:\n  s:\n    tools:\n      t:\n        description: d\n"
                               "        risk: low\n        args:\n", MIN);
  for (unsigned i = 0; i <= AS_APP_ARGS_MAX; i++)
    n += (size_t)snprintf(y + n, CAP - n, "          a%u: {type: string}\n", i);
  load_bad(y);
  expect_err(14, 11, "servers.s.tools.t.args: 17 arguments: the cap is 16");
  /* Exactly AS_APP_ARGS_MAX is fine. */
  n = (size_t)snprintf(y, CAP, "%sservers:\n  s:\n    tools:\n      t:\n        description: d\n"
                               "        risk: low\n        args:\n", MIN);
  for (unsigned i = 0; i < AS_APP_ARGS_MAX; i++)
    n += (size_t)snprintf(y + n, CAP - n, "          a%u: {type: string}\n", i);
  as_app *a = load_ok(y);
  assert_int_equal(tool(a, "s:t")->nargs, AS_APP_ARGS_MAX);
  as_app_free(a);
  /* A roster of AS_APP_ROSTER_VALUES_MAX + 1 values. */
  n = (size_t)snprintf(y, CAP, "%srosters:\n  r: [", MIN);
  for (unsigned i = 0; i <= AS_APP_ROSTER_VALUES_MAX; i++)
    n += (size_t)snprintf(y + n, CAP - n, "%sv%u", i ? ", " : "", i);
  n += (size_t)snprintf(y + n, CAP - n, "]\n");
  load_bad(y);
  expect_err(8, 6, "rosters.r: 33 values: the cap is 32");
  /* A name one byte too long. */
  snprintf(y, CAP, "name: n%063u\nentry: a\n%s", 7u, AGENT_A);
  load_bad(y);
  expect_err(1, 7, "is 64 bytes: the cap is 63");
  /* A value past AS_APP_SCALAR_MAX. */
  n = (size_t)snprintf(y, CAP, "%sservers: {s: {tools: {t: {risk: low, description: ", MIN);
  memset(y + n, 'x', AS_APP_SCALAR_MAX + 1);
  n += AS_APP_SCALAR_MAX + 1;
  snprintf(y + n, CAP - n, "}}}}\n");
  load_bad(y);
  expect_err(7, 51, "a value of 1025 bytes: the cap is 1024");
  /* Nesting past AS_APP_DEPTH_MAX. */
  n = (size_t)snprintf(y, CAP, "%sgate: ", MIN);
  for (unsigned i = 0; i <= AS_APP_DEPTH_MAX; i++) n += (size_t)snprintf(y + n, CAP - n, "[");
  load_bad(y);
  expect_err(7, 22, "nesting deeper than 16 levels");
  free(y);
  /* The file itself: one byte past AS_APP_FILE_MAX. */
  char *big = malloc(AS_APP_FILE_MAX + 1);
  assert_non_null(big);
  memset(big, ' ', AS_APP_FILE_MAX + 1);
  as_app *b = (as_app *)1;
  assert_int_equal(as_app_load_text(big, AS_APP_FILE_MAX + 1, "t.yaml", "/x", 0, &b, &D),
                   AS_TOOBIG);
  assert_null(b);
  assert_int_equal(D.n, 1);
  assert_non_null(strstr(D.items[0].message, "the cap of app.yaml is 262144"));
  free(big);
}

/* --- files ------------------------------------------------------------------------------ */

static char tmp[256];

static void put(const char *rel, const char *text, size_t len) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", tmp, rel);
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

static void test_files(void **state) {
  (void)state;
  snprintf(tmp, sizeof tmp, "/tmp/agentsim-test-app-XXXXXX");
  assert_non_null(mkdtemp(tmp));
  char p[512];
  as_app *a = (as_app *)1;
  /* No app.yaml: AS_NOTFOUND, one item naming the file. */
  assert_int_equal(as_app_load(tmp, &a, &D), AS_NOTFOUND);
  assert_null(a);
  assert_int_equal(D.n, 1);
  snprintf(p, sizeof p, "%s/app.yaml", tmp);
  assert_string_equal(D.items[0].file, p);
  assert_int_equal(D.items[0].line, 0);
  assert_non_null(strstr(D.items[0].message, "cannot read: No such file"));
  /* Prompts: read when present, refused when missing, too big or holding a NUL. */
  snprintf(p, sizeof p, "%s/prompts", tmp);
  assert_int_equal(mkdir(p, 0755), 0);
  const char *yaml = "name: t\n"
                     "entry: a\n"
                     "agents:\n"
                     "  a: {prompt: prompts/a.md, routes: {default: b}}\n"
                     "  b: {prompt: prompts/b.md, routes: {default: c}}\n"
                     "  c: {prompt: prompts/c.md, routes: {default: d}}\n"
                     "  d: {prompt: prompts/d.md, routes: {default: end}}\n";
  put("app.yaml", yaml, strlen(yaml));
  put("prompts/a.md", "Hello.\n", 7);
  char *big = malloc(AS_APP_PROMPT_MAX + 1);
  assert_non_null(big);
  memset(big, 'x', AS_APP_PROMPT_MAX + 1);
  put("prompts/b.md", big, AS_APP_PROMPT_MAX + 1);
  put("prompts/c.md", "a\0b", 3);
  assert_int_equal(as_app_load(tmp, &a, &D), AS_PARSE);
  snprintf(p, sizeof p, "%s/app.yaml", tmp);
  assert_int_equal(D.n, 3);
  for (size_t i = 0; i < D.n; i++) assert_string_equal(D.items[i].file, p);
  assert_int_equal(D.items[0].line, 5);
  assert_int_equal(D.items[0].column, 15);
  assert_non_null(strstr(D.items[0].message, "agents.b.prompt: prompt file 'prompts/b.md' is "
                                             "larger than 32768 bytes"));
  assert_non_null(strstr(D.items[1].message, "prompt file 'prompts/c.md' holds a NUL byte"));
  assert_int_equal(D.items[2].line, 7);
  assert_non_null(strstr(D.items[2].message, "cannot read prompt file 'prompts/d.md': No such"));
  /* Fixed, it loads, prompts and all (exactly at the cap is fine). */
  put("prompts/b.md", big, AS_APP_PROMPT_MAX);
  put("prompts/c.md", "c", 1);
  put("prompts/d.md", "d", 1);
  assert_int_equal(as_app_load(tmp, &a, &D), AS_OK);
  assert_string_equal(a->agents[0].prompt, "Hello.\n");
  assert_int_equal(strlen(a->agents[1].prompt), AS_APP_PROMPT_MAX);
  as_app_free(a);
  /* app.yaml past its cap. */
  char *huge = malloc(AS_APP_FILE_MAX + 1);
  assert_non_null(huge);
  memset(huge, '#', AS_APP_FILE_MAX + 1);
  put("app.yaml", huge, AS_APP_FILE_MAX + 1);
  assert_int_equal(as_app_load(tmp, &a, &D), AS_TOOBIG);
  assert_int_equal(D.n, 1);
  assert_non_null(strstr(D.items[0].message, "larger than 262144 bytes"));
  free(huge);
  free(big);
  /* Arguments. */
  assert_int_equal(as_app_load(NULL, &a, &D), AS_INVAL);
  assert_int_equal(as_app_load_text(NULL, 0, NULL, "/", 0, &a, &D), AS_INVAL);
  const char *names[] = {"app.yaml", "prompts/a.md", "prompts/b.md", "prompts/c.md",
                         "prompts/d.md"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    snprintf(p, sizeof p, "%s/%s", tmp, names[i]);
    assert_int_equal(unlink(p), 0);
  }
  snprintf(p, sizeof p, "%s/prompts", tmp);
  assert_int_equal(rmdir(p), 0);
  assert_int_equal(rmdir(tmp), 0);
}

/* --- allocations ------------------------------------------------------------------------- */

/* Fail the n-th allocation for n = 1, 2, ... until loading the bundled app
** succeeds: every failure is AS_NOMEM and leaves nothing allocated. */
static void test_nomem(void **state) {
  (void)state;
  for (unsigned long n = 1;; n++) {
    size_t live = fw_live_blocks();
    as_app *a = NULL;
    fw_countdown(FW_ALLOC, n, ENOMEM, 0);
    int rc = as_app_load(APPS "/incident", &a, &D);
    fw_disarm();
    if (!fw_fired()) {
      assert_int_equal(rc, AS_OK);
      char *s = NULL;
      fw_countdown(FW_ALLOC, 1, ENOMEM, 0);
      assert_int_equal(as_app_tool_schema(a, a->tools, &s), AS_NOMEM);
      fw_disarm();
      assert_null(s);
      as_app_free(a);
      assert_int_equal(fw_live_blocks(), live);
      break;
    }
    if (rc != AS_NOMEM) {
      dump(&D);
      fail_msg("failing allocation %lu (%s) gave %s", n, fw_fn_name(fw_fired_fn()),
               as_status_name(rc));
    }
    assert_null(a);
    assert_int_equal(fw_live_blocks(), live);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_incident), cmocka_unit_test(test_code_review),
      cmocka_unit_test(test_schema),   cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_lookups),  cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_all_errors), cmocka_unit_test(test_diag_cap),
      cmocka_unit_test(test_caps),     cmocka_unit_test(test_files),
      cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

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

/* --- test_app's own wrappers ----------------------------------------------------------
** tests/CMakeLists.txt links test_app with --wrap=fopen, ferror and fclose: each
** passes the call on unless a test armed a failure, which happens once. */
FILE *__real_fopen(const char *path, const char *mode);
int __real_ferror(FILE *f);
int __real_fclose(FILE *f);
FILE *__wrap_fopen(const char *path, const char *mode);
int __wrap_ferror(FILE *f);
int __wrap_fclose(FILE *f);

static int fopen_errno;        /* non-zero: the next fopen fails with it */
static bool ferror_fake;       /* the next ferror reports an error, errno 0 */
static int fclose_errno = -1;  /* >= 0: the next fclose closes, then fails with it */

FILE *__wrap_fopen(const char *path, const char *mode) {
  if (fopen_errno) {
    errno = fopen_errno;
    fopen_errno = 0;
    return NULL;
  }
  return __real_fopen(path, mode);
}

int __wrap_ferror(FILE *f) {
  if (ferror_fake) {
    ferror_fake = false;
    errno = 0;
    return 1;
  }
  return __real_ferror(f);
}

int __wrap_fclose(FILE *f) {
  int rc = __real_fclose(f);
  if (fclose_errno >= 0) {
    errno = fclose_errno;
    fclose_errno = -1;
    return EOF;
  }
  return rc;
}

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
  assert_int_equal(a->daily_limit_micros, 5000000);
  assert_int_equal(a->cycle_estimate_micros, 150000);
  assert_false(a->llm.present);
  assert_string_equal(a->llm.base_url, "");
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
  /* NULL for the app or the name finds nothing; so does a roster index out of range. */
  assert_null(as_app_tool_find(a, NULL));
  assert_int_equal(as_app_agent_find(NULL, "a"), -1);
  assert_int_equal(as_app_agent_find(a, NULL), -1);
  assert_false(as_app_roster_has(NULL, 0, "x"));
  assert_false(as_app_roster_has(a, 0, NULL));
  assert_false(as_app_roster_has(a, -1, "x"));
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
/* A tool with the arguments ARGS (at line 3, column 60). */
#define TOOL_ARGS(ARGS)                                                       \
  HEAD "servers: {s: {tools: {t: {description: d, risk: low, args: " ARGS "}}}}\n" AGENT_A
/* An environment field the gate checks, and its production list (line 5, column 45). */
#define ENV_GATE(PROD)                                                        \
  HEAD "rosters: {envs: [dev, prod]}\nfields: {env: {type: string, roster: envs}}\n"     \
       "gate: {environment_field: env, production: " PROD "}\n" AGENT_A
#define X12 "xxxxxxxxxxxx"
#define X48 X12 X12 X12 X12
#define X60 X48 X12
#define O12 "000000000000"

/* An llm: section on line 3 (its keys from column 6), with more keys after model. */
#define LLM_OL HEAD "llm: {provider: ollama, base_url: 'http://h', model: m"
/* An llm: section in block style, api_key_env on line 7 (its value at column 16). */
#define LLM_KEY(V)                                                            \
  HEAD "llm:\n  provider: openai\n  base_url: http://h/v1\n  model: m\n"              \
       "  api_key_env: " V "\n" AGENT_A

static const refusal refusals[] = {
    {"unknown top-level key", HEAD "colour: blue\n" AGENT_A, 3, 1,
     "unknown key 'colour' (expected: name, entry, approval_timeout, max_agent_runs, max_tool_calls, "
     "rosters, fields, servers, inject, gate, retry, escalation, agents, budget, llm)"},
    {"llm: not a mapping", HEAD "llm: openai\n" AGENT_A, 3, 6, "llm: expected a mapping"},
    {"llm: an unknown key",
     HEAD "llm: {provider: openai, base_url: 'http://h', model: m, key: k}\n" AGENT_A, 3, 57,
     "llm: unknown key 'key' (expected: provider, base_url, model, api_key_env, stream, "
     "structured, timeout, low_speed)"},
    {"llm: no provider", HEAD "llm: {base_url: 'http://h', model: m}\n" AGENT_A, 3, 6,
     "llm: missing key 'provider' (openai or ollama)"},
    {"llm: an unknown provider",
     HEAD "llm: {provider: claude, base_url: 'http://h', model: m}\n" AGENT_A, 3, 17,
     "llm.provider: expected a provider (openai, ollama), found 'claude'"},
    {"llm: no base URL", HEAD "llm: {provider: ollama, model: m}\n" AGENT_A, 3, 6,
     "llm: missing key 'base_url' (there is no default endpoint)"},
    {"llm: a base URL without a scheme",
     HEAD "llm: {provider: ollama, base_url: '127.0.0.1:11434', model: m}\n" AGENT_A, 3, 35,
     "llm.base_url: expected an http:// or https:// URL with a host and no space (there is "
     "no default endpoint), found '127.0.0.1:11434'"},
    {"llm: an ftp base URL",
     HEAD "llm: {provider: ollama, base_url: 'ftp://h', model: m}\n" AGENT_A, 3, 35,
     "llm.base_url: expected an http:// or https:// URL"},
    {"llm: a base URL without a host",
     HEAD "llm: {provider: ollama, base_url: 'https://', model: m}\n" AGENT_A, 3, 35,
     "found 'https://'"},
    {"llm: a base URL with a space",
     HEAD "llm: {provider: ollama, base_url: 'http://h/a b', model: m}\n" AGENT_A, 3, 35,
     "found 'http://h/a b'"},
    {"llm: a base URL that is a list",
     HEAD "llm: {provider: ollama, base_url: [x], model: m}\n" AGENT_A, 3, 35,
     "llm.base_url: expected text, found a list"},
    {"llm: no model", HEAD "llm: {provider: ollama, base_url: 'http://h'}\n" AGENT_A, 3, 6,
     "llm: missing key 'model' (the model's name, priced by it)"},
    {"llm: a null model", HEAD "llm: {provider: ollama, base_url: 'http://h', model: ~}\n" AGENT_A,
     3, 54, "llm.model: expected text, found nothing (null)"},
    {"llm: a key instead of its variable", LLM_KEY("'sk-abc123'"), 7, 16,
     "llm.api_key_env: expected the name of an environment variable (letters, digits and '_', "
     "not a digit first; the key itself never goes in app.yaml), found 'sk-abc123'"},
    {"llm: a variable starting with a digit", LLM_KEY("9KEY"), 7, 16, "found '9KEY'"},
    {"llm: a variable with a dollar", LLM_KEY("$KEY"), 7, 16, "found '$KEY'"},
    {"llm: a variable with a tilde", LLM_KEY("KEY~1"), 7, 16, "found 'KEY~1'"},
    {"llm: a variable with an at", LLM_KEY("K@Y"), 7, 16, "found 'K@Y'"},
    {"llm: a variable that is a list", LLM_KEY("[K]"), 7, 16, "llm.api_key_env: expected text"},
    {"llm: a low speed in words", LLM_OL ", low_speed: fast}\n" AGENT_A,
     3, 68, "found 'fast'"},
    {"llm: an empty variable name", LLM_KEY("''"), 7, 16, "found ''"},
    {"llm: stream not a boolean", LLM_OL ", stream: yes}\n" AGENT_A,
     3, 65, "llm.stream: expected true or false"},
    {"llm: structured not a boolean", LLM_OL ", structured: 1}\n" AGENT_A,
     3, 69, "llm.structured: expected true or false"},
    {"llm: a timeout past 600s", LLM_OL ", timeout: 11m}\n" AGENT_A,
     3, 66, "llm.timeout: expected a duration"},
    {"llm: a low speed without bytes", LLM_OL ", low_speed: 30s}\n" AGENT_A,
     3, 68, "llm.low_speed: expected a low-speed limit: bytes and a window (\"1B/30s\", "
     "\"100B/10s\"), a window of at most 600s, found '30s'"},
    {"llm: a low speed of zero bytes", LLM_OL ", low_speed: 0B/30s}\n" AGENT_A,
     3, 68, "found '0B/30s'"},
    {"llm: a low speed without a window", LLM_OL ", low_speed: 1B/}\n" AGENT_A,
     3, 68, "found '1B/'"},
    {"llm: a low speed of too many bytes", LLM_OL ", low_speed: 1234567890B/1s}\n" AGENT_A,
     3, 68, "found '1234567890B/1s'"},
    {"llm: a low speed in kilobytes", LLM_OL ", low_speed: 1KB/1s}\n" AGENT_A,
     3, 68, "found '1KB/1s'"},
    {"llm: a low speed that is a list", LLM_OL ", low_speed: [1]}\n" AGENT_A,
     3, 68, "llm.low_speed: expected a low-speed limit"},
    {"budget: a negative limit", HEAD "budget: {daily_limit: -1}\n" AGENT_A, 3, 23,
     "budget.daily_limit: expected a dollar amount like 5.00 (at most six decimals, at most "
     "1000000000), found '-1'"},
    {"budget: a zero estimate", HEAD "budget: {cycle_estimate: 0}\n" AGENT_A, 3, 26,
     "budget.cycle_estimate: expected a dollar amount like 5.00 (at most six decimals, at most "
     "1000000000), above 0, found '0'"},
    {"budget: finer than a micro-dollar", HEAD "budget: {daily_limit: 0.0000001}\n" AGENT_A, 3,
     23, "budget.daily_limit: expected a dollar amount"},
    {"budget: an unknown key", HEAD "budget: {limit: 5}\n" AGENT_A, 3, 10,
     "budget: unknown key 'limit' (expected: daily_limit, cycle_estimate)"},
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
    /* The top level and keys. */
    {"no name", "entry: a\n" AGENT_A, 1, 1, "missing key 'name' (the app's name)"},
    {"entry not a name", "name: t\nentry: [a]\n" AGENT_A, 2, 8,
     "entry: expected a name, found a list"},
    {"a list as a key", HEAD "? [x]\n: 1\n" AGENT_A, 3, 3,
     "expected a key name as the key, found a list"},
    {"a null key", HEAD "~: 1\n" AGENT_A, 3, 1,
     "expected a key name as the key, found nothing (null)"},
    {"an alias as a key", HEAD "*k : 1\n" AGENT_A, 3, 1, "aliases (*k) are not supported"},
    {"a key given twice", "name: t\nname: u\nentry: a\n" AGENT_A, 2, 1,
     "key 'name' given twice (first at 1:1)"},
    {"a list as a roster name", HEAD "rosters: {? [a] : [x], b: [y]}\n" AGENT_A, 3, 13,
     "rosters: expected a roster name as the key, found a list"},
    {"an alias for a section", HEAD "gate: *g\n" AGENT_A, 3, 7, "aliases (*g) are not supported"},
    /* What a value is, in messages. */
    {"a mapping for a list", HEAD "rosters: {r: {x: 1}}\n" AGENT_A, 3, 14,
     "rosters.r: expected a list of values, found a mapping"},
    {"null for a list", HEAD "rosters: {r: ~}\n" AGENT_A, 3, 14,
     "rosters.r: expected a list of values, found nothing (null)"},
    {"a long value quoted back", HEAD "rosters: {r: " X60 "}\n" AGENT_A, 3, 14,
     "found '" X48 "...'"},
    {"a list for a number", HEAD "max_agent_runs: [1]\n" AGENT_A, 3, 17,
     "max_agent_runs: expected a whole number from 1 to 256, found a list"},
    {"null for a name", "name: ~\nentry: a\n" AGENT_A, 1, 7,
     "name: expected a name, found nothing (null)"},
    {"'null' for a name", "name: null\nentry: a\n" AGENT_A, 1, 7, "found nothing (null)"},
    {"'Null' for a name", "name: Null\nentry: a\n" AGENT_A, 1, 7, "found nothing (null)"},
    {"'NULL' for a name", "name: NULL\nentry: a\n" AGENT_A, 1, 7, "found nothing (null)"},
    {"nothing for a name", "entry: a\nname:\n" AGENT_A, 2, 6, "found nothing (null)"},
    /* Names. */
    {"a name starting with a digit", "name: 9a\nentry: a\n" AGENT_A, 1, 7,
     "'9a' is not a name"},
    {"a name with '~'", "name: a~\nentry: a\n" AGENT_A, 1, 7, "'a~' is not a name"},
    {"a name with '^'", "name: A^\nentry: a\n" AGENT_A, 1, 7, "'A^' is not a name"},
    {"a name with '.'", "name: a.b\nentry: a\n" AGENT_A, 1, 7, "'a.b' is not a name"},
    {"a name with ':'", "name: a:b\nentry: a\n" AGENT_A, 1, 7, "'a:b' is not a name"},
    /* Text. */
    {"a control character",
     HEAD "servers: {s: {tools: {t: {description: \"a\\x01b\", risk: low}}}}\n" AGENT_A, 3, 40,
     "servers.s.tools.t.description: a control character (0x01) in the text"},
    {"a DEL", HEAD "servers: {s: {tools: {t: {description: \"a\\x7fb\", risk: low}}}}\n" AGENT_A,
     3, 40, "a control character (0x7F) in the text"},
    {"a NUL byte by an escape", HEAD "max_agent_runs: \"a\\0b\"\n" AGENT_A, 3, 17,
     "a NUL byte inside a value"},
    /* Numbers, whole numbers, booleans, durations. */
    {"a number of letters", HEAD "gate: {min_confidence: abc}\n" AGENT_A, 3, 24,
     "gate.min_confidence: expected a number from 0 to 1, found 'abc'"},
    {"a number without digits", HEAD "gate: {min_confidence: +.}\n" AGENT_A, 3, 24,
     "expected a number from 0 to 1, found '+.'"},
    {"a number past a double", HEAD "gate: {min_confidence: 1e999}\n" AGENT_A, 3, 24,
     "expected a number from 0 to 1, found '1e999'"},
    {"a number with a sign inside", HEAD "gate: {min_confidence: 1-2}\n" AGENT_A, 3, 24,
     "expected a number from 0 to 1, found '1-2'"},
    {"a number below its range", HEAD "gate: {min_confidence: -0.5}\n" AGENT_A, 3, 24,
     "expected a number from 0 to 1, found '-0.5'"},
    {"a whole number of ten digits", HEAD "max_agent_runs: 1234567890\n" AGENT_A, 3, 17,
     "expected a whole number from 1 to 256, found '1234567890'"},
    {"a whole number with a letter", HEAD "max_agent_runs: 12a\n" AGENT_A, 3, 17,
     "expected a whole number from 1 to 256, found '12a'"},
    {"a whole number below its range", HEAD "max_agent_runs: 0\n" AGENT_A, 3, 17,
     "expected a whole number from 1 to 256, found '0'"},
    {"a whole number above its range", HEAD "max_agent_runs: 300\n" AGENT_A, 3, 17,
     "expected a whole number from 1 to 256, found '300'"},
    {"a quoted boolean", HEAD "retry: {transient: 'true'}\n" AGENT_A, 3, 20,
     "retry.transient: expected true or false, found the quoted text 'true'"},
    {"a list for a duration", HEAD "approval_timeout: [1]\n" AGENT_A, 3, 19,
     "approval_timeout: expected a duration: a whole number and ms, s, m, h or d (\"90s\", "
     "\"30m\"), found a list"},
    {"a duration without digits", HEAD "approval_timeout: m5\n" AGENT_A, 3, 19,
     "of at most 30 days, found 'm5'"},
    {"a duration of 13 digits", HEAD "approval_timeout: 1234567890123s\n" AGENT_A, 3, 19,
     "found '1234567890123s'"},
    {"a duration in years", HEAD "approval_timeout: 5y\n" AGENT_A, 3, 19, "found '5y'"},
    {"a duration past its cap", HEAD "approval_timeout: 31d\n" AGENT_A, 3, 19,
     "of at most 30 days, found '31d'"},
    /* Rosters. */
    {"a roster name that is not a name", HEAD "rosters: {a b: [x]}\n" AGENT_A, 3, 11,
     "rosters: 'a b' is not a name"},
    {"an empty roster", HEAD "rosters: {r: []}\n" AGENT_A, 3, 14,
     "rosters.r: a roster needs at least one value"},
    {"a list as a roster value", HEAD "rosters: {r: [[x]]}\n" AGENT_A, 3, 15,
     "rosters.r: expected text, found a list"},
    /* Fields. */
    {"fields as a list", HEAD "fields: [a]\n" AGENT_A, 3, 9,
     "fields: expected a mapping of field names, found a list"},
    {"a field name that is not a name", HEAD "fields: {a b: {type: string}}\n" AGENT_A, 3, 10,
     "fields: 'a b' is not a name"},
    {"a field that is not a mapping", HEAD "fields: {x: 1}\n" AGENT_A, 3, 13,
     "fields.x: expected a mapping (keys: type, roster, default), found '1'"},
    {"a field without a type", HEAD "fields: {x: {default: a}}\n" AGENT_A, 3, 13,
     "fields.x: missing key 'type' (string, number, integer, boolean, object or array)"},
    {"a field of an unknown type", HEAD "fields: {x: {type: str}}\n" AGENT_A, 3, 20,
     "fields.x.type: expected a type (string, number, integer, boolean, object, array), "
     "found 'str'"},
    {"a field roster that is not a name", HEAD "fields: {x: {type: string, roster: [r]}}\n" AGENT_A,
     3, 36, "fields.x.roster: expected a name, found a list"},
    {"a number field's default", HEAD "fields: {x: {type: number, default: x}}\n" AGENT_A, 3, 37,
     "fields.x.default: expected a number from -1e+15 to 1e+15, found 'x'"},
    {"an integer field's default", HEAD "fields: {x: {type: integer, default: -1}}\n" AGENT_A, 3,
     38, "fields.x.default: expected a whole number from 0 to 999999999, found '-1'"},
    {"a boolean field's default", HEAD "fields: {x: {type: boolean, default: yes}}\n" AGENT_A, 3,
     38, "fields.x.default: expected true or false, found 'yes'"},
    {"an object field's default", HEAD "fields: {x: {type: object, default: x}}\n" AGENT_A, 3, 37,
     "fields.x.default: only a string, number, integer or boolean field has a default"},
    {"a number default too long to keep",
     HEAD "fields: {x: {type: number, default: 0" O12 O12 O12 O12 O12 "0000000001}}\n" AGENT_A,
     3, 37,
     "fields.x.default: text of 71 bytes: the cap is 63"},
    /* Escalation. */
    {"escalation as a list", HEAD "escalation: [x]\n" AGENT_A, 3, 13,
     "escalation: expected a mapping (keys: roster, default_team, legacy_tools), found a list"},
    {"an escalation roster that is not a name", HEAD "escalation: {roster: [r]}\n" AGENT_A, 3, 22,
     "escalation.roster: expected a name, found a list"},
    {"a default team that is not text",
     HEAD "rosters: {teams: [a]}\nescalation: {roster: teams, default_team: [a]}\n" AGENT_A, 4, 43,
     "escalation.default_team: expected text, found a list"},
    {"a default team without a roster", HEAD "escalation: {default_team: a}\n" AGENT_A, 3, 28,
     "escalation.default_team: a default team needs escalation.roster to check it against"},
    {"legacy tools not a list", HEAD "escalation: {legacy_tools: x}\n" AGENT_A, 3, 28,
     "escalation.legacy_tools: expected a list of tools, found 'x'"},
    {"a legacy tool listed twice",
     HEAD "servers: {s: {tools: {t: {description: d, risk: low}}}}\n"
          "escalation: {legacy_tools: [s:t, t]}\n" AGENT_A,
     4, 34, "escalation.legacy_tools: s:t listed twice"},
    /* A tool's arguments. */
    {"an argument name that is not a name", TOOL_ARGS("{a b: {type: string}}"), 3, 61,
     "servers.s.tools.t.args: 'a b' is not a name"},
    {"an argument that is not a mapping", TOOL_ARGS("{x: 1}"), 3, 64,
     "servers.s.tools.t.args.x: expected a mapping (keys: type, required, roster), found '1'"},
    {"an argument without a type", TOOL_ARGS("{x: {required: true}}"), 3, 64,
     "servers.s.tools.t.args.x: missing key 'type'"},
    {"an argument of an unknown type", TOOL_ARGS("{x: {type: str}}"), 3, 71,
     "servers.s.tools.t.args.x.type: expected a type (string, number, integer, boolean, object, "
     "array), found 'str'"},
    {"required not a boolean", TOOL_ARGS("{x: {type: string, required: yes}}"), 3, 89,
     "servers.s.tools.t.args.x.required: expected true or false, found 'yes'"},
    {"a roster on an integer argument",
     "rosters: {r: [a]}\n" TOOL_ARGS("{x: {type: integer, roster: r}}"), 4, 88,
     "servers.s.tools.t.args.x.roster: only a string argument can have a roster (this one "
     "is integer)"},
    {"an argument roster that is not a name", TOOL_ARGS("{x: {type: string, roster: [r]}}"), 3, 87,
     "servers.s.tools.t.args.x.roster: expected a name, found a list"},
    {"a roster on an argument of an unknown type", TOOL_ARGS("{x: {type: str, roster: nobody}}"), 3,
     84, "servers.s.tools.t.args.x.roster: unknown roster 'nobody' (rosters are: none)"},
    /* Tools and servers. */
    {"a tool name that is not a name",
     HEAD "servers: {s: {tools: {a b: {description: d, risk: low}}}}\n" AGENT_A, 3, 23,
     "servers.s.tools: 'a b' is not a name"},
    {"a tool that is not a mapping", HEAD "servers: {s: {tools: {t: 1}}}\n" AGENT_A, 3, 26,
     "servers.s.tools.t: expected a mapping (keys: description, risk, args), found '1'"},
    {"a tool without a description", HEAD "servers: {s: {tools: {t: {risk: low}}}}\n" AGENT_A,
     3, 26, "servers.s.tools.t: missing key 'description' (what the tool does, for the model)"},
    {"an empty description", HEAD "servers: {s: {tools: {t: {description: '', risk: low}}}}\n"
     AGENT_A, 3, 40, "servers.s.tools.t.description: an empty description"},
    {"a list as a description", HEAD "servers: {s: {tools: {t: {description: [d], risk: low}}}}\n"
     AGENT_A, 3, 40, "servers.s.tools.t.description: expected text, found a list"},
    {"a list as a risk", HEAD "servers: {s: {tools: {t: {description: d, risk: [x]}}}}\n" AGENT_A,
     3, 49, "servers.s.tools.t.risk: expected a risk (low, medium, high), found a list"},
    {"arguments as a list", TOOL_ARGS("[x]"), 3, 60,
     "servers.s.tools.t.args: expected a mapping of argument names, found a list"},
    {"servers as a list", HEAD "servers: [x]\n" AGENT_A, 3, 10,
     "servers: expected a mapping of server names, found a list"},
    {"a server name that is not a name", HEAD "servers: {a b: {tools: {}}}\n" AGENT_A, 3, 11,
     "servers: 'a b' is not a name"},
    {"a server that is not a mapping", HEAD "servers: {s: 1}\n" AGENT_A, 3, 14,
     "servers.s: expected a mapping (keys: tools), found '1'"},
    {"a server without tools", HEAD "servers: {s: {}}\n" AGENT_A, 3, 14,
     "servers.s.tools: missing (a server declares its tools)"},
    {"a server's tools as a list", HEAD "servers: {s: {tools: [x]}}\n" AGENT_A, 3, 22,
     "servers.s.tools: expected a mapping of tool names, found a list"},
    {"a server without a tool", HEAD "servers: {s: {tools: {}}}\n" AGENT_A, 3, 22,
     "servers.s.tools: a server needs a tool"},
    {"retry not a mapping", HEAD "retry: 1\n" AGENT_A, 3, 8,
     "retry: expected a mapping (keys: max_retries, min_confidence, transient), found '1'"},
    /* References to tools. */
    {"a list as an agent's tool", HEAD "agents:\n  a:\n    prompt: a.md\n    tools: [[x]]\n"
     "    routes: {default: end}\n", 6, 13, "agents.a.tools: expected text, found a list"},
    {"an unknown tool of a server with several",
     HEAD "servers:\n"
          "  s1: {tools: {t: {description: d, risk: low}, u: {description: d, risk: low}}}\n"
          "  s2: {tools: {v: {description: d, risk: low}}}\n"
          "agents:\n  a: {prompt: a.md, tools: [s1:zz], routes: {default: end}}\n",
     7, 29, "agents.a.tools: unknown tool 's1:zz' (server s1 has: t, u)"},
    {"a tool of no server",
     HEAD "agents:\n  a: {prompt: a.md, tools: [nos:t], routes: {default: end}}\n", 4, 29,
     "agents.a.tools: unknown tool 'nos:t': no server 'nos'"},
    /* Injection. */
    {"an id injected into a number",
     HEAD "servers: {s: {tools: {t: {description: d, risk: low, args: {n: {type: number}}}}}}\n"
          "inject: {n: id}\n" AGENT_A,
     4, 13, "inject.n: fills s:t's argument n (number) from id (string)"},
    {"inject as a list", HEAD "inject: [x]\n" AGENT_A, 3, 9,
     "inject: expected a mapping of argument names, found a list"},
    {"an injected name that is not a name", HEAD "inject: {a b: id}\n" AGENT_A, 3, 10,
     "inject: 'a b' is not a name"},
    {"an injected path that is not text", HEAD "inject: {x: [id]}\n" AGENT_A, 3, 13,
     "inject.x: expected text, found a list"},
    /* The gate. */
    {"gate not a mapping", HEAD "gate: 1\n" AGENT_A, 3, 7,
     "gate: expected a mapping (keys: environment_field, production, gated_risk, min_confidence), "
     "found '1'"},
    {"a gate field that is not a name", HEAD "gate: {environment_field: [x]}\n" AGENT_A, 3, 27,
     "gate.environment_field: expected a name, found a list"},
    {"a gate field that is unknown", HEAD "gate: {environment_field: nope}\n" AGENT_A, 3, 27,
     "gate.environment_field: unknown field 'nope' (fields are: none)"},
    {"production not a list", ENV_GATE("prod"), 5, 44,
     "gate.production: expected a list of environments, found 'prod'"},
    {"a list as a production environment", ENV_GATE("[[x]]"), 5, 45,
     "gate.production: expected text, found a list"},
    {"a production environment listed twice", ENV_GATE("[prod, prod]"), 5, 51,
     "gate.production: 'prod' listed twice"},
    {"a list as the gated risk", HEAD "gate: {gated_risk: [x]}\n" AGENT_A, 3, 20,
     "gate.gated_risk: expected a risk (low, medium, high), found a list"},
    {"an unknown gated risk", HEAD "gate: {gated_risk: huge}\n" AGENT_A, 3, 20,
     "gate.gated_risk: expected a risk (low, medium, high), found 'huge'"},
    /* Agents. */
    {"an empty prompt path", HEAD "agents:\n  a: {prompt: '', routes: {default: end}}\n", 4, 15,
     "agents.a.prompt: an empty path (expected a file under the app's directory"},
    {"an empty signal", HEAD "agents:\n  a: {prompt: a.md, routes: {'': end, default: end}}\n", 4,
     30, "agents.a.routes: '' is not a signal"},
    {"a signal too long",
     HEAD "agents:\n  a: {prompt: a.md, routes: {" X48 "abcdefghijklmnop: end, default: end}}\n",
     4, 30,
     "' is not a signal (1 to 63 of a-z, 0-9, '_' and '-')"},
    {"a list as a route target", HEAD "agents:\n  a: {prompt: a.md, routes: {default: [x]}}\n", 4,
     39, "agents.a.routes: expected a name, found a list"},
    {"routes as a list", HEAD "agents:\n  a: {prompt: a.md, routes: [x]}\n", 4, 29,
     "agents.a.routes: expected a mapping of signal names, found a list"},
    {"a list as a signal",
     HEAD "agents:\n  a: {prompt: a.md, routes: {? [x] : end, default: end}}\n", 4, 32,
     "agents.a.routes: expected a signal name as the key, found a list"},
    {"an alias as a signal",
     HEAD "agents:\n  a: {prompt: a.md, routes: {*s : end, default: end}}\n", 4, 30,
     "aliases (*s) are not supported"},
    {"an agent that is not a mapping", HEAD "agents:\n  a: 1\n", 4, 6,
     "agents.a: expected a mapping (keys: prompt, tools, routes, gate, max_calls), found '1'"},
    {"an agent without a prompt", HEAD "agents:\n  a: {routes: {default: end}}\n", 4, 6,
     "agents.a: missing key 'prompt' (the agent's prompt file, such as prompts/a.md)"},
    {"a list as a prompt", HEAD "agents:\n  a: {prompt: [a.md], routes: {default: end}}\n", 4, 15,
     "agents.a.prompt: expected text, found a list"},
    {"an agent's gate not a mapping",
     HEAD "agents:\n  a: {prompt: a.md, gate: 1, routes: {default: end}}\n", 4, 27,
     "agents.a.gate: expected a mapping (keys: min_confidence), found '1'"},
    {"an agent's gate without its confidence",
     HEAD "agents:\n  a: {prompt: a.md, gate: {}, routes: {default: end}}\n", 4, 27,
     "agents.a.gate.min_confidence: missing (the least confidence that does not gate, 0 to 1)"},
    {"no agent at all", HEAD "agents: {}\n", 3, 9, "agents: an app needs at least one agent"},
    {"an agent name that is not a name",
     HEAD "agents:\n  a b: {prompt: b.md, routes: {default: end}}\n"
          "  a: {prompt: a.md, routes: {default: end}}\n",
     4, 3, "agents: 'a b' is not a name"},
    {"an agent called end after the others",
     HEAD "agents:\n  a: {prompt: a.md, routes: {default: end}}\n"
          "  end: {prompt: e.md, routes: {default: end}}\n",
     5, 3, "'end' is the route target that ends a run"},
    {"a string field's default not text", HEAD "fields: {x: {type: string, default: [a]}}\n"
     AGENT_A, 3, 37, "fields.x.default: expected text, found a list"},
    /* Empty collections, each with an error to make the load fail. */
    {"no rosters", HEAD "rosters: {}\nfields: {env: {type: string, roster: envs}}\n" AGENT_A, 4, 38,
     "fields.env.roster: unknown roster 'envs' (rosters are: none)"},
    {"no fields", HEAD "fields: {}\ninject: {env: extra.env}\n" AGENT_A, 4, 15,
     "inject.env: 'extra.env' names no session field (expected id, status, retry_count or "
     "extra.FIELD; fields are: none)"},
    {"no injection", HEAD "inject: {}\n" AGENT_A "colour: blue\n", 8, 1, "unknown key 'colour'"},
    {"no arguments", TOOL_ARGS("{}") "colour: blue\n", 8, 1, "unknown key 'colour'"},
    {"no servers", HEAD "servers: {}\n" "agents:\n  a: {prompt: a.md, tools: [s:t], routes: "
     "{default: end}}\n", 5, 29, "agents.a.tools: unknown tool 's:t': no server 's'"},
    {"no routes", HEAD "agents:\n  a: {prompt: a.md, routes: {}}\n", 4, 29,
     "agents.a.routes: no default route"},
    /* YAML the reader refuses. */
    {"a control character in the file", HEAD "max_agent_runs: \x01\n" AGENT_A, 3, 17,
     "invalid YAML: control characters are not allowed (byte 0x01)"},
    {"a byte that starts no UTF-8", HEAD "max_agent_runs: \xff\n" AGENT_A, 3, 17,
     "invalid YAML: invalid leading UTF-8 octet (byte 0xFF)"},
    {"a directive given twice", "%YAML 1.1\n%YAML 1.1\n---\n" MIN, 2, 1,
     "invalid YAML: found duplicate %YAML directive"},
};

/* The llm: section: every key, and the least of it. */
static void test_llm(void **state) {
  (void)state;
  as_app *a = load_ok(HEAD
                      "llm:\n"
                      "  provider: openai\n"
                      "  base_url: https://api.example.com/v1\n"
                      "  model: gpt-4o-mini\n"
                      "  api_key_env: OPENAI_API_KEY_2z\n"
                      "  stream: true\n"
                      "  structured: true\n"
                      "  timeout: 90s\n"
                      "  low_speed: 100B/10s\n" AGENT_A);
  assert_true(a->llm.present);
  assert_int_equal(a->llm.provider, AS_WIRE_OPENAI);
  assert_string_equal(a->llm.base_url, "https://api.example.com/v1");
  assert_string_equal(a->llm.model, "gpt-4o-mini");
  assert_string_equal(a->llm.api_key_env, "OPENAI_API_KEY_2z");
  assert_true(a->llm.stream && a->llm.structured);
  assert_true(a->llm.timeout_ns == 90ull * 1000000000ull);
  assert_int_equal(a->llm.low_speed_bytes, 100);
  assert_true(a->llm.low_speed_ns == 10ull * 1000000000ull);
  as_app_free(a);
  a = load_ok(HEAD "llm: {provider: ollama, base_url: 'http://127.0.0.1:11434', model: "
                   "'llama3.1:8b', timeout: 600s, low_speed: 1B/600s}\n" AGENT_A);
  assert_int_equal(a->llm.provider, AS_WIRE_OLLAMA);
  assert_string_equal(a->llm.model, "llama3.1:8b");
  assert_string_equal(a->llm.api_key_env, "");
  assert_false(a->llm.stream || a->llm.structured);
  assert_true(a->llm.timeout_ns == 600ull * 1000000000ull);
  assert_int_equal(a->llm.low_speed_bytes, 1);
  as_app_free(a);
  /* every error of the section at once, each at its place */
  assert_int_equal(
      load_bad(HEAD "llm: {provider: x, base_url: y, model: ~, timeout: 0s}\n" AGENT_A), 4);
}

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

/* Load yaml expecting AS_PARSE with an error at line:col holding fragment. */
static void refuse(const char *yaml, unsigned line, unsigned col, const char *fragment) {
  load_bad(yaml);
  expect_err(line, col, fragment);
}

/* Refusals whose text is built, and those where what is left out matters. */
static void test_refusals_built(void **state) {
  (void)state;
  enum { CAP = 64 * 1024 };
  char *y = malloc(CAP);
  assert_non_null(y);
  /* A description past its cap (AS_APP_DESC_MAX - 1 bytes). */
  size_t n = (size_t)snprintf(y, CAP, "%sservers: {s: {tools: {t: {risk: low, description: ", MIN);
  memset(y + n, 'x', 600);
  snprintf(y + n + 600, CAP - n - 600, "}}}}\n");
  refuse(y, 7, 51, "servers.s.tools.t.description: text of 600 bytes: the cap is 511");
  /* One app tool past the cap (AS_APP_TOOLS_MAX with the runtime's). */
  n = (size_t)snprintf(y, CAP, "%sservers:\n  s:\n    tools:\n", MIN);
  for (unsigned i = 0; i <= AS_APP_TOOLS_MAX - AS_APP_BUILTIN_TOOLS; i++)
    n += (size_t)snprintf(y + n, CAP - n, "      t%u: {description: d, risk: low}\n", i);
  assert_int_equal(load_bad(y), 1);
  expect_err(10 + AS_APP_TOOLS_MAX - AS_APP_BUILTIN_TOOLS, 7,
             "servers.s.tools: more than 124 app tools (the cap is 128 with the runtime's 4)");
  /* Routes past the cap: AS_APP_ROUTES_MAX + 1 besides default (no default either). */
  n = (size_t)snprintf(y, CAP, "%sagents:\n  a:\n    prompt: a.md\n    routes:\n", HEAD);
  for (unsigned i = 0; i <= AS_APP_ROUTES_MAX; i++)
    n += (size_t)snprintf(y + n, CAP - n, "      s%u: a\n", i);
  assert_int_equal(load_bad(y), 2);
  expect_err(7 + AS_APP_ROUTES_MAX, 7, "agents.a.routes: more than 16 routes besides default");
  expect_err(7, 7, "agents.a.routes: no default route");
  free(y);

  /* A default team whose roster is unknown: the roster's error alone. */
  assert_int_equal(load_bad(HEAD "escalation: {roster: nobody, default_team: a}\n" AGENT_A), 1);
  expect_err(3, 22, "escalation.roster: unknown roster 'nobody' (rosters are: none)");
  /* A default route to an unknown agent: that error, not "no default route". */
  assert_int_equal(load_bad(HEAD "agents:\n  a: {prompt: a.md, routes: {default: nowhere}}\n"), 1);
  expect_err(4, 39, "route 'default' goes to unknown agent 'nowhere' (agents are: a;");
  /* An alias for the gated risk: the alias's error alone. */
  assert_int_equal(load_bad(HEAD "gate: {gated_risk: *r}\n" AGENT_A), 1);
  expect_err(3, 20, "aliases (*r) are not supported");
  /* A UTF-8 sequence the file ends inside: no byte to show. */
  assert_int_equal(load_bad(HEAD AGENT_A "# caf\xc3"), 1);
  expect_err(7, 6, "invalid YAML: incomplete UTF-8 octet sequence");
  assert_null(strstr(D.items[0].message, "(byte"));
  /* A NUL byte in the text itself. */
  static const char nul[] = "name: t\0\nentry: a\n" AGENT_A;
  as_app *a = (as_app *)1;
  assert_int_equal(as_app_load_text(nul, sizeof nul - 1, "t.yaml", "/x", AS_APP_NO_PROMPTS, &a,
                                    &D),
                   AS_PARSE);
  assert_null(a);
  assert_int_equal(D.n, 1);
  expect_err(1, 8, "invalid YAML: control characters are not allowed (byte 0x00)");
}

/* Values at the edges of what is accepted, and what they load as. */
static void test_accepts(void **state) {
  (void)state;
  as_app *a = load_ok(
      "name: A_b-9\n"
      "entry: a\n"
      "approval_timeout: 500ms\n"
      "max_agent_runs: 256\n"
      "budget: {daily_limit: 0.000001, cycle_estimate: 1000000000}\n"
      "rosters: {r: ['q\"uote', 'back\\slash', \"tab\\there\"], envs: [dev, prod]}\n"
      "fields:\n"
      "  num: {type: number, default: 1.5}\n"
      "  cnt: {type: integer, default: 3}\n"
      "  flag: {type: boolean, default: false}\n"
      "  env: {type: string, roster: envs, default: dev}\n"
      "  pick: {type: string, roster: r}\n"
      "servers:\n"
      "  s:\n"
      "    tools:\n"
      "      t: {description: \"line one\\nline\\ttwo\", risk: medium, args: ~}\n"
      "      u:\n"
      "        description: d\n"
      "        risk: high\n"
      "        args:\n"
      "          n: {type: number}\n"
      "          c: {type: integer, required: true}\n"
      "          w: {type: string, roster: r, required: false}\n"
      "inject: {n: retry_count, c: retry_count}\n"
      "gate: {environment_field: env, production: [prod], gated_risk: medium, "
      "min_confidence: 0.25}\n"
      "retry: {max_retries: 0, min_confidence: 0, transient: false}\n"
      "agents:\n"
      "  a:\n"
      "    prompt: ab/.x.md\n"
      "    tools: ~\n"
      "    routes: {default: b, go-on_2: b}\n"
      "    max_calls: 64\n"
      "  b: {prompt: .a/x.md, tools: [s:t, u], gate: {min_confidence: 1},\n"
      "      routes: {default: end}}\n");
  assert_string_equal(a->name, "A_b-9");
  assert_true(a->approval_timeout_ns == 500000000ull);
  assert_int_equal(a->max_agent_runs, 256);
  int r = roster(a, "r");
  assert_int_equal(a->rosters[r].nvalues, 3);
  assert_string_equal(a->rosters[r].values[0], "q\"uote");
  assert_string_equal(a->rosters[r].values[1], "back\\slash");
  assert_string_equal(a->rosters[r].values[2], "tab\there");
  assert_int_equal(a->nfields, 5);
  assert_int_equal(a->fields[0].type, AS_ARG_NUMBER);
  assert_true(a->fields[0].has_default);
  assert_string_equal(a->fields[0].default_value, "1.5");
  assert_int_equal(a->fields[1].type, AS_ARG_INTEGER);
  assert_string_equal(a->fields[1].default_value, "3");
  assert_int_equal(a->fields[2].type, AS_ARG_BOOLEAN);
  assert_string_equal(a->fields[2].default_value, "false");
  assert_true(a->fields[3].has_default);
  assert_false(a->fields[4].has_default);
  assert_int_equal(a->fields[4].roster, r);
  assert_string_equal(tool(a, "s:t")->description, "line one\nline\ttwo");
  assert_int_equal(tool(a, "s:t")->risk, AS_RISK_MEDIUM);
  assert_int_equal(tool(a, "s:t")->nargs, 0);
  const as_app_tool *u = tool(a, "s:u");
  assert_int_equal(u->nargs, 3);
  assert_true(arg(u, "c")->required);
  assert_false(arg(u, "n")->required || arg(u, "w")->required);
  assert_int_equal(arg(u, "w")->roster, r);
  /* retry_count (an integer) fills an integer and a number argument alike. */
  assert_int_equal(a->ninject, 2);
  assert_int_equal(a->inject[0].src, AS_INJECT_RETRY_COUNT);
  assert_int_equal(a->inject[0].field, -1);
  assert_int_equal(arg(u, "n")->injected, 0);
  assert_int_equal(arg(u, "c")->injected, 1);
  assert_int_equal(a->gate.env_field, 3);
  assert_int_equal(a->gate.nproduction, 1);
  assert_int_equal(a->gate.gated_risk, AS_RISK_MEDIUM);
  assert_true(a->gate.min_confidence == 0.25);
  assert_int_equal(a->retry.max_retries, 0);
  assert_true(a->retry.min_confidence == 0 && !a->retry.transient);
  const as_app_agent *ag = agent(a, "a");
  assert_string_equal(ag->prompt_path, "ab/.x.md");
  assert_int_equal(ag->ntools, 0);
  assert_int_equal(ag->max_calls, 64);
  assert_string_equal(route(a, ag, "go-on_2"), "b");
  const as_app_agent *b = agent(a, "b");
  assert_string_equal(b->prompt_path, ".a/x.md");
  assert_int_equal(b->ntools, 2);
  assert_true(b->has_gate && b->gate_min_confidence == 1);
  /* The schema a model sees: roster values escaped, injected arguments left out. */
  json_t *j = schema(a, "s:u");
  json_t *e = json_object_get(json_object_get(json_object_get(j, "properties"), "w"), "enum");
  assert_int_equal(json_array_size(e), 3);
  assert_string_equal(json_string_value(json_array_get(e, 0)), "q\"uote");
  assert_string_equal(json_string_value(json_array_get(e, 1)), "back\\slash");
  assert_string_equal(json_string_value(json_array_get(e, 2)), "tab\there");
  assert_false(schema_has(j, "n") || schema_has(j, "c"));
  assert_int_equal(json_array_size(json_object_get(j, "required")), 0);
  json_decref(j);
  j = schema(a, "s:t");
  assert_int_equal(json_object_size(json_object_get(j, "properties")), 0);
  json_decref(j);
  as_app_free(a);

  /* Durations in every unit, up to the cap of 30 days. */
  static const struct {
    const char *text;
    uint64_t ns;
  } durations[] = {{"90s", 90000000000ull}, {"2h", 7200000000000ull},
                   {"1d", 86400000000000ull}, {"30d", 30ull * 86400000000000ull}};
  for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
    char y[256];
    snprintf(y, sizeof y, HEAD "approval_timeout: %s\n" AGENT_A, durations[i].text);
    a = load_ok(y);
    assert_true(a->approval_timeout_ns == durations[i].ns);
    as_app_free(a);
  }
}

/* The schema of a tool the caller made up: a roster index past the app's
** rosters gives no enum; too many arguments, or a NULL anywhere, is AS_INVAL. */
static void test_schema_args(void **state) {
  (void)state;
  as_app *a = load_ok(HEAD "rosters: {r: [x]}\n"
                           "servers: {s: {tools: {t: {description: d, risk: low, args: "
                           "{w: {type: string, roster: r, required: true}}}}}}\n" AGENT_A);
  as_app_tool *t = malloc(sizeof *t);
  assert_non_null(t);
  memcpy(t, tool(a, "s:t"), sizeof *t);
  char *text = (char *)1;
  assert_int_equal(as_app_tool_schema(a, t, &text), AS_OK);
  assert_non_null(strstr(text, "\"enum\":[\"x\"]"));
  as_free(text);
  t->args[0].roster = 99;
  assert_int_equal(as_app_tool_schema(a, t, &text), AS_OK);
  assert_string_equal(text, "{\"type\":\"object\",\"properties\":{\"w\":{\"type\":\"string\"}},"
                            "\"required\":[\"w\"],\"additionalProperties\":false}");
  as_free(text);
  t->nargs = AS_APP_TOOL_ARGS_MAX + 1;
  text = (char *)1;
  assert_int_equal(as_app_tool_schema(a, t, &text), AS_INVAL);
  assert_null(text);
  text = (char *)1;
  assert_int_equal(as_app_tool_schema(a, NULL, &text), AS_INVAL);
  assert_null(text);
  assert_int_equal(as_app_tool_schema(a, a->tools, NULL), AS_INVAL);
  free(t);
  as_app_free(a);
}

/* The loaders' arguments: NULLs, a directory path past its cap, no file name. */
static void test_load_args(void **state) {
  (void)state;
  const char *y = MIN;
  size_t len = strlen(y);
  as_app *a = (as_app *)1;
  assert_int_equal(as_app_load_text(y, len, "t.yaml", NULL, 0, &a, &D), AS_INVAL);
  assert_null(a);
  assert_int_equal(as_app_load_text(y, len, "t.yaml", "/x", 0, NULL, &D), AS_INVAL);
  a = (as_app *)1;
  assert_int_equal(as_app_load_text(y, len, "t.yaml", "/x", 0, &a, NULL), AS_INVAL);
  assert_null(a);
  assert_int_equal(as_app_load(APPS "/incident", NULL, &D), AS_INVAL);
  a = (as_app *)1;
  assert_int_equal(as_app_load(APPS "/incident", &a, NULL), AS_INVAL);
  assert_null(a);
  /* A directory path of AS_APP_PATH_MAX bytes: refused, by both. */
  char dir[AS_APP_PATH_MAX + 1];
  memset(dir, 'd', AS_APP_PATH_MAX);
  dir[0] = '/';
  dir[AS_APP_PATH_MAX] = '\0';
  assert_int_equal(as_app_load_text(y, len, "t.yaml", dir, 0, &a, &D), AS_INVAL);
  assert_null(a);
  assert_int_equal(D.n, 1);
  assert_string_equal(D.items[0].file, "t.yaml");
  assert_string_equal(D.items[0].message, "the app's directory path is longer than 255 bytes");
  assert_int_equal(as_app_load(dir, &a, &D), AS_INVAL);
  assert_null(a);
  assert_int_equal(D.n, 1);
  assert_string_equal(D.items[0].file, "app.yaml");
  assert_string_equal(D.items[0].message, "the app's directory path is longer than 255 bytes");
  /* One byte shorter, it is looked for (and not there). */
  dir[AS_APP_PATH_MAX - 1] = '\0';
  assert_int_equal(as_app_load(dir, &a, &D), AS_NOTFOUND);
  assert_non_null(strstr(D.items[0].message, "cannot read: No such file"));
  /* No file name: the items say app.yaml. */
  const char *bad = "name: t\n";
  assert_int_equal(as_app_load_text(bad, strlen(bad), NULL, "/x", 0, &a, &D), AS_PARSE);
  assert_true(D.n > 0);
  for (size_t i = 0; i < D.n; i++) assert_string_equal(D.items[i].file, "app.yaml");
  /* The empty directory path is the root's app.yaml. */
  assert_int_equal(as_app_load("", &a, &D), AS_NOTFOUND);
  assert_string_equal(D.items[0].file, "/app.yaml");
}

/* The YAML tree's caps: nodes, and an alias where the cap or the text arena
** runs out. */
static void test_yaml_caps(void **state) {
  (void)state;
  size_t cap = 3 * AS_APP_NODES_MAX + 64;
  char *y = malloc(cap);
  assert_non_null(y);
  /* A list of AS_APP_NODES_MAX items: with the list, one node too many. Each
  ** item is two bytes ("a,"), the k-th at column 2k. */
  size_t n = 0;
  y[n++] = '[';
  for (unsigned i = 0; i < AS_APP_NODES_MAX; i++) {
    y[n++] = 'a';
    y[n++] = ',';
  }
  y[n - 1] = ']';
  y[n] = '\0';
  assert_int_equal(load_bad(y), 1);
  expect_err(1, 2 * AS_APP_NODES_MAX,
             "more than 16384 YAML nodes (values, mappings and lists): the cap of an app");
  /* The same with an alias as the node too many. */
  memcpy(y + n - 2, "*x]", 4);
  assert_int_equal(load_bad(y), 2);
  expect_err(1, 2 * AS_APP_NODES_MAX, "aliases (*x) are not supported");
  expect_err(1, 2 * AS_APP_NODES_MAX, "more than 16384 YAML nodes");
  free(y);
}

/* An alias right where the text arena is full: failing its growth is
** AS_NOMEM, as is every other allocation of the load, and nothing leaks. */
static void test_nomem_alias(void **state) {
  (void)state;
  /* Four scalars of 1023 bytes fill the first 4096 bytes of text exactly. */
  char y[4 * 1024 + 16];
  size_t n = 0;
  y[n++] = '[';
  for (int i = 0; i < 4; i++) {
    memset(y + n, 'a' + i, 1023);
    n += 1023;
    y[n++] = ',';
  }
  memcpy(y + n, "*x]", 4);
  n += 3;
  for (unsigned long k = 1;; k++) {
    size_t live = fw_live_blocks();
    as_app *a = (as_app *)1;
    fw_countdown(FW_ALLOC, k, ENOMEM, 0);
    int rc = as_app_load_text(y, n, "t.yaml", "/x", AS_APP_NO_PROMPTS, &a, &D);
    fw_disarm();
    assert_null(a);
    assert_int_equal(fw_live_blocks(), live);
    if (!fw_fired()) {
      assert_int_equal(rc, AS_PARSE);
      expect_err(1, 4 * 1024 + 2, "aliases (*x) are not supported");
      expect_err(1, 1, "expected a mapping (keys: name, entry");
      break;
    }
    if (rc != AS_NOMEM) fail_msg("failing allocation %lu gave %s", k, as_status_name(rc));
  }
}

/* A formatting call that fails (vsnprintf's -1) costs that text, never the
** error or its place; a message that does not fit is cut and ends in "...". */
static void test_format_failures(void **state) {
  (void)state;
  const char *y = HEAD "max_agent_runs: many\n" AGENT_A;
  const char *full = "max_agent_runs: expected a whole number from 1 to 256, found 'many'";
  bool lost_detail = false, lost_all = false;
  for (unsigned long k = 1;; k++) {
    as_app *a = (as_app *)1;
    fw_countdown(FW_BIT(VSNPRINTF), k, EOVERFLOW, 0);
    int rc = as_app_load_text(y, strlen(y), "t.yaml", "/x", AS_APP_NO_PROMPTS, &a, &D);
    fw_disarm();
    assert_int_equal(rc, AS_PARSE);
    assert_null(a);
    assert_int_equal(D.n, 1);
    assert_int_equal(D.items[0].line, 3);
    assert_int_equal(D.items[0].column, 17);
    if (!fw_fired()) {
      assert_string_equal(D.items[0].message, full);
      break;
    }
    lost_detail |= strcmp(D.items[0].message, "max_agent_runs: ") == 0;
    lost_all |= D.items[0].message[0] == '\0';
  }
  assert_true(lost_detail && lost_all);

  /* Long names in a route's error: cut at the item's 255 bytes. */
  char big[1024];
  snprintf(big, sizeof big,
           "name: t\nentry: a%s\nagents:\n  a%s:\n    prompt: a.md\n"
           "    routes: {s%s: b%s, default: end}\n",
           X60, X60, X60, X60);
  load_bad(big);
  assert_int_equal(D.n, 1);
  assert_int_equal(strlen(D.items[0].message), sizeof D.items[0].message - 1);
  assert_non_null(strstr(D.items[0].message, "agents.a" X60 ".routes: route 's" X60 "' goes to"));
  assert_string_equal(D.items[0].message + sizeof D.items[0].message - 4, "...");
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

/* Files that cannot be read, each as its status says: a path through a file
** (ENOTDIR, as if not there), a symbolic link loop, a directory, an empty
** prompt; and through test_app's wrappers, an fopen out of memory, a read
** error without errno, a failing fclose (with and without errno). */
static void test_files_unreadable(void **state) {
  (void)state;
  char p[512], q[512];
  size_t live = fw_live_blocks();
  snprintf(tmp, sizeof tmp, "/tmp/agentsim-test-app-XXXXXX");
  assert_non_null(mkdtemp(tmp));
  as_app *a = (as_app *)1;
  /* A path through a regular file. */
  put("file", "x", 1);
  snprintf(p, sizeof p, "%s/file", tmp);
  assert_int_equal(as_app_load(p, &a, &D), AS_NOTFOUND);
  assert_null(a);
  assert_int_equal(D.n, 1);
  assert_string_equal(D.items[0].message, "cannot read: Not a directory");
  /* app.yaml a link to itself. */
  snprintf(p, sizeof p, "%s/app.yaml", tmp);
  assert_int_equal(symlink("app.yaml", p), 0);
  assert_int_equal(as_app_load(tmp, &a, &D), AS_IO);
  assert_int_equal(D.n, 1);
  assert_string_equal(D.items[0].message, "cannot read: Too many levels of symbolic links");
  assert_int_equal(unlink(p), 0);
  /* app.yaml a directory: it opens, its read fails. */
  assert_int_equal(mkdir(p, 0755), 0);
  assert_int_equal(as_app_load(tmp, &a, &D), AS_IO);
  assert_int_equal(D.n, 1);
  assert_string_equal(D.items[0].message, "cannot read: Is a directory");
  assert_int_equal(rmdir(p), 0);
  /* Through the wrappers. */
  const char *yaml = "name: t\nentry: a\nagents:\n  a: {prompt: a.md, routes: {default: end}}\n";
  put("app.yaml", yaml, strlen(yaml));
  put("a.md", "A.\n", 3);
  assert_int_equal(as_app_load(tmp, &a, &D), AS_OK);
  assert_string_equal(a->agents[0].prompt, "A.\n");
  as_app_free(a);
  fopen_errno = ENOMEM;
  assert_int_equal(as_app_load(tmp, &a, &D), AS_NOMEM);
  assert_null(a);
  assert_int_equal(D.n, 0);
  ferror_fake = true;
  assert_int_equal(as_app_load(tmp, &a, &D), AS_IO);
  assert_int_equal(D.n, 1);
  assert_string_equal(D.items[0].message, "cannot read: Input/output error");
  fclose_errno = EIO;
  assert_int_equal(as_app_load(tmp, &a, &D), AS_IO);
  assert_null(a);
  assert_string_equal(D.items[0].message, "cannot read: Input/output error");
  fclose_errno = 0;
  assert_int_equal(as_app_load(tmp, &a, &D), AS_IO);
  assert_string_equal(D.items[0].message, "cannot read: input/output error");
  /* A failing fclose after a failed read leaves the read's status. */
  char *huge = malloc(AS_APP_FILE_MAX + 1);
  assert_non_null(huge);
  memset(huge, '#', AS_APP_FILE_MAX + 1);
  put("app.yaml", huge, AS_APP_FILE_MAX + 1);
  free(huge);
  fclose_errno = EIO;
  assert_int_equal(as_app_load(tmp, &a, &D), AS_TOOBIG);
  assert_int_equal(D.n, 1);
  assert_int_equal(fclose_errno, -1); /* it fired */
  /* A prompt: its fclose failing without errno, then empty. */
  fclose_errno = 0;
  assert_int_equal(as_app_load_text(yaml, strlen(yaml), "t.yaml", tmp, 0, &a, &D), AS_PARSE);
  assert_null(a);
  expect_err(4, 15, "agents.a.prompt: cannot read prompt file 'a.md': input/output error");
  put("a.md", "", 0);
  assert_int_equal(as_app_load_text(yaml, strlen(yaml), "t.yaml", tmp, 0, &a, &D), AS_PARSE);
  assert_int_equal(D.n, 1);
  expect_err(4, 15, "agents.a.prompt: prompt file 'a.md' is empty");
  /* Out of memory opening a prompt. */
  fopen_errno = ENOMEM;
  assert_int_equal(as_app_load_text(yaml, strlen(yaml), "t.yaml", tmp, 0, &a, &D), AS_NOMEM);
  assert_null(a);
  assert_int_equal(fw_live_blocks(), live);
  const char *names[] = {"app.yaml", "a.md", "file"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    snprintf(q, sizeof q, "%s/%s", tmp, names[i]);
    assert_int_equal(unlink(q), 0);
  }
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
      cmocka_unit_test(test_schema),   cmocka_unit_test(test_defaults), cmocka_unit_test(test_llm),
      cmocka_unit_test(test_lookups),  cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_all_errors), cmocka_unit_test(test_diag_cap),
      cmocka_unit_test(test_caps),     cmocka_unit_test(test_files),
      cmocka_unit_test(test_nomem),
      cmocka_unit_test(test_refusals_built), cmocka_unit_test(test_accepts),
      cmocka_unit_test(test_schema_args), cmocka_unit_test(test_load_args),
      cmocka_unit_test(test_yaml_caps), cmocka_unit_test(test_nomem_alias),
      cmocka_unit_test(test_format_failures), cmocka_unit_test(test_files_unreadable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

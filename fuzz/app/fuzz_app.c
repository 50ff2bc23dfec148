/*
** fuzz_app.c -- the app loader (as_app_load_text, runtime/include/agentsim/app.h):
** libyaml's events into the capped tree, then every section's checks.
**
** Prompt files are not read (AS_APP_NO_PROMPTS), so inputs reach the whole
** loader, success included. Beyond crash-hunting it checks the contract on
** every input:
** - a refusal is AS_PARSE with 1..AS_APP_DIAG_MAX items, each naming the
**   file, with a message, a position (or none: line and column 0), in file
**   order; nothing is returned (and nothing leaks: LeakSanitizer);
** - an accepted app keeps every documented bound and every index points at
**   something that exists; every tool's schema is strict JSON without its
**   injected arguments; every tool is found by its qualified name;
** - the same app loaded with prompt files read, from a directory that does
**   not exist, is refused with one error per agent, at its prompt.
*/
#include "fuzz_common.h"

#include <jansson.h>
#include <string.h>

#include "agentsim/app.h"
#include "agentsim/seam.h"

#define FILE_NAME "fuzz.yaml"
#define NO_DIR "/nonexistent-agentsim-fuzz"

static as_app_diag diag;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_init();
  return 0;
}

static void check_refusal(const as_app_diag *d) {
  FUZZ_CHECK(d->n >= 1 && d->n <= AS_APP_DIAG_MAX);
  for (size_t i = 0; i < d->n; i++) {
    const as_app_diag_item *it = &d->items[i];
    FUZZ_CHECK(strcmp(it->file, FILE_NAME) == 0);
    FUZZ_CHECK(it->message[0] != '\0');
    FUZZ_CHECK(memchr(it->message, '\0', sizeof it->message) != NULL);
    FUZZ_CHECK(it->line > 0 || it->column == 0);
    if (i)
      FUZZ_CHECK(d->items[i - 1].line < it->line ||
                 (d->items[i - 1].line == it->line && d->items[i - 1].column <= it->column));
  }
}

static bool target_ok(const as_app *a, int t) {
  return t == AS_APP_END || (t >= 0 && (size_t)t < a->nagents);
}

static bool roster_ok(const as_app *a, int r) { return r == -1 || (r >= 0 && (size_t)r < a->nrosters); }

static void check_schema(const as_app *a, const as_app_tool *t) {
  char *text = NULL;
  FUZZ_CHECK(as_app_tool_schema(a, t, &text) == AS_OK && text);
  json_error_t je;
  json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
  FUZZ_CHECK(j != NULL);
  json_t *props = json_object_get(j, "properties");
  FUZZ_CHECK(json_is_object(props));
  for (size_t g = 0; g < t->nargs; g++)
    FUZZ_CHECK((json_object_get(props, t->args[g].name) != NULL) == (t->args[g].injected < 0));
  FUZZ_CHECK(json_is_false(json_object_get(j, "additionalProperties")));
  json_decref(j);
  as_free(text);
}

static void check_app(const as_app *a) {
  FUZZ_CHECK(a->name[0] != '\0');
  FUZZ_CHECK(a->nagents >= 1 && a->nagents <= AS_APP_AGENTS_MAX);
  FUZZ_CHECK(a->entry >= 0 && (size_t)a->entry < a->nagents);
  FUZZ_CHECK(a->ntools >= AS_APP_BUILTIN_TOOLS && a->ntools <= AS_APP_TOOLS_MAX);
  FUZZ_CHECK(a->nrosters <= AS_APP_ROSTERS_MAX && a->nfields <= AS_APP_FIELDS_MAX);
  FUZZ_CHECK(a->ninject <= AS_APP_INJECT_MAX && a->nlegacy <= AS_APP_LEGACY_MAX);
  FUZZ_CHECK(a->max_agent_runs >= 1 && a->approval_timeout_ns > 0);
  FUZZ_CHECK(a->retry.min_confidence >= 0 && a->retry.min_confidence <= 1);
  FUZZ_CHECK(a->gate.min_confidence >= 0 && a->gate.min_confidence <= 1);
  FUZZ_CHECK((unsigned)a->gate.gated_risk < AS__RISK_COUNT);
  FUZZ_CHECK(roster_ok(a, a->escalation_roster));
  for (size_t r = 0; r < a->nrosters; r++)
    FUZZ_CHECK(a->rosters[r].nvalues >= 1 && a->rosters[r].nvalues <= AS_APP_ROSTER_VALUES_MAX);
  for (size_t f = 0; f < a->nfields; f++) {
    const as_app_field *fl = &a->fields[f];
    FUZZ_CHECK(roster_ok(a, fl->roster));
    if (fl->roster >= 0 && fl->has_default)
      FUZZ_CHECK(as_app_roster_has(a, fl->roster, fl->default_value));
  }
  if (a->gate.env_field >= 0) {
    FUZZ_CHECK((size_t)a->gate.env_field < a->nfields);
    FUZZ_CHECK(a->gate.env_roster == a->fields[a->gate.env_field].roster);
    for (size_t p = 0; p < a->gate.nproduction; p++)
      FUZZ_CHECK(as_app_roster_has(a, a->gate.env_roster, a->gate.production[p]));
  } else {
    FUZZ_CHECK(a->gate.nproduction == 0);
  }
  for (size_t i = 0; i < a->ninject; i++) {
    const as_app_inject *j = &a->inject[i];
    FUZZ_CHECK((unsigned)j->src < AS__INJECT_COUNT);
    FUZZ_CHECK(j->src != AS_INJECT_EXTRA || (j->field >= 0 && (size_t)j->field < a->nfields));
  }
  for (size_t t = 0; t < a->ntools; t++) {
    const as_app_tool *tl = &a->tools[t];
    FUZZ_CHECK((tl->kind == AS_TOOLK_APP) == (t >= AS_APP_BUILTIN_TOOLS));
    FUZZ_CHECK(tl->nargs <= (tl->kind == AS_TOOLK_APP ? AS_APP_ARGS_MAX : AS_APP_TOOL_ARGS_MAX));
    FUZZ_CHECK(as_app_tool_find(a, tl->qname) == tl);
    for (size_t g = 0; g < tl->nargs; g++) {
      FUZZ_CHECK(roster_ok(a, tl->args[g].roster));
      FUZZ_CHECK(tl->args[g].injected >= -1 && tl->args[g].injected < (int)a->ninject);
      if (tl->args[g].injected >= 0)
        FUZZ_CHECK(strcmp(a->inject[tl->args[g].injected].arg, tl->args[g].name) == 0);
    }
    check_schema(a, tl);
  }
  for (size_t l = 0; l < a->nlegacy; l++) {
    const as_app_tool *tl = as_app_tool_find(a, a->legacy_escalate[l]);
    FUZZ_CHECK(tl && tl->legacy_escalate && tl->kind == AS_TOOLK_APP);
  }
  for (size_t i = 0; i < a->nagents; i++) {
    const as_app_agent *ag = &a->agents[i];
    FUZZ_CHECK(as_app_agent_find(a, ag->name) == (int)i);
    FUZZ_CHECK(ag->prompt == NULL && ag->prompt_path[0] && ag->prompt_path[0] != '/');
    FUZZ_CHECK(ag->ntools <= AS_APP_AGENT_TOOLS_MAX && ag->nroutes <= AS_APP_ROUTES_MAX);
    FUZZ_CHECK(ag->max_calls >= 1);
    FUZZ_CHECK(!ag->has_gate || (ag->gate_min_confidence >= 0 && ag->gate_min_confidence <= 1));
    for (size_t t = 0; t < ag->ntools; t++)
      FUZZ_CHECK(ag->tools[t] >= 0 && (size_t)ag->tools[t] < a->ntools);
    for (size_t r = 0; r < ag->nroutes; r++) FUZZ_CHECK(target_ok(a, ag->routes[r].agent));
    FUZZ_CHECK(target_ok(a, ag->default_route));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > FUZZ_MAX_INPUT) return 0;
  as_app *a = (as_app *)&diag; /* must be overwritten */
  int rc = as_app_load_text((const char *)data, size, FILE_NAME, NO_DIR, AS_APP_NO_PROMPTS, &a,
                            &diag);
  if (rc != AS_OK) {
    FUZZ_CHECK(rc == AS_PARSE);
    FUZZ_CHECK(a == NULL);
    check_refusal(&diag);
    return 0;
  }
  FUZZ_CHECK(a != NULL && diag.n == 0 && !diag.more);
  check_app(a);
  size_t nagents = a->nagents;
  as_app_free(a);
  /* Read for real, every prompt is missing: one error per agent. */
  rc = as_app_load_text((const char *)data, size, FILE_NAME, NO_DIR, 0, &a, &diag);
  FUZZ_CHECK(rc == AS_PARSE && a == NULL);
  check_refusal(&diag);
  FUZZ_CHECK(diag.n == nagents);
  for (size_t i = 0; i < diag.n; i++)
    FUZZ_CHECK(strstr(diag.items[i].message, "cannot read prompt file") != NULL);
  return 0;
}

/*
** gate.c -- the gate policy (gate.h).
*/
#include <string.h>

#include <jansson.h>

#include "agentsim/gate.h"
#include "agentsim/json.h"

static const char *const decision_names[] = {
#define AS__GNAME(NAME, name) #name,
    AS_GATE_DECISION_MAP(AS__GNAME)
#undef AS__GNAME
};

const char *as_gate_decision_name(as_gate_decision d) {
  return (unsigned)d < AS__GATE_COUNT ? decision_names[d] : "?";
}

/* Whether s's environment field names a production environment. */
static bool in_production(const as_session *s, const as_app *app) {
  const as_gate_policy *p = &app->gate;
  if (p->env_field < 0 || (size_t)p->env_field >= app->nfields || !s->extra) return false;
  json_t *x = NULL;
  int rc = as_json_parse(s->extra, strlen(s->extra), &x, NULL);
  /* Extra fields that do not parse name no environment: nothing to compare.
  ** Without the memory to read them it cannot tell, and the gate holds. */
  if (rc != AS_OK) return rc == AS_NOMEM;
  const char *env = json_string_value(json_object_get(x, app->fields[p->env_field].name));
  bool prod = false;
  for (size_t i = 0; env && i < p->nproduction && !prod; i++)
    prod = strcmp(env, p->production[i]) == 0;
  json_decref(x);
  return prod;
}

as_gate_decision as_should_gate(const as_session *s, const as_app *app, const as_app_agent *agent,
                                const as_app_tool *tool, bool has_conf, double conf) {
  if (!s || !app || !tool || tool->kind != AS_TOOLK_APP) return AS_GATE_PASS;
  if (tool->risk >= app->gate.gated_risk && in_production(s, app))
    return AS_GATE_HIGH_RISK_PRODUCTION;
  double floor = agent && agent->has_gate ? agent->gate_min_confidence : app->gate.min_confidence;
  if (has_conf && conf < floor) return AS_GATE_LOW_CONFIDENCE;
  return AS_GATE_PASS;
}

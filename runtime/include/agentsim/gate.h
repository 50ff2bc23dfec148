/*
** gate.h -- the gate policy: whether a tool call waits for a human (pure).
**
** should_gate(session, call, confidence, policy): an app tool (the
** runtime's built-ins never gate: the typed terminal tools are settled by
** finalize, the patch tool cannot change status) gates when
**   - its risk is at least policy.gated_risk and the session's environment
**     (the policy's env_field of the session's extra fields) is one of the
**     production environments: AS_GATE_HIGH_RISK_PRODUCTION; or
**   - a confidence is known and is below the least confidence that does
**     not gate (the agent's own gate when it has one, else the policy's):
**     AS_GATE_LOW_CONFIDENCE.
** A session whose extra fields do not parse, or whose environment field is
** missing or not a string, is not in production (nothing to compare), but
** a low confidence still gates. Without the memory to read the extra fields
** it cannot tell, and a high-risk call gates (fail closed: it waits for a
** human rather than run unchecked).
*/
#ifndef AGENTSIM_GATE_H
#define AGENTSIM_GATE_H

#include <stdbool.h>

#include "agentsim/app.h"
#include "agentsim/session.h"

#define AS_GATE_DECISION_MAP(X)                                               \
  X(PASS, pass)                                                               \
  X(HIGH_RISK_PRODUCTION, high_risk_production)                               \
  X(LOW_CONFIDENCE, low_confidence)

typedef enum as_gate_decision {
#define AS__GDEC(NAME, name) AS_GATE_##NAME,
  AS_GATE_DECISION_MAP(AS__GDEC)
#undef AS__GDEC
  AS__GATE_COUNT
} as_gate_decision;

/* agent may be NULL (the policy's confidence floor applies); has_conf says
** whether conf is known. */
as_gate_decision as_should_gate(const as_session *s, const as_app *app, const as_app_agent *agent,
                                const as_app_tool *tool, bool has_conf, double conf);
const char *as_gate_decision_name(as_gate_decision d);

#endif /* AGENTSIM_GATE_H */

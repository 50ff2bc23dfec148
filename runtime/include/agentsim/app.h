/*
** app.h -- an app: agents, tools, routes, rosters and policies, as data.
**
** An app is a directory (fixtures/apps/NAME/) holding app.yaml and the
** prompt files it names (docs/apps.md is the format's reference). The
** runtime knows no app's domain: it only runs what an app declares.
**
**   fields     the session's extra fields the app uses (name, type, the
**              roster its values must come from); tools read and patch them
**   rosters    named lists of allowed values (environments, teams, ...)
**   servers    tool servers and their tools: each tool's qualified name
**              "server:tool", description, risk, argument schema; the
**              server "runtime" is built in and serves the typed terminal
**              tools (mark_resolved, mark_escalated, submit_hypothesis) and
**              the generic patch tool (patch_session)
**   inject     tool argument -> session field path ("id", "status",
**              "retry_count" or "extra.FIELD"): removed from what the model
**              sees, filled by the runtime, whose value wins
**   gate       the gate policy (gate.h): the environment field, which of its
**              values are production, the risk that gates there, the least
**              confidence that does not gate
**   retry      the retry policy's settings (retry.h, the failure-paths issue)
**   escalation the roster mark_escalated's team must come from, a default
**              team (when the runtime escalates by itself), and legacy
**              escalate tools (an executed call counts as escalated)
**   agents     name, prompt file, tools (qualified, or bare when only one
**              server has that name), routes from signal to the next agent
**              ("end" ends the run), a required default route, an optional
**              confidence gate of its own; `entry` names the first agent
**
** Loading validates everything and reports every error it finds, each with
** the file, 1-based line and column, and what was expected; an app with
** any error is not returned. Refused among others: a tool an agent names
** that no server has; a bare name two servers have; an agent without a
** default route; a route to an unknown agent; an injected path that names
** no session field; a roster value (gate production environments, a
** field's default, an escalation default) outside its roster.
**
** Every count and size is capped (AS_APP_*_MAX); passing one is an error
** with its position, never a truncation.
*/
#ifndef AGENTSIM_APP_H
#define AGENTSIM_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentsim/envelope.h"
#include "agentsim/llm_wire.h"
#include "agentsim/session.h"
#include "agentsim/status.h"

#define AS_APP_NAME_MAX 64            /* names, NUL included */
#define AS_APP_DESC_MAX 512           /* a tool's description, NUL included */
#define AS_APP_PATH_MAX 256           /* file paths, NUL included */
#define AS_APP_FILE_MAX (256u * 1024u) /* app.yaml, bytes */
#define AS_APP_PROMPT_MAX (32u * 1024u) /* one prompt file, bytes */
#define AS_APP_FIELDS_MAX 32u
#define AS_APP_ROSTERS_MAX 16u
#define AS_APP_ROSTER_VALUES_MAX 32u
#define AS_APP_TOOLS_MAX 128u
#define AS_APP_ARGS_MAX 16u           /* arguments of one tool */
#define AS_APP_AGENTS_MAX 32u
#define AS_APP_AGENT_TOOLS_MAX 32u
#define AS_APP_ROUTES_MAX 16u
#define AS_APP_INJECT_MAX 16u
#define AS_APP_LEGACY_MAX 8u
#define AS_APP_DIAG_MAX 64u           /* errors one load reports */
#define AS_APP_BUILTIN_TOOLS 4u       /* the runtime server's tools: tools[0..3] */
/* Arguments one tool holds: an app tool declares at most AS_APP_ARGS_MAX;
** the runtime's patch_session has one per field plus confidence and
** rationale. */
#define AS_APP_TOOL_ARGS_MAX (AS_APP_FIELDS_MAX + 2u)
#define AS_APP_NODES_MAX 16384u       /* YAML nodes (scalars, maps, lists) in app.yaml */
#define AS_APP_DEPTH_MAX 16u          /* YAML nesting */
#define AS_APP_SCALAR_MAX 1024u       /* one YAML scalar, bytes */
#define AS_APP_END (-1)               /* route target: the run ends */
#define AS_APP_RUNTIME_SERVER "runtime"

/* X(NAME, name) */
#define AS_RISK_MAP(X) X(LOW, low) X(MEDIUM, medium) X(HIGH, high)
typedef enum as_risk {
#define AS__RISK(NAME, name) AS_RISK_##NAME,
  AS_RISK_MAP(AS__RISK)
#undef AS__RISK
  AS__RISK_COUNT
} as_risk;

#define AS_ARG_TYPE_MAP(X)                                                    \
  X(STRING, string) X(NUMBER, number) X(INTEGER, integer) X(BOOLEAN, boolean) \
  X(OBJECT, object) X(ARRAY, array)
typedef enum as_arg_type {
#define AS__ATYPE(NAME, name) AS_ARG_##NAME,
  AS_ARG_TYPE_MAP(AS__ATYPE)
#undef AS__ATYPE
  AS__ARG_COUNT
} as_arg_type;

/* What a tool is: an app tool a tool server runs, or one of the runtime's
** built-ins (server "runtime"). */
#define AS_TOOL_KIND_MAP(X)                                                   \
  X(APP, app)                                                                 \
  X(MARK_RESOLVED, mark_resolved)                                             \
  X(MARK_ESCALATED, mark_escalated)                                           \
  X(SUBMIT_HYPOTHESIS, submit_hypothesis)                                     \
  X(PATCH, patch_session)
typedef enum as_tool_kind {
#define AS__TKIND(NAME, name) AS_TOOLK_##NAME,
  AS_TOOL_KIND_MAP(AS__TKIND)
#undef AS__TKIND
  AS__TOOLK_COUNT
} as_tool_kind;

typedef struct as_app_arg {
  char name[AS_APP_NAME_MAX];
  as_arg_type type;
  bool required;
  int roster;       /* index into rosters its value must be in, or -1 */
  int injected;     /* index into inject that fills it, or -1 */
} as_app_arg;

typedef struct as_app_tool {
  char qname[AS_TOOL_NAME_MAX];   /* "server:tool" */
  char server[AS_APP_NAME_MAX];
  char name[AS_APP_NAME_MAX];
  char description[AS_APP_DESC_MAX];
  as_tool_kind kind;
  as_risk risk;
  bool legacy_escalate;           /* an executed call counts as escalated */
  as_app_arg args[AS_APP_TOOL_ARGS_MAX];
  size_t nargs;
  unsigned line;                  /* where app.yaml declares it */
} as_app_tool;

typedef struct as_app_route {
  char signal[AS_SIGNAL_MAX];
  int agent;                      /* index into agents, or AS_APP_END */
} as_app_route;

typedef struct as_app_agent {
  char name[AS_APP_NAME_MAX];
  char prompt_path[AS_APP_PATH_MAX]; /* as app.yaml gives it, relative */
  char *prompt;                   /* owned: the prompt file's text */
  int tools[AS_APP_AGENT_TOOLS_MAX];  /* indices into tools */
  size_t ntools;
  as_app_route routes[AS_APP_ROUTES_MAX];
  size_t nroutes;
  int default_route;              /* index into agents, or AS_APP_END */
  bool has_gate;                  /* its own least confidence that does not gate */
  double gate_min_confidence;
  unsigned max_calls;             /* LLM calls in one run of this agent */
} as_app_agent;

typedef struct as_app_roster {
  char name[AS_APP_NAME_MAX];
  char values[AS_APP_ROSTER_VALUES_MAX][AS_APP_NAME_MAX];
  size_t nvalues;
} as_app_roster;

typedef struct as_app_field {
  char name[AS_APP_NAME_MAX];
  as_arg_type type;
  int roster;                     /* or -1 */
  bool has_default;
  char default_value[AS_APP_NAME_MAX]; /* a string field's default */
} as_app_field;

/* X(NAME, name): what an injected argument path names. */
#define AS_INJECT_SRC_MAP(X) X(ID, id) X(STATUS, status) X(RETRY_COUNT, retry_count) X(EXTRA, extra)
typedef enum as_inject_src {
#define AS__ISRC(NAME, name) AS_INJECT_##NAME,
  AS_INJECT_SRC_MAP(AS__ISRC)
#undef AS__ISRC
  AS__INJECT_COUNT
} as_inject_src;

typedef struct as_app_inject {
  char arg[AS_APP_NAME_MAX];      /* the tool argument's name (any tool) */
  char path[AS_APP_PATH_MAX];     /* as written: "id", "extra.environment" */
  as_inject_src src;
  int field;                      /* AS_INJECT_EXTRA: index into fields */
} as_app_inject;

typedef struct as_gate_policy {
  int env_field;                  /* index into fields holding the environment, or -1 */
  int env_roster;                 /* the roster of environments, or -1 */
  char production[AS_APP_ROSTER_VALUES_MAX][AS_APP_NAME_MAX];
  size_t nproduction;             /* environments that are production */
  as_risk gated_risk;             /* at or above this risk, production gates */
  double min_confidence;          /* below this, any call gates (0: never) */
} as_gate_policy;

typedef struct as_retry_settings {
  unsigned max_retries;
  double min_confidence;          /* below: low_confidence_no_retry */
  bool transient;                 /* transient errors retried at all */
} as_retry_settings;

#define AS_APP_URL_MAX 1024            /* llm.base_url, NUL included */

/* The app's LLM provider (the llm: section, all optional; docs/apps.md).
** The key itself is never in an app: api_key_env names the environment
** variable the CLI reads it from (runtime/ reads no environment). */
typedef struct as_app_llm {
  bool present;                   /* the app has an llm: section */
  as_wire_kind provider;          /* llm.provider: openai | ollama */
  char base_url[AS_APP_URL_MAX];  /* llm.base_url: http:// or https://, required */
  char model[AS_APP_PATH_MAX];    /* llm.model, required */
  char api_key_env[AS_APP_NAME_MAX]; /* llm.api_key_env; "" for no key */
  bool stream;                    /* llm.stream (default false) */
  bool structured;                /* llm.structured (default false) */
  uint64_t timeout_ns;            /* llm.timeout; 0: AS_LLM_TIMEOUT_DEFAULT_NS */
  uint64_t low_speed_bytes;       /* llm.low_speed "1B/30s"; both 0: the provider's */
  uint64_t low_speed_ns;          /* default (1 byte in 30 s) */
} as_app_llm;

typedef struct as_app {
  char name[AS_APP_NAME_MAX];
  char dir[AS_APP_PATH_MAX];
  as_app_field fields[AS_APP_FIELDS_MAX];
  size_t nfields;
  as_app_roster rosters[AS_APP_ROSTERS_MAX];
  size_t nrosters;
  as_app_tool tools[AS_APP_TOOLS_MAX];
  size_t ntools;
  as_app_agent agents[AS_APP_AGENTS_MAX];
  size_t nagents;
  int entry;                      /* the first agent */
  as_app_inject inject[AS_APP_INJECT_MAX];
  size_t ninject;
  as_gate_policy gate;
  as_retry_settings retry;
  int escalation_roster;          /* mark_escalated's team roster, or -1 */
  char escalation_default[AS_APP_NAME_MAX]; /* the team when the runtime escalates by
                                  itself (a legacy tool names none); "" for none */
  /* The legacy escalate tools' qualified names, pointing into tools[]
  ** (borrowed: valid while the app is): as_finalize_rules.legacy_escalate. */
  const char *legacy_escalate[AS_APP_LEGACY_MAX];
  size_t nlegacy;
  uint64_t approval_timeout_ns;   /* the watchdog's timeout */
  unsigned max_agent_runs;        /* agent runs in one session run */
  unsigned max_tool_calls;        /* tool calls in one agent run (default 32) */
  int64_t daily_limit_micros;     /* budget.daily_limit (default $5.00): the CLI's
                                  ** AGENT_DAILY_BUDGET overrides it (budget.h) */
  int64_t cycle_estimate_micros;  /* budget.cycle_estimate (default $0.15) */
  as_app_llm llm;                 /* the llm: section (llm.present) */
} as_app;

typedef struct as_app_diag_item {
  char file[AS_APP_PATH_MAX];     /* as opened: "fixtures/apps/x/app.yaml" */
  unsigned line, column;          /* 1-based; 0 when the error has no place */
  char message[256];              /* what was found, and what was expected */
} as_app_diag_item;

typedef struct as_app_diag {
  as_app_diag_item items[AS_APP_DIAG_MAX];
  size_t n;
  bool more;                      /* errors past AS_APP_DIAG_MAX were dropped */
} as_app_diag;

/* Load the app in directory dir into *out (as_app_free it). AS_OK; AS_PARSE
** with every error in *diag (which may not be NULL); AS_NOTFOUND (no
** app.yaml: one diag item); AS_TOOBIG (app.yaml past AS_APP_FILE_MAX: one
** item; a prompt file past its cap is an AS_PARSE error among the others);
** AS_IO (app.yaml unreadable: one item); AS_INVAL (NULL arguments, a dir
** path of AS_APP_PATH_MAX bytes or more); AS_NOMEM. Diag items name
** app.yaml as DIR/app.yaml. On failure *out is NULL. */
AS_WUR int as_app_load(const char *dir, as_app **out, as_app_diag *diag);

/* as_app_load_text's flags. AS_APP_NO_PROMPTS: check each prompt path's
** form but read no file (every agent's prompt stays NULL): for fuzzing and
** for checking app.yaml alone. */
#define AS_APP_NO_PROMPTS 1u
/* As as_app_load, from text[0..len) (NUL bytes inside are an error): file
** is the name diag items carry (NULL: "app.yaml"); prompt paths resolve
** against dir (it need not exist with AS_APP_NO_PROMPTS). AS_OK; AS_PARSE
** with every error in *diag; AS_TOOBIG past AS_APP_FILE_MAX (one item);
** AS_INVAL for NULL arguments; AS_NOMEM. On failure *out is NULL. */
AS_WUR int as_app_load_text(const char *text, size_t len, const char *file, const char *dir,
                            unsigned flags, as_app **out, as_app_diag *diag);
void as_app_free(as_app *app);

/* The tool an agent or a model calls `name`: a qualified name, or a bare
** one only one server has. NULL when none or ambiguous. */
const as_app_tool *as_app_tool_find(const as_app *app, const char *name);
/* The agent called name: its index, or -1. */
int as_app_agent_find(const as_app *app, const char *name);
/* Whether roster r (an index) has value. */
bool as_app_roster_has(const as_app *app, int roster, const char *value);
/* The JSON Schema the model sees for tool t: an object with t's arguments,
** injected ones removed, "additionalProperties": false. *out is an owned
** (as_free) NUL-terminated text. */
AS_WUR int as_app_tool_schema(const as_app *app, const as_app_tool *t, char **out);

const char *as_risk_name(as_risk r);
const char *as_arg_type_name(as_arg_type t);
const char *as_tool_kind_name(as_tool_kind k);

#endif /* AGENTSIM_APP_H */

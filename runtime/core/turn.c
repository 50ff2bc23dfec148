/*
** turn.c -- the turn loop, the tool gateway, approvals and the watchdog
** (turn.h).
**
** A run's state between steps (which agent, how many LLM calls, the
** conversation, the tool calls of the answer still to go) is a jansson
** object; it is written to the session's checkpoint before a pause and
** read back when an approval resumes the run. Every change to the session
** is one step: load, change, save with its events, again on a stale
** version (a writer that did not take the lock got there first).
*/
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "agentsim/checkpoints.h"
#include "agentsim/envelope.h"
#include "agentsim/events.h"
#include "agentsim/finalize.h"
#include "agentsim/fmt.h"
#include "agentsim/gate.h"
#include "agentsim/json.h"
#include "agentsim/mutant.h"
#include "agentsim/seam.h"
#include "agentsim/turn.h"
#include "core_internal.h"
#include "retry_internal.h"

#define STEP_ATTEMPTS 8 /* saves in a row a step may lose to other writers */
#define STATE_VERSION 1

static const char *const outcome_names[] = {
#define AS__RONAME(NAME, name) #name,
    AS_RUN_OUTCOME_MAP(AS__RONAME)
#undef AS__RONAME
};

const char *as_run_outcome_name(as_run_outcome o) {
  return (unsigned)o < AS__RUN_COUNT ? outcome_names[o] : "?";
}

/* --- a run's state ----------------------------------------------------------------- */

/* A run's cost and span context: the cycle it belongs to, the trace, the
** open agent span (budget.h, trace.h). */
typedef struct tele {
  char op[AS_OP_ID_MAX];       /* the cycle's op_id, or the session's id outside one */
  uint8_t trace[16];
  uint8_t root[8];             /* the invoke_agent span of this run */
  int64_t start_ns;
  unsigned nspans;             /* spans made: each one's id hashes its number */
  bool agent_open;
  uint8_t agent_span[8];
  int64_t agent_start_ns;
  char agent[AS_LLM_NAME_MAX];
  as_llm_usage agent_usage;    /* what its chat spans carried (the mutant's) */
} tele;

typedef struct run {
  const as_runtime *rt;
  tele *tel;          /* never NULL */
  const char *id;
  char thread[AS_THREAD_ID_MAX]; /* its checkpoint's: id, or "<id>:retry-N" */
  int64_t retry;      /* the session's retry count: N on thread "<id>:retry-N" */
  as__run_entry *entry; /* its entry in rt->runs (NULL: not cancellable) */
  bool failed;        /* a tool's failure failed the run (res says how) */
  int agent;          /* index into app->agents */
  unsigned calls;     /* LLM calls this agent run made */
  unsigned tools;     /* tool calls this agent run asked for */
  unsigned runs;      /* agent runs this session run started */
  unsigned answer;    /* answers this session run got (numbers tool calls' answers) */
  bool ending;        /* a terminal decision ran in this agent run */
  bool has_tconf;     /* a typed terminal tool gave a confidence in this agent run */
  double tconf;
  bool answer_terminal; /* a typed terminal tool ran in the current answer */
  json_t *msgs;       /* the conversation */
  json_t *queue;      /* tool calls of the current answer still to go */
  as_run_result *res;
} run;

static void run_free(run *r) {
  json_decref(r->msgs);
  json_decref(r->queue);
  r->msgs = r->queue = NULL;
}

static const as_app_agent *agent_of(const run *r) { return &r->rt->app->agents[r->agent]; }
static void agent_span_open(run *r);
static void agent_span_close(const as_runtime *rt, tele *t, bool error, const char *message);

static void result_set(as_run_result *res, as_run_outcome o, as_session_status st) {
  res->outcome = o;
  res->status = st;
}

/* A failure the session records as error: kind and message into *res. */
static void result_fail(as_run_result *res, as_error_kind kind, const char *fmt, ...)
    AS_PRINTF(3, 4);
static void result_fail(as_run_result *res, as_error_kind kind, const char *fmt, ...) {
  res->outcome = AS_RUN_FAILED;
  res->status = AS_SESS_ERROR;
  res->kind = kind;
  (void)snprintf(res->error_kind, sizeof res->error_kind, "%s", /* ignore: names fit */
                 as_error_kind_name(kind));
  va_list ap;
  va_start(ap, fmt);
  (void)vsnprintf(res->error, sizeof res->error, fmt, ap); /* ignore: cut to fit */
  va_end(ap);
}

/* jansson's allocation failures all look alike. */
static AS_WUR int jset(json_t *obj, const char *key, json_t *v) {
  return v && json_object_set_new(obj, key, v) == 0 ? AS_OK : AS_NOMEM;
}

static AS_WUR int jappend(json_t *arr, json_t *v) {
  return v && json_array_append_new(arr, v) == 0 ? AS_OK : AS_NOMEM;
}

/* A JSON text of v, owned by jansson's allocator: release it with jfree. */
static char *jdump(const json_t *v) { return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY); }

/* Give jansson back what jdump made. */
static void jfree(void *p) { as__json_free(p); }

static AS_WUR int state_write(const run *r) {
  json_t *o = json_object();
  if (!o) return AS_NOMEM;
  int rc = jset(o, "v", json_integer(STATE_VERSION));
  if (rc == AS_OK) rc = jset(o, "agent", json_string(agent_of(r)->name));
  if (rc == AS_OK) rc = jset(o, "calls", json_integer(r->calls));
  if (rc == AS_OK) rc = jset(o, "tools", json_integer(r->tools));
  if (rc == AS_OK) rc = jset(o, "runs", json_integer(r->runs));
  if (rc == AS_OK) rc = jset(o, "answer", json_integer(r->answer));
  if (rc == AS_OK) rc = jset(o, "ending", json_boolean(r->ending));
  if (rc == AS_OK && r->has_tconf) rc = jset(o, "tconf", json_real(r->tconf));
  if (rc == AS_OK) rc = jset(o, "answer_terminal", json_boolean(r->answer_terminal));
  if (rc == AS_OK) rc = jset(o, "msgs", json_incref(r->msgs));
  if (rc == AS_OK) rc = jset(o, "queue", json_incref(r->queue));
  char *text = rc == AS_OK ? jdump(o) : NULL;
  json_decref(o);
  if (!text) return AS_NOMEM;
  rc = as_checkpoint_put(r->rt->st, r->thread, text, strlen(text));
  jfree(text);
  return rc;
}

static AS_WUR int state_read(run *r) {
  size_t cap = AS_CHECKPOINT_MAX, len = 0;
  char *buf = as_malloc(cap + 1);
  if (!buf) return AS_NOMEM;
  int rc = as_checkpoint_get(r->rt->st, r->thread, buf, cap, &len);
  json_t *o = NULL;
  if (rc == AS_OK) rc = as_json_parse(buf, len, &o, NULL);
  as_free(buf);
  if (rc == AS_PARSE) rc = AS_IO; /* the runtime wrote it: damage, not input */
  if (rc != AS_OK) return rc;
  const char *agent = json_string_value(json_object_get(o, "agent"));
  json_t *msgs = json_object_get(o, "msgs"), *queue = json_object_get(o, "queue");
  r->agent = agent ? as_app_agent_find(r->rt->app, agent) : -1;
  if (json_integer_value(json_object_get(o, "v")) != STATE_VERSION || r->agent < 0 ||
      !json_is_array(msgs) || !json_is_array(queue)) {
    json_decref(o);
    return AS_IO;
  }
  r->calls = (unsigned)json_integer_value(json_object_get(o, "calls"));
  r->tools = (unsigned)json_integer_value(json_object_get(o, "tools"));
  r->runs = (unsigned)json_integer_value(json_object_get(o, "runs"));
  r->answer = (unsigned)json_integer_value(json_object_get(o, "answer"));
  r->ending = json_is_true(json_object_get(o, "ending"));
  json_t *tc = json_object_get(o, "tconf");
  r->has_tconf = json_is_number(tc);
  r->tconf = r->has_tconf ? json_number_value(tc) : 0;
  r->answer_terminal = json_is_true(json_object_get(o, "answer_terminal"));
  run_free(r);
  r->msgs = json_incref(msgs);
  r->queue = json_incref(queue);
  json_decref(o);
  return AS_OK;
}

/* --- steps: load, change, save ------------------------------------------------------- */

/* What a step does to the session it loaded; *evs and *nev the events to store
** with it (payload texts owned by the step's ctx). AS_OK to save; AS_EXISTS
** to save nothing and end the step with AS_OK. */
typedef AS_WUR int (*step_fn)(as_session *s, void *ctx, as_event_in *evs, size_t *nev);

static AS_WUR int step(const as_runtime *rt, const char *id, step_fn fn, void *ctx) {
  for (int attempt = 0; attempt < STEP_ATTEMPTS; attempt++) {
    as_session s = {0};
    as_event_in evs[AS_SAVE_EVENTS_MAX];
    size_t nev = 0;
    int rc = as_session_load(rt->st, id, &s);
    if (rc == AS_OK) rc = fn(&s, ctx, evs, &nev);
    if (rc == AS_OK) rc = as_session_save_with_events(rt->st, &s, evs, nev, NULL);
    as_session_clear(&s);
    if (rc == AS_EXISTS) return AS_OK;
    if (rc != AS_STALE) return rc;
  }
  return AS_BUSY;
}

/* A status_changed payload, as finalize.c writes them. */
static void status_payload(char *buf, size_t cap, as_session_status from, as_session_status to) {
  (void)as_appendf(buf, cap, 0, "{\"from\":\"%s\",\"to\":\"%s\",\"reason\":\"\"}", /* ignore: sized */
                   as_session_status_name(from), as_session_status_name(to));
}

typedef struct begin_ctx {
  as_session_status settled; /* out: the terminal status it found, or AS__SESS_COUNT */
  char payload[128];
} begin_ctx;

/* new or awaiting_input -> in_progress. */
static AS_WUR int begin_fn(as_session *s, void *ctx, as_event_in *evs, size_t *nev) {
  begin_ctx *c = ctx;
  if (as_session_status_terminal(s->status)) {
    c->settled = s->status;
    return AS_EXISTS;
  }
  if (s->status == AS_SESS_IN_PROGRESS) return AS_EXISTS;
  status_payload(c->payload, sizeof c->payload, s->status, AS_SESS_IN_PROGRESS);
  s->status = AS_SESS_IN_PROGRESS;
  evs[(*nev)++] = (as_event_in){AS_EVENT_STATUS_CHANGED, c->payload};
  return AS_OK;
}

/* The extra text of s; NULL means "{}" (session.h). A session
** as_session_load read always has it, but the struct's contract allows NULL,
** so the one place that reads it keeps the default. */
static const char *extra_of(const as_session *s) { return s->extra ? s->extra : "{}"; }

/* Merge the members of patch (an object; may be NULL) into s's extra. */
static AS_WUR int extra_merge(as_session *s, const json_t *patch) {
  if (!patch || json_object_size(patch) == 0) return AS_OK;
  json_t *x = NULL;
  const char *text = extra_of(s);
  int rc = as_json_parse(text, strlen(text), &x, NULL);
  if (rc != AS_OK) return rc == AS_PARSE ? AS_IO : rc;
  if (json_typeof(x) != JSON_OBJECT || json_object_update(x, (json_t *)patch) != 0) rc = AS_IO;
  char *out = rc == AS_OK ? jdump(x) : NULL;
  json_decref(x);
  if (rc == AS_OK && !out) rc = AS_NOMEM;
  if (rc == AS_OK) rc = as_session_set_extra(s, out);
  jfree(out);
  return rc;
}

typedef struct call_ctx {
  const char *tool, *args, *result;
  as_tool_state state;
  const json_t *extra_patch; /* members to merge into extra, or NULL */
  const char *status;        /* the mutant's patched status, or NULL */
  unsigned answer;           /* which answer of the run asked for it */
  size_t idx;                /* out: the call's index */
  char payload[AS_TOOL_NAME_MAX + 160];
} call_ctx;

/* Append an executed call, its extra fields and its tool_invoked event. */
static AS_WUR int call_fn(as_session *s, void *ctx, as_event_in *evs, size_t *nev) {
  call_ctx *c = ctx;
  int rc = extra_merge(s, c->extra_patch);
  if (rc == AS_OK) rc = as_session_add_call(s, c->tool, c->args, c->result, c->state);
  if (rc != AS_OK) return rc;
  c->idx = s->ncalls - 1;
  as_session_status st;
  if (c->status && as_session_status_parse(c->status, &st) == AS_OK) s->status = st;
  (void)as_appendf(c->payload, sizeof c->payload, 0, /* ignore: sized for a tool name */
                   "{\"call\":%zu,\"tool\":\"%s\",\"answer\":%u}", c->idx, c->tool,
                   c->answer);
  evs[(*nev)++] = (as_event_in){AS_EVENT_TOOL_INVOKED, c->payload};
  return AS_OK;
}

typedef struct pause_ctx {
  const char *tool, *args;
  int64_t since;
  bool with_call;   /* the pending row goes in this save */
  bool with_status; /* and the status change */
  as_session_status settled; /* out: the terminal status it found, or AS__SESS_COUNT */
  size_t idx;
  char result[64];
  char status[128];
  char requested[AS_TOOL_NAME_MAX + 64];
} pause_ctx;

/* The pending call, the status awaiting_input, their events: one save. */
static AS_WUR int pause_fn(as_session *s, void *ctx, as_event_in *evs, size_t *nev) {
  pause_ctx *c = ctx;
  if (as_session_status_terminal(s->status)) { /* settled meanwhile */
    c->settled = s->status;
    return AS_EXISTS;
  }
  if (c->with_call) {
    (void)as_appendf(c->result, sizeof c->result, 0, "{\"pending_since_ns\":%lld}", /* ignore: sized */
                     (long long)c->since);
    int rc = as_session_add_call(s, c->tool, c->args, c->result, AS_TOOL_PENDING_APPROVAL);
    if (rc != AS_OK) return rc;
    c->idx = s->ncalls - 1;
  }
  if (c->with_status && s->status != AS_SESS_AWAITING_INPUT) {
    status_payload(c->status, sizeof c->status, s->status, AS_SESS_AWAITING_INPUT);
    s->status = AS_SESS_AWAITING_INPUT;
    evs[(*nev)++] = (as_event_in){AS_EVENT_STATUS_CHANGED, c->status};
  }
  if (c->with_call) {
    (void)as_appendf(c->requested, sizeof c->requested, 0, /* ignore: sized */
                     "{\"call\":%zu,\"tool\":\"%s\"}", c->idx, c->tool);
    evs[(*nev)++] = (as_event_in){AS_EVENT_APPROVAL_REQUESTED, c->requested};
  }
  return AS_OK;
}

typedef struct resolve_ctx {
  size_t idx;
  as_approval_decision d;
  const char *result; /* an approved call's result */
  bool found;         /* out: the call was pending (or the mutant ignored that) */
  char payload[96];
  char status[128];
} resolve_ctx;

static const char *decision_name(as_approval_decision d) {
  return d == AS_APPROVE ? "approved" : d == AS_REJECT ? "rejected" : "timed_out";
}

/* Resolve call idx and put the session back in progress: one save. */
static AS_WUR int resolve_fn(as_session *s, void *ctx, as_event_in *evs, size_t *nev) {
  resolve_ctx *c = ctx;
  if (c->idx >= s->ncalls) return AS_NOTFOUND;
  /* A session settled meanwhile (a finalize) resumes nothing: the
  ** decision comes too late to matter. */
  if (as_session_status_terminal(s->status)) return AS_EXISTS;
  as_tool_call *call = &s->calls[c->idx];
  /* The seed's resume trusted the caller: a second decision resumed again. */
  if (call->state != AS_TOOL_PENDING_APPROVAL && !AS_MUTANT(APPROVAL_DOUBLE_RESOLVE))
    return AS_EXISTS;
  c->found = true;
  static const char *const outcomes[] = {NULL, "{\"error\":\"rejected by a human\"}",
                                         "{\"error\":\"the approval timed out\"}"};
  const char *result = c->d == AS_APPROVE ? c->result : outcomes[c->d];
  as_tool_state st = c->d == AS_APPROVE ? AS_TOOL_EXECUTED
                     : c->d == AS_REJECT ? AS_TOOL_REJECTED
                                         : AS_TOOL_TIMED_OUT;
  /* A result is the session's own copy: replace it in place. */
  size_t n = strlen(result);
  if (n > AS_TOOL_JSON_MAX) return AS_TOOBIG;
  char *copy = as_malloc(n + 1);
  if (!copy) return AS_NOMEM;
  memcpy(copy, result, n + 1);
  as_free(call->result);
  call->result = copy;
  call->state = st;
  (void)as_appendf(c->payload, sizeof c->payload, 0, /* ignore: sized */
                   "{\"call\":%zu,\"decision\":\"%s\"}", c->idx, decision_name(c->d));
  evs[(*nev)++] = (as_event_in){AS_EVENT_APPROVAL_RESOLVED, c->payload};
  if (s->status == AS_SESS_AWAITING_INPUT) {
    status_payload(c->status, sizeof c->status, s->status, AS_SESS_IN_PROGRESS);
    s->status = AS_SESS_IN_PROGRESS;
    evs[(*nev)++] = (as_event_in){AS_EVENT_STATUS_CHANGED, c->status};
  }
  return AS_OK;
}

/* An event of its own (its own transaction). payload: a JSON object. */
static AS_WUR int emit(const run *r, const char *kind, json_t *payload) {
  if (!payload) return AS_NOMEM;
  char *text = jdump(payload);
  json_decref(payload);
  if (!text) return AS_NOMEM;
  int rc = as_event_append(r->rt->st, r->id, kind, text, NULL);
  jfree(text);
  return rc;
}

/* --- the conversation -------------------------------------------------------------- */

static AS_WUR int msg_add(run *r, const char *role, const char *text, json_t *calls,
                          const char *call_id) {
  if (json_array_size(r->msgs) >= AS_LLM_MESSAGES_MAX) {
    json_decref(calls);
    return AS_TOOBIG;
  }
  json_t *m = json_object();
  int rc = m ? jset(m, "role", json_string(role)) : AS_NOMEM;
  if (rc == AS_OK && text) rc = jset(m, "text", json_string(text));
  if (rc == AS_OK && calls) rc = jset(m, "calls", json_incref(calls));
  if (rc == AS_OK && call_id) rc = jset(m, "call_id", json_string(call_id));
  json_decref(calls);
  if (rc == AS_OK) return jappend(r->msgs, m);
  json_decref(m);
  return rc;
}

/* A fresh conversation for the current agent: its prompt, the session's
** brief, and what the previous agent concluded (NULL: nothing). */
static AS_WUR int agent_begin(run *r, const char *handoff) {
  json_decref(r->msgs);
  json_decref(r->queue);
  r->msgs = json_array();
  r->queue = json_array();
  if (!r->msgs || !r->queue) return AS_NOMEM;
  r->calls = r->tools = 0;
  r->ending = r->has_tconf = r->answer_terminal = false;
  as_session s = {0};
  int rc = as_session_load(r->rt->st, r->id, &s);
  json_t *brief = rc == AS_OK ? json_object() : NULL;
  json_t *fields = NULL;
  if (rc == AS_OK) {
    const char *x = extra_of(&s);
    rc = as_json_parse(x, strlen(x), &fields, NULL);
    if (rc == AS_PARSE) rc = AS_IO;
  }
  if (rc == AS_OK && !brief) rc = AS_NOMEM;
  if (rc == AS_OK) rc = jset(brief, "session", json_string(r->id));
  if (rc == AS_OK) rc = jset(brief, "fields", json_incref(fields));
  if (rc == AS_OK && handoff) rc = jset(brief, "handoff", json_string(handoff));
  char *text = rc == AS_OK ? jdump(brief) : NULL;
  if (rc == AS_OK && !text) rc = AS_NOMEM;
  const char *prompt = agent_of(r)->prompt ? agent_of(r)->prompt : "";
  if (rc == AS_OK) rc = msg_add(r, "system", prompt, NULL, NULL);
  if (rc == AS_OK) rc = msg_add(r, "user", text, NULL, NULL);
  jfree(text);
  json_decref(fields);
  json_decref(brief);
  as_session_clear(&s);
  if (rc != AS_OK) return rc;
  json_t *p = json_pack("{s:s,s:I}", "agent", agent_of(r)->name, "run", (json_int_t)r->runs);
  rc = emit(r, AS_EVENT_AGENT_STARTED, p);
  if (rc == AS_OK) agent_span_open(r);
  return rc;
}

/* The request's messages and tools, pointing into r->msgs and *schemas. */
typedef struct request_buf {
  as_llm_message msgs[AS_LLM_MESSAGES_MAX];
  as_llm_tool_call calls[AS_LLM_MESSAGES_MAX][AS_LLM_CALLS_MAX];
  as_llm_tool tools[AS_APP_AGENT_TOOLS_MAX];
  char *schemas[AS_APP_AGENT_TOOLS_MAX];
  size_t ntools;
} request_buf;

static void request_buf_free(request_buf *b) {
  for (size_t i = 0; i < b->ntools; i++) as_free(b->schemas[i]);
  b->ntools = 0;
}

static as_llm_role role_of(const char *name) {
  if (strcmp(name, "system") == 0) return AS_LLM_SYSTEM;
  if (strcmp(name, "user") == 0) return AS_LLM_USER;
  if (strcmp(name, "assistant") == 0) return AS_LLM_ASSISTANT;
  return AS_LLM_TOOL;
}

/* The runtime's timeout, else the provider's, else the default (runtime_ok
** refused any past AS_LLM_TIMEOUT_MAX_NS). */
static uint64_t request_timeout(const as_runtime *rt) {
  if (rt->llm_timeout_ns) return rt->llm_timeout_ns;
  return rt->llm->timeout_ns ? rt->llm->timeout_ns : AS_LLM_TIMEOUT_DEFAULT_NS;
}

static AS_WUR int request_build(const run *r, request_buf *b, as_llm_request *req) {
  size_t n = json_array_size(r->msgs);
  for (size_t i = 0; i < n; i++) {
    json_t *m = json_array_get(r->msgs, i);
    as_llm_message *out = &b->msgs[i];
    memset(out, 0, sizeof *out);
    out->role = role_of(json_string_value(json_object_get(m, "role")));
    out->text = json_string_value(json_object_get(m, "text"));
    out->call_id = json_string_value(json_object_get(m, "call_id"));
    json_t *calls = json_object_get(m, "calls");
    size_t k = json_array_size(calls);
    if (k > AS_LLM_CALLS_MAX) return AS_TOOBIG;
    for (size_t j = 0; j < k; j++) {
      json_t *c = json_array_get(calls, j);
      as_llm_tool_call *tc = &b->calls[i][j];
      memset(tc, 0, sizeof *tc);
      (void)snprintf(tc->id, sizeof tc->id, "%s", /* ignore: ids were capped when received */
                     json_string_value(json_object_get(c, "id")));
      (void)snprintf(tc->name, sizeof tc->name, "%s", /* ignore: as above */
                     json_string_value(json_object_get(c, "name")));
      tc->args = (char *)json_string_value(json_object_get(c, "args"));
    }
    out->calls = k ? b->calls[i] : NULL;
    out->ncalls = k;
  }
  const as_app_agent *a = agent_of(r);
  const as_app *app = r->rt->app;
  for (size_t i = 0; i < a->ntools; i++) {
    const as_app_tool *t = &app->tools[a->tools[i]];
    int rc = as_app_tool_schema(app, t, &b->schemas[i]);
    if (rc != AS_OK) return rc;
    b->ntools = i + 1;
    b->tools[i] = (as_llm_tool){t->qname, t->description, b->schemas[i]};
  }
  *req = (as_llm_request){.session_id = r->id,
                          .agent = a->name,
                          .call = r->calls,
                          .attempt = 1,
                          .retry = r->retry > 0 ? (unsigned)r->retry : 0,
                          .msgs = b->msgs,
                          .nmsgs = n,
                          .tools = b->tools,
                          .ntools = b->ntools,
                          .timeout_ns = request_timeout(r->rt)};
  return AS_OK;
}

static bool llm_transient(as_llm_error_kind k) {
  return k == AS_LLM_ERR_TIMEOUT || k == AS_LLM_ERR_RATE_LIMITED || k == AS_LLM_ERR_SERVER ||
         k == AS_LLM_ERR_MALFORMED;
}

/* The error kind of a failed LLM call: its typed error's, else (a status
** as_llm_complete gave without one: an answer past a cap, a provider that
** broke the contract) a bad answer. */
static as_error_kind llm_kind(as_llm_error_kind k) {
  switch (k) {
  case AS_LLM_ERR_TIMEOUT: return AS_ERR_LLM_TIMEOUT;
  case AS_LLM_ERR_RATE_LIMITED: return AS_ERR_LLM_RATE_LIMITED;
  case AS_LLM_ERR_SERVER: return AS_ERR_LLM_SERVER_ERROR;
  case AS_LLM_ERR_MALFORMED: return AS_ERR_LLM_MALFORMED;
  case AS_LLM_ERR_REFUSAL: return AS_ERR_LLM_REFUSAL;
  default: return AS_ERR_LLM_BAD_ANSWER; /* as_llm_complete: a typed status has its kind */
  }
}

/* One LLM call, tried again on a transient error. AS_OK with *resp, or a
** failure recorded in r->res (return AS_OK too: the run fails, the call did
** what it could) with *failed set. */
static AS_WUR int llm_done(run *r, const as_llm_request *req, const as_llm_response *resp,
                           int64_t start, int64_t dur, bool *failed);

static AS_WUR int llm_call(run *r, as_llm_response *resp, bool *failed) {
  request_buf *b = as_calloc(1, sizeof *b);
  if (!b) return AS_NOMEM;
  as_llm_request req;
  r->calls++;
  int rc = request_build(r, b, &req);
  unsigned attempts = r->rt->llm_attempts ? r->rt->llm_attempts : AS_LLM_ATTEMPTS_DEFAULT;
  as_llm_error err = {0};
  int lrc = AS_OK;
  for (unsigned a = 1; rc == AS_OK && a <= attempts; a++) {
    req.attempt = a;
    bool tel = r->rt->tracer || r->rt->budget;
    int64_t start = tel ? as_now_wall_ns() : 0;
    uint64_t t0 = tel ? as_now_mono_ns() : 0;
    lrc = as_llm_complete(r->rt->llm, &req, resp, &err);
    if (lrc == AS_OK) {
      int64_t dur = tel ? (int64_t)(as_now_mono_ns() - t0) : 0;
      rc = llm_done(r, &req, resp, start, dur, failed);
      break;
    }
    if (lrc == AS_NOMEM || !llm_transient(err.kind)) break;
    as_log(AS_LOG_INFO, "session %s: agent %s call %u attempt %u: %s (%s)", r->id,
           agent_of(r)->name, r->calls, a, as_llm_error_name(err.kind), err.message);
    /* A 429 says when to come back. */
    uint64_t wait = err.kind == AS_LLM_ERR_RATE_LIMITED && a < attempts ? err.retry_after_ns : 0;
    as_sleep_until(as_now_mono_ns() + wait); /* 0: a scheduling point, no time */
    if (as__runs_cancelled(r->rt->runs, r->entry)) { /* the caller sees it next */
      request_buf_free(b);
      as_free(b);
      return AS_OK;
    }
  }
  request_buf_free(b);
  as_free(b);
  if (rc != AS_OK || *failed) { /* an answer nobody may act on */
    as_llm_response_clear(resp);
    return rc;
  }
  if (lrc == AS_NOMEM) return lrc;
  if (lrc != AS_OK) {
    result_fail(r->res, llm_kind(err.kind), "agent %s, LLM call %u: %s", agent_of(r)->name,
                r->calls, err.message[0] ? err.message : as_status_msg(lrc));
    *failed = true;
  }
  return AS_OK;
}

/* --- cost records and spans (budget.h, trace.h) --------------------------------------- */

static uint64_t fnv64(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

static void put64(uint8_t *out, uint64_t v) {
  for (int i = 0; i < 8; i++) out[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* A fresh span id: the trace, the run's start and the span's number. */
static void span_id(tele *t, uint8_t out[8]) {
  uint64_t h = fnv64(0xcbf29ce484222325ull, t->trace, sizeof t->trace);
  h = fnv64(h, &t->start_ns, sizeof t->start_ns);
  unsigned n = ++t->nspans;
  h = fnv64(h, &n, sizeof n);
  put64(out, h + (h == 0)); /* never 0: an all-zero id is no span's */
}

static void tele_init(const as_runtime *rt, const char *id, tele *t) {
  memset(t, 0, sizeof *t);
  (void)snprintf(t->op, sizeof t->op, "%s", id); /* ignore: id fits (AS_SESSION_ID_MAX) */
  if (rt->budget && as_budget_open_of(rt->st, id, t->op, sizeof t->op) != AS_OK)
    (void)snprintf(t->op, sizeof t->op, "%s", id); /* ignore: the spans name the session then */
  if (!t->op[0]) (void)snprintf(t->op, sizeof t->op, "%s", id); /* ignore: as above */
  size_t n = strlen(t->op);
  put64(t->trace, fnv64(0xcbf29ce484222325ull, t->op, n));
  put64(t->trace + 8, fnv64(0x84222325cbf29ce4ull, t->op, n));
  t->start_ns = rt->tracer ? as_now_wall_ns() : 0;
  span_id(t, t->root);
}

typedef struct span_in {
  const uint8_t *id, *parent;
  const char *name;
  as_span_kind kind;
  int64_t start_ns;
  bool error;
  const char *message;
} span_in;

static void attr_s(as_span *sp, const char *k, const char *v) {
  if (sp->nattrs < AS_SPAN_ATTRS_MAX) sp->attrs[sp->nattrs++] = (as_span_attr){k, v ? v : "", 0};
}
static void attr_i(as_span *sp, const char *k, int64_t v) {
  if (sp->nattrs < AS_SPAN_ATTRS_MAX) sp->attrs[sp->nattrs++] = (as_span_attr){k, NULL, v};
}

/* Only with a tracer (span_emit): without one, no clock is read for spans. */
static void span_begin(const tele *t, const span_in *in, as_span *sp) {
  memset(sp, 0, sizeof *sp);
  memcpy(sp->trace_id, t->trace, sizeof sp->trace_id);
  memcpy(sp->span_id, in->id, sizeof sp->span_id);
  if (in->parent) memcpy(sp->parent_id, in->parent, sizeof sp->parent_id);
  (void)snprintf(sp->name, sizeof sp->name, "%s", in->name); /* ignore: a long name is cut */
  sp->kind = in->kind;
  sp->start_ns = in->start_ns;
  sp->end_ns = as_now_wall_ns();
  sp->error = in->error;
  sp->message = in->message;
  attr_s(sp, "operation.id", t->op);
}

/* Only with a tracer: its callers return first without one. */
static void span_emit(const as_runtime *rt, const as_span *sp) {
  if (rt->tracer->emit) rt->tracer->emit(rt->tracer->self, sp);
}

static void usage_attrs(as_span *sp, const as_llm_usage *u) {
  attr_i(sp, "gen_ai.usage.input_tokens",
         u->input_tokens + u->cache_read_tokens + u->cache_write_tokens);
  attr_i(sp, "gen_ai.usage.output_tokens", u->output_tokens);
  attr_i(sp, "gen_ai.usage.cache_read.input_tokens", u->cache_read_tokens);
  attr_i(sp, "gen_ai.usage.cache_creation.input_tokens", u->cache_write_tokens);
}

static void agent_span_open(run *r) {
  tele *t = r->tel;
  if (t->agent_open || !r->rt->tracer) return;
  t->agent_open = true;
  span_id(t, t->agent_span);
  t->agent_start_ns = as_now_wall_ns();
  (void)snprintf(t->agent, sizeof t->agent, "%s", agent_of(r)->name); /* ignore: names fit */
  memset(&t->agent_usage, 0, sizeof t->agent_usage);
}

static void agent_span_close(const as_runtime *rt, tele *t, bool error, const char *message) {
  if (!t->agent_open) return;
  t->agent_open = false;
  char name[AS_SPAN_NAME_MAX];
  (void)snprintf(name, sizeof name, "invoke_agent %s", t->agent); /* ignore: cut */
  span_in in = {t->agent_span, t->root, name, AS_SPAN_INTERNAL, t->agent_start_ns, error, message};
  as_span sp;
  span_begin(t, &in, &sp);
  attr_s(&sp, "gen_ai.operation.name", "invoke_agent");
  attr_s(&sp, "gen_ai.agent.name", t->agent);
  if (AS_MUTANT(PARENT_SPAN_USAGE)) usage_attrs(&sp, &t->agent_usage);
  span_emit(rt, &sp);
}

/* The record of one leaf operation of r, priced: its day and cycle come
** from the ledger (as_ledger_record). *unpriced when no price matches. */
static AS_WUR int leaf_record(run *r, const char *leaf, const char *name, const as_llm_usage *u,
                              bool estimated, int64_t dur, int64_t *cost, const char **version,
                              bool *unpriced) {
  const as_budget_cfg *b = r->rt->budget;
  *cost = 0;
  *version = "";
  *unpriced = false;
  if (!b) return AS_OK;
  as_cost_record rec;
  memset(&rec, 0, sizeof rec);
  (void)snprintf(rec.leaf, sizeof rec.leaf, "%s", leaf);              /* ignore: short */
  (void)snprintf(rec.session_id, sizeof rec.session_id, "%s", r->id); /* ignore: fits */
  (void)snprintf(rec.agent, sizeof rec.agent, "%s", agent_of(r)->name); /* ignore: fits */
  (void)snprintf(rec.name, sizeof rec.name, "%s", name); /* ignore: a long name is cut */
  rec.usage = (as_cost_usage){u->input_tokens, u->cache_read_tokens, u->cache_write_tokens,
                              u->output_tokens};
  rec.usage_estimated = estimated;
  rec.duration_ns = dur;
  rec.at_ns = as_now_wall_ns();
  if (strcmp(leaf, AS_LEAF_LLM) == 0) {
    const as_price *p = as_prices_find(b->prices, name);
    if (!p) {
      *unpriced = true;
      return AS_OK;
    }
    if (as_cost_micros(p, &rec.usage, &rec.cost_micros) != AS_OK) {
      *unpriced = true; /* a bucket past AS_TOKENS_MAX */
      return AS_OK;
    }
  } else {
    rec.cost_micros = b->prices ? b->prices->tool_call_micros : 0;
  }
  if (b->prices)
    (void)snprintf(rec.price_version, sizeof rec.price_version, "%s", /* ignore: fits */
                   b->prices->version);
  int rc = as_ledger_record(r->rt->st, &rec);
  *cost = rec.cost_micros;
  *version = b->prices ? b->prices->version : "";
  return rc;
}

static const char *model_of(const as_runtime *rt) {
  return rt->llm->model && rt->llm->model[0] ? rt->llm->model : "unknown";
}

/* An LLM call answered (*resp, request req) after dur ns, begun at start:
** its record and its chat span. A model the price table lacks fails the
** run (*failed). */
static AS_WUR int llm_done(run *r, const as_llm_request *req, const as_llm_response *resp,
                           int64_t start, int64_t dur, bool *failed) {
  as_llm_usage u = resp->usage;
  bool estimated = !resp->usage_known;
  if (estimated) as_llm_usage_estimate(req, resp, &u);
  const char *model = model_of(r->rt);
  int64_t cost = 0;
  const char *version = "";
  bool unpriced = false;
  int rc = leaf_record(r, AS_LEAF_LLM, model, &u, estimated, dur, &cost, &version, &unpriced);
  tele *t = r->tel;
  if (!r->rt->tracer) goto out;
  agent_span_open(r);
  t->agent_usage.input_tokens += u.input_tokens;
  t->agent_usage.cache_read_tokens += u.cache_read_tokens;
  t->agent_usage.cache_write_tokens += u.cache_write_tokens;
  t->agent_usage.output_tokens += u.output_tokens;
  uint8_t id[8];
  span_id(t, id);
  char name[AS_SPAN_NAME_MAX];
  (void)snprintf(name, sizeof name, "chat %s", model); /* ignore: cut */
  span_in in = {id, t->agent_span, name, AS_SPAN_CLIENT, start, unpriced, NULL};
  as_span sp;
  span_begin(t, &in, &sp);
  attr_s(&sp, "gen_ai.operation.name", "chat");
  attr_s(&sp, "gen_ai.request.model", model);
  usage_attrs(&sp, &u);
  if (r->rt->budget && !unpriced) {
    attr_i(&sp, "agentsim.cost_micros", cost);
    attr_s(&sp, "agentsim.price_version", version);
  }
  span_emit(r->rt, &sp);
out:
  if (rc == AS_OK && unpriced) {
    result_fail(r->res, AS_ERR_INTERNAL, "agent %s: no price for model %s in price table %s",
                agent_of(r)->name, model,
                r->rt->budget->prices ? r->rt->budget->prices->version : "(none)");
    *failed = true;
  }
  return rc;
}

/* An app tool call of r ran (begun at start): its execute_tool span, an
** error when it failed (xrc). A call no agent made (an approval's) hangs
** off the root. */
static void tool_span(run *r, const char *tool, int64_t start, int xrc) {
  tele *t = r->tel;
  if (!r->rt->tracer) return;
  if (r->agent >= 0) agent_span_open(r);
  uint8_t id[8];
  span_id(t, id);
  char name[AS_SPAN_NAME_MAX];
  (void)snprintf(name, sizeof name, "execute_tool %s", tool); /* ignore: cut */
  span_in in = {id, t->agent_open ? t->agent_span : t->root, name, AS_SPAN_INTERNAL, start,
                xrc != AS_OK, xrc != AS_OK ? as_status_msg(xrc) : NULL};
  as_span sp;
  span_begin(t, &in, &sp);
  attr_s(&sp, "gen_ai.operation.name", "execute_tool");
  attr_s(&sp, "gen_ai.tool.name", tool);
  span_emit(r->rt, &sp);
}

/* An app tool call of r succeeded (begun at start, dur ns): its record and
** span. A failed call has no record (tool_span alone). */
static AS_WUR int tool_done(run *r, const char *tool, int64_t start, int64_t dur) {
  as_llm_usage none = {0};
  int64_t cost = 0;
  const char *version = "";
  bool unpriced = false;
  int rc = leaf_record(r, AS_LEAF_TOOL, tool, &none, false, dur, &cost, &version, &unpriced);
  tool_span(r, tool, start, AS_OK);
  return rc;
}

/* The run of this cycle ended (res): its invoke_agent span. */
static void root_span(const as_runtime *rt, const char *id, tele *t, const as_run_result *res,
                      int rc) {
  if (!rt->tracer) return;
  bool error = rc != AS_OK || res->outcome == AS_RUN_FAILED;
  const char *msg = rc != AS_OK ? as_status_msg(rc) : res->outcome == AS_RUN_FAILED ? res->error
                                                                                    : NULL;
  agent_span_close(rt, t, error, msg);
  span_in in = {t->root, NULL, "invoke_agent", AS_SPAN_INTERNAL, t->start_ns, error, msg};
  as_span sp;
  span_begin(t, &in, &sp);
  attr_s(&sp, "gen_ai.operation.name", "invoke_agent");
  attr_s(&sp, "gen_ai.agent.name", rt->app->name);
  attr_s(&sp, "session.id", id);
  attr_s(&sp, "outcome", rc != AS_OK ? "aborted" : as_run_outcome_name(res->outcome));
  span_emit(rt, &sp);
}

/* The run ended (res; rc its status): close its cycle's reservation as
** budget.h says: settle on an end, release on a failure or an idle run,
** keep it while the session waits for an approval. */
static AS_WUR int cycle_close(const as_runtime *rt, const char *id, const as_run_result *res,
                              int rc) {
  if (!rt->budget) return rc;
  char op[AS_OP_ID_MAX];
  int crc = as_budget_open_of(rt->st, id, op, sizeof op);
  if (crc != AS_OK || !op[0]) return rc != AS_OK ? rc : crc;
  bool changed = false;
  if (rc != AS_OK) {
    /* The run could not be carried out: its cycle is over. A failure here
    ** leaves the reservation to as_budget_recover; rc is the one to report. */
    crc = as_budget_release(rt->st, op, "failed", &changed);
    if (crc != AS_OK) as_log(AS_LOG_WARN, "session %s: releasing %s: %s", id, op, as_status_msg(crc));
    return rc;
  }
  switch (res->outcome) {
  case AS_RUN_ENDED: return as_budget_settle(rt->st, op, &changed);
  case AS_RUN_FAILED:
    if (AS_MUTANT(RESERVATION_NOT_RELEASED_ON_ERROR)) return AS_OK;
    return as_budget_release(rt->st, op, res->kind == AS_ERR_CANCELLED ? "cancelled" : "failed",
                             &changed);
  case AS_RUN_IDLE:
    if (res->status == AS_SESS_AWAITING_INPUT) return AS_OK; /* still waiting: goes on */
    return as_budget_release(rt->st, op, "idle", &changed);
  default: return AS_OK; /* paused: the cycle goes on at its approval */
  }
}

/* --- the gateway -------------------------------------------------------------------- */

/* Tell the model about call c (the tool's answer, or why nothing ran). */
static AS_WUR int tell(run *r, const json_t *c, const char *result) {
  return msg_add(r, "tool", result, NULL, json_string_value(json_object_get(c, "id")));
}

static AS_WUR int tell_error(run *r, const json_t *c, const char *fmt, ...) AS_PRINTF(3, 4);
static AS_WUR int tell_error(run *r, const json_t *c, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  (void)vsnprintf(msg, sizeof msg, fmt, ap); /* ignore: cut to fit */
  va_end(ap);
  json_t *o = json_pack("{s:s}", "error", msg);
  char *text = o ? jdump(o) : NULL;
  json_decref(o);
  if (!text) return AS_NOMEM;
  as_log(AS_LOG_INFO, "session %s: %s", r->id, msg);
  int rc = tell(r, c, text);
  jfree(text);
  return rc;
}

/* The session's value for injected argument inj, or NULL (a new reference).
** The loader gives inj one of the four sources, and an extra field's index
** into app->fields (app_refs.c, inject_path). */
static json_t *injected_value(const as_session *s, const json_t *extra, const as_app *app,
                              const as_app_inject *inj) {
  if (inj->src == AS_INJECT_ID) return json_string(s->id);
  if (inj->src == AS_INJECT_STATUS) return json_string(as_session_status_name(s->status));
  if (inj->src == AS_INJECT_RETRY_COUNT) return json_integer(s->retry_count);
  return json_incref(json_object_get(extra, app->fields[inj->field].name)); /* AS_INJECT_EXTRA */
}

/* Whether v (not NULL) has type t, one of the types the loader knows. */
static bool type_ok(as_arg_type t, const json_t *v) {
  json_type j = json_typeof(v);
  if (t == AS_ARG_STRING) return j == JSON_STRING;
  if (t == AS_ARG_NUMBER) return j == JSON_INTEGER || j == JSON_REAL;
  if (t == AS_ARG_INTEGER) return j == JSON_INTEGER;
  if (t == AS_ARG_BOOLEAN) return j == JSON_TRUE || j == JSON_FALSE;
  if (t == AS_ARG_OBJECT) return j == JSON_OBJECT;
  return j == JSON_ARRAY; /* AS_ARG_ARRAY */
}

static const as_app_arg *arg_of(const as_app_tool *t, const char *name) {
  for (size_t i = 0; i < t->nargs; i++)
    if (strcmp(t->args[i].name, name) == 0) return &t->args[i];
  return NULL;
}

static bool agent_has(const as_app *app, const as_app_agent *a, const as_app_tool *t) {
  for (size_t i = 0; i < a->ntools; i++)
    if (&app->tools[a->tools[i]] == t) return true;
  return false;
}

/* Keys the patch tool never takes, whatever the app declares. */
static bool patch_forbidden(const char *key) {
  return strcmp(key, "status") == 0 || strcmp(key, "resolution") == 0 ||
         strcmp(key, "escalation") == 0;
}

/* Whether v (not NULL) is a confidence: a number in [0, 1]. */
static bool confidence_ok(const json_t *v) {
  json_type j = json_typeof(v);
  double c = json_number_value(v);
  return (j == JSON_INTEGER || j == JSON_REAL) && c >= 0 && c <= 1;
}

/* The session's confidence so far (its extra field), if any. */
static bool current_conf(const json_t *extra, double *out) {
  const json_t *v = json_object_get(extra, "confidence");
  if (!json_is_number(v)) return false;
  *out = json_number_value(v);
  return true;
}

typedef struct gate_view {
  as_session s;
  json_t *extra;
} gate_view;

/* args: set the injected arguments, drop what the tool does not take,
** check the rest. *why gets the reason it cannot run ("" when it can). */
static AS_WUR int args_prepare(run *r, const as_app_tool *t, const gate_view *v, json_t *args,
                               char *why, size_t cap) {
  const as_app *app = r->rt->app;
  why[0] = 0;
  for (size_t i = 0; i < t->nargs; i++) {
    const as_app_arg *a = &t->args[i];
    if (a->injected < 0) continue; /* else an index into app->inject (app_refs.c, inject_mark) */
    /* The seed injected only what the model left out. */
    if (AS_MUTANT(INJECTED_ARG_LLM_WINS) && json_object_get(args, a->name)) continue;
    json_t *val = injected_value(&v->s, v->extra, app, &app->inject[a->injected]);
    if (!val) {
      json_t *had = json_object_get(args, a->name);
      if (had) {
        as_log(AS_LOG_WARN, "session %s: %s: the model's %s dropped (the session has none)",
               r->id, t->qname, a->name);
        (void)json_object_del(args, a->name); /* ignore: it is there (had) */
      }
      continue;
    }
    if (json_object_set_new(args, a->name, val) != 0) return AS_NOMEM;
  }
  if (t->kind == AS_TOOLK_PATCH) return AS_OK; /* its keys are checked as a patch */
  /* The iterator API, not json_object_foreach_safe: a key it reaches
  ** always has a value. The next member is found before this one goes. */
  for (void *it = json_object_iter(args), *next; it; it = next) {
    next = json_object_iter_next(args, it);
    const char *key = json_object_iter_key(it);
    if (arg_of(t, key)) continue;
    as_log(AS_LOG_WARN, "session %s: %s does not take '%s': dropped", r->id, t->qname, key);
    (void)json_object_del(args, key); /* ignore: the key the loop is at */
  }
  for (size_t i = 0; i < t->nargs && !why[0]; i++) {
    const as_app_arg *a = &t->args[i];
    json_t *got = json_object_get(args, a->name);
    if (!got) {
      if (a->required)
        (void)as_appendf( /* ignore: a reason cut to fit still reads */ why, cap, 0, "%s: argument '%s' is required", t->qname, a->name);
      continue;
    }
    if (!type_ok(a->type, got))
      (void)as_appendf( /* ignore: a reason cut to fit still reads */ why, cap, 0, "%s: argument '%s' must be a %s", t->qname, a->name,
                       as_arg_type_name(a->type));
    else if (a->roster >= 0 && !as_app_roster_has(app, a->roster, json_string_value(got)))
      (void)as_appendf( /* ignore: a reason cut to fit still reads */ why, cap, 0, "%s: '%s' is not one of roster %s", t->qname,
                       json_string_value(got), app->rosters[a->roster].name);
  }
  /* A typed terminal tool's confidence is a required number (app_load.c,
  ** app_load_builtins): here it is there. */
  if (!why[0] && t->kind != AS_TOOLK_APP && !confidence_ok(json_object_get(args, "confidence")))
    (void)as_appendf( /* ignore: a reason cut to fit still reads */ why, cap, 0, "%s: confidence must lie in [0, 1]", t->qname);
  /* mark_escalated's team: its argument has the escalation roster
  ** (app_load.c, app_load_builtins), checked with the others above. */
  return AS_OK;
}

/* What a patch changes in extra, into *out (a new object); *why when it is
** refused. */
static AS_WUR int patch_plan(run *r, const json_t *args, json_t **out, const char **status,
                             char *why, size_t cap) {
  const as_app *app = r->rt->app;
  json_t *p = json_object();
  if (!p) return AS_NOMEM;
  *status = NULL;
  for (void *it = json_object_iter((json_t *)args); it;
       it = json_object_iter_next((json_t *)args, it)) {
    const char *key = json_object_iter_key(it);
    json_t *val = json_object_iter_value(it);
    bool declared = false;
    for (size_t i = 0; i < app->nfields && !declared; i++)
      declared = strcmp(app->fields[i].name, key) == 0;
    bool conf = strcmp(key, "confidence") == 0 || strcmp(key, "rationale") == 0;
    if (AS_MUTANT(PATCH_ACCEPTS_STATUS) && strcmp(key, "status") == 0 &&
        json_typeof(val) == JSON_STRING) {
      *status = json_string_value(val);
      continue;
    }
    if (patch_forbidden(key)) {
      (void)as_appendf( /* ignore: a reason cut to fit still reads */ why, cap, 0, "patch_session cannot change '%s': a typed terminal tool decides it",
                       key);
      break;
    }
    if (!declared && !conf) {
      (void)as_appendf( /* ignore: a reason cut to fit still reads */ why, cap, 0, "patch_session: '%s' is not a field of this app", key);
      break;
    }
    if (conf && r->answer_terminal && !AS_MUTANT(TERMINAL_NOT_LOCKED)) {
      as_log(AS_LOG_WARN, "session %s: a typed terminal tool ran in this answer: patch's %s dropped",
             r->id, key);
      continue;
    }
    if (strcmp(key, "confidence") == 0 && !confidence_ok(val)) {
      (void)as_appendf( /* ignore: a reason cut to fit still reads */ why, cap, 0, "patch_session: confidence must be a number in [0, 1]");
      break;
    }
    if (json_object_set(p, key, val) != 0) {
      json_decref(p);
      return AS_NOMEM;
    }
  }
  *out = p;
  return AS_OK;
}

/* The extra fields a typed terminal tool records: its arguments, every one
** required (app_load.c, app_load_builtins) and so there. */
static AS_WUR int terminal_plan(const as_app_tool *t, const json_t *args, json_t **out) {
  json_t *p = json_object();
  if (!p) return AS_NOMEM;
  static const char *const keys[] = {"confidence", "rationale"};
  int rc = AS_OK;
  for (size_t i = 0; i < 2 && rc == AS_OK; i++)
    if (json_object_set(p, keys[i], json_object_get(args, keys[i])) != 0) rc = AS_NOMEM;
  const char *from = t->kind == AS_TOOLK_MARK_RESOLVED    ? "resolution"
                     : t->kind == AS_TOOLK_MARK_ESCALATED ? "team"
                                                          : "hypothesis";
  const char *to = t->kind == AS_TOOLK_MARK_ESCALATED ? "escalation" : from;
  if (rc == AS_OK && json_object_set(p, to, json_object_get(args, from)) != 0) rc = AS_NOMEM;
  if (rc != AS_OK) {
    json_decref(p);
    return rc;
  }
  *out = p;
  return AS_OK;
}

static AS_WUR int gate_view_load(const run *r, gate_view *v) {
  memset(v, 0, sizeof *v);
  int rc = as_session_load(r->rt->st, r->id, &v->s);
  if (rc != AS_OK) return rc;
  const char *x = extra_of(&v->s);
  rc = as_json_parse(x, strlen(x), &v->extra, NULL);
  if (rc == AS_PARSE) rc = AS_IO;
  if (rc != AS_OK) as_session_clear(&v->s);
  return rc;
}

static void gate_view_clear(gate_view *v) {
  json_decref(v->extra);
  as_session_clear(&v->s);
  v->extra = NULL;
}

/* The error kind of a tool executor's failure status. */
static as_error_kind tool_kind(int xrc) {
  if (xrc == AS_IO || xrc == AS_TIMEDOUT || xrc == AS_BUSY) return AS_ERR_TOOL_UNAVAILABLE;
  if (xrc == AS_INVAL || xrc == AS_PARSE || xrc == AS_TOOBIG) return AS_ERR_VALIDATION;
  return AS_ERR_TOOL_FAILED;
}

/* Run tool t with args now: record it executed; tell the model. A failing
** app tool fails the run (r->failed). */
static AS_WUR int execute(run *r, const json_t *c, const as_app_tool *t, json_t *args) {
  const as_runtime *rt = r->rt;
  char why[512] = "";
  json_t *plan = NULL;
  const char *status = NULL;
  char *result = NULL;
  int rc = AS_OK;
  if (t->kind == AS_TOOLK_PATCH) {
    rc = patch_plan(r, args, &plan, &status, why, sizeof why);
  } else if (t->kind != AS_TOOLK_APP) {
    rc = terminal_plan(t, args, &plan);
  }
  if (rc == AS_OK && why[0]) {
    json_decref(plan);
    return tell_error(r, c, "%s", why);
  }
  char *args_text = rc == AS_OK ? jdump(args) : NULL;
  if (rc == AS_OK && !args_text) rc = AS_NOMEM;
  int64_t xstart = 0;
  uint64_t xt0 = 0;
  int64_t xdur = 0;
  if (rc == AS_OK && t->kind == AS_TOOLK_APP) {
    bool tel = rt->tracer || rt->budget;
    xstart = tel ? as_now_wall_ns() : 0;
    xt0 = tel ? as_now_mono_ns() : 0;
    int xrc = rt->exec ? rt->exec(rt->exec_ctx, r->id, t, args_text, &result) : AS_OK;
    xdur = tel ? (int64_t)(as_now_mono_ns() - xt0) : 0;
    if (xrc != AS_OK) {
      as_free(result);
      jfree(args_text);
      if (xrc == AS_NOMEM) return xrc;
      tool_span(r, t->qname, xstart, xrc);
      result_fail(r->res, tool_kind(xrc), "agent %s: %s failed: %s", agent_of(r)->name, t->qname,
                  as_status_msg(xrc));
      r->failed = true;
      return AS_OK;
    }
  }
  call_ctx cc = {.tool = t->qname,
                 .args = args_text,
                 .result = result ? result : "{\"ok\":true}",
                 .state = AS_TOOL_EXECUTED,
                 .extra_patch = plan,
                 .status = status,
                 .answer = r->answer};
  if (rc == AS_OK) rc = step(rt, r->id, call_fn, &cc);
  if (rc == AS_OK && t->kind == AS_TOOLK_APP) rc = tool_done(r, t->qname, xstart, xdur);
  if (rc == AS_OK) rc = tell(r, c, cc.result);
  if (rc == AS_OK && t->kind != AS_TOOLK_APP && t->kind != AS_TOOLK_PATCH) {
    r->answer_terminal = true;
    r->has_tconf = true; /* its confidence: a required number */
    r->tconf = json_number_value(json_object_get(args, "confidence"));
    if (t->kind != AS_TOOLK_SUBMIT_HYPOTHESIS) r->ending = true;
  }
  json_decref(plan);
  jfree(args_text);
  as_free(result);
  return rc;
}

/* Gate call c of tool t: the pending row and the pause. */
static AS_WUR int pause_for(run *r, const json_t *c, const as_app_tool *t, json_t *args,
                            as_gate_decision why) {
  char *args_text = jdump(args);
  if (!args_text) return AS_NOMEM;
  /* The pending call is the next one the session gets: we hold its lock. */
  as_session s = {0};
  int rc = as_session_load(r->rt->st, r->id, &s);
  size_t idx = s.ncalls;
  as_session_clear(&s);
  json_t *p = json_pack("{s:I,s:s,s:s}", "call", (json_int_t)idx, "tool", t->qname, "why",
                        as_gate_decision_name(why));
  if (rc == AS_OK) rc = emit(r, AS_EVENT_GATE_FIRED, p);
  else json_decref(p);
  /* The conversation as it stands, with this call answered on resume. */
  json_t *pending = json_object();
  if (rc == AS_OK && !pending) rc = AS_NOMEM;
  if (rc == AS_OK) rc = jset(pending, "id", json_incref(json_object_get(c, "id")));
  if (rc == AS_OK) rc = jset(pending, "idx", json_integer((json_int_t)idx));
  if (rc == AS_OK) rc = jset(pending, "tool", json_string(t->qname));
  if (rc == AS_OK) rc = json_array_insert(r->queue, 0, pending) == 0 ? AS_OK : AS_NOMEM;
  json_decref(pending); /* the queue holds its own reference */
  if (rc == AS_OK) rc = state_write(r);
  pause_ctx pc = {
      .tool = t->qname, .args = args_text, .since = as_now_wall_ns(), .settled = AS__SESS_COUNT};
  if (AS_MUTANT(PENDING_SAVED_AFTER_PAUSE)) {
    /* The seed paused the run first and wrote the pending row after. */
    pc.with_status = true;
    if (rc == AS_OK) rc = step(r->rt, r->id, pause_fn, &pc);
    pc.with_status = false;
    pc.with_call = true;
    if (rc == AS_OK) rc = step(r->rt, r->id, pause_fn, &pc);
  } else {
    pc.with_call = pc.with_status = true;
    if (rc == AS_OK) rc = step(r->rt, r->id, pause_fn, &pc);
  }
  jfree(args_text);
  /* A session a writer without the lock settled meanwhile waits for nothing. */
  bool settled = pc.settled != AS__SESS_COUNT;
  if (rc == AS_OK)
    result_set(r->res, settled ? AS_RUN_IDLE : AS_RUN_PAUSED,
               settled ? pc.settled : AS_SESS_AWAITING_INPUT);
  return rc;
}

/* Take the next call of the queue through the gateway. *paused when the
** run stops for an approval. */
static AS_WUR int gateway_one(run *r, bool *paused) {
  const as_app *app = r->rt->app;
  json_t *c = json_incref(json_array_get(r->queue, 0));
  (void)json_array_remove(r->queue, 0); /* ignore: drive calls it with a call queued */
  const char *name = json_string_value(json_object_get(c, "name"));
  const char *args_text = json_string_value(json_object_get(c, "args"));
  const as_app_tool *t = name ? as_app_tool_find(app, name) : NULL;
  int rc = AS_OK;
  json_t *args = NULL;
  as_json_error jerr;
  if (++r->tools > app->max_tool_calls) {
    result_fail(r->res, AS_ERR_TOOL_CALL_CAP, "agent %s asked for more than %u tool calls",
                agent_of(r)->name, app->max_tool_calls);
    r->failed = true;
  } else if (t && !agent_has(app, agent_of(r), t)) {
    /* A tool of the app this agent was not given: the app forbids it. */
    result_fail(r->res, AS_ERR_TOOL_FORBIDDEN, "agent %s may not call %s", agent_of(r)->name,
                t->qname);
    r->failed = true;
  } else if (!t) {
    rc = tell_error(r, c, "agent %s has no tool '%s'", agent_of(r)->name, name ? name : "");
  } else if (as_json_parse(args_text ? args_text : "", args_text ? strlen(args_text) : 0, &args,
                           &jerr) != AS_OK ||
             json_typeof(args) != JSON_OBJECT) {
    rc = tell_error(r, c, "%s: the arguments are not a JSON object (%s)", t->qname,
                    args ? "another JSON value" : jerr.reason);
  } else {
    gate_view v;
    char why[512];
    rc = gate_view_load(r, &v);
    if (rc == AS_OK) rc = args_prepare(r, t, &v, args, why, sizeof why);
    double conf = 0;
    bool has_conf = rc == AS_OK && current_conf(v.extra, &conf);
    as_gate_decision g = rc == AS_OK && !why[0]
                             ? as_should_gate(&v.s, app, agent_of(r), t, has_conf, conf)
                             : AS_GATE_PASS;
    if (rc == AS_OK && why[0]) rc = tell_error(r, c, "%s", why);
    else if (rc == AS_OK && g != AS_GATE_PASS) {
      rc = pause_for(r, c, t, args, g);
      *paused = rc == AS_OK;
    } else if (rc == AS_OK) {
      rc = execute(r, c, t, args);
    }
    gate_view_clear(&v);
  }
  json_decref(args);
  json_decref(c);
  return rc;
}

/* --- routing and the end of an agent's run ---------------------------------------------- */

static int route_of(const as_app_agent *a, const char *signal) {
  for (size_t i = 0; signal[0] && i < a->nroutes; i++)
    if (strcmp(a->routes[i].signal, signal) == 0) return a->routes[i].agent;
  return a->default_route;
}

/* An answer without tool calls: the envelope, the route. *next gets the
** next agent (AS_APP_END: finalize); *failed when the run fails. */
static AS_WUR int conclude(run *r, const as_llm_response *resp, int *next, bool *failed,
                           char **handoff) {
  as_envelope env = {0};
  as_json_error err = {0};
  const char *sx = resp->structured, *tx = resp->text;
  int rc = as_envelope_parse(sx, sx ? strlen(sx) : 0, tx, tx ? strlen(tx) : 0, &env, &err);
  const as_app_agent *a = agent_of(r);
  if (rc == AS_NOTFOUND) {
    json_t *p = json_pack("{s:s,s:b,s:s}", "agent", a->name, "ok", 0, "error", AS_ENVELOPE_MISSING);
    rc = emit(r, AS_EVENT_AGENT_FINISHED, p);
    result_fail(r->res, AS_ERR_ENVELOPE_MISSING, "agent %s: %s", a->name, err.reason);
    *failed = true;
    return rc;
  }
  if (rc != AS_OK) return rc;
  double conf = env.confidence;
  if (r->has_tconf) {
    bool mismatch = false;
    conf = as_confidence_reconcile(env.confidence, r->tconf, &mismatch);
    if (mismatch)
      as_log(AS_LOG_WARN, "session %s: agent %s: envelope confidence %.3f, terminal tool's %.3f: the tool's wins",
             r->id, a->name, env.confidence, r->tconf);
  }
  int to = route_of(a, env.signal);
  const char *to_name = to == AS_APP_END ? "end" : r->rt->app->agents[to].name;
  rc = emit(r, AS_EVENT_CONFIDENCE_EMITTED,
            json_pack("{s:s,s:f}", "agent", a->name, "confidence", conf));
  if (rc == AS_OK)
    rc = emit(r, AS_EVENT_ROUTE_DECIDED,
              json_pack("{s:s,s:s,s:s}", "agent", a->name, "signal", env.signal, "to", to_name));
  if (rc == AS_OK)
    rc = emit(r, AS_EVENT_AGENT_FINISHED, json_pack("{s:s,s:b}", "agent", a->name, "ok", 1));
  *next = r->ending ? AS_APP_END : to;
  if (rc == AS_OK) { /* a parsed envelope has its content */
    size_t n = strlen(env.content);
    *handoff = as_malloc(n + 1);
    if (*handoff) memcpy(*handoff, env.content, n + 1);
    else rc = AS_NOMEM;
  }
  as_envelope_clear(&env);
  return rc;
}

/* The run failed (r->res says how): the session becomes error, with the
** kind and the cause. */
static AS_WUR int fail_run(run *r) {
  bool changed = false;
  int rc = as_mark_failed_as(r->rt->st, r->rt->locks, r->id, r->res->error_kind, r->res->error,
                             &changed);
  as_log(AS_LOG_WARN, "session %s: run failed (%s): %s", r->id, r->res->error_kind, r->res->error);
  return rc;
}

static AS_WUR int finalize_run(run *r) {
  const as_app *app = r->rt->app;
  const char *legacy[AS_APP_TOOLS_MAX];
  size_t nl = 0;
  for (size_t i = 0; i < app->ntools; i++)
    if (app->tools[i].legacy_escalate) legacy[nl++] = app->tools[i].qname;
  as_finalize_rules rules = {legacy, nl};
  as_session_status final = AS_SESS_NEW;
  int rc = as_finalize(r->rt->st, r->rt->locks, r->id, &rules, &final);
  if (rc == AS_OK) result_set(r->res, AS_RUN_ENDED, final);
  return rc;
}

static bool conversation_full(const run *r) {
  return json_array_size(r->msgs) >= AS_LLM_MESSAGES_MAX;
}

/* A message past AS_LLM_MESSAGES_MAX (msg_add's AS_TOOBIG: an answer, a
** tool's result, an approval's outcome): the run fails. */
static AS_WUR int conversation_cap(run *r) {
  result_fail(r->res, AS_ERR_CONVERSATION_CAP, "agent %s: the conversation passed %u messages",
              agent_of(r)->name, AS_LLM_MESSAGES_MAX);
  return fail_run(r);
}

/* The agent's run ends in failure (r->res says how): its agent_finished
** event, then the session's error. */
static AS_WUR int agent_failed(run *r) {
  json_t *p = json_pack("{s:s,s:b,s:s}", "agent", agent_of(r)->name, "ok", 0, "error",
                        r->res->error_kind);
  int rc = emit(r, AS_EVENT_AGENT_FINISHED, p);
  return rc == AS_OK ? fail_run(r) : rc;
}

/* A scheduling point of the run: a cancel marked it, so it stops here. */
static bool cancelled(run *r) {
  if (!as__runs_cancelled(r->rt->runs, r->entry)) return false;
  result_fail(r->res, AS_ERR_CANCELLED, "agent %s: cancelled by a caller", agent_of(r)->name);
  return true;
}

/* The loop, lock held, state in r. */
static AS_WUR int drive(run *r) {
  const as_app *app = r->rt->app;
  for (;;) {
    bool paused = false, failed = false;
    while (json_array_size(r->queue) > 0) {
      if (cancelled(r)) return agent_failed(r);
      int rc = gateway_one(r, &paused);
      if (rc == AS_TOOBIG && conversation_full(r)) return conversation_cap(r);
      if (rc == AS_OK && r->failed) return agent_failed(r);
      if (rc != AS_OK || paused) return rc;
    }
    if (cancelled(r)) return agent_failed(r);
    if (r->calls >= agent_of(r)->max_calls) {
      result_fail(r->res, AS_ERR_TURN_CAP, "agent %s made %u LLM calls without concluding",
                  agent_of(r)->name, r->calls);
      return fail_run(r);
    }
    as_llm_response resp = {0};
    int rc = llm_call(r, &resp, &failed);
    if (rc != AS_OK) return rc;
    if (cancelled(r)) { /* the answer comes too late: nobody acts on it */
      as_llm_response_clear(&resp);
      return agent_failed(r);
    }
    if (failed) return agent_failed(r);
    r->answer++;
    r->answer_terminal = false;
    if (resp.ncalls > 0) {
      json_t *calls = json_array();
      for (size_t i = 0; calls && rc == AS_OK && i < resp.ncalls; i++) {
        json_t *c = json_pack("{s:s,s:s,s:s}", "id", resp.calls[i].id, "name", resp.calls[i].name,
                              "args", resp.calls[i].args); /* as_llm_complete: never NULL */
        rc = jappend(calls, c);
        if (rc == AS_OK) rc = jappend(r->queue, json_incref(c));
      }
      if (!calls) rc = AS_NOMEM;
      if (rc == AS_OK) rc = msg_add(r, "assistant", resp.text, calls, NULL);
      else json_decref(calls);
      as_llm_response_clear(&resp);
      if (rc == AS_TOOBIG) return conversation_cap(r);
      if (rc != AS_OK) return rc;
      continue;
    }
    int next = AS_APP_END;
    char *handoff = NULL;
    rc = conclude(r, &resp, &next, &failed, &handoff);
    as_llm_response_clear(&resp);
    if (rc != AS_OK || failed) {
      as_free(handoff);
      return rc != AS_OK ? rc : fail_run(r);
    }
    if (next == AS_APP_END) {
      as_free(handoff);
      return finalize_run(r);
    }
    if (++r->runs >= app->max_agent_runs) {
      as_free(handoff);
      result_fail(r->res, AS_ERR_AGENT_RUN_CAP, "%u agent runs without reaching an end", r->runs);
      return fail_run(r);
    }
    agent_span_close(r->rt, r->tel, false, NULL);
    r->agent = next;
    rc = agent_begin(r, handoff);
    as_free(handoff);
    if (rc != AS_OK) return rc;
  }
}

static AS_WUR int lock_take(const as_runtime *rt, const char *id, bool try) {
  return try ? as_lock_try_acquire(rt->locks, id) : as_lock_acquire(rt->locks, id);
}

static AS_WUR int lock_drop(const as_runtime *rt, const char *id, int rc) {
  int rc2 = as_lock_release(rt->locks, id);
  return rc != AS_OK ? rc : rc2;
}

static bool runtime_ok(const as_runtime *rt, const char *id, const as_run_result *res) {
  return rt && rt->st && rt->locks && rt->app && rt->llm && id && res && rt->app->nagents > 0 &&
         rt->llm_timeout_ns <= AS_LLM_TIMEOUT_MAX_NS && rt->llm->timeout_ns <= AS_LLM_TIMEOUT_MAX_NS;
}

/* The thread id of a session's run after n retries: id, or "<id>:retry-N". */
static void thread_of(char *buf, size_t cap, const char *id, int64_t n) {
  buf[0] = '\0';
  if (n <= 0)
    (void)as_appendf(buf, cap, 0, "%s", id); /* ignore: ids fit (AS_THREAD_ID_MAX) */
  else
    (void)as_appendf(buf, cap, 0, "%s:retry-%lld", id, (long long)n); /* ignore: as above */
}

/* A run the database failed under (rc) after it put the session in
** progress: if the store still takes it, the session records the failure
** (db_busy, io_error) and the run has failed (AS_OK, *res FAILED); else rc.
** (A failure before anything changed, a load, is the caller's to see.) */
static AS_WUR int store_failed(const as_runtime *rt, const char *id, as_run_result *res, int rc) {
  if (rc != AS_IO && rc != AS_FULL && rc != AS_BUSY) return rc;
  as_run_result f = {0};
  result_fail(&f, rc == AS_BUSY ? AS_ERR_DB_BUSY : AS_ERR_IO_ERROR, "the database: %s",
              as_status_msg(rc));
  bool changed = false;
  if (as_mark_failed_as(rt->st, rt->locks, id, f.error_kind, f.error, &changed) != AS_OK)
    return rc; /* the first failure is the one to report */
  as_log(AS_LOG_WARN, "session %s: run failed (%s): %s", id, f.error_kind, f.error);
  if (changed) *res = f;
  else res->outcome = AS_RUN_IDLE; /* settled already: nothing to record */
  return AS_OK;
}

/* Lock held: start or resume id's run. */
static AS_WUR int run_body(const as_runtime *rt, const char *id, as_run_result *res,
                           as__run_entry *entry, tele *tel, bool *began) {
  as_session s = {0};
  int rc = as_session_load(rt->st, id, &s);
  if (rc != AS_OK) return rc;
  as_session_status st = s.status;
  int64_t retries = s.retry_count;
  bool waiting = false;
  for (size_t i = 0; i < s.ncalls && !waiting; i++)
    waiting = s.calls[i].state == AS_TOOL_PENDING_APPROVAL;
  as_session_clear(&s);
  if (as_session_status_terminal(st) || (st == AS_SESS_AWAITING_INPUT && waiting)) {
    result_set(res, AS_RUN_IDLE, st);
    return AS_OK;
  }
  run r = {.rt = rt, .tel = tel, .id = id, .res = res, .entry = entry, .retry = retries};
  thread_of(r.thread, sizeof r.thread, id, retries);
  bool resume = st != AS_SESS_NEW;
  if (resume) {
    rc = state_read(&r);
    if (rc == AS_NOTFOUND) resume = false; /* a run that never paused: begin again */
    else if (rc != AS_OK) return rc;
  }
  begin_ctx bc = {.settled = AS__SESS_COUNT};
  rc = step(rt, id, begin_fn, &bc);
  if (rc == AS_OK && bc.settled != AS__SESS_COUNT) {
    /* Settled since it was read (by a writer without the lock): nothing to run. */
    result_set(res, AS_RUN_IDLE, bc.settled);
    run_free(&r);
    return AS_OK;
  }
  *began = rc == AS_OK;
  if (rc == AS_OK && !resume) {
    r.agent = rt->app->entry;
    rc = agent_begin(&r, NULL);
  }
  if (rc == AS_OK) rc = drive(&r);
  run_free(&r);
  return rc;
}

/* A run's body; *began once it has put the session in progress. */
typedef AS_WUR int (*body_fn)(const as_runtime *rt, const char *id, void *ctx,
                              as_run_result *res, as__run_entry *entry, tele *tel, bool *began);

/* Lock held: body, registered as a run of id (a cancel can stop it), and a
** failure of the database recorded if it can be. */
static AS_WUR int registered(const as_runtime *rt, const char *id, body_fn body, void *ctx,
                             as_run_result *res) {
  as__run_entry *e = NULL;
  bool began = false;
  int rc = as__runs_run_begin(rt->runs, id, &e);
  if (rc != AS_OK) return rc;
  tele tel;
  tele_init(rt, id, &tel);
  rc = body(rt, id, ctx, res, e, &tel, &began);
  if (began) rc = store_failed(rt, id, res, rc);
  rc = cycle_close(rt, id, res, rc);
  root_span(rt, id, &tel, res, rc);
  as__runs_run_end(rt->runs, e);
  return rc;
}

static AS_WUR int run_fn(const as_runtime *rt, const char *id, void *ctx, as_run_result *res,
                         as__run_entry *entry, tele *tel, bool *began) {
  (void)ctx;
  return run_body(rt, id, res, entry, tel, began);
}

static AS_WUR int run_locked(const as_runtime *rt, const char *id, as_run_result *res) {
  return registered(rt, id, run_fn, NULL, res);
}

int as_run(const as_runtime *rt, const char *id, bool try, as_run_result *res) {
  if (!runtime_ok(rt, id, res)) return AS_INVAL;
  memset(res, 0, sizeof *res);
  int rc = lock_take(rt, id, try);
  if (rc != AS_OK) return rc;
  rc = run_locked(rt, id, res);
  return lock_drop(rt, id, rc);
}

/* Whether id's log holds an approval request for call idx (an executed
** call that waited for one looks like any other in the session). */
static AS_WUR int was_requested(const as_runtime *rt, const char *id, size_t idx, bool *out) {
  int64_t after = 0;
  *out = false;
  for (;;) {
    as_event_list l = {0};
    int rc = as_event_read(rt->st, id, after, AS_EVENT_READ_MAX, &l);
    if (rc != AS_OK) return rc;
    for (size_t i = 0; i < l.n && !*out; i++) {
      if (strcmp(l.items[i].kind, AS_EVENT_APPROVAL_REQUESTED) != 0) continue;
      json_t *p = NULL;
      rc = as_json_parse(l.items[i].payload, strlen(l.items[i].payload), &p, NULL);
      if (rc == AS_PARSE) continue; /* not the runtime's: the store keeps what SQLite calls JSON */
      if (rc != AS_OK) {
        as_event_list_clear(&l);
        return rc; /* no memory: no answer either way */
      }
      *out = json_integer_value(json_object_get(p, "call")) == (json_int_t)idx;
      json_decref(p);
    }
    size_t n = l.n;
    if (n) after = l.items[n - 1].seq;
    as_event_list_clear(&l);
    if (*out || n < AS_EVENT_READ_MAX) return AS_OK;
  }
}

typedef struct resolve_args {
  size_t idx;
  as_approval_decision d;
} resolve_args;

/* Lock held: resolve call idx of id, then resume. */
static AS_WUR int resolve_body(const as_runtime *rt, const char *id, void *ctx,
                               as_run_result *res, as__run_entry *entry, tele *tel, bool *began) {
  const resolve_args *ra = ctx;
  size_t idx = ra->idx;
  as_approval_decision d = ra->d;
  as_session s = {0};
  int rc = as_session_load(rt->st, id, &s);
  if (rc != AS_OK) return rc;
  int64_t retries = s.retry_count;
  if (idx >= s.ncalls) {
    as_session_clear(&s);
    return AS_NOTFOUND;
  }
  /* Settled meanwhile (a finalize): the decision comes too late to run
  ** anything or resume. */
  if (as_session_status_terminal(s.status)) {
    as_session_clear(&s);
    return AS_EXISTS;
  }
  as_tool_call *call = &s.calls[idx];
  const as_app_tool *t = as_app_tool_find(rt->app, call->tool);
  bool was_gated = call->state != AS_TOOL_EXECUTED;
  bool pending = call->state == AS_TOOL_PENDING_APPROVAL;
  char *args = NULL;
  if (pending || AS_MUTANT(APPROVAL_DOUBLE_RESOLVE)) {
    size_t n = strlen(call->args);
    args = as_malloc(n + 1);
    if (args) memcpy(args, call->args, n + 1);
    else rc = AS_NOMEM;
  }
  as_session_clear(&s);
  if (rc != AS_OK) return rc;
  if (!pending && !AS_MUTANT(APPROVAL_DOUBLE_RESOLVE)) {
    as_free(args);
    if (!was_gated) rc = was_requested(rt, id, idx, &was_gated);
    return rc != AS_OK ? rc : was_gated ? AS_EXISTS : AS_INVAL;
  }
  if (!t) {
    as_free(args);
    return AS_NOTFOUND; /* the app no longer has the tool */
  }
  /* Approved: the call runs now, under the lock, and is stored with its
  ** result in the save that resolves it. */
  char *result = NULL;
  int xrc = AS_OK;
  bool ran = d == AS_APPROVE && t->kind == AS_TOOLK_APP;
  bool timed = rt->tracer || rt->budget;
  int64_t xstart = timed ? as_now_wall_ns() : 0;
  uint64_t xt0 = timed ? as_now_mono_ns() : 0;
  if (ran && rt->exec) {
    xrc = rt->exec(rt->exec_ctx, id, t, args, &result);
    if (xrc != AS_OK) {
      as_free(result);
      result = NULL;
      as_log(AS_LOG_WARN, "session %s: approved %s failed: %s", id, t->qname, as_status_msg(xrc));
    }
  }
  if (xrc == AS_NOMEM) {
    as_free(args);
    return xrc;
  }
  /* A failed approved call is stored with its error, and fails the run. */
  char failure[160];
  if (xrc != AS_OK)
    (void)snprintf(failure, sizeof failure, "{\"error\":\"%s\"}", /* ignore: sized */
                   as_status_msg(xrc));
  resolve_ctx rc_ctx = {.idx = idx,
                        .d = d,
                        .result = xrc != AS_OK ? failure : result ? result : "{\"ok\":true}"};
  rc = step(rt, id, resolve_fn, &rc_ctx);
  if (rc == AS_OK && !rc_ctx.found) rc = AS_EXISTS; /* resolved meanwhile */
  *began = rc == AS_OK;
  run r = {.rt = rt, .tel = tel, .id = id, .res = res, .entry = entry, .retry = retries,
           .agent = -1};
  thread_of(r.thread, sizeof r.thread, id, retries);
  int64_t xdur = timed ? (int64_t)(as_now_mono_ns() - xt0) : 0;
  if (rc == AS_OK && xrc != AS_OK) {
    as_free(result);
    as_free(args);
    r.agent = -1;
    tool_span(&r, t->qname, xstart, xrc);
    result_fail(res, tool_kind(xrc), "approved %s failed: %s", t->qname, as_status_msg(xrc));
    rc = fail_run(&r);
    return rc;
  }
  if (rc == AS_OK) rc = state_read(&r);
  if (rc == AS_OK && ran) rc = tool_done(&r, t->qname, xstart, xdur);
  /* The model hears the outcome as the pending call's answer. */
  json_t *head = json_array_get(r.queue, 0);
  if (rc == AS_OK && (!head || json_integer_value(json_object_get(head, "idx")) != (json_int_t)idx))
    rc = AS_IO; /* the checkpoint is not this pause's */
  if (rc == AS_OK) {
    json_t *c = json_incref(head);
    (void)json_array_remove(r.queue, 0); /* ignore: head is there */
    static const char *const told[] = {NULL, "{\"error\":\"rejected by a human\"}",
                                       "{\"error\":\"the approval timed out\"}"};
    rc = tell(&r, c, d == AS_APPROVE ? rc_ctx.result : told[d]);
    json_decref(c);
  }
  as_free(result);
  as_free(args);
  if (rc == AS_TOOBIG && conversation_full(&r)) rc = conversation_cap(&r);
  else if (rc == AS_OK) rc = drive(&r);
  run_free(&r);
  return rc;
}

static AS_WUR int resolve_locked(const as_runtime *rt, const char *id, size_t idx,
                                 as_approval_decision d, as_run_result *res) {
  resolve_args ra = {idx, d};
  return registered(rt, id, resolve_body, &ra, res);
}

int as_approval_resolve(const as_runtime *rt, const char *id, size_t call, as_approval_decision d,
                        bool try, as_run_result *res) {
  if (!runtime_ok(rt, id, res) || d > AS_TIME_OUT) return AS_INVAL;
  memset(res, 0, sizeof *res);
  int rc = lock_take(rt, id, try);
  if (rc != AS_OK) return rc;
  rc = resolve_locked(rt, id, call, d, res);
  return lock_drop(rt, id, rc);
}

/* The first pending call of s due at now, into *idx: whether there is one. */
static bool first_due(const as_session *s, int64_t now, uint64_t timeout, size_t *idx) {
  for (size_t i = 0; i < s->ncalls; i++) {
    const as_tool_call *c = &s->calls[i];
    if (c->state != AS_TOOL_PENDING_APPROVAL) continue;
    json_t *r = NULL;
    if (as_json_parse(c->result, strlen(c->result), &r, NULL) != AS_OK) continue;
    json_int_t since = json_integer_value(json_object_get(r, "pending_since_ns"));
    json_decref(r);
    if (now - (int64_t)since >= (int64_t)timeout) {
      *idx = i;
      return true;
    }
  }
  return false;
}

int as_watchdog_tick(const as_runtime *rt, as_watchdog_stats *stats) {
  if (!rt || !rt->st || !rt->locks || !rt->app || !stats) return AS_INVAL;
  memset(stats, 0, sizeof *stats);
  as_session_brief *list = as_calloc(AS_WATCHDOG_SCAN_MAX, sizeof *list);
  if (!list) return AS_NOMEM;
  size_t n = 0;
  char after[AS_SESSION_ID_MAX] = "";
  int rc = AS_OK;
  int64_t now = as_now_wall_ns();
  for (;;) {
  rc = as_session_list(rt->st, after, list, AS_WATCHDOG_SCAN_MAX, &n);
  for (size_t i = 0; rc == AS_OK && i < n; i++) {
    if (list[i].status != AS_SESS_AWAITING_INPUT) continue;
    const char *id = list[i].id;
    as_session s = {0};
    rc = as_session_load(rt->st, id, &s);
    if (rc == AS_NOTFOUND) {
      rc = AS_OK; /* gone since the listing */
      continue;
    }
    size_t due = 0;
    bool is_due = rc == AS_OK && first_due(&s, now, rt->app->approval_timeout_ns, &due);
    as_session_clear(&s);
    stats->looked++;
    if (!is_due) continue; /* nothing due, or the load failed (rc ends the loop) */
    /* The seed's watchdog peeked at the lock, then resumed the run without
    ** taking it: whoever took it between the two shares the session. */
    bool peek = AS_MUTANT(WATCHDOG_PEEK_THEN_RESUME);
    if (peek) {
      rc = as_lock_is_locked(rt->locks, id) ? AS_BUSY : AS_OK;
      if (rc == AS_OK) as_task_yield();
    } else {
      rc = as_lock_try_acquire(rt->locks, id);
    }
    if (rc == AS_BUSY) {
      stats->skipped++;
      rc = AS_OK;
      continue;
    }
    if (rc != AS_OK) break;
    as_run_result res;
    memset(&res, 0, sizeof res);
    rc = resolve_locked(rt, id, due, AS_TIME_OUT, &res);
    if (rc == AS_EXISTS) rc = AS_OK; /* resolved while we looked */
    else if (rc == AS_OK) stats->resolved++;
    if (!peek) rc = lock_drop(rt, id, rc);
  }
  if (rc != AS_OK || n < AS_WATCHDOG_SCAN_MAX) break;
  memcpy(after, list[n - 1].id, sizeof after);
  }
  as_free(list);
  return rc;
}

/* --- starting a session ------------------------------------------------------------- */

int as_session_start(const as_runtime *rt, const char *id, const char *fields_json) {
  if (!rt || !rt->st || !rt->app || !id) return AS_INVAL;
  const as_app *app = rt->app;
  json_t *x = json_object(), *given = NULL;
  if (!x) return AS_NOMEM;
  int rc = AS_OK;
  for (size_t i = 0; rc == AS_OK && i < app->nfields; i++)
    if (app->fields[i].has_default)
      rc = jset(x, app->fields[i].name, json_string(app->fields[i].default_value));
  if (rc == AS_OK && fields_json) {
    as_json_error err;
    rc = as_json_parse(fields_json, strlen(fields_json), &given, &err);
    if (rc == AS_OK && json_typeof(given) != JSON_OBJECT) rc = AS_INVAL;
    if (rc != AS_OK) as_log(AS_LOG_WARN, "session %s: the fields are not a JSON object", id);
  }
  if (rc == AS_OK) {
    for (void *it = json_object_iter(given); it; it = json_object_iter_next(given, it)) {
      const char *key = json_object_iter_key(it);
      json_t *val = json_object_iter_value(it);
      const as_app_field *f = NULL;
      for (size_t i = 0; i < app->nfields && !f; i++)
        if (strcmp(app->fields[i].name, key) == 0) f = &app->fields[i];
      if (!f) {
        as_log(AS_LOG_WARN, "session %s: '%s' is not a field of app %s", id, key, app->name);
        rc = AS_INVAL;
      } else if (!type_ok(f->type, val)) {
        as_log(AS_LOG_WARN, "session %s: field '%s' must be a %s", id, key, as_arg_type_name(f->type));
        rc = AS_INVAL;
      } else if (f->roster >= 0 && !as_app_roster_has(app, f->roster, json_string_value(val))) {
        as_log(AS_LOG_WARN, "session %s: '%s' is not one of roster %s", id,
               json_string_value(val), app->rosters[f->roster].name);
        rc = AS_INVAL;
      } else if (json_object_set(x, key, val) != 0) {
        rc = AS_NOMEM;
      }
      if (rc != AS_OK) break;
    }
  }
  char *text = rc == AS_OK ? jdump(x) : NULL;
  if (rc == AS_OK && !text) rc = AS_NOMEM;
  as_session s = {0};
  if (rc == AS_OK) rc = as_session_init(&s, id);
  if (rc == AS_OK) rc = as_session_set_extra(&s, text);
  if (rc == AS_OK) rc = as_session_create(rt->st, &s);
  as_session_clear(&s);
  jfree(text);
  json_decref(given);
  json_decref(x);
  return rc;
}

/* --- retry, its preview, cancel ------------------------------------------------------- */

/* The policy's decision for session s (loaded) under app's settings. */
static AS_WUR int retry_decide(const as_app *app, const as_session *s, as_retry_decision *out) {
  json_t *x = NULL;
  const char *text = extra_of(s);
  int rc = as_json_parse(text, strlen(text), &x, NULL);
  if (rc != AS_OK) return rc == AS_PARSE ? AS_IO : rc; /* the runtime wrote it */
  double conf = 0;
  bool has = current_conf(x, &conf);
  json_decref(x);
  *out = as_should_retry(s->retry_count, as_error_kind_parse(s->error_kind), has, conf, &app->retry);
  return AS_OK;
}

/* Record a refusal in id's log: retry_rejected {reason, retry_count}. */
static AS_WUR int retry_rejected(const as_runtime *rt, const char *id, const char *reason,
                                 int64_t count) {
  as_log(AS_LOG_WARN, "session %s: retry rejected: %s", id, reason);
  json_t *p = json_pack("{s:s,s:I}", "reason", reason, "retry_count", (json_int_t)count);
  char *text = p ? jdump(p) : NULL;
  json_decref(p);
  if (!text) return AS_NOMEM;
  int rc = as_event_append(rt->st, id, AS_EVENT_RETRY_REJECTED, text, NULL);
  jfree(text);
  return rc;
}

static void answer_refused(as_retry_answer *ans, as_retry_refusal why, const char *reason) {
  ans->refusal = why;
  (void)snprintf(ans->reason, sizeof ans->reason, "%s", reason); /* ignore: reasons fit */
}

/* Load id and decide as a retry would (not the in-flight set): *ans, and
** *s the session as loaded (the caller clears it). */
static AS_WUR int retry_answer(const as_runtime *rt, const char *id, as_session *s,
                               as_retry_answer *ans) {
  int rc = as_session_load(rt->st, id, s);
  if (rc != AS_OK) return rc;
  ans->retry_count = s->retry_count;
  /* The seed's first retry path ran whatever state the session was in. */
  if (s->status != AS_SESS_ERROR && !AS_MUTANT(RETRY_FROM_NON_ERROR)) {
    answer_refused(ans, AS_RETRY_NOT_ERROR, AS_RETRY_REASON_NOT_ERROR);
    return AS_OK;
  }
  rc = retry_decide(rt->app, s, &ans->decision);
  if (rc != AS_OK) return rc;
  if (ans->decision != AS_RETRY_AUTO_RETRY) {
    answer_refused(ans, AS_RETRY_DENIED, as_retry_decision_name(ans->decision));
    return AS_OK;
  }
  ans->refusal = AS_RETRY_ACCEPTED;
  (void)snprintf(ans->reason, sizeof ans->reason, "%s", /* ignore: fits */
                 as_retry_decision_name(ans->decision));
  thread_of(ans->thread, sizeof ans->thread, id, s->retry_count + 1);
  return AS_OK;
}

typedef struct retry_ctx {
  int64_t n;       /* the retry's number */
  bool not_error;  /* out: the session left error before the save */
  char thread[AS_THREAD_ID_MAX];
  char status[128];
  char started[AS_THREAD_ID_MAX + 48];
} retry_ctx;

/* error -> in_progress, retry_count + 1, the error cleared: one save with
** its status_changed and retry_started events. */
static AS_WUR int retry_begin_fn(as_session *s, void *ctx, as_event_in *evs, size_t *nev) {
  retry_ctx *c = ctx;
  if (s->status != AS_SESS_ERROR && !AS_MUTANT(RETRY_FROM_NON_ERROR)) {
    c->not_error = true; /* a writer without the lock */
    return AS_EXISTS;
  }
  c->n = s->retry_count + 1;
  thread_of(c->thread, sizeof c->thread, s->id, c->n);
  status_payload(c->status, sizeof c->status, s->status, AS_SESS_IN_PROGRESS);
  /* The seed bumped the count on its in-memory copy, which a later reload
  ** dropped before the save. */
  if (!AS_MUTANT(RETRY_COUNT_NOT_INCREMENTED)) s->retry_count = c->n;
  s->status = AS_SESS_IN_PROGRESS;
  s->error_kind[0] = s->error_cause[0] = '\0';
  (void)as_appendf(c->started, sizeof c->started, 0, /* ignore: sized for a thread id */
                   "{\"retry\":%lld,\"thread\":\"%s\"}", (long long)c->n, c->thread);
  evs[(*nev)++] = (as_event_in){AS_EVENT_STATUS_CHANGED, c->status};
  evs[(*nev)++] = (as_event_in){AS_EVENT_RETRY_STARTED, c->started};
  return AS_OK;
}

/* Lock held, in flight: decide, record, and run the retry. */
static AS_WUR int retry_body(const as_runtime *rt, const char *id, void *ctx,
                             as_run_result *res, as__run_entry *entry, tele *tel, bool *began) {
  as_retry_answer *ans = ctx;
  as_session s = {0};
  int rc = retry_answer(rt, id, &s, ans);
  as_session_clear(&s);
  if (rc != AS_OK) return rc;
  if (ans->refusal != AS_RETRY_ACCEPTED) return retry_rejected(rt, id, ans->reason, ans->retry_count);
  retry_ctx c = {0};
  rc = step(rt, id, retry_begin_fn, &c);
  if (rc != AS_OK) return rc;
  if (c.not_error) {
    answer_refused(ans, AS_RETRY_NOT_ERROR, AS_RETRY_REASON_NOT_ERROR);
    ans->thread[0] = '\0';
    return retry_rejected(rt, id, ans->reason, ans->retry_count);
  }
  *began = true;
  ans->retry_count = c.n;
  memcpy(ans->thread, c.thread, sizeof ans->thread);
  as_log(AS_LOG_INFO, "session %s: retry %lld on thread %s", id, (long long)c.n, c.thread);
  /* The entry agent, afresh, on the retry's own thread. */
  run r = {.rt = rt, .tel = tel, .id = id, .res = res, .entry = entry, .agent = rt->app->entry,
           .retry = c.n};
  memcpy(r.thread, c.thread, sizeof r.thread);
  rc = agent_begin(&r, NULL);
  if (rc == AS_OK) rc = drive(&r);
  run_free(&r);
  return rc;
}

int as_retry_session(const as_runtime *rt, const char *id, bool try, as_retry_answer *ans) {
  if (!ans || !runtime_ok(rt, id, &ans->run) || !rt->runs) return AS_INVAL;
  memset(ans, 0, sizeof *ans);
  int rc = as__runs_retry_enter(rt->runs, id);
  if (rc == AS_BUSY) {
    /* At once, without waiting for the lock the other retry holds. */
    as_log(AS_LOG_WARN, "session %s: retry rejected: %s", id, AS_RETRY_REASON_IN_PROGRESS);
    answer_refused(ans, AS_RETRY_IN_PROGRESS, AS_RETRY_REASON_IN_PROGRESS);
    return AS_OK;
  }
  if (rc != AS_OK) return rc;
  rc = lock_take(rt, id, try);
  if (rc == AS_OK) {
    rc = registered(rt, id, retry_body, ans, &ans->run);
    rc = lock_drop(rt, id, rc);
  }
  bool cancelled_run = ans->run.outcome == AS_RUN_FAILED && ans->run.kind == AS_ERR_CANCELLED;
  /* The seed's cancel path returned from the task before its finally block. */
  if (!(cancelled_run && AS_MUTANT(INFLIGHT_NOT_CLEARED_ON_CANCEL)))
    as__runs_retry_leave(rt->runs, id);
  return rc;
}

int as_preview_retry(const as_runtime *rt, const char *id, as_retry_answer *ans) {
  if (!ans || !runtime_ok(rt, id, &ans->run) || !rt->runs) return AS_INVAL;
  memset(ans, 0, sizeof *ans);
  if (as_runs_retry_in_flight(rt->runs, id)) {
    answer_refused(ans, AS_RETRY_IN_PROGRESS, AS_RETRY_REASON_IN_PROGRESS);
    return AS_OK;
  }
  as_session s = {0};
  int rc = retry_answer(rt, id, &s, ans);
  as_session_clear(&s);
  /* The seed's preview called the retry path with dry_run=True, which still
  ** logged the denial to the session's events. */
  if (rc == AS_OK && ans->refusal == AS_RETRY_DENIED && AS_MUTANT(PREVIEW_MUTATES))
    rc = retry_rejected(rt, id, ans->reason, ans->retry_count);
  return rc;
}

int as_cancel_session(const as_runtime *rt, const char *id, as_cancel_answer *ans) {
  if (!rt || !rt->runs || !id || !ans) return AS_INVAL;
  bool marked = false;
  int rc = as__runs_cancel(rt->runs, id, &marked);
  if (rc != AS_OK) return rc;
  *ans = marked ? AS_CANCEL_STOPPING : AS_CANCEL_NOT_RUNNING;
  as_log(AS_LOG_INFO, "session %s: cancel: %s", id,
         marked ? "the run stops at its next scheduling point" : "not running");
  return AS_OK;
}

/* --- triggers (budget.h) ---------------------------------------------------------------- */

int as_trigger_reserve(const as_runtime *rt, const char *id, int64_t estimate,
                       as_trigger_answer *ans) {
  if (!rt || !rt->st || !id || !ans || !rt->budget) return AS_INVAL;
  int rc = as_budget_reserve(rt->st, rt->budget, id, estimate, ans);
  if (rc == AS_OK && ans->triggered)
    as_log(AS_LOG_INFO, "session %s: cycle %s reserved %lld micro-dollars on %s", id, ans->op_id,
           (long long)ans->need_micros, ans->day);
  return rc;
}

int as_trigger_run(const as_runtime *rt, const char *id, const char *op_id, bool try,
                   as_run_result *res) {
  if (!runtime_ok(rt, id, res) || !op_id) return AS_INVAL;
  int rc = as_run(rt, id, try, res);
  if (rc != AS_OK) {
    /* Refused before it ran (a held lock: AS_BUSY): the cycle never began.
    ** A failure to release is left to as_budget_recover; rc is the one to
    ** report. */
    bool changed = false;
    int crc = as_budget_release(rt->st, op_id, rc == AS_BUSY ? "idle" : "failed", &changed);
    if (crc != AS_OK)
      as_log(AS_LOG_WARN, "session %s: releasing %s: %s", id, op_id, as_status_msg(crc));
  }
  return rc;
}

int as_trigger(const as_runtime *rt, const char *id, int64_t estimate, bool try,
               as_trigger_answer *ans, as_run_result *res) {
  if (!runtime_ok(rt, id, res) || !ans || !rt->budget) return AS_INVAL;
  memset(res, 0, sizeof *res);
  int rc = as_trigger_reserve(rt, id, estimate, ans);
  if (rc != AS_OK || !ans->triggered) return rc;
  return as_trigger_run(rt, id, ans->op_id, try, res);
}

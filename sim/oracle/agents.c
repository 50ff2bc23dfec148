/*
** agents.c -- the model steps of the agents' operations (run, approve,
** reject, watchdog) and the evidence of the world's tool server, from the
** specification (DESIGN.md section 4, turn.h's contract as the text states
** it) and the app's data (orc_app): never from the runtime's decisions.
**
** A run commits many transactions, each one of these kinds, and nothing
** else: a status change into in_progress (a run beginning or resuming); an
** appended executed call with its tool_invoked event (and, for the typed
** terminal tools and the patch tool, the extra fields they set); a pause:
** one pending_approval call, the status awaiting_input, status_changed and
** approval_requested, together; a resolution: one pending call to the state
** its decision names, approval_resolved, and the status back to
** in_progress; log events alone (agent_started, gate_fired,
** confidence_emitted, route_decided, agent_finished); the session's own
** checkpoint; a settling status (finalize's inference, or error).
**
** The gate is the oracle's own: an app tool whose risk is at least the
** policy's in a production environment (the session's environment field),
** or any app tool when the session's confidence is below the floor (the
** agent's own, else the policy's), waits for a human. The current agent is
** the one the log last started.
*/
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agentsim/status.h"
#include "grow.h"
#include "orc_int.h"
#include "scenario/scenario.h"

/* --- the app's data ------------------------------------------------------------ */

static const char *bare(const char *q) {
  const char *c = strrchr(q, ':');
  return c ? c + 1 : q;
}

/* The app's tool named q (qualified, or a bare name one tool has). */
static const orc_app_tool *app_tool(const orc_app *app, const char *q) {
  const orc_app_tool *found = NULL;
  for (size_t i = 0; i < app->ntools; i++)
    if (strcmp(app->tools[i].qname, q) == 0) return &app->tools[i];
  for (size_t i = 0; i < app->ntools; i++)
    if (strcmp(bare(app->tools[i].qname), q) == 0) {
      if (found) return NULL;
      found = &app->tools[i];
    }
  return found;
}

static const orc_app_agent *app_agent(const orc_app *app, const char *name) {
  for (size_t i = 0; name && i < app->nagents; i++)
    if (strcmp(app->agents[i].name, name) == 0) return &app->agents[i];
  return NULL;
}

/* Where the app routes `agent` on `signal`: its route, else its default. */
static const char *app_route(const orc_app *app, const char *agent, const char *signal) {
  const char *dflt = NULL;
  for (size_t i = 0; i < app->nroutes; i++) {
    const orc_app_route *r = &app->routes[i];
    if (strcmp(r->agent, agent) != 0) continue;
    if (!r->signal[0]) dflt = r->to;
    else if (signal && signal[0] && strcmp(r->signal, signal) == 0) return r->to;
  }
  return dflt;
}

/* --- reading what a state holds --------------------------------------------------- */

/* text parsed (NULL: unreadable, or no text: jansson refuses a NULL, and a
** lookup in NULL finds nothing, as in {}). */
static json_t *jparse(const char *text) {
  json_error_t e;
  return json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
}

/* The agent the log last started (NULL: none). The string lives in the
** state's events. */
static const char *current_agent(const orc_sstate *st, char *buf, size_t cap) {
  for (size_t i = st->nevents; i-- > 0;) {
    if (strcmp(st->events[i].kind, "agent_started") != 0) continue;
    json_t *p = jparse(st->events[i].payload);
    const char *a = json_string_value(json_object_get(p, "agent"));
    (void)snprintf(buf, cap, "%s", a ? a : ""); /* ignore: names are capped */
    json_decref(p);
    return buf[0] ? buf : NULL;
  }
  return NULL;
}

/* Whether the oracle's gate holds tool t for a human in a session with the
** extra fields `extra` and the log of st. */
static bool gated(const orc *o, const char *extra, const orc_sstate *st, const orc_app_tool *t) {
  const orc_app *app = o->app;
  if (t->kind != ORC_TK_APP) return false;
  json_t *x = jparse(extra);
  bool g = false;
  const char *env = app->env_field[0] ? json_string_value(json_object_get(x, app->env_field)) : NULL;
  if (env && t->risk >= app->gated_risk)
    for (size_t i = 0; i < app->nproduction && !g; i++) g = strcmp(env, app->production[i]) == 0;
  json_t *c = json_object_get(x, "confidence");
  if (!g && json_is_number(c)) {
    char buf[ORC_APP_NAME];
    const orc_app_agent *a = app_agent(app, current_agent(st, buf, sizeof buf));
    double floor = a && a->has_gate ? a->gate : app->min_confidence;
    g = json_number_value(c) < floor;
  }
  json_decref(x);
  return g;
}

/* The session's value for injected argument in (a new reference, NULL for
** none). */
static json_t *session_value(const orc_sess *s, const orc_sstate *st, const orc_app_inject *in) {
  switch (in->src) {
  case ORC_INJ_ID: return json_string(s->id);
  case ORC_INJ_STATUS: return json_string(orc_status_name(st->status));
  case ORC_INJ_RETRY: return json_integer(st->retry);
  default: {
    json_t *x = jparse(st->extra);
    json_t *v = json_incref(json_object_get(x, in->field));
    json_decref(x);
    return v;
  }
  }
}

/* The number an event's payload gives `key` (-1: none). */
static int64_t payload_int(const char *payload, const char *key) {
  json_t *p = jparse(payload);
  json_t *v = json_object_get(p, key);
  int64_t n = json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
  json_decref(p);
  return n;
}

/* The answer call idx was asked for in (its tool_invoked event), or -1. */
static int64_t answer_of(const orc_sstate *st, size_t idx) {
  for (size_t i = 0; i < st->nevents; i++)
    if (strcmp(st->events[i].kind, "tool_invoked") == 0 &&
        payload_int(st->events[i].payload, "call") == (int64_t)idx)
      return payload_int(st->events[i].payload, "answer");
  return -1;
}

/* Whether an event of kind for call was appended at from or later. */
static bool has_event(const orc_sstate *st, size_t from, const char *kind, int64_t call) {
  for (size_t i = from; i < st->nevents; i++)
    if (strcmp(st->events[i].kind, kind) == 0 && payload_int(st->events[i].payload, "call") == call)
      return true;
  return false;
}

/* --- the waiting list: when each pending row committed ----------------------------- */

static void note_pending(orc *o, const orc_sess *s, size_t idx) {
  /* A pause appends an event: no more pending rows than events. */
  if (sim_grow(&o->pend, &o->cappend, o->npend + 1, sizeof *o->pend, ORC_MAX_EVENTS) != AS_OK) {
    orc__harness_error(o, "out of memory");
    return;
  }
  o->pend[o->npend++] = (orc_pending){(uint32_t)(s - o->sess), idx, ORC_WALL(o->now_ns)};
}

/* When call idx of s became pending (the latest time, if more than once:
** power loss may have taken one back), or -1. */
static int64_t pending_since(const orc *o, const orc_sess *s, size_t idx) {
  for (size_t i = o->npend; i-- > 0;)
    if (o->pend[i].sess == (uint32_t)(s - o->sess) && o->pend[i].call == idx) return o->pend[i].at;
  return -1;
}

/* --- one commit ------------------------------------------------------------------ */

static const char *op_of(const orc_task *t) { return orc__op_name(t->op.kind); }

static bool is_agent_event(const char *k) {
  static const char *const kinds[] = {"agent_started",   "agent_finished",     "tool_invoked",
                                      "gate_fired",      "confidence_emitted", "route_decided",
                                      "approval_requested", "approval_resolved", "status_changed"};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (strcmp(k, kinds[i]) == 0) return true;
  return false;
}

/* Events the commit appended: each of the agents' kinds, each well formed;
** an agent run the operation starts on the session while the one it
** started before is unfinished skipped that one's end. (Runs an earlier
** operation started are not this one's: a crash or a fault abandons them,
** and the next run begins again.) */
static bool events_ok(orc *o, orc_task *t, const orc_change *ch) {
  const orc_sstate *b = &ch->s->cur, *a = &ch->after;
  uint32_t me = (uint32_t)(ch->s - o->sess) + 1;
  for (size_t i = b->nevents; i < a->nevents; i++) {
    const orc_evrec *e = &a->events[i];
    if (!is_agent_event(e->kind)) {
      orc__violate(o, ORC_CK_OP_SCOPE, "%s %s appended a %s event", op_of(t), ch->s->id, e->kind);
      return false;
    }
    if (strcmp(e->kind, "agent_started") == 0) {
      if (t->open_agent == me) {
        orc__violate(o, ORC_CK_ROUTE, "%s %s started an agent run (%s) with the one it started "
                     "before unfinished (no agent_finished)", op_of(t), ch->s->id, e->payload);
        return false;
      }
      t->open_agent = me;
      json_t *p = jparse(e->payload);
      const char *an = json_string_value(json_object_get(p, "agent"));
      (void)snprintf(t->llm_agent, sizeof t->llm_agent, "%s", an ? an : ""); /* ignore: cut */
      t->llm_calls = 0; /* a new agent run: its calls count afresh */
      json_decref(p);
    } else if (strcmp(e->kind, "agent_finished") == 0 && t->open_agent == me) {
      t->open_agent = 0;
    }
    if (strcmp(e->kind, "confidence_emitted") == 0) {
      json_t *p = jparse(e->payload);
      json_t *c = json_object_get(p, "confidence");
      bool ok = json_is_number(c) && json_number_value(c) >= 0 && json_number_value(c) <= 1;
      json_decref(p);
      if (!ok) {
        orc__violate(o, ORC_CK_ROUTE, "%s %s emitted confidence %s, outside [0, 1]", op_of(t),
                     ch->s->id, e->payload);
        return false;
      }
    }
    if (strcmp(e->kind, "route_decided") == 0) {
      json_t *p = jparse(e->payload);
      const char *agent = json_string_value(json_object_get(p, "agent"));
      const char *sig = json_string_value(json_object_get(p, "signal"));
      const char *to = json_string_value(json_object_get(p, "to"));
      const char *want = agent ? app_route(o->app, agent, sig) : NULL;
      bool ok = want && to && strcmp(want, to) == 0;
      if (!ok)
        orc__violate(o, ORC_CK_ROUTE, "%s %s routed agent %s on signal '%s' to %s; the app routes "
                     "it to %s", op_of(t), ch->s->id, orc__str(agent), sig ? sig : "",
                     orc__str(to), orc__str(want));
      json_decref(p);
      if (!ok) return false;
    }
  }
  return true;
}

/* The calls before are all still there (changed_call found none of them
** changed). */
static bool calls_kept(orc *o, const orc_task *t, const orc_change *ch) {
  const orc_sstate *b = &ch->s->cur, *a = &ch->after;
  if (a->ncalls >= b->ncalls) return true;
  orc__violate(o, ORC_CK_HISTORY, "%s %s dropped tool calls (%zu before, %zu after)", op_of(t),
               ch->s->id, b->ncalls, a->ncalls);
  return false;
}

/* Every injected argument of an appended call holds the session's value. */
static bool injected_ok(orc *o, const orc_task *t, const orc_change *ch, const orc_call *c,
                        const orc_app_tool *tool) {
  json_t *args = jparse(c->args);
  bool ok = true;
  for (size_t k = 0; ok && k < tool->ninject; k++) {
    const orc_app_inject *in = &o->app->inject[tool->inject[k]];
    json_t *want = session_value(ch->s, &ch->s->cur, in);
    json_t *got = json_object_get(args, in->arg);
    ok = want ? got && json_equal(want, got) : !got;
    if (!ok) {
      char *w = want ? json_dumps(want, JSON_ENCODE_ANY) : NULL;
      char *g = got ? json_dumps(got, JSON_ENCODE_ANY) : NULL;
      orc__violate(o, ORC_CK_INJECT, "%s %s recorded %s with %s=%s; the session's value is %s",
                   op_of(t), ch->s->id, c->tool, in->arg, g ? g : "(none)", w ? w : "(none)");
      json_malloc_t jm;
      json_free_t jf;
      json_get_alloc_funcs(&jm, &jf);
      if (w) jf(w);
      if (g) jf(g);
    }
    json_decref(want);
  }
  json_decref(args);
  return ok;
}

/* A patch's own limits: its keys, and the terminal lock. */
static bool patch_ok(orc *o, const orc_task *t, const orc_change *ch, const orc_call *c, size_t idx) {
  json_t *args = jparse(c->args);
  static const char *const forbidden[] = {"status", "resolution", "escalation"};
  bool ok = true;
  for (size_t k = 0; ok && k < 3; k++)
    if (json_object_get(args, forbidden[k])) {
      orc__violate(o, ORC_CK_PATCH, "%s %s carried out patch_session with '%s'", op_of(t),
                   ch->s->id, forbidden[k]);
      ok = false;
    }
  json_decref(args);
  if (!ok) return false;
  /* After a typed terminal call of the same answer, confidence and
  ** rationale stay as that call set them. */
  const orc_sstate *b = &ch->s->cur, *a = &ch->after;
  int64_t ans = answer_of(a, idx);
  bool locked = false;
  for (size_t i = 0; ans >= 0 && i < idx && !locked; i++) {
    const orc_app_tool *tt = app_tool(o->app, a->calls[i].tool);
    locked = tt && tt->kind != ORC_TK_APP && tt->kind != ORC_TK_PATCH &&
             a->calls[i].state == ORC_CS_EXECUTED && answer_of(a, i) == ans;
  }
  if (!locked) return true;
  json_t *xb = jparse(b->extra), *xa = jparse(a->extra);
  static const char *const keep[] = {"confidence", "rationale"};
  for (size_t k = 0; ok && k < 2; k++) {
    json_t *vb = json_object_get(xb, keep[k]), *va = json_object_get(xa, keep[k]);
    if ((vb || va) && !(vb && va && json_equal(vb, va))) {
      orc__violate(o, ORC_CK_PATCH, "%s %s: a patch changed %s after a typed terminal call in the "
                   "same answer (%" PRId64 ")", op_of(t), ch->s->id, keep[k], ans);
      ok = false;
    }
  }
  json_decref(xb);
  json_decref(xa);
  return ok;
}

/* An appended call: what the gate, the injection and the patch rules say. */
static bool appended_ok(orc *o, const orc_task *t, const orc_change *ch, size_t idx) {
  const orc_call *c = &ch->after.calls[idx];
  const orc_app_tool *tool = app_tool(o->app, c->tool);
  if (!tool) {
    orc__violate(o, ORC_CK_OP_SCOPE, "%s %s recorded a call of %s, a tool the app does not have",
                 op_of(t), ch->s->id, c->tool);
    return false;
  }
  if (!injected_ok(o, t, ch, c, tool)) return false;
  if (c->state == ORC_CS_PENDING_APPROVAL) return true; /* the pause rule judges it */
  if (c->state != ORC_CS_EXECUTED) {
    orc__violate(o, ORC_CK_OP_SCOPE, "%s %s recorded %s as %s", op_of(t), ch->s->id, c->tool,
                 orc_call_state_name(c->state));
    return false;
  }
  if (gated(o, ch->s->cur.extra, &ch->s->cur, tool)) {
    orc__violate(o, ORC_CK_GATE, "%s %s recorded %s executed without an approval, but the gate "
                 "holds it for a human", op_of(t), ch->s->id, c->tool);
    return false;
  }
  if (!has_event(&ch->after, ch->s->cur.nevents, "tool_invoked", (int64_t)idx)) {
    orc__violate(o, ORC_CK_OP_SCOPE, "%s %s recorded call %zu without its tool_invoked event",
                 op_of(t), ch->s->id, idx);
    return false;
  }
  if (ch->after.status != ch->s->cur.status) {
    orc__violate(o, ORC_CK_PATCH, "%s %s: carrying out %s changed the status %s -> %s", op_of(t),
                 ch->s->id, c->tool, orc_status_name(ch->s->cur.status),
                 orc_status_name(ch->after.status));
    return false;
  }
  return tool->kind != ORC_TK_PATCH || patch_ok(o, t, ch, c, idx);
}

/* The state a decision resolves a call to. */
static int decided_state(const orc_task *t) {
  switch (t->op.kind) {
  case SCN_OP_APPROVE: return ORC_CS_EXECUTED;
  case SCN_OP_REJECT: return ORC_CS_REJECTED;
  default: return ORC_CS_TIMED_OUT;
  }
}

/* Which call of the commit changed (-1 none, -2 more than one). */
static int64_t changed_call(const orc_change *ch) {
  const orc_sstate *b = &ch->s->cur, *a = &ch->after;
  int64_t which = -1;
  for (size_t i = 0; i < b->ncalls && i < a->ncalls; i++)
    if (!orc__call_equal(&b->calls[i], &a->calls[i])) which = which == -1 ? (int64_t)i : -2;
  return which;
}

/* The approval_resolved event the commit appended: its call (-1 none). */
static int64_t resolved_call(const orc_change *ch) {
  const orc_sstate *b = &ch->s->cur, *a = &ch->after;
  for (size_t i = b->nevents; i < a->nevents; i++)
    if (strcmp(a->events[i].kind, "approval_resolved") == 0)
      return payload_int(a->events[i].payload, "call");
  return -1;
}

static void resolution_commit(orc *o, const orc_task *t, const orc_change *ch, int64_t idx) {
  const orc_sstate *b = &ch->s->cur, *a = &ch->after;
  if (t->op.kind == SCN_OP_RUN) {
    orc__violate(o, ORC_CK_APPROVAL, "run %s resolved call %" PRId64 ": only an approval, a "
                 "rejection or the watchdog does", ch->s->id, idx);
    return;
  }
  /* idx >= 0: agents_commit resolves only with the event's call, or the
  ** one that changed. */
  if ((size_t)idx >= b->ncalls || b->calls[idx].state != ORC_CS_PENDING_APPROVAL) {
    orc__violate(o, ORC_CK_APPROVAL, "%s %s resolved call %" PRId64 ", which was %s: an approval "
                 "resolves a pending call, once", op_of(t), ch->s->id, idx,
                 (size_t)idx < b->ncalls ? orc_call_state_name(b->calls[idx].state) : "not there");
    return;
  }
  if ((t->op.kind == SCN_OP_APPROVE || t->op.kind == SCN_OP_REJECT) && idx != t->op.call) {
    orc__violate(o, ORC_CK_APPROVAL, "%s %s was asked to resolve call %" PRId64 " and resolved %"
                 PRId64, op_of(t), ch->s->id, t->op.call, idx);
    return;
  }
  const orc_call *bc = &b->calls[idx], *ac = &a->calls[idx];
  if (ac->state != decided_state(t) || strcmp(ac->args, bc->args) != 0 ||
      strcmp(ac->tool, bc->tool) != 0) {
    orc__violate(o, ORC_CK_APPROVAL, "%s %s resolved call %" PRId64 " (%s) to %s, not %s with its "
                 "arguments kept", op_of(t), ch->s->id, idx, bc->tool,
                 orc_call_state_name(ac->state), orc_call_state_name(decided_state(t)));
    return;
  }
  if (t->op.kind == SCN_OP_WATCHDOG) {
    int64_t since = pending_since(o, ch->s, (size_t)idx);
    if (since >= 0 && ORC_WALL(o->now_ns) - since < (int64_t)o->app->approval_timeout_ns)
      orc__violate(o, ORC_CK_APPROVAL, "the watchdog timed out call %" PRId64 " of %s after %"
                   PRId64 " ns; the timeout is %" PRIu64 " ns", idx, ch->s->id,
                   ORC_WALL(o->now_ns) - since, o->app->approval_timeout_ns);
  }
}

void orc__agents_commit(orc *o, orc_task *t, const orc_tx *tx) {
  if (!o->app) {
    orc__harness_error(o, "%s ran without the app's data", op_of(t));
    return;
  }
  /* The session's own checkpoint (its conversation); the watchdog's is
  ** that of the session whose run it resumed. Its thread is the one the
  ** session's retry_count names: the id, or "<id>:retry-N". */
  const char *own = t->op.kind != SCN_OP_WATCHDOG ? t->session
                    : t->resumed                 ? o->sess[t->resumed - 1].id
                                                 : NULL;
  const orc_sess *os = own ? orc__session(o, own, false) : NULL;
  for (size_t i = 0; i < tx->nput; i++) {
    char want[256] = "", alt[256] = "";
    if (os) orc__thread_of(want, sizeof want, own, os->cur.retry);
    if (os && os->has_alt && os->alt_exists) orc__thread_of(alt, sizeof alt, own, os->alt.retry);
    if (os && os->row_doubt) orc__thread_of(alt, sizeof alt, own, os->ralt.retry);
    if (!own || (strcmp(tx->put[i], want) != 0 && strcmp(tx->put[i], alt) != 0 &&
                 !(os && os->survivor))) {
      bool base = own && orc_base_len(tx->put[i]) == strlen(own) && strncmp(tx->put[i], own, strlen(own)) == 0;
      orc__violate(o, base ? ORC_CK_RETRY_COUNT : ORC_CK_OP_SCOPE, "%s %s stored checkpoint %s, "
                   "not the session's own (%s: the thread its retry_count names)", op_of(t),
                   orc__str(own), tx->put[i], want[0] ? want : "none");
      return;
    }
  }
  if (tx->ndel || tx->nch > 1) {
    orc__violate(o, ORC_CK_OP_SCOPE, "%s %s removed checkpoints or changed %zu sessions",
                 op_of(t), orc__str(t->session), tx->nch);
    return;
  }
  if (tx->nch == 0) return; /* the checkpoint alone */
  const orc_change *ch = &tx->ch[0];
  /* The watchdog picks its sessions; the others work on theirs. */
  if (t->op.kind != SCN_OP_WATCHDOG && (!t->session || strcmp(ch->s->id, t->session) != 0)) {
    orc__violate(o, ORC_CK_OP_SCOPE, "%s %s committed a change to %s", op_of(t),
                 orc__str(t->session), ch->s->id);
    return;
  }
  const char *sid = ch->s->id;
  const orc_sstate *b = &ch->s->cur, *a = &ch->after;
  if (ch->created) {
    orc__violate(o, ORC_CK_OP_SCOPE, "%s created session %s", op_of(t), sid);
    return;
  }
  if (!events_ok(o, t, ch)) return;
  int64_t res = resolved_call(ch), changed = changed_call(ch);
  if (changed == -2) {
    orc__violate(o, ORC_CK_HISTORY, "%s %s changed more than one recorded call", op_of(t), sid);
    return;
  }
  if (res >= 0 || changed >= 0) {
    if (res != changed && changed >= 0) {
      orc__violate(o, ORC_CK_APPROVAL, "%s %s changed call %" PRId64 " %s", op_of(t), sid, changed,
                   res >= 0 ? "but logged the resolution of another" : "without an approval_resolved event");
      return;
    }
    resolution_commit(o, t, ch, res);
    if (o->violated) return;
    if (a->ncalls != b->ncalls) {
      orc__violate(o, ORC_CK_OP_SCOPE, "%s %s resolved and recorded calls in one commit", op_of(t), sid);
      return;
    }
    if (a->status != ORC_ST_IN_PROGRESS || b->status != ORC_ST_AWAITING_INPUT) {
      orc__violate(o, ORC_CK_APPROVAL, "%s %s resolved call %" PRId64 " moving it %s -> %s, not "
                   "awaiting_input -> in_progress", op_of(t), sid, res, orc_status_name(b->status),
                   orc_status_name(a->status));
      return;
    }
    if (t->op.kind == SCN_OP_WATCHDOG) t->resumed = (uint32_t)(ch->s - o->sess) + 1;
    return;
  }
  if (!calls_kept(o, t, ch)) return;
  size_t added = a->ncalls - b->ncalls;
  if (added > 1) {
    orc__violate(o, ORC_CK_OP_SCOPE, "%s %s recorded %zu calls in one commit", op_of(t), sid, added);
    return;
  }
  bool pending = added && a->calls[b->ncalls].state == ORC_CS_PENDING_APPROVAL;
  bool pauses = a->status == ORC_ST_AWAITING_INPUT && b->status != ORC_ST_AWAITING_INPUT;
  if (pauses != pending) {
    orc__violate(o, ORC_CK_GATE, pauses ? "%s %s paused (awaiting_input) without committing its "
                                          "pending call in the same transaction"
                                        : "%s %s committed a pending call without the pause "
                                          "(the session stays %s)",
                 op_of(t), sid, orc_status_name(a->status));
    return;
  }
  if (added && !appended_ok(o, t, ch, b->ncalls)) return;
  if (pending) {
    if (!has_event(a, b->nevents, "approval_requested", (int64_t)b->ncalls))
      orc__violate(o, ORC_CK_GATE, "%s %s paused without its approval_requested event", op_of(t), sid);
    else
      note_pending(o, ch->s, b->ncalls);
    return;
  }
  if (added) return; /* an executed call: judged */
  /* A row change without a call: a status step, or the extra fields. */
  if (a->status == b->status) {
    if (ch->updated && strcmp(orc__str(a->extra), orc__str(b->extra)) != 0)
      orc__violate(o, ORC_CK_OP_SCOPE, "%s %s changed the extra fields without a tool call",
                   op_of(t), sid);
    return;
  }
  if (strcmp(orc__str(a->extra), orc__str(b->extra)) != 0) {
    orc__violate(o, ORC_CK_OP_SCOPE, "%s %s changed its status and its extra fields at once",
                 op_of(t), sid);
    return;
  }
  if (a->status == ORC_ST_IN_PROGRESS) {
    /* From new, or from awaiting_input (a terminal status never moves, the
    ** generic rules say): not while an approval is pending. */
    bool waiting = false;
    for (size_t i = 0; i < b->ncalls && !waiting; i++)
      waiting = b->calls[i].state == ORC_CS_PENDING_APPROVAL;
    if (b->status == ORC_ST_AWAITING_INPUT && waiting)
      orc__violate(o, ORC_CK_OP_SCOPE, "%s %s moved it awaiting_input -> in_progress with an "
                   "approval still pending", op_of(t), sid);
    return;
  }
  if (a->status == ORC_ST_ERROR) { /* a failed run: a kind the spec knows, the one its cause says */
    bool tr = false;
    const char *k = a->kind ? a->kind : "";
    bool store = strcmp(k, "io_error") == 0 || strcmp(k, "db_busy") == 0;
    uint32_t me = (uint32_t)(ch->s - o->sess) + 1;
    if (!orc_kind_known(k, &tr))
      orc__violate(o, ORC_CK_ERROR_KIND, "%s %s failed the run with the kind '%s', which the spec "
                   "does not know", op_of(t), sid, k);
    else if (t->cancelled == me && !store && strcmp(k, "cancelled") != 0)
      orc__violate(o, ORC_CK_CANCEL, "%s %s stopped its run for a cancel, but recorded the kind "
                   "'%s' (cancelled)", op_of(t), sid, k);
    else if (t->fail_kind && t->cancelled != me && !store && strcmp(k, t->fail_kind) != 0)
      orc__violate(o, ORC_CK_ERROR_KIND, "%s %s failed after a tool's server failed, with the kind "
                   "'%s'; that failure is %s", op_of(t), sid, k, t->fail_kind);
    return;
  }
  if (orc_terminal(a->status)) {
    int want = orc_infer(a->calls, a->ncalls, (const char *const *)o->legacy, o->nlegacy);
    if (a->status != want)
      orc__violate(o, ORC_CK_INFER, "%s %s finalized it %s, but its history of %zu calls implies %s",
                   op_of(t), sid, orc_status_name(a->status), a->ncalls, orc_status_name(want));
    return;
  }
  orc__violate(o, ORC_CK_OP_SCOPE, "%s %s moved it %s -> %s", op_of(t), sid,
               orc_status_name(b->status), orc_status_name(a->status));
}

/* --- answers ------------------------------------------------------------------- */

/* The log's last agent run, when it has no agent_finished: its
** agent_started's payload (NULL: none open). */
static const char *open_agent_run(const orc_sstate *st) {
  for (size_t i = st->nevents; i-- > 0;) {
    if (strcmp(st->events[i].kind, "agent_finished") == 0) return NULL;
    if (strcmp(st->events[i].kind, "agent_started") == 0) return st->events[i].payload;
  }
  return NULL;
}

static const orc_sess *settled_sess(orc *o, const orc_task *t) {
  const orc_sess *s = t->session ? orc__session(o, t->session, false) : NULL;
  return s && s->exists && !s->survivor && !s->has_alt ? s : NULL;
}

void orc__agents_ack(orc *o, orc_task *t, const orc_op *ack) {
  const orc_sess *s = settled_sess(o, t);
  if (!s || ack->rc != AS_OK) {
    if (s && ack->rc == AS_EXISTS && !orc_terminal(s->cur.status) && t->op.call >= 0 &&
        (size_t)t->op.call < s->cur.ncalls &&
        s->cur.calls[t->op.call].state == ORC_CS_PENDING_APPROVAL)
      orc__violate(o, ORC_CK_APPROVAL, "%s %s answered 'already resolved' for call %" PRId64
                   ", which is still pending", op_of(t), t->session, t->op.call);
    return;
  }
  int st = s->cur.status;
  const char *open = open_agent_run(&s->cur);
  const char *bad = NULL;
  orc_check ck = ORC_CK_OUTCOME;
  switch (ack->outcome) {
  case ORC_RUN_ENDED:
    if (!orc_terminal(st) || st == ORC_ST_ERROR) {
      bad = "ended";
    } else if (open) {
      bad = "ended with an agent run unfinished";
      ck = ORC_CK_ROUTE;
    }
    break;
  case ORC_RUN_PAUSED:
    if (st != ORC_ST_AWAITING_INPUT) bad = "paused";
    break;
  case ORC_RUN_FAILED:
    if (!orc_terminal(st)) bad = "failed"; /* error, or settled meanwhile */
    break;
  default: break;
  }
  if (bad)
    orc__violate(o, ck, "%s %s said the run %s, but the session is %s (its last agent run: %s)",
                 op_of(t), t->session, bad, orc_status_name(st), open ? open : "finished");
}

void orc__run_ack(orc *o, orc_task *t, const orc_op *ack); /* retry.c */
const orc_model orc_model_run = {orc__agents_commit, orc__run_ack};
const orc_model orc_model_approve = {orc__agents_commit, orc__run_ack};
const orc_model orc_model_reject = {orc__agents_commit, orc__run_ack};
const orc_model orc_model_watchdog = {orc__agents_commit, orc__run_ack};

/* --- the world's tool server ------------------------------------------------------ */

/* Whether s's state is in doubt: a commit in flight or cut by power loss,
** or a row change an append overtook; the runtime may read either. */
static bool in_doubt(const orc_sess *s) { return s->has_alt || s->survivor || s->row_doubt; }

/* Whether the gate holds t whichever way a commit in flight goes; after
** power loss, or with a row change an append overtook, there is no telling. */
static bool gated_surely(const orc *o, const orc_sess *s, const orc_app_tool *t) {
  if (s->survivor || s->row_doubt || !gated(o, s->cur.extra, &s->cur, t)) return false;
  return !s->has_alt || !s->alt_exists || gated(o, s->alt.extra, &s->alt, t);
}

/* An app tool carried out: in an approval, the approved pending call; in
** anything else, a call the gate lets through. */
void orc__on_exec(orc *o, const orc_exec *ex, orc_task *t) {
  if (!o->app || !ex || !ex->session || !ex->tool) {
    orc__harness_error(o, "a tool was carried out, but %s", !o->app ? "the run has no app"
                       : "the event does not say which, or for whom");
    return;
  }
  orc_sess *s = orc__session(o, ex->session, false);
  if (!s || !s->exists) return;
  /* A run that saw its cancel stops there: no tool more. */
  if (t && t->stopping) {
    orc__violate(o, ORC_CK_CANCEL, "%s was carried out for %s after its run saw its cancel",
                 ex->tool, ex->session);
    return;
  }
  /* A server's failure fails the run: its kind, by the spec. */
  if (ex->fail != AS_OK && t)
    t->fail_kind = ex->fail == AS_IO || ex->fail == AS_TIMEDOUT || ex->fail == AS_BUSY ? "tool_unavailable"
                   : ex->fail == AS_INVAL || ex->fail == AS_PARSE || ex->fail == AS_TOOBIG ? "validation"
                                                                                          : "tool_failed";
  if (orc_terminal(s->cur.status) && !in_doubt(s)) {
    orc__violate(o, ORC_CK_APPROVAL, "%s was carried out for %s, which is already %s", ex->tool,
                 ex->session, orc_status_name(s->cur.status));
    return;
  }
  const orc_app_tool *tool = app_tool(o->app, ex->tool);
  if (!tool) {
    orc__violate(o, ORC_CK_OP_SCOPE, "%s was carried out for %s: the app has no such tool", ex->tool,
                 ex->session);
    return;
  }
  if (t && t->active && t->op.kind == SCN_OP_APPROVE && t->op.call >= 0) {
    size_t idx = (size_t)t->op.call;
    const orc_call *c = idx < s->cur.ncalls ? &s->cur.calls[idx] : NULL;
    if (c && strcmp(c->tool, ex->tool) == 0 && strcmp(c->args, orc__str(ex->args)) == 0) {
      /* Resolved, unless the resolution's commit is in doubt (it failed
      ** after its commit point: the retry finds the call pending). */
      if (c->state != ORC_CS_PENDING_APPROVAL && !in_doubt(s))
        orc__violate(o, ORC_CK_APPROVAL, "approve %s carried out call %zu (%s) again: it was "
                     "already %s", ex->session, idx, ex->tool, orc_call_state_name(c->state));
      return;
    }
  }
  if (gated_surely(o, s, tool))
    orc__violate(o, ORC_CK_GATE, "%s was carried out for %s before any approval, but the gate "
                 "holds it for a human", ex->tool, ex->session);
}

int orc_set_app(orc *o, const orc_app *app) {
  o->app = app;
  for (size_t i = 0; app && i < app->ntools; i++) {
    if (!app->tools[i].legacy) continue;
    char **l = realloc(o->legacy, (o->nlegacy + 1) * sizeof *l);
    if (!l) return AS_NOMEM;
    o->legacy = l;
    l[o->nlegacy] = strdup(app->tools[i].qname);
    if (!l[o->nlegacy]) return AS_NOMEM;
    o->nlegacy++;
  }
  return AS_OK;
}

void orc_app_free(orc_app *app) { free(app); }

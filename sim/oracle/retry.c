/*
** retry.c -- the failure paths under the oracle: error kinds and causes,
** retry_count, the retry policy's decisions, retry, preview and cancel, the
** runs registry, the turn cap. From the specification (retry.h's contract as
** its text states it, spec.h's own table of kinds and classes, its own
** should_retry) and the app's retry settings (orc_app): never from the
** runtime's classifier or policy.
**
** The evidence: the rows and events a retry commits (audit), the registry's
** own account of in-flight retries and running runs (ORC_EV_RUNS, published
** by the runner from the registry's observer, in the order the registry
** serializes them), every LLM request (ORC_EV_LLM) and every answer (ACK).
**
** The model of the registry, per session: the task whose retry is in flight
** and the number of runs registered. A second retry entering while one is in
** flight is the bug concurrent retries made; a refusal while none is is a
** false "already in progress". A cancel marks the runs registered then; a
** run that stops for a cancel must have been marked.
**
** Decisions. should_retry needs the stored retry_count, the stored error
** kind, the session's confidence (its extra field "confidence", a number)
** and the app's policy. A retry decides under the session's lock, but
** writers without the lock (a tool call, a write) and commits in doubt
** (power loss) may move the state while it runs: so every retry and preview
** keeps the set of answers the session's states allowed from its start to
** its answer (every candidate the model holds possible), and its answer must
** be one of them. A retry_rejected is judged at its commit against the
** states possible then.
*/
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agentsim/fmt.h"
#include "orc_int.h"
#include "scenario/scenario.h"

#define REASON_IN_PROGRESS "retry already in progress"
#define REASON_NOT_ERROR "not in error state"

static bool eq(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }
static bool empty(const char *s) { return !s || !s[0]; }

void orc__thread_of(char *buf, size_t cap, const char *id, int64_t n) {
  if (n <= 0)
    (void)as_appendf(buf, cap, 0, "%s", id); /* ignore: ids are short */
  else
    (void)as_appendf(buf, cap, 0, "%s:retry-%" PRId64, id, n); /* ignore: as above */
}

static json_t *jparse(const char *text) {
  json_error_t e;
  return text ? json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e) : NULL;
}

/* --- decisions ----------------------------------------------------------------- */

/* The answer a retry gives in state st (ORC_ANS_*). */
static unsigned answer_of(const orc *o, const orc_sstate *st) {
  if (st->status != ORC_ST_ERROR) return ORC_ANS_NOT_ERROR;
  orc_retry_policy p = {0, 0, false};
  if (o->app) {
    p.max_retries = o->app->max_retries;
    p.min_confidence = o->app->retry_min_confidence;
    p.transient = o->app->retry_transient;
  }
  json_t *x = jparse(st->extra);
  json_t *c = json_object_get(x, "confidence");
  bool has = json_is_number(c);
  double conf = has ? json_number_value(c) : 0;
  json_decref(x);
  return ORC_ANS_DECISION(orc_should_retry(st->retry, st->kind ? st->kind : "", has, conf, &p));
}

static const char *answer_name(unsigned a) {
  return a == ORC_ANS_NOT_ERROR ? REASON_NOT_ERROR : orc_decision_name((orc_decision)(a - 1));
}

unsigned orc__answer_bits(const orc *o, const orc_sess *s) {
  unsigned bits = 0;
  if (s->exists) bits |= 1u << answer_of(o, &s->cur);
  if (s->has_alt && s->alt_exists) bits |= 1u << answer_of(o, &s->alt);
  if (s->survivor && s->has_dur && s->dur_exists) bits |= 1u << answer_of(o, &s->dur);
  if (s->row_doubt) bits |= 1u << answer_of(o, &s->ralt);
  return bits;
}

/* The answers in bits, for messages. */
static void bits_text(unsigned bits, char *buf, size_t cap) {
  size_t n = 0;
  buf[0] = '\0';
  for (unsigned a = 0; a <= ORC__DEC_COUNT; a++)
    if (bits & (1u << a)) n = as_appendf(buf, cap, n, "%s%s", n ? ", " : "", answer_name(a));
  if (!n) (void)as_appendf(buf, cap, 0, "none"); /* ignore: fits */
}

static bool retrying(const orc_task *t) {
  return t->active && (t->op.kind == SCN_OP_RETRY || t->op.kind == SCN_OP_PREVIEW);
}

void orc__note_answers(orc *o, const orc_sess *s) {
  for (size_t i = 0; i < o->ntasks; i++) {
    orc_task *t = &o->tasks[i];
    if (retrying(t) && t->session && strcmp(t->session, s->id) == 0)
      t->answers |= orc__answer_bits(o, s);
  }
}

void orc__retry_begin(orc *o, orc_task *t) {
  free(t->errkind);
  t->errkind = NULL;
  t->refused = t->accepted = t->marked = t->inflight_seen = t->stopping = false;
  t->retry_n = -1;
  t->rejected[0] = '\0';
  t->answers = 0;
  t->cancel_found = ORC_CANCEL_NONE;
  t->run_sess = t->cancelled = 0;
  t->fail_kind = NULL;
  t->llm_calls = 0;
  t->llm_agent[0] = '\0';
  if (t->op.errkind && !(t->errkind = strdup(t->op.errkind))) orc__harness_error(o, "out of memory");
  t->op.errkind = t->errkind;
  const orc_sess *s = t->session ? orc__session(o, t->session, false) : NULL;
  t->inflight_whole = false;
  if (retrying(t) && s) {
    t->answers = orc__answer_bits(o, s);
    t->inflight_seen = t->inflight_whole = s->retry_task != 0;
  }
}

/* --- the rules every commit obeys ------------------------------------------------ */

/* The events of kind a change appended: how many, and the last one. */
static const orc_evrec *appended(const orc_change *ch, const char *kind, unsigned *n) {
  const orc_evrec *last = NULL;
  *n = 0;
  for (size_t i = ch->s->cur.nevents; i < ch->after.nevents; i++)
    if (strcmp(ch->after.events[i].kind, kind) == 0) {
      last = &ch->after.events[i];
      (*n)++;
    }
  return last;
}

void orc__retry_rules(orc *o, const orc_task *t, const orc_change *ch) {
  const orc_sstate *b = &ch->s->cur, *a = &ch->after;
  const char *id = ch->s->id;
  unsigned nstarted = 0;
  const orc_evrec *started = appended(ch, "retry_started", &nstarted);
  bool raised = ch->updated && a->retry != b->retry;
  if (!raised && !nstarted) return;
  if (raised && (!t || t->op.kind != SCN_OP_RETRY)) {
    orc__violate(o, ORC_CK_RETRY_COUNT, "%s: retry_count %" PRId64 " -> %" PRId64 " committed by %s "
                 "(only an accepted retry raises it)", id, b->retry, a->retry,
                 t ? orc__op_name(t->op.kind) : "no operation");
    return;
  }
  if (raised && a->retry != b->retry + 1) {
    orc__violate(o, ORC_CK_RETRY_COUNT, "%s: a retry moved retry_count %" PRId64 " -> %" PRId64
                 " (one more per accepted retry)", id, b->retry, a->retry);
    return;
  }
  if (nstarted != 1 || !raised) {
    orc__violate(o, ORC_CK_RETRY_COUNT, "%s: %u retry_started events in a commit that %s "
                 "retry_count (%" PRId64 " -> %" PRId64 "): one, with the count raised by one",
                 id, nstarted, raised ? "raises" : "leaves", b->retry, a->retry);
    return;
  }
  if (b->status != ORC_ST_ERROR || a->status != ORC_ST_IN_PROGRESS) {
    orc__violate(o, ORC_CK_RETRY_START, "%s: a retry started from %s, moving it to %s (only from "
                 "error, to in_progress)", id, orc_status_name(b->status),
                 orc_status_name(a->status));
    return;
  }
  json_t *p = jparse(started->payload);
  json_t *n = json_object_get(p, "retry");
  const char *thread = json_string_value(json_object_get(p, "thread"));
  char want[256];
  orc__thread_of(want, sizeof want, id, a->retry);
  bool ok = json_is_integer(n) && json_integer_value(n) == a->retry && thread &&
            strcmp(thread, want) == 0;
  if (!ok)
    orc__violate(o, ORC_CK_RETRY_COUNT, "%s: retry_started %s for retry %" PRId64 " (its thread "
                 "is %s)", id, started->payload, a->retry, want);
  json_decref(p);
}

/* The error kind and cause: an error row has both (its event says them),
** any other row neither; a save that keeps error keeps them. */
void orc__error_rules(orc *o, const orc_change *ch) {
  const orc_sstate *b = &ch->s->cur, *a = &ch->after;
  const char *id = ch->s->id;
  if (!ch->updated && !ch->created) return;
  bool changed = ch->updated && a->status != b->status;
  if (a->status != ORC_ST_ERROR) {
    if (!empty(a->kind) || !empty(a->cause))
      orc__violate(o, ORC_CK_ERROR_KIND, "%s is %s with the error kind '%s' and cause '%s' (only "
                   "an error row has them)", id, orc_status_name(a->status), orc__str(a->kind),
                   orc__str(a->cause));
    return;
  }
  if (empty(a->kind) || empty(a->cause)) {
    orc__violate(o, ORC_CK_ERROR_KIND, "%s is error with the kind '%s' and cause '%s' (both are "
                 "due)", id, orc__str(a->kind), orc__str(a->cause));
    return;
  }
  if (!changed) {
    if (!ch->created && (!eq(a->kind, b->kind) || !eq(a->cause, b->cause)))
      orc__violate(o, ORC_CK_ERROR_KIND, "a save of %s (still error) changed its error from %s "
                   "'%s' to %s '%s'", id, orc__str(b->kind), orc__str(b->cause), a->kind, a->cause);
    return;
  }
  if (ch->status_events == 1 && (!eq(ch->ev_kind, a->kind) || !eq(ch->ev_cause, a->cause)))
    orc__violate(o, ORC_CK_ERROR_KIND, "%s became error (%s: %s), but its status_changed event "
                 "says error_kind '%s', error '%s'", id, a->kind, a->cause, orc__str(ch->ev_kind),
                 orc__str(ch->ev_cause));
}

/* --- the registry and the model's calls ---------------------------------------------- */

void orc__on_runs(orc *o, const sim_ev *ev, orc_task *t) {
  const char *key = ev->label ? ev->label : "?";
  orc_sess *s = orc__session(o, key, true);
  if (!s || !t) return;
  uint32_t me = ev->task + 1, idx = (uint32_t)(s - o->sess) + 1;
  switch ((orc_runs_event)ev->extra) {
  case ORC_RUNS_RETRY_ENTERED:
    if (s->retry_task) {
      orc__violate(o, ORC_CK_RETRY_ONCE, "two retries of %s in flight at once: task %" PRIu32
                   "'s entered while task %" PRIu32 "'s had not left", key, ev->task,
                   s->retry_task - 1);
      return;
    }
    s->retry_task = me;
    for (size_t i = 0; i < o->ntasks; i++) {
      orc_task *p = &o->tasks[i];
      if (p->active && p->op.kind == SCN_OP_PREVIEW && p->session && strcmp(p->session, key) == 0)
        p->inflight_seen = true;
    }
    return;
  case ORC_RUNS_RETRY_REFUSED:
    if (!s->retry_task || s->retry_task == me)
      orc__violate(o, ORC_CK_RETRY_ONCE, "a retry of %s by task %" PRIu32 " was refused as "
                   "already in progress, but %s", key, ev->task,
                   s->retry_task ? "the one in flight is its own" : "none is in flight");
    t->refused = true;
    return;
  case ORC_RUNS_RETRY_LEFT:
    if (s->retry_task != me) {
      orc__violate(o, ORC_CK_RETRY_ONCE, "task %" PRIu32 "'s retry of %s left the in-flight set, "
                   "but %s", ev->task, key, s->retry_task ? "another task's is the one in flight"
                                                           : "none was in flight");
      return;
    }
    /* Left before the lock went, a second retry would get in and wait for
    ** the lock instead of being refused at once. */
    if (s->holder == me) {
      orc__violate(o, ORC_CK_RETRY_ONCE, "task %" PRIu32 "'s retry of %s left the in-flight set "
                   "still holding the session's lock (it leaves once the lock is released)",
                   ev->task, key);
      return;
    }
    s->retry_task = 0;
    for (size_t i = 0; i < o->ntasks; i++) { /* in flight no longer for a whole preview */
      orc_task *p = &o->tasks[i];
      if (p->active && p->op.kind == SCN_OP_PREVIEW && p->session && strcmp(p->session, key) == 0)
        p->inflight_whole = false;
    }
    return;
  case ORC_RUNS_RUN_BEGAN:
    if (s->holder != me) {
      orc__violate(o, ORC_CK_CANCEL, "task %" PRIu32 " registered a run of %s without holding its "
                   "lock", ev->task, key);
      return;
    }
    s->nruns++;
    t->run_sess = idx;
    t->marked = t->stopping = false;
    return;
  case ORC_RUNS_RUN_ENDED:
    if (!s->nruns || t->run_sess != idx) {
      orc__violate(o, ORC_CK_CANCEL, "task %" PRIu32 " ended a run of %s it had not registered",
                   ev->task, key);
      return;
    }
    s->nruns--;
    t->run_sess = 0;
    t->stopping = false;
    return;
  case ORC_RUNS_CANCEL_MARKED:
    if (!s->nruns) {
      orc__violate(o, ORC_CK_CANCEL, "a cancel marked a run of %s, but none is registered", key);
      return;
    }
    for (size_t i = 0; i < o->ntasks; i++)
      if (o->tasks[i].run_sess == idx) o->tasks[i].marked = true;
    t->cancel_found = ORC_CANCEL_STOPPING;
    return;
  case ORC_RUNS_CANCEL_IDLE:
    if (s->nruns) {
      orc__violate(o, ORC_CK_CANCEL, "a cancel of %s found no run, but %" PRIu32 " %s registered",
                   key, s->nruns, s->nruns == 1 ? "is" : "are");
      return;
    }
    t->cancel_found = ORC_CANCEL_NOT_RUNNING;
    return;
  case ORC_RUNS_CANCEL_SEEN:
    if (t->run_sess != idx || !t->marked) {
      orc__violate(o, ORC_CK_CANCEL, "task %" PRIu32 "'s run of %s stopped for a cancel, but no "
                   "cancel marked it", ev->task, key);
      return;
    }
    t->cancelled = idx;
    t->stopping = true;
    return;
  }
  orc__harness_error(o, "a runs event of unknown kind %" PRIu64, ev->extra);
}

void orc_runs_idle(orc *o, size_t entries) {
  if (o->violated || entries == 0) return;
  o->task = UINT32_MAX;
  orc__violate(o, ORC_CK_RUNS_EVICT, "every task is done, but the runs registry keeps %zu entr%s "
               "(a retry that never left, or a run that never ended)", entries,
               entries == 1 ? "y" : "ies");
}

void orc__on_llm(orc *o, const orc_llm *l, orc_task *t) {
  if (!l || !l->agent || !t || !t->active) {
    orc__harness_error(o, "an LLM request %s", !l || !l->agent ? "that names no agent"
                                                               : "outside any operation");
    return;
  }
  /* A run that saw its cancel stops there: no call, no try more. */
  if (t->stopping) {
    orc__violate(o, ORC_CK_CANCEL, "%s asked the model (agent %s) after its run of %s saw its "
                 "cancel", orc__op_name(t->op.kind), l->agent, orc__str(l->session));
    return;
  }
  if (l->attempt != 1) return; /* a call tried again is the same call */
  if (strcmp(t->llm_agent, l->agent) != 0) {
    (void)snprintf(t->llm_agent, sizeof t->llm_agent, "%s", l->agent); /* ignore: cut names differ */
    t->llm_calls = 0;
  }
  t->llm_calls++;
  const orc_app_agent *a = NULL;
  for (size_t i = 0; o->app && i < o->app->nagents && !a; i++)
    if (strcmp(o->app->agents[i].name, l->agent) == 0) a = &o->app->agents[i];
  if (!a) {
    orc__violate(o, ORC_CK_OP_SCOPE, "%s asked the model as agent %s, which the app does not have",
                 orc__op_name(t->op.kind), l->agent);
    return;
  }
  if (a->max_calls && t->llm_calls > a->max_calls)
    orc__violate(o, ORC_CK_TURN_CAP, "agent %s of %s made its LLM call %u in one run; its "
                 "max_calls is %u", l->agent, orc__str(l->session), t->llm_calls, a->max_calls);
}

/* --- retry ---------------------------------------------------------------------- */

/* A retry_started commit: one session change and nothing else, the state
** before it one whose decision is auto_retry (the generic rules judged the
** count and the statuses). */
static void started_commit(orc *o, orc_task *t, const orc_tx *tx, const orc_change *ch) {
  const orc_sstate *b = &ch->s->cur, *a = &ch->after;
  if (tx->nch != 1 || tx->nput || tx->ndel || a->ncalls != b->ncalls ||
      !orc__calls_equal(a->calls, a->ncalls, b->calls, b->ncalls) || !eq(a->extra, b->extra) ||
      a->nevents != b->nevents + 2 || t->accepted || t->rejected[0]) {
    orc__violate(o, ORC_CK_OP_SCOPE, "retry %s committed its start with other changes (%zu "
                 "sessions, %zu checkpoints, %zu events), or a second time", ch->s->id, tx->nch,
                 tx->nput + tx->ndel, a->nevents - b->nevents);
    return;
  }
  unsigned bits = 1u << answer_of(o, b);
  if (ch->s->has_alt && ch->s->alt_exists) bits |= 1u << answer_of(o, &ch->s->alt);
  if (!(bits & (1u << ORC_ANS_DECISION(ORC_DEC_AUTO)))) {
    char got[160];
    bits_text(bits, got, sizeof got);
    orc__violate(o, ORC_CK_RETRY_DECISION, "retry %s started retry %" PRId64 ", but the policy "
                 "says %s (retry_count %" PRId64 ", error kind '%s', %s)", ch->s->id, a->retry, got,
                 b->retry, orc__str(b->kind), orc__str(b->extra));
    return;
  }
  t->accepted = true;
  t->retry_n = a->retry;
}

/* A retry_rejected commit: an event alone, whose reason is the decision
** of a state the session may be in, and whose retry_count is that state's. */
static void rejected_commit(orc *o, orc_task *t, const orc_tx *tx, const orc_change *ch) {
  const orc_sstate *b = &ch->s->cur, *a = &ch->after;
  if (tx->nch != 1 || tx->nput || tx->ndel || ch->updated || ch->created ||
      a->nevents != b->nevents + 1 || t->accepted || t->rejected[0]) {
    orc__violate(o, ORC_CK_OP_SCOPE, "retry %s committed its refusal with other changes, or more "
                 "than once", ch->s->id);
    return;
  }
  const orc_evrec *e = &a->events[a->nevents - 1];
  json_t *p = jparse(e->payload);
  const char *reason = json_string_value(json_object_get(p, "reason"));
  json_t *c = json_object_get(p, "retry_count");
  (void)snprintf(t->rejected, sizeof t->rejected, "%s", reason ? reason : "?"); /* ignore: cut */
  int64_t count = json_is_integer(c) ? (int64_t)json_integer_value(c) : -1;
  json_decref(p);
  t->retry_n = count;
  if (strcmp(t->rejected, REASON_IN_PROGRESS) == 0) {
    orc__violate(o, ORC_CK_RETRY_ONCE, "retry %s recorded '%s' (a refusal for a retry in flight "
                 "writes nothing)", ch->s->id, REASON_IN_PROGRESS);
    return;
  }
  unsigned bits = orc__answer_bits(o, ch->s), want = ORC__DEC_COUNT + 1;
  for (unsigned k = 0; k <= ORC__DEC_COUNT; k++)
    if (strcmp(answer_name(k), t->rejected) == 0) want = k;
  if (want == ORC_ANS_DECISION(ORC_DEC_AUTO) || want > ORC__DEC_COUNT || !(bits & (1u << want))) {
    char got[160];
    bits_text(bits, got, sizeof got);
    orc__violate(o, ORC_CK_RETRY_DECISION, "retry %s was refused for '%s', but the session (%s, "
                 "retry_count %" PRId64 ", error kind '%s', %s) answers %s", ch->s->id,
                 t->rejected, orc_status_name(b->status), b->retry, orc__str(b->kind),
                 orc__str(b->extra), got);
    return;
  }
  bool count_ok = count == b->retry || (ch->s->has_alt && ch->s->alt_exists && count == ch->s->alt.retry) ||
                  (ch->s->row_doubt && count == ch->s->ralt.retry) || ch->s->survivor;
  if (!count_ok)
    orc__violate(o, ORC_CK_RETRY_DECISION, "retry %s recorded its refusal with retry_count %" PRId64
                 ", but the session's is %" PRId64, ch->s->id, count, b->retry);
}

static void retry_commit(orc *o, orc_task *t, const orc_tx *tx) {
  const orc_change *ch = tx->nch ? &tx->ch[0] : NULL;
  unsigned ns = 0, nr = 0;
  if (ch) (void)appended(ch, "retry_started", &ns);  /* ignore: the count is what we need */
  if (ch) (void)appended(ch, "retry_rejected", &nr); /* ignore: as above */
  if (ch && (!t->session || strcmp(ch->s->id, t->session) != 0)) {
    orc__violate(o, ORC_CK_OP_SCOPE, "retry %s committed a change to %s", orc__str(t->session),
                 ch->s->id);
    return;
  }
  if (ns) {
    started_commit(o, t, tx, ch);
    return;
  }
  if (nr) {
    rejected_commit(o, t, tx, ch);
    return;
  }
  if (!t->accepted) {
    orc__violate(o, ORC_CK_OP_SCOPE, "retry %s committed before its retry_started (a retry runs "
                 "only once accepted)", orc__str(t->session));
    return;
  }
  orc__agents_commit(o, t, tx); /* the retry's run */
}

static const orc_sess *settled(orc *o, const orc_task *t) {
  const orc_sess *s = t->session ? orc__session(o, t->session, false) : NULL;
  return s && s->exists && !s->survivor && !s->has_alt ? s : NULL;
}

/* What a retry or a preview answered, as an answer code (ORC__DEC_COUNT + 1:
** none the spec has). */
static unsigned answer_code(const orc_op *ack) {
  if (ack->answer == ORC_RA_NOT_ERROR) return ORC_ANS_NOT_ERROR;
  if (ack->answer == ORC_RA_ACCEPTED) return ORC_ANS_DECISION(ORC_DEC_AUTO);
  for (unsigned k = 1; ack->reason && k <= ORC__DEC_COUNT; k++)
    if (strcmp(answer_name(k), ack->reason) == 0 && k != ORC_ANS_DECISION(ORC_DEC_AUTO)) return k;
  return ORC__DEC_COUNT + 1;
}

/* The answer (not in progress) is one the session's states allowed. */
static bool answer_allowed_by_model(orc *o, const orc_task *t, const orc_op *ack) {
  unsigned code = answer_code(ack);
  if (code <= ORC__DEC_COUNT && (t->answers & (1u << code))) return true;
  char got[160];
  bits_text(t->answers, got, sizeof got);
  orc__violate(o, ORC_CK_RETRY_DECISION, "%s %s answered %s ('%s'), but the oracle's policy on "
               "the session's states meanwhile says %s", orc__op_name(t->op.kind), t->session,
               ack->answer == ORC_RA_ACCEPTED   ? "accepted"
               : ack->answer == ORC_RA_DENIED   ? "denied"
               : ack->answer == ORC_RA_NOT_ERROR ? "not in error"
                                                 : "?",
               orc__str(ack->reason), got);
  return false;
}

/* Every run-like operation: a run it stopped for a cancel ends error, and
** at its answer it holds neither the lock nor an in-flight retry. */
static void cancelled_ack(orc *o, orc_task *t, const orc_op *ack) {
  const orc_sess *s = t->session ? orc__session(o, t->session, false) : NULL;
  uint32_t me = (uint32_t)(t - o->tasks) + 1;
  if (s && s->retry_task == me) {
    orc__violate(o, t->cancelled ? ORC_CK_CANCEL : ORC_CK_RETRY_ONCE, "%s %s answered with its "
                 "retry still in flight%s", orc__op_name(t->op.kind), t->session,
                 t->cancelled ? " (its run was cancelled)" : "");
    return;
  }
  if (!t->cancelled) return;
  const orc_sess *c = &o->sess[t->cancelled - 1];
  if (c->holder == me) {
    orc__violate(o, ORC_CK_CANCEL, "%s answered holding the lock of %s, whose run it stopped for "
                 "a cancel", orc__op_name(t->op.kind), c->id);
    return;
  }
  if (ack->rc != AS_OK || c->survivor || c->has_alt || c->row_doubt || !c->exists) return;
  /* Cancelled; or the store failed under the run as it stopped (the run
  ** records that instead, when it can). */
  const char *k = c->cur.kind ? c->cur.kind : "";
  if (c->cur.status != ORC_ST_ERROR ||
      (strcmp(k, "cancelled") != 0 && strcmp(k, "io_error") != 0 && strcmp(k, "db_busy") != 0))
    orc__violate(o, ORC_CK_CANCEL, "%s stopped the run of %s for a cancel and answered, leaving "
                 "it %s (kind '%s'): a cancelled run ends error, kind cancelled",
                 orc__op_name(t->op.kind), c->id, orc_status_name(c->cur.status), k);
}

static void retry_ack(orc *o, orc_task *t, const orc_op *ack) {
  cancelled_ack(o, t, ack);
  if (o->violated || ack->rc != AS_OK) return;
  if (ack->answer == ORC_RA_IN_PROGRESS) {
    if (!t->refused || t->commits)
      orc__violate(o, ORC_CK_RETRY_ONCE, "retry %s answered '%s' %s", t->session, REASON_IN_PROGRESS,
                   !t->refused ? "though the registry refused nothing" : "and committed");
    return;
  }
  if (t->refused) {
    orc__violate(o, ORC_CK_RETRY_ONCE, "retry %s was refused as in progress by the registry, but "
                 "answered otherwise", t->session);
    return;
  }
  if (!answer_allowed_by_model(o, t, ack)) return;
  if (ack->answer == ORC_RA_ACCEPTED) {
    char want[256];
    orc__thread_of(want, sizeof want, t->session, t->retry_n);
    if (!t->accepted)
      orc__violate(o, ORC_CK_OUTCOME, "retry %s answered accepted without committing its start",
                   t->session);
    else if (ack->retry_count != t->retry_n || !eq(ack->thread, want))
      orc__violate(o, ORC_CK_OUTCOME, "retry %s answered retry %" PRId64 " on thread %s; it "
                   "committed retry %" PRId64 " (thread %s)", t->session, ack->retry_count,
                   orc__str(ack->thread), t->retry_n, want);
    else
      orc__agents_ack(o, t, ack);
    return;
  }
  /* A refusal under the lock is recorded. */
  if (!eq(t->rejected, ack->reason))
    orc__violate(o, ORC_CK_OUTCOME, "retry %s answered '%s' but recorded %s%s%s", t->session,
                 orc__str(ack->reason), t->rejected[0] ? "'" : "", t->rejected[0] ? t->rejected : "no refusal",
                 t->rejected[0] ? "'" : "");
  else if (ack->retry_count != t->retry_n)
    orc__violate(o, ORC_CK_OUTCOME, "retry %s answered retry_count %" PRId64 ", but recorded %" PRId64,
                 t->session, ack->retry_count, t->retry_n);
}

const orc_model orc_model_retry = {retry_commit, retry_ack};

/* --- preview -------------------------------------------------------------------- */

static void preview_commit(orc *o, orc_task *t, const orc_tx *tx) {
  orc__violate(o, ORC_CK_PREVIEW, "preview %s committed a change (%zu sessions, %zu checkpoints%s)",
               orc__str(t->session), tx->nch, tx->nput + tx->ndel,
               tx->nch && tx->ch[0].after.nevents > tx->ch[0].s->cur.nevents ? ", an event" : "");
}

static void preview_ack(orc *o, orc_task *t, const orc_op *ack) {
  if (ack->rc == AS_BUSY) {
    orc__violate(o, ORC_CK_PREVIEW, "preview %s answered busy (a preview takes no lock)",
                 orc__str(t->session));
    return;
  }
  if (ack->rc != AS_OK) return;
  if (t->inflight_whole && ack->answer != ORC_RA_IN_PROGRESS) {
    orc__violate(o, ORC_CK_RETRY_ONCE, "preview %s did not answer '%s', though a retry of it was "
                 "in flight from its start to its answer", t->session, REASON_IN_PROGRESS);
    return;
  }
  if (ack->answer == ORC_RA_IN_PROGRESS) {
    if (!t->inflight_seen)
      orc__violate(o, ORC_CK_RETRY_ONCE, "preview %s answered '%s', but no retry of it was in "
                   "flight", t->session, REASON_IN_PROGRESS);
    return;
  }
  if (!answer_allowed_by_model(o, t, ack)) return;
  const orc_sess *s = settled(o, t);
  if (s && !s->row_doubt && ack->retry_count != s->cur.retry && t->answers == (1u << answer_of(o, &s->cur)))
    orc__violate(o, ORC_CK_OUTCOME, "preview %s answered retry_count %" PRId64 "; it is %" PRId64,
                 t->session, ack->retry_count, s->cur.retry);
}

const orc_model orc_model_preview = {preview_commit, preview_ack};

/* --- cancel --------------------------------------------------------------------- */

static void cancel_commit(orc *o, orc_task *t, const orc_tx *tx) {
  (void)tx;
  orc__violate(o, ORC_CK_OP_SCOPE, "cancel %s committed a change (a cancel only marks a run)",
               orc__str(t->session));
}

static void cancel_ack(orc *o, orc_task *t, const orc_op *ack) {
  if (ack->rc != AS_OK) return;
  int want = t->cancel_found;
  if (ack->answer != want)
    orc__violate(o, ORC_CK_CANCEL, "cancel %s answered %s, but the registry %s", t->session,
                 ack->answer == ORC_CANCEL_STOPPING      ? "stopping"
                 : ack->answer == ORC_CANCEL_NOT_RUNNING ? "not running"
                                                         : "nothing",
                 want == ORC_CANCEL_STOPPING      ? "marked a run"
                 : want == ORC_CANCEL_NOT_RUNNING ? "found no run"
                                                  : "heard of no cancel");
}

const orc_model orc_model_cancel = {cancel_commit, cancel_ack};

/* The cancel rules every run-like operation's answer obeys. */
void orc__run_ack(orc *o, orc_task *t, const orc_op *ack);
void orc__run_ack(orc *o, orc_task *t, const orc_op *ack) {
  cancelled_ack(o, t, ack);
  if (!o->violated) orc__agents_ack(o, t, ack);
}

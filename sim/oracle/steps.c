/*
** steps.c -- the model step of every scenario operation: the model column
** of the operation table (scenario.h). Each says, from the specification,
** what a transaction the operation commits may change (commit) and what its
** answer must agree with (ack). The generic rules of model.c have already
** run on every commit.
*/
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/status.h"
#include "agentsim/fmt.h"
#include "grow.h"
#include "orc_int.h"
#include "scenario/scenario.h"

/* --- helpers ------------------------------------------------------------------ */

static const char *op_name(const orc_task *t) { return orc__op_name(t->op.kind); }

/* The one session change an operation on one session may commit. */
static const orc_change *one_change(orc *o, const orc_task *t, const orc_tx *tx) {
  if (tx->nput || tx->ndel) {
    orc__violate(o, ORC_CK_OP_SCOPE, "%s changed checkpoints", op_name(t));
    return NULL;
  }
  if (tx->nch != 1 || !t->session || strcmp(tx->ch[0].s->id, t->session) != 0) {
    orc__violate(o, ORC_CK_OP_SCOPE, "%s %s committed a change to %s", op_name(t),
                 orc__str(t->session), tx->nch ? tx->ch[0].s->id : "no session");
    return NULL;
  }
  if (!tx->ch[0].updated) {
    orc__violate(o, ORC_CK_OP_SCOPE, "%s %s committed without saving the session", op_name(t),
                 t->session);
    return NULL;
  }
  return &tx->ch[0];
}

static bool history_kept(orc *o, const orc_task *t, const orc_change *ch) {
  const orc_sstate *b = &ch->s->cur, *a = &ch->after;
  if (orc__calls_equal(b->calls, b->ncalls, a->calls, a->ncalls)) return true;
  orc__violate(o, ORC_CK_HISTORY, "%s %s changed the tool-call history (%zu calls before, %zu after)",
               op_name(t), t->session, b->ncalls, a->ncalls);
  return false;
}

static bool extra_kept(orc *o, const orc_task *t, const orc_change *ch) {
  const char *b = ch->s->cur.extra ? ch->s->cur.extra : "", *a = ch->after.extra ? ch->after.extra : "";
  if (strcmp(a, b) == 0) return true;
  orc__violate(o, ORC_CK_OP_SCOPE, "%s %s changed the extra fields from %s to %s", op_name(t),
               t->session, b, a);
  return false;
}

static bool status_kept(orc *o, const orc_task *t, const orc_change *ch) {
  if (ch->after.status == ch->s->cur.status) return true;
  orc__violate(o, ORC_CK_OP_SCOPE, "%s %s changed the status %s -> %s", op_name(t), t->session,
               orc_status_name(ch->s->cur.status), orc_status_name(ch->after.status));
  return false;
}

static bool first_commit(orc *o, const orc_task *t) {
  if (t->commits <= 1) return true;
  orc__violate(o, ORC_CK_OP_SCOPE, "%s %s committed %u times", op_name(t), orc__str(t->session),
               t->commits);
  return false;
}

/* The version the save was loaded at is the one it commits over. */
static bool based_on_load(orc *o, const orc_task *t, const orc_change *ch) {
  if (!t->op.base_version || ch->s->cur.version == t->op.base_version) return true;
  orc__violate(o, ORC_CK_STALE_SAVE,
               "%s %s loaded version %" PRId64 " and committed over version %" PRId64
               ": whatever the commits in between did is overwritten", op_name(t), t->session,
               t->op.base_version, ch->s->cur.version);
  return false;
}

/* The model's session of the task's operation, unless power loss left its
** state in doubt. (A commit still in flight counts: other tasks may already
** read what it wrote.) */
static const orc_sess *settled(orc *o, const orc_task *t) {
  const orc_sess *s = t->session ? orc__session(o, t->session, false) : NULL;
  return s && s->exists && !s->survivor && !(s->has_alt && s->alt_conn == ORC_NO_CONN) ? s : NULL;
}

static void no_commit(orc *o, orc_task *t, const orc_tx *tx) {
  (void)tx;
  orc__violate(o, ORC_CK_OP_SCOPE, "%s committed a change to the database", op_name(t));
}

static void no_ack(orc *o, orc_task *t, const orc_op *ack) {
  (void)o;
  (void)t;
  (void)ack;
}

/* A settling operation (finalize, pause, fail) never lets a conflict out. */
static bool no_stale(orc *o, const orc_task *t, const orc_op *ack) {
  if (ack->rc != AS_STALE) return true;
  orc__violate(o, ORC_CK_STALE_ESCAPED, "%s %s returned a stale-version conflict: its caller "
               "would leave the session %s", op_name(t), t->session,
               settled(o, t) ? orc_status_name(settled(o, t)->cur.status) : "as it is");
  return false;
}

static bool said_changed(orc *o, const orc_task *t, const orc_op *ack) {
  if (ack->changed < 0 || (ack->changed != 0) == (t->commits > 0)) return true;
  orc__violate(o, ORC_CK_OUTCOME, "%s %s said it %s, but it committed %u changes", op_name(t),
               t->session, ack->changed ? "wrote" : "wrote nothing", t->commits);
  return false;
}

/* --- create (the setup's sessions) -------------------------------------------------- */

static void create_commit(orc *o, orc_task *t, const orc_tx *tx) {
  if (tx->nput || tx->ndel || tx->nch != 1 || !tx->ch[0].created ||
      (t->session && strcmp(tx->ch[0].s->id, t->session) != 0)) {
    orc__violate(o, ORC_CK_OP_SCOPE, "creating %s committed something else", orc__str(t->session));
    return;
  }
  const orc_sstate *a = &tx->ch[0].after;
  if (a->status != ORC_ST_NEW || a->ncalls || a->nevents)
    orc__violate(o, ORC_CK_OP_SCOPE, "%s was created %s with %zu calls and %zu events, not new "
                 "and empty", tx->ch[0].s->id, orc_status_name(a->status), a->ncalls, a->nevents);
}

const orc_model orc_model_create = {create_commit, no_ack};

/* --- start ---------------------------------------------------------------------- */

static void start_commit(orc *o, orc_task *t, const orc_tx *tx) {
  const orc_change *ch = one_change(o, t, tx);
  if (!ch || !first_commit(o, t) || !history_kept(o, t, ch) || !extra_kept(o, t, ch)) return;
  if (ch->s->cur.status != ORC_ST_NEW || ch->after.status != ORC_ST_IN_PROGRESS)
    orc__violate(o, ORC_CK_OP_SCOPE, "start %s moved it %s -> %s (only new -> in_progress)",
                 t->session, orc_status_name(ch->s->cur.status), orc_status_name(ch->after.status));
}

static void start_ack(orc *o, orc_task *t, const orc_op *ack) {
  const orc_sess *s = settled(o, t);
  if (ack->rc == AS_OK && s && s->cur.status == ORC_ST_NEW)
    orc__violate(o, ORC_CK_OUTCOME, "start %s returned success and left it new", t->session);
}

const orc_model orc_model_start = {start_commit, start_ack};

/* --- tool ----------------------------------------------------------------------- */

/* after == before plus exactly the call (tool, state, arguments, result)
** at the end. */
static bool appended(orc *o, const orc_task *t, const orc_change *ch) {
  const orc_sstate *b = &ch->s->cur, *a = &ch->after;
  if (a->ncalls != b->ncalls + 1 || !orc__calls_equal(b->calls, b->ncalls, a->calls, b->ncalls)) {
    orc__violate(o, ORC_CK_HISTORY, "%s %s %s: the history went from %zu to %zu calls, not the %zu "
                 "it had plus this one", op_name(t), t->session, orc__str(t->op.tool), b->ncalls,
                 a->ncalls, b->ncalls);
    return false;
  }
  orc_call want = {.tool = (char *)t->op.tool, .state = t->op.tool_state,
                   .args = (char *)t->op.args, .result = (char *)t->op.result};
  const orc_call *got = &a->calls[b->ncalls];
  if (!orc__call_equal(got, &want)) {
    orc__violate(o, ORC_CK_HISTORY, "%s %s recorded %s %s %s -> %s, not its call %s %s %s -> %s",
                 op_name(t), t->session, orc__str(got->tool), orc_call_state_name(got->state),
                 orc__str(got->args), orc__str(got->result), orc__str(want.tool),
                 orc_call_state_name(want.state), orc__str(want.args), orc__str(want.result));
    return false;
  }
  return true;
}

static void tool_commit(orc *o, orc_task *t, const orc_tx *tx) {
  const orc_change *ch = one_change(o, t, tx);
  if (!ch || !first_commit(o, t) || !status_kept(o, t, ch) || !extra_kept(o, t, ch)) return;
  if (based_on_load(o, t, ch)) appended(o, t, ch); /* it reports what it finds */
}

/* A save that returned success names the version it committed. */
static void save_ack(orc *o, orc_task *t, const orc_op *ack) {
  if (ack->rc != AS_OK) return;
  if (t->commits == 0) {
    const orc_sess *s = settled(o, t);
    /* A finished session takes no more calls (and power loss may have left
    ** it finished or not). */
    if (t->op.kind == SCN_OP_TOOL && (!s || orc_terminal(s->cur.status))) return;
    orc__violate(o, ORC_CK_OUTCOME, "%s %s returned success but committed nothing (the session "
                 "is %s)", op_name(t), t->session, s ? orc_status_name(s->cur.status) : "in doubt");
    return;
  }
  if (ack->version != t->version)
    orc__violate(o, ORC_CK_OUTCOME, "%s %s reported version %" PRId64 ", but its commit made "
                 "version %" PRId64, op_name(t), t->session, ack->version, t->version);
}

const orc_model orc_model_tool = {tool_commit, save_ack};

/* --- write ---------------------------------------------------------------------- */

static void write_commit(orc *o, orc_task *t, const orc_tx *tx) {
  const orc_change *ch = one_change(o, t, tx);
  if (!ch || !first_commit(o, t) || !status_kept(o, t, ch) || !history_kept(o, t, ch)) return;
  if (!based_on_load(o, t, ch)) return;
  const char *got = ch->after.extra ? ch->after.extra : "";
  if (strcmp(got, orc__str(t->op.content)) != 0)
    orc__violate(o, ORC_CK_CONTENT, "write %s was to commit %s but committed %s", t->session,
                 orc__str(t->op.content), got);
}

const orc_model orc_model_write = {write_commit, save_ack};

/* --- finalize, pause, fail ------------------------------------------------------------ */

/* A settling commit: one status change to `want`, nothing else. */
static const orc_change *settle_commit(orc *o, orc_task *t, const orc_tx *tx) {
  const orc_change *ch = one_change(o, t, tx);
  if (!ch || !first_commit(o, t) || !history_kept(o, t, ch) || !extra_kept(o, t, ch)) return NULL;
  if (ch->after.status == ch->s->cur.status) {
    orc__violate(o, ORC_CK_OP_SCOPE, "%s %s committed a save that leaves it %s", op_name(t),
                 t->session, orc_status_name(ch->after.status));
    return NULL;
  }
  return ch;
}

static void finalize_commit(orc *o, orc_task *t, const orc_tx *tx) {
  const orc_change *ch = settle_commit(o, t, tx);
  if (!ch) return;
  const orc_sstate *a = &ch->after;
  int want = orc_infer(a->calls, a->ncalls, (const char *const *)o->legacy, o->nlegacy);
  if (a->status != want)
    orc__violate(o, ORC_CK_INFER, "finalize %s committed %s, but its history of %zu calls implies %s",
                 t->session, orc_status_name(a->status), a->ncalls, orc_status_name(want));
}

static void finalize_ack(orc *o, orc_task *t, const orc_op *ack) {
  if (!no_stale(o, t, ack) || ack->rc != AS_OK) return;
  const orc_sess *s = settled(o, t);
  if (!s) return;
  if (!orc_terminal(s->cur.status)) {
    orc__violate(o, ORC_CK_OUTCOME, "finalize %s returned success leaving it %s", t->session,
                 orc_status_name(s->cur.status));
    return;
  }
  if (ack->status && strcmp(ack->status, orc_status_name(s->cur.status)) != 0)
    orc__violate(o, ORC_CK_OUTCOME, "finalize %s said it ended %s, but it is %s", t->session,
                 ack->status, orc_status_name(s->cur.status));
}

const orc_model orc_model_finalize = {finalize_commit, finalize_ack};

static void pause_commit(orc *o, orc_task *t, const orc_tx *tx) {
  const orc_change *ch = settle_commit(o, t, tx);
  if (ch && ch->after.status != ORC_ST_AWAITING_INPUT)
    orc__violate(o, ORC_CK_OP_SCOPE, "pause %s committed %s, not awaiting_input", t->session,
                 orc_status_name(ch->after.status));
}

static void pause_ack(orc *o, orc_task *t, const orc_op *ack) {
  if (!no_stale(o, t, ack) || ack->rc != AS_OK || !said_changed(o, t, ack)) return;
  const orc_sess *s = settled(o, t);
  if (s && s->cur.status != ORC_ST_AWAITING_INPUT && !orc_terminal(s->cur.status))
    orc__violate(o, ORC_CK_OUTCOME, "paused run %s is %s, not awaiting_input", t->session,
                 orc_status_name(s->cur.status));
}

const orc_model orc_model_pause = {pause_commit, pause_ack};

static void fail_commit(orc *o, orc_task *t, const orc_tx *tx) {
  const orc_change *ch = settle_commit(o, t, tx);
  if (ch && ch->after.status != ORC_ST_ERROR) {
    orc__violate(o, ORC_CK_OP_SCOPE, "fail %s committed %s, not error", t->session,
                 orc_status_name(ch->after.status));
    return;
  }
  /* The kind as given (a name the runtime does not know included) and the cause. */
  const char *want = t->op.errkind ? t->op.errkind : "unknown";
  if (ch && (strcmp(orc__str(ch->after.kind), want) != 0 ||
             (t->op.content && strcmp(orc__str(ch->after.cause), t->op.content) != 0)))
    orc__violate(o, ORC_CK_ERROR_KIND, "fail %s stored the error %s '%s', not the %s '%s' it was "
                 "given", t->session, orc__str(ch->after.kind), orc__str(ch->after.cause), want,
                 orc__str(t->op.content));
}

static void fail_ack(orc *o, orc_task *t, const orc_op *ack) {
  if (!no_stale(o, t, ack) || ack->rc != AS_OK || !said_changed(o, t, ack)) return;
  const orc_sess *s = settled(o, t);
  if (s && !orc_terminal(s->cur.status))
    orc__violate(o, ORC_CK_OUTCOME, "failed run %s is %s, not terminal", t->session,
                 orc_status_name(s->cur.status));
}

const orc_model orc_model_fail = {fail_commit, fail_ack};

/* --- checkpoints and their GC ---------------------------------------------------------- */

static void checkpoint_commit(orc *o, orc_task *t, const orc_tx *tx) {
  if (tx->nch || tx->ndel || tx->nput != 1 || strcmp(tx->put[0], orc__str(t->op.thread)) != 0) {
    orc__violate(o, ORC_CK_OP_SCOPE, "checkpoint %s committed %zu stores, %zu removals and %zu "
                 "session changes", orc__str(t->op.thread), tx->nput, tx->ndel, tx->nch);
    return;
  }
  if (!first_commit(o, t)) return;
  const orc_cval *d = tx->putdata[0];
  const char *want = orc__str(t->op.content);
  if (d->n != strlen(want) || (d->n && memcmp(d->t, want, d->n) != 0))
    orc__violate(o, ORC_CK_CONTENT, "checkpoint %s stored '%.*s', not its bytes '%s'",
                 t->op.thread, (int)(d->n > 200 ? 200 : d->n), d->t ? d->t : "", want);
}

static void checkpoint_ack(orc *o, orc_task *t, const orc_op *ack) {
  if (ack->rc == AS_OK && t->commits != 1)
    orc__violate(o, ORC_CK_OUTCOME, "checkpoint %s returned success with %u commits",
                 orc__str(t->op.thread), t->commits);
}

const orc_model orc_model_checkpoint = {checkpoint_commit, checkpoint_ack};

static bool removed_in(const orc_tx *tx, const char *tid) {
  for (size_t i = 0; i < tx->ndel; i++)
    if (tx->del[i] == tid) return true;
  return false;
}

/* Whether the base session of tid is active: 1 yes, 0 no, -1 in doubt. */
static int base_active(orc *o, const char *tid) {
  size_t n = orc_base_len(tid);
  char base[256];
  if (n >= sizeof base) return 0; /* no session id is that long */
  memcpy(base, tid, n);
  base[n] = '\0';
  const orc_sess *s = orc__session(o, base, false);
  if (!s || !s->exists) return 0;
  int now = orc_active(s->cur.status);
  if (s->has_alt && (!s->alt_exists || orc_active(s->alt.status) != now)) return -1;
  if (s->survivor && s->has_dur && (!s->dur_exists || orc_active(s->dur.status) != now)) return -1;
  return now;
}

static void gc_commit(orc *o, orc_task *t, const orc_tx *tx) {
  if (tx->nch || tx->nput) {
    orc__violate(o, ORC_CK_OP_SCOPE, "gc committed %zu session changes and %zu stores", tx->nch,
                 tx->nput);
    return;
  }
  for (size_t i = 0; i < o->nck && !o->violated; i++) {
    const orc_ckpt *c = &o->ck[i];
    bool gone = removed_in(tx, c->tid);
    if (c->exists == ORC_EX_NO && c->tconn == ORC_NO_CONN) continue;
    /* Stored for sure, or by a commit not settled yet (or cut by power). */
    bool sure = c->exists == ORC_EX_YES && c->tconn == ORC_NO_CONN;
    int active = base_active(o, c->tid);
    if (active == 1 && gone)
      orc__violate(o, ORC_CK_GC, "gc removed %s while its session is active", c->tid);
    else if (active == 0 && !gone && sure)
      orc__violate(o, ORC_CK_GC, "gc kept %s though its session is not active", c->tid);
  }
  t->removed += (int64_t)tx->ndel;
}

void orc__gc_begin(orc *o, orc_task *t) {
  for (size_t i = 0; i < o->nck; i++) {
    const orc_ckpt *c = &o->ck[i];
    if (c->exists != ORC_EX_YES || c->tconn != ORC_NO_CONN || c->has_dur) continue;
    const char *tid = c->tid;
    size_t n = orc_base_len(tid);
    char base[256];
    if (n >= sizeof base) continue;
    memcpy(base, tid, n);
    base[n] = '\0';
    const orc_sess *s = orc__session(o, base, false);
    /* Finished for good: terminal and not active, with no other candidate. */
    if (!s || !s->exists || s->has_alt || s->survivor || !orc_terminal(s->cur.status) ||
        orc_active(s->cur.status))
      continue;
    if (sim_grow(&t->due, &t->capdue, t->ndue + 1, sizeof *t->due, ORC_MAX_CHECKPOINTS) != AS_OK) {
      orc__harness_error(o, "out of memory");
      return;
    }
    t->due[t->ndue++] = (uint32_t)i;
  }
}

static void gc_ack(orc *o, orc_task *t, const orc_op *ack) {
  /* A GC that committed nothing removed nothing: what was due then must
  ** have been gone already, or changed since it started. */
  for (size_t i = 0; ack->rc == AS_OK && t->commits == 0 && i < t->ndue; i++) {
    const orc_ckpt *c = &o->ck[t->due[i]];
    if (c->exists == ORC_EX_YES && c->tconn == ORC_NO_CONN && c->changed < t->start_step) {
      orc__violate(o, ORC_CK_GC, "gc kept %s though its session is not active (it committed "
                   "nothing)", c->tid);
      return;
    }
  }
  if (ack->rc == AS_OK && ack->removed >= 0 && ack->removed != t->removed)
    orc__violate(o, ORC_CK_OUTCOME, "gc said it removed %" PRId64 " checkpoints; it removed %" PRId64,
                 ack->removed, t->removed);
}

const orc_model orc_model_gc = {gc_commit, gc_ack};

/* --- turn: start, a tool call and finalize under one hold of the lock -------------------- */

static void turn_commit(orc *o, orc_task *t, const orc_tx *tx) {
  const orc_change *ch = one_change(o, t, tx);
  if (!ch || !extra_kept(o, t, ch)) return;
  const orc_sstate *b = &ch->s->cur, *a = &ch->after;
  if (b->status == ORC_ST_NEW && a->status == ORC_ST_IN_PROGRESS) {
    history_kept(o, t, ch); /* it reports what it finds */
    return;
  }
  if (a->status == b->status) {
    appended(o, t, ch); /* it reports what it finds */
    return;
  }
  if (!history_kept(o, t, ch)) return;
  int want = orc_infer(a->calls, a->ncalls, (const char *const *)o->legacy, o->nlegacy);
  if (a->status != want)
    orc__violate(o, ORC_CK_INFER, "turn %s finalized it %s, but its history of %zu calls implies %s",
                 t->session, orc_status_name(a->status), a->ncalls, orc_status_name(want));
}

/* A turn's own start may lose to an unlocked writer (AS_STALE: the caller
** runs the turn again); its finalize may not, and reports as finalize does. */
static void turn_ack(orc *o, orc_task *t, const orc_op *ack) {
  if (ack->rc != AS_OK) return;
  const orc_sess *s = settled(o, t);
  if (s && !orc_terminal(s->cur.status))
    orc__violate(o, ORC_CK_OUTCOME, "turn %s returned success leaving it %s", t->session,
                 orc_status_name(s->cur.status));
}

const orc_model orc_model_turn = {turn_commit, turn_ack};

/* --- note: one event appended, nothing else --------------------------------------------- */

static void note_commit(orc *o, orc_task *t, const orc_tx *tx) {
  if (tx->nput || tx->ndel || tx->nch != 1 || !t->session ||
      strcmp(tx->ch[0].s->id, t->session) != 0) {
    orc__violate(o, ORC_CK_OP_SCOPE, "note %s committed %zu session changes and %zu checkpoint "
                 "changes", orc__str(t->session), tx->nch, tx->nput + tx->ndel);
    return;
  }
  const orc_change *ch = &tx->ch[0];
  const orc_sstate *b = &ch->s->cur, *a = &ch->after;
  if (ch->updated || ch->created || a->ncalls != b->ncalls || a->nevents != b->nevents + 1) {
    orc__violate(o, ORC_CK_OP_SCOPE, "note %s changed the session, not just its log (%zu events "
                 "before, %zu after)", t->session, b->nevents, a->nevents);
    return;
  }
  if (!first_commit(o, t)) return;
  const orc_evrec *e = &a->events[a->nevents - 1];
  if (strcmp(e->kind, "note") != 0 || strcmp(e->payload, orc__str(t->op.content)) != 0)
    orc__violate(o, ORC_CK_CONTENT, "note %s appended %s %s, not note %s", t->session, e->kind,
                 e->payload, orc__str(t->op.content));
  t->seq = e->seq;
}

static void note_ack(orc *o, orc_task *t, const orc_op *ack) {
  if (ack->rc != AS_OK) return;
  if (t->commits != 1)
    orc__violate(o, ORC_CK_OUTCOME, "note %s returned success with %u commits", t->session,
                 t->commits);
  else if (ack->seq != t->seq)
    orc__violate(o, ORC_CK_OUTCOME, "note %s said its event got seq %" PRId64 ", but it committed "
                 "seq %" PRId64, t->session, ack->seq, t->seq);
}

const orc_model orc_model_note = {note_commit, note_ack};

/* --- the operations that commit nothing ------------------------------------------------- */

/* A try is judged where it happens: at the registry's answer (oracle.c). */
const orc_model orc_model_hold = {no_commit, no_ack};
const orc_model orc_model_try = {no_commit, no_ack};
const orc_model orc_model_sleep = {no_commit, no_ack};
const orc_model orc_model_crash = {no_commit, no_ack};

/*
** model.c -- a committed transaction applied to the model.
**
** The rows a transaction changed (old and new values, from the database's
** own pre-update hook) are replayed onto the model's copy of each session
** they touch. Along the way the evidence is checked against the model (the
** row before the change is the row the model committed last, so no commit
** was lost or slipped past the audit), and then the rules every commit
** obeys whatever made it: the version rises by one, a terminal status is
** never left, a status change comes with exactly one status_changed event
** saying so, event seqs go on without a gap, the history has no holes,
** needs_review has a reason. Then the model step of the operation that made
** it judges what it changed; then the model moves.
*/
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "agentsim/fmt.h"
#include "orc_int.h"

/* --- states -------------------------------------------------------------------- */

static void call_free(orc_call *c) {
  free(c->tool);
  free(c->args);
  free(c->result);
  memset(c, 0, sizeof *c);
}

void orc__sstate_clear(orc_sstate *st) {
  free(st->extra);
  free(st->reason);
  free(st->kind);
  free(st->cause);
  for (size_t i = 0; i < st->ncalls; i++) call_free(&st->calls[i]);
  free(st->calls);
  for (size_t i = 0; i < st->nevents; i++) {
    free(st->events[i].kind);
    free(st->events[i].payload);
  }
  free(st->events);
  memset(st, 0, sizeof *st);
}

static AS_WUR int dup_or_null(const char *s, char **out) {
  *out = NULL;
  if (!s) return AS_OK;
  *out = strdup(s);
  return *out ? AS_OK : AS_NOMEM;
}

int orc__sstate_copy(orc_sstate *dst, const orc_sstate *src) {
  memset(dst, 0, sizeof *dst);
  dst->status = src->status;
  dst->version = src->version;
  dst->retry = src->retry;
  int rc = dup_or_null(src->extra, &dst->extra);
  if (rc == AS_OK) rc = dup_or_null(src->reason, &dst->reason);
  if (rc == AS_OK) rc = dup_or_null(src->kind, &dst->kind);
  if (rc == AS_OK) rc = dup_or_null(src->cause, &dst->cause);
  if (rc == AS_OK) rc = sim_grow(&dst->calls, &dst->capcalls, src->ncalls, sizeof *dst->calls, ORC_MAX_CALLS);
  for (size_t i = 0; rc == AS_OK && i < src->ncalls; i++) {
    orc_call *d = &dst->calls[i];
    const orc_call *c = &src->calls[i];
    memset(d, 0, sizeof *d);
    d->state = c->state;
    rc = dup_or_null(c->tool, &d->tool);
    if (rc == AS_OK) rc = dup_or_null(c->args, &d->args);
    if (rc == AS_OK) rc = dup_or_null(c->result, &d->result);
    if (rc == AS_OK)
      dst->ncalls++;
    else
      call_free(d);
  }
  if (rc == AS_OK)
    rc = sim_grow(&dst->events, &dst->capevents, src->nevents, sizeof *dst->events, ORC_MAX_EVENTS);
  for (size_t i = 0; rc == AS_OK && i < src->nevents; i++) {
    orc_evrec *e = &dst->events[i];
    e->seq = src->events[i].seq;
    rc = dup_or_null(src->events[i].kind, &e->kind);
    if (rc == AS_OK) rc = dup_or_null(src->events[i].payload, &e->payload);
    if (rc == AS_OK) dst->nevents++;
    else {
      free(e->kind);
      e->kind = NULL;
    }
  }
  if (rc != AS_OK) orc__sstate_clear(dst);
  return rc;
}

static bool eq(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

bool orc__call_equal(const orc_call *a, const orc_call *b) {
  return a->state == b->state && eq(a->tool, b->tool) && eq(a->args, b->args) &&
         eq(a->result, b->result);
}

bool orc__calls_equal(const orc_call *a, size_t na, const orc_call *b, size_t nb) {
  if (na != nb) return false;
  for (size_t i = 0; i < na; i++)
    if (!orc__call_equal(&a[i], &b[i])) return false;
  return true;
}

void orc__crow_clear(orc_crow *r) {
  for (int i = 0; i < ORC_MAX_COLS; i++) {
    free(r->old[i].t);
    free(r->nw[i].t);
  }
  memset(r, 0, sizeof *r);
}

/* --- one transaction ------------------------------------------------------------ */

/* A history slot while the transaction's deletes and inserts are replayed. */
typedef struct slot {
  orc_call call; /* owned */
  bool present;
} slot;

typedef struct work {
  orc *o;
  uint32_t conn; /* the committing connection's number */
  bool timed;    /* an operation made it: its stamps must fall in [lo, hi] */
  int64_t lo, hi;
  orc_tx tx;
  slot *slots[ORC_TX_SESSIONS]; /* per change */
  size_t nslots[ORC_TX_SESSIONS], capslots[ORC_TX_SESSIONS];
} work;

static const char *text_of(const orc_cval *v) { return v->t ? v->t : ""; }

/* The session a row belongs to. */
static const char *row_session(const orc_crow *r) {
  const orc_cval *v = r->op == ORC_INSERT ? &r->nw[0] : &r->old[0];
  return v->t;
}

static bool same_text(const char *model, const orc_cval *v);

/* A commit seen by a later one happened, but may not be durable: keep
** what power loss could bring back (the oldest such state). */
static void keep_durable(orc *o, orc_sess *s) {
  if (s->has_dur) {
    orc__sstate_clear(&s->alt);
  } else {
    s->dur = s->alt;
    s->dur_exists = s->alt_exists;
    s->has_dur = true;
    o->ndur++;
  }
  memset(&s->alt, 0, sizeof s->alt);
}

int orc__with_row_of(orc_sstate *dst, const orc_sstate *row) {
  orc_sstate t;
  int rc = orc__sstate_copy(&t, row);
  if (rc != AS_OK) return rc;
  for (size_t i = 0; i < t.nevents; i++) {
    free(t.events[i].kind);
    free(t.events[i].payload);
  }
  free(t.events);
  t.events = dst->events;
  t.nevents = dst->nevents;
  t.capevents = dst->capevents;
  dst->events = NULL;
  dst->nevents = dst->capevents = 0;
  orc__sstate_clear(dst);
  *dst = t;
  return AS_OK;
}

static void drop_events(orc_sstate *st, size_t n);

/* Whether two states hold the same row (events aside). */
static bool same_row(const orc_sstate *a, const orc_sstate *b) {
  return a->status == b->status && a->version == b->version && a->retry == b->retry &&
         strcmp(orc__str(a->extra), orc__str(b->extra)) == 0 &&
         strcmp(orc__str(a->reason), orc__str(b->reason)) == 0 && eq(a->kind, b->kind) &&
         eq(a->cause, b->cause) && orc__calls_equal(a->calls, a->ncalls, b->calls, b->ncalls);
}

/* Whether a row's old values could have come from state st. */
static bool started_from(const orc_crow *r, const orc_sstate *st, bool exists) {
  if (r->table == ORC_T_EVENTS) /* an append alone (a note): it follows the last event */
    return exists && r->nw[ORC_EC_SEQ].i == (st->nevents ? st->events[st->nevents - 1].seq : 0) + 1;
  if (r->op == ORC_INSERT) return !exists;
  return exists && r->old[ORC_SC_VERSION].i == st->version &&
         same_text(orc_status_name(st->status), &r->old[ORC_SC_STATUS]) &&
         same_text(st->extra, &r->old[ORC_SC_EXTRA]);
}

/* Adopt st (a candidate) as what the session is: the other candidates go. */
static void adopt(orc_sess *s, orc_sstate *st, bool exists) {
  if (st != &s->cur) {
    orc__sstate_clear(&s->cur);
    s->cur = *st;
    memset(st, 0, sizeof *st);
  }
  s->exists = exists;
  orc__sstate_clear(&s->alt);
  orc__sstate_clear(&s->dur);
  s->has_alt = s->has_dur = s->survivor = false;
  s->ev_doubt = false; /* the next append still checks against what was adopted */
  s->row_doubt = false;
  orc__sstate_clear(&s->ralt);
}

/* What a transaction's rows say it started from, for one session: its first
** session row and its first event append (either may be missing). A note
** changes no session row, so only the event tells whether it happened. */
typedef struct evidence {
  const orc_crow *srow, *erow;
} evidence;

/* Whether the transaction could have started from state st. */
static bool ev_started_from(const evidence *e, const orc_sstate *st, bool exists) {
  if (e->srow && !started_from(e->srow, st, exists)) return false;
  if (e->erow && !(e->srow && e->srow->op == ORC_INSERT) && !started_from(e->erow, st, exists))
    return false;
  return true;
}

/* Which way an unsettled commit on s went, told by the next commit on it:
** it starts from one state or the other. After power loss, whichever
** candidate it starts from is what survived, and durable. */
static void resolve(orc *o, orc_sess *s, const evidence *e) {
  if (s->row_doubt && e->srow && e->srow->op != ORC_INSERT) {
    if (!started_from(e->srow, &s->cur, s->exists) && started_from(e->srow, &s->ralt, true)) {
      /* the row change in doubt never happened */
      if (orc__with_row_of(&s->cur, &s->ralt) != AS_OK ||
          (s->has_alt && orc__with_row_of(&s->alt, &s->ralt) != AS_OK))
        orc__harness_error(o, "out of memory");
    }
    s->row_doubt = false;
    orc__sstate_clear(&s->ralt);
  }
  if ((!s->has_alt && !s->survivor) || (!e->srow && !e->erow)) return;
  bool cur = ev_started_from(e, &s->cur, s->exists);
  bool alt = s->has_alt && ev_started_from(e, &s->alt, s->alt_exists);
  if (s->survivor) {
    bool dur = s->has_dur && ev_started_from(e, &s->dur, s->dur_exists);
    orc_sstate *pick = cur ? &s->cur : alt ? &s->alt : dur ? &s->dur : NULL;
    if (!pick) return; /* none: the evidence check says what it is */
    bool pick_exists = cur ? s->exists : alt ? s->alt_exists : s->dur_exists;
    /* Other candidates the evidence fits as well: what it cannot tell (the
    ** appends of a row-only commit, the row of an append alone) stays in
    ** doubt past the adoption. */
    orc_sstate *fits[2];
    unsigned nfits = 0;
    if (alt && pick != &s->alt && s->alt_exists) fits[nfits++] = &s->alt;
    if (dur && pick != &s->dur && s->dur_exists) fits[nfits++] = &s->dur;
    bool evd = false;
    size_t sure = pick->nevents;
    orc_sstate ralt;
    bool rowd = false;
    memset(&ralt, 0, sizeof ralt);
    for (unsigned i = 0; i < nfits && pick_exists; i++) {
      orc_sstate *c = fits[i];
      if (same_row(c, pick) && c->nevents < pick->nevents) {
        evd = true;
        if (c->nevents < sure) sure = c->nevents;
      } else if (!rowd && !same_row(c, pick) && c->nevents == pick->nevents) {
        if (orc__sstate_copy(&ralt, c) != AS_OK) {
          orc__harness_error(o, "out of memory");
          return;
        }
        drop_events(&ralt, 0);
        rowd = true;
      }
    }
    /* An older doubt about appends holds for every candidate: they share
    ** the events before it. */
    if (s->ev_doubt && s->ev_sure < pick->nevents && (!evd || s->ev_sure < sure)) {
      evd = true;
      sure = s->ev_sure;
    }
    adopt(s, pick, pick_exists);
    s->ev_doubt = evd;
    s->ev_sure = sure;
    if (rowd) {
      s->ralt = ralt;
      s->row_doubt = true;
    }
    return;
  }
  if (cur == alt) return; /* no telling (the evidence check will say why) */
  if (s->alt_conn != ORC_NO_CONN && s->alt_conn < o->nconns) {
    orc__settle(o, &o->conns[s->alt_conn], cur, false);
    return;
  }
  if (alt) {
    orc__sstate_clear(&s->cur);
    s->cur = s->alt;
    s->exists = s->alt_exists;
    memset(&s->alt, 0, sizeof s->alt);
  } else {
    keep_durable(o, s);
  }
  s->has_alt = false;
}

/* The rows of conn's transaction that tell which state session id started
** from: its first session row that is not a delete and its first event
** append, wherever they come among the rows. */
static evidence evidence_rows(const orc_conn *conn, const char *id) {
  evidence e = {NULL, NULL};
  for (size_t i = 0; i < conn->nrows; i++) {
    const orc_crow *r = &conn->rows[i];
    if (r->table == ORC_T_CHECKPOINTS) continue;
    const char *rid = row_session(r);
    if (!rid || strcmp(rid, id) != 0) continue;
    if (!e.srow && r->table == ORC_T_SESSIONS && r->op != ORC_DELETE) e.srow = r;
    if (!e.erow && r->table == ORC_T_EVENTS && r->op == ORC_INSERT) e.erow = r;
  }
  return e;
}

/* The change entry for session id, made (with the model's state copied) on
** first touch. */
static orc_change *change_for(work *w, const char *id) {
  orc *o = w->o;
  for (size_t i = 0; i < w->tx.nch; i++)
    if (strcmp(w->tx.ch[i].s->id, id) == 0) return &w->tx.ch[i];
  if (w->tx.nch == ORC_TX_SESSIONS) {
    orc__violate(o, ORC_CK_OP_SCOPE, "one transaction touches more than %u sessions", ORC_TX_SESSIONS);
    return NULL;
  }
  orc_sess *s = orc__session(o, id, true);
  if (!s) return NULL;
  evidence e = evidence_rows(&o->conns[w->conn], id);
  resolve(o, s, &e);
  size_t k = w->tx.nch;
  orc_change *ch = &w->tx.ch[k];
  memset(ch, 0, sizeof *ch);
  ch->s = s;
  ch->ev_from = ch->ev_to = -1;
  if (orc__sstate_copy(&ch->after, &s->cur) != AS_OK) {
    orc__harness_error(o, "out of memory");
    return NULL;
  }
  /* The history as slots, for the deletes and inserts to come. */
  if (sim_grow(&w->slots[k], &w->capslots[k], ch->after.ncalls, sizeof(slot), ORC_MAX_CALLS) != AS_OK) {
    orc__sstate_clear(&ch->after);
    orc__harness_error(o, "out of memory");
    return NULL;
  }
  for (size_t i = 0; i < ch->after.ncalls; i++) {
    w->slots[k][i] = (slot){ch->after.calls[i], true};
    memset(&ch->after.calls[i], 0, sizeof ch->after.calls[i]); /* the slot owns it now */
  }
  w->nslots[k] = ch->after.ncalls;
  ch->after.ncalls = 0;
  w->tx.nch++;
  return ch;
}

static AS_WUR int set_text(char **dst, const orc_cval *v) {
  free(*dst);
  *dst = strdup(text_of(v));
  return *dst ? AS_OK : AS_NOMEM;
}

static bool same_text(const char *model, const orc_cval *v) {
  return strcmp(model ? model : "", text_of(v)) == 0;
}

/* A time the commit stamped: between its operation's start and the commit. */
static void stamp(work *w, const char *what, const char *of, const orc_cval *v) {
  orc *o = w->o;
  if (!w->timed || o->violated) return;
  if (v->type != SQLITE_INTEGER)
    orc__violate(o, ORC_CK_TIME, "%s of %s is not a number", what, of);
  else if (v->i < w->lo || v->i > w->hi)
    orc__violate(o, ORC_CK_TIME, "%s of %s is %+" PRId64 " ns from the sim's wall epoch, but its "
                 "operation ran from %+" PRId64 " to %+" PRId64 " (the commit)", what, of,
                 v->i - SIM_WALL_EPOCH_NS, w->lo - SIM_WALL_EPOCH_NS, w->hi - SIM_WALL_EPOCH_NS);
}

static void session_row(work *w, orc_change *ch, const orc_crow *r) {
  orc *o = w->o;
  orc_sstate *a = &ch->after;
  const char *id = ch->s->id;
  if (r->op == ORC_DELETE) {
    orc__violate(o, ORC_CK_EVIDENCE, "session %s was deleted", id);
    return;
  }
  const orc_cval *nv = r->nw;
  int st = orc_status_parse(text_of(&nv[ORC_SC_STATUS]), nv[ORC_SC_STATUS].n);
  if (st < 0) {
    orc__violate(o, ORC_CK_EVIDENCE, "session %s stored an unknown status '%s'", id,
                 text_of(&nv[ORC_SC_STATUS]));
    return;
  }
  if (r->op == ORC_INSERT) {
    if (ch->s->exists || ch->created) {
      orc__violate(o, ORC_CK_EVIDENCE, "session %s was created again", id);
      return;
    }
    if (nv[ORC_SC_VERSION].i != 1)
      orc__violate(o, ORC_CK_VERSION, "session %s was created at version %" PRId64 ", not 1", id,
                   nv[ORC_SC_VERSION].i);
    stamp(w, "created_ns", id, &nv[ORC_SC_CREATED]);
    if (!o->violated && nv[ORC_SC_UPDATED].i != nv[ORC_SC_CREATED].i)
      orc__violate(o, ORC_CK_TIME, "session %s was created with updated_ns %+" PRId64 " ns from "
                   "created_ns", id, nv[ORC_SC_UPDATED].i - nv[ORC_SC_CREATED].i);
    ch->created = true;
  } else {
    const orc_cval *ov = r->old;
    if (!ch->s->exists && !ch->created) {
      orc__violate(o, ORC_CK_EVIDENCE, "session %s was updated before it was created", id);
      return;
    }
    if (ov[ORC_SC_VERSION].i != a->version || !same_text(orc_status_name(a->status), &ov[ORC_SC_STATUS]) ||
        !same_text(a->extra, &ov[ORC_SC_EXTRA]) || !same_text(a->reason, &ov[ORC_SC_REASON]) ||
        ov[ORC_SC_RETRY].i != a->retry || !same_text(a->kind, &ov[ORC_SC_KIND]) ||
        !same_text(a->cause, &ov[ORC_SC_CAUSE])) {
      /* The error columns, when either side has them. */
      char eo[320] = "", ea[320] = "";
      const char *ok = text_of(&ov[ORC_SC_KIND]), *oc = text_of(&ov[ORC_SC_CAUSE]);
      const char *ak = a->kind ? a->kind : "", *ac = a->cause ? a->cause : "";
      if (ok[0] || oc[0] || ak[0] || ac[0]) {
        (void)snprintf(eo, sizeof eo, ", error '%.100s' '%.150s'", ok, oc); /* ignore: cut */
        (void)snprintf(ea, sizeof ea, ", error '%.100s' '%.150s'", ak, ac); /* ignore: cut */
      }
      orc__violate(o, ORC_CK_EVIDENCE,
                   "session %s before this commit is version %" PRId64 " %s %s (reason '%s', "
                   "retry %" PRId64 "%s), but the last commit the model saw left version %" PRId64
                   " %s %s (reason '%s', retry %" PRId64 "%s) (a commit was lost, or made behind "
                   "the audit's back)", id, ov[ORC_SC_VERSION].i, text_of(&ov[ORC_SC_STATUS]),
                   text_of(&ov[ORC_SC_EXTRA]), text_of(&ov[ORC_SC_REASON]), ov[ORC_SC_RETRY].i, eo,
                   a->version, orc_status_name(a->status), orc__str(a->extra), orc__str(a->reason),
                   a->retry, ea);
      return;
    }
    if (nv[ORC_SC_VERSION].i != ov[ORC_SC_VERSION].i + 1)
      orc__violate(o, ORC_CK_VERSION, "session %s went from version %" PRId64 " to %" PRId64, id,
                   ov[ORC_SC_VERSION].i, nv[ORC_SC_VERSION].i);
    /* retry_count: the retry rules judge it (orc__retry_rules). */
    if (!o->violated && (nv[ORC_SC_CREATED].type != SQLITE_INTEGER ||
                         nv[ORC_SC_CREATED].i != ov[ORC_SC_CREATED].i))
      orc__violate(o, ORC_CK_TIME, "session %s: created_ns changed by %+" PRId64 " ns", id,
                   nv[ORC_SC_CREATED].i - ov[ORC_SC_CREATED].i);
    stamp(w, "updated_ns", id, &nv[ORC_SC_UPDATED]);
    ch->updated = true;
  }
  a->status = st;
  a->version = nv[ORC_SC_VERSION].i;
  a->retry = nv[ORC_SC_RETRY].i;
  if (set_text(&a->extra, &nv[ORC_SC_EXTRA]) != AS_OK || set_text(&a->reason, &nv[ORC_SC_REASON]) != AS_OK ||
      set_text(&a->kind, &nv[ORC_SC_KIND]) != AS_OK || set_text(&a->cause, &nv[ORC_SC_CAUSE]) != AS_OK)
    orc__harness_error(o, "out of memory");
}

static void call_row(work *w, size_t k, const orc_crow *r) {
  orc *o = w->o;
  const char *id = w->tx.ch[k].s->id;
  const orc_cval *v = r->op == ORC_INSERT ? r->nw : r->old;
  int64_t idx = v[ORC_TC_IDX].i;
  if (idx < 0 || idx >= (int64_t)ORC_MAX_CALLS) {
    orc__violate(o, ORC_CK_HISTORY, "session %s: a tool call at position %" PRId64, id, idx);
    return;
  }
  size_t i = (size_t)idx;
  if (r->op != ORC_INSERT) {
    slot *sl = i < w->nslots[k] ? &w->slots[k][i] : NULL;
    const orc_cval *ov = r->old;
    orc_call was = {.tool = (char *)text_of(&ov[ORC_TC_TOOL]),
                    .state = orc_call_state_parse(text_of(&ov[ORC_TC_STATE]), ov[ORC_TC_STATE].n),
                    .args = (char *)text_of(&ov[ORC_TC_ARGS]),
                    .result = (char *)text_of(&ov[ORC_TC_RESULT])};
    if (!sl || !sl->present || !orc__call_equal(&sl->call, &was)) {
      orc__violate(o, ORC_CK_EVIDENCE, "session %s: tool call %zu before this commit is %s %s "
                   "%s -> %s, not what the model committed", id, i, was.tool,
                   text_of(&ov[ORC_TC_STATE]), was.args, was.result);
      return;
    }
    call_free(&sl->call);
    sl->present = false;
    if (r->op == ORC_DELETE) return;
    if (r->nw[ORC_TC_IDX].i != idx) {
      orc__violate(o, ORC_CK_HISTORY, "session %s: tool call %zu was moved", id, i);
      return;
    }
  }
  int cs = orc_call_state_parse(text_of(&r->nw[ORC_TC_STATE]), r->nw[ORC_TC_STATE].n);
  if (cs < 0) {
    orc__violate(o, ORC_CK_EVIDENCE, "session %s: tool call %zu has an unknown state '%s'", id,
                 i, text_of(&r->nw[ORC_TC_STATE]));
    return;
  }
  if (sim_grow(&w->slots[k], &w->capslots[k], i + 1, sizeof(slot), ORC_MAX_CALLS) != AS_OK) {
    orc__harness_error(o, "out of memory");
    return;
  }
  while (w->nslots[k] <= i) w->slots[k][w->nslots[k]++] = (slot){{0}, false};
  slot *sl = &w->slots[k][i];
  if (sl->present) {
    orc__violate(o, ORC_CK_EVIDENCE, "session %s: a second tool call at position %zu", id, i);
    return;
  }
  sl->call.state = cs;
  sl->call.tool = strdup(text_of(&r->nw[ORC_TC_TOOL]));
  sl->call.args = strdup(text_of(&r->nw[ORC_TC_ARGS]));
  sl->call.result = strdup(text_of(&r->nw[ORC_TC_RESULT]));
  sl->present = sl->call.tool && sl->call.args && sl->call.result;
  if (!sl->present) {
    call_free(&sl->call);
    orc__harness_error(o, "out of memory");
  }
}

/* from and to of a status_changed payload, as statuses (-1 unreadable),
** its reason, error_kind and error (copies; NULL when it has none). */
static AS_WUR int payload_fields(const char *payload, int *from, int *to, char **reason,
                                 char **kind, char **cause) {
  *from = *to = -1;
  *reason = *kind = *cause = NULL;
  json_error_t err;
  json_t *j = json_loads(payload, JSON_REJECT_DUPLICATES, &err);
  if (!j) return AS_OK; /* unreadable: from and to say so */
  const char *f = json_string_value(json_object_get(j, "from"));
  const char *t = json_string_value(json_object_get(j, "to"));
  const char *why = json_string_value(json_object_get(j, "reason"));
  if (f) *from = orc_status_parse(f, strlen(f));
  if (t) *to = orc_status_parse(t, strlen(t));
  int rc = dup_or_null(why, reason);
  if (rc == AS_OK) rc = dup_or_null(json_string_value(json_object_get(j, "error_kind")), kind);
  if (rc == AS_OK) rc = dup_or_null(json_string_value(json_object_get(j, "error")), cause);
  json_decref(j);
  return rc;
}

/* Cut st's event log back to its first n events. */
static void drop_events(orc_sstate *st, size_t n) {
  while (st->nevents > n) {
    orc_evrec *e = &st->events[--st->nevents];
    free(e->kind);
    free(e->payload);
    e->kind = e->payload = NULL;
  }
}

static void event_row(work *w, orc_change *ch, const orc_crow *r) {
  orc *o = w->o;
  orc_sstate *a = &ch->after;
  const char *id = ch->s->id;
  if (r->op != ORC_INSERT) {
    orc__violate(o, ORC_CK_EVENT_SEQ, "session %s: event %" PRId64 " was %s (the log is append-only)",
                 id, r->old[ORC_EC_SEQ].i, r->op == ORC_UPDATE ? "changed" : "removed");
    return;
  }
  int64_t seq = r->nw[ORC_EC_SEQ].i, want = a->nevents ? a->events[a->nevents - 1].seq + 1 : 1;
  orc_sess *s = ch->s;
  if (s->ev_doubt && s->ev_sure <= a->nevents) {
    int64_t without = s->ev_sure ? a->events[s->ev_sure - 1].seq + 1 : 1;
    if (seq != want && seq == without) { /* the appends in doubt never happened */
      drop_events(a, s->ev_sure);
      if (s->cur.nevents > s->ev_sure) drop_events(&s->cur, s->ev_sure);
      want = without;
    }
    s->ev_doubt = false;
  }
  if (seq != want) {
    orc__violate(o, ORC_CK_EVENT_SEQ, "session %s: event %" PRId64 " follows event %" PRId64, id,
                 seq, want - 1);
    return;
  }
  if (sim_grow(&a->events, &a->capevents, a->nevents + 1, sizeof *a->events, ORC_MAX_EVENTS) != AS_OK) {
    orc__harness_error(o, "out of memory");
    return;
  }
  orc_evrec *e = &a->events[a->nevents];
  e->seq = seq;
  e->kind = strdup(text_of(&r->nw[ORC_EC_KIND]));
  e->payload = strdup(text_of(&r->nw[ORC_EC_PAYLOAD]));
  if (!e->kind || !e->payload) {
    free(e->kind);
    free(e->payload);
    orc__harness_error(o, "out of memory");
    return;
  }
  a->nevents++;
  stamp(w, "at_ns", id, &r->nw[ORC_EC_AT]);
  if (strcmp(e->kind, "status_changed") == 0) {
    ch->status_events++;
    free(ch->ev_reason);
    free(ch->ev_kind);
    free(ch->ev_cause);
    if (payload_fields(e->payload, &ch->ev_from, &ch->ev_to, &ch->ev_reason, &ch->ev_kind,
                       &ch->ev_cause) != AS_OK)
      orc__harness_error(o, "out of memory");
  }
}

static void ckpt_row(work *w, const orc_crow *r) {
  orc *o = w->o;
  const char *tid = text_of(r->op == ORC_INSERT ? &r->nw[ORC_CC_THREAD] : &r->old[ORC_CC_THREAD]);
  orc_ckpt *c = orc__ckpt(o, tid, true);
  if (!c) return;
  /* The row was there (update, delete) or not (insert): that settles an
  ** earlier commit on it that was in flight or cut by power loss. */
  orc_exists was = r->op == ORC_INSERT ? ORC_EX_NO : ORC_EX_YES;
  if (c->tconn != ORC_NO_CONN && c->tconn != w->conn && c->exists != c->prev && c->tconn < o->nconns)
    orc__settle(o, &o->conns[c->tconn], c->exists == was, false);
  if (c->exists == ORC_EX_MAYBE && c->tconn == ORC_NO_CONN) c->exists = was;
  if ((r->op == ORC_INSERT && c->exists == ORC_EX_YES) || (r->op != ORC_INSERT && c->exists == ORC_EX_NO)) {
    orc__violate(o, ORC_CK_EVIDENCE, "checkpoint %s was %s, but the model has it %s", tid,
                 r->op == ORC_INSERT ? "inserted" : r->op == ORC_UPDATE ? "updated" : "deleted",
                 c->exists == ORC_EX_YES ? "stored" : "absent");
    return;
  }
  if (r->op != ORC_DELETE) stamp(w, "updated_ns", tid, &r->nw[ORC_CC_UPDATED]);
  const char ***list = r->op == ORC_DELETE ? &w->tx.del : &w->tx.put;
  size_t *n = r->op == ORC_DELETE ? &w->tx.ndel : &w->tx.nput;
  size_t *cap = r->op == ORC_DELETE ? &w->tx.capdel : &w->tx.capput;
  if (sim_grow(list, cap, *n + 1, sizeof **list, ORC_MAX_ROWS) != AS_OK ||
      (r->op != ORC_DELETE && sim_grow(&w->tx.putdata, &w->tx.capputdata, *n + 1,
                                       sizeof *w->tx.putdata, ORC_MAX_ROWS) != AS_OK)) {
    orc__harness_error(o, "out of memory");
    return;
  }
  if (r->op != ORC_DELETE) w->tx.putdata[*n] = &r->nw[ORC_CC_DATA];
  (*list)[(*n)++] = c->tid;
}

static void replay_rows(work *w, orc_conn *conn) {
  for (size_t i = 0; i < conn->nrows && !w->o->violated; i++) {
    const orc_crow *r = &conn->rows[i];
    if (r->table == ORC_T_CHECKPOINTS) {
      ckpt_row(w, r);
      continue;
    }
    const char *id = row_session(r);
    if (!id) {
      orc__violate(w->o, ORC_CK_EVIDENCE, "a %s row without a session id", r->table == ORC_T_SESSIONS ? "session" : "child");
      return;
    }
    orc_change *ch = change_for(w, id);
    if (!ch) return;
    size_t k = (size_t)(ch - w->tx.ch);
    if (r->table == ORC_T_SESSIONS)
      session_row(w, ch, r);
    else if (r->table == ORC_T_CALLS)
      call_row(w, k, r);
    else
      event_row(w, ch, r);
  }
}

/* The slots back into a history: it must have no holes. */
static void close_history(work *w, size_t k) {
  orc *o = w->o;
  orc_change *ch = &w->tx.ch[k];
  size_t n = w->nslots[k];
  while (n > 0 && !w->slots[k][n - 1].present) n--;
  if (sim_grow(&ch->after.calls, &ch->after.capcalls, n, sizeof *ch->after.calls, ORC_MAX_CALLS) != AS_OK) {
    orc__harness_error(o, "out of memory");
    return;
  }
  for (size_t i = 0; i < n; i++) {
    slot *sl = &w->slots[k][i];
    if (!sl->present) {
      orc__violate(o, ORC_CK_HISTORY, "session %s: the tool-call history has a hole at %zu",
                   ch->s->id, i);
      return;
    }
    ch->after.calls[i] = sl->call;
    memset(&sl->call, 0, sizeof sl->call);
    sl->present = false;
    ch->after.ncalls = i + 1;
  }
}

/* The rules every committed change to a session obeys (t: the operation
** that made it, NULL for none). */
static void generic_rules(orc *o, const orc_task *t, const orc_change *ch) {
  const orc_sess *s = ch->s;
  const orc_sstate *b = &s->cur, *a = &ch->after;
  bool changed = ch->updated && a->status != b->status;
  orc__retry_rules(o, t, ch);
  if (o->violated) return;
  /* An accepted retry leaves error (orc__retry_rules judged its count and event). */
  bool retried = changed && b->status == ORC_ST_ERROR && a->status == ORC_ST_IN_PROGRESS &&
                 a->retry == b->retry + 1;
  if (ch->updated && orc_terminal(b->status) && changed && !retried) {
    orc__violate(o, ORC_CK_TERMINAL, "%s left %s for %s", s->id, orc_status_name(b->status),
                 orc_status_name(a->status));
    return;
  }
  if (changed || ch->status_events) {
    if (!changed)
      orc__violate(o, ORC_CK_STATUS_EVENT, "%s: a status_changed event (%s -> %s) but the status "
                   "stays %s", s->id, orc_status_name(ch->ev_from), orc_status_name(ch->ev_to),
                   orc_status_name(a->status));
    else if (ch->status_events != 1)
      orc__violate(o, ORC_CK_STATUS_EVENT, "%s: %s -> %s committed with %u status_changed events",
                   s->id, orc_status_name(b->status), orc_status_name(a->status), ch->status_events);
    else if (ch->ev_from != b->status || ch->ev_to != a->status)
      orc__violate(o, ORC_CK_STATUS_EVENT, "%s: %s -> %s committed with an event saying %s -> %s",
                   s->id, orc_status_name(b->status), orc_status_name(a->status),
                   orc_status_name(ch->ev_from), orc_status_name(ch->ev_to));
    if (o->violated) return;
  }
  if (!ch->updated && !ch->created) return;
  bool has = a->reason && a->reason[0];
  if (!changed && !ch->created && !eq(a->reason, b->reason))
    orc__violate(o, ORC_CK_REASON, "a save of %s (still %s) changed its reason from '%s' to '%s'",
                 s->id, orc_status_name(a->status), orc__str(b->reason), orc__str(a->reason));
  else if (a->status == ORC_ST_NEEDS_REVIEW && !has)
    orc__violate(o, ORC_CK_REASON, "%s is needs_review without a reason", s->id);
  else if (a->status != ORC_ST_NEEDS_REVIEW && has)
    orc__violate(o, ORC_CK_REASON, "%s is %s with the reason '%s'", s->id,
                 orc_status_name(a->status), a->reason);
  else if (changed && ch->status_events == 1 && a->status == ORC_ST_NEEDS_REVIEW &&
           !eq(ch->ev_reason, a->reason))
    orc__violate(o, ORC_CK_REASON, "%s became needs_review for '%s', but its status_changed event "
                 "says '%s'", s->id, orc__str(a->reason), orc__str(ch->ev_reason));
  else if (changed && ch->ev_reason && !eq(ch->ev_reason, a->reason))
    orc__violate(o, ORC_CK_REASON, "%s became %s, but its status_changed event gives the reason "
                 "'%s'", s->id, orc_status_name(a->status), ch->ev_reason);
  if (!o->violated) orc__error_rules(o, ch);
}

static bool note_index(uint32_t **v, size_t *n, size_t *cap, uint32_t i) {
  for (size_t k = 0; k < *n; k++)
    if ((*v)[k] == i) return true;
  if (sim_grow(v, cap, *n + 1, sizeof **v, ORC_MAX_ROWS) != AS_OK) return false;
  (*v)[(*n)++] = i;
  return true;
}

/* The model moves, unsettled: the sessions' new states (the old ones kept
** as the alternative), the checkpoints' (the old ones kept to undo). */
static void commit_model(orc *o, work *w, orc_conn *conn) {
  for (size_t k = 0; k < w->tx.nch; k++) {
    orc_change *ch = &w->tx.ch[k];
    orc_sess *s = ch->s;
    /* An older alternative nothing settled: this commit settles it, unless
    ** all it could not tell is whether appends happened (the two differ
    ** only in cur's newer events, and this commit appends none). */
    if (s->has_alt && s->alt_exists && s->exists && s->alt.nevents < s->cur.nevents &&
        ch->after.nevents == s->cur.nevents && same_row(&s->alt, &s->cur)) {
      if (!s->ev_doubt || s->alt.nevents < s->ev_sure) s->ev_sure = s->alt.nevents;
      s->ev_doubt = true;
    }
    /* Or whether a row change happened (this commit is an append alone). */
    if (s->has_alt && s->alt_exists && s->exists && !s->row_doubt &&
        s->alt.nevents == s->cur.nevents && !same_row(&s->alt, &s->cur) &&
        same_row(&ch->after, &s->cur)) {
      s->ralt = s->alt;
      memset(&s->alt, 0, sizeof s->alt);
      drop_events(&s->ralt, 0);
      s->row_doubt = true;
    }
    orc__sstate_clear(&s->alt);
    s->alt = s->cur;
    s->alt_exists = s->exists;
    s->alt_conn = w->conn;
    s->has_alt = true;
    s->cur = ch->after;
    s->exists = true;
    memset(&ch->after, 0, sizeof ch->after);
    if (!note_index(&conn->usess, &conn->nusess, &conn->capusess, (uint32_t)(s - o->sess)))
      orc__harness_error(o, "out of memory");
  }
  for (int del = 0; del < 2; del++) {
    const char **list = del ? w->tx.del : w->tx.put;
    size_t n = del ? w->tx.ndel : w->tx.nput;
    for (size_t i = 0; i < n; i++) {
      orc_ckpt *c = orc__ckpt(o, list[i], false);
      if (!c) continue;
      c->prev = c->exists;
      c->exists = del ? ORC_EX_NO : ORC_EX_YES;
      c->tconn = w->conn;
      c->changed = o->step;
      if (!note_index(&conn->uck, &conn->nuck, &conn->capuck, (uint32_t)(c - o->ck)))
        orc__harness_error(o, "out of memory");
    }
  }
  conn->unsettled = true;
}

static void settle_done(orc_conn *conn) {
  conn->nusess = conn->nuck = 0;
  conn->unsettled = false;
}

void orc__settle(orc *o, orc_conn *conn, bool ok, bool durable) {
  uint32_t id = (uint32_t)(conn - o->conns);
  for (size_t k = 0; k < conn->nusess; k++) {
    orc_sess *s = &o->sess[conn->usess[k]];
    if (!s->has_alt || s->alt_conn != id) continue;
    if (ok && durable) {
      orc__sstate_clear(&s->alt);
      memset(&s->alt, 0, sizeof s->alt);
    } else if (ok) {
      keep_durable(o, s);
    } else {
      orc__sstate_clear(&s->cur);
      s->cur = s->alt;
      s->exists = s->alt_exists;
      memset(&s->alt, 0, sizeof s->alt);
    }
    s->has_alt = false;
  }
  for (size_t k = 0; k < conn->nuck; k++) {
    orc_ckpt *c = &o->ck[conn->uck[k]];
    if (c->tconn != id) continue;
    if (!ok) {
      c->exists = c->prev;
    } else if (!durable && !c->has_dur && c->prev != c->exists) {
      c->dur = c->prev;
      c->has_dur = true;
      o->ndur++;
    }
    c->tconn = ORC_NO_CONN;
  }
  settle_done(conn);
  if (ok && durable) orc__durable(o);
}

void orc__durable(orc *o) {
  if (!o->ndur) return;
  for (size_t i = 0; i < o->nsess; i++) {
    orc_sess *s = &o->sess[i];
    if (!s->has_dur || s->survivor) continue; /* a survivor's candidates are not markers */
    orc__sstate_clear(&s->dur);
    s->has_dur = false;
  }
  for (size_t i = 0; i < o->nck; i++) o->ck[i].has_dur = false;
  o->ndur = 0;
}

void orc__power_loss(orc *o) {
  for (size_t i = 0; i < o->nsess; i++) {
    orc_sess *s = &o->sess[i];
    /* What was in doubt or not yet durable: its candidates stay open. */
    if (s->has_alt || s->has_dur) s->survivor = true;
  }
  for (size_t i = 0; i < o->nck; i++) {
    orc_ckpt *c = &o->ck[i];
    if (!c->has_dur) continue;
    if (c->dur != c->exists) c->exists = ORC_EX_MAYBE;
    c->has_dur = false;
  }
  o->ndur = 0;
}

void orc__orphan(orc *o, orc_conn *conn) {
  uint32_t id = (uint32_t)(conn - o->conns);
  for (size_t k = 0; k < conn->nusess; k++) {
    orc_sess *s = &o->sess[conn->usess[k]];
    if (s->has_alt && s->alt_conn == id) s->alt_conn = ORC_NO_CONN;
  }
  for (size_t k = 0; k < conn->nuck; k++) {
    orc_ckpt *c = &o->ck[conn->uck[k]];
    if (c->tconn != id) continue;
    if (c->prev != c->exists) c->exists = ORC_EX_MAYBE;
    c->tconn = ORC_NO_CONN;
  }
  settle_done(conn);
}

void orc__apply(orc *o, orc_conn *conn) {
  work w;
  memset(&w, 0, sizeof w);
  w.o = o;
  w.conn = (uint32_t)(conn - o->conns);
  w.tx.task = conn->task;
  /* Every session the rows name exists in the model before any change
  ** points at one: making one later could move the array under them. */
  for (size_t i = 0; i < conn->nrows && !o->harness; i++) {
    const char *id = conn->rows[i].table == ORC_T_CHECKPOINTS ? NULL : row_session(&conn->rows[i]);
    if (id && !orc__session(o, id, true)) break;
  }
  const orc_task *op_task = w.tx.task < o->ntasks ? &o->tasks[w.tx.task] : NULL;
  w.timed = op_task && op_task->active;
  if (w.timed) {
    w.lo = ORC_WALL(op_task->start_ns);
    w.hi = ORC_WALL(o->now_ns);
  }
  replay_rows(&w, conn);
  for (size_t k = 0; k < w.tx.nch && !o->violated; k++) close_history(&w, k);
  orc_task *t = w.tx.task < o->ntasks ? &o->tasks[w.tx.task] : NULL;
  for (size_t k = 0; k < w.tx.nch && !o->violated; k++)
    generic_rules(o, t && t->active ? t : NULL, &w.tx.ch[k]);
  if (!o->violated) {
    if (!t || !t->active) {
      if (w.tx.nch || w.tx.nput || w.tx.ndel)
        orc__violate(o, ORC_CK_OP_SCOPE, "task %" PRIu32 " committed a change outside any operation",
                     w.tx.task);
    } else {
      const orc_model *m = orc__model(t->op.kind);
      t->commits++;
      for (size_t k = 0; k < w.tx.nch; k++) {
        const orc_change *ch = &w.tx.ch[k];
        if (t->session && strcmp(ch->s->id, t->session) == 0) t->version = ch->after.version;
        if (ch->updated && ch->after.status != ch->s->cur.status) t->status_commits++;
      }
      if (m && m->commit) m->commit(o, t, &w.tx);
    }
  }
  if (!o->violated) {
    commit_model(o, &w, conn);
    for (size_t k = 0; k < w.tx.nch; k++) orc__note_answers(o, w.tx.ch[k].s);
  }
  for (size_t k = 0; k < w.tx.nch; k++) {
    orc__sstate_clear(&w.tx.ch[k].after);
    free(w.tx.ch[k].ev_kind);
    free(w.tx.ch[k].ev_cause);
    for (size_t i = 0; i < w.nslots[k]; i++) call_free(&w.slots[k][i].call);
    free(w.tx.ch[k].ev_reason);
    free(w.slots[k]);
  }
  free(w.tx.put);
  free(w.tx.putdata);
  free(w.tx.del);
  for (size_t i = 0; i < conn->nrows; i++) orc__crow_clear(&conn->rows[i]);
  conn->nrows = 0;
}

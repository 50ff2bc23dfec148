/*
** quiesce.c -- at quiescence the database is read back, with SQLite alone
** (never through the runtime's store), and must be exactly the model: every
** committed session, history, event and checkpoint there, and nothing else.
** Where a power loss left a commit in doubt, either side of it will do.
*/
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/fmt.h"
#include "grow.h"
#include "orc_int.h"

typedef struct reader {
  orc *o;
  sqlite3 *db;
  orc_sstate *got; /* per model session: what the database holds */
  bool *seen;
  char *msg;
  size_t cap;
  int verdict;
} reader;

static const char *col_text(sqlite3_stmt *q, int i) {
  const char *t = (const char *)sqlite3_column_text(q, i);
  return t ? t : "";
}

/* Read failed: the oracle cannot look, which is a harness error. */
static int harness(reader *r, const char *what) {
  snprintf(r->msg, r->cap, "the oracle cannot read %s: %s", what, sqlite3_errmsg(r->db));
  r->verdict = SIM_HARNESS;
  return -1;
}

static int lost(reader *r, const char *fmt, ...) AS_PRINTF(2, 3);
static int lost(reader *r, const char *fmt, ...) {
  size_t n = as_appendf(r->msg, r->cap, 0, "%s: ", orc_check_name(ORC_CK_LOST));
  va_list ap;
  va_start(ap, fmt);
  if (n < r->cap) (void)vsnprintf(r->msg + n, r->cap - n, fmt, ap); /* ignore: cut still reads */
  va_end(ap);
  r->verdict = SIM_INVARIANT;
  return -1;
}

/* The model session a database row names (an unknown one is a violation). */
static int session_index(reader *r, const char *id, const char *what) {
  const orc_sess *s = orc__session(r->o, id, false);
  if (!s || (!s->exists && !s->has_alt))
    return lost(r, "the database holds %s of session %s, which was never committed", what, id);
  return (int)(s - r->o->sess);
}

static int read_sessions(reader *r) {
  sqlite3_stmt *q = NULL;
  int src = sqlite3_prepare_v2(r->db, "SELECT id, status, version, retry_count, "
                               "needs_review_reason, extra, error_kind, error_cause FROM sessions ORDER BY id", -1, &q, NULL);
  int bad = 0;
  while (!bad && src == SQLITE_OK && (src = sqlite3_step(q)) == SQLITE_ROW) {
    src = SQLITE_OK;
    const char *id = col_text(q, 0), *status = col_text(q, 1);
    int i = session_index(r, id, "the row");
    if (i < 0) {
      bad = 1;
      break;
    }
    orc_sstate *g = &r->got[i];
    r->seen[i] = true;
    g->status = orc_status_parse(status, strlen(status));
    g->version = sqlite3_column_int64(q, 2);
    g->retry = sqlite3_column_int64(q, 3);
    g->reason = strdup(col_text(q, 4));
    g->extra = strdup(col_text(q, 5));
    g->kind = strdup(col_text(q, 6));
    g->cause = strdup(col_text(q, 7));
    if (!g->reason || !g->extra || !g->kind || !g->cause) bad = harness(r, "sessions (out of memory)");
  }
  int fin = sqlite3_finalize(q);
  if (bad) return -1;
  if (src != SQLITE_DONE || fin != SQLITE_OK) return harness(r, "the sessions");
  return 0;
}

static int read_calls(reader *r) {
  sqlite3_stmt *q = NULL;
  int src = sqlite3_prepare_v2(r->db, "SELECT session_id, idx, tool, state, args, result FROM tool_calls "
                               "ORDER BY session_id, idx", -1, &q, NULL);
  int bad = 0;
  while (!bad && src == SQLITE_OK && (src = sqlite3_step(q)) == SQLITE_ROW) {
    src = SQLITE_OK;
    int i = session_index(r, col_text(q, 0), "tool calls");
    if (i < 0) {
      bad = 1;
      break;
    }
    orc_sstate *g = &r->got[i];
    int64_t idx = sqlite3_column_int64(q, 1);
    const char *state = col_text(q, 3);
    if (idx != (int64_t)g->ncalls) {
      bad = lost(r, "session %s: tool call %" PRId64 " where %zu was due (a hole in the history)",
                 col_text(q, 0), idx, g->ncalls);
      break;
    }
    if (sim_grow(&g->calls, &g->capcalls, g->ncalls + 1, sizeof *g->calls, ORC_MAX_CALLS) != AS_OK) {
      bad = harness(r, "tool calls (out of memory)");
      break;
    }
    orc_call *c = &g->calls[g->ncalls];
    c->state = orc_call_state_parse(state, strlen(state));
    c->tool = strdup(col_text(q, 2));
    c->args = strdup(col_text(q, 4));
    c->result = strdup(col_text(q, 5));
    g->ncalls++; /* cleared with the rest, whole or not */
    if (!c->tool || !c->args || !c->result) bad = harness(r, "tool calls (out of memory)");
  }
  int fin = sqlite3_finalize(q);
  if (bad) return -1;
  if (src != SQLITE_DONE || fin != SQLITE_OK) return harness(r, "the tool calls");
  return 0;
}

static int read_events(reader *r) {
  sqlite3_stmt *q = NULL;
  int src = sqlite3_prepare_v2(r->db, "SELECT session_id, seq, kind, payload FROM events "
                               "ORDER BY session_id, seq", -1, &q, NULL);
  int bad = 0;
  while (!bad && src == SQLITE_OK && (src = sqlite3_step(q)) == SQLITE_ROW) {
    src = SQLITE_OK;
    int i = session_index(r, col_text(q, 0), "events");
    if (i < 0) {
      bad = 1;
      break;
    }
    orc_sstate *g = &r->got[i];
    if (sim_grow(&g->events, &g->capevents, g->nevents + 1, sizeof *g->events, ORC_MAX_EVENTS) != AS_OK) {
      bad = harness(r, "events (out of memory)");
      break;
    }
    orc_evrec *e = &g->events[g->nevents];
    e->seq = sqlite3_column_int64(q, 1);
    e->kind = strdup(col_text(q, 2));
    e->payload = strdup(col_text(q, 3));
    if (!e->kind || !e->payload) {
      free(e->kind);
      free(e->payload);
      bad = harness(r, "events (out of memory)");
    } else {
      g->nevents++;
    }
  }
  int fin = sqlite3_finalize(q);
  if (bad) return -1;
  if (src != SQLITE_DONE || fin != SQLITE_OK) return harness(r, "the events");
  return 0;
}

/* The first way `got` differs from `want`, in words; "" when they agree. */
static void diff(const orc_sstate *got, const orc_sstate *want, char *buf, size_t cap) {
  buf[0] = '\0';
  if (got->status != want->status)
    snprintf(buf, cap, "status %s in the database, %s committed", orc_status_name(got->status),
             orc_status_name(want->status));
  else if (got->version != want->version)
    snprintf(buf, cap, "version %" PRId64 " in the database, %" PRId64 " committed", got->version,
             want->version);
  else if (strcmp(orc__str(got->extra), orc__str(want->extra)) != 0)
    snprintf(buf, cap, "extra fields %s in the database, %s committed", orc__str(got->extra),
             orc__str(want->extra));
  else if (strcmp(orc__str(got->reason), orc__str(want->reason)) != 0)
    snprintf(buf, cap, "reason '%s' in the database, '%s' committed", orc__str(got->reason),
             orc__str(want->reason));
  else if (strcmp(got->kind ? got->kind : "", want->kind ? want->kind : "") != 0 ||
           strcmp(got->cause ? got->cause : "", want->cause ? want->cause : "") != 0)
    snprintf(buf, cap, "error '%s' '%s' in the database, '%s' '%s' committed", orc__str(got->kind),
             orc__str(got->cause), orc__str(want->kind), orc__str(want->cause));
  else if (got->retry != want->retry)
    snprintf(buf, cap, "retry count %" PRId64 " in the database, %" PRId64 " committed", got->retry,
             want->retry);
  else if (!orc__calls_equal(got->calls, got->ncalls, want->calls, want->ncalls))
    snprintf(buf, cap, "%zu tool calls in the database, %zu committed (or different ones)",
             got->ncalls, want->ncalls);
  else if (got->nevents != want->nevents)
    snprintf(buf, cap, "%zu events in the database, %zu committed", got->nevents, want->nevents);
  else
    for (size_t i = 0; i < got->nevents; i++) {
      const orc_evrec *a = &got->events[i], *b = &want->events[i];
      if (a->seq != b->seq || strcmp(a->kind, b->kind) != 0 || strcmp(a->payload, b->payload) != 0) {
        snprintf(buf, cap, "event %zu is %" PRId64 " %s %s in the database, %" PRId64 " %s %s committed",
                 i + 1, a->seq, a->kind, a->payload, b->seq, b->kind, b->payload);
        return;
      }
    }
}

static int compare_sessions(reader *r) {
  char why[512];
  for (size_t i = 0; i < r->o->nsess; i++) {
    orc_sess *s = &r->o->sess[i];
    if (!s->exists && !s->has_alt) continue; /* a lock key, never a session */
    if (!r->seen[i]) {
      if ((s->has_alt && !s->alt_exists) || (s->survivor && s->has_dur && !s->dur_exists) || !s->exists)
        continue; /* its creation was in doubt */
      return lost(r, "session %s was committed but is not in the database", s->id);
    }
    diff(&r->got[i], &s->cur, why, sizeof why);
    if (!why[0]) continue;
    char other[512];
    if (s->has_alt && s->alt_exists) {
      diff(&r->got[i], &s->alt, other, sizeof other);
      if (!other[0]) continue;
    }
    if (s->survivor && s->has_dur && s->dur_exists) {
      diff(&r->got[i], &s->dur, other, sizeof other);
      if (!other[0]) continue;
    }
    if (s->row_doubt) {
      orc_sstate t;
      if (orc__sstate_copy(&t, &s->cur) != AS_OK || orc__with_row_of(&t, &s->ralt) != AS_OK) {
        orc__sstate_clear(&t);
        return harness(r, "sessions (out of memory)");
      }
      diff(&r->got[i], &t, other, sizeof other);
      orc__sstate_clear(&t);
      if (!other[0]) continue;
    }
    if (s->ev_doubt && r->got[i].nevents == s->ev_sure && s->ev_sure < s->cur.nevents) {
      /* the appends in doubt did not happen: the rest must agree */
      size_t n = s->cur.nevents;
      s->cur.nevents = s->ev_sure; /* compare the sure part only */
      diff(&r->got[i], &s->cur, other, sizeof other);
      s->cur.nevents = n;
      if (!other[0]) continue;
    }
    return lost(r, "session %s: %s", s->id, why);
  }
  return 0;
}

static int compare_checkpoints(reader *r) {
  orc *o = r->o;
  bool *seen = calloc(o->nck ? o->nck : 1, sizeof *seen);
  if (!seen) return harness(r, "checkpoints (out of memory)");
  sqlite3_stmt *q = NULL;
  int src = sqlite3_prepare_v2(r->db, "SELECT thread_id FROM checkpoints ORDER BY thread_id", -1,
                               &q, NULL);
  int bad = 0;
  while (!bad && src == SQLITE_OK && (src = sqlite3_step(q)) == SQLITE_ROW) {
    src = SQLITE_OK;
    const char *tid = col_text(q, 0);
    const orc_ckpt *c = orc__ckpt(o, tid, false);
    if (!c || (c->exists == ORC_EX_NO && (c->tconn == ORC_NO_CONN || c->prev == ORC_EX_NO)))
      bad = lost(r, "checkpoint %s is in the database, but %s", tid,
                 c ? "the model committed its removal" : "it was never committed");
    else
      seen[c - o->ck] = true;
  }
  int fin = sqlite3_finalize(q);
  if (!bad && (src != SQLITE_DONE || fin != SQLITE_OK)) bad = harness(r, "the checkpoints");
  for (size_t i = 0; !bad && i < o->nck; i++)
    if (o->ck[i].exists == ORC_EX_YES && (o->ck[i].tconn == ORC_NO_CONN || o->ck[i].prev == ORC_EX_YES) &&
        !seen[i])
      bad = lost(r, "checkpoint %s was committed but is not in the database", o->ck[i].tid);
  free(seen);
  return bad ? -1 : 0;
}

int orc_quiescence(orc *o, sqlite3 *db, char *msg, size_t cap) {
  if (o->violated) {
    snprintf(msg, cap, "%s", o->msg);
    return o->harness ? SIM_HARNESS : SIM_INVARIANT;
  }
  reader r = {.o = o, .db = db, .msg = msg, .cap = cap, .verdict = 0};
  msg[0] = '\0';
  size_t n = o->nsess ? o->nsess : 1;
  r.got = calloc(n, sizeof *r.got);
  r.seen = calloc(n, sizeof *r.seen);
  if (!r.got || !r.seen) {
    snprintf(msg, cap, "the oracle ran out of memory at quiescence");
    r.verdict = SIM_HARNESS;
  } else if (read_sessions(&r) == 0 && read_calls(&r) == 0 && read_events(&r) == 0 &&
             compare_sessions(&r) == 0) {
    compare_checkpoints(&r); /* it sets the verdict itself */
  }
  if (r.verdict == 0) r.verdict = orc__budget_quiescence(o, db, msg, cap);
  for (size_t i = 0; r.got && i < o->nsess; i++) orc__sstate_clear(&r.got[i]);
  free(r.got);
  free(r.seen);
  return r.verdict;
}

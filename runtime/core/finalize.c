/*
** finalize.c -- terminal-status inference, finalize and pause (finalize.h).
*/
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "agentsim/events.h"
#include "agentsim/finalize.h"
#include "agentsim/fmt.h"
#include "agentsim/mutant.h"
#include "core_internal.h"

_Static_assert(sizeof AS_REASON_NO_TERMINAL <= AS_REASON_MAX, "the reason fits a session");

/* --- inference ---------------------------------------------------------------- */

/* A tool's name without its "server:" prefix. */
static const char *bare_name(const char *tool) {
  const char *colon = strrchr(tool, ':');
  return colon ? colon + 1 : tool;
}

static bool is_legacy_escalate(const as_finalize_rules *rules, const char *tool) {
  for (size_t i = 0; rules && i < rules->n_legacy_escalate; i++) {
    const char *name = rules->legacy_escalate[i];
    if (strcmp(name, tool) == 0 || strcmp(name, bare_name(tool)) == 0) return true;
  }
  return false;
}

/* The terminal decision call c stands for, or AS__SESS_COUNT for none. */
static as_session_status decision_of(const as_tool_call *c, const as_finalize_rules *rules) {
  /* The seed's inference looked at every call, executed or not: a rejected
  ** mark_resolved still resolved the session. */
  if (c->state != AS_TOOL_EXECUTED && !AS_MUTANT(INFER_COUNTS_UNEXECUTED)) return AS__SESS_COUNT;
  const char *name = bare_name(c->tool);
  if (strcmp(name, AS_TOOL_MARK_ESCALATED) == 0 || is_legacy_escalate(rules, c->tool))
    return AS_SESS_ESCALATED;
  if (strcmp(name, AS_TOOL_MARK_RESOLVED) == 0) return AS_SESS_RESOLVED;
  return AS__SESS_COUNT;
}

/* The status the executed history implies (newest call first). */
static as_session_status infer(const as_session *s, const as_finalize_rules *rules) {
  /* The seed's inference took the first terminal call it met, oldest first. */
  if (AS_MUTANT(INFER_OLDEST_FIRST)) {
    for (size_t i = 0; i < s->ncalls; i++) {
      as_session_status st = decision_of(&s->calls[i], rules);
      if (st != AS__SESS_COUNT) return st;
    }
    return AS_SESS_NEEDS_REVIEW;
  }
  for (size_t i = s->ncalls; i-- > 0;) {
    as_session_status st = decision_of(&s->calls[i], rules);
    if (st != AS__SESS_COUNT) return st;
  }
  return AS_SESS_NEEDS_REVIEW;
}


static const char *reason_for(as_session_status st) {
  return st == AS_SESS_NEEDS_REVIEW ? AS_REASON_NO_TERMINAL : "";
}

int as_infer_terminal(const as_session *s, const as_finalize_rules *rules,
                      as_session_status *out, char *reason, size_t cap) {
  if (!s || !out || !reason) return AS_INVAL;
  as_session_status st = infer(s, rules);
  const char *why = reason_for(st);
  size_t n = strlen(why) + 1;
  if (n > cap) return AS_TOOBIG;
  memcpy(reason, why, n);
  *out = st;
  return AS_OK;
}

/* --- settling under the lock ------------------------------------------------------ */

typedef enum op_kind { OP_FINALIZE, OP_PAUSE, OP_FAIL } op_kind;

/* What op stores for s, or AS__SESS_COUNT to leave it as it is. */
static as_session_status decide(const as_session *s, op_kind op,
                                const as_finalize_rules *rules) {
  bool terminal = as_session_status_terminal(s->status);
  if (op == OP_PAUSE) {
    /* A late pause after a finalize once checked only for awaiting_input. */
    if (terminal && !AS_MUTANT(PAUSE_CLOBBERS_TERMINAL)) return AS__SESS_COUNT;
    /* The seed's paused branch stopped at the gate and wrote nothing. */
    bool skip = s->status == AS_SESS_AWAITING_INPUT || AS_MUTANT(PAUSE_NOT_MARKED);
    return skip ? AS__SESS_COUNT : AS_SESS_AWAITING_INPUT;
  }
  if (op == OP_FAIL) {
    /* The seed's error path wrote error from its except branch, whatever the
    ** session had become meanwhile. */
    if (terminal && !(AS_MUTANT(FAIL_CLOBBERS_TERMINAL) && s->status != AS_SESS_ERROR))
      return AS__SESS_COUNT;
    return AS_SESS_ERROR;
  }
  if (terminal) return AS__SESS_COUNT;
  /* The seed's first finalize coerced every session it touched to resolved. */
  return AS_MUTANT(FINALIZE_COERCE_RESOLVED) ? AS_SESS_RESOLVED : infer(s, rules);
}

/* A failure's kind and cause (OP_FAIL). */
typedef struct fail_info {
  const char *kind, *cause;
} fail_info;

/* The payload of a change to error: the kind and cause, escaped. A JSON
** text owned by jansson's allocator (free it with its free). */
static char *error_payload(const as_session *s, const fail_info *f) {
  json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "from", as_session_status_name(s->status), "to",
                        "error", "reason", "", "error_kind", f->kind, "error", f->cause);
  char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  return text;
}

/* Store s with status `to` and the matching reason (and, to error, f's
** kind and cause), with its status_changed event, in one transaction. */
static AS_WUR int settle(as_store *st, as_session *s, as_session_status to, const fail_info *f) {
  /* Status names and the reasons are fixed texts that need no escaping. */
  char payload[64 + 2 * sizeof "awaiting_input" + sizeof AS_REASON_NO_TERMINAL];
  char *text = NULL;
  const char *why = reason_for(to);
  if (to == AS_SESS_ERROR && f) {
    text = error_payload(s, f);
    if (!text) return AS_NOMEM;
    (void)snprintf(s->error_kind, sizeof s->error_kind, "%s", f->kind); /* ignore: cut to fit */
    (void)snprintf(s->error_cause, sizeof s->error_cause, "%s", f->cause); /* ignore: as above */
  } else {
    (void)as_appendf(payload, sizeof payload, 0, /* ignore: sized to fit */
                     "{\"from\":\"%s\",\"to\":\"%s\",\"reason\":\"%s\"}",
                     as_session_status_name(s->status), as_session_status_name(to),
                     AS_MUTANT(PAYLOAD_OLD_REASON) ? s->needs_review_reason : why);
  }
  memcpy(s->needs_review_reason, why, strlen(why) + 1);
  s->status = to;
  int rc = as_session_save_with_event(st, s, AS_EVENT_STATUS_CHANGED, text ? text : payload, NULL);
  as__json_free(text);
  return rc;
}

/* The mutant's "retry": the stored version only, into the stale copy s. */
static AS_WUR int refresh_version(as_store *st, as_session *s) {
  as_session fresh = {0};
  int rc = as_session_load(st, s->id, &fresh);
  if (rc == AS_OK) s->version = fresh.version;
  as_session_clear(&fresh);
  return rc;
}

/* Load, decide, store; on a stale-version conflict (another writer got
** there first) reload and decide again. *final gets the status it ends with,
** *wrote whether this call stored it. Lock held by the caller (or not, for
** the mutant that forgot it). */
static AS_WUR int settle_loop(as_store *st, const char *id, op_kind op,
                              const as_finalize_rules *rules, const fail_info *f,
                              as_session_status *final, bool *wrote) {
  as_session s = {0};
  int rc = AS_OK;
  as_session_status to = AS__SESS_COUNT;
  bool blind = false;
  *wrote = false;
  for (int attempt = 0;; attempt++) {
    if (blind) {
      /* Once a conflict taught it nothing: keep the stale copy and its
      ** decision, and overwrite whatever the other writer did. */
      rc = refresh_version(st, &s);
      if (rc != AS_OK) break;
    } else {
      as_session_clear(&s); /* the copy a conflict made stale */
      rc = as_session_load(st, id, &s);
      to = rc == AS_OK ? decide(&s, op, rules) : AS__SESS_COUNT;
    }
    if (to == AS__SESS_COUNT) break;
    if (attempt == AS_FINALIZE_ATTEMPTS) {
      rc = AS_BUSY; /* writers kept winning: the caller may try later */
      break;
    }
    as_session_status from = s.status;
    rc = settle(st, &s, to, f);
    *wrote = rc == AS_OK;
    if (rc == AS_STALE) s.status = from; /* settle set it; nothing was stored */
    /* The seed's first finalize let the stale-version error out, leaving the
    ** session in_progress for good. */
    if (rc == AS_STALE && !(op == OP_FINALIZE && AS_MUTANT(FINALIZE_STALE_ESCAPES))) {
      rc = AS_OK;
      blind = op == OP_FINALIZE && AS_MUTANT(FINALIZE_BLIND_RETRY);
    } else {
      break;
    }
  }
  if (rc == AS_OK && final) *final = s.status;
  as_session_clear(&s);
  return rc;
}

/* settle_loop under id's lock (unless `lock` is false). */
static AS_WUR int locked_loop(as_store *st, as_lock_registry *reg, const char *id, op_kind op,
                              const as_finalize_rules *rules, const fail_info *f, bool lock,
                              as_session_status *final, bool *wrote) {
  if (!st) return AS_INVAL;
  int rc = lock ? as_lock_acquire(reg, id) : AS_OK;
  if (rc != AS_OK) return rc;
  rc = settle_loop(st, id, op, rules, f, final, wrote);
  if (lock) {
    int rc2 = as_lock_release(reg, id);
    rc = rc != AS_OK ? rc : rc2;
  }
  return rc;
}

int as_finalize(as_store *st, as_lock_registry *reg, const char *id,
                const as_finalize_rules *rules, as_session_status *final) {
  bool wrote;
  /* The seed's finalize before the lock registry raced every other writer. */
  bool lock = !AS_MUTANT(FINALIZE_NO_LOCK);
  return locked_loop(st, reg, id, OP_FINALIZE, rules, NULL, lock, final, &wrote);
}

int as_mark_paused(as_store *st, as_lock_registry *reg, const char *id, bool *changed) {
  bool wrote = false;
  int rc = locked_loop(st, reg, id, OP_PAUSE, NULL, NULL, true, NULL, &wrote);
  if (changed) *changed = wrote;
  return rc;
}

int as_mark_failed_as(as_store *st, as_lock_registry *reg, const char *id, const char *kind,
                      const char *cause, bool *changed) {
  if (!kind || !kind[0]) return AS_INVAL;
  fail_info f = {kind, cause ? cause : ""};
  bool wrote = false;
  int rc = locked_loop(st, reg, id, OP_FAIL, NULL, &f, true, NULL, &wrote);
  if (changed) *changed = wrote;
  return rc;
}

int as_mark_failed(as_store *st, as_lock_registry *reg, const char *id, bool *changed) {
  return as_mark_failed_as(st, reg, id, "unknown", "", changed);
}

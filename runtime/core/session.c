/*
** session.c -- the in-memory session model (session.h) and the text copies
** the core shares (core_internal.h).
*/
#include <stdlib.h>
#include <string.h>

#include "agentsim/seam.h"
#include "agentsim/session.h"
#include "core_internal.h"

static const char *const status_names[] = {
#define AS__SNAME(NAME, name) #name,
    AS_SESSION_STATUS_MAP(AS__SNAME)
#undef AS__SNAME
};

static const char *const tool_state_names[] = {
#define AS__TNAME(NAME, name) #name,
    AS_TOOL_STATE_MAP(AS__TNAME)
#undef AS__TNAME
};

/* --- names ------------------------------------------------------------------ */

const char *as_session_status_name(as_session_status st) {
  return (unsigned)st < AS__SESS_COUNT ? status_names[st] : "?";
}

/* The index of name in names[n], or -1. */
static int name_index(const char *const *names, int n, const char *name) {
  for (int i = 0; name && i < n; i++)
    if (strcmp(names[i], name) == 0) return i;
  return -1;
}

int as_session_status_parse(const char *name, as_session_status *out) {
  int i = name_index(status_names, AS__SESS_COUNT, name);
  if (i < 0) return AS_PARSE;
  *out = (as_session_status)i;
  return AS_OK;
}

bool as_session_status_terminal(as_session_status st) {
  return st == AS_SESS_RESOLVED || st == AS_SESS_ESCALATED || st == AS_SESS_NEEDS_REVIEW ||
         st == AS_SESS_ERROR;
}

bool as_session_status_active(as_session_status st) {
  return st != AS_SESS_RESOLVED && st != AS_SESS_ESCALATED && st != AS_SESS_NEEDS_REVIEW;
}

const char *as_tool_state_name(as_tool_state st) {
  return (unsigned)st < AS__TOOL_COUNT ? tool_state_names[st] : "?";
}

int as_tool_state_parse(const char *name, as_tool_state *out) {
  int i = name_index(tool_state_names, AS__TOOL_COUNT, name);
  if (i < 0) return AS_PARSE;
  *out = (as_tool_state)i;
  return AS_OK;
}

/* --- text copies ------------------------------------------------------------ */

int as__copy_name(char *dst, size_t cap, const char *src) {
  if (!src || !*src) return AS_INVAL;
  size_t n = strnlen(src, cap);
  if (n >= cap) return AS_TOOBIG;
  memcpy(dst, src, n + 1);
  return AS_OK;
}

int as__dup_text(const char *src, size_t max, char **out) {
  size_t n = strnlen(src, max + 1);
  if (n > max) return AS_TOOBIG;
  char *p = as_malloc(n + 1);
  if (!p) return AS_NOMEM;
  memcpy(p, src, n + 1);
  *out = p;
  return AS_OK;
}

/* --- sessions --------------------------------------------------------------- */

int as_session_id_check(const char *id) {
  if (!id || !*id) return AS_INVAL;
  size_t n = strnlen(id, AS_SESSION_ID_MAX);
  if (n >= AS_SESSION_ID_MAX) return AS_TOOBIG;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)id[i];
    if (c <= ' ' || c > '~' || c == ':') return AS_INVAL;
  }
  return AS_OK;
}

int as_session_init(as_session *s, const char *id) {
  if (!s) return AS_INVAL;
  int rc = as_session_id_check(id);
  if (rc != AS_OK) return rc;
  memset(s, 0, sizeof *s);
  memcpy(s->id, id, strlen(id) + 1);
  s->status = AS_SESS_NEW;
  return AS_OK;
}

void as_session_clear(as_session *s) {
  if (!s) return;
  for (size_t i = 0; i < s->ncalls; i++) {
    as_free(s->calls[i].args);
    as_free(s->calls[i].result);
  }
  as_free(s->calls);
  as_free(s->extra);
  memset(s, 0, sizeof *s);
}

/* Doubling from 8 lands exactly on the cap. */
_Static_assert(AS_TOOL_CALLS_MAX >= 8 && (AS_TOOL_CALLS_MAX & (AS_TOOL_CALLS_MAX - 1)) == 0,
               "AS_TOOL_CALLS_MAX must be a power of two >= 8");

/* Room for one more call: the array doubles up to AS_TOOL_CALLS_MAX. */
static AS_WUR int grow_calls(as_session *s) {
  if (s->ncalls < s->calls_cap) return AS_OK;
  if (s->ncalls >= AS_TOOL_CALLS_MAX) return AS_TOOBIG;
  size_t cap = s->calls_cap ? s->calls_cap * 2 : 8;
  as_tool_call *p = as_realloc(s->calls, cap * sizeof *p);
  if (!p) return AS_NOMEM;
  s->calls = p;
  s->calls_cap = cap;
  return AS_OK;
}

int as_session_add_call(as_session *s, const char *tool, const char *args, const char *result,
                        as_tool_state state) {
  if (!s || (unsigned)state >= AS__TOOL_COUNT) return AS_INVAL;
  as_tool_call c = {.state = state};
  int rc = as__copy_name(c.tool, sizeof c.tool, tool);
  if (rc == AS_OK) rc = grow_calls(s);
  if (rc == AS_OK) rc = as__dup_text(args ? args : "{}", AS_TOOL_JSON_MAX, &c.args);
  if (rc == AS_OK) rc = as__dup_text(result ? result : "null", AS_TOOL_JSON_MAX, &c.result);
  if (rc != AS_OK) {
    as_free(c.args);
    return rc;
  }
  s->calls[s->ncalls++] = c;
  return AS_OK;
}

int as_session_set_extra(as_session *s, const char *json) {
  if (!s) return AS_INVAL;
  char *p = NULL;
  int rc = as__dup_text(json ? json : "{}", AS_EXTRA_MAX, &p);
  if (rc != AS_OK) return rc;
  as_free(s->extra);
  s->extra = p;
  return AS_OK;
}

int as_session_set_reason(as_session *s, const char *reason) {
  if (!s) return AS_INVAL;
  if (!reason || !*reason) {
    s->needs_review_reason[0] = '\0';
    return AS_OK;
  }
  return as__copy_name(s->needs_review_reason, sizeof s->needs_review_reason, reason);
}

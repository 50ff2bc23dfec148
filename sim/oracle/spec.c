/*
** spec.c -- the oracle's reading of the specification (spec.h).
*/
#include "spec.h"

#include <string.h>

static const char *const status_names[] = {
#define ORC__N(NAME, text) text,
    ORC_STATUS_MAP(ORC__N)
#undef ORC__N
};

static const char *const state_names[] = {
#define ORC__N(NAME, text) text,
    ORC_CALL_STATE_MAP(ORC__N)
#undef ORC__N
};

static int find(const char *const *names, int n, const char *s, size_t len) {
  for (int i = 0; s && i < n; i++)
    if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0) return i;
  return -1;
}

const char *orc_status_name(int st) {
  return st >= 0 && st < ORC__ST_COUNT ? status_names[st] : "?";
}

int orc_status_parse(const char *name, size_t len) {
  return find(status_names, ORC__ST_COUNT, name, len);
}

const char *orc_call_state_name(int cs) {
  return cs >= 0 && cs < ORC__CS_COUNT ? state_names[cs] : "?";
}

int orc_call_state_parse(const char *name, size_t len) {
  return find(state_names, ORC__CS_COUNT, name, len);
}

bool orc_terminal(int st) {
  return st == ORC_ST_RESOLVED || st == ORC_ST_ESCALATED || st == ORC_ST_NEEDS_REVIEW ||
         st == ORC_ST_ERROR;
}

bool orc_active(int st) {
  return st != ORC_ST_RESOLVED && st != ORC_ST_ESCALATED && st != ORC_ST_NEEDS_REVIEW;
}

static bool named(const char *tool, const char *name) {
  const char *colon = strrchr(tool, ':');
  return strcmp(tool, name) == 0 || (colon && strcmp(colon + 1, name) == 0);
}

int orc_infer(const orc_call *calls, size_t n, const char *const *legacy, size_t nlegacy) {
  for (size_t i = n; i-- > 0;) {
    const orc_call *c = &calls[i];
    if (c->state != ORC_CS_EXECUTED) continue;
    if (named(c->tool, "mark_escalated")) return ORC_ST_ESCALATED;
    if (named(c->tool, "mark_resolved")) return ORC_ST_RESOLVED;
    for (size_t k = 0; k < nlegacy; k++)
      if (named(c->tool, legacy[k])) return ORC_ST_ESCALATED;
  }
  return ORC_ST_NEEDS_REVIEW;
}

size_t orc_base_len(const char *tid) {
  static const char suffix[] = ":retry-";
  size_t n = strlen(tid), d = n, k = sizeof suffix - 1;
  while (d > 0 && tid[d - 1] >= '0' && tid[d - 1] <= '9') d--;
  if (d == n || d < k || memcmp(tid + d - k, suffix, k) != 0) return n;
  return d - k;
}

static const struct {
  const char *name;
  bool transient;
} kinds[] = {
#define ORC__K(name, tr) {name, tr},
    ORC_KIND_MAP(ORC__K)
#undef ORC__K
};

bool orc_kind_known(const char *kind, bool *transient) {
  *transient = false;
  for (size_t i = 0; kind && i < sizeof kinds / sizeof kinds[0]; i++)
    if (strcmp(kinds[i].name, kind) == 0) {
      *transient = kinds[i].transient;
      return true;
    }
  return false;
}

static const char *const decision_names[] = {
#define ORC__DN(NAME, text) text,
    ORC_DECISION_MAP(ORC__DN)
#undef ORC__DN
};

const char *orc_decision_name(orc_decision d) {
  return (unsigned)d < ORC__DEC_COUNT ? decision_names[d] : "?";
}

orc_decision orc_should_retry(int64_t count, const char *kind, bool has_conf, double conf,
                              const orc_retry_policy *p) {
  bool transient = false;
  if (count >= (int64_t)p->max_retries) return ORC_DEC_MAX;
  if (!orc_kind_known(kind, &transient) || !transient) return ORC_DEC_PERMANENT;
  if (has_conf && conf < p->min_confidence) return ORC_DEC_LOW_CONFIDENCE;
  if (!p->transient) return ORC_DEC_TRANSIENT_DISABLED;
  return ORC_DEC_AUTO;
}

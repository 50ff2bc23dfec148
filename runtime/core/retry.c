/*
** retry.c -- error kinds and their class, the retry policy, and the
** registry of in-flight retries and running runs (retry.h).
**
** The registry is a list of entries, each allocated on its own so a run
** can keep a pointer to its entry (only the run frees it). The cancel mark
** is read under the registry's mutex, like everything else: the seam has
** no atomics, and in the sim each look is a scheduling point of its own.
** Lists stay short: one entry per session being retried or run right now.
*/
#include <string.h>

#include "agentsim/mutant.h"
#include "agentsim/retry.h"
#include "agentsim/seam.h"
#include "retry_internal.h"

/* --- kinds and the policy ---------------------------------------------------------- */

static const struct {
  const char *name;
  as_error_class cls;
} kinds[] = {
#define AS__EK(NAME, name, cls) {#name, AS_ERR_##cls},
    AS_ERROR_KIND_MAP(AS__EK)
#undef AS__EK
};
_Static_assert(sizeof kinds / sizeof kinds[0] == AS__ERR_KIND_COUNT, "one row per kind");

const char *as_error_kind_name(as_error_kind k) {
  return (unsigned)k < AS__ERR_KIND_COUNT ? kinds[k].name : "unknown";
}

as_error_kind as_error_kind_parse(const char *name) {
  for (unsigned i = 0; name && i < AS__ERR_KIND_COUNT; i++)
    if (strcmp(kinds[i].name, name) == 0) return (as_error_kind)i;
  return AS_ERR_UNKNOWN;
}

as_error_class as_error_kind_class(as_error_kind k) {
  /* The seed's classifier fell through to "transient" for what it did not
  ** recognise, so a failure nobody understood was retried for ever. */
  if (k == AS_ERR_UNKNOWN && AS_MUTANT(UNKNOWN_ERROR_TRANSIENT)) return AS_ERR_TRANSIENT;
  return (unsigned)k < AS__ERR_KIND_COUNT ? kinds[k].cls : AS_ERR_PERMANENT;
}

const char *as_error_class_name(as_error_class c) {
  return c == AS_ERR_TRANSIENT ? "transient" : "permanent";
}

static const char *const decision_names[] = {
#define AS__RD(NAME, name) #name,
    AS_RETRY_DECISION_MAP(AS__RD)
#undef AS__RD
};

const char *as_retry_decision_name(as_retry_decision d) {
  return (unsigned)d < AS__RETRY_DEC_COUNT ? decision_names[d] : "?";
}

as_retry_decision as_should_retry(int64_t retry_count, as_error_kind kind, bool has_conf,
                                  double conf, const as_retry_settings *p) {
  if (!p) return AS_RETRY_PERMANENT_ERROR;
  if (retry_count >= (int64_t)p->max_retries) return AS_RETRY_MAX_RETRIES_EXCEEDED;
  if (as_error_kind_class(kind) == AS_ERR_PERMANENT) return AS_RETRY_PERMANENT_ERROR;
  if (has_conf && conf < p->min_confidence) return AS_RETRY_LOW_CONFIDENCE_NO_RETRY;
  if (!p->transient) return AS_RETRY_TRANSIENT_DISABLED;
  return AS_RETRY_AUTO_RETRY;
}

/* --- the registry ---------------------------------------------------------------- */

typedef enum entry_kind { E_RETRY, E_RUN } entry_kind;

struct as__run_entry {
  struct as__run_entry *next;
  entry_kind kind;
  uint64_t task;
  int cancel;       /* E_RUN: 1 a cancel marked it, 2 and the run saw it */
  char key[AS_SESSION_ID_MAX];
};

struct as_runs {
  as_mutex *mu;
  struct as__run_entry *head;
  size_t n, max;
  as_runs_observer observer;
  void *observer_ctx;
};

int as_runs_new(as_runs **out, size_t max_entries) {
  if (!out || max_entries > AS_RUNS_MAX_ENTRIES) return AS_INVAL;
  *out = NULL;
  as_runs *r = as_calloc(1, sizeof *r);
  if (!r) return AS_NOMEM;
  int rc = as_mutex_new(&r->mu);
  if (rc != AS_OK) {
    as_free(r);
    return rc;
  }
  r->max = max_entries ? max_entries : AS_RUNS_DEFAULT_ENTRIES;
  *out = r;
  return AS_OK;
}

void as_runs_free(as_runs *r) {
  if (!r) return;
  while (r->head) {
    struct as__run_entry *e = r->head;
    r->head = e->next;
    as_free(e);
  }
  as_mutex_free(r->mu);
  as_free(r);
}

void as_runs_observe(as_runs *r, as_runs_observer fn, void *ctx) {
  r->observer = fn;
  r->observer_ctx = ctx;
}

static void tell(const as_runs *r, const char *key, as_runs_event ev) {
  if (r->observer) r->observer(r->observer_ctx, key, as_task_id(), ev);
}

size_t as_runs_size(as_runs *r) {
  as_mutex_lock(r->mu);
  size_t n = r->n;
  as_mutex_unlock(r->mu);
  return n;
}

static struct as__run_entry *find(const as_runs *r, entry_kind k, const char *key) {
  for (struct as__run_entry *e = r->head; e; e = e->next)
    if (e->kind == k && strcmp(e->key, key) == 0) return e;
  return NULL;
}

bool as_runs_retry_in_flight(as_runs *r, const char *key) {
  as_mutex_lock(r->mu);
  bool in = key && find(r, E_RETRY, key) != NULL;
  as_mutex_unlock(r->mu);
  return in;
}

static AS_WUR int entry_new(as_runs *r, entry_kind k, const char *key,
                            struct as__run_entry **out) {
  size_t n = strlen(key);
  if (n == 0 || n >= AS_SESSION_ID_MAX) return AS_INVAL;
  if (r->n >= r->max) return AS_TOOBIG;
  struct as__run_entry *e = as_calloc(1, sizeof *e);
  if (!e) return AS_NOMEM;
  e->kind = k;
  e->task = as_task_id();
  memcpy(e->key, key, n + 1);
  e->next = r->head;
  r->head = e;
  r->n++;
  *out = e;
  return AS_OK;
}

/* Unlink e (in the list); mutex held. */
static void entry_drop(as_runs *r, struct as__run_entry *e) {
  for (struct as__run_entry **p = &r->head; *p; p = &(*p)->next) {
    if (*p != e) continue;
    *p = e->next;
    r->n--;
    as_free(e);
    return;
  }
}

int as__runs_retry_enter(as_runs *r, const char *key) {
  as_mutex_lock(r->mu);
  int rc = AS_OK;
  /* The seed's set was a counter of callers: a second retry went in too
  ** and waited for the lock behind the first. */
  if (find(r, E_RETRY, key) && !AS_MUTANT(CONCURRENT_RETRY_NOT_REJECTED)) {
    rc = AS_BUSY;
    tell(r, key, AS_RUNS_RETRY_REFUSED);
  } else {
    struct as__run_entry *e;
    rc = entry_new(r, E_RETRY, key, &e);
    if (rc == AS_OK) tell(r, key, AS_RUNS_RETRY_ENTERED);
  }
  as_mutex_unlock(r->mu);
  return rc;
}

void as__runs_retry_leave(as_runs *r, const char *key) {
  as_mutex_lock(r->mu);
  /* The caller's own entry (with the mutant above, several may exist),
  ** never another task's. */
  struct as__run_entry *mine = NULL;
  for (struct as__run_entry *e = r->head; e && !mine; e = e->next)
    if (e->kind == E_RETRY && e->task == as_task_id() && strcmp(e->key, key) == 0) mine = e;
  if (mine) {
    tell(r, key, AS_RUNS_RETRY_LEFT);
    entry_drop(r, mine);
  }
  as_mutex_unlock(r->mu);
}

int as__runs_run_begin(as_runs *r, const char *key, as__run_entry **out) {
  *out = NULL;
  if (!r) return AS_OK;
  as_mutex_lock(r->mu);
  int rc = entry_new(r, E_RUN, key, out);
  if (rc == AS_OK) tell(r, key, AS_RUNS_RUN_BEGAN);
  as_mutex_unlock(r->mu);
  return rc;
}

void as__runs_run_end(as_runs *r, as__run_entry *e) {
  if (!r || !e) return;
  as_mutex_lock(r->mu);
  tell(r, e->key, AS_RUNS_RUN_ENDED);
  entry_drop(r, e);
  as_mutex_unlock(r->mu);
}

bool as__runs_cancelled(as_runs *r, as__run_entry *e) {
  if (!r || !e) return false;
  as_mutex_lock(r->mu);
  bool yes = e->cancel != 0;
  if (e->cancel == 1) { /* the first look that sees it says so */
    e->cancel = 2;
    tell(r, e->key, AS_RUNS_CANCEL_SEEN);
  }
  as_mutex_unlock(r->mu);
  return yes;
}

int as__runs_cancel(as_runs *r, const char *key, bool *marked) {
  size_t n = key ? strlen(key) : 0;
  if (n == 0 || n >= AS_SESSION_ID_MAX) return AS_INVAL;
  as_mutex_lock(r->mu);
  *marked = false;
  for (struct as__run_entry *e = r->head; e; e = e->next) {
    if (e->kind != E_RUN || strcmp(e->key, key) != 0) continue;
    if (e->cancel == 0) e->cancel = 1;
    *marked = true;
  }
  tell(r, key, *marked ? AS_RUNS_CANCEL_MARKED : AS_RUNS_CANCEL_IDLE);
  as_mutex_unlock(r->mu);
  return AS_OK;
}

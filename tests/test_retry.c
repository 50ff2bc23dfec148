/*
** test_retry.c -- the failure paths (retry.h): error kinds and classes, the
** retry policy, the registry of in-flight retries and running runs,
** as_retry_session, as_preview_retry, as_cancel_session, the request
** timeout's bounds and the run's caps, on the posix platform with a fake
** monotonic clock, an on-disk WAL database and a provider of the test's own
** (FP) whose every answer a test chooses, and which can run a hook inside
** a call (a second retry, a cancel, a preview while a run is in flight).
**
** Then each operation with every allocation and every SQLite call failing
** in turn (STYLE.md rule 7), and the six mutants' branches (the _mut build).
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "agentsim/app.h"
#include "agentsim/checkpoints.h"
#include "agentsim/events.h"
#include "agentsim/finalize.h"
#include "agentsim/locks.h"
#include "agentsim/mutant.h"
#include "agentsim/retry.h"
#include "agentsim/seam.h"
#include "agentsim/store.h"
#include "agentsim/turn.h"
#include "coretest.h"
#include "faultwrap.h"
#include "retry_internal.h"
#include "sqlwrap.h"

#define SEC 1000000000ull

static const char APP_YAML[] =
    "name: r\n"
    "entry: a\n"
    "max_tool_calls: 3\n"
    "retry: {max_retries: 2, min_confidence: 0.3, transient: true}\n"
    "gate: {min_confidence: 0.5}\n"
    "servers:\n"
    "  srv:\n"
    "    tools:\n"
    "      low:\n"
    "        description: a harmless tool\n"
    "        risk: low\n"
    "        args:\n"
    "          n: {type: integer}\n"
    "      other:\n"
    "        description: a tool agent a was not given\n"
    "        risk: low\n"
    "agents:\n"
    "  a:\n"
    "    prompt: prompts/a.md\n"
    "    tools: [srv:low, patch_session, mark_resolved]\n"
    "    max_calls: 4\n"
    "    routes: {default: end}\n"
    "  b:\n"
    "    prompt: prompts/b.md\n"
    "    tools: [srv:other]\n"
    "    routes: {default: end}\n";

static ct_dir D;
static as_store *ST;
static as_lock_registry *REG;
static as_runs *RUNS;
static as_app *APP;

/* --- the provider: each answer the test's ------------------------------------------ */

typedef enum fp_kind {
  FP_END,       /* an envelope: the agent's run ends (needs_review: no terminal call) */
  FP_RESOLVE,   /* mark_resolved, then (next call) an envelope */
  FP_LOW,       /* srv:low {n:1}, then an envelope */
  FP_LOWS,      /* four srv:low calls in one answer (past max_tool_calls) */
  FP_OTHER,     /* srv:other: a tool of the app agent a lacks */
  FP_TIMEOUT,   /* AS_LLM_ERR_TIMEOUT */
  FP_RATE,      /* AS_LLM_ERR_RATE_LIMITED, retry after 1 s */
  FP_REFUSAL,   /* AS_LLM_ERR_REFUSAL */
  FP_LOOP,      /* srv:low, every call: a model that never concludes */
  FP_MALFORMED  /* AS_LLM_ERR_MALFORMED */
} fp_kind;

#define FP_MAX 16
static struct {
  fp_kind plan[FP_MAX]; /* the n-th call's answer; past nplan: the last */
  size_t nplan;
  unsigned calls;
  uint64_t timeout_ns;  /* the last request's */
  unsigned retry;       /* the last request's */
  unsigned hook_at;     /* run hook inside this call (1-based); 0 never */
  void (*hook)(void *arg);
  void *hook_arg;
} FP;

static void plan(size_t n, ...) {
  va_list ap;
  va_start(ap, n);
  FP.nplan = n;
  for (size_t i = 0; i < n; i++) FP.plan[i] = (fp_kind)va_arg(ap, int);
  va_end(ap);
}

static char *dup_text(const char *t) {
  size_t n = strlen(t) + 1;
  char *p = as_malloc(n);
  if (p) memcpy(p, t, n);
  return p;
}

static int add_call(as_llm_response *out, const char *name, const char *args) {
  size_t i = out->ncalls;
  as_llm_tool_call *c = as_realloc(out->calls, (i + 1) * sizeof *c);
  if (!c) return AS_NOMEM;
  out->calls = c;
  memset(&c[i], 0, sizeof c[i]);
  snprintf(c[i].id, sizeof c[i].id, "c%zu", i);
  snprintf(c[i].name, sizeof c[i].name, "%s", name);
  c[i].args = dup_text(args);
  out->ncalls = i + 1;
  if (!c[i].args) return AS_NOMEM;
  out->finish = AS_LLM_FINISH_TOOL_CALLS;
  return AS_OK;
}

/* The answer after a tool call: the envelope. */
static bool after_call(const as_llm_request *req) {
  return req->nmsgs > 0 && req->msgs[req->nmsgs - 1].role == AS_LLM_TOOL;
}

static int fp_complete(void *self, const as_llm_request *req, as_llm_response *out,
                       as_llm_error *err) {
  (void)self;
  FP.calls++;
  FP.timeout_ns = req->timeout_ns;
  FP.retry = req->retry;
  if (FP.hook && FP.calls == FP.hook_at) FP.hook(FP.hook_arg);
  fp_kind k = FP.nplan ? FP.plan[FP.calls - 1 < FP.nplan ? FP.calls - 1 : FP.nplan - 1] : FP_END;
  if (after_call(req) && k != FP_LOOP) k = FP_END;
  switch (k) {
  case FP_TIMEOUT:
    err->kind = AS_LLM_ERR_TIMEOUT;
    snprintf(err->message, sizeof err->message, "no answer in time");
    return AS_TIMEDOUT;
  case FP_RATE:
    err->kind = AS_LLM_ERR_RATE_LIMITED;
    err->retry_after_ns = SEC;
    err->http_status = 429;
    snprintf(err->message, sizeof err->message, "slow down");
    return AS_BUSY;
  case FP_MALFORMED:
    err->kind = AS_LLM_ERR_MALFORMED;
    snprintf(err->message, sizeof err->message, "{\"content\": \"cut");
    return AS_PARSE;
  case FP_REFUSAL:
    err->kind = AS_LLM_ERR_REFUSAL;
    snprintf(err->message, sizeof err->message, "no");
    return AS_INVAL;
  case FP_RESOLVE:
    return add_call(out, "runtime:mark_resolved",
                    "{\"resolution\": \"fixed\", \"confidence\": 0.9, \"rationale\": \"seen\"}");
  case FP_LOW:
  case FP_LOOP:
    return add_call(out, "srv:low", "{\"n\": 1}");
  case FP_LOWS:
    for (int i = 0; i < 4; i++) {
      int rc = add_call(out, "srv:low", "{\"n\": 1}");
      if (rc != AS_OK) return rc;
    }
    return AS_OK;
  case FP_OTHER:
    return add_call(out, "srv:other", "{}");
  default:
    out->structured = dup_text("{\"content\": \"done\", \"confidence\": 0.8, \"rationale\": \"r\"}");
    out->finish = AS_LLM_FINISH_STOP;
    return out->structured ? AS_OK : AS_NOMEM;
  }
}

static void fp_destroy(void *self) { (void)self; }

static const as_llm_vtable FP_VT = {"fp", fp_complete, fp_destroy};
static as_llm LLM = {&FP_VT, NULL, 0, NULL};

static void hook_at(unsigned call, void (*hook)(void *), void *arg) {
  FP.hook = hook;
  FP.hook_arg = arg;
  FP.hook_at = call;
}

/* --- the tool server ------------------------------------------------------------- */

static int exec_fail;
static void (*exec_hook)(void *arg);
static void *exec_arg;
static unsigned exec_calls;

static int exec_fn(void *ctx, const char *sid, const as_app_tool *t, const char *args, char **out) {
  (void)ctx;
  (void)sid;
  (void)t;
  (void)args;
  exec_calls++;
  if (exec_hook) {
    void (*h)(void *) = exec_hook;
    exec_hook = NULL;
    h(exec_arg);
  }
  if (exec_fail) return exec_fail;
  *out = dup_text("{\"done\": 1}");
  return *out ? AS_OK : AS_NOMEM;
}

static as_runtime rt(void) {
  return (as_runtime){.st = ST, .locks = REG, .app = APP, .llm = &LLM, .exec = exec_fn, .runs = RUNS};
}

/* --- the registry's own account ---------------------------------------------------- */

#define OBS_MAX 64
static struct {
  as_runs_event ev[OBS_MAX];
  size_t n;
} OBS;

static void observe(void *ctx, const char *key, uint64_t task, as_runs_event ev) {
  (void)ctx;
  (void)key;
  (void)task;
  if (OBS.n < OBS_MAX) OBS.ev[OBS.n++] = ev;
}

static size_t seen(as_runs_event ev) {
  size_t k = 0;
  for (size_t i = 0; i < OBS.n; i++) k += OBS.ev[i] == ev;
  return k;
}

/* --- fixtures --------------------------------------------------------------------- */

static int setup(void **state) {
  (void)state;
  fw_reset();
  sw_reset();
  ct_hooks_install(true);
  ct_dir_make(&D);
  ST = ct_open(&D, "t.db", "wal", 0);
  as_app_diag *diag = calloc(1, sizeof *diag);
  int rc = as_app_load_text(APP_YAML, sizeof APP_YAML - 1, "app.yaml", D.path, AS_APP_NO_PROMPTS,
                            &APP, diag);
  if (rc != AS_OK)
    fail_msg("app: %u:%u: %s", diag->items[0].line, diag->items[0].column, diag->items[0].message);
  free(diag);
  memset(&FP, 0, sizeof FP);
  memset(&OBS, 0, sizeof OBS);
  LLM.timeout_ns = 0;
  exec_fail = 0;
  exec_hook = NULL;
  exec_calls = 0;
  if (as_locks_new(&REG, 0) != AS_OK || as_runs_new(&RUNS, 0) != AS_OK) return -1;
  as_runs_observe(RUNS, observe, NULL);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  fw_reset();
  sw_reset();
#ifdef AS_WITH_MUTANTS
  assert_int_equal(as_mutant_set(NULL), AS_OK);
#endif
  assert_int_equal(as_locks_size(REG), 0);
  assert_int_equal(as_runs_size(RUNS), 0);
  as_runs_free(RUNS);
  as_app_free(APP);
  as_locks_free(REG);
  as_store_close(ST);
  ct_dir_remove(&D);
  (void)as_platform_set(&as_platform_posix);
  return 0;
}

static void start(const char *id, const char *fields) {
  as_runtime r = rt();
  assert_int_equal(as_session_start(&r, id, fields), AS_OK);
}

static as_run_result run(const char *id, as_run_outcome want) {
  as_runtime r = rt();
  as_run_result res;
  int rc = as_run(&r, id, false, &res);
  if (rc != AS_OK) fail_msg("run %s: %s", id, as_status_name(rc));
  if (res.outcome != want)
    fail_msg("run %s: %s (%s: %s), not %s", id, as_run_outcome_name(res.outcome), res.error_kind,
             res.error, as_run_outcome_name(want));
  return res;
}

static as_retry_answer retry(const char *id, as_retry_refusal want) {
  as_runtime r = rt();
  as_retry_answer a;
  int rc = as_retry_session(&r, id, false, &a);
  if (rc != AS_OK) fail_msg("retry %s: %s", id, as_status_name(rc));
  if (a.refusal != want) fail_msg("retry %s: refusal %d (%s), not %d", id, a.refusal, a.reason, want);
  return a;
}

static as_retry_answer preview(const char *id) {
  as_runtime r = rt();
  as_retry_answer a;
  assert_int_equal(as_preview_retry(&r, id, &a), AS_OK);
  return a;
}

static as_session load(const char *id) {
  as_session s = {0};
  assert_int_equal(as_session_load(ST, id, &s), AS_OK);
  return s;
}

/* Events of kind in id's log; the last one's payload into last (if not NULL). */
static size_t events(const char *id, const char *kind, char *last, size_t cap) {
  as_event_list l = {0};
  assert_int_equal(as_event_read(ST, id, 0, AS_EVENT_READ_MAX, &l), AS_OK);
  size_t n = 0;
  for (size_t i = 0; i < l.n; i++) {
    if (strcmp(l.items[i].kind, kind) != 0) continue;
    n++;
    if (last) snprintf(last, cap, "%s", l.items[i].payload);
  }
  as_event_list_clear(&l);
  return n;
}

static void session_is(const char *id, as_session_status st, const char *kind, int64_t retries) {
  as_session s = load(id);
  assert_string_equal(as_session_status_name(s.status), as_session_status_name(st));
  assert_string_equal(s.error_kind, kind);
  if (!kind[0]) assert_string_equal(s.error_cause, "");
  else assert_true(strlen(s.error_cause) > 0);
  assert_int_equal(s.retry_count, retries);
  as_session_clear(&s);
}

/* A session that failed with kind (as_mark_failed_as, as a run would). */
static void failed(const char *id, const char *kind, const char *extra) {
  start(id, NULL);
  if (extra) {
    as_session s = load(id);
    assert_int_equal(as_session_set_extra(&s, extra), AS_OK);
    assert_int_equal(as_session_save(ST, &s), AS_OK);
    as_session_clear(&s);
  }
  bool changed = false;
  assert_int_equal(as_mark_failed_as(ST, REG, id, kind, "it broke", &changed), AS_OK);
  assert_true(changed);
}

/* --- kinds and the policy ------------------------------------------------------------ */

static void test_kinds(void **state) {
  (void)state;
  for (int k = 0; k < AS__ERR_KIND_COUNT; k++) {
    const char *name = as_error_kind_name((as_error_kind)k);
    assert_int_equal(as_error_kind_parse(name), k);
    assert_true(strlen(name) < AS_ERROR_KIND_MAX);
  }
  assert_int_equal(as_error_kind_parse(NULL), AS_ERR_UNKNOWN);
  assert_int_equal(as_error_kind_parse(""), AS_ERR_UNKNOWN);
  assert_int_equal(as_error_kind_parse("disk_on_fire"), AS_ERR_UNKNOWN);
  assert_string_equal(as_error_kind_name(AS__ERR_KIND_COUNT), "unknown");
  static const as_error_kind transient[] = {AS_ERR_LLM_TIMEOUT, AS_ERR_LLM_RATE_LIMITED,
                                            AS_ERR_LLM_SERVER_ERROR, AS_ERR_LLM_MALFORMED,
                                            AS_ERR_IO_ERROR, AS_ERR_DB_BUSY,
                                            AS_ERR_TOOL_UNAVAILABLE, AS_ERR_CANCELLED};
  size_t nt = 0;
  for (int k = 0; k < AS__ERR_KIND_COUNT; k++) {
    bool t = false;
    for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++) t |= (int)transient[i] == k;
    nt += t;
    assert_int_equal(as_error_kind_class((as_error_kind)k), t ? AS_ERR_TRANSIENT : AS_ERR_PERMANENT);
  }
  assert_int_equal(nt, sizeof transient / sizeof transient[0]);
  assert_int_equal(as_error_kind_class(AS_ERR_UNKNOWN), AS_ERR_PERMANENT); /* fail closed */
  assert_int_equal(as_error_kind_class(AS__ERR_KIND_COUNT), AS_ERR_PERMANENT);
  assert_string_equal(as_error_class_name(AS_ERR_TRANSIENT), "transient");
  assert_string_equal(as_error_class_name(AS_ERR_PERMANENT), "permanent");
  for (int d = 0; d < AS__RETRY_DEC_COUNT; d++)
    assert_true(strlen(as_retry_decision_name((as_retry_decision)d)) > 5);
  assert_string_equal(as_retry_decision_name(AS__RETRY_DEC_COUNT), "?");
}

static void test_policy(void **state) {
  (void)state;
  as_retry_settings p = {.max_retries = 2, .min_confidence = 0.3, .transient = true};
  as_retry_settings off = p;
  off.transient = false;
  static const struct {
    int64_t count;
    as_error_kind kind;
    bool has;
    double conf;
    bool transient;
    as_retry_decision want;
  } m[] = {
      {0, AS_ERR_LLM_TIMEOUT, false, 0, true, AS_RETRY_AUTO_RETRY},
      {1, AS_ERR_IO_ERROR, true, 0.3, true, AS_RETRY_AUTO_RETRY},  /* at the floor: not below */
      {2, AS_ERR_LLM_TIMEOUT, false, 0, true, AS_RETRY_MAX_RETRIES_EXCEEDED},
      {9, AS_ERR_LLM_REFUSAL, true, 0.0, false, AS_RETRY_MAX_RETRIES_EXCEEDED}, /* first */
      {0, AS_ERR_VALIDATION, false, 0, true, AS_RETRY_PERMANENT_ERROR},
      {0, AS_ERR_ENVELOPE_MISSING, true, 0.1, true, AS_RETRY_PERMANENT_ERROR}, /* before conf */
      {0, AS_ERR_UNKNOWN, false, 0, true, AS_RETRY_PERMANENT_ERROR},
      {0, AS_ERR_TURN_CAP, false, 0, false, AS_RETRY_PERMANENT_ERROR},
      {0, AS_ERR_DB_BUSY, true, 0.29, true, AS_RETRY_LOW_CONFIDENCE_NO_RETRY},
      {0, AS_ERR_DB_BUSY, true, 0.1, false, AS_RETRY_LOW_CONFIDENCE_NO_RETRY}, /* before off */
      {0, AS_ERR_CANCELLED, false, 0.0, false, AS_RETRY_TRANSIENT_DISABLED},
      {1, AS_ERR_TOOL_UNAVAILABLE, true, 0.9, false, AS_RETRY_TRANSIENT_DISABLED},
  };
  for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
    as_retry_decision d =
        as_should_retry(m[i].count, m[i].kind, m[i].has, m[i].conf, m[i].transient ? &p : &off);
    if (d != m[i].want)
      fail_msg("row %zu: %s, not %s", i, as_retry_decision_name(d), as_retry_decision_name(m[i].want));
  }
  assert_int_equal(as_should_retry(0, AS_ERR_LLM_TIMEOUT, false, 0, NULL), AS_RETRY_PERMANENT_ERROR);
}

/* --- the registry ------------------------------------------------------------------ */

static void test_registry(void **state) {
  (void)state;
  as_runs *r = NULL;
  assert_int_equal(as_runs_new(NULL, 0), AS_INVAL);
  assert_int_equal(as_runs_new(&r, AS_RUNS_MAX_ENTRIES + 1), AS_INVAL);
  assert_int_equal(as_runs_new(&r, 2), AS_OK);
  as_runs_observe(r, observe, NULL);
  assert_int_equal(as__runs_retry_enter(r, "k"), AS_OK);
  assert_true(as_runs_retry_in_flight(r, "k"));
  assert_false(as_runs_retry_in_flight(r, "j"));
  assert_false(as_runs_retry_in_flight(r, NULL));
  assert_int_equal(as__runs_retry_enter(r, "k"), AS_BUSY);
  assert_int_equal(as_runs_size(r), 1);
  as__run_entry *e = NULL, *f = NULL;
  assert_int_equal(as__runs_run_begin(r, "k", &e), AS_OK);
  assert_int_equal(as__runs_run_begin(r, "j", &f), AS_TOOBIG); /* two entries at most */
  assert_null(f);
  assert_int_equal(as__runs_retry_enter(r, "j"), AS_TOOBIG);
  assert_int_equal(as__runs_retry_enter(r, ""), AS_INVAL);
  char longkey[AS_SESSION_ID_MAX + 1];
  memset(longkey, 'x', sizeof longkey - 1);
  longkey[sizeof longkey - 1] = '\0';
  assert_int_equal(as__runs_retry_enter(r, longkey), AS_INVAL);
  bool marked = true;
  assert_int_equal(as__runs_cancel(r, longkey, &marked), AS_INVAL);
  assert_int_equal(as__runs_cancel(r, NULL, &marked), AS_INVAL);
  assert_false(as__runs_cancelled(r, e));
  assert_int_equal(as__runs_cancel(r, "j", &marked), AS_OK);
  assert_false(marked);
  assert_int_equal(as__runs_cancel(r, "k", &marked), AS_OK);
  assert_true(marked);
  assert_int_equal(as__runs_cancel(r, "k", &marked), AS_OK); /* twice: still one mark */
  assert_true(as__runs_cancelled(r, e));
  assert_true(as__runs_cancelled(r, e));
  assert_false(as__runs_cancelled(NULL, e));
  assert_false(as__runs_cancelled(r, NULL));
  as__runs_run_end(r, e);
  as__runs_run_end(r, NULL);
  as__runs_run_end(NULL, e); /* NULL registry: nothing (e is gone already) */
  as__runs_retry_leave(r, "j"); /* not in: nothing */
  as__runs_retry_leave(r, "k");
  assert_int_equal(as_runs_size(r), 0);
  /* A registry-less run: nothing registered, nothing to cancel. */
  assert_int_equal(as__runs_run_begin(NULL, "k", &e), AS_OK);
  assert_null(e);
  static const as_runs_event want[] = {
      AS_RUNS_RETRY_ENTERED, AS_RUNS_RETRY_REFUSED, AS_RUNS_RUN_BEGAN, AS_RUNS_CANCEL_IDLE,
      AS_RUNS_CANCEL_MARKED, AS_RUNS_CANCEL_MARKED, AS_RUNS_CANCEL_SEEN, AS_RUNS_RUN_ENDED,
      AS_RUNS_RETRY_LEFT};
  assert_int_equal(OBS.n, sizeof want / sizeof want[0]);
  for (size_t i = 0; i < OBS.n; i++) assert_int_equal(OBS.ev[i], want[i]);
  /* Freed with entries left (a harness whose tasks died): they go too. */
  assert_int_equal(as__runs_retry_enter(r, "left"), AS_OK);
  as_runs_free(r);
  as_runs_free(NULL);
  /* Out of memory making one. */
  fw_countdown(FW_ALLOC, 1, ENOMEM, 0);
  assert_int_equal(as_runs_new(&r, 0), AS_NOMEM);
  fw_disarm();
  fw_countdown(FW_ALLOC, 2, ENOMEM, 0);
  assert_int_equal(as_runs_new(&r, 0), AS_NOMEM);
  fw_disarm();
  assert_int_equal(as_runs_new(&r, 0), AS_OK);
  fw_countdown(FW_ALLOC, 1, ENOMEM, 0);
  assert_int_equal(as__runs_retry_enter(r, "k"), AS_NOMEM);
  fw_disarm();
  assert_int_equal(as_runs_size(r), 0);
  as_runs_free(r);
}

/* --- failures recorded, bounds ----------------------------------------------------------- */

static void test_failure_recorded(void **state) {
  (void)state;
  plan(1, FP_TIMEOUT);
  start("f1", NULL);
  as_run_result res = run("f1", AS_RUN_FAILED);
  assert_int_equal(res.kind, AS_ERR_LLM_TIMEOUT);
  assert_int_equal(FP.calls, AS_LLM_ATTEMPTS_DEFAULT); /* tried again within the call */
  assert_int_equal(FP.timeout_ns, AS_LLM_TIMEOUT_DEFAULT_NS);
  session_is("f1", AS_SESS_ERROR, "llm_timeout", 0);
  char p[512];
  assert_int_equal(events("f1", AS_EVENT_STATUS_CHANGED, p, sizeof p), 2);
  assert_non_null(strstr(p, "\"to\":\"error\""));
  assert_non_null(strstr(p, "\"error_kind\":\"llm_timeout\""));
  assert_non_null(strstr(p, "no answer in time"));
  assert_int_equal(events("f1", AS_EVENT_AGENT_FINISHED, p, sizeof p), 1);
  assert_non_null(strstr(p, "llm_timeout"));
  /* The runtime's timeout wins over the provider's, the provider's over the default. */
  as_runtime r = rt();
  r.llm_timeout_ns = 5 * SEC;
  plan(1, FP_END);
  start("f2", NULL);
  assert_int_equal(as_run(&r, "f2", false, &res), AS_OK);
  assert_int_equal(FP.timeout_ns, 5 * SEC);
  LLM.timeout_ns = 7 * SEC;
  start("f3", NULL);
  (void)run("f3", AS_RUN_ENDED);
  assert_int_equal(FP.timeout_ns, 7 * SEC);
  /* Past the most: refused before anything runs. */
  LLM.timeout_ns = AS_LLM_TIMEOUT_MAX_NS + 1;
  assert_int_equal(as_run(&r, "f3", false, &res), AS_INVAL);
  LLM.timeout_ns = 0;
  r.llm_timeout_ns = AS_LLM_TIMEOUT_MAX_NS + 1;
  assert_int_equal(as_run(&r, "f3", false, &res), AS_INVAL);
  r.llm_timeout_ns = AS_LLM_TIMEOUT_MAX_NS; /* the most itself is fine */
  start("f4", NULL);
  assert_int_equal(as_run(&r, "f4", false, &res), AS_OK);
  /* A refusal is permanent; a 429 past its tries transient. */
  plan(1, FP_REFUSAL);
  start("f5", NULL);
  res = run("f5", AS_RUN_FAILED);
  assert_int_equal(res.kind, AS_ERR_LLM_REFUSAL);
  plan(1, FP_RATE);
  start("f6", NULL);
  res = run("f6", AS_RUN_FAILED);
  assert_int_equal(res.kind, AS_ERR_LLM_RATE_LIMITED);
  plan(1, FP_MALFORMED);
  start("f6b", NULL);
  res = run("f6b", AS_RUN_FAILED);
  assert_int_equal(res.kind, AS_ERR_LLM_MALFORMED);
  /* as_mark_failed_as: a kind is required; no cause is an empty one. */
  bool changed = true;
  assert_int_equal(as_mark_failed_as(ST, REG, "f6b", NULL, "x", &changed), AS_INVAL);
  assert_int_equal(as_mark_failed_as(ST, REG, "f6b", "", "x", &changed), AS_INVAL);
  start("f6c", NULL);
  assert_int_equal(as_mark_failed_as(ST, REG, "f6c", "io_error", NULL, NULL), AS_OK);
  as_session fs = load("f6c");
  assert_string_equal(fs.error_kind, "io_error");
  assert_string_equal(fs.error_cause, "");
  as_session_clear(&fs);
  /* A cause longer than a session keeps is cut; so is a kind. */
  char longer[AS_ERROR_CAUSE_MAX + 40];
  memset(longer, 'c', sizeof longer - 1);
  longer[sizeof longer - 1] = '\0';
  start("f6d", NULL);
  assert_int_equal(as_mark_failed_as(ST, REG, "f6d", longer, longer, NULL), AS_OK);
  fs = load("f6d");
  assert_int_equal(strlen(fs.error_kind), AS_ERROR_KIND_MAX - 1);
  assert_int_equal(strlen(fs.error_cause), AS_ERROR_CAUSE_MAX - 1);
  as_session_clear(&fs);
  /* The caps: tool calls in one agent run; a tool the agent was not given. */
  plan(1, FP_LOWS);
  start("f7", NULL);
  res = run("f7", AS_RUN_FAILED);
  assert_int_equal(res.kind, AS_ERR_TOOL_CALL_CAP);
  assert_int_equal(exec_calls, 3); /* the three before the cap ran */
  session_is("f7", AS_SESS_ERROR, "tool_call_cap", 0);
  plan(1, FP_OTHER);
  start("f8", NULL);
  res = run("f8", AS_RUN_FAILED);
  assert_int_equal(res.kind, AS_ERR_TOOL_FORBIDDEN);
  /* The turn cap (max_calls 4): a model that never concludes. */
  plan(1, FP_LOOP);
  APP->max_tool_calls = 100;
  FP.calls = 0;
  start("f9", NULL);
  res = run("f9", AS_RUN_FAILED);
  assert_int_equal(res.kind, AS_ERR_TURN_CAP);
  assert_int_equal(FP.calls, 4);
  session_is("f9", AS_SESS_ERROR, "turn_cap", 0);
}

/* --- retry ---------------------------------------------------------------------------- */

static void test_retry_paths(void **state) {
  (void)state;
  as_runtime r = rt();
  as_retry_answer a;
  char p[512];
  /* Not in error: refused under the lock, and recorded. */
  start("r0", NULL);
  a = retry("r0", AS_RETRY_NOT_ERROR);
  assert_string_equal(a.reason, AS_RETRY_REASON_NOT_ERROR);
  assert_int_equal(events("r0", AS_EVENT_RETRY_REJECTED, p, sizeof p), 1);
  assert_non_null(strstr(p, "\"reason\":\"not in error state\""));
  assert_non_null(strstr(p, "\"retry_count\":0"));
  session_is("r0", AS_SESS_NEW, "", 0);
  /* A transient failure, retried: the model answers this time. */
  plan(1, FP_TIMEOUT);
  start("r1", NULL);
  (void)run("r1", AS_RUN_FAILED);
  plan(1, FP_RESOLVE);
  FP.calls = 0;
  a = preview("r1");
  assert_int_equal(a.refusal, AS_RETRY_ACCEPTED);
  assert_string_equal(a.thread, "r1:retry-1");
  a = retry("r1", AS_RETRY_ACCEPTED);
  assert_int_equal(a.decision, AS_RETRY_AUTO_RETRY);
  assert_string_equal(a.reason, "auto_retry");
  assert_int_equal(a.retry_count, 1);
  assert_string_equal(a.thread, "r1:retry-1");
  assert_int_equal(a.run.outcome, AS_RUN_ENDED);
  assert_int_equal(a.run.status, AS_SESS_RESOLVED);
  assert_int_equal(FP.retry, 1);
  session_is("r1", AS_SESS_RESOLVED, "", 1);
  assert_int_equal(events("r1", AS_EVENT_RETRY_STARTED, p, sizeof p), 1);
  assert_string_equal(p, "{\"retry\":1,\"thread\":\"r1:retry-1\"}");
  assert_int_equal(events("r1", AS_EVENT_STATUS_CHANGED, NULL, 0), 4); /* begin, error, retry, end */
  /* Resolved now: not in error. */
  a = retry("r1", AS_RETRY_NOT_ERROR);
  assert_int_equal(a.retry_count, 1);
  /* Failing again and again: the cap (max_retries 2). */
  plan(1, FP_TIMEOUT);
  start("r2", NULL);
  (void)run("r2", AS_RUN_FAILED);
  a = retry("r2", AS_RETRY_ACCEPTED);
  assert_int_equal(a.run.outcome, AS_RUN_FAILED);
  assert_int_equal(FP.retry, 1);
  a = retry("r2", AS_RETRY_ACCEPTED);
  assert_int_equal(a.retry_count, 2);
  assert_string_equal(a.thread, "r2:retry-2");
  assert_int_equal(FP.retry, 2);
  a = retry("r2", AS_RETRY_DENIED);
  assert_int_equal(a.decision, AS_RETRY_MAX_RETRIES_EXCEEDED);
  assert_string_equal(a.reason, "max_retries_exceeded");
  assert_int_equal(events("r2", AS_EVENT_RETRY_REJECTED, p, sizeof p), 1);
  assert_non_null(strstr(p, "\"reason\":\"max_retries_exceeded\",\"retry_count\":2"));
  session_is("r2", AS_SESS_ERROR, "llm_timeout", 2);
  /* Permanent, unknown, low confidence, transient switched off. */
  failed("r3", "llm_refusal", NULL);
  assert_int_equal(retry("r3", AS_RETRY_DENIED).decision, AS_RETRY_PERMANENT_ERROR);
  failed("r4", "what_is_this", NULL);
  assert_int_equal(retry("r4", AS_RETRY_DENIED).decision, AS_RETRY_PERMANENT_ERROR);
  failed("r5", "io_error", "{\"confidence\": 0.1}");
  assert_int_equal(retry("r5", AS_RETRY_DENIED).decision, AS_RETRY_LOW_CONFIDENCE_NO_RETRY);
  APP->retry.transient = false;
  failed("r6", "db_busy", NULL);
  assert_int_equal(retry("r6", AS_RETRY_DENIED).decision, AS_RETRY_TRANSIENT_DISABLED);
  assert_int_equal(preview("r6").decision, AS_RETRY_TRANSIENT_DISABLED);
  APP->retry.transient = true;
  /* An API caller finds the lock held: busy, and nothing stays in flight. */
  failed("r7", "db_busy", NULL);
  assert_int_equal(as_lock_acquire(REG, "r7"), AS_OK);
  assert_int_equal(as_retry_session(&r, "r7", true, &a), AS_BUSY);
  assert_int_equal(as_lock_release(REG, "r7"), AS_OK);
  assert_false(as_runs_retry_in_flight(RUNS, "r7"));
  /* No such session; no registry; bad arguments. */
  assert_int_equal(as_retry_session(&r, "none", false, &a), AS_NOTFOUND);
  assert_int_equal(as_preview_retry(&r, "none", &a), AS_NOTFOUND);
  assert_int_equal(as_retry_session(&r, "r7", false, NULL), AS_INVAL);
  assert_int_equal(as_preview_retry(&r, "r7", NULL), AS_INVAL);
  r.runs = NULL;
  assert_int_equal(as_retry_session(&r, "r7", false, &a), AS_INVAL);
  assert_int_equal(as_preview_retry(&r, "r7", &a), AS_INVAL);
  as_cancel_answer ca;
  assert_int_equal(as_cancel_session(&r, "r7", &ca), AS_INVAL);
  r.runs = RUNS;
  assert_int_equal(as_cancel_session(&r, "r7", NULL), AS_INVAL);
  assert_int_equal(as_cancel_session(NULL, "r7", &ca), AS_INVAL);
  assert_int_equal(as_cancel_session(&r, NULL, &ca), AS_INVAL);
  char longkey[AS_SESSION_ID_MAX + 8];
  memset(longkey, 'k', sizeof longkey - 1);
  longkey[sizeof longkey - 1] = '\0';
  assert_int_equal(as_cancel_session(&r, longkey, &ca), AS_INVAL);
  assert_int_equal(as_retry_session(NULL, "r7", false, &a), AS_INVAL);
  assert_int_equal(as_preview_retry(NULL, "r7", &a), AS_INVAL);
  assert_int_equal(as_retry_session(&r, NULL, false, &a), AS_INVAL);
  assert_int_equal(as_preview_retry(&r, NULL, &a), AS_INVAL);
  /* Extra fields the runtime cannot read (a duplicate key, which SQLite
  ** accepts): the decision cannot be made. */
  failed("r8", "llm_timeout", "{\"confidence\": 0.9, \"confidence\": 0.9}");
  assert_int_equal(as_retry_session(&r, "r8", false, &a), AS_IO);
  assert_int_equal(as_preview_retry(&r, "r8", &a), AS_IO);
  assert_false(as_runs_retry_in_flight(RUNS, "r8"));
}

/* A retry's run pauses for an approval: its conversation lives on its own
** thread, and the approval resumes that thread. */
static void test_retry_pauses(void **state) {
  (void)state;
  plan(1, FP_TIMEOUT);
  start("p1", "{}");
  (void)run("p1", AS_RUN_FAILED);
  /* A confidence under the gate's floor (0.5), above the policy's (0.3). */
  as_session s = load("p1");
  assert_int_equal(as_session_set_extra(&s, "{\"confidence\": 0.4}"), AS_OK);
  assert_int_equal(as_session_save(ST, &s), AS_OK);
  as_session_clear(&s);
  plan(1, FP_LOW);
  as_retry_answer a = retry("p1", AS_RETRY_ACCEPTED);
  assert_int_equal(a.run.outcome, AS_RUN_PAUSED);
  char buf[64];
  size_t len = 0;
  assert_int_equal(as_checkpoint_get(ST, "p1:retry-1", NULL, 0, &len), AS_TOOBIG);
  assert_true(len > 0);
  assert_int_equal(as_checkpoint_get(ST, "p1", buf, sizeof buf, &len), AS_NOTFOUND);
  as_runtime r = rt();
  as_run_result res;
  assert_int_equal(as_approval_resolve(&r, "p1", 0, AS_APPROVE, false, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_ENDED);
  assert_int_equal(exec_calls, 1);
  assert_int_equal(FP.retry, 1);
  /* An approved call whose tool fails: stored with its error, the run fails. */
  plan(1, FP_TIMEOUT);
  start("p2", "{}");
  (void)run("p2", AS_RUN_FAILED);
  s = load("p2");
  assert_int_equal(as_session_set_extra(&s, "{\"confidence\": 0.4}"), AS_OK);
  assert_int_equal(as_session_save(ST, &s), AS_OK);
  as_session_clear(&s);
  plan(1, FP_LOW);
  assert_int_equal(retry("p2", AS_RETRY_ACCEPTED).run.outcome, AS_RUN_PAUSED);
  exec_fail = AS_IO;
  assert_int_equal(as_approval_resolve(&r, "p2", 0, AS_APPROVE, false, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_FAILED);
  assert_int_equal(res.kind, AS_ERR_TOOL_UNAVAILABLE);
  s = load("p2");
  assert_int_equal(s.calls[0].state, AS_TOOL_EXECUTED);
  assert_non_null(strstr(s.calls[0].result, "error"));
  assert_string_equal(s.error_kind, "tool_unavailable");
  as_session_clear(&s);
  exec_fail = 0;
}

/* --- in flight ------------------------------------------------------------------------- */

typedef struct second {
  as_retry_answer a, pv;
  int rc, prc;
  bool in_flight;
} second;

static void second_retry(void *arg) {
  second *x = arg;
  as_runtime r = rt();
  x->in_flight = as_runs_retry_in_flight(RUNS, "i1");
  x->rc = as_retry_session(&r, "i1", false, &x->a); /* at once: no wait for the lock */
  x->prc = as_preview_retry(&r, "i1", &x->pv);
}

static void test_in_flight(void **state) {
  (void)state;
  plan(1, FP_TIMEOUT);
  start("i1", NULL);
  (void)run("i1", AS_RUN_FAILED);
  second x = {0};
  plan(1, FP_END);
  FP.calls = 0;
  hook_at(1, second_retry, &x);
  OBS.n = 0;
  as_retry_answer a = retry("i1", AS_RETRY_ACCEPTED);
  assert_true(x.in_flight);
  assert_int_equal(x.rc, AS_OK);
  assert_int_equal(x.a.refusal, AS_RETRY_IN_PROGRESS);
  assert_string_equal(x.a.reason, AS_RETRY_REASON_IN_PROGRESS);
  assert_int_equal(x.prc, AS_OK);
  assert_int_equal(x.pv.refusal, AS_RETRY_IN_PROGRESS);
  assert_int_equal(a.run.outcome, AS_RUN_ENDED);
  assert_int_equal(events("i1", AS_EVENT_RETRY_REJECTED, NULL, 0), 0); /* nothing written */
  assert_int_equal(events("i1", AS_EVENT_RETRY_STARTED, NULL, 0), 1);
  assert_int_equal(seen(AS_RUNS_RETRY_ENTERED), 1);
  assert_int_equal(seen(AS_RUNS_RETRY_REFUSED), 1);
  assert_int_equal(seen(AS_RUNS_RETRY_LEFT), 1);
  session_is("i1", AS_SESS_NEEDS_REVIEW, "", 1);
}

/* --- preview changes nothing ----------------------------------------------------------------- */

static uint64_t file_sum(const char *name) {
  char path[256];
  ct_path(path, sizeof path, &D, name);
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  uint64_t h = 1469598103934665603ull;
  int c;
  while ((c = fgetc(f)) != EOF) h = (h ^ (uint64_t)c) * 1099511628211ull;
  fclose(f);
  return h;
}

static void test_preview_pure(void **state) {
  (void)state;
  start("v0", NULL);
  failed("v1", "llm_timeout", NULL);
  failed("v2", "envelope_missing", NULL);
  static const char *const ids[] = {"v0", "v1", "v2"};
  static const as_retry_refusal want[] = {AS_RETRY_NOT_ERROR, AS_RETRY_ACCEPTED, AS_RETRY_DENIED};
  for (size_t i = 0; i < 3; i++) {
    uint64_t db = file_sum("t.db"), wal = file_sum("t.db-wal");
    as_retry_answer a = preview(ids[i]);
    assert_int_equal(a.refusal, want[i]);
    assert_int_equal(file_sum("t.db"), db);
    assert_int_equal(file_sum("t.db-wal"), wal);
    assert_int_equal(as_runs_size(RUNS), 0);
    assert_int_equal(events(ids[i], AS_EVENT_RETRY_REJECTED, NULL, 0), 0);
  }
  /* The retry then decides the same. */
  plan(1, FP_END);
  for (size_t i = 0; i < 3; i++) {
    as_retry_answer pv = preview(ids[i]);
    as_retry_answer a = retry(ids[i], want[i]);
    assert_int_equal(a.decision, pv.decision);
    assert_string_equal(a.reason, pv.reason);
    assert_string_equal(a.thread, pv.thread);
  }
}

/* --- cancel ----------------------------------------------------------------------------- */

typedef struct cancel_ctx {
  const char *id;
  as_cancel_answer ans;
  int rc;
} cancel_ctx;

static void do_cancel(void *arg) {
  cancel_ctx *c = arg;
  as_runtime r = rt();
  c->rc = as_cancel_session(&r, c->id, &c->ans);
}

static void test_cancel(void **state) {
  (void)state;
  as_runtime r = rt();
  as_cancel_answer ca = AS_CANCEL_STOPPING;
  /* Nothing running: a clear no-op. */
  start("c0", NULL);
  assert_int_equal(as_cancel_session(&r, "c0", &ca), AS_OK);
  assert_int_equal(ca, AS_CANCEL_NOT_RUNNING);
  assert_int_equal(as_cancel_session(&r, "nobody", &ca), AS_OK);
  assert_int_equal(ca, AS_CANCEL_NOT_RUNNING);
  session_is("c0", AS_SESS_NEW, "", 0);
  /* Inside the LLM call: the answer is dropped, the run ends cancelled. */
  cancel_ctx c = {.id = "c1"};
  plan(1, FP_RESOLVE);
  FP.calls = 0;
  hook_at(1, do_cancel, &c);
  start("c1", NULL);
  as_run_result res = run("c1", AS_RUN_FAILED);
  assert_int_equal(c.rc, AS_OK);
  assert_int_equal(c.ans, AS_CANCEL_STOPPING);
  assert_int_equal(res.kind, AS_ERR_CANCELLED);
  assert_int_equal(FP.calls, 1);
  session_is("c1", AS_SESS_ERROR, "cancelled", 0);
  char p[256];
  assert_int_equal(events("c1", AS_EVENT_AGENT_FINISHED, p, sizeof p), 1);
  assert_non_null(strstr(p, "\"error\":\"cancelled\""));
  assert_int_equal(as_locks_size(REG), 0);
  /* Between two tries of a call (a 429). */
  c = (cancel_ctx){.id = "c2"};
  plan(1, FP_RATE);
  FP.calls = 0;
  hook_at(1, do_cancel, &c);
  start("c2", NULL);
  res = run("c2", AS_RUN_FAILED);
  assert_int_equal(res.kind, AS_ERR_CANCELLED);
  assert_int_equal(FP.calls, 1); /* not tried again */
  /* Before the next tool call: the first runs, the second does not. */
  c = (cancel_ctx){.id = "c3"};
  plan(1, FP_LOWS);
  APP->max_tool_calls = 8;
  exec_hook = do_cancel;
  exec_arg = &c;
  exec_calls = 0;
  start("c3", NULL);
  res = run("c3", AS_RUN_FAILED);
  assert_int_equal(res.kind, AS_ERR_CANCELLED);
  assert_int_equal(exec_calls, 1);
  APP->max_tool_calls = 3;
  /* A cancelled retry leaves the in-flight set; cancelled is transient. */
  c = (cancel_ctx){.id = "c1"};
  plan(1, FP_END);
  FP.calls = 0;
  hook_at(1, do_cancel, &c);
  as_retry_answer a = retry("c1", AS_RETRY_ACCEPTED);
  assert_int_equal(a.run.kind, AS_ERR_CANCELLED);
  assert_false(as_runs_retry_in_flight(RUNS, "c1"));
  FP.hook = NULL;
  a = retry("c1", AS_RETRY_ACCEPTED);
  assert_int_equal(a.run.outcome, AS_RUN_ENDED);
  session_is("c1", AS_SESS_NEEDS_REVIEW, "", 2);
}

/* --- the database failing under a run ----------------------------------------------------- */

/* Another connection's save at each wall-clock read (the store reads it
** right before a write): it wins `other_left` of them; with other_settles,
** its last one makes the session resolved. */
static as_store *OTHER;
static int other_left;
static bool other_settles;

static void other_wins(void *arg) {
  const char *id = arg;
  if (other_left <= 0) return;
  other_left--;
  as_session s = {0};
  assert_int_equal(as_session_load(OTHER, id, &s), AS_OK);
  if (other_left == 0 && other_settles) s.status = AS_SESS_RESOLVED;
  assert_int_equal(as_session_save(OTHER, &s), AS_OK);
  as_session_clear(&s);
}

/* From inside the tool (the run began): the other writer starts winning. */
static void arm_other(void *arg) {
  ct_h.on_wall = other_wins;
  ct_h.wall_arg = arg;
  ct_h.wall_skip = 0;
  ct_h.wall_repeat = true;
}

static void test_store_failures(void **state) {
  (void)state;
  OTHER = ct_open(&D, "t.db", "wal", 0);
  as_runtime r = rt();
  as_run_result res;
  /* A writer without the lock settles the session between the retry's
  ** decision and its save: refused after all, and recorded. */
  failed("d0", "llm_timeout", NULL);
  other_left = 1;
  other_settles = true;
  arm_other((void *)"d0");
  as_retry_answer a = retry("d0", AS_RETRY_NOT_ERROR);
  ct_h.on_wall = NULL;
  assert_string_equal(a.thread, "");
  assert_int_equal(events("d0", AS_EVENT_RETRY_REJECTED, NULL, 0), 1);
  session_is("d0", AS_SESS_RESOLVED, "llm_timeout", 0);
  static const struct {
    const char *id;
    int wins;
    bool settles;
  } cases[] = {{"d1", 8, false}, {"d2", 16, false}, {"d3", 9, true}};
  for (size_t i = 0; i < 3; i++) {
    plan(1, FP_LOW);
    start(cases[i].id, NULL);
    other_left = cases[i].wins;
    other_settles = cases[i].settles;
    exec_hook = arm_other;
    exec_arg = (void *)cases[i].id;
    int rc = as_run(&r, cases[i].id, false, &res);
    ct_h.on_wall = NULL;
    assert_int_equal(other_left, 0);
    as_session s = load(cases[i].id);
    if (i == 0) {
      /* The tool call's save lost its eight tries; the failure is recorded. */
      assert_int_equal(rc, AS_OK);
      assert_int_equal(res.outcome, AS_RUN_FAILED);
      assert_int_equal(res.kind, AS_ERR_DB_BUSY);
      assert_string_equal(s.error_kind, "db_busy");
      assert_int_equal(s.status, AS_SESS_ERROR);
    } else if (i == 1) {
      /* Recording it lost its tries too: the first failure is the answer. */
      assert_int_equal(rc, AS_BUSY);
      assert_int_equal(s.status, AS_SESS_IN_PROGRESS);
    } else {
      /* Settled meanwhile: nothing to record. */
      assert_int_equal(rc, AS_OK);
      assert_int_equal(res.outcome, AS_RUN_IDLE);
      assert_int_equal(s.status, AS_SESS_RESOLVED);
    }
    as_session_clear(&s);
  }
  as_store_close(OTHER);
  OTHER = NULL;
}

/* --- every allocation and SQLite call failing in turn ---------------------------------- */

static void arm_fault(int sql, unsigned long n) {
  if (sql)
    sw_countdown(SW_COUNTDOWN, n, sql == 2 ? SQLITE_FULL : SQLITE_IOERR, 0);
  else
    fw_countdown(FW_ALLOC, n, ENOMEM, 0);
}

static bool disarm_fault(int sql) {
  bool fired = sql ? sw_fired() : fw_fired();
  if (sql)
    sw_disarm();
  else
    fw_disarm();
  return fired;
}

static bool allowed(int rc) {
  return rc == AS_OK || rc == AS_NOMEM || rc == AS_IO || rc == AS_FULL || rc == AS_INTERNAL;
}

/* Retry, preview and cancel of a failed session, each failure in turn:
** every answer is a status or a decision, nothing is left in flight or
** locked, and the session is error or moved on by one accepted retry. */
static void test_countdowns(void **state) {
  (void)state;
  as_runtime r = rt();
  for (int pass = 0; pass < 6; pass++) {
    int sql = pass % 3;
    bool denied = pass >= 3; /* a permanent kind: the refusal is recorded */
    unsigned long n;
    for (n = 1;; n++) {
      char id[32];
      snprintf(id, sizeof id, "n%d-%lu", pass, n);
      failed(id, denied ? "llm_refusal" : "llm_timeout", NULL);
      plan(1, FP_RESOLVE);
      as_retry_answer a, pv;
      arm_fault(sql, n);
      int prc = as_preview_retry(&r, id, &pv);
      int rc = as_retry_session(&r, id, false, &a);
      as_cancel_answer ca;
      int crc = as_cancel_session(&r, id, &ca);
      bool fired = disarm_fault(sql);
      if (!allowed(prc) || !allowed(rc) || crc != AS_OK)
        fail_msg("%s %lu: preview %s, retry %s, cancel %s", sql ? "SQLite call" : "allocation", n,
                 as_status_name(prc), as_status_name(rc), as_status_name(crc));
      assert_int_equal(as_locks_size(REG), 0);
      assert_int_equal(as_runs_size(RUNS), 0);
      as_session s = load(id);
      assert_true(s.retry_count <= 1);
      if (s.retry_count == 0) assert_int_equal(s.status, AS_SESS_ERROR);
      as_session_clear(&s);
      if (!fired) {
        assert_int_equal(rc, AS_OK);
        assert_int_equal(a.refusal, denied ? AS_RETRY_DENIED : AS_RETRY_ACCEPTED);
        if (!denied) assert_int_equal(a.run.outcome, AS_RUN_ENDED);
        break;
      }
    }
    print_message("retry countdown (%s): %lu %s\n", denied ? "denied" : "accepted", n,
                  sql == 2 ? "SQLite calls, disk full" : sql ? "SQLite calls" : "allocations");
  }
}

/* --- the mutants' branches (the sim build's objects) ---------------------------------------- */

#ifdef AS_WITH_MUTANTS
static void test_mutants(void **state) {
  (void)state;
  as_runtime r = rt();
  as_retry_answer a;
  /* unknown_error_transient: an unknown kind is retried. */
  assert_int_equal(as_mutant_set("unknown_error_transient"), AS_OK);
  assert_int_equal(as_error_kind_class(AS_ERR_UNKNOWN), AS_ERR_TRANSIENT);
  failed("m1", "what_is_this", NULL);
  plan(1, FP_END);
  assert_int_equal(retry("m1", AS_RETRY_ACCEPTED).run.outcome, AS_RUN_ENDED);
  /* retry_from_non_error: a finished session is retried. */
  assert_int_equal(as_mutant_set("retry_from_non_error"), AS_OK);
  start("m2", NULL);
  (void)run("m2", AS_RUN_ENDED);
  a = retry("m2", AS_RETRY_DENIED); /* needs_review: no kind, so permanent */
  assert_int_equal(a.decision, AS_RETRY_PERMANENT_ERROR);
  failed("m2b", "llm_timeout", NULL);
  /* A writer without the lock settles it before the retry's save: that
  ** too is not noticed. */
  assert_int_equal(retry("m2b", AS_RETRY_ACCEPTED).retry_count, 1);
  /* retry_count_not_incremented */
  assert_int_equal(as_mutant_set("retry_count_not_incremented"), AS_OK);
  failed("m3", "llm_timeout", NULL);
  a = retry("m3", AS_RETRY_ACCEPTED);
  assert_string_equal(a.thread, "m3:retry-1");
  session_is("m3", AS_SESS_NEEDS_REVIEW, "", 0);
  /* preview_mutates: a preview's denial is recorded. */
  assert_int_equal(as_mutant_set("preview_mutates"), AS_OK);
  failed("m4", "llm_refusal", NULL);
  assert_int_equal(preview("m4").refusal, AS_RETRY_DENIED);
  assert_int_equal(events("m4", AS_EVENT_RETRY_REJECTED, NULL, 0), 1);
  /* concurrent_retry_not_rejected: a second retry goes in flight too. */
  assert_int_equal(as_mutant_set("concurrent_retry_not_rejected"), AS_OK);
  assert_int_equal(as__runs_retry_enter(RUNS, "m5"), AS_OK);
  assert_int_equal(as__runs_retry_enter(RUNS, "m5"), AS_OK);
  assert_int_equal(as_runs_size(RUNS), 2);
  as__runs_retry_leave(RUNS, "m5");
  as__runs_retry_leave(RUNS, "m5");
  /* inflight_not_cleared_on_cancel: a cancelled retry stays in flight. */
  assert_int_equal(as_mutant_set("inflight_not_cleared_on_cancel"), AS_OK);
  failed("m6", "llm_timeout", NULL);
  cancel_ctx c = {.id = "m6"};
  plan(1, FP_END);
  FP.calls = 0;
  hook_at(1, do_cancel, &c);
  a = retry("m6", AS_RETRY_ACCEPTED);
  assert_int_equal(a.run.kind, AS_ERR_CANCELLED);
  assert_true(as_runs_retry_in_flight(RUNS, "m6"));
  assert_int_equal(retry("m6", AS_RETRY_IN_PROGRESS).refusal, AS_RETRY_IN_PROGRESS);
  as__runs_retry_leave(RUNS, "m6"); /* for the teardown's count */
  (void)r;
}
#endif

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_kinds, setup, teardown),
    cmocka_unit_test_setup_teardown(test_policy, setup, teardown),
    cmocka_unit_test_setup_teardown(test_registry, setup, teardown),
    cmocka_unit_test_setup_teardown(test_failure_recorded, setup, teardown),
    cmocka_unit_test_setup_teardown(test_retry_paths, setup, teardown),
    cmocka_unit_test_setup_teardown(test_retry_pauses, setup, teardown),
    cmocka_unit_test_setup_teardown(test_in_flight, setup, teardown),
    cmocka_unit_test_setup_teardown(test_preview_pure, setup, teardown),
    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_failures, setup, teardown),
    cmocka_unit_test_setup_teardown(test_countdowns, setup, teardown),
#ifdef AS_WITH_MUTANTS
    cmocka_unit_test_setup_teardown(test_mutants, setup, teardown),
#endif
};

int main(void) { return cmocka_run_group_tests(tests, NULL, NULL); }

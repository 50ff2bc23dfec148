/*
** test_turn_threads.c -- "real threads, same code" for the agent layer: the
** turn loop, approvals and the watchdog on the posix platform, with
** pthread-backed seam tasks, one on-disk WAL database (a connection per
** task), the incident app from fixtures/apps/ and the stub LLM (with real
** delays: its sleeps are the platform's).
**
** SESSIONS sessions in production run concurrently, each to the gated
** restart, where it pauses; an approver thread, watching the event logs as
** an approval UI would, approves some, rejects others and leaves the rest;
** the watchdog, on a real timer, times those out; API-style callers poke
** every session with try-acquire meanwhile and must be told busy or find
** nothing to do. Afterwards, read back from the database:
**
**   - every session is terminal (resolved: each path ends in mark_resolved);
**   - each approval_requested has exactly one approval_resolved, and the
**     gated call's state is the one its decision names (executed, rejected,
**     timed_out); no call is left pending;
**   - the gated restart was carried out only for approved calls (the tool
**     server's own count);
**   - every executed restart's injected environment is the session's;
**   - event seqs are contiguous; the lock registry is empty.
** Under the tsan preset the same run is checked for data races.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/app.h"
#include "agentsim/budget.h"
#include "agentsim/events.h"
#include "agentsim/finalize.h"
#include "agentsim/retry.h"
#include "agentsim/locks.h"
#include "agentsim/seam.h"
#include "agentsim/store.h"
#include "agentsim/turn.h"
#include "coretest.h"
#include "llm/stub.h"

#define SESSIONS 6
#define API_CALLERS 2
#define MS 1000000ull

static ct_dir D;

/* The incident flow, quick: the real delays are milliseconds. */
static const char SCRIPT[] =
    "agent intake\n"
    "    call 1 delay=2ms\n"
    "        tool runtime:patch_session {\"service\": \"checkout\"}\n"
    "    default delay=1ms\n"
    "        envelope {\"content\": \"recorded\", \"confidence\": 0.8, \"rationale\": \"alert\"}\n"
    "agent triage\n"
    "    call 1 delay=2ms\n"
    "        tool observability:get_service_health {\"service\": \"checkout\"}\n"
    "    default delay=1ms\n"
    "        envelope {\"content\": \"unhealthy\", \"confidence\": 0.7, \"rationale\": \"health\", "
    "\"signal\": \"investigate\"}\n"
    "agent investigate\n"
    "    call 1 delay=2ms\n"
    "        tool observability:get_logs {\"service\": \"checkout\", \"minutes\": 5}\n"
    "    default delay=1ms\n"
    "        envelope {\"content\": \"bad deploy\", \"confidence\": 0.85, \"rationale\": \"logs\", "
    "\"signal\": \"fix_ready\"}\n"
    "agent remediate\n"
    "    call 1 delay=2ms\n"
    "        tool k8s:restart_deployment {\"deployment\": \"checkout\", \"reason\": \"bad deploy\", "
    "\"environment\": \"dev\"}\n"
    "    call 2 delay=1ms\n"
    "        tool runtime:mark_resolved {\"resolution\": \"restarted\", \"confidence\": 0.9, "
    "\"rationale\": \"healthy\"}\n"
    "    default delay=1ms\n"
    "        envelope {\"content\": \"done\", \"confidence\": 0.9, \"rationale\": \"healthy\"}\n";

typedef struct world {
  as_lock_registry *reg;
  as_app *app;
  as_stub_script *script;
  as_llm llm;
  as_mutex *mu;   /* guards what follows */
  int rc;
  char what[200];
  int restarts[SESSIONS];  /* the tool server's count of carried-out restarts */
  int decided[SESSIONS];   /* 0 none, 1 approved, 2 rejected (by the approver) */
  int done;                /* runner tasks finished */
  long busy;               /* API callers told busy */
} world;

static world W;

static void fail_task(int rc, const char *fmt, ...) AS_PRINTF(2, 3);
static void fail_task(int rc, const char *fmt, ...) {
  as_mutex_lock(W.mu);
  if (W.rc == AS_OK) {
    W.rc = rc ? rc : AS_INTERNAL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(W.what, sizeof W.what, fmt, ap);
    va_end(ap);
  }
  as_mutex_unlock(W.mu);
}

static as_store *open_own(void) {
  char p[256];
  ct_path(p, sizeof p, &D, "agents.db");
  as_store_opts o = {.journal_mode = "wal", .synchronous = "full", .busy_timeout_ms = 30000};
  as_store *st = NULL;
  int rc = as_store_open(&st, p, &o);
  if (rc != AS_OK) fail_task(rc, "open: %s", as_status_name(rc));
  return st;
}

static int index_of(const char *id) { return (int)strtol(id + 1, NULL, 10); }

/* The world's tool server: counts restarts, answers the rest. */
static int exec_tool(void *ctx, const char *session_id, const as_app_tool *t, const char *args,
                     char **result) {
  (void)ctx;
  (void)args;
  if (strcmp(t->qname, "k8s:restart_deployment") == 0) {
    as_mutex_lock(W.mu);
    W.restarts[index_of(session_id)]++;
    as_mutex_unlock(W.mu);
  }
  const char *r = "{\"ok\":true}";
  *result = as_malloc(strlen(r) + 1);
  if (!*result) return AS_NOMEM;
  memcpy(*result, r, strlen(r) + 1);
  return AS_OK;
}

static as_runtime rt_for(as_store *st) {
  return (as_runtime){.st = st, .locks = W.reg, .app = W.app, .llm = &W.llm, .exec = exec_tool};
}

static void sid(char *buf, size_t cap, int i) { snprintf(buf, cap, "s%d", i); }

static void runner(void *arg) {
  int i = (int)(intptr_t)arg;
  as_store *st = open_own();
  char id[16];
  sid(id, sizeof id, i);
  as_runtime rt = rt_for(st);
  as_run_result res;
  int rc = st ? as_run(&rt, id, false, &res) : AS_IO;
  if (rc != AS_OK) fail_task(rc, "run %s: %s", id, as_status_name(rc));
  /* An API caller may have run it to the gate first: then there is
  ** nothing to do. */
  else if (res.outcome != AS_RUN_PAUSED && res.outcome != AS_RUN_IDLE)
    fail_task(AS_INTERNAL, "run %s ended %s (%s), not paused at the gate", id,
              as_run_outcome_name(res.outcome), res.error);
  as_store_close(st);
  as_mutex_lock(W.mu);
  W.done++;
  as_mutex_unlock(W.mu);
}

/* The call id's log asks approval for, or -1. */
static int64_t requested(as_store *st, const char *id) {
  as_event_list l = {0};
  int64_t call = -1;
  if (as_event_read(st, id, 0, AS_EVENT_READ_MAX, &l) != AS_OK) return -1;
  for (size_t k = 0; k < l.n; k++)
    if (strcmp(l.items[k].kind, AS_EVENT_APPROVAL_REQUESTED) == 0) {
      json_t *p = json_loads(l.items[k].payload, 0, NULL);
      call = json_integer_value(json_object_get(p, "call"));
      json_decref(p);
    }
  as_event_list_clear(&l);
  return call;
}

/* Approves even sessions, rejects those = 1 mod 3 of the odd ones, leaves
** the rest to the watchdog; then tries once more on an approved one (it
** must be told already resolved). */
static void approver(void *arg) {
  (void)arg;
  as_store *st = open_own();
  as_runtime rt = rt_for(st);
  uint64_t deadline = as_now_mono_ns() + 20000 * MS;
  int left = 0;
  for (int i = 0; i < SESSIONS; i++) left += i % 2 == 0 || i % 3 == 1;
  /* W.decided is written below under W.mu and read back only here, by
  ** this task, and by the main task after the join. */
  while (st && left > 0 && as_now_mono_ns() < deadline) {
    for (int i = 0; i < SESSIONS; i++) {
      if (W.decided[i] || !(i % 2 == 0 || i % 3 == 1)) continue;
      char id[16];
      sid(id, sizeof id, i);
      int64_t call = requested(st, id);
      if (call < 0) continue;
      as_approval_decision d = i % 2 == 0 ? AS_APPROVE : AS_REJECT;
      as_run_result res;
      int rc = as_approval_resolve(&rt, id, (size_t)call, d, false, &res);
      if (rc != AS_OK && rc != AS_EXISTS) {
        fail_task(rc, "approve %s: %s", id, as_status_name(rc));
        continue;
      }
      /* AS_EXISTS: the watchdog's timer was quicker (a slow machine, TSan). */
      as_mutex_lock(W.mu);
      W.decided[i] = rc == AS_EXISTS ? 3 : d == AS_APPROVE ? 1 : 2;
      as_mutex_unlock(W.mu);
      left--;
      if (i == 0 && rc == AS_OK) {
        int again = as_approval_resolve(&rt, id, (size_t)call, AS_APPROVE, false, &res);
        if (again != AS_EXISTS) fail_task(again, "second approval of s0: %s", as_status_name(again));
      }
    }
    as_sleep_until(as_now_mono_ns() + 5 * MS);
  }
  as_store_close(st);
}

static bool all_terminal(as_store *st) {
  for (int i = 0; i < SESSIONS; i++) {
    char id[16];
    sid(id, sizeof id, i);
    as_session s = {0};
    if (as_session_load(st, id, &s) != AS_OK) return false;
    bool t = as_session_status_terminal(s.status);
    as_session_clear(&s);
    if (!t) return false;
  }
  return true;
}

static void watchdog(void *arg) {
  (void)arg;
  as_store *st = open_own();
  as_runtime rt = rt_for(st);
  uint64_t deadline = as_now_mono_ns() + 30000 * MS;
  while (st && as_now_mono_ns() < deadline && !all_terminal(st)) {
    as_watchdog_stats ws;
    int rc = as_watchdog_tick(&rt, &ws);
    if (rc != AS_OK && rc != AS_BUSY) fail_task(rc, "watchdog: %s", as_status_name(rc));
    as_sleep_until(as_now_mono_ns() + 20 * MS);
  }
  as_store_close(st);
}

static void api_caller(void *arg) {
  (void)arg;
  as_store *st = open_own();
  as_runtime rt = rt_for(st);
  for (int n = 0; st && n < 200; n++) {
    char id[16];
    sid(id, sizeof id, n % SESSIONS);
    as_run_result res;
    int rc = as_run(&rt, id, true, &res);
    if (rc == AS_BUSY) {
      as_mutex_lock(W.mu);
      W.busy++;
      as_mutex_unlock(W.mu);
    } else if (rc != AS_OK) {
      fail_task(rc, "api run %s: %s", id, as_status_name(rc));
    } else if (res.outcome != AS_RUN_IDLE && res.outcome != AS_RUN_PAUSED) {
      fail_task(AS_INTERNAL, "api run %s: %s", id, as_run_outcome_name(res.outcome));
    }
    as_sleep_until(as_now_mono_ns() + 3 * MS);
  }
  as_store_close(st);
}

static void check_session(as_store *st, int i, int *timed_out) {
  char id[16];
  sid(id, sizeof id, i);
  as_session s = {0};
  assert_int_equal(as_session_load(st, id, &s), AS_OK);
  if (s.status != AS_SESS_RESOLVED)
    fail_msg("%s ended %s, not resolved", id, as_session_status_name(s.status));
  as_event_list l = {0};
  assert_int_equal(as_event_read(st, id, 0, AS_EVENT_READ_MAX, &l), AS_OK);
  int requested_n = 0, resolved_n = 0;
  for (size_t k = 0; k < l.n; k++) {
    assert_int_equal(l.items[k].seq, (int64_t)k + 1); /* contiguous */
    requested_n += strcmp(l.items[k].kind, AS_EVENT_APPROVAL_REQUESTED) == 0;
    resolved_n += strcmp(l.items[k].kind, AS_EVENT_APPROVAL_RESOLVED) == 0;
  }
  as_event_list_clear(&l);
  assert_int_equal(requested_n, 1);
  assert_int_equal(resolved_n, 1);
  const as_tool_call *gated = NULL;
  for (size_t k = 0; k < s.ncalls; k++) {
    assert_int_not_equal(s.calls[k].state, AS_TOOL_PENDING_APPROVAL);
    if (strcmp(s.calls[k].tool, "k8s:restart_deployment") == 0) gated = &s.calls[k];
  }
  assert_non_null(gated);
  as_tool_state want = W.decided[i] == 1   ? AS_TOOL_EXECUTED
                       : W.decided[i] == 2 ? AS_TOOL_REJECTED
                                           : AS_TOOL_TIMED_OUT; /* 0 or 3: the watchdog's */
  if (gated->state != want)
    fail_msg("%s: the restart is %s, not %s", id, as_tool_state_name(gated->state),
             as_tool_state_name(want));
  *timed_out += want == AS_TOOL_TIMED_OUT;
  assert_int_equal(W.restarts[i], W.decided[i] == 1 ? 1 : 0);
  /* The runtime's environment, not the model's "dev". */
  json_t *args = json_loads(gated->args, 0, NULL);
  assert_non_null(args);
  assert_string_equal(json_string_value(json_object_get(args, "environment")), "production");
  assert_string_equal(json_string_value(json_object_get(args, "session_id")), id);
  json_decref(args);
  as_session_clear(&s);
}

static void test_agents_on_threads(void **state) {
  (void)state;
  as_app_diag *diag = calloc(1, sizeof *diag);
  assert_non_null(diag);
  int rc = as_app_load(AS_SOURCE_DIR "/fixtures/apps/incident", &W.app, diag);
  if (rc != AS_OK) fail_msg("app: %s", diag->n ? diag->items[0].message : as_status_name(rc));
  free(diag);
  W.app->approval_timeout_ns = 300 * MS;
  as_stub_diag sd;
  rc = as_stub_script_parse(SCRIPT, sizeof SCRIPT - 1, "test.stub", &W.script, &sd);
  if (rc != AS_OK) fail_msg("script: %u:%u: %s", sd.line, sd.column, sd.message);
  assert_int_equal(as_stub_llm_new(&W.llm, W.script, 7), AS_OK);
  assert_int_equal(as_locks_new(&W.reg, 0), AS_OK);
  assert_int_equal(as_mutex_new(&W.mu), AS_OK);

  as_store *st = open_own();
  assert_non_null(st);
  as_runtime rt = rt_for(st);
  for (int i = 0; i < SESSIONS; i++) {
    char id[16];
    sid(id, sizeof id, i);
    assert_int_equal(as_session_start(&rt, id, "{\"environment\":\"production\"}"), AS_OK);
  }
  as_task *t[SESSIONS + 2 + API_CALLERS];
  size_t nt = 0;
  for (int i = 0; i < SESSIONS; i++)
    assert_int_equal(as_task_spawn(&t[nt++], "runner", runner, (void *)(intptr_t)i), AS_OK);
  assert_int_equal(as_task_spawn(&t[nt++], "approver", approver, NULL), AS_OK);
  assert_int_equal(as_task_spawn(&t[nt++], "watchdog", watchdog, NULL), AS_OK);
  for (int i = 0; i < API_CALLERS; i++)
    assert_int_equal(as_task_spawn(&t[nt++], "api", api_caller, NULL), AS_OK);
  for (size_t k = 0; k < nt; k++) assert_int_equal(as_task_join(t[k]), AS_OK);
  if (W.rc != AS_OK) fail_msg("%s", W.what);

  int timed_out = 0;
  for (int i = 0; i < SESSIONS; i++) check_session(st, i, &timed_out);
  assert_true(timed_out > 0); /* the watchdog's real timer fired */
  assert_int_equal(as_locks_size(W.reg), 0);
  print_message("agents on threads: %d sessions, %d timed out, %ld busy answers\n", SESSIONS,
                timed_out, W.busy);
  as_store_close(st);
  as_locks_free(W.reg);
  as_llm_destroy(&W.llm);
  as_stub_script_free(W.script);
  as_app_free(W.app);
  as_mutex_free(W.mu);
}

/* --- retries racing on real threads ------------------------------------------------------ */

#define RETRY_SESSIONS 4
#define RACERS 3

static const char RETRY_APP[] =
    "name: r\n"
    "entry: a\n"
    "agents:\n"
    "  a:\n"
    "    prompt: a.md\n"
    "    tools: [mark_resolved]\n"
    "    routes: {default: end}\n";

/* Each run takes a while (20 ms of model), so the racers overlap. */
static const char RETRY_SCRIPT[] =
    "agent a\n"
    "    call 1 delay=20ms\n"
    "        tool runtime:mark_resolved {\"resolution\": \"r\", \"confidence\": 0.9, \"rationale\": \"x\"}\n"
    "    default delay=1ms\n"
    "        envelope {\"content\": \"done\", \"confidence\": 0.9, \"rationale\": \"x\"}\n";

static struct {
  as_runs *runs;
  int go;                              /* under W.mu: the racers may start */
  int answers[RETRY_SESSIONS][4];      /* per refusal kind */
} R;

static void racer(void *arg) {
  int i = (int)(intptr_t)arg % RETRY_SESSIONS;
  as_store *st = open_own();
  if (!st) return;
  for (;;) { /* the start line */
    as_mutex_lock(W.mu);
    int go = R.go;
    as_mutex_unlock(W.mu);
    if (go) break;
    as_sleep_until(as_now_mono_ns() + 100000);
  }
  char id[16];
  sid(id, sizeof id, i);
  as_runtime rt = rt_for(st);
  rt.runs = R.runs;
  as_retry_answer a;
  int rc = as_retry_session(&rt, id, false, &a);
  if (rc != AS_OK) fail_task(rc, "retry %s: %s", id, as_status_name(rc));
  else if (a.refusal == AS_RETRY_ACCEPTED && a.run.outcome != AS_RUN_ENDED)
    fail_task(AS_INTERNAL, "retry %s ran and %s", id, as_run_outcome_name(a.run.outcome));
  else if (a.refusal == AS_RETRY_DENIED)
    fail_task(AS_INTERNAL, "retry %s denied: %s", id, a.reason);
  as_mutex_lock(W.mu);
  if (rc == AS_OK) R.answers[i][a.refusal]++;
  as_mutex_unlock(W.mu);
  as_store_close(st);
}

/* Several threads retry each errored session at once: exactly one wins;
** the others are told a retry is in progress (or, once it is over, that
** the session is no longer in error); the count rose by exactly one. */
static void test_retries_on_threads(void **state) {
  (void)state;
  as_app_diag *diag = calloc(1, sizeof *diag);
  assert_non_null(diag);
  int rc = as_app_load_text(RETRY_APP, sizeof RETRY_APP - 1, "app.yaml", D.path, AS_APP_NO_PROMPTS,
                            &W.app, diag);
  if (rc != AS_OK) fail_msg("app: %s", diag->items[0].message);
  free(diag);
  as_stub_diag sd;
  rc = as_stub_script_parse(RETRY_SCRIPT, sizeof RETRY_SCRIPT - 1, "retry.stub", &W.script, &sd);
  if (rc != AS_OK) fail_msg("script: %u:%u: %s", sd.line, sd.column, sd.message);
  assert_int_equal(as_stub_llm_new(&W.llm, W.script, 7), AS_OK);
  assert_int_equal(as_locks_new(&W.reg, 0), AS_OK);
  assert_int_equal(as_runs_new(&R.runs, 0), AS_OK);
  assert_int_equal(as_mutex_new(&W.mu), AS_OK);
  W.rc = AS_OK;
  R.go = 0;
  memset(R.answers, 0, sizeof R.answers);
  as_store *st = open_own();
  assert_non_null(st);
  as_runtime rt = rt_for(st);
  for (int i = 0; i < RETRY_SESSIONS; i++) {
    char id[16];
    sid(id, sizeof id, i);
    assert_int_equal(as_session_start(&rt, id, NULL), AS_OK);
    assert_int_equal(as_mark_failed_as(st, W.reg, id, "llm_timeout", "the model was slow", NULL),
                     AS_OK);
  }
  as_task *t[RETRY_SESSIONS * RACERS];
  for (size_t k = 0; k < RETRY_SESSIONS * RACERS; k++)
    assert_int_equal(as_task_spawn(&t[k], "racer", racer, (void *)(intptr_t)k), AS_OK);
  as_sleep_until(as_now_mono_ns() + 5 * MS); /* let them reach the start line */
  as_mutex_lock(W.mu);
  R.go = 1;
  as_mutex_unlock(W.mu);
  for (size_t k = 0; k < RETRY_SESSIONS * RACERS; k++) assert_int_equal(as_task_join(t[k]), AS_OK);
  if (W.rc != AS_OK) fail_msg("%s", W.what);
  int in_progress = 0;
  for (int i = 0; i < RETRY_SESSIONS; i++) {
    char id[16];
    sid(id, sizeof id, i);
    assert_int_equal(R.answers[i][AS_RETRY_ACCEPTED], 1);
    assert_int_equal(R.answers[i][AS_RETRY_ACCEPTED] + R.answers[i][AS_RETRY_IN_PROGRESS] +
                         R.answers[i][AS_RETRY_NOT_ERROR],
                     RACERS);
    in_progress += R.answers[i][AS_RETRY_IN_PROGRESS];
    as_session s = {0};
    assert_int_equal(as_session_load(st, id, &s), AS_OK);
    assert_int_equal(s.retry_count, 1);
    assert_int_equal(s.status, AS_SESS_RESOLVED);
    as_session_clear(&s);
    as_event_list l = {0};
    assert_int_equal(as_event_read(st, id, 0, AS_EVENT_READ_MAX, &l), AS_OK);
    int started = 0;
    for (size_t k = 0; k < l.n; k++) started += strcmp(l.items[k].kind, AS_EVENT_RETRY_STARTED) == 0;
    as_event_list_clear(&l);
    assert_int_equal(started, 1);
  }
  assert_true(in_progress > 0); /* they did overlap */
  assert_int_equal(as_locks_size(W.reg), 0);
  assert_int_equal(as_runs_size(R.runs), 0);
  print_message("retries on threads: %d sessions x %d racers, %d told in progress\n",
                RETRY_SESSIONS, RACERS, in_progress);
  as_store_close(st);
  as_runs_free(R.runs);
  as_locks_free(W.reg);
  as_llm_destroy(&W.llm);
  as_stub_script_free(W.script);
  as_app_free(W.app);
  as_mutex_free(W.mu);
}

/* --- triggers racing for one day's budget on real threads -------------------------------- */

#define TRIGGERS 64

/* A model of the test's own: one envelope per call, after 2 ms, reporting
** 1000 tokens in (400 of them cache reads) and 1000 out: priced below at
** $0.0282 a call; each trigger reserves $0.05. */
static const char PRICES_JSON[] =
    "{\"version\": \"threads-1\", \"models\": [{\"model\": \"m\", \"input\": \"10\","
    " \"cache_read\": \"3\", \"cache_write\": \"0\", \"output\": \"21\"}]}";
#define CALL_COST 28200 /* 600*10 + 400*3 + 1000*21 = 28200 per million: 0.028200 */

static struct {
  int go;
  unsigned calls;   /* under W.mu: the model's answers */
  int accepted, refused;
  as_budget_cfg cfg;
  as_prices prices;
} B;

static int tp_complete(void *self, const as_llm_request *req, as_llm_response *out,
                       as_llm_error *err) {
  (void)self;
  (void)req;
  (void)err;
  as_sleep_until(as_now_mono_ns() + 2 * MS);
  static const char env[] = "{\"content\": \"done\", \"confidence\": 0.9, \"rationale\": \"r\"}";
  out->structured = as_malloc(sizeof env);
  if (!out->structured) return AS_NOMEM;
  memcpy(out->structured, env, sizeof env);
  out->finish = AS_LLM_FINISH_STOP;
  out->usage_known = true;
  int rc = as_llm_usage_from_inclusive(1000, 400, 0, 1000, &out->usage);
  as_mutex_lock(W.mu);
  B.calls++;
  as_mutex_unlock(W.mu);
  return rc;
}

static void tp_destroy(void *self) { (void)self; }
static const as_llm_vtable TP_VT = {"threads", tp_complete, tp_destroy};

static void trigger_task(void *arg) {
  int i = (int)(intptr_t)arg;
  as_store *st = open_own();
  if (!st) return;
  for (;;) { /* the start line */
    as_mutex_lock(W.mu);
    int go = B.go;
    as_mutex_unlock(W.mu);
    if (go) break;
    as_sleep_until(as_now_mono_ns() + 100000);
  }
  char id[16];
  sid(id, sizeof id, i);
  as_runtime rt = rt_for(st);
  rt.budget = &B.cfg;
  as_trigger_answer a;
  as_run_result res;
  int rc = as_trigger(&rt, id, 50000, false, &a, &res);
  if (rc != AS_OK) fail_task(rc, "trigger %s: %s", id, as_status_name(rc));
  else if (a.triggered && res.outcome != AS_RUN_ENDED)
    fail_task(AS_INTERNAL, "trigger %s ran and %s (%s)", id, as_run_outcome_name(res.outcome),
              res.error);
  else if (!a.triggered && a.refusal != AS_TRIGGER_BUDGET)
    fail_task(AS_INTERNAL, "trigger %s refused: %s", id, a.reason);
  as_mutex_lock(W.mu);
  if (rc == AS_OK) *(a.triggered ? &B.accepted : &B.refused) += 1;
  as_mutex_unlock(W.mu);
  as_store_close(st);
}

static int64_t one(as_store *st, const char *sql) {
  (void)st;
  char p[256];
  ct_path(p, sizeof p, &D, "agents.db");
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *q = NULL;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  sqlite3_close(db);
  return v;
}

/* 64 threads trigger 64 sessions at once against one day's budget of $1
** on an on-disk WAL database: never over the limit, nothing lost. */
static void test_triggers_on_threads(void **state) {
  (void)state;
  as_app_diag *diag = calloc(1, sizeof *diag);
  assert_non_null(diag);
  int rc = as_app_load_text(RETRY_APP, sizeof RETRY_APP - 1, "app.yaml", D.path, AS_APP_NO_PROMPTS,
                            &W.app, diag);
  if (rc != AS_OK) fail_msg("app: %s", diag->items[0].message);
  free(diag);
  char err[256];
  rc = as_prices_parse(PRICES_JSON, sizeof PRICES_JSON - 1, "prices", &B.prices, err, sizeof err);
  if (rc != AS_OK) fail_msg("%s", err);
  B.cfg = (as_budget_cfg){.daily_limit_micros = 1000000, .cycle_estimate_micros = 50000,
                          .prices = &B.prices};
  W.llm = (as_llm){&TP_VT, NULL, 0, "m"};
  assert_int_equal(as_locks_new(&W.reg, 0), AS_OK);
  assert_int_equal(as_mutex_new(&W.mu), AS_OK);
  W.rc = AS_OK;
  B.go = 0;
  B.calls = 0;
  B.accepted = B.refused = 0;
  as_store *st = open_own();
  assert_non_null(st);
  as_runtime rt = rt_for(st);
  for (int i = 0; i < TRIGGERS; i++) {
    char id[16];
    sid(id, sizeof id, i);
    assert_int_equal(as_session_start(&rt, id, NULL), AS_OK);
  }
  as_task *t[TRIGGERS];
  for (size_t k = 0; k < TRIGGERS; k++)
    assert_int_equal(as_task_spawn(&t[k], "trigger", trigger_task, (void *)(intptr_t)k), AS_OK);
  as_sleep_until(as_now_mono_ns() + 5 * MS);
  as_mutex_lock(W.mu);
  B.go = 1;
  as_mutex_unlock(W.mu);
  for (size_t k = 0; k < TRIGGERS; k++) assert_int_equal(as_task_join(t[k]), AS_OK);
  if (W.rc != AS_OK) fail_msg("%s", W.what);
  assert_int_equal(B.accepted + B.refused, TRIGGERS);
  /* Every cycle cost less than it reserved, so spend never passes the limit;
  ** with the reservations and the check in one transaction, some must have
  ** been refused: 64 x $0.05 is more than $1. */
  int64_t spent = one(st, "SELECT COALESCE(SUM(cost_micros), 0) FROM cost_records");
  assert_true(spent <= 1000000);
  assert_true(B.refused > 0);
  assert_true(B.accepted >= 20);
  /* Nothing lost: a record per answer, each exactly priced; a reservation per
  ** accepted trigger, settled at its records' sum; an event per refusal. */
  assert_int_equal(one(st, "SELECT COUNT(*) FROM cost_records"), B.calls);
  assert_int_equal(B.calls, (unsigned)B.accepted); /* one call per cycle */
  assert_int_equal(spent, (int64_t)B.accepted * CALL_COST);
  assert_int_equal(one(st, "SELECT COUNT(DISTINCT seq) FROM cost_records"), B.calls);
  assert_int_equal(one(st, "SELECT COUNT(*) FROM budget_reservations WHERE state = 'settled'"
                           " AND outcome = 'completed'"),
                   B.accepted);
  assert_int_equal(one(st, "SELECT COUNT(*) FROM budget_reservations"), B.accepted);
  assert_int_equal(one(st, "SELECT COUNT(*) FROM budget_reservations r WHERE settled_micros !="
                           " (SELECT SUM(cost_micros) FROM cost_records c WHERE c.op_id = r.op_id)"),
                   0);
  assert_int_equal(one(st, "SELECT COUNT(*) FROM events WHERE kind = 'budget_rejected'"),
                   B.refused);
  assert_int_equal(one(st, "SELECT COUNT(*) FROM sessions WHERE status = 'needs_review'"),
                   B.accepted);
  as_budget_status bs;
  assert_int_equal(as_budget_status_get(st, &B.cfg, &bs), AS_OK);
  assert_int_equal(bs.spent_micros, spent);
  assert_int_equal(bs.reserved_micros, 0);
  assert_int_equal(bs.open_reservations, 0);
  assert_int_equal(as_locks_size(W.reg), 0);
  print_message("triggers on threads: %d accepted, %d refused, spent %lld micro-dollars of "
                "1000000\n",
                B.accepted, B.refused, (long long)spent);
  as_store_close(st);
  as_locks_free(W.reg);
  W.app = (as_app_free(W.app), NULL);
  as_mutex_free(W.mu);
}

static int setup(void **state) {
  (void)state;
  ct_dir_make(&D);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  ct_dir_remove(&D);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_agents_on_threads, setup, teardown),
      cmocka_unit_test_setup_teardown(test_retries_on_threads, setup, teardown),
      cmocka_unit_test_setup_teardown(test_triggers_on_threads, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

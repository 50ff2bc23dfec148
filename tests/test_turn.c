/*
** test_turn.c -- the turn loop, the gateway, approvals and the watchdog
** (turn.h) and the gate policy (gate.h), on the posix platform with a fake
** monotonic clock, an on-disk database, a test app (YAML, below) and the
** stub LLM answering from a script per test:
**
**   the path through two agents and their events; the gate in production,
**   the pending row with the pause, the approval that resumes, a second
**   decision refused; reject and the watchdog (not due, due, busy); the
**   gateway's refusals one by one; the patch tool's limits and the terminal
**   lock; LLM errors tried again or failing the run; envelope_missing; the
**   caps; a damaged checkpoint; session_start's checks; and every store
**   operation of a gated run with each allocation failing in turn and each
**   SQLite call failing in turn (STYLE.md rule 7), nothing leaked.
**
**   Further: the provider contract as_llm_complete holds providers to (a
**   fake provider); the gate policy on its own; every argument type and
**   refusal, shapes the stub cannot make (a test's own answers); a typed
**   terminal tool's state across a pause; each way a checkpoint can be
**   damaged; the conversation cap whatever the message past it; approvals
**   on every path, with another writer (one that takes no lock) at work
**   while the approved tool runs; the watchdog paging past a listing,
**   finding sessions gone or settled, out of locks; other writers
**   settling a session while a run begins or pauses, or winning every
**   save; extra fields that are not the runtime's; the mutants' branches
**   (the _mut build only); and the watchdog, a failing run, session_start
**   and a second decision with each allocation and SQLite call failing.
**
** The LLM the runtime sees is the stub behind a hook (HL): it records what
** the model was told, runs a test's hook before a given call, or answers
** with a test's own function.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>

#include "agentsim/app.h"
#include "agentsim/budget.h"
#include "agentsim/checkpoints.h"
#include "agentsim/events.h"
#include "agentsim/finalize.h"
#include "agentsim/fmt.h"
#include "agentsim/gate.h"
#include "agentsim/locks.h"
#include "agentsim/mutant.h"
#include "agentsim/seam.h"
#include "agentsim/store.h"
#include "agentsim/trace.h"
#include "agentsim/turn.h"
#include "coretest.h"
#include "faultwrap.h"
#include "llm/stub.h"
#include "sqlwrap.h"

static const char APP_YAML[] =
    "name: t\n"
    "entry: a\n"
    "approval_timeout: 1h\n"
    "max_agent_runs: 3\n"
    "rosters:\n"
    "  envs: [dev, prod, live]\n"
    "  teams: [ops, db]\n"
    "fields:\n"
    "  env: {type: string, roster: envs, default: dev}\n"
    "  note: {type: string}\n"
    "inject:\n"
    "  env: extra.env\n"
    "  sid: id\n"
    "  st: status\n"
    "  rc: retry_count\n"
    "gate:\n"
    "  environment_field: env\n"
    "  production: [prod, live]\n"
    "  gated_risk: high\n"
    "  min_confidence: 0.4\n"
    "escalation:\n"
    "  roster: teams\n"
    "  default_team: ops\n"
    "  legacy_tools: [srv:page]\n"
    "servers:\n"
    "  srv:\n"
    "    tools:\n"
    "      low:\n"
    "        description: a harmless tool\n"
    "        risk: low\n"
    "        args:\n"
    "          env: {type: string, required: true, roster: envs}\n"
    "          sid: {type: string}\n"
    "          n: {type: integer, required: true}\n"
    "          flag: {type: boolean}\n"
    "          obj: {type: object}\n"
    "          list: {type: array}\n"
    "          ratio: {type: number}\n"
    "      high:\n"
    "        description: a risky tool\n"
    "        risk: high\n"
    "        args:\n"
    "          env: {type: string, required: true}\n"
    "          sid: {type: string, required: true}\n"
    "          st: {type: string}\n"
    "          rc: {type: integer}\n"
    "      page:\n"
    "        description: page a team\n"
    "        risk: medium\n"
    "        args:\n"
    "          team: {type: string, required: true, roster: teams}\n"
    "agents:\n"
    "  a:\n"
    "    prompt: prompts/a.md\n"
    "    tools: [srv:low, srv:high, srv:page, patch_session, mark_resolved, mark_escalated,\n"
    "            submit_hypothesis]\n"
    "    max_calls: 6\n"
    "    routes: {next: b, default: end}\n"
    "  b:\n"
    "    prompt: prompts/b.md\n"
    "    tools: [srv:low]\n"
    "    gate: {min_confidence: 0.9}\n"
    "    routes: {loop: a, default: end}\n";

static ct_dir D;
static as_store *ST;
static as_store *OTHER; /* a second connection: a writer that does not take the lock */
static as_lock_registry *REG;
static as_app *APP;
static as_stub_script *SCR;
static as_llm LLM;
static bool have_llm;
static int exec_calls, exec_fail;
static bool approving;     /* inside as_approval_resolve (gated_flow) */
static int unapproved_high; /* srv:high carried out in production outside an approval */

/* What exec_fn does besides answering: a hook first (another writer at
** work while the tool runs), and the result it answers (NULL: {"done":1}). */
static void (*exec_hook)(void *arg);
static void *exec_arg;
static const char *exec_result;

static int exec_fn(void *ctx, const char *sid, const as_app_tool *t, const char *args, char **out) {
  (void)ctx;
  (void)sid;
  exec_calls++;
  if (strcmp(t->qname, "srv:high") == 0 && !approving && strstr(args, "\"env\":\"prod\""))
    unapproved_high++;
  if (exec_hook) {
    void (*h)(void *) = exec_hook;
    exec_hook = NULL;
    h(exec_arg);
  }
  if (exec_fail) return exec_fail;
  const char *r = exec_result ? exec_result : "{\"done\":1}";
  size_t n = strlen(r) + 1;
  *out = as_malloc(n);
  if (!*out) return AS_NOMEM;
  memcpy(*out, r, n);
  return AS_OK;
}

/* --- the LLM the runtime sees: the stub behind a hook ------------------------------- */

/* An answer a test makes itself (shapes the stub cannot produce). */
typedef int (*answer_fn)(unsigned call, const as_llm_request *req, as_llm_response *out,
                         as_llm_error *err);

#define TOLD_MAX 48
static struct {
  unsigned calls;         /* LLM calls so far, every session */
  unsigned hook_at;       /* before this call (1-based), run hook; 0: never */
  void (*hook)(void *arg);
  void *hook_arg;
  answer_fn answer;       /* NULL: the stub answers */
  char told[TOLD_MAX][200]; /* every tool message the model was sent, once each */
  size_t ntold;
  size_t nmsgs;           /* the last request's messages */
  char system[64];        /* the last request's first message */
} HL;

static int hl_complete(void *self, const as_llm_request *req, as_llm_response *out,
                       as_llm_error *err) {
  (void)self;
  HL.calls++;
  HL.nmsgs = req->nmsgs;
  snprintf(HL.system, sizeof HL.system, "%s",
           req->nmsgs && req->msgs[0].text ? req->msgs[0].text : "");
  for (size_t i = 0; i < req->nmsgs && HL.ntold < TOLD_MAX; i++) {
    if (req->msgs[i].role != AS_LLM_TOOL) continue;
    char t[sizeof HL.told[0]];
    snprintf(t, sizeof t, "%s", req->msgs[i].text);
    bool seen = false;
    for (size_t k = 0; k < HL.ntold && !seen; k++) seen = strcmp(HL.told[k], t) == 0;
    if (!seen) memcpy(HL.told[HL.ntold++], t, sizeof t);
  }
  if (HL.hook && HL.calls == HL.hook_at) HL.hook(HL.hook_arg);
  return HL.answer ? HL.answer(HL.calls, req, out, err) : as_llm_complete(&LLM, req, out, err);
}

static const as_llm_vtable HL_VT = {"hooked", hl_complete, NULL};
static as_llm HLLM = {&HL_VT, NULL, 0, NULL};

/* Whether the model was told something containing what. */
static bool told(const char *what) {
  for (size_t i = 0; i < HL.ntold; i++)
    if (strstr(HL.told[i], what)) return true;
  return false;
}

static void assert_told(const char *what) {
  if (!told(what)) fail_msg("the model was not told \"%s\" (%zu tool messages)", what, HL.ntold);
}

/* Run hook before the next LLM call. */
static void hook_next(void (*hook)(void *), void *arg) {
  HL.hook = hook;
  HL.hook_arg = arg;
  HL.hook_at = HL.calls + 1;
}

static as_runtime rt(void) {
  return (as_runtime){.st = ST, .locks = REG, .app = APP, .llm = &HLLM, .exec = exec_fn};
}

static void script(const char *text) {
  if (have_llm) as_llm_destroy(&LLM);
  as_stub_script_free(SCR);
  SCR = NULL;
  as_stub_diag d;
  if (as_stub_script_parse(text, strlen(text), "t.stub", &SCR, &d) != AS_OK)
    fail_msg("script %u:%u: %s", d.line, d.column, d.message);
  assert_int_equal(as_stub_llm_new(&LLM, SCR, 1), AS_OK);
  have_llm = true;
}

static int setup(void **state) {
  (void)state;
  fw_reset();
  sw_reset();
  ct_hooks_install(true);
  ct_dir_make(&D);
  ST = ct_open(&D, "t.db", "wal", 0);
  OTHER = ct_open(&D, "t.db", "wal", 0);
  as_app_diag *diag = calloc(1, sizeof *diag);
  int rc = as_app_load_text(APP_YAML, sizeof APP_YAML - 1, "app.yaml", D.path, AS_APP_NO_PROMPTS,
                            &APP, diag);
  if (rc != AS_OK) fail_msg("app: %u:%u: %s", diag->items[0].line, diag->items[0].column,
                            diag->items[0].message);
  free(diag);
  exec_calls = exec_fail = unapproved_high = 0;
  approving = false;
  exec_hook = NULL;
  exec_result = NULL;
  memset(&HL, 0, sizeof HL);
  if (as_locks_new(&REG, 0) != AS_OK || as_lock_acquire(REG, "warm") != AS_OK) return -1;
  return as_lock_release(REG, "warm") == AS_OK ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  fw_reset();
  sw_reset();
#ifdef AS_WITH_MUTANTS
  assert_int_equal(as_mutant_set(NULL), AS_OK);
#endif
  if (have_llm) as_llm_destroy(&LLM);
  have_llm = false;
  as_stub_script_free(SCR);
  SCR = NULL;
  as_app_free(APP);
  as_locks_free(REG);
  as_store_close(OTHER);
  as_store_close(ST);
  ct_dir_remove(&D);
  (void)as_platform_set(&as_platform_posix);
  return 0;
}

/* --- another writer (no lock), as a hook or between steps --------------------------- */

typedef struct other_write {
  const char *id;
  as_session_status status; /* AS__SESS_COUNT: leave it */
  const char *extra;        /* NULL: leave it */
  long call;                /* -1: no call changes */
  as_tool_state call_state;
  const char *call_tool;    /* NULL: keep its tool */
  const char *add_tool;     /* NULL: none; else an executed call of it is appended */
  int runs;
} other_write;

static void other_writer(void *arg) {
  other_write *w = arg;
  as_session s = {0};
  assert_int_equal(as_session_load(OTHER, w->id, &s), AS_OK);
  if (w->status != AS__SESS_COUNT) s.status = w->status;
  if (w->extra) assert_int_equal(as_session_set_extra(&s, w->extra), AS_OK);
  if (w->call >= 0) {
    assert_true((size_t)w->call < s.ncalls);
    s.calls[w->call].state = w->call_state;
    if (w->call_tool)
      snprintf(s.calls[w->call].tool, sizeof s.calls[w->call].tool, "%s", w->call_tool);
  }
  if (w->add_tool)
    assert_int_equal(as_session_add_call(&s, w->add_tool, NULL, NULL, AS_TOOL_EXECUTED), AS_OK);
  assert_int_equal(as_session_save(OTHER, &s), AS_OK);
  as_session_clear(&s);
  w->runs++;
}

static other_write other(const char *id) {
  return (other_write){.id = id, .status = AS__SESS_COUNT, .call = -1};
}

/* Arm other_writer at the next as_now_wall_ns() (the store reads it right
** before a write transaction: after a step's load, before its save). */
static void arm_wall(other_write *w, bool repeat) {
  ct_h.on_wall = other_writer;
  ct_h.wall_arg = w;
  ct_h.wall_skip = 0;
  ct_h.wall_repeat = repeat;
}

static void arm_wall_hook(void *arg) { arm_wall(arg, false); }

/* SQL on a side connection (RAW when a test keeps one open), for what the
** API cannot do. */
static sqlite3 *RAW;

static void raw(const char *sql) {
  sqlite3 *db = RAW ? RAW : ct_raw_open(&D, "t.db");
  ct_raw_exec(db, sql);
  if (!RAW) ct_raw_close(db);
}

/* Remove session id and everything it owns. */
static void drop_session(void *arg) {
  char sql[512];
  const char *id = arg;
  snprintf(sql, sizeof sql,
           "DELETE FROM tool_calls WHERE session_id = '%s'; DELETE FROM events WHERE session_id = "
           "'%s'; DELETE FROM checkpoints WHERE thread_id = '%s'; DELETE FROM sessions WHERE id = "
           "'%s';",
           id, id, id, id);
  raw(sql);
}

static void drop_calls(void *arg) {
  char sql[256];
  snprintf(sql, sizeof sql, "DELETE FROM tool_calls WHERE session_id = '%s'", (const char *)arg);
  raw(sql);
}

/* The checkpoint of id, parsed. */
static json_t *ckpt_get(const char *id) {
  size_t cap = AS_CHECKPOINT_MAX, len = 0;
  char *buf = malloc(cap + 1);
  assert_non_null(buf);
  assert_int_equal(as_checkpoint_get(ST, id, buf, cap, &len), AS_OK);
  json_t *o = json_loadb(buf, len, 0, NULL);
  free(buf);
  assert_non_null(o);
  return o;
}

static void ckpt_put(const char *id, json_t *o) {
  char *t = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  assert_non_null(t);
  assert_int_equal(as_checkpoint_put(ST, id, t, strlen(t)), AS_OK);
  free(t);
}

/* Pad id's event log with n events nobody reads. */
static void pad_events(const char *id, size_t n) {
  for (size_t i = 0; i < n; i++)
    assert_int_equal(as_event_append(ST, id, "pad", NULL, NULL), AS_OK);
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

/* A run the database failed under after it began: the session records it
** (io_error) and the call answers AS_OK with the run failed. */
static void assert_io_failed(const char *id, int rc, const as_run_result *res) {
  assert_int_equal(rc, AS_OK);
  assert_int_equal(res->outcome, AS_RUN_FAILED);
  assert_string_equal(res->error_kind, "io_error");
  as_session s = {0};
  assert_int_equal(as_session_load(ST, id, &s), AS_OK);
  assert_int_equal(s.status, AS_SESS_ERROR);
  assert_string_equal(s.error_kind, "io_error");
  assert_non_null(strstr(s.error_cause, "input/output"));
  as_session_clear(&s);
}

static as_session load(const char *id) {
  as_session s = {0};
  assert_int_equal(as_session_load(ST, id, &s), AS_OK);
  return s;
}

static size_t events(const char *id, const char *kind) {
  as_event_list l = {0};
  assert_int_equal(as_event_read(ST, id, 0, AS_EVENT_READ_MAX, &l), AS_OK);
  size_t n = 0;
  for (size_t i = 0; i < l.n; i++) n += strcmp(l.items[i].kind, kind) == 0;
  as_event_list_clear(&l);
  return n;
}

/* The number at key in the last event of kind in id's log (-1: none). */
static double event_num(const char *id, const char *kind, const char *key) {
  as_event_list l = {0};
  assert_int_equal(as_event_read(ST, id, 0, AS_EVENT_READ_MAX, &l), AS_OK);
  double v = -1;
  for (size_t i = 0; i < l.n; i++)
    if (strcmp(l.items[i].kind, kind) == 0) {
      json_t *o = json_loads(l.items[i].payload, 0, NULL);
      json_t *x = json_object_get(o, key);
      v = json_is_number(x) ? json_number_value(x) : -1;
      json_decref(o);
    }
  as_event_list_clear(&l);
  return v;
}

/* Every event of id's log, however many pages. */
static size_t events_all(const char *id) {
  size_t n = 0;
  int64_t after = 0;
  for (;;) {
    as_event_list l = {0};
    assert_int_equal(as_event_read(ST, id, after, AS_EVENT_READ_MAX, &l), AS_OK);
    n += l.n;
    size_t got = l.n;
    if (got) after = l.items[got - 1].seq;
    as_event_list_clear(&l);
    if (got < AS_EVENT_READ_MAX) return n;
  }
}

/* The value of key in a JSON text (a new reference). */
static json_t *jget(const char *text, const char *key) {
  json_t *o = json_loads(text, 0, NULL);
  json_t *v = json_incref(json_object_get(o, key));
  json_decref(o);
  return v;
}

static void assert_jstr(const char *text, const char *key, const char *want) {
  json_t *v = jget(text, key);
  if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0)
    fail_msg("%s in %s is not \"%s\"", key, text, want);
  json_decref(v);
}

static double jnum(const char *text, const char *key) {
  json_t *v = jget(text, key);
  double d = json_is_number(v) ? json_number_value(v) : -1;
  json_decref(v);
  return d;
}

/* --- the path through two agents --------------------------------------------------- */

static void test_two_agents(void **state) {
  (void)state;
  script("agent a\n"
         "    call 1\n"
         "        tool srv:low {\"n\": 1, \"env\": \"prod\", \"junk\": true}\n"
         "        tool runtime:patch_session {\"note\": \"seen\", \"confidence\": 0.8}\n"
         "    call 2\n"
         "        envelope {\"content\": \"over to b\", \"confidence\": 0.8, \"rationale\": \"r\", \"signal\": \"next\"}\n"
         "agent b\n"
         "    call 1\n"
         "        envelope in=fence {\"content\": \"done\", \"confidence\": 0.95, \"rationale\": \"r\"}\n");
  start("s1", NULL);
  as_run_result res = run("s1", AS_RUN_ENDED);
  assert_int_equal(res.status, AS_SESS_NEEDS_REVIEW);
  as_session s = load("s1");
  assert_int_equal(s.ncalls, 2);
  assert_string_equal(s.calls[0].tool, "srv:low");
  assert_jstr(s.calls[0].args, "env", "dev"); /* the session's, not the model's */
  assert_jstr(s.calls[0].args, "sid", "s1");
  json_t *junk = jget(s.calls[0].args, "junk");
  assert_null(junk); /* a key the tool does not take */
  assert_true(jnum(s.calls[0].result, "done") == 1);
  assert_string_equal(s.calls[1].tool, "runtime:patch_session");
  assert_jstr(s.extra, "note", "seen");
  assert_true(jnum(s.extra, "confidence") == 0.8);
  assert_int_equal(events("s1", AS_EVENT_AGENT_STARTED), 2);
  assert_int_equal(events("s1", AS_EVENT_AGENT_FINISHED), 2);
  assert_int_equal(events("s1", AS_EVENT_ROUTE_DECIDED), 2);
  assert_int_equal(events("s1", AS_EVENT_CONFIDENCE_EMITTED), 2);
  assert_int_equal(events("s1", AS_EVENT_TOOL_INVOKED), 2);
  assert_int_equal(events("s1", AS_EVENT_STATUS_CHANGED), 2); /* in_progress, needs_review */
  assert_int_equal(exec_calls, 1);
  assert_int_equal(as_locks_size(REG), 0);
  (void)run("s1", AS_RUN_IDLE); /* terminal: nothing to do */
  as_session_clear(&s);
}


/* --- the gate, the pause and the approval ------------------------------------------ */

static const char GATED[] =
    "agent a\n"
    "    call 1\n"
    "        tool srv:high {\"env\": \"dev\"}\n"
    "    call 2\n"
    "        tool runtime:mark_resolved {\"resolution\": \"fixed\", \"confidence\": 0.9, \"rationale\": \"ok\"}\n"
    "        tool runtime:patch_session {\"note\": \"after\", \"confidence\": 0.1, \"rationale\": \"doubt\"}\n"
    "    call 3\n"
    "        envelope {\"content\": \"fixed\", \"confidence\": 0.5, \"rationale\": \"ok\"}\n";

static int resolve(const char *id, size_t call, as_approval_decision d, as_run_result *res) {
  as_runtime r = rt();
  return as_approval_resolve(&r, id, call, d, false, res);
}

static void test_gate_and_approve(void **state) {
  (void)state;
  script(GATED);
  start("p1", "{\"env\": \"prod\"}");
  as_run_result res = run("p1", AS_RUN_PAUSED);
  assert_int_equal(res.status, AS_SESS_AWAITING_INPUT);
  assert_int_equal(exec_calls, 0); /* not before its approval */
  as_session s = load("p1");
  assert_int_equal(s.status, AS_SESS_AWAITING_INPUT);
  assert_int_equal(s.ncalls, 1);
  assert_int_equal(s.calls[0].state, AS_TOOL_PENDING_APPROVAL);
  assert_jstr(s.calls[0].args, "env", "prod");
  assert_jstr(s.calls[0].args, "sid", "p1");
  assert_jstr(s.calls[0].args, "st", "in_progress");
  assert_true(jnum(s.calls[0].args, "rc") == 0);
  as_session_clear(&s);
  assert_int_equal(events("p1", AS_EVENT_GATE_FIRED), 1);
  assert_int_equal(events("p1", AS_EVENT_APPROVAL_REQUESTED), 1);
  (void)run("p1", AS_RUN_IDLE); /* still waiting */
  assert_int_equal(resolve("p1", 0, AS_APPROVE, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_ENDED);
  assert_int_equal(res.status, AS_SESS_RESOLVED);
  assert_int_equal(exec_calls, 1);
  s = load("p1");
  assert_int_equal(s.calls[0].state, AS_TOOL_EXECUTED);
  assert_true(jnum(s.calls[0].result, "done") == 1);
  /* The terminal lock: the patch after mark_resolved kept its note only. */
  assert_jstr(s.extra, "note", "after");
  assert_true(jnum(s.extra, "confidence") == 0.9);
  assert_jstr(s.extra, "rationale", "ok");
  assert_jstr(s.extra, "resolution", "fixed");
  as_session_clear(&s);
  assert_int_equal(resolve("p1", 0, AS_APPROVE, &res), AS_EXISTS);
  assert_int_equal(resolve("p1", 1, AS_APPROVE, &res), AS_EXISTS); /* settled: too late */
  assert_int_equal(resolve("p1", 99, AS_APPROVE, &res), AS_NOTFOUND);
  assert_int_equal(resolve("nope", 0, AS_APPROVE, &res), AS_NOTFOUND);
  assert_int_equal(exec_calls, 1);
  assert_int_equal(events("p1", AS_EVENT_APPROVAL_RESOLVED), 1);
  assert_int_equal(as_locks_size(REG), 0);
}

static void test_reject_and_watchdog(void **state) {
  (void)state;
  script(GATED);
  start("r1", "{\"env\": \"prod\"}");
  start("w1", "{\"env\": \"prod\"}");
  start("w2", "{\"env\": \"prod\"}");
  (void)run("r1", AS_RUN_PAUSED);
  (void)run("w1", AS_RUN_PAUSED);
  (void)run("w2", AS_RUN_PAUSED);
  as_run_result res;
  assert_int_equal(resolve("r1", 0, AS_REJECT, &res), AS_OK);
  as_session s = load("r1");
  assert_int_equal(s.calls[0].state, AS_TOOL_REJECTED);
  as_session_clear(&s);
  as_runtime r = rt();
  as_watchdog_stats ws;
  assert_int_equal(as_watchdog_tick(&r, &ws), AS_OK);
  assert_int_equal(ws.resolved, 0); /* not due for an hour */
  assert_int_equal(ws.looked, 2);
  APP->approval_timeout_ns = 0;
  assert_int_equal(as_lock_acquire(REG, "w2"), AS_OK); /* someone is at w2 */
  assert_int_equal(as_watchdog_tick(&r, &ws), AS_OK);
  assert_int_equal(ws.resolved, 1);
  assert_int_equal(ws.skipped, 1);
  assert_int_equal(as_lock_release(REG, "w2"), AS_OK);
  s = load("w1");
  assert_int_equal(s.calls[0].state, AS_TOOL_TIMED_OUT);
  assert_int_equal(s.status, AS_SESS_RESOLVED);
  as_session_clear(&s);
  assert_int_equal(as_watchdog_tick(&r, &ws), AS_OK);
  assert_int_equal(ws.resolved, 1);
  assert_int_equal(exec_calls, 0);
  assert_int_equal(as_watchdog_tick(NULL, &ws), AS_INVAL);
  /* A session a finalize settled meanwhile: the decision comes too late. */
  APP->approval_timeout_ns = 3600000000000ull;
  start("f1", "{\"env\": \"prod\"}");
  (void)run("f1", AS_RUN_PAUSED);
  assert_int_equal(as_finalize(ST, REG, "f1", NULL, NULL), AS_OK);
  assert_int_equal(resolve("f1", 0, AS_APPROVE, &res), AS_EXISTS);
  assert_int_equal(exec_calls, 0);
}

/* --- the gateway's refusals ------------------------------------------------------------- */

static void test_gateway_refusals(void **state) {
  (void)state;
  script("agent a\n"
         "    call 1\n"
         "        tool srv:nope {}\n"
         "        tool srv:low {}\n"
         "        tool srv:low {\"n\": \"many\"}\n"
         "        tool srv:page {\"team\": \"nobody\"}\n"
         "        tool runtime:mark_escalated {\"team\": \"nobody\", \"confidence\": 0.5, \"rationale\": \"r\"}\n"
         "        tool runtime:mark_resolved {\"resolution\": \"r\", \"confidence\": 2, \"rationale\": \"r\"}\n"
         "        tool runtime:patch_session {\"status\": \"resolved\"}\n"
         "        tool runtime:patch_session {\"bogus\": 1}\n"
         "        tool runtime:patch_session {\"confidence\": 5}\n"
         "        tool runtime:patch_session {\"resolution\": \"x\"}\n"
         "    call 2\n"
         "        tool srv:low {\"n\": 2}\n"
         "        tool runtime:submit_hypothesis {\"hypothesis\": \"h\", \"confidence\": 0.7, \"rationale\": \"r\"}\n"
         "    call 3\n"
         "        envelope {\"content\": \"c\", \"confidence\": 0.7, \"rationale\": \"r\"}\n");
  start("g1", NULL);
  exec_fail = AS_IO; /* the tool server fails: the run fails, transient */
  as_run_result res = run("g1", AS_RUN_FAILED);
  assert_int_equal(res.status, AS_SESS_ERROR);
  assert_int_equal(res.kind, AS_ERR_TOOL_UNAVAILABLE);
  as_session s = load("g1");
  assert_int_equal(s.ncalls, 0); /* nothing ran: the hypothesis came after */
  assert_string_equal(s.error_kind, "tool_unavailable");
  assert_non_null(strstr(s.error_cause, "srv:low failed"));
  assert_jstr(s.extra, "env", "dev");
  as_session_clear(&s);
  assert_int_equal(exec_calls, 1);
  assert_int_equal(events("g1", AS_EVENT_AGENT_FINISHED), 1);
  /* A tool that refused its arguments: permanent; any other failure too. */
  static const struct {
    int xrc;
    const char *kind;
  } fails[] = {{AS_INVAL, "validation"}, {AS_PARSE, "validation"}, {AS_TIMEDOUT, "tool_unavailable"},
               {AS_BUSY, "tool_unavailable"}, {AS_NOTFOUND, "tool_failed"}};
  for (size_t i = 0; i < sizeof fails / sizeof fails[0]; i++) {
    char id[16];
    snprintf(id, sizeof id, "g1-%zu", i);
    start(id, NULL);
    exec_fail = fails[i].xrc;
    res = run(id, AS_RUN_FAILED);
    assert_string_equal(res.error_kind, fails[i].kind);
  }
  exec_fail = 0;
}

/* A low confidence gates any app tool; an agent's own floor wins. */
static void test_low_confidence_gate(void **state) {
  (void)state;
  script("agent a\n"
         "    call 1\n"
         "        tool runtime:patch_session {\"confidence\": 0.5}\n"
         "    call 2\n"
         "        envelope {\"content\": \"to b\", \"confidence\": 0.5, \"rationale\": \"r\", \"signal\": \"next\"}\n"
         "agent b\n"
         "    call 1\n"
         "        tool srv:low {\"n\": 3}\n");
  start("c1", NULL);
  as_run_result res = run("c1", AS_RUN_PAUSED); /* 0.5 is below b's 0.9 */
  (void)res;
  assert_int_equal(events("c1", AS_EVENT_GATE_FIRED), 1);
  as_runtime r = rt();
  assert_int_equal(as_approval_resolve(&r, "c1", 0, AS_APPROVE, false, &res), AS_INVAL); /* never gated */
  const as_app_tool *low = as_app_tool_find(APP, "srv:low");
  const as_app_tool *mr = as_app_tool_find(APP, "mark_resolved");
  as_session s = load("c1");
  assert_int_equal(as_should_gate(&s, APP, NULL, low, true, 0.5), AS_GATE_PASS); /* policy 0.4 */
  assert_int_equal(as_should_gate(&s, APP, NULL, low, true, 0.3), AS_GATE_LOW_CONFIDENCE);
  assert_int_equal(as_should_gate(&s, APP, NULL, low, false, 0), AS_GATE_PASS);
  assert_int_equal(as_should_gate(&s, APP, NULL, mr, true, 0.0), AS_GATE_PASS); /* built-ins never */
  assert_int_equal(as_should_gate(NULL, APP, NULL, low, true, 0.0), AS_GATE_PASS);
  as_session_clear(&s);
  assert_string_equal(as_gate_decision_name(AS_GATE_LOW_CONFIDENCE), "low_confidence");
  assert_string_equal(as_gate_decision_name(AS__GATE_COUNT), "?");
  assert_string_equal(as_run_outcome_name(AS__RUN_COUNT), "?");
}

/* --- LLM errors, the envelope, the caps ---------------------------------------------------- */

static void test_llm_errors(void **state) {
  (void)state;
  script("agent a\n"
         "    call 1 attempt=1\n"
         "        rate_limited retry_after=2s \"slow down\"\n"
         "    call 1 attempt=2\n"
         "        timeout\n"
         "    call 1\n"
         "        envelope {\"content\": \"c\", \"confidence\": 0.6, \"rationale\": \"r\"}\n");
  start("e1", NULL);
  uint64_t t0 = as_now_mono_ns();
  (void)run("e1", AS_RUN_ENDED);
  assert_true(as_now_mono_ns() - t0 >= 2000000000ull); /* it waited the retry-after */
  script("agent a\n    call 1\n        refusal \"no\"\n");
  start("e2", NULL);
  as_run_result res = run("e2", AS_RUN_FAILED);
  assert_string_equal(res.error_kind, "llm_refusal");
  as_session s = load("e2");
  assert_int_equal(s.status, AS_SESS_ERROR);
  as_session_clear(&s);
  assert_int_equal(events("e2", AS_EVENT_AGENT_FINISHED), 1);
  script("agent a\n    call 1\n        server_error status=503 \"down\"\n");
  start("e3", NULL);
  res = run("e3", AS_RUN_FAILED);
  assert_string_equal(res.error_kind, "llm_server_error");
  script("agent a\n    call 1\n        text \"I think it is fine.\"\n");
  start("e4", NULL);
  res = run("e4", AS_RUN_FAILED);
  assert_string_equal(res.error_kind, "envelope_missing");
}

static void test_caps(void **state) {
  (void)state;
  script("agent a\n    default\n        tool srv:low {\"n\": 1}\n");
  start("k1", NULL);
  as_run_result res = run("k1", AS_RUN_FAILED);
  assert_string_equal(res.error_kind, "turn_cap");
  as_session s = load("k1");
  assert_int_equal(s.ncalls, 6);
  as_session_clear(&s);
  script("agent a\n    default\n        envelope {\"content\": \"c\", \"confidence\": 0.6, \"rationale\": \"r\", \"signal\": \"next\"}\n"
         "agent b\n    default\n        envelope {\"content\": \"c\", \"confidence\": 0.95, \"rationale\": \"r\", \"signal\": \"loop\"}\n");
  start("k2", NULL);
  res = run("k2", AS_RUN_FAILED);
  assert_string_equal(res.error_kind, "agent_run_cap");
}

/* --- resuming, and what cannot be resumed ------------------------------------------------- */

static void test_resume_paths(void **state) {
  (void)state;
  script(GATED);
  /* in_progress without a checkpoint: the run begins again. */
  start("m1", NULL);
  as_session s = load("m1");
  s.status = AS_SESS_IN_PROGRESS;
  assert_int_equal(as_session_save(ST, &s), AS_OK);
  as_session_clear(&s);
  (void)run("m1", AS_RUN_ENDED);
  /* A damaged checkpoint: the approval resolves, the resume cannot go on. */
  start("m2", "{\"env\": \"prod\"}");
  (void)run("m2", AS_RUN_PAUSED);
  assert_int_equal(as_checkpoint_put(ST, "m2", "{\"v\": 9}", 8), AS_OK);
  as_run_result res;
  assert_io_failed("m2", resolve("m2", 0, AS_APPROVE, &res), &res);
  start("m3", "{\"env\": \"prod\"}");
  (void)run("m3", AS_RUN_PAUSED);
  assert_int_equal(as_checkpoint_put(ST, "m3", "not json", 8), AS_OK);
  assert_io_failed("m3", resolve("m3", 0, AS_REJECT, &res), &res);
  /* Busy: an API caller's try, and a missing session. */
  start("m4", NULL);
  assert_int_equal(as_lock_acquire(REG, "m4"), AS_OK);
  as_runtime r = rt();
  assert_int_equal(as_run(&r, "m4", true, &res), AS_BUSY);
  assert_int_equal(as_approval_resolve(&r, "m4", 0, AS_APPROVE, true, &res), AS_BUSY);
  assert_int_equal(as_lock_release(REG, "m4"), AS_OK);
  assert_int_equal(as_run(&r, "none", false, &res), AS_NOTFOUND);
  assert_int_equal(as_run(NULL, "m4", false, &res), AS_INVAL);
  assert_int_equal(as_approval_resolve(&r, "m4", 0, (as_approval_decision)7, false, &res), AS_INVAL);
}

static void test_session_start(void **state) {
  (void)state;
  as_runtime r = rt();
  assert_int_equal(as_session_start(&r, "x1", NULL), AS_OK);
  as_session s = load("x1");
  assert_jstr(s.extra, "env", "dev"); /* the field's default */
  as_session_clear(&s);
  assert_int_equal(as_session_start(&r, "x1", NULL), AS_EXISTS);
  assert_int_equal(as_session_start(&r, "x2", "{oops"), AS_PARSE);
  assert_int_equal(as_session_start(&r, "x3", "[1]"), AS_INVAL);
  assert_int_equal(as_session_start(&r, "x4", "{\"color\": \"red\"}"), AS_INVAL);
  assert_int_equal(as_session_start(&r, "x5", "{\"note\": 3}"), AS_INVAL);
  assert_int_equal(as_session_start(&r, "x6", "{\"env\": \"moon\"}"), AS_INVAL);
  assert_int_equal(as_session_start(NULL, "x7", NULL), AS_INVAL);
  assert_int_equal(as_session_start(&r, "x8", "{\"note\": \"n\", \"env\": \"prod\"}"), AS_OK);
}

/* --- the provider contract (llm.c) ------------------------------------------------------- */

/* What the fake provider answers. */
enum {
  FP_EMPTY, FP_TEXT, FP_STRUCT, FP_CALL, FP_LONG_TEXT, FP_LONG_STRUCT, FP_CALLS17,
  FP_CALLS_NULL, FP_FINISH, FP_NO_ARGS, FP_ID, FP_NAME, FP_LONG_ARGS
};

static struct {
  int rc;
  as_llm_error_kind kind;
  int shape;
  int called, destroyed;
} FP;

static char *text_of(size_t n, char c) {
  char *p = as_malloc(n + 1);
  assert_non_null(p);
  memset(p, c, n);
  p[n] = '\0';
  return p;
}

static char *text_dup(const char *s) {
  size_t n = strlen(s);
  char *p = as_malloc(n + 1);
  assert_non_null(p);
  memcpy(p, s, n + 1);
  return p;
}

/* n tool calls of tool name with args, owned as a provider owns them. */
static void calls_fill(as_llm_response *out, size_t n, const char *name, const char *args) {
  out->calls = as_calloc(n, sizeof *out->calls);
  assert_non_null(out->calls);
  out->ncalls = n;
  for (size_t i = 0; i < n; i++) {
    snprintf(out->calls[i].id, sizeof out->calls[i].id, "call_%zu", i + 1);
    snprintf(out->calls[i].name, sizeof out->calls[i].name, "%s", name);
    out->calls[i].args = text_dup(args);
  }
  out->finish = AS_LLM_FINISH_TOOL_CALLS;
}

static int fp_complete(void *self, const as_llm_request *req, as_llm_response *out,
                       as_llm_error *err) {
  (void)self;
  (void)req;
  FP.called++;
  switch (FP.shape) {
  case FP_TEXT: out->text = text_dup("hello"); break;
  case FP_STRUCT: out->structured = text_dup("{}"); break;
  case FP_CALL: calls_fill(out, 1, "srv:low", "{}"); break;
  case FP_LONG_TEXT: out->text = text_of(AS_LLM_TEXT_MAX + 1, 'a'); break;
  case FP_LONG_STRUCT: out->structured = text_of(AS_LLM_TEXT_MAX + 1, 'a'); break;
  case FP_CALLS17: calls_fill(out, AS_LLM_CALLS_MAX + 1, "srv:low", "{}"); break;
  case FP_CALLS_NULL: out->ncalls = 1; break;
  case FP_FINISH:
    out->text = text_dup("x");
    out->finish = (as_llm_finish)99;
    break;
  case FP_NO_ARGS:
    calls_fill(out, 1, "srv:low", "{}");
    as_free(out->calls[0].args);
    out->calls[0].args = NULL;
    break;
  case FP_ID:
    calls_fill(out, 1, "srv:low", "{}");
    memset(out->calls[0].id, 'i', sizeof out->calls[0].id);
    break;
  case FP_NAME:
    calls_fill(out, 1, "srv:low", "{}");
    memset(out->calls[0].name, 'n', sizeof out->calls[0].name);
    break;
  case FP_LONG_ARGS:
    calls_fill(out, 1, "srv:low", "{}");
    as_free(out->calls[0].args);
    out->calls[0].args = text_of(AS_LLM_ARGS_MAX + 1, ' ');
    break;
  default: break;
  }
  err->kind = FP.kind;
  return FP.rc;
}

static void fp_destroy(void *self) {
  (void)self;
  FP.destroyed++;
}

static const as_llm_vtable FP_VT = {"fake", fp_complete, fp_destroy};
static const as_llm_vtable FP_ANON = {NULL, fp_complete, NULL};
static const as_llm_vtable FP_NONE = {"none", NULL, NULL};
static const as_llm_message FP_MSG = {.role = AS_LLM_USER, .text = "hi"};

/* One checked call of a fake provider answering shape with rc and kind. A
** failure always leaves the response empty. */
static int fp_call(const as_llm_vtable *vt, int rc, as_llm_error_kind kind, int shape,
                   as_llm_error *err) {
  as_llm llm = {vt, NULL, 0, NULL};
  as_llm_request req = {.session_id = "s", .agent = "a", .call = 1, .attempt = 1,
                        .msgs = &FP_MSG, .nmsgs = 1};
  as_llm_response out;
  FP.rc = rc;
  FP.kind = kind;
  FP.shape = shape;
  int got = as_llm_complete(&llm, &req, &out, err);
  if (got != AS_OK) {
    assert_null(out.text);
    assert_null(out.calls);
    assert_int_equal(out.ncalls, 0);
    assert_null(out.structured);
  }
  as_llm_response_clear(&out);
  return got;
}

static void test_llm_contract(void **state) {
  (void)state;
  as_llm_error err;
  /* Kept promises pass as they are. */
  assert_int_equal(fp_call(&FP_VT, AS_OK, AS_LLM_ERR_NONE, FP_TEXT, &err), AS_OK);
  assert_int_equal(fp_call(&FP_VT, AS_OK, AS_LLM_ERR_NONE, FP_CALL, &err), AS_OK);
  assert_int_equal(fp_call(&FP_ANON, AS_OK, AS_LLM_ERR_NONE, FP_STRUCT, &err), AS_OK);
  assert_int_equal(fp_call(&FP_VT, AS_TIMEDOUT, AS_LLM_ERR_TIMEOUT, FP_EMPTY, &err), AS_TIMEDOUT);
  assert_int_equal(err.kind, AS_LLM_ERR_TIMEOUT);
  static const int kindless[] = {AS_NOMEM, AS_TOOBIG, AS_INVAL, AS_INTERNAL};
  for (size_t i = 0; i < sizeof kindless / sizeof kindless[0]; i++)
    assert_int_equal(fp_call(&FP_VT, kindless[i], AS_LLM_ERR_NONE, FP_EMPTY, &err), kindless[i]);
  /* An answer past a cap: AS_TOOBIG, saying which. */
  static const struct {
    int shape;
    const char *says;
  } big[] = {{FP_CALLS17, "17 tool calls"},
             {FP_LONG_TEXT, "a text past"},
             {FP_LONG_STRUCT, "a text past"},
             {FP_LONG_ARGS, "arguments past"}};
  for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
    assert_int_equal(fp_call(&FP_VT, AS_OK, AS_LLM_ERR_NONE, big[i].shape, &err), AS_TOOBIG);
    if (!strstr(err.message, big[i].says)) fail_msg("%zu: %s", i, err.message);
  }
  /* A broken promise: AS_INTERNAL, and *err holds only a message. */
  static const struct {
    int rc;
    as_llm_error_kind kind;
    int shape;
    const char *says;
  } broken[] = {
      {AS_OK, AS_LLM_ERR_TIMEOUT, FP_TEXT, "typed error set"},
      {AS_OK, AS_LLM_ERR_NONE, FP_CALLS_NULL, "malformed response"},
      {AS_OK, AS_LLM_ERR_NONE, FP_FINISH, "malformed response"},
      {AS_OK, AS_LLM_ERR_NONE, FP_NO_ARGS, "without a name, id or arguments"},
      {AS_OK, AS_LLM_ERR_NONE, FP_ID, "without a name, id or arguments"},
      {AS_OK, AS_LLM_ERR_NONE, FP_NAME, "without a name, id or arguments"},
      {AS_IO, AS_LLM_ERR_TIMEOUT, FP_EMPTY, "without keeping"},         /* another kind's status */
      {AS_IO, (as_llm_error_kind)99, FP_EMPTY, "without keeping"},      /* no such kind */
      {AS_IO, AS_LLM_ERR_NONE, FP_EMPTY, "without keeping"},            /* a typed status, no kind */
      {AS_TIMEDOUT, AS_LLM_ERR_TIMEOUT, FP_TEXT, "without keeping"},    /* an error with an answer */
      {AS_TIMEDOUT, AS_LLM_ERR_TIMEOUT, FP_STRUCT, "without keeping"},
      {AS_TIMEDOUT, AS_LLM_ERR_TIMEOUT, FP_CALL, "without keeping"},
      {AS_TIMEDOUT, AS_LLM_ERR_TIMEOUT, FP_CALLS_NULL, "without keeping"}};
  for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
    assert_int_equal(fp_call(&FP_VT, broken[i].rc, broken[i].kind, broken[i].shape, &err),
                     AS_INTERNAL);
    assert_int_equal(err.kind, AS_LLM_ERR_NONE);
    if (!strstr(err.message, broken[i].says) || !strstr(err.message, "provider fake"))
      fail_msg("%zu: %s", i, err.message);
  }
  assert_int_equal(fp_call(&FP_ANON, AS_OK, AS_LLM_ERR_NONE, FP_FINISH, &err), AS_INTERNAL);
  assert_non_null(strstr(err.message, "provider ?"));
  assert_int_equal(fp_call(&FP_ANON, AS_IO, AS_LLM_ERR_NONE, FP_EMPTY, &err), AS_INTERNAL);
  assert_non_null(strstr(err.message, "provider ?"));
  /* Refused before the provider is asked. */
  FP.called = 0;
  as_llm llm = {&FP_VT, NULL, 0, NULL}, novt = {NULL, NULL, 0, NULL}, nofn = {&FP_NONE, NULL, 0, NULL};
  as_llm_request req = {.session_id = "s", .agent = "a", .msgs = &FP_MSG, .nmsgs = 1};
  as_llm_response out;
  assert_int_equal(as_llm_complete(NULL, &req, &out, &err), AS_INVAL);
  assert_int_equal(as_llm_complete(&novt, &req, &out, &err), AS_INVAL);
  assert_int_equal(as_llm_complete(&nofn, &req, &out, &err), AS_INVAL);
  assert_int_equal(as_llm_complete(&llm, NULL, &out, &err), AS_INVAL);
  assert_int_equal(as_llm_complete(&llm, &req, NULL, &err), AS_INVAL);
  assert_int_equal(as_llm_complete(&llm, &req, &out, NULL), AS_INVAL);
  req.nmsgs = AS_LLM_MESSAGES_MAX + 1;
  assert_int_equal(as_llm_complete(&llm, &req, &out, &err), AS_TOOBIG);
  req.nmsgs = 1;
  req.msgs = NULL;
  assert_int_equal(as_llm_complete(&llm, &req, &out, &err), AS_INVAL);
  req.msgs = &FP_MSG;
  req.ntools = 1;
  assert_int_equal(as_llm_complete(&llm, &req, &out, &err), AS_INVAL);
  assert_int_equal(FP.called, 0);
  /* No messages and a tool is a request too. */
  const as_llm_tool tool = {"srv:low", "d", "{}"};
  as_llm_request bare = {.session_id = "s", .agent = "a", .tools = &tool, .ntools = 1};
  FP.rc = AS_OK;
  FP.kind = AS_LLM_ERR_NONE;
  FP.shape = FP_TEXT;
  assert_int_equal(as_llm_complete(&llm, &bare, &out, &err), AS_OK);
  assert_string_equal(out.text, "hello");
  as_llm_response_clear(&out);
  assert_int_equal(FP.called, 1);
  /* Names, and letting go. */
  assert_string_equal(as_llm_error_name(AS_LLM_ERR_RATE_LIMITED), "rate_limited");
  assert_string_equal(as_llm_error_name((as_llm_error_kind)99), "?");
  assert_string_equal(as_llm_finish_name(AS_LLM_FINISH_LENGTH), "length");
  assert_string_equal(as_llm_finish_name((as_llm_finish)99), "?");
  as_llm_response_clear(NULL);
  as_llm_destroy(NULL);
  as_llm_destroy(&novt);
  as_llm anon = {&FP_ANON, NULL, 0, NULL};
  as_llm_destroy(&anon);
  assert_null(anon.vt);
  FP.destroyed = 0;
  as_llm_destroy(&llm);
  assert_int_equal(FP.destroyed, 1);
  assert_null(llm.vt);
}

/* --- the gate policy (gate.c) ------------------------------------------------------------- */

static as_gate_decision gate_with(const char *extra, const char *tool, const as_app_agent *a,
                                  bool has_conf, double conf) {
  as_session s;
  assert_int_equal(as_session_init(&s, "g"), AS_OK);
  if (extra) assert_int_equal(as_session_set_extra(&s, extra), AS_OK);
  as_gate_decision d = as_should_gate(&s, APP, a, as_app_tool_find(APP, tool), has_conf, conf);
  as_session_clear(&s);
  return d;
}

static void test_gate_policy(void **state) {
  (void)state;
  const as_app_tool *high = as_app_tool_find(APP, "srv:high");
  as_session s;
  assert_int_equal(as_session_init(&s, "g"), AS_OK);
  /* Nothing to judge: no session, app or tool; a built-in never gates. */
  assert_int_equal(as_should_gate(NULL, APP, NULL, high, false, 0), AS_GATE_PASS);
  assert_int_equal(as_should_gate(&s, NULL, NULL, high, false, 0), AS_GATE_PASS);
  assert_int_equal(as_should_gate(&s, APP, NULL, NULL, false, 0), AS_GATE_PASS);
  assert_int_equal(gate_with("{\"env\": \"prod\"}", "mark_resolved", NULL, true, 0), AS_GATE_PASS);
  /* High risk in production, either production environment. */
  assert_int_equal(gate_with("{\"env\": \"prod\"}", "srv:high", NULL, false, 0),
                   AS_GATE_HIGH_RISK_PRODUCTION);
  assert_int_equal(gate_with("{\"env\": \"live\"}", "srv:high", NULL, false, 0),
                   AS_GATE_HIGH_RISK_PRODUCTION);
  assert_int_equal(gate_with("{\"env\": \"prod\"}", "srv:low", NULL, false, 0), AS_GATE_PASS);
  /* Not production: another environment, none, one that is no string, no
  ** extra at all. */
  assert_int_equal(gate_with("{\"env\": \"dev\"}", "srv:high", NULL, false, 0), AS_GATE_PASS);
  assert_int_equal(gate_with("{}", "srv:high", NULL, false, 0), AS_GATE_PASS);
  assert_int_equal(gate_with("{\"env\": 3}", "srv:high", NULL, false, 0), AS_GATE_PASS);
  assert_int_equal(as_should_gate(&s, APP, NULL, high, false, 0), AS_GATE_PASS); /* no extra */
  /* Extra fields that do not parse name no environment ... */
  assert_int_equal(gate_with("{\"env\": ", "srv:high", NULL, false, 0), AS_GATE_PASS);
  assert_int_equal(gate_with("{\"env\": \"prod\", \"env\": \"prod\"}", "srv:high", NULL, false, 0),
                   AS_GATE_PASS);
  /* ... but without the memory to read them it cannot tell: it gates. */
  assert_int_equal(as_session_set_extra(&s, "{\"env\": \"dev\", \"note\": \"a note\"}"), AS_OK);
  unsigned long n;
  for (n = 1;; n++) {
    fw_countdown(FW_ALLOC, n, ENOMEM, 0);
    as_gate_decision d = as_should_gate(&s, APP, NULL, high, false, 0);
    bool fired = fw_fired();
    fw_disarm();
    assert_int_equal(d, fired ? AS_GATE_HIGH_RISK_PRODUCTION : AS_GATE_PASS);
    if (!fired) break;
  }
  assert_true(n > 1);
  assert_int_equal(as_session_set_extra(&s, NULL), AS_OK);
  /* No environment field, or one the app does not have. */
  int env = APP->gate.env_field;
  APP->gate.env_field = -1;
  assert_int_equal(gate_with("{\"env\": \"prod\"}", "srv:high", NULL, false, 0), AS_GATE_PASS);
  APP->gate.env_field = (int)APP->nfields;
  assert_int_equal(gate_with("{\"env\": \"prod\"}", "srv:high", NULL, false, 0), AS_GATE_PASS);
  APP->gate.env_field = env;
  /* Confidence: the app's floor (0.4), or an agent's own (b: 0.9). */
  const as_app_agent *a = &APP->agents[as_app_agent_find(APP, "a")];
  const as_app_agent *b = &APP->agents[as_app_agent_find(APP, "b")];
  assert_int_equal(gate_with("{}", "srv:low", a, true, 0.5), AS_GATE_PASS);
  assert_int_equal(gate_with("{}", "srv:low", a, true, 0.3), AS_GATE_LOW_CONFIDENCE);
  assert_int_equal(gate_with("{}", "srv:low", b, true, 0.5), AS_GATE_LOW_CONFIDENCE);
  assert_int_equal(gate_with("{}", "srv:low", b, true, 0.95), AS_GATE_PASS);
  assert_int_equal(gate_with("{}", "srv:low", b, false, 0), AS_GATE_PASS);
  as_session_clear(&s);
}

/* --- what the runtime refuses before it runs ------------------------------------------------ */

static void test_runtime_checks(void **state) {
  (void)state;
  script(GATED);
  start("v1", NULL);
  as_runtime r = rt(), bad;
  as_run_result res;
  as_watchdog_stats ws;
  bad = r;
  bad.st = NULL;
  assert_int_equal(as_run(&bad, "v1", false, &res), AS_INVAL);
  assert_int_equal(as_approval_resolve(&bad, "v1", 0, AS_APPROVE, false, &res), AS_INVAL);
  assert_int_equal(as_watchdog_tick(&bad, &ws), AS_INVAL);
  assert_int_equal(as_session_start(&bad, "v2", NULL), AS_INVAL);
  bad = r;
  bad.locks = NULL;
  assert_int_equal(as_run(&bad, "v1", false, &res), AS_INVAL);
  assert_int_equal(as_watchdog_tick(&bad, &ws), AS_INVAL);
  bad = r;
  bad.app = NULL;
  assert_int_equal(as_run(&bad, "v1", false, &res), AS_INVAL);
  assert_int_equal(as_watchdog_tick(&bad, &ws), AS_INVAL);
  assert_int_equal(as_session_start(&bad, "v2", NULL), AS_INVAL);
  bad = r;
  bad.llm = NULL;
  assert_int_equal(as_run(&bad, "v1", false, &res), AS_INVAL);
  assert_int_equal(as_run(&r, NULL, false, &res), AS_INVAL);
  assert_int_equal(as_run(&r, "v1", false, NULL), AS_INVAL);
  assert_int_equal(as_watchdog_tick(&r, NULL), AS_INVAL);
  assert_int_equal(as_session_start(&r, NULL, NULL), AS_INVAL);
  size_t nagents = APP->nagents;
  APP->nagents = 0;
  assert_int_equal(as_run(&r, "v1", false, &res), AS_INVAL);
  APP->nagents = nagents;
  as_session s = load("v1");
  assert_int_equal(s.status, AS_SESS_NEW); /* nothing ran */
  as_session_clear(&s);
  assert_int_equal(as_session_load(ST, "v2", &s), AS_NOTFOUND);
  assert_int_equal(HL.calls, 0);
  assert_string_equal(as_run_outcome_name(AS_RUN_PAUSED), "paused");
}

/* An agent's prompt is the conversation's first message. */
static void test_prompts(void **state) {
  (void)state;
  char dir[128], pa[160], pb[160];
  ct_path(dir, sizeof dir, &D, "prompts");
  assert_int_equal(mkdir(dir, 0700), 0);
  ct_path(pa, sizeof pa, &D, "prompts/a.md");
  ct_path(pb, sizeof pb, &D, "prompts/b.md");
  FILE *f = fopen(pa, "w");
  assert_non_null(f);
  assert_true(fputs("You are agent a.", f) >= 0);
  assert_int_equal(fclose(f), 0);
  f = fopen(pb, "w");
  assert_non_null(f);
  assert_true(fputs("You are agent b.", f) >= 0);
  assert_int_equal(fclose(f), 0);
  as_app *app = NULL;
  as_app_diag *diag = calloc(1, sizeof *diag);
  assert_int_equal(as_app_load_text(APP_YAML, sizeof APP_YAML - 1, "app.yaml", D.path, 0, &app, diag),
                   AS_OK);
  free(diag);
  script("agent a\n    call 1\n        envelope {\"content\": \"c\", \"confidence\": 0.7, \"rationale\": \"r\"}\n");
  start("pr1", NULL);
  as_runtime r = rt();
  r.app = app;
  as_run_result res;
  assert_int_equal(as_run(&r, "pr1", false, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_ENDED);
  assert_string_equal(HL.system, "You are agent a.");
  as_app_free(app);
  assert_int_equal(unlink(pa), 0);
  assert_int_equal(unlink(pb), 0);
  assert_int_equal(rmdir(dir), 0);
}

/* --- the gateway, further ------------------------------------------------------------------- */

/* Shapes the stub cannot make: arguments that are no object, or no JSON;
** a nameless call; a tool the agent lacks. */
static int shapes_answer(unsigned call, const as_llm_request *req, as_llm_response *out,
                         as_llm_error *err) {
  (void)call;
  (void)err;
  bool a = strcmp(req->agent, "a") == 0;
  if (a && req->call == 1) {
    calls_fill(out, 3, "srv:low", "[1]");
    as_free(out->calls[1].args);
    out->calls[1].args = text_dup("nope");
    out->calls[2].name[0] = '\0';
  } else if (!a && req->call == 1) {
    calls_fill(out, 1, "srv:high", "{}");
  } else {
    out->structured = text_dup(a ? "{\"content\": \"to b\", \"confidence\": 0.95, \"rationale\": \"r\", \"signal\": \"next\"}"
                                 : "{\"content\": \"done\", \"confidence\": 0.95, \"rationale\": \"r\"}");
  }
  return AS_OK;
}

static void test_gateway_more(void **state) {
  (void)state;
  script("agent a\n"
         "    call 1\n"
         "        tool srv:low {\"n\": 1, \"flag\": 1}\n"
         "        tool srv:low {\"n\": 1, \"flag\": false, \"obj\": 1}\n"
         "        tool srv:low {\"n\": 1, \"flag\": true, \"obj\": {}, \"list\": {}}\n"
         "        tool srv:low {\"n\": 1, \"ratio\": \"x\"}\n"
         "        tool srv:low {\"n\": 1, \"ratio\": 0.5, \"list\": [1]}\n"
         "        tool runtime:mark_resolved {\"resolution\": \"r\", \"confidence\": -0.5, \"rationale\": \"r\"}\n"
         "        tool runtime:patch_session {\"escalation\": \"x\"}\n"
         "        tool runtime:patch_session {\"confidence\": \"high\"}\n"
         "        tool runtime:patch_session {\"confidence\": -1}\n"
         "        tool runtime:patch_session {\"confidence\": 1}\n"
         "        tool runtime:mark_escalated {\"team\": \"db\", \"confidence\": 1, \"rationale\": \"r\"}\n"
         "    call 2\n"
         "        envelope {\"content\": \"c\", \"confidence\": 0.97, \"rationale\": \"r\", \"signal\": \"zzz\"}\n");
  start("gw1", NULL);
  as_run_result res = run("gw1", AS_RUN_ENDED);
  assert_int_equal(res.status, AS_SESS_ESCALATED);
  assert_told("srv:low: argument 'flag' must be a boolean");
  assert_told("srv:low: argument 'obj' must be a object");
  assert_told("srv:low: argument 'list' must be a array");
  assert_told("srv:low: argument 'ratio' must be a number");
  assert_told("runtime:mark_resolved: confidence must lie in [0, 1]");
  assert_told("patch_session cannot change 'escalation'");
  assert_told("patch_session: confidence must be a number in [0, 1]");
  as_session s = load("gw1");
  assert_int_equal(s.ncalls, 3);
  assert_string_equal(s.calls[0].tool, "srv:low");
  assert_true(jnum(s.calls[0].args, "ratio") == 0.5);
  assert_null(jget(s.calls[0].args, "flag")); /* optional, not given */
  assert_string_equal(s.calls[1].tool, "runtime:patch_session");
  assert_string_equal(s.calls[2].tool, "runtime:mark_escalated");
  assert_jstr(s.extra, "escalation", "db");
  assert_true(jnum(s.extra, "confidence") == 1);
  as_session_clear(&s);
  /* The envelope's 0.97 agrees with the tool's 1 (within the tolerance);
  ** an unknown signal takes the default route. */
  assert_true(event_num("gw1", AS_EVENT_CONFIDENCE_EMITTED, "confidence") == 0.97);
  assert_int_equal(events("gw1", AS_EVENT_AGENT_STARTED), 1);

  /* Calls the stub cannot make, and a tool the agent lacks. */
  HL.answer = shapes_answer;
  start("gw2", NULL);
  res = run("gw2", AS_RUN_FAILED);
  assert_told("srv:low: the arguments are not a JSON object (another JSON value)");
  assert_told("srv:low: the arguments are not a JSON object (");
  assert_told("agent a has no tool ''");
  /* A tool of the app that agent b was not given: forbidden, permanent. */
  assert_int_equal(res.kind, AS_ERR_TOOL_FORBIDDEN);
  assert_non_null(strstr(res.error, "agent b may not call srv:high"));
  s = load("gw2");
  assert_int_equal(s.ncalls, 0);
  assert_string_equal(s.error_kind, "tool_forbidden");
  as_session_clear(&s);
  HL.answer = NULL;

  int before = exec_calls;
  /* A session without the injected field: the model's value is dropped,
  ** and a required argument is then missing. */
  script("agent a\n"
         "    call 1\n"
         "        tool srv:low {\"env\": \"prod\", \"n\": 1}\n"
         "        tool srv:low {\"n\": 1}\n"
         "        tool runtime:patch_session {\"note\": \"x\"}\n"
         "        tool runtime:submit_hypothesis {\"hypothesis\": \"h\", \"confidence\": 0.6, \"rationale\": \"r\"}\n"
         "        tool runtime:patch_session {\"confidence\": 0.3}\n"
         "    call 2\n"
         "        envelope {\"content\": \"c\", \"confidence\": 0.6, \"rationale\": \"r\"}\n");
  assert_int_equal(as_session_init(&s, "gw3"), AS_OK);
  assert_int_equal(as_session_create(ST, &s), AS_OK);
  as_session_clear(&s);
  (void)run("gw3", AS_RUN_ENDED);
  assert_told("srv:low: argument 'env' is required");
  s = load("gw3");
  assert_int_equal(s.ncalls, 3); /* the patch, the hypothesis, the patch with nothing left */
  assert_jstr(s.extra, "note", "x");
  assert_true(jnum(s.extra, "confidence") == 0.6); /* the second patch's was dropped */
  assert_null(jget(s.extra, "env"));
  as_session_clear(&s);
  assert_int_equal(exec_calls, before);

  /* A confidence in the extra fields that is no number gates nothing. */
  script("agent a\n"
         "    call 1\n"
         "        tool srv:low {\"n\": 1}\n"
         "    call 2\n"
         "        envelope {\"content\": \"c\", \"confidence\": 0.7, \"rationale\": \"r\"}\n");
  start("gw5", NULL);
  other_write w = other("gw5");
  w.extra = "{\"env\": \"dev\", \"confidence\": \"low\"}";
  other_writer(&w);
  (void)run("gw5", AS_RUN_ENDED);
  assert_int_equal(events("gw5", AS_EVENT_GATE_FIRED), 0);
  assert_int_equal(exec_calls, before + 1);
  /* A tool's result past the cap: the store refuses it, the run cannot go on. */
  size_t n = AS_TOOL_JSON_MAX + 8;
  char *huge = malloc(n + 1);
  assert_non_null(huge);
  memset(huge, 'a', n);
  huge[0] = huge[n - 1] = '"';
  huge[n] = '\0';
  exec_result = huge;
  start("gw6", NULL);
  as_runtime r = rt();
  assert_int_equal(as_run(&r, "gw6", false, &res), AS_TOOBIG);
  exec_result = NULL;
  free(huge);
  s = load("gw6");
  assert_int_equal(s.ncalls, 0);
  assert_int_equal(s.status, AS_SESS_IN_PROGRESS);
  as_session_clear(&s);
  before = exec_calls;
  /* No tool executor: an app tool answers {"ok":true}. */
  script("agent a\n"
         "    call 1\n"
         "        tool srv:low {\"n\": 1}\n"
         "    call 2\n"
         "        envelope {\"content\": \"c\", \"confidence\": 0.7, \"rationale\": \"r\"}\n");
  start("gw4", NULL);
  r.exec = NULL;
  assert_int_equal(as_run(&r, "gw4", false, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_ENDED);
  s = load("gw4");
  json_t *ok = jget(s.calls[0].result, "ok");
  assert_true(json_is_true(ok));
  json_decref(ok);
  as_session_clear(&s);
  assert_int_equal(exec_calls, before);
}

/* --- a typed terminal tool, then a pause ---------------------------------------------------- */

static const char TCONF[] =
    "agent a\n"
    "    call 1\n"
    "        tool runtime:mark_resolved {\"resolution\": \"fixed\", \"confidence\": 0.9, \"rationale\": \"ok\"}\n"
    "        tool srv:high {\"env\": \"dev\"}\n"
    "        tool runtime:patch_session {\"note\": \"late\", \"confidence\": 0.2}\n"
    "    call 2\n"
    "        envelope {\"content\": \"done\", \"confidence\": 0.5, \"rationale\": \"r\"}\n";

/* Pause id on the current script in production. */
static void paused(const char *id) {
  start(id, "{\"env\": \"prod\"}");
  (void)run(id, AS_RUN_PAUSED);
}

/* Set key of id's checkpoint to json (NULL: remove it). */
static void ckpt_set(const char *id, const char *key, const char *json) {
  json_t *o = ckpt_get(id);
  if (json) {
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    assert_non_null(v);
    assert_int_equal(json_object_set_new(o, key, v), 0);
  } else {
    assert_int_equal(json_object_del(o, key), 0);
  }
  ckpt_put(id, o);
}

static void test_terminal_then_pause(void **state) {
  (void)state;
  script(TCONF);
  paused("t1");
  /* The pause keeps what the answer's terminal tool did. */
  json_t *o = ckpt_get("t1");
  assert_true(json_is_true(json_object_get(o, "ending")));
  assert_true(json_is_true(json_object_get(o, "answer_terminal")));
  assert_true(json_number_value(json_object_get(o, "tconf")) == 0.9);
  assert_int_equal(json_array_size(json_object_get(o, "queue")), 2); /* the pending call, the patch */
  json_decref(o);
  as_run_result res;
  assert_int_equal(resolve("t1", 1, AS_APPROVE, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_ENDED);
  assert_int_equal(res.status, AS_SESS_RESOLVED);
  as_session s = load("t1");
  assert_jstr(s.extra, "note", "late");
  assert_true(jnum(s.extra, "confidence") == 0.9); /* still locked after the resume */
  as_session_clear(&s);
  assert_true(event_num("t1", AS_EVENT_CONFIDENCE_EMITTED, "confidence") == 0.9); /* the tool's */
  /* The same checkpoint with an integral confidence, one that is not a
  ** number, and without the terminal flags. */
  paused("t2");
  ckpt_set("t2", "tconf", "1");
  assert_int_equal(resolve("t2", 1, AS_APPROVE, &res), AS_OK);
  assert_true(event_num("t2", AS_EVENT_CONFIDENCE_EMITTED, "confidence") == 1);
  paused("t3");
  ckpt_set("t3", "tconf", "\"high\"");
  assert_int_equal(resolve("t3", 1, AS_APPROVE, &res), AS_OK);
  assert_true(event_num("t3", AS_EVENT_CONFIDENCE_EMITTED, "confidence") == 0.5);
  paused("t4");
  ckpt_set("t4", "ending", NULL);
  ckpt_set("t4", "answer_terminal", NULL);
  assert_int_equal(resolve("t4", 1, AS_APPROVE, &res), AS_OK);
  assert_int_equal(res.status, AS_SESS_RESOLVED); /* the executed mark_resolved decides */
  s = load("t4");
  assert_true(jnum(s.extra, "confidence") == 0.2); /* not locked any more: the patch's */
  as_session_clear(&s);
}

/* --- damaged checkpoints -------------------------------------------------------------------- */

static void test_damaged_checkpoints(void **state) {
  (void)state;
  script(GATED);
  static const struct {
    const char *id, *key, *json;
  } cases[] = {{"d1", "v", "9"},
               {"d2", "agent", "\"nobody\""},
               {"d3", "agent", "5"},
               {"d4", "msgs", NULL},
               {"d4b", "msgs", "5"},
               {"d5", "queue", NULL},
               {"d5b", "queue", "{}"},
               {"d6", "queue", "[]"},
               {"d7", "queue", "[{\"id\": \"x\", \"idx\": 7, \"tool\": \"srv:high\"}]"}};
  as_run_result res;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    paused(cases[i].id);
    ckpt_set(cases[i].id, cases[i].key, cases[i].json);
    int rc = resolve(cases[i].id, 0, AS_APPROVE, &res);
    /* The decision stands (the call ran and is stored); the resume cannot
    ** go on, and the session says so (io_error: a retry begins afresh). */
    assert_io_failed(cases[i].id, rc, &res);
    as_session s = load(cases[i].id);
    assert_int_equal(s.calls[0].state, AS_TOOL_EXECUTED);
    as_session_clear(&s);
  }
  assert_int_equal(exec_calls, 9);
  assert_int_equal(as_locks_size(REG), 0);
  /* An assistant message with more calls than a request carries. */
  paused("d8");
  json_t *o = ckpt_get("d8");
  json_t *calls = json_array();
  for (unsigned i = 0; i <= AS_LLM_CALLS_MAX; i++)
    assert_int_equal(json_array_append_new(calls, json_pack("{s:s,s:s,s:s}", "id", "x", "name",
                                                            "srv:low", "args", "{}")), 0);
  assert_int_equal(json_array_append_new(json_object_get(o, "msgs"),
                                         json_pack("{s:s,s:o}", "role", "assistant", "calls", calls)),
                   0);
  ckpt_put("d8", o);
  assert_int_equal(resolve("d8", 0, AS_REJECT, &res), AS_TOOBIG);
  /* A run (not an approval) resumed from a damaged checkpoint. */
  paused("d9");
  other_write w = other("d9");
  w.status = AS_SESS_IN_PROGRESS;
  w.call = 0;
  w.call_state = AS_TOOL_REJECTED;
  other_writer(&w);
  ckpt_set("d9", "v", "9");
  as_runtime r = rt();
  assert_int_equal(as_run(&r, "d9", false, &res), AS_IO);
  /* A queued call without arguments: the model is told, the run goes on. */
  paused("d10");
  w = other("d10");
  w.status = AS_SESS_IN_PROGRESS;
  w.call = 0;
  w.call_state = AS_TOOL_REJECTED;
  other_writer(&w);
  ckpt_set("d10", "queue", "[{\"id\": \"q1\", \"name\": \"srv:low\"}]");
  (void)run("d10", AS_RUN_ENDED);
  assert_told("srv:low: the arguments are not a JSON object (");
}

/* --- the caps, further ---------------------------------------------------------------------- */

static int many_calls(unsigned call, const as_llm_request *req, as_llm_response *out,
                      as_llm_error *err) {
  (void)call;
  (void)req;
  (void)err;
  calls_fill(out, AS_LLM_CALLS_MAX + 1, "srv:low", "{\"n\": 1}");
  return AS_OK;
}

static void test_conversation_cap(void **state) {
  (void)state;
  APP->agents[as_app_agent_find(APP, "a")].max_calls = 200;
  APP->max_tool_calls = 1024;
  /* One call an answer: the conversation fills up exactly, and the next
  ** answer cannot be added. */
  script("agent a\n    default\n        tool srv:low {\"n\": 1}\n");
  start("k3", NULL);
  as_run_result res = run("k3", AS_RUN_FAILED);
  assert_string_equal(res.error_kind, "conversation_cap");
  assert_int_equal(HL.nmsgs, AS_LLM_MESSAGES_MAX); /* the last request carried the most */
  as_session s = load("k3");
  assert_int_equal(s.status, AS_SESS_ERROR);
  assert_int_equal(s.ncalls, (AS_LLM_MESSAGES_MAX - 2) / 2);
  as_session_clear(&s);
  /* Sixteen an answer: a tool's result is the message past the cap. */
  char text[2048] = "agent a\n    default\n";
  for (unsigned i = 0; i < AS_LLM_CALLS_MAX; i++)
    assert_true(as_appendf(text, sizeof text, strlen(text), "        tool srv:low {\"n\": 1}\n") > 0);
  script(text);
  start("k4", NULL);
  res = run("k4", AS_RUN_FAILED);
  assert_string_equal(res.error_kind, "conversation_cap");
  s = load("k4");
  assert_int_equal(s.status, AS_SESS_ERROR);
  assert_int_equal(s.ncalls, 15 * AS_LLM_CALLS_MAX);
  as_session_clear(&s);
  assert_int_equal(as_locks_size(REG), 0);
  /* Full when the approval comes: its outcome is the message past the cap. */
  script(GATED);
  paused("k6");
  json_t *o = ckpt_get("k6");
  json_t *msgs = json_object_get(o, "msgs");
  while (json_array_size(msgs) < AS_LLM_MESSAGES_MAX)
    assert_int_equal(json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "user", "text", "more")),
                     0);
  ckpt_put("k6", o);
  assert_int_equal(resolve("k6", 0, AS_REJECT, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_FAILED);
  assert_string_equal(res.error_kind, "conversation_cap");
  s = load("k6");
  assert_int_equal(s.status, AS_SESS_ERROR);
  assert_int_equal(s.calls[0].state, AS_TOOL_REJECTED);
  as_session_clear(&s);
  /* More calls in one answer than a response may hold: refused, the run fails. */
  HL.answer = many_calls;
  start("k5", NULL);
  res = run("k5", AS_RUN_FAILED);
  assert_string_equal(res.error_kind, "llm_bad_answer");
  assert_non_null(strstr(res.error, "17 tool calls"));
}

/* --- LLM errors, further -------------------------------------------------------------------- */

static int inval_answer(unsigned call, const as_llm_request *req, as_llm_response *out,
                        as_llm_error *err) {
  (void)call;
  (void)req;
  (void)out;
  (void)err;
  return AS_INVAL;
}

static int nomem_answer(unsigned call, const as_llm_request *req, as_llm_response *out,
                        as_llm_error *err) {
  (void)call;
  (void)req;
  (void)out;
  (void)err;
  return AS_NOMEM;
}

static void test_llm_more(void **state) {
  (void)state;
  /* A malformed answer is transient: tried again. */
  script("agent a\n"
         "    call 1 attempt=1\n"
         "        malformed\n"
         "    call 1\n"
         "        envelope {\"content\": \"c\", \"confidence\": 0.6, \"rationale\": \"r\"}\n");
  start("l1", NULL);
  (void)run("l1", AS_RUN_ENDED);
  assert_int_equal(HL.calls, 2);
  /* Rate limited every time with two attempts: one wait, none after the last. */
  script("agent a\n    default\n        rate_limited retry_after=2s\n");
  start("l2", NULL);
  as_runtime r = rt();
  r.llm_attempts = 2;
  as_run_result res;
  uint64_t t0 = as_now_mono_ns();
  assert_int_equal(as_run(&r, "l2", false, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_FAILED);
  assert_string_equal(res.error_kind, "llm_rate_limited");
  assert_int_equal(as_now_mono_ns() - t0, 2000000000ull);
  assert_int_equal(HL.calls, 4);
  /* A provider's failure without a kind or a message. */
  HL.answer = inval_answer;
  start("l3", NULL);
  res = run("l3", AS_RUN_FAILED);
  assert_string_equal(res.error_kind, "llm_bad_answer");
  assert_int_equal(res.kind, AS_ERR_LLM_BAD_ANSWER);
  assert_non_null(strstr(res.error, as_status_msg(AS_INVAL)));
  assert_int_equal(HL.calls, 5); /* permanent: not tried again */
  /* No memory for the call: the run cannot go on. */
  HL.answer = nomem_answer;
  start("l4", NULL);
  r = rt();
  assert_int_equal(as_run(&r, "l4", false, &res), AS_NOMEM);
  as_session s = load("l4");
  assert_int_equal(s.status, AS_SESS_IN_PROGRESS);
  as_session_clear(&s);
  assert_int_equal(as_locks_size(REG), 0);
}

/* --- approvals, further --------------------------------------------------------------------- */

static const char GATED2[] =
    "agent a\n"
    "    call 1\n"
    "        tool srv:high {\"env\": \"dev\"}\n"
    "    call 2\n"
    "        tool srv:high {\"env\": \"dev\"}\n"
    "    call 3\n"
    "        envelope {\"content\": \"c\", \"confidence\": 0.7, \"rationale\": \"r\"}\n";

static const char GATED_LATER[] =
    "agent a\n"
    "    call 1\n"
    "        tool srv:low {\"n\": 1}\n"
    "        tool srv:high {\"env\": \"dev\"}\n"
    "    call 2\n"
    "        envelope {\"content\": \"c\", \"confidence\": 0.7, \"rationale\": \"r\"}\n";

static void test_approval_paths(void **state) {
  (void)state;
  as_run_result res;
  script(GATED);
  /* The app no longer has the pending call's tool. */
  paused("o1");
  other_write w = other("o1");
  w.call = 0;
  w.call_state = AS_TOOL_PENDING_APPROVAL;
  w.call_tool = "gone:tool";
  other_writer(&w);
  assert_int_equal(resolve("o1", 0, AS_APPROVE, &res), AS_NOTFOUND);
  as_session s = load("o1");
  assert_int_equal(s.calls[0].state, AS_TOOL_PENDING_APPROVAL);
  as_session_clear(&s);
  /* A waiting built-in: approved, no tool server runs it. */
  paused("o2");
  w = other("o2");
  w.call = 0;
  w.call_state = AS_TOOL_PENDING_APPROVAL;
  w.call_tool = "runtime:submit_hypothesis";
  other_writer(&w);
  assert_int_equal(resolve("o2", 0, AS_APPROVE, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_ENDED);
  s = load("o2");
  assert_int_equal(s.calls[0].state, AS_TOOL_EXECUTED);
  json_t *ok = jget(s.calls[0].result, "ok");
  assert_true(json_is_true(ok));
  json_decref(ok);
  as_session_clear(&s);
  /* A runtime without a tool executor. */
  paused("o3");
  as_runtime r = rt();
  r.exec = NULL;
  assert_int_equal(as_approval_resolve(&r, "o3", 0, AS_APPROVE, false, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_ENDED);
  s = load("o3");
  ok = jget(s.calls[0].result, "ok");
  assert_true(json_is_true(ok));
  json_decref(ok);
  as_session_clear(&s);
  assert_int_equal(exec_calls, 0);
  /* While the approved tool runs, another writer decides the call: the
  ** other decision stands, nothing resumes. */
  paused("o4");
  w = other("o4");
  w.call = 0;
  w.call_state = AS_TOOL_REJECTED;
  exec_hook = other_writer;
  exec_arg = &w;
  assert_int_equal(resolve("o4", 0, AS_APPROVE, &res), AS_EXISTS);
  assert_int_equal(w.runs, 1);
  s = load("o4");
  assert_int_equal(s.calls[0].state, AS_TOOL_REJECTED);
  assert_int_equal(s.status, AS_SESS_AWAITING_INPUT);
  as_session_clear(&s);
  assert_int_equal(events("o4", AS_EVENT_APPROVAL_RESOLVED), 0);
  /* ... or settles the session: too late. */
  paused("o5");
  w = other("o5");
  w.status = AS_SESS_RESOLVED;
  exec_hook = other_writer;
  exec_arg = &w;
  assert_int_equal(resolve("o5", 0, AS_APPROVE, &res), AS_EXISTS);
  s = load("o5");
  assert_int_equal(s.calls[0].state, AS_TOOL_PENDING_APPROVAL);
  assert_int_equal(s.status, AS_SESS_RESOLVED);
  as_session_clear(&s);
  /* ... or puts it back in progress: resolved, without a status change of its own. */
  paused("o6");
  w = other("o6");
  w.status = AS_SESS_IN_PROGRESS;
  exec_hook = other_writer;
  exec_arg = &w;
  assert_int_equal(resolve("o6", 0, AS_APPROVE, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_ENDED);
  assert_int_equal(events("o6", AS_EVENT_APPROVAL_RESOLVED), 1);
  assert_int_equal(events("o6", AS_EVENT_STATUS_CHANGED), 3); /* in_progress, awaiting, resolved */
  /* ... or its calls are gone (a save of a copy without them). */
  paused("o11");
  exec_hook = drop_calls;
  exec_arg = "o11";
  assert_int_equal(resolve("o11", 0, AS_APPROVE, &res), AS_NOTFOUND);
  s = load("o11");
  assert_int_equal(s.ncalls, 0);
  assert_int_equal(s.status, AS_SESS_AWAITING_INPUT);
  as_session_clear(&s);
  /* An approved tool's result past the cap: refused, the call still waits. */
  size_t n = AS_TOOL_JSON_MAX + 8;
  char *huge = malloc(n + 1);
  assert_non_null(huge);
  memset(huge, 'a', n);
  huge[0] = huge[n - 1] = '"';
  huge[n] = '\0';
  exec_result = huge;
  paused("o7");
  assert_int_equal(resolve("o7", 0, AS_APPROVE, &res), AS_TOOBIG);
  exec_result = NULL;
  free(huge);
  s = load("o7");
  assert_int_equal(s.calls[0].state, AS_TOOL_PENDING_APPROVAL);
  assert_int_equal(s.status, AS_SESS_AWAITING_INPUT);
  as_session_clear(&s);
  assert_int_equal(as_locks_size(REG), 0);

  /* A second decision on a rejected call: already resolved. */
  script(GATED2);
  paused("o8");
  assert_int_equal(resolve("o8", 0, AS_REJECT, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_PAUSED); /* at the second gated call */
  int before = exec_calls;
  assert_int_equal(resolve("o8", 0, AS_REJECT, &res), AS_EXISTS);
  assert_int_equal(resolve("o8", 0, AS_APPROVE, &res), AS_EXISTS);
  assert_int_equal(exec_calls, before);
  /* An approved call whose request lies past the first page of the log. */
  start("o9", "{\"env\": \"prod\"}");
  pad_events("o9", AS_EVENT_READ_MAX + 10);
  (void)run("o9", AS_RUN_PAUSED);
  assert_int_equal(resolve("o9", 0, AS_APPROVE, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_PAUSED);
  assert_int_equal(resolve("o9", 0, AS_APPROVE, &res), AS_EXISTS);
  /* A call that never waited, in a log exactly a page long, past an
  ** approval request nobody can read. */
  script(GATED_LATER);
  paused("o10");
  assert_int_equal(as_event_append(ST, "o10", AS_EVENT_APPROVAL_REQUESTED, "{\"call\":0,\"call\":0}",
                                   NULL),
                   AS_OK);
  pad_events("o10", AS_EVENT_READ_MAX - events_all("o10"));
  assert_int_equal(events_all("o10"), AS_EVENT_READ_MAX);
  before = exec_calls;
  assert_int_equal(resolve("o10", 0, AS_APPROVE, &res), AS_INVAL);
  assert_int_equal(exec_calls, before);
  s = load("o10");
  assert_int_equal(s.calls[1].state, AS_TOOL_PENDING_APPROVAL); /* the waiting one still waits */
  as_session_clear(&s);
}

/* --- the watchdog, further ------------------------------------------------------------------ */

static void test_watchdog_paging(void **state) {
  (void)state;
  /* More sessions than one listing holds: the due ones past it are found. */
  for (unsigned i = 0; i < AS_WATCHDOG_SCAN_MAX + 20; i++) {
    char id[32];
    snprintf(id, sizeof id, "n%03u", i);
    start(id, NULL);
  }
  script(GATED);
  paused("zz");
  /* A pending call after an executed one. */
  script(GATED_LATER);
  paused("ab");
  APP->approval_timeout_ns = 0;
  as_runtime r = rt();
  as_watchdog_stats ws;
  assert_int_equal(as_watchdog_tick(&r, &ws), AS_OK);
  assert_int_equal(ws.looked, 2);
  assert_int_equal(ws.resolved, 2);
  as_session s = load("zz");
  assert_int_equal(s.calls[0].state, AS_TOOL_TIMED_OUT);
  as_session_clear(&s);
  s = load("ab");
  assert_int_equal(s.calls[0].state, AS_TOOL_EXECUTED);
  assert_int_equal(s.calls[1].state, AS_TOOL_TIMED_OUT);
  as_session_clear(&s);
}

static void finalize_other(void *arg) {
  assert_int_equal(as_finalize(OTHER, REG, arg, NULL, NULL), AS_OK);
}

static void test_watchdog_meanwhile(void **state) {
  (void)state;
  script(GATED);
  as_runtime r = rt();
  as_watchdog_stats ws;
  APP->approval_timeout_ns = 0;
  /* While the first is resumed, the second disappears ... */
  paused("g1");
  paused("g2");
  hook_next(drop_session, "g2");
  assert_int_equal(as_watchdog_tick(&r, &ws), AS_OK);
  assert_int_equal(ws.looked, 1);
  assert_int_equal(ws.resolved, 1);
  as_session s;
  assert_int_equal(as_session_load(ST, "g2", &s), AS_NOTFOUND);
  /* ... or is settled by a finalize, its call left pending. */
  paused("h1");
  paused("h2");
  hook_next(finalize_other, "h2");
  assert_int_equal(as_watchdog_tick(&r, &ws), AS_OK);
  assert_int_equal(ws.looked, 2);
  assert_int_equal(ws.resolved, 1);
  s = load("h2");
  assert_true(as_session_status_terminal(s.status));
  assert_int_equal(s.calls[0].state, AS_TOOL_PENDING_APPROVAL);
  as_session_clear(&s);
  /* A pending call whose start cannot be read is not timed out. */
  paused("j1");
  raw("UPDATE tool_calls SET result = '{\"pending_since_ns\":0,\"pending_since_ns\":0}'"
      " WHERE session_id = 'j1'");
  assert_int_equal(as_watchdog_tick(&r, &ws), AS_OK);
  assert_int_equal(ws.resolved, 0);
  s = load("j1");
  assert_int_equal(s.calls[0].state, AS_TOOL_PENDING_APPROVAL);
  as_session_clear(&s);
  raw("UPDATE tool_calls SET result = '{\"pending_since_ns\":0}' WHERE session_id = 'j1'");
  /* No lock to be had (the registry is full): the tick stops, nothing changed. */
  as_lock_registry *small = NULL;
  assert_int_equal(as_locks_new(&small, 1), AS_OK);
  assert_int_equal(as_lock_acquire(small, "someone"), AS_OK);
  r.locks = small;
  assert_int_equal(as_watchdog_tick(&r, &ws), AS_TOOBIG);
  assert_int_equal(ws.resolved, 0);
  assert_int_equal(as_lock_release(small, "someone"), AS_OK);
  as_locks_free(small);
  s = load("j1");
  assert_int_equal(s.calls[0].state, AS_TOOL_PENDING_APPROVAL);
  as_session_clear(&s);
  r.locks = REG;
  assert_int_equal(as_watchdog_tick(&r, &ws), AS_OK);
  assert_int_equal(ws.resolved, 1);
}

/* --- other writers meanwhile (they do not take the lock) ------------------------------------ */

static void test_settled_meanwhile(void **state) {
  (void)state;
  script(GATED);
  as_runtime r = rt();
  as_run_result res;
  /* Settled right as the run begins: nothing runs. */
  start("b1", "{\"env\": \"prod\"}");
  other_write w = other("b1");
  w.status = AS_SESS_RESOLVED;
  arm_wall(&w, false);
  assert_int_equal(as_run(&r, "b1", false, &res), AS_OK);
  assert_int_equal(w.runs, 1);
  assert_int_equal(res.outcome, AS_RUN_IDLE);
  assert_int_equal(res.status, AS_SESS_RESOLVED);
  assert_int_equal(HL.calls, 0);
  assert_int_equal(events("b1", AS_EVENT_AGENT_STARTED), 0);
  /* Settled while the model answers, before the gate's pause: no pending row. */
  start("b2", "{\"env\": \"prod\"}");
  w = other("b2");
  w.status = AS_SESS_RESOLVED;
  hook_next(other_writer, &w);
  assert_int_equal(as_run(&r, "b2", false, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_IDLE);
  assert_int_equal(res.status, AS_SESS_RESOLVED);
  as_session s = load("b2");
  assert_int_equal(s.status, AS_SESS_RESOLVED);
  assert_int_equal(s.ncalls, 0);
  as_session_clear(&s);
  assert_int_equal(events("b2", AS_EVENT_APPROVAL_REQUESTED), 0);
  /* Marked awaiting_input already: the pause adds its call, no second status change. */
  start("b3", "{\"env\": \"prod\"}");
  w = other("b3");
  w.status = AS_SESS_AWAITING_INPUT;
  hook_next(other_writer, &w);
  assert_int_equal(as_run(&r, "b3", false, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_PAUSED);
  assert_int_equal(events("b3", AS_EVENT_STATUS_CHANGED), 1); /* new -> in_progress only */
  assert_int_equal(events("b3", AS_EVENT_APPROVAL_REQUESTED), 1);
  /* A pending call that is not the last still keeps the run waiting. */
  start("b5", "{\"env\": \"prod\"}");
  (void)run("b5", AS_RUN_PAUSED);
  w = other("b5");
  w.add_tool = "srv:low";
  other_writer(&w);
  res = run("b5", AS_RUN_IDLE);
  assert_int_equal(res.status, AS_SESS_AWAITING_INPUT);
  /* Awaiting input with nothing pending: the run resumes. */
  w = other("b3");
  w.call = 0;
  w.call_state = AS_TOOL_REJECTED;
  other_writer(&w);
  assert_int_equal(as_run(&r, "b3", false, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_ENDED);
  /* Another writer wins every save: the step gives up, busy. */
  start("b4", NULL);
  w = other("b4");
  arm_wall(&w, true);
  assert_int_equal(as_run(&r, "b4", false, &res), AS_BUSY);
  ct_h.on_wall = NULL;
  assert_int_equal(w.runs, 8);
  s = load("b4");
  assert_int_equal(s.status, AS_SESS_NEW);
  as_session_clear(&s);
  assert_int_equal(as_locks_size(REG), 0);
}

static void test_damaged_extra(void **state) {
  (void)state;
  as_runtime r = rt();
  as_run_result res;
  script("agent a\n"
         "    call 1\n"
         "        tool runtime:patch_session {\"note\": \"x\"}\n"
         "    call 2\n"
         "        envelope {\"content\": \"c\", \"confidence\": 0.7, \"rationale\": \"r\"}\n");
  /* Extra fields that are JSON but no object: a patch cannot merge. */
  start("x1", NULL);
  other_write w = other("x1");
  w.extra = "[1]";
  other_writer(&w);
  assert_io_failed("x1", as_run(&r, "x1", false, &res), &res);
  /* JSON SQLite accepts and the runtime does not (a duplicate key): when
  ** the run begins, when the gateway reads the session, when a step does. */
  static const char dup[] = "{\"env\": \"dev\", \"env\": \"dev\"}";
  start("x2", NULL);
  w = other("x2");
  w.extra = dup;
  other_writer(&w);
  assert_io_failed("x2", as_run(&r, "x2", false, &res), &res);
  start("x3", NULL);
  w = other("x3");
  w.extra = dup;
  hook_next(other_writer, &w);
  assert_io_failed("x3", as_run(&r, "x3", false, &res), &res);
  start("x4", NULL);
  w = other("x4");
  w.extra = dup;
  hook_next(arm_wall_hook, &w); /* at the patch's save */
  assert_io_failed("x4", as_run(&r, "x4", false, &res), &res);
  assert_int_equal(w.runs, 1);
  as_session s = load("x4");
  assert_int_equal(s.ncalls, 0);
  as_session_clear(&s);
  assert_int_equal(as_locks_size(REG), 0);
}

/* --- the mutants' branches (the sim build's objects) ---------------------------------------- */

#ifdef AS_WITH_MUTANTS
static void run_countdown(const char *prefix, bool sql, as_run_outcome want);

static void test_mutants(void **state) {
  (void)state;
  as_run_result res;
  as_runtime r = rt();
  /* pending_saved_after_pause: the status first, the pending row after. */
  assert_int_equal(as_mutant_set("pending_saved_after_pause"), AS_OK);
  script(GATED);
  paused("u1");
  as_session s = load("u1");
  assert_int_equal(s.status, AS_SESS_AWAITING_INPUT);
  assert_int_equal(s.calls[0].state, AS_TOOL_PENDING_APPROVAL);
  as_session_clear(&s);
  assert_int_equal(events("u1", AS_EVENT_APPROVAL_REQUESTED), 1);
  assert_int_equal(resolve("u1", 0, AS_APPROVE, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_ENDED);
  /* watchdog_peek_then_resume: a busy session is skipped, a free one resumed
  ** without its lock. */
  assert_int_equal(as_mutant_set("watchdog_peek_then_resume"), AS_OK);
  paused("u2");
  paused("u3");
  APP->approval_timeout_ns = 0;
  assert_int_equal(as_lock_acquire(REG, "u3"), AS_OK);
  as_watchdog_stats ws;
  assert_int_equal(as_watchdog_tick(&r, &ws), AS_OK);
  assert_int_equal(ws.skipped, 1);
  assert_int_equal(ws.resolved, 1);
  assert_int_equal(as_locks_size(REG), 1); /* only u3's, held by the test */
  assert_int_equal(as_lock_release(REG, "u3"), AS_OK);
  APP->approval_timeout_ns = 3600000000000ull;
  /* patch_accepts_status: the patch writes a status it can parse. */
  assert_int_equal(as_mutant_set("patch_accepts_status"), AS_OK);
  script("agent a\n"
         "    call 1\n"
         "        tool runtime:patch_session {\"status\": \"bogus\"}\n"
         "        tool runtime:patch_session {\"status\": 3}\n"
         "        tool runtime:patch_session {\"status\": \"resolved\"}\n"
         "    call 2\n"
         "        envelope {\"content\": \"c\", \"confidence\": 0.7, \"rationale\": \"r\"}\n");
  start("u4", NULL);
  (void)run("u4", AS_RUN_ENDED);
  assert_told("patch_session cannot change 'status'");
  s = load("u4");
  assert_int_equal(s.status, AS_SESS_RESOLVED);
  assert_int_equal(s.ncalls, 2);
  as_session_clear(&s);
  /* terminal_not_locked: the patch after mark_resolved changes its confidence. */
  assert_int_equal(as_mutant_set("terminal_not_locked"), AS_OK);
  script(GATED);
  paused("u5");
  assert_int_equal(resolve("u5", 0, AS_APPROVE, &res), AS_OK);
  s = load("u5");
  assert_true(jnum(s.extra, "confidence") == 0.1);
  assert_jstr(s.extra, "rationale", "doubt");
  as_session_clear(&s);
  /* injected_arg_llm_wins: the model's env stays; one it left out is injected. */
  assert_int_equal(as_mutant_set("injected_arg_llm_wins"), AS_OK);
  script("agent a\n"
         "    call 1\n"
         "        tool srv:low {\"env\": \"prod\", \"n\": 1}\n"
         "        tool srv:low {\"n\": 2}\n"
         "    call 2\n"
         "        envelope {\"content\": \"c\", \"confidence\": 0.7, \"rationale\": \"r\"}\n");
  start("u6", NULL);
  (void)run("u6", AS_RUN_ENDED);
  s = load("u6");
  assert_jstr(s.calls[0].args, "env", "prod");
  assert_jstr(s.calls[1].args, "env", "dev");
  as_session_clear(&s);
  /* approval_double_resolve: a second approval runs the tool again. */
  assert_int_equal(as_mutant_set("approval_double_resolve"), AS_OK);
  script(GATED2);
  paused("u7");
  assert_int_equal(resolve("u7", 0, AS_APPROVE, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_PAUSED);
  int before = exec_calls;
  /* The checkpoint is call 1's: the resume cannot go on. */
  assert_io_failed("u7", resolve("u7", 0, AS_APPROVE, &res), &res);
  assert_int_equal(exec_calls, before + 1);
  assert_int_equal(events("u7", AS_EVENT_APPROVAL_RESOLVED), 2);
  assert_int_equal(as_locks_size(REG), 0);
  /* pending_saved_after_pause again, either of its steps failing. */
  assert_int_equal(as_mutant_set("pending_saved_after_pause"), AS_OK);
  script(GATED);
  run_countdown("u8", false, AS_RUN_PAUSED);
}
#endif

/* --- every failure in turn ------------------------------------------------------------- */

/* A gated run that goes further: a hypothesis (a typed terminal tool's
** confidence, kept over the pause), a refused call, the gate, the approval,
** a patch, the handoff to agent b. */
static const char FLOW[] =
    "agent a\n"
    "    call 1\n"
    "        tool runtime:submit_hypothesis {\"hypothesis\": \"h\", \"confidence\": 0.8, \"rationale\": \"r\"}\n"
    "        tool srv:nope {}\n"
    "        tool srv:high {\"env\": \"dev\"}\n"
    "    call 2\n"
    "        tool runtime:patch_session {\"note\": \"p\"}\n"
    "    call 3\n"
    "        envelope {\"content\": \"to b\", \"confidence\": 0.8, \"rationale\": \"r\", \"signal\": \"next\"}\n"
    "agent b\n"
    "    call 1\n"
    "        envelope {\"content\": \"done\", \"confidence\": 0.95, \"rationale\": \"r\"}\n";

/* One gated run: start, run to the gate, approve (call `call`), to the end.
** Returns the first status that is not AS_OK (the run's own outcome aside). */
static int gated_flow(const char *id, size_t call) {
  as_runtime r = rt();
  as_run_result res;
  int rc = as_session_start(&r, id, "{\"env\": \"prod\", \"note\": \"n\"}");
  if (rc == AS_EXISTS) rc = AS_OK;
  if (rc == AS_OK) rc = as_run(&r, id, false, &res);
  approving = true;
  if (rc == AS_OK) rc = as_approval_resolve(&r, id, call, AS_APPROVE, false, &res);
  approving = false;
  return rc;
}

static bool allowed(int rc) {
  return rc == AS_OK || rc == AS_NOMEM || rc == AS_IO || rc == AS_INTERNAL || rc == AS_BUSY ||
         rc == AS_NOTFOUND || rc == AS_EXISTS || rc == AS_INVAL || rc == AS_PARSE ||
         rc == AS_STALE || rc == AS_FULL || rc == AS_TOOBIG;
}

static void test_alloc_failures(void **state) {
  (void)state;
  script(FLOW);
  /* Warm what stays allocated once made (the SQLite page cache grows). */
  assert_int_equal(gated_flow("warm", 1), AS_OK);
  unsigned long n;
  for (n = 1;; n++) {
    char id[32];
    snprintf(id, sizeof id, "a%lu", n);
    size_t live = fw_live_blocks();
    fw_countdown(FW_ALLOC, n, ENOMEM, 0);
    int rc = gated_flow(id, 1);
    bool fired = fw_fired();
    fw_disarm();
    if (!allowed(rc)) fail_msg("allocation %lu: %s", n, as_status_name(rc));
    /* Short of memory, the gate still holds: no high-risk call in
    ** production runs without its approval. */
    if (unapproved_high) fail_msg("allocation %lu: srv:high ran in production unapproved", n);
    if (!fired) {
      assert_int_equal(rc, AS_OK);
      break;
    }
    assert_true(fw_live_blocks() <= live + 64); /* SQLite may keep a page or two */
    assert_int_equal(as_locks_size(REG), 0);
  }
  print_message("allocation countdown: %lu allocations in a gated run\n", n);
}

static void test_sql_failures(void **state) {
  (void)state;
  script(GATED);
  unsigned long n;
  for (n = 1;; n++) {
    char id[32];
    snprintf(id, sizeof id, "q%lu", n);
    sw_countdown(SW_COUNTDOWN, n, SQLITE_IOERR, 0);
    int rc = gated_flow(id, 0);
    bool fired = sw_fired();
    sw_disarm();
    if (!allowed(rc)) fail_msg("SQLite call %lu: %s", n, as_status_name(rc));
    if (!fired) {
      assert_int_equal(rc, AS_OK);
      break;
    }
    assert_int_equal(as_locks_size(REG), 0);
    /* What a failure left, the next run settles: never stuck in progress. */
    as_runtime r = rt();
    as_run_result res;
    int again = as_run(&r, id, false, &res);
    if (again == AS_OK && res.outcome == AS_RUN_PAUSED)
      again = as_approval_resolve(&r, id, 0, AS_APPROVE, false, &res);
    if (again != AS_OK && again != AS_NOTFOUND && again != AS_IO)
      fail_msg("SQLite call %lu: the run after it: %s", n, as_status_name(again));
  }
  print_message("SQLite countdown: %lu calls in a gated run\n", n);
}

/* Arm a countdown of what (allocations or SQLite calls) at n. */
static void arm_fault(bool sql, unsigned long n) {
  if (sql)
    sw_countdown(SW_COUNTDOWN, n, SQLITE_IOERR, 0);
  else
    fw_countdown(FW_ALLOC, n, ENOMEM, 0);
}

static bool disarm_fault(bool sql) {
  bool fired = sql ? sw_fired() : fw_fired();
  if (sql)
    sw_disarm();
  else
    fw_disarm();
  return fired;
}

/* The watchdog timing out a due approval, each failure in turn; a clean
** tick after each failure settles what it left (and the session goes, so
** every tick lists one). */
static void watchdog_countdown(bool sql) {
  /* After the time-out the model concludes at once. */
  script("agent a\n"
         "    call 1\n"
         "        tool srv:high {\"env\": \"dev\"}\n"
         "    call 2\n"
         "        envelope {\"content\": \"c\", \"confidence\": 0.7, \"rationale\": \"r\"}\n");
  RAW = ct_raw_open(&D, "t.db");
  ct_raw_exec(RAW, "PRAGMA synchronous = OFF");
  as_runtime r = rt();
  as_watchdog_stats ws;
  unsigned long n;
  for (n = 1;; n++) {
    char id[32];
    snprintf(id, sizeof id, "%c%lu", sql ? 'y' : 'w', n);
    APP->approval_timeout_ns = 3600000000000ull;
    paused(id);
    APP->approval_timeout_ns = 0;
    arm_fault(sql, n);
    int rc = as_watchdog_tick(&r, &ws);
    bool fired = disarm_fault(sql);
    if (!allowed(rc)) fail_msg("%s %lu: %s", sql ? "SQLite call" : "allocation", n, as_status_name(rc));
    assert_int_equal(as_locks_size(REG), 0);
    if (!fired) {
      assert_int_equal(rc, AS_OK);
      assert_int_equal(ws.resolved, 1);
      break;
    }
    assert_int_equal(as_watchdog_tick(&r, &ws), AS_OK);
    drop_session(id); /* the next tick lists what this one did */
  }
  ct_raw_close(RAW);
  RAW = NULL;
  print_message("watchdog countdown: %lu %s in a tick\n", n, sql ? "SQLite calls" : "allocations");
}

static void test_watchdog_failures(void **state) {
  (void)state;
  watchdog_countdown(false);
  watchdog_countdown(true);
}

/* One run of a fresh session on the current script, each failure in turn:
** a status the caller can act on, the lock released, and a session never
** left in progress by a run that could complete (outcome want). */
static void run_countdown(const char *prefix, bool sql, as_run_outcome want) {
  as_runtime r = rt();
  unsigned long n;
  for (n = 1;; n++) {
    char id[32];
    snprintf(id, sizeof id, "%s%c%lu", prefix, sql ? 'q' : 'a', n);
    start(id, "{\"env\": \"prod\"}");
    as_run_result res;
    arm_fault(sql, n);
    int rc = as_run(&r, id, false, &res);
    bool fired = disarm_fault(sql);
    if (!allowed(rc)) fail_msg("%s %lu: %s", sql ? "SQLite call" : "allocation", n, as_status_name(rc));
    assert_int_equal(as_locks_size(REG), 0);
    if (!fired) {
      assert_int_equal(rc, AS_OK);
      assert_int_equal(res.outcome, want);
      break;
    }
  }
  print_message("run countdown (%s): %lu %s\n", prefix, n, sql ? "SQLite calls" : "allocations");
}

/* A run the model fails (a refusal), each failure in turn. */
static void test_failed_run_failures(void **state) {
  (void)state;
  script("agent a\n    call 1\n        refusal \"no\"\n");
  run_countdown("f", false, AS_RUN_FAILED);
  run_countdown("f", true, AS_RUN_FAILED);
}

/* Starting a session, each failure in turn: nothing is half made. */
static void test_session_start_failures(void **state) {
  (void)state;
  as_runtime r = rt();
  for (int sql = 0; sql < 2; sql++) {
    unsigned long n;
    for (n = 1;; n++) {
      char id[32];
      snprintf(id, sizeof id, "%c%lu", sql ? 'y' : 'w', n);
      arm_fault(sql, n);
      int rc = as_session_start(&r, id, "{\"note\": \"n\", \"env\": \"prod\"}");
      bool fired = disarm_fault(sql);
      as_session s;
      int lrc = as_session_load(ST, id, &s);
      if (rc == AS_OK) {
        assert_int_equal(lrc, AS_OK);
        assert_jstr(s.extra, "note", "n");
        assert_jstr(s.extra, "env", "prod");
        as_session_clear(&s);
      } else {
        if (!allowed(rc)) fail_msg("%lu: %s", n, as_status_name(rc));
        assert_int_equal(lrc, AS_NOTFOUND);
      }
      if (!fired) break;
    }
    print_message("session_start countdown: %lu %s\n", n, sql ? "SQLite calls" : "allocations");
  }
}

/* A second approval of a call approved before (the log is searched),
** each failure in turn: it is refused as resolved, or fails -- never
** taken for a call that never waited. */
static void test_second_decision_failures(void **state) {
  (void)state;
  script(GATED2);
  paused("sd");
  as_run_result res;
  assert_int_equal(resolve("sd", 0, AS_APPROVE, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_PAUSED);
  for (int sql = 0; sql < 2; sql++) {
    unsigned long n;
    for (n = 1;; n++) {
      arm_fault(sql, n);
      int rc = resolve("sd", 0, AS_APPROVE, &res);
      bool fired = disarm_fault(sql);
      if (rc != AS_EXISTS && rc != AS_NOMEM && rc != AS_IO)
        fail_msg("%s %lu: %s", sql ? "SQLite call" : "allocation", n, as_status_name(rc));
      assert_int_equal(as_locks_size(REG), 0);
      if (!fired) break;
    }
    print_message("second decision countdown: %lu %s\n", n, sql ? "SQLite calls" : "allocations");
  }
  as_session s = load("sd");
  assert_int_equal(s.calls[0].state, AS_TOOL_EXECUTED);
  assert_int_equal(s.calls[1].state, AS_TOOL_PENDING_APPROVAL);
  as_session_clear(&s);
}

/* jansson allocates through the wrapped malloc, so its failures count in a
** countdown too -- but for the sizes its string buffers grow to (powers of
** two from 32): jansson 2.14's lexer ignores a failure to grow the buffer
** it saves a string in, and then asserts (load.c, lex_scan_string) when an
** escape's character is missing. Those come from an allocator the wrap
** does not count. */
static void *j_malloc(size_t n) {
  if (n < 32 || (n & (n - 1)) != 0) return malloc(n);
  void *p = NULL;
  return posix_memalign(&p, sizeof(void *), n) == 0 ? p : NULL;
}

static void j_free(void *p) { free(p); }

/* --- costs and spans of a run (budget.h, trace.h) ------------------------------------- */

static const char TPRICES[] =
    "{\"version\": \"v-1\", \"tool_call\": \"0.000100\", \"models\": [{\"model\": \"m1\","
    " \"input\": \"1\", \"cache_read\": \"0\", \"cache_write\": \"0\", \"output\": \"2\"}]}";
static as_prices TP;
static as_budget_cfg TB, TB_NONE; /* priced by TP; no price table at all */
static as_llm TLLM = {&HL_VT, NULL, 0, "m1"};

#define TSPANS 32
static struct {
  char name[TSPANS][AS_SPAN_NAME_MAX];
  char op[TSPANS][AS_OP_ID_MAX];
  char outcome[TSPANS][16];
  uint8_t id[TSPANS][8], parent[TSPANS][8];
  bool error[TSPANS], cost[TSPANS];
  size_t n;
} TS;

static void tsink(void *self, const as_span *sp) {
  (void)self;
  if (TS.n == TSPANS) fail_msg("more than %u spans", TSPANS);
  size_t i = TS.n++;
  snprintf(TS.name[i], sizeof TS.name[i], "%s", sp->name);
  const char *op = as_span_str(sp, "operation.id");
  snprintf(TS.op[i], sizeof TS.op[i], "%s", op ? op : "");
  const char *oc = as_span_str(sp, "outcome");
  snprintf(TS.outcome[i], sizeof TS.outcome[i], "%s", oc ? oc : "");
  memcpy(TS.id[i], sp->span_id, 8);
  memcpy(TS.parent[i], sp->parent_id, 8);
  TS.error[i] = sp->error;
  int64_t c;
  TS.cost[i] = as_span_int(sp, "agentsim.cost_micros", &c);
}

static const as_tracer TTRACER = {tsink, NULL};

/* The runtime with the priced model, and a budget (b, may be NULL) and
** the test's tracer (traced). */
static as_runtime trt(const as_budget_cfg *b, bool traced) {
  as_runtime r = rt();
  r.llm = &TLLM;
  r.budget = b;
  r.tracer = traced ? &TTRACER : NULL;
  return r;
}

static void tele_init_test(void) {
  char err[256];
  memset(&TS, 0, sizeof TS);
  assert_int_equal(as_prices_parse(TPRICES, sizeof TPRICES - 1, "p.json", &TP, err, sizeof err),
                   AS_OK);
  TB = (as_budget_cfg){.daily_limit_micros = 10000000, .cycle_estimate_micros = 100000,
                       .prices = &TP};
  TB_NONE = TB;
  TB_NONE.prices = NULL;
}

/* The span named name (the last one), or -1. */
static int span_named(const char *name) {
  int at = -1;
  for (size_t i = 0; i < TS.n; i++)
    if (strcmp(TS.name[i], name) == 0) at = (int)i;
  return at;
}

static int span_must(const char *name) {
  int i = span_named(name);
  if (i < 0) fail_msg("no span %s (%zu spans)", name, TS.n);
  return i;
}

/* The one text the query answers ("" for NULL). */
static void qtext(const char *sql, char *out, size_t cap) {
  sqlite3 *db = ct_raw_open(&D, "t.db");
  sqlite3_stmt *q = NULL;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  const unsigned char *t = sqlite3_column_text(q, 0);
  snprintf(out, cap, "%s", t ? (const char *)t : "");
  sqlite3_finalize(q);
  ct_raw_close(db);
}

static void assert_q(const char *sql, const char *want) {
  char got[256];
  qtext(sql, got, sizeof got);
  if (strcmp(got, want) != 0) fail_msg("%s: '%s', not '%s'", sql, got, want);
}

/* op's reservation: "state/outcome". */
static void reservation_is(const char *op, const char *want) {
  char sql[512];
  snprintf(sql, sizeof sql,
           "SELECT state || '/' || COALESCE(outcome, '') FROM budget_reservations"
           " WHERE op_id = '%s'", op);
  assert_q(sql, want);
}

static as_trigger_answer ttrigger(const as_runtime *r, const char *id, as_run_outcome want,
                                  as_run_result *res) {
  as_trigger_answer a;
  int rc = as_trigger(r, id, 0, false, &a, res);
  if (rc != AS_OK) fail_msg("trigger %s: %s", id, as_status_name(rc));
  assert_true(a.triggered);
  if (res->outcome != want)
    fail_msg("trigger %s: %s (%s), not %s", id, as_run_outcome_name(res->outcome), res->error,
             as_run_outcome_name(want));
  return a;
}

static const char TOOLED[] =
    "agent a\n"
    "    call 1\n"
    "        tool srv:low {\"n\": 1, \"env\": \"dev\"}\n"
    "        usage prompt=100 completion=10\n"
    "    call 2\n"
    "        envelope {\"content\": \"c\", \"confidence\": 0.7, \"rationale\": \"r\"}\n"
    "        usage prompt=200 completion=20\n";

/* Spans without a budget: no costs on them, nothing in the ledger, the
** session's id for the operation; a model with an empty name is
** "unknown"; a tracer without emit is no tracer at all. */
static void test_tele_tracer_only(void **state) {
  (void)state;
  tele_init_test();
  script(TOOLED);
  start("t1", NULL);
  as_runtime r = trt(NULL, true);
  as_run_result res;
  assert_int_equal(as_run(&r, "t1", false, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_ENDED);
  assert_int_equal(TS.n, 5); /* two chats, a tool, the agent, the root */
  int root = span_must("invoke_agent"), agent = span_must("invoke_agent a");
  int tool = span_must("execute_tool srv:low"), chat = span_must("chat m1");
  assert_memory_equal(TS.parent[agent], TS.id[root], 8);
  assert_memory_equal(TS.parent[tool], TS.id[agent], 8);
  assert_memory_equal(TS.parent[chat], TS.id[agent], 8);
  assert_string_equal(TS.outcome[root], "ended");
  for (size_t i = 0; i < TS.n; i++) {
    assert_false(TS.cost[i]);
    assert_false(TS.error[i]);
    assert_string_equal(TS.op[i], "t1");
  }
  assert_q("SELECT COUNT(*) FROM cost_records", "0");
  /* An empty model name. */
  as_llm anon = TLLM;
  anon.model = "";
  r.llm = &anon;
  memset(&TS, 0, sizeof TS);
  start("t2", NULL);
  assert_int_equal(as_run(&r, "t2", false, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_ENDED);
  assert_true(span_named("chat unknown") >= 0);
  assert_true(span_named("chat m1") < 0);
  /* A tracer that emits nothing. */
  as_tracer mute = {NULL, NULL};
  r.tracer = &mute;
  memset(&TS, 0, sizeof TS);
  start("t3", NULL);
  assert_int_equal(as_run(&r, "t3", false, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_ENDED);
  assert_int_equal(TS.n, 0);
  assert_int_equal(exec_calls, 3);
}

/* A budget without a tracer: the ledger records each leaf (its cycle's op
** id), the cycle settles; an approved call is recorded too. */
static void test_tele_budget_only(void **state) {
  (void)state;
  tele_init_test();
  script(TOOLED);
  start("b1", NULL);
  as_runtime r = trt(&TB, false);
  as_run_result res;
  as_trigger_answer a = ttrigger(&r, "b1", AS_RUN_ENDED, &res);
  assert_string_equal(a.op_id, "b1:cycle-1");
  reservation_is("b1:cycle-1", "settled/completed");
  assert_q("SELECT group_concat(leaf || ':' || name || ':' || cost_micros || ':' || op_id, ',')"
           " FROM (SELECT * FROM cost_records ORDER BY seq)",
           "llm_call:m1:120:b1:cycle-1,tool_call:srv:low:100:b1:cycle-1,"
           "llm_call:m1:240:b1:cycle-1");
  assert_q("SELECT settled_micros FROM budget_reservations WHERE op_id = 'b1:cycle-1'", "460");
  assert_int_equal(TS.n, 0);
  /* Paused, then approved: the approved call runs under the same cycle. */
  script(GATED2);
  start("b2", "{\"env\": \"prod\"}");
  a = ttrigger(&r, "b2", AS_RUN_PAUSED, &res);
  reservation_is(a.op_id, "open/");
  assert_int_equal(as_approval_resolve(&r, "b2", 0, AS_APPROVE, false, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_PAUSED); /* the second srv:high waits */
  reservation_is(a.op_id, "open/");
  assert_q("SELECT COUNT(*) FROM cost_records WHERE op_id = 'b2:cycle-1' AND leaf = 'tool_call'"
           " AND name = 'srv:high' AND cost_micros = 100", "1");
  assert_int_equal(as_approval_resolve(&r, "b2", 1, AS_APPROVE, false, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_ENDED);
  reservation_is(a.op_id, "settled/completed");
  assert_int_equal(TS.n, 0);
}

/* A run under a budget that no trigger reserved for: its records have no
** cycle, nothing is settled, its spans name the session. */
static void test_tele_no_reservation(void **state) {
  (void)state;
  tele_init_test();
  script(TOOLED);
  start("n1", NULL);
  as_runtime r = trt(&TB, true);
  as_run_result res;
  assert_int_equal(as_run(&r, "n1", false, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_ENDED);
  assert_q("SELECT COUNT(*) || '/' || SUM(cost_micros) || '/' || MAX(op_id) FROM cost_records",
           "3/460/");
  assert_q("SELECT COUNT(*) FROM budget_reservations", "0");
  int chat = span_must("chat m1");
  assert_true(TS.cost[chat]);
  for (size_t i = 0; i < TS.n; i++) assert_string_equal(TS.op[i], "n1");
}

/* Models the ledger cannot price fail the run (internal) and release the
** cycle: no price table at all, or a usage bucket past AS_TOKENS_MAX. */
static void test_tele_unpriced(void **state) {
  (void)state;
  tele_init_test();
  script(TOOLED);
  start("u1", NULL);
  as_runtime r = trt(&TB_NONE, true);
  as_run_result res;
  as_trigger_answer a = ttrigger(&r, "u1", AS_RUN_FAILED, &res);
  assert_int_equal(res.kind, AS_ERR_INTERNAL);
  assert_non_null(strstr(res.error, "no price for model m1 in price table (none)"));
  reservation_is(a.op_id, "released/failed");
  int chat = span_must("chat m1");
  assert_true(TS.error[chat]);
  assert_false(TS.cost[chat]);
  assert_true(TS.error[span_must("invoke_agent")]);
  assert_int_equal(exec_calls, 0);
  assert_q("SELECT COUNT(*) FROM cost_records", "0");
  /* Past AS_TOKENS_MAX in one bucket. */
  script("agent a\n"
         "    call 1\n"
         "        envelope {\"content\": \"c\", \"confidence\": 0.7, \"rationale\": \"r\"}\n"
         "        usage prompt=100000001 completion=1\n");
  start("u2", NULL);
  r = trt(&TB, false);
  a = ttrigger(&r, "u2", AS_RUN_FAILED, &res);
  assert_int_equal(res.kind, AS_ERR_INTERNAL);
  assert_non_null(strstr(res.error, "no price for model m1 in price table v-1"));
  reservation_is(a.op_id, "released/failed");
  assert_q("SELECT COUNT(*) FROM cost_records", "0");
  as_session s = load("u2");
  assert_int_equal(s.status, AS_SESS_ERROR);
  assert_string_equal(s.error_kind, "internal");
  as_session_clear(&s);
}

/* An approval under a budget without prices: the approved call is
** recorded at no cost and no version, then the model's call fails the
** run. */
static void test_tele_approval_unpriced(void **state) {
  (void)state;
  tele_init_test();
  script(GATED);
  start("a1", "{\"env\": \"prod\"}");
  as_runtime r = trt(&TB, true);
  as_run_result res;
  as_trigger_answer a = ttrigger(&r, "a1", AS_RUN_PAUSED, &res);
  r.budget = &TB_NONE;
  assert_int_equal(as_approval_resolve(&r, "a1", 0, AS_APPROVE, false, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_FAILED);
  assert_int_equal(res.kind, AS_ERR_INTERNAL);
  assert_non_null(strstr(res.error, "(none)"));
  assert_q("SELECT cost_micros || '/' || price_version || '/' || op_id FROM cost_records"
           " WHERE leaf = 'tool_call'", "0//a1:cycle-1");
  reservation_is(a.op_id, "released/failed");
  assert_false(TS.error[span_must("execute_tool srv:high")]);
}

/* An approved call that fails: its span is an error under the root (no
** agent made it), it has no record, the run fails and its cycle is
** released. A tool busy fails a run as unavailable, one whose answer is
** too big as a validation error. */
static void test_tele_approved_fails(void **state) {
  (void)state;
  tele_init_test();
  script(GATED);
  start("f1", "{\"env\": \"prod\"}");
  as_runtime r = trt(&TB, true);
  as_run_result res;
  as_trigger_answer a = ttrigger(&r, "f1", AS_RUN_PAUSED, &res);
  memset(&TS, 0, sizeof TS);
  exec_fail = AS_IO;
  assert_int_equal(as_approval_resolve(&r, "f1", 0, AS_APPROVE, false, &res), AS_OK);
  assert_int_equal(res.outcome, AS_RUN_FAILED);
  assert_int_equal(res.kind, AS_ERR_TOOL_UNAVAILABLE);
  reservation_is(a.op_id, "released/failed");
  assert_q("SELECT COUNT(*) FROM cost_records WHERE leaf = 'tool_call'", "0");
  int tool = span_must("execute_tool srv:high"), root = span_must("invoke_agent");
  assert_true(TS.error[tool]);
  assert_memory_equal(TS.parent[tool], TS.id[root], 8);
  assert_true(span_named("invoke_agent a") < 0);
  assert_true(TS.error[root]);
  assert_string_equal(TS.outcome[root], "failed");
  /* AS_BUSY from the executor in a run. */
  exec_fail = AS_BUSY;
  script(TOOLED);
  start("f2", NULL);
  a = ttrigger(&r, "f2", AS_RUN_FAILED, &res);
  assert_int_equal(res.kind, AS_ERR_TOOL_UNAVAILABLE);
  assert_non_null(strstr(res.error, "srv:low failed"));
  reservation_is(a.op_id, "released/failed");
  /* An answer too big for the runtime: the call was not valid. */
  exec_fail = AS_TOOBIG;
  start("f3", NULL);
  a = ttrigger(&r, "f3", AS_RUN_FAILED, &res);
  assert_int_equal(res.kind, AS_ERR_VALIDATION);
  reservation_is(a.op_id, "released/failed");
  assert_q("SELECT COUNT(*) FROM cost_records WHERE leaf = 'tool_call'", "0");
}

/* No memory for the model's call, and the next SQLite step fails. */
static int nomem_sql_answer(unsigned call, const as_llm_request *req, as_llm_response *out,
                            as_llm_error *err) {
  sw_inject(SW_STEP, SQLITE_IOERR, 1);
  return nomem_answer(call, req, out, err);
}

/* A run the runtime cannot carry out (no memory for the model's call)
** while the reservation cannot be released either (an UPDATE the
** database refuses): the run's status is reported, the reservation stays
** open for as_budget_recover. */
static void test_tele_release_fails(void **state) {
  (void)state;
  tele_init_test();
  script(TOOLED);
  start("r1", NULL);
  raw("CREATE TRIGGER keep BEFORE UPDATE ON budget_reservations"
      " BEGIN SELECT RAISE(ABORT, 'kept'); END");
  HL.answer = nomem_answer;
  as_runtime r = trt(&TB, true);
  as_run_result res;
  as_trigger_answer a;
  assert_int_equal(as_trigger(&r, "r1", 0, false, &a, &res), AS_NOMEM);
  assert_true(a.triggered);
  reservation_is(a.op_id, "open/");
  assert_string_equal(TS.outcome[span_must("invoke_agent")], "aborted");
  assert_int_equal(as_locks_size(REG), 0);
  raw("DROP TRIGGER keep");
  size_t released = 0;
  assert_int_equal(as_budget_recover(ST, &released), AS_OK);
  assert_int_equal(released, 1);
  reservation_is(a.op_id, "released/recovered");
  /* The same run while the store cannot even say which reservation is
  ** open (the next step fails): the run's status is reported, and the
  ** trigger releases its cycle itself. */
  HL.answer = nomem_sql_answer;
  start("r2", NULL);
  assert_int_equal(as_trigger(&r, "r2", 0, false, &a, &res), AS_NOMEM);
  assert_true(a.triggered);
  assert_int_equal(sw_fired(), 0); /* an injection, not the countdown */
  reservation_is(a.op_id, "released/failed");
  assert_int_equal(as_locks_size(REG), 0);
}

/* as_trigger's arguments. */
static void test_tele_trigger_args(void **state) {
  (void)state;
  tele_init_test();
  as_runtime r = trt(&TB, false);
  as_trigger_answer a;
  as_run_result res;
  start("g1", NULL);
  assert_int_equal(as_trigger(NULL, "g1", 0, false, &a, &res), AS_INVAL);
  assert_int_equal(as_trigger(&r, "g1", 0, false, NULL, &res), AS_INVAL);
  r.budget = NULL;
  assert_int_equal(as_trigger(&r, "g1", 0, false, &a, &res), AS_INVAL);
  assert_q("SELECT COUNT(*) FROM budget_reservations", "0");
}

/* A refused retry (a permanent kind) with each allocation failing in turn:
** a status or the refusal, recorded once when answered. */
static void test_retry_refused_failures(void **state) {
  (void)state;
  as_runs *runs = NULL;
  assert_int_equal(as_runs_new(&runs, 16), AS_OK);
  as_runtime r = rt();
  r.runs = runs;
  for (int sql = 0; sql < 2; sql++) {
    unsigned long n;
    for (n = 1;; n++) {
      char id[32];
      snprintf(id, sizeof id, "x%d-%lu", sql, n);
      start(id, NULL);
      bool changed = false;
      assert_int_equal(as_mark_failed_as(ST, REG, id, "llm_refusal", "no", &changed), AS_OK);
      as_retry_answer a;
      arm_fault(sql, n);
      int rc = as_retry_session(&r, id, false, &a);
      bool fired = disarm_fault(sql);
      if (!allowed(rc)) fail_msg("%lu: %s", n, as_status_name(rc));
      assert_int_equal(as_locks_size(REG), 0);
      as_session s = load(id);
      assert_int_equal(s.status, AS_SESS_ERROR);
      assert_int_equal(s.retry_count, 0);
      as_session_clear(&s);
      size_t rejected = events(id, AS_EVENT_RETRY_REJECTED);
      assert_true(rejected <= 1);
      if (rc != AS_OK) assert_int_equal(rejected, 0);
      if (!fired) {
        assert_int_equal(rc, AS_OK);
        assert_int_equal(a.refusal, AS_RETRY_DENIED);
        assert_int_equal(rejected, 1);
        break;
      }
    }
    print_message("refused retry countdown: %lu %s\n", n, sql ? "SQLite calls" : "allocations");
  }
  as_runs_free(runs);
}

#ifdef AS_WITH_MUTANTS
/* retry_from_non_error: a writer without the lock settles the session
** between the retry's load and its save, and the retry goes on anyway. */
static void test_retry_mutant(void **state) {
  (void)state;
  as_runs *runs = NULL;
  assert_int_equal(as_runs_new(&runs, 16), AS_OK);
  as_runtime r = rt();
  r.runs = runs;
  script("agent a\n"
         "    call 1\n"
         "        envelope {\"content\": \"c\", \"confidence\": 0.7, \"rationale\": \"r\"}\n");
  for (int on = 0; on < 2; on++) {
    assert_int_equal(as_mutant_set(on ? "retry_from_non_error" : NULL), AS_OK);
    char id[8];
    snprintf(id, sizeof id, "m%d", on);
    start(id, NULL);
    bool changed = false;
    assert_int_equal(as_mark_failed_as(ST, REG, id, "llm_timeout", "slow", &changed), AS_OK);
    other_write w = other(id);
    w.status = AS_SESS_NEEDS_REVIEW;
    arm_wall(&w, false);
    as_retry_answer a;
    assert_int_equal(as_retry_session(&r, id, false, &a), AS_OK);
    assert_int_equal(w.runs, 1);
    as_session s = load(id);
    if (on) {
      assert_int_equal(a.refusal, AS_RETRY_ACCEPTED);
      assert_int_equal(a.retry_count, 1);
      assert_int_equal(s.retry_count, 1);
      assert_int_equal(events(id, AS_EVENT_RETRY_STARTED), 1);
    } else {
      assert_int_equal(a.refusal, AS_RETRY_NOT_ERROR);
      assert_int_equal(s.retry_count, 0);
      assert_int_equal(s.status, AS_SESS_NEEDS_REVIEW);
      assert_int_equal(events(id, AS_EVENT_RETRY_STARTED), 0);
    }
    as_session_clear(&s);
  }
  as_runs_free(runs);
}
#endif

int main(void) {
  json_set_alloc_funcs(j_malloc, j_free);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_two_agents, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gate_and_approve, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reject_and_watchdog, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gateway_refusals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_low_confidence_gate, setup, teardown),
      cmocka_unit_test_setup_teardown(test_llm_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_caps, setup, teardown),
      cmocka_unit_test_setup_teardown(test_resume_paths, setup, teardown),
      cmocka_unit_test_setup_teardown(test_session_start, setup, teardown),
      cmocka_unit_test_setup_teardown(test_llm_contract, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gate_policy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_runtime_checks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_prompts, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gateway_more, setup, teardown),
      cmocka_unit_test_setup_teardown(test_terminal_then_pause, setup, teardown),
      cmocka_unit_test_setup_teardown(test_damaged_checkpoints, setup, teardown),
      cmocka_unit_test_setup_teardown(test_conversation_cap, setup, teardown),
      cmocka_unit_test_setup_teardown(test_llm_more, setup, teardown),
      cmocka_unit_test_setup_teardown(test_approval_paths, setup, teardown),
      cmocka_unit_test_setup_teardown(test_watchdog_paging, setup, teardown),
      cmocka_unit_test_setup_teardown(test_watchdog_meanwhile, setup, teardown),
      cmocka_unit_test_setup_teardown(test_settled_meanwhile, setup, teardown),
      cmocka_unit_test_setup_teardown(test_damaged_extra, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tele_tracer_only, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tele_budget_only, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tele_no_reservation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tele_unpriced, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tele_approval_unpriced, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tele_approved_fails, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tele_release_fails, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tele_trigger_args, setup, teardown),
      cmocka_unit_test_setup_teardown(test_retry_refused_failures, setup, teardown),
#ifdef AS_WITH_MUTANTS
      cmocka_unit_test_setup_teardown(test_mutants, setup, teardown),
      cmocka_unit_test_setup_teardown(test_retry_mutant, setup, teardown),
#endif
      cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sql_failures, setup, teardown),
      cmocka_unit_test_setup_teardown(test_watchdog_failures, setup, teardown),
      cmocka_unit_test_setup_teardown(test_failed_run_failures, setup, teardown),
      cmocka_unit_test_setup_teardown(test_session_start_failures, setup, teardown),
      cmocka_unit_test_setup_teardown(test_second_decision_failures, setup, teardown),
  };
  const char *only = getenv("TEST_TURN_ONLY"); /* a glob: the tests to run */
  if (only) cmocka_set_test_filter(only);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

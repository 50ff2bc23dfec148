/*
** test_http_api.c -- the HTTP API's request layer (runtime/posix/http_api.c)
** without sockets: every route and error status, the caps, the JSON errors,
** the run queue and the SSE formatter, over a real on-disk store, the incident
** app and the stub LLM; allocation countdowns (faultwrap) over each request
** kind; the queue's races (two triggers past the first check, held by a
** writer), a cancel from inside a running tool, the seam's random bytes
** failing or repeating. Plus the --llm SPEC parser (sim/llm/spec.c).
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentsim/app.h"
#include "agentsim/budget.h"
#include "agentsim/events.h"
#include "agentsim/http_api.h"
#include "agentsim/locks.h"
#include "agentsim/retry.h"
#include "agentsim/seam.h"
#include "agentsim/store.h"
#include "agentsim/turn.h"
#include "coretest.h"
#include "logcap.h"
#include "faultwrap.h"
#include "sqlwrap.h"
#include <sqlite3.h>
#include "llm/spec.h"
#include "llm/stub.h"

typedef struct env {
  ct_dir dir;
  as_store *st;
  as_app *app;
  as_llm_opened llm;
  as_lock_registry *locks;
  as_runs *runs;
  as_prices prices;
  as_budget_cfg budget;
  as_http_api *api;
} env;

static void env_up(env *e, int64_t limit, size_t queue_max) {
  memset(e, 0, sizeof *e);
  ct_dir_make(&e->dir);
  e->st = ct_open(&e->dir, "api.db", "wal", 5000);
  as_app_diag diag;
  assert_int_equal(as_app_load(AS_SOURCE_DIR "/fixtures/apps/incident", &e->app, &diag), AS_OK);
  as_llm_spec spec;
  char err[256];
  assert_int_equal(as_llm_spec_parse("stub:" AS_SOURCE_DIR "/tests/data/serve_fast.stub", &spec,
                                     err, sizeof err),
                   AS_OK);
  assert_int_equal(as_llm_spec_open(&spec, 1, as_llm_usage_from_inclusive, &e->llm, err, sizeof err),
                   AS_OK);
  assert_int_equal(as_prices_load(AS_SOURCE_DIR "/fixtures/prices/default.json", &e->prices, err,
                                  sizeof err),
                   AS_OK);
  e->budget = (as_budget_cfg){.daily_limit_micros = limit, .cycle_estimate_micros = 150000,
                              .prices = &e->prices};
  assert_int_equal(as_locks_new(&e->locks, 0), AS_OK);
  assert_int_equal(as_runs_new(&e->runs, 0), AS_OK);
  as_http_cfg c = {.app = e->app, .locks = e->locks, .runs = e->runs, .budget = &e->budget,
                   .llm = &e->llm.llm, .queue_max = queue_max};
  assert_int_equal(as_http_api_new(&c, &e->api), AS_OK);
}

static void env_down(env *e) {
  as_http_api_free(e->api);
  as_runs_free(e->runs);
  as_locks_free(e->locks);
  as_llm_opened_close(&e->llm);
  as_app_free(e->app);
  as_store_close(e->st);
  ct_dir_remove(&e->dir);
}

/* One request; the reply's JSON (NULL if not JSON) into *out. */
static unsigned call(env *e, const char *method, const char *path, const char *query,
                     const char *body, json_t **out, as_http_reply *keep) {
  as_http_incoming r = {.method = method, .path = path, .query = query, .body = body,
                       .body_len = body ? strlen(body) : 0, .url_len = strlen(path)};
  as_http_reply rep;
  assert_int_equal(as_http_handle(e->api, e->st, &r, &rep), AS_OK);
  unsigned st = rep.status;
  if (out) *out = rep.body ? json_loads(rep.body, 0, NULL) : NULL;
  if (keep) *keep = rep;
  else as_http_reply_clear(&rep);
  return st;
}

static const char *code_of(json_t *j) {
  return json_string_value(json_object_get(json_object_get(j, "error"), "code"));
}

/* Run the queued cycles here, on this thread. */
static size_t drain_jobs(env *e) {
  size_t n = 0;
  as_http_job job;
  while (as_http_api_next(e->api, as_now_mono_ns(), &job) == AS_OK) {
    as_runtime rt;
    as_http_api_runtime(e->api, e->st, &rt);
    as_run_result res;
    assert_int_equal(as_trigger_run(&rt, job.session, job.op_id, true, &res), AS_OK);
    as_http_api_done(e->api, &job);
    n++;
  }
  return n;
}

/* The test's platform (installed in main): the posix one, with the random
** bytes and the log under the test's control. rand_mode 0: posix's; 1: the
** seam fails; 2: always the same bytes (every new session id collides). */
static as_platform TP;
static int rand_mode;

static int tp_random(void *buf, size_t n) {
  if (rand_mode == 1) return AS_SYS;
  if (rand_mode == 2) {
    memset(buf, 0xab, n);
    return AS_OK;
  }
  return as_platform_posix.random_bytes(buf, n);
}


static bool is_fallback(const as_http_reply *rep) {
  return rep->status == 500 && rep->body &&
         strcmp(rep->body, "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\","
                           "\"details\":{}}}") == 0;
}

static int64_t open_reservations(env *e) {
  as_budget_status bs;
  assert_int_equal(as_budget_status_get(e->st, &e->budget, &bs), AS_OK);
  return bs.open_reservations;
}

static void test_routes_and_errors(void **state) {
  (void)state;
  env e;
  env_up(&e, 5000000, 0);
  json_t *j;
  as_http_reply rep;
  assert_int_equal(call(&e, "GET", "/healthz", NULL, NULL, &j, NULL), 200);
  json_decref(j);
  assert_int_equal(call(&e, "POST", "/healthz", NULL, NULL, NULL, &rep), 405);
  assert_string_equal(rep.allow, "GET");
  as_http_reply_clear(&rep);
  const char *get_only[] = {"/metrics", "/agent/budget", "/agent/status", "/sessions/recent",
                            "/sessions/x", "/sessions/x/events", "/sessions/x/retry/preview"};
  for (size_t i = 0; i < sizeof get_only / sizeof *get_only; i++)
    assert_int_equal(call(&e, "POST", get_only[i], NULL, NULL, NULL, NULL), 405);
  const char *post_only[] = {"/agent/trigger", "/sessions/x/retry", "/sessions/x/cancel",
                             "/sessions/x/approvals/0"};
  for (size_t i = 0; i < sizeof post_only / sizeof *post_only; i++)
    assert_int_equal(call(&e, "GET", post_only[i], NULL, NULL, NULL, NULL), 405);
  assert_int_equal(call(&e, "GET", "/nope", NULL, NULL, &j, NULL), 404);
  assert_string_equal(code_of(j), "not_found");
  json_decref(j);
  assert_int_equal(call(&e, "GET", "/sessions/", NULL, NULL, NULL, NULL), 404);
  assert_int_equal(call(&e, "GET", "/sessions/x/zzz", NULL, NULL, NULL, NULL), 404);
  assert_int_equal(call(&e, "POST", "/sessions/x/approvals/", NULL, NULL, NULL, NULL), 404);
  assert_int_equal(call(&e, "POST", "/sessions/x/approvals/1/2", NULL, NULL, NULL, NULL), 404);
  assert_int_equal(call(&e, "GET", "/sessions/a:b", NULL, NULL, NULL, NULL), 400);
  char longid[300];
  memset(longid, 'a', sizeof longid);
  memcpy(longid, "/sessions/", 10);
  longid[sizeof longid - 1] = '\0';
  assert_int_equal(call(&e, "GET", longid, NULL, NULL, NULL, NULL), 400);
  /* caps */
  as_http_incoming r = {.method = "GET", .path = "/healthz", .url_len = AS_HTTP_IN_URL_MAX + 1};
  assert_int_equal(as_http_handle(e.api, e.st, &r, &rep), AS_OK);
  assert_int_equal(rep.status, 414);
  as_http_reply_clear(&rep);
  r.url_len = 8;
  r.body_too_big = true;
  assert_int_equal(as_http_handle(e.api, e.st, &r, &rep), AS_OK);
  assert_int_equal(rep.status, 413);
  as_http_reply_clear(&rep);
  assert_int_equal(as_http_handle(e.api, NULL, &r, &rep), AS_OK);
  assert_int_equal(rep.status, 400);
  as_http_reply_clear(&rep);
  as_http_reply_clear(NULL);
  /* JSON errors */
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\n \"a\": }", &j, NULL), 400);
  json_t *d = json_object_get(json_object_get(j, "error"), "details");
  assert_int_equal(json_integer_value(json_object_get(d, "line")), 2);
  assert_int_equal(json_integer_value(json_object_get(d, "column")), 7);
  json_decref(j);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "[]", NULL, NULL), 400);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"x\":1}", NULL, NULL), 400);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"session_id\":1}", NULL, NULL), 400);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"fields\":1}", NULL, NULL), 400);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"estimate\":\"x\"}", NULL, NULL),
                   400);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"estimate\":true}", NULL, NULL), 400);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL,
                        "{\"fields\":{\"environment\":\"mars\"}}", NULL, NULL),
                   400);
  /* queries */
  assert_int_equal(call(&e, "GET", "/sessions/recent", "limit=0", NULL, NULL, NULL), 400);
  assert_int_equal(call(&e, "GET", "/sessions/recent", "limit=12x", NULL, NULL, NULL), 400);
  assert_int_equal(call(&e, "GET", "/sessions/recent", "limit=", NULL, NULL, NULL), 400);
  assert_int_equal(call(&e, "GET", "/sessions/recent", "limit=1234567890123456789", NULL, NULL,
                        NULL),
                   400);
  assert_int_equal(call(&e, "GET", "/sessions/recent", "a=1&limitx=2&limit=3", NULL, &j, NULL),
                   200);
  json_decref(j);
  /* unknown sessions */
  assert_int_equal(call(&e, "GET", "/sessions/none", NULL, NULL, NULL, NULL), 404);
  assert_int_equal(call(&e, "GET", "/sessions/none/events", NULL, NULL, NULL, NULL), 404);
  assert_int_equal(call(&e, "POST", "/sessions/none/retry", NULL, NULL, NULL, NULL), 404);
  assert_int_equal(call(&e, "GET", "/sessions/none/retry/preview", NULL, NULL, NULL, NULL), 404);
  assert_int_equal(call(&e, "POST", "/sessions/none/cancel", NULL, NULL, NULL, NULL), 404);
  assert_int_equal(call(&e, "POST", "/sessions/none/approvals/0", NULL,
                        "{\"decision\":\"approve\"}", NULL, NULL),
                   404);
  /* reads */
  assert_int_equal(call(&e, "GET", "/metrics", NULL, NULL, NULL, &rep), 200);
  assert_non_null(strstr(rep.body, "agent_"));
  as_http_reply_clear(&rep);
  assert_int_equal(call(&e, "GET", "/agent/budget", NULL, NULL, &j, NULL), 200);
  assert_int_equal(json_integer_value(json_object_get(j, "daily_limit_micros")), 5000000);
  json_decref(j);
  env_down(&e);
}

static void test_cycles(void **state) {
  (void)state;
  env e;
  env_up(&e, 5000000, 0);
  json_t *j;
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, NULL, &j, NULL), 202);
  assert_true(json_is_true(json_object_get(j, "triggered")));
  json_decref(j);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL,
                        "{\"session_id\":\"p1\",\"fields\":{\"environment\":\"production\"},"
                        "\"estimate\":\"0.2\"}",
                        &j, NULL),
                   202);
  assert_string_equal(json_string_value(json_object_get(j, "operation_id")), "p1:cycle-1");
  json_decref(j);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"session_id\":\"p1\"}", &j, NULL),
                   409);
  assert_string_equal(json_string_value(json_object_get(j, "reason")), "cycle_in_progress");
  json_decref(j);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL,
                        "{\"session_id\":\"n1\",\"estimate\":0.25}", NULL, NULL),
                   202);
  assert_int_equal(as_http_api_active(e.api), 3);
  assert_int_equal(call(&e, "GET", "/agent/status", NULL, NULL, &j, NULL), 200);
  assert_string_equal(json_string_value(json_object_get(j, "status")), "running");
  json_decref(j);
  assert_int_equal(drain_jobs(&e), 3);
  assert_int_equal(as_http_api_wait_idle(e.api, as_now_mono_ns()), AS_OK);
  /* p1 waits at the gate */
  assert_int_equal(call(&e, "GET", "/agent/status", NULL, NULL, &j, NULL), 200);
  assert_string_equal(json_string_value(json_object_get(j, "status")), "idle");
  json_t *p = json_array_get(json_object_get(j, "pending_approvals"), 0);
  assert_string_equal(json_string_value(json_object_get(p, "session_id")), "p1");
  char path[64];
  snprintf(path, sizeof path, "/sessions/p1/approvals/%lld",
           (long long)json_integer_value(json_object_get(p, "call")));
  json_decref(j);
  assert_int_equal(call(&e, "POST", path, NULL, "{\"decision\":\"maybe\"}", NULL, NULL), 400);
  assert_int_equal(call(&e, "POST", path, NULL, "{\"decision\":", NULL, NULL), 400);
  assert_int_equal(call(&e, "POST", "/sessions/p1/approvals/x", NULL, NULL, NULL, NULL), 400);
  assert_int_equal(call(&e, "POST", "/sessions/p1/approvals/0", NULL,
                        "{\"decision\":\"approve\"}", &j, NULL),
                   409);
  assert_string_equal(code_of(j), "not_pending");
  json_decref(j);
  assert_int_equal(call(&e, "POST", "/sessions/p1/approvals/200", NULL,
                        "{\"decision\":\"approve\"}", NULL, NULL),
                   404);
  as_http_reply rep;
  assert_int_equal(call(&e, "GET", "/sessions/p1/events", "since=2", NULL, NULL, &rep), 200);
  as_http_reply_clear(&rep);
  as_http_incoming sr = {.method = "GET", .path = "/sessions/p1/events", .query = "since=1",
                        .accept = "text/event-stream", .url_len = 20};
  assert_int_equal(as_http_handle(e.api, e.st, &sr, &rep), AS_OK);
  assert_true(rep.sse);
  assert_string_equal(rep.sse_session, "p1");
  assert_int_equal(rep.sse_since, 1);
  as_http_reply_clear(&rep);
  assert_int_equal(call(&e, "GET", "/sessions/p1/events", "since=-1", NULL, NULL, NULL), 400);
  assert_int_equal(call(&e, "POST", path, NULL, "{\"decision\":\"reject\"}", &j, NULL), 200);
  json_decref(j);
  assert_int_equal(call(&e, "POST", path, NULL, "{\"decision\":\"approve\"}", &j, NULL), 409);
  assert_string_equal(code_of(j), "already_resolved");
  json_decref(j);
  assert_int_equal(call(&e, "GET", "/sessions/p1", NULL, NULL, &j, NULL), 200);
  assert_true(json_array_size(json_object_get(j, "history")) > 0);
  assert_true(json_array_size(json_object_get(j, "agent_runs")) > 0);
  json_decref(j);
  /* retry: not in error, then in error */
  assert_int_equal(call(&e, "POST", "/sessions/n1/retry", NULL, NULL, &j, NULL), 409);
  assert_string_equal(code_of(j), "not_in_error");
  json_decref(j);
  as_session s = {0};
  assert_int_equal(as_session_load(e.st, "n1", &s), AS_OK);
  s.status = AS_SESS_ERROR;
  snprintf(s.error_kind, sizeof s.error_kind, "llm_timeout");
  snprintf(s.error_cause, sizeof s.error_cause, "a test");
  assert_int_equal(as_session_save(e.st, &s), AS_OK);
  as_session_clear(&s);
  assert_int_equal(call(&e, "GET", "/sessions/n1/retry/preview", NULL, NULL, &j, NULL), 200);
  assert_string_equal(json_string_value(json_object_get(j, "answer")), "accepted");
  json_decref(j);
  assert_int_equal(call(&e, "POST", "/sessions/n1/retry", NULL, NULL, &j, NULL), 200);
  assert_non_null(json_object_get(j, "run"));
  json_decref(j);
  assert_int_equal(call(&e, "POST", "/sessions/n1/cancel", NULL, NULL, &j, NULL), 200);
  assert_string_equal(json_string_value(json_object_get(j, "cancel")), "not_running");
  json_decref(j);
  assert_int_equal(call(&e, "GET", "/sessions/recent", "limit=2", NULL, &j, NULL), 200);
  assert_int_equal(json_array_size(json_object_get(j, "sessions")), 2);
  json_decref(j);
  /* SSE: the formatter */
  char buf[AS_HTTP_SSE_CHUNK_MIN * 64];
  int64_t since = 0;
  size_t n;
  bool done;
  assert_int_equal(as_http_sse_next(e.st, "p1", &since, buf, sizeof buf, &n, &done), AS_OK);
  assert_true(n > 0);
  assert_non_null(strstr(buf, "event: agent_started"));
  while (n > 0) assert_int_equal(as_http_sse_next(e.st, "p1", &since, buf, sizeof buf, &n, &done), AS_OK);
  assert_true(done);
  char big[600];
  snprintf(big, sizeof big, "{\"note\":\"%0500d\"}", 0);
  assert_int_equal(as_event_append(e.st, "p1", "note", big, NULL), AS_OK);
  since = 0;
  assert_int_equal(as_http_sse_next(e.st, "p1", &since, buf, AS_HTTP_SSE_CHUNK_MIN, &n, &done),
                   AS_OK);
  assert_true(n > 0 && since >= 1);
  int truncated = 0;
  for (int k = 0; k < 200 && n > 0; k++) {
    truncated |= strstr(buf, "event: truncated") != NULL;
    assert_int_equal(as_http_sse_next(e.st, "p1", &since, buf, AS_HTTP_SSE_CHUNK_MIN, &n, &done),
                     AS_OK);
  }
  assert_true(truncated);
  assert_int_equal(as_http_sse_next(e.st, "p1", &since, buf, 8, &n, &done), AS_INVAL);
  assert_int_equal(as_http_sse_next(e.st, "gone", &since, buf, sizeof buf, &n, &done),
                   AS_NOTFOUND);
  env_down(&e);
}

static void test_budget_and_queue(void **state) {
  (void)state;
  env e;
  env_up(&e, 200000, 1); /* room for one cycle at $0.15; one queue slot */
  json_t *j;
  as_http_reply rep;
  bool changed;
  size_t n = 0;
  as_http_job job;
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"session_id\":\"a\"}", NULL, NULL),
                   202);
  /* the queue full: refused before anything is written */
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"session_id\":\"b\"}", &j, &rep),
                   503);
  assert_int_equal(rep.retry_after, 1);
  as_http_reply_clear(&rep);
  json_decref(j);
  assert_int_equal(as_http_api_next(e.api, as_now_mono_ns(), &job), AS_OK);
  assert_int_equal(as_http_api_next(e.api, as_now_mono_ns(), &job), AS_TIMEDOUT);
  assert_int_equal(as_http_api_wait_idle(e.api, as_now_mono_ns()), AS_TIMEDOUT);
  as_http_api_done(e.api, &job);
  /* a's reservation open: b is refused for the budget */
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"session_id\":\"b\"}", &j, &rep),
                   429);
  assert_string_equal(json_string_value(json_object_get(j, "reason")), "budget_exhausted");
  assert_true(json_is_false(json_object_get(j, "triggered")));
  assert_string_equal(code_of(j), "budget_exhausted");
  json_decref(j);
  as_http_reply_clear(&rep);
  assert_int_equal(as_budget_release(e.st, "a:cycle-1", "idle", &changed), AS_OK);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"session_id\":\"b\"}", NULL, NULL),
                   202);
  assert_int_equal(as_http_api_next(e.api, as_now_mono_ns(), &job), AS_OK);
  assert_int_equal(as_http_api_cancel_all(e.api, e.st, &n), AS_OK); /* b running: marked */
  assert_int_equal(n, 1);
  as_http_api_done(e.api, &job);
  assert_int_equal(as_budget_release(e.st, "b:cycle-1", "idle", &changed), AS_OK);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"session_id\":\"c\"}", NULL, NULL),
                   202);
  assert_int_equal(as_http_api_cancel_all(e.api, e.st, &n), AS_OK); /* c queued: dropped */
  assert_int_equal(n, 1);
  assert_int_equal(as_http_api_active(e.api), 0);
  as_budget_status bs;
  assert_int_equal(as_budget_status_get(e.st, &e.budget, &bs), AS_OK);
  assert_int_equal(bs.open_reservations, 0);
  as_http_api_close(e.api);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, NULL, &j, NULL), 503);
  json_decref(j);
  assert_int_equal(as_http_api_next(e.api, as_now_mono_ns(), &job), AS_NOTFOUND);
  assert_int_equal(call(&e, "GET", "/agent/status", NULL, NULL, &j, NULL), 200);
  assert_true(json_is_true(json_object_get(j, "draining")));
  json_decref(j);
  env_down(&e);
}

/* A task holding a session's lock until told. */
typedef struct holder {
  as_lock_registry *locks;
  as_mutex *mu;
  as_cond *cv;
  int stage; /* 1: holding; 2: let go */
} holder;

static void hold(void *arg) {
  holder *h = arg;
  assert_int_equal(as_lock_acquire(h->locks, "busy1"), AS_OK);
  as_mutex_lock(h->mu);
  h->stage = 1;
  as_cond_broadcast(h->cv);
  while (h->stage != 2) as_cond_wait(h->cv, h->mu);
  as_mutex_unlock(h->mu);
  assert_int_equal(as_lock_release(h->locks, "busy1"), AS_OK);
}

static void test_busy(void **state) {
  (void)state;
  env e;
  env_up(&e, 5000000, 0);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"session_id\":\"busy1\"}", NULL,
                        NULL),
                   202);
  holder h = {.locks = e.locks};
  assert_int_equal(as_mutex_new(&h.mu), AS_OK);
  assert_int_equal(as_cond_new(&h.cv), AS_OK);
  as_task *t;
  assert_int_equal(as_task_spawn(&t, "holder", hold, &h), AS_OK);
  as_mutex_lock(h.mu);
  while (h.stage != 1) as_cond_wait(h.cv, h.mu);
  as_mutex_unlock(h.mu);
  json_t *j;
  as_http_reply rep;
  assert_int_equal(call(&e, "POST", "/sessions/busy1/retry", NULL, NULL, &j, &rep), 429);
  assert_int_equal(rep.retry_after, 1);
  assert_string_equal(code_of(j), "busy");
  json_decref(j);
  as_http_reply_clear(&rep);
  assert_int_equal(call(&e, "POST", "/sessions/busy1/approvals/0", NULL,
                        "{\"decision\":\"approve\"}", NULL, NULL),
                   429);
  /* the worker's try-acquire: refused, the reservation released */
  as_http_job job;
  assert_int_equal(as_http_api_next(e.api, as_now_mono_ns(), &job), AS_OK);
  as_runtime rt;
  as_http_api_runtime(e.api, e.st, &rt);
  as_run_result res;
  assert_int_equal(as_trigger_run(&rt, job.session, job.op_id, true, &res), AS_BUSY);
  as_http_api_done(e.api, &job);
  as_mutex_lock(h.mu);
  h.stage = 2;
  as_cond_broadcast(h.cv);
  as_mutex_unlock(h.mu);
  assert_int_equal(as_task_join(t), AS_OK);
  as_cond_free(h.cv);
  as_mutex_free(h.mu);
  as_budget_status bs;
  assert_int_equal(as_budget_status_get(e.st, &e.budget, &bs), AS_OK);
  assert_int_equal(bs.open_reservations, 0);
  /* the split's argument checks */
  assert_int_equal(as_trigger_run(&rt, "busy1", NULL, true, &res), AS_INVAL);
  assert_int_equal(as_trigger_run(NULL, "busy1", "busy1:cycle-1", true, &res), AS_INVAL);
  as_trigger_answer a;
  assert_int_equal(as_trigger_reserve(NULL, "x", 0, &a), AS_INVAL);
  assert_int_equal(as_trigger_reserve(&rt, NULL, 0, &a), AS_INVAL);
  assert_int_equal(as_trigger_reserve(&rt, "x", 0, NULL), AS_INVAL);
  as_runtime nob = rt;
  nob.budget = NULL;
  assert_int_equal(as_trigger_reserve(&nob, "x", 0, &a), AS_INVAL);
  nob = rt;
  nob.st = NULL;
  assert_int_equal(as_trigger_reserve(&nob, "x", 0, &a), AS_INVAL);
  env_down(&e);
}

static void test_api_new(void **state) {
  (void)state;
  env e;
  env_up(&e, 5000000, 0);
  as_http_api *a = (as_http_api *)1;
  assert_int_equal(as_http_api_new(NULL, &a), AS_INVAL);
  assert_null(a);
  assert_int_equal(as_http_api_new(NULL, NULL), AS_INVAL);
  as_http_cfg full = {.app = e.app, .locks = e.locks, .runs = e.runs, .budget = &e.budget,
                      .llm = &e.llm.llm};
  for (int k = 0; k < 6; k++) {
    as_http_cfg c = full;
    if (k == 0) c.app = NULL;
    if (k == 1) c.locks = NULL;
    if (k == 2) c.runs = NULL;
    if (k == 3) c.budget = NULL;
    if (k == 4) c.llm = NULL;
    if (k == 5) c.queue_max = AS_HTTP_QUEUE_MAX + 1;
    assert_int_equal(as_http_api_new(&c, &a), AS_INVAL);
  }
  as_http_api_free(NULL);
  /* the store's listing and checkpoint (store.h) */
  as_session_brief br[2];
  size_t bn = 9;
  assert_int_equal(as_session_recent(NULL, -1, br, 2, &bn), AS_INVAL);
  assert_int_equal(as_session_recent(e.st, -1, NULL, 2, &bn), AS_INVAL);
  assert_int_equal(as_session_recent(e.st, -1, br, 2, NULL), AS_INVAL);
  assert_int_equal(as_session_recent(e.st, -1, br, 0, &bn), AS_INVAL);
  assert_int_equal(as_session_recent(e.st, -1, br, AS_STORE_LIST_MAX + 1, &bn), AS_INVAL);
  assert_int_equal(as_session_recent(e.st, -2, br, 2, &bn), AS_INVAL);
  assert_int_equal(as_session_recent(e.st, (int)AS__SESS_COUNT, br, 2, &bn), AS_INVAL);
  assert_int_equal(as_session_recent(e.st, AS_SESS_NEW, br, 2, &bn), AS_OK);
  assert_int_equal(bn, 0);
  assert_int_equal(as_store_checkpoint(NULL), AS_INVAL);
  assert_int_equal(as_store_checkpoint(e.st), AS_OK);
  /* the request's and the formatter's argument checks */
  as_http_incoming r = {.method = "GET", .path = "/healthz"};
  as_http_reply rep;
  as_http_incoming nom = r, nop = r;
  nom.method = NULL;
  nop.path = NULL;
  const as_http_incoming *rs[] = {&nom, &nop, NULL};
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(as_http_handle(e.api, e.st, rs[i], &rep), AS_OK);
    assert_int_equal(rep.status, 400);
    as_http_reply_clear(&rep);
  }
  assert_int_equal(as_http_handle(NULL, e.st, &r, &rep), AS_OK);
  as_http_reply_clear(&rep);
  char buf[512];
  int64_t since = 0;
  size_t n;
  bool done;
  assert_int_equal(as_http_sse_next(NULL, "x", &since, buf, sizeof buf, &n, &done), AS_INVAL);
  assert_int_equal(as_http_sse_next(e.st, NULL, &since, buf, sizeof buf, &n, &done), AS_INVAL);
  assert_int_equal(as_http_sse_next(e.st, "x", NULL, buf, sizeof buf, &n, &done), AS_INVAL);
  assert_int_equal(as_http_sse_next(e.st, "x", &since, NULL, sizeof buf, &n, &done), AS_INVAL);
  assert_int_equal(as_http_sse_next(e.st, "x", &since, buf, sizeof buf, NULL, &done), AS_INVAL);
  assert_int_equal(as_http_sse_next(e.st, "x", &since, buf, sizeof buf, &n, NULL), AS_INVAL);
  /* odd bodies, queries and values */
  assert_int_equal(call(&e, "GET", "/sessions/recent", "x=1", NULL, NULL, NULL), 200);
  assert_int_equal(call(&e, "GET", "/sessions/recent",
                        "limit=00000000000000000000000000000000000000000001", NULL, NULL, NULL),
                   400);
  as_http_incoming empty = {.method = "POST", .path = "/agent/trigger", .body = "", .url_len = 14};
  assert_int_equal(as_http_handle(e.api, e.st, &empty, &rep), AS_OK);
  assert_int_equal(rep.status, 202);
  as_http_reply_clear(&rep);
  size_t hn = 300 * 1024;
  char *huge = malloc(hn + 1);
  assert_non_null(huge);
  memset(huge, ' ', hn);
  huge[0] = '{';
  huge[hn - 1] = '}';
  huge[hn] = '\0';
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, huge, NULL, NULL), 413);
  free(huge);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"estimate\":\"0\"}", NULL, NULL),
                   400);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"estimate\":0}", NULL, NULL), 400);
  assert_int_equal(call(&e, "POST", "/sessions/x/approvals/0", NULL, "{\"decision\":1}", NULL,
                        NULL),
                   400);
  as_http_incoming ev = {.method = "GET", .path = "/sessions/none/events",
                        .accept = "application/json", .url_len = 21};
  assert_int_equal(as_http_handle(e.api, e.st, &ev, &rep), AS_OK);
  assert_int_equal(rep.status, 404);
  as_http_reply_clear(&rep);
  /* the queue: FIFO, and done for a job it does not hold */
  assert_int_equal(drain_jobs(&e), 1);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"session_id\":\"q1\"}", NULL, NULL),
                   202);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"session_id\":\"q2\"}", NULL, NULL),
                   202);
  as_http_job job, other = {.session = "zz", .op_id = "zz:cycle-1"};
  assert_int_equal(as_http_api_next(e.api, as_now_mono_ns(), &job), AS_OK);
  assert_string_equal(job.session, "q1");
  as_http_api_done(e.api, &other);
  assert_int_equal(as_http_api_active(e.api), 2);
  as_http_api_done(e.api, &job);
  /* q1's slot taken again by q3: q2, older, still runs first */
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"session_id\":\"q3\"}", NULL, NULL),
                   202);
  assert_int_equal(as_http_api_next(e.api, as_now_mono_ns(), &job), AS_OK);
  assert_string_equal(job.session, "q2");
  as_http_api_done(e.api, &job);
  assert_int_equal(as_http_api_next(e.api, as_now_mono_ns(), &job), AS_OK);
  assert_string_equal(job.session, "q3");
  as_http_api_done(e.api, &job);
  env_down(&e);
}

/* Each request kind with each SQLite call failing in turn (I/O error: 500;
** disk full: 503). */
static void test_store_errors(void **state) {
  (void)state;
  env e;
  env_up(&e, 5000000, 0);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL,
                        "{\"session_id\":\"d0\",\"fields\":{\"environment\":\"production\"}}",
                        NULL, NULL),
                   202);
  assert_int_equal(drain_jobs(&e), 1);
  struct {
    const char *m, *p, *q, *b;
  } reqs[] = {
      {"GET", "/agent/budget", NULL, NULL},
      {"GET", "/metrics", NULL, NULL},
      {"GET", "/agent/status", NULL, NULL},
      {"GET", "/sessions/recent", NULL, NULL},
      {"GET", "/sessions/d0", NULL, NULL},
      {"GET", "/sessions/d0/events", "since=0", NULL},
      {"GET", "/sessions/d0/retry/preview", NULL, NULL},
      {"POST", "/sessions/d0/retry", NULL, NULL},
      {"POST", "/sessions/d0/cancel", NULL, NULL},
      {"POST", "/sessions/d0/approvals/0", NULL, "{\"decision\":\"approve\"}"},
      {"POST", "/agent/trigger", NULL, "{}"},
  };
  int errs[] = {SQLITE_IOERR, SQLITE_FULL};
  for (size_t x = 0; x < 2; x++)
    for (size_t i = 0; i < sizeof reqs / sizeof *reqs; i++) {
      for (unsigned long k = 1; k < 10000; k++) {
        as_http_incoming r = {.method = reqs[i].m, .path = reqs[i].p, .query = reqs[i].q,
                             .body = reqs[i].b, .body_len = reqs[i].b ? strlen(reqs[i].b) : 0,
                             .url_len = 10};
        as_http_reply rep;
        sw_countdown(SW_COUNTDOWN, k, errs[x], 0);
        int rc = as_http_handle(e.api, e.st, &r, &rep);
        int fired = sw_fired();
        sw_disarm();
        assert_true(rc == AS_OK || rc == AS_NOMEM);
        assert_true(rep.status >= 200);
        as_http_reply_clear(&rep);
        if (!fired) break;
      }
      (void)drain_jobs(&e);
    }
  char buf[4096];
  for (unsigned long k = 1; k < 1000; k++) {
    int64_t since = 0;
    size_t n;
    bool done;
    sw_countdown(SW_COUNTDOWN, k, SQLITE_IOERR, 0);
    int rc = as_http_sse_next(e.st, "d0", &since, buf, sizeof buf, &n, &done);
    int fired = sw_fired();
    sw_disarm();
    if (!fired) break;
    (void)rc; /* any status: the point is no crash and no leak */
  }
  env_down(&e);
}

/* jansson's memory through the wrapped malloc, so the countdown reaches it.
** Sizes that are powers of two from 32 up go through posix_memalign, which is
** not wrapped: the lexer's buffer, whose failure jansson 2.14 asserts on (as
** test_budget.c does). */
static void *jmalloc(size_t n) {
  if (n < 32 || (n & (n - 1)) != 0) return malloc(n);
  void *p = NULL;
  return posix_memalign(&p, sizeof(void *), n) == 0 ? p : NULL;
}
static void jfree_(void *p) { free(p); }

/* Every allocation of each request kind fails in turn: the runtime's and
** jansson's (its allocator routed through the wrapped malloc). */
static void test_nomem(void **state) {
  (void)state;
  env e;
  env_up(&e, 5000000, 0);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL,
                        "{\"session_id\":\"m0\",\"fields\":{\"environment\":\"production\"}}",
                        NULL, NULL),
                   202);
  assert_int_equal(drain_jobs(&e), 1);
  struct {
    const char *m, *p, *q, *b;
  } reqs[] = {
      {"GET", "/healthz", NULL, NULL},
      {"GET", "/agent/budget", NULL, NULL},
      {"GET", "/metrics", NULL, NULL},
      {"GET", "/agent/status", NULL, NULL},
      {"GET", "/sessions/recent", NULL, NULL},
      {"GET", "/sessions/m0", NULL, NULL},
      {"GET", "/sessions/m0/events", "since=0", NULL},
      {"GET", "/sessions/m0/retry/preview", NULL, NULL},
      {"POST", "/sessions/m0/cancel", NULL, NULL},
      {"POST", "/agent/trigger", NULL, "{\"fields\":{\"service\":\"x\"}}"},
      {"POST", "/agent/trigger", NULL, "{\"x\":"},
      {"GET", "/nope", NULL, NULL},
      {"POST", "/sessions/m0/retry", NULL, NULL},
      {"POST", "/sessions/m0/approvals/0", NULL, "{\"decision\":\"approve\"}"},
      {"POST", "/sessions/m0/approvals/9", NULL, "{\"decision\":\"approve\"}"},
      {"POST", "/agent/trigger", NULL, "{\"session_id\":\"m0\"}"},
      {"POST", "/agent/trigger", NULL, "{\"estimate\":0.5,\"session_id\":\"m1\"}"},
      {"POST", "/agent/trigger", NULL, "[1]"},
      {"GET", "/sessions/none", NULL, NULL},
  };
  for (size_t i = 0; i < sizeof reqs / sizeof *reqs; i++) {
    for (unsigned long k = 1; k < 10000; k++) {
      as_http_incoming r = {.method = reqs[i].m, .path = reqs[i].p, .query = reqs[i].q,
                           .body = reqs[i].b, .body_len = reqs[i].b ? strlen(reqs[i].b) : 0,
                           .url_len = 10};
      as_http_reply rep;
      fw_countdown(FW_ALLOC, k, 0, 0);
      int rc = as_http_handle(e.api, e.st, &r, &rep);
      int fired = fw_fired();
      fw_disarm();
      assert_true(rc == AS_OK || rc == AS_NOMEM);
      assert_true(rep.status >= 200);
      as_http_reply_clear(&rep);
      if (!fired) break;
    }
    (void)drain_jobs(&e);
  }
  /* the SSE formatter */
  for (unsigned long k = 1; k < 10000; k++) {
    char buf[4096];
    int64_t since = 0;
    size_t n;
    bool done;
    fw_countdown(FW_ALLOC, k, 0, 0);
    int rc = as_http_sse_next(e.st, "m0", &since, buf, sizeof buf, &n, &done);
    int fired = fw_fired();
    fw_disarm();
    assert_true(rc == AS_OK || rc == AS_NOMEM);
    if (!fired) break;
  }
  /* the api itself */
  for (unsigned long k = 1; k < 100; k++) {
    as_http_cfg c = {.app = e.app, .locks = e.locks, .runs = e.runs, .budget = &e.budget,
                     .llm = &e.llm.llm};
    as_http_api *a = NULL;
    fw_countdown(FW_ALLOC, k, 0, 0);
    int rc = as_http_api_new(&c, &a);
    int fired = fw_fired();
    fw_disarm();
    as_http_api_free(a);
    if (!fired) break;
    (void)rc; /* any status: the point is no crash and no leak */
  }
  env_down(&e);
}

/* Queries, Accept and the SSE formatter's 64-event window. */
static void test_edges(void **state) {
  (void)state;
  env e;
  env_up(&e, 5000000, 0);
  json_t *j;
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"session_id\":\"e1\"}", NULL, NULL),
                   202);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"session_id\":\"e2\"}", NULL, NULL),
                   202);
  assert_int_equal(drain_jobs(&e), 2);
  /* a longer key that starts with another letter is not "limit" */
  assert_int_equal(call(&e, "GET", "/sessions/recent", "zzzzzzzz=5&limit=1", NULL, &j, NULL), 200);
  assert_int_equal(json_array_size(json_object_get(j, "sessions")), 1);
  json_decref(j);
  /* past the top of the range */
  assert_int_equal(call(&e, "GET", "/sessions/recent", "limit=101", NULL, &j, NULL), 400);
  assert_string_equal(code_of(j), "bad_request");
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(json_object_get(j, "error"), "details"), "parameter")),
                      "limit");
  json_decref(j);
  /* an Accept without event-stream: the JSON listing, not a stream */
  as_http_incoming r = {.method = "GET", .path = "/sessions/e1/events", .query = "since=0",
                       .accept = "application/json", .url_len = 27};
  as_http_reply rep;
  assert_int_equal(as_http_handle(e.api, e.st, &r, &rep), AS_OK);
  assert_int_equal(rep.status, 200);
  assert_false(rep.sse);
  j = json_loads(rep.body, 0, NULL);
  assert_string_equal(json_string_value(json_object_get(j, "session_id")), "e1");
  assert_true(json_array_size(json_object_get(j, "events")) > 0);
  json_decref(j);
  as_http_reply_clear(&rep);
  /* more events than one read takes (64): the first chunk is not the end */
  int64_t last = 0;
  for (int i = 0; i < 70; i++) assert_int_equal(as_event_append(e.st, "e2", "note", "{}", &last),
                                               AS_OK);
  int64_t since = 0;
  size_t n;
  bool done = true;
  char buf[AS_HTTP_SSE_CHUNK_MIN * 256];
  assert_int_equal(as_http_sse_next(e.st, "e2", &since, buf, sizeof buf, &n, &done), AS_OK);
  assert_true(n > 0);
  assert_false(done);
  int64_t first = since;
  assert_true(first < last);
  assert_int_equal(as_http_sse_next(e.st, "e2", &since, buf, sizeof buf, &n, &done), AS_OK);
  assert_true(n > 0);
  assert_int_equal(since, last);
  /* a trailing '&', no limit: the default's 20 take both */
  assert_int_equal(call(&e, "GET", "/sessions/recent", "x=1&", NULL, &j, NULL), 200);
  assert_int_equal(json_array_size(json_object_get(j, "sessions")), 2);
  json_decref(j);
  /* a session waiting for a person: every event read, and no end of the stream */
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL,
                        "{\"session_id\":\"w1\",\"fields\":{\"environment\":\"production\"}}",
                        NULL, NULL),
                   202);
  assert_int_equal(drain_jobs(&e), 1);
  since = 0;
  do {
    assert_int_equal(as_http_sse_next(e.st, "w1", &since, buf, sizeof buf, &n, &done), AS_OK);
  } while (n > 0);
  assert_true(since > 0);
  assert_false(done);
  env_down(&e);
}

/* Out of memory in the replies: the first allocation of a trigger without
** a body, the status listing of a queued cycle, and the reply after a retry
** that ran. */
static void test_nomem_replies(void **state) {
  (void)state;
  env e;
  env_up(&e, 5000000, 0);
  as_http_reply rep;
  as_http_incoming r = {.method = "POST", .path = "/agent/trigger", .url_len = 14};
  fw_countdown(FW_ALLOC, 1, 0, 0);
  assert_int_equal(as_http_handle(e.api, e.st, &r, &rep), AS_NOMEM);
  assert_true(fw_fired());
  fw_disarm();
  assert_true(is_fallback(&rep));
  as_http_reply_clear(&rep);
  assert_int_equal(as_http_api_active(e.api), 0);
  /* a queued cycle in the status, every allocation failing in turn */
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"session_id\":\"q\"}", NULL, NULL),
                   202);
  as_http_incoming sr = {.method = "GET", .path = "/agent/status", .url_len = 13};
  unsigned long k;
  for (k = 1; k < 1000; k++) {
    fw_countdown(FW_ALLOC, k, 0, 0);
    int rc = as_http_handle(e.api, e.st, &sr, &rep);
    int fired = fw_fired();
    fw_disarm();
    if (!fired) {
      assert_int_equal(rc, AS_OK);
      assert_int_equal(rep.status, 200);
      json_t *j = json_loads(rep.body, 0, NULL);
      assert_int_equal(json_integer_value(json_object_get(j, "queued")), 1);
      json_decref(j);
      as_http_reply_clear(&rep);
      break;
    }
    assert_int_equal(rc, AS_NOMEM);
    assert_true(is_fallback(&rep));
    as_http_reply_clear(&rep);
  }
  assert_true(k > 3);
  assert_int_equal(drain_jobs(&e), 1);
  /* a retry that ran, its reply's last allocations failing in turn: still
  ** one retry (counted), answered 200 with its run or the static 500 */
  int saw500 = 0;
  unsigned long total = 0;
  for (int i = 0; i < 20; i++) {
    char id[16], body[64], path[64];
    snprintf(id, sizeof id, "rt%02d", i);
    snprintf(body, sizeof body, "{\"session_id\":\"%s\"}", id);
    assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, body, NULL, NULL), 202);
    assert_int_equal(drain_jobs(&e), 1);
    as_session s = {0};
    assert_int_equal(as_session_load(e.st, id, &s), AS_OK);
    s.status = AS_SESS_ERROR;
    snprintf(s.error_kind, sizeof s.error_kind, "llm_timeout");
    snprintf(s.error_cause, sizeof s.error_cause, "a test");
    assert_int_equal(as_session_save(e.st, &s), AS_OK);
    as_session_clear(&s);
    snprintf(path, sizeof path, "/sessions/%s/retry", id);
    as_http_incoming rr = {.method = "POST", .path = path, .url_len = strlen(path)};
    /* the first one counts the allocations; then the i-th from the end fails */
    fw_countdown(FW_ALLOC, i == 0 ? ULONG_MAX : total - (unsigned long)(i - 1), 0, 0);
    int rc = as_http_handle(e.api, e.st, &rr, &rep);
    if (i == 0) total = fw_counted();
    int fired = fw_fired();
    fw_disarm();
    assert_int_equal(fired, i == 0 ? 0 : 1);
    if (rep.status == 200) {
      assert_int_equal(rc, AS_OK);
      json_t *j = json_loads(rep.body, 0, NULL);
      assert_string_equal(json_string_value(json_object_get(j, "answer")), "accepted");
      assert_non_null(json_object_get(j, "run"));
      json_decref(j);
    } else {
      assert_int_equal(rc, AS_NOMEM);
      assert_true(is_fallback(&rep));
      saw500++;
    }
    as_http_reply_clear(&rep);
    assert_int_equal(as_session_load(e.st, id, &s), AS_OK);
    assert_int_equal(s.retry_count, 1);
    as_session_clear(&s);
  }
  assert_true(total > 20);
  assert_true(saw500 > 0);
  env_down(&e);
}

/* The seam's random bytes: failing, and the same every time. */
static void test_new_ids(void **state) {
  (void)state;
  env e;
  env_up(&e, 5000000, 0);
  json_t *j;
  rand_mode = 1;
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{}", &j, NULL), 500);
  rand_mode = 0;
  assert_string_equal(code_of(j), "internal");
  assert_non_null(strstr(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
                         "session id"));
  json_decref(j);
  assert_int_equal(as_http_api_active(e.api), 0);
  rand_mode = 2;
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{}", &j, NULL), 202);
  assert_string_equal(json_string_value(json_object_get(j, "session_id")), "s-abababababababab");
  json_decref(j);
  /* a generated id that exists already is not another cycle of that session */
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{}", &j, NULL), 500);
  rand_mode = 0;
  assert_string_equal(code_of(j), "internal");
  json_decref(j);
  assert_int_equal(as_http_api_active(e.api), 1);
  assert_int_equal(drain_jobs(&e), 1);
  env_down(&e);
}

/* The store failing under the queue: the drain's releases, a refused
** trigger's release, a session gone between the status's listing and its
** load. */
static void test_queue_store_errors(void **state) {
  (void)state;
  env e;
  env_up(&e, 5000000, 0);
  logcap_reset();
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"session_id\":\"c1\"}", NULL, NULL),
                   202);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"session_id\":\"c2\"}", NULL, NULL),
                   202);
  size_t n = 0;
  sw_countdown(SW_BIT(STEP), 1, SQLITE_IOERR, 1);
  int rc = as_http_api_cancel_all(e.api, e.st, &n);
  sw_disarm();
  assert_int_equal(rc, AS_IO);
  assert_int_equal(n, 2); /* both dropped from the queue, both failures told */
  assert_int_equal(as_http_api_active(e.api), 0);
  assert_true(logcap_has("drain: cycle c1:cycle-1: input/output error"));
  assert_true(logcap_has("drain: cycle c2:cycle-1: input/output error"));
  assert_int_equal(open_reservations(&e), 2);
  bool changed;
  assert_int_equal(as_budget_release(e.st, "c1:cycle-1", "idle", &changed), AS_OK);
  assert_int_equal(as_budget_release(e.st, "c2:cycle-1", "idle", &changed), AS_OK);
  /* p1 awaits an approval; its load after the listing finds nothing */
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL,
                        "{\"session_id\":\"p1\",\"fields\":{\"environment\":\"production\"}}",
                        NULL, NULL),
                   202);
  assert_int_equal(drain_jobs(&e), 1);
  json_t *j;
  assert_int_equal(call(&e, "GET", "/agent/status", NULL, NULL, &j, NULL), 200);
  assert_int_equal(json_array_size(json_object_get(j, "pending_approvals")), 1);
  json_decref(j);
  /* the listing: BEGIN, its row, its end, COMMIT; the load: BEGIN, its row */
  sw_countdown(SW_BIT(STEP), 6, SQLITE_DONE, 0);
  assert_int_equal(call(&e, "GET", "/agent/status", NULL, NULL, &j, NULL), 200);
  assert_true(sw_fired());
  sw_disarm();
  assert_int_equal(json_array_size(json_object_get(j, "pending_approvals")), 0);
  json_decref(j);
  /* draining: a trigger's reservation released again, that release failing
  ** in turn (each SQLite step of the trigger fails once, in turn) */
  as_http_api_close(e.api);
  int64_t base = open_reservations(&e); /* p1's, awaiting its approval */
  int told = 0;
  for (unsigned long k = 1; k < 200; k++) {
    char body[64], op[64];
    snprintf(body, sizeof body, "{\"session_id\":\"d%lu\"}", k);
    snprintf(op, sizeof op, "d%lu:cycle-1", k);
    logcap_reset();
    as_http_reply rep;
    sw_countdown(SW_BIT(STEP), k, SQLITE_IOERR, 0);
    unsigned st = call(&e, "POST", "/agent/trigger", NULL, body, &j, &rep);
    int fired = sw_fired();
    sw_disarm();
    as_http_reply_clear(&rep);
    if (!fired) {
      assert_int_equal(st, 503);
      assert_int_equal(open_reservations(&e), base);
      json_decref(j);
      break;
    }
    if (logcap_has("releasing")) {
      /* reserved, refused by the closed queue, the release failed: told,
      ** answered 503 all the same, the reservation left for the expiry */
      assert_int_equal(st, 503);
      assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"),
                                                            "message")),
                          "the server is draining");
      char want[128];
      snprintf(want, sizeof want, "trigger d%lu: releasing %s: input/output error", k, op);
      assert_true(logcap_has(want));
      assert_int_equal(open_reservations(&e), base + 1);
      assert_int_equal(as_budget_release(e.st, op, "idle", &changed), AS_OK);
      told++;
    } else {
      assert_true(st == 500 || st == 503);
    }
    json_decref(j);
    assert_int_equal(open_reservations(&e), base);
  }
  assert_true(told > 0);
  env_down(&e);
}

/* A tool that asks for its own session's cancel while the run holds it. */
typedef struct cancel_ctx {
  env *e;
  as_store *st; /* a second connection, as another request's */
  unsigned status;
  char answer[32];
} cancel_ctx;

static int cancel_exec(void *ctx, const char *session_id, const as_app_tool *tool,
                       const char *args, char **result) {
  (void)tool;
  (void)args;
  cancel_ctx *c = ctx;
  if (!c->status) {
    char path[96];
    snprintf(path, sizeof path, "/sessions/%s/cancel", session_id);
    as_http_incoming r = {.method = "POST", .path = path, .url_len = strlen(path)};
    as_http_reply rep;
    assert_int_equal(as_http_handle(c->e->api, c->st, &r, &rep), AS_OK);
    c->status = rep.status;
    json_t *j = json_loads(rep.body, 0, NULL);
    snprintf(c->answer, sizeof c->answer, "%s", json_string_value(json_object_get(j, "cancel")));
    json_decref(j);
    as_http_reply_clear(&rep);
  }
  *result = as_malloc(12);
  if (!*result) return AS_NOMEM;
  memcpy(*result, "{\"ok\":true}", 12);
  return AS_OK;
}

/* Two triggers past the queue's first check at once (both held by another
** writer), one slot: the second one's enqueue finds the queue full. */
typedef struct racer {
  env *e;
  as_store *st;
  const char *body;
  unsigned status;
  char message[96];
} racer;

static void race(void *arg) {
  racer *r = arg;
  as_http_incoming in = {.method = "POST", .path = "/agent/trigger", .body = r->body,
                        .body_len = strlen(r->body), .url_len = 14};
  as_http_reply rep;
  assert_int_equal(as_http_handle(r->e->api, r->st, &in, &rep), AS_OK);
  r->status = rep.status;
  json_t *j = json_loads(rep.body, 0, NULL);
  const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
  snprintf(r->message, sizeof r->message, "%s", m ? m : "");
  json_decref(j);
  as_http_reply_clear(&rep);
}

static void test_running_and_races(void **state) {
  (void)state;
  env e;
  env_up(&e, 5000000, 1);
  json_t *j;
  /* a running cycle in the status */
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"session_id\":\"r1\"}", NULL, NULL),
                   202);
  as_http_job job;
  assert_int_equal(as_http_api_next(e.api, as_now_mono_ns(), &job), AS_OK);
  assert_int_equal(call(&e, "GET", "/agent/status", NULL, NULL, &j, NULL), 200);
  assert_int_equal(json_integer_value(json_object_get(j, "running")), 1);
  assert_string_equal(json_string_value(json_object_get(
                          json_array_get(json_object_get(j, "running_cycles"), 0), "state")),
                      "running");
  json_decref(j);
  as_http_api_done(e.api, &job);
  bool changed;
  assert_int_equal(as_budget_release(e.st, "r1:cycle-1", "idle", &changed), AS_OK);
  /* a session id with a space */
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"session_id\":\"a b\"}", &j, NULL),
                   400);
  assert_string_equal(code_of(j), "bad_request");
  json_decref(j);
  /* an approval approved */
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL,
                        "{\"session_id\":\"ap\",\"fields\":{\"environment\":\"production\"}}",
                        NULL, NULL),
                   202);
  assert_int_equal(drain_jobs(&e), 1);
  assert_int_equal(call(&e, "GET", "/agent/status", NULL, NULL, &j, NULL), 200);
  char path[64];
  snprintf(path, sizeof path, "/sessions/ap/approvals/%lld",
           (long long)json_integer_value(json_object_get(
               json_array_get(json_object_get(j, "pending_approvals"), 0), "call")));
  json_decref(j);
  assert_int_equal(call(&e, "POST", path, NULL, "{\"decision\":\"approve\"}", &j, NULL), 200);
  assert_string_equal(json_string_value(json_object_get(j, "decision")), "approve");
  assert_non_null(json_object_get(j, "run"));
  json_decref(j);
  /* the race for the one slot */
  int64_t base = open_reservations(&e);
  char db[256];
  ct_path(db, sizeof db, &e.dir, "api.db");
  sqlite3 *w;
  assert_int_equal(sqlite3_open_v2(db, &w, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_exec(w, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  racer a = {.e = &e, .st = ct_open(&e.dir, "api.db", "wal", 5000),
             .body = "{\"session_id\":\"ra\"}"};
  racer b = {.e = &e, .st = ct_open(&e.dir, "api.db", "wal", 5000),
             .body = "{\"session_id\":\"rb\"}"};
  as_task *ta, *tb;
  assert_int_equal(as_task_spawn(&ta, "race-a", race, &a), AS_OK);
  assert_int_equal(as_task_spawn(&tb, "race-b", race, &b), AS_OK);
  /* both wait for the writer (up to their 5 s busy timeout) */
  as_sleep_until(as_now_mono_ns() + 1000 * 1000000ull);
  assert_int_equal(sqlite3_exec(w, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_close_v2(w), SQLITE_OK);
  assert_int_equal(as_task_join(ta), AS_OK);
  assert_int_equal(as_task_join(tb), AS_OK);
  racer *won = a.status == 202 ? &a : &b, *lost = a.status == 202 ? &b : &a;
  assert_int_equal(won->status, 202);
  assert_int_equal(lost->status, 503);
  assert_string_equal(lost->message, "the run queue is full");
  /* the loser got as far as its reservation (released again) */
  as_session s = {0};
  assert_int_equal(as_session_load(e.st, lost == &a ? "ra" : "rb", &s), AS_OK);
  as_session_clear(&s);
  assert_int_equal(open_reservations(&e), base + 1);
  as_store_close(a.st);
  as_store_close(b.st);
  assert_int_equal(drain_jobs(&e), 1);
  /* a cancel while the session's run is in its tool: stopping */
  cancel_ctx cc = {.e = &e, .st = ct_open(&e.dir, "api.db", "wal", 5000)};
  as_http_api_free(e.api);
  as_http_cfg c = {.app = e.app, .locks = e.locks, .runs = e.runs, .budget = &e.budget,
                   .llm = &e.llm.llm, .exec = cancel_exec, .exec_ctx = &cc};
  assert_int_equal(as_http_api_new(&c, &e.api), AS_OK);
  assert_int_equal(call(&e, "POST", "/agent/trigger", NULL, "{\"session_id\":\"cx\"}", NULL, NULL),
                   202);
  assert_int_equal(as_http_api_next(e.api, as_now_mono_ns(), &job), AS_OK);
  as_runtime rt;
  as_http_api_runtime(e.api, e.st, &rt);
  as_run_result res;
  assert_int_equal(as_trigger_run(&rt, job.session, job.op_id, true, &res), AS_OK);
  as_http_api_done(e.api, &job);
  assert_int_equal(cc.status, 200);
  assert_string_equal(cc.answer, "stopping");
  assert_int_equal(res.outcome, AS_RUN_FAILED);
  assert_string_equal(res.error_kind, "cancelled");
  as_store_close(cc.st);
  env_down(&e);
}

static void test_spec(void **state) {
  (void)state;
  as_llm_spec s;
  char err[256];
  assert_int_equal(as_llm_spec_parse("stub:x.stub", &s, err, sizeof err), AS_OK);
  assert_int_equal(s.kind, AS_SPEC_STUB);
  assert_string_equal(s.path, "x.stub");
  assert_int_equal(as_llm_spec_parse("openai:http://h:1/v1,model=gpt-4o,key_env=OPENAI_KEY,"
                                     "stream,structured,timeout=30s",
                                     &s, err, sizeof err),
                   AS_OK);
  assert_int_equal(s.kind, AS_SPEC_OPENAI);
  assert_string_equal(s.http.base_url, "http://h:1/v1");
  assert_string_equal(s.http.model, "gpt-4o");
  assert_string_equal(s.http.key_env, "OPENAI_KEY");
  assert_true(s.http.stream && s.http.structured);
  assert_int_equal(s.http.timeout_ns, 30000000000ull);
  assert_int_equal(as_llm_spec_parse("ollama:https://o", &s, err, sizeof err), AS_OK);
  assert_int_equal(s.kind, AS_SPEC_OLLAMA);
  assert_int_equal(as_llm_spec_parse("record:dir,ollama:http://o", &s, err, sizeof err), AS_OK);
  assert_int_equal(s.kind, AS_SPEC_RECORD);
  assert_string_equal(s.path, "dir");
  assert_int_equal(s.http.kind, AS_SPEC_OLLAMA);
  assert_int_equal(as_llm_spec_parse("cassette:c", &s, err, sizeof err), AS_OK);
  assert_int_equal(s.kind, AS_SPEC_CASSETTE);
  static const struct {
    const char *spec;
    const char *msg;
  } bad[] = {
      {"bogus", "position 1"},
      {"stub:", "position 6"},
      {"cassette:", "position 10"},
      {"record:", "position 8"},
      {"record:d", "position 9"},
      {"record:d,stub:x", "position 10"},
      {"openai", "position 1"},
      {"openai:", "position 8"},
      {"openai:ftp://x", "position 8"},
      {"openai:http://x,bogus", "position 17"},
      {"openai:http://x,key_env=1A", "position 25"},
      {"openai:http://x,key_env=A-", "position 26"},
      {"openai:http://x,timeout=0s", "position 25"},
      {"openai:http://x,timeout=abc", "position 25"},
      {"foo:bar", "position 1"},
      {"ollamb:http://x", "position 1"},
      {"casset:x", "position 1"},
      {"stubs:x", "position 1"},
      {"openai:httpx://x", "position 8"},
      {"openai:http://x,model=", "position 17"},
      {"openai:http://x,key_env=", "position 17"},
      {"openai:http://x,timeout=", "position 17"},
      {"openai:http://x,streamy", "position 17"},
      {"openai:http://x,structure", "position 17"},
      {"openai:http://x,,stream", "position 17"},
      {"record:d,", "position 10"},
      {"record:d,openai", "position 16"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    int rc = as_llm_spec_parse(bad[i].spec, &s, err, sizeof err);
    if (rc != AS_PARSE || !strstr(err, bad[i].msg)) fail_msg("%s: %d %s", bad[i].spec, rc, err);
  }
  char big[2048];
  memset(big, 'a', sizeof big);
  big[sizeof big - 1] = '\0';
  assert_int_equal(as_llm_spec_parse(big, &s, err, sizeof err), AS_TOOBIG);
  char mid[700];
  const char *prefixes[] = {"stub:", "cassette:", "record:", "openai:http://", "openai:http://x,model=",
                            "openai:http://x,key_env="};
  for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
    size_t pl = strlen(prefixes[i]);
    memcpy(mid, prefixes[i], pl);
    memset(mid + pl, 'a', sizeof mid - pl - 1);
    mid[sizeof mid - 1] = '\0';
    if (i == 2) mid[sizeof mid - 2] = ',';
    assert_int_equal(as_llm_spec_parse(mid, &s, err, sizeof err), AS_TOOBIG);
  }
  assert_int_equal(as_llm_spec_parse(NULL, &s, NULL, 0), AS_INVAL);
  assert_int_equal(as_llm_spec_parse("stub:x", NULL, err, sizeof err), AS_INVAL);
  assert_int_equal(as_llm_spec_parse("bogus", &s, NULL, 0), AS_PARSE);
  assert_int_equal(as_llm_spec_parse("bogus", &s, err, 0), AS_PARSE);
  char small[12]; /* the message cut to its buffer, still terminated */
  assert_int_equal(as_llm_spec_parse("bogus", &s, small, sizeof small), AS_PARSE);
  assert_int_equal(strlen(small), sizeof small - 1);
  assert_int_equal(strncmp(small, "--llm: a", 8), 0);
  char five[5]; /* shorter than the position's own prefix */
  assert_int_equal(as_llm_spec_parse("bogus", &s, five, sizeof five), AS_PARSE);
  assert_int_equal(strlen(five), sizeof five - 1);
  char tiny[40];
  assert_int_equal(as_llm_spec_parse("bogus", &s, tiny, sizeof tiny), AS_PARSE);
  assert_int_equal(strlen(tiny), sizeof tiny - 1);
  assert_int_equal(strncmp(tiny, "--llm: at position 1: expected stub:", 36), 0);
  /* key_env: letters, '_' and (past the first) digits */
  assert_int_equal(as_llm_spec_parse("openai:http://x,key_env=_a9Z", &s, err, sizeof err), AS_OK);
  assert_string_equal(s.http.key_env, "_a9Z");
  /* the app's llm: section, each field past --llm's caps */
  as_app_llm al;
  memset(&al, 0, sizeof al);
  al.provider = AS_WIRE_OLLAMA;
  snprintf(al.base_url, sizeof al.base_url, "http://o:1");
  snprintf(al.model, sizeof al.model, "m");
  snprintf(al.api_key_env, sizeof al.api_key_env, "K");
  al.stream = true;
  assert_int_equal(as_llm_spec_from_app(&al, &s), AS_OK);
  assert_int_equal(s.kind, AS_SPEC_OLLAMA);
  assert_true(s.http.stream && !s.http.structured);
  assert_string_equal(s.http.key_env, "K");
  memset(al.model, 'm', AS_SPEC_NAME_MAX);
  al.model[AS_SPEC_NAME_MAX] = '\0';
  assert_int_equal(as_llm_spec_from_app(&al, &s), AS_TOOBIG);
  snprintf(al.model, sizeof al.model, "m");
  memset(al.base_url, 'u', AS_SPEC_PATH_MAX);
  al.base_url[AS_SPEC_PATH_MAX] = '\0';
  assert_int_equal(as_llm_spec_from_app(&al, &s), AS_TOOBIG);
  assert_string_equal(as_llm_spec_kind_name(AS_SPEC_CASSETTE), "cassette");
  assert_string_equal(as_llm_spec_kind_name((as_llm_spec_kind)99), "?");
  /* opening */
  as_llm_opened o;
  assert_int_equal(as_llm_spec_parse("openai:http://x", &s, err, sizeof err), AS_OK);
  assert_int_equal(as_llm_spec_open(&s, 0, NULL, &o, err, sizeof err), AS_INVAL);
  assert_non_null(strstr(err, "no model"));
  assert_int_equal(as_llm_spec_open(&s, 0, NULL, &o, NULL, 0), AS_INVAL);
  assert_int_equal(as_llm_spec_open(NULL, 0, NULL, &o, NULL, 0), AS_INVAL);
  assert_int_equal(as_llm_spec_open(&s, 0, NULL, NULL, NULL, 0), AS_INVAL);
  /* recording a provider without a model: refused before the directory is made */
  assert_int_equal(as_llm_spec_parse("record:/tmp/agentsim-spec-nomodel,openai:http://x", &s, err,
                                     sizeof err),
                   AS_OK);
  assert_int_equal(as_llm_spec_open(&s, 0, NULL, &o, err, sizeof err), AS_INVAL);
  assert_non_null(strstr(err, "no model"));
  struct stat sb;
  assert_int_not_equal(stat("/tmp/agentsim-spec-nomodel", &sb), 0);
  /* into a directory that already holds a cassette: refused, named */
  assert_int_equal(as_llm_spec_parse("record:" AS_SOURCE_DIR
                                     "/fixtures/cassettes/openai-text,openai:http://x,model=m",
                                     &s, err, sizeof err),
                   AS_OK);
  assert_int_equal(as_llm_spec_open(&s, 0, NULL, &o, err, sizeof err), AS_EXISTS);
  assert_non_null(strstr(err, "openai-text"));
  /* a provider that refuses its base URL (no host): refused before the directory is made */
  char rdir[64];
  snprintf(rdir, sizeof rdir, "/tmp/agentsim-spec-nohost.%d", (int)getpid());
  char spec_text[160];
  snprintf(spec_text, sizeof spec_text, "record:%s,openai:http://,model=m", rdir);
  assert_int_equal(as_llm_spec_parse(spec_text, &s, err, sizeof err), AS_OK);
  assert_int_not_equal(as_llm_spec_open(&s, 0, NULL, &o, err, sizeof err), AS_OK);
  assert_non_null(strstr(err, "host"));
  assert_int_not_equal(stat(rdir, &sb), 0);
  /* a kind that is none of them; an error buffer of no room */
  s.kind = (as_llm_spec_kind)99;
  assert_int_equal(as_llm_spec_open(&s, 0, NULL, &o, err, 0), AS_INVAL);
  assert_int_equal(as_llm_spec_parse("stub:/nonexistent.stub", &s, err, sizeof err), AS_OK);
  assert_int_not_equal(as_llm_spec_open(&s, 0, NULL, &o, err, sizeof err), AS_OK);
  assert_non_null(strstr(err, "nonexistent"));
  assert_int_equal(as_llm_spec_parse("stub:" AS_SOURCE_DIR "/fixtures/apps/incident/app.yaml", &s,
                                     err, sizeof err),
                   AS_OK);
  assert_int_equal(as_llm_spec_open(&s, 0, NULL, &o, err, sizeof err), AS_PARSE);
  assert_non_null(strstr(err, "app.yaml:"));
  assert_int_equal(as_llm_spec_parse("stub:" AS_SOURCE_DIR "/tests/data/serve_fast.stub", &s, err,
                                     sizeof err),
                   AS_OK);
  assert_int_equal(as_llm_spec_open(&s, 0, NULL, &o, err, sizeof err), AS_OK);
  as_llm_opened_close(&o);
  as_llm_opened_close(NULL);
}

int main(void) {
  json_set_alloc_funcs(jmalloc, jfree_);
  TP = as_platform_posix;
  TP.name = "posix-test";
  TP.random_bytes = tp_random;
  TP.log = logcap_log;
  (void)as_platform_set(&TP); /* ignore: the previous one is posix */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_spec),
      cmocka_unit_test(test_api_new),
      cmocka_unit_test(test_routes_and_errors),
      cmocka_unit_test(test_cycles),
      cmocka_unit_test(test_budget_and_queue),
      cmocka_unit_test(test_busy),
      cmocka_unit_test(test_nomem),
      cmocka_unit_test(test_store_errors),
      cmocka_unit_test(test_edges),
      cmocka_unit_test(test_nomem_replies),
      cmocka_unit_test(test_new_ids),
      cmocka_unit_test(test_queue_store_errors),
      cmocka_unit_test(test_running_and_races),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
** http_api.c -- the request layer of the HTTP API (http_api.h): routing,
** the error envelope, caps and the run queue. No sockets: the server
** (http_server.c) hands each request in with a store connection.
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agentsim/events.h"
#include "agentsim/fmt.h"
#include "agentsim/http_api.h"
#include "agentsim/json.h"
#include "agentsim/metrics.h"
#include "agentsim/seam.h"

#define CT_JSON "application/json"
#define CT_PROM "text/plain; version=0.0.4; charset=utf-8"
#define MS 1000000ull

typedef struct slot {
  bool used, running;
  uint64_t seq; /* FIFO order */
  as_http_job job;
} slot;

struct as_http_api {
  as_http_cfg cfg;
  as_mutex *mu;
  as_cond *cv; /* a job queued, a job done, the queue closed */
  slot *slots;
  size_t nslots, active;
  uint64_t next_seq;
  bool closed;
};

/* --- the run queue ------------------------------------------------------------------ */

int as_http_api_new(const as_http_cfg *cfg, as_http_api **out) {
  if (!out) return AS_INVAL;
  *out = NULL;
  if (!cfg || !cfg->app || !cfg->locks || !cfg->runs || !cfg->budget || !cfg->llm ||
      cfg->queue_max > AS_HTTP_QUEUE_MAX)
    return AS_INVAL;
  as_http_api *a = as_calloc(1, sizeof *a);
  if (!a) return AS_NOMEM;
  a->cfg = *cfg;
  a->nslots = cfg->queue_max ? cfg->queue_max : AS_HTTP_QUEUE_MAX;
  a->slots = as_calloc(a->nslots, sizeof *a->slots);
  int rc = a->slots ? AS_OK : AS_NOMEM;
  if (rc == AS_OK) rc = as_mutex_new(&a->mu);
  if (rc == AS_OK) rc = as_cond_new(&a->cv);
  if (rc != AS_OK) {
    as_http_api_free(a);
    return rc;
  }
  *out = a;
  return AS_OK;
}

void as_http_api_free(as_http_api *api) {
  if (!api) return;
  as_cond_free(api->cv);
  as_mutex_free(api->mu);
  as_free(api->slots);
  as_free(api);
}

/* Queue a cycle: AS_OK, AS_FULL (the queue is), AS_UNSUPPORTED (closed). */
static AS_WUR int enqueue(as_http_api *api, const char *session, const char *op_id) {
  int rc = AS_FULL;
  as_mutex_lock(api->mu);
  if (api->closed) {
    rc = AS_UNSUPPORTED;
  } else {
    for (size_t i = 0; i < api->nslots; i++) {
      slot *s = &api->slots[i];
      if (s->used) continue;
      memset(s, 0, sizeof *s);
      s->used = true;
      s->seq = api->next_seq++;
      (void)as_appendf(s->job.session, sizeof s->job.session, 0, "%s", session); /* ignore: sized */
      (void)as_appendf(s->job.op_id, sizeof s->job.op_id, 0, "%s", op_id); /* ignore: sized */
      api->active++;
      rc = AS_OK;
      as_cond_broadcast(api->cv);
      break;
    }
  }
  as_mutex_unlock(api->mu);
  return rc;
}

int as_http_api_next(as_http_api *api, uint64_t deadline_ns, as_http_job *job) {
  int rc = AS_OK;
  as_mutex_lock(api->mu);
  for (;;) {
    slot *best = NULL;
    for (size_t i = 0; i < api->nslots; i++) {
      slot *s = &api->slots[i];
      if (s->used && !s->running && (!best || s->seq < best->seq)) best = s;
    }
    if (best) {
      best->running = true;
      *job = best->job;
      break;
    }
    if (api->closed) {
      rc = AS_NOTFOUND;
      break;
    }
    if (as_cond_timedwait(api->cv, api->mu, deadline_ns) == AS_TIMEDOUT) {
      rc = AS_TIMEDOUT;
      break;
    }
  }
  as_mutex_unlock(api->mu);
  return rc;
}

void as_http_api_done(as_http_api *api, const as_http_job *job) {
  as_mutex_lock(api->mu);
  for (size_t i = 0; i < api->nslots; i++) {
    slot *s = &api->slots[i];
    if (s->used && s->running && strcmp(s->job.op_id, job->op_id) == 0) {
      s->used = s->running = false;
      api->active--;
      break;
    }
  }
  as_cond_broadcast(api->cv);
  as_mutex_unlock(api->mu);
}

void as_http_api_close(as_http_api *api) {
  as_mutex_lock(api->mu);
  api->closed = true;
  as_cond_broadcast(api->cv);
  as_mutex_unlock(api->mu);
}

size_t as_http_api_active(as_http_api *api) {
  as_mutex_lock(api->mu);
  size_t n = api->active;
  as_mutex_unlock(api->mu);
  return n;
}

int as_http_api_wait_idle(as_http_api *api, uint64_t deadline_ns) {
  int rc = AS_OK;
  as_mutex_lock(api->mu);
  while (api->active > 0 && rc == AS_OK) rc = as_cond_timedwait(api->cv, api->mu, deadline_ns);
  if (api->active == 0) rc = AS_OK;
  as_mutex_unlock(api->mu);
  return rc;
}

void as_http_api_runtime(const as_http_api *api, as_store *st, as_runtime *rt) {
  memset(rt, 0, sizeof *rt);
  rt->st = st;
  rt->locks = api->cfg.locks;
  rt->app = api->cfg.app;
  rt->llm = api->cfg.llm;
  rt->exec = api->cfg.exec;
  rt->exec_ctx = api->cfg.exec_ctx;
  rt->llm_timeout_ns = api->cfg.llm_timeout_ns;
  rt->runs = api->cfg.runs;
  rt->budget = api->cfg.budget;
}

int as_http_api_cancel_all(as_http_api *api, as_store *st, size_t *n) {
  as_runtime rt;
  as_http_api_runtime(api, st, &rt);
  int rc = AS_OK;
  size_t k = 0;
  as_mutex_lock(api->mu);
  for (size_t i = 0; i < api->nslots; i++) {
    slot *s = &api->slots[i];
    if (!s->used) continue;
    int one;
    if (s->running) {
      as_cancel_answer ans;
      one = as_cancel_session(&rt, s->job.session, &ans);
    } else {
      bool changed = false;
      one = as_budget_release(st, s->job.op_id, "cancelled", &changed);
      s->used = false;
      api->active--;
    }
    if (one != AS_OK) {
      as_log(AS_LOG_WARN, "drain: cycle %s: %s", s->job.op_id, as_status_msg(one));
      if (rc == AS_OK) rc = one;
    }
    k++;
  }
  as_cond_broadcast(api->cv);
  as_mutex_unlock(api->mu);
  *n = k;
  return rc;
}

/* --- replies ------------------------------------------------------------------------ */

static char fallback_body[] =
    "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\",\"details\":{}}}";

void as_http_reply_clear(as_http_reply *rep) {
  if (!rep) return;
  if (rep->body != fallback_body) as_free(rep->body);
  memset(rep, 0, sizeof *rep);
}

/* The static 500 when memory ran out. */
static AS_WUR int reply_nomem(as_http_reply *rep) {
  as_http_reply_clear(rep);
  rep->status = 500;
  rep->content_type = CT_JSON;
  rep->body = fallback_body;
  rep->len = sizeof fallback_body - 1;
  return AS_NOMEM;
}

/* v's compact text (v's reference kept) into *out, as_malloc'd; *n its length. */
static AS_WUR int dump_text(const json_t *v, char **out, size_t *n) {
  *out = NULL;
  size_t k = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_REAL_PRECISION(15));
  char *b = k ? as_malloc(k + 1) : NULL;
  if (!b) return AS_NOMEM;
  if (json_dumpb(v, b, k, JSON_COMPACT | JSON_REAL_PRECISION(15)) != k) {
    as_free(b);
    return AS_NOMEM;
  }
  b[k] = '\0';
  *out = b;
  if (n) *n = k;
  return AS_OK;
}

/* Serialize v (its reference taken) as the body. */
static AS_WUR int reply_json(as_http_reply *rep, unsigned status, json_t *v) {
  if (!v) return reply_nomem(rep);
  char *b;
  size_t n = 0;
  int rc = dump_text(v, &b, &n);
  json_decref(v);
  if (rc != AS_OK) return reply_nomem(rep);
  as_free(rep->body);
  rep->body = b;
  rep->len = n;
  rep->status = status;
  rep->content_type = CT_JSON;
  return AS_OK;
}

/* The error envelope; details (reference taken) NULL: {}. */
static AS_WUR int reply_error(as_http_reply *rep, unsigned status, const char *code,
                              const char *message, json_t *details) {
  if (!details) details = json_object();
  json_t *v = json_pack("{s:{s:s,s:s,s:o}}", "error", "code", code, "message", message,
                        "details", details);
  return reply_json(rep, status, v);
}

/* An error from a store or runtime status. */
static AS_WUR int reply_status(as_http_reply *rep, int rc, const char *what) {
  char msg[160];
  (void)as_appendf(msg, sizeof msg, 0, "%s: %s", what, as_status_msg(rc)); /* ignore: cut is fine */
  switch (rc) {
  case AS_NOTFOUND: return reply_error(rep, 404, "not_found", msg, NULL);
  case AS_BUSY:
  case AS_FULL:
    rep->retry_after = 1;
    return reply_error(rep, 503, "unavailable", msg, NULL);
  case AS_INVAL:
  case AS_PARSE:
  case AS_TOOBIG: return reply_error(rep, 400, "bad_request", msg, NULL);
  case AS_NOMEM: return reply_nomem(rep);
  default: return reply_error(rep, 500, "internal", msg, NULL);
  }
}

static AS_WUR int reply_busy(as_http_reply *rep, const char *id) {
  char msg[200];
  (void)as_appendf(msg, sizeof msg, 0, "session %s is busy: try again", id); /* ignore: cut */
  rep->retry_after = 1;
  return reply_error(rep, 429, "busy", msg, json_pack("{s:s}", "session_id", id));
}

/* --- request pieces ----------------------------------------------------------------- */

/* The body as a JSON object into *out (an empty body: {}); false with the 400
** or 413 replied. */
static bool body_object(const as_http_incoming *req, as_http_reply *rep, json_t **out, int *rc) {
  *out = NULL;
  if (!req->body || req->body_len == 0) {
    *out = json_object();
    if (!*out) *rc = reply_nomem(rep);
    return *out != NULL;
  }
  as_json_error je;
  int prc = as_json_parse(req->body, req->body_len, out, &je);
  if (prc == AS_PARSE) {
    char msg[AS_JSON_REASON_MAX + 64];
    (void)as_appendf(msg, sizeof msg, 0, "malformed JSON at line %u, column %u: %s", je.line,
                     je.column, je.reason); /* ignore: cut is fine */
    *rc = reply_error(rep, 400, "bad_request", msg,
                      json_pack("{s:I,s:I,s:I,s:s}", "line", (json_int_t)je.line, "column",
                                (json_int_t)je.column, "offset", (json_int_t)je.offset,
                                "reason", je.reason));
    return false;
  }
  if (prc != AS_OK) {
    *rc = prc == AS_NOMEM ? reply_nomem(rep)
                          : reply_error(rep, 413, "body_too_large", "the body is too large", NULL);
    return false;
  }
  /* AS_OK leaves a value in *out: only its type is in question. */
  if (json_typeof(*out) != JSON_OBJECT) {
    json_decref(*out);
    *out = NULL;
    *rc = reply_error(rep, 400, "bad_request", "the body must be a JSON object", NULL);
    return false;
  }
  return true;
}

/* The value of key in the query ("a=1&b=2"), into buf; false when absent. */
static bool query_get(const char *query, const char *key, char *buf, size_t cap) {
  size_t kl = strlen(key);
  for (const char *p = query; p && *p;) {
    const char *end = strchr(p, '&');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
      size_t vl = len - kl - 1;
      if (vl >= cap) vl = cap - 1;
      memcpy(buf, p + kl + 1, vl);
      buf[vl] = '\0';
      return true;
    }
    p = end ? end + 1 : NULL;
  }
  return false;
}

/* A decimal in [lo, hi]; false for anything else. */
static bool parse_int(const char *s, int64_t lo, int64_t hi, int64_t *v) {
  if (!*s || strlen(s) > 18) return false;
  int64_t x = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return false;
    x = x * 10 + (*p - '0');
  }
  if (x < lo || x > hi) return false;
  *v = x;
  return true;
}

/* A query integer (absent: dflt); false with the 400 replied. */
static bool query_int(const as_http_incoming *req, as_http_reply *rep, const char *key,
                      int64_t lo, int64_t hi, int64_t dflt, int64_t *v, int *rc) {
  char buf[32];
  *v = dflt;
  if (!query_get(req->query, key, buf, sizeof buf)) return true;
  if (parse_int(buf, lo, hi, v)) return true;
  char msg[160];
  (void)as_appendf(msg, sizeof msg, 0, "query %s: expected an integer from %lld to %lld", key,
                   (long long)lo, (long long)hi); /* ignore: cut is fine */
  *rc = reply_error(rep, 400, "bad_request", msg, json_pack("{s:s}", "parameter", key));
  return false;
}

/* A JSON text the store checked as a value (NULL: out of memory). */
static json_t *jtext(const char *text) {
  json_t *v = NULL;
  return as_json_parse(text, strlen(text), &v, NULL) == AS_OK ? v : NULL;
}

/* --- handlers ----------------------------------------------------------------------- */

static AS_WUR int h_health(as_http_reply *rep) {
  return reply_json(rep, 200, json_pack("{s:s}", "status", "ok"));
}

static AS_WUR int h_budget(as_http_api *api, as_store *st, as_http_reply *rep) {
  as_budget_status s;
  int rc = as_budget_status_get(st, api->cfg.budget, &s);
  if (rc != AS_OK) return reply_status(rep, rc, "budget");
  char *text = NULL;
  rc = as_budget_status_text(&s, true, &text);
  if (rc != AS_OK) return reply_nomem(rep);
  rep->status = 200;
  rep->content_type = CT_JSON;
  rep->body = text;
  rep->len = strlen(text);
  return AS_OK;
}

static AS_WUR int h_metrics(as_http_api *api, as_store *st, as_http_reply *rep) {
  char *text = NULL;
  int rc = as_metrics_render(st, api->cfg.budget, &text);
  if (rc != AS_OK) return reply_status(rep, rc, "metrics");
  rep->status = 200;
  rep->content_type = CT_PROM;
  rep->body = text;
  rep->len = strlen(text);
  return AS_OK;
}

/* Pending approvals of sessions awaiting input, into arr. */
static AS_WUR int pending_into(as_store *st, json_t *arr) {
  as_session_brief *b = as_calloc(AS_HTTP_LIST_MAX, sizeof *b);
  if (!b) return AS_NOMEM;
  size_t n = 0;
  int rc = as_session_recent(st, AS_SESS_AWAITING_INPUT, b, AS_HTTP_LIST_MAX, &n);
  for (size_t i = 0; rc == AS_OK && i < n; i++) {
    as_session s = {0};
    int lrc = as_session_load(st, b[i].id, &s);
    for (size_t c = 0; lrc == AS_OK && c < s.ncalls; c++)
      if (s.calls[c].state == AS_TOOL_PENDING_APPROVAL &&
          json_array_append_new(arr, json_pack("{s:s,s:I,s:s}", "session_id", s.id, "call",
                                               (json_int_t)c, "tool", s.calls[c].tool)) != 0)
        lrc = AS_NOMEM;
    as_session_clear(&s);
    if (lrc != AS_NOTFOUND) rc = lrc; /* gone meanwhile: skipped */
  }
  as_free(b);
  return rc;
}

static AS_WUR int h_status(as_http_api *api, as_store *st, as_http_reply *rep) {
  json_t *running = json_array(), *pending = json_array();
  size_t nrun = 0, nq = 0;
  int rc = running && pending ? AS_OK : AS_NOMEM;
  as_mutex_lock(api->mu);
  for (size_t i = 0; rc == AS_OK && i < api->nslots; i++) {
    const slot *s = &api->slots[i];
    if (!s->used) continue;
    if (s->running) nrun++;
    else nq++;
    if (json_array_append_new(running, json_pack("{s:s,s:s,s:s}", "session_id", s->job.session,
                                                 "operation_id", s->job.op_id, "state",
                                                 s->running ? "running" : "queued")) != 0)
      rc = AS_NOMEM;
  }
  bool draining = api->closed;
  as_mutex_unlock(api->mu);
  if (rc == AS_OK) rc = pending_into(st, pending);
  if (rc != AS_OK) {
    json_decref(running);
    json_decref(pending);
    return reply_status(rep, rc, "status");
  }
  return reply_json(rep, 200,
                    json_pack("{s:s,s:I,s:I,s:o,s:o,s:b}", "status",
                              nrun + nq ? "running" : "idle", "running", (json_int_t)nrun,
                              "queued", (json_int_t)nq, "running_cycles", running,
                              "pending_approvals", pending, "draining", draining));
}

static AS_WUR int h_recent(as_store *st, const as_http_incoming *req, as_http_reply *rep) {
  int64_t limit;
  int rc = AS_OK;
  if (!query_int(req, rep, "limit", 1, AS_HTTP_LIST_MAX, 20, &limit, &rc)) return rc;
  as_session_brief *b = as_calloc((size_t)limit, sizeof *b);
  if (!b) return reply_nomem(rep);
  size_t n = 0;
  rc = as_session_recent(st, -1, b, (size_t)limit, &n);
  json_t *arr = rc == AS_OK ? json_array() : NULL;
  for (size_t i = 0; arr && i < n; i++)
    if (json_array_append_new(arr, json_pack("{s:s,s:s,s:I}", "id", b[i].id, "status",
                                             as_session_status_name(b[i].status), "version",
                                             (json_int_t)b[i].version)) != 0) {
      json_decref(arr);
      arr = NULL;
    }
  as_free(b);
  if (rc != AS_OK) return reply_status(rep, rc, "sessions");
  return reply_json(rep, 200, arr ? json_pack("{s:o}", "sessions", arr) : NULL);
}

/* {"seq", "kind", "at_ns", "payload"} of one event. */
static json_t *event_json(const as_event *e) {
  return json_pack("{s:I,s:s,s:I,s:o}", "seq", (json_int_t)e->seq, "kind", e->kind, "at_ns",
                   (json_int_t)e->at_ns, "payload", jtext(e->payload));
}

static AS_WUR int h_session(as_store *st, const char *id, as_http_reply *rep) {
  as_session s = {0};
  as_event_list ev = {0};
  int rc = as_session_load(st, id, &s);
  if (rc == AS_OK) rc = as_event_read(st, id, 0, AS_EVENT_READ_MAX, &ev);
  if (rc != AS_OK) {
    as_session_clear(&s);
    return reply_status(rep, rc, "session");
  }
  json_t *hist = json_array(), *runs = json_array();
  bool bad = !hist || !runs;
  for (size_t i = 0; !bad && i < s.ncalls; i++)
    bad = json_array_append_new(
              hist, json_pack("{s:I,s:s,s:s,s:o,s:o}", "index", (json_int_t)i, "tool",
                              s.calls[i].tool, "state", as_tool_state_name(s.calls[i].state),
                              "args", jtext(s.calls[i].args), "result",
                              jtext(s.calls[i].result))) != 0;
  for (size_t i = 0; !bad && i < ev.n; i++)
    if (strcmp(ev.items[i].kind, AS_EVENT_AGENT_FINISHED) == 0)
      bad = json_array_append_new(runs, jtext(ev.items[i].payload)) != 0;
  json_t *v = NULL;
  if (bad) {
    json_decref(hist);
    json_decref(runs);
  } else {
    /* "o" takes the references, also when the pack fails. */
    v = json_pack("{s:s,s:s,s:I,s:I,s:s,s:s,s:s,s:o,s:I,s:I,s:o,s:o}", "id", s.id, "status",
                  as_session_status_name(s.status), "version", (json_int_t)s.version,
                  "retry_count", (json_int_t)s.retry_count, "needs_review_reason",
                  s.needs_review_reason, "error_kind", s.error_kind, "error", s.error_cause,
                  "fields", jtext(s.extra), "created_ns",
                  (json_int_t)s.created_ns, "updated_ns", (json_int_t)s.updated_ns, "history",
                  hist, "agent_runs", runs);
  }
  as_session_clear(&s);
  as_event_list_clear(&ev);
  return reply_json(rep, 200, v);
}

static bool wants_sse(const char *accept) {
  return accept && strstr(accept, "text/event-stream") != NULL;
}

static AS_WUR int h_events(as_store *st, const char *id, const as_http_incoming *req,
                           as_http_reply *rep) {
  int64_t since;
  int rc = AS_OK;
  if (!query_int(req, rep, "since", 0, INT64_MAX / 2, 0, &since, &rc)) return rc;
  as_event_list ev = {0};
  as_session s = {0};
  rc = as_session_load(st, id, &s);
  as_session_clear(&s);
  if (rc == AS_OK && wants_sse(req->accept)) {
    rep->status = 200;
    rep->content_type = "text/event-stream";
    rep->sse = true;
    (void)as_appendf(rep->sse_session, sizeof rep->sse_session, 0, "%s", id); /* ignore: sized */
    rep->sse_since = since;
    return AS_OK;
  }
  if (rc == AS_OK) rc = as_event_read(st, id, since, AS_EVENT_READ_MAX, &ev);
  if (rc != AS_OK) return reply_status(rep, rc, "events");
  json_t *arr = json_array();
  int64_t next = since;
  for (size_t i = 0; arr && i < ev.n; i++) {
    next = ev.items[i].seq;
    if (json_array_append_new(arr, event_json(&ev.items[i])) != 0) {
      json_decref(arr);
      arr = NULL;
    }
  }
  bool more = ev.n == AS_EVENT_READ_MAX;
  as_event_list_clear(&ev);
  return reply_json(rep, 200,
                    arr ? json_pack("{s:s,s:o,s:I,s:b}", "session_id", id, "events", arr, "next",
                                    (json_int_t)next, "more", more)
                        : NULL);
}

/* The run's result as members of a reply. */
static json_t *run_json(const as_run_result *r) {
  return json_pack("{s:s,s:s,s:s,s:s}", "outcome", as_run_outcome_name(r->outcome), "status",
                   as_session_status_name(r->status), "error_kind", r->error_kind, "error",
                   r->error);
}

static AS_WUR int h_approval(as_http_api *api, as_store *st, const char *id, const char *call,
                             const as_http_incoming *req, as_http_reply *rep) {
  int64_t idx;
  if (!parse_int(call, 0, AS_TOOL_CALLS_MAX, &idx))
    return reply_error(rep, 400, "bad_request", "the call must be a tool call's index",
                       json_pack("{s:s}", "call", call));
  json_t *body;
  int rc = AS_OK;
  if (!body_object(req, rep, &body, &rc)) return rc;
  const char *d = json_string_value(json_object_get(body, "decision"));
  as_approval_decision dec = AS_APPROVE;
  bool ok = d && (strcmp(d, "approve") == 0 || strcmp(d, "reject") == 0);
  if (ok && strcmp(d, "reject") == 0) dec = AS_REJECT;
  json_decref(body);
  if (!ok)
    return reply_error(rep, 400, "bad_request",
                       "expected {\"decision\": \"approve\"} or {\"decision\": \"reject\"}", NULL);
  as_runtime rt;
  as_http_api_runtime(api, st, &rt);
  as_run_result res;
  rc = as_approval_resolve(&rt, id, (size_t)idx, dec, true, &res);
  switch (rc) {
  case AS_OK:
    return reply_json(rep, 200, json_pack("{s:s,s:I,s:s,s:o}", "session_id", id, "call",
                                          (json_int_t)idx, "decision",
                                          dec == AS_APPROVE ? "approve" : "reject", "run",
                                          run_json(&res)));
  case AS_BUSY: return reply_busy(rep, id);
  case AS_EXISTS:
    return reply_error(rep, 409, "already_resolved", "the call's approval is already resolved",
                       NULL);
  case AS_INVAL:
    return reply_error(rep, 409, "not_pending", "that call never waited for approval", NULL);
  default: return reply_status(rep, rc, "approval");
  }
}

static const char *const retry_words[] = {"accepted", "retry_in_progress", "not_in_error",
                                           "retry_denied"};

static json_t *retry_json(const as_retry_answer *a) {
  return json_pack("{s:s,s:s,s:s,s:I,s:s}", "answer", retry_words[a->refusal], "decision",
                   as_retry_decision_name(a->decision), "reason", a->reason, "retry_count",
                   (json_int_t)a->retry_count, "thread", a->thread);
}

static AS_WUR int h_retry(as_http_api *api, as_store *st, const char *id, bool preview,
                          as_http_reply *rep) {
  as_runtime rt;
  as_http_api_runtime(api, st, &rt);
  as_retry_answer a;
  memset(&a, 0, sizeof a);
  int rc = preview ? as_preview_retry(&rt, id, &a) : as_retry_session(&rt, id, true, &a);
  if (rc == AS_BUSY) return reply_busy(rep, id);
  if (rc != AS_OK) return reply_status(rep, rc, "retry");
  json_t *v = retry_json(&a);
  if (v && !preview && a.refusal == AS_RETRY_ACCEPTED &&
      json_object_set_new(v, "run", run_json(&a.run)) != 0) {
    json_decref(v);
    v = NULL;
  }
  if (preview || a.refusal == AS_RETRY_ACCEPTED) return reply_json(rep, 200, v);
  json_t *e = v ? json_pack("{s:{s:s,s:s,s:o}}", "error", "code", retry_words[a.refusal],
                            "message", a.reason, "details", v)
                : NULL;
  return reply_json(rep, 409, e);
}

static AS_WUR int h_cancel(as_http_api *api, as_store *st, const char *id, as_http_reply *rep) {
  as_session s = {0};
  int rc = as_session_load(st, id, &s);
  as_session_clear(&s);
  as_runtime rt;
  as_http_api_runtime(api, st, &rt);
  as_cancel_answer a = AS_CANCEL_NOT_RUNNING;
  if (rc == AS_OK) rc = as_cancel_session(&rt, id, &a);
  if (rc != AS_OK) return reply_status(rep, rc, "cancel");
  return reply_json(rep, 200, json_pack("{s:s,s:s}", "session_id", id, "cancel",
                                        a == AS_CANCEL_STOPPING ? "stopping" : "not_running"));
}

/* A new session id: "s-" and 16 random hex digits. */
static AS_WUR int new_id(char *buf, size_t cap) {
  unsigned char r[8];
  int rc = as_random_bytes(r, sizeof r);
  if (rc != AS_OK) return rc;
  size_t n = as_appendf(buf, cap, 0, "s-");
  for (size_t i = 0; i < sizeof r; i++) n = as_appendf(buf, cap, n, "%02x", r[i]);
  return AS_OK;
}

/* The trigger's estimate (a member's value, never NULL): "DOLLARS" or a
** number of dollars. */
static bool estimate_of(json_t *v, int64_t *micros) {
  *micros = 0;
  char buf[64];
  const char *text = json_string_value(v);
  if (json_typeof(v) == JSON_INTEGER || json_typeof(v) == JSON_REAL) {
    (void)as_appendf(buf, sizeof buf, 0, "%.6f", json_number_value(v)); /* ignore: sized */
    text = buf;
  }
  return text && as_money_parse(text, micros) == AS_OK && *micros > 0;
}

static AS_WUR int trigger_refused(as_http_reply *rep, const as_trigger_answer *a) {
  unsigned status = a->refusal == AS_TRIGGER_BUDGET ? 429 : 409;
  json_t *v = json_pack("{s:b,s:s,s:s,s:{s:s,s:s,s:{s:I,s:I,s:s}}}", "triggered", false,
                        "reason", a->reason, "message", a->message, "error", "code", a->reason,
                        "message", a->message, "details", "remaining_micros",
                        (json_int_t)a->remaining_micros, "need_micros",
                        (json_int_t)a->need_micros, "day", a->day);
  return reply_json(rep, status, v);
}

static AS_WUR int h_trigger(as_http_api *api, as_store *st, const as_http_incoming *req,
                            as_http_reply *rep) {
  json_t *body;
  int rc = AS_OK;
  if (!body_object(req, rep, &body, &rc)) return rc;
  char id[AS_SESSION_ID_MAX] = "";
  char *fields = NULL;
  int64_t estimate = 0;
  /* An iterator, not json_object_foreach: a member's value is never NULL. */
  for (void *it = json_object_iter(body); it; it = json_object_iter_next(body, it)) {
    const char *key = json_object_iter_key(it);
    json_t *val = json_object_iter_value(it);
    if (strcmp(key, "session_id") == 0) {
      const char *s = json_string_value(val);
      if (!s || as_session_id_check(s) != AS_OK) {
        rc = reply_error(rep, 400, "bad_request",
                         "session_id: expected printable ASCII, no space or ':', under 128 bytes",
                         NULL);
        goto out;
      }
      (void)as_appendf(id, sizeof id, 0, "%s", s); /* ignore: checked above */
    } else if (strcmp(key, "fields") == 0) {
      if (json_typeof(val) != JSON_OBJECT) {
        rc = reply_error(rep, 400, "bad_request", "fields: expected a JSON object", NULL);
        goto out;
      }
      if (dump_text(val, &fields, NULL) != AS_OK) {
        rc = reply_nomem(rep);
        goto out;
      }
    } else if (strcmp(key, "estimate") == 0) {
      if (!estimate_of(val, &estimate)) {
        rc = reply_error(rep, 400, "bad_request",
                         "estimate: expected positive dollars such as \"0.15\" (six decimals at "
                         "most)",
                         NULL);
        goto out;
      }
    } else {
      rc = reply_error(rep, 400, "bad_request",
                       "unknown member (expected session_id, fields, estimate)",
                       json_pack("{s:s}", "member", key));
      goto out;
    }
  }
  /* A full queue refuses before anything is written (the queue's own check
  ** below still covers a race and the drain). */
  if (as_http_api_active(api) >= api->nslots) {
    rep->retry_after = 1;
    rc = reply_error(rep, 503, "unavailable", "the run queue is full", NULL);
    goto out;
  }
  bool named = id[0] != '\0';
  if (!named) {
    rc = new_id(id, sizeof id);
    if (rc != AS_OK) {
      rc = reply_status(rep, rc, "session id");
      goto out;
    }
  }
  as_runtime rt;
  as_http_api_runtime(api, st, &rt);
  rc = as_session_start(&rt, id, fields);
  if (rc == AS_EXISTS && named) rc = AS_OK; /* a new cycle of an existing session */
  if (rc != AS_OK) {
    rc = rc == AS_INVAL ? reply_error(rep, 400, "bad_request",
                                      "fields: unknown field or a value outside its roster "
                                      "(see the app's fields)",
                                      NULL)
                        : reply_status(rep, rc, "session");
    goto out;
  }
  as_trigger_answer a;
  rc = as_trigger_reserve(&rt, id, estimate, &a);
  if (rc != AS_OK) {
    rc = reply_status(rep, rc, "reserve");
    goto out;
  }
  if (!a.triggered) {
    rc = trigger_refused(rep, &a);
    goto out;
  }
  int qrc = enqueue(api, id, a.op_id);
  if (qrc != AS_OK) {
    bool changed = false;
    int crc = as_budget_release(st, a.op_id, "idle", &changed);
    if (crc != AS_OK)
      as_log(AS_LOG_WARN, "trigger %s: releasing %s: %s", id, a.op_id, as_status_msg(crc));
    rep->retry_after = 1;
    rc = reply_error(rep, 503, "unavailable",
                     qrc == AS_FULL ? "the run queue is full" : "the server is draining", NULL);
    goto out;
  }
  rc = reply_json(rep, 202, json_pack("{s:b,s:s,s:s}", "triggered", true, "session_id", id,
                                      "operation_id", a.op_id));
out:
  as_free(fields);
  json_decref(body);
  return rc;
}

/* --- routing ------------------------------------------------------------------------ */

static bool is(const char *a, const char *b) { return strcmp(a, b) == 0; }

static AS_WUR int not_allowed(as_http_reply *rep, const char *allow) {
  rep->allow = allow;
  return reply_error(rep, 405, "method_not_allowed", "method not allowed on this path",
                     json_pack("{s:s}", "allow", allow));
}

/* /sessions/ID[/REST] */
static AS_WUR int route_session(as_http_api *api, as_store *st, const as_http_incoming *req,
                                const char *rest, as_http_reply *rep) {
  const char *m = req->method;
  if (is(rest, "recent")) return is(m, "GET") ? h_recent(st, req, rep) : not_allowed(rep, "GET");
  char id[AS_SESSION_ID_MAX];
  const char *slash = strchr(rest, '/');
  size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
  if (n == 0 || n >= sizeof id)
    return reply_error(rep, n ? 400 : 404, n ? "bad_request" : "not_found",
                       n ? "session id too long" : "no such route", NULL);
  memcpy(id, rest, n);
  id[n] = '\0';
  if (as_session_id_check(id) != AS_OK)
    return reply_error(rep, 400, "bad_request", "not a session id", NULL);
  const char *sub = slash ? slash : "";
  if (is(sub, "")) return is(m, "GET") ? h_session(st, id, rep) : not_allowed(rep, "GET");
  if (is(sub, "/events"))
    return is(m, "GET") ? h_events(st, id, req, rep) : not_allowed(rep, "GET");
  if (is(sub, "/retry"))
    return is(m, "POST") ? h_retry(api, st, id, false, rep) : not_allowed(rep, "POST");
  if (is(sub, "/retry/preview"))
    return is(m, "GET") ? h_retry(api, st, id, true, rep) : not_allowed(rep, "GET");
  if (is(sub, "/cancel"))
    return is(m, "POST") ? h_cancel(api, st, id, rep) : not_allowed(rep, "POST");
  if (strncmp(sub, "/approvals/", 11) == 0 && sub[11] && !strchr(sub + 11, '/'))
    return is(m, "POST") ? h_approval(api, st, id, sub + 11, req, rep) : not_allowed(rep, "POST");
  return reply_error(rep, 404, "not_found", "no such route", NULL);
}

int as_http_handle(as_http_api *api, as_store *st, const as_http_incoming *req,
                   as_http_reply *rep) {
  memset(rep, 0, sizeof *rep);
  if (!api || !st || !req || !req->method || !req->path) return reply_status(rep, AS_INVAL, "request");
  if (req->url_len > AS_HTTP_IN_URL_MAX)
    return reply_error(rep, 414, "url_too_long", "the URL is too long",
                       json_pack("{s:I}", "max", (json_int_t)AS_HTTP_IN_URL_MAX));
  if (req->body_too_big)
    return reply_error(rep, 413, "body_too_large", "the body is too large",
                       json_pack("{s:I}", "max", (json_int_t)AS_HTTP_BODY_MAX));
  const char *p = req->path, *m = req->method;
  if (is(p, "/healthz")) return is(m, "GET") ? h_health(rep) : not_allowed(rep, "GET");
  if (is(p, "/metrics")) return is(m, "GET") ? h_metrics(api, st, rep) : not_allowed(rep, "GET");
  if (is(p, "/agent/budget"))
    return is(m, "GET") ? h_budget(api, st, rep) : not_allowed(rep, "GET");
  if (is(p, "/agent/status"))
    return is(m, "GET") ? h_status(api, st, rep) : not_allowed(rep, "GET");
  if (is(p, "/agent/trigger"))
    return is(m, "POST") ? h_trigger(api, st, req, rep) : not_allowed(rep, "POST");
  if (strncmp(p, "/sessions/", 10) == 0) return route_session(api, st, req, p + 10, rep);
  return reply_error(rep, 404, "not_found", "no such route", json_pack("{s:s}", "path", p));
}

/* --- SSE ---------------------------------------------------------------------------- */

int as_http_sse_next(as_store *st, const char *session, int64_t *since, char *buf, size_t cap,
                     size_t *n, bool *done) {
  if (!st || !session || !since || !buf || cap < AS_HTTP_SSE_CHUNK_MIN || !n || !done)
    return AS_INVAL;
  *n = 0;
  *done = false;
  as_event_list ev = {0};
  int rc = as_event_read(st, session, *since, 64, &ev);
  size_t used = 0, i;
  for (i = 0; rc == AS_OK && i < ev.n; i++) {
    const as_event *e = &ev.items[i];
    json_t *v = event_json(e);
    char *data = NULL;
    int drc = v ? dump_text(v, &data, NULL) : AS_NOMEM;
    json_decref(v);
    if (drc != AS_OK) {
      rc = AS_NOMEM;
      break;
    }
    /* A negative (an encoding error, none with these formats) casts past
    ** any cap: cut like a long event. */
    size_t w = (size_t)snprintf(buf + used, cap - used,
                                "id: %" PRId64 "\nevent: %s\ndata: %s\n\n", e->seq, e->kind, data);
    as_free(data);
    if (w >= cap - used) {
      if (used > 0) break; /* the next chunk takes it */
      w = (size_t)snprintf(buf, cap,
                           "id: %" PRId64 "\nevent: truncated\ndata: {\"seq\":%" PRId64 "}\n\n",
                           e->seq, e->seq);
    }
    used += w;
    *since = e->seq;
  }
  bool all = rc == AS_OK && i == ev.n && ev.n < 64;
  as_event_list_clear(&ev);
  if (rc == AS_OK && all) {
    as_session s = {0};
    rc = as_session_load(st, session, &s);
    *done = rc == AS_OK && as_session_status_terminal(s.status) && used == 0;
    as_session_clear(&s);
  }
  if (rc == AS_OK) *n = used;
  return rc;
}

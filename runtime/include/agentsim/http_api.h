/*
** http_api.h -- the runtime's HTTP API (`agentsim serve`, docs/serve.md), in
** two layers:
**
**   the request layer (http_api.c): method, path, query, Accept and body in,
**     status, headers and a JSON body out, over a store connection the
**     caller lends; no sockets, so unit tests drive every route and error;
**     and the run queue the trigger hands its cycles to;
**   the server (http_server.c): libmicrohttpd on loopback with a thread pool,
**     a store connection per pool thread, worker tasks that run the queued
**     cycles, the approval watchdog on a real timer, SSE streams, and the
**     drain at shutdown.
**
** Errors have one envelope, {"error": {"code", "message", "details"}}:
**   400 bad_request (malformed JSON: details.line and details.column; a
**       bad field, id or query value), 404 not_found (route or session),
**   405 method_not_allowed (Allow set), 409 conflict (already_resolved,
**       not_pending, cycle_in_progress, retry_in_progress, not_in_error,
**       retry_denied), 413 body_too_large, 414 url_too_long, 431 (headers;
**       libmicrohttpd's own answer past AS_HTTP_IN_HEADERS_MAX),
**   429 busy (the session's lock is held: Retry-After: 1) or
**       budget_exhausted (the trigger's answer also carries triggered false,
**       reason and message, as the seed's API did),
**   503 unavailable (the database is busy, the run queue is full, or the
**       server drains: Retry-After: 1), 500 internal.
**
** Trigger: POST /agent/trigger {"session_id"?: ID, "fields"?: {...},
** "estimate"?: "DOLLARS"}: the session is created (a new id when none is
** given; an existing session named by id gets a new cycle), the cycle's
** estimate reserved in the request (as_trigger_reserve), and the run queued;
** 202 {"triggered": true, "session_id", "operation_id"}. A worker runs it
** (as_trigger_run, try-acquire: a held lock releases the reservation).
*/
#ifndef AGENTSIM_HTTP_API_H
#define AGENTSIM_HTTP_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentsim/budget.h"
#include "agentsim/seam.h"
#include "agentsim/session.h"
#include "agentsim/status.h"
#include "agentsim/store.h"
#include "agentsim/turn.h"

#define AS_HTTP_BODY_MAX (64u * 1024u)     /* a request body, bytes: past it 413 */
#define AS_HTTP_IN_URL_MAX 2048u              /* path and query, bytes: past it 414 */
#define AS_HTTP_IN_HEADERS_MAX (16u * 1024u)  /* libmicrohttpd's per-connection memory */
#define AS_HTTP_QUERY_MAX 1024u            /* the rebuilt query string, bytes */
#define AS_HTTP_QUEUE_MAX 1024u            /* cycles queued or running: past it 503 */
#define AS_HTTP_LIST_MAX 100u              /* sessions one listing returns */
#define AS_HTTP_SSE_CHUNK_MIN 256u         /* the smallest buffer as_http_sse_next fills */

/* The shared state every request and worker sees. */
typedef struct as_http_cfg {
  const as_app *app;
  as_lock_registry *locks;
  as_runs *runs;
  const as_budget_cfg *budget;
  as_llm *llm;
  as_tool_exec_fn exec;    /* NULL: every app tool answers {"ok":true} */
  void *exec_ctx;
  uint64_t llm_timeout_ns; /* as_runtime's */
  size_t queue_max;        /* 1 .. AS_HTTP_QUEUE_MAX; 0: AS_HTTP_QUEUE_MAX */
} as_http_cfg;

typedef struct as_http_api as_http_api;

typedef struct as_http_incoming {
  const char *method;  /* "GET", "POST", ... */
  const char *path;    /* without the query */
  const char *query;   /* "since=3&limit=5" (NULL: none), not decoded beyond what the
                       ** server did */
  size_t url_len;      /* the request's URL as received: past AS_HTTP_IN_URL_MAX, 414 */
  const char *accept;  /* the Accept header, or NULL */
  const char *body;    /* NULL: none */
  size_t body_len;
  bool body_too_big;   /* the server cut the body at AS_HTTP_BODY_MAX: 413 */
} as_http_incoming;

typedef struct as_http_reply {
  unsigned status;
  const char *content_type;     /* static */
  unsigned retry_after;         /* seconds; 0: no Retry-After */
  const char *allow;            /* 405: the Allow header (static), else NULL */
  char *body;                   /* owned (as_malloc), NUL-terminated; NULL for a stream */
  size_t len;
  bool sse;                     /* stream the session's events instead (as_http_sse_next) */
  char sse_session[AS_SESSION_ID_MAX];
  int64_t sse_since;
} as_http_reply;

/* A queued cycle, as a worker takes it. */
typedef struct as_http_job {
  char session[AS_SESSION_ID_MAX];
  char op_id[AS_OP_ID_MAX];
} as_http_job;

/* cfg is copied; what it points to is borrowed and must outlive the api.
** AS_INVAL for a missing app, locks, runs, budget or llm; AS_NOMEM; the
** seam's mutex and condition statuses. */
AS_WUR int as_http_api_new(const as_http_cfg *cfg, as_http_api **out);
/* Free it (NULL: no-op). No worker may still be inside as_http_api_next. */
void as_http_api_free(as_http_api *api);

/* Answer one request over st (this thread's connection). AS_OK with *rep
** filled (the caller releases it with as_http_reply_clear), whatever the HTTP
** status; AS_NOMEM when not even the error could be built (*rep: a static
** 500). */
AS_WUR int as_http_handle(as_http_api *api, as_store *st, const as_http_incoming *req,
                          as_http_reply *rep);
void as_http_reply_clear(as_http_reply *rep);

/* The events of an SSE reply after *since, formatted as SSE ("id: N\nevent:
** KIND\ndata: JSON\n\n") into buf[0..cap) (cap >= AS_HTTP_SSE_CHUNK_MIN), as
** many whole events as fit; *since advances past them; *n gets the bytes
** (0: nothing new); *done is set when nothing new is left and the session
** is terminal. An event too large for cap is sent as a "truncated" event
** naming its seq. AS_NOTFOUND once the session is gone; store statuses. */
AS_WUR int as_http_sse_next(as_store *st, const char *session, int64_t *since, char *buf,
                            size_t cap, size_t *n, bool *done);

/* --- the run queue ---------------------------------------------------------------- */

/* Take the next queued cycle, waiting until deadline (monotonic ns). AS_OK
** with *job (it counts as running until as_http_api_done); AS_TIMEDOUT;
** AS_NOTFOUND once the queue is closed and empty. */
AS_WUR int as_http_api_next(as_http_api *api, uint64_t deadline_ns, as_http_job *job);
/* The job taken with as_http_api_next has finished. */
void as_http_api_done(as_http_api *api, const as_http_job *job);
/* Refuse new triggers from now on (503 draining); workers still empty the
** queue. */
void as_http_api_close(as_http_api *api);
/* Queued plus running cycles. */
size_t as_http_api_active(as_http_api *api);
/* Wait until no cycle is queued or running, or deadline: AS_OK or AS_TIMEDOUT. */
AS_WUR int as_http_api_wait_idle(as_http_api *api, uint64_t deadline_ns);
/* Cancel every running cycle (as_cancel_session over st) and drop the queued
** ones, releasing their reservations (outcome "cancelled"); *n counts both. */
AS_WUR int as_http_api_cancel_all(as_http_api *api, as_store *st, size_t *n);
/* The runtime a worker or the watchdog uses with its own connection st. */
void as_http_api_runtime(const as_http_api *api, as_store *st, as_runtime *rt);

/* --- the server ------------------------------------------------------------------- */

typedef struct as_http_server_cfg {
  const char *db_path;        /* every connection opens this file */
  as_store_opts store;        /* their options (WAL) */
  const char *host;           /* a numeric IPv4 address; NULL: 127.0.0.1 */
  unsigned port;              /* 0: any free port */
  unsigned threads;           /* libmicrohttpd's pool (1 .. 64; 0: 4) */
  unsigned workers;           /* tasks running cycles (1 .. 64; 0: 2) */
  uint64_t watchdog_ns;       /* the watchdog's period; 0: 1 s */
  uint64_t sse_max_ns;        /* an SSE stream's longest life; 0: 60 s */
  uint64_t sse_heartbeat_ns;  /* a comment line when idle this long; 0: 5 s */
} as_http_server_cfg;

typedef struct as_http_server as_http_server;

/* Open the connections, start the workers, the watchdog and the daemon.
** AS_OK with *out; AS_INVAL for a bad setting; AS_SYS when the address cannot
** be bound (logged); the store's statuses. */
AS_WUR int as_http_server_start(as_http_api *api, const as_http_server_cfg *cfg,
                                as_http_server **out);
/* The port bound. */
unsigned as_http_server_port(const as_http_server *srv);
/* The drain: stop accepting (quiesce), refuse new triggers, wait up to grace_ns
** for the running and queued cycles, cancel what is left (reservations
** released), join the workers and the watchdog, stop the daemon, checkpoint
** the WAL (TRUNCATE) and close every connection. *cancelled counts the cycles
** cancelled. AS_OK, or the first failure (the rest still happens). */
AS_WUR int as_http_server_stop(as_http_server *srv, uint64_t grace_ns, size_t *cancelled);

#endif /* AGENTSIM_HTTP_API_H */

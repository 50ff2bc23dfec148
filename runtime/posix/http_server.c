/*
** http_server.c -- the HTTP API's server (http_api.h): libmicrohttpd, the
** workers that run queued cycles, the approval watchdog and the drain.
**
** Threading: libmicrohttpd's internal polling thread with a thread pool
** (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, THREAD_POOL_SIZE), not a
** thread per connection: threads and SQLite connections stay bounded however
** many clients connect (a load test's 64 connections do not make 64 threads
** and 64 connections), and a request's handler is short: a run never happens
** in it but on a worker. Approvals and retries do run in the request
** (their answer is the run's outcome), with try-acquire, so a handler never
** waits for a lock. Each pool thread handles one request at a time, so a
** pool of `threads` store connections, checked out per request, is enough.
** An SSE stream polls its session's events at 10 Hz inside the response
** callback (sleeping 100 ms when idle), which holds its pool thread's other
** connections meanwhile: streams are capped (threads - 1, at least 1), and
** each lives at most sse_max_ns.
*/
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "agentsim/fmt.h"
#include "agentsim/http_api.h"
#include "agentsim/seam.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define POOL_MAX 64u
#define SSE_BUF 16384u

typedef struct worker_arg {
  struct as_http_server *srv;
  as_store *st;
} worker_arg;

struct as_http_server {
  as_http_api *api;
  as_http_server_cfg cfg;
  struct MHD_Daemon *d;
  unsigned port;
  as_mutex *mu;
  as_cond *cv;          /* a pool connection back; stop */
  as_store *pool[POOL_MAX];
  as_store *idle[POOL_MAX]; /* the pool's connections not checked out */
  unsigned npool, nidle;
  as_store *wst[POOL_MAX]; /* the workers' connections */
  as_task *workers[POOL_MAX];
  worker_arg wargs[POOL_MAX];
  unsigned nworkers;
  as_store *dst;        /* the watchdog's */
  as_task *watchdog;
  bool stop;
  unsigned sse_active, sse_max;
};

typedef struct req_ctx {
  char *body;
  size_t len;
  bool too_big;
} req_ctx;

typedef struct sse_state {
  as_http_server *srv;
  char session[AS_SESSION_ID_MAX];
  int64_t since;
  uint64_t end_ns, last_ns;
  char buf[SSE_BUF];
  size_t off, n;
  bool done;
} sse_state;

/* A pool connection for this request. There is one per libmicrohttpd
** thread, and a thread runs one request or SSE read at a time, so an idle
** one is always there: the wait only backs that invariant up (no test
** reaches it, none can without breaking libmicrohttpd's contract). */
static as_store *checkout(as_http_server *s) {
  as_mutex_lock(s->mu);
  while (s->nidle == 0) as_cond_wait(s->cv, s->mu);
  as_store *st = s->idle[--s->nidle];
  as_mutex_unlock(s->mu);
  return st;
}

static void checkin(as_http_server *s, as_store *st) {
  as_mutex_lock(s->mu);
  s->idle[s->nidle++] = st;
  as_cond_broadcast(s->cv);
  as_mutex_unlock(s->mu);
}

static bool stopping(as_http_server *s) {
  as_mutex_lock(s->mu);
  bool v = s->stop;
  as_mutex_unlock(s->mu);
  return v;
}

/* --- SSE ---------------------------------------------------------------------------- */

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)pos;
  sse_state *x = cls;
  for (;;) {
    if (x->off < x->n) {
      size_t k = x->n - x->off < max ? x->n - x->off : max;
      memcpy(buf, x->buf + x->off, k);
      x->off += k;
      return (ssize_t)k;
    }
    uint64_t now = as_now_mono_ns();
    if (x->done || now >= x->end_ns || stopping(x->srv)) return MHD_CONTENT_READER_END_OF_STREAM;
    x->off = x->n = 0;
    as_store *st = checkout(x->srv);
    int rc = as_http_sse_next(st, x->session, &x->since, x->buf, sizeof x->buf, &x->n, &x->done);
    checkin(x->srv, st);
    if (rc != AS_OK) {
      as_log(AS_LOG_WARN, "sse %s: %s", x->session, as_status_msg(rc));
      return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (x->n > 0) {
      x->last_ns = now;
      continue;
    }
    if (x->done) continue;
    if (now - x->last_ns >= x->srv->cfg.sse_heartbeat_ns) {
      x->n = (size_t)as_appendf(x->buf, sizeof x->buf, 0, ": heartbeat\n\n");
      x->last_ns = now;
      continue;
    }
    as_sleep_until(now + 100 * MS);
  }
}

static void sse_free(void *cls) {
  sse_state *x = cls;
  as_mutex_lock(x->srv->mu);
  x->srv->sse_active--;
  as_mutex_unlock(x->srv->mu);
  as_free(x);
}

/* --- requests ----------------------------------------------------------------------- */

typedef struct qbuf {
  char s[AS_HTTP_QUERY_MAX + 1];
  size_t n;
  bool over;
} qbuf;

static enum MHD_Result query_it(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value) {
  (void)kind;
  qbuf *q = cls;
  size_t need = strlen(key) + (value ? strlen(value) : 0) + 2;
  if (q->n + need > AS_HTTP_QUERY_MAX) {
    q->over = true;
    return MHD_NO;
  }
  q->n = as_appendf(q->s, sizeof q->s, q->n, "%s%s=%s", q->n ? "&" : "", key, value ? value : "");
  return MHD_YES;
}

static enum MHD_Result send_reply(struct MHD_Connection *c, const as_http_reply *rep) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(rep->len, rep->body, MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  enum MHD_Result ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rep->content_type);
  char ra[16];
  if (ok == MHD_YES && rep->retry_after) {
    (void)as_appendf(ra, sizeof ra, 0, "%u", rep->retry_after); /* ignore: sized */
    ok = MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
  }
  if (ok == MHD_YES && rep->allow) ok = MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, rep->allow);
  if (ok == MHD_YES) ok = MHD_queue_response(c, rep->status, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result send_sse(as_http_server *s, struct MHD_Connection *c,
                                const as_http_reply *rep) {
  as_mutex_lock(s->mu);
  bool full = s->sse_active >= s->sse_max;
  if (!full) s->sse_active++;
  as_mutex_unlock(s->mu);
  if (full) {
    static const char msg[] = "{\"error\":{\"code\":\"unavailable\",\"message\":\"too many event "
                              "streams\",\"details\":{}}}";
    as_http_reply busy = {.status = 503, .content_type = "application/json", .retry_after = 1,
                          .body = (char *)msg, .len = sizeof msg - 1};
    return send_reply(c, &busy);
  }
  sse_state *x = as_calloc(1, sizeof *x);
  struct MHD_Response *r = NULL;
  if (x) {
    x->srv = s;
    (void)as_appendf(x->session, sizeof x->session, 0, "%s", rep->sse_session); /* ignore: sized */
    x->since = rep->sse_since;
    x->last_ns = as_now_mono_ns();
    x->end_ns = x->last_ns + s->cfg.sse_max_ns;
    x->n = (size_t)as_appendf(x->buf, sizeof x->buf, 0, ": events of %s\n\n", x->session);
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, x, sse_free);
  }
  if (!r) {
    if (x) as_free(x);
    as_mutex_lock(s->mu);
    s->sse_active--;
    as_mutex_unlock(s->mu);
    return MHD_NO;
  }
  enum MHD_Result ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
  if (ok == MHD_YES) ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
  if (ok == MHD_YES) ok = MHD_queue_response(c, 200, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls) {
  (void)version;
  as_http_server *s = cls;
  req_ctx *x = *con_cls;
  if (!x) {
    x = as_calloc(1, sizeof *x);
    if (!x) return MHD_NO;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && (strlen(cl) > 9 || strtoul(cl, NULL, 10) > AS_HTTP_BODY_MAX)) x->too_big = true;
    *con_cls = x;
    /* A declared body past the cap is answered at once, unread. */
    if (!x->too_big) return MHD_YES;
  } else if (*upload_size > 0) {
    if (!x->too_big && x->len + *upload_size > AS_HTTP_BODY_MAX) x->too_big = true;
    if (!x->too_big) {
      char *b = as_realloc(x->body, x->len + *upload_size + 1);
      if (!b) return MHD_NO;
      memcpy(b + x->len, upload, *upload_size);
      x->body = b;
      x->len += *upload_size;
    }
    *upload_size = 0;
    return MHD_YES;
  }
  qbuf q = {.n = 0};
  (void)MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_it, &q); /* ignore: a count */
  as_http_incoming req = {
      .method = method,
      .path = url,
      .query = q.s,
      .url_len = q.over ? AS_HTTP_IN_URL_MAX + 1 : strlen(url) + (q.n ? q.n + 1 : 0),
      .accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT),
      .body = x->body,
      .body_len = x->len,
      .body_too_big = x->too_big,
  };
  as_http_reply rep;
  as_store *st = checkout(s);
  int rc = as_http_handle(s->api, st, &req, &rep);
  checkin(s, st);
  if (rc != AS_OK) as_log(AS_LOG_WARN, "%s %s: %s", method, url, as_status_msg(rc));
  enum MHD_Result ok = rep.sse ? send_sse(s, c, &rep) : send_reply(c, &rep);
  as_http_reply_clear(&rep);
  return ok;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  req_ctx *x = *con_cls;
  if (!x) return;
  as_free(x->body);
  as_free(x);
  *con_cls = NULL;
}

/* --- tasks -------------------------------------------------------------------------- */

static void worker(void *arg) {
  worker_arg *w = arg;
  as_http_api *api = w->srv->api;
  for (;;) {
    as_http_job job;
    int rc = as_http_api_next(api, as_now_mono_ns() + 200 * MS, &job);
    if (rc == AS_NOTFOUND || (rc == AS_TIMEDOUT && stopping(w->srv))) break;
    if (rc != AS_OK) continue;
    as_runtime rt;
    as_http_api_runtime(api, w->st, &rt);
    as_run_result res;
    rc = as_trigger_run(&rt, job.session, job.op_id, true, &res);
    if (rc != AS_OK)
      as_log(AS_LOG_WARN, "cycle %s: %s", job.op_id, as_status_msg(rc));
    else
      as_log(AS_LOG_INFO, "cycle %s: %s (%s)", job.op_id, as_run_outcome_name(res.outcome),
             as_session_status_name(res.status));
    as_http_api_done(api, &job);
  }
}

static void watchdog(void *arg) {
  as_http_server *s = arg;
  as_runtime rt;
  as_http_api_runtime(s->api, s->dst, &rt);
  as_mutex_lock(s->mu);
  while (!s->stop) {
    as_mutex_unlock(s->mu);
    as_watchdog_stats stats;
    int rc = as_watchdog_tick(&rt, &stats);
    if (rc != AS_OK) as_log(AS_LOG_WARN, "watchdog: %s", as_status_msg(rc));
    else if (stats.resolved || stats.skipped)
      as_log(AS_LOG_INFO, "watchdog: %zu timed out, %zu busy", stats.resolved, stats.skipped);
    uint64_t next = as_now_mono_ns() + s->cfg.watchdog_ns;
    as_mutex_lock(s->mu);
    while (!s->stop && as_cond_timedwait(s->cv, s->mu, next) == AS_OK) {
    }
  }
  as_mutex_unlock(s->mu);
}

/* --- start and stop ----------------------------------------------------------------- */

static AS_WUR int open_conn(const as_http_server *s, as_store **st) {
  int rc = as_store_open(st, s->cfg.db_path, &s->cfg.store);
  if (rc != AS_OK) as_log(AS_LOG_ERROR, "serve: opening %s: %s", s->cfg.db_path, as_status_msg(rc));
  return rc;
}

static void close_all(as_http_server *s) {
  for (unsigned i = 0; i < s->npool; i++) as_store_close(s->pool[i]);
  for (unsigned i = 0; i < s->nworkers; i++) {
    as_store_close(s->wst[i]);
    s->wst[i] = NULL;
  }
  as_store_close(s->dst);
  s->npool = s->nidle = 0;
  s->dst = NULL;
}

/* Stop and join the tasks (a worker ends at its next idle wait). */
static AS_WUR int join_tasks(as_http_server *s) {
  int rc = AS_OK;
  as_mutex_lock(s->mu);
  s->stop = true;
  as_cond_broadcast(s->cv);
  as_mutex_unlock(s->mu);
  if (s->watchdog) {
    int j = as_task_join(s->watchdog);
    if (j != AS_OK) rc = j;
    s->watchdog = NULL;
  }
  for (unsigned i = 0; i < s->nworkers; i++)
    if (s->workers[i]) {
      int j = as_task_join(s->workers[i]);
      if (j != AS_OK && rc == AS_OK) rc = j;
      s->workers[i] = NULL;
    }
  return rc;
}

static void server_free(as_http_server *s) {
  close_all(s);
  as_cond_free(s->cv);
  as_mutex_free(s->mu);
  as_free(s);
}

int as_http_server_start(as_http_api *api, const as_http_server_cfg *cfg, as_http_server **out) {
  if (!out) return AS_INVAL;
  *out = NULL;
  if (!api || !cfg || !cfg->db_path || cfg->port > 65535 || cfg->threads > POOL_MAX ||
      cfg->workers > POOL_MAX)
    return AS_INVAL;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)cfg->port);
  if (inet_pton(AF_INET, cfg->host ? cfg->host : "127.0.0.1", &sa.sin_addr) != 1) return AS_INVAL;
  as_http_server *s = as_calloc(1, sizeof *s);
  if (!s) return AS_NOMEM;
  s->api = api;
  s->cfg = *cfg;
  if (!s->cfg.threads) s->cfg.threads = 4;
  if (!s->cfg.workers) s->cfg.workers = 2;
  if (!s->cfg.watchdog_ns) s->cfg.watchdog_ns = SEC;
  if (!s->cfg.sse_max_ns) s->cfg.sse_max_ns = 60 * SEC;
  if (!s->cfg.sse_heartbeat_ns) s->cfg.sse_heartbeat_ns = 5 * SEC;
  s->sse_max = s->cfg.threads > 1 ? s->cfg.threads - 1 : 1;
  int rc = as_mutex_new(&s->mu);
  if (rc == AS_OK) rc = as_cond_new(&s->cv);
  if (rc != AS_OK) { /* nothing opened or started yet; join_tasks needs both */
    server_free(s);
    return rc;
  }
  for (unsigned i = 0; rc == AS_OK && i < s->cfg.threads; i++) {
    rc = open_conn(s, &s->pool[i]);
    if (rc == AS_OK) s->idle[s->nidle++] = s->pool[s->npool++];
  }
  if (rc == AS_OK) rc = open_conn(s, &s->dst);
  for (unsigned i = 0; rc == AS_OK && i < s->cfg.workers; i++) {
    rc = open_conn(s, &s->wst[i]);
    if (rc != AS_OK) break;
    s->wargs[i].srv = s;
    s->wargs[i].st = s->wst[i];
    s->nworkers++;
    rc = as_task_spawn(&s->workers[i], "serve-worker", worker, &s->wargs[i]);
  }
  if (rc == AS_OK) rc = as_task_spawn(&s->watchdog, "serve-watchdog", watchdog, s);
  if (rc == AS_OK) {
    s->d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->cfg.threads,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)AS_HTTP_IN_HEADERS_MAX,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)30, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    if (!s->d) {
      as_log(AS_LOG_ERROR, "serve: cannot listen on %s:%u", cfg->host ? cfg->host : "127.0.0.1",
             cfg->port);
      rc = AS_SYS;
    }
  }
  if (rc == AS_OK) {
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di->port; /* BIND_PORT: libmicrohttpd >= 0.9.74 answers it */
    *out = s;
    return AS_OK;
  }
  int j = join_tasks(s);
  if (j != AS_OK) as_log(AS_LOG_WARN, "serve: joining: %s", as_status_msg(j));
  server_free(s);
  return rc;
}

unsigned as_http_server_port(const as_http_server *srv) { return srv->port; }

int as_http_server_stop(as_http_server *s, uint64_t grace_ns, size_t *cancelled) {
  size_t n = 0;
  int rc = AS_OK;
  MHD_socket fd = MHD_quiesce_daemon(s->d);
  if (fd != MHD_INVALID_SOCKET && close(fd) != 0) as_log(AS_LOG_WARN, "drain: closing the socket");
  as_http_api_close(s->api);
  as_log(AS_LOG_INFO, "drain: %zu cycles running or queued", as_http_api_active(s->api));
  if (as_http_api_wait_idle(s->api, as_now_mono_ns() + grace_ns) != AS_OK) {
    rc = as_http_api_cancel_all(s->api, s->dst, &n);
    /* A cancelled run stops at its next scheduling point: bounded. */
    if (as_http_api_wait_idle(s->api, as_now_mono_ns() + 30 * SEC) != AS_OK) {
      as_log(AS_LOG_ERROR, "drain: cycles still running after the cancel");
      if (rc == AS_OK) rc = AS_TIMEDOUT;
    }
  }
  int j = join_tasks(s);
  if (j != AS_OK && rc == AS_OK) rc = j;
  MHD_stop_daemon(s->d);
  /* The last connection checkpoints, the others closed first. */
  as_store *last = s->dst;
  s->dst = NULL;
  close_all(s);
  int c = as_store_checkpoint(last);
  if (c != AS_OK) as_log(AS_LOG_WARN, "drain: checkpoint: %s", as_status_msg(c));
  if (c != AS_OK && rc == AS_OK) rc = c;
  as_store_close(last);
  server_free(s);
  if (cancelled) *cancelled = n;
  return rc;
}

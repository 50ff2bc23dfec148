/*
** test_http_server.c -- the HTTP API's server (runtime/posix/http_server.c)
** in process: libmicrohttpd on a loopback port, real sockets, the workers,
** the watchdog, SSE streams (heartbeat, the stream cap, the longest life), a
** query past its cap, and the drain cancelling a running cycle; start's
** failures (bad settings, a database that cannot be opened, a port taken).
** Through a test platform (the seam, installed in main): every allocation of
** a request and of start failing in turn, spawns and joins failing, the
** watchdog's clock moved past an approval's timeout, the drain's clock
** behind so its wait for a held run is over; SQLite locks held by the test
** make the drain's releases and checkpoint busy.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agentsim/app.h"
#include "agentsim/budget.h"
#include "agentsim/http_api.h"
#include "agentsim/locks.h"
#include "agentsim/retry.h"
#include "agentsim/seam.h"
#include "agentsim/store.h"
#include "coretest.h"
#include "logcap.h"
#include "llm/spec.h"

#include <microhttpd.h>

/* libmicrohttpd's response calls, wrapped (--wrap in tests/CMakeLists.txt):
** fail_* = N makes the N-th next call fail (NULL or MHD_NO). The server's
** threads count them down while the test sets them: atomics. */
static atomic_int fail_buffer, fail_header, fail_callback;
static bool hit(atomic_int *k) {
  int v = atomic_load(k);
  while (v > 0)
    if (atomic_compare_exchange_weak(k, &v, v - 1)) return v == 1;
  return false;
}
struct MHD_Response *__real_MHD_create_response_from_buffer(size_t n, void *b,
                                                            enum MHD_ResponseMemoryMode m);
struct MHD_Response *__wrap_MHD_create_response_from_buffer(size_t n, void *b,
                                                            enum MHD_ResponseMemoryMode m);
struct MHD_Response *__wrap_MHD_create_response_from_buffer(size_t n, void *b,
                                                            enum MHD_ResponseMemoryMode m) {
  return hit(&fail_buffer) ? NULL : __real_MHD_create_response_from_buffer(n, b, m);
}
enum MHD_Result __real_MHD_add_response_header(struct MHD_Response *r, const char *h,
                                               const char *v);
enum MHD_Result __wrap_MHD_add_response_header(struct MHD_Response *r, const char *h,
                                               const char *v);
enum MHD_Result __wrap_MHD_add_response_header(struct MHD_Response *r, const char *h,
                                               const char *v) {
  return hit(&fail_header) ? MHD_NO : __real_MHD_add_response_header(r, h, v);
}
struct MHD_Response *__real_MHD_create_response_from_callback(uint64_t size, size_t block,
                                                              MHD_ContentReaderCallback crc,
                                                              void *cls,
                                                              MHD_ContentReaderFreeCallback fc);
struct MHD_Response *__wrap_MHD_create_response_from_callback(uint64_t size, size_t block,
                                                              MHD_ContentReaderCallback crc,
                                                              void *cls,
                                                              MHD_ContentReaderFreeCallback fc);
struct MHD_Response *__wrap_MHD_create_response_from_callback(uint64_t size, size_t block,
                                                              MHD_ContentReaderCallback crc,
                                                              void *cls,
                                                              MHD_ContentReaderFreeCallback fc) {
  return hit(&fail_callback) ? NULL
                             : __real_MHD_create_response_from_callback(size, block, crc, cls, fc);
}
/* quiesce_mode 1: the daemon has no listening socket to hand back; 2: it
** hands back one that close() refuses. Neither calls the real one, so
** MHD_stop_daemon closes the real socket itself. */
static int quiesce_mode;
MHD_socket __real_MHD_quiesce_daemon(struct MHD_Daemon *d);
MHD_socket __wrap_MHD_quiesce_daemon(struct MHD_Daemon *d);
MHD_socket __wrap_MHD_quiesce_daemon(struct MHD_Daemon *d) {
  int m = quiesce_mode;
  quiesce_mode = 0;
  if (m == 1) return MHD_INVALID_SOCKET;
  if (m == 2) return 1 << 20; /* past any descriptor: EBADF */
  return __real_MHD_quiesce_daemon(d);
}

/* The test's platform (installed in main, before any task): posix, with
** these under the test's control -- the runtime's heap (the n-th allocation
** from now fails, or every one), task spawns and joins, mutex and condition
** creation, both clocks (an offset), and the log (kept, to be searched). */
static as_platform TP;
static atomic_long alloc_left;     /* > 0: the alloc_left-th allocation fails */
static atomic_int alloc_all;       /* every allocation fails */
static atomic_int alloc_fired;
static atomic_int spawn_left;      /* > 0: the spawn_left-th spawn fails */
static atomic_int join_ok_first = -1; /* >= 0: joins after that many report AS_SYS */
static atomic_int mutex_fail, cond_fail;
static atomic_llong mono_off, wall_off;

static bool alloc_fails(void) {
  if (atomic_load(&alloc_all)) {
    atomic_store(&alloc_fired, 1);
    return true;
  }
  if (atomic_load(&alloc_left) <= 0) return false;
  if (atomic_fetch_sub(&alloc_left, 1) != 1) return false;
  atomic_store(&alloc_fired, 1);
  return true;
}
static void *tp_alloc(size_t n) { return alloc_fails() ? NULL : as_platform_posix.mem_alloc(n); }
static void *tp_realloc(void *p, size_t n) {
  return alloc_fails() ? NULL : as_platform_posix.mem_realloc(p, n);
}
static void alloc_arm(long n) {
  atomic_store(&alloc_fired, 0);
  atomic_store(&alloc_left, n);
}
static int alloc_disarm(void) {
  atomic_store(&alloc_left, 0);
  atomic_store(&alloc_all, 0);
  return atomic_load(&alloc_fired);
}
static int tp_spawn(as_task **out, const char *name, as_task_fn fn, void *arg) {
  if (atomic_load(&spawn_left) > 0 && atomic_fetch_sub(&spawn_left, 1) == 1) return AS_SYS;
  return as_platform_posix.task_spawn(out, name, fn, arg);
}
static int tp_join(as_task *t) {
  int rc = as_platform_posix.task_join(t);
  int ok = atomic_load(&join_ok_first);
  if (rc == AS_OK && ok >= 0) {
    if (ok == 0) return AS_SYS; /* joined all the same: nothing leaks */
    atomic_store(&join_ok_first, ok - 1);
  }
  return rc;
}
static int tp_mutex_new(as_mutex **out) {
  if (atomic_exchange(&mutex_fail, 0)) return AS_NOMEM;
  return as_platform_posix.mutex_new(out);
}
static int tp_cond_new(as_cond **out) {
  if (atomic_exchange(&cond_fail, 0)) return AS_NOMEM;
  return as_platform_posix.cond_new(out);
}
static uint64_t tp_mono(void) {
  return as_platform_posix.now_mono_ns() + (uint64_t)atomic_load(&mono_off);
}
static int64_t tp_wall(void) { return as_platform_posix.now_wall_ns() + atomic_load(&wall_off); }
/* Real time, whatever the platform's clock says. */
static void nap_ms(unsigned ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}
/* Wait (at most 10 s) until the log says what. */
static bool log_wait(const char *what) {
  for (int i = 0; i < 1000; i++) {
    if (logcap_has(what)) return true;
    nap_ms(10);
  }
  return false;
}

#define MS 1000000ull

static ct_dir D;
static as_app *APP;
static as_llm_opened LLM;
static as_lock_registry *LOCKS;
static as_runs *RUNS;
static as_prices PRICES;
static as_budget_cfg BUDGET;
static as_http_api *API;
static char DB[256];

static void up_with(const char *stub, as_tool_exec_fn exec) {
  ct_dir_make(&D);
  ct_path(DB, sizeof DB, &D, "srv.db");
  as_app_diag diag;
  assert_int_equal(as_app_load(AS_SOURCE_DIR "/fixtures/apps/incident", &APP, &diag), AS_OK);
  as_llm_spec spec;
  char err[256];
  char sp[512];
  snprintf(sp, sizeof sp, "stub:%s", stub);
  assert_int_equal(as_llm_spec_parse(sp, &spec, err, sizeof err), AS_OK);
  assert_int_equal(as_llm_spec_open(&spec, 1, as_llm_usage_from_inclusive, &LLM, err, sizeof err),
                   AS_OK);
  assert_int_equal(as_prices_load(AS_SOURCE_DIR "/fixtures/prices/default.json", &PRICES, err,
                                  sizeof err),
                   AS_OK);
  BUDGET = (as_budget_cfg){.daily_limit_micros = 5000000, .cycle_estimate_micros = 150000,
                           .prices = &PRICES};
  assert_int_equal(as_locks_new(&LOCKS, 0), AS_OK);
  assert_int_equal(as_runs_new(&RUNS, 0), AS_OK);
  as_http_cfg c = {.app = APP, .locks = LOCKS, .runs = RUNS, .budget = &BUDGET, .llm = &LLM.llm,
                   .exec = exec};
  assert_int_equal(as_http_api_new(&c, &API), AS_OK);
}

static void up(void) { up_with(AS_SOURCE_DIR "/fixtures/scripts/incident.stub", NULL); }
#define FAST_STUB AS_SOURCE_DIR "/tests/data/serve_fast.stub"

static void down(void) {
  as_http_api_free(API);
  as_runs_free(RUNS);
  as_locks_free(LOCKS);
  as_llm_opened_close(&LLM);
  as_app_free(APP);
  ct_dir_remove(&D);
}

/* One HTTP/1.0 exchange (the server closes): the whole answer into buf; the
** status. */
/* started (when given) is set once the answer's head is in and, when until
** is given, that text too: a test then knows what the stream had sent. */
static int http_s(unsigned port, const char *req, char *buf, size_t cap, atomic_int *started,
                  const char *until) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  size_t len = strlen(req);
  assert_int_equal(write(fd, req, len), (ssize_t)len);
  size_t n = 0;
  for (int i = 0; i < 200 && n + 1 < cap; i++) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t k = read(fd, buf + n, cap - 1 - n);
    if (k <= 0) break;
    n += (size_t)k;
    buf[n] = '\0';
    if (started && strstr(buf, "\r\n\r\n") && (!until || strstr(buf, until)))
      atomic_store(started, 1); /* the head is in (and what was waited for) */
  }
  buf[n] = '\0';
  assert_int_equal(close(fd), 0);
  int status = 0;
  if (strncmp(buf, "HTTP/1.", 7) == 0) status = (int)strtol(buf + 9, NULL, 10);
  return status;
}
static int http(unsigned port, const char *req, char *buf, size_t cap) {
  return http_s(port, req, buf, cap, NULL, NULL);
}

typedef struct sse_arg {
  unsigned port;
  char path[128];
  char buf[65536];
  int status;
  atomic_int started; /* the answer's head has come (and `until`) */
  const char *until;  /* NULL, or a text started waits for too */
} sse_arg;

static void sse_task(void *arg) {
  sse_arg *a = arg;
  char req[256];
  snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n", a->path);
  a->status = http_s(a->port, req, a->buf, sizeof a->buf, &a->started, a->until);
}

static void test_server(void **state) {
  (void)state;
  up();
  as_http_server_cfg cfg = {.db_path = DB,
                            .store = {.synchronous = "off", .not_durable = 1,
                                      .busy_timeout_ms = 5000},
                            .threads = 2, .workers = 1, .watchdog_ns = 10 * MS,
                            .sse_max_ns = 700 * MS, .sse_heartbeat_ns = 50 * MS};
  as_http_server *srv = NULL;
  assert_int_equal(as_http_server_start(API, &cfg, &srv), AS_OK);
  unsigned port = as_http_server_port(srv);
  assert_true(port > 0);
  char buf[65536];
  assert_int_equal(http(port, "GET /healthz HTTP/1.0\r\n\r\n", buf, sizeof buf), 200);
  assert_non_null(strstr(buf, "{\"status\":\"ok\"}"));
  /* a query past its cap */
  char big[4096];
  size_t n = (size_t)snprintf(big, sizeof big, "GET /healthz?");
  for (int i = 0; i < 150; i++) n += (size_t)snprintf(big + n, sizeof big - n, "k%03d=vvvvv&", i);
  snprintf(big + n, sizeof big - n, " HTTP/1.0\r\n\r\n");
  assert_int_equal(http(port, big, buf, sizeof buf), 414);
  /* a body past its cap, by Content-Length */
  assert_int_equal(http(port,
                        "POST /agent/trigger HTTP/1.0\r\nContent-Length: 99999999\r\n\r\n{}",
                        buf, sizeof buf),
                   413);
  static const char body[] = "{\"session_id\":\"r1\"}";
  char req[512];
  snprintf(req, sizeof req,
           "POST /agent/trigger HTTP/1.0\r\nContent-Type: application/json\r\n"
           "Content-Length: %zu\r\n\r\n%s",
           sizeof body - 1, body);
  assert_int_equal(http(port, req, buf, sizeof buf), 202);
  assert_non_null(strstr(buf, "r1:cycle-1"));
  assert_int_equal(http(port, "GET /nope HTTP/1.0\r\n\r\n", buf, sizeof buf), 404);
  assert_int_equal(http(port, "DELETE /healthz HTTP/1.0\r\n\r\n", buf, sizeof buf), 405);
  assert_non_null(strstr(buf, "Allow: GET"));
  /* libmicrohttpd refusing a response: the connection is closed, nothing sent */
  fail_buffer = 1;
  assert_int_equal(http(port, "GET /healthz HTTP/1.0\r\n\r\n", buf, sizeof buf), 0);
  fail_header = 1;
  assert_int_equal(http(port, "GET /healthz HTTP/1.0\r\n\r\n", buf, sizeof buf), 0);
  fail_header = 2;
  assert_int_equal(http(port, "DELETE /healthz HTTP/1.0\r\n\r\n", buf, sizeof buf), 0);
  fail_header = 2;
  assert_int_equal(http(port, "POST /agent/trigger HTTP/1.0\r\nContent-Length: 99999999\r\n\r\n",
                        buf, sizeof buf),
                   413);
  fail_callback = 1;
  assert_int_equal(http(port,
                        "GET /sessions/r1/events HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n",
                        buf, sizeof buf),
                   0);
  fail_header = 1;
  assert_int_equal(http(port,
                        "GET /sessions/r1/events HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n",
                        buf, sizeof buf),
                   0);
  fail_header = 2;
  assert_int_equal(http(port,
                        "GET /sessions/r1/events HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n",
                        buf, sizeof buf),
                   0);
  fail_buffer = fail_header = fail_callback = 0;
  /* two streams: one is over the cap */
  sse_arg *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
  assert_non_null(a);
  assert_non_null(b);
  a->port = b->port = port;
  snprintf(a->path, sizeof a->path, "/sessions/r1/events?since=0");
  snprintf(b->path, sizeof b->path, "/sessions/r1/events?since=0");
  as_task *ta, *tb;
  assert_int_equal(as_task_spawn(&ta, "sse-a", sse_task, a), AS_OK);
  as_sleep_until(as_now_mono_ns() + 150 * MS);
  assert_int_equal(as_task_spawn(&tb, "sse-b", sse_task, b), AS_OK);
  assert_int_equal(as_task_join(ta), AS_OK);
  assert_int_equal(as_task_join(tb), AS_OK);
  assert_int_equal(a->status, 200);
  assert_non_null(strstr(a->buf, "event: agent_started"));
  assert_non_null(strstr(a->buf, ": heartbeat"));
  assert_int_equal(b->status, 503);
  free(a);
  free(b);
  /* a second server on the same port: taken */
  as_http_server_cfg same = cfg;
  same.port = port;
  as_http_server *other = NULL;
  assert_int_equal(as_http_server_start(API, &same, &other), AS_SYS);
  assert_null(other);
  /* the drain with the cycle still running: cancelled, reservation released */
  size_t cancelled = 99;
  assert_int_equal(as_http_server_stop(srv, 0, &cancelled), AS_OK);
  assert_int_equal(cancelled, 1);
  as_store *st = ct_open(&D, "srv.db", "wal", 5000);
  as_budget_status bs;
  assert_int_equal(as_budget_status_get(st, &BUDGET, &bs), AS_OK);
  assert_int_equal(bs.open_reservations, 0);
  as_store_close(st);
  down();
}

static void test_start_failures(void **state) {
  (void)state;
  up();
  as_http_server *srv = (as_http_server *)1;
  as_http_server_cfg cfg = {.db_path = DB, .store = {.synchronous = "off", .not_durable = 1}};
  assert_int_equal(as_http_server_start(API, &cfg, NULL), AS_INVAL);
  assert_int_equal(as_http_server_start(NULL, &cfg, &srv), AS_INVAL);
  assert_null(srv);
  assert_int_equal(as_http_server_start(API, NULL, &srv), AS_INVAL);
  as_http_server_cfg bad = cfg;
  bad.db_path = NULL;
  assert_int_equal(as_http_server_start(API, &bad, &srv), AS_INVAL);
  bad = cfg;
  bad.port = 70000;
  assert_int_equal(as_http_server_start(API, &bad, &srv), AS_INVAL);
  bad = cfg;
  bad.threads = 65;
  assert_int_equal(as_http_server_start(API, &bad, &srv), AS_INVAL);
  bad = cfg;
  bad.workers = 65;
  assert_int_equal(as_http_server_start(API, &bad, &srv), AS_INVAL);
  bad = cfg;
  bad.host = "nohost";
  assert_int_equal(as_http_server_start(API, &bad, &srv), AS_INVAL);
  bad = cfg;
  bad.db_path = "/nonexistent/dir/x.db";
  assert_int_not_equal(as_http_server_start(API, &bad, &srv), AS_OK);
  assert_null(srv);
  /* defaults, a quick start and stop */
  bad = cfg;
  bad.threads = 1;
  assert_int_equal(as_http_server_start(API, &bad, &srv), AS_OK);
  assert_int_equal(as_http_server_stop(srv, 0, NULL), AS_OK);
  down();
}

static as_http_server_cfg quick_cfg(uint64_t watchdog_ns) {
  return (as_http_server_cfg){.db_path = DB,
                              .store = {.synchronous = "off", .not_durable = 1,
                                        .busy_timeout_ms = 300},
                              .threads = 2, .workers = 1, .watchdog_ns = watchdog_ns,
                              .sse_max_ns = 30000 * MS, .sse_heartbeat_ns = 50 * MS};
}

/* POST path with a JSON body; the status. */
static int post(unsigned port, const char *path, const char *body, char *buf, size_t cap) {
  char req[1024];
  snprintf(req, sizeof req,
           "POST %s HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
           path, strlen(body), body);
  return http(port, req, buf, cap);
}

/* Wait (at most 10 s) until GET path's answer contains what. */
static bool get_wait(unsigned port, const char *path, const char *what) {
  char req[256], buf[65536];
  snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
  for (int i = 0; i < 200; i++) {
    if (http(port, req, buf, sizeof buf) == 200 && strstr(buf, what)) return true;
    nap_ms(50);
  }
  return false;
}

#define FALLBACK "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\",\"details\":{}}}"

/* Every allocation of a request failing in turn, through the server: the
** connection's state (the connection is dropped), the body's growth
** (dropped), the reply (the static 500), an SSE stream's state (dropped),
** and its reads (the stream is cut). */
static void test_server_nomem(void **state) {
  (void)state;
  up_with(FAST_STUB, NULL);
  as_http_server_cfg cfg = quick_cfg(3600000 * MS); /* the watchdog allocates once, at start */
  as_http_server *srv = NULL;
  assert_int_equal(as_http_server_start(API, &cfg, &srv), AS_OK);
  unsigned port = as_http_server_port(srv);
  char buf[65536];
  assert_int_equal(post(port, "/agent/trigger", "{\"session_id\":\"t1\"}", buf, sizeof buf), 202);
  assert_true(get_wait(port, "/sessions/t1", "\"status\":\"resolved\""));
  assert_true(get_wait(port, "/agent/status", "\"status\":\"idle\""));
  logcap_reset();
  /* GET /healthz: its state, then its reply */
  int got[3];
  for (long k = 1; k <= 3; k++) {
    alloc_arm(k);
    got[k - 1] = http(port, "GET /healthz HTTP/1.0\r\n\r\n", buf, sizeof buf);
    int fired = alloc_disarm();
    assert_int_equal(fired, k < 3);
    if (got[k - 1] == 500) assert_non_null(strstr(buf, FALLBACK));
  }
  assert_int_equal(got[0], 0);
  assert_int_equal(got[1], 500);
  assert_int_equal(got[2], 200);
  assert_true(logcap_has("GET /healthz: out of memory"));
  /* a POST: its state, its body, then the reply (400: an unknown member) */
  int seen0 = 0, seen500 = 0;
  long k;
  for (k = 1; k < 100; k++) {
    alloc_arm(k);
    int st = post(port, "/agent/trigger", "{\"x\":1}", buf, sizeof buf);
    int fired = alloc_disarm();
    if (!fired) {
      assert_int_equal(st, 400);
      break;
    }
    if (k <= 2) assert_int_equal(st, 0);
    else assert_int_equal(st, 500);
    seen0 += st == 0;
    seen500 += st == 500;
  }
  assert_int_equal(seen0, 2);
  assert_true(seen500 > 0);
  /* an SSE stream of t1 (resolved: the stream ends after its events):
  ** 0, then 500s (the handler), one 0 (the stream's state), then 200s (cut
  ** streams), the last one whole */
  int phase = 0; /* 0: state; 1: handler's 500s; 2: the stream's state; 3: streams */
  for (k = 1; k < 1000; k++) {
    alloc_arm(k);
    int st = http(port, "GET /sessions/t1/events HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n",
                  buf, sizeof buf);
    int fired = alloc_disarm();
    if (!fired) {
      assert_int_equal(st, 200);
      assert_non_null(strstr(buf, "event: agent_finished"));
      break;
    }
    if (phase == 0) {
      assert_int_equal(st, 0);
      phase = 1;
    } else if (phase == 1 && st == 0) {
      phase = 2;
    } else if (phase == 1) {
      assert_int_equal(st, 500);
      assert_non_null(strstr(buf, FALLBACK));
    } else {
      assert_int_equal(st, 200);
      assert_non_null(strstr(buf, ": events of t1"));
      phase = 3;
    }
  }
  assert_int_equal(phase, 3);
  size_t n = 99;
  assert_int_equal(as_http_server_stop(srv, 5000 * MS, &n), AS_OK);
  assert_int_equal(n, 0);
  down();
}

/* A task holding a session's lock, its run refused (busy) on the worker;
** the watchdog skipping a timed-out approval whose session is busy, then
** timing it out; the heap failing under an open stream and the watchdog;
** a stream the stop ends; a query key without a value; the body caps. */
static void test_server_tasks(void **state) {
  (void)state;
  up_with(FAST_STUB, NULL);
  as_http_server_cfg cfg = quick_cfg(10 * MS);
  as_http_server *srv = NULL;
  assert_int_equal(as_http_server_start(API, &cfg, &srv), AS_OK);
  unsigned port = as_http_server_port(srv);
  char buf[65536];
  logcap_reset();
  /* the worker's run of a busy session */
  assert_int_equal(as_lock_acquire(LOCKS, "wb"), AS_OK);
  assert_int_equal(post(port, "/agent/trigger", "{\"session_id\":\"wb\"}", buf, sizeof buf), 202);
  assert_true(log_wait("cycle wb:cycle-1: resource busy"));
  assert_int_equal(as_lock_release(LOCKS, "wb"), AS_OK);
  assert_true(get_wait(port, "/agent/status", "\"status\":\"idle\""));
  /* the watchdog: p4 waits for a person; 31 minutes on, it is due */
  assert_int_equal(post(port, "/agent/trigger",
                        "{\"session_id\":\"p4\",\"fields\":{\"environment\":\"production\"}}", buf,
                        sizeof buf),
                   202);
  assert_true(get_wait(port, "/sessions/p4", "\"status\":\"awaiting_input\""));
  assert_int_equal(as_lock_acquire(LOCKS, "p4"), AS_OK);
  atomic_store(&wall_off, (long long)31 * 60 * 1000 * MS);
  assert_true(log_wait("watchdog: 0 timed out, 1 busy"));
  assert_int_equal(as_lock_release(LOCKS, "p4"), AS_OK);
  assert_true(log_wait("watchdog: 1 timed out, 0 busy"));
  atomic_store(&wall_off, 0);
  char req[256];
  snprintf(req, sizeof req, "GET /sessions/p4 HTTP/1.0\r\n\r\n");
  assert_int_equal(http(port, req, buf, sizeof buf), 200);
  assert_null(strstr(buf, "\"status\":\"awaiting_input\""));
  /* p5 waits; its stream open while the heap fails: the stream is cut, the
  ** watchdog's ticks fail, both told */
  assert_int_equal(post(port, "/agent/trigger",
                        "{\"session_id\":\"p5\",\"fields\":{\"environment\":\"production\"}}", buf,
                        sizeof buf),
                   202);
  assert_true(get_wait(port, "/sessions/p5", "\"status\":\"awaiting_input\""));
  sse_arg *a = calloc(1, sizeof *a);
  assert_non_null(a);
  a->port = port;
  a->until = "event: approval_requested"; /* sent before the heap fails */
  snprintf(a->path, sizeof a->path, "/sessions/p5/events?since=0");
  as_task *ta;
  assert_int_equal(as_task_spawn(&ta, "sse-p5", sse_task, a), AS_OK);
  for (int i = 0; i < 1000 && !atomic_load(&a->started); i++) nap_ms(10);
  assert_true(atomic_load(&a->started));
  uint64_t t0 = as_now_mono_ns();
  atomic_store(&alloc_fired, 0);
  atomic_store(&alloc_all, 1);
  assert_true(log_wait("sse p5: out of memory"));
  assert_true(log_wait("watchdog: out of memory"));
  assert_int_equal(alloc_disarm(), 1);
  assert_int_equal(as_task_join(ta), AS_OK);
  assert_true(as_now_mono_ns() - t0 < 10000 * MS); /* cut, not at its 30 s */
  assert_int_equal(a->status, 200);
  assert_non_null(strstr(a->buf, "event: approval_requested"));
  /* a key without a value; a Content-Length of 11 digits; a chunked body
  ** past the cap */
  assert_int_equal(http(port, "GET /sessions/recent?flag&limit=1 HTTP/1.0\r\n\r\n", buf, sizeof buf),
                   200);
  assert_non_null(strstr(buf, "\"sessions\":[{"));
  assert_int_equal(http(port,
                        "POST /agent/trigger HTTP/1.0\r\nContent-Length: 12345678901\r\n\r\n{}",
                        buf, sizeof buf),
                   413);
  size_t cap = 200 * 1024, len = 0;
  char *big = malloc(cap);
  assert_non_null(big);
  len += (size_t)snprintf(big, cap,
                          "POST /agent/trigger HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n");
  for (int i = 0; i < 10; i++) {
    len += (size_t)snprintf(big + len, cap - len, "2000\r\n");
    memset(big + len, ' ', 0x2000);
    len += 0x2000;
    len += (size_t)snprintf(big + len, cap - len, "\r\n");
  }
  len += (size_t)snprintf(big + len, cap - len, "0\r\n\r\n");
  assert_int_equal(http(port, big, buf, sizeof buf), 413);
  assert_non_null(strstr(buf, "body_too_large"));
  free(big);
  /* the stop ends an open stream */
  memset(a, 0, sizeof *a);
  a->port = port;
  snprintf(a->path, sizeof a->path, "/sessions/p5/events");
  assert_int_equal(as_task_spawn(&ta, "sse-p5b", sse_task, a), AS_OK);
  for (int i = 0; i < 1000 && !atomic_load(&a->started); i++) nap_ms(10);
  assert_true(atomic_load(&a->started));
  t0 = as_now_mono_ns();
  quiesce_mode = 2;
  logcap_reset();
  assert_int_equal(as_http_server_stop(srv, 5000 * MS, NULL), AS_OK);
  assert_true(logcap_has("drain: closing the socket"));
  assert_int_equal(as_task_join(ta), AS_OK);
  assert_true(as_now_mono_ns() - t0 < 10000 * MS);
  assert_int_equal(a->status, 200);
  assert_non_null(strstr(a->buf, ": events of p5"));
  free(a);
  down();
}

/* A tool that waits until released (a run the cancel cannot stop at once). */
static pthread_mutex_t ex_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ex_cv = PTHREAD_COND_INITIALIZER;
static int ex_state; /* 0: pass; 1: hold the next; 2: holding; 3: let go */

static int hold_exec(void *ctx, const char *session_id, const as_app_tool *tool, const char *args,
                     char **result) {
  (void)ctx;
  (void)session_id;
  (void)tool;
  (void)args;
  pthread_mutex_lock(&ex_mu);
  if (ex_state == 1) {
    ex_state = 2;
    pthread_cond_broadcast(&ex_cv);
    while (ex_state != 3) pthread_cond_wait(&ex_cv, &ex_mu);
    ex_state = 0;
  }
  pthread_mutex_unlock(&ex_mu);
  *result = as_malloc(12);
  if (!*result) return AS_NOMEM;
  memcpy(*result, "{\"ok\":true}", 12);
  return AS_OK;
}

/* Let the held tool go once the drain has given up waiting for it. */
static void *let_go(void *arg) {
  (void)arg;
  assert_true(log_wait("drain: cycles still running after the cancel"));
  pthread_mutex_lock(&ex_mu);
  ex_state = 3;
  pthread_cond_broadcast(&ex_cv);
  pthread_mutex_unlock(&ex_mu);
  return NULL;
}

/* Another connection holds the write lock: the drain's releases and its
** checkpoint are busy. */
static sqlite3 *writer_open(void) {
  sqlite3 *w;
  assert_int_equal(sqlite3_open_v2(DB, &w, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_exec(w, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  return w;
}

/* A reader keeps its snapshot: the drain's checkpoint (TRUNCATE) is busy. */
static sqlite3 *reader_open(void) {
  sqlite3 *r;
  assert_int_equal(sqlite3_open_v2(DB, &r, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_exec(r, "BEGIN; SELECT count(*) FROM sessions;", NULL, NULL, NULL),
                   SQLITE_OK);
  return r;
}
static void reader_close(sqlite3 *r) {
  assert_int_equal(sqlite3_exec(r, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_close_v2(r), SQLITE_OK);
}

/* The drain's failures: a queued cycle's release that fails, a run still
** going after the cancel (the clock 40 s behind, so the 30 s wait is over at
** once), joins that fail, a checkpoint that is busy -- all at once (the first
** failure is the status), then joins and the checkpoint alone. */
static void test_drain_failures(void **state) {
  (void)state;
  char buf[65536];
  /* all at once: the first failure is the status */
  up_with(FAST_STUB, hold_exec);
  as_http_server_cfg cfg = quick_cfg(10 * MS);
  as_http_server *srv = NULL;
  assert_int_equal(as_http_server_start(API, &cfg, &srv), AS_OK);
  unsigned port = as_http_server_port(srv);
  pthread_mutex_lock(&ex_mu);
  ex_state = 1;
  pthread_mutex_unlock(&ex_mu);
  assert_int_equal(post(port, "/agent/trigger", "{\"session_id\":\"d1\"}", buf, sizeof buf), 202);
  pthread_mutex_lock(&ex_mu);
  while (ex_state != 2) pthread_cond_wait(&ex_cv, &ex_mu);
  pthread_mutex_unlock(&ex_mu);
  /* d2 queued behind d1 (one worker) */
  assert_int_equal(post(port, "/agent/trigger", "{\"session_id\":\"d2\"}", buf, sizeof buf), 202);
  sqlite3 *r = writer_open();
  pthread_t lg;
  logcap_reset();
  assert_int_equal(pthread_create(&lg, NULL, let_go, NULL), 0);
  atomic_store(&mono_off, -(long long)(40000 * MS));
  atomic_store(&join_ok_first, 0);
  size_t n = 0;
  assert_int_equal(as_http_server_stop(srv, 0, &n), AS_BUSY);
  atomic_store(&join_ok_first, -1);
  atomic_store(&mono_off, 0);
  assert_int_equal(pthread_join(lg, NULL), 0);
  reader_close(r);
  assert_int_equal(n, 2);
  assert_true(logcap_has("drain: cycle d2:cycle-1: resource busy"));
  assert_true(logcap_has("drain: cycles still running after the cancel"));
  assert_true(logcap_has("drain: checkpoint: resource busy"));
  down();
  /* the workers' joins fail (the watchdog's does not), the socket gone */
  up_with(FAST_STUB, NULL);
  cfg = quick_cfg(10 * MS);
  assert_int_equal(as_http_server_start(API, &cfg, &srv), AS_OK);
  atomic_store(&join_ok_first, 1);
  quiesce_mode = 1;
  assert_int_equal(as_http_server_stop(srv, 0, NULL), AS_SYS);
  atomic_store(&join_ok_first, -1);
  down();
  /* the checkpoint alone */
  up_with(FAST_STUB, NULL);
  cfg = quick_cfg(10 * MS);
  assert_int_equal(as_http_server_start(API, &cfg, &srv), AS_OK);
  port = as_http_server_port(srv);
  assert_int_equal(post(port, "/agent/trigger", "{\"session_id\":\"d3\"}", buf, sizeof buf), 202);
  assert_true(get_wait(port, "/agent/status", "\"status\":\"idle\""));
  r = reader_open();
  logcap_reset();
  assert_int_equal(as_http_server_stop(srv, 0, NULL), AS_BUSY);
  reader_close(r);
  assert_true(logcap_has("drain: checkpoint: resource busy"));
  down();
  /* the run still going after the cancel alone */
  up_with(FAST_STUB, hold_exec);
  cfg = quick_cfg(10 * MS);
  assert_int_equal(as_http_server_start(API, &cfg, &srv), AS_OK);
  port = as_http_server_port(srv);
  pthread_mutex_lock(&ex_mu);
  ex_state = 1;
  pthread_mutex_unlock(&ex_mu);
  assert_int_equal(post(port, "/agent/trigger", "{\"session_id\":\"d4\"}", buf, sizeof buf), 202);
  pthread_mutex_lock(&ex_mu);
  while (ex_state != 2) pthread_cond_wait(&ex_cv, &ex_mu);
  pthread_mutex_unlock(&ex_mu);
  logcap_reset();
  assert_int_equal(pthread_create(&lg, NULL, let_go, NULL), 0);
  atomic_store(&mono_off, -(long long)(40000 * MS));
  assert_int_equal(as_http_server_stop(srv, 0, &n), AS_TIMEDOUT);
  atomic_store(&mono_off, 0);
  assert_int_equal(pthread_join(lg, NULL), 0);
  assert_int_equal(n, 1);
  assert_true(logcap_has("drain: cycles still running after the cancel"));
  /* the cancelled run ended, its reservation released */
  as_store *st = ct_open(&D, "srv.db", "wal", 5000);
  as_budget_status bs;
  assert_int_equal(as_budget_status_get(st, &BUDGET, &bs), AS_OK);
  assert_int_equal(bs.open_reservations, 0);
  as_store_close(st);
  down();
}

/* start's failures on the platform: every allocation in turn, each spawn in
** turn (then with its joins failing too), the mutex and the condition. */
static void test_start_platform(void **state) {
  (void)state;
  up();
  as_http_server_cfg cfg = quick_cfg(10 * MS);
  cfg.workers = 2;
  as_http_server *srv = (as_http_server *)1;
  long k;
  for (k = 1; k < 1000; k++) {
    alloc_arm(k);
    int rc = as_http_server_start(API, &cfg, &srv);
    int fired = alloc_disarm();
    if (rc == AS_OK) { /* start's own allocations all done (fired: the watchdog's first tick) */
      assert_int_equal(as_http_server_stop(srv, 0, NULL), AS_OK);
      break;
    }
    assert_true(fired);
    assert_int_equal(rc, AS_NOMEM);
    assert_null(srv);
  }
  assert_true(k > 5);
  for (int i = 1; i <= 3; i++) { /* two workers, the watchdog */
    atomic_store(&spawn_left, i);
    assert_int_equal(as_http_server_start(API, &cfg, &srv), AS_SYS);
    assert_int_equal(atomic_load(&spawn_left), 0);
    assert_null(srv);
  }
  logcap_reset();
  atomic_store(&spawn_left, 3);
  atomic_store(&join_ok_first, 0);
  assert_int_equal(as_http_server_start(API, &cfg, &srv), AS_SYS);
  atomic_store(&join_ok_first, -1);
  assert_true(logcap_has("serve: joining: "));
  atomic_store(&mutex_fail, 1);
  assert_int_equal(as_http_server_start(API, &cfg, &srv), AS_NOMEM);
  atomic_store(&cond_fail, 1);
  assert_int_equal(as_http_server_start(API, &cfg, &srv), AS_NOMEM);
  assert_null(srv);
  /* a host named, its port taken */
  assert_int_equal(as_http_server_start(API, &cfg, &srv), AS_OK);
  as_http_server_cfg same = cfg;
  same.host = "127.0.0.1";
  same.port = as_http_server_port(srv);
  as_http_server *other = NULL;
  logcap_reset();
  assert_int_equal(as_http_server_start(API, &same, &other), AS_SYS);
  char want[64];
  snprintf(want, sizeof want, "serve: cannot listen on 127.0.0.1:%u", same.port);
  assert_true(logcap_has(want));
  assert_int_equal(as_http_server_stop(srv, 0, NULL), AS_OK);
  down();
}

int main(void) {
  TP = as_platform_posix;
  TP.name = "posix-test";
  TP.mem_alloc = tp_alloc;
  TP.mem_realloc = tp_realloc;
  TP.task_spawn = tp_spawn;
  TP.task_join = tp_join;
  TP.mutex_new = tp_mutex_new;
  TP.cond_new = tp_cond_new;
  TP.now_mono_ns = tp_mono;
  TP.now_wall_ns = tp_wall;
  TP.log = logcap_log;
  (void)as_platform_set(&TP); /* ignore: the previous one is posix */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_start_failures),
      cmocka_unit_test(test_server),
      cmocka_unit_test(test_server_nomem),
      cmocka_unit_test(test_server_tasks),
      cmocka_unit_test(test_drain_failures),
      cmocka_unit_test(test_start_platform),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

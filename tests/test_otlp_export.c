/*
** test_otlp_export.c -- the real exporter (otlp.h) on real threads and
** loopback sockets: its refusals; batches POSTed to a small HTTP responder
** in this test (every body read back as JSON, the spans counted, the
** Content-Type checked); a collector answering 503; a port nobody listens
** on; and one that takes the connection and never answers. Whatever the
** collector does, emit returns at once, every span ends up sent, failed or
** dropped (and counted), and stop returns within its drain bound. The real
** OTLP schema check is otlp_test.sh (protobufjs); this test needs no node.
** Label threads: it also runs under ThreadSanitizer.
**
** Failures: every allocation and pthread call of start failing in turn
** (faultwrap.h), the body's allocation failing on the exporter's thread,
** and libcurl's calls through the --wrap wrappers below (tests/CMakeLists.txt),
** the n-th call of one failing: each setup option, each request option,
** the answer's status; a join that fails. HTTP answers other than 2xx (101,
** 400, 503) count as failed, a 2xx after them is logged as recovery; a batch
** too big for one body goes out in halves; an idle exporter sends nothing;
** a drain with under a millisecond left still bounds its request.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agentsim/otlp.h"
#include "agentsim/seam.h"
#include "faultwrap.h"

static uint64_t now_ms(void) { return as_now_mono_ns() / 1000000u; }

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* --- libcurl's calls, wrapped: the n-th call of one fails -------------------- */

/* Whichever thread makes the call (start's on the test's, a request's on
** the exporter's), so the countdowns are atomics. */
enum { C_GLOBAL_INIT, C_EASY_INIT, C_SLIST, C_SETOPT, C_GETINFO, C_URL, C_URL_GET, C__COUNT };
static atomic_int C_ARMED[C__COUNT]; /* the call that takes it from 1 to 0 fails */
static atomic_int C_FIRED[C__COUNT];

static void carm(int fn, int nth) {
  for (int i = 0; i < C__COUNT; i++) {
    atomic_store(&C_ARMED[i], 0);
    atomic_store(&C_FIRED[i], 0);
  }
  atomic_store(&C_ARMED[fn], nth);
}

static int cfails(int fn) {
  if (atomic_load(&C_ARMED[fn]) <= 0) return 0;
  if (atomic_fetch_sub(&C_ARMED[fn], 1) != 1) return 0;
  atomic_store(&C_FIRED[fn], 1);
  return 1;
}

/* Prototypes for -Wmissing-prototypes: the linker calls these. */
CURLcode __wrap_curl_global_init(long flags);
CURL *__wrap_curl_easy_init(void);
struct curl_slist *__wrap_curl_slist_append(struct curl_slist *l, const char *s);
CURLcode __wrap_curl_easy_setopt(CURL *h, CURLoption opt, ...);
CURLcode __wrap_curl_easy_getinfo(CURL *h, CURLINFO info, ...);
CURLU *__wrap_curl_url(void);
CURLUcode __wrap_curl_url_get(CURLU *u, CURLUPart what, char **part, unsigned int flags);

CURLcode __real_curl_global_init(long flags);
CURLcode __wrap_curl_global_init(long flags) {
  if (cfails(C_GLOBAL_INIT)) return CURLE_FAILED_INIT;
  return __real_curl_global_init(flags);
}

CURL *__real_curl_easy_init(void);
CURL *__wrap_curl_easy_init(void) {
  if (cfails(C_EASY_INIT)) return NULL;
  return __real_curl_easy_init();
}

struct curl_slist *__real_curl_slist_append(struct curl_slist *l, const char *s);
struct curl_slist *__wrap_curl_slist_append(struct curl_slist *l, const char *s) {
  if (cfails(C_SLIST)) return NULL;
  return __real_curl_slist_append(l, s);
}

CURLcode __real_curl_easy_setopt(CURL *h, CURLoption opt, ...);
CURLcode __wrap_curl_easy_setopt(CURL *h, CURLoption opt, ...) {
  va_list ap;
  va_start(ap, opt);
  CURLcode cc;
  if (cfails(C_SETOPT)) {
    cc = CURLE_UNKNOWN_OPTION;
  } else if (opt < CURLOPTTYPE_OBJECTPOINT) {
    cc = __real_curl_easy_setopt(h, opt, va_arg(ap, long));
  } else if (opt < CURLOPTTYPE_OFF_T) {
    cc = __real_curl_easy_setopt(h, opt, va_arg(ap, void *));
  } else {
    cc = __real_curl_easy_setopt(h, opt, va_arg(ap, curl_off_t));
  }
  va_end(ap);
  return cc;
}

CURLcode __real_curl_easy_getinfo(CURL *h, CURLINFO info, ...);
CURLcode __wrap_curl_easy_getinfo(CURL *h, CURLINFO info, ...) {
  va_list ap;
  va_start(ap, info);
  void *p = va_arg(ap, void *);
  va_end(ap);
  if (cfails(C_GETINFO)) return CURLE_BAD_FUNCTION_ARGUMENT;
  return __real_curl_easy_getinfo(h, info, p);
}

CURLU *__real_curl_url(void);
CURLU *__wrap_curl_url(void) {
  if (cfails(C_URL)) return NULL;
  return __real_curl_url();
}

CURLUcode __real_curl_url_get(CURLU *u, CURLUPart what, char **part, unsigned int flags);
CURLUcode __wrap_curl_url_get(CURLU *u, CURLUPart what, char **part, unsigned int flags) {
  if (cfails(C_URL_GET)) return CURLUE_OUT_OF_MEMORY;
  return __real_curl_url_get(u, what, part, flags);
}

/* --- stderr, captured ------------------------------------------------------ */

/* fd 2 into a temporary file between begin and end (the exporter's thread
** logs there). */
typedef struct capture {
  FILE *file;
  int saved_fd;
} capture;

static void capture_begin(capture *cap) {
  assert_int_equal(fflush(stderr), 0);
  cap->file = tmpfile();
  assert_non_null(cap->file);
  cap->saved_fd = dup(STDERR_FILENO);
  assert_true(cap->saved_fd >= 0);
  assert_true(dup2(fileno(cap->file), STDERR_FILENO) >= 0);
}

/* Restore stderr; what was written, in a static buffer. */
static const char *capture_end(capture *cap) {
  static char text[1 << 14];
  assert_int_equal(fflush(stderr), 0);
  assert_true(dup2(cap->saved_fd, STDERR_FILENO) >= 0);
  assert_int_equal(close(cap->saved_fd), 0);
  rewind(cap->file);
  size_t n = fread(text, 1, sizeof text - 1, cap->file);
  text[n] = '\0';
  assert_int_equal(fclose(cap->file), 0);
  return text;
}

static void has(const char *text, const char *part) {
  if (!strstr(text, part)) fail_msg("'%s' not in '%s'", part, text);
}

static int count_of(const char *text, const char *part) {
  int k = 0;
  for (const char *p = text; (p = strstr(p, part)) != NULL; p += strlen(part)) k++;
  return k;
}

/* --- a loopback socket ---------------------------------------------------- */

static int listen_on(int *port, bool do_listen) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t len = sizeof a;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  *port = ntohs(a.sin_port);
  if (do_listen) assert_int_equal(listen(fd, 16), 0);
  return fd;
}

/* --- a small HTTP responder --------------------------------------------------- */

#define REQ_MAX (8u << 20)

typedef struct responder {
  int fd, port;
  atomic_int status; /* the answer's; the test may change it between requests */
  pthread_t th;
  atomic_bool stop;
  atomic_int requests, spans, bad;
} responder;

static void count_spans(responder *r, const char *body, size_t len) {
  json_error_t je;
  json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
  json_t *rs = json_array_get(json_object_get(v, "resourceSpans"), 0);
  json_t *ss = json_array_get(json_object_get(rs, "scopeSpans"), 0);
  json_t *arr = json_object_get(ss, "spans");
  if (!json_is_array(arr))
    atomic_fetch_add(&r->bad, 1);
  else
    atomic_fetch_add(&r->spans, (int)json_array_size(arr));
  json_decref(v);
}

/* Serve requests on one connection until it closes or the test stops. */
static void serve_conn(responder *r, int c) {
  char *buf = malloc(REQ_MAX);
  assert_non_null(buf);
  size_t have = 0;
  while (!atomic_load(&r->stop)) {
    char *hdr_end = have ? memmem(buf, have, "\r\n\r\n", 4) : NULL;
    if (hdr_end) {
      size_t hlen = (size_t)(hdr_end - buf) + 4;
      size_t clen = 0;
      bool json_type = false;
      for (char *l = buf; l < hdr_end; l = strstr(l, "\r\n") + 2) {
        if (strncasecmp(l, "Content-Length:", 15) == 0) clen = strtoul(l + 15, NULL, 10);
        if (strncasecmp(l, "Content-Type: application/json", 30) == 0) json_type = true;
      }
      if (hlen + clen > REQ_MAX) break;
      if (have >= hlen + clen) {
        atomic_fetch_add(&r->requests, 1);
        if (!json_type) atomic_fetch_add(&r->bad, 1);
        count_spans(r, buf + hlen, clen);
        char resp[160];
        int n = snprintf(resp, sizeof resp,
                         "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                         "Content-Length: 2\r\n\r\n{}",
                         atomic_load(&r->status));
        if (write(c, resp, (size_t)n) != n) break;
        if (atomic_load(&r->status) < 200) break; /* a 1xx ends where it closes */
        memmove(buf, buf + hlen + clen, have - hlen - clen);
        have -= hlen + clen;
        continue;
      }
    }
    struct pollfd p = {.fd = c, .events = POLLIN};
    if (poll(&p, 1, 50) <= 0) continue;
    ssize_t got = read(c, buf + have, REQ_MAX - have);
    if (got <= 0) break;
    have += (size_t)got;
  }
  free(buf);
  close(c);
}

static void *responder_run(void *arg) {
  responder *r = arg;
  while (!atomic_load(&r->stop)) {
    struct pollfd p = {.fd = r->fd, .events = POLLIN};
    if (poll(&p, 1, 50) <= 0) continue;
    int c = accept(r->fd, NULL, NULL);
    if (c >= 0) serve_conn(r, c);
  }
  return NULL;
}

static void responder_start(responder *r, int status) {
  memset(r, 0, sizeof *r);
  atomic_init(&r->status, status);
  r->fd = listen_on(&r->port, true);
  assert_int_equal(pthread_create(&r->th, NULL, responder_run, r), 0);
}

static void responder_stop(responder *r) {
  atomic_store(&r->stop, true);
  assert_int_equal(pthread_join(r->th, NULL), 0);
  close(r->fd);
}

/* --- spans ------------------------------------------------------------ */

static void emit_n(as_tracer t, int n, uint64_t *max_ns) {
  for (int i = 0; i < n; i++) {
    as_span sp = {0};
    snprintf(sp.name, sizeof sp.name, "chat m");
    sp.kind = AS_SPAN_CLIENT;
    sp.trace_id[0] = 1;
    sp.span_id[0] = (uint8_t)(i + 1);
    sp.span_id[7] = (uint8_t)(i >> 8);
    sp.start_ns = as_now_wall_ns();
    sp.end_ns = sp.start_ns + 1;
    sp.attrs[0] = (as_span_attr){.key = "gen_ai.usage.input_tokens", .i = i};
    sp.attrs[1] = (as_span_attr){.key = "operation.id", .s = "op-1"};
    sp.nattrs = 2;
    uint64_t t0 = as_now_mono_ns();
    t.emit(t.self, &sp);
    uint64_t d = as_now_mono_ns() - t0;
    if (max_ns && d > *max_ns) *max_ns = d;
  }
}

static void url_for(char *buf, size_t cap, int port) {
  snprintf(buf, cap, "http://127.0.0.1:%d/v1/traces", port);
}

/* --- tests ---------------------------------------------------------------- */

/* Waits up to 5 s for cond to hold, polling the exporter's counters. */
#define WAIT_FOR(e, st, cond)                                                  \
  do {                                                                         \
    uint64_t t0_ = now_ms();                                                   \
    for (;;) {                                                                 \
      as_otlp_exporter_stats((e), &(st));                                      \
      if ((cond) || now_ms() - t0_ > 5000) break;                              \
      sleep_ms(2);                                                             \
    }                                                                          \
  } while (0)

static void test_start_refusals(void **state) {
  (void)state;
  as_otlp_exporter *e = (as_otlp_exporter *)&e;
  const char *u = "http://127.0.0.1:9/v1/traces";
  assert_int_equal(as_otlp_exporter_start(&e, "ftp://127.0.0.1/x", "svc", 8, 4, 10, 100), AS_INVAL);
  assert_null(e);
  assert_int_equal(as_otlp_exporter_start(&e, "http://a b/", "svc", 8, 4, 10, 100), AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, "not a url", "svc", 8, 4, 10, 100), AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, "http://a\x7f/", "svc", 8, 4, 10, 100), AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, "", "svc", 8, 4, 10, 100), AS_INVAL);
  /* No scheme at all, and a host libcurl cannot parse. */
  assert_int_equal(as_otlp_exporter_start(&e, "/v1/traces", "svc", 8, 4, 10, 100), AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, "http://[::1/x", "svc", 8, 4, 10, 100), AS_INVAL);
  static char longu[AS_OTLP_URL_MAX + 2];
  memset(longu, 'a', sizeof longu - 1);
  memcpy(longu, "http://a/", 9);
  assert_int_equal(as_otlp_exporter_start(&e, longu, "svc", 8, 4, 10, 100), AS_INVAL);
  longu[AS_OTLP_URL_MAX] = '\0'; /* AS_OTLP_URL_MAX bytes: taken */
  assert_int_equal(as_otlp_exporter_start(&e, longu, "svc", 8, 4, 10, 100), AS_OK);
  assert_int_equal(as_otlp_exporter_stop(e, 100, NULL), AS_OK);
  assert_int_equal(as_otlp_exporter_start(&e, NULL, "svc", 8, 4, 10, 100), AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, u, NULL, 8, 4, 10, 100), AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, u, "", 8, 4, 10, 100), AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, u, "bad\xff", 8, 4, 10, 100), AS_INVAL);
  char longs[AS_OTLP_SERVICE_MAX + 2];
  memset(longs, 's', sizeof longs - 1);
  longs[sizeof longs - 1] = '\0';
  assert_int_equal(as_otlp_exporter_start(&e, u, longs, 8, 4, 10, 100), AS_INVAL);
  longs[AS_OTLP_SERVICE_MAX] = '\0'; /* the longest name: taken */
  assert_int_equal(as_otlp_exporter_start(&e, u, longs, 8, 4, 10, 100), AS_OK);
  assert_int_equal(as_otlp_exporter_stop(e, 100, NULL), AS_OK);
  assert_int_equal(as_otlp_exporter_start(&e, u, "svc", 0, 4, 10, 100), AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, u, "svc", AS_SPAN_QUEUE_MAX + 1, 4, 10, 100),
                   AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, u, "svc", 8, 0, 10, 100), AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, u, "svc", 8, AS_OTLP_BATCH_MAX + 1, 10, 100),
                   AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, u, "svc", 8, 4, 0, 100), AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, u, "svc", 8, 4, AS_OTLP_INTERVAL_MAX_MS + 1, 100),
                   AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, u, "svc", 8, 4, 10, 0), AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, u, "svc", 8, 4, 10, AS_OTLP_TIMEOUT_MAX_MS + 1),
                   AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(NULL, u, "svc", 8, 4, 10, 100), AS_INVAL);
  as_otlp_stats st;
  memset(&st, 0xff, sizeof st);
  assert_int_equal(as_otlp_exporter_stop(NULL, 0, &st), AS_INVAL);
  assert_int_equal(st.accepted + st.requests + (uint64_t)st.last_http, 0); /* zeroed */
  assert_int_equal(as_otlp_exporter_stop(NULL, 0, NULL), AS_INVAL);
  /* No exporter: zero counters, and a tracer that takes nothing. */
  memset(&st, 0xff, sizeof st);
  as_otlp_exporter_stats(NULL, &st);
  assert_int_equal(st.accepted + st.sent + st.dropped + st.failed, 0);
  as_otlp_exporter_stats(NULL, NULL);
  as_tracer t = as_otlp_exporter_tracer(NULL);
  assert_null(t.self);
  emit_n(t, 1, NULL); /* a no-op, not a crash */
  /* https is taken too (nothing is sent until a span is emitted). */
  assert_int_equal(as_otlp_exporter_start(&e, "https://127.0.0.1:9/v1/traces", "svc", 8, 4, 10,
                                          100), AS_OK);
  as_otlp_exporter_stats(e, NULL);
  assert_int_equal(as_otlp_exporter_stop(e, 100, &st), AS_OK);
  assert_int_equal(st.requests, 0);
  /* Started and stopped with nothing emitted: nothing sent, all well. */
  assert_int_equal(as_otlp_exporter_start(&e, u, "svc", 8, 4, 10, 100), AS_OK);
  assert_int_equal(as_otlp_exporter_stop(e, 100, &st), AS_OK);
  assert_int_equal(st.requests, 0);
}

/* libcurl failing at start: each call in turn, every option of the handle;
** a status each time, nothing leaked, and one more step succeeds. */
static void test_start_curl_failures(void **state) {
  (void)state;
  const char *u = "http://127.0.0.1:9/v1/traces";
  size_t live = fw_live_blocks();
  as_otlp_exporter *e;
  static const struct {
    int fn, nth, rc;
  } cases[] = {
      {C_GLOBAL_INIT, 1, AS_SYS}, {C_URL, 1, AS_NOMEM}, {C_URL_GET, 1, AS_NOMEM},
      {C_EASY_INIT, 1, AS_SYS},   {C_SLIST, 1, AS_NOMEM}, {C_SLIST, 2, AS_NOMEM},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    carm(cases[i].fn, cases[i].nth);
    e = (as_otlp_exporter *)&e;
    assert_int_equal(as_otlp_exporter_start(&e, u, "svc", 8, 4, 10, 100), cases[i].rc);
    assert_true(atomic_load(&C_FIRED[cases[i].fn]));
    assert_null(e);
    assert_int_equal(fw_live_blocks(), live);
  }
  /* The handle's options: setup sets nine; the tenth setopt is never reached. */
  int nth = 1;
  for (;; nth++) {
    carm(C_SETOPT, nth);
    int rc = as_otlp_exporter_start(&e, u, "svc", 8, 4, 10, 100);
    if (!atomic_load(&C_FIRED[C_SETOPT])) {
      assert_int_equal(rc, AS_OK);
      assert_int_equal(as_otlp_exporter_stop(e, 100, NULL), AS_OK);
      break;
    }
    assert_int_equal(rc, AS_SYS);
    assert_null(e);
    assert_int_equal(fw_live_blocks(), live);
  }
  assert_int_equal(nth, 10);
  carm(C_SETOPT, 0);
  assert_int_equal(fw_live_blocks(), live);
}

/* Every allocation of start failing in turn, then every pthread call (the
** queue's lock and condition, the thread): a status, nothing leaked. */
static void test_start_alloc_failures(void **state) {
  (void)state;
  const char *u = "http://127.0.0.1:9/v1/traces";
  size_t live = fw_live_blocks();
  static const struct {
    uint64_t mask;
    int err;
  } sweeps[] = {
      {FW_ALLOC, ENOMEM},
      {FW_BIT(MUTEXATTR_INIT) | FW_BIT(MUTEXATTR_SETTYPE) | FW_BIT(MUTEX_INIT) |
           FW_BIT(CONDATTR_INIT) | FW_BIT(CONDATTR_SETCLOCK) | FW_BIT(COND_INIT) |
           FW_BIT(PTHREAD_CREATE),
       EAGAIN},
  };
  for (size_t s = 0; s < sizeof sweeps / sizeof sweeps[0]; s++) {
    unsigned long n = 1;
    for (;; n++) {
      as_otlp_exporter *e = (as_otlp_exporter *)&e;
      fw_countdown(sweeps[s].mask, n, sweeps[s].err, 0);
      int rc = as_otlp_exporter_start(&e, u, "svc", 8, 4, 10, 100);
      int fired = fw_fired();
      fw_fn where = fw_fired_fn();
      fw_disarm();
      if (!fired) {
        assert_int_equal(rc, AS_OK);
        assert_int_equal(as_otlp_exporter_stop(e, 100, NULL), AS_OK);
        break;
      }
      if (rc != AS_NOMEM && rc != AS_SYS)
        fail_msg("call %lu (%s) failing: %s", n, fw_fn_name(where), as_status_name(rc));
      if (where == FW_PTHREAD_CREATE || where == FW_MUTEXATTR_SETTYPE ||
          where == FW_CONDATTR_SETCLOCK)
        assert_int_equal(rc, AS_SYS);
      else
        assert_int_equal(rc, AS_NOMEM);
      assert_null(e);
      assert_int_equal(fw_live_blocks(), live);
    }
    assert_true(n > 3); /* the sweep went through start, not around it */
  }
  fw_reset();
  assert_int_equal(fw_live_blocks(), live);
}

static void test_batches_sent(void **state) {
  (void)state;
  responder r;
  responder_start(&r, 200);
  char url[64];
  url_for(url, sizeof url, r.port);
  as_otlp_exporter *e;
  assert_int_equal(as_otlp_exporter_start(&e, url, "svc", 64, 4, 20, 2000), AS_OK);
  emit_n(as_otlp_exporter_tracer(e), 10, NULL);
  /* Full batches go at once, the partial one at the interval. */
  uint64_t t0 = now_ms();
  as_otlp_stats st;
  do {
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
    as_otlp_exporter_stats(e, &st);
  } while (st.sent < 10 && now_ms() - t0 < 5000);
  assert_int_equal(st.sent, 10);
  emit_n(as_otlp_exporter_tracer(e), 3, NULL); /* these go at stop */
  assert_int_equal(as_otlp_exporter_stop(e, 2000, &st), AS_OK);
  assert_int_equal(st.accepted, 13);
  assert_int_equal(st.sent, 13);
  assert_int_equal(st.failed + st.dropped, 0);
  assert_true(st.requests >= 4);
  assert_int_equal(st.last_http, 200);
  responder_stop(&r);
  assert_int_equal(atomic_load(&r.spans), 13);
  assert_int_equal(atomic_load(&r.requests), (int)st.requests);
  assert_int_equal(atomic_load(&r.bad), 0);
}

static void test_http_error_counted(void **state) {
  (void)state;
  responder r;
  responder_start(&r, 503);
  char url[64];
  url_for(url, sizeof url, r.port);
  as_otlp_exporter *e;
  assert_int_equal(as_otlp_exporter_start(&e, url, "svc", 64, 5, 10, 2000), AS_OK);
  emit_n(as_otlp_exporter_tracer(e), 12, NULL);
  as_otlp_stats st;
  assert_int_equal(as_otlp_exporter_stop(e, 2000, &st), AS_IO);
  assert_int_equal(st.sent, 0);
  assert_int_equal(st.failed, 12); /* not retried */
  assert_int_equal(st.requests_failed, st.requests);
  assert_int_equal(st.last_http, 503);
  responder_stop(&r);
  assert_int_equal(atomic_load(&r.spans), 12);
}

/* Nobody listens: connections are refused. Emit never waits. */
static void test_endpoint_refused(void **state) {
  (void)state;
  int port;
  int fd = listen_on(&port, false);
  close(fd); /* the port is free now: nothing answers there */
  char url[64];
  url_for(url, sizeof url, port);
  as_otlp_exporter *e;
  assert_int_equal(as_otlp_exporter_start(&e, url, "svc", 64, 16, 5, 500), AS_OK);
  uint64_t max_ns = 0, t0 = now_ms();
  emit_n(as_otlp_exporter_tracer(e), 5000, &max_ns);
  uint64_t emit_ms = now_ms() - t0;
  as_otlp_stats st;
  uint64_t s0 = now_ms();
  assert_int_equal(as_otlp_exporter_stop(e, 300, &st), AS_IO);
  uint64_t stop_ms = now_ms() - s0;
  print_message("refused: 5000 emits in %llu ms (slowest %llu us), stop %llu ms, failed %llu, "
                "dropped %llu\n",
                (unsigned long long)emit_ms, (unsigned long long)(max_ns / 1000),
                (unsigned long long)stop_ms, (unsigned long long)st.failed,
                (unsigned long long)st.dropped);
  assert_int_equal(st.sent, 0);
  assert_true(st.failed > 0);
  assert_int_equal(st.failed + st.dropped, 5000); /* every span accounted for */
  assert_true(max_ns < 200000000u);               /* no emit waited on the network */
  assert_true(stop_ms < 300 + 1500);
}

/* The collector takes the connection and never answers: each request runs
** into its timeout, the queue fills, emits drop at once, and stop gives up
** at its drain bound. */
static void test_endpoint_silent(void **state) {
  (void)state;
  int port;
  int fd = listen_on(&port, true); /* never accepted */
  char url[64];
  url_for(url, sizeof url, port);
  as_otlp_exporter *e;
  assert_int_equal(as_otlp_exporter_start(&e, url, "svc", 32, 8, 5, 400), AS_OK);
  uint64_t max_ns = 0;
  emit_n(as_otlp_exporter_tracer(e), 2000, &max_ns);
  struct timespec ts = {0, 100000000};
  nanosleep(&ts, NULL); /* a request is in flight now */
  emit_n(as_otlp_exporter_tracer(e), 2000, &max_ns);
  as_otlp_stats st;
  uint64_t s0 = now_ms();
  assert_int_equal(as_otlp_exporter_stop(e, 300, &st), AS_IO);
  uint64_t stop_ms = now_ms() - s0;
  print_message("silent: slowest emit %llu us, stop %llu ms, failed %llu, dropped %llu\n",
                (unsigned long long)(max_ns / 1000), (unsigned long long)stop_ms,
                (unsigned long long)st.failed, (unsigned long long)st.dropped);
  assert_int_equal(st.sent, 0);
  assert_int_equal(st.failed + st.dropped, 4000);
  assert_true(st.dropped >= 4000 - 32 - 8 * 3); /* the queue's bound held */
  assert_true(max_ns < 200000000u);
  /* In flight at stop: up to one request's 400 ms; then the drain's 300. */
  assert_true(stop_ms < 400 + 300 + 1000);
  close(fd);
}

/* A request's own libcurl calls failing on the exporter's thread: each of
** its four options (no request made), then the answer's status (made, but
** unanswered as far as the exporter knows). The spans count as failed. */
static void test_request_curl_failures(void **state) {
  (void)state;
  responder r;
  responder_start(&r, 200);
  char url[64];
  url_for(url, sizeof url, r.port);
  int seen = 0;
  for (int nth = 1; nth <= 6; nth++) {
    as_otlp_exporter *e;
    /* A long interval and batch_max above what is emitted: the batch goes
    ** at stop, so the countdown sees only that request's calls. */
    assert_int_equal(as_otlp_exporter_start(&e, url, "svc", 16, 8, AS_OTLP_INTERVAL_MAX_MS, 2000),
                     AS_OK);
    emit_n(as_otlp_exporter_tracer(e), 3, NULL);
    int fn = nth <= 5 ? C_SETOPT : C_GETINFO;
    carm(fn, nth <= 5 ? nth : 1);
    as_otlp_stats st;
    int rc = as_otlp_exporter_stop(e, 2000, &st);
    int fired = atomic_load(&C_FIRED[fn]);
    carm(C_SETOPT, 0);
    if (nth <= 4) { /* one of the request's setopts: no POST at all */
      assert_true(fired);
      assert_int_equal(rc, AS_IO);
      assert_int_equal(st.requests, 0);
      assert_int_equal(st.requests_failed, 1);
      assert_int_equal(st.failed, 3);
      assert_int_equal(st.last_http, 0);
    } else if (nth == 5) { /* a request sets four options: sent */
      assert_false(fired);
      assert_int_equal(rc, AS_OK);
      assert_int_equal(st.sent, 3);
      assert_int_equal(st.last_http, 200);
      seen += 3;
    } else { /* posted and answered, but the status could not be read */
      assert_true(fired);
      assert_int_equal(rc, AS_IO);
      assert_int_equal(st.requests, 1);
      assert_int_equal(st.requests_failed, 1);
      assert_int_equal(st.failed, 3);
      assert_int_equal(st.sent, 0);
      assert_int_equal(st.last_http, 0);
      seen += 3;
    }
  }
  responder_stop(&r);
  assert_int_equal(atomic_load(&r.spans), seen); /* the collector saw what was posted */
  assert_int_equal(atomic_load(&r.bad), 0);
}

/* Emit batch_max spans (a full batch goes at once) and wait for its answer. */
static void one_request(as_otlp_exporter *e, size_t batch_max, uint64_t *requests) {
  emit_n(as_otlp_exporter_tracer(e), (int)batch_max, NULL);
  as_otlp_stats st;
  WAIT_FOR(e, st, st.requests > *requests && st.sent + st.failed >= st.accepted);
  assert_int_equal(st.requests, *requests + 1);
  *requests = st.requests;
}

/* Answers that are not 2xx fail their batch, whatever they are (not
** retried): 503, then 400 (the log says so once per run of failures);
** a 202 after them is logged as sending again. 101 is no success either. */
static void test_http_answers(void **state) {
  (void)state;
  responder r;
  responder_start(&r, 503);
  char url[64];
  url_for(url, sizeof url, r.port);
  capture cap;
  capture_begin(&cap);
  as_otlp_exporter *e;
  assert_int_equal(as_otlp_exporter_start(&e, url, "svc", 16, 2, AS_OTLP_INTERVAL_MAX_MS, 2000),
                   AS_OK);
  uint64_t req = 0;
  as_otlp_stats st;
  one_request(e, 2, &req);
  as_otlp_exporter_stats(e, &st);
  assert_int_equal(st.last_http, 503);
  atomic_store(&r.status, 400);
  one_request(e, 2, &req);
  as_otlp_exporter_stats(e, &st);
  assert_int_equal(st.last_http, 400);
  atomic_store(&r.status, 202);
  one_request(e, 2, &req);
  one_request(e, 2, &req);
  assert_int_equal(as_otlp_exporter_stop(e, 2000, &st), AS_IO);
  const char *log = capture_end(&cap);
  assert_int_equal(st.failed, 4);
  assert_int_equal(st.sent, 4);
  assert_int_equal(st.requests, 4);
  assert_int_equal(st.requests_failed, 2);
  assert_int_equal(st.last_http, 202);
  has(log, "otlp export: 2 spans not sent: HTTP 503");
  assert_int_equal(count_of(log, "spans not sent"), 1); /* not again for the 400 */
  has(log, "otlp export: sending again (HTTP 202)");
  assert_int_equal(count_of(log, "sending again"), 1);
  responder_stop(&r);
  assert_int_equal(atomic_load(&r.spans), 8);

  /* 101 with no upgrade asked for, then the connection closed: libcurl
  ** takes it as the answer, which is no 2xx. */
  responder_start(&r, 101);
  url_for(url, sizeof url, r.port);
  assert_int_equal(as_otlp_exporter_start(&e, url, "svc", 16, 8, AS_OTLP_INTERVAL_MAX_MS, 2000),
                   AS_OK);
  emit_n(as_otlp_exporter_tracer(e), 3, NULL);
  assert_int_equal(as_otlp_exporter_stop(e, 2000, &st), AS_IO);
  assert_int_equal(st.failed, 3);
  assert_int_equal(st.requests, 1);
  assert_int_equal(st.requests_failed, 1);
  assert_int_equal(st.last_http, 101);
  responder_stop(&r);
  assert_int_equal(atomic_load(&r.requests), 1);
}

/* Spans whose texts are all escapes (\u0001: six bytes a byte): 64 of them
** make a body above AS_OTLP_BODY_MAX, so the batch goes out in two halves. */
static void emit_big(as_tracer t, int n) {
  static char keys[AS_SPAN_ATTRS_MAX][AS_SPAN_KEY_MAX + 1];
  static char val[AS_SPAN_VALUE_MAX + 1];
  memset(val, 0x01, AS_SPAN_VALUE_MAX);
  for (unsigned k = 0; k < AS_SPAN_ATTRS_MAX; k++) {
    memset(keys[k], 0x01, AS_SPAN_KEY_MAX);
    keys[k][0] = (char)('a' + k);
  }
  for (int i = 0; i < n; i++) {
    as_span sp = {0};
    snprintf(sp.name, sizeof sp.name, "big");
    sp.trace_id[0] = 2;
    sp.span_id[0] = (uint8_t)(i + 1);
    sp.start_ns = as_now_wall_ns();
    sp.end_ns = sp.start_ns + 1;
    for (unsigned k = 0; k < AS_SPAN_ATTRS_MAX; k++)
      sp.attrs[k] = (as_span_attr){.key = keys[k], .s = val};
    sp.nattrs = AS_SPAN_ATTRS_MAX;
    t.emit(t.self, &sp);
  }
}

static void test_batch_too_big_is_halved(void **state) {
  (void)state;
  responder r;
  responder_start(&r, 200);
  char url[64];
  url_for(url, sizeof url, r.port);
  as_otlp_exporter *e;
  assert_int_equal(as_otlp_exporter_start(&e, url, "svc", 64, 64, AS_OTLP_INTERVAL_MAX_MS, 20000),
                   AS_OK);
  emit_big(as_otlp_exporter_tracer(e), 64);
  as_otlp_stats st;
  WAIT_FOR(e, st, st.sent + st.failed >= 64);
  assert_int_equal(as_otlp_exporter_stop(e, 5000, &st), AS_OK);
  assert_int_equal(st.sent, 64);
  assert_int_equal(st.requests, 2);
  responder_stop(&r);
  assert_int_equal(atomic_load(&r.requests), 2);
  assert_int_equal(atomic_load(&r.spans), 64);
  assert_int_equal(atomic_load(&r.bad), 0);
}

/* The body's allocation failing on the exporter's thread: the batch fails,
** no request is made, the log says why (once: not while already failing). */
static void test_encode_failure(void **state) {
  (void)state;
  int port;
  int fd = listen_on(&port, false);
  close(fd); /* refused there */
  char url[64];
  url_for(url, sizeof url, port);
  size_t live = fw_live_blocks();
  for (int already_failing = 0; already_failing <= 1; already_failing++) {
    capture cap;
    capture_begin(&cap);
    as_otlp_exporter *e;
    assert_int_equal(as_otlp_exporter_start(&e, url, "svc", 16, 4, AS_OTLP_INTERVAL_MAX_MS, 500),
                     AS_OK);
    uint64_t req = 0;
    if (already_failing) one_request(e, 4, &req); /* refused: failing now */
    emit_n(as_otlp_exporter_tracer(e), 3, NULL); /* these wait for stop */
    fw_countdown(FW_ALLOC, 1, ENOMEM, 1);       /* every allocation from here */
    as_otlp_stats st;
    int rc = as_otlp_exporter_stop(e, 2000, &st);
    int fired = fw_fired();
    fw_disarm();
    const char *log = capture_end(&cap);
    assert_true(fired);
    assert_int_equal(rc, AS_IO);
    assert_int_equal(st.failed, 3 + (already_failing ? 4 : 0));
    assert_int_equal(st.requests, req);
    assert_int_equal(st.sent, 0);
    assert_int_equal(count_of(log, "3 spans not encoded: AS_NOMEM"), already_failing ? 0 : 1);
    if (already_failing) has(log, "4 spans not sent: ");
    assert_int_equal(fw_live_blocks(), live);
  }
  fw_reset();
}

/* A drain of 0 ms: what is queued at stop is dropped, not sent, and counted;
** nothing failed, yet stop says not all was sent. */
static void test_drain_drops(void **state) {
  (void)state;
  responder r;
  responder_start(&r, 200);
  char url[64];
  url_for(url, sizeof url, r.port);
  as_otlp_exporter *e;
  assert_int_equal(as_otlp_exporter_start(&e, url, "svc", 16, 8, AS_OTLP_INTERVAL_MAX_MS, 2000),
                   AS_OK);
  emit_n(as_otlp_exporter_tracer(e), 5, NULL);
  as_otlp_stats st;
  assert_int_equal(as_otlp_exporter_stop(e, 0, &st), AS_IO);
  assert_int_equal(st.accepted, 5);
  assert_int_equal(st.dropped, 5);
  assert_int_equal(st.failed + st.sent + st.requests, 0);
  responder_stop(&r);
  assert_int_equal(atomic_load(&r.requests), 0);
}

/* A monotonic clock that moves a nanosecond a reading, an hour ahead of the
** real one (so the real timed waits on its deadlines never expire early):
** between stop's reading and the drain's, under a millisecond passes. */
static _Atomic uint64_t TICKS;
static uint64_t TICK_BASE;
static uint64_t tick_now(void) { return TICK_BASE + atomic_fetch_add(&TICKS, 1); }

/* A drain of 1 ms with a request to make: less than a millisecond is left,
** and the request is still bounded (1 ms, not libcurl's 0, "no limit"):
** against a collector that never answers, stop returns at once. */
static void test_drain_under_a_millisecond(void **state) {
  (void)state;
  int port;
  int fd = listen_on(&port, true); /* never accepted, never answered */
  char url[64];
  url_for(url, sizeof url, port);
  static as_platform ticking;
  ticking = as_platform_posix;
  ticking.now_mono_ns = tick_now;
  TICK_BASE = as_now_mono_ns() + 3600ull * 1000000000u;
  assert_ptr_equal(as_platform_set(&ticking), &as_platform_posix);
  as_otlp_exporter *e;
  assert_int_equal(as_otlp_exporter_start(&e, url, "svc", 16, 8, AS_OTLP_INTERVAL_MAX_MS, 5000),
                   AS_OK);
  emit_n(as_otlp_exporter_tracer(e), 2, NULL);
  as_otlp_stats st;
  uint64_t t0 = as_platform_posix.now_mono_ns();
  int rc = as_otlp_exporter_stop(e, 1, &st);
  uint64_t took_ms = (as_platform_posix.now_mono_ns() - t0) / 1000000u;
  as_platform_set(NULL);
  assert_int_equal(rc, AS_IO);
  assert_int_equal(st.requests, 1); /* made, not dropped */
  assert_int_equal(st.failed, 2);
  assert_int_equal(st.dropped, 0);
  assert_true(took_ms < 1000);
  close(fd);
}

/* A join that fails: AS_SYS, the exporter left as it was (its thread may
** still run), so a later stop joins and frees it. */
static void test_join_failure(void **state) {
  (void)state;
  size_t live = fw_live_blocks();
  as_otlp_exporter *e;
  assert_int_equal(as_otlp_exporter_start(&e, "http://127.0.0.1:9/v1/traces", "svc", 8, 4,
                                          AS_OTLP_INTERVAL_MAX_MS, 100), AS_OK);
  capture cap;
  capture_begin(&cap);
  fw_inject(FW_PTHREAD_JOIN, EDEADLK, 1);
  as_otlp_stats st;
  int rc = as_otlp_exporter_stop(e, 100, &st);
  const char *log = capture_end(&cap);
  assert_int_equal(rc, AS_SYS);
  has(log, "otlp export: the exporter thread could not be joined");
  assert_int_equal(as_otlp_exporter_stop(e, 100, &st), AS_OK);
  assert_int_equal(st.requests, 0);
  fw_reset();
  assert_int_equal(fw_live_blocks(), live);
}

/* Intervals that come and go with nothing queued send nothing. */
static void test_idle_intervals(void **state) {
  (void)state;
  responder r;
  responder_start(&r, 200);
  char url[64];
  url_for(url, sizeof url, r.port);
  as_otlp_exporter *e;
  assert_int_equal(as_otlp_exporter_start(&e, url, "svc", 8, 4, 2, 1000), AS_OK);
  sleep_ms(40); /* some twenty empty intervals */
  emit_n(as_otlp_exporter_tracer(e), 1, NULL);
  as_otlp_stats st;
  WAIT_FOR(e, st, st.sent == 1); /* the partial batch at its interval */
  assert_int_equal(st.sent, 1);
  sleep_ms(20);
  assert_int_equal(as_otlp_exporter_stop(e, 1000, &st), AS_OK);
  assert_int_equal(st.requests, 1);
  responder_stop(&r);
  assert_int_equal(atomic_load(&r.requests), 1);
}

int main(void) {
  /* Backstop: a request left without a bound would hang, not fail. */
  (void)alarm(300); /* ignore: returns the previous alarm, there is none */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_start_refusals),
      cmocka_unit_test(test_start_curl_failures),
      cmocka_unit_test(test_start_alloc_failures),
      cmocka_unit_test(test_batches_sent),
      cmocka_unit_test(test_http_error_counted),
      cmocka_unit_test(test_endpoint_refused),
      cmocka_unit_test(test_endpoint_silent),
      cmocka_unit_test(test_request_curl_failures),
      cmocka_unit_test(test_http_answers),
      cmocka_unit_test(test_batch_too_big_is_halved),
      cmocka_unit_test(test_encode_failure),
      cmocka_unit_test(test_drain_drops),
      cmocka_unit_test(test_drain_under_a_millisecond),
      cmocka_unit_test(test_join_failure),
      cmocka_unit_test(test_idle_intervals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

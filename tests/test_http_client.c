/*
** test_http_client.c -- the HTTP client (http_client.h) against the
** loopback peer's raw modes (tests/llm_peer.py), and on a simulated
** connection driven by a fake cassette here, under a virtual clock.
**
** Network: a body POSTed and echoed, a GET, statuses, headers past the
** cap, a header line past its cap, a 1xx before the answer, trailers, a
** close-delimited body; a silent peer (the deadline), a trickle and a
** silent head (the low-speed limit); a close before anything, a short
** Content-Length body, a chunked body cut, a head cut, bytes that are not
** HTTP (the endings of http_client.h); a refused port; a scheme curl may
** not use. Sinks and taps refusing at each step; the secret header sent
** (the peer says so) but never given to the tap.
**
** Simulated: the request read from the socketpair, an answer at its
** virtual time, a virtual deadline that passes with no real wait, curl's
** own timers silent in real time, no thread but this one, an open that
** fails, a wait that breaks.
**
** Failures: every allocation in turn (faultwrap.h), and libcurl's calls
** through the wrappers below: the n-th setopt, slist append, easy and
** multi init, add, perform, poll, remove, getinfo; transfer results
** rewritten (out of memory, curl's own timeout, TLS).
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agentsim/http_client.h"
#include "agentsim/seam.h"
#include "faultwrap.h"
#include "llm_peer.h"

#define MS 1000000ull

static llm_peer PEER;

/* --- libcurl's calls, wrapped ---------------------------------------------------- */

enum {
  C_EASY_INIT, C_SLIST, C_SETOPT, C_GETINFO, C_MULTI_INIT, C_ADD, C_PERFORM, C_POLL,
  C_REMOVE, C_INFO, C_GLOBAL, C_SOCKET, C_BIND, C_LISTEN, C_GETSOCKNAME, C_DUP, C_DUP2, C_URL,
  C_URL_SET, C_URL_GET, C__COUNT
};
static int C_ARMED[C__COUNT]; /* the call that takes it from 1 to 0 fails */
static int C_FIRED[C__COUNT];
static int C_CODE[C__COUNT];  /* what the failing call answers (0: a default) */

static void cdisarm(void) {
  memset(C_ARMED, 0, sizeof C_ARMED);
  memset(C_FIRED, 0, sizeof C_FIRED);
  memset(C_CODE, 0, sizeof C_CODE);
}

static void carm(int fn, int nth, int code) {
  C_ARMED[fn] = nth;
  C_FIRED[fn] = 0;
  C_CODE[fn] = code;
}

static int cfails(int fn) {
  if (C_ARMED[fn] <= 0) return 0;
  if (--C_ARMED[fn] != 0) return 0;
  C_FIRED[fn] = 1;
  return 1;
}

CURL *__wrap_curl_easy_init(void);
struct curl_slist *__wrap_curl_slist_append(struct curl_slist *l, const char *s);
CURLcode __wrap_curl_easy_setopt(CURL *h, CURLoption opt, ...);
CURLcode __wrap_curl_easy_getinfo(CURL *h, CURLINFO info, ...);
CURLM *__wrap_curl_multi_init(void);
CURLMcode __wrap_curl_multi_add_handle(CURLM *m, CURL *h);
CURLMcode __wrap_curl_multi_perform(CURLM *m, int *running);
CURLMcode __wrap_curl_multi_poll(CURLM *m, struct curl_waitfd *fds, unsigned n, int ms, int *k);
CURLMcode __wrap_curl_multi_remove_handle(CURLM *m, CURL *h);
CURLMsg *__wrap_curl_multi_info_read(CURLM *m, int *left);
CURLcode __wrap_curl_global_init(long flags);

CURL *__real_curl_easy_init(void);
CURL *__wrap_curl_easy_init(void) { return cfails(C_EASY_INIT) ? NULL : __real_curl_easy_init(); }

struct curl_slist *__real_curl_slist_append(struct curl_slist *l, const char *s);
struct curl_slist *__wrap_curl_slist_append(struct curl_slist *l, const char *s) {
  return cfails(C_SLIST) ? NULL : __real_curl_slist_append(l, s);
}

CURLcode __real_curl_easy_setopt(CURL *h, CURLoption opt, ...);
CURLcode __wrap_curl_easy_setopt(CURL *h, CURLoption opt, ...) {
  va_list ap;
  va_start(ap, opt);
  CURLcode cc;
  if (cfails(C_SETOPT)) {
    cc = C_CODE[C_SETOPT] ? (CURLcode)C_CODE[C_SETOPT] : CURLE_UNKNOWN_OPTION;
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

CURLM *__real_curl_multi_init(void);
CURLM *__wrap_curl_multi_init(void) {
  return cfails(C_MULTI_INIT) ? NULL : __real_curl_multi_init();
}

static CURLMcode mfail(int fn) {
  return C_CODE[fn] ? (CURLMcode)C_CODE[fn] : CURLM_OUT_OF_MEMORY;
}

CURLMcode __real_curl_multi_add_handle(CURLM *m, CURL *h);
CURLMcode __wrap_curl_multi_add_handle(CURLM *m, CURL *h) {
  return cfails(C_ADD) ? mfail(C_ADD) : __real_curl_multi_add_handle(m, h);
}

CURLMcode __real_curl_multi_perform(CURLM *m, int *running);
CURLMcode __wrap_curl_multi_perform(CURLM *m, int *running) {
  return cfails(C_PERFORM) ? mfail(C_PERFORM) : __real_curl_multi_perform(m, running);
}

CURLMcode __real_curl_multi_poll(CURLM *m, struct curl_waitfd *fds, unsigned n, int ms, int *k);
CURLMcode __wrap_curl_multi_poll(CURLM *m, struct curl_waitfd *fds, unsigned n, int ms, int *k) {
  return cfails(C_POLL) ? mfail(C_POLL) : __real_curl_multi_poll(m, fds, n, ms, k);
}

CURLMcode __real_curl_multi_remove_handle(CURLM *m, CURL *h);
CURLMcode __wrap_curl_multi_remove_handle(CURLM *m, CURL *h) {
  CURLMcode mc = __real_curl_multi_remove_handle(m, h);
  return cfails(C_REMOVE) ? mfail(C_REMOVE) : mc;
}

/* A transfer's result rewritten to C_CODE[C_INFO]. */
CURLMsg *__real_curl_multi_info_read(CURLM *m, int *left);
CURLMsg *__wrap_curl_multi_info_read(CURLM *m, int *left) {
  CURLMsg *msg = __real_curl_multi_info_read(m, left);
  if (msg && cfails(C_INFO)) msg->data.result = (CURLcode)C_CODE[C_INFO];
  return msg;
}

CURLcode __real_curl_global_init(long flags);
CURLcode __wrap_curl_global_init(long flags) {
  return cfails(C_GLOBAL) ? CURLE_FAILED_INIT : __real_curl_global_init(flags);
}

CURLU *__wrap_curl_url(void);
CURLUcode __wrap_curl_url_set(CURLU *u, CURLUPart what, const char *part, unsigned int flags);
CURLUcode __wrap_curl_url_get(const CURLU *u, CURLUPart what, char **part, unsigned int flags);
CURLU *__real_curl_url(void);
CURLUcode __real_curl_url_set(CURLU *u, CURLUPart what, const char *part, unsigned int flags);
CURLUcode __real_curl_url_get(const CURLU *u, CURLUPart what, char **part, unsigned int flags);
CURLU *__wrap_curl_url(void) { return cfails(C_URL) ? NULL : __real_curl_url(); }
CURLUcode __wrap_curl_url_set(CURLU *u, CURLUPart what, const char *part, unsigned int flags) {
  return cfails(C_URL_SET) ? CURLUE_OUT_OF_MEMORY : __real_curl_url_set(u, what, part, flags);
}
CURLUcode __wrap_curl_url_get(const CURLU *u, CURLUPart what, char **part, unsigned int flags) {
  return cfails(C_URL_GET) ? CURLUE_OUT_OF_MEMORY : __real_curl_url_get(u, what, part, flags);
}

/* The stand-in socket's calls (http_client.c, simulated connections only). */
int __wrap_socket(int domain, int type, int proto);
int __wrap_bind(int fd, const struct sockaddr *a, socklen_t len);
int __wrap_listen(int fd, int backlog);
int __wrap_getsockname(int fd, struct sockaddr *a, socklen_t *len);
int __wrap_dup(int fd);
int __wrap_dup2(int fd, int to);
int __real_socket(int domain, int type, int proto);
int __real_bind(int fd, const struct sockaddr *a, socklen_t len);
int __real_listen(int fd, int backlog);
int __real_getsockname(int fd, struct sockaddr *a, socklen_t *len);
int __real_dup(int fd);
int __real_dup2(int fd, int to);
#define SYS_WRAP(fn, call)                                                     \
  do {                                                                         \
    if (cfails(fn)) {                                                          \
      errno = EMFILE;                                                          \
      return -1;                                                               \
    }                                                                          \
    return call;                                                               \
  } while (0)
int __wrap_socket(int domain, int type, int proto) {
  SYS_WRAP(C_SOCKET, __real_socket(domain, type, proto));
}
int __wrap_bind(int fd, const struct sockaddr *a, socklen_t len) {
  SYS_WRAP(C_BIND, __real_bind(fd, a, len));
}
int __wrap_listen(int fd, int backlog) { SYS_WRAP(C_LISTEN, __real_listen(fd, backlog)); }
int __wrap_getsockname(int fd, struct sockaddr *a, socklen_t *len) {
  SYS_WRAP(C_GETSOCKNAME, __real_getsockname(fd, a, len));
}
int __wrap_dup(int fd) { SYS_WRAP(C_DUP, __real_dup(fd)); }
int __wrap_dup2(int fd, int to) { SYS_WRAP(C_DUP2, __real_dup2(fd, to)); }

/* --- a sink and a tap that keep what they get ---------------------------------- */

typedef struct got {
  int status, status_calls;
  size_t nh;
  char names[AS_HTTP_HEADERS_MAX][64], values[AS_HTTP_HEADERS_MAX][AS_HTTP_HEADER_MAX];
  char body[1 << 16];
  size_t len;
  int refuse_status, refuse_data; /* nonzero: answer this */
} got;

static int g_status(void *ctx, int status, const as_http_header *h, size_t n) {
  got *g = ctx;
  g->status = status;
  g->status_calls++;
  g->nh = n;
  for (size_t i = 0; i < n; i++) {
    snprintf(g->names[i], sizeof g->names[i], "%s", h[i].name);
    snprintf(g->values[i], sizeof g->values[i], "%s", h[i].value);
  }
  return g->refuse_status;
}

static int g_data(void *ctx, const char *data, size_t n) {
  got *g = ctx;
  if (g->refuse_data) return g->refuse_data;
  assert_true(g->len + n < sizeof g->body);
  memcpy(g->body + g->len, data, n);
  g->len += n;
  g->body[g->len] = '\0';
  return AS_OK;
}

static const char *hdr(const got *g, const char *name) {
  for (size_t i = 0; i < g->nh; i++)
    if (strcasecmp(g->names[i], name) == 0) return g->values[i];
  return NULL;
}

typedef struct rec {
  int reqs, statuses, datas, ends;
  size_t bytes;
  uint64_t last_at;
  int refuse_at; /* 1 request, 2 status, 3 data, 4 end */
  as_http_fail end_fail;
  char url[AS_HTTP_URL_MAX + 1];
} rec;

static int t_req(void *ctx, const as_http_request *req) {
  rec *r = ctx;
  r->reqs++;
  assert_null(req->secret_header);
  snprintf(r->url, sizeof r->url, "%s", req->url);
  return r->refuse_at == 1 ? AS_IO : AS_OK;
}

static int t_status(void *ctx, int status, const as_http_header *h, size_t n, uint64_t at) {
  rec *r = ctx;
  (void)status;
  (void)h;
  (void)n;
  r->statuses++;
  r->last_at = at;
  return r->refuse_at == 2 ? AS_IO : AS_OK;
}

static int t_data(void *ctx, const char *data, size_t n, uint64_t at) {
  rec *r = ctx;
  (void)data;
  assert_true(at >= r->last_at);
  r->last_at = at;
  r->datas++;
  r->bytes += n;
  return r->refuse_at == 3 ? AS_IO : AS_OK;
}

static int t_end(void *ctx, const as_http_result *res) {
  rec *r = ctx;
  r->ends++;
  r->end_fail = res->fail;
  return r->refuse_at == 4 ? AS_IO : AS_OK;
}

static as_http_tap tap_of(rec *r) {
  as_http_tap t = {r, t_req, t_status, t_data, t_end};
  return t;
}

/* One exchange: url relative to the peer when it starts with '/'. */
typedef struct opts {
  const as_http_net *net;
  const as_http_tap *tap;
  const char *body;
  const char *secret;
  uint64_t timeout_ms, ls_bytes, ls_ms;
  const as_http_header *headers;
  size_t nheaders;
} opts;

static int ex(const char *url, const opts *o, got *g, as_http_result *res) {
  char full[AS_HTTP_URL_MAX + 64];
  if (url[0] == '/')
    snprintf(full, sizeof full, "%s%s", PEER.base, url);
  else
    snprintf(full, sizeof full, "%s", url);
  as_http_request req = {.url = full,
                         .headers = o->headers,
                         .nheaders = o->nheaders,
                         .secret_header = o->secret,
                         .body = o->body,
                         .body_len = o->body ? strlen(o->body) : 0,
                         .timeout_ns = o->timeout_ms * MS,
                         .low_speed_bytes = o->ls_bytes,
                         .low_speed_ns = o->ls_ms * MS};
  as_http_sink sink = {g, g_status, g_data};
  return as_http_exchange(o->net, o->tap, &req, &sink, res);
}

static got G;

/* --- refusals ------------------------------------------------------------------ */

static void test_refusals(void **state) {
  (void)state;
  as_http_result res;
  as_http_sink sink = {&G, g_status, g_data}, nosink = {&G, NULL, g_data},
               nodata = {&G, g_status, NULL};
  as_http_request req = {.url = "http://127.0.0.1:1/"};
  assert_int_equal(as_http_exchange(NULL, NULL, &req, &sink, NULL), AS_INVAL);
  assert_int_equal(as_http_exchange(NULL, NULL, NULL, &sink, &res), AS_INVAL);
  assert_int_equal(as_http_exchange(NULL, NULL, &req, NULL, &res), AS_INVAL);
  assert_int_equal(as_http_exchange(NULL, NULL, &req, &nosink, &res), AS_INVAL);
  assert_int_equal(as_http_exchange(NULL, NULL, &req, &nodata, &res), AS_INVAL);
  char longurl[AS_HTTP_URL_MAX + 2];
  memset(longurl, 'a', sizeof longurl - 1);
  longurl[sizeof longurl - 1] = '\0';
  char bigval[AS_HTTP_HEADER_MAX + 1];
  memset(bigval, 'v', sizeof bigval - 1);
  bigval[sizeof bigval - 1] = '\0';
  as_http_header bad_name[] = {{"", "x"}}, null_name[] = {{NULL, "x"}},
                 null_val[] = {{"X", NULL}}, br_name[] = {{"X\r\nY", "x"}},
                 br_val[] = {{"X", "a\nb"}}, big[] = {{"X", bigval}};
  struct {
    as_http_request r;
  } cases[] = {
      {{.url = NULL}},
      {{.url = ""}},
      {{.url = longurl}},
      {{.url = "http://h/\r\nX: y"}},
      {{.url = "http://h/", .nheaders = 1}},
      {{.url = "http://h/", .headers = bad_name, .nheaders = 1}},
      {{.url = "http://h/", .headers = null_name, .nheaders = 1}},
      {{.url = "http://h/", .headers = null_val, .nheaders = 1}},
      {{.url = "http://h/", .headers = br_name, .nheaders = 1}},
      {{.url = "http://h/", .headers = br_val, .nheaders = 1}},
      {{.url = "http://h/", .headers = big, .nheaders = 1}},
      {{.url = "http://h/", .secret_header = "Authorization: a\nb"}},
      {{.url = "http://h/", .secret_header = bigval}},
      {{.url = "http://h/", .body_len = 3}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    res.status = 99;
    if (as_http_exchange(NULL, NULL, &cases[i].r, &sink, &res) != AS_INVAL) fail_msg("case %zu", i);
    assert_int_equal(res.status, 0);
  }
  assert_string_equal(as_http_fail_name(AS_HTTP_FAIL_TRUNCATED), "truncated");
  assert_string_equal(as_http_fail_name(AS__HTTP_FAIL_COUNT), "?");
  assert_int_equal(as_http_global_init(), AS_OK);
  carm(C_GLOBAL, 1, 0);
  assert_int_equal(as_http_global_init(), AS_INTERNAL);
  cdisarm();
}

/* --- the network ------------------------------------------------------------------ */

static void test_echo_post_and_get(void **state) {
  (void)state;
  rec r = {0};
  as_http_tap tap = tap_of(&r);
  as_http_header hs[] = {{"Content-Type", "application/json"}, {"X-Mine", "mine"}};
  opts o = {.tap = &tap, .body = "{\"hello\": 1}", .secret = "Authorization: Bearer sk-peer",
            .timeout_ms = 5000, .ls_bytes = 1, .ls_ms = 5000, .headers = hs, .nheaders = 2};
  as_http_result res;
  memset(&G, 0, sizeof G);
  assert_int_equal(ex("/raw/echo", &o, &G, &res), AS_OK);
  assert_int_equal(res.fail, AS_HTTP_FAIL_NONE);
  assert_int_equal(res.status, 200);
  assert_int_equal(G.status_calls, 1);
  assert_string_equal(G.body, "{\"hello\": 1}");
  assert_string_equal(hdr(&G, "X-Got-Method"), "POST");
  assert_string_equal(hdr(&G, "X-Got-X-Mine"), "mine");
  assert_string_equal(hdr(&G, "X-Got-Content-Type"), "application/json");
  assert_string_equal(hdr(&G, "X-Auth-Ok"), "yes"); /* the secret was sent */
  assert_null(hdr(&G, "X-Got-Expect"));               /* no 100-continue pause */
  assert_true(res.elapsed_ns > 0);
  assert_int_equal(r.reqs, 1);
  assert_int_equal(r.statuses, 1);
  assert_true(r.datas >= 1);
  assert_int_equal(r.bytes, strlen("{\"hello\": 1}"));
  assert_int_equal(r.ends, 1);
  assert_int_equal(r.end_fail, AS_HTTP_FAIL_NONE);
  assert_non_null(strstr(r.url, "/raw/echo")); /* the tap saw the URL */
  /* a GET: no body */
  opts get = {0};
  memset(&G, 0, sizeof G);
  assert_int_equal(ex("/raw/echo?status=404", &get, &G, &res), AS_OK);
  assert_int_equal(res.fail, AS_HTTP_FAIL_NONE);
  assert_int_equal(res.status, 404);
  assert_string_equal(hdr(&G, "X-Got-Method"), "GET");
  assert_string_equal(hdr(&G, "X-Auth-Ok"), "no");
  assert_int_equal(G.len, 0);
}

static void test_heads(void **state) {
  (void)state;
  opts o = {.timeout_ms = 5000};
  as_http_result res;
  /* past the cap: the first AS_HTTP_HEADERS_MAX kept */
  memset(&G, 0, sizeof G);
  assert_int_equal(ex("/raw/headers?n=40", &o, &G, &res), AS_OK);
  assert_int_equal(res.fail, AS_HTTP_FAIL_NONE);
  assert_int_equal(G.nh, AS_HTTP_HEADERS_MAX);
  assert_string_equal(G.names[0], "Server");
  assert_string_equal(G.body, "ok");
  /* a line past its cap */
  memset(&G, 0, sizeof G);
  assert_int_equal(ex("/raw/bigheader?n=2000", &o, &G, &res), AS_OK);
  assert_int_equal(res.fail, AS_HTTP_FAIL_TOOBIG);
  assert_int_equal(res.sink_rc, AS_TOOBIG);
  assert_int_equal(G.status_calls, 0);
  /* the cap's edge: a line of AS_HTTP_HEADER_MAX - 1 bytes ("X-Big: " and
  ** 1016 bytes) is kept whole, one more byte is past it */
  memset(&G, 0, sizeof G);
  assert_int_equal(ex("/raw/bigheader?n=1016", &o, &G, &res), AS_OK);
  assert_int_equal(res.fail, AS_HTTP_FAIL_NONE);
  assert_non_null(hdr(&G, "X-Big"));
  assert_int_equal(strlen(hdr(&G, "X-Big")), 1016);
  memset(&G, 0, sizeof G);
  assert_int_equal(ex("/raw/bigheader?n=1017", &o, &G, &res), AS_OK);
  assert_int_equal(res.fail, AS_HTTP_FAIL_TOOBIG);
  /* a 1xx first: only the answer's headers, trimmed; an empty value */
  memset(&G, 0, sizeof G);
  assert_int_equal(ex("/raw/continue", &o, &G, &res), AS_OK);
  assert_int_equal(res.fail, AS_HTTP_FAIL_NONE);
  assert_int_equal(res.status, 201);
  assert_int_equal(G.status, 201);
  assert_null(hdr(&G, "X-Early"));
  assert_string_equal(hdr(&G, "X-Late"), "kept");
  assert_string_equal(hdr(&G, "X-Spaced"), "padded");
  assert_string_equal(hdr(&G, "X-Empty"), "");
  assert_string_equal(hdr(&G, "X-Tab"), "t");
  assert_string_equal(G.body, "after continue");
  /* chunks, then a trailer that is not a header of the answer */
  memset(&G, 0, sizeof G);
  assert_int_equal(ex("/raw/chunked?n=3&k=4", &o, &G, &res), AS_OK);
  assert_int_equal(res.fail, AS_HTTP_FAIL_NONE);
  assert_string_equal(G.body, "000011112222");
  assert_null(hdr(&G, "X-Trailer"));
  /* no length, no chunks: the close ends it */
  memset(&G, 0, sizeof G);
  assert_int_equal(ex("/raw/eof", &o, &G, &res), AS_OK);
  assert_int_equal(res.fail, AS_HTTP_FAIL_NONE);
  assert_string_equal(G.body, "until the close");
  /* a redirect is an answer, not followed */
  memset(&G, 0, sizeof G);
  assert_int_equal(ex("/raw/status?code=302", &o, &G, &res), AS_OK);
  assert_int_equal(res.status, 302);
}

static void test_endings(void **state) {
  (void)state;
  as_http_result res;
  struct {
    const char *url;
    opts o;
    as_http_fail fail;
    const char *msg;
  } cases[] = {
      {"/raw/silent?s=5", {.timeout_ms = 300}, AS_HTTP_FAIL_TIMEOUT, "within 300 ms"},
      {"/raw/trickle?gap=700&n=20", {.timeout_ms = 5000, .ls_bytes = 1, .ls_ms = 400},
       AS_HTTP_FAIL_TIMEOUT, "fewer than 1 bytes in 400 ms"},
      {"/raw/silent-head?s=5", {.ls_bytes = 1, .ls_ms = 300}, AS_HTTP_FAIL_TIMEOUT, "fewer"},
      {"/raw/chunked?n=3&k=4&gap=200", {.timeout_ms = 5000, .ls_bytes = 100, .ls_ms = 5000},
       AS_HTTP_FAIL_NONE, ""},
      /* the window restarts each time its bytes came: ten bytes 100 ms apart
      ** pass a 1 B / 400 ms limit though they take a second in all ... */
      {"/raw/chunked?n=10&k=1&gap=100", {.timeout_ms = 5000, .ls_bytes = 1, .ls_ms = 400},
       AS_HTTP_FAIL_NONE, ""},
      /* ... and every chunk is not enough: a byte per 100 ms is under 100 B / s */
      {"/raw/trickle?gap=100&n=30", {.timeout_ms = 5000, .ls_bytes = 100, .ls_ms = 1000},
       AS_HTTP_FAIL_TIMEOUT, "fewer than 100 bytes in 1000 ms"},
      {"/raw/close", {.timeout_ms = 5000}, AS_HTTP_FAIL_TRUNCATED, ""},
      {"/raw/cut-length", {.timeout_ms = 5000}, AS_HTTP_FAIL_TRUNCATED, ""},
      {"/raw/cut-chunked", {.timeout_ms = 5000}, AS_HTTP_FAIL_TRUNCATED, ""},
      {"/raw/reset", {.timeout_ms = 5000}, AS_HTTP_FAIL_TRUNCATED, ""}, /* CURLE_RECV_ERROR */
      {"/raw/cut-head", {.timeout_ms = 5000}, AS_HTTP_FAIL_TRUNCATED, ""},
      {"/raw/garbage", {.timeout_ms = 5000}, AS_HTTP_FAIL_PROTOCOL, ""},
      {"http://127.0.0.1:1/", {.timeout_ms = 5000}, AS_HTTP_FAIL_CONNECT, "127.0.0.1"},
      {"ftp://127.0.0.1:1/", {.timeout_ms = 5000}, AS_HTTP_FAIL_PROTOCOL, ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    memset(&G, 0, sizeof G);
    uint64_t t0 = as_now_mono_ns();
    assert_int_equal(ex(cases[i].url, &cases[i].o, &G, &res), AS_OK);
    if (res.fail != cases[i].fail)
      fail_msg("%s: %s (%s), not %s", cases[i].url, as_http_fail_name(res.fail), res.message,
               as_http_fail_name(cases[i].fail));
    if (!strstr(res.message, cases[i].msg))
      fail_msg("%s: '%s' lacks '%s'", cases[i].url, res.message, cases[i].msg);
    if (cases[i].fail != AS_HTTP_FAIL_NONE) assert_true(res.message[0] != '\0');
    assert_true(as_now_mono_ns() - t0 < 3000 * MS); /* each bounded well within */
  }
  /* curl's own elapsed time is dropped from its words (a replay cannot give
  ** the same real time): "Failed to connect to 127.0.0.1 port 1: ..." */
  opts o = {.timeout_ms = 5000};
  memset(&G, 0, sizeof G);
  assert_int_equal(ex("http://127.0.0.1:1/", &o, &G, &res), AS_OK);
  if (!strstr(res.message, "127.0.0.1 port 1: ") || strstr(res.message, " ms"))
    fail_msg("refused: '%s'", res.message);
}

static void test_refusing_sinks_and_taps(void **state) {
  (void)state;
  as_http_result res;
  opts o = {.timeout_ms = 5000, .body = "abc"};
  memset(&G, 0, sizeof G);
  G.refuse_status = AS_PARSE;
  assert_int_equal(ex("/raw/echo", &o, &G, &res), AS_OK);
  assert_int_equal(res.fail, AS_HTTP_FAIL_ABORTED);
  assert_int_equal(res.sink_rc, AS_PARSE);
  memset(&G, 0, sizeof G);
  G.refuse_data = AS_TOOBIG;
  assert_int_equal(ex("/raw/echo", &o, &G, &res), AS_OK);
  assert_int_equal(res.fail, AS_HTTP_FAIL_ABORTED);
  assert_int_equal(res.sink_rc, AS_TOOBIG);
  for (int at = 1; at <= 4; at++) {
    rec r = {.refuse_at = at};
    as_http_tap tap = tap_of(&r);
    o.tap = &tap;
    memset(&G, 0, sizeof G);
    assert_int_equal(ex("/raw/echo", &o, &G, &res), AS_OK);
    assert_int_equal(res.fail, AS_HTTP_FAIL_ABORTED);
    assert_int_equal(res.sink_rc, AS_IO);
    assert_int_equal(r.ends, at == 1 ? 0 : 1);
  }
  /* the tap sees what arrived before the sink judges it: the status and the
  ** chunk a sink refuses are recorded (a cassette of a refused stream holds
  ** the event refused, so its replay is refused by it, not left silent) */
  for (int what = 0; what < 2; what++) {
    rec seen = {0};
    as_http_tap tap = tap_of(&seen);
    o.tap = &tap;
    memset(&G, 0, sizeof G);
    if (what) G.refuse_data = AS_PARSE;
    else G.refuse_status = AS_PARSE;
    assert_int_equal(ex("/raw/echo", &o, &G, &res), AS_OK);
    assert_int_equal(res.fail, AS_HTTP_FAIL_ABORTED);
    assert_int_equal(res.sink_rc, AS_PARSE);
    assert_int_equal(seen.statuses, 1);
    assert_int_equal(seen.datas, what ? 1 : 0);
    assert_int_equal(seen.bytes, what ? 3 : 0); /* "abc" echoed */
    assert_int_equal(seen.ends, 1);
    assert_int_equal(seen.end_fail, AS_HTTP_FAIL_ABORTED);
  }
  /* a tap refusing the end of an exchange already aborted keeps the first cause */
  rec r = {.refuse_at = 4};
  as_http_tap tap = tap_of(&r);
  o.tap = &tap;
  memset(&G, 0, sizeof G);
  G.refuse_data = AS_NOMEM;
  assert_int_equal(ex("/raw/echo", &o, &G, &res), AS_OK);
  assert_int_equal(res.fail, AS_HTTP_FAIL_ABORTED);
  assert_int_equal(res.sink_rc, AS_NOMEM);
}

/* --- a simulated connection ------------------------------------------------------ */

static uint64_t VNOW;
static uint64_t vnow(void) { return VNOW; }
static as_platform VPLAT;

typedef struct fake {
  int other;            /* the cassette's end of the socketpair */
  const char *answer;   /* bytes put on the socket at answer_at */
  uint64_t answer_at;
  bool close_after;     /* then the peer closes */
  bool sent;
  int open_fail, wait_fail;
  long real_sleep_ms;   /* real time each wait spends (curl's timers must stay quiet) */
  char request[8192];
  size_t reqlen;
  int waits, max_threads;
} fake;

static int threads_now(void) {
  DIR *d = opendir("/proc/self/task");
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  assert_int_equal(closedir(d), 0);
  return n;
}

static int f_open(void *ctx, const as_http_request *req) {
  fake *f = ctx;
  (void)req;
  if (f->open_fail) return -1;
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  f->other = sv[1];
  return sv[0];
}

static void drain_request(fake *f) {
  for (;;) {
    struct pollfd p = {f->other, POLLIN, 0};
    if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN)) return;
    ssize_t r = read(f->other, f->request + f->reqlen, sizeof f->request - 1 - f->reqlen);
    if (r <= 0) return;
    f->reqlen += (size_t)r;
    f->request[f->reqlen] = '\0';
  }
}

static int f_wait(void *ctx, int fd, uint64_t deadline) {
  fake *f = ctx;
  (void)fd;
  f->waits++;
  int t = threads_now();
  if (t > f->max_threads) f->max_threads = t;
  drain_request(f);
  if (f->real_sleep_ms) {
    struct timespec ts = {f->real_sleep_ms / 1000, (f->real_sleep_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
  if (f->wait_fail) return -1;
  if (f->sent || f->answer_at > deadline) {
    VNOW = deadline; /* nothing more before it */
    return 1;
  }
  VNOW = f->answer_at;
  size_t n = strlen(f->answer);
  assert_int_equal(write(f->other, f->answer, n), (ssize_t)n);
  f->sent = true;
  if (f->close_after) assert_int_equal(shutdown(f->other, SHUT_WR), 0);
  return 0;
}

static void fake_end(fake *f) {
  if (f->other > 0) assert_int_equal(close(f->other), 0);
  f->other = 0;
}

static const char OK_ANSWER[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n"
    "X-Recorded: yes\r\n\r\n{\"ok\": true}";

static const char *VURL = "http://127.0.0.1:11434/api/chat";

static int vex(fake *f, const char *body, uint64_t timeout_ms, uint64_t ls_ms,
               as_http_result *res) {
  as_http_net net = {f, f_open, f_wait};
  opts o = {.net = &net, .body = body, .secret = "Authorization: Bearer sk-sim",
            .timeout_ms = timeout_ms, .ls_bytes = ls_ms ? 1 : 0, .ls_ms = ls_ms};
  memset(&G, 0, sizeof G);
  VNOW = 1000 * MS;
  const as_platform *prev = as_platform_set(&VPLAT);
  int rc = ex(VURL, &o, &G, res);
  as_platform_set(prev);
  drain_request(f);
  fake_end(f);
  return rc;
}

static void test_simulated(void **state) {
  (void)state;
  VPLAT = as_platform_posix;
  VPLAT.now_mono_ns = vnow;
  as_http_result res;
  /* the answer at its virtual time */
  fake f = {.answer = OK_ANSWER, .answer_at = 1250 * MS};
  assert_int_equal(vex(&f, "{\"q\": 1}", 5000, 0, &res), AS_OK);
  if (res.fail != AS_HTTP_FAIL_NONE) fail_msg("%s: %s", as_http_fail_name(res.fail), res.message);
  assert_int_equal(res.status, 200);
  assert_int_equal(res.elapsed_ns, 250 * MS);
  assert_string_equal(G.body, "{\"ok\": true}");
  assert_string_equal(hdr(&G, "X-Recorded"), "yes");
  assert_non_null(strstr(f.request, "POST /api/chat HTTP/1.1\r\n"));
  assert_non_null(strstr(f.request, "Authorization: Bearer sk-sim\r\n"));
  assert_non_null(strstr(f.request, "\r\n\r\n{\"q\": 1}"));
  assert_int_equal(f.max_threads, 1); /* curl started no thread */
  /* a slow answer times out in virtual time, at once in real time */
  fake slow = {.answer = OK_ANSWER, .answer_at = 9000 * MS};
  uint64_t t0 = as_now_mono_ns();
  assert_int_equal(vex(&slow, NULL, 2000, 0, &res), AS_OK);
  assert_int_equal(res.fail, AS_HTTP_FAIL_TIMEOUT);
  assert_int_equal(res.elapsed_ns, 2000 * MS);
  assert_true(as_now_mono_ns() - t0 < 1000 * MS);
  /* the low-speed window: a head, then nothing */
  fake head = {.answer = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", .answer_at = 1000 * MS};
  assert_int_equal(vex(&head, NULL, 0, 30000, &res), AS_OK);
  assert_int_equal(res.fail, AS_HTTP_FAIL_TIMEOUT);
  assert_int_equal(res.elapsed_ns, 30000 * MS);
  assert_non_null(strstr(res.message, "fewer than 1 bytes in 30000 ms"));
  /* the peer closes mid-body: truncated */
  fake cut = {.answer = "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nabc", .answer_at = 1000 * MS,
              .close_after = true};
  assert_int_equal(vex(&cut, NULL, 5000, 0, &res), AS_OK);
  assert_int_equal(res.fail, AS_HTTP_FAIL_TRUNCATED);
  /* curl's own timers stay quiet in real time: 1.3 s of real waiting under a
  ** 100 ms virtual deadline that has not come (the backstop would be 1.1 s) */
  fake quiet = {.answer = OK_ANSWER, .answer_at = 1050 * MS, .real_sleep_ms = 1300};
  assert_int_equal(vex(&quiet, NULL, 100, 0, &res), AS_OK);
  assert_int_equal(res.fail, AS_HTTP_FAIL_NONE);
  /* no socket; a broken connection */
  fake nosock = {.open_fail = 1};
  assert_int_equal(vex(&nosock, NULL, 5000, 0, &res), AS_OK);
  assert_int_equal(res.fail, AS_HTTP_FAIL_CONNECT);
  fake broke = {.wait_fail = 1};
  assert_int_equal(vex(&broke, NULL, 5000, 0, &res), AS_OK);
  assert_int_equal(res.fail, AS_HTTP_FAIL_CONNECT);
  assert_string_equal(res.message, "the simulated connection broke");
  /* a name is pinned, never resolved: still no thread, the Host as written */
  const char *urls[] = {"http://api.example.com/v1/chat/completions",
                        "http://[::1]:8080/api/chat"};
  for (size_t i = 0; i < 2; i++) {
    VURL = urls[i];
    fake named = {.answer = OK_ANSWER, .answer_at = 1100 * MS};
    assert_int_equal(vex(&named, NULL, 5000, 0, &res), AS_OK);
    if (res.fail != AS_HTTP_FAIL_NONE) fail_msg("%s: %s", urls[i], res.message);
    assert_int_equal(named.max_threads, 1);
    const char *host = i ? "Host: [::1]:8080\r\n" : "Host: api.example.com\r\n";
    assert_non_null(strstr(named.request, host));
  }
  /* a URL curl cannot read; the pin's calls failing */
  VURL = "http://[::1/x";
  fake badurl = {.answer = OK_ANSWER};
  assert_int_equal(vex(&badurl, NULL, 5000, 0, &res), AS_INVAL);
  VURL = "http://api.example.com/v1/chat/completions";
  struct {
    int fn, nth;
  } pins[] = {{C_URL, 1}, {C_URL_SET, 1}, {C_URL_GET, 1}, {C_URL_GET, 2}, {C_SLIST, 3}};
  for (size_t i = 0; i < sizeof pins / sizeof pins[0]; i++) {
    fake pf = {.answer = OK_ANSWER};
    cdisarm();
    carm(pins[i].fn, pins[i].nth, 0);
    assert_int_equal(vex(&pf, NULL, 5000, 0, &res), AS_NOMEM);
    if (!C_FIRED[pins[i].fn]) fail_msg("pin case %zu did not fire", i);
  }
  cdisarm();
  VURL = "http://127.0.0.1:11434/api/chat";
  /* the stand-in's calls failing in turn: no connection, nothing left open */
  struct {
    int fn, nth;
  } sys[] = {{C_SOCKET, 1}, {C_SOCKET, 2}, {C_BIND, 1}, {C_LISTEN, 1}, {C_GETSOCKNAME, 1},
             {C_DUP, 1}, {C_DUP2, 1}, {C_DUP2, 2}};
  int fd0 = dup(0);
  assert_true(fd0 >= 0);
  assert_int_equal(close(fd0), 0);
  for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++) {
    fake sf = {.answer = OK_ANSWER, .answer_at = 1000 * MS};
    cdisarm();
    carm(sys[i].fn, sys[i].nth, 0);
    assert_int_equal(vex(&sf, NULL, 5000, 0, &res), AS_OK);
    if (!C_FIRED[sys[i].fn]) fail_msg("sys case %zu did not fire", i);
    if (res.fail != AS_HTTP_FAIL_CONNECT)
      fail_msg("sys case %zu: %s", i, as_http_fail_name(res.fail));
    int fd = dup(0); /* the lowest free descriptor: none leaked */
    assert_int_equal(fd, fd0);
    assert_int_equal(close(fd), 0);
  }
  cdisarm();
}

/* --- failures ------------------------------------------------------------------- */

static void test_curl_failures(void **state) {
  (void)state;
  as_http_result res;
  as_http_header hs[] = {{"X-One", "1"}};
  opts post = {.timeout_ms = 5000, .body = "x", .secret = "Authorization: Bearer k",
               .headers = hs, .nheaders = 1};
  opts get = {0};
  /* every setopt of each kind of request, failing in turn */
  VPLAT = as_platform_posix;
  VPLAT.now_mono_ns = vnow;
  const opts *kinds[] = {&post, &get};
  for (int k = 0; k < 3; k++) {
    for (int n = 1;; n++) {
      carm(C_SETOPT, n, n == 2 ? CURLE_OUT_OF_MEMORY : 0);
      int rc;
      if (k < 2) {
        memset(&G, 0, sizeof G);
        rc = ex("/raw/echo", kinds[k], &G, &res);
      } else {
        fake f = {.answer = OK_ANSWER, .answer_at = 1000 * MS};
        rc = vex(&f, "{}", 1000, 0, &res);
      }
      if (!C_FIRED[C_SETOPT]) {
        assert_int_equal(rc, AS_OK);
        assert_int_equal(res.fail, AS_HTTP_FAIL_NONE);
        break;
      }
      assert_int_equal(rc, n == 2 ? AS_NOMEM : AS_INTERNAL);
    }
  }
  struct {
    int fn, nth, code, rc;
    const char *url;
    as_http_fail fail;
  } cases[] = {
      {C_SLIST, 1, 0, AS_NOMEM, "/raw/echo", 0},
      {C_SLIST, 2, 0, AS_NOMEM, "/raw/echo", 0},
      {C_SLIST, 3, 0, AS_NOMEM, "/raw/echo", 0},
      {C_EASY_INIT, 1, 0, AS_NOMEM, "/raw/echo", 0},
      {C_MULTI_INIT, 1, 0, AS_NOMEM, "/raw/echo", 0},
      {C_ADD, 1, 0, AS_NOMEM, "/raw/echo", 0},
      {C_ADD, 1, CURLM_BAD_HANDLE, AS_INTERNAL, "/raw/echo", 0},
      {C_PERFORM, 1, 0, AS_NOMEM, "/raw/echo", 0},
      {C_PERFORM, 2, CURLM_INTERNAL_ERROR, AS_INTERNAL, "/raw/echo", 0},
      {C_POLL, 1, 0, AS_NOMEM, "/raw/silent?s=2", 0},
      {C_REMOVE, 1, CURLM_BAD_HANDLE, AS_INTERNAL, "/raw/echo", 0},
      {C_GETINFO, 1, 0, AS_OK, "/raw/echo", AS_HTTP_FAIL_PROTOCOL},
      {C_INFO, 1, CURLE_OUT_OF_MEMORY, AS_NOMEM, "/raw/echo", 0},
      {C_INFO, 1, CURLE_OPERATION_TIMEDOUT, AS_OK, "/raw/echo", AS_HTTP_FAIL_TIMEOUT},
      {C_INFO, 1, CURLE_SSL_CONNECT_ERROR, AS_OK, "/raw/echo", AS_HTTP_FAIL_CONNECT},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cdisarm();
    carm(cases[i].fn, cases[i].nth, cases[i].code);
    memset(&G, 0, sizeof G);
    int rc = ex(cases[i].url, &post, &G, &res);
    if (!C_FIRED[cases[i].fn]) fail_msg("case %zu did not fire", i);
    if (rc != cases[i].rc) fail_msg("case %zu: %s", i, as_status_name(rc));
    if (rc == AS_OK) assert_int_equal(res.fail, cases[i].fail);
  }
  /* a failing removal after a failing step keeps the first status */
  cdisarm();
  carm(C_PERFORM, 1, 0);
  carm(C_REMOVE, 1, CURLM_BAD_HANDLE);
  assert_int_equal(ex("/raw/echo", &post, &G, &res), AS_NOMEM);
  cdisarm();
}

static void test_alloc_countdown(void **state) {
  (void)state;
  rec r = {0};
  as_http_tap tap = tap_of(&r);
  opts o = {.tap = &tap, .timeout_ms = 5000, .body = "{\"a\": 1}",
            .secret = "Authorization: Bearer k"};
  as_http_result res;
  memset(&G, 0, sizeof G);
  assert_int_equal(ex("/raw/echo", &o, &G, &res), AS_OK); /* curl's lazy setup first */
  size_t live = fw_live_blocks();
  unsigned long n;
  for (n = 1;; n++) {
    memset(&G, 0, sizeof G);
    fw_countdown(FW_ALLOC, n, ENOMEM, 0);
    int rc = ex("/raw/echo", &o, &G, &res);
    int fired = fw_fired();
    fw_disarm();
    assert_int_equal(fw_live_blocks(), live);
    if (!fired) {
      assert_int_equal(rc, AS_OK);
      assert_int_equal(res.fail, AS_HTTP_FAIL_NONE);
      break;
    }
    assert_true(rc == AS_NOMEM || rc == AS_OK);
  }
  assert_true(n > 1); /* curl's own allocations are libcurl.so's: the wrappers above fail those */
}

static int setup(void **state) {
  (void)state;
  assert_int_equal(as_http_global_init(), AS_OK);
  llm_peer_start(&PEER, "sk-peer", "http");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  llm_peer_stop(&PEER);
  curl_global_cleanup();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_echo_post_and_get),
      cmocka_unit_test(test_heads),
      cmocka_unit_test(test_endings),
      cmocka_unit_test(test_refusing_sinks_and_taps),
      cmocka_unit_test(test_simulated),
      cmocka_unit_test(test_curl_failures),
      cmocka_unit_test(test_alloc_countdown),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

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
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
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

static uint64_t now_ms(void) { return as_now_mono_ns() / 1000000u; }

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
  int fd, port, status;
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
                         r->status);
        if (write(c, resp, (size_t)n) != n) break;
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
  r->status = status;
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

static void test_start_refusals(void **state) {
  (void)state;
  as_otlp_exporter *e = (as_otlp_exporter *)&e;
  const char *u = "http://127.0.0.1:9/v1/traces";
  assert_int_equal(as_otlp_exporter_start(&e, "ftp://127.0.0.1/x", "svc", 8, 4, 10, 100), AS_INVAL);
  assert_null(e);
  assert_int_equal(as_otlp_exporter_start(&e, "http://a b/", "svc", 8, 4, 10, 100), AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, "not a url", "svc", 8, 4, 10, 100), AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, u, "", 8, 4, 10, 100), AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, u, "bad\xff", 8, 4, 10, 100), AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, u, "svc", 0, 4, 10, 100), AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, u, "svc", 8, 0, 10, 100), AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, u, "svc", 8, AS_OTLP_BATCH_MAX + 1, 10, 100),
                   AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, u, "svc", 8, 4, 0, 100), AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, u, "svc", 8, 4, 10, 0), AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(&e, u, "svc", 8, 4, 10, AS_OTLP_TIMEOUT_MAX_MS + 1),
                   AS_INVAL);
  assert_int_equal(as_otlp_exporter_start(NULL, u, "svc", 8, 4, 10, 100), AS_INVAL);
  assert_int_equal(as_otlp_exporter_stop(NULL, 0, NULL), AS_INVAL);
  /* Started and stopped with nothing emitted: nothing sent, all well. */
  assert_int_equal(as_otlp_exporter_start(&e, u, "svc", 8, 4, 10, 100), AS_OK);
  as_otlp_stats st;
  assert_int_equal(as_otlp_exporter_stop(e, 100, &st), AS_OK);
  assert_int_equal(st.requests, 0);
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_start_refusals),
      cmocka_unit_test(test_batches_sent),
      cmocka_unit_test(test_http_error_counted),
      cmocka_unit_test(test_endpoint_refused),
      cmocka_unit_test(test_endpoint_silent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

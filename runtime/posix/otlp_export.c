/*
** otlp_export.c -- the real span exporter (otlp.h): a bounded queue filled
** by the runtime's turns, drained by one thread that POSTs OTLP/HTTP JSON
** batches with libcurl.
**
** Why one easy handle on one thread: requests are serial anyway (a batch at
** a time keeps the collector's view ordered), and the handle keeps its
** connection alive between batches. Failed batches are counted, not
** retried: memory stays bounded by the queue when the collector is down.
*/
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "agentsim/otlp.h"
#include "agentsim/seam.h"

struct as_otlp_exporter {
  as_span_queue *q;
  char *service;
  size_t batch_max;
  uint64_t interval_ns, timeout_ns;
  CURL *h;
  struct curl_slist *headers;
  pthread_t thread;
  as_span_rec *batch; /* batch_max slots, the thread's */
  bool failing;       /* the thread's: the last batch failed (log on change only) */
  atomic_bool stopping;
  _Atomic uint64_t drain_deadline_ns; /* set before stopping */
  _Atomic uint64_t sent, failed, dropped_end, requests, requests_failed;
  atomic_long last_http;
};

/* --- one request ---------------------------------------------------------- */

/* The answer's body is not needed (a partial success is not parsed): drop
** it as it comes, so nothing grows. */
static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *ud) {
  (void)ptr;
  (void)ud;
  return size * nmemb;
}

static void note(as_otlp_exporter *e, bool ok, size_t n, long http, CURLcode cc) {
  if (ok) {
    atomic_fetch_add(&e->sent, n);
    if (e->failing) as_log(AS_LOG_INFO, "otlp export: sending again (HTTP %ld)", http);
    e->failing = false;
    return;
  }
  atomic_fetch_add(&e->failed, n);
  if (!e->failing) {
    /* Once per run of failures: a collector that is down must not flood the log. */
    if (cc != CURLE_OK)
      as_log(AS_LOG_WARN, "otlp export: %zu spans not sent: %s", n, curl_easy_strerror(cc));
    else
      as_log(AS_LOG_WARN, "otlp export: %zu spans not sent: HTTP %ld", n, http);
  }
  e->failing = true;
}

/* POST body; true on a 2xx answer. The request gives up after timeout_ms. */
static bool post(as_otlp_exporter *e, const char *body, size_t len, long timeout_ms,
                 long *http, CURLcode *cc) {
  *http = 0;
  CURLcode c = curl_easy_setopt(e->h, CURLOPT_POSTFIELDS, body);
  if (c == CURLE_OK) c = curl_easy_setopt(e->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  if (c == CURLE_OK) c = curl_easy_setopt(e->h, CURLOPT_TIMEOUT_MS, timeout_ms);
  if (c == CURLE_OK) c = curl_easy_setopt(e->h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  if (c == CURLE_OK) {
    atomic_fetch_add(&e->requests, 1);
    c = curl_easy_perform(e->h);
  }
  if (c == CURLE_OK) c = curl_easy_getinfo(e->h, CURLINFO_RESPONSE_CODE, http);
  *cc = c;
  atomic_store(&e->last_http, *http);
  bool ok = c == CURLE_OK && *http >= 200 && *http < 300;
  if (!ok) atomic_fetch_add(&e->requests_failed, 1);
  return ok;
}

/* Send r[0..n) before monotonic deadline_ns: one request, or halves when
** the body would be too big. What the deadline leaves no time for is
** dropped. */
static void send_batch(as_otlp_exporter *e, as_span_rec *r, size_t n, uint64_t deadline_ns) {
  uint64_t now = as_now_mono_ns();
  if (now >= deadline_ns) {
    atomic_fetch_add(&e->dropped_end, n);
    return;
  }
  uint64_t left = deadline_ns - now;
  long timeout_ms = (long)((left < e->timeout_ns ? left : e->timeout_ns) / 1000000u);
  if (timeout_ms < 1) timeout_ms = 1;
  char *body = NULL;
  int rc = as_otlp_encode(r, n, e->service, &body);
  if (rc == AS_TOOBIG && n > 1) {
    send_batch(e, r, n / 2, deadline_ns);
    send_batch(e, r + n / 2, n - n / 2, deadline_ns);
    return;
  }
  if (rc != AS_OK) {
    if (!e->failing) as_log(AS_LOG_WARN, "otlp export: %zu spans not encoded: %s", n,
                            as_status_name(rc));
    atomic_fetch_add(&e->failed, n);
    e->failing = true;
    return;
  }
  long http;
  CURLcode cc;
  bool ok = post(e, body, strlen(body), timeout_ms, &http, &cc);
  as_free(body);
  note(e, ok, n, http, cc);
}

/* Pop up to a batch and send it; false when the queue was empty. */
static bool one_batch(as_otlp_exporter *e, uint64_t deadline_ns) {
  size_t n;
  as_span_queue_pop(e->q, e->batch, e->batch_max, &n);
  if (n == 0) return false;
  send_batch(e, e->batch, n, deadline_ns);
  for (size_t i = 0; i < n; i++) as_span_rec_free(&e->batch[i]);
  return true;
}

static void *run(void *arg) {
  as_otlp_exporter *e = arg;
  uint64_t next = as_now_mono_ns() + e->interval_ns;
  while (!atomic_load(&e->stopping)) {
    /* A full batch goes at once; a partial one when the interval is up.
    ** Either way a batch goes when the wait returns: one that returns unmet
    ** is past its deadline (the seam's timed wait never ends early). */
    as_span_queue_wait(e->q, e->batch_max, next);
    if (atomic_load(&e->stopping)) break;
    while (one_batch(e, AS_DEADLINE_NEVER) && !atomic_load(&e->stopping)) {
      as_span_queue_stats st;
      as_span_queue_stats_get(e->q, &st);
      if (st.len < e->batch_max) break; /* the rest waits for the interval */
    }
    if (as_now_mono_ns() >= next) next = as_now_mono_ns() + e->interval_ns;
  }
  uint64_t deadline = atomic_load(&e->drain_deadline_ns);
  while (one_batch(e, deadline)) {
  }
  return NULL;
}

/* --- start and stop ---------------------------------------------------------- */

static void exporter_free(as_otlp_exporter *e) {
  if (e->h) curl_easy_cleanup(e->h);
  curl_slist_free_all(e->headers);
  as_span_queue_free(e->q);
  as_free(e->batch);
  as_free(e->service);
  as_free(e);
  curl_global_cleanup();
}

static AS_WUR int endpoint_check(const char *endpoint) {
  size_t n = strnlen(endpoint, AS_OTLP_URL_MAX + 1);
  if (n == 0 || n > AS_OTLP_URL_MAX) return AS_INVAL;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)endpoint[i] <= 0x20 || endpoint[i] == 0x7f) return AS_INVAL;
  CURLU *u = curl_url();
  if (!u) return AS_NOMEM;
  char *scheme = NULL;
  CURLUcode c = curl_url_set(u, CURLUPART_URL, endpoint, 0);
  if (c == CURLUE_OK) c = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
  int rc = c == CURLUE_OUT_OF_MEMORY ? AS_NOMEM
           : c != CURLUE_OK          ? AS_INVAL
           : strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0 ? AS_OK
                                                                          : AS_INVAL;
  curl_free(scheme);
  curl_url_cleanup(u);
  return rc;
}

/* The easy handle's fixed options. */
static AS_WUR int setup_handle(as_otlp_exporter *e, const char *endpoint) {
  e->h = curl_easy_init();
  if (!e->h) return AS_SYS;
  struct curl_slist *h1 = curl_slist_append(NULL, "Content-Type: application/json");
  if (!h1) return AS_NOMEM;
  e->headers = h1;
  /* No "Expect: 100-continue" round trip before a large body. */
  struct curl_slist *h2 = curl_slist_append(e->headers, "Expect:");
  if (!h2) return AS_NOMEM;
  e->headers = h2;
  CURLcode c = curl_easy_setopt(e->h, CURLOPT_URL, endpoint);
  if (c == CURLE_OK) c = curl_easy_setopt(e->h, CURLOPT_PROTOCOLS_STR, "http,https");
  if (c == CURLE_OK) c = curl_easy_setopt(e->h, CURLOPT_FOLLOWLOCATION, 0L);
  if (c == CURLE_OK) c = curl_easy_setopt(e->h, CURLOPT_NOSIGNAL, 1L);
  if (c == CURLE_OK) c = curl_easy_setopt(e->h, CURLOPT_POST, 1L);
  if (c == CURLE_OK) c = curl_easy_setopt(e->h, CURLOPT_HTTPHEADER, e->headers);
  if (c == CURLE_OK) c = curl_easy_setopt(e->h, CURLOPT_USERAGENT, "agentsim-otlp");
  if (c == CURLE_OK) c = curl_easy_setopt(e->h, CURLOPT_WRITEFUNCTION, discard_body);
  if (c == CURLE_OK) c = curl_easy_setopt(e->h, CURLOPT_NOPROGRESS, 1L);
  return c == CURLE_OK ? AS_OK : AS_SYS;
}

int as_otlp_exporter_start(as_otlp_exporter **out, const char *endpoint, const char *service,
                           size_t queue_capacity, size_t batch_max, uint32_t flush_interval_ms,
                           uint32_t timeout_ms) {
  if (!out) return AS_INVAL;
  *out = NULL;
  if (!endpoint || !service || !service[0] || batch_max == 0 || batch_max > AS_OTLP_BATCH_MAX ||
      flush_interval_ms == 0 || flush_interval_ms > AS_OTLP_INTERVAL_MAX_MS || timeout_ms == 0 ||
      timeout_ms > AS_OTLP_TIMEOUT_MAX_MS || queue_capacity == 0 ||
      queue_capacity > AS_SPAN_QUEUE_MAX)
    return AS_INVAL;
  size_t sl = strnlen(service, AS_OTLP_SERVICE_MAX + 1);
  if (sl > AS_OTLP_SERVICE_MAX) return AS_INVAL;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return AS_SYS;
  int rc;
  as_otlp_exporter *e = as_calloc(1, sizeof *e);
  if (!e) {
    curl_global_cleanup();
    return AS_NOMEM;
  }
  rc = endpoint_check(endpoint);
  if (rc != AS_OK) goto fail;
  rc = AS_NOMEM;
  e->service = as_malloc(sl + 1);
  e->batch = as_calloc(batch_max, sizeof *e->batch);
  if (!e->service || !e->batch) goto fail;
  memcpy(e->service, service, sl + 1);
  e->batch_max = batch_max;
  e->interval_ns = (uint64_t)flush_interval_ms * 1000000u;
  e->timeout_ns = (uint64_t)timeout_ms * 1000000u;
  /* The service name is checked the way every request will be encoded. */
  as_span_rec probe = {.span = {.name = "probe"}};
  char *body = NULL;
  rc = as_otlp_encode(&probe, 1, e->service, &body);
  as_free(body);
  if (rc != AS_OK) goto fail;
  rc = as_span_queue_new(&e->q, queue_capacity);
  if (rc != AS_OK) goto fail;
  rc = setup_handle(e, endpoint);
  if (rc != AS_OK) goto fail;
  atomic_init(&e->stopping, false);
  atomic_init(&e->drain_deadline_ns, AS_DEADLINE_NEVER);
  if (pthread_create(&e->thread, NULL, run, e) != 0) {
    rc = AS_SYS;
    goto fail;
  }
  *out = e;
  return AS_OK;
fail:
  exporter_free(e);
  return rc;
}

as_tracer as_otlp_exporter_tracer(as_otlp_exporter *e) {
  return as_span_queue_tracer(e ? e->q : NULL);
}

void as_otlp_exporter_stats(as_otlp_exporter *e, as_otlp_stats *out) {
  if (!out) return;
  memset(out, 0, sizeof *out);
  if (!e) return;
  as_span_queue_stats qs;
  as_span_queue_stats_get(e->q, &qs);
  out->accepted = qs.accepted;
  out->dropped = qs.dropped_full + qs.dropped_copy + atomic_load(&e->dropped_end);
  out->sent = atomic_load(&e->sent);
  out->failed = atomic_load(&e->failed);
  out->requests = atomic_load(&e->requests);
  out->requests_failed = atomic_load(&e->requests_failed);
  out->last_http = atomic_load(&e->last_http);
}

int as_otlp_exporter_stop(as_otlp_exporter *e, uint32_t drain_ms, as_otlp_stats *final) {
  if (final) memset(final, 0, sizeof *final);
  if (!e) return AS_INVAL;
  atomic_store(&e->drain_deadline_ns, as_now_mono_ns() + (uint64_t)drain_ms * 1000000u);
  atomic_store(&e->stopping, true);
  as_span_queue_close(e->q);
  if (pthread_join(e->thread, NULL) != 0) {
    /* The thread may still use e: leave it allocated rather than free it
    ** under a running thread. */
    as_log(AS_LOG_ERROR, "otlp export: the exporter thread could not be joined");
    return AS_SYS;
  }
  size_t left;
  as_span_queue_discard(e->q, &left); /* none unless the thread stopped early */
  atomic_fetch_add(&e->dropped_end, left);
  as_otlp_stats st;
  as_otlp_exporter_stats(e, &st);
  if (final) *final = st;
  exporter_free(e);
  return st.failed == 0 && st.dropped == 0 ? AS_OK : AS_IO;
}

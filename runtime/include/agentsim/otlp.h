/*
** otlp.h -- the real span exporter: OTLP/HTTP JSON over libcurl, in batches,
** from a background thread (runtime/posix/otlp_export.c).
**
** The runtime is handed as_otlp_exporter_tracer(): its emit only copies
** the span into a bounded queue (trace.h, as_span_queue) and never waits for
** the network; a full queue drops the span and counts it. A background
** thread pops batches (when batch_max spans are queued, or every
** flush_interval_ms) and POSTs each as one ExportTraceServiceRequest
** (Content-Type: application/json) with libcurl, each request bounded by
** timeout_ms (connect included). A 2xx answer counts the batch's spans as
** sent; any other answer, or a transport failure, counts them as failed
** (they are not retried: a collector that is down must not grow memory).
** Posix only: start it while the posix platform is current. The sim has the
** span sink of trace.h instead and never touches the network.
**
** Nothing it logs holds the endpoint (its user info or query may be a
** credential) nor a response body: only counts, HTTP statuses and libcurl's
** error names.
*/
#ifndef AGENTSIM_OTLP_H
#define AGENTSIM_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "agentsim/status.h"
#include "agentsim/trace.h"

#define AS_OTLP_BATCH_MAX 1024u          /* spans in one request, at most */
#define AS_OTLP_TIMEOUT_MAX_MS 60000u    /* one request's bound, at most */
#define AS_OTLP_INTERVAL_MAX_MS 600000u  /* flush interval, at most */
#define AS_OTLP_URL_MAX 2048u

typedef struct as_otlp_exporter as_otlp_exporter;

typedef struct as_otlp_stats {
  uint64_t accepted;  /* spans the queue took */
  uint64_t dropped;   /* spans the queue refused (full, closed, copy failed), or
                      ** still queued when stop's drain time ran out */
  uint64_t sent;      /* spans in batches answered 2xx */
  uint64_t failed;    /* spans in batches that failed (transport, non-2xx, or
                      ** too big to encode even alone) */
  uint64_t requests;  /* POSTs made */
  uint64_t requests_failed;
  long last_http;     /* last HTTP status seen (0: none yet, or no answer) */
} as_otlp_stats;

/* Start exporting to endpoint (http:// or https://, e.g.
** http://127.0.0.1:4318/v1/traces) as service `service`, into *out (the
** caller's: as_otlp_exporter_stop). queue_capacity 1 .. AS_SPAN_QUEUE_MAX,
** batch_max 1 .. AS_OTLP_BATCH_MAX, flush_interval_ms 1 ..
** AS_OTLP_INTERVAL_MAX_MS, timeout_ms 1 .. AS_OTLP_TIMEOUT_MAX_MS, else
** AS_INVAL (also for an endpoint that is not http(s) or longer than
** AS_OTLP_URL_MAX, or a service name as_otlp_encode refuses). AS_NOMEM,
** AS_SYS (libcurl or the thread could not start). Nothing is sent until a
** span is emitted. */
AS_WUR int as_otlp_exporter_start(as_otlp_exporter **out, const char *endpoint,
                                  const char *service, size_t queue_capacity, size_t batch_max,
                                  uint32_t flush_interval_ms, uint32_t timeout_ms);

/* The tracer to hand to the runtime (as_runtime.tracer); valid until stop.
** Its emit may be called from any thread. */
as_tracer as_otlp_exporter_tracer(as_otlp_exporter *e);

/* The counters so far (any thread, any time before stop). */
void as_otlp_exporter_stats(as_otlp_exporter *e, as_otlp_stats *out);

/* Stop accepting spans, send what is queued for at most drain_ms (each
** request's own bound is cut to what is left of it; what is still queued
** then is dropped and counted), join the thread and free everything. The
** final counters go to *final (may be NULL). AS_OK when every span accepted
** was sent; AS_IO when some failed or were dropped at the end (the counters
** say which); the exporter is freed either way. AS_SYS when the thread
** could not be joined: then nothing is freed (the thread may still use it)
** and stop may be called again. NULL is AS_INVAL. Emitting through its
** tracer after stop has begun is a programming error. */
AS_WUR int as_otlp_exporter_stop(as_otlp_exporter *e, uint32_t drain_ms, as_otlp_stats *final);

#endif /* AGENTSIM_OTLP_H */

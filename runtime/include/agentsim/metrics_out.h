/*
** metrics_out.h -- where an exposition (metrics.h) goes: a textfile
** collector's file, or a Prometheus Pushgateway (posix layer: libc and
** libcurl; runtime/posix/metrics_out.c).
**
** Errors come back as a status and one line in err (cap bytes, always
** NUL-terminated when cap > 0) naming the file or the URL and what failed.
*/
#ifndef AGENTSIM_METRICS_OUT_H
#define AGENTSIM_METRICS_OUT_H

#include <stddef.h>

#include "agentsim/status.h"

/* Longest job name; a job is [A-Za-z0-9_.-]+ (no escaping in the URL). */
#define AS_METRICS_JOB_MAX 128
/* Longest Pushgateway URL accepted. */
#define AS_METRICS_URL_MAX 2048
/* Most of a Pushgateway's answer kept for an error message. */
#define AS_METRICS_REPLY_MAX 512
/* Longest push timeout accepted (ms). */
#define AS_METRICS_TIMEOUT_MAX_MS 600000L

/* Replace the file at path with text, atomically: written to
** PATH.tmp.<pid>, synced, renamed over path, and the directory synced, so
** a reader (node_exporter's textfile collector) sees the old file or the
** new one, never half of one, also across power loss. On failure the
** temporary file is removed and path is unchanged. AS_INVAL (NULL or ""
** path, a path too long), AS_IO (with errno's reason in err). */
AS_WUR int as_metrics_write_textfile(const char *path, const char *text, char *err, size_t cap);

/* PUT text (exposition format 0.0.4) to the Pushgateway at url (http:// or
** https://, a base such as http://127.0.0.1:9091, no query) as
** URL/metrics/job/JOB, replacing that group's metrics. The whole exchange
** is bounded by timeout_ms (1 .. AS_METRICS_TIMEOUT_MAX_MS); redirects are
** not followed. AS_OK only on an HTTP 2xx answer. AS_INVAL for a bad url,
** job or timeout; AS_TIMEDOUT; AS_IO for a connection failure or a non-2xx
** answer (err has the status and the start of the answer); AS_NOMEM. */
AS_WUR int as_metrics_push(const char *url, const char *job, const char *text, long timeout_ms,
                           char *err, size_t cap);

#endif /* AGENTSIM_METRICS_OUT_H */

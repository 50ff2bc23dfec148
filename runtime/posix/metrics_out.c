/*
** metrics_out.c -- an exposition to a textfile collector's file or to a
** Pushgateway (metrics_out.h). Posix layer: libc's file calls and libcurl.
*/
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentsim/metrics_out.h"

static void say(char *err, size_t cap, const char *fmt, ...) AS_PRINTF(3, 4);
static void say(char *err, size_t cap, const char *fmt, ...) {
  if (!err || !cap) return;
  va_list ap;
  va_start(ap, fmt);
  (void)vsnprintf(err, cap, fmt, ap); /* ignore: a cut message still reads */
  va_end(ap);
}

/* --- the textfile ------------------------------------------------------------- */

static AS_WUR int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (w == 0) errno = EIO;
      return AS_IO;
    }
    p += w;
    n -= (size_t)w;
  }
  return AS_OK;
}

/* Sync the directory holding path, so the rename survives power loss. */
static AS_WUR int sync_dir(const char *path, char *err, size_t cap) {
  char dir[4096];
  const char *slash = strrchr(path, '/');
  if (!slash) {
    memcpy(dir, ".", 2);
  } else if (slash == path) {
    memcpy(dir, "/", 2);
  } else {
    size_t n = (size_t)(slash - path);
    memcpy(dir, path, n); /* n < strlen(path) < sizeof dir: checked by the caller */
    dir[n] = '\0';
  }
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    say(err, cap, "%s: cannot open its directory %s to sync it: %s", path, dir, strerror(errno));
    return AS_IO;
  }
  int rc = AS_OK;
  if (fsync(fd) != 0 && errno != EINVAL) { /* EINVAL: a file system that cannot sync dirs */
    say(err, cap, "%s: syncing its directory %s failed: %s", path, dir, strerror(errno));
    rc = AS_IO;
  }
  if (close(fd) != 0 && rc == AS_OK) {
    say(err, cap, "%s: closing its directory %s failed: %s", path, dir, strerror(errno));
    rc = AS_IO;
  }
  return rc;
}

int as_metrics_write_textfile(const char *path, const char *text, char *err, size_t cap) {
  if (err && cap) err[0] = '\0';
  if (!path || !*path || !text) {
    say(err, cap, "metrics: no file name given");
    return AS_INVAL;
  }
  char tmp[4096];
  int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  if ((size_t)n >= sizeof tmp) { /* snprintf cannot fail here: n >= 0 */
    say(err, cap, "%.200s...: the path is too long", path);
    return AS_INVAL;
  }
  int rc = AS_OK;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    say(err, cap, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    return AS_IO;
  }
  if (write_all(fd, text, strlen(text)) != AS_OK) {
    say(err, cap, "%s: writing %s failed: %s", path, tmp, strerror(errno));
    rc = AS_IO;
  } else if (fsync(fd) != 0) {
    say(err, cap, "%s: syncing %s failed: %s", path, tmp, strerror(errno));
    rc = AS_IO;
  }
  if (close(fd) != 0 && rc == AS_OK) {
    say(err, cap, "%s: closing %s failed: %s", path, tmp, strerror(errno));
    rc = AS_IO;
  }
  if (rc == AS_OK && rename(tmp, path) != 0) {
    say(err, cap, "%s: renaming %s over it failed: %s", path, tmp, strerror(errno));
    rc = AS_IO;
  }
  if (rc != AS_OK) {
    (void)unlink(tmp); /* ignore: the error above is the one to report */
    return rc;
  }
  return sync_dir(path, err, cap);
}

/* --- the Pushgateway ------------------------------------------------------------ */

typedef struct reply {
  char text[AS_METRICS_REPLY_MAX];
  size_t n;
} reply;

/* Keep the start of the answer (for an error message), drop the rest. */
static size_t on_body(char *p, size_t size, size_t nmemb, void *arg) {
  reply *r = arg;
  size_t n = size * nmemb;
  size_t room = sizeof r->text - 1 - r->n;
  size_t k = n < room ? n : room;
  memcpy(r->text + r->n, p, k);
  r->n += k;
  r->text[r->n] = '\0';
  return n;
}

static bool job_ok(const char *job) {
  size_t n = strlen(job);
  if (n == 0 || n > AS_METRICS_JOB_MAX) return false;
  for (size_t i = 0; i < n; i++) {
    char c = job[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '.' || c == '-'))
      return false;
  }
  return strcmp(job, ".") != 0 && strcmp(job, "..") != 0;
}

/* One line of the answer for a message: control bytes made spaces. */
static void flatten(char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20) *s = ' ';
}

#define SETOPT(h, opt, val)                                                     \
  do {                                                                          \
    if (cc == CURLE_OK) cc = curl_easy_setopt((h), (opt), (val));               \
  } while (0)

int as_metrics_push(const char *url, const char *job, const char *text, long timeout_ms,
                    char *err, size_t cap) {
  if (err && cap) err[0] = '\0';
  if (!url || !job || !text) {
    say(err, cap, "metrics push: no URL, job or text");
    return AS_INVAL;
  }
  size_t ulen = strlen(url);
  if (ulen > AS_METRICS_URL_MAX ||
      (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
      strpbrk(url, "?# \t\r\n")) {
    say(err, cap, "metrics push: '%.200s': expected the Pushgateway's http:// or https:// base "
                  "URL (no query, at most %d bytes)", url, AS_METRICS_URL_MAX);
    return AS_INVAL;
  }
  if (!job_ok(job)) {
    say(err, cap, "metrics push: job '%.200s': expected 1 to %d of A-Z a-z 0-9 _ . -", job,
        AS_METRICS_JOB_MAX);
    return AS_INVAL;
  }
  if (timeout_ms < 1 || timeout_ms > AS_METRICS_TIMEOUT_MAX_MS) {
    say(err, cap, "metrics push: timeout %ld ms: expected 1 to %ld", timeout_ms,
        AS_METRICS_TIMEOUT_MAX_MS);
    return AS_INVAL;
  }
  while (url[ulen - 1] == '/') ulen--; /* stops at "http:" at the latest */
  char full[AS_METRICS_URL_MAX + AS_METRICS_JOB_MAX + 32];
  static const char mid[] = "/metrics/job/";
  size_t jlen = strlen(job); /* ulen + jlen + sizeof mid <= sizeof full: checked above */
  memcpy(full, url, ulen);
  memcpy(full + ulen, mid, sizeof mid - 1);
  memcpy(full + ulen + sizeof mid - 1, job, jlen + 1);

  int rc = AS_OK;
  reply r = {{0}, 0};
  CURLcode cc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (cc != CURLE_OK) {
    say(err, cap, "metrics push %s: libcurl init failed: %s", full, curl_easy_strerror(cc));
    return cc == CURLE_OUT_OF_MEMORY ? AS_NOMEM : AS_INTERNAL;
  }
  CURL *h = curl_easy_init();
  struct curl_slist *hdr = NULL;
  if (!h) {
    say(err, cap, "metrics push %s: out of memory", full);
    rc = AS_NOMEM;
    goto out;
  }
  hdr = curl_slist_append(NULL, "Content-Type: text/plain; version=0.0.4; charset=utf-8");
  if (!hdr) {
    say(err, cap, "metrics push %s: out of memory", full);
    rc = AS_NOMEM;
    goto out;
  }
  cc = curl_easy_setopt(h, CURLOPT_URL, full);
  SETOPT(h, CURLOPT_PROTOCOLS_STR, "http,https");
  SETOPT(h, CURLOPT_CUSTOMREQUEST, "PUT");
  SETOPT(h, CURLOPT_POSTFIELDS, text);
  SETOPT(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(text));
  SETOPT(h, CURLOPT_HTTPHEADER, hdr);
  SETOPT(h, CURLOPT_TIMEOUT_MS, timeout_ms);
  SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  SETOPT(h, CURLOPT_NOSIGNAL, 1L);
  SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
  SETOPT(h, CURLOPT_WRITEFUNCTION, on_body);
  SETOPT(h, CURLOPT_WRITEDATA, &r);
  if (cc != CURLE_OK) {
    say(err, cap, "metrics push %s: libcurl refused an option: %s", full, curl_easy_strerror(cc));
    rc = cc == CURLE_OUT_OF_MEMORY ? AS_NOMEM : AS_INTERNAL;
    goto out;
  }
  cc = curl_easy_perform(h);
  if (cc != CURLE_OK) {
    say(err, cap, "metrics push %s: %s", full, curl_easy_strerror(cc));
    rc = cc == CURLE_OPERATION_TIMEDOUT ? AS_TIMEDOUT
         : cc == CURLE_OUT_OF_MEMORY    ? AS_NOMEM
                                        : AS_IO;
    goto out;
  }
  long status = 0;
  cc = curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (cc != CURLE_OK) {
    say(err, cap, "metrics push %s: no HTTP status: %s", full, curl_easy_strerror(cc));
    rc = AS_IO;
  } else if (status / 100 != 2) { /* not 2xx */
    flatten(r.text);
    say(err, cap, "metrics push %s: HTTP %ld%s%.200s", full, status, r.n ? ": " : "", r.text);
    rc = AS_IO;
  }
out:
  curl_slist_free_all(hdr);
  curl_easy_cleanup(h);
  curl_global_cleanup();
  return rc;
}

/*
** logcap.h -- a test platform's log hook that keeps what was logged (the
** posix log still gets every line), for tests whose threads log while the
** test reads: logcap_log as the platform's log, logcap_reset, logcap_has.
** The buffer starts over when full; a line longer than it keeps its head.
*/
#ifndef AGENTSIM_TESTS_LOGCAP_H
#define AGENTSIM_TESTS_LOGCAP_H

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "agentsim/seam.h"

static pthread_mutex_t logcap_mu = PTHREAD_MUTEX_INITIALIZER;
static char logcap_buf[1 << 18];
static size_t logcap_len;

static inline void logcap_log(as_log_level level, const char *msg) {
  pthread_mutex_lock(&logcap_mu);
  size_t k = strlen(msg);
  if (k > sizeof logcap_buf - 2) k = sizeof logcap_buf - 2;
  if (logcap_len + k + 2 > sizeof logcap_buf) logcap_len = 0;
  memcpy(logcap_buf + logcap_len, msg, k);
  logcap_len += k;
  logcap_buf[logcap_len++] = '\n';
  logcap_buf[logcap_len] = '\0';
  pthread_mutex_unlock(&logcap_mu);
  as_platform_posix.log(level, msg);
}

static inline void logcap_reset(void) {
  pthread_mutex_lock(&logcap_mu);
  logcap_len = 0;
  logcap_buf[0] = '\0';
  pthread_mutex_unlock(&logcap_mu);
}

/* Whether a line logged since the last reset holds what. */
static inline bool logcap_has(const char *what) {
  pthread_mutex_lock(&logcap_mu);
  bool v = strstr(logcap_buf, what) != NULL;
  pthread_mutex_unlock(&logcap_mu);
  return v;
}

#endif

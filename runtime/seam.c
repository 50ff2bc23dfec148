/*
** seam.c -- the platform pointer and the formatting half of logging.
*/
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agentsim/seam.h"

const as_platform *as__plat = &as_platform_posix;
int as__fault_armed = 0;

const as_platform *as_platform_set(const as_platform *p) {
  const as_platform *old = as__plat;
  as__plat = p ? p : &as_platform_posix;
  return old;
}

void as_fault_arm(int on) { as__fault_armed = on ? 1 : 0; }

const char *as_log_level_name(as_log_level level) {
  switch (level) {
  case AS_LOG_DEBUG: return "debug";
  case AS_LOG_INFO: return "info";
  case AS_LOG_WARN: return "warn";
  case AS_LOG_ERROR: return "error";
  }
  return "?";
}

void as_log(as_log_level level, const char *fmt, ...) {
  char buf[AS_LOG_MAX];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) {
    (void)snprintf(buf, sizeof buf, "(unformattable log message: %s)", fmt); /* ignore: cut is fine */
  } else if ((size_t)n >= sizeof buf) {
    memcpy(buf + sizeof buf - 4, "...", 4);
  }
  as__plat->log(level, buf);
}

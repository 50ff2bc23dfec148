/*
** fmt.c -- bounded string formatting (fmt.h).
*/
#include "agentsim/fmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

size_t as_appendf(char *buf, size_t cap, size_t len, const char *fmt, ...) {
  if (cap == 0 || len >= cap) return len;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + len, cap - len, fmt, ap);
  va_end(ap);
  if (n < 0) {
    buf[len] = '\0';
    return len;
  }
  if ((size_t)n >= cap - len) {
    if (cap >= 4) memcpy(buf + cap - 4, "...", 4);
    return cap - 1;
  }
  return len + (size_t)n;
}

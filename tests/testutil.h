/*
** testutil.h -- small, bounded text scanners for tests (the scanf family is
** banned: its numeric conversions are undefined on overflow).
*/
#ifndef AGENTSIM_TESTUTIL_H
#define AGENTSIM_TESTUTIL_H

#include <stddef.h>
#include <string.h>

/* Read 1..9 decimal digits at *p into *out and advance; 0 if none. */
static inline int tu_uint(const char **p, unsigned long *out) {
  const char *s = *p;
  unsigned long v = 0;
  int n = 0;
  while (*s >= '0' && *s <= '9') {
    if (n == 9) return 0;
    v = v * 10 + (unsigned long)(*s - '0');
    s++;
    n++;
  }
  if (n == 0) return 0;
  *out = v;
  *p = s;
  return 1;
}

/* Match the literal `lit` at *p and advance; 0 if it is not there. */
static inline int tu_lit(const char **p, const char *lit) {
  size_t n = strlen(lit);
  if (strncmp(*p, lit, n) != 0) return 0;
  *p += n;
  return 1;
}

static inline void tu_spaces(const char **p) {
  while (**p == ' ' || **p == '\t') (*p)++;
}

/* Copy the run of characters up to one in `stop` (or the end) into buf
** (cap bytes, NUL-terminated) and advance; 0 if empty or too long. */
static inline int tu_until(const char **p, const char *stop, char *buf, size_t cap) {
  size_t n = strcspn(*p, stop);
  if (n == 0 || n >= cap) return 0;
  memcpy(buf, *p, n);
  buf[n] = '\0';
  *p += n;
  return 1;
}

#endif

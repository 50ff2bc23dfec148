/* Clean: bounded replacements; strcpy( and atoi( named only in this comment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int my_strcpy(char *d, const char *s, size_t cap);

int clean(char *dst, size_t cap, const char *src) {
  (void)snprintf(dst, cap, "%s", src); /* ignore: a cut copy is fine here */
  return (int)strtoul(src, NULL, 10) + my_strcpy(dst, src, cap);
}

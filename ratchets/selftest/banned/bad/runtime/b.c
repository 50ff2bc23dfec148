/* Planted: five banned calls. Mentions in comments do not count: strcpy(a, b). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct s { int (*strcpy)(int); };

int planted(char *dst, const char *src, struct s *o) {
  strcpy(dst, src);
  sprintf(dst, "%s", src);
  int n = atoi(src);
  char *t = strtok(dst, ",");
  n += sscanf(src, "%d", &n);
  const char *str = "sprintf( inside a string is fine";
  (void)str;
  (void)t;
  return n + o->strcpy(1);
}

/*
** fuzz_common.c -- shared harness support (see fuzz_common.h).
*/
#include "fuzz_common.h"

#include <jansson.h>
#include <string.h>

void fuzz_init(void) {
  static int done;
  if (done) return;
  done = 1;
  json_object_seed(1);
}

char *fuzz_cstr(const uint8_t *data, size_t size) {
  if (size > FUZZ_MAX_INPUT) return NULL;
  char *s = malloc(size + 1);
  if (!s) return NULL;
  if (size) memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

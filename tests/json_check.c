/*
** json_check.c -- test helper: is the last line of stdin one strict JSON
** object (jansson, duplicate keys rejected), with the keys named on the
** command line? With --get KEY, print that key's value (strings bare).
**
** usage: json_check [--get KEY] [REQUIRED_KEY...]
** exit: 0 ok, 1 not JSON or a key missing, 2 usage.
*/
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUT (64u * 1024u * 1024u)

int main(int argc, char **argv) {
  const char *get = NULL;
  int first = 1;
  if (argc >= 3 && strcmp(argv[1], "--get") == 0) {
    get = argv[2];
    first = 3;
  }
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  if (!buf) return 2;
  size_t n;
  while ((n = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
    len += n;
    if (len + 1 == cap) {
      if (cap >= MAX_INPUT) {
        fprintf(stderr, "json_check: input over %u bytes\n", MAX_INPUT);
        free(buf);
        return 1;
      }
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        return 2;
      }
      buf = nb;
      cap *= 2;
    }
  }
  buf[len] = '\0';
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) buf[--len] = '\0';
  char *last = strrchr(buf, '\n');
  last = last ? last + 1 : buf;
  json_error_t err;
  json_t *root = json_loads(last, JSON_REJECT_DUPLICATES, &err);
  if (!root || !json_is_object(root)) {
    fprintf(stderr, "json_check: last line is not a JSON object: %s (column %d): %.200s\n",
            root ? "not an object" : err.text, err.column, last);
    json_decref(root);
    free(buf);
    return 1;
  }
  for (int i = first; i < argc; i++) {
    if (!json_object_get(root, argv[i])) {
      fprintf(stderr, "json_check: key '%s' missing in: %.300s\n", argv[i], last);
      json_decref(root);
      free(buf);
      return 1;
    }
  }
  int rc = 0;
  if (get) {
    json_t *v = json_object_get(root, get);
    if (!v) {
      fprintf(stderr, "json_check: key '%s' missing\n", get);
      rc = 1;
    } else if (json_is_string(v)) {
      printf("%s\n", json_string_value(v));
    } else {
      char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
      printf("%s\n", s ? s : "");
      free(s);
    }
  }
  json_decref(root);
  free(buf);
  return rc;
}

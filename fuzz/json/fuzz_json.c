/*
** fuzz_json.c -- the strict JSON layer (as_json_parse, runtime/core/json.c).
**
** Beyond crash-hunting it checks the layer's contract on every input:
** - a refusal is AS_PARSE with *out NULL and an error that places itself:
**   offset within the text, line and column those of the offset, a
**   non-empty reason that is valid UTF-8 and fits its buffer; the same
**   input is refused the same way twice;
** - it agrees with jansson alone (json_loadb, same flags): what it accepts
**   jansson accepts as an equal value, and what jansson accepts it refuses
**   only for nesting deeper than AS_JSON_MAX_DEPTH or for a NUL byte
**   (which jansson lets pass after a number);
** - an accepted value re-serialized (compact, member order kept) parses
**   again, to an equal value (or is refused as too big, when the numbers'
**   long forms pushed it past AS_JSON_MAX_BYTES).
*/
#include "fuzz_common.h"

#include <string.h>

#include "agentsim/json.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_init();
  return 0;
}

/* s[0..n) is valid UTF-8 (the reason is made for people and JSON). */
static int utf8_ok(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned char b = s[i];
    size_t len = b < 0x80 ? 1 : b >= 0xC2 && b < 0xE0 ? 2 : b >= 0xE0 && b < 0xF0 ? 3
               : b >= 0xF0 && b < 0xF5 ? 4 : 0;
    if (len == 0 || n - i < len) return 0;
    for (size_t k = 1; k < len; k++)
      if ((s[i + k] & 0xC0) != 0x80) return 0;
    i += len;
  }
  return 1;
}

static void check_refusal(const char *text, size_t size, const as_json_error *e) {
  FUZZ_CHECK(e->offset <= size);
  unsigned line, col;
  as_json_locate(text, size, e->offset, &line, &col);
  FUZZ_CHECK(e->line == line && e->column == col);
  size_t rlen = strnlen(e->reason, sizeof e->reason);
  FUZZ_CHECK(rlen > 0 && rlen < sizeof e->reason);
  FUZZ_CHECK(utf8_ok((const unsigned char *)e->reason, rlen));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > FUZZ_MAX_INPUT) return 0;
  const char *text = (const char *)data;
  json_t *v = (json_t *)1;
  as_json_error e;
  int rc = as_json_parse(text, size, &v, &e);
  json_error_t je;
  json_t *jv = json_loadb(text, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
  if (rc != AS_OK) {
    FUZZ_CHECK(rc == AS_PARSE);
    FUZZ_CHECK(v == NULL);
    check_refusal(text, size, &e);
    as_json_error e2;
    json_t *v2 = NULL;
    FUZZ_CHECK(as_json_parse(text, size, &v2, &e2) == rc);
    FUZZ_CHECK(e2.offset == e.offset && strcmp(e2.reason, e.reason) == 0);
    if (jv) {
      /* jansson alone lets a NUL byte after a number pass ("8\0", "[1\0]":
      ** crashes/jansson-accepts-nul-after-number); the layer does not. */
      int ours = strncmp(e.reason, "nesting deeper than", 19) == 0 ||
                 strncmp(e.reason, "NUL byte", 8) == 0;
      if (!ours) fprintf(stderr, "jansson accepts what we refuse: %s\n", e.reason);
      FUZZ_CHECK(ours);
    }
    json_decref(jv);
    return 0;
  }
  FUZZ_CHECK(v != NULL);
  if (!jv) fprintf(stderr, "jansson refuses what we accept: %s\n", je.text);
  FUZZ_CHECK(jv != NULL && json_equal(v, jv));
  json_decref(jv);
  char *again = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  FUZZ_CHECK(again != NULL);
  size_t alen = strlen(again);
  json_t *w = NULL;
  rc = as_json_parse(again, alen, &w, &e);
  if (alen > AS_JSON_MAX_BYTES) {
    FUZZ_CHECK(rc == AS_TOOBIG && w == NULL);
  } else {
    if (rc != AS_OK) fprintf(stderr, "re-parse of %.200s: %s at %zu\n", again, e.reason, e.offset);
    FUZZ_CHECK(rc == AS_OK && json_equal(v, w));
  }
  free(again);
  json_decref(w);
  json_decref(v);
  return 0;
}

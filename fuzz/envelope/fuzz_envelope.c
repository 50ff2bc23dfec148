/*
** fuzz_envelope.c -- the turn-output envelope search (as_envelope_parse,
** runtime/core/envelope.c) and as_confidence_reconcile.
**
** Input: the first byte chooses the shape. With its low bit set, the rest
** is "STRUCTURED\x1eTEXT" (split at the first 0x1E byte; none: all
** structured); else the rest is the text alone. Bit 1 makes the structured
** part empty-but-present (slen 0 with a pointer), bit 2 the text NULL.
**
** Beyond crash-hunting it checks on every input:
** - the answer is AS_OK or AS_NOTFOUND, the same twice;
** - found: content and rationale are owned C strings of valid UTF-8,
**   confidence is in [0,1], the signal is empty or 1..63 bytes of
**   [a-z0-9_-], `from` names a source that was given (STRUCTURED only with
**   a structured part, MESSAGE only when the whole text is strict JSON);
**   the envelope written back as JSON is found again, equal, as MESSAGE;
** - not found: *out left zeroed; the reason starts "envelope_missing: ", is
**   valid UTF-8 and fits; the position is that of its offset in the
**   structured part or the text;
** - reconcile returns one of its two inputs, the envelope's exactly when
**   they lie within the tolerance.
*/
#include "fuzz_common.h"

#include <math.h>
#include <string.h>

#include "agentsim/envelope.h"
#include "agentsim/json.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_init();
  return 0;
}

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

static int placed_in(const char *t, size_t n, const as_json_error *e) {
  if (!t || e->offset > n) return 0;
  unsigned line, col;
  as_json_locate(t, n, e->offset, &line, &col);
  return line == e->line && col == e->column;
}

static void check_found(const as_envelope *env, const char *st, size_t slen, const char *text,
                        size_t tlen) {
  FUZZ_CHECK(env->content && env->rationale);
  FUZZ_CHECK(utf8_ok((const unsigned char *)env->content, strlen(env->content)));
  FUZZ_CHECK(utf8_ok((const unsigned char *)env->rationale, strlen(env->rationale)));
  FUZZ_CHECK(isfinite(env->confidence) && env->confidence >= 0.0 && env->confidence <= 1.0);
  size_t sl = strnlen(env->signal, sizeof env->signal);
  FUZZ_CHECK(sl < sizeof env->signal);
  for (size_t i = 0; i < sl; i++) {
    char c = env->signal[i];
    FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
  }
  FUZZ_CHECK((unsigned)env->from < AS__ENV_FROM_COUNT);
  FUZZ_CHECK(env->from != AS_ENV_FROM_STRUCTURED || (st && slen));
  FUZZ_CHECK(env->from == AS_ENV_FROM_STRUCTURED || (text && tlen));
  if (env->from == AS_ENV_FROM_MESSAGE) {
    json_t *v = NULL;
    FUZZ_CHECK(as_json_parse(text, tlen, &v, NULL) == AS_OK);
    json_decref(v);
  }
  /* Written back as JSON, it is found again, the same. */
  json_t *o = json_object();
  FUZZ_CHECK(o != NULL);
  int bad = json_object_set_new(o, "content", json_string(env->content));
  bad |= json_object_set_new(o, "confidence", json_real(env->confidence));
  bad |= json_object_set_new(o, "rationale", json_string(env->rationale));
  if (sl) bad |= json_object_set_new(o, "signal", json_string(env->signal));
  FUZZ_CHECK(bad == 0);
  char *js = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  FUZZ_CHECK(js != NULL);
  as_envelope back;
  as_json_error e;
  int rc = as_envelope_parse(NULL, 0, js, strlen(js), &back, &e);
  if (rc != AS_OK) fprintf(stderr, "written back: %.200s: %s\n", js, e.reason);
  FUZZ_CHECK(rc == AS_OK);
  FUZZ_CHECK(back.from == AS_ENV_FROM_MESSAGE);
  FUZZ_CHECK(strcmp(back.content, env->content) == 0 && strcmp(back.rationale, env->rationale) == 0);
  FUZZ_CHECK(back.confidence == env->confidence && strcmp(back.signal, env->signal) == 0);
  as_envelope_clear(&back);
  free(js);
}

static void check_missing(const as_envelope *env, const as_json_error *e, const char *st,
                          size_t slen, const char *text, size_t tlen) {
  FUZZ_CHECK(env->content == NULL && env->rationale == NULL && env->signal[0] == '\0');
  size_t rlen = strnlen(e->reason, sizeof e->reason);
  FUZZ_CHECK(rlen < sizeof e->reason);
  FUZZ_CHECK(strncmp(e->reason, AS_ENVELOPE_MISSING ": ", 18) == 0);
  FUZZ_CHECK(utf8_ok((const unsigned char *)e->reason, rlen));
  FUZZ_CHECK(placed_in(st, slen, e) || placed_in(text, tlen, e) ||
             (e->offset == 0 && e->line == 1 && e->column == 1));
}

static void check_reconcile(const uint8_t *data, size_t size) {
  if (size < 4) return;
  double a = (data[0] | data[1] << 8) / 65535.0, b = (data[2] | data[3] << 8) / 65535.0;
  bool mm = false;
  double r = as_confidence_reconcile(a, b, &mm);
  FUZZ_CHECK(r == (mm ? b : a));
  FUZZ_CHECK(mm == (fabs(a - b) > AS_CONFIDENCE_TOLERANCE + 1e-9));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0 || size > FUZZ_MAX_INPUT) return 0;
  unsigned mode = data[0];
  const char *rest = (const char *)data + 1;
  size_t n = size - 1;
  const char *st = NULL, *text = rest;
  size_t slen = 0, tlen = n;
  if (mode & 1) {
    const char *sep = memchr(rest, 0x1E, n);
    st = rest;
    slen = sep ? (size_t)(sep - rest) : n;
    text = sep ? sep + 1 : NULL;
    tlen = sep ? n - slen - 1 : 0;
  }
  if (mode & 2) {
    st = rest;
    slen = 0;
  }
  if (mode & 4) {
    text = NULL;
    tlen = 0;
  }
  as_envelope env;
  as_json_error e;
  int rc = as_envelope_parse(st, slen, text, tlen, &env, &e);
  FUZZ_CHECK(rc == AS_OK || rc == AS_NOTFOUND);
  as_envelope env2;
  as_json_error e2;
  int rc2 = as_envelope_parse(st, slen, text, tlen, &env2, &e2);
  FUZZ_CHECK(rc2 == rc);
  if (rc == AS_OK) {
    FUZZ_CHECK(strcmp(env.content, env2.content) == 0 && env.from == env2.from);
    check_found(&env, st, slen, text, tlen);
  } else {
    FUZZ_CHECK(strcmp(e.reason, e2.reason) == 0 && e.offset == e2.offset);
    check_missing(&env, &e, st, slen, text, tlen);
  }
  as_envelope_clear(&env);
  as_envelope_clear(&env2);
  check_reconcile(data, size);
  return 0;
}

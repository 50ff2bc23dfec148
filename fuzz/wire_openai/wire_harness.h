/*
** wire_harness.h -- the body of the wire_openai and wire_ollama harnesses
** (runtime/core/llm_wire_parse.c: as_wire_parser_* and as_wire_http_error),
** included by each with WIRE_KIND set to its format.
**
** Input: the first byte is the mode -- bit 0 a stream (SSE for OpenAI,
** NDJSON for Ollama) rather than one body, bit 1 structured output asked
** for, bits 2..7 the seed of a random split; the rest is the response's
** bytes.
**
** Beyond crash-hunting it checks on every input:
** - the bytes fed whole, a byte at a time and in the seed's random pieces
**   give the same answer (status, error kind and message, every field of
**   the response): no split changes anything;
** - a refusal: a status the contract allows, with the kind that goes with
**   it (none for AS_TOOBIG and AS_NOMEM, else the kind's own status), a
**   non-empty UTF-8 message that fits, an empty response; a later feed
**   fails the same way (sticky);
** - an answer respects every cap: a text of at most 64 KiB of UTF-8 with no
**   NUL, at most 16 calls, each with a NUL-terminated id and non-empty
**   name that fit and arguments of at most 64 KiB; a structured output only
**   when asked for, equal to the text and a strict JSON object; a finish
**   reason in range; usage buckets in 0 .. AS_TOKENS_MAX; a call whose wire
**   name is in the tool map comes back qualified;
** - as_wire_http_error on the same bytes as a body (status and Retry-After
**   taken from the input): the kind's status, a message "HTTP N..." that
**   fits, a wait of at most a day and only for 429.
*/
#include "fuzz_common.h"

#include <string.h>

#include <jansson.h>

#include "agentsim/budget.h"
#include "agentsim/json.h"
#include "agentsim/llm_wire.h"
#include "agentsim/seam.h"

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

/* The tool map the answers are read against: a clash and a sanitised name. */
static as_wire_names names;

static void names_init(void) {
  static const as_llm_tool tools[] = {
      {"fs:read", "Read a file", "{\"type\":\"object\"}"},
      {"fs_read", NULL, NULL},
      {"srv.get logs", NULL, NULL},
  };
  as_llm_request req;
  memset(&req, 0, sizeof req);
  req.tools = tools;
  req.ntools = 3;
  as_wire_opts o = {WIRE_KIND, "m", false, false};
  char *body = NULL;
  size_t len = 0;
  FUZZ_CHECK(as_wire_build(&o, &req, &body, &len, &names) == AS_OK);
  as_free(body);
}

typedef struct answer {
  int rc;
  as_llm_error err;
  as_llm_response r;
} answer;

static uint64_t lcg(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return *s >> 33;
}

/* mode 0: whole; 1: a byte at a time; 2: pieces of 1..64 bytes from seed. */
static void parse(const as_wire_opts *o, const char *in, size_t n, int mode, uint64_t seed,
                  answer *a) {
  as_wire_parser *p = NULL;
  as_llm_error fe;
  memset(a, 0, sizeof *a);
  FUZZ_CHECK(as_wire_parser_new(&p, o, &names) == AS_OK);
  int rc = AS_OK;
  for (size_t i = 0; i < n && rc == AS_OK;) {
    size_t k = mode == 0 ? n : mode == 1 ? 1 : 1 + lcg(&seed) % 64;
    if (k > n - i) k = n - i;
    rc = as_wire_parser_feed(p, in + i, k, &fe);
    i += k;
  }
  a->rc = as_wire_parser_finish(p, &a->r, &a->err);
  /* sticky: after a failed feed, finish and another feed fail as it did */
  as_llm_error again;
  int arc = rc == AS_OK ? AS_OK : as_wire_parser_feed(p, "\n", 1, &again);
  FUZZ_CHECK(rc == AS_OK || (a->rc == rc && a->err.kind == fe.kind &&
                             strcmp(a->err.message, fe.message) == 0 && arc == rc &&
                             memcmp(&again, &fe, sizeof again) == 0));
  as_wire_parser_free(p);
}

static int same(const answer *a, const answer *b) {
  if (a->rc != b->rc || a->err.kind != b->err.kind || strcmp(a->err.message, b->err.message))
    return 0;
  const as_llm_response *x = &a->r, *y = &b->r;
  if ((x->text == NULL) != (y->text == NULL) || (x->text && strcmp(x->text, y->text))) return 0;
  if ((x->structured == NULL) != (y->structured == NULL) ||
      (x->structured && strcmp(x->structured, y->structured)))
    return 0;
  if (x->ncalls != y->ncalls || x->finish != y->finish || x->usage_known != y->usage_known ||
      memcmp(&x->usage, &y->usage, sizeof x->usage))
    return 0;
  for (size_t i = 0; i < x->ncalls; i++)
    if (strcmp(x->calls[i].id, y->calls[i].id) || strcmp(x->calls[i].name, y->calls[i].name) ||
        strcmp(x->calls[i].args, y->calls[i].args))
      return 0;
  return 1;
}

static void check_refusal(const answer *a) {
  static const int typed[] = {
#define WIRE__ST(NAME, name, st) st,
      AS_LLM_ERROR_MAP(WIRE__ST)
#undef WIRE__ST
  };
  const as_llm_error *e = &a->err;
  size_t ml = strnlen(e->message, sizeof e->message);
  FUZZ_CHECK(ml > 0 && ml < sizeof e->message && utf8_ok((const unsigned char *)e->message, ml));
  if (a->rc == AS_TOOBIG || a->rc == AS_NOMEM) {
    FUZZ_CHECK(e->kind == AS_LLM_ERR_NONE);
  } else {
    FUZZ_CHECK(e->kind > AS_LLM_ERR_NONE && e->kind < AS__LLM_ERR_COUNT);
    FUZZ_CHECK(a->rc == typed[e->kind - 1]);
  }
  FUZZ_CHECK(e->http_status == 0 && e->retry_after_ns == 0);
  FUZZ_CHECK(!a->r.text && !a->r.calls && !a->r.ncalls && !a->r.structured);
}

static int is_wire_only(const char *name) {
  for (size_t i = 0; i < names.n; i++)
    if (strcmp(names.qualified[i], name) == 0) return 0;
  for (size_t i = 0; i < names.n; i++)
    if (strcmp(names.wire[i], name) == 0) return 1;
  return 0;
}

static void check_answer(const as_wire_opts *o, const as_llm_response *r) {
  if (r->text) {
    size_t n = strlen(r->text);
    FUZZ_CHECK(n > 0 && n <= AS_LLM_TEXT_MAX && utf8_ok((const unsigned char *)r->text, n));
  }
  FUZZ_CHECK(r->ncalls <= AS_LLM_CALLS_MAX && (r->ncalls == 0) == (r->calls == NULL));
  for (size_t i = 0; i < r->ncalls; i++) {
    const as_llm_tool_call *c = &r->calls[i];
    size_t il = strnlen(c->id, sizeof c->id), nl = strnlen(c->name, sizeof c->name);
    FUZZ_CHECK(il > 0 && il < sizeof c->id && nl > 0 && nl < sizeof c->name);
    FUZZ_CHECK(c->args && strlen(c->args) > 0 && strlen(c->args) <= AS_LLM_ARGS_MAX);
    FUZZ_CHECK(!is_wire_only(c->name));
  }
  if (r->structured) {
    FUZZ_CHECK(o->structured && r->text && strcmp(r->structured, r->text) == 0);
    json_t *v = NULL;
    FUZZ_CHECK(as_json_parse(r->structured, strlen(r->structured), &v, NULL) == AS_OK);
    FUZZ_CHECK(json_is_object(v));
    json_decref(v);
  }
  FUZZ_CHECK((unsigned)r->finish < AS__LLM_FINISH_COUNT);
  const int64_t b[] = {r->usage.input_tokens, r->usage.cache_read_tokens,
                       r->usage.cache_write_tokens, r->usage.output_tokens};
  for (size_t i = 0; i < 4; i++) FUZZ_CHECK(b[i] >= 0 && b[i] <= AS_TOKENS_MAX);
  if (!r->usage_known) FUZZ_CHECK(b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0);
}

static void check_http(const uint8_t *data, size_t size, const char *body, size_t n) {
  static const int statuses[] = {429, 408, 500, 503, 400, 404, 302};
  int status = statuses[(size ? data[0] : 0) % 7];
  char ra[40];
  size_t k = strnlen(body, n < sizeof ra - 1 ? n : sizeof ra - 1);
  memcpy(ra, body, k);
  ra[k] = '\0';
  as_llm_error e;
  /* 2015-10-21T07:28:00Z; the same bytes as the Date header, one input in two */
  const char *date = size > 1 && (data[1] & 1) ? ra : NULL;
  int rc = as_wire_http_error(status, ra, date, body, n, 1445412480ll * 1000000000ll, &e);
  FUZZ_CHECK(e.http_status == status && e.kind > AS_LLM_ERR_NONE);
  FUZZ_CHECK(rc == (status == 429   ? AS_BUSY
                    : status == 408 ? AS_TIMEDOUT
                    : status < 400 || status >= 500 ? AS_IO
                                                    : AS_INVAL));
  size_t ml = strnlen(e.message, sizeof e.message);
  FUZZ_CHECK(ml < sizeof e.message && strncmp(e.message, "HTTP ", 5) == 0);
  FUZZ_CHECK(utf8_ok((const unsigned char *)e.message, ml));
  FUZZ_CHECK(e.retry_after_ns <= 86400ull * 1000000000ull);
  FUZZ_CHECK(status == 429 || e.retry_after_ns == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > FUZZ_MAX_INPUT) return 0;
  if (!names.n) names_init();
  as_wire_opts o = {WIRE_KIND, "m", (data[0] & 1) != 0, (data[0] & 2) != 0};
  const char *in = (const char *)data + 1;
  size_t n = size - 1;
  answer whole, bytes, split;
  parse(&o, in, n, 0, 0, &whole);
  parse(&o, in, n, 1, 0, &bytes);
  parse(&o, in, n, 2, (uint64_t)(data[0] >> 2) + 1, &split);
  if (!same(&whole, &bytes) || !same(&whole, &split))
    fprintf(stderr, "splits differ: %s '%s' / %s '%s' / %s '%s'\n", as_status_name(whole.rc),
            whole.err.message, as_status_name(bytes.rc), bytes.err.message,
            as_status_name(split.rc), split.err.message);
  FUZZ_CHECK(same(&whole, &bytes) && same(&whole, &split));
  if (whole.rc == AS_OK) check_answer(&o, &whole.r);
  else check_refusal(&whole);
  as_llm_response_clear(&whole.r);
  as_llm_response_clear(&bytes.r);
  as_llm_response_clear(&split.r);
  char *body = fuzz_cstr(data + 1, n);
  if (body) check_http(data, size, body, n);
  free(body);
  return 0;
}

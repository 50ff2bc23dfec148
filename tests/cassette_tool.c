/*
** cassette_tool.c -- the cassette generator's helper (tests/cassette_gen.py):
**   cassette_tool key KIND PATH < BODY        the key of a request (hex)
**   cassette_tool record DIR KIND BASE MODEL STREAM
**                                             one fixed request to a real peer
**                                             through the provider, recorded
**   cassette_tool check DIR                   load and validate; the count
**   cassette_tool replay DIR                  the fixed request replayed
**                                             through the cassette provider
** The fixed request (fixed_request) is the one test_cassette_llm replays.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/llm_http.h"
#include "agentsim/seam.h"
#include "cassette.h"
#include "cassette_fixed.h"

static int kind_of(const char *s, as_wire_kind *k) {
  if (strcmp(s, "openai") == 0) *k = AS_WIRE_OPENAI;
  else if (strcmp(s, "ollama") == 0) *k = AS_WIRE_OLLAMA;
  else return 1;
  return 0;
}

static void show(int rc, const as_llm_response *out, const as_llm_error *err) {
  if (rc != AS_OK) {
    printf("error %s: %s\n", as_llm_error_name(err->kind), err->message);
    return;
  }
  printf("ok finish=%s text=%s calls=%zu usage=%s %lld/%lld/%lld/%lld\n",
         as_llm_finish_name(out->finish), out->text ? out->text : "(none)", out->ncalls,
         out->usage_known ? "known" : "unknown", (long long)out->usage.input_tokens,
         (long long)out->usage.cache_read_tokens, (long long)out->usage.cache_write_tokens,
         (long long)out->usage.output_tokens);
}

int main(int argc, char **argv) {
  char err[AS_CASSETTE_ERR_MAX];
  as_wire_kind kind;
  if (argc == 4 && strcmp(argv[1], "key") == 0 && !kind_of(argv[2], &kind)) {
    static char body[AS_CASSETTE_BODY_MAX];
    size_t n = fread(body, 1, sizeof body, stdin);
    printf("%016llx\n", (unsigned long long)as_cassette_key(kind, argv[3], body, n));
    return 0;
  }
  if (as_http_global_init() != AS_OK) return 3;
  if (argc == 7 && strcmp(argv[1], "record") == 0 && !kind_of(argv[3], &kind)) {
    as_cassette_meta m = {.kind = kind, .stream = strcmp(argv[6], "1") == 0};
    snprintf(m.model, sizeof m.model, "%s", argv[5]);
    snprintf(m.base_url, sizeof m.base_url, "%s", argv[4]);
    snprintf(m.agentsim, sizeof m.agentsim, "0.1.0");
    as_cassette_recorder *r = NULL;
    if (as_cassette_recorder_new(&r, argv[2], &m, err, sizeof err) != AS_OK) {
      fprintf(stderr, "%s\n", err);
      return 2;
    }
    as_llm_http_cfg cfg = {.kind = kind, .base_url = m.base_url, .model = m.model,
                           .stream = m.stream, .tap = as_cassette_recorder_tap(r)};
    as_llm llm;
    if (as_llm_http_new(&cfg, &llm, err, sizeof err) != AS_OK) {
      fprintf(stderr, "%s\n", err);
      return 2;
    }
    as_llm_request req = fixed_request();
    as_llm_response out;
    as_llm_error e;
    int rc = as_llm_complete(&llm, &req, &out, &e);
    show(rc, &out, &e);
    as_llm_response_clear(&out);
    as_llm_destroy(&llm);
    size_t n = as_cassette_recorder_count(r);
    as_cassette_recorder_free(r);
    return n == 1 ? 0 : 1;
  }
  if (argc == 3 && (strcmp(argv[1], "check") == 0 || strcmp(argv[1], "replay") == 0)) {
    if (strcmp(argv[1], "check") == 0) {
      as_cassette *c = NULL;
      if (as_cassette_load(argv[2], &c, err, sizeof err) != AS_OK) {
        fprintf(stderr, "%s\n", err);
        return 2;
      }
      printf("%zu exchanges\n", c->n);
      as_cassette_free(c);
      return 0;
    }
    as_llm llm;
    if (as_cassette_llm_new(argv[2], &llm, err, sizeof err) != AS_OK) {
      fprintf(stderr, "%s\n", err);
      return 2;
    }
    as_llm_request req = fixed_request();
    as_llm_response out;
    as_llm_error e;
    int rc = as_llm_complete(&llm, &req, &out, &e);
    show(rc, &out, &e);
    as_llm_response_clear(&out);
    as_llm_destroy(&llm);
    return 0;
  }
  fprintf(stderr, "usage: cassette_tool key KIND PATH | record DIR KIND BASE MODEL STREAM | "
                  "check DIR | replay DIR\n");
  return 2;
}

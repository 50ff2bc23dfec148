/*
** cassette_llm.c -- the cassette provider (cassette.h): the real HTTP
** provider (llm_http.h) with the replay as its network, so the client,
** the wire formats and their parsers run on the recorded bytes.
*/
#include <stdio.h>
#include <string.h>

#include "agentsim/llm_http.h"
#include "agentsim/seam.h"
#include "cassette_int.h"

typedef struct cas_llm {
  as_cassette *owned; /* made from a directory: freed with the provider */
  const as_cassette *c;
  as_cassette_net *net;
  as_llm inner;
  char model[AS_CASSETTE_MODEL_MAX];
} cas_llm;

static int cas_complete(void *self, const as_llm_request *req, as_llm_response *out,
                        as_llm_error *err) {
  cas_llm *l = self;
  return l->inner.vt->complete(l->inner.self, req, out, err);
}

static void cas_destroy(void *self) {
  cas_llm *l = self;
  if (l->inner.vt) as_llm_destroy(&l->inner);
  as_cassette_net_free(l->net);
  as_cassette_free(l->owned);
  as_free(l);
}

static const as_llm_vtable cas_vt = {"cassette", cas_complete, cas_destroy};

static AS_WUR int make(as_cassette *owned, const as_cassette *c, as_llm *out, char *err,
                       size_t cap) {
  cas_llm *l = as_calloc(1, sizeof *l);
  if (!l) {
    as_cassette_free(owned);
    return AS_NOMEM;
  }
  l->owned = owned;
  l->c = c;
  snprintf(l->model, sizeof l->model, "%s", c->meta.model);
  int rc = as_cassette_net_new(&l->net, c);
  if (rc == AS_OK) {
    as_llm_http_cfg cfg = {.kind = c->meta.kind,
                           .base_url = c->meta.base_url,
                           .model = c->meta.model,
                           .stream = c->meta.stream,
                           .structured = c->meta.structured,
                           .net = as_cassette_net_get(l->net)};
    rc = as_llm_http_new(&cfg, &l->inner, err, cap);
    if (rc != AS_OK) l->inner = (as_llm){0};
  }
  if (rc != AS_OK) {
    cas_destroy(l);
    return rc;
  }
  *out = (as_llm){.vt = &cas_vt, .self = l, .timeout_ns = 0, .model = l->model};
  return AS_OK;
}

int as_cassette_llm_from(const as_cassette *c, as_llm *out, char *err, size_t cap) {
  if (err && cap) err[0] = '\0';
  if (!out) return AS_INVAL;
  *out = (as_llm){0};
  if (!c) return AS_INVAL;
  return make(NULL, c, out, err, cap);
}

int as_cassette_llm_new(const char *dir, as_llm *out, char *err, size_t cap) {
  if (err && cap) err[0] = '\0';
  if (!out) return AS_INVAL;
  *out = (as_llm){0};
  as_cassette *c = NULL;
  int rc = as_cassette_load(dir, &c, err, cap);
  if (rc != AS_OK) return rc;
  return make(c, c, out, err, cap);
}

int as_cassette_llm_taken(as_llm *llm, const as_cassette_exchange **x, char *msg, size_t cap) {
  if (!llm || llm->vt != &cas_vt) {
    if (x) *x = NULL;
    return AS_INVAL;
  }
  cas_llm *l = llm->self;
  return as_cassette_net_taken(l->net, x, msg, cap);
}

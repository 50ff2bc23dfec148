/*
** spec.c -- the --llm SPEC parser and opener (spec.h).
*/
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agentsim/fmt.h"
#include "agentsim/seam.h"
#include "num.h"
#include "agentsim/llm_http.h"
#include "cassette.h"
#include "spec.h"

/* The version a recording names (cassette.json "agentsim"): the build's. */
#ifndef AS_SPEC_VERSION
#define AS_SPEC_VERSION "?"
#endif

static const char *const kind_names[] = {"stub", "openai", "ollama", "record", "cassette"};

const char *as_llm_spec_kind_name(as_llm_spec_kind k) {
  return (unsigned)k < sizeof kind_names / sizeof *kind_names ? kind_names[k] : "?";
}

static AS_WUR int fail(char *err, size_t cap, int rc, size_t pos, const char *fmt, ...)
    AS_PRINTF(5, 6);
static int fail(char *err, size_t cap, int rc, size_t pos, const char *fmt, ...) {
  if (err && cap) {
    size_t n = as_appendf(err, cap, 0, "--llm: at position %zu: ", pos + 1);
    va_list ap;
    va_start(ap, fmt);
    if (n < cap) (void)vsnprintf(err + n, cap - n, fmt, ap); /* ignore: a cut message reads */
    va_end(ap);
  }
  return rc;
}

/* Copy s[0..n) into dst[cap]; AS_TOOBIG when it does not fit. */
static AS_WUR int copy(char *dst, size_t cap, const char *s, size_t n) {
  if (n >= cap) return AS_TOOBIG;
  memcpy(dst, s, n);
  dst[n] = '\0';
  return AS_OK;
}

/* The HTTP forms: KIND:BASE_URL[,OPT...] starting at text[at]. */
static AS_WUR int parse_http(const char *text, size_t at, as_llm_http_spec *h, char *err,
                             size_t cap) {
  const char *s = text + at;
  memset(h, 0, sizeof *h);
  size_t klen = strcspn(s, ":");
  if (klen == 6 && strncmp(s, "openai", 6) == 0) h->kind = AS_SPEC_OPENAI;
  else if (klen == 6 && strncmp(s, "ollama", 6) == 0) h->kind = AS_SPEC_OLLAMA;
  else
    return fail(err, cap, AS_PARSE, at, "expected openai:BASE_URL or ollama:BASE_URL");
  if (s[klen] != ':') return fail(err, cap, AS_PARSE, at + klen, "expected ':' and a BASE_URL");
  size_t p = klen + 1;
  size_t ulen = strcspn(s + p, ",");
  if (ulen == 0) return fail(err, cap, AS_PARSE, at + p, "expected a BASE_URL (http://HOST:PORT)");
  if (strncmp(s + p, "http://", 7) != 0 && strncmp(s + p, "https://", 8) != 0)
    return fail(err, cap, AS_PARSE, at + p, "expected a BASE_URL starting http:// or https://");
  if (copy(h->base_url, sizeof h->base_url, s + p, ulen) != AS_OK)
    return fail(err, cap, AS_TOOBIG, at + p, "BASE_URL longer than %d bytes", AS_SPEC_PATH_MAX - 1);
  p += ulen;
  while (s[p] == ',') {
    p++;
    size_t olen = strcspn(s + p, ",");
    const char *o = s + p;
    if (olen == 6 && strncmp(o, "stream", 6) == 0) {
      h->stream = true;
    } else if (olen == 10 && strncmp(o, "structured", 10) == 0) {
      h->structured = true;
    } else if (olen > 6 && strncmp(o, "model=", 6) == 0) {
      if (copy(h->model, sizeof h->model, o + 6, olen - 6) != AS_OK)
        return fail(err, cap, AS_TOOBIG, at + p, "model longer than %d bytes", AS_SPEC_NAME_MAX - 1);
    } else if (olen > 8 && strncmp(o, "key_env=", 8) == 0) {
      for (size_t i = 8; i < olen; i++)
        if (!((o[i] >= 'A' && o[i] <= 'Z') || (o[i] >= 'a' && o[i] <= 'z') || o[i] == '_' ||
              (i > 8 && o[i] >= '0' && o[i] <= '9')))
          return fail(err, cap, AS_PARSE, at + p + i,
                      "key_env: expected an environment variable's name (A-Z a-z 0-9 _)");
      if (copy(h->key_env, sizeof h->key_env, o + 8, olen - 8) != AS_OK)
        return fail(err, cap, AS_TOOBIG, at + p, "key_env longer than %d bytes",
                    AS_SPEC_NAME_MAX - 1);
    } else if (olen > 8 && strncmp(o, "timeout=", 8) == 0) {
      if (sim_parse_duration(o + 8, olen - 8, 0, &h->timeout_ns) != AS_OK || h->timeout_ns == 0)
        return fail(err, cap, AS_PARSE, at + p + 8, "timeout: expected a duration such as 30s");
    } else {
      return fail(err, cap, AS_PARSE, at + p,
                  "expected model=M, key_env=VAR, stream, structured or timeout=DUR");
    }
    p += olen;
  }
  return AS_OK;
}

int as_llm_spec_parse(const char *text, as_llm_spec *out, char *err, size_t cap) {
  if (err && cap) err[0] = '\0';
  if (!text || !out) return AS_INVAL;
  memset(out, 0, sizeof *out);
  size_t len = strlen(text);
  if (len > AS_SPEC_TEXT_MAX)
    return fail(err, cap, AS_TOOBIG, AS_SPEC_TEXT_MAX, "the spec is longer than %u bytes",
                AS_SPEC_TEXT_MAX);
  size_t klen = strcspn(text, ":");
  if (text[klen] != ':')
    return fail(err, cap, AS_PARSE, 0,
                "expected stub:SCRIPT, openai:URL, ollama:URL, record:DIR,SPEC or cassette:DIR");
  const char *rest = text + klen + 1;
  if (klen == 4 && strncmp(text, "stub", 4) == 0) {
    out->kind = AS_SPEC_STUB;
    if (!*rest) return fail(err, cap, AS_PARSE, klen + 1, "expected a SCRIPT file after 'stub:'");
    if (copy(out->path, sizeof out->path, rest, strlen(rest)) != AS_OK)
      return fail(err, cap, AS_TOOBIG, klen + 1, "SCRIPT longer than %d bytes", AS_SPEC_PATH_MAX - 1);
    return AS_OK;
  }
  if (klen == 8 && strncmp(text, "cassette", 8) == 0) {
    out->kind = AS_SPEC_CASSETTE;
    if (!*rest) return fail(err, cap, AS_PARSE, klen + 1, "expected a DIR after 'cassette:'");
    if (copy(out->path, sizeof out->path, rest, strlen(rest)) != AS_OK)
      return fail(err, cap, AS_TOOBIG, klen + 1, "DIR longer than %d bytes", AS_SPEC_PATH_MAX - 1);
    return AS_OK;
  }
  if (klen == 6 && strncmp(text, "record", 6) == 0) {
    out->kind = AS_SPEC_RECORD;
    size_t dlen = strcspn(rest, ",");
    if (dlen == 0) return fail(err, cap, AS_PARSE, klen + 1, "expected a DIR after 'record:'");
    if (rest[dlen] != ',')
      return fail(err, cap, AS_PARSE, klen + 1 + dlen,
                  "expected ',' and the provider to record (openai:URL or ollama:URL)");
    if (copy(out->path, sizeof out->path, rest, dlen) != AS_OK)
      return fail(err, cap, AS_TOOBIG, klen + 1, "DIR longer than %d bytes", AS_SPEC_PATH_MAX - 1);
    return parse_http(text, klen + 1 + dlen + 1, &out->http, err, cap);
  }
  int rc = parse_http(text, 0, &out->http, err, cap);
  if (rc == AS_OK) out->kind = out->http.kind;
  return rc;
}

int as_llm_spec_from_app(const as_app_llm *l, as_llm_spec *out) {
  memset(out, 0, sizeof *out);
  out->kind = l->provider == AS_WIRE_OLLAMA ? AS_SPEC_OLLAMA : AS_SPEC_OPENAI;
  as_llm_http_spec *h = &out->http;
  h->kind = out->kind;
  h->stream = l->stream;
  h->structured = l->structured;
  h->timeout_ns = l->timeout_ns;
  h->low_speed_bytes = l->low_speed_bytes;
  h->low_speed_ns = l->low_speed_ns;
  if (copy(h->base_url, sizeof h->base_url, l->base_url, strlen(l->base_url)) != AS_OK ||
      copy(h->model, sizeof h->model, l->model, strlen(l->model)) != AS_OK ||
      copy(h->key_env, sizeof h->key_env, l->api_key_env, strlen(l->api_key_env)) != AS_OK)
    return AS_TOOBIG;
  return AS_OK;
}

/* The HTTP provider a spec's http part names, with tap (NULL: none). */
static AS_WUR int open_http(const as_llm_http_spec *h, const as_http_tap *tap, as_llm *out,
                            char *err, size_t cap) {
  if (!h->model[0]) {
    if (err && cap)
      (void)as_appendf(err, cap, 0, "--llm %s: no model: add model=NAME (or an llm: section "
                       "with a model in app.yaml)", as_llm_spec_kind_name(h->kind)); /* ignore: cut */
    return AS_INVAL;
  }
  as_llm_http_cfg c = {.kind = h->kind == AS_SPEC_OLLAMA ? AS_WIRE_OLLAMA : AS_WIRE_OPENAI,
                       .base_url = h->base_url,
                       .model = h->model,
                       .api_key = h->api_key,
                       .stream = h->stream,
                       .structured = h->structured,
                       .timeout_ns = h->timeout_ns,
                       .low_speed_bytes = h->low_speed_bytes,
                       .low_speed_ns = h->low_speed_ns,
                       .tap = tap};
  return as_llm_http_new(&c, out, err, cap);
}

static AS_WUR int open_record(const as_llm_spec *spec, as_llm_opened *out, char *err, size_t cap) {
  const as_llm_http_spec *h = &spec->http;
  as_cassette_meta m;
  memset(&m, 0, sizeof m);
  m.format = AS_CASSETTE_FORMAT;
  m.kind = h->kind == AS_SPEC_OLLAMA ? AS_WIRE_OLLAMA : AS_WIRE_OPENAI;
  (void)snprintf(m.model, sizeof m.model, "%s", h->model);          /* ignore: both capped */
  (void)snprintf(m.base_url, sizeof m.base_url, "%s", h->base_url); /* ignore: both capped */
  (void)snprintf(m.agentsim, sizeof m.agentsim, "%s", AS_SPEC_VERSION); /* ignore: short */
  m.stream = h->stream;
  m.structured = h->structured;
  /* The provider first, without the tap: one that refuses its settings
  ** must not leave a recording's cassette.json behind (a half-made cassette
  ** the next record: into DIR would be refused for). */
  int rc = open_http(h, NULL, &out->llm, err, cap);
  if (rc != AS_OK) return rc;
  as_llm_destroy(&out->llm);
  memset(&out->llm, 0, sizeof out->llm);
  rc = as_cassette_recorder_new(&out->rec, spec->path, &m, err, cap);
  if (rc != AS_OK) return rc;
  rc = open_http(h, as_cassette_recorder_tap(out->rec), &out->llm, err, cap);
  if (rc != AS_OK) {
    as_cassette_recorder_free(out->rec);
    out->rec = NULL;
  }
  return rc;
}

static AS_WUR int open_stub(const as_llm_spec *spec, uint64_t seed, as_stub_edge_fn edge,
                            as_llm_opened *out, char *err, size_t cap) {
  as_stub_diag d;
  memset(&d, 0, sizeof d);
  int rc = as_stub_script_load(spec->path, &out->script, &d);
  if (rc != AS_OK) {
    if (err && cap) {
      if (d.message[0]) as_stub_diag_format(&d, err, cap);
      else (void)as_appendf(err, cap, 0, "%s: %s", spec->path, as_status_msg(rc)); /* ignore: cut */
    }
    return rc;
  }
  rc = as_stub_llm_new(&out->llm, out->script, seed);
  if (rc != AS_OK) {
    as_stub_script_free(out->script);
    out->script = NULL;
    return rc;
  }
  if (edge) as_stub_llm_set_edge(&out->llm, edge);
  return AS_OK;
}

int as_llm_spec_open(const as_llm_spec *spec, uint64_t seed, as_stub_edge_fn edge,
                     as_llm_opened *out, char *err, size_t cap) {
  if (err && cap) err[0] = '\0';
  if (!spec || !out) return AS_INVAL;
  memset(out, 0, sizeof *out);
  int rc = AS_INVAL;
  switch (spec->kind) {
  case AS_SPEC_STUB: rc = open_stub(spec, seed, edge, out, err, cap); break;
  case AS_SPEC_OPENAI:
  case AS_SPEC_OLLAMA: rc = open_http(&spec->http, NULL, &out->llm, err, cap); break;
  case AS_SPEC_RECORD: rc = open_record(spec, out, err, cap); break;
  case AS_SPEC_CASSETTE: rc = as_cassette_llm_new(spec->path, &out->llm, err, cap); break;
  }
  if (rc != AS_OK) memset(&out->llm, 0, sizeof out->llm);
  return rc;
}

void as_llm_opened_close(as_llm_opened *o) {
  if (!o) return;
  if (o->llm.vt) as_llm_destroy(&o->llm);
  as_stub_script_free(o->script);
  as_cassette_recorder_free(o->rec);
  memset(o, 0, sizeof *o);
}

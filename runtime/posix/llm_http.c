/*
** llm_http.c -- the OpenAI-compatible and Ollama providers (llm_http.h):
** a request body from llm_wire.h, one exchange over http_client.h, the
** answer fed to the format's parser as it arrives.
**
** Why the parser is fed from the sink rather than after the exchange: a
** stream's bytes are parsed as they come, so a body past the wire caps
** stops the transfer at once (the sink's refusal ends it), and nothing
** but the parser's own state is ever held. A non-2xx answer's body is kept
** (cut at ERRBODY_MAX) only for as_wire_http_error's message.
**
** The key lives in one place: the "Authorization: Bearer KEY" line given
** to the client as its secret header, wiped when the provider goes.
*/
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "agentsim/fmt.h"
#include "agentsim/llm_http.h"
#include "agentsim/seam.h"

#define ERRBODY_MAX 4096
#define LOW_SPEED_BYTES_DEFAULT 1u
#define LOW_SPEED_NS_DEFAULT (30ull * 1000000000ull)
#define BEARER "Authorization: Bearer "

typedef struct prov {
  as_wire_kind kind;
  char *model;
  char *url;    /* base_url + the format's path */
  char *secret; /* BEARER KEY, or NULL */
  bool stream, structured;
  uint64_t timeout_ns, ls_bytes, ls_ns;
  const as_http_net *net;
  const as_http_tap *tap;
} prov;

/* One call's sink. */
typedef struct call {
  as_wire_parser *parser;
  int status;
  char retry_after[AS_HTTP_HEADER_MAX];
  char date[AS_HTTP_HEADER_MAX]; /* the answer's Date: what a Retry-After date counts from */
  char errbody[ERRBODY_MAX];
  size_t errlen;
  int feed_rc;        /* the parser's refusal, which stopped the exchange */
  as_llm_error perr;  /* its error */
} call;

static bool ok_status(int s) { return s / 100 == 2; } /* a final status: never a 1xx */

static int on_status(void *ctx, int status, const as_http_header *h, size_t n) {
  call *c = ctx;
  c->status = status;
  for (size_t i = 0; i < n; i++)
    if (strcasecmp(h[i].name, "Retry-After") == 0)
      snprintf(c->retry_after, sizeof c->retry_after, "%s", h[i].value);
    else if (strcasecmp(h[i].name, "Date") == 0)
      snprintf(c->date, sizeof c->date, "%s", h[i].value);
  return AS_OK;
}

static int on_data(void *ctx, const char *data, size_t n) {
  call *c = ctx;
  if (ok_status(c->status)) {
    c->feed_rc = as_wire_parser_feed(c->parser, data, n, &c->perr);
    return c->feed_rc;
  }
  size_t room = sizeof c->errbody - c->errlen;
  size_t k = n < room ? n : room;
  memcpy(c->errbody + c->errlen, data, k);
  c->errlen += k;
  return AS_OK;
}

static AS_WUR int set_err(as_llm_error *err, as_llm_error_kind kind, int rc,
                          const char *prefix, const char *what) {
  err->kind = kind;
  as_appendf(err->message, sizeof err->message, 0, "%s%s", prefix, what);
  return rc;
}

static AS_WUR int http_error(const call *c, as_llm_error *err) {
  return as_wire_http_error(c->status, c->retry_after[0] ? c->retry_after : NULL,
                            c->date[0] ? c->date : NULL, c->errbody, c->errlen, as_now_wall_ns(),
                            err);
}

/* How the exchange ended, as llm.h's answer (the table of llm_http.h). A
** whole non-2xx head is the answer whatever became of its body (kept only
** for the message): a 429 whose body was cut is still rate limited, with
** its Retry-After. */
static AS_WUR int answer(call *c, const as_http_result *res, as_llm_response *out,
                         as_llm_error *err) {
  bool http_err = c->status && !ok_status(c->status);
  switch (res->fail) {
  case AS_HTTP_FAIL_NONE:
    if (http_err) return http_error(c, err);
    return as_wire_parser_finish(c->parser, out, err);
  case AS_HTTP_FAIL_TIMEOUT:
    return set_err(err, AS_LLM_ERR_TIMEOUT, AS_TIMEDOUT, "timed out: ", res->message);
  case AS_HTTP_FAIL_CONNECT:
    return set_err(err, AS_LLM_ERR_SERVER, AS_IO, "the connection failed: ", res->message);
  case AS_HTTP_FAIL_ABORTED:
    if (c->feed_rc != AS_OK) { /* the parser's refusal: its error as it said it */
      *err = c->perr;
      return c->feed_rc;
    }
    return set_err(err, AS_LLM_ERR_SERVER, AS_IO, "the exchange's observer failed: ",
                   res->message);
  case AS_HTTP_FAIL_TOOBIG:
    return set_err(err, AS_LLM_ERR_NONE, AS_TOOBIG, "the answer: ", res->message);
  default: /* TRUNCATED, PROTOCOL */
    if (http_err) return http_error(c, err);
    err->http_status = c->status;
    return set_err(err, AS_LLM_ERR_MALFORMED, AS_PARSE, "a malformed answer: ",
                   res->message);
  }
}

static AS_WUR int complete(void *self, const as_llm_request *req, as_llm_response *out,
                           as_llm_error *err) {
  prov *p = self;
  as_wire_opts o = {.kind = p->kind, .model = p->model, .stream = p->stream,
                    .structured = p->structured};
  char *body = NULL;
  size_t len = 0;
  as_wire_names names = {0};
  call *c = NULL;
  int rc = as_wire_build(&o, req, &body, &len, &names);
  if (rc != AS_OK) goto out;
  rc = AS_NOMEM;
  if (!(c = as_calloc(1, sizeof *c))) goto out;
  rc = as_wire_parser_new(&c->parser, &o, &names);
  if (rc != AS_OK) goto out;
  static const as_http_header json_type[] = {{"Content-Type", "application/json"}};
  uint64_t timeout = req->timeout_ns   ? req->timeout_ns
                     : p->timeout_ns ? p->timeout_ns
                                     : AS_LLM_TIMEOUT_DEFAULT_NS;
  as_http_request hr = {.url = p->url,
                        .headers = json_type,
                        .nheaders = 1,
                        .secret_header = p->secret,
                        .body = body,
                        .body_len = len,
                        .timeout_ns = timeout,
                        .low_speed_bytes = p->ls_bytes,
                        .low_speed_ns = p->ls_ns};
  as_http_sink sink = {c, on_status, on_data};
  as_http_result res;
  rc = as_http_exchange(p->net, p->tap, &hr, &sink, &res);
  if (rc != AS_OK) goto out;
  rc = answer(c, &res, out, err);
out:
  if (c) as_wire_parser_free(c->parser);
  as_free(c);
  as_wire_names_clear(&names);
  as_free(body);
  if (rc != AS_OK) as_llm_response_clear(out);
  return rc;
}

static void destroy(void *self) {
  prov *p = self; /* never NULL: as_llm_destroy calls only a provider made */
  if (p->secret) explicit_bzero(p->secret, strlen(p->secret));
  as_free(p->secret);
  as_free(p->model);
  as_free(p->url);
  as_free(p);
}

static const as_llm_vtable vt_openai = {"openai", complete, destroy};
static const as_llm_vtable vt_ollama = {"ollama", complete, destroy};

static char *dup_of(const char *a, size_t na, const char *b, size_t nb) {
  char *s = as_malloc(na + nb + 1);
  if (!s) return NULL;
  memcpy(s, a, na);
  memcpy(s + na, b, nb);
  s[na + nb] = '\0';
  return s;
}

static bool has_control(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return true;
  return false;
}

static AS_WUR int refuse(char *err, size_t cap, const char *what) {
  if (err && cap) snprintf(err, cap, "%s", what);
  return AS_INVAL;
}

/* What is wrong with cfg, or NULL. */
static const char *cfg_problem(const as_llm_http_cfg *cfg) {
  if ((unsigned)cfg->kind >= AS__WIRE_COUNT) return "an unknown provider kind";
  const char *u = cfg->base_url;
  if (!u || !u[0]) return "a provider needs a base URL (there is no default endpoint)";
  size_t scheme = strncasecmp(u, "http://", 7) == 0    ? 7
                  : strncasecmp(u, "https://", 8) == 0 ? 8
                                                       : 0;
  if (!scheme) return "the base URL must start with http:// or https://";
  size_t n = strnlen(u, AS_HTTP_URL_MAX + 1);
  /* "http:///v1", "http://:8080": nothing names a host before the port or the path */
  if (n == scheme || strchr("/?#:", u[scheme])) return "the base URL has no host";
  if (n + strlen(as_wire_path(cfg->kind)) > AS_HTTP_URL_MAX) return "the base URL is too long";
  if (has_control(u, n) || strchr(u, ' ')) return "the base URL holds a space or a control byte";
  if (!cfg->model || !cfg->model[0]) return "a provider needs a model";
  if (cfg->api_key) {
    size_t k = strnlen(cfg->api_key, AS_LLM_HTTP_KEY_MAX + 1);
    if (k > AS_LLM_HTTP_KEY_MAX) return "the API key is longer than 512 bytes";
    if (k == 0) return "the API key is empty";
    if (has_control(cfg->api_key, k)) return "the API key holds a line break or a control byte";
  }
  if (cfg->timeout_ns > AS_LLM_TIMEOUT_MAX_NS) return "the timeout is over 600 s";
  return NULL;
}

int as_llm_http_new(const as_llm_http_cfg *cfg, as_llm *out, char *err, size_t cap) {
  if (err && cap) err[0] = '\0';
  if (!cfg || !out) return refuse(err, cap, "no configuration");
  memset(out, 0, sizeof *out);
  const char *why = cfg_problem(cfg);
  if (why) return refuse(err, cap, why);
  prov *p = as_calloc(1, sizeof *p);
  if (!p) return AS_NOMEM;
  size_t n = strlen(cfg->base_url);
  if (cfg->base_url[n - 1] == '/') n--; /* "…/v1/" + "/chat/completions" */
  const char *path = as_wire_path(cfg->kind);
  p->url = dup_of(cfg->base_url, n, path, strlen(path));
  p->model = dup_of(cfg->model, strlen(cfg->model), "", 0);
  if (cfg->api_key) p->secret = dup_of(BEARER, strlen(BEARER), cfg->api_key, strlen(cfg->api_key));
  if (!p->url || !p->model || (cfg->api_key && !p->secret)) {
    destroy(p);
    return AS_NOMEM;
  }
  p->kind = cfg->kind;
  p->stream = cfg->stream;
  p->structured = cfg->structured;
  p->timeout_ns = cfg->timeout_ns;
  p->ls_bytes = cfg->low_speed_bytes ? cfg->low_speed_bytes : LOW_SPEED_BYTES_DEFAULT;
  p->ls_ns = cfg->low_speed_ns ? cfg->low_speed_ns : LOW_SPEED_NS_DEFAULT;
  p->net = cfg->net;
  p->tap = cfg->tap;
  out->vt = cfg->kind == AS_WIRE_OPENAI ? &vt_openai : &vt_ollama;
  out->self = p;
  out->timeout_ns = cfg->timeout_ns;
  out->model = p->model;
  return AS_OK;
}

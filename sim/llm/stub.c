/*
** stub.c -- the scripted stub LLM provider (stub.h).
**
** A call finds its block (stub_find_call), picks an alternative as a pure
** function of the seed and the call's identity (stub_pick), takes the
** answer's virtual time on the seam (as_sleep_until: in the sim a
** scheduling point, so other tasks and timers run meanwhile; a delay past
** the request's timeout ends at the timeout, as AS_LLM_ERR_TIMEOUT), and
** copies the answer rendered at parse time. It reaches nothing but the
** seam (clock, sleep, memory), so it runs in the sim and in real mode.
*/
#include <string.h>

#include <xxhash.h>

#include "agentsim/fmt.h"
#include "agentsim/seam.h"
#include "script_internal.h"

typedef struct stub_llm {
  const as_stub_script *s;
  uint64_t seed;
  as_stub_edge_fn edge; /* NULL: own_edge */
} stub_llm;

/* --- lookup and choice ------------------------------------------------------- */

static const stub_entry *find(const as_stub_script *s, stub_entry_kind kind, const char *name,
                              unsigned call, unsigned attempt, unsigned run) {
  for (size_t i = 0; i < s->n; i++) {
    const stub_entry *e = &s->entries[i];
    if (e->kind == kind && e->call == call && e->attempt == attempt && e->run == run &&
        strcmp(e->name, name) == 0)
      return e;
  }
  return NULL;
}

const stub_entry *stub_find_call(const as_stub_script *s, const char *agent, unsigned call,
                                 unsigned attempt, unsigned retry) {
  const unsigned order[4][2] = {{call, attempt}, {call, 0}, {0, attempt}, {0, 0}};
  unsigned run = retry <= STUB_RETRY_MAX ? retry + 1 : 0; /* past the most: no retry= block */
  for (unsigned i = 0; i < 4; i++) {
    const stub_entry *e = run ? find(s, STUB_E_CALL, agent, order[i][0], order[i][1], run) : NULL;
    if (!e) e = find(s, STUB_E_CALL, agent, order[i][0], order[i][1], 0);
    if (e) return e;
  }
  return find(s, STUB_E_DEFAULT, "", 0, 0, 0);
}

const stub_entry *stub_find_result(const as_stub_script *s, const char *qname, unsigned n) {
  const stub_entry *e = find(s, STUB_E_RESULT, qname, n, 0, 0);
  return e ? e : find(s, STUB_E_RESULT, qname, 0, 0, 0);
}

/* splitmix64's finalizer: every input bit reaches every output bit. */
static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

const stub_answer *stub_pick(const stub_entry *e, uint64_t seed, uint64_t domain, const char *a,
                             const char *b, unsigned x, unsigned y) {
  if (e->nalts == 1) return &e->alts[0];
  uint64_t h = mix64(seed ^ mix64(domain));
  h = XXH64(a, strlen(a), h);
  h = XXH64(b, strlen(b), h);
  h = mix64(h ^ (((uint64_t)x << 32) | y));
  uint64_t r = h % e->total_weight;
  size_t i = 0;
  while (i + 1 < e->nalts && r >= e->alts[i].weight) r -= e->alts[i++].weight;
  return &e->alts[i];
}

/* --- the answer -------------------------------------------------------------- */

static char *copy_n(const char *s, size_t n) {
  char *d = as_malloc(n + 1);
  if (!d) return NULL;
  if (n) memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

static void response_free(as_llm_response *r) {
  as_free(r->text);
  for (size_t i = 0; r->calls && i < r->ncalls; i++) as_free(r->calls[i].args);
  as_free(r->calls);
  as_free(r->structured);
  memset(r, 0, sizeof *r);
}

static int64_t tokens_of(size_t bytes) { return (int64_t)((bytes + 3) / 4); }

static size_t slen(const char *s) { return s ? strlen(s) : 0; }

/* What the request holds, in bytes: every message's text and calls, every
** tool's name, description and schema. */
static size_t request_bytes(const as_llm_request *req) {
  size_t n = 0;
  for (size_t i = 0; i < req->nmsgs; i++) {
    const as_llm_message *m = &req->msgs[i];
    n += slen(m->text) + slen(m->call_id);
    for (size_t j = 0; m->calls && j < m->ncalls; j++)
      n += slen(m->calls[j].name) + slen(m->calls[j].args);
  }
  for (size_t i = 0; i < req->ntools; i++)
    n += slen(req->tools[i].name) + slen(req->tools[i].description) + slen(req->tools[i].schema);
  return n;
}

/* The stub's own edge: exclusive buckets from inclusive counts. */
static AS_WUR int own_edge(int64_t prompt, int64_t cache_read, int64_t cache_write, int64_t completion,
                    as_llm_usage *out) {
  if (prompt < 0 || cache_read < 0 || cache_write < 0 || completion < 0 ||
      cache_read > prompt - cache_write)
    return AS_PARSE;
  out->input_tokens = prompt - cache_read - cache_write;
  out->cache_read_tokens = cache_read;
  out->cache_write_tokens = cache_write;
  out->output_tokens = completion;
  return AS_OK;
}

/* What the provider reports for an answer, inclusively: the scripted
** counts, and where the script gives none, a deterministic guess (a token
** per four bytes, in and out). The exclusive form (input, cached, output,
** reasoning) is what such a report would have been: prompt = input +
** cached, completion = output + reasoning. */
static void inclusive_of(const stub_answer *a, const as_llm_request *req, const as_llm_response *r,
                         int64_t v[4]) {
  size_t out = r->text ? strlen(r->text) : 0;
  for (size_t i = 0; i < r->ncalls; i++) out += strlen(r->calls[i].name) + strlen(r->calls[i].args);
  out += r->structured ? strlen(r->structured) : 0;
  int64_t in = tokens_of(request_bytes(req)), o = tokens_of(out);
  unsigned g = a->usage_given;
  const int64_t *u = a->usage;
  if (!g || (g & STUB_U_EXCLUSIVE)) {
    int64_t cached = g & (1u << STUB_U_CACHED) ? u[STUB_U_CACHED] : 0;
    int64_t reasoning = g & (1u << STUB_U_REASONING) ? u[STUB_U_REASONING] : 0;
    int64_t input = g & (1u << STUB_U_INPUT) ? u[STUB_U_INPUT] : (in > cached ? in - cached : 0);
    int64_t output = g & (1u << STUB_U_OUTPUT) ? u[STUB_U_OUTPUT] : (o > reasoning ? o - reasoning : 0);
    v[0] = input + cached;
    v[1] = cached;
    v[2] = 0;
    v[3] = output + reasoning;
    return;
  }
  v[1] = g & (1u << STUB_U_CACHE_READ) ? u[STUB_U_CACHE_READ] : 0;
  v[2] = g & (1u << STUB_U_CACHE_WRITE) ? u[STUB_U_CACHE_WRITE] : 0;
  /* A derived prompt holds at least what is cached (the parser checked a given one). */
  v[0] = g & (1u << STUB_U_PROMPT) ? u[STUB_U_PROMPT] : in > v[1] + v[2] ? in : v[1] + v[2];
  v[3] = g & (1u << STUB_U_COMPLETION) ? u[STUB_U_COMPLETION] : o;
}

static AS_WUR int answer_message(const stub_llm *st, const stub_answer *a,
                                 const as_llm_request *req, as_llm_response *out,
                                 as_llm_error *err) {
  if (a->out_has_text && !(out->text = copy_n(a->out_text, a->out_len))) goto nomem;
  if (a->env_in == STUB_IN_STRUCTURED && !(out->structured = copy_n(a->env, a->envlen))) goto nomem;
  if (a->ntools) {
    out->calls = as_calloc(a->ntools, sizeof *out->calls);
    if (!out->calls) goto nomem;
    for (size_t i = 0; i < a->ntools; i++) {
      as_llm_tool_call *c = &out->calls[i];
      as_appendf(c->id, sizeof c->id, 0, "call_%u_%zu", req->call, i + 1);
      memcpy(c->name, a->tools[i].name, sizeof c->name);
      c->args = copy_n(a->tools[i].args, a->tools[i].len);
      out->ncalls = i + 1;
      if (!c->args) goto nomem;
    }
  }
  out->finish = a->out_finish;
  if (a->usage_none) return AS_OK; /* a stream that ended without usage: usage_known false */
  int64_t v[4];
  inclusive_of(a, req, out, v);
  int rc = (st->edge ? st->edge : own_edge)(v[0], v[1], v[2], v[3], &out->usage);
  if (rc != AS_OK) {
    response_free(out);
    err->kind = AS_LLM_ERR_MALFORMED;
    as_appendf(err->message, sizeof err->message, 0, "usage the edge refused: prompt %lld, "
               "cache_read %lld, cache_write %lld, completion %lld", (long long)v[0],
               (long long)v[1], (long long)v[2], (long long)v[3]);
    return AS_PARSE;
  }
  out->usage_known = true;
  return AS_OK;
nomem:
  response_free(out);
  return AS_NOMEM;
}

static AS_WUR int answer_error(const stub_answer *a, as_llm_error *err) {
  static const char *const defaults[AS__LLM_ERR_COUNT] = {
      [AS_LLM_ERR_TIMEOUT] = "the model did not answer in time",
      [AS_LLM_ERR_RATE_LIMITED] = "rate limited",
      [AS_LLM_ERR_SERVER] = "server error",
      [AS_LLM_ERR_MALFORMED] = "{\"content\": \"the answer stops here",
      [AS_LLM_ERR_REFUSAL] = "the model refused to answer",
  };
  static const int status[AS__LLM_ERR_COUNT] = {
#define STUB__ST(NAME, name, st) [AS_LLM_ERR_##NAME] = st,
      AS_LLM_ERROR_MAP(STUB__ST)
#undef STUB__ST
  };
  err->kind = a->error;
  as_appendf(err->message, sizeof err->message, 0, "%s",
             a->message ? a->message : defaults[a->error]);
  if (a->error == AS_LLM_ERR_RATE_LIMITED) {
    err->http_status = 429;
    err->retry_after_ns = a->has_retry_after ? a->retry_after_ns : STUB_RETRY_AFTER_DEFAULT_NS;
  }
  if (a->error == AS_LLM_ERR_SERVER)
    err->http_status = a->status ? a->status : STUB_SERVER_STATUS_DEFAULT;
  return status[a->error];
}

static uint64_t deadline_after(uint64_t start, uint64_t d) {
  return d > UINT64_MAX - start ? UINT64_MAX : start + d;
}

static AS_WUR int stub_complete(void *self, const as_llm_request *req, as_llm_response *out,
                                as_llm_error *err) {
  const stub_llm *st = self;
  if (!req->agent || req->call == 0 || req->attempt == 0) return AS_INVAL;
  const char *session = req->session_id ? req->session_id : "";
  const stub_entry *e = stub_find_call(st->s, req->agent, req->call, req->attempt, req->retry);
  if (!e) {
    err->kind = AS_LLM_ERR_SERVER;
    as_appendf(err->message, sizeof err->message, 0, "the script has no answer for %s call %u",
               req->agent, req->call);
    return AS_IO;
  }
  /* A retry's run chooses afresh (the first run as it always did). */
  const stub_answer *a = stub_pick(e, st->seed, STUB_DOMAIN_CALL, session, req->agent, req->call,
                                   req->attempt ^ (req->retry << 16));
  uint64_t delay = a->delay_ns;
  if (a->error == AS_LLM_ERR_TIMEOUT && !a->has_delay)
    delay = req->timeout_ns ? req->timeout_ns : AS_STUB_TIMEOUT_DEFAULT_NS;
  uint64_t start = as_now_mono_ns();
  if (req->timeout_ns && delay > req->timeout_ns) {
    as_sleep_until(deadline_after(start, req->timeout_ns));
    err->kind = AS_LLM_ERR_TIMEOUT;
    as_appendf(err->message, sizeof err->message, 0,
               "no answer within the request's timeout of %llu ns",
               (unsigned long long)req->timeout_ns);
    return AS_TIMEDOUT;
  }
  as_sleep_until(deadline_after(start, delay));
  if (a->error != AS_LLM_ERR_NONE) return answer_error(a, err);
  return answer_message(st, a, req, out, err);
}

static void stub_destroy(void *self) { as_free(self); }

static const as_llm_vtable stub_vt = {"stub", stub_complete, stub_destroy};

int as_stub_llm_new(as_llm *out, const as_stub_script *s, uint64_t seed) {
  if (!out) return AS_INVAL;
  memset(out, 0, sizeof *out);
  if (!s) return AS_INVAL;
  stub_llm *st = as_malloc(sizeof *st);
  if (!st) return AS_NOMEM;
  st->s = s;
  st->seed = seed;
  st->edge = NULL;
  out->vt = &stub_vt;
  out->self = st;
  out->model = as_stub_script_model(s);
  return AS_OK;
}

void as_stub_llm_set_edge(as_llm *llm, as_stub_edge_fn edge) {
  if (llm && llm->vt == &stub_vt && llm->self) ((stub_llm *)llm->self)->edge = edge;
}

const char *as_stub_script_model(const as_stub_script *s) {
  return s && s->has_model ? s->model : AS_STUB_MODEL_DEFAULT;
}

int as_stub_tool_result(const as_stub_script *s, uint64_t seed, const char *session_id,
                        const char *qname, unsigned n, char **out) {
  if (!out) return AS_INVAL;
  *out = NULL;
  if (!s || !qname || n == 0) return AS_INVAL;
  const stub_entry *e = stub_find_result(s, qname, n);
  if (!e) return AS_NOTFOUND;
  const stub_answer *a =
      stub_pick(e, seed, STUB_DOMAIN_RESULT, session_id ? session_id : "", qname, n, 0);
  if (a->tool_fail) return stub_fail_status[a->tool_fail]; /* the server failed: no result */
  *out = copy_n(a->result, a->rlen);
  return *out ? AS_OK : AS_NOMEM;
}

/*
** llm.c -- the provider-neutral half of the LLM interface (llm.h): the
** checked call every turn goes through, and the response's cleanup.
**
** as_llm_complete holds every provider to the vtable's contract, so a
** provider bug is a status the caller sees, never a response past a cap or
** a typed error without its kind: AS_TOOBIG for an answer past a cap,
** AS_INTERNAL for a broken promise (a typed status without its kind, a
** kind with another status, an error with a response, an unterminated
** name). In both cases *out is cleared.
*/
#include <stdbool.h>
#include <string.h>

#include "agentsim/fmt.h"
#include "agentsim/llm.h"
#include "agentsim/seam.h"

static const char *const error_names[] = {
    "none",
#define AS__LERRN(NAME, name, st) #name,
    AS_LLM_ERROR_MAP(AS__LERRN)
#undef AS__LERRN
};

static const int error_status[] = {
    AS_OK,
#define AS__LERRS(NAME, name, st) st,
    AS_LLM_ERROR_MAP(AS__LERRS)
#undef AS__LERRS
};

static const char *const finish_names[] = {
#define AS__LFINN(NAME, name) #name,
    AS_LLM_FINISH_MAP(AS__LFINN)
#undef AS__LFINN
};

const char *as_llm_error_name(as_llm_error_kind k) {
  return (unsigned)k < AS__LLM_ERR_COUNT ? error_names[k] : "?";
}

const char *as_llm_finish_name(as_llm_finish f) {
  return (unsigned)f < AS__LLM_FINISH_COUNT ? finish_names[f] : "?";
}

void as_llm_response_clear(as_llm_response *r) {
  if (!r) return;
  as_free(r->text);
  for (size_t i = 0; r->calls && i < r->ncalls; i++) as_free(r->calls[i].args);
  as_free(r->calls);
  as_free(r->structured);
  memset(r, 0, sizeof *r);
}

static size_t slen(const char *s) { return s ? strlen(s) : 0; }
static int64_t tokens_of(size_t bytes) { return (int64_t)((bytes + 3) / 4); }

void as_llm_usage_estimate(const as_llm_request *req, const as_llm_response *resp,
                           as_llm_usage *out) {
  size_t in = 0, o = 0;
  for (size_t i = 0; req && i < req->nmsgs; i++) {
    const as_llm_message *m = &req->msgs[i];
    in += slen(m->text) + slen(m->call_id);
    for (size_t j = 0; m->calls && j < m->ncalls; j++)
      in += slen(m->calls[j].name) + slen(m->calls[j].args);
  }
  for (size_t i = 0; req && i < req->ntools; i++)
    in += slen(req->tools[i].name) + slen(req->tools[i].description) + slen(req->tools[i].schema);
  if (resp) {
    o = slen(resp->text) + slen(resp->structured);
    for (size_t i = 0; resp->calls && i < resp->ncalls; i++)
      o += slen(resp->calls[i].name) + slen(resp->calls[i].args);
  }
  memset(out, 0, sizeof *out);
  out->input_tokens = tokens_of(in);
  out->output_tokens = tokens_of(o);
}

void as_llm_destroy(as_llm *llm) {
  if (!llm) return;
  if (llm->vt && llm->vt->destroy) llm->vt->destroy(llm->self);
  memset(llm, 0, sizeof *llm);
}

/* The failures that carry no kind (the vtable's list, and a provider's own
** internal error). */
static bool kindless_status(int rc) {
  return rc == AS_NOMEM || rc == AS_TOOBIG || rc == AS_INVAL || rc == AS_INTERNAL;
}

static bool response_empty(const as_llm_response *r) {
  return !r->text && !r->calls && r->ncalls == 0 && !r->structured;
}

/* A text of at most max bytes (NUL excluded); NULL passes. */
static bool text_fits(const char *s, size_t max) { return !s || strnlen(s, max + 1) <= max; }

/* The first cap an AS_OK answer passes (AS_TOOBIG) or promise it breaks
** (AS_INTERNAL), with what in err->message; AS_OK when it keeps them all. */
static AS_WUR int check_answer(const as_llm *llm, const as_llm_response *out, as_llm_error *err) {
  const char *who = llm->vt->name ? llm->vt->name : "?";
  if (err->kind != AS_LLM_ERR_NONE) {
    memset(err, 0, sizeof *err);
    as_appendf(err->message, sizeof err->message, 0,
               "provider %s answered with a typed error set", who);
    return AS_INTERNAL;
  }
  if (out->ncalls > AS_LLM_CALLS_MAX) {
    as_appendf(err->message, sizeof err->message, 0,
               "provider %s answered %zu tool calls, more than %u", who, out->ncalls,
               AS_LLM_CALLS_MAX);
    return AS_TOOBIG;
  }
  if (!text_fits(out->text, AS_LLM_TEXT_MAX) || !text_fits(out->structured, AS_LLM_TEXT_MAX)) {
    as_appendf(err->message, sizeof err->message, 0,
               "provider %s answered a text past %u bytes", who, AS_LLM_TEXT_MAX);
    return AS_TOOBIG;
  }
  if ((out->ncalls && !out->calls) || (unsigned)out->finish >= AS__LLM_FINISH_COUNT) {
    as_appendf(err->message, sizeof err->message, 0,
               "provider %s answered a malformed response", who);
    return AS_INTERNAL;
  }
  for (size_t i = 0; i < out->ncalls; i++) {
    const as_llm_tool_call *c = &out->calls[i];
    if (!c->args || !memchr(c->id, '\0', sizeof c->id) || !memchr(c->name, '\0', sizeof c->name)) {
      as_appendf(err->message, sizeof err->message, 0,
                 "provider %s answered tool call %zu without a name, id or arguments", who,
                 i + 1);
      return AS_INTERNAL;
    }
    if (!text_fits(c->args, AS_LLM_ARGS_MAX)) {
      as_appendf(err->message, sizeof err->message, 0,
                 "provider %s answered tool call %zu with arguments past %u bytes", who,
                 i + 1, AS_LLM_ARGS_MAX);
      return AS_TOOBIG;
    }
  }
  return AS_OK;
}

/* A failed call keeps the vtable's promise: a typed status comes with its
** kind, a kind with its status, and *out stays empty. */
static AS_WUR int check_error(const as_llm *llm, int rc, const as_llm_response *out,
                              as_llm_error *err) {
  const char *who = llm->vt->name ? llm->vt->name : "?";
  bool kept;
  if ((unsigned)err->kind >= AS__LLM_ERR_COUNT)
    kept = false;
  else if (err->kind != AS_LLM_ERR_NONE)
    kept = error_status[err->kind] == rc;
  else
    kept = kindless_status(rc);
  if (kept && response_empty(out)) return rc;
  memset(err, 0, sizeof *err);
  as_appendf(err->message, sizeof err->message, 0,
             "provider %s failed with %s without keeping the error contract", who,
             as_status_name(rc));
  return AS_INTERNAL;
}

int as_llm_complete(as_llm *llm, const as_llm_request *req, as_llm_response *out,
                    as_llm_error *err) {
  int rc = AS_OK;
  if (out) memset(out, 0, sizeof *out);
  if (err) memset(err, 0, sizeof *err);
  if (!llm || !llm->vt || !llm->vt->complete || !req || !out || !err) return AS_INVAL;
  if (req->nmsgs > AS_LLM_MESSAGES_MAX) return AS_TOOBIG;
  if ((req->nmsgs && !req->msgs) || (req->ntools && !req->tools)) return AS_INVAL;
  rc = llm->vt->complete(llm->self, req, out, err);
  if (rc == AS_OK) {
    rc = check_answer(llm, out, err);
    if (rc != AS_OK) as_llm_response_clear(out);
    return rc;
  }
  rc = check_error(llm, rc, out, err);
  if (rc == AS_INTERNAL) as_llm_response_clear(out);
  return rc;
}

/*
** llm_wire.c -- the request side of the providers' wire formats
** (llm_wire.h): format names and paths, the tool-name map, request bodies.
**
** A body is built as a jansson value and dumped compact. jansson keeps an
** object's members in insertion order and every member here is set in one
** fixed order, so the same request gives the same bytes (cassettes key on
** them). Texts are checked for UTF-8 first, so a NULL from json_string*
** can only be jansson's memory running out. The wire formats themselves
** are described in docs/providers.md.
*/
#include <jansson.h>
#include <string.h>

#include "agentsim/json.h"
#include "agentsim/llm_wire.h"
#include "agentsim/seam.h"
#include "trace_internal.h"

/* Tools in one request (OpenAI refuses more than 128). */
#define WIRE_TOOLS_MAX 128u

/* --- formats -------------------------------------------------------------------- */

static const char *const kind_names[] = {
#define AS__WKN(NAME, name) #name,
    AS_WIRE_KIND_MAP(AS__WKN)
#undef AS__WKN
};

static const char *const kind_paths[] = {"/chat/completions", "/api/chat"};

const char *as_wire_path(as_wire_kind kind) {
  return (unsigned)kind < AS__WIRE_COUNT ? kind_paths[kind] : "?";
}

const char *as_wire_kind_name(as_wire_kind kind) {
  return (unsigned)kind < AS__WIRE_COUNT ? kind_names[kind] : "?";
}

int as_wire_kind_parse(const char *name, as_wire_kind *out) {
  if (!name || !out) return AS_INVAL;
  for (unsigned k = 0; k < AS__WIRE_COUNT; k++)
    if (strcmp(name, kind_names[k]) == 0) {
      *out = (as_wire_kind)k;
      return AS_OK;
    }
  return AS_INVAL;
}

/* --- tool names ------------------------------------------------------------------ */

static bool wire_char(unsigned char c) {
  static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
  return memchr(set, c, sizeof set - 1) != NULL;
}

/* A name (non-empty UTF-8) fit for the providers: every character outside
** [A-Za-z0-9_-] becomes one '_' (a multi-byte character one, not one per
** byte), cut to AS_WIRE_NAME_MAX - 1 bytes. */
static void sanitize(const char *s, char out[AS_WIRE_NAME_MAX]) {
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p && n < AS_WIRE_NAME_MAX - 1; p++) {
    if ((*p & 0xC0) == 0x80) continue; /* a continuation byte: its character has its '_' */
    out[n++] = wire_char(*p) ? (char)*p : '_';
  }
  out[n] = '\0';
}

static bool taken(const as_wire_names *m, size_t n, const char *w) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(m->wire[i], w) == 0) return true;
  return false;
}

/* wire[i] made unlike wire[0..i): "_2", "_3", ... after its base, the base
** cut so the whole stays within 64 bytes. Ends: i names cannot take all of
** the i + 1 suffixes 2 .. i + 2. */
static void make_unique(as_wire_names *m, size_t i) {
  char base[AS_WIRE_NAME_MAX];
  memcpy(base, m->wire[i], sizeof base);
  for (unsigned k = 2; taken(m, i, m->wire[i]); k++) {
    char suf[12];
    size_t sl = sizeof suf;
    suf[--sl] = '\0';
    for (unsigned v = k; v; v /= 10) suf[--sl] = (char)('0' + v % 10);
    suf[--sl] = '_';
    size_t slen = sizeof suf - 1 - sl;
    size_t bl = strlen(base);
    if (bl > AS_WIRE_NAME_MAX - 1 - slen) bl = AS_WIRE_NAME_MAX - 1 - slen;
    memcpy(m->wire[i], base, bl);
    memcpy(m->wire[i] + bl, suf + sl, slen + 1);
  }
}

void as_wire_names_clear(as_wire_names *names) {
  if (!names) return;
  for (size_t i = 0; names->qualified && i < names->n; i++) as_free(names->qualified[i]);
  as_free(names->qualified);
  as_free(names->wire);
  memset(names, 0, sizeof *names);
}

static bool text_ok(const char *s) { return as__utf8_valid(s, strlen(s)); }

/* A name the runtime hands over: non-empty UTF-8 that fits its buffer. */
static bool name_ok(const char *s) {
  return s && s[0] && strnlen(s, AS_LLM_NAME_MAX) < AS_LLM_NAME_MAX && text_ok(s);
}

static AS_WUR int names_build(const as_llm_request *req, as_wire_names *m) {
  int rc = AS_OK;
  if (req->ntools == 0) return AS_OK;
  m->wire = as_calloc(req->ntools, sizeof *m->wire);
  m->qualified = as_calloc(req->ntools, sizeof *m->qualified);
  if (!m->wire || !m->qualified) {
    rc = AS_NOMEM;
    goto out;
  }
  for (size_t i = 0; i < req->ntools; i++) {
    const char *q = req->tools[i].name;
    if (!name_ok(q)) {
      rc = AS_INVAL;
      goto out;
    }
    size_t len = strlen(q);
    m->qualified[i] = as_malloc(len + 1);
    if (!m->qualified[i]) {
      rc = AS_NOMEM;
      goto out;
    }
    memcpy(m->qualified[i], q, len + 1);
    m->n = i + 1;
    sanitize(q, m->wire[i]);
    make_unique(m, i);
  }
out:
  if (rc != AS_OK) {
    m->n = req->ntools; /* the slots past the failure are NULL: free ignores them */
    as_wire_names_clear(m);
  }
  return rc;
}

/* The wire name of a call the history holds: the map's for a tool of this
** request, else the sanitised name (a call of a tool that no longer exists,
** or never did). */
static void wire_of(const as_wire_names *m, const char *q, char out[AS_WIRE_NAME_MAX]) {
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->qualified[i], q) == 0) {
      memcpy(out, m->wire[i], AS_WIRE_NAME_MAX);
      return;
    }
  sanitize(q, out);
}

/* --- building JSON ----------------------------------------------------------------- */

/* Sticky setters: once rc is an error, v is released and rc handed back. A
** NULL v is jansson out of memory (every text was checked beforehand). The
** _new setters take v's reference even when they fail. */
static AS_WUR int put(json_t *o, const char *key, json_t *v, int rc) {
  if (rc != AS_OK) {
    json_decref(v);
    return rc;
  }
  if (!v || json_object_set_new(o, key, v) != 0) return AS_NOMEM;
  return AS_OK;
}

static AS_WUR int add(json_t *a, json_t *v, int rc) {
  if (rc != AS_OK) {
    json_decref(v);
    return rc;
  }
  /* v is NULL only after a builder that failed, with rc set */
  if (json_array_append_new(a, v) != 0) return AS_NOMEM;
  return AS_OK;
}

/* A text of the request as a JSON string (NULL: ""); AS_INVAL for one that
** is not UTF-8. */
static AS_WUR int put_text(json_t *o, const char *key, const char *s, int rc) {
  if (rc == AS_OK && s && !text_ok(s)) rc = AS_INVAL;
  return put(o, key, json_string(s ? s : ""), rc);
}

/* JSON text that must be an object (a schema, Ollama's arguments) into *v:
** AS_INVAL for anything else, AS_NOMEM. */
static AS_WUR int parse_object(const char *text, json_t **v) {
  as_json_error je;
  int rc = as_json_parse(text, strlen(text), v, &je);
  if (rc == AS_OK && json_typeof(*v) != JSON_OBJECT) rc = AS_INVAL;
  if (rc != AS_OK) {
    json_decref(*v);
    *v = NULL;
  }
  return rc == AS_NOMEM ? AS_NOMEM : rc == AS_OK ? AS_OK : AS_INVAL;
}

/* The turn-output envelope (envelope.h), as a strict structured-output
** schema: every member required, signal nullable (docs/envelope.md: null is
** none), nothing else allowed. */
static const char envelope_schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"content\":{\"type\":\"string\"},"
    "\"confidence\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1},"
    "\"rationale\":{\"type\":\"string\"},"
    "\"signal\":{\"type\":[\"string\",\"null\"]}},"
    "\"required\":[\"content\",\"confidence\",\"rationale\",\"signal\"],"
    "\"additionalProperties\":false}";

static const char empty_schema[] = "{\"type\":\"object\",\"properties\":{}}";

static AS_WUR int put_object_text(json_t *o, const char *key, const char *text, int rc) {
  json_t *v = NULL;
  if (rc == AS_OK) rc = parse_object(text, &v);
  return put(o, key, v, rc);
}

/* --- messages ---------------------------------------------------------------------- */

typedef struct build {
  const as_wire_opts *o;
  const as_llm_request *req;
  const as_wire_names *names;
} build;

static AS_WUR int call_json(const build *b, const as_llm_tool_call *c, json_t **out) {
  int rc = AS_OK;
  char wire[AS_WIRE_NAME_MAX];
  json_t *call = json_object(), *fn = json_object();
  *out = NULL;
  if (!call || !fn) {
    rc = AS_NOMEM;
    goto out;
  }
  if (strnlen(c->name, AS_LLM_NAME_MAX) == AS_LLM_NAME_MAX || !name_ok(c->name) ||
      strnlen(c->id, AS_LLM_CALL_ID_MAX) == AS_LLM_CALL_ID_MAX || !text_ok(c->id)) {
    rc = AS_INVAL;
    goto out;
  }
  wire_of(b->names, c->name, wire);
  const char *args = c->args && c->args[0] ? c->args : "{}";
  rc = put(fn, "name", json_string(wire), rc);
  if (b->o->kind == AS_WIRE_OPENAI) {
    rc = put_text(fn, "arguments", args, rc);
    rc = put_text(call, "id", c->id, rc);
    rc = put(call, "type", json_string("function"), rc);
  } else {
    rc = put_object_text(fn, "arguments", args, rc);
  }
  rc = put(call, "function", fn, rc);
  fn = NULL;
  if (rc == AS_OK) {
    *out = call;
    call = NULL;
  }
out:
  json_decref(fn);
  json_decref(call);
  return rc;
}

/* The wire name of the call that call_id answers, from the latest assistant
** message before msgs[i] that made it; NULL when none did. */
static const char *answered(const build *b, size_t i, const char *call_id,
                            char wire[AS_WIRE_NAME_MAX]) {
  while (i-- > 0) {
    const as_llm_message *m = &b->req->msgs[i];
    /* msgs[0..i) were built already: their calls are well formed */
    for (size_t k = m->role == AS_LLM_ASSISTANT ? m->ncalls : 0; k-- > 0;)
      if (strncmp(m->calls[k].id, call_id, AS_LLM_CALL_ID_MAX) == 0) {
        wire_of(b->names, m->calls[k].name, wire);
        return wire;
      }
  }
  return NULL;
}

static const char *const role_names[] = {"system", "user", "assistant", "tool"};

static AS_WUR int message_json(const build *b, size_t i, json_t **out) {
  const as_llm_message *m = &b->req->msgs[i];
  bool openai = b->o->kind == AS_WIRE_OPENAI;
  int rc = AS_OK;
  json_t *msg = json_object(), *calls = NULL;
  *out = NULL;
  if (!msg) return AS_NOMEM;
  if ((unsigned)m->role > AS_LLM_TOOL || (m->ncalls && (!m->calls || m->role != AS_LLM_ASSISTANT))) {
    rc = AS_INVAL;
    goto out;
  }
  if (m->ncalls > AS_LLM_CALLS_MAX) {
    rc = AS_TOOBIG;
    goto out;
  }
  rc = put(msg, "role", json_string(role_names[m->role]), rc);
  if (m->role == AS_LLM_TOOL) {
    if (!m->call_id || !m->call_id[0] || !text_ok(m->call_id)) {
      rc = AS_INVAL;
      goto out;
    }
    if (openai) rc = put_text(msg, "tool_call_id", m->call_id, rc);
    rc = put_text(msg, "content", m->text, rc);
    char wire[AS_WIRE_NAME_MAX];
    const char *name = openai ? NULL : answered(b, i, m->call_id, wire);
    if (name) rc = put(msg, "tool_name", json_string(name), rc);
  } else if (m->role == AS_LLM_ASSISTANT && openai && !m->text && m->ncalls) {
    rc = put(msg, "content", json_null(), rc);
  } else {
    rc = put_text(msg, "content", m->text, rc);
  }
  if (m->ncalls) {
    calls = json_array();
    for (size_t k = 0; rc == AS_OK && k < m->ncalls; k++) {
      json_t *c = NULL;
      rc = call_json(b, &m->calls[k], &c);
      rc = add(calls, c, rc);
    }
    rc = put(msg, "tool_calls", calls, rc);
  }
  if (rc == AS_OK) {
    *out = msg;
    msg = NULL;
  }
out:
  json_decref(msg);
  return rc;
}

static AS_WUR int tool_json(const build *b, size_t i, json_t **out) {
  const as_llm_tool *t = &b->req->tools[i];
  int rc = AS_OK;
  json_t *tool = json_object(), *fn = json_object();
  *out = NULL;
  if (!tool || !fn) {
    rc = AS_NOMEM;
    goto out;
  }
  rc = put(tool, "type", json_string("function"), rc);
  rc = put(fn, "name", json_string(b->names->wire[i]), rc);
  if (t->description) rc = put_text(fn, "description", t->description, rc);
  rc = put_object_text(fn, "parameters", t->schema ? t->schema : empty_schema, rc);
  rc = put(tool, "function", fn, rc);
  fn = NULL;
  if (rc == AS_OK) {
    *out = tool;
    tool = NULL;
  }
out:
  json_decref(fn);
  json_decref(tool);
  return rc;
}

static AS_WUR int body_json(const build *b, json_t *root) {
  const as_wire_opts *o = b->o;
  int rc = put(root, "model", json_string(o->model), AS_OK);
  json_t *msgs = json_array();
  for (size_t i = 0; rc == AS_OK && i < b->req->nmsgs; i++) {
    json_t *m = NULL;
    rc = message_json(b, i, &m);
    rc = add(msgs, m, rc);
  }
  rc = put(root, "messages", msgs, rc);
  if (b->req->ntools) {
    json_t *tools = json_array();
    for (size_t i = 0; rc == AS_OK && i < b->req->ntools; i++) {
      json_t *t = NULL;
      rc = tool_json(b, i, &t);
      rc = add(tools, t, rc);
    }
    rc = put(root, "tools", tools, rc);
  }
  rc = put(root, "stream", json_boolean(o->stream), rc);
  if (o->kind == AS_WIRE_OPENAI) {
    if (o->stream) {
      json_t *so = json_object();
      if (so) rc = put(so, "include_usage", json_true(), rc);
      rc = put(root, "stream_options", so, rc);
    }
    if (o->structured) {
      json_t *rf = json_object(), *js = json_object();
      if (rf) rc = put(rf, "type", json_string("json_schema"), rc);
      if (js) {
        rc = put(js, "name", json_string("turn_output"), rc);
        rc = put(js, "strict", json_true(), rc);
        rc = put_object_text(js, "schema", envelope_schema, rc);
      }
      if (rf) rc = put(rf, "json_schema", js, rc);
      else json_decref(js);
      rc = put(root, "response_format", rf, rc);
    }
  } else if (o->structured) {
    rc = put_object_text(root, "format", envelope_schema, rc);
  }
  return rc;
}

int as_wire_build(const as_wire_opts *o, const as_llm_request *req, char **body, size_t *len,
                  as_wire_names *names) {
  int rc = AS_OK;
  json_t *root = NULL;
  char *buf = NULL;
  size_t n = 0;
  if (body) *body = NULL;
  if (len) *len = 0;
  if (names) memset(names, 0, sizeof *names);
  if (!o || !req || !body || !len || !names || (unsigned)o->kind >= AS__WIRE_COUNT ||
      !o->model || !o->model[0] || !text_ok(o->model) || (req->nmsgs && !req->msgs) ||
      (req->ntools && !req->tools))
    return AS_INVAL;
  if (req->nmsgs > AS_LLM_MESSAGES_MAX || req->ntools > WIRE_TOOLS_MAX) return AS_TOOBIG;
  rc = names_build(req, names);
  if (rc != AS_OK) return rc;
  build b = {o, req, names};
  root = json_object();
  rc = root ? body_json(&b, root) : AS_NOMEM;
  if (rc == AS_OK) {
    n = json_dumpb(root, NULL, 0, JSON_COMPACT);
    buf = n ? as_malloc(n + 1) : NULL;
    if (!buf || json_dumpb(root, buf, n, JSON_COMPACT) != n) rc = AS_NOMEM;
  }
  if (rc == AS_OK) {
    buf[n] = '\0';
    *body = buf;
    *len = n;
    buf = NULL;
  } else {
    as_wire_names_clear(names);
  }
  as_free(buf);
  json_decref(root);
  return rc;
}

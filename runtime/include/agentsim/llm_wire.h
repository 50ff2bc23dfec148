/*
** llm_wire.h -- the LLM providers' wire formats, with no I/O: request
** bodies out, response bytes in (DESIGN.md section 4, real mode).
**
** Two formats: OpenAI-compatible chat completions (POST
** BASE/chat/completions; streaming is Server-Sent Events, "data: {...}"
** lines ending in "data: [DONE]") and Ollama's chat (POST BASE/api/chat;
** streaming is NDJSON, one object per line, the last with "done": true).
** The code here is pure: it reaches only the seam's allocator and jansson,
** so the same functions run under posix, in the sim (against a cassette)
** and in the fuzzers (every parser below has a harness in fuzz/).
**
** Tool names. The providers accept names matching ^[A-Za-z0-9_-]{1,64}$;
** the runtime's are "server:tool". as_wire_build maps each tool to a wire
** name (':' and every other character outside the set become '_', cut to
** 64, a "_2", "_3", ... suffix on a clash) and keeps the map in
** as_wire_names; the parser maps a call's wire name back to the qualified
** one (a name the map lacks is passed through as the model sent it: the
** gateway tells the model it does not exist).
**
** Usage. OpenAI reports prompt_tokens inclusive of
** prompt_tokens_details.cached_tokens (cache reads) and completion_tokens
** inclusive of reasoning; Ollama reports prompt_eval_count and eval_count.
** The parser converts once, with as_llm_usage_from_inclusive (budget.h),
** into the exclusive buckets of llm.h. Streaming quirks handled: a usage
** chunk whose choices are null, empty or absent; usage on a last chunk that
** still has choices; a stream that ends without usage (usage_known false:
** the ledger estimates).
**
** Caps: a response body or stream past AS_WIRE_BODY_MAX, a line past
** AS_WIRE_LINE_MAX, a text, a call's arguments or a count past llm.h's caps
** are AS_TOOBIG; JSON nesting past AS_WIRE_DEPTH_MAX is malformed.
**
** Ownership: as_wire_build's *body is owned by the caller (as_free); the
** names map is released with as_wire_names_clear. A parser borrows the
** names map it was given until it is freed.
*/
#ifndef AGENTSIM_LLM_WIRE_H
#define AGENTSIM_LLM_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentsim/llm.h"
#include "agentsim/status.h"

#define AS_WIRE_BODY_MAX (8u * 1024u * 1024u) /* one response, bytes */
#define AS_WIRE_LINE_MAX (1024u * 1024u)      /* one SSE or NDJSON line */
#define AS_WIRE_DEPTH_MAX 32                  /* JSON nesting (the strict layer's, json.h) */
#define AS_WIRE_NAME_MAX 65                   /* a wire tool name, NUL included */

/* X(NAME, name): the wire formats. */
#define AS_WIRE_KIND_MAP(X)                                                   \
  X(OPENAI, openai)                                                           \
  X(OLLAMA, ollama)

typedef enum as_wire_kind {
#define AS__WK(NAME, name) AS_WIRE_##NAME,
  AS_WIRE_KIND_MAP(AS__WK)
#undef AS__WK
  AS__WIRE_COUNT
} as_wire_kind;

typedef struct as_wire_opts {
  as_wire_kind kind;
  const char *model;       /* required */
  bool stream;             /* ask for a stream (OpenAI: with
                           ** stream_options.include_usage) */
  bool structured;         /* ask for the turn-output envelope as structured
                           ** output (OpenAI response_format json_schema; Ollama
                           ** format with the schema) */
} as_wire_opts;

/* The tool-name map of one request. */
typedef struct as_wire_names {
  size_t n;
  char (*wire)[AS_WIRE_NAME_MAX]; /* owned: wire[i] is tools[i]'s wire name */
  char **qualified;               /* owned copies of tools[i].name */
} as_wire_names;

/* The path a format posts to, relative to the base URL ("/chat/completions",
** "/api/chat"). */
const char *as_wire_path(as_wire_kind kind);
/* "openai"-style name; "?" out of range. */
const char *as_wire_kind_name(as_wire_kind kind);
/* Parse a name back: AS_OK, or AS_INVAL for an unknown one. */
AS_WUR int as_wire_kind_parse(const char *name, as_wire_kind *out);

/* The request body for req in format o->kind: the messages (roles, texts,
** the assistant's calls with their wire names, the tool results with their
** call ids), the tools with their schemas, the model, stream and
** structured-output settings. The same request gives the same bytes (keys
** in a fixed order): cassettes key on them. *names gets the tool-name map.
** AS_INVAL for a request the format cannot express (a tool message without
** a call id; a model missing); AS_NOMEM. */
AS_WUR int as_wire_build(const as_wire_opts *o, const as_llm_request *req, char **body,
                         size_t *len, as_wire_names *names);
void as_wire_names_clear(as_wire_names *names);

/* One response being read: bytes in as they arrive, the answer at the end. */
typedef struct as_wire_parser as_wire_parser;

/* A parser for a response to a request built with o (its kind and stream
** setting decide the framing: one JSON body, SSE or NDJSON). names may be
** NULL (no tools). AS_NOMEM. */
AS_WUR int as_wire_parser_new(as_wire_parser **out, const as_wire_opts *o,
                              const as_wire_names *names);
/* Feed n more bytes (any split: a line or a UTF-8 sequence may span
** feeds). AS_OK; AS_LLM_ERR_MALFORMED's status (AS_PARSE) with *err filled
** for bytes that cannot be the format (a line that is not JSON, an error
** object in the stream: its message; an error object whose code names a
** kind -- 429, 5xx, ... -- gets that kind and its status, docs/providers.md);
** AS_TOOBIG past a cap; AS_NOMEM. After a failure every later call fails the
** same way (sticky). */
AS_WUR int as_wire_parser_feed(as_wire_parser *p, const char *data, size_t n,
                               as_llm_error *err);
/* The body is complete: *out gets the answer (text, calls mapped back to
** qualified names, structured output, usage, finish reason). A stream that
** stopped before its end ([DONE], or the done object) or a body that is
** not a whole JSON answer is AS_PARSE with kind MALFORMED ("truncated":
** the message says where). Statuses as as_wire_parser_feed. */
AS_WUR int as_wire_parser_finish(as_wire_parser *p, as_llm_response *out, as_llm_error *err);
void as_wire_parser_free(as_wire_parser *p);

/* A non-2xx answer as a typed error: 429 is RATE_LIMITED with Retry-After
** (delta-seconds, or an HTTP date measured from the answer's Date header
** when date is a readable one, else from now_wall_ns; absent or bad: 0);
** 408 TIMEOUT; 5xx SERVER; other 4xx REFUSAL. The message names the status
** and the provider's error message from the body when it has one (cut to
** fit; never a header). Returns the kind's status (llm.h). */
AS_WUR int as_wire_http_error(int status, const char *retry_after, const char *date,
                              const char *body, size_t len, int64_t now_wall_ns,
                              as_llm_error *err);

#endif /* AGENTSIM_LLM_WIRE_H */

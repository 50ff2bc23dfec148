/*
** llm.h -- the LLM interface: a provider vtable, like the platform seam.
**
** A turn hands a provider the conversation so far and the tools the model
** may call (as the model sees them: injected arguments already removed),
** and gets back one assistant message or a typed error. Providers: the
** scripted stub (sim/llm/stub.h, usable in real mode too), cassette
** replay, and OpenAI-compatible / Ollama over libcurl (runtime/posix/).
**
** In the sim an LLM call is a scheduling point: a provider that takes time
** sleeps on the seam (as_sleep_until), so other tasks run meanwhile and
** timers (the approval watchdog) fire inside the call.
**
** Usage is reported in exclusive buckets: input_tokens excludes cache reads
** and writes, output_tokens includes reasoning, so the four add up to what
** the provider billed and none is counted twice.
**
** Ownership: a response owns its texts and calls; as_llm_response_clear
** frees them (with as_free). A request borrows everything it points to.
*/
#ifndef AGENTSIM_LLM_H
#define AGENTSIM_LLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentsim/status.h"

#define AS_LLM_NAME_MAX 128        /* tool and agent names, NUL included */
#define AS_LLM_CALL_ID_MAX 64      /* a tool call's id, NUL included */
#define AS_LLM_TEXT_MAX (64u * 1024u)   /* an answer's text, NUL excluded */
#define AS_LLM_ARGS_MAX (64u * 1024u)   /* one tool call's arguments */
#define AS_LLM_CALLS_MAX 16u            /* tool calls in one answer */
#define AS_LLM_MESSAGES_MAX 256u        /* messages in one request */
#define AS_LLM_ERROR_MAX 256            /* an error's message, NUL included */
/* A request's timeout: the runtime's, else the provider's, else the default;
** never more than the most (a run refuses a longer one: AS_INVAL). */
#define AS_LLM_TIMEOUT_DEFAULT_NS (120ull * 1000000000ull)
#define AS_LLM_TIMEOUT_MAX_NS (600ull * 1000000000ull)

typedef enum as_llm_role {
  AS_LLM_SYSTEM,
  AS_LLM_USER,
  AS_LLM_ASSISTANT, /* text and/or the tool calls it made */
  AS_LLM_TOOL       /* the result of one tool call (call_id) */
} as_llm_role;

typedef struct as_llm_tool_call {
  char id[AS_LLM_CALL_ID_MAX];
  char name[AS_LLM_NAME_MAX]; /* as the model named it */
  char *args;                 /* owned JSON text, as the model sent it */
} as_llm_tool_call;

typedef struct as_llm_message {
  as_llm_role role;
  const char *text;                /* may be NULL */
  const as_llm_tool_call *calls;   /* ASSISTANT: the calls it made */
  size_t ncalls;
  const char *call_id;             /* TOOL: which call this answers */
} as_llm_message;

typedef struct as_llm_tool {
  const char *name;        /* qualified "server:tool" */
  const char *description;
  const char *schema;      /* JSON Schema text of the arguments the model sees */
} as_llm_tool;

typedef struct as_llm_request {
  const char *session_id;  /* for providers that key on it (the stub) */
  const char *agent;       /* the agent whose turn this is */
  unsigned call;           /* 1-based: the agent run's n-th LLM call */
  unsigned attempt;        /* 1-based: the n-th try of that call (a turn
                           ** tries a transient error again) */
  unsigned retry;          /* the session's retries so far: 0 in its first run, N in
                           ** the run of retry N (retry.h) */
  const as_llm_message *msgs;
  size_t nmsgs;
  const as_llm_tool *tools;
  size_t ntools;
  uint64_t timeout_ns;     /* the turn sets it (never 0 from a turn); 0: the
                           ** provider's own default */
} as_llm_request;

/* Exclusive buckets (budget.h converts a provider's inclusive counts once,
** at the edge: as_llm_usage_from_inclusive). */
typedef struct as_llm_usage {
  int64_t input_tokens;       /* not counting cache reads or writes */
  int64_t cache_read_tokens;
  int64_t cache_write_tokens;
  int64_t output_tokens;      /* reasoning included: billed as output */
} as_llm_usage;

/* X(NAME, name): why the model stopped. */
#define AS_LLM_FINISH_MAP(X)                                                  \
  X(STOP, stop)                                                               \
  X(TOOL_CALLS, tool_calls)                                                   \
  X(LENGTH, length)                                                           \
  X(CONTENT_FILTER, content_filter)

typedef enum as_llm_finish {
#define AS__LFIN(NAME, name) AS_LLM_FINISH_##NAME,
  AS_LLM_FINISH_MAP(AS__LFIN)
#undef AS__LFIN
  AS__LLM_FINISH_COUNT
} as_llm_finish;

typedef struct as_llm_response {
  char *text;               /* owned, NULL when the answer has none */
  as_llm_tool_call *calls;  /* owned array */
  size_t ncalls;
  char *structured;         /* owned JSON text of structured output, or NULL */
  as_llm_usage usage;
  bool usage_known;         /* false: the provider gave none (a stream that ended
                            ** without it): the ledger estimates, a token per four
                            ** bytes of request and of answer (usage_estimated) */
  as_llm_finish finish;
} as_llm_response;

/* X(NAME, name, status): a typed LLM error and the status the call returns
** with it. Timeouts, rate limits, server errors and malformed responses
** are transient for the retry policy; a refusal is permanent. */
#define AS_LLM_ERROR_MAP(X)                                                   \
  X(TIMEOUT, timeout, AS_TIMEDOUT)                                            \
  X(RATE_LIMITED, rate_limited, AS_BUSY)                                      \
  X(SERVER, server_error, AS_IO)                                              \
  X(MALFORMED, malformed_response, AS_PARSE)                                  \
  X(REFUSAL, refusal, AS_INVAL)

typedef enum as_llm_error_kind {
  AS_LLM_ERR_NONE = 0,
#define AS__LERR(NAME, name, st) AS_LLM_ERR_##NAME,
  AS_LLM_ERROR_MAP(AS__LERR)
#undef AS__LERR
  AS__LLM_ERR_COUNT
} as_llm_error_kind;

typedef struct as_llm_error {
  as_llm_error_kind kind;
  uint64_t retry_after_ns;       /* RATE_LIMITED: how long to wait (0: unknown) */
  int http_status;               /* 0 when none */
  char message[AS_LLM_ERROR_MAX];/* never holds a key or a header */
} as_llm_error;

typedef struct as_llm_vtable {
  const char *name; /* "stub", "openai", "ollama", "cassette" */
  /* One call. AS_OK with *out filled; on a typed error the kind's status
  ** (AS_LLM_ERROR_MAP) with *err filled and *out empty; AS_NOMEM,
  ** AS_TOOBIG (an answer past a cap), AS_INVAL (a bad request). */
  int (*complete)(void *self, const as_llm_request *req, as_llm_response *out,
                  as_llm_error *err);
  void (*destroy)(void *self);
} as_llm_vtable;

typedef struct as_llm {
  const as_llm_vtable *vt;
  void *self;
  uint64_t timeout_ns; /* this provider's request timeout; 0: AS_LLM_TIMEOUT_DEFAULT_NS */
  const char *model;   /* the model's name, priced by it (budget.h); NULL: "unknown" */
} as_llm;

/* llm->vt->complete, with *out and *err zeroed first and the result
** checked: a provider that answers AS_OK with more than AS_LLM_CALLS_MAX
** calls or a text past AS_LLM_TEXT_MAX gets AS_TOOBIG (and *out cleared).
** So does a structured output past AS_LLM_TEXT_MAX or a call's arguments
** past AS_LLM_ARGS_MAX. A provider that breaks the vtable's contract (a
** typed status without its kind or with another kind's, a kind with
** AS_OK, an error with a response, a call without NUL-terminated id and
** name or without arguments, a finish out of range) gets AS_INTERNAL, with
** *out cleared and *err holding only a message saying what. Before the
** provider is called: NULL arguments (or msgs/tools NULL with a count) are
** AS_INVAL, more than AS_LLM_MESSAGES_MAX messages AS_TOOBIG. */
AS_WUR int as_llm_complete(as_llm *llm, const as_llm_request *req, as_llm_response *out,
                           as_llm_error *err);
void as_llm_destroy(as_llm *llm);
/* Release what *r owns and zero it. NULL is a no-op. */
void as_llm_response_clear(as_llm_response *r);
/* The usage of an answer its provider gave none for (usage_known false):
** a token per four bytes, rounded up, of the request (every message's
** text, call_id, and calls' names and arguments; every tool's name,
** description and schema) as input, and of the answer (its text, calls'
** names and arguments, structured output) as output; no cache buckets. */
void as_llm_usage_estimate(const as_llm_request *req, const as_llm_response *resp,
                           as_llm_usage *out);
/* "rate_limited"-style name; "none"; "?" out of range. */
const char *as_llm_error_name(as_llm_error_kind k);
/* The finish reason's name; "?" out of range. */
const char *as_llm_finish_name(as_llm_finish f);

#endif /* AGENTSIM_LLM_H */

/*
** llm_http.h -- the OpenAI-compatible and Ollama providers of llm.h, over
** http_client.h with the formats of llm_wire.h (runtime/posix/llm_http.c).
**
** No public default endpoint: a provider without a base URL is refused
** when it is made. The API key is given by the caller (the CLI reads it
** from the environment variable the app names; runtime/ reads no
** environment), copied, sent as "Authorization: Bearer KEY" and never
** logged, traced, put in an error or given to a tap.
**
** How an exchange maps to llm.h's answers:
**   2xx with a whole answer        AS_OK
**   the deadline or low speed      TIMEOUT (transient)
**   429                            RATE_LIMITED, retry_after_ns from Retry-After
**   5xx, or no connection          SERVER (transient; the message says which)
**   a truncated or non-JSON body   MALFORMED (transient)
**   other 4xx                      REFUSAL (permanent)
**
** The provider is safe to share between threads: each call has its own
** curl handle and parser.
*/
#ifndef AGENTSIM_LLM_HTTP_H
#define AGENTSIM_LLM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentsim/http_client.h"
#include "agentsim/llm.h"
#include "agentsim/llm_wire.h"
#include "agentsim/status.h"

#define AS_LLM_HTTP_KEY_MAX 512

typedef struct as_llm_http_cfg {
  as_wire_kind kind;
  const char *base_url;      /* required: "http://127.0.0.1:11434" (no trailing path
                             ** beyond the API's root: OpenAI's usually ends in /v1) */
  const char *model;         /* required */
  const char *api_key;       /* NULL: none sent */
  bool stream;
  bool structured;           /* ask for the envelope as structured output */
  uint64_t timeout_ns;       /* per request; 0: AS_LLM_TIMEOUT_DEFAULT_NS (the turn's
                             ** request timeout wins when it sets one) */
  uint64_t low_speed_bytes;  /* 0 with low_speed_ns 0: 1 byte in 30 s */
  uint64_t low_speed_ns;
  const as_http_net *net;    /* NULL: the network; else a simulated connection
                             ** (borrowed for the provider's life) */
  const as_http_tap *tap;    /* NULL: none (borrowed) */
} as_llm_http_cfg;

/* Make a provider into *out (as_llm_destroy frees it). AS_INVAL, with
** what is wrong in err (never the key), for a missing base URL or model,
** a base URL that is not http:// or https://, a key past
** AS_LLM_HTTP_KEY_MAX or with a line break; AS_NOMEM. */
AS_WUR int as_llm_http_new(const as_llm_http_cfg *cfg, as_llm *out, char *err, size_t cap);

#endif /* AGENTSIM_LLM_HTTP_H */

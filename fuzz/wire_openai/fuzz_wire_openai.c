/*
** fuzz_wire_openai.c -- the OpenAI-compatible chat completions response
** parser: one JSON body, or a Server-Sent Events stream (llm_wire.h). The
** harness and what it checks: wire_harness.h.
*/
#define WIRE_KIND AS_WIRE_OPENAI
#include "wire_harness.h"

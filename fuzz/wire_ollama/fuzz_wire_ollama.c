/*
** fuzz_wire_ollama.c -- Ollama's /api/chat response parser: one JSON body,
** or an NDJSON stream (llm_wire.h). The harness and what it checks:
** ../wire_openai/wire_harness.h (shared with wire_openai).
*/
#define WIRE_KIND AS_WIRE_OLLAMA
#include "../wire_openai/wire_harness.h"

/*
** cassette_fixed.h -- the one request the standalone bundled cassettes
** (fixtures/cassettes/{openai,ollama}-*, but the -cycle ones) were recorded
** with: cassette_tool records it, test_cassette_llm replays it. Changing it
** changes every key: regenerate (tests/cassette_gen.py).
*/
#ifndef AGENTSIM_TESTS_CASSETTE_FIXED_H
#define AGENTSIM_TESTS_CASSETTE_FIXED_H

#include "agentsim/llm.h"

static const as_llm_message fixed_msgs[] = {
    {.role = AS_LLM_SYSTEM, .text = "You look after a service. Answer with the envelope."},
    {.role = AS_LLM_USER, .text = "{\"session\":\"s0\",\"fields\":{\"service\":\"api\"}}"},
};
static const as_llm_tool fixed_tools[] = {
    {.name = "obs:get_logs", .description = "The service's recent logs.",
     .schema = "{\"type\":\"object\",\"properties\":{\"service\":{\"type\":\"string\"},"
               "\"minutes\":{\"type\":\"integer\"}},\"required\":[\"service\"]}"},
    {.name = "core:note", .description = "Write a note.",
     .schema = "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}}}"},
};

static inline as_llm_request fixed_request(void) {
  return (as_llm_request){.session_id = "s0", .agent = "intake", .call = 1, .attempt = 1,
                          .msgs = fixed_msgs, .nmsgs = 2, .tools = fixed_tools, .ntools = 2,
                          .timeout_ns = 5ull * 1000000000ull};
}

#endif

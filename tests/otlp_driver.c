/*
** otlp_driver.c -- starts the real exporter (otlp.h) against ENDPOINT,
** emits CYCLES known span trees the way the turn loop does (children end,
** and are emitted, before their parents):
**
**   invoke_agent                 root, one per cycle
**     invoke_agent planner       the agent's run
**       chat demo-model          leaf LLM call (CLIENT), with usage
**       execute_tool search      leaf tool call, the last cycle's in error
**
** then stops it and exits 0 only when every span was sent (2xx) and none
** failed or was dropped. Prints the counters either way.
**
** usage: otlp_driver ENDPOINT CYCLES BATCH
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/otlp.h"
#include "agentsim/seam.h"

static int ids(as_span *sp, const uint8_t trace[16], const uint8_t *parent) {
  memcpy(sp->trace_id, trace, 16);
  if (parent) memcpy(sp->parent_id, parent, 8);
  return as_random_bytes(sp->span_id, sizeof sp->span_id);
}

static void attr_s(as_span *sp, const char *k, const char *v) {
  sp->attrs[sp->nattrs++] = (as_span_attr){.key = k, .s = v};
}
static void attr_i(as_span *sp, const char *k, int64_t v) {
  sp->attrs[sp->nattrs++] = (as_span_attr){.key = k, .i = v};
}

/* One cycle's four spans, emitted leaf first. */
static int cycle(const as_tracer *t, unsigned c, bool tool_error) {
  char op[32];
  (void)snprintf(op, sizeof op, "op-%u", c); /* ignore: sized to fit */
  uint8_t trace[16];
  as_span root = {0}, agent = {0}, chat = {0}, tool = {0};
  int rc = as_random_bytes(trace, sizeof trace);
  if (rc == AS_OK) rc = ids(&root, trace, NULL);
  if (rc == AS_OK) rc = ids(&agent, trace, root.span_id);
  if (rc == AS_OK) rc = ids(&chat, trace, agent.span_id);
  if (rc == AS_OK) rc = ids(&tool, trace, agent.span_id);
  if (rc != AS_OK) return rc;
  int64_t t0 = as_now_wall_ns();
  (void)snprintf(root.name, sizeof root.name, "invoke_agent"); /* ignore: fits */
  root.start_ns = t0;
  root.end_ns = t0 + 4000000;
  attr_s(&root, "gen_ai.operation.name", "invoke_agent");
  attr_s(&root, "gen_ai.agent.name", "demo");
  attr_s(&root, "session.id", "s-1");
  attr_s(&root, "outcome", tool_error ? "error" : "ended");
  attr_s(&root, "operation.id", op);
  (void)snprintf(agent.name, sizeof agent.name, "invoke_agent planner"); /* ignore: fits */
  agent.start_ns = t0 + 100000;
  agent.end_ns = t0 + 3900000;
  attr_s(&agent, "gen_ai.agent.name", "planner");
  attr_s(&agent, "operation.id", op);
  (void)snprintf(chat.name, sizeof chat.name, "chat demo-model"); /* ignore: fits */
  chat.kind = AS_SPAN_CLIENT;
  chat.start_ns = t0 + 200000;
  chat.end_ns = t0 + 2000000;
  attr_s(&chat, "gen_ai.operation.name", "chat");
  attr_s(&chat, "gen_ai.request.model", "demo-model");
  attr_i(&chat, "gen_ai.usage.input_tokens", 1200);
  attr_i(&chat, "gen_ai.usage.output_tokens", 80);
  attr_i(&chat, "gen_ai.usage.cache_read.input_tokens", 1000);
  attr_i(&chat, "gen_ai.usage.cache_creation.input_tokens", 0);
  attr_i(&chat, "agentsim.cost_micros", 4321);
  attr_s(&chat, "agentsim.price_version", "2025-01");
  attr_s(&chat, "operation.id", op);
  (void)snprintf(tool.name, sizeof tool.name, "execute_tool search"); /* ignore: fits */
  tool.start_ns = t0 + 2100000;
  tool.end_ns = t0 + 3800000;
  tool.error = tool_error;
  tool.message = tool_error ? "tool \"search\" failed: timeout" : NULL;
  attr_s(&tool, "gen_ai.tool.name", "search");
  attr_s(&tool, "operation.id", op);
  t->emit(t->self, &chat);
  t->emit(t->self, &tool);
  t->emit(t->self, &agent);
  t->emit(t->self, &root);
  return AS_OK;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: otlp_driver ENDPOINT CYCLES BATCH\n");
    return 2;
  }
  char *end;
  unsigned long cycles = strtoul(argv[2], &end, 10);
  if (*end || cycles == 0 || cycles > 1000) return 2;
  unsigned long batch = strtoul(argv[3], &end, 10);
  if (*end || batch == 0 || batch > AS_OTLP_BATCH_MAX) return 2;
  as_otlp_exporter *e;
  int rc = as_otlp_exporter_start(&e, argv[1], "agentsim-otlp-driver", 4096, batch, 50, 5000);
  if (rc != AS_OK) {
    fprintf(stderr, "otlp_driver: exporter start: %s\n", as_status_name(rc));
    return 1;
  }
  as_tracer t = as_otlp_exporter_tracer(e);
  for (unsigned c = 0; c < cycles && rc == AS_OK; c++) rc = cycle(&t, c, c + 1 == cycles);
  as_otlp_stats st;
  int src = as_otlp_exporter_stop(e, 10000, &st);
  printf("otlp_driver: emitted=%lu accepted=%" PRIu64 " sent=%" PRIu64 " failed=%" PRIu64
         " dropped=%" PRIu64 " requests=%" PRIu64 " last_http=%ld\n",
         4 * cycles, st.accepted, st.sent, st.failed, st.dropped, st.requests, st.last_http);
  if (rc != AS_OK || src != AS_OK || st.sent != 4 * cycles) {
    fprintf(stderr, "otlp_driver: not every span was sent (%s, %s)\n", as_status_name(rc),
            as_status_name(src));
    return 1;
  }
  return 0;
}

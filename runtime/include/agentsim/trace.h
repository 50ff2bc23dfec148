/*
** trace.h -- spans of a run (DESIGN.md section 5), OpenTelemetry GenAI names.
**
** A run hands each span, once it has ended, to the runtime's tracer
** (as_runtime.tracer; NULL: none). The tracer must not block and must not
** fail the run: a real exporter copies the span into a bounded queue and
** counts what it drops (otlp.h); the sim's sink records it with virtual
** timestamps. Spans, parent first:
**
**   invoke_agent          one per run of a cycle (as_run, a resume, a retry):
**                         gen_ai.operation.name=invoke_agent, gen_ai.agent.name
**                         (the app), session.id, outcome
**   invoke_agent <agent>  one per agent run inside it: gen_ai.agent.name
**   chat <model>          one per LLM call (leaf): gen_ai.operation.name=chat,
**                         gen_ai.request.model, gen_ai.usage.input_tokens (all
**                         input, cached included), gen_ai.usage.output_tokens,
**                         gen_ai.usage.cache_read.input_tokens,
**                         gen_ai.usage.cache_creation.input_tokens,
**                         agentsim.cost_micros, agentsim.price_version
**   execute_tool <tool>   one per app tool call (leaf): gen_ai.tool.name
**
** Every span carries operation.id (the cycle's op_id, or "<session>" for a
** run outside a cycle). Usage sits only on chat spans: a parent carrying
** its children's usage would double a trace's cost. The trace id is a hash
** of the operation id, so every run of one cycle shares one trace; span ids
** come from the seam's random source.
*/
#ifndef AGENTSIM_TRACE_H
#define AGENTSIM_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AS_SPAN_NAME_MAX 192
#define AS_SPAN_ATTRS_MAX 16u

typedef enum as_span_kind { AS_SPAN_INTERNAL, AS_SPAN_CLIENT } as_span_kind;

typedef struct as_span_attr {
  const char *key;
  const char *s; /* a string value, or NULL: the integer i */
  int64_t i;
} as_span_attr;

typedef struct as_span {
  uint8_t trace_id[16];
  uint8_t span_id[8];
  uint8_t parent_id[8]; /* all zero: a root span */
  char name[AS_SPAN_NAME_MAX];
  as_span_kind kind;
  int64_t start_ns, end_ns; /* the seam's wall clock (virtual in the sim) */
  bool error;               /* status: error (with message) or unset */
  const char *message;      /* borrowed, may be NULL */
  as_span_attr attrs[AS_SPAN_ATTRS_MAX];
  size_t nattrs;            /* keys and strings borrowed for the call only */
} as_span;

typedef struct as_tracer {
  void (*emit)(void *self, const as_span *sp); /* copy what it keeps */
  void *self;
} as_tracer;

/* The attribute key's integer value into *out; false when absent or a string. */
bool as_span_int(const as_span *sp, const char *key, int64_t *out);
/* The attribute key's string value, or NULL. */
const char *as_span_str(const as_span *sp, const char *key);

#endif /* AGENTSIM_TRACE_H */

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

#include "agentsim/status.h"

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

/* The attribute key's integer value into *out; false when absent or a string.
** The first attribute with that key answers. */
bool as_span_int(const as_span *sp, const char *key, int64_t *out);
/* The attribute key's string value, or NULL. */
const char *as_span_str(const as_span *sp, const char *key);

/* --- span records: a span's deep copy -------------------------------------- */

/* Caps on what a record keeps of a span's texts (bytes, without the NUL).
** Longer texts are cut at a UTF-8 character boundary (as OpenTelemetry's
** attribute value length limit does); bytes that are not UTF-8 become '?',
** so every record encodes as JSON. More than AS_SPAN_ATTRS_MAX attributes
** cannot be given (as_span has no room for them). */
#define AS_SPAN_KEY_MAX 128
#define AS_SPAN_VALUE_MAX 1024
#define AS_SPAN_MESSAGE_MAX 1024

typedef struct as_span_rec {
  as_span span;   /* its key, s and message point into text (or are NULL) */
  char *text;     /* owned (as_malloc): every text the span refers to */
} as_span_rec;

/* Deep-copy *sp into *out (its texts in one as_malloc block). *out is
** zeroed on failure (AS_NOMEM; AS_INVAL for NULL or more than
** AS_SPAN_ATTRS_MAX attributes or an attribute without a key). */
AS_WUR int as_span_rec_copy(as_span_rec *out, const as_span *sp);
/* Release what a record owns and zero it; NULL or a zeroed record is fine. */
void as_span_rec_free(as_span_rec *r);

/* --- the bounded queue (the real exporter's side) -------------------------- */

/* A FIFO of span records shared by any number of pushers and poppers,
** locked with the seam's mutex. Capacity is fixed at creation (1 ..
** AS_SPAN_QUEUE_MAX). A push never waits for room: when the queue is full
** (or closed, or the copy fails) the span is dropped and
** counted. */
#define AS_SPAN_QUEUE_MAX 65536u
typedef struct as_span_queue as_span_queue;

typedef struct as_span_queue_stats {
  size_t capacity, len;  /* now */
  uint64_t accepted;     /* pushes that queued their span */
  uint64_t dropped_full; /* pushes refused: queue full or closed */
  uint64_t dropped_copy; /* pushes whose copy failed: out of memory, or a
                         ** malformed span (as_span_rec_copy) */
} as_span_queue_stats;

/* A new empty queue holding at most capacity records, into *out (the
** caller's: as_span_queue_free). AS_INVAL for capacity 0 or above
** AS_SPAN_QUEUE_MAX, AS_NOMEM. */
AS_WUR int as_span_queue_new(as_span_queue **out, size_t capacity);
/* Free the queue and every record still in it; NULL is a no-op. Nobody may
** be using it. */
void as_span_queue_free(as_span_queue *q);
/* Copy *sp in at the tail, or drop and count it. Never blocks but for the
** queue's lock, which nobody holds across anything slow. */
void as_span_queue_push(as_span_queue *q, const as_span *sp);
/* Move up to max records from the head into out[0..*n) (the caller's now:
** as_span_rec_free each); *n is 0 when the queue is empty. */
void as_span_queue_pop(as_span_queue *q, as_span_rec *out, size_t max, size_t *n);
/* Wait until the queue holds at least min records, or it is closed, or the
** monotonic clock reaches deadline_ns (AS_DEADLINE_NEVER: no limit).
** Returns true when it holds at least min records or is closed. */
bool as_span_queue_wait(as_span_queue *q, size_t min, uint64_t deadline_ns);
/* Refuse every later push (dropped_full counts them) and wake every waiter;
** records already queued stay poppable. */
void as_span_queue_close(as_span_queue *q);
/* Discard every queued record, counting them into *n (may be NULL). */
void as_span_queue_discard(as_span_queue *q, size_t *n);
void as_span_queue_stats_get(as_span_queue *q, as_span_queue_stats *out);
/* A tracer whose emit pushes into q (q must outlive it). */
as_tracer as_span_queue_tracer(as_span_queue *q);

/* --- the sim's sink: spans kept in memory, in order ------------------------ */

/* The sim never touches the network: its runtime is given this tracer, which
** keeps a copy of every span, in emission order, for the harness to publish
** to the oracle. The spans' timestamps are the seam's wall clock, so in the
** sim they are virtual time and a seed replays them exactly. The records are
** allocated at emit time with as_malloc: under the sim they are the run's
** memory, so read them (and free the sink) before the run ends.
**
** locked: true when real threads emit concurrently (the seam's mutex guards
** it); the sim passes false, so recording a span adds no scheduling point
** (as_malloc is none) and tracing leaves the schedule unchanged. Past
** capacity (1 .. AS_SPAN_SINK_MAX) spans are dropped and counted. */
#define AS_SPAN_SINK_MAX 1048576u
typedef struct as_span_sink as_span_sink;

/* AS_INVAL for capacity 0 or above AS_SPAN_SINK_MAX, AS_NOMEM. */
AS_WUR int as_span_sink_new(as_span_sink **out, size_t capacity, bool locked);
void as_span_sink_free(as_span_sink *s); /* and every record; NULL is a no-op */
void as_span_sink_record(as_span_sink *s, const as_span *sp);
size_t as_span_sink_count(as_span_sink *s);
/* The i-th span recorded (i < count), valid until the sink is cleared or
** freed; NULL past the end. */
const as_span_rec *as_span_sink_get(as_span_sink *s, size_t i);
/* Spans not kept: past capacity or out of memory. */
uint64_t as_span_sink_dropped(as_span_sink *s);
/* Free every record and the drop count (the capacity stays). */
void as_span_sink_clear(as_span_sink *s);
as_tracer as_span_sink_tracer(as_span_sink *s);

/* --- OTLP/HTTP JSON -------------------------------------------------------- */

/* Largest request body as_otlp_encode makes, most spans in one, longest
** service name. */
#define AS_OTLP_BODY_MAX (4u << 20)
#define AS_OTLP_SPANS_MAX 4096u
#define AS_OTLP_SERVICE_MAX 256u
#define AS_OTLP_SCOPE_NAME "agentsim"

/* spans[0..n) as one OTLP/HTTP JSON ExportTraceServiceRequest (one resource
** with service.name = service_name, one scope "agentsim") into *json: a
** NUL-terminated text the caller frees with as_free. Ids are lowercase hex
** (a root span has no parentSpanId), times decimal strings (a negative one
** is 0), kind INTERNAL 1 or CLIENT 3, integer attributes intValue as decimal
** strings, status code 2 (error, with the message) or 0. The same spans
** always give the same bytes. AS_INVAL (n == 0, NULL, a service name that
** is empty, longer than AS_OTLP_SERVICE_MAX or not UTF-8, a span whose texts
** are not UTF-8 or whose attribute has no key: records from
** as_span_rec_copy never are), AS_TOOBIG (more than AS_OTLP_SPANS_MAX spans
** or a body above AS_OTLP_BODY_MAX: send fewer), AS_NOMEM; *json is NULL
** unless AS_OK. */
AS_WUR int as_otlp_encode(const as_span_rec *spans, size_t n, const char *service_name,
                          char **json);

#endif /* AGENTSIM_TRACE_H */

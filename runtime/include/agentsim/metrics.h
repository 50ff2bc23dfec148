/*
** metrics.h -- Prometheus metrics, derived from the ledger and the event
** log at the moment of the call, never counted (DESIGN.md section 5).
**
** Nothing here keeps a counter: every number is a SQL aggregate over
** cost_records, budget_reservations and events, all read in one read
** transaction, so one exposition is one consistent snapshot (a record and
** the reservation that settled it are seen together or not at all). Two
** calls over the same database give the same text (but for the budget
** gauge, whose day is the seam's wall clock).
**
** The text is the Prometheus text exposition format 0.0.4: a HELP and a
** TYPE line per family, counters ending in _total, base units (seconds,
** dollars), histograms as cumulative _bucket{le} series ending in
** le="+Inf" (equal to _count) with _sum and _count. Label values are
** escaped (\\, \", \n) and invalid UTF-8 bytes become U+FFFD. No label ever
** carries a session id (unbounded cardinality). Families, in order:
**
**   agent_cycles_total{outcome}       closed reservations by outcome; the
**       five known outcomes (cancelled, completed, failed, idle, recovered)
**       always appear, others too when present
**   agent_cycle_duration_seconds      closed_ns - opened_ns of the closed
**       reservations (buckets 60 300 600 900 1200 1800 3600)
**   agent_phase_duration_seconds{phase}  an agent run, phase = the agent:
**       an agent_finished event and the agent_started of the same agent
**       right before it in its session's log (buckets 10 30 60 120 300 600)
**   agent_gate_results_total{gate,result}  gate = the tool of a gated call
**       (gate_fired), result = its approval_resolved decision (approved,
**       rejected, timed_out); a call still pending is not counted
**   agent_tokens_total{type}          the ledger's exclusive buckets
**       (input, cache_read, cache_write, output)
**   agent_budget_spend_dollars_total  SUM(cost_micros) of every record,
**       printed exactly ("%lld.%06lld")
**   agent_budget_remaining_dollars    today's limit - spent - held floored
**       at 0 (budget.h's formula; today: the seam's UTC day); only with a cfg
**   gen_ai_client_token_usage{gen_ai_operation_name="chat",
**       gen_ai_request_model,gen_ai_token_type}  OpenTelemetry GenAI
**       semconv: one observation per llm_call record per type; "input" is
**       the whole prompt (input + cache_read + cache_write, as the semconv
**       counts it), "output" the output (semconv's advised buckets 1 4 16 ...
**       67108864)
**   gen_ai_client_operation_duration_seconds{gen_ai_operation_name="chat",
**       gen_ai_request_model}  llm_call records' duration_ns (semconv's
**       buckets 0.01 0.02 ... 81.92)
** Series within a family are sorted by their label values (bytewise).
*/
#ifndef AGENTSIM_METRICS_H
#define AGENTSIM_METRICS_H

#include <stddef.h>

#include "agentsim/budget.h"
#include "agentsim/status.h"
#include "agentsim/store.h"

/* The most bytes one exposition may take (NUL excluded). */
#define AS_METRICS_MAX (4u * 1024u * 1024u)

/* Build the exposition over st (read only) into *out: owned (as_free),
** NUL-terminated text. cfg (may be NULL: no agent_budget_remaining_dollars)
** gives the daily limit. AS_TOOBIG when the text would pass AS_METRICS_MAX;
** AS_NOMEM; the store's statuses (AS_BUSY, AS_IO, ...). On failure *out is
** NULL. */
AS_WUR int as_metrics_render(as_store *st, const as_budget_cfg *cfg, char **out);
/* The same with a smaller cap: max bytes (1 .. AS_METRICS_MAX), else
** AS_INVAL. */
AS_WUR int as_metrics_render_capped(as_store *st, const as_budget_cfg *cfg, size_t max,
                                    char **out);

#endif /* AGENTSIM_METRICS_H */

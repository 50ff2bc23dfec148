/*
** budget.h -- the cost ledger, prices and the daily budget (DESIGN.md
** section 5; seeds 002 and 003).
**
** The ledger (table cost_records) is the single source of truth for money.
** A record is written only for a leaf operation -- one LLM call (leaf
** "llm_call", name: the model) or one app tool call (leaf "tool_call",
** name: the tool's qualified name) -- in its own transaction, right after
** the operation returned. Its usage sits in exclusive buckets: input
** (uncached), cache_read, cache_write and output (reasoning included: it is
** billed as output). A provider's inclusive counts are converted once, at
** the edge (as_llm_usage_from_inclusive). Its cost is
**
**   cost_micros = ceil((input*p.input + cache_read*p.cache_read
**                       + cache_write*p.cache_write + output*p.output) / 1e6)
**
** with p the price (micro-dollars per million tokens) of the first row of
** the price table that matches the model; a tool call costs the table's
** tool_call_micros. The record keeps the table's version. Totals (per leaf,
** agent, session, day) are SUMs over records; none is ever stored.
**
** The daily budget. The day is the UTC date ("YYYY-MM-DD") of the seam's
** wall clock, and part of every key: a new day starts empty, no reset job.
** A cycle is one trigger of a session (as_trigger): it reserves its
** estimate in the same IMMEDIATE transaction that checks
**
**   spent(day) + held(day) + estimate <= daily limit
**
** where spent(day) = SUM(cost_micros) of the records billed to day, and
** held(day) = SUM over the day's open reservations of
** MAX(estimate - the ledger cost of that cycle so far, 0): in-flight cost
** counts once, as ledger or as hold, never twice. A record made while a
** session has an open reservation is billed to the reservation's day (a
** cycle that crosses midnight stays on the day it reserved against) and
** carries its op_id; other records carry op_id "" and their own day.
**
** Every run ending closes the session's open reservation, in
** as_run/as_approval_resolve/as_retry_session/as_watchdog_tick: an ended
** run (the session terminal) settles it (state "settled", outcome
** "completed"); a failed run (error, timeout, cancel, a store failure)
** releases it (state "released", outcome "failed" or "cancelled"); an idle
** run (nothing to do) releases it (outcome "idle"); a paused run keeps it
** open (the cycle goes on at its approval). At startup as_budget_recover
** releases every open reservation whose session is not awaiting_input
** (outcome "recovered"). Closing stores settled_micros: the ledger cost of
** the cycle at that moment. Closing is idempotent per op_id: closing a
** closed reservation changes nothing and answers *changed false.
**
** An exhausted budget refuses the trigger (AS_TRIGGER_BUDGET: HTTP 429,
** reason "budget_exhausted", message "Daily budget exhausted: $R remaining,
** need $E" with two decimals, rounded down and up), and appends a
** budget_rejected event {reason, remaining_micros, need_micros} to the
** session's log. A session with an open reservation refuses another
** trigger (AS_TRIGGER_ACTIVE, "cycle_in_progress").
**
** Schema (v3):
**   cost_records(day, seq, op_id, leaf, session_id, agent, name,
**     input_tokens, cache_read_tokens, cache_write_tokens, output_tokens,
**     usage_estimated, price_version, cost_micros, duration_ns, at_ns)
**     PRIMARY KEY (day, seq): seq counts 1, 2, ... within the day.
**   budget_reservations(op_id PRIMARY KEY, session_id, day,
**     estimate_micros, state, outcome, settled_micros, opened_ns, closed_ns)
**     op_id is "<session>:cycle-<k>", k the session's k-th reservation.
**
** Money is integer micro-dollars ($1 = 1000000) everywhere; dollar texts
** (config, AGENT_DAILY_BUDGET, the price table) are parsed exactly, with at
** most six decimals (as_money_parse).
*/
#ifndef AGENTSIM_BUDGET_H
#define AGENTSIM_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentsim/llm.h"
#include "agentsim/status.h"
#include "agentsim/store.h"

#define AS_DAY_LEN 10                /* "YYYY-MM-DD" */
#define AS_OP_ID_MAX 192             /* "<session>:cycle-<k>", NUL included */
#define AS_PRICES_MAX 64u            /* models in one price table */
#define AS_PRICE_VERSION_MAX 64      /* NUL included */
#define AS_PRICES_FILE_MAX (256u * 1024u)
#define AS_MONEY_MAX (1000000000ll * 1000000ll) /* $1e9: any amount past it is refused */
#define AS_TOKENS_MAX 100000000ll    /* one bucket of one call (keeps products in int64) */
#define AS_PRICE_MAX 1000000000ll    /* micro-dollars per million tokens ($1000/M) */
#define AS_CYCLE_ESTIMATE_DEFAULT 150000ll /* $0.15, the seed's */

#define AS_LEAF_LLM "llm_call"
#define AS_LEAF_TOOL "tool_call"
#define AS_EVENT_BUDGET_REJECTED "budget_rejected"

typedef struct as_price {
  char model[AS_LLM_NAME_MAX]; /* the model's name; ending in '*': a prefix */
  int64_t input;               /* micro-dollars per million tokens */
  int64_t cache_read;
  int64_t cache_write;
  int64_t output;
} as_price;

typedef struct as_prices {
  char version[AS_PRICE_VERSION_MAX];
  as_price models[AS_PRICES_MAX]; /* first match wins */
  size_t n;
  int64_t tool_call_micros;       /* one app tool call */
} as_prices;

typedef struct as_budget_cfg {
  int64_t daily_limit_micros;     /* the day's limit (>= 0) */
  int64_t cycle_estimate_micros;  /* a trigger's estimate when it names none, and
                                  ** the unit of cycles_affordable; > 0 */
  const as_prices *prices;        /* borrowed; NULL: no record can be priced, a
                                  ** run that makes an LLM call fails (internal) */
} as_budget_cfg;

typedef enum as_trigger_refusal {
  AS_TRIGGER_ACCEPTED,
  AS_TRIGGER_BUDGET, /* budget_exhausted (429) */
  AS_TRIGGER_ACTIVE  /* cycle_in_progress (409): the session has an open reservation */
} as_trigger_refusal;

typedef struct as_trigger_answer {
  bool triggered;
  as_trigger_refusal refusal;
  char reason[32];               /* "", "budget_exhausted", "cycle_in_progress" */
  char message[160];             /* "Daily budget exhausted: $0.05 remaining, need $0.15" */
  char op_id[AS_OP_ID_MAX];      /* accepted: the cycle's operation id */
  char day[AS_DAY_LEN + 1];      /* the day it was checked against */
  int64_t remaining_micros;      /* limit - spent - held before it, floored at 0 */
  int64_t need_micros;           /* the estimate */
} as_trigger_answer;

typedef struct as_budget_status {
  char date[AS_DAY_LEN + 1];
  int64_t daily_limit_micros;
  int64_t spent_micros;          /* today's ledger total */
  int64_t reserved_micros;       /* today's held */
  int64_t remaining_micros;      /* limit - spent - reserved, floored at 0 */
  int64_t cycles_affordable;     /* remaining / cycle estimate */
  int64_t spend_events;          /* today's ledger records */
  int64_t open_reservations;
} as_budget_status;

/* Usage buckets as the ledger keeps them. */
typedef struct as_cost_usage {
  int64_t input, cache_read, cache_write, output;
} as_cost_usage;

/* One ledger record, as as_ledger_list reads it back. */
typedef struct as_cost_record {
  char day[AS_DAY_LEN + 1];
  int64_t seq;
  char op_id[AS_OP_ID_MAX];
  char leaf[16];
  char session_id[AS_SESSION_ID_MAX];
  char agent[AS_LLM_NAME_MAX];
  char name[AS_LLM_NAME_MAX];
  as_cost_usage usage;
  bool usage_estimated;
  char price_version[AS_PRICE_VERSION_MAX];
  int64_t cost_micros;
  int64_t duration_ns;
  int64_t at_ns;
} as_cost_record;

/* "12.5" / "0.000001" / "5" into micro-dollars, exactly; AS_PARSE for
** anything else (a sign, more than six decimals, past AS_MONEY_MAX, junk). */
AS_WUR int as_money_parse(const char *text, int64_t *micros);
/* "$R.RR": micros rounded down (up: rounded up) to cents, into buf. */
void as_money_cents(char *buf, size_t cap, int64_t micros, bool up);
/* The UTC day of wall-clock ns, "YYYY-MM-DD" (proleptic Gregorian). */
void as_utc_day(int64_t wall_ns, char out[AS_DAY_LEN + 1]);

/* A price table from JSON text (file names it in errors):
**   {"version": "V", "tool_call": "0.0001",
**    "models": [{"model": "gpt-4o*", "input": "2.50", "cache_read": "1.25",
**                "cache_write": "0", "output": "10.00"}, ...]}
** dollar amounts are strings (per million tokens; tool_call per call).
** AS_PARSE with err naming the file, line and column or the field. */
AS_WUR int as_prices_parse(const char *text, size_t len, const char *file, as_prices *out,
                           char *err, size_t cap);
AS_WUR int as_prices_load(const char *path, as_prices *out, char *err, size_t cap);
/* The first row matching model, or NULL. */
const as_price *as_prices_find(const as_prices *p, const char *model);
/* The cost formula above; AS_INVAL for a bucket outside [0, AS_TOKENS_MAX]. */
AS_WUR int as_cost_micros(const as_price *p, const as_cost_usage *u, int64_t *out);

/* The edge: a provider's inclusive counts (prompt includes cache reads and
** writes; completion includes reasoning) into exclusive buckets. AS_PARSE
** when a part exceeds its whole or a count is negative. */
AS_WUR int as_llm_usage_from_inclusive(int64_t prompt, int64_t cache_read, int64_t cache_write,
                                       int64_t completion, as_llm_usage *out);

/* Reserve estimate (0: cfg's default) for session id's new cycle, checked
** and written in one IMMEDIATE transaction (see above). AS_OK with *ans
** (accepted or refused); AS_NOTFOUND for no such session; store statuses. */
AS_WUR int as_budget_reserve(as_store *st, const as_budget_cfg *cfg, const char *id,
                             int64_t estimate, as_trigger_answer *ans);
/* Close op_id's reservation: settle (state settled, outcome completed) or
** release (state released, the outcome given). *changed false when it was
** closed already (nothing written). AS_NOTFOUND for no such reservation. */
AS_WUR int as_budget_settle(as_store *st, const char *op_id, bool *changed);
AS_WUR int as_budget_release(as_store *st, const char *op_id, const char *outcome,
                             bool *changed);
/* Session id's open reservation's op_id into buf ("" when none). */
AS_WUR int as_budget_open_of(as_store *st, const char *id, char *buf, size_t cap);
/* Startup: release (outcome "recovered") every open reservation whose
** session is not awaiting_input. *released counts them. */
AS_WUR int as_budget_recover(as_store *st, size_t *released);
/* Today's status (the seam's wall clock). */
AS_WUR int as_budget_status_get(as_store *st, const as_budget_cfg *cfg, as_budget_status *out);
/* Status as the seed's CLI prints it (text) or as one JSON object. Owned
** (as_free) NUL-terminated text. */
AS_WUR int as_budget_status_text(const as_budget_status *s, bool json, char **out);

/* Write one ledger record for a leaf operation (turn.c calls it; exposed
** for tests). rec->day, seq and op_id are filled in here: the session's
** open reservation's day and op_id, else the record's own day. */
AS_WUR int as_ledger_record(as_store *st, as_cost_record *rec);
/* Every record, in (day, seq) order, at most cap: *n read, *more if cut. */
AS_WUR int as_ledger_list(as_store *st, as_cost_record *out, size_t cap, size_t *n, bool *more);

#endif /* AGENTSIM_BUDGET_H */

/*
** metrics.c -- the Prometheus exposition, derived by SQL (metrics.h).
**
** Each family is one query inside one read transaction; histograms are
** computed by the query itself (SUM(v <= bound) per bucket is cumulative
** by construction, COUNT(v) is the +Inf bucket), so no per-series state is
** kept here and memory is bounded by the text, which is capped. Durations
** stay integer nanoseconds and money integer micro-dollars until printed,
** so every printed number is exact.
*/
#include <string.h>

#include "agentsim/fmt.h"
#include "agentsim/metrics.h"
#include "agentsim/mutant.h"
#include "agentsim/seam.h"
#include "core_internal.h"

/* --- the text, capped and sticky ------------------------------------------- */

typedef struct mbuf {
  char *p;
  size_t n, cap, max; /* max: the hard cap on n */
  int rc;             /* sticky: once failed, nothing more is written */
} mbuf;

static void put(mbuf *b, const char *s, size_t len) {
  if (b->rc != AS_OK) return;
  if (len > b->max - b->n) {
    b->rc = AS_TOOBIG;
    return;
  }
  if (b->n + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + len + 1) cap *= 2;
    if (cap > b->max + 1) cap = b->max + 1;
    char *p = as_realloc(b->p, cap);
    if (!p) {
      b->rc = AS_NOMEM;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, len);
  b->n += len;
  b->p[b->n] = '\0';
}

static void puts_(mbuf *b, const char *s) { put(b, s, strlen(s)); }

/* The length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF; /* the second byte's range */
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0; /* overlong */
    if (c == 0xED) hi = 0x9F; /* surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90; /* overlong */
    if (c == 0xF4) hi = 0x8F; /* past U+10FFFF */
  } else {
    return 0;
  }
  if (n < len || s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < len; i++)
    if (s[i] < 0x80 || s[i] > 0xBF) return 0;
  return len;
}

/* A label value as the exposition format wants it: \\, \" and \n escaped,
** each invalid UTF-8 byte replaced by U+FFFD. */
static void put_value(mbuf *b, const char *v) {
  const unsigned char *s = (const unsigned char *)v;
  size_t n = strlen(v);
  size_t i = 0;
  while (i < n && b->rc == AS_OK) {
    size_t run = i; /* plain bytes, copied at once */
    while (run < n && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '\\' && s[run] != '"')
      run++;
    if (run > i) {
      put(b, v + i, run - i);
      i = run;
      continue;
    }
    if (s[i] == '\\') {
      puts_(b, "\\\\");
      i++;
    } else if (s[i] == '"') {
      puts_(b, "\\\"");
      i++;
    } else if (s[i] == '\n') {
      puts_(b, "\\n");
      i++;
    } else {
      size_t len = utf8_len(s + i, n - i);
      if (len == 0) {
        puts_(b, "\xEF\xBF\xBD");
        i++;
      } else {
        put(b, v + i, len);
        i += len;
      }
    }
  }
}

/* The decimal digits of m into the end of buf (at least 21 bytes), at least
** width of them (zero-padded); returns where they start. No libc formatting:
** a number always fits, so nothing here can fail. */
static char *digits_of(char *end, uint64_t m, int width) {
  char *p = end;
  int k = 0;
  do {
    *--p = (char)('0' + m % 10);
    m /= 10;
    k++;
  } while (m || k < width);
  return p;
}

/* v / 10^digits, exactly: "12.000345" (digits 6), "3" (digits 0). */
static void put_fixed(mbuf *b, int64_t v, int digits) {
  static const uint64_t pow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
                                   100000000, 1000000000};
  char tmp[48];
  char *end = tmp + sizeof tmp;
  uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  uint64_t unit = pow10[digits];
  char *p = end;
  if (digits) {
    p = digits_of(p, m % unit, digits);
    *--p = '.';
  }
  p = digits_of(p, m / unit, 1);
  if (v < 0) *--p = '-';
  put(b, p, (size_t)(end - p));
}

/* A bucket bound (>= 0) as le's value: the shortest exact decimal ("0.01", "60"). */
static void put_bound(mbuf *b, int64_t bound, int digits) {
  static const uint64_t pow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
                                   100000000, 1000000000};
  char tmp[48];
  char *end = tmp + sizeof tmp;
  uint64_t unit = pow10[digits];
  uint64_t frac = (uint64_t)bound % unit;
  char *p = end;
  if (frac) {
    int width = digits;
    while (frac % 10 == 0) { /* trailing zeros dropped */
      frac /= 10;
      width--;
    }
    p = digits_of(p, frac, width);
    *--p = '.';
  }
  p = digits_of(p, (uint64_t)bound / unit, 1);
  put(b, p, (size_t)(end - p));
}

static void family(mbuf *b, const char *name, const char *type, const char *help) {
  puts_(b, "# HELP ");
  puts_(b, name);
  puts_(b, " ");
  puts_(b, help);
  puts_(b, "\n# TYPE ");
  puts_(b, name);
  puts_(b, " ");
  puts_(b, type);
  puts_(b, "\n");
}

/* --- the queries --------------------------------------------------------------- */

/* The store's failure, or the text's: whichever came first. */
static int merge(int rc, const mbuf *b) { return rc != AS_OK ? rc : b->rc; }

/* A counter or gauge with one label: rows (label value, integer value)
** from sql, printed with digits decimals. */
static AS_WUR int labelled(mbuf *b, as_store *st, const char *name, const char *type,
                           const char *help, const char *label, const char *sql, int rc) {
  sqlite3_stmt *q;
  int row = 0;
  if (rc == AS_OK) family(b, name, type, help);
  rc = as__sql_prepare(st, sql, &q, merge(rc, b));
  for (rc = as__sql_step(q, &row, rc); rc == AS_OK && row; rc = as__sql_step(q, &row, rc)) {
    const char *v;
    rc = as__sql_column_text(q, 0, &v, rc);
    if (rc != AS_OK) break;
    puts_(b, name);
    puts_(b, "{");
    puts_(b, label);
    puts_(b, "=\"");
    put_value(b, v);
    puts_(b, "\"} ");
    put_fixed(b, sqlite3_column_int64(q, 1), 0);
    puts_(b, "\n");
    rc = merge(rc, b);
  }
  return as__sql_finish(q, rc);
}

/* One integer from sql (an aggregate: always one row). */
static AS_WUR int scalar(as_store *st, const char *sql, int64_t *v, int rc) {
  sqlite3_stmt *q;
  int row = 0;
  *v = 0;
  rc = as__sql_prepare(st, sql, &q, rc);
  rc = as__sql_step(q, &row, rc);
  if (rc == AS_OK && row) *v = sqlite3_column_int64(q, 0);
  return as__sql_finish(q, rc);
}

#define HIST_LABELS_MAX 2
#define HIST_BOUNDS_MAX 16

typedef struct hist {
  const char *name, *help;
  const char *fixed;                       /* constant labels: `k="v"` or "" */
  const char *labels[HIST_LABELS_MAX + 1]; /* the source's label columns l0, l1; NULL-ended */
  int64_t bounds[HIST_BOUNDS_MAX];         /* in the value's unit (ns, tokens); ascending */
  size_t nb;
  int digits;                              /* 9: ns printed as seconds; 0: as is */
  const char *source;                      /* SQL with columns l0.., v (integer, non-NULL) */
} hist;

/* `name_suffix{fixed,l0="..",...[,le="B"]} ` (braces only when some label). */
static void series(mbuf *b, const hist *h, const char *suffix, sqlite3_stmt *q, size_t nl,
                   int64_t le, bool has_le, bool inf) {
  const char *sep = "{"; /* before the next label; "," once one is printed */
  if (b->rc != AS_OK) return; /* sticky: nothing more is written */
  puts_(b, h->name);
  puts_(b, suffix);
  if (h->fixed[0]) {
    puts_(b, sep);
    puts_(b, h->fixed);
    sep = ",";
  }
  for (size_t i = 0; i < nl; i++) {
    const unsigned char *t = sqlite3_column_text(q, (int)i);
    if (!t) { /* the source's columns are non-NULL: out of memory */
      b->rc = AS_NOMEM;
      return;
    }
    puts_(b, sep);
    puts_(b, h->labels[i]);
    puts_(b, "=\"");
    put_value(b, (const char *)t);
    puts_(b, "\"");
    sep = ",";
  }
  if (has_le) {
    puts_(b, sep);
    puts_(b, "le=\"");
    if (inf)
      puts_(b, "+Inf");
    else
      put_bound(b, le, h->digits);
    puts_(b, "\"");
    sep = ",";
  }
  puts_(b, sep[0] == ',' ? "} " : " ");
}

static AS_WUR int histogram(mbuf *b, as_store *st, const hist *h, int rc) {
  char sql[2048];
  size_t nl = 0;
  while (h->labels[nl]) nl++;
  size_t n = 0;
  bool bad = false; /* a piece not appended (vsnprintf failed): the SQL would be wrong */
#define ADD(...)                                                                \
  do {                                                                          \
    size_t m_ = as_appendf(sql, sizeof sql, n, __VA_ARGS__);                    \
    bad |= m_ == n;                                                             \
    n = m_;                                                                     \
  } while (0)
  ADD("SELECT ");
  for (size_t i = 0; i < nl; i++) ADD("l%zu, ", i);
  ADD("COUNT(v), COALESCE(SUM(v), 0)");
  for (size_t i = 0; i < h->nb; i++) ADD(", COALESCE(SUM(v <= %lld), 0)", (long long)h->bounds[i]);
  ADD(" FROM (%s)", h->source);
  if (nl == 1) ADD(" GROUP BY l0 ORDER BY l0");
  if (nl == 2) ADD(" GROUP BY l0, l1 ORDER BY l0, l1");
#undef ADD
  /* cut (a bug in the tables below) or a piece missing: never run it */
  if (bad || n + 1 >= sizeof sql) return rc != AS_OK ? rc : AS_INTERNAL;

  sqlite3_stmt *q;
  int row = 0;
  if (rc == AS_OK) family(b, h->name, "histogram", h->help);
  rc = as__sql_prepare(st, sql, &q, merge(rc, b));
  for (rc = as__sql_step(q, &row, rc); rc == AS_OK && row; rc = as__sql_step(q, &row, rc)) {
    int c = (int)nl;
    int64_t count = sqlite3_column_int64(q, c), sum = sqlite3_column_int64(q, c + 1);
    for (size_t i = 0; i < h->nb; i++) {
      series(b, h, "_bucket", q, nl, h->bounds[i], true, false);
      put_fixed(b, sqlite3_column_int64(q, c + 2 + (int)i), 0);
      puts_(b, "\n");
    }
    series(b, h, "_bucket", q, nl, 0, true, true);
    put_fixed(b, count, 0);
    puts_(b, "\n");
    series(b, h, "_sum", q, nl, 0, false, false);
    put_fixed(b, sum, h->digits);
    puts_(b, "\n");
    series(b, h, "_count", q, nl, 0, false, false);
    put_fixed(b, count, 0);
    puts_(b, "\n");
    rc = merge(rc, b);
  }
  return as__sql_finish(q, rc);
}

/* --- the families ------------------------------------------------------------ */

#define S 1000000000ll /* ns per second */

static const hist cycle_duration = {
    "agent_cycle_duration_seconds",
    "Duration of the ended research cycles (a reservation's opening to its closing).",
    "", {NULL}, {60 * S, 300 * S, 600 * S, 900 * S, 1200 * S, 1800 * S, 3600 * S}, 7, 9,
    "SELECT MAX(closed_ns - opened_ns, 0) AS v FROM budget_reservations WHERE state <> 'open'"};

/* An agent_finished and the event of the same agent just before it in the
** session's log, when that is its agent_started. */
static const hist phase_duration = {
    "agent_phase_duration_seconds",
    "Duration of one agent's run (agent_started to agent_finished), by agent.",
    "", {"phase", NULL}, {10 * S, 30 * S, 60 * S, 120 * S, 300 * S, 600 * S}, 6, 9,
    "SELECT agent AS l0, MAX(at_ns - prev_at, 0) AS v FROM ("
    " SELECT kind, at_ns, agent,"
    "  LAG(kind) OVER w AS prev_kind, LAG(at_ns) OVER w AS prev_at FROM ("
    "   SELECT session_id, seq, kind, at_ns,"
    "    CAST(json_extract(payload, '$.agent') AS TEXT) AS agent FROM events"
    "   WHERE kind IN ('agent_started', 'agent_finished'))"
    "  WHERE agent IS NOT NULL"
    "  WINDOW w AS (PARTITION BY session_id, agent ORDER BY seq))"
    " WHERE kind = 'agent_finished' AND prev_kind = 'agent_started'"};

#define GENAI_FIXED "gen_ai_operation_name=\"chat\""

static const hist token_usage = {
    "gen_ai_client_token_usage",
    "Tokens of one LLM call (OpenTelemetry gen_ai.client.token.usage; input counts cached "
    "tokens).",
    GENAI_FIXED, {"gen_ai_request_model", "gen_ai_token_type", NULL},
    {1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216,
     67108864}, 14, 0,
    "SELECT name AS l0, 'input' AS l1, input_tokens + cache_read_tokens + cache_write_tokens"
    " AS v FROM cost_records WHERE leaf = 'llm_call'"
    " UNION ALL SELECT name, 'output', output_tokens FROM cost_records WHERE leaf = 'llm_call'"};

static const hist operation_duration = {
    "gen_ai_client_operation_duration_seconds",
    "Duration of one LLM call (OpenTelemetry gen_ai.client.operation.duration).",
    GENAI_FIXED, {"gen_ai_request_model", NULL},
    {10000000, 20000000, 40000000, 80000000, 160000000, 320000000, 640000000, 1280000000,
     2560000000, 5120000000, 10240000000, 20480000000, 40960000000, 81920000000}, 14, 9,
    "SELECT name AS l0, MAX(duration_ns, 0) AS v FROM cost_records WHERE leaf = 'llm_call'"};

static const char cycles_sql[] =
    "WITH known(o) AS (VALUES ('cancelled'), ('completed'), ('failed'), ('idle'),"
    " ('recovered'))"
    " SELECT o, SUM(n) FROM (SELECT o, 0 AS n FROM known"
    "  UNION ALL SELECT outcome, 1 FROM budget_reservations WHERE state <> 'open')"
    " GROUP BY o ORDER BY o";

/* Each approval_resolved with the latest gate_fired of its call before it
** in the session's log: that call's tool is the gate. */
static const char gates_sql[] =
    "SELECT tool, decision, COUNT(*) FROM ("
    " SELECT CAST(json_extract(r.payload, '$.decision') AS TEXT) AS decision,"
    "  (SELECT CAST(json_extract(g.payload, '$.tool') AS TEXT) FROM events g"
    "   WHERE g.session_id = r.session_id AND g.kind = 'gate_fired' AND g.seq < r.seq"
    "    AND json_extract(g.payload, '$.call') IS json_extract(r.payload, '$.call')"
    "   ORDER BY g.seq DESC LIMIT 1) AS tool"
    " FROM events r WHERE r.kind = 'approval_resolved')"
    " WHERE tool IS NOT NULL AND decision IS NOT NULL"
    " GROUP BY tool, decision ORDER BY tool, decision";

static AS_WUR int gates(mbuf *b, as_store *st, int rc) {
  static const char name[] = "agent_gate_results_total";
  sqlite3_stmt *q;
  int row = 0;
  if (rc == AS_OK)
    family(b, name, "counter", "Gated tool calls resolved, by the call's tool and the decision.");
  rc = as__sql_prepare(st, gates_sql, &q, merge(rc, b));
  for (rc = as__sql_step(q, &row, rc); rc == AS_OK && row; rc = as__sql_step(q, &row, rc)) {
    const char *gate, *result;
    rc = as__sql_column_text(q, 0, &gate, rc);
    rc = as__sql_column_text(q, 1, &result, rc);
    if (rc != AS_OK) break;
    puts_(b, name);
    puts_(b, "{gate=\"");
    put_value(b, gate);
    puts_(b, "\",result=\"");
    put_value(b, result);
    puts_(b, "\"} ");
    put_fixed(b, sqlite3_column_int64(q, 2), 0);
    puts_(b, "\n");
    rc = merge(rc, b);
  }
  return as__sql_finish(q, rc);
}

static AS_WUR int tokens(mbuf *b, as_store *st, int rc) {
  static const char name[] = "agent_tokens_total";
  static const char *const types[] = {"input", "cache_read", "cache_write", "output"};
  sqlite3_stmt *q;
  int row = 0;
  if (rc == AS_OK)
    family(b, name, "counter",
           "Tokens in the ledger, by exclusive bucket (input is uncached input).");
  rc = as__sql_prepare(st,
                       "SELECT COALESCE(SUM(input_tokens), 0), COALESCE(SUM(cache_read_tokens), 0),"
                       " COALESCE(SUM(cache_write_tokens), 0), COALESCE(SUM(output_tokens), 0)"
                       " FROM cost_records",
                       &q, merge(rc, b));
  rc = as__sql_step(q, &row, rc);
  for (int i = 0; rc == AS_OK && row && i < 4; i++) {
    puts_(b, name);
    puts_(b, "{type=\"");
    puts_(b, types[i]);
    puts_(b, "\"} ");
    put_fixed(b, sqlite3_column_int64(q, i), 0);
    puts_(b, "\n");
  }
  return as__sql_finish(q, merge(rc, b));
}

static AS_WUR int spend(mbuf *b, as_store *st, int rc) {
  int64_t micros = 0, settled = 0;
  rc = scalar(st, "SELECT COALESCE(SUM(cost_micros), 0) FROM cost_records", &micros, rc);
  if (AS_MUTANT(COST_COUNTED_TWICE)) {
    rc = scalar(st,
                "SELECT COALESCE(SUM(settled_micros), 0) FROM budget_reservations"
                " WHERE state <> 'open'",
                &settled, rc);
    micros += settled;
  }
  if (rc != AS_OK) return rc;
  family(b, "agent_budget_spend_dollars_total", "counter",
         "Money spent, in dollars: the sum of the cost ledger.");
  puts_(b, "agent_budget_spend_dollars_total ");
  put_fixed(b, micros, 6);
  puts_(b, "\n");
  return b->rc;
}

static AS_WUR int remaining(mbuf *b, as_store *st, const as_budget_cfg *cfg, int rc) {
  if (!cfg) return rc;
  char day[AS_DAY_LEN + 1];
  as_utc_day(as_now_wall_ns(), day);
  int64_t spent = 0, held = 0;
  rc = as__budget_day_totals(st, day, &spent, &held, rc); /* budget.c's own formula */
  if (rc != AS_OK) return rc;
  int64_t left = cfg->daily_limit_micros;
  /* spent and held are sums of CHECKed non-negative columns: never below 0 */
  left = spent >= left ? 0 : left - spent;
  left = held >= left ? 0 : left - held;
  family(b, "agent_budget_remaining_dollars", "gauge",
         "Money left in today's (UTC) budget, in dollars: limit - spent - reserved, at least 0.");
  puts_(b, "agent_budget_remaining_dollars ");
  put_fixed(b, left, 6);
  puts_(b, "\n");
  return b->rc;
}

int as_metrics_render_capped(as_store *st, const as_budget_cfg *cfg, size_t max, char **out) {
  *out = NULL;
  if (!st || max == 0 || max > AS_METRICS_MAX) return AS_INVAL;
  if (cfg && cfg->daily_limit_micros < 0) return AS_INVAL;
  mbuf b = {NULL, 0, 0, max, AS_OK};
  int rc = as__tx_begin(st, false);
  rc = labelled(&b, st, "agent_cycles_total", "counter",
                "Research cycles ended, by outcome (closed budget reservations).", "outcome",
                cycles_sql, rc);
  rc = histogram(&b, st, &cycle_duration, rc);
  rc = histogram(&b, st, &phase_duration, rc);
  rc = gates(&b, st, rc);
  rc = tokens(&b, st, rc);
  rc = spend(&b, st, rc);
  rc = remaining(&b, st, cfg, rc);
  rc = histogram(&b, st, &token_usage, rc);
  rc = histogram(&b, st, &operation_duration, rc);
  rc = as__tx_end(st, merge(rc, &b));
  if (rc != AS_OK) {
    as_free(b.p);
    return rc;
  }
  *out = b.p;
  return AS_OK;
}

int as_metrics_render(as_store *st, const as_budget_cfg *cfg, char **out) {
  return as_metrics_render_capped(st, cfg, AS_METRICS_MAX, out);
}

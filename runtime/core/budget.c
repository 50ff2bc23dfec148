/*
** budget.c -- money, days, the price table, the ledger and the daily
** budget's reservations (budget.h).
*/
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/budget.h"
#include "agentsim/events.h"
#include "agentsim/mutant.h"
#include "agentsim/seam.h"
#include "app_internal.h"
#include "core_internal.h"

#define MICROS 1000000ll

/* --- money and days ------------------------------------------------------------ */

int as_money_parse(const char *text, int64_t *micros) {
  if (!text || !micros) return AS_INVAL;
  const char *p = text;
  int64_t whole = 0, frac = 0;
  int nwhole = 0, nfrac = 0;
  for (; *p >= '0' && *p <= '9'; p++, nwhole++) {
    if (whole > AS_MONEY_MAX / MICROS) return AS_PARSE;
    whole = whole * 10 + (*p - '0');
  }
  if (nwhole == 0) return AS_PARSE;
  if (*p == '.') {
    for (p++; *p >= '0' && *p <= '9'; p++, nfrac++) {
      if (nfrac == 6) return AS_PARSE; /* finer than a micro-dollar */
      frac = frac * 10 + (*p - '0');
    }
    if (nfrac == 0) return AS_PARSE;
  }
  if (*p) return AS_PARSE;
  for (int i = nfrac; i < 6; i++) frac *= 10;
  if (whole > AS_MONEY_MAX / MICROS) return AS_PARSE;
  int64_t v = whole * MICROS + frac;
  if (v > AS_MONEY_MAX) return AS_PARSE;
  *micros = v;
  return AS_OK;
}

void as_money_cents(char *buf, size_t cap, int64_t micros, bool up) {
  if (micros < 0) micros = 0;
  int64_t cents = up ? (micros + 9999) / 10000 : micros / 10000;
  (void)snprintf(buf, cap, "$%lld.%02lld", (long long)(cents / 100), /* ignore: cut is visible */
                 (long long)(cents % 100));
}

/* Howard Hinnant's civil_from_days: days since 1970-01-01 to y-m-d. An
** int64 of ns spans days -106752 .. 106751 (years 1677 .. 2262), so z is
** never negative (no floor for the era) and the year always has four
** digits (no clamp). */
void as_utc_day(int64_t wall_ns, char out[AS_DAY_LEN + 1]) {
  int64_t secs = wall_ns / 1000000000ll - (wall_ns % 1000000000ll < 0);
  int64_t z = secs / 86400 - (secs % 86400 < 0) + 719468;
  int64_t era = z / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) y++;
  unsigned yy = (unsigned)y, mm = (unsigned)m, dd = (unsigned)d;
  out[0] = (char)('0' + yy / 1000);
  out[1] = (char)('0' + yy / 100 % 10);
  out[2] = (char)('0' + yy / 10 % 10);
  out[3] = (char)('0' + yy % 10);
  out[4] = '-';
  out[5] = (char)('0' + mm / 10);
  out[6] = (char)('0' + mm % 10);
  out[7] = '-';
  out[8] = (char)('0' + dd / 10);
  out[9] = (char)('0' + dd % 10);
  out[10] = '\0';
}

/* --- the price table ------------------------------------------------------------ */

static AS_WUR int perr(char *err, size_t cap, const char *file, const char *fmt, ...)
    AS_PRINTF(4, 5);
static AS_WUR int perr(char *err, size_t cap, const char *file, const char *fmt, ...) {
  if (err && cap) {
    int n = snprintf(err, cap, "%s: ", file ? file : "prices");
    if ((size_t)n >= cap) n = 0; /* cut (a negative n, never for %s, casts past cap too) */
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(err + n, cap - (size_t)n, fmt, ap); /* ignore: cut is visible */
    va_end(ap);
  }
  return AS_PARSE;
}

/* A dollar string field of o into *v (absent: def, or an error when def < 0). */
static AS_WUR int money_field(const json_t *o, const char *key, const char *where, int64_t def,
                              int64_t max, int64_t *v, char *err, size_t cap, const char *file) {
  const json_t *f = json_object_get(o, key);
  if (!f) {
    if (def >= 0) {
      *v = def;
      return AS_OK;
    }
    return perr(err, cap, file, "%s: \"%s\" is missing (a dollar amount as a string)", where, key);
  }
  if (json_typeof(f) != JSON_STRING || as_money_parse(json_string_value(f), v) != AS_OK || *v > max)
    return perr(err, cap, file,
                "%s: \"%s\" must be a dollar amount as a string, like \"2.50\" (at most six "
                "decimals, at most %lld.%06lld)",
                where, key, (long long)(max / MICROS), (long long)(max % MICROS));
  return AS_OK;
}

static bool known_key(const char *const *keys, const char *k) {
  for (; *keys; keys++)
    if (strcmp(*keys, k) == 0) return true;
  return false;
}

static AS_WUR int only_keys(const json_t *o, const char *const *keys, const char *where,
                            char *err, size_t cap, const char *file) {
  /* Not json_object_foreach: its value-is-NULL test can never fire. */
  for (void *it = json_object_iter((json_t *)o); it; it = json_object_iter_next((json_t *)o, it)) {
    const char *k = json_object_iter_key(it);
    if (!known_key(keys, k)) return perr(err, cap, file, "%s: unknown key \"%s\"", where, k);
  }
  return AS_OK;
}

static AS_WUR int prices_from(const json_t *root, const char *file, as_prices *out, char *err,
                              size_t cap) {
  static const char *const top[] = {"version", "tool_call", "models", NULL};
  static const char *const row[] = {"model", "input", "cache_read", "cache_write", "output", NULL};
  /* root (json_loadb's) and m (an element, i < n) are never NULL. */
  if (json_typeof(root) != JSON_OBJECT)
    return perr(err, cap, file, "the table must be a JSON object");
  int rc = only_keys(root, top, "the table", err, cap, file);
  if (rc != AS_OK) return rc;
  const json_t *ver = json_object_get(root, "version");
  const char *vs = json_string_value(ver);
  if (!vs || !vs[0] || strlen(vs) >= AS_PRICE_VERSION_MAX)
    return perr(err, cap, file, "\"version\" must be a string of 1 to %d bytes",
                AS_PRICE_VERSION_MAX - 1);
  memcpy(out->version, vs, strlen(vs) + 1);
  rc = money_field(root, "tool_call", "the table", 0, AS_MONEY_MAX, &out->tool_call_micros, err,
                   cap, file);
  if (rc != AS_OK) return rc;
  const json_t *models = json_object_get(root, "models");
  size_t n = json_array_size(models);
  if (!json_is_array(models) || n == 0 || n > AS_PRICES_MAX)
    return perr(err, cap, file, "\"models\" must be an array of 1 to %u prices", AS_PRICES_MAX);
  for (size_t i = 0; i < n; i++) {
    const json_t *m = json_array_get(models, i);
    char where[48];
    (void)snprintf(where, sizeof where, "models[%zu]", i); /* ignore: sized */
    if (json_typeof(m) != JSON_OBJECT) return perr(err, cap, file, "%s must be an object", where);
    rc = only_keys(m, row, where, err, cap, file);
    if (rc != AS_OK) return rc;
    as_price *p = &out->models[i];
    const char *name = json_string_value(json_object_get(m, "model"));
    if (!name || !name[0] || strlen(name) >= AS_LLM_NAME_MAX)
      return perr(err, cap, file, "%s: \"model\" must be a string of 1 to %d bytes", where,
                  AS_LLM_NAME_MAX - 1);
    memcpy(p->model, name, strlen(name) + 1);
    rc = money_field(m, "input", where, -1, AS_PRICE_MAX, &p->input, err, cap, file);
    if (rc == AS_OK)
      rc = money_field(m, "cache_read", where, -1, AS_PRICE_MAX, &p->cache_read, err, cap, file);
    if (rc == AS_OK)
      rc = money_field(m, "cache_write", where, -1, AS_PRICE_MAX, &p->cache_write, err, cap, file);
    if (rc == AS_OK)
      rc = money_field(m, "output", where, -1, AS_PRICE_MAX, &p->output, err, cap, file);
    if (rc != AS_OK) return rc;
  }
  out->n = n;
  return AS_OK;
}

int as_prices_parse(const char *text, size_t len, const char *file, as_prices *out, char *err,
                    size_t cap) {
  if (!text || !out) return AS_INVAL;
  if (err && cap) err[0] = '\0';
  if (len > AS_PRICES_FILE_MAX)
    return perr(err, cap, file, "%zu bytes: more than the %u a price table may have", len,
                AS_PRICES_FILE_MAX);
  json_error_t je;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  if (!root)
    return perr(err, cap, file, "line %d, column %d: %s", je.line, je.column, je.text);
  as_prices tmp;
  memset(&tmp, 0, sizeof tmp);
  int rc = prices_from(root, file, &tmp, err, cap);
  json_decref(root);
  if (rc == AS_OK) *out = tmp; /* nothing half-written */
  return rc;
}

int as_prices_load(const char *path, as_prices *out, char *err, size_t cap) {
  if (!path || !out) return AS_INVAL;
  char *text = NULL;
  size_t len = 0;
  int eno = 0;
  int rc = as__app_read_file(path, AS_PRICES_FILE_MAX, &text, &len, &eno);
  if (rc == AS_TOOBIG)
    return perr(err, cap, path, "more than the %u bytes a price table may have",
                AS_PRICES_FILE_MAX);
  if (rc != AS_OK) {
    if (err && cap)
      (void)snprintf(err, cap, "%s: cannot read: %s", path, /* ignore: cut is visible */
                     rc == AS_IO ? strerror(eno) : as_status_msg(rc));
    return rc;
  }
  rc = as_prices_parse(text, len, path, out, err, cap);
  as_free(text);
  return rc;
}

const as_price *as_prices_find(const as_prices *p, const char *model) {
  if (!p || !model) return NULL;
  for (size_t i = 0; i < p->n; i++) {
    const char *m = p->models[i].model;
    size_t n = strlen(m);
    if (n && m[n - 1] == '*' ? strncmp(m, model, n - 1) == 0 : strcmp(m, model) == 0)
      return &p->models[i];
  }
  return NULL;
}

static bool bucket_ok(int64_t v) { return v >= 0 && v <= AS_TOKENS_MAX; }

int as_cost_micros(const as_price *p, const as_cost_usage *u, int64_t *out) {
  if (!p || !u || !out) return AS_INVAL;
  if (!bucket_ok(u->input) || !bucket_ok(u->cache_read) || !bucket_ok(u->cache_write) ||
      !bucket_ok(u->output))
    return AS_INVAL;
  /* Each product is at most 1e8 * 1e9: four of them fit in int64. */
  int64_t sum = u->input * p->input + u->cache_read * p->cache_read +
                u->cache_write * p->cache_write + u->output * p->output;
  *out = (sum + MICROS - 1) / MICROS;
  return AS_OK;
}

int as_llm_usage_from_inclusive(int64_t prompt, int64_t cache_read, int64_t cache_write,
                                int64_t completion, as_llm_usage *out) {
  if (!out) return AS_INVAL;
  if (prompt < 0 || cache_read < 0 || cache_write < 0 || completion < 0) return AS_PARSE;
  if (cache_read > prompt || cache_write > prompt - cache_read) return AS_PARSE;
  out->input_tokens = prompt - cache_read - cache_write;
  if (AS_MUTANT(CACHED_TOKENS_BILLED_AS_INPUT)) out->input_tokens = prompt - cache_write;
  out->cache_read_tokens = cache_read;
  out->cache_write_tokens = cache_write;
  out->output_tokens = completion;
  return AS_OK;
}

/* --- reading the budget ---------------------------------------------------------- */

/* One int64 from a one-row query with text parameter a (NULL: none). */
static AS_WUR int query_i64(as_store *st, const char *sql, const char *a, int64_t *out, int rc) {
  sqlite3_stmt *q = NULL;
  int row = 0;
  *out = 0;
  rc = as__sql_prepare(st, sql, &q, rc);
  if (a) rc = as__sql_text(q, 1, a, rc);
  rc = as__sql_step(q, &row, rc);
  if (rc == AS_OK && row) *out = sqlite3_column_int64(q, 0);
  return as__sql_finish(q, rc);
}

static const char SQL_SPENT[] =
    "SELECT COALESCE(SUM(cost_micros), 0) FROM cost_records WHERE day = ?1";
/* An open reservation holds what its cycle has not spent yet of its estimate. */
static const char SQL_HELD[] =
    "SELECT COALESCE(SUM(MAX(r.estimate_micros - (SELECT COALESCE(SUM(c.cost_micros), 0)"
    " FROM cost_records c WHERE c.op_id = r.op_id), 0)), 0)"
    " FROM budget_reservations r WHERE r.state = 'open' AND r.day = ?1";

int as__budget_day_totals(as_store *st, const char *day, int64_t *spent, int64_t *held, int rc) {
  rc = query_i64(st, SQL_SPENT, day, spent, rc);
  return query_i64(st, SQL_HELD, day, held, rc);
}

static int64_t remaining_of(int64_t limit, int64_t spent, int64_t held) {
  int64_t r = limit - spent - held;
  return r > 0 ? r : 0;
}

/* --- reserving --------------------------------------------------------------------- */

static AS_WUR int open_of(as_store *st, const char *id, char *buf, size_t cap, int rc) {
  sqlite3_stmt *q = NULL;
  int row = 0;
  buf[0] = '\0';
  rc = as__sql_prepare(st,
                       "SELECT op_id FROM budget_reservations WHERE session_id = ?1 AND state = "
                       "'open' ORDER BY opened_ns LIMIT 1",
                       &q, rc);
  rc = as__sql_text(q, 1, id, rc);
  rc = as__sql_step(q, &row, rc);
  const char *v = "";
  if (row) rc = as__sql_column_text(q, 0, &v, rc);
  if (rc == AS_OK && row && as__copy_name(buf, cap, v) != AS_OK) rc = AS_TOOBIG;
  return as__sql_finish(q, rc);
}

int as_budget_open_of(as_store *st, const char *id, char *buf, size_t cap) {
  if (!st || !id || !buf || !cap) return AS_INVAL;
  int rc = as__tx_begin(st, false);
  rc = open_of(st, id, buf, cap, rc);
  return as__tx_end(st, rc);
}

static void answer_refuse(as_trigger_answer *ans, as_trigger_refusal why) {
  ans->triggered = false;
  ans->refusal = why;
  char rem[32], need[32];
  as_money_cents(rem, sizeof rem, ans->remaining_micros, false);
  as_money_cents(need, sizeof need, ans->need_micros, true);
  if (why == AS_TRIGGER_BUDGET) {
    memcpy(ans->reason, "budget_exhausted", sizeof "budget_exhausted");
    (void)snprintf(ans->message, sizeof ans->message, /* ignore: sized */
                   "Daily budget exhausted: %s remaining, need %s", rem, need);
  } else {
    memcpy(ans->reason, "cycle_in_progress", sizeof "cycle_in_progress");
    (void)snprintf(ans->message, sizeof ans->message, /* ignore: sized */
                   "A cycle of this session is in progress");
  }
}

/* The check: fills ans's day, remaining and need; *ok when it fits. */
static AS_WUR int check(as_store *st, const as_budget_cfg *cfg, const char *id, int64_t now,
                        as_trigger_answer *ans, bool *ok, int rc) {
  int64_t exists = 0, spent = 0, held = 0;
  rc = query_i64(st, "SELECT COUNT(*) FROM sessions WHERE id = ?1", id, &exists, rc);
  if (rc == AS_OK && !exists) rc = AS_NOTFOUND;
  rc = open_of(st, id, ans->op_id, sizeof ans->op_id, rc);
  if (rc == AS_OK && ans->op_id[0]) {
    *ok = false;
    answer_refuse(ans, AS_TRIGGER_ACTIVE);
    return rc;
  }
  as_utc_day(now, ans->day);
  rc = as__budget_day_totals(st, ans->day, &spent, &held, rc);
  ans->remaining_micros = remaining_of(cfg->daily_limit_micros, spent, held);
  *ok = rc == AS_OK && spent + held + ans->need_micros <= cfg->daily_limit_micros;
  return rc;
}

static AS_WUR int rejected_event(as_store *st, const char *id, const as_trigger_answer *ans,
                                 int64_t now, int rc) {
  char payload[160];
  (void)snprintf(payload, sizeof payload, /* ignore: sized, numbers only */
                 "{\"reason\":\"%s\",\"remaining_micros\":%lld,\"need_micros\":%lld}", ans->reason,
                 (long long)ans->remaining_micros, (long long)ans->need_micros);
  int64_t seq = 0;
  return as__event_insert(st, id, AS_EVENT_BUDGET_REJECTED, payload, now, &seq, rc);
}

static AS_WUR int reserve_insert(as_store *st, const char *id, as_trigger_answer *ans,
                                 int64_t now, int rc) {
  int64_t k = 0;
  rc = query_i64(st, "SELECT COUNT(*) + 1 FROM budget_reservations WHERE session_id = ?1", id,
                 &k, rc);
  if (rc != AS_OK) return rc;
  int n = snprintf(ans->op_id, sizeof ans->op_id, "%s:cycle-%lld", id, (long long)k);
  /* A session id of a damaged row may be longer than any as_session_start takes. */
  if ((size_t)n >= sizeof ans->op_id) return AS_TOOBIG; /* (a negative n casts past it too) */
  sqlite3_stmt *q = NULL;
  int row = 0;
  rc = as__sql_prepare(st,
                       "INSERT INTO budget_reservations (op_id, session_id, day, estimate_micros,"
                       " state, outcome, settled_micros, opened_ns, closed_ns)"
                       " VALUES (?1, ?2, ?3, ?4, 'open', '', 0, ?5, 0)",
                       &q, rc);
  rc = as__sql_text(q, 1, ans->op_id, rc);
  rc = as__sql_text(q, 2, id, rc);
  rc = as__sql_text(q, 3, ans->day, rc);
  rc = as__sql_int64(q, 4, ans->need_micros, rc);
  rc = as__sql_int64(q, 5, now, rc);
  rc = as__sql_step(q, &row, rc);
  rc = as__sql_finish(q, rc);
  if (rc == AS_OK) ans->triggered = true;
  return rc;
}

int as_budget_reserve(as_store *st, const as_budget_cfg *cfg, const char *id, int64_t estimate,
                      as_trigger_answer *ans) {
  if (!st || !cfg || !id || !ans || estimate < 0 || estimate > AS_MONEY_MAX ||
      cfg->daily_limit_micros < 0 || cfg->cycle_estimate_micros <= 0)
    return AS_INVAL;
  memset(ans, 0, sizeof *ans);
  ans->need_micros = estimate ? estimate : cfg->cycle_estimate_micros;
  int64_t now = as_now_wall_ns();
  bool ok = false;
  if (AS_MUTANT(BUDGET_CHECK_THEN_RECORD)) {
    /* The seed's can_spend() then record: the check in its own transaction,
    ** the reservation later, in another. */
    int rc = as__tx_begin(st, false);
    rc = check(st, cfg, id, now, ans, &ok, rc);
    rc = as__tx_end(st, rc);
    if (rc == AS_OK && !ok && ans->refusal == AS_TRIGGER_ACCEPTED) {
      answer_refuse(ans, AS_TRIGGER_BUDGET);
      rc = as__tx_begin(st, true); /* the refusal is recorded as ever */
      rc = rejected_event(st, id, ans, now, rc);
      return as__tx_end(st, rc);
    }
    if (rc != AS_OK || !ok) return rc;
    as_sleep_until(as_now_mono_ns()); /* the await between them */
    rc = as__tx_begin(st, true);
    rc = reserve_insert(st, id, ans, now, rc);
    return as__tx_end(st, rc);
  }
  int rc = as__tx_begin(st, true);
  rc = check(st, cfg, id, now, ans, &ok, rc);
  if (rc == AS_OK && !ok && ans->refusal == AS_TRIGGER_ACCEPTED) {
    answer_refuse(ans, AS_TRIGGER_BUDGET);
    rc = rejected_event(st, id, ans, now, rc);
  } else if (rc == AS_OK && ok) {
    rc = reserve_insert(st, id, ans, now, rc);
  }
  rc = as__tx_end(st, rc);
  if (rc != AS_OK) {
    int64_t need = ans->need_micros;
    memset(ans, 0, sizeof *ans); /* nothing half-answered */
    ans->need_micros = need;
  }
  return rc;
}

/* --- closing ------------------------------------------------------------------------ */

static AS_WUR int close_res(as_store *st, const char *op_id, bool settle, const char *outcome,
                            bool *changed) {
  if (!st || !op_id || !outcome || !changed) return AS_INVAL;
  *changed = false;
  int64_t now = as_now_wall_ns();
  int rc = as__tx_begin(st, true);
  sqlite3_stmt *q = NULL;
  int row = 0;
  char state[16] = "";
  rc = as__sql_prepare(st, "SELECT state FROM budget_reservations WHERE op_id = ?1", &q, rc);
  rc = as__sql_text(q, 1, op_id, rc);
  rc = as__sql_step(q, &row, rc);
  const char *v = "";
  if (row) rc = as__sql_column_text(q, 0, &v, rc);
  if (rc == AS_OK && row) (void)snprintf(state, sizeof state, "%s", v); /* ignore: short */
  rc = as__sql_finish(q, rc);
  if (rc == AS_OK && !row) rc = AS_NOTFOUND;
  int64_t cost = 0;
  rc = query_i64(st, "SELECT COALESCE(SUM(cost_micros), 0) FROM cost_records WHERE op_id = ?1",
                 op_id, &cost, rc);
  bool open = strcmp(state, "open") == 0;
  if (rc == AS_OK && (open || (AS_MUTANT(SETTLE_NOT_IDEMPOTENT) && settle &&
                               strcmp(state, "settled") == 0))) {
    rc = as__sql_prepare(st,
                         "UPDATE budget_reservations SET state = ?2, outcome = ?3,"
                         " settled_micros = ?4, closed_ns = ?5 WHERE op_id = ?1",
                         &q, rc);
    if (!open) { /* the mutant: a second settle adds the cycle's cost again */
      int64_t before = 0;
      rc = query_i64(st, "SELECT settled_micros FROM budget_reservations WHERE op_id = ?1", op_id,
                     &before, rc);
      cost += before;
    }
    rc = as__sql_text(q, 1, op_id, rc);
    rc = as__sql_text(q, 2, settle ? "settled" : "released", rc);
    rc = as__sql_text(q, 3, outcome, rc);
    rc = as__sql_int64(q, 4, cost, rc);
    rc = as__sql_int64(q, 5, now, rc);
    rc = as__sql_step(q, &row, rc);
    rc = as__sql_finish(q, rc);
    if (rc == AS_OK) *changed = true;
  }
  rc = as__tx_end(st, rc);
  if (rc != AS_OK) *changed = false;
  return rc;
}

int as_budget_settle(as_store *st, const char *op_id, bool *changed) {
  return close_res(st, op_id, true, "completed", changed);
}

int as_budget_release(as_store *st, const char *op_id, const char *outcome, bool *changed) {
  if (outcome && (!outcome[0] || strlen(outcome) > 16)) return AS_INVAL;
  return close_res(st, op_id, false, outcome, changed);
}

int as_budget_recover(as_store *st, size_t *released) {
  if (!st || !released) return AS_INVAL;
  *released = 0;
  int64_t now = as_now_wall_ns();
  int rc = as__tx_begin(st, true);
  sqlite3_stmt *q = NULL;
  int row = 0;
  rc = as__sql_prepare(
      st,
      "UPDATE budget_reservations SET state = 'released', outcome = 'recovered',"
      " settled_micros = (SELECT COALESCE(SUM(c.cost_micros), 0) FROM cost_records c"
      " WHERE c.op_id = budget_reservations.op_id), closed_ns = ?1"
      " WHERE state = 'open' AND NOT EXISTS (SELECT 1 FROM sessions s"
      " WHERE s.id = budget_reservations.session_id AND s.status = 'awaiting_input')",
      &q, rc);
  rc = as__sql_int64(q, 1, now, rc);
  rc = as__sql_step(q, &row, rc);
  if (rc == AS_OK) *released = (size_t)sqlite3_changes(st->db);
  rc = as__sql_finish(q, rc);
  rc = as__tx_end(st, rc);
  if (rc != AS_OK) *released = 0;
  return rc;
}

/* --- status ------------------------------------------------------------------------- */

int as_budget_status_get(as_store *st, const as_budget_cfg *cfg, as_budget_status *out) {
  if (!st || !cfg || !out || cfg->cycle_estimate_micros <= 0) return AS_INVAL;
  as_budget_status s;
  memset(&s, 0, sizeof s);
  as_utc_day(as_now_wall_ns(), s.date);
  s.daily_limit_micros = cfg->daily_limit_micros;
  int rc = as__tx_begin(st, false);
  rc = as__budget_day_totals(st, s.date, &s.spent_micros, &s.reserved_micros, rc);
  rc = query_i64(st, "SELECT COUNT(*) FROM cost_records WHERE day = ?1", s.date,
                 &s.spend_events, rc);
  rc = query_i64(st, "SELECT COUNT(*) FROM budget_reservations WHERE state = 'open'", NULL,
                 &s.open_reservations, rc);
  rc = as__tx_end(st, rc);
  if (rc != AS_OK) return rc;
  s.remaining_micros = remaining_of(s.daily_limit_micros, s.spent_micros, s.reserved_micros);
  s.cycles_affordable = s.remaining_micros / cfg->cycle_estimate_micros;
  *out = s;
  return AS_OK;
}

/* micros as a JSON number of dollars: exact, since it is written as text. */
static json_t *dollars(int64_t micros) {
  char buf[32];
  (void)snprintf(buf, sizeof buf, "%lld.%06lld", (long long)(micros / MICROS), /* ignore: sized */
                 (long long)(micros % MICROS));
  return json_real(strtod(buf, NULL));
}

int as_budget_status_text(const as_budget_status *s, bool json, char **out) {
  if (!s || !out) return AS_INVAL;
  *out = NULL;
  if (json) {
    json_t *o = json_pack(
        "{s:s,s:o,s:o,s:o,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "date", s->date, "daily_limit",
        dollars(s->daily_limit_micros), "today_spend", dollars(s->spent_micros), "reserved",
        dollars(s->reserved_micros), "remaining", dollars(s->remaining_micros),
        "cycles_affordable", (json_int_t)s->cycles_affordable, "spend_events",
        (json_int_t)s->spend_events, "open_reservations", (json_int_t)s->open_reservations,
        "daily_limit_micros", (json_int_t)s->daily_limit_micros, "today_spend_micros",
        (json_int_t)s->spent_micros, "reserved_micros", (json_int_t)s->reserved_micros,
        "remaining_micros", (json_int_t)s->remaining_micros);
    if (!o) return AS_NOMEM;
    char *t = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(o);
    if (!t) return AS_NOMEM;
    int rc = as__dup_text(t, 4096, out);
    as__json_free(t);
    return rc;
  }
  char lim[32], spent[32], res[32], rem[32];
  as_money_cents(lim, sizeof lim, s->daily_limit_micros, false);
  as_money_cents(spent, sizeof spent, s->spent_micros, true);
  as_money_cents(res, sizeof res, s->reserved_micros, true);
  as_money_cents(rem, sizeof rem, s->remaining_micros, false);
  /* At most 10 + 4 * 31 + 2 * 20 bytes of fields and 150 of text: never cut. */
  char buf[512];
  (void)snprintf(buf, sizeof buf, /* ignore: sized, see above */
                 "Agent Budget Status\n"
                 "==============================\n"
                 "Date: %.10s\nDaily Limit: %s\nToday's Spend: %s\nReserved: %s\n"
                 "Remaining: %s\nCycles Affordable: ~%lld\nSpend Events: %lld\n",
                 s->date, lim, spent, res, rem, (long long)s->cycles_affordable,
                 (long long)s->spend_events);
  return as__dup_text(buf, sizeof buf, out);
}

/* --- the ledger ------------------------------------------------------------------------ */

static AS_WUR int record_insert(as_store *st, const as_cost_record *rec, bool replace, int rc) {
  sqlite3_stmt *q = NULL;
  int row = 0;
  /* seq: the day's next, computed in the statement that inserts it (or,
  ** under the mutant, the one read beforehand, replacing on conflict). */
  rc = as__sql_prepare(
      st,
      replace ? "INSERT OR REPLACE INTO cost_records VALUES (?1, ?16, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
                " ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
              : "INSERT INTO cost_records SELECT ?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM"
                " cost_records WHERE day = ?1), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
                " ?13, ?14, ?15",
      &q, rc);
  rc = as__sql_text(q, 1, rec->day, rc);
  rc = as__sql_text(q, 2, rec->op_id, rc);
  rc = as__sql_text(q, 3, rec->leaf, rc);
  rc = as__sql_text(q, 4, rec->session_id, rc);
  rc = as__sql_text(q, 5, rec->agent, rc);
  rc = as__sql_text(q, 6, rec->name, rc);
  rc = as__sql_int64(q, 7, rec->usage.input, rc);
  rc = as__sql_int64(q, 8, rec->usage.cache_read, rc);
  rc = as__sql_int64(q, 9, rec->usage.cache_write, rc);
  rc = as__sql_int64(q, 10, rec->usage.output, rc);
  rc = as__sql_int64(q, 11, rec->usage_estimated, rc);
  rc = as__sql_text(q, 12, rec->price_version, rc);
  rc = as__sql_int64(q, 13, rec->cost_micros, rc);
  rc = as__sql_int64(q, 14, rec->duration_ns, rc);
  rc = as__sql_int64(q, 15, rec->at_ns, rc);
  if (replace) rc = as__sql_int64(q, 16, rec->seq, rc);
  rc = as__sql_step(q, &row, rc);
  return as__sql_finish(q, rc);
}

/* The day and op_id rec is billed to: its session's open cycle's, else its own. */
static AS_WUR int billing(as_store *st, as_cost_record *rec, int rc) {
  sqlite3_stmt *q = NULL;
  int row = 0;
  rc = as__sql_prepare(st,
                       "SELECT op_id, day FROM budget_reservations WHERE session_id = ?1 AND "
                       "state = 'open' ORDER BY opened_ns LIMIT 1",
                       &q, rc);
  rc = as__sql_text(q, 1, rec->session_id, rc);
  rc = as__sql_step(q, &row, rc);
  const char *op = "", *day = "";
  if (row) rc = as__sql_column_text(q, 0, &op, rc);
  if (row) rc = as__sql_column_text(q, 1, &day, rc);
  if (rc == AS_OK && row) {
    if (as__copy_name(rec->op_id, sizeof rec->op_id, op) != AS_OK ||
        strlen(day) != AS_DAY_LEN)
      rc = AS_IO; /* the table holds what no reserve wrote */
    else memcpy(rec->day, day, AS_DAY_LEN + 1);
  } else if (rc == AS_OK) {
    rec->op_id[0] = '\0';
    as_utc_day(rec->at_ns, rec->day);
  }
  return as__sql_finish(q, rc);
}

int as_ledger_record(as_store *st, as_cost_record *rec) {
  if (!st || !rec || !rec->session_id[0] ||
      (strcmp(rec->leaf, AS_LEAF_LLM) != 0 && strcmp(rec->leaf, AS_LEAF_TOOL) != 0) ||
      rec->cost_micros < 0 || rec->cost_micros > AS_MONEY_MAX)
    return AS_INVAL;
  bool rmw = AS_MUTANT(BUDGET_RMW_OUTSIDE_TX);
  int rc = AS_OK;
  if (rmw) { /* the seed's load-modify-save: read, await, write */
    rc = as__tx_begin(st, false);
    rc = billing(st, rec, rc);
    rc = query_i64(st, "SELECT COALESCE(MAX(seq), 0) + 1 FROM cost_records WHERE day = ?1",
                   rec->day, &rec->seq, rc);
    rc = as__tx_end(st, rc);
    if (rc != AS_OK) return rc;
    as_sleep_until(as_now_mono_ns());
  }
  rc = as__tx_begin(st, true);
  if (!rmw) rc = billing(st, rec, rc);
  rc = record_insert(st, rec, rmw, rc);
  if (!rmw)
    rc = query_i64(st, "SELECT MAX(seq) FROM cost_records WHERE day = ?1", rec->day,
                   &rec->seq, rc);
  return as__tx_end(st, rc);
}

int as_ledger_list(as_store *st, as_cost_record *out, size_t cap, size_t *n, bool *more) {
  if (!st || (!out && cap) || !n || !more) return AS_INVAL;
  *n = 0;
  *more = false;
  int rc = as__tx_begin(st, false);
  sqlite3_stmt *q = NULL;
  int row = 0;
  rc = as__sql_prepare(st,
                       "SELECT day, seq, op_id, leaf, session_id, agent, name, input_tokens,"
                       " cache_read_tokens, cache_write_tokens, output_tokens, usage_estimated,"
                       " price_version, cost_micros, duration_ns, at_ns FROM cost_records"
                       " ORDER BY day, seq",
                       &q, rc);
  for (;;) {
    rc = as__sql_step(q, &row, rc);
    if (rc != AS_OK || !row) break;
    if (*n == cap) {
      *more = true;
      break;
    }
    as_cost_record *r = &out[*n];
    memset(r, 0, sizeof *r);
    const char *t[7] = {0};
    static const int tcol[7] = {0, 2, 3, 4, 5, 6, 12};
    for (int i = 0; i < 7; i++) rc = as__sql_column_text(q, tcol[i], &t[i], rc);
    if (rc != AS_OK) break;
    (void)snprintf(r->day, sizeof r->day, "%s", t[0]);             /* ignore: cut */
    (void)snprintf(r->op_id, sizeof r->op_id, "%s", t[1]);         /* ignore: cut */
    (void)snprintf(r->leaf, sizeof r->leaf, "%s", t[2]);           /* ignore: cut */
    (void)snprintf(r->session_id, sizeof r->session_id, "%s", t[3]); /* ignore: cut */
    (void)snprintf(r->agent, sizeof r->agent, "%s", t[4]);         /* ignore: cut */
    (void)snprintf(r->name, sizeof r->name, "%s", t[5]);           /* ignore: cut */
    (void)snprintf(r->price_version, sizeof r->price_version, "%s", t[6]); /* ignore: cut */
    r->seq = sqlite3_column_int64(q, 1);
    r->usage.input = sqlite3_column_int64(q, 7);
    r->usage.cache_read = sqlite3_column_int64(q, 8);
    r->usage.cache_write = sqlite3_column_int64(q, 9);
    r->usage.output = sqlite3_column_int64(q, 10);
    r->usage_estimated = sqlite3_column_int64(q, 11) != 0;
    r->cost_micros = sqlite3_column_int64(q, 13);
    r->duration_ns = sqlite3_column_int64(q, 14);
    r->at_ns = sqlite3_column_int64(q, 15);
    (*n)++;
  }
  rc = as__sql_finish(q, rc);
  return as__tx_end(st, rc);
}

/*
** budget.c -- the ledger and the daily budget under the oracle (budget.h's
** contract as its text states it; DESIGN.md section 5). Written from the
** specification: the oracle reads the price table itself (jansson), prices
** usage with its own formula, converts a provider's inclusive counts with
** its own reading of the edge, finds the UTC day with its own calendar. It
** never calls the runtime's budget code.
**
** The evidence: the rows of cost_records and budget_reservations each
** transaction commits (audit.c), taken out of the transaction before the
** session model sees it; the stub's answers (ORC_EV_LLM_ANSWER: what the
** provider reported, inclusively), the world's tool calls (ORC_EV_EXEC),
** the spans the runs ended (ORC_EV_SPAN) and the operations' answers.
**
** The model: every record (day, seq) and every reservation, as committed.
** A commit rolled back after its commit hook, cut by power loss or answered
** with an error is in doubt: its records may be absent, its reservations
** in their state before; the final read accepts either, and the limit is
** judged on what is sure.
**
** Per task, the leaves waiting for their record: the LLM answers the stub
** gave (in order) and the app tools the world ran; a record takes the
** oldest of its kind, and an operation that answers with its run ended or
** paused has none left.
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agentsim/fmt.h"
#include "grow.h"
#include "orc_int.h"
#include "scenario/scenario.h"

#define B_NAME 192             /* op ids, names, sessions (budget.h's AS_OP_ID_MAX) */
#define B_DAY 11
#define B_MAX_RECORDS (1u << 20)
#define B_MAX_RESV (1u << 16)
#define B_MAX_PRICES 64u
#define B_PENDING 64u          /* leaves one task waits to see recorded */
#define B_PRICES_FILE_MAX (256u * 1024u)
#define B_TOKENS_MAX 100000000ll  /* one bucket (budget.h's AS_TOKENS_MAX) */
#define B_PRICE_MAX 1000000000ll  /* per million tokens (AS_PRICE_MAX) */

enum { RS_OPEN, RS_SETTLED, RS_RELEASED };
static const char *const state_names[] = {"open", "settled", "released"};

typedef struct bprice {
  char model[B_NAME];
  int64_t p[4]; /* input, cache_read, cache_write, output: micro-dollars per million */
} bprice;

typedef struct brec {
  char day[B_DAY];
  int64_t seq;
  char op[B_NAME], leaf[16], session[B_NAME], name[B_NAME];
  int64_t cost;
  bool doubt;      /* its commit is in doubt: it may be absent */
  bool unsettled;  /* its commit has not been confirmed yet */
  uint32_t conn;
} brec;

typedef struct bresv {
  char op[B_NAME], session[B_NAME], day[B_DAY];
  int64_t est;
  int state;
  char outcome[32];
  int64_t settled;
  bool doubt_new;  /* inserted by a commit in doubt */
  bool has_prev;   /* changed by a commit in doubt: it may still be prev_* */
  int prev_state;
  char prev_outcome[32];
  int64_t prev_settled;
  bool unsettled;
  uint32_t conn;
  bool unsettled_new; /* the unsettled commit inserted it */
  int un_state;       /* the state before the unsettled commit changed it */
  char un_outcome[32];
  int64_t un_settled;
} bresv;

typedef struct bpend {
  bool llm;          /* else an app tool the world carried out (a failed one is not waited for) */
  char session[B_NAME], agent[B_NAME], name[B_NAME];
  bool known;
  int64_t incl[4];   /* prompt, cache_read, cache_write, completion */
} bpend;

typedef struct btask {
  bpend pend[B_PENDING];
  size_t npend;
  char start_open[B_NAME]; /* the session's open reservation as the operation began */
  int64_t start_wall;
  char opened[B_NAME];     /* trigger: the reservation it committed */
  int64_t opened_remaining;
  int64_t opened_est;
  bool rejected;           /* trigger: it committed a budget_rejected event */
  int64_t rej_remaining, rej_need, rej_model_remaining;
  bool rej_affordable;     /* the model says the day could afford it then */
  char closed[B_NAME];     /* the reservation it closed last */
  int closed_state;
  char closed_outcome[32];
  unsigned nclosed;
  unsigned released;       /* recover: releases it committed */
  uint64_t gen0;           /* budget commits before it began */
} btask;

struct orc_budget {
  bool on;
  int64_t limit, estimate;
  char version[64];
  int64_t tool_micros;
  bprice prices[B_MAX_PRICES];
  size_t nprices;
  brec *recs;
  size_t nrecs, caprecs;
  bresv *resv;
  size_t nresv, capresv;
  btask *tasks;
  size_t ntasks, captasks;
  uint64_t gen;      /* budget commits so far */
  uint64_t nspans;   /* spans that carry usage */
  int64_t span_cost; /* their usage, priced */
};

/* --- the calendar and money ------------------------------------------------------- */

/* The UTC day of wall-clock ns, "YYYY-MM-DD" (days from civil, inverted:
** the proleptic Gregorian calendar in 400-year eras). An int64_t of ns
** spans the years 1677 to 2262, so the day count from 0000-03-01 (z) and
** the year are always positive: no negative era to round. */
static void utc_day(int64_t wall_ns, char out[B_DAY]) {
  int64_t secs = wall_ns / 1000000000;
  if (wall_ns % 1000000000 < 0) secs--;
  int64_t z = secs / 86400 - (secs % 86400 < 0 ? 1 : 0);
  z += 719468;
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
  char buf[32];
  (void)snprintf(buf, sizeof buf, "%04u-%02u-%02u", yy, mm, dd); /* ignore: ten characters */
  memcpy(out, buf, B_DAY - 1);
  out[B_DAY - 1] = '\0';
}

/* "$R.RR", rounded down (up) to cents. */
static void cents(char *buf, size_t cap, int64_t micros, bool up) {
  int64_t c = micros / 10000 + (up && micros % 10000 ? 1 : 0);
  (void)snprintf(buf, cap, "$%lld.%02lld", (long long)(c / 100), (long long)(c % 100)); /* ignore: sized */
}

/* pattern: a model name of the table, never "" (read_model). */
static bool name_matches(const char *pattern, const char *model) {
  size_t n = strlen(pattern);
  if (pattern[n - 1] == '*') return strncmp(pattern, model, n - 1) == 0;
  return strcmp(pattern, model) == 0;
}

static const bprice *price_of(const struct orc_budget *b, const char *model) {
  for (size_t i = 0; i < b->nprices; i++)
    if (name_matches(b->prices[i].model, model)) return &b->prices[i];
  return NULL;
}

/* ceil(sum(u[k] * p[k]) / 1e6), or -1 for a bucket out of range. */
static int64_t cost_of(const bprice *p, const int64_t u[4]) {
  int64_t sum = 0;
  for (int k = 0; k < 4; k++) {
    if (u[k] < 0 || u[k] > B_TOKENS_MAX) return -1;
    sum += u[k] * p->p[k];
  }
  return sum / 1000000 + (sum % 1000000 ? 1 : 0);
}

/* --- the price table, read by the oracle itself ------------------------------------ */

static AS_WUR int money_of(json_t *v, int64_t *out) {
  const char *s = json_string_value(v);
  return s && scn_money_parse(s, strlen(s), out) == AS_OK ? AS_OK : AS_PARSE;
}

static AS_WUR int bad_field(char *err, size_t cap, const char *file, const char *field,
                            const char *want) {
  (void)snprintf(err, cap, "%s: %s: expected %s", file, field, want); /* ignore: cut still reads */
  return AS_PARSE;
}

static AS_WUR int read_model(struct orc_budget *b, json_t *m, size_t i, const char *file,
                             char *err, size_t cap) {
  static const char *const keys[4] = {"input", "cache_read", "cache_write", "output"};
  char field[64];
  bprice *p = &b->prices[i];
  const char *name = json_string_value(json_object_get(m, "model"));
  (void)snprintf(field, sizeof field, "models[%zu].model", i); /* ignore: fits */
  if (!json_is_object(m) || !name || !name[0] || strlen(name) >= sizeof p->model)
    return bad_field(err, cap, file, field, "a model name of 1 to 191 characters");
  memcpy(p->model, name, strlen(name) + 1);
  for (int k = 0; k < 4; k++) {
    (void)snprintf(field, sizeof field, "models[%zu].%s", i, keys[k]); /* ignore: fits */
    if (money_of(json_object_get(m, keys[k]), &p->p[k]) != AS_OK || p->p[k] > B_PRICE_MAX)
      return bad_field(err, cap, file, field, "dollars per million tokens as a string, such as "
                                              "\"2.50\" (at most $1000)");
  }
  return AS_OK;
}

static AS_WUR int read_prices(struct orc_budget *b, const char *text, size_t len,
                              const char *file, char *err, size_t cap) {
  json_error_t je;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  if (!root) {
    (void)snprintf(err, cap, "%s:%d:%d: %s", file, je.line, je.column, je.text); /* ignore: cut */
    return AS_PARSE;
  }
  int rc = AS_OK;
  const char *v = json_string_value(json_object_get(root, "version"));
  json_t *models = json_object_get(root, "models");
  if (!v || !v[0] || strlen(v) >= sizeof b->version)
    rc = bad_field(err, cap, file, "version", "a version string of 1 to 63 characters");
  else if (money_of(json_object_get(root, "tool_call"), &b->tool_micros) != AS_OK)
    rc = bad_field(err, cap, file, "tool_call", "dollars per tool call as a string");
  else if (!json_is_array(models) || json_array_size(models) > B_MAX_PRICES)
    rc = bad_field(err, cap, file, "models", "an array of at most 64 models");
  if (rc == AS_OK) memcpy(b->version, v, strlen(v) + 1);
  for (size_t i = 0; rc == AS_OK && i < json_array_size(models); i++) {
    rc = read_model(b, json_array_get(models, i), i, file, err, cap);
    b->nprices = i + 1;
  }
  json_decref(root);
  return rc;
}

static struct orc_budget *budget_of(orc *o) {
  if (!o->bud) o->bud = calloc(1, sizeof *o->bud);
  if (!o->bud) orc__harness_error(o, "out of memory");
  return o->bud;
}

int orc_set_budget_text(orc *o, int64_t limit, int64_t estimate, const char *text, size_t len,
                        const char *file, char *err, size_t cap) {
  struct orc_budget *b = budget_of(o);
  if (!b) return AS_NOMEM;
  int rc = read_prices(b, text, len, file, err, cap);
  if (rc != AS_OK) return rc;
  b->on = true;
  b->limit = limit;
  b->estimate = estimate > 0 ? estimate : SCN_ESTIMATE_DEFAULT;
  return AS_OK;
}

int orc_set_budget(orc *o, int64_t limit, int64_t estimate, const char *path, char *err,
                   size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    (void)snprintf(err, cap, "%s: cannot open", path); /* ignore: cut still reads */
    return AS_IO;
  }
  char *buf = malloc(B_PRICES_FILE_MAX + 1);
  size_t n = buf ? fread(buf, 1, B_PRICES_FILE_MAX + 1, f) : 0;
  int rc = !buf ? AS_NOMEM : ferror(f) ? AS_IO : n > B_PRICES_FILE_MAX ? AS_TOOBIG : AS_OK;
  if (fclose(f) != 0 && rc == AS_OK) rc = AS_IO;
  if (rc != AS_OK)
    (void)snprintf(err, cap, "%s: %s", path, rc == AS_TOOBIG ? "a price table of at most 262144 bytes"
                                               : as_status_msg(rc)); /* ignore: cut still reads */
  if (rc == AS_OK) rc = orc_set_budget_text(o, limit, estimate, buf, n, path, err, cap);
  free(buf);
  return rc;
}

void orc__budget_free(orc *o) {
  if (!o->bud) return;
  free(o->bud->recs);
  free(o->bud->resv);
  free(o->bud->tasks);
  free(o->bud);
  o->bud = NULL;
}

/* --- the model's sums ------------------------------------------------------------ */

/* The ledger cost of reservation op (records carrying it, in doubt too: a
** close settles what its cycle's records say then, and a hold is what they
** have not yet spent). op is a reservation's, never "". */
static int64_t ledger_of(const struct orc_budget *b, const char *op) {
  int64_t sum = 0;
  for (size_t i = 0; i < b->nrecs; i++)
    if (strcmp(b->recs[i].op, op) == 0) sum += b->recs[i].cost;
  return sum;
}

static int64_t spent_of(const struct orc_budget *b, const char *day, bool sure, int64_t *nrec) {
  int64_t sum = 0, n = 0;
  for (size_t i = 0; i < b->nrecs; i++)
    if (strcmp(b->recs[i].day, day) == 0 && !(sure && b->recs[i].doubt)) {
      sum += b->recs[i].cost;
      n++;
    }
  if (nrec) *nrec = n;
  return sum;
}

/* What the day's open reservations hold: each its estimate less its
** cycle's ledger cost, at least 0. */
static int64_t held_of(const struct orc_budget *b, const char *day, bool sure) {
  int64_t sum = 0;
  for (size_t i = 0; i < b->nresv; i++) {
    const bresv *r = &b->resv[i];
    if (r->state != RS_OPEN || strcmp(r->day, day) != 0 || (sure && r->doubt_new)) continue;
    int64_t h = r->est - ledger_of(b, r->op);
    sum += h > 0 ? h : 0;
  }
  return sum;
}

static bresv *resv_find(struct orc_budget *b, const char *op) {
  for (size_t i = 0; i < b->nresv; i++)
    if (strcmp(b->resv[i].op, op) == 0) return &b->resv[i];
  return NULL;
}

static bresv *open_of(struct orc_budget *b, const char *session) {
  for (size_t i = b->nresv; i-- > 0;)
    if (b->resv[i].state == RS_OPEN && strcmp(b->resv[i].session, session) == 0) return &b->resv[i];
  return NULL;
}

/* The budget's part of active task t. Its operation's beginning made it
** (orc__budget_begin, the only place that allocates one; a failure there is
** a harness error, after which the oracle hears nothing more), and every
** caller's task is in an operation. */
static btask *btask_of(orc *o, const orc_task *t) {
  return &o->bud->tasks[t - o->tasks];
}

/* --- the stream's evidence ----------------------------------------------------------- */

static void copy(char *dst, size_t cap, const char *s) {
  (void)snprintf(dst, cap, "%s", s ? s : ""); /* ignore: names are capped below B_NAME */
}

static void push(orc *o, orc_task *t, const bpend *p) {
  btask *bt = btask_of(o, t);
  if (bt->npend == B_PENDING) {
    orc__harness_error(o, "more than %u leaf operations of one task wait for their record",
                       B_PENDING);
    return;
  }
  bt->pend[bt->npend++] = *p;
}

void orc__budget_on_answer(orc *o, const orc_llm_answer *a, orc_task *t) {
  /* An error costs nothing; without a budget the runtime records nothing.
  ** (An active task began, and its beginning made o->bud.) */
  if (!a || !t || !t->active || a->rc != AS_OK || !o->bud->on) return;
  bpend p = {.llm = true, .known = a->usage_known != 0,
             .incl = {a->prompt, a->cache_read, a->cache_write, a->completion}};
  copy(p.session, sizeof p.session, a->session);
  copy(p.agent, sizeof p.agent, a->agent);
  copy(p.name, sizeof p.name, a->model ? a->model : "unknown");
  push(o, t, &p);
}

void orc__budget_on_exec(orc *o, const orc_exec *ex, orc_task *t) {
  /* A tool whose server failed is not recorded (the run fails with it).
  ** The sink passes on only an event orc__on_exec accepted (ex names a
  ** session and a tool); an active task began, which made o->bud. */
  if (!t || !t->active || ex->fail != AS_OK || !o->bud->on) return;
  bpend p = {.llm = false};
  copy(p.session, sizeof p.session, ex->session);
  copy(p.name, sizeof p.name, ex->tool);
  push(o, t, &p);
}

static const orc_span_attr *attr(const orc_span *sp, const char *key) {
  for (size_t i = 0; i < sp->nattrs; i++)
    if (sp->attrs[i].key && strcmp(sp->attrs[i].key, key) == 0) return &sp->attrs[i];
  return NULL;
}

void orc__budget_on_span(orc *o, const orc_span *sp, orc_task *t) {
  (void)t;
  struct orc_budget *b = budget_of(o);
  if (!b || !sp || !sp->name) return;
  static const char *const keys[4] = {"gen_ai.usage.input_tokens",
                                      "gen_ai.usage.cache_read.input_tokens",
                                      "gen_ai.usage.cache_creation.input_tokens",
                                      "gen_ai.usage.output_tokens"};
  const orc_span_attr *u[4];
  bool any = false;
  for (int k = 0; k < 4; k++) any |= (u[k] = attr(sp, keys[k])) != NULL;
  bool chat = strncmp(sp->name, "chat ", 5) == 0;
  if (!chat) {
    if (any)
      orc__violate(o, ORC_CK_SPAN_USAGE, "span '%s' carries usage (%s): only the leaf LLM "
                   "spans do, or a trace's cost counts twice", sp->name,
                   u[0] ? keys[0] : u[3] ? keys[3] : u[1] ? keys[1] : keys[2]);
    return;
  }
  if (!any) return; /* a call that failed reports no usage */
  const orc_span_attr *model = attr(sp, "gen_ai.request.model");
  const orc_span_attr *pv = attr(sp, "agentsim.price_version");
  const orc_span_attr *cost = attr(sp, "agentsim.cost_micros");
  int64_t v[4];
  for (int k = 0; k < 4; k++) v[k] = u[k] && !u[k]->s ? u[k]->i : 0;
  int64_t ex[4] = {v[0] - v[1] - v[2], v[1], v[2], v[3]}; /* input tokens hold the cached */
  const bprice *p = model && model->s ? price_of(b, model->s) : NULL;
  int64_t want = !b->on ? 0 : p && pv && pv->s && strcmp(pv->s, b->version) == 0 ? cost_of(p, ex) : -1;
  if (want < 0 || !cost || cost->s || cost->i != want) {
    orc__violate(o, ORC_CK_SPAN_USAGE, "span '%s' (usage in %lld, cache read %lld, cache write "
                 "%lld, out %lld; price version %s) says it cost %lld micro-dollars; priced, it "
                 "is %lld", sp->name, (long long)v[0], (long long)v[1], (long long)v[2],
                 (long long)v[3], pv && pv->s ? pv->s : "(none)",
                 cost && !cost->s ? (long long)cost->i : -1ll, (long long)want);
    return;
  }
  b->nspans++;
  b->span_cost += want;
}

/* --- committed rows ---------------------------------------------------------------- */

static const char *ctext(const orc_cval *v) { return v->type == SQLITE_TEXT && v->t ? v->t : ""; }

/* Who may write the ledger's tables. */
static bool runs_agents(unsigned k) {
  return k == SCN_OP_RUN || k == SCN_OP_APPROVE || k == SCN_OP_REJECT || k == SCN_OP_RETRY ||
         k == SCN_OP_WATCHDOG || k == SCN_OP_TRIGGER;
}

/* The oldest leaf of the kind waiting in bt (tools: by name); -1 none. */
static int take_pending(btask *bt, bool llm, const char *name) {
  for (size_t i = 0; i < bt->npend; i++)
    if (bt->pend[i].llm == llm && (llm || strcmp(bt->pend[i].name, name) == 0)) return (int)i;
  return -1;
}

static void drop_pending(btask *bt, int i) {
  memmove(&bt->pend[i], &bt->pend[i + 1], (bt->npend - (size_t)i - 1) * sizeof bt->pend[0]);
  bt->npend--;
}

/* The record's leaf: one the task did, with the stub's usage converted. */
static void judge_leaf(orc *o, btask *bt, const orc_crow *r) {
  const orc_cval *nw = r->nw;
  const char *leaf = ctext(&nw[ORC_KC_LEAF]), *name = ctext(&nw[ORC_KC_NAME]);
  bool llm = strcmp(leaf, "llm_call") == 0;
  if (!llm && strcmp(leaf, "tool_call") != 0) {
    orc__violate(o, ORC_CK_LEDGER_LEAF, "a record of leaf '%s' (only llm_call and tool_call are "
                 "leaves)", leaf);
    return;
  }
  int i = take_pending(bt, llm, name);
  if (i < 0) {
    orc__violate(o, ORC_CK_LEDGER_LEAF, "a %s record for %s of %s, but the operation has no %s "
                 "waiting for one", leaf, name, ctext(&nw[ORC_KC_SESSION]),
                 llm ? "LLM answer" : "app tool call of that name");
    return;
  }
  const bpend *p = &bt->pend[i];
  if (strcmp(p->session, ctext(&nw[ORC_KC_SESSION])) != 0 ||
      (llm && (strcmp(p->agent, ctext(&nw[ORC_KC_AGENT])) != 0 || strcmp(p->name, name) != 0))) {
    orc__violate(o, ORC_CK_LEDGER_LEAF, "a %s record for %s/%s/%s, but the leaf it records was "
                 "%s/%s/%s", leaf, ctext(&nw[ORC_KC_SESSION]), ctext(&nw[ORC_KC_AGENT]), name,
                 p->session, p->agent, p->name);
    return;
  }
  if (llm) {
    int64_t want[4] = {p->incl[0] - p->incl[1] - p->incl[2], p->incl[1], p->incl[2], p->incl[3]};
    int64_t got[4] = {nw[ORC_KC_INPUT].i, nw[ORC_KC_CACHE_READ].i, nw[ORC_KC_CACHE_WRITE].i,
                      nw[ORC_KC_OUTPUT].i};
    bool est = nw[ORC_KC_ESTIMATED].i != 0;
    if (est != !p->known)
      orc__violate(o, ORC_CK_USAGE_EXACT, "the record of %s's %s call is %sestimated, but the "
                   "LLM %s usage", p->session, p->agent, est ? "" : "not ",
                   p->known ? "reported" : "reported no");
    else if (p->known && memcmp(want, got, sizeof want) != 0)
      orc__violate(o, ORC_CK_USAGE_EXACT, "the record of %s's %s call has input %lld, cache read "
                   "%lld, cache write %lld, output %lld; the LLM reported prompt %lld, cache read "
                   "%lld, cache write %lld, completion %lld, which is input %lld, cache read "
                   "%lld, cache write %lld, output %lld", p->session, p->agent,
                   (long long)got[0], (long long)got[1], (long long)got[2], (long long)got[3],
                   (long long)p->incl[0], (long long)p->incl[1], (long long)p->incl[2],
                   (long long)p->incl[3], (long long)want[0], (long long)want[1],
                   (long long)want[2], (long long)want[3]);
  }
  drop_pending(bt, i);
}

static void judge_cost(orc *o, const orc_crow *r) {
  struct orc_budget *b = o->bud;
  const orc_cval *nw = r->nw;
  const char *pv = ctext(&nw[ORC_KC_PRICE_VERSION]), *name = ctext(&nw[ORC_KC_NAME]);
  int64_t u[4] = {nw[ORC_KC_INPUT].i, nw[ORC_KC_CACHE_READ].i, nw[ORC_KC_CACHE_WRITE].i,
                  nw[ORC_KC_OUTPUT].i};
  int64_t got = nw[ORC_KC_COST].i, want = 0;
  bool tool = strcmp(ctext(&nw[ORC_KC_LEAF]), "tool_call") == 0;
  const char *why = NULL;
  /* (A budget is on: without one no leaf waits for a record, and judge_leaf
  ** has already refused it.) */
  if (strcmp(pv, b->version) != 0) {
    why = "priced by the table's version";
  } else if (tool) {
    want = b->tool_micros;
  } else {
    const bprice *p = price_of(b, name);
    want = p ? cost_of(p, u) : -1;
    if (want < 0) why = "priced by a model the table has, with buckets in range";
  }
  if (why)
    orc__violate(o, ORC_CK_COST_EXACT, "record %s #%lld (%s %s) has price version '%s': it "
                 "must be %s ('%s')", ctext(&nw[ORC_KC_DAY]), (long long)nw[ORC_KC_SEQ].i,
                 tool ? "tool" : "model", name, pv, why, b->version);
  else if (got != want)
    orc__violate(o, ORC_CK_COST_EXACT, "record %s #%lld (%s %s: input %lld, cache read %lld, "
                 "cache write %lld, output %lld) costs %lld micro-dollars; the table (%s) makes "
                 "it %lld", ctext(&nw[ORC_KC_DAY]), (long long)nw[ORC_KC_SEQ].i,
                 tool ? "tool" : "model", name, (long long)u[0], (long long)u[1],
                 (long long)u[2], (long long)u[3], (long long)got, b->version, (long long)want);
}

static void record_insert(orc *o, orc_task *t, uint32_t conn, const orc_crow *r) {
  struct orc_budget *b = o->bud;
  const orc_cval *nw = r->nw;
  const char *day = ctext(&nw[ORC_KC_DAY]), *op = ctext(&nw[ORC_KC_OP]);
  const char *session = ctext(&nw[ORC_KC_SESSION]);
  int64_t seq = nw[ORC_KC_SEQ].i, last = 0;
  for (size_t i = 0; i < b->nrecs; i++) {
    if (strcmp(b->recs[i].day, day) != 0) continue;
    if (b->recs[i].seq == seq) {
      orc__violate(o, ORC_CK_SPEND_DURABLE, "record %s #%lld was written over: it held %lld "
                   "micro-dollars of %s (%s), and now %lld of %s (%s)", day, (long long)seq,
                   (long long)b->recs[i].cost, b->recs[i].session, b->recs[i].name,
                   (long long)nw[ORC_KC_COST].i, session, ctext(&nw[ORC_KC_NAME]));
      return;
    }
    last = b->recs[i].seq; /* appended as numbered: the day's last is its greatest */
  }
  if (seq != last + 1) {
    orc__violate(o, ORC_CK_SPEND_DURABLE, "a record numbered %s #%lld; the day's last is #%lld "
                 "(a day's records are numbered 1, 2, ...)", day, (long long)seq, (long long)last);
    return;
  }
  judge_leaf(o, btask_of(o, t), r);
  if (!o->violated) judge_cost(o, r);
  if (o->violated) return;
  const bresv *open = open_of(b, session);
  char own[B_DAY];
  utc_day(nw[ORC_KC_AT].i, own);
  if (open && (strcmp(open->day, day) != 0 || strcmp(open->op, op) != 0))
    orc__violate(o, ORC_CK_BUDGET_DAY, "a record of %s billed to %s under op_id '%s', while its "
                 "reservation %s (of %s) is open", session, day, op, open->op, open->day);
  else if (!open && (op[0] || strcmp(day, own) != 0))
    orc__violate(o, ORC_CK_BUDGET_DAY, "a record of %s billed to %s under op_id '%s', with no "
                 "reservation open: op_id \"\" and its own day, %s", session, day, op, own);
  if (o->violated) return;
  if (sim_grow(&b->recs, &b->caprecs, b->nrecs + 1, sizeof *b->recs, B_MAX_RECORDS) != AS_OK) {
    orc__harness_error(o, "more than %u ledger records, or out of memory", B_MAX_RECORDS);
    return;
  }
  brec *d = &b->recs[b->nrecs++];
  memset(d, 0, sizeof *d);
  copy(d->day, sizeof d->day, day);
  d->seq = seq;
  copy(d->op, sizeof d->op, op);
  copy(d->leaf, sizeof d->leaf, ctext(&nw[ORC_KC_LEAF]));
  copy(d->session, sizeof d->session, session);
  copy(d->name, sizeof d->name, ctext(&nw[ORC_KC_NAME]));
  d->cost = nw[ORC_KC_COST].i;
  d->unsettled = true;
  d->conn = conn;
}

static void resv_insert(orc *o, orc_task *t, uint32_t conn, const orc_crow *r) {
  struct orc_budget *b = o->bud;
  const orc_cval *nw = r->nw;
  const char *op = ctext(&nw[ORC_BC_OP]), *sid = ctext(&nw[ORC_BC_SESSION]);
  const char *day = ctext(&nw[ORC_BC_DAY]);
  int64_t est = nw[ORC_BC_ESTIMATE].i;
  if (t->op.kind != SCN_OP_TRIGGER) {
    orc__violate(o, ORC_CK_OP_SCOPE, "%s committed reservation %s (only a trigger reserves)",
                 orc__op_name(t->op.kind), op);
    return;
  }
  unsigned k = 1;
  for (size_t i = 0; i < b->nresv; i++) k += strcmp(b->resv[i].session, sid) == 0;
  char want[B_NAME + 32], d0[B_DAY], d1[B_DAY];
  (void)snprintf(want, sizeof want, "%s:cycle-%u", sid, k); /* ignore: sized */
  btask *bt = btask_of(o, t);
  utc_day(bt->start_wall, d0);
  utc_day(ORC_WALL(o->now_ns), d1);
  int64_t want_est = t->op.estimate ? t->op.estimate : b->estimate;
  const bresv *open = open_of(b, sid);
  if (open) {
    orc__violate(o, ORC_CK_BUDGET_LIMIT, "reservation %s committed while %s's %s is open",
                 op, sid, open->op);
    return;
  }
  if (strcmp(op, want) != 0 || strcmp(sid, orc__str(t->session)) != 0 ||
      (strcmp(day, d0) != 0 && strcmp(day, d1) != 0) || est != want_est ||
      strcmp(ctext(&nw[ORC_BC_STATE]), "open") != 0 || nw[ORC_BC_SETTLED].i != 0) {
    orc__violate(o, ORC_CK_BUDGET_LIMIT, "trigger %s reserved %s for %s on %s, %lld micro-dollars, "
                 "state %s; the model says %s on %s, %lld, open", orc__str(t->session), op, sid,
                 day, (long long)est, ctext(&nw[ORC_BC_STATE]), want, d1, (long long)want_est);
    return;
  }
  int64_t spent = spent_of(b, day, true, NULL), held = held_of(b, day, true);
  if (spent + held + est > b->limit) {
    orc__violate(o, ORC_CK_BUDGET_LIMIT, "reservation %s of %lld micro-dollars committed on %s, "
                 "where %lld is spent and %lld held: %lld is over the daily limit of %lld", op,
                 (long long)est, day, (long long)spent, (long long)held,
                 (long long)(spent + held + est), (long long)b->limit);
    return;
  }
  if (sim_grow(&b->resv, &b->capresv, b->nresv + 1, sizeof *b->resv, B_MAX_RESV) != AS_OK) {
    orc__harness_error(o, "more than %u reservations, or out of memory", B_MAX_RESV);
    return;
  }
  bresv *d = &b->resv[b->nresv++];
  memset(d, 0, sizeof *d);
  copy(d->op, sizeof d->op, op);
  copy(d->session, sizeof d->session, sid);
  copy(d->day, sizeof d->day, day);
  d->est = est;
  d->state = RS_OPEN;
  d->unsettled = d->unsettled_new = true;
  d->conn = conn;
  copy(bt->opened, sizeof bt->opened, op);
  int64_t rem = b->limit - spent - held;
  bt->opened_remaining = rem > 0 ? rem : 0;
  bt->opened_est = est;
}

static int state_of(const char *s) {
  for (int k = 0; k < 3; k++)
    if (strcmp(s, state_names[k]) == 0) return k;
  return -1;
}

static bool outcome_ok(int state, const char *outcome) {
  if (state == RS_SETTLED) return strcmp(outcome, "completed") == 0;
  return strcmp(outcome, "failed") == 0 || strcmp(outcome, "cancelled") == 0 ||
         strcmp(outcome, "idle") == 0 || strcmp(outcome, "recovered") == 0;
}

static void resv_update(orc *o, orc_task *t, uint32_t conn, const orc_crow *r) {
  struct orc_budget *b = o->bud;
  const char *op = ctext(&r->old[ORC_BC_OP]);
  bresv *m = resv_find(b, op);
  if (!m) {
    orc__violate(o, ORC_CK_SPEND_DURABLE, "an update of reservation %s, which was never committed",
                 op);
    return;
  }
  int was = state_of(ctext(&r->old[ORC_BC_STATE]));
  int now = state_of(ctext(&r->nw[ORC_BC_STATE]));
  const char *outcome = ctext(&r->nw[ORC_BC_OUTCOME]);
  /* A change in doubt that did not happen: the row says so. */
  if (m->state != RS_OPEN && m->has_prev && was == m->prev_state) {
    m->state = m->prev_state;
    copy(m->outcome, sizeof m->outcome, m->prev_outcome);
    m->settled = m->prev_settled;
    m->has_prev = false;
  }
  if (m->state != RS_OPEN || was != RS_OPEN) {
    orc__violate(o, ORC_CK_SETTLE_ONCE, "%s changed reservation %s, %s (%s, %lld micro-dollars), "
                 "to %s (%s, %lld): a closed reservation never changes", orc__op_name(t->op.kind),
                 op, state_names[m->state], m->outcome, (long long)m->settled,
                 ctext(&r->nw[ORC_BC_STATE]), outcome, (long long)r->nw[ORC_BC_SETTLED].i);
    return;
  }
  if (now != RS_SETTLED && now != RS_RELEASED) {
    orc__violate(o, ORC_CK_SPEND_DURABLE, "%s changed open reservation %s without closing it "
                 "(state %s)", orc__op_name(t->op.kind), op, ctext(&r->nw[ORC_BC_STATE]));
    return;
  }
  if (strcmp(ctext(&r->nw[ORC_BC_OP]), op) != 0 ||
      strcmp(ctext(&r->nw[ORC_BC_SESSION]), m->session) != 0 ||
      strcmp(ctext(&r->nw[ORC_BC_DAY]), m->day) != 0 || r->nw[ORC_BC_ESTIMATE].i != m->est) {
    orc__violate(o, ORC_CK_SPEND_DURABLE, "closing reservation %s changed its session, day or "
                 "estimate", op);
    return;
  }
  if (!outcome_ok(now, outcome) || (strcmp(outcome, "recovered") == 0) != (t->op.kind == SCN_OP_RECOVER) ||
      (t->op.kind == SCN_OP_SETTLE && now != RS_SETTLED)) {
    orc__violate(o, ORC_CK_BUDGET_CLOSE, "%s closed reservation %s as %s with outcome '%s'",
                 orc__op_name(t->op.kind), op, state_names[now], outcome);
    return;
  }
  int64_t led = ledger_of(b, op);
  if (r->nw[ORC_BC_SETTLED].i != led) {
    orc__violate(o, ORC_CK_LEDGER_MATCH, "%s closed reservation %s (%s) with %lld micro-dollars "
                 "settled; its cycle's ledger cost is %lld", orc__op_name(t->op.kind), op,
                 state_names[now], (long long)r->nw[ORC_BC_SETTLED].i, (long long)led);
    return;
  }
  if (t->op.kind == SCN_OP_RECOVER) {
    const orc_sess *s = orc__session(o, m->session, false);
    if (s && s->exists && !s->has_alt && s->cur.status == ORC_ST_AWAITING_INPUT) {
      orc__violate(o, ORC_CK_BUDGET_CLOSE, "recovery released %s, though %s is awaiting_input "
                   "(its cycle goes on at its approval)", op, m->session);
      return;
    }
  }
  if (!m->unsettled) {
    m->un_state = m->state;
    copy(m->un_outcome, sizeof m->un_outcome, m->outcome);
    m->un_settled = m->settled;
    m->unsettled_new = false;
  }
  m->unsettled = true;
  m->conn = conn;
  m->state = now;
  copy(m->outcome, sizeof m->outcome, outcome);
  m->settled = led;
  btask *bt = btask_of(o, t);
  copy(bt->closed, sizeof bt->closed, op);
  bt->closed_state = now;
  copy(bt->closed_outcome, sizeof bt->closed_outcome, outcome);
  bt->nclosed++;
  bt->released += now == RS_RELEASED;
}

static void budget_row(orc *o, orc_task *t, uint32_t conn, const orc_crow *r) {
  bool costs = r->table == ORC_T_COSTS;
  if (!t || !t->active) {
    orc__violate(o, ORC_CK_OP_SCOPE, "a change to %s outside any operation",
                 costs ? "cost_records" : "budget_reservations");
    return;
  }
  unsigned k = t->op.kind;
  bool may = costs ? runs_agents(k) : runs_agents(k) || k == SCN_OP_SETTLE || k == SCN_OP_RECOVER;
  if (!may) {
    orc__violate(o, ORC_CK_OP_SCOPE, "%s %s changed %s", orc__op_name(k), orc__str(t->session),
                 costs ? "the ledger" : "a reservation");
    return;
  }
  if (r->op == ORC_DELETE || (costs && r->op == ORC_UPDATE)) {
    orc__violate(o, ORC_CK_SPEND_DURABLE, "%s %s %s %s %s", orc__op_name(k), orc__str(t->session),
                 r->op == ORC_DELETE ? "deleted" : "changed", costs ? "ledger record" : "reservation",
                 costs ? ctext(&r->old[ORC_KC_DAY]) : ctext(&r->old[ORC_BC_OP]));
    return;
  }
  if (costs)
    record_insert(o, t, conn, r);
  else if (r->op == ORC_INSERT)
    resv_insert(o, t, conn, r);
  else
    resv_update(o, t, conn, r);
}

void orc__budget_commit(orc *o, orc_conn *conn) {
  struct orc_budget *b = budget_of(o);
  if (!b) return;
  orc_task *t = conn->task < o->ntasks ? &o->tasks[conn->task] : NULL;
  uint32_t id = (uint32_t)(conn - o->conns);
  size_t keep = 0;
  bool any = false;
  for (size_t i = 0; i < conn->nrows; i++) {
    orc_crow *r = &conn->rows[i];
    if (r->table != ORC_T_COSTS && r->table != ORC_T_RESERVATIONS) {
      if (keep != i) conn->rows[keep] = *r;
      keep++;
      continue;
    }
    any = true;
    if (!o->violated) budget_row(o, t, id, r);
    orc__crow_clear(r);
  }
  conn->nrows = keep;
  if (any) b->gen++;
}

void orc__budget_settle(orc *o, const orc_conn *conn, bool ok) {
  struct orc_budget *b = o->bud;
  uint32_t id = (uint32_t)(conn - o->conns);
  for (size_t i = 0; b && i < b->nrecs; i++) {
    brec *r = &b->recs[i];
    if (!r->unsettled || r->conn != id) continue;
    r->unsettled = false;
    r->doubt |= !ok;
  }
  for (size_t i = 0; b && i < b->nresv; i++) {
    bresv *r = &b->resv[i];
    if (!r->unsettled || r->conn != id) continue;
    r->unsettled = false;
    if (ok) continue;
    if (r->unsettled_new) {
      r->doubt_new = true;
    } else {
      r->has_prev = true;
      r->prev_state = r->un_state;
      copy(r->prev_outcome, sizeof r->prev_outcome, r->un_outcome);
      r->prev_settled = r->un_settled;
    }
  }
}

/* --- operations ----------------------------------------------------------------- */

void orc__budget_begin(orc *o, orc_task *t) {
  struct orc_budget *b = budget_of(o);
  if (!b) return;
  size_t id = (size_t)(t - o->tasks);
  if (id >= b->ntasks) {
    if (sim_grow(&b->tasks, &b->captasks, id + 1, sizeof *b->tasks, ORC_MAX_TASKS) != AS_OK) {
      orc__harness_error(o, "out of memory");
      return;
    }
    memset(&b->tasks[b->ntasks], 0, (id + 1 - b->ntasks) * sizeof *b->tasks);
    b->ntasks = id + 1;
  }
  btask *bt = &b->tasks[id];
  memset(bt, 0, sizeof *bt);
  bt->start_wall = ORC_WALL(o->now_ns);
  bt->gen0 = o->bud->gen;
  const bresv *r = t->session ? open_of(o->bud, t->session) : NULL;
  if (r) copy(bt->start_open, sizeof bt->start_open, r->op);
}

/* The reservation a run-like operation's ending must close, as the outcome says. */
static void close_ack(orc *o, orc_task *t, btask *bt, const orc_op *ack) {
  const char *op = bt->opened[0] ? bt->opened : bt->start_open;
  bresv *r = op[0] ? resv_find(o->bud, op) : NULL;
  if (!r || ack->outcome == ORC_RUN_NONE) return;
  const orc_sess *s = orc__session(o, r->session, false);
  if (s && (s->survivor || s->has_alt || s->row_doubt)) return; /* the store failed under it */
  bool mine = bt->nclosed && strcmp(bt->closed, op) == 0;
  /* Idle while the session still waits for its approval: the cycle goes on. */
  bool waiting = ack->outcome == ORC_RUN_IDLE && s && s->exists && s->cur.status == ORC_ST_AWAITING_INPUT;
  if (ack->outcome == ORC_RUN_PAUSED || waiting) {
    if (mine)
      orc__violate(o, ORC_CK_BUDGET_CLOSE, "%s %s paused, but closed its cycle %s (%s): a paused "
                   "run keeps it open", orc__op_name(t->op.kind), t->session, op, bt->closed_outcome);
    return;
  }
  if (r->state == RS_OPEN) {
    orc__violate(o, ORC_CK_BUDGET_CLOSE, "%s %s answered its run %s, leaving its cycle %s open",
                 orc__op_name(t->op.kind), t->session,
                 ack->outcome == ORC_RUN_ENDED ? "ended" : ack->outcome == ORC_RUN_FAILED ? "failed"
                                                                                        : "idle",
                 op);
    return;
  }
  if (!mine) return; /* another ending closed it meanwhile */
  int want = ack->outcome == ORC_RUN_ENDED ? RS_SETTLED : RS_RELEASED;
  bool ok = bt->closed_state == want &&
            (ack->outcome != ORC_RUN_FAILED || strcmp(bt->closed_outcome, "failed") == 0 ||
             strcmp(bt->closed_outcome, "cancelled") == 0) &&
            (ack->outcome != ORC_RUN_IDLE || strcmp(bt->closed_outcome, "idle") == 0);
  if (!ok)
    orc__violate(o, ORC_CK_BUDGET_CLOSE, "%s %s's run %s, and it closed its cycle %s %s (%s)",
                 orc__op_name(t->op.kind), t->session,
                 ack->outcome == ORC_RUN_ENDED ? "ended" : ack->outcome == ORC_RUN_FAILED ? "failed"
                                                                                        : "was idle",
                 op, state_names[bt->closed_state], bt->closed_outcome);
}

static void leaves_ack(orc *o, orc_task *t, btask *bt, const orc_op *ack) {
  if (ack->rc != AS_OK || (ack->outcome != ORC_RUN_ENDED && ack->outcome != ORC_RUN_PAUSED)) return;
  if (!bt->npend) return;
  const bpend *p = &bt->pend[0];
  orc__violate(o, ORC_CK_LEDGER_LEAF, "%s %s answered with no record of %s %s (%s)",
               orc__op_name(t->op.kind), orc__str(t->session), p->llm ? "the LLM answer to" : "tool",
               p->llm ? p->agent : p->name, p->session);
}

static void trigger_ack(orc *o, orc_task *t, btask *bt, const orc_op *ack) {
  struct orc_budget *b = o->bud;
  int64_t est = t->op.estimate ? t->op.estimate : b->estimate;
  if (ack->answer == ORC_TA_ACCEPTED) {
    if (!bt->opened[0] || !ack->op_id || strcmp(ack->op_id, bt->opened) != 0 ||
        ack->need != est || ack->remaining != bt->opened_remaining)
      orc__violate(o, ORC_CK_TRIGGER_ANSWER, "trigger %s answered accepted as '%s' (remaining %lld, "
                   "need %lld); it reserved %s (remaining %lld before it, need %lld)", t->session,
                   orc__str(ack->op_id), (long long)ack->remaining, (long long)ack->need,
                   bt->opened[0] ? bt->opened : "nothing", (long long)bt->opened_remaining,
                   (long long)est);
    return;
  }
  if (bt->opened[0]) {
    orc__violate(o, ORC_CK_TRIGGER_ANSWER, "trigger %s reserved %s, but answered '%s'", t->session,
                 bt->opened, orc__str(ack->reason));
    return;
  }
  if (ack->answer == ORC_TA_ACTIVE) {
    if (!bt->start_open[0] && !open_of(b, t->session))
      orc__violate(o, ORC_CK_TRIGGER_ANSWER, "trigger %s answered cycle_in_progress, but no cycle "
                   "of it was open", t->session);
    return;
  }
  char r[32], e[32], want[160];
  cents(r, sizeof r, ack->remaining, false);
  cents(e, sizeof e, ack->need, true);
  (void)snprintf(want, sizeof want, "Daily budget exhausted: %s remaining, need %s", r, e); /* ignore: fits */
  const char *bad = NULL;
  if (!bt->rejected)
    bad = "without its budget_rejected event";
  else if (bt->rej_affordable)
    bad = "though the day could afford it";
  else if (ack->need != est || bt->rej_need != est || ack->remaining != bt->rej_remaining ||
           bt->rej_remaining != bt->rej_model_remaining)
    bad = "with other amounts than its event or the model";
  else if (ack->answer != ORC_TA_BUDGET || !ack->reason || strcmp(ack->reason, "budget_exhausted") != 0 ||
           !ack->message || strcmp(ack->message, want) != 0)
    bad = "with another reason or message";
  if (bad)
    orc__violate(o, ORC_CK_TRIGGER_ANSWER, "trigger %s was refused (%s: '%s', remaining %lld, need "
                 "%lld) %s (event: remaining %lld, need %lld; the model: remaining %lld, need %lld)",
                 t->session, orc__str(ack->reason), orc__str(ack->message),
                 (long long)ack->remaining, (long long)ack->need, bad, (long long)bt->rej_remaining,
                 (long long)bt->rej_need, (long long)bt->rej_model_remaining, (long long)est);
}

static void scrape_ack(orc *o, btask *bt, const orc_op *ack) {
  struct orc_budget *b = o->bud;
  if (bt->gen0 != b->gen) return; /* the ledger moved while it read: no telling which state */
  char today[B_DAY];
  utc_day(ORC_WALL(o->now_ns), today);
  int64_t n = 0, spent = spent_of(b, today, false, &n), held = held_of(b, today, false);
  int64_t rem = b->limit - spent - held;
  rem = rem > 0 ? rem : 0;
  for (size_t i = 0; i < b->nrecs; i++)
    if (b->recs[i].doubt) return; /* either way */
  int64_t total = 0; /* the spend metric counts every day's records */
  for (size_t i = 0; i < b->nrecs; i++) total += b->recs[i].cost;
  bool ok = ack->date && strcmp(ack->date, today) == 0 && ack->limit == b->limit &&
            ack->spent == spent && ack->reserved == held && ack->remaining == rem &&
            ack->cycles == rem / b->estimate && ack->spend_events == n &&
            (!ack->has_metric || (ack->metric_spend == total && ack->metric_remaining == rem));
  if (!ok)
    orc__violate(o, ORC_CK_LEDGER_MATCH, "a scrape read %s: limit %lld, spent %lld, reserved %lld, "
                 "remaining %lld, %lld cycles, %lld records%s%lld (remaining %lld); the ledger says "
                 "%s: %lld, %lld, %lld, %lld, %lld, %lld, all days' spend %lld",
                 orc__str(ack->date), (long long)ack->limit,
                 (long long)ack->spent, (long long)ack->reserved, (long long)ack->remaining,
                 (long long)ack->cycles, (long long)ack->spend_events,
                 ack->has_metric ? ", the spend metric " : ", no metric ",
                 (long long)ack->metric_spend, (long long)ack->metric_remaining, today,
                 (long long)b->limit, (long long)spent, (long long)held, (long long)rem,
                 (long long)(rem / b->estimate), (long long)n, (long long)total);
}

/* The flushed spans' priced usage against the ledger's LLM cost. */
static void spans_match(orc *o) {
  struct orc_budget *b = o->bud;
  /* After power loss a call's span may stand for a record the crash cut:
  ** the spans and the ledger part ways by design. */
  if (!b->nspans || o->epoch) return;
  int64_t led = 0;
  for (size_t i = 0; i < b->nrecs; i++) {
    if (b->recs[i].doubt) return;
    if (strcmp(b->recs[i].leaf, "llm_call") == 0) led += b->recs[i].cost;
  }
  if (led != b->span_cost)
    orc__violate(o, ORC_CK_LEDGER_MATCH, "the spans' usage, priced, comes to %lld micro-dollars "
                 "over %llu chat spans; the ledger's LLM records to %lld", (long long)b->span_cost,
                 (unsigned long long)b->nspans, (long long)led);
}

void orc__budget_ack(orc *o, orc_task *t, const orc_op *ack) {
  btask *bt = btask_of(o, t); /* (called for an active task, when nothing is violated yet) */
  unsigned k = t->op.kind;
  if (k == SCN_OP_TRIGGER && ack->rc == AS_OK) trigger_ack(o, t, bt, ack);
  bool runs = runs_agents(k) && k != SCN_OP_WATCHDOG &&
              (k != SCN_OP_TRIGGER || ack->answer == ORC_TA_ACCEPTED) &&
              (k != SCN_OP_RETRY || ack->answer == ORC_RA_ACCEPTED);
  if (!o->violated && runs && ack->rc == AS_OK) close_ack(o, t, bt, ack);
  if (!o->violated && runs_agents(k)) leaves_ack(o, t, bt, ack);
  if (o->violated || ack->rc != AS_OK) return;
  if (k == SCN_OP_SETTLE && (ack->changed != 0) != (bt->nclosed != 0))
    orc__violate(o, ORC_CK_SETTLE_ONCE, "settle %s answered %s, but it %s", t->session,
                 ack->changed ? "changed" : "unchanged", bt->nclosed ? "closed its cycle" : "wrote nothing");
  if (k == SCN_OP_RECOVER && ack->removed != (int64_t)bt->released)
    orc__violate(o, ORC_CK_BUDGET_CLOSE, "recovery answered %lld released; it released %u",
                 (long long)ack->removed, bt->released);
  if (k == SCN_OP_SCRAPE) scrape_ack(o, bt, ack);
  if (k == SCN_OP_FLUSH) spans_match(o);
}

/* --- the model steps of the budget's operations ------------------------------------ */

static int64_t payload_int(const char *payload, const char *key, bool *ok) {
  json_error_t e;
  json_t *p = payload ? json_loads(payload, JSON_REJECT_DUPLICATES, &e) : NULL;
  json_t *v = json_object_get(p, key);
  *ok = *ok && json_is_integer(v);
  int64_t n = json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
  json_decref(p);
  return n;
}

static void trigger_commit(orc *o, orc_task *t, const orc_tx *tx) {
  const orc_change *ch = tx->nch == 1 ? &tx->ch[0] : NULL;
  const orc_evrec *e = ch && ch->after.nevents == ch->s->cur.nevents + 1
                           ? &ch->after.events[ch->after.nevents - 1] : NULL;
  if (!e || strcmp(e->kind, "budget_rejected") != 0) {
    orc__agents_commit(o, t, tx); /* the cycle's run */
    return;
  }
  btask *bt = btask_of(o, t);
  if (ch->updated || ch->created || tx->nput || tx->ndel || bt->rejected || bt->opened[0] ||
      !t->session || strcmp(ch->s->id, t->session) != 0) {
    orc__violate(o, ORC_CK_OP_SCOPE, "trigger %s committed its refusal with other changes, or "
                 "twice", orc__str(t->session));
    return;
  }
  struct orc_budget *b = o->bud;
  char today[B_DAY];
  utc_day(ORC_WALL(o->now_ns), today);
  bool ok = true;
  bt->rejected = true;
  bt->rej_remaining = payload_int(e->payload, "remaining_micros", &ok);
  bt->rej_need = payload_int(e->payload, "need_micros", &ok);
  int64_t spent = spent_of(b, today, false, NULL), held = held_of(b, today, false);
  int64_t rem = b->limit - spent - held;
  bt->rej_model_remaining = rem > 0 ? rem : 0;
  int64_t est = t->op.estimate ? t->op.estimate : b->estimate;
  bt->rej_affordable = spent + held + est <= b->limit;
  for (size_t i = 0; i < b->nrecs; i++) /* a record in doubt: either may hold */
    if (b->recs[i].doubt) bt->rej_affordable = false;
  if (!ok || !strstr(e->payload, "\"budget_exhausted\"")) /* (ok: payload_int parsed it) */
    orc__violate(o, ORC_CK_TRIGGER_ANSWER, "trigger %s's budget_rejected event %s lacks its reason, "
                 "remaining_micros or need_micros", t->session, orc__str(e->payload));
}

void orc__run_ack(orc *o, orc_task *t, const orc_op *ack); /* retry.c */

static void trigger_ack_step(orc *o, orc_task *t, const orc_op *ack) {
  if (ack->rc == AS_OK && ack->answer == ORC_TA_ACCEPTED) orc__run_ack(o, t, ack);
}

const orc_model orc_model_trigger = {trigger_commit, trigger_ack_step};

/* settle, recover, scrape, flush write nothing but reservations (judged above). */
static void budget_only_commit(orc *o, orc_task *t, const orc_tx *tx) {
  if (!tx->nch && !tx->nput && !tx->ndel) return; /* a write transaction that found nothing to do */
  orc__violate(o, ORC_CK_OP_SCOPE, "%s committed a change to %zu sessions and %zu checkpoints "
               "(it only closes reservations)", orc__op_name(t->op.kind), tx->nch,
               tx->nput + tx->ndel);
}

static void no_budget_ack(orc *o, orc_task *t, const orc_op *ack) {
  (void)o;
  (void)t;
  (void)ack; /* orc__budget_ack judges it */
}

const orc_model orc_model_settle = {budget_only_commit, no_budget_ack};
const orc_model orc_model_recover = {budget_only_commit, no_budget_ack};
const orc_model orc_model_scrape = {budget_only_commit, no_budget_ack};
const orc_model orc_model_flush = {budget_only_commit, no_budget_ack};

/* --- at quiescence ------------------------------------------------------------------ */

/* A check's violation at quiescence. (orc_quiescence reads only an oracle
** that has not lost track, and nothing here can lose it: a harness error
** here is q_harness's.) */
static int q_fail(orc *o, char *msg, size_t cap) {
  snprintf(msg, cap, "%s", o->msg);
  return SIM_INVARIANT;
}

static int q_harness(sqlite3 *db, const char *what, char *msg, size_t cap) {
  snprintf(msg, cap, "the oracle cannot read %s: %s", what, sqlite3_errmsg(db));
  return SIM_HARNESS;
}

static const char *qtext(sqlite3_stmt *q, int i) {
  const char *t = (const char *)sqlite3_column_text(q, i);
  return t ? t : "";
}

static int read_records(orc *o, sqlite3 *db, char *msg, size_t cap) {
  struct orc_budget *b = o->bud;
  sqlite3_stmt *q = NULL;
  bool *seen = calloc(b->nrecs + 1, sizeof *seen);
  if (!seen) return q_harness(db, "cost_records (out of memory)", msg, cap);
  int src = sqlite3_prepare_v2(db, "SELECT day, seq, op_id, leaf, session_id, name, cost_micros "
                               "FROM cost_records ORDER BY day, seq", -1, &q, NULL);
  while (src == SQLITE_OK && (src = sqlite3_step(q)) == SQLITE_ROW && !o->violated) {
    src = SQLITE_OK;
    const char *day = qtext(q, 0);
    int64_t seq = sqlite3_column_int64(q, 1);
    size_t i = 0;
    while (i < b->nrecs && (strcmp(b->recs[i].day, day) != 0 || b->recs[i].seq != seq)) i++;
    const brec *r = i < b->nrecs ? &b->recs[i] : NULL;
    if (!r || strcmp(r->op, qtext(q, 2)) != 0 || strcmp(r->leaf, qtext(q, 3)) != 0 ||
        strcmp(r->session, qtext(q, 4)) != 0 || strcmp(r->name, qtext(q, 5)) != 0 ||
        r->cost != sqlite3_column_int64(q, 6))
      orc__violate(o, ORC_CK_SPEND_DURABLE, "at quiescence the ledger holds record %s #%lld (%s, "
                   "%lld micro-dollars), which %s", day, (long long)seq, qtext(q, 5),
                   (long long)sqlite3_column_int64(q, 6),
                   r ? "was committed otherwise" : "was never committed");
    else
      seen[i] = true;
  }
  if (!o->violated && src != SQLITE_DONE) {
    int v = q_harness(db, "cost_records", msg, cap);
    (void)sqlite3_finalize(q); /* ignore: already failing */
    free(seen);
    return v;
  }
  (void)sqlite3_finalize(q); /* ignore: a read statement */
  for (size_t i = 0; !o->violated && i < b->nrecs; i++)
    if (!seen[i] && !b->recs[i].doubt)
      orc__violate(o, ORC_CK_SPEND_DURABLE, "ledger record %s #%lld (%s %s, %lld micro-dollars) was "
                   "committed, and is gone at quiescence", b->recs[i].day, (long long)b->recs[i].seq,
                   b->recs[i].session, b->recs[i].name, (long long)b->recs[i].cost);
  free(seen);
  return o->violated ? q_fail(o, msg, cap) : 0;
}

static int read_reservations(orc *o, sqlite3 *db, char *msg, size_t cap) {
  struct orc_budget *b = o->bud;
  sqlite3_stmt *q = NULL;
  size_t found = 0, sure = 0;
  int src = sqlite3_prepare_v2(db, "SELECT op_id, state, outcome, settled_micros FROM "
                               "budget_reservations ORDER BY op_id", -1, &q, NULL);
  while (src == SQLITE_OK && (src = sqlite3_step(q)) == SQLITE_ROW && !o->violated) {
    src = SQLITE_OK;
    const bresv *r = resv_find(b, qtext(q, 0));
    int st = state_of(qtext(q, 1));
    bool now = r && st == r->state && strcmp(qtext(q, 2), r->outcome) == 0 &&
               sqlite3_column_int64(q, 3) == r->settled;
    bool before = r && r->has_prev && st == r->prev_state && strcmp(qtext(q, 2), r->prev_outcome) == 0;
    if (!now && !before)
      orc__violate(o, ORC_CK_SPEND_DURABLE, "at quiescence reservation %s is %s (%s, %lld), which "
                   "%s", qtext(q, 0), qtext(q, 1), qtext(q, 2), (long long)sqlite3_column_int64(q, 3),
                   r ? "is not what was committed" : "was never committed");
    found++;
  }
  if (!o->violated && src != SQLITE_DONE) {
    int v = q_harness(db, "budget_reservations", msg, cap);
    (void)sqlite3_finalize(q); /* ignore: already failing */
    return v;
  }
  (void)sqlite3_finalize(q); /* ignore: a read statement */
  for (size_t i = 0; i < b->nresv; i++) sure += !b->resv[i].doubt_new;
  if (!o->violated && (found < sure || found > b->nresv))
    orc__violate(o, ORC_CK_SPEND_DURABLE, "at quiescence the database holds %zu reservations; %zu "
                 "were committed (%zu of them for sure)", found, b->nresv, sure);
  return o->violated ? q_fail(o, msg, cap) : 0;
}

int orc__budget_quiescence(orc *o, sqlite3 *db, char *msg, size_t cap) {
  struct orc_budget *b = o->bud;
  /* No budget, nothing reserved (and without one nothing is recorded: no leaf waits). */
  if (!b || (!b->on && !b->nresv)) return 0;
  o->task = UINT32_MAX;
  int v = read_records(o, db, msg, cap);
  if (!v) v = read_reservations(o, db, msg, cap);
  for (size_t i = 0; !v && !o->violated && i < b->nresv; i++) {
    const bresv *r = &b->resv[i];
    const orc_sess *s = orc__session(o, r->session, false);
    if (r->state != RS_OPEN || r->doubt_new || !s || s->survivor || s->has_alt || s->row_doubt ||
        s->cur.status == ORC_ST_AWAITING_INPUT)
      continue;
    orc__violate(o, ORC_CK_BUDGET_QUIESCE, "at quiescence reservation %s is open, and %s is %s (only "
                 "a cycle paused for an approval stays open)", r->op, r->session,
                 orc_status_name(s->cur.status));
  }
  if (!v && !o->violated) spans_match(o);
  return v ? v : o->violated ? q_fail(o, msg, cap) : 0;
}

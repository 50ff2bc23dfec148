/*
** cmd_budget.c -- `agentsim budget --db PATH [--json] [--budget DOLLARS]
** [--app DIR]`: today's budget status (budget.h) from a runtime database,
** read only; and the budget and database helpers `metrics` shares.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <curl/curl.h>
#include <sqlite3.h>

#include "agentsim/app.h"
#include "agentsim/budget.h"
#include "agentsim/seam.h"
#include "agentsim/store.h"
#include "cli.h"

#define DEFAULT_LIMIT_MICROS 5000000ll /* the seed's $5 */

int cli_load_app(const char *cmd, const char *dir, as_app **app) {
  as_app_diag *diag = calloc(1, sizeof *diag);
  if (!diag) return AS_NOMEM;
  int rc = as_app_load(dir, app, diag);
  if (rc != AS_OK) {
    for (size_t i = 0; i < diag->n; i++) {
      const as_app_diag_item *it = &diag->items[i];
      if (it->line)
        cli_error("%s: --app: %s:%u:%u: %s", cmd, it->file, it->line, it->column, it->message);
      else /* the file itself: no position */
        cli_error("%s: --app: %s: %s", cmd, it->file, it->message);
    }
    if (diag->n == 0) cli_error("%s: --app %s: %s", cmd, dir, as_status_msg(rc));
    if (rc != AS_NOMEM) rc = AS_PARSE;
  }
  free(diag);
  return rc;
}

int cli_budget_from(const cli_opts *o, const char *cmd, const as_app *app, as_budget_cfg *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->daily_limit_micros = app ? app->daily_limit_micros : DEFAULT_LIMIT_MICROS;
  cfg->cycle_estimate_micros = app ? app->cycle_estimate_micros : AS_CYCLE_ESTIMATE_DEFAULT;
  const char *from = "--budget", *text = o->budget;
  if (!text) {
    from = "AGENT_DAILY_BUDGET";
    text = getenv("AGENT_DAILY_BUDGET");
  }
  if (text && as_money_parse(text, &cfg->daily_limit_micros) != AS_OK) {
    cli_error("%s: %s '%.64s': expected dollars such as 5 or 0.25 (at most six decimals, at "
              "most 1000000000)",
              cmd, from, text);
    return AS_PARSE;
  }
  return AS_OK;
}

int cli_budget_cfg(const cli_opts *o, const char *cmd, as_budget_cfg *cfg) {
  as_app *app = NULL;
  if (o->app) {
    int rc = cli_load_app(cmd, o->app, &app);
    if (rc != AS_OK) return rc;
  }
  int rc = cli_budget_from(o, cmd, app, cfg);
  if (app) as_app_free(app);
  return rc;
}

/* The tables a database the runtime made has at the current schema
** (runtime/core/store.c's migrations). */
static const char *const db_tables[] = {"sessions",     "tool_calls",          "events",
                                        "checkpoints", "cost_records", "budget_reservations"};

/* After as_store_open, a second, read-only connection looks for every
** table: a file that says it is at the current schema but lacks one is not
** the runtime's database (bad input, named), not an internal error at the
** first query. AS_OK, AS_PARSE (told) or AS_NOMEM/AS_IO (told). */
static AS_WUR int db_tables_check(const char *path, const char *cmd) {
  sqlite3 *h = NULL;
  sqlite3_stmt *q = NULL;
  int src = sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL);
  if (src == SQLITE_OK)
    src = sqlite3_prepare_v2(h, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                             -1, &q, NULL);
  const char *missing = NULL;
  for (size_t i = 0; src == SQLITE_OK && !missing && i < sizeof db_tables / sizeof *db_tables;
       i++) {
    src = sqlite3_bind_text(q, 1, db_tables[i], -1, SQLITE_STATIC);
    int step = src == SQLITE_OK ? sqlite3_step(q) : src;
    if (step == SQLITE_DONE) missing = db_tables[i];
    else if (step != SQLITE_ROW) src = step;
    if (src == SQLITE_OK) src = sqlite3_reset(q);
  }
  int rc = AS_OK;
  if (src != SQLITE_OK) {
    cli_error("%s: --db %s: cannot read its tables: %s", cmd, path,
              h ? sqlite3_errmsg(h) : sqlite3_errstr(src));
    rc = src == SQLITE_NOMEM ? AS_NOMEM : AS_IO;
  } else if (missing) {
    cli_error("%s: --db %s: not the runtime's database: it has no table %s", cmd, path, missing);
    rc = AS_PARSE;
  }
  (void)sqlite3_finalize(q); /* ignore: its error, if any, was the step's */
  (void)sqlite3_close_v2(h); /* ignore: read-only, nothing to lose */
  return rc;
}

as_store *cli_open_db(const cli_opts *o, const char *cmd, int *ex) {
  struct stat sb;
  *ex = EXIT_USAGE;
  if (stat(o->db, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    cli_error("%s: --db %s: no such database file", cmd, o->db);
    return NULL;
  }
  as_store_opts so = {.busy_timeout_ms = 5000};
  as_store *st = NULL;
  int rc = as_store_open(&st, o->db, &so);
  if (rc != AS_OK) {
    cli_error("%s: --db %s: cannot open the database: %s", cmd, o->db, as_status_msg(rc));
    if (rc == AS_NOMEM) *ex = EXIT_INTERNAL;
    return NULL;
  }
  rc = db_tables_check(o->db, cmd);
  if (rc != AS_OK) {
    as_store_close(st);
    if (rc == AS_NOMEM) *ex = EXIT_INTERNAL;
    return NULL;
  }
  *ex = EXIT_PASS;
  return st;
}

#define URL_BODY_MAX (64u * 1024u)

typedef struct url_body {
  char buf[URL_BODY_MAX + 1];
  size_t n;
  int over;
} url_body;

static size_t url_write(char *p, size_t size, size_t nmemb, void *ctx) {
  url_body *b = ctx;
  size_t k = size * nmemb;
  if (b->n + k > URL_BODY_MAX) {
    b->over = 1;
    return 0; /* cap: the transfer fails */
  }
  memcpy(b->buf + b->n, p, k);
  b->n += k;
  return k;
}

/* GET URL/agent/budget (10 s at most) into *b: AS_OK with the HTTP status,
** else AS_IO with the reason told. */
static AS_WUR int url_get(const char *base, url_body *b, long *status) {
  char url[CLI_MAX_ARG_LEN + 32];
  size_t n = strlen(base);
  while (n > 0 && base[n - 1] == '/') n--;
  (void)snprintf(url, sizeof url, "%.*s/agent/budget", (int)n, base); /* ignore: sized */
  CURL *c = curl_easy_init();
  if (!c) {
    cli_error("budget: --url %s: cannot start libcurl", base);
    return AS_IO;
  }
  CURLcode cc = curl_easy_setopt(c, CURLOPT_URL, url);
  if (cc == CURLE_OK) cc = curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
  if (cc == CURLE_OK) cc = curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  if (cc == CURLE_OK) cc = curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (cc == CURLE_OK) cc = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, url_write);
  if (cc == CURLE_OK) cc = curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
  if (cc == CURLE_OK) cc = curl_easy_perform(c);
  if (cc == CURLE_OK) cc = curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
  curl_easy_cleanup(c);
  if (cc != CURLE_OK) {
    cli_error("budget: --url %s: %s", url, b->over ? "the answer is larger than 64 KiB"
                                                   : curl_easy_strerror(cc));
    return AS_IO;
  }
  b->buf[b->n] = '\0';
  return AS_OK;
}

static int64_t jint(json_t *o, const char *k, int *bad) {
  json_t *v = json_object_get(o, k);
  if (!json_is_integer(v)) *bad = 1;
  return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* The server's answer (as_budget_status_text's JSON) back into *s. */
static AS_WUR int status_from_json(const char *text, size_t len, as_budget_status *s) {
  json_error_t je;
  json_t *o = json_loadb(text, len, 0, &je);
  int bad = !json_is_object(o);
  memset(s, 0, sizeof *s);
  if (!bad) {
    const char *d = json_string_value(json_object_get(o, "date"));
    if (!d || strlen(d) != AS_DAY_LEN) bad = 1;
    else memcpy(s->date, d, AS_DAY_LEN + 1);
    s->daily_limit_micros = jint(o, "daily_limit_micros", &bad);
    s->spent_micros = jint(o, "today_spend_micros", &bad);
    s->reserved_micros = jint(o, "reserved_micros", &bad);
    s->remaining_micros = jint(o, "remaining_micros", &bad);
    s->cycles_affordable = jint(o, "cycles_affordable", &bad);
    s->spend_events = jint(o, "spend_events", &bad);
    s->open_reservations = jint(o, "open_reservations", &bad);
  }
  json_decref(o);
  return bad ? AS_PARSE : AS_OK;
}

static int budget_url(const cli_opts *o) {
  url_body *b = calloc(1, sizeof *b);
  if (!b) return EXIT_INTERNAL;
  long status = 0;
  as_budget_status s;
  int rc = url_get(o->url, b, &status);
  if (rc == AS_OK && status != 200) {
    cli_error("budget: --url %s: HTTP %ld: %.200s", o->url, status, b->buf);
    rc = AS_IO;
  }
  if (rc == AS_OK && status_from_json(b->buf, b->n, &s) != AS_OK) {
    cli_error("budget: --url %s: the answer is not the budget's JSON: %.80s", o->url, b->buf);
    rc = AS_PARSE;
  }
  free(b);
  if (rc != AS_OK) return EXIT_INTERNAL;
  char *text = NULL;
  if (as_budget_status_text(&s, o->json, &text) != AS_OK) {
    cli_error("budget: out of memory");
    return EXIT_INTERNAL;
  }
  int w = o->json ? printf("%s\n", text) : fputs(text, stdout);
  as_free(text);
  if (o->json) cli_json_done();
  if (w < 0 || fflush(stdout) != 0) {
    cli_error("budget: writing to stdout failed");
    return EXIT_INTERNAL;
  }
  return EXIT_PASS;
}

int cmd_budget(const cli_opts *o) {
  if (o->url) return budget_url(o);
  as_budget_cfg cfg;
  int rc = cli_budget_cfg(o, "budget", &cfg);
  if (rc != AS_OK) return rc == AS_NOMEM ? EXIT_INTERNAL : EXIT_USAGE;
  int ex = EXIT_PASS;
  as_store *st = cli_open_db(o, "budget", &ex);
  if (!st) return ex;
  as_budget_status s;
  rc = as_budget_status_get(st, &cfg, &s);
  if (rc != AS_OK)
    cli_error("budget: --db %s: %s (%s)", o->db, as_status_msg(rc), as_store_errmsg(st));
  as_store_close(st);
  if (rc != AS_OK) return rc == AS_NOMEM ? EXIT_INTERNAL : EXIT_USAGE;
  char *text = NULL;
  rc = as_budget_status_text(&s, o->json, &text);
  if (rc != AS_OK) {
    cli_error("budget: %s", as_status_msg(rc));
    return EXIT_INTERNAL;
  }
  int w = o->json ? printf("%s\n", text) : fputs(text, stdout);
  as_free(text);
  if (o->json) cli_json_done();
  if (w < 0 || fflush(stdout) != 0) {
    cli_error("budget: writing to stdout failed");
    return EXIT_INTERNAL;
  }
  return EXIT_PASS;
}

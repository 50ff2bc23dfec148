/*
** cmd_budget.c -- `agentsim budget --db PATH [--json] [--budget DOLLARS]
** [--app DIR]`: today's budget status (budget.h) from a runtime database,
** read only; and the budget and database helpers `metrics` shares.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sqlite3.h>

#include "agentsim/app.h"
#include "agentsim/budget.h"
#include "agentsim/seam.h"
#include "agentsim/store.h"
#include "cli.h"

#define DEFAULT_LIMIT_MICROS 5000000ll /* the seed's $5 */

int cli_budget_cfg(const cli_opts *o, const char *cmd, as_budget_cfg *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->daily_limit_micros = DEFAULT_LIMIT_MICROS;
  cfg->cycle_estimate_micros = AS_CYCLE_ESTIMATE_DEFAULT;
  if (o->app) {
    as_app_diag *diag = calloc(1, sizeof *diag);
    if (!diag) return AS_NOMEM;
    as_app *app = NULL;
    int rc = as_app_load(o->app, &app, diag);
    if (rc != AS_OK) {
      for (size_t i = 0; i < diag->n; i++)
        cli_error("%s: --app: %s:%u:%u: %s", cmd, diag->items[i].file, diag->items[i].line,
                  diag->items[i].column, diag->items[i].message);
      if (diag->n == 0) cli_error("%s: --app %s: %s", cmd, o->app, as_status_msg(rc));
      free(diag);
      return rc == AS_NOMEM ? rc : AS_PARSE;
    }
    free(diag);
    cfg->daily_limit_micros = app->daily_limit_micros;
    cfg->cycle_estimate_micros = app->cycle_estimate_micros;
    as_app_free(app);
  }
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

int cmd_budget(const cli_opts *o) {
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

/*
** cmd_metrics.c -- `agentsim metrics --db PATH [--out FILE | --push URL
** [--job NAME]] [--budget DOLLARS]`: a runtime database's Prometheus
** metrics (metrics.h), printed, written as a textfile collector's file or
** pushed to a Pushgateway (metrics_out.h).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agentsim/metrics.h"
#include "agentsim/metrics_out.h"
#include "agentsim/seam.h"
#include "cli.h"

#define PUSH_TIMEOUT_MS 10000L
#define DEFAULT_BUDGET_MICROS 5000000ll /* the seed's $5 */
#define BUDGET_MAX_DOLLARS 1000000000ll

/* "12", "0.25", "5.000001" into micro-dollars, exactly (at most six
** decimals, at most $1e9); AS_PARSE for anything else. budget.h's
** as_money_parse is the same rule. */
static AS_WUR int parse_dollars(const char *s, int64_t *micros) {
  int64_t whole = 0, frac = 0;
  size_t i = 0, nd = 0, nf = 0;
  for (; s[i] >= '0' && s[i] <= '9'; i++, nd++) {
    whole = whole * 10 + (s[i] - '0');
    if (whole > BUDGET_MAX_DOLLARS) return AS_PARSE;
  }
  if (s[i] == '.') {
    for (i++; s[i] >= '0' && s[i] <= '9'; i++, nf++) {
      if (nf == 6) return AS_PARSE;
      frac = frac * 10 + (s[i] - '0');
    }
    if (nf == 0) return AS_PARSE;
  }
  if (nd == 0 || s[i] != '\0') return AS_PARSE;
  for (; nf < 6; nf++) frac *= 10;
  *micros = whole * 1000000 + frac;
  if (*micros > BUDGET_MAX_DOLLARS * 1000000) return AS_PARSE;
  return AS_OK;
}

/* The daily limit: --budget, else AGENT_DAILY_BUDGET, else $5. */
static AS_WUR int daily_limit(const cli_opts *o, int64_t *micros) {
  const char *from = "--budget", *text = o->budget;
  if (!text) {
    from = "AGENT_DAILY_BUDGET";
    text = getenv("AGENT_DAILY_BUDGET");
  }
  if (!text) {
    *micros = DEFAULT_BUDGET_MICROS;
    return AS_OK;
  }
  if (parse_dollars(text, micros) != AS_OK) {
    cli_error("metrics: %s '%.64s': expected dollars such as 5 or 0.25 (at most six decimals, "
              "at most %lld)", from, text, BUDGET_MAX_DOLLARS);
    return AS_PARSE;
  }
  return AS_OK;
}

int cmd_metrics(const cli_opts *o) {
  int64_t limit = 0;
  if (daily_limit(o, &limit) != AS_OK) return EXIT_USAGE;
  struct stat sb;
  if (stat(o->db, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    cli_error("metrics: --db %s: no such database file", o->db);
    return EXIT_USAGE;
  }
  as_store_opts so = {.busy_timeout_ms = 5000};
  as_store *st = NULL;
  int rc = as_store_open(&st, o->db, &so);
  if (rc != AS_OK) {
    cli_error("metrics: --db %s: cannot open the database: %s", o->db, as_status_msg(rc));
    return rc == AS_NOMEM ? EXIT_INTERNAL : EXIT_USAGE;
  }
  as_budget_cfg cfg = {limit, AS_CYCLE_ESTIMATE_DEFAULT, NULL};
  char *text = NULL;
  rc = as_metrics_render(st, &cfg, &text);
  if (rc != AS_OK)
    cli_error("metrics: --db %s: %s (%s)", o->db, as_status_msg(rc), as_store_errmsg(st));
  as_store_close(st);
  if (rc != AS_OK) return rc == AS_IO || rc == AS_PARSE ? EXIT_USAGE : EXIT_INTERNAL;

  int ex = EXIT_PASS;
  char err[1024];
  if (o->out) {
    if (as_metrics_write_textfile(o->out, text, err, sizeof err) != AS_OK) {
      cli_error("metrics: %s", err);
      ex = EXIT_INTERNAL;
    }
  } else if (o->push) {
    rc = as_metrics_push(o->push, o->job ? o->job : "agentsim", text, PUSH_TIMEOUT_MS, err,
                         sizeof err);
    if (rc != AS_OK) {
      cli_error("%s", err);
      ex = rc == AS_INVAL ? EXIT_USAGE : EXIT_INTERNAL;
    }
  } else if (fputs(text, stdout) < 0) {
    cli_error("metrics: writing to stdout failed");
    ex = EXIT_INTERNAL;
  }
  as_free(text);
  return ex;
}

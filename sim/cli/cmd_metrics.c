/*
** cmd_metrics.c -- `agentsim metrics --db PATH [--out FILE | --push URL
** [--job NAME]] [--budget DOLLARS] [--app DIR]`: a runtime database's Prometheus
** metrics (metrics.h), printed, written as a textfile collector's file or
** pushed to a Pushgateway (metrics_out.h).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/metrics.h"
#include "agentsim/metrics_out.h"
#include "agentsim/seam.h"
#include "cli.h"

#define PUSH_TIMEOUT_MS 10000L
int cmd_metrics(const cli_opts *o) {
  as_budget_cfg cfg;
  int rc = cli_budget_cfg(o, "metrics", &cfg);
  if (rc != AS_OK) return rc == AS_NOMEM ? EXIT_INTERNAL : EXIT_USAGE;
  int ex0 = EXIT_PASS;
  as_store *st = cli_open_db(o, "metrics", &ex0);
  if (!st) return ex0;
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

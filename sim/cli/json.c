/*
** json.c -- the little JSON the tool prints: escaped strings and the run
** object of DESIGN.md section 9.
*/
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <stdio.h>

#include "cli.h"

void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
    case '"': fputs("\\\"", f); break;
    case '\\': fputs("\\\\", f); break;
    case '\n': fputs("\\n", f); break;
    case '\r': fputs("\\r", f); break;
    case '\t': fputs("\\t", f); break;
    default:
      if (*p < 0x20)
        fprintf(f, "\\u%04x", *p);
      else
        fputc(*p, f);
    }
  }
  fputc('"', f);
}

void json_result(FILE *f, const char *scenario, const cli_opts *o, const sim_config *cfg,
                 const sim_result *res, const char *replay) {
  char strat[64];
  cli_strategy_text(o, strat, sizeof strat);
  fputs("{\"scenario\":", f);
  json_str(f, scenario);
  if (cfg->strategy == SIM_STRATEGY_REPLAY)
    fputs(",\"seed\":null", f);
  else
    fprintf(f, ",\"seed\":%" PRIu64, cfg->seed);
  fputs(",\"strategy\":", f);
  json_str(f, cfg->strategy == SIM_STRATEGY_REPLAY ? "replay" : strat);
  fprintf(f, ",\"result\":\"%s\",\"outcome\":\"%s\"", res->outcome == SIM_PASS ? "pass" : "fail",
          sim_outcome_name(res->outcome));
  fprintf(f, ",\"steps\":%" PRIu64 ",\"decisions\":%" PRIu64 ",\"tasks\":%u", res->steps,
          res->decisions, res->tasks);
  fprintf(f, ",\"virtual_ms\":%" PRIu64 ",\"virtual_ns\":%" PRIu64, res->virtual_ns / 1000000,
          res->virtual_ns);
  fprintf(f, ",\"trace_hash\":\"%016" PRIx64 "\"", res->trace_hash);
  fputs(",\"schedule\":", f);
  json_str(f, res->schedule ? res->schedule : "");
  fputs(",\"options\":", f);
  json_str(f, res->options);
  fputs(",\"violations\":[", f);
  if (res->outcome != SIM_PASS) {
    fprintf(f, "{\"kind\":\"%s\",\"message\":", sim_outcome_name(res->outcome));
    json_str(f, res->message);
    fputc('}', f);
  }
  fputc(']', f);
  if (replay) {
    fputs(",\"replay\":", f);
    json_str(f, replay);
  }
  fputc('}', f);
}


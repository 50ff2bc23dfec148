/*
** json.c -- the little JSON the tool prints: escaped strings and the run
** object of DESIGN.md section 9.
*/
#include <inttypes.h>
#include <stdarg.h>
#include <stdarg.h>
#include <string.h>
#include <stdio.h>

#include "cli.h"

static char last_error[1024];
static int json_printed;

void cli_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  (void)vsnprintf(last_error, sizeof last_error, fmt, ap); /* ignore: a cut message still reads */
  va_end(ap);
  fprintf(stderr, "agentsim: %s\n", last_error);
}

const char *cli_last_error(void) { return last_error; }
void cli_json_done(void) { json_printed = 1; }
int cli_json_printed(void) { return json_printed; }

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if it is not one. */
static int utf8_len(const unsigned char *p) {
  int n = p[0] < 0x80 ? 1 : (p[0] & 0xE0) == 0xC0 ? 2 : (p[0] & 0xF0) == 0xE0 ? 3
        : (p[0] & 0xF8) == 0xF0 ? 4 : 0;
  if (n == 0 || (n == 2 && p[0] < 0xC2) || (n == 4 && p[0] > 0xF4)) return 0;
  for (int i = 1; i < n; i++)
    if ((p[i] & 0xC0) != 0x80) return 0;
  if (n == 3 && ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0))) return 0;
  if (n == 4 && ((p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] >= 0x90))) return 0;
  return n;
}

void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p >= 0x80) {
      int n = utf8_len(p);
      if (n == 0) {
        fputs("\\ufffd", f);
      } else {
        (void)fwrite(p, 1, (size_t)n, f); /* ignore: stdout errors are checked once, at exit */
        p += n - 1;
      }
      continue;
    }
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
                 const sim_result *res, const char *replay, const char *determinism) {
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
  if (determinism) fprintf(f, ",\"determinism\":\"%s\"", determinism);
  fputc('}', f);
}


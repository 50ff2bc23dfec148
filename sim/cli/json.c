/*
** json.c -- the tool's errors, and every JSON it prints, built with jansson:
** a helper that keeps strings valid UTF-8, a sticky builder, the one-line
** emitter, and the run object of DESIGN.md section 9.
*/
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

json_t *cli_jstr(const char *s) {
  if (!s) return json_null();
  size_t len = strlen(s);
  /* Invalid bytes become U+FFFD (3 bytes): the copy is at most 3x. */
  char *clean = malloc(3 * len + 1);
  if (!clean) return NULL;
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    int k = utf8_len(p);
    if (k == 0) {
      memcpy(clean + n, "\xEF\xBF\xBD", 3);
      n += 3;
      p++;
    } else {
      memcpy(clean + n, p, (size_t)k);
      n += (size_t)k;
      p += k;
    }
  }
  json_t *v = json_stringn(clean, n);
  free(clean);
  return v;
}

int cli_jset(json_t *obj, const char *key, json_t *v) {
  if (!obj || !v) {
    json_decref(v);
    return 1;
  }
  return json_object_set_new(obj, key, v) != 0;
}

int cli_jpush(json_t *arr, json_t *v) {
  if (!arr || !v) {
    json_decref(v);
    return 1;
  }
  return json_array_append_new(arr, v) != 0;
}

int cli_jemit(json_t *obj, int bad) {
  int rc = AS_OK;
  char *text = !bad && obj ? json_dumps(obj, JSON_COMPACT) : NULL;
  if (text) {
    fputs(text, stdout);
    fputc('\n', stdout);
    free(text);
  } else {
    /* A fixed text needs no memory: the object could not be built. */
    fputs("{\"result\":\"error\",\"exit\":3,\"error\":\"out of memory building the JSON\"}\n",
          stdout);
    rc = AS_NOMEM;
  }
  json_decref(obj);
  cli_json_done();
  return rc;
}

int cli_json_error(const char *command, int ex) {
  json_t *o = json_object();
  int bad = cli_jset(o, "command", cli_jstr(command));
  bad |= cli_jset(o, "result", json_string("error"));
  bad |= cli_jset(o, "exit", json_integer(ex));
  bad |= cli_jset(o, "error", cli_jstr(cli_last_error()));
  return cli_jemit(o, bad);
}

json_t *cli_jseed(uint64_t seed) {
  if (seed <= (uint64_t)INT64_MAX) return json_integer((json_int_t)seed);
  /* Past what a signed 64-bit JSON integer holds: the exact digits as text. */
  char s[24];
  snprintf(s, sizeof s, "%" PRIu64, seed);
  return json_string(s);
}

/* "pass", "fail" or "error" (a harness error). */
const char *cli_result_word(const sim_result *res) {
  if (res->outcome == SIM_PASS) return "pass";
  return res->outcome == SIM_HARNESS ? "error" : "fail";
}

json_t *cli_run_json(const char *scenario, const cli_opts *o, const sim_config *cfg,
                     const sim_result *res, const char *replay, const char *determinism,
                     const char *divergence) {
  char strat[64], hash[24];
  cli_strategy_text(o, strat, sizeof strat);
  snprintf(hash, sizeof hash, "%016" PRIx64, res->trace_hash);
  json_t *j = json_object();
  int bad = cli_jset(j, "scenario", cli_jstr(scenario));
  bad |= cli_jset(j, "seed", cfg->strategy == SIM_STRATEGY_REPLAY ? json_null() : cli_jseed(cfg->seed));
  bad |= cli_jset(j, "strategy", cli_jstr(cfg->strategy == SIM_STRATEGY_REPLAY ? "replay" : strat));
  bad |= cli_jset(j, "result", json_string(cli_result_word(res)));
  bad |= cli_jset(j, "outcome", json_string(sim_outcome_name(res->outcome)));
  bad |= cli_jset(j, "steps", json_integer((json_int_t)res->steps));
  bad |= cli_jset(j, "decisions", json_integer((json_int_t)res->decisions));
  bad |= cli_jset(j, "tasks", json_integer(res->tasks));
  bad |= cli_jset(j, "spurious_ppm", json_integer(cfg->spurious_ppm));
  bad |= cli_jset(j, "wakeups", json_integer((json_int_t)res->wakeups));
  bad |= cli_jset(j, "faults", json_integer((json_int_t)res->faults));
  bad |= cli_jset(j, "virtual_ms", json_integer((json_int_t)(res->virtual_ns / 1000000)));
  bad |= cli_jset(j, "virtual_ns", json_integer((json_int_t)res->virtual_ns));
  bad |= cli_jset(j, "trace_hash", json_string(hash));
  bad |= cli_jset(j, "schedule", cli_jstr(res->schedule ? res->schedule : ""));
  bad |= cli_jset(j, "options", cli_jstr(res->options));
  json_t *v = json_array();
  if (res->outcome != SIM_PASS) {
    json_t *one = json_object();
    bad |= cli_jset(one, "kind", json_string(sim_outcome_name(res->outcome)));
    bad |= cli_jset(one, "message", cli_jstr(res->message));
    bad |= cli_jpush(v, one);
  }
  bad |= cli_jset(j, "violations", v);
  if (replay) bad |= cli_jset(j, "replay", cli_jstr(replay));
  if (determinism) bad |= cli_jset(j, "determinism", json_string(determinism));
  if (divergence) bad |= cli_jset(j, "divergence", cli_jstr(divergence));
  if (bad) {
    json_decref(j);
    return NULL;
  }
  return j;
}

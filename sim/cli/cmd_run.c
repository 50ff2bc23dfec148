/*
** cmd_run.c -- run, replay, list and what the commands share: finding the
** program a SCENARIO names, building the sim config, and the replay command.
*/
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "selftest/programs.h"

const sim_program *cli_find_program(const char *name, char *err, size_t cap) {
  const selftest *st = selftest_find(name);
  if (st) return st->prog;
  if (strncmp(name, "selftest:", 9) == 0) {
    size_t len = (size_t)snprintf(err, cap, "unknown self-test '%.64s'; known:", name);
    for (unsigned i = 0; i < selftest_count && len < cap; i++)
      len += (size_t)snprintf(err + len, cap - len, " %s", selftests[i].prog->name);
    return NULL;
  }
  snprintf(err, cap,
           "%.200s: no such scenario (this build knows the self-tests only; "
           "see 'agentsim list')",
           name);
  return NULL;
}

void cli_config(const cli_opts *o, sim_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->strategy = o->strategy;
  cfg->pct_depth = o->pct_depth;
  cfg->pct_steps = o->pct_steps;
  cfg->max_steps = o->max_steps;
  cfg->max_virtual_ns = o->max_virtual_ns;
}

int cli_mutant(const cli_opts *o, const sim_program *p, int *id, char *err, size_t cap) {
  *id = 0;
  if (!o->mutant) return AS_OK;
  /* No program has mutants yet; the runtime's arrive with its scenarios. */
  snprintf(err, cap, "--mutant '%.64s': %s has no mutant of that name (it has none)",
           o->mutant, p->name);
  return AS_INVAL;
}

void cli_strategy_text(const cli_opts *o, char *buf, size_t cap) {
  if (o->strategy != SIM_STRATEGY_PCT) {
    snprintf(buf, cap, "random");
    return;
  }
  unsigned d = o->pct_depth ? o->pct_depth : SIM_DEFAULT_PCT_DEPTH;
  if (o->pct_steps)
    snprintf(buf, cap, "pct:d=%u,k=%" PRIu64, d, o->pct_steps);
  else
    snprintf(buf, cap, "pct:d=%u", d);
}

void cli_replay_text(char *buf, size_t cap, const char *argv0, const char *scenario,
                        uint64_t seed, const cli_opts *o) {
  char strat[64];
  cli_strategy_text(o, strat, sizeof strat);
  size_t n = as_appendf(buf, cap, 0, "%s replay %s --seed %" PRIu64 " --strategy %s", argv0,
                          scenario, seed, strat);
  if (o->mutant) n = as_appendf(buf, cap, n, " --mutant %s", o->mutant);
  if (o->max_steps) n = as_appendf(buf, cap, n, " --max-steps %" PRIu64, o->max_steps);
  if (o->max_virtual_ns) n = as_appendf(buf, cap, n, " --max-time %" PRIu64 "ns", o->max_virtual_ns);
  if (o->sw == SIM_SWITCH_UCONTEXT) n = as_appendf(buf, cap, n, " --switch ucontext");
}

void cli_print_replay(FILE *f, const char *argv0, const char *scenario, uint64_t seed,
                      const cli_opts *o) {
  char buf[1024];
  cli_replay_text(buf, sizeof buf, argv0, scenario, seed, o);
  fprintf(f, "%s\n", buf);
}

static void print_result(FILE *f, const sim_program *p, const sim_result *res) {
  fprintf(f, "scenario: %s\n", p->name);
  fprintf(f, "options: %s\n", res->options);
  if (res->outcome == SIM_PASS)
    fprintf(f, "result: pass");
  else
    fprintf(f, "result: FAIL (%s)", sim_outcome_name(res->outcome));
  fprintf(f, " after %" PRIu64 " steps (%" PRIu64 " decisions, %u tasks), virtual time %" PRIu64
             ".%09" PRIu64 " s\n",
          res->steps, res->decisions, res->tasks, (uint64_t)(res->virtual_ns / 1000000000u),
          (uint64_t)(res->virtual_ns % 1000000000u));
  if (res->outcome != SIM_PASS) {
    fprintf(f, "  %s", res->message);
    if (res->message[0] && res->message[strlen(res->message) - 1] != '\n') fputc('\n', f);
  }
  fprintf(f, "trace hash: %016" PRIx64 "\n", res->trace_hash);
  fprintf(f, "schedule: %s\n", res->schedule ? res->schedule : "");
}

/* One run with messages for the setup errors a user can cause. */
static int run_once(sim *s, const sim_program *p, const sim_config *cfg, sim_result *res,
                    const char *what) {
  int rc = sim_run(s, p, cfg, res);
  if (rc == AS_OK) return EXIT_PASS;
  fprintf(stderr, "agentsim %s: %s%s%s\n", what, as_status_msg(rc), res->message[0] ? ": " : "",
          res->message);
  return (rc == AS_PARSE || rc == AS_DIVERGED || rc == AS_INVAL || rc == AS_TOOBIG)
             ? EXIT_USAGE
             : EXIT_INTERNAL;
}

/* --check-determinism: the same seed twice, then from the schedule string. */
static int check_determinism(sim *s, const sim_program *p, const sim_config *cfg,
                             const sim_result *first, FILE *out) {
  sim_result again, fromsched;
  int ex = run_once(s, p, cfg, &again, "run");
  if (ex != EXIT_PASS) return ex;
  sim_config rc = *cfg;
  rc.strategy = SIM_STRATEGY_REPLAY;
  rc.schedule = first->schedule;
  rc.trace = NULL;
  ex = run_once(s, p, &rc, &fromsched, "run");
  if (ex != EXIT_PASS) {
    sim_result_clear(&again);
    return ex;
  }
  int same = again.trace_hash == first->trace_hash &&
             fromsched.trace_hash == first->trace_hash &&
             strcmp(again.schedule, first->schedule) == 0 &&
             strcmp(fromsched.schedule, first->schedule) == 0;
  fprintf(out, "determinism: %s (run 1 %016" PRIx64 ", run 2 %016" PRIx64
               ", from schedule %016" PRIx64 ")\n",
          same ? "ok" : "MISMATCH", first->trace_hash, again.trace_hash, fromsched.trace_hash);
  sim_result_clear(&again);
  sim_result_clear(&fromsched);
  return same ? EXIT_PASS : EXIT_FOUND;
}

static int run_common(const cli_opts *o, const char *argv0, int replay) {
  char err[512];
  int ex = EXIT_PASS;
  sim *s = NULL;
  sim_result res;
  int have_res = 0;
  const char *scen = o->scenarios[0];
  const sim_program *p = cli_find_program(scen, err, sizeof err);
  if (!p) {
    fprintf(stderr, "agentsim: %s\n", err);
    return EXIT_USAGE;
  }
  sim_config cfg;
  cli_config(o, &cfg);
  cfg.seed = o->seed;
  if (cli_mutant(o, p, &cfg.mutant, err, sizeof err) != AS_OK) {
    fprintf(stderr, "agentsim: %s\n", err);
    return EXIT_USAGE;
  }
  if (replay && o->schedule) {
    cfg.strategy = SIM_STRATEGY_REPLAY;
    cfg.schedule = o->schedule;
  }
  /* With --json the trace goes to stderr so the last stdout line stays JSON. */
  FILE *out = o->json ? stderr : stdout;
  if (o->verbose) {
    cfg.trace = out;
    fprintf(out, "    step    virtual time  [task] event ...\n");
  }
  int rc = sim_new(&s, o->sw, 0);
  if (rc != AS_OK) {
    fprintf(stderr, "agentsim: cannot make the sim: %s\n", as_status_msg(rc));
    return EXIT_INTERNAL;
  }
  ex = run_once(s, p, &cfg, &res, replay ? "replay" : "run");
  if (ex != EXIT_PASS) goto out;
  have_res = 1;
  print_result(out, p, &res);
  char rcmd[1024] = "";
  if (cfg.strategy != SIM_STRATEGY_REPLAY) cli_replay_text(rcmd, sizeof rcmd, argv0, scen, o->seed, o);
  if (res.outcome != SIM_PASS) {
    ex = EXIT_FOUND;
    if (rcmd[0]) fprintf(out, "replay: %s\n", rcmd);
    fprintf(out, "replay by schedule: %s replay %s --schedule %s\n", argv0, scen, res.schedule);
  }
  if (o->check_determinism) {
    cfg.trace = NULL;
    int dex = check_determinism(s, p, &cfg, &res, out);
    if (dex != EXIT_PASS) ex = dex;
  }
  if (o->json) {
    json_result(stdout, scen, o, &cfg, &res, rcmd[0] ? rcmd : NULL);
    fputc('\n', stdout);
  }
out:
  if (have_res) sim_result_clear(&res);
  sim_free(s);
  return ex;
}

int cmd_run(const cli_opts *o, const char *argv0) { return run_common(o, argv0, 0); }
int cmd_replay(const cli_opts *o, const char *argv0) { return run_common(o, argv0, 1); }

int cmd_list(const cli_opts *o) {
  if (o->json) {
    fputs("{\"scenarios\":[", stdout);
    for (unsigned i = 0; i < selftest_count; i++) {
      if (i) fputc(',', stdout);
      fputs("{\"name\":", stdout);
      json_str(stdout, selftests[i].prog->name);
      fputs(",\"summary\":", stdout);
      json_str(stdout, selftests[i].prog->summary);
      fprintf(stdout, ",\"expect\":\"%s\"}", selftests[i].expect_fail ? "fail" : "pass");
    }
    fputs("]}\n", stdout);
    return EXIT_PASS;
  }
  for (unsigned i = 0; i < selftest_count; i++)
    printf("%-20s %s\n", selftests[i].prog->name, selftests[i].prog->summary);
  return EXIT_PASS;
}

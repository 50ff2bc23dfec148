/*
** cmd_run.c -- run, replay, list and what the commands share: finding the
** program a SCENARIO names, building the sim config, and the replay command.
*/
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "schedule.h"
#include "selftest/programs.h"
#include "text.h"
#include "timeline.h"

void cli_config(const cli_opts *o, sim_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->strategy = o->strategy;
  cfg->pct_depth = o->pct_depth;
  cfg->pct_steps = o->pct_steps;
  cfg->max_steps = o->max_steps;
  cfg->max_virtual_ns = o->max_virtual_ns;
  cfg->max_cpu_s = o->max_cpu_s ? o->max_cpu_s : CLI_DEFAULT_MAX_CPU_S;
  cfg->spurious_ppm = cli_spurious_ppm(o);
}

/* The options besides seed and strategy that change what a seed's run does
** but a schedule carries (a replay by schedule leaves them out). */
static size_t seed_only_text(char *buf, size_t cap, size_t n, const cli_opts *o) {
  uint32_t ppm = cli_spurious_ppm(o);
  if (ppm) n = as_appendf(buf, cap, n, " --spurious %" PRIu32, ppm);
  return n;
}

/* The options besides seed and strategy that change what a run does. */
static size_t limits_text(char *buf, size_t cap, size_t n, const cli_opts *o) {
  if (o->mutant) n = as_appendf(buf, cap, n, " --mutant %s", o->mutant);
  if (o->swarm) n = as_appendf(buf, cap, n, " --swarm");
  if (o->max_steps) n = as_appendf(buf, cap, n, " --max-steps %" PRIu64, o->max_steps);
  if (o->max_virtual_ns) n = as_appendf(buf, cap, n, " --max-time %" PRIu64 "ns", o->max_virtual_ns);
  if (o->max_cpu_s) n = as_appendf(buf, cap, n, " --max-cpu %u", o->max_cpu_s);
  if (o->sw == SIM_SWITCH_UCONTEXT) n = as_appendf(buf, cap, n, " --switch ucontext");
  return n;
}

/* Append w as one shell word: as it is when it needs no quoting, else in
** single quotes (a quote inside as '\''), so a printed command pastes. */
static size_t shell_word(char *buf, size_t cap, size_t n, const char *w) {
  if (*w && strspn(w, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./:=,+-@%") ==
                strlen(w))
    return as_appendf(buf, cap, n, "%s", w);
  n = as_appendf(buf, cap, n, "'");
  for (; *w; w++) n = *w == '\'' ? as_appendf(buf, cap, n, "'\\''") : as_appendf(buf, cap, n, "%c", *w);
  return as_appendf(buf, cap, n, "'");
}

/* "ARGV0 replay SCENARIO", both quoted for the shell. */
static size_t replay_head(char *buf, size_t cap, const char *argv0, const char *scenario) {
  size_t n = shell_word(buf, cap, 0, argv0);
  n = as_appendf(buf, cap, n, " replay ");
  return shell_word(buf, cap, n, scenario);
}

void cli_replay_text(char *buf, size_t cap, const char *argv0, const char *scenario,
                     uint64_t seed, const cli_opts *o) {
  char strat[64];
  cli_strategy_text(o, strat, sizeof strat);
  size_t n = replay_head(buf, cap, argv0, scenario);
  n = as_appendf(buf, cap, n, " --seed %" PRIu64 " --strategy %s", seed, strat);
  n = seed_only_text(buf, cap, n, o);
  (void)limits_text(buf, cap, n, o); /* ignore: the length is not needed */
}

/* Schedules longer than this do not fit one shell argument comfortably (Linux
** caps one at 128 KiB): the replay line then reads the schedule from a file. */
#define INLINE_SCHEDULE_MAX (64u * 1024u)

/* "ARGV0 replay SCENARIO" and, after the schedule, the options that limit the run. */
static void schedule_replay_parts(char *head, size_t hcap, char *lim, size_t lcap,
                                  const char *argv0, const char *scenario, const cli_opts *o) {
  lim[0] = '\0'; /* empty when no option limits the run */
  (void)limits_text(lim, lcap, 0, o); /* ignore: the length is not needed */
  (void)replay_head(head, hcap, argv0, scenario); /* ignore: the length is not needed */
}

void cli_print_schedule_replay(FILE *f, const char *argv0, const char *scenario,
                                  const char *schedule, const cli_opts *o) {
  char lim[512], head[CLI_CMD_MAX];
  schedule_replay_parts(head, sizeof head, lim, sizeof lim, argv0, scenario, o);
  if (strlen(schedule) <= INLINE_SCHEDULE_MAX)
    fprintf(f, "replay by schedule: %s --schedule %s%s\n", head, schedule, lim);
  else
    fprintf(f, "replay by schedule: %s --schedule @FILE%s  (FILE: the schedule line above)\n",
            head, lim);
}

void cli_schedule_replay_text(char *buf, size_t cap, const char *argv0, const char *scenario,
                              const char *schedule, const cli_opts *o) {
  char lim[512], head[CLI_CMD_MAX];
  schedule_replay_parts(head, sizeof head, lim, sizeof lim, argv0, scenario, o);
  snprintf(buf, cap, "%s --schedule %s%s", head, schedule, lim);
}

void cli_print_replay(FILE *f, const char *argv0, const char *scenario, uint64_t seed,
                      const cli_opts *o) {
  char buf[CLI_CMD_MAX];
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
  if (res->wakeups || res->faults)
    fprintf(f, "  %" PRIu64 " spurious wakeups, %" PRIu64 " faults injected\n", res->wakeups,
            res->faults);
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
  cli_error("%s: %s%s%s", what, as_status_msg(rc), res->message[0] ? ": " : "", res->message);
  return (rc == AS_PARSE || rc == AS_DIVERGED || rc == AS_INVAL || rc == AS_TOOBIG)
             ? EXIT_USAGE
             : EXIT_INTERNAL;
}

static int same_run(const sim_result *a, const sim_result *b) {
  return a->trace_hash == b->trace_hash && a->outcome == b->outcome && a->steps == b->steps &&
         strcmp(a->schedule, b->schedule) == 0;
}

/* --check-determinism: the same seed again, then from the schedule string,
** each with every event logged. 1 when all three agree, 0 when not (with
** where they first part in why), -1 when a run could not be made. A replay
** that diverges is a mismatch too: that is what the check is for. */
static int check_determinism(sim *s, const sim_program *p, const sim_config *cfg,
                             const sim_result *first, sim_hashlog *log1, FILE *out, char *why,
                             size_t cap) {
  sim_result again, fromsched;
  sim_hashlog *log2 = NULL, *log3 = NULL;
  int same = -1;
  why[0] = '\0';
  if (sim_hashlog_new(&log2) != AS_OK || sim_hashlog_new(&log3) != AS_OK) {
    cli_error("run: out of memory for the hash logs");
    goto out;
  }
  sim_config c2 = *cfg;
  c2.hashlog = log2;
  int rc = sim_run(s, p, &c2, &again);
  if (rc != AS_OK) {
    cli_error("run: %s: %s", as_status_msg(rc), again.message);
    goto out;
  }
  sim_config rcfg = *cfg;
  rcfg.strategy = SIM_STRATEGY_REPLAY;
  rcfg.schedule = first->schedule;
  rcfg.trace = NULL;
  rcfg.hashlog = log3;
  rc = sim_run(s, p, &rcfg, &fromsched);
  same = same_run(&again, first);
  if (!sim_hashlog_diff(log1, log2, "run 1", "run 2", why, cap) && !same)
    snprintf(why, cap, "the runs logged the same events but ended differently");
  if (rc == AS_OK) {
    int agree = same_run(&fromsched, first);
    if (same && !agree) {
      if (!sim_hashlog_diff(log1, log3, "run 1", "the replay from the schedule", why, cap))
        snprintf(why, cap, "the replay logged the same events but ended differently");
    }
    same = same && agree;
    fprintf(out, "determinism: %s (run 1 %016" PRIx64 ", run 2 %016" PRIx64
                 ", from schedule %016" PRIx64 ")\n",
            same ? "ok" : "MISMATCH", first->trace_hash, again.trace_hash, fromsched.trace_hash);
    sim_result_clear(&fromsched);
  } else {
    same = 0;
    size_t n = as_appendf(why, cap, 0, "the replay from the schedule failed: %s: ", as_status_msg(rc));
    as_appendf(why, cap, n, "%s", fromsched.message);
    fprintf(out, "determinism: MISMATCH\n");
  }
  if (!same && why[0]) fprintf(out, "  %s\n", why);
  sim_result_clear(&again);
out:
  sim_hashlog_free(log2);
  sim_hashlog_free(log3);
  return same;
}

/* Read a schedule from a file: the string itself, or a "schedule: ..." line
** as run prints it. Capped at SIM_SCHEDULE_MAX_LEN. */
int cli_read_schedule_file(const char *path, char **out) {
  int rc = AS_OK;
  FILE *f = fopen(path, "r");
  char *buf = NULL;
  if (!f) {
    cli_error("--schedule @%s: cannot open: %s", path, strerror(errno));
    return AS_IO;
  }
  size_t cap = 4096, len = 0;
  buf = malloc(cap);
  while (buf) {
    size_t n = fread(buf + len, 1, cap - len - 1, f);
    len += n;
    if (n == 0) break;
    if (len + 1 == cap) {
      if (cap >= SIM_SCHEDULE_MAX_LEN) {
        cli_error("--schedule @%s: longer than %u bytes", path, SIM_SCHEDULE_MAX_LEN);
        rc = AS_TOOBIG;
        goto out;
      }
      char *nb = realloc(buf, cap * 2);
      if (!nb) { /* not a silently cut schedule: out of memory, below */
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
      cap *= 2;
    }
  }
  if (!buf) {
    cli_error("--schedule @%s: out of memory", path);
    rc = AS_NOMEM;
    goto out;
  }
  if (ferror(f)) {
    cli_error("--schedule @%s: read error: %s", path, strerror(errno));
    rc = AS_IO;
    goto out;
  }
  buf[len] = '\0';
  while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
    buf[--len] = '\0';
  const char *start = strncmp(buf, "schedule: ", 10) == 0 ? buf + 10 : buf;
  memmove(buf, start, strlen(start) + 1);
  *out = buf;
  buf = NULL;
out:
  free(buf);
  if (fclose(f) != 0 && rc == AS_OK) rc = AS_IO;
  return rc;
}

/* --timeline, --trace-json: the paths checked before the run (a run that
** could not be written out is time lost), the recorder made. EXIT_PASS, or
** EXIT_INTERNAL said. */
static int timeline_start(const cli_opts *o, const char *cmd, sim_evlog **log) {
  char err[1024];
  const char *opt[2] = {"--timeline", "--trace-json"}, *path[2] = {o->timeline, o->trace_json};
  for (int i = 0; i < 2; i++) {
    if (path[i] && cli_tl_check_path(opt[i], path[i], err, sizeof err) != AS_OK) {
      cli_error("%s: %s", cmd, err);
      return EXIT_INTERNAL;
    }
  }
  if ((o->timeline || o->trace_json) && sim_evlog_new(log) != AS_OK) {
    cli_error("%s: out of memory for the event recorder", cmd);
    return EXIT_INTERNAL;
  }
  return EXIT_PASS;
}

/* After the run: the files written, named on out. EXIT_PASS or EXIT_INTERNAL. */
static int timeline_finish(const cli_opts *o, const char *cmd, const sim_evlog *log,
                           const sim_program *p, const sim_config *cfg,
                           const sim_result *res, FILE *out) {
  char err[1280], seed[24], strat[64];
  snprintf(seed, sizeof seed, "%" PRIu64, o->seed);
  cli_strategy_text(o, strat, sizeof strat);
  cli_tl_meta m = {.scenario = o->scenarios[0],
                   .command = cmd,
                   .seed = cfg->strategy == SIM_STRATEGY_REPLAY ? NULL : seed,
                   .strategy = cfg->strategy == SIM_STRATEGY_REPLAY ? "replay" : strat,
                   .mutant = o->mutant,
                   .trace_hash = res->trace_hash,
                   .scenario_kinds = cli_program_is_scenario(p)};
  if (cli_tl_write(log, &m, o->timeline, o->trace_json, out, err, sizeof err) != AS_OK) {
    cli_error("%s: %s", cmd, err);
    return EXIT_INTERNAL;
  }
  return EXIT_PASS;
}

static int run_common(const cli_opts *o, const char *argv0, int replay) {
  char err[512];
  int ex = EXIT_PASS;
  sim *s = NULL;
  sim_hashlog *log1 = NULL;
  sim_evlog *evlog = NULL;
  sim_result res;
  int have_res = 0;
  const char *scen = o->scenarios[0];
  const sim_program *p = cli_find_program(scen, err, sizeof err);
  if (!p) {
    cli_error("%s", err);
    return EXIT_USAGE;
  }
  sim_config cfg;
  cli_config(o, &cfg);
  cfg.seed = o->seed;
  if (cli_mutant(o, p, &cfg.mutant, err, sizeof err) != AS_OK) {
    cli_error("%s", err);
    return EXIT_USAGE;
  }
  char *sched_buf = NULL;
  if (replay && o->schedule) {
    cfg.strategy = SIM_STRATEGY_REPLAY;
    cfg.schedule = o->schedule;
    if (o->schedule[0] == '@') {
      if (cli_read_schedule_file(o->schedule + 1, &sched_buf) != AS_OK) return EXIT_USAGE;
      cfg.schedule = sched_buf;
    }
  }
  /* With --json the trace goes to stderr so the last stdout line stays JSON. */
  FILE *out = o->json ? stderr : stdout;
  if (o->verbose) {
    cfg.trace = out;
    fprintf(out, "    step    virtual time  [task] event ...\n");
  }
  int rc = sim_new(&s, o->sw, 0);
  if (rc != AS_OK) {
    cli_error("cannot make the sim: %s", as_status_msg(rc));
    return EXIT_INTERNAL;
  }
  if (o->check_determinism && sim_hashlog_new(&log1) != AS_OK) {
    cli_error("run: out of memory for the hash log");
    ex = EXIT_INTERNAL;
    goto out;
  }
  cfg.hashlog = log1;
  ex = timeline_start(o, replay ? "replay" : "run", &evlog);
  if (ex != EXIT_PASS) goto out;
  cfg.evlog = evlog;
  ex = run_once(s, p, &cfg, &res, replay ? "replay" : "run");
  if (ex != EXIT_PASS) goto out;
  have_res = 1;
  print_result(out, p, &res);
  char rcmd[CLI_CMD_MAX] = "";
  if (cfg.strategy != SIM_STRATEGY_REPLAY) cli_replay_text(rcmd, sizeof rcmd, argv0, scen, o->seed, o);
  if (res.outcome == SIM_HARNESS) {
    /* The harness could not look: no verdict on the runtime, exit 3. */
    ex = EXIT_INTERNAL;
    if (rcmd[0]) fprintf(out, "replay: %s\n", rcmd);
  } else if (res.outcome != SIM_PASS) {
    ex = EXIT_FOUND;
    if (rcmd[0]) fprintf(out, "replay: %s\n", rcmd);
    cli_print_schedule_replay(out, argv0, scen, res.schedule, o);
  }
  if (evlog && timeline_finish(o, replay ? "replay" : "run", evlog, p, &cfg, &res, out) != EXIT_PASS) {
    ex = EXIT_INTERNAL;
    goto out;
  }
  const char *det = NULL;
  char why[512] = "";
  if (o->check_determinism) {
    cfg.trace = NULL;
    cfg.hashlog = NULL;
    cfg.evlog = NULL;
    int same = check_determinism(s, p, &cfg, &res, log1, out, why, sizeof why);
    if (same < 0) {
      ex = EXIT_INTERNAL;
      goto out;
    }
    det = same ? "ok" : "mismatch";
    if (!same && ex == EXIT_PASS) ex = EXIT_FOUND;
  }
  if (o->json) {
    json_t *j = cli_run_json(scen, o, &cfg, &res, rcmd[0] ? rcmd : NULL, det, why[0] ? why : NULL);
    int bad = j == NULL;
    if (o->timeline) bad |= cli_jset(j, "timeline", cli_jstr(o->timeline));
    if (o->trace_json) bad |= cli_jset(j, "trace_json", cli_jstr(o->trace_json));
    if (cli_jemit(j, bad) != AS_OK) ex = EXIT_INTERNAL;
  }
out:
  if (have_res) sim_result_clear(&res);
  sim_hashlog_free(log1);
  sim_evlog_free(evlog);
  sim_free(s);
  free(sched_buf);
  return ex;
}

int cmd_run(const cli_opts *o, const char *argv0) { return run_common(o, argv0, 0); }
int cmd_replay(const cli_opts *o, const char *argv0) { return run_common(o, argv0, 1); }

/* The self-tests, then the bundled scenarios (when run from the project
** root): what SCENARIO can name. */
int cmd_list(const cli_opts *o) {
  char *paths[CLI_MAX_SCENARIOS];
  unsigned n = cli_bundled_scenarios(paths, CLI_MAX_SCENARIOS);
  json_t *arr = json_array();
  int bad = 0, ex = EXIT_PASS;
  FILE *out = o->json ? stderr : stdout;
  for (unsigned i = 0; i < selftest_count; i++) {
    const sim_program *p = selftests[i].prog;
    char head[64];
    snprintf(head, sizeof head, "  %s", p->name);
    if (i == 0) fputs("self-tests (the scheduler's own programs):\n", out);
    sim_wrap(out, head, 22, p->summary);
    json_t *e = json_object();
    bad |= cli_jset(e, "name", cli_jstr(p->name));
    bad |= cli_jset(e, "kind", json_string("selftest"));
    bad |= cli_jset(e, "summary", cli_jstr(p->summary));
    bad |= cli_jset(e, "expect", json_string(selftests[i].expect_fail ? "fail" : "pass"));
    bad |= cli_jpush(arr, e);
  }
  for (unsigned i = 0; i < n; i++) {
    char err[512];
    const sim_program *p = cli_find_program(paths[i], err, sizeof err);
    if (!p) {
      cli_error("list: %s", err);
      ex = EXIT_USAGE; /* a bundled scenario that does not parse is bad input */
      continue;
    }
    if (i == 0) fputs("bundled scenarios (the runtime core, judged by the oracle):\n", out);
    fprintf(out, "  %s\n", paths[i]);
    sim_wrap(out, "", 6, p->summary);
    json_t *e = json_object();
    bad |= cli_jset(e, "name", cli_jstr(paths[i]));
    bad |= cli_jset(e, "kind", json_string("scenario"));
    bad |= cli_jset(e, "summary", cli_jstr(p->summary));
    bad |= cli_jpush(arr, e);
  }
  for (unsigned i = 0; i < n; i++) free(paths[i]);
  if (o->json) {
    json_t *j = json_object();
    bad |= cli_jset(j, "scenarios", arr);
    if (cli_jemit(j, bad) != AS_OK) ex = EXIT_INTERNAL;
  } else {
    json_decref(arr);
  }
  return ex;
}

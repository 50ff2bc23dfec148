/*
** cmd_selftest.c -- `agentsim selftest`: the scheduler's own regression
** table. Every self-test runs under random walk, PCT (at its bug's depth)
** and POS; a buggy program
** passes when some strategy finds its bug and every failure is of the kind
** the bug shows as; a correct program passes when nothing fails. The first
** failure of each program is replayed from its schedule string, which must
** give the same trace hash.
*/
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "selftest/programs.h"
#include "sweep.h"

/* The strategies each self-test runs under: random, PCT, POS. */
#define PER 3

typedef struct row {
  const selftest *t;
  cli_opts strat; /* the strategy this row ran */
  sweep_stats st;
  int wrong_kind;
} row;

/* Replay a failure from the schedule its seed recorded; 1 when hashes agree. */
static int replay_agrees(const sim_program *p, const sim_config *base, sim_switch_kind sw,
                         uint64_t seed, uint64_t want) {
  sim *s = NULL;
  sim_result a, b;
  int ok = 0;
  if (sim_new(&s, sw, 0) != AS_OK) return 0;
  sim_config cfg = *base;
  cfg.seed = seed;
  if (sim_run(s, p, &cfg, &a) != AS_OK) goto out;
  sim_config rc = *base;
  rc.strategy = SIM_STRATEGY_REPLAY;
  rc.schedule = a.schedule;
  if (sim_run(s, p, &rc, &b) == AS_OK) {
    ok = a.trace_hash == want && b.trace_hash == want;
    sim_result_clear(&b);
  }
  sim_result_clear(&a);
out:
  sim_free(s);
  return ok;
}

int cmd_selftest(const cli_opts *o, const char *argv0) {
  uint64_t seeds = o->has_seeds ? o->seeds : 1000;
  row rows[PER * 16];
  unsigned nrows = 0;
  if (selftest_count > 16) {
    cli_error("selftest: more self-tests than the table holds");
    return EXIT_INTERNAL;
  }
  int ex = EXIT_PASS;
  FILE *out = o->json ? stderr : stdout;

  for (unsigned i = 0; i < selftest_count; i++) {
    const selftest *t = &selftests[i];
    static const sim_strategy_kind kinds[PER] = {SIM_STRATEGY_RANDOM, SIM_STRATEGY_PCT,
                                                 SIM_STRATEGY_POS};
    for (int si = 0; si < PER; si++) {
      row *r = &rows[nrows++];
      memset(r, 0, sizeof *r);
      r->t = t;
      r->strat = *o;
      r->strat.strategy = kinds[si];
      r->strat.pct_depth = kinds[si] != SIM_STRATEGY_PCT ? 0
                           : t->pct_depth              ? t->pct_depth
                                                       : SIM_DEFAULT_PCT_DEPTH;
      r->strat.pct_steps = 0;
      sweep_spec sp;
      memset(&sp, 0, sizeof sp);
      sp.prog = t->prog;
      cli_config(&r->strat, &sp.base);
      sp.sw = o->sw;
      sp.start = o->seed_start;
      sp.count = seeds;
      sp.jobs = cli_jobs(o);
      sp.label = t->prog->name;
      sp.progress = isatty(STDERR_FILENO);
      int rc = sweep_exec(&sp, &r->st);
      if (rc != AS_OK) {
        cli_error("selftest: %s: %s", t->prog->name, r->st.error);
        ex = EXIT_INTERNAL;
        goto out;
      }
      for (size_t k = 0; k < r->st.nfails; k++)
        if (r->st.fails[k].outcome != (int)t->expect) r->wrong_kind++;
      if (r->st.nfails && !replay_agrees(t->prog, &sp.base, o->sw, r->st.fails[0].seed,
                                         r->st.fails[0].hash)) {
        fprintf(out, "%s: seed %" PRIu64 " does not replay to the same trace hash\n",
                t->prog->name, r->st.fails[0].seed);
        r->wrong_kind++;
      }
    }
  }

  fprintf(out, "%-24s %-10s %-8s %7s %7s %9s  %s\n", "program", "expect", "strategy", "seeds",
          "failed", "fraction", "first failing seed");
  for (unsigned i = 0; i < nrows; i++) {
    row *r = &rows[i];
    char strat[64];
    cli_strategy_text(&r->strat, strat, sizeof strat);
    fprintf(out, "%-24s %-10s %-8s %7" PRIu64 " %7" PRIu64 " %9.4f  ", r->t->prog->name,
            r->t->expect_fail ? sim_outcome_name(r->t->expect) : "pass", strat, r->st.runs,
            r->st.failed, r->st.runs ? (double)r->st.failed / (double)r->st.runs : 0.0);
    if (r->st.nfails)
      fprintf(out, "%" PRIu64 "\n", r->st.fails[0].seed);
    else
      fprintf(out, "-\n");
  }

  unsigned bad_programs = 0;
  for (unsigned i = 0; i < nrows; i += PER) {
    const selftest *t = rows[i].t;
    const char *why = NULL;
    unsigned wrong = 0;
    uint64_t failed = 0;
    for (int k = 0; k < PER; k++) {
      wrong += (unsigned)rows[i + k].wrong_kind;
      failed += rows[i + k].st.failed;
    }
    if (wrong)
      why = "failed in a way its bug cannot explain (a scheduler bug?)";
    else if (t->expect_fail && failed == 0)
      why = "its bug was not found by any strategy";
    else if (!t->expect_fail && failed > 0)
      why = "a correct program failed";
    if (!why) continue;
    bad_programs++;
    fprintf(out, "UNEXPECTED %s: %s\n", t->prog->name, why);
    for (int k = 0; k < PER; k++) {
      row *r = &rows[i + k];
      for (size_t j = 0; j < r->st.nfails && j < 3; j++) {
        fprintf(out, "  seed %" PRIu64 " (%s): %s\n    replay: ", r->st.fails[j].seed,
                sim_outcome_name(r->st.fails[j].outcome), r->st.fails[j].msg);
        cli_print_replay(out, argv0, t->prog->name, r->st.fails[j].seed, &r->strat);
      }
    }
  }
  fprintf(out, "selftest: %u programs, %u as expected, %u unexpected\n", selftest_count,
          selftest_count - bad_programs, bad_programs);
  if (bad_programs) ex = EXIT_FOUND;

  if (o->json) {
    json_t *j = json_object(), *arr = json_array();
    int bad = cli_jset(j, "command", json_string("selftest"));
    bad |= cli_jset(j, "seeds", cli_jseed(seeds));
    bad |= cli_jset(j, "result", json_string(bad_programs ? "fail" : "pass"));
    for (unsigned i = 0; i < nrows; i++) {
      row *r = &rows[i];
      char strat[64];
      cli_strategy_text(&r->strat, strat, sizeof strat);
      json_t *e = json_object();
      bad |= cli_jset(e, "program", cli_jstr(r->t->prog->name));
      bad |= cli_jset(e, "expect", json_string(r->t->expect_fail ? sim_outcome_name(r->t->expect) : "pass"));
      bad |= cli_jset(e, "strategy", cli_jstr(strat));
      bad |= cli_jset(e, "seeds", json_integer((json_int_t)r->st.runs));
      bad |= cli_jset(e, "failed", json_integer((json_int_t)r->st.failed));
      bad |= cli_jset(e, "first_failing_seed", r->st.nfails ? cli_jseed(r->st.fails[0].seed) : json_null());
      bad |= cli_jpush(arr, e);
    }
    bad |= cli_jset(j, "rows", arr);
    if (cli_jemit(j, bad) != AS_OK) ex = EXIT_INTERNAL;
  }
out:
  for (unsigned i = 0; i < nrows; i++) sweep_stats_clear(&rows[i].st);
  return ex;
}

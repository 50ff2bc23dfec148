/*
** cmd_mutants.c -- `agentsim mutants`: the kill table. Every mutant of the
** runtime core is switched on in turn and the scenarios are swept under
** each strategy -- random walk, PCT (d=3), POS and the portfolio -- until a
** seed fails. Per strategy the table gives the seeds it took to the first
** kill (its columns); for the portfolio's kill (or, when the portfolio
** missed, the first strategy's that killed) the scenario and seed that
** killed it, the check that caught it (the oracle's check name, or the
** failure kind), and the kill rate: the share of the first RATE seeds of
** that scenario the mutant fails -- 1.00 is a bug any run shows, a small
** rate one that needs its interleaving. A mutant is killed when the
** portfolio, the sweeps' default, finds it within --seeds seeds.
*/
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentsim/mutant.h"
#include "cli.h"
#include "oracle/oracle.h"
#include "sweep.h"

#define CHUNK_MAX 64u /* seeds per scenario between looks for a kill: 1, 2, 4, .. this */
#define RATE 100u /* seeds the kill rate is measured over */
#define NSTRAT 4
#define PORTFOLIO (NSTRAT - 1) /* the column that decides "killed" */

/* The columns: the JSON key and the strategy. */
static const struct {
  const char *key;
  sim_strategy_kind kind;
  unsigned pct_depth;
} strategies[NSTRAT] = {
    {"random", SIM_STRATEGY_RANDOM, 0},
    {"pct", SIM_STRATEGY_PCT, SIM_DEFAULT_PCT_DEPTH},
    {"pos", SIM_STRATEGY_POS, 0},
    {"portfolio", SIM_STRATEGY_PORTFOLIO, 0},
};

typedef struct kill {
  int found;
  uint64_t seed;
  unsigned scenario;
  int outcome;
  char msg[SWEEP_MSG_MAX];
  uint64_t rate_seeds, rate_kills;
} kill;

static AS_WUR int sweep_one(const cli_opts *o, const sim_program *p, const cli_opts *strat,
                            int mutant, uint64_t start, uint64_t count, sweep_stats *st) {
  sweep_spec sp;
  memset(&sp, 0, sizeof sp);
  sp.prog = p;
  cli_config(strat, &sp.base);
  /* The id cli_mutant gives: what a replay with --mutant runs with, so PCT
  ** measures its k on the same program (sim_pct_estimate's cache key). */
  sp.base.mutant = mutant;
  sp.sw = o->sw;
  sp.start = start;
  sp.count = count;
  sp.jobs = cli_jobs(o);
  sp.label = p->name;
  int rc = sweep_exec(&sp, st);
  if (rc != AS_OK) cli_error("mutants: %s: %s", p->name, st->error);
  return rc;
}

/* Sweep seeds in chunks, every scenario per chunk, until one fails. Chunks
** double from one seed, so a kill at seed k costs at most about 2k+1 seeds
** per scenario (most mutants die at their first seed). Scenario `first` goes
** first (the one that killed the mutant under the previous strategy); once
** a scenario has failed at seed s, the others run only the seeds below s,
** so the first kill is still the lowest seed over every scenario, and a kill
** at the chunk's first seed ends the search there. */
static AS_WUR int find_kill(const cli_opts *o, const sim_program *const *progs, unsigned nprog,
                            const cli_opts *strat, int mutant, uint64_t seeds, unsigned first,
                            kill *k) {
  memset(k, 0, sizeof *k);
  uint64_t chunk = 1;
  for (uint64_t off = 0; off < seeds && !k->found;
       off += chunk, chunk = chunk < CHUNK_MAX ? chunk * 2 : chunk) {
    uint64_t start = o->seed_start + off;
    for (unsigned n = 0; n < nprog; n++) {
      unsigned i = n == 0 ? first : (n <= first ? n - 1 : n);
      uint64_t count = seeds - off < chunk ? seeds - off : chunk;
      if (k->found && k->seed - start < count) count = k->seed - start;
      if (count == 0) break;
      sweep_stats st;
      int rc = sweep_one(o, progs[i], strat, mutant, start, count, &st);
      if (rc != AS_OK) {
        sweep_stats_clear(&st);
        return rc;
      }
      if (st.nfails && (!k->found || st.fails[0].seed < k->seed)) {
        k->found = 1;
        k->seed = st.fails[0].seed;
        k->scenario = i;
        k->outcome = st.fails[0].outcome;
        memcpy(k->msg, st.fails[0].msg, sizeof k->msg);
      }
      sweep_stats_clear(&st);
    }
  }
  return AS_OK;
}

/* The kill rate on the scenario that failed first: its first RATE seeds. */
static AS_WUR int kill_rate(const cli_opts *o, const sim_program *const *progs,
                            const cli_opts *strat, int mutant, uint64_t seeds, kill *k) {
  sweep_stats st;
  uint64_t n = seeds < RATE ? seeds : RATE;
  int rc = sweep_one(o, progs[k->scenario], strat, mutant, o->seed_start, n, &st);
  if (rc == AS_OK) {
    k->rate_seeds = st.runs;
    k->rate_kills = st.failed;
  }
  sweep_stats_clear(&st);
  return rc;
}

/* The check that caught it: the oracle's check name a violation starts
** with, else the failure kind. */
static void caught_by(const kill *k, char *buf, size_t cap) {
  for (int c = 0; c < ORC__CK_COUNT; c++) {
    const char *name = orc_check_name((orc_check)c);
    size_t len = strlen(name);
    if (strncmp(k->msg, name, len) == 0 && k->msg[len] == ':') {
      snprintf(buf, cap, "%s", name);
      return;
    }
  }
  snprintf(buf, cap, "%s", sim_outcome_name(k->outcome));
}

static void first_line(char *buf, size_t cap, const char *msg) {
  size_t n = strcspn(msg, "\n");
  if (n >= cap) n = cap - 1;
  memcpy(buf, msg, n);
  buf[n] = '\0';
}

static json_t *kill_json(const kill *k, uint64_t start, const char *scenario, const char *replay,
                         int *bad) {
  if (!k->found) return json_null();
  char check[64], line[SWEEP_MSG_MAX];
  caught_by(k, check, sizeof check);
  first_line(line, sizeof line, k->msg);
  json_t *j = json_object();
  *bad |= cli_jset(j, "seeds_to_kill", json_integer((json_int_t)(k->seed - start + 1)));
  *bad |= cli_jset(j, "seed", cli_jseed(k->seed));
  *bad |= cli_jset(j, "scenario", cli_jstr(scenario));
  *bad |= cli_jset(j, "outcome", json_string(sim_outcome_name(k->outcome)));
  *bad |= cli_jset(j, "check", cli_jstr(check));
  *bad |= cli_jset(j, "invariant", cli_jstr(line));
  /* Measured for the kill the table shows (the portfolio's) only: null
  ** for the others. */
  *bad |= cli_jset(j, "kill_rate", k->rate_seeds ? json_real((double)k->rate_kills /
                                                             (double)k->rate_seeds)
                                                 : json_null());
  *bad |= cli_jset(j, "rate_seeds", json_integer((json_int_t)k->rate_seeds));
  *bad |= cli_jset(j, "replay", cli_jstr(replay));
  return j;
}

static double rate_of(const kill *k) {
  return k->rate_seeds ? (double)k->rate_kills / (double)k->rate_seeds : 0.0;
}

/* One mutant's row: seeds to kill per strategy, then the details of the
** portfolio's kill (else of the first strategy's), and its replay line. */
static void print_row(FILE *out, const char *name, const kill *ks, const sim_program *const *progs,
                      uint64_t start, const char *replay) {
  char cols[NSTRAT][24], check[64], line[SWEEP_MSG_MAX];
  const kill *shown = ks[PORTFOLIO].found ? &ks[PORTFOLIO] : NULL;
  for (int s = 0; s < NSTRAT; s++) {
    if (ks[s].found)
      snprintf(cols[s], sizeof cols[s], "%" PRIu64, ks[s].seed - start + 1);
    else
      snprintf(cols[s], sizeof cols[s], "-");
    if (!shown && ks[s].found) shown = &ks[s];
  }
  fprintf(out, "%-25s %6s %6s %6s %9s", name, cols[0], cols[1], cols[2], cols[3]);
  if (!shown) {
    fprintf(out, "  %5s %6s  %-22s %-20s %s\n", "-", "-", "-", "-", "survived");
    return;
  }
  caught_by(shown, check, sizeof check);
  first_line(line, sizeof line, shown->msg);
  fprintf(out, "  %5.2f %6" PRIu64 "  %-22.22s %-20s %.70s\n", rate_of(shown), shown->seed,
          progs[shown->scenario]->name, check, line);
  fprintf(out, "  replay: %s\n", replay);
}

/* Run every strategy on mutant m (switched on), print its row, add its
** JSON object to arr; *killed: the portfolio killed it. */
static AS_WUR int mutant_row(const cli_opts *o, const char *argv0, const char *const *paths,
                             const sim_program *const *progs, unsigned nprog, uint64_t seeds,
                             const as_mutant_info *mut, int id, FILE *out, json_t *arr,
                             int *killed, int *bad) {
  kill ks[NSTRAT];
  cli_opts so[NSTRAT];
  char cmds[NSTRAT][CLI_CMD_MAX];
  int shown = -1;
  unsigned first = 0;
  for (int s = 0; s < NSTRAT; s++) {
    so[s] = *o;
    so[s].strategy = strategies[s].kind;
    so[s].pct_depth = strategies[s].pct_depth;
    so[s].pct_steps = 0;
    int rc = find_kill(o, progs, nprog, &so[s], id, seeds, first, &ks[s]);
    if (rc != AS_OK) return rc;
    if (ks[s].found) first = ks[s].scenario;
    cmds[s][0] = '\0';
    if (ks[s].found) {
      so[s].mutant = mut->name;
      cli_replay_text(cmds[s], sizeof cmds[s], argv0, paths[ks[s].scenario], ks[s].seed, &so[s]);
      if (shown < 0 || s == PORTFOLIO) shown = s;
    }
  }
  if (shown >= 0 && kill_rate(o, progs, &so[shown], id, seeds, &ks[shown]) != AS_OK)
    return AS_INTERNAL;
  json_t *row = json_object();
  *bad |= cli_jset(row, "mutant", cli_jstr(mut->name));
  *bad |= cli_jset(row, "what", cli_jstr(mut->what));
  for (int s = 0; s < NSTRAT; s++)
    *bad |= cli_jset(row, strategies[s].key,
                     kill_json(&ks[s], o->seed_start, ks[s].found ? paths[ks[s].scenario] : "",
                               cmds[s], bad));
  print_row(out, mut->name, ks, progs, o->seed_start, shown >= 0 ? cmds[shown] : "");
  *killed = ks[PORTFOLIO].found;
  *bad |= cli_jset(row, "killed", json_boolean(*killed));
  *bad |= cli_jpush(arr, row);
  return AS_OK;
}

int cmd_mutants(const cli_opts *o, const char *argv0) {
  char err[512];
  char *owned[CLI_MAX_SCENARIOS];
  const char *paths[CLI_MAX_SCENARIOS];
  const sim_program *progs[CLI_MAX_SCENARIOS];
  unsigned nprog = 0, nowned = 0;
  int ex = EXIT_PASS;
  json_t *arr = NULL;
  uint64_t seeds = o->has_seeds ? o->seeds : 1000;
  if (o->nscenarios) {
    for (unsigned i = 0; i < o->nscenarios; i++) paths[i] = o->scenarios[i];
    nprog = o->nscenarios;
  } else {
    nowned = cli_bundled_scenarios(owned, CLI_MAX_SCENARIOS);
    for (unsigned i = 0; i < nowned; i++) paths[i] = owned[i];
    nprog = nowned;
  }
  if (nprog == 0) {
    cli_error("mutants: no scenarios: run from the project root (it sweeps %s/*.scn) or name "
              "scenario files", CLI_BUNDLED_DIR);
    return EXIT_USAGE;
  }
  for (unsigned i = 0; i < nprog; i++) {
    progs[i] = cli_find_program(paths[i], err, sizeof err);
    if (!progs[i] || !cli_program_is_scenario(progs[i])) {
      cli_error("%s", progs[i] ? "mutants: the runtime's mutants need scenario files" : err);
      ex = EXIT_USAGE;
      goto out;
    }
  }
  size_t nmut = 0;
  const as_mutant_info *muts = as_mutant_list(&nmut);
  FILE *out = o->json ? stderr : stdout;
  arr = json_array();
  if (!arr) {
    cli_error("mutants: out of memory");
    ex = EXIT_INTERNAL;
    goto out;
  }
  int bad = 0;
  unsigned alive = 0;
  fprintf(out, "%u scenarios, up to %" PRIu64 " seeds each: seeds to the first kill under random, "
               "pct:d=%u, pos and the portfolio (which must kill every mutant); rate, seed, "
               "scenario and check of the portfolio's kill (kill rate over the first %u seeds "
               "of the killing scenario)\n",
          nprog, seeds, SIM_DEFAULT_PCT_DEPTH, RATE);
  fprintf(out, "%-25s %6s %6s %6s %9s  %5s %6s  %-22s %-20s %s\n", "mutant", "random", "pct",
          "pos", "portfolio", "rate", "seed", "scenario", "caught by", "first violation");
  for (size_t m = 0; m < nmut; m++) {
    if (as_mutant_set(muts[m].name) != AS_OK) {
      cli_error("mutants: cannot switch on %s", muts[m].name);
      ex = EXIT_INTERNAL;
      goto out;
    }
    int killed = 0;
    /* The id cli_mutant gives a --mutant: list order, from 1. */
    if (mutant_row(o, argv0, paths, progs, nprog, seeds, &muts[m], (int)m + 1, out, arr, &killed,
                   &bad) != AS_OK) {
      ex = EXIT_INTERNAL;
      goto out;
    }
    if (!killed) alive++;
  }
  fprintf(out, "mutants: %zu, killed by the portfolio %zu, survived %u\n", nmut, nmut - alive,
          alive);
  if (alive) ex = EXIT_FOUND;
  if (o->json) {
    json_t *j = json_object();
    bad |= cli_jset(j, "command", json_string("mutants"));
    bad |= cli_jset(j, "seeds", cli_jseed(seeds));
    bad |= cli_jset(j, "result", json_string(alive ? "fail" : "pass"));
    bad |= cli_jset(j, "killed", json_integer((json_int_t)(nmut - alive)));
    bad |= cli_jset(j, "survived", json_integer(alive));
    bad |= cli_jset(j, "mutants", arr);
    arr = NULL;
    if (cli_jemit(j, bad) != AS_OK) ex = EXIT_INTERNAL;
  }
out:
  json_decref(arr);
  if (as_mutant_set(NULL) != AS_OK) ex = EXIT_INTERNAL; /* NULL switches them off */
  for (unsigned i = 0; i < nowned; i++) free(owned[i]);
  return ex;
}

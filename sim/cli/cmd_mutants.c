/*
** cmd_mutants.c -- `agentsim mutants`: the kill table. Every mutant of the
** runtime core is switched on in turn and the scenarios are swept, under
** random walk and under PCT, until a seed fails. Per strategy the table
** gives the seeds it took to the first kill, the scenario and seed that
** killed it, the check that caught it (the oracle's check name, or the
** failure kind), and the kill rate: the share of the first RATE seeds of
** that scenario the mutant fails -- 1.00 is a bug any run shows, a small
** rate one that needs its interleaving. A mutant is killed when at least
** one strategy finds it within --seeds seeds.
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
#define NSTRAT 2

typedef struct kill {
  int found;
  uint64_t seed;
  unsigned scenario;
  int outcome;
  char msg[SWEEP_MSG_MAX];
  uint64_t rate_seeds, rate_kills;
} kill;

static AS_WUR int sweep_one(const cli_opts *o, const sim_program *p, const cli_opts *strat,
                            uint64_t start, uint64_t count, sweep_stats *st) {
  sweep_spec sp;
  memset(&sp, 0, sizeof sp);
  sp.prog = p;
  cli_config(strat, &sp.base);
  sp.sw = o->sw;
  sp.start = start;
  sp.count = count;
  sp.jobs = cli_jobs(o);
  sp.label = p->name;
  int rc = sweep_exec(&sp, st);
  if (rc != AS_OK) cli_error("mutants: %s: %s", p->name, st->error);
  return rc;
}

/* Sweep seeds in chunks, every scenario per chunk, until one fails; then
** the kill rate on the scenario that failed first. Chunks double from one
** seed, so a kill at seed k costs at most about 2k+1 seeds per scenario
** (most mutants die at their first seed). */
static AS_WUR int find_kill(const cli_opts *o, const sim_program *const *progs, unsigned nprog,
                            const cli_opts *strat, uint64_t seeds, kill *k) {
  memset(k, 0, sizeof *k);
  uint64_t chunk = 1;
  for (uint64_t off = 0; off < seeds && !k->found;
       off += chunk, chunk = chunk < CHUNK_MAX ? chunk * 2 : chunk) {
    uint64_t count = seeds - off < chunk ? seeds - off : chunk;
    for (unsigned i = 0; i < nprog; i++) {
      sweep_stats st;
      int rc = sweep_one(o, progs[i], strat, o->seed_start + off, count, &st);
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
  if (!k->found) return AS_OK;
  sweep_stats st;
  uint64_t n = seeds < RATE ? seeds : RATE;
  int rc = sweep_one(o, progs[k->scenario], strat, o->seed_start, n, &st);
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
  *bad |= cli_jset(j, "kill_rate", json_real(k->rate_seeds ? (double)k->rate_kills / (double)k->rate_seeds : 0));
  *bad |= cli_jset(j, "rate_seeds", json_integer((json_int_t)k->rate_seeds));
  *bad |= cli_jset(j, "replay", cli_jstr(replay));
  return j;
}

int cmd_mutants(const cli_opts *o, const char *argv0) {
  char err[512];
  char *owned[CLI_MAX_SCENARIOS];
  const char *paths[CLI_MAX_SCENARIOS];
  const sim_program *progs[CLI_MAX_SCENARIOS];
  unsigned nprog = 0, nowned = 0;
  int ex = EXIT_PASS;
  kill *kills = NULL;
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
  cli_opts strats[NSTRAT] = {*o, *o};
  strats[0].strategy = SIM_STRATEGY_RANDOM;
  strats[1].strategy = SIM_STRATEGY_PCT;
  strats[1].pct_depth = SIM_DEFAULT_PCT_DEPTH;
  kills = calloc(nmut ? nmut * NSTRAT : 1, sizeof *kills);
  arr = json_array();
  if (!kills || !arr) {
    cli_error("mutants: out of memory");
    ex = EXIT_INTERNAL;
    goto out;
  }
  int bad = 0;
  unsigned alive = 0;
  fprintf(out, "%u scenarios, up to %" PRIu64 " seeds each, strategies random and pct:d=%u; kill "
               "rate over the first %u seeds of the killing scenario\n",
          nprog, seeds, SIM_DEFAULT_PCT_DEPTH, RATE);
  fprintf(out, "%-25s %-8s %7s %6s %5s  %-22s %-20s %s\n", "mutant", "strategy", "to kill", "seed",
          "rate", "scenario", "caught by", "first violation");
  for (size_t m = 0; m < nmut; m++) {
    if (as_mutant_set(muts[m].name) != AS_OK) {
      cli_error("mutants: cannot switch on %s", muts[m].name);
      ex = EXIT_INTERNAL;
      goto out;
    }
    json_t *row = json_object();
    bad |= cli_jset(row, "mutant", cli_jstr(muts[m].name));
    bad |= cli_jset(row, "what", cli_jstr(muts[m].what));
    int killed = 0;
    for (int s = 0; s < NSTRAT; s++) {
      kill *k = &kills[m * NSTRAT + (size_t)s];
      if (find_kill(o, progs, nprog, &strats[s], seeds, k) != AS_OK) {
        json_decref(row);
        ex = EXIT_INTERNAL;
        goto out;
      }
      char strat[64], line[SWEEP_MSG_MAX], check[64], cmd[CLI_CMD_MAX] = "";
      cli_strategy_text(&strats[s], strat, sizeof strat);
      if (k->found) {
        killed = 1;
        cli_opts ro = strats[s];
        ro.mutant = muts[m].name;
        cli_replay_text(cmd, sizeof cmd, argv0, paths[k->scenario], k->seed, &ro);
        first_line(line, sizeof line, k->msg);
        caught_by(k, check, sizeof check);
        fprintf(out, "%-25s %-8s %7" PRIu64 " %6" PRIu64 " %5.2f  %-22.22s %-20s %.90s\n",
                muts[m].name, strat, k->seed - o->seed_start + 1, k->seed,
                k->rate_seeds ? (double)k->rate_kills / (double)k->rate_seeds : 0.0,
                progs[k->scenario]->name, check, line);
        fprintf(out, "  replay: %s\n", cmd);
      } else {
        fprintf(out, "%-25s %-8s %7s %6s %5s  %-22s %-20s %s\n", muts[m].name, strat, "-", "-",
                "-", "-", "-", "survived");
      }
      bad |= cli_jset(row, s ? "pct" : "random",
                      kill_json(k, o->seed_start, k->found ? paths[k->scenario] : "", cmd, &bad));
    }
    if (!killed) alive++;
    bad |= cli_jset(row, "killed", json_boolean(killed));
    bad |= cli_jpush(arr, row);
  }
  fprintf(out, "mutants: %zu, killed %zu, survived %u\n", nmut, nmut - alive, alive);
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
  free(kills);
  if (as_mutant_set(NULL) != AS_OK) ex = EXIT_INTERNAL; /* NULL switches them off */
  for (unsigned i = 0; i < nowned; i++) free(owned[i]);
  return ex;
}

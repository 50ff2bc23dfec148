/*
** cmd_mutants.c -- `agentsim mutants`: the kill table. Every mutant of the
** runtime core is switched on in turn and the scenarios are swept, under
** random walk and under PCT, until a seed fails; the table gives, per
** strategy, the seeds it took, the first failing seed, the scenario, the
** violated invariant and the command that replays it. A mutant is killed
** when at least one strategy finds it within --seeds seeds.
*/
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentsim/mutant.h"
#include "cli.h"
#include "sweep.h"

#define CHUNK 25u /* seeds per scenario between looks for a kill */

typedef struct kill {
  int found;
  uint64_t seed;
  unsigned scenario;
  int outcome;
  char msg[SWEEP_MSG_MAX];
} kill;

/* Sweep seeds in chunks, every scenario per chunk, until one fails. */
static AS_WUR int find_kill(const cli_opts *o, const sim_program *const *progs, unsigned nprog,
                            const cli_opts *strat, uint64_t seeds, kill *k) {
  memset(k, 0, sizeof *k);
  for (uint64_t off = 0; off < seeds && !k->found; off += CHUNK) {
    uint64_t count = seeds - off < CHUNK ? seeds - off : CHUNK;
    for (unsigned i = 0; i < nprog; i++) {
      sweep_spec sp;
      sweep_stats st;
      memset(&sp, 0, sizeof sp);
      sp.prog = progs[i];
      cli_config(strat, &sp.base);
      sp.sw = o->sw;
      sp.start = o->seed_start + off;
      sp.count = count;
      sp.jobs = cli_jobs(o);
      sp.label = progs[i]->name;
      int rc = sweep_exec(&sp, &st);
      if (rc != AS_OK) {
        cli_error("mutants: %s: %s", progs[i]->name, st.error);
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

static void first_line(char *buf, size_t cap, const char *msg) {
  size_t n = strcspn(msg, "\n");
  if (n >= cap) n = cap - 1;
  memcpy(buf, msg, n);
  buf[n] = '\0';
}

int cmd_mutants(const cli_opts *o, const char *argv0) {
  char err[512];
  char *owned[CLI_MAX_SCENARIOS];
  const char *paths[CLI_MAX_SCENARIOS];
  const sim_program *progs[CLI_MAX_SCENARIOS];
  unsigned nprog = 0, nowned = 0;
  int ex = EXIT_PASS;
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
  cli_opts strats[2] = {*o, *o};
  strats[0].strategy = SIM_STRATEGY_RANDOM;
  strats[1].strategy = SIM_STRATEGY_PCT;
  strats[1].pct_depth = SIM_DEFAULT_PCT_DEPTH;
  kill kills[32][2];
  if (nmut > 32) {
    cli_error("mutants: %zu mutants, the table holds 32", nmut);
    ex = EXIT_INTERNAL;
    goto out;
  }
  unsigned alive = 0;
  fprintf(out, "%u scenarios, up to %" PRIu64 " seeds each, strategies random and pct:d=%u\n",
          nprog, seeds, SIM_DEFAULT_PCT_DEPTH);
  fprintf(out, "%-26s %-8s %8s %8s  %-22s %s\n", "mutant", "strategy", "to kill", "seed",
          "scenario", "violated invariant");
  for (size_t m = 0; m < nmut; m++) {
    if (as_mutant_set(muts[m].name) != AS_OK) {
      cli_error("mutants: cannot switch on %s", muts[m].name);
      ex = EXIT_INTERNAL;
      goto out;
    }
    for (int s = 0; s < 2; s++) {
      kill *k = &kills[m][s];
      int rc = find_kill(o, progs, nprog, &strats[s], seeds, k);
      if (rc != AS_OK) {
        ex = EXIT_INTERNAL;
        goto out;
      }
      char strat[64], line[SWEEP_MSG_MAX];
      cli_strategy_text(&strats[s], strat, sizeof strat);
      if (k->found) {
        first_line(line, sizeof line, k->msg);
        fprintf(out, "%-26s %-8s %8" PRIu64 " %8" PRIu64 "  %-22s %s: %s\n", muts[m].name, strat,
                k->seed - o->seed_start + 1, k->seed, progs[k->scenario]->name,
                sim_outcome_name(k->outcome), line);
      } else {
        fprintf(out, "%-26s %-8s %8s %8s  %-22s %s\n", muts[m].name, strat, "-", "-", "-",
                "survived");
      }
    }
    int killed = kills[m][0].found || kills[m][1].found;
    if (!killed) alive++;
    int s = kills[m][0].found ? 0 : 1;
    if (killed) {
      cli_opts ro = strats[s];
      ro.mutant = muts[m].name;
      char cmd[1024];
      cli_replay_text(cmd, sizeof cmd, argv0, paths[kills[m][s].scenario], kills[m][s].seed, &ro);
      fprintf(out, "  replay: %s\n", cmd);
    }
  }
  fprintf(out, "mutants: %zu, killed %zu, survived %u\n", nmut, nmut - alive, alive);
  if (alive) ex = EXIT_FOUND;
  if (o->json) {
    printf("{\"command\":\"mutants\",\"seeds\":%" PRIu64 ",\"result\":\"%s\",\"mutants\":[", seeds,
           alive ? "fail" : "pass");
    for (size_t m = 0; m < nmut; m++) {
      printf("%s{\"mutant\":", m ? "," : "");
      json_str(stdout, muts[m].name);
      printf(",\"what\":");
      json_str(stdout, muts[m].what);
      printf(",\"killed\":%s", kills[m][0].found || kills[m][1].found ? "true" : "false");
      for (int s = 0; s < 2; s++) {
        const kill *k = &kills[m][s];
        printf(",\"%s\":", s ? "pct" : "random");
        if (!k->found) {
          printf("null");
          continue;
        }
        cli_opts ro = strats[s];
        ro.mutant = muts[m].name;
        char cmd[1024], line[SWEEP_MSG_MAX];
        cli_replay_text(cmd, sizeof cmd, argv0, paths[k->scenario], k->seed, &ro);
        first_line(line, sizeof line, k->msg);
        printf("{\"seeds_to_kill\":%" PRIu64 ",\"seed\":%" PRIu64 ",\"scenario\":",
               k->seed - o->seed_start + 1, k->seed);
        json_str(stdout, paths[k->scenario]);
        printf(",\"outcome\":\"%s\",\"invariant\":", sim_outcome_name(k->outcome));
        json_str(stdout, line);
        printf(",\"replay\":");
        json_str(stdout, cmd);
        printf("}");
      }
      printf("}");
    }
    printf("]}\n");
    cli_json_done();
  }
out:
  if (as_mutant_set(NULL) != AS_OK) ex = EXIT_INTERNAL; /* NULL switches them off */
  for (unsigned i = 0; i < nowned; i++) free(owned[i]);
  return ex;
}

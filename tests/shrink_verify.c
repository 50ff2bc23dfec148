/*
** shrink_verify.c -- check a shrunk failure from the outside:
**
**   shrink_verify SCENARIO SCHEDULE MUTANT|- CHECK
**
** replays SCHEDULE on SCENARIO strictly and requires the failure CHECK
** (the oracle's check name, or what cli_signature calls a non-invariant
** failure); then, with the sim's lenient replay and not the shrinker's
** code, takes away each remaining piece in turn -- every decision that did
** not take the default pick (lowered to SIM_DECISION_DEFAULT), every fault
** outcome, every spurious wakeup -- and requires that the failure CHECK is
** then gone: each one is needed. Prints one line per piece; exit 0 when
** all hold, 1 when one does not, 2 bad usage, 3 an internal error.
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/mutant.h"
#include "cli.h"
#include "signature.h"

static int same(const sim_result *r, const char *check) {
  cli_sig sig;
  cli_signature((int)r->outcome, r->message, &sig);
  return r->outcome != SIM_PASS && strcmp(sig.check, check) == 0;
}

/* Run sc (its fingerprint set to p's) leniently or not into res. */
static int run(sim *s, const sim_program *p, int mutant, sim_schedule *sc, int lenient,
               sim_result *res) {
  char *str = NULL;
  sc->fingerprint = p->fingerprint;
  if (sim_schedule_encode(sc, &str) != AS_OK) return AS_NOMEM;
  sim_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.strategy = SIM_STRATEGY_REPLAY;
  cfg.schedule = str;
  cfg.lenient = lenient;
  cfg.mutant = mutant;
  int rc = sim_run(s, p, &cfg, res);
  free(str);
  return rc;
}

static AS_WUR int copy_sched(sim_schedule *d, const sim_schedule *o) {
  *d = *o;
  d->dec = malloc((o->ndec + 1) * sizeof *d->dec);
  d->faults = malloc((o->nfaults + 1) * sizeof *d->faults);
  d->wakeups = malloc((o->nwakeups + 1) * sizeof *d->wakeups);
  if (!d->dec || !d->faults || !d->wakeups) {
    sim_schedule_clear(d);
    return AS_NOMEM;
  }
  if (o->ndec) memcpy(d->dec, o->dec, o->ndec * sizeof *d->dec);
  if (o->nfaults) memcpy(d->faults, o->faults, o->nfaults * sizeof *d->faults);
  if (o->nwakeups) memcpy(d->wakeups, o->wakeups, o->nwakeups * sizeof *d->wakeups);
  return AS_OK;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: shrink_verify SCENARIO SCHEDULE MUTANT|- CHECK\n");
    return 2;
  }
  const char *check = argv[4];
  char err[1024];
  int mutant = 0;
  if (strcmp(argv[3], "-") != 0) {
    if (as_mutant_set(argv[3]) != AS_OK) {
      fprintf(stderr, "shrink_verify: no mutant %s\n", argv[3]);
      return 2;
    }
    size_t n = 0;
    const as_mutant_info *list = as_mutant_list(&n);
    for (size_t i = 0; i < n; i++)
      if (strcmp(list[i].name, argv[3]) == 0) mutant = (int)i + 1;
  }
  const sim_program *p = cli_find_program(argv[1], err, sizeof err);
  if (!p) {
    fprintf(stderr, "shrink_verify: %s\n", err);
    return 2;
  }
  sim *s = NULL;
  if (sim_new(&s, SIM_SWITCH_FCONTEXT, 0) != AS_OK) return 3;
  sim_schedule base;
  if (sim_schedule_decode(argv[2], &base, err, sizeof err) != AS_OK) {
    fprintf(stderr, "shrink_verify: %s\n", err);
    return 2;
  }
  int bad = 0, ex = 3;
  sim_result res;
  /* Strict: it replays, and fails as it should. */
  int rc = run(s, p, mutant, &base, 0, &res);
  if (rc != AS_OK || !same(&res, check)) {
    printf("FAIL: the schedule does not replay to a %s failure: %s %s\n", check,
           as_status_msg(rc), res.message);
    sim_result_clear(&res);
    ex = 1;
    goto out;
  }
  sim_result_clear(&res);
  /* Lenient, unchanged: the same run, and where its choices are. */
  rc = run(s, p, mutant, &base, 1, &res);
  if (rc != AS_OK || !same(&res, check)) {
    printf("FAIL: the lenient replay differs: %s %s\n", as_status_msg(rc), res.message);
    sim_result_clear(&res);
    ex = 1;
    goto out;
  }
  size_t nch = res.nchoice_at;
  uint64_t *at = nch ? malloc(nch * sizeof *at) : NULL;
  if (nch && !at) goto out;
  if (nch) memcpy(at, res.choice_at, nch * sizeof *at);
  sim_result_clear(&res);
  /* Every decision that took the default written as the default, as the
  ** shrinker measures "needed": a lowered choice then leaves the others
  ** meaning what they meant. The same run still. */
  for (size_t i = 0, k = 0; i < base.ndec; i++) {
    if (k < nch && at[k] == i)
      k++;
    else
      base.dec[i] = SIM_DECISION_DEFAULT;
  }
  rc = run(s, p, mutant, &base, 1, &res);
  if (rc != AS_OK || !same(&res, check) || res.choices != nch) {
    printf("FAIL: the normalised schedule differs: %s %s\n", as_status_msg(rc), res.message);
    sim_result_clear(&res);
    free(at);
    ex = 1;
    goto out;
  }
  sim_result_clear(&res);
  printf("%zu decisions, %zu faults, %zu wakeups to check\n", nch, base.nfaults, base.nwakeups);
  size_t pieces = nch + base.nfaults + base.nwakeups;
  for (size_t k = 0; k < pieces; k++) {
    sim_schedule c;
    if (copy_sched(&c, &base) != AS_OK) {
      free(at);
      goto out;
    }
    const char *what;
    if (k < nch) {
      what = "decision";
      c.dec[at[k]] = SIM_DECISION_DEFAULT;
    } else if (k < nch + base.nfaults) {
      what = "fault";
      size_t i = k - nch;
      memmove(c.faults + i, c.faults + i + 1, (c.nfaults - i - 1) * sizeof *c.faults);
      c.nfaults--;
    } else {
      what = "wakeup";
      size_t i = k - nch - base.nfaults;
      memmove(c.wakeups + i, c.wakeups + i + 1, (c.nwakeups - i - 1) * sizeof *c.wakeups);
      c.nwakeups--;
    }
    rc = run(s, p, mutant, &c, 1, &res);
    sim_schedule_clear(&c);
    int kept = rc == AS_OK && same(&res, check);
    printf("%s %zu: %s\n", what, k, kept ? "NOT needed (the failure stays without it)" : "needed");
    bad |= kept;
    sim_result_clear(&res);
  }
  free(at);
  ex = bad ? 1 : 0;
out:
  sim_schedule_clear(&base);
  sim_free(s);
  cli_programs_free();
  return ex;
}

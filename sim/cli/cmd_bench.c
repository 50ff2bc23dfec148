/*
** cmd_bench.c -- `agentsim bench`: context switches per second with the
** assembly switch and with ucontext, measured back to back in one run (the
** machines are noisy: the ratio is the figure to trust), seeds per second
** for every self-test, and for every bundled scenario seeds per second and
** steps per seed with I/O costing its latency and with `latency off` (the
** world before time flowed), the two run in alternating chunks of the same
** seeds so that the machine's noise falls on both alike.
*/
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "bench_threads.h"
#include "scenario/runner.h"
#include "scenario/scenario.h"
#include "selftest/programs.h"
#include "sweep.h"

/* Bars from the foundation issue. */
#define BAR_SWITCHES_PER_S 10e6
#define BAR_RATIO 5.0

/* The measurements' sizes: in full, and with --quick. */
static const struct bench_size {
  uint64_t frounds, urounds; /* fcontext and ucontext round trips */
  double budget;             /* seconds per program */
  unsigned hunt_runs;        /* the lock_noop hunt's runs each way */
} sizes[2] = {{20000000, 2000000, 1.0, 100}, {2000000, 200000, 0.2, 20}};

static sim_ctx bench_main, bench_task;

/* a / b, or 0 when nothing was measured (b is 0). */
static double per(double a, double b) { return b > 0 ? a / b : 0.0; }

static void bench_entry(void *arg) {
  (void)arg;
  for (;;) sim_ctx_switch(&bench_task, &bench_main);
}

/* Switches per second for `kind`: `rounds` round trips, two switches each. */
static AS_WUR int switch_rate(sim_switch_kind kind, uint64_t rounds, double *rate) {
  sim_stack st;
  int rc = sim_stack_alloc(&st, 64 * 1024);
  if (rc != AS_OK) return rc;
  sim_ctx_init_self(&bench_main, kind);
  rc = sim_ctx_make(&bench_task, kind, &st, bench_entry, NULL);
  if (rc != AS_OK) goto out;
  sim_ctx_switch(&bench_main, &bench_task); /* warm up */
  double t0 = sweep_now();
  for (uint64_t i = 0; i < rounds; i++) sim_ctx_switch(&bench_main, &bench_task);
  double dt = sweep_now() - t0;
  *rate = per((double)(2 * rounds), dt);
out:
  /* The task is parked inside bench_entry; its stack goes with it. */
  sim_stack_free(&st);
  return rc;
}

typedef struct prog_rate {
  const char *name;
  double seeds_per_s, steps_per_s, compression, steps_per_seed, ns_per_step;
  uint64_t seeds;
  int has_off;             /* a scenario: the `latency off` figures below */
  double off_seeds_per_s, off_steps_per_seed, off_ns_per_step;
} prog_rate;

/* Accumulated over chunks of seeds. */
typedef struct tally {
  uint64_t seeds, steps, vns;
  double secs;
} tally;

/* Seeds [first, first + n) of p into t. */
static AS_WUR int chunk(sim *s, const sim_program *p, uint64_t first, unsigned n, tally *t) {
  sim_config cfg;
  memset(&cfg, 0, sizeof cfg);
  double t0 = sweep_now();
  int rc = AS_OK;
  for (unsigned k = 0; k < n && rc == AS_OK; k++) {
    sim_result res;
    cfg.seed = first + k;
    rc = sim_run(s, p, &cfg, &res);
    if (rc == AS_OK) {
      t->steps += res.steps;
      t->vns += res.virtual_ns;
      t->seeds++;
      sim_result_clear(&res);
    }
  }
  t->secs += sweep_now() - t0;
  return rc;
}

static void rate_of(const tally *t, prog_rate *out) {
  out->seeds = t->seeds;
  out->seeds_per_s = per((double)t->seeds, t->secs);
  out->steps_per_s = per((double)t->steps, t->secs);
  out->compression = per((double)t->vns / 1e9, t->secs);
  out->steps_per_seed = per((double)t->steps, (double)t->seeds);
  out->ns_per_step = per(t->secs * 1e9, (double)t->steps);
}

/* The scenario p as it is and with `latency off`, alternating chunks of the
** same seeds for about 2 * budget seconds in all. */
static AS_WUR int scenario_rate(const sim_program *p, sim_switch_kind sw, double budget,
                                prog_rate *out) {
  const scn_runner *rn = p->user;
  scenario off;
  scn_runner *roff = NULL;
  sim *s = NULL;
  int rc = scn_copy(&off, scn_runner_scenario(rn));
  if (rc != AS_OK) return rc;
  off.latency.off = 1;
  off.latency.given = 0;
  rc = scn_runner_new(&roff, &off, NULL, 0);
  scn_clear(&off);
  if (rc == AS_OK) rc = sim_new(&s, sw, 0);
  tally on = {0, 0, 0, 0}, without = {0, 0, 0, 0};
  for (uint64_t first = 0; rc == AS_OK && on.secs + without.secs < 2 * budget; first += 16) {
    rc = chunk(s, p, first, 16, &on);
    if (rc == AS_OK) rc = chunk(s, scn_runner_program(roff), first, 16, &without);
  }
  sim_free(s);
  scn_runner_free(roff);
  memset(out, 0, sizeof *out);
  out->name = p->name;
  rate_of(&on, out);
  prog_rate o;
  rate_of(&without, &o);
  out->has_off = 1;
  out->off_seeds_per_s = o.seeds_per_s;
  out->off_steps_per_seed = o.steps_per_seed;
  out->off_ns_per_step = o.ns_per_step;
  return rc;
}

/* Run seeds of p in this process for about `budget` seconds. */
static AS_WUR int seeds_rate(const sim_program *p, sim_switch_kind sw, double budget, prog_rate *out) {
  /* All of it: the JSON writer reads has_off and the latency-off fields of
  ** every row, and stack garbage there (a NaN json_real refuses) made bench
  ** exit 3 now and then. */
  memset(out, 0, sizeof *out);
  sim *s = NULL;
  int rc = sim_new(&s, sw, 0);
  if (rc != AS_OK) return rc;
  sim_config cfg;
  memset(&cfg, 0, sizeof cfg);
  uint64_t n = 0, steps = 0, vns = 0;
  double t0 = sweep_now(), dt = 0;
  while (rc == AS_OK && dt < budget) {
    for (int k = 0; k < 64 && rc == AS_OK; k++) {
      sim_result res;
      cfg.seed = n++;
      rc = sim_run(s, p, &cfg, &res);
      if (rc == AS_OK) {
        steps += res.steps;
        vns += res.virtual_ns;
        sim_result_clear(&res);
      }
    }
    dt = sweep_now() - t0;
  }
  sim_free(s);
  out->name = p->name;
  out->seeds = n;
  out->seeds_per_s = (double)n / dt;
  out->steps_per_s = (double)steps / dt;
  out->compression = (double)vns / 1e9 / dt;
  return rc;
}

int cmd_bench(const cli_opts *o) {
  FILE *out = o->json ? stderr : stdout;
  const struct bench_size *z = &sizes[!!o->quick];
  double budget = z->budget;
  double frate = 0, urate = 0;
  int rc = switch_rate(SIM_SWITCH_FCONTEXT, z->frounds, &frate);
  if (rc == AS_OK) rc = switch_rate(SIM_SWITCH_UCONTEXT, z->urounds, &urate);
  if (rc != AS_OK) {
    cli_error("bench: %s", as_status_msg(rc));
    return EXIT_INTERNAL;
  }
  double ratio = per(frate, urate);
  fprintf(out, "context switch  fcontext %12.0f /s\n", frate);
  fprintf(out, "context switch  ucontext %12.0f /s\n", urate);
  fprintf(out, "ratio fcontext/ucontext  %12.1f x\n", ratio);

  prog_rate rates[16 + CLI_MAX_SCENARIOS];
  unsigned nr = 0;
  for (unsigned i = 0; i < selftest_count && nr < 16; i++, nr++) {
    rc = seeds_rate(selftests[i].prog, o->sw, budget, &rates[nr]);
    if (rc != AS_OK) {
      cli_error("bench: %s: %s", selftests[i].prog->name, as_status_msg(rc));
      return EXIT_INTERNAL;
    }
    fprintf(out, "%-20s %10.0f seeds/s %12.0f steps/s  time compression %.3g x\n", rates[nr].name,
            rates[nr].seeds_per_s, rates[nr].steps_per_s, rates[nr].compression);
  }
  /* Simulation against stress testing: lock_noop hunted both ways. */
  bench_hunt real = {0}, simh = {0};
  int have_hunt = 0;
  {
    char err[512];
    const sim_program *df = cli_find_program(CLI_BUNDLED_DIR "/double_finalize.scn", err,
                                             sizeof err);
    if (!df) {
      fprintf(out, "lock_noop hunt: skipped (%s)\n", err);
    } else {
      rc = bench_threads_vs_sim(df, z->hunt_runs, &real, &simh);
      if (rc != AS_OK) {
        cli_error("bench: the lock_noop hunt failed: %s", as_status_msg(rc));
        return EXIT_INTERNAL;
      }
      have_hunt = 1;
      double rps = per(real.seconds, real.detections);
      double sps = per(simh.seconds, simh.detections);
      fprintf(out, "lock_noop, real threads (%d threads, on-disk WAL): %u/%u runs detected it "
                   "in %.3f s", 4, real.detections, real.runs, real.seconds);
      if (real.detections) fprintf(out, ", %.4f s per detection", rps);
      fprintf(out, "\nlock_noop, sim (double_finalize): %u/%u seeds detected it in %.3f s",
              simh.detections, simh.runs, simh.seconds);
      if (simh.detections) fprintf(out, ", %.4f s per detection", sps);
      fputc('\n', out);
      if (real.detections && simh.detections)
        fprintf(out, "  the sim finds it %.1fx faster per detection\n", rps / sps);
      else if (!real.detections && simh.detections)
        fprintf(out, "  real threads found nothing in %.2f s\n", real.seconds);
    }
  }

  /* The bundled scenarios, when run from the project root: the runtime core
  ** on the simulated disk. Time compression = virtual time / wall time. */
  char *paths[CLI_MAX_SCENARIOS];
  unsigned nscn = cli_bundled_scenarios(paths, CLI_MAX_SCENARIOS);
  unsigned first_scn = nr;
  if (nscn)
    fprintf(out, "%-20s %-28s | %-28s | %s\n%-20s %8s %10s %8s | %8s %10s %8s | %s\n", "scenario",
            "I/O costs its latency", "latency off (I/O is free)", "time", "", "seeds/s",
            "steps/seed", "ns/step", "seeds/s", "steps/seed", "ns/step", "compression");
  for (unsigned i = 0; i < nscn; i++) {
    char err[512];
    const sim_program *p = cli_find_program(paths[i], err, sizeof err);
    if (!p) {
      cli_error("bench: %s", err);
      continue;
    }
    rc = scenario_rate(p, o->sw, budget, &rates[nr]);
    if (rc != AS_OK) {
      cli_error("bench: %s: %s", paths[i], as_status_msg(rc));
      continue;
    }
    const prog_rate *q = &rates[nr];
    fprintf(out, "%-20s %8.0f %10.0f %8.0f | %8.0f %10.0f %8.0f | %.3g x\n", q->name,
            q->seeds_per_s, q->steps_per_seed, q->ns_per_step, q->off_seeds_per_s,
            q->off_steps_per_seed, q->off_ns_per_step, q->compression);
    nr++;
  }
  for (unsigned i = 0; i < nscn; i++) free(paths[i]);
  int met = frate >= BAR_SWITCHES_PER_S && ratio >= BAR_RATIO;
  fprintf(out, "bars: >= %.0f switches/s and >= %.0fx ucontext: %s\n", BAR_SWITCHES_PER_S,
          BAR_RATIO, met ? "met" : "NOT met");
  if (o->json) {
    json_t *j = json_object(), *sw = json_object(), *st = json_array(), *sc = json_array();
    int bad = cli_jset(j, "command", json_string("bench"));
    bad |= cli_jset(sw, "fcontext_per_s", json_real(frate));
    bad |= cli_jset(sw, "ucontext_per_s", json_real(urate));
    bad |= cli_jset(sw, "ratio", json_real(ratio));
    bad |= cli_jset(j, "switch", sw);
    for (unsigned i = 0; i < nr; i++) {
      json_t *e = json_object();
      bad |= cli_jset(e, "name", cli_jstr(rates[i].name));
      bad |= cli_jset(e, "seeds", json_integer((json_int_t)rates[i].seeds));
      bad |= cli_jset(e, "seeds_per_s", json_real(rates[i].seeds_per_s));
      bad |= cli_jset(e, "steps_per_s", json_real(rates[i].steps_per_s));
      bad |= cli_jset(e, "steps_per_switch", json_real(per(rates[i].steps_per_s, frate)));
      bad |= cli_jset(e, "time_compression", json_real(rates[i].compression));
      if (rates[i].has_off) {
        json_t *f = json_object();
        bad |= cli_jset(e, "steps_per_seed", json_real(rates[i].steps_per_seed));
        bad |= cli_jset(e, "ns_per_step", json_real(rates[i].ns_per_step));
        bad |= cli_jset(f, "seeds_per_s", json_real(rates[i].off_seeds_per_s));
        bad |= cli_jset(f, "steps_per_seed", json_real(rates[i].off_steps_per_seed));
        bad |= cli_jset(f, "ns_per_step", json_real(rates[i].off_ns_per_step));
        bad |= cli_jset(e, "latency_off", f);
      }
      bad |= cli_jpush(i < first_scn ? st : sc, e);
    }
    bad |= cli_jset(j, "selftests", st);
    bad |= cli_jset(j, "scenarios", sc);
    if (have_hunt) {
      json_t *h = json_object(), *rt = json_object(), *sm = json_object();
      bad |= cli_jset(rt, "runs", json_integer(real.runs));
      bad |= cli_jset(rt, "detections", json_integer(real.detections));
      bad |= cli_jset(rt, "seconds", json_real(real.seconds));
      bad |= cli_jset(sm, "runs", json_integer(simh.runs));
      bad |= cli_jset(sm, "detections", json_integer(simh.detections));
      bad |= cli_jset(sm, "seconds", json_real(simh.seconds));
      bad |= cli_jset(h, "real_threads", rt);
      bad |= cli_jset(h, "sim", sm);
      bad |= cli_jset(j, "lock_noop_hunt", h);
    }
    bad |= cli_jset(j, "bars_met", json_boolean(met));
    if (cli_jemit(j, bad) != AS_OK) return EXIT_INTERNAL;
  }
  return met ? EXIT_PASS : EXIT_FOUND;
}

/*
** cmd_sweep.c -- `agentsim sweep`: many seeds of one or more scenarios, with
** worker processes, shards (given, or from the engine's environment), a
** JUnit report and a JSON summary (report.h writes them).
*/
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "report.h"
#include "shard_env.h"
#include "sweep.h"

unsigned cli_jobs(const cli_opts *o) {
  if (o->jobs) return o->jobs;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)(n > 256 ? 256 : n) : 1;
}

/* What must be the same in every shard of one sweep besides the seeds, the
** strategy and the scenarios (merge compares it whole), into j; 1 on failure. */
static int options_json(json_t *j, const cli_opts *o) {
  int bad = cli_jset(j, "mutant", cli_jstr(o->mutant));
  bad |= cli_jset(j, "swarm", json_boolean(o->swarm));
  bad |= cli_jset(j, "spurious_ppm", json_integer(cli_spurious_ppm(o)));
  bad |= cli_jset(j, "max_steps", json_integer((json_int_t)o->max_steps));
  bad |= cli_jset(j, "max_virtual_ns", json_integer((json_int_t)o->max_virtual_ns));
  bad |= cli_jset(j, "max_cpu_s", json_integer(o->max_cpu_s));
  bad |= cli_jset(j, "switch", json_string(o->sw == SIM_SWITCH_UCONTEXT ? "ucontext" : "fcontext"));
  return bad;
}

/* The sweep's JSON (docs/sharding.md lists its fields): what it ran, the
** totals, then each scenario as named with its buckets and failures. */
static AS_WUR int sweep_json(const cli_opts *o, const char *source, const rpt_scn *rs,
                             unsigned n, uint64_t runs, uint64_t failed, int ex) {
  char strat[64], build[64];
  cli_strategy_text(o, strat, sizeof strat);
  if (cli_build_id("/proc/self/exe", build, sizeof build) != AS_OK) {
    cli_error("sweep: cannot read its own executable (/proc/self/exe) for the build id: %s",
              strerror(errno));
    return AS_IO;
  }
  json_t *j = json_object(), *arr = json_array();
  int bad = cli_jset(j, "command", json_string("sweep"));
  bad |= cli_jset(j, "format", json_integer(RPT_FORMAT));
  bad |= cli_jset(j, "build", json_string(build));
  bad |= cli_jset(j, "strategy", cli_jstr(strat));
  bad |= cli_jset(j, "seed_start", cli_jseed(o->seed_start));
  bad |= cli_jset(j, "seeds", cli_jseed(o->seeds));
  json_t *opts = json_object();
  bad |= options_json(opts, o);
  bad |= cli_jset(j, "options", opts);
  if (o->shard_n) {
    char sh[32];
    snprintf(sh, sizeof sh, "%u/%u", o->shard_i, o->shard_n);
    bad |= cli_jset(j, "shard", json_string(sh));
  }
  if (source) bad |= cli_jset(j, "shard_source", cli_jstr(source));
  bad |= cli_jset(j, "runs", json_integer((json_int_t)runs));
  bad |= cli_jset(j, "failed", json_integer((json_int_t)failed));
  bad |= cli_jset(j, "result", json_string(ex == EXIT_PASS ? "pass" : ex == EXIT_FOUND ? "fail" : "error"));
  for (unsigned i = 0; i < n; i++) bad |= cli_jpush(arr, rpt_json(&rs[i]));
  bad |= cli_jset(j, "scenarios", arr);
  return cli_jemit(j, bad);
}

/* What the scenario is: its file's bytes, or a self-test's name. */
static AS_WUR int fingerprint(const char *scenario, const sim_program *p, char *out, size_t cap) {
  uint64_t h;
  if (!cli_program_is_scenario(p)) {
    h = cli_hash_text(p->name);
  } else if (cli_hash_file(scenario, &h) != AS_OK) {
    cli_error("sweep: %s: cannot read it again for its fingerprint: %s", scenario, strerror(errno));
    return AS_IO;
  }
  snprintf(out, cap, "%016" PRIx64, h);
  return AS_OK;
}

static const char *env(const char *name) { return getenv(name); }

/* --shard auto: the shard from the environment, said on stderr. */
static int resolve_shard(cli_opts *o, char *source, size_t cap) {
  char err[768];
  if (cli_shard_auto(env, &o->shard_i, &o->shard_n, source, cap, err, sizeof err) != AS_OK) {
    cli_error("sweep: %s", err);
    return EXIT_USAGE;
  }
  if (o->seeds < o->shard_n) {
    cli_error("sweep: --shard auto: shard %u/%u from %s, but only %" PRIu64 " seeds", o->shard_i,
              o->shard_n, source, o->seeds);
    return EXIT_USAGE;
  }
  fprintf(stderr, "sweep: shard %u/%u from %s\n", o->shard_i, o->shard_n, source);
  return EXIT_PASS;
}

int cmd_sweep(const cli_opts *given, const char *argv0) {
  char err[512], source[160];
  int ex = EXIT_PASS;
  cli_opts opts = *given, *o = &opts;
  unsigned n = o->nscenarios;
  sweep_spec specs[CLI_MAX_SCENARIOS];
  sweep_stats stats[CLI_MAX_SCENARIOS];
  rpt_scn rs[CLI_MAX_SCENARIOS];
  char strat[64];
  cli_strategy_text(o, strat, sizeof strat);
  memset(stats, 0, sizeof stats);
  memset(rs, 0, sizeof rs);
  if (o->shard_auto && (ex = resolve_shard(o, source, sizeof source)) != EXIT_PASS) return ex;
  if (o->seeds - 1 > UINT64_MAX - o->seed_start) {
    cli_error("sweep: --seed-start plus --seeds overflows 64 bits");
    return EXIT_USAGE;
  }
  for (unsigned i = 0; i < n; i++) {
    const sim_program *p = cli_find_program(o->scenarios[i], err, sizeof err);
    if (!p) {
      cli_error("%s", err);
      ex = EXIT_USAGE;
      goto out;
    }
    sweep_spec *sp = &specs[i];
    memset(sp, 0, sizeof *sp);
    sp->prog = p;
    cli_config(o, &sp->base);
    if (cli_mutant(o, p, &sp->base.mutant, err, sizeof err) != AS_OK) {
      cli_error("%s", err);
      ex = EXIT_USAGE;
      goto out;
    }
    sp->sw = o->sw;
    sp->start = o->seed_start;
    sp->count = o->seeds;
    sp->shard_i = o->shard_i;
    sp->shard_n = o->shard_n;
    sp->jobs = cli_jobs(o);
    sp->label = o->scenarios[i];
    sp->progress = isatty(STDERR_FILENO);
    rpt_scn *r = &rs[i];
    r->scenario = o->scenarios[i];
    r->name = p->name;
    r->start = sp->start;
    r->count = sp->count;
    r->shard_i = sp->shard_i;
    r->shard_n = sp->shard_n;
    r->st = &stats[i];
    if (o->json && fingerprint(r->scenario, p, r->fingerprint, sizeof r->fingerprint) != AS_OK) {
      ex = EXIT_USAGE;
      goto out;
    }
    if (rpt_set_replay(r, argv0, o) != AS_OK) {
      cli_error("sweep: out of memory");
      ex = EXIT_INTERNAL;
      goto out;
    }
  }
  FILE *out = o->json ? stderr : stdout;
  uint64_t total_runs = 0, total_failed = 0, total_harness = 0;
  int width = 22; /* the name column: the widest name, so the figures line up */
  for (unsigned i = 0; i < n; i++) {
    size_t len = strlen(o->scenarios[i]);
    if (len > (size_t)width) width = len > 64 ? 64 : (int)len;
  }
  for (unsigned i = 0; i < n && ex != EXIT_INTERNAL; i++) {
    const char *name = o->scenarios[i]; /* as the user named it, in every report */
    int rc = sweep_exec(&specs[i], &stats[i]);
    const sweep_stats *st = &stats[i];
    if (rc != AS_OK) {
      cli_error("sweep: %s: %s", name, st->error);
      if (st->has_dead_seed) {
        fputs("  replay: ", stderr);
        cli_print_replay(stderr, argv0, name, st->dead_seed, o);
      }
      ex = EXIT_INTERNAL;
      break;
    }
    total_runs += st->runs;
    total_failed += st->failed;
    total_harness += st->by_outcome[SIM_HARNESS];
    rpt_text(out, &rs[i], width, strat);
    if (st->failed) ex = EXIT_FOUND;
  }
  /* The harness could not look at some seeds: no clean verdict (exit 3). */
  if (total_harness && ex != EXIT_INTERNAL) {
    cli_error("sweep: %" PRIu64 " seeds ended in a harness error (the oracle could not look)",
              total_harness);
    ex = EXIT_INTERNAL;
  }
  if (ex != EXIT_INTERNAL && o->junit) {
    int jx = rpt_junit(o->junit, "sweep", rs, n);
    if (jx != EXIT_PASS) ex = jx;
  }
  if (ex == EXIT_INTERNAL)
    fprintf(out, "sweep: INCOMPLETE (see the error above): %" PRIu64 " runs before it, %" PRIu64
                 " failed\n", total_runs, total_failed);
  else
    fprintf(out, "sweep: %" PRIu64 " runs, %" PRIu64 " failed\n", total_runs, total_failed);
  if (o->json && sweep_json(o, o->shard_auto ? source : NULL, rs, n, total_runs, total_failed,
                            ex) != AS_OK)
    ex = EXIT_INTERNAL;
out:
  for (unsigned i = 0; i < n; i++) rpt_free(&rs[i]);
  for (unsigned i = 0; i < n; i++) sweep_stats_clear(&stats[i]);
  return ex;
}

/*
** cmd_sweep.c -- `agentsim sweep`: many seeds of one or more scenarios, with
** worker processes, shards, a JUnit report and a JSON summary.
*/
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "sweep.h"

/* How many failures per scenario are printed with their replay command. */
#define SHOW_FAILS 5

unsigned cli_jobs(const cli_opts *o) {
  if (o->jobs) return o->jobs;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)(n > 256 ? 256 : n) : 1;
}

static void xml_text(FILE *f, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '&': fputs("&amp;", f); break;
    case '"': fputs("&quot;", f); break;
    default:
      if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
        fputc(' ', f);
      else
        fputc(*s, f);
    }
  }
}

/* The kept details of a failing seed, if it is among the smallest kept. */
static const sweep_fail *find_fail(const sweep_stats *st, uint64_t seed) {
  size_t lo = 0, hi = st->nfails;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (st->fails[mid].seed < seed)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < st->nfails && st->fails[lo].seed == seed ? &st->fails[lo] : NULL;
}

/* A testsuite per scenario (named as the user named it), a testcase per
** seed; written to a temporary file beside FILE and renamed, so a reader
** never sees half a report and two shards writing one path do not mix. */
static AS_WUR int write_junit(const cli_opts *o, const char *argv0, const sweep_spec *specs,
                              const sweep_stats *stats, unsigned n) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.XXXXXX", o->junit);
  int fd = mkstemp(tmp);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f) {
    cli_error("sweep: --junit %s: cannot write %s: %s", o->junit, tmp, strerror(errno));
    if (fd >= 0) {
      (void)close(fd); /* ignore: already failing */
      (void)unlink(tmp); /* ignore: already failing */
    }
    return EXIT_USAGE;
  }
  fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n", f);
  for (unsigned i = 0; i < n; i++) {
    const sweep_spec *sp = &specs[i];
    const sweep_stats *st = &stats[i];
    fputs("  <testsuite name=\"", f);
    xml_text(f, o->scenarios[i]);
    fprintf(f, "\" tests=\"%" PRIu64 "\" failures=\"%" PRIu64 "\" time=\"%.3f\">\n", st->runs,
            st->failed, st->wall_s);
    size_t fi = 0;
    for (uint64_t idx = 0; idx < sp->count; idx++) {
      if (sp->shard_n && idx % sp->shard_n != sp->shard_i - 1) continue;
      uint64_t seed = sp->start + idx;
      fprintf(f, "    <testcase classname=\"");
      xml_text(f, o->scenarios[i]);
      fprintf(f, "\" name=\"seed %" PRIu64 "\"", seed);
      while (fi < st->nfail_seeds && st->fail_seeds[fi] < seed) fi++;
      if (fi < st->nfail_seeds && st->fail_seeds[fi] == seed) {
        const sweep_fail *fl = find_fail(st, seed);
        fprintf(f, ">\n      <failure type=\"%s\" message=\"",
                fl ? sim_outcome_name(fl->outcome) : "failure");
        xml_text(f, fl ? fl->msg : "details are kept for the smallest failing seeds only: replay it");
        fputs("\">replay: ", f);
        char cmd[CLI_CMD_MAX];
        cli_replay_text(cmd, sizeof cmd, argv0, o->scenarios[i], seed, o);
        xml_text(f, cmd);
        fputs("</failure>\n    </testcase>\n", f);
      } else {
        fputs("/>\n", f);
      }
    }
    fputs("  </testsuite>\n", f);
  }
  fputs("</testsuites>\n", f);
  int bad = ferror(f);
  if (fclose(f) != 0) bad = 1;
  if (bad || rename(tmp, o->junit) != 0) {
    cli_error("sweep: --junit %s: write failed: %s", o->junit, strerror(errno));
    (void)unlink(tmp); /* ignore: nothing more to do about a broken report */
    return EXIT_INTERNAL;
  }
  return EXIT_PASS;
}

/* The sweep's JSON: the totals, then each scenario (as named) with its
** failures and their replay commands. */
static AS_WUR int sweep_json(const cli_opts *o, const char *argv0, const sweep_spec *specs,
                             const sweep_stats *stats, unsigned n, uint64_t runs,
                             uint64_t failed, int ex) {
  char strat[64];
  cli_strategy_text(o, strat, sizeof strat);
  json_t *j = json_object(), *arr = json_array();
  int bad = cli_jset(j, "command", json_string("sweep"));
  bad |= cli_jset(j, "strategy", cli_jstr(strat));
  bad |= cli_jset(j, "seed_start", cli_jseed(o->seed_start));
  bad |= cli_jset(j, "seeds", cli_jseed(o->seeds));
  if (o->shard_n) {
    char sh[32];
    snprintf(sh, sizeof sh, "%u/%u", o->shard_i, o->shard_n);
    bad |= cli_jset(j, "shard", json_string(sh));
  }
  bad |= cli_jset(j, "runs", json_integer((json_int_t)runs));
  bad |= cli_jset(j, "failed", json_integer((json_int_t)failed));
  bad |= cli_jset(j, "result", json_string(ex == EXIT_PASS ? "pass" : ex == EXIT_FOUND ? "fail" : "error"));
  for (unsigned i = 0; i < n; i++) {
    const sweep_stats *st = &stats[i];
    json_t *e = json_object(), *fl = json_array();
    bad |= cli_jset(e, "scenario", cli_jstr(o->scenarios[i]));
    bad |= cli_jset(e, "name", cli_jstr(specs[i].prog->name));
    bad |= cli_jset(e, "runs", json_integer((json_int_t)st->runs));
    bad |= cli_jset(e, "failed", json_integer((json_int_t)st->failed));
    bad |= cli_jset(e, "harness_errors", json_integer((json_int_t)st->by_outcome[SIM_HARNESS]));
    bad |= cli_jset(e, "seconds", json_real(st->wall_s));
    for (size_t k = 0; k < st->nfails && k < 100; k++) {
      const sweep_fail *f = &st->fails[k];
      char cmd[CLI_CMD_MAX], hash[24];
      cli_replay_text(cmd, sizeof cmd, argv0, o->scenarios[i], f->seed, o);
      snprintf(hash, sizeof hash, "%016" PRIx64, f->hash);
      json_t *x = json_object();
      bad |= cli_jset(x, "seed", cli_jseed(f->seed));
      bad |= cli_jset(x, "outcome", json_string(sim_outcome_name(f->outcome)));
      bad |= cli_jset(x, "trace_hash", json_string(hash));
      bad |= cli_jset(x, "message", cli_jstr(f->msg));
      bad |= cli_jset(x, "replay", cli_jstr(cmd));
      bad |= cli_jpush(fl, x);
    }
    bad |= cli_jset(e, "failures", fl);
    bad |= cli_jpush(arr, e);
  }
  bad |= cli_jset(j, "scenarios", arr);
  return cli_jemit(j, bad);
}

int cmd_sweep(const cli_opts *o, const char *argv0) {
  char err[512];
  int ex = EXIT_PASS;
  unsigned n = o->nscenarios;
  sweep_spec specs[CLI_MAX_SCENARIOS];
  sweep_stats stats[CLI_MAX_SCENARIOS];
  char strat[64];
  cli_strategy_text(o, strat, sizeof strat);
  memset(stats, 0, sizeof stats);
  for (unsigned i = 0; i < n; i++) {
    const sim_program *p = cli_find_program(o->scenarios[i], err, sizeof err);
    if (!p) {
      cli_error("%s", err);
      return EXIT_USAGE;
    }
    sweep_spec *sp = &specs[i];
    memset(sp, 0, sizeof *sp);
    sp->prog = p;
    cli_config(o, &sp->base);
    if (cli_mutant(o, p, &sp->base.mutant, err, sizeof err) != AS_OK) {
      cli_error("%s", err);
      return EXIT_USAGE;
    }
    sp->sw = o->sw;
    sp->start = o->seed_start;
    sp->count = o->seeds;
    if (o->seeds - 1 > UINT64_MAX - o->seed_start) {
      cli_error("sweep: --seed-start plus --seeds overflows 64 bits");
      return EXIT_USAGE;
    }
    sp->shard_i = o->shard_i;
    sp->shard_n = o->shard_n;
    sp->jobs = cli_jobs(o);
    sp->label = o->scenarios[i];
    sp->progress = isatty(STDERR_FILENO);
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
    fprintf(out, "%-*s %-10s %8" PRIu64 " seeds %6" PRIu64 " failed %10.0f seeds/s\n", width,
            name, strat, st->runs, st->failed, st->wall_s > 0 ? (double)st->runs / st->wall_s : 0.0);
    for (size_t k = 0; k < st->nfails && k < SHOW_FAILS; k++) {
      const sweep_fail *f = &st->fails[k];
      const char *nl = strchr(f->msg, '\n');
      int len = nl ? (int)(nl - f->msg) : (int)strlen(f->msg);
      fprintf(out, "  FAIL seed %" PRIu64 " (%s): %.*s\n    replay: ", f->seed,
              sim_outcome_name(f->outcome), len, f->msg);
      cli_print_replay(out, argv0, name, f->seed, o);
    }
    if (st->failed > SHOW_FAILS)
      fprintf(out, "  ... and %" PRIu64 " more failing seeds\n", st->failed - SHOW_FAILS);
    if (st->failed) ex = EXIT_FOUND;
  }
  /* The harness could not look at some seeds: no clean verdict (exit 3). */
  if (total_harness && ex != EXIT_INTERNAL) {
    cli_error("sweep: %" PRIu64 " seeds ended in a harness error (the oracle could not look)",
              total_harness);
    ex = EXIT_INTERNAL;
  }
  if (ex != EXIT_INTERNAL && o->junit) {
    int jx = write_junit(o, argv0, specs, stats, n);
    if (jx != EXIT_PASS) ex = jx;
  }
  if (ex == EXIT_INTERNAL)
    fprintf(out, "sweep: INCOMPLETE (see the error above): %" PRIu64 " runs before it, %" PRIu64
                 " failed\n", total_runs, total_failed);
  else
    fprintf(out, "sweep: %" PRIu64 " runs, %" PRIu64 " failed\n", total_runs, total_failed);
  if (o->json && sweep_json(o, argv0, specs, stats, n, total_runs, total_failed, ex) != AS_OK)
    ex = EXIT_INTERNAL;
  for (unsigned i = 0; i < n; i++) sweep_stats_clear(&stats[i]);
  return ex;
}

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

/* A testsuite per scenario, a testcase per seed; written to a temporary file
** beside FILE and renamed, so a reader never sees half a report and two
** shards writing one path do not mix. */
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
    xml_text(f, sp->prog->name);
    fprintf(f, "\" tests=\"%" PRIu64 "\" failures=\"%" PRIu64 "\" time=\"%.3f\">\n", st->runs,
            st->failed, st->wall_s);
    size_t fi = 0;
    for (uint64_t idx = 0; idx < sp->count; idx++) {
      if (sp->shard_n && idx % sp->shard_n != sp->shard_i - 1) continue;
      uint64_t seed = sp->start + idx;
      fprintf(f, "    <testcase classname=\"");
      xml_text(f, sp->prog->name);
      fprintf(f, "\" name=\"seed %" PRIu64 "\"", seed);
      while (fi < st->nfail_seeds && st->fail_seeds[fi] < seed) fi++;
      if (fi < st->nfail_seeds && st->fail_seeds[fi] == seed) {
        const sweep_fail *fl = find_fail(st, seed);
        fprintf(f, ">\n      <failure type=\"%s\" message=\"",
                fl ? sim_outcome_name(fl->outcome) : "failure");
        xml_text(f, fl ? fl->msg : "details are kept for the smallest failing seeds only: replay it");
        fputs("\">replay: ", f);
        char cmd[1024];
        cli_replay_text(cmd, sizeof cmd, argv0, sp->prog->name, seed, o);
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
    sp->label = p->name;
    sp->progress = isatty(STDERR_FILENO);
  }
  FILE *out = o->json ? stderr : stdout;
  uint64_t total_runs = 0, total_failed = 0;
  for (unsigned i = 0; i < n && ex != EXIT_INTERNAL; i++) {
    int rc = sweep_exec(&specs[i], &stats[i]);
    const sweep_stats *st = &stats[i];
    if (rc != AS_OK) {
      cli_error("sweep: %s: %s", specs[i].prog->name, st->error);
      if (st->has_dead_seed) {
        fputs("  replay: ", stderr);
        cli_print_replay(stderr, argv0, specs[i].prog->name, st->dead_seed, o);
      }
      ex = EXIT_INTERNAL;
      break;
    }
    total_runs += st->runs;
    total_failed += st->failed;
    fprintf(out, "%-22s %-10s %8" PRIu64 " seeds %6" PRIu64 " failed %10.0f seeds/s\n",
            specs[i].prog->name, strat, st->runs, st->failed,
            st->wall_s > 0 ? (double)st->runs / st->wall_s : 0.0);
    for (size_t k = 0; k < st->nfails && k < SHOW_FAILS; k++) {
      const sweep_fail *f = &st->fails[k];
      const char *nl = strchr(f->msg, '\n');
      int len = nl ? (int)(nl - f->msg) : (int)strlen(f->msg);
      fprintf(out, "  FAIL seed %" PRIu64 " (%s): %.*s\n    replay: ", f->seed,
              sim_outcome_name(f->outcome), len, f->msg);
      cli_print_replay(out, argv0, specs[i].prog->name, f->seed, o);
    }
    if (st->failed > SHOW_FAILS)
      fprintf(out, "  ... and %" PRIu64 " more failing seeds\n", st->failed - SHOW_FAILS);
    if (st->failed) ex = EXIT_FOUND;
  }
  if (ex != EXIT_INTERNAL && o->junit) {
    int jx = write_junit(o, argv0, specs, stats, n);
    if (jx != EXIT_PASS) ex = jx;
  }
  fprintf(out, "sweep: %" PRIu64 " runs, %" PRIu64 " failed\n", total_runs, total_failed);
  if (o->json) {
    printf("{\"command\":\"sweep\",\"strategy\":");
    json_str(stdout, strat);
    printf(",\"seed_start\":%" PRIu64 ",\"seeds\":%" PRIu64, o->seed_start, o->seeds);
    if (o->shard_n) printf(",\"shard\":\"%u/%u\"", o->shard_i, o->shard_n);
    printf(",\"runs\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"result\":\"%s\",\"scenarios\":[",
           total_runs, total_failed,
           ex == EXIT_PASS ? "pass" : ex == EXIT_FOUND ? "fail" : "error");
    for (unsigned i = 0; i < n; i++) {
      const sweep_stats *st = &stats[i];
      if (i) putchar(',');
      printf("{\"scenario\":");
      json_str(stdout, specs[i].prog->name);
      printf(",\"runs\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"seconds\":%.3f,\"failures\":[",
             st->runs, st->failed, st->wall_s);
      for (size_t k = 0; k < st->nfails && k < 100; k++) {
        const sweep_fail *f = &st->fails[k];
        char cmd[1024];
        cli_replay_text(cmd, sizeof cmd, argv0, specs[i].prog->name, f->seed, o);
        if (k) putchar(',');
        printf("{\"seed\":%" PRIu64 ",\"outcome\":\"%s\",\"trace_hash\":\"%016" PRIx64
               "\",\"message\":",
               f->seed, sim_outcome_name(f->outcome), f->hash);
        json_str(stdout, f->msg);
        printf(",\"replay\":");
        json_str(stdout, cmd);
        putchar('}');
      }
      printf("]}");
    }
    printf("]}\n");
    cli_json_done();
  }
  for (unsigned i = 0; i < n; i++) sweep_stats_clear(&stats[i]);
  return ex;
}

/*
** report.c -- a sweep's findings as text, JSON and JUnit (report.h).
*/
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int rpt_has_seed(const rpt_scn *r, uint64_t idx) {
  if (!r->shard_n) return 1;
  unsigned k = (unsigned)(idx % r->shard_n);
  return r->shard_i ? k == r->shard_i - 1 : r->present[k] != 0;
}

void rpt_replay(const rpt_scn *r, uint64_t seed, char *buf, size_t cap) {
  snprintf(buf, cap, "%s%" PRIu64 "%s", r->replay_prefix, seed, r->replay_suffix);
}

char *rpt_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

int rpt_set_replay(rpt_scn *r, const char *argv0, const cli_opts *o) {
  /* The command for seeds 0 and 1 differ in that one digit alone. */
  char *a = malloc(CLI_CMD_MAX), *b = malloc(CLI_CMD_MAX);
  int rc = AS_NOMEM;
  if (!a || !b) goto out;
  cli_replay_text(a, CLI_CMD_MAX, argv0, r->scenario, 0, o);
  cli_replay_text(b, CLI_CMD_MAX, argv0, r->scenario, 1, o);
  size_t p = 0;
  while (a[p] == b[p]) p++;
  r->replay_suffix = rpt_strdup(a + p + 1);
  a[p] = '\0';
  r->replay_prefix = rpt_strdup(a);
  if (r->replay_prefix && r->replay_suffix) rc = AS_OK;
out:
  free(a);
  free(b);
  return rc;
}

void rpt_free(rpt_scn *r) {
  free(r->replay_prefix);
  free(r->replay_suffix);
  r->replay_prefix = r->replay_suffix = NULL;
}

void rpt_text(FILE *out, const rpt_scn *r, int width, const char *strat) {
  const sweep_stats *st = r->st;
  fprintf(out, "%-*s %-10s %8" PRIu64 " seeds %6" PRIu64 " failed %10.0f seeds/s\n", width,
          r->scenario, strat, st->runs, st->failed,
          st->wall_s > 0 ? (double)st->runs / st->wall_s : 0.0);
  char cmd[CLI_CMD_MAX];
  for (size_t k = 0; k < st->nfails && k < RPT_SHOW_FAILS; k++) {
    const sweep_fail *f = &st->fails[k];
    const char *nl = strchr(f->msg, '\n');
    int len = nl ? (int)(nl - f->msg) : (int)strlen(f->msg);
    rpt_replay(r, f->seed, cmd, sizeof cmd);
    fprintf(out, "  FAIL seed %" PRIu64 " (%s): %.*s\n    replay: %s\n", f->seed,
            sim_outcome_name((sim_outcome)f->outcome), len, f->msg, cmd);
  }
  if (st->failed > RPT_SHOW_FAILS)
    fprintf(out, "  ... and %" PRIu64 " more failing seeds\n", st->failed - RPT_SHOW_FAILS);
  unsigned nb = bkt_count(&st->buckets);
  if (!nb) return;
  fprintf(out, "  buckets: %u distinct failure signature%s, biggest first\n", nb,
          nb == 1 ? "" : "s");
  for (uint32_t i = 0; i < nb; i++) {
    const bkt *b = bkt_at(&st->buckets, i < st->buckets.n ? i : BKT_OTHER);
    rpt_replay(r, b->smallest, cmd, sizeof cmd);
    fprintf(out, "  %8" PRIu64 " x %s\n             smallest seed %" PRIu64 ": %s\n", b->count,
            b->sig, b->smallest, cmd);
  }
}

static json_t *hex64(uint64_t v) {
  char s[24];
  snprintf(s, sizeof s, "%016" PRIx64, v);
  return json_string(s);
}

static json_t *buckets_json(const rpt_scn *r) {
  const sweep_stats *st = r->st;
  unsigned nb = bkt_count(&st->buckets);
  json_t *arr = json_array(), *seeds[BKT_MAX + 1];
  int bad = !arr;
  for (unsigned i = 0; i < nb; i++) seeds[i] = json_array();
  for (size_t k = 0; k < st->nfail_seeds && !bad; k++) {
    uint32_t b = st->fail_seeds[k].bucket;
    bad |= cli_jpush(seeds[b == BKT_OTHER ? st->buckets.n : b], cli_jseed(st->fail_seeds[k].seed));
  }
  char cmd[CLI_CMD_MAX];
  for (uint32_t i = 0; i < nb; i++) {
    const bkt *b = bkt_at(&st->buckets, i < st->buckets.n ? i : BKT_OTHER);
    json_t *o = json_object();
    rpt_replay(r, b->smallest, cmd, sizeof cmd);
    bad |= cli_jset(o, "signature", cli_jstr(b->sig));
    bad |= cli_jset(o, "outcome", b->outcome < 0 ? json_null()
                                                 : json_string(sim_outcome_name((sim_outcome)b->outcome)));
    if (i >= st->buckets.n) bad |= cli_jset(o, "overflow", json_true());
    bad |= cli_jset(o, "count", json_integer((json_int_t)b->count));
    bad |= cli_jset(o, "smallest_seed", cli_jseed(b->smallest));
    bad |= cli_jset(o, "replay", cli_jstr(cmd));
    bad |= cli_jset(o, "seeds", seeds[i]);
    seeds[i] = NULL;
    bad |= cli_jpush(arr, o);
  }
  for (unsigned i = 0; i < nb; i++) json_decref(seeds[i]); /* those not handed over */
  if (bad) {
    json_decref(arr);
    return NULL;
  }
  return arr;
}

json_t *rpt_json(const rpt_scn *r) {
  const sweep_stats *st = r->st;
  json_t *e = json_object(), *fl = json_array();
  int bad = cli_jset(e, "scenario", cli_jstr(r->scenario));
  bad |= cli_jset(e, "name", cli_jstr(r->name));
  bad |= cli_jset(e, "fingerprint", json_string(r->fingerprint));
  bad |= cli_jset(e, "runs", json_integer((json_int_t)st->runs));
  bad |= cli_jset(e, "failed", json_integer((json_int_t)st->failed));
  bad |= cli_jset(e, "harness_errors", json_integer((json_int_t)st->by_outcome[SIM_HARNESS]));
  bad |= cli_jset(e, "seconds", json_real(st->wall_s));
  bad |= cli_jset(e, "digest", hex64(st->digest));
  bad |= cli_jset(e, "replay_prefix", cli_jstr(r->replay_prefix));
  bad |= cli_jset(e, "replay_suffix", cli_jstr(r->replay_suffix));
  bad |= cli_jset(e, "buckets", buckets_json(r));
  char cmd[CLI_CMD_MAX];
  for (size_t k = 0; k < st->nfails; k++) {
    const sweep_fail *f = &st->fails[k];
    rpt_replay(r, f->seed, cmd, sizeof cmd);
    json_t *x = json_object();
    bad |= cli_jset(x, "seed", cli_jseed(f->seed));
    bad |= cli_jset(x, "outcome", json_string(sim_outcome_name((sim_outcome)f->outcome)));
    bad |= cli_jset(x, "signature", cli_jstr(bkt_at(&st->buckets, f->bucket)->sig));
    bad |= cli_jset(x, "trace_hash", hex64(f->hash));
    bad |= cli_jset(x, "steps", json_integer((json_int_t)f->steps));
    bad |= cli_jset(x, "message", cli_jstr(f->msg));
    bad |= cli_jset(x, "replay", cli_jstr(cmd));
    bad |= cli_jpush(fl, x);
  }
  bad |= cli_jset(e, "failures", fl);
  if (bad) {
    json_decref(e);
    return NULL;
  }
  return e;
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

/* The buckets as the suite's properties: a CI page lists them. */
static void junit_props(FILE *f, const rpt_scn *r, char *cmd, size_t cap) {
  const sweep_stats *st = r->st;
  unsigned nb = bkt_count(&st->buckets);
  if (!nb) return;
  fprintf(f, "    <properties>\n      <property name=\"buckets\" value=\"%u\"/>\n", nb);
  for (uint32_t i = 0; i < nb; i++) {
    const bkt *b = bkt_at(&st->buckets, i < st->buckets.n ? i : BKT_OTHER);
    rpt_replay(r, b->smallest, cmd, cap);
    fprintf(f, "      <property name=\"bucket %u\" value=\"", i + 1);
    fprintf(f, "%" PRIu64 " x ", b->count);
    xml_text(f, b->sig);
    fprintf(f, "; smallest seed %" PRIu64 ": ", b->smallest);
    xml_text(f, cmd);
    fputs("\"/>\n", f);
  }
  fputs("    </properties>\n", f);
}

static void junit_suite(FILE *f, const rpt_scn *r, char *cmd, size_t cap) {
  const sweep_stats *st = r->st;
  fputs("  <testsuite name=\"", f);
  xml_text(f, r->scenario);
  fprintf(f, "\" tests=\"%" PRIu64 "\" failures=\"%" PRIu64 "\" time=\"%.3f\">\n", st->runs,
          st->failed, st->wall_s);
  junit_props(f, r, cmd, cap);
  size_t fi = 0;
  for (uint64_t idx = 0; idx < r->count; idx++) {
    if (!rpt_has_seed(r, idx)) continue;
    uint64_t seed = r->start + idx;
    fputs("    <testcase classname=\"", f);
    xml_text(f, r->scenario);
    fprintf(f, "\" name=\"seed %" PRIu64 "\"", seed);
    while (fi < st->nfail_seeds && st->fail_seeds[fi].seed < seed) fi++;
    if (fi < st->nfail_seeds && st->fail_seeds[fi].seed == seed) {
      const sweep_fail *fl = find_fail(st, seed);
      fputs(">\n      <failure type=\"", f);
      xml_text(f, bkt_at(&st->buckets, st->fail_seeds[fi].bucket)->sig);
      fputs("\" message=\"", f);
      xml_text(f, fl ? fl->msg : "details are kept for the smallest failing seeds only: replay it");
      fputs("\">replay: ", f);
      rpt_replay(r, seed, cmd, cap);
      xml_text(f, cmd);
      fputs("</failure>\n    </testcase>\n", f);
    } else {
      fputs("/>\n", f);
    }
  }
  fputs("  </testsuite>\n", f);
}

int rpt_junit(const char *path, const char *cmdname, const rpt_scn *rs, unsigned n) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
  int fd = mkstemp(tmp);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f) {
    cli_error("%s: --junit %s: cannot write %s: %s", cmdname, path, tmp, strerror(errno));
    if (fd >= 0) {
      (void)close(fd); /* ignore: already failing */
      (void)unlink(tmp); /* ignore: already failing */
    }
    return EXIT_USAGE;
  }
  char *cmd = malloc(CLI_CMD_MAX);
  int bad = !cmd;
  fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n", f);
  for (unsigned i = 0; i < n && cmd; i++) junit_suite(f, &rs[i], cmd, CLI_CMD_MAX);
  fputs("</testsuites>\n", f);
  free(cmd);
  bad |= ferror(f);
  if (fclose(f) != 0) bad = 1;
  if (bad || rename(tmp, path) != 0) {
    cli_error("%s: --junit %s: write failed: %s", cmdname, path, cmd ? strerror(errno) : "out of memory");
    (void)unlink(tmp); /* ignore: nothing more to do about a broken report */
    return EXIT_INTERNAL;
  }
  return EXIT_PASS;
}

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

uint64_t cli_hash_text(const char *s) {
  uint64_t h = FNV_OFFSET;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * FNV_PRIME;
  return h;
}

int cli_hash_file(const char *path, uint64_t *h) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return AS_IO;
  unsigned char buf[65536];
  uint64_t v = FNV_OFFSET;
  int rc = AS_OK;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) rc = AS_IO;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; i++) v = (v ^ buf[i]) * FNV_PRIME;
  }
  (void)close(fd); /* ignore: a file only read */
  *h = v;
  return rc;
}

int cli_build_id(const char *exe, char *buf, size_t cap) {
  uint64_t h;
  int rc = cli_hash_file(exe, &h);
  if (rc == AS_OK) snprintf(buf, cap, "%s+%016" PRIx64, CLI_VERSION, h);
  return rc;
}

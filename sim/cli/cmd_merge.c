/*
** cmd_merge.c -- `agentsim merge RESULT.json...`: the JSON results of a
** sweep's shards (sweep --json) read back as one sweep of all their seeds,
** and written as sweep writes its own (report.h).
**
** Every shard must come from one build, the same scenarios (fingerprints),
** seed range, strategy and options; a shard given twice, a shard that did
** not run all its seeds, and a file whose figures do not add up are refused
** (exit 2, naming the files). Shards missing from the set are named, the
** report covers the others, and the exit is 2: a partial merge is no verdict.
*/
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "report.h"
#include "shard_env.h"
#include "sweep.h"

/* A result bigger than this is not one a sweep wrote. */
#define MERGE_FILE_MAX (1024ll * 1024 * 1024)

typedef struct mscn {
  rpt_scn r;
  sweep_stats st;
  char *scenario, *name;
} mscn;

typedef struct merge {
  const char *first;     /* the file the others are compared with */
  json_t *head;          /* its build, strategy, seed range and options */
  uint64_t start, count;  /* the seed range */
  unsigned shard_n, merged;
  const char **who;      /* shard_n: the file that gave shard k+1, or NULL */
  unsigned char *present;
  unsigned nscn;
  mscn *scn;
  uint64_t runs, failed, harness;
} merge;

/* The fields compared across shards: they must be equal in every file. */
static const char *const same_fields[] = {"build", "strategy", "seed_start", "seeds", "options"};

static int refuse(const char *fmt, ...) AS_PRINTF(1, 2);
static int refuse(const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  (void)vsnprintf(msg, sizeof msg, fmt, ap); /* ignore: a cut message still reads */
  va_end(ap);
  cli_error("merge: %s", msg);
  return EXIT_USAGE;
}

static int expected(const char *file, const char *where, const char *what) {
  return refuse("%s: %s: expected %s", file, where, what);
}

static int get_str(json_t *o, const char *key, const char *file, const char *where,
                   const char **v) {
  json_t *x = json_object_get(o, key);
  if (!json_is_string(x)) {
    char at[160];
    snprintf(at, sizeof at, "%s%s\"%s\"", where, where[0] ? "." : "", key);
    return expected(file, at, "a string");
  }
  *v = json_string_value(x);
  return EXIT_PASS;
}

/* An unsigned integer: a JSON integer, or its digits as a string (a seed
** past INT64_MAX, cli_jseed). */
static int get_u64(json_t *o, const char *key, const char *file, const char *where, uint64_t *v) {
  json_t *x = json_object_get(o, key);
  if (json_is_integer(x) && json_integer_value(x) >= 0) {
    *v = (uint64_t)json_integer_value(x);
    return EXIT_PASS;
  }
  if (json_is_string(x) && cli_parse_u64(json_string_value(x), v) == AS_OK) return EXIT_PASS;
  char at[160];
  snprintf(at, sizeof at, "%s%s\"%s\"", where, where[0] ? "." : "", key);
  return expected(file, at, "a non-negative integer");
}

static int get_hex(json_t *o, const char *key, const char *file, const char *where, uint64_t *v) {
  const char *s = "";
  int ex = get_str(o, key, file, where, &s);
  if (ex != EXIT_PASS) return ex;
  char *end;
  errno = 0;
  unsigned long long u = strtoull(s, &end, 16);
  if (strlen(s) != 16 || *end || errno) {
    char at[160];
    snprintf(at, sizeof at, "%s.\"%s\"", where, key);
    return expected(file, at, "16 hex digits");
  }
  *v = u;
  return EXIT_PASS;
}

static int outcome_of(const char *name) {
  for (int k = 0; k < SIM__OUTCOME_COUNT; k++)
    if (strcmp(sim_outcome_name((sim_outcome)k), name) == 0) return k;
  return -1;
}

/* "I/N" (absent: an unsharded sweep, 1/1). */
static int shard_of(json_t *root, const char *file, unsigned *i, unsigned *n) {
  json_t *x = json_object_get(root, "shard");
  *i = *n = 1;
  if (!x) return EXIT_PASS;
  const char *s = json_string_value(x), *slash = s ? strchr(s, '/') : NULL;
  uint64_t a, b;
  char num[24];
  if (slash && slash > s && slash - s < (ptrdiff_t)sizeof num) {
    memcpy(num, s, (size_t)(slash - s));
    num[slash - s] = '\0';
    if (cli_parse_u64(num, &a) == AS_OK && cli_parse_u64(slash + 1, &b) == AS_OK && b &&
        b <= CLI_SHARD_MAX && a && a <= b) {
      *i = (unsigned)a;
      *n = (unsigned)b;
      return EXIT_PASS;
    }
  }
  return expected(file, "\"shard\"", "\"I/N\" with 1 <= I <= N");
}

/* The first file sets what the others must match. */
static int take_head(merge *m, json_t *root, const char *file, unsigned n, unsigned nscn,
                     uint64_t start, uint64_t count) {
  m->first = file;
  m->start = start;
  m->count = count;
  m->head = json_object();
  int bad = !m->head;
  for (size_t k = 0; k < sizeof same_fields / sizeof same_fields[0] && !bad; k++)
    bad = json_object_set(m->head, same_fields[k], json_object_get(root, same_fields[k])) != 0;
  m->shard_n = n;
  m->who = calloc(n, sizeof *m->who);
  m->present = calloc(n, 1);
  m->scn = calloc(nscn, sizeof *m->scn);
  if (bad || !m->who || !m->present || !m->scn) return EXIT_INTERNAL;
  m->nscn = nscn;
  return EXIT_PASS;
}

static int check_head(const merge *m, json_t *root, const char *file) {
  for (size_t k = 0; k < sizeof same_fields / sizeof same_fields[0]; k++) {
    json_t *a = json_object_get(m->head, same_fields[k]), *b = json_object_get(root, same_fields[k]);
    if (json_equal(a, b)) continue;
    char *ta = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
    char *tb = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
    int ex = refuse("%s and %s are not shards of one sweep: %s %s is %.200s in one and %.200s in "
                    "the other%s", m->first, file, !strcmp(same_fields[k], "build") ? "their" : "the",
                    same_fields[k], ta ? ta : "?", tb ? tb : "?",
                    !strcmp(same_fields[k], "build") ? " (run every shard with one agentsim binary)" : "");
    free(ta);
    free(tb);
    return ex;
  }
  return EXIT_PASS;
}

/* One bucket of a shard's scenario: its seeds into the merged stats. */
static int take_bucket(mscn *ms, json_t *b, const char *file, const char *where, unsigned si,
                       unsigned sn, uint64_t *sum) {
  const char *sig = "", *oname = "";
  uint64_t count;
  int ex = get_str(b, "signature", file, where, &sig);
  if (ex == EXIT_PASS) ex = get_u64(b, "count", file, where, &count);
  if (ex != EXIT_PASS) return ex;
  int overflow = json_is_true(json_object_get(b, "overflow")), outcome = -1;
  if (!overflow) {
    if ((ex = get_str(b, "outcome", file, where, &oname)) != EXIT_PASS) return ex;
    outcome = outcome_of(oname);
    if (outcome <= SIM_PASS) return expected(file, where, "a failing outcome (invariant, deadlock, ...)");
  }
  json_t *seeds = json_object_get(b, "seeds");
  if (!json_is_array(seeds) || json_array_size(seeds) != count)
    return expected(file, where, "\"seeds\": an array of \"count\" seeds");
  for (size_t k = 0; k < count; k++) {
    json_t *x = json_array_get(seeds, k);
    uint64_t seed;
    if (json_is_integer(x) && json_integer_value(x) >= 0)
      seed = (uint64_t)json_integer_value(x);
    else if (!json_is_string(x) || cli_parse_u64(json_string_value(x), &seed) != AS_OK)
      return expected(file, where, "\"seeds\": non-negative integers");
    uint64_t idx = seed - ms->r.start;
    if (seed < ms->r.start || idx >= ms->r.count || idx % sn != si - 1)
      return refuse("%s: %s: seed %" PRIu64 " is not one of shard %u/%u's", file, where, seed, si, sn);
    if (sweep_add_fail_seed(&ms->st, seed, sig, outcome) != AS_OK) return EXIT_INTERNAL;
  }
  *sum += count;
  return EXIT_PASS;
}

static int take_failure(mscn *ms, json_t *x, const char *file, const char *where) {
  sweep_fail f;
  memset(&f, 0, sizeof f);
  const char *oname = "", *msg = "";
  int ex = get_u64(x, "seed", file, where, &f.seed);
  if (ex == EXIT_PASS) ex = get_str(x, "outcome", file, where, &oname);
  if (ex == EXIT_PASS) ex = get_hex(x, "trace_hash", file, where, &f.hash);
  if (ex == EXIT_PASS) ex = get_u64(x, "steps", file, where, &f.steps);
  if (ex == EXIT_PASS) ex = get_str(x, "message", file, where, &msg);
  if (ex != EXIT_PASS) return ex;
  f.outcome = outcome_of(oname);
  if (f.outcome <= SIM_PASS) return expected(file, where, "a failing \"outcome\"");
  size_t len = strnlen(msg, sizeof f.msg - 1); /* cut as a sweep cuts it */
  memcpy(f.msg, msg, len);
  return sweep_keep_fail(&ms->st, &f) == AS_OK ? EXIT_PASS : EXIT_INTERNAL;
}

/* Scenario k of a shard: checked against the first file's, then added. */
static int take_scenario(merge *m, unsigned k, json_t *e, const char *file, unsigned si,
                         unsigned sn, int first) {
  mscn *ms = &m->scn[k];
  char where[64];
  snprintf(where, sizeof where, "scenarios[%u]", k);
  const char *scenario = "", *name = "", *fp = "", *pre = "", *suf = "";
  uint64_t runs, failed, harness, digest;
  int ex = get_str(e, "scenario", file, where, &scenario);
  if (ex == EXIT_PASS) ex = get_str(e, "name", file, where, &name);
  if (ex == EXIT_PASS) ex = get_str(e, "fingerprint", file, where, &fp);
  if (ex == EXIT_PASS) ex = get_u64(e, "runs", file, where, &runs);
  if (ex == EXIT_PASS) ex = get_u64(e, "failed", file, where, &failed);
  if (ex == EXIT_PASS) ex = get_u64(e, "harness_errors", file, where, &harness);
  if (ex == EXIT_PASS) ex = get_hex(e, "digest", file, where, &digest);
  if (ex == EXIT_PASS) ex = get_str(e, "replay_prefix", file, where, &pre);
  if (ex == EXIT_PASS) ex = get_str(e, "replay_suffix", file, where, &suf);
  json_t *secs = json_object_get(e, "seconds"), *bs = json_object_get(e, "buckets"),
         *fs = json_object_get(e, "failures");
  if (ex == EXIT_PASS && !json_is_number(secs)) ex = expected(file, where, "\"seconds\": a number");
  if (ex == EXIT_PASS && (!json_is_array(bs) || !json_is_array(fs)))
    ex = expected(file, where, "\"buckets\" and \"failures\" arrays");
  if (ex != EXIT_PASS) return ex;
  if (first) {
    ms->scenario = rpt_strdup(scenario);
    ms->name = rpt_strdup(name);
    ms->r.replay_prefix = rpt_strdup(pre);
    ms->r.replay_suffix = rpt_strdup(suf);
    if (!ms->scenario || !ms->name || !ms->r.replay_prefix || !ms->r.replay_suffix)
      return EXIT_INTERNAL;
    snprintf(ms->r.fingerprint, sizeof ms->r.fingerprint, "%s", fp);
    ms->r.scenario = ms->scenario;
    ms->r.name = ms->name;
    ms->r.start = m->start;
    ms->r.count = m->count;
    ms->r.shard_n = m->shard_n;
    ms->r.present = m->present;
    ms->r.st = &ms->st;
  } else if (strcmp(ms->scenario, scenario) != 0 || strcmp(ms->r.fingerprint, fp) != 0) {
    return refuse("%s and %s are not shards of one sweep: %s is %s (fingerprint %s) in one and "
                  "%s (fingerprint %s) in the other", m->first, file, where, ms->scenario,
                  ms->r.fingerprint, scenario, fp);
  }
  uint64_t want = ms->r.count / sn + (ms->r.count % sn >= si ? 1 : 0);
  if (runs != want)
    return refuse("%s: shard %u/%u ran %" PRIu64 " of its %" PRIu64 " seeds of %s (an incomplete "
                  "sweep: run it again)", file, si, sn, runs, want, scenario);
  uint64_t sum = 0;
  for (size_t b = 0; b < json_array_size(bs); b++) {
    char at[96];
    snprintf(at, sizeof at, "%s.buckets[%zu]", where, b);
    if ((ex = take_bucket(ms, json_array_get(bs, b), file, at, si, sn, &sum)) != EXIT_PASS) return ex;
  }
  if (sum != failed)
    return refuse("%s: %s: its buckets hold %" PRIu64 " failing seeds but \"failed\" is %" PRIu64,
                  file, where, sum, failed);
  for (size_t f = 0; f < json_array_size(fs); f++) {
    char at[96];
    snprintf(at, sizeof at, "%s.failures[%zu]", where, f);
    if ((ex = take_failure(ms, json_array_get(fs, f), file, at)) != EXIT_PASS) return ex;
  }
  ms->st.runs += runs;
  ms->st.failed += failed;
  ms->st.by_outcome[SIM_HARNESS] += harness;
  ms->st.wall_s += json_number_value(secs);
  ms->st.digest += digest;
  m->runs += runs;
  m->failed += failed;
  m->harness += harness;
  return EXIT_PASS;
}

static int take_file(merge *m, const char *file) {
  struct stat sb;
  if (stat(file, &sb) == 0 && sb.st_size > MERGE_FILE_MAX)
    return refuse("%s: %lld bytes, more than a sweep's result (at most %lld)", file,
                  (long long)sb.st_size, MERGE_FILE_MAX);
  json_error_t je;
  json_t *root = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
  if (!root) {
    if (je.line < 1) return refuse("%s: cannot read it: %s", file, je.text);
    return refuse("%s:%d:%d: malformed JSON: %s", file, je.line, je.column, je.text);
  }
  int ex;
  const char *command = NULL;
  json_t *scns = json_object_get(root, "scenarios"), *fmt = json_object_get(root, "format");
  unsigned si, sn;
  if (!json_is_object(root) || (command = json_string_value(json_object_get(root, "command")),
                                !command || strcmp(command, "sweep") != 0)) {
    ex = refuse("%s: not the JSON of 'agentsim sweep --json' (\"command\" is %s)", file,
                command ? command : "missing");
    goto out;
  }
  if (!json_is_integer(fmt) || json_integer_value(fmt) != RPT_FORMAT) {
    ex = expected(file, "\"format\"", "1 (an older or newer agentsim wrote it)");
    goto out;
  }
  if (!json_is_array(scns) || !json_array_size(scns) || json_array_size(scns) > CLI_MAX_SCENARIOS) {
    ex = expected(file, "\"scenarios\"", "an array of 1 to 64 scenarios");
    goto out;
  }
  const char *s = "";
  uint64_t start = 0, count = 0;
  if ((ex = get_str(root, "build", file, "", &s)) != EXIT_PASS ||
      (ex = get_str(root, "strategy", file, "", &s)) != EXIT_PASS ||
      (ex = get_u64(root, "seed_start", file, "", &start)) != EXIT_PASS ||
      (ex = get_u64(root, "seeds", file, "", &count)) != EXIT_PASS || count == 0 ||
      (ex = shard_of(root, file, &si, &sn)) != EXIT_PASS) {
    if (ex == EXIT_PASS) ex = expected(file, "\"seeds\"", "a positive count");
    goto out;
  }
  if (!json_is_object(json_object_get(root, "options"))) {
    ex = expected(file, "\"options\"", "an object");
    goto out;
  }
  int first = !m->first;
  if (first) {
    ex = take_head(m, root, file, sn, (unsigned)json_array_size(scns), start, count);
    if (ex != EXIT_PASS) goto out;
  } else if ((ex = check_head(m, root, file)) != EXIT_PASS) {
    goto out;
  } else if (json_array_size(scns) != m->nscn) {
    ex = refuse("%s and %s are not shards of one sweep: %u scenarios in one, %zu in the other",
                m->first, file, m->nscn, json_array_size(scns));
    goto out;
  }
  if (sn != m->shard_n) {
    ex = refuse("%s is shard %u/%u but %s is one of %u shard%s: not one sweep", file, si, sn,
                m->first, m->shard_n, m->shard_n == 1 ? " (unsharded)" : "s");
    goto out;
  }
  if (m->who[si - 1]) {
    ex = refuse("%s and %s are both shard %u/%u", m->who[si - 1], file, si, sn);
    goto out;
  }
  m->who[si - 1] = file;
  m->present[si - 1] = 1;
  m->merged++;
  for (unsigned k = 0; k < m->nscn && ex == EXIT_PASS; k++)
    ex = take_scenario(m, k, json_array_get(scns, k), file, si, sn, first);
out:
  if (ex == EXIT_INTERNAL) cli_error("merge: %s: out of memory", file);
  json_decref(root);
  return ex;
}

/* After every file: seeds sorted; each kept failure must be a failing seed. */
static int finish(merge *m) {
  for (unsigned k = 0; k < m->nscn; k++) {
    sweep_stats *st = &m->scn[k].st;
    sweep_finish(st);
    size_t j = 0;
    for (size_t i = 0; i < st->nfails; i++) {
      while (j < st->nfail_seeds && st->fail_seeds[j].seed < st->fails[i].seed) j++;
      if (j == st->nfail_seeds || st->fail_seeds[j].seed != st->fails[i].seed)
        return refuse("%s: failure of seed %" PRIu64 " is in no bucket of any file",
                      m->scn[k].scenario, st->fails[i].seed);
    }
    for (size_t i = 1; i < st->nfail_seeds; i++)
      if (st->fail_seeds[i].seed == st->fail_seeds[i - 1].seed)
        return refuse("%s: seed %" PRIu64 " is in two buckets", m->scn[k].scenario,
                      st->fail_seeds[i].seed);
  }
  return EXIT_PASS;
}

static void report_missing(const merge *m) {
  char list[512];
  size_t n = 0;
  unsigned shown = 0;
  for (unsigned k = 0; k < m->shard_n; k++) {
    if (m->present[k]) continue;
    if (shown++ < 16) n = as_appendf(list, sizeof list, n, "%s%u", n ? ", " : "", k + 1);
  }
  if (shown > 16) n = as_appendf(list, sizeof list, n, " and %u more", shown - 16);
  cli_error("merge: %u of %u shards missing (%s of %u): the report covers the other %u; exit 2",
            m->shard_n - m->merged, m->shard_n, list, m->shard_n, m->merged);
}

static AS_WUR int merge_json(const merge *m, const cli_opts *o, int ex) {
  json_t *j = json_object(), *arr = json_array(), *files = json_array(), *miss = json_array();
  int bad = cli_jset(j, "command", json_string("merge"));
  bad |= cli_jset(j, "format", json_integer(RPT_FORMAT));
  for (size_t k = 0; k < sizeof same_fields / sizeof same_fields[0]; k++)
    bad |= cli_jset(j, same_fields[k], json_incref(json_object_get(m->head, same_fields[k])));
  json_t *sh = json_object();
  for (unsigned k = 0; k < m->shard_n; k++)
    if (!m->present[k]) bad |= cli_jpush(miss, json_integer(k + 1));
  bad |= cli_jset(sh, "total", json_integer(m->shard_n));
  bad |= cli_jset(sh, "merged", json_integer(m->merged));
  bad |= cli_jset(sh, "missing", miss);
  bad |= cli_jset(j, "shards", sh);
  for (unsigned k = 0; k < o->nfiles; k++) bad |= cli_jpush(files, cli_jstr(o->files[k]));
  bad |= cli_jset(j, "files", files);
  bad |= cli_jset(j, "runs", json_integer((json_int_t)m->runs));
  bad |= cli_jset(j, "failed", json_integer((json_int_t)m->failed));
  bad |= cli_jset(j, "result", json_string(ex == EXIT_PASS ? "pass" : ex == EXIT_FOUND ? "fail" : "error"));
  for (unsigned k = 0; k < m->nscn; k++) bad |= cli_jpush(arr, rpt_json(&m->scn[k].r));
  bad |= cli_jset(j, "scenarios", arr);
  return cli_jemit(j, bad);
}

static void merge_free(merge *m) {
  for (unsigned k = 0; k < m->nscn; k++) {
    rpt_free(&m->scn[k].r);
    sweep_stats_clear(&m->scn[k].st);
    free(m->scn[k].scenario);
    free(m->scn[k].name);
  }
  free(m->scn);
  free(m->who);
  free(m->present);
  json_decref(m->head);
}

int cmd_merge(const cli_opts *o) {
  merge m;
  memset(&m, 0, sizeof m);
  int ex = EXIT_PASS;
  for (unsigned k = 0; k < o->nfiles && ex == EXIT_PASS; k++) ex = take_file(&m, o->files[k]);
  if (ex == EXIT_PASS) ex = finish(&m);
  if (ex != EXIT_PASS) goto out;
  FILE *out = o->json ? stderr : stdout;
  const char *strat = json_string_value(json_object_get(m.head, "strategy"));
  int width = 22;
  for (unsigned k = 0; k < m.nscn; k++) {
    size_t len = strlen(m.scn[k].scenario);
    if (len > (size_t)width) width = len > 64 ? 64 : (int)len;
  }
  for (unsigned k = 0; k < m.nscn; k++) rpt_text(out, &m.scn[k].r, width, strat);
  fprintf(out, "merge: %" PRIu64 " runs, %" PRIu64 " failed, %u of %u shard%s\n", m.runs, m.failed,
          m.merged, m.shard_n, m.shard_n == 1 ? "" : "s");
  ex = m.failed ? EXIT_FOUND : EXIT_PASS;
  if (m.harness) {
    cli_error("merge: %" PRIu64 " seeds ended in a harness error (the oracle could not look)",
              m.harness);
    ex = EXIT_INTERNAL;
  }
  if (m.merged < m.shard_n) {
    report_missing(&m);
    ex = EXIT_USAGE;
  }
  if (o->junit) {
    rpt_scn rs[CLI_MAX_SCENARIOS];
    for (unsigned k = 0; k < m.nscn; k++) rs[k] = m.scn[k].r;
    int jx = rpt_junit(o->junit, "merge", rs, m.nscn);
    if (jx != EXIT_PASS) ex = jx;
  }
  if (o->json && merge_json(&m, o, ex) != AS_OK) ex = EXIT_INTERNAL;
out:
  merge_free(&m);
  return ex;
}

/*
** sweep.c -- seed sweeps in-process or across forked workers (sweep.h).
*/
#include "sweep.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "signature.h"

/* What a worker reports per seed; smaller than PIPE_BUF, so one write()
** is atomic even with many workers on one pipe. */
typedef struct wire {
  uint64_t seed, steps, vns, hash;
  int32_t outcome;
  int32_t status; /* sim_run's status */
  char msg[SWEEP_MSG_MAX];
  char sig[BKT_TEXT_MAX]; /* a failure's signature, from the whole message */
} wire;

double sweep_now(void) {
  struct timespec ts;
  (void)clock_gettime(CLOCK_MONOTONIC, &ts); /* ignore: CLOCK_MONOTONIC cannot fail */
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sweep_stats_clear(sweep_stats *st) {
  free(st->fails);
  free(st->fail_seeds);
  bkt_clear(&st->buckets);
  memset(st, 0, sizeof *st);
}

uint64_t sweep_digest(uint64_t seed, uint64_t trace_hash) {
  /* splitmix64's finaliser over both: a sum of these cannot cancel by chance. */
  uint64_t z = trace_hash ^ (seed * 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static int cmp_fail(const void *a, const void *b) {
  const sweep_fail *x = a, *y = b;
  return x->seed < y->seed ? -1 : x->seed > y->seed;
}

static int cmp_seed(const void *a, const void *b) {
  const sweep_seed *x = a, *y = b;
  return x->seed < y->seed ? -1 : x->seed > y->seed;
}

/* fails[] is a max-heap on seed while the sweep runs: the largest kept seed
** is the one a smaller newcomer replaces. */
static void fail_sift_down(sweep_fail *h, size_t n, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && h[l].seed > h[m].seed) m = l;
    if (r < n && h[r].seed > h[m].seed) m = r;
    if (m == i) return;
    sweep_fail t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

static void fail_sift_up(sweep_fail *h, size_t i) {
  while (i > 0 && h[(i - 1) / 2].seed < h[i].seed) {
    sweep_fail t = h[i];
    h[i] = h[(i - 1) / 2];
    h[(i - 1) / 2] = t;
    i = (i - 1) / 2;
  }
}

static uint64_t total_selected(const sweep_spec *sp) {
  if (!sp->shard_n) return sp->count;
  uint64_t n = sp->count / sp->shard_n;
  if (sp->count % sp->shard_n >= sp->shard_i) n++;
  return n;
}

/* The k-th seed of this shard. */
static uint64_t kth_seed(const sweep_spec *sp, uint64_t k) {
  if (!sp->shard_n) return sp->start + k;
  return sp->start + k * sp->shard_n + (sp->shard_i - 1);
}

/* The index k of a seed within this shard (inverse of kth_seed). */
static uint64_t seed_index(const sweep_spec *sp, uint64_t seed) {
  uint64_t off = seed - sp->start;
  return sp->shard_n ? (off - (sp->shard_i - 1)) / sp->shard_n : off;
}

static void run_seed(sim *s, const sweep_spec *sp, uint64_t seed, wire *w) {
  sim_config cfg = sp->base;
  cfg.seed = seed;
  sim_result res;
  memset(w, 0, sizeof *w);
  w->seed = seed;
  w->status = sim_run(s, sp->prog, &cfg, &res);
  w->outcome = res.outcome;
  w->steps = res.steps;
  w->vns = res.virtual_ns;
  w->hash = res.trace_hash;
  size_t n = strnlen(res.message, sizeof w->msg - 1); /* cut: the summary keeps a prefix */
  memcpy(w->msg, res.message, n);
  w->msg[n] = '\0';
  if (res.outcome != SIM_PASS) {
    cli_sig sig;
    cli_signature(res.outcome, res.message, &sig);
    cli_sig_text(&sig, w->sig, sizeof w->sig);
  }
  sim_result_clear(&res);
}

static AS_WUR int absorb(sweep_stats *st, const wire *w) {
  if (w->status != AS_OK) {
    snprintf(st->error, sizeof st->error, "seed %" PRIu64 ": %s%s%s", w->seed,
             as_status_msg(w->status), w->msg[0] ? ": " : "", w->msg);
    return w->status;
  }
  st->runs++;
  st->steps += w->steps;
  st->virtual_ns += w->vns;
  st->digest += sweep_digest(w->seed, w->hash);
  if ((unsigned)w->outcome < SIM__OUTCOME_COUNT) st->by_outcome[w->outcome]++;
  if (w->outcome == SIM_PASS) return AS_OK;
  st->failed++;
  int rc = sweep_add_fail_seed(st, w->seed, w->sig, w->outcome);
  if (rc != AS_OK) return rc;
  sweep_fail f = {.seed = w->seed, .hash = w->hash, .steps = w->steps, .outcome = w->outcome};
  memcpy(f.msg, w->msg, sizeof f.msg);
  return sweep_keep_fail(st, &f);
}

int sweep_add_fail_seed(sweep_stats *st, uint64_t seed, const char *sig, int outcome) {
  if (st->nfail_seeds == st->cap_fail_seeds) {
    size_t nc = st->cap_fail_seeds ? st->cap_fail_seeds * 2 : 64;
    sweep_seed *ns = realloc(st->fail_seeds, nc * sizeof *ns);
    if (!ns) {
      snprintf(st->error, sizeof st->error, "out of memory keeping %zu failing seeds",
               st->nfail_seeds);
      return AS_NOMEM;
    }
    st->fail_seeds = ns;
    st->cap_fail_seeds = nc;
  }
  uint32_t b = BKT_OTHER;
  /* outcome -1: a merge's overflow bucket, whose signatures were not kept. */
  int rc = outcome < 0 ? (bkt_add_other(&st->buckets, seed, 1), AS_OK)
                       : bkt_add(&st->buckets, sig, outcome, seed, 1, &b);
  if (rc != AS_OK) {
    snprintf(st->error, sizeof st->error, "out of memory keeping %u failure buckets",
             st->buckets.n);
    return AS_NOMEM;
  }
  st->fail_seeds[st->nfail_seeds].seed = seed;
  st->fail_seeds[st->nfail_seeds++].bucket = b;
  return AS_OK;
}

int sweep_keep_fail(sweep_stats *st, const sweep_fail *f) {
  if (!st->fails) {
    st->fails = malloc(SWEEP_KEEP_FAILS * sizeof *st->fails);
    if (!st->fails) {
      snprintf(st->error, sizeof st->error, "out of memory keeping failures");
      return AS_NOMEM;
    }
  }
  if (st->nfails < SWEEP_KEEP_FAILS) {
    st->fails[st->nfails] = *f;
    fail_sift_up(st->fails, st->nfails++);
  } else if (f->seed < st->fails[0].seed) {
    st->fails[0] = *f;
    fail_sift_down(st->fails, st->nfails, 0);
  }
  return AS_OK;
}

static void progress(const sweep_spec *sp, const sweep_stats *st, uint64_t total, double t0,
                     double *last, int final) {
  if (!sp->progress) return;
  double now = sweep_now();
  if (!final && now - *last < 0.2) return;
  *last = now;
  double rate = now > t0 ? (double)st->runs / (now - t0) : 0.0;
  fprintf(stderr, "\r%s: %" PRIu64 "/%" PRIu64 " seeds, %" PRIu64 " failed, %.0f seeds/s\033[K",
          sp->label, st->runs, total, st->failed, rate);
  if (final) fputc('\n', stderr);
  (void)fflush(stderr); /* ignore: a progress line that fails to show is harmless */
}

static AS_WUR int sweep_inprocess(const sweep_spec *sp, sweep_stats *st, uint64_t total, double t0) {
  sim *s = NULL;
  int rc = sim_new(&s, sp->sw, 0);
  if (rc != AS_OK) {
    snprintf(st->error, sizeof st->error, "cannot make the sim: %s", as_status_msg(rc));
    return rc;
  }
  double last = 0;
  for (uint64_t k = 0; k < total && rc == AS_OK; k++) {
    wire w;
    run_seed(s, sp, kth_seed(sp, k), &w);
    rc = absorb(st, &w);
    progress(sp, st, total, t0, &last, 0);
  }
  sim_free(s);
  return rc;
}

static AS_NORETURN void worker(const sweep_spec *sp, unsigned w, unsigned jobs, uint64_t total,
                               int fd) {
  sim *s = NULL;
  if (sim_new(&s, sp->sw, 0) != AS_OK) _exit(3);
  for (uint64_t k = w; k < total; k += jobs) {
    wire rec;
    run_seed(s, sp, kth_seed(sp, k), &rec);
    const char *p = (const char *)&rec;
    size_t left = sizeof rec;
    while (left) {
      ssize_t n = write(fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) _exit(3); /* the parent is gone */
      p += n;
      left -= (size_t)n;
    }
  }
  sim_free(s);
  _exit(0);
}

static AS_WUR int sweep_forked(const sweep_spec *sp, sweep_stats *st, uint64_t total, double t0) {
  int rc = AS_OK;
  int fds[2];
  unsigned jobs = sp->jobs;
  if ((uint64_t)jobs > total) jobs = (unsigned)total;
  pid_t pids[256];
  unsigned started = 0;
  /* Flush before fork so buffered output is not written twice. */
  (void)fflush(stdout); /* ignore: nothing is lost but a duplicate */
  (void)fflush(stderr); /* ignore: nothing is lost but a duplicate */
  if (pipe(fds) != 0) {
    snprintf(st->error, sizeof st->error, "pipe: %s", strerror(errno));
    return AS_SYS;
  }
  for (; started < jobs; started++) {
    pid_t pid = fork();
    if (pid < 0) {
      snprintf(st->error, sizeof st->error, "fork: %s", strerror(errno));
      rc = AS_SYS;
      break;
    }
    if (pid == 0) {
      (void)close(fds[0]); /* ignore: the worker only writes */
      worker(sp, started, jobs, total, fds[1]);
    }
    pids[started] = pid;
  }
  (void)close(fds[1]); /* ignore: the parent only reads; EOF comes when workers exit */
  /* Read whole records; a short read leaves the rest for the next one.
  ** got[w] counts worker w's reports, so a dead worker's seed is known. */
  uint64_t got[256] = {0};
  wire rec;
  size_t have = 0;
  double last = 0;
  while (rc == AS_OK) {
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    int pr = poll(&pfd, 1, 200);
    if (pr < 0 && errno != EINTR) break;
    if (pr <= 0) {
      progress(sp, st, total, t0, &last, 0);
      continue;
    }
    ssize_t n = read(fds[0], (char *)&rec + have, sizeof rec - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break; /* every worker closed its end */
    have += (size_t)n;
    if (have < sizeof rec) continue;
    have = 0;
    got[seed_index(sp, rec.seed) % jobs]++;
    rc = absorb(st, &rec);
    progress(sp, st, total, t0, &last, 0);
  }
  (void)close(fds[0]); /* ignore: reading is over */
  if (rc != AS_OK) {
    for (unsigned i = 0; i < started; i++) (void)kill(pids[i], SIGKILL); /* ignore: it may be gone */
  }
  for (unsigned i = 0; i < started; i++) {
    int status = 0;
    while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR) {
    }
    if (rc == AS_OK && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      /* Worker i runs indexes i, i+jobs, ... in order: the first one it did
      ** not report is the one it died in (a sanitizer report, or a crash
      ** outside any task). */
      uint64_t k = i + got[i] * jobs;
      char why[96];
      if (WIFSIGNALED(status))
        snprintf(why, sizeof why, "died of signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
      else
        snprintf(why, sizeof why, "exited with status %d", WEXITSTATUS(status));
      if (k < total) {
        st->has_dead_seed = 1;
        st->dead_seed = kth_seed(sp, k);
        snprintf(st->error, sizeof st->error, "worker %u %s while running seed %" PRIu64
                 " (its stderr above says why)", i, why, st->dead_seed);
      } else {
        snprintf(st->error, sizeof st->error, "worker %u %s after its last seed", i, why);
      }
      rc = AS_INTERNAL;
    }
  }
  if (rc == AS_OK && st->runs != total) {
    snprintf(st->error, sizeof st->error, "%" PRIu64 " of %" PRIu64 " seeds were not reported",
             total - st->runs, total);
    rc = AS_INTERNAL;
  }
  return rc;
}

/* PCT's k, measured once here before the workers fork, so they inherit it
** instead of each measuring it again (the value is the same either way). */
static AS_WUR int calibrate(const sweep_spec *sp, sweep_stats *st) {
  sim_config c = sp->base;
  if (c.strategy != SIM_STRATEGY_PCT && c.strategy != SIM_STRATEGY_PORTFOLIO) return AS_OK;
  c.strategy = SIM_STRATEGY_PCT;
  if (!sim_pct_needs_estimate(sp->prog, &c)) return AS_OK;
  sim *s = NULL;
  int rc = sim_new(&s, sp->sw, 0);
  if (rc != AS_OK) {
    snprintf(st->error, sizeof st->error, "cannot make the sim: %s", as_status_msg(rc));
    return rc;
  }
  uint64_t k;
  rc = sim_pct_estimate(s, sp->prog, &sp->base, &k, st->error, sizeof st->error);
  sim_free(s);
  return rc;
}

int sweep_exec(const sweep_spec *sp, sweep_stats *st) {
  memset(st, 0, sizeof *st);
  uint64_t total = total_selected(sp);
  double t0 = sweep_now(), last = 0;
  int rc = sp->jobs <= 1 || total <= 1 ? AS_OK : calibrate(sp, st);
  if (rc == AS_OK)
    rc = (sp->jobs <= 1 || total <= 1) ? sweep_inprocess(sp, st, total, t0)
                                       : sweep_forked(sp, st, total, t0);
  st->wall_s = sweep_now() - t0;
  progress(sp, st, total, t0, &last, 1);
  sweep_finish(st);
  return rc;
}

void sweep_finish(sweep_stats *st) {
  uint32_t remap[BKT_MAX + 1];
  bkt_sort(&st->buckets, remap);
  for (size_t i = 0; i < st->nfail_seeds; i++)
    st->fail_seeds[i].bucket = remap[st->fail_seeds[i].bucket];
  if (st->nfails > 1) qsort(st->fails, st->nfails, sizeof *st->fails, cmp_fail);
  if (st->nfail_seeds > 1) qsort(st->fail_seeds, st->nfail_seeds, sizeof *st->fail_seeds, cmp_seed);
  /* Each kept failure's bucket: its seed's, found among the sorted seeds. */
  size_t j = 0;
  for (size_t i = 0; i < st->nfails; i++) {
    while (j < st->nfail_seeds && st->fail_seeds[j].seed < st->fails[i].seed) j++;
    st->fails[i].bucket = j < st->nfail_seeds && st->fail_seeds[j].seed == st->fails[i].seed
                              ? st->fail_seeds[j].bucket
                              : BKT_OTHER;
  }
}

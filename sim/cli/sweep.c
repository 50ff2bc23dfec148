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

/* What a worker reports per seed; smaller than PIPE_BUF, so one write()
** is atomic even with many workers on one pipe. */
typedef struct wire {
  uint64_t seed, steps, vns, hash;
  int32_t outcome;
  int32_t status; /* sim_run's status */
  char msg[SWEEP_MSG_MAX];
} wire;

double sweep_now(void) {
  struct timespec ts;
  (void)clock_gettime(CLOCK_MONOTONIC, &ts); /* ignore: CLOCK_MONOTONIC cannot fail */
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sweep_stats_clear(sweep_stats *st) {
  free(st->fails);
  memset(st, 0, sizeof *st);
}

static int cmp_fail(const void *a, const void *b) {
  const sweep_fail *x = a, *y = b;
  return x->seed < y->seed ? -1 : x->seed > y->seed;
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
  sim_result_clear(&res);
}

static int absorb(sweep_stats *st, const wire *w) {
  if (w->status != AS_OK) {
    snprintf(st->error, sizeof st->error, "seed %" PRIu64 ": %s%s%s", w->seed,
             as_status_msg(w->status), w->msg[0] ? ": " : "", w->msg);
    return w->status;
  }
  st->runs++;
  st->steps += w->steps;
  st->virtual_ns += w->vns;
  if ((unsigned)w->outcome < SIM__OUTCOME_COUNT) st->by_outcome[w->outcome]++;
  if (w->outcome == SIM_PASS) return AS_OK;
  st->failed++;
  if (st->nfails >= SWEEP_KEEP_FAILS) return AS_OK;
  if ((st->nfails & (st->nfails - 1)) == 0) { /* grow at powers of two */
    size_t nc = st->nfails ? st->nfails * 2 : 16;
    sweep_fail *nf = realloc(st->fails, nc * sizeof *nf);
    if (!nf) {
      snprintf(st->error, sizeof st->error, "out of memory keeping failures");
      return AS_NOMEM;
    }
    st->fails = nf;
  }
  sweep_fail *f = &st->fails[st->nfails++];
  f->seed = w->seed;
  f->hash = w->hash;
  f->steps = w->steps;
  f->outcome = w->outcome;
  memcpy(f->msg, w->msg, sizeof f->msg);
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
  fflush(stderr);
}

static int sweep_inprocess(const sweep_spec *sp, sweep_stats *st, uint64_t total, double t0) {
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

static int sweep_forked(const sweep_spec *sp, sweep_stats *st, uint64_t total, double t0) {
  int rc = AS_OK;
  int fds[2];
  unsigned jobs = sp->jobs;
  if ((uint64_t)jobs > total) jobs = (unsigned)total;
  pid_t pids[256];
  unsigned started = 0;
  fflush(stdout);
  fflush(stderr);
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
      close(fds[0]);
      worker(sp, started, jobs, total, fds[1]);
    }
    pids[started] = pid;
  }
  close(fds[1]);
  /* Read whole records; a short read leaves the rest for the next one. */
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
    rc = absorb(st, &rec);
    progress(sp, st, total, t0, &last, 0);
  }
  close(fds[0]);
  if (rc != AS_OK) {
    for (unsigned i = 0; i < started; i++) (void)kill(pids[i], SIGKILL); /* ignore: it may be gone */
  }
  for (unsigned i = 0; i < started; i++) {
    int status = 0;
    while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR) {
    }
    if (rc == AS_OK && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      if (WIFSIGNALED(status))
        snprintf(st->error, sizeof st->error, "worker %u died of signal %d (%s)", i,
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
      else
        snprintf(st->error, sizeof st->error, "worker %u exited with status %d", i,
                 WEXITSTATUS(status));
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

int sweep_exec(const sweep_spec *sp, sweep_stats *st) {
  memset(st, 0, sizeof *st);
  uint64_t total = total_selected(sp);
  double t0 = sweep_now(), last = 0;
  int rc = (sp->jobs <= 1 || total <= 1) ? sweep_inprocess(sp, st, total, t0)
                                         : sweep_forked(sp, st, total, t0);
  st->wall_s = sweep_now() - t0;
  progress(sp, st, total, t0, &last, 1);
  if (st->nfails > 1) qsort(st->fails, st->nfails, sizeof *st->fails, cmp_fail);
  return rc;
}

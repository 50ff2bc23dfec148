/*
** bench_threads.c -- the side-by-side that shows why simulation beats stress
** testing: the lock_noop mutant hunted with real threads on an on-disk
** database (the same runtime objects, the posix seam, SQLite's unix VFS in
** WAL mode) against the sim on the same workload.
**
** Real-threads run: a fresh database with three sessions (one carrying
** mark_resolved, one mark_escalated), THREADS threads each finalizing and
** pausing them in turn, the lock registry's observer watching for two
** holders of one session's lock -- the oracle's lock-exclusivity check.
** A run detects the mutant when the observer sees two holders.
*/
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentsim/finalize.h"
#include "agentsim/locks.h"
#include "agentsim/mutant.h"
#include "agentsim/store.h"
#include "bench_threads.h"
#include "cli.h"
#include "simdb.h"
#include "sweep.h"

#define THREADS 4
#define SESSIONS 3
#define OPS_PER_THREAD 12

typedef struct watch {
  uint64_t holder[SESSIONS];
  uint32_t depth[SESSIONS];
  int detected;
} watch;

typedef struct thread_arg {
  const char *path;
  as_lock_registry *locks;
  unsigned index;
  int rc;
} thread_arg;

/* Called under the registry's mutex, so the threads are serialized here. */
static void observe(void *ctx, const char *key, uint64_t task, as_lock_event ev) {
  watch *w = ctx;
  unsigned i = (unsigned)(key[1] - '0');
  if (key[0] != 's' || i >= SESSIONS || ev == AS_LOCK_TRY_REFUSED) return;
  if (ev != AS_LOCK_RELEASED) {
    if (w->holder[i] && w->holder[i] != task) w->detected = 1;
    w->holder[i] = task;
    w->depth[i]++;
  } else if (w->depth[i] > 0 && --w->depth[i] == 0) {
    w->holder[i] = 0;
  }
}

static AS_WUR int open_store(const char *path, as_store **st) {
  as_store_opts o = {.journal_mode = "wal", .busy_timeout_ms = 5000};
  return as_store_open(st, path, &o);
}

static void worker(void *arg) {
  thread_arg *a = arg;
  as_store *st = NULL;
  a->rc = open_store(a->path, &st);
  for (unsigned k = 0; a->rc == AS_OK && k < OPS_PER_THREAD; k++) {
    char id[8];
    snprintf(id, sizeof id, "s%u", (a->index + k) % SESSIONS);
    if ((a->index + k) % 4 == 3) {
      bool changed;
      a->rc = as_mark_paused(st, a->locks, id, &changed);
    } else {
      as_session_status final;
      a->rc = as_finalize(st, a->locks, id, NULL, &final);
    }
    if (a->rc == AS_BUSY) a->rc = AS_OK; /* contention is the point, not a failure */
  }
  as_store_close(st);
}

static AS_WUR int seed_db(const char *path) {
  as_store *st = NULL;
  int rc = open_store(path, &st);
  static const char *const tools[SESSIONS] = {"mark_resolved", "mark_escalated", NULL};
  for (unsigned i = 0; rc == AS_OK && i < SESSIONS; i++) {
    as_session s;
    char id[8];
    snprintf(id, sizeof id, "s%u", i);
    rc = as_session_init(&s, id);
    if (rc == AS_OK && tools[i]) rc = as_session_add_call(&s, tools[i], "{}", "{}", AS_TOOL_EXECUTED);
    if (rc == AS_OK) rc = as_session_create(st, &s);
    as_session_clear(&s);
  }
  as_store_close(st);
  return rc;
}

/* One run; *detected says whether the observer saw two holders. */
static AS_WUR int real_run(const char *dir, unsigned n, int *detected) {
  char path[600];
  watch w;
  as_lock_registry *locks = NULL;
  as_task *tasks[THREADS] = {0};
  thread_arg args[THREADS];
  memset(&w, 0, sizeof w);
  snprintf(path, sizeof path, "%s/run%u.db", dir, n);
  int rc = seed_db(path);
  if (rc == AS_OK) rc = as_locks_new(&locks, 0);
  if (rc != AS_OK) goto out;
  as_locks_observe(locks, observe, &w);
  unsigned started = 0;
  for (; started < THREADS && rc == AS_OK; started++) {
    args[started] = (thread_arg){.path = path, .locks = locks, .index = started};
    rc = as_task_spawn(&tasks[started], "stress", worker, &args[started]);
  }
  if (rc != AS_OK) started--;
  for (unsigned k = 0; k < started; k++) {
    int jrc = as_task_join(tasks[k]);
    if (rc == AS_OK) rc = jrc != AS_OK ? jrc : args[k].rc;
  }
  *detected = w.detected;
out:
  as_locks_free(locks);
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  for (size_t k = 0; k < sizeof suffixes / sizeof suffixes[0]; k++) {
    char f[640];
    snprintf(f, sizeof f, "%s%s", path, suffixes[k]);
    (void)unlink(f); /* ignore: a file that is not there is fine */
  }
  return rc;
}

int bench_threads_vs_sim(const sim_program *scenario, unsigned runs, bench_hunt *real,
                         bench_hunt *simh) {
  int rc = AS_OK;
  char dir[] = "/tmp/agentsim-bench-XXXXXX";
  memset(real, 0, sizeof *real);
  memset(simh, 0, sizeof *simh);
  if (as_mutant_set("lock_noop") != AS_OK) return AS_INTERNAL;
  /* Real threads need SQLite's own mutexes and the unix VFS. */
  int was_installed = simdb_installed();
  if (was_installed) rc = simdb_uninstall();
  if (rc == AS_OK && !mkdtemp(dir)) rc = AS_SYS;
  if (rc == AS_OK) {
    double t0 = sweep_now();
    for (unsigned n = 0; n < runs && rc == AS_OK; n++) {
      int hit = 0;
      rc = real_run(dir, n, &hit);
      real->runs++;
      real->detections += (unsigned)hit;
    }
    real->seconds = sweep_now() - t0;
    (void)rmdir(dir); /* ignore: an empty scratch directory left behind is harmless */
  }
  if (rc == AS_OK) rc = simdb_install();
  if (rc == AS_OK && scenario) {
    sim_config cfg;
    memset(&cfg, 0, sizeof cfg);
    sim *world = NULL;
    rc = sim_new(&world, SIM_SWITCH_FCONTEXT, 0);
    double t0 = sweep_now();
    for (unsigned n = 0; n < runs && rc == AS_OK; n++) {
      sim_result r;
      cfg.seed = n;
      rc = sim_run(world, scenario, &cfg, &r);
      if (rc != AS_OK) break;
      simh->runs++;
      simh->detections += r.outcome != SIM_PASS;
      sim_result_clear(&r);
    }
    simh->seconds = sweep_now() - t0;
    sim_free(world);
  }
  if (as_mutant_set(NULL) != AS_OK && rc == AS_OK) rc = AS_INTERNAL;
  return rc;
}

/*
** runner.c -- scenarios run against the runtime core on the simulated disk,
** under the oracle (runner.h).
**
** Each actor instance is a task with its own store connection. Transient
** errors (busy, I/O faults, a disk full, a connection killed by a crash)
** are retried after a virtual millisecond, a bounded number of times; an
** operation that still fails was simply not acknowledged. The oracle only
** holds the runtime to what it acknowledged.
*/
#include "scenario/runner.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/checkpoints.h"
#include "agentsim/events.h"
#include "agentsim/finalize.h"
#include "agentsim/fmt.h"
#include "agentsim/locks.h"
#include "agentsim/store.h"
#include "simdb.h"

#define OP_ATTEMPTS 40
#define RETRY_PAUSE_NS 1000000u /* a virtual millisecond */
#define BUSY_TIMEOUT_MS 2000
#define MAX_TOOLS SCN_MAX_TOOLS /* the parser caps a scenario's distinct tool names */
#define DB_PATH "agentsim.db"

struct scn_runner {
  scenario *sc;
  sim_program prog;
  const char *legacy[SCN_MAX_LEGACY];
};

/* What the runtime acknowledged for one session. */
typedef struct smodel {
  int64_t *versions; /* versions of acknowledged saves */
  size_t nver, capver;
  uint32_t tools[MAX_TOOLS]; /* acknowledged executed calls per tool name */
  int finalized;             /* a finalize returned OK */
  uint32_t ckpt_mask;        /* checkpoints acknowledged: bit 0 the session's own, bit N
                             ** :retry-N (the parser caps N at SCN_MAX_RETRY = 31) */
  uint64_t holder;           /* lock model: the task inside the session's lock */
  uint32_t depth;
} smodel;

typedef struct worker {
  struct run *r;
  const scn_actor *actor;
  uint32_t instance;
  as_store *st;
  uint64_t epoch;      /* the crash count the connection was opened under */
  uint32_t watch;      /* finalize: the session whose lock must be taken */
  int watch_hit;
  char name[SCN_MAX_NAME + 16];
  int done;     /* the task ran to its end (its connection is closed) */
  as_session s; /* the session an operation works on: in run state, not on the
                ** task's stack, so teardown frees it if the task is abandoned */
} worker;

typedef struct run {
  const scn_runner *rn;
  const scenario *sc;
  simdb_disk *disk;
  as_lock_registry *locks;
  as_finalize_rules rules;
  uint64_t epoch; /* crashes so far */
  smodel *m;
  char tools[MAX_TOOLS][SCN_MAX_NAME];
  uint32_t ntools;
  worker *workers;
  uint32_t nworkers;
  worker **by_task; /* task id -> worker, for the lock observer */
  worker aux;        /* main's own: creating sessions, the quiescence checks */
  as_task **tasks;   /* the actors' handles (run state: main may be abandoned) */
  uint32_t ntask_slots;
  int violated;
  char violation[1024];
} run;

/* --- oracle: violations ---------------------------------------------------- */

static void violate(run *r, const char *fmt, ...) AS_PRINTF(2, 3);
static void violate(run *r, const char *fmt, ...) {
  if (r->violated) return;
  r->violated = 1;
  va_list ap;
  va_start(ap, fmt);
  (void)vsnprintf(r->violation, sizeof r->violation, fmt, ap); /* ignore: a cut message still reads */
  va_end(ap);
}

static int invariant(void *state, char *msg, size_t cap) {
  run *r = state;
  if (!r->violated) return 0;
  snprintf(msg, cap, "%s", r->violation);
  return 1;
}

/* --- oracle: the lock observer ---------------------------------------------- */

static uint32_t session_of(const run *r, const char *key) {
  unsigned long v = 0;
  if (key[0] != 's' || key[1] < '0' || key[1] > '9') return UINT32_MAX;
  for (const char *p = key + 1; *p; p++) {
    if (*p < '0' || *p > '9' || v > r->sc->sessions) return UINT32_MAX;
    v = v * 10 + (unsigned long)(*p - '0');
  }
  return v < r->sc->sessions ? (uint32_t)v : UINT32_MAX;
}

static void observe_lock(void *ctx, const char *key, uint64_t task, int entered) {
  run *r = ctx;
  uint32_t i = session_of(r, key);
  if (i == UINT32_MAX) return;
  smodel *m = &r->m[i];
  if (entered) {
    if (m->holder && m->holder != task)
      violate(r, "lock exclusivity: tasks %" PRIu64 " and %" PRIu64 " both hold the lock of %s",
              m->holder - 1, task - 1, key);
    m->holder = task;
    m->depth++;
    worker *w = task < r->ntask_slots ? r->by_task[task] : NULL;
    if (w && w->watch == i) w->watch_hit = 1;
  } else if (m->depth > 0 && --m->depth == 0) {
    m->holder = 0;
  }
}

/* --- oracle: acknowledgements ----------------------------------------------- */

static void ack_save(run *r, uint32_t i, int64_t version) {
  smodel *m = &r->m[i];
  for (size_t k = 0; k < m->nver; k++)
    if (m->versions[k] == version) {
      violate(r, "lost update: two acknowledged saves of s%" PRIu32 " both produced version %" PRId64,
              i, version);
      return;
    }
  if (m->nver == m->capver) {
    size_t nc = m->capver ? m->capver * 2 : 16;
    int64_t *nv = realloc(m->versions, nc * sizeof *nv);
    if (!nv) {
      violate(r, "the oracle ran out of memory");
      return;
    }
    m->versions = nv;
    m->capver = nc;
  }
  m->versions[m->nver++] = version;
}

static uint32_t tool_index(run *r, const char *name) {
  for (uint32_t k = 0; k < r->ntools; k++)
    if (strcmp(r->tools[k], name) == 0) return k;
  if (r->ntools == MAX_TOOLS) return UINT32_MAX; /* cannot be: the parser caps the names */
  snprintf(r->tools[r->ntools], sizeof r->tools[0], "%s", name);
  return r->ntools++;
}

/* --- connections and retries ------------------------------------------------- */

static int transient(int rc) {
  return rc == AS_BUSY || rc == AS_IO || rc == AS_FULL || rc == AS_STALE;
}

static void pause_a_moment(void) { as_sleep_until(as_now_mono_ns() + RETRY_PAUSE_NS); }

/* The worker's connection, (re)opened after a crash killed the old one. */
static AS_WUR int conn(worker *w) {
  run *r = w->r;
  if (w->st && w->epoch == r->epoch) return AS_OK;
  as_store_close(w->st);
  w->st = NULL;
  as_store_opts o = {.vfs = simdb_disk_vfs(r->disk),
                     .journal_mode = scn_journal_name(r->sc->journal),
                     .busy_timeout_ms = BUSY_TIMEOUT_MS};
  w->epoch = r->epoch;
  return as_store_open(&w->st, DB_PATH, &o);
}

static void sid(char *buf, size_t cap, uint32_t i) { snprintf(buf, cap, "s%" PRIu32, i); }

/* --- operations --------------------------------------------------------------- */

typedef AS_WUR int (*op_fn)(worker *w, const scn_op *op, uint32_t i);

static AS_WUR int status_save(worker *w, as_session *s, as_session_status to) {
  char payload[160];
  snprintf(payload, sizeof payload, "{\"from\":\"%s\",\"to\":\"%s\",\"reason\":\"\"}",
           as_session_status_name(s->status), as_session_status_name(to));
  s->status = to;
  return as_session_save_with_event(w->st, s, AS_EVENT_STATUS_CHANGED, payload, NULL);
}

static AS_WUR int do_start(worker *w, const scn_op *op, uint32_t i) {
  (void)op;
  char id[32];
  as_session *sp = &w->s;
  sid(id, sizeof id, i);
  int rc = as_session_load(w->st, id, sp);
  if (rc != AS_OK) return rc;
  if (sp->status == AS_SESS_NEW) {
    rc = status_save(w, sp, AS_SESS_IN_PROGRESS);
    if (rc == AS_OK) ack_save(w->r, i, sp->version);
  }
  as_session_clear(sp);
  return rc;
}

static AS_WUR int do_tool(worker *w, const scn_op *op, uint32_t i) {
  char id[32];
  as_session *sp = &w->s;
  sid(id, sizeof id, i);
  int rc = as_session_load(w->st, id, sp);
  if (rc != AS_OK) return rc;
  /* A finished session takes no more tool calls. */
  if (!as_session_status_terminal(sp->status)) {
    rc = as_session_add_call(sp, op->tool, "{}", "{}", AS_TOOL_EXECUTED);
    if (rc == AS_OK) rc = as_session_save(w->st, sp);
    if (rc == AS_OK) {
      ack_save(w->r, i, sp->version);
      uint32_t k = tool_index(w->r, op->tool);
      if (k != UINT32_MAX) w->r->m[i].tools[k]++;
    }
  }
  as_session_clear(sp);
  return rc;
}

static AS_WUR int do_write(worker *w, const scn_op *op, uint32_t i) {
  (void)op;
  char id[32], extra[160];
  as_session *sp = &w->s;
  sid(id, sizeof id, i);
  int rc = as_session_load(w->st, id, sp);
  if (rc != AS_OK) return rc;
  sim_step(); /* dawdle between load and save: others may write meanwhile */
  snprintf(extra, sizeof extra, "{\"writer\":\"%s\",\"at\":%" PRId64 "}", w->name, sp->version);
  rc = as_session_set_extra(sp, extra);
  if (rc == AS_OK) rc = as_session_save(w->st, sp);
  if (rc == AS_OK) ack_save(w->r, i, sp->version);
  as_session_clear(sp);
  return rc;
}

static AS_WUR int do_finalize(worker *w, const scn_op *op, uint32_t i) {
  (void)op;
  char id[32];
  as_session_status final;
  sid(id, sizeof id, i);
  w->watch = i;
  w->watch_hit = 0;
  int rc = as_finalize(w->st, w->r->locks, id, &w->r->rules, &final);
  w->watch = UINT32_MAX;
  /* Finalize settles conflicts itself: a caller (the stream loop) does not
  ** retry, so a stale version escaping strands the session in_progress. */
  if (rc == AS_STALE) {
    violate(w->r, "finalize of %s let a stale-version conflict escape (the caller would leave "
                  "the session in_progress)", id);
    return AS_OK;
  }
  if (rc != AS_OK) return rc;
  if (!w->watch_hit)
    violate(w->r, "finalize of %s ran without taking the session's lock", id);
  if (!as_session_status_terminal(final))
    violate(w->r, "finalize of %s returned OK leaving it %s", id, as_session_status_name(final));
  w->r->m[i].finalized = 1;
  return AS_OK;
}

static AS_WUR int do_pause(worker *w, const scn_op *op, uint32_t i) {
  (void)op;
  char id[32];
  bool changed = false;
  sid(id, sizeof id, i);
  int rc = as_mark_paused(w->st, w->r->locks, id, &changed);
  if (rc == AS_STALE) {
    violate(w->r, "marking %s paused let a stale-version conflict escape", id);
    return AS_OK;
  }
  if (rc != AS_OK) return rc;
  /* From here on the session is awaiting_input or terminal: nothing moves
  ** a paused run back, and a pause never undoes a finalize. */
  int lrc = as_session_load(w->st, id, &w->s);
  if (lrc == AS_OK) {
    as_session_status now = w->s.status;
    if (now != AS_SESS_AWAITING_INPUT && !as_session_status_terminal(now))
      violate(w->r, "paused run %s is %s, not awaiting_input", id, as_session_status_name(now));
    as_session_clear(&w->s);
  }
  return AS_OK; /* a failed look is not the pause's failure */
}

static void thread_id(char *buf, size_t cap, uint32_t i, uint32_t retry) {
  if (retry)
    snprintf(buf, cap, "s%" PRIu32 ":retry-%" PRIu32, i, retry);
  else
    snprintf(buf, cap, "s%" PRIu32, i);
}

static AS_WUR int do_checkpoint(worker *w, const scn_op *op, uint32_t i) {
  char tid[64];
  thread_id(tid, sizeof tid, i, op->retry);
  int rc = as_checkpoint_put(w->st, tid, "ck", 2);
  if (rc == AS_OK) w->r->m[i].ckpt_mask |= 1u << op->retry;
  return rc;
}

/* After a GC: every checkpoint acknowledged before it, of a session still
** active after it (so active throughout: terminal is for good), is there. */
static AS_WUR int do_gc(worker *w, const scn_op *op, uint32_t i) {
  (void)op;
  (void)i;
  run *r = w->r;
  uint32_t before[SCN_MAX_SESSIONS];
  for (uint32_t k = 0; k < r->sc->sessions; k++) before[k] = r->m[k].ckpt_mask;
  size_t removed = 0;
  int rc = as_checkpoint_gc(w->st, &removed);
  if (rc != AS_OK) return rc;
  for (uint32_t k = 0; k < r->sc->sessions && !r->violated; k++) {
    if (!before[k]) continue;
    char id[32];
    sid(id, sizeof id, k);
    if (as_session_load(w->st, id, &w->s) != AS_OK) continue; /* cannot look: no verdict */
    int active = as_session_status_active(w->s.status);
    as_session_clear(&w->s);
    for (uint32_t n = 0; active && n < 32; n++) {
      if (!(before[k] & (1u << n))) continue;
      char tid[64], buf[8];
      size_t len = 0;
      thread_id(tid, sizeof tid, k, n);
      int grc = as_checkpoint_get(w->st, tid, buf, sizeof buf, &len);
      if (grc == AS_NOTFOUND)
        violate(r, "checkpoint GC removed %s while its session %s is active", tid, id);
    }
  }
  return AS_OK;
}

/* Run one operation on session i with retries; UINT32_MAX when none. */
static void run_op(worker *w, const scn_op *op, uint32_t i) {
  static const op_fn fns[SCN__OP_COUNT] = {
      [SCN_OP_START] = do_start,   [SCN_OP_TOOL] = do_tool,
      [SCN_OP_FINALIZE] = do_finalize, [SCN_OP_PAUSE] = do_pause,
      [SCN_OP_WRITE] = do_write,   [SCN_OP_CHECKPOINT] = do_checkpoint,
      [SCN_OP_GC] = do_gc,
  };
  for (int attempt = 0; attempt < OP_ATTEMPTS && !w->r->violated; attempt++) {
    int rc = conn(w);
    if (rc == AS_OK) rc = fns[op->kind](w, op, i);
    if (rc == AS_OK) return;
    if (rc == AS_NOTFOUND) {
      violate(w->r, "%s s%" PRIu32 " (line %u): the session is gone", scn_op_name(op->kind), i,
              op->line);
      return;
    }
    if (!transient(rc) && rc != AS_NOMEM) {
      violate(w->r, "%s s%" PRIu32 " (line %u) failed: %s (%s)", scn_op_name(op->kind), i, op->line,
              as_status_name(rc), w->st ? as_store_errmsg(w->st) : "no connection");
      return;
    }
    if (rc == AS_STALE) continue; /* lost to another writer: again at once */
    pause_a_moment();             /* busy, a fault, a crash: back off */
  }
  /* Not acknowledged: nothing to hold the runtime to. */
}

static void exec_op(worker *w, const scn_op *op) {
  run *r = w->r;
  switch (op->kind) {
  case SCN_OP_SLEEP:
    as_sleep_until(as_now_mono_ns() + op->duration);
    return;
  case SCN_OP_CRASH:
    simdb_crash(r->disk);
    r->epoch++;
    return;
  case SCN_OP_GC:
    run_op(w, op, 0);
    return;
  default:
    break;
  }
  if (op->session == SCN_ALL) {
    for (uint32_t i = 0; i < r->sc->sessions && !r->violated; i++) run_op(w, op, i);
    return;
  }
  uint32_t i = op->session;
  if (i == SCN_ANY) i = (uint32_t)sim_rng_below(sim_workload_rng(), r->sc->sessions);
  run_op(w, op, i);
}

static void actor_task(void *arg) {
  worker *w = arg;
  for (uint32_t k = 0; k < w->actor->nops && !w->r->violated; k++)
    for (uint32_t n = 0; n < w->actor->ops[k].repeat && !w->r->violated; n++)
      exec_op(w, &w->actor->ops[k]);
  as_store_close(w->st);
  w->st = NULL;
  w->done = 1;
}

/* --- quiescence ------------------------------------------------------------- */

static const char *json_to(const char *payload, char *buf, size_t cap) {
  const char *p = strstr(payload, "\"to\":\"");
  if (!p) return NULL;
  p += 6;
  size_t n = strcspn(p, "\"");
  if (n >= cap) return NULL;
  memcpy(buf, p, n);
  buf[n] = '\0';
  return buf;
}

static void check_events(run *r, as_store *st, const char *id, const as_session *s) {
  int64_t want = 1, after = 0;
  int terminal = 0;
  char last[32] = "new";
  for (;;) {
    as_event_list l = {0};
    if (as_event_read(st, id, after, AS_EVENT_READ_MAX, &l) != AS_OK) return; /* no verdict */
    for (size_t k = 0; k < l.n && !r->violated; k++) {
      const as_event *e = &l.items[k];
      if (e->seq != want)
        violate(r, "event seqs of %s are not contiguous: %" PRId64 " follows %" PRId64, id, e->seq,
                want - 1);
      want = e->seq + 1;
      after = e->seq;
      char to[32];
      if (strcmp(e->kind, AS_EVENT_STATUS_CHANGED) != 0 || !json_to(e->payload, to, sizeof to))
        continue;
      as_session_status st_to;
      if (as_session_status_parse(to, &st_to) != AS_OK) continue;
      if (terminal && strcmp(to, last) != 0)
        violate(r, "terminal status overwritten: %s went from %s to %s", id, last, to);
      terminal = as_session_status_terminal(st_to);
      snprintf(last, sizeof last, "%s", to);
    }
    size_t n = l.n;
    as_event_list_clear(&l);
    if (n < AS_EVENT_READ_MAX || r->violated) break;
  }
  if (!r->violated && strcmp(last, as_session_status_name(s->status)) != 0)
    violate(r, "%s is %s but its last status_changed event says %s", id,
            as_session_status_name(s->status), last);
}

static void check_session(run *r, as_store *st, uint32_t i) {
  char id[32];
  as_session *sp = &r->aux.s;
  smodel *m = &r->m[i];
  sid(id, sizeof id, i);
  int rc = as_session_load(st, id, sp);
  if (rc == AS_NOTFOUND) {
    violate(r, "acknowledged session %s is gone", id);
    return;
  }
  if (rc != AS_OK) return; /* cannot look: no verdict */
  int64_t maxv = 0;
  for (size_t k = 0; k < m->nver; k++) maxv = m->versions[k] > maxv ? m->versions[k] : maxv;
  /* The create is acknowledged at version 1 and every save adds one: n
  ** acknowledged saves, the create among them, need a version of n at least. */
  if (maxv > sp->version || (int64_t)m->nver > sp->version)
    violate(r, "lost write: %s is at version %" PRId64 " but %zu saves up to version %" PRId64
               " were acknowledged", id, sp->version, m->nver, maxv);
  for (uint32_t k = 0; k < r->ntools && !r->violated; k++) {
    uint32_t have = 0;
    for (size_t c = 0; c < sp->ncalls; c++)
      have += sp->calls[c].state == AS_TOOL_EXECUTED && strcmp(sp->calls[c].tool, r->tools[k]) == 0;
    if (have < m->tools[k])
      violate(r, "lost write: %s has %" PRIu32 " %s calls, %" PRIu32 " were acknowledged", id, have,
              r->tools[k], m->tools[k]);
  }
  if (!r->violated && m->finalized) {
    as_session_status want;
    char reason[AS_REASON_MAX];
    if (!as_session_status_terminal(sp->status))
      violate(r, "%s was finalized but is %s at quiescence", id, as_session_status_name(sp->status));
    else if (as_infer_terminal(sp, &r->rules, &want, reason, sizeof reason) == AS_OK &&
             want != sp->status && sp->status != AS_SESS_ERROR)
      violate(r, "%s ended %s but its tool-call history implies %s", id,
              as_session_status_name(sp->status), as_session_status_name(want));
  }
  if (!r->violated) check_events(r, st, id, sp);
  as_session_clear(sp);
}

static void quiescence(run *r) {
  worker *q = &r->aux;
  q->epoch = UINT64_MAX; /* a fresh connection */
  snprintf(q->name, sizeof q->name, "oracle");
  int rc = AS_BUSY;
  for (int attempt = 0; attempt < OP_ATTEMPTS && transient(rc); attempt++) {
    rc = conn(q);
    if (rc == AS_OK) break;
    pause_a_moment();
  }
  if (rc != AS_OK) {
    violate(r, "at quiescence the database cannot be opened: %s", as_status_name(rc));
    return;
  }
  for (uint32_t i = 0; i < r->sc->sessions && !r->violated; i++) check_session(r, q->st, i);
  as_store_close(q->st);
  q->st = NULL;
}

/* --- the program --------------------------------------------------------------- */

static AS_WUR int setup(void *state, sim_rng *workload) {
  (void)workload;
  run *r = state;
  const scn_runner *rn = sim_program_user();
  const scenario *sc = rn->sc;
  int rc = AS_OK;
  r->rn = rn;
  r->sc = sc;
  r->aux.r = r;
  r->aux.watch = UINT32_MAX;
  r->aux.epoch = UINT64_MAX;
  r->rules.legacy_escalate = rn->legacy;
  r->rules.n_legacy_escalate = sc->nlegacy;
  sim_option("scenario", "%s", sc->name);
  rc = simdb_run_begin();
  if (rc == AS_OK) rc = simdb_disk_new(&r->disk, NULL);
  if (rc != AS_OK) return rc;
  simdb_disk_fault_rate(r->disk, AS_FP_VFS_READ, sc->faults.read);
  simdb_disk_fault_rate(r->disk, AS_FP_VFS_WRITE, sc->faults.write);
  simdb_disk_fault_rate(r->disk, AS_FP_VFS_FULL, sc->faults.full);
  simdb_disk_fault_rate(r->disk, AS_FP_VFS_LOCK_BUSY, sc->faults.busy);
  simdb_disk_fault_rate(r->disk, AS_FP_VFS_SYNC, sc->faults.sync);
  rc = as_locks_new(&r->locks, 0);
  if (rc != AS_OK) return rc;
  as_locks_observe(r->locks, observe_lock, r);
  r->m = calloc(sc->sessions, sizeof *r->m);
  for (uint32_t a = 0; a < sc->nactors; a++) r->nworkers += sc->actors[a].count;
  r->workers = calloc(r->nworkers, sizeof *r->workers);
  r->ntask_slots = r->nworkers + 2;
  r->by_task = calloc(r->ntask_slots, sizeof *r->by_task);
  r->tasks = calloc(r->nworkers, sizeof *r->tasks);
  if (!r->m || !r->workers || !r->by_task || !r->tasks) return AS_NOMEM;
  return AS_OK;
}

static void main_task(void *state) {
  run *r = state;
  const scenario *sc = r->sc;
  worker *creator = &r->aux;
  snprintf(creator->name, sizeof creator->name, "setup");
  /* The sessions exist before any actor starts. */
  for (uint32_t i = 0; i < sc->sessions; i++) {
    int rc = AS_BUSY;
    for (int attempt = 0; attempt < OP_ATTEMPTS && transient(rc) && rc != AS_STALE; attempt++) {
      rc = conn(creator);
      if (rc == AS_OK) {
        char id[32];
        sid(id, sizeof id, i);
        rc = as_session_init(&creator->s, id);
        if (rc == AS_OK) rc = as_session_create(creator->st, &creator->s);
        if (rc == AS_OK) ack_save(r, i, creator->s.version);
        if (rc == AS_EXISTS) rc = AS_OK; /* a retry after an unacknowledged create */
        as_session_clear(&creator->s);
      }
      if (rc == AS_OK) break;
      pause_a_moment();
    }
    if (rc != AS_OK) {
      sim_fail(SIM_INVARIANT, "could not create session s%" PRIu32 ": %s", i, as_status_name(rc));
      return;
    }
  }
  as_store_close(creator->st);
  creator->st = NULL;
  as_task **tasks = r->tasks;
  uint32_t n = 0;
  for (uint32_t a = 0; a < sc->nactors; a++) {
    for (uint32_t k = 0; k < sc->actors[a].count; k++, n++) {
      worker *w = &r->workers[n];
      w->r = r;
      w->actor = &sc->actors[a];
      w->instance = k;
      w->watch = UINT32_MAX;
      snprintf(w->name, sizeof w->name, "%s.%" PRIu32, sc->actors[a].name, k);
      if (as_task_spawn(&tasks[n], w->name, actor_task, w) != AS_OK) {
        sim_fail(SIM_ASSERT, "could not spawn actor %s", w->name);
        return;
      }
      /* Task ids count up from 1 in spawn order: main is 1, this one n+2. */
      if (n + 2 < r->ntask_slots) r->by_task[n + 2] = w;
    }
  }
  for (uint32_t k = 0; k < n; k++)
    if (as_task_join(tasks[k]) != AS_OK) sim_fail(SIM_ASSERT, "join failed");
  if (!r->violated) quiescence(r);
}

static void teardown(void *state) {
  run *r = state;
  /* A worker still holding a connection was abandoned mid-call (the run
  ** failed elsewhere): SQLite must not be touched through it; simdb_run_end
  ** reclaims SQLite's memory, and as_store_forget ours. */
  for (uint32_t k = 0; r->workers && k < r->nworkers; k++) {
    as_store_forget(r->workers[k].st);
    as_session_clear(&r->workers[k].s);
  }
  as_store_forget(r->aux.st);
  as_session_clear(&r->aux.s);
  as_locks_free(r->locks);
  if (r->m)
    for (uint32_t i = 0; i < r->sc->sessions; i++) free(r->m[i].versions);
  free(r->m);
  free(r->workers);
  free(r->by_task);
  free(r->tasks);
  (void)simdb_run_end(); /* ignore: the count of leftovers says nothing to the run */
}

int scn_runner_new(scn_runner **out, const scenario *sc) {
  scn_runner *r = calloc(1, sizeof *r);
  if (!r) return AS_NOMEM;
  r->sc = malloc(sizeof *r->sc);
  if (!r->sc) {
    free(r);
    return AS_NOMEM;
  }
  memcpy(r->sc, sc, sizeof *sc);
  for (uint32_t k = 0; k < sc->nlegacy; k++) r->legacy[k] = r->sc->legacy[k];
  r->prog = (sim_program){
      .name = r->sc->name,
      .summary = r->sc->describe,
      .state_size = sizeof(run),
      .est_tasks = 2,
      .est_steps = 2000,
      .setup = setup,
      .main = main_task,
      .invariant = invariant,
      .teardown = teardown,
      .user = r,
  };
  for (uint32_t a = 0; a < sc->nactors; a++) r->prog.est_tasks += sc->actors[a].count;
  *out = r;
  return AS_OK;
}

void scn_runner_free(scn_runner *r) {
  if (!r) return;
  free(r->sc);
  free(r);
}

const sim_program *scn_runner_program(const scn_runner *r) { return &r->prog; }
const scenario *scn_runner_scenario(const scn_runner *r) { return r->sc; }

/*
** runner.c -- scenarios run against the runtime core on the simulated disk
** (runner.h). The runner only drives: each actor instance is a task with its
** own store connection, executing its operations through the runtime, and
** telling the event stream what it asked (ORC_EV_OP) and what the runtime
** answered (ORC_EV_ACK). It judges nothing itself: the oracle (sim/oracle/)
** does, from the database's own evidence.
**
** Transient errors (busy, I/O faults, a disk full, a connection killed by a
** crash, a stale version for the unlocked writers) are retried after a
** virtual millisecond, a bounded number of times; an operation that still
** fails was simply not acknowledged.
*/
#include "scenario/runner.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <xxhash.h>

#include "agentsim/budget.h"
#include "agentsim/checkpoints.h"
#include "agentsim/events.h"
#include "agentsim/fmt.h"
#include "agentsim/finalize.h"
#include "agentsim/locks.h"
#include "agentsim/metrics.h"
#include "agentsim/retry.h"
#include "agentsim/store.h"
#include "agentsim/trace.h"
#include "agentsim/turn.h"
#include "oracle/oracle.h"
#include "simdb.h"
#include "llm/stub.h"
#include "llm/cassette.h"
#include "agentsim/http_client.h"
#include "agentsim/llm_http.h"

#define OP_ATTEMPTS 40
#define RETRY_PAUSE_NS 1000000u /* a virtual millisecond */
#define BUSY_TIMEOUT_MS 2000
#define DB_PATH "agentsim.db"
#define TOOL_COST_NS 1000000u   /* what an app tool's call costs in virtual time */
#define WATCHDOG_EVERY_NS 1000000000ull

struct scn_runner {
  scenario sc;
  sim_program prog;
  const char *legacy[SCN_MAX_LEGACY];
  as_app *app;            /* the scenario's app, or NULL */
  as_stub_script *script; /* its stub LLM's script (NULL with a cassette and no script) */
  as_cassette *cassette;  /* `llm cassette:PATH`, loaded, or NULL */
  /* `llm record:DIR,KIND,URL,MODEL[,stream][,structured]` */
  int record;
  char rec_dir[2 * SCN_MAX_PATH + 16], rec_url[SCN_MAX_PATH], rec_model[SCN_MAX_PATH];
  as_cassette_meta rec_meta;
  orc_app *oapp;          /* what the oracle knows of the app (its own copy) */
  as_prices *prices;      /* the budget's price table (the runtime's reading), or NULL */
  as_budget_cfg bcfg;     /* the scenario's budget (prices above) */
  char prices_path[2 * SCN_MAX_PATH + 16]; /* which the oracle reads for itself */
  char fields[SCN_MAX_FIELDS * (2 * SCN_MAX_NAME + 8) + 4]; /* the sessions' fields, JSON */
};

typedef struct worker {
  struct run *r;
  const scn_actor *actor;
  as_store *st;
  uint64_t epoch;      /* the disk's crash count the connection was opened
                       ** under (a crash may land inside any task's I/O) */
  char name[SCN_MAX_NAME + 16];
  uint64_t writes;     /* writes so far: each write's content, each call's
                       ** arguments, each checkpoint's bytes is unique */
  as_session s;        /* the session an operation works on: in run state, not
                       ** on the task's stack, so teardown frees it if the
                       ** task is abandoned */
  sim_rng rng;         /* the task's own workload substream (s=any, a
                       ** generated actor's draws), keyed by actor and
                       ** instance: what it draws never depends on the
                       ** interleaving, nor on how many tasks the others run */
} worker;

typedef struct run {
  const scenario *sc;
  simdb_disk *disk;
  as_lock_registry *locks;
  as_finalize_rules rules;
  orc *oracle;
  worker *workers;
  uint32_t nworkers;
  /* What this seed runs (the scenario's own, or a swarm's choice). */
  uint32_t *counts;                   /* tasks per actor */
  unsigned char op_on[SCN__OP_COUNT]; /* operations switched on */
  uint32_t wmul[SCN__OP_COUNT];       /* weight multipliers of generated actors */
  scn_faults faults;                  /* fault rates */
  const as_app *app;  /* the runner's, or NULL */
  const as_stub_script *script;
  const as_cassette *cassette; /* the runner's, or NULL: the stub */
  as_cassette_recorder *recorder; /* `llm record:` */
  as_cassette_live *live;
  uint64_t llm_seed;  /* the run's LLM stream: the stub's choices */
  as_llm stub;        /* the stub, when there is an app */
  as_llm llm;         /* what the runtime calls: the stub, each request told the oracle */
  as_runs *runs;      /* in-flight retries and running runs, shared like the locks */
  const as_budget_cfg *budget; /* the scenario's budget, or NULL */
  as_tracer tracer;   /* spans into the stream (with a budget) */
  char (*last_op)[AS_OP_ID_MAX]; /* each session's latest cycle, as its trigger answered */
  uint32_t *tool_calls; /* calls so far of app tool k by session i: [i * ntools + k] */
  worker aux;      /* main's own: creating sessions */
  as_task **tasks; /* the actors' handles (run state: main may be abandoned) */
  const char *fields; /* the sessions' fields, JSON (the runner's) */
  char harness[512]; /* the harness itself could not go on */
} run;

/* Whether the run must stop: the oracle found something, or lost track. */
static int stopped(const run *r) {
  return (r->oracle && orc_violation(r->oracle)) || r->harness[0];
}

static int invariant(void *state, char *msg, size_t cap) {
  run *r = state;
  if (!stopped(r)) return 0;
  const char *v = r->oracle ? orc_violation(r->oracle) : NULL;
  /* The oracle losing track is the harness's failure, not the runtime's. */
  if (!v || orc_violated_check(r->oracle) == ORC__CK_COUNT)
    sim_fail(SIM_HARNESS, "%s", v ? v : r->harness);
  snprintf(msg, cap, "%s", v ? v : r->harness);
  return 1;
}

/* --- the lock registry forwards into the stream ------------------------------------ */

static void observe_lock(void *ctx, const char *key, uint64_t task, as_lock_event ev) {
  (void)ctx;
  (void)task; /* the stream knows the task: it is the one running */
  orc_lock_event e = ev == AS_LOCK_ACQUIRED       ? ORC_LOCK_ACQUIRED
                     : ev == AS_LOCK_TRY_ACQUIRED ? ORC_LOCK_TRY_ACQUIRED
                     : ev == AS_LOCK_TRY_REFUSED  ? ORC_LOCK_TRY_REFUSED
                                                  : ORC_LOCK_RELEASED;
  sim_emit(ORC_EV_LOCK, 0, (uint64_t)e, key);
}

/* --- the runs registry forwards into the stream too ------------------------------- */

static void observe_runs(void *ctx, const char *key, uint64_t task, as_runs_event ev) {
  (void)ctx;
  (void)task; /* the stream knows the task */
  orc_runs_event e = ev == AS_RUNS_RETRY_ENTERED   ? ORC_RUNS_RETRY_ENTERED
                     : ev == AS_RUNS_RETRY_REFUSED ? ORC_RUNS_RETRY_REFUSED
                     : ev == AS_RUNS_RETRY_LEFT    ? ORC_RUNS_RETRY_LEFT
                     : ev == AS_RUNS_RUN_BEGAN     ? ORC_RUNS_RUN_BEGAN
                     : ev == AS_RUNS_RUN_ENDED     ? ORC_RUNS_RUN_ENDED
                     : ev == AS_RUNS_CANCEL_MARKED ? ORC_RUNS_CANCEL_MARKED
                     : ev == AS_RUNS_CANCEL_IDLE   ? ORC_RUNS_CANCEL_IDLE
                                                   : ORC_RUNS_CANCEL_SEEN;
  sim_emit(ORC_EV_RUNS, 0, (uint64_t)e, key);
}

/* --- the model: the stub, each request told the oracle ------------------------------ */

/* What the stub reported at the edge, for the answer's event (a run's
** tasks share one OS thread; sweeps may run runs on several). */
static _Thread_local struct {
  int seen;
  int64_t v[4];
} edge_seen;

/* The stub's edge: the runtime's own conversion (as_llm_usage_from_inclusive),
** noting what the provider reported for the oracle. */
static AS_WUR int edge(int64_t prompt, int64_t cache_read, int64_t cache_write, int64_t completion,
                as_llm_usage *out) {
  edge_seen.seen = 1;
  edge_seen.v[0] = prompt;
  edge_seen.v[1] = cache_read;
  edge_seen.v[2] = cache_write;
  edge_seen.v[3] = completion;
  return as_llm_usage_from_inclusive(prompt, cache_read, cache_write, completion, out);
}

/* With a cassette the evidence is the exchange's `expect` (what whoever
** made the cassette knows the answer is), never what the provider's parser
** made of the bytes: the answer's status from its error kind, the usage as
** the provider reported it. A request the cassette lacks is the scenario's
** bug: the harness stops, naming it. */
static void cassette_evidence(run *r, orc_llm_answer *a) {
  const as_cassette_exchange *x = NULL;
  char miss[AS_CASSETTE_ERR_MAX];
  int rc = as_cassette_llm_taken(&r->stub, &x, miss, sizeof miss);
  if (rc != AS_OK || !x) {
    if (!r->harness[0])
      snprintf(r->harness, sizeof r->harness, "%.500s",
                     miss[0] ? miss : "the cassette replayed nothing for an LLM call");
    return;
  }
  const as_cassette_expect *e = &x->expect;
  static const int status[] = {AS_OK,
#define CAS__ST(NAME, name, st) st,
                               AS_LLM_ERROR_MAP(CAS__ST)
#undef CAS__ST
  };
  a->rc = (unsigned)e->error < sizeof status / sizeof *status ? status[e->error] : AS_INTERNAL;
  a->usage_known = e->error == AS_LLM_ERR_NONE && e->usage_known;
  a->prompt = e->prompt;
  a->cache_read = e->cache_read;
  a->cache_write = e->cache_write;
  a->completion = e->completion;
}

static AS_WUR int llm_complete(void *self, const as_llm_request *req, as_llm_response *out,
                        as_llm_error *err) {
  run *r = self;
  orc_llm l = {.session = req->session_id, .agent = req->agent, .call = req->call,
               .attempt = req->attempt};
  sim_publish(&(sim_ev){.kind = ORC_EV_LLM, .ref = &l});
  edge_seen.seen = 0;
  int rc = r->stub.vt->complete(r->stub.self, req, out, err);
  orc_llm_answer a = {.session = req->session_id, .agent = req->agent, .model = r->stub.model,
                      .call = req->call, .attempt = req->attempt, .rc = rc,
                      .usage_known = rc == AS_OK && out->usage_known && edge_seen.seen,
                      .prompt = edge_seen.v[0], .cache_read = edge_seen.v[1],
                      .cache_write = edge_seen.v[2], .completion = edge_seen.v[3]};
  if (r->cassette) cassette_evidence(r, &a);
  if (r->recorder && rc == AS_OK && out->usage_known) {
    /* A recording is not a verification run: the provider's own reading. */
    const as_llm_usage *u = &out->usage;
    a.usage_known = 1;
    a.prompt = u->input_tokens + u->cache_read_tokens + u->cache_write_tokens;
    a.cache_read = u->cache_read_tokens;
    a.cache_write = u->cache_write_tokens;
    a.completion = u->output_tokens;
  }
  sim_publish(&(sim_ev){.kind = ORC_EV_LLM_ANSWER, .ref = &a});
  return rc;
}

/* The runs' spans, each into the stream as it ends (the oracle prices their
** usage itself). */
static void span_emit(void *self, const as_span *sp) {
  (void)self;
  orc_span_attr attrs[AS_SPAN_ATTRS_MAX];
  size_t n = sp->nattrs < AS_SPAN_ATTRS_MAX ? sp->nattrs : AS_SPAN_ATTRS_MAX;
  for (size_t i = 0; i < n; i++)
    attrs[i] = (orc_span_attr){.key = sp->attrs[i].key, .s = sp->attrs[i].s, .i = sp->attrs[i].i};
  orc_span os = {.name = sp->name, .attrs = attrs, .nattrs = n};
  sim_publish(&(sim_ev){.kind = ORC_EV_SPAN, .ref = &os});
}

static void llm_destroy(void *self) { (void)self; /* the stub is destroyed on its own */ }

static const as_llm_vtable llm_told = {"stub", llm_complete, llm_destroy};

/* --- telling the oracle -------------------------------------------------------------- */

static void publish_op(worker *w, uint32_t kind, orc_op *op) {
  sim_publish(&(sim_ev){.kind = kind, .object = op->kind, .label = w->name, .ref = op});
}

static orc_op op_for(const scn_op *sop, const char *session) {
  return (orc_op){.kind = sop->kind, .line = sop->line, .session = session, .changed = -1,
                  .removed = -1};
}

static void ack(worker *w, orc_op *op, int rc) {
  op->rc = rc;
  publish_op(w, ORC_EV_ACK, op);
}

/* --- connections and retries ------------------------------------------------------------ */

static int transient(int rc) {
  return rc == AS_BUSY || rc == AS_IO || rc == AS_FULL || rc == AS_STALE || rc == AS_NOMEM;
}

static void pause_a_moment(void) { as_sleep_until(as_now_mono_ns() + RETRY_PAUSE_NS); }

/* The worker's connection, (re)opened after a crash killed the old one. */
static AS_WUR int conn(worker *w) {
  run *r = w->r;
  uint64_t crashes = simdb_disk_crashes(r->disk);
  if (w->st && w->epoch == crashes) return AS_OK;
  as_store_close(w->st);
  w->st = NULL;
  as_store_opts o = {.vfs = simdb_disk_vfs(r->disk),
                     .journal_mode = scn_journal_name(r->sc->journal),
                     .synchronous = scn_sync_name(r->sc->synchronous),
                     .busy_timeout_ms = BUSY_TIMEOUT_MS};
  w->epoch = crashes;
  return as_store_open(&w->st, DB_PATH, &o);
}

static void sid(char *buf, size_t cap, uint32_t i) { snprintf(buf, cap, "s%" PRIu32, i); }

/* --- the executors: one per row of the operation table ----------------------------------- */

typedef AS_WUR int (*exec_fn)(worker *w, const scn_op *op, uint32_t i);

static AS_WUR int status_save(worker *w, as_session *s, as_session_status to) {
  char payload[160];
  snprintf(payload, sizeof payload, "{\"from\":\"%s\",\"to\":\"%s\",\"reason\":\"\"}",
           as_session_status_name(s->status), as_session_status_name(to));
  s->status = to;
  return as_session_save_with_event(w->st, s, AS_EVENT_STATUS_CHANGED, payload, NULL);
}

/* new -> in_progress, the caller holding the lock. */
static AS_WUR int start_locked(worker *w, const char *id, int *wrote) {
  as_session *sp = &w->s;
  *wrote = 0;
  int rc = as_session_load(w->st, id, sp);
  if (rc == AS_OK && sp->status == AS_SESS_NEW) {
    rc = status_save(w, sp, AS_SESS_IN_PROGRESS);
    *wrote = rc == AS_OK;
  }
  as_session_clear(sp);
  return rc;
}

static AS_WUR int exec_start(worker *w, const scn_op *sop, uint32_t i) {
  char id[32];
  sid(id, sizeof id, i);
  orc_op op = op_for(sop, id);
  publish_op(w, ORC_EV_OP, &op);
  int rc = as_lock_acquire(w->r->locks, id), wrote = 0;
  if (rc == AS_OK) {
    rc = start_locked(w, id, &wrote);
    int rc2 = as_lock_release(w->r->locks, id);
    rc = rc != AS_OK ? rc : rc2;
  }
  op.changed = wrote;
  ack(w, &op, rc);
  return rc;
}

static AS_WUR int tool_state(const scn_op *sop, as_tool_state *out) {
  return as_tool_state_parse(scn_tool_states[sop->state], out);
}

/* The arguments and result of a new call, unique to it (the texts live in
** the caller's frame until the answer is published). */
typedef struct call_text {
  char args[SCN_MAX_NAME + 64], result[48];
} call_text;

static void call_texts(worker *w, orc_op *op, call_text *ct) {
  uint64_t n = ++w->writes;
  snprintf(ct->args, sizeof ct->args, "{\"by\":\"%s\",\"n\":%" PRIu64 "}", w->name, n);
  snprintf(ct->result, sizeof ct->result, "{\"ok\":%" PRIu64 "}", n);
  op->args = ct->args;
  op->result = ct->result;
}

/* Load, append the call, save; the operation is published once the load
** says which version the save is based on. */
static AS_WUR int append_call(worker *w, orc_op *op, const char *id, const scn_op *sop,
                              call_text *ct, int *announced) {
  as_session *sp = &w->s;
  as_tool_state state;
  int rc = tool_state(sop, &state);
  if (rc == AS_OK) rc = as_session_load(w->st, id, sp);
  if (rc == AS_OK) {
    call_texts(w, op, ct);
    op->base_version = sp->version;
    publish_op(w, ORC_EV_OP, op);
    *announced = 1;
    /* A finished session takes no more tool calls. */
    if (!as_session_status_terminal(sp->status)) {
      rc = as_session_add_call(sp, sop->name, ct->args, ct->result, state);
      if (rc == AS_OK) rc = as_session_save(w->st, sp);
      if (rc == AS_OK) op->version = sp->version;
    }
  }
  as_session_clear(sp);
  return rc;
}

static AS_WUR int exec_tool(worker *w, const scn_op *sop, uint32_t i) {
  char id[32];
  sid(id, sizeof id, i);
  orc_op op = op_for(sop, id);
  op.tool = sop->name;
  op.tool_state = (int)sop->state;
  int announced = 0;
  call_text ct;
  int rc = append_call(w, &op, id, sop, &ct, &announced);
  if (announced) ack(w, &op, rc);
  return rc;
}

static AS_WUR int exec_write(worker *w, const scn_op *sop, uint32_t i) {
  char id[32], extra[160];
  as_session *sp = &w->s;
  sid(id, sizeof id, i);
  orc_op op = op_for(sop, id);
  int rc = as_session_load(w->st, id, sp);
  if (rc != AS_OK) {
    as_session_clear(sp);
    return rc;
  }
  snprintf(extra, sizeof extra, "{\"writer\":\"%s\",\"n\":%" PRIu64 ",\"at\":%" PRId64 "}", w->name,
           ++w->writes, sp->version);
  op.base_version = sp->version;
  op.content = extra;
  publish_op(w, ORC_EV_OP, &op);
  sim_step(); /* dawdle between load and save: others may write meanwhile */
  rc = as_session_set_extra(sp, extra);
  if (rc == AS_OK) rc = as_session_save(w->st, sp);
  if (rc == AS_OK) op.version = sp->version;
  as_session_clear(sp);
  ack(w, &op, rc);
  return rc;
}

static AS_WUR int exec_finalize(worker *w, const scn_op *sop, uint32_t i) {
  char id[32];
  sid(id, sizeof id, i);
  orc_op op = op_for(sop, id);
  publish_op(w, ORC_EV_OP, &op);
  as_session_status final = AS__SESS_COUNT;
  int rc = as_finalize(w->st, w->r->locks, id, &w->r->rules, &final);
  if (rc == AS_OK) op.status = as_session_status_name(final);
  ack(w, &op, rc);
  return rc;
}

typedef AS_WUR int (*mark_fn)(as_store *, as_lock_registry *, const char *, bool *);

static AS_WUR int exec_mark(worker *w, const scn_op *sop, uint32_t i, mark_fn fn) {
  char id[32];
  bool changed = false;
  sid(id, sizeof id, i);
  orc_op op = op_for(sop, id);
  publish_op(w, ORC_EV_OP, &op);
  int rc = fn(w->st, w->r->locks, id, &changed);
  if (rc == AS_OK) op.changed = changed;
  ack(w, &op, rc);
  return rc;
}

static AS_WUR int exec_pause(worker *w, const scn_op *sop, uint32_t i) {
  return exec_mark(w, sop, i, as_mark_paused);
}

/* The kind as the scenario gives it (unknown by default: any name, one the
** runtime does not know included), with a cause of its own. */
static AS_WUR int exec_fail(worker *w, const scn_op *sop, uint32_t i) {
  char id[32], cause[SCN_MAX_NAME + 48];
  bool changed = false;
  sid(id, sizeof id, i);
  snprintf(cause, sizeof cause, "failed by %s (%" PRIu64 ")", w->name, ++w->writes);
  orc_op op = op_for(sop, id);
  op.errkind = sop->name[0] ? sop->name : "unknown";
  op.content = cause;
  publish_op(w, ORC_EV_OP, &op);
  int rc = as_mark_failed_as(w->st, w->r->locks, id, op.errkind, cause, &changed);
  if (rc == AS_OK) op.changed = changed;
  ack(w, &op, rc);
  return rc;
}

/* Session i's thread, or the operation's own (thread=), with its retry. */
static void thread_id(char *buf, size_t cap, const scn_op *sop, uint32_t i) {
  size_t n = sop->name[0] ? (size_t)snprintf(buf, cap, "%s", sop->name)
                          : (size_t)snprintf(buf, cap, "s%" PRIu32, i);
  if (sop->retry && n < cap) snprintf(buf + n, cap - n, ":retry-%" PRIu64, sop->retry);
}

static AS_WUR int exec_checkpoint(worker *w, const scn_op *sop, uint32_t i) {
  char id[32], tid[SCN_MAX_NAME + 32], data[SCN_MAX_NAME + 48];
  sid(id, sizeof id, i);
  thread_id(tid, sizeof tid, sop, i);
  snprintf(data, sizeof data, "ck %s %" PRIu64, w->name, ++w->writes);
  orc_op op = op_for(sop, sop->name[0] ? NULL : id);
  op.thread = tid;
  op.content = data;
  publish_op(w, ORC_EV_OP, &op);
  int rc = as_checkpoint_put(w->st, tid, data, strlen(data));
  ack(w, &op, rc);
  return rc;
}

static AS_WUR int exec_gc(worker *w, const scn_op *sop, uint32_t i) {
  (void)i;
  orc_op op = op_for(sop, NULL);
  publish_op(w, ORC_EV_OP, &op);
  size_t removed = 0;
  int rc = as_checkpoint_gc(w->st, &removed);
  if (rc == AS_OK) op.removed = (int64_t)removed;
  ack(w, &op, rc);
  return rc;
}

static AS_WUR int exec_hold(worker *w, const scn_op *sop, uint32_t i) {
  char id[32];
  sid(id, sizeof id, i);
  orc_op op = op_for(sop, id);
  publish_op(w, ORC_EV_OP, &op);
  int rc = as_lock_acquire(w->r->locks, id);
  if (rc == AS_OK) {
    as_sleep_until(as_now_mono_ns() + sop->duration);
    rc = as_lock_release(w->r->locks, id);
  }
  ack(w, &op, rc);
  return rc;
}

/* A refusal is this operation's answer, not a failure to retry. */
static AS_WUR int exec_try(worker *w, const scn_op *sop, uint32_t i) {
  char id[32];
  sid(id, sizeof id, i);
  orc_op op = op_for(sop, id);
  publish_op(w, ORC_EV_OP, &op);
  int rc = as_lock_try_acquire(w->r->locks, id);
  if (rc == AS_OK && sop->duration) {
    /* Keep it a while; the holder's own second try must be refused. */
    as_sleep_until(as_now_mono_ns() + sop->duration);
    int again = as_lock_try_acquire(w->r->locks, id);
    if (again == AS_OK) again = as_lock_release(w->r->locks, id);
    if (again != AS_BUSY) rc = again;
  } else if (rc == AS_OK) {
    sim_step(); /* act on the session a moment, as a watchdog would */
  }
  if (rc == AS_OK) rc = as_lock_release(w->r->locks, id);
  ack(w, &op, rc);
  return rc == AS_BUSY ? AS_OK : rc;
}

/* An event appended outside the lock: it races every status change. */
static AS_WUR int exec_note(worker *w, const scn_op *sop, uint32_t i) {
  char id[32], payload[SCN_MAX_NAME + 48];
  sid(id, sizeof id, i);
  snprintf(payload, sizeof payload, "{\"by\":\"%s\",\"n\":%" PRIu64 "}", w->name, ++w->writes);
  orc_op op = op_for(sop, id);
  op.content = payload;
  publish_op(w, ORC_EV_OP, &op);
  int64_t seq = 0;
  int rc = as_event_append(w->st, id, "note", payload, &seq);
  if (rc == AS_OK) op.seq = seq;
  ack(w, &op, rc);
  return rc;
}

/* One run of an agent: the stream loop holds the session's lock throughout,
** starts the session, records its tool call, and finalizes (as_finalize
** takes the lock again, re-entrantly). */
static AS_WUR int turn_locked(worker *w, orc_op *op, const char *id, const scn_op *sop,
                              const call_text *ct) {
  int wrote = 0;
  int rc = start_locked(w, id, &wrote);
  for (int attempt = 0; rc == AS_OK && attempt < OP_ATTEMPTS; attempt++) {
    as_session *sp = &w->s;
    rc = as_session_load(w->st, id, sp);
    if (rc == AS_OK && !as_session_status_terminal(sp->status)) {
      rc = as_session_add_call(sp, sop->name, ct->args, ct->result, AS_TOOL_EXECUTED);
      if (rc == AS_OK) rc = as_session_save(w->st, sp);
    }
    as_session_clear(sp);
    if (rc != AS_STALE) break;
    rc = AS_OK; /* an unlocked writer saved in between: load again */
  }
  as_session_status final = AS__SESS_COUNT;
  if (rc == AS_OK) rc = as_finalize(w->st, w->r->locks, id, &w->r->rules, &final);
  if (rc == AS_OK) op->status = as_session_status_name(final);
  return rc;
}

static AS_WUR int exec_turn(worker *w, const scn_op *sop, uint32_t i) {
  char id[32];
  sid(id, sizeof id, i);
  orc_op op = op_for(sop, id);
  op.tool = sop->name;
  op.tool_state = 0;
  call_text ct;
  call_texts(w, &op, &ct);
  publish_op(w, ORC_EV_OP, &op);
  int rc = as_lock_acquire(w->r->locks, id);
  if (rc == AS_OK) {
    rc = turn_locked(w, &op, id, sop, &ct);
    int rc2 = as_lock_release(w->r->locks, id);
    rc = rc != AS_OK ? rc : rc2;
  }
  ack(w, &op, rc);
  return rc;
}

/* --- the agents ---------------------------------------------------------------------------- */

/* The world's side of an app tool: it takes virtual time (others run
** meanwhile), tells the oracle it ran (the evidence that a call was carried
** out, whatever the runtime records), and answers what the script says. */
/* The number of this call of tool t by session_id: 1, 2, ... (1 for a
** session that is not one of the scenario's). */
static unsigned tool_call_number(run *r, const char *session_id, const as_app_tool *t) {
  char *end = NULL;
  unsigned long i = session_id && session_id[0] == 's' ? strtoul(session_id + 1, &end, 10) : 0;
  size_t k = (size_t)(t - r->app->tools);
  if (!end || *end || i >= r->sc->sessions || k >= r->app->ntools || !r->tool_calls) return 1;
  uint32_t *n = &r->tool_calls[i * r->app->ntools + k];
  if (*n < UINT32_MAX) (*n)++;
  return *n;
}

/* The world's side of an app tool: it takes virtual time (others run
** meanwhile), tells the oracle it ran (the evidence that a call was carried
** out, whatever the runtime records), and answers what the script says: a
** result, or the server's failure (its status, which the runtime hears). */
static int tool_exec(void *ctx, const char *session_id, const as_app_tool *t, const char *args,
                     char **result) {
  worker *w = ctx;
  run *r = w->r;
  unsigned n = tool_call_number(r, session_id, t);
  /* A cassette without a script: every tool gives the runtime's default. */
  int rc = r->script ? as_stub_tool_result(r->script, r->llm_seed, session_id, t->qname, n, result)
                     : AS_NOTFOUND;
  orc_exec ex = {.session = session_id, .tool = t->qname, .args = args,
                 .fail = rc == AS_NOTFOUND || rc == AS_NOMEM ? AS_OK : rc};
  sim_publish(&(sim_ev){.kind = ORC_EV_EXEC, .label = w->name, .ref = &ex});
  as_sleep_until(as_now_mono_ns() + TOOL_COST_NS);
  return rc == AS_NOTFOUND ? AS_OK : rc; /* NULL result: the runtime's default */
}

static as_runtime runtime_of(worker *w) {
  run *r = w->r;
  return (as_runtime){.st = w->st, .locks = r->locks, .app = r->app, .llm = &r->llm,
                      .exec = tool_exec, .exec_ctx = w, .runs = r->runs, .budget = r->budget,
                      .tracer = r->budget ? &r->tracer : NULL};
}

static int outcome_of(const as_run_result *res) {
  switch (res->outcome) {
  case AS_RUN_ENDED: return ORC_RUN_ENDED;
  case AS_RUN_PAUSED: return ORC_RUN_PAUSED;
  case AS_RUN_FAILED: return ORC_RUN_FAILED;
  default: return ORC_RUN_IDLE;
  }
}

/* A busy session is an API caller's answer (429), not a transient. */
static int api_answer(const scn_op *sop, int rc) { return sop->api && rc == AS_BUSY ? AS_OK : rc; }

static AS_WUR int exec_run(worker *w, const scn_op *sop, uint32_t i) {
  char id[32];
  sid(id, sizeof id, i);
  orc_op op = op_for(sop, id);
  op.api = (int)sop->api;
  publish_op(w, ORC_EV_OP, &op);
  as_runtime rt = runtime_of(w);
  as_run_result res;
  int rc = as_run(&rt, id, sop->api != 0, &res);
  if (rc == AS_OK) {
    op.outcome = outcome_of(&res);
    op.status = as_session_status_name(res.status);
  }
  ack(w, &op, rc);
  return api_answer(sop, rc);
}

static int answer_of(as_retry_refusal f) {
  switch (f) {
  case AS_RETRY_ACCEPTED: return ORC_RA_ACCEPTED;
  case AS_RETRY_IN_PROGRESS: return ORC_RA_IN_PROGRESS;
  case AS_RETRY_NOT_ERROR: return ORC_RA_NOT_ERROR;
  default: return ORC_RA_DENIED;
  }
}

/* How a retry or a preview answered, for the oracle to judge. */
static void retry_answered(orc_op *op, const as_retry_answer *ans, bool ran) {
  op->answer = answer_of(ans->refusal);
  op->reason = ans->reason;
  op->retry_count = ans->retry_count;
  op->thread = ans->thread;
  if (ran && ans->refusal == AS_RETRY_ACCEPTED) {
    op->outcome = outcome_of(&ans->run);
    op->status = as_session_status_name(ans->run.status);
  }
}

static AS_WUR int exec_retry(worker *w, const scn_op *sop, uint32_t i) {
  char id[32];
  sid(id, sizeof id, i);
  orc_op op = op_for(sop, id);
  op.api = (int)sop->api;
  publish_op(w, ORC_EV_OP, &op);
  as_runtime rt = runtime_of(w);
  as_retry_answer ans;
  memset(&ans, 0, sizeof ans);
  int rc = as_retry_session(&rt, id, sop->api != 0, &ans);
  if (rc == AS_OK) retry_answered(&op, &ans, true);
  ack(w, &op, rc);
  return api_answer(sop, rc);
}

static AS_WUR int exec_preview(worker *w, const scn_op *sop, uint32_t i) {
  char id[32];
  sid(id, sizeof id, i);
  orc_op op = op_for(sop, id);
  publish_op(w, ORC_EV_OP, &op);
  as_runtime rt = runtime_of(w);
  as_retry_answer ans;
  memset(&ans, 0, sizeof ans);
  int rc = as_preview_retry(&rt, id, &ans);
  if (rc == AS_OK) retry_answered(&op, &ans, false);
  ack(w, &op, rc);
  return rc;
}

static AS_WUR int exec_cancel(worker *w, const scn_op *sop, uint32_t i) {
  char id[32];
  sid(id, sizeof id, i);
  orc_op op = op_for(sop, id);
  publish_op(w, ORC_EV_OP, &op);
  as_runtime rt = runtime_of(w);
  as_cancel_answer ans = AS_CANCEL_NOT_RUNNING;
  int rc = as_cancel_session(&rt, id, &ans);
  if (rc == AS_OK) op.answer = ans == AS_CANCEL_STOPPING ? ORC_CANCEL_STOPPING : ORC_CANCEL_NOT_RUNNING;
  ack(w, &op, rc);
  return rc;
}

/* The newest call of id an approval was requested for (-1: none), read
** from the session's log as an approval UI would. */
static AS_WUR int newest_request(worker *w, const char *id, int64_t *call) {
  int64_t after = 0;
  *call = -1;
  for (;;) {
    as_event_list l = {0};
    int rc = as_event_read(w->st, id, after, AS_EVENT_READ_MAX, &l);
    if (rc != AS_OK) return rc;
    for (size_t k = 0; k < l.n; k++) {
      if (strcmp(l.items[k].kind, AS_EVENT_APPROVAL_REQUESTED) != 0) continue;
      json_t *p = json_loads(l.items[k].payload, JSON_REJECT_DUPLICATES, NULL);
      json_t *c = json_object_get(p, "call");
      if (json_is_integer(c)) *call = (int64_t)json_integer_value(c);
      json_decref(p); /* a payload it cannot read names no call: none found */
    }
    size_t n = l.n;
    if (n) after = l.items[n - 1].seq;
    as_event_list_clear(&l);
    if (n < AS_EVENT_READ_MAX) return AS_OK;
  }
}

static AS_WUR int exec_decide(worker *w, const scn_op *sop, uint32_t i, as_approval_decision d) {
  char id[32];
  sid(id, sizeof id, i);
  orc_op op = op_for(sop, id);
  op.api = (int)sop->api;
  int64_t call = -1;
  int rc = newest_request(w, id, &call);
  op.call = call;
  publish_op(w, ORC_EV_OP, &op);
  as_run_result res;
  if (rc == AS_OK && call < 0) rc = AS_NOTFOUND; /* nothing asked for yet */
  if (rc == AS_OK) {
    as_runtime rt = runtime_of(w);
    rc = as_approval_resolve(&rt, id, (size_t)call, d, sop->api != 0, &res);
  }
  if (rc == AS_OK) {
    op.outcome = outcome_of(&res);
    op.status = as_session_status_name(res.status);
  }
  ack(w, &op, rc);
  /* Already resolved, or nothing to resolve: answers, not failures. */
  return rc == AS_EXISTS || rc == AS_NOTFOUND ? AS_OK : api_answer(sop, rc);
}

static AS_WUR int exec_approve(worker *w, const scn_op *sop, uint32_t i) {
  return exec_decide(w, sop, i, AS_APPROVE);
}

static AS_WUR int exec_reject(worker *w, const scn_op *sop, uint32_t i) {
  return exec_decide(w, sop, i, AS_REJECT);
}

static AS_WUR int exec_watchdog(worker *w, const scn_op *sop, uint32_t i) {
  (void)i;
  uint64_t ticks = sop->ticks ? sop->ticks : 1;
  uint64_t every = sop->duration ? sop->duration : WATCHDOG_EVERY_NS;
  for (uint64_t k = 0; k < ticks && !stopped(w->r); k++) {
    if (k) as_sleep_until(as_now_mono_ns() + every);
    int rc = AS_OK;
    for (int attempt = 0; attempt < OP_ATTEMPTS; attempt++) {
      rc = conn(w);
      orc_op op = op_for(sop, NULL);
      publish_op(w, ORC_EV_OP, &op);
      as_watchdog_stats st = {0};
      if (rc == AS_OK) {
        as_runtime rt = runtime_of(w);
        rc = as_watchdog_tick(&rt, &st);
      }
      op.removed = (int64_t)st.resolved;
      ack(w, &op, rc);
      if (rc == AS_OK || !transient(rc) || stopped(w->r)) break;
      pause_a_moment();
    }
    if (rc != AS_OK && !transient(rc)) return rc;
  }
  return AS_OK;
}

static AS_WUR int exec_sleep(worker *w, const scn_op *sop, uint32_t i) {
  (void)w;
  (void)i;
  as_sleep_until(as_now_mono_ns() + sop->duration);
  return AS_OK;
}

/* Power fails now, or is armed to fail at an I/O call drawn uniformly from
** the next `ios` (a later arming replaces an earlier one not yet fired). */
static AS_WUR int exec_crash(worker *w, const scn_op *sop, uint32_t i) {
  (void)i;
  if (sop->when == SCN_WHEN_NOW) {
    simdb_crash(w->r->disk);
    return AS_OK;
  }
  uint64_t ios = sop->ios ? sop->ios : SCN_CRASH_IOS_DEFAULT;
  uint64_t n = 1 + sim_rng_below(&w->rng, ios);
  sim_note("crash-armed", n);
  simdb_disk_crash_after_io(w->r->disk, n);
  return AS_OK;
}

/* --- the budget ------------------------------------------------------------------------- */

static int trigger_answer(const as_trigger_answer *a) {
  if (a->triggered) return ORC_TA_ACCEPTED;
  return a->refusal == AS_TRIGGER_BUDGET ? ORC_TA_BUDGET : ORC_TA_ACTIVE;
}

static AS_WUR int exec_trigger(worker *w, const scn_op *sop, uint32_t i) {
  char id[32];
  sid(id, sizeof id, i);
  orc_op op = op_for(sop, id);
  op.api = (int)sop->api;
  op.estimate = sop->money;
  publish_op(w, ORC_EV_OP, &op);
  as_runtime rt = runtime_of(w);
  as_trigger_answer ans;
  as_run_result res;
  memset(&ans, 0, sizeof ans);
  memset(&res, 0, sizeof res);
  int rc = as_trigger(&rt, id, sop->money, sop->api != 0, &ans, &res);
  if (rc == AS_OK) {
    op.answer = trigger_answer(&ans);
    op.reason = ans.reason;
    op.message = ans.message;
    op.op_id = ans.op_id;
    op.remaining = ans.remaining_micros;
    op.need = ans.need_micros;
    if (ans.triggered) {
      op.outcome = outcome_of(&res);
      op.status = as_session_status_name(res.status);
      (void)snprintf(w->r->last_op[i], AS_OP_ID_MAX, "%s", ans.op_id); /* ignore: same cap */
    }
  }
  ack(w, &op, rc);
  return api_answer(sop, rc);
}

/* The session's latest cycle settled again: a caller retrying a settle
** whose answer it never heard. A session never triggered has none. */
static AS_WUR int exec_settle(worker *w, const scn_op *sop, uint32_t i) {
  char id[32];
  sid(id, sizeof id, i);
  const char *cycle = w->r->last_op[i];
  if (!cycle[0]) return AS_OK;
  orc_op op = op_for(sop, id);
  op.op_id = cycle;
  publish_op(w, ORC_EV_OP, &op);
  bool changed = false;
  int rc = as_budget_settle(w->st, cycle, &changed);
  if (rc == AS_OK) op.changed = changed;
  ack(w, &op, rc);
  return rc;
}

static AS_WUR int exec_recover(worker *w, const scn_op *sop, uint32_t i) {
  (void)i;
  orc_op op = op_for(sop, NULL);
  publish_op(w, ORC_EV_OP, &op);
  size_t released = 0;
  int rc = as_budget_recover(w->st, &released);
  if (rc == AS_OK) op.removed = (int64_t)released;
  ack(w, &op, rc);
  return rc;
}

/* The value of the exposition's sample `name` (no labels) in micro-dollars;
** false when it has none or it is not exact dollars. */
static bool sample(const char *text, const char *name, int64_t *out) {
  size_t n = strlen(name);
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    if (strncmp(p, name, n) != 0 || p[n] != ' ') continue;
    const char *v = p + n + 1, *end = strchr(v, '\n');
    return scn_money_parse(v, end ? (size_t)(end - v) : strlen(v), out) == AS_OK;
  }
  return false;
}

/* A scrape: the budget's status and the metrics exposition, as a scraper
** reads them one after the other. */
static AS_WUR int exec_scrape(worker *w, const scn_op *sop, uint32_t i) {
  (void)i;
  orc_op op = op_for(sop, NULL);
  publish_op(w, ORC_EV_OP, &op);
  as_budget_status st;
  memset(&st, 0, sizeof st);
  int rc = as_budget_status_get(w->st, w->r->budget, &st);
  if (rc == AS_OK) {
    op.date = st.date;
    op.limit = st.daily_limit_micros;
    op.spent = st.spent_micros;
    op.reserved = st.reserved_micros;
    op.remaining = st.remaining_micros;
    op.cycles = st.cycles_affordable;
    op.spend_events = st.spend_events;
    op.open_reservations = st.open_reservations;
  }
  char *text = NULL;
  if (rc == AS_OK) rc = as_metrics_render(w->st, w->r->budget, &text);
  if (rc == AS_OK) {
    op.has_metric = sample(text, "agent_budget_spend_dollars_total", &op.metric_spend) &&
                    sample(text, "agent_budget_remaining_dollars", &op.metric_remaining);
    if (!op.has_metric) rc = AS_PARSE; /* an exposition without them: the oracle hears it */
  }
  as_free(text);
  ack(w, &op, rc);
  return rc;
}

/* The spans went into the stream as they ended: the flush is where the
** oracle compares them with the ledger. */
static AS_WUR int exec_flush(worker *w, const scn_op *sop, uint32_t i) {
  (void)i;
  orc_op op = op_for(sop, NULL);
  publish_op(w, ORC_EV_OP, &op);
  ack(w, &op, AS_OK);
  return AS_OK;
}

static const exec_fn execs[SCN__OP_COUNT] = {
#define RUN__ROW(NAME, kw, keys, exec, model, help) [SCN_OP_##NAME] = exec,
    SCN_OP_MAP(RUN__ROW)
#undef RUN__ROW
};

/* Whether the operation works on a session (it takes s=). */
static int takes_session(scn_op_kind k) {
  for (const scn_key *key = scn_ops[k].keys; key->name; key++)
    if (key->type == SCN_KT_SESSION) return 1;
  return 0;
}

/* Which operations need the database (a connection to retry with). */
static int needs_db(scn_op_kind k) {
  return k != SCN_OP_SLEEP && k != SCN_OP_CRASH && k != SCN_OP_HOLD && k != SCN_OP_TRY &&
         k != SCN_OP_CANCEL && k != SCN_OP_WATCHDOG /* which connects for each tick */ &&
         k != SCN_OP_FLUSH;
}

/* Run one operation on session i, retrying what is transient. */
static void run_op(worker *w, const scn_op *op, uint32_t i) {
  for (int attempt = 0; attempt < OP_ATTEMPTS && !stopped(w->r); attempt++) {
    int rc = needs_db(op->kind) ? conn(w) : AS_OK;
    if (rc == AS_OK) rc = execs[op->kind](w, op, i);
    if (rc == AS_OK || !transient(rc)) return; /* the oracle judged the answer */
    if (rc == AS_STALE) continue;               /* lost to another writer: again at once */
    pause_a_moment();                           /* busy, a fault, a crash: back off */
  }
}

static void exec_op(worker *w, const scn_op *op) {
  run *r = w->r;
  if (!takes_session(op->kind)) {
    run_op(w, op, 0);
    return;
  }
  if (op->session == SCN_ALL) {
    for (uint32_t i = 0; i < r->sc->sessions && !stopped(r); i++) run_op(w, op, i);
    return;
  }
  uint32_t i = op->session;
  if (i == SCN_ANY) i = (uint32_t)sim_rng_below(&w->rng, r->sc->sessions);
  run_op(w, op, i);
}

/* A generated actor's next operation, drawn by weight among those switched
** on; NULL when none is. */
static const scn_op *draw_op(worker *w) {
  const scn_actor *a = w->actor;
  const run *r = w->r;
  uint64_t total = 0;
  for (size_t k = 0; k < a->nops; k++)
    if (r->op_on[a->ops[k].kind]) total += (uint64_t)a->ops[k].weight * r->wmul[a->ops[k].kind];
  if (!total) return NULL;
  uint64_t x = sim_rng_below(&w->rng, total);
  for (size_t k = 0; k < a->nops; k++) {
    if (!r->op_on[a->ops[k].kind]) continue;
    uint64_t wt = (uint64_t)a->ops[k].weight * r->wmul[a->ops[k].kind];
    if (x < wt) return &a->ops[k];
    x -= wt;
  }
  return NULL; /* not reached: x < total */
}

static void run_repeated(worker *w, const scn_op *op) {
  for (uint32_t n = 0; n < op->repeat && !stopped(w->r); n++) exec_op(w, op);
}

static void actor_task(void *arg) {
  worker *w = arg;
  const scn_actor *a = w->actor;
  if (a->draws) {
    for (uint32_t d = 0; d < a->draws && !stopped(w->r); d++) {
      const scn_op *op = draw_op(w);
      if (!op) break;
      run_repeated(w, op);
    }
  } else {
    for (size_t k = 0; k < a->nops && !stopped(w->r); k++)
      if (w->r->op_on[a->ops[k].kind]) run_repeated(w, &a->ops[k]);
  }
  as_store_close(w->st);
  w->st = NULL;
}

/* --- the harness's own connections ----------------------------------------------------------- */

/* A plain SQLite connection on the run's disk, for the audit to learn the
** schema and for the final read (tried a few times: memory may come back);
** NULL with the reason in r->harness. */
static sqlite3 *harness_open(run *r) {
  char why[256] = "";
  for (int attempt = 0; attempt < OP_ATTEMPTS; attempt++) {
    sqlite3 *db = NULL;
    int src = sqlite3_open_v2(DB_PATH, &db, SQLITE_OPEN_READWRITE, simdb_disk_vfs(r->disk));
    if (src == SQLITE_OK) return db;
    snprintf(why, sizeof why, "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
    (void)sqlite3_close_v2(db); /* ignore: already failing; NULL is fine */
  }
  /* Only now: the invariant hook reads r->harness between any two steps. */
  snprintf(r->harness, sizeof r->harness, "the harness cannot open the database: %s", why);
  return NULL;
}

static void set_faults(run *r, int on) {
  const scn_faults *f = &r->faults;
  simdb_disk_fault_rate(r->disk, AS_FP_VFS_READ, on ? f->read : 0);
  simdb_disk_fault_rate(r->disk, AS_FP_VFS_WRITE, on ? f->write : 0);
  simdb_disk_fault_rate(r->disk, AS_FP_VFS_FULL, on ? f->full : 0);
  simdb_disk_fault_rate(r->disk, AS_FP_VFS_LOCK_BUSY, on ? f->busy : 0);
  simdb_disk_fault_rate(r->disk, AS_FP_VFS_SYNC, on ? f->sync : 0);
  simdb_disk_fault_rate(r->disk, AS_FP_VFS_TEAR, on ? f->tear : 0);
}

/* The scenario's latency line onto the disk (kinds by name). */
static AS_WUR int set_latency(simdb_disk *d, const scn_latency *l) {
  if (l->off) simdb_disk_latency_off(d);
  for (unsigned k = 0; k < SCN__IO_COUNT; k++) {
    if (!(l->given & (1u << k))) continue;
    unsigned j = 0;
    while (j < SIMDB__IO_COUNT && strcmp(simdb_io_name((simdb_io_kind)j), scn_io_names[k]) != 0) j++;
    const scn_lat *x = &l->kind[k];
    simdb_latency lat = {x->lo, x->hi, x->tail_ppm, x->tail_hi};
    int rc = j < SIMDB__IO_COUNT ? simdb_disk_latency(d, (simdb_io_kind)j, &lat) : AS_INTERNAL;
    if (rc != AS_OK) return rc;
  }
  return AS_OK;
}

/* Before any session exists: the schema, then the audit learns it. The
** harness's own work is done with fault injection off. */
static AS_WUR int prepare_database(run *r) {
  worker *c = &r->aux;
  set_faults(r, 0);
  int rc = AS_NOMEM;
  for (int attempt = 0; attempt < OP_ATTEMPTS && transient(rc); attempt++) {
    rc = conn(c);
    if (rc != AS_OK) c->epoch = UINT64_MAX; /* open afresh next time */
  }
  if (rc != AS_OK) {
    snprintf(r->harness, sizeof r->harness, "the harness cannot create the database: %s",
             as_status_msg(rc));
    set_faults(r, 1);
    return rc;
  }
  sqlite3 *db = harness_open(r);
  char why[sizeof r->harness] = "";
  rc = db ? AS_NOMEM : AS_IO;
  for (int attempt = 0; db && attempt < OP_ATTEMPTS && rc == AS_NOMEM; attempt++)
    rc = orc_audit_map(db, why, sizeof why);
  if (db && rc != AS_OK)
    snprintf(r->harness, sizeof r->harness, "the harness cannot learn the schema: %.400s", why);
  if (db && sqlite3_close_v2(db) != SQLITE_OK && rc == AS_OK) {
    snprintf(r->harness, sizeof r->harness, "the harness cannot close its connection");
    rc = AS_IO;
  }
  set_faults(r, 1);
  return rc;
}

static void create_sessions(run *r) {
  worker *creator = &r->aux;
  for (uint32_t i = 0; i < r->sc->sessions; i++) {
    int rc = AS_BUSY;
    char id[32];
    sid(id, sizeof id, i);
    for (int attempt = 0; attempt < OP_ATTEMPTS && transient(rc) && rc != AS_STALE; attempt++) {
      rc = conn(creator);
      if (rc == AS_OK) {
        orc_op op = {.kind = ORC_OP_CREATE, .session = id, .changed = -1, .removed = -1};
        publish_op(creator, ORC_EV_OP, &op);
        if (r->app) {
          as_runtime rt = runtime_of(creator);
          rc = as_session_start(&rt, id, r->fields);
        } else {
          rc = as_session_init(&creator->s, id);
          if (rc == AS_OK) rc = as_session_create(creator->st, &creator->s);
          as_session_clear(&creator->s);
        }
        ack(creator, &op, rc);
        if (rc == AS_EXISTS) rc = AS_OK; /* a retry after an unacknowledged create */
      }
      if (rc == AS_OK) break;
      pause_a_moment();
    }
    if (rc != AS_OK) {
      sim_fail(SIM_INVARIANT, "could not create session %s: %s", id, as_status_name(rc));
      return;
    }
  }
}

static void main_task(void *state) {
  run *r = state;
  const scenario *sc = r->sc;
  snprintf(r->aux.name, sizeof r->aux.name, "setup");
  if (prepare_database(r) != AS_OK) {
    sim_fail(SIM_HARNESS, "%s", r->harness);
    return;
  }
  create_sessions(r);
  as_store_close(r->aux.st);
  r->aux.st = NULL;
  uint32_t n = 0;
  for (size_t a = 0; a < sc->nactors; a++) {
    for (uint32_t k = 0; k < r->counts[a]; k++, n++) {
      worker *w = &r->workers[n];
      snprintf(w->name, sizeof w->name, "%s.%" PRIu32, sc->actors[a].name, k);
      if (as_task_spawn(&r->tasks[n], w->name, actor_task, w) != AS_OK) {
        sim_fail(SIM_ASSERT, "could not spawn actor %s", w->name);
        return;
      }
    }
  }
  for (uint32_t k = 0; k < n; k++)
    if (as_task_join(r->tasks[k]) != AS_OK) sim_fail(SIM_ASSERT, "join failed");
  /* Every actor is done: the registries must have evicted every entry. */
  if (!stopped(r)) orc_locks_idle(r->oracle, as_locks_size(r->locks));
  if (!stopped(r) && r->runs) orc_runs_idle(r->oracle, as_runs_size(r->runs));
}

/* --- swarm: what a seed runs ------------------------------------------------------------------ */

/* Without swarm: the scenario as written. With it: the seed's choices, drawn
** from the workload stream before any task (so they never depend on the
** interleaving) and printed with the seed's options. */
static void choose_world(run *r, sim_rng *wl) {
  const scenario *sc = r->sc;
  const scn_swarm *sw = &sc->swarm;
  unsigned char used[SCN__OP_COUNT] = {0};
  int generated = 0;
  for (size_t a = 0; a < sc->nactors; a++) {
    r->counts[a] = sc->actors[a].count;
    generated |= sc->actors[a].draws != 0;
    for (size_t j = 0; j < sc->actors[a].nops; j++) used[sc->actors[a].ops[j].kind] = 1;
  }
  for (unsigned k = 0; k < SCN__OP_COUNT; k++) {
    r->op_on[k] = 1;
    r->wmul[k] = 1;
  }
  r->faults = sc->faults;
  if (!sw->on) return;
  char buf[SIM_OPTIONS_MAX / 2];
  size_t n = 0;
  for (size_t a = 0; a < sc->nactors; a++) {
    uint32_t c = sc->actors[a].count, lo = sw->min_count < c ? sw->min_count : c;
    r->counts[a] = (uint32_t)sim_rng_range(wl, lo, c);
    n = as_appendf(buf, sizeof buf, n, "%s%s=%" PRIu32, a ? "," : "", sc->actors[a].name,
                   r->counts[a]);
  }
  sim_option("swarm_counts", "%s", buf);
  unsigned on = 0, can = 0;
  for (unsigned k = 0; k < SCN__OP_COUNT; k++) {
    if (!used[k] || !sw->may_off[k]) continue;
    can++;
    r->op_on[k] = (unsigned char)sim_rng_below(wl, 2);
    on += r->op_on[k];
  }
  if (can && !on) { /* one on at least, or the seed runs nothing */
    uint64_t pick = sim_rng_below(wl, can);
    for (unsigned k = 0; k < SCN__OP_COUNT; k++)
      if (used[k] && sw->may_off[k] && pick-- == 0) r->op_on[k] = 1;
  }
  n = 0;
  buf[0] = '\0';
  for (unsigned k = 0; k < SCN__OP_COUNT; k++)
    if (used[k])
      n = as_appendf(buf, sizeof buf, n, "%s%s%s", n ? "," : "", r->op_on[k] ? "" : "-",
                     scn_op_name((scn_op_kind)k));
  sim_option("swarm_ops", "%s", buf);
  if (generated) {
    n = 0;
    buf[0] = '\0';
    for (unsigned k = 0; k < SCN__OP_COUNT; k++) {
      if (!used[k]) continue;
      r->wmul[k] = 1u << sim_rng_below(wl, 4); /* 1, 2, 4 or 8 times its weight */
      n = as_appendf(buf, sizeof buf, n, "%s%s=x%" PRIu32, n ? "," : "",
                     scn_op_name((scn_op_kind)k), r->wmul[k]);
    }
    sim_option("swarm_weights", "%s", buf);
  }
  if (!sw->vary_faults) return;
  uint32_t *rate[] = {&r->faults.read, &r->faults.write, &r->faults.full, &r->faults.busy,
                      &r->faults.sync, &r->faults.tear};
  static const char *const names[] = {"read", "write", "full", "busy", "sync", "tear"};
  n = 0;
  for (unsigned k = 0; k < sizeof rate / sizeof rate[0]; k++) {
    uint32_t max = *rate[k];
    if (max && sim_rng_below(wl, 2))
      *rate[k] = (uint32_t)sim_rng_range(wl, max / 10 ? max / 10 : 1, max);
    else
      *rate[k] = 0;
    n = as_appendf(buf, sizeof buf, n, "%s%s=%" PRIu32, k ? "," : "", names[k], *rate[k]);
  }
  sim_option("swarm_faults", "%s", buf);
}

/* --- the program ----------------------------------------------------------------------------- */

/* jansson's memory, during a run, is the run's (the seam's): what a task
** abandoned at the end of a run held is swept with the rest. Installed at
** setup, put back at teardown; no JSON value lives across the two. */
static void *j_alloc(size_t n) { return as_malloc(n ? n : 1); }
static void j_free(void *p) { as_free(p); }

static AS_WUR int setup(void *state, sim_rng *workload) {
  run *r = state;
  json_set_alloc_funcs(j_alloc, j_free);
  const scn_runner *rn = sim_program_user();
  const scenario *sc = &rn->sc;
  r->sc = sc;
  r->aux.r = r;
  r->aux.epoch = UINT64_MAX;
  r->rules.legacy_escalate = rn->legacy;
  r->rules.n_legacy_escalate = sc->nlegacy;
  sim_option("scenario", "%s", sc->name);
  int rc = simdb_run_begin();
  r->counts = calloc(sc->nactors, sizeof *r->counts);
  if (!r->counts) return AS_NOMEM;
  choose_world(r, workload);
  if (rc == AS_OK) rc = simdb_disk_new(&r->disk, NULL);
  if (rc == AS_OK) rc = set_latency(r->disk, &sc->latency);
  if (rc == AS_OK) rc = orc_new(&r->oracle, rn->legacy, sc->nlegacy);
  if (rc == AS_OK && rn->oapp) rc = orc_set_app(r->oracle, rn->oapp);
  if (rc == AS_OK && rn->app) {
    r->app = rn->app;
    r->script = rn->script;
    r->llm_seed = sim_stream_seed_of(SIM_STREAM_LLM);
    r->fields = rn->fields;
    if (rn->record) {
      char why[AS_CASSETTE_ERR_MAX];
      why[0] = '\0';
      rc = as_cassette_live_new(&r->live);
      if (rc == AS_OK)
        rc = as_cassette_recorder_new(&r->recorder, rn->rec_dir, &rn->rec_meta, why, sizeof why);
      as_llm_http_cfg cfg = {.kind = rn->rec_meta.kind, .base_url = rn->rec_meta.base_url,
                             .model = rn->rec_meta.model, .stream = rn->rec_meta.stream,
                             .structured = rn->rec_meta.structured,
                             .net = as_cassette_live_net(r->live),
                             .tap = as_cassette_recorder_tap(r->recorder)};
      if (rc == AS_OK) rc = as_llm_http_new(&cfg, &r->stub, why, sizeof why);
      if (rc != AS_OK) {
        r->stub = (as_llm){0};
        snprintf(r->harness, sizeof r->harness, "recording: %.400s", why);
        return rc;
      }
    } else if (rn->cassette) {
      char why[AS_CASSETTE_ERR_MAX];
      r->cassette = rn->cassette;
      rc = as_cassette_llm_from(rn->cassette, &r->stub, why, sizeof why);
      if (rc != AS_OK && rc != AS_NOMEM) {
        snprintf(r->harness, sizeof r->harness, "the cassette's provider: %.400s", why);
        return rc;
      }
    } else {
      rc = as_stub_llm_new(&r->stub, rn->script, r->llm_seed);
      as_stub_llm_set_edge(&r->stub, edge);
    }
    r->llm = (as_llm){.vt = &llm_told, .self = r, .timeout_ns = 0, .model = r->stub.model};
    r->tool_calls = calloc((size_t)sc->sessions * rn->app->ntools + 1, sizeof *r->tool_calls);
    if (rc == AS_OK && !r->tool_calls) rc = AS_NOMEM;
  }
  if (rc == AS_OK && sc->budget) {
    char why[512];
    r->budget = &rn->bcfg;
    r->tracer = (as_tracer){.emit = span_emit, .self = r};
    r->last_op = calloc(sc->sessions ? sc->sessions : 1, sizeof *r->last_op);
    rc = r->last_op ? orc_set_budget(r->oracle, sc->daily_limit_micros, rn->bcfg.cycle_estimate_micros,
                                     rn->prices_path, why, sizeof why)
                    : AS_NOMEM;
    if (rc != AS_OK && rc != AS_NOMEM) {
      snprintf(r->harness, sizeof r->harness, "the oracle cannot read the prices: %.400s", why);
      return rc;
    }
  }
  if (rc == AS_OK) rc = sim_sink_add(orc_sink, r->oracle);
  if (rc == AS_OK) rc = orc_audit_begin();
  if (rc == AS_UNSUPPORTED) {
    snprintf(r->harness, sizeof r->harness, "this SQLite has no pre-update hook: the oracle cannot audit");
    return rc;
  }
  if (rc != AS_OK) return rc;
  set_faults(r, 1);
  rc = as_locks_new(&r->locks, 0);
  if (rc != AS_OK) return rc;
  as_locks_observe(r->locks, observe_lock, r);
  rc = as_runs_new(&r->runs, 0);
  if (rc != AS_OK) return rc;
  as_runs_observe(r->runs, observe_runs, r);
  for (size_t a = 0; a < sc->nactors; a++) r->nworkers += r->counts[a];
  r->workers = calloc(r->nworkers ? r->nworkers : 1, sizeof *r->workers);
  r->tasks = calloc(r->nworkers ? r->nworkers : 1, sizeof *r->tasks);
  if (!r->workers || !r->tasks) return AS_NOMEM;
  /* Each task's own workload substream. */
  for (uint32_t a = 0, n = 0; a < sc->nactors; a++)
    for (uint32_t k = 0; k < r->counts[a]; k++, n++) {
      worker *w = &r->workers[n];
      w->r = r;
      w->actor = &sc->actors[a];
      sim_workload_substream(&w->rng, ((uint64_t)a << 32) | k);
    }
  return AS_OK;
}

/* At quiescence, outside any task and with faults off: the database read
** back against the model; then its final image goes into the trace hash. */
static int check(void *state, char *msg, size_t cap) {
  run *r = state;
  sqlite3 *db = harness_open(r);
  if (!db) {
    snprintf(msg, cap, "%s", r->harness);
    return SIM_HARNESS;
  }
  int v = orc_quiescence(r->oracle, db, msg, cap);
  if (sqlite3_close_v2(db) != SQLITE_OK && v == 0) {
    snprintf(msg, cap, "the harness cannot close its connection");
    v = SIM_HARNESS;
  }
  simdb_disk_publish(r->disk);
  return v;
}

static void teardown(void *state) {
  run *r = state;
  orc_audit_end();
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
  as_runs_free(r->runs);
  if (r->app && r->stub.vt) as_llm_destroy(&r->stub);
  as_cassette_recorder_free(r->recorder);
  as_cassette_live_free(r->live);
  free(r->tool_calls);
  free(r->last_op);
  orc_free(r->oracle);
  free(r->workers);
  free(r->tasks);
  free(r->counts);
  (void)simdb_run_end(); /* ignore: the count of leftovers says nothing to the run */
  json_set_alloc_funcs(malloc, free);
}

/* base/path, or path when it is absolute: buf holds 2 * SCN_MAX_PATH + 16
** bytes, base and path are shorter than SCN_MAX_PATH each. */
static void join_path(char *buf, size_t cap, const char *base, const char *path) {
  if (path[0] == '/')
    (void)as_appendf(buf, cap, 0, "%s", path); /* ignore: fits (above) */
  else
    (void)as_appendf(buf, cap, 0, "%s/%s", base, path); /* ignore: fits (above) */
}

/* The XXH64 of a file's bytes (0 when it cannot be read: the load fails then). */
static uint64_t file_hash(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  XXH64_state_t *h = XXH64_createState();
  unsigned char buf[4096];
  size_t n;
  uint64_t v = 0;
  if (h && XXH64_reset(h, 0) == XXH_OK) {
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) (void)XXH64_update(h, buf, n); /* ignore: cannot fail */
    v = XXH64_digest(h);
  }
  XXH64_freeState(h);
  (void)fclose(f); /* ignore: read only */
  return v;
}

/* What the oracle is told of app: its data, copied into the oracle's own
** structure (names, risks, routes, policy values); no decision of the
** runtime's goes with it. */
static AS_WUR int orc_app_from(const as_app *app, orc_app **out) {
  orc_app *o = calloc(1, sizeof *o);
  if (!o) return AS_NOMEM;
  _Static_assert(AS_APP_TOOLS_MAX <= ORC_APP_TOOLS && AS_APP_INJECT_MAX <= ORC_APP_INJECT &&
                     AS_APP_AGENTS_MAX <= ORC_APP_AGENTS && AS_APP_ROSTER_VALUES_MAX <= ORC_APP_VALUES &&
                     AS_APP_FIELDS_MAX <= ORC_APP_FIELDS &&
                     AS_APP_AGENTS_MAX * (AS_APP_ROUTES_MAX + 1) <= ORC_APP_ROUTES,
                 "the oracle holds any app");
#define CPY(dst, src) (void)snprintf(dst, sizeof dst, "%s", src) /* ignore: sizes checked above */
  for (size_t i = 0; i < app->ninject; i++) {
    const as_app_inject *in = &app->inject[i];
    CPY(o->inject[i].arg, in->arg);
    o->inject[i].src = in->src == AS_INJECT_ID       ? ORC_INJ_ID
                       : in->src == AS_INJECT_STATUS ? ORC_INJ_STATUS
                       : in->src == AS_INJECT_RETRY_COUNT ? ORC_INJ_RETRY
                                                          : ORC_INJ_EXTRA;
    if (in->src == AS_INJECT_EXTRA && in->field >= 0) CPY(o->inject[i].field, app->fields[in->field].name);
  }
  o->ninject = app->ninject;
  for (size_t i = 0; i < app->ntools; i++) {
    const as_app_tool *t = &app->tools[i];
    orc_app_tool *d = &o->tools[i];
    CPY(d->qname, t->qname);
    d->kind = t->kind == AS_TOOLK_MARK_RESOLVED      ? ORC_TK_RESOLVE
              : t->kind == AS_TOOLK_MARK_ESCALATED   ? ORC_TK_ESCALATE
              : t->kind == AS_TOOLK_SUBMIT_HYPOTHESIS ? ORC_TK_HYPOTHESIS
              : t->kind == AS_TOOLK_PATCH            ? ORC_TK_PATCH
                                                     : ORC_TK_APP;
    d->risk = (int)t->risk;
    d->legacy = t->legacy_escalate;
    for (size_t a = 0; a < t->nargs; a++)
      if (t->args[a].injected >= 0 && d->ninject < ORC_APP_INJECT)
        d->inject[d->ninject++] = (unsigned)t->args[a].injected;
  }
  o->ntools = app->ntools;
  for (size_t i = 0; i < app->nagents; i++) {
    const as_app_agent *a = &app->agents[i];
    CPY(o->agents[i].name, a->name);
    o->agents[i].has_gate = a->has_gate;
    o->agents[i].gate = a->gate_min_confidence;
    o->agents[i].max_calls = a->max_calls;
    for (size_t k = 0; k <= a->nroutes; k++) {
      orc_app_route *r = &o->routes[o->nroutes++];
      int to = k < a->nroutes ? a->routes[k].agent : a->default_route;
      CPY(r->agent, a->name);
      CPY(r->signal, k < a->nroutes ? a->routes[k].signal : "");
      CPY(r->to, to == AS_APP_END ? "end" : app->agents[to].name);
    }
  }
  o->nagents = app->nagents;
  const as_gate_policy *g = &app->gate;
  if (g->env_field >= 0) CPY(o->env_field, app->fields[g->env_field].name);
  for (size_t i = 0; i < g->nproduction; i++) CPY(o->production[i], g->production[i]);
  o->nproduction = g->nproduction;
  o->gated_risk = (int)g->gated_risk;
  o->min_confidence = g->min_confidence;
  for (size_t i = 0; i < app->nfields; i++) CPY(o->fields[i], app->fields[i].name);
  o->nfields = app->nfields;
  o->approval_timeout_ns = app->approval_timeout_ns;
  o->max_retries = app->retry.max_retries;
  o->retry_min_confidence = app->retry.min_confidence;
  o->retry_transient = app->retry.transient;
#undef CPY
  *out = o;
  return AS_OK;
}

/* The scenario's cassette, loaded, each exchange with the oracle's evidence
** (`expect`); *fp gets its files' bytes. */
static AS_WUR int load_cassette(scn_runner *r, char *err, size_t cap, uint64_t *fp) {
  const scenario *sc = &r->sc;
  char dir[2 * SCN_MAX_PATH + 16], path[2 * SCN_MAX_PATH + 80];
  join_path(dir, sizeof dir, sc->base, sc->cassette);
  int rc = as_http_global_init();
  if (rc != AS_OK) {
    snprintf(err, cap, "%s: libcurl cannot start", dir);
    return rc;
  }
  rc = as_cassette_load(dir, &r->cassette, err, cap);
  if (rc != AS_OK) return rc == AS_NOMEM ? rc : AS_PARSE;
  snprintf(path, sizeof path, "%s/%s", dir, AS_CASSETTE_META);
  *fp = file_hash(path);
  for (size_t i = 0; i < r->cassette->n; i++) {
    const as_cassette_exchange *x = &r->cassette->x[i];
    char name[48];
    as_cassette_file_name(name, sizeof name, x->key, x->occurrence);
    if (!x->expect.given) {
      snprintf(err, cap, "%s/%s: expect: missing: a scenario's cassette says what each answer "
                         "is, for the oracle (docs/cassettes.md)", dir, name);
      return AS_PARSE;
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    *fp = (*fp * 0x9e3779b97f4a7c15ull) ^ file_hash(path);
  }
  return AS_OK;
}

/* `llm record:DIR,KIND,URL,MODEL[,stream][,structured]`, read. */
static AS_WUR int record_spec(scn_runner *r, char *err, size_t cap) {
  const scenario *sc = &r->sc;
  char spec[SCN_MAX_PATH], *save = NULL;
  snprintf(spec, sizeof spec, "%s", sc->cassette);
  char *dir = strtok_r(spec, ",", &save), *kind = strtok_r(NULL, ",", &save);
  char *url = strtok_r(NULL, ",", &save), *model = strtok_r(NULL, ",", &save);
  as_cassette_meta *m = &r->rec_meta;
  memset(m, 0, sizeof *m);
  int ok = dir && kind && url && model && strlen(model) < sizeof m->model;
  if (ok) ok = strcmp(kind, "openai") == 0 || strcmp(kind, "ollama") == 0;
  m->kind = kind && strcmp(kind, "ollama") == 0 ? AS_WIRE_OLLAMA : AS_WIRE_OPENAI;
  for (char *f; ok && (f = strtok_r(NULL, ",", &save)) != NULL;) {
    if (strcmp(f, "stream") == 0) m->stream = true;
    else if (strcmp(f, "structured") == 0) m->structured = true;
    else ok = 0;
  }
  if (!ok) {
    snprintf(err, cap, "%s: llm record:DIR,openai|ollama,URL,MODEL[,stream][,structured]", sc->name);
    return AS_PARSE;
  }
  join_path(r->rec_dir, sizeof r->rec_dir, sc->base, dir);
  snprintf(m->model, sizeof m->model, "%s", model);
  snprintf(m->base_url, sizeof m->base_url, "%s", url);
  snprintf(m->agentsim, sizeof m->agentsim, "%s", "0.1.0");
  r->record = 1;
  return as_http_global_init();
}

/* The scenario's app and script, loaded and cross-checked; *fp gets what
** they add to the fingerprint. err: "FILE:LINE:COL: ..." lines. */
static AS_WUR int load_agents(scn_runner *r, char *err, size_t cap, uint64_t *fp) {
  const scenario *sc = &r->sc;
  char dir[2 * SCN_MAX_PATH + 16], script[2 * SCN_MAX_PATH + 16], yaml[2 * SCN_MAX_PATH + 16];
  *fp = 0;
  if (!sc->app[0]) return AS_OK;
  join_path(dir, sizeof dir, sc->base, sc->app);
  join_path(script, sizeof script, sc->base, sc->script);
  as_app_diag *diag = calloc(1, sizeof *diag);
  if (!diag) return AS_NOMEM;
  int rc = as_app_load(dir, &r->app, diag);
  if (rc != AS_OK) {
    /* As `agentsim check app` says them: FILE:LINE:COL, or FILE for the file. */
    size_t n = 0;
    for (size_t k = 0; k < diag->n; k++) {
      const as_app_diag_item *it = &diag->items[k];
      n = it->line ? as_appendf(err, cap, n, "%s%s:%u:%u: %s", k ? "\n" : "", it->file, it->line,
                                it->column, it->message)
                   : as_appendf(err, cap, n, "%s%s: %s", k ? "\n" : "", it->file, it->message);
    }
    if (!diag->n) (void)as_appendf(err, cap, n, "%s: %s", dir, as_status_msg(rc)); /* ignore: the end */
    free(diag);
    return rc == AS_NOMEM ? rc : AS_PARSE;
  }
  free(diag);
  uint64_t cfp = 0;
  if (sc->cassette[0] && sc->llm_record) {
    rc = record_spec(r, err, cap);
    if (rc != AS_OK) return rc;
  } else if (sc->cassette[0]) {
    rc = load_cassette(r, err, cap, &cfp);
    if (rc != AS_OK) return rc;
  }
  as_stub_diag sd = {0};
  rc = sc->script[0] ? as_stub_script_load(script, &r->script, &sd) : AS_OK;
  if (rc != AS_OK) {
    /* Every failure fills the message; out of memory names no file. */
    if (!sd.file[0]) (void)snprintf(sd.file, sizeof sd.file, "%.*s", (int)sizeof sd.file - 1, script); /* ignore: cut to fit */
    as_stub_diag_format(&sd, err, cap);
    return rc == AS_NOMEM ? rc : AS_PARSE;
  }
  if (sc->approval_timeout_ns) r->app->approval_timeout_ns = sc->approval_timeout_ns;
  /* The sessions' fields must be the app's, as as_session_start checks:
  ** strings (in the field's roster), or integers. */
  size_t n = as_appendf(r->fields, sizeof r->fields, 0, "{");
  for (size_t k = 0; k < sc->nfields; k++) {
    const scn_field *sf = &sc->fields[k];
    const as_app_field *f = NULL;
    for (size_t j = 0; j < r->app->nfields && !f; j++)
      if (strcmp(r->app->fields[j].name, sf->key) == 0) f = &r->app->fields[j];
    char *end = NULL;
    errno = 0;
    long long v = f && f->type == AS_ARG_INTEGER ? strtoll(sf->value, &end, 10) : 0;
    bool int_ok = f && f->type == AS_ARG_INTEGER && end && *end == '\0' && end != sf->value && !errno;
    const char *why = !f ? "the app has no such field"
                      : f->type == AS_ARG_INTEGER ? (int_ok ? NULL : "not an integer")
                      : f->type != AS_ARG_STRING ? "a field that is neither a string nor an integer"
                      : f->roster >= 0 && !as_app_roster_has(r->app, f->roster, sf->value)
                          ? "not a value of the field's roster"
                          : NULL;
    if (why) {
      snprintf(err, cap, "%s: fields %s=%s: %s", sc->name, sf->key, sf->value, why);
      return AS_PARSE;
    }
    /* Names and numbers: nothing to escape. */
    n = int_ok ? as_appendf(r->fields, sizeof r->fields, n, "%s\"%s\":%lld", k ? "," : "", sf->key, v)
               : as_appendf(r->fields, sizeof r->fields, n, "%s\"%s\":\"%s\"", k ? "," : "",
                            sf->key, sf->value);
  }
  (void)as_appendf(r->fields, sizeof r->fields, n, "}"); /* ignore: sized for the caps */
  rc = orc_app_from(r->app, &r->oapp);
  if (rc != AS_OK) return rc;
  join_path(yaml, sizeof yaml, dir, "app.yaml");
  *fp = file_hash(yaml) ^ (sc->script[0] ? file_hash(script) * 0x9e3779b97f4a7c15ull : 0) ^
        (cfp * 0xff51afd7ed558ccdull);
  return AS_OK;
}

/* The budget's price table, as the runtime reads it (the oracle reads the
** same file itself); *fp takes in its bytes. */
static AS_WUR int load_prices(scn_runner *r, char *err, size_t cap, uint64_t *fp) {
  const scenario *sc = &r->sc;
  join_path(r->prices_path, sizeof r->prices_path, sc->base,
            sc->prices[0] ? sc->prices : SCN_PRICES_DEFAULT);
  r->prices = calloc(1, sizeof *r->prices);
  if (!r->prices) return AS_NOMEM;
  int rc = as_prices_load(r->prices_path, r->prices, err, cap);
  if (rc != AS_OK) return rc == AS_NOMEM ? rc : AS_PARSE;
  r->bcfg = (as_budget_cfg){.daily_limit_micros = sc->daily_limit_micros,
                            .cycle_estimate_micros = sc->cycle_estimate_micros
                                                         ? sc->cycle_estimate_micros
                                                         : SCN_ESTIMATE_DEFAULT,
                            .prices = r->prices};
  *fp ^= file_hash(r->prices_path) * 0xc2b2ae3d27d4eb4full;
  return AS_OK;
}

int scn_runner_new(scn_runner **out, const scenario *sc, char *err, size_t errcap) {
  scn_runner *r = calloc(1, sizeof *r);
  if (!r) return AS_NOMEM;
  if (err && errcap) err[0] = '\0';
  if (scn_copy(&r->sc, sc) != AS_OK) {
    free(r);
    return AS_NOMEM;
  }
  char scratch[64];
  uint64_t agents_fp = 0;
  int lrc = load_agents(r, err ? err : scratch, err ? errcap : sizeof scratch, &agents_fp);
  if (lrc != AS_OK) {
    scn_runner_free(r);
    return lrc;
  }
  if (r->sc.budget) {
    lrc = load_prices(r, err ? err : scratch, err ? errcap : sizeof scratch, &agents_fp);
    if (lrc != AS_OK) {
      scn_runner_free(r);
      return lrc;
    }
  }
  for (size_t k = 0; k < r->sc.nlegacy; k++) r->legacy[k] = r->sc.legacy[k];
  r->prog = (sim_program){
      .name = r->sc.name,
      .summary = r->sc.describe,
      .state_size = sizeof(run),
      .est_tasks = 2,
      .setup = setup,
      .main = main_task,
      .invariant = invariant,
      .check = check,
      .teardown = teardown,
      .describe = orc_describe,
      .user = r,
      .max_steps = r->sc.max_steps, /* the scenario's limits line */
      .max_virtual_ns = r->sc.max_virtual_ns,
  };
  for (size_t a = 0; a < sc->nactors; a++) r->prog.est_tasks += sc->actors[a].count;
  /* The fingerprint: the scenario's canonical text, so a schedule replays
  ** only against what recorded it (comments and layout aside). */
  char *text = malloc(SCN_MAX_BYTES * 2);
  size_t len = 0;
  if (!text || scn_format(&r->sc, text, SCN_MAX_BYTES * 2, &len) != AS_OK) {
    free(text);
    scn_runner_free(r);
    return AS_NOMEM;
  }
  r->prog.fingerprint = XXH64(text, len, 0) ^ agents_fp;
  free(text);
  *out = r;
  return AS_OK;
}

void scn_runner_free(scn_runner *r) {
  if (!r) return;
  as_app_free(r->app);
  as_stub_script_free(r->script);
  as_cassette_free(r->cassette);
  orc_app_free(r->oapp);
  free(r->prices);
  scn_clear(&r->sc);
  free(r);
}

const sim_program *scn_runner_program(const scn_runner *r) { return &r->prog; }
const scenario *scn_runner_scenario(const scn_runner *r) { return &r->sc; }

/*
** timeline.c -- a recorded run as a Chrome trace-event JSON object and as
** one self-contained HTML page (timeline.h, docs/timeline.md).
**
** Both read the recorder's events in stream order. The trace draws a lane
** (tid) per task: its life from spawn to finish (B/E), every mutex held
** from lock to unlock, every wait (lock-wait, cond-wait, join-wait, sleep,
** an I/O in flight) until the task's next event, the scenario runner's
** operations (op to ack) and LLM calls (llm-call to llm-answer) as complete
** slices (X); session locks held as async slices (b/e); faults, power losses, spurious wakeups, tool executions and
** committed session rows as instants (i); a mutex or session lock passed
** from one task to another, and a signal to the wake it causes, as flows
** (s/f); and the failing step as a global instant "FAIL: ...".
*/
#include "timeline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentsim/metrics_out.h"
#include "cli.h"
#include "grow.h"
#include "oracle/oracle.h"
#include "timeline_page.h"

/* --- the sessions' committed rows (both outputs) ------------------------------- */

typedef struct tl_change {
  size_t idx;     /* the event that committed it (pending: the row's) */
  uint64_t conn;
  char key[128];
  char status[64];
  int64_t version; /* -1: not known */
  int state;       /* TL_COMMITTED, TL_PENDING (written, its transaction open), TL_DROPPED */
} tl_change;

enum { TL_COMMITTED, TL_PENDING, TL_DROPPED };

typedef struct tl_sessions {
  tl_change *ch, *pend;
  size_t n, cap, npend, cappend;
} tl_sessions;

/* Copy the word at src (up to a space) into dst; past it. */
static const char *copy_word(char *dst, size_t cap, const char *src) {
  size_t n = strcspn(src, " ");
  size_t k = n < cap ? n : cap - 1;
  memcpy(dst, src, k);
  dst[k] = '\0';
  return src + n;
}

/* A sessions row's text, "db-row cN OP sessions KEY status=S version=V", into r. */
static void parse_row(const char *text, tl_change *r) {
  const char *p = strstr(text, " sessions ");
  p = copy_word(r->key, sizeof r->key, p ? p + 10 : "?");
  const char *st = strstr(p, " status=");
  (void)copy_word(r->status, sizeof r->status, st ? st + 8 : "deleted"); /* ignore: the end */
  const char *v = strstr(p, " version=");
  char num[24];
  uint64_t u;
  (void)copy_word(num, sizeof num, v ? v + 9 : "?"); /* ignore: the end */
  r->version = cli_parse_u64(num, &u) == AS_OK && u <= INT64_MAX ? (int64_t)u : -1;
}

/* Keep change r (at event idx, in state st) in s->ch. */
static AS_WUR int sessions_note(tl_sessions *s, tl_change r, size_t idx, int st) {
  int rc = sim_grow(&s->ch, &s->cap, s->n + 1, sizeof *s->ch, SIM_EVLOG_MAX);
  if (rc != AS_OK) return rc;
  r.idx = idx;
  r.state = st;
  s->ch[s->n++] = r;
  return AS_OK;
}

/* Feed event idx: a sessions row is pending until its connection commits
** (then committed) or rolls back (then dropped); every change is kept in
** s->ch. AS_OK or AS_NOMEM (AS_TOOBIG past the caps). */
static AS_WUR int sessions_feed(tl_sessions *s, const sim_evrec *e, size_t idx) {
  if (e->kind == ORC_EV_ROW && e->label && strcmp(e->label, "sessions") == 0) {
    int rc = sim_grow(&s->pend, &s->cappend, s->npend + 1, sizeof *s->pend, CLI_TL_MAX_SESSIONS);
    if (rc != AS_OK) return rc;
    tl_change *r = &s->pend[s->npend++];
    r->conn = e->object;
    parse_row(e->text, r);
    return sessions_note(s, *r, idx, TL_PENDING);
  }
  if (e->kind != ORC_EV_COMMITTED && e->kind != ORC_EV_ROLLBACK) return AS_OK;
  size_t keep = 0;
  for (size_t i = 0; i < s->npend; i++) {
    tl_change r = s->pend[i];
    if (r.conn != e->object) {
      s->pend[keep++] = r;
      continue;
    }
    int rc = sessions_note(s, r, idx, e->kind == ORC_EV_ROLLBACK ? TL_DROPPED : TL_COMMITTED);
    if (rc != AS_OK) return rc;
  }
  s->npend = keep;
  return AS_OK;
}

static void sessions_free(tl_sessions *s) {
  free(s->ch);
  free(s->pend);
}

/* The index of the failing event: the last one kept at the failing step
** (the last one kept when the log stopped before it). */
static size_t fail_index(const sim_evlog *l) {
  size_t n = sim_evlog_count(l);
  while (n > 1 && (sim_evlog_at(l, n - 1)->step > sim_evlog_fail_step(l) ||
                   sim_evlog_at(l, n - 1)->kind == SIM_EVLOG_PICK))
    n--;
  return n ? n - 1 : 0;
}

/* The first line of the run's message, cut. */
static void first_line(const sim_evlog *l, char *buf, size_t cap) {
  const char *msg = sim_evlog_message(l);
  size_t n = strcspn(msg, "\n");
  if (n >= cap) n = cap - 1;
  memcpy(buf, msg, n);
  buf[n] = '\0';
}

static const char *outcome_name(const sim_evlog *l) {
  return sim_outcome_name((sim_outcome)sim_evlog_outcome(l));
}

/* --- the trace-event JSON ----------------------------------------------------------- */

#define TL_DEPTH 8 /* operations and LLM calls open at once in one task */

typedef struct tl_call {
  uint32_t kind; /* ORC_EV_OP or ORC_EV_LLM */
  uint64_t ts;
  const char *name;
} tl_call;

typedef struct tl_task {
  int wait;              /* a wait is open */
  uint64_t wait_ts;
  const char *wait_what;  /* its event's text (or its I/O's, with "busy: ") */
  const char *wait_busy;
  const char *wait_cat;
  uint64_t wait_cond;    /* cond-wait: the condition's id + 1 */
  uint64_t wake_flow;    /* a signal's flow, finished when the wait ends (0: none) */
  tl_call calls[TL_DEPTH];
  unsigned ncalls;
  const char *io;        /* the disk event the next busy sleep waits for */
  uint64_t io_step;
  int begun, ended;
} tl_task;

/* A mutex or a session lock: who holds it since when, who let it go last. */
typedef struct tl_hold {
  const char *key;       /* session locks: the session's key */
  uint32_t holder;       /* task + 1; 0: free */
  unsigned depth;        /* session locks: re-entries */
  uint64_t ts;
  uint32_t unlocker;     /* task + 1; 0: none yet */
  uint64_t unlock_ts;
} tl_hold;

typedef struct tl {
  const sim_evlog *l;
  json_t *arr;
  int bad;
  tl_task *tasks; /* SIM_MAX_TASKS + 1: the last is the scheduler's lane */
  uint32_t nt;    /* lanes 0 .. nt-1 named */
  tl_hold *mx;
  size_t nmx, capmx;
  tl_hold *sl;
  size_t nsl, capsl;
  uint64_t flows;
  int sched_used;
  uint64_t end_ts;
  tl_sessions sess;
} tl;

/* An event's place on the trace's clock, in ns: virtual time plus a
** nanosecond per step (timeline.h); written out in microseconds. Kept in
** integers so a slice that ends where the next begins does not overlap it. */
static uint64_t ts_of(const sim_evrec *e) { return e->now_ns + e->step; }

static json_t *us(uint64_t ns) { return json_real((double)ns / 1000.0); }

/* One event with the fields every phase has; NULL (t->bad set) without memory. */
static json_t *ev_new(tl *t, const char *ph, const char *name, const char *cat, uint64_t ts,
                      uint32_t tid) {
  json_t *e = json_object();
  int bad = cli_jset(e, "name", cli_jstr(name));
  bad |= cli_jset(e, "cat", json_string(cat));
  bad |= cli_jset(e, "ph", json_string(ph));
  bad |= cli_jset(e, "ts", us(ts));
  bad |= cli_jset(e, "pid", json_integer(1));
  bad |= cli_jset(e, "tid", json_integer(tid));
  t->sched_used |= tid == CLI_TL_SCHED_TID;
  t->bad |= bad;
  return e;
}

static void push(tl *t, json_t *e) { t->bad |= cli_jpush(t->arr, e); }

static void slice(tl *t, uint32_t tid, const char *name, const char *cat, uint64_t ts0,
                  uint64_t ts1) {
  json_t *e = ev_new(t, "X", name, cat, ts0, tid);
  t->bad |= cli_jset(e, "dur", us(ts1 - ts0));
  push(t, e);
}

static void instant(tl *t, uint32_t tid, const char *name, const char *cat, uint64_t ts,
                    const char *scope) {
  json_t *e = ev_new(t, "i", name, cat, ts, tid);
  t->bad |= cli_jset(e, "s", json_string(scope));
  push(t, e);
}

/* A flow's start (ph "s") or its finish ("f", bound to the enclosing slice). */
static void flow(tl *t, const char *ph, uint64_t id, uint32_t tid, uint64_t ts, const char *name) {
  json_t *e = ev_new(t, ph, name, "flow", ts, tid);
  t->bad |= cli_jset(e, "id", json_integer((json_int_t)id));
  if (ph[0] == 'f') t->bad |= cli_jset(e, "bp", json_string("e"));
  push(t, e);
}

/* A session lock's hold, an async slice (ph "b" at the acquire, "e" at the
** release) on a track of its own: it need not nest with the holder's mutex
** holds (the registry releases it under its own mutex). */
static void async(tl *t, const char *ph, uint64_t id, uint32_t tid, uint64_t ts, const char *name) {
  json_t *e = ev_new(t, ph, name, "session-lock", ts, tid);
  t->bad |= cli_jset(e, "id", json_integer((json_int_t)id));
  push(t, e);
}

/* A hand-over from the last releaser of h to tid, when it is another task. */
static void handoff(tl *t, const tl_hold *h, uint32_t tid, uint64_t ts, const char *name) {
  if (!h->unlocker || h->unlocker - 1 == tid) return;
  uint64_t id = ++t->flows;
  flow(t, "s", id, h->unlocker - 1, h->unlock_ts, name);
  flow(t, "f", id, tid, ts, name);
}

static void metadata(tl *t, const char *what, uint32_t tid, const char *name, json_int_t sort) {
  json_t *e = ev_new(t, "M", what, "__metadata", 0, tid);
  json_t *args = json_object();
  t->bad |= cli_jset(args, "name", cli_jstr(name));
  t->bad |= cli_jset(e, "args", args);
  push(t, e);
  e = ev_new(t, "M", "thread_sort_index", "__metadata", 0, tid);
  args = json_object();
  t->bad |= cli_jset(args, "sort_index", json_integer(sort));
  t->bad |= cli_jset(e, "args", args);
  push(t, e);
}

/* The task's open wait ends at its next event (a blocked task publishes
** nothing), with the wake a signal sent it. */
static void wait_end(tl *t, uint32_t tid, uint64_t ts) {
  tl_task *k = &t->tasks[tid];
  if (k->wait) {
    char name[SIM_EVLOG_TEXT_MAX + 16];
    snprintf(name, sizeof name, "%s%s", k->wait_busy, k->wait_what);
    slice(t, tid, name, k->wait_cat, k->wait_ts, ts);
  }
  if (k->wake_flow) flow(t, "f", k->wake_flow, tid, ts, "wake");
  k->wait = 0;
  k->wake_flow = 0;
}

static void wait_begin(tl *t, uint32_t tid, uint64_t ts, const char *cat, uint64_t cond,
                       const char *busy, const char *what) {
  tl_task *k = &t->tasks[tid];
  k->wait = 1;
  k->wait_ts = ts;
  k->wait_cat = cat;
  k->wait_cond = cond;
  k->wait_busy = busy;
  k->wait_what = what;
}

/* The mutex with id `id`, or NULL past the cap (or without memory: t->bad). */
static tl_hold *mutex_of(tl *t, uint64_t id) {
  if (id >= CLI_TL_MAX_MUTEXES) return NULL;
  size_t need = (size_t)id + 1;
  if (need > t->nmx) {
    if (sim_grow(&t->mx, &t->capmx, need, sizeof *t->mx, CLI_TL_MAX_MUTEXES) != AS_OK) {
      t->bad = 1;
      return NULL;
    }
    memset(t->mx + t->nmx, 0, (need - t->nmx) * sizeof *t->mx);
    t->nmx = need;
  }
  return &t->mx[id];
}

/* The session lock of key, added when new; NULL past the cap (or memory). */
static tl_hold *slock_of(tl *t, const char *key) {
  for (size_t i = 0; i < t->nsl; i++)
    if (strcmp(t->sl[i].key, key) == 0) return &t->sl[i];
  if (sim_grow(&t->sl, &t->capsl, t->nsl + 1, sizeof *t->sl, CLI_TL_MAX_SESSIONS) != AS_OK)
    return NULL;
  tl_hold *h = &t->sl[t->nsl++];
  memset(h, 0, sizeof *h);
  h->key = key;
  return h;
}

static void call_push(tl *t, uint32_t tid, uint32_t kind, uint64_t ts, const char *name) {
  tl_task *k = &t->tasks[tid];
  if (k->ncalls == TL_DEPTH) return; /* deeper than any runner goes: not drawn */
  k->calls[k->ncalls++] = (tl_call){kind, ts, name};
}

/* The answer to the innermost open call of kind: it and what it encloses end. */
static void call_pop(tl *t, uint32_t tid, uint32_t kind, uint64_t ts) {
  tl_task *k = &t->tasks[tid];
  unsigned i = k->ncalls;
  while (i > 0 && k->calls[i - 1].kind != kind) i--;
  if (i == 0) return; /* its start was not recorded */
  while (k->ncalls >= i) {
    const tl_call *c = &k->calls[--k->ncalls];
    slice(t, tid, c->name, c->kind == ORC_EV_OP ? "op" : "llm", c->ts, ts);
  }
}

static void session_lock(tl *t, const sim_evrec *e, uint32_t tid, uint64_t ts) {
  char name[160];
  snprintf(name, sizeof name, "session-lock %s", e->label);
  if (e->extra == ORC_LOCK_TRY_REFUSED) {
    instant(t, tid, e->text, "session-lock", ts, "t");
    return;
  }
  tl_hold *h = slock_of(t, e->label);
  if (!h) {
    t->bad |= t->nsl < CLI_TL_MAX_SESSIONS; /* memory, not the cap */
    return;
  }
  uint64_t id = (uint64_t)(h - t->sl) + 1;
  if (e->extra == ORC_LOCK_RELEASED) {
    if (h->holder != tid + 1 || --h->depth) return;
    async(t, "e", id, tid, ts, name);
    h->holder = 0;
    h->unlocker = tid + 1;
    h->unlock_ts = ts;
    return;
  }
  if (h->holder == tid + 1) {
    h->depth++;
    return;
  }
  if (h->holder) { /* a second holder (the oracle's lock-exclusive): the first hold ends here */
    async(t, "e", id, h->holder - 1, ts, name);
    instant(t, tid, "session lock taken while another task holds it", "session-lock", ts, "t");
  }
  handoff(t, h, tid, ts, "handoff");
  h->holder = tid + 1;
  h->depth = 1;
  h->ts = ts;
  async(t, "b", id, tid, ts, name);
}

/* The scenario runner's and the audit's events (oracle.h). */
static void program_event(tl *t, const sim_evrec *e, uint32_t tid, uint64_t ts, size_t idx) {
  size_t before = t->sess.n;
  if (sessions_feed(&t->sess, e, idx) != AS_OK) t->bad = 1;
  for (size_t i = before; i < t->sess.n; i++) {
    const tl_change *c = &t->sess.ch[i];
    char name[256];
    snprintf(name, sizeof name, "session %s %s: %s v%" PRId64, c->key,
             c->state == TL_COMMITTED ? "committed" : c->state == TL_PENDING ? "written" : "dropped",
             c->status, c->version);
    instant(t, tid, name, "session", ts, "t");
  }
  if (tid == CLI_TL_SCHED_TID) return; /* the runner's events are its tasks' */
  switch (e->kind) {
  case ORC_EV_OP: call_push(t, tid, ORC_EV_OP, ts, e->text + 3); return;
  case ORC_EV_ACK: call_pop(t, tid, ORC_EV_OP, ts); return;
  case ORC_EV_LLM: call_push(t, tid, ORC_EV_LLM, ts, e->text); return;
  case ORC_EV_LLM_ANSWER: call_pop(t, tid, ORC_EV_LLM, ts); return;
  case ORC_EV_EXEC: instant(t, tid, e->text, "tool", ts, "t"); return;
  case ORC_EV_LOCK: if (e->label) session_lock(t, e, tid, ts); return;
  default: return;
  }
}

/* The mutex events of the sim. */
static void mutex_event(tl *t, const sim_evrec *e, uint32_t tid, uint64_t ts) {
  tl_hold *h = mutex_of(t, e->object);
  if (!h) return;
  char name[32];
  snprintf(name, sizeof name, "m%" PRIu64, e->object);
  if (e->kind == SIM_EV_LOCK) {
    handoff(t, h, tid, ts, "handoff");
    h->holder = tid + 1;
    h->ts = ts;
    return;
  }
  if (h->holder) slice(t, h->holder - 1, name, "lock", h->ts, ts);
  h->holder = 0;
  h->unlocker = tid + 1;
  h->unlock_ts = ts;
}

/* A signal wakes one waiter, a broadcast every waiter on the condition. */
static void wake_flow(tl *t, uint32_t from, uint32_t to, uint64_t ts) {
  tl_task *k = &t->tasks[to];
  if (k->wake_flow) return; /* woken already: the first wake is drawn */
  k->wake_flow = ++t->flows;
  flow(t, "s", k->wake_flow, from, ts, "wake");
}

static void sim_event(tl *t, const sim_evrec *e, uint32_t tid, uint64_t ts) {
  tl_task *k = &t->tasks[tid];
  char name[160];
  switch (e->kind) {
  case SIM_EV_SPAWN:
    if (e->object >= SIM_MAX_TASKS || t->tasks[e->object].begun) return;
    snprintf(name, sizeof name, "task %" PRIu64 " %s", e->object, e->label ? e->label : "");
    push(t, ev_new(t, "B", name, "task", ts, (uint32_t)e->object));
    t->tasks[e->object].begun = 1;
    return;
  case SIM_EV_FINISH:
    if (e->object >= SIM_MAX_TASKS || !t->tasks[e->object].begun || t->tasks[e->object].ended)
      return;
    push(t, ev_new(t, "E", "", "task", ts, (uint32_t)e->object));
    t->tasks[e->object].ended = 1;
    return;
  case SIM_EV_LOCK:
  case SIM_EV_UNLOCK:
    mutex_event(t, e, tid, ts);
    return;
  case SIM_EV_LOCK_WAIT:
  case SIM_EV_WAIT:
  case SIM_EV_JOIN_WAIT:
    wait_begin(t, tid, ts, "wait", e->kind == SIM_EV_WAIT ? e->object + 1 : 0, "", e->text);
    return;
  case SIM_EV_SLEEP:
    if (!e->extra)
      wait_begin(t, tid, ts, "wait", 0, "", e->text);
    else
      wait_begin(t, tid, ts, "io", 0, "busy: ", k->io && k->io_step == e->step ? k->io : e->text);
    return;
  case SIM_EV_SIGNAL:
    if (e->extra < t->nt) wake_flow(t, tid, (uint32_t)e->extra, ts);
    return;
  case SIM_EV_BROADCAST:
    for (uint32_t j = 0; j < t->nt; j++)
      if (t->tasks[j].wait && t->tasks[j].wait_cond == e->object + 1) wake_flow(t, tid, j, ts);
    return;
  case SIM_EV_TRYLOCK_BUSY: instant(t, tid, e->text, "lock", ts, "t"); return;
  case SIM_EV_FAULT:
  case SIM_EV_MALLOC_FAIL: instant(t, tid, e->text, "fault", ts, "t"); return;
  case SIM_EV_DISK_CRASH: instant(t, tid, e->text, "crash", ts, "g"); return;
  case SIM_EV_SPURIOUS: instant(t, tid, e->text, "wakeup", ts, "t"); return;
  case SIM_EV_NOTE:
  case SIM_EV_LOG: instant(t, tid, e->text, e->kind == SIM_EV_NOTE ? "note" : "log", ts, "t"); return;
  default:
    if (e->kind >= SIM_EV_DISK_OPEN && e->kind <= SIM_EV_DISK_IMAGE) {
      k->io = e->text;
      k->io_step = e->step;
    }
    return;
  }
}

/* What is still open when the run ends is drawn up to its end. */
static void close_all(tl *t) {
  uint64_t end = t->end_ts;
  for (uint32_t j = 0; j <= CLI_TL_SCHED_TID; j++) {
    tl_task *k = &t->tasks[j];
    wait_end(t, j, end);
    while (k->ncalls) call_pop(t, j, k->calls[0].kind, end);
  }
  for (size_t i = 0; i < t->nmx; i++) {
    char name[32];
    snprintf(name, sizeof name, "m%zu", i);
    if (t->mx[i].holder) slice(t, t->mx[i].holder - 1, name, "lock", t->mx[i].ts, end);
  }
  for (size_t i = 0; i < t->nsl; i++) {
    char name[160];
    snprintf(name, sizeof name, "session-lock %s", t->sl[i].key);
    if (t->sl[i].holder) async(t, "e", i + 1, t->sl[i].holder - 1, end, name);
  }
  for (uint32_t j = 0; j < CLI_TL_SCHED_TID; j++)
    if (t->tasks[j].begun && !t->tasks[j].ended) push(t, ev_new(t, "E", "", "task", end, j));
}

static void fail_marker(tl *t) {
  const sim_evlog *l = t->l;
  if (sim_evlog_outcome(l) == SIM_PASS) return;
  const sim_evrec *e = sim_evlog_at(l, fail_index(l));
  uint32_t tid = e && e->task < SIM_MAX_TASKS ? e->task : CLI_TL_SCHED_TID;
  char line[200], name[224];
  first_line(l, line, sizeof line);
  snprintf(name, sizeof name, "FAIL: %s", line);
  json_t *ev = ev_new(t, "i", name, "fail", e ? ts_of(e) : 0, tid);
  json_t *args = json_object();
  t->bad |= cli_jset(ev, "s", json_string("g"));
  t->bad |= cli_jset(args, "outcome", json_string(outcome_name(l)));
  t->bad |= cli_jset(args, "step", json_integer((json_int_t)sim_evlog_fail_step(l)));
  t->bad |= cli_jset(args, "message", cli_jstr(sim_evlog_message(l)));
  t->bad |= cli_jset(ev, "args", args);
  push(t, ev);
}

static json_t *other_data(const sim_evlog *l, const cli_tl_meta *m) {
  json_t *o = json_object();
  char hash[24];
  snprintf(hash, sizeof hash, "%016" PRIx64, m->trace_hash);
  int bad = cli_jset(o, "scenario", cli_jstr(m->scenario));
  bad |= cli_jset(o, "command", cli_jstr(m->command));
  bad |= cli_jset(o, "seed", cli_jstr(m->seed));
  bad |= cli_jset(o, "strategy", cli_jstr(m->strategy));
  bad |= cli_jset(o, "mutant", cli_jstr(m->mutant));
  bad |= cli_jset(o, "outcome", json_string(outcome_name(l)));
  bad |= cli_jset(o, "message", cli_jstr(sim_evlog_message(l)));
  bad |= cli_jset(o, "fail_step", json_integer((json_int_t)sim_evlog_fail_step(l)));
  bad |= cli_jset(o, "trace_hash", json_string(hash));
  bad |= cli_jset(o, "events", json_integer((json_int_t)sim_evlog_count(l)));
  bad |= cli_jset(o, "events_published", json_integer((json_int_t)sim_evlog_seen(l)));
  bad |= cli_jset(o, "truncated", json_integer(sim_evlog_truncated(l)));
  bad |= cli_jset(o, "ts", json_string("virtual time in us, plus 1 ns per scheduling step"));
  if (bad) {
    json_decref(o);
    return NULL;
  }
  return o;
}

json_t *cli_tl_trace(const sim_evlog *l, const cli_tl_meta *m) {
  tl t = {.l = l, .arr = json_array(), .nt = sim_evlog_ntasks(l)};
  t.tasks = calloc(SIM_MAX_TASKS + 1, sizeof *t.tasks);
  t.bad = !t.tasks;
  json_t *top = NULL;
  if (t.bad) goto out;
  char pname[512];
  snprintf(pname, sizeof pname, "agentsim %s %s", m->command, m->scenario);
  metadata(&t, "process_name", 0, pname, 0);
  for (uint32_t j = 0; j < t.nt; j++) {
    char name[160];
    snprintf(name, sizeof name, "%" PRIu32 " %s", j, sim_evlog_task_name(l, j));
    metadata(&t, "thread_name", j, name, j);
  }
  size_t n = sim_evlog_count(l);
  for (size_t i = 0; i < n && !t.bad; i++) {
    const sim_evrec *e = sim_evlog_at(l, i);
    uint64_t ts = ts_of(e);
    uint32_t tid = e->task < SIM_MAX_TASKS ? e->task : CLI_TL_SCHED_TID;
    if (e->kind == SIM_EVLOG_PICK) { /* the scheduler's picks: only its choices are drawn */
      if (e->extra & SIM_PICK_CHOICE) instant(&t, tid, e->text, "schedule", ts, "t");
      continue;
    }
    t.end_ts = ts;
    if (tid != CLI_TL_SCHED_TID) wait_end(&t, tid, ts);
    if (e->kind < SIM__EV_COUNT)
      sim_event(&t, e, tid, ts);
    else if (m->scenario_kinds && e->kind < ORC__EV_END)
      program_event(&t, e, tid, ts, i);
    else
      instant(&t, tid, e->text, "program", ts, "t");
  }
  close_all(&t);
  fail_marker(&t);
  if (t.sched_used) metadata(&t, "thread_name", CLI_TL_SCHED_TID, "sched", CLI_TL_SCHED_TID);
  top = json_object();
  t.bad |= cli_jset(top, "traceEvents", json_incref(t.arr));
  t.bad |= cli_jset(top, "displayTimeUnit", json_string("ns"));
  t.bad |= cli_jset(top, "otherData", other_data(l, m));
out:
  json_decref(t.arr);
  free(t.tasks);
  free(t.mx);
  free(t.sl);
  sessions_free(&t.sess);
  if (t.bad) {
    json_decref(top);
    return NULL;
  }
  return top;
}

/* --- the page ---------------------------------------------------------------------- */

/* The run for the page's script: meta, tasks, events and session changes. */
static json_t *page_data(const sim_evlog *l, const cli_tl_meta *m) {
  json_t *d = json_object(), *tasks = json_array(), *evs = json_array(), *ses = json_array();
  json_t *meta = other_data(l, m);
  tl_sessions s = {0};
  char line[512];
  int bad = 0;
  for (uint32_t j = 0; j < sim_evlog_ntasks(l); j++)
  {
    json_t *row = json_array();
    bad |= cli_jpush(row, json_integer(j));
    bad |= cli_jpush(row, cli_jstr(sim_evlog_task_name(l, j)));
    bad |= cli_jpush(tasks, row);
  }
  size_t n = sim_evlog_count(l);
  for (size_t i = 0; i < n && !bad; i++) {
    const sim_evrec *e = sim_evlog_at(l, i);
    json_t *row = json_array();
    bad |= cli_jpush(row, json_integer((json_int_t)e->step));
    bad |= cli_jpush(row, json_integer((json_int_t)e->now_ns));
    bad |= cli_jpush(row, json_integer(e->task < SIM_MAX_TASKS ? (json_int_t)e->task : -1));
    bad |= cli_jpush(row, cli_jstr(e->text));
    bad |= cli_jpush(row, json_integer((json_int_t)e->decisions));
    bad |= cli_jpush(evs, row);
    if (m->scenario_kinds) bad |= sessions_feed(&s, e, i) != AS_OK;
  }
  for (size_t i = 0; i < s.n && !bad; i++) {
    const tl_change *c = &s.ch[i];
    json_t *row = json_array();
    bad |= cli_jpush(row, json_integer((json_int_t)c->idx));
    bad |= cli_jpush(row, cli_jstr(c->key));
    bad |= cli_jpush(row, cli_jstr(c->status));
    bad |= cli_jpush(row, json_integer(c->version));
    bad |= cli_jpush(row, json_integer(c->state));
    bad |= cli_jpush(ses, row);
  }
  sessions_free(&s);
  first_line(l, line, sizeof line);
  bad |= cli_jset(meta, "headline", cli_jstr(line));
  bad |= cli_jset(meta, "fail_index", json_integer((json_int_t)fail_index(l)));
  bad |= cli_jset(meta, "failed", json_boolean(sim_evlog_outcome(l) != SIM_PASS));
  bad |= cli_jset(d, "meta", meta);
  bad |= cli_jset(d, "tasks", tasks);
  bad |= cli_jset(d, "events", evs);
  bad |= cli_jset(d, "sessions", ses);
  if (bad) {
    json_decref(d);
    return NULL;
  }
  return d;
}

char *cli_tl_html(const sim_evlog *l, const cli_tl_meta *m) {
  json_t *d = page_data(l, m);
  char *data = d ? json_dumps(d, JSON_COMPACT) : NULL;
  json_decref(d);
  if (!data) return NULL;
  /* Every '<' (only ever inside a JSON string) as \u003c: no text of the
  ** run can end the script element or open a comment in it. */
  size_t lt = 0, dlen = strlen(data);
  for (const char *p = data; (p = strchr(p, '<')) != NULL; p++) lt++;
  static const char marker[] = "@RUN_DATA@";
  const char *page = (const char *)cli_timeline_page;
  const char *at = strstr(page, marker);
  size_t head = (size_t)(at - page), tail = strlen(at + sizeof marker - 1);
  char *out = malloc(head + dlen + 5 * lt + tail + 1);
  if (out) {
    char *w = out;
    memcpy(w, page, head);
    w += head;
    for (const char *p = data; *p; p++) {
      if (*p == '<') {
        memcpy(w, "\\u003c", 6);
        w += 6;
      } else {
        *w++ = *p;
      }
    }
    memcpy(w, at + sizeof marker - 1, tail + 1);
  }
  free(data);
  return out;
}

/* --- files ------------------------------------------------------------------------- */

int cli_tl_check_path(const char *opt, const char *path, char *err, size_t cap) {
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
    snprintf(err, cap, "%s %s: is a directory", opt, path);
    return AS_IO;
  }
  char dir[4096];
  const char *slash = strrchr(path, '/');
  size_t n = !slash ? 0 : slash == path ? 1 : (size_t)(slash - path);
  if (n >= sizeof dir) {
    snprintf(err, cap, "%s %.200s...: the path is too long", opt, path);
    return AS_IO;
  }
  memcpy(dir, slash ? path : ".", slash ? n : 1);
  dir[slash ? n : 1] = '\0';
  if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
    snprintf(err, cap, "%s %s: %s is not a directory", opt, path, dir);
    return AS_IO;
  }
  if (access(dir, W_OK | X_OK) != 0) {
    snprintf(err, cap, "%s %s: cannot write in %s: %s", opt, path, dir, strerror(errno));
    return AS_IO;
  }
  return AS_OK;
}

int cli_tl_write(const sim_evlog *l, const cli_tl_meta *m, const char *html_path,
                 const char *json_path, FILE *out, char *err, size_t cap) {
  char why[1024];
  if (json_path) {
    json_t *j = cli_tl_trace(l, m);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(16)) : NULL;
    json_decref(j);
    if (!text) {
      snprintf(err, cap, "--trace-json %s: out of memory", json_path);
      return AS_NOMEM;
    }
    int rc = as_metrics_write_textfile(json_path, text, why, sizeof why);
    free(text);
    if (rc != AS_OK) {
      snprintf(err, cap, "--trace-json %s", why);
      return rc;
    }
    fprintf(out, "trace json: %s (open it in https://ui.perfetto.dev or chrome://tracing)\n",
            json_path);
  }
  if (html_path) {
    char *page = cli_tl_html(l, m);
    if (!page) {
      snprintf(err, cap, "--timeline %s: out of memory", html_path);
      return AS_NOMEM;
    }
    int rc = as_metrics_write_textfile(html_path, page, why, sizeof why);
    free(page);
    if (rc != AS_OK) {
      snprintf(err, cap, "--timeline %s", why);
      return rc;
    }
    fprintf(out, "timeline: %s (%zu events; open it in a browser)\n", html_path,
            sim_evlog_count(l));
  }
  if (sim_evlog_truncated(l))
    fprintf(out, "  note: the recorder kept the first %zu of the run's %" PRIu64 " events (%s)\n",
            sim_evlog_count(l), sim_evlog_seen(l),
            sim_evlog_truncated(l) == 1 ? "its cap" : "out of memory");
  return AS_OK;
}

/*
** oracle.c -- the oracle's sink (oracle.h): it follows every connection's
** transaction from its rows to its commit and the commit's confirmation,
** keeps the model of the session locks, tracks which operation each task is
** in, and records the first violation.
**
** When is a commit real? The commit hook fires before SQLite writes
** anything; and when a commit fails, SQLite rolls the pager back and drops
** its file locks before it calls the rollback hook, so another task may
** commit in between. So a commit is judged, and shown in the model, at its
** hook -- other tasks may read what it wrote before its own task hears back
** -- but stays unsettled, with the state before it kept, until something
** settles it: its connection's profile trace (back in autocommit, no
** rollback), its connection's next transaction, or its task's answer say it
** happened; a later commit on the same row says which state it started
** from. A rollback after the commit hook does not say it did not happen: a
** commit that fails after its commit point reports an error and rolls back
** though its data is on the disk. That, and power loss, leave it in doubt
** until later evidence, and the final read accepts either state.
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "agentsim/fmt.h"
#include "grow.h"
#include "orc_int.h"
#include "scenario/scenario.h"
#include "text.h"

static const char *const check_names[] = {
#define ORC__N(NAME, name, what) name,
    ORC_CHECK_MAP(ORC__N)
#undef ORC__N
};
static const char *const check_whats[] = {
#define ORC__N(NAME, name, what) what,
    ORC_CHECK_MAP(ORC__N)
#undef ORC__N
};

const char *orc_check_name(orc_check c) {
  return (unsigned)c < ORC__CK_COUNT ? check_names[c] : "?";
}
const char *orc_check_what(orc_check c) {
  return (unsigned)c < ORC__CK_COUNT ? check_whats[c] : "?";
}

void orc_write_checks(FILE *f, int markdown) {
  if (markdown) fputs("| check | what it holds |\n| --- | --- |\n", f);
  for (int c = 0; c < ORC__CK_COUNT; c++) {
    if (markdown) {
      fprintf(f, "| `%s` | %s |\n", check_names[c], check_whats[c]);
    } else {
      char head[32];
      snprintf(head, sizeof head, "  %s", check_names[c]);
      sim_wrap(f, head, 23, check_whats[c]);
    }
  }
}

/* --- the operation table's model column ---------------------------------------- */

#define ORC__DECL(NAME, kw, keys, exec, model, help) extern const orc_model model;
SCN_OP_MAP(ORC__DECL)
#undef ORC__DECL

static const orc_model *const models[SCN__OP_COUNT] = {
#define ORC__ROW(NAME, kw, keys, exec, model, help) [SCN_OP_##NAME] = &model,
    SCN_OP_MAP(ORC__ROW)
#undef ORC__ROW
};

const orc_model *orc__model(unsigned kind) {
  if (kind == ORC_OP_CREATE) return &orc_model_create;
  return kind < SCN__OP_COUNT ? models[kind] : NULL;
}

const char *orc__op_name(unsigned kind) {
  return kind == ORC_OP_CREATE ? "create" : scn_op_name((scn_op_kind)kind);
}

/* --- violations ------------------------------------------------------------------ */

static void vmsg(orc *o, const char *head, const char *fmt, va_list ap) AS_PRINTF(3, 0);
static void vmsg(orc *o, const char *head, const char *fmt, va_list ap) {
  size_t n = as_appendf(o->msg, sizeof o->msg, 0, "%s: ", head);
  if (n < sizeof o->msg) (void)vsnprintf(o->msg + n, sizeof o->msg - n, fmt, ap); /* ignore: cut still reads */
  n = strlen(o->msg);
  const orc_task *t = o->task < o->ntasks ? &o->tasks[o->task] : NULL;
  if (t && t->name[0])
    n = as_appendf(o->msg, sizeof o->msg, n, " [step %" PRIu64 ", task %" PRIu32 " '%s'", o->step,
                   o->task, t->name);
  else
    n = as_appendf(o->msg, sizeof o->msg, n, " [step %" PRIu64, o->step);
  if (t && t->active)
    n = as_appendf(o->msg, sizeof o->msg, n, ", in %s%s%s (line %u)", orc__op_name(t->op.kind),
                   t->session ? " " : "", t->session ? t->session : "", t->op.line);
  as_appendf(o->msg, sizeof o->msg, n, "]");
}

void orc__violate(orc *o, orc_check c, const char *fmt, ...) {
  if (o->violated) return;
  o->violated = true;
  o->which = c;
  va_list ap;
  va_start(ap, fmt);
  vmsg(o, orc_check_name(c), fmt, ap);
  va_end(ap);
}

void orc__harness_error(orc *o, const char *fmt, ...) {
  if (o->violated) return;
  o->violated = o->harness = true;
  o->which = ORC__CK_COUNT;
  va_list ap;
  va_start(ap, fmt);
  vmsg(o, "the oracle lost track", fmt, ap);
  va_end(ap);
}

const char *orc_violation(const orc *o) { return o->violated ? o->msg : NULL; }
orc_check orc_violated_check(const orc *o) { return o->which; }

const char *orc__str(const char *s) { return s ? s : "(none)"; }

/* --- maps: sessions and checkpoints by name ------------------------------------------- */

static uint64_t key_hash(const char *k) { return XXH64(k, strlen(k), 0); }

/* The name of entry i of the table a map indexes. */
typedef const char *(*name_fn)(const orc *o, uint32_t i);
static const char *sess_name(const orc *o, uint32_t i) { return o->sess[i].id; }
static const char *ck_name(const orc *o, uint32_t i) { return o->ck[i].tid; }

/* Find key's index (UINT32_MAX: none). */
static uint32_t map_find(const orc *o, const orc_map *m, const char *key, name_fn name) {
  if (!m->cap) return UINT32_MAX;
  for (size_t i = (size_t)key_hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    uint32_t v = m->slot[i];
    if (!v) return UINT32_MAX;
    if (strcmp(name(o, v - 1), key) == 0) return v - 1;
  }
}

static AS_WUR int map_add(const orc *o, orc_map *m, const char *key, uint32_t index, name_fn name) {
  if ((m->n + 1) * 2 > m->cap) {
    size_t nc = m->cap ? m->cap * 2 : 64;
    uint32_t *ns = calloc(nc, sizeof *ns);
    if (!ns) return AS_NOMEM;
    for (size_t i = 0; i < m->cap; i++) {
      if (!m->slot[i]) continue;
      size_t j = (size_t)key_hash(name(o, m->slot[i] - 1)) & (nc - 1);
      while (ns[j]) j = (j + 1) & (nc - 1);
      ns[j] = m->slot[i];
    }
    free(m->slot);
    m->slot = ns;
    m->cap = nc;
  }
  size_t j = (size_t)key_hash(key) & (m->cap - 1);
  while (m->slot[j]) j = (j + 1) & (m->cap - 1);
  m->slot[j] = index + 1;
  m->n++;
  return AS_OK;
}

orc_sess *orc__session(orc *o, const char *id, bool create) {
  uint32_t i = map_find(o, &o->sess_map, id, sess_name);
  if (i != UINT32_MAX) return &o->sess[i];
  if (!create) return NULL;
  if (sim_grow(&o->sess, &o->capsess, o->nsess + 1, sizeof *o->sess, ORC_MAX_SESSIONS) != AS_OK) {
    orc__harness_error(o, "more than %u sessions, or out of memory", ORC_MAX_SESSIONS);
    return NULL;
  }
  orc_sess *s = &o->sess[o->nsess];
  memset(s, 0, sizeof *s);
  s->alt_conn = ORC_NO_CONN;
  s->id = strdup(id);
  if (!s->id) {
    orc__harness_error(o, "out of memory");
    return NULL;
  }
  o->nsess++;
  if (map_add(o, &o->sess_map, id, (uint32_t)o->nsess - 1, sess_name) != AS_OK) {
    free(s->id);
    o->nsess--;
    orc__harness_error(o, "out of memory");
    return NULL;
  }
  return s;
}

orc_ckpt *orc__ckpt(orc *o, const char *tid, bool create) {
  uint32_t i = map_find(o, &o->ck_map, tid, ck_name);
  if (i != UINT32_MAX) return &o->ck[i];
  if (!create) return NULL;
  if (sim_grow(&o->ck, &o->capck, o->nck + 1, sizeof *o->ck, ORC_MAX_CHECKPOINTS) != AS_OK) {
    orc__harness_error(o, "more than %u checkpoints, or out of memory", ORC_MAX_CHECKPOINTS);
    return NULL;
  }
  orc_ckpt *c = &o->ck[o->nck];
  memset(c, 0, sizeof *c);
  c->tid = strdup(tid);
  c->exists = c->prev = c->dur = ORC_EX_NO;
  c->tconn = ORC_NO_CONN;
  if (!c->tid) {
    orc__harness_error(o, "out of memory");
    return NULL;
  }
  o->nck++;
  if (map_add(o, &o->ck_map, tid, (uint32_t)o->nck - 1, ck_name) != AS_OK) {
    free(c->tid);
    o->nck--;
    orc__harness_error(o, "out of memory");
    return NULL;
  }
  return c;
}

/* --- the oracle object ------------------------------------------------------------------ */

int orc_new(orc **out, const char *const *legacy, size_t nlegacy) {
  orc *o = calloc(1, sizeof *o);
  if (!o) return AS_NOMEM;
  o->legacy = nlegacy ? calloc(nlegacy, sizeof *o->legacy) : NULL;
  if (nlegacy && !o->legacy) goto fail;
  for (size_t i = 0; i < nlegacy; i++) {
    o->legacy[i] = strdup(legacy[i]);
    if (!o->legacy[i]) goto fail;
    o->nlegacy++;
  }
  o->task = UINT32_MAX;
  *out = o;
  return AS_OK;
fail:
  orc_free(o);
  return AS_NOMEM;
}

static void task_forget(orc_task *t) {
  free(t->session);
  free(t->tool);
  free(t->thread);
  free(t->content);
  free(t->args);
  free(t->result);
  t->session = t->tool = t->thread = t->content = t->args = t->result = NULL;
  free(t->due);
  free(t->errkind);
  t->errkind = NULL;
  t->due = NULL;
  t->ndue = t->capdue = 0;
  t->active = false;
}

static void conn_drop_rows(orc_conn *c) {
  for (size_t i = 0; i < c->nrows; i++) orc__crow_clear(&c->rows[i]);
  c->nrows = 0;
}

void orc_free(orc *o) {
  if (!o) return;
  orc__budget_free(o);
  free(o->pend);
  for (size_t i = 0; i < o->nlegacy; i++) free(o->legacy[i]);
  free(o->legacy);
  for (size_t i = 0; i < o->nsess; i++) {
    free(o->sess[i].id);
    orc__sstate_clear(&o->sess[i].cur);
    orc__sstate_clear(&o->sess[i].alt);
    orc__sstate_clear(&o->sess[i].dur);
    orc__sstate_clear(&o->sess[i].ralt);
  }
  free(o->sess);
  free(o->sess_map.slot);
  for (size_t i = 0; i < o->nck; i++) free(o->ck[i].tid);
  free(o->ck);
  free(o->ck_map.slot);
  for (size_t i = 0; i < o->nconns; i++) {
    conn_drop_rows(&o->conns[i]);
    free(o->conns[i].rows);
    free(o->conns[i].usess);
    free(o->conns[i].uck);
  }
  free(o->conns);
  for (size_t i = 0; i < o->ntasks; i++) task_forget(&o->tasks[i]);
  free(o->tasks);
  free(o);
}

static orc_task *task_of(orc *o, uint32_t id) {
  if (id == SIM_TASK_NONE) return NULL;
  if (id >= o->ntasks) {
    size_t n = (size_t)id + 1;
    if (sim_grow(&o->tasks, &o->captasks, n, sizeof *o->tasks, ORC_MAX_TASKS) != AS_OK) {
      orc__harness_error(o, "task %" PRIu32 " is past the oracle's %u, or out of memory", id, ORC_MAX_TASKS);
      return NULL;
    }
    memset(&o->tasks[o->ntasks], 0, (n - o->ntasks) * sizeof *o->tasks);
    o->ntasks = n;
  }
  return &o->tasks[id];
}

static orc_conn *conn_of(orc *o, uint64_t id, bool create) {
  if (id >= o->nconns) {
    if (!create) return NULL;
    size_t n = (size_t)id + 1;
    if (id >= ORC_MAX_CONNS ||
        sim_grow(&o->conns, &o->capconns, n, sizeof *o->conns, ORC_MAX_CONNS) != AS_OK) {
      orc__harness_error(o, "connection %" PRIu64 " is past the oracle's %u, or out of memory", id,
                   ORC_MAX_CONNS);
      return NULL;
    }
    memset(&o->conns[o->nconns], 0, (n - o->nconns) * sizeof *o->conns);
    o->nconns = n;
  }
  return &o->conns[id];
}

/* A connection opened before the last power loss can commit nothing. */
static bool conn_live(const orc *o, const orc_conn *c) { return c->open && c->epoch == o->epoch; }

/* --- transactions ------------------------------------------------------------------------- */

static char *dup_bytes(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (!p) return NULL;
  if (n) memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

static AS_WUR int copy_val(orc_cval *d, const orc_val *s) {
  d->type = s->type;
  d->i = s->i;
  d->n = s->n;
  d->t = NULL;
  if (!s->t) return AS_OK;
  d->t = dup_bytes(s->t, s->n);
  return d->t ? AS_OK : AS_NOMEM;
}

static void on_row(orc *o, const sim_ev *ev) {
  const orc_row *r = ev->ref;
  if (!r) {
    orc__harness_error(o, "a change to %s before the audit learnt the schema", ev->label ? ev->label : "?");
    return;
  }
  orc_conn *c = conn_of(o, r->conn, false);
  if (!c || !c->open) {
    orc__harness_error(o, "a change on connection %" PRIu32 ", which the audit never saw open", r->conn);
    return;
  }
  if (!conn_live(o, c)) return; /* dead since a power loss: it can commit nothing */
  for (int i = 0; i < ORC_MAX_COLS; i++)
    if (r->old[i].type == ORC_VAL_UNREADABLE || r->nw[i].type == ORC_VAL_UNREADABLE) {
      orc__harness_error(o, "SQLite could not give the audit a changed row of %s (out of memory)",
                         ev->label ? ev->label : "?");
      return;
    }
  /* A new transaction on this connection: the last commit went through (a
  ** failed one rolls back before the connection can do anything else). */
  if (c->unsettled) orc__settle(o, c, true, true);
  orc__budget_settle(o, c, true);
  if (sim_grow(&c->rows, &c->caprows, c->nrows + 1, sizeof *c->rows, ORC_MAX_ROWS) != AS_OK) {
    orc__harness_error(o, "a transaction of more than %u rows, or out of memory", ORC_MAX_ROWS);
    return;
  }
  orc_crow *d = &c->rows[c->nrows];
  memset(d, 0, sizeof *d);
  d->table = r->table;
  d->op = r->op;
  int rc = AS_OK;
  for (int i = 0; i < ORC_MAX_COLS && rc == AS_OK; i++) {
    rc = copy_val(&d->old[i], &r->old[i]);
    if (rc == AS_OK) rc = copy_val(&d->nw[i], &r->nw[i]);
  }
  c->nrows++;
  if (rc != AS_OK) orc__harness_error(o, "out of memory copying a row");
}


/* The commit hook: check lock scope now, while the committing task is where
** it is: every session whose status the transaction changes must be locked
** by it. */
static void check_lock_scope(orc *o, orc_conn *c, uint32_t task) {
  for (size_t i = 0; i < c->nrows; i++) {
    const orc_crow *r = &c->rows[i];
    if (r->table != ORC_T_SESSIONS || r->op != ORC_UPDATE) continue;
    const orc_cval *was = &r->old[ORC_SC_STATUS], *now = &r->nw[ORC_SC_STATUS];
    if (!was->t || !now->t || strcmp(was->t, now->t) == 0) continue;
    const char *id = r->old[ORC_SC_ID].t ? r->old[ORC_SC_ID].t : "?";
    orc_sess *s = orc__session(o, id, true);
    if (!s) return;
    if (s->holder != task + 1) {
      if (s->holder)
        orc__violate(o, ORC_CK_LOCK_SCOPE, "%s: status %s -> %s committed by task %" PRIu32
                     " while task %" PRIu32 " holds the session's lock", id, was->t, now->t,
                     task, s->holder - 1);
      else
        orc__violate(o, ORC_CK_LOCK_SCOPE, "%s: status %s -> %s committed by task %" PRIu32
                     " without holding the session's lock", id, was->t, now->t, task);
    }
  }
}

/* The commit hook: judge the transaction now and show it in the model at
** once (other tasks may read it before this one hears back), unsettled. */
static void on_committing(orc *o, const sim_ev *ev) {
  orc_conn *c = conn_of(o, ev->object, false);
  if (!c || !conn_live(o, c)) return;
  if (c->unsettled && !c->nrows) return; /* the same commit again, after a busy retry */
  if (c->unsettled) orc__settle(o, c, true, true);
  c->task = ev->task;
  check_lock_scope(o, c, ev->task);
  /* The ledger's rows go to the budget model; the rest to the sessions'. A
  ** transaction of ledger rows alone is not the sessions' business. */
  size_t rows = c->nrows;
  if (!o->violated) orc__budget_commit(o, c);
  if (!o->violated && (c->nrows || rows == 0)) orc__apply(o, c);
}

static void on_committed(orc *o, const sim_ev *ev) {
  orc_conn *c = conn_of(o, ev->object, false);
  if (c && conn_live(o, c) && c->unsettled) orc__settle(o, c, true, true);
  if (c && conn_live(o, c)) orc__budget_settle(o, c, true);
}

/* A rollback before the commit hook: nothing happened. After it: the
** commit failed, but maybe after its commit point (the journal truncated or
** zeroed, then its sync failed), when SQLite reports the error and calls
** the rollback hook though the new data stands -- unless a hot journal
** takes it back later. In doubt either way: later evidence settles it. */
static void on_rollback(orc *o, const sim_ev *ev) {
  orc_conn *c = conn_of(o, ev->object, false);
  if (!c || !conn_live(o, c)) return;
  conn_drop_rows(c);
  if (c->unsettled) orc__orphan(o, c);
  orc__budget_settle(o, c, false);
}

/* Power loss: every live connection dies; a commit still unsettled may or
** may not have reached the disk. */
static void on_crash(orc *o) {
  for (size_t i = 0; i < o->nconns; i++) {
    orc_conn *c = &o->conns[i];
    if (!conn_live(o, c)) continue;
    if (c->unsettled) orc__orphan(o, c);
    orc__budget_settle(o, c, false);
    conn_drop_rows(c);
  }
  orc__power_loss(o);
  o->epoch++;
}

static void on_conn(orc *o, const sim_ev *ev) {
  orc_conn *c = conn_of(o, ev->object, true);
  if (!c) return;
  conn_drop_rows(c);
  c->open = true;
  c->epoch = o->epoch;
  c->unsettled = false;
  c->nusess = c->nuck = 0;
}

/* --- the lock model ------------------------------------------------------------------------ */

static void on_lock(orc *o, const sim_ev *ev) {
  const char *key = ev->label ? ev->label : "?";
  orc_sess *s = orc__session(o, key, true);
  if (!s) return;
  uint32_t me = ev->task + 1;
  /* A preview takes no lock (retry.h): it reads, and answers at once. */
  const orc_task *pt = task_of(o, ev->task);
  if (pt && pt->active && pt->op.kind == SCN_OP_PREVIEW && (orc_lock_event)ev->extra != ORC_LOCK_RELEASED) {
    orc__violate(o, ORC_CK_PREVIEW, "preview %s went for the lock of %s (a preview takes no lock)",
                 orc__str(pt->session), key);
    return;
  }
  switch ((orc_lock_event)ev->extra) {
  case ORC_LOCK_ACQUIRED:
    if (s->holder && s->holder != me) {
      orc__violate(o, ORC_CK_LOCK_EXCLUSIVE, "tasks %" PRIu32 " and %" PRIu32
                   " both hold the lock of %s", s->holder - 1, ev->task, key);
      return;
    }
    s->holder = me;
    s->depth++;
    return;
  case ORC_LOCK_TRY_ACQUIRED:
    if (s->holder == me) {
      orc__violate(o, ORC_CK_LOCK_TRY, "a try-acquire of %s by its own holder, task %" PRIu32
                   ", was granted (it is not re-entrant)", key, ev->task);
      return;
    }
    if (s->holder) {
      orc__violate(o, ORC_CK_LOCK_EXCLUSIVE, "tasks %" PRIu32 " and %" PRIu32
                   " both hold the lock of %s (the second by try-acquire)", s->holder - 1,
                   ev->task, key);
      return;
    }
    s->holder = me;
    s->depth = 1;
    return;
  case ORC_LOCK_TRY_REFUSED:
    if (!s->holder)
      orc__violate(o, ORC_CK_LOCK_TRY, "a try-acquire of %s by task %" PRIu32
                   " was refused while nobody holds the lock", key, ev->task);
    return;
  case ORC_LOCK_RELEASED:
    if (s->holder != me) {
      orc__violate(o, ORC_CK_LOCK_RELEASE, "task %" PRIu32 " released the lock of %s, held by %s",
                   ev->task, key, s->holder ? "another task" : "nobody");
      return;
    }
    if (--s->depth == 0) s->holder = 0;
    return;
  }
  orc__harness_error(o, "a lock event of unknown kind %" PRIu64, ev->extra);
}

/* --- operations ------------------------------------------------------------------------------- */

static AS_WUR int dup_opt(const char *s, char **out) {
  *out = NULL;
  if (!s) return AS_OK;
  *out = strdup(s);
  return *out ? AS_OK : AS_NOMEM;
}

static void on_op(orc *o, const sim_ev *ev) {
  const orc_op *op = ev->ref;
  orc_task *t = task_of(o, ev->task);
  if (!t) return;
  task_forget(t);
  snprintf(t->name, sizeof t->name, "%s", ev->label ? ev->label : "");
  t->op = *op;
  int rc = dup_opt(op->session, &t->session);
  if (rc == AS_OK) rc = dup_opt(op->tool, &t->tool);
  if (rc == AS_OK) rc = dup_opt(op->thread, &t->thread);
  if (rc == AS_OK) rc = dup_opt(op->content, &t->content);
  if (rc == AS_OK) rc = dup_opt(op->args, &t->args);
  if (rc == AS_OK) rc = dup_opt(op->result, &t->result);
  if (rc != AS_OK) {
    orc__harness_error(o, "out of memory");
    return;
  }
  t->op.session = t->session;
  t->op.tool = t->tool;
  t->op.thread = t->thread;
  t->op.content = t->content;
  t->op.args = t->args;
  t->op.result = t->result;
  t->start_ns = ev->now_ns;
  t->start_step = ev->step;
  if (op->kind == SCN_OP_GC) orc__gc_begin(o, t);
  t->active = true;
  t->commits = t->status_commits = 0;
  t->version = 0;
  t->removed = 0;
  t->seq = 0;
  t->resumed = 0;
  t->open_agent = 0;
  orc__retry_begin(o, t);
  orc__budget_begin(o, t);
}

/* What any operation may answer: success, or what the world makes
** transient (busy, an I/O fault, a full disk, memory); an unlocked save may
** also lose to another writer (AS_STALE), a create may find its own earlier
** attempt done (AS_EXISTS), a try be refused (AS_BUSY). Nothing else. */
static bool answer_allowed(orc *o, const orc_task *t, const orc_op *ack) {
  int rc = ack->rc;
  unsigned k = t->op.kind;
  if (rc == AS_OK || rc == AS_BUSY || rc == AS_IO || rc == AS_FULL || rc == AS_NOMEM) return true;
  if (rc == AS_STALE && (k == SCN_OP_START || k == SCN_OP_TOOL || k == SCN_OP_WRITE || k == SCN_OP_TURN))
    return true;
  if (rc == AS_STALE && (k == SCN_OP_FINALIZE || k == SCN_OP_PAUSE || k == SCN_OP_FAIL))
    return true; /* the model step reports it, by name */
  if (rc == AS_EXISTS && k == ORC_OP_CREATE) return true;
  /* An approval already resolved, or none asked for: the model step judges. */
  if ((rc == AS_EXISTS || rc == AS_NOTFOUND) && (k == SCN_OP_APPROVE || k == SCN_OP_REJECT))
    return true;
  /* A creation the runtime was told failed may have been on the disk for a
  ** while, and power loss taken it back. */
  const orc_sess *s = t->session ? orc__session(o, t->session, false) : NULL;
  if (rc == AS_NOTFOUND && t->session && (!s || !s->exists || (s->has_alt && !s->alt_exists)))
    return true; /* (a session the oracle never heard of does not exist) */
  orc__violate(o, ORC_CK_OUTCOME, "%s %s returned %s (%s)", orc__op_name(k), orc__str(t->session),
               as_status_name(rc), as_status_msg(rc));
  return false;
}

static void on_ack(orc *o, const sim_ev *ev) {
  const orc_op *ack = ev->ref;
  orc_task *t = task_of(o, ev->task);
  if (!t) return;
  if (!t->active) {
    orc__harness_error(o, "an answer from task %" PRIu32 " which is in no operation", ev->task);
    return;
  }
  /* The call returned: a commit of its still unsettled went through (a
  ** failed one would have rolled back first). */
  for (size_t i = 0; i < o->nconns; i++) {
    orc_conn *c = &o->conns[i];
    if (!c->unsettled || c->task != ev->task || !conn_live(o, c)) continue;
    if (ack->rc == AS_OK)
      orc__settle(o, c, true, true);
    else
      orc__orphan(o, c); /* an error without a rollback: no telling */
  }
  for (size_t i = 0; i < o->nconns; i++)
    if (o->conns[i].task == ev->task && conn_live(o, &o->conns[i]))
      orc__budget_settle(o, &o->conns[i], ack->rc == AS_OK);
  /* A logical answer (not a fault the world made) comes with every
  ** transaction of the operation ended; after a fault a failed rollback is
  ** left for the next transaction to finish, by design. */
  int rc = ack->rc;
  if (rc == AS_OK || rc == AS_STALE || rc == AS_NOTFOUND || rc == AS_EXISTS || rc == AS_INVAL) {
    for (size_t i = 0; i < o->nconns; i++) {
      const orc_conn *c = &o->conns[i];
      if (!c->in_tx || c->tx_task != ev->task || !conn_live(o, c)) continue;
      orc__violate(o, ORC_CK_TX_SCOPE, "%s %s answered %s with a transaction still open on its "
                   "connection c%zu", orc__op_name(t->op.kind), orc__str(t->session),
                   as_status_name(rc), i);
      return;
    }
  }
  if (answer_allowed(o, t, ack)) {
    const orc_model *m = orc__model(t->op.kind);
    if (m && m->ack) m->ack(o, t, ack);
    if (!o->violated) orc__budget_ack(o, t, ack);
  }
  task_forget(t);
}

/* A connection entered or left a transaction. */
static void on_tx(orc *o, const sim_ev *ev) {
  orc_conn *c = conn_of(o, ev->object, false);
  if (!c || !conn_live(o, c)) return;
  c->in_tx = ev->extra != 0;
  c->tx_task = ev->task;
}

void orc_locks_idle(orc *o, size_t entries) {
  if (o->violated || entries == 0) return;
  for (size_t i = 0; i < o->nsess; i++)
    if (o->sess[i].holder) return; /* an abandoned holder keeps its entry */
  o->task = UINT32_MAX; /* after every task: the step is the last event's */
  orc__violate(o, ORC_CK_LOCK_EVICT, "no task holds a session lock, but the registry keeps %zu "
               "entr%s", entries, entries == 1 ? "y" : "ies");
}

void orc_sink(void *ctx, const sim_ev *ev) {
  orc *o = ctx;
  if (o->violated) return; /* the first violation is the one reported */
  o->step = ev->step;
  o->now_ns = ev->now_ns;
  o->task = ev->task;
  switch (ev->kind) {
  case ORC_EV_TX: on_tx(o, ev); return;
  case ORC_EV_CONN: on_conn(o, ev); return;
  case ORC_EV_ROW: on_row(o, ev); return;
  case ORC_EV_COMMITTING: on_committing(o, ev); return;
  case ORC_EV_COMMITTED: on_committed(o, ev); return;
  case ORC_EV_ROLLBACK: on_rollback(o, ev); return;
  case ORC_EV_LOCK: on_lock(o, ev); return;
  case ORC_EV_OP: on_op(o, ev); return;
  case ORC_EV_ACK: on_ack(o, ev); return;
  case ORC_EV_EXEC:
    orc__on_exec(o, ev->ref, task_of(o, ev->task));
    if (!o->violated) orc__budget_on_exec(o, ev->ref, task_of(o, ev->task));
    return;
  case ORC_EV_LLM_ANSWER: orc__budget_on_answer(o, ev->ref, task_of(o, ev->task)); return;
  case ORC_EV_SPAN: orc__budget_on_span(o, ev->ref, task_of(o, ev->task)); return;
  case ORC_EV_RUNS: orc__on_runs(o, ev, task_of(o, ev->task)); return;
  case ORC_EV_LLM: orc__on_llm(o, ev->ref, task_of(o, ev->task)); return;
  case SIM_EV_DISK_CRASH: on_crash(o); return;
  default: return;
  }
}

/* --- describing the oracle's events --------------------------------------------------------------- */

static const char *const ev_names[] = {
#define ORC__N(NAME, text) text,
    ORC_EVENT_MAP(ORC__N)
#undef ORC__N
};

static const char *const row_ops[] = {"insert", "update", "delete"};
static const char *const lock_evs[] = {"acquired", "try-acquired", "try refused", "released"};
static const char *const runs_evs[] = {"retry entered", "retry refused", "retry left",
                                       "run began",     "run ended",     "cancel marked",
                                       "cancel idle",   "cancel seen"};

/* One value as a trace shows it: an integer, text, or "?" (no value, a
** blob, or one SQLite could not give). */
static size_t describe_val(char *buf, size_t cap, size_t n, const char *name, const orc_val *v) {
  if (v->type == SQLITE_INTEGER) return as_appendf(buf, cap, n, " %s=%" PRId64, name, v->i);
  if (v->type == SQLITE_TEXT && v->t) return as_appendf(buf, cap, n, " %s=%.*s", name, (int)v->n, v->t);
  return as_appendf(buf, cap, n, " %s=?", name);
}

/* What a trace reader needs of a new row, after its key: a session's
** status and version (the timeline's session table reads them), and every column of a ledger record but its times (so `--verbose`
** shows the status a run ended with and its ledger, as a real run's
** database would). */
static void describe_row_values(const orc_row *r, char *buf, size_t cap, size_t n) {
  static const char *const cost_cols[] = {
      [ORC_KC_SEQ] = "seq",           [ORC_KC_OP] = "op_id",
      [ORC_KC_LEAF] = "leaf",         [ORC_KC_SESSION] = "session_id",
      [ORC_KC_AGENT] = "agent",       [ORC_KC_NAME] = "name",
      [ORC_KC_INPUT] = "input_tokens", [ORC_KC_CACHE_READ] = "cache_read_tokens",
      [ORC_KC_CACHE_WRITE] = "cache_write_tokens", [ORC_KC_OUTPUT] = "output_tokens",
      [ORC_KC_ESTIMATED] = "usage_estimated", [ORC_KC_PRICE_VERSION] = "price_version",
      [ORC_KC_COST] = "cost_micros"};
  if (r->table == ORC_T_SESSIONS) {
    n = describe_val(buf, cap, n, "status", &r->nw[ORC_SC_STATUS]);
    (void)describe_val(buf, cap, n, "version", &r->nw[ORC_SC_VERSION]); /* ignore: the length */
    return;
  }
  if (r->table != ORC_T_COSTS) return;
  for (int c = ORC_KC_SEQ; c <= ORC_KC_COST; c++) n = describe_val(buf, cap, n, cost_cols[c], &r->nw[c]);
}

void orc_describe(const sim_ev *ev, char *buf, size_t cap) {
  if (ev->kind < ORC_EV_BASE || ev->kind >= ORC__EV_END) {
    snprintf(buf, cap, "event %" PRIu32, ev->kind);
    return;
  }
  size_t n = as_appendf(buf, cap, 0, "%s", ev_names[ev->kind - ORC_EV_BASE]);
  switch (ev->kind) {
  case ORC_EV_ROW: {
    const orc_row *r = ev->ref;
    const orc_val *key = r && r->op == ORC_INSERT ? &r->nw[0] : r ? &r->old[0] : NULL;
    n = as_appendf(buf, cap, n, " c%" PRIu64 " %s %s %.*s", ev->object,
                   ev->extra < 3 ? row_ops[ev->extra] : "?", ev->label ? ev->label : "?",
                   key && key->t ? (int)key->n : 0, key && key->t ? key->t : "");
    if (r && r->op != ORC_DELETE) describe_row_values(r, buf, cap, n);
    return;
  }
  case ORC_EV_LOCK:
    as_appendf(buf, cap, n, " %s %s", ev->label ? ev->label : "?",
                     ev->extra < 4 ? lock_evs[ev->extra] : "?");
    return;
  case ORC_EV_RUNS:
    as_appendf(buf, cap, n, " %s %s", ev->label ? ev->label : "?",
               ev->extra < 8 ? runs_evs[ev->extra] : "?");
    return;
  case ORC_EV_LLM: {
    const orc_llm *l = ev->ref;
    as_appendf(buf, cap, n, " %s %s call %u attempt %u", l ? orc__str(l->session) : "?",
               l ? orc__str(l->agent) : "?", l ? l->call : 0, l ? l->attempt : 0);
    return;
  }
  case ORC_EV_TX:
    as_appendf(buf, cap, n, " c%" PRIu64 " %s", ev->object, ev->extra ? "open" : "ended");
    return;
  case ORC_EV_EXEC: {
    const orc_exec *x = ev->ref;
    as_appendf(buf, cap, n, " %s for %s %s", x ? orc__str(x->tool) : "?",
               x ? orc__str(x->session) : "?", x ? orc__str(x->args) : "");
    return;
  }
  case ORC_EV_OP:
  case ORC_EV_ACK: {
    const orc_op *op = ev->ref;
    n = as_appendf(buf, cap, n, " %s%s%s", op ? orc__op_name(op->kind) : "?",
                   op && op->session ? " " : "", op && op->session ? op->session : "");
    if (ev->kind == ORC_EV_ACK && op)
      as_appendf(buf, cap, n, " -> %s", as_status_name(op->rc));
    return;
  }
  default:
    as_appendf(buf, cap, n, " c%" PRIu64, ev->object);
    return;
  }
}

/*
** orc_int.h -- what the oracle's files share: the model (sessions, their
** locks, checkpoints), the connections and tasks it follows, and the summary
** of a committed transaction the model steps judge.
**
**   oracle.c   the sink: connections, commits and their confirmation, the
**              lock model, operations and their answers, violations
**   model.c    a committed transaction applied to the model, by the rules
**              every commit obeys whatever made it
**   steps.c    the model step of each operation (the table's model column)
**   audit.c    the SQLite hooks that produce the database's evidence
**   quiesce.c  the database read back at quiescence
*/
#ifndef AGENTSIM_ORACLE_INT_H
#define AGENTSIM_ORACLE_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oracle.h"
#include "spec.h"

/* Caps: the oracle holds what the parser allows and what the runtime's own
** caps allow; past these it reports a harness error rather than guess. */
#define ORC_MAX_SESSIONS 65536u
#define ORC_MAX_CHECKPOINTS (1u << 20)
#define ORC_MAX_CALLS 4096u
#define ORC_MAX_EVENTS (1u << 20)
#define ORC_MAX_ROWS (1u << 20)      /* rows one transaction changes */
#define ORC_MAX_CONNS (1u << 20)
#define ORC_MAX_TASKS 4096u
#define ORC_TX_SESSIONS 8u           /* sessions one transaction may touch */


/* A copied column value. */
typedef struct orc_cval {
  int type;
  int64_t i;
  char *t; /* owned; NUL-terminated (blobs too, for printing) */
  size_t n;
} orc_cval;

typedef struct orc_crow {
  orc_table table;
  orc_row_op op;
  orc_cval old[ORC_MAX_COLS], nw[ORC_MAX_COLS];
} orc_crow;

typedef struct orc_evrec {
  int64_t seq;
  char *kind;
  char *payload;
} orc_evrec;

/* A session as committed. */
typedef struct orc_sstate {
  int status; /* orc_status */
  int64_t version;
  int64_t retry;
  char *extra;
  char *reason;
  char *kind;  /* error_kind ("" or NULL: none) */
  char *cause; /* error_cause */
  orc_call *calls;
  size_t ncalls, capcalls;
  orc_evrec *events;
  size_t nevents, capevents;
} orc_sstate;

/* No connection: an alternative left by power loss, not by a commit in flight. */
#define ORC_NO_CONN UINT32_MAX

/* A session. cur is what the last commit the model saw left; when has_alt,
** that commit is not settled yet -- in flight on connection alt_conn, or cut
** by power loss (ORC_NO_CONN) -- and alt is the state if it did not happen. */
typedef struct orc_sess {
  char *id;
  bool exists;
  orc_sstate cur;
  bool has_alt;
  bool alt_exists;
  uint32_t alt_conn;
  orc_sstate alt;
  /* Visible but not durable: a commit whose sync failed after its commit
  ** point, seen by a later one. Power loss may bring dur back, until a later
  ** commit goes through whole (its syncs make everything before it durable). */
  bool has_dur;
  bool dur_exists;
  orc_sstate dur;
  /* Power loss since: cur, alt and dur are the candidates for what
  ** survived; the next commit on the session (or the final read) tells. */
  bool survivor;
  /* Appends in doubt: cur's events from index ev_sure on come from commits
  ** (notes: an append alone) not settled when a later commit that cannot
  ** tell -- it changes no event -- overtook them. The next append says
  ** whether they happened (its seq follows them, or event ev_sure); the
  ** final read accepts either. */
  bool ev_doubt;
  size_t ev_sure;
  /* The mirror case: a commit that changed the session's row (and calls)
  ** not settled when an append alone, which cannot tell, overtook it. ralt
  ** holds the row as it is if that commit did not happen (no events); the
  ** next commit that changes the row says which it started from. */
  bool row_doubt;
  orc_sstate ralt;
  uint32_t holder; /* lock model: the holding task + 1, 0 for none */
  uint32_t depth;
  /* The runs registry's account (ORC_EV_RUNS): the task whose retry is in
  ** flight (+ 1, 0 none), and how many runs are registered. */
  uint32_t retry_task;
  uint32_t nruns;
} orc_sess;

typedef enum orc_exists { ORC_EX_NO, ORC_EX_YES, ORC_EX_MAYBE } orc_exists;

typedef struct orc_ckpt {
  char *tid;
  orc_exists exists;
  uint32_t tconn;  /* the connection whose unsettled commit set exists, or ORC_NO_CONN */
  orc_exists prev; /* exists before that commit */
  bool has_dur;    /* visible but not durable, as for sessions */
  orc_exists dur;
  uint64_t changed; /* the step of the last commit that stored or removed it */
} orc_ckpt;

/* A connection, and its commit while it is not settled: the model already
** shows it (ack checks see what other tasks may already read), and knows
** what to undo if the rollback comes. */
typedef struct orc_conn {
  bool open;
  bool in_tx;       /* inside a transaction (ORC_EV_TX) ... */
  uint32_t tx_task; /* ... that this task opened */
  uint64_t epoch;   /* power losses before it opened */
  bool unsettled;   /* its commit hook fired; no confirmation or rollback yet */
  uint32_t task;    /* who committed */
  orc_crow *rows;   /* the open transaction's changes */
  size_t nrows, caprows;
  uint32_t *usess;  /* sessions and checkpoints the unsettled commit changed */
  size_t nusess, capusess;
  uint32_t *uck;
  size_t nuck, capuck;
} orc_conn;

/* The operation a task is in, and what it committed so far. */
typedef struct orc_task {
  char name[48];
  bool active;
  orc_op op;       /* strings below are owned copies */
  char *session, *tool, *thread, *content, *args, *result;
  uint64_t start_ns; /* virtual time the operation started */
  uint64_t start_step;
  /* gc: the checkpoints it must remove, as it started (stored for sure,
  ** their sessions finished for good); judged if it commits nothing. */
  uint32_t *due;
  size_t ndue, capdue;
  unsigned commits;
  unsigned status_commits;
  int64_t version; /* the version its last session commit made */
  int64_t removed; /* gc: checkpoints its commits removed */
  int64_t seq;     /* note: the seq of the event it appended */
  uint32_t open_agent; /* the session (index + 1) whose agent run the operation started and did
                       ** not finish yet; 0 none */
  uint32_t resumed; /* watchdog: the session it last resolved a call of (index + 1; 0 none),
                   ** whose run it resumes: that session's checkpoint is its own */
  /* The failure paths (retry.c). */
  char *errkind;      /* fail: the kind it stores (owned copy) */
  bool refused;       /* the registry refused its retry: another was in flight */
  bool accepted;      /* it committed a retry_started */
  int64_t retry_n;    /* the retry count its retry_started or retry_rejected committed */
  char rejected[64];  /* the reason of the retry_rejected it committed ("" none) */
  unsigned answers;   /* retry, preview: the answers (orc__answer_bits) the session's
                      ** states allowed while it ran */
  bool inflight_seen; /* preview: a retry of its session was in flight meanwhile */
  bool inflight_whole; /* preview: ... and has been since it started, still in flight */
  int cancel_found;   /* cancel: what the registry did (ORC_CANCEL_*) */
  uint32_t run_sess;  /* the session (index + 1) whose run it has registered; 0 none */
  bool marked;        /* a cancel marked that run */
  uint32_t cancelled; /* the session (index + 1) whose run it stopped for a cancel */
  bool stopping;      /* its registered run saw its cancel: it makes no call more */
  const char *fail_kind; /* a tool's server failed in its run: the kind the spec says */
  unsigned llm_calls; /* LLM calls (first attempts) of its current agent run */
  char llm_agent[64]; /* ... of this agent */
} orc_task;

/* A string -> index map (open addressing). */
typedef struct orc_map {
  uint32_t *slot; /* index + 1; 0 empty */
  size_t cap, n;
} orc_map;

/* One session a transaction touched. */
typedef struct orc_change {
  orc_sess *s;
  bool created, updated;
  orc_sstate after;      /* the state the transaction leaves (owned) */
  unsigned status_events; /* status_changed events it appended */
  int ev_from, ev_to;    /* the last one's from and to (-1 unreadable) */
  char *ev_reason;       /* and its reason (owned; NULL: none given) */
  char *ev_kind, *ev_cause; /* and its error_kind and error (owned; NULL: none given) */
} orc_change;

/* A committed transaction, as the model steps see it. */
typedef struct orc_tx {
  uint32_t task;
  orc_change ch[ORC_TX_SESSIONS];
  size_t nch;
  const char **put, **del; /* checkpoint thread ids stored and removed */
  size_t nput, capput, ndel, capdel;
  const orc_cval **putdata; /* the bytes each put stored (parallel to put) */
  size_t capputdata;
} orc_tx;

/* The model step of one operation (the operation table's model column). */
typedef struct orc_model {
  /* A transaction the operation committed (generic rules already run). */
  void (*commit)(orc *o, orc_task *t, const orc_tx *tx);
  /* The runtime answered the operation (ack: the answer). */
  void (*ack)(orc *o, orc_task *t, const orc_op *ack);
} orc_model;

/* When a call became pending (the pause's commit, on the sim's wall clock). */
typedef struct orc_pending {
  uint32_t sess;
  size_t call;
  int64_t at;
} orc_pending;

struct orc {
  char **legacy;
  size_t nlegacy;
  const orc_app *app;   /* the scenario's app, or NULL (borrowed) */
  orc_pending *pend;
  size_t npend, cappend;
  orc_sess *sess;
  size_t nsess, capsess;
  orc_map sess_map;
  orc_ckpt *ck;
  size_t nck, capck;
  orc_map ck_map;
  orc_conn *conns;
  size_t nconns, capconns;
  orc_task *tasks;
  size_t ntasks, captasks;
  uint64_t epoch; /* power losses so far */
  size_t ndur;    /* sessions and checkpoints with has_dur */
  /* The event being judged, for messages. */
  uint64_t step;
  uint64_t now_ns; /* its virtual time */
  uint32_t task;
  struct orc_budget *bud; /* the ledger and the daily budget (budget.c) */
  bool violated;
  bool harness; /* the oracle could not follow (out of memory, a cap) */
  orc_check which;
  char msg[1536];
};

/* The sim's wall clock, which the runtime stamps rows with, at virtual time
** ns (the world's definition: sim.h). */
#define ORC_WALL(ns) (SIM_WALL_EPOCH_NS + (int64_t)(ns))

/* oracle.c */
void orc__violate(orc *o, orc_check c, const char *fmt, ...) AS_PRINTF(3, 4);
/* The oracle lost track (memory, a cap): a harness error, reported as such. */
void orc__harness_error(orc *o, const char *fmt, ...) AS_PRINTF(2, 3);
orc_sess *orc__session(orc *o, const char *id, bool create);
orc_ckpt *orc__ckpt(orc *o, const char *tid, bool create);
const orc_model *orc__model(unsigned kind);
const char *orc__op_name(unsigned kind);

/* model.c */
/* Judge conn's changes as a committing transaction and apply them to the
** model, unsettled (orc__settle says which way it went). Empties its rows. */
void orc__apply(orc *o, orc_conn *conn);
/* conn's unsettled commit happened (ok) or was rolled back (!ok). durable:
** it went through whole (its own confirmation), which makes every commit
** before it durable too; !durable: a later commit merely saw it. */
void orc__settle(orc *o, orc_conn *conn, bool ok, bool durable);
/* Everything committed so far is durable (a commit went through whole). */
void orc__durable(orc *o);
/* Power loss: what was visible but not durable may be gone. */
void orc__power_loss(orc *o);
/* Power loss: conn's unsettled commit may or may not be on the disk. */
void orc__orphan(orc *o, orc_conn *conn);
void orc__sstate_clear(orc_sstate *st);
AS_WUR int orc__sstate_copy(orc_sstate *dst, const orc_sstate *src);
/* dst with row's fields and calls, keeping its own events. */
AS_WUR int orc__with_row_of(orc_sstate *dst, const orc_sstate *row);
bool orc__call_equal(const orc_call *a, const orc_call *b);
bool orc__calls_equal(const orc_call *a, size_t na, const orc_call *b, size_t nb);
void orc__crow_clear(orc_crow *r);
/* Strings for messages: NULL as "(none)". */
const char *orc__str(const char *s);

/* retry.c: the failure paths. */
/* The runs registry's event, and an LLM request. */
void orc__on_runs(orc *o, const sim_ev *ev, orc_task *t);
void orc__on_llm(orc *o, const orc_llm *l, orc_task *t);
/* The rules every commit obeys about retry_count, retry_started and the
** error kind and cause (t: the committing operation, NULL none). Before
** the terminal rule. */
void orc__retry_rules(orc *o, const orc_task *t, const orc_change *ch);
void orc__error_rules(orc *o, const orc_change *ch);
/* The answers (a bit per ORC_ANS_*) a retry of s could give in any state
** the model holds possible for it now. */
unsigned orc__answer_bits(const orc *o, const orc_sess *s);
/* After a commit: every retry and preview in flight on s notes what s now allows. */
void orc__note_answers(orc *o, const orc_sess *s);
/* An operation starts: what retry.c keeps of it. */
void orc__retry_begin(orc *o, orc_task *t);
/* The thread session s's runs checkpoint under, with retry count n. */
void orc__thread_of(char *buf, size_t cap, const char *id, int64_t n);
/* agents.c's commit and answer steps, which the retry's run shares. */
void orc__agents_commit(orc *o, orc_task *t, const orc_tx *tx);
void orc__agents_ack(orc *o, orc_task *t, const orc_op *ack);
/* Answer codes: 0 "not in error state", 1 + orc_decision otherwise. */
#define ORC_ANS_NOT_ERROR 0u
#define ORC_ANS_DECISION(d) (1u + (unsigned)(d))

/* budget.c: the ledger and the daily budget. */
/* A transaction is committing on conn: judge and apply its rows of the
** ledger's tables (cost_records, budget_reservations) and take them out of
** conn->rows, leaving the rest to orc__apply. */
void orc__budget_commit(orc *o, orc_conn *conn);
/* conn's budget changes went through (ok), or are in doubt (!ok: rolled
** back after the commit hook, cut by power loss, answered with an error). */
void orc__budget_settle(orc *o, const orc_conn *conn, bool ok);
void orc__budget_on_answer(orc *o, const orc_llm_answer *a, orc_task *t);
void orc__budget_on_exec(orc *o, const orc_exec *ex, orc_task *t);
void orc__budget_on_span(orc *o, const orc_span *span, orc_task *t);
void orc__budget_begin(orc *o, orc_task *t);
/* A run-like operation answered: its session's reservation closed as its
** ending says, and every leaf it did recorded. */
void orc__budget_ack(orc *o, orc_task *t, const orc_op *ack);
void orc__budget_free(orc *o);
/* At quiescence: the ledger's tables read back against the model, the open
** reservations' sessions, the spans. 0, SIM_INVARIANT or SIM_HARNESS. */
int orc__budget_quiescence(orc *o, sqlite3 *db, char *msg, size_t cap);

/* steps.c: the model steps, named by the operation table. */
/* agents.c: the world carried out an app tool, in task t's operation. */
void orc__on_exec(orc *o, const orc_exec *ex, orc_task *t);
/* A GC starts: note what it must remove (t->due). */
void orc__gc_begin(orc *o, orc_task *t);
extern const orc_model orc_model_create;

#endif

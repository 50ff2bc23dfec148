/*
** stream.c -- the event stream (stream.h): publishing, the fan-out to
** sinks, and the sim's own sinks: the trace hash (XXH64), the --verbose
** printer and the hash log.
*/
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "sim_internal.h"

static const char *const kind_names[] = {
#define SIM__N(name, text) text,
    SIM_EVENT_MAP(SIM__N)
#undef SIM__N
};

const char *sim_ev_kind_name(uint32_t kind) {
  return kind < SIM__EV_COUNT ? kind_names[kind] : NULL;
}

/* --- the trace hash -------------------------------------------------------- */

/* Little-endian stores: one move on a little-endian machine, bytes elsewhere. */
static inline void put_le32(unsigned char *p, uint32_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  memcpy(p, &v, sizeof v);
#else
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
#endif
}

static inline void put_le64(unsigned char *p, uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  memcpy(p, &v, sizeof v);
#else
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
#endif
}

void sim__ev_record(const sim_ev *ev, unsigned char rec[SIM_EV_RECORD]) {
  uint64_t ld = ev->label ? XXH64(ev->label, strlen(ev->label), 0) : 0;
  uint64_t dd = ev->data ? XXH64(ev->data, ev->len, 0) : 0;
  put_le32(rec, ev->kind);
  put_le32(rec + 4, ev->task);
  put_le64(rec + 8, ev->now_ns);
  put_le64(rec + 16, ev->object);
  put_le64(rec + 24, ev->extra);
  put_le64(rec + 32, ld);
  put_le64(rec + 40, dd);
}

static void hash_flush(struct sim *s) {
  if (s->hlen && XXH64_update(s->xxh, s->hbuf, s->hlen) != XXH_OK) s->hash_broken = 1;
  s->hlen = 0;
}

static void hash_sink(void *ctx, const sim_ev *ev) {
  struct sim *s = ctx;
  if (ev->kind == SIM_EV_LOG) return;
  if (s->hlen + SIM_EV_RECORD > sizeof s->hbuf) hash_flush(s);
  sim__ev_record(ev, s->hbuf + s->hlen);
  s->hlen += SIM_EV_RECORD;
}

uint64_t sim__hash_final(struct sim *s, uint64_t outcome) {
  hash_flush(s);
  unsigned char tail[8];
  put_le64(tail, outcome);
  if (XXH64_update(s->xxh, tail, sizeof tail) != XXH_OK) s->hash_broken = 1;
  return XXH64_digest(s->xxh);
}

/* --- describing events ----------------------------------------------------- */

/* A sim or world event in words after its kind's name; the new length. */
static size_t describe_sim(const sim_ev *ev, char *buf, size_t cap, size_t n) {
  const char *lb = ev->label ? ev->label : "";
  uint64_t o = ev->object, x = ev->extra;
  switch (ev->kind) {
  case SIM_EV_SPAWN:
  case SIM_EV_FINISH:
  case SIM_EV_JOIN:
  case SIM_EV_JOIN_WAIT:
    return as_appendf(buf, cap, n, " task %" PRIu64 "%s%s", o, *lb ? " " : "", lb);
  case SIM_EV_LOCK:
    return as_appendf(buf, cap, n, " m%" PRIu64 "%s", o, x ? " (trylock)" : "");
  case SIM_EV_LOCK_WAIT:
  case SIM_EV_TRYLOCK_BUSY:
    return as_appendf(buf, cap, n, " m%" PRIu64 ", held by task %" PRIu64, o, x);
  case SIM_EV_UNLOCK:
  case SIM_EV_BROADCAST:
    return as_appendf(buf, cap, n, " %c%" PRIu64, ev->kind == SIM_EV_UNLOCK ? 'm' : 'c', o);
  case SIM_EV_WAIT:
    if (x == UINT64_MAX) return as_appendf(buf, cap, n, " c%" PRIu64, o);
    return as_appendf(buf, cap, n, " c%" PRIu64 " until %" PRIu64 " ns", o, x);
  case SIM_EV_SIGNAL:
    if (x == UINT32_MAX) return as_appendf(buf, cap, n, " c%" PRIu64 " (no waiter)", o);
    return as_appendf(buf, cap, n, " c%" PRIu64 " wakes task %" PRIu64, o, x);
  case SIM_EV_SLEEP:
    return as_appendf(buf, cap, n, " until %" PRIu64 " ns%s", o, x ? " (busy: an I/O in flight)" : "");
  case SIM_EV_TIMEOUT:
    return as_appendf(buf, cap, n, " ends %s at %" PRIu64 " ns", o ? "a timed wait" : "a sleep", x);
  case SIM_EV_TIME:
    return as_appendf(buf, cap, n, " jumps to %" PRIu64 " ns", o);
  case SIM_EV_ADVANCE:
    return as_appendf(buf, cap, n, " by %" PRIu64 " ns", o);
  case SIM_EV_FAULT:
    return as_appendf(buf, cap, n, " at point %" PRIu64 " (draw %" PRIu64 ")", o, x);
  case SIM_EV_SPURIOUS:
    return as_appendf(buf, cap, n, " from c%" PRIu64, o);
  case SIM_EV_RANDOM:
    return as_appendf(buf, cap, n, " %" PRIu64 " bytes", o);
  case SIM_EV_NOTE:
    return as_appendf(buf, cap, n, " %s=%" PRIu64, lb, x);
  case SIM_EV_LOG:
  case SIM_EV_DISK_OPEN:
  case SIM_EV_DISK_DELETE:
  case SIM_EV_DISK_ACCESS:
    return as_appendf(buf, cap, n, " %s", lb);
  case SIM_EV_DISK_WRITE:
    return as_appendf(buf, cap, n, " f%" PRIu64 " %zu bytes at %" PRIu64 " (xxh64 %016" PRIx64 ")",
                      o, ev->len, x, ev->data ? (uint64_t)XXH64(ev->data, ev->len, 0) : 0);
  case SIM_EV_DISK_IMAGE:
    return as_appendf(buf, cap, n, " %s: %zu bytes (xxh64 %016" PRIx64 ")", lb, ev->len,
                      ev->data ? (uint64_t)XXH64(ev->data, ev->len, 0) : 0);
  case SIM_EV_DISK_CRASH:
    return as_appendf(buf, cap, n, " (crash %" PRIu64 ")", o);
  default:
    if (ev->kind > SIM_EV_DISK_OPEN && ev->kind <= SIM_EV_DISK_SHM_BARRIER)
      return as_appendf(buf, cap, n, " f%" PRIu64 " %" PRIu64, o, x);
    return n;
  }
}

void sim_ev_describe(const sim_ev *ev, char *buf, size_t cap) {
  struct sim *s = sim__active;
  const char *name = sim_ev_kind_name(ev->kind);
  if (name) {
    size_t n = describe_sim(ev, buf, cap, as_appendf(buf, cap, 0, "%s", name));
    if (n == 0 && cap) buf[0] = '\0';
    return;
  }
  if (s && s->prog && s->prog->describe) {
    s->prog->describe(ev, buf, cap);
    return;
  }
  snprintf(buf, cap, "event %" PRIu32 " %" PRIu64 " %" PRIu64 " %s", ev->kind, ev->object,
           ev->extra, ev->label ? ev->label : "");
}

/* --- the printer ------------------------------------------------------------- */

static void print_sink(void *ctx, const sim_ev *ev) {
  struct sim *s = ctx;
  char what[512];
  uint64_t sec = ev->now_ns / 1000000000u, ns = ev->now_ns % 1000000000u;
  fprintf(s->trace, "%8" PRIu64 " %6" PRIu64 ".%09" PRIu64 "  ", ev->step, sec, ns);
  if (ev->task != SIM_TASK_NONE && ev->task < s->ntasks)
    fprintf(s->trace, "[%" PRIu32 " %s] ", ev->task, s->tasks[ev->task]->name);
  else
    fprintf(s->trace, "[sched] ");
  sim_ev_describe(ev, what, sizeof what);
  fputs(what, s->trace);
  fputc('\n', s->trace);
}

/* --- the hash log ------------------------------------------------------------ */


typedef struct logrec {
  uint64_t step;
  unsigned char rec[SIM_EV_RECORD];
  char what[96]; /* the event in words, cut */
} logrec;

struct sim_hashlog {
  logrec *v;
  size_t n, cap;
  int cut;      /* events past SIM_HASHLOG_MAX were not kept */
  int nomem;    /* growing failed: the log stops */
  uint64_t seen; /* events the run published (kept or not) */
};

int sim_hashlog_new(sim_hashlog **out) {
  *out = calloc(1, sizeof **out);
  return *out ? AS_OK : AS_NOMEM;
}

void sim_hashlog_free(sim_hashlog *l) {
  if (!l) return;
  free(l->v);
  free(l);
}

size_t sim_hashlog_count(const sim_hashlog *l) { return l ? l->n : 0; }

static void hashlog_reset(sim_hashlog *l) {
  l->n = 0;
  l->cut = l->nomem = 0;
  l->seen = 0;
}

static void hashlog_sink(void *ctx, const sim_ev *ev) {
  sim_hashlog *l = ctx;
  if (ev->kind == SIM_EV_LOG) return;
  l->seen++;
  if (l->cut || l->nomem) return;
  if (l->n == SIM_HASHLOG_MAX) {
    l->cut = 1;
    return;
  }
  if (sim_grow(&l->v, &l->cap, l->n + 1, sizeof *l->v, SIM_HASHLOG_MAX) != AS_OK) {
    l->nomem = 1;
    return;
  }
  logrec *r = &l->v[l->n++];
  r->step = ev->step;
  sim__ev_record(ev, r->rec);
  char what[256];
  sim_ev_describe(ev, what, sizeof what);
  struct sim *s = sim__active;
  const char *tname = s && ev->task < s->ntasks ? s->tasks[ev->task]->name : "sched";
  (void)as_appendf(r->what, sizeof r->what, 0, "[%s] %s", tname, what); /* ignore: cut is fine */
}

int sim_hashlog_diff(const sim_hashlog *a, const sim_hashlog *b, const char *name_a,
                     const char *name_b, char *buf, size_t cap) {
  size_t n = a->n < b->n ? a->n : b->n;
  for (size_t i = 0; i < n; i++) {
    if (memcmp(a->v[i].rec, b->v[i].rec, SIM_EV_RECORD) == 0) continue;
    snprintf(buf, cap,
             "first difference at event %zu: %s at step %" PRIu64 ": %s; %s at step %" PRIu64
             ": %s",
             i + 1, name_a, a->v[i].step, a->v[i].what, name_b, b->v[i].step, b->v[i].what);
    return 1;
  }
  if (a->seen != b->seen) {
    const sim_hashlog *longer = a->seen > b->seen ? a : b;
    if (n < longer->n)
      snprintf(buf, cap, "the runs agree on %zu events, then %s goes on: at step %" PRIu64 ": %s",
               n, longer == a ? name_a : name_b, longer->v[n].step, longer->v[n].what);
    else
      snprintf(buf, cap, "the runs agree on the %zu events logged, then %s goes on "
                         "(%" PRIu64 " events against %" PRIu64 ")",
               n, longer == a ? name_a : name_b, a->seen, b->seen);
    return 1;
  }
  if (a->cut || a->nomem || b->cut || b->nomem) {
    snprintf(buf, cap, "the runs agree on the first %zu events; the log kept no more", n);
    return 0;
  }
  buf[0] = '\0';
  return 0;
}

/* --- sinks and publishing ---------------------------------------------------- */

int sim__sinks_start(struct sim *s) {
  s->nsinks = 0;
  if (XXH64_reset(s->xxh, 0) != XXH_OK) return AS_INTERNAL;
  s->hash_broken = 0;
  s->hlen = 0;
  s->sinks[s->nsinks++] = (sim__sink){hash_sink, s};
  if (s->cfg->hashlog) {
    hashlog_reset(s->cfg->hashlog);
    s->sinks[s->nsinks++] = (sim__sink){hashlog_sink, s->cfg->hashlog};
  }
  if (s->cfg->evlog) s->sinks[s->nsinks++] = (sim__sink){sim__evlog_sink, s->cfg->evlog};
  if (s->trace) s->sinks[s->nsinks++] = (sim__sink){print_sink, s};
  return AS_OK;
}

int sim_sink_add(sim_sink_fn fn, void *ctx) {
  struct sim *s = sim__active;
  if (!s || !fn) return AS_INVAL;
  if (s->nsinks == SIM_MAX_SINKS) return AS_TOOBIG;
  s->sinks[s->nsinks++] = (sim__sink){fn, ctx};
  return AS_OK;
}

void sim__publish(struct sim *s, sim_ev *ev) {
  ev->step = s->steps;
  ev->now_ns = s->now;
  ev->task = s->cur ? s->cur->id : SIM_TASK_NONE;
  for (unsigned i = 0; i < s->nsinks; i++) s->sinks[i].fn(s->sinks[i].ctx, ev);
}

void sim__event(struct sim *s, uint32_t kind, uint64_t obj, uint64_t extra, const char *label) {
  sim_ev ev = {.kind = kind, .object = obj, .extra = extra, .label = label};
  sim__publish(s, &ev);
}

void sim_publish(const sim_ev *ev) {
  struct sim *s = sim__active;
  if (!s) return;
  sim_ev e = *ev;
  sim__publish(s, &e);
}

void sim_emit(uint32_t kind, uint64_t object, uint64_t extra, const char *label) {
  struct sim *s = sim__active;
  if (s) sim__event(s, kind, object, extra, label);
}

void sim_note(const char *what, uint64_t value) {
  struct sim *s = sim__active;
  if (s) sim__event(s, SIM_EV_NOTE, 0, value, what);
}

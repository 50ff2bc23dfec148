/*
** evlog.c -- the event recorder (evlog.h): a sink that keeps every event of
** a run with its words, its strings in an arena of chunks freed together.
*/
#include "evlog.h"

#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

/* Strings live in chunks of this many bytes (a longer one gets its own). */
#define ARENA_CHUNK (64u * 1024u)

typedef struct chunk {
  struct chunk *next;
  size_t used, cap;
  char data[];
} chunk;

struct sim_evlog {
  sim_evrec *v;
  size_t n, cap, max;
  int truncated;        /* 1: past max; 2: out of memory */
  uint64_t seen;        /* events published (kept or not) */
  uint64_t last_step;   /* the step of the last one */
  uint64_t fail_step;   /* last_step when the run ended */
  chunk *arena;         /* the newest chunk first */
  const char **names;   /* task names by id (arena strings or NULL) */
  size_t nnames, capnames;
  const struct sim *s;  /* the run recording into it */
  int outcome;
  char message[SIM_MSG_MAX];
};

int sim_evlog_new(sim_evlog **out) {
  *out = calloc(1, sizeof **out);
  if (!*out) return AS_NOMEM;
  (*out)->max = SIM_EVLOG_MAX;
  return AS_OK;
}

static void arena_free(sim_evlog *l) {
  while (l->arena) {
    chunk *next = l->arena->next;
    free(l->arena);
    l->arena = next;
  }
}

void sim_evlog_free(sim_evlog *l) {
  if (!l) return;
  arena_free(l);
  free(l->v);
  free(l->names);
  free(l);
}

/* n bytes in the arena, or NULL without memory. */
static char *arena_take(sim_evlog *l, size_t n) {
  chunk *c = l->arena;
  if (!c || c->cap - c->used < n) {
    size_t want = n > ARENA_CHUNK ? n : ARENA_CHUNK;
    c = malloc(sizeof *c + want);
    if (!c) return NULL;
    c->cap = want;
    c->used = 0;
    c->next = l->arena;
    l->arena = c;
  }
  char *p = c->data + c->used;
  c->used += n;
  return p;
}

void sim_evlog_set_max(sim_evlog *l, size_t max) {
  l->max = max == 0 ? 1 : max > SIM_EVLOG_MAX ? SIM_EVLOG_MAX : max;
}

size_t sim_evlog_count(const sim_evlog *l) { return l ? l->n : 0; }

const sim_evrec *sim_evlog_at(const sim_evlog *l, size_t i) {
  return l && i < l->n ? &l->v[i] : NULL;
}

int sim_evlog_truncated(const sim_evlog *l) { return l->truncated; }

const char *sim_evlog_task_name(const sim_evlog *l, uint32_t task) {
  return task < l->nnames && l->names[task] ? l->names[task] : "";
}

uint32_t sim_evlog_ntasks(const sim_evlog *l) { return (uint32_t)l->nnames; }

int sim_evlog_outcome(const sim_evlog *l) { return l->outcome; }

const char *sim_evlog_message(const sim_evlog *l) { return l->message; }

uint64_t sim_evlog_fail_step(const sim_evlog *l) { return l->fail_step; }

uint64_t sim_evlog_seen(const sim_evlog *l) { return l->seen; }

void sim__evlog_reset(sim_evlog *l, const struct sim *s) {
  arena_free(l);
  l->n = 0;
  l->nnames = 0;
  l->truncated = 0;
  l->seen = 0;
  l->last_step = l->fail_step = 0;
  l->s = s;
  l->outcome = SIM_PASS;
  l->message[0] = '\0';
}

/* Name task id (a SPAWN's object) with the arena string name. */
static AS_WUR int name_task(sim_evlog *l, uint64_t id, const char *name) {
  if (id >= SIM_MAX_TASKS) return AS_OK; /* not a task the sim made */
  size_t need = (size_t)id + 1;
  if (need > l->nnames) {
    int rc = sim_grow(&l->names, &l->capnames, need, sizeof *l->names, SIM_MAX_TASKS);
    if (rc != AS_OK) return rc;
    memset(l->names + l->nnames, 0, (need - l->nnames) * sizeof *l->names);
    l->nnames = need;
  }
  l->names[id] = name;
  return AS_OK;
}

/* Keep ev; nonzero (the log stops) when memory ran out. */
static int keep(sim_evlog *l, const sim_ev *ev) {
  if (sim_grow(&l->v, &l->cap, l->n + 1, sizeof *l->v, SIM_EVLOG_MAX) != AS_OK) return 1;
  char text[SIM_EVLOG_TEXT_MAX];
  sim_ev_describe(ev, text, sizeof text);
  size_t tlen = strlen(text), llen = 0;
  if (ev->label) {
    llen = strlen(ev->label);
    if (llen > SIM_EVLOG_LABEL_MAX) llen = SIM_EVLOG_LABEL_MAX;
  }
  /* The words, then the label: one piece of the arena. */
  char *words = arena_take(l, tlen + 1 + (ev->label ? llen + 1 : 0));
  if (!words) return 1;
  memcpy(words, text, tlen + 1);
  char *label = NULL;
  if (ev->label) {
    label = words + tlen + 1;
    memcpy(label, ev->label, llen);
    label[llen] = '\0';
  }
  if (ev->kind == SIM_EV_SPAWN && label && name_task(l, ev->object, label) != AS_OK) return 1;
  l->v[l->n++] = (sim_evrec){
      .step = ev->step,
      .now_ns = ev->now_ns,
      .task = ev->task,
      .kind = ev->kind,
      .object = ev->object,
      .extra = ev->extra,
      .decisions = l->s->ndec,
      .label = label,
      .text = words,
  };
  return 0;
}

void sim__evlog_sink(void *ctx, const sim_ev *ev) {
  sim_evlog *l = ctx;
  l->seen++;
  l->last_step = ev->step;
  if (l->truncated) return;
  if (l->n >= l->max) {
    l->truncated = 1;
    return;
  }
  if (keep(l, ev)) l->truncated = 2;
}

void sim__evlog_end(sim_evlog *l, int outcome, const char *message) {
  l->outcome = outcome;
  l->fail_step = l->last_step;
  size_t len = message ? strlen(message) : 0;
  if (len >= sizeof l->message) len = sizeof l->message - 1;
  memcpy(l->message, message ? message : "", len);
  l->message[len] = '\0';
}

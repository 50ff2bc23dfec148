/*
** shrink.c -- the shrinker (see shrink.h).
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "shrink.h"
#include "sweep.h"

/* The case the shrinker holds: a run that failed the right way. */
typedef struct shr_case {
  sim_schedule sched;  /* what the run did (decoded from its own schedule) */
  uint64_t *choice_at; /* its choices' decision indexes */
  size_t nchoice_at;
  shrink_size size;
} shr_case;

typedef struct shr {
  sim *s;
  const shrink_spec *sp;
  shrink_out *out;
  shr_case cur;
  uint64_t budget;
  int with_sc;   /* the scenario shrinks too */
  int fatal;     /* AS_NOMEM seen: stop */
  char *err;
  size_t cap;
} shr;

void shrink_scenario_size(const scenario *sc, shrink_size *z) {
  z->ops = z->actors = 0;
  z->sessions = sc->sessions;
  for (size_t a = 0; a < sc->nactors; a++) {
    const scn_actor *w = &sc->actors[a];
    uint64_t per = 0;
    if (w->draws) {
      per = w->draws;
    } else {
      for (size_t j = 0; j < w->nops; j++) per += w->ops[j].repeat;
    }
    z->ops += (uint64_t)w->count * per;
    z->actors += w->count;
  }
}

static void size_of(const shr *h, const sim_result *res, const sim_schedule *sc,
                    const scenario *scn, shrink_size *z) {
  memset(z, 0, sizeof *z);
  if (scn) shrink_scenario_size(scn, z);
  z->choices = res->choices;
  z->preemptions = res->preemptions;
  z->faults = sc->nfaults;
  z->wakeups = sc->nwakeups;
  z->decisions = res->decisions;
  z->steps = res->steps;
  (void)h;
}

/* z is no bigger than c in any measure and smaller in one (the tie-breakers,
** decisions then steps, only when the measures are all equal). */
static int smaller(const shrink_size *z, const shrink_size *c) {
  const uint64_t a[] = {z->choices, z->preemptions, z->faults, z->wakeups,
                        z->ops,     z->actors,      z->sessions};
  const uint64_t b[] = {c->choices, c->preemptions, c->faults, c->wakeups,
                        c->ops,     c->actors,      c->sessions};
  int less = 0;
  for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
    if (a[i] > b[i]) return 0;
    if (a[i] < b[i]) less = 1;
  }
  if (less) return 1;
  if (z->decisions != c->decisions) return z->decisions < c->decisions;
  return z->steps < c->steps;
}

static void case_clear(shr_case *c) {
  sim_schedule_clear(&c->sched);
  free(c->choice_at);
  memset(c, 0, sizeof *c);
}

/* A deep copy of a schedule's lists. */
static AS_WUR int sched_copy(sim_schedule *dst, const sim_schedule *src) {
  *dst = *src;
  dst->dec = NULL;
  dst->wakeups = NULL;
  dst->faults = NULL;
  if (src->ndec && !(dst->dec = malloc(src->ndec * sizeof *dst->dec))) goto oom;
  if (src->nwakeups && !(dst->wakeups = malloc(src->nwakeups * sizeof *dst->wakeups))) goto oom;
  if (src->nfaults && !(dst->faults = malloc(src->nfaults * sizeof *dst->faults))) goto oom;
  if (src->ndec) memcpy(dst->dec, src->dec, src->ndec * sizeof *dst->dec);
  if (src->nwakeups) memcpy(dst->wakeups, src->wakeups, src->nwakeups * sizeof *dst->wakeups);
  if (src->nfaults) memcpy(dst->faults, src->faults, src->nfaults * sizeof *dst->faults);
  return AS_OK;
oom:
  sim_schedule_clear(dst);
  return AS_NOMEM;
}

const sim_program *shrink_out_program(const shrink_spec *sp, const shrink_out *out) {
  return out->runner ? scn_runner_program(out->runner) : sp->prog;
}

static void progress(const shr *h) {
  if (!h->sp->progress || h->out->runs % 250 != 0) return;
  const shrink_size *z = &h->cur.size;
  fprintf(stderr,
          "shrink: %" PRIu64 "/%" PRIu64 " runs: %" PRIu64 " choices (%" PRIu64
          " preemptions), %" PRIu64 " faults, %" PRIu64 " ops\n",
          h->out->runs, h->budget, z->choices, z->preemptions, z->faults + z->wakeups, z->ops);
}

/* Run the candidate (schedule cs; with a scenario, csc and its program cr,
** both taken over: freed, or kept when it wins). 1 when it became the
** current case, 0 when not, -1 on a fatal error (h->fatal). */
static int attempt(shr *h, sim_schedule *cs, scenario *csc, scn_runner *cr) {
  int won = 0;
  char *str = NULL;
  sim_result res;
  int have_res = 0;
  shr_case next = {0};
  if (h->out->runs >= h->budget) {
    h->out->exhausted = 1;
    goto out;
  }
  const sim_program *p = cr ? scn_runner_program(cr) : shrink_out_program(h->sp, h->out);
  cs->fingerprint = p->fingerprint;
  int rc = sim_schedule_encode(cs, &str);
  if (rc != AS_OK) {
    h->fatal = rc;
    snprintf(h->err, h->cap, "shrink: cannot encode a schedule: %s", as_status_msg(rc));
    won = -1;
    goto out;
  }
  sim_config cfg = h->sp->base;
  cfg.strategy = SIM_STRATEGY_REPLAY;
  cfg.schedule = str;
  cfg.lenient = 1;
  cfg.trace = NULL;
  cfg.hashlog = NULL;
  rc = sim_run(h->s, p, &cfg, &res);
  have_res = 1;
  h->out->runs++;
  progress(h);
  if (rc == AS_NOMEM || rc == AS_INTERNAL) {
    h->fatal = rc;
    snprintf(h->err, h->cap, "shrink: a run failed: %s: %s", as_status_msg(rc), res.message);
    won = -1;
    goto out;
  }
  if (rc != AS_OK) goto out; /* a candidate the program refuses: not smaller */
  cli_sig sig;
  cli_signature((int)res.outcome, res.message, &sig);
  if (!cli_sig_same_failure(&sig, &h->out->sig)) goto out;
  rc = sim_schedule_decode(res.schedule, &next.sched, h->err, h->cap);
  if (rc != AS_OK) {
    h->fatal = rc;
    won = -1;
    goto out;
  }
  const scenario *scn = csc ? csc : h->with_sc ? &h->out->scn : NULL;
  size_of(h, &res, &next.sched, scn, &next.size);
  if (!smaller(&next.size, &h->cur.size)) goto out;
  /* It wins: it is the current case now, its decisions that took the
  ** default written as SIM_DECISION_DEFAULT, so that lowering one choice
  ** leaves the others meaning what they meant. */
  next.choice_at = res.choice_at;
  next.nchoice_at = res.nchoice_at;
  res.choice_at = NULL;
  res.nchoice_at = 0;
  for (size_t i = 0, k = 0; i < next.sched.ndec; i++) {
    if (k < next.nchoice_at && next.choice_at[k] == i)
      k++;
    else
      next.sched.dec[i] = SIM_DECISION_DEFAULT;
  }
  case_clear(&h->cur);
  h->cur = next;
  memset(&next, 0, sizeof next);
  free(h->out->schedule);
  h->out->schedule = res.schedule;
  res.schedule = NULL;
  h->out->trace_hash = res.trace_hash;
  h->out->outcome = (int)res.outcome;
  snprintf(h->out->message, sizeof h->out->message, "%s", res.message);
  h->out->after = h->cur.size;
  if (cr) {
    scn_runner_free(h->out->runner);
    h->out->runner = cr;
    cr = NULL;
    scn_clear(&h->out->scn);
    h->out->scn = *csc;
    memset(csc, 0, sizeof *csc);
    h->out->scn_changed = 1;
  }
  won = 1;
out:
  if (have_res) sim_result_clear(&res);
  case_clear(&next);
  free(str);
  sim_schedule_clear(cs);
  if (csc) scn_clear(csc);
  scn_runner_free(cr);
  return won;
}

#define STOP(h) ((h)->fatal || (h)->out->exhausted)

/* --- the faults and wakeups: remove chunks, halving, then one at a time ------ */

static int pass_list(shr *h, int faults) {
  int changed = 0;
  size_t n = faults ? h->cur.sched.nfaults : h->cur.sched.nwakeups;
  for (size_t k = n; k >= 1 && !STOP(h); k /= 2) {
    size_t i = 0;
    for (;;) {
      size_t len = faults ? h->cur.sched.nfaults : h->cur.sched.nwakeups;
      if (i >= len || STOP(h)) break;
      size_t end = i + k < len ? i + k : len;
      sim_schedule c;
      if (sched_copy(&c, &h->cur.sched) != AS_OK) {
        h->fatal = AS_NOMEM;
        break;
      }
      if (faults) {
        memmove(c.faults + i, c.faults + end, (c.nfaults - end) * sizeof *c.faults);
        c.nfaults -= end - i;
      } else {
        memmove(c.wakeups + i, c.wakeups + end, (c.nwakeups - end) * sizeof *c.wakeups);
        c.nwakeups -= end - i;
      }
      int r = attempt(h, &c, NULL, NULL);
      if (r > 0)
        changed = 1; /* the same i now names what followed */
      else
        i = end;
    }
    if (k == 1) break;
  }
  return changed;
}

/* --- the choices: lowered to the default, in halving chunks ------------------ */

static int pass_lower(shr *h) {
  int changed = 0;
  for (size_t k = h->cur.nchoice_at; k >= 1 && !STOP(h); k /= 2) {
    size_t i = 0;
    while (i < h->cur.nchoice_at && !STOP(h)) {
      size_t end = i + k < h->cur.nchoice_at ? i + k : h->cur.nchoice_at;
      sim_schedule c;
      if (sched_copy(&c, &h->cur.sched) != AS_OK) {
        h->fatal = AS_NOMEM;
        break;
      }
      for (size_t j = i; j < end; j++)
        if (h->cur.choice_at[j] < c.ndec) c.dec[h->cur.choice_at[j]] = SIM_DECISION_DEFAULT;
      int r = attempt(h, &c, NULL, NULL);
      if (r > 0)
        changed = 1;
      else
        i = end;
    }
    if (k == 1) break;
  }
  return changed;
}

/* Each choice deleted: the decisions after it move up one. */
static int pass_delete(shr *h) {
  int changed = 0;
  size_t j = 0;
  while (j < h->cur.nchoice_at && !STOP(h)) {
    uint64_t at = h->cur.choice_at[j];
    sim_schedule c;
    if (sched_copy(&c, &h->cur.sched) != AS_OK) {
      h->fatal = AS_NOMEM;
      break;
    }
    if (at < c.ndec) {
      memmove(c.dec + at, c.dec + at + 1, (c.ndec - at - 1) * sizeof *c.dec);
      c.ndec--;
    }
    int r = attempt(h, &c, NULL, NULL);
    if (r > 0)
      changed = 1;
    else
      j++;
  }
  return changed;
}

/* --- the scenario: actors, counts, operations, repeats, sessions ------------- */

typedef enum scn_move { MV_ACTOR, MV_COUNT1, MV_COUNT, MV_DRAWS, MV_OP, MV_REPEAT, MV_SESSION } scn_move;

/* Apply a move to sc (a copy); 0 when it does not apply there. */
static int apply_move(scenario *sc, scn_move mv, size_t a, size_t j) {
  scn_actor *w = a < sc->nactors ? &sc->actors[a] : NULL;
  switch (mv) {
  case MV_ACTOR:
    if (!w || sc->nactors < 2) return 0;
    free(w->ops);
    memmove(w, w + 1, (sc->nactors - a - 1) * sizeof *w);
    sc->nactors--;
    return 1;
  case MV_COUNT1:
    if (!w || w->count <= 2) return 0;
    w->count = 1;
    return 1;
  case MV_COUNT:
    if (!w || w->count < 2) return 0;
    w->count--;
    return 1;
  case MV_DRAWS:
    if (!w || w->draws < 2) return 0;
    w->draws = w->draws > 2 ? w->draws / 2 : 1;
    return 1;
  case MV_OP:
    if (!w || w->nops < 2 || j >= w->nops) return 0;
    memmove(w->ops + j, w->ops + j + 1, (w->nops - j - 1) * sizeof *w->ops);
    w->nops--;
    return 1;
  case MV_REPEAT:
    if (!w || j >= w->nops || w->ops[j].repeat < 2) return 0;
    w->ops[j].repeat = w->ops[j].repeat > 2 ? w->ops[j].repeat / 2 : 1;
    return 1;
  case MV_SESSION:
    if (sc->sessions < 2) return 0;
    sc->sessions--;
    return 1;
  }
  return 0;
}

/* A scenario candidate: the current scenario with one move, checked by
** writing it out and parsing it back (a move that leaves an operation
** naming a session past the last is refused there), then run. */
static int try_move(shr *h, scn_move mv, size_t a, size_t j) {
  scenario moved, *cand = NULL;
  scn_runner *r = NULL;
  char *text = NULL;
  int won = 0;
  if (scn_copy(&moved, &h->out->scn) != AS_OK) {
    h->fatal = AS_NOMEM;
    return -1;
  }
  if (!apply_move(&moved, mv, a, j)) goto out;
  size_t cap = SCN_MAX_BYTES, len = 0;
  text = malloc(cap);
  cand = calloc(1, sizeof *cand);
  if (!text || !cand) {
    h->fatal = AS_NOMEM;
    won = -1;
    goto out;
  }
  char perr[512];
  if (scn_format(&moved, text, cap, &len) != AS_OK) goto out;
  if (scn_parse(h->out->scn.name, text, len, cand, perr, sizeof perr) != AS_OK) goto out;
  memcpy(cand->base, h->out->scn.base, sizeof cand->base);
  if (scn_runner_new(&r, cand, perr, sizeof perr) != AS_OK) goto out;
  sim_schedule c;
  if (sched_copy(&c, &h->cur.sched) != AS_OK) {
    h->fatal = AS_NOMEM;
    won = -1;
    goto out;
  }
  won = attempt(h, &c, cand, r);
  r = NULL;
out:
  scn_clear(&moved);
  if (cand) scn_clear(cand);
  free(cand);
  scn_runner_free(r);
  free(text);
  return won;
}

static int pass_scenario(shr *h) {
  int changed = 0;
  static const scn_move per_actor[] = {MV_ACTOR, MV_COUNT1, MV_COUNT, MV_DRAWS};
  for (size_t m = 0; m < sizeof per_actor / sizeof per_actor[0]; m++) {
    for (size_t a = h->out->scn.nactors; a-- > 0 && !STOP(h);) {
      while (!STOP(h) && a < h->out->scn.nactors && try_move(h, per_actor[m], a, 0) > 0) {
        changed = 1;
        if (per_actor[m] == MV_ACTOR) break;
      }
    }
  }
  for (size_t a = h->out->scn.nactors; a-- > 0 && !STOP(h);) {
    for (size_t j = h->out->scn.actors[a].nops; j-- > 0 && !STOP(h);) {
      if (a >= h->out->scn.nactors || j >= h->out->scn.actors[a].nops) continue;
      if (try_move(h, MV_OP, a, j) > 0) {
        changed = 1;
        continue;
      }
      while (!STOP(h) && a < h->out->scn.nactors && j < h->out->scn.actors[a].nops &&
             try_move(h, MV_REPEAT, a, j) > 0)
        changed = 1;
    }
  }
  while (!STOP(h) && try_move(h, MV_SESSION, 0, 0) > 0) changed = 1;
  return changed;
}

/* --- the whole ---------------------------------------------------------------- */

void shrink_out_clear(shrink_out *out) {
  free(out->schedule);
  scn_clear(&out->scn);
  scn_runner_free(out->runner);
  memset(out, 0, sizeof *out);
}

int shrink_exec(sim *s, const shrink_spec *sp, shrink_out *out, char *err, size_t cap) {
  memset(out, 0, sizeof *out);
  double t0 = sweep_now();
  shr h = {.s = s, .sp = sp, .out = out, .err = err, .cap = cap};
  h.budget = sp->attempts ? sp->attempts : SHRINK_DEFAULT_ATTEMPTS;
  err[0] = '\0';
  int rc = AS_OK;
  if (sp->sc) {
    rc = scn_copy(&out->scn, sp->sc);
    if (rc != AS_OK) {
      snprintf(err, cap, "shrink: out of memory");
      return rc;
    }
    h.with_sc = 1;
  }
  /* The failure, replayed strictly: what must persist. */
  sim_config cfg = sp->base;
  cfg.strategy = SIM_STRATEGY_REPLAY;
  cfg.schedule = sp->schedule;
  cfg.lenient = 0;
  cfg.trace = NULL;
  cfg.hashlog = NULL;
  sim_result res;
  rc = sim_run(s, sp->prog, &cfg, &res);
  out->runs = 1;
  if (rc != AS_OK) {
    snprintf(err, cap, "shrink: the failing run does not replay: %s%s%s", as_status_msg(rc),
             res.message[0] ? ": " : "", res.message);
    sim_result_clear(&res);
    shrink_out_clear(out);
    return rc;
  }
  if (res.outcome == SIM_PASS || res.outcome == SIM_HARNESS) {
    snprintf(err, cap, "shrink: the run %s: nothing to shrink (give a seed or schedule that fails)",
             res.outcome == SIM_PASS ? "passes" : "ends in a harness error");
    sim_result_clear(&res);
    shrink_out_clear(out);
    return AS_NOTFOUND;
  }
  cli_signature((int)res.outcome, res.message, &out->sig);
  rc = sim_schedule_decode(res.schedule, &h.cur.sched, err, cap);
  if (rc == AS_OK) {
    size_of(&h, &res, &h.cur.sched, h.with_sc ? &out->scn : NULL, &h.cur.size);
    out->before = out->after = h.cur.size;
    out->schedule = res.schedule;
    res.schedule = NULL;
    out->trace_hash = res.trace_hash;
    out->outcome = (int)res.outcome;
    snprintf(out->message, sizeof out->message, "%s", res.message);
  }
  sim_result_clear(&res);
  if (rc != AS_OK) {
    shrink_out_clear(out);
    return rc;
  }
  /* The choices' indexes come from a lenient replay of the same run (a
  ** strict one does not note them): it takes the run's own decisions. */
  sim_schedule c;
  rc = sched_copy(&c, &h.cur.sched);
  if (rc == AS_OK) {
    h.cur.size.choices++; /* the same run is then "smaller": it takes the place */
    int r = attempt(&h, &c, NULL, NULL);
    if (r <= 0 && !h.fatal) {
      snprintf(err, cap, "shrink: the failing run does not replay leniently as it did strictly");
      rc = AS_INTERNAL;
    }
    out->before = h.cur.size;
  }
  for (int round = 0; rc == AS_OK && !STOP(&h); round++) {
    int changed = 0;
    if (h.with_sc) changed |= pass_scenario(&h);
    changed |= pass_list(&h, 1);
    changed |= pass_list(&h, 0);
    changed |= pass_lower(&h);
    changed |= pass_delete(&h);
    if (!changed && !STOP(&h)) {
      out->minimal = 1;
      break;
    }
  }
  if (h.fatal && rc == AS_OK) rc = h.fatal;
  case_clear(&h.cur);
  out->wall_s = sweep_now() - t0;
  if (rc != AS_OK) shrink_out_clear(out);
  return rc;
}

/*
** strategy.c -- who runs next: uniform random walk, PCT, POS (pos.c), a
** portfolio of them, or a recorded schedule.
**
** PCT (Burckhardt, Kothari, Musuvathi, Nagarakatte; ASPLOS 2010): every task
** gets a random initial priority >= d; d-1 change points are drawn uniformly
** in [1, k]; the highest-priority runnable task always runs, and when
** decision number k_i is reached the task about to run drops to priority
** d-i. A bug of depth d among n tasks is then hit with probability
** >= 1/(n k^(d-1)), k the number of steps that matter. Only decisions
** matter -- steps where more than one task can run: a step with one
** runnable task has one outcome whatever the priorities, and a change point
** spent on it is wasted. So change points are drawn over decision numbers,
** which cover exactly the run's concurrent window (its first decision to
** its last), and k is the program's decision count, measured by
** sim_pct_estimate (pct_k.c) unless the config or the program gives one.
**
** The portfolio picks one of random, PCT d=1, d=2, d=3 and POS by seed:
** consecutive seeds of a sweep rotate through them.
*/
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sim_internal.h"

/* Priority bands, highest first: initial priorities (above PCT_BASE);
** change points (CHANGE_BASE + d-i); tasks that yielded (below CHANGE_BASE,
** the latest yielder lowest). */
#define PCT_BASE (1ull << 40)
#define CHANGE_BASE (1ull << 38)

sim_strategy_kind sim_portfolio_pick(uint64_t seed, unsigned *pct_depth) {
  unsigned slot = (unsigned)(seed % SIM_PORTFOLIO_SIZE);
  *pct_depth = 0;
  if (slot == 0) return SIM_STRATEGY_RANDOM;
  if (slot == SIM_PORTFOLIO_SIZE - 1) return SIM_STRATEGY_POS;
  *pct_depth = slot; /* 1, 2, 3 */
  return SIM_STRATEGY_PCT;
}

void sim__strategy_resolve(struct sim *s) {
  const sim_config *cfg = s->cfg;
  s->kind = cfg->strategy;
  s->pct_d = cfg->pct_depth ? cfg->pct_depth : SIM_DEFAULT_PCT_DEPTH;
  if (cfg->strategy == SIM_STRATEGY_PORTFOLIO) {
    unsigned d;
    s->kind = sim_portfolio_pick(cfg->seed, &d);
    if (s->kind == SIM_STRATEGY_PCT) s->pct_d = d;
  }
}

int sim_pct_needs_estimate(const sim_program *p, const sim_config *cfg) {
  unsigned d;
  sim_strategy_kind k = cfg->strategy == SIM_STRATEGY_PORTFOLIO
                            ? sim_portfolio_pick(cfg->seed, &d)
                            : cfg->strategy;
  return k == SIM_STRATEGY_PCT && !cfg->pct_steps && !p->est_steps;
}

/* Draw the change points over decisions [1, k] and print PCT's options. */
static AS_WUR int pct_init(struct sim *s) {
  const sim_config *cfg = s->cfg;
  sim_rng *r = &s->rng[SIM_STREAM_SCHED];
  if (s->pct_d > SIM_MAX_PCT_DEPTH) return AS_INVAL;
  /* Where k comes from: the config, the program, else sim_run measured it
  ** (s->pct_k) before the run began. */
  const char *from = cfg->pct_steps ? "given" : s->prog->est_steps ? "program" : NULL;
  if (cfg->pct_steps) s->pct_k = cfg->pct_steps;
  else if (s->prog->est_steps) s->pct_k = s->prog->est_steps;
  if (s->pct_k == 0) s->pct_k = 1;
  s->nchange = s->pct_d - 1;
  char list[SIM_MAX_PCT_DEPTH * 21 + 1] = "";
  size_t len = 0;
  if (s->nchange > s->pct_k) s->nchange = (unsigned)s->pct_k;
  s->yield_floor = CHANGE_BASE - 1;
  for (unsigned i = 0; i < s->nchange; i++) {
    /* Distinct points: two on one decision would lower two tasks at once. */
    int dup;
    do {
      s->change[i] = sim_rng_range(r, 1, s->pct_k);
      dup = 0;
      for (unsigned j = 0; j < i; j++) dup |= s->change[j] == s->change[i];
    } while (dup);
    len = as_appendf(list, sizeof list, len, "%s%" PRIu64, i ? "," : "", s->change[i]);
  }
  sim_option("pct_d", "%u", s->pct_d);
  sim_option("pct_k", "%" PRIu64, s->pct_k);
  if (from)
    sim_option("pct_k_from", "%s", from);
  else
    sim_option("pct_k_from", "max-decisions-of-%u-random+%u-pct:d=1-runs",
               SIM_PCT_CALIBRATION_RUNS, SIM_PCT_CALIBRATION_RUNS);
  sim_option("pct_change_points", "%s", s->nchange ? list : "none");
  return AS_OK;
}

int sim__strategy_init(struct sim *s) {
  const sim_config *cfg = s->cfg;
  if (cfg->strategy == SIM_STRATEGY_PORTFOLIO) {
    sim_option("strategy", "portfolio");
    if (s->kind == SIM_STRATEGY_PCT)
      sim_option("portfolio_pick", "pct:d=%u", s->pct_d);
    else
      sim_option("portfolio_pick", "%s", s->kind == SIM_STRATEGY_POS ? "pos" : "random");
  }
  switch (s->kind) {
  case SIM_STRATEGY_RANDOM:
    if (cfg->strategy != SIM_STRATEGY_PORTFOLIO) sim_option("strategy", "random");
    return AS_OK;
  case SIM_STRATEGY_REPLAY:
    sim_option("strategy", "replay");
    sim_option("decisions", "%zu", s->nrdec);
    return AS_OK;
  case SIM_STRATEGY_POS:
    if (cfg->strategy != SIM_STRATEGY_PORTFOLIO) sim_option("strategy", "pos");
    s->pos_gen = 0;
    s->pos_ran = NULL;
    return AS_OK;
  case SIM_STRATEGY_PCT:
    if (cfg->strategy != SIM_STRATEGY_PORTFOLIO) sim_option("strategy", "pct");
    return pct_init(s);
  default:
    return AS_INVAL;
  }
}

void sim__strategy_on_spawn(struct sim *s, struct as_task *t) {
  if (s->kind == SIM_STRATEGY_POS) sim__pos_on_spawn(s, t);
  if (s->kind != SIM_STRATEGY_PCT) return;
  /* Random and distinct: the low bits are the task id. */
  uint64_t r = sim_rng_next(&s->rng[SIM_STREAM_SCHED]) & 0xFFFFFFull;
  t->prio = PCT_BASE + (r << 12) + (t->id & 0xFFF);
  if (t->id < 16) {
    char name[32];
    snprintf(name, sizeof name, "pct_prio_%" PRIu32, t->id);
    sim_option(name, "%" PRIu64, r);
  }
}

void sim__strategy_on_yield(struct sim *s, struct as_task *t) {
  /* POS: a yield polls state some other task will change, so it conflicts
  ** with every event (pos.c): after it, every pending event is redrawn. */
  if (s->kind == SIM_STRATEGY_POS) sim__pending(s, SIM_OBJECT(SIM_OBJ_ANY, 0), 0, 0);
  if (s->kind != SIM_STRATEGY_PCT) return;
  /* Below every task that has not yielded since, the latest yielder lowest,
  ** so spinners take turns and the task they wait for gets to run. */
  if (s->yield_floor > 0) t->prio = s->yield_floor--;
}

static struct as_task *pct_highest(struct sim *s) {
  struct as_task *best = s->runnable[0];
  for (uint32_t i = 1; i < s->nrunnable; i++)
    if (s->runnable[i]->prio > best->prio) best = s->runnable[i];
  return best;
}

static struct as_task *pick_pct(struct sim *s) {
  struct as_task *t = pct_highest(s);
  if (s->nrunnable == 1) return t; /* not a decision: no change point here */
  uint64_t decision = s->ndec + 1;
  for (unsigned i = 0; i < s->nchange; i++) {
    if (s->change[i] == decision) {
      t->prio = CHANGE_BASE + (s->pct_d - 1 - i); /* d-i, counted from 0 */
      t = pct_highest(s);
    }
  }
  return t;
}

struct as_task *sim__default_pick(struct sim *s) {
  struct as_task *l = s->last_ran;
  if (l && l->state == TS_RUNNABLE) return l;
  struct as_task *best = s->runnable[0];
  for (uint32_t i = 1; i < s->nrunnable; i++)
    if (s->runnable[i]->id < best->id) best = s->runnable[i];
  return best;
}

static struct as_task *pick_replay(struct sim *s) {
  if (s->nrunnable == 1) return s->runnable[0];
  if (s->lenient) {
    uint32_t want = s->rpos < s->nrdec ? s->rdec[s->rpos] : SIM_DECISION_DEFAULT;
    if (s->rpos < s->nrdec) s->rpos++;
    for (uint32_t i = 0; i < s->nrunnable; i++)
      if (s->runnable[i]->id == want) return s->runnable[i];
    return sim__default_pick(s);
  }
  if (s->rpos >= s->nrdec) {
    snprintf(s->res->message, sizeof s->res->message,
             "schedule ran out at step %" PRIu64 " after %zu decisions, with %" PRIu32
             " tasks runnable",
             s->steps + 1, s->nrdec, s->nrunnable);
    s->diverged = 1;
    return NULL;
  }
  uint32_t want = s->rdec[s->rpos];
  for (uint32_t i = 0; i < s->nrunnable; i++) {
    if (s->runnable[i]->id == want) {
      s->rpos++;
      return s->runnable[i];
    }
  }
  size_t len = (size_t)snprintf(s->res->message, sizeof s->res->message,
                                "schedule diverged at decision %zu (step %" PRIu64
                                "): task %" PRIu32 " is not runnable; runnable:",
                                s->rpos + 1, s->steps + 1, want);
  for (uint32_t i = 0; i < s->nrunnable; i++)
    len = as_appendf(s->res->message, sizeof s->res->message, len, " %" PRIu32,
                       s->runnable[i]->id);
  s->diverged = 1;
  return NULL;
}

struct as_task *sim__strategy_pick(struct sim *s) {
  switch (s->kind) {
  case SIM_STRATEGY_PCT:
    return pick_pct(s);
  case SIM_STRATEGY_POS:
    return sim__pos_pick(s);
  case SIM_STRATEGY_REPLAY:
    return pick_replay(s);
  case SIM_STRATEGY_RANDOM:
  default:
    if (s->nrunnable == 1) return s->runnable[0];
    return s->runnable[sim_rng_below(&s->rng[SIM_STREAM_SCHED], s->nrunnable)];
  }
}

/* --- choosing one of several tasks (cond_signal's waiter) ------------------ */

static struct as_task *choose_replay(struct sim *s, struct as_task **cand, uint32_t n) {
  if (s->lenient) {
    uint32_t want = s->rpos < s->nrdec ? s->rdec[s->rpos] : SIM_DECISION_DEFAULT;
    if (s->rpos < s->nrdec) s->rpos++;
    for (uint32_t i = 0; i < n; i++)
      if (cand[i]->id == want) return cand[i];
    return cand[0];
  }
  if (s->rpos >= s->nrdec) {
    snprintf(s->res->message, sizeof s->res->message,
             "schedule ran out at step %" PRIu64 " after %zu decisions, choosing among %" PRIu32
             " waiters of a signal",
             s->steps, s->nrdec, n);
    s->diverged = 1;
    return NULL;
  }
  uint32_t want = s->rdec[s->rpos];
  for (uint32_t i = 0; i < n; i++) {
    if (cand[i]->id == want) {
      s->rpos++;
      return cand[i];
    }
  }
  size_t len = (size_t)snprintf(s->res->message, sizeof s->res->message,
                                "schedule diverged at decision %zu (step %" PRIu64
                                "): task %" PRIu32 " is not among the signal's waiters:",
                                s->rpos + 1, s->steps, want);
  for (uint32_t i = 0; i < n; i++)
    len = as_appendf(s->res->message, sizeof s->res->message, len, " %" PRIu32, cand[i]->id);
  s->diverged = 1;
  return NULL;
}

struct as_task *sim__strategy_choose(struct sim *s, struct as_task **cand, uint32_t n) {
  if (n <= 1) return cand[0];
  struct as_task *t = NULL;
  switch (s->kind) { /* a portfolio's pick; POS has no priority for a waiter: uniform */
  case SIM_STRATEGY_PCT:
    t = cand[0];
    for (uint32_t i = 1; i < n; i++)
      if (cand[i]->prio > t->prio) t = cand[i];
    break;
  case SIM_STRATEGY_REPLAY:
    t = choose_replay(s, cand, n);
    if (!t) return cand[0]; /* diverged: the run stops at its next step */
    break;
  case SIM_STRATEGY_RANDOM:
  default:
    t = cand[sim_rng_below(&s->rng[SIM_STREAM_SCHED], n)];
    break;
  }
  if (t != cand[0]) sim__note_choice(s);
  if (s->cfg->evlog)
    sim__evlog_pick(s->cfg->evlog, s->steps, s->now, t->id, cand[0]->id,
                    SIM_PICK_WAITER | (t != cand[0] ? SIM_PICK_CHOICE : 0));
  sim__record_decision(s, t->id); /* a failure ends the run at its next step */
  return t;
}

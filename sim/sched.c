/*
** sched.c -- the run loop: the sim object, task life, scheduling points,
** failures, one run from setup to result, and the small API programs call.
** Timers are in timers.c, the event stream and hash in stream.c, crash
** handling in crash.c, the wait-for graph in waitfor.c, spurious wakeups and
** the listed outcomes of a replay or an override in wakeups.c.
*/
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "schedule.h"
#include "sim_internal.h"

struct sim *sim__active;
/* sim_run_id: the active run's number; run_count numbers them. */
static uint64_t run_count, active_run_id;

static const char *const outcome_names[] = {
#define SIM__N(name, text) text,
    SIM_OUTCOME_MAP(SIM__N)
#undef SIM__N
};

const char *sim_outcome_name(sim_outcome o) {
  return (unsigned)o < SIM__OUTCOME_COUNT ? outcome_names[o] : "?";
}

/* --- sim object ----------------------------------------------------------- */

int sim_new(sim **out, sim_switch_kind sw, size_t stack_size) {
  sim *s = calloc(1, sizeof *s);
  if (!s) return AS_NOMEM;
  s->sw = sw;
  s->stack_size = stack_size ? stack_size : SIM_DEFAULT_STACK;
  s->altstack_size = 64 * 1024;
  s->altstack = malloc(s->altstack_size);
  s->xxh = XXH64_createState();
  if (!s->altstack || !s->xxh) {
    XXH64_freeState(s->xxh); /* NULL is fine; always XXH_OK */
    free(s->altstack);
    free(s);
    return AS_NOMEM;
  }
  int rc = sim__crash_install();
  if (rc != AS_OK) {
    XXH64_freeState(s->xxh); /* NULL is fine; always XXH_OK */
    free(s->altstack);
    free(s);
    return rc;
  }
  *out = s;
  return AS_OK;
}

void sim_free(sim *s) {
  if (!s) return;
  for (size_t i = 0; i < s->npool; i++) sim_stack_free(&s->pool[i]);
  free(s->pool);
  sim__crash_remove();
  sim__crash_forget_altstack(s);
  XXH64_freeState(s->xxh); /* NULL is fine; always XXH_OK */
  free(s->altstack);
  free(s->tasks);
  free(s->runnable);
  free(s->heap);
  free(s->dec);
  free(s->cand);
  free(s->wk);
  free(s->fl);
  free(s);
}

static AS_WUR int stack_get(struct sim *s, sim_stack *st) {
  if (s->npool > 0) {
    *st = s->pool[--s->npool];
    return AS_OK;
  }
  return sim_stack_alloc(st, s->stack_size);
}

static void stack_put(struct sim *s, sim_stack *st) {
  if (!st->map) return;
  if (sim_grow(&s->pool, &s->cappool, s->npool + 1, sizeof *s->pool, SIZE_MAX) != AS_OK) {
    sim_stack_free(st); /* cannot keep it: give it back to the OS */
    return;
  }
  s->pool[s->npool++] = *st;
  memset(st, 0, sizeof *st);
}

/* --- options -------------------------------------------------------------- */

void sim_option(const char *name, const char *fmt, ...) {
  struct sim *s = sim__active;
  if (!s || !s->res) return;
  char val[256];
  va_list ap;
  va_start(ap, fmt);
  (void)vsnprintf(val, sizeof val, fmt, ap); /* ignore: a cut value still reads */
  va_end(ap);
  s->optlen = as_appendf(s->res->options, sizeof s->res->options, s->optlen,
                           "%s%s=%s", s->optlen ? " " : "", name, val);
}

/* --- failures ------------------------------------------------------------- */

void sim__failv(struct sim *s, sim_outcome kind, const char *fmt, va_list ap) {
  if (!s->failed && !s->diverged && !s->oom) {
    s->failed = 1;
    s->res->outcome = kind;
    int n = vsnprintf(s->res->message, sizeof s->res->message, fmt, ap);
    if (n < 0) s->res->message[0] = '\0';
    if (s->cur) {
      size_t len = strlen(s->res->message);
      (void)as_appendf(s->res->message, sizeof s->res->message, len, /* ignore: length unused */
                       " [in task %" PRIu32 " '%s' at step %" PRIu64 "]", s->cur->id,
                       s->cur->name, s->steps);
    }
  }
  if (s->cur) sim__task_abandon(s, s->cur);
}

void sim_fail(sim_outcome kind, const char *fmt, ...) {
  struct sim *s = sim__active;
  if (!s) return;
  if (kind == SIM_PASS || (unsigned)kind >= SIM__OUTCOME_COUNT) kind = SIM_ASSERT;
  va_list ap;
  va_start(ap, fmt);
  sim__failv(s, kind, fmt, ap);
  va_end(ap);
}

struct as_task *sim__self(struct sim *s, const char *op) {
  if (!s->cur) {
    /* A blocking call from setup or the scheduler: a harness bug. */
    fprintf(stderr, "agentsim: %s called outside a sim task\n", op);
    abort();
  }
  return s->cur;
}

/* --- runnable set --------------------------------------------------------- */

static void runnable_add(struct sim *s, struct as_task *t) {
  t->runnable_idx = s->nrunnable;
  s->runnable[s->nrunnable++] = t;
}

void sim__runnable_remove(struct sim *s, struct as_task *t) {
  /* Keep spawn order: the strategies index into this array, and order must
  ** depend on history only. */
  uint32_t i = t->runnable_idx;
  memmove(&s->runnable[i], &s->runnable[i + 1],
          (s->nrunnable - i - 1) * sizeof *s->runnable);
  s->nrunnable--;
  for (; i < s->nrunnable; i++) s->runnable[i]->runnable_idx = i;
}

/* --- task life ------------------------------------------------------------ */

static void task_entry(void *arg) {
  struct as_task *t = arg;
  t->fn(t->arg);
  struct sim *s = sim__active;
  sim__event(s, SIM_EV_FINISH, t->id, 0, NULL);
  t->state = TS_DONE;
  sim__runnable_remove(s, t);
  s->live--;
  if (t->joiner) sim__wake(s, t->joiner, AS_OK);
  s->dying = t;
  sim_ctx_exit(&t->ctx, &s->main_ctx);
}

void sim__task_retire(struct sim *s, struct as_task *t) {
  if (t->state == TS_RUNNABLE) sim__runnable_remove(s, t);
  if (t->state == TS_BLOCKED && t->wait == WAIT_COND) s->ncondwait--;
  sim__timer_cancel(s, t);
  if (t->wq) sim__wq_remove(t);
  t->state = TS_DEAD;
  s->live--;
  s->dying = t;
}

void sim__task_abandon(struct sim *s, struct as_task *t) {
  sim__task_retire(s, t);
  sim_ctx_exit(&t->ctx, &s->main_ctx);
}

int sim__spawn(struct sim *s, struct as_task **out, const char *name,
               as_task_fn fn, void *arg) {
  int rc = AS_OK;
  size_t need = (size_t)s->ntasks + 1;
  if (need > SIM_MAX_TASKS) return AS_TOOBIG;
  /* The runnable set and the timer heap hold at most every task. */
  rc = sim_grow(&s->tasks, &s->captasks, need, sizeof *s->tasks, SIM_MAX_TASKS);
  if (rc == AS_OK) rc = sim_grow(&s->runnable, &s->caprunnable, need, sizeof *s->runnable, SIM_MAX_TASKS);
  if (rc == AS_OK) rc = sim_grow(&s->heap, &s->capheap, need, sizeof *s->heap, SIM_MAX_TASKS);
  if (rc == AS_OK) rc = sim_grow(&s->cand, &s->capcand, need, sizeof *s->cand, SIM_MAX_TASKS);
  if (rc != AS_OK) return rc;
  struct as_task *t = calloc(1, sizeof *t);
  if (!t) return AS_NOMEM;
  rc = stack_get(s, &t->stack);
  if (rc != AS_OK) goto fail;
  rc = sim_ctx_make(&t->ctx, s->sw, &t->stack, task_entry, t);
  if (rc != AS_OK) goto fail;
  t->id = s->ntasks;
  snprintf(t->name, sizeof t->name, "%s", name ? name : "task");
  t->fn = fn;
  t->arg = arg;
  t->heap_idx = NO_TIMER;
  t->state = TS_RUNNABLE;
  t->doing = "start";
  s->tasks[s->ntasks++] = t;
  s->live++;
  runnable_add(s, t);
  sim__strategy_on_spawn(s, t);
  sim__event(s, SIM_EV_SPAWN, t->id, 0, t->name);
  *out = t;
  return AS_OK;
fail:
  stack_put(s, &t->stack);
  free(t);
  return rc;
}

/* --- scheduling points ---------------------------------------------------- */

void sim__point(struct sim *s, const char *doing) {
  struct as_task *t = sim__self(s, doing);
  t->doing = doing;
  sim_ctx_switch(&t->ctx, &s->main_ctx);
}

void sim__block(struct sim *s, wait_kind w, void *obj, const char *doing) {
  struct as_task *t = sim__self(s, doing);
  t->doing = doing;
  t->state = TS_BLOCKED;
  t->wait = w;
  t->wait_obj = obj;
  sim__runnable_remove(s, t);
  if (w == WAIT_COND) s->ncondwait++;
  if ((w == WAIT_MUTEX || w == WAIT_JOIN) && sim__closes_cycle(s, t)) {
    s->failed = 1;
    s->res->outcome = SIM_DEADLOCK;
    sim__report_deadlock(s, s->res->message, sizeof s->res->message);
    t->state = TS_DEAD;
    s->live--;
    s->dying = t;
    sim_ctx_exit(&t->ctx, &s->main_ctx);
  }
  sim_ctx_switch(&t->ctx, &s->main_ctx);
}

void sim__wake(struct sim *s, struct as_task *t, int rc) {
  if (t->state != TS_BLOCKED) return;
  if (t->wait == WAIT_COND) s->ncondwait--;
  sim__timer_cancel(s, t);
  t->busy = 0;
  t->state = TS_RUNNABLE;
  t->wait = WAIT_NONE;
  t->wait_obj = NULL;
  t->wake_rc = rc;
  runnable_add(s, t);
}

/* --- the run -------------------------------------------------------------- */

static void reap(struct sim *s) {
  if (s->dying) {
    stack_put(s, &s->dying->stack);
    s->dying = NULL;
  }
}

/* End the run as a hang: which budget ran out (why), then where every task is. */
void sim__hang(struct sim *s, const char *why) {
  s->failed = 1;
  s->res->outcome = SIM_HANG;
  size_t n = as_appendf(s->res->message, sizeof s->res->message, 0, "%s\n", why);
  sim__report_tasks(s, s->res->message + n, sizeof s->res->message - n);
}

void sim__record_decision(struct sim *s, uint32_t id) {
  int rc = sim_grow(&s->dec, &s->capdec, s->ndec + 1, sizeof *s->dec, SIM_SCHEDULE_MAX_DECISIONS);
  if (rc == AS_OK) {
    s->dec[s->ndec++] = id;
  } else if (rc == AS_TOOBIG) {
    char why[160];
    snprintf(why, sizeof why, "decision budget of %u exceeded (a schedule cannot hold more)",
             SIM_SCHEDULE_MAX_DECISIONS);
    sim__hang(s, why);
  } else {
    s->oom = 1;
  }
}

static void run_loop(struct sim *s) {
  const sim_program *p = s->prog;
  char msg[1024], why[160];
  for (;;) {
    reap(s);
    if (s->failed || s->oom || s->diverged) return;
    if (p->invariant && s->steps > 0) {
      msg[0] = '\0';
      if (p->invariant(s->state, msg, sizeof msg)) {
        sim_fail(SIM_INVARIANT, "%s", msg);
        return;
      }
    }
    if (s->live == 0) return;
    if (s->nrunnable == 0) {
      if (s->nheap == 0) {
        s->failed = 1;
        s->res->outcome = SIM_DEADLOCK;
        sim__report_deadlock(s, s->res->message, sizeof s->res->message);
        return;
      }
      if (s->heap[0]->deadline > s->max_vns) {
        snprintf(why, sizeof why,
                 "virtual-time budget of %" PRIu64 " ns exceeded (next timer at %" PRIu64 " ns)",
                 s->max_vns, s->heap[0]->deadline);
        sim__hang(s, why);
        return;
      }
      sim__advance_to_next_timer(s);
      continue;
    }
    if (s->steps >= s->max_steps) {
      snprintf(why, sizeof why, "step budget of %" PRIu64 " exceeded", s->max_steps);
      sim__hang(s, why);
      return;
    }
    sim__spurious_step(s);
    if (s->failed || s->oom || s->diverged) return;
    uint32_t nr = s->nrunnable;
    struct as_task *t = sim__strategy_pick(s);
    if (!t) return; /* replay diverged: message already set */
    if (nr > 1) {
      sim__record_decision(s, t->id);
      if (s->failed || s->oom) return;
    }
    s->steps++;
    s->cur = t;
    sim_ctx_switch(&s->main_ctx, &t->ctx);
    s->cur = NULL;
  }
}

static void main_task(void *arg) {
  struct sim *s = arg;
  s->prog->main(s->state);
}

static void free_run(struct sim *s) {
  for (uint32_t i = 0; i < s->ntasks; i++) {
    stack_put(s, &s->tasks[i]->stack);
    free(s->tasks[i]);
  }
  s->ntasks = 0;
  s->nrunnable = 0;
  s->nheap = 0;
  s->live = 0;
  s->dying = NULL;
  s->nsinks = 0;
  sim_obj *o = s->objs.next;
  while (o && o != &s->objs) {
    sim_obj *next = o->next;
    free(o);
    o = next;
  }
  s->objs.next = s->objs.prev = &s->objs;
  sim__free_blocks(s);
  free(s->rdec);
  s->rdec = NULL;
  s->nrdec = s->rpos = 0;
  free(s->rwk);
  s->rwk = NULL;
  s->nrwk = s->rwkpos = 0;
  free(s->rfl);
  s->rfl = NULL;
  s->nrfl = 0;
}

static AS_WUR int start_streams(struct sim *s, const sim_config *cfg) {
  if (cfg->strategy == SIM_STRATEGY_REPLAY) {
    sim_schedule sc;
    char err[256];
    if (!cfg->schedule) {
      snprintf(s->res->message, sizeof s->res->message, "replay needs a schedule string");
      return AS_INVAL;
    }
    int rc = sim_schedule_decode(cfg->schedule, &sc, err, sizeof err);
    if (rc != AS_OK) {
      snprintf(s->res->message, sizeof s->res->message, "%s", err);
      return rc;
    }
    if (sc.fingerprint != s->prog->fingerprint) {
      snprintf(s->res->message, sizeof s->res->message,
               "the schedule was recorded for another program (fingerprint %016" PRIx64
               ", not %s's %016" PRIx64 "): a changed scenario file, or another one",
               sc.fingerprint, s->prog->name, s->prog->fingerprint);
      sim_schedule_clear(&sc);
      return AS_INVAL;
    }
    s->stream_seed[SIM_STREAM_SCHED] = 0;
    s->stream_seed[SIM_STREAM_FAULTS] = sc.seed_faults;
    s->stream_seed[SIM_STREAM_WORKLOAD] = sc.seed_workload;
    s->stream_seed[SIM_STREAM_LLM] = sc.seed_llm;
    s->stream_seed[SIM_STREAM_RUNTIME] = sc.seed_runtime;
    s->rdec = sc.dec;
    s->nrdec = sc.ndec;
    sc.dec = NULL;
    rc = sim__take_lists(s, cfg, &sc);
    sim_schedule_clear(&sc);
    if (rc != AS_OK) return rc;
  } else {
    for (int i = 0; i < SIM_STREAM_COUNT; i++)
      s->stream_seed[i] = sim_stream_seed(cfg->seed, (sim_stream)i);
    int rc = sim__take_lists(s, cfg, NULL);
    if (rc != AS_OK) return rc;
  }
  for (int i = 0; i < SIM_STREAM_COUNT; i++) sim_rng_seed(&s->rng[i], s->stream_seed[i]);
  /* Substreams: each fault point its own, the spurious wakeups theirs. */
  for (unsigned p = 0; p < AS__FP_COUNT; p++)
    sim_rng_seed(&s->fault_rng[p], sim_substream_seed(s->stream_seed[SIM_STREAM_FAULTS], p));
  sim_rng_seed(&s->spurious_rng,
               sim_substream_seed(s->stream_seed[SIM_STREAM_SCHED], SIM_SUBSTREAM_SPURIOUS));
  s->spurious_ppm = s->wk_listed ? 0 : cfg->spurious_ppm;
  return AS_OK;
}

static AS_WUR int finish_result(struct sim *s) {
  sim_result *res = s->res;
  res->steps = s->steps;
  res->decisions = s->ndec;
  res->virtual_ns = s->now;
  res->trace_hash = sim__hash_final(s, (uint64_t)res->outcome);
  res->tasks = s->ntasks;
  res->faults = s->nfl;
  res->wakeups = s->nwk;
  if (s->hash_broken) return AS_INTERNAL;
  sim_schedule sc = {
      .fingerprint = s->prog->fingerprint,
      .seed_faults = s->stream_seed[SIM_STREAM_FAULTS],
      .seed_workload = s->stream_seed[SIM_STREAM_WORKLOAD],
      .seed_llm = s->stream_seed[SIM_STREAM_LLM],
      .seed_runtime = s->stream_seed[SIM_STREAM_RUNTIME],
      .dec = s->dec,
      .ndec = s->ndec,
      .wakeups = s->wk,
      .nwakeups = s->nwk,
      .faults = s->fl,
      .nfaults = s->nfl,
  };
  return sim_schedule_encode(&sc, &res->schedule);
}

/* Print the seed's choices: the root seed and every stream's seed. */
static void print_seed_options(struct sim *s, const sim_config *cfg) {
  if (cfg->strategy == SIM_STRATEGY_REPLAY)
    sim_option("seed", "(from schedule)");
  else
    sim_option("seed", "%" PRIu64, cfg->seed);
  for (int i = 0; i < SIM_STREAM_COUNT; i++) {
    char name[32];
    snprintf(name, sizeof name, "%s_seed", sim_stream_name((sim_stream)i));
    if (i == SIM_STREAM_SCHED && cfg->strategy == SIM_STRATEGY_REPLAY) continue;
    sim_option(name, "%016" PRIx64, s->stream_seed[i]);
  }
  sim_option("switch", "%s", sim_switch_name(s->sw));
  if (s->wk_listed)
    sim_option("spurious", "listed(%zu)", s->nrwk);
  else if (s->spurious_ppm)
    sim_option("spurious", "%" PRIu32 "ppm", s->spurious_ppm);
  else
    sim_option("spurious", "off");
  if (s->fl_listed) sim_option("faults", "listed(%zu)", s->nrfl);
}

/* At quiescence of a run that otherwise passed: the program's own checks,
** outside any task, with fault injection off (a check must see what is
** there, not an injected failure). */
static void quiescence_check(struct sim *s) {
  const sim_program *p = s->prog;
  if (s->failed || !p->check) return;
  char msg[4096] = "";
  as_fault_arm(0);
  int v = p->check(s->state, msg, sizeof msg);
  as_fault_arm(1);
  if (v == 0) return;
  s->res->outcome = v == SIM_HARNESS ? SIM_HARNESS : SIM_INVARIANT;
  snprintf(s->res->message, sizeof s->res->message, "at quiescence: %s", msg);
}

static void reset_run(struct sim *s, const sim_program *p, const sim_config *cfg,
                      sim_result *res) {
  s->prog = p;
  s->cfg = cfg;
  s->res = res;
  s->trace = cfg->trace;
  s->ntasks = s->nrunnable = s->live = 0;
  s->nheap = 0;
  s->timer_seq = 0;
  s->now = s->steps = 0;
  s->ndec = 0;
  s->nwk = s->nfl = 0;
  s->ncondwait = 0;
  s->wk_listed = s->fl_listed = 0;
  memset(s->fault_draws, 0, sizeof s->fault_draws);
  s->nsinks = 0;
  s->hash_broken = 0;
  s->failed = s->oom = s->diverged = 0;
  s->optlen = 0;
  s->next_obj_id = 1;
  s->objs.next = s->objs.prev = &s->objs;
  s->cur = NULL;
  s->dying = NULL;
  s->crash_sig = 0;
  s->wd_steps = 0;
  s->wd_ticks = 0;
  memset(s->fault_ppm, 0, sizeof s->fault_ppm);
  s->max_steps = cfg->max_steps ? cfg->max_steps
                 : p->max_steps ? p->max_steps
                                : SIM_DEFAULT_MAX_STEPS;
  s->max_vns = cfg->max_virtual_ns ? cfg->max_virtual_ns
               : p->max_virtual_ns ? p->max_virtual_ns
                                   : SIM_DEFAULT_MAX_VIRTUAL_NS;
  s->state = NULL;
  if (cfg->evlog) sim__evlog_reset(cfg->evlog, s);
  sim__strategy_resolve(s);
}

int sim_run(sim *s, const sim_program *p, const sim_config *cfg, sim_result *res) {
  int rc = AS_OK;
  const as_platform *prev_plat = NULL;
  memset(res, 0, sizeof *res);
  res->outcome = SIM_PASS;
  if (sim__active) {
    snprintf(res->message, sizeof res->message, "a sim run is already active in this process");
    return AS_BUSY;
  }
  /* PCT's k, measured before the run: the calibration runs are runs. */
  uint64_t pct_k = 0;
  if (sim_pct_needs_estimate(p, cfg)) {
    rc = sim_pct_estimate(s, p, cfg, &pct_k, res->message, sizeof res->message);
    if (rc != AS_OK) return rc;
  }
  reset_run(s, p, cfg, res);
  s->pct_k = pct_k;
  rc = start_streams(s, cfg);
  if (rc == AS_OK) rc = sim__sinks_start(s);
  if (rc != AS_OK) goto out;
  s->state = p->state_size ? calloc(1, p->state_size) : NULL;
  if (p->state_size && !s->state) {
    rc = AS_NOMEM;
    goto out;
  }

  sim__active = s;
  active_run_id = ++run_count;
  prev_plat = as_platform_set(s->kind == SIM_STRATEGY_POS ? sim__pos_platform() : &sim_platform);
  as_fault_arm(1);
  print_seed_options(s, cfg);
  rc = sim__strategy_init(s);
  if (rc != AS_OK) goto out;
  if (p->setup) {
    rc = p->setup(s->state, &s->rng[SIM_STREAM_WORKLOAD]);
    if (rc != AS_OK) {
      if (!res->message[0])
        snprintf(res->message, sizeof res->message, "%s: setup failed: %s", p->name,
                 as_status_msg(rc));
      goto out;
    }
  }
  struct as_task *main_t;
  rc = sim__spawn(s, &main_t, "main", main_task, s);
  if (rc != AS_OK) goto out;
  main_t->joined = 1; /* nobody joins main */

  rc = sim__crash_use_altstack(s);
  if (rc != AS_OK) goto out;
  sim_ctx_init_self(&s->main_ctx, s->sw);
  sim__run_guarded(s, run_loop);
  reap(s);
  if (cfg->strategy == SIM_STRATEGY_REPLAY && !s->diverged && !s->oom && s->rpos != s->nrdec) {
    snprintf(res->message, sizeof res->message,
             "schedule diverged: the run ended after %zu of its %zu decisions", s->rpos,
             s->nrdec);
    s->diverged = 1;
  }
  if (s->wk_listed && !s->diverged && !s->oom && !s->failed && s->rwkpos != s->nrwk) {
    snprintf(res->message, sizeof res->message,
             "schedule diverged: the run ended after %" PRIu64 " steps, before its spurious "
             "wakeup at step %" PRIu64, s->steps, s->rwk[s->rwkpos].step);
    s->diverged = 1;
  }
  if (s->oom) {
    rc = AS_NOMEM;
    goto out;
  }
  if (s->diverged) {
    rc = AS_DIVERGED;
    goto out;
  }
  quiescence_check(s);
  rc = finish_result(s);

out:
  if (cfg->evlog) sim__evlog_end(cfg->evlog, (int)res->outcome, res->message);
  if (p->teardown && s->state) p->teardown(s->state);
  free_run(s);
  free(s->state);
  s->state = NULL;
  if (prev_plat) {
    as_fault_arm(0);
    (void)as_platform_set(prev_plat); /* ignore: the returned value is the sim */
  }
  sim__active = NULL;
  active_run_id = 0;
  s->res = NULL;
  return rc;
}

void sim_result_clear(sim_result *res) {
  free(res->schedule);
  res->schedule = NULL;
}

/* --- small program API ---------------------------------------------------- */

sim_rng *sim_workload_rng(void) {
  struct sim *s = sim__active;
  return s ? &s->rng[SIM_STREAM_WORKLOAD] : NULL;
}

void sim_substream(sim_rng *out, sim_stream st, uint64_t key) {
  struct sim *s = sim__active;
  uint64_t seed = s && (unsigned)st < SIM_STREAM_COUNT ? s->stream_seed[st] : 0;
  sim_rng_seed(out, sim_substream_seed(seed, key));
}

void sim_workload_substream(sim_rng *out, uint64_t key) {
  sim_substream(out, SIM_STREAM_WORKLOAD, key);
}

void sim_fault_rate(unsigned point, uint32_t ppm) {
  struct sim *s = sim__active;
  if (s && point < AS__FP_COUNT) s->fault_ppm[point] = ppm;
}

const void *sim_program_user(void) {
  struct sim *s = sim__active;
  return s && s->prog ? s->prog->user : NULL;
}

int sim_mutant(void) {
  struct sim *s = sim__active;
  return s ? s->cfg->mutant : 0;
}

uint64_t sim_run_id(void) { return sim__active ? active_run_id : 0; }

int sim_in_task(void) {
  struct sim *s = sim__active;
  return s && s->cur ? 1 : 0;
}

void sim_advance(uint64_t ns) {
  struct sim *s = sim__active;
  if (!s) return;
  sim__pending(s, 0, 0, 0);
  sim__point(s, "advance");
  uint64_t to = ns > UINT64_MAX - s->now ? UINT64_MAX : s->now + ns;
  if (to > s->max_vns) {
    sim_fail(SIM_HANG, "virtual-time budget of %" PRIu64 " ns exceeded by an advance of %" PRIu64
                       " ns at %" PRIu64 " ns", s->max_vns, ns, s->now);
    return;
  }
  s->now = to;
  sim__event(s, SIM_EV_ADVANCE, ns, s->now, NULL);
  sim__fire_due_timers(s);
}

void sim_step(void) { sim_step_on(0, 0); }

void sim_step_on(uint64_t object, int read) {
  struct sim *s = sim__active;
  if (!s) return;
  sim__pending(s, object, 0, read);
  sim__point(s, "step");
  sim__event(s, SIM_EV_STEP, 0, 0, NULL);
}

void sim_busy(uint64_t ns) {
  struct sim *s = sim__active;
  if (!s || !s->cur || ns == 0) return;
  uint64_t to = ns > UINT64_MAX - s->now ? UINT64_MAX : s->now + ns;
  if (to > s->max_vns) {
    sim_fail(SIM_HANG, "virtual-time budget of %" PRIu64 " ns exceeded by an operation of %" PRIu64
                       " ns at %" PRIu64 " ns", s->max_vns, ns, s->now);
    return;
  }
  sim__event(s, SIM_EV_SLEEP, to, 1, NULL);
  sim__timer_add(s, s->cur, to);
  s->cur->busy = 1;
  sim__block(s, WAIT_SLEEP, NULL, "busy");
}

sim_rng *sim_task_io_rng(void) {
  struct sim *s = sim__active;
  if (!s || !s->cur) return NULL;
  struct as_task *t = s->cur;
  if (!t->io_seeded) {
    sim_rng_seed(&t->io_rng,
                 sim_substream_seed(s->stream_seed[SIM_STREAM_FAULTS], SIM_SUBSTREAM_IO ^ t->id));
    t->io_seeded = 1;
  }
  return &t->io_rng;
}

uint64_t sim_stream_seed_of(sim_stream st) {
  struct sim *s = sim__active;
  return s && (unsigned)st < SIM_STREAM_COUNT ? s->stream_seed[st] : 0;
}

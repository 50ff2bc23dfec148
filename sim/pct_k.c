/*
** pct_k.c -- PCT's k, measured from the program (sim_pct_estimate, sim.h).
**
** A constant k is wrong in both directions: too small, and the decisions
** past it are out of reach of every change point; too large, and most
** change points fall past the end of the run and are wasted (each costs a
** factor k in the bound). So k is the program's own decision count: the
** most decisions any of the calibration runs made -- SIM_PCT_CALIBRATION_RUNS
** random-walk runs and as many PCT runs of depth 1, seeds 0, 1, ... under
** the same limits. Both kinds, because PCT's runs are longer than a random
** walk's (a low-priority task holding what the others retry on stays
** descheduled while they spin: two to five times as many decisions in the
** bundled scenarios), and depth 1 needs no k. It does not depend on the
** seed being run, the sweep's order or its --jobs, so a seed replays with
** the same k in any process.
**
** The cache is keyed by what the program is -- its fingerprint, name and
** hooks, not its address, so a scenario loaded again hits -- and by every
** field of the calibration runs' config (seed, strategy and sinks cleared):
** a config differing in any field misses and is measured afresh, never given
** another's k.
*/
#include <string.h>
#include <xxhash.h>

#include "sim_internal.h"

#define CACHE_MAX 64u

typedef struct k_key {
  uint64_t fingerprint, name_hash;
  size_t state_size;
  int (*setup)(void *state, sim_rng *workload);
  void (*main)(void *state);
  int (*invariant)(void *state, char *msg, size_t cap);
  int (*check)(void *state, char *msg, size_t cap);
  sim_config cfg; /* the calibration runs' config, seed 0 */
} k_key;

typedef struct k_entry {
  k_key key;
  uint64_t k;
} k_entry;

/* One run is active per process at a time, so one cache per process. */
static k_entry cache[CACHE_MAX];
static unsigned ncache, next_slot;

static void make_key(k_key *key, const sim_program *p, const sim_config *cfg) {
  memset(key, 0, sizeof *key);
  key->fingerprint = p->fingerprint;
  key->name_hash = p->name ? XXH64(p->name, strlen(p->name), 0) : 0;
  key->state_size = p->state_size;
  key->setup = p->setup;
  key->main = p->main;
  key->invariant = p->invariant;
  key->check = p->check;
  memcpy(&key->cfg, cfg, sizeof key->cfg);
  key->cfg.seed = 0;
  key->cfg.strategy = SIM_STRATEGY_RANDOM;
  key->cfg.pct_depth = 0;
  key->cfg.pct_steps = 0;
  key->cfg.schedule = NULL;
  key->cfg.trace = NULL;
  key->cfg.hashlog = NULL;
  key->cfg.evlog = NULL;
}

static const k_entry *cache_find(const k_key *key) {
  for (unsigned i = 0; i < ncache; i++)
    if (memcmp(&cache[i].key, key, sizeof *key) == 0) return &cache[i];
  return NULL;
}

static void cache_put(const k_key *key, uint64_t k) {
  unsigned i = ncache < CACHE_MAX ? ncache++ : next_slot++ % CACHE_MAX;
  cache[i].key = *key;
  cache[i].k = k;
}

int sim_pct_estimate(sim *s, const sim_program *p, const sim_config *cfg, uint64_t *k,
                     char *err, size_t cap) {
  k_key key;
  make_key(&key, p, cfg);
  const k_entry *hit = cache_find(&key);
  if (hit) {
    *k = hit->k;
    return AS_OK;
  }
  uint64_t most = 1;
  for (unsigned i = 0; i < 2 * SIM_PCT_CALIBRATION_RUNS; i++) {
    sim_config c = key.cfg;
    c.seed = i % SIM_PCT_CALIBRATION_RUNS;
    if (i >= SIM_PCT_CALIBRATION_RUNS) {
      c.strategy = SIM_STRATEGY_PCT;
      c.pct_depth = 1;
      c.pct_steps = 1; /* d=1 has no change point: k is never used */
    }
    sim_result res;
    int rc = sim_run(s, p, &c, &res);
    if (rc != AS_OK) {
      if (err && cap) snprintf(err, cap, "PCT's calibration run %u: %s", i, res.message);
      sim_result_clear(&res);
      return rc;
    }
    if (res.decisions > most) most = res.decisions;
    sim_result_clear(&res);
  }
  cache_put(&key, most);
  *k = most;
  return AS_OK;
}

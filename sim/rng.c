/*
** rng.c -- splitmix64 seeding and xoshiro256** (Blackman & Vigna).
*/
#include "rng.h"

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

const char *sim_stream_name(sim_stream st) {
  switch (st) {
  case SIM_STREAM_SCHED: return "sched";
  case SIM_STREAM_FAULTS: return "faults";
  case SIM_STREAM_WORKLOAD: return "workload";
  case SIM_STREAM_LLM: return "llm";
  case SIM_STREAM_RUNTIME: return "runtime";
  case SIM_STREAM_COUNT: break;
  }
  return "?";
}

uint64_t sim_stream_seed(uint64_t root, sim_stream st) {
  /* Two rounds so that nearby roots and nearby stream numbers decorrelate. */
  uint64_t x = root;
  uint64_t a = splitmix64(&x);
  x = a ^ (0xD1B54A32D192ED03ull * ((uint64_t)st + 1));
  return splitmix64(&x);
}

uint64_t sim_substream_seed(uint64_t stream_seed, uint64_t key) {
  /* As sim_stream_seed, with another odd constant, so a substream's seed is
  ** never a stream's for nearby numbers. */
  uint64_t x = stream_seed ^ 0x5851F42D4C957F2Dull;
  uint64_t a = splitmix64(&x);
  x = a ^ (0x9E6C63D0676A9A99ull * key + 0x632BE59BD9B4E019ull);
  uint64_t b = splitmix64(&x);
  return splitmix64(&b);
}

void sim_rng_seed(sim_rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

uint64_t sim_rng_next(sim_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

uint64_t sim_rng_below(sim_rng *r, uint64_t n) {
  if (n <= 1) return 0;
  /* Reject the top partial bucket so every value is equally likely. */
  uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
  uint64_t v;
  do {
    v = sim_rng_next(r);
  } while (v >= limit);
  return v % n;
}

uint64_t sim_rng_range(sim_rng *r, uint64_t lo, uint64_t hi) {
  if (hi <= lo) return lo;
  if (lo == 0 && hi == UINT64_MAX) return sim_rng_next(r);
  return lo + sim_rng_below(r, hi - lo + 1);
}

int sim_rng_chance_ppm(sim_rng *r, uint32_t ppm) {
  if (ppm == 0) return 0;
  if (ppm >= 1000000u) return 1;
  return sim_rng_below(r, 1000000u) < ppm;
}

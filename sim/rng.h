/*
** rng.h -- seeded random streams.
**
** One root seed expands into independent streams (scheduler, faults,
** workload, LLM), so a change in how one subsystem draws does not reshuffle
** the others, and each stream into substreams by key (an actor instance, a
** fault point), so a draw's outcome does not depend on the interleaving.
** Generator: xoshiro256** seeded through splitmix64.
*/
#ifndef AGENTSIM_SIM_RNG_H
#define AGENTSIM_SIM_RNG_H

#include <stdint.h>

typedef struct sim_rng {
  uint64_t s[4];
} sim_rng;

typedef enum sim_stream {
  SIM_STREAM_SCHED,
  SIM_STREAM_FAULTS,
  SIM_STREAM_WORKLOAD,
  SIM_STREAM_LLM,
  SIM_STREAM_RUNTIME, /* the runtime's own as_random_bytes */
  SIM_STREAM_COUNT
} sim_stream;

const char *sim_stream_name(sim_stream st);
/* The seed of stream `st` derived from `root`. */
uint64_t sim_stream_seed(uint64_t root, sim_stream st);
/* The seed of substream `key` of a stream seeded `stream_seed`: independent
** of the stream itself and of every other key (an actor instance, a fault
** point), so a draw's outcome depends on its key and its index only. */
uint64_t sim_substream_seed(uint64_t stream_seed, uint64_t key);
void sim_rng_seed(sim_rng *r, uint64_t seed);
uint64_t sim_rng_next(sim_rng *r);
/* Uniform in [0, n); n must be > 0. Unbiased (rejection). */
uint64_t sim_rng_below(sim_rng *r, uint64_t n);
/* Uniform in [lo, hi], lo <= hi. */
uint64_t sim_rng_range(sim_rng *r, uint64_t lo, uint64_t hi);
/* True with probability ppm / 1e6. */
int sim_rng_chance_ppm(sim_rng *r, uint32_t ppm);

#endif

/*
** latency.c -- what a simulated-disk I/O call costs in virtual time, and
** the scheduling point every call is.
**
** Each disk keeps a distribution per kind of call (simdb.h, SIMDB_IO_MAP)
** and a substream of its own for the draws, seeded at its creation from the
** run's FAULTS stream seed and the disk's order of creation in the run: the
** draws are the same per seed, and a fault point's draws (from the FAULTS
** stream itself) are untouched by how many I/O calls cost something.
**
** Inside a task a call with a cost blocks its caller for that long
** (sim_busy): other tasks run, timers fire, and power may fail while the
** call is in flight. The call takes effect only afterwards, so a call cut by
** power loss never happened: the write is not in the file, the delete did
** not unlink, which is what a real machine may show for a call that had
** not returned. Outside a task (setup, the check at quiescence) nothing
** costs anything and nothing is counted.
*/
#include "sim.h"
#include "simdb_int.h"

static const char *const io_names[SIMDB__IO_COUNT] = {
#define LAT__NAME(NAME, name, lo, hi, tp, th) name,
    SIMDB_IO_MAP(LAT__NAME)
#undef LAT__NAME
};

static const simdb_latency defaults[SIMDB__IO_COUNT] = {
#define LAT__DEF(NAME, name, lo, hi, tp, th) {lo, hi, tp, th},
    SIMDB_IO_MAP(LAT__DEF)
#undef LAT__DEF
};

const char *simdb_io_name(simdb_io_kind k) {
  return (unsigned)k < SIMDB__IO_COUNT ? io_names[k] : NULL;
}

simdb_latency simdb_latency_default(simdb_io_kind k) {
  static const simdb_latency none = {0, 0, 0, 0};
  return (unsigned)k < SIMDB__IO_COUNT ? defaults[k] : none;
}

bool simdb_latency_valid(const simdb_latency *l) {
  if (l->lo_ns > l->hi_ns || l->hi_ns > SIMDB_LATENCY_MAX_NS || l->tail_ppm > 1000000u)
    return false;
  if (l->tail_ppm == 0) return l->tail_hi_ns == 0;
  return l->tail_hi_ns > l->hi_ns && l->tail_hi_ns <= SIMDB_LATENCY_MAX_NS;
}

int simdb_disk_latency(simdb_disk *d, simdb_io_kind k, const simdb_latency *l) {
  if ((unsigned)k >= SIMDB__IO_COUNT || !l || !simdb_latency_valid(l)) return AS_INVAL;
  d->lat[k] = *l;
  return AS_OK;
}

void simdb_disk_latency_off(simdb_disk *d) {
  for (unsigned k = 0; k < SIMDB__IO_COUNT; k++) d->lat[k] = (simdb_latency){0, 0, 0, 0};
}

void simdb_disk_crash_after_io(simdb_disk *d, uint64_t n) { d->crash_after_io = n; }

uint64_t simdb_disk_ios(const simdb_disk *d) { return d->ios; }

void simdb__latency_init(simdb_disk *d) {
  /* The disk's order of creation in this run: a process-wide count would
  ** give a seed's disks other substreams in a later run. */
  static uint64_t run, made;
  if (sim_run_id() != run) {
    run = sim_run_id();
    made = 0;
  }
  for (unsigned k = 0; k < SIMDB__IO_COUNT; k++) d->lat[k] = defaults[k];
  uint64_t seed = sim_stream_seed_of(SIM_STREAM_FAULTS);
  sim_rng_seed(&d->lat_rng, seed ^ (0x9E6C63D0676A9A99ull * ++made)); /* "latency" salt */
}

/* Which distribution an event kind's call draws from. */
static simdb_io_kind kind_of(uint32_t ev) {
  switch (ev) {
  case SIM_EV_DISK_OPEN: return SIMDB_IO_OPEN;
  case SIM_EV_DISK_READ: return SIMDB_IO_READ;
  case SIM_EV_DISK_WRITE: return SIMDB_IO_WRITE;
  case SIM_EV_DISK_TRUNCATE: return SIMDB_IO_TRUNCATE;
  case SIM_EV_DISK_SYNC: return SIMDB_IO_SYNC;
  case SIM_EV_DISK_SIZE: return SIMDB_IO_SIZE;
  case SIM_EV_DISK_DELETE: return SIMDB_IO_DELETE;
  case SIM_EV_DISK_ACCESS: return SIMDB_IO_ACCESS;
  case SIM_EV_DISK_SHM_LOCK:
  case SIM_EV_DISK_SHM_BARRIER: return SIMDB_IO_SHM;
  default: return SIMDB_IO_LOCK; /* lock, unlock, check-reserved */
  }
}

/* One draw, from the calling task's own substream (so the n-th call of a
** task costs the same whatever the interleaving), else the disk's; a free
** kind draws nothing. */
static uint64_t draw(simdb_disk *d, uint32_t ev) {
  const simdb_latency *l = &d->lat[kind_of(ev)];
  if (l->hi_ns == 0) return 0;
  sim_rng *r = sim_task_io_rng();
  if (!r) r = &d->lat_rng;
  if (l->tail_ppm && sim_rng_chance_ppm(r, l->tail_ppm))
    return sim_rng_range(r, l->hi_ns + 1, l->tail_hi_ns);
  return sim_rng_range(r, l->lo_ns, l->hi_ns);
}

bool simdb__io(simdb_disk *d, const sim_ev *ev) {
  if (!sim_in_task() || !d) {
    if (sim_in_task()) sim_step_io(ev->kind, ev->object, ev->label);
    sim_publish(ev);
    return false;
  }
  uint64_t epoch = d->epoch;
  uint64_t ns = draw(d, ev->kind);
  d->ios++;
  if (ns == 0)
    sim_step_io(ev->kind, ev->object, ev->label);
  else
    sim_pending_io(ev->kind, ev->object, ev->label); /* the wait below is the point */
  sim_publish(ev);
  sim_busy(ns);
  if (d->crash_after_io && --d->crash_after_io == 0) simdb_crash(d);
  return d->epoch != epoch;
}

bool simdb__io_point(simdb_disk *d, uint32_t kind, uint64_t object, uint64_t extra,
                     const char *label) {
  return simdb__io(d, &(sim_ev){.kind = kind, .object = object, .extra = extra, .label = label});
}

/*
** stream.h -- the typed event stream of a sim run, and its sinks.
**
** Everything that happens in a run is one record, sim_ev: a scheduling
** event of the sim itself (a lock, a wait, a timer), an event of the
** simulated world (a disk write, a power loss), or an event a program
** publishes (the scenario runner's acknowledgements, the audit trail of a
** database commit). Each record is handed, in order and synchronously, to
** every sink registered for the run. The sim's own sinks are the trace hash,
** the --verbose printer and the hash log; a program adds its own (the
** oracle) from its setup hook.
**
** A sink runs inside whatever published the event (often a task, in the
** middle of a seam call, with a SQLite or registry mutex held): it must not
** block, call the seam, or publish. It may record a violation for the
** program's invariant hook to report.
**
** The trace hash (specified here, with test vectors in tests/test_stream.c)
** is XXH64 with seed 0 over this byte string:
**
**   for each hashed event, 48 bytes, every field little-endian:
**     u32 kind, u32 task, u64 now_ns, u64 object, u64 extra,
**     u64 label digest  (XXH64(label, strlen(label), 0); 0 when no label),
**     u64 data digest   (XXH64(data, len, 0); 0 when no data)
**   then, once at the end of the run, 8 bytes: u64 the outcome (sim_outcome).
**
** The step number is not hashed (the order of the records is); SIM_EV_LOG
** records are not hashed (logs are for people). So two runs share a hash only
** when they did the same things in the same order at the same virtual times
** and wrote the same bytes.
*/
#ifndef AGENTSIM_SIM_STREAM_H
#define AGENTSIM_SIM_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "agentsim/status.h"

/* The task of an event published outside any task (the scheduler, setup,
** teardown, a check at quiescence). */
#define SIM_TASK_NONE UINT32_MAX

/* X(NAME, text) -- the sim's and the world's event kinds. Numbers are part
** of the trace hash: append, never reorder. */
#define SIM_EVENT_MAP(X)                                                      \
  X(SPAWN, "spawn")                                                           \
  X(FINISH, "finish")                                                         \
  X(YIELD, "yield")                                                           \
  X(LOCK, "lock")                                                             \
  X(LOCK_WAIT, "lock-wait")                                                   \
  X(TRYLOCK_BUSY, "trylock-busy")                                             \
  X(UNLOCK, "unlock")                                                         \
  X(WAIT, "cond-wait")                                                        \
  X(TIMEOUT, "timer")                                                         \
  X(SIGNAL, "signal")                                                         \
  X(BROADCAST, "broadcast")                                                   \
  X(SLEEP, "sleep")                                                           \
  X(JOIN, "join")                                                             \
  X(JOIN_WAIT, "join-wait")                                                   \
  X(TIME, "time")                                                             \
  X(ADVANCE, "advance")                                                       \
  X(FAULT, "fault")                                                           \
  X(RANDOM, "random")                                                         \
  X(NOTE, "note")                                                             \
  X(STEP, "step")                                                             \
  X(LOG, "log")                                                               \
  X(DISK_OPEN, "disk-open")                                                   \
  X(DISK_READ, "disk-read")                                                   \
  X(DISK_WRITE, "disk-write")                                                 \
  X(DISK_TRUNCATE, "disk-truncate")                                           \
  X(DISK_SYNC, "disk-sync")                                                   \
  X(DISK_SIZE, "disk-size")                                                   \
  X(DISK_LOCK, "disk-lock")                                                   \
  X(DISK_UNLOCK, "disk-unlock")                                               \
  X(DISK_RESERVED, "disk-check-reserved")                                     \
  X(DISK_DELETE, "disk-delete")                                               \
  X(DISK_ACCESS, "disk-access")                                               \
  X(DISK_SHM_LOCK, "disk-shm-lock")                                           \
  X(DISK_SHM_BARRIER, "disk-shm-barrier")                                     \
  X(DISK_CRASH, "power-loss")                                                 \
  X(DISK_IMAGE, "disk-image")                                                 \
  X(MALLOC_FAIL, "malloc-fails")                                             \
  X(SPURIOUS, "spurious-wakeup")

typedef enum sim_ev_kind {
#define SIM__EV(name, text) SIM_EV_##name,
  SIM_EVENT_MAP(SIM__EV)
#undef SIM__EV
  SIM__EV_COUNT,
  /* Programs number their own kinds from here up. */
  SIM_EV_PROGRAM = 1024
} sim_ev_kind;

typedef struct sim_ev {
  uint64_t step;      /* scheduling points taken when it happened */
  uint64_t now_ns;    /* virtual time */
  uint32_t task;      /* the task it happened in, or SIM_TASK_NONE */
  uint32_t kind;      /* sim_ev_kind, or a program's (>= SIM_EV_PROGRAM) */
  uint64_t object;    /* what it is about: a mutex, a file, a session ... */
  uint64_t extra;     /* a second number: a holder, an offset, a version ... */
  const char *label;  /* NULL or a short text (a task name, a key) */
  const void *data;   /* NULL or len bytes it is about (hashed by digest) */
  size_t len;
  const void *ref;    /* NULL or a typed record for sinks that know the kind;
                      ** never hashed (it may hold pointers) */
} sim_ev;

/* The text of a sim kind ("lock"), or NULL for a program's or an unknown one. */
const char *sim_ev_kind_name(uint32_t kind);

typedef void (*sim_sink_fn)(void *ctx, const sim_ev *ev);

/* Most sinks one run may have (the sim's own included). */
#define SIM_MAX_SINKS 8u

/* --- for programs, inside a run (from setup on) ---------------------------- */

/* Add a sink for the rest of the active run (it is dropped when the run
** ends). AS_INVAL outside a run, AS_TOOBIG past SIM_MAX_SINKS. */
AS_WUR int sim_sink_add(sim_sink_fn fn, void *ctx);
/* Publish an event: step, time and task are filled in; label, data and ref
** need only live for the call. A no-op outside a run. */
void sim_publish(const sim_ev *ev);
/* The common case: kind, object, extra and a label. */
void sim_emit(uint32_t kind, uint64_t object, uint64_t extra, const char *label);

/* Describe ev in words (one line, no newline) into buf: the sim's kinds
** here, a program's through its describe hook. */
void sim_ev_describe(const sim_ev *ev, char *buf, size_t cap);

/* --- the hash log ---------------------------------------------------------- */

/* A record of every event of a run, compact, for locating the first event
** at which two runs that should be identical differ (--check-determinism).
** Owned by the caller; hand it to a run through sim_config.hashlog. */
typedef struct sim_hashlog sim_hashlog;

/* Events a log keeps; past it the log notes that it was cut. */
#define SIM_HASHLOG_MAX (1u << 20)

AS_WUR int sim_hashlog_new(sim_hashlog **out);
void sim_hashlog_free(sim_hashlog *l);
/* Events logged by the last run it was given to. */
size_t sim_hashlog_count(const sim_hashlog *l);
/* Compare two logs. 0 when they agree on every event both kept (and kept
** the same number); otherwise 1 with buf saying at which event and step they
** part and what each run did there. */
int sim_hashlog_diff(const sim_hashlog *a, const sim_hashlog *b, const char *name_a,
                     const char *name_b, char *buf, size_t cap);

#endif

/*
** install.c -- the process-level switch (SQLite's mutexes, allocator and
** default VFS) and the per-run world (PRNG reseed, disks, the sweep).
*/
#include <stdio.h>

#include "sim.h"
#include "simdb_int.h"

static bool installed;
/* What SQLite had before simdb_install (zeroed if it never initialised:
** then restoring them makes it pick its built-in defaults again). */
static sqlite3_mem_methods saved_mem;
static sqlite3_mutex_methods saved_mutex;

/* The run simdb_run_begin was called in (0: none). */
static uint64_t begun_run;
/* The run's disks, newest first, and the one "simvfs" opens files on. */
static simdb_disk *disks;
static simdb_disk *default_disk;
static unsigned disk_seq;

bool simdb_installed(void) { return installed; }

bool simdb__run_begun(void) { return begun_run != 0 && begun_run == sim_run_id(); }

simdb_disk *simdb__default_disk(void) { return default_disk; }

void simdb_disk_use(simdb_disk *d) { default_disk = d; }

void simdb__run_disk_add(simdb_disk *d) {
  (void)snprintf(d->vfs_name, sizeof d->vfs_name, "%s:%u", SIMDB_VFS_NAME, ++disk_seq); /* ignore: fits */
  d->next_disk = disks;
  d->prev_disk = NULL;
  if (disks) disks->prev_disk = d;
  disks = d;
  if (!default_disk) default_disk = d;
}

void simdb__run_disk_remove(simdb_disk *d) {
  if (d->prev_disk)
    d->prev_disk->next_disk = d->next_disk;
  else
    disks = d->next_disk;
  if (d->next_disk) d->next_disk->prev_disk = d->prev_disk;
  if (default_disk == d) default_disk = NULL;
}

/* Put SQLite's own configuration back (it is shut down on return). */
static void restore(void) {
  int bad = sqlite3_shutdown() != SQLITE_OK;
  bad |= sqlite3_config(SQLITE_CONFIG_MALLOC, &saved_mem) != SQLITE_OK;
  bad |= sqlite3_config(SQLITE_CONFIG_MUTEX, &saved_mutex) != SQLITE_OK;
  bad |= sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 1) != SQLITE_OK;
  if (bad) as_log(AS_LOG_ERROR, "simdb: SQLite refused its own configuration back");
}

int simdb_install(void) {
  if (sim_run_id() != 0) return AS_BUSY;
  if (installed) return AS_OK;
  int bad = sqlite3_shutdown() != SQLITE_OK;
  bad |= sqlite3_config(SQLITE_CONFIG_GETMALLOC, &saved_mem) != SQLITE_OK;
  bad |= sqlite3_config(SQLITE_CONFIG_GETMUTEX, &saved_mutex) != SQLITE_OK;
  bad |= sqlite3_config(SQLITE_CONFIG_MUTEX, &simdb__mutex_methods) != SQLITE_OK;
  bad |= sqlite3_config(SQLITE_CONFIG_MALLOC, &simdb__mem_methods) != SQLITE_OK;
  bad |= sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK;
  int src = bad ? SQLITE_MISUSE : sqlite3_initialize();
  /* After initialising, registering cannot fail. */
  if (src == SQLITE_OK) src = sqlite3_vfs_register(&simdb__vfs, 1);
  if (src != SQLITE_OK) {
    restore();
    return src == SQLITE_NOMEM ? AS_NOMEM : AS_INTERNAL;
  }
  installed = true;
  return AS_OK;
}

static void free_disks(void) {
  while (disks) simdb_disk_free(disks);
  default_disk = NULL;
  disk_seq = 0;
}

int simdb_uninstall(void) {
  if (sim_run_id() != 0) return AS_BUSY;
  if (!installed) return AS_OK;
  if (sqlite3_vfs_unregister(&simdb__vfs) != SQLITE_OK) return AS_INTERNAL;
  (void)simdb_run_end(); /* ignore: a run's leftovers, if it was never ended */
  restore();
  installed = false;
  return AS_OK;
}

int simdb_run_begin(void) {
  if (!installed || sim_run_id() == 0) return AS_INVAL;
  free_disks();
  begun_run = sim_run_id();
  /* Reset SQLite's PRNG, then draw once so that it reseeds now, from the
  ** default VFS's xRandomness (the run's stream), at a fixed point: SQLite's
  ** seed never depends on how its first use interleaves with the runtime's
  ** own draws. */
  unsigned char first;
  sqlite3_randomness(0, NULL);
  sqlite3_randomness(1, &first);
  return AS_OK;
}

size_t simdb_run_end(void) {
  begun_run = 0;
  free_disks();
  simdb_malloc_fail_after(0, false);
  return simdb__mem_sweep();
}

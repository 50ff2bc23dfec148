/*
** simdb_int.h -- what the files of sim/db share: the counting allocator's
** internals (mem.c), the mutex methods (mutex.c), the disk model (disk.c),
** the VFS (vfs.c) and WAL shared memory (shm.c).
*/
#ifndef AGENTSIM_SIMDB_INT_H
#define AGENTSIM_SIMDB_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rng.h"
#include "simdb.h"

/* --- mem.c ------------------------------------------------------------------ */

/* Kinds of tracked block: SQLite's own, or one of our mutexes. */
typedef enum mem_kind { MEM_SQLITE, MEM_MUTEX } mem_kind;

extern const sqlite3_mem_methods simdb__mem_methods;
/* One step of the countdown: true when this allocation must fail. */
bool simdb__alloc_fails(void);
/* A block of `n` bytes (zeroed when `zero`) that is counted and, during a
** run, tracked for simdb_run_end; NULL on failure (countdown included). */
void *simdb__mem_alloc(size_t n, mem_kind kind, bool zero);
/* p must not be NULL. */
void simdb__mem_free(void *p);
/* Free every tracked block (mutex blocks through simdb__mutex_drop first);
** returns how many. */
size_t simdb__mem_sweep(void);

/* --- mutex.c ---------------------------------------------------------------- */

extern const sqlite3_mutex_methods simdb__mutex_methods;
/* Release the seam mutex inside a tracked mutex block the sweep frees. */
void simdb__mutex_drop(void *block);

/* --- disk.c ----------------------------------------------------------------- */

typedef struct sfile sfile;
typedef struct shm_node shm_node;

/* An image: bytes and how many of them there are. */
typedef struct image {
  unsigned char *buf;
  size_t len, cap;
} image;

struct sfile {
  sfile *prev, *next;     /* the disk's list of live files */
  simdb_disk *disk;
  char name[SIMDB_NAME_MAX + 1];
  uint32_t id;            /* per disk, for traces */
  bool linked;            /* has a name in the current directory */
  bool dlinked;           /* has a name in the durable directory (as of the
                          ** last directory sync): survives power loss */
  image cur, dur;         /* dur.cap >= cur.cap: a crash never allocates */
  unsigned char *dirty;   /* per sector of cur.cap: written since the last
                          ** sync (or dropped sync) */
  size_t cut;             /* the shortest the current image has been since
                          ** the durable one last caught up: below dur.len,
                          ** a truncation power loss may still undo */
  unsigned nref;          /* handles of the current boot */
  unsigned nref_old;      /* handles from before a crash */
  /* SQLite's file locks across handles (the unix VFS's inode state). */
  unsigned nshared;       /* handles at SHARED or above */
  const void *writer;     /* the handle at RESERVED or above, or NULL */
  bool reserved;          /* writer took RESERVED on its way (the unix VFS's
                          ** RESERVED byte): a writer that went from SHARED
                          ** straight to EXCLUSIVE, as a hot-journal rollback
                          ** does, is not one xCheckReservedLock reports */
  bool pending;           /* writer is at PENDING or EXCLUSIVE */
  bool exclusive;         /* writer is at EXCLUSIVE */
  shm_node *shm;          /* WAL-index memory of this boot, or NULL */
};

/* WAL shared memory: regions and the 8 shm locks. */
#define SHM_NLOCK 8
struct shm_node {
  shm_node *prev, *next;  /* the disk's list of live nodes */
  sfile *file;            /* NULL once a crash detached it */
  unsigned char **region;
  unsigned nregion;
  unsigned region_size;
  unsigned nref;
  unsigned nshared[SHM_NLOCK];
  const void *excl[SHM_NLOCK];
};

struct simdb_disk {
  sqlite3_vfs vfs;        /* this disk's own VFS ("simvfs:N") */
  char vfs_name[32];
  simdb_disk *prev_disk, *next_disk; /* the run's disks */
  simdb_disk_config cfg;
  sfile files;            /* list head */
  shm_node nodes;         /* list head */
  unsigned nfiles;        /* linked files */
  uint32_t next_file_id;
  uint64_t next_temp;
  uint64_t used;
  uint64_t epoch;         /* boots: a handle of another epoch is dead */
  uint64_t crashes;
  uint64_t crash_after;
  uint32_t fault_ppm[AS__FP_COUNT];
  bool registered;
  /* latency.c: what I/O costs, the substream it is drawn from, the count
  ** of I/O inside tasks and the countdown over it. */
  simdb_latency lat[SIMDB__IO_COUNT];
  sim_rng lat_rng;
  uint64_t ios;
  uint64_t crash_after_io;
};

/* The disk "simvfs" resolves to now, or NULL. */
simdb_disk *simdb__default_disk(void);
/* "/name" into out (cap bytes); false when longer than SIMDB_NAME_MAX or
** than out can hold. */
bool simdb__norm_name(const char *name, char *out, size_t cap);
sfile *simdb__file_find(simdb_disk *d, const char *norm);
/* A new linked empty file; SQLITE_OK, SQLITE_CANTOPEN (too many files) or
** SQLITE_NOMEM. */
AS_WUR int simdb__file_create(simdb_disk *d, const char *norm, sfile **out);
/* Take the file's name away (xDelete, delete-on-close). */
void simdb__file_unlink(sfile *f);
/* A handle let go of f (old: it was from before a crash). */
void simdb__file_release(sfile *f, bool old);
/* Set the current image's length (growing with zeros); SQLITE_OK,
** SQLITE_FULL past a cap, SQLITE_IOERR_NOMEM. */
AS_WUR int simdb__file_resize(sfile *f, uint64_t len);
/* Write n bytes at off into the current image (growing it); the sectors
** touched become dirty. Same statuses as simdb__file_resize. */
AS_WUR int simdb__file_write(sfile *f, const void *buf, size_t n, uint64_t off);
/* Make the durable image equal the current one: its length, and the dirty
** sectors (a sector whose write a failed fsync dropped keeps its old durable
** bytes). Cannot fail: the durable image's room is reserved with the
** current one's. */
void simdb__file_sync(sfile *f);
/* A failed fsync that drops what it was to persist (Linux after EIO): the
** dirty sectors become clean without reaching the durable image. */
void simdb__file_drop(sfile *f);
/* Sync the disk's one directory: every name created or unlinked since the
** last directory sync becomes durable. */
void simdb__dir_sync(simdb_disk *d);
/* Every mutating call: when the crash countdown reaches zero the disk
** crashes and this returns true. */
bool simdb__crash_due(simdb_disk *d);
/* Draw a fault at a VFS point at this disk's rate. */
bool simdb__fault(simdb_disk *d, as_fault_point point);
/* One draw from the fault stream at point, at rate ppm (0: no draw). */
bool simdb__draw(as_fault_point point, uint32_t ppm);

/* --- latency.c -------------------------------------------------------------- */

/* A new disk's latencies (the defaults) and its substream. */
void simdb__latency_init(simdb_disk *d);
/* An I/O call on d (NULL: no disk, free) publishes ev (kind SIM_EV_DISK_*,
** about file `object`). Inside a run's task it is a scheduling point and
** costs its latency: with a cost the caller blocks in sim_busy (that is the
** point), without one it takes a sim_step first. Then the countdown of
** simdb_disk_crash_after_io may crash the disk. True when power failed
** while the call was in flight: it must not take effect (a handle's call
** sees that as a stale handle; one by name must look at this). */
bool simdb__io(simdb_disk *d, const sim_ev *ev);
/* The common case: kind, object, extra and a label. */
bool simdb__io_point(simdb_disk *d, uint32_t kind, uint64_t object, uint64_t extra,
                     const char *label);
void simdb__shm_node_free(shm_node *n);

/* --- vfs.c ------------------------------------------------------------------ */

/* The template every disk's VFS copies; "simvfs" itself has pAppData NULL. */
extern sqlite3_vfs simdb__vfs;

/* A file handle as SQLite allocates it (szOsFile). */
typedef struct shandle {
  sqlite3_file base;
  simdb_disk *disk;
  sfile *f;
  uint64_t epoch;
  int lock;               /* SQLITE_LOCK_* */
  bool delete_on_close;
  bool dirsync;           /* created as a journal or WAL: its first
                          ** successful xSync syncs the directory too */
  shm_node *shm;          /* mapped WAL-index, or NULL */
  uint16_t shm_shared, shm_excl;
} shandle;

/* True when h was opened before the disk's last crash. */
static inline bool simdb__stale(const shandle *h) { return h->epoch != h->disk->epoch; }

/* --- shm.c ------------------------------------------------------------------ */

AS_WUR int simdb__shm_map(sqlite3_file *fp, int region, int size, int extend, void volatile **pp);
AS_WUR int simdb__shm_lock(sqlite3_file *fp, int ofst, int n, int flags);
void simdb__shm_barrier(sqlite3_file *fp);
AS_WUR int simdb__shm_unmap(sqlite3_file *fp, int delete_flag);

/* --- install.c ------------------------------------------------------------- */

/* simdb_run_begin was called in the active run. */
bool simdb__run_begun(void);
/* Link or unlink a disk of the run. */
void simdb__run_disk_add(simdb_disk *d);
void simdb__run_disk_remove(simdb_disk *d);

#endif

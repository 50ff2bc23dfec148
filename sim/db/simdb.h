/*
** simdb.h -- the simulated database: SQLite brought under the sim.
**
** Three pieces, installed together by simdb_install():
**
**   mutexes  SQLite's mutexes (SQLITE_CONFIG_MUTEX) are the seam's: under the
**            sim every enter is a scheduling point; under posix they are
**            pthread mutexes. Recursion is counted here, by as_task_id().
**   memory   SQLite allocates through a counting allocator
**            (SQLITE_CONFIG_MALLOC) with a countdown for out-of-memory runs
**            (STYLE.md rule 7). What SQLite allocates during a run is
**            remembered, so simdb_run_end() frees what a failed run left
**            behind (a task abandoned inside SQLite never closes its
**            connection).
**   disks    The default VFS, "simvfs", keeps files in memory on a simdb_disk:
**            one simulated machine's storage for one run. Each file has a
**            current image and a durable one (as of its last xSync), and
**            the one directory a current and a durable version (as of its
**            last directory sync); power loss keeps what was synced, and
**            may keep (tear in) unsynced sectors (disk.c has the model and
**            its Linux basis). File locks follow SQLite's protocol
**            per file across connections; WAL's shared memory is in memory
**            too (io_methods version 2, so journal_mode=WAL works). Every
**            I/O call is a scheduling point, so connections in different
**            tasks interleave, and costs virtual time inside a task (a
**            latency per kind of call, set per disk), so timers fire and
**            power fails while calls are in flight; I/O faults are drawn
**            from the sim's FAULTS stream at rates set per disk.
**
** Lifecycle: simdb_install() once per process (no SQLite connection may be
** open), then per sim run: simdb_run_begin() in the program's setup, disks
** made with simdb_disk_new() in setup or a task, connections opened and
** closed inside the run, simdb_run_end() in teardown or after sim_run()
** returns. simdb_uninstall() gives SQLite back its own mutexes, allocator
** and the unix VFS.
**
** Rules: SQLite objects (connections, statements, blobs) made inside a run
** must not be used after it, and ones made outside runs must not be used
** inside one: what SQLite allocates during a run belongs to the run. After
** a failed run, do not call SQLite (not even to close) on a connection a
** task was using when it was abandoned: the task stopped in the middle of
** a SQLite call, so the connection's state is half-updated; simdb_run_end()
** frees its memory. (Outside a task, a SQLite mutex an abandoned task still
** holds is taken over rather than waited for: nothing else can run, and
** waiting would never end.) Shared-cache mode is not supported. The disk
** functions are for the sim's thread only. Crash semantics, caps and fault
** mapping are described at each function.
*/
#ifndef AGENTSIM_SIMDB_H
#define AGENTSIM_SIMDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentsim/seam.h"
#include "agentsim/status.h"

/* The VFS name simdb_install() registers as SQLite's default. */
#define SIMDB_VFS_NAME "simvfs"
/* Longest file name (after a leading '/' is added), bytes, without the NUL;
** also the VFS's mxPathname. Longer names fail to open (SQLITE_CANTOPEN). */
#define SIMDB_NAME_MAX 255u
/* Defaults for simdb_disk_config fields left 0. */
#define SIMDB_DEFAULT_CAPACITY (64ull << 20)
#define SIMDB_DEFAULT_MAX_FILE (32ull << 20)
#define SIMDB_DEFAULT_MAX_FILES 32u
/* What xSectorSize answers: the unit power loss keeps or loses whole (the
** 512-byte sector of the disks Linux reports as logical-block 512). */
#define SIMDB_SECTOR_SIZE 512
/* Hard caps on the configuration. */
#define SIMDB_MAX_CAPACITY (1ull << 32)
#define SIMDB_MAX_FILES 1024u

/* --- process ------------------------------------------------------------- */

/* Make SQLite use the seam's mutexes, the counting allocator and simvfs as
** its default VFS: sqlite3_shutdown(), sqlite3_config(SQLITE_CONFIG_MUTEX,
** SQLITE_CONFIG_MALLOC, SQLITE_CONFIG_MEMSTATUS off), sqlite3_initialize(),
** register simvfs. (Memory statistics are off: they would take a SQLite
** mutex, a scheduling point, around every allocation, and a sweep would
** leave their counters wrong.) Call with no SQLite connection open and
** outside any sim run. AS_OK (also when already installed); AS_BUSY inside a run; AS_NOMEM
** when SQLite could not initialise (then SQLite's own defaults are back);
** AS_INTERNAL for a configuration SQLite refused. */
AS_WUR int simdb_install(void);
/* Undo simdb_install(): what simdb_run_end() does for a run never ended,
** then SQLite's previous mutexes and allocator, memory statistics on, the
** unix VFS the default again. Same preconditions and statuses; AS_OK when
** not installed. Afterwards simdb_mem_outstanding() counts only blocks
** SQLite itself never freed (leaks). */
AS_WUR int simdb_uninstall(void);
/* Whether simdb is installed. */
bool simdb_installed(void);

/* --- runs ---------------------------------------------------------------- */

/* Start a run's database world, from the program's setup (inside sim_run):
** free a previous run's disks if it was never ended, and reseed SQLite's
** PRNG here and now from the run's random stream (as_random_bytes, the
** RUNTIME stream), so what SQLite draws (journal nonces, WAL salts) is the
** same for the same seed. AS_INVAL when simdb is not installed or no run is
** active. */
AS_WUR int simdb_run_begin(void);
/* End the run's database world, in teardown or after sim_run() returned:
** free every disk of the run still alive, then every block SQLite
** allocated while a run was active and never freed (the connections of
** abandoned tasks), and disarm the allocation countdown. Returns the number
** of blocks it had to free: 0 when the program closed everything. Blocks
** allocated outside runs (SQLite's globals) are never touched. */
size_t simdb_run_end(void);

/* --- memory -------------------------------------------------------------- */

/* Countdown error injection: the n-th allocation from now (n >= 1) fails;
** with persistent, every one after it too; n == 0 disarms. Counted
** allocations: SQLite's (malloc and realloc), its mutexes, and the disks'
** own memory (file images, WAL-index regions). */
void simdb_malloc_fail_after(uint64_t n, bool persistent);
/* Whether the armed countdown's failure has happened. */
bool simdb_malloc_fired(void);
/* Blocks of the counting allocator (SQLite's and its mutexes) not yet freed. */
uint64_t simdb_mem_outstanding(void);
/* Between simdb_untracked(true) and simdb_untracked(false) (they nest), what
** SQLite allocates inside a run is process-wide state (a registration that
** outlives the run, such as sqlite3_auto_extension's list), not the run's:
** simdb_run_end never sweeps it. The sim's thread only. */
void simdb_untracked(bool on);

/* --- disks --------------------------------------------------------------- */

typedef struct simdb_disk simdb_disk;

typedef struct simdb_disk_config {
  uint64_t capacity;      /* bytes over all files' current images; a write
                          ** past it is SQLITE_FULL. 0: SIMDB_DEFAULT_CAPACITY;
                          ** at most SIMDB_MAX_CAPACITY */
  uint64_t max_file_size; /* bytes per file (SQLITE_FULL past it);
                          ** 0: SIMDB_DEFAULT_MAX_FILE */
  unsigned max_files;     /* files at once (SQLITE_CANTOPEN past it);
                          ** 0: SIMDB_DEFAULT_MAX_FILES; at most SIMDB_MAX_FILES */
} simdb_disk_config;

/* A new empty disk, in a run after simdb_run_begin() (setup or a task).
** cfg NULL means all defaults. It gets its own VFS (simdb_disk_vfs) and, if
** the run has no default disk yet, becomes the one "simvfs" opens files on.
** *out is the caller's (simdb_disk_free); simdb_run_end() frees it if the
** caller did not. AS_INVAL outside a run, before simdb_run_begin(), or for
** a bad config; AS_NOMEM. */
AS_WUR int simdb_disk_new(simdb_disk **out, const simdb_disk_config *cfg);
/* Free the disk, its files and its VFS; NULL is a no-op. Close every
** connection on it first: handles still open become dangling. */
void simdb_disk_free(simdb_disk *d);
/* The name of the VFS that reaches exactly this disk ("simvfs:N"), for
** sqlite3_open_v2's zVfs; owned by the disk. */
const char *simdb_disk_vfs(const simdb_disk *d);
/* Make d the disk the default VFS "simvfs" opens files on (NULL: none, then
** opening through "simvfs" fails with SQLITE_CANTOPEN). */
void simdb_disk_use(simdb_disk *d);

/* Fault rate, in parts per million, for one of the numbered VFS fault
** points of seam.h on this disk (other points are ignored). Each I/O call
** that can fault draws from the sim's FAULTS stream through as_fault(), so
** faults are deterministic per seed, and a rate of 0 draws nothing (the
** disk's rate is what counts: it is handed to sim_fault_rate() for each
** draw, so setting these points' rates there has no lasting effect):
**   AS_FP_VFS_READ       xRead             -> SQLITE_IOERR_READ
**   AS_FP_VFS_WRITE      xWrite            -> SQLITE_IOERR_WRITE
**   AS_FP_VFS_FULL       an xWrite or xTruncate that grows a file
**                                          -> SQLITE_FULL
**   AS_FP_VFS_SYNC       xSync             -> SQLITE_IOERR_FSYNC; then a
**                        second draw (at 50%) whether the sync dropped the
**                        dirty sectors it was to persist (Linux after EIO)
**   AS_FP_VFS_LOCK_BUSY  xLock, xShmLock (taking a lock) -> SQLITE_BUSY
**   AS_FP_VFS_TEAR       at power loss, for each surviving file: one draw
**                        whether a changed length is the current one, one
**                        per sector written since the last sync whether it
**                        reached the disk (0: nothing unsynced survives)
** Other faults change nothing on the disk. */
void simdb_disk_fault_rate(simdb_disk *d, unsigned point, uint32_t ppm);

/* --- I/O latency ----------------------------------------------------------- */

/* X(NAME, name, lo, hi, tail_ppm, tail_hi) -- the kinds of I/O call and
** what each costs by default, in virtual ns: uniform in [lo, hi], except that
** with probability tail_ppm / 1e6 it is uniform in (hi, tail_hi] instead.
** The figures are a local consumer NVMe or SATA SSD under Linux (ext4/xfs,
** page cache on), the device SQLite usually runs on:
**   open, access, size, lock, shm  system calls that touch no device: a path
**        lookup in the dentry cache, fstat, an fcntl lock, a shared-memory
**        lock or barrier (the unix VFS's are fcntl locks and a fence): one
**        to tens of microseconds.
**   read  a pread that may miss the page cache: a cached 4 KiB page takes a
**        few us, a QD1 4 KiB random read from NVMe NAND 60-100 us.
**   write a buffered pwrite: a copy into the page cache, 20-50 us.
**   truncate, delete  metadata changes that go through the file system's
**        journal in memory: tens of us.
**   sync  fsync/fdatasync reaching the device: 0.5-5 ms on drives without
**        power-loss protection, with a heavy tail (1% up to 30 ms). Measured:
**        pg_test_fsync on a Samsung 990 Pro, 8 kB writes: fdatasync 1.6 ms,
**        fsync 5.6 ms per op (T. Poder, "Using Postgres pg_test_fsync tool
**        for testing low latency writes", 2025); 16 kB writes with fsync
**        ~0.9 ms on the same drive, 12-58 us on drives with PLP
**        (M. Callaghan, "SSDs, power loss protection and fsync latency",
**        smalldatum, 2026).
** A scenario can set every kind (its `latency` directive). */
#define SIMDB_IO_MAP(X)                                         \
  X(OPEN, "open", 5000, 20000, 0, 0)                            \
  X(READ, "read", 20000, 100000, 0, 0)                          \
  X(WRITE, "write", 20000, 50000, 0, 0)                         \
  X(TRUNCATE, "truncate", 20000, 100000, 0, 0)                  \
  X(SYNC, "sync", 500000, 5000000, 10000, 30000000)             \
  X(SIZE, "size", 1000, 2000, 0, 0)                             \
  X(LOCK, "lock", 1000, 2000, 0, 0)                             \
  X(DELETE, "delete", 20000, 100000, 0, 0)                      \
  X(ACCESS, "access", 2000, 5000, 0, 0)                         \
  X(SHM, "shm", 100, 1000, 0, 0)

typedef enum simdb_io_kind {
#define SIMDB__IO(NAME, name, lo, hi, tp, th) SIMDB_IO_##NAME,
  SIMDB_IO_MAP(SIMDB__IO)
#undef SIMDB__IO
  SIMDB__IO_COUNT
} simdb_io_kind;

/* The longest a single I/O may cost (any bound above is refused). */
#define SIMDB_LATENCY_MAX_NS 1000000000ull

/* One kind's distribution (all 0: free). */
typedef struct simdb_latency {
  uint64_t lo_ns, hi_ns;  /* uniform in [lo, hi], lo <= hi */
  uint32_t tail_ppm;      /* how often the tail instead ... */
  uint64_t tail_hi_ns;    /* ... uniform in (hi, tail_hi]; tail_hi > hi, or 0
                          ** with tail_ppm 0 */
} simdb_latency;

/* "read", or NULL for a kind out of range. */
const char *simdb_io_name(simdb_io_kind k);
/* The default distribution of kind k (SIMDB_IO_MAP). */
simdb_latency simdb_latency_default(simdb_io_kind k);
/* Whether l is a distribution simdb_disk_latency takes: lo <= hi <=
** SIMDB_LATENCY_MAX_NS, tail_ppm <= 1e6, and a tail_hi above hi and at most
** the cap exactly when tail_ppm > 0 (else 0). */
bool simdb_latency_valid(const simdb_latency *l);
/* What each I/O call of kind k on d costs in virtual time (a new disk has
** the defaults). The cost is drawn per call from the calling task's own
** substream of the FAULTS stream (sim_task_io_rng: the n-th call of a task
** costs the same whatever the interleaving, and nothing is drawn from the
** substreams the fault points use), and spent only inside a task, by blocking the
** caller in sim_busy: the other tasks run, timers fire, power may fail.
** Outside a task (setup, a check at quiescence) I/O is free. The call takes
** effect after its cost has elapsed: a power loss meanwhile means it never
** happened (the handle's call fails as every stale one does; an open,
** delete or access fails with an I/O error). AS_INVAL for a bad k or l. */
AS_WUR int simdb_disk_latency(simdb_disk *d, simdb_io_kind k, const simdb_latency *l);
/* Make every kind free: I/O takes no virtual time, as before time flowed. */
void simdb_disk_latency_off(simdb_disk *d);
/* Power loss at the n-th I/O call from now made inside a task on d (every
** kind, read-only ones included; n >= 1; 0 disarms): it fails once its cost
** has elapsed, as the disk crashes (simdb_crash) under it. Counted across
** crashes; I/O outside a task is not counted. */
void simdb_disk_crash_after_io(simdb_disk *d, uint64_t n);
/* I/O calls made inside a task on d so far (what the countdown counts). */
uint64_t simdb_disk_ios(const simdb_disk *d);

/* Power loss and restart. Names go back to the durable directory: a file
** created since the last directory sync disappears, one unlinked since
** comes back (so a journal_mode=DELETE commit whose unlink was never
** synced, i.e. below synchronous=EXTRA, meets its hot journal again and is
** rolled back). Every remaining file goes back to its durable image (its
** content as of its last successful xSync), with unsynced sectors and
** length torn in at the AS_FP_VFS_TEAR rate. So a rollback journal that
** was synced survives as a hot journal and the next connection rolls it
** back; a WAL keeps the frames synced before the crash.
** All locks and WAL-index memory are dropped, and every handle opened before
** the crash fails each later call with SQLITE_IOERR (xClose still releases
** it): close the old connections, open new ones. Disarms the countdown
** below. Callable from setup or any task. */
void simdb_crash(simdb_disk *d);
/* Crash countdown: the n-th mutating I/O call on d from now (xWrite,
** xTruncate, xSync, xDelete; n >= 1) crashes the disk instead of taking
** effect, and returns SQLITE_IOERR (xDelete: SQLITE_IOERR_DELETE) to its
** caller; 0 disarms. Sweeping n over a workload tries every crash point. */
void simdb_disk_crash_after(simdb_disk *d, uint64_t n);
/* Crashes so far (simdb_crash and the countdown). */
uint64_t simdb_disk_crashes(const simdb_disk *d);

/* What a test can see of one file. */
typedef struct simdb_file_info {
  uint64_t size;         /* current image */
  uint64_t durable_size; /* durable image */
  bool durable;          /* its name is in the durable directory: it
                         ** survives a crash */
  unsigned handles;      /* open handles (of the current boot) */
} simdb_file_info;

/* Look a file up by name ("x.db" and "/x.db" are the same file).
** AS_NOTFOUND when it does not exist. */
AS_WUR int simdb_disk_stat(const simdb_disk *d, const char *name, simdb_file_info *out);
/* Bytes in use: the current images of every file, open-but-deleted ones
** included. */
uint64_t simdb_disk_used(const simdb_disk *d);
/* Publish every file's current image (SIM_EV_DISK_IMAGE, oldest file
** first) into the run's event stream, so the trace hash covers the final
** database: two runs that end with different data never share a hash. */
void simdb_disk_publish(const simdb_disk *d);

#endif /* AGENTSIM_SIMDB_H */

/*
** vfs.c -- the SQLite VFS over simulated disks: "simvfs" (the run's default
** disk) and one "simvfs:N" per disk.
**
** Every I/O call is first a scheduling point (inside a run's task) and a
** traced note, so connections in different tasks interleave at I/O, and
** costs its latency (latency.c: the caller blocks meanwhile; a call cut by
** power loss in flight fails and never takes effect). Then, in this order:
** a handle from before a crash fails (SQLITE_IOERR); a mutating call may
** trigger the crash countdown (SQLITE_IOERR); a fault may be drawn; only
** then does the call take effect.
**
** File locks follow SQLite's protocol per file across handles, as the unix
** VFS keeps it between processes: any number of SHARED; one RESERVED (or
** higher) among them; PENDING keeps new SHARED locks out while the writer
** waits for the readers to leave; EXCLUSIVE when it is the only one left;
** xCheckReservedLock sees the RESERVED byte only (so a hot-journal rollback,
** which goes from SHARED to EXCLUSIVE directly, is not a live writer).
*/
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"
#include "simdb_int.h"

static const sqlite3_io_methods io_methods;

static simdb_disk *disk_of(sqlite3_vfs *vfs) {
  return vfs->pAppData ? vfs->pAppData : simdb__default_disk();
}

/* --- the file locks ------------------------------------------------------------- */

/* Drop h's lock to `level` (SHARED or NONE); h holds more than that. */
static void lock_release(shandle *h, int level) {
  sfile *f = h->f;
  if (h->lock > SQLITE_LOCK_SHARED) {
    f->writer = NULL;
    f->reserved = f->pending = f->exclusive = false;
  }
  if (level == SQLITE_LOCK_NONE && h->lock >= SQLITE_LOCK_SHARED) f->nshared--;
  h->lock = level;
}

static AS_WUR int x_lock(sqlite3_file *fp, int level) {
  shandle *h = (shandle *)fp;
  simdb__io_point(h->disk, SIM_EV_DISK_LOCK, h->f->id, (uint64_t)level, NULL);
  if (simdb__stale(h)) return SQLITE_IOERR;
  if (h->lock >= level) return SQLITE_OK;
  if (simdb__fault(h->disk, AS_FP_VFS_LOCK_BUSY)) return SQLITE_BUSY;
  sfile *f = h->f;
  if (level == SQLITE_LOCK_SHARED) {
    if (f->pending) return SQLITE_BUSY;
    f->nshared++;
    h->lock = SQLITE_LOCK_SHARED;
    return SQLITE_OK;
  }
  /* RESERVED or EXCLUSIVE, from SHARED or more: one writer at a time. */
  if (f->writer && f->writer != h) return SQLITE_BUSY;
  f->writer = h;
  if (level == SQLITE_LOCK_RESERVED) {
    f->reserved = true;
    h->lock = SQLITE_LOCK_RESERVED;
    return SQLITE_OK;
  }
  /* EXCLUSIVE: hold PENDING (no new readers) until the others are gone. */
  f->pending = true;
  h->lock = SQLITE_LOCK_PENDING;
  if (f->nshared > 1) return SQLITE_BUSY;
  f->exclusive = true;
  h->lock = SQLITE_LOCK_EXCLUSIVE;
  return SQLITE_OK;
}

static AS_WUR int x_unlock(sqlite3_file *fp, int level) {
  shandle *h = (shandle *)fp;
  simdb__io_point(h->disk, SIM_EV_DISK_UNLOCK, h->f->id, (uint64_t)level, NULL);
  if (simdb__stale(h)) return SQLITE_IOERR;
  if (h->lock > level) lock_release(h, level);
  return SQLITE_OK;
}

static AS_WUR int x_check_reserved(sqlite3_file *fp, int *out) {
  shandle *h = (shandle *)fp;
  simdb__io_point(h->disk, SIM_EV_DISK_RESERVED, h->f->id, 0, NULL);
  *out = 0;
  if (simdb__stale(h)) return SQLITE_IOERR;
  /* Only a RESERVED lock (the unix VFS's RESERVED byte, which another
  ** process sees): SQLite takes a hot journal's EXCLUSIVE lock straight from
  ** SHARED precisely so that no reader mistakes the rollback in progress for
  ** a live writer's journal and reads the half-restored file. */
  *out = h->f->reserved;
  return SQLITE_OK;
}

/* --- file I/O ----------------------------------------------------------------- */

static AS_WUR int x_close(sqlite3_file *fp) {
  shandle *h = (shandle *)fp;
  bool old = simdb__stale(h);
  if (!old) lock_release(h, SQLITE_LOCK_NONE);
  simdb__file_release(h->f, old);
  return SQLITE_OK;
}

static AS_WUR int x_read(sqlite3_file *fp, void *buf, int amt, sqlite3_int64 off) {
  shandle *h = (shandle *)fp;
  simdb__io_point(h->disk, SIM_EV_DISK_READ, h->f->id, (uint64_t)off, NULL);
  if (simdb__stale(h)) return SQLITE_IOERR;
  if (simdb__fault(h->disk, AS_FP_VFS_READ)) return SQLITE_IOERR_READ;
  const image *im = &h->f->cur;
  size_t got = 0;
  if ((uint64_t)off < im->len) {
    got = im->len - (size_t)off;
    if (got > (size_t)amt) got = (size_t)amt;
    memcpy(buf, im->buf + off, got);
  }
  if (got == (size_t)amt) return SQLITE_OK;
  memset((unsigned char *)buf + got, 0, (size_t)amt - got);
  return SQLITE_IOERR_SHORT_READ;
}

static AS_WUR int x_write(sqlite3_file *fp, const void *buf, int amt, sqlite3_int64 off) {
  shandle *h = (shandle *)fp;
  /* The bytes are part of the trace hash (by digest): a run whose data
  ** differs never shares a hash with one whose data is right. */
  simdb__io(h->disk, &(sim_ev){.kind = SIM_EV_DISK_WRITE, .object = h->f->id,
                               .extra = (uint64_t)off, .data = buf, .len = (size_t)amt});
  if (simdb__stale(h) || simdb__crash_due(h->disk)) return SQLITE_IOERR;
  if (simdb__fault(h->disk, AS_FP_VFS_WRITE)) return SQLITE_IOERR_WRITE;
  return simdb__file_write(h->f, buf, (size_t)amt, (uint64_t)off);
}

static AS_WUR int x_truncate(sqlite3_file *fp, sqlite3_int64 size) {
  shandle *h = (shandle *)fp;
  simdb__io_point(h->disk, SIM_EV_DISK_TRUNCATE, h->f->id, (uint64_t)size, NULL);
  if (simdb__stale(h) || simdb__crash_due(h->disk)) return SQLITE_IOERR;
  return simdb__file_resize(h->f, (uint64_t)size);
}

/* The flags are traced (the event's extra) and otherwise mean what they
** mean on Linux, where they make no difference. SQLITE_SYNC_DATAONLY is
** fdatasync(2), which flushes the data and whatever metadata is needed to
** read it back, the file size included, so for one file's own content and
** length it persists exactly what fsync(2) does (neither persists the
** file's directory entry: that is the DIRSYNC below). SQLITE_SYNC_FULL
** differs from NORMAL only on macOS (fcntl F_FULLFSYNC, because fsync there
** does not flush the drive's cache); on Linux both are fsync. A failed
** sync drops the data it was to persist half the time (a draw of the sync
** fault point at 50%, only once a fault fired): Linux marks the pages clean
** after EIO. The directory is synced after the file, once per handle, and
** only when the file's sync worked, as os_unix.c's unixSync does. */
static AS_WUR int x_sync(sqlite3_file *fp, int flags) {
  shandle *h = (shandle *)fp;
  simdb__io_point(h->disk, SIM_EV_DISK_SYNC, h->f->id, (uint64_t)(unsigned)flags, NULL);
  if (simdb__stale(h) || simdb__crash_due(h->disk)) return SQLITE_IOERR;
  if (simdb__fault(h->disk, AS_FP_VFS_SYNC)) {
    if (simdb__draw(AS_FP_VFS_SYNC, 500000)) simdb__file_drop(h->f);
    return SQLITE_IOERR_FSYNC;
  }
  simdb__file_sync(h->f);
  if (h->dirsync) {
    h->dirsync = false;
    simdb__dir_sync(h->disk);
  }
  return SQLITE_OK;
}

static AS_WUR int x_file_size(sqlite3_file *fp, sqlite3_int64 *size) {
  shandle *h = (shandle *)fp;
  simdb__io_point(h->disk, SIM_EV_DISK_SIZE, h->f->id, 0, NULL);
  *size = 0;
  if (simdb__stale(h)) return SQLITE_IOERR;
  *size = (sqlite3_int64)h->f->cur.len;
  return SQLITE_OK;
}

static AS_WUR int x_file_control(sqlite3_file *fp, int op, void *arg) {
  (void)fp;
  (void)op;
  (void)arg;
  return SQLITE_NOTFOUND;
}

static AS_WUR int x_sector_size(sqlite3_file *fp) {
  (void)fp;
  return SIMDB_SECTOR_SIZE;
}

/* Power-safe overwrite holds: power loss keeps or loses each unsynced
** sector whole (SIMDB_SECTOR_SIZE, what xSectorSize says) and never damages
** bytes that were not written. Nothing stronger: no write is atomic beyond
** a sector (no ATOMIC*), writes are not ordered (no SEQUENTIAL) and an
** append can survive with its length but not its data (no SAFE_APPEND). */
static AS_WUR int x_device_characteristics(sqlite3_file *fp) {
  (void)fp;
  return SQLITE_IOCAP_POWERSAFE_OVERWRITE;
}

static const sqlite3_io_methods io_methods = {
    2, /* with the xShm* methods: WAL works */
    x_close,
    x_read,
    x_write,
    x_truncate,
    x_sync,
    x_file_size,
    x_lock,
    x_unlock,
    x_check_reserved,
    x_file_control,
    x_sector_size,
    x_device_characteristics,
    simdb__shm_map,
    simdb__shm_lock,
    simdb__shm_barrier,
    simdb__shm_unmap,
    NULL,
    NULL,
};

/* --- the VFS ------------------------------------------------------------------ */

static AS_WUR int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *fp, int flags,
                  int *out_flags) {
  shandle *h = (shandle *)fp;
  memset(h, 0, sizeof *h); /* pMethods NULL: nothing to close on failure */
  simdb_disk *d = disk_of(vfs);
  if (simdb__io_point(d, SIM_EV_DISK_OPEN, 0, (uint64_t)(unsigned)flags, name)) return SQLITE_IOERR;
  char norm[SIMDB_NAME_MAX + 1];
  if (!d) return SQLITE_CANTOPEN;
  if (name) {
    if (!simdb__norm_name(name, norm, sizeof norm)) return SQLITE_CANTOPEN;
  } else {
    (void)snprintf(norm, sizeof norm, "/simdb-temp-%" PRIu64, ++d->next_temp); /* ignore: short */
  }
  sfile *f = simdb__file_find(d, norm);
  if (f && (flags & SQLITE_OPEN_EXCLUSIVE)) return SQLITE_CANTOPEN;
  if (!f) {
    if (!(flags & SQLITE_OPEN_CREATE)) return SQLITE_CANTOPEN;
    int rc = simdb__file_create(d, norm, &f);
    if (rc != SQLITE_OK) return rc;
  }
  f->nref++;
  /* Like unix: a delete-on-close file loses its name at once and lives
  ** until its last handle closes. */
  if (flags & SQLITE_OPEN_DELETEONCLOSE) simdb__file_unlink(f);
  /* os_unix.c's isNewJrnl: opened to create a journal or WAL (whether or
  ** not it existed), so its first sync also syncs the directory. */
  h->dirsync = (flags & SQLITE_OPEN_CREATE) &&
               (flags & (SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_SUPER_JOURNAL | SQLITE_OPEN_WAL));
  h->disk = d;
  h->f = f;
  h->epoch = d->epoch;
  h->lock = SQLITE_LOCK_NONE;
  h->base.pMethods = &io_methods;
  if (out_flags) *out_flags = flags;
  return SQLITE_OK;
}

/* The unlink is durable only with sync_dir (the pager's synchronous=EXTRA),
** which syncs the directory afterwards, as unixDelete does. */
static AS_WUR int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir) {
  simdb_disk *d = disk_of(vfs);
  if (simdb__io_point(d, SIM_EV_DISK_DELETE, (uint64_t)sync_dir, 0, name)) return SQLITE_IOERR_DELETE;
  char norm[SIMDB_NAME_MAX + 1];
  if (!d || simdb__crash_due(d)) return SQLITE_IOERR_DELETE;
  sfile *f = simdb__norm_name(name, norm, sizeof norm) ? simdb__file_find(d, norm) : NULL;
  if (!f) return SQLITE_IOERR_DELETE_NOENT;
  simdb__file_unlink(f);
  if (sync_dir & 1) simdb__dir_sync(d);
  return SQLITE_OK;
}

/* Like unix, an empty file does not "exist" (a truncated journal is none). */
static AS_WUR int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out) {
  simdb_disk *d = disk_of(vfs);
  *out = 0;
  if (simdb__io_point(d, SIM_EV_DISK_ACCESS, 0, (uint64_t)(unsigned)flags, name)) return SQLITE_IOERR_ACCESS;
  char norm[SIMDB_NAME_MAX + 1];
  sfile *f = d && simdb__norm_name(name, norm, sizeof norm) ? simdb__file_find(d, norm) : NULL;
  *out = f && (flags != SQLITE_ACCESS_EXISTS || f->cur.len > 0);
  return SQLITE_OK;
}

static AS_WUR int v_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out) {
  (void)vfs;
  return simdb__norm_name(name, out, (size_t)n) ? SQLITE_OK : SQLITE_CANTOPEN;
}

static void *v_dlopen(sqlite3_vfs *vfs, const char *name) {
  (void)vfs;
  (void)name;
  return NULL;
}

static void v_dlerror(sqlite3_vfs *vfs, int n, char *msg) {
  (void)vfs;
  (void)snprintf(msg, (size_t)n, "simvfs cannot load extensions"); /* ignore: a cut message is fine */
}

static void (*v_dlsym(sqlite3_vfs *vfs, void *lib, const char *sym))(void) {
  (void)vfs;
  (void)lib;
  (void)sym;
  return NULL;
}

static void v_dlclose(sqlite3_vfs *vfs, void *lib) {
  (void)vfs;
  (void)lib;
}

/* SQLite seeds its PRNG here: from the run's stream under the sim. */
static AS_WUR int v_randomness(sqlite3_vfs *vfs, int n, char *out) {
  (void)vfs;
  if (as_random_bytes(out, (size_t)n) != AS_OK) memset(out, 0, (size_t)n);
  return n;
}

/* Virtual time under the sim (the busy handler's waits cost nothing); a
** program's setup or teardown cannot block, so there it returns at once. */
static AS_WUR int v_sleep(sqlite3_vfs *vfs, int us) {
  (void)vfs;
  if (sim_run_id() == 0 || sim_in_task())
    as_sleep_until(as_now_mono_ns() + (uint64_t)us * 1000u);
  return us;
}

/* Julian day 2440587.5 is the Unix epoch. */
#define UNIX_EPOCH_JD_MS 210866760000000ll

static AS_WUR int v_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out) {
  (void)vfs;
  *out = UNIX_EPOCH_JD_MS + as_now_wall_ns() / 1000000;
  return SQLITE_OK;
}

static AS_WUR int v_current_time(sqlite3_vfs *vfs, double *out) {
  sqlite3_int64 ms;
  int rc = v_current_time_int64(vfs, &ms);
  *out = (double)ms / 86400000.0;
  return rc;
}

static AS_WUR int v_get_last_error(sqlite3_vfs *vfs, int n, char *buf) {
  (void)vfs;
  (void)n;
  (void)buf;
  return 0;
}

sqlite3_vfs simdb__vfs = {
    2,
    (int)sizeof(shandle),
    (int)SIMDB_NAME_MAX,
    NULL,
    SIMDB_VFS_NAME,
    NULL,
    v_open,
    v_delete,
    v_access,
    v_full_pathname,
    v_dlopen,
    v_dlerror,
    v_dlsym,
    v_dlclose,
    v_randomness,
    v_sleep,
    v_current_time,
    v_get_last_error,
    v_current_time_int64,
    NULL,
    NULL,
    NULL,
};

/*
** test_simdb_paths.c -- the simulated database below SQLite: the VFS and
** io methods called directly (the lock protocol step by step, caps, names,
** stale handles after a crash, the crash countdown on every mutating call,
** WAL shared memory), the mutex methods (recursion, contention, static
** mutexes across runs and platforms, a holder abandoned by a failed run),
** and the install/run API on its error paths. Linked through faultwrap to
** fail the seam's own allocations and getrandom.
*/
#include "simdb_test.h"

#include <errno.h>
#include <unistd.h>

#include "faultwrap.h"
#include "simdb_int.h"

static struct observations {
  int rc[8];
  size_t swept;
  bool in_setup;
} obs;

typedef struct pst {
  simdb_disk *disk;
  as_task *t[2];
  int flag;
  sqlite3_mutex *mx;
} pst;

/* What setup should do, set by each test. */
static int (*setup_hook)(pst *st);

static int p_setup(void *state, sim_rng *r) {
  pst *st = state;
  (void)r;
  int rc = simdb_run_begin();
  if (rc == AS_OK) rc = simdb_disk_new(&st->disk, NULL);
  if (rc == AS_OK && setup_hook) rc = setup_hook(st);
  return rc;
}

static void p_teardown(void *state) {
  (void)state;
  obs.swept = simdb_run_end();
}

#define P_PROGRAM(nm, mainfn)                                                  \
  static const sim_program nm##_prog = {                                       \
      .name = "simdb-paths:" #nm,                                              \
      .summary = #nm,                                                          \
      .state_size = sizeof(pst),                                               \
      .est_tasks = 3,                                                          \
      .est_steps = 100,                                                        \
      .setup = p_setup,                                                        \
      .main = mainfn,                                                          \
      .teardown = p_teardown,                                                  \
  }

static void fresh(void) {
  memset(&obs, 0, sizeof obs);
  setup_hook = NULL;
  fw_reset();
}

/* --- the VFS, call by call ------------------------------------------------------- */

#define RW_CREATE (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MAIN_DB)

static sqlite3_file *h_new(sqlite3_vfs *v) { return calloc(1, (size_t)v->szOsFile); }

/* Open `name` on v into a new handle; NULL (and a failed check) if not. */
static sqlite3_file *h_open(sqlite3_vfs *v, const char *name, int flags) {
  sqlite3_file *f = h_new(v);
  int out = 0;
  int rc = v->xOpen(v, name, f, flags, &out);
  TEQ(rc, SQLITE_OK);
  TEQ(out, flags);
  if (rc == SQLITE_OK) return f;
  free(f);
  return NULL;
}

static void h_close(sqlite3_file *f) {
  TEQ(f->pMethods->xClose(f), SQLITE_OK);
  free(f);
}

static int h_lock(sqlite3_file *f, int level) { return f->pMethods->xLock(f, level); }
static int h_unlock(sqlite3_file *f, int level) { return f->pMethods->xUnlock(f, level); }

static int reserved(sqlite3_file *f) {
  int r = -1;
  TEQ(f->pMethods->xCheckReservedLock(f, &r), SQLITE_OK);
  return r;
}

static long long fsize(sqlite3_file *f) {
  sqlite3_int64 n = -1;
  TEQ(f->pMethods->xFileSize(f, &n), SQLITE_OK);
  return n;
}

static void names_and_opens(sqlite3_vfs *v, simdb_disk *d) {
  char out[SIMDB_NAME_MAX + 1], longname[400];
  memset(longname, 'x', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  TEQ(v->xFullPathname(v, "a.db", sizeof out, out), SQLITE_OK);
  TCHECK(strcmp(out, "/a.db") == 0);
  TEQ(v->xFullPathname(v, "/a.db", sizeof out, out), SQLITE_OK);
  TCHECK(strcmp(out, "/a.db") == 0);
  TEQ(v->xFullPathname(v, "a.db", 4, out), SQLITE_CANTOPEN); /* does not fit */
  TEQ(v->xFullPathname(v, longname, sizeof out, out), SQLITE_CANTOPEN);

  sqlite3_file *f = h_new(v);
  TEQ(v->xOpen(v, "missing.db", f, SQLITE_OPEN_READWRITE, NULL), SQLITE_CANTOPEN);
  TCHECK(f->pMethods == NULL);
  TEQ(v->xOpen(v, longname, f, RW_CREATE, NULL), SQLITE_CANTOPEN);
  sqlite3_file *a = h_open(v, "a.db", RW_CREATE);
  TEQ(v->xOpen(v, "a.db", f, RW_CREATE | SQLITE_OPEN_EXCLUSIVE, NULL), SQLITE_CANTOPEN);
  TEQ(v->xOpen(v, "/a.db", f, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK); /* no out flags */
  simdb_file_info fi;
  TEQ(simdb_disk_stat(d, "a.db", &fi), AS_OK);
  TEQ(fi.handles, 2);
  TCHECK(!fi.durable);
  TEQ(simdb_disk_stat(d, longname, &fi), AS_NOTFOUND);

  /* Access: an empty file does not "exist", but can be read and written. */
  int res = -1;
  TEQ(v->xAccess(v, "a.db", SQLITE_ACCESS_EXISTS, &res), SQLITE_OK);
  TEQ(res, 0);
  TEQ(v->xAccess(v, "a.db", SQLITE_ACCESS_READWRITE, &res), SQLITE_OK);
  TEQ(res, 1);
  TEQ(v->xAccess(v, "nope.db", SQLITE_ACCESS_READ, &res), SQLITE_OK);
  TEQ(res, 0);
  TEQ(v->xAccess(v, longname, SQLITE_ACCESS_READ, &res), SQLITE_OK);
  TEQ(res, 0);

  /* Reads and writes: a gap reads as zeros, a read past the end is short. */
  TEQ(a->pMethods->xWrite(a, "hello", 5, 10), SQLITE_OK);
  TEQ(fsize(a), 15);
  TEQ(v->xAccess(v, "a.db", SQLITE_ACCESS_EXISTS, &res), SQLITE_OK);
  TEQ(res, 1);
  char buf[32];
  memset(buf, 'z', sizeof buf);
  TEQ(f->pMethods->xRead(f, buf, 15, 0), SQLITE_OK);
  TCHECK(buf[0] == 0 && buf[9] == 0 && memcmp(buf + 10, "hello", 5) == 0);
  memset(buf, 'z', sizeof buf);
  TEQ(f->pMethods->xRead(f, buf, 10, 12), SQLITE_IOERR_SHORT_READ);
  TCHECK(memcmp(buf, "llo", 3) == 0 && buf[3] == 0 && buf[9] == 0);
  TEQ(f->pMethods->xRead(f, buf, 4, 100), SQLITE_IOERR_SHORT_READ);
  TCHECK(buf[0] == 0 && buf[3] == 0);
  TEQ(a->pMethods->xTruncate(a, 100), SQLITE_OK);
  TEQ(fsize(a), 100);
  TEQ(a->pMethods->xTruncate(a, 12), SQLITE_OK);
  TEQ(fsize(a), 12);
  TEQ(a->pMethods->xSync(a, SQLITE_SYNC_NORMAL), SQLITE_OK);
  TEQ(simdb_disk_stat(d, "a.db", &fi), AS_OK);
  TCHECK(!fi.durable && fi.durable_size == 12); /* synced, but not its name */
  TEQ(a->pMethods->xFileControl(a, SQLITE_FCNTL_LOCKSTATE, &res), SQLITE_NOTFOUND);
  TEQ(a->pMethods->xSectorSize(a), SIMDB_SECTOR_SIZE);
  TEQ(a->pMethods->xDeviceCharacteristics(a), SQLITE_IOCAP_POWERSAFE_OVERWRITE);
  h_close(f);
  h_close(a);
}

/* SQLite's lock protocol across three handles on one file. */
static void file_locks(sqlite3_vfs *v) {
  sqlite3_file *a = h_open(v, "l.db", RW_CREATE);
  sqlite3_file *b = h_open(v, "l.db", RW_CREATE);
  sqlite3_file *c = h_open(v, "l.db", RW_CREATE);
  TEQ(h_lock(a, SQLITE_LOCK_SHARED), SQLITE_OK);
  TEQ(h_lock(b, SQLITE_LOCK_SHARED), SQLITE_OK);
  TEQ(reserved(c), 0);
  TEQ(h_lock(a, SQLITE_LOCK_RESERVED), SQLITE_OK);
  TEQ(reserved(c), 1);
  TEQ(h_lock(b, SQLITE_LOCK_RESERVED), SQLITE_BUSY); /* one writer */
  TEQ(h_lock(b, SQLITE_LOCK_EXCLUSIVE), SQLITE_BUSY);
  TEQ(h_lock(a, SQLITE_LOCK_EXCLUSIVE), SQLITE_BUSY); /* b still reads: a is PENDING */
  TEQ(h_lock(c, SQLITE_LOCK_SHARED), SQLITE_BUSY);    /* no new readers meanwhile */
  TEQ(h_unlock(b, SQLITE_LOCK_NONE), SQLITE_OK);
  TEQ(h_lock(a, SQLITE_LOCK_EXCLUSIVE), SQLITE_OK);
  TEQ(h_lock(a, SQLITE_LOCK_SHARED), SQLITE_OK); /* already more */
  TEQ(h_unlock(a, SQLITE_LOCK_SHARED), SQLITE_OK);
  TEQ(reserved(c), 0);
  TEQ(h_lock(c, SQLITE_LOCK_SHARED), SQLITE_OK);
  /* Straight from SHARED to EXCLUSIVE (hot-journal rollback), readers
  ** present: PENDING, then EXCLUSIVE once they leave. */
  TEQ(h_lock(c, SQLITE_LOCK_EXCLUSIVE), SQLITE_BUSY);
  TEQ(h_unlock(a, SQLITE_LOCK_NONE), SQLITE_OK);
  TEQ(h_unlock(a, SQLITE_LOCK_NONE), SQLITE_OK); /* already none */
  TEQ(h_lock(c, SQLITE_LOCK_EXCLUSIVE), SQLITE_OK);
  h_close(c); /* closing drops its locks */
  TEQ(h_lock(b, SQLITE_LOCK_SHARED), SQLITE_OK);
  TEQ(h_lock(b, SQLITE_LOCK_EXCLUSIVE), SQLITE_OK);
  h_close(a);
  h_close(b);
}

/* Deleting: missing files, open files (they live on), delete-on-close. */
static void deletes(sqlite3_vfs *v, simdb_disk *d) {
  char longname[400];
  memset(longname, 'y', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  TEQ(v->xDelete(v, "none.db", 0), SQLITE_IOERR_DELETE_NOENT);
  TEQ(v->xDelete(v, longname, 0), SQLITE_IOERR_DELETE_NOENT);
  uint64_t used0 = simdb_disk_used(d);
  sqlite3_file *a = h_open(v, "del.db", RW_CREATE);
  sqlite3_file *b = h_open(v, "del.db", RW_CREATE);
  TEQ(a->pMethods->xWrite(a, "abc", 3, 0), SQLITE_OK);
  TEQ(v->xDelete(v, "del.db", 1), SQLITE_OK);
  simdb_file_info fi;
  TEQ(simdb_disk_stat(d, "del.db", &fi), AS_NOTFOUND);
  sqlite3_file *n = h_open(v, "del.db", RW_CREATE); /* a new file by that name */
  TEQ(fsize(n), 0);
  char buf[3];
  TEQ(b->pMethods->xRead(b, buf, 3, 0), SQLITE_OK); /* the old one lives on */
  TCHECK(memcmp(buf, "abc", 3) == 0);
  TEQ(simdb_disk_used(d), used0 + 3);
  h_close(a);
  h_close(b);
  TEQ(simdb_disk_used(d), used0);
  h_close(n);
  /* A temp file: no name, gone when closed. */
  sqlite3_file *t = h_open(v, NULL, RW_CREATE | SQLITE_OPEN_DELETEONCLOSE | SQLITE_OPEN_EXCLUSIVE);
  TEQ(t->pMethods->xWrite(t, "tmp", 3, 4096), SQLITE_OK);
  TEQ(simdb_disk_used(d), used0 + 4099);
  h_close(t);
  TEQ(simdb_disk_used(d), used0);
}

/* Caps of a small disk, through its own VFS. */
static void caps(void) {
  simdb_disk_config cfg = {.capacity = 10000, .max_file_size = 6000, .max_files = 2};
  simdb_disk *d = NULL;
  TEQ(simdb_disk_new(&d, &cfg), AS_OK);
  TCHECK(strcmp(simdb_disk_vfs(d), "simvfs:2") == 0);
  sqlite3_vfs *v = sqlite3_vfs_find(simdb_disk_vfs(d));
  TCHECK(v != NULL && v->pAppData == d);
  sqlite3_file *a = h_open(v, "1", RW_CREATE);
  sqlite3_file *b = h_open(v, "2", RW_CREATE);
  sqlite3_file *c = h_new(v);
  TEQ(v->xOpen(v, "3", c, RW_CREATE, NULL), SQLITE_CANTOPEN);
  free(c);
  static const char blob[7000];
  TEQ(a->pMethods->xWrite(a, blob, 6001, 0), SQLITE_FULL); /* file size */
  TEQ(a->pMethods->xWrite(a, blob, 6000, 0), SQLITE_OK);
  TEQ(b->pMethods->xWrite(b, blob, 4001, 0), SQLITE_FULL); /* capacity */
  TEQ(b->pMethods->xTruncate(b, 4001), SQLITE_FULL);
  TEQ(b->pMethods->xWrite(b, blob, 4000, 0), SQLITE_OK);
  TEQ(simdb_disk_used(d), 10000);
  TEQ(b->pMethods->xWrite(b, blob, 10, 100), SQLITE_OK); /* overwrite: no growth */
  h_close(a);
  h_close(b);
  simdb_disk_free(d);
  simdb_disk_free(NULL);
}

/* After a crash every call on an old handle fails; closing still works. */
static void stale_handles(sqlite3_vfs *v, simdb_disk *d) {
  sqlite3_file *a = h_open(v, "s.db", RW_CREATE | SQLITE_OPEN_MAIN_JOURNAL);
  sqlite3_file *gone = h_open(v, "s-gone.db", RW_CREATE);
  TEQ(a->pMethods->xWrite(a, "data", 4, 0), SQLITE_OK);
  TEQ(a->pMethods->xSync(a, 0), SQLITE_OK); /* a journal's: both names durable */
  TEQ(a->pMethods->xWrite(a, "DATA", 4, 0), SQLITE_OK);
  TEQ(h_lock(a, SQLITE_LOCK_SHARED), SQLITE_OK);
  TEQ(v->xDelete(v, "s-gone.db", 0), SQLITE_OK); /* deleted while open, not durably */
  volatile void *region = NULL;
  TEQ(a->pMethods->xShmMap(a, 0, 32768, 1, &region), SQLITE_OK);
  ((volatile char *)region)[0] = 7;
  simdb_crash(d);
  char buf[4];
  sqlite3_int64 sz;
  int r;
  TEQ(a->pMethods->xRead(a, buf, 4, 0), SQLITE_IOERR);
  TEQ(a->pMethods->xWrite(a, "x", 1, 0), SQLITE_IOERR);
  TEQ(a->pMethods->xTruncate(a, 0), SQLITE_IOERR);
  TEQ(a->pMethods->xSync(a, 0), SQLITE_IOERR);
  TEQ(a->pMethods->xFileSize(a, &sz), SQLITE_IOERR);
  TEQ(a->pMethods->xLock(a, SQLITE_LOCK_RESERVED), SQLITE_IOERR);
  TEQ(a->pMethods->xUnlock(a, SQLITE_LOCK_NONE), SQLITE_IOERR);
  TEQ(a->pMethods->xCheckReservedLock(a, &r), SQLITE_IOERR);
  volatile void *r2 = NULL;
  TEQ(a->pMethods->xShmMap(a, 1, 32768, 1, &r2), SQLITE_IOERR);
  TEQ(a->pMethods->xShmLock(a, 0, 1, SQLITE_SHM_LOCK | SQLITE_SHM_SHARED), SQLITE_IOERR);
  TCHECK(((volatile char *)region)[0] == 7); /* what it mapped is still there */
  /* A new handle sees the durable image and a fresh wal-index. */
  sqlite3_file *b = h_open(v, "s.db", SQLITE_OPEN_READWRITE);
  TEQ(b->pMethods->xRead(b, buf, 4, 0), SQLITE_OK);
  TCHECK(memcmp(buf, "data", 4) == 0);
  TEQ(h_lock(b, SQLITE_LOCK_EXCLUSIVE), SQLITE_OK); /* a's SHARED died with it */
  TEQ(b->pMethods->xShmMap(b, 0, 32768, 1, &r2), SQLITE_OK);
  TCHECK(r2 != region && ((volatile char *)r2)[0] == 0);
  TEQ(a->pMethods->xShmUnmap(a, 0), SQLITE_OK);
  TEQ(b->pMethods->xShmUnmap(b, 1), SQLITE_OK);
  h_close(a);
  h_close(gone);
  h_close(b);
  simdb_file_info fi;
  TEQ(simdb_disk_stat(d, "s-gone.db", &fi), AS_OK); /* the unlink was lost */
  TEQ(v->xDelete(v, "s-gone.db", 1), SQLITE_OK);
  TEQ(simdb_disk_crashes(d), 1);
}

/* Write one byte at off and sync it, through a fresh handle. */
static void put_synced(sqlite3_vfs *v, const char *name, char c, sqlite3_int64 off) {
  sqlite3_file *f = h_open(v, name, RW_CREATE);
  TEQ(f->pMethods->xWrite(f, &c, 1, off), SQLITE_OK);
  TEQ(f->pMethods->xSync(f, SQLITE_SYNC_NORMAL), SQLITE_OK);
  h_close(f);
}

/* The byte at off of name (0 past its end). */
static char byte_at(sqlite3_vfs *v, const char *name, sqlite3_int64 off) {
  sqlite3_file *f = h_open(v, name, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MAIN_DB);
  char c = 'z';
  int rc = f->pMethods->xRead(f, &c, 1, off);
  TCHECK(rc == SQLITE_OK || rc == SQLITE_IOERR_SHORT_READ);
  h_close(f);
  return c;
}

/* Names: a synced file whose name never was is gone after power loss; a
** journal's first sync syncs the directory (every pending name); an
** unlink without sync_dir comes back with the durable content, one with it
** does not. */
static void durable_names(sqlite3_vfs *v, simdb_disk *d) {
  simdb_file_info fi;
  put_synced(v, "n.db", 'n', 0);
  simdb_crash(d);
  TEQ(simdb_disk_stat(d, "n.db", &fi), AS_NOTFOUND);
  put_synced(v, "m.db", 'm', 0);
  sqlite3_file *j = h_open(v, "m.db-journal", RW_CREATE | SQLITE_OPEN_MAIN_JOURNAL);
  TEQ(j->pMethods->xWrite(j, "jjjj", 4, 0), SQLITE_OK);
  TEQ(simdb_disk_stat(d, "m.db", &fi), AS_OK);
  TCHECK(!fi.durable);
  TEQ(j->pMethods->xSync(j, SQLITE_SYNC_FULL), SQLITE_OK);
  TEQ(simdb_disk_stat(d, "m.db", &fi), AS_OK);
  TCHECK(fi.durable);
  TEQ(j->pMethods->xWrite(j, "JJJJ", 4, 0), SQLITE_OK);
  TEQ(j->pMethods->xSync(j, SQLITE_SYNC_FULL), SQLITE_OK); /* no second dir sync needed */
  h_close(j);
  TEQ(v->xDelete(v, "m.db-journal", 0), SQLITE_OK);
  TEQ(simdb_disk_stat(d, "m.db-journal", &fi), AS_NOTFOUND);
  simdb_crash(d);
  TEQ(simdb_disk_stat(d, "m.db-journal", &fi), AS_OK); /* back, as last synced */
  TCHECK(byte_at(v, "m.db-journal", 0) == 'J' && byte_at(v, "m.db", 0) == 'm');
  TEQ(v->xDelete(v, "m.db-journal", 1), SQLITE_OK);
  simdb_crash(d);
  TEQ(simdb_disk_stat(d, "m.db-journal", &fi), AS_NOTFOUND);
  TEQ(v->xDelete(v, "m.db", 1), SQLITE_OK);
}

/* Data: a failed sync drops what it was to persist about half the time
** (then a later sync does not persist it either); power loss with tearing
** off keeps nothing unsynced, fully on keeps everything, half on keeps some
** sectors and loses others. */
static void durable_data(sqlite3_vfs *v, simdb_disk *d) {
  sqlite3_file *j = h_open(v, "t.db", RW_CREATE | SQLITE_OPEN_MAIN_JOURNAL);
  TEQ(j->pMethods->xWrite(j, "", 1, 64 * SIMDB_SECTOR_SIZE), SQLITE_OK);
  TEQ(j->pMethods->xSync(j, 0), SQLITE_OK);
  h_close(j);
  unsigned dropped = 0;
  for (int i = 0; i < 32; i++) {
    sqlite3_file *f = h_open(v, "t.db", SQLITE_OPEN_READWRITE | SQLITE_OPEN_MAIN_DB);
    TEQ(f->pMethods->xWrite(f, "x", 1, i * SIMDB_SECTOR_SIZE), SQLITE_OK);
    simdb_disk_fault_rate(d, AS_FP_VFS_SYNC, 1000000);
    TEQ(f->pMethods->xSync(f, 0), SQLITE_IOERR_FSYNC);
    simdb_disk_fault_rate(d, AS_FP_VFS_SYNC, 0);
    TCHECK(byte_at(v, "t.db", i * SIMDB_SECTOR_SIZE) == 'x'); /* the cache has it */
    TEQ(f->pMethods->xSync(f, 0), SQLITE_OK);
    h_close(f);
    simdb_crash(d);
    dropped += byte_at(v, "t.db", i * SIMDB_SECTOR_SIZE) == 0;
  }
  TCHECK(dropped > 0 && dropped < 32);
  static const uint32_t rates[] = {0, 1000000, 500000};
  for (unsigned r = 0; r < 3; r++) {
    sqlite3_file *f = h_open(v, "t.db", SQLITE_OPEN_READWRITE | SQLITE_OPEN_MAIN_DB);
    for (int i = 0; i < 64; i++) TEQ(f->pMethods->xWrite(f, &"ABC"[r], 1, i * SIMDB_SECTOR_SIZE), SQLITE_OK);
    TEQ(f->pMethods->xWrite(f, "e", 1, 80 * SIMDB_SECTOR_SIZE), SQLITE_OK); /* grows it */
    h_close(f);
    simdb_disk_fault_rate(d, AS_FP_VFS_TEAR, rates[r]);
    simdb_crash(d);
    simdb_disk_fault_rate(d, AS_FP_VFS_TEAR, 0);
    unsigned kept = 0;
    for (int i = 0; i < 64; i++) kept += byte_at(v, "t.db", i * SIMDB_SECTOR_SIZE) == "ABC"[r];
    bool grown = byte_at(v, "t.db", 80 * SIMDB_SECTOR_SIZE) == 'e';
    if (r == 0) TCHECK(kept == 0 && !grown);
    if (r == 1) TCHECK(kept == 64 && grown);
    if (r == 2) TCHECK(kept > 0 && kept < 64);
  }
  TEQ(v->xDelete(v, "t.db", 1), SQLITE_OK);
}

/* Truncation: a file of 16 synced 'o' sectors is cut to nothing and the
** same sectors are written again ('n'), and power loss tears it (half of
** everything unsynced survives). The truncation either reached the disk
** (no 'o' anywhere: each sector 'n' or zeros) or it did not (all 16 'o',
** nothing new past the cut): old bytes past a cut never mix with new ones,
** also when a failed sync dropped the rewrite in between. A sync after
** such a drop makes the cut durable: the dropped sectors read as zeros. */
static void durable_truncate(sqlite3_vfs *v, simdb_disk *d) {
  enum { N = 16 };
  char o[N * SIMDB_SECTOR_SIZE], n[N * SIMDB_SECTOR_SIZE], got[N * SIMDB_SECTOR_SIZE];
  memset(o, 'o', sizeof o);
  memset(n, 'n', sizeof n);
  unsigned undone = 0, done = 0;
  for (int round = 0; round < 48; round++) {
    bool fail_sync = round % 2 == 1;
    sqlite3_file *f = h_open(v, "u.db", RW_CREATE | SQLITE_OPEN_MAIN_JOURNAL);
    TEQ(f->pMethods->xWrite(f, o, sizeof o, 0), SQLITE_OK);
    TEQ(f->pMethods->xSync(f, 0), SQLITE_OK);
    TEQ(f->pMethods->xTruncate(f, 0), SQLITE_OK);
    if (fail_sync) {
      simdb_disk_fault_rate(d, AS_FP_VFS_SYNC, 1000000);
      TEQ(f->pMethods->xSync(f, 0), SQLITE_IOERR_FSYNC);
      simdb_disk_fault_rate(d, AS_FP_VFS_SYNC, 0);
    }
    TEQ(f->pMethods->xWrite(f, n, sizeof n, 0), SQLITE_OK);
    h_close(f);
    simdb_disk_fault_rate(d, AS_FP_VFS_TEAR, 500000);
    simdb_crash(d);
    simdb_disk_fault_rate(d, AS_FP_VFS_TEAR, 0);
    f = h_open(v, "u.db", SQLITE_OPEN_READWRITE | SQLITE_OPEN_MAIN_DB);
    sqlite3_int64 size = -1;
    TEQ(f->pMethods->xFileSize(f, &size), SQLITE_OK);
    memset(got, 'z', sizeof got);
    int rc = f->pMethods->xRead(f, got, sizeof got, 0);
    TCHECK(rc == SQLITE_OK || rc == SQLITE_IOERR_SHORT_READ);
    h_close(f);
    if (memcmp(got, o, sizeof o) == 0) {
      TEQ(size, (sqlite3_int64)sizeof o);
      undone++;
    } else {
      for (size_t i = 0; i < sizeof got; i++) TCHECK(got[i] == 'n' || got[i] == 0);
      done++;
    }
    TEQ(v->xDelete(v, "u.db", 1), SQLITE_OK);
  }
  TCHECK(undone > 0 && done > 0);
  /* A failed sync that dropped the rewrite, then one that succeeds. */
  unsigned zeros = 0;
  for (int round = 0; round < 16; round++) {
    sqlite3_file *f = h_open(v, "u.db", RW_CREATE | SQLITE_OPEN_MAIN_JOURNAL);
    TEQ(f->pMethods->xWrite(f, o, sizeof o, 0), SQLITE_OK);
    TEQ(f->pMethods->xSync(f, 0), SQLITE_OK);
    TEQ(f->pMethods->xTruncate(f, 0), SQLITE_OK);
    TEQ(f->pMethods->xWrite(f, n, sizeof n, 0), SQLITE_OK);
    simdb_disk_fault_rate(d, AS_FP_VFS_SYNC, 1000000);
    TEQ(f->pMethods->xSync(f, 0), SQLITE_IOERR_FSYNC);
    simdb_disk_fault_rate(d, AS_FP_VFS_SYNC, 0);
    TEQ(f->pMethods->xSync(f, 0), SQLITE_OK);
    h_close(f);
    simdb_crash(d);
    f = h_open(v, "u.db", SQLITE_OPEN_READWRITE | SQLITE_OPEN_MAIN_DB);
    TEQ(f->pMethods->xRead(f, got, sizeof got, 0), SQLITE_OK);
    h_close(f);
    for (size_t i = 0; i < sizeof got; i++) TCHECK(got[i] == 'n' || got[i] == 0);
    zeros += got[0] == 0;
    TEQ(v->xDelete(v, "u.db", 1), SQLITE_OK);
  }
  TCHECK(zeros > 0 && zeros < 16); /* the drop is a draw: some rounds kept it */
}

/* The crash countdown fires on whichever mutating call comes n-th. */
static void crash_countdown(sqlite3_vfs *v, simdb_disk *d) {
  uint64_t before = simdb_disk_crashes(d);
  sqlite3_file *a = h_open(v, "c.db", RW_CREATE);
  simdb_disk_crash_after(d, 1);
  TEQ(a->pMethods->xTruncate(a, 10), SQLITE_IOERR);
  h_close(a);
  a = h_open(v, "c.db", RW_CREATE);
  simdb_disk_crash_after(d, 2);
  TEQ(a->pMethods->xWrite(a, "q", 1, 0), SQLITE_OK);
  TEQ(a->pMethods->xSync(a, 0), SQLITE_IOERR);
  h_close(a);
  a = h_open(v, "c.db", RW_CREATE);
  simdb_disk_crash_after(d, 1);
  TEQ(v->xDelete(v, "c.db", 0), SQLITE_IOERR_DELETE);
  h_close(a);
  TEQ(simdb_disk_crashes(d), before + 3);
}

/* WAL shared memory: mapping, the 8 locks, unmapping. */
static void shm(sqlite3_vfs *v) {
  sqlite3_file *a = h_open(v, "w.db", RW_CREATE);
  sqlite3_file *b = h_open(v, "w.db", RW_CREATE);
  TEQ(a->pMethods->xShmLock(a, 0, 1, SQLITE_SHM_LOCK | SQLITE_SHM_SHARED), SQLITE_IOERR_SHMLOCK);
  volatile void *pa = (void *)1, *pb = NULL;
  TEQ(a->pMethods->xShmMap(a, 0, 32768, 0, &pa), SQLITE_OK);
  TCHECK(pa == NULL); /* no such region, and not asked to extend */
  TEQ(a->pMethods->xShmMap(a, 1, 32768, 1, &pa), SQLITE_OK);
  TEQ(b->pMethods->xShmMap(b, 1, 32768, 0, &pb), SQLITE_OK);
  TCHECK(pa != NULL && pa == pb);
  const int SH = SQLITE_SHM_LOCK | SQLITE_SHM_SHARED, EX = SQLITE_SHM_LOCK | SQLITE_SHM_EXCLUSIVE;
  const int USH = SQLITE_SHM_UNLOCK | SQLITE_SHM_SHARED, UEX = SQLITE_SHM_UNLOCK | SQLITE_SHM_EXCLUSIVE;
  TEQ(a->pMethods->xShmLock(a, 3, 1, SH), SQLITE_OK);
  TEQ(a->pMethods->xShmLock(a, 3, 1, SH), SQLITE_OK); /* again: no change */
  TEQ(b->pMethods->xShmLock(b, 3, 1, SH), SQLITE_OK);
  TEQ(a->pMethods->xShmLock(a, 3, 1, EX), SQLITE_BUSY); /* b reads */
  TEQ(b->pMethods->xShmLock(b, 3, 1, USH), SQLITE_OK);
  TEQ(a->pMethods->xShmLock(a, 3, 1, EX), SQLITE_OK); /* only its own shared left */
  TEQ(b->pMethods->xShmLock(b, 3, 1, SH), SQLITE_BUSY);
  TEQ(b->pMethods->xShmLock(b, 0, 3, EX), SQLITE_OK);
  TEQ(a->pMethods->xShmLock(a, 2, 2, EX), SQLITE_BUSY); /* b has 2 */
  TEQ(a->pMethods->xShmLock(a, 3, 1, EX), SQLITE_OK);   /* its own */
  TEQ(b->pMethods->xShmLock(b, 2, 1, UEX), SQLITE_OK);
  TEQ(a->pMethods->xShmLock(a, 2, 2, EX), SQLITE_OK);
  a->pMethods->xShmBarrier(a);
  TEQ(a->pMethods->xShmUnmap(a, 0), SQLITE_OK); /* drops its locks */
  TEQ(a->pMethods->xShmUnmap(a, 0), SQLITE_OK); /* not mapped: nothing */
  TEQ(b->pMethods->xShmLock(b, 2, 2, EX), SQLITE_OK);
  TEQ(b->pMethods->xShmLock(b, 0, 4, UEX), SQLITE_OK);
  TEQ(b->pMethods->xShmUnmap(b, 0), SQLITE_OK);
  /* Left mapped on purpose: the disk frees the node with itself. */
  TEQ(a->pMethods->xShmMap(a, 0, 32768, 1, &pa), SQLITE_OK);
  TEQ(a->pMethods->xShmLock(a, 1, 1, SH), SQLITE_OK);
  free(a);
  h_close(b);
}

/* The VFS's other methods. */
static void misc(sqlite3_vfs *v, simdb_disk *d) {
  char msg[64];
  TCHECK(v->xDlOpen(v, "lib.so") == NULL);
  v->xDlError(v, sizeof msg, msg);
  TCHECK(strstr(msg, "simvfs") != NULL);
  TCHECK(v->xDlSym(v, NULL, "sym") == NULL);
  v->xDlClose(v, NULL);
  unsigned char rnd[20] = {0};
  TEQ(v->xRandomness(v, sizeof rnd, (char *)rnd), sizeof rnd);
  uint64_t t0 = as_now_mono_ns();
  TEQ(v->xSleep(v, 2500), 2500);
  TEQ(as_now_mono_ns() - t0, 2500000);
  sqlite3_int64 ms = 0;
  double jd = 0;
  TEQ(v->xCurrentTimeInt64(v, &ms), SQLITE_OK);
  TEQ(v->xCurrentTime(v, &jd), SQLITE_OK);
  /* The sim's wall clock starts at 2026-01-01 (Julian day 2461041.5, in ms
  ** the Unix epoch's plus 1767225600 s); the run is 2.5 ms old. */
  TEQ(ms, 210866760000000ll + 1767225600000ll + 2);
  TCHECK(jd > 2461041.5 && jd < 2461041.6);
  TEQ(v->xGetLastError(v, sizeof msg, msg), 0);
  /* Without a default disk "simvfs" reaches none. */
  simdb_disk_use(NULL);
  sqlite3_file *f = h_new(v);
  int res = 1;
  TEQ(v->xOpen(v, "x.db", f, RW_CREATE, NULL), SQLITE_CANTOPEN);
  TEQ(v->xDelete(v, "x.db", 0), SQLITE_IOERR_DELETE);
  TEQ(v->xAccess(v, "x.db", SQLITE_ACCESS_EXISTS, &res), SQLITE_OK);
  TEQ(res, 0);
  free(f);
  simdb_disk_use(d);
  /* Points simdb does not own are ignored. */
  simdb_disk_fault_rate(d, AS_FP_SELFTEST, 1000000);
  simdb_disk_fault_rate(d, AS__FP_COUNT + 5, 1000000);
  TEQ(d->fault_ppm[AS_FP_SELFTEST], 0);
}

static void vfs_main(void *state) {
  pst *st = state;
  sqlite3_vfs *v = sqlite3_vfs_find(SIMDB_VFS_NAME);
  TCHECK(v != NULL && v == sqlite3_vfs_find(NULL));
  simdb_disk_latency_off(st->disk); /* the clock below counts xSleep alone */
  names_and_opens(v, st->disk);
  file_locks(v);
  deletes(v, st->disk);
  caps();
  stale_handles(v, st->disk);
  durable_names(v, st->disk);
  durable_data(v, st->disk);
  durable_truncate(v, st->disk);
  crash_countdown(v, st->disk);
  shm(v);
  misc(v, st->disk);
}
P_PROGRAM(vfs, vfs_main);

static void test_vfs_methods(void **state) {
  (void)state;
  fresh();
  sim_result res;
  sdb_run(&vfs_prog, 1, &res);
  sim_result_clear(&res);
  /* No SQLite blocks: the handles were the test's. */
  assert_int_equal(obs.swept, 0);
}

/* Outside a task (setup) nothing blocks: xSleep returns at once; under
** posix it sleeps for real; a failed getrandom gives zeros. */
static int sleep_in_setup(pst *st) {
  (void)st;
  sqlite3_vfs *v = sqlite3_vfs_find(NULL);
  obs.rc[0] = v->xSleep(v, 1000000); /* a virtual second, but not here */
  obs.rc[1] = as_now_mono_ns() == 0;
  return AS_OK;
}

static void nothing_main(void *state) { (void)state; }
P_PROGRAM(nothing, nothing_main);

static void test_sleep_and_randomness_outside_tasks(void **state) {
  (void)state;
  fresh();
  setup_hook = sleep_in_setup;
  sim_result res;
  sdb_run(&nothing_prog, 1, &res);
  sim_result_clear(&res);
  assert_int_equal(obs.rc[0], 1000000);
  assert_int_equal(obs.rc[1], 1);
  sqlite3_vfs *v = sqlite3_vfs_find(SIMDB_VFS_NAME);
  assert_int_equal(v->xSleep(v, 10), 10); /* posix: real */
  unsigned char buf[8];
  memset(buf, 0xAA, sizeof buf);
  fw_inject(FW_GETRANDOM, EIO, 1);
  assert_int_equal(v->xRandomness(v, sizeof buf, (char *)buf), sizeof buf);
  for (size_t i = 0; i < sizeof buf; i++) assert_int_equal(buf[i], 0);
  fw_reset();
}

/* --- mutexes ----------------------------------------------------------------------- */

static const sqlite3_mutex_methods *M = &simdb__mutex_methods;

/* A static mutex entered outside any task. */
static int mx_in_setup(pst *st) {
  (void)st;
  sqlite3_mutex *p = sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_APP1);
  sqlite3_mutex_enter(p);
  sqlite3_mutex_enter(p); /* recursion counts for static ones too */
  int held = M->xMutexHeld(p);
  sqlite3_mutex_leave(p);
  sqlite3_mutex_leave(p);
  int try_rc = sqlite3_mutex_try(p);
  int try_again = sqlite3_mutex_try(p);
  sqlite3_mutex_leave(p);
  sqlite3_mutex_leave(p);
  obs.rc[0] = held && try_rc == SQLITE_OK && try_again == SQLITE_OK && M->xMutexNotheld(p);
  return AS_OK;
}

static void mx_holder(void *arg) {
  pst *st = arg;
  sqlite3_mutex_enter(st->mx);
  st->flag = 1;
  for (int i = 0; i < 5; i++) sim_step();
  st->flag = 2;
  sqlite3_mutex_leave(st->mx);
}

static void mx_waiter(void *arg) {
  pst *st = arg;
  while (st->flag == 0) sim_step();
  if (st->flag == 1) TEQ(sqlite3_mutex_try(st->mx), SQLITE_BUSY);
  TCHECK(M->xMutexNotheld(st->mx));
  sqlite3_mutex_enter(st->mx); /* blocks until the holder leaves */
  TEQ(st->flag, 2);
  TCHECK(M->xMutexHeld(st->mx));
  sqlite3_mutex_leave(st->mx);
}

static void mx_main(void *state) {
  pst *st = state;
  TCHECK(sqlite3_mutex_alloc(99) == NULL);
  sqlite3_mutex *r = sqlite3_mutex_alloc(SQLITE_MUTEX_RECURSIVE);
  TCHECK(r != NULL);
  sqlite3_mutex_enter(r);
  sqlite3_mutex_enter(r);
  TEQ(sqlite3_mutex_try(r), SQLITE_OK);
  TCHECK(M->xMutexHeld(r) && !M->xMutexNotheld(r));
  sqlite3_mutex_leave(r);
  sqlite3_mutex_leave(r);
  sqlite3_mutex_leave(r);
  TCHECK(!M->xMutexHeld(r));
  TEQ(sqlite3_mutex_try(r), SQLITE_OK);
  sqlite3_mutex_leave(r);
  sqlite3_mutex_free(r); /* made in this run: freed through the sim */
  st->mx = sqlite3_mutex_alloc(SQLITE_MUTEX_FAST);
  TEQ(as_task_spawn(&st->t[0], "holder", mx_holder, st), AS_OK);
  TEQ(as_task_spawn(&st->t[1], "waiter", mx_waiter, st), AS_OK);
  TEQ(as_task_join(st->t[0]), AS_OK);
  TEQ(as_task_join(st->t[1]), AS_OK);
  sqlite3_mutex_free(st->mx);
}

static const sim_program mx_prog = {
    .name = "simdb-paths:mx",
    .summary = "mutexes",
    .state_size = sizeof(pst),
    .est_tasks = 3,
    .est_steps = 100,
    .setup = p_setup,
    .main = mx_main,
    .teardown = p_teardown,
};

static void test_mutexes_in_a_run(void **state) {
  (void)state;
  fresh();
  setup_hook = mx_in_setup;
  for (uint64_t seed = 1; seed <= 20; seed++) {
    sim_result res;
    sdb_run(&mx_prog, seed, &res);
    sim_result_clear(&res);
    assert_int_equal(obs.rc[0], 1);
    assert_int_equal(obs.swept, 0);
  }
}

/* A task dies holding a static mutex: the teardown takes it over, and the
** next run finds it free. */
static void die_holding(void *state) {
  (void)state;
  sqlite3_mutex_enter(sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_APP2));
  sim_fail(SIM_ASSERT, "dies holding a SQLite mutex");
}

static void takeover_teardown(void *state) {
  (void)state;
  sqlite3_mutex *p = sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_APP2);
  obs.rc[2] = sqlite3_mutex_try(p); /* the dead task still has it */
  sqlite3_mutex_enter(p);              /* taken over: nothing else can run */
  obs.rc[1] = M->xMutexHeld(p);
  sqlite3_mutex_leave(p);
  obs.swept = simdb_run_end();
}

static const sim_program die_prog = {
    .name = "simdb-paths:die",
    .summary = "abandoned holder",
    .state_size = sizeof(pst),
    .setup = p_setup,
    .main = die_holding,
    .teardown = takeover_teardown,
};

static void enter_app2(void *state) {
  (void)state;
  sqlite3_mutex *p = sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_APP2);
  TEQ(sqlite3_mutex_try(p), SQLITE_OK);
  sqlite3_mutex_leave(p);
}
P_PROGRAM(app2, enter_app2);

static void test_abandoned_mutex_holder(void **state) {
  (void)state;
  fresh();
  sim_config cfg = sdb_config(1);
  sim_result res;
  assert_int_equal(sim_run(S, &die_prog, &cfg, &res), AS_OK);
  assert_int_equal(res.outcome, SIM_ASSERT);
  sim_result_clear(&res);
  assert_int_equal(obs.rc[1], 1);
  assert_int_equal(obs.rc[2], SQLITE_BUSY);
  sdb_run(&app2_prog, 1, &res);
  sim_result_clear(&res);
}

/* Dynamic mutexes made under posix, used and freed in a run, and back:
** pm[0] is used in the run and freed there, pm[1] only freed there (its
** posix-made seam mutex goes back through posix), pm[2] used in the run
** and again under posix afterwards. */
static sqlite3_mutex *pm[3];

static void use_posix_made(void *state) {
  (void)state;
  sqlite3_mutex_enter(pm[0]);
  TCHECK(M->xMutexHeld(pm[0]));
  sqlite3_mutex_leave(pm[0]);
  sqlite3_mutex_free(pm[0]);
  sqlite3_mutex_free(pm[1]);
  pm[0] = pm[1] = NULL;
  sqlite3_mutex_enter(pm[2]);
  sqlite3_mutex_leave(pm[2]);
}
P_PROGRAM(use_posix, use_posix_made);

static void test_mutexes_across_platforms(void **state) {
  (void)state;
  fresh();
  for (int i = 0; i < 3; i++) {
    pm[i] = sqlite3_mutex_alloc(SQLITE_MUTEX_FAST);
    assert_non_null(pm[i]);
    sqlite3_mutex_enter(pm[i]);
    assert_true(M->xMutexHeld(pm[i]));
    sqlite3_mutex_leave(pm[i]);
  }
  assert_int_equal(sqlite3_mutex_try(pm[2]), SQLITE_OK);
  sqlite3_mutex_leave(pm[2]);
  sim_result res;
  sdb_run(&use_posix_prog, 1, &res);
  sim_result_clear(&res);
  assert_null(pm[0]);
  sqlite3_mutex_enter(pm[2]); /* its seam mutex was the run's: a new one */
  assert_true(M->xMutexHeld(pm[2]));
  sqlite3_mutex_leave(pm[2]);
  sqlite3_mutex_free(pm[2]);
}

/* The seam cannot make a mutex: in a task the run fails there; in setup the
** failure is recorded and SQLite goes on unguarded. */
static void enter_app3(void *state) {
  (void)state;
  fw_inject(FW_CALLOC, ENOMEM, 1);
  sqlite3_mutex_enter(sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_APP3));
}
P_PROGRAM(app3, enter_app3);

static int app3_in_setup(pst *st) {
  (void)st;
  sqlite3_mutex *p = sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_APP3);
  fw_inject(FW_CALLOC, ENOMEM, 1);
  sqlite3_mutex_enter(p);
  sqlite3_mutex_leave(p);
  return AS_OK;
}

static void test_seam_mutex_cannot_be_made(void **state) {
  (void)state;
  for (int in_setup = 0; in_setup < 2; in_setup++) {
    fresh();
    setup_hook = in_setup ? app3_in_setup : NULL;
    sim_config cfg = sdb_config(1);
    sim_result res;
    assert_int_equal(sim_run(S, in_setup ? &nothing_prog : &app3_prog, &cfg, &res), AS_OK);
    assert_int_equal(res.outcome, SIM_ASSERT);
    assert_non_null(strstr(res.message, "p->m != NULL"));
    sim_result_clear(&res);
  }
  fw_reset();
}

/* --- the API on its error paths ------------------------------------------------------ */

static void api_main(void *state) {
  pst *st = state;
  TEQ(simdb_install(), AS_BUSY);
  TEQ(simdb_uninstall(), AS_BUSY);
  simdb_disk *d = (void *)1;
  simdb_disk_config big = {.capacity = SIMDB_MAX_CAPACITY + 1};
  TEQ(simdb_disk_new(&d, &big), AS_INVAL);
  TCHECK(d == NULL);
  simdb_disk_config many = {.max_files = SIMDB_MAX_FILES + 1};
  TEQ(simdb_disk_new(&d, &many), AS_INVAL);
  simdb_malloc_fail_after(1, false);
  TEQ(simdb_disk_new(&d, NULL), AS_NOMEM);
  TCHECK(simdb_malloc_fired());
  /* Disks that are not the default: one freed while a newer one lives,
  ** one left for simdb_run_end. */
  simdb_disk *older = NULL;
  TEQ(simdb_disk_new(&older, NULL), AS_OK);
  TEQ(simdb_disk_new(&d, NULL), AS_OK);
  TCHECK(d != st->disk && older != st->disk);
  simdb_disk_free(older);
}
P_PROGRAM(api, api_main);

/* SQLite shut down behind simdb's back, and unable to start again. */
static int broken_sqlite(pst *st) {
  (void)st;
  simdb_disk *d = NULL;
  obs.rc[0] = sqlite3_shutdown();
  /* The 1st allocation is the disk's; the 2nd, SQLite's first as it
  ** initialises itself to register the disk's VFS. */
  simdb_malloc_fail_after(2, false);
  obs.rc[1] = simdb_disk_new(&d, NULL);
  obs.rc[4] = simdb_malloc_fired();
  obs.rc[2] = sqlite3_initialize();
  obs.rc[3] = sqlite3_vfs_register(sqlite3_vfs_find(SIMDB_VFS_NAME), 1);
  return AS_OK;
}

/* A run that ended its simdb world early cannot make disks. */
static int disk_without_begin(pst *st) {
  simdb_disk *d = NULL;
  (void)st;
  (void)simdb_run_end(); /* ignore: nothing to sweep yet */
  obs.rc[0] = simdb_disk_new(&d, NULL);
  return AS_OK;
}

static void test_api_errors(void **state) {
  (void)state;
  fresh();
  sim_result res;
  sdb_run(&api_prog, 1, &res);
  sim_result_clear(&res);
  assert_int_equal(obs.swept, 0);

  simdb_disk *d = (void *)1;
  assert_int_equal(simdb_disk_new(&d, NULL), AS_INVAL); /* outside a run */
  assert_null(d);
  fresh();
  setup_hook = disk_without_begin;
  sdb_run(&nothing_prog, 1, &res);
  sim_result_clear(&res);
  assert_int_equal(obs.rc[0], AS_INVAL);
  assert_int_equal(simdb_run_begin(), AS_INVAL);

  fresh();
  setup_hook = broken_sqlite;
  sdb_run(&nothing_prog, 1, &res);
  sim_result_clear(&res);
  assert_int_equal(obs.rc[0], SQLITE_OK);
  assert_int_equal(obs.rc[1], AS_NOMEM);
  assert_int_equal(obs.rc[2], SQLITE_OK);
  assert_int_equal(obs.rc[3], SQLITE_OK);
  assert_int_equal(obs.rc[4], 1);

  /* Not installed: a run cannot begin. */
  assert_int_equal(simdb_uninstall(), AS_OK);
  fresh();
  sim_config cfg = sdb_config(1);
  assert_int_equal(sim_run(S, &nothing_prog, &cfg, &res), AS_INVAL);
  sim_result_clear(&res);

  /* SQLite cannot initialise with the counting allocator: install fails
  ** and SQLite's own configuration is back. */
  simdb_malloc_fail_after(1, false);
  assert_int_equal(simdb_install(), AS_NOMEM);
  assert_false(simdb_installed());
  simdb_malloc_fail_after(0, false);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
  assert_int_equal(sqlite3_close(db), SQLITE_OK);
  assert_int_equal(simdb_install(), AS_OK);

  /* ... nor to uninstall (it must reach SQLite to unregister simvfs). */
  assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
  simdb_malloc_fail_after(1, true);
  assert_int_equal(simdb_uninstall(), AS_INTERNAL);
  assert_true(simdb_installed());
  simdb_malloc_fail_after(0, false);
  assert_int_equal(simdb_uninstall(), AS_OK);
  assert_int_equal(simdb_install(), AS_OK);
}

int main(void) {
  (void)alarm(300); /* ignore: no earlier alarm; a hang dies of SIGALRM */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vfs_methods),
      cmocka_unit_test(test_sleep_and_randomness_outside_tasks),
      cmocka_unit_test(test_mutexes_in_a_run),
      cmocka_unit_test(test_abandoned_mutex_holder),
      cmocka_unit_test(test_mutexes_across_platforms),
      cmocka_unit_test(test_seam_mutex_cannot_be_made),
      cmocka_unit_test(test_api_errors),
  };
  return cmocka_run_group_tests(tests, sdb_group_setup, sdb_group_teardown);
}

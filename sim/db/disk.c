/*
** disk.c -- the simulated machine's storage: named in-memory files, each
** with a current and a durable image, in one flat directory with a current
** and a durable version; caps; power loss; the fault draws (the scheduling
** points and the time the VFS calls take: latency.c).
**
** Durability model, after what Linux file systems guarantee (POSIX fsync;
** ext4 and xfs in their default modes):
**
**   data     A file's durable image is what its last successful xSync
**            persisted. Writes since then live in the page cache (the
**            current image) as dirty sectors of SIMDB_SECTOR_SIZE bytes.
**   names    fsync of a file does not make its new name, or an unlink of
**            it, durable (fsync(2): "Calling fsync() does not necessarily
**            ensure that the entry in the directory containing the file
**            has also reached disk. For that an explicit fsync() on a file
**            descriptor for the directory is also needed"). So the disk
**            keeps a durable directory next to the current one, and a
**            directory sync (simdb__dir_sync: the whole directory, every
**            pending create and unlink) is what moves it on. SQLite's unix
**            VFS syncs the directory in exactly two places, and so do we:
**            xDelete with dirSync set (the pager passes it only under
**            synchronous=EXTRA), and the first xSync of a handle opened
**            with SQLITE_OPEN_CREATE as a main or super journal or a WAL
**            (os_unix.c's UNIXFILE_DIRSYNC).
**   fsync    A failed fsync (the AS_FP_VFS_SYNC fault) may drop the dirty
**            data it was to persist, as Linux does after EIO (the
**            "fsyncgate" behaviour since 4.13): the pages are marked clean,
**            the current image keeps the new bytes, the durable one the
**            old, and a later successful fsync does not persist them.
**   power    simdb_crash: names go back to the durable directory (a file
**            created since vanishes; an unlinked one whose unlink was never
**            synced comes back with its durable content). Each surviving
**            file: when tearing is on (AS_FP_VFS_TEAR), every sector
**            written since its last sync independently reaches the disk
**            (new content) or not (old durable content), and a file whose
**            length changed keeps its durable length or its current one;
**            tearing off, nothing unsynced survives. Bytes of a sector that
**            were never written are never damaged, so the VFS may declare
**            SQLITE_IOCAP_POWERSAFE_OVERWRITE, and nothing stronger.
**   truncate A truncation is metadata, logged by the file system's journal
**            in order with what follows it. One not yet durable at power
**            loss (drawn like a length) either reached the disk, and what
**            it cut is gone for good (written again since, it reads as the
**            new bytes or as zeros, never as the old ones), or did not, and
**            neither did anything logged after it: the file keeps its
**            durable length and its old bytes from the cut on, whole. The
**            blocks a truncation frees are not the ones later writes get,
**            so old bytes past a cut never mix with new ones (ext4 and xfs;
**            a file system that reuses them at once is the "older file
**            system" SQLite warns of for synchronous=NORMAL). A failed
**            fsync leaves a truncation as undecided as it was.
**
** Files deleted while open live on (like an unlinked inode) until their
** last handle closes and no durable name refers to them. Handles opened
** before a crash are "old": the VFS fails their calls; the disk only counts
** them so that an orphaned file is freed when the last one closes.
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "simdb_int.h"

/* The disk's own memory: counted by the countdown, not by the allocator
** (a disk is freed by simdb_disk_free, not by the run's sweep). */
static void *dalloc(size_t n) { return simdb__alloc_fails() ? NULL : calloc(1, n); }

static void *drealloc(void *p, size_t n) {
  return simdb__alloc_fails() ? NULL : realloc(p, n);
}

bool simdb__draw(as_fault_point point, uint32_t ppm) {
  if (ppm == 0) return false;
  sim_fault_rate(point, ppm); /* this rate, for this one draw */
  return as_fault(point);
}

bool simdb__fault(simdb_disk *d, as_fault_point point) {
  return simdb__draw(point, d->fault_ppm[point]);
}

void simdb_disk_fault_rate(simdb_disk *d, unsigned point, uint32_t ppm) {
  if (point >= AS_FP_VFS_READ && point <= AS_FP_VFS_TEAR) d->fault_ppm[point] = ppm;
}

bool simdb__norm_name(const char *name, char *out, size_t cap) {
  size_t n = strlen(name);
  const char *slash = name[0] == '/' ? "" : "/";
  size_t len = n + strlen(slash);
  if (len > SIMDB_NAME_MAX || len >= cap) return false;
  (void)snprintf(out, cap, "%s%s", slash, name); /* ignore: it fits, checked above */
  return true;
}

sfile *simdb__file_find(simdb_disk *d, const char *norm) {
  for (sfile *f = d->files.next; f != &d->files; f = f->next)
    if (f->linked && strcmp(f->name, norm) == 0) return f;
  return NULL;
}

int simdb__file_create(simdb_disk *d, const char *norm, sfile **out) {
  if (d->nfiles >= d->cfg.max_files) return SQLITE_CANTOPEN;
  sfile *f = dalloc(sizeof *f);
  if (!f) return SQLITE_NOMEM;
  f->disk = d;
  (void)snprintf(f->name, sizeof f->name, "%s", norm); /* ignore: norm fits by construction */
  f->id = ++d->next_file_id;
  f->linked = true; /* the durable directory learns it at a directory sync */
  f->next = d->files.next;
  f->prev = &d->files;
  d->files.next->prev = f;
  d->files.next = f;
  d->nfiles++;
  *out = f;
  return SQLITE_OK;
}

static void file_free(sfile *f) {
  simdb_disk *d = f->disk;
  f->prev->next = f->next;
  f->next->prev = f->prev;
  if (f->linked) d->nfiles--;
  d->used -= f->cur.len;
  free(f->cur.buf);
  free(f->dur.buf);
  free(f->dirty);
  free(f);
}

/* Nothing refers to f any more: no name, durable or current, no handle. */
static void file_maybe_free(sfile *f) {
  if (!f->linked && !f->dlinked && f->nref + f->nref_old == 0) file_free(f);
}

void simdb__file_unlink(sfile *f) {
  f->linked = false;
  f->disk->nfiles--;
  file_maybe_free(f);
}

void simdb__file_release(sfile *f, bool old) {
  if (old)
    f->nref_old--;
  else
    f->nref--;
  file_maybe_free(f);
}

void simdb__dir_sync(simdb_disk *d) {
  sfile *next;
  for (sfile *f = d->files.next; f != &d->files; f = next) {
    next = f->next;
    f->dlinked = f->linked;
    file_maybe_free(f);
  }
}

/* Room for n bytes; the capacity never shrinks (a crash restores the
** durable image into it without allocating). */
static AS_WUR int image_reserve(image *im, size_t n) {
  if (n <= im->cap) return SQLITE_OK;
  size_t cap = im->cap ? im->cap : 4096;
  while (cap < n) cap *= 2;
  unsigned char *nb = drealloc(im->buf, cap);
  if (!nb) return SQLITE_IOERR_NOMEM;
  im->buf = nb;
  im->cap = cap;
  return SQLITE_OK;
}

#define SECTOR ((size_t)SIMDB_SECTOR_SIZE)

/* Room for n bytes in both images and the dirty map (one byte per sector
** of cur.cap, a power of two >= 4096, so a whole number of sectors). The
** durable image grows with the current one, so that power loss, which may
** keep the current length, never needs memory. The map grows first: it
** always covers cur.cap. */
static AS_WUR int file_reserve(sfile *f, size_t n) {
  if (n <= f->cur.cap) return SQLITE_OK;
  size_t cap = f->cur.cap ? f->cur.cap : 4096;
  while (cap < n) cap *= 2;
  size_t old = f->cur.cap / SECTOR;
  unsigned char *nd = drealloc(f->dirty, cap / SECTOR);
  if (!nd) return SQLITE_IOERR_NOMEM;
  memset(nd + old, 0, cap / SECTOR - old);
  f->dirty = nd;
  int rc = image_reserve(&f->dur, cap);
  return rc == SQLITE_OK ? image_reserve(&f->cur, cap) : rc;
}

static void mark_dirty(sfile *f, size_t off, size_t n) {
  if (n == 0) return;
  for (size_t s = off / SECTOR; s <= (off + n - 1) / SECTOR; s++) f->dirty[s] = 1;
}

int simdb__file_resize(sfile *f, uint64_t len) {
  simdb_disk *d = f->disk;
  if (len > f->cur.len) {
    if (simdb__fault(d, AS_FP_VFS_FULL)) return SQLITE_FULL;
    if (len > d->cfg.max_file_size || d->used + (len - f->cur.len) > d->cfg.capacity)
      return SQLITE_FULL;
    int rc = file_reserve(f, (size_t)len);
    if (rc != SQLITE_OK) return rc;
    memset(f->cur.buf + f->cur.len, 0, (size_t)len - f->cur.len);
    mark_dirty(f, f->cur.len, (size_t)len - f->cur.len); /* the zeros are new */
  }
  d->used = d->used - f->cur.len + len;
  f->cur.len = (size_t)len;
  if (f->cut > f->cur.len) f->cut = f->cur.len;
  return SQLITE_OK;
}

int simdb__file_write(sfile *f, const void *buf, size_t n, uint64_t off) {
  uint64_t end = off + n;
  if (end > f->cur.len) {
    int rc = simdb__file_resize(f, end);
    if (rc != SQLITE_OK) return rc;
  }
  memcpy(f->cur.buf + off, buf, n);
  mark_dirty(f, (size_t)off, n);
  return SQLITE_OK;
}

/* The durable image's length becomes len; what it gains reads as zeros
** (blocks allocated but never written). dur.cap >= cur.cap >= len. */
static void dur_set_len(sfile *f, size_t len) {
  if (len > f->dur.len) memset(f->dur.buf + f->dur.len, 0, len - f->dur.len);
  f->dur.len = len;
}

/* Sector s of the current image, clipped to the first `top` bytes, into
** the durable image (whose length is at least top). */
static void sector_persist(sfile *f, size_t s, size_t top) {
  size_t a = s * SECTOR, b = a + SECTOR < top ? a + SECTOR : top;
  if (a < b) memcpy(f->dur.buf + a, f->cur.buf + a, b - a);
}

static size_t sectors_of(size_t len) { return (len + SECTOR - 1) / SECTOR; }

/* A truncation since the durable image last caught up reaches it: the
** bytes past the cut are gone (what grows back reads as zeros). */
static void dur_cut(sfile *f) {
  if (f->cut < f->dur.len) f->dur.len = f->cut;
}

void simdb__file_sync(sfile *f) {
  dur_cut(f);
  dur_set_len(f, f->cur.len);
  for (size_t s = 0; s < sectors_of(f->cur.len); s++)
    if (f->dirty[s]) sector_persist(f, s, f->cur.len);
  simdb__file_drop(f);
  f->cut = f->cur.len;
}

void simdb__file_drop(sfile *f) {
  if (f->dirty) memset(f->dirty, 0, f->cur.cap / SECTOR);
}

/* --- crashes ------------------------------------------------------------------ */

void simdb__shm_node_free(shm_node *n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
  if (n->file) n->file->shm = NULL;
  for (unsigned i = 0; i < n->nregion; i++) free(n->region[i]);
  free(n->region);
  free(n);
}

/* What of f power loss keeps, into its durable image, then the current
** one. First a truncation not yet durable: it reached the disk (drawn) or
** it did not, and then nothing past the cut did either. Then the length:
** the durable one or (drawn) the current one. Then each sector written
** since the last sync, drawn independently; only sectors inside the kept
** length, the current image and what the truncation left reachable can
** have new content. With the tear rate 0 nothing is drawn and nothing
** unsynced survives. */
static void power_loss(sfile *f) {
  simdb_disk *d = f->disk;
  size_t reach = f->cur.len; /* where new bytes can land */
  bool regrow = true;        /* the length may become the current one */
  if (f->cut < f->dur.len) {
    if (simdb__fault(d, AS_FP_VFS_TEAR)) {
      dur_cut(f);
    } else {
      reach = f->cut;
      regrow = false;
    }
  }
  size_t len = f->dur.len;
  if (regrow && f->cur.len != f->dur.len && simdb__fault(d, AS_FP_VFS_TEAR)) len = f->cur.len;
  size_t top = len < reach ? len : reach;
  dur_set_len(f, len);
  for (size_t s = 0; s < sectors_of(top); s++)
    if (f->dirty[s] && simdb__fault(d, AS_FP_VFS_TEAR)) sector_persist(f, s, top);
  simdb__file_drop(f);
  d->used = d->used - f->cur.len + len;
  if (len) memcpy(f->cur.buf, f->dur.buf, len); /* cur.cap >= dur.len */
  f->cur.len = len;
  f->cut = len;
}

void simdb_crash(simdb_disk *d) {
  d->epoch++;
  d->crashes++;
  d->crash_after = 0;
  sim_emit(SIM_EV_DISK_CRASH, d->crashes, d->epoch, NULL);
  sfile *next;
  for (sfile *f = d->files.next; f != &d->files; f = next) {
    next = f->next;
    f->nref_old += f->nref;
    f->nref = 0;
    f->nshared = 0;
    f->writer = NULL;
    f->reserved = false;
    f->pending = f->exclusive = false;
    if (f->shm) {
      /* Old connections may still read the regions they mapped: the node
      ** lives until they unmap (it has handles, or it would be gone), but
      ** new connections get a fresh one. */
      f->shm->file = NULL;
      f->shm = NULL;
    }
    if (f->dlinked) {
      /* The name is durable: the file is there after the reboot, an unlink
      ** that was never synced undone. */
      if (!f->linked) d->nfiles++;
      f->linked = true;
      power_loss(f);
    } else if (f->linked) {
      simdb__file_unlink(f); /* created since the last directory sync */
    }
  }
}

bool simdb__crash_due(simdb_disk *d) {
  if (d->crash_after == 0 || --d->crash_after > 0) return false;
  simdb_crash(d);
  return true;
}

void simdb_disk_crash_after(simdb_disk *d, uint64_t n) { d->crash_after = n; }

uint64_t simdb_disk_crashes(const simdb_disk *d) { return d->crashes; }

/* --- the disk ----------------------------------------------------------------- */

int simdb_disk_new(simdb_disk **out, const simdb_disk_config *cfg) {
  static const simdb_disk_config defaults = {0, 0, 0};
  const simdb_disk_config *c = cfg ? cfg : &defaults;
  *out = NULL;
  if (!simdb__run_begun()) return AS_INVAL;
  if (c->capacity > SIMDB_MAX_CAPACITY || c->max_files > SIMDB_MAX_FILES) return AS_INVAL;
  simdb_disk *d = dalloc(sizeof *d);
  if (!d) return AS_NOMEM;
  d->cfg.capacity = c->capacity ? c->capacity : SIMDB_DEFAULT_CAPACITY;
  d->cfg.max_file_size = c->max_file_size ? c->max_file_size : SIMDB_DEFAULT_MAX_FILE;
  d->cfg.max_files = c->max_files ? c->max_files : SIMDB_DEFAULT_MAX_FILES;
  d->files.next = d->files.prev = &d->files;
  d->nodes.next = d->nodes.prev = &d->nodes;
  d->vfs = simdb__vfs;
  d->vfs.zName = d->vfs_name;
  d->vfs.pAppData = d;
  simdb__latency_init(d);
  if (sqlite3_vfs_register(&d->vfs, 0) != SQLITE_OK) {
    free(d);
    return AS_NOMEM; /* SQLite had to initialise itself, and could not */
  }
  simdb__run_disk_add(d); /* names the VFS and may make d the default */
  *out = d;
  return AS_OK;
}

void simdb_disk_free(simdb_disk *d) {
  if (!d) return;
  /* Fails only if SQLite cannot initialise itself; the disk is gone either
  ** way, and SQLite must not keep a pointer into it, so there is nothing
  ** better to do than go on. */
  (void)sqlite3_vfs_unregister(&d->vfs); /* ignore: see above */
  simdb__run_disk_remove(d);
  /* Handles still open (a run's leftovers) are never used again. */
  while (d->nodes.next != &d->nodes) simdb__shm_node_free(d->nodes.next);
  while (d->files.next != &d->files) file_free(d->files.next);
  free(d);
}

const char *simdb_disk_vfs(const simdb_disk *d) { return d->vfs_name; }

int simdb_disk_stat(const simdb_disk *d, const char *name, simdb_file_info *out) {
  char norm[SIMDB_NAME_MAX + 1];
  if (!simdb__norm_name(name, norm, sizeof norm)) return AS_NOTFOUND;
  sfile *f = simdb__file_find((simdb_disk *)d, norm);
  if (!f) return AS_NOTFOUND;
  out->size = f->cur.len;
  out->durable_size = f->dur.len;
  out->durable = f->dlinked;
  out->handles = f->nref;
  return AS_OK;
}

uint64_t simdb_disk_used(const simdb_disk *d) { return d->used; }

void simdb_disk_publish(const simdb_disk *d) {
  /* Oldest file first: the list is newest first. */
  for (const sfile *f = d->files.prev; f != &d->files; f = f->prev) {
    if (!f->linked) continue;
    sim_publish(&(sim_ev){.kind = SIM_EV_DISK_IMAGE, .object = f->id, .extra = f->cur.len,
                          .label = f->name, .data = f->cur.buf, .len = f->cur.len});
  }
}

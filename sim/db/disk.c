/*
** disk.c -- the simulated machine's storage: named in-memory files, each
** with a current and a durable image; caps; crashes; the fault draws and
** the scheduling points the VFS calls make (latency.c).
**
** Crash model (simdb_crash): what was synced survives, nothing else does.
** A file is durable once synced; its durable image is the content at its
** last xSync. Deleting is durable at once. Files deleted while open live on
** (like an unlinked inode) until their last handle closes. Handles opened
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

bool simdb__fault(simdb_disk *d, as_fault_point point) {
  uint32_t ppm = d->fault_ppm[point];
  if (ppm == 0) return false;
  sim_fault_rate(point, ppm); /* the disk's rate, for this one draw */
  return as_fault(point);
}

void simdb_disk_fault_rate(simdb_disk *d, unsigned point, uint32_t ppm) {
  if (point >= AS_FP_VFS_READ && point <= AS_FP_VFS_LOCK_BUSY) d->fault_ppm[point] = ppm;
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
  f->linked = true;
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
  free(f);
}

void simdb__file_unlink(sfile *f) {
  f->linked = false;
  f->disk->nfiles--;
  if (f->nref + f->nref_old == 0) file_free(f);
}

void simdb__file_release(sfile *f, bool old) {
  if (old)
    f->nref_old--;
  else
    f->nref--;
  if (!f->linked && f->nref + f->nref_old == 0) file_free(f);
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

int simdb__file_resize(sfile *f, uint64_t len) {
  simdb_disk *d = f->disk;
  if (len > f->cur.len) {
    if (simdb__fault(d, AS_FP_VFS_FULL)) return SQLITE_FULL;
    if (len > d->cfg.max_file_size || d->used + (len - f->cur.len) > d->cfg.capacity)
      return SQLITE_FULL;
    int rc = image_reserve(&f->cur, (size_t)len);
    if (rc != SQLITE_OK) return rc;
    memset(f->cur.buf + f->cur.len, 0, (size_t)len - f->cur.len);
  }
  d->used = d->used - f->cur.len + len;
  f->cur.len = (size_t)len;
  return SQLITE_OK;
}

int simdb__file_sync(sfile *f) {
  int rc = image_reserve(&f->dur, f->cur.len);
  if (rc != SQLITE_OK) return rc;
  if (f->cur.len) memcpy(f->dur.buf, f->cur.buf, f->cur.len);
  f->dur.len = f->cur.len;
  f->durable = true;
  return SQLITE_OK;
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
    if (!f->linked) continue;
    if (!f->durable) {
      simdb__file_unlink(f);
      continue;
    }
    /* cur.cap >= dur.len: the durable image was copied from cur. */
    d->used = d->used - f->cur.len + f->dur.len;
    if (f->dur.len) memcpy(f->cur.buf, f->dur.buf, f->dur.len);
    f->cur.len = f->dur.len;
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
  out->durable = f->durable;
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

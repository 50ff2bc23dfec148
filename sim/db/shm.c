/*
** shm.c -- WAL's shared memory (the wal-index) for the simulated disk.
**
** One node per file and boot holds the regions every connection maps and
** the 8 shm locks (each: a count of SHARED holders and at most one
** EXCLUSIVE one). A node lives while a handle has it mapped: when the last
** one unmaps, it goes, and the next connection rebuilds the wal-index from
** the WAL file, as a unix connection that finds no other one does. A crash
** detaches the node from its file so old connections can still read what
** they mapped while new ones start afresh.
**
** xShmLock and xShmBarrier are scheduling points: the barrier is where, on
** a real machine, other processes' writes to the wal-index become visible.
*/
#include <stdlib.h>

#include "sim.h"
#include "simdb_int.h"

static shm_node *node_new(simdb_disk *d, sfile *f, unsigned region_size) {
  shm_node *n = simdb__alloc_fails() ? NULL : calloc(1, sizeof *n);
  if (!n) return NULL;
  n->file = f;
  n->region_size = region_size;
  n->next = d->nodes.next;
  n->prev = &d->nodes;
  d->nodes.next->prev = n;
  d->nodes.next = n;
  f->shm = n;
  return n;
}

/* Regions up to and including `last`; SQLITE_OK or SQLITE_IOERR_NOMEM. */
static int node_grow(shm_node *n, unsigned last) {
  unsigned char **nr = simdb__alloc_fails() ? NULL
                                            : realloc(n->region, (last + 1) * sizeof *nr);
  if (!nr) return SQLITE_IOERR_NOMEM;
  n->region = nr;
  while (n->nregion <= last) {
    unsigned char *r = simdb__alloc_fails() ? NULL : calloc(1, n->region_size);
    if (!r) return SQLITE_IOERR_NOMEM;
    n->region[n->nregion++] = r;
  }
  return SQLITE_OK;
}

int simdb__shm_map(sqlite3_file *fp, int region, int size, int extend, void volatile **pp) {
  shandle *h = (shandle *)fp;
  *pp = NULL;
  if (simdb__stale(h)) return SQLITE_IOERR;
  shm_node *n = h->shm;
  if (!n) {
    n = h->f->shm ? h->f->shm : node_new(h->disk, h->f, (unsigned)size);
    if (!n) return SQLITE_IOERR_NOMEM;
    n->nref++;
    h->shm = n;
  }
  if ((unsigned)region >= n->nregion) {
    if (!extend) return SQLITE_OK;
    int rc = node_grow(n, (unsigned)region);
    if (rc != SQLITE_OK) return rc;
  }
  *pp = n->region[region];
  return SQLITE_OK;
}

/* Give up h's shm locks in mask. */
static void release(shandle *h, shm_node *n, unsigned mask) {
  for (unsigned i = 0; i < SHM_NLOCK; i++) {
    unsigned bit = 1u << i;
    if (!(mask & bit)) continue;
    if (h->shm_shared & bit) n->nshared[i]--;
    if (h->shm_excl & bit) n->excl[i] = NULL;
  }
  h->shm_shared &= (uint16_t)~mask;
  h->shm_excl &= (uint16_t)~mask;
}

int simdb__shm_lock(sqlite3_file *fp, int ofst, int count, int flags) {
  shandle *h = (shandle *)fp;
  simdb__io_point(h->disk, SIM_EV_DISK_SHM_LOCK, (uint64_t)(unsigned)ofst, (uint64_t)(unsigned)(count << 8 | flags), NULL);
  if (simdb__stale(h)) return SQLITE_IOERR;
  shm_node *n = h->shm;
  if (!n) return SQLITE_IOERR_SHMLOCK;
  unsigned mask = ((1u << count) - 1u) << ofst;
  if (flags & SQLITE_SHM_UNLOCK) {
    release(h, n, mask);
    return SQLITE_OK;
  }
  if (simdb__fault(h->disk, AS_FP_VFS_LOCK_BUSY)) return SQLITE_BUSY;
  if (flags & SQLITE_SHM_SHARED) { /* one slot */
    if (!(h->shm_shared & mask)) {
      if (n->excl[ofst] && n->excl[ofst] != h) return SQLITE_BUSY;
      n->nshared[ofst]++;
      h->shm_shared |= (uint16_t)mask;
    }
    return SQLITE_OK;
  }
  for (int i = ofst; i < ofst + count; i++) {
    unsigned own = (h->shm_shared >> i) & 1u;
    if ((n->excl[i] && n->excl[i] != h) || n->nshared[i] > own) return SQLITE_BUSY;
  }
  for (int i = ofst; i < ofst + count; i++) n->excl[i] = h;
  h->shm_excl |= (uint16_t)mask;
  return SQLITE_OK;
}

void simdb__shm_barrier(sqlite3_file *fp) {
  shandle *h = (shandle *)fp;
  simdb__io_point(h->disk, SIM_EV_DISK_SHM_BARRIER, 0, 0, NULL);
}

int simdb__shm_unmap(sqlite3_file *fp, int delete_flag) {
  shandle *h = (shandle *)fp;
  shm_node *n = h->shm;
  (void)delete_flag; /* memory only: nothing stays behind */
  if (!n) return SQLITE_OK;
  release(h, n, (1u << SHM_NLOCK) - 1u);
  h->shm = NULL;
  if (--n->nref == 0) simdb__shm_node_free(n);
  return SQLITE_OK;
}

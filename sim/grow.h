/*
** grow.h -- the one growable-array helper of sim/ (and of what is built on
** it: the scenario format, the oracle, the tool).
**
** An array is three things the caller keeps: a pointer (NULL when empty), a
** count and a capacity. sim_grow makes room; it never shrinks and never
** moves the count. Capacity doubles from 16 elements, so appends are
** amortised O(1), and every array has a hard cap (STYLE.md rule 4).
*/
#ifndef AGENTSIM_SIM_GROW_H
#define AGENTSIM_SIM_GROW_H

#include <stddef.h>

#include "agentsim/status.h"

/* Make room for `need` elements of `elem` bytes in the array whose pointer
** is at `arrp` (a T **, passed as void *) and whose capacity is *cap.
** AS_TOOBIG when need > max (nothing changes), AS_NOMEM when the memory is
** not there (the old array stays the caller's). Memory comes from malloc. */
AS_WUR int sim_grow(void *arrp, size_t *cap, size_t need, size_t elem, size_t max);

#endif

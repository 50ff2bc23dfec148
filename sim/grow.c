/*
** grow.c -- the growable-array helper (grow.h).
*/
#include "grow.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int sim_grow(void *arrp, size_t *cap, size_t need, size_t elem, size_t max) {
  if (need <= *cap) return AS_OK;
  if (need > max || elem == 0) return AS_TOOBIG;
  size_t nc = *cap ? *cap : 16;
  while (nc < need) nc = nc > SIZE_MAX / 2 ? need : nc * 2;
  if (nc > max) nc = max;
  if (nc > SIZE_MAX / elem) return AS_TOOBIG;
  void *old;
  memcpy(&old, arrp, sizeof old); /* a T ** seen as a void **, well defined */
  void *nw = realloc(old, nc * elem);
  if (!nw) return AS_NOMEM;
  memcpy(arrp, &nw, sizeof nw);
  *cap = nc;
  return AS_OK;
}

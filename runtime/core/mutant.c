/*
** mutant.c -- the switch behind AS_MUTANT (mutant.h). Compiled into the sim
** library (as_core_mut) only: the production library has no such object.
*/
#include <string.h>

#include "agentsim/mutant.h"

int as__mutant_active = AS_MUT_NONE;

static const as_mutant_info mutants[] = {
#define AS__MUT_INFO(NAME, name, what) {AS_MUT_##NAME, #name, what},
    AS_MUTANT_MAP(AS__MUT_INFO)
#undef AS__MUT_INFO
};

#define N_MUTANTS (sizeof mutants / sizeof mutants[0])

int as_mutant_set(const char *name) {
  if (!name || !*name || strcmp(name, "none") == 0) {
    as__mutant_active = AS_MUT_NONE;
    return AS_OK;
  }
  for (size_t i = 0; i < N_MUTANTS; i++) {
    if (strcmp(mutants[i].name, name) == 0) {
      as__mutant_active = (int)mutants[i].id;
      return AS_OK;
    }
  }
  return AS_NOTFOUND;
}

const char *as_mutant_active(void) {
  for (size_t i = 0; i < N_MUTANTS; i++)
    if ((int)mutants[i].id == as__mutant_active) return mutants[i].name;
  return NULL;
}

const as_mutant_info *as_mutant_list(size_t *n) {
  if (n) *n = N_MUTANTS;
  return mutants;
}

/*
** simfix.h -- the cmocka group fixture of tests that run programs in one
** simulator: S, made by setup and freed by teardown. Include after cmocka.h.
*/
#ifndef AGENTSIM_TESTS_SIMFIX_H
#define AGENTSIM_TESTS_SIMFIX_H

#include "sim.h"

static sim *S;

static int setup(void **state) {
  (void)state;
  return sim_new(&S, SIM_SWITCH_FCONTEXT, 0) == AS_OK ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  sim_free(S);
  return 0;
}

#endif

/*
** fuzz_scenario.c -- the scenario file parser (scn_parse).
**
** Beyond crash-hunting it checks the parser's contract on every input:
** - a refusal is AS_PARSE or AS_TOOBIG with a "FILE:LINE:COL: expected"
**   message and leaves the scenario zeroed, owning nothing (nothing
**   half-written, nothing leaked);
** - an accepted scenario satisfies every documented bound;
** - scn_format writes it back as text that parses to the same scenario.
*/
#include "fuzz_common.h"

#include <stddef.h>
#include <string.h>

#include "scenario/scenario.h"

static scenario sc, again;
static char text[512 * 1024];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_init();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[256];
  if (size > FUZZ_MAX_INPUT) return 0;
  int rc = scn_parse("fuzz.scn", (const char *)data, size, &sc, err, sizeof err);
  if (rc != AS_OK) {
    FUZZ_CHECK(rc == AS_PARSE || rc == AS_TOOBIG);
    FUZZ_CHECK(strncmp(err, "fuzz.scn:", 9) == 0 && strstr(err, ": expected ") != NULL);
    /* Nothing half-written, nothing left allocated. */
    FUZZ_CHECK(sc.nactors == 0 && sc.name[0] == '\0' && sc.nlegacy == 0);
    FUZZ_CHECK(sc.actors == NULL && sc.legacy == NULL);
    return 0;
  }
  FUZZ_CHECK(sc.name[0] != '\0');
  FUZZ_CHECK(sc.sessions >= 1 && sc.sessions <= SCN_MAX_SESSIONS);
  FUZZ_CHECK(sc.nactors >= 1 && sc.nactors <= SCN_MAX_ACTORS);
  FUZZ_CHECK(sc.nlegacy <= SCN_MAX_LEGACY);
  for (uint32_t i = 0; i < sc.nactors; i++) {
    const scn_actor *a = &sc.actors[i];
    FUZZ_CHECK(a->count >= 1 && a->count <= SCN_MAX_COUNT);
    FUZZ_CHECK(a->nops >= 1 && a->nops <= SCN_MAX_OPS);
    for (uint32_t j = 0; j < a->nops; j++) {
      const scn_op *op = &a->ops[j];
      FUZZ_CHECK((unsigned)op->kind < SCN__OP_COUNT);
      FUZZ_CHECK(op->repeat >= 1 && op->repeat <= SCN_MAX_REPEAT);
      FUZZ_CHECK(op->session == SCN_ANY || op->session == SCN_ALL || op->session < sc.sessions);
      FUZZ_CHECK(op->retry <= SCN_MAX_RETRY && op->state < SCN_NSTATES);
    }
  }
  size_t len = 0;
  rc = scn_format(&sc, text, sizeof text, &len);
  FUZZ_CHECK(rc == AS_OK);
  rc = scn_parse("formatted", text, len, &again, err, sizeof err);
  if (rc != AS_OK) fprintf(stderr, "reparse: %s\n%s", err, text);
  FUZZ_CHECK(rc == AS_OK);
  FUZZ_CHECK(scn_equal(&sc, &again));
  scn_clear(&sc);
  scn_clear(&again);
  return 0;
}

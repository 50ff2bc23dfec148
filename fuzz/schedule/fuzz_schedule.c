/*
** fuzz_schedule.c -- the schedule-string decoder (sim_schedule_decode).
**
** Beyond crash-hunting it checks the codec's contract on every input:
** - a rejected string gets AS_PARSE or AS_TOOBIG, a message, and leaves
**   nothing allocated in the struct;
** - an accepted string re-encodes into a shell-safe "v3:" string that
**   decodes to the same seeds, decisions, wakeups and faults;
** - that encoding is canonical: encoding the decoded copy gives it back.
*/
#include "fuzz_common.h"

#include <string.h>

#include "schedule.h"

static const char shell_safe[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:._-";

static int same_schedule(const sim_schedule *a, const sim_schedule *b) {
  if (a->fingerprint != b->fingerprint || a->seed_faults != b->seed_faults || a->seed_workload != b->seed_workload ||
      a->seed_llm != b->seed_llm || a->seed_runtime != b->seed_runtime || a->ndec != b->ndec)
    return 0;
  if (a->ndec && memcmp(a->dec, b->dec, a->ndec * sizeof *a->dec) != 0) return 0;
  if (a->nwakeups != b->nwakeups || a->nfaults != b->nfaults) return 0;
  for (size_t i = 0; i < a->nwakeups; i++)
    if (a->wakeups[i].step != b->wakeups[i].step || a->wakeups[i].task != b->wakeups[i].task) return 0;
  for (size_t i = 0; i < a->nfaults; i++)
    if (a->faults[i].point != b->faults[i].point || a->faults[i].draw != b->faults[i].draw) return 0;
  return 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_init();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sim_schedule a = {0}, b = {0};
  char *enc = NULL, *enc2 = NULL;
  char err[160];
  char *s = fuzz_cstr(data, size);
  if (!s) return 0;

  int rc = sim_schedule_decode(s, &a, err, sizeof err);
  if (rc != AS_OK) {
    FUZZ_CHECK(rc == AS_PARSE || rc == AS_TOOBIG || rc == AS_NOMEM);
    FUZZ_CHECK(a.dec == NULL && a.ndec == 0 && a.wakeups == NULL && a.nwakeups == 0 &&
               a.faults == NULL && a.nfaults == 0);
    FUZZ_CHECK(rc == AS_NOMEM || strncmp(err, "schedule: at character ", 23) == 0 ||
               strncmp(err, "schedule: version ", 18) == 0);
    goto out;
  }
  FUZZ_CHECK(a.ndec == 0 || a.dec != NULL);
  FUZZ_CHECK(a.ndec <= SIM_SCHEDULE_MAX_DECISIONS);
  FUZZ_CHECK(a.nwakeups <= SIM_SCHEDULE_MAX_EVENTS && a.nfaults <= SIM_SCHEDULE_MAX_EVENTS);

  rc = sim_schedule_encode(&a, &enc);
  if (rc == AS_NOMEM) goto out;
  FUZZ_CHECK(rc == AS_OK && enc != NULL);
  FUZZ_CHECK(strncmp(enc, SIM_SCHEDULE_PREFIX, 3) == 0);
  FUZZ_CHECK(strspn(enc + 1, shell_safe) == strlen(enc + 1));

  rc = sim_schedule_decode(enc, &b, err, sizeof err);
  if (rc == AS_NOMEM) goto out;
  if (rc != AS_OK) fprintf(stderr, "re-decoding '%.200s': %s\n", enc, err);
  FUZZ_CHECK(rc == AS_OK);
  FUZZ_CHECK(same_schedule(&a, &b));

  rc = sim_schedule_encode(&b, &enc2);
  if (rc == AS_NOMEM) goto out;
  FUZZ_CHECK(rc == AS_OK && strcmp(enc, enc2) == 0);
out:
  sim_schedule_clear(&a);
  sim_schedule_clear(&b);
  free(enc);
  free(enc2);
  free(s);
  return 0;
}

/*
** fuzz_stub_script.c -- the stub LLM script parser (as_stub_script_parse)
** and the provider answering from what it accepts.
**
** Beyond crash-hunting it checks the contract on every input:
** - a refusal is AS_PARSE or AS_TOOBIG with a "FILE:LINE:COL" diag whose
**   message starts "expected ", and no script (nothing half-made, nothing
**   leaked: libFuzzer's leak check runs under ASan);
** - an accepted script's canonical text (as_stub_script_write) parses to an
**   equal script, and writing that again gives the same text;
** - every block answers through as_llm_complete with a status the vtable
**   allows (the checked call enforces the caps), the same way twice, and
**   every result through as_stub_tool_result.
** The provider sleeps on the seam: the harness's platform is posix with a
** clock that only moves when slept on, so delays cost nothing and a run
** reads no real clock.
*/
#include "fuzz_common.h"

#include <stddef.h>
#include <string.h>

#include "agentsim/llm.h"
#include "agentsim/seam.h"
#include "script_internal.h"
#include "stub.h"

static uint64_t fake_now;
static void fake_sleep_until(uint64_t deadline) {
  if (deadline > fake_now) fake_now = deadline;
}
static uint64_t fake_now_mono(void) { return fake_now; }
static as_platform plat;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_init();
  plat = as_platform_posix;
  plat.sleep_until = fake_sleep_until;
  plat.now_mono_ns = fake_now_mono;
  as_platform_set(&plat);
  return 0;
}

static int allowed(int rc) {
  return rc == AS_OK || rc == AS_TIMEDOUT || rc == AS_BUSY || rc == AS_IO || rc == AS_PARSE ||
         rc == AS_INVAL;
}

/* Ask the block's own selector (any: 1; its retry, else the first run) of
** two fresh providers; the same answer both times. */
static void ask(const as_stub_script *s, const stub_entry *e, uint64_t timeout) {
  as_llm_request req;
  memset(&req, 0, sizeof req);
  req.session_id = "fuzz";
  req.agent = e->kind == STUB_E_CALL ? e->name : "some-agent";
  req.call = e->call ? e->call : 1;
  req.attempt = e->attempt ? e->attempt : 1;
  req.retry = e->kind == STUB_E_CALL && e->run ? e->run - 1 : 0;
  req.timeout_ns = timeout;
  as_llm l1, l2;
  FUZZ_CHECK(as_stub_llm_new(&l1, s, 7) == AS_OK);
  FUZZ_CHECK(as_stub_llm_new(&l2, s, 7) == AS_OK);
  as_llm_response a, b;
  as_llm_error ea, eb;
  int rc = as_llm_complete(&l1, &req, &a, &ea);
  int rc2 = as_llm_complete(&l2, &req, &b, &eb);
  as_llm_destroy(&l1);
  as_llm_destroy(&l2);
  FUZZ_CHECK(allowed(rc) && rc == rc2);
  FUZZ_CHECK(ea.kind == eb.kind && strcmp(ea.message, eb.message) == 0);
  FUZZ_CHECK((a.text == NULL) == (b.text == NULL) && (!a.text || strcmp(a.text, b.text) == 0));
  FUZZ_CHECK(a.ncalls == b.ncalls && a.finish == b.finish);
  FUZZ_CHECK(rc == AS_OK || (ea.kind != AS_LLM_ERR_NONE && !a.text && !a.calls && !a.structured));
  as_llm_response_clear(&a);
  as_llm_response_clear(&b);
}

static void exercise(const as_stub_script *s) {
  for (size_t i = 0; i < s->n; i++) {
    const stub_entry *e = &s->entries[i];
    if (e->kind == STUB_E_RESULT) {
      /* A result, or the server's failure (fail=): its status, no result. */
      char *r = NULL;
      int rc = as_stub_tool_result(s, 7, "fuzz", e->name, e->call ? e->call : 1, &r);
      FUZZ_CHECK(rc == AS_OK ? r != NULL
                             : (rc == AS_IO || rc == AS_TIMEDOUT || rc == AS_BUSY || rc == AS_INVAL ||
                                rc == AS_INTERNAL) && r == NULL);
      as_free(r);
      continue;
    }
    ask(s, e, 0);
    ask(s, e, 1000000000ull);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > FUZZ_MAX_INPUT) return 0;
  as_stub_script *s = NULL, *again = NULL;
  as_stub_diag d;
  int rc = as_stub_script_parse((const char *)data, size, "fuzz.stub", &s, &d);
  if (rc != AS_OK) {
    FUZZ_CHECK(rc == AS_PARSE || rc == AS_TOOBIG);
    FUZZ_CHECK(s == NULL);
    FUZZ_CHECK(strcmp(d.file, "fuzz.stub") == 0 && d.line >= 1 && d.column >= 1);
    FUZZ_CHECK(strncmp(d.message, "expected ", 9) == 0);
    return 0;
  }
  FUZZ_CHECK(s != NULL && s->n >= 1 && s->n <= AS_STUB_ENTRIES_MAX);
  char *w1 = NULL, *w2 = NULL;
  FUZZ_CHECK(as_stub_script_write(s, &w1) == AS_OK);
  size_t len = strlen(w1);
  if (len <= AS_STUB_FILE_MAX) { /* a canonical text may outgrow the cap */
    rc = as_stub_script_parse(w1, len, "written", &again, &d);
    if (rc != AS_OK)
      fprintf(stderr, "reparse: %s:%u:%u: %s\n%s", d.file, d.line, d.column, d.message, w1);
    FUZZ_CHECK(rc == AS_OK);
    FUZZ_CHECK(as_stub_script_equal(s, again));
    FUZZ_CHECK(as_stub_script_write(again, &w2) == AS_OK);
    FUZZ_CHECK(strcmp(w1, w2) == 0);
  }
  exercise(s);
  as_free(w1);
  as_free(w2);
  as_stub_script_free(s);
  as_stub_script_free(again);
  return 0;
}

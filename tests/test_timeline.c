/*
** test_timeline.c -- the timeline's outputs (sim/cli/timeline.h) from a
** recorded run of a program that publishes every kind they draw: the sim's
** waits, locks, signals and broadcasts, faults, power losses, spurious
** wakeups, I/O; the oracle's operations, LLM calls, tool executions,
** session locks and session rows (committed and rolled back); and the odd
** events a trace must survive (an answer with no call, a lock of no mutex, a
** spawn of no task). Checked: the trace's structure (B/E balance, flows
** matched, the failing step), the page's escaping, the path checks, the
** writes and their errors, and every allocation failing in turn (jansson's
** too, through faultwrap).
**
** Tasks never call cmocka assertions; they only publish.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentsim/seam.h"
#include "faultwrap.h"
#include "oracle/oracle.h"
#include "sim.h"
#include "timeline.h"

static sim *S;
static sim_evlog *L;
static char dir[256];

static as_mutex *M, *M2;
static as_cond *C;
static int done;
static uint32_t waiter1;

static void pub(uint32_t kind, uint64_t obj, uint64_t extra, const char *label, const void *ref) {
  sim_publish(&(sim_ev){.kind = kind, .object = obj, .extra = extra, .label = label, .ref = ref});
}

static void waiter(void *arg) {
  (void)arg;
  as_mutex_lock(M);
  while (!done) as_cond_wait(C, M);
  as_mutex_unlock(M);
}

static void signaller(void *arg) {
  (void)arg;
  as_sleep_until(as_now_mono_ns() + 1000); /* the waiters wait by then */
  as_mutex_lock(M);
  as_cond_signal(C);
  sim_emit(SIM_EV_SIGNAL, 1, waiter1, NULL); /* woken twice: drawn once */
  as_mutex_unlock(M);
  as_sleep_until(as_now_mono_ns() + 1000);
  as_mutex_lock(M);
  done = 1;
  as_cond_broadcast(C);
  as_mutex_unlock(M);
}

static void holder(void *arg) {
  (void)arg;
  as_mutex_lock(M2);
  as_sleep_until(100000);
  as_mutex_unlock(M2);
  orc_llm llm = {.session = "s0", .agent = "a", .call = 1, .attempt = 1};
  orc_op op = {.kind = 0, .session = "s0"};
  pub(ORC_EV_LOCK, 0, ORC_LOCK_ACQUIRED, "s0", NULL);
  pub(ORC_EV_LOCK, 0, ORC_LOCK_ACQUIRED, "s0", NULL); /* re-entry */
  pub(ORC_EV_OP, 0, 0, "holder", &op);
  pub(ORC_EV_LLM, 0, 0, NULL, &llm);
  orc_exec x = {.session = "s0", .tool = "t", .args = "{}"};
  pub(ORC_EV_EXEC, 0, 0, NULL, &x);
  pub(ORC_EV_LLM_ANSWER, 0, 0, NULL, &(orc_llm_answer){.session = "s0"});
  pub(ORC_EV_ACK, 0, 0, "holder", &op);
  pub(ORC_EV_LOCK, 0, ORC_LOCK_RELEASED, "s0", NULL);
  pub(ORC_EV_LOCK, 0, ORC_LOCK_RELEASED, "s0", NULL);
  pub(ORC_EV_LOCK, 0, ORC_LOCK_RELEASED, "s0", NULL); /* not held: nothing */
  /* The LLM's answer closes the operation opened inside the call too. */
  pub(ORC_EV_LLM, 0, 0, NULL, &llm);
  pub(ORC_EV_OP, 0, 0, "holder", &op);
  pub(ORC_EV_LLM_ANSWER, 0, 0, NULL, &(orc_llm_answer){.session = "s0"});
  pub(ORC_EV_ACK, 0, 0, "holder", &op); /* its call was closed: no slice */
  for (int i = 0; i < 10; i++) pub(ORC_EV_OP, 0, 0, "holder", &op); /* deeper than drawn */
}

static void trier(void *arg) {
  (void)arg;
  as_sleep_until(50000);
  if (as_mutex_trylock(M2) == AS_OK) as_mutex_unlock(M2);
  as_mutex_lock(M2); /* waits for the holder: a hand-over */
  as_mutex_unlock(M2);
  pub(ORC_EV_LOCK, 0, ORC_LOCK_TRY_REFUSED, "s0", NULL);
  pub(ORC_EV_LOCK, 0, ORC_LOCK_ACQUIRED, "s0", NULL); /* after the holder: a hand-over */
  pub(ORC_EV_LOCK, 0, ORC_LOCK_ACQUIRED, "s9", NULL);  /* held at the end */
  pub(ORC_EV_LOCK, 0, ORC_LOCK_ACQUIRED, NULL, NULL);  /* no key: not drawn */
  orc_row r = {.conn = 5, .table = ORC_T_SESSIONS, .op = ORC_UPDATE};
  r.old[0] = (orc_val){.type = SQLITE_TEXT, .t = "s0", .n = 2};
  r.nw[ORC_SC_STATUS] = (orc_val){.type = SQLITE_TEXT, .t = "running", .n = 7};
  r.nw[ORC_SC_VERSION] = (orc_val){.type = SQLITE_INTEGER, .i = 2};
  pub(ORC_EV_ROW, 5, ORC_UPDATE, "sessions", &r);
  pub(ORC_EV_ROW, 5, ORC_INSERT, "events", &r); /* not a session row */
  pub(ORC_EV_COMMITTED, 5, 0, NULL, NULL);
  r.conn = 6;
  r.nw[ORC_SC_STATUS] = (orc_val){.type = SQLITE_TEXT, .t = "resolved", .n = 8};
  r.nw[ORC_SC_VERSION] = (orc_val){.type = SQLITE_TEXT, .t = "x", .n = 1}; /* no number */
  pub(ORC_EV_ROW, 6, ORC_UPDATE, "sessions", &r);
  r.op = ORC_DELETE;
  pub(ORC_EV_ROW, 5, ORC_DELETE, "sessions", &r);
  pub(ORC_EV_ROLLBACK, 6, 0, NULL, NULL);
  pub(ORC_EV_ACK, 0, 0, "trier", NULL); /* no operation open */
  pub(ORC_EV_LLM, 0, 0, NULL, NULL);    /* left open: drawn to the end */
}

static void prog_main(void *state) {
  (void)state;
  as_task *t[5];
  if (as_task_spawn(&t[0], "waiter.0", waiter, NULL) != AS_OK) return;
  waiter1 = (uint32_t)1;
  if (as_task_spawn(&t[1], "waiter.1", waiter, NULL) != AS_OK) return;
  if (as_task_spawn(&t[2], "signaller", signaller, NULL) != AS_OK) return;
  if (as_task_spawn(&t[3], "holder", holder, NULL) != AS_OK) return;
  if (as_task_spawn(&t[4], "trier", trier, NULL) != AS_OK) return;
  sim_fault_rate(AS_FP_SELFTEST, 1000000);
  if (as_fault(AS_FP_SELFTEST)) sim_note("faulted", 1);
  as_log(AS_LOG_INFO, "a </script><b>log</b> line");
  sim_emit(SIM_EV_DISK_WRITE, 3, 0, NULL);
  sim_busy(1000); /* busy: the disk write */
  sim_busy(1000); /* busy: an I/O it does not name */
  sim_emit(SIM_EV_DISK_CRASH, 1, 0, NULL);
  sim_emit(SIM_EV_MALLOC_FAIL, 0, 0, NULL);
  sim_emit(SIM_EV_SPAWN, SIM_MAX_TASKS + 1, 0, "nobody"); /* no task of the sim's */
  sim_emit(SIM_EV_SPAWN, 1, 0, "again");                   /* begun already */
  sim_emit(SIM_EV_FINISH, SIM_MAX_TASKS + 1, 0, NULL);
  sim_emit(SIM_EV_FINISH, 4000, 0, NULL); /* never begun */
  sim_emit(SIM_EV_LOCK, CLI_TL_MAX_MUTEXES + 1, 0, NULL);
  sim_emit(SIM_EV_UNLOCK, 77, 0, NULL); /* never locked */
  sim_emit(SIM_EV_SIGNAL, 1, 9999, NULL);
  sim_emit(SIM_EV_PROGRAM + 500, 1, 2, "mine"); /* a program kind the oracle has not */
  for (int i = 0; i < 5; i++)
    if (as_task_join(t[i]) != AS_OK) sim_fail(SIM_ASSERT, "join");
  sim_emit(SIM_EV_FINISH, 1, 0, NULL); /* ended already */
  as_mutex_lock(M); /* held at the end */
}

static int prog_setup(void *state, sim_rng *w) {
  (void)state;
  (void)w;
  done = 0;
  pub(ORC_EV_OP, 0, 0, NULL, NULL); /* outside any task: the scheduler's lane */
  sim_note("setup", 1);
  int rc = as_mutex_new(&M);
  if (rc == AS_OK) rc = as_mutex_new(&M2);
  if (rc == AS_OK) rc = as_cond_new(&C);
  return rc;
}

static int prog_check(void *state, char *msg, size_t cap) {
  (void)state;
  snprintf(msg, cap, "it broke </script><script>alert(1)</script>\nsecond line");
  return 1;
}

static const sim_program prog = {.name = "timeline", .setup = prog_setup, .main = prog_main,
                                 .check = prog_check, .describe = orc_describe};

/* A short run with one of each thing that allocates (a mutex, a session
** lock, a session row committed, an operation): for the countdown, whose
** cost grows with the square of the allocations. */
static void tiny_main(void *state) {
  (void)state;
  as_mutex_lock(M);
  as_mutex_unlock(M);
  orc_op op = {.kind = 0, .session = "s0"};
  pub(ORC_EV_OP, 0, 0, "main", &op);
  pub(ORC_EV_LOCK, 0, ORC_LOCK_ACQUIRED, "s0", NULL);
  orc_row r = {.conn = 5, .table = ORC_T_SESSIONS, .op = ORC_INSERT};
  r.nw[0] = (orc_val){.type = SQLITE_TEXT, .t = "s0", .n = 2};
  r.nw[ORC_SC_STATUS] = (orc_val){.type = SQLITE_TEXT, .t = "new", .n = 3};
  r.nw[ORC_SC_VERSION] = (orc_val){.type = SQLITE_INTEGER, .i = 1};
  pub(ORC_EV_ROW, 5, ORC_INSERT, "sessions", &r);
  pub(ORC_EV_COMMITTED, 5, 0, NULL, NULL);
  pub(ORC_EV_LOCK, 0, ORC_LOCK_RELEASED, "s0", NULL);
  pub(ORC_EV_ACK, 0, 0, "main", &op);
}

static const sim_program tiny = {.name = "tiny", .setup = prog_setup, .main = tiny_main,
                                 .check = prog_check, .describe = orc_describe};

static const cli_tl_meta META = {.scenario = "t.scn", .command = "run", .seed = "3",
                                 .strategy = "random", .mutant = NULL, .trace_hash = 1,
                                 .scenario_kinds = 1};

static void record(uint32_t spurious_ppm) {
  sim_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.seed = 3;
  cfg.evlog = L;
  cfg.spurious_ppm = spurious_ppm;
  sim_result res;
  int rc = sim_run(S, &prog, &cfg, &res);
  if (rc != AS_OK) fail_msg("run: %s: %s", as_status_name(rc), res.message);
  sim_result_clear(&res);
}

static int group_setup(void **state) {
  (void)state;
  json_set_alloc_funcs(malloc, free); /* faultwrap's: jansson's allocations fail too */
  snprintf(dir, sizeof dir, "/tmp/test_timeline.%ld", (long)getpid());
  if (mkdir(dir, 0755) != 0) return -1;
  if (sim_new(&S, SIM_SWITCH_FCONTEXT, 0) != AS_OK || sim_evlog_new(&L) != AS_OK) return -1;
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  sim_evlog_free(L);
  sim_free(S);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* --- the trace ----------------------------------------------------------------- */

static size_t count_ph(json_t *evs, const char *ph, const char *cat) {
  size_t n = 0, i;
  json_t *e;
  json_array_foreach(evs, i, e) {
    if (strcmp(json_string_value(json_object_get(e, "ph")), ph) != 0) continue;
    if (cat && strcmp(json_string_value(json_object_get(e, "cat")), cat) != 0) continue;
    n++;
  }
  return n;
}

static void check_trace(json_t *top) {
  json_t *evs = json_object_get(top, "traceEvents");
  assert_true(json_is_array(evs));
  assert_string_equal(json_string_value(json_object_get(top, "displayTimeUnit")), "ns");
  assert_int_equal(count_ph(evs, "B", NULL), 6);
  assert_int_equal(count_ph(evs, "E", NULL), 6);
  assert_int_equal(count_ph(evs, "s", NULL), count_ph(evs, "f", NULL));
  assert_int_equal(count_ph(evs, "b", "session-lock"), 3); /* s0 twice, s9 */
  assert_int_equal(count_ph(evs, "e", "session-lock"), 3);
  assert_true(count_ph(evs, "s", NULL) >= 4); /* a mutex, a session lock, a signal, a broadcast */
  static const char *const xcats[] = {"lock", "wait", "io", "op", "llm"};
  for (size_t i = 0; i < sizeof xcats / sizeof *xcats; i++)
    if (!count_ph(evs, "X", xcats[i])) fail_msg("no %s slice", xcats[i]);
  static const char *const icats[] = {"fault", "crash", "note", "log", "tool", "session",
                                      "session-lock", "lock", "program", "fail"};
  for (size_t i = 0; i < sizeof icats / sizeof *icats; i++)
    if (!count_ph(evs, "i", icats[i])) fail_msg("no %s instant", icats[i]);
  int sched = 0, fail = 0;
  size_t i;
  json_t *e;
  json_array_foreach(evs, i, e) {
    const char *name = json_string_value(json_object_get(e, "name"));
    if (strcmp(name, "thread_name") == 0 &&
        strcmp(json_string_value(json_object_get(json_object_get(e, "args"), "name")), "sched") == 0)
      sched++;
    if (strncmp(name, "FAIL: at quiescence: it broke", 29) == 0) {
      fail++;
      assert_string_equal(json_string_value(json_object_get(e, "s")), "g");
      assert_null(strchr(name, '\n')); /* the first line */
    }
  }
  assert_int_equal(sched, 1);
  assert_int_equal(fail, 1);
}

static void test_trace(void **state) {
  (void)state;
  record(0);
  json_t *top = cli_tl_trace(L, &META);
  assert_non_null(top);
  check_trace(top);
  json_decref(top);
  /* With spurious wakeups, drawn as instants. */
  record(500000);
  top = cli_tl_trace(L, &META);
  assert_non_null(top);
  assert_true(count_ph(json_object_get(top, "traceEvents"), "i", "wakeup") > 0);
  json_decref(top);
  /* Not a scenario: the oracle's kinds are the program's own, instants. */
  cli_tl_meta m = META;
  m.scenario_kinds = 0;
  record(0);
  top = cli_tl_trace(L, &m);
  assert_non_null(top);
  assert_int_equal(count_ph(json_object_get(top, "traceEvents"), "X", "op"), 0);
  json_decref(top);
}

/* A run that passes, and a log that kept nothing. */
static void noop_main(void *state) { (void)state; }
static const sim_program noop = {.name = "noop", .main = noop_main};

static void test_pass_and_empty(void **state) {
  (void)state;
  sim_config cfg = {.seed = 1, .evlog = L};
  sim_result res;
  assert_int_equal(sim_run(S, &noop, &cfg, &res), AS_OK);
  sim_result_clear(&res);
  json_t *top = cli_tl_trace(L, &META);
  assert_non_null(top);
  assert_int_equal(count_ph(json_object_get(top, "traceEvents"), "i", "fail"), 0);
  json_decref(top);
  char *page = cli_tl_html(L, &META);
  assert_non_null(page);
  assert_non_null(strstr(page, "\"failed\":false"));
  free(page);
  sim_evlog *empty;
  assert_int_equal(sim_evlog_new(&empty), AS_OK);
  top = cli_tl_trace(empty, &META);
  assert_non_null(top);
  json_decref(top);
  page = cli_tl_html(empty, &META);
  assert_non_null(page);
  free(page);
  sim_evlog_free(empty);
}

/* --- the page ------------------------------------------------------------------- */

static size_t count_str(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
  return n;
}

static void test_html(void **state) {
  (void)state;
  record(0);
  char *page = cli_tl_html(L, &META);
  assert_non_null(page);
  assert_null(strstr(page, "@RUN_DATA@"));
  /* The page's own two script elements end; no text of the run ends one. */
  assert_int_equal(count_str(page, "</script>"), 2);
  assert_null(strstr(page, "<b>log"));
  assert_non_null(strstr(page, "\\u003c/script>\\u003cb>log"));
  assert_non_null(strstr(page, "\"fail_index\":"));
  assert_non_null(strstr(page, "\"s0\",\"running\",2,0]")); /* committed */
  assert_non_null(strstr(page, "\"s0\",\"resolved\",-1,2")); /* rolled back, no version */
  assert_non_null(strstr(page, "\"s0\",\"deleted\",-1,1"));
  assert_non_null(strstr(page, "</html>"));
  free(page);
}

/* --- files ---------------------------------------------------------------------- */

static void test_check_path(void **state) {
  (void)state;
  char err[1024], p[600];
  assert_int_equal(cli_tl_check_path("--timeline", "t.html", err, sizeof err), AS_OK);
  snprintf(p, sizeof p, "%s/t.html", dir);
  assert_int_equal(cli_tl_check_path("--timeline", p, err, sizeof err), AS_OK);
  assert_int_equal(cli_tl_check_path("--timeline", "/t.html", err, sizeof err),
                   access("/", W_OK) == 0 ? AS_OK : AS_IO);
  assert_int_equal(cli_tl_check_path("--trace-json", dir, err, sizeof err), AS_IO);
  assert_non_null(strstr(err, "is a directory"));
  snprintf(p, sizeof p, "%s/none/t.html", dir);
  assert_int_equal(cli_tl_check_path("--timeline", p, err, sizeof err), AS_IO);
  assert_non_null(strstr(err, "cannot write in"));
  assert_non_null(strstr(err, p));
  snprintf(p, sizeof p, "%s/file", dir);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  assert_int_equal(fclose(f), 0);
  snprintf(p, sizeof p, "%s/file/t.html", dir);
  assert_int_equal(cli_tl_check_path("--timeline", p, err, sizeof err), AS_IO);
  assert_non_null(strstr(err, "is not a directory"));
  char *longp = malloc(5000);
  assert_non_null(longp);
  memset(longp, 'a', 4999);
  longp[4999] = '\0';
  longp[4500] = '/';
  assert_int_equal(cli_tl_check_path("--timeline", longp, err, sizeof err), AS_IO);
  assert_non_null(strstr(err, "too long"));
  free(longp);
}

static char *slurp(FILE *f) {
  long n = ftell(f);
  char *buf = calloc(1, (size_t)n + 1);
  assert_non_null(buf);
  rewind(f);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  return buf;
}

static void test_write(void **state) {
  (void)state;
  record(0);
  char err[1280], h[600], j[600];
  snprintf(h, sizeof h, "%s/t.html", dir);
  snprintf(j, sizeof j, "%s/t.json", dir);
  FILE *out = tmpfile();
  assert_non_null(out);
  assert_int_equal(cli_tl_write(L, &META, h, j, out, err, sizeof err), AS_OK);
  char *said = slurp(out);
  assert_non_null(strstr(said, "trace json: "));
  assert_non_null(strstr(said, "timeline: "));
  assert_null(strstr(said, "note:"));
  free(said);
  assert_int_equal(fclose(out), 0);
  json_error_t je;
  json_t *back = json_load_file(j, 0, &je);
  assert_non_null(back);
  check_trace(back);
  json_decref(back);
  struct stat st;
  assert_int_equal(stat(h, &st), 0);
  assert_true(st.st_size > 10000);
  /* A file that cannot be made: the error names the option and the path. */
  snprintf(h, sizeof h, "%s/none/t.html", dir);
  assert_int_equal(cli_tl_write(L, &META, h, NULL, stderr, err, sizeof err), AS_IO);
  assert_non_null(strstr(err, "--timeline "));
  assert_non_null(strstr(err, h));
  assert_int_equal(cli_tl_write(L, &META, NULL, h, stderr, err, sizeof err), AS_IO);
  assert_non_null(strstr(err, "--trace-json "));
  /* A log that stopped early says so. */
  sim_evlog_set_max(L, 10);
  record(0);
  sim_evlog_set_max(L, SIM_EVLOG_MAX);
  out = tmpfile();
  assert_non_null(out);
  assert_int_equal(cli_tl_write(L, &META, NULL, j, out, err, sizeof err), AS_OK);
  said = slurp(out);
  assert_non_null(strstr(said, "note: the recorder kept the first 10 of the run's"));
  assert_non_null(strstr(said, "(its cap)"));
  free(said);
  assert_int_equal(fclose(out), 0);
}

/* STYLE.md rule 7: the n-th allocation fails, n = 1, 2, ...: NULL (or
** AS_NOMEM naming the file), never a half-built output, nothing leaked. */
static void test_nomem(void **state) {
  (void)state;
  sim_config cfg = {.seed = 1, .evlog = L};
  sim_result res;
  assert_int_equal(sim_run(S, &tiny, &cfg, &res), AS_OK);
  sim_result_clear(&res);
  char err[1280], h[600], j[600];
  snprintf(h, sizeof h, "%s/n.html", dir);
  snprintf(j, sizeof j, "%s/n.json", dir);
  for (int what = 0; what < 3; what++) {
    unsigned long n;
    int failed = 0;
    for (n = 1; n < 1000000; n++) {
      size_t live = fw_live_blocks();
      fw_countdown(FW_ALLOC, n, 0, 0);
      int ok;
      if (what == 0) {
        json_t *t = cli_tl_trace(L, &META);
        ok = t != NULL;
        json_decref(t);
      } else if (what == 1) {
        char *p = cli_tl_html(L, &META);
        ok = p != NULL;
        free(p);
      } else {
        int rc = cli_tl_write(L, &META, h, j, stderr, err, sizeof err);
        ok = rc == AS_OK;
        if (!ok) {
          assert_int_equal(rc, AS_NOMEM);
          assert_non_null(strstr(err, "out of memory"));
        }
      }
      int fired = fw_fired();
      fw_disarm();
      assert_int_equal(fw_live_blocks(), live);
      if (!fired) {
        assert_true(ok);
        break;
      }
      if (!ok) failed++;
    }
    assert_true(n < 1000000);
    assert_true(failed > 10);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_trace),      cmocka_unit_test(test_pass_and_empty),
      cmocka_unit_test(test_html),       cmocka_unit_test(test_check_path),
      cmocka_unit_test(test_write),      cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/*
** test_cassette_llm.c -- the cassette provider (sim/llm/cassette.h) on the
** bundled cassettes, through the real HTTP provider and libcurl: every
** standalone cassette's answer against its expect (text, tools, the usage
** quirks, 429, timeout, truncation, 500), in virtual time in the sim; the
** scenarios that choose a cassette (a cycle passes the oracle, a miss is a
** harness error naming the request, a cassette without expect is refused);
** and recording a scenario from the loopback peer with `llm record:`.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agentsim/http_client.h"
#include "agentsim/seam.h"
#include "cassette.h"
#include "cassette_fixed.h"
#include "faultwrap.h"
#include "llm_peer.h"
#include "scenario/runner.h"
#include "scenario/scenario.h"
#include "sim.h"
#include "simdb.h"

#if defined(__GNUC__) && !defined(__clang__) /* gcc only: clang has no such warning */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#define CAS AS_SOURCE_DIR "/fixtures/cassettes"

static sim *S;

static const int kind_status[] = {AS_OK,
#define T__ST(NAME, name, st) st,
                                  AS_LLM_ERROR_MAP(T__ST)
#undef T__ST
};

/* One replay of the fixed request, checked against the exchange's expect. */
static void replay_one(const char *name) {
  char dir[512], err[512];
  snprintf(dir, sizeof dir, "%s/%s", CAS, name);
  as_llm llm;
  int rc = as_cassette_llm_new(dir, &llm, err, sizeof err);
  if (rc != AS_OK) fail_msg("%s: %s", name, err);
  assert_string_equal(llm.vt->name, "cassette");
  as_llm_request req = fixed_request();
  as_llm_response out;
  as_llm_error e;
  rc = as_llm_complete(&llm, &req, &out, &e);
  const as_cassette_exchange *x = NULL;
  assert_int_equal(as_cassette_llm_taken(&llm, &x, err, sizeof err), AS_OK);
  assert_non_null(x);
  const as_cassette_expect *ex = &x->expect;
  assert_true(ex->given);
  if (rc != kind_status[ex->error])
    fail_msg("%s: %s (%s), expected %s", name, as_status_name(rc), e.message,
             as_llm_error_name(ex->error));
  if (ex->error) {
    assert_int_equal(e.kind, ex->error);
  } else {
    assert_int_equal(out.usage_known, ex->usage_known);
    if (ex->usage_known) {
      assert_int_equal(out.usage.input_tokens, ex->prompt - ex->cache_read - ex->cache_write);
      assert_int_equal(out.usage.cache_read_tokens, ex->cache_read);
      assert_int_equal(out.usage.cache_write_tokens, ex->cache_write);
      assert_int_equal(out.usage.output_tokens, ex->completion);
    }
    if (strstr(name, "tools")) {
      assert_int_equal(out.ncalls, 2);
      assert_string_equal(out.calls[0].name, "obs:get_logs");
    } else {
      assert_non_null(out.text);
    }
  }
  as_llm_response_clear(&out);
  /* Asked again: past the recording, a miss. */
  rc = as_llm_complete(&llm, &req, &out, &e);
  assert_int_not_equal(rc, AS_OK);
  assert_int_equal(as_cassette_llm_taken(&llm, &x, err, sizeof err), AS_NOTFOUND);
  assert_non_null(strstr(err, "occurrence 2"));
  as_llm_destroy(&llm);
}

static const char *standalone(const char *n) {
  return strncmp(n, "openai-", 7) == 0 || strncmp(n, "ollama-", 7) == 0 ? strstr(n, "-cycle") ? NULL : n : NULL;
}

/* --- every bundled cassette, in the sim: virtual time ---------------------------- */

static char names[64][64];
static size_t nnames;
static struct {
  uint64_t slow_took;
  int done;
} sobs;

static void all_main(void *state) {
  (void)state;
  for (size_t i = 0; i < nnames; i++) {
    uint64_t t0 = as_now_mono_ns();
    replay_one(names[i]);
    if (strstr(names[i], "slow")) sobs.slow_took = as_now_mono_ns() - t0;
  }
  sobs.done = 1;
}

static const sim_program all_prog = {
    .name = "cassettes", .summary = "every bundled cassette replayed", .est_tasks = 1,
    .main = all_main};

static void test_bundled(void **state) {
  (void)state;
  DIR *d = opendir(CAS);
  assert_non_null(d);
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (standalone(e->d_name) && nnames < 64) snprintf(names[nnames++], 64, "%s", e->d_name);
  closedir(d);
  assert_true(nnames >= 20);
  sim_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.seed = 5;
  cfg.strategy = SIM_STRATEGY_RANDOM;
  sim_result res;
  struct timespec w0, w1;
  clock_gettime(CLOCK_MONOTONIC, &w0);
  int rc = sim_run(S, &all_prog, &cfg, &res);
  clock_gettime(CLOCK_MONOTONIC, &w1);
  if (rc != AS_OK || res.outcome != SIM_PASS)
    fail_msg("sim_run: %s %s: %s", as_status_name(rc), sim_outcome_name(res.outcome), res.message);
  sim_result_clear(&res);
  assert_int_equal(sobs.done, 1);
  double wall = (double)(w1.tv_sec - w0.tv_sec) + (double)(w1.tv_nsec - w0.tv_nsec) / 1e9;
  print_message("cassette: %zu cassettes replayed in the sim in %.3f s of wall time; the "
                "recorded timeouts took %.3f s of virtual time each\n",
                nnames, wall, (double)sobs.slow_took / 1e9);
  assert_true(sobs.slow_took >= 5000000000ull);
  assert_true(wall < 5.0);
}

/* Under posix, one (real time; the quick ones). */
static void test_posix_replay(void **state) {
  (void)state;
  replay_one("openai-tools-stream");
  replay_one("ollama-text-stream");
  replay_one("openai-429");
  char err[512];
  as_llm llm;
  assert_int_equal(as_cassette_llm_new("/nonexistent", &llm, err, sizeof err), AS_NOTFOUND);
  assert_null(llm.vt);
  assert_int_equal(as_cassette_llm_new(CAS, NULL, err, sizeof err), AS_INVAL);
  assert_int_equal(as_cassette_llm_from(NULL, &llm, err, sizeof err), AS_INVAL);
  assert_int_equal(as_cassette_llm_from(NULL, NULL, NULL, 0), AS_INVAL);
  const as_cassette_exchange *x;
  assert_int_equal(as_cassette_llm_taken(NULL, &x, NULL, 0), AS_INVAL);
  as_llm other = {0};
  assert_int_equal(as_cassette_llm_taken(&other, NULL, NULL, 0), AS_INVAL);
}

/* --- scenarios ------------------------------------------------------------------------ */

static int run_scn(const char *text, const char *file, sim_result *res, char *err, size_t cap) {
  scenario sc;
  int rc = scn_parse(file, text, strlen(text), &sc, err, cap);
  if (rc != AS_OK) return rc;
  scn_runner *r = NULL;
  rc = scn_runner_new(&r, &sc, err, cap);
  scn_clear(&sc);
  if (rc != AS_OK) return rc;
  sim_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.seed = 2;
  cfg.strategy = SIM_STRATEGY_RANDOM;
  rc = sim_run(S, scn_runner_program(r), &cfg, res);
  scn_runner_free(r);
  return rc;
}

static void test_scenarios(void **state) {
  (void)state;
  char path[512], err[1024];
  sim_result res;
  for (int k = 0; k < 2; k++) {
    snprintf(path, sizeof path, "%s/fixtures/scenarios/cassette_%s.scn", AS_SOURCE_DIR,
             k ? "ollama" : "openai");
    scenario sc;
    assert_int_equal(scn_load(path, &sc, err, sizeof err), AS_OK);
    scn_runner *r = NULL;
    assert_int_equal(scn_runner_new(&r, &sc, err, sizeof err), AS_OK);
    int rc;
    sim_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.seed = 9;
    cfg.strategy = SIM_STRATEGY_RANDOM;
    rc = sim_run(S, scn_runner_program(r), &cfg, &res);
    if (rc != AS_OK) fail_msg("%s: %s", as_status_name(rc), res.message);
    if (res.outcome != SIM_PASS) fail_msg("%s: %s", path, res.message);
    assert_true(res.virtual_ns > 37000000000ull);
    sim_result_clear(&res);
    scn_runner_free(r);
    scn_clear(&sc);
  }
  /* A cassette that lacks the app's requests: a harness error naming the request. */
  char file[512];
  snprintf(file, sizeof file, "%s/fixtures/scenarios/miss.scn", AS_SOURCE_DIR);
  const char *miss = "scenario miss\nsessions 1\napp ../apps/incident\n"
                     "llm cassette:../cassettes/openai-text\nactor a\n    run s=0\n";
  if (run_scn(miss, file, &res, err, sizeof err) != AS_OK) fail_msg("miss: %s", err);
  assert_int_equal(res.outcome, SIM_HARNESS);
  assert_non_null(strstr(res.message, "no exchange for POST /v1/chat/completions"));
  sim_result_clear(&res);
  /* One without expect; one that is not there. */
  char tmp[256], cmd[700];
  snprintf(tmp, sizeof tmp, "/tmp/test_cassette_llm.%d", (int)getpid());
  snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s && cp -r %s/openai-text %s/c && "
           "%s -c \"import glob, json; f = glob.glob('%s/c/x-*.json')[0]; x = json.load(open(f)); "
           "del x['expect']; json.dump(x, open(f, 'w'))\"", tmp, tmp, CAS, tmp, AS_PYTHON3, tmp);
  assert_int_equal(system(cmd), 0);
  char text[1024];
  snprintf(file, sizeof file, "%s/noexpect.scn", tmp);
  snprintf(text, sizeof text, "scenario noexpect\nsessions 1\napp %s/fixtures/apps/incident\n"
           "llm cassette:c\nactor a\n    run s=0\n", AS_SOURCE_DIR);
  assert_int_equal(run_scn(text, file, &res, err, sizeof err), AS_PARSE);
  assert_non_null(strstr(err, "expect: missing"));
  snprintf(text, sizeof text, "scenario none\nsessions 1\napp %s/fixtures/apps/incident\n"
           "llm cassette:nothing\nactor a\n    run s=0\n", AS_SOURCE_DIR);
  assert_int_equal(run_scn(text, file, &res, err, sizeof err), AS_PARSE);
  assert_non_null(strstr(err, "cannot read"));
  /* The format: llm lines round-trip, and are refused where they are wrong. */
  const char *bad[][2] = {
      {"scenario b\nllm cassette:x\nactor a\n    sleep d=1s\n", "an 'app PATH' line for the cassette"},
      {"scenario b\napp a\nllm other:x\nactor a\n    sleep d=1s\n", "llm cassette:PATH"},
      {"scenario b\napp a\nllm\nactor a\n    sleep d=1s\n", "llm cassette:PATH"},
      {"scenario b\napp a\nllm cassette:\nactor a\n    sleep d=1s\n", "llm cassette:PATH"},
      {"scenario b\napp a\nactor a\n    sleep d=1s\n", "or an 'llm cassette:PATH' line"},
      {"scenario b\napp a\nllm cassette:x\nllm cassette:y\nactor a\n    sleep d=1s\n", "llm"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    scenario sc;
    if (scn_parse("b.scn", bad[i][0], strlen(bad[i][0]), &sc, err, sizeof err) != AS_PARSE ||
        !strstr(err, bad[i][1]))
      fail_msg("case %zu: '%s'", i, err);
  }
  char longp[SCN_MAX_PATH + 64];
  snprintf(longp, sizeof longp, "scenario b\napp a\nllm cassette:%0*d\nactor a\n    sleep d=1s\n",
           (int)SCN_MAX_PATH, 0);
  scenario sc, sc2;
  assert_int_equal(scn_parse("b.scn", longp, strlen(longp), &sc, err, sizeof err), AS_PARSE);
  const char *good[] = {"scenario g\napp a\nllm cassette:c d\nactor a\n    sleep d=1s\n",
                        "scenario g\napp a\nllm \"record:d,openai,http://h:1/v1,m,stream\"\n"
                        "actor a\n    sleep d=1s\n"};
  for (size_t i = 0; i < 2; i++) {
    if (i == 0) {
      /* a path with a space must be quoted */
      assert_int_equal(scn_parse("g.scn", good[0], strlen(good[0]), &sc, err, sizeof err), AS_PARSE);
      const char *q = "scenario g\napp a\nllm \"cassette:c d\"\nactor a\n    sleep d=1s\n";
      assert_int_equal(scn_parse("g.scn", q, strlen(q), &sc, err, sizeof err), AS_OK);
    } else {
      assert_int_equal(scn_parse("g.scn", good[1], strlen(good[1]), &sc, err, sizeof err), AS_OK);
      assert_int_equal(sc.llm_record, 1);
    }
    static char buf[65536];
    size_t len = 0;
    assert_int_equal(scn_format(&sc, buf, sizeof buf, &len), AS_OK);
    assert_int_equal(scn_parse("g.scn", buf, len, &sc2, err, sizeof err), AS_OK);
    assert_true(scn_equal(&sc, &sc2));
    scn_clear(&sc);
    scn_clear(&sc2);
  }
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
  assert_int_equal(system(cmd), 0);
}

/* The oracle's evidence is the cassette's expect: an expect that disagrees
** with the bytes (as a parser bug would disagree with the truth) is caught. */
static void test_expect_is_evidence(void **state) {
  (void)state;
  char tmp[256], cmd[1400], file[512], text[1024], err[1024];
  snprintf(tmp, sizeof tmp, "/tmp/test_cassette_exp.%d", (int)getpid());
  snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s && cp -r %s/openai-cycle %s/prices.json %s/ && "
           "f=$(grep -l '\"completion\": 789' %s/openai-cycle/x-*.json | head -1) && "
           "sed -i 's/\"completion\": 789/\"completion\": 790/' \"$f\"", tmp, tmp, CAS, CAS, tmp, tmp);
  assert_int_equal(system(cmd), 0);
  snprintf(file, sizeof file, "%s/t.scn", tmp);
  snprintf(text, sizeof text, "scenario t\nsessions 1\napp %s/fixtures/apps/incident\n"
           "llm cassette:openai-cycle\nfields environment=staging\nbudget limit=5\n"
           "prices prices.json\nactor a\n    trigger s=0\n", AS_SOURCE_DIR);
  sim_result res;
  assert_int_equal(run_scn(text, file, &res, err, sizeof err), AS_OK);
  assert_int_equal(res.outcome, SIM_INVARIANT);
  assert_non_null(strstr(res.message, "usage-exact"));
  assert_non_null(strstr(res.message, "completion 790"));
  sim_result_clear(&res);
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
  assert_int_equal(system(cmd), 0);
}

/* Recording a scenario's exchanges from the peer, inside the sim. */
static void test_record(void **state) {
  (void)state;
  llm_peer peer;
  llm_peer_start(&peer, NULL, "cassette");
  char tmp[256], cmd[512], file[512], text[1024], err[1024];
  snprintf(tmp, sizeof tmp, "/tmp/test_cassette_rec.%d", (int)getpid());
  snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", tmp, tmp);
  assert_int_equal(system(cmd), 0);
  snprintf(file, sizeof file, "%s/rec.scn", tmp);
  sim_result res;
  for (int k = 0; k < 2; k++) {
    snprintf(text, sizeof text,
             "scenario rec\nsessions 1\napp %s/fixtures/apps/incident\n"
             "llm \"record:c%d,%s,%s%s,structured%s\"\nactor a\n    run s=0\n",
             AS_SOURCE_DIR, k, k ? "ollama" : "openai", peer.base, k ? "" : "/v1",
             k ? ",structured" : ",stream");
    if (run_scn(text, file, &res, err, sizeof err) != AS_OK) fail_msg("record: %s", err);
    if (res.outcome != SIM_PASS) fail_msg("record: %s", res.message);
    sim_result_clear(&res);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/c%d", tmp, k);
    as_cassette *c = NULL;
    assert_int_equal(as_cassette_load(dir, &c, err, sizeof err), AS_OK);
    assert_int_equal(c->n, 3);
    as_cassette_free(c);
    /* Recording again into it: refused. */
    assert_int_equal(run_scn(text, file, &res, err, sizeof err), AS_EXISTS);
    sim_result_clear(&res);
  }
  /* Bad specs; a peer that is not there (the run fails, recorded as connect). */
  const char *bad[] = {"record:d,other,http://h/v1,m", "record:d,openai", "record:d,openai,u,m,odd"};
  for (size_t i = 0; i < 3; i++) {
    snprintf(text, sizeof text, "scenario rec\nsessions 1\napp %s/fixtures/apps/incident\n"
             "llm \"%s\"\nactor a\n    run s=0\n", AS_SOURCE_DIR, bad[i]);
    assert_int_equal(run_scn(text, file, &res, err, sizeof err), AS_PARSE);
    assert_non_null(strstr(err, "llm record:DIR"));
  }
  snprintf(text, sizeof text, "scenario rec\nsessions 1\napp %s/fixtures/apps/incident\n"
           "llm \"record:gone,openai,http://127.0.0.1:1/v1,text\"\nactor a\n    run s=0\n",
           AS_SOURCE_DIR);
  assert_int_equal(run_scn(text, file, &res, err, sizeof err), AS_OK);
  sim_result_clear(&res);
  snprintf(text, sizeof text, "scenario rec\nsessions 1\napp %s/fixtures/apps/incident\n"
           "llm \"record:host,openai,http://localhost:1/v1,text\"\nactor a\n    run s=0\n",
           AS_SOURCE_DIR);
  assert_int_equal(run_scn(text, file, &res, err, sizeof err), AS_OK);
  sim_result_clear(&res);
  llm_peer_stop(&peer);
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
  assert_int_equal(system(cmd), 0);
}

/* The provider's own allocations failing in turn; the live connection's edges. */
static void test_llm_countdown(void **state) {
  (void)state;
  char err[512];
  as_cassette *c = NULL;
  assert_int_equal(as_cassette_load(CAS "/openai-text", &c, err, sizeof err), AS_OK);
  unsigned long k;
  for (k = 1; k < 1000; k++) {
    size_t live = fw_live_blocks();
    fw_countdown(FW_ALLOC, k, ENOMEM, 0);
    as_llm llm;
    int rc = as_cassette_llm_from(c, &llm, NULL, 0);
    int fired = fw_fired();
    fw_disarm();
    if (rc == AS_OK) as_llm_destroy(&llm);
    assert_int_equal(fw_live_blocks(), live);
    if (!fired) {
      assert_int_equal(rc, AS_OK);
      break;
    }
    assert_int_equal(rc, AS_NOMEM);
  }
  assert_true(k > 2);
  as_cassette_free(c);
  as_llm llm;
  assert_int_equal(as_cassette_llm_new("/nonexistent", &llm, NULL, 0), AS_NOTFOUND);
  assert_int_equal(as_cassette_llm_new("/nonexistent", &llm, err, 0), AS_NOTFOUND);
  assert_int_equal(as_cassette_llm_from(NULL, &llm, err, 0), AS_INVAL);
  /* The live connection: URLs it refuses, a deadline passed, a socket not there. */
  as_cassette_live *lv = NULL;
  assert_int_equal(as_cassette_live_new(NULL), AS_INVAL);
  assert_null(as_cassette_live_net(NULL));
  fw_countdown(FW_ALLOC, 1, ENOMEM, 0);
  assert_int_equal(as_cassette_live_new(&lv), AS_NOMEM);
  fw_disarm();
  assert_int_equal(as_cassette_live_new(&lv), AS_OK);
  const as_http_net *net = as_cassette_live_net(lv);
  const char *bad[] = {"nope", "http://localhost:80/", "http://127.0.0.1/", "http://127.0.0.1:0/",
                       "http://127.0.0.1:70000/", "http://127.0.0.1:80x", "http://999.1.1.1:80/",
                       "http://1111111111111111111111111111111111111111111111111111111111111111111.1:8/",
                       "http://127.0.0.1:/"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    as_http_request r = {.url = bad[i]};
    assert_int_equal(net->open_socket(net->ctx, &r), -1);
  }
  as_http_request none = {.url = NULL};
  assert_int_equal(net->open_socket(net->ctx, &none), -1);
  assert_int_equal(net->open_socket(net->ctx, NULL), -1);
  assert_int_equal(net->wait(net->ctx, 0, 0), 1);
  assert_int_equal(net->wait(net->ctx, 12345, as_now_mono_ns() + 1000000), 0); /* POLLNVAL */
  as_cassette_live_free(lv);
}

int main(void) {
  if (as_http_global_init() != AS_OK) return 1;
  if (sim_new(&S, SIM_SWITCH_FCONTEXT, 0) != AS_OK || simdb_install() != AS_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bundled),
      cmocka_unit_test(test_posix_replay),
      cmocka_unit_test(test_scenarios),
      cmocka_unit_test(test_expect_is_evidence),
      cmocka_unit_test(test_record),
      cmocka_unit_test(test_llm_countdown),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  sim_free(S);
  if (simdb_uninstall() != AS_OK) rc = 1;
  return rc;
}

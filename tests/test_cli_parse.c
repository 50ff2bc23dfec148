/*
** test_cli_parse.c -- `agentsim parse`, called directly (as test_cli_paths.c
** does): its command line, and every allocation it makes (jansson's too,
** through the wrapped allocator the test hands it) failing in turn -- each
** failure exits 3 or gives the answer it gives without one, and leaks
** nothing. parse_cli_test.sh covers the tool's contract from outside.
**
** Linked with --wrap (faultwrap.h).
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clitest.h"

static char dir[] = "/tmp/agentsim-parse-XXXXXX";
static char json_ok[128], json_dup[128], env_fence[128], env_bad[128], structured[128];

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_true(fputs(text, f) >= 0);
  assert_int_equal(fclose(f), 0);
}

static int group_setup(void **state) {
  (void)state;
  if (!mkdtemp(dir)) return -1;
  snprintf(json_ok, sizeof json_ok, "%s/ok.json", dir);
  snprintf(json_dup, sizeof json_dup, "%s/dup.json", dir);
  snprintf(env_fence, sizeof env_fence, "%s/fence.txt", dir);
  snprintf(env_bad, sizeof env_bad, "%s/bad.txt", dir);
  snprintf(structured, sizeof structured, "%s/structured.json", dir);
  write_file(json_ok, "{\"k\":[1,0.1,\"s\",{\"n\":null}],\"e\":\"\\u00e9\"}");
  write_file(json_dup, "{\"a\":1,\"a\":2}");
  write_file(env_fence, "Sure.\n```json\n{\"content\":\"hi\",\"confidence\":0.9,"
                        "\"rationale\":\"r\",\"signal\":\"go\"}\n```\n");
  write_file(env_bad, "x {\"content\":\"hi\",\"confidence\":-1,\"rationale\":\"r\"}");
  write_file(structured, "{\"content\":\"s\",\"confidence\":0.25,\"rationale\":\"r\"}");
  json_set_alloc_funcs(malloc, free);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  const char *files[] = {json_ok, json_dup, env_fence, env_bad, structured};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
    if (unlink(files[i]) != 0) return -1;
  return rmdir(dir);
}

static void test_args(void **state) {
  (void)state;
  const char *a[] = {"agentsim", "parse", "envelope", "-", "--structured", "s.json", "--json"};
  cli_opts o = parse(ARGC(a), a);
  assert_int_equal(o.cmd, CMD_PARSE);
  assert_string_equal(o.parse_kind, "envelope");
  assert_string_equal(o.parse_file, "-");
  assert_string_equal(o.structured, "s.json");
  assert_true(o.json);
  static const struct {
    const char *argv[6];
    int argc;
    const char *err;
  } bad[] = {
      {{"agentsim", "parse"}, 2, "parse: expected envelope or json, then FILE"},
      {{"agentsim", "parse", "yaml", "f"}, 4, "parse: expected envelope or json, not 'yaml'"},
      {{"agentsim", "parse", "json"}, 3, "parse json: expected FILE (- for stdin)"},
      {{"agentsim", "parse", "json", "a", "b"}, 5, "parse json takes one FILE; unexpected 'b'"},
      {{"agentsim", "parse", "json", "a", "--structured=s"}, 5, "parse json does not take --structured"},
      {{"agentsim", "parse", "envelope", "-", "--structured=-"}, 5, "cannot both be - (stdin)"},
      {{"agentsim", "parse", "envelope", "f", "--structured="}, 5, "--structured: expected a file name"},
      {{"agentsim", "parse", "json", "f", "--seed", "1"}, 6, "parse does not take --seed"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cli_opts b;
    char err[256];
    assert_int_equal(cli_parse(bad[i].argc, (char **)bad[i].argv, &b, err, sizeof err), AS_INVAL);
    if (!strstr(err, bad[i].err)) fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].err);
  }
  const char *h[] = {"agentsim", "parse", "--help"};
  o = parse(ARGC(h), h);
  assert_int_equal(o.cmd, CMD_HELP);
  assert_int_equal(o.help_for, CMD_PARSE);
}

static unsigned long countdown_n;

/* cmd_parse with the n-th allocation failing (the capture's own are not
** counted). */
static int armed_parse(const cli_opts *o, const char *argv0) {
  fw_countdown(FW_ALLOC, countdown_n, ENOMEM, 0);
  int ex = cmd_parse(o, argv0);
  fw_disarm();
  return ex;
}

/* Run `agentsim parse ...` with allocation n = 1, 2 ... failing until none
** does: want its exit status then, and stdout holding `out`. */
static void countdown(int argc, const char **argv, int want, const char *out) {
  cli_opts o = parse(argc, argv);
  for (countdown_n = 1;; countdown_n++) {
    size_t live = fw_live_blocks();
    outcome r = call(armed_parse, &o);
    int fired = fw_fired();
    if (!fired || r.ex != EXIT_INTERNAL) {
      /* No failure, or one the command got round (a shorter form of a
      ** number it could not check): the answer it always gives. */
      if (r.ex != want) fail_msg("allocation %lu: exit %d, want %d:\n%s", countdown_n, r.ex, want,
                                 r.err);
      expect_in(r.out, out, "stdout");
    }
    outcome_free(&r);
    assert_int_equal(fw_live_blocks(), live);
    if (!fired) break;
  }
  assert_true(countdown_n > 2);
}

static void test_alloc_json(void **state) {
  (void)state;
  const char *a[] = {"agentsim", "parse", "json", json_ok};
  countdown(ARGC(a), a, EXIT_PASS, "{\"k\":[1,0.1,\"s\",{\"n\":null}],\"e\":\"\xC3\xA9\"}\n");
  const char *b[] = {"agentsim", "parse", "json", json_ok, "--json"};
  countdown(ARGC(b), b, EXIT_PASS, "\"value\":{\"k\":[1,0.1,");
  const char *c[] = {"agentsim", "parse", "json", json_dup, "--json"};
  countdown(ARGC(c), c, EXIT_FOUND, "\"reason\":\"duplicate key \\\"a\\\"");
}

static void test_alloc_envelope(void **state) {
  (void)state;
  const char *a[] = {"agentsim", "parse", "envelope", env_fence};
  countdown(ARGC(a), a, EXIT_PASS, "content: hi\nconfidence: 0.9\nrationale: r\nsignal: go\n");
  const char *b[] = {"agentsim", "parse", "envelope", env_fence, "--json"};
  countdown(ARGC(b), b, EXIT_PASS, "\"signal\":\"go\",\"from\":\"fence\"}");
  const char *c[] = {"agentsim", "parse", "envelope", env_bad, "--json", "--structured", structured};
  countdown(ARGC(c), c, EXIT_PASS, "\"confidence\":0.25,\"rationale\":\"r\",\"signal\":null,"
            "\"from\":\"structured\"");
  const char *d[] = {"agentsim", "parse", "envelope", env_bad, "--json"};
  countdown(ARGC(d), d, EXIT_FOUND, "confidence -1 outside [0,1]");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_args, reset_faults),
      cmocka_unit_test_setup(test_alloc_json, reset_faults),
      cmocka_unit_test_setup(test_alloc_envelope, reset_faults),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

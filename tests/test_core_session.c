/*
** test_core_session.c -- the in-memory session model (session.h), thread
** ids (checkpoints.h) and terminal-status inference (finalize.h): pure code,
** no database.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "agentsim/checkpoints.h"
#include "agentsim/finalize.h"
#include "agentsim/session.h"

/* A string of n copies of c (static storage, n < 200000). */
static const char *rep(char c, size_t n) {
  static char buf[200001];
  assert_true(n < sizeof buf);
  memset(buf, c, n);
  buf[n] = '\0';
  return buf;
}

static void test_status_names(void **state) {
  (void)state;
  static const char *const want[] = {"new",      "in_progress",  "awaiting_input", "resolved",
                                     "escalated", "needs_review", "error"};
  assert_int_equal(sizeof want / sizeof want[0], AS__SESS_COUNT);
  for (int i = 0; i < AS__SESS_COUNT; i++) {
    as_session_status st = AS__SESS_COUNT;
    assert_string_equal(as_session_status_name((as_session_status)i), want[i]);
    assert_int_equal(as_session_status_parse(want[i], &st), AS_OK);
    assert_int_equal(st, i);
  }
  as_session_status st = AS_SESS_NEW;
  assert_string_equal(as_session_status_name(AS__SESS_COUNT), "?");
  assert_int_equal(as_session_status_parse("done", &st), AS_PARSE);
  assert_int_equal(as_session_status_parse(NULL, &st), AS_PARSE);
  assert_int_equal(st, AS_SESS_NEW);

  /* terminal: finalize's "leave it"; active: the GC's "keep its checkpoints". */
  static const bool terminal[] = {false, false, false, true, true, true, true};
  static const bool active[] = {true, true, true, false, false, false, true};
  for (int i = 0; i < AS__SESS_COUNT; i++) {
    assert_int_equal(as_session_status_terminal((as_session_status)i), terminal[i]);
    assert_int_equal(as_session_status_active((as_session_status)i), active[i]);
  }
}

static void test_tool_state_names(void **state) {
  (void)state;
  static const char *const want[] = {"executed", "pending_approval", "rejected", "timed_out"};
  assert_int_equal(sizeof want / sizeof want[0], AS__TOOL_COUNT);
  for (int i = 0; i < AS__TOOL_COUNT; i++) {
    as_tool_state st = AS__TOOL_COUNT;
    assert_string_equal(as_tool_state_name((as_tool_state)i), want[i]);
    assert_int_equal(as_tool_state_parse(want[i], &st), AS_OK);
    assert_int_equal(st, i);
  }
  as_tool_state st = AS_TOOL_EXECUTED;
  assert_string_equal(as_tool_state_name(AS__TOOL_COUNT), "?");
  assert_int_equal(as_tool_state_parse("approved", &st), AS_PARSE);
  assert_int_equal(st, AS_TOOL_EXECUTED);
}

static void test_id_check(void **state) {
  (void)state;
  assert_int_equal(as_session_id_check("s-1_a.B~!"), AS_OK);
  assert_int_equal(as_session_id_check(NULL), AS_INVAL);
  assert_int_equal(as_session_id_check(""), AS_INVAL);
  assert_int_equal(as_session_id_check("a:retry-1"), AS_INVAL); /* the suffix separator */
  assert_int_equal(as_session_id_check("a b"), AS_INVAL);
  assert_int_equal(as_session_id_check("a\tb"), AS_INVAL);
  assert_int_equal(as_session_id_check("a\x7f"), AS_INVAL);
  assert_int_equal(as_session_id_check("caf\xc3\xa9"), AS_INVAL);
  assert_int_equal(as_session_id_check(rep('x', AS_SESSION_ID_MAX - 1)), AS_OK);
  assert_int_equal(as_session_id_check(rep('x', AS_SESSION_ID_MAX)), AS_TOOBIG);
}

static void test_init_and_clear(void **state) {
  (void)state;
  as_session s;
  assert_int_equal(as_session_init(NULL, "a"), AS_INVAL);
  assert_int_equal(as_session_init(&s, ""), AS_INVAL);
  assert_int_equal(as_session_init(&s, rep('y', AS_SESSION_ID_MAX)), AS_TOOBIG);
  assert_int_equal(as_session_init(&s, "sess-1"), AS_OK);
  assert_string_equal(s.id, "sess-1");
  assert_int_equal(s.status, AS_SESS_NEW);
  assert_int_equal(s.version, 0);
  assert_int_equal(s.ncalls, 0);
  assert_null(s.extra);
  as_session_clear(&s);
  as_session_clear(&s); /* a cleared session clears again */
  as_session_clear(NULL);
  as_session z = {0};
  as_session_clear(&z);
}

static void test_add_call(void **state) {
  (void)state;
  as_session s;
  assert_int_equal(as_session_init(&s, "a"), AS_OK);
  assert_int_equal(as_session_add_call(NULL, "t", NULL, NULL, AS_TOOL_EXECUTED), AS_INVAL);
  assert_int_equal(as_session_add_call(&s, "t", NULL, NULL, AS__TOOL_COUNT), AS_INVAL);
  assert_int_equal(as_session_add_call(&s, NULL, NULL, NULL, AS_TOOL_EXECUTED), AS_INVAL);
  assert_int_equal(as_session_add_call(&s, "", NULL, NULL, AS_TOOL_EXECUTED), AS_INVAL);
  assert_int_equal(as_session_add_call(&s, rep('t', AS_TOOL_NAME_MAX), NULL, NULL,
                                       AS_TOOL_EXECUTED),
                   AS_TOOBIG);
  assert_int_equal(as_session_add_call(&s, "t", rep('1', AS_TOOL_JSON_MAX + 1), NULL,
                                       AS_TOOL_EXECUTED),
                   AS_TOOBIG);
  assert_int_equal(as_session_add_call(&s, "t", NULL, rep('1', AS_TOOL_JSON_MAX + 1),
                                       AS_TOOL_EXECUTED),
                   AS_TOOBIG);
  assert_int_equal(s.ncalls, 0);

  /* Defaults, then the exact caps. */
  assert_int_equal(as_session_add_call(&s, "srv:tool", NULL, NULL, AS_TOOL_PENDING_APPROVAL),
                   AS_OK);
  assert_string_equal(s.calls[0].tool, "srv:tool");
  assert_string_equal(s.calls[0].args, "{}");
  assert_string_equal(s.calls[0].result, "null");
  assert_int_equal(s.calls[0].state, AS_TOOL_PENDING_APPROVAL);
  assert_int_equal(as_session_add_call(&s, rep('t', AS_TOOL_NAME_MAX - 1), "[1]", "2",
                                       AS_TOOL_EXECUTED),
                   AS_OK);
  assert_int_equal(as_session_add_call(&s, "big", rep('7', AS_TOOL_JSON_MAX),
                                       rep('8', AS_TOOL_JSON_MAX), AS_TOOL_REJECTED),
                   AS_OK);
  assert_int_equal(strlen(s.calls[2].args), AS_TOOL_JSON_MAX);
  while (s.ncalls < AS_TOOL_CALLS_MAX)
    assert_int_equal(as_session_add_call(&s, "n", "{}", "{}", AS_TOOL_TIMED_OUT), AS_OK);
  assert_int_equal(s.calls_cap, AS_TOOL_CALLS_MAX);
  assert_int_equal(as_session_add_call(&s, "n", "{}", "{}", AS_TOOL_EXECUTED), AS_TOOBIG);
  assert_int_equal(s.ncalls, AS_TOOL_CALLS_MAX);
  as_session_clear(&s);
  assert_int_equal(s.ncalls, 0);
  assert_null(s.calls);
}

static void test_extra_and_reason(void **state) {
  (void)state;
  as_session s;
  assert_int_equal(as_session_init(&s, "a"), AS_OK);
  assert_int_equal(as_session_set_extra(NULL, "{}"), AS_INVAL);
  assert_int_equal(as_session_set_extra(&s, "{\"k\":1}"), AS_OK);
  assert_string_equal(s.extra, "{\"k\":1}");
  assert_int_equal(as_session_set_extra(&s, rep('1', AS_EXTRA_MAX + 1)), AS_TOOBIG);
  assert_string_equal(s.extra, "{\"k\":1}");
  assert_int_equal(as_session_set_extra(&s, NULL), AS_OK);
  assert_string_equal(s.extra, "{}");

  assert_int_equal(as_session_set_reason(NULL, "x"), AS_INVAL);
  assert_int_equal(as_session_set_reason(&s, "why"), AS_OK);
  assert_string_equal(s.needs_review_reason, "why");
  assert_int_equal(as_session_set_reason(&s, rep('r', AS_REASON_MAX)), AS_TOOBIG);
  assert_string_equal(s.needs_review_reason, "why");
  assert_int_equal(as_session_set_reason(&s, rep('r', AS_REASON_MAX - 1)), AS_OK);
  assert_int_equal(as_session_set_reason(&s, ""), AS_OK);
  assert_string_equal(s.needs_review_reason, "");
  assert_int_equal(as_session_set_reason(&s, "x"), AS_OK);
  assert_int_equal(as_session_set_reason(&s, NULL), AS_OK);
  assert_string_equal(s.needs_review_reason, "");
  as_session_clear(&s);
}

static void test_thread_base_len(void **state) {
  (void)state;
  static const struct {
    const char *tid;
    size_t base;
  } cases[] = {
      {"s", 1},
      {"s:retry-1", 1},
      {"sess:retry-12", 4},
      {"sess:retry-007", 4},
      {"s:retry-", 8},          /* no digits: not a suffix */
      {"s:retry-1a", 10},       /* digits must end the id */
      {"s:retry1", 8},
      {"s:Retry-1", 9},
      {"s-retry-1", 9},
      {"x:retry-1:retry-2", 9}, /* only one suffix comes off */
      {"retry-1", 7},           /* no colon before it */
      {":retry-5", 0},
      {"123", 3},
      {"", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (as_thread_base_len(cases[i].tid) != cases[i].base)
      fail_msg("base of '%s': %zu, want %zu", cases[i].tid, as_thread_base_len(cases[i].tid),
               cases[i].base);
  }
  assert_int_equal(as_thread_base_len(NULL), 0);
}

/* A session with the given (tool, state) history, oldest first. */
static void history(as_session *s, size_t n, const char *const *tools, const as_tool_state *st) {
  assert_int_equal(as_session_init(s, "h"), AS_OK);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(as_session_add_call(s, tools[i], NULL, NULL, st[i]), AS_OK);
}

static void test_infer_table(void **state) {
  (void)state;
#define E AS_TOOL_EXECUTED
#define P AS_TOOL_PENDING_APPROVAL
#define R AS_TOOL_REJECTED
#define T AS_TOOL_TIMED_OUT
  static const char *const legacy[] = {"notify_team", "pager:page_someone"};
  const as_finalize_rules rules = {legacy, 2};
  static const struct {
    const char *tools[4];
    as_tool_state st[4];
    size_t n;
    bool rules;
    as_session_status want;
  } cases[] = {
      {{0}, {0}, 0, true, AS_SESS_NEEDS_REVIEW},
      {{"search"}, {E}, 1, true, AS_SESS_NEEDS_REVIEW},
      {{"mark_resolved"}, {E}, 1, true, AS_SESS_RESOLVED},
      {{"mark_escalated"}, {E}, 1, true, AS_SESS_ESCALATED},
      {{"core:mark_resolved"}, {E}, 1, true, AS_SESS_RESOLVED},
      {{"a:b:mark_escalated"}, {E}, 1, true, AS_SESS_ESCALATED},
      /* newest first */
      {{"mark_escalated", "mark_resolved"}, {E, E}, 2, true, AS_SESS_RESOLVED},
      {{"mark_resolved", "mark_escalated", "search"}, {E, E, E}, 3, true, AS_SESS_ESCALATED},
      /* only executed calls count */
      {{"mark_resolved", "mark_escalated"}, {E, P}, 2, true, AS_SESS_RESOLVED},
      {{"mark_resolved", "mark_escalated"}, {E, R}, 2, true, AS_SESS_RESOLVED},
      {{"mark_escalated", "mark_resolved"}, {E, T}, 2, true, AS_SESS_ESCALATED},
      {{"mark_resolved"}, {P}, 1, true, AS_SESS_NEEDS_REVIEW},
      /* the legacy list: full name or the name after the last ':' */
      {{"notify_team"}, {E}, 1, true, AS_SESS_ESCALATED},
      {{"srv:notify_team"}, {E}, 1, true, AS_SESS_ESCALATED},
      {{"pager:page_someone"}, {E}, 1, true, AS_SESS_ESCALATED},
      {{"other:page_someone"}, {E}, 1, true, AS_SESS_NEEDS_REVIEW},
      {{"mark_resolved", "notify_team"}, {E, E}, 2, true, AS_SESS_ESCALATED},
      {{"notify_team", "mark_resolved"}, {E, E}, 2, true, AS_SESS_RESOLVED},
      {{"notify_team"}, {P}, 1, true, AS_SESS_NEEDS_REVIEW},
      {{"notify_team"}, {E}, 1, false, AS_SESS_NEEDS_REVIEW}, /* no rules, no legacy */
      {{"mark_resolvedx", "xmark_escalated"}, {E, E}, 2, true, AS_SESS_NEEDS_REVIEW},
  };
#undef E
#undef P
#undef R
#undef T
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    as_session s;
    history(&s, cases[i].n, cases[i].tools, cases[i].st);
    as_session_status got = AS__SESS_COUNT;
    char reason[AS_REASON_MAX] = "junk";
    assert_int_equal(as_infer_terminal(&s, cases[i].rules ? &rules : NULL, &got, reason,
                                       sizeof reason),
                     AS_OK);
    if (got != cases[i].want)
      fail_msg("case %zu: %s, want %s", i, as_session_status_name(got),
               as_session_status_name(cases[i].want));
    assert_string_equal(reason, got == AS_SESS_NEEDS_REVIEW ? AS_REASON_NO_TERMINAL : "");
    as_session_clear(&s);
  }
}

static void test_infer_refusals(void **state) {
  (void)state;
  as_session s;
  assert_int_equal(as_session_init(&s, "h"), AS_OK);
  as_session_status got = AS_SESS_NEW;
  char reason[AS_REASON_MAX];
  assert_int_equal(as_infer_terminal(NULL, NULL, &got, reason, sizeof reason), AS_INVAL);
  assert_int_equal(as_infer_terminal(&s, NULL, NULL, reason, sizeof reason), AS_INVAL);
  assert_int_equal(as_infer_terminal(&s, NULL, &got, NULL, sizeof reason), AS_INVAL);
  /* The reason must fit, NUL included; a decided status needs one byte. */
  assert_int_equal(as_infer_terminal(&s, NULL, &got, reason, sizeof AS_REASON_NO_TERMINAL - 1),
                   AS_TOOBIG);
  assert_int_equal(got, AS_SESS_NEW);
  assert_int_equal(as_infer_terminal(&s, NULL, &got, reason, sizeof AS_REASON_NO_TERMINAL),
                   AS_OK);
  assert_int_equal(as_session_add_call(&s, "mark_resolved", NULL, NULL, AS_TOOL_EXECUTED),
                   AS_OK);
  assert_int_equal(as_infer_terminal(&s, NULL, &got, reason, 0), AS_TOOBIG);
  assert_int_equal(as_infer_terminal(&s, NULL, &got, reason, 1), AS_OK);
  assert_int_equal(got, AS_SESS_RESOLVED);
  as_session_clear(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_names),   cmocka_unit_test(test_tool_state_names),
      cmocka_unit_test(test_id_check),       cmocka_unit_test(test_init_and_clear),
      cmocka_unit_test(test_add_call),       cmocka_unit_test(test_extra_and_reason),
      cmocka_unit_test(test_thread_base_len), cmocka_unit_test(test_infer_table),
      cmocka_unit_test(test_infer_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

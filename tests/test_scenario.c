/*
** test_scenario.c -- the scenario parser: every bundled scenario parses and
** round-trips through scn_format; every refusal names file, line, column
** and what was expected, and leaves nothing allocated; storage grows with
** what a file declares (no oracle cap leaks into the format); the format
** reference is generated from the operation table.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docgen.h"
#include "scenario/scenario.h"

static scenario *A, *B;

static int setup(void **state) {
  (void)state;
  A = malloc(sizeof *A);
  B = malloc(sizeof *B);
  return A && B ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  scn_clear(A);
  scn_clear(B);
  free(A);
  free(B);
  return 0;
}

/* Format sc, parse it back, and get the same scenario; a copy equals it too. */
static void roundtrip(const scenario *sc) {
  static char buf[256 * 1024];
  size_t len = 0;
  char err[256];
  assert_int_equal(scn_format(sc, buf, sizeof buf, &len), AS_OK);
  int rc = scn_parse("formatted", buf, len, B, err, sizeof err);
  if (rc != AS_OK) fail_msg("reparse: %s\n%s", err, buf);
  assert_true(scn_equal(sc, B));
  scenario copy;
  assert_int_equal(scn_copy(&copy, sc), AS_OK);
  assert_true(scn_equal(&copy, sc));
  scn_clear(&copy);
  scn_clear(B);
}

static void test_bundled(void **state) {
  (void)state;
  static const char *const names[] = {"finalize_vs_escalate", "double_finalize", "stale_storm",
                                      "crash_restart", "gc_vs_retry", "pause_vs_finalize",
                                      "terminal_history", "gc_vs_errored", "try_refused",
                                      "crash_gc", "stream_turns", "swarm_core",
                                      "crash_truncate", "gate_approved", "approval_vs_watchdog",
                                      "double_approval", "model_moods", "code_review",
                                      "retry_race", "retry_cancel", "retry_watchdog",
                                      "flaky_retry", "impatient_permanent", "retry_crash"};
  unsigned journals = 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/fixtures/scenarios/%s.scn", AS_SOURCE_DIR, names[i]);
    scenario *sc = malloc(sizeof *sc);
    assert_non_null(sc);
    int rc = scn_load(path, sc, err, sizeof err);
    if (rc != AS_OK) fail_msg("%s", err);
    assert_string_equal(sc->name, names[i]);
    assert_true(sc->nactors >= 1);
    journals |= 1u << sc->journal;
    roundtrip(sc);
    scn_clear(sc);
    free(sc);
  }
  assert_int_equal(journals, 0xf); /* every journal mode has a bundled scenario */
}

static void test_fields(void **state) {
  (void)state;
  const char *text =
      "# comment\n"
      "scenario demo   # trailing comment\n"
      "describe \"a # inside a string\"\n"
      "sessions 5\n"
      "synchronous extra\n"
      "journal wal\n"
      "limits steps=1000 time=2h\n"
      "faults read=1 write=2 full=3 busy=4 sync=1000000 tear=6\n"
      "legacy_escalate notify page\n"
      "actor a count=3\n"
      "\trepeat=7 tool s=4 name=mark_resolved\n"
      "    sleep d=250ms\n"
      "    checkpoint s=any retry=2\n"
      "    gc\n"
      "    crash\n"
      "    finalize s=all\n";
  char err[256];
  int rc = scn_parse("demo.scn", text, strlen(text), A, err, sizeof err);
  if (rc != AS_OK) fail_msg("%s", err);
  assert_string_equal(A->describe, "a # inside a string");
  assert_int_equal(A->sessions, 5);
  assert_int_equal(A->journal, SCN_JOURNAL_WAL);
  assert_int_equal(A->synchronous, SCN_SYNC_EXTRA);
  assert_true(A->max_steps == 1000);
  assert_true(A->max_virtual_ns == 2ull * 3600 * 1000000000ull);
  assert_int_equal(A->faults.sync, 1000000);
  assert_int_equal(A->faults.busy, 4);
  assert_int_equal(A->faults.tear, 6);
  assert_int_equal(A->nlegacy, 2);
  assert_string_equal(A->legacy[1], "page");
  assert_int_equal(A->actors[0].count, 3);
  assert_int_equal(A->actors[0].nops, 6);
  assert_int_equal(A->actors[0].ops[5].session, SCN_ALL);
  const scn_op *op = &A->actors[0].ops[0];
  assert_int_equal(op->kind, SCN_OP_TOOL);
  assert_int_equal(op->repeat, 7);
  assert_int_equal(op->session, 4);
  assert_string_equal(op->name, "mark_resolved");
  assert_int_equal(op->state, 0);
  assert_true(A->actors[0].ops[1].duration == 250000000ull);
  assert_int_equal(A->actors[0].ops[2].session, SCN_ANY);
  assert_int_equal(A->actors[0].ops[2].retry, 2);
  roundtrip(A);
  scn_clear(A);
}

/* The operations the oracle issue added, with every key they take. */
static void expect(const char *text, const char *where_what);

static void test_new_ops(void **state) {
  (void)state;
  const char *text =
      "scenario n\nsessions 3\n"
      "actor a\n"
      "    tool s=1 name=srv:mark_resolved state=rejected\n"
      "    tool s=1 name=x state=pending_approval\n"
      "    tool s=1 name=y state=timed_out\n"
      "    tool s=1 name=z state=executed\n"
      "    fail s=2\n"
      "    hold s=0 d=20ms\n"
      "    try s=any\n"
      "    turn s=all name=mark_escalated\n"
      "    checkpoint s=0 retry=1000000\n"
      "    checkpoint thread=ghost.1 retry=2\n"
      "    checkpoint s=1 thread=mine\n"
      "    try s=1 d=5ms\n"
      "    repeat=3 note s=2\n";
  char err[256];
  int rc = scn_parse("n.scn", text, strlen(text), A, err, sizeof err);
  if (rc != AS_OK) fail_msg("%s", err);
  const scn_op *ops = A->actors[0].ops;
  assert_int_equal(ops[0].state, 2);
  assert_string_equal(scn_tool_states[ops[1].state], "pending_approval");
  assert_string_equal(scn_tool_states[ops[2].state], "timed_out");
  assert_int_equal(ops[3].state, 0);
  assert_int_equal(ops[4].kind, SCN_OP_FAIL);
  assert_int_equal(ops[5].kind, SCN_OP_HOLD);
  assert_true(ops[5].duration == 20000000ull);
  assert_int_equal(ops[6].kind, SCN_OP_TRY);
  assert_int_equal(ops[7].kind, SCN_OP_TURN);
  assert_int_equal(ops[7].session, SCN_ALL);
  assert_true(ops[8].retry == SCN_MAX_RETRY);
  assert_string_equal(ops[9].name, "ghost.1");
  assert_int_equal(ops[9].session, SCN_ANY); /* no s=: the thread is its own */
  assert_true(ops[9].retry == 2);
  assert_string_equal(ops[10].name, "mine");
  assert_int_equal(ops[10].session, 1);
  assert_int_equal(ops[11].kind, SCN_OP_TRY);
  assert_true(ops[11].duration == 5000000ull);
  assert_int_equal(ops[12].kind, SCN_OP_NOTE);
  assert_int_equal(ops[12].repeat, 3);
  roundtrip(A);
  scn_clear(A);
  /* A checkpoint names its thread one way or the other. */
  expect("scenario n\nactor a\n    checkpoint retry=2\n", "t.scn:3:5: expected s= or thread= for checkpoint");
  expect("scenario n\nactor a\n    checkpoint thread=a/b\n", "t.scn:3:24: expected a thread id");
  expect("scenario n\nactor a\n    note s=0 d=1ms\n", "t.scn:3:14: expected s= for note, found 'd='");
}

static void expect(const char *text, const char *where_what) {
  char err[256];
  int rc = scn_parse("t.scn", text, strlen(text), A, err, sizeof err);
  if (rc == AS_OK) fail_msg("accepted: %s", text);
  if (!strstr(err, where_what)) fail_msg("message '%s' lacks '%s'", err, where_what);
  assert_int_equal(A->nactors, 0); /* nothing half-filled, nothing left allocated */
  assert_null(A->actors);
  assert_null(A->legacy);
  assert_string_equal(A->name, "");
}

#define HEAD "scenario x\n"
#define ACT "actor a\n    gc\n"

static void test_errors(void **state) {
  (void)state;
  expect("", "t.scn:1:1: expected 'scenario NAME' (the file is empty)");
  expect("sessions 2\n", "t.scn:1:1: expected 'scenario NAME' first, found 'sessions'");
  expect(HEAD "scenario y\n" ACT, "t.scn:2:1: expected one 'scenario' line");
  expect(HEAD, "expected at least one actor");
  expect(HEAD "actor a\n", "t.scn:2:1: expected operations (indented lines) under actor a");
  expect(HEAD "    gc\n", "t.scn:2:5: expected an 'actor' line before an indented operation");
  expect(HEAD "sessions 0\n" ACT, "t.scn:2:10: expected a session count from 1 to 1024, found 0");
  expect(HEAD "sessions 99999999999999999999999\n" ACT, "t.scn:2:10: expected a session count");
  expect(HEAD "journal wal2\n" ACT, "t.scn:2:9: expected journal delete, truncate, persist or wal");
  expect(HEAD "synchronous FULL\n" ACT, "t.scn:2:13: expected synchronous off, normal, full or extra");
  expect(HEAD "synchronous\n" ACT, "t.scn:2:1: expected synchronous off, normal, full or extra");
  expect(HEAD "synchronous full\nsynchronous full\n" ACT, "t.scn:3:1: expected one 'synchronous' line");
  /* Not durable with the journal (store.h), wherever the journal line is. */
  expect(HEAD "synchronous full\n" ACT,
         "t.scn:2:13: expected a synchronous level that is durable with journal delete: "
         "synchronous full with journal delete is not durable: the unlink that commits is lost "
         "without a directory sync; use extra");
  expect(HEAD "synchronous normal\njournal wal\n" ACT,
         "t.scn:2:13: expected a synchronous level that is durable with journal wal: "
         "synchronous normal with journal wal is not durable");
  expect(HEAD "journal truncate\nsynchronous   off\n" ACT, "t.scn:3:15: expected a synchronous "
         "level that is durable with journal truncate: synchronous off with journal truncate");
  expect(HEAD "limits steps=0\n" ACT, "t.scn:2:14: expected steps from 1 to 16000000");
  expect(HEAD "limits time=5parsecs\n" ACT, "t.scn:2:13: expected a duration");
  expect(HEAD "limits speed=1\n" ACT, "t.scn:2:8: expected steps= or time=");
  expect(HEAD "faults read=1000001\n" ACT, "t.scn:2:13: expected a rate in parts per million");
  expect(HEAD "faults heat=1\n" ACT, "t.scn:2:8: expected read=, write=, full=, busy=, sync= or tear=");
  expect(HEAD "faults read\n" ACT, "t.scn:2:8: expected KEY=VALUE, found 'read'");
  expect(HEAD "describe unquoted\n" ACT, "t.scn:2:1: expected describe \"TEXT\"");
  expect(HEAD "describe \"open\n" ACT, "t.scn:2:10: expected a closing '\"' for the string");
  expect(HEAD "describe \"a\\b\"\n" ACT, "t.scn:2:12: expected a closing '\"' (strings have no escapes)");
  expect(HEAD "frobnicate\n" ACT, "t.scn:2:1: expected a directive");
  expect(HEAD "actor a count=65\n    gc\n", "t.scn:2:15: expected count from 1 to 64, found 65");
  expect(HEAD "actor a size=2\n    gc\n", "t.scn:2:9: expected count=N");
  expect(HEAD "actor b@d\n    gc\n", "t.scn:2:8: expected an actor name made of letters");
  expect(HEAD "actor a\n    fly s=0\n", "t.scn:3:5: expected an operation (start, tool");
  expect(HEAD "actor a\n    start\n", "t.scn:3:5: expected s= for start (the session: a number below");
  expect(HEAD "actor a\n    start s=1\n", "t.scn:3:13: expected a session number below `sessions`");
  expect(HEAD "actor a\n    start s=0 s=0\n", "t.scn:3:15: expected one s=");
  expect(HEAD "actor a\n    tool s=0\n", "t.scn:3:5: expected name= for tool (the tool's name");
  expect(HEAD "actor a\n    sleep\n", "t.scn:3:5: expected d= for sleep (a virtual duration");
  expect(HEAD "actor a\n    gc s=0\n", "t.scn:3:8: expected nothing after gc (it takes no keys)");
  expect(HEAD "actor a\n    tool s=0 name=t state=done\n", "t.scn:3:27: expected a state: executed, "
                                                          "pending_approval, rejected or timed_out");
  expect(HEAD "actor a\n    hold s=0\n", "t.scn:3:5: expected d= for hold");
  expect(HEAD "actor a\n    start s=0 d=1s\n", "t.scn:3:15: expected s= for start, found 'd='");
  expect(HEAD "actor a\n    turn s=0 state=rejected\n", "t.scn:3:14: expected s= or name= for turn, found 'state='");
  expect(HEAD "actor a\n    repeat=0 gc\n", "t.scn:3:12: expected repeat from 1 to 10000");
  expect(HEAD "actor a\n    repeat=2\n", "expected an operation after repeat=");
  expect(HEAD "actor a\n    gc =x\n", "t.scn:3:8: expected a name before '='");
  expect(HEAD "actor a\n    tool s=0 name=\n", "t.scn:3:19: expected a value after 'name='");
  expect(HEAD "actor a\n    gc\x01\n", "t.scn:3:7: expected printable text (found byte 0x01)");
  expect(HEAD "actor a\n    gc\nsessions 3\n", "t.scn:4:1: expected sessions before the first actor");
  expect(HEAD "legacy_escalate\n" ACT, "t.scn:2:1: expected legacy_escalate TOOL...");
  expect(HEAD "describe \"a\"\ndescribe \"b\"\n" ACT, "t.scn:3:1: expected one 'describe' line");
  expect(HEAD "sessions 2\nsessions 3\n" ACT, "t.scn:3:1: expected one 'sessions' line");
}


/* The latency line: every form parses, round-trips, and compares. */
static void test_latency(void **state) {
  (void)state;
  const char *text =
      "scenario l\nlatency read=20us..100us sync=500us..5ms+1%..30ms write=40us "
      "lock=0ns shm=1us..2us+250ppm..1s\n"
      "actor a\n    crash\n    crash at=random-io\n    crash at=random-io ios=7\n"
      "    crash at=now\n";
  char err[256];
  int rc = scn_parse("l.scn", text, strlen(text), A, err, sizeof err);
  if (rc != AS_OK) fail_msg("%s", err);
  const scn_latency *l = &A->latency;
  assert_int_equal(l->off, 0);
  assert_int_equal(l->given, (1u << SCN_IO_READ) | (1u << SCN_IO_SYNC) | (1u << SCN_IO_WRITE) |
                                 (1u << SCN_IO_LOCK) | (1u << SCN_IO_SHM));
  assert_true(l->kind[SCN_IO_READ].lo == 20000 && l->kind[SCN_IO_READ].hi == 100000);
  assert_true(l->kind[SCN_IO_READ].tail_ppm == 0 && l->kind[SCN_IO_READ].tail_hi == 0);
  assert_true(l->kind[SCN_IO_SYNC].tail_ppm == 10000 && l->kind[SCN_IO_SYNC].tail_hi == 30000000);
  assert_true(l->kind[SCN_IO_WRITE].lo == 40000 && l->kind[SCN_IO_WRITE].hi == 40000);
  assert_true(l->kind[SCN_IO_LOCK].hi == 0);
  assert_true(l->kind[SCN_IO_SHM].tail_ppm == 250 && l->kind[SCN_IO_SHM].tail_hi == 1000000000);
  const scn_op *ops = A->actors[0].ops;
  assert_int_equal(ops[0].when, SCN_WHEN_NOW);
  assert_int_equal(ops[1].when, SCN_WHEN_RANDOM_IO);
  assert_true(ops[1].ios == 0);
  assert_true(ops[2].ios == 7);
  assert_int_equal(ops[3].when, SCN_WHEN_NOW);
  roundtrip(A);
  /* Another bound, another scenario. */
  scenario other;
  const char *t2 = "scenario l\nlatency read=20us..101us sync=500us..5ms+1%..30ms write=40us "
                   "lock=0ns shm=1us..2us+250ppm..1s\n"
                   "actor a\n    crash\n    crash at=random-io\n    crash at=random-io ios=7\n"
                   "    crash at=now\n";
  assert_int_equal(scn_parse("l.scn", t2, strlen(t2), &other, err, sizeof err), AS_OK);
  assert_false(scn_equal(A, &other));
  scn_clear(&other);
  scn_clear(A);
  const char *off = "scenario l\nlatency off\nactor a\n    gc\n";
  assert_int_equal(scn_parse("l.scn", off, strlen(off), A, err, sizeof err), AS_OK);
  assert_int_equal(A->latency.off, 1);
  roundtrip(A);
  scn_clear(A);
}

static void test_latency_errors(void **state) {
  (void)state;
  expect(HEAD "latency\n" ACT, "t.scn:2:1: expected latency off, or latency KIND=LAT...");
  expect(HEAD "latency on\n" ACT, "t.scn:2:9: expected KEY=VALUE, found 'on'");
  expect(HEAD "latency off read=1us\n" ACT, "t.scn:2:9: expected KEY=VALUE, found 'off'");
  expect(HEAD "latency disk=1us\n" ACT, "t.scn:2:9: expected a kind of I/O: open=, read=");
  expect(HEAD "latency read=1us read=2us\n" ACT, "t.scn:2:18: expected one read=");
  expect(HEAD "latency read=fast\n" ACT, "t.scn:2:14: expected a duration");
  expect(HEAD "latency read=1us..\n" ACT, "t.scn:2:19: expected a duration");
  expect(HEAD "latency read=5us..1us\n" ACT, "t.scn:2:14: expected LO..HI with LO at most HI");
  expect(HEAD "latency read=1us..2s\n" ACT, "t.scn:2:19: expected a latency of at most 1s");
  expect(HEAD "latency read=1us+1%..5us\n" ACT, "t.scn:2:14: expected LO..HI before a tail");
  expect(HEAD "latency sync=1ms..2ms+1%\n" ACT, "t.scn:2:23: expected a tail TAIL..MAX");
  expect(HEAD "latency sync=1ms..2ms+often..9ms\n" ACT, "t.scn:2:23: expected how often the tail comes");
  expect(HEAD "latency sync=1ms..2ms+101%..9ms\n" ACT, "t.scn:2:23: expected a percentage from 1 to 100");
  expect(HEAD "latency sync=1ms..2ms+0ppm..9ms\n" ACT, "t.scn:2:23: expected parts per million from 1");
  expect(HEAD "latency sync=1ms..2ms+1%..2ms\n" ACT, "t.scn:2:27: expected a tail's MAX above HI");
  expect(HEAD "latency off\nlatency off\n" ACT, "t.scn:3:1: expected one 'latency' line");
  expect(HEAD "actor a\n    crash at=later\n", "t.scn:3:14: expected when: now or random-io");
  expect(HEAD "actor a\n    crash ios=5\n", "t.scn:3:5: expected at=random-io with ios=");
  expect(HEAD "actor a\n    crash at=random-io ios=0\n", "t.scn:3:28: expected ios from 1 to 1000000");
}

static void test_caps(void **state) {
  (void)state;
  static char big[SCN_MAX_BYTES + 2];
  memset(big, '#', sizeof big);
  char err[256];
  assert_int_equal(scn_parse("big.scn", big, sizeof big, A, err, sizeof err), AS_TOOBIG);
  assert_non_null(strstr(err, "at most"));
  char line[SCN_MAX_LINE + 40];
  memset(line, 'a', sizeof line);
  memcpy(line, "scenario x\n#", 12);
  line[sizeof line - 1] = '\n';
  assert_int_equal(scn_parse("l.scn", line, sizeof line, A, err, sizeof err), AS_PARSE);
  assert_non_null(strstr(err, "l.scn:2:1025: expected a line of at most 1024 characters"));
  /* Too many operations under one actor. */
  static char many[64 * 1024];
  size_t n = (size_t)snprintf(many, sizeof many, "scenario x\nactor a\n");
  for (unsigned i = 0; i <= SCN_MAX_OPS; i++) n += (size_t)snprintf(many + n, sizeof many - n, "    gc\n");
  assert_int_equal(scn_parse("m.scn", many, n, A, err, sizeof err), AS_PARSE);
  assert_non_null(strstr(err, "at most 128 operations per actor"));
}

/* No oracle table caps a value the parser accepts: any number of distinct
** tool names, retry numbers up to the documented bound. */
static void test_no_hidden_caps(void **state) {
  (void)state;
  static char text[64 * 1024];
  char err[256];
  size_t n = (size_t)snprintf(text, sizeof text, "scenario x\n");
  for (unsigned a = 0; a < 4; a++) {
    n += (size_t)snprintf(text + n, sizeof text - n, "actor a%u\n", a);
    for (unsigned i = 0; i < 100; i++)
      n += (size_t)snprintf(text + n, sizeof text - n, "    tool s=0 name=t%u_%u\n", a, i);
    n += (size_t)snprintf(text + n, sizeof text - n, "    checkpoint s=0 retry=%u\n", 999990 + a);
  }
  assert_int_equal(scn_parse("t.scn", text, n, A, err, sizeof err), AS_OK);
  assert_int_equal(A->nactors, 4);
  assert_int_equal(A->actors[3].nops, 101);
  assert_string_equal(A->actors[3].ops[99].name, "t3_99");
  assert_true(A->actors[3].ops[100].retry == 999993);
  roundtrip(A);
  scn_clear(A);
}

/* S with every run of spaces and newlines made one space, in place. */
static char *squeeze(char *s) {
  char *w = s;
  for (const char *r = s; *r; r++)
    if (!((*r == ' ' || *r == '\n') && w > s && w[-1] == ' ')) *w++ = *r == '\n' ? ' ' : *r;
  *w = 0;
  return s;
}

/* The reference is the table: every operation and key, both forms (the text
** form is filled to 80 columns, so it is compared with its lines joined). */
static void test_reference(void **state) {
  (void)state;
  for (int md = 0; md < 2; md++) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    scn_write_reference(f, md);
    assert_int_equal(fclose(f), 0);
    if (!md) squeeze(text);
    for (unsigned k = 0; k < SCN__OP_COUNT; k++) {
      char want[96];
      snprintf(want, sizeof want, md ? "| `%s" : " %s", scn_ops[k].keyword);
      if (!strstr(text, want)) fail_msg("reference lacks %s", want);
      assert_non_null(strstr(text, scn_ops[k].help));
    }
    assert_non_null(strstr(text, md ? "| `state=` |" : " state the call's"));
    assert_non_null(strstr(text, "legacy_escalate"));
    free(text);
  }
}

static void test_load_errors(void **state) {
  (void)state;
  char err[256];
  assert_int_equal(scn_load("/nonexistent/dir/x.scn", A, err, sizeof err), AS_IO);
  assert_non_null(strstr(err, "/nonexistent/dir/x.scn: cannot open"));
}

/* The refusals test_errors leaves out: the tokenizer's, every cap, every
** "one X" and every malformed number, duration and name. */
static void test_more_errors(void **state) {
  (void)state;
  char text[8192];
  /* 25 words on a line. */
  size_t n = (size_t)snprintf(text, sizeof text, HEAD "legacy_escalate");
  for (int i = 0; i < 24; i++) n += (size_t)snprintf(text + n, sizeof text - n, " t%d", i);
  snprintf(text + n, sizeof text - n, "\n" ACT);
  expect(text, "t.scn:2:");
  expect(text, "expected at most 24 words on a line");
  expect(HEAD "describe \"a\"x\n" ACT, "t.scn:2:13: expected a space after the closing '\"'");
  expect(HEAD "describe a\"b\n" ACT, "t.scn:2:11: expected a space before a '\"'");
  expect("\"scenario\" x\n" ACT, "t.scn:1:1: expected a word, found 'scenario'");
  expect("scenario\n" ACT, "t.scn:1:1: expected scenario NAME");
  expect("scenario a b\n" ACT, "t.scn:1:1: expected scenario NAME");
  /* Names: too long, empty, a bad character. */
  n = (size_t)snprintf(text, sizeof text, "scenario ");
  for (unsigned i = 0; i < SCN_MAX_NAME; i++) text[n++] = 'n';
  snprintf(text + n, sizeof text - n, "\n" ACT);
  expect(text, "t.scn:1:10: expected a scenario name of 1 to 63 characters");
  expect(HEAD "legacy_escalate ok b!d\n" ACT, "t.scn:2:21: expected a tool name made of letters");
  expect(HEAD "legacy_escalate \"quoted\"\n" ACT, "t.scn:2:17: expected a word, found 'quoted'");
  expect(HEAD "legacy_escalate a b c d e f g h i\n" ACT, "t.scn:2:33: expected at most 8 legacy tools");
  /* describe */
  expect(HEAD "describe \"a\" \"b\"\n" ACT, "t.scn:2:1: expected describe \"TEXT\"");
  n = (size_t)snprintf(text, sizeof text, HEAD "describe \"");
  for (unsigned i = 0; i < SCN_MAX_TEXT; i++) text[n++] = 'd';
  snprintf(text + n, sizeof text - n, "\"\n" ACT);
  expect(text, "t.scn:2:10: expected text of at most 255 characters");
  /* sessions and numbers */
  expect(HEAD "sessions\n" ACT, "t.scn:2:1: expected sessions N");
  expect(HEAD "sessions 1 2\n" ACT, "t.scn:2:1: expected sessions N");
  expect(HEAD "sessions 1x\n" ACT, "t.scn:2:10: expected a session count (a number from 1 to 1024)");
  expect(HEAD "sessions n=1\n" ACT, "t.scn:2:10: expected a session count (a number from 1 to 1024)");
  expect(HEAD "sessions 99999999999999999999\n" ACT, "t.scn:2:10: expected a session count (a number");
  expect(HEAD "journal\n" ACT, "t.scn:2:1: expected journal delete, truncate, persist or wal");
  expect(HEAD "journal \"wal\"\n" ACT, "t.scn:2:9: expected journal delete");
  expect(HEAD "journal wal\njournal wal\n" ACT, "t.scn:3:1: expected one 'journal' line");
  expect(HEAD "limits steps=1\nlimits steps=2\n" ACT, "t.scn:3:1: expected one 'limits' line");
  expect(HEAD "faults busy=1\nfaults busy=2\n" ACT, "t.scn:3:1: expected one 'faults' line");
  expect(HEAD "legacy_escalate a\nlegacy_escalate b\n" ACT,
         "t.scn:3:1: expected one 'legacy_escalate' line");
  /* Durations: no unit, no number, an unknown unit, too long for the unit. */
  expect(HEAD "limits time=5\n" ACT, "t.scn:2:13: expected a duration: a number and a unit");
  expect(HEAD "limits time=ms\n" ACT, "t.scn:2:13: expected a duration: a number and a unit");
  expect(HEAD "limits time=9999999d\n" ACT, "t.scn:2:13: expected a duration that fits 64 bits");
  expect(HEAD "actor a\n    sleep d=1x\n", "t.scn:3:13: expected a duration: a number and a unit");
  /* Actors */
  expect(HEAD "actor\n    gc\n", "t.scn:2:1: expected actor NAME [count=N] [draws=N]");
  expect(HEAD "actor a count=1 b\n    gc\n", "t.scn:2:17: expected count=N or draws=N");
  expect(HEAD "actor \"a\"\n    gc\n", "t.scn:2:7: expected a word, found 'a'");
  expect(HEAD "actor a count\n    gc\n", "t.scn:2:9: expected count=N");
  expect(HEAD "actor a count=x\n    gc\n", "t.scn:2:15: expected count (a number from 1 to 64)");
  n = (size_t)snprintf(text, sizeof text, HEAD);
  for (unsigned i = 0; i <= SCN_MAX_ACTORS; i++)
    n += (size_t)snprintf(text + n, sizeof text - n, "actor a%u\n    gc\n", i);
  expect(text, "t.scn:66:1: expected at most 32 actors");
  /* Operations */
  expect(HEAD "actor a\n    \"gc\"\n", "t.scn:3:5: expected a word, found 'gc'");
  expect(HEAD "actor a\n    gc=1\n", "t.scn:3:5: expected a word, found 'gc'");
  expect(HEAD "actor a\n    repeat=x gc\n", "t.scn:3:12: expected repeat (a number from 1 to 10000)");
  expect(HEAD "actor a\n    repeat=2 \"gc\"\n", "t.scn:3:14: expected a word, found 'gc'");
  expect(HEAD "actor a\n    gc now\n", "t.scn:3:8: expected KEY=VALUE, found 'now'");
  expect(HEAD "actor a\n    tool s=0 name=a name=b\n", "t.scn:3:21: expected one name=");
  expect(HEAD "actor a\n    tool s=0 name=a:b/c\n", "t.scn:3:22: expected a tool name made of");
  expect(HEAD "actor a\n    sleep d=1s d=2s\n", "t.scn:3:16: expected one d=");
  expect(HEAD "actor a\n    checkpoint s=0 retry=0\n", "t.scn:3:26: expected retry from 1 to 1000000, found 0");
  expect(HEAD "actor a\n    checkpoint s=0 retry=1000001\n", "t.scn:3:26: expected retry from 1 to 1000000");
  expect(HEAD "actor a\n    checkpoint s=0 name=x\n", "t.scn:3:20: expected s=, retry= or thread= for checkpoint, found 'name='");
  expect(HEAD "actor a\n    start s=al\n", "t.scn:3:13: expected a session number below `sessions`");
  expect(HEAD "actor a\n    crash s=0\n", "t.scn:3:11: expected at= or ios= for crash, found 's='");
  expect(HEAD "actor a\n    sleep s=0 d=1s\n", "t.scn:3:11: expected d= for sleep, found 's='");
  expect("    gc\n", "t.scn:1:5: expected an 'actor' line before an indented operation");
  expect(HEAD "actor a\n    gc\x7f\n", "t.scn:3:7: expected printable text (found byte 0x7f)");
  expect(HEAD "actor a\n\tgc\x1f\n", "t.scn:3:4: expected printable text (found byte 0x1f)");
}

/* Edge cases that parse: CR line ends, no final newline, "(scenario)" for
** a NULL file name, no error buffer; the names of ops and journals. */
static void test_edges(void **state) {
  (void)state;
  const char *crlf = "scenario x\r\nsessions 2\r\nactor a\r\n    start s=1\r\n    gc";
  char err[256];
  assert_int_equal(scn_parse("c.scn", crlf, strlen(crlf), A, err, sizeof err), AS_OK);
  assert_int_equal(A->sessions, 2);
  assert_int_equal(A->actors[0].nops, 2);
  assert_int_equal(A->actors[0].ops[1].kind, SCN_OP_GC);
  scn_clear(A);
  assert_int_equal(scn_parse(NULL, "sessions 2\n", 11, A, err, sizeof err), AS_PARSE);
  assert_non_null(strstr(err, "(scenario):1:1: expected 'scenario NAME' first"));
  assert_int_equal(scn_parse("q.scn", "bogus\n", 6, A, NULL, 0), AS_PARSE);
  err[0] = 'x';
  assert_int_equal(scn_parse("q.scn", "bogus\n", 6, A, err, 0), AS_PARSE);
  assert_int_equal(err[0], 'x'); /* a zero-size buffer is not touched */
  /* A buffer too small for the message holds its start. */
  char small[8];
  assert_int_equal(scn_parse("q.scn", "bogus\n", 6, A, small, sizeof small), AS_PARSE);
  assert_int_equal(strlen(small), sizeof small - 1);
  assert_memory_equal(small, "q.sc", 4);
  assert_string_equal(scn_op_name(SCN_OP_CRASH), "crash");
  assert_string_equal(scn_op_name(SCN__OP_COUNT), "?");
  assert_string_equal(scn_journal_name(SCN_JOURNAL_PERSIST), "persist");
  assert_string_equal(scn_journal_name((scn_journal)7), "?");
}

/* scn_format: limits with only steps or only time round-trip; a buffer too
** small (or none) is refused. */
static void test_format(void **state) {
  (void)state;
  const char *t1 = "scenario f\nlimits steps=5\nactor a\n    checkpoint s=0 retry=4\n";
  const char *t2 = "scenario f\nlimits time=3s\njournal truncate\nsynchronous full\nactor a\n"
                   "    sleep d=1us\n";
  char err[256], buf[512];
  size_t len = 0;
  assert_int_equal(scn_parse("f.scn", t1, strlen(t1), A, err, sizeof err), AS_OK);
  roundtrip(A);
  assert_int_equal(scn_format(A, buf, sizeof buf, &len), AS_OK);
  assert_non_null(strstr(buf, "limits steps=5\n"));
  assert_non_null(strstr(buf, "checkpoint s=0 retry=4\n"));
  assert_null(strstr(buf, "synchronous")); /* the default is the store's, not written */
  scn_clear(A);
  assert_int_equal(scn_parse("f.scn", t2, strlen(t2), A, err, sizeof err), AS_OK);
  roundtrip(A);
  assert_int_equal(scn_format(A, buf, sizeof buf, &len), AS_OK);
  assert_non_null(strstr(buf, "limits time=3000000000ns\n"));
  assert_non_null(strstr(buf, "journal truncate\nsynchronous full\n"));
  assert_int_equal(strlen(buf), len);
  assert_int_equal(scn_format(A, buf, 0, &len), AS_TOOBIG);
  assert_int_equal(scn_format(A, buf, 20, &len), AS_TOOBIG);
  assert_int_equal(scn_format(A, buf, len, &len), AS_TOOBIG);
  scn_clear(A);
}

/* Swarm and generated actors: the directive's defaults are resolved and
** spelled out, weights only where operations are drawn, every refusal
** names its place. */
static void test_swarm(void **state) {
  (void)state;
  const char *t = HEAD "swarm\nactor a count=3 draws=7\n    weight=5 repeat=2 note s=0\n"
                       "    gc\nactor b\n    sleep d=1ms\n";
  char err[256], buf[1024];
  size_t len = 0;
  assert_int_equal(scn_parse("w.scn", t, strlen(t), A, err, sizeof err), AS_OK);
  assert_true(A->swarm.on);
  assert_int_equal(A->swarm.min_count, 1);
  assert_true(A->swarm.vary_faults);
  assert_true(A->swarm.may_off[SCN_OP_NOTE] && A->swarm.may_off[SCN_OP_GC] &&
              A->swarm.may_off[SCN_OP_SLEEP]);
  assert_false(A->swarm.may_off[SCN_OP_CRASH]); /* no actor uses it */
  assert_int_equal(A->actors[0].draws, 7);
  assert_int_equal(A->actors[0].ops[0].weight, 5);
  assert_int_equal(A->actors[0].ops[0].repeat, 2);
  assert_int_equal(A->actors[0].ops[1].weight, 1);
  roundtrip(A);
  assert_int_equal(scn_format(A, buf, sizeof buf, &len), AS_OK);
  assert_non_null(strstr(buf, "swarm ops=gc,note,sleep min_count=1 faults=vary\n"));
  assert_non_null(strstr(buf, "actor a count=3 draws=7\n    weight=5 repeat=2 note"));
  assert_non_null(strstr(buf, "actor b count=1\n    repeat=1 sleep"));
  scn_clear(A);
  const char *t2 = HEAD "swarm ops=crash min_count=2 faults=keep\nactor a count=4\n    crash\n";
  assert_int_equal(scn_parse("w.scn", t2, strlen(t2), A, err, sizeof err), AS_OK);
  assert_int_equal(A->swarm.min_count, 2);
  assert_false(A->swarm.vary_faults);
  roundtrip(A);
  scn_clear(A);
  /* scn_swarm_default: what --swarm does to a scenario without the line. */
  const char *t3 = HEAD "actor a\n    gc\n    crash\n";
  assert_int_equal(scn_parse("w.scn", t3, strlen(t3), A, err, sizeof err), AS_OK);
  assert_false(A->swarm.on);
  scn_swarm_default(A);
  assert_true(A->swarm.on && A->swarm.may_off[SCN_OP_GC] && A->swarm.may_off[SCN_OP_CRASH]);
  assert_false(A->swarm.may_off[SCN_OP_NOTE]);
  roundtrip(A);
  scn_clear(A);
  expect(HEAD "swarm ops=gc,bogus\nactor a\n    gc\n",
         "t.scn:2:14: expected an operation name in ops=");
  expect(HEAD "swarm ops=\nactor a\n    gc\n", "t.scn:2:11: expected a value after 'ops='");
  expect(HEAD "swarm size=3\nactor a\n    gc\n", "t.scn:2:7: expected ops=, min_count= or faults=");
  expect(HEAD "swarm min_count=0\nactor a\n    gc\n", "t.scn:2:17: expected min_count");
  expect(HEAD "swarm faults=some\nactor a\n    gc\n", "t.scn:2:14: expected faults=vary or faults=keep");
  expect(HEAD "swarm faults=keep faults=vary\nactor a\n    gc\n", "t.scn:2:19: expected one faults=");
  expect(HEAD "swarm\nswarm\nactor a\n    gc\n", "t.scn:3:1: expected one 'swarm' line");
  expect(HEAD "actor a\n    weight=2 gc\n", "t.scn:3:5: expected weight= only under an actor with draws=");
  expect(HEAD "actor a draws=0\n    gc\n", "t.scn:2:15: expected draws");
  expect(HEAD "actor a draws=2 draws=3\n    gc\n", "t.scn:2:17: expected one draws=");
  expect(HEAD "actor a draws=2\n    weight=1 weight=2 gc\n", "t.scn:3:14: expected one weight=");
  expect(HEAD "actor a draws=2\n    weight=1001 gc\n", "t.scn:3:12: expected weight");
  expect(HEAD "actor a draws=2\n    weight=3\n", "t.scn:3:14: expected an operation after weight=");
}

/* scn_equal tells apart scenarios that differ in any one setting (the
** fingerprint a replay is checked against comes from the same fields). */
static void test_equal_each_field(void **state) {
  (void)state;
#define EQ_BASE                                                                    \
  "scenario e\ndescribe \"d\"\nsessions 2\njournal wal\nsynchronous full\n"    \
  "limits steps=1000 time=1h\nfaults read=1 write=2 full=3 busy=4 sync=5 tear=6\n" \
  "latency read=20us..100us sync=1ms..2ms+1%%..3ms\nlegacy_escalate notify\n"     \
  "swarm ops=gc min_count=1 faults=vary\n"                                         \
  "actor a count=2 draws=3\n    weight=2 repeat=2 tool s=0 name=x state=rejected\n" \
  "    weight=1 gc\nactor b\n    sleep d=1ms\n    crash at=random-io ios=9\n"     \
  "    checkpoint s=1 retry=3\n"                                                 \
  "app \"../apps/x\"\nscript \"s.stub\"\nfields env=prod\napproval_timeout 5s\n"       \
  "actor c\n    run s=0 api=1\n    approve s=1\n    watchdog ticks=3 every=2s\n"
  static const char *const variants[][2] = {
      {"scenario e\n", "scenario f\n"},
      {"describe \"d\"", "describe \"D\""},
      {"sessions 2", "sessions 3"},
      {"journal wal", "journal truncate"},
      {"synchronous full", "synchronous extra"},
      {"steps=1000", "steps=1001"},
      {"time=1h", "time=2h"},
      {"tear=6", "tear=7"},
      {"read=20us..100us", "read=20us..101us"},
      {"sync=1ms..2ms+1%..3ms", "sync=1ms..2ms+2%..3ms"},
      {"sync=1ms..2ms+1%..3ms", "sync=1ms..2ms+1%..4ms"},
      {"latency read=20us..100us sync=1ms..2ms+1%..3ms", "latency off"},
      {"latency read=20us..100us sync=1ms..2ms+1%..3ms", "latency read=20us..100us"},
      {"legacy_escalate notify", "legacy_escalate page"},
      {"swarm ops=gc min_count=1", "swarm ops=gc min_count=2"},
      {"swarm ops=gc min_count=1 faults=vary", "swarm ops=gc min_count=1 faults=keep"},
      {"actor a count=2", "actor z count=2"},
      {"actor a count=2", "actor a count=3"},
      {"draws=3", "draws=4"},
      {"weight=2 repeat", "weight=3 repeat"},
      {"repeat=2 tool", "repeat=3 tool"},
      {"tool s=0", "tool s=1"},
      {"name=x", "name=y"},
      {"state=rejected", "state=timed_out"},
      {"sleep d=1ms", "sleep d=2ms"},
      {"crash at=random-io ios=9", "crash at=random-io ios=8"},
      {"crash at=random-io ios=9", "crash"},
      {"retry=3", "retry=4"},
      {"    checkpoint s=1 retry=3\n", ""},
      {"    weight=1 gc\n", "    weight=1 note s=0\n"},
      {"app \"../apps/x\"", "app \"../apps/y\""},
      {"script \"s.stub\"", "script \"t.stub\""},
      {"fields env=prod", "fields env=dev"},
      {"fields env=prod", "fields env=prod team=a"},
      {"approval_timeout 5s", "approval_timeout 6s"},
      {"run s=0 api=1", "run s=0"},
      {"approve s=1", "reject s=1"},
      {"watchdog ticks=3 every=2s", "watchdog ticks=4 every=2s"},
      {"watchdog ticks=3 every=2s", "watchdog ticks=3 every=3s"},
  };
  char err[256], text[2048];
  scenario base, other;
  snprintf(text, sizeof text, EQ_BASE);
  if (scn_parse("e.scn", text, strlen(text), &base, err, sizeof err) != AS_OK) fail_msg("%s", err);
  roundtrip(&base);
  for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
    const char *at = strstr(text, variants[i][0]);
    if (!at) fail_msg("variant %zu: '%s' is not in the base", i, variants[i][0]);
    char v[2048];
    snprintf(v, sizeof v, "%.*s%s%s", (int)(at - text), text, variants[i][1],
             at + strlen(variants[i][0]));
    if (scn_parse("e.scn", v, strlen(v), &other, err, sizeof err) != AS_OK)
      fail_msg("variant %zu: %s", i, err);
    if (scn_equal(&base, &other)) fail_msg("variant %zu ('%s') compares equal", i, variants[i][1]);
    scn_clear(&other);
  }
  scn_clear(&base);
#undef EQ_BASE
}

/* The agents' directives and operations: parsed, round-tripped, refused
** where they cannot work, and the base directory recorded. */
static void test_agents(void **state) {
  (void)state;
  static const char text[] =
      "scenario ag\nsessions 2\napp ../apps/incident\nscript \"../scripts/x y.stub\"\n"
      "fields environment=production severity=3\napproval_timeout 90s\n"
      "actor a count=2\n    run s=all\n    run s=any api=1\n    approve s=0 api=1\n"
      "    reject s=1\n    watchdog\n    watchdog ticks=5 every=250ms\n";
  char err[256];
  if (scn_parse("dir/sub/ag.scn", text, sizeof text - 1, A, err, sizeof err) != AS_OK)
    fail_msg("%s", err);
  assert_string_equal(A->app, "../apps/incident");
  assert_string_equal(A->script, "../scripts/x y.stub");
  assert_string_equal(A->base, "dir/sub");
  assert_int_equal(A->nfields, 2);
  assert_string_equal(A->fields[1].key, "severity");
  assert_string_equal(A->fields[1].value, "3");
  assert_int_equal(A->approval_timeout_ns, 90000000000ull);
  const scn_op *ops = A->actors[0].ops;
  assert_int_equal(ops[0].kind, SCN_OP_RUN);
  assert_int_equal(ops[1].api, 1);
  assert_int_equal(ops[2].kind, SCN_OP_APPROVE);
  assert_int_equal(ops[3].kind, SCN_OP_REJECT);
  assert_int_equal(ops[4].kind, SCN_OP_WATCHDOG);
  assert_int_equal(ops[4].ticks, 0);
  assert_int_equal(ops[5].ticks, 5);
  assert_int_equal(ops[5].duration, 250000000ull);
  roundtrip(A);
  scn_clear(A);
  if (scn_parse("ag.scn", text, sizeof text - 1, A, err, sizeof err) != AS_OK) fail_msg("%s", err);
  assert_string_equal(A->base, ".");
  scn_clear(A);
  expect(HEAD "app a\n" ACT, "t.scn:1:1: expected a 'script PATH' line");
  expect(HEAD "script s\n" ACT, "t.scn:1:1: expected an 'app PATH' line for the script to drive");
  expect(HEAD "fields a=b\n" ACT, "t.scn:1:1: expected an 'app PATH' line (fields and");
  expect(HEAD "actor a\n    run s=0\n", "t.scn:3:1: expected an 'app PATH' line: run runs the app's agents");
  expect(HEAD "actor a\n    watchdog\n", "t.scn:3:1: expected an 'app PATH' line: watchdog runs");
  expect(HEAD "app\n" ACT, "t.scn:2:1: expected app PATH");
  expect(HEAD "app a b\n" ACT, "t.scn:2:1: expected app PATH");
  expect(HEAD "app a\napp b\n" ACT, "t.scn:3:1: expected one 'app' line");
  expect(HEAD "fields\n" ACT, "t.scn:2:1: expected fields KEY=VALUE...");
  expect(HEAD "fields a=1 a=2\n" ACT, "t.scn:2:12: expected one a=");
  expect(HEAD "fields a\n" ACT, "t.scn:2:8: expected KEY=VALUE, found 'a'");
  expect(HEAD "approval_timeout 0s\n" ACT, "t.scn:2:18: expected a timeout above 0");
  expect(HEAD "approval_timeout soon\n" ACT, "t.scn:2:18: expected a duration");
  expect(HEAD "app a\nscript s\nactor a\n    run s=0 api=2\n", "t.scn:5:17: expected api from 0 to 1");
  expect(HEAD "app a\nscript s\nactor a\n    watchdog ticks=0\n", "t.scn:5:20: expected ticks from 1 to 100000");
  expect(HEAD "app a\nscript s\nactor a\n    approve\n", "t.scn:5:5: expected s= for approve");
  expect(HEAD "actor a\n    approve s=0\n", "t.scn:3:1: expected an 'app PATH' line: approve runs");
  expect(HEAD "actor a\n    reject s=0\n", "t.scn:3:1: expected an 'app PATH' line: reject runs");
  expect(HEAD "approval_timeout 5s\n" ACT, "t.scn:1:1: expected an 'app PATH' line (fields and "
                                          "approval_timeout are the app's)");
  expect(HEAD "approval_timeout\n" ACT, "t.scn:2:1: expected approval_timeout DUR");
  /* The budget's lines. */
  expect(HEAD "budget\n" ACT, "t.scn:2:1: expected budget limit=MONEY [estimate=MONEY]");
  expect(HEAD "budget estimate=1\n" ACT, "t.scn:2:1: expected budget limit=MONEY [estimate=MONEY]");
  expect(HEAD "budget cap=1\n" ACT, "t.scn:2:8: expected budget limit=MONEY");
  expect(HEAD "budget limit=1 limit=2\n" ACT, "t.scn:2:16: expected one limit=");
  expect(HEAD "budget limit=1.1234567\n" ACT, "t.scn:2:14: expected limit: dollars");
  expect(HEAD "budget limit=1 estimate=0\n" ACT, "t.scn:2:25: expected estimate: dollars above 0");
  expect(HEAD "budget limit=x\n" ACT, "t.scn:2:14: expected limit: dollars");
  expect(HEAD "budget limit=1.\n" ACT, "t.scn:2:14: expected limit: dollars");
  expect(HEAD "budget limit=99999999999\n" ACT, "t.scn:2:14: expected limit: dollars");
  expect(HEAD "budget limit=1\nbudget limit=2\n" ACT, "t.scn:3:1: expected one 'budget' line");
  expect(HEAD "prices p.json\n" ACT, "t.scn:1:1: expected a 'budget limit=MONEY' line");
  expect(HEAD "actor a\n    recover\n", "t.scn:3:1: expected a 'budget limit=MONEY' line: recover");
  expect(HEAD "actor a\n    trigger s=0\n", "t.scn:3:1: expected an 'app PATH' line: trigger");
  expect(HEAD "app a\nscript s\nbudget limit=1\nactor a\n    trigger s=0 estimate=0\n",
         "t.scn:6:26: expected estimate: dollars above 0");
  {
    static const char b[] = HEAD "app a\nscript s\nbudget limit=2.5 estimate=0.000001\n"
                                 "prices p.json\nactor a\n    trigger s=0 estimate=0.15\n"
                                 "    settle s=0\n    recover\n    scrape\n    flush\n";
    if (scn_parse("b.scn", b, sizeof b - 1, A, err, sizeof err) != AS_OK) fail_msg("%s", err);
    assert_int_equal(A->daily_limit_micros, 2500000);
    assert_int_equal(A->cycle_estimate_micros, 1);
    assert_int_equal(A->actors[0].ops[0].money, 150000);
    roundtrip(A);
    scn_clear(A);
    char m[32];
    scn_money_text(m, sizeof m, 5000000);
    assert_string_equal(m, "5");
    scn_money_text(m, sizeof m, 120000);
    assert_string_equal(m, "0.12");
    int64_t v = 0;
    assert_int_equal(scn_money_parse(NULL, 0, &v), AS_PARSE);
    assert_int_equal(scn_money_parse("", 0, &v), AS_PARSE);
  }
  expect(HEAD "approval_timeout d=5s\n" ACT, "t.scn:2:1: expected approval_timeout DUR");
  expect(HEAD "app d=x\n" ACT, "t.scn:2:1: expected app PATH");
  expect(HEAD "script \"\"\n" ACT, "t.scn:2:8: expected a path of 1 to 255 characters");
  char buf[1024], want[64];
  snprintf(buf, sizeof buf, HEAD "app %0256d\n" ACT, 0);
  expect(buf, "t.scn:2:5: expected a path of 1 to 255 characters");
  snprintf(buf, sizeof buf, HEAD "fields");
  for (int i = 0; i < 17; i++)
    snprintf(buf + strlen(buf), sizeof buf - strlen(buf), " f%d=v", i);
  snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "\n" ACT);
  snprintf(want, sizeof want, "t.scn:2:%zu: expected at most 16 fields", /* at the 17th */
           (size_t)(strstr(buf, " f16=") - strchr(buf, '\n')) + 1);
  expect(buf, want);
  expect("# a comment, nothing else\n\n", "t.scn:2:1: expected 'scenario NAME' (the file is empty)");
  /* The base directory: the root for a file in it; a directory too long
  ** to keep is cut (such a path fails to open anyway). */
  static const char ok[] = "scenario b\napp a\nscript s\nactor a\n    run s=0\n";
  if (scn_parse("/b.scn", ok, sizeof ok - 1, A, buf, sizeof buf) != AS_OK) fail_msg("%s", buf);
  assert_string_equal(A->base, "/");
  scn_clear(A);
  char longpath[600];
  memset(longpath, 'd', sizeof longpath);
  snprintf(longpath + 500, sizeof longpath - 500, "/b.scn");
  if (scn_parse(longpath, ok, sizeof ok - 1, A, buf, sizeof buf) != AS_OK) fail_msg("%s", buf);
  assert_int_equal(strlen(A->base), sizeof A->base - 1);
  assert_int_equal(A->base[0], 'd');
  scn_clear(A);
}

/* The failure paths' operations: retry (api=), preview, cancel, and fail's kind=. */
static void test_retry_ops(void **state) {
  (void)state;
  static const char text[] =
      "scenario r\nsessions 3\napp a\nscript s\n"
      "actor a\n    retry s=0\n    retry s=any api=1\n    preview s=all\n    cancel s=2\n"
      "    fail s=1 kind=no_such_kind.v2\n    fail s=1\n";
  char err[256];
  if (scn_parse("r.scn", text, sizeof text - 1, A, err, sizeof err) != AS_OK) fail_msg("%s", err);
  const scn_op *ops = A->actors[0].ops;
  assert_int_equal(A->actors[0].nops, 6);
  assert_int_equal(ops[0].kind, SCN_OP_RETRY);
  assert_int_equal(ops[0].api, 0);
  assert_int_equal(ops[1].kind, SCN_OP_RETRY);
  assert_int_equal(ops[1].api, 1);
  assert_int_equal(ops[1].session, SCN_ANY);
  assert_int_equal(ops[2].kind, SCN_OP_PREVIEW);
  assert_int_equal(ops[2].session, SCN_ALL);
  assert_int_equal(ops[3].kind, SCN_OP_CANCEL);
  assert_int_equal(ops[3].session, 2);
  assert_int_equal(ops[4].kind, SCN_OP_FAIL);
  assert_string_equal(ops[4].name, "no_such_kind.v2");
  assert_string_equal(ops[5].name, ""); /* the runner stores unknown */
  roundtrip(A);
  scn_clear(A);
  /* Refused, with their positions: they need the app; their keys. */
  expect(HEAD "sessions 1\nactor a\n    retry s=0\n", "t.scn:4:1: expected an 'app PATH' line: retry runs");
  expect(HEAD "sessions 1\nactor a\n    preview s=0\n", "t.scn:4:1: expected an 'app PATH' line: preview runs");
  expect(HEAD "sessions 1\nactor a\n    cancel s=0\n", "t.scn:4:1: expected an 'app PATH' line: cancel runs");
  expect(HEAD "app a\nscript s\nactor a\n    retry\n", "t.scn:5:5: expected s= for retry");
  expect(HEAD "app a\nscript s\nactor a\n    cancel\n", "t.scn:5:5: expected s= for cancel");
  expect(HEAD "app a\nscript s\nactor a\n    retry s=0 api=3\n", "t.scn:5:19: expected api from 0 to 1");
  expect(HEAD "app a\nscript s\nactor a\n    preview s=0 api=1\n", "t.scn:5:17: expected s= for preview, found 'api='");
  expect(HEAD "app a\nscript s\nactor a\n    cancel s=0 kind=x\n", "t.scn:5:16: expected s= for cancel, found 'kind='");
  expect(HEAD "actor a\n    fail s=0 kind=a/b\n", "t.scn:3:20: expected an error kind made of letters");
  expect(HEAD "actor a\n    fail s=0 kind=\n", "t.scn:3:19: expected a value after 'kind='");
  expect(HEAD "actor a\n    fail s=0 kind=a kind=b\n", "t.scn:3:21: expected one kind=");
  expect(HEAD "actor a\n    fail s=0 name=x\n", "t.scn:3:14: expected s= or kind= for fail, found 'name='");
}

/* docs/scenarios.md holds the generated reference, exactly. */
static void test_docs_match(void **state) {
  (void)state;
  docgen_match(AS_SOURCE_DIR "/docs/scenarios.md", scn_write_reference);
}

static void test_load_directory(void **state) {
  (void)state;
  char err[256];
  /* A directory opens but cannot be read. */
  assert_int_equal(scn_load(AS_SOURCE_DIR "/fixtures/scenarios", A, err, sizeof err), AS_IO);
  assert_non_null(strstr(err, "/fixtures/scenarios: read error: "));
  assert_string_equal(A->name, "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bundled), cmocka_unit_test(test_fields),
      cmocka_unit_test(test_retry_ops),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_latency),
      cmocka_unit_test(test_latency_errors),
      cmocka_unit_test(test_caps),
      cmocka_unit_test(test_load_errors), cmocka_unit_test(test_no_hidden_caps),
      cmocka_unit_test(test_more_errors), cmocka_unit_test(test_new_ops),
      cmocka_unit_test(test_reference),   cmocka_unit_test(test_docs_match),
      cmocka_unit_test(test_edges),       cmocka_unit_test(test_format),
      cmocka_unit_test(test_load_directory), cmocka_unit_test(test_swarm),
      cmocka_unit_test(test_equal_each_field), cmocka_unit_test(test_agents),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

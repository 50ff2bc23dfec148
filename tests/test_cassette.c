/*
** test_cassette.c -- cassettes (sim/llm/cassette.h) without curl: the
** format's round trip and every refusal with its file and field, the
** recorder's atomicity and its secret stripping, the replay net driven by
** the test acting as the client on the socketpair (every ending, occurrences,
** the miss message), virtual time in the sim, and allocation failures in
** turn (faultwrap).
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "agentsim/seam.h"
#include "cassette.h"
#include "cassette_int.h"
#include "faultwrap.h"

#if defined(__GNUC__) && !defined(__clang__) /* gcc only: clang has no such warning */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif
#include "sim.h"

#define MS 1000000ull
#define PATH "/v1/chat/completions"
#define BODY "{\"model\":\"m\",\"messages\":[]}"

static char tmpdir[256];

void *__real_malloc(size_t n);
void __real_free(void *p);

static void fresh_dir(const char *name) {
  (void)snprintf(tmpdir, sizeof tmpdir, "/tmp/test_cassette.%d.%s", (int)getpid(), name);
  char cmd[512];
  (void)snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", tmpdir, tmpdir);
  assert_int_equal(system(cmd), 0);
}

static void write_text(const char *dir, const char *name, const char *text) {
  char p[512];
  (void)snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static const as_cassette_meta META = {.format = 1, .kind = AS_WIRE_OPENAI, .model = "gpt-test",
                                      .stream = true, .base_url = "http://127.0.0.1:9/v1",
                                      .agentsim = "0.1.0"};

static as_cassette_header req_h[] = {{"Content-Type", "application/json"},
                                     {"Authorization", "Bearer sk-SECRET"}};
static as_cassette_header resp_h[] = {{"Content-Type", "text/event-stream"},
                                      {"Content-Length", "99"},
                                      {"X-Request-Id", "r1"}};

/* An exchange of BODY on PATH: chunks given as (at ms, text) pairs. */
static as_cassette_exchange ex(unsigned occ, int status, as_http_fail fail, as_cassette_chunk *c,
                               size_t nc, uint64_t end_ms) {
  as_cassette_exchange x = {.key = as_cassette_key(AS_WIRE_OPENAI, PATH, BODY, strlen(BODY)),
                            .occurrence = occ, .method = "POST", .path = PATH,
                            .req_headers = req_h, .nreq_headers = 2, .body = BODY,
                            .body_len = strlen(BODY), .status = status, .status_at_ns = MS,
                            .headers = resp_h, .nheaders = status ? 3 : 0, .chunks = c,
                            .nchunks = nc, .fail = fail, .end_at_ns = end_ms * MS};
  return x;
}

static void save(const as_cassette_exchange *x) {
  char err[512];
  int rc = as_cassette_write_exchange(tmpdir, x, err, sizeof err);
  if (rc != AS_OK) fail_msg("write: %s", err);
}

static as_cassette *load_ok(void) {
  as_cassette *c = NULL;
  char err[512];
  int rc = as_cassette_load(tmpdir, &c, err, sizeof err);
  if (rc != AS_OK) fail_msg("load: %s: %s", as_status_name(rc), err);
  return c;
}

/* --- the format ------------------------------------------------------------------ */

static void test_round_trip(void **state) {
  (void)state;
  fresh_dir("rt");
  char err[512];
  assert_int_equal(as_cassette_write_meta(tmpdir, &META, err, sizeof err), AS_OK);
  static char bin[] = {'\x00', '\xff', 'a', '\xc3'};
  as_cassette_chunk ch[] = {{2 * MS, "data: {\"a\":\"\xc3\xa9\"}\n\n", 18}, {3 * MS, bin, 4}};
  as_cassette_exchange x = ex(1, 200, AS_HTTP_FAIL_NONE, ch, 2, 4);
  x.expect = (as_cassette_expect){.given = true, .usage_known = true, .prompt = 10,
                                  .cache_read = 4, .cache_write = 1, .completion = 3};
  snprintf(x.message, sizeof x.message, "fine");
  save(&x);
  as_cassette_exchange y = ex(2, 429, AS_HTTP_FAIL_NONE, NULL, 0, 1);
  y.expect = (as_cassette_expect){.given = true, .error = AS_LLM_ERR_RATE_LIMITED};
  save(&y);
  as_cassette_exchange z = ex(3, 0, AS_HTTP_FAIL_TIMEOUT, NULL, 0, 30);
  z.body = NULL;
  z.body_len = 0;
  z.key = as_cassette_key(AS_WIRE_OPENAI, PATH, "", 0);
  z.occurrence = 1;
  z.expect = (as_cassette_expect){.given = true};
  save(&z);
  write_text(tmpdir, "README", "not an exchange");
  write_text(tmpdir, ".tmp-x-0000000000000000-1.json", "{ half");
  as_cassette *c = load_ok();
  assert_int_equal(c->n, 3);
  assert_string_equal(c->meta.model, "gpt-test");
  assert_true(c->meta.stream);
  assert_false(c->meta.structured);
  const as_cassette_exchange *a = as_cassette_find(c, x.key, 1);
  assert_non_null(a);
  assert_int_equal(a->nreq_headers, 1); /* Authorization never written */
  assert_string_equal(a->req_headers[0].name, "Content-Type");
  assert_int_equal(a->nchunks, 2);
  assert_int_equal(a->chunks[0].len, 18);
  assert_memory_equal(a->chunks[1].data, bin, 4);
  assert_int_equal(a->chunks[1].at_ns, 3 * MS);
  assert_true(a->expect.usage_known);
  assert_int_equal(a->expect.cache_read, 4);
  assert_string_equal(a->message, "fine");
  const as_cassette_exchange *b = as_cassette_find(c, x.key, 2);
  assert_non_null(b);
  assert_int_equal(b->status, 429);
  assert_int_equal(b->expect.error, AS_LLM_ERR_RATE_LIMITED);
  assert_null(as_cassette_find(c, x.key, 3));
  const as_cassette_exchange *t = as_cassette_find(c, z.key, 1);
  assert_non_null(t);
  assert_int_equal(t->status, 0);
  assert_int_equal(t->fail, AS_HTTP_FAIL_TIMEOUT);
  assert_true(t->expect.given);
  assert_false(t->expect.usage_known);
  as_cassette_free(c);
  /* The secret is in no file. */
  char cmd[512];
  snprintf(cmd, sizeof cmd, "grep -rq 'sk-SECRET' '%s'", tmpdir);
  assert_int_not_equal(system(cmd), 0);
}

static void test_helpers(void **state) {
  (void)state;
  assert_string_equal(as_cassette_url_path("http://h:1/v1/x?q=1"), "/v1/x?q=1");
  assert_string_equal(as_cassette_url_path("http://h"), "/");
  assert_null(as_cassette_url_path("nope"));
  assert_null(as_cassette_url_path(NULL));
  assert_true(as_cassette_header_secret("AUTHORIZATION"));
  assert_true(as_cassette_header_secret("x-API-key"));
  assert_false(as_cassette_header_secret("Content-Type"));
  assert_int_not_equal(as_cassette_key(AS_WIRE_OPENAI, "/a", "b", 1),
                       as_cassette_key(AS_WIRE_OLLAMA, "/a", "b", 1));
  assert_int_not_equal(as_cassette_key(AS_WIRE_OPENAI, "/a", "b", 1),
                       as_cassette_key(AS_WIRE_OPENAI, "/ab", "", 0));
  assert_string_equal(cas_kind_name((as_wire_kind)9), "?");
  assert_string_equal(cas_fail_name((as_http_fail)99), "?");
  assert_string_equal(cas_error_name(AS_LLM_ERR_NONE), "none");
  assert_int_equal(cas_error_status(AS_LLM_ERR_TIMEOUT), AS_TIMEDOUT);
  assert_int_equal(cas_error_status(AS_LLM_ERR_NONE), AS_OK);
  /* UTF-8 */
  assert_true(cas_is_text("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10));
  assert_false(cas_is_text("\xc0\x80", 2));           /* overlong */
  assert_false(cas_is_text("\xe0\x80\x80", 3));       /* overlong */
  assert_false(cas_is_text("\xed\xa0\x80", 3));       /* surrogate */
  assert_false(cas_is_text("\xf4\x90\x80\x80", 4));   /* past U+10FFFF */
  assert_false(cas_is_text("\xf0\x80\x80\x80", 4));   /* overlong */
  assert_false(cas_is_text("\xc3", 1));               /* cut */
  assert_false(cas_is_text("\xc3(", 2));              /* bad continuation */
  assert_false(cas_is_text("\xff", 1));
  assert_false(cas_is_text("a\0b", 3));
  /* base64 */
  const char *cases[] = {"", "f", "fo", "foo", "foob"};
  for (size_t i = 0; i < 5; i++) {
    char *e = cas_b64_encode(cases[i], strlen(cases[i]));
    assert_non_null(e);
    char *d;
    size_t n;
    assert_int_equal(cas_b64_decode(e, strlen(e), &d, &n), AS_OK);
    assert_int_equal(n, strlen(cases[i]));
    assert_memory_equal(d, cases[i], n);
    as_free(d);
    as_free(e);
  }
  const char *badb[] = {"abc", "a===", "ab=c", "=abc", "ab!c", "Zg=a"};
  for (size_t i = 0; i < 6; i++) {
    char *d;
    size_t n;
    assert_int_equal(cas_b64_decode(badb[i], strlen(badb[i]), &d, &n), AS_PARSE);
  }
  char name[48];
  as_cassette_file_name(name, sizeof name, 0xabcull, 7);
  assert_string_equal(name, "x-0000000000000abc-7.json");
}

#define K "\"key\": \"%016llx\", \"occurrence\": 1, "
#define RQ "\"request\": {\"method\": \"POST\", \"path\": \"/p\", \"headers\": [], \"body\": \"b\"}, "
#define RESP "\"response\": {\"status\": 200, \"at_us\": 5, \"headers\": [[\"A\", \"b\"]], " \
             "\"chunks\": [{\"at_us\": 6, \"text\": \"x\"}]}, "
#define END "\"end\": {\"fail\": \"ok\", \"at_us\": 7, \"message\": \"\"}"

typedef struct bad_case {
  const char *text; /* with one %llx for the key, or none (then the file is "x-KEY-1.json") */
  const char *want; /* a substring of the error */
  int rc;
} bad_case;

static void test_load_errors(void **state) {
  (void)state;
  static const bad_case cases[] = {
      {"{", "(the file): line", AS_PARSE},
      {"[]", "expected a JSON object", AS_PARSE},
      {"{" K RQ RESP END ", \"extra\": 1}", ": extra: not a field of the file", AS_PARSE},
      {"{\"key\": 5, \"occurrence\": 1, " RQ RESP END "}", ": key: expected a string", AS_PARSE},
      {"{\"key\": \"00000000000000zz\", \"occurrence\": 1, " RQ RESP END "}", ": key: expected 16", AS_PARSE},
      {"{\"key\": \"0000000000000001\", \"occurrence\": 1, " RQ RESP END "}", "name the file x-0000000000000001-1.json", AS_PARSE},
      {"{\"key\": \"%016llx\", \"occurrence\": 0, " RQ RESP END "}", ": occurrence: expected an integer in [1, 1024]", AS_PARSE},
      {"{" K "\"request\": 1, " RESP END "}", ": request: expected an object", AS_PARSE},
      {"{" K "\"request\": {\"method\": \"PUT\", \"path\": \"/p\", \"headers\": [], \"body\": \"\"}, " RESP END "}", "request.method: expected", AS_PARSE},
      {"{" K "\"request\": {\"method\": \"GET\", \"path\": \"p\", \"headers\": [], \"body\": \"\"}, " RESP END "}", "request.path: expected a URL path", AS_PARSE},
      {"{" K "\"request\": {\"method\": \"GET\", \"path\": \"/p\", \"headers\": {}, \"body\": \"\"}, " RESP END "}", "request.headers: expected an array", AS_PARSE},
      {"{" K "\"request\": {\"method\": \"GET\", \"path\": \"/p\", \"headers\": [[\"a\"]], \"body\": \"\"}, " RESP END "}", "request.headers[0]: expected [name, value]", AS_PARSE},
      {"{" K "\"request\": {\"method\": \"GET\", \"path\": \"/p\", \"headers\": [[\"a b\", \"c\"]], \"body\": \"\"}, " RESP END "}", "request.headers[0]: expected a header name", AS_PARSE},
      {"{" K "\"request\": {\"method\": \"GET\", \"path\": \"/p\", \"headers\": [[\"X-Api-Key\", \"k\"]], \"body\": \"\"}, " RESP END "}", "request.headers[0]: a secret header", AS_PARSE},
      {"{" K "\"request\": {\"method\": \"GET\", \"path\": \"/p\", \"headers\": [], \"body\": \"\", \"body_base64\": \"\"}, " RESP END "}", "request: expected one of", AS_PARSE},
      {"{" K "\"request\": {\"method\": \"GET\", \"path\": \"/p\", \"headers\": [], \"body_base64\": \"abc\"}, " RESP END "}", "request.body_base64: expected base64", AS_PARSE},
      {"{" K "\"request\": {\"method\": \"GET\", \"path\": \"/p\", \"headers\": [], \"body\": 3}, " RESP END "}", "request.body: expected a string", AS_PARSE},
      {"{" K RQ END "}", "response: expected an object or null", AS_PARSE},
      {"{" K RQ "\"response\": 3, " END "}", "response: expected an object or null", AS_PARSE},
      {"{" K RQ "\"response\": {\"status\": 99, \"at_us\": 5, \"headers\": [], \"chunks\": []}, " END "}", "response.status: expected an integer in [200, 599]", AS_PARSE},
      {"{" K RQ "\"response\": {\"status\": 200, \"at_us\": -1, \"headers\": [], \"chunks\": []}, " END "}", "response.at_us: expected an integer", AS_PARSE},
      {"{" K RQ "\"response\": {\"status\": 200, \"at_us\": 5, \"headers\": [], \"chunks\": 1}, " END "}", "response.chunks: expected an array", AS_PARSE},
      {"{" K RQ "\"response\": {\"status\": 200, \"at_us\": 5, \"headers\": [], \"chunks\": [1]}, " END "}", "response.chunks[0]: expected an object", AS_PARSE},
      {"{" K RQ "\"response\": {\"status\": 200, \"at_us\": 5, \"headers\": [], \"chunks\": [{\"at_us\": 4, \"text\": \"x\"}]}, " END "}", "response.chunks[0].at_us: expected a time no earlier", AS_PARSE},
      {"{" K RQ "\"response\": {\"status\": 200, \"at_us\": 5, \"headers\": [], \"chunks\": [{\"at_us\": 6, \"text\": \"\"}]}, " END "}", "response.chunks[0]: expected at least one byte", AS_PARSE},
      {"{" K RQ "\"response\": {\"status\": 200, \"at_us\": 5, \"headers\": [], \"chunks\": [{\"at_us\": 6, \"size\": 1}]}, " END "}", "response.chunks[0].size: not a field", AS_PARSE},
      {"{" K RQ "\"response\": {\"status\": 200, \"at_us\": 5, \"headers\": [], \"chunks\": [], \"x\": 1}, " END "}", "response.x: not a field of response", AS_PARSE},
      {"{" K RQ RESP "\"end\": 1}", "end: expected an object", AS_PARSE},
      {"{" K RQ RESP "\"end\": {\"fail\": \"odd\", \"at_us\": 7, \"message\": \"\"}}", "end.fail: expected ok", AS_PARSE},
      {"{" K RQ RESP "\"end\": {\"fail\": \"ok\", \"at_us\": 1, \"message\": \"\"}}", "end.at_us: expected a time no earlier", AS_PARSE},
      {"{" K RQ RESP "\"end\": {\"fail\": \"ok\", \"at_us\": 7}}", "end.message: expected a string", AS_PARSE},
      {"{" K RQ "\"response\": null, " END "}", "end.fail: ok, but the response is null", AS_PARSE},
      {"{" K RQ RESP "\"end\": {\"fail\": \"connect\", \"at_us\": 7, \"message\": \"\"}}", "end.fail: connect, but a response arrived", AS_PARSE},
      {"{" K RQ RESP END ", \"expect\": 1}", "expect: expected an object", AS_PARSE},
      {"{" K RQ RESP END ", \"expect\": {\"error\": \"odd\", \"usage\": null}}", "expect.error: expected null", AS_PARSE},
      {"{" K RQ RESP END ", \"expect\": {\"error\": null, \"usage\": 3}}", "expect.usage: expected null or", AS_PARSE},
      {"{" K RQ RESP END ", \"expect\": {\"error\": \"refusal\", \"usage\": {}}}", "expect.usage: expected null with an error", AS_PARSE},
      {"{" K RQ RESP END ", \"expect\": {\"error\": null, \"usage\": {\"prompt\": 1}}}", "expect.usage.cache_read: expected an integer", AS_PARSE},
      {"{" K RQ RESP END ", \"expect\": {\"error\": null, \"usage\": {\"prompt\": 1, \"cache_read\": 2, \"cache_write\": 0, \"completion\": 0}}}", "expected cache_read + cache_write <= prompt", AS_PARSE},
      {"{" K RQ RESP END ", \"expect\": {\"oops\": 1}}", "expect.oops: not a field of expect", AS_PARSE},
  };
  unsigned long long key = (unsigned long long)as_cassette_key(AS_WIRE_OPENAI, "/p", "b", 1);
  char name[48];
  as_cassette_file_name(name, sizeof name, key, 1);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    fresh_dir("bad");
    char err[512];
    assert_int_equal(as_cassette_write_meta(tmpdir, &META, err, sizeof err), AS_OK);
    char text[2048];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(text, sizeof text, cases[i].text, key);
#pragma GCC diagnostic pop
    write_text(tmpdir, name, text);
    as_cassette *c = (as_cassette *)1;
    int rc = as_cassette_load(tmpdir, &c, err, sizeof err);
    if (rc != cases[i].rc || !strstr(err, cases[i].want) || !strstr(err, name))
      fail_msg("case %zu: %s: '%s', wanted '%s'", i, as_status_name(rc), err, cases[i].want);
    assert_null(c);
  }
  /* The well-formed text those cases break loads. */
  fresh_dir("good");
  char err[512];
  assert_int_equal(as_cassette_write_meta(tmpdir, &META, err, sizeof err), AS_OK);
  char text[2048];
  snprintf(text, sizeof text, "{" K RQ RESP END "}", key);
  write_text(tmpdir, name, text);
  as_cassette *c = load_ok();
  assert_int_equal(c->n, 1);
  as_cassette_free(c);
  /* A gap in the occurrences: the second without the first. */
  char name2[48];
  as_cassette_file_name(name2, sizeof name2, key, 2);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "sed 's/\"occurrence\": 1/\"occurrence\": 3/' '%s/%s' > '%s/x-%016llx-3.json'",
           tmpdir, name, tmpdir, key);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(as_cassette_load(tmpdir, &c, err, sizeof err), AS_PARSE);
  assert_non_null(strstr(err, name2));
  assert_non_null(strstr(err, "have a gap"));
}

static void test_meta_errors(void **state) {
  (void)state;
  static const struct {
    const char *text, *want;
    int rc;
  } cases[] = {
      {"{", "cassette.json: (the file)", AS_PARSE},
      {"{\"format\": 2}", "format: expected an integer in [1, 1]", AS_PARSE},
      {"{\"format\": 1, \"provider\": \"x\"}", "provider: expected openai or ollama", AS_PARSE},
      {"{\"format\": 1, \"provider\": \"ollama\", \"model\": \"\"}", "model: expected a name", AS_PARSE},
      {"{\"format\": 1, \"provider\": \"ollama\", \"model\": \"m\", \"stream\": 1}", "stream: expected true or false", AS_PARSE},
      {"{\"format\": 1, \"provider\": \"ollama\", \"model\": \"m\", \"stream\": true, \"structured\": false, \"base_url\": \"ftp://x\"}", "base_url: expected an http", AS_PARSE},
      {"{\"format\": 1, \"provider\": \"ollama\", \"model\": \"m\", \"stream\": true, \"structured\": false, \"base_url\": \"http://x\", \"agentsim\": \"0123456789012345678901234567890123\"}", "agentsim: expected a version", AS_PARSE},
      {"{\"format\": 1, \"color\": 1}", "color: not a field", AS_PARSE},
  };
  char err[512];
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    fresh_dir("meta");
    write_text(tmpdir, AS_CASSETTE_META, cases[i].text);
    as_cassette *c = NULL;
    int rc = as_cassette_load(tmpdir, &c, err, sizeof err);
    if (rc != cases[i].rc || !strstr(err, cases[i].want))
      fail_msg("meta case %zu: %s: '%s'", i, as_status_name(rc), err);
  }
  fresh_dir("nometa");
  as_cassette *c = NULL;
  assert_int_equal(as_cassette_load(tmpdir, &c, err, sizeof err), AS_NOTFOUND);
  assert_non_null(strstr(err, "cassette.json: cannot read"));
  assert_int_equal(as_cassette_load("/nonexistent/dir", &c, err, sizeof err), AS_NOTFOUND);
  assert_int_equal(as_cassette_load(NULL, &c, err, sizeof err), AS_INVAL);
  assert_int_equal(as_cassette_load(tmpdir, NULL, NULL, 0), AS_INVAL);
  /* A directory with the meta but unreadable as a directory: a file. */
  assert_int_equal(as_cassette_write_meta(tmpdir, &META, err, sizeof err), AS_OK);
  as_cassette_meta bad = META;
  bad.model[0] = '\0';
  assert_int_equal(as_cassette_write_meta(tmpdir, &bad, NULL, 0), AS_INVAL);
  assert_int_equal(as_cassette_write_meta("/nonexistent/dir", &META, err, sizeof err), AS_IO);
  assert_non_null(strstr(err, "cannot open"));
  as_cassette_exchange x = ex(1, 200, AS_HTTP_FAIL_NONE, NULL, 0, 1);
  x.path = NULL;
  assert_int_equal(as_cassette_write_exchange(tmpdir, &x, err, sizeof err), AS_INVAL);
  assert_int_equal(as_cassette_write_exchange(tmpdir, NULL, NULL, 0), AS_INVAL);
}

/* --- the recorder ----------------------------------------------------------------- */

static size_t count_files(const char *dir, const char *prefix) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
  closedir(d);
  return n;
}

static void test_recorder(void **state) {
  (void)state;
  fresh_dir("rec");
  char dir[300];
  snprintf(dir, sizeof dir, "%s/new", tmpdir);
  as_cassette_recorder *r = NULL;
  char err[512];
  assert_int_equal(as_cassette_recorder_new(&r, dir, &META, err, sizeof err), AS_OK);
  const as_http_tap *t = as_cassette_recorder_tap(r);
  as_http_header hs[] = {{"Content-Type", "application/json"}, {"authorization", "Bearer sk-SECRET"},
                         {"API-Key", "sk-SECRET"}, {"x-api-key", "sk-SECRET"}};
  as_http_request req = {.url = "http://127.0.0.1:9" PATH, .headers = hs, .nheaders = 4,
                         .body = BODY, .body_len = strlen(BODY)};
  for (int round = 0; round < 2; round++) {
    assert_int_equal(t->on_request(t->ctx, &req), AS_OK);
    as_http_header rh[] = {{"Content-Type", "text/event-stream"}, {"Set-Cookie", "sk-SECRET"}};
    assert_int_equal(t->on_status(t->ctx, round ? 200 : 429, rh, 2, 5 * MS), AS_OK);
    assert_int_equal(t->on_data(t->ctx, "data: 1\n\n", 9, 6 * MS), AS_OK);
    assert_int_equal(t->on_data(t->ctx, "", 0, 6 * MS), AS_OK);
    assert_int_equal(t->on_data(t->ctx, "\xff\x00", 2, 7 * MS), AS_OK);
    /* Not ended: nothing is on disk yet, not even half. */
    assert_int_equal(count_files(dir, "x-"), (size_t)round);
    as_http_result res = {.fail = AS_HTTP_FAIL_NONE, .status = 200, .elapsed_ns = 8 * MS};
    assert_int_equal(t->on_end(t->ctx, &res), AS_OK);
  }
  /* A connect failure, a status seen and then "connect", "ok" without status. */
  as_http_request get = {.url = "http://127.0.0.1:9/v1/models"};
  as_http_result cres = {.fail = AS_HTTP_FAIL_CONNECT, .elapsed_ns = MS};
  snprintf(cres.message, sizeof cres.message, "refused");
  assert_int_equal(t->on_request(t->ctx, &get), AS_OK);
  assert_int_equal(t->on_end(t->ctx, &cres), AS_OK);
  assert_int_equal(t->on_request(t->ctx, &get), AS_OK);
  assert_int_equal(t->on_status(t->ctx, 200, NULL, 0, MS), AS_OK);
  assert_int_equal(t->on_end(t->ctx, &cres), AS_OK);
  as_http_result okres = {.fail = AS_HTTP_FAIL_NONE};
  assert_int_equal(t->on_request(t->ctx, &get), AS_OK);
  assert_int_equal(t->on_end(t->ctx, &okres), AS_OK);
  /* A request the client never ended, then the same task's next one. */
  assert_int_equal(t->on_request(t->ctx, &get), AS_OK);
  assert_int_equal(t->on_request(t->ctx, &get), AS_OK);
  assert_int_equal(t->on_end(t->ctx, &okres), AS_OK);
  assert_int_equal(as_cassette_recorder_count(r), 6);
  /* Refusals: out of order, a bad status, a URL without a scheme. */
  assert_int_equal(t->on_status(t->ctx, 200, NULL, 0, 0), AS_INTERNAL);
  assert_int_equal(t->on_data(t->ctx, "x", 1, 0), AS_INTERNAL);
  assert_int_equal(t->on_end(t->ctx, &okres), AS_INTERNAL);
  as_http_request bad = {.url = "nope"};
  assert_int_equal(t->on_request(t->ctx, &bad), AS_INVAL);
  assert_int_equal(t->on_request(t->ctx, &get), AS_OK);
  assert_int_equal(t->on_status(t->ctx, 99, NULL, 0, 0), AS_INVAL);
  assert_int_equal(t->on_end(t->ctx, &okres), AS_IO); /* failed: not written */
  assert_int_equal(t->on_request(t->ctx, &get), AS_OK);
  assert_int_equal(t->on_data(t->ctx, "x", 1, AS_CASSETTE_AT_MAX + 1), AS_TOOBIG);
  assert_int_equal(t->on_end(t->ctx, &okres), AS_IO);
  assert_int_equal(as_cassette_recorder_count(r), 6);
  assert_non_null(strstr(as_cassette_recorder_error(r), "request without an absolute URL"));
  as_cassette_recorder_free(r);
  assert_int_equal(count_files(dir, ".tmp"), 0);
  /* It loads, secrets stripped, occurrences in the order of the ends. */
  snprintf(tmpdir, sizeof tmpdir, "%s", dir);
  as_cassette *c = load_ok();
  assert_int_equal(c->n, 6);
  uint64_t key = as_cassette_key(AS_WIRE_OPENAI, PATH, BODY, strlen(BODY));
  const as_cassette_exchange *a = as_cassette_find(c, key, 1), *b = as_cassette_find(c, key, 2);
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal(a->status, 429);
  assert_int_equal(b->status, 200);
  assert_int_equal(a->nreq_headers, 1);
  assert_int_equal(a->nheaders, 1);
  assert_int_equal(a->nchunks, 2);
  assert_int_equal(a->end_at_ns, 8 * MS);
  assert_false(a->expect.given);
  uint64_t gk = as_cassette_key(AS_WIRE_OPENAI, "/v1/models", "", 0);
  assert_int_equal(as_cassette_find(c, gk, 1)->fail, AS_HTTP_FAIL_CONNECT);
  assert_string_equal(as_cassette_find(c, gk, 1)->method, "GET");
  assert_int_equal(as_cassette_find(c, gk, 2)->fail, AS_HTTP_FAIL_TRUNCATED);
  assert_int_equal(as_cassette_find(c, gk, 3)->fail, AS_HTTP_FAIL_PROTOCOL);
  as_cassette_free(c);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "grep -rqi 'sk-SECRET\\|authorization\\|api-key\\|cookie' '%s'", dir);
  assert_int_not_equal(system(cmd), 0);
  /* A directory with a cassette already, a path too long, no directory. */
  r = NULL;
  assert_int_equal(as_cassette_recorder_new(&r, dir, &META, err, sizeof err), AS_EXISTS);
  assert_null(r);
  assert_int_equal(as_cassette_recorder_new(&r, "/nonexistent/a/b", &META, err, sizeof err), AS_IO);
  assert_int_equal(as_cassette_recorder_new(&r, NULL, &META, NULL, 0), AS_INVAL);
  assert_int_equal(as_cassette_recorder_new(NULL, dir, &META, NULL, 0), AS_INVAL);
  as_cassette_meta nom = META;
  nom.model[0] = '\0';
  snprintf(dir, sizeof dir, "%s/other", tmpdir);
  assert_int_equal(as_cassette_recorder_new(&r, dir, &nom, err, sizeof err), AS_INVAL);
  assert_null(as_cassette_recorder_tap(NULL));
  assert_int_equal(as_cassette_recorder_count(NULL), 0);
  assert_string_equal(as_cassette_recorder_error(NULL), "");
  as_cassette_recorder_free(NULL);
}

/* --- the replay, the test acting as the client -------------------------------------- */

typedef struct got {
  char buf[65536];
  size_t len;
  int last;     /* the wait's last answer: 1 the deadline, -1 broken, 0 the end (EOF) */
  bool eof;
  unsigned waits;
} got;

static void client_run(const as_http_net *net, int fd, uint64_t deadline, got *g) {
  char req[256];
  int n = snprintf(req, sizeof req, "POST " PATH " HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\n\r\n%s",
                   strlen(BODY), BODY);
  /* the request in two writes: the replay waits for its end */
  assert_int_equal(write(fd, req, 20), 20);
  memset(g, 0, sizeof *g);
  assert_int_equal(net->wait(net->ctx, fd, deadline), 0);
  assert_int_equal(write(fd, req + 20, (size_t)n - 20), n - 20);
  for (g->waits = 0; g->waits < 10000; g->waits++) {
    int w = net->wait(net->ctx, fd, deadline);
    g->last = w;
    for (;;) {
      ssize_t r = recv(fd, g->buf + g->len, sizeof g->buf - 1 - g->len, MSG_DONTWAIT);
      if (r > 0) {
        g->len += (size_t)r;
        continue;
      }
      if (r == 0) g->eof = true;
      break;
    }
    if (g->eof || w != 0) break;
  }
  g->buf[g->len] = '\0';
}

static as_cassette_chunk sse[] = {{2 * MS, "data: {\"x\":1}\n\n", 15},
                                  {3000 * MS, "data: [DONE]\n\n", 14}};

static void replay_dir(void) {
  fresh_dir("net");
  char err[512];
  assert_int_equal(as_cassette_write_meta(tmpdir, &META, err, sizeof err), AS_OK);
  as_cassette_exchange a = ex(1, 429, AS_HTTP_FAIL_NONE, NULL, 0, 1);
  as_cassette_exchange b = ex(2, 200, AS_HTTP_FAIL_NONE, sse, 2, 3000);
  as_cassette_exchange c = ex(3, 200, AS_HTTP_FAIL_TRUNCATED, sse, 1, 10);
  as_cassette_exchange d = ex(4, 200, AS_HTTP_FAIL_TIMEOUT, sse, 1, 50);
  as_cassette_exchange e = ex(5, 0, AS_HTTP_FAIL_CONNECT, NULL, 0, 1);
  as_cassette_exchange f = ex(6, 0, AS_HTTP_FAIL_PROTOCOL, NULL, 0, 1);
  as_cassette_exchange g = ex(7, 0, AS_HTTP_FAIL_TOOBIG, NULL, 0, 1);
  as_cassette_exchange h = ex(8, 200, AS_HTTP_FAIL_PROTOCOL, sse, 1, 4);
  as_cassette_exchange i = ex(9, 204, AS_HTTP_FAIL_NONE, sse, 1, 4);
  as_cassette_exchange j = ex(10, 200, AS_HTTP_FAIL_ABORTED, NULL, 0, 4);
  const as_cassette_exchange *all[] = {&a, &b, &c, &d, &e, &f, &g, &h, &i, &j};
  for (size_t k = 0; k < 10; k++) save(all[k]);
}

static const as_http_request REQ = {.url = "http://127.0.0.1:9" PATH, .body = BODY,
                                    .body_len = sizeof BODY - 1};

static void test_replay_endings(void **state) {
  (void)state;
  replay_dir();
  as_cassette *c = load_ok();
  as_cassette_net *n = NULL;
  assert_int_equal(as_cassette_net_new(&n, c), AS_OK);
  const as_http_net *net = as_cassette_net_get(n);
  const as_cassette_exchange *x;
  char msg[AS_CASSETTE_ERR_MAX];
  assert_int_equal(as_cassette_net_taken(n, &x, msg, sizeof msg), AS_NOTFOUND);
  got g;
  /* 1: the 429 */
  int fd = net->open_socket(net->ctx, &REQ);
  assert_true(fd >= 0);
  client_run(net, fd, as_now_mono_ns() + 60000 * MS, &g);
  assert_true(g.eof);
  assert_non_null(strstr(g.buf, "HTTP/1.1 429 Too Many Requests\r\n"));
  assert_non_null(strstr(g.buf, "X-Request-Id: r1\r\n"));
  assert_null(strstr(g.buf, "Content-Length"));
  assert_non_null(strstr(g.buf, "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n"));
  assert_int_equal(as_cassette_net_taken(n, &x, msg, sizeof msg), AS_OK);
  assert_int_equal(x->occurrence, 1);
  close(fd);
  /* 2: the same request again: the 200, chunked, the last chunk at 3 s */
  fd = net->open_socket(net->ctx, &REQ);
  uint64_t t0 = as_now_mono_ns();
  client_run(net, fd, t0 + 60000 * MS, &g);
  uint64_t took = as_now_mono_ns() - t0;
  assert_true(g.eof);
  assert_true(took >= 3000 * MS);
  assert_non_null(strstr(g.buf, "\r\n\r\nf\r\ndata: {\"x\":1}\n\n\r\ne\r\ndata: [DONE]\n\n\r\n0\r\n\r\n"));
  close(fd);
  /* 3: truncated: the first chunk, then the end of the stream without the last chunk */
  fd = net->open_socket(net->ctx, &REQ);
  client_run(net, fd, as_now_mono_ns() + 60000 * MS, &g);
  assert_true(g.eof);
  assert_non_null(strstr(g.buf, "data: {\"x\":1}\n\n\r\n"));
  assert_null(strstr(g.buf, "0\r\n\r\n"));
  close(fd);
  /* 4: timeout: the first chunk, then silence until the deadline (1) */
  fd = net->open_socket(net->ctx, &REQ);
  t0 = as_now_mono_ns();
  client_run(net, fd, t0 + 20 * MS, &g);
  assert_false(g.eof);
  assert_int_equal(g.last, 1);
  assert_true(as_now_mono_ns() - t0 >= 20 * MS);
  assert_non_null(strstr(g.buf, "data: {\"x\":1}"));
  /* a deadline before the next piece: 1 at once, the piece kept */
  close(fd);
  /* 5: a recorded connect failure: no socket, the exchange taken */
  assert_int_equal(net->open_socket(net->ctx, &REQ), -1);
  assert_int_equal(as_cassette_net_taken(n, &x, msg, sizeof msg), AS_OK);
  assert_int_equal(x->fail, AS_HTTP_FAIL_CONNECT);
  /* 6: not HTTP */
  fd = net->open_socket(net->ctx, &REQ);
  client_run(net, fd, as_now_mono_ns() + 60000 * MS, &g);
  assert_true(g.eof);
  assert_string_equal(g.buf, "NOT HTTP\r\n\r\n");
  close(fd);
  /* 7: a header past the client's cap */
  fd = net->open_socket(net->ctx, &REQ);
  client_run(net, fd, as_now_mono_ns() + 60000 * MS, &g);
  assert_true(g.eof);
  assert_true(g.len > AS_HTTP_HEADER_MAX);
  close(fd);
  /* 8: a bad chunk after the head */
  fd = net->open_socket(net->ctx, &REQ);
  client_run(net, fd, as_now_mono_ns() + 60000 * MS, &g);
  assert_non_null(strstr(g.buf, "zz\r\n"));
  close(fd);
  /* 9: 204: no body, no chunked framing */
  fd = net->open_socket(net->ctx, &REQ);
  client_run(net, fd, as_now_mono_ns() + 60000 * MS, &g);
  assert_true(g.eof);
  assert_null(strstr(g.buf, "chunked"));
  assert_null(strstr(g.buf, "data:"));
  close(fd);
  /* 10: aborted: held; with no deadline at all, broken (-1), never a hang */
  fd = net->open_socket(net->ctx, &REQ);
  client_run(net, fd, AS_DEADLINE_NEVER, &g);
  assert_int_equal(g.last, -1);
  close(fd);
  /* 11: past the recording: a miss naming the request and the keys */
  assert_int_equal(net->open_socket(net->ctx, &REQ), -1);
  assert_int_equal(as_cassette_net_taken(n, &x, msg, sizeof msg), AS_NOTFOUND);
  assert_null(x);
  assert_non_null(strstr(msg, "no exchange for POST " PATH));
  assert_non_null(strstr(msg, "occurrence 11"));
  assert_non_null(strstr(msg, "{\"model\":\"m\""));
  assert_non_null(strstr(msg, " x10 (" PATH ")"));
  /* another body: a miss too; a bad URL; an unknown fd */
  as_http_request other = REQ;
  other.body = "\x01zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz";
  other.body_len = strlen(other.body);
  assert_int_equal(net->open_socket(net->ctx, &other), -1);
  assert_int_equal(as_cassette_net_taken(n, &x, msg, sizeof msg), AS_NOTFOUND);
  assert_non_null(strstr(msg, "occurrence 1;"));
  assert_non_null(strstr(msg, "\\x01zz"));
  assert_non_null(strstr(msg, "...\")"));
  as_http_request nourl = {.url = "nope"};
  assert_int_equal(net->open_socket(net->ctx, &nourl), -1);
  assert_int_equal(net->wait(net->ctx, 12345, 0), -1);
  as_cassette_net_free(n);
  as_cassette_free(c);
  assert_int_equal(as_cassette_net_new(NULL, c), AS_INVAL);
  assert_int_equal(as_cassette_net_new(&n, NULL), AS_INVAL);
  assert_null(as_cassette_net_get(NULL));
  assert_int_equal(as_cassette_net_taken(NULL, &x, NULL, 0), AS_INVAL);
  assert_int_equal(as_cassette_net_taken(NULL, NULL, NULL, 0), AS_INVAL);
}

/* A client that closes before reading, and connections reclaimed. */
static void test_replay_client_gone(void **state) {
  (void)state;
  replay_dir();
  as_cassette *c = load_ok();
  as_cassette_net *n = NULL;
  assert_int_equal(as_cassette_net_new(&n, c), AS_OK);
  const as_http_net *net = as_cassette_net_get(n);
  int fd = net->open_socket(net->ctx, &REQ);
  assert_true(fd >= 0);
  close(fd);
  /* the replay's end stays until the next open_socket finds it dead */
  int fd2 = net->open_socket(net->ctx, &REQ);
  assert_true(fd2 >= 0);
  int fd3 = net->open_socket(net->ctx, &REQ);
  /* fd2's client writes, then vanishes mid-response: broken */
  got g;
  close(fd3);
  assert_int_equal(write(fd2, "GET / HTTP/1.1\r\n\r\n", 18), 18);
  assert_int_equal(net->wait(net->ctx, fd2, as_now_mono_ns() + 60000 * MS), 0);
  close(fd2);
  assert_int_equal(net->wait(net->ctx, fd2, as_now_mono_ns() + MS), -1);
  (void)g;
  as_cassette_net_free(n);
  as_cassette_free(c);
}

/* A big response: the socket's buffer fills and the replay waits for the reader. */
static void test_replay_big(void **state) {
  (void)state;
  fresh_dir("big");
  char err[512];
  assert_int_equal(as_cassette_write_meta(tmpdir, &META, err, sizeof err), AS_OK);
  size_t big = 3u << 20;
  char *data = malloc(big);
  assert_non_null(data);
  memset(data, 'q', big);
  as_cassette_chunk ch[] = {{2 * MS, data, big}};
  as_cassette_exchange x = ex(1, 200, AS_HTTP_FAIL_NONE, ch, 1, 3);
  save(&x);
  free(data);
  as_cassette *c = load_ok();
  as_cassette_net *n = NULL;
  assert_int_equal(as_cassette_net_new(&n, c), AS_OK);
  const as_http_net *net = as_cassette_net_get(n);
  int fd = net->open_socket(net->ctx, &REQ);
  char req[256];
  int rn = snprintf(req, sizeof req, "POST / HTTP/1.1\r\ncontent-length: %zu\r\n\r\n%s", strlen(BODY), BODY);
  assert_int_equal(write(fd, req, (size_t)rn), rn);
  size_t total = 0;
  bool eof = false;
  static char buf[1 << 16];
  for (unsigned i = 0; i < 100000 && !eof; i++) {
    assert_int_equal(net->wait(net->ctx, fd, as_now_mono_ns() + 60000 * MS), 0);
    for (;;) {
      ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (r > 0) total += (size_t)r;
      if (r == 0) eof = true;
      if (r <= 0) break;
    }
  }
  assert_true(eof);
  assert_true(total > big);
  close(fd);
  as_cassette_net_free(n);
  as_cassette_free(c);
}

/* --- virtual time: the replay in the sim ----------------------------------------------- */

static sim *S;
static as_cassette *sim_c;
static struct {
  uint64_t took, virt_end;
  int last;
  bool eof;
  size_t len;
  uint64_t trunc_took, trunc_late_took; /* the truncation; again past a nearer deadline */
  bool trunc_eof, trunc_late_eof;
  int trunc_late_last;
  uint64_t refused_took[2]; /* the recorded connect failure; past a nearer deadline */
  int refused_fd[2];
} sobs;

static void replay_main(void *state) {
  (void)state;
  as_cassette_net *n = NULL;
  if (as_cassette_net_new(&n, sim_c) != AS_OK) return;
  const as_http_net *net = as_cassette_net_get(n);
  int fd = net->open_socket(net->ctx, &REQ); /* the 429 */
  got g;
  client_run(net, fd, as_now_mono_ns() + 60000 * MS, &g);
  close(fd);
  fd = net->open_socket(net->ctx, &REQ); /* the 3-second answer */
  uint64_t t0 = as_now_mono_ns();
  client_run(net, fd, t0 + 60000 * MS, &g);
  sobs.took = as_now_mono_ns() - t0;
  sobs.eof = g.eof;
  sobs.len = g.len;
  close(fd);
  fd = net->open_socket(net->ctx, &REQ); /* truncated: its chunk at 2 ms, the close at 10 */
  t0 = as_now_mono_ns();
  client_run(net, fd, t0 + 60000 * MS, &g);
  sobs.trunc_took = as_now_mono_ns() - t0;
  sobs.trunc_eof = g.eof;
  close(fd);
  fd = net->open_socket(net->ctx, &REQ); /* the timeout, at a 2 s deadline */
  client_run(net, fd, as_now_mono_ns() + 2000 * MS, &g);
  sobs.last = g.last;
  sobs.virt_end = as_now_mono_ns();
  close(fd);
  as_cassette_net_free(n);
  /* The truncation again (a new net: occurrences from 1), the client's
  ** deadline at 5 ms, before the recorded close: the deadline comes first. */
  if (as_cassette_net_new(&n, sim_c) != AS_OK) return;
  net = as_cassette_net_get(n);
  for (int k = 0; k < 2; k++) close(net->open_socket(net->ctx, &REQ)); /* 1, 2 unread */
  fd = net->open_socket(net->ctx, &REQ);
  t0 = as_now_mono_ns();
  client_run(net, fd, t0 + 5 * MS, &g);
  sobs.trunc_late_took = as_now_mono_ns() - t0;
  sobs.trunc_late_eof = g.eof;
  sobs.trunc_late_last = g.last;
  close(fd);
  close(net->open_socket(net->ctx, &REQ)); /* 4 unread */
  /* 5, a connect failure recorded 1 ms after the request began: it comes
  ** then, or at the client's deadline when that is nearer (0.5 ms). */
  for (int k = 0; k < 2; k++) {
    if (k) {
      as_cassette_net_free(n);
      if (as_cassette_net_new(&n, sim_c) != AS_OK) return;
      net = as_cassette_net_get(n);
      for (int j = 0; j < 4; j++) close(net->open_socket(net->ctx, &REQ));
    }
    as_http_request r = REQ;
    r.timeout_ns = k ? MS / 2 : 0;
    t0 = as_now_mono_ns();
    sobs.refused_fd[k] = net->open_socket(net->ctx, &r);
    sobs.refused_took[k] = as_now_mono_ns() - t0;
  }
  as_cassette_net_free(n);
}

static const sim_program replay_prog = {
    .name = "cassette-replay",
    .summary = "a cassette replayed in virtual time",
    .est_tasks = 1,
    .main = replay_main,
};

static void test_replay_virtual_time(void **state) {
  (void)state;
  replay_dir();
  sim_c = load_ok();
  memset(&sobs, 0, sizeof sobs);
  sim_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.seed = 3;
  cfg.strategy = SIM_STRATEGY_RANDOM;
  sim_result res;
  struct timespec w0, w1;
  clock_gettime(CLOCK_MONOTONIC, &w0);
  int rc = sim_run(S, &replay_prog, &cfg, &res);
  clock_gettime(CLOCK_MONOTONIC, &w1);
  if (rc != AS_OK || res.outcome != SIM_PASS)
    fail_msg("sim_run: %s %s: %s", as_status_name(rc), sim_outcome_name(res.outcome), res.message);
  sim_result_clear(&res);
  uint64_t wall = (uint64_t)(w1.tv_sec - w0.tv_sec) * 1000000000ull + (uint64_t)w1.tv_nsec -
                  (uint64_t)w0.tv_nsec;
  print_message("cassette: a recorded 3 s answer took %.3f s of virtual time; the run %.1f ms "
                "of wall time (virtual end %.3f s)\n",
                (double)sobs.took / 1e9, (double)wall / 1e6, (double)sobs.virt_end / 1e9);
  assert_true(sobs.eof);
  assert_true(sobs.took >= 3000 * MS && sobs.took < 3001 * MS);
  assert_int_equal(sobs.last, 1);
  /* A truncation shuts at its recorded end (10 ms), not with its last chunk
  ** (2 ms): a real peer's close came then, and a replay of a recording
  ** made in real mode takes the time the real call took. */
  assert_true(sobs.trunc_eof);
  assert_int_equal(sobs.trunc_took, 10 * MS);
  assert_false(sobs.trunc_late_eof);
  assert_int_equal(sobs.trunc_late_last, 1);
  assert_int_equal(sobs.trunc_late_took, 5 * MS);
  /* A recorded connect failure comes when it came, or at the deadline. */
  assert_int_equal(sobs.refused_fd[0], -1);
  assert_int_equal(sobs.refused_fd[1], -1);
  assert_int_equal(sobs.refused_took[0], MS);
  assert_int_equal(sobs.refused_took[1], MS / 2);
  assert_true(wall < 1000 * MS);
  as_cassette_free(sim_c);
}

/* --- more of the format's edges, writing failures, the net's limits --------------------- */

static void test_write_paths(void **state) {
  (void)state;
  static char bin[] = {'\x01', '\xfe', '\x00'};
  as_cassette_header rh[] = {{"Content-Type", "text/plain"}, {"x-api-key", "sk-SECRET"}};
  as_cassette_chunk ch[] = {{2 * MS, "text", 4}, {3 * MS, bin, 3}};
  as_cassette_exchange w[4];
  w[0] = ex(1, 200, AS_HTTP_FAIL_NONE, ch, 2, 4);
  w[0].body = bin;
  w[0].body_len = 3;
  w[0].key = as_cassette_key(AS_WIRE_OPENAI, PATH, bin, 3);
  w[0].headers = rh;
  w[0].nheaders = 2;
  w[0].expect = (as_cassette_expect){.given = true, .usage_known = true, .prompt = 5, .completion = 1};
  w[1] = ex(1, 429, AS_HTTP_FAIL_NONE, NULL, 0, 1);
  w[1].expect = (as_cassette_expect){.given = true, .error = AS_LLM_ERR_REFUSAL};
  w[2] = ex(2, 0, AS_HTTP_FAIL_TRUNCATED, NULL, 0, 1);
  w[2].expect = (as_cassette_expect){.given = true};
  w[3] = ex(3, 200, AS_HTTP_FAIL_NONE, ch, 1, 4);
  /* jansson's allocations through the wrapped allocator too. */
  json_set_alloc_funcs(malloc, free);
  unsigned long k;
  for (k = 1; k < 10000; k++) {
    fresh_dir("wpath");
    size_t live = fw_live_blocks();
    fw_countdown(FW_ALLOC, k, ENOMEM, 0);
    char err[512];
    int rc = as_cassette_write_meta(tmpdir, &META, err, sizeof err);
    for (int i = 0; i < 4 && rc == AS_OK; i++) rc = as_cassette_write_exchange(tmpdir, &w[i], err, sizeof err);
    int fired = fw_fired();
    fw_disarm();
    assert_int_equal(fw_live_blocks(), live);
    if (!fired) {
      assert_int_equal(rc, AS_OK);
      break;
    }
    if (rc != AS_NOMEM && rc != AS_OK) fail_msg("k %lu: %s (%s)", k, as_status_name(rc), err); /* OK: an allocation jansson does without */
    assert_int_equal(count_files(tmpdir, ".tmp"), 0);
  }
  assert_true(k > 30);
  as_cassette *c = load_ok();
  const as_cassette_exchange *a = as_cassette_find(c, w[0].key, 1);
  assert_non_null(a);
  assert_int_equal(a->body_len, 3);
  assert_memory_equal(a->body, bin, 3);
  assert_int_equal(a->nheaders, 1);
  assert_int_equal(as_cassette_find(c, w[1].key, 1)->expect.error, AS_LLM_ERR_REFUSAL);
  assert_false(as_cassette_find(c, w[1].key, 3)->expect.given);
  as_cassette_free(c);
  /* (jansson reports running out of memory while parsing as a syntax error:
  ** its allocations fail in turn only for writing.) */
  json_set_alloc_funcs(__real_malloc, __real_free);
  /* Writes that fail: an error, then no bytes moved, then half (which goes on). */
  char err[512];
  fw_inject(FW_WRITE, EIO, 1);
  assert_int_equal(as_cassette_write_meta(tmpdir, &META, err, sizeof err), AS_IO);
  assert_non_null(strstr(err, "cannot write"));
  fw_inject(FW_WRITE, -1, 1);
  assert_int_equal(as_cassette_write_meta(tmpdir, &META, err, sizeof err), AS_IO);
  fw_inject(FW_WRITE, 0, 1);
  assert_int_equal(as_cassette_write_meta(tmpdir, &META, err, sizeof err), AS_OK);
  fw_inject(FW_WRITE, EINTR, 1);
  assert_int_equal(as_cassette_write_meta(tmpdir, &META, err, sizeof err), AS_OK);
  fw_reset();
  assert_int_equal(count_files(tmpdir, ".tmp"), 0);
  /* Refused exchanges. */
  as_cassette_exchange b = w[3];
  b.occurrence = 0;
  assert_int_equal(as_cassette_write_exchange(tmpdir, &b, err, sizeof err), AS_INVAL);
  b = w[3];
  b.method[0] = '\0';
  assert_int_equal(as_cassette_write_exchange(tmpdir, &b, err, sizeof err), AS_INVAL);
  b = w[3];
  b.fail = AS__HTTP_FAIL_COUNT;
  assert_int_equal(as_cassette_write_exchange(tmpdir, &b, err, sizeof err), AS_INVAL);
  as_cassette_meta m = META;
  m.kind = AS__WIRE_COUNT;
  assert_int_equal(as_cassette_write_meta(tmpdir, &m, err, sizeof err), AS_INVAL);
  m = META;
  m.agentsim[0] = '\0';
  assert_int_equal(as_cassette_write_meta(tmpdir, &m, NULL, 0), AS_OK);
  assert_int_equal(as_cassette_write_meta(NULL, &m, NULL, 0), AS_INVAL);
}

static void test_more_load_errors(void **state) {
  (void)state;
  unsigned long long key = (unsigned long long)as_cassette_key(AS_WIRE_OPENAI, "/p", "b", 1);
  char name[48];
  as_cassette_file_name(name, sizeof name, key, 1);
  char longmsg[400];
  memset(longmsg, 'm', 300);
  longmsg[300] = '\0';
  char big[600];
  snprintf(big, sizeof big, "{" K RQ RESP "\"end\": {\"fail\": \"ok\", \"at_us\": 7, \"message\": \"%s\"}}", key, longmsg);
  static const struct {
    const char *text, *want;
  } cases[] = {
      {"{\"key\": \"0000000000000000x\", \"occurrence\": 1}", "key: expected 16"},
      {"{\"key\": \"ABCDEF0000000000\", \"occurrence\": 1}", "key: expected 16"},
      {"{" K "\"request\": {\"method\": 1, \"path\": \"/p\", \"headers\": [], \"body\": \"b\"}}", "request.method: expected a string"},
      {"{" K "\"request\": {\"method\": \"GET\", \"path\": \"/p q\", \"headers\": [], \"body\": \"b\"}}", "request.path"},
      {"{" K "\"request\": {\"method\": \"GET\", \"path\": \"/p\", \"headers\": [[1, 2]], \"body\": \"b\"}}", "expected [name, value]"},
      {"{" K "\"request\": {\"method\": \"GET\", \"path\": \"/p\", \"headers\": [[\"a:b\", \"c\"]], \"body\": \"b\"}}", "expected a header name"},
      {"{" K "\"request\": {\"method\": \"GET\", \"path\": \"/p\", \"headers\": [[\"a\", \"c\\r\"]], \"body\": \"b\"}}", "expected a header name"},
      {"{" K "\"request\": {\"method\": \"GET\", \"path\": \"/p\", \"headers\": [[\"\", \"c\"]], \"body\": \"b\"}}", "expected a header name"},
      {"{" K "\"request\": {\"method\": \"GET\", \"path\": \"/p\", \"headers\": [], \"body\": \"b\", \"x\": 1}}", "request.x: not a field"},
      {"{" K RQ "\"response\": {\"status\": 200, \"at_us\": 5, \"headers\": 1, \"chunks\": []}}", "response.headers: expected an array"},
      {"{" K RQ "\"response\": {\"status\": \"200\", \"at_us\": 5, \"headers\": [], \"chunks\": []}}", "response.status: expected an integer"},
      {"{" K RQ "\"response\": {\"status\": 200, \"at_us\": 5, \"headers\": [], \"chunks\": [{\"at_us\": 6, \"base64\": \"QQ=\"}]}}", "chunks[0].base64: expected base64"},
      {"{" K RQ "\"response\": {\"status\": 200, \"at_us\": 5, \"headers\": [], \"chunks\": [{\"at_us\": 6, \"text\": 1}]}}", "chunks[0].text: expected a string"},
      {"{" K RQ "\"response\": {\"status\": 200, \"at_us\": 5, \"headers\": [], \"chunks\": [{\"text\": \"x\"}]}}", "chunks[0].at_us: expected an integer"},
      {"{" K RQ RESP "\"end\": {\"fail\": 1, \"at_us\": 7, \"message\": \"\"}}", "end.fail: expected a string"},
      {"{" K RQ RESP "\"end\": {\"fail\": \"ok\", \"message\": \"\"}}", "end.at_us: expected an integer"},
      {"{" K RQ RESP "\"end\": {\"fail\": \"ok\", \"at_us\": 7, \"message\": \"\", \"y\": 0}}", "end.y: not a field"},
      {"{" K RQ RESP END ", \"expect\": {\"error\": 3, \"usage\": null}}", "expect.error: expected null"},
      {"{" K RQ RESP END ", \"expect\": {\"error\": null, \"usage\": {\"prompt\": 1, \"cache_read\": 0, \"cache_write\": 0, \"completion\": 0, \"z\": 1}}}", "expect.usage.z: not a field"},
      {"{" K RQ RESP END ", \"expect\": {\"error\": null, \"usage\": {\"prompt\": -1, \"cache_read\": 0, \"cache_write\": 0, \"completion\": 0}}}", "expect.usage.prompt: expected an integer"},
  };
  char err[512];
  for (size_t i = 0; i <= sizeof cases / sizeof *cases; i++) {
    fresh_dir("bad2");
    assert_int_equal(as_cassette_write_meta(tmpdir, &META, err, sizeof err), AS_OK);
    char text[2048];
    if (i < sizeof cases / sizeof *cases) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
      snprintf(text, sizeof text, cases[i].text, key);
#pragma GCC diagnostic pop
    } else {
      snprintf(text, sizeof text, "%s", big);
    }
    const char *want = i < sizeof cases / sizeof *cases ? cases[i].want : "end.message: longer";
    write_text(tmpdir, name, text);
    as_cassette *c = NULL;
    int rc = as_cassette_load(tmpdir, &c, err, sizeof err);
    if (rc == AS_OK || !strstr(err, want)) fail_msg("case %zu: %s: '%s', wanted '%s'", i, as_status_name(rc), err, want);
  }
  /* Valid variants: base64 chunks, an error expect, a refusal with usage null. */
  fresh_dir("good2");
  assert_int_equal(as_cassette_write_meta(tmpdir, &META, err, sizeof err), AS_OK);
  char text[2048];
  snprintf(text, sizeof text, "{" K RQ "\"response\": {\"status\": 200, \"at_us\": 5, \"headers\": [], "
           "\"chunks\": [{\"at_us\": 6, \"base64\": \"QUI=\"}, {\"at_us\": 6, \"base64\": \"QQ==\"}]}, " END
           ", \"expect\": {\"error\": \"refusal\", \"usage\": null}}", key);
  write_text(tmpdir, name, text);
  as_cassette *c = load_ok();
  assert_int_equal(c->x[0].nchunks, 2);
  assert_memory_equal(c->x[0].chunks[0].data, "AB", 2);
  assert_memory_equal(c->x[0].chunks[1].data, "A", 1);
  assert_int_equal(c->x[0].expect.error, AS_LLM_ERR_REFUSAL);
  as_cassette_free(c);
  assert_null(as_cassette_find(NULL, 1, 1));
  /* The meta's other refusals. */
  static const char *const metas[][2] = {
      {"{\"format\": 1, \"provider\": 3}", "provider: expected a string"},
      {"{\"format\": 1, \"provider\": \"openai\", \"model\": \"mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm\"}", "model: expected a name"},
      {"{\"format\": 1, \"provider\": \"openai\", \"model\": \"m\", \"stream\": true, \"structured\": 0}", "structured: expected true"},
      {"{\"format\": 1, \"provider\": \"openai\", \"model\": \"m\", \"stream\": true, \"structured\": true, \"base_url\": \"http://a b\"}", "base_url: expected"},
      {"{\"format\": 1, \"provider\": \"openai\", \"model\": \"m\", \"stream\": true, \"structured\": true, \"base_url\": \"https://a\"}", "agentsim: expected a string"},
      {"[1]", "expected a JSON object"},
  };
  for (size_t i = 0; i < sizeof metas / sizeof *metas; i++) {
    fresh_dir("meta2");
    write_text(tmpdir, AS_CASSETTE_META, metas[i][0]);
    int rc = as_cassette_load(tmpdir, &c, err, sizeof err);
    if (rc == AS_OK || !strstr(err, metas[i][1])) fail_msg("meta %zu: '%s'", i, err);
  }
  /* A directory path at the cap; an x- file that is not JSON-named. */
  char longdir[AS_CASSETTE_PATH_MAX + 8];
  memset(longdir, 'd', sizeof longdir - 1);
  longdir[sizeof longdir - 1] = '\0';
  assert_int_equal(as_cassette_load(longdir, &c, NULL, 0), AS_INVAL);
  fresh_dir("names");
  assert_int_equal(as_cassette_write_meta(tmpdir, &META, err, sizeof err), AS_OK);
  write_text(tmpdir, "x-.jso", "{}");
  write_text(tmpdir, "x-1.txt", "{}");
  c = load_ok();
  assert_int_equal(c->n, 0);
  as_cassette_free(c);
}

static void test_net_limits(void **state) {
  (void)state;
  replay_dir();
  as_cassette *c = load_ok();
  as_cassette_net *n = NULL;
  assert_int_equal(as_cassette_net_new(&n, c), AS_OK);
  const as_http_net *net = as_cassette_net_get(n);
  /* A request head past the cap: broken. */
  int fd = net->open_socket(net->ctx, &REQ);
  static char head[20000];
  memset(head, 'h', sizeof head);
  ssize_t w = write(fd, head, sizeof head);
  assert_true(w > 16384);
  assert_int_equal(net->wait(net->ctx, fd, as_now_mono_ns() + MS), -1);
  close(fd);
  /* More connections at once than the cap; the fds run out. */
  static int fds[AS_CASSETTE_CONNS_MAX + 1];
  as_cassette_net_free(n);
  as_cassette_exchange many[1] = {ex(1, 200, AS_HTTP_FAIL_NONE, NULL, 0, 1)};
  (void)many;
  fresh_dir("many");
  char err[512];
  assert_int_equal(as_cassette_write_meta(tmpdir, &META, err, sizeof err), AS_OK);
  for (unsigned i = 1; i <= AS_CASSETTE_CONNS_MAX + 1; i++) {
    as_cassette_exchange x = ex(i, 200, AS_HTTP_FAIL_NONE, NULL, 0, 1);
    save(&x);
  }
  as_cassette_free(c);
  c = load_ok();
  assert_int_equal(as_cassette_net_new(&n, c), AS_OK);
  net = as_cassette_net_get(n);
  for (unsigned i = 0; i < AS_CASSETTE_CONNS_MAX; i++) {
    fds[i] = net->open_socket(net->ctx, &REQ);
    assert_true(fds[i] >= 0);
  }
  assert_int_equal(net->open_socket(net->ctx, &REQ), -1);
  for (unsigned i = 0; i < AS_CASSETTE_CONNS_MAX; i++) close(fds[i]);
  as_cassette_net_free(n);
  as_cassette_free(c);
}

static void test_edges(void **state) {
  (void)state;
  char err[512];
  /* The recorder's caps and clamps. */
  fresh_dir("redge");
  char dir[300];
  snprintf(dir, sizeof dir, "%s/r", tmpdir);
  as_cassette_recorder *r = NULL;
  assert_int_equal(as_cassette_recorder_new(&r, dir, &META, NULL, 0), AS_OK);
  const as_http_tap *t = as_cassette_recorder_tap(r);
  as_http_header hs[40];
  for (int i = 0; i < 40; i++) hs[i] = (as_http_header){"X-H", "v"};
  hs[3].name = NULL;
  as_http_request req = {.url = "http://h/p", .headers = hs, .nheaders = 40};
  for (int i = 0; i < 17; i++) { /* 17 keys: the counts grow */
    char url[64];
    snprintf(url, sizeof url, "http://h/p%d", i);
    req.url = url;
    assert_int_equal(t->on_request(t->ctx, &req), AS_OK);
    assert_int_equal(t->on_status(t->ctx, 200, hs, 40, 0), AS_OK);
    as_http_result res = {.fail = AS_HTTP_FAIL_NONE};
    assert_int_equal(t->on_end(t->ctx, &res), AS_OK);
  }
  assert_int_equal(as_cassette_recorder_count(r), 17);
  req.url = "http://h/big";
  req.body = "x";
  req.body_len = AS_CASSETTE_BODY_MAX + 1;
  assert_int_equal(t->on_request(t->ctx, &req), AS_INVAL);
  req.body_len = 1;
  assert_int_equal(t->on_request(t->ctx, &req), AS_OK);
  assert_int_equal(t->on_status(t->ctx, 600, NULL, 0, 0), AS_INVAL);
  assert_int_equal(t->on_request(t->ctx, &req), AS_OK);
  assert_int_equal(t->on_status(t->ctx, 200, NULL, 0, AS_CASSETTE_AT_MAX + 1), AS_INVAL);
  assert_int_equal(t->on_request(t->ctx, &req), AS_OK);
  assert_int_equal(t->on_data(t->ctx, "x", AS_CASSETTE_BODY_MAX + 1, 0), AS_TOOBIG);
  assert_int_equal(t->on_end(t->ctx, NULL), AS_INTERNAL);
  /* The file cannot be written: the exchange fails, and says why. */
  assert_int_equal(t->on_request(t->ctx, &req), AS_OK);
  fw_inject(FW_WRITE, EIO, 1);
  as_http_result res = {.fail = AS_HTTP_FAIL_NONE};
  assert_int_equal(t->on_end(t->ctx, &res), AS_IO);
  fw_reset();
  as_cassette_recorder_free(r);
  char longdir[AS_CASSETTE_PATH_MAX];
  memset(longdir, 'd', sizeof longdir - 1);
  longdir[sizeof longdir - 1] = '\0';
  assert_int_equal(as_cassette_recorder_new(&r, longdir, &META, NULL, 0), AS_INVAL);
  snprintf(dir, sizeof dir, "%s/w", tmpdir);
  assert_int_equal(as_cassette_recorder_new(&r, dir, &META, err, sizeof err), AS_OK);
  t = as_cassette_recorder_tap(r);
  assert_int_equal(t->on_request(t->ctx, &req), AS_OK);
  fw_inject(FW_WRITE, EIO, 1);
  assert_int_equal(t->on_end(t->ctx, &res), AS_IO);
  fw_reset();
  assert_non_null(strstr(as_cassette_recorder_error(r), "cannot write"));
  as_cassette_recorder_free(r);

  /* The replay: a GET, an empty cassette's miss, odd bodies, the framing headers. */
  fresh_dir("nedge");
  assert_int_equal(as_cassette_write_meta(tmpdir, &META, err, sizeof err), AS_OK);
  as_cassette *c = load_ok();
  as_cassette_net *n = NULL;
  assert_int_equal(as_cassette_net_new(&n, c), AS_OK);
  const as_http_net *net = as_cassette_net_get(n);
  as_http_request get = {.url = "http://h/x"};
  assert_int_equal(net->open_socket(net->ctx, &get), -1);
  const as_cassette_exchange *x;
  assert_int_equal(as_cassette_net_taken(n, &x, NULL, 0), AS_NOTFOUND);
  as_http_request odd = {.url = "http://h/x", .body = "\x80\\", .body_len = 2};
  assert_int_equal(net->open_socket(net->ctx, &odd), -1);
  char msg[AS_CASSETTE_ERR_MAX];
  assert_int_equal(as_cassette_net_taken(n, &x, msg, sizeof msg), AS_NOTFOUND);
  assert_non_null(strstr(msg, "\\x80\\x5c"));
  assert_non_null(strstr(msg, "no exchange"));
  as_cassette_net_free(n);
  as_cassette_free(c);

  as_cassette_header fh[] = {{"Connection", "keep-alive"}, {"Keep-Alive", "timeout=5"},
                             {"Transfer-Encoding", "chunked"}, {"X-Ok", "1"}};
  as_cassette_chunk ch[] = {{5 * MS, "abc", 3}, {50 * MS, "def", 3}};
  as_cassette_exchange e1 = ex(1, 304, AS_HTTP_FAIL_NONE, ch, 1, 6);
  e1.headers = fh;
  e1.nheaders = 4;
  as_cassette_exchange e2 = ex(2, 200, AS_HTTP_FAIL_TOOBIG, ch, 1, 6);
  as_cassette_exchange e3 = ex(3, 200, AS_HTTP_FAIL_NONE, ch, 2, 60);
  save(&e1);
  save(&e2);
  save(&e3);
  c = load_ok();
  assert_int_equal(as_cassette_net_new(&n, c), AS_OK);
  net = as_cassette_net_get(n);
  got g;
  int fd = net->open_socket(net->ctx, &REQ);
  client_run(net, fd, as_now_mono_ns() + 60000 * MS, &g);
  assert_true(g.eof);
  assert_non_null(strstr(g.buf, "HTTP/1.1 304 Recorded\r\n"));
  assert_non_null(strstr(g.buf, "X-Ok: 1\r\n"));
  assert_null(strstr(g.buf, "eep-"));
  assert_null(strstr(g.buf, "abc"));
  close(fd);
  fd = net->open_socket(net->ctx, &REQ); /* toobig after a whole head: cut */
  client_run(net, fd, as_now_mono_ns() + 60000 * MS, &g);
  assert_true(g.eof);
  assert_non_null(strstr(g.buf, "abc"));
  close(fd);
  /* The deadline before the next piece: 1, and the piece waits for the next call. */
  fd = net->open_socket(net->ctx, &REQ);
  char rq[256];
  int rn = snprintf(rq, sizeof rq, "POST / HTTP/1.1\r\nContent-Length: %zu\r\n\r\n%s", strlen(BODY), BODY);
  assert_int_equal(write(fd, rq, (size_t)rn), rn);
  uint64_t t0 = as_now_mono_ns();
  assert_int_equal(net->wait(net->ctx, fd, t0), 1); /* the head is at 1 ms: not before */
  assert_int_equal(net->wait(net->ctx, fd, t0 + 60000 * MS), 0); /* the head */
  assert_int_equal(net->wait(net->ctx, fd, t0 + 60000 * MS), 0); /* unread: at once */
  assert_int_equal(net->wait(net->ctx, fd, t0 + 20 * MS), 0);
  char buf[4096];
  assert_true(recv(fd, buf, sizeof buf, 0) > 0);
  assert_int_equal(net->wait(net->ctx, fd, t0 + 20 * MS), 0); /* the first chunk at 5 ms */
  assert_true(recv(fd, buf, sizeof buf, 0) > 0);
  assert_int_equal(net->wait(net->ctx, fd, t0 + 20 * MS), 1); /* the second is at 50 ms */
  close(fd);
  as_cassette_net_free(n);
  /* No fd left for a socketpair. */
  assert_int_equal(as_cassette_net_new(&n, c), AS_OK);
  net = as_cassette_net_get(n);
  struct rlimit old, low;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
  int probe = dup(0);
  assert_true(probe >= 0);
  close(probe);
  low = old;
  low.rlim_cur = (rlim_t)probe;
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
  assert_int_equal(net->open_socket(net->ctx, &REQ), -1);
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
  as_cassette_net_free(n);
  as_cassette_free(c);
  /* An empty cassette's net. */
  fresh_dir("empty");
  assert_int_equal(as_cassette_write_meta(tmpdir, &META, err, sizeof err), AS_OK);
  c = load_ok();
  assert_int_equal(as_cassette_net_new(&n, c), AS_OK);
  as_cassette_net_free(n);
  as_cassette_free(c);
}

static void test_load_caps(void **state) {
  (void)state;
  char err[512], path[400];
  /* A file past AS_CASSETTE_FILE_MAX (sparse). */
  fresh_dir("cap1");
  snprintf(path, sizeof path, "%s/%s", tmpdir, AS_CASSETTE_META);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(ftruncate(fileno(f), AS_CASSETTE_FILE_MAX + 10), 0);
  assert_int_equal(fclose(f), 0);
  as_cassette *c = NULL;
  assert_int_equal(as_cassette_load(tmpdir, &c, err, sizeof err), AS_TOOBIG);
  assert_non_null(strstr(err, "larger than AS_CASSETTE_FILE_MAX"));
  /* More exchange files than AS_CASSETTE_EXCHANGES_MAX. */
  fresh_dir("cap2");
  assert_int_equal(as_cassette_write_meta(tmpdir, &META, err, sizeof err), AS_OK);
  for (unsigned i = 0; i <= AS_CASSETTE_EXCHANGES_MAX; i++) {
    char name[48];
    as_cassette_file_name(name, sizeof name, i, 1);
    write_text(tmpdir, name, "{}");
  }
  assert_int_equal(as_cassette_load(tmpdir, &c, err, sizeof err), AS_TOOBIG);
  assert_non_null(strstr(err, "more exchanges than"));
  /* More chunks than AS_CASSETTE_CHUNKS_MAX. */
  fresh_dir("cap3");
  assert_int_equal(as_cassette_write_meta(tmpdir, &META, err, sizeof err), AS_OK);
  unsigned long long key = (unsigned long long)as_cassette_key(AS_WIRE_OPENAI, "/p", "b", 1);
  char name[48];
  as_cassette_file_name(name, sizeof name, key, 1);
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "{" K RQ "\"response\": {\"status\": 200, \"at_us\": 5, \"headers\": [], \"chunks\": [", key);
  for (unsigned i = 0; i <= AS_CASSETTE_CHUNKS_MAX; i++) fprintf(f, "%s{\"at_us\":6,\"text\":\"x\"}", i ? "," : "");
  fprintf(f, "]}, " END "}");
  assert_int_equal(fclose(f), 0);
  assert_int_equal(as_cassette_load(tmpdir, &c, err, sizeof err), AS_TOOBIG);
  assert_non_null(strstr(err, "more chunks than"));
  /* A big file read with its allocations failing in turn (the buffer grows). */
  fresh_dir("cap4");
  assert_int_equal(as_cassette_write_meta(tmpdir, &META, err, sizeof err), AS_OK);
  static char data[40000];
  memset(data, 'z', sizeof data);
  as_cassette_chunk ch[] = {{2 * MS, data, sizeof data}};
  as_cassette_exchange x = ex(1, 200, AS_HTTP_FAIL_NONE, ch, 1, 3);
  save(&x);
  unsigned long k;
  for (k = 1; k < 1000; k++) {
    size_t live = fw_live_blocks();
    fw_countdown(FW_ALLOC, k, ENOMEM, 0);
    int rc = as_cassette_load(tmpdir, &c, err, sizeof err);
    int fired = fw_fired();
    fw_disarm();
    as_cassette_free(c);
    c = NULL;
    assert_int_equal(fw_live_blocks(), live);
    if (!fired) {
      assert_int_equal(rc, AS_OK);
      break;
    }
    assert_int_equal(rc, AS_NOMEM);
  }
  assert_true(k > 5);
}

static void test_small_edges(void **state) {
  (void)state;
  char err[512], e0[1];
  fresh_dir("small");
  as_cassette_exchange x = ex(1, 200, AS_HTTP_FAIL_NONE, NULL, 0, 1);
  assert_int_equal(as_cassette_write_meta(tmpdir, &META, e0, 0), AS_OK);
  assert_int_equal(as_cassette_write_exchange(tmpdir, &x, NULL, 0), AS_OK);
  assert_int_equal(as_cassette_write_exchange(NULL, &x, e0, 0), AS_INVAL);
  as_cassette_recorder *r = NULL;
  assert_int_equal(as_cassette_recorder_new(&r, tmpdir, &META, e0, 0), AS_EXISTS);
  as_cassette *c = load_ok();
  as_cassette_net *n = NULL;
  assert_int_equal(as_cassette_net_new(&n, c), AS_OK);
  const as_http_net *net = as_cassette_net_get(n);
  as_http_request get = {.url = "http://h/none"};
  assert_int_equal(net->open_socket(net->ctx, &get), -1);
  const as_cassette_exchange *tx;
  assert_int_equal(as_cassette_net_taken(n, &tx, e0, 0), AS_NOTFOUND);
  as_cassette_net_free(n);
  as_cassette_free(c);
  /* An exchange "file" that is a directory: cannot be read. */
  char p[400];
  snprintf(p, sizeof p, "%s/x-0000000000000001-1.json", tmpdir);
  assert_int_equal(mkdir(p, 0755), 0);
  assert_int_equal(as_cassette_load(tmpdir, &c, err, sizeof err), AS_IO);
  assert_non_null(strstr(err, "x-0000000000000001-1.json: (the file)"));
  /* Headers past the cap, a header line past AS_HTTP_HEADER_MAX, a path past the URL cap,
  ** a base URL past its cap. */
  unsigned long long key = (unsigned long long)as_cassette_key(AS_WIRE_OPENAI, "/p", "b", 1);
  char name[48];
  as_cassette_file_name(name, sizeof name, key, 1);
  static char text[40000];
  for (int i = 0; i < 3; i++) {
    fresh_dir("small2");
    assert_int_equal(as_cassette_write_meta(tmpdir, &META, err, sizeof err), AS_OK);
    size_t o = (size_t)snprintf(text, sizeof text, "{" K "\"request\": {\"method\": \"GET\", \"path\": \"/%s", key,
                                i == 2 ? "" : "p");
    if (i == 2) {
      memset(text + o, 'p', AS_HTTP_URL_MAX);
      o += AS_HTTP_URL_MAX;
    }
    o += (size_t)snprintf(text + o, sizeof text - o, "\", \"headers\": [");
    for (int h = 0; h < (i == 0 ? 33 : 1); h++) {
      o += (size_t)snprintf(text + o, sizeof text - o, "%s[\"a\", \"", h ? "," : "");
      if (i == 1) {
        memset(text + o, 'v', AS_HTTP_HEADER_MAX);
        o += AS_HTTP_HEADER_MAX;
      }
      o += (size_t)snprintf(text + o, sizeof text - o, "\"]");
    }
    snprintf(text + o, sizeof text - o, "], \"body\": \"b\"}, " RESP END "}");
    write_text(tmpdir, name, text);
    int rc = as_cassette_load(tmpdir, &c, err, sizeof err);
    const char *want[] = {"more headers than", "expected a header name", "request.path"};
    if (rc == AS_OK || !strstr(err, want[i])) fail_msg("small %d: '%s'", i, err);
  }
  fresh_dir("small3");
  size_t o = (size_t)snprintf(text, sizeof text, "{\"format\": 1, \"provider\": \"openai\", \"model\": \"m\", "
                              "\"stream\": true, \"structured\": true, \"base_url\": \"http://");
  memset(text + o, 'u', AS_HTTP_URL_MAX);
  o += AS_HTTP_URL_MAX;
  snprintf(text + o, sizeof text - o, "\", \"agentsim\": \"1\"}");
  write_text(tmpdir, AS_CASSETTE_META, text);
  assert_int_equal(as_cassette_load(tmpdir, &c, err, sizeof err), AS_PARSE);
  assert_non_null(strstr(err, "base_url"));
}

/* --- allocation failures in turn ---------------------------------------------------- */

static void test_alloc_countdown(void **state) {
  (void)state;
  replay_dir();
  char dir[300];
  snprintf(dir, sizeof dir, "%s", tmpdir);
  unsigned long k;
  for (k = 1; k < 10000; k++) {
    size_t live = fw_live_blocks();
    fw_countdown(FW_ALLOC, k, ENOMEM, 0);
    as_cassette *c = NULL;
    char err[512];
    int rc = as_cassette_load(dir, &c, err, sizeof err);
    as_cassette_net *n = NULL;
    if (rc == AS_OK) rc = as_cassette_net_new(&n, c);
    int fd = -1;
    if (rc == AS_OK) {
      const as_http_net *net = as_cassette_net_get(n);
      fd = net->open_socket(net->ctx, &REQ);
      if (fd >= 0) {
        got g;
        client_run(net, fd, as_now_mono_ns() + 60000 * MS, &g);
        close(fd);
      }
    }
    int fired = fw_fired();
    fw_disarm();
    as_cassette_net_free(n);
    as_cassette_free(c);
    assert_int_equal(fw_live_blocks(), live);
    if (!fired) {
      assert_int_equal(rc, AS_OK);
      break;
    }
    if (rc != AS_OK && rc != AS_NOMEM) fail_msg("k %lu: %s: %s", k, as_status_name(rc), err);
  }
  assert_true(k > 10);
  /* Writing: the meta, an exchange, and the recorder, allocation by allocation. */
  for (k = 1; k < 10000; k++) {
    fresh_dir("wcount");
    size_t live = fw_live_blocks();
    fw_countdown(FW_ALLOC, k, ENOMEM, 0);
    char err[512];
    as_cassette_recorder *r = NULL;
    char rdir[300];
    snprintf(rdir, sizeof rdir, "%s/r", tmpdir);
    int rc = as_cassette_recorder_new(&r, rdir, &META, err, sizeof err);
    if (rc == AS_OK) {
      const as_http_tap *t = as_cassette_recorder_tap(r);
      as_http_header hs[] = {{"A", "b"}};
      as_http_request req = {.url = "http://h/p", .headers = hs, .nheaders = 1, .body = "b",
                             .body_len = 1};
      rc = t->on_request(t->ctx, &req);
      if (rc == AS_OK) rc = t->on_status(t->ctx, 200, hs, 1, 0);
      for (int i = 0; i < 20 && rc == AS_OK; i++) rc = t->on_data(t->ctx, "abc", 3, 1);
      as_http_result res = {.fail = AS_HTTP_FAIL_NONE};
      if (rc == AS_OK) rc = t->on_end(t->ctx, &res);
      /* a second exchange of a new key (the count grows) */
      as_http_request req2 = {.url = "http://h/q", .body = "\xff", .body_len = 1};
      if (rc == AS_OK) rc = t->on_request(t->ctx, &req2);
      if (rc == AS_OK) rc = t->on_status(t->ctx, 200, NULL, 0, 0);
      if (rc == AS_OK) rc = t->on_data(t->ctx, "\xff", 1, 1);
      if (rc == AS_OK) rc = t->on_end(t->ctx, &res);
    }
    int fired = fw_fired();
    fw_disarm();
    as_cassette_recorder_free(r);
    assert_int_equal(fw_live_blocks(), live);
    if (!fired) {
      assert_int_equal(rc, AS_OK);
      break;
    }
    assert_true(rc == AS_NOMEM || rc == AS_IO);
  }
  assert_true(k > 10);
}

int main(void) {
  if (sim_new(&S, SIM_SWITCH_FCONTEXT, 0) != AS_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_helpers),
      cmocka_unit_test(test_load_errors),
      cmocka_unit_test(test_meta_errors),
      cmocka_unit_test(test_recorder),
      cmocka_unit_test(test_replay_endings),
      cmocka_unit_test(test_replay_client_gone),
      cmocka_unit_test(test_replay_big),
      cmocka_unit_test(test_replay_virtual_time),
      cmocka_unit_test(test_alloc_countdown),
      cmocka_unit_test(test_write_paths),
      cmocka_unit_test(test_more_load_errors),
      cmocka_unit_test(test_net_limits),
      cmocka_unit_test(test_edges),
      cmocka_unit_test(test_load_caps),
      cmocka_unit_test(test_small_edges),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  sim_free(S);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf /tmp/test_cassette.%d.*", (int)getpid());
  if (system(cmd) != 0) rc = 1;
  return rc;
}

/*
** cassette.c -- the cassette format: keys, loading with validation, and
** atomic writing (cassette.h; docs/cassettes.md).
**
** Every field is checked where it is read, and an error names the file and
** the field ("x-...json: response.chunks[3].at_us: expected ..."). Times
** are stored in microseconds (a human reads them) and held in nanoseconds.
** Bytes are JSON text when they are valid UTF-8 without NUL, else base64.
*/
#include "cassette.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <xxhash.h>

#include "agentsim/fmt.h"
#include "agentsim/seam.h"
#include "cassette_int.h"

static const char *const kind_names[] = {
#define AS__CK(NAME, name) #name,
    AS_WIRE_KIND_MAP(AS__CK)
#undef AS__CK
};

static const char *const fail_names[] = {
#define AS__CF(NAME, name) #name,
    AS_HTTP_FAIL_MAP(AS__CF)
#undef AS__CF
};

static const char *const error_names[] = {
#define AS__CE(NAME, name, st) #name,
    AS_LLM_ERROR_MAP(AS__CE)
#undef AS__CE
};

const char *cas_kind_name(as_wire_kind k) {
  return (unsigned)k < AS__WIRE_COUNT ? kind_names[k] : "?";
}
const char *cas_fail_name(as_http_fail f) {
  return (unsigned)f < AS__HTTP_FAIL_COUNT ? fail_names[f] : "?";
}
const char *cas_error_name(as_llm_error_kind k) {
  return k > AS_LLM_ERR_NONE && k < AS__LLM_ERR_COUNT ? error_names[k - 1] : "none";
}
int cas_error_status(as_llm_error_kind k) {
  static const int st[] = {
#define AS__CS(NAME, name, s) s,
      AS_LLM_ERROR_MAP(AS__CS)
#undef AS__CS
  };
  return k > AS_LLM_ERR_NONE && k < AS__LLM_ERR_COUNT ? st[k - 1] : AS_OK;
}

uint64_t as_cassette_key(as_wire_kind kind, const char *path, const char *body, size_t len) {
  const char *k = cas_kind_name(kind);
  uint64_t h = XXH64(k, strlen(k) + 1, 0);
  h = XXH64(path, strlen(path) + 1, h);
  return XXH64(len ? body : "", len, h);
}

const char *as_cassette_url_path(const char *url) {
  const char *p = url ? strstr(url, "://") : NULL;
  if (!p) return NULL;
  const char *slash = strchr(p + 3, '/');
  return slash ? slash : "/";
}

void as_cassette_file_name(char *buf, size_t cap, uint64_t key, unsigned occurrence) {
  snprintf(buf, cap, "x-%016" PRIx64 "-%u.json", key, occurrence);
}

bool as_cassette_header_secret(const char *name) {
  static const char *const secret[] = {"authorization", "api-key", "x-api-key",
                                       "proxy-authorization", "cookie", "set-cookie"};
  for (size_t i = 0; i < sizeof secret / sizeof *secret; i++)
    if (strcasecmp(name, secret[i]) == 0) return true;
  return false;
}

/* --- bytes: UTF-8 text or base64 ------------------------------------------------- */

bool cas_is_text(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    unsigned c = p[i];
    size_t k;
    uint32_t cp;
    if (c == 0) return false;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) k = 1, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) k = 2, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) k = 3, cp = c & 0x07;
    else return false;
    if (n - i <= k) return false;
    for (size_t j = 1; j <= k; j++) {
      if ((p[i + j] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i + j] & 0x3f);
    }
    /* Overlong, surrogate and out-of-range sequences are not UTF-8. */
    if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += k + 1;
  }
  return true;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *cas_b64_encode(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  char *out = as_malloc((n + 2) / 3 * 4 + 1);
  if (!out) return NULL;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16;
    if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
    if (i + 2 < n) v |= p[i + 2];
    out[o++] = b64[v >> 18];
    out[o++] = b64[(v >> 12) & 63];
    out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? b64[v & 63] : '=';
  }
  out[o] = '\0';
  return out;
}

static int b64_val(char c) {
  const char *p = c ? strchr(b64, c) : NULL;
  return p ? (int)(p - b64) : -1;
}

int cas_b64_decode(const char *s, size_t n, char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  if (n % 4) return AS_PARSE;
  char *d = as_malloc(n / 4 * 3 + 1);
  if (!d) return AS_NOMEM;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 4) {
    int v[4];
    bool last = i + 4 == n;
    for (int k = 0; k < 4; k++) {
      v[k] = b64_val(s[i + k]);
      /* '=' only as the last one or two characters of the text */
      if (v[k] < 0 && !(last && s[i + k] == '=' && k >= 2 && (k == 3 || s[i + 3] == '='))) {
        as_free(d);
        return AS_PARSE;
      }
    }
    uint32_t x = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12);
    d[o++] = (char)(x >> 16);
    if (v[2] >= 0) {
      x |= (uint32_t)v[2] << 6;
      d[o++] = (char)((x >> 8) & 0xff);
    }
    if (v[3] >= 0) { /* (v[2] is then a digit too: "x=y" was refused above) */
      x |= (uint32_t)v[3];
      d[o++] = (char)(x & 0xff);
    }
  }
  d[o] = '\0';
  *out = d;
  *len = o;
  return AS_OK;
}

/* --- loading ---------------------------------------------------------------------- */

typedef struct lctx {
  const char *file; /* the file's name, for errors */
  char *err;
  size_t cap;
} lctx;

static AS_WUR int bad(const lctx *l, int rc, const char *field, const char *what) {
  if (l->err && l->cap)
    snprintf(l->err, l->cap, "%s: %s: %s", l->file, field, what);
  return rc;
}

/* The file's bytes, capped. */
static AS_WUR int read_file(const char *path, char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return AS_NOTFOUND;
  int rc = AS_OK;
  size_t cap = 4096, n = 0;
  char *buf = as_malloc(cap + 1);
  if (!buf) rc = AS_NOMEM;
  while (rc == AS_OK) {
    if (n == cap) {
      if (cap >= AS_CASSETTE_FILE_MAX) {
        rc = AS_TOOBIG;
        break;
      }
      cap *= 2;
      char *nb = as_realloc(buf, cap + 1);
      if (!nb) {
        rc = AS_NOMEM;
        break;
      }
      buf = nb;
    }
    size_t k = fread(buf + n, 1, cap - n, f);
    n += k;
    if (k == 0) {
      if (ferror(f)) rc = AS_IO;
      break;
    }
  }
  if (fclose(f) != 0 && rc == AS_OK) rc = AS_IO;
  if (rc == AS_OK && n > AS_CASSETTE_FILE_MAX) rc = AS_TOOBIG;
  if (rc != AS_OK) {
    as_free(buf);
    return rc;
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return AS_OK;
}

static AS_WUR int parse_json(const lctx *l, const char *text, size_t len, json_t **out) {
  json_error_t je;
  *out = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  if (*out && json_is_object(*out)) return AS_OK;
  if (!*out && json_error_code(&je) == json_error_out_of_memory) return AS_NOMEM;
  char what[300];
  if (*out)
    snprintf(what, sizeof what, "expected a JSON object");
  else
    snprintf(what, sizeof what, "line %d column %d: %s", je.line, je.column, je.text);
  json_decref(*out);
  *out = NULL;
  return bad(l, AS_PARSE, "(the file)", what);
}

/* The object's keys must all be among `allowed` (NULL-terminated). */
static AS_WUR int only_keys(const lctx *l, json_t *o, const char *field,
                            const char *const *allowed) {
  const char *k;
  json_t *v;
  json_object_foreach(o, k, v) {
    bool ok = false;
    for (size_t i = 0; allowed[i] && !ok; i++) ok = strcmp(k, allowed[i]) == 0;
    if (!ok) {
      char f[160], what[200];
      snprintf(f, sizeof f, "%s%s%.80s", field, field[0] ? "." : "", k);
      snprintf(what, sizeof what, "not a field of %s", field[0] ? field : "the file");
      return bad(l, AS_PARSE, f, what);
    }
  }
  return AS_OK;
}

static AS_WUR int get_str(const lctx *l, json_t *o, const char *key, const char *field,
                          const char **out, size_t *len) {
  json_t *v = json_object_get(o, key);
  if (!json_is_string(v)) return bad(l, AS_PARSE, field, "expected a string");
  *out = json_string_value(v);
  if (len) *len = json_string_length(v);
  return AS_OK;
}

static AS_WUR int get_int(const lctx *l, json_t *o, const char *key, const char *field,
                          int64_t lo, int64_t hi, int64_t *out) {
  json_t *v = json_object_get(o, key);
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
    char what[96];
    snprintf(what, sizeof what, "expected an integer in [%" PRId64 ", %" PRId64 "]", lo, hi);
    return bad(l, AS_PARSE, field, what);
  }
  *out = json_integer_value(v);
  return AS_OK;
}

static AS_WUR int get_bool(const lctx *l, json_t *o, const char *key, const char *field,
                           bool *out) {
  json_t *v = json_object_get(o, key);
  if (!json_is_boolean(v)) return bad(l, AS_PARSE, field, "expected true or false");
  *out = json_is_true(v);
  return AS_OK;
}

static AS_WUR int copy_str(const char *s, size_t n, char **out) {
  *out = as_malloc(n + 1);
  if (!*out) return AS_NOMEM;
  memcpy(*out, s, n);
  (*out)[n] = '\0';
  return AS_OK;
}

/* Bytes from {"text": ...} or {"base64": ...} keys of o. */
static AS_WUR int get_bytes(const lctx *l, json_t *o, const char *tkey, const char *bkey,
                            const char *field, size_t max, char **out, size_t *len) {
  json_t *t = json_object_get(o, tkey), *b = json_object_get(o, bkey);
  char f[160];
  if ((t != NULL) == (b != NULL)) {
    char what[120];
    snprintf(what, sizeof what, "expected one of \"%s\" (text) or \"%s\"", tkey, bkey);
    return bad(l, AS_PARSE, field, what);
  }
  snprintf(f, sizeof f, "%s%s%s", field, field[0] ? "." : "", t ? tkey : bkey);
  const char *s;
  size_t n;
  int rc = get_str(l, o, t ? tkey : bkey, f, &s, &n);
  if (rc != AS_OK) return rc;
  if (t) {
    if (n > max) return bad(l, AS_TOOBIG, f, "past the cap on bytes");
    return copy_str(s, n, out) == AS_OK ? (*len = n, AS_OK) : AS_NOMEM;
  }
  if (n / 4 * 3 > max + 2) return bad(l, AS_TOOBIG, f, "past the cap on bytes");
  rc = cas_b64_decode(s, n, out, len);
  if (rc == AS_PARSE) return bad(l, rc, f, "expected base64 (RFC 4648, padded)");
  if (rc == AS_OK && *len > max) {
    as_free(*out);
    *out = NULL;
    return bad(l, AS_TOOBIG, f, "past the cap on bytes");
  }
  return rc;
}

static AS_WUR int get_at(const lctx *l, json_t *o, const char *field, uint64_t *ns) {
  int64_t us;
  int rc = get_int(l, o, "at_us", field, 0, (int64_t)(AS_CASSETTE_AT_MAX / 1000u), &us);
  if (rc == AS_OK) *ns = (uint64_t)us * 1000u;
  return rc;
}

static void headers_free(as_cassette_header *h, size_t n) {
  for (size_t i = 0; h && i < n; i++) {
    as_free(h[i].name);
    as_free(h[i].value);
  }
  as_free(h);
}

/* [[name, value], ...] */
static AS_WUR int get_headers(const lctx *l, json_t *o, const char *field,
                              as_cassette_header **out, size_t *n) {
  json_t *a = json_object_get(o, "headers");
  char f[160];
  snprintf(f, sizeof f, "%s.headers", field);
  if (!json_is_array(a)) return bad(l, AS_PARSE, f, "expected an array of [name, value]");
  size_t k = json_array_size(a);
  if (k > AS_HTTP_HEADERS_MAX) return bad(l, AS_TOOBIG, f, "more headers than AS_HTTP_HEADERS_MAX");
  *out = NULL;
  *n = 0;
  if (!k) return AS_OK;
  as_cassette_header *h = as_calloc(k, sizeof *h);
  if (!h) return AS_NOMEM;
  int rc = AS_OK;
  for (size_t i = 0; i < k && rc == AS_OK; i++) {
    json_t *p = json_array_get(a, i);
    snprintf(f, sizeof f, "%s.headers[%zu]", field, i);
    const char *nm = json_string_value(json_array_get(p, 0));
    const char *v = json_string_value(json_array_get(p, 1));
    if (json_array_size(p) != 2 || !nm || !v) {
      rc = bad(l, AS_PARSE, f, "expected [name, value], two strings");
      break;
    }
    if (!nm[0] || strpbrk(nm, "\r\n: ") || strpbrk(v, "\r\n") ||
        strlen(nm) + strlen(v) + 3 > AS_HTTP_HEADER_MAX) {
      rc = bad(l, AS_PARSE, f, "expected a header name (no space, colon or line break) and "
                               "a value without a line break, within AS_HTTP_HEADER_MAX");
      break;
    }
    if (as_cassette_header_secret(nm)) {
      rc = bad(l, AS_PARSE, f, "a secret header: no cassette holds one");
      break;
    }
    rc = copy_str(nm, strlen(nm), &h[i].name);
    if (rc == AS_OK) rc = copy_str(v, strlen(v), &h[i].value);
    *n = i + 1;
  }
  *out = h;
  return rc;
}

static AS_WUR int load_request(const lctx *l, json_t *o, as_cassette_exchange *x) {
  static const char *const keys[] = {"method", "path", "headers", "body", "body_base64", NULL};
  if (!json_is_object(o)) return bad(l, AS_PARSE, "request", "expected an object");
  int rc = only_keys(l, o, "request", keys);
  const char *s;
  if (rc == AS_OK) rc = get_str(l, o, "method", "request.method", &s, NULL);
  if (rc == AS_OK && strcmp(s, "POST") != 0 && strcmp(s, "GET") != 0)
    rc = bad(l, AS_PARSE, "request.method", "expected \"POST\" or \"GET\"");
  if (rc == AS_OK) memcpy(x->method, s, strlen(s) + 1);
  size_t n;
  if (rc == AS_OK) rc = get_str(l, o, "path", "request.path", &s, &n);
  if (rc == AS_OK && (s[0] != '/' || n >= AS_HTTP_URL_MAX || strpbrk(s, "\r\n ")))
    rc = bad(l, AS_PARSE, "request.path", "expected a URL path: '/' first, no space or line break");
  if (rc == AS_OK) rc = copy_str(s, n, &x->path);
  if (rc == AS_OK) rc = get_headers(l, o, "request", &x->req_headers, &x->nreq_headers);
  if (rc == AS_OK)
    rc = get_bytes(l, o, "body", "body_base64", "request", AS_CASSETTE_BODY_MAX, &x->body,
                   &x->body_len);
  return rc;
}

static AS_WUR int load_chunks(const lctx *l, json_t *o, as_cassette_exchange *x) {
  json_t *a = json_object_get(o, "chunks");
  if (!json_is_array(a)) return bad(l, AS_PARSE, "response.chunks", "expected an array");
  size_t k = json_array_size(a), total = 0;
  if (k > AS_CASSETTE_CHUNKS_MAX)
    return bad(l, AS_TOOBIG, "response.chunks", "more chunks than AS_CASSETTE_CHUNKS_MAX");
  if (!k) return AS_OK;
  x->chunks = as_calloc(k, sizeof *x->chunks);
  if (!x->chunks) return AS_NOMEM;
  int rc = AS_OK;
  uint64_t prev = x->status_at_ns;
  static const char *const keys[] = {"at_us", "text", "base64", NULL};
  for (size_t i = 0; i < k && rc == AS_OK; i++) {
    json_t *c = json_array_get(a, i);
    char f[64];
    snprintf(f, sizeof f, "response.chunks[%zu]", i);
    as_cassette_chunk *ch = &x->chunks[i];
    if (!json_is_object(c)) {
      rc = bad(l, AS_PARSE, f, "expected an object {at_us, text or base64}");
      break;
    }
    rc = only_keys(l, c, f, keys);
    char fa[80];
    snprintf(fa, sizeof fa, "%s.at_us", f);
    if (rc == AS_OK) rc = get_at(l, c, fa, &ch->at_ns);
    if (rc == AS_OK && ch->at_ns < prev)
      rc = bad(l, AS_PARSE, fa, "expected a time no earlier than the one before it");
    if (rc == AS_OK)
      rc = get_bytes(l, c, "text", "base64", f, AS_CASSETTE_BODY_MAX - total, &ch->data, &ch->len);
    if (rc == AS_OK && ch->len == 0) rc = bad(l, AS_PARSE, f, "expected at least one byte");
    if (rc == AS_TOOBIG) rc = bad(l, AS_TOOBIG, f, "the body passes AS_CASSETTE_BODY_MAX");
    if (rc == AS_OK) {
      prev = ch->at_ns;
      total += ch->len;
      x->nchunks = i + 1;
    }
  }
  return rc;
}

static AS_WUR int load_response(const lctx *l, json_t *o, as_cassette_exchange *x) {
  static const char *const keys[] = {"status", "at_us", "headers", "chunks", NULL};
  if (json_is_null(o)) return AS_OK; /* no status arrived */
  if (!json_is_object(o)) return bad(l, AS_PARSE, "response", "expected an object or null");
  int rc = only_keys(l, o, "response", keys);
  int64_t st = 0;
  if (rc == AS_OK) rc = get_int(l, o, "status", "response.status", 200, 599, &st);
  x->status = (int)st;
  if (rc == AS_OK) rc = get_at(l, o, "response.at_us", &x->status_at_ns);
  if (rc == AS_OK) rc = get_headers(l, o, "response", &x->headers, &x->nheaders);
  if (rc == AS_OK) rc = load_chunks(l, o, x);
  return rc;
}

static AS_WUR int load_end(const lctx *l, json_t *o, as_cassette_exchange *x) {
  static const char *const keys[] = {"fail", "at_us", "message", NULL};
  if (!json_is_object(o)) return bad(l, AS_PARSE, "end", "expected an object");
  int rc = only_keys(l, o, "end", keys);
  const char *s;
  size_t n;
  if (rc == AS_OK) rc = get_str(l, o, "fail", "end.fail", &s, NULL);
  if (rc == AS_OK) {
    unsigned f = 0;
    while (f < AS__HTTP_FAIL_COUNT && strcmp(s, fail_names[f]) != 0) f++;
    if (f == AS__HTTP_FAIL_COUNT)
      rc = bad(l, AS_PARSE, "end.fail", "expected ok, timeout, connect, truncated, protocol, "
                                        "aborted or toobig");
    x->fail = (as_http_fail)f;
  }
  if (rc == AS_OK) rc = get_at(l, o, "end.at_us", &x->end_at_ns);
  uint64_t last = x->nchunks ? x->chunks[x->nchunks - 1].at_ns : x->status_at_ns;
  if (rc == AS_OK && x->end_at_ns < last)
    rc = bad(l, AS_PARSE, "end.at_us", "expected a time no earlier than the response's last");
  if (rc == AS_OK) rc = get_str(l, o, "message", "end.message", &s, &n);
  if (rc == AS_OK && n >= sizeof x->message)
    rc = bad(l, AS_TOOBIG, "end.message", "longer than AS_HTTP_MESSAGE_MAX");
  if (rc == AS_OK) memcpy(x->message, s, n + 1);
  /* How it ended must agree with what arrived. */
  if (rc == AS_OK && x->fail == AS_HTTP_FAIL_NONE && !x->status)
    rc = bad(l, AS_PARSE, "end.fail", "ok, but the response is null");
  if (rc == AS_OK && x->fail == AS_HTTP_FAIL_CONNECT && x->status)
    rc = bad(l, AS_PARSE, "end.fail", "connect, but a response arrived");
  return rc;
}

static AS_WUR int load_expect(const lctx *l, json_t *o, as_cassette_exchange *x) {
  static const char *const keys[] = {"error", "usage", NULL};
  static const char *const ukeys[] = {"prompt", "cache_read", "cache_write", "completion", NULL};
  as_cassette_expect *e = &x->expect;
  if (!o) return AS_OK;
  if (!json_is_object(o)) return bad(l, AS_PARSE, "expect", "expected an object");
  e->given = true;
  int rc = only_keys(l, o, "expect", keys);
  json_t *err = json_object_get(o, "error");
  if (rc == AS_OK && !json_is_null(err)) {
    const char *s = json_string_value(err);
    unsigned k = 1;
    while (s && k < AS__LLM_ERR_COUNT && strcmp(s, error_names[k - 1]) != 0) k++;
    if (!s || k == AS__LLM_ERR_COUNT)
      rc = bad(l, AS_PARSE, "expect.error", "expected null, timeout, rate_limited, "
                                            "server_error, malformed_response or refusal");
    e->error = (as_llm_error_kind)k;
  }
  json_t *u = json_object_get(o, "usage");
  if (rc == AS_OK && !json_is_null(u)) {
    if (!json_is_object(u))
      return bad(l, AS_PARSE, "expect.usage", "expected null or {prompt, cache_read, "
                                              "cache_write, completion}");
    if (e->error != AS_LLM_ERR_NONE)
      return bad(l, AS_PARSE, "expect.usage", "expected null with an error");
    rc = only_keys(l, u, "expect.usage", ukeys);
    int64_t *v[4] = {&e->prompt, &e->cache_read, &e->cache_write, &e->completion};
    for (int i = 0; i < 4 && rc == AS_OK; i++) {
      char f[48];
      snprintf(f, sizeof f, "expect.usage.%s", ukeys[i]);
      rc = get_int(l, u, ukeys[i], f, 0, 100000000, v[i]);
    }
    if (rc == AS_OK && e->cache_read + e->cache_write > e->prompt)
      rc = bad(l, AS_PARSE, "expect.usage", "expected cache_read + cache_write <= prompt "
                                            "(the prompt counts them: inclusive)");
    e->usage_known = rc == AS_OK;
  }
  return rc;
}

void cas_exchange_clear(as_cassette_exchange *x) {
  as_free(x->path);
  headers_free(x->req_headers, x->nreq_headers);
  as_free(x->body);
  headers_free(x->headers, x->nheaders);
  for (size_t i = 0; x->chunks && i < x->nchunks; i++) as_free(x->chunks[i].data);
  as_free(x->chunks);
  memset(x, 0, sizeof *x);
}

/* One exchange file: its name and content agree. */
static AS_WUR int load_exchange(const lctx *l, const char *path, as_cassette_exchange *x) {
  static const char *const keys[] = {"key", "occurrence", "request", "response", "end",
                                     "expect", NULL};
  char *text = NULL;
  size_t len = 0;
  json_t *o = NULL;
  int rc = read_file(path, &text, &len);
  if (rc == AS_NOTFOUND || rc == AS_IO) rc = bad(l, AS_IO, "(the file)", strerror(errno));
  if (rc == AS_TOOBIG) rc = bad(l, rc, "(the file)", "larger than AS_CASSETTE_FILE_MAX");
  if (rc == AS_OK) rc = parse_json(l, text, len, &o);
  if (rc == AS_OK) rc = only_keys(l, o, "", keys);
  const char *k;
  size_t kn;
  if (rc == AS_OK) rc = get_str(l, o, "key", "key", &k, &kn);
  char *end = NULL;
  if (rc == AS_OK) {
    errno = 0;
    x->key = strtoull(k, &end, 16);
    if (kn != 16 || !end || *end || errno || strspn(k, "0123456789abcdef") != 16)
      rc = bad(l, AS_PARSE, "key", "expected 16 lowercase hexadecimal digits");
  }
  int64_t occ = 0;
  if (rc == AS_OK) rc = get_int(l, o, "occurrence", "occurrence", 1, AS_CASSETTE_OCCURRENCE_MAX, &occ);
  x->occurrence = (unsigned)occ;
  char want[48];
  as_cassette_file_name(want, sizeof want, x->key, x->occurrence);
  if (rc == AS_OK && strcmp(want, l->file) != 0) {
    char what[96];
    snprintf(what, sizeof what, "the key and occurrence name the file %s", want);
    rc = bad(l, AS_PARSE, "key", what);
  }
  if (rc == AS_OK) rc = load_request(l, json_object_get(o, "request"), x);
  json_t *resp = json_object_get(o, "response");
  if (rc == AS_OK && !resp) rc = bad(l, AS_PARSE, "response", "expected an object or null");
  if (rc == AS_OK) rc = load_response(l, resp, x);
  if (rc == AS_OK) rc = load_end(l, json_object_get(o, "end"), x);
  if (rc == AS_OK) rc = load_expect(l, json_object_get(o, "expect"), x);
  json_decref(o);
  as_free(text);
  return rc;
}

static AS_WUR int load_meta(const char *dir, as_cassette_meta *m, char *err, size_t cap) {
  static const char *const keys[] = {"format", "provider", "model", "stream", "structured",
                                     "base_url", "agentsim", NULL};
  char path[AS_CASSETTE_PATH_MAX + 32];
  lctx l = {AS_CASSETTE_META, err, cap};
  snprintf(path, sizeof path, "%s/%s", dir, AS_CASSETTE_META);
  char *text = NULL;
  size_t len = 0;
  json_t *o = NULL;
  int rc = read_file(path, &text, &len);
  if (rc == AS_NOTFOUND || rc == AS_IO) {
    snprintf(err, cap, "%s: cannot read: %s", path, strerror(errno));
    rc = AS_NOTFOUND;
  }
  if (rc == AS_TOOBIG) rc = bad(&l, rc, "(the file)", "larger than AS_CASSETTE_FILE_MAX");
  if (rc == AS_OK) rc = parse_json(&l, text, len, &o);
  if (rc == AS_OK) rc = only_keys(&l, o, "", keys);
  int64_t fmt = 0;
  if (rc == AS_OK) rc = get_int(&l, o, "format", "format", AS_CASSETTE_FORMAT, AS_CASSETTE_FORMAT, &fmt);
  m->format = (int)fmt;
  const char *s;
  size_t n;
  if (rc == AS_OK) rc = get_str(&l, o, "provider", "provider", &s, NULL);
  if (rc == AS_OK) {
    unsigned k = 0;
    while (k < AS__WIRE_COUNT && strcmp(s, kind_names[k]) != 0) k++;
    if (k == AS__WIRE_COUNT) rc = bad(&l, AS_PARSE, "provider", "expected openai or ollama");
    m->kind = (as_wire_kind)k;
  }
  if (rc == AS_OK) rc = get_str(&l, o, "model", "model", &s, &n);
  if (rc == AS_OK && (n == 0 || n >= sizeof m->model))
    rc = bad(&l, AS_PARSE, "model", "expected a name of 1 to 127 bytes");
  if (rc == AS_OK) memcpy(m->model, s, n + 1);
  if (rc == AS_OK) rc = get_bool(&l, o, "stream", "stream", &m->stream);
  if (rc == AS_OK) rc = get_bool(&l, o, "structured", "structured", &m->structured);
  if (rc == AS_OK) rc = get_str(&l, o, "base_url", "base_url", &s, &n);
  if (rc == AS_OK && (n >= sizeof m->base_url || strpbrk(s, "\r\n ") ||
                      (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)))
    rc = bad(&l, AS_PARSE, "base_url", "expected an http:// or https:// URL");
  if (rc == AS_OK) memcpy(m->base_url, s, n + 1);
  if (rc == AS_OK) rc = get_str(&l, o, "agentsim", "agentsim", &s, &n);
  if (rc == AS_OK && n >= sizeof m->agentsim)
    rc = bad(&l, AS_PARSE, "agentsim", "expected a version of at most 31 bytes");
  if (rc == AS_OK) memcpy(m->agentsim, s, n + 1);
  json_decref(o);
  as_free(text);
  return rc;
}

static int by_key(const void *a, const void *b) {
  const as_cassette_exchange *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return x->occurrence < y->occurrence ? -1 : x->occurrence > y->occurrence;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of dir's exchange files, sorted (readdir's order is the disk's). */
static AS_WUR int list_files(const char *dir, char ***out, size_t *n, char *err, size_t cap) {
  *out = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) {
    snprintf(err, cap, "%s: cannot read the directory: %s", dir, strerror(errno));
    return AS_NOTFOUND;
  }
  int rc = AS_OK;
  size_t k = 0, capn = 0;
  char **names = NULL;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (strncmp(e->d_name, "x-", 2) != 0 || len < 7 || strcmp(e->d_name + len - 5, ".json") != 0)
      continue; /* the meta, temporaries (".tmp-..."), a README */
    if (k == AS_CASSETTE_EXCHANGES_MAX) {
      snprintf(err, cap, "%s: more exchanges than AS_CASSETTE_EXCHANGES_MAX (%u)", dir,
                     AS_CASSETTE_EXCHANGES_MAX);
      rc = AS_TOOBIG;
      break;
    }
    if (k == capn) {
      capn = capn ? capn * 2 : 16;
      char **nn = as_realloc(names, capn * sizeof *names);
      if (!nn) {
        rc = AS_NOMEM;
        break;
      }
      names = nn;
    }
    if (copy_str(e->d_name, len, &names[k]) != AS_OK) {
      rc = AS_NOMEM;
      break;
    }
    k++;
  }
  (void)closedir(d); /* ignore: a directory read to its end */
  if (rc != AS_OK) {
    for (size_t i = 0; i < k; i++) as_free(names[i]);
    as_free(names);
    return rc;
  }
  if (k) qsort(names, k, sizeof *names, by_name);
  *out = names;
  *n = k;
  return AS_OK;
}

int as_cassette_load(const char *dir, as_cassette **out, char *err, size_t cap) {
  char scratch[8];
  if (!err || !cap) err = scratch, cap = sizeof scratch;
  err[0] = '\0';
  if (!out) return AS_INVAL;
  *out = NULL;
  if (!dir || strlen(dir) >= AS_CASSETTE_PATH_MAX) {
    snprintf(err, cap, "a cassette's directory: expected a path shorter than %d bytes",
                   AS_CASSETTE_PATH_MAX);
    return AS_INVAL;
  }
  as_cassette *c = as_calloc(1, sizeof *c);
  if (!c) return AS_NOMEM;
  char **names = NULL;
  size_t nn = 0;
  int rc = load_meta(dir, &c->meta, err, cap);
  if (rc == AS_OK) rc = list_files(dir, &names, &nn, err, cap);
  if (rc == AS_OK && nn) {
    c->x = as_calloc(nn, sizeof *c->x);
    if (!c->x) rc = AS_NOMEM;
  }
  for (size_t i = 0; i < nn && rc == AS_OK; i++) {
    char path[AS_CASSETTE_PATH_MAX + 300];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    lctx l = {names[i], err, cap};
    rc = load_exchange(&l, path, &c->x[i]);
    c->n = i + 1;
  }
  bool sort = rc == AS_OK && c->n > 1;
  if (sort) qsort(c->x, c->n, sizeof *c->x, by_key);
  /* Occurrences 1..N per key: no gap (a lost file would shift every answer). */
  for (size_t i = 0; i < c->n && rc == AS_OK; i++) {
    unsigned want = i && c->x[i - 1].key == c->x[i].key ? c->x[i - 1].occurrence + 1 : 1;
    if (c->x[i].occurrence != want) {
      char f[48];
      as_cassette_file_name(f, sizeof f, c->x[i].key, want);
      snprintf(err, cap, "%s: occurrences of key %016" PRIx64 " have a gap: %s is missing",
                     dir, c->x[i].key, f);
      rc = AS_PARSE;
    }
  }
  for (size_t i = 0; i < nn; i++) as_free(names[i]);
  as_free(names);
  if (rc != AS_OK) {
    as_cassette_free(c);
    return rc;
  }
  *out = c;
  return AS_OK;
}

void as_cassette_free(as_cassette *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) cas_exchange_clear(&c->x[i]);
  as_free(c->x);
  as_free(c);
}

const as_cassette_exchange *as_cassette_find(const as_cassette *c, uint64_t key,
                                             unsigned occurrence) {
  as_cassette_exchange probe = {.key = key, .occurrence = occurrence};
  return c && c->n ? bsearch(&probe, c->x, c->n, sizeof *c->x, by_key) : NULL;
}

/* --- writing ----------------------------------------------------------------------- */

/* A json value into o[key]; a NULL value (out of memory) fails. */
static AS_WUR int jset(json_t *o, const char *key, json_t *v) {
  return v && json_object_set_new(o, key, v) == 0 ? AS_OK : AS_NOMEM;
}

static AS_WUR int jbytes(json_t *o, const char *tkey, const char *bkey, const char *s, size_t n) {
  if (cas_is_text(s, n)) return jset(o, tkey, json_stringn(s, n));
  char *b = cas_b64_encode(s, n);
  if (!b) return AS_NOMEM;
  int rc = jset(o, bkey, json_string(b));
  as_free(b);
  return rc;
}

static AS_WUR int jheaders(json_t *o, const as_cassette_header *h, size_t n) {
  json_t *a = json_array();
  int rc = jset(o, "headers", a);
  for (size_t i = 0; i < n && rc == AS_OK; i++) {
    if (as_cassette_header_secret(h[i].name)) continue;
    json_t *p = json_pack("[ss]", h[i].name, h[i].value);
    rc = p && json_array_append_new(a, p) == 0 ? AS_OK : AS_NOMEM;
  }
  return rc;
}

static json_int_t us(uint64_t ns) { return (json_int_t)(ns / 1000u); }

/* The exchange as its file's JSON. */
static AS_WUR int exchange_json(const as_cassette_exchange *x, json_t **out) {
  char key[17];
  snprintf(key, sizeof key, "%016" PRIx64, x->key);
  json_t *o = json_object(), *req = json_object(), *end = json_object();
  int rc = o && req && end ? AS_OK : AS_NOMEM;
  if (rc == AS_OK) rc = jset(o, "key", json_string(key));
  if (rc == AS_OK) rc = jset(o, "occurrence", json_integer(x->occurrence));
  if (rc == AS_OK) rc = jset(req, "method", json_string(x->method));
  if (rc == AS_OK) rc = jset(req, "path", json_string(x->path));
  if (rc == AS_OK) rc = jheaders(req, x->req_headers, x->nreq_headers);
  if (rc == AS_OK) rc = jbytes(req, "body", "body_base64", x->body ? x->body : "", x->body_len);
  if (rc == AS_OK) {
    rc = jset(o, "request", req);
    req = NULL;
  }
  json_t *resp = NULL, *chunks = NULL;
  if (rc == AS_OK && x->status) {
    resp = json_object();
    chunks = json_array();
    rc = resp && chunks ? AS_OK : AS_NOMEM;
    if (rc == AS_OK) rc = jset(resp, "status", json_integer(x->status));
    if (rc == AS_OK) rc = jset(resp, "at_us", json_integer(us(x->status_at_ns)));
    if (rc == AS_OK) rc = jheaders(resp, x->headers, x->nheaders);
    for (size_t i = 0; i < x->nchunks && rc == AS_OK; i++) {
      json_t *c = json_object();
      rc = c && json_array_append_new(chunks, c) == 0 ? AS_OK : AS_NOMEM;
      if (rc == AS_OK) rc = jset(c, "at_us", json_integer(us(x->chunks[i].at_ns)));
      if (rc == AS_OK) rc = jbytes(c, "text", "base64", x->chunks[i].data, x->chunks[i].len);
    }
    if (rc == AS_OK) {
      rc = jset(resp, "chunks", chunks);
      chunks = NULL;
    }
  }
  json_decref(chunks);
  if (rc == AS_OK) {
    rc = jset(o, "response", resp ? resp : json_null());
    resp = NULL;
  }
  json_decref(resp);
  if (rc == AS_OK) rc = jset(end, "fail", json_string(cas_fail_name(x->fail)));
  if (rc == AS_OK) rc = jset(end, "at_us", json_integer(us(x->end_at_ns)));
  if (rc == AS_OK) rc = jset(end, "message", json_string(x->message));
  if (rc == AS_OK) {
    rc = jset(o, "end", end);
    end = NULL;
  }
  const as_cassette_expect *e = &x->expect;
  if (rc == AS_OK && e->given) {
    json_t *ex = e->usage_known
                     ? json_pack("{s:n,s:{s:I,s:I,s:I,s:I}}", "error", "usage", "prompt",
                                 (json_int_t)e->prompt, "cache_read", (json_int_t)e->cache_read,
                                 "cache_write", (json_int_t)e->cache_write, "completion",
                                 (json_int_t)e->completion)
                 : e->error ? json_pack("{s:s,s:n}", "error", cas_error_name(e->error), "usage")
                            : json_pack("{s:n,s:n}", "error", "usage");
    rc = jset(o, "expect", ex);
  }
  json_decref(req);
  json_decref(end);
  if (rc != AS_OK) {
    json_decref(o);
    return rc;
  }
  *out = o;
  return AS_OK;
}

/* text into dir/name through dir/.tmp-name: write, fsync, rename, fsync dir. */
int cas_write_atomic(const char *dir, const char *name, const char *text, size_t len, char *err,
                     size_t cap) {
  char tmp[AS_CASSETTE_PATH_MAX + 96], dst[AS_CASSETTE_PATH_MAX + 96];
  snprintf(tmp, sizeof tmp, "%s/.tmp-%s", dir, name);
  snprintf(dst, sizeof dst, "%s/%s", dir, name);
  const char *what = "open";
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int rc = fd >= 0 ? AS_OK : AS_IO;
  size_t off = 0;
  while (rc == AS_OK && off < len) {
    ssize_t k = write(fd, text + off, len - off);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      what = "write";
      rc = AS_IO;
      break;
    }
    off += (size_t)k;
  }
  if (rc == AS_OK && fsync(fd) != 0) what = "fsync", rc = AS_IO;
  if (fd >= 0 && close(fd) != 0 && rc == AS_OK) what = "close", rc = AS_IO;
  if (rc == AS_OK && rename(tmp, dst) != 0) what = "rename", rc = AS_IO;
  if (rc == AS_OK) {
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) what = "fsync the directory", rc = AS_IO;
    if (dfd >= 0) (void)close(dfd); /* ignore: read-only, synced or failed above */
  }
  if (rc != AS_OK) {
    snprintf(err, cap, "%s: cannot %s: %s", dst, what, strerror(errno));
    (void)unlink(tmp); /* ignore: best effort; the loader skips temporaries */
  }
  return rc;
}

static AS_WUR int write_json(const char *dir, const char *name, json_t *o, char *err, size_t cap) {
  char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (!text) return AS_NOMEM;
  size_t len = strlen(text);
  char *withnl = as_malloc(len + 2);
  int rc = AS_NOMEM;
  if (withnl) {
    memcpy(withnl, text, len);
    withnl[len] = '\n';
    withnl[len + 1] = '\0';
    rc = cas_write_atomic(dir, name, withnl, len + 1, err, cap);
  }
  as_free(withnl);
  json_malloc_t jm;
  json_free_t jf;
  json_get_alloc_funcs(&jm, &jf); /* jansson's own: the sim's during a run */
  jf(text);
  return rc;
}

int as_cassette_write_meta(const char *dir, const as_cassette_meta *m, char *err, size_t cap) {
  char scratch[8];
  if (!err || !cap) err = scratch, cap = sizeof scratch;
  err[0] = '\0';
  if (!dir || !m || strlen(dir) >= AS_CASSETTE_PATH_MAX || (unsigned)m->kind >= AS__WIRE_COUNT ||
      !m->model[0] || !m->base_url[0])
    return AS_INVAL;
  json_t *o = json_pack("{s:i,s:s,s:s,s:b,s:b,s:s,s:s}", "format", AS_CASSETTE_FORMAT, "provider",
                        cas_kind_name(m->kind), "model", m->model, "stream", m->stream,
                        "structured", m->structured, "base_url", m->base_url, "agentsim",
                        m->agentsim[0] ? m->agentsim : "?");
  if (!o) return AS_NOMEM;
  int rc = write_json(dir, AS_CASSETTE_META, o, err, cap);
  json_decref(o);
  return rc;
}

int as_cassette_write_exchange(const char *dir, const as_cassette_exchange *x, char *err,
                               size_t cap) {
  char scratch[8];
  if (!err || !cap) err = scratch, cap = sizeof scratch;
  err[0] = '\0';
  if (!dir || !x || strlen(dir) >= AS_CASSETTE_PATH_MAX || !x->path || x->path[0] != '/' ||
      !x->method[0] || x->occurrence == 0 || x->occurrence > AS_CASSETTE_OCCURRENCE_MAX ||
      x->nchunks > AS_CASSETTE_CHUNKS_MAX || x->body_len > AS_CASSETTE_BODY_MAX ||
      (unsigned)x->fail >= AS__HTTP_FAIL_COUNT) {
    snprintf(err, cap, "an exchange that would not load back (a path, method or "
                             "occurrence missing, or a cap passed)");
    return AS_INVAL;
  }
  json_t *o = NULL;
  int rc = exchange_json(x, &o);
  char name[48];
  as_cassette_file_name(name, sizeof name, x->key, x->occurrence);
  if (rc == AS_OK) rc = write_json(dir, name, o, err, cap);
  json_decref(o);
  return rc;
}

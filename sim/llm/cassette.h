/*
** cassette.h -- recorded LLM exchanges: the format, the recorder (an
** http_client.h tap), the replay (an http_client.h simulated connection)
** and the cassette provider (llm.h) that runs the real HTTP provider
** (llm_http.h) against the replay. docs/cassettes.md is the format's
** reference.
**
** A cassette is a directory: cassette.json (the meta: format version,
** provider kind, model, stream, structured, the base URL recorded, the
** agentsim version) and one file per exchange, x-KEY-N.json: the request
** (method, path, headers, body; never a secret), the response (status,
** headers, body chunks with their time since the request began), how the
** exchange ended (http_client.h's as_http_fail name) and an optional
** `expect` object (what the answer is, as whoever made the cassette knows
** it: the oracle's evidence, independent of the provider's parser).
**
** The key of a request is XXH64 chained over the provider kind's name, the URL's
** path and the body (as_cassette_key). The N-th request with one key gets
** the N-th exchange recorded with it (a retry of an identical request gets
** the next recorded answer); a request past the last is a miss.
**
** Replay writes a valid HTTP/1.1 response on one end of a socketpair, the
** client (curl) reads the other: the status line, the recorded headers but
** the framing ones (Content-Length, Transfer-Encoding, Connection), then
** "Transfer-Encoding: chunked" and "Connection: close"; each recorded body
** chunk is one HTTP chunk written at its recorded time (as_sleep_until on
** the seam: virtual time in the sim). The end replays as what it was: ok
** sends the last chunk with the last body chunk; truncated shuts the write
** side down without it, at the recorded end; timeout and aborted keep the
** connection open with nothing more, until the client's deadline (an
** aborted exchange's recording holds the chunk the client refused, so its
** replay is refused by it first: http_client.h taps before the sink);
** protocol sends bytes that are not HTTP, toobig a header line past
** AS_HTTP_HEADER_MAX, both at the recorded end; connect (no connection)
** refuses the socket at the recorded end (or the client's deadline).
**
** Threads: the loaded cassette is read-only. The recorder and the replay
** keep per-task state (as_task_id: an exchange runs on one task) under a
** seam mutex, so posix threads or sim tasks may share them. The replay
** net and the provider reach the world only through the seam (clock,
** sleep, memory, mutex) and a socketpair's nonblocking reads and writes.
**
** Memory comes from as_malloc: free each object under the platform that
** made it.
*/
#ifndef AGENTSIM_CASSETTE_H
#define AGENTSIM_CASSETTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentsim/http_client.h"
#include "agentsim/llm.h"
#include "agentsim/llm_wire.h"
#include "agentsim/status.h"

#define AS_CASSETTE_FORMAT 1
#define AS_CASSETTE_META "cassette.json"
#define AS_CASSETTE_FILE_MAX (32u * 1024u * 1024u)  /* one file, bytes */
#define AS_CASSETTE_BODY_MAX (8u * 1024u * 1024u)   /* a request's or response's body */
#define AS_CASSETTE_EXCHANGES_MAX 4096u
#define AS_CASSETTE_CHUNKS_MAX 65536u               /* body chunks of one response */
#define AS_CASSETTE_OCCURRENCE_MAX 1024u            /* exchanges with one key */
#define AS_CASSETTE_MODEL_MAX 128                   /* NUL included */
#define AS_CASSETTE_PATH_MAX 1024                   /* a directory's path, NUL included */
#define AS_CASSETTE_AT_MAX (3600ull * 1000000000ull) /* a time offset, ns */
#define AS_CASSETTE_ERR_MAX 512                     /* a message the caller may size for */
#define AS_CASSETTE_MISS_BODY 64                    /* body bytes a miss message shows */
#define AS_CASSETTE_CONNS_MAX 256u                  /* open replayed connections */

typedef struct as_cassette_meta {
  int format;                          /* AS_CASSETTE_FORMAT */
  as_wire_kind kind;
  char model[AS_CASSETTE_MODEL_MAX];
  bool stream, structured;
  char base_url[AS_HTTP_URL_MAX];      /* as recorded; replay requests it again */
  char agentsim[32];                   /* the version that recorded it */
} as_cassette_meta;

typedef struct as_cassette_header {
  char *name, *value; /* owned */
} as_cassette_header;

typedef struct as_cassette_chunk {
  uint64_t at_ns; /* since the request began */
  char *data;     /* owned, len bytes (not NUL-terminated in general) */
  size_t len;
} as_cassette_chunk;

/* What the answer is, written by whoever made the cassette (the generator,
** from what the peer knows it sent; by hand, from the provider's docs). */
typedef struct as_cassette_expect {
  bool given;                /* the file has an `expect` object */
  as_llm_error_kind error;   /* NONE: an answer */
  bool usage_known;          /* false: "usage": null (the provider gave none) */
  int64_t prompt, cache_read, cache_write, completion; /* inclusive, as reported */
} as_cassette_expect;

typedef struct as_cassette_exchange {
  uint64_t key;
  unsigned occurrence;                 /* 1-based */
  char method[8];                      /* "POST" or "GET" */
  char *path;                          /* owned: "/v1/chat/completions" */
  as_cassette_header *req_headers;     /* owned */
  size_t nreq_headers;
  char *body;                          /* owned, body_len bytes (NUL after them) */
  size_t body_len;
  int status;                          /* 0: no status arrived */
  uint64_t status_at_ns;
  as_cassette_header *headers;         /* owned: the response's */
  size_t nheaders;
  as_cassette_chunk *chunks;           /* owned */
  size_t nchunks;
  as_http_fail fail;                   /* how it ended */
  uint64_t end_at_ns;
  char message[AS_HTTP_MESSAGE_MAX];   /* the client's, as recorded */
  as_cassette_expect expect;
} as_cassette_exchange;

typedef struct as_cassette {
  as_cassette_meta meta;
  as_cassette_exchange *x; /* owned, sorted by (key, occurrence) */
  size_t n;
} as_cassette;

/* The key of a request: h = XXH64(kind's name and its NUL, seed 0), then
** h = XXH64(path and its NUL, seed h), then XXH64(body, seed h). */
uint64_t as_cassette_key(as_wire_kind kind, const char *path, const char *body, size_t len);
/* The path (and query) of an absolute URL: what follows "scheme://host[:port]",
** "/" when nothing does; NULL for a URL without "://". Borrowed from url. */
const char *as_cassette_url_path(const char *url);
/* "x-%016llx-%u.json": an exchange's file name, into buf (cap >= 40). */
void as_cassette_file_name(char *buf, size_t cap, uint64_t key, unsigned occurrence);
/* Whether a header name is one no cassette holds (Authorization, api-key,
** x-api-key, Proxy-Authorization, Cookie, Set-Cookie; case-insensitive). */
bool as_cassette_header_secret(const char *name);

/* Load and validate the cassette in dir: the meta, every x-*.json file (its
** name agreeing with its key and occurrence; occurrences 1..N per key).
** AS_OK; AS_PARSE with err naming the file and the field, and what was
** expected; AS_TOOBIG past a cap (err says which); AS_NOTFOUND when dir or
** its meta cannot be read; AS_NOMEM. On failure *out is NULL. */
AS_WUR int as_cassette_load(const char *dir, as_cassette **out, char *err, size_t cap);
/* NULL is a no-op. */
void as_cassette_free(as_cassette *c);
/* The exchange with key's occurrence-th recording, or NULL. */
const as_cassette_exchange *as_cassette_find(const as_cassette *c, uint64_t key,
                                             unsigned occurrence);

/* Write dir/cassette.json (dir must exist), atomically: a temporary file
** in dir, written, synced and renamed over the name. AS_IO with err; AS_NOMEM. */
AS_WUR int as_cassette_write_meta(const char *dir, const as_cassette_meta *m, char *err,
                                  size_t cap);
/* Write one exchange's file, atomically as above. Headers as_cassette_header_secret
** names are left out. AS_INVAL for an exchange that would not load back
** (a chunk past the caps, a method or path missing); AS_IO; AS_NOMEM. */
AS_WUR int as_cassette_write_exchange(const char *dir, const as_cassette_exchange *x,
                                      char *err, size_t cap);

/* --- the recorder: an http_client.h tap ---------------------------------------- */

typedef struct as_cassette_recorder as_cassette_recorder;

/* A recorder into dir (made if missing; refused with AS_EXISTS when it
** already holds a cassette), writing m as its meta at once. Every exchange
** the tap sees becomes one file when it ends (on_end), written atomically:
** a crash leaves whole files or none. AS_IO with err; AS_NOMEM; AS_INVAL. */
AS_WUR int as_cassette_recorder_new(as_cassette_recorder **out, const char *dir,
                                    const as_cassette_meta *m, char *err, size_t cap);
/* The tap (borrowed for the recorder's life). */
const as_http_tap *as_cassette_recorder_tap(as_cassette_recorder *r);
/* Exchanges written so far. */
size_t as_cassette_recorder_count(as_cassette_recorder *r);
/* The first failure's message ("" when none): a failed tap call fails its
** exchange, and says why here. */
const char *as_cassette_recorder_error(as_cassette_recorder *r);
/* NULL is a no-op. Exchanges not ended are dropped, unwritten. */
void as_cassette_recorder_free(as_cassette_recorder *r);

/* --- the replay: an http_client.h simulated connection ---------------------------- */

typedef struct as_cassette_net as_cassette_net;

/* A replay of c (borrowed: it must outlive the net). AS_NOMEM. */
AS_WUR int as_cassette_net_new(as_cassette_net **out, const as_cassette *c);
/* The net (borrowed for the net's life). */
const as_http_net *as_cassette_net_get(as_cassette_net *n);
/* What the calling task's latest open_socket found since it last asked:
** AS_OK with *x the exchange; AS_NOTFOUND with *x NULL and, when it was a
** miss, the miss message in msg (else msg ""). Clears it. */
AS_WUR int as_cassette_net_taken(as_cassette_net *n, const as_cassette_exchange **x, char *msg,
                                 size_t cap);
/* NULL is a no-op; closes every connection's end it still holds. */
void as_cassette_net_free(as_cassette_net *n);

/* --- recording in the sim: a connection that is a real one -------------------------- */

typedef struct as_cassette_live as_cassette_live;

/* A simulated connection to the request URL's http://IPV4:PORT (the peer a
** recording talks to), whose waits let as much virtual time pass as real
** time did. For recording a scenario's exchanges (`llm record:`), not for
** verification. AS_NOMEM. */
AS_WUR int as_cassette_live_new(as_cassette_live **out);
const as_http_net *as_cassette_live_net(as_cassette_live *l);
void as_cassette_live_free(as_cassette_live *l);

/* --- the cassette provider (llm.h) ------------------------------------------------- */

/* A provider replaying the cassette in dir: the meta's kind, model, stream,
** structured and base URL make an llm_http.h provider whose net is the
** replay, so the real provider code and its parsers run. out->model is the
** meta's model (owned by the provider); out->vt->name "cassette". AS_PARSE,
** AS_TOOBIG, AS_NOTFOUND as as_cassette_load (err filled); AS_INVAL from the
** HTTP provider (err filled); AS_NOMEM. */
AS_WUR int as_cassette_llm_new(const char *dir, as_llm *out, char *err, size_t cap);
/* The same over a loaded cassette (borrowed: it must outlive the provider). */
AS_WUR int as_cassette_llm_from(const as_cassette *c, as_llm *out, char *err, size_t cap);
/* What the calling task's latest call replayed, as as_cassette_net_taken. */
AS_WUR int as_cassette_llm_taken(as_llm *llm, const as_cassette_exchange **x, char *msg,
                                 size_t cap);

#endif /* AGENTSIM_CASSETTE_H */

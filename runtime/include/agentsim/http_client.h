/*
** http_client.h -- one HTTP exchange over libcurl, on the network or on a
** simulated connection (runtime/posix/http_client.c).
**
** The client is libcurl's multi interface, driven by this module's own
** loop, so that the same code runs in two worlds:
**   - the network (net NULL): curl connects itself; the loop waits with
**     curl_multi_poll;
**   - a simulated connection (net given): curl gets an already-connected
**     socket from net->open_socket (CURLOPT_OPENSOCKETFUNCTION; one end of
**     a socketpair whose other end a cassette feeds, sim/llm/cassette.h)
**     and the loop, instead of polling, calls net->wait, which puts the
**     next recorded bytes on the socket at their time -- virtual time in
**     the sim, where net->wait sleeps on the seam.
** Either way the request's timeout and low-speed limit are enforced by the
** loop on the seam's monotonic clock (as_now_mono_ns), so a timeout is the
** same event in both worlds; in the network case curl's own
** CURLOPT_TIMEOUT_MS is set a little later as a backstop.
**
** Secrets: req->secret_header (for example "Authorization: Bearer KEY") is
** sent but never logged, never passed to a tap, never in res->message.
**
** A tap observes an exchange (the cassette recorder): the request without
** the secret, then the status and headers, then every body chunk with its
** time, then the end. A tap's failure fails the exchange (AS_IO): a
** recording is never silently incomplete. The tap gets the head and each
** chunk before the sink does, so a chunk the sink refuses is recorded too
** (a replay of the recording is then refused by the same chunk).
*/
#ifndef AGENTSIM_HTTP_CLIENT_H
#define AGENTSIM_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentsim/status.h"

#define AS_HTTP_URL_MAX 2048
#define AS_HTTP_HEADERS_MAX 32u        /* response headers kept (the rest dropped) */
#define AS_HTTP_HEADER_MAX 1024        /* one header line, NUL included */
#define AS_HTTP_MESSAGE_MAX 256

typedef struct as_http_header {
  const char *name;  /* "Content-Type" */
  const char *value; /* "application/json" */
} as_http_header;

typedef struct as_http_request {
  const char *url;                 /* absolute http:// or https:// URL */
  const as_http_header *headers;   /* sent; never secret */
  size_t nheaders;
  const char *secret_header;       /* "Name: value" sent as is, or NULL */
  const char *body;                /* POSTed when not NULL */
  size_t body_len;
  uint64_t timeout_ns;             /* the whole exchange; 0: none */
  uint64_t low_speed_bytes;        /* fewer than this many body bytes ... */
  uint64_t low_speed_ns;           /* ... in any window this long: a timeout (0: off) */
} as_http_request;

/* Where the answer goes. A nonzero return from either stops the exchange
** with that status (res->fail AS_HTTP_ABORTED). */
typedef struct as_http_sink {
  void *ctx;
  int (*on_status)(void *ctx, int status, const as_http_header *hdrs, size_t n);
  int (*on_data)(void *ctx, const char *data, size_t n);
} as_http_sink;

/* X(NAME, name): how an exchange ended. */
#define AS_HTTP_FAIL_MAP(X)                                                   \
  X(NONE, ok)               /* a whole response arrived */                    \
  X(TIMEOUT, timeout)       /* the deadline or the low-speed limit passed */  \
  X(CONNECT, connect)       /* no connection (refused, unreachable, TLS) */   \
  X(TRUNCATED, truncated)   /* the peer closed before the response's end */   \
  X(PROTOCOL, protocol)     /* not HTTP, or a response curl refused */        \
  X(ABORTED, aborted)       /* the sink or the tap stopped it */              \
  X(TOOBIG, toobig)         /* a header past its cap */

typedef enum as_http_fail {
#define AS__HF(NAME, name) AS_HTTP_FAIL_##NAME,
  AS_HTTP_FAIL_MAP(AS__HF)
#undef AS__HF
  AS__HTTP_FAIL_COUNT
} as_http_fail;

typedef struct as_http_result {
  as_http_fail fail;
  int status;                        /* the HTTP status, 0 when none arrived */
  int sink_rc;                       /* ABORTED: the sink's or tap's status */
  uint64_t elapsed_ns;               /* on the seam's monotonic clock */
  char message[AS_HTTP_MESSAGE_MAX]; /* what happened, never a secret */
} as_http_result;

/* A simulated connection (sim/llm/cassette.h). */
typedef struct as_http_net {
  void *ctx;
  /* A connected socket for req (the cassette finds the exchange it
  ** replays by req), or -1 with the reason logged: the exchange ends
  ** CONNECT. The client closes the socket. */
  int (*open_socket)(void *ctx, const as_http_request *req);
  /* Wait until there is something for curl on the socket, or the peer
  ** closed, or deadline_ns (seam monotonic) comes. 0: go on; 1: the deadline
  ** came first; a negative value: the connection broke (CONNECT). */
  int (*wait)(void *ctx, int fd, uint64_t deadline_ns);
} as_http_net;

/* An observer of exchanges (the cassette recorder). */
typedef struct as_http_tap {
  void *ctx;
  int (*on_request)(void *ctx, const as_http_request *req); /* secret_header NULL */
  int (*on_status)(void *ctx, int status, const as_http_header *hdrs, size_t n,
                   uint64_t at_ns);                 /* at_ns: since the request began */
  int (*on_data)(void *ctx, const char *data, size_t n, uint64_t at_ns);
  int (*on_end)(void *ctx, const as_http_result *res);
} as_http_tap;

/* Process-wide libcurl setup (curl_global_init); call before any thread
** exchanges. AS_INTERNAL when curl cannot start. */
AS_WUR int as_http_global_init(void);

/* One exchange: send req, feed the response to sink, say how it ended in
** *res. AS_OK whenever the exchange was carried out, whatever its ending
** (res->fail says: a timeout, a refused connection, a truncated body are
** answers, not statuses); AS_INVAL for a bad request (no URL, a URL past
** AS_HTTP_URL_MAX, a header with a line break); AS_NOMEM. */
AS_WUR int as_http_exchange(const as_http_net *net, const as_http_tap *tap,
                            const as_http_request *req, const as_http_sink *sink,
                            as_http_result *res);
const char *as_http_fail_name(as_http_fail f);

#endif /* AGENTSIM_HTTP_CLIENT_H */

/*
** http_client.c -- one HTTP exchange over libcurl's multi interface, driven
** by this module's own loop (http_client.h).
**
** Why a loop of our own rather than curl_easy_perform: the deadline and the
** low-speed limit are checked on the seam's monotonic clock, which in the
** sim is virtual; curl's own timers run on the real clock. So in the
** network case curl's CURLOPT_TIMEOUT_MS is only a backstop set a second
** after the deadline, and on a simulated connection curl gets no timeout
** at all (a recorded slow answer must time out in virtual time only). The
** simulated connection is an already-connected socket
** (CURLOPT_OPENSOCKETFUNCTION, CURL_SOCKOPT_ALREADY_CONNECTED; for curl
** 7.88, which connects it anyway, see stand_in) behind an IP-literal URL,
** so curl starts no resolver thread: the sim runs everything on one OS
** thread.
**
** Redirects are not followed: the headers given to on_status are the
** response's own (those of a 1xx before it are dropped).
*/
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agentsim/http_client.h"
#include "agentsim/seam.h"

#define SLICE_MS 1000L           /* the longest single curl_multi_poll */
#define BACKSTOP_MS 1000L        /* curl's own timeout, past the loop's deadline */

typedef struct xfer {
  const as_http_net *net;
  const as_http_tap *tap;
  const as_http_request *req;
  const as_http_sink *sink;
  as_http_result *res;
  uint64_t t0, deadline;
  uint64_t win_start, win_bytes; /* the low-speed window */
  int status;                    /* of the response being read */
  bool status_sent;              /* on_status called for the final response */
  bool stopped;                  /* a callback ended it: res->fail set */
  bool at_start;                 /* the next header line is a status line */
  CURL *easy;
  int sock;                      /* net: the socket open_socket gave */
  int real, listener;            /* net: the stand-in's parts (open_sock) */
  struct curl_slist *pin;        /* net: the host pinned (pin_host) */
  size_t nh;
  as_http_header hdrs[AS_HTTP_HEADERS_MAX];
  char hbuf[AS_HTTP_HEADERS_MAX][AS_HTTP_HEADER_MAX];
  char errbuf[CURL_ERROR_SIZE];
} xfer;

static const char *const fail_names[] = {
#define AS__HFN(NAME, name) #name,
    AS_HTTP_FAIL_MAP(AS__HFN)
#undef AS__HFN
};

const char *as_http_fail_name(as_http_fail f) {
  return (unsigned)f < AS__HTTP_FAIL_COUNT ? fail_names[f] : "?";
}

int as_http_global_init(void) {
  return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? AS_OK : AS_INTERNAL;
}

static uint64_t since(const xfer *x) { return as_now_mono_ns() - x->t0; }

/* End the exchange from inside a callback with fail (and the status that
** caused it); curl then sees the callback's error and stops. */
static void stop(xfer *x, as_http_fail fail, int rc, const char *what) {
  x->stopped = true;
  x->res->fail = fail;
  x->res->sink_rc = rc;
  snprintf(x->res->message, sizeof x->res->message, "%s", what);
}

/* curl's own words carry its own clock ("Failed to connect to H port P
** after 3 ms: ...", "... timed out after 5001 milliseconds ..."): real
** time, which a replay in the sim cannot reproduce. The message drops each
** " after N ms" and " after N milliseconds", so the same ending reads the
** same on every run. */
static void drop_elapsed(char *m) {
  char *p = m;
  while ((p = strstr(p, " after ")) != NULL) {
    char *d = p + 7, *e = d;
    while (*e >= '0' && *e <= '9') e++;
    size_t unit = e > d && strncmp(e, " milliseconds", 13) == 0 ? 13
                  : e > d && strncmp(e, " ms", 3) == 0           ? 3
                                                                 : 0;
    if (!unit) {
      p = d;
      continue;
    }
    memmove(p, e + unit, strlen(e + unit) + 1);
  }
}

/* --- curl's callbacks --------------------------------------------------------- */

/* The final response's head is complete: the tap and the sink get it.
** The tap first, here and in on_body: it records what arrived, so a piece
** the sink refuses (a stream event that is not JSON, an answer past a cap)
** is in the recording, and a replay of it is refused the same way at the
** same time. Tapped after the sink, the recording would end before the
** piece that ended the exchange, and replay as a silence. */
static bool head_done(xfer *x) {
  x->status_sent = true;
  x->res->status = x->status;
  int rc;
  if (x->tap) {
    rc = x->tap->on_status(x->tap->ctx, x->status, x->hdrs, x->nh, since(x));
    if (rc != AS_OK) {
      stop(x, AS_HTTP_FAIL_ABORTED, rc, "the tap refused the status");
      return false;
    }
  }
  rc = x->sink->on_status(x->sink->ctx, x->status, x->hdrs, x->nh);
  if (rc != AS_OK) {
    stop(x, AS_HTTP_FAIL_ABORTED, rc, "the sink refused the status");
    return false;
  }
  return true;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *ud) {
  xfer *x = ud;
  size_t n = size * nitems;
  if (x->status_sent) return n; /* trailers */
  size_t len = n;
  while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
  if (len >= AS_HTTP_HEADER_MAX) {
    stop(x, AS_HTTP_FAIL_TOOBIG, AS_TOOBIG, "a response header line past its cap");
    return 0;
  }
  if (len == 0) { /* the end of a head: a 1xx's, or the response's */
    long st = 0;
    if (curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &st) != CURLE_OK) {
      stop(x, AS_HTTP_FAIL_PROTOCOL, 0, "no status from curl");
      return 0;
    }
    x->at_start = true;
    x->status = (int)st;
    if (st >= 200) return head_done(x) ? n : 0;
    return n;
  }
  if (x->at_start) { /* a status line: a new response, only its headers are kept */
    x->at_start = false;
    x->nh = 0;
    return n;
  }
  const char *colon = memchr(line, ':', len);
  if (!colon || x->nh == AS_HTTP_HEADERS_MAX) return n; /* not a field, or past the cap */
  char *slot = x->hbuf[x->nh];
  size_t nl = (size_t)(colon - line);
  memcpy(slot, line, nl);
  slot[nl] = '\0';
  const char *v = colon + 1, *end = line + len;
  while (v < end && (*v == ' ' || *v == '\t')) v++;
  while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
  char *val = slot + nl + 1;
  memcpy(val, v, (size_t)(end - v));
  val[end - v] = '\0';
  x->hdrs[x->nh].name = slot;
  x->hdrs[x->nh].value = val;
  x->nh++;
  return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud) {
  xfer *x = ud;
  size_t n = size * nmemb;
  uint64_t now = since(x);
  int rc;
  if (x->tap) { /* before the sink: head_done says why */
    rc = x->tap->on_data(x->tap->ctx, data, n, now);
    if (rc != AS_OK) {
      stop(x, AS_HTTP_FAIL_ABORTED, rc, "the tap refused the body");
      return 0;
    }
  }
  rc = x->sink->on_data(x->sink->ctx, data, n);
  if (rc != AS_OK) {
    stop(x, AS_HTTP_FAIL_ABORTED, rc, "the sink refused the body");
    return 0;
  }
  x->win_bytes += n;
  if (x->win_bytes >= x->req->low_speed_bytes) {
    x->win_start = x->t0 + now;
    x->win_bytes = 0;
  }
  return n;
}

static void fd_close(int *fd) {
  if (*fd >= 0) (void)close(*fd); /* ignore: a socket we are done with */
  *fd = -1;
}

/* curl 7.88 connects even a socket the SOCKOPTFUNCTION says is connected
** (curl issue 10626, fixed in 8.0.0), and connect() on a connected socket
** fails. So curl is handed, under the socket's own number, a stand-in that
** connects at once to a listener of ours (an autobound abstract AF_UNIX
** name: in-process, no network, no thread), and the real socket takes its
** number back before the first byte (prereq). */
static AS_WUR int stand_in(xfer *x, struct curl_sockaddr *addr) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  socklen_t len = sizeof(sa_family_t); /* bind autobinds a unique name */
  if ((x->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
      bind(x->listener, (struct sockaddr *)&sa, len) != 0 || listen(x->listener, 1) != 0)
    return AS_SYS;
  len = sizeof sa;
  if (getsockname(x->listener, (struct sockaddr *)&sa, &len) != 0) return AS_SYS;
  if ((x->real = dup(x->sock)) < 0) return AS_SYS;
  int u = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (u < 0) return AS_SYS;
  int d = dup2(u, x->sock);
  fd_close(&u);
  if (d < 0) return AS_SYS;
  /* The autobound name is 8 bytes: it fits curl's sockaddr. */
  addr->family = AF_UNIX;
  addr->protocol = 0;
  addr->addrlen = len;
  memcpy(&addr->addr, &sa, len);
  return AS_OK;
}

static curl_socket_t open_sock(void *ud, curlsocktype purpose, struct curl_sockaddr *addr) {
  xfer *x = ud;
  (void)purpose;
  x->sock = x->net->open_socket(x->net->ctx, x->req);
  if (x->sock < 0) return CURL_SOCKET_BAD;
  if (stand_in(x, addr) != AS_OK) {
    as_log(AS_LOG_WARN, "http client: no stand-in socket for a simulated connection");
    fd_close(&x->real);
    fd_close(&x->listener);
    fd_close(&x->sock);
    return CURL_SOCKET_BAD;
  }
  return x->sock;
}

/* Connected: the real socket takes its number back from the stand-in. */
static int prereq(void *ud, char *ip, char *local_ip, int port, int local_port) {
  xfer *x = ud;
  (void)ip;
  (void)local_ip;
  (void)port;
  (void)local_port;
  int d = dup2(x->real, x->sock);
  fd_close(&x->real);
  fd_close(&x->listener);
  if (d < 0) {
    stop(x, AS_HTTP_FAIL_CONNECT, 0, "the simulated connection could not be put in place");
    return CURL_PREREQFUNC_ABORT;
  }
  return CURL_PREREQFUNC_OK;
}

static int sock_opt(void *ud, curl_socket_t fd, curlsocktype purpose) {
  (void)ud;
  (void)fd;
  (void)purpose;
  return CURL_SOCKOPT_ALREADY_CONNECTED;
}

/* --- the request -------------------------------------------------------------- */

static bool has_break(const char *s) { return strpbrk(s, "\r\n") != NULL; }

static AS_WUR int check_request(const as_http_request *req) {
  if (!req->url || !req->url[0] || strnlen(req->url, AS_HTTP_URL_MAX + 1) > AS_HTTP_URL_MAX ||
      has_break(req->url))
    return AS_INVAL;
  if (req->nheaders && !req->headers) return AS_INVAL;
  for (size_t i = 0; i < req->nheaders; i++) {
    const as_http_header *h = &req->headers[i];
    if (!h->name || !h->value || !h->name[0] || has_break(h->name) || has_break(h->value) ||
        strlen(h->name) + strlen(h->value) + 3 > AS_HTTP_HEADER_MAX)
      return AS_INVAL;
  }
  if (req->secret_header &&
      (has_break(req->secret_header) || strlen(req->secret_header) >= AS_HTTP_HEADER_MAX))
    return AS_INVAL;
  if (req->body_len && !req->body) return AS_INVAL;
  return AS_OK;
}

/* The secret's copy is wiped before it is freed. */
static void headers_free(struct curl_slist *l) {
  for (struct curl_slist *p = l; p; p = p->next) memset(p->data, 0, strlen(p->data));
  curl_slist_free_all(l);
}

static AS_WUR int headers_make(const as_http_request *req, struct curl_slist **out) {
  char line[AS_HTTP_HEADER_MAX];
  struct curl_slist *l = NULL, *nl;
  int rc = AS_NOMEM;
  for (size_t i = 0; i < req->nheaders; i++) {
    snprintf(line, sizeof line, "%s: %s", req->headers[i].name, req->headers[i].value);
    if (!(nl = curl_slist_append(l, line))) goto out;
    l = nl;
  }
  /* No "Expect: 100-continue" pause before a body. */
  if (!(nl = curl_slist_append(l, "Expect:"))) goto out;
  l = nl;
  if (req->secret_header) {
    if (!(nl = curl_slist_append(l, req->secret_header))) goto out;
    l = nl;
  }
  rc = AS_OK;
out:
  memset(line, 0, sizeof line);
  if (rc != AS_OK) {
    headers_free(l);
    l = NULL;
  }
  *out = l;
  return rc;
}

/* On a simulated connection no name is ever resolved (curl's resolver is a
** thread; the sim runs on one): the URL's host is pinned to 127.0.0.1 in
** curl's cache (CURLOPT_RESOLVE), and the stand-in connects where it must
** whatever the address. An IP literal needs no pin ("[::1]" has none). */
static AS_WUR int pin_host(const char *url, struct curl_slist **out) {
  CURLU *u = curl_url();
  if (!u) return AS_NOMEM;
  char *host = NULL, *port = NULL;
  int rc = AS_INVAL; /* a URL curl cannot read */
  CURLUcode c = curl_url_set(u, CURLUPART_URL, url, 0);
  if (c == CURLUE_OK) c = curl_url_get(u, CURLUPART_HOST, &host, 0);
  if (c == CURLUE_OK) c = curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
  if (c == CURLUE_OUT_OF_MEMORY) {
    rc = AS_NOMEM;
  } else if (c == CURLUE_OK && host[0] == '[') {
    rc = AS_OK;
  } else if (c == CURLUE_OK) {
    char line[AS_HTTP_URL_MAX + 32];
    snprintf(line, sizeof line, "%s:%s:127.0.0.1", host, port);
    *out = curl_slist_append(NULL, line);
    rc = *out ? AS_OK : AS_NOMEM;
  }
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  return rc;
}

static AS_WUR int setup(xfer *x, CURL *h, struct curl_slist *hl) {
  const as_http_request *req = x->req;
  CURLcode c = curl_easy_setopt(h, CURLOPT_URL, req->url);
  if (c == CURLE_OK) c = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  if (c == CURLE_OK) c = curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  if (c == CURLE_OK) c = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  if (c == CURLE_OK) c = curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  if (c == CURLE_OK) c = curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
  if (c == CURLE_OK) c = curl_easy_setopt(h, CURLOPT_USERAGENT, "agentsim");
  if (c == CURLE_OK) c = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
  if (c == CURLE_OK) c = curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  if (c == CURLE_OK) c = curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
  if (c == CURLE_OK) c = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  if (c == CURLE_OK) c = curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
  if (c == CURLE_OK && req->body) {
    c = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    if (c == CURLE_OK) c = curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
  }
  if (c == CURLE_OK && x->net) {
    c = curl_easy_setopt(h, CURLOPT_RESOLVE, x->pin);
    if (c == CURLE_OK) c = curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_sock);
    if (c == CURLE_OK) c = curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, x);
    if (c == CURLE_OK) c = curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, sock_opt);
    if (c == CURLE_OK) c = curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, prereq);
    if (c == CURLE_OK) c = curl_easy_setopt(h, CURLOPT_PREREQDATA, x);
  } else if (c == CURLE_OK && req->timeout_ns) {
    uint64_t ms = req->timeout_ns / 1000000u + BACKSTOP_MS;
    c = curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)ms);
  }
  if (c == CURLE_OUT_OF_MEMORY) return AS_NOMEM;
  return c == CURLE_OK ? AS_OK : AS_INTERNAL;
}

/* --- the loop ----------------------------------------------------------------- */

/* How curl's endings read as endings of http_client.h; any other is
** PROTOCOL. A reset while receiving is a truncation: the connection was
** made and an answer had begun to be awaited. */
static const struct {
  CURLcode cc;
  as_http_fail fail;
} fail_map[] = {
    {CURLE_OK, AS_HTTP_FAIL_NONE},
    {CURLE_OPERATION_TIMEDOUT, AS_HTTP_FAIL_TIMEOUT},
    {CURLE_COULDNT_CONNECT, AS_HTTP_FAIL_CONNECT},
    {CURLE_COULDNT_RESOLVE_HOST, AS_HTTP_FAIL_CONNECT},
    {CURLE_COULDNT_RESOLVE_PROXY, AS_HTTP_FAIL_CONNECT},
    {CURLE_SSL_CONNECT_ERROR, AS_HTTP_FAIL_CONNECT},
    {CURLE_PEER_FAILED_VERIFICATION, AS_HTTP_FAIL_CONNECT},
    {CURLE_SSL_CERTPROBLEM, AS_HTTP_FAIL_CONNECT},
    {CURLE_SSL_CIPHER, AS_HTTP_FAIL_CONNECT},
    {CURLE_SSL_CACERT_BADFILE, AS_HTTP_FAIL_CONNECT},
    {CURLE_SEND_ERROR, AS_HTTP_FAIL_CONNECT},
    {CURLE_RECV_ERROR, AS_HTTP_FAIL_TRUNCATED},
    {CURLE_PARTIAL_FILE, AS_HTTP_FAIL_TRUNCATED},
    {CURLE_GOT_NOTHING, AS_HTTP_FAIL_TRUNCATED},
};

static as_http_fail fail_of(CURLcode c) {
  for (size_t i = 0; i < sizeof fail_map / sizeof fail_map[0]; i++)
    if (fail_map[i].cc == c) return fail_map[i].fail;
  return AS_HTTP_FAIL_PROTOCOL;
}

/* Whether the deadline or the low-speed window has passed (then res says so). */
static bool out_of_time(xfer *x, uint64_t now) {
  const as_http_request *req = x->req;
  if (now >= x->deadline) {
    stop(x, AS_HTTP_FAIL_TIMEOUT, 0, "");
    snprintf(x->res->message, sizeof x->res->message, "no whole answer within %llu ms",
             (unsigned long long)(req->timeout_ns / 1000000u));
    return true;
  }
  if (req->low_speed_ns && now - x->win_start >= req->low_speed_ns) {
    stop(x, AS_HTTP_FAIL_TIMEOUT, 0, "");
    snprintf(x->res->message, sizeof x->res->message,
             "fewer than %llu bytes in %llu ms", (unsigned long long)req->low_speed_bytes,
             (unsigned long long)(req->low_speed_ns / 1000000u));
    return true;
  }
  return false;
}

static uint64_t next_wake(const xfer *x) {
  uint64_t w = x->deadline;
  if (x->req->low_speed_ns) {
    uint64_t ls = x->win_start + x->req->low_speed_ns;
    if (ls < w) w = ls;
  }
  return w;
}

static AS_WUR int mcode(CURLMcode mc) {
  if (mc == CURLM_OK) return AS_OK;
  return mc == CURLM_OUT_OF_MEMORY ? AS_NOMEM : AS_INTERNAL;
}

/* Run curl until it would block; *done once the transfer ended (with *cc). */
static AS_WUR int step(CURLM *m, bool *done, CURLcode *cc) {
  int running;
  int rc = mcode(curl_multi_perform(m, &running));
  if (rc != AS_OK) return rc;
  int left;
  CURLMsg *msg;
  while ((msg = curl_multi_info_read(m, &left)) != NULL) { /* CURLMSG_DONE: curl's only kind */
    *done = true;
    *cc = msg->data.result;
  }
  return AS_OK;
}

/* Wait for the socket (simulated) or poll (network) until the next wake. */
static AS_WUR int wait_some(xfer *x, CURLM *m, uint64_t now, bool *broke) {
  uint64_t wake = next_wake(x);
  if (x->net) {
    int w = x->net->wait(x->net->ctx, x->sock, wake);
    *broke = w < 0;
    return AS_OK;
  }
  uint64_t left = wake - now; /* now is before it: out_of_time said so */
  long ms = SLICE_MS;
  if (left < (uint64_t)SLICE_MS * 1000000u) ms = (long)((left + 999999u) / 1000000u);
  return mcode(curl_multi_poll(m, NULL, 0, (int)ms, NULL));
}

static AS_WUR int run(xfer *x, CURL *h) {
  CURLM *m = curl_multi_init();
  if (!m) return AS_NOMEM;
  bool added = false, done = false, broke = false;
  CURLcode cc = CURLE_OK;
  int rc = mcode(curl_multi_add_handle(m, h));
  if (rc != AS_OK) goto out;
  added = true;
  rc = step(m, &done, &cc);
  uint64_t now;
  while (rc == AS_OK && !done && !out_of_time(x, now = as_now_mono_ns())) {
    rc = wait_some(x, m, now, &broke);
    if (rc != AS_OK) break;
    if (broke) {
      stop(x, AS_HTTP_FAIL_CONNECT, 0, "the simulated connection broke");
      break;
    }
    rc = step(m, &done, &cc);
  }
  if (rc == AS_OK && !x->stopped) {
    if (cc == CURLE_OUT_OF_MEMORY) {
      rc = AS_NOMEM;
    } else {
      x->res->fail = fail_of(cc);
      /* curl takes a close inside the head for an answer without a body */
      if (cc == CURLE_OK && !x->status_sent) {
        x->res->fail = AS_HTTP_FAIL_TRUNCATED;
        snprintf(x->res->message, sizeof x->res->message, "the peer closed inside the head");
      }
      if (cc != CURLE_OK) {
        snprintf(x->res->message, sizeof x->res->message, "%s",
                 x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
        drop_elapsed(x->res->message);
      }
    }
  }
out:
  if (added && mcode(curl_multi_remove_handle(m, h)) != AS_OK && rc == AS_OK) rc = AS_INTERNAL;
  (void)curl_multi_cleanup(m); /* ignore: fails only for a handle that is not one */
  return rc;
}

int as_http_exchange(const as_http_net *net, const as_http_tap *tap,
                     const as_http_request *req, const as_http_sink *sink,
                     as_http_result *res) {
  if (!res) return AS_INVAL;
  memset(res, 0, sizeof *res);
  if (!req || !sink || !sink->on_status || !sink->on_data) return AS_INVAL;
  int rc = check_request(req);
  if (rc != AS_OK) return rc;
  CURL *h = NULL;
  struct curl_slist *hl = NULL;
  xfer *x = as_calloc(1, sizeof *x);
  if (!x) return AS_NOMEM;
  x->net = net;
  x->tap = tap;
  x->req = req;
  x->sink = sink;
  x->res = res;
  x->sock = x->real = x->listener = -1;
  x->at_start = true;
  rc = headers_make(req, &hl);
  if (rc != AS_OK) goto out;
  h = x->easy = curl_easy_init();
  if (!h) {
    rc = AS_NOMEM;
    goto out;
  }
  if (net) {
    rc = pin_host(req->url, &x->pin);
    if (rc != AS_OK) goto out;
  }
  rc = setup(x, h, hl);
  if (rc != AS_OK) goto out;
  x->t0 = as_now_mono_ns();
  x->win_start = x->t0;
  x->deadline = req->timeout_ns ? x->t0 + req->timeout_ns : AS_DEADLINE_NEVER;
  if (tap) {
    as_http_request shown = *req;
    shown.secret_header = NULL;
    int trc = tap->on_request(tap->ctx, &shown);
    if (trc != AS_OK) {
      stop(x, AS_HTTP_FAIL_ABORTED, trc, "the tap refused the request");
      goto out;
    }
  }
  rc = run(x, h);
  res->elapsed_ns = since(x);
  if (rc == AS_OK && tap) {
    int trc = tap->on_end(tap->ctx, res);
    if (trc != AS_OK && res->fail != AS_HTTP_FAIL_ABORTED) {
      res->fail = AS_HTTP_FAIL_ABORTED;
      res->sink_rc = trc;
      snprintf(res->message, sizeof res->message, "the tap refused the end");
    }
  }
out:
  if (h) curl_easy_cleanup(h);
  fd_close(&x->real);
  fd_close(&x->listener);
  curl_slist_free_all(x->pin);
  headers_free(hl);
  as_free(x);
  if (rc != AS_OK) memset(res, 0, sizeof *res);
  return rc;
}

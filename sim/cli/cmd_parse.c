/*
** cmd_parse.c -- `agentsim parse envelope|json FILE|- [--structured FILE]
** [--json]`: the runtime's strict JSON layer and envelope search, run on a
** file, so a person (or CI) can see what the runtime would make of an
** answer and why it refuses one.
**
** Input is read up to its cap plus one byte (AS_JSON_MAX_BYTES for json,
** AS_ENVELOPE_TEXT_MAX for an envelope's text): a longer file is refused
** without being read whole. Exit 0 accepted, 1 refused (with
** FILE:LINE:COL: (offset N) REASON), 2 a file that cannot be read, 3 out
** of memory. With --json the text goes to stderr and stdout ends with one
** JSON object.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentsim/envelope.h"
#include "agentsim/json.h"
#include "cli.h"

/* A file's bytes (at most max + 1 of them: one more means too big). */
typedef struct input {
  const char *name; /* as the user gave it; "<stdin>" for - */
  char *buf;
  size_t len;
  int too_big;
} input;

static AS_WUR int read_failed(const char *name) {
  cli_error("cannot read %s: %s", name, strerror(errno));
  return AS_IO;
}

/* Read path ("-": stdin) into *in. AS_OK, AS_IO (message printed), AS_NOMEM. */
static AS_WUR int read_input(const char *path, size_t max, input *in) {
  int is_stdin = strcmp(path, "-") == 0;
  memset(in, 0, sizeof *in);
  in->name = is_stdin ? "<stdin>" : path;
  FILE *f = is_stdin ? stdin : fopen(path, "rb");
  if (!f) {
    cli_error("cannot open %s: %s", path, strerror(errno));
    return AS_IO;
  }
  int rc = AS_OK;
  in->buf = malloc(max + 1);
  if (!in->buf) {
    rc = AS_NOMEM;
    goto out;
  }
  while (in->len < max + 1) {
    size_t n = fread(in->buf + in->len, 1, max + 1 - in->len, f);
    if (n == 0) break;
    in->len += n;
  }
  if (ferror(f)) rc = read_failed(in->name);
  in->too_big = in->len > max;
out:
  if (!is_stdin && fclose(f) != 0 && rc == AS_OK) rc = read_failed(in->name);
  if (rc != AS_OK) {
    free(in->buf);
    in->buf = NULL;
  }
  return rc;
}

/* v as compact JSON, member order kept, its reals with the fewest digits
** (15, 16 or 17) that read back as the same value: 0.9, not
** 0.90000000000000002. NULL when out of memory. */
static char *dumps_shortest(const json_t *v) {
  for (int prec = 15;; prec++) {
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(prec));
    if (!text || prec == 17) return text;
    json_t *back = json_loads(text, JSON_DECODE_ANY, NULL);
    int same = back && json_equal(back, v);
    json_decref(back);
    if (same) return text;
    free(text);
  }
}

/* Print j as stdout's last line (dumps_shortest), as cli_jemit does. */
static AS_WUR int emit(json_t *j, int bad) {
  char *text = bad ? NULL : dumps_shortest(j); /* j NULL is bad already */
  if (!text) return cli_jemit(j, 1); /* the fixed fallback, AS_NOMEM */
  fputs(text, stdout);
  fputc('\n', stdout);
  free(text);
  json_decref(j);
  cli_json_done();
  return AS_OK;
}

/* The shortest %g form of d that reads back as d (17 digits always do). */
static void number_text(char *buf, size_t cap, double d) {
  for (int prec = 1; prec < 17; prec++) {
    snprintf(buf, cap, "%.*g", prec, d);
    if (strtod(buf, NULL) == d) return;
  }
  snprintf(buf, cap, "%.17g", d);
}

/* A file over its cap: the refusal the parser would give, without the
** parser reading it. */
static void too_big(const input *in, size_t max, as_json_error *err) {
  memset(err, 0, sizeof *err);
  err->offset = max;
  as_json_locate(in->buf, in->len, max, &err->line, &err->column);
  snprintf(err->reason, sizeof err->reason, "%s is over %zu bytes, the cap", in->name, max);
}

/* The refusal: text on out, and the JSON object when asked. */
static int refused(const cli_opts *o, FILE *out, const char *file, const as_json_error *err) {
  fprintf(out, "%s:%u:%u: (offset %zu) %s\n", file, err->line, err->column, err->offset,
          err->reason);
  if (!o->json) return EXIT_FOUND;
  json_t *j = json_object();
  int bad = cli_jset(j, "accepted", json_false());
  bad |= cli_jset(j, "kind", cli_jstr(o->parse_kind));
  bad |= cli_jset(j, "file", cli_jstr(file));
  bad |= cli_jset(j, "offset", json_integer((json_int_t)err->offset));
  bad |= cli_jset(j, "line", json_integer(err->line));
  bad |= cli_jset(j, "column", json_integer(err->column));
  bad |= cli_jset(j, "reason", cli_jstr(err->reason));
  bad |= cli_jset(j, "exit", json_integer(EXIT_FOUND));
  return emit(j, bad) == AS_OK ? EXIT_FOUND : EXIT_INTERNAL;
}

static int accepted_json(const cli_opts *o, FILE *out, const input *in, json_t *v) {
  int ex = EXIT_PASS;
  char *text = dumps_shortest(v);
  if (!text) {
    cli_error("out of memory printing the value");
    json_decref(v);
    return EXIT_INTERNAL;
  }
  fprintf(out, "%s\n", text);
  free(text);
  if (o->json) {
    json_t *j = json_object();
    int bad = cli_jset(j, "accepted", json_true());
    bad |= cli_jset(j, "kind", json_string("json"));
    bad |= cli_jset(j, "file", cli_jstr(in->name));
    bad |= cli_jset(j, "value", json_incref(v));
    bad |= cli_jset(j, "exit", json_integer(EXIT_PASS));
    if (emit(j, bad) != AS_OK) ex = EXIT_INTERNAL;
  }
  json_decref(v);
  return ex;
}

static int accepted_envelope(const cli_opts *o, FILE *out, const input *in, as_envelope *e) {
  int ex = EXIT_PASS;
  char conf[32];
  number_text(conf, sizeof conf, e->confidence);
  fprintf(out, "content: %s\nconfidence: %s\nrationale: %s\nsignal: %s\nfrom: %s\n",
          e->content, conf, e->rationale, e->signal[0] ? e->signal : "(none)",
          as_envelope_from_name(e->from));
  if (o->json) {
    json_t *env = json_object();
    int bad = cli_jset(env, "content", cli_jstr(e->content));
    bad |= cli_jset(env, "confidence", json_real(e->confidence));
    bad |= cli_jset(env, "rationale", cli_jstr(e->rationale));
    bad |= cli_jset(env, "signal", e->signal[0] ? cli_jstr(e->signal) : json_null());
    bad |= cli_jset(env, "from", json_string(as_envelope_from_name(e->from)));
    json_t *j = json_object();
    bad |= cli_jset(j, "accepted", json_true());
    bad |= cli_jset(j, "kind", json_string("envelope"));
    bad |= cli_jset(j, "file", cli_jstr(in->name));
    bad |= cli_jset(j, "envelope", env);
    bad |= cli_jset(j, "exit", json_integer(EXIT_PASS));
    if (emit(j, bad) != AS_OK) ex = EXIT_INTERNAL;
  }
  as_envelope_clear(e);
  return ex;
}

static int parse_json(const cli_opts *o, FILE *out, const input *in) {
  as_json_error err;
  json_t *v = NULL;
  if (in->too_big) {
    too_big(in, AS_JSON_MAX_BYTES, &err);
    return refused(o, out, in->name, &err);
  }
  int rc = as_json_parse(in->buf, in->len, &v, &err);
  if (rc == AS_NOMEM) {
    cli_error("out of memory parsing %s", in->name);
    return EXIT_INTERNAL;
  }
  if (rc != AS_OK) return refused(o, out, in->name, &err);
  return accepted_json(o, out, in, v);
}

static int parse_envelope(const cli_opts *o, FILE *out, const input *in, const input *st) {
  as_json_error err;
  as_envelope e;
  memset(&e, 0, sizeof e);
  if (st && st->too_big) {
    too_big(st, AS_JSON_MAX_BYTES, &err);
    return refused(o, out, st->name, &err);
  }
  if (in->too_big) {
    too_big(in, AS_ENVELOPE_TEXT_MAX, &err);
    return refused(o, out, in->name, &err);
  }
  int rc = as_envelope_parse(st ? st->buf : NULL, st ? st->len : 0, in->buf, in->len, &e, &err);
  if (rc == AS_NOMEM) {
    cli_error("out of memory parsing %s", in->name);
    return EXIT_INTERNAL;
  }
  if (rc != AS_OK) {
    /* The position is in the text the last candidate came from; envelope.c
    ** ends the reason with where that was. */
    const char *file = st && strstr(err.reason, "(in the structured output)") ? st->name : in->name;
    return refused(o, out, file, &err);
  }
  return accepted_envelope(o, out, in, &e);
}

int cmd_parse(const cli_opts *o, const char *argv0) {
  (void)argv0;
  int is_json = strcmp(o->parse_kind, "json") == 0;
  FILE *out = o->json ? stderr : stdout;
  input in, st;
  memset(&st, 0, sizeof st);
  int rc = read_input(o->parse_file, is_json ? AS_JSON_MAX_BYTES : AS_ENVELOPE_TEXT_MAX, &in);
  if (rc == AS_OK && o->structured) rc = read_input(o->structured, AS_JSON_MAX_BYTES, &st);
  int ex;
  if (rc == AS_NOMEM) {
    cli_error("out of memory reading the input");
    ex = EXIT_INTERNAL;
  } else if (rc != AS_OK) {
    ex = EXIT_USAGE;
  } else if (is_json) {
    ex = parse_json(o, out, &in);
  } else {
    ex = parse_envelope(o, out, &in, o->structured ? &st : NULL);
  }
  free(in.buf);
  free(st.buf);
  return ex;
}

/*
** spec.h -- the --llm SPEC of `agentsim serve`: which provider answers.
**
**   stub:SCRIPT                       the scripted stub (stub.h) from file SCRIPT
**   openai:BASE_URL[,OPT...]          an OpenAI-compatible chat completions server
**   ollama:BASE_URL[,OPT...]          an Ollama server (/api/chat)
**   record:DIR,openai:...|ollama:...  the HTTP provider, every exchange recorded in DIR
**   cassette:DIR                      replay the cassette in DIR
**
** OPT: model=M, key_env=VAR (the environment variable holding the API key:
** its name only; the CLI reads it), stream, structured, timeout=DUR (e.g.
** 30s, 1500ms). Parsing is pure; an error names the byte position (1-based)
** in the spec and what was expected.
**
** Opening: stub loads the script; openai and ollama make the HTTP provider
** (llm_http.h) with the API key the caller put in http.api_key (the CLI
** reads the variable key_env names: this module reads no environment);
** record makes the same provider with the cassette recorder
** (cassette.h) as its tap, DIR made when missing, refused when it already
** holds a cassette.json (a provider refusing its settings is refused
** before DIR is touched); cassette replays DIR through the real provider
** (as_cassette_llm_new). Without --llm, the CLI takes the app's llm:
** section (as_llm_spec_from_app).
*/
#ifndef AGENTSIM_LLM_SPEC_H
#define AGENTSIM_LLM_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentsim/app.h"
#include "agentsim/llm.h"
#include "agentsim/status.h"
#include "stub.h"

/* cassette.h is not needed here: callers hold the recorder only by its pointer. */
typedef struct as_cassette_recorder as_cassette_recorder;

#define AS_SPEC_TEXT_MAX 1024u   /* the whole spec, bytes */
#define AS_SPEC_PATH_MAX 512     /* SCRIPT, DIR, BASE_URL: NUL included */
#define AS_SPEC_NAME_MAX 128     /* model, key_env: NUL included */

typedef enum as_llm_spec_kind {
  AS_SPEC_STUB,
  AS_SPEC_OPENAI,
  AS_SPEC_OLLAMA,
  AS_SPEC_RECORD,
  AS_SPEC_CASSETTE
} as_llm_spec_kind;

typedef struct as_llm_http_spec {
  as_llm_spec_kind kind;          /* AS_SPEC_OPENAI or AS_SPEC_OLLAMA */
  char base_url[AS_SPEC_PATH_MAX];
  char model[AS_SPEC_NAME_MAX];   /* "": the provider's default */
  char key_env[AS_SPEC_NAME_MAX]; /* "": no key */
  bool stream, structured;
  uint64_t timeout_ns;            /* 0: the provider's default */
  uint64_t low_speed_bytes;       /* both 0: the provider's default (app.h's llm.low_speed) */
  uint64_t low_speed_ns;
  const char *api_key;            /* borrowed, NULL: none; never parsed, never printed:
                                  ** the caller sets it from key_env before opening */
} as_llm_http_spec;

typedef struct as_llm_spec {
  as_llm_spec_kind kind;
  char path[AS_SPEC_PATH_MAX];    /* stub: SCRIPT; record, cassette: DIR */
  as_llm_http_spec http;          /* openai, ollama, record's provider */
} as_llm_spec;

/* Parse text into *out. AS_OK; AS_PARSE with err "--llm: at position N: ..."
** (the spec itself never echoed past 64 bytes); AS_TOOBIG past a cap. */
AS_WUR int as_llm_spec_parse(const char *text, as_llm_spec *out, char *err, size_t cap);
/* "stub", "openai", "ollama", "record", "cassette". */
const char *as_llm_spec_kind_name(as_llm_spec_kind k);

/* An opened provider and what it owns. */
typedef struct as_llm_opened {
  as_llm llm;
  as_stub_script *script; /* stub: the script (owned) */
  as_cassette_recorder *rec; /* record: the recorder (owned) */
} as_llm_opened;

/* The spec an app's llm: section names (l->present required): its provider,
** base URL, model, key variable, stream, structured, timeout, low speed.
** AS_TOOBIG when the base URL, model or variable name is past this
** module's caps (AS_SPEC_PATH_MAX, AS_SPEC_NAME_MAX). */
AS_WUR int as_llm_spec_from_app(const as_app_llm *l, as_llm_spec *out);

/* Open what spec names (stub: load SCRIPT, as_stub_llm_new with seed; usage
** through edge when not NULL). AS_OK; the stub's load statuses with err
** "FILE:LINE:COL: ..."; for openai, ollama and record AS_INVAL with err
** when the model is missing ("model=NAME"), or as_llm_http_new's and
** as_cassette_recorder_new's statuses; for cassette as_cassette_llm_new's. */
AS_WUR int as_llm_spec_open(const as_llm_spec *spec, uint64_t seed, as_stub_edge_fn edge,
                            as_llm_opened *out, char *err, size_t cap);
/* Release it (NULL: no-op). */
void as_llm_opened_close(as_llm_opened *o);

#endif /* AGENTSIM_LLM_SPEC_H */

/*
** otlp_json.c -- spans as an OTLP/HTTP JSON ExportTraceServiceRequest
** (trace.h, as_otlp_encode).
**
** The OTLP JSON mapping differs from protobuf's canonical one in two ways
** that matter here: trace and span ids are lowercase hex, not base64, and
** enums are integers. 64-bit integers are decimal strings (as in the
** canonical mapping). jansson keeps an object's keys in insertion order, so
** the same spans give the same bytes.
*/
#include <jansson.h>
#include <string.h>

#include "agentsim/seam.h"
#include "agentsim/trace.h"
#include "trace_internal.h"

/* Sticky builders: once rc is an error, v is released and rc handed back.
** A NULL v is jansson out of memory (every text was checked beforehand).
** The _new setters take v's reference even when they fail. */
static AS_WUR int put(json_t *o, const char *key, json_t *v, int rc) {
  if (rc != AS_OK) {
    json_decref(v);
    return rc;
  }
  if (!v || json_object_set_new(o, key, v) != 0) return AS_NOMEM;
  return AS_OK;
}

static AS_WUR int add(json_t *a, json_t *v, int rc) {
  if (rc != AS_OK) {
    json_decref(v);
    return rc;
  }
  if (!v || json_array_append_new(a, v) != 0) return AS_NOMEM;
  return AS_OK;
}

static bool text_ok(const char *s) { return s && as__utf8_valid(s, strlen(s)); }

/* Whether a record's texts can be encoded. */
static bool rec_ok(const as_span *sp) {
  if (strnlen(sp->name, AS_SPAN_NAME_MAX) == AS_SPAN_NAME_MAX || !text_ok(sp->name)) return false;
  if (sp->kind != AS_SPAN_INTERNAL && sp->kind != AS_SPAN_CLIENT) return false;
  if (sp->nattrs > AS_SPAN_ATTRS_MAX || (sp->message && !text_ok(sp->message))) return false;
  for (size_t i = 0; i < sp->nattrs; i++) {
    const as_span_attr *a = &sp->attrs[i];
    if (!text_ok(a->key) || !a->key[0] || (a->s && !text_ok(a->s))) return false;
  }
  return true;
}

static json_t *hex(const uint8_t *b, size_t n) {
  static const char digits[] = "0123456789abcdef";
  char buf[2 * 16 + 1];
  for (size_t i = 0; i < n; i++) {
    buf[2 * i] = digits[b[i] >> 4];
    buf[2 * i + 1] = digits[b[i] & 0xF];
  }
  return json_stringn(buf, 2 * n);
}

static bool all_zero(const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (b[i]) return false;
  return true;
}

/* mag in decimal, '-' first when neg, as a JSON string. Written by hand:
** snprintf's failure and truncation returns could never happen here, and
** branches for them could only be dead. */
static json_t *decimal(uint64_t mag, bool neg) {
  char buf[21]; /* '-' and UINT64_MAX's 20 digits; the int64 range needs 20 */
  size_t i = sizeof buf;
  do {
    buf[--i] = (char)('0' + mag % 10);
    mag /= 10;
  } while (mag);
  if (neg) buf[--i] = '-';
  return json_stringn(buf + i, sizeof buf - i);
}

/* A fixed64 nanosecond time; before the epoch is 0. */
static json_t *unix_nano(int64_t ns) { return decimal(ns < 0 ? 0 : (uint64_t)ns, false); }

/* An int64 (as the canonical mapping writes 64-bit integers: a string);
** 0 - (uint64_t)v is |v| for every v < 0, INT64_MIN included. */
static json_t *int_value(int64_t v) {
  return v < 0 ? decimal(0 - (uint64_t)v, true) : decimal((uint64_t)v, false);
}

/* {"key": key, "value": {"stringValue": s} or {"intValue": "i"}} */
static json_t *key_value(const char *key, const char *s, int64_t i) {
  json_t *kv = json_object(), *val = json_object();
  int rc = kv ? AS_OK : AS_NOMEM;
  if (s) {
    rc = put(val, "stringValue", json_string(s), val ? rc : AS_NOMEM);
  } else {
    rc = put(val, "intValue", int_value(i), val ? rc : AS_NOMEM);
  }
  rc = put(kv, "key", json_string(key), rc);
  rc = put(kv, "value", val, rc);
  val = NULL; /* kv's now, or released */
  if (rc != AS_OK) {
    json_decref(val);
    json_decref(kv);
    return NULL;
  }
  return kv;
}

static json_t *span_json(const as_span *sp) {
  json_t *o = json_object();
  int rc = o ? AS_OK : AS_NOMEM;
  rc = put(o, "traceId", hex(sp->trace_id, sizeof sp->trace_id), rc);
  rc = put(o, "spanId", hex(sp->span_id, sizeof sp->span_id), rc);
  if (!all_zero(sp->parent_id, sizeof sp->parent_id))
    rc = put(o, "parentSpanId", hex(sp->parent_id, sizeof sp->parent_id), rc);
  rc = put(o, "name", json_string(sp->name), rc);
  rc = put(o, "kind", json_integer(sp->kind == AS_SPAN_CLIENT ? 3 : 1), rc);
  rc = put(o, "startTimeUnixNano", unix_nano(sp->start_ns), rc);
  rc = put(o, "endTimeUnixNano", unix_nano(sp->end_ns), rc);
  json_t *attrs = json_array();
  rc = attrs ? rc : AS_NOMEM;
  for (size_t i = 0; i < sp->nattrs && rc == AS_OK; i++)
    rc = add(attrs, key_value(sp->attrs[i].key, sp->attrs[i].s, sp->attrs[i].i), rc);
  rc = put(o, "attributes", attrs, rc);
  json_t *status = json_object();
  rc = status ? rc : AS_NOMEM;
  if (status && sp->error) {
    rc = put(status, "code", json_integer(2), rc);
    if (sp->message) rc = put(status, "message", json_string(sp->message), rc);
  } else if (status) {
    rc = put(status, "code", json_integer(0), rc);
  }
  rc = put(o, "status", status, rc);
  if (rc != AS_OK) {
    json_decref(o);
    return NULL;
  }
  return o;
}

/* The request around spans (which it takes). */
static json_t *request(const char *service, json_t *spans) {
  json_t *root = json_object(), *rss = json_array(), *rs = json_object(), *res = json_object(),
         *rattrs = json_array(), *sss = json_array(), *ss = json_object(), *scope = json_object();
  int rc = root && rss && rs && res && rattrs && sss && ss && scope ? AS_OK : AS_NOMEM;
  rc = add(rattrs, key_value("service.name", service, 0), rc);
  rc = put(res, "attributes", rattrs, rc);
  rc = put(scope, "name", json_string(AS_OTLP_SCOPE_NAME), rc);
  rc = put(ss, "scope", scope, rc);
  rc = put(ss, "spans", spans, rc);
  rc = add(sss, ss, rc);
  rc = put(rs, "resource", res, rc);
  rc = put(rs, "scopeSpans", sss, rc);
  rc = add(rss, rs, rc);
  rc = put(root, "resourceSpans", rss, rc);
  if (rc != AS_OK) {
    json_decref(root);
    return NULL;
  }
  return root;
}

int as_otlp_encode(const as_span_rec *spans, size_t n, const char *service_name, char **json) {
  if (!json) return AS_INVAL;
  *json = NULL;
  if (!spans || n == 0 || !service_name || !service_name[0]) return AS_INVAL;
  if (n > AS_OTLP_SPANS_MAX) return AS_TOOBIG;
  size_t sl = strnlen(service_name, AS_OTLP_SERVICE_MAX + 1);
  if (sl > AS_OTLP_SERVICE_MAX || !as__utf8_valid(service_name, sl)) return AS_INVAL;
  for (size_t i = 0; i < n; i++)
    if (!rec_ok(&spans[i].span)) return AS_INVAL;
  int rc = AS_OK;
  json_t *arr = json_array();
  if (!arr) return AS_NOMEM;
  for (size_t i = 0; i < n && rc == AS_OK; i++) rc = add(arr, span_json(&spans[i].span), rc);
  if (rc != AS_OK) {
    json_decref(arr);
    return rc;
  }
  json_t *root = request(service_name, arr); /* takes arr */
  if (!root) return AS_NOMEM;
  char *buf = NULL;
  size_t need = json_dumpb(root, NULL, 0, JSON_COMPACT);
  if (need == 0) {
    rc = AS_NOMEM;
  } else if (need > AS_OTLP_BODY_MAX) {
    rc = AS_TOOBIG;
  } else if (!(buf = as_malloc(need + 1))) {
    rc = AS_NOMEM;
  } else if (json_dumpb(root, buf, need, JSON_COMPACT) != need) {
    rc = AS_NOMEM; /* jansson's own buffers ran out the second time */
  } else {
    buf[need] = '\0';
    *json = buf;
    buf = NULL;
  }
  as_free(buf);
  json_decref(root);
  return rc;
}

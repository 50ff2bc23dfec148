'use strict';
/*
 * receiver.js -- an OTLP/HTTP trace endpoint on loopback that checks every
 * request body against the OTLP protobuf schema itself: the protobufjs
 * static module generated from opentelemetry-proto that
 * @opentelemetry/otlp-transformer ships (build/src/generated/root.js).
 *
 * For each POST: the body is parsed as JSON; the OTLP JSON mapping's
 * differences from protobufjs's JSON form are undone (trace and span ids are
 * lowercase hex in OTLP JSON and become base64; 64-bit integers are decimal
 * strings and become Longs); then ExportTraceServiceRequest.verify must
 * pass, fromObject builds the message, it is encoded to the protobuf binary
 * form, decoded again, and converted back: the result must equal the input,
 * so a field the schema does not have, a value of the wrong type or an
 * enum out of range cannot slip through. Then the spans of all requests
 * together are checked: the count, ids of the right size, every parent
 * link resolving inside its trace, one root per trace, usage attributes
 * only on leaf spans, end >= start.
 *
 * usage: node receiver.js --port-file FILE --expect N [--timeout-ms T]
 *          listens on 127.0.0.1:<free port> (written to FILE), and on
 *          SIGTERM exits 0 when all checks passed, else 1; exits 1 at
 *          the timeout.
 *        node receiver.js --selftest
 *          the checker rejects planted faults and accepts a good body.
 */
const http = require('http');
const fs = require('fs');
const path = require('path');

const root = require(path.join(__dirname, 'node_modules', '@opentelemetry', 'otlp-transformer',
  'build', 'src', 'generated', 'root.js'));
const $protobuf = require('protobufjs/minimal');
const Long = $protobuf.util.Long;
const Req = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

const BODY_MAX = 8 << 20;
const HEX_IDS = { traceId: 32, spanId: 16, parentSpanId: 16 };
const UINT64 = new Set(['startTimeUnixNano', 'endTimeUnixNano', 'timeUnixNano']);
const INT64 = new Set(['intValue']);

/* OTLP JSON -> the object protobufjs's fromObject/verify take. */
function fromOtlpJson(v, key) {
  if (Array.isArray(v)) return v.map((x) => fromOtlpJson(x, null));
  if (v !== null && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v)) o[k] = fromOtlpJson(v[k], k);
    return o;
  }
  if (key in HEX_IDS && typeof v === 'string') {
    if (v === '' && key === 'parentSpanId') return v;
    if (!new RegExp(`^[0-9a-f]{${HEX_IDS[key]}}$`).test(v)) {
      throw new Error(`${key} ${JSON.stringify(v)}: not ${HEX_IDS[key]} lowercase hex digits`);
    }
    return Buffer.from(v, 'hex').toString('base64');
  }
  if ((UINT64.has(key) || INT64.has(key)) && typeof v === 'string') {
    const re = UINT64.has(key) ? /^(0|[1-9][0-9]*)$/ : /^(0|-?[1-9][0-9]*)$/;
    if (!re.test(v)) throw new Error(`${key} ${JSON.stringify(v)}: not a decimal integer`);
    const l = Long.fromString(v, UINT64.has(key));
    if (l.toString() !== v) throw new Error(`${key} ${v}: out of 64-bit range`);
    return l;
  }
  return v;
}

/* Longs as decimal strings, empty arrays dropped, keys sorted. */
function canon(v) {
  if (Long.isLong(v)) return v.toString();
  if (Array.isArray(v)) return v.map(canon);
  if (v !== null && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v).sort()) {
      const c = canon(v[k]);
      if (Array.isArray(c) && c.length === 0) continue;
      o[k] = c;
    }
    return o;
  }
  return v;
}

/* One request body: its spans (decoded messages) or an Error thrown. */
function checkBody(text) {
  let json;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`not JSON: ${e.message}`);
  }
  const obj = fromOtlpJson(json, null);
  const err = Req.verify(obj);
  if (err) throw new Error(`ExportTraceServiceRequest.verify: ${err}`);
  const msg = Req.fromObject(obj);
  const bin = Req.encode(msg).finish();
  const back = Req.toObject(Req.decode(bin), { longs: String, bytes: String, enums: Number });
  const a = JSON.stringify(canon(obj));
  const b = JSON.stringify(canon(back));
  if (a !== b) throw new Error(`not the same after the protobuf round trip:\n sent ${a}\n back ${b}`);
  const spans = [];
  const decoded = Req.decode(bin);
  for (const rs of decoded.resourceSpans) {
    const svc = (rs.resource && rs.resource.attributes || []).find((kv) => kv.key === 'service.name');
    if (!svc || !svc.value || typeof svc.value.stringValue !== 'string' || !svc.value.stringValue) {
      throw new Error('a resource without a service.name string');
    }
    for (const ss of rs.scopeSpans) {
      if (!ss.scope || ss.scope.name !== 'agentsim') throw new Error('a scope not named agentsim');
      for (const sp of ss.spans) spans.push(sp);
    }
  }
  return { spans, bytes: bin.length };
}

const hex = (b) => Buffer.from(b || []).toString('hex');

/* The spans of every request together. Returns a list of problems. */
function checkTrees(spans, expect) {
  const bad = [];
  if (expect !== null && spans.length !== expect) bad.push(`${spans.length} spans, expected ${expect}`);
  const byId = new Map();
  for (const sp of spans) {
    if (hex(sp.traceId).length !== 32 || /^0+$/.test(hex(sp.traceId))) bad.push(`${sp.name}: bad traceId`);
    if (hex(sp.spanId).length !== 16 || /^0+$/.test(hex(sp.spanId))) bad.push(`${sp.name}: bad spanId`);
    const id = hex(sp.traceId) + '/' + hex(sp.spanId);
    if (byId.has(id)) bad.push(`${sp.name}: span id ${id} twice`);
    byId.set(id, sp);
    if (Long.fromValue(sp.endTimeUnixNano).lessThan(Long.fromValue(sp.startTimeUnixNano))) {
      bad.push(`${sp.name}: ends before it starts`);
    }
  }
  const roots = new Map();
  const hasChild = new Set();
  for (const sp of spans) {
    const p = hex(sp.parentSpanId);
    if (p === '') {
      roots.set(hex(sp.traceId), (roots.get(hex(sp.traceId)) || 0) + 1);
      continue;
    }
    const pid = hex(sp.traceId) + '/' + p;
    if (!byId.has(pid)) bad.push(`${sp.name}: parent ${p} not in trace ${hex(sp.traceId)}`);
    hasChild.add(pid);
  }
  const traces = new Set(spans.map((sp) => hex(sp.traceId)));
  for (const t of traces) if (roots.get(t) !== 1) bad.push(`trace ${t}: ${roots.get(t) || 0} roots`);
  for (const [id, sp] of byId) {
    const usage = (sp.attributes || []).some((kv) => kv.key.startsWith('gen_ai.usage.'));
    if (usage && hasChild.has(id)) bad.push(`${sp.name}: usage on a span with children`);
  }
  return bad;
}

function selftest() {
  const good = {
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
      scopeSpans: [{
        scope: { name: 'agentsim' },
        spans: [
          { traceId: '0123456789abcdef0123456789abcdef', spanId: '0123456789abcdef', name: 'invoke_agent',
            kind: 1, startTimeUnixNano: '1700000000000000000', endTimeUnixNano: '1700000000000000100',
            attributes: [], status: { code: 0 } },
          { traceId: '0123456789abcdef0123456789abcdef', spanId: 'fedcba9876543210',
            parentSpanId: '0123456789abcdef', name: 'chat m', kind: 3,
            startTimeUnixNano: '1700000000000000001', endTimeUnixNano: '1700000000000000002',
            attributes: [{ key: 'gen_ai.usage.input_tokens', value: { intValue: '-12' } }],
            status: { code: 2, message: 'x' } },
        ],
      }],
    }],
  };
  const mutate = (f) => { const c = JSON.parse(JSON.stringify(good)); f(c.resourceSpans[0].scopeSpans[0].spans); return c; };
  const faults = {
    'base64 span id': mutate((s) => { s[0].spanId = 'ASNFZ4mrze8='; }),
    'uppercase hex': mutate((s) => { s[1].spanId = 'FEDCBA9876543210'; }),
    'kind out of range': mutate((s) => { s[0].kind = 9; }),
    'kind as a name': mutate((s) => { s[0].kind = 'SPAN_KIND_CLIENT_X'; }),
    'time not decimal': mutate((s) => { s[0].startTimeUnixNano = '17e17'; }),
    'time as a fraction': mutate((s) => { s[0].endTimeUnixNano = 1.5; }),
    'unknown field': mutate((s) => { s[0].spanID = 'x'; }),
    'intValue as a fraction': mutate((s) => { s[1].attributes[0].value.intValue = 1.5; }),
    'status code a string': mutate((s) => { s[1].status.code = 'ERROR'; }),
    'attributes not a list': mutate((s) => { s[1].attributes = { key: 'a' }; }),
  };
  let ok = true;
  try {
    const r = checkBody(JSON.stringify(good));
    const bad = checkTrees(r.spans, 2);
    if (bad.length) throw new Error(bad.join('; '));
  } catch (e) {
    console.error(`selftest: the good body was refused: ${e.message}`);
    ok = false;
  }
  for (const [what, body] of Object.entries(faults)) {
    try {
      checkBody(JSON.stringify(body));
      console.error(`selftest: planted fault not caught: ${what}`);
      ok = false;
    } catch (e) {
      if (process.env.AS_OTLP_SELFTEST_VERBOSE) console.log(`selftest: ${what}: refused: ${e.message.split("\n")[0]}`);
    }
  }
  const orphan = mutate((s) => { s[1].parentSpanId = '1111111111111111'; });
  if (checkTrees(checkBody(JSON.stringify(orphan)).spans, 2).length === 0) {
    console.error('selftest: planted fault not caught: a parent outside the trace');
    ok = false;
  }
  const parentUsage = mutate((s) => { s[0].attributes = [{ key: 'gen_ai.usage.output_tokens', value: { intValue: '3' } }]; });
  if (checkTrees(checkBody(JSON.stringify(parentUsage)).spans, 2).length === 0) {
    console.error('selftest: planted fault not caught: usage on a parent span');
    ok = false;
  }
  console.log(`receiver selftest: ${ok ? 'ok' : 'FAILED'} (${Object.keys(faults).length + 2} planted faults)`);
  process.exit(ok ? 0 : 1);
}

function serve(portFile, expect, timeoutMs) {
  const spans = [];
  const problems = [];
  let requests = 0;
  const server = http.createServer((req, res) => {
    const answer = (code, obj) => {
      res.writeHead(code, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(obj));
    };
    if (req.method !== 'POST' || req.url !== '/v1/traces') {
      problems.push(`${req.method} ${req.url}: not a POST to /v1/traces`);
      answer(404, {});
      req.resume();
      return;
    }
    const ctype = (req.headers['content-type'] || '').split(';')[0].trim();
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size <= BODY_MAX) chunks.push(c);
    });
    req.on('end', () => {
      requests++;
      if (ctype !== 'application/json') {
        problems.push(`request ${requests}: Content-Type ${ctype}`);
        answer(415, {});
        return;
      }
      if (size > BODY_MAX) {
        problems.push(`request ${requests}: body of ${size} bytes`);
        answer(413, {});
        return;
      }
      try {
        const r = checkBody(Buffer.concat(chunks).toString('utf8'));
        for (const sp of r.spans) spans.push(sp);
        console.log(`request ${requests}: ${r.spans.length} spans verified (${r.bytes} bytes as protobuf)`);
        answer(200, {});
      } catch (e) {
        problems.push(`request ${requests}: ${e.message}`);
        answer(400, { error: e.message });
      }
    });
  });
  const finish = (why) => {
    const bad = problems.concat(checkTrees(spans, expect));
    if (why) bad.push(why);
    const traces = new Set(spans.map((sp) => hex(sp.traceId))).size;
    if (bad.length) {
      for (const b of bad) console.error(`receiver: ${b}`);
      console.error(`receiver: FAILED: ${spans.length} spans in ${requests} requests`);
    } else {
      console.log(`receiver: ok: ${spans.length} spans in ${traces} traces and ${requests} requests ` +
        'verified against opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
    }
    server.close();
    process.exit(bad.length ? 1 : 0);
  };
  server.listen(0, '127.0.0.1', () => {
    fs.writeFileSync(portFile + '.tmp', String(server.address().port));
    fs.renameSync(portFile + '.tmp', portFile);
  });
  process.on('SIGTERM', () => finish(null));
  setTimeout(() => finish(`timed out after ${timeoutMs} ms`), timeoutMs).unref();
}

function main(argv) {
  if (argv.includes('--selftest')) return selftest();
  const arg = (name, dflt) => {
    const i = argv.indexOf(name);
    return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
  };
  const portFile = arg('--port-file', null);
  const expect = Number(arg('--expect', 'NaN'));
  const timeoutMs = Number(arg('--timeout-ms', '60000'));
  if (!portFile || !Number.isInteger(expect) || !Number.isInteger(timeoutMs)) {
    console.error('usage: node receiver.js --port-file FILE --expect N [--timeout-ms T] | --selftest');
    process.exit(2);
  }
  return serve(portFile, expect, timeoutMs);
}

main(process.argv.slice(2));

// helpers/otlp.mjs - hand-built OTLP payloads for the curl and bad-input
// tests: a tiny protobuf writer/reader (so tests can also build payloads no
// SDK would send: ids of the wrong length, wrong wire types, lying frames),
// the OTLP/JSON form of the same description, and the JSON the flywheel API
// is expected to answer for it (docs/API.md).
//
// Description format (AnyValue is tagged):
//   AnyValue: {s:'x'} | {b:true} | {i:'42'} | {d:1.5} | {bytes:Buffer} | {arr:[AnyValue]} | {kv:[[k, AnyValue]]} | {}
//   span: {traceId, spanId, parentSpanId?, traceState?, flags?, name, kind (OTLP 0..5),
//          start, end (unix nano, string or bigint), attrs:[[k, AnyValue]],
//          events:[{name, time, attrs}], links:[{traceId, spanId, traceState?, flags?, attrs}],
//          status:{code 0..2, message}}
//   traces request: {resource:{attrs}, scope:{name, version}, spans:[span]}  (or an array of those)

import { randomBytes } from 'node:crypto';

export const randomTraceId = () => randomBytes(16).toString('hex');
export const randomSpanId = () => randomBytes(8).toString('hex');

// ---------- protobuf writer ----------
export function varint(v) {
  let x = BigInt.asUintN(64, BigInt(v));
  const out = [];
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
  return Buffer.from(out);
}
export const pbKey = (field, wt) => varint((field << 3) | wt);
export const pbVarint = (f, v) => Buffer.concat([pbKey(f, 0), varint(v)]);
export const pbLen = (f, buf) => Buffer.concat([pbKey(f, 2), varint(buf.length), buf]);
export const pbStr = (f, s) => pbLen(f, Buffer.from(s, 'utf8'));
export function pbFixed64(f, v) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)));
  return Buffer.concat([pbKey(f, 1), b]);
}
export function pbFixed32(f, v) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return Buffer.concat([pbKey(f, 5), b]);
}
export function pbDouble(f, x) {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(x);
  return Buffer.concat([pbKey(f, 1), b]);
}

const idBuf = (id) => (Buffer.isBuffer(id) ? id : Buffer.from(id, 'hex'));

export function pbAnyValue(v) {
  if ('s' in v) return pbStr(1, v.s);
  if ('b' in v) return pbVarint(2, v.b ? 1 : 0);
  if ('i' in v) return pbVarint(3, BigInt(v.i));
  if ('d' in v) return pbDouble(4, v.d);
  if ('arr' in v) return pbLen(5, Buffer.concat(v.arr.map((x) => pbLen(1, pbAnyValue(x)))));
  if ('kv' in v) return pbLen(6, Buffer.concat(v.kv.map(([k, x]) => pbLen(1, pbKeyValue(k, x)))));
  if ('bytes' in v) return pbLen(7, v.bytes);
  return Buffer.alloc(0);
}
export const pbKeyValue = (k, v) => Buffer.concat([pbStr(1, k), pbLen(2, pbAnyValue(v))]);
const pbAttrs = (f, attrs = []) => Buffer.concat(attrs.map(([k, v]) => pbLen(f, pbKeyValue(k, v))));

function pbResource(r = {}) {
  return pbAttrs(1, r.attrs);
}
function pbScope(s = {}) {
  return Buffer.concat([s.name ? pbStr(1, s.name) : Buffer.alloc(0), s.version ? pbStr(2, s.version) : Buffer.alloc(0)]);
}

export function pbSpan(s) {
  const parts = [pbLen(1, idBuf(s.traceId)), pbLen(2, idBuf(s.spanId))];
  if (s.traceState) parts.push(pbStr(3, s.traceState));
  if (s.parentSpanId) parts.push(pbLen(4, idBuf(s.parentSpanId)));
  parts.push(pbStr(5, s.name));
  if (s.kind) parts.push(pbVarint(6, s.kind));
  parts.push(pbFixed64(7, BigInt(s.start)), pbFixed64(8, BigInt(s.end)));
  parts.push(pbAttrs(9, s.attrs));
  for (const e of s.events ?? []) {
    parts.push(pbLen(11, Buffer.concat([pbFixed64(1, BigInt(e.time)), pbStr(2, e.name), pbAttrs(3, e.attrs)])));
  }
  for (const l of s.links ?? []) {
    const lp = [pbLen(1, idBuf(l.traceId)), pbLen(2, idBuf(l.spanId))];
    if (l.traceState) lp.push(pbStr(3, l.traceState));
    lp.push(pbAttrs(4, l.attrs));
    if (l.flags) lp.push(pbFixed32(6, l.flags));
    parts.push(pbLen(13, Buffer.concat(lp)));
  }
  if (s.status) {
    const sp = [];
    if (s.status.message) sp.push(pbStr(2, s.status.message));
    if (s.status.code) sp.push(pbVarint(3, s.status.code));
    parts.push(pbLen(15, Buffer.concat(sp)));
  }
  if (s.flags) parts.push(pbFixed32(16, s.flags));
  return Buffer.concat(parts);
}

const asList = (x) => (Array.isArray(x) ? x : [x]);

export function pbTracesRequest(req) {
  return Buffer.concat(asList(req).map((rs) => pbLen(1, Buffer.concat([
    pbLen(1, pbResource(rs.resource)),
    pbLen(2, Buffer.concat([pbLen(1, pbScope(rs.scope)), ...rs.spans.map((s) => pbLen(2, pbSpan(s)))])),
  ]))));
}

export function pbLogRecord(r) {
  const parts = [];
  if (r.time) parts.push(pbFixed64(1, BigInt(r.time)));
  if (r.severityNumber) parts.push(pbVarint(2, r.severityNumber));
  if (r.severityText) parts.push(pbStr(3, r.severityText));
  if (r.body) parts.push(pbLen(5, pbAnyValue(r.body)));
  parts.push(pbAttrs(6, r.attrs));
  if (r.flags) parts.push(pbFixed32(8, r.flags));
  if (r.traceId) parts.push(pbLen(9, idBuf(r.traceId)));
  if (r.spanId) parts.push(pbLen(10, idBuf(r.spanId)));
  if (r.observedTime) parts.push(pbFixed64(11, BigInt(r.observedTime)));
  if (r.eventName) parts.push(pbStr(12, r.eventName));
  return Buffer.concat(parts);
}

export function pbLogsRequest(req) {
  return Buffer.concat(asList(req).map((rl) => pbLen(1, Buffer.concat([
    pbLen(1, pbResource(rl.resource)),
    pbLen(2, Buffer.concat([pbLen(1, pbScope(rl.scope)), ...rl.logs.map((r) => pbLen(2, pbLogRecord(r)))])),
  ]))));
}

/** gRPC length-prefixed message; |declaredLen| lets a test lie. */
export function grpcFrame(msg, { compressed = false, declaredLen } = {}) {
  const h = Buffer.alloc(5);
  h[0] = compressed ? 1 : 0;
  h.writeUInt32BE((declaredLen ?? msg.length) >>> 0, 1);
  return Buffer.concat([h, msg]);
}

// ---------- protobuf reader ----------
function readVarint(buf, pos) {
  let x = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    x |= BigInt(b & 0x7f) << shift;
    if (!(b & 0x80)) return [x, pos];
    shift += 7n;
    if (shift > 63n) throw new Error('varint too long');
  }
}

/** Decodes one message level into {fieldNumber: [value]} (varint: BigInt, len: Buffer). */
export function pbFields(buf) {
  const out = {};
  let pos = 0;
  while (pos < buf.length) {
    let k;
    [k, pos] = readVarint(buf, pos);
    const f = Number(k >> 3n);
    const wt = Number(k & 7n);
    let v;
    if (wt === 0) {
      [v, pos] = readVarint(buf, pos);
    } else if (wt === 1) {
      v = buf.subarray(pos, pos + 8);
      pos += 8;
    } else if (wt === 2) {
      let n;
      [n, pos] = readVarint(buf, pos);
      v = buf.subarray(pos, pos + Number(n));
      pos += Number(n);
    } else if (wt === 5) {
      v = buf.subarray(pos, pos + 4);
      pos += 4;
    } else {
      throw new Error(`unsupported wire type ${wt}`);
    }
    if (pos > buf.length) throw new Error('truncated field');
    (out[f] ??= []).push(v);
  }
  return out;
}

/** ExportTraceServiceResponse / ExportLogsServiceResponse -> {rejected, errorMessage} | null. */
export function decodeExportResponse(buf) {
  const top = pbFields(buf);
  if (!top[1]) return { partialSuccess: null };
  const ps = pbFields(top[1][0]);
  return {
    partialSuccess: {
      rejected: ps[1] ? Number(ps[1][0]) : 0,
      errorMessage: ps[2] ? ps[2][0].toString('utf8') : '',
    },
  };
}

/** google.rpc.Status -> {code, message, details: [Buffer]} */
export function decodeStatus(buf) {
  const f = pbFields(buf);
  return {
    code: f[1] ? Number(BigInt.asIntN(32, f[1][0])) : 0,
    message: f[2] ? f[2][0].toString('utf8') : '',
    details: f[3] ?? [],
  };
}

// ---------- OTLP/JSON ----------
export function jsonAnyValue(v) {
  if ('s' in v) return { stringValue: v.s };
  if ('b' in v) return { boolValue: v.b };
  if ('i' in v) return { intValue: String(v.i) };
  if ('d' in v) return { doubleValue: v.d };
  if ('arr' in v) return { arrayValue: { values: v.arr.map(jsonAnyValue) } };
  if ('kv' in v) return { kvlistValue: { values: v.kv.map(([k, x]) => ({ key: k, value: jsonAnyValue(x) })) } };
  if ('bytes' in v) return { bytesValue: v.bytes.toString('base64') };
  return {};
}
const jsonAttrs = (attrs = []) => attrs.map(([k, v]) => ({ key: k, value: jsonAnyValue(v) }));
const hexId = (id) => (Buffer.isBuffer(id) ? id.toString('hex') : id);

export function jsonSpan(s) {
  const o = {
    traceId: hexId(s.traceId),
    spanId: hexId(s.spanId),
    name: s.name,
    kind: s.kind ?? 0,
    startTimeUnixNano: String(s.start),
    endTimeUnixNano: String(s.end),
    attributes: jsonAttrs(s.attrs),
    events: (s.events ?? []).map((e) => ({ timeUnixNano: String(e.time), name: e.name, attributes: jsonAttrs(e.attrs) })),
    links: (s.links ?? []).map((l) => ({
      traceId: hexId(l.traceId), spanId: hexId(l.spanId), traceState: l.traceState ?? '',
      attributes: jsonAttrs(l.attrs), flags: l.flags ?? 0,
    })),
    status: s.status ? { code: s.status.code ?? 0, message: s.status.message ?? '' } : {},
  };
  if (s.parentSpanId) o.parentSpanId = hexId(s.parentSpanId);
  if (s.traceState) o.traceState = s.traceState;
  if (s.flags) o.flags = s.flags;
  return o;
}

export function jsonTracesRequest(req) {
  return {
    resourceSpans: asList(req).map((rs) => ({
      resource: { attributes: jsonAttrs(rs.resource?.attrs) },
      scopeSpans: [{ scope: { name: rs.scope?.name ?? '', version: rs.scope?.version ?? '' }, spans: rs.spans.map(jsonSpan) }],
    })),
  };
}

export function jsonLogRecord(r) {
  const o = { attributes: jsonAttrs(r.attrs) };
  if (r.time) o.timeUnixNano = String(r.time);
  if (r.observedTime) o.observedTimeUnixNano = String(r.observedTime);
  if (r.severityNumber) o.severityNumber = r.severityNumber;
  if (r.severityText) o.severityText = r.severityText;
  if (r.body) o.body = jsonAnyValue(r.body);
  if (r.traceId) o.traceId = hexId(r.traceId);
  if (r.spanId) o.spanId = hexId(r.spanId);
  if (r.flags) o.flags = r.flags;
  if (r.eventName) o.eventName = r.eventName;
  return o;
}

export function jsonLogsRequest(req) {
  return {
    resourceLogs: asList(req).map((rl) => ({
      resource: { attributes: jsonAttrs(rl.resource?.attrs) },
      scopeLogs: [{ scope: { name: rl.scope?.name ?? '', version: rl.scope?.version ?? '' }, logRecords: rl.logs.map(jsonLogRecord) }],
    })),
  };
}

// ---------- what the API should answer (docs/API.md) ----------
export function apiValue(v) {
  if ('s' in v) return v.s;
  if ('b' in v) return v.b;
  if ('i' in v) return Number(v.i);
  if ('d' in v) return Number.isFinite(v.d) ? v.d : String(v.d); // "NaN", "Infinity", "-Infinity"
  if ('arr' in v) return v.arr.map(apiValue);
  if ('kv' in v) return Object.fromEntries(v.kv.map(([k, x]) => [k, apiValue(x)]));
  if ('bytes' in v) return v.bytes.toString('base64');
  return null;
}
export const apiAttrs = (attrs = []) => Object.fromEntries(attrs.map(([k, v]) => [k, apiValue(v)]));

export const KIND_NAMES = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
export const STATUS_NAMES = ['unset', 'ok', 'error'];

/** RFC 3339 UTC with nine fractional digits, from unix nanoseconds. */
export function rfc3339Nano(ns) {
  const n = BigInt(ns);
  const sec = n / 1000000000n;
  const frac = n % 1000000000n;
  const iso = new Date(Number(sec) * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  return `${iso.slice(0, 19)}.${frac.toString().padStart(9, '0')}Z`;
}

/** A few seconds ago, in unix nanoseconds, as a BigInt (kept inside the retention window). */
export function recentNanos(offsetMs = 0) {
  return (BigInt(Date.now() - 5000 + offsetMs)) * 1000000n + 123456n;
}

/** The span JSON of docs/API.md for a described span of resource-spans |rs|. */
export function apiSpan(s, rs) {
  const attrsOf = (a) => apiAttrs(a);
  return {
    trace_id: hexId(s.traceId),
    span_id: hexId(s.spanId),
    parent_span_id: s.parentSpanId ? hexId(s.parentSpanId) : null,
    trace_state: s.traceState ?? '',
    flags: s.flags ?? 0,
    name: s.name,
    kind: KIND_NAMES[s.kind ?? 0],
    start_time: rfc3339Nano(s.start),
    start_time_unix_nano: String(s.start),
    end_time: rfc3339Nano(s.end),
    end_time_unix_nano: String(s.end),
    service: apiAttrs(rs.resource?.attrs)['service.name'],
    status: { code: STATUS_NAMES[s.status?.code ?? 0], message: s.status?.message ?? '' },
    attributes: attrsOf(s.attrs),
    dropped_attributes_count: 0,
    events: (s.events ?? []).map((e) => ({
      name: e.name, time: rfc3339Nano(e.time), time_unix_nano: String(e.time),
      attributes: attrsOf(e.attrs), dropped_attributes_count: 0,
    })),
    dropped_events_count: 0,
    links: (s.links ?? []).map((l) => ({
      trace_id: hexId(l.traceId), span_id: hexId(l.spanId), trace_state: l.traceState ?? '',
      flags: l.flags ?? 0, attributes: attrsOf(l.attrs), dropped_attributes_count: 0,
    })),
    dropped_links_count: 0,
    resource: { attributes: apiAttrs(rs.resource?.attrs), dropped_attributes_count: 0, schema_url: '' },
    scope: { name: rs.scope?.name ?? '', version: rs.scope?.version ?? '' },
  };
}

/** The log JSON of docs/API.md for a described record of resource-logs |rl|. */
export function apiLog(r, rl) {
  return {
    time: r.time ? rfc3339Nano(r.time) : null,
    time_unix_nano: String(r.time ?? 0),
    severity_number: r.severityNumber ?? 0,
    severity_text: r.severityText ?? '',
    body: r.body ? apiValue(r.body) : null,
    attributes: apiAttrs(r.attrs),
    dropped_attributes_count: 0,
    trace_id: r.traceId ? hexId(r.traceId) : null,
    span_id: r.spanId ? hexId(r.spanId) : null,
    flags: r.flags ?? 0,
    event_name: r.eventName ?? '',
    service: apiAttrs(rl.resource?.attrs)['service.name'],
    resource: { attributes: apiAttrs(rl.resource?.attrs) },
    scope: { name: rl.scope?.name ?? '', version: rl.scope?.version ?? '' },
  };
}

/**
 * A realistic three-span trace that uses every AnyValue kind, for hand-built
 * requests. |opts.nonFinite| adds NaN/Infinity doubles (protobuf only: OTLP/JSON
 * cannot carry them as numbers).
 */
export function sampleTrace(serviceName, opts = {}) {
  const traceId = opts.traceId ?? randomTraceId();
  const rootId = randomSpanId();
  const childId = randomSpanId();
  const t0 = recentNanos();
  const attrs = [
    ['http.request.method', { s: 'POST' }],
    ['http.route', { s: '/orders/{id}' }],
    ['http.response.status_code', { i: '201' }],
    ['neg.int', { i: '-42' }],
    ['big.int', { i: '9007199254740993' }],
    ['min.int', { i: '-9223372036854775808' }],
    ['ratio', { d: 0.1 }],
    ['tiny', { d: 1.5e-300 }],
    ['ok', { b: true }],
    ['nope', { b: false }],
    ['blob', { bytes: Buffer.from([0, 1, 2, 3, 254, 255]) }],
    ['list', { arr: [{ s: 'a' }, { i: '2' }, { d: 2.5 }, { b: true }, { arr: [{ s: 'nested' }] }] }],
    ['map', { kv: [['k1', { s: 'v1' }], ['k2', { i: '7' }], ['inner', { kv: [['deep', { b: false }]] }]] }],
    ['empty', {}],
    ['unicode', { s: 'Grüße, 世界 ✓ "quoted" \\ back' }],
  ];
  if (opts.nonFinite) {
    attrs.push(['nan', { d: NaN }], ['inf', { d: Infinity }], ['ninf', { d: -Infinity }]);
  }
  const linkTrace = randomTraceId();
  const linkSpan = randomSpanId();
  const req = {
    resource: { attrs: [['service.name', { s: serviceName }], ['service.version', { s: '2.0.0' }], ['k8s.pod.name', { s: 'orders-7f9c' }]] },
    scope: { name: 'hand-built', version: '1.0' },
    spans: [
      {
        traceId, spanId: rootId, name: 'POST /orders/{id}', kind: 2, start: t0, end: t0 + 2500000n,
        traceState: 'ot=th:0', flags: 0x301,
        attrs,
        events: [{ name: 'order.validated', time: t0 + 100000n, attrs: [['items', { i: '3' }], ['express', { b: true }]] }],
        links: [{ traceId: linkTrace, spanId: linkSpan, traceState: 'vendor=x', flags: 1, attrs: [['why', { s: 'batch' }]] }],
        status: { code: 1 },
      },
      {
        traceId, spanId: childId, parentSpanId: rootId, name: 'INSERT orders', kind: 3,
        start: t0 + 200000n, end: t0 + 1900000n,
        attrs: [['db.system.name', { s: 'postgresql' }], ['db.operation.name', { s: 'INSERT' }]],
        events: [{ name: 'exception', time: t0 + 1800000n, attrs: [['exception.type', { s: 'UniqueViolation' }], ['exception.message', { s: 'duplicate key' }]] }],
        status: { code: 2, message: 'duplicate key value violates unique constraint' },
      },
      {
        traceId, spanId: randomSpanId(), parentSpanId: childId, name: 'serialize', kind: 1,
        start: t0 + 300000n, end: t0 + 400000n, attrs: [],
      },
    ],
  };
  return { traceId, req };
}

/** Compares an API trace answer with a described request (every span, every field). */
export function expectedTraceSpans(req) {
  const out = [];
  for (const rs of asList(req)) for (const s of rs.spans) out.push(apiSpan(s, rs));
  return out;
}

// tests/accuracy/foreign/gen.mjs - an incident generator independent of
// `flywheel simulate`: it plays one of the apps of apps.mjs for a backdated
// window (entry traffic as a Poisson process with a slow wobble, lognormal
// per-operation times, caches, replicas with k8s pod/node names, background
// errors, an optional steady decoy and an earlier transient blip), injects
// one fault at a known onset and hands OTLP protobuf ExportTraceServiceRequest
// bodies, in event-time order, to an async sink.
//
// Faults (shaped after the public RCA benchmarks' chaos experiments):
//   cpu        target's own processing time x factor (noisy), from onset
//   memleak    target's own time ramps up after onset, GC pauses, a few OOM errors
//   netdelay   +ms each way on calls INTO the target: the caller's client span
//              grows, the target's server span does not
//   loss       packet loss on calls into the target: TCP retransmission stalls,
//              some calls time out on the client with no server span, retried once
//   kill       every pod of the target gone for durationMs: callers get
//              connection refused / UNAVAILABLE, the target emits nothing, then
//              comes back with new pod names
//   badpod     one replica of the target fails (err) and/or is slow (lat factor)
//   code       the target raises exceptions on a share of requests (no deploy)
//   deploy     a rolling update of the target to newVersion raises exceptions
//   dep-error  an uninstrumented dependency refuses connections (share err)
//   dep-throttle  an uninstrumented dependency throttles (HTTP 429 / AWS
//              ProvisionedThroughputExceededException) on a share p
//   dep-slow   an uninstrumented dependency answers factor x slower
import { pbTracesRequest } from '../../integration/helpers/otlp.mjs';
import { APPS } from './apps.mjs';

const MS = 1000000n;

export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => {
    const u = Math.max(next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  };
  return {
    next,
    normal,
    logn: (median, sigma) => median * Math.exp(sigma * normal()),
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    hex: (bytes) => {
      let s = '';
      for (let i = 0; i < bytes; i++) s += Math.floor(next() * 256).toString(16).padStart(2, '0');
      return s;
    },
    alnum: (n) => {
      const cs = 'bcdfghjklmnpqrstvwxz2456789';
      let s = '';
      for (let i = 0; i < n; i++) s += cs[Math.floor(next() * cs.length)];
      return s;
    },
  };
}

const ns = (ms) => BigInt(Math.round(ms * 1000)) * 1000n;
const S = (v) => ({ s: String(v) });
const I = (v) => ({ i: String(Math.trunc(v)) });

const SCOPES = {
  go: ['go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc', '0.46.1'],
  gohttp: ['go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp', '0.46.1'],
  nodejs: ['@opentelemetry/instrumentation-http', '0.45.1'],
  dotnet: ['OpenTelemetry.Instrumentation.AspNetCore', '1.0.0-rc9.14'],
  python: ['opentelemetry.instrumentation.grpc', '0.41b0'],
  java: ['io.opentelemetry.spring-webmvc-5.3', '1.32.0-alpha'],
  cpp: ['nginx', '1.0.4'],
};

// GRPC status codes used below.
const GRPC = { OK: 0, UNKNOWN: 2, DEADLINE: 4, INTERNAL: 13, UNAVAILABLE: 14 };

/**
 * Plays scenario |sc| and awaits sink(body) for each protobuf body.
 * sc: {app, seed, fault, decoy?, blip?, rate?}; opt: {startMs, endMs, onsetMs}.
 * Returns {spans, traces, truth-relevant facts (bad pod name, new version)}.
 */
export async function generate(sc, opt, sink) {
  const app = APPS[sc.app];
  const r = rng(sc.seed);
  const f = sc.fault;
  const onset = opt.onsetMs;
  const nodes = [0, 1, 2].map(() => `gke-prod-pool-1-${r.hex(4)}-${r.alnum(4)}`);

  // ---- pods over time -------------------------------------------------
  const pods = {}; // svc -> [{pod, node, version, from, to}]
  const newPod = (svc, version, from, to) => ({ pod: `${svc}-${r.hex(5).slice(0, 9)}-${r.alnum(5)}`,
    node: r.pick(nodes), version, from, to });
  for (const [name, s] of Object.entries(app.services)) {
    pods[name] = [];
    for (let i = 0; i < s.replicas; i++) pods[name].push(newPod(name, s.version, -Infinity, Infinity));
  }
  const facts = {};
  if (f.kind === 'deploy') {
    // rolling update: one new pod every 20 s, an old one retired as it is ready
    const old = pods[f.target];
    old.forEach((p, i) => {
      const at = onset + i * 20000;
      p.to = at;
      old.push(newPod(f.target, f.newVersion, at, Infinity));
    });
    facts.version = f.newVersion;
  }
  if (f.kind === 'kill') {
    for (const p of pods[f.target]) p.to = onset;
    const back = onset + f.durationMs;
    const n = app.services[f.target].replicas;
    for (let i = 0; i < n; i++) pods[f.target].push(newPod(f.target, app.services[f.target].version, back, Infinity));
  }
  if (f.kind === 'badpod') facts.instance = pods[f.target][0].pod;
  const podsAt = (svc, t) => pods[svc].filter((p) => p.from <= t && t < p.to);

  // ---- fault effects --------------------------------------------------
  const after = (t) => t >= onset;
  const selfMult = (svc, pod, t) => {
    if (f.target !== svc || !after(t)) return 1;
    if (f.kind === 'cpu') return f.factor * Math.max(0.4, 1 + 0.35 * r.normal());
    if (f.kind === 'memleak') {
      const ramp = Math.min(1, (t - onset) / 360000);
      let m = 1 + (f.factor - 1) * ramp * Math.max(0.3, 1 + 0.3 * r.normal());
      if (r.next() < 0.04 * ramp) m += 150 / 3; // a GC pause on top
      return m;
    }
    if (f.kind === 'badpod' && pod.pod === facts.instance) return f.lat ?? 1;
    return 1;
  };
  const extraErr = (svc, pod, t) => {
    let e = 0;
    if (sc.decoy && sc.decoy.svc === svc) e += sc.decoy.err;
    if (sc.blip && sc.blip.svc === svc && t >= onset - sc.blip.beforeMs && t < onset - sc.blip.beforeMs + sc.blip.durMs) e += sc.blip.err;
    if (f.target !== svc || !after(t)) return e;
    if (f.kind === 'code') e += f.err;
    if (f.kind === 'deploy' && pod.version === f.newVersion) e += f.err;
    if (f.kind === 'badpod' && pod.pod === facts.instance) e += f.err ?? 0;
    if (f.kind === 'memleak') e += 0.01 * Math.min(1, (t - onset) / 360000);
    return e;
  };
  const netExtra = (callee, t) => (f.kind === 'netdelay' && f.target === callee && after(t)
    ? Math.max(5, f.ms * (1 + 0.25 * r.normal())) : 0);

  // ---- span buffers, grouped by resource ------------------------------
  const res = new Map();
  let buffered = 0;
  let total = 0;
  let traces = 0;
  const resourceOf = (svc, pod) => {
    const key = `${svc}|${pod.pod}|${pod.version}`;
    let e = res.get(key);
    if (!e) {
      const s = app.services[svc];
      const scope = SCOPES[svc === app.entry && s.lang === 'go' ? 'gohttp' : s.lang];
      e = {
        resource: { attrs: [
          ['service.name', S(svc)], ['service.version', S(pod.version)],
          ['service.instance.id', S(`${pod.pod}-${r.hex(4)}`)],
          ['telemetry.sdk.language', S(s.lang)], ['telemetry.sdk.name', S('opentelemetry')],
          ['k8s.namespace.name', S(sc.app)], ['k8s.pod.name', S(pod.pod)],
          ['k8s.deployment.name', S(svc)], ['k8s.node.name', S(pod.node)],
          ['container.id', S(r.hex(32))],
        ] },
        scope: { name: scope[0], version: scope[1] },
        spans: [],
      };
      res.set(key, e);
    }
    return e;
  };
  const emit = (svc, pod, span) => {
    resourceOf(svc, pod).spans.push(span);
    buffered++;
    total++;
  };
  async function flush() {
    if (!buffered) return;
    const list = [];
    for (const e of res.values()) if (e.spans.length) { list.push({ ...e }); e.spans = []; }
    buffered = 0;
    // ~1000 spans a body, like a batching span processor
    let cur = [];
    let n = 0;
    for (const e of list) {
      cur.push(e);
      n += e.spans.length;
      if (n >= 1000) { await sink(pbTracesRequest(cur)); cur = []; n = 0; }
    }
    if (cur.length) await sink(pbTracesRequest(cur));
  }

  // ---- attribute shapes ------------------------------------------------
  const style = app.style;
  const fillPath = (route) => route.replace(/[:{]([A-Za-z]+)\}?/g, () => r.hex(4));
  const methodOf = (op) => (/^(GET|POST|PUT|DELETE|PATCH) /.exec(op) || [null, 'POST'])[1];
  const routeOf = (op) => op.replace(/^(GET|POST|PUT|DELETE|PATCH) /, '');

  function serverShape(svc, op, status) {
    const s = app.services[svc];
    if (style === 'grpc' && !s.http) {
      return { name: `${s.rpcService}/${op}`, attrs: [
        ['rpc.system', S('grpc')], ['rpc.service', S(s.rpcService)], ['rpc.method', S(op)],
        ['rpc.grpc.status_code', I(status)], ['network.peer.address', S(`10.8.${r.int(0, 9)}.${r.int(2, 250)}`)]] };
    }
    const method = methodOf(op);
    const route = routeOf(op);
    if (style === 'http-old') {
      return { name: svc === app.entry ? op : route, attrs: [
        ['http.method', S(method)], ['http.route', S(route)], ['http.target', S(fillPath(route))],
        ['http.scheme', S('http')], ['net.host.name', S(svc)], ['http.status_code', I(status)],
        ['http.user_agent', S('Mozilla/5.0')]] };
    }
    return { name: `${method} ${route}`, attrs: [
      ['http.request.method', S(method)], ['http.route', S(route)], ['url.path', S(fillPath(route))],
      ['url.scheme', S('http')], ['server.address', S(svc)], ['http.response.status_code', I(status)],
      ['user_agent.original', S(svc === app.entry ? 'Locust/2.15' : 'node-fetch/1.0')]] };
  }
  function clientShape(callee, op, status /* null: no response */) {
    const s = app.services[callee];
    if (style === 'grpc') {
      const a = [['rpc.system', S('grpc')], ['rpc.service', S(s.rpcService)], ['rpc.method', S(op)],
        ['server.address', S(callee)], ['server.port', I(s.lang === 'dotnet' ? 7070 : 50051)]];
      a.push(['rpc.grpc.status_code', I(status)]);
      return { name: `${s.rpcService}/${op}`, attrs: a };
    }
    const method = methodOf(op);
    const path = fillPath(routeOf(op));
    if (style === 'http-old') {
      const a = [['http.method', S(method)], ['http.url', S(`http://${callee}:8080${path}`)],
        ['net.peer.name', S(callee)], ['net.peer.port', I(8080)]];
      if (status !== null) a.push(['http.status_code', I(status)]);
      return { name: `HTTP ${method}`, attrs: a };
    }
    const a = [['http.request.method', S(method)], ['url.full', S(`http://${callee}${path}`)],
      ['server.address', S(callee)], ['server.port', I(80)]];
    if (status !== null) a.push(['http.response.status_code', I(status)]);
    return { name: method, attrs: a };
  }
  function depShape(d, op) {
    const peer = d.oldNames ? [['net.peer.name', S(d.host)], ['net.peer.port', I(d.port)]]
      : (style === 'http-old' ? [['net.peer.name', S(d.host)], ['net.peer.port', I(d.port)]]
        : [['server.address', S(d.host)], ['server.port', I(d.port)]]);
    switch (d.kind) {
      case 'redis':
        return { name: op, kind: 3, attrs: [['db.system', S('redis')], ['db.statement', S(`${op} cart:${r.hex(6)}`)], ...peer] };
      case 'mongodb':
        return { name: `${op} ${d.db}.${d.coll}`, kind: 3, attrs: [['db.system', S('mongodb')], ['db.name', S(d.db)],
          ['db.operation', S(op)], ['db.mongodb.collection', S(d.coll)], ...peer] };
      case 'mysql':
        return { name: `SELECT ${d.db}.sock`, kind: 3, attrs: [['db.system', S('mysql')], ['db.name', S(d.db)],
          ['db.operation', S('SELECT')], ['db.statement', S('SELECT * FROM sock JOIN sock_tag ON sock.sock_id=sock_tag.sock_id WHERE sock.sock_id = ?')], ...peer] };
      case 'dynamodb':
        return { name: `DynamoDB.${op}`, kind: 3, attrs: [['rpc.system', S('aws-api')], ['rpc.service', S('DynamoDB')],
          ['rpc.method', S(op)], ['db.system', S('dynamodb')], ['aws.dynamodb.table_names', { arr: [S(d.table)] }],
          ['cloud.region', S('eu-west-1')], ...peer] };
      case 'rabbitmq':
        return { name: `${d.queue} publish`, kind: 4, attrs: [['messaging.system', S('rabbitmq')],
          ['messaging.destination.name', S(d.queue)], ['messaging.operation', S('publish')], ...peer] };
      default: // external HTTP API
        return { name: op, kind: 3, attrs: [['http.request.method', S(op)], ['url.full', S(`https://${d.host}${d.path}`)],
          ['server.address', S(d.host)], ['server.port', I(d.port)]] };
    }
  }
  const exceptionEvent = (t, type, msg) => ({ name: 'exception', time: ns(t), attrs: [
    ['exception.type', S(type)], ['exception.message', S(msg)],
    ['exception.stacktrace', S(`${type}: ${msg}\n\tat handler (${r.hex(3)}.java:${r.int(20, 400)})`)]] });
  const ownException = (svc) => {
    const lang = app.services[svc].lang;
    if (f.kind === 'deploy' && f.target === svc) return [f.exType ?? 'java.lang.NullPointerException', f.exMsg ?? 'Cannot invoke "Object.toString()" because "item" is null'];
    if (f.kind === 'code' && f.target === svc) return [f.exType ?? 'java.lang.IllegalStateException', f.exMsg ?? 'station id not found'];
    if (lang === 'java') return ['java.lang.RuntimeException', 'request failed'];
    if (lang === 'python') return ['smtplib.SMTPServerDisconnected', 'Connection unexpectedly closed'];
    if (lang === 'nodejs') return ['Error', 'request failed'];
    if (lang === 'dotnet') return ['System.InvalidOperationException', 'request failed'];
    return ['*errors.errorString', 'request failed'];
  };

  // ---- one server span (and its subtree) ---------------------------------
  // Returns {end, ok, code} where code is the gRPC code or HTTP status.
  function serve(traceId, parentId, svc, op, t0, pod) {
    const s = app.services[svc];
    const o = s.ops[op];
    const spanId = r.hex(8);
    const mult = selfMult(svc, pod, t0);
    let self = r.logn(o.self[0], o.self[1]) * mult;
    // a CPU-starved container also waits out CFS throttling (100 ms periods)
    if (f.kind === 'cpu' && f.target === svc && after(t0) && r.next() < 0.5) self += r.next() * 100;
    let t = t0 + self * 0.4;
    let inner = spanId;
    let internal = null;
    if (o.internal) {
      internal = { traceId, spanId: r.hex(8), parentSpanId: spanId, name: o.internal, kind: 1, start: ns(t), attrs: [] };
      inner = internal.spanId;
    }
    const hit = o.cache && r.next() < o.cache;
    let failed = null; // {why, propagated}
    const par = o.calls.filter((c) => c.par);
    let parDone = false;
    for (const c of o.calls) {
      if (failed) break;
      if (c.cacheable && hit) continue;
      if (c.p !== undefined && r.next() >= c.p) continue;
      if (c.par) {
        if (parDone) continue;
        parDone = true;
        let end = t;
        for (const pc of par) {
          const res2 = call(traceId, inner, svc, pod, pc, t + r.next() * 0.3);
          end = Math.max(end, res2.end);
          if (!res2.ok && pc.critical !== false) failed = failed || { propagated: res2 };
        }
        t = end;
        continue;
      }
      const n = c.n ? r.int(c.n[0], c.n[1]) : 1;
      for (let k = 0; k < n && !failed; k++) {
        const res2 = call(traceId, inner, svc, pod, c, t);
        t = res2.end + r.logn(0.05, 0.5);
        if (!res2.ok && c.critical !== false) failed = { propagated: res2 };
      }
    }
    if (!failed && r.next() < (o.err ?? 0.0005) + extraErr(svc, pod, t)) failed = { own: true };
    t += self * (failed ? 0.2 : 0.6);
    if (internal) {
      internal.end = ns(t);
      if (failed && s.lang === 'java') internal.status = { code: 2 };
      emit(svc, pod, internal);
    }
    t += 0.05;
    const grpcNative = style === 'grpc' && !s.http;
    let code;
    if (!failed) code = grpcNative ? GRPC.OK : 200;
    else if (grpcNative) code = failed.own ? GRPC.INTERNAL : GRPC.UNKNOWN;
    else if (s.lang === 'cpp' && failed.propagated && failed.propagated.noResponse) code = 502;
    else code = 500;
    const shape = serverShape(svc, op, code);
    const span = { traceId, spanId, parentSpanId: parentId, name: shape.name, kind: 2, start: ns(t0), end: ns(t), attrs: shape.attrs };
    if (failed) {
      span.status = { code: 2, message: failed.own ? ownException(svc)[1] : 'upstream call failed' };
      if (failed.own) {
        const [ty, msg] = ownException(svc);
        span.events = [exceptionEvent(t - 0.1, ty, msg)];
      } else if (s.lang === 'java') {
        span.events = [exceptionEvent(t - 0.1, 'org.springframework.web.client.HttpServerErrorException$InternalServerError', '500 Internal Server Error')];
      }
    }
    emit(svc, pod, span);
    return { end: t, ok: !failed, code };
  }

  // ---- one outgoing call --------------------------------------------------
  function call(traceId, parentId, svc, pod, c, t0, attempt = 0) {
    if (c.dep) return depCall(traceId, parentId, svc, pod, c, t0);
    const callee = c.svc;
    const spanId = r.hex(8);
    const lang = app.services[svc].lang;
    const grpcNative = style === 'grpc';
    const clientSpan = (end, status, extra = {}) => {
      const shape = clientShape(callee, c.op, status);
      const sp = { traceId, spanId, parentSpanId: parentId, name: shape.name, kind: 3, start: ns(t0), end: ns(end), attrs: shape.attrs, ...extra };
      emit(svc, pod, sp);
    };
    const alive = podsAt(callee, t0);
    if (!alive.length) {
      // every pod gone: connection refused (gRPC UNAVAILABLE), no server span
      const end = t0 + r.logn(1.5, 0.4);
      const why = grpcNative ? 'connection error: desc = "transport: Error while dialing: dial tcp 10.8.3.17:50051: connect: connection refused"'
        : `connect ECONNREFUSED ${callee}:80`;
      const attrs = {};
      if (!grpcNative) attrs.attrs = [...clientShape(callee, c.op, null).attrs, ['error.type', S(lang === 'java' ? 'java.net.ConnectException' : 'ECONNREFUSED')]];
      const shape = clientShape(callee, c.op, grpcNative ? GRPC.UNAVAILABLE : null);
      emit(svc, pod, { traceId, spanId, parentSpanId: parentId, name: shape.name, kind: 3, start: ns(t0), end: ns(end),
        attrs: attrs.attrs ?? shape.attrs, status: { code: 2, message: why },
        events: [exceptionEvent(end, lang === 'java' ? 'java.net.ConnectException' : 'Error', why)] });
      return { end, ok: false, noResponse: true };
    }
    let out = r.logn(0.25, 0.3) + netExtra(callee, t0);
    let back = r.logn(0.25, 0.3) + netExtra(callee, t0);
    if (f.kind === 'loss' && f.target === callee && after(t0)) {
      const u = r.next();
      if (u < f.timeoutP) {
        // request (or its answer) lost for good: the client gives up
        const timeout = f.timeoutMs;
        const end = t0 + timeout;
        const why = grpcNative ? 'context deadline exceeded' : (lang === 'java' ? 'Read timed out' : 'ETIMEDOUT');
        const shape = clientShape(callee, c.op, grpcNative ? GRPC.DEADLINE : null);
        const attrs = grpcNative ? shape.attrs : [...shape.attrs, ['error.type', S(lang === 'java' ? 'java.net.SocketTimeoutException' : 'ETIMEDOUT')]];
        emit(svc, pod, { traceId, spanId, parentSpanId: parentId, name: shape.name, kind: 3, start: ns(t0), end: ns(end),
          attrs, status: { code: 2, message: why } });
        if (attempt === 0 && f.retry) return call(traceId, parentId, svc, pod, c, end + 5, 1);
        return { end, ok: false, noResponse: true };
      }
      if (u < f.timeoutP + f.retransP) out += r.pick([200, 200, 400, 600]) * (1 + 0.2 * r.next());
    }
    const target = r.pick(alive);
    const res2 = serve(traceId, spanId, callee, c.op, t0 + out, target);
    const end = res2.end + back;
    let status = res2.code;
    if (!grpcNative && style !== 'grpc') status = res2.code;
    const sp = {};
    if (!res2.ok) sp.status = { code: 2, message: grpcNative ? `rpc error: code = ${res2.code}` : `${res2.code}` };
    clientSpan(end, status, sp);
    return { end, ok: res2.ok };
  }

  function depCall(traceId, parentId, svc, pod, c, t0) {
    const d = app.deps[c.dep];
    const shape = depShape(d, c.op);
    let lat = r.logn(d.lat[0], d.lat[1]);
    const hot = f.dep === c.dep && after(t0);
    let status = null;
    let ok = true;
    const events = [];
    const attrs = [...shape.attrs];
    if (hot && f.kind === 'dep-slow') lat *= f.factor * Math.max(0.4, 1 + 0.3 * r.normal());
    if (hot && f.kind === 'dep-error' && r.next() < f.err) {
      ok = false;
      lat = r.logn(d.kind === 'redis' ? 5000 : 30, 0.2); // the client waits its connect timeout
      const [ty, msg] = d.kind === 'redis'
        ? ['StackExchange.Redis.RedisConnectionException', 'No connection is active/available to service this operation: HGET cart']
        : ['com.mongodb.MongoSocketOpenException', 'Exception opening socket'];
      events.push(exceptionEvent(t0 + lat, ty, msg));
      status = { code: 2, message: msg };
    }
    if (hot && f.kind === 'dep-throttle' && r.next() < f.p) {
      ok = false;
      if (d.kind === 'dynamodb') {
        lat += 180; // the SDK's retries with back-off inside the call
        attrs.push(['http.status_code', I(400)], ['aws.request_id', S(r.hex(16).toUpperCase())]);
        events.push(exceptionEvent(t0 + lat, 'ProvisionedThroughputExceededException',
          'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.'));
        status = { code: 2, message: 'ProvisionedThroughputExceededException' };
      } else {
        attrs.push(['http.response.status_code', I(429)]);
        status = { code: 2, message: '' };
      }
    } else if (d.kind === 'http') {
      attrs.push(['http.response.status_code', I(200)]);
    } else if (d.kind === 'dynamodb') {
      attrs.push(['http.status_code', I(200)], ['aws.request_id', S(r.hex(16).toUpperCase())]);
    }
    const spanId = r.hex(8);
    const sp = { traceId, spanId, parentSpanId: parentId, name: shape.name, kind: shape.kind, start: ns(t0), end: ns(t0 + lat), attrs };
    if (status) sp.status = status;
    if (events.length) sp.events = events;
    emit(svc, pod, sp);
    if (d.kind === 'rabbitmq') {
      // queue-master consumes later, as a child of the publish span
      const qt = t0 + lat + r.logn(30, 0.6);
      const qpods = podsAt('queue-master', qt);
      if (qpods.length) {
        const qp = r.pick(qpods);
        const qs = app.services['queue-master'].ops['shipping-task process'];
        emit('queue-master', qp, { traceId, spanId: r.hex(8), parentSpanId: spanId, name: 'shipping-task process', kind: 5,
          start: ns(qt), end: ns(qt + r.logn(qs.self[0], qs.self[1])), attrs: [['messaging.system', S('rabbitmq')],
            ['messaging.destination.name', S(d.queue)], ['messaging.operation', S('process')]] });
      }
    }
    return { end: t0 + lat, ok };
  }

  // ---- entry traffic ------------------------------------------------------
  const rate = sc.rate ?? app.rate;
  const routes = app.routes;
  let t = opt.startMs;
  let nextFlush = t + 10000;
  while (t < opt.endMs) {
    const wobble = 1 + 0.15 * Math.sin((2 * Math.PI * (t - opt.startMs)) / 600000);
    t += -Math.log(Math.max(r.next(), 1e-12)) * 1000 / (rate * wobble);
    if (t >= opt.endMs) break;
    let u = r.next();
    let route = routes[routes.length - 1][0];
    for (const [name, w] of routes) { if (u < w) { route = name; break; } u -= w; }
    const entryPods = podsAt(app.entry, t);
    if (entryPods.length) {
      serve(r.hex(16), undefined, app.entry, route, t, r.pick(entryPods));
      traces++;
    }
    if (t >= nextFlush || buffered > 4000) {
      await flush();
      nextFlush = t + 10000;
    }
  }
  await flush();
  return { spans: total, traces, ...facts };
}

// helpers/shopapp.mjs - a small simulated shop (frontend, checkout, payment,
// inventory, email; a PostgreSQL database and the Stripe API as
// uninstrumented dependencies), written with the official OpenTelemetry JS
// SDK: one BasicTracerProvider per service with its own resource and its own
// OTLP exporter, W3C trace context carried between services the way an HTTP
// or gRPC call carries it (inject into headers, extract on the other side,
// so the server span's parent is the remote client span), and every span
// backdated with explicit start/end times and fixed durations.
//
// The traffic is deterministic (trace index i decides what fails), and the
// ground truth (every span and every call made, with its duration and
// outcome) is tallied while the spans are made, so tests can compare what
// the API answers with what the app did.

import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, defaultTextMapGetter, defaultTextMapSetter } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { makeTraceExporter, RecordingExporter } from './sdk.mjs';

export const NAMESPACE = 'shop';
export const ENVIRONMENT = 'test';

/** The services, each with the exporter its SDK uses (gRPC and HTTP mixed). */
export const SHOP_SERVICES = [
  { name: 'frontend', version: '2.3.0', exporter: 'grpc', gzip: false },
  { name: 'checkout', version: '1.8.1', exporter: 'http-protobuf', gzip: true },
  { name: 'payment', version: '4.0.2', exporter: 'grpc', gzip: true },
  { name: 'inventory', version: '3.1.0', exporter: 'http-json', gzip: false },
  { name: 'email', version: '0.9.5', exporter: 'http-protobuf', gzip: false },
];

export const DB_NODE = 'postgresql';
export const STRIPE_NODE = 'api.stripe.com';

// Fixed durations, in microseconds (whole milliseconds: exact in ns).
const MS = 1000;
const D = {
  db: 8 * MS,               // inventory -> postgresql
  stripeOk: 120 * MS,       // payment -> api.stripe.com
  stripeFail: 300 * MS,     // ... answering 503 after a long wait
  email: 20 * MS,           // email server span
  productOk: 5 * MS,        // frontend GET /products/:id
  productNotFound: 2 * MS,
};

const NS_PER_US = 1000n;
const propagator = new W3CTraceContextPropagator();

/** BigInt unix ns -> SDK HrTime [seconds, nanoseconds]. */
const hr = (ns) => [Number(ns / 1000000000n), Number(ns % 1000000000n)];

/**
 * What one trace does, decided by its index:
 * - dbFail (i % 15 == 7): the stock query fails; inventory answers 500,
 *   checkout gives up (no payment, no email) and answers 500.
 * - stripeFail (i % 10 == 3, not dbFail): Stripe answers 503; payment
 *   fails with gRPC INTERNAL, checkout answers 500 and sends no email.
 * Otherwise all succeed and an email is sent.
 */
export function traceOutcome(i) {
  const dbFail = i % 15 === 7;
  const stripeFail = !dbFail && i % 10 === 3;
  return { dbFail, stripeFail, failed: dbFail || stripeFail };
}

/** Products page requests: every 6th is a 404 (a client error). */
export const productNotFound = (j) => j % 6 === 0;

class Tally {
  constructor() {
    this.spans = [];      // {service, name, kind, durUs, fault, clientError, traceId, endNs, entry}
    this.calls = [];      // {source, target, durUs, serverDurUs, fault, traceId}
  }
}

// |batch|: BatchSpanProcessor options; {} keeps the SDK defaults
// (maxExportBatchSize 512, maxQueueSize 2048).
function makeProviders(server, batch) {
  const out = {};
  for (const s of SHOP_SERVICES) {
    const exporter = new RecordingExporter(makeTraceExporter(s.exporter, server, { gzip: s.gzip, tls: false }));
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({
        'service.name': s.name,
        'service.namespace': NAMESPACE,
        'service.version': s.version,
        'deployment.environment.name': ENVIRONMENT,
        'host.name': `${s.name}-host-1`,
      }),
      spanProcessors: [new BatchSpanProcessor(exporter, { exportTimeoutMillis: 20000, ...batch })],
    });
    out[s.name] = { provider, exporter, tracer: provider.getTracer(`shop-${s.name}`, s.version), cfg: s };
  }
  return out;
}

/**
 * Simulates the shop and exports it. |endNs| (BigInt unix ns): the newest
 * span ends before it; the oldest starts 30 minutes earlier. |batch|: see
 * makeProviders (pass a maxQueueSize above the span count: the SDK drops
 * spans beyond its queue).
 * Returns {tally, nTraces, nProducts, fromNs, toNs, exporters}.
 */
export async function runShop(server, { nTraces = 300, nProducts = 60, endNs, batch = {} } = {}) {
  const P = makeProviders(server, batch);
  const tally = new Tally();
  const spanSec = 30n * 60n * 1000000000n;
  const fromNs = endNs - spanSec;
  const traceStep = (spanSec - 10n * 1000000000n) / BigInt(nTraces);

  // One span, with tally. |at|: start (ns), |durUs|: fixed duration.
  const span = (svc, name, kind, ctx, at, durUs, attrs, status) => {
    const s = P[svc].tracer.startSpan(name, { kind, attributes: attrs, startTime: hr(at) }, ctx);
    if (status) s.setStatus(status);
    const endNs = at + BigInt(durUs) * NS_PER_US;
    return {
      s,
      ctx: trace.setSpan(ctx ?? ROOT_CONTEXT, s),
      end(fault, clientError = false) {
        s.end(hr(endNs));
        tally.spans.push({
          service: svc, name, kind, durUs, fault, clientError,
          traceId: s.spanContext().traceId, endNs,
          entry: kind === SpanKind.SERVER || kind === SpanKind.CONSUMER || !ctx,
        });
      },
      endNs,
    };
  };
  // The headers a client sends and the context its server extracts from them.
  const remote = (clientCtx) => {
    const carrier = {};
    propagator.inject(clientCtx, carrier, defaultTextMapSetter);
    return propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
  };
  const ERR = (message) => ({ code: SpanStatusCode.ERROR, message });
  const OK = { code: SpanStatusCode.UNSET };

  // An HTTP call from |src| to the instrumented service |dst|: client span
  // [t, t + body + 2 ms], server span [t + 1 ms, t + 1 ms + body].
  // |body(serverCtx, t0)| makes the server's children and returns
  // {durUs, status} of the server span.
  const httpCall = (src, dst, method, route, parentCtx, t, body) => {
    const url = `http://${dst}:8080${route}`;
    const clientStart = t;
    const client = P[src].tracer.startSpan(`${method} ${route}`, {
      kind: SpanKind.CLIENT,
      startTime: hr(clientStart),
      attributes: { 'http.request.method': method, 'server.address': dst, 'server.port': 8080, 'url.full': url },
    }, parentCtx);
    const clientCtx = trace.setSpan(parentCtx, client);
    const sStart = t + 1000000n;
    const srvCtxIn = remote(clientCtx);
    const srv = P[dst].tracer.startSpan(`${method} ${route}`, {
      kind: SpanKind.SERVER,
      startTime: hr(sStart),
      attributes: { 'http.request.method': method, 'http.route': route, 'url.path': route, 'server.address': dst },
    }, srvCtxIn);
    const res = body(trace.setSpan(srvCtxIn, srv), sStart + 1000000n);
    const code = res.fault ? 500 : 200;
    srv.setAttribute('http.response.status_code', code);
    if (res.fault) srv.setStatus(ERR('Internal Server Error'));
    const sEnd = sStart + BigInt(res.durUs) * NS_PER_US;
    srv.end(hr(sEnd));
    const cDurUs = res.durUs + 2 * MS;
    client.setAttribute('http.response.status_code', code);
    if (res.fault) client.setStatus(ERR(`HTTP ${code}`));
    client.end(hr(clientStart + BigInt(cDurUs) * NS_PER_US));
    const traceId = client.spanContext().traceId;
    tally.spans.push({ service: dst, name: `${method} ${route}`, kind: SpanKind.SERVER, durUs: res.durUs, fault: res.fault, clientError: false, traceId, endNs: sEnd, entry: true });
    tally.spans.push({ service: src, name: `${method} ${route}`, kind: SpanKind.CLIENT, durUs: cDurUs, fault: res.fault, clientError: false, traceId, endNs: clientStart + BigInt(cDurUs) * NS_PER_US, entry: false });
    tally.calls.push({ source: src, target: dst, durUs: cDurUs, serverDurUs: res.durUs, fault: res.fault, traceId });
    return { durUs: cDurUs, fault: res.fault };
  };

  // gRPC call checkout -> payment (rpc.* attributes, status code 13 on failure).
  const grpcCharge = (parentCtx, t, stripeFail) => {
    const name = 'shop.PaymentService/Charge';
    const rpc = { 'rpc.system': 'grpc', 'rpc.service': 'shop.PaymentService', 'rpc.method': 'Charge' };
    const client = P.checkout.tracer.startSpan(name, {
      kind: SpanKind.CLIENT, startTime: hr(t),
      attributes: { ...rpc, 'server.address': 'payment', 'server.port': 50051 },
    }, parentCtx);
    const clientCtx = trace.setSpan(parentCtx, client);
    const sStart = t + 1000000n;
    const srvCtxIn = remote(clientCtx);
    const srv = P.payment.tracer.startSpan(name, { kind: SpanKind.SERVER, startTime: hr(sStart), attributes: { ...rpc } }, srvCtxIn);
    const srvCtx = trace.setSpan(srvCtxIn, srv);
    // payment -> Stripe (uninstrumented external API): no server child.
    const stStart = sStart + 1000000n;
    const stDur = stripeFail ? D.stripeFail : D.stripeOk;
    const st = span('payment', 'POST', SpanKind.CLIENT, srvCtx, stStart, stDur, {
      'http.request.method': 'POST',
      'server.address': STRIPE_NODE,
      'server.port': 443,
      'url.full': 'https://api.stripe.com/v1/charges',
      'http.response.status_code': stripeFail ? 503 : 200,
    }, stripeFail ? ERR('HTTP 503') : OK);
    st.end(stripeFail);
    tally.calls.push({ source: 'payment', target: STRIPE_NODE, durUs: stDur, serverDurUs: 0, fault: stripeFail, traceId: st.s.spanContext().traceId });
    const sDur = stDur + 3 * MS;
    const grpcCode = stripeFail ? 13 : 0;
    srv.setAttribute('rpc.grpc.status_code', grpcCode);
    client.setAttribute('rpc.grpc.status_code', grpcCode);
    if (stripeFail) {
      srv.setStatus(ERR('card processor unavailable'));
      client.setStatus(ERR('13 INTERNAL: card processor unavailable'));
    }
    const sEnd = sStart + BigInt(sDur) * NS_PER_US;
    srv.end(hr(sEnd));
    const cDur = sDur + 2 * MS;
    const cEnd = t + BigInt(cDur) * NS_PER_US;
    client.end(hr(cEnd));
    const traceId = client.spanContext().traceId;
    tally.spans.push({ service: 'payment', name, kind: SpanKind.SERVER, durUs: sDur, fault: stripeFail, clientError: false, traceId, endNs: sEnd, entry: true });
    tally.spans.push({ service: 'checkout', name, kind: SpanKind.CLIENT, durUs: cDur, fault: stripeFail, clientError: false, traceId, endNs: cEnd, entry: false });
    tally.calls.push({ source: 'checkout', target: 'payment', durUs: cDur, serverDurUs: sDur, fault: stripeFail, traceId });
    return { durUs: cDur, fault: stripeFail };
  };

  for (let i = 0; i < nTraces; i++) {
    const o = traceOutcome(i);
    const t0 = fromNs + BigInt(i) * traceStep + 1000000n * BigInt(i % 7); // a little jitter
    // frontend SERVER GET /checkout; the whole trace hangs off it.
    const fe = P.frontend.tracer.startSpan('GET /checkout', {
      kind: SpanKind.SERVER, startTime: hr(t0),
      attributes: { 'http.request.method': 'GET', 'http.route': '/checkout', 'url.path': '/checkout' },
    }, ROOT_CONTEXT);
    const feCtx = trace.setSpan(ROOT_CONTEXT, fe);
    const call = httpCall('frontend', 'checkout', 'POST', '/api/checkout', feCtx, t0 + 1000000n, (coCtx, ct) => {
      let cur = ct;
      // checkout -> inventory -> postgresql
      const inv = httpCall('checkout', 'inventory', 'GET', '/api/stock', coCtx, cur, (invCtx, it) => {
        const db = span('inventory', 'SELECT shop.stock', SpanKind.CLIENT, invCtx, it + 1000000n, D.db, {
          'db.system.name': 'postgresql',
          'db.system': 'postgresql',
          'db.operation.name': 'SELECT',
          'db.collection.name': 'stock',
          'server.address': 'db.shop.internal',
          'server.port': 5432,
        }, o.dbFail ? ERR('canceling statement due to statement timeout') : OK);
        if (o.dbFail) db.s.addEvent('exception', { 'exception.type': 'QueryCanceled', 'exception.message': 'canceling statement due to statement timeout' }, hr(db.endNs));
        db.end(o.dbFail);
        tally.calls.push({ source: 'inventory', target: DB_NODE, durUs: D.db, serverDurUs: 0, fault: o.dbFail, traceId: db.s.spanContext().traceId });
        return { durUs: D.db + 4 * MS, fault: o.dbFail };
      });
      cur += BigInt(inv.durUs) * NS_PER_US + 1000000n;
      if (!o.dbFail) {
        const pay = grpcCharge(coCtx, cur, o.stripeFail);
        cur += BigInt(pay.durUs) * NS_PER_US + 1000000n;
        if (!o.stripeFail) {
          const mail = httpCall('checkout', 'email', 'POST', '/api/send', coCtx, cur, () => ({ durUs: D.email, fault: false }));
          cur += BigInt(mail.durUs) * NS_PER_US + 1000000n;
        }
      }
      return { durUs: Number((cur - ct) / NS_PER_US) + 1 * MS, fault: o.failed };
    });
    const feDur = call.durUs + 3 * MS;
    fe.setAttribute('http.response.status_code', o.failed ? 500 : 200);
    if (o.failed) fe.setStatus(ERR('Internal Server Error'));
    const feEnd = t0 + BigInt(feDur) * NS_PER_US;
    fe.end(hr(feEnd));
    tally.spans.push({ service: 'frontend', name: 'GET /checkout', kind: SpanKind.SERVER, durUs: feDur, fault: o.failed, clientError: false, traceId: fe.spanContext().traceId, endNs: feEnd, entry: true });
  }

  // Product pages served by frontend alone; some 404 (client errors).
  const prodStep = (spanSec - 20n * 1000000000n) / BigInt(Math.max(nProducts, 1));
  for (let j = 0; j < nProducts; j++) {
    const nf = productNotFound(j);
    const t0 = fromNs + 2500000000n + BigInt(j) * prodStep;
    const p = span('frontend', 'GET /products/:id', SpanKind.SERVER, undefined, t0, nf ? D.productNotFound : D.productOk, {
      'http.request.method': 'GET', 'http.route': '/products/:id', 'url.path': `/products/${1000 + j}`,
      'http.response.status_code': nf ? 404 : 200,
    }, OK);
    p.end(false, nf);
  }

  // Flush every service and wait for every export result.
  // forceFlush rejects when an export fails; the recorded results say which
  // (tests assert them with assertAllSucceeded).
  await Promise.allSettled(Object.values(P).map((x) => x.provider.forceFlush()));
  await Promise.all(Object.values(P).map((x) => x.exporter.settled()));
  return {
    tally, nTraces, nProducts, fromNs, toNs: endNs,
    exporters: Object.fromEntries(Object.entries(P).map(([k, v]) => [k, v.exporter])),
    async shutdown() { await Promise.all(Object.values(P).map((x) => x.provider.shutdown())); },
  };
}

// ---- expectations from the tally ------------------------------------------

export function nearestRank(values, q) {
  const v = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * v.length));
  return v[rank - 1];
}

/**
 * The relative error bound include/flywheel/hist.h guarantees for values
 * spanning [min, max]: scale >= 4 (3.125 %) while max/min <= 2^7, scale >= 3
 * (6.25 %) while max/min <= 2^15, else 12.5 %. (A single-scale-5 window,
 * 1.5625 %, covers max/min < 2^4 when the values start a bucket window; the
 * header does not promise it, so it is not assumed.)
 */
export function histBound(values) {
  let min = Infinity;
  let max = 0;
  for (const x of values) { if (x < min) min = x; if (x > max) max = x; }
  const ratio = max / Math.max(min, 1);
  if (ratio <= 2 ** 7) return 1 / 32;
  if (ratio <= 2 ** 15) return 1 / 16;
  return 1 / 8;
}

const summarize = (rows, durKey = 'durUs') => ({
  requests: rows.length,
  faults: rows.filter((r) => r.fault).length,
  clientErrors: rows.filter((r) => r.clientError).length,
  errors: rows.filter((r) => r.fault || r.clientError).length,
  durations: rows.map((r) => r[durKey]),
  traceIds: new Set(rows.map((r) => r.traceId)),
  failedTraceIds: new Set(rows.filter((r) => r.fault || r.clientError).map((r) => r.traceId)),
});

/** Per service: its entry (SERVER) spans. */
export function expectedServices(tally) {
  const out = {};
  for (const s of SHOP_SERVICES) out[s.name] = summarize(tally.spans.filter((x) => x.service === s.name && x.entry));
  return out;
}

/** Per (service, span name, kind). Key: `${service}\u0000${name}\u0000${kind}`. */
export function expectedOperations(tally) {
  const groups = new Map();
  for (const sp of tally.spans) {
    const k = `${sp.service}\u0000${sp.name}\u0000${sp.kind}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(sp);
  }
  const out = new Map();
  for (const [k, rows] of groups) {
    const [service, name, kind] = k.split('\u0000');
    out.set(k, { service, name, kind: Number(kind), ...summarize(rows) });
  }
  return out;
}

/** Per edge "source -> target". */
export function expectedEdges(tally) {
  const groups = new Map();
  for (const c of tally.calls) {
    const k = `${c.source} -> ${c.target}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(c);
  }
  const out = new Map();
  for (const [k, rows] of groups) {
    out.set(k, {
      source: rows[0].source, target: rows[0].target,
      ...summarize(rows),
      serverDurations: rows.filter((r) => r.serverDurUs > 0).map((r) => r.serverDurUs),
    });
  }
  return out;
}

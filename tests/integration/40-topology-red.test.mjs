// 40-topology-red: a small shop (frontend, checkout, payment, inventory,
// email; PostgreSQL and the Stripe API uninstrumented) simulated with the
// official OpenTelemetry JS SDK (helpers/shopapp.mjs): one tracer provider
// and one OTLP exporter per service (gRPC and HTTP mixed), W3C context
// carried between services, known traffic with known failures, every span
// backdated over the last 30 minutes with fixed durations. Then the API is
// asked what a user would ask, and every number is compared with what the
// app did: /api/v1/services, /api/v1/topology, /api/v1/services/{name}/
// operations, /api/v1/red, /api/v1/traces (counts exact, latency
// percentiles within the histogram's stated bound), the edge to the
// external API once its join wait is over, and GET /metrics, which must
// pass `promtool check metrics` and hold the same numbers.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { SpanKind } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { startServer } from './helpers/server.mjs';
import { apiGetJson, parseMetrics } from './helpers/http.mjs';
import {
  runShop, SHOP_SERVICES, NAMESPACE, ENVIRONMENT, DB_NODE, STRIPE_NODE,
  expectedServices, expectedOperations, expectedEdges, nearestRank, histBound,
} from './helpers/shopapp.mjs';

const NS_PER_S = 1000000000n;
// Reads right after an acknowledged export may precede the pipeline's
// hand-off (tests/integration/README.md): poll for a few seconds at most.
const SETTLE_MS = 10000;
// Client spans to an uninstrumented HTTP dependency wait for a server child
// (30 s in `flywheel serve`) before they become an edge to a virtual node.
const JOIN_WAIT_MS = 30000;
const EXTERNAL_EDGE_DEADLINE_MS = JOIN_WAIT_MS + 15000;
const POLL_MS = 250;
const QUANTILES = [['p50_ms', 0.5], ['p90_ms', 0.9], ['p99_ms', 0.99]];
const KIND_API = { [SpanKind.INTERNAL]: 'internal', [SpanKind.SERVER]: 'server', [SpanKind.CLIENT]: 'client' };
const KIND_PROM = { [SpanKind.INTERNAL]: 'SPAN_KIND_INTERNAL', [SpanKind.SERVER]: 'SPAN_KIND_SERVER', [SpanKind.CLIENT]: 'SPAN_KIND_CLIENT' };
const PROMTOOL = '/usr/bin/promtool';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmt = (o) => JSON.stringify(o);

/**
 * Latency percentiles. The API answers the quantile of a log-linear
 * histogram (include/flywheel/hist.h): the bucket midpoint of the exact
 * nearest-rank value, whose relative error is at most 2^-(scale+1). The
 * header guarantees scale >= 4 (3.125 %) while max/min <= 2^7 and scale >= 3
 * (6.25 %) while max/min <= 2^15; histBound() picks that bound from the
 * durations this series really holds (the shop's fixed durations span at
 * most 2 ms .. 330 ms, so 3.125 % or 6.25 %). Nothing looser is allowed;
 * 1e-9 absorbs the decimal printing of the JSON number.
 */
function assertQuantiles(red, durationsUs, what, prefix = '') {
  const bound = histBound(durationsUs);
  for (const [key, q] of QUANTILES) {
    const exactMs = nearestRank(durationsUs, q) / 1000;
    const got = red[`${prefix}${key}`];
    assert.equal(typeof got, 'number', `${what}: ${prefix}${key} missing or not a number (red ${fmt(red)})`);
    const err = Math.abs(got - exactMs) / exactMs;
    assert.ok(err <= bound + 1e-9,
      `${what}: ${prefix}${key} = ${got} ms, exact nearest-rank value ${exactMs} ms: relative error ` +
      `${(err * 100).toFixed(3)} % exceeds the histogram bound ${(bound * 100).toFixed(3)} %`);
  }
}

function assertCounts(red, exp, what) {
  const got = { requests: red.requests, errors: red.errors, faults: red.faults, client_errors: red.client_errors, throttled: red.throttled };
  const want = { requests: exp.requests, errors: exp.errors, faults: exp.faults, client_errors: exp.clientErrors, throttled: 0 };
  assert.deepStrictEqual(got, want, `${what}: RED counts`);
}

function assertExemplars(red, exp, what) {
  assert.ok(Array.isArray(red.exemplars) && red.exemplars.length > 0, `${what}: no exemplars (${fmt(red.exemplars)})`);
  for (const e of red.exemplars) {
    assert.ok(exp.traceIds.has(e.trace_id), `${what}: exemplar ${e.trace_id} is not a trace of this series`);
    assert.equal(e.failed, exp.failedTraceIds.has(e.trace_id), `${what}: exemplar ${e.trace_id} failed flag`);
  }
  if (exp.failedTraceIds.size > 0) {
    assert.ok(red.exemplars.some((e) => e.failed),
      `${what}: ${exp.failedTraceIds.size} of ${exp.requests} calls failed but no exemplar is a failing trace (${fmt(red.exemplars)})`);
  }
}

describe('live topology and RED of a simulated multi-service app', () => {
  let server;
  let shop;
  let exportedAt;
  let expServices;
  let expOps;
  let expEdges;

  before(async () => {
    server = await startServer();
    // Newest span ends 90 s ago, oldest starts 30 min before that: inside
    // the 1 h windows asked below and the 2 h retention.
    const endNs = BigInt(Date.now() - 90000) * 1000000n;
    // Exports of at most 64 spans: the SDK-default 512 is checked on its
    // own at the end (see the last test).
    shop = await runShop(server, {
      endNs, batch: { maxQueueSize: 16384, maxExportBatchSize: 64, scheduledDelayMillis: 60000 },
    });
    exportedAt = Date.now();
    expServices = expectedServices(shop.tally);
    expOps = expectedOperations(shop.tally);
    expEdges = expectedEdges(shop.tally);
    // Bounded wait until RED holds every entry span that was acknowledged.
    const want = Object.values(expServices).reduce((s, e) => s + e.requests, 0);
    const deadline = Date.now() + SETTLE_MS;
    for (;;) {
      const r = await apiGetJson(server, '/api/v1/services?window=1h');
      const got = (r.json?.services ?? []).reduce((s, x) => s + (x.red?.requests ?? 0), 0);
      if (got >= want || Date.now() > deadline) break;
      await sleep(POLL_MS);
    }
  });

  after(async () => {
    await shop?.shutdown();
    if (!server) return;
    const alive = server.alive();
    const res = await server.stop();
    assert.ok(alive, `flywheel died during the test\n${server.stderrTail()}`);
    assert.deepStrictEqual(res, { code: 0, signal: null }, `flywheel exit\n${server.stderrTail()}`);
  });

  it('every service exported its spans successfully (gRPC and HTTP exporters)', () => {
    for (const s of SHOP_SERVICES) shop.exporters[s.name].assertAllSucceeded(`${s.name} (${s.exporter}${s.gzip ? '+gzip' : ''})`);
    // The traffic is what the test meant to send.
    assert.deepStrictEqual(
      Object.fromEntries(Object.entries(expServices).map(([k, v]) => [k, [v.requests, v.faults, v.clientErrors]])),
      { frontend: [360, 50, 10], checkout: [300, 50, 0], payment: [280, 30, 0], inventory: [300, 20, 0], email: [250, 0, 0] });
  });

  it('GET /api/v1/services: each service with exact RED counts and percentiles within the histogram bound', async () => {
    const r = await apiGetJson(server, '/api/v1/services?window=1h');
    assert.equal(r.status, 200, `GET /api/v1/services?window=1h: ${r.status} ${r.text}`);
    assert.equal(r.json.truncated, false);
    assert.equal(r.json.window_seconds, 3600);
    const names = r.json.services.map((s) => s.name).sort();
    assert.deepStrictEqual(names, SHOP_SERVICES.map((s) => s.name).sort(), 'service names');
    for (const s of r.json.services) {
      const what = `GET /api/v1/services?window=1h, service ${s.name}`;
      assert.equal(s.namespace, NAMESPACE, `${what}: namespace`);
      assert.equal(s.environment, ENVIRONMENT, `${what}: environment`);
      assertCounts(s.red, expServices[s.name], what);
      assertQuantiles(s.red, expServices[s.name].durations, what);
      assertExemplars(s.red, expServices[s.name], what);
    }
    // The namespace / environment filters keep them all; another hides them.
    const f = await apiGetJson(server, `/api/v1/services?window=1h&namespace=${NAMESPACE}&environment=${ENVIRONMENT}`);
    assert.equal(f.status, 200, f.text);
    assert.deepStrictEqual(f.json.services.map((s) => s.name).sort(), names, 'namespace+environment filter');
    const other = await apiGetJson(server, '/api/v1/services?window=1h&namespace=not-the-shop');
    assert.equal(other.status, 200, other.text);
    assert.deepStrictEqual(other.json.services, [], 'namespace=not-the-shop');
  });

  it('GET /api/v1/topology: service nodes, the database node and the call edges with exact counts', async () => {
    const r = await apiGetJson(server, '/api/v1/topology?window=1h');
    assert.equal(r.status, 200, `GET /api/v1/topology?window=1h: ${r.status} ${r.text}`);
    assert.equal(r.json.truncated, false);
    const nodes = Object.fromEntries(r.json.nodes.map((n) => [n.id, n]));
    // The Stripe edge may only appear after its join wait (next test).
    const expectedNodes = {
      ...Object.fromEntries(SHOP_SERVICES.map((s) => [s.name, 'service'])),
      [DB_NODE]: 'database',
    };
    const stripeShown = STRIPE_NODE in nodes;
    if (stripeShown) expectedNodes[STRIPE_NODE] = 'external';
    assert.deepStrictEqual(Object.fromEntries(r.json.nodes.map((n) => [n.id, n.type])), expectedNodes,
      'GET /api/v1/topology?window=1h: nodes {id: type}');
    for (const n of r.json.nodes) {
      assert.equal(n.name, n.id, `node ${n.id}: name`);
      const what = `GET /api/v1/topology?window=1h, node ${n.id}`;
      if (n.type === 'service') {
        assert.equal(n.namespace, NAMESPACE, `${what}: namespace`);
        assert.equal(n.environment, ENVIRONMENT, `${what}: environment`);
        assertCounts(n.red, expServices[n.id], what);
        assertQuantiles(n.red, expServices[n.id].durations, what);
      } else {
        // A virtual node's RED is what its callers saw.
        const calls = [...expEdges.values()].filter((e) => e.target === n.id);
        const exp = { requests: 0, errors: 0, faults: 0, clientErrors: 0, durations: [] };
        for (const c of calls) {
          exp.requests += c.requests; exp.errors += c.errors; exp.faults += c.faults;
          exp.clientErrors += c.clientErrors; exp.durations.push(...c.durations);
        }
        assertCounts(n.red, exp, what);
        assertQuantiles(n.red, exp.durations, what);
      }
    }

    const edges = Object.fromEntries(r.json.edges.map((e) => [`${e.source} -> ${e.target}`, e]));
    const wantKeys = [...expEdges.keys()].filter((k) => stripeShown || !k.endsWith(`-> ${STRIPE_NODE}`)).sort();
    assert.deepStrictEqual(Object.keys(edges).sort(), wantKeys, 'GET /api/v1/topology?window=1h: edges');
    for (const k of wantKeys) {
      const e = edges[k];
      const exp = expEdges.get(k);
      const what = `GET /api/v1/topology?window=1h, edge ${k}`;
      assert.equal(e.kind, 'call', `${what}: kind`);
      assertCounts(e.red, exp, what);
      assertQuantiles(e.red, exp.durations, `${what} (client side)`);
      if (exp.serverDurations.length) {
        assertQuantiles(e.red, exp.serverDurations, `${what} (server side)`, 'server_');
      } else {
        assert.equal(e.red.server_p50_ms, undefined, `${what}: a virtual node has no server-side latency`);
      }
      assertExemplars(e.red, exp, what);
    }
  });

  it('GET /api/v1/services/{name}/operations: RED per operation and span kind', async () => {
    for (const s of SHOP_SERVICES) {
      const path = `/api/v1/services/${encodeURIComponent(s.name)}/operations?window=1h`;
      const r = await apiGetJson(server, path);
      assert.equal(r.status, 200, `GET ${path}: ${r.status} ${r.text}`);
      assert.equal(r.json.service, s.name);
      assert.equal(r.json.truncated, false);
      const want = [...expOps.values()].filter((o) => o.service === s.name);
      const key = (name, kind) => `${name} [${kind}]`;
      assert.deepStrictEqual(r.json.operations.map((o) => key(o.name, o.kind)).sort(),
        want.map((o) => key(o.name, KIND_API[o.kind])).sort(), `GET ${path}: operations`);
      for (const o of r.json.operations) {
        const exp = want.find((w) => w.name === o.name && KIND_API[w.kind] === o.kind);
        const what = `GET ${path}, ${key(o.name, o.kind)}`;
        assertCounts(o.red, exp, what);
        assertQuantiles(o.red, exp.durations, what);
      }
    }
    const missing = await apiGetJson(server, '/api/v1/services/no-such-service/operations?window=1h');
    assert.equal(missing.status, 404, `unknown service: ${missing.status} ${missing.text}`);
  });

  it('GET /api/v1/red: the 60 s time series holds every request in the bucket of its end time', async () => {
    const from = shop.fromNs - 60n * NS_PER_S;
    const to = shop.toNs + 60n * NS_PER_S;
    const cases = [
      { service: 'frontend', rows: shop.tally.spans.filter((x) => x.service === 'frontend' && x.entry) },
      { service: 'payment', rows: shop.tally.spans.filter((x) => x.service === 'payment' && x.entry) },
      { service: 'inventory', rows: shop.tally.spans.filter((x) => x.service === 'inventory' && x.entry) },
      { service: 'payment', operation: 'shop.PaymentService/Charge',
        rows: shop.tally.spans.filter((x) => x.service === 'payment' && x.name === 'shop.PaymentService/Charge') },
      { service: 'frontend', operation: 'GET /products/:id',
        rows: shop.tally.spans.filter((x) => x.service === 'frontend' && x.name === 'GET /products/:id') },
    ];
    for (const c of cases) {
      const q = `service=${encodeURIComponent(c.service)}${c.operation ? `&operation=${encodeURIComponent(c.operation)}` : ''}`;
      const path = `/api/v1/red?${q}&from=${from}&to=${to}&step=60s`;
      const r = await apiGetJson(server, path);
      assert.equal(r.status, 200, `GET ${path}: ${r.status} ${r.text}`);
      assert.equal(r.json.truncated, false, `GET ${path}: truncated`);
      assert.equal(r.json.step_seconds, 60, `GET ${path}: step_seconds`);
      const pts = r.json.points;
      assert.ok(Array.isArray(pts) && pts.length >= 31, `GET ${path}: ${pts?.length} points`);
      const sum = (k) => pts.reduce((s, p) => s + p[k], 0);
      const faults = c.rows.filter((x) => x.fault).length;
      const clientErrors = c.rows.filter((x) => x.clientError).length;
      assert.deepStrictEqual({ requests: sum('requests'), faults: sum('faults'), client_errors: sum('client_errors'), errors: sum('errors') },
        { requests: c.rows.length, faults, client_errors: clientErrors, errors: faults + clientErrors },
        `GET ${path}: sums over the points`);
      // Each point: the spans whose end time (the event time) falls in it.
      for (const p of pts) {
        const t = BigInt(p.t_unix_nano);
        const n = c.rows.filter((x) => x.endNs >= t && x.endNs < t + 60n * NS_PER_S).length;
        assert.equal(p.requests, n, `GET ${path}: point ${p.t} requests`);
      }
    }
    const bad = await apiGetJson(server, `/api/v1/red?service=frontend&from=${from}&to=${to}&step=7s`);
    assert.equal(bad.status, 400, `step=7s: ${bad.status} ${bad.text}`);
    assert.match(bad.json?.error ?? '', /^step/, 'a bad step is named in the 400');
  });

  it('GET /api/v1/traces?service=&error=true finds exactly the failing traces', async () => {
    const from = shop.fromNs - 60n * NS_PER_S;
    const to = BigInt(Date.now()) * 1000000n;
    const byTrace = new Map();
    for (const sp of shop.tally.spans) {
      if (!byTrace.has(sp.traceId)) byTrace.set(sp.traceId, []);
      byTrace.get(sp.traceId).push(sp);
    }
    const failingIn = (svc) => new Set([...byTrace].filter(([, spans]) => spans.some((x) => x.service === svc && x.fault)).map(([id]) => id));
    for (const svc of ['payment', 'inventory', 'email']) {
      const want = failingIn(svc);
      const path = `/api/v1/traces?service=${svc}&error=true&from=${from}&to=${to}&limit=1000`;
      const r = await apiGetJson(server, path);
      assert.equal(r.status, 200, `GET ${path}: ${r.status} ${r.text}`);
      assert.equal(r.json.truncated, false);
      const got = r.json.traces.map((t) => t.trace_id);
      assert.deepStrictEqual([...got].sort(), [...want].sort(), `GET ${path}: trace ids (${got.length} found, ${want.size} failed)`);
      for (const t of r.json.traces) {
        const spans = byTrace.get(t.trace_id);
        assert.equal(t.span_count, spans.length, `GET ${path}: trace ${t.trace_id} span_count`);
        assert.equal(t.error_count, spans.filter((x) => x.fault).length, `GET ${path}: trace ${t.trace_id} error_count`);
        assert.equal(t.root_service, 'frontend', `GET ${path}: trace ${t.trace_id} root_service`);
        assert.equal(t.root_name, 'GET /checkout', `GET ${path}: trace ${t.trace_id} root_name`);
        assert.deepStrictEqual([...t.services].sort(), [...new Set(spans.map((x) => x.service))].sort(),
          `GET ${path}: trace ${t.trace_id} services`);
      }
      // Newest first.
      for (let i = 1; i < r.json.traces.length; i++) {
        assert.ok(BigInt(r.json.traces[i - 1].start_time_unix_nano) >= BigInt(r.json.traces[i].start_time_unix_nano),
          `GET ${path}: not newest first`);
      }
    }
    const bad = await apiGetJson(server, '/api/v1/traces?service=payment&error=maybe');
    assert.equal(bad.status, 400, `error=maybe: ${bad.status} ${bad.text}`);
  });

  it('an HTTP call to an uninstrumented external API becomes an edge to a virtual node once its join wait is over', async () => {
    // payment's client spans to api.stripe.com (server.address, no server
    // child) wait JOIN_WAIT_MS for a server span that never comes, then count
    // as calls to the virtual node. A user who stopped sending traffic and
    // looks at the topology must see it: poll, bounded, with no new ingest.
    const key = `payment -> ${STRIPE_NODE}`;
    const exp = expEdges.get(key);
    const deadline = exportedAt + EXTERNAL_EDGE_DEADLINE_MS;
    let r;
    let edge;
    for (;;) {
      r = await apiGetJson(server, '/api/v1/topology?window=1h');
      assert.equal(r.status, 200, `GET /api/v1/topology?window=1h: ${r.status} ${r.text}`);
      edge = r.json.edges.find((e) => e.source === 'payment' && e.target === STRIPE_NODE);
      if (edge || Date.now() > deadline) break;
      await sleep(POLL_MS);
    }
    let pending = null;
    if (!edge) {
      const m = await apiGetJson(server, '/metrics');
      pending = parseMetrics(m.text).find((s) => s.name === 'flywheel_topology_pending_spans')?.value;
    }
    assert.ok(edge, `GET /api/v1/topology?window=1h ${Math.round((Date.now() - exportedAt) / 1000)} s after the last ` +
      `export (join wait ${JOIN_WAIT_MS / 1000} s, no ingest since): expected edge ${key} with ${exp.requests} requests ` +
      `and ${exp.errors} errors, got edges ${fmt(r.json.edges.map((e) => `${e.source} -> ${e.target}`))}; ` +
      `flywheel_topology_pending_spans = ${pending}`);
    const node = r.json.nodes.find((n) => n.id === STRIPE_NODE);
    assert.ok(node, `node ${STRIPE_NODE} missing: ${fmt(r.json.nodes.map((n) => n.id))}`);
    assert.equal(node.type, 'external', `node ${STRIPE_NODE}: type`);
    assertCounts(node.red, exp, `node ${STRIPE_NODE}`);
    assertCounts(edge.red, exp, `edge ${key}`);
    assertQuantiles(edge.red, exp.durations, `edge ${key}`);
    assert.equal(edge.red.server_p50_ms, undefined, `edge ${key}: no server-side latency for a virtual node`);
    assertExemplars(edge.red, exp, `edge ${key}`);
    // And in /metrics.
    const m = await apiGetJson(server, '/metrics');
    const s = parseMetrics(m.text);
    const one = (name) => s.filter((x) => x.name === name && x.labels.client === 'payment' && x.labels.server === STRIPE_NODE);
    assert.deepStrictEqual(one('traces_service_graph_request_total').map((x) => [x.labels.connection_type, x.value]),
      [['virtual_node', exp.requests]], `/metrics traces_service_graph_request_total{client="payment",server="${STRIPE_NODE}"}`);
    assert.deepStrictEqual(one('traces_service_graph_request_failed_total').map((x) => x.value), [exp.faults],
      `/metrics traces_service_graph_request_failed_total{client="payment",server="${STRIPE_NODE}"}`);
  });

  it('GET /metrics passes promtool check metrics and holds the same numbers as the API', async (t) => {
    const r = await apiGetJson(server, '/metrics');
    assert.equal(r.status, 200, `GET /metrics: ${r.status}`);
    assert.match(r.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
    if (!existsSync(PROMTOOL)) {
      t.diagnostic(`${PROMTOOL} missing (apt-get install prometheus): exposition not linted here`);
    } else {
      const lint = spawnSync(PROMTOOL, ['check', 'metrics'], { input: r.text, encoding: 'utf8', timeout: 30000 });
      assert.equal(lint.status, 0, `promtool check metrics exited ${lint.status}:\n${lint.stdout}${lint.stderr}`);
    }
    const series = parseMetrics(r.text);
    const pick = (name, labels) => series.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
    const value = (name, labels) => {
      const found = pick(name, labels);
      assert.equal(found.length, 1, `/metrics ${name}${fmt(labels)}: ${found.length} series`);
      return found[0].value;
    };

    // spanmetrics: calls by status (ERROR = faults), duration histogram.
    for (const o of expOps.values()) {
      const labels = { service_name: o.service, span_name: o.name, span_kind: KIND_PROM[o.kind] };
      const what = `${o.service} / ${o.name} / ${KIND_PROM[o.kind]}`;
      assert.equal(value('traces_span_metrics_calls_total', { ...labels, status_code: 'STATUS_CODE_ERROR' }), o.faults,
        `traces_span_metrics_calls_total{status_code="STATUS_CODE_ERROR"} of ${what}`);
      assert.equal(value('traces_span_metrics_calls_total', { ...labels, status_code: 'STATUS_CODE_UNSET' }), o.requests - o.faults,
        `traces_span_metrics_calls_total{status_code="STATUS_CODE_UNSET"} of ${what}`);
      assert.equal(value('traces_span_metrics_duration_seconds_count', labels), o.requests, `duration _count of ${what}`);
      const sumS = o.durations.reduce((s, d) => s + d, 0) / 1e6;
      const gotSum = value('traces_span_metrics_duration_seconds_sum', labels);
      assert.ok(Math.abs(gotSum - sumS) <= 1e-6 * Math.max(1, sumS), `duration _sum of ${what}: ${gotSum} s, sent ${sumS} s`);
      assertPromBuckets(pick('traces_span_metrics_duration_seconds_bucket', labels), o.durations, `duration buckets of ${what}`);
    }
    // No other services or operations.
    const opKeys = new Set([...expOps.values()].map((o) => `${o.service}|${o.name}|${KIND_PROM[o.kind]}`));
    for (const x of series.filter((y) => y.name === 'traces_span_metrics_calls_total')) {
      const k = `${x.labels.service_name}|${x.labels.span_name}|${x.labels.span_kind}`;
      assert.ok(opKeys.has(k), `/metrics has a spanmetrics series nobody sent: ${k}`);
    }

    // servicegraph: the edges that do not wait for a join, exact.
    const ctype = (target) => (target === DB_NODE ? 'database' : target === STRIPE_NODE ? 'virtual_node' : '');
    for (const e of expEdges.values()) {
      const labels = { client: e.source, server: e.target };
      const found = pick('traces_service_graph_request_total', labels);
      if (e.target === STRIPE_NODE && found.length === 0) continue; // asserted by the previous test
      const what = `${e.source} -> ${e.target}`;
      assert.equal(value('traces_service_graph_request_total', { ...labels, connection_type: ctype(e.target) }), e.requests,
        `traces_service_graph_request_total of ${what}`);
      assert.equal(value('traces_service_graph_request_failed_total', labels), e.faults,
        `traces_service_graph_request_failed_total of ${what}`);
      assert.equal(value('traces_service_graph_request_client_seconds_count', labels), e.requests, `client_seconds _count of ${what}`);
      assertPromBuckets(pick('traces_service_graph_request_client_seconds_bucket', labels), e.durations, `client_seconds buckets of ${what}`);
      if (e.serverDurations.length) {
        assert.equal(value('traces_service_graph_request_server_seconds_count', labels), e.serverDurations.length,
          `server_seconds _count of ${what}`);
        assertPromBuckets(pick('traces_service_graph_request_server_seconds_bucket', labels), e.serverDurations, `server_seconds buckets of ${what}`);
      }
    }
    const edgeKeys = new Set([...expEdges.values()].map((e) => `${e.source}|${e.target}`));
    for (const x of series.filter((y) => y.name === 'traces_service_graph_request_total')) {
      assert.ok(edgeKeys.has(`${x.labels.client}|${x.labels.server}`), `/metrics has an edge nobody made: ${fmt(x.labels)}`);
    }

    // Self-metrics agree: every span sent was accepted and is stored.
    const accepted = pick('flywheel_spans_accepted_total', {}).reduce((s, x) => s + x.value, 0);
    assert.equal(accepted, shop.tally.spans.length, 'flywheel_spans_accepted_total (all protocols)');
    assert.equal(value('flywheel_store_spans', {}), shop.tally.spans.length, 'flywheel_store_spans');
    const byProto = (p) => pick('flywheel_spans_accepted_total', { protocol: p }).reduce((s, x) => s + x.value, 0);
    const sent = (kind) => SHOP_SERVICES.filter((s) => s.exporter === kind)
      .reduce((n, s) => n + shop.tally.spans.filter((x) => x.service === s.name).length, 0);
    assert.deepStrictEqual({ grpc: byProto('grpc'), http_protobuf: byProto('http_protobuf'), http_json: byProto('http_json') },
      { grpc: sent('grpc'), http_protobuf: sent('http-protobuf'), http_json: sent('http-json') }, 'accepted spans per protocol');
  });

  it('the SDK\'s default batch (BatchSpanProcessor, 512 spans per export) is accepted by every exporter', async () => {
    // Runs last: it adds a second copy of the traffic, which the assertions
    // above do not expect.
    const again = await runShop(server, {
      nTraces: 200, nProducts: 0, endNs: BigInt(Date.now() - 90000) * 1000000n, batch: {},
    });
    try {
      const failures = [];
      for (const s of SHOP_SERVICES) {
        const ex = again.exporters[s.name];
        assert.ok(ex.results.length > 0, `${s.name}: the exporter was never called`);
        ex.results.forEach((res, i) => {
          if (res.code === ExportResultCode.SUCCESS) return;
          const e = res.error ?? {};
          failures.push(`${s.name} (${s.exporter}${s.gzip ? '+gzip' : ''}, ${ex.items.length} spans in ` +
            `${ex.results.length} exports): export #${i} failed: ${e.message} (code ${e.code}) ${fmt(String(e.data ?? e.details ?? ''))}`);
        });
      }
      assert.deepStrictEqual(failures, [], 'exports with the SDK default batch size refused');
    } finally {
      await again.shutdown();
    }
  });
});

/**
 * Prometheus `le` buckets of a histogram built from |durationsUs|. The
 * bucket counts come from the log-linear histogram (fw_hist_cumulative):
 * exact except for the one fine bucket straddling each bound, whose values
 * may be split either way. So each cumulative count may differ from the
 * exact count by at most the number of values lying within one fine bucket
 * width (2 x the relative bound) of that bound; with the shop's fixed
 * durations most bounds have none, so most counts must be exact.
 */
function assertPromBuckets(buckets, durationsUs, what) {
  assert.ok(buckets.length >= 2, `${what}: ${buckets.length} bucket series`);
  const width = 2 * histBound(durationsUs);
  let prev = -1;
  const sorted = [...buckets].sort((a, b) => Number(a.labels.le === '+Inf' ? Infinity : a.labels.le) - Number(b.labels.le === '+Inf' ? Infinity : b.labels.le));
  for (const b of sorted) {
    assert.ok(b.value >= prev, `${what}: buckets not cumulative at le=${b.labels.le}`);
    prev = b.value;
    if (b.labels.le === '+Inf') {
      assert.equal(b.value, durationsUs.length, `${what}: le="+Inf"`);
      continue;
    }
    const leUs = Number(b.labels.le) * 1e6;
    const exact = durationsUs.filter((d) => d <= leUs).length;
    const slack = durationsUs.filter((d) => Math.abs(d - leUs) <= width * Math.max(d, leUs)).length;
    assert.ok(Math.abs(b.value - exact) <= slack,
      `${what}: le="${b.labels.le}" holds ${b.value}, exact ${exact} (allowed off by ${slack})`);
  }
  assert.equal(sorted[sorted.length - 1].labels.le, '+Inf', `${what}: no +Inf bucket`);
}

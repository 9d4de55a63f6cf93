// 50-evidence: the evidence an investigation needs (issue 5), produced with
// the official OpenTelemetry JS SDK (traces and logs exporters) against the
// real flywheel binary, then read back through the JSON API:
// 1. log records emitted inside spans round-trip with their trace and span
//    ids (gRPC, HTTP/protobuf, HTTP/JSON); severity= and q= select exactly
//    the expected records;
// 2. throttling: AWS SDK-style DynamoDB PutItem client spans failing with
//    ProvisionedThroughputExceededException, an HTTP 429 from an external
//    API and a "Rate exceeded" log line, counted on the right operation and
//    on the orders -> DynamoDB edge, and the log found by q=;
// 3. deployments: a rolling 1.4.0 -> 1.5.0 deploy seen in telemetry is one
//    inferred deployment at the first-seen time of 1.5.0; POSTed ones are
//    stored, bad bodies are 400s naming the field;
// 4. GET /metrics holds the deployment and pattern self-metrics and passes
//    promtool;
// 5. log patterns: 60 lines from 3 templates give exactly 3 masked
//    templates, 20 each;
// 6. a SIGTERM restart on the same --data-dir keeps the deployments (and
//    the known versions: seeing 1.5.0 again infers nothing, 1.7.0 does).
// Every read after an acknowledged export polls the API, bounded.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { startServer, makeTempDir } from './helpers/server.mjs';
import { apiGetJson, fetchLogs, fetchTrace, parseMetrics } from './helpers/http.mjs';
import { rfc3339Nano } from './helpers/otlp.mjs';
import { EXPORTERS } from './helpers/sdk.mjs';
import {
  makeService, pollJson, postJson, hr, nowNs, NS_PER_MS, NS_PER_S, NS_PER_MIN,
} from './helpers/evidence.mjs';

const SETTLE_MS = 10000;
const PROMTOOL = '/usr/bin/promtool';
const fmt = (o) => JSON.stringify(o);

async function assertStopsCleanly(server) {
  const alive = server.alive();
  const res = await server.stop();
  assert.ok(alive, `flywheel died during the tests\n${server.stderrTail()}`);
  assert.deepStrictEqual(res, { code: 0, signal: null }, `flywheel exit after SIGTERM\n${server.stderrTail()}`);
}

// ---- 1. logs correlated with traces ---------------------------------------

// Five records in one trace: two in the root span, three in its child. The
// last has only a severity text ("CRITICAL" = 21 for the filters).
function emitCorrelated(svc) {
  const t0 = nowNs() - 2n * NS_PER_MIN;
  const ms = (n) => t0 + BigInt(n) * NS_PER_MS;
  const root = svc.tracer.startSpan('GET /checkout', {
    kind: SpanKind.SERVER, startTime: hr(ms(0)), attributes: { 'http.request.method': 'GET', 'http.route': '/checkout' },
  }, ROOT_CONTEXT);
  const rootCtx = trace.setSpan(ROOT_CONTEXT, root);
  const child = svc.tracer.startSpan('charge card', { kind: SpanKind.INTERNAL, startTime: hr(ms(10)) }, rootCtx);
  const childCtx = trace.setSpan(ROOT_CONTEXT, child);
  const records = [
    { key: 'debug', span: root, at: ms(1), severityNumber: SeverityNumber.DEBUG, severityText: 'DEBUG', body: 'loaded 3 items for cart 17' },
    { key: 'info', span: root, at: ms(2), severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: 'checkout started', attributes: { 'cart.id': 'cart-17' } },
    { key: 'warn', span: child, at: ms(11), severityNumber: SeverityNumber.WARN, severityText: 'WARN', body: 'payment provider slow: 850 ms' },
    {
      key: 'error', span: child, at: ms(12), severityNumber: SeverityNumber.ERROR, severityText: 'ERROR',
      body: { message: 'payment DECLINED for order 77', code: 402 }, attributes: { 'decline.reason': 'Insufficient funds' },
    },
    { key: 'critical', span: child, at: ms(13), severityText: 'CRITICAL', body: 'ledger write failed' },
  ];
  for (const r of records) {
    svc.logger.emit({
      timestamp: hr(r.at), severityNumber: r.severityNumber, severityText: r.severityText, body: r.body,
      attributes: { key: r.key, ...(r.attributes ?? {}) }, context: r.span === root ? rootCtx : childCtx,
    });
  }
  child.end(hr(ms(20)));
  root.end(hr(ms(30)));
  return { traceId: root.spanContext().traceId, root, child, records };
}

// ---- 2. throttling ---------------------------------------------------------

const ORDERS = 'orders';
const PUT_CALLS = 12;
const throttledCall = (i) => i % 2 === 1 && i < 10; // calls 1, 3, 5, 7, 9
const THROTTLED = [...Array(PUT_CALLS).keys()].filter(throttledCall).length;
const RATE_CALLS = 4;
const rateLimited = (j) => j === 2;
const PUT_OP = 'DynamoDB.PutItem';
const RATES_OP = 'GET /v1/rates';
const RATES_HOST = 'api.fxrates.example';
const RATE_LOG = 'DynamoDB PutItem on table orders: Rate exceeded (ProvisionedThroughputExceededException), retry 1 of 3 in 200ms';

function emitOrders(svc) {
  const base = nowNs() - 10n * NS_PER_MIN;
  const out = { throttledTraceIds: new Set(), rateLog: null };
  for (let i = 0; i < PUT_CALLS; i++) {
    const t = base + BigInt(i) * 10n * NS_PER_S;
    const throttled = throttledCall(i);
    const srv = svc.tracer.startSpan('POST /orders', {
      kind: SpanKind.SERVER, startTime: hr(t),
      attributes: { 'http.request.method': 'POST', 'http.route': '/orders', 'http.response.status_code': throttled ? 500 : 201 },
    }, ROOT_CONTEXT);
    if (throttled) srv.setStatus({ code: SpanStatusCode.ERROR });
    const srvCtx = trace.setSpan(ROOT_CONTEXT, srv);
    // What @opentelemetry/instrumentation-aws-sdk records for a DynamoDB call.
    const put = svc.tracer.startSpan(PUT_OP, {
      kind: SpanKind.CLIENT, startTime: hr(t + 1n * NS_PER_MS),
      attributes: {
        'rpc.system': 'aws-api', 'rpc.service': 'DynamoDB', 'rpc.method': 'PutItem',
        'db.system': 'dynamodb', 'db.operation': 'PutItem', 'aws.dynamodb.table_names': ['orders'],
        'cloud.region': 'eu-west-1', 'aws.request.id': `REQ${1000 + i}`,
      },
    }, srvCtx);
    if (throttled) {
      const err = new Error('The level of configured provisioned throughput for the table was exceeded. '
        + 'Consider increasing your provisioning level with the UpdateTable API.');
      err.name = 'ProvisionedThroughputExceededException';
      put.recordException(err, hr(t + 9n * NS_PER_MS));
      put.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
      out.throttledTraceIds.add(srv.spanContext().traceId);
      if (!out.rateLog) {
        out.rateLog = { traceId: put.spanContext().traceId, spanId: put.spanContext().spanId, at: t + 10n * NS_PER_MS };
        svc.logger.emit({
          timestamp: hr(out.rateLog.at), severityNumber: SeverityNumber.WARN, severityText: 'WARN',
          body: RATE_LOG, attributes: { 'aws.table': 'orders' }, context: trace.setSpan(ROOT_CONTEXT, put),
        });
      }
    } else {
      svc.logger.emit({
        timestamp: hr(t + 10n * NS_PER_MS), severityNumber: SeverityNumber.INFO, severityText: 'INFO',
        body: `order ${5000 + i} stored`, context: srvCtx,
      });
    }
    put.end(hr(t + 9n * NS_PER_MS));
    if (i < RATE_CALLS) {
      const status = rateLimited(i) ? 429 : 200;
      const call = svc.tracer.startSpan(RATES_OP, {
        kind: SpanKind.CLIENT, startTime: hr(t + 10n * NS_PER_MS),
        attributes: {
          'http.request.method': 'GET', 'server.address': RATES_HOST, 'server.port': 443,
          'url.full': `https://${RATES_HOST}/v1/rates?base=EUR`, 'http.response.status_code': status,
          ...(status === 429 ? { 'http.response.header.retry-after': ['2'] } : {}),
        },
      }, srvCtx);
      if (status === 429) call.setStatus({ code: SpanStatusCode.ERROR });
      call.end(hr(t + 30n * NS_PER_MS));
    }
    srv.end(hr(t + 40n * NS_PER_MS));
  }
  return out;
}

// ---- 3. deployments ----------------------------------------------------------

const CART = 'cart';

// ---- 5. log patterns ---------------------------------------------------------

const PATTERN_SVC = 'billing-worker';
const PATTERN_LINES = 60;
const TEMPLATES = [
  'user <NUM> logged in from <IP>',
  'request <UUID> completed in <NUM>ms',
  'connection to <IP> reset after <NUM> retries',
];
const uuid = (i) => `${(0x1a2b3c00 + i * 7919).toString(16).padStart(8, '0')}-${(0x4d5e + i).toString(16)}-4${(0x1f0 + i).toString(16).padStart(3, '0')}-8${(0xa10 + i * 3).toString(16).padStart(3, '0')}-${(0x5f3e2d1c0b0a + i * 104729).toString(16).padStart(12, '0')}`;
function patternLine(i) {
  const k = Math.floor(i / 3);
  switch (i % 3) {
    case 0: return { template: 0, severity: SeverityNumber.INFO, text: 'INFO', body: `user ${1000 + k * 37} logged in from 10.${k}.${(k * 3) % 250}.${(k * 11 + 1) % 250}` };
    case 1: return { template: 1, severity: SeverityNumber.DEBUG, text: 'DEBUG', body: `request ${uuid(k)} completed in ${5 + k * 13}ms` };
    default: return { template: 2, severity: SeverityNumber.WARN, text: 'WARN', body: `connection to 192.168.${k % 7}.${k + 1}:${5400 + k} reset after ${(k % 5) + 1} retries` };
  }
}

describe('evidence: logs, throttling, deployments, log patterns', () => {
  let server;
  let dataDir;
  const services = [];
  let cartBefore = null;   // GET /api/v1/deployments?service=cart before the restart
  let postedAt = null;     // [before, after] wall clock of the POST, ns

  before(async () => {
    dataDir = makeTempDir('evidence');
    server = await startServer({ dataDir });
  });

  after(async () => {
    await Promise.allSettled(services.map((s) => s.shutdown()));
    try {
      if (server) await assertStopsCleanly(server);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  for (const kind of EXPORTERS) {
    it(`${kind}: logs emitted inside spans read back with their trace and span ids; severity= and q= select exactly`, async () => {
      const svc = makeService(server, { name: `it-evidence-logs-${kind}`, version: '1.0.0', traces: kind, logs: kind });
      services.push(svc);
      const { traceId, root, child, records } = emitCorrelated(svc);
      await svc.settle(kind);
      assert.equal(svc.logRec.items.length, records.length);

      const all = await fetchLogs(server, `trace_id=${traceId}`, records.length, SETTLE_MS);
      assert.equal(all.status, 200, `GET /api/v1/logs?trace_id=${traceId}: ${all.status} ${all.text}`);
      assert.equal(all.json.truncated, false);
      const keys = (r) => r.json.logs.map((l) => l.attributes.key);
      assert.deepStrictEqual(keys(all), ['critical', 'error', 'warn', 'info', 'debug'],
        `GET /api/v1/logs?trace_id=${traceId}: the trace's records, newest first`);
      for (const l of all.json.logs) {
        const r = records.find((x) => x.key === l.attributes.key);
        const what = `log "${r.key}" of trace ${traceId}`;
        assert.equal(l.trace_id, traceId, `${what}: trace_id`);
        assert.equal(l.span_id, r.span.spanContext().spanId, `${what}: span_id (the span it was emitted in)`);
        assert.equal(l.flags, 1, `${what}: flags (sampled)`);
        assert.equal(l.service, svc.name, `${what}: service`);
        assert.equal(l.time_unix_nano, r.at.toString(), `${what}: time_unix_nano`);
        assert.equal(l.time, rfc3339Nano(r.at), `${what}: time`);
        assert.equal(l.severity_number, r.severityNumber ?? 0, `${what}: severity_number`);
        assert.equal(l.severity_text, r.severityText, `${what}: severity_text`);
        assert.deepStrictEqual(l.body, r.body, `${what}: body`);
      }
      // The spans they point at are the spans of the trace.
      const tr = await fetchTrace(server, traceId, 2, SETTLE_MS);
      assert.equal(tr.status, 200, `GET /api/v1/traces/${traceId}: ${tr.status} ${tr.text}`);
      assert.deepStrictEqual(tr.json.spans.map((s) => s.span_id).sort(),
        [root.spanContext().spanId, child.spanContext().spanId].sort(), `GET /api/v1/traces/${traceId}: span ids`);

      const cases = [
        ['severity=warn', ['critical', 'error', 'warn']],
        ['severity=WARNING', ['critical', 'error', 'warn']],
        ['severity=13', ['critical', 'error', 'warn']],
        ['severity_min=error', ['critical', 'error']],
        ['severity=fatal', ['critical']],
        ['severity=info', ['critical', 'error', 'warn', 'info']],
        ['severity=debug', ['critical', 'error', 'warn', 'info', 'debug']],
        ['q=declined', ['error']],                       // a string inside a structured body, any case
        ['q=INSUFFICIENT%20FUNDS', ['error']],           // a string attribute value
        ['q=cart', ['info', 'debug']],                   // body of one, attribute value of the other
        ['q=cart&severity=info', ['info']],
        ['q=slow&severity=error', []],
        ['q=402', []],                                   // numbers are not text
        ['q=no-such-text', []],
        [`q=ledger&service=${encodeURIComponent(svc.name)}`, ['critical']],
        ['q=ledger&service=another-service', []],
      ];
      for (const [query, want] of cases) {
        const path = `/api/v1/logs?trace_id=${traceId}&${query}`;
        const r = await apiGetJson(server, path);
        assert.equal(r.status, 200, `GET ${path}: ${r.status} ${r.text}`);
        assert.deepStrictEqual(keys(r), want, `GET ${path}: records selected`);
      }
      const bad = await apiGetJson(server, `/api/v1/logs?trace_id=${traceId}&severity=loud`);
      assert.equal(bad.status, 400, `severity=loud: ${bad.status} ${bad.text}`);
      assert.match(bad.json?.error ?? '', /^severity/, `severity=loud: the 400 names the parameter (${bad.text})`);
    });
  }

  it('throttling: DynamoDB ProvisionedThroughputExceeded and HTTP 429 counted on the operations and the orders -> DynamoDB edge; the "Rate exceeded" log is found', async () => {
    const svc = makeService(server, { name: ORDERS, version: '3.2.1', environment: 'prod', traces: 'grpc', logs: 'http-protobuf' });
    services.push(svc);
    const sent = emitOrders(svc);
    await svc.settle(ORDERS);
    assert.equal(THROTTLED, 5);

    // Operations of orders, RED per (name, kind).
    const opsPath = `/api/v1/services/${ORDERS}/operations?window=1h`;
    const ops = await pollJson(server, opsPath, (r) => r.status === 200
      && (r.json.operations.find((o) => o.name === PUT_OP && o.kind === 'client')?.red.requests ?? 0) >= PUT_CALLS, SETTLE_MS);
    assert.equal(ops.status, 200, `GET ${opsPath}: ${ops.status} ${ops.text}`);
    const op = (name, kind) => ops.json.operations.find((o) => o.name === name && o.kind === kind);
    const counts = (red) => ({ requests: red.requests, errors: red.errors, throttled: red.throttled });
    const put = op(PUT_OP, 'client');
    assert.ok(put, `GET ${opsPath}: no ${PUT_OP} [client] in ${fmt(ops.json.operations.map((o) => `${o.name} [${o.kind}]`))}`);
    assert.deepStrictEqual(counts(put.red), { requests: PUT_CALLS, errors: THROTTLED, throttled: THROTTLED },
      `GET ${opsPath}: ${PUT_OP} [client] RED (${THROTTLED} of ${PUT_CALLS} calls failed with ProvisionedThroughputExceededException)`);
    assert.ok(put.red.exemplars.some((e) => e.failed && sent.throttledTraceIds.has(e.trace_id)),
      `GET ${opsPath}: ${PUT_OP} exemplars should lead to a throttled call: ${fmt(put.red.exemplars)}`);
    const rates = op(RATES_OP, 'client');
    assert.ok(rates, `GET ${opsPath}: no ${RATES_OP} [client]`);
    assert.deepStrictEqual({ ...counts(rates.red), client_errors: rates.red.client_errors, faults: rates.red.faults },
      { requests: RATE_CALLS, errors: 1, throttled: 1, client_errors: 1, faults: 0 },
      `GET ${opsPath}: ${RATES_OP} [client] RED (one HTTP 429 of ${RATE_CALLS} calls)`);
    const srv = op('POST /orders', 'server');
    assert.ok(srv, `GET ${opsPath}: no POST /orders [server]`);
    assert.equal(srv.red.requests, PUT_CALLS, `GET ${opsPath}: POST /orders [server] requests`);

    // Topology: the AWS SDK call is an edge to the DynamoDB database node.
    const topoPath = '/api/v1/topology?window=1h';
    const topo = await pollJson(server, topoPath, (r) => r.status === 200
      && (r.json.edges.find((e) => e.source === ORDERS && e.target === 'DynamoDB')?.red.requests ?? 0) >= PUT_CALLS, SETTLE_MS);
    assert.equal(topo.status, 200, `GET ${topoPath}: ${topo.status} ${topo.text}`);
    const edge = topo.json.edges.find((e) => e.source === ORDERS && e.target === 'DynamoDB');
    assert.ok(edge, `GET ${topoPath}: no edge ${ORDERS} -> DynamoDB in ${fmt(topo.json.edges.map((e) => `${e.source} -> ${e.target}`))}`);
    assert.equal(edge.kind, 'call', `edge ${ORDERS} -> DynamoDB: kind`);
    assert.deepStrictEqual(counts(edge.red), { requests: PUT_CALLS, errors: THROTTLED, throttled: THROTTLED },
      `GET ${topoPath}: edge ${ORDERS} -> DynamoDB RED`);
    const node = topo.json.nodes.find((n) => n.id === 'DynamoDB');
    assert.ok(node, `GET ${topoPath}: no node DynamoDB`);
    assert.equal(node.type, 'database', 'node DynamoDB: type');
    assert.equal(node.red.throttled, THROTTLED, 'node DynamoDB: throttled (the sum of the edges into it)');
    assert.equal(topo.json.nodes.find((n) => n.id === ORDERS)?.type, 'service', `node ${ORDERS}: type`);

    // The log line, by a case-insensitive substring, and correlated.
    const q = `service=${ORDERS}&q=rate%20exceeded`;
    const logs = await fetchLogs(server, q, 1, SETTLE_MS);
    assert.equal(logs.status, 200, `GET /api/v1/logs?${q}: ${logs.status} ${logs.text}`);
    assert.deepStrictEqual(logs.json.logs.map((l) => l.body), [RATE_LOG], `GET /api/v1/logs?${q}: exactly the rate log`);
    const l = logs.json.logs[0];
    assert.deepStrictEqual({ trace_id: l.trace_id, span_id: l.span_id, time_unix_nano: l.time_unix_nano, service: l.service },
      { trace_id: sent.rateLog.traceId, span_id: sent.rateLog.spanId, time_unix_nano: sent.rateLog.at.toString(), service: ORDERS },
      `GET /api/v1/logs?${q}: the log's correlation`);
    const other = await apiGetJson(server, `/api/v1/logs?service=${ORDERS}&q=rate%20limited`);
    assert.equal(other.status, 200, other.text);
    assert.deepStrictEqual(other.json.logs, [], 'q=rate limited matches nothing');
  });

  it('log patterns: 60 lines of 3 templates give exactly 3 masked patterns of 20', async () => {
    const svc = makeService(server, { name: PATTERN_SVC, version: '7.0.0', traces: 'http-json', logs: 'http-json' });
    services.push(svc);
    const base = nowNs() - 5n * NS_PER_MIN;
    const expected = TEMPLATES.map((template) => ({ template, count: 0, times: [], example: null, maxSeverity: 0 }));
    for (let i = 0; i < PATTERN_LINES; i++) {
      const line = patternLine(i);
      const at = base + BigInt(i) * 2n * NS_PER_S + BigInt(i * 1000 + 7);
      svc.logger.emit({ timestamp: hr(at), severityNumber: line.severity, severityText: line.text, body: line.body });
      const e = expected[line.template];
      e.count++;
      e.times.push(at);
      e.example ??= line.body;
      e.maxSeverity = Math.max(e.maxSeverity, line.severity);
      // One export per record, each acknowledged before the next: arrival
      // order is emission order ("example" is the first body seen), and the
      // exporter's concurrent export limit (30) is never reached.
      await svc.settle(`${PATTERN_SVC} line ${i}`);
    }
    await svc.settle(PATTERN_SVC);
    assert.equal(svc.logRec.items.length, PATTERN_LINES);

    const path = `/api/v1/logs/patterns?service=${PATTERN_SVC}&window=1h`;
    const r = await pollJson(server, path, (x) => x.status === 200
      && x.json.patterns.reduce((s, p) => s + p.count, 0) >= PATTERN_LINES, SETTLE_MS);
    assert.equal(r.status, 200, `GET ${path}: ${r.status} ${r.text}`);
    assert.equal(r.json.truncated, false);
    const got = r.json.patterns.map((p) => ({ template: p.template, count: p.count })).sort((a, b) => a.template.localeCompare(b.template));
    const want = expected.map((e) => ({ template: e.template, count: e.count })).sort((a, b) => a.template.localeCompare(b.template));
    assert.deepStrictEqual(got, want, `GET ${path}: templates and counts`);
    for (const p of r.json.patterns) {
      const e = expected.find((x) => x.template === p.template);
      const first = e.times[0];
      const last = e.times[e.times.length - 1];
      const what = `GET ${path}: pattern "${p.template}"`;
      assert.match(p.id, /^[0-9a-f]{16}$/, `${what}: id`);
      assert.deepStrictEqual({
        service: p.service, baseline_count: p.baseline_count, total_count: p.total_count,
        first_seen_unix_nano: p.first_seen_unix_nano, first_seen: p.first_seen,
        last_seen_unix_nano: p.last_seen_unix_nano, last_seen: p.last_seen,
        example: p.example, max_severity: p.max_severity, trace_ids: p.trace_ids, new: p.new, overflow: p.overflow,
      }, {
        service: PATTERN_SVC, baseline_count: 0, total_count: e.count,
        first_seen_unix_nano: first.toString(), first_seen: rfc3339Nano(first),
        last_seen_unix_nano: last.toString(), last_seen: rfc3339Nano(last),
        example: e.example, max_severity: e.maxSeverity, trace_ids: [], new: true, overflow: false,
      }, what);
    }
    // Sorted by count, then baseline count, then id.
    const ids = r.json.patterns.map((p) => p.id);
    assert.deepStrictEqual(ids, [...ids].sort(), `GET ${path}: equal counts are ordered by id`);
  });

  it('deployments: a rolling 1.4.0 -> 1.5.0 deploy is one inferred deployment at the first-seen time of 1.5.0; POST validates', async () => {
    const v14 = makeService(server, { name: CART, version: '1.4.0', environment: 'prod', traces: 'http-protobuf' });
    const v15 = makeService(server, { name: CART, version: '1.5.0', environment: 'prod', traces: 'grpc' });
    services.push(v14, v15);
    const t0 = nowNs() - 40n * NS_PER_MIN;
    const firstSeen15 = t0 + 5n * NS_PER_MIN + 123456789n;
    // [service, start], in arrival order: old pods; a new pod; old and new
    // interleaving (a rolling deploy); the first new pod's span arriving
    // late (a delayed batch: its event time is the earliest of 1.5.0).
    const timeline = [
      [v14, t0], [v14, t0 + NS_PER_MIN],
      [v15, t0 + 5n * NS_PER_MIN + 40n * NS_PER_S],
      [v14, t0 + 5n * NS_PER_MIN + 50n * NS_PER_S],
      [v15, firstSeen15],
      [v15, t0 + 6n * NS_PER_MIN],
      [v14, t0 + 6n * NS_PER_MIN + 30n * NS_PER_S],
      [v15, t0 + 7n * NS_PER_MIN], [v14, t0 + 7n * NS_PER_MIN + NS_PER_S], [v15, t0 + 8n * NS_PER_MIN],
    ];
    for (const [svc, at] of timeline) {
      const s = svc.tracer.startSpan('GET /cart', {
        kind: SpanKind.SERVER, startTime: hr(at), attributes: { 'http.request.method': 'GET', 'http.route': '/cart' },
      }, ROOT_CONTEXT);
      s.end(hr(at + 5n * NS_PER_MS));
      await svc.settle(`${CART} ${svc === v14 ? '1.4.0' : '1.5.0'}`); // one export per span, in this order
    }
    const spansPath = `/api/v1/traces?service=${CART}&limit=1000&from=${t0 - NS_PER_MIN}`;
    const spans = await pollJson(server, spansPath, (r) => r.status === 200 && r.json.traces.length >= timeline.length, SETTLE_MS);
    assert.equal(spans.json?.traces?.length, timeline.length, `GET ${spansPath}: every cart span held (${spans.text.slice(0, 200)})`);

    const listPath = `/api/v1/deployments?service=${CART}`;
    const list = await pollJson(server, listPath, (r) => r.status === 200 && r.json.deployments.length >= 1, SETTLE_MS);
    assert.equal(list.status, 200, `GET ${listPath}: ${list.status} ${list.text}`);
    assert.equal(list.json.truncated, false);
    assert.equal(list.json.deployments.length, 1, `GET ${listPath}: exactly one deployment for a rolling deploy: ${list.text}`);
    const d = list.json.deployments[0];
    assert.equal(typeof d.id, 'number', `GET ${listPath}: id`);
    assert.deepStrictEqual({
      service: d.service, version: d.version, previous_version: d.previous_version, environment: d.environment,
      commit: d.commit, description: d.description, source: d.source,
      timestamp_unix_nano: d.timestamp_unix_nano, timestamp: d.timestamp,
    }, {
      service: CART, version: '1.5.0', previous_version: '1.4.0', environment: 'prod',
      commit: null, description: null, source: 'inferred',
      timestamp_unix_nano: firstSeen15.toString(), timestamp: rfc3339Nano(firstSeen15),
    }, `GET ${listPath}: the inferred deployment (first-seen time of 1.5.0 = ${firstSeen15})`);

    // A recorded deployment.
    const before = nowNs();
    const posted = await postJson(server, '/api/v1/deployments', { service: CART, version: '1.6.0', commit: 'abc123' });
    const afterPost = nowNs();
    postedAt = [before, afterPost];
    assert.equal(posted.status, 201, `POST /api/v1/deployments {cart, 1.6.0, abc123}: ${posted.status} ${posted.text}`);
    const p = posted.json;
    assert.deepStrictEqual({
      service: p.service, version: p.version, previous_version: p.previous_version, environment: p.environment,
      commit: p.commit, description: p.description, source: p.source,
    }, {
      service: CART, version: '1.6.0', previous_version: '1.5.0', environment: null,
      commit: 'abc123', description: null, source: 'api',
    }, `POST /api/v1/deployments: the stored object (${posted.text})`);
    const ts = BigInt(p.timestamp_unix_nano);
    assert.ok(ts >= before - NS_PER_S && ts <= afterPost + NS_PER_S,
      `POST without timestamp: timestamp ${p.timestamp} should be the time of the POST`);
    assert.equal(p.timestamp, rfc3339Nano(ts), 'POST: timestamp and timestamp_unix_nano agree');
    assert.ok(p.id > d.id, `POST: id ${p.id} after the inferred one's ${d.id}`);

    // Bad bodies: 400 naming the field, nothing stored.
    const bad = [
      [{ version: '1.7.0' }, /^service/],
      [{ service: CART }, /^version/],
      [{ service: '', version: '1.7.0' }, /^service/],
      [{ service: CART, version: 170 }, /^version/],
      [{ service: CART, version: 'v'.repeat(129) }, /^version/],
      [{ service: 's'.repeat(257), version: '1.7.0' }, /^service/],
      [{ service: CART, version: '1.7.0', timestamp: 'yesterday' }, /^timestamp/],
      [{ service: CART, version: '1.7.0', timestamp: true }, /^timestamp/],
      [{ service: CART, version: '1.7.0', environment: 5 }, /^environment/],
      [{ service: CART, version: '1.7.0', commit: 'c'.repeat(257) }, /^commit/],
      [{ service: CART, version: '1.7.0', description: ['x'] }, /^description/],
      ['{"service":"cart","version":', /^body/],
      ['[{"service":"cart","version":"1.7.0"}]', /^body/],
      ['{"service":"cart","service":"cart","version":"1.7.0"}', /^body/],
    ];
    for (const [body, field] of bad) {
      const r = await postJson(server, '/api/v1/deployments', body);
      const shown = (typeof body === 'string' ? body : JSON.stringify(body)).slice(0, 80);
      assert.equal(r.status, 400, `POST /api/v1/deployments ${shown}: ${r.status} ${r.text}`);
      assert.match(r.json?.error ?? '', field, `POST /api/v1/deployments ${shown}: the 400 names the field (${r.text})`);
    }
    const wrongType = await postJson(server, '/api/v1/deployments', { service: CART, version: '1.7.0' }, 'text/plain');
    assert.equal(wrongType.status, 415, `POST with Content-Type text/plain: ${wrongType.status} ${wrongType.text}`);

    const now = await apiGetJson(server, listPath);
    assert.equal(now.status, 200, now.text);
    assert.deepStrictEqual(now.json.deployments.map((x) => [x.version, x.source]), [['1.6.0', 'api'], ['1.5.0', 'inferred']],
      `GET ${listPath}: newest first, and no bad body stored`);
    assert.deepStrictEqual(now.json.deployments[0], p, `GET ${listPath}: the posted deployment as POST answered it`);
    assert.deepStrictEqual(now.json.deployments[1], d, `GET ${listPath}: the inferred deployment unchanged`);
    const bogus = await apiGetJson(server, `/api/v1/deployments?service=${CART}&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z`);
    assert.equal(bogus.status, 400, `from later than to: ${bogus.status} ${bogus.text}`);
    cartBefore = now.json;
  });

  it('GET /metrics: deployment and log pattern self-metrics, promtool-clean', async (t) => {
    const r = await apiGetJson(server, '/metrics');
    assert.equal(r.status, 200, `GET /metrics: ${r.status}`);
    if (!existsSync(PROMTOOL)) {
      t.diagnostic(`${PROMTOOL} missing (apt-get install prometheus): exposition not linted here`);
    } else {
      const lint = spawnSync(PROMTOOL, ['check', 'metrics'], { input: r.text, encoding: 'utf8', timeout: 30000 });
      assert.equal(lint.status, 0, `promtool check metrics exited ${lint.status}:\n${lint.stdout}${lint.stderr}`);
    }
    const series = parseMetrics(r.text);
    const value = (name) => {
      const found = series.filter((s) => s.name === name);
      assert.equal(found.length, 1, `/metrics ${name}: ${found.length} series`);
      return found[0].value;
    };
    // Services reporting a version: 3 log services, orders, billing-worker, cart.
    assert.deepStrictEqual({
      services: value('flywheel_deployments_services'),
      recorded: value('flywheel_deployments_recorded_total'),
      inferred: value('flywheel_deployments_inferred_total'),
      write_errors: value('flywheel_deployments_write_errors_total'),
    }, { services: 6, recorded: 1, inferred: 1, write_errors: 0 }, '/metrics flywheel_deployments_*');
    // Lines mined: 5 per log exporter test, 1 + 7 of orders, 60 of billing-worker.
    const ordersLines = 1 + [...Array(PUT_CALLS).keys()].filter((i) => !throttledCall(i)).length;
    assert.deepStrictEqual({
      lines: value('flywheel_log_patterns_lines_total'),
      services: value('flywheel_log_patterns_services'),
      dropped: value('flywheel_log_patterns_dropped_total'),
      overflow: value('flywheel_log_patterns_overflow_total'),
    }, {
      lines: 5 * EXPORTERS.length + ordersLines + PATTERN_LINES,
      services: EXPORTERS.length + 2, dropped: 0, overflow: 0,
    }, '/metrics flywheel_log_patterns_*');
    assert.ok(value('flywheel_log_patterns_held') >= 3 + 2, 'flywheel_log_patterns_held');
    assert.ok(value('flywheel_log_patterns_memory_used_bytes') > 0, 'flywheel_log_patterns_memory_used_bytes');
  });

  it('deployments survive a SIGTERM restart on the same --data-dir, with the versions they know', async () => {
    assert.ok(cartBefore, 'the deployments test ran first');
    await assertStopsCleanly(server);
    server = null;
    server = await startServer({ dataDir });
    const listPath = `/api/v1/deployments?service=${CART}`;
    const r = await apiGetJson(server, listPath);
    assert.equal(r.status, 200, `GET ${listPath} after the restart: ${r.status} ${r.text}`);
    assert.deepStrictEqual(r.json, cartBefore, `GET ${listPath}: the same deployments after the restart`);

    // Known versions survived too: 1.4.0 and 1.5.0 again infer nothing, a
    // new 1.7.0 (after the posted 1.6.0) is one deployment.
    const v15 = makeService(server, { name: CART, version: '1.5.0', environment: 'prod', traces: 'grpc' });
    const v17 = makeService(server, { name: CART, version: '1.7.0', environment: 'canary', traces: 'http-json' });
    const v14 = makeService(server, { name: CART, version: '1.4.0', environment: 'prod', traces: 'http-protobuf' });
    services.push(v15, v17, v14);
    // 1.7.0 first appears between the POST of 1.6.0 and now.
    const t = postedAt[0] - NS_PER_MIN;
    const firstSeen17 = postedAt[1] + (nowNs() - postedAt[1]) / 2n;
    for (const [svc, at] of [[v15, t], [v14, t + NS_PER_S], [v17, firstSeen17], [v15, firstSeen17 + 1n]]) {
      const s = svc.tracer.startSpan('GET /cart', { kind: SpanKind.SERVER, startTime: hr(at) }, ROOT_CONTEXT);
      s.end(hr(at + 5n * NS_PER_MS));
      await svc.settle(`${CART} after restart`);
    }
    const list = await pollJson(server, listPath, (x) => x.status === 200 && x.json.deployments.length >= 3, SETTLE_MS);
    assert.equal(list.status, 200, list.text);
    assert.deepStrictEqual(list.json.deployments.map((x) => [x.version, x.source, x.previous_version]),
      [['1.7.0', 'inferred', '1.6.0'], ['1.6.0', 'api', '1.5.0'], ['1.5.0', 'inferred', '1.4.0']],
      `GET ${listPath} after the restart and new telemetry: ${list.text}`);
    const d = list.json.deployments[0];
    assert.deepStrictEqual({ timestamp_unix_nano: d.timestamp_unix_nano, environment: d.environment },
      { timestamp_unix_nano: firstSeen17.toString(), environment: 'canary' }, `GET ${listPath}: the 1.7.0 deployment`);
    assert.deepStrictEqual(list.json.deployments.slice(1), cartBefore.deployments, `GET ${listPath}: the earlier ones unchanged`);
  });
});

// 10-sdk-traces: spans made by the official OpenTelemetry JS SDK, exported by
// each official exporter (gRPC, HTTP/protobuf, HTTP/JSON), with and without
// gzip, over cleartext and TLS, then read back through
// GET /api/v1/traces/{id} and compared field by field with what the SDK made.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { startServer, makeCert, makeTempDir } from './helpers/server.mjs';
import { fetchTrace } from './helpers/http.mjs';
import { KIND_NAMES, randomTraceId, randomSpanId } from './helpers/otlp.mjs';
import {
  EXPORTERS, makeTraceExporter, RecordingExporter, hrToNanos, hrToNanoString, hrToRfc3339,
  otlpSpanFlags, assertLike,
} from './helpers/sdk.mjs';

const STATUS = { [SpanStatusCode.UNSET]: 'unset', [SpanStatusCode.OK]: 'ok', [SpanStatusCode.ERROR]: 'error' };

function newProvider(serviceName, exporter) {
  const bsp = new BatchSpanProcessor(exporter, {
    maxQueueSize: 4096, maxExportBatchSize: 1024, scheduledDelayMillis: 60000, exportTimeoutMillis: 20000,
  });
  return new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': serviceName,
      'service.version': '1.4.2',
      'service.namespace': 'integration',
      'deployment.environment.name': 'test',
      'host.name': 'it-host-1',
    }),
    spanProcessors: [bsp],
  });
}

// Three spans of one trace: SERVER (ok, every attribute kind, an event, a
// link), its CLIENT child (error with message, exception event), and an
// INTERNAL grandchild (unset).
function makeTrace(provider) {
  const tracer = provider.getTracer('flywheel-it-tracer', '0.9.1');
  const linked = { traceId: randomTraceId(), spanId: randomSpanId(), traceFlags: 1 };
  const server = tracer.startSpan('GET /users/:id', {
    kind: SpanKind.SERVER,
    attributes: {
      'http.request.method': 'GET',
      'http.route': '/users/:id',
      'http.response.status_code': 200,
      'server.port': 8080,
      'big.negative': -1234567890123,
      'ratio': 0.125,
      'pi': 3.14159265358979,
      'cache.enabled': true,
      'feature.off': false,
      'tags': ['a', 'b', 'ünïcode ✓'],
      'codes': [200, 404, 503],
      'weights': [0.5, 1.25, -2.75],
      'flags.list': [true, false, true],
      'empty.string': '',
    },
    links: [{ context: linked, attributes: { 'link.kind': 'follows-from', 'link.n': 7 } }],
  }, ROOT_CONTEXT);
  server.addEvent('cache.miss', { 'cache.key': 'user:42', 'cache.ttl_s': 30, 'cache.fill_ratio': 0.75, 'cache.warm': false });
  const serverCtx = trace.setSpan(ROOT_CONTEXT, server);
  const client = tracer.startSpan('SELECT users', {
    kind: SpanKind.CLIENT,
    attributes: {
      'db.system.name': 'postgresql',
      'db.operation.name': 'SELECT',
      'server.address': 'db.internal',
      'peer.service': 'users-db',
    },
  }, serverCtx);
  client.addEvent('exception', {
    'exception.type': 'ConnectionResetError',
    'exception.message': 'connection reset by peer',
  });
  client.setStatus({ code: SpanStatusCode.ERROR, message: 'connection reset by peer' });
  const internal = tracer.startSpan('decode row', { kind: SpanKind.INTERNAL }, trace.setSpan(ROOT_CONTEXT, client));
  internal.end();
  client.end();
  server.setStatus({ code: SpanStatusCode.OK });
  server.end();
  return server.spanContext().traceId;
}

function expectedSpan(rs, serviceName) {
  const ctx = rs.spanContext();
  return {
    trace_id: ctx.traceId,
    span_id: ctx.spanId,
    parent_span_id: rs.parentSpanContext?.spanId ?? null,
    trace_state: '',
    flags: otlpSpanFlags(ctx.traceFlags, rs.parentSpanContext?.isRemote),
    name: rs.name,
    kind: KIND_NAMES[rs.kind + 1],
    start_time: hrToRfc3339(rs.startTime),
    start_time_unix_nano: hrToNanoString(rs.startTime),
    end_time: hrToRfc3339(rs.endTime),
    end_time_unix_nano: hrToNanoString(rs.endTime),
    service: serviceName,
    status: { code: STATUS[rs.status.code], message: rs.status.message ?? '' },
    attributes: { ...rs.attributes },
    dropped_attributes_count: 0,
    events: rs.events.map((e) => ({
      name: e.name,
      time: hrToRfc3339(e.time),
      time_unix_nano: hrToNanoString(e.time),
      attributes: { ...(e.attributes ?? {}) },
      dropped_attributes_count: 0,
    })),
    dropped_events_count: 0,
    links: rs.links.map((l) => ({
      trace_id: l.context.traceId,
      span_id: l.context.spanId,
      trace_state: '',
      flags: otlpSpanFlags(l.context.traceFlags, l.context.isRemote),
      attributes: { ...(l.attributes ?? {}) },
      dropped_attributes_count: 0,
    })),
    dropped_links_count: 0,
    resource: { attributes: { ...rs.resource.attributes }, dropped_attributes_count: 0, schema_url: '' },
    scope: { name: rs.instrumentationScope.name, version: rs.instrumentationScope.version, attributes: {} },
  };
}

function compareTrace(api, exported, serviceName, label) {
  assert.equal(api.status, 200, `${label}: GET trace answered ${api.status} ${api.text}`);
  const spans = api.json.spans;
  assert.equal(spans.length, exported.length, `${label}: span count`);
  assert.equal(api.json.trace_id, exported[0].spanContext().traceId, `${label}: top-level trace_id`);
  // Sorted by start time (docs/API.md).
  for (let i = 1; i < spans.length; i++) {
    assert.ok(BigInt(spans[i - 1].start_time_unix_nano) <= BigInt(spans[i].start_time_unix_nano),
      `${label}: spans not sorted by start time`);
  }
  for (const rs of exported) {
    const got = spans.find((s) => s.span_id === rs.spanContext().spanId);
    assert.ok(got, `${label}: span ${rs.name} (${rs.spanContext().spanId}) missing from the API answer`);
    assertLike(got, expectedSpan(rs, serviceName), `${label}: span "${rs.name}"`);
    const dur = Number(hrToNanos(rs.endTime) - hrToNanos(rs.startTime)) / 1e6;
    assert.ok(Math.abs(got.duration_ms - dur) < 1e-3, `${label}: duration_ms ${got.duration_ms} != ${dur}`);
  }
}

for (const tls of [false, true]) {
  describe(`SDK traces over ${tls ? 'TLS' : 'cleartext'}`, () => {
    let server;
    let certDir;
    before(async () => {
      let certs;
      if (tls) {
        certDir = makeTempDir('cert');
        certs = makeCert(certDir);
      }
      server = await startServer(tls ? { tls: certs, tlsOn: ['otlp_grpc', 'otlp_http'] } : {});
    });
    after(async () => {
      if (server) {
        const alive = server.alive();
        const res = await server.stop();
        assert.ok(alive, `flywheel died during the tests\n${server.stderrTail()}`);
        assert.equal(res.code, 0, `flywheel exit code after SIGTERM (signal ${res.signal})\n${server.stderrTail()}`);
      }
      if (certDir) rmSync(certDir, { recursive: true, force: true });
    });

    for (const kind of EXPORTERS) {
      for (const gzip of [false, true]) {
        const label = `${kind}${gzip ? '+gzip' : ''}${tls ? '+tls' : ''}`;
        it(`${label}: exports a trace that reads back field by field`, async () => {
          const serviceName = `it-${label}`;
          const rec = new RecordingExporter(makeTraceExporter(kind, server, { gzip, tls }));
          const provider = newProvider(serviceName, rec);
          const traceId = makeTrace(provider);
          await provider.forceFlush();
          await rec.settled();
          rec.assertAllSucceeded(label);
          assert.equal(rec.items.length, 3);
          const api = await fetchTrace(server, traceId, 3);
          compareTrace(api, rec.items, serviceName, label);
          await provider.shutdown();
        });
      }
    }

    if (!tls) {
      for (const kind of EXPORTERS) {
        it(`${kind}: one export of 600 spans (several HTTP/2 frames) stores all of them`, async () => {
          const serviceName = `it-batch-${kind}`;
          const rec = new RecordingExporter(makeTraceExporter(kind, server, { gzip: false, tls: false }));
          const provider = newProvider(serviceName, rec);
          const tracer = provider.getTracer('flywheel-it-batch');
          const root = tracer.startSpan('batch root', { kind: SpanKind.SERVER }, ROOT_CONTEXT);
          const ctx = trace.setSpan(ROOT_CONTEXT, root);
          for (let i = 0; i < 599; i++) {
            const s = tracer.startSpan(`child ${i}`, {
              kind: SpanKind.CLIENT,
              attributes: { 'i': i, 'payload': 'x'.repeat(64), 'http.response.status_code': 200 + (i % 3) },
            }, ctx);
            s.end();
          }
          root.end();
          await provider.forceFlush();
          await rec.settled();
          rec.assertAllSucceeded(kind);
          assert.equal(rec.items.length, 600);
          const traceId = root.spanContext().traceId;
          const api = await fetchTrace(server, traceId, 600);
          assert.equal(api.status, 200, api.text);
          assert.equal(api.json.spans.length, 600);
          const byId = new Map(api.json.spans.map((s) => [s.span_id, s]));
          for (const rs of rec.items) {
            const got = byId.get(rs.spanContext().spanId);
            assert.ok(got, `span ${rs.name} missing`);
            assert.equal(got.name, rs.name);
            assert.deepStrictEqual(got.attributes, { ...rs.attributes });
            assert.equal(got.start_time_unix_nano, hrToNanoString(rs.startTime));
          }
          await provider.shutdown();
        });
      }
    }
  });
}

// 11-sdk-logs: log records made by the official OpenTelemetry JS SDK
// (LoggerProvider + SimpleLogRecordProcessor), exported by each official logs
// exporter (gRPC, HTTP/protobuf, HTTP/JSON), with and without gzip, over
// cleartext and TLS, then read back through GET /api/v1/logs and compared
// field by field.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { startServer, makeCert, makeTempDir } from './helpers/server.mjs';
import { fetchLogs } from './helpers/http.mjs';
import { randomTraceId, randomSpanId } from './helpers/otlp.mjs';
import {
  EXPORTERS, makeLogExporter, RecordingExporter, hrToNanoString, hrToRfc3339, assertLike,
} from './helpers/sdk.mjs';

function apiBody(v) {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (Array.isArray(v)) return v.map(apiBody);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, apiBody(x)]));
  return v === undefined ? null : v;
}

function expectedLog(r, serviceName) {
  const sc = r.spanContext;
  return {
    time: hrToRfc3339(r.hrTime),
    time_unix_nano: hrToNanoString(r.hrTime),
    observed_time: hrToRfc3339(r.hrTimeObserved),
    observed_time_unix_nano: hrToNanoString(r.hrTimeObserved),
    severity_number: r.severityNumber ?? 0,
    severity_text: r.severityText ?? '',
    body: apiBody(r.body),
    attributes: apiBody({ ...r.attributes }),
    dropped_attributes_count: 0,
    trace_id: sc ? sc.traceId : null,
    span_id: sc ? sc.spanId : null,
    flags: sc ? sc.traceFlags : 0,
    event_name: r.eventName ?? '',
    service: serviceName,
    resource: { attributes: { ...r.resource.attributes } },
    scope: { name: r.instrumentationScope.name, version: r.instrumentationScope.version },
  };
}

// Four records; three inside a span context (trace id |traceId|), one without.
// Timestamps are explicit (nanosecond precision) and increase with seq.
function emitRecords(provider, traceId) {
  const logger = provider.getLogger('flywheel-it-logger', '2.0.1');
  const ctx = trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId: randomSpanId(), traceFlags: 1 });
  const base = Math.floor(Date.now() / 1000) - 30;
  logger.emit({
    timestamp: [base, 111111111], severityNumber: SeverityNumber.INFO, severityText: 'INFO',
    body: 'user 42 logged in', attributes: { seq: 1, 'user.id': 42, 'http.route': '/login', ok: true, score: 0.5 },
    context: ctx,
  });
  logger.emit({
    timestamp: [base + 1, 222222222], severityNumber: SeverityNumber.ERROR, severityText: 'ERROR',
    body: { message: 'payment failed', code: 402, retry: false, amounts: [1.5, 2, 3], detail: { provider: 'acme', attempt: 3 } },
    attributes: { seq: 2, 'exception.type': 'PaymentError', tags: ['billing', 'eu'] },
    context: ctx,
  });
  logger.emit({
    timestamp: [base + 2, 333333333], severityNumber: SeverityNumber.WARN2, severityText: 'WARN2',
    eventName: 'cache.evicted', body: new Uint8Array([0, 1, 2, 250, 255]),
    attributes: { seq: 3 },
    context: ctx,
  });
  logger.emit({
    timestamp: [base + 3, 444444444], severityNumber: SeverityNumber.DEBUG, severityText: 'DEBUG',
    body: 'no trace context here', attributes: { seq: 4 }, context: ROOT_CONTEXT,
  });
}

const seqOf = (l) => l.attributes?.seq;

for (const tls of [false, true]) {
  describe(`SDK logs over ${tls ? 'TLS' : 'cleartext'}`, () => {
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
      for (const gzip of (tls ? [true] : [false, true])) {
        const label = `${kind}${gzip ? '+gzip' : ''}${tls ? '+tls' : ''}`;
        it(`${label}: exports log records that read back field by field`, async () => {
          const serviceName = `it-logs-${label}`;
          const rec = new RecordingExporter(makeLogExporter(kind, server, { gzip, tls }));
          const provider = new LoggerProvider({
            resource: resourceFromAttributes({ 'service.name': serviceName, 'service.version': '3.1.0', 'k8s.pod.name': 'pod-a' }),
            processors: [new SimpleLogRecordProcessor({ exporter: rec })],
          });
          const traceId = randomTraceId();
          emitRecords(provider, traceId);
          await provider.forceFlush();
          await rec.settled();
          rec.assertAllSucceeded(label);
          assert.equal(rec.items.length, 4);
          const bySeq = new Map(rec.items.map((r) => [r.attributes.seq, r]));

          const byTrace = await fetchLogs(server, `trace_id=${traceId}`, 3);
          assert.equal(byTrace.status, 200, `${label}: ${byTrace.text}`);
          const logs = byTrace.json.logs;
          assert.deepStrictEqual(logs.map(seqOf), [3, 2, 1], `${label}: records of the trace, newest first`);
          for (const l of logs) {
            assertLike(l, expectedLog(bySeq.get(seqOf(l)), serviceName), `${label}: log seq ${seqOf(l)}`);
          }

          const bySvc = await fetchLogs(server, `service=${encodeURIComponent(serviceName)}`, 4);
          assert.equal(bySvc.status, 200, `${label}: ${bySvc.text}`);
          assert.deepStrictEqual(bySvc.json.logs.map(seqOf), [4, 3, 2, 1], `${label}: records of the service, newest first`);
          assertLike(bySvc.json.logs[0], expectedLog(bySeq.get(4), serviceName), `${label}: log without trace context`);
          await provider.shutdown();
        });
      }
    }
  });
}

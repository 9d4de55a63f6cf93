// 85-auth: optional bearer-token authentication (SPEC 3.1), separately for
// ingest (OTLP/HTTP and OTLP/gRPC), the read API and the write API. Each
// surface is called without a token, with a wrong one and with the right
// one; /healthz and /readyz stay open; the official JS SDK exporters
// succeed when configured with the token (HTTP headers / gRPC metadata).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import grpc from '@grpc/grpc-js';
import { ExportResultCode } from '@opentelemetry/core';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { startServer, makeTempDir } from './helpers/server.mjs';
import { httpRequest, fetchTrace, metricValue } from './helpers/http.mjs';
import { grpcCall, TRACE_EXPORT } from './helpers/grpc.mjs';
import { RecordingExporter } from './helpers/sdk.mjs';
import {
  pbTracesRequest, grpcFrame, decodeStatus, randomTraceId, randomSpanId,
} from './helpers/otlp.mjs';

const INGEST = 'ingest-6f1d2c';
const READ = 'read-93ab7e';
const WRITE = 'write-0c44d1';
const UNAUTHENTICATED = 16;

function tracesBody(traceId) {
  const now = BigInt(Date.now()) * 1000000n;
  return pbTracesRequest({
    resource: { attrs: [['service.name', { s: 'auth-it' }]] },
    scope: { name: 'auth-it' },
    spans: [{
      traceId, spanId: randomSpanId(), name: 'GET /auth', kind: 2,
      start: now - 1000000n, end: now,
    }],
  });
}

const bearer = (t) => (t === undefined ? {} : { authorization: `Bearer ${t}` });

describe('bearer-token authentication', () => {
  let server;
  let dir;

  before(async () => {
    dir = makeTempDir('auth');
    // The ingest token comes from a file (trimmed), the API tokens from --set.
    const file = join(dir, 'ingest.token');
    writeFileSync(file, `  ${INGEST}\n`);
    server = await startServer({
      set: {
        'auth.ingest_token_file': file,
        'auth.read_token': READ,
        'auth.write_token': WRITE,
      },
    });
  });

  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('OTLP/HTTP: 401 + google.rpc.Status code 16 without or with a wrong token', async () => {
    for (const [ct, token] of [['application/x-protobuf', undefined], ['application/x-protobuf', 'nope'],
      ['application/json', undefined], ['application/json', READ]]) {
      const body = ct === 'application/json' ? '{"resourceSpans":[]}' : tracesBody(randomTraceId());
      const r = await httpRequest({
        port: server.httpPort, method: 'POST', path: '/v1/traces',
        headers: { 'content-type': ct, ...bearer(token) }, body,
      });
      assert.equal(r.status, 401, `${ct} token=${token}`);
      assert.match(String(r.headers['www-authenticate']), /^Bearer/);
      assert.equal(r.headers['content-type'], ct);
      const st = ct === 'application/json' ? JSON.parse(r.body.toString()) : decodeStatus(r.body);
      assert.equal(Number(st.code), UNAUTHENTICATED);
      assert.match(st.message, /bearer token/);
    }
  });

  it('OTLP/HTTP: accepted with the right token', async () => {
    const traceId = randomTraceId();
    const r = await httpRequest({
      port: server.httpPort, method: 'POST', path: '/v1/traces',
      headers: { 'content-type': 'application/x-protobuf', ...bearer(INGEST) }, body: tracesBody(traceId),
    });
    assert.equal(r.status, 200);
    const got = await apiGet(`/api/v1/traces/${traceId}`, READ);
    assert.equal(got.status, 200);
  });

  it('OTLP/gRPC: UNAUTHENTICATED without or with a wrong token, OK with the right one', async () => {
    for (const token of [undefined, 'nope', WRITE]) {
      const r = await grpcCall({
        port: server.grpcPort, path: TRACE_EXPORT, body: grpcFrame(tracesBody(randomTraceId())),
        headers: bearer(token),
      });
      assert.equal(r.httpStatus, 200);
      assert.equal(r.grpcStatus, UNAUTHENTICATED, `token=${token}`);
      assert.match(r.grpcMessage, /bearer token/);
    }
    const r = await grpcCall({
      port: server.grpcPort, path: TRACE_EXPORT, body: grpcFrame(tracesBody(randomTraceId())),
      headers: bearer(INGEST),
    });
    assert.equal(r.grpcStatus, 0);
  });

  async function apiGet(path, token, method = 'GET') {
    return httpRequest({ port: server.apiPort, method, path, headers: bearer(token) });
  }

  it('health and readiness probes stay open', async () => {
    assert.equal((await apiGet('/healthz')).status, 200);
    assert.equal((await apiGet('/readyz')).status, 200);
  });

  it('read API and /metrics need the read token', async () => {
    for (const path of ['/api/v1/services', '/api/v1/logs', '/metrics', '/api/v1/no-such-route']) {
      for (const token of [undefined, 'nope', WRITE]) {
        const r = await apiGet(path, token);
        assert.equal(r.status, 401, `${path} token=${token}`);
        assert.match(String(r.headers['www-authenticate']), /^Bearer/);
        assert.match(JSON.parse(r.body.toString()).error, /bearer token/);
      }
    }
    assert.equal((await apiGet('/api/v1/services', READ)).status, 200);
    assert.equal((await apiGet('/api/v1/logs', READ, 'HEAD')).status, 200);
    const m = await apiGet('/metrics', READ);
    assert.equal(m.status, 200);
    assert.match(m.body.toString(), /flywheel_api_requests_unauthenticated_total\{access="read"\} [1-9]/);
  });

  it('write API (deployments, alarm webhooks) needs the write token', async () => {
    const dep = JSON.stringify({ service: 'auth-it', version: '2.0.0' });
    const post = (path, token, body) => httpRequest({
      port: server.apiPort, method: 'POST', path, body,
      headers: { 'content-type': 'application/json', ...bearer(token) },
    });
    for (const token of [undefined, 'nope', READ]) {
      const r = await post('/api/v1/deployments', token, dep);
      assert.equal(r.status, 401, `token=${token}`);
      assert.match(String(r.headers['www-authenticate']), /^Bearer/);
      const a = await post('/api/v1/alarms/alertmanager', token, '{}');
      assert.equal(a.status, 401);
    }
    const ok = await post('/api/v1/deployments', WRITE, dep);
    assert.ok(ok.status >= 200 && ok.status < 300, `status ${ok.status}: ${ok.body}`);
    const del = await httpRequest({ port: server.apiPort, method: 'DELETE', path: '/api/v1/slos/none' });
    assert.equal(del.status, 401);
  });

  it('the official JS SDK exporters succeed with the token and fail without', async () => {
    const exporters = (token) => {
      const headers = token ? { Authorization: `Bearer ${token}` } : {};
      const metadata = new grpc.Metadata();
      if (token) metadata.set('authorization', `Bearer ${token}`);
      return {
        'http-protobuf': new ProtoTraceExporter({ url: `http://127.0.0.1:${server.httpPort}/v1/traces`, headers, timeoutMillis: 10000 }),
        'http-json': new JsonTraceExporter({ url: `http://127.0.0.1:${server.httpPort}/v1/traces`, headers, timeoutMillis: 10000 }),
        grpc: new GrpcTraceExporter({
          url: `http://127.0.0.1:${server.grpcPort}`, credentials: grpc.credentials.createInsecure(),
          metadata, timeoutMillis: 10000,
        }),
      };
    };
    for (const [token, want] of [[INGEST, ExportResultCode.SUCCESS], [undefined, ExportResultCode.FAILED]]) {
      for (const [kind, exp] of Object.entries(exporters(token))) {
        const rec = new RecordingExporter(exp);
        const provider = new BasicTracerProvider({
          resource: resourceFromAttributes({ 'service.name': `auth-sdk-${kind}` }),
          spanProcessors: [new SimpleSpanProcessor(rec)],
        });
        const span = provider.getTracer('auth-it').startSpan('sdk span');
        const traceId = span.spanContext().traceId;
        span.end();
        // forceFlush rejects when the export failed (the no-token case).
        await provider.forceFlush().catch(() => {});
        await rec.settled();
        assert.equal(rec.results.length, 1, kind);
        assert.equal(rec.results[0].code, want, `${kind} token=${token}: ${rec.results[0].error}`);
        if (want === ExportResultCode.SUCCESS) {
          assert.equal((await apiGet(`/api/v1/traces/${traceId}`, READ)).status, 200, kind);
        }
        await provider.shutdown();
      }
    }
  });
});

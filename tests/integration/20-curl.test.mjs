// 20-curl: OTLP/HTTP with the curl CLI as an operator would use it: OTLP/JSON
// and protobuf over HTTP/1.1 (Content-Length, chunked, keep-alive), h2c with
// prior knowledge on the OTLP/HTTP and API listeners, gzip bodies, and TLS
// (ALPN http/1.1 and h2). Every accepted export is read back through the API
// and compared field by field.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, gunzipSync } from 'node:zlib';
import { startServer, makeCert, makeTempDir } from './helpers/server.mjs';
import { curl } from './helpers/curl.mjs';
import { fetchTrace, fetchLogs } from './helpers/http.mjs';
import {
  sampleTrace, jsonTracesRequest, pbTracesRequest, expectedTraceSpans, jsonLogsRequest,
  apiLog, randomTraceId, randomSpanId, recentNanos, decodeExportResponse,
} from './helpers/otlp.mjs';
import { assertLike } from './helpers/sdk.mjs';

function assertTraceMatches(api, req, label) {
  assert.equal(api.status, 200, `${label}: GET trace answered ${api.status} ${api.text}`);
  const expected = expectedTraceSpans(req);
  assert.equal(api.json.spans.length, expected.length, `${label}: span count`);
  for (const e of expected) {
    const got = api.json.spans.find((s) => s.span_id === e.span_id);
    assert.ok(got, `${label}: span ${e.name} missing`);
    assertLike(got, e, `${label}: span "${e.name}"`);
  }
  // Integers beyond 2^53 are printed exactly (docs/API.md).
  assert.match(api.text, /"big\.int"\s*:\s*9007199254740993[,}\s]/, `${label}: big int printed exactly`);
  assert.match(api.text, /"min\.int"\s*:\s*-9223372036854775808[,}\s]/, `${label}: int64 min printed exactly`);
}

function assertEmptyJsonResponse(res, label) {
  assert.equal(res.status, 200, `${label}: status ${res.status} body ${res.body.toString()}`);
  assert.match(res.contentType, /^application\/json/, `${label}: response content type`);
  const json = JSON.parse(res.body.toString('utf8'));
  const ps = json.partialSuccess;
  assert.ok(ps === undefined || ps === null || (Number(ps.rejectedSpans ?? ps.rejectedLogRecords ?? 0) === 0),
    `${label}: unexpected partial success ${res.body.toString()}`);
}

describe('curl against a cleartext server', () => {
  let server;
  let dir;
  before(async () => {
    dir = makeTempDir('curl');
    server = await startServer();
  });
  after(async () => {
    if (server) {
      const alive = server.alive();
      const res = await server.stop();
      assert.ok(alive, `flywheel died during the tests\n${server.stderrTail()}`);
      assert.equal(res.code, 0, `exit code after SIGTERM\n${server.stderrTail()}`);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const otlpUrl = (p) => `http://127.0.0.1:${server.httpPort}${p}`;
  const apiUrl = (p) => `http://127.0.0.1:${server.apiPort}${p}`;

  it('HTTP/1.1 POST of OTLP/JSON to /v1/traces, read back with curl', async () => {
    const { traceId, req } = sampleTrace('curl-h1-json');
    const f = join(dir, 'h1.json');
    writeFileSync(f, JSON.stringify(jsonTracesRequest(req)));
    const res = await curl(dir, ['--http1.1', '-H', 'Content-Type: application/json', '--data-binary', `@${f}`, otlpUrl('/v1/traces')]);
    assert.equal(res.exit, 0, res.stderr);
    assert.equal(res.httpVersion, '1.1');
    assertEmptyJsonResponse(res, 'h1 json');
    const get = await curl(dir, ['--http1.1', apiUrl(`/api/v1/traces/${traceId}`)]);
    assert.equal(get.status, 200, get.body.toString());
    assert.match(get.contentType, /^application\/json/);
    const api = await fetchTrace(server, traceId, 3);
    assertTraceMatches(api, req, 'h1 json');
  });

  it('HTTP/1.1 POST of OTLP/protobuf (with NaN/Infinity doubles) to /v1/traces', async () => {
    const { traceId, req } = sampleTrace('curl-h1-proto', { nonFinite: true });
    const f = join(dir, 'h1.pb');
    writeFileSync(f, pbTracesRequest(req));
    const res = await curl(dir, ['--http1.1', '-H', 'Content-Type: application/x-protobuf', '--data-binary', `@${f}`, otlpUrl('/v1/traces')]);
    assert.equal(res.exit, 0, res.stderr);
    assert.equal(res.status, 200, res.body.toString());
    assert.match(res.contentType, /^application\/x-protobuf/);
    assert.equal(decodeExportResponse(res.body).partialSuccess?.rejected ?? 0, 0);
    const api = await fetchTrace(server, traceId, 3);
    assertTraceMatches(api, req, 'h1 protobuf');
  });

  it('HTTP/1.1 chunked request body', async () => {
    const { traceId, req } = sampleTrace('curl-h1-chunked');
    const f = join(dir, 'chunked.json');
    writeFileSync(f, JSON.stringify(jsonTracesRequest(req)));
    const res = await curl(dir, ['--http1.1', '-H', 'Content-Type: application/json', '-H', 'Transfer-Encoding: chunked',
      '--data-binary', `@${f}`, otlpUrl('/v1/traces')]);
    assert.equal(res.exit, 0, res.stderr);
    assertEmptyJsonResponse(res, 'chunked');
    assertTraceMatches(await fetchTrace(server, traceId, 3), req, 'chunked');
  });

  it('HTTP/1.1 keep-alive: a second request reuses the connection', async () => {
    const a = sampleTrace('curl-keepalive');
    const b = sampleTrace('curl-keepalive');
    const fa = join(dir, 'ka-a.json');
    const fb = join(dir, 'ka-b.json');
    writeFileSync(fa, JSON.stringify(jsonTracesRequest(a.req)));
    writeFileSync(fb, JSON.stringify(jsonTracesRequest(b.req)));
    const res = await curl(dir, ['--http1.1', '-H', 'Content-Type: application/json',
      '--data-binary', `@${fa}`, otlpUrl('/v1/traces'),
      '--next', '--http1.1', '-o', '/dev/null', '-w', '%{http_code} %{http_version} %{num_connects} %{content_type}\\n',
      '-H', 'Content-Type: application/json', '--data-binary', `@${fb}`, otlpUrl('/v1/traces')]);
    assert.equal(res.exit, 0, res.stderr);
    assert.equal(res.all.length, 2, `two write-out lines expected, got ${JSON.stringify(res.all)}`);
    assert.deepStrictEqual(res.all.map((x) => x.status), [200, 200]);
    assert.equal(res.all[0].numConnects, 1);
    assert.equal(res.all[1].numConnects, 0, 'second request opened a new connection (no keep-alive)');
    assertTraceMatches(await fetchTrace(server, a.traceId, 3), a.req, 'keep-alive #1');
    assertTraceMatches(await fetchTrace(server, b.traceId, 3), b.req, 'keep-alive #2');
  });

  // Regression: the server shut the socket down for writing before the
  // answer was written (strace: shutdown(SHUT_WR) then writev -> EPIPE), so
  // about half of the requests that carry "Connection: close" got no reply.
  it('HTTP/1.1 Connection: close still delivers every answer (50 tries per listener)', async () => {
    const { req } = sampleTrace('curl-conn-close');
    const f = join(dir, 'close.json');
    writeFileSync(f, JSON.stringify(jsonTracesRequest(req)));
    const failures = [];
    for (let i = 0; i < 50; i++) {
      const h = await curl(dir, ['--http1.1', '-H', 'Connection: close', apiUrl('/healthz')]);
      if (h.status !== 200) failures.push(`GET /healthz #${i}: exit ${h.exit} status ${h.status} ${h.stderr.trim()}`);
      const p = await curl(dir, ['--http1.1', '-H', 'Connection: close', '-H', 'Content-Type: application/json',
        '--data-binary', `@${f}`, otlpUrl('/v1/traces')]);
      if (p.status !== 200) failures.push(`POST /v1/traces #${i}: exit ${p.exit} status ${p.status} ${p.stderr.trim()}`);
    }
    assert.deepStrictEqual(failures, [], `${failures.length} of 100 requests with Connection: close got no answer`);
  });

  it('h2c prior knowledge on the OTLP/HTTP listener and on the API', async () => {
    const { traceId, req } = sampleTrace('curl-h2c');
    const f = join(dir, 'h2c.json');
    writeFileSync(f, JSON.stringify(jsonTracesRequest(req)));
    const res = await curl(dir, ['--http2-prior-knowledge', '-H', 'Content-Type: application/json', '--data-binary', `@${f}`, otlpUrl('/v1/traces')]);
    assert.equal(res.exit, 0, res.stderr);
    assert.equal(res.httpVersion, '2');
    assertEmptyJsonResponse(res, 'h2c json');
    const fp = join(dir, 'h2c.pb');
    const p = sampleTrace('curl-h2c-proto');
    writeFileSync(fp, pbTracesRequest(p.req));
    const resp = await curl(dir, ['--http2-prior-knowledge', '-H', 'Content-Type: application/x-protobuf', '--data-binary', `@${fp}`, otlpUrl('/v1/traces')]);
    assert.equal(resp.status, 200, resp.body.toString());
    assert.equal(resp.httpVersion, '2');
    const get = await curl(dir, ['--http2-prior-knowledge', apiUrl(`/api/v1/traces/${traceId}`)]);
    assert.equal(get.exit, 0, get.stderr);
    assert.equal(get.httpVersion, '2');
    assert.equal(get.status, 200, get.body.toString());
    const health = await curl(dir, ['--http2-prior-knowledge', apiUrl('/healthz')]);
    assert.equal(health.status, 200);
    assert.deepStrictEqual(JSON.parse(health.body.toString()), { status: 'ok' });
    assertTraceMatches(await fetchTrace(server, traceId, 3), req, 'h2c json');
    assertTraceMatches(await fetchTrace(server, p.traceId, 3), p.req, 'h2c protobuf');
  });

  for (const h of ['--http1.1', '--http2-prior-knowledge']) {
    it(`gzip body (${h}): --data-binary @file.gz with Content-Encoding: gzip`, async () => {
      const { traceId, req } = sampleTrace(`curl-gzip${h}`);
      const f = join(dir, `body${h}.json.gz`);
      writeFileSync(f, gzipSync(Buffer.from(JSON.stringify(jsonTracesRequest(req)))));
      const res = await curl(dir, [h, '-H', 'Content-Type: application/json', '-H', 'Content-Encoding: gzip',
        '--data-binary', `@${f}`, otlpUrl('/v1/traces')]);
      assert.equal(res.exit, 0, res.stderr);
      assert.equal(res.status, 200, res.body.toString());
      // SPEC 3.1 / OTLP: the response has the request's media type; the
      // server may (not must) compress it.
      assert.match(res.contentType, /^application\/json/, `response headers:\n${res.headerText}`);
      const enc = res.headers['content-encoding'];
      assert.ok(enc === undefined || enc === 'gzip', `unexpected Content-Encoding ${enc}`);
      const json = JSON.parse((enc === 'gzip' ? gunzipSync(res.body) : res.body).toString('utf8'));
      assert.equal(typeof json, 'object');
      assertTraceMatches(await fetchTrace(server, traceId, 3), req, `gzip ${h}`);
    });
  }

  it('OTLP/JSON logs via curl, read back by trace id', async () => {
    const traceId = randomTraceId();
    const spanId = randomSpanId();
    const t = recentNanos();
    const rl = {
      resource: { attrs: [['service.name', { s: 'curl-logs' }]] },
      scope: { name: 'curl', version: '8' },
      logs: [
        { time: t, observedTime: t + 5n, severityNumber: 17, severityText: 'ERROR', body: { s: 'disk full' },
          attrs: [['seq', { i: '1' }], ['path', { s: '/var' }]], traceId, spanId, flags: 1 },
        { time: t + 1000n, severityNumber: 9, severityText: 'INFO', eventName: 'app.ready',
          body: { kv: [['msg', { s: 'ready' }], ['n', { i: '3' }], ['list', { arr: [{ b: true }, { d: 0.5 }] }]] },
          attrs: [['seq', { i: '2' }]], traceId, spanId },
      ],
    };
    const f = join(dir, 'logs.json');
    writeFileSync(f, JSON.stringify(jsonLogsRequest(rl)));
    const res = await curl(dir, ['-H', 'Content-Type: application/json', '--data-binary', `@${f}`, otlpUrl('/v1/logs')]);
    assert.equal(res.exit, 0, res.stderr);
    assertEmptyJsonResponse(res, 'logs json');
    const api = await fetchLogs(server, `trace_id=${traceId}`, 2);
    assert.equal(api.status, 200, api.text);
    assert.equal(api.json.logs.length, 2);
    // Newest first.
    assertLike(api.json.logs[0], apiLog(rl.logs[1], rl), 'log 2');
    assertLike(api.json.logs[1], apiLog(rl.logs[0], rl), 'log 1');
    assert.equal(api.json.logs[1].observed_time_unix_nano, String(t + 5n));
  });
});

describe('curl against a server with TLS on every listener', () => {
  let server;
  let dir;
  let certs;
  before(async () => {
    dir = makeTempDir('curl-tls');
    certs = makeCert(dir);
    server = await startServer({ tls: certs, tlsOn: ['otlp_grpc', 'otlp_http', 'api'] });
  });
  after(async () => {
    if (server) {
      const alive = server.alive();
      const res = await server.stop();
      assert.ok(alive, `flywheel died during the tests\n${server.stderrTail()}`);
      assert.equal(res.code, 0, `exit code after SIGTERM\n${server.stderrTail()}`);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const [flag, version] of [['--http1.1', '1.1'], ['--http2', '2']]) {
    it(`OTLP/JSON over TLS with ALPN ${version === '2' ? 'h2' : 'http/1.1'} (${flag}), API over TLS`, async () => {
      const { traceId, req } = sampleTrace(`curl-tls-${version}`);
      const f = join(dir, `tls-${version}.json`);
      writeFileSync(f, JSON.stringify(jsonTracesRequest(req)));
      const res = await curl(dir, [flag, '--cacert', certs.cert, '-H', 'Content-Type: application/json',
        '--data-binary', `@${f}`, `https://127.0.0.1:${server.httpPort}/v1/traces`]);
      assert.equal(res.exit, 0, res.stderr);
      assert.equal(res.httpVersion, version);
      assertEmptyJsonResponse(res, `tls ${flag}`);
      const get = await curl(dir, [flag, '--cacert', certs.cert, `https://localhost:${server.apiPort}/api/v1/traces/${traceId}`]);
      assert.equal(get.exit, 0, get.stderr);
      assert.equal(get.httpVersion, version);
      assert.equal(get.status, 200, get.body.toString());
      assertTraceMatches(await fetchTrace(server, traceId, 3), req, `tls ${flag}`);
    });
  }

  it('a cleartext request to a TLS listener fails without harming the server', async () => {
    const res = await curl(dir, ['--http1.1', `http://127.0.0.1:${server.httpPort}/v1/traces`, '-d', '{}', '--max-time', '5']);
    assert.notEqual(res.status, 200);
    const ok = await curl(dir, ['--cacert', certs.cert, `https://127.0.0.1:${server.apiPort}/healthz`]);
    assert.equal(ok.status, 200);
  });
});

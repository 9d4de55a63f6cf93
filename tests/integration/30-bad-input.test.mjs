// 30-bad-input: malformed and abusive requests on every ingest path. Each one
// must get the status and message of SPEC.md 3.1 (400 + google.rpc.Status,
// 413, 415, 404, 405, gRPC INVALID_ARGUMENT / RESOURCE_EXHAUSTED /
// UNIMPLEMENTED, partial success for bad ids), and afterwards the server must
// still accept and store a valid export. /metrics must count the rejections.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { startServer } from './helpers/server.mjs';
import { httpRequest, h2Request, apiGetJson, fetchTrace, fetchLogs, parseMetrics } from './helpers/http.mjs';
import { grpcCall, TRACE_EXPORT, LOGS_EXPORT, METRICS_EXPORT } from './helpers/grpc.mjs';
import {
  sampleTrace, pbTracesRequest, jsonTracesRequest, pbLogsRequest, jsonLogsRequest, grpcFrame,
  decodeStatus, decodeExportResponse, pbLen, pbVarint, pbStr, randomTraceId, randomSpanId,
  recentNanos, expectedTraceSpans,
} from './helpers/otlp.mjs';
import { assertLike } from './helpers/sdk.mjs';

const MiB = 1024 * 1024;
const PB = 'application/x-protobuf';
const JSON_CT = 'application/json';

const GRPC = { OK: 0, INVALID_ARGUMENT: 3, RESOURCE_EXHAUSTED: 8, UNIMPLEMENTED: 12 };

describe('bad input', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    if (server) {
      const alive = server.alive();
      const res = await server.stop();
      assert.ok(alive, `flywheel died during the tests\n${server.stderrTail()}`);
      assert.equal(res.code, 0, `exit code after SIGTERM\n${server.stderrTail()}`);
    }
  });

  const post = (path, body, headers, extra = {}) => httpRequest({
    port: server.httpPort, method: 'POST', path, body, headers, ...extra,
  });

  // A valid export on HTTP/protobuf and on gRPC, both read back: the server
  // kept serving after the bad request.
  async function assertStillServes(label) {
    assert.ok(server.alive(), `${label}: flywheel exited\n${server.stderrTail()}`);
    const a = sampleTrace('still-serving');
    const r = await post('/v1/traces', pbTracesRequest(a.req), { 'content-type': PB });
    assert.equal(r.status, 200, `${label}: valid HTTP export afterwards answered ${r.status} ${r.body}`);
    const b = sampleTrace('still-serving-grpc');
    const g = await grpcCall({ port: server.grpcPort, path: TRACE_EXPORT, body: grpcFrame(pbTracesRequest(b.req)) });
    assert.equal(g.grpcStatus, GRPC.OK, `${label}: valid gRPC export afterwards: ${g.grpcStatus} ${g.grpcMessage}`);
    for (const x of [a, b]) {
      const api = await fetchTrace(server, x.traceId, 3);
      assert.equal(api.status, 200, `${label}: read-back after the bad request: ${api.status} ${api.text}`);
      assert.equal(api.json.spans.length, 3);
    }
  }

  function assertPbStatus(res, httpStatus, label, messageRe = /\S/) {
    assert.equal(res.status, httpStatus, `${label}: HTTP status (body: ${res.body.toString('latin1').slice(0, 300)})`);
    assert.match(String(res.headers['content-type']), /^application\/x-protobuf/, `${label}: error body content type`);
    const st = decodeStatus(res.body);
    assert.match(st.message, messageRe, `${label}: google.rpc.Status.message`);
    return st;
  }

  function assertJsonStatus(res, httpStatus, label, messageRe = /\S/) {
    assert.equal(res.status, httpStatus, `${label}: HTTP status (body: ${res.body.toString().slice(0, 300)})`);
    assert.match(String(res.headers['content-type']), /^application\/json/, `${label}: error body content type`);
    const st = JSON.parse(res.body.toString('utf8'));
    assert.equal(typeof st.message, 'string', `${label}: google.rpc.Status JSON has a message: ${res.body}`);
    assert.match(st.message, messageRe, `${label}: google.rpc.Status.message`);
    return st;
  }

  // ---------------- OTLP/HTTP ----------------
  it('HTTP: truncated protobuf -> 400 with google.rpc.Status', async () => {
    const full = pbTracesRequest(sampleTrace('truncated').req);
    const res = await post('/v1/traces', full.subarray(0, Math.floor(full.length / 2)), { 'content-type': PB });
    assertPbStatus(res, 400, 'truncated protobuf');
    await assertStillServes('truncated protobuf');
  });

  it('HTTP: wrong wire types -> 400', async () => {
    // resource_spans (field 1, length-delimited) sent as a varint.
    const top = await post('/v1/traces', pbVarint(1, 5), { 'content-type': PB });
    assertPbStatus(top, 400, 'wire type at top level');
    // Span.name (field 5, string) sent as a varint inside a valid envelope.
    const span = Buffer.concat([pbLen(1, Buffer.from(randomTraceId(), 'hex')), pbLen(2, Buffer.from(randomSpanId(), 'hex')), pbVarint(5, 7)]);
    const nested = pbLen(1, pbLen(2, pbLen(2, span)));
    const res = await post('/v1/traces', nested, { 'content-type': PB });
    assertPbStatus(res, 400, 'wire type inside a span');
    // Logs: LogRecord.body (field 5, message) as a fixed32.
    const rec = Buffer.from([0x2d, 1, 2, 3, 4]);
    const logs = await post('/v1/logs', pbLen(1, pbLen(2, pbLen(2, rec))), { 'content-type': PB });
    assertPbStatus(logs, 400, 'wire type inside a log record');
    await assertStillServes('wrong wire type');
  });

  it('HTTP: invalid JSON and JSON of the wrong shape -> 400 with a JSON google.rpc.Status', async () => {
    const broken = await post('/v1/traces', '{"resourceSpans": [ {"scopeSpans": [', { 'content-type': JSON_CT });
    assertJsonStatus(broken, 400, 'invalid JSON');
    const shape = await post('/v1/traces', '{"resourceSpans": "not a list"}', { 'content-type': JSON_CT });
    assertJsonStatus(shape, 400, 'wrong shape');
    const notJson = await post('/v1/logs', '\u0000\u0001binary', { 'content-type': JSON_CT });
    assertJsonStatus(notJson, 400, 'binary as JSON (logs)');
    const badHex = jsonTracesRequest(sampleTrace('bad-int').req);
    badHex.resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano = 'yesterday';
    const badInt = await post('/v1/traces', JSON.stringify(badHex), { 'content-type': JSON_CT });
    assertJsonStatus(badInt, 400, 'non-numeric startTimeUnixNano');
    await assertStillServes('invalid JSON');
  });

  it('HTTP/JSON: ids of the wrong length -> partial success (rejectedSpans, errorMessage), other spans stored', async () => {
    const { traceId, req } = sampleTrace('partial-json');
    const good = req.spans[0];
    req.spans[1] = { ...req.spans[1], traceId: 'abcd' };          // 2-byte trace id
    req.spans[2] = { ...req.spans[2], spanId: '0102030405' };     // 5-byte span id
    const res = await post('/v1/traces', JSON.stringify(jsonTracesRequest(req)), { 'content-type': JSON_CT });
    assert.equal(res.status, 200, `partial success is a 200: ${res.body}`);
    const body = JSON.parse(res.body.toString('utf8'));
    assert.ok(body.partialSuccess, `partialSuccess missing: ${res.body}`);
    assert.equal(Number(body.partialSuccess.rejectedSpans), 2, `rejectedSpans: ${res.body}`);
    assert.match(body.partialSuccess.errorMessage ?? '', /\S/, 'errorMessage');
    const api = await fetchTrace(server, traceId, 1);
    assert.equal(api.status, 200, api.text);
    assert.deepStrictEqual(api.json.spans.map((s) => s.span_id), [good.spanId], 'only the valid span is stored');
    assertLike(api.json.spans[0], expectedTraceSpans({ ...req, spans: [good] })[0], 'the valid span');
  });

  it('HTTP/protobuf and gRPC: ids of the wrong length -> partial success', async () => {
    const { traceId, req } = sampleTrace('partial-pb');
    req.spans[2] = { ...req.spans[2], traceId: Buffer.from('0102030405', 'hex') };
    const res = await post('/v1/traces', pbTracesRequest(req), { 'content-type': PB });
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^application\/x-protobuf/);
    const ps = decodeExportResponse(res.body).partialSuccess;
    assert.ok(ps, 'partial_success missing from the protobuf response');
    assert.equal(ps.rejected, 1);
    assert.match(ps.errorMessage, /\S/);
    assert.equal((await fetchTrace(server, traceId, 2)).json.spans.length, 2);

    const g = sampleTrace('partial-grpc');
    g.req.spans[0] = { ...g.req.spans[0], spanId: Buffer.alloc(0) };  // empty span id
    const gr = await grpcCall({ port: server.grpcPort, path: TRACE_EXPORT, body: grpcFrame(pbTracesRequest(g.req)) });
    assert.equal(gr.grpcStatus, GRPC.OK, `gRPC partial success is OK: ${gr.grpcMessage}`);
    assert.equal(gr.messages.length, 1, 'one response message');
    const gps = decodeExportResponse(gr.messages[0]).partialSuccess;
    assert.ok(gps, 'partial_success missing from the gRPC response');
    assert.equal(gps.rejected, 1);
    assert.match(gps.errorMessage, /\S/);
    assert.equal((await fetchTrace(server, g.traceId, 2)).json.spans.length, 2);
  });

  it('logs: trace id of the wrong length -> partial success (rejectedLogRecords)', async () => {
    const traceId = randomTraceId();
    const t = recentNanos();
    const rl = {
      resource: { attrs: [['service.name', { s: 'partial-logs' }]] },
      scope: { name: 'x' },
      logs: [
        { time: t, severityNumber: 9, body: { s: 'good' }, traceId, spanId: randomSpanId() },
        { time: t + 1n, severityNumber: 9, body: { s: 'bad' }, traceId: 'abcdef', spanId: randomSpanId() },
      ],
    };
    const res = await post('/v1/logs', JSON.stringify(jsonLogsRequest(rl)), { 'content-type': JSON_CT });
    assert.equal(res.status, 200, String(res.body));
    const body = JSON.parse(res.body.toString());
    assert.equal(Number(body.partialSuccess?.rejectedLogRecords), 1, `rejectedLogRecords: ${res.body}`);
    assert.match(body.partialSuccess.errorMessage ?? '', /\S/);
    const api = await fetchLogs(server, `trace_id=${traceId}`, 1);
    assert.deepStrictEqual(api.json.logs.map((l) => l.body), ['good']);

    const g = await grpcCall({ port: server.grpcPort, path: LOGS_EXPORT, body: grpcFrame(pbLogsRequest(rl)) });
    assert.equal(g.grpcStatus, GRPC.OK, g.grpcMessage);
    assert.equal(decodeExportResponse(g.messages[0]).partialSuccess?.rejected, 1);
  });

  it('HTTP: body over 20 MiB -> 413 (Content-Length and chunked)', async () => {
    const big = Buffer.alloc(21 * MiB, 0x41);
    const res = await post('/v1/traces', big, { 'content-type': PB, 'content-length': String(big.length) });
    assert.equal(res.status, 413, `Content-Length body: ${res.status} ${res.body.toString().slice(0, 200)}`);
    const chunked = await post('/v1/traces', big, { 'content-type': PB, 'transfer-encoding': 'chunked' }, { chunked: true });
    assert.equal(chunked.status, 413, `chunked body: ${chunked.status}`);
    const h2 = await h2Request({
      port: server.httpPort, method: 'POST', path: '/v1/traces', headers: { 'content-type': PB }, body: big,
    });
    assert.equal(h2.status, 413, `HTTP/2 body: ${h2.status}`);
    await assertStillServes('oversize body');
  });

  it('HTTP: gzip bomb (small gzip inflating past 20 MiB) -> 413', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * MiB));
    assert.ok(bomb.length < 1 * MiB);
    const res = await post('/v1/traces', bomb, { 'content-type': PB, 'content-encoding': 'gzip' });
    assert.equal(res.status, 413, `gzip bomb: ${res.status} ${res.body.toString('latin1').slice(0, 200)}`);
    const jres = await post('/v1/logs', bomb, { 'content-type': JSON_CT, 'content-encoding': 'gzip' });
    assert.equal(jres.status, 413, `gzip bomb (json logs): ${jres.status}`);
    await assertStillServes('gzip bomb');
  });

  it('HTTP: corrupt gzip -> 400', async () => {
    const gz = gzipSync(pbTracesRequest(sampleTrace('corrupt-gz').req));
    const corrupt = Buffer.concat([gz.subarray(0, 10), Buffer.from('not deflate data at all'), gz.subarray(gz.length - 8)]);
    const res = await post('/v1/traces', corrupt, { 'content-type': PB, 'content-encoding': 'gzip' });
    assert.equal(res.status, 400, `corrupt gzip: ${res.status}`);
    await assertStillServes('corrupt gzip');
  });

  it('HTTP: unsupported content type or content encoding -> 415', async () => {
    const body = JSON.stringify(jsonTracesRequest(sampleTrace('ct').req));
    const plain = await post('/v1/traces', body, { 'content-type': 'text/plain' });
    assert.equal(plain.status, 415, `text/plain: ${plain.status}`);
    const none = await post('/v1/logs', body, {});
    assert.equal(none.status, 415, `no content type: ${none.status}`);
    const br = await post('/v1/traces', body, { 'content-type': JSON_CT, 'content-encoding': 'br' });
    assert.equal(br.status, 415, `Content-Encoding: br: ${br.status}`);
    // Parameters on the media type are fine.
    const withCharset = await post('/v1/traces', body, { 'content-type': 'application/json; charset=utf-8' });
    assert.equal(withCharset.status, 200, `application/json; charset=utf-8: ${withCharset.status} ${withCharset.body}`);
    await assertStillServes('content type');
  });

  it('HTTP: unknown path -> 404, GET /v1/traces -> 405 with Allow', async () => {
    const unknown = await post('/v2/traces', '{}', { 'content-type': JSON_CT });
    assert.equal(unknown.status, 404);
    const get = await httpRequest({ port: server.httpPort, path: '/v1/traces' });
    assert.equal(get.status, 405);
    assert.match(String(get.headers.allow ?? ''), /POST/, 'a 405 names the allowed method (Allow header)');
    const apiUnknown = await apiGetJson(server, '/api/v1/no-such-thing');
    assert.equal(apiUnknown.status, 404);
    assert.equal(typeof apiUnknown.json?.error, 'string', `API errors are {"error": ...}: ${apiUnknown.text}`);
    await assertStillServes('404/405');
  });

  it('API: bad trace id -> 400, unknown trace -> 404 {"error":"trace not found"}', async () => {
    const bad = await apiGetJson(server, '/api/v1/traces/not-hex');
    assert.equal(bad.status, 400);
    assert.equal(typeof bad.json?.error, 'string');
    const short = await apiGetJson(server, '/api/v1/traces/abcd');
    assert.equal(short.status, 400);
    const missing = await apiGetJson(server, `/api/v1/traces/${randomTraceId()}`);
    assert.equal(missing.status, 404);
    assert.deepStrictEqual(missing.json, { error: 'trace not found' });
  });

  // ---------------- gRPC ----------------
  it('gRPC: malformed protobuf in a correct frame -> INVALID_ARGUMENT with a message', async () => {
    const full = pbTracesRequest(sampleTrace('grpc-bad').req);
    const r = await grpcCall({ port: server.grpcPort, path: TRACE_EXPORT, body: grpcFrame(full.subarray(0, full.length - 7)) });
    assert.equal(r.httpStatus, 200, 'gRPC errors travel in grpc-status, not the HTTP status');
    assert.equal(r.grpcStatus, GRPC.INVALID_ARGUMENT, `truncated message: ${r.grpcStatus} ${r.grpcMessage}`);
    assert.match(r.grpcMessage ?? '', /\S/, 'grpc-message');
    const w = await grpcCall({ port: server.grpcPort, path: LOGS_EXPORT, body: grpcFrame(pbVarint(1, 1)) });
    assert.equal(w.grpcStatus, GRPC.INVALID_ARGUMENT, `wrong wire type (logs): ${w.grpcStatus} ${w.grpcMessage}`);
    await assertStillServes('gRPC malformed');
  });

  it('gRPC: a frame whose length prefix lies -> INVALID_ARGUMENT', async () => {
    const msg = pbTracesRequest(sampleTrace('grpc-lie').req);
    // Declares more bytes than the stream carries before END_STREAM.
    const longer = await grpcCall({ port: server.grpcPort, path: TRACE_EXPORT, body: grpcFrame(msg, { declaredLen: msg.length + 100 }) });
    assert.equal(longer.grpcStatus, GRPC.INVALID_ARGUMENT, `length prefix too long: ${longer.grpcStatus} ${longer.grpcMessage}`);
    assert.match(longer.grpcMessage ?? '', /\S/);
    // Declares fewer: the remainder is a second, garbage frame in a unary call.
    const shorter = await grpcCall({ port: server.grpcPort, path: TRACE_EXPORT, body: grpcFrame(msg, { declaredLen: msg.length - 10 }) });
    assert.equal(shorter.grpcStatus, GRPC.INVALID_ARGUMENT, `length prefix too short: ${shorter.grpcStatus} ${shorter.grpcMessage}`);
    // A frame header cut short.
    const cut = await grpcCall({ port: server.grpcPort, path: TRACE_EXPORT, body: Buffer.from([0, 0, 0]) });
    assert.equal(cut.grpcStatus, GRPC.INVALID_ARGUMENT, `3-byte frame header: ${cut.grpcStatus} ${cut.grpcMessage}`);
    await assertStillServes('lying frame');
  });

  it('gRPC: messages over 4 MiB -> RESOURCE_EXHAUSTED', async () => {
    // A real 5 MiB message: one span with a 5 MiB attribute.
    const { req } = sampleTrace('grpc-big');
    req.spans[0].attrs = [['huge', { s: 'x'.repeat(5 * MiB) }]];
    const big = pbTracesRequest(req);
    const r = await grpcCall({ port: server.grpcPort, path: TRACE_EXPORT, body: grpcFrame(big) });
    assert.equal(r.grpcStatus, GRPC.RESOURCE_EXHAUSTED, `5 MiB message: ${r.grpcStatus} ${r.grpcMessage}`);
    assert.match(r.grpcMessage ?? '', /\S/);
    // A prefix declaring 4 GiB - 1: refused from the header alone.
    const lie = await grpcCall({ port: server.grpcPort, path: TRACE_EXPORT, body: grpcFrame(Buffer.alloc(16), { declaredLen: 0xffffffff }) });
    assert.equal(lie.grpcStatus, GRPC.RESOURCE_EXHAUSTED, `declared 4 GiB: ${lie.grpcStatus} ${lie.grpcMessage}`);
    // A gzip bomb inside a compressed gRPC message.
    const bomb = gzipSync(Buffer.alloc(64 * MiB));
    const gz = await grpcCall({
      port: server.grpcPort, path: TRACE_EXPORT, headers: { 'grpc-encoding': 'gzip' },
      body: grpcFrame(bomb, { compressed: true }),
    });
    assert.equal(gz.grpcStatus, GRPC.RESOURCE_EXHAUSTED, `compressed bomb: ${gz.grpcStatus} ${gz.grpcMessage}`);
    await assertStillServes('gRPC oversize');
  });

  it('gRPC: a gzip-compressed message with grpc-encoding: gzip is accepted', async () => {
    const { traceId, req } = sampleTrace('grpc-gzip');
    const r = await grpcCall({
      port: server.grpcPort, path: TRACE_EXPORT, headers: { 'grpc-encoding': 'gzip' },
      body: grpcFrame(gzipSync(pbTracesRequest(req)), { compressed: true }),
    });
    assert.equal(r.grpcStatus, GRPC.OK, r.grpcMessage);
    const api = await fetchTrace(server, traceId, 3);
    assert.equal(api.json?.spans?.length, 3, api.text);
  });

  it('gRPC: MetricsService/Export and unknown methods -> UNIMPLEMENTED', async () => {
    const m = await grpcCall({ port: server.grpcPort, path: METRICS_EXPORT, body: grpcFrame(Buffer.alloc(0)) });
    assert.equal(m.grpcStatus, GRPC.UNIMPLEMENTED, `MetricsService: ${m.grpcStatus} ${m.grpcMessage}`);
    const u = await grpcCall({ port: server.grpcPort, path: '/no.such.Service/Method', body: grpcFrame(Buffer.alloc(0)) });
    assert.equal(u.grpcStatus, GRPC.UNIMPLEMENTED, `unknown method: ${u.grpcStatus} ${u.grpcMessage}`);
    await assertStillServes('UNIMPLEMENTED');
  });

  it('gRPC listener: a non-gRPC content type -> HTTP 415', async () => {
    const r = await h2Request({
      port: server.grpcPort, method: 'POST', path: TRACE_EXPORT,
      headers: { 'content-type': 'application/json' }, body: '{}',
    });
    assert.equal(r.status, 415);
    await assertStillServes('gRPC content type');
  });

  it('garbage on the wire: an HTTP/1.1 parser error and a broken HTTP/2 preface do not hurt the server', async () => {
    const net = await import('node:net');
    for (const [port, bytes] of [
      [server.httpPort, 'POST /v1/traces HTTP/1.1\r\nContent-Length: nope\r\n\r\n'],
      [server.httpPort, '\u0000\u0001\u0002garbage\r\n\r\n'],
      [server.grpcPort, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\u0000\u0000\u0004\u0009\u0000\u0000\u0000\u0000\u0000junk'],
      [server.apiPort, 'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n'],
    ]) {
      await new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => s.end(bytes));
        s.on('data', () => {});
        s.on('error', () => resolve());
        s.on('close', () => resolve());
        s.setTimeout(10000, () => s.destroy());
      });
    }
    await assertStillServes('garbage on the wire');
  });

  it('/metrics counts what was accepted and rejected', async () => {
    const r = await apiGetJson(server, '/metrics');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain/);
    const samples = parseMetrics(r.text);
    const sum = (name, labels) => samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((a, s) => a + s.value, 0);
    assert.ok(sum('flywheel_spans_accepted_total', { protocol: 'http_protobuf' }) > 0, 'spans accepted (http_protobuf)');
    assert.ok(sum('flywheel_spans_accepted_total', { protocol: 'grpc' }) > 0, 'spans accepted (grpc)');
    assert.ok(sum('flywheel_spans_rejected_total', { protocol: 'http_json', reason: 'invalid_id' }) >= 2,
      'spans rejected for invalid ids (http_json)');
    assert.ok(sum('flywheel_spans_rejected_total', { protocol: 'grpc', reason: 'invalid_id' }) >= 1,
      'spans rejected for invalid ids (grpc)');
    assert.ok(sum('flywheel_log_records_rejected_total', { protocol: 'http_json', reason: 'invalid_id' }) >= 1,
      'log records rejected for invalid ids');
    assert.ok(sum('flywheel_log_records_accepted_total', { protocol: 'http_json' }) >= 1, 'log records accepted');
    assert.ok(sum('flywheel_received_bytes_total', {}) > 0, 'received bytes');
    // Whole requests refused: some flywheel_ series carries each reason.
    for (const [protocol, reason] of [['http_protobuf', 'malformed'], ['http_json', 'malformed'], ['grpc', 'malformed'],
      ['http_protobuf', 'too_large'], ['grpc', 'too_large'], ['http_json', 'unsupported']]) {
      const n = samples.filter((s) => s.name.startsWith('flywheel_') && s.labels.reason === reason && s.labels.protocol === protocol)
        .reduce((a, s) => a + s.value, 0);
      assert.ok(n > 0, `no flywheel_* series counts ${protocol} requests rejected as ${reason}`);
    }
  });
});

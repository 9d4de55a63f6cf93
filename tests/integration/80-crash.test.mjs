// 80-crash: durability. Concurrent exporters send traces and logs over
// OTLP/gRPC, OTLP/HTTP protobuf and OTLP/HTTP JSON; the server is killed
// with SIGKILL while requests are in flight and restarted on the same data
// directory. Every span and log record whose export was acknowledged must
// be queryable afterwards (counted), and services, RED and the topology must
// come back from the write-ahead log. Also: a torn tail appended to the log
// is repaired at the next start, never fatal.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, readdirSync, appendFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { startServer, makeTempDir } from './helpers/server.mjs';
import { httpRequest, fetchTrace, fetchLogs, apiGetJson, metricValue } from './helpers/http.mjs';
import { grpcCall, TRACE_EXPORT, LOGS_EXPORT } from './helpers/grpc.mjs';
import {
  randomTraceId, randomSpanId, recentNanos, pbTracesRequest, pbLogsRequest, grpcFrame,
  jsonTracesRequest, jsonLogsRequest,
} from './helpers/otlp.mjs';

const PROTOCOLS = ['grpc', 'http-protobuf', 'http-json'];
const WORKERS = 6;
const KILL_AFTER_ACKS = 240; // acknowledged requests before the SIGKILL
const KILL_DEADLINE_MS = 20000;

// One trace: frontend's client span calling checkout's server span (an edge
// of the topology), plus one log record of checkout inside the trace.
function makeExport(seq) {
  const traceId = randomTraceId();
  const clientId = randomSpanId();
  const serverId = randomSpanId();
  const t0 = recentNanos(-1000);
  const traces = [
    {
      resource: { attrs: [['service.name', { s: 'frontend' }]] },
      scope: { name: 'crash-test' },
      spans: [{ traceId, spanId: clientId, name: 'POST /checkout', kind: 3, start: t0, end: t0 + 5000000n,
        attrs: [['http.request.method', { s: 'POST' }], ['seq', { i: String(seq) }]] }],
    },
    {
      resource: { attrs: [['service.name', { s: 'checkout' }]] },
      scope: { name: 'crash-test' },
      spans: [{ traceId, spanId: serverId, parentSpanId: clientId, name: 'POST /checkout', kind: 2,
        start: t0 + 1000000n, end: t0 + 4000000n,
        attrs: [['http.request.method', { s: 'POST' }], ['http.route', { s: '/checkout' }]] }],
    },
  ];
  const logs = {
    resource: { attrs: [['service.name', { s: 'checkout' }]] },
    scope: { name: 'crash-test' },
    logs: [{ time: t0 + 2000000n, severityNumber: 9, severityText: 'INFO', body: { s: `order ${seq} placed` },
      traceId, spanId: serverId, attrs: [['seq', { i: String(seq) }]] }],
  };
  return { traceId, traces, logs };
}

// Sends one export; resolves true only when the server acknowledged it.
async function send(server, proto, signal, req) {
  try {
    if (proto === 'grpc') {
      const body = grpcFrame(signal === 'traces' ? pbTracesRequest(req) : pbLogsRequest(req));
      const r = await grpcCall({ port: server.grpcPort, path: signal === 'traces' ? TRACE_EXPORT : LOGS_EXPORT,
        body, timeoutMs: 10000 });
      return r.grpcStatus === 0;
    }
    const json = proto === 'http-json';
    const body = json
      ? Buffer.from(JSON.stringify(signal === 'traces' ? jsonTracesRequest(req) : jsonLogsRequest(req)))
      : (signal === 'traces' ? pbTracesRequest(req) : pbLogsRequest(req));
    const r = await httpRequest({
      port: server.httpPort, method: 'POST', path: `/v1/${signal}`, body, timeoutMs: 10000,
      headers: { 'content-type': json ? 'application/json' : 'application/x-protobuf' },
    });
    return r.status === 200;
  } catch {
    return false; // connection reset by the kill: not acknowledged
  }
}

describe('acknowledged telemetry survives SIGKILL', () => {
  const dataDir = makeTempDir('crash');
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('every acknowledged span and log record is queryable after a restart', async () => {
    const first = await startServer({ dataDir });
    const ackedTraces = [];
    const ackedLogs = [];
    let acks = 0;
    let killed = false;
    let seq = 0;
    const start = Date.now();
    const worker = async (w) => {
      while (!killed) {
        const n = seq++;
        const proto = PROTOCOLS[(n + w) % PROTOCOLS.length];
        const ex = makeExport(n);
        const [okT, okL] = await Promise.all([
          send(first, proto, 'traces', ex.traces),
          send(first, proto, 'logs', ex.logs),
        ]);
        if (okT) ackedTraces.push(ex.traceId);
        if (okL) ackedLogs.push(ex.traceId);
        acks += (okT ? 1 : 0) + (okL ? 1 : 0);
        if (!killed && (acks >= KILL_AFTER_ACKS || Date.now() - start > KILL_DEADLINE_MS)) {
          killed = true;
          first.proc.kill('SIGKILL'); // other workers are mid-request
        }
        if (!okT && !okL && !first.alive()) break;
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    await new Promise((resolve) => {
      if (!first.alive()) resolve(); else first.proc.on('exit', resolve);
    });
    assert.equal(first.proc.signalCode, 'SIGKILL', 'the first server died of SIGKILL');
    assert.ok(ackedTraces.length >= 50, `enough traces were acknowledged before the kill: ${ackedTraces.length}`);
    assert.ok(ackedLogs.length >= 50, `enough log exports were acknowledged before the kill: ${ackedLogs.length}`);

    const second = await startServer({ dataDir });
    try {
      let spans = 0;
      for (const id of ackedTraces) {
        const r = await fetchTrace(second, id, 2, 2000);
        assert.equal(r.status, 200, `GET /api/v1/traces/${id} after restart: ${r.status} ${r.text}\n${second.stderrTail()}`);
        const names = r.json.spans.map((s) => s.service ?? s.resource?.attributes?.['service.name']).sort();
        assert.equal(r.json.spans.length, 2, `trace ${id}: both acknowledged spans (${names})`);
        spans += r.json.spans.length;
      }
      assert.equal(spans, 2 * ackedTraces.length, 'every acknowledged span is back');

      let logs = 0;
      for (const id of ackedLogs) {
        const r = await fetchLogs(second, `trace_id=${id}`, 1, 2000);
        assert.equal(r.status, 200, `GET /api/v1/logs?trace_id=${id}: ${r.status} ${r.text}`);
        assert.equal(r.json.logs.length, 1, `log record of trace ${id} is back`);
        logs += r.json.logs.length;
      }
      assert.equal(logs, ackedLogs.length, 'every acknowledged log record is back');

      // Services and RED: checkout served at least every acknowledged trace.
      const sv = await apiGetJson(second, '/api/v1/services?window=1h');
      assert.equal(sv.status, 200, `GET /api/v1/services: ${sv.status} ${sv.text}`);
      const byName = Object.fromEntries(sv.json.services.map((s) => [s.name, s]));
      assert.ok(byName.frontend && byName.checkout, `services after restart: ${Object.keys(byName)}`);
      assert.ok(byName.checkout.red.requests >= ackedTraces.length,
        `checkout RED requests ${byName.checkout.red.requests} >= ${ackedTraces.length} acknowledged traces`);

      // Topology: the frontend -> checkout edge is rebuilt.
      const topo = await apiGetJson(second, '/api/v1/topology?window=1h');
      assert.equal(topo.status, 200, `GET /api/v1/topology: ${topo.status} ${topo.text}`);
      const edge = topo.json.edges.find((e) => e.source === 'frontend' && e.target === 'checkout');
      assert.ok(edge, `edge frontend -> checkout after restart: ${JSON.stringify(topo.json.edges)}`);

      const replayed = await metricValue(second, 'flywheel_wal_replayed_records_total', {});
      assert.ok(replayed >= ackedTraces.length + ackedLogs.length,
        `flywheel_wal_replayed_records_total ${replayed} >= ${ackedTraces.length + ackedLogs.length} acknowledged exports`);
      assert.equal(await metricValue(second, 'flywheel_wal_write_errors_total', {}), 0);
    } finally {
      const res = await second.stop();
      assert.equal(res.code, 0, `second server exit: ${JSON.stringify(res)}\n${second.stderrTail()}`);
    }
  });

  it('a torn tail in the log is truncated and reported at the next start, not fatal', async () => {
    const walDir = join(dataDir, 'wal');
    // The newest segment holding records (a restart starts a fresh one).
    const segs = readdirSync(walDir).filter((f) => f.endsWith('.wal') && statSync(join(walDir, f)).size > 8).sort();
    assert.ok(segs.length > 0, 'the log has segments with records');
    const last = join(walDir, segs[segs.length - 1]);
    const before = statSync(last).size;
    // A record header that promises 4 KiB of payload, and a few bytes of it.
    const torn = Buffer.alloc(30, 0x5a);
    torn.writeUInt32LE(4096, 0);
    appendFileSync(last, torn);

    const third = await startServer({ dataDir });
    try {
      assert.equal(statSync(last).size, before, 'the torn record was cut off');
      assert.match(third.stderr(), /truncated to the last good record/, 'the repair is logged');
      assert.equal(await metricValue(third, 'flywheel_wal_corrupt_total', {}), 1, 'the repair is counted');
      const r = await apiGetJson(third, '/api/v1/services?window=1h');
      assert.equal(r.status, 200);
      assert.ok(r.json.services.some((s) => s.name === 'checkout'), 'data before the tear is still there');
    } finally {
      const res = await third.stop();
      assert.equal(res.code, 0, `third server exit: ${JSON.stringify(res)}`);
    }
  });

  // A full disk, simulated with RLIMIT_FSIZE set on the running server
  // (prlimit): writes fail with EFBIG as they would with ENOSPC.
  it('a failing log write refuses telemetry with 503/UNAVAILABLE, queries go on, and it recovers', async () => {
    const dir = makeTempDir('diskfull');
    const server = await startServer({ dataDir: dir });
    try {
      const acked = [];
      let refusedHttp = null;
      let refusedGrpc = null;
      execFileSync('prlimit', ['--pid', String(server.proc.pid), '--fsize=60000:unlimited']);
      for (let i = 0; i < 400 && !(refusedHttp && refusedGrpc); i++) {
        const ex = makeExport(i);
        const proto = i % 2 ? 'grpc' : 'http-protobuf';
        if (proto === 'grpc') {
          const r = await grpcCall({ port: server.grpcPort, path: TRACE_EXPORT, body: grpcFrame(pbTracesRequest(ex.traces)) });
          if (r.grpcStatus === 0) acked.push(ex.traceId);
          else refusedGrpc = r;
        } else {
          const r = await httpRequest({ port: server.httpPort, method: 'POST', path: '/v1/traces',
            body: pbTracesRequest(ex.traces), headers: { 'content-type': 'application/x-protobuf' } });
          if (r.status === 200) acked.push(ex.traceId);
          else refusedHttp = r;
        }
      }
      assert.ok(acked.length > 0, 'exports were acknowledged before the disk filled');
      assert.ok(refusedHttp && refusedGrpc, 'both protocols were refused once writes failed');
      assert.equal(refusedHttp.status, 503, 'OTLP/HTTP: 503');
      assert.ok(refusedHttp.headers['retry-after'], 'OTLP/HTTP: Retry-After');
      assert.equal(refusedGrpc.grpcStatus, 14, 'OTLP/gRPC: UNAVAILABLE');
      assert.match(server.stderr(), /cannot write segment/, 'the failure is logged');
      assert.ok(await metricValue(server, 'flywheel_wal_write_errors_total', {}) >= 2);
      // Queries keep working meanwhile.
      const q = await fetchTrace(server, acked[0], 2, 2000);
      assert.equal(q.status, 200, 'queries are served while the log cannot be written');

      execFileSync('prlimit', ['--pid', String(server.proc.pid), '--fsize=unlimited:unlimited']);
      for (let i = 0; i < 10; i++) {
        const ex = makeExport(1000 + i);
        const r = await httpRequest({ port: server.httpPort, method: 'POST', path: '/v1/traces',
          body: pbTracesRequest(ex.traces), headers: { 'content-type': 'application/x-protobuf' } });
        assert.equal(r.status, 200, `export ${i} after space returned: ${r.status}`);
        acked.push(ex.traceId);
      }
      assert.match(server.stderr(), /writes succeed again/, 'the recovery is logged');

      // Nothing acknowledged is lost across a crash: refused writes left no
      // partial record in front of the later good ones.
      server.proc.kill('SIGKILL');
      await new Promise((resolve) => { if (!server.alive()) resolve(); else server.proc.on('exit', resolve); });
      const again = await startServer({ dataDir: dir });
      try {
        for (const id of acked) {
          const r = await fetchTrace(again, id, 2, 2000);
          assert.equal(r.status, 200, `trace ${id} after restart`);
          assert.equal(r.json.spans.length, 2, `trace ${id}: both spans`);
        }
        assert.equal(await metricValue(again, 'flywheel_wal_corrupt_total', {}), 0, 'no corrupt record');
      } finally {
        await again.stop();
      }
    } finally {
      if (server.alive()) server.proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

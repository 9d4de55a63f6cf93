// 91-abuse: hostile clients against the real binary. Slowloris on the
// HTTP/1.1 listener (trickled and stalled headers closed after
// server.header_timeout while normal requests are still served), HTTP/2
// rapid reset (thousands of streams opened and cancelled at once), streams
// beyond server.h2_max_concurrent_streams, an oversized header list, a
// SETTINGS/PING flood, and server.max_connections. After each: the server
// is alive, /healthz answers and a valid OTLP export is stored.
// HTTP/2 abuse uses node:http2 where it sends what we mean and a small raw
// frame writer of our own where node would refuse to (it respects the
// server's limits).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http2 from 'node:http2';
import { startServer } from './helpers/server.mjs';
import { httpRequest, fetchTrace, apiGetJson } from './helpers/http.mjs';
import { grpcCall, TRACE_EXPORT } from './helpers/grpc.mjs';
import { randomTraceId, randomSpanId, recentNanos, pbTracesRequest, grpcFrame } from './helpers/otlp.mjs';

const HEADER_TIMEOUT_S = 2;
const MAX_STREAMS = 16;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function smallTrace(service) {
  const traceId = randomTraceId();
  const t0 = recentNanos(-500);
  return {
    traceId,
    body: pbTracesRequest({
      resource: { attrs: [['service.name', { s: service }]] },
      scope: { name: 'abuse-test' },
      spans: [{ traceId, spanId: randomSpanId(), name: 'GET /ok', kind: 2, start: t0, end: t0 + 1000000n, attrs: [] }],
    }),
  };
}

// The server is alive, /healthz answers 200, and a valid export over
// OTLP/HTTP and one over OTLP/gRPC are both stored.
async function assertHealthy(server, label) {
  assert.ok(server.alive(), `${label}: flywheel died\n${server.stderrTail()}`);
  const hz = await apiGetJson(server, '/healthz');
  assert.equal(hz.status, 200, `${label}: /healthz answered ${hz.status} ${hz.text}`);
  const h = smallTrace('abuse-http');
  const r = await httpRequest({ port: server.httpPort, method: 'POST', path: '/v1/traces', body: h.body,
    headers: { 'content-type': 'application/x-protobuf' }, timeoutMs: 5000 });
  assert.equal(r.status, 200, `${label}: OTLP/HTTP export answered ${r.status} ${r.body}`);
  const g = smallTrace('abuse-grpc');
  const gr = await grpcCall({ port: server.grpcPort, path: TRACE_EXPORT, body: grpcFrame(g.body), timeoutMs: 5000 });
  assert.equal(gr.grpcStatus, 0, `${label}: gRPC export status ${gr.grpcStatus} ${gr.grpcMessage}`);
  for (const t of [h, g]) {
    const api = await fetchTrace(server, t.traceId, 1);
    assert.equal(api.status, 200, `${label}: trace ${t.traceId} not stored (${api.status} ${api.text})`);
  }
}

// A raw TCP connection; resolves once connected. |closed| resolves with the
// time (ms since open) at which the server closed it; |data| collects bytes.
function rawConnect(port) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const s = net.connect({ host: '127.0.0.1', port });
    const conn = { socket: s, data: [], closedAt: null };
    conn.closed = new Promise((res) => s.on('close', () => { conn.closedAt = Date.now() - t0; res(conn.closedAt); }));
    s.on('data', (c) => conn.data.push(c));
    s.on('error', () => { /* reported through close */ });
    s.once('connect', () => resolve(conn));
    s.once('error', (e) => { if (!s.connecting) return; reject(e); });
  });
}

// Resolves true when |p| settles within |ms|.
const within = (p, ms) => Promise.race([p.then(() => true), sleep(ms).then(() => false)]);

// One keep-alive HTTP/1.1 export on a raw socket; resolves the status line's code.
function rawH1Export(conn, body) {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (c) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString();
      const m = /content-length:\s*(\d+)/i.exec(head);
      if (buf.length < end + 4 + (m ? Number(m[1]) : 0)) return;
      conn.socket.off('data', onData);
      clearTimeout(t);
      resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0));
    };
    const t = setTimeout(() => { conn.socket.off('data', onData); reject(new Error('raw h1 timeout')); }, 5000);
    conn.socket.on('data', onData);
    conn.socket.write(`POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n` +
      `Content-Length: ${body.length}\r\n\r\n`);
    conn.socket.write(body);
  });
}

// --- a minimal HTTP/2 frame writer/reader (no HPACK Huffman, literal fields) ---
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const T = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 };

function frame(type, flags, streamId, payload = Buffer.alloc(0)) {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

function hpackInt(v, prefixBits, first) {
  const max = (1 << prefixBits) - 1;
  if (v < max) return Buffer.from([first | v]);
  const out = [first | max];
  v -= max;
  while (v >= 128) { out.push((v & 0x7f) | 0x80); v = Math.floor(v / 128); }
  out.push(v);
  return Buffer.from(out);
}
const hpackStr = (s) => { const b = Buffer.from(s); return Buffer.concat([hpackInt(b.length, 7, 0), b]); };
// Literal header field without indexing, new name.
const hpackField = (n, v) => Buffer.concat([Buffer.from([0]), hpackStr(n), hpackStr(v)]);

function requestBlock(extra = []) {
  return Buffer.concat([
    hpackField(':method', 'POST'), hpackField(':scheme', 'http'), hpackField(':path', '/v1/traces'),
    hpackField(':authority', '127.0.0.1'), hpackField('content-type', 'application/x-protobuf'),
    ...extra.map(([n, v]) => hpackField(n, v)),
  ]);
}

// HEADERS (+ CONTINUATION frames of at most 16384 bytes) for |block|.
function headersFrames(streamId, block, endStream) {
  const out = [];
  const max = 16384;
  for (let off = 0; off < block.length || off === 0; off += max) {
    const chunk = block.subarray(off, off + max);
    const last = off + max >= block.length;
    const flags = (last ? 0x4 : 0) | (off === 0 && endStream ? 0x1 : 0);
    out.push(frame(off === 0 ? T.HEADERS : T.CONTINUATION, flags, streamId, chunk));
    if (last) break;
  }
  return Buffer.concat(out);
}

// Parses the frames the server sent so far on a raw connection.
function parseFrames(conn) {
  const buf = Buffer.concat(conn.data);
  const frames = [];
  let p = 0;
  while (p + 9 <= buf.length) {
    const len = buf.readUIntBE(p, 3);
    if (p + 9 + len > buf.length) break;
    frames.push({ type: buf[p + 3], flags: buf[p + 4], stream: buf.readUInt32BE(p + 5) & 0x7fffffff,
      payload: buf.subarray(p + 9, p + 9 + len) });
    p += 9 + len;
  }
  return frames;
}

// Opens an h2c connection (preface + empty SETTINGS + SETTINGS ACK for the
// server's, once seen) and returns the raw connection.
async function rawH2(port) {
  const conn = await rawConnect(port);
  conn.socket.write(Buffer.concat([PREFACE, frame(T.SETTINGS, 0, 0)]));
  const end = Date.now() + 3000;
  while (!parseFrames(conn).some((f) => f.type === T.SETTINGS && !(f.flags & 1)) && Date.now() < end) await sleep(10);
  conn.socket.write(frame(T.SETTINGS, 1, 0));
  return conn;
}

async function waitFrames(conn, pred, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const fs = parseFrames(conn);
    if (pred(fs) || conn.closedAt !== null || Date.now() > end) return fs;
    await sleep(20);
  }
}

describe('abuse against one server', () => {
  let server;
  before(async () => {
    server = await startServer({ set: {
      'server.header_timeout': `${HEADER_TIMEOUT_S}s`,
      'server.h2_max_concurrent_streams': String(MAX_STREAMS),
      'storage.wal': 'off',
    } });
    await assertHealthy(server, 'at start');
  });
  after(async () => {
    if (server) {
      const alive = server.alive();
      const res = await server.stop();
      assert.ok(alive, `flywheel died during the tests\n${server.stderrTail()}`);
      assert.equal(res.code, 0, `exit code after SIGTERM\n${server.stderrTail()}`);
    }
  });

  // Opens |n| connections that each send a partial request header; with
  // |trickle| they then send one more header byte every 300 ms (each well
  // under the timeout). Resolves the close times (ms; null = still open)
  // after at most header_timeout + 2 s, while checking that normal
  // requests are served meanwhile.
  async function slowloris(n, trickle) {
    const conns = [];
    for (let i = 0; i < n; i++) {
      const c = await rawConnect(server.httpPort);
      c.socket.write('POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
      conns.push(c);
    }
    const timer = trickle ? setInterval(() => {
      for (const c of conns) if (c.closedAt === null) c.socket.write('a');
    }, 300) : null;
    try {
      const t0 = Date.now();
      await assertHealthy(server, 'during slowloris');
      assert.ok(Date.now() - t0 < 2000, `normal requests took ${Date.now() - t0} ms during slowloris`);
      await within(Promise.all(conns.map((c) => c.closed)), (HEADER_TIMEOUT_S + 2) * 1000 + 500);
      return conns.map((c) => c.closedAt);
    } finally {
      if (timer) clearInterval(timer);
      for (const c of conns) c.socket.destroy();
    }
  }
  const limitMs = (HEADER_TIMEOUT_S + 1) * 1000;

  it('slowloris: stalled headers are closed after header_timeout; normal requests still served', async () => {
    const times = await slowloris(20, false);
    console.log(`slowloris (stalled): closed after ${times.join(',')} ms`);
    for (const t of times) {
      assert.ok(t !== null && t <= limitMs,
        `a stalled header was not closed within ${limitMs} ms (header_timeout ${HEADER_TIMEOUT_S}s): ${t}`);
      assert.ok(t >= HEADER_TIMEOUT_S * 1000 - 300, `stalled header closed too early: ${t} ms`);
    }
    await assertHealthy(server, 'after slowloris');
  });

  it('slowloris: headers trickled one byte per 300 ms are closed at the whole-header deadline', async () => {
    // Every byte arrives well inside the inactivity timeout: only a
    // deadline on the whole header block (armed at the request's first
    // byte, never extended) closes these.
    const times = await slowloris(20, true);
    console.log(`slowloris (trickled): closed after ${times.join(',')} ms`);
    for (const t of times) {
      assert.ok(t !== null && t <= limitMs,
        `a trickled header was not closed within ${limitMs} ms (header_timeout ${HEADER_TIMEOUT_S}s): ${t}`);
      assert.ok(t >= HEADER_TIMEOUT_S * 1000 - 300, `trickled header closed too early: ${t} ms`);
    }
    await assertHealthy(server, 'after trickled slowloris');
  });

  it('a complete request after a slow but in-time header block is served on the same connection', async () => {
    // The deadline is per request: a header block finished inside it gets
    // an answer, and the next request on the kept-alive connection gets a
    // fresh deadline.
    const c = await rawConnect(server.httpPort);
    try {
      const head = 'GET /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n';
      for (const part of [head.slice(0, 10), head.slice(10), '\r\n']) {
        c.socket.write(part);
        await new Promise((r) => setTimeout(r, 300));
      }
      await new Promise((r) => setTimeout(r, (HEADER_TIMEOUT_S * 1000) / 2));
      c.socket.write(head);
      await new Promise((r) => setTimeout(r, (HEADER_TIMEOUT_S * 1000) / 2 + 300));
      c.socket.write('\r\n');
      await new Promise((r) => setTimeout(r, 300));
      const text = Buffer.concat(c.data).toString();
      assert.equal((text.match(/HTTP\/1\.1 405/g) || []).length, 2,
        `two answers expected on the kept-alive connection, got: ${JSON.stringify(text.slice(0, 400))}`);
      assert.equal(c.closedAt, null, 'the connection was closed although each header block was in time');
    } finally {
      c.socket.destroy();
    }
  });

  it('HTTP/2 rapid reset: 2000 streams opened and cancelled; server stays up', async () => {
    const session = http2.connect(`http://127.0.0.1:${server.httpPort}`);
    let goaway = null;
    session.on('goaway', (code) => { goaway = code; });
    session.on('error', () => { /* the server may end the session */ });
    const closed = new Promise((r) => session.on('close', r));
    await new Promise((r, j) => { session.once('connect', r); session.once('error', j); });
    let opened = 0;
    for (let i = 0; i < 2000 && !session.destroyed && !session.closed; i++) {
      try {
        const req = session.request({ ':method': 'POST', ':path': '/v1/traces', 'content-type': 'application/x-protobuf' });
        req.on('error', () => {});
        req.close(http2.constants.NGHTTP2_CANCEL);
        opened++;
      } catch {
        break; // session already going away
      }
    }
    const ended = await within(closed, 5000);
    console.log(`rapid reset: ${opened} streams opened+cancelled; GOAWAY code ${goaway}; connection closed by server: ${ended}`);
    session.destroy();
    // nghttp2's RST_STREAM rate limit (burst 1000, 33/s) ends the session.
    assert.ok(goaway !== null && ended, `the abusive connection was not closed with GOAWAY (code ${goaway}, closed ${ended})`);
    await assertHealthy(server, 'after rapid reset');
  });

  it('the raw HTTP/2 client is understood (a well-formed request gets an answer)', async () => {
    const conn = await rawH2(server.httpPort);
    const body = smallTrace('abuse-raw-h2').body;
    conn.socket.write(Buffer.concat([headersFrames(1, requestBlock([['content-length', String(body.length)]]), false),
      frame(T.DATA, 0x1, 1, body)]));
    const fs = await waitFrames(conn, (f) => f.some((x) => x.type === T.HEADERS && x.stream === 1), 3000);
    conn.socket.destroy();
    assert.ok(fs.some((x) => x.type === T.HEADERS && x.stream === 1), 'no response HEADERS on stream 1');
    assert.ok(!fs.some((x) => x.type === T.GOAWAY || x.type === T.RST_STREAM), 'raw request was reset');
  });

  it(`streams beyond h2_max_concurrent_streams (${MAX_STREAMS}) are refused; server stays up`, async () => {
    const conn = await rawH2(server.httpPort);
    const settings = parseFrames(conn).find((f) => f.type === T.SETTINGS && !(f.flags & 1));
    let advertised = null;
    for (let p = 0; settings && p + 6 <= settings.payload.length; p += 6) {
      if (settings.payload.readUInt16BE(p) === 3) advertised = settings.payload.readUInt32BE(p + 2);
    }
    assert.equal(advertised, MAX_STREAMS, 'SETTINGS_MAX_CONCURRENT_STREAMS advertised');
    // Open 3x the limit without ending any stream (no body sent).
    const n = MAX_STREAMS * 3;
    const out = [];
    for (let i = 0; i < n; i++) out.push(headersFrames(1 + 2 * i, requestBlock(), false));
    conn.socket.write(Buffer.concat(out));
    const fs = await waitFrames(conn, (f) => f.some((x) => x.type === T.GOAWAY)
      || f.filter((x) => x.type === T.RST_STREAM).length >= n - MAX_STREAMS, 3000);
    const rsts = fs.filter((x) => x.type === T.RST_STREAM);
    const goaway = fs.find((x) => x.type === T.GOAWAY);
    console.log(`concurrent streams: ${rsts.length} RST_STREAM (codes ${[...new Set(rsts.map((r) => r.payload.readUInt32BE(0)))]}),` +
      ` GOAWAY ${goaway ? goaway.payload.readUInt32BE(4) : 'none'}`);
    assert.ok(rsts.length >= n - MAX_STREAMS || goaway,
      `expected the ${n - MAX_STREAMS} streams over the limit to be refused; got ${rsts.length} RST_STREAM and no GOAWAY`);
    for (const r of rsts) {
      assert.ok(r.stream > 2 * (MAX_STREAMS - 1) + 1, `stream ${r.stream} within the limit was reset`);
      assert.ok([1, 7].includes(r.payload.readUInt32BE(0)), `RST_STREAM code ${r.payload.readUInt32BE(0)} (want REFUSED_STREAM or PROTOCOL_ERROR)`);
    }
    conn.socket.destroy();
    await assertHealthy(server, 'after too many streams');
  });

  it('a huge header list gets 431 or a reset; server stays up', async () => {
    const conn = await rawH2(server.httpPort);
    // 200 KiB of header fields, far beyond SETTINGS_MAX_HEADER_LIST_SIZE (64 KiB).
    const extra = [];
    for (let i = 0; i < 50; i++) extra.push([`x-big-${i}`, 'v'.repeat(4096)]);
    conn.socket.write(headersFrames(1, requestBlock(extra), true));
    const fs = await waitFrames(conn, (f) => f.some((x) => (x.type === T.RST_STREAM || x.type === T.HEADERS) && x.stream === 1)
      || f.some((x) => x.type === T.GOAWAY), 3000);
    const rst = fs.find((x) => x.type === T.RST_STREAM && x.stream === 1);
    const hdr = fs.find((x) => x.type === T.HEADERS && x.stream === 1);
    const goaway = fs.find((x) => x.type === T.GOAWAY);
    let status = null;
    if (hdr) {
      // :status 431 is not in the static table: a literal with name index 8..14 and (raw or Huffman) value.
      status = hdr.payload.includes(Buffer.from('431')) || hdr.payload.includes(Buffer.from([0x69, 0x0c, 0x7f])) ? 431 : 'other';
    }
    console.log(`huge headers: RST ${rst ? rst.payload.readUInt32BE(0) : 'none'}, HEADERS ${status ?? 'none'}, GOAWAY ${goaway ? goaway.payload.readUInt32BE(4) : 'none'}, closed ${conn.closedAt !== null}`);
    assert.ok(rst || status === 431 || goaway || conn.closedAt !== null,
      'an oversized header list was neither answered 431 nor reset nor the connection closed');
    assert.notEqual(status, 'other', 'an oversized header list got a response other than 431');
    conn.socket.destroy();

    // The same through node:http2 (which sends it if told to), for the status a client sees.
    const session = http2.connect(`http://127.0.0.1:${server.httpPort}`, { maxSendHeaderBlockLength: 1 << 20 });
    session.on('error', () => {});
    const res = await new Promise((resolve) => {
      const h = {};
      for (let i = 0; i < 50; i++) h[`x-big-${i}`] = 'v'.repeat(4096);
      const req = session.request({ ':method': 'POST', ':path': '/v1/traces', 'content-type': 'application/x-protobuf', ...h });
      const t = setTimeout(() => resolve({ timeout: true }), 5000);
      req.on('response', (hh) => { clearTimeout(t); resolve({ status: hh[':status'] }); });
      req.on('error', (e) => { clearTimeout(t); resolve({ error: e.code, rst: req.rstCode }); });
      req.on('close', () => { clearTimeout(t); resolve({ rst: req.rstCode }); });
      req.end();
    });
    session.destroy();
    console.log(`huge headers via node:http2: ${JSON.stringify(res)}`);
    assert.ok(!res.timeout, 'no answer to an oversized header list within 5 s');
    assert.ok(res.status === undefined || res.status === 431, `oversized header list answered ${res.status}`);
    await assertHealthy(server, 'after huge headers');
  });

  it('a SETTINGS/PING flood is cut off or ignored; server stays up', async () => {
    const conn = await rawH2(server.httpPort);
    conn.socket.pause(); // do not read the ACKs: they pile up on the server
    const ping = frame(T.PING, 0, 0, Buffer.alloc(8));
    const settings = frame(T.SETTINGS, 0, 0);
    const batch = Buffer.concat(Array.from({ length: 1000 }, (_, i) => (i % 2 ? ping : settings)));
    let written = 0;
    const end = Date.now() + 3000;
    while (written < 100 && conn.closedAt === null && Date.now() < end) {
      if (!conn.socket.write(batch)) {
        await within(new Promise((r) => conn.socket.once('drain', r)), 300);
      }
      written++;
    }
    conn.socket.resume();
    await within(conn.closed, 3000);
    const fs = parseFrames(conn);
    const goaway = fs.find((x) => x.type === T.GOAWAY);
    console.log(`flood: ${written * 1000} frames written, ${fs.filter((x) => x.type === T.PING).length} PING ACKs read,` +
      ` GOAWAY ${goaway ? goaway.payload.readUInt32BE(4) : 'none'}, closed by server ${conn.closedAt !== null}`);
    conn.socket.destroy();
    await assertHealthy(server, 'after SETTINGS/PING flood');
  });
});

describe('server.max_connections', () => {
  let server;
  const MAX = 50;
  before(async () => {
    server = await startServer({ set: { 'server.max_connections': String(MAX), 'storage.wal': 'off' } });
  });
  after(async () => {
    if (server) {
      const alive = server.alive();
      const res = await server.stop();
      assert.ok(alive, `flywheel died during the tests\n${server.stderrTail()}`);
      assert.equal(res.code, 0, `exit code after SIGTERM\n${server.stderrTail()}`);
    }
  });

  it(`the ${MAX + 1}st connection is refused, earlier ones work`, async () => {
    const conns = [];
    try {
      for (let i = 0; i < MAX; i++) {
        const c = await rawConnect(server.httpPort);
        conns.push(c);
        // An answered request proves the server accepted (and counts) it.
        assert.equal(await rawH1Export(c, smallTrace('maxconn').body), 200, `connection ${i + 1} export`);
      }
      const extra = await rawConnect(server.httpPort);
      extra.socket.write('GET /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      const closed = await within(extra.closed, 3000);
      const got = Buffer.concat(extra.data).toString();
      assert.ok(closed, `connection ${MAX + 1} was not closed by the server within 3 s`);
      assert.equal(got, '', `connection ${MAX + 1} got an answer: ${got.slice(0, 100)}`);
      // The earlier ones still work.
      for (const [i, c] of conns.entries()) {
        assert.equal(c.closedAt, null, `connection ${i + 1} was closed`);
        assert.equal(await rawH1Export(c, smallTrace('maxconn').body), 200, `connection ${i + 1} second export`);
      }
      // Once some go away, new connections are accepted again.
      for (const c of conns.splice(0, 5)) c.socket.destroy();
      const end = Date.now() + 3000;
      let ok = false;
      while (!ok && Date.now() < end) {
        const c = await rawConnect(server.httpPort);
        try { ok = (await rawH1Export(c, smallTrace('maxconn').body)) === 200; } catch { ok = false; }
        c.socket.destroy();
        if (!ok) await sleep(50);
      }
      assert.ok(ok, 'no connection accepted again after 5 were closed');
    } finally {
      for (const c of conns) c.socket.destroy();
    }
    await assertHealthy(server, 'after max_connections');
  });
});

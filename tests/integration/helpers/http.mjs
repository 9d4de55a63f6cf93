// helpers/http.mjs - raw HTTP/1.1 and HTTP/2 requests (no automatic
// decompression, no retries) and JSON API reads with a bounded poll.

import http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';

/**
 * One HTTP/1.1 request on a fresh connection. opts: {port, method, path,
 * headers, body, tls:{ca}, chunked, connectionClose}. The connection is
 * persistent (Connection: keep-alive) unless |connectionClose| is set, and is
 * destroyed once the answer is read.
 * Resolves {status, headers, body: Buffer}. A server that answers and closes
 * before the whole body is written (e.g. 413) still yields its response.
 */
export function httpRequest(opts) {
  return new Promise((resolve, reject) => {
    const mod = opts.tls ? https : http;
    let response = null;
    let done = false;
    const agent = opts.connectionClose ? false : new mod.Agent({ keepAlive: true, maxSockets: 1 });
    const dropAgent = () => { if (agent) agent.destroy(); };
    const req = mod.request({
      host: '127.0.0.1',
      port: opts.port,
      method: opts.method ?? 'GET',
      path: opts.path,
      headers: opts.headers ?? {},
      agent,
      ca: opts.tls?.ca,
      timeout: opts.timeoutMs ?? 30000,
    }, (res) => {
      const chunks = [];
      response = res;
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        done = true;
        dropAgent();
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on('error', (e) => { if (!done) { done = true; dropAgent(); reject(e); } });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout on ${opts.method} ${opts.path}`)));
    req.on('error', (e) => {
      // Errors after a complete response (EPIPE/ECONNRESET while we were
      // still writing a body the server refused) are not failures.
      if (done || response) return;
      done = true;
      dropAgent();
      reject(e);
    });
    if (opts.body !== undefined && opts.body !== null) {
      if (opts.chunked) {
        const b = Buffer.from(opts.body);
        const step = Math.max(1, Math.ceil(b.length / 3));
        for (let i = 0; i < b.length; i += step) req.write(b.subarray(i, i + step));
      } else {
        req.write(opts.body);
      }
    }
    req.end();
  });
}

/**
 * One HTTP/2 cleartext (prior knowledge) or TLS request on a fresh session.
 * Resolves {status, headers, trailers, body: Buffer}.
 */
export function h2Request({ port, tls, path, method = 'GET', headers = {}, body, timeoutMs = 30000 }) {
  return new Promise((resolve, reject) => {
    const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    const session = http2.connect(url, tls ? { ca: tls.ca } : {});
    let settled = false;
    const finish = (fn, v) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.close();
      fn(v);
    };
    const timer = setTimeout(() => {
      session.destroy();
      finish(reject, new Error(`h2 timeout on ${method} ${path}`));
    }, timeoutMs);
    session.on('error', (e) => finish(reject, e));
    const req = session.request({ ':method': method, ':path': path, ...headers });
    let resHeaders = null;
    let trailers = {};
    const chunks = [];
    req.on('response', (h) => { resHeaders = h; });
    req.on('trailers', (t) => { trailers = t; });
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => finish(resolve, {
      status: resHeaders ? resHeaders[':status'] : 0, headers: resHeaders ?? {}, trailers,
      body: Buffer.concat(chunks),
    }));
    req.on('error', (e) => {
      if (resHeaders) {
        finish(resolve, { status: resHeaders[':status'], headers: resHeaders, trailers, body: Buffer.concat(chunks), error: e });
      } else {
        finish(reject, e);
      }
    });
    if (body !== undefined) req.end(body); else req.end();
  });
}

export async function apiGetJson(server, path) {
  const res = await httpRequest({
    port: server.apiPort, path, tls: server.apiUrl.startsWith('https') ? { ca: server.ca } : undefined,
  });
  let json = null;
  try {
    json = JSON.parse(res.body.toString('utf8'));
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, json, text: res.body.toString('utf8') };
}

/**
 * Reads GET /api/v1/traces/{id} until it holds at least |minSpans| spans or
 * the bounded deadline passes (ingest may hand spans to the store
 * asynchronously after acknowledging). Returns the last answer.
 */
export async function fetchTrace(server, traceId, minSpans, deadlineMs = 5000) {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const r = await apiGetJson(server, `/api/v1/traces/${traceId}`);
    const n = r.json?.spans?.length ?? 0;
    if ((r.status === 200 && n >= minSpans) || Date.now() > end) return r;
    await new Promise((res) => setTimeout(res, 25));
  }
}

/** Same for GET /api/v1/logs?query: waits for at least |minLogs| records. */
export async function fetchLogs(server, query, minLogs, deadlineMs = 5000) {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const r = await apiGetJson(server, `/api/v1/logs?${query}`);
    const n = r.json?.logs?.length ?? 0;
    if ((r.status === 200 && n >= minLogs) || Date.now() > end) return r;
    await new Promise((res) => setTimeout(res, 25));
  }
}

/** Parses Prometheus text into [{name, labels, value}]. */
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      for (const lm of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2];
    }
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

export async function metricValue(server, name, labels) {
  const r = await apiGetJson(server, '/metrics');
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  let sum = 0;
  let found = false;
  for (const s of parseMetrics(r.text)) {
    if (s.name !== name) continue;
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) {
      sum += s.value;
      found = true;
    }
  }
  return found ? sum : null;
}

// helpers/grpc.mjs - raw gRPC unary calls over node's http2 module, so tests
// can send exactly the bytes they mean (lying length prefixes, oversized
// messages, garbage) and read grpc-status / grpc-message whether the server
// answers with trailers or trailers-only.

import http2 from 'node:http2';

export const TRACE_EXPORT = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
export const LOGS_EXPORT = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';
export const METRICS_EXPORT = '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export';

/**
 * Sends |body| (already framed) on one stream.
 * Resolves {httpStatus, headers, trailers, grpcStatus, grpcMessage, body, messages}
 * where messages are the de-framed response messages.
 */
export function grpcCall({ port, tls, path, body, headers = {}, timeoutMs = 30000 }) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`${tls ? 'https' : 'http'}://127.0.0.1:${port}`, tls ? { ca: tls.ca } : {});
    let settled = false;
    let resHeaders = null;
    let trailers = null;
    const chunks = [];
    const result = () => {
      const status = trailers?.['grpc-status'] ?? resHeaders?.['grpc-status'];
      const msg = trailers?.['grpc-message'] ?? resHeaders?.['grpc-message'];
      const data = Buffer.concat(chunks);
      const messages = [];
      let p = 0;
      while (p + 5 <= data.length) {
        const n = data.readUInt32BE(p + 1);
        messages.push(data.subarray(p + 5, p + 5 + n));
        p += 5 + n;
      }
      return {
        httpStatus: resHeaders?.[':status'],
        headers: resHeaders ?? {},
        trailers: trailers ?? {},
        grpcStatus: status === undefined ? undefined : Number(status),
        grpcMessage: msg === undefined ? undefined : decodeURIComponent(String(msg)),
        body: data,
        messages,
      };
    };
    const finish = (fn, v) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.close();
      fn(v);
    };
    const timer = setTimeout(() => {
      session.destroy();
      finish(reject, new Error(`gRPC timeout on ${path}`));
    }, timeoutMs);
    session.on('error', (e) => finish(reject, e));
    const req = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    req.on('response', (h) => { resHeaders = h; });
    req.on('trailers', (t) => { trailers = t; });
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => finish(resolve, result()));
    req.on('close', () => {
      // A server may reset the stream after its trailers (e.g. it refused a
      // message it did not read to the end); what it answered still counts.
      if (resHeaders) finish(resolve, result());
      else finish(reject, new Error(`stream closed without a response (rst code ${req.rstCode})`));
    });
    req.on('error', () => { /* reported through 'close' */ });
    req.end(body);
  });
}

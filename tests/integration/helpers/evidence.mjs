// helpers/evidence.mjs - small building blocks for the evidence tests
// (50-evidence): one simulated service made with the official OpenTelemetry
// JS SDK (a tracer and a logger sharing one resource, each with its own
// recording OTLP exporter and a Simple*Processor, so every span and every
// log record is one export the test can wait for), bounded polling of the
// JSON API, JSON POSTs, and BigInt-nanosecond time helpers.

import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { makeTraceExporter, makeLogExporter, RecordingExporter } from './sdk.mjs';
import { apiGetJson, httpRequest } from './http.mjs';

export const NS_PER_MS = 1000000n;
export const NS_PER_S = 1000000000n;
export const NS_PER_MIN = 60n * NS_PER_S;

/** BigInt unix ns -> SDK HrTime [seconds, nanoseconds]. */
export const hr = (ns) => [Number(ns / NS_PER_S), Number(ns % NS_PER_S)];

/** The collector's clock is the wall clock: now in unix ns. */
export const nowNs = () => BigInt(Date.now()) * NS_PER_MS;

/**
 * One service: {tracer, logger, traceRec, logRec, settle(), shutdown()}.
 * opts: {name, version?, environment?, namespace?, traces: exporter kind,
 * logs: exporter kind, gzip?}. Exporter kinds as in sdk.mjs EXPORTERS.
 */
export function makeService(server, opts) {
  const attrs = { 'service.name': opts.name };
  if (opts.version) attrs['service.version'] = opts.version;
  if (opts.environment) attrs['deployment.environment.name'] = opts.environment;
  if (opts.namespace) attrs['service.namespace'] = opts.namespace;
  const resource = resourceFromAttributes(attrs);
  const gzip = opts.gzip ?? false;
  const traceRec = new RecordingExporter(makeTraceExporter(opts.traces ?? 'grpc', server, { gzip, tls: false }));
  const logRec = new RecordingExporter(makeLogExporter(opts.logs ?? opts.traces ?? 'grpc', server, { gzip, tls: false }));
  const tracerProvider = new BasicTracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor(traceRec)] });
  const loggerProvider = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter: logRec })] });
  return {
    name: opts.name,
    tracer: tracerProvider.getTracer('flywheel-it-evidence', '1.0.0'),
    logger: loggerProvider.getLogger('flywheel-it-evidence', '1.0.0'),
    traceRec,
    logRec,
    /** Waits (bounded) until every export so far has its result; asserts success. */
    async settle(what) {
      await Promise.allSettled([tracerProvider.forceFlush(), loggerProvider.forceFlush()]);
      await traceRec.settled();
      await logRec.settled();
      if (traceRec.items.length) traceRec.assertAllSucceeded(`${what}: span exports`);
      if (logRec.items.length) logRec.assertAllSucceeded(`${what}: log exports`);
    },
    async shutdown() {
      await Promise.allSettled([tracerProvider.shutdown(), loggerProvider.shutdown()]);
    },
  };
}

/**
 * GET |path| until |done(answer)| holds or |deadlineMs| passes (bounded;
 * the interval only paces the retries). Returns the last answer
 * {status, headers, json, text}.
 */
export async function pollJson(server, path, done, deadlineMs = 10000, intervalMs = 50) {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const r = await apiGetJson(server, path);
    if (done(r) || Date.now() > end) return r;
    await new Promise((res) => setTimeout(res, intervalMs));
  }
}

/** POST |body| (an object is JSON-encoded; a string is sent as is). */
export async function postJson(server, path, body, contentType = 'application/json') {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await httpRequest({
    port: server.apiPort,
    method: 'POST',
    path,
    headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) },
    body: payload,
  });
  const text = res.body.toString('utf8');
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, json, text };
}

// helpers/sdk.mjs - builds the official OpenTelemetry JS exporters for a
// running flywheel (gRPC, HTTP/protobuf, HTTP/JSON; gzip or not; cleartext or
// TLS trusting the test's self-signed CA), a recording wrapper that keeps
// every export result so tests can assert success, and the conversions from
// SDK values to what docs/API.md says the API answers.

import assert from 'node:assert/strict';
import grpc from '@grpc/grpc-js';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPLogExporter as JsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { rfc3339Nano } from './otlp.mjs';

export const EXPORTERS = ['grpc', 'http-protobuf', 'http-json'];

const TRACE_CTORS = { grpc: GrpcTraceExporter, 'http-protobuf': ProtoTraceExporter, 'http-json': JsonTraceExporter };
const LOG_CTORS = { grpc: GrpcLogExporter, 'http-protobuf': ProtoLogExporter, 'http-json': JsonLogExporter };

function exporterOptions(kind, signal, server, { gzip, tls }) {
  const common = { compression: gzip ? 'gzip' : 'none', timeoutMillis: 15000 };
  if (kind === 'grpc') {
    return {
      ...common,
      url: `${tls ? 'https' : 'http'}://127.0.0.1:${server.grpcPort}`,
      credentials: tls ? grpc.credentials.createSsl(server.ca) : grpc.credentials.createInsecure(),
    };
  }
  return {
    ...common,
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${server.httpPort}/v1/${signal}`,
    // The installed otlp-exporter-base passes these to https.Agent.
    httpAgentOptions: tls ? { ca: server.ca, keepAlive: true } : { keepAlive: true },
  };
}

export function makeTraceExporter(kind, server, opts) {
  return new TRACE_CTORS[kind](exporterOptions(kind, 'traces', server, opts));
}
export function makeLogExporter(kind, server, opts) {
  return new LOG_CTORS[kind](exporterOptions(kind, 'logs', server, opts));
}

/** Wraps an exporter; keeps every export result. */
export class RecordingExporter {
  constructor(inner) {
    this.inner = inner;
    this.results = [];
    this.items = [];
    this.pending = [];
  }

  export(items, cb) {
    this.items.push(...items);
    this.pending.push(new Promise((resolve) => {
      this.inner.export(items, (r) => {
        this.results.push(r);
        cb(r);
        resolve();
      });
    }));
  }

  /**
   * Waits (bounded) until every export handed to this exporter has its result.
   * Needed because SimpleLogRecordProcessor.forceFlush does not wait for
   * exports in flight.
   */
  async settled(timeoutMs = 20000) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`exports still pending after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([Promise.all(this.pending), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  shutdown() { return this.inner.shutdown(); }

  forceFlush() { return this.inner.forceFlush ? this.inner.forceFlush() : Promise.resolve(); }

  assertAllSucceeded(what) {
    assert.ok(this.results.length > 0, `${what}: the exporter was never called`);
    this.results.forEach((r, i) => {
      assert.equal(r.code, ExportResultCode.SUCCESS,
        `${what}: export #${i} failed: ${r.error?.stack ?? r.error}`);
    });
  }
}

export const hrToNanos = (hr) => BigInt(Math.trunc(hr[0])) * 1000000000n + BigInt(Math.trunc(hr[1]));
export const hrToNanoString = (hr) => hrToNanos(hr).toString();
export const hrToRfc3339 = (hr) => rfc3339Nano(hrToNanos(hr));

/** OTLP span flags as the JS transformer builds them: W3C flags | HAS_IS_REMOTE (| IS_REMOTE). */
export const otlpSpanFlags = (traceFlags, isRemote) => (traceFlags & 0xff) | 0x100 | (isRemote ? 0x200 : 0);

/**
 * Keeps from |actual| only the keys that |expected| has (recursively through
 * objects and arrays, except "attributes" maps, compared whole), so that
 * deepStrictEqual reports exactly the differing fields.
 */
export function pickLike(actual, expected) {
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return actual;
    return actual.map((a, i) => (i < expected.length ? pickLike(a, expected[i]) : a));
  }
  if (expected && typeof expected === 'object') {
    if (!actual || typeof actual !== 'object' || Array.isArray(actual)) return actual;
    const out = {};
    for (const k of Object.keys(expected)) {
      out[k] = k === 'attributes' ? actual[k] : pickLike(actual[k], expected[k]);
    }
    return out;
  }
  return actual;
}

export function assertLike(actual, expected, what) {
  assert.deepStrictEqual(pickLike(actual, expected), expected, what);
}

// helpers/server.mjs - starts the real flywheel binary on free ports for one
// test file, waits until it is ready (startup lines, then GET /readyz == 200,
// both bounded), and stops it with SIGTERM, checking that it exits 0.
// Also makes a throw-away self-signed certificate with the openssl CLI, and
// finds free ports for the other programs a test runs (Alertmanager, ...).

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { createServer } from 'node:net';
import https from 'node:https';
import readline from 'node:readline';

const STARTUP_TIMEOUT_MS = 20000;
const READY_TIMEOUT_MS = 20000;
const STOP_TIMEOUT_MS = 20000;

// A free TCP port on 127.0.0.1 (bind 0, read it, close).
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function flywheelBin() {
  const bin = process.env.FLYWHEEL_BIN;
  if (!bin) {
    throw new Error('FLYWHEEL_BIN is not set: point it at <build>/collector/flywheel');
  }
  if (!existsSync(bin)) {
    throw new Error(`FLYWHEEL_BIN=${bin} does not exist (build the flywheel target first)`);
  }
  return bin;
}

export function makeTempDir(prefix) {
  return mkdtempSync(join(tmpdir(), `flywheel-it-${prefix}-`));
}

// Self-signed certificate for 127.0.0.1 and localhost, valid for a day.
export function makeCert(dir) {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', key, '-out', cert,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { cert, key, ca: readFileSync(cert) };
}

// Plain GET used while waiting for readiness; resolves {status, body}.
function probe(url, ca) {
  return new Promise((resolve) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, { ca, agent: false, timeout: 2000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      res.on('error', () => resolve({ status: 0, body: '' }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '' }));
  });
}

/**
 * Starts `flywheel serve` on 127.0.0.1:0 for every listener.
 * opts.tls: {cert, key, ca} applied to the listeners named in opts.tlsOn
 *           (subset of ['otlp_grpc', 'otlp_http', 'api']).
 * opts.set: extra {key: value} passed as --set key=value.
 * opts.dataDir: an existing --data-dir to use (e.g. a restart on the data of
 *           an earlier server); the caller owns it and stop() leaves it in
 *           place. Without it a fresh temporary one is made and stop()
 *           removes it.
 * Returns {grpcPort, httpPort, apiPort, apiUrl, ca, stop(), stderr(), proc}.
 */
export async function startServer(opts = {}) {
  const bin = flywheelBin();
  const ownDataDir = !opts.dataDir;
  const dataDir = opts.dataDir ?? makeTempDir('data');
  const dropDataDir = () => { if (ownDataDir) rmSync(dataDir, { recursive: true, force: true }); };
  const args = ['serve',
    '--grpc-listen', '127.0.0.1:0',
    '--http-listen', '127.0.0.1:0',
    '--api-listen', '127.0.0.1:0',
    '--data-dir', dataDir];
  const tlsOn = new Set(opts.tlsOn ?? []);
  for (const l of tlsOn) {
    args.push('--set', `${l}.tls_cert_file=${opts.tls.cert}`);
    args.push('--set', `${l}.tls_key_file=${opts.tls.key}`);
  }
  for (const [k, v] of Object.entries(opts.set ?? {})) {
    args.push('--set', `${k}=${v}`);
  }
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderrBuf = '';
  proc.stderr.on('data', (c) => {
    stderrBuf += c.toString();
    if (stderrBuf.length > 200000) stderrBuf = stderrBuf.slice(-100000);
  });
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const stderrTail = () => stderrBuf.split('\n').slice(-40).join('\n');

  const ports = {};
  const rl = readline.createInterface({ input: proc.stdout });
  const bound = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(
      `flywheel did not print its three listening lines within ${STARTUP_TIMEOUT_MS} ms; got ${JSON.stringify(ports)}\nstderr:\n${stderrTail()}`)),
    STARTUP_TIMEOUT_MS);
    rl.on('line', (line) => {
      const m = /^listening (otlp-grpc|otlp-http|api) (\S+):(\d+)$/.exec(line.trim());
      if (m) {
        ports[m[1]] = Number(m[3]);
        if (ports['otlp-grpc'] && ports['otlp-http'] && ports.api) {
          clearTimeout(timer);
          resolve();
        }
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`flywheel exited during startup (code ${code}, signal ${signal})\nargs: ${args.join(' ')}\nstderr:\n${stderrTail()}`));
    });
  });
  try {
    await bound;
  } catch (e) {
    proc.kill('SIGKILL');
    dropDataDir();
    throw e;
  }

  const apiTls = tlsOn.has('api');
  const apiUrl = `${apiTls ? 'https' : 'http'}://127.0.0.1:${ports.api}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = { status: 0, body: '' };
  for (;;) {
    last = await probe(`${apiUrl}/readyz`, apiTls ? opts.tls.ca : undefined);
    if (last.status === 200) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`GET /readyz never answered 200 (last ${last.status} ${last.body})\nstderr:\n${stderrTail()}`);
    }
    await new Promise((r) => setTimeout(r, 50)); // poll interval, bounded by the deadline above
  }

  let stopped = false;
  return {
    proc,
    args,
    dataDir,
    grpcPort: ports['otlp-grpc'],
    httpPort: ports['otlp-http'],
    apiPort: ports.api,
    apiUrl,
    ca: opts.tls?.ca,
    stderr: () => stderrBuf,
    stderrTail,
    alive: () => proc.exitCode === null && proc.signalCode === null,
    // SIGTERM, then wait (bounded) for a clean exit; returns {code, signal}.
    async stop() {
      if (stopped) return exited;
      stopped = true;
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const timeout = new Promise((resolve) => {
        const t = setTimeout(() => resolve(null), STOP_TIMEOUT_MS);
        exited.then(() => clearTimeout(t));
      });
      const res = await Promise.race([exited, timeout]);
      if (res === null) {
        proc.kill('SIGKILL');
        await exited;
        dropDataDir();
        throw new Error(`flywheel did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM\nstderr:\n${stderrTail()}`);
      }
      dropDataDir();
      return res;
    },
  };
}

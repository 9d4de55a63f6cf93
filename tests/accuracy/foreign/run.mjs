#!/usr/bin/env node
// tests/accuracy/foreign/run.mjs - the investigator's accuracy on telemetry
// it was not written against: every scenario starts a FRESH `flywheel serve`
// (tests/integration/helpers/server.mjs), replays 30 backdated minutes of a
// public demo app (apps.mjs) with one injected fault (gen.mjs) over
// OTLP/HTTP protobuf, posts a generic firing alarm the way an operator would
// (mostly naming the ENTRY service, the symptom; a few name the faulty or an
// intermediate service), waits for the investigation and scores it.
//
// Scoring (per scenario): rank = first hypothesis whose component names the
// faulty part: component.dependency for a dependency fault (any of the
// names the spec allows for a virtual node: server.address, db.system,
// rpc.service), component.service otherwise (for a killed service also
// component.dependency = the service, the callee its callers fail against),
// and for a bad replica also component.instance = the pod. AC@1 / AC@3 over
// that; "cause@1" says whether rank 1's cause is one a responder would accept
// for the fault; strict AC@1 needs both.
//
// Usage: node run.mjs --flywheel PATH [--jobs N] [--only SUBSTR] [--verbose]
//                     [--min-ac1 X] [--min-ac3 Y] [--seed-offset K]
// Exits 1 below the thresholds or when a scenario could not run.
import { startServer } from '../../integration/helpers/server.mjs';
import { generate } from './gen.mjs';
import { APPS } from './apps.mjs';

const WINDOW_MS = 30 * 60000;
const INVESTIGATION_TIMEOUT_MS = 90000;

// name, app, seed, fault, truth, alarm {service, after_ms, latency?}, extras
const SCENARIOS = [
  { name: 'boutique cpu-hog productcatalogservice', app: 'boutique', seed: 101,
    fault: { kind: 'cpu', target: 'productcatalogservice', factor: 4 },
    truth: { service: 'productcatalogservice', causes: ['latency'] },
    alarm: { latency: true }, decoy: { svc: 'emailservice', err: 0.03 } },
  { name: 'boutique net-delay shippingservice', app: 'boutique', seed: 102,
    fault: { kind: 'netdelay', target: 'shippingservice', ms: 150 },
    truth: { service: 'shippingservice', causes: ['latency', 'dependency_failure'] },
    alarm: { latency: true }, decoy: { svc: 'adservice', err: 0.02 } },
  { name: 'boutique pod-kill cartservice', app: 'boutique', seed: 103,
    fault: { kind: 'kill', target: 'cartservice', durationMs: 240000 },
    truth: { service: 'cartservice', killed: true, causes: ['dependency_failure'] },
    alarm: {}, decoy: { svc: 'paymentservice', err: 0.02 } },
  { name: 'boutique bad-replica recommendationservice', app: 'boutique', seed: 104,
    fault: { kind: 'badpod', target: 'recommendationservice', err: 0.6 },
    truth: { service: 'recommendationservice', instance: true, causes: ['code_error', 'dependency_failure'] },
    alarm: {} },
  { name: 'boutique redis-cart down', app: 'boutique', seed: 105,
    fault: { kind: 'dep-error', dep: 'redis-cart', err: 0.7 },
    truth: { service: 'cartservice', dep: 'redis-cart', causes: ['dependency_failure'] },
    alarm: {}, blip: { svc: 'currencyservice', beforeMs: 600000, durMs: 60000, err: 0.2 } },
  { name: 'boutique deploy checkoutservice (low traffic)', app: 'boutique', seed: 106, rate: 4,
    fault: { kind: 'deploy', target: 'checkoutservice', newVersion: 'v0.10.2', err: 0.5,
      exType: 'runtime.Error', exMsg: 'invalid memory address or nil pointer dereference' },
    truth: { service: 'checkoutservice', causes: ['deployment', 'code_error'], version: true },
    alarm: {}, decoy: { svc: 'emailservice', err: 0.05 } },
  { name: 'boutique fx-api 429 (external)', app: 'boutique', seed: 107,
    fault: { kind: 'dep-throttle', dep: 'fxapi', p: 0.8 },
    truth: { service: 'currencyservice', dep: 'fxapi', causes: ['throttling'] },
    alarm: {} },
  { name: 'boutique memory-leak adservice (alarm on target)', app: 'boutique', seed: 108,
    fault: { kind: 'memleak', target: 'adservice', factor: 6 },
    truth: { service: 'adservice', causes: ['latency'] },
    alarm: { service: 'adservice', latency: true, after_ms: 240000 } },
  { name: 'sockshop cpu-hog catalogue', app: 'sockshop', seed: 201,
    fault: { kind: 'cpu', target: 'catalogue', factor: 5 },
    truth: { service: 'catalogue', causes: ['latency'] },
    alarm: { latency: true }, decoy: { svc: 'payment', err: 0.04 } },
  { name: 'sockshop packet-loss carts', app: 'sockshop', seed: 202,
    fault: { kind: 'loss', target: 'carts', timeoutP: 0.08, retransP: 0.3, timeoutMs: 2000, retry: true },
    truth: { service: 'carts', causes: ['latency', 'dependency_failure'] },
    alarm: { latency: true } },
  { name: 'sockshop deploy payment (alarm on orders)', app: 'sockshop', seed: 203, rate: 8,
    fault: { kind: 'deploy', target: 'payment', newVersion: '0.4.4', err: 0.5,
      exType: 'main.ErrInvalidToken', exMsg: 'payment gateway token invalid' },
    truth: { service: 'payment', causes: ['deployment', 'code_error'], version: true },
    alarm: { service: 'orders' }, decoy: { svc: 'user', err: 0.01 } },
  { name: 'sockshop dynamodb throttling', app: 'sockshop', seed: 204,
    fault: { kind: 'dep-throttle', dep: 'dynamodb', p: 0.5 },
    truth: { service: 'user', dep: 'dynamodb', causes: ['throttling'] },
    alarm: {} },
  { name: 'sockshop catalogue-db slow disk', app: 'sockshop', seed: 205,
    fault: { kind: 'dep-slow', dep: 'catalogue-db', factor: 25 },
    truth: { service: 'catalogue', dep: 'catalogue-db', causes: ['latency'] },
    alarm: { latency: true }, decoy: { svc: 'carts', err: 0.02 } },
  { name: 'trainticket leaf code-error ts-station-service', app: 'trainticket', seed: 301,
    fault: { kind: 'code', target: 'ts-station-service', err: 0.15 },
    truth: { service: 'ts-station-service', causes: ['code_error'] },
    alarm: {}, decoy: { svc: 'ts-food-service', err: 0.05 } },
  { name: 'trainticket net-delay ts-route-service', app: 'trainticket', seed: 302,
    fault: { kind: 'netdelay', target: 'ts-route-service', ms: 100 },
    truth: { service: 'ts-route-service', causes: ['latency', 'dependency_failure'] },
    alarm: { latency: true } },
  { name: 'trainticket pod-kill ts-price-service (alarm on ts-travel-service)', app: 'trainticket', seed: 303,
    fault: { kind: 'kill', target: 'ts-price-service', durationMs: 300000 },
    truth: { service: 'ts-price-service', killed: true, causes: ['dependency_failure'] },
    alarm: { service: 'ts-travel-service' } },
  { name: 'trainticket cpu-hog ts-order-service (alarm on target)', app: 'trainticket', seed: 304,
    fault: { kind: 'cpu', target: 'ts-order-service', factor: 5 },
    truth: { service: 'ts-order-service', causes: ['latency'] },
    alarm: { service: 'ts-order-service', latency: true }, decoy: { svc: 'ts-food-service', err: 0.05 } },
  { name: 'trainticket slow replica ts-basic-service', app: 'trainticket', seed: 305,
    fault: { kind: 'badpod', target: 'ts-basic-service', lat: 12 },
    truth: { service: 'ts-basic-service', instance: true, causes: ['latency'] },
    alarm: { latency: true } },
];

function parseArgs(argv) {
  const o = { flywheel: null, jobs: 2, only: null, verbose: false, minAc1: 0, minAc3: 0, seedOffset: 0 };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--flywheel') o.flywheel = argv[++i];
    else if (a === '--jobs') o.jobs = Math.max(1, parseInt(argv[++i], 10) || 1);
    else if (a === '--only') o.only = argv[++i];
    else if (a === '--verbose') o.verbose = true;
    else if (a === '--min-ac1') o.minAc1 = Number(argv[++i]);
    else if (a === '--min-ac3') o.minAc3 = Number(argv[++i]);
    else if (a === '--seed-offset') o.seedOffset = parseInt(argv[++i], 10) || 0;
    else {
      console.error(`foreign: unknown argument ${a}`);
      process.exit(2);
    }
  }
  if (!o.flywheel) {
    console.error('usage: run.mjs --flywheel PATH [--jobs N] [--only SUBSTR] [--verbose] [--min-ac1 X] [--min-ac3 Y]');
    process.exit(2);
  }
  return o;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function httpJson(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* leave null */ }
  return { status: res.status, json, text };
}

async function postTraces(port, body) {
  for (let attempt = 0; attempt < 20; attempt++) {
    const res = await fetch(`http://127.0.0.1:${port}/v1/traces`, {
      method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body,
    });
    await res.arrayBuffer();
    if (res.status === 200) return;
    if (res.status !== 429 && res.status !== 503) throw new Error(`POST /v1/traces answered ${res.status}`);
    await sleep(200 * (attempt + 1));
  }
  throw new Error('POST /v1/traces kept answering overload');
}

const lc = (s) => (s || '').toLowerCase();

// The component names the fault's part? (see the header)
function componentHit(h, sc, facts) {
  const c = h.component || {};
  const t = sc.truth;
  let ok;
  if (t.dep) {
    const names = APPS[sc.app].deps[t.dep].names.map(lc);
    ok = names.includes(lc(c.dependency));
  } else if (t.killed) {
    ok = c.service === t.service || c.dependency === t.service;
  } else {
    ok = c.service === t.service;
  }
  if (ok && t.instance) ok = c.instance === facts.instance;
  return ok;
}

function serviceHit(h, sc) {
  const c = h.component || {};
  return c.service === sc.truth.service || c.dependency === sc.truth.service;
}

async function runScenario(opt, sc, idx) {
  const r = { idx, sc, rank: 0, srank: 0, cause1: false, svc1: false, top: '', error: null };
  let server = null;
  try {
    server = await startServer();
    const now = Date.now();
    const endMs = now - 5000;
    const startMs = endMs - WINDOW_MS;
    const onsetMs = endMs - 6 * 60000 - ((sc.seed * 7919) % 60000);
    const t0 = Date.now();
    const facts = await generate({ ...sc, seed: sc.seed + opt.seedOffset }, { startMs, endMs, onsetMs },
      (body) => postTraces(server.httpPort, body));
    r.gen = { ...facts, ms: Date.now() - t0 };
    const app = APPS[sc.app];
    const alarmSvc = sc.alarm.service ?? app.entry;
    const at = new Date(onsetMs + (sc.alarm.after_ms ?? 150000)).toISOString();
    const post = await httpJson('POST', `${server.apiUrl}/api/v1/alarms`, {
      name: `${alarmSvc} ${sc.alarm.latency ? 'p99 latency high' : '5xx error rate high'}`,
      service: alarmSvc, state: 'firing', timestamp: at,
    });
    if (post.status !== 202 || !post.json?.investigations?.[0]?.id)
      throw new Error(`alarm POST answered ${post.status}: ${post.text.slice(0, 300)}`);
    const id = post.json.investigations[0].id;
    const deadline = Date.now() + INVESTIGATION_TIMEOUT_MS;
    let inv;
    for (;;) {
      const g = await httpJson('GET', `${server.apiUrl}/api/v1/investigations/${id}`);
      if (g.status === 200 && g.json && g.json.status !== 'running' && g.json.status !== 'pending') { inv = g.json; break; }
      if (Date.now() > deadline) throw new Error(`investigation ${id} still running`);
      await sleep(250);
    }
    if (inv.status !== 'complete') throw new Error(`investigation ended ${inv.status}`);
    r.inv = inv;
    r.onsetMs = onsetMs;
    const hs = inv.hypotheses || [];
    for (let k = 0; k < hs.length; k++) {
      const comp = componentHit(hs[k], sc, facts);
      if (!r.rank && comp) r.rank = k + 1;
      if (!r.srank && comp && sc.truth.causes.includes(hs[k].cause) &&
          (!sc.truth.version || hs[k].cause !== 'deployment' || hs[k].component?.version === facts.version)) r.srank = k + 1;
    }
    if (hs[0]) {
      r.cause1 = sc.truth.causes.includes(hs[0].cause);
      r.svc1 = serviceHit(hs[0], sc);
      const c = hs[0].component || {};
      r.top = `${hs[0].cause} ${[c.service, c.dependency].filter(Boolean).join('/')}` +
        (c.version ? `@${c.version}` : '') + (c.instance ? ` [${c.instance}]` : '');
    }
  } catch (e) {
    r.error = e.message;
  } finally {
    if (server) {
      try {
        const { code } = await server.stop();
        if (code !== 0 && !r.error) r.error = `server exited ${code}`;
      } catch (e) {
        if (!r.error) r.error = e.message;
      }
    }
  }
  return r;
}

function expectedOf(sc, gen) {
  const t = sc.truth;
  const what = t.dep ? `${t.dep}(${t.service})` : t.service;
  return `${t.causes.join('|')} ${what}${t.instance && gen?.instance ? ` [${gen.instance}]` : ''}`;
}

function printDetail(r) {
  console.log(`--- ${r.sc.name}: ${r.error ? `ERROR ${r.error}` : `rank ${r.rank || 'miss'}`}`);
  if (r.gen) console.log(`    generated ${r.gen.spans} spans / ${r.gen.traces} traces in ${r.gen.ms} ms; truth ${expectedOf(r.sc, r.gen)}; onset ${new Date(r.onsetMs ?? 0).toISOString()}`);
  if (r.inv) {
    console.log(`    onset found ${r.inv.scope?.onset}  impact ${JSON.stringify(r.inv.impact).slice(0, 200)}`);
    for (const h of (r.inv.hypotheses || []).slice(0, 6)) {
      const c = h.component || {};
      console.log(`    ${h.rank}. ${h.score} ${h.cause} ${[c.service, c.dependency].filter(Boolean).join('/')}` +
        `${c.version ? '@' + c.version : ''}${c.instance ? ' [' + c.instance + ']' : ''} - ${h.title}`);
      if (h.what_happened) console.log(`       ${h.what_happened.slice(-300)}`);
    }
  }
}

async function main() {
  const opt = parseArgs(process.argv);
  process.env.FLYWHEEL_BIN = opt.flywheel;
  const list = SCENARIOS.map((s, i) => [s, i]).filter(([s]) => !opt.only || s.name.includes(opt.only));
  const results = [];
  let next = 0;
  const t0 = Date.now();
  async function worker() {
    while (next < list.length) {
      const [sc, i] = list[next++];
      const r = await runScenario(opt, sc, i);
      results.push(r);
      if (opt.verbose) printDetail(r);
    }
  }
  await Promise.all(Array.from({ length: Math.min(opt.jobs, list.length) }, worker));
  results.sort((a, b) => a.idx - b.idx);
  const rows = results.map((r) => [String(r.idx + 1), r.sc.name, expectedOf(r.sc, r.gen),
    r.error ? 'ERROR' : (r.rank ? String(r.rank) : 'miss'), r.error ? 'ERROR' : (r.srank ? String(r.srank) : 'miss'), r.cause1 ? 'yes' : 'no', r.svc1 ? 'yes' : 'no',
    r.error ? r.error.slice(0, 120) : r.top]);
  const head = ['#', 'scenario', 'expected', 'rank', 'strict', 'cause@1', 'svc@1', 'top hypothesis'];
  const w = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const fmt = (row) => row.map((v, c) => v.padEnd(w[c])).join('  ').trimEnd();
  console.log(fmt(head));
  console.log(w.map((n) => '-'.repeat(n)).join('  '));
  for (const row of rows) console.log(fmt(row));
  const n = results.length;
  const ok = results.filter((r) => !r.error);
  const ac1 = ok.filter((r) => r.rank === 1).length / n;
  const ac3 = ok.filter((r) => r.rank >= 1 && r.rank <= 3).length / n;
  const s1 = ok.filter((r) => r.srank === 1).length / n;
  const s3 = ok.filter((r) => r.srank >= 1 && r.srank <= 3).length / n;
  const svc1 = ok.filter((r) => r.svc1).length / n;
  console.log('');
  console.log(`scenarios ${n}  AC@1 ${ac1.toFixed(3)}  AC@3 ${ac3.toFixed(3)}  strict AC@1 ${s1.toFixed(3)}  strict AC@3 ${s3.toFixed(3)}  ` +
    `service-only AC@1 ${svc1.toFixed(3)}  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  const errors = n - ok.length;
  if (errors) console.log(`${errors} scenario(s) failed to run`);
  if (ac1 < opt.minAc1 || ac3 < opt.minAc3 || errors) {
    console.log(`FAIL: need AC@1 >= ${opt.minAc1} and AC@3 >= ${opt.minAc3}, every scenario run`);
    process.exit(1);
  }
  console.log('PASS');
}

main().catch((e) => {
  console.error(`foreign: ${e.stack || e}`);
  process.exit(2);
});

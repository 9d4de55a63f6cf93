// 60-alertmanager: end to end with the real Prometheus Alertmanager (Debian
// package prometheus-alertmanager). flywheel holds 10 minutes of simulated
// telemetry (`flywheel simulate --backdate 10m` with a code error in
// checkout); Alertmanager runs on free ports with a webhook receiver pointing
// at POST /api/v1/alarms/alertmanager; an alert POSTed to Alertmanager's API
// (POST /api/v2/alerts) is delivered as a version 4 webhook and starts an
// investigation (trigger alarm/<alertname>, scope.service = the label) that
// completes with hypotheses. Then the dedupe promise
// (investigator/invest/investigations.c: a firing alarm whose key - source,
// alertname, service, operation - has an investigation queued or running
// returns that one with started=false) and the chain's behaviour:
// 1. the same alert posted to Alertmanager again, and its resolution
//    (send_resolved), start no second investigation; the resolution is
//    delivered (Alertmanager's webhook notification count grows) and ignored;
// 2. the same firing alert twice in one webhook delivery gives one id,
//    the second with started=false;
// 3. after the first completed, flywheel does not dedupe any more (the key
//    only covers queued/running ones): a direct repeat starts a new one.
// Skipped, with a message, when /usr/bin/prometheus-alertmanager is missing
// (tools/install-deps.sh installs it). Every wait is bounded polling.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startServer, makeTempDir, flywheelBin, freePort } from './helpers/server.mjs';
import { apiGetJson, httpRequest } from './helpers/http.mjs';
import { postJson } from './helpers/evidence.mjs';

const ALERTMANAGER = '/usr/bin/prometheus-alertmanager';
const HAVE_AM = existsSync(ALERTMANAGER);
const SKIP = HAVE_AM ? false
  : `${ALERTMANAGER} not installed (Debian package prometheus-alertmanager; run tools/install-deps.sh)`;
if (SKIP) console.log(`# SKIP 60-alertmanager: ${SKIP}`);

const ALERTNAME = 'CheckoutErrorRateHigh';
const SERVICE = 'checkout';
const fmt = (o) => JSON.stringify(o);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function amRequest(am, method, path, body) {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers = payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
  const res = await httpRequest({ port: am.port, method, path, headers, body: payload });
  return { status: res.status, text: res.body.toString('utf8') };
}

// Starts Alertmanager with a webhook receiver at flywheel; waits for /-/ready.
async function startAlertmanager(apiPort) {
  const dir = makeTempDir('am');
  const port = await freePort();
  const config = join(dir, 'alertmanager.yml');
  writeFileSync(config, [
    'route:',
    '  receiver: flywheel',
    "  group_by: ['alertname', 'service']",
    '  group_wait: 1s',
    '  group_interval: 2s',
    '  repeat_interval: 1h',
    'receivers:',
    '  - name: flywheel',
    '    webhook_configs:',
    `      - url: http://127.0.0.1:${apiPort}/api/v1/alarms/alertmanager`,
    '        send_resolved: true',
    '',
  ].join('\n'));
  const args = [
    `--config.file=${config}`,
    `--storage.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--cluster.listen-address=',
    '--log.level=debug',
  ];
  const proc = spawn(ALERTMANAGER, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (c) => { log += c.toString(); if (log.length > 200000) log = log.slice(-100000); });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const tail = () => log.split('\n').slice(-30).join('\n');
  const am = { proc, port, dir, log: () => log, tail };
  const deadline = Date.now() + 20000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`alertmanager exited during startup\nargs: ${args.join(' ')}\n${tail()}`);
    }
    const r = await amRequest(am, 'GET', '/-/ready').catch(() => ({ status: 0 }));
    if (r.status === 200) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`alertmanager /-/ready never answered 200 (last ${r.status})\n${tail()}`);
    }
    await sleep(100);
  }
  am.stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(t);
    rmSync(dir, { recursive: true, force: true });
  };
  return am;
}

// Runs `flywheel simulate` (next to FLYWHEEL_BIN) into the server; resolves
// its ground truth (the JSON line on stdout).
function simulate(server, extra) {
  const bin = join(dirname(flywheelBin()), 'flywheel');
  const args = ['simulate', '--endpoint', `127.0.0.1:${server.grpcPort}`,
    '--api', server.apiUrl, ...extra];
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c) => { out += c.toString(); });
    p.stderr.on('data', (c) => { err += c.toString(); });
    const t = setTimeout(() => p.kill('SIGKILL'), 120000);
    p.on('exit', (code, signal) => {
      clearTimeout(t);
      if (code !== 0) {
        reject(new Error(`flywheel ${args.join(' ')} exited ${code} ${signal}\n${err.slice(-4000)}`));
        return;
      }
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()));
      } catch (e) {
        reject(new Error(`simulate printed no ground truth JSON: ${out.slice(-2000)}`));
      }
    });
  });
}

const listInvestigations = async (server) => {
  const r = await apiGetJson(server, '/api/v1/investigations');
  assert.equal(r.status, 200, `GET /api/v1/investigations: ${fmt(r)}`);
  return r.json.investigations;
};
const ours = (list) => list.filter((i) => i.trigger?.kind === 'alarm' && i.trigger?.name === ALERTNAME);

// Polls GET /api/v1/investigations until pred(list) holds (bounded).
async function pollList(server, pred, deadlineMs, what) {
  const end = Date.now() + deadlineMs;
  let list = [];
  for (;;) {
    list = await listInvestigations(server);
    if (pred(list)) return list;
    if (Date.now() > end) assert.fail(`${what}: not within ${deadlineMs} ms; investigations: ${fmt(list)}`);
    await sleep(100);
  }
}

async function pollComplete(server, id, deadlineMs = 60000) {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const r = await apiGetJson(server, `/api/v1/investigations/${encodeURIComponent(id)}`);
    assert.equal(r.status, 200, `GET investigation ${id}: ${fmt(r)}`);
    if (r.json.status !== 'running') return r.json;
    if (Date.now() > end) assert.fail(`investigation ${id} still running after ${deadlineMs} ms`);
    await sleep(100);
  }
}

// Alertmanager's counter of webhook notifications (sent, not failed).
async function amWebhookNotifications(am) {
  const r = await amRequest(am, 'GET', '/metrics');
  assert.equal(r.status, 200);
  const sum = (name) => r.text.split('\n')
    .filter((l) => l.startsWith(`${name}{`) && l.includes('integration="webhook"'))
    .reduce((a, l) => a + Number(l.trim().split(/\s+/).pop()), 0);
  return { total: sum('alertmanager_notifications_total'), failed: sum('alertmanager_notifications_failed_total') };
}

describe('Alertmanager webhook starts investigations', { skip: SKIP }, () => {
  let server;
  let am;
  let truth;
  let firstId;
  const startsAt = new Date(Date.now() - 60000).toISOString();
  const alert = (extra = {}) => ({
    labels: { alertname: ALERTNAME, service: SERVICE, severity: 'critical' },
    annotations: { summary: 'checkout 5xx ratio above 5%' },
    startsAt,
    generatorURL: 'http://prometheus.example/graph',
    ...extra,
  });

  before(async () => {
    server = await startServer();
    am = await startAlertmanager(server.apiPort);
    truth = await simulate(server, ['--backdate', '10m', '--rate', '20', '--seed', '6',
      '--fault', `code-error:${SERVICE}@7m`]);
  });

  after(async () => {
    if (am) await am.stop();
    if (server) {
      const alive = server.alive();
      const res = await server.stop();
      assert.ok(alive, `flywheel died during the tests\n${server.stderrTail()}`);
      assert.deepStrictEqual(res, { code: 0, signal: null }, `flywheel exit\n${server.stderrTail()}`);
    }
  });

  it('an alert posted to Alertmanager becomes a completed investigation', async () => {
    assert.equal(truth.service, SERVICE, `ground truth ${fmt(truth)}`);
    assert.ok(truth.spans > 0, `the simulator sent spans: ${fmt(truth)}`);
    assert.deepStrictEqual(ours(await listInvestigations(server)), [], 'no investigation before the alert');
    const r = await amRequest(am, 'POST', '/api/v2/alerts', [alert()]);
    assert.equal(r.status, 200, `POST /api/v2/alerts: ${r.status} ${r.text}`);

    const list = await pollList(server, (l) => ours(l).length > 0, 30000,
      `an investigation for ${ALERTNAME} (alertmanager log:\n${am.tail()})`);
    const mine = ours(list);
    assert.equal(mine.length, 1, `exactly one investigation: ${fmt(mine)}`);
    firstId = mine[0].id;
    assert.ok(firstId, fmt(mine[0]));

    const inv = await pollComplete(server, firstId);
    assert.equal(inv.status, 'complete', `investigation ended ${inv.status}: ${fmt(inv).slice(0, 2000)}`);
    assert.equal(inv.trigger.kind, 'alarm');
    assert.equal(inv.trigger.name, ALERTNAME);
    assert.equal(Date.parse(inv.trigger.at), Date.parse(startsAt), `trigger.at is the alert's startsAt: ${fmt(inv.trigger)}`);
    assert.equal(inv.scope.service, SERVICE, `scope ${fmt(inv.scope)}`);
    assert.ok(Array.isArray(inv.hypotheses) && inv.hypotheses.length >= 1,
      `at least one hypothesis: ${fmt(inv).slice(0, 2000)}`);
    const h = inv.hypotheses[0];
    assert.equal(h.rank, 1);
    assert.ok(h.score > 0 && h.score <= 1, `score ${h.score}`);
    assert.ok(typeof h.title === 'string' && h.title.length > 0, fmt(h));
    assert.ok(Array.isArray(h.evidence) && h.evidence.length > 0, `evidence of ${fmt(h)}`);
    assert.ok(Date.parse(inv.completed_at) >= Date.parse(inv.created_at), fmt(inv).slice(0, 400));
    // the injected fault (a code error in checkout) is among the hypotheses;
    // the ranking itself is the accuracy suite's business
    assert.ok(inv.hypotheses.some((x) => x.component?.service === SERVICE),
      `a hypothesis blames ${SERVICE}: ${fmt(inv.hypotheses.map((x) => [x.rank, x.cause, x.component]))}`);
    const n = await amWebhookNotifications(am);
    assert.ok(n.total >= 1 && n.failed === 0, `alertmanager webhook notifications ${fmt(n)}`);
  });

  it('the same alert again, and its resolution, start no second investigation', async () => {
    assert.ok(firstId, 'needs the first test');
    const before0 = await amWebhookNotifications(am);
    // the same alert, re-posted (as Prometheus does every evaluation)
    let r = await amRequest(am, 'POST', '/api/v2/alerts', [alert()]);
    assert.equal(r.status, 200, r.text);
    await sleep(5000); // > group_wait + 2 x group_interval: a change would have been notified
    let mine = ours(await listInvestigations(server));
    assert.deepStrictEqual(mine.map((i) => i.id), [firstId], `still one investigation: ${fmt(mine)}`);

    // resolved: Alertmanager sends a "resolved" notification; flywheel ignores it
    r = await amRequest(am, 'POST', '/api/v2/alerts', [alert({ endsAt: new Date().toISOString() })]);
    assert.equal(r.status, 200, r.text);
    const end = Date.now() + 20000;
    let n = before0;
    while (n.total <= before0.total && Date.now() < end) {
      await sleep(200);
      n = await amWebhookNotifications(am);
    }
    assert.ok(n.total > before0.total, `the resolution was delivered: ${fmt(before0)} -> ${fmt(n)}\n${am.tail()}`);
    assert.equal(n.failed, 0, `flywheel accepted every delivery: ${fmt(n)}\n${am.tail()}`);
    mine = ours(await listInvestigations(server));
    assert.deepStrictEqual(mine.map((i) => i.id), [firstId], `resolution started nothing: ${fmt(mine)}`);
  });

  it('dedupe: a repeat while one is queued/running gets its id; after completion a new one starts', async () => {
    assert.ok(firstId, 'needs the first test');
    // the first is complete: the key no longer matches an open investigation
    const body = (alerts) => ({
      receiver: 'flywheel', status: 'firing', version: '4', groupKey: '{}:{alertname="DedupeProbe"}',
      truncatedAlerts: 0, groupLabels: { alertname: 'DedupeProbe' }, commonLabels: {}, commonAnnotations: {},
      externalURL: `http://127.0.0.1:${am.port}`, alerts,
    });
    const a = {
      status: 'firing', labels: { alertname: ALERTNAME, service: SERVICE, severity: 'critical' },
      annotations: {}, startsAt, endsAt: '0001-01-01T00:00:00Z', generatorURL: '', fingerprint: '0123456789abcdef',
    };
    // two identical firing alerts in one delivery: the second finds the first queued
    const r = await postJson(server, '/api/v1/alarms/alertmanager', body([a, a]));
    assert.equal(r.status, 202, `${r.status} ${r.text}`);
    const got = r.json.investigations;
    assert.equal(got.length, 2, r.text);
    assert.equal(got[0].started, true, `after completion a repeat starts a new one: ${r.text}`);
    assert.notEqual(got[0].id, firstId, r.text);
    assert.equal(got[1].started, false, `a repeat while queued/running starts nothing: ${r.text}`);
    assert.equal(got[1].id, got[0].id, r.text);

    // it completes, and the list holds exactly the two
    const inv = await pollComplete(server, got[0].id);
    assert.equal(inv.status, 'complete', fmt(inv).slice(0, 1000));
    const mine = ours(await listInvestigations(server));
    assert.deepStrictEqual(mine.map((i) => i.id).sort(), [firstId, got[0].id].sort(), fmt(mine));
  });
});

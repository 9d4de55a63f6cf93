// 70-report: the draft incident report (SPEC 6.2) of a real investigation.
// flywheel holds 20 minutes of simulated telemetry with DynamoDB throttling
// inventory; an alarm (whose name carries markup) starts an investigation;
// GET /api/v1/investigations/{id}/report answers in md, json and html with
// the right content types, 400 on a bad format and 404 on an unknown id.
// The HTML is parsed by python3's html.parser (balanced, no script, no
// external reference, the markup of the alarm name escaped) and, when the
// Debian package chromium is installed, rendered headless to a PNG that must
// not be blank. `flywheel report ID -o FILE` writes the same bytes as the
// API, and after a restart on the same data directory the report re-renders
// identically (reports persist with their investigation). Bounded polling.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { startServer, makeTempDir, flywheelBin } from './helpers/server.mjs';
import { apiGetJson, httpRequest } from './helpers/http.mjs';
import { postJson } from './helpers/evidence.mjs';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const HAVE_PY = spawnSync('python3', ['-c', 'import html.parser'], { stdio: 'ignore' }).status === 0;
const ALARM = 'inventory <script>alert(1)</script> | errors';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmt = (o) => JSON.stringify(o).slice(0, 2000);

function run(args, timeoutMs = 120000) {
  const bin = join(dirname(flywheelBin()), 'flywheel');
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c) => { out += c.toString(); });
    p.stderr.on('data', (c) => { err += c.toString(); });
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code) => { clearTimeout(t); resolve({ code, out, err }); });
    p.on('error', reject);
  });
}

async function getReport(server, id, format) {
  const q = format ? `?format=${format}` : '';
  const res = await httpRequest({ port: server.apiPort, path: `/api/v1/investigations/${id}/report${q}` });
  return { status: res.status, type: res.headers['content-type'], text: res.body.toString('utf8') };
}

// Distinct byte values of the decoded pixel rows of a PNG (0 when unreadable).
function pngVariety(buf) {
  if (buf.length < 8 || buf.readUInt32BE(0) !== 0x89504e47) return 0;
  const idat = [];
  for (let off = 8; off + 8 <= buf.length;) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    if (type === 'IDAT') idat.push(buf.subarray(off + 8, off + 8 + len));
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const seen = new Set();
  for (let i = 0; i < raw.length; i += 7) seen.add(raw[i]);
  return seen.size;
}

describe('incident report of a real investigation', () => {
  let server;
  let dataDir;
  let id;
  let md;
  const tmp = makeTempDir('report');

  before(async () => {
    dataDir = makeTempDir('report-data');
    server = await startServer({ dataDir });
    const sim = await run(['simulate', '--endpoint', `127.0.0.1:${server.grpcPort}`, '--api', server.apiUrl,
      '--backdate', '20m', '--rate', '10', '--seed', '7', '--fault', 'throttling:DynamoDB@12m']);
    assert.equal(sim.code, 0, sim.err.slice(-2000));
    const truth = JSON.parse(sim.out.trim().split('\n').pop());
    const alarmAt = new Date(Date.parse(truth.onset) + 120000).toISOString();
    const r = await postJson(server, '/api/v1/alarms',
      { name: ALARM, service: 'frontend', state: 'firing', timestamp: alarmAt });
    assert.equal(r.status, 202, fmt(r));
    id = r.json.investigations[0].id;
    const end = Date.now() + 60000;
    for (;;) {
      const g = await apiGetJson(server, `/api/v1/investigations/${id}`);
      assert.equal(g.status, 200);
      if (g.json.status !== 'running') break;
      if (Date.now() > end) assert.fail('investigation still running after 60 s');
      await sleep(100);
    }
  });

  after(async () => {
    if (server) await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  });

  it('answers md by default, json and html with their content types', async () => {
    const m = await getReport(server, id);
    assert.equal(m.status, 200, m.text);
    assert.equal(m.type, 'text/markdown; charset=utf-8');
    md = m.text;
    for (const h of ['# Incident report: ', '## Customer impact', '## Timeline', '## Root cause',
      '## 5 whys', '## What went well', '## Monitoring gaps', '## Action items',
      'How would you have cut the time to detect in half?', '## Lessons learned']) {
      assert.ok(md.includes(h), `markdown lacks ${h}`);
    }
    assert.match(md, /throttl/i);
    assert.ok(!/(^|[^\\])<script/.test(md), 'unescaped <script> in markdown');

    const j = await getReport(server, id, 'json');
    assert.equal(j.status, 200);
    assert.equal(j.type, 'application/json');
    const model = JSON.parse(j.text);
    const inv = (await apiGetJson(server, `/api/v1/investigations/${id}`)).json;
    assert.equal(model.impact.requests, inv.impact.requests);
    assert.equal(model.impact.failed_requests, inv.impact.failed_requests);
    assert.equal(model.five_whys.length, 5);
    assert.equal(model.root_cause.title, inv.hypotheses[0].title);
    assert.equal(model.root_cause.cause, 'throttling');
    assert.ok(model.action_items.some((a) => /alarm on throttling of DynamoDB/.test(a.action)), fmt(model.action_items));
    assert.ok(model.action_items.every((a) => a.owner === ''));
  });

  it('renders a self-contained HTML page that parses and is not blank', async () => {
    const h = await getReport(server, id, 'html');
    assert.equal(h.status, 200);
    assert.equal(h.type, 'text/html; charset=utf-8');
    assert.ok(!/<script/i.test(h.text), 'script in html');
    assert.ok(!/\b(src|href)=/i.test(h.text), 'external reference in html');
    assert.ok(h.text.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'alarm name not escaped');
    assert.equal((h.text.match(/<svg /g) ?? []).length, 2, 'two inline SVG graphs');
    assert.ok(h.text.includes('<polyline'), 'the RED series is drawn');
    const file = join(tmp, 'report.html');
    writeFileSync(file, h.text);
    if (HAVE_PY) {
      const py = spawnSync('python3', ['-c', `
import sys
from html.parser import HTMLParser
VOID = {'meta','br','hr','img','link','input'}
class P(HTMLParser):
    def __init__(s):
        super().__init__(); s.stack = []; s.err = []
    def handle_starttag(s, t, a):
        if t not in VOID: s.stack.append(t)
    def handle_endtag(s, t):
        if not s.stack or s.stack[-1] != t: s.err.append(t)
        else: s.stack.pop()
p = P(); p.feed(open(sys.argv[1], encoding='utf-8').read()); p.close()
if p.err or p.stack: sys.exit('unbalanced: %r open %r' % (p.err[:5], p.stack[-5:]))
`, file], { encoding: 'utf8' });
      assert.equal(py.status, 0, py.stderr);
    }
    if (!CHROMIUM) {
      console.log('# chromium not installed (Debian package chromium): PNG rendering skipped');
      return;
    }
    const png = join(tmp, 'report.png');
    const c = spawnSync(CHROMIUM, ['--headless=new', '--no-sandbox', '--disable-gpu', '--hide-scrollbars',
      `--user-data-dir=${join(tmp, 'chromium')}`, '--window-size=1100,2400', `--screenshot=${png}`,
      `file://${file}`], { encoding: 'utf8', timeout: 90000 });
    assert.ok(existsSync(png), `chromium wrote no PNG: ${c.stderr?.slice(-2000)}`);
    assert.ok(pngVariety(readFileSync(png)) > 20, 'the rendered report is blank');
  });

  it('rejects a bad format and an unknown id', async () => {
    assert.equal((await getReport(server, id, 'pdf')).status, 400);
    assert.equal((await getReport(server, 'inv-0000000000000000', 'md')).status, 404);
  });

  it('flywheel report writes the same report, which persists across a restart', async () => {
    const out = join(tmp, 'cli.md');
    const r = await run(['report', id, '--server', server.apiUrl, '-o', out]);
    assert.equal(r.code, 0, r.err);
    assert.equal(readFileSync(out, 'utf8'), md);
    const bad = await run(['report', 'inv-0000000000000000', '--server', server.apiUrl]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /404/);
    await server.stop();
    server = await startServer({ dataDir });
    const again = await getReport(server, id, 'md');
    assert.equal(again.status, 200);
    assert.equal(again.text, md);
  });
});

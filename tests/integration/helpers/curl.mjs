// helpers/curl.mjs - runs the curl CLI and splits what it reports: the
// -w write-out line (status, HTTP version, content type, connections made)
// and the response headers and body written to files.

import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

let seq = 0;

/**
 * curl(dir, args) runs `curl -sS <args>` and resolves
 * {exit, stderr, status, httpVersion, contentType, numConnects, headers, body}.
 * The request URL(s) and request options are in |args|; -o/-D/-w are added.
 */
export function curl(dir, args, { timeoutMs = 30000 } = {}) {
  const n = seq++;
  const bodyFile = join(dir, `curl-body-${n}`);
  const hdrFile = join(dir, `curl-headers-${n}`);
  writeFileSync(bodyFile, '');
  writeFileSync(hdrFile, '');
  const full = ['-sS', '--max-time', String(Math.ceil(timeoutMs / 1000)),
    '-o', bodyFile, '-D', hdrFile,
    '-w', '%{http_code} %{http_version} %{num_connects} %{content_type}\\n', ...args];
  return new Promise((resolve) => {
    execFile('curl', full, { maxBuffer: 1 << 24, timeout: timeoutMs + 5000 }, (err, stdout, stderr) => {
      const lines = stdout.trim().split('\n').filter(Boolean);
      const parsed = lines.map((l) => {
        const [status, httpVersion, numConnects, ...ct] = l.split(' ');
        return { status: Number(status), httpVersion, numConnects: Number(numConnects), contentType: ct.join(' ') };
      });
      const last = parsed[parsed.length - 1] ?? {};
      const headerText = readFileSync(hdrFile, 'utf8');
      const headers = {};
      for (const line of headerText.split(/\r?\n/)) {
        const m = /^([^:\s]+):\s*(.*)$/.exec(line);
        if (m) headers[m[1].toLowerCase()] = m[2];
      }
      resolve({
        exit: err ? (err.code ?? 1) : 0,
        stderr,
        ...last,
        all: parsed,
        headers,
        headerText,
        body: readFileSync(bodyFile),
      });
    });
  });
}

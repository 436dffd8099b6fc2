/**
 * The remote cache against the real nginx (WebDAV PUT, bearer-token check), on `command`
 * pipelines (fast, no compiler): a round trip between two clones, a missing or refused token,
 * entries overwritten or removed on the server, an aborted upload, failed runs never uploaded,
 * read-only mode, a dead server and a server killed mid-build, and the URL rules.
 */
import { randomBytes } from 'node:crypto';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeProject, outcomes, readTree, runCli, summaryOf, type CliResult } from './support/cli.js';
import { listTree, startNginx, type Nginx } from './support/nginx.js';
import { REJECTING } from './support/pipelines.js';

const TOKEN = `tok-${randomBytes(12).toString('hex')}`;
const FILES = { 'pipeline.yaml': REJECTING, 'src/a.txt': 'good\n', 'src/b.txt': 'bad\n', 'src/c.txt': 'fine\n' };

let server: Nginx;
const dirs: string[] = [];

beforeAll(async () => {
  server = await startNginx(TOKEN);
}, 30_000);

afterAll(async () => {
  await server?.stop();
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

async function project(files: Record<string, string> = FILES): Promise<string> {
  const d = await makeProject(files);
  dirs.push(d);
  return d;
}

function build(dir: string, args: string[] = [], token: string | null = TOKEN, url = server.url): Promise<CliResult> {
  return runCli(dir, ['--json', '--remote-cache', url, ...args], { ASMGRAPH_REMOTE_TOKEN: token ?? '' });
}

function warnings(r: CliResult): string[] {
  return r.events.filter((e) => e.type === 'warning').map((e) => String(e.message));
}

async function nodeState(dir: string, target: string, item: string): Promise<{ key: string; files: Record<string, { hash: string; size: number }> }> {
  const st = JSON.parse(await fsp.readFile(path.join(dir, 'cache/state/targets', `${target}.json`), 'utf8'));
  return st.nodes[item];
}

function sha(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Empties the server between tests that need a clean one. */
async function emptyServer(): Promise<void> {
  for (const d of ['cas', 'ac']) await fsp.rm(path.join(server.root, d), { recursive: true, force: true });
}

async function serverRecords(): Promise<Record<string, any>[]> {
  const out = [];
  for (const f of await listTree(path.join(server.root, 'ac'))) out.push(JSON.parse(await fsp.readFile(path.join(server.root, 'ac', f), 'utf8')).record);
  return out;
}

async function grepTree(dir: string, needle: string): Promise<string[]> {
  const hits: string[] = [];
  for (const f of await listTree(dir)) {
    const data = await fsp.readFile(path.join(dir, f)).catch(() => Buffer.alloc(0));
    if (data.includes(needle)) hits.push(f);
  }
  return hits;
}

describe('remote cache over nginx', () => {
  it('round trip: a second clone restores every node, the rejection included, and runs nothing', async () => {
    await emptyServer();
    const a = await project();
    const first = await build(a);
    expect(first.code, first.stderr).toBe(0);
    expect(warnings(first)).toEqual([]);
    expect(outcomes(first).executed).toEqual(['checked/a', 'checked/b', 'checked/c', 'joined', 'upper/a', 'upper/c']);
    // Bazel's layout on the server: the records and every blob they name.
    const records = await serverRecords();
    expect(records).toHaveLength(6);
    const blobs = await listTree(path.join(server.root, 'cas'));
    for (const r of records) for (const ref of Object.values(r.files) as { hash: string }[]) expect(blobs).toContain(ref.hash);
    for (const h of blobs) expect(sha(await fsp.readFile(path.join(server.root, 'cas', h)))).toBe(h);
    expect(records.filter((r) => r.status === 'rejected').map((r) => r.target)).toEqual(['checked']);
    expect(first.events.find((e) => e.type === 'report' && e.target === 'remote-cache')?.lines).toEqual([`remote cache: 0 results downloaded, 6 results uploaded (${blobs.length} new blobs)`]);

    // The clone names the cache in settings.remoteCache instead of the flag.
    const b = await project({ ...FILES, 'pipeline.yaml': REJECTING.replace('version: 1\n', `version: 1\nsettings: { remoteCache: "${server.url}" }\n`) });
    const second = await runCli(b, ['--json'], { ASMGRAPH_REMOTE_TOKEN: TOKEN });
    expect(second.code, second.stderr).toBe(0);
    expect(outcomes(second)).toEqual({ cached: ['checked/a', 'checked/b', 'checked/c', 'joined', 'upper/a', 'upper/c'], propagated: ['upper/b'] });
    expect(await readTree(path.join(b, 'build'))).toEqual(await readTree(path.join(a, 'build')));
    expect(await fsp.readFile(path.join(b, 'build/checked/b.rejected.txt'), 'utf8')).toContain('found bad word');

    // The token is in no output, log, record or file of either project.
    for (const r of [first, second]) expect(r.stdout + r.stderr).not.toContain(TOKEN);
    for (const d of [a, b]) expect(await grepTree(d, TOKEN)).toEqual([]);
    expect(await grepTree(server.root, TOKEN)).toEqual([]);
  }, 120_000);

  it('without a token (401) or with a wrong one: one warning, the build succeeds locally, nothing is uploaded', async () => {
    await emptyServer();
    for (const [token, hint] of [[null, 'set ASMGRAPH_REMOTE_TOKEN'], ['wrong-token', 'refused the token']] as const) {
      const d = await project();
      const r = await build(d, [], token);
      expect(r.code, r.stderr).toBe(0);
      const w = warnings(r);
      expect(w).toHaveLength(1);
      expect(w[0]).toContain('HTTP 401');
      expect(w[0]).toContain(hint);
      expect(w[0]).toContain('building locally');
      expect(r.stdout + r.stderr).not.toContain('wrong-token');
      expect(summaryOf(r)).toMatchObject({ ok: true, executed: 6 });
      expect(await fsp.readFile(path.join(d, 'build/upper/a.txt'), 'utf8')).toBe('GOOD\n');
    }
    expect(await listTree(server.root)).toEqual([]);
  }, 120_000);

  it('a blob overwritten on the server with other bytes is detected, rebuilt and uploaded again', async () => {
    await emptyServer();
    const a = await project();
    expect((await build(a)).code).toBe(0);
    const { files } = await nodeState(a, 'upper', 'a');
    const hash = files.out.hash;
    // What nginx (like turborepo-remote-cache) accepts: another body under an existing hash.
    const put = await fetch(`${server.url}/cas/${hash}`, { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}` }, body: 'EVIL\n' });
    expect(put.status).toBe(204);

    const b = await project();
    const r = await build(b);
    expect(r.code, r.stderr).toBe(0);
    expect(outcomes(r).executed).toEqual(['upper/a']);
    expect(await fsp.readFile(path.join(b, 'build/upper/a.txt'), 'utf8')).toBe('GOOD\n');
    const w = warnings(r);
    expect(w).toHaveLength(1);
    expect(w[0]).toContain(`cas/${hash}`);
    expect(w[0]).toContain('other bytes');
    // Repaired on the server: its bytes hash to its name again.
    expect(sha(await fsp.readFile(path.join(server.root, 'cas', hash)))).toBe(hash);
    // The poisoned bytes never reached the clone's cache.
    expect(await grepTree(path.join(b, 'cache'), 'EVIL')).toEqual([]);
  }, 120_000);

  it('a record that is damaged or filed under another key is not used', async () => {
    await emptyServer();
    const a = await project();
    expect((await build(a)).code).toBe(0);
    const ua = await nodeState(a, 'upper', 'a');
    const uc = await nodeState(a, 'upper', 'c');
    // upper/c's key now serves upper/a's (valid, checksummed) record; upper/a's record is cut short.
    await fsp.copyFile(path.join(server.root, 'ac', ua.key), path.join(server.root, 'ac', uc.key));
    const text = await fsp.readFile(path.join(server.root, 'ac', ua.key), 'utf8');
    await fsp.writeFile(path.join(server.root, 'ac', ua.key), text.slice(0, text.length - 20));

    const b = await project();
    const r = await build(b);
    expect(r.code, r.stderr).toBe(0);
    expect(outcomes(r).executed).toEqual(['upper/a', 'upper/c']);
    expect(await fsp.readFile(path.join(b, 'build/upper/c.txt'), 'utf8')).toBe('FINE\n');
    expect(warnings(r).sort()).toEqual([expect.stringContaining(`ac/${ua.key}`), expect.stringContaining(`ac/${uc.key}`)].sort());
    // Both re-uploaded: a third clone restores them.
    const c = await project();
    const again = await build(c);
    expect(outcomes(again).executed).toBeUndefined();
    expect(await fsp.readFile(path.join(c, 'build/upper/c.txt'), 'utf8')).toBe('FINE\n');
  }, 120_000);

  it('a record naming a blob missing on the server is a miss; the blob is uploaded again', async () => {
    await emptyServer();
    const a = await project();
    expect((await build(a)).code).toBe(0);
    const hash = (await nodeState(a, 'upper', 'c')).files.out.hash;
    await fsp.rm(path.join(server.root, 'cas', hash));

    const b = await project();
    const r = await build(b);
    expect(r.code, r.stderr).toBe(0);
    expect(outcomes(r).executed).toEqual(['upper/c']);
    expect(warnings(r)).toEqual([]);
    expect(await fsp.readFile(path.join(b, 'build/upper/c.txt'), 'utf8')).toBe('FINE\n');
    expect(await fsp.readFile(path.join(server.root, 'cas', hash), 'utf8')).toBe('FINE\n');
  }, 120_000);

  it('an upload aborted half-way leaves nothing that is used', async () => {
    await emptyServer();
    const a = await project({ ...FILES, 'src/a.txt': `good\n${'x'.repeat(300_000)}\n` });
    expect((await build(a)).code).toBe(0);
    const ref = (await nodeState(a, 'upper', 'a')).files.out;
    const bytes = await fsp.readFile(path.join(server.root, 'cas', ref.hash));
    await fsp.rm(path.join(server.root, 'cas', ref.hash));
    // A client that dies mid-PUT: the full length announced, half the body sent, the socket gone.
    await new Promise<void>((resolve) => {
      const req = http.request(`${server.url}/cas/${ref.hash}`, {
        method: 'PUT', headers: { authorization: `Bearer ${TOKEN}`, 'content-length': String(bytes.length) },
      });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.write(bytes.subarray(0, bytes.length >> 1), () => req.destroy());
    });

    const b = await project({ ...FILES, 'src/a.txt': `good\n${'x'.repeat(300_000)}\n` });
    const r = await build(b);
    expect(r.code, r.stderr).toBe(0);
    // Whatever the server kept of the partial body, it was not used: upper/a ran again.
    expect(outcomes(r).executed).toEqual(['upper/a']);
    expect(await fsp.readFile(path.join(b, 'build/upper/a.txt'))).toEqual(await fsp.readFile(path.join(a, 'build/upper/a.txt')));
    expect(sha(await fsp.readFile(path.join(server.root, 'cas', ref.hash)))).toBe(ref.hash);
  }, 120_000);

  it('the record of a failed run is never uploaded', async () => {
    await emptyServer();
    const pipeline = `version: 1
targets:
  texts: { kind: files, params: { glob: "src/*.txt" } }
  broken:
    kind: command
    from: texts
    params: { run: 'if grep -q boom "$IN"; then echo boom >&2; exit 4; fi; cp "$IN" "$OUT"', outputs: { out: .txt } }
`;
    const d = await project({ 'pipeline.yaml': pipeline, 'src/ok.txt': 'fine\n', 'src/boom.txt': 'boom\n' });
    const r = await build(d, ['-k']);
    expect(r.code).toBe(1);
    expect(summaryOf(r).failed.map((f: { id: string }) => f.id)).toEqual(['broken/boom']);
    const records = await serverRecords();
    expect(records.map((x) => x.target)).toEqual(['broken']);
    expect(records[0].status).toBe('ok');
    expect(Object.keys(records[0].keyRecord.inputs.from.files)).toEqual(['src']);
    expect(await fsp.readFile(path.join(server.root, 'cas', records[0].files.out.hash), 'utf8')).toBe('fine\n');
  }, 60_000);

  it('--remote-read-only downloads but never writes to the server', async () => {
    await emptyServer();
    const a = await project();
    expect((await build(a)).code).toBe(0);
    const before = await listTree(server.root);
    const puts = (await server.requests()).filter((l) => l.startsWith('PUT')).length;

    const b = await project({ ...FILES, 'src/d.txt': 'new\n' });
    const r = await build(b, ['--remote-read-only']);
    expect(r.code, r.stderr).toBe(0);
    expect(outcomes(r).cached).toEqual(['checked/a', 'checked/b', 'checked/c', 'upper/a', 'upper/c']);
    expect(outcomes(r).executed).toEqual(['checked/d', 'joined', 'upper/d']);
    expect(await listTree(server.root)).toEqual(before);
    expect((await server.requests()).filter((l) => l.startsWith('PUT')).length).toBe(puts);
  }, 60_000);

  it('a read-only token without --remote-read-only: one warning at the first refused upload, reads go on', async () => {
    const own = await startNginx(TOKEN, { readerToken: 'reader-token' });
    try {
      const a = await project();
      expect((await build(a, [], TOKEN, own.url)).code).toBe(0);
      const before = await listTree(own.root);
      // A clone with one new file: the old results come from the reader endpoint, the new ones cannot go up.
      const b = await project({ ...FILES, 'src/d.txt': 'new\n', 'src/e.txt': 'more\n' });
      const r = await build(b, [], 'reader-token', own.readerUrl);
      expect(r.code, r.stderr).toBe(0);
      expect(outcomes(r).cached).toEqual(['checked/a', 'checked/b', 'checked/c', 'upper/a', 'upper/c']);
      expect(outcomes(r).executed).toEqual(['checked/d', 'checked/e', 'joined', 'upper/d', 'upper/e']);
      const w = warnings(r);
      expect(w).toHaveLength(1);
      expect(w[0]).toContain('refused an upload (PUT /cas: HTTP 403); reading from it but uploading nothing');
      expect(await listTree(own.root)).toEqual(before);
      // After the first refusal nothing more is tried (two nodes may have been uploading at once, -j 2;
      // without the stop, each of the 5 new results would try its blobs and record).
      const tried = (await own.requests()).filter((l) => l.startsWith('PUT')).length - before.length;
      expect(tried).toBeGreaterThanOrEqual(1);
      expect(tried).toBeLessThanOrEqual(2);
    } finally {
      await own.stop();
    }
  }, 60_000);

  it('a dry run finds what the remote has, and stores and uploads nothing', async () => {
    await emptyServer();
    const a = await project();
    expect((await build(a)).code).toBe(0);
    const before = await listTree(server.root);
    const b = await project({ ...FILES, 'src/d.txt': 'new\n' });
    const r = await build(b, ['--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(outcomes(r)['would-restore']).toEqual(['checked/a', 'checked/b', 'checked/c', 'upper/a', 'upper/c']);
    expect(outcomes(r)['would-run']).toEqual(['checked/d', 'joined', 'upper/d']);
    expect(await listTree(path.join(b, 'cache', 'cas'))).toEqual([]);
    expect(await listTree(path.join(b, 'cache', 'ac'))).toEqual([]);
    expect(await listTree(path.join(b, 'build'))).toEqual([]);
    expect(await listTree(server.root)).toEqual(before);
    expect(r.events.find((e) => e.type === 'report' && e.target === 'remote-cache')?.lines[0]).toContain('5 results downloaded, dry run, nothing stored or uploaded');
  }, 60_000);

  it('a dead server: one warning, everything built locally', async () => {
    const dead = await startNginx(TOKEN);
    const url = dead.url;
    await dead.stop();
    const d = await project();
    const r = await build(d, [], TOKEN, url);
    expect(r.code, r.stderr).toBe(0);
    expect(warnings(r)).toEqual([expect.stringMatching(/remote cache http:\/\/127\.0\.0\.1:\d+ unavailable \(GET \/ac: connection refused\); building locally/)]);
    expect(summaryOf(r)).toMatchObject({ ok: true, executed: 6 });
  }, 60_000);

  it('a server answering 503, and one that never answers: one warning each, everything built locally', async () => {
    const failing = await startNginx(TOKEN, { status: 503 });
    // Accepts connections and never says a word.
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const d1 = await project();
      const r1 = await build(d1, [], TOKEN, failing.url);
      expect(r1.code, r1.stderr).toBe(0);
      expect(warnings(r1)).toEqual([expect.stringMatching(/unavailable \(GET \/ac: HTTP 503\); building locally/)]);
      expect(summaryOf(r1)).toMatchObject({ ok: true, executed: 6 });

      const d2 = await project();
      const url = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
      const r2 = await runCli(d2, ['--json', '--remote-cache', url], { ASMGRAPH_REMOTE_TOKEN: TOKEN, ASMGRAPH_REMOTE_TIMEOUT_MS: '300' });
      expect(r2.code, r2.stderr).toBe(0);
      expect(warnings(r2)).toEqual([expect.stringMatching(/unavailable \(GET \/ac: no answer within 300 ms\); building locally/)]);
      expect(summaryOf(r2)).toMatchObject({ ok: true, executed: 6 });
      expect(await fsp.readFile(path.join(d2, 'build/upper/a.txt'), 'utf8')).toBe('GOOD\n');

      const bad = await runCli(d2, ['--remote-cache', url], { ASMGRAPH_REMOTE_TIMEOUT_MS: 'soon' });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('ASMGRAPH_REMOTE_TIMEOUT_MS=soon');
    } finally {
      await failing.stop();
      silent.close();
    }
  }, 60_000);

  it('a connection the server resets is tried again: no warning, everything restored', async () => {
    await emptyServer();
    const a = await project();
    expect((await build(a)).code).toBe(0);
    // In front of nginx: the first connection is reset (RST) as soon as a request arrives on it,
    // as a server does to a keep-alive socket it closed while the client reused it.
    const upstream = new URL(server.url);
    let connections = 0;
    let resets = 0;
    const proxy = net.createServer((client) => {
      client.on('error', () => {});
      if (++connections === 1) {
        client.once('data', () => {
          resets++;
          client.resetAndDestroy();
        });
        return;
      }
      const up = net.connect(Number(upstream.port), upstream.hostname);
      up.on('error', () => client.destroy());
      client.pipe(up);
      up.pipe(client);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const b = await project();
      const url = `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}${upstream.pathname.replace(/\/$/, '')}`;
      const r = await build(b, [], TOKEN, url);
      expect(r.code, r.stderr).toBe(0);
      expect(resets).toBe(1);
      expect(warnings(r)).toEqual([]);
      expect(summaryOf(r)).toMatchObject({ ok: true, executed: 0 });
      expect(await fsp.readFile(path.join(b, 'build/upper/a.txt'), 'utf8')).toBe('GOOD\n');
    } finally {
      proxy.close();
    }
  }, 60_000);

  it('the server killed mid-build: the build finishes locally with one warning', async () => {
    const own = await startNginx(TOKEN);
    try {
      const files: Record<string, string> = {
        'pipeline.yaml': `version: 1
targets:
  texts: { kind: files, params: { glob: "src/*.txt" } }
  slow: { kind: command, from: texts, params: { run: 'sleep 0.2; cp "$IN" "$OUT"', outputs: { out: .txt } } }
`,
      };
      for (let i = 0; i < 30; i++) files[`src/t${String(i).padStart(2, '0')}.txt`] = `text ${i}\n`;
      const d = await project(files);
      const running = build(d, ['-j', '1'], TOKEN, own.url);
      // Kill it once the first record has arrived (the build is then under way, 29 to go).
      while (!(await listTree(path.join(own.root, 'ac'))).length) await new Promise((r) => setTimeout(r, 20));
      await own.kill();
      const r = await running;
      expect(r.code, r.stderr).toBe(0);
      const w = warnings(r);
      expect(w).toHaveLength(1);
      expect(w[0]).toMatch(/unavailable \(.*(connection refused|connection reset).*\); building locally/);
      expect(summaryOf(r)).toMatchObject({ ok: true, executed: 30 });
      expect((await listTree(path.join(d, 'build/slow'))).length).toBe(30);
      expect((await listTree(path.join(own.root, 'ac'))).length).toBeLessThan(30);
    } finally {
      await own.stop();
    }
  }, 120_000);

  it('the token does not reach the commands a build runs', async () => {
    const d = await project({
      'pipeline.yaml': 'version: 1\ntargets:\n  t: { kind: files, params: { glob: "src/*.txt" } }\n  u: { kind: command, from: t, params: { run: env > "$OUT", outputs: { out: .txt } } }\n',
      'src/a.txt': 'a\n',
    });
    const r = await build(d);
    expect(r.code, r.stderr).toBe(0);
    const env = await fsp.readFile(path.join(d, 'build/u/a.txt'), 'utf8');
    expect(env).toContain('PATH=');
    expect(env).not.toContain(TOKEN);
    expect(env).not.toContain('ASMGRAPH_REMOTE_TOKEN');
  }, 60_000);

  it('URLs: https required except to loopback; no credentials in the URL', async () => {
    const d = await project();
    const plain = await runCli(d, ['--remote-cache', 'http://cache.example.com/asmgraph']);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain('plain http is allowed only to this machine');
    expect(plain.stderr).toContain('https://cache.example.com/asmgraph');
    const creds = await runCli(d, ['--remote-cache', 'https://me:secret@cache.example.com']);
    expect(creds.code).toBe(2);
    expect(creds.stderr).toContain('ASMGRAPH_REMOTE_TOKEN');
    expect(creds.stderr).not.toContain('secret');
    const notUrl = await runCli(d, ['--remote-cache', 'cache.example.com']);
    expect(notUrl.code).toBe(2);
    expect(notUrl.stderr).toContain('is not a URL');
    // Nothing was built by any of them.
    expect(await listTree(path.join(d, 'build'))).toEqual([]);
  }, 60_000);
});

/**
 * Bench section: what the sandbox adds to one program run. A hello-world binary is run plainly
 * (spawn, wait) and through the sandbox's `run`, alternately, and the medians are compared. This was a
 * test with a 500 ms threshold; timing belongs here, where a loaded machine shows up as noise in
 * the figures instead of a red test.
 */
import { execFileSync, spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { BubblewrapSandbox } from '../src/sandbox/index.js';
import { stat } from './util.js';

export async function sandboxOverheadSection(runs: number, repo: string): Promise<{ title: string; status: string; [k: string]: unknown }> {
  // Its own folder under the system temp dir: the sandbox uid must be able to reach it (the bench's
  // work dir is private).
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-bench-sandbox-'));
  await fsp.chmod(dir, 0o755);
  try {
    return await measure(dir, runs, repo);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

async function measure(dir: string, runs: number, repo: string): Promise<{ title: string; status: string; [k: string]: unknown }> {
  execFileSync('g++', ['-O1', '-o', path.join(dir, 'hello'), path.join(repo, 'test/fixtures/hostile/hello.cpp')]);
  const plainOnce = () =>
    new Promise<number>((resolve, reject) => {
      const t0 = performance.now();
      const c = spawn(path.join(dir, 'hello'), [], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout.resume();
      c.stderr.resume();
      c.on('error', reject);
      c.on('close', () => resolve(performance.now() - t0));
    });
  const sandbox = new BubblewrapSandbox();
  await sandbox.run({ argv: ['./hello'], dir }); // builds the supervisor once, outside the samples
  const plain: number[] = [];
  const boxed: number[] = [];
  const faked: number[] = [];
  for (let i = 0; i < runs; i++) {
    plain.push(await plainOnce());
    let t0 = performance.now();
    const r = await sandbox.run({ argv: ['./hello'], dir });
    boxed.push(performance.now() - t0);
    if (r.outcome.kind !== 'exited') throw new Error(`sandboxed hello: ${JSON.stringify(r.outcome)}`);
    t0 = performance.now();
    await sandbox.run({ argv: ['./hello'], dir, faketime: '2001-02-03 04:05:06' });
    faked.push(performance.now() - t0);
  }
  const p = stat(plain);
  const b = stat(boxed);
  const f = stat(faked);
  return {
    title: '', status: 'measured', runs,
    wallMs: { plain: p, sandboxed: b, sandboxedFaketime: f },
    overheadMs: { sandboxed: b.median - p.median, faketime: f.median - p.median },
  };
}

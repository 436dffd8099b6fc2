/**
 * `npm run bench -- --remote` in its tiniest size: one process, 2 shard processes against the
 * local nginx, then the gather run; the results say the gather run executed nothing and its
 * build/ is byte-identical to the one-process build's.
 */
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = path.resolve(__dirname, '..');

describe('bench --remote (smoke)', () => {
  it('measures the sharded build and checks it against the one-process build', async () => {
    const out = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-bench-remote-smoke-'));
    try {
      const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [path.join(REPO, 'dist', 'bench', 'run.js'), '--remote', '--programs', '4', '--out', out], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        child.stderr.on('data', (d) => (err += d));
        child.on('error', reject);
        child.on('close', (c) => resolve({ code: c ?? -1, stderr: err }));
      });
      expect(code, stderr.slice(-3000)).toBe(0);
      const r = JSON.parse(await fsp.readFile(path.join(out, 'remote-results.json'), 'utf8'));
      expect(r.programs).toBe(4);
      expect(r.buildIdentical).toBe(true);
      expect(r.gather).toMatchObject({ executed: 0, cached: 8, total: 8 });
      expect(r.shards.shard1.executed + r.shards.shard2.executed).toBe(8);
      expect(r.serverRecords).toBe(8);
      expect(r.warnings).toEqual([]);
      expect(await fsp.readFile(path.join(out, 'remote-results.md'), 'utf8')).toContain('byte-identical to the one-process build: **yes**');
    } finally {
      await fsp.rm(out, { recursive: true, force: true });
    }
  }, 300_000);
});

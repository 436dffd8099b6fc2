/**
 * The benchmark harness end to end in its tiniest mode: a handful of programs, a few hundred
 * cheap items, one run each, no large project. Checks that results.md / results.json are
 * written and that every section is present (measured, or marked not measured / skipped).
 */
import { spawn } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = path.resolve(__dirname, '..');
const RUN = path.join(REPO, 'dist', 'bench', 'run.js');
const SECTIONS = ['coldDefault', 'workloads', 'coldSmall', 'coldLarge', 'coldCorpus', 'noop', 'edit', 'restore', 'watch', 'rss', 'hash', 'sandbox', 'yield'];

function run(args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUN, ...args], { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
}

describe('bench harness (smoke)', () => {
  it('writes results.md and results.json with every section', async () => {
    expect(existsSync(RUN), 'dist/bench/run.js (run `npx tsc -p .`)').toBe(true);
    const out = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-bench-smoke-'));
    try {
      const r = await run(['--quick', '--runs', '1', '--watch-edits', '3', '--out', out], { BENCH_SCALE: '0.5' });
      expect(r.code, r.stderr.slice(-4000)).toBe(0);
      const json = JSON.parse(await fsp.readFile(path.join(out, 'results.json'), 'utf8'));
      const md = await fsp.readFile(path.join(out, 'results.md'), 'utf8');
      expect(json.machine.nproc).toBeGreaterThan(0);
      expect(json.machine.loadAvgStart).toHaveLength(3);
      expect(Object.keys(json.sections).sort()).toEqual([...SECTIONS].sort());
      for (const key of SECTIONS) {
        const s = json.sections[key];
        expect(s.status, key).toMatch(/^(measured|not measured: .+|skipped: .+)$/);
        expect(md).toContain(`## ${s.title}`);
      }
      // The core comparisons actually ran at this size.
      for (const key of ['coldSmall', 'noop', 'edit', 'restore', 'rss', 'hash', 'sandbox']) expect(json.sections[key].status, `${key}: ${json.sections[key].status}`).toBe('measured');
      expect(json.sections.coldSmall.asmIdentical.allIdentical).toBe(true);
      // The headline: the default pipeline against make running the seed's commands, on 10 programs.
      const head = json.sections.coldDefault.cases[0];
      expect(head.status).toBe('measured');
      expect(head.ratio.n).toBe(1);
      expect(head.makeOk).toBe(10);
      expect(head.examples).toBeGreaterThan(0);
      // The built project's no-op five ways (npm run build-graph, npm's floor, the bundle, unbundled, node -e 0).
      for (const way of ['npm', 'npmFloor', 'bundle', 'unbundled', 'node']) expect(head.noop.wallMs[way].n).toBe(3);
      expect(typeof head.noop.target.cliMet).toBe('boolean');
      expect(json.sections.coldSmall.wallMs.ours.n).toBe(1);
      expect(json.sections.noop.wallMs.ninja.median).toBeGreaterThan(0);
      expect(json.sections.hash.hashesMatchSha256sum).toBe('identical');
      expect(json.sections.sandbox.wallMs.sandboxed.n).toBeGreaterThanOrEqual(5);
      // Yield on a few bundled programs: before and after, every program accounted for.
      expect(json.sections.yield.status).toBe('measured');
      const y = json.sections.yield.corpora[0];
      expect(y.programs).toBe(3);
      for (const f of [y.before, y.after]) expect(f.examples + Object.values(f.lost as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(3);
      expect(md).toMatch(/programs → validated → examples \| 3 → 3 → \d/);
      expect(md).toContain('## Machine');
    } finally {
      await fsp.rm(out, { recursive: true, force: true });
    }
  }, 180_000);
});

/**
 * How the curation view copes with a big project: time to first paint of the program table and
 * time to apply one event, with the 2,000-program bench set (bench/gen-programs.ts).
 *
 *   node dist/bench/ui.js [--programs 2000] [--loads 5] [--events 30]
 *
 * It does not build the programs (a cold build of 2,000 is ~3 min of both cores on the project's
 * machine): it writes the generated sources into a temp project, loads the real pipeline, and
 * feeds the real ProjectState and server the event stream such a build emits (node-done per
 * program × target with token counts, a dataset report for all of them), then measures the page in
 * Debian's Chromium via playwright-core. The page and server code paths are the real ones; only
 * the events' origin is synthetic.
 *
 * Figures: first paint = navigation start → the table's 2,000 rows painted (next frame after
 * the snapshot was rendered); apply = the page's handling of one `delta` (one row changed) until
 * the next frame; end to end = engine event in the server → painted in the page, which includes
 * the server's 50 ms batching window.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import { builtinKinds } from '../tasks/registry.js';
import { openPipeline } from '../src/project.js';
import { UiServer } from '../src/serve/server.js';
import { ProjectState } from '../src/serve/state.js';
import { generatePrograms } from './gen-programs.js';
import { percentile } from './util.js';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

async function main(): Promise<void> {
  const n = arg('programs', 2000);
  const loads = arg('loads', 5);
  const events = arg('events', 30);
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-ui-bench-'));
  const profile = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-ui-bench-chromium-'));
  try {
    await fsp.mkdir(path.join(root, 'sources'));
    await fsp.cp(path.join(REPO, 'toolchain'), path.join(root, 'toolchain'), { recursive: true });
    await fsp.copyFile(path.join(REPO, 'pipeline.yaml'), path.join(root, 'pipeline.yaml'));
    await fsp.copyFile(path.join(REPO, 'curation.yaml'), path.join(root, 'curation.yaml'));
    const programs = generatePrograms(n, 1);
    for (const p of programs) {
      await fsp.writeFile(path.join(root, 'sources', `${p.name}.cpp`), p.source);
      await fsp.writeFile(path.join(root, 'sources', `${p.name}.prompt.txt`), `Write a program like ${p.name}.\n`);
    }
    const pipeline = await openPipeline(builtinKinds, path.join(root, 'pipeline.yaml'));
    let server: UiServer | undefined;
    const state = new ProjectState(() => server?.schedule());
    server = new UiServer(state, { host: '127.0.0.1', port: 0 });
    const url = await server.listen();
    state.setPipeline(pipeline);

    // What a cold build of the set emits (token counts in the range of the bench programs').
    const tok = (i: number) => 900 + ((i * 7919) % 9000);
    state.apply({ type: 'cycle-start', cycle: 1, changed: [], initial: true });
    for (const [i, p] of programs.entries()) {
      for (const [target, f] of [['asm', 1.15], ['cleaned', 1], ['validated', 1]] as const) {
        state.apply({ type: 'node-done', id: `${target}/${p.name}`, target, item: p.name, outcome: 'executed', status: 'ok', durationMs: 50, meta: { tokens: Math.round(tok(i) * f), ...(target === 'validated' ? { verdict: 'ok', variant: 'clean' } : {}) } });
      }
    }
    const report = {
      model: 'gpt-4o-mini-2024-07-18', limitPerExample: 65_536, items: n, verdicts: { ok: n }, excluded: {},
      examples: { total: n, train: Math.round(n * 0.9), valid: n - Math.round(n * 0.9) },
      tokens: { total: 0, train: programs.reduce((a, _, i) => a + tok(i) + 200, 0), min: 0, median: 0, max: 0 },
      cost: { epochs: 3, usd: 0 },
      perExample: programs.map((p, i) => ({ key: p.name, split: i % 10 === 0 ? 'valid' : 'train', tokens: tok(i) + 200, variant: 'clean' })),
    };
    await fsp.mkdir(path.join(root, 'build'), { recursive: true });
    await fsp.writeFile(path.join(root, 'build', 'dataset.report.json'), JSON.stringify(report));
    state.apply({ type: 'node-done', id: 'dataset', target: 'dataset', outcome: 'executed', status: 'ok', durationMs: 900 });
    state.apply({ type: 'build-done', summary: { ok: true, interrupted: false, total: 3 * n + 1, executed: 3 * n + 1, cached: 0, upToDate: 0, wouldRun: 0, rejected: {}, propagated: 0, failed: [], skipped: 0, hashedFiles: n, wallMs: 1 } });
    state.apply({ type: 'cycle-done', cycle: 1, ms: 180_000, ok: true });
    await new Promise((r) => setTimeout(r, 120)); // let the batched delta go out before pages connect

    const context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium', headless: true, viewport: { width: 1280, height: 860 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await context.newPage();
    const firstPaint: number[] = [];
    const fcp: number[] = [];
    const snapScript: number[] = [];
    for (let k = 0; k < loads; k++) {
      await page.goto(`${url}#/?k=${k}`, { waitUntil: 'load' });
      await page.reload({ waitUntil: 'load' });
      await page.waitForFunction(() => (window as any).__asmgraphPerf?.firstPaint !== undefined, undefined, { timeout: 120_000 });
      const p = await page.evaluate(() => ({ fp: (window as any).__asmgraphPerf.firstPaint as number, script: (window as any).__asmgraphPerf.snapshotApplyMs as number, rows: document.querySelectorAll('div.prog').length, fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN }));
      if (p.rows !== n) throw new Error(`the table shows ${p.rows} rows, expected ${n}`);
      firstPaint.push(p.fp);
      snapScript.push(p.script);
      fcp.push(p.fcp);
    }

    // One event at a time: a program turns compile-error, then ok again.
    const applies: number[] = [];
    const painted: number[] = [];
    const e2e: number[] = [];
    for (let k = 0; k < events; k++) {
      const p = programs[(k * 37) % n];
      const bad = k % 2 === 0;
      const before = await page.evaluate(() => (window as any).__asmgraphPerf.applies.length as number);
      const t0 = Date.now();
      state.apply(bad
        ? { type: 'node-done', id: `asm/${p.name}`, target: 'asm', item: p.name, outcome: 'executed', status: 'rejected', reason: 'compile-error', message: 'prog.cpp:3:1: error: expected declaration', durationMs: 40 }
        : { type: 'node-done', id: `asm/${p.name}`, target: 'asm', item: p.name, outcome: 'executed', status: 'ok', durationMs: 40, meta: { tokens: 1000 } });
      await page.waitForFunction(([b, key, v]) => (window as any).__asmgraphPerf.applies.length > b && document.querySelector(`div.prog[data-key="${key}"] [data-target="asm"]`)?.getAttribute('data-status') === v, [before, p.name, bad ? 'rejected' : 'ok'] as const, { timeout: 30_000, polling: 'raf' });
      const last = await page.evaluate(() => {
        const a = (window as any).__asmgraphPerf.applies;
        return { ...a[a.length - 1], origin: performance.timeOrigin };
      });
      applies.push(last.syncMs);
      painted.push(last.paintedMs);
      e2e.push(last.origin + last.at - t0);
    }
    await context.close();
    await server.close();
    const med = (xs: number[]) => percentile(xs, 50);
    const p95 = (xs: number[]) => percentile(xs, 95);
    const f = (x: number) => `${x.toFixed(1)} ms`;
    const lines = [
      `curation view, ${n} programs (synthetic event stream; real state, server and page; Chromium ${context.browser()?.version() ?? ''})`.trim(),
      `  first paint of the table: median ${f(med(firstPaint))}, max ${f(Math.max(...firstPaint))} over ${loads} loads (of which parsing the snapshot and building the table: ${f(med(snapScript))}; first contentful paint of the page shell: ${f(med(fcp))})`,
      `  apply one event (one row changed): median ${f(med(applies))} in script, ${f(med(painted))} until painted (p95 ${f(p95(painted))}) over ${events} events`,
      `  engine event → painted, incl. the 50 ms batching window: median ${f(med(e2e))} (p95 ${f(p95(e2e))})`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await fsp.rm(root, { recursive: true, force: true });
    await fsp.rm(profile, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exitCode = 1;
});

/**
 * Dry runs and `status` leave nothing behind that a later build could mistake for damage, and a
 * dry run says it is one.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeProject, outcomes, runCli, summaryOf } from './support/cli.js';

const PIPELINE = `version: 1
default: [joined]
targets:
  texts: { kind: files, params: { glob: "src/*.txt" } }
  upper: { kind: command, from: texts, params: { run: 'tr a-z A-Z < "$IN" > "$OUT"', outputs: { out: .txt } } }
  joined: { kind: command, from: upper, params: { per: all, run: 'cat "$IN_DIR"/*/out > "$OUT"', outputs: { all: all.txt } } }
`;

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

async function project(): Promise<string> {
  const d = await makeProject({ 'pipeline.yaml': PIPELINE, 'src/a.txt': 'alpha\n', 'src/b.txt': 'beta\n' });
  dirs.push(d);
  return d;
}

/** Edits a file and dates it 10 s back, so the stat fast path trusts what is hashed next (not racy). */
async function edit(dir: string, rel: string, text: string): Promise<void> {
  const f = path.join(dir, rel);
  await fsp.writeFile(f, text);
  const past = new Date(Date.now() - 10_000);
  await fsp.utimes(f, past, past);
}

function warnings(r: { events: Record<string, any>[] }): string[] {
  return r.events.filter((e) => e.type === 'warning').map((e) => String(e.message));
}

describe('dry run and status after an edit', () => {
  for (const probe of [['-n', '--json'], ['status', '--json']]) {
    it(`\`${probe[0]}\` then a build: no corruption warning, the edited chain runs`, async () => {
      const dir = await project();
      expect((await runCli(dir, [])).code).toBe(0);
      await edit(dir, 'src/a.txt', 'alpha edited\n');
      const p = await runCli(dir, probe);
      expect(p.code, p.stderr).toBe(0);
      const r = await runCli(dir, ['--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(warnings(r)).toEqual([]);
      expect(outcomes(r).executed).toEqual(['joined', 'upper/a']);
      expect(await fsp.readFile(path.join(dir, 'build/all.txt'), 'utf8')).toBe('ALPHA EDITED\nBETA\n');
      const v = await runCli(dir, ['cache', 'verify', '--json']);
      expect(v.code).toBe(0);
      expect(summaryOf(r).ok).toBe(true);
    });
  }
});

describe('a dry run says it is one', () => {
  it('after a revert: "would restore", a labelled summary, and no line claiming something happened', async () => {
    const dir = await project();
    expect((await runCli(dir, [])).code).toBe(0);
    await edit(dir, 'src/a.txt', 'alpha two\n');
    expect((await runCli(dir, [])).code).toBe(0);
    await edit(dir, 'src/a.txt', 'alpha\n');
    for (const args of [['-n'], ['-n', '--explain'], ['-n', '-v']]) {
      const r = await runCli(dir, args);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stderr.trim().split('\n');
      expect(lines.filter((l) => l.startsWith('would restore upper/a from cache')), args.join(' ')).toHaveLength(1);
      expect(lines.filter((l) => l.startsWith('would restore joined from cache')), args.join(' ')).toHaveLength(1);
      expect(lines.at(-1)).toBe('dry run: nothing would run; 2 would be restored from cache; 1 up to date');
      for (const l of lines) expect(l, args.join(' ')).toMatch(/^(would|dry run:)/);
    }
    const j = await runCli(dir, ['-n', '--json']);
    expect(outcomes(j)['would-restore']).toEqual(['joined', 'upper/a']);
    expect(outcomes(j).cached).toBeUndefined();
    expect(summaryOf(j).dryRun).toBe(true);
    // Nothing was restored: the outputs still hold the edit.
    expect(await fsp.readFile(path.join(dir, 'build/upper/a.txt'), 'utf8')).toBe('ALPHA TWO\n');
  });
});

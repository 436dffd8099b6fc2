/**
 * A map target whose inputs are exactly what they were (same shared key part, same upstream
 * collections) is found up to date as a whole from its saved digest, without keying each node.
 * These tests check that the shortcut is taken when nothing changed, is not taken when anything
 * that matters changed, and gives the same outcomes, outputs and summary as the per-node path.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeProject, outcomes, readTree, runCli, summaryOf, toolchainFiles, type CliResult } from './support/cli.js';
import { REJECTING } from './support/pipelines.js';

const PIPELINE = REJECTING;

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

async function project(): Promise<string> {
  const d = await makeProject({ 'pipeline.yaml': PIPELINE, 'src/a.txt': 'alpha\n', 'src/b.txt': 'bad\n', 'src/c.txt': 'gamma\n' });
  dirs.push(d);
  return d;
}

/** Targets found up to date as a whole in this run. */
function wholes(r: CliResult): string[] {
  return r.events.filter((e) => e.type === 'target-items' && e.upToDateAsWhole).map((e) => e.target).sort();
}

async function build(dir: string, args: string[] = []): Promise<CliResult> {
  const r = await runCli(dir, ['--json', ...args]);
  expect(r.code, r.stderr).toBe(0);
  return r;
}

describe('a target up to date as a whole', () => {
  it('a no-op finds every map target up to date as a whole, with the per-node outcomes and summary', async () => {
    const dir = await project();
    const first = await build(dir);
    expect(wholes(first)).toEqual([]);
    const tree = await readTree(path.join(dir, 'build'));
    const second = await build(dir);
    expect(wholes(second)).toEqual(['checked', 'upper']);
    // The same node-by-node report as the slow path: up to date, and b's rejection carried.
    expect(outcomes(second)).toEqual({ 'up-to-date': ['checked/a', 'checked/b', 'checked/c', 'joined', 'upper/a', 'upper/c'], propagated: ['upper/b'] });
    expect(summaryOf(second)).toMatchObject({ ok: true, total: 7, executed: 0, upToDate: 6, propagated: 1, rejected: { 'command-failed': 1 } });
    expect(await readTree(path.join(dir, 'build'))).toEqual(tree);
    // --force never takes the shortcut.
    const forced = await build(dir, ['--force']);
    expect(wholes(forced)).toEqual([]);
    expect(summaryOf(forced).executed).toBe(6);
  });

  it('an edited source: that item\'s chain runs node by node; the next run is whole again', async () => {
    const dir = await project();
    await build(dir);
    await build(dir);
    await fsp.writeFile(path.join(dir, 'src/c.txt'), 'delta\n');
    const edited = await build(dir);
    expect(wholes(edited)).toEqual([]);
    expect(outcomes(edited).executed).toEqual(['checked/c', 'joined', 'upper/c']);
    expect(await fsp.readFile(path.join(dir, 'build/upper/c.txt'), 'utf8')).toBe('DELTA\n');
    const after = await build(dir);
    expect(wholes(after)).toEqual(['checked', 'upper']);
    expect(outcomes(after).executed).toBeUndefined();
  });

  it('a new source file: the item set changed, so nothing is taken as a whole; the new item runs', async () => {
    const dir = await project();
    await build(dir);
    await fsp.writeFile(path.join(dir, 'src/d.txt'), 'epsilon\n');
    const r = await build(dir);
    expect(wholes(r)).toEqual([]);
    expect(outcomes(r).executed).toEqual(['checked/d', 'joined', 'upper/d']);
    expect(await fsp.readFile(path.join(dir, 'build/list.txt'), 'utf8')).toBe('a\nc\nd\n');
  });

  it('a damaged or deleted output: the target is checked node by node and the output restored', async () => {
    const dir = await project();
    await build(dir);
    await fsp.writeFile(path.join(dir, 'build/upper/a.txt'), 'tampered\n');
    await fsp.rm(path.join(dir, 'build/checked/c.txt'));
    const r = await build(dir);
    // checked's digest does not cover its outputs in the work tree: the stat check does.
    expect(wholes(r)).toEqual([]);
    expect(outcomes(r).executed).toBeUndefined();
    expect(outcomes(r).cached).toEqual(['checked/c', 'upper/a']);
    expect(await fsp.readFile(path.join(dir, 'build/upper/a.txt'), 'utf8')).toBe('ALPHA\n');
    expect(await fsp.readFile(path.join(dir, 'build/checked/c.txt'), 'utf8')).toBe('gamma\n');
    expect(wholes(await build(dir))).toEqual(['checked', 'upper']);
  });

  it('a changed command of one target: it runs again; the target before it is still whole', async () => {
    const dir = await project();
    await build(dir);
    await fsp.writeFile(path.join(dir, 'pipeline.yaml'), PIPELINE.replace('tr a-z A-Z < "$IN" > "$OUT"', 'tr a-z A-Z < "$IN" | rev > "$OUT"'));
    const r = await build(dir);
    expect(wholes(r)).toEqual(['checked']);
    expect(outcomes(r).executed).toEqual(['joined', 'upper/a', 'upper/c']);
    expect(await fsp.readFile(path.join(dir, 'build/upper/a.txt'), 'utf8')).toBe('AHPLA\n');
  });

  it('a toolchain gone missing is reported by the nodes, as without the shortcut', async () => {
    const dir = await makeProject({
      'pipeline.yaml': 'version: 1\ntargets:\n  programs: { kind: files, params: { glob: "src/*.cpp" } }\n  asm: { kind: compile, from: programs }\n',
      'src/hello.cpp': 'int main() { return 0; }\n',
      ...(await toolchainFiles()),
    });
    dirs.push(dir);
    await build(dir);
    const tc = path.join(dir, 'toolchain/x86_64.yaml');
    await fsp.writeFile(tc, (await fsp.readFile(tc, 'utf8')).replace(/^cxx: .*$/m, 'cxx: /nonexistent/g++'));
    const r = await runCli(dir, ['--json']);
    expect(r.code).toBe(1);
    expect(summaryOf(r).failed).toEqual([{ id: 'asm/hello', message: expect.stringMatching(/\/nonexistent\/g\+\+ not found — install it with: apt-get install g\+\+/) }]);
    // The outputs of the last good build are kept.
    expect(await fsp.readFile(path.join(dir, 'build/asm/hello.s'), 'utf8')).toContain('main:');
  });

  it('a dry run of an up-to-date tree takes the shortcut and writes nothing', async () => {
    const dir = await project();
    await build(dir);
    await build(dir);
    const stateFile = path.join(dir, 'cache/state/targets/upper.json');
    const before = await fsp.stat(stateFile);
    const r = await build(dir, ['--dry-run']);
    expect(wholes(r)).toEqual(['checked', 'upper']);
    expect(summaryOf(r)).toMatchObject({ wouldRun: 0, upToDate: 6 });
    expect((await fsp.stat(stateFile)).mtimeMs).toBe(before.mtimeMs);
  });
});

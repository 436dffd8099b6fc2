/**
 * Sharded builds. The shard of an item is stable and splits a collection exactly; `--shard`
 * reads k/N, Slurm job arrays and Kubernetes Indexed Jobs. End to end with the real g++ and
 * nginx: two shard processes with separate local caches upload the per-item work, then a gather
 * run with an empty local cache restores every per-item result, starts no compiler (a logging
 * g++ wrapper in a copied toolchain proves it) and writes a build byte-identical to a
 * one-machine build.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseShard, shardOf } from '../src/engine/shard.js';
import { makeProject, outcomes, readTree, REPO, runCli, summaryOf, type CliResult } from './support/cli.js';
import { listTree, startNginx, type Nginx } from './support/nginx.js';

describe('--shard', () => {
  it('k/N, and the environment of Slurm job arrays and Kubernetes Indexed Jobs', () => {
    expect(parseShard('2/4', {})).toMatchObject({ index: 2, count: 4 });
    expect(parseShard('auto', { SLURM_ARRAY_TASK_ID: '7', SLURM_ARRAY_TASK_MIN: '4', SLURM_ARRAY_TASK_COUNT: '4' })).toMatchObject({ index: 4, count: 4 });
    expect(parseShard('auto', { SLURM_ARRAY_TASK_ID: '10', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_STEP: '5', SLURM_ARRAY_TASK_COUNT: '3' })).toMatchObject({ index: 3, count: 3 });
    expect(parseShard('auto/3', { JOB_COMPLETION_INDEX: '0' })).toMatchObject({ index: 1, count: 3 });
    expect(() => parseShard('auto', { JOB_COMPLETION_INDEX: '0' })).toThrow(/auto\/N/);
    expect(() => parseShard('auto/3', { JOB_COMPLETION_INDEX: '3' })).toThrow(/not below/);
    expect(() => parseShard('auto', {})).toThrow(/no shard index in the environment/);
    expect(() => parseShard('0/2', {})).toThrow(/between 1 and 2/);
    expect(() => parseShard('3/2', {})).toThrow(/between 1 and 2/);
    expect(() => parseShard('2', {})).toThrow(/number of shards/);
    expect(() => parseShard('1of2', {})).toThrow(/expected k\/N/);
  });

  it('every item is in exactly one shard, the same one every time, and shards are near even', () => {
    const names = Array.from({ length: 2000 }, (_, i) => `prog_${i}`);
    const counts = [0, 0, 0, 0];
    for (const n of names) {
      const s = shardOf(n, 4);
      expect(s).toBeGreaterThanOrEqual(1);
      expect(s).toBeLessThanOrEqual(4);
      expect(shardOf(n, 4)).toBe(s);
      counts[s - 1]!++;
    }
    for (const c of counts) expect(Math.abs(c - 500)).toBeLessThan(80);
    // Fixed values: the split must not change between versions (machines of one build must agree).
    expect([shardOf('hello', 2), shardOf('fizzbuzz', 3), shardOf('a', 5), shardOf('bubble_sort', 4)]).toEqual([1, 2, 1, 2]);
  });

  it('a bad --shard, or --shard with --watch, is a usage error (exit 2) that builds nothing', async () => {
    const d = await makeProject({ 'pipeline.yaml': 'version: 1\ntargets:\n  t: { kind: files, params: { glob: "*.txt" } }\n' });
    try {
      const r = await runCli(d, ['--shard', '3/2']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('--shard 3/2: the shard must be between 1 and 2');
      const w = await runCli(d, ['--watch', '--shard', '1/2']);
      expect(w.code).toBe(2);
      expect(w.stderr).toContain('--watch builds on this machine only');
      expect(await listTree(path.join(d, 'build'))).toEqual([]);
    } finally {
      await fsp.rm(d, { recursive: true, force: true });
    }
  });
});

const TOKEN = 'shard-test-token';
const PROGRAMS = ['add_8_and_120', 'animals_inheritance', 'arithmetic_operations', 'array_statistics', 'ascii_triangle', 'binary_search', 'bit_count', 'bubble_sort'];
const PIPELINE = `version: 1
default: [dataset]
targets:
  programs: { kind: files, params: { glob: "sources/*.cpp", sidecars: { prompt: "{stem}.prompt.txt" } } }
  asm: { kind: compile, from: programs, params: { toolchain: logged } }
  validated:
    kind: validate
    from: asm
    with: { source: programs }
    params: { toolchain: logged, nondeterminism: false }
  dataset: { kind: dataset, from: validated, with: { source: programs } }
`;

let server: Nginx;
let shared = '';
const dirs: string[] = [];
let files: Record<string, string> = {};

beforeAll(async () => {
  server = await startNginx(TOKEN);
  // One compiler wrapper for every project (its path is part of the toolchain identity, so the
  // projects share keys, as machines with the same toolchain do).
  shared = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-shard-'));
  const wrapper = path.join(shared, 'g++');
  await fsp.writeFile(wrapper, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${path.join(shared, 'gxx.log')}'\nexec g++ "$@"\n`, { mode: 0o755 });
  const x86 = await fsp.readFile(path.join(REPO, 'toolchain', 'x86_64.yaml'), 'utf8');
  files = {
    'pipeline.yaml': PIPELINE,
    'toolchain/logged.yaml': x86.replace(/^name: .*$/m, 'name: logged').replace(/^cxx: .*$/m, `cxx: ${wrapper}`),
    'sources/broken.cpp': 'int main( {\n',
    'sources/broken.prompt.txt': 'A program that does not compile.\n',
  };
  for (const p of PROGRAMS) {
    for (const ext of ['.cpp', '.prompt.txt']) files[`sources/${p}${ext}`] = await fsp.readFile(path.join(REPO, 'sources', `${p}${ext}`), 'utf8');
  }
}, 30_000);

afterAll(async () => {
  await server?.stop();
  for (const d of [...dirs, shared]) if (d) await fsp.rm(d, { recursive: true, force: true });
});

async function project(): Promise<string> {
  const d = await makeProject(files);
  await fsp.chmod(d, 0o755); // reachable by the sandbox uid
  dirs.push(d);
  return d;
}

async function compilerCalls(): Promise<string[]> {
  const lines = (await fsp.readFile(path.join(shared, 'gxx.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  // The toolchain identity (--version, -dumpmachine, the -ftrivial-auto-var-init probe) is how
  // keys are computed: not a compile.
  return lines.filter((l) => l !== '--version' && l !== '-dumpmachine' && !l.endsWith('-fsyntax-only -x c++ /dev/null'));
}

function ids(r: CliResult, prefix: string): string[] {
  return r.events.filter((e) => e.type === 'node-done' && String(e.id).startsWith(prefix)).map((e) => String(e.id)).sort();
}

describe('two shards and a gather run', () => {
  it('reproduce a one-machine build byte for byte; the gather run starts no compiler', async () => {
    const single = await project();
    const one = await runCli(single, ['--json']);
    expect(one.code, one.stderr).toBe(0);
    expect(summaryOf(one).rejected).toEqual({ 'compile-error': 1 });
    // The wrapper is the compiler in use: the one-machine build's compiles are in its log.
    expect((await compilerCalls()).filter((l) => /(^| )-S( |$)/.test(l)).length).toBe(PROGRAMS.length + 1);

    const env = { ASMGRAPH_REMOTE_TOKEN: TOKEN };
    const s1 = await project();
    const s2 = await project();
    const r1 = await runCli(s1, ['--json', '--remote-cache', server.url, '--shard', '1/2'], env);
    // The second as a Slurm array task (ids 1..2).
    const r2 = await runCli(s2, ['--json', '--remote-cache', server.url, '--shard', 'auto'], { ...env, SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '2' });
    for (const r of [r1, r2]) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.events.filter((e) => e.type === 'warning')).toEqual([]);
      expect(ids(r, 'dataset')).toEqual([]); // aggregates are the gather run's
    }
    // Each program's chain ran on exactly one shard.
    const all = [...PROGRAMS, 'broken'].map((p) => `asm/${p}`).sort();
    const a1 = ids(r1, 'asm/');
    const a2 = ids(r2, 'asm/');
    expect([...a1, ...a2].sort()).toEqual(all);
    expect(a1.filter((x) => a2.includes(x))).toEqual([]);
    expect(a1.length).toBeGreaterThan(0);
    expect(a2.length).toBeGreaterThan(0);
    expect(ids(r1, 'validated/').map((x) => x.replace('validated/', 'asm/'))).toEqual(a1);

    await fsp.rm(path.join(shared, 'gxx.log'), { force: true });
    const gather = await project();
    const g = await runCli(gather, ['--json', '--remote-cache', server.url], env);
    expect(g.code, g.stderr).toBe(0);
    expect(g.events.filter((e) => e.type === 'warning')).toEqual([]);
    expect(outcomes(g).executed).toEqual(['dataset']);
    expect(outcomes(g).cached).toEqual([...all, ...PROGRAMS.map((p) => `validated/${p}`)].sort());
    expect(outcomes(g).propagated).toEqual(['validated/broken']);
    expect(await compilerCalls()).toEqual([]);
    // The same build, every file: the dataset, its report, every .s and verdict, the rejection.
    const expected = await readTree(path.join(single, 'build'));
    expect(Object.keys(expected)).toEqual(expect.arrayContaining(['train.jsonl', 'valid.jsonl', 'dataset.report.json', 'asm/broken.rejected.txt']));
    expect(await readTree(path.join(gather, 'build'))).toEqual(expected);
    // The gather run uploaded the dataset's record too: the server has one more record than the shards sent.
    expect((await listTree(path.join(server.root, 'ac'))).length).toBe(2 * (PROGRAMS.length) + 1 + 1);
  }, 600_000);
});

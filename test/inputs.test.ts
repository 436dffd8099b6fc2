/**
 * Programs that read input and programs that print their running time, through the real CLI (real
 * g++, the real sandbox):
 *  - a program that reads stdin (cin, getline, scanf, read(0), an interactive menu loop) and has no
 *    test case is `needs-input`, with what it printed before it waited — seen from the sandboxed
 *    run itself, not from its source;
 *  - test cases beside a program (`{stem}.stdin.txt`, `{stem}.inputs/`) are part of its item:
 *    every case runs, a candidate is `ok` only if every case matches, a failure names its case, a
 *    case that is too short is `needs-input`, the dataset report keeps the cases, and editing a
 *    case re-runs only that program's validation (and --explain names the case);
 *  - elapsed time through every clock source is `nondeterministic`, and the message says the time
 *    check tripped; a program that reads the clocks without printing them stays `ok`.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeProject, outcomes, REPO, runCli, summaryOf, toolchainFiles, type CliResult } from './support/cli.js';

const FIX = path.join(REPO, 'test/fixtures');
const UID_BASE = 65000;
const ENV = { ASMGRAPH_SANDBOX_UID_BASE: String(UID_BASE) };

const PIPELINE = `version: 1
targets:
  noinput: { kind: files, params: { glob: "noinput/*.cpp" } }
  noinput-asm: { kind: compile, from: noinput }
  noinput-validated: { kind: validate, from: noinput-asm, with: { source: noinput }, params: { timeoutMs: 3000 } }

  cased: { kind: files, params: { glob: "cased/*.cpp", sidecars: { prompt: "{stem}.prompt.txt" } } }
  cased-asm: { kind: compile, from: cased }
  cased-validated: { kind: validate, from: cased-asm, with: { source: cased }, params: { timeoutMs: 3000 } }
  tampered:
    kind: command
    from: cased-asm
    params:
      outputs: { s: .s }
      run: sed 's/a big number/a BIG number/' "$IN" > "$OUT"
  tampered-validated: { kind: validate, from: tampered, with: { source: cased }, params: { timeoutMs: 3000 } }
  # Its answers run long at -O0 (iostream): this dataset is about cases, not the output limit.
  dataset: { kind: dataset, from: cased-validated, with: { source: cased }, params: { maxAnswerTokens: 65536 } }

  clocks: { kind: files, params: { glob: "clocks/*.cpp" } }
  clocks-asm: { kind: compile, from: clocks }
  clocks-validated: { kind: validate, from: clocks-asm, with: { source: clocks }, params: { timeoutMs: 3000 } }
`;

const READERS = ['menu_loop', 'read_cin', 'read_fd0', 'read_getline', 'read_scanf'];
const CLOCKS = ['cpu_clock', 'gettimeofday', 'high_resolution_clock', 'monotonic', 'steady_clock', 'system_clock', 'time_seconds'];

let dir = '';
let build: CliResult;

type Done = { status: string; reason?: string; message?: string; outcome: string; meta?: Record<string, unknown>; why?: string[] };
function node(r: CliResult, id: string): Done {
  const e = r.events.find((x) => x.type === 'node-done' && x.id === id);
  if (!e) throw new Error(`no event for ${id}; stderr: ${r.stderr.slice(-2000)}`);
  return e as Done;
}

async function copyTree(from: string, to: string, files: Record<string, string>): Promise<void> {
  for (const e of await fsp.readdir(from, { withFileTypes: true })) {
    const p = path.join(from, e.name);
    if (e.isDirectory()) await copyTree(p, `${to}/${e.name}`, files);
    else files[`${to}/${e.name}`] = await fsp.readFile(p, 'utf8');
  }
}

beforeAll(async () => {
  const files: Record<string, string> = { 'pipeline.yaml': PIPELINE, ...(await toolchainFiles()) };
  for (const f of READERS) files[`noinput/${f}.cpp`] = await fsp.readFile(path.join(FIX, 'inputs', `${f}.cpp`), 'utf8');
  await copyTree(path.join(FIX, 'inputs/cases'), 'cased', files);
  for (const f of Object.keys(files).filter((k) => /^cased\/[^/]+\.cpp$/.test(k))) files[f.replace(/\.cpp$/, '.prompt.txt')] = `Write the program ${path.basename(f)}.\n`;
  await copyTree(path.join(FIX, 'clocks'), 'clocks', files);
  dir = await makeProject(files);
  build = await runCli(dir, ['--json', 'noinput-validated', 'cased-validated', 'tampered-validated', 'dataset', 'clocks-validated'], ENV, 600_000);
}, 700_000);

afterAll(async () => {
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

describe('programs that wait for input', () => {
  it('the build finishes; needs-input is counted per reason like every rejection', () => {
    expect(build.code, build.stderr).toBe(0);
    expect(summaryOf(build).failed).toEqual([]);
    const rejected = build.events.filter((e) => e.type === 'node-done' && String(e.id).startsWith('noinput-validated/'));
    expect(rejected.map((e) => [e.id, e.reason]).sort()).toEqual(READERS.map((r) => [`noinput-validated/${r}`, 'needs-input']));
    // 5 without cases + menu_short, whose case is too short (tampered-validated propagates it: not counted again as run).
    expect(summaryOf(build).rejected['needs-input']).toBeGreaterThanOrEqual(6);
  });

  it('cin, getline, scanf, read(0) and a menu loop are needs-input, with what they printed before they waited', async () => {
    expect(node(build, 'noinput-validated/read_cin').message).toMatch(/reads standard input, but it has no test case.*printed "How many numbers\?"/);
    expect(node(build, 'noinput-validated/read_scanf').message).toMatch(/printed "Enter two numbers:"/);
    expect(node(build, 'noinput-validated/read_getline').message).toMatch(/printed nothing/);
    expect(node(build, 'noinput-validated/read_fd0').message).toMatch(/printed nothing/);
    // The menu loop would print its menu until the output limit: it is stopped when it first waits.
    expect(node(build, 'noinput-validated/menu_loop').message).toMatch(/printed "1\. Push  2\. Pop  3\. Show  4\. Quit\\nChoice:"/);
    expect(await fsp.readFile(path.join(dir, 'build/noinput-validated/menu_loop.expected.txt'), 'utf8')).toBe('1. Push  2. Pop  3. Show  4. Quit\nChoice: ');
    expect(await fsp.readFile(path.join(dir, 'build/noinput-validated/read_cin.expected.txt'), 'utf8')).toBe('How many numbers? ');
  });
});

describe('test cases beside a program', () => {
  it('every case of {stem}.inputs/ runs, in name order; the .cases.json keeps input and expected output', async () => {
    expect(node(build, 'cased-validated/read_cin')).toMatchObject({ status: 'ok', meta: { cases: 2, casesFrom: 'human' } });
    const cases = JSON.parse(await fsp.readFile(path.join(dir, 'build/cased-validated/read_cin.cases.json'), 'utf8'));
    expect(cases).toEqual({
      from: 'human',
      cases: [
        { name: '1-small.txt', stdin: '3\n1 2 3\n', expected: 'How many numbers? sum 6, max 3\n', exitCode: 0 },
        { name: '2-negative.txt', stdin: '4\n-5 10 -2 7\n', expected: 'How many numbers? sum 10, max 10\n', exitCode: 0 },
      ],
    });
    expect(node(build, 'cased-validated/menu_loop')).toMatchObject({ status: 'ok', meta: { cases: 2 } });
    expect(node(build, 'cased-validated/big_small')).toMatchObject({ status: 'ok', meta: { cases: 2 } });
  });

  it('{stem}.stdin.txt is one case named "stdin"; a program reading to end of input is fine', async () => {
    expect(node(build, 'cased-validated/read_getline')).toMatchObject({ status: 'ok', meta: { cases: 1, casesFrom: 'human' } });
    expect(await fsp.readFile(path.join(dir, 'build/cased-validated/read_getline.expected.txt'), 'utf8')).toBe('1: olleh\n2: dlrow ylbmessa\n2 lines\n');
    expect(node(build, 'cased-validated/read_scanf')).toMatchObject({ status: 'ok' });
    expect(await fsp.readFile(path.join(dir, 'build/cased-validated/read_scanf.expected.txt'), 'utf8')).toBe('Enter two numbers: gcd = 12\n');
  });

  it('a case too short for the program is needs-input, naming the case', () => {
    const m = node(build, 'cased-validated/menu_short');
    expect(m).toMatchObject({ status: 'rejected', reason: 'needs-input' });
    expect(m.message).toMatch(/^case "no-quit\.txt": the C\+\+ program itself: read all 6 bytes of its input and waited for more/);
  });

  it('a candidate must match on every case: the verdict names the failing one', () => {
    const m = node(build, 'tampered-validated/big_small');
    expect(m).toMatchObject({ status: 'rejected', reason: 'output-mismatch' });
    expect(m.message).toBe('case "b-big.txt": line 1: expected "a big number", got "a BIG number"');
    // The same tampering changes nothing the other programs print: they still pass on every case.
    expect(node(build, 'tampered-validated/read_cin')).toMatchObject({ status: 'ok' });
  });

  it('the dataset report keeps each example\'s cases', async () => {
    const report = JSON.parse(await fsp.readFile(path.join(dir, 'build/dataset.report.json'), 'utf8'));
    const cin = report.perExample.find((e: { key: string }) => e.key === 'read_cin');
    expect(cin.casesFrom).toBe('human');
    expect(cin.cases.map((c: { name: string; stdin: string; expected: string }) => [c.name, c.stdin, c.expected])).toEqual([
      ['1-small.txt', '3\n1 2 3\n', 'How many numbers? sum 6, max 3\n'],
      ['2-negative.txt', '4\n-5 10 -2 7\n', 'How many numbers? sum 10, max 10\n'],
    ]);
    expect(report.verdicts).toMatchObject({ ok: 5, 'needs-input': 1 });
    expect(report.inputs).toMatchObject({ examplesWithCases: 5, cases: 8 });
  });

  it('editing a case re-runs only that program\'s validation, and --explain names the case', async () => {
    await fsp.writeFile(path.join(dir, 'cased/read_cin.inputs/2-negative.txt'), '2\n-5 -7\n');
    const r = await runCli(dir, ['--json', '--explain', 'cased-validated', 'dataset'], ENV);
    expect(r.code, r.stderr).toBe(0);
    expect(outcomes(r).executed).toEqual(['cased-validated/read_cin', 'dataset']);
    expect(node(r, 'cased-validated/read_cin').why!.join('\n')).toMatch(/cased\/read_cin\.inputs\/2-negative\.txt changed \([0-9a-f]+ → [0-9a-f]+\)/);
    const cases = JSON.parse(await fsp.readFile(path.join(dir, 'build/cased-validated/read_cin.cases.json'), 'utf8'));
    expect(cases.cases[1]).toMatchObject({ name: '2-negative.txt', expected: 'How many numbers? sum -12, max -5\n' });
    // A new case file is a new input too.
    await fsp.writeFile(path.join(dir, 'cased/read_cin.inputs/3-one.txt'), '1\n42\n');
    const r2 = await runCli(dir, ['--json', 'cased-validated'], ENV);
    expect(outcomes(r2).executed).toEqual(['cased-validated/read_cin']);
    expect(node(r2, 'cased-validated/read_cin')).toMatchObject({ status: 'ok', meta: { cases: 3 } });
  });

  it('the files kind lists the cases as item files and watches them', async () => {
    const { filesKind } = await import('../dist/tasks/files.js');
    const { lstatSync } = await import('node:fs');
    const scan = await filesKind.scan({
      projectRoot: dir, target: 'cased', params: { glob: 'cased/*.cpp' },
      lstat: (rel: string) => lstatSync(path.join(dir, rel), { throwIfNoEntry: false }),
    });
    const cin = scan.items.find((i: { base: string }) => i.base === 'read_cin');
    expect(cin.paths).toEqual({
      src: 'cased/read_cin.cpp',
      'cases/1-small.txt': 'cased/read_cin.inputs/1-small.txt',
      'cases/2-negative.txt': 'cased/read_cin.inputs/2-negative.txt',
      'cases/3-one.txt': 'cased/read_cin.inputs/3-one.txt',
    });
    expect(scan.items.find((i: { base: string }) => i.base === 'read_getline').paths.stdin).toBe('cased/read_getline.stdin.txt');
    // What watch mode watches: the glob and the cases beside the matched files (not anywhere).
    expect(scan.watch).toEqual(expect.arrayContaining(['cased/*.cpp', 'cased/*.stdin.txt', 'cased/*.inputs/*']));
    expect(scan.watch).not.toContain('**/*.stdin.txt');
    const none = await filesKind.scan({
      projectRoot: dir, target: 'cased', params: { glob: 'cased/*.cpp', cases: false },
      lstat: (rel: string) => lstatSync(path.join(dir, rel), { throwIfNoEntry: false }),
    });
    expect(none.items.find((i: { base: string }) => i.base === 'read_cin').paths).toEqual({ src: 'cased/read_cin.cpp' });
  });
});

describe('time is part of nondeterminism', () => {
  it.each(CLOCKS)('%s: printing elapsed time is nondeterministic, and the message says the time check tripped', (name) => {
    const m = node(build, `clocks-validated/${name}`);
    expect(m).toMatchObject({ status: 'rejected', reason: 'nondeterministic' });
    expect(m.message).toMatch(/output depends on the time \(check: clock start, rate and CPU-clock rate varied/);
  });

  it('a program that reads every clock but prints none of it is ok', () => {
    expect(node(build, 'clocks-validated/times_but_hides_it')).toMatchObject({ status: 'ok' });
  });
});

/**
 * Toolchain variants: a dataset whose `from` takes validated targets made by two real compilers
 * (the project's x86_64 toolchain, g++ 12, and `toolchain/gcc11.yaml`, g++-11), end to end through
 * the CLI and the sandbox. Variant names carry `@<toolchain>` so they cannot collide, `prefer` can
 * name one toolchain's variant or every toolchain's, and each example's system message names the
 * compiler that really made its assembly.
 */
import { execFileSync } from 'node:child_process';
import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeProject, REPO, runCli, toolchainFiles, type CliResult } from './support/cli.js';
import { ASM_INTRO, CPP_INTRO } from '../tasks/dataset.js';

const fixture = (n: string) => readFileSync(path.join(REPO, 'test/fixtures/toolchain-variants', n), 'utf8');
const from = 'from: [validated, validated-11]\n    with: { source: programs }';

const PIPELINE = `version: 1
targets:
  programs: { kind: files, params: { glob: "src/*.cpp", sidecars: { prompt: "{stem}.prompt.txt" } } }
  asm: { kind: compile, from: programs, params: { opt: O0 } }
  cleaned: { kind: compile, from: programs, params: { opt: O0, clean: true } }
  validated: { kind: validate, from: cleaned, with: { raw: asm, source: programs }, params: { opt: O0 } }
  asm-11: { kind: compile, from: programs, params: { toolchain: gcc11, opt: O0 } }
  cleaned-11: { kind: compile, from: programs, params: { toolchain: gcc11, opt: O0, clean: true } }
  validated-11: { kind: validate, from: cleaned-11, with: { raw: asm-11, source: programs }, params: { toolchain: gcc11, opt: O0 } }
  timed: { kind: files, params: { glob: "timed/*.cpp" } }
  timed-asm-11: { kind: compile, from: timed, params: { toolchain: gcc11, opt: O0 } }
  timed-11: { kind: validate, from: timed-asm-11, with: { source: timed }, params: { toolchain: gcc11, opt: O0 } }
  validated-again: { kind: validate, from: cleaned, with: { raw: asm, source: programs }, params: { opt: O0, timeoutMs: 6000 } }
  dataset:
    kind: dataset
    ${from}
    params: { validFraction: 0, policy: { prefer: [O0-clean@gcc11, O0-clean] } }
  any-toolchain:
    kind: dataset
    ${from}
    out: build/any
    params: { validFraction: 0, policy: { prefer: [O0-clean, O0] } }
  gcc11-first:
    kind: dataset
    from: [validated-11, validated]
    with: { source: programs }
    out: build/gcc11-first
    params: { validFraction: 0, policy: { prefer: [O0-clean] } }
  typo:
    kind: dataset
    ${from}
    out: build/typo
    params: { validFraction: 0, policy: { prefer: [O0-clean@gcc-11] } }
  same-twice:
    kind: dataset
    from: [validated, validated-again]
    with: { source: programs }
    out: build/twice
    params: { validFraction: 0 }
`;

let dir = '';
let first: CliResult;
const report = async (rel: string) => JSON.parse(await fsp.readFile(path.join(dir, rel), 'utf8'));
const example = (r: any, key: string) => r.perExample.find((e: any) => e.key === key);
const lines = async (rel: string) => (await fsp.readFile(path.join(dir, rel), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));

beforeAll(async () => {
  dir = await makeProject({
    'pipeline.yaml': PIPELINE,
    'src/which_gcc.cpp': fixture('which_gcc.cpp'),
    'src/which_gcc.prompt.txt': 'Say which GCC major version compiled the program.\n',
    'src/needs_gcc12.cpp': fixture('needs_gcc12.cpp'),
    'src/needs_gcc12.prompt.txt': 'Print the sum of the first ten squares.\n',
    'src/fibonacci.cpp': fixture('fibonacci.cpp'),
    'src/fibonacci.prompt.txt': 'Print the first twenty Fibonacci numbers.\n',
    'timed/prints_time.cpp': fixture('prints_time.cpp'),
    ...(await toolchainFiles()),
  });
  await fsp.chmod(dir, 0o755);
  first = await runCli(dir, ['-j', '2', 'dataset', 'any-toolchain', 'gcc11-first'], {}, 600_000);
}, 620_000);
afterAll(async () => {
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

describe('variants from two toolchains', () => {
  it('names each variant by its toolchain and takes the one the policy prefers', async () => {
    expect(first.code, first.stderr + first.stdout).toBe(0);
    const r = await report('build/dataset.report.json');
    expect(r.variants).toEqual({ 'O0-clean@gcc11': 2, 'O0-clean@x86_64': 1 });
    expect(example(r, 'which_gcc').variant).toBe('O0-clean@gcc11');
    expect(example(r, 'which_gcc').notTaken).toEqual({ 'O0-clean@x86_64': 'not needed: O0-clean@gcc11 was taken' });
    // g++-11 refuses this program, so its x86_64 (g++ 12) variant is the example, and the report says why.
    const needs = example(r, 'needs_gcc12');
    expect(needs.variant).toBe('O0-clean@x86_64');
    expect(needs.notTaken).toEqual({ 'O0@gcc11': 'rejected: compile-error' });
    expect(first.stdout + first.stderr).toContain('variants taken: O0-clean@gcc11 2, O0-clean@x86_64 1');
  });

  it('a prefer entry without a toolchain stands for every toolchain, in the order of from', async () => {
    const any = await report('build/any/dataset.report.json');
    expect(any.variants).toEqual({ 'O0-clean@x86_64': 3 });
    const reversed = await report('build/gcc11-first/dataset.report.json');
    expect(reversed.variants).toEqual({ 'O0-clean@gcc11': 2, 'O0-clean@x86_64': 1 });
    expect(example(reversed, 'which_gcc').variantReason).toBe('first in the policy, validates and fits');
  });

  it("each example's system message names the compiler that made its assembly", async () => {
    const version = (cxx: string) => execFileSync(cxx, ['--version']).toString().split('\n')[0]!;
    const byPrompt = new Map((await lines('build/train.jsonl')).map((l) => [l.messages[1].content, l.messages[0].content as string]));
    expect(byPrompt.get('Say which GCC major version compiled the program.')).toContain(version('g++-11'));
    expect(byPrompt.get('Print the sum of the first ten squares.')).toContain(version('g++'));
    expect(byPrompt.get('Print the sum of the first ten squares.')).not.toContain(version('g++-11'));
    const r = await report('build/dataset.report.json');
    expect(r.system).toContain(version('g++'));
  });

  it('every example, rebuilt from its own text by the compiler its system message names, behaves exactly like its C++', async () => {
    const examples = await lines('build/train.jsonl');
    expect(examples).toHaveLength(3);
    const work = await fsp.mkdtemp(path.join(dir, 'rebuild-'));
    const outputs: string[] = [];
    for (const [i, ex] of examples.entries()) {
      const system: string = ex.messages[0].content;
      const cxx = system.includes(execFileSync('g++-11', ['--version']).toString().split('\n')[0]!) ? 'g++-11' : 'g++';
      const answer: string = ex.messages[2].content;
      const cpp = answer.slice(answer.indexOf(CPP_INTRO) + CPP_INTRO.length + 1, answer.indexOf(`\n${ASM_INTRO}`));
      const asm = `${answer.slice(answer.indexOf(ASM_INTRO) + ASM_INTRO.length + 1)}\n`;
      await fsp.writeFile(path.join(work, `p${i}.cpp`), cpp);
      await fsp.writeFile(path.join(work, `p${i}.s`), asm);
      execFileSync(cxx, [`p${i}.cpp`, '-o', `c${i}`], { cwd: work });
      execFileSync(cxx, [`p${i}.s`, '-o', `a${i}`], { cwd: work });
      const want = execFileSync(path.join(work, `c${i}`)).toString();
      expect(execFileSync(path.join(work, `a${i}`)).toString()).toBe(want);
      outputs.push(want);
    }
    // The g++-11 example's assembly is really g++-11's.
    expect(outputs).toContain('compiled by GCC 11\n');
  });

  it('g++-11 has no -ftrivial-auto-var-init: validate says the uninitialised-memory check was not done, and still checks the clock', async () => {
    const r = await runCli(dir, ['--json', 'validated', 'validated-11', 'timed-11']);
    const meta = (id: string) => r.events.find((e) => e.type === 'node-done' && e.id === id)?.meta;
    expect(meta('validated-11/which_gcc')).toMatchObject({ toolchain: 'gcc11', opt: 'O0', uninitialisedCheck: 'not done: g++-11 has no -ftrivial-auto-var-init' });
    expect(meta('validated-11/which_gcc').compiler).toMatch(/^g\+\+-11 .* 11\.\d+\.\d+$/);
    expect(meta('validated/which_gcc')).toMatchObject({ toolchain: 'x86_64', opt: 'O0' });
    expect(meta('validated/which_gcc').uninitialisedCheck).toBeUndefined();
    const timed = r.events.find((e) => e.type === 'node-done' && e.id === 'timed-11/prints_time');
    expect(timed).toMatchObject({ status: 'rejected', reason: 'nondeterministic' });
    expect(timed.message).toContain('output depends on the time');
  });

  it('a prefer entry naming a toolchain that made none of the inputs is a located error', async () => {
    const r = await runCli(dir, ['typo']);
    expect(r.code).toBe(1);
    expect(r.stderr + r.stdout).toContain('dataset typo: params.policy.prefer names O0-clean@gcc-11, but the targets of `from` were made by x86_64, gcc11');
    expect((await fsp.stat(path.join(dir, 'build/train.jsonl'))).isFile()).toBe(true);
  });

  it('two inputs that would give a program the same variant are refused, not silently merged', async () => {
    const r = await runCli(dir, ['same-twice']);
    expect(r.code).toBe(1);
    expect(r.stderr + r.stdout).toMatch(/dataset same-twice: two targets of `from` give \w+ the same variant O0-clean: the variants of one dataset must differ in opt, cleaning or toolchain/);
  });
});

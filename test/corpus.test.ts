/**
 * The default pipeline on the bundled corpus, as `npm run build-graph` runs it on a fresh clone:
 * every program validates, a second run executes nothing, an edit re-runs only that program's
 * chain; the aarch64 target validates the corpus under qemu, riscv64 a part of it.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTokens } from '../tasks/lib/tokens.js';
import { makeProject, outcomes, REPO, runCli, summaryOf, type CliResult } from './support/cli.js';

let dir = '';
let first: CliResult;
let programs: string[] = [];
/** Programs that print their running time on purpose: they must be rejected as nondeterministic. */
let timed: string[] = [];

beforeAll(async () => {
  const files: Record<string, string> = { 'pipeline.yaml': await fsp.readFile(path.join(REPO, 'pipeline.yaml'), 'utf8') };
  for (const sub of ['sources', 'toolchain']) {
    // Files, and the test-case folders (`<name>.inputs/`) beside the programs.
    for (const e of await fsp.readdir(path.join(REPO, sub), { withFileTypes: true, recursive: true })) {
      if (!e.isFile()) continue;
      const rel = path.relative(REPO, path.join(e.parentPath, e.name));
      files[rel] = await fsp.readFile(path.join(REPO, rel), 'utf8');
    }
  }
  programs = Object.keys(files).filter((f) => /^sources\/[^/]+\.cpp$/.test(f)).map((f) => path.basename(f, '.cpp')).sort();
  timed = programs.filter((p) => p.startsWith('timed_'));
  dir = await makeProject(files);
  await fsp.chmod(dir, 0o755);
  // The first run builds everything (and the -Os fallback where -O0 does not fit): minutes on a loaded machine.
  first = await runCli(dir, ['--json'], {}, 880_000);
}, 900_000);

afterAll(async () => {
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

describe('the bundled corpus, x86-64 (the default pipeline)', () => {
  it('has at least 40 programs, each with its prompt, including the seed\'s examples', async () => {
    expect(programs.length).toBeGreaterThanOrEqual(40);
    for (const p of programs) await fsp.access(path.join(dir, 'sources', `${p}.prompt.txt`));
    expect(programs).toEqual(expect.arrayContaining(['add_8_and_120', 'made_by_then_add', 'sort_vector']));
  });

  it('validates every program ok and writes the dataset and its report', async () => {
    expect(first.code, first.stderr).toBe(0);
    const report = JSON.parse(await fsp.readFile(path.join(dir, 'build/dataset.report.json'), 'utf8'));
    expect(timed.length).toBeGreaterThanOrEqual(1);
    expect(report.verdicts).toEqual({ ok: programs.length - timed.length, nondeterministic: timed.length });
    expect(report.excluded['verdict:nondeterministic'].items.sort()).toEqual(timed);
    const trainLines = (await fsp.readFile(path.join(dir, 'build/train.jsonl'), 'utf8')).trim().split('\n');
    const validLines = (await fsp.readFile(path.join(dir, 'build/valid.jsonl'), 'utf8')).trim().split('\n').filter(Boolean);
    expect(trainLines.length + validLines.length).toBe(report.examples.total);
    expect(report.examples.total + (report.excluded['too-long']?.count ?? 0) + (report.excluded['answer-too-long']?.count ?? 0)).toBe(programs.length - timed.length);
    // Every program that validates fits: -O0 where it fits, -Os where it does not; none over either model limit.
    expect(report.examples.total).toBe(programs.length - timed.length);
    expect(report.variants['O0-clean']).toBeGreaterThan(programs.length / 2);
    // The default pipeline cuts the dataset for a model that can still be fine-tuned after OpenAI's wind-down.
    // Answers capped at 16,384 tokens (maxAnswerTokens): a longer -O0 answer takes -Os.
    expect(report).toMatchObject({ model: 'Qwen/Qwen3-8B', limitPerExample: 32_768, limitPerAnswer: 16_384 });
    expect(report.tokenizer).toMatchObject({ name: 'qwen2' });
    expect(report.variants['Os-clean']).toBeGreaterThanOrEqual(1);
    for (const e of report.perExample) {
      expect(e.tokens).toBeLessThanOrEqual(32_768);
      expect(e.assistantTokens).toBeLessThanOrEqual(16_384);
      expect(['O0-clean', 'Os-clean']).toContain(e.variant);
      expect(e.variantReason).toMatch(/^first in the policy/);
    }
    // Tokens raw vs cleaned, per item and in total.
    expect(report.tokens.assembly.final).toBeLessThan(report.tokens.assembly.raw);
    for (const e of report.perExample) expect(e.assemblyTokens).toBeLessThanOrEqual(e.assemblyTokensRaw);
    const ex = JSON.parse(trainLines[0]);
    expect(ex.messages.map((m: { role: string }) => m.role)).toEqual(['system', 'user', 'assistant']);
    expect(ex.messages[2].content).toMatch(/^Sure! But let's first write C\+\+ code which works like that:\n[\s\S]*\nNow, let's write the Assembler code:\n/);
    expect(first.stderr + first.stdout).toMatch(/dataset: \d+ examples/);
  });

  it('programs that read input validate on every one of their cases, and the report keeps the cases', async () => {
    const report = JSON.parse(await fsp.readFile(path.join(dir, 'build/dataset.report.json'), 'utf8'));
    const readers = programs.filter((p) => p.startsWith('stdin_'));
    expect(readers.length).toBeGreaterThanOrEqual(5);
    const withCases = report.perExample.filter((e: { casesFrom?: string }) => e.casesFrom === 'human');
    expect(withCases.map((e: { key: string }) => e.key).sort()).toEqual(readers.filter((r) => report.perExample.some((e: { key: string }) => e.key === r)).sort());
    expect(withCases.some((e: { cases: unknown[] }) => e.cases.length >= 3)).toBe(true);
    const menu = report.perExample.find((e: { key: string }) => e.key === 'stdin_stack_menu');
    expect(menu.cases.map((c: { name: string }) => c.name)).toEqual(['empty-stack.txt', 'ends-without-quit.txt', 'push-pop.txt']);
    expect(menu.cases[2].expected).toMatch(/pushed 10\n[\s\S]*popped 20\n[\s\S]*size is 1\n[\s\S]*bye\n$/);
    expect(await fsp.readFile(path.join(dir, 'build/validated/stdin_sum_average.expected.txt'), 'utf8')).toBe('count: 6\nsum: 69\nmin: -3\nmax: 40\naverage: 11\n');
  });

  it('cleaning at -O0 keeps at least 35 % fewer assembly tokens than raw, every file validated', async () => {
    let raw = 0;
    let kept = 0;
    // The timed programs are rejected (nondeterministic): they have no validated file.
    for (const p of programs.filter((x) => !timed.includes(x))) {
      raw += countTokens(await fsp.readFile(path.join(dir, `build/asm/${p}.s`), 'utf8'));
      kept += countTokens(await fsp.readFile(path.join(dir, `build/validated/${p}.s`), 'utf8'));
    }
    expect(1 - kept / raw).toBeGreaterThanOrEqual(0.35);
  });

  it('the seed\'s sort example produces the seed\'s output', async () => {
    expect(await fsp.readFile(path.join(dir, 'build/validated/sort_vector.expected.txt'), 'utf8')).toBe('1 2 3 4 5\n');
    expect(await fsp.readFile(path.join(dir, 'build/validated/add_8_and_120.expected.txt'), 'utf8')).toBe('The sum of 8 and 120 is: 128\n');
  });

  it('a second run executes nothing', async () => {
    const r = await runCli(dir, ['--json']);
    expect(summaryOf(r)).toMatchObject({ executed: 0, cached: 0 });
    // The -Os nodes of programs that fit at -O0 pass on their inputs' `not-needed` (propagated).
    expect(summaryOf(r).upToDate + summaryOf(r).propagated).toBe(summaryOf(first).total);
    expect(summaryOf(r).rejected).toEqual({ 'not-needed': expect.any(Number), nondeterministic: timed.length });
  });

  it('editing one program re-runs only its chain', async () => {
    const f = path.join(dir, 'sources/sort_vector.cpp');
    await fsp.writeFile(f, (await fsp.readFile(f, 'utf8')).replace('{3, 2, 5, 1, 4}', '{3, 2, 5, 1, 4, 6}'));
    const r = await runCli(dir, ['--json', '--explain']);
    // Only this program's chains: the -Os fallback's gate looks again (its preferred input changed),
    // and validates -Os too if the gate lets it through.
    const executed = outcomes(r).executed;
    expect(executed.filter((id) => id !== 'dataset' && !id.endsWith('/sort_vector'))).toEqual([]);
    expect(executed).toEqual(expect.arrayContaining(['asm-Os/sort_vector', 'asm/sort_vector', 'cleaned-Os/sort_vector', 'cleaned/sort_vector', 'dataset', 'validated/sort_vector']));
    expect(await fsp.readFile(path.join(dir, 'build/validated/sort_vector.expected.txt'), 'utf8')).toBe('1 2 3 4 5 6\n');
  });
});

describe('cross targets under qemu', () => {
  it('aarch64: the corpus validates under qemu-aarch64', async () => {
    const r = await runCli(dir, ['--json', 'dataset-aarch64'], {}, 880_000);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(await fsp.readFile(path.join(dir, 'build/aarch64/dataset.report.json'), 'utf8'));
    expect(report.verdicts).toEqual({ ok: programs.length - timed.length, nondeterministic: timed.length });
    const s = await fsp.readFile(path.join(dir, 'build/asm-aarch64/add_8_and_120.s'), 'utf8');
    expect(s).toMatch(/\bbl\s/);
    expect(s).not.toMatch(/%rbp/);
  }, 900_000);

  it('riscv64: a part of the corpus validates under qemu-riscv64', async () => {
    const pipeline = (await fsp.readFile(path.join(dir, 'pipeline.yaml'), 'utf8')).replace('glob: sources/*.cpp', 'glob: sources/[a-c]*.cpp');
    await fsp.writeFile(path.join(dir, 'pipeline.yaml'), pipeline);
    const r = await runCli(dir, ['--json', 'validated-riscv64'], {}, 880_000);
    expect(r.code, r.stderr).toBe(0);
    const done = r.events.filter((e) => e.type === 'node-done' && String(e.id).startsWith('validated-riscv64/'));
    expect(done.length).toBeGreaterThan(5);
    for (const e of done) expect(e.status, `${e.id}: ${e.message}`).toBe('ok');
  }, 900_000);
});

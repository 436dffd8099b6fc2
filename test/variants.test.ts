/**
 * Per-program variants chosen by the dataset policy, the model limits (answer-too-long), the lazy
 * -Os fallback and the model table's tokenizers — end to end through the CLI with real g++ and
 * the sandbox. Fixtures: a heavy-template program whose -O0 answer is over gpt-4o-mini's 16,384
 * output tokens (its -Os one is not) and a small program that fits at -O0.
 */
import { execFileSync } from 'node:child_process';
import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeProject, REPO, runCli, toolchainFiles, type CliResult } from './support/cli.js';
import { ASM_INTRO, CPP_INTRO } from '../tasks/dataset.js';
import { MODEL_LIMITS } from '../src/llm/model-limits.js';

const fixture = (n: string) => readFileSync(path.join(REPO, 'test/fixtures/variants', n), 'utf8');

const PIPELINE = `version: 1
targets:
  programs: { kind: files, params: { glob: "src/*.cpp", sidecars: { prompt: "{stem}.prompt.txt" } } }
  asm: { kind: compile, from: programs, params: { opt: O0 } }
  cleaned: { kind: compile, from: programs, params: { opt: O0, clean: true } }
  validated: { kind: validate, from: cleaned, with: { raw: asm, source: programs }, params: { opt: O0 } }
  asm-Os: { kind: compile, from: programs, with: { preferred: validated }, params: { opt: Os, unlessFits: gpt-4o-mini-2024-07-18 } }
  cleaned-Os: { kind: compile, from: programs, with: { preferred: validated }, params: { opt: Os, clean: true, unlessFits: gpt-4o-mini-2024-07-18 } }
  validated-Os: { kind: validate, from: cleaned-Os, with: { raw: asm-Os, source: programs }, params: { opt: Os } }
  gate-qwen: { kind: compile, from: programs, with: { preferred: validated }, params: { opt: O1, unlessFits: { model: Qwen/Qwen3-8B } } }
  gate-capped: { kind: compile, from: programs, with: { preferred: validated }, params: { opt: O1, unlessFits: { model: Qwen/Qwen3-8B, maxAnswerTokens: 200 } } }
  asm-Os-b: { kind: compile, from: programs, with: { preferred: validated }, params: { opt: Os, unlessFits: { model: gpt-4o-mini-2024-07-18, maxAnswerTokens: 100 } } }
  cleaned-Os-b: { kind: compile, from: programs, with: { preferred: validated }, params: { opt: Os, clean: true, unlessFits: { model: gpt-4o-mini-2024-07-18, maxAnswerTokens: 100 } } }
  validated-Os-b: { kind: validate, from: cleaned-Os-b, with: { raw: asm-Os-b, source: programs }, params: { opt: Os } }
  budget:
    kind: dataset
    from: [validated, validated-Os-b]
    with: { source: programs }
    out: build/budget
    params: { validFraction: 0, policy: { prefer: [{ variant: O0-clean, maxAnswerTokens: 100 }, Os-clean] } }
  budget-no-fallback:
    kind: dataset
    from: [validated, validated-Os]
    with: { source: programs }
    out: build/budget-nf
    params: { validFraction: 0, policy: { prefer: [{ variant: O0-clean, maxAnswerTokens: 100 }, Os-clean] } }
  dataset:
    kind: dataset
    from: [validated, validated-Os]
    with: { source: programs }
    params: { validFraction: 0, policy: { prefer: [O0-clean, O0, Os-clean, Os], fit: model } }
  o0-only:
    kind: dataset
    from: validated
    with: { source: programs }
    out: build/o0
    params: { validFraction: 0 }
  o0-keep:
    kind: dataset
    from: validated
    with: { source: programs }
    out: build/keep
    params: { validFraction: 0, policy: { overLimit: keep } }
  shortest:
    kind: dataset
    from: [validated, validated-Os]
    with: { source: programs }
    out: build/shortest
    params: { validFraction: 0, policy: shortest }
  nothing-offered:
    kind: dataset
    from: [validated, validated-Os]
    with: { source: programs }
    out: build/none
    params: { validFraction: 0, policy: { prefer: [O1-clean] } }
  qwen:
    kind: dataset
    from: [validated, validated-Os]
    with: { source: programs }
    out: build/qwen
    params: { validFraction: 0, model: Qwen/Qwen2.5-Coder-7B-Instruct }
  llama:
    kind: dataset
    from: [validated, validated-Os]
    with: { source: programs }
    out: build/llama
    params: { validFraction: 0, model: meta-llama/Llama-3.1-8B-Instruct }
`;

let dir = '';
let first: CliResult;
const report = async (rel: string) => JSON.parse(await fsp.readFile(path.join(dir, rel), 'utf8'));
const example = (r: any, key: string) => r.perExample.find((e: any) => e.key === key);

beforeAll(async () => {
  dir = await makeProject({
    'pipeline.yaml': PIPELINE,
    'src/inventory.cpp': fixture('inventory.cpp'),
    'src/inventory.prompt.txt': 'Keep a ledger per person and print the totals, shortest names first.\n',
    'src/small.cpp': fixture('small.cpp'),
    'src/small.prompt.txt': 'Print the sum of the first ten squares.\n',
    ...(await toolchainFiles()),
  });
  await fsp.chmod(dir, 0o755);
  first = await runCli(dir, ['--json', '-j', '2', 'dataset', 'o0-only', 'o0-keep', 'shortest', 'nothing-offered', 'qwen', 'llama', 'budget', 'budget-no-fallback', 'gate-qwen', 'gate-capped'], {}, 600_000);
}, 620_000);
afterAll(async () => {
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

describe('variants and the dataset policy', () => {
  it('takes -O0 where it fits and -Os where the -O0 answer is over the output limit; says why', async () => {
    expect(first.code, first.stderr).toBe(0);
    const r = await report('build/dataset.report.json');
    expect(r.examples.total).toBe(2);
    expect(r.variants).toEqual({ 'O0-clean': 1, 'Os-clean': 1 });
    const inv = example(r, 'inventory');
    expect(inv.variant).toBe('Os-clean');
    expect(inv.variantReason).toMatch(/first in the policy that validates and fits \(before it: O0-clean\)/);
    expect(inv.notTaken['O0-clean']).toMatch(/^answer-too-long: answer \d+ tokens > 16384 output tokens/);
    expect(inv.assistantTokens).toBeLessThanOrEqual(16_384);
    const small = example(r, 'small');
    expect(small.variant).toBe('O0-clean');
    // Not built, so neither cleaned nor raw: named by its level only.
    expect(small.notTaken.Os).toMatch(/^not built/);
    for (const e of r.perExample) expect(e.tokens).toBeLessThanOrEqual(65_536);
    expect(first.stdout + first.stderr).toMatch(/variants taken: O0-clean 1, Os-clean 1|variants taken: Os-clean 1, O0-clean 1/);
  });

  it('builds the -Os fallback only for the program whose -O0 variant may not fit', () => {
    const done = new Map(first.events.filter((e) => e.type === 'node-done').map((e) => [String(e.id), e]));
    for (const id of ['asm-Os/small', 'cleaned-Os/small']) expect(done.get(id)).toMatchObject({ status: 'rejected', outcome: 'executed' });
    expect(done.get('validated-Os/small')).toMatchObject({ status: 'rejected', outcome: 'propagated' });
    for (const id of ['asm-Os/inventory', 'cleaned-Os/inventory', 'validated-Os/inventory']) expect(done.get(id)).toMatchObject({ status: 'ok', outcome: 'executed' });
  });

  it("the gate takes the dataset's overrides of the model's limits", () => {
    const done = new Map(first.events.filter((e) => e.type === 'node-done').map((e) => [String(e.id), e]));
    // Qwen3-8B has no output limit: the small program's -O0 answer fits its context, so no fallback.
    expect(done.get('gate-qwen/small')).toMatchObject({ status: 'rejected', reason: 'not-needed', outcome: 'executed' });
    expect(String(done.get('gate-qwen/small')!.message)).toMatch(/^O0-clean fits Qwen\/Qwen3-8B \(answer ≈ \d+ tokens\)$/);
    // With answers capped at 200 tokens it does not fit, and the fallback is built.
    expect(done.get('gate-capped/small')).toMatchObject({ status: 'ok', outcome: 'executed' });
    expect(done.get('gate-capped/inventory')).toMatchObject({ status: 'ok', outcome: 'executed' });
  });

  it('without a fallback the long answer is excluded as answer-too-long, or kept and flagged when the policy says so', async () => {
    const o0 = await report('build/o0/dataset.report.json');
    expect(o0.excluded['answer-too-long']).toEqual({ count: 1, items: ['inventory'] });
    expect(o0.examples.total).toBe(1);
    const keep = await report('build/keep/dataset.report.json');
    expect(keep.examples.total).toBe(2);
    expect(keep.overLimitKept['answer-too-long'].items).toEqual(['inventory']);
    expect(example(keep, 'inventory').flags).toEqual(['answer-too-long']);
  });

  it('a program none of whose variants the policy names is excluded as not-in-policy', async () => {
    const r = await report('build/none/dataset.report.json');
    expect(r.examples.total).toBe(0);
    expect(r.excluded['not-in-policy'].items).toEqual(['inventory', 'small']);
  });

  it('shortest takes the validated variant with the fewest tokens', async () => {
    const r = await report('build/shortest/dataset.report.json');
    expect(example(r, 'inventory')).toMatchObject({ variant: 'Os-clean' });
    expect(example(r, 'inventory').notTaken['O0-clean']).toMatch(/^longer: \d+ tokens/);
    expect(example(r, 'small')).toMatchObject({ variant: 'O0-clean' });
  });

  it("counts with the target model's own tokenizer and applies its limits", async () => {
    const gpt = await report('build/dataset.report.json');
    const qwen = await report('build/qwen/dataset.report.json');
    const llama = await report('build/llama/dataset.report.json');
    expect(qwen.tokenizer).toMatchObject({ name: 'qwen2', exact: false });
    expect(llama.tokenizer).toMatchObject({ name: 'llama3', exact: true });
    expect(qwen.limitPerExample).toBe(32_768);
    expect(qwen.limitPerAnswer).toBe(8_192);
    expect(llama.limitPerExample).toBe(131_072);
    expect(llama.limitPerAnswer).toBeNull();
    // Llama 3.1 has room for the -O0 answer; the counts are its own, not o200k's.
    expect(example(llama, 'inventory').variant).toBe('O0-clean');
    const sg = example(gpt, 'small').tokens;
    const sl = example(llama, 'small').tokens;
    const sq = example(qwen, 'small').tokens;
    expect(new Set([sg, sl, sq]).size).toBeGreaterThan(1);
    for (const e of qwen.perExample) expect(e.assistantTokens).toBeLessThanOrEqual(8_192);
    expect(MODEL_LIMITS.find((m) => m.id === 'gpt-4o-mini-2024-07-18')).toMatchObject({ trainingTokens: 65_536, outputTokens: 16_384 });
  });

  it("a variant's own answer budget passes it over for the next one, and takes it anyway when no later one validates and fits", async () => {
    const b = await report('build/budget/dataset.report.json');
    expect(b.variants).toEqual({ 'Os-clean': 2 });
    expect(example(b, 'small').notTaken['O0-clean']).toMatch(/^over its budget: answer \d+ tokens > 100 \(policy\)$/);
    expect(example(b, 'small').variantReason).toBe('first in the policy that validates and fits (before it: O0-clean)');
    // Here small's -Os is not built (its gate is gpt-4o-mini's own limits): the budget is only a preference.
    const nf = await report('build/budget-nf/dataset.report.json');
    expect(nf.variants).toEqual({ 'O0-clean': 1, 'Os-clean': 1 });
    expect(example(nf, 'small').variant).toBe('O0-clean');
    expect(example(nf, 'small').variantReason).toMatch(/^over its budget of 100 answer tokens \(\d+\), but no later variant validates and fits$/);
    expect(example(nf, 'small').notTaken.Os).toMatch(/^not built: /);
    expect(example(nf, 'inventory').variant).toBe('Os-clean');
  });

  it('every example, rebuilt from its own text by g++ alone, behaves exactly like its C++', async () => {
    const lines = (await fsp.readFile(path.join(dir, 'build/train.jsonl'), 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(2);
    const work = await fsp.mkdtemp(path.join(dir, 'rebuild-'));
    for (const [i, line] of lines.entries()) {
      const answer: string = JSON.parse(line).messages[2].content;
      const cpp = answer.slice(answer.indexOf(CPP_INTRO) + CPP_INTRO.length + 1, answer.indexOf(`\n${ASM_INTRO}`));
      const asm = `${answer.slice(answer.indexOf(ASM_INTRO) + ASM_INTRO.length + 1)}\n`;
      await fsp.writeFile(path.join(work, `p${i}.cpp`), cpp);
      await fsp.writeFile(path.join(work, `p${i}.s`), asm);
      execFileSync('g++', [`p${i}.cpp`, '-o', `c${i}`], { cwd: work });
      execFileSync('g++', [`p${i}.s`, '-o', `a${i}`], { cwd: work });
      const want = execFileSync(path.join(work, `c${i}`)).toString();
      expect(execFileSync(path.join(work, `a${i}`)).toString()).toBe(want);
      expect(want.length).toBeGreaterThan(0);
    }
  });
});

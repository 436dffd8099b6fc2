/**
 * `eval-export` end to end: real programs → dataset (train and valid splits) → eval (split all) on the
 * local OpenAI-compatible server → SFT examples from the answers that passed, and DPO pairs in OpenAI's
 * and TRL's formats; held-out prompts never exported, answers the training set already has dropped,
 * and the SFT file taken by a finetune target (a local trainer) as a dataset.
 */
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeProject, REPO, runCli, type CliResult } from './support/cli.js';
import { startOpenAIServer, TEST_KEY, type OpenAIServer } from './support/openai-server.js';

const N = 12;
const cpp = (i: number) => `#include <cstdio>\n\nint main() {\n    std::printf("%d\\n", ${i * 3 + 1});\n    return 0;\n}\n`;
const prompt = (i: number) => `Write an Assembler program that prints ${i * 3 + 1}.`;
const O0: string[] = [];
const O1: string[] = [];
const fence = (asm: string) => `Here it is:\n\n\`\`\`asm\n${asm.trimEnd()}\n\`\`\`\n`;

let server: OpenAIServer;
let dir = '';
let run: CliResult;
let splits: Record<string, string> = {};
const env = () => ({ OPENAI_BASE_URL: server.baseURL, OPENAI_API_KEY: TEST_KEY });
const readLines = async (rel: string) => (await fsp.readFile(path.join(dir, rel), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));

const PIPELINE = `version: 1
default: [sft, dpo, retrained]
targets:
  programs: { kind: files, params: { glob: "src/*.cpp", sidecars: { prompt: "{stem}.prompt.txt" } } }
  asm: { kind: compile, from: programs }
  validated: { kind: validate, from: asm, with: { source: programs } }
  dataset: { kind: dataset, from: validated, with: { source: programs }, params: { validFraction: 0.3 } }
  eval:
    kind: eval
    from: dataset
    with: { validated: validated, source: programs }
    params: { split: all, k: 3, models: [{ id: gpt-4.1-mini }] }
  sft:
    kind: eval-export
    from: eval
    with: { dataset: dataset }
    params: { format: sft }
  dpo:
    kind: eval-export
    from: eval
    with: { dataset: dataset }
    params: { format: dpo, maxPairsPerPrompt: 2 }
  retrained:
    kind: finetune
    from: sft
    params:
      backend: command
      command: wc -l < "$TRAIN" | tr -d ' ' > "$OUT"
`;

beforeAll(async () => {
  const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-export-gxx-'));
  for (let i = 0; i < N; i++) {
    await fsp.writeFile(path.join(work, 'prog.cpp'), cpp(i));
    execFileSync('g++', ['-std=gnu++17', '-O0', '-S', 'prog.cpp', '-o', 'o0.s'], { cwd: work });
    execFileSync('g++', ['-std=gnu++17', '-O1', '-S', 'prog.cpp', '-o', 'o1.s'], { cwd: work });
    O0.push(await fsp.readFile(path.join(work, 'o0.s'), 'utf8'));
    O1.push(await fsp.readFile(path.join(work, 'o1.s'), 'utf8'));
  }
  await fsp.rm(work, { recursive: true, force: true });
  server = await startOpenAIServer({
    apiKey: TEST_KEY,
    responder: (body) => {
      const i = (Number(/prints (\d+)\./.exec(body.messages.at(-1).content)![1]) - 1) / 3;
      // Sample 0: the training set's own assembly; 1: other assembly that also works; 2: prints the wrong number.
      return [fence(O0[i]!), fence(O1[i]!), fence(O0[(i + 1) % N]!)][body.seed]!;
    },
  });
  const files: Record<string, string> = { 'pipeline.yaml': PIPELINE };
  for (let i = 0; i < N; i++) {
    files[`src/p${String(i).padStart(2, '0')}.cpp`] = cpp(i);
    files[`src/p${String(i).padStart(2, '0')}.prompt.txt`] = `${prompt(i)}\n`;
  }
  for (const t of await fsp.readdir(path.join(REPO, 'toolchain'))) files[`toolchain/${t}`] = await fsp.readFile(path.join(REPO, 'toolchain', t), 'utf8');
  dir = await makeProject(files);
  run = await runCli(dir, ['--json'], env());
  const ds = JSON.parse(await fsp.readFile(path.join(dir, 'build/dataset.report.json'), 'utf8'));
  splits = Object.fromEntries(ds.perExample.map((e: any) => [e.key, e.split]));
}, 240_000);

afterAll(async () => {
  await server?.stop();
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

const trainKeys = () => Object.keys(splits).filter((k) => splits[k] === 'train').sort();
const validKeys = () => Object.keys(splits).filter((k) => splits[k] === 'valid').sort();

describe('eval-export', () => {
  it('the fixture has prompts on both sides of the split', () => {
    expect(run.code, run.stderr).toBe(0);
    expect(trainKeys().length).toBeGreaterThanOrEqual(10);
    expect(validKeys().length).toBeGreaterThanOrEqual(1);
  });

  it('sft: one example per training prompt, the passing answer the training set does not already have', async () => {
    const lines = await readLines('build/sft/train.jsonl');
    expect(lines).toHaveLength(trainKeys().length);
    const ds = JSON.parse(await fsp.readFile(path.join(dir, 'build/dataset.report.json'), 'utf8'));
    for (const l of lines) {
      expect(l.messages.map((m: any) => m.role)).toEqual(['system', 'user', 'assistant']);
      expect(l.messages[0].content).toBe(ds.system);
      const i = (Number(/prints (\d+)\./.exec(l.messages[1].content)![1]) - 1) / 3;
      expect(l.messages[2].content).toBe(fence(O1[i]!)); // the -O0 answer is the training example itself
    }
    const held = new Set(validKeys().map((k) => prompt(Number(k.slice(1)))));
    for (const l of lines) expect(held.has(l.messages[1].content)).toBe(false);
    const report = JSON.parse(await fsp.readFile(path.join(dir, 'build/sft/report.json'), 'utf8'));
    expect(report.examples).toBe(trainKeys().length);
    expect(report.dropped).toEqual({ 'held-out': 3 * validKeys().length, 'already-in-training-set': trainKeys().length });
  });

  it('dpo: (passing, failing) pairs in OpenAI\'s and TRL\'s formats, the same pairs in both', async () => {
    const openai = await readLines('build/dpo/openai.jsonl');
    const trl = await readLines('build/dpo/trl.jsonl');
    expect(openai).toHaveLength(2 * trainKeys().length);
    expect(trl).toHaveLength(openai.length);
    openai.forEach((o, n) => {
      expect(Object.keys(o).sort()).toEqual(['input', 'non_preferred_output', 'preferred_output']);
      expect(o.input.messages.map((m: any) => m.role)).toEqual(['system', 'user']);
      expect(o.preferred_output).toHaveLength(1);
      expect(o.preferred_output[0].role).toBe('assistant');
      const i = (Number(/prints (\d+)\./.exec(o.input.messages[1].content)![1]) - 1) / 3;
      expect([fence(O0[i]!), fence(O1[i]!)]).toContain(o.preferred_output[0].content);
      expect(o.non_preferred_output[0].content).toBe(fence(O0[(i + 1) % N]!));
      const t = trl[n];
      expect(Object.keys(t).sort()).toEqual(['chosen', 'prompt', 'rejected']);
      expect(t.prompt).toEqual(o.input.messages);
      expect(t.chosen).toEqual(o.preferred_output);
      expect(t.rejected).toEqual(o.non_preferred_output);
    });
    const report = JSON.parse(await fsp.readFile(path.join(dir, 'build/dpo/report.json'), 'utf8'));
    expect(report.pairs).toBe(openai.length);
    expect(report.dropped['held-out']).toBe(3 * validKeys().length);
  });

  it('the SFT file is a dataset a finetune target takes', async () => {
    expect((await fsp.readFile(path.join(dir, 'build/model.txt'), 'utf8')).trim()).toBe(String(trainKeys().length));
  });

  it('an eval on the held-out split only exports nothing, and says why', async () => {
    await fsp.writeFile(path.join(dir, 'pipeline.yaml'), PIPELINE.replace('split: all', 'split: valid'));
    const before = server.requests.length;
    const r = await runCli(dir, ['--json', 'sft'], env());
    expect(r.code, r.stderr).toBe(0);
    expect(server.requests.length).toBe(before); // the valid answers are in the journal
    const done = r.events.find((e) => e.type === 'node-done' && e.id === 'sft')!;
    expect(done).toMatchObject({ status: 'rejected', reason: 'held-out-only' });
    expect(done.message).toMatch(/held-out prompt .* never goes into training/);
  });
});

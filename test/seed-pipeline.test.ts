/**
 * The seed's whole workflow, as shipped in examples/seed.pipeline.yaml, end to end: the real CLI,
 * real g++ and sandbox, the OpenAI side played by the local test server through the real SDK —
 * generate (Batch API) → compile → validate → describe → dataset → finetune → eval. The example
 * runs as written but for two scale-downs (`n: 100` → `n: 15` completions per batch line,
 * `pollMs: 30000` → 5), asserted to have happened so a changed example cannot slip past.
 */
import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeProject, readTree, REPO, runCli, summaryOf, toolchainFiles, type CliResult } from './support/cli.js';
import { startOpenAIServer, TEST_KEY, type OpenAIServer } from './support/openai-server.js';

let server: OpenAIServer;
let dir = '';
let first: CliResult;

/** The chat side of every kind in the pipeline, told apart by its system message. */
function responder(body: any, choice: number): string {
  const system: string = body.messages[0]?.content ?? '';
  const last: string = body.messages.at(-1)?.content ?? '';
  if (system.startsWith('You will write only the code of a random complex program')) {
    return `\`\`\`cpp\n#include <cstdio>\n\nint twice(int x) { return 2 * x; }\nint plus(int a, int b) { return a + b; }\n\nint main() {\n    std::printf("%d\\n", plus(twice(${choice}), 1000));\n    return 0;\n}\n\`\`\`\n`;
  }
  if (system.startsWith('You will write only the code of a random program')) {
    return `\`\`\`cpp\n#include <cstdio>\n\nint main() {\n    for (int i = 0; i < ${choice + 2}; i++) std::printf("%d ", i * ${choice + 3});\n    std::printf("\\n");\n    return 0;\n}\n\`\`\`\n`;
  }
  if (system.startsWith('You will be given code in C++')) {
    const n = /twice\((\d+)\)/.exec(last)?.[1];
    const m = /i < (\d+); i\+\+\) std::printf\("%d ", i \* (\d+)\)/.exec(last);
    return n !== undefined
      ? `"Write an Assembler program that doubles ${n}, adds 1000 and prints the result."`
      : `"Write an Assembler program that prints the first ${m?.[1]} multiples of ${m?.[2]}, starting at zero."`;
  }
  // eval: the fine-tuned model answers with what it was trained on; the base model with prose.
  if (String(body.model).startsWith('ft:')) return answerFor(last);
  return 'I am sorry, but I cannot write assembly for that.';
}

/** The dataset's assistant message for a user prompt (the "fine-tuned model" learnt it by heart). */
function answerFor(prompt: string): string {
  for (const f of ['train.jsonl', 'valid.jsonl']) {
    const text = readFileSync(path.join(dir, 'build', f), 'utf8');
    for (const line of text.split('\n').filter(Boolean)) {
      const ex = JSON.parse(line) as { messages: { role: string; content: string }[] };
      if (ex.messages.find((m) => m.role === 'user')?.content === prompt) return ex.messages.find((m) => m.role === 'assistant')!.content;
    }
  }
  throw new Error(`no dataset example for prompt ${prompt}`);
}

const env = () => ({ OPENAI_BASE_URL: server.baseURL, OPENAI_API_KEY: TEST_KEY });

beforeAll(async () => {
  server = await startOpenAIServer({ apiKey: TEST_KEY, responder });
  const example = await fsp.readFile(path.join(REPO, 'examples/seed.pipeline.yaml'), 'utf8');
  const scaled = example.replace(/\bn: 100\b/g, "n: 15").replace(/pollMs: 30000/g, 'pollMs: 5');
  expect(example.match(/\bn: 100\b/g)).toHaveLength(2);
  expect(example.match(/pollMs: 30000/g)).toHaveLength(2);
  const top = await makeProject({ 'examples/seed.pipeline.yaml': scaled });
  dir = path.join(top, 'examples'); // the pipeline file's folder is the project
  // The example's `toolchain` link points at the repository's toolchain folder; here, a copy.
  for (const [rel, text] of Object.entries(await toolchainFiles())) {
    await fsp.mkdir(path.join(dir, path.dirname(rel)), { recursive: true });
    await fsp.writeFile(path.join(dir, rel), text);
  }
  first = await runCli(top, ['-f', 'examples/seed.pipeline.yaml', '--json', '--yes', '--max-cost', '30'], env());
}, 600_000);

afterAll(async () => {
  await server?.stop();
  if (dir) await fsp.rm(path.dirname(dir), { recursive: true, force: true });
});

describe('examples/seed.pipeline.yaml', () => {
  it('runs from generate to eval and exits 0', () => {
    expect(first.code, JSON.stringify(summaryOf(first).failed)).toBe(0);
    expect(first.stderr).toBe('');
    expect(summaryOf(first).failed).toEqual([]);
  });

  it('generated 30 programs through the Batch API and validated every one', async () => {
    expect(server.count('POST /v1/batches')).toBe(1);
    const report = JSON.parse(await fsp.readFile(path.join(dir, 'build/dataset.report.json'), 'utf8'));
    expect(report.verdicts).toEqual({ ok: 30 });
  });

  it('wrote the dataset with the model-written requests, then fine-tuned on it once', async () => {
    const train = (await fsp.readFile(path.join(dir, 'build/train.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    const valid = (await fsp.readFile(path.join(dir, 'build/valid.jsonl'), 'utf8')).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(train.length + valid.length).toBe(30);
    expect(valid.length).toBeGreaterThan(0);
    for (const ex of [...train, ...valid]) {
      expect(ex.messages[1].content).toMatch(/^"?Write an Assembler program that /);
      expect(ex.messages[2].content).toMatch(/^Sure! But let's first write C\+\+ code which works like that:/);
      expect(ex.messages[2].content).toMatch(/Now, let's write the Assembler code:\n[\s\S]*\tcall\tprintf/);
    }
    expect(server.count('POST /v1/fine_tuning/jobs')).toBe(1);
    expect((await fsp.readFile(path.join(dir, 'build/model.txt'), 'utf8')).trim()).toMatch(/^ft:gpt-4o-mini-2024-07-18:org-test:asm:/);
  });

  it('evaluated the fine-tune beside the base model on the held-out prompts', async () => {
    const report = JSON.parse(await fsp.readFile(path.join(dir, 'build/eval/report.json'), 'utf8'));
    const [base, tuned] = report.metrics.models;
    expect(base).toMatchObject({ passAt1: 0 });
    expect(tuned).toMatchObject({ passAt1: 1 });
    expect(tuned.model).toMatch(/^ft:gpt-4o-mini-2024-07-18:org-test:asm:/);
  });

  it('a second run sends nothing and runs nothing; no key anywhere', async () => {
    const before = server.requests.length;
    const again = await runCli(dir, ['-f', 'seed.pipeline.yaml', '--json', '--yes', '--max-cost', '30'], env());
    expect(again.code, again.stderr).toBe(0);
    expect(summaryOf(again).executed).toBe(0);
    expect(server.requests.length).toBe(before);
    for (const sub of ['cache', 'build']) {
      for (const [file, text] of Object.entries(await readTree(path.join(dir, sub)))) expect(text.includes(TEST_KEY), `${sub}/${file}`).toBe(false);
    }
    for (const r of [first, again]) expect(r.stdout.includes(TEST_KEY) || r.stderr.includes(TEST_KEY)).toBe(false);
  });
});

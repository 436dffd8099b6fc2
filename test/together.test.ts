/**
 * `finetune` with `backend: together` end to end: the real CLI, the official `together-ai` SDK and
 * the local Together server (test/support/together-server.ts) — the two-step upload, Together's price
 * estimate as the budget check, one job however the run is interrupted or the server misbehaves, loss
 * and events shown, the output model name in build/model.txt; then `eval` of that model through
 * Together's OpenAI-compatible chat endpoint, from C++ programs compiled and validated for real;
 * and pipeline.models-2027.yaml as shipped, on bundled programs, down to its SFT and DPO files.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CLI, makeProject, readTree, REPO, runCli, type CliResult } from './support/cli.js';
import { startTogetherServer, type TogetherServer } from './support/together-server.js';

const KEY = `tgp-test-${randomBytes(12).toString('hex')}`;
let server: TogetherServer;
const dirs: string[] = [];

const env = () => ({ TOGETHER_API_KEY: KEY, TOGETHER_BASE_URL: server.baseURL, OPENAI_API_KEY: '', OPENAI_BASE_URL: '' });

async function project(files: Record<string, string>): Promise<string> {
  const dir = await makeProject(files);
  dirs.push(dir);
  return dir;
}

async function expectNoKey(dir: string, runs: CliResult[]): Promise<void> {
  for (const sub of ['cache', 'build']) {
    for (const [file, text] of Object.entries(await readTree(path.join(dir, sub)))) expect(text.includes(KEY), `${sub}/${file} holds the key`).toBe(false);
  }
  for (const r of runs) expect(r.stdout.includes(KEY) || r.stderr.includes(KEY)).toBe(false);
}

function spawnCli(cwd: string, args: string[], extraEnv: Record<string, string>) {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.resume();
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })));
  return { child, done };
}

const example = (i: number) => JSON.stringify({
  messages: [
    { role: 'system', content: 'You write x86-64 GNU assembler.' },
    { role: 'user', content: `Write a program that prints ${i}.` },
    { role: 'assistant', content: `\tmovl\t$${i}, %eax\n\tret\n` },
  ],
});

/** A stand-in dataset (one item with train and valid) and a together finetune target. */
const FT = (params: string) => ({
  'data/train.jsonl': Array.from({ length: 12 }, (_, i) => example(i)).join('\n') + '\n',
  'data/valid.jsonl': [example(100), example(101)].join('\n') + '\n',
  'pipeline.yaml': `version: 1
default: [tuned]
targets:
  dataset:
    kind: files
    params: { glob: data/train.jsonl, as: train, sidecars: { valid: data/valid.jsonl } }
  tuned:
    kind: finetune
    from: dataset
    params:
      backend: together
      pollMs: 5
${params}
`,
});

beforeEach(async () => {
  server = await startTogetherServer({ apiKey: KEY });
});
afterEach(async () => {
  await server.stop();
});
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

const progress = (r: CliResult) => r.events.filter((e) => e.type === 'progress' && e.id === 'tuned').map((e) => String(e.line));

describe('finetune backend: together', () => {
  it('needs approval before anything is uploaded; the cap is checked against Together\'s estimate before the job; then one LoRA job', async () => {
    const dir = await project(FT('      suffix: asm\n      hyperparameters: { n_epochs: 2, learning_rate: 0.0002 }\n      training: { type: lora, lora: { r: 8, alpha: 16 }, n_checkpoints: 2 }'));
    const blocked = await runCli(dir, [], env());
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toMatch(/fine-tuning Qwen\/Qwen3-8B on Together .* needs approval; nothing was uploaded/);
    expect(server.requests).toHaveLength(0);

    const capped = await runCli(dir, ['--yes', '--max-cost', '0.0000001'], env());
    expect(capped.code).toBe(1);
    expect(capped.stderr).toMatch(/Together estimates this job at \$0\.\d+, over the cost cap \$0\.0+; nothing was started/);
    expect(server.count('POST /v1/files')).toBe(2); // train and valid: uploads are free
    expect(server.count('POST /v1/fine-tunes/estimate-price')).toBe(1);
    expect(server.count('POST /v1/fine-tunes')).toBe(0);

    const ok = await runCli(dir, ['--json', '--yes', '--max-cost', '5'], env());
    expect(ok.code, ok.stderr).toBe(0);
    expect(server.count('POST /v1/files')).toBe(2); // the recorded uploads are reused
    expect(server.count('POST /v1/fine-tunes')).toBe(1);
    const create = server.requests.find((r) => r.route === 'POST /v1/fine-tunes')!;
    expect(create.body).toMatchObject({
      model: 'Qwen/Qwen3-8B', suffix: 'asm', n_epochs: 2, learning_rate: 0.0002, n_checkpoints: 2,
      training_type: { type: 'Lora', lora_r: 8, lora_alpha: 16 }, training_method: { method: 'sft', train_on_inputs: false },
    });
    expect(create.body.validation_file).toMatch(/^file-/);
    // The uploaded bytes are the dataset's.
    const train = [...server.files.values()].find((f) => f.id === create.body.training_file)!;
    expect(train.bytes!.toString('utf8')).toBe(await fsp.readFile(path.join(dir, 'data/train.jsonl'), 'utf8'));
    const model = (await fsp.readFile(path.join(dir, 'build/model.txt'), 'utf8')).trim();
    expect(model).toMatch(/^asmgraph-test\/Qwen3-8B-asm-[0-9a-f]{6}$/);
    const lines = progress(ok);
    expect(lines.some((l) => /^Together's estimate: \$0\.\d+ for [\d,]+ training tokens \(your limit \$100\.00\)$/.test(l))).toBe(true);
    expect(lines.some((l) => /^step 1: train loss 1, valid loss 1\.1$/.test(l))).toBe(true);
    expect(lines.some((l) => /Checkpoint saved at step 2/.test(l))).toBe(true);
    expect(lines.some((l) => /completed: asmgraph-test\//.test(l))).toBe(true);
    const done = ok.events.find((e) => e.type === 'node-done' && e.id === 'tuned')!;
    expect(done.meta).toMatchObject({ backend: 'together', modelId: model, jobId: expect.stringMatching(/^ft-/), training: 'lora', costEstimate: expect.any(Number) });

    // Nothing is sent again, not even with --force: the journal has the finished job.
    const before = server.requests.length;
    const forced = await runCli(dir, ['--yes', '--force'], env());
    expect(forced.code, forced.stderr).toBe(0);
    expect(server.requests.length).toBe(before);
    expect((await fsp.readFile(path.join(dir, 'build/model.txt'), 'utf8')).trim()).toBe(model);
    await expectNoKey(dir, [blocked, capped, ok, forced]);
  });

  it('429, 5xx and dropped connections (uploads included) are retried: still exactly one job', async () => {
    const dir = await project(FT('      budget: { approve: true }\n      training: { type: full }'));
    server.inject('POST /v1/fine-tunes', '503');
    server.inject('GET /v1/fine-tunes/:id', '429');
    server.inject('GET /v1/fine-tunes/:id/events', 'drop');
    server.inject('POST /v1/fine-tunes/estimate-price', '429');
    server.inject('POST /v1/files', '500');
    server.inject('PUT /upload/:id', 'drop');
    const r = await runCli(dir, ['--json'], env());
    expect(r.code, r.stderr).toBe(0);
    expect(server.count('POST /v1/fine-tunes', { faulted: true })).toBe(1);
    expect(server.count('POST /v1/fine-tunes', { faulted: false })).toBe(1);
    expect(server.jobs.size).toBe(1);
    // Every fault was met and retried: the upload's two steps too.
    for (const route of ['POST /v1/files', 'PUT /upload/:id', 'GET /v1/fine-tunes/:id', 'GET /v1/fine-tunes/:id/events', 'POST /v1/fine-tunes/estimate-price'] as const) {
      expect(server.count(route, { faulted: true }), route).toBe(1);
    }
    expect([...server.files.values()].filter((f) => f.bytes).map((f) => f.filename).sort()).toEqual(['train.jsonl', 'valid.jsonl']);
    expect([...server.jobs.values()][0]!.obj.training_type).toEqual({ type: 'Full' });
    await expectNoKey(dir, [r]);
  });

  it('a create answered 500 after the job was made (not retried by the SDK): the next run finds that job instead of making another', async () => {
    const dir = await project(FT('      budget: { approve: true }'));
    server.inject('POST /v1/fine-tunes', '500-after');
    const first = await runCli(dir, [], env());
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(/500/);
    expect(server.jobs.size).toBe(1);
    const again = await runCli(dir, [], env());
    expect(again.code, again.stderr).toBe(0);
    expect(server.count('POST /v1/fine-tunes')).toBe(1);
    expect(server.count('GET /v1/fine-tunes')).toBe(1);
    expect(server.jobs.size).toBe(1);
    expect((await fsp.readFile(path.join(dir, 'build/model.txt'), 'utf8')).trim()).toBe([...server.jobs.values()][0]!.obj.model_output_name);
  });

  it('resumes the same job after the CLI is killed (SIGKILL) mid-poll', async () => {
    const dir = await project(FT('      budget: { approve: true }'));
    server.script.jobs.push({ runningPolls: 4 });
    const run = spawnCli(dir, ['--json'], env());
    server.script.onRequest = (req) => {
      if (req.route === 'GET /v1/fine-tunes/:id') run.child.kill('SIGKILL');
    };
    expect((await run.done).signal).toBe('SIGKILL');
    server.script.onRequest = undefined;
    expect(server.count('POST /v1/fine-tunes')).toBe(1);
    const again = await runCli(dir, ['--json'], env());
    expect(again.code, again.stderr).toBe(0);
    expect(server.count('POST /v1/fine-tunes')).toBe(1);
    expect(server.count('POST /v1/files')).toBe(2);
    expect(progress(again).some((l) => l.startsWith('resuming job ft-'))).toBe(true);
    expect((await fsp.readFile(path.join(dir, 'build/model.txt'), 'utf8')).trim()).toMatch(/^asmgraph-test\//);
  });

  it('a failed job fails the build with Together\'s reason; the next run reports it without a new job unless retryFailed', async () => {
    const dir = await project(FT('      budget: { approve: true }'));
    server.script.jobs.push({ outcome: 'error' });
    const failed = await runCli(dir, [], env());
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/Together fine-tuning job ft-\w+ error: Training failed: the training file has too few tokens/);
    const again = await runCli(dir, [], env());
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/retryFailed/);
    expect(server.count('POST /v1/fine-tunes')).toBe(1);
    await fsp.writeFile(path.join(dir, 'pipeline.yaml'), FT('      budget: { approve: true }\n      retryFailed: true')['pipeline.yaml']);
    const retried = await runCli(dir, [], env());
    expect(retried.code, retried.stderr).toBe(0);
    expect(server.count('POST /v1/fine-tunes')).toBe(2);
  });

  it('refuses, before sending anything, a missing key', async () => {
    const dir = await project(FT('      budget: { approve: true }'));
    const nokey = await runCli(dir, [], { ...env(), TOGETHER_API_KEY: '' });
    expect(nokey.code).toBe(1);
    expect(nokey.stderr).toMatch(/TOGETHER_API_KEY is not set/);
    expect(server.requests).toHaveLength(0);
  });

  it('--dry-run says what would be uploaded and how the price is checked; nothing is sent', async () => {
    const dir = await project(FT('      budget: { approve: true, maxCost: 3 }'));
    const r = await runCli(dir, ['--json', '--dry-run'], env());
    expect(r.code, r.stderr).toBe(0);
    const lines = r.events.filter((e) => e.type === 'report' && e.target === 'tuned').flatMap((e) => e.lines).join('\n');
    expect(lines).toMatch(/would upload 12 examples .* to Together and start a lora fine-tune of Qwen\/Qwen3-8B/);
    expect(lines).toMatch(/Together's own estimate .* approved by budget\.approve, cap \$3\.00/);
    expect(server.requests).toHaveLength(0);
  });
});

describe('pipeline.models-2027.yaml', () => {
  it('loads, and a dry run plans the Together path to the exports without sending anything', async () => {
    const files: Record<string, string> = { 'pipeline.models-2027.yaml': await fsp.readFile(path.join(REPO, 'pipeline.models-2027.yaml'), 'utf8') };
    for (const t of await fsp.readdir(path.join(REPO, 'toolchain'))) files[`toolchain/${t}`] = await fsp.readFile(path.join(REPO, 'toolchain', t), 'utf8');
    files['sources/a.cpp'] = 'int main() { return 0; }\n';
    files['sources/a.prompt.txt'] = 'Write a program that does nothing.\n';
    const dir = await project(files);
    const r = await runCli(dir, ['-f', 'pipeline.models-2027.yaml', '--dry-run', 'tuned-eval', 'more-sft', 'dpo'], env());
    expect(r.code, r.stderr).toBe(0);
    for (const t of ['dataset', 'tuned', 'tuned-eval', 'harvest', 'more-sft', 'dpo']) expect(r.stdout + r.stderr).toMatch(new RegExp(`would run ${t}:`));
    expect(server.requests).toHaveLength(0);
  });
});

describe('from C++ programs to a Together fine-tune and an eval of it', () => {
  const N = 10;
  const cpp = (i: number) => `#include <cstdio>\n\nint main() {\n    std::printf("%d\\n", ${i * 7});\n    return 0;\n}\n`;
  const asmOf: string[] = [];
  beforeAll(async () => {
    const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-together-gxx-'));
    for (let i = 0; i < N; i++) {
      await fsp.writeFile(path.join(work, 'prog.cpp'), cpp(i));
      execFileSync('g++', ['-std=gnu++17', '-O0', '-S', 'prog.cpp', '-o', 'prog.s'], { cwd: work });
      asmOf.push(await fsp.readFile(path.join(work, 'prog.s'), 'utf8'));
    }
    await fsp.rm(work, { recursive: true, force: true });
  });

  it('dataset → together finetune → eval through the OpenAI-compatible endpoint, nothing sent twice', async () => {
    const files: Record<string, string> = {
      'pipeline.yaml': `version: 1
default: [eval]
targets:
  programs: { kind: files, params: { glob: "src/*.cpp", sidecars: { prompt: "{stem}.prompt.txt" } } }
  asm: { kind: compile, from: programs }
  validated: { kind: validate, from: asm, with: { source: programs } }
  dataset: { kind: dataset, from: validated, with: { source: programs }, params: { validFraction: 0 } }
  tuned:
    kind: finetune
    from: dataset
    params: { backend: together, model: meta-llama/Meta-Llama-3.1-8B-Instruct-Reference, pollMs: 5, budget: { approve: true } }
  eval:
    kind: eval
    from: dataset
    with: { validated: validated, source: programs, model: tuned }
    params:
      split: all
      k: 1
      models: [{ id: from-finetune, label: tuned, provider: { type: together } }]
`,
    };
    for (let i = 0; i < N; i++) {
      files[`src/p${i}.cpp`] = cpp(i);
      files[`src/p${i}.prompt.txt`] = `Write an Assembler program that prints ${i * 7}.\n`;
    }
    for (const t of await fsp.readdir(path.join(REPO, 'toolchain'))) files[`toolchain/${t}`] = await fsp.readFile(path.join(REPO, 'toolchain', t), 'utf8');
    const dir = await project(files);
    server.setResponder((body) => {
      const n = Number(/prints (\d+)\./.exec(body.messages.at(-1).content)![1]) / 7;
      // The tuned model gets every program right but the last.
      const asm = n === N - 1 ? asmOf[0]! : asmOf[n]!;
      return `Sure! But let's first write C++ code which works like that:\n${cpp(n)}\nNow, let's write the Assembler code:\n${asm}`;
    });
    const r = await runCli(dir, ['--json'], env());
    expect(r.code, r.stderr).toBe(0);
    expect(server.count('POST /v1/fine-tunes')).toBe(1);
    const model = (await fsp.readFile(path.join(dir, 'build/model.txt'), 'utf8')).trim();
    const chats = server.requests.filter((q) => q.route === 'POST /v1/chat/completions');
    expect(chats).toHaveLength(N);
    for (const c of chats) {
      expect(c.body.model).toBe(model);
      expect(c.headers.authorization).toBe(`Bearer ${KEY}`);
      expect(typeof c.body.max_tokens).toBe('number');
    }
    const report = JSON.parse(await fsp.readFile(path.join(dir, 'build/eval/report.json'), 'utf8'));
    expect(report.metrics.models[0]).toMatchObject({ model, samples: N, promptsSolved: N - 1 });
    expect(report.metrics.models[0].verdicts['output-mismatch']).toBe(1);

    const before = server.requests.length;
    const again = await runCli(dir, ['--json', '--force'], env());
    expect(again.code, again.stderr).toBe(0);
    expect(server.requests.length).toBe(before);
    await expectNoKey(dir, [r, again]);
  });
});

describe('pipeline.models-2027.yaml on bundled programs: Together fine-tune, its eval, SFT and DPO files', () => {
  // The smallest bundled programs, and two that read input (one stdin case; a folder of cases).
  const PROGRAMS = [
    'countdown_printf', 'add_8_and_120', 'factorial_recursive', 'made_by_then_add', 'printf_powers_table', 'celsius_to_fahrenheit',
    'hello_banner', 'multiplication_table', 'ascii_triangle', 'fibonacci_recursive', 'sort_vector', 'stdin_sum_average', 'stdin_line_stats',
  ];

  it('builds every target of the file as shipped, with one job and nothing sent twice', async () => {
    // As shipped, but for the poll interval (30 s in the file).
    const shipped = await fsp.readFile(path.join(REPO, 'pipeline.models-2027.yaml'), 'utf8');
    expect(shipped).toMatch(/\n      suffix: asmgraph\n/);
    const files: Record<string, string> = { 'pipeline.models-2027.yaml': shipped.replace('\n      suffix: asmgraph\n', '\n      suffix: asmgraph\n      pollMs: 5\n') };
    for (const t of await fsp.readdir(path.join(REPO, 'toolchain'))) files[`toolchain/${t}`] = await fsp.readFile(path.join(REPO, 'toolchain', t), 'utf8');
    const dir = await project(files);
    await fsp.mkdir(path.join(dir, 'sources'), { recursive: true });
    for (const name of await fsp.readdir(path.join(REPO, 'sources'))) {
      if (PROGRAMS.includes(name.split('.')[0]!)) await fsp.cp(path.join(REPO, 'sources', name), path.join(dir, 'sources', name), { recursive: true });
    }

    // The "fine-tuned model": for each prompt, the dataset's own answer on even samples (with a
    // comment that makes it an answer the training set does not have, from sample 2 on), and another
    // program's answer on odd ones (it runs, but prints the wrong thing).
    let answers: Map<string, string> | undefined;
    const answerOf = (prompt: string): { mine: string; other: string } => {
      if (!answers) {
        answers = new Map();
        for (const f of ['build/train.jsonl', 'build/valid.jsonl']) {
          for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean)) {
            const m = JSON.parse(line).messages as { role: string; content: string }[];
            answers.set(m[1]!.content, m[2]!.content);
          }
        }
      }
      const keys = [...answers.keys()].sort();
      const i = keys.indexOf(prompt);
      expect(i, `a prompt the dataset has: ${prompt}`).toBeGreaterThanOrEqual(0);
      return { mine: answers.get(prompt)!, other: answers.get(keys[(i + 1) % keys.length]!)! };
    };
    server.setResponder((body) => {
      const { mine, other } = answerOf(body.messages.at(-1).content);
      const sample = Number(body.seed ?? 0);
      if (sample % 2 === 1) return other;
      return sample === 0 ? mine : `${mine.trimEnd()}\n\t# sample ${sample}\n`;
    });

    const args = ['-f', 'pipeline.models-2027.yaml', 'tuned-eval', 'more-sft', 'dpo', '--yes', '--max-cost', '20', '--json'];
    const r = await runCli(dir, args, env());
    expect(r.code, r.stderr).toBe(0);
    expect(server.count('POST /v1/fine-tunes')).toBe(1);
    const model = (await fsp.readFile(path.join(dir, 'build/model.txt'), 'utf8')).trim();
    expect(model).toMatch(/Qwen3-8B-asmgraph/);

    const ds = JSON.parse(await fsp.readFile(path.join(dir, 'build/dataset.report.json'), 'utf8'));
    expect(ds.model).toBe('Qwen/Qwen3-8B');
    expect(ds.examples.total).toBe(PROGRAMS.length);
    const split = (s: string) => ds.perExample.filter((e: { split: string }) => e.split === s).length;
    expect(split('valid')).toBeGreaterThanOrEqual(1);
    const chats = server.requests.filter((q) => q.route === 'POST /v1/chat/completions');
    // tuned-eval: n 5 per held-out prompt; harvest: n 4 per training prompt.
    expect(chats).toHaveLength(5 * split('valid') + 4 * split('train'));
    for (const c of chats) expect(c.body.model).toBe(model);

    const tunedEval = JSON.parse(await fsp.readFile(path.join(dir, 'build/tuned-eval/report.json'), 'utf8'));
    expect(tunedEval.metrics.models[0]).toMatchObject({ model, samples: 5 * split('valid'), promptsSolved: split('valid') });
    const harvest = JSON.parse(await fsp.readFile(path.join(dir, 'build/harvest/report.json'), 'utf8'));
    expect(harvest.metrics.models[0]).toMatchObject({ samples: 4 * split('train') });
    // A program with a folder of test cases is checked on every one of them.
    const lineStats = [...harvest.prompts, ...tunedEval.prompts].find((x: { id: string }) => x.id === 'stdin_line_stats');
    expect(lineStats.cases.length).toBeGreaterThanOrEqual(2);

    const sft = (await fsp.readFile(path.join(dir, 'build/sft/train.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    // Sample 2 of each training prompt passes and is new; sample 0 is the training answer itself.
    expect(sft).toHaveLength(split('train'));
    for (const ex of sft) expect(ex.messages.at(-1).content).toMatch(/# sample 2\n$/);
    const validPrompts = new Set(ds.perExample.filter((e: { split: string }) => e.split === 'valid').map((e: { key: string }) => e.key));
    const sftReport = JSON.parse(await fsp.readFile(path.join(dir, 'build/sft/report.json'), 'utf8'));
    expect(Object.keys(sftReport.perPrompt)).toHaveLength(split('train'));
    for (const k of Object.keys(sftReport.perPrompt)) expect(validPrompts.has(k)).toBe(false);
    const openai = (await fsp.readFile(path.join(dir, 'build/dpo/openai.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    const trl = (await fsp.readFile(path.join(dir, 'build/dpo/trl.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(openai.length).toBeGreaterThanOrEqual(split('train'));
    expect(trl).toHaveLength(openai.length);
    for (const [i, pair] of openai.entries()) {
      expect(pair.preferred_output[0].content).not.toBe(pair.non_preferred_output[0].content);
      expect(trl[i].chosen[0].content).toBe(pair.preferred_output[0].content);
    }

    const before = server.requests.length;
    const again = await runCli(dir, args, env());
    expect(again.code, again.stderr).toBe(0);
    expect(again.events.filter((e) => e.type === 'node-done' && e.outcome === 'executed')).toHaveLength(0);
    const forced = await runCli(dir, [...args, '--force'], env());
    expect(forced.code, forced.stderr).toBe(0);
    expect(server.requests.length).toBe(before);
    await expectNoKey(dir, [r, again, forced]);
  });
});

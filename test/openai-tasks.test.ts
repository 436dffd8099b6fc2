/**
 * The model-facing kinds (generate, describe, finetune) end to end: the real CLI in temp projects,
 * pointed with OPENAI_BASE_URL at the local OpenAI-compatible test server.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, makeProject, outcomes, readTree, runCli, summaryOf, type CliResult } from './support/cli.js';
import { startOpenAIServer, TEST_KEY, type OpenAIServer, type Responder } from './support/openai-server.js';

let server: OpenAIServer;
const dirs: string[] = [];

/** Every answer a new program; answer #4 is prose, #6 repeats #5 (so dedupe and no-code are visible). */
function programResponder(): Responder {
  let k = 0;
  return (body) => {
    const system: string = body.messages[0].content;
    if (system.startsWith('You will be given code')) {
      const code: string = body.messages.at(-1).content;
      const n = /printf\("%d\\n", (\d+)\)/.exec(code)?.[1] ?? 'something';
      return `"Write an Assembler program that prints the number ${n}."`;
    }
    k++;
    if (k === 4) return 'I am sorry, but I would rather talk about the weather.';
    const v = k === 6 ? 5 : k;
    return `\`\`\`cpp\n#include <cstdio>\n\nint main() {\n    std::printf("%d\\n", ${v});\n    return 0;\n}\n\`\`\`\n`;
  };
}

beforeEach(async () => {
  server = await startOpenAIServer({ apiKey: TEST_KEY, responder: programResponder() });
});
afterEach(async () => {
  await server.stop();
});
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

const env = () => ({ OPENAI_BASE_URL: server.baseURL, OPENAI_API_KEY: TEST_KEY });

async function project(files: Record<string, string>): Promise<string> {
  const d = await makeProject(files);
  dirs.push(d);
  return d;
}

/** The API key must appear nowhere: not in cache/, build/, nor in anything the CLI printed. */
async function expectNoKey(dir: string, runs: CliResult[], key = TEST_KEY): Promise<void> {
  for (const sub of ['cache', 'build']) {
    const tree = await readTree(path.join(dir, sub));
    for (const [file, text] of Object.entries(tree)) expect(text.includes(key), `${sub}/${file} holds the key`).toBe(false);
  }
  for (const r of runs) {
    expect(r.stdout.includes(key)).toBe(false);
    expect(r.stderr.includes(key)).toBe(false);
  }
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

async function cppFiles(dir: string, sub: string): Promise<Record<string, string>> {
  return readTree(path.join(dir, 'build', sub));
}

/** Starts the CLI without waiting; `kill` it at any moment. */
function spawnCli(cwd: string, args: string[], extraEnv: Record<string, string>) {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

const GENERATE = (extra = '') => `version: 1
default: [copy]
targets:
  programs:
    kind: generate
    params:
      model: gpt-4o-mini
      mode: batch
      pollMs: 5
      requests:
        - { id: simple, n: 3, max_tokens: 1000 }
        - { id: complex, n: 3, max_tokens: 3000, system: "You will write only the code of a random complex program in pure C++ and nothing else. The program shall contain multiple functions." }
${extra}
  copy:
    kind: command
    from: programs
    params:
      run: cp "$IN" "$OUT"
      outputs: { out: .cpp }
`;

describe('generate', () => {
  it('batch: answers become content-addressed items that fan out; a second run sends nothing', async () => {
    const dir = await project({ 'pipeline.yaml': GENERATE() });
    const first = await runCli(dir, ['--json'], env());
    expect(first.code, first.stderr).toBe(0);

    // One upload and one batch, shaped like the seed's batch file.
    expect(server.count('POST /v1/batches')).toBe(1);
    const upload = server.requests.find((r) => r.route === 'POST /v1/files')!;
    expect(upload.body.purpose).toBe('batch');
    const lines = (upload.body.content as string).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.custom_id)).toEqual(['simple', 'complex']);
    expect(lines[0]).toMatchObject({ method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini', n: 3, max_tokens: 1000 } });
    expect(lines[0].body.messages).toEqual([{ role: 'system', content: expect.stringMatching(/^You will write only the code of a random program in pure C\+\+/) }]);

    // 6 answers: one without C++, one duplicate → 4 programs.
    const report = JSON.parse(await fsp.readFile(path.join(dir, 'build/generate.report.json'), 'utf8'));
    expect(report).toMatchObject({ requests: 2, choices: 6, programs: 4, duplicates: 1, rejected: { count: 1, byReason: { 'no-code': 1 } } });
    expect(report.tokens.prompt).toBeGreaterThan(0);
    const copies = await cppFiles(dir, 'copy');
    expect(Object.keys(copies)).toHaveLength(4);
    for (const [file, code] of Object.entries(copies)) {
      expect(code).toMatch(/int main\(\)/);
      expect(file).toBe(`gen-${sha(code).slice(0, 12)}.cpp`);
    }
    expect(outcomes(first).executed).toHaveLength(5);

    const before = server.requests.length;
    const second = await runCli(dir, ['--json'], env());
    expect(second.code).toBe(0);
    expect(server.requests.length).toBe(before);
    expect(summaryOf(second)).toMatchObject({ executed: 0, ok: true });
    await expectNoKey(dir, [first, second]);
  });

  it('resumes the same batch after the CLI is killed (SIGKILL) mid-poll: one batch in total', async () => {
    const dir = await project({ 'pipeline.yaml': GENERATE() });
    server.script.batches.push({ statuses: ['validating', 'in_progress', 'in_progress', 'in_progress', 'finalizing', 'completed'] });
    const run = spawnCli(dir, ['--json'], env());
    // The first poll happens only after the batch id was journaled: kill the CLI right there.
    server.script.onRequest = (r) => {
      if (r.route === 'GET /v1/batches/:id') run.child.kill('SIGKILL');
    };
    const killed = await run.done;
    expect(killed.signal).toBe('SIGKILL');
    server.script.onRequest = undefined;
    expect(server.count('POST /v1/batches')).toBe(1);
    const batchId = [...server.batches.keys()][0]!;
    const journal = Object.entries(await readTree(path.join(dir, 'cache'))).find(([f]) => /resume\/programs\/journal-/.test(f));
    expect(journal?.[1]).toContain(batchId);

    const again = await runCli(dir, ['--json'], env());
    expect(again.code, again.stderr).toBe(0);
    expect(server.count('POST /v1/batches')).toBe(1);
    expect(server.count('POST /v1/files')).toBe(1);
    expect(again.events.some((e) => e.type === 'progress' && String(e.line).includes(`resuming batch ${batchId}`))).toBe(true);
    expect(Object.keys(await cppFiles(dir, 'copy'))).toHaveLength(4);
    await expectNoKey(dir, [again]);
  });

  it('an expired batch fails the build; the next run re-submits only the missing requests', async () => {
    const dir = await project({
      'pipeline.yaml': `version: 1
targets:
  programs:
    kind: generate
    params: { model: gpt-4o-mini, requests: 4, pollMs: 5 }
`,
    });
    server.setResponder((_b, _c) => `\`\`\`cpp\nint main() { return ${server.requests.length}; }\n\`\`\`\n`);
    server.script.batches.push({ outcome: 'expired', finished: 2 });
    const first = await runCli(dir, [], env());
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(/2 of 4 requests got no answer/);
    expect(first.stderr).toMatch(/re-submit only the 2 missing/);

    const second = await runCli(dir, ['--json'], env());
    expect(second.code, second.stderr).toBe(0);
    const uploads = server.requests.filter((r) => r.route === 'POST /v1/files').map((r) =>
      (r.body.content as string).trim().split('\n').map((l) => JSON.parse(l).custom_id));
    expect(uploads).toEqual([['gen-1', 'gen-2', 'gen-3', 'gen-4'], ['gen-3', 'gen-4']]);
    const report = JSON.parse(await fsp.readFile(path.join(dir, 'build/generate.report.json'), 'utf8'));
    expect(report).toMatchObject({ requests: 4, choices: 4 });
    await expectNoKey(dir, [first, second]);
  });

  it('online mode on a compatible server; batch mode there is a clear error that sends nothing', async () => {
    const pipeline = (mode: string) => `version: 1
settings: { llmConcurrency: 2 }
targets:
  programs:
    kind: generate
    params: { model: local-coder, mode: ${mode}, requests: 3, n: 2, max_tokens: 200, provider: { type: compatible } }
`;
    const dir = await project({ 'pipeline.yaml': pipeline('batch') });
    const bad = await runCli(dir, [], env());
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/provider 'compatible' has no Batch API: set mode: online/);
    expect(server.requests).toHaveLength(0);

    await fsp.writeFile(path.join(dir, 'pipeline.yaml'), pipeline('online'));
    const ok = await runCli(dir, ['--json'], env());
    expect(ok.code, ok.stderr).toBe(0);
    expect(server.count('POST /v1/chat/completions')).toBe(3);
    expect(server.count('POST /v1/batches')).toBe(0);
    expect(server.maxInFlight).toBeLessThanOrEqual(2);
    const report = JSON.parse(await fsp.readFile(path.join(dir, 'build/generate.report.json'), 'utf8'));
    expect(report).toMatchObject({ mode: 'online', requests: 3, choices: 6, programs: 4, duplicates: 1 });
    await expectNoKey(dir, [bad, ok]);
  });

  it('a wrong key fails the build and the key the server echoes back is redacted', async () => {
    const dir = await project({ 'pipeline.yaml': GENERATE() });
    const wrong = 'sk-wrong-0123456789abcdef';
    const r = await runCli(dir, [], { ...env(), OPENAI_API_KEY: wrong });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Incorrect API key/);
    expect(r.stderr).toMatch(/\[REDACTED\]/);
    await expectNoKey(dir, [r], wrong);
  });
});

describe('describe', () => {
  const PIPELINE = `version: 1
settings: { llmConcurrency: 1 }
targets:
  programs:
    kind: files
    params: { glob: "src/*.cpp", sidecars: { prompt: "{stem}.prompt.txt" } }
  prompts:
    kind: describe
    from: programs
    params: { model: gpt-4o-mini, provider: { maxRetries: 1 } }
`;
  const prog = (n: number) => `#include <cstdio>\nint main() { std::printf("%d\\n", ${n}); return 0; }\n`;

  it('keeps human prompts (nothing sent), asks the model for the rest; a request failing beyond retries rejects only its item', async () => {
    const dir = await project({
      'pipeline.yaml': PIPELINE,
      'src/a.cpp': prog(1), 'src/a.prompt.txt': 'Write a program that prints one.\n',
      'src/b.cpp': prog(2), 'src/c.cpp': prog(3), 'src/d.cpp': prog(4),
    });
    server.inject('POST /v1/chat/completions', '500', 2); // the first request and its one retry
    const r = await runCli(dir, ['--json'], env());
    expect(r.code, r.stderr).toBe(0);

    const chats = server.requests.filter((q) => q.route === 'POST /v1/chat/completions');
    expect(chats).toHaveLength(4); // b, c, d and one retry; nothing for a
    expect(chats.every((q) => !q.body.messages[1].content.includes('printf("%d\\n", 1)'))).toBe(true);
    expect(chats[0]!.body.messages[0].content).toMatch(/^You will be given code in C\+\+\.\nWrite detailed description/);

    const done = r.events.filter((e) => e.type === 'node-done' && String(e.id).startsWith('prompts/'));
    const rejected = done.filter((e) => e.status === 'rejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.reason).toBe('llm-error');
    // The rejected item is the one whose request got the 500s.
    const failedCode: string = chats[0]!.body.messages[1].content;
    const rejectedItem = String(rejected[0]!.id).split('/')[1];
    expect(await fsp.readFile(path.join(dir, `src/${rejectedItem}.cpp`), 'utf8')).toBe(failedCode);

    const out = await readTree(path.join(dir, 'build/prompts'));
    expect(out['a.prompt.txt']).toBe('Write a program that prints one.\n');
    const models = ['b', 'c', 'd'].filter((k) => k !== rejectedItem);
    for (const k of models) expect(out[`${k}.prompt.txt`]).toMatch(/^Write an Assembler program that prints the number \d\.\n$/);
    expect(out[`${rejectedItem}.rejected.txt`]).toMatch(/^llm-error\n.*500/);
    const meta = Object.fromEntries(done.map((e) => [String(e.id).split('/')[1], e.meta]));
    expect(meta.a).toMatchObject({ origin: 'human' });
    expect(meta[models[0]!]).toMatchObject({ origin: 'model', model: 'gpt-4o-mini' });

    const before = server.requests.length;
    const again = await runCli(dir, ['--json'], env());
    expect(again.code).toBe(0);
    expect(server.requests.length).toBe(before);
    await expectNoKey(dir, [r, again]);
  });

  it('mode: batch: one batch for the items without a human prompt, equal programs asked once; a rebuild sends nothing', async () => {
    const dir = await project({
      'pipeline.yaml': PIPELINE.replace('provider: { maxRetries: 1 }', 'mode: batch, pollMs: 5'),
      'src/a.cpp': prog(1), 'src/a.prompt.txt': 'Write a program that prints one.\n',
      'src/b.cpp': prog(2), 'src/c.cpp': prog(3), 'src/d.cpp': prog(4), 'src/e.cpp': prog(2),
    });
    const r = await runCli(dir, ['--json'], env());
    expect(r.code, r.stderr).toBe(0);
    // llmConcurrency 1, four items to describe: all of them wait for the one batch.
    expect(server.count('POST /v1/batches')).toBe(1);
    expect(server.count('POST /v1/chat/completions')).toBe(0);
    const upload = server.requests.find((q) => q.route === 'POST /v1/files')!;
    const lines = (upload.body.content as string).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3); // b and e are the same program: one line
    expect(lines.every((l) => l.body.model === 'gpt-4o-mini' && l.body.max_tokens === 300)).toBe(true);
    const out = await readTree(path.join(dir, 'build/prompts'));
    expect(out['a.prompt.txt']).toBe('Write a program that prints one.\n');
    expect(out['b.prompt.txt']).toBe('Write an Assembler program that prints the number 2.\n');
    expect(out['e.prompt.txt']).toBe(out['b.prompt.txt']);
    expect(out['d.prompt.txt']).toBe('Write an Assembler program that prints the number 4.\n');
    const meta = r.events.find((e) => e.type === 'node-done' && e.id === 'prompts/c')!.meta;
    expect(meta).toMatchObject({ origin: 'model', mode: 'batch' });

    const before = server.requests.length;
    const again = await runCli(dir, ['--json'], env());
    expect(again.code).toBe(0);
    expect(server.requests.length).toBe(before);
    await expectNoKey(dir, [r, again]);
  });

  it('online requests are shaped for the model: a reasoning model gets max_completion_tokens and no temperature', async () => {
    const dir = await project({
      'pipeline.yaml': PIPELINE.replace('model: gpt-4o-mini, provider: { maxRetries: 1 }', 'model: gpt-5-mini, temperature: 0.5, provider: { maxRetries: 1 }'),
      'src/b.cpp': prog(2),
    });
    const r = await runCli(dir, ['--json'], env());
    expect(r.code, r.stderr).toBe(0);
    const chats = server.requests.filter((q) => q.route === 'POST /v1/chat/completions');
    expect(chats).toHaveLength(1);
    expect(chats[0]!.body).toMatchObject({ model: 'gpt-5-mini', max_completion_tokens: 300 });
    expect(chats[0]!.body).not.toHaveProperty('max_tokens');
    expect(chats[0]!.body).not.toHaveProperty('temperature');
    expect(await fsp.readFile(path.join(dir, 'build/prompts/b.prompt.txt'), 'utf8')).toBe('Write an Assembler program that prints the number 2.\n');
  });

  it('mode: batch with a provider that has no Batch API fails before sending', async () => {
    const dir = await project({
      'pipeline.yaml': PIPELINE.replace('provider: { maxRetries: 1 }', `mode: batch, provider: { type: compatible, baseURL: "${server.baseURL}" }`),
      'src/a.cpp': prog(1),
    });
    const r = await runCli(dir, [], env());
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/provider 'compatible' has no Batch API: set mode: online/);
    expect(server.requests).toHaveLength(0);
  });
});

describe('finetune', () => {
  const example = (i: number) => JSON.stringify({
    messages: [
      { role: 'system', content: 'You are a coding assistant AI specialised in writing x86-64 g++ Assembler code.' },
      { role: 'user', content: `Write a program that prints ${i}.` },
      { role: 'assistant', content: `Sure! But let's first write C++ code which works like that:\nint main() { return ${i}; }\nNow, let's write the Assembler code:\n\tmovl\t$${i}, %eax\n\tret\n` },
    ],
  });
  const files = (finetune: string, examples = 12) => ({
    'data/train.jsonl': Array.from({ length: examples }, (_, i) => example(i)).join('\n') + '\n',
    'data/valid.jsonl': [example(100), example(101)].join('\n') + '\n',
    'pipeline.yaml': `version: 1
default: [tuned]
targets:
  # Stands in for the dataset kind: one item with files train and valid.
  dataset:
    kind: files
    params: { glob: data/train.jsonl, as: train, sidecars: { valid: data/valid.jsonl } }
  tuned:
    kind: finetune
    from: dataset
    params:
${finetune}
`,
  });
  const ftRequests = () => server.requests.filter((r) => r.route.includes('fine_tuning') || r.route === 'POST /v1/files');

  it('is blocked without approval or above the cap; with --yes it trains once and writes build/model.txt', async () => {
    const dir = await project(files('      suffix: asm\n      pollMs: 5\n      hyperparameters: { n_epochs: 3 }'));
    const blocked = await runCli(dir, [], env());
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toMatch(/fine-tuning gpt-4o-mini-2024-07-18 on ~[\d,]+ tokens × 3 epochs is estimated at \$\d+\.\d+; spending needs approval; nothing was uploaded/);
    expect(blocked.stderr).toMatch(/--yes/);
    expect(ftRequests()).toHaveLength(0);

    const capped = await runCli(dir, ['--yes', '--max-cost', '0.000001'], env());
    expect(capped.code).toBe(1);
    expect(capped.stderr).toMatch(/over the cost cap \$0\.00/);
    expect(ftRequests()).toHaveLength(0);

    const ok = await runCli(dir, ['--json', '--yes', '--max-cost', '5'], env());
    expect(ok.code, ok.stderr).toBe(0);
    expect(server.count('POST /v1/fine_tuning/jobs')).toBe(1);
    const create = server.requests.find((r) => r.route === 'POST /v1/fine_tuning/jobs')!;
    expect(create.body).toMatchObject({ model: 'gpt-4o-mini-2024-07-18', suffix: 'asm', method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: 3 } } } });
    expect(create.body.validation_file).toBeTruthy();
    const modelId = (await fsp.readFile(path.join(dir, 'build/model.txt'), 'utf8')).trim();
    expect(modelId).toMatch(/^ft:gpt-4o-mini-2024-07-18:org-test:asm:/);
    const progress = ok.events.filter((e) => e.type === 'progress' && e.id === 'tuned').map((e) => String(e.line));
    expect(progress.some((l) => /train loss/.test(l))).toBe(true);
    expect(progress.some((l) => /succeeded/.test(l))).toBe(true);
    const done = ok.events.find((e) => e.type === 'node-done' && e.id === 'tuned')!;
    expect(done.meta).toMatchObject({ modelId, jobId: expect.stringMatching(/^ftjob-/) });
    expect(typeof done.meta.costEstimate).toBe('number');

    // Same dataset and params: no second job, not even with --force (the journal has the job).
    const before = server.requests.length;
    const again = await runCli(dir, ['--yes'], env());
    expect(again.code).toBe(0);
    expect(server.requests.length).toBe(before);
    const forced = await runCli(dir, ['--json', '--yes', '--force'], env());
    expect(forced.code, forced.stderr).toBe(0);
    expect(server.count('POST /v1/fine_tuning/jobs')).toBe(1);
    expect(server.count('POST /v1/files')).toBe(2);
    expect((await fsp.readFile(path.join(dir, 'build/model.txt'), 'utf8')).trim()).toBe(modelId);
    await expectNoKey(dir, [blocked, capped, ok, again, forced]);
  });

  it('budget.approve in pipeline.yaml approves; a 403 training_not_available points to backend: command', async () => {
    const dir = await project(files('      pollMs: 5\n      budget: { approve: true, maxCost: 10 }'));
    server.script.trainingNotAvailable = true;
    const r = await runCli(dir, [], env());
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/training_not_available/);
    expect(r.stderr).toMatch(/backend: command/);
    expect(server.count('POST /v1/fine_tuning/jobs')).toBe(1);
    await expectNoKey(dir, [r]);
  });

  it('rejects a dataset with fewer than 10 examples before anything is uploaded', async () => {
    const dir = await project(files('      budget: { approve: true }', 5));
    const r = await runCli(dir, ['--json', '--yes'], env());
    expect(r.code).toBe(0);
    const done = r.events.find((e) => e.type === 'node-done' && e.id === 'tuned')!;
    expect(done).toMatchObject({ status: 'rejected', reason: 'invalid-dataset' });
    expect(done.message).toMatch(/5 examples; fine-tuning needs at least 10/);
    expect(server.requests).toHaveLength(0);
  });

  it('backend: command runs a local trainer on $TRAIN/$VALID and records what it writes to $OUT', async () => {
    const trainer = `      backend: command
      model: Qwen/Qwen2.5-Coder-0.5B
      command: |
        echo "epoch 1: loss 0.42"
        test -s "$VALID"
        echo "local/$BASE_MODEL-$(wc -l < "$TRAIN" | tr -d ' ')" > "$OUT"`;
    const dir = await project(files(trainer));
    const r = await runCli(dir, ['--json'], env());
    expect(r.code, r.stderr).toBe(0);
    expect(await fsp.readFile(path.join(dir, 'build/model.txt'), 'utf8')).toBe('local/Qwen/Qwen2.5-Coder-0.5B-12\n');
    expect(r.events.some((e) => e.type === 'progress' && e.line === 'epoch 1: loss 0.42')).toBe(true);
    expect(server.requests).toHaveLength(0);
    const again = await runCli(dir, ['--json'], env());
    expect(summaryOf(again)).toMatchObject({ executed: 0, ok: true });
  });
});

describe('--dry-run', () => {
  it('prints requests, estimated tokens and cost, and the guard\'s verdict; the server sees nothing', async () => {
    const ex = JSON.stringify({ messages: [{ role: 'user', content: 'Write a program.' }, { role: 'assistant', content: 'int main() {}' }] });
    const dir = await project({
      'data/train.jsonl': Array.from({ length: 20 }, () => ex).join('\n') + '\n',
      'data/valid.jsonl': ex + '\n',
      'src/a.cpp': 'int main() { return 1; }\n',
      'pipeline.yaml': `version: 1
default: [programs, prompts, tuned]
targets:
  programs:
    kind: generate
    params:
      model: gpt-4o-mini
      requests:
        - { id: simple, n: 100, max_tokens: 1000 }
        - { id: complex, n: 100, max_tokens: 3000 }
  sources:
    kind: files
    params: { glob: "src/*.cpp" }
  prompts:
    kind: describe
    from: sources
    params: { model: gpt-4o-mini }
  # Stands in for the dataset kind: one item with files train and valid.
  dataset:
    kind: files
    params: { glob: data/train.jsonl, as: train, sidecars: { valid: data/valid.jsonl } }
  tuned:
    kind: finetune
    from: dataset
    params: { hyperparameters: { n_epochs: 2 } }
`,
    });
    const built = await runCli(dir, ['dataset'], env()); // stores the dataset's files, so the plan can read them
    expect(built.code, built.stderr).toBe(0);
    const r = await runCli(dir, ['--dry-run'], env());
    expect(r.code, r.stderr).toBe(0);
    const text = r.stdout + r.stderr;
    expect(text).toMatch(/programs: would send 2 requests \(batch mode\) for up to 200 programs/);
    expect(text).toMatch(/programs: ~\d+ prompt tokens \(o200k estimate\), at most 400,000 completion tokens/);
    expect(text).toMatch(/programs: gpt-4o-mini: est\. cost \$0\.\d+–\$0\.12 \(Batch API price, 50% off\)/);
    expect(text).toMatch(/programs: dry run: nothing was sent/);
    expect(text).toMatch(/prompts\/a: 1 request, ~\d+ prompt tokens, at most 300 completion tokens, est\. cost/);
    expect(text).toMatch(/tuned: 20 examples, ~[\d,]+ training tokens × 2 epochs = [\d,]+ billed tokens; estimated cost \$0\.\d+/);
    expect(text).toMatch(/tuned: budget guard: would refuse: .*spending needs approval/);
    const yes = await runCli(dir, ['--dry-run', '--yes', '--max-cost', '1'], env());
    expect(yes.stdout + yes.stderr).toMatch(/tuned: budget guard: allowed \(approved by --yes, within the cap \$1\.00\)/);
    // --max-cost also caps generate (upper bound: n × max_tokens), before anything is sent.
    const capped = await runCli(dir, ['programs', '--max-cost', '0.05'], env());
    expect(capped.code).toBe(1);
    expect(capped.stderr).toMatch(/2 requests could cost up to \$0\.12 .*over --max-cost \$0\.05; nothing was sent/);
    expect(server.requests).toHaveLength(0);
    await expectNoKey(dir, [built, r, yes, capped]);
  });
});

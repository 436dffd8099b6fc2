import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import {
  BudgetError,
  checkBudget,
  estimateTrainingCost,
  FineTuneError,
  runFineTune,
  TrainingNotAvailableError,
  type FineTuneEvent,
} from '../src/llm/finetune.js';
import { FileJournal, MemoryJournal } from '../src/llm/journal.js';
import { createClient, type ProviderConfig } from '../src/llm/provider.js';
import { startOpenAIServer, type OpenAIServer, tempDir, TEST_KEY, removeTempDirs } from './support/openai-server.js';

afterAll(removeTempDirs);

const clientFor = (s: OpenAIServer, cfg: Partial<ProviderConfig> = {}) =>
  createClient({ provider: 'openai', baseURL: s.baseURL, maxRetries: 3, ...cfg }, { OPENAI_API_KEY: TEST_KEY });

let server: OpenAIServer;
let dir: string;
let trainPath: string;
let validPath: string;

function examples(n: number, tag: string) {
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      messages: [
        { role: 'system', content: 'You are a coding assistant AI specialised in writing x86-64 g++ Assembler code.' },
        { role: 'user', content: `Write a program ${tag} ${i}` },
        { role: 'assistant', content: `main:\n  mov eax, ${i}\n  ret` },
      ],
    }),
  ).join('\n') + '\n';
}

beforeEach(async () => {
  server = await startOpenAIServer({ apiKey: TEST_KEY });
  dir = await tempDir();
  trainPath = join(dir, 'train.jsonl');
  validPath = join(dir, 'valid.jsonl');
  await writeFile(trainPath, examples(12, 'train'));
  await writeFile(validPath, examples(10, 'valid'));
});
afterEach(async () => {
  await server.stop();
});

const base = () => ({
  trainPath,
  validPath,
  model: 'gpt-4o-mini-2024-07-18',
  suffix: 'asmgraph',
  hyperparameters: { n_epochs: 3 },
  pollMs: 5,
});

describe('runFineTune', () => {
  it('uploads, creates a supervised job, reports loss and returns the model id', async () => {
    const events: FineTuneEvent[] = [];
    const model = await runFineTune(clientFor(server), { ...base(), journal: new MemoryJournal(), onEvent: (e) => events.push(e) });
    expect(model).toMatch(/^ft:gpt-4o-mini-2024-07-18:org-test:asmgraph:/);
    const uploads = server.requests.filter((r) => r.route === 'POST /v1/files');
    expect(uploads.map((u) => u.body.purpose)).toEqual(['fine-tune', 'fine-tune']);
    const create = server.requests.find((r) => r.route === 'POST /v1/fine_tuning/jobs')!;
    expect(create.body.method).toEqual({ type: 'supervised', supervised: { hyperparameters: { n_epochs: 3 } } });
    expect(create.body.hyperparameters).toBeUndefined();
    expect(create.body.validation_file).toBe(server.files.get(create.body.validation_file)!.id);
    const metrics = events.filter((e) => e.type === 'metrics');
    expect(metrics.map((m) => (m as any).step)).toEqual([1, 2, 3]);
    for (const m of metrics) expect(typeof (m as any).trainLoss).toBe('number');
    const statuses = events.filter((e) => e.type === 'status').map((e) => (e as any).status);
    expect(statuses).toEqual(['queued', 'running', 'succeeded']);
    expect(events.at(-1)).toMatchObject({ type: 'done', model });
  });

  it('a second call with the same inputs never creates a second job', async () => {
    const journal = new MemoryJournal();
    const first = await runFineTune(clientFor(server), { ...base(), journal });
    const n = server.requests.length;
    const second = await runFineTune(clientFor(server), { ...base(), journal });
    expect(second).toBe(first);
    expect(server.requests.length).toBe(n);
    // Different hyperparameters are a different job.
    await runFineTune(clientFor(server), { ...base(), hyperparameters: { n_epochs: 2 }, journal });
    expect(server.count('POST /v1/fine_tuning/jobs')).toBe(2);
  });

  it('resumes polling the recorded job after an interruption', async () => {
    const path = join(dir, 'journal.json');
    const ac = new AbortController();
    await expect(
      runFineTune(clientFor(server), {
        ...base(),
        journal: new FileJournal(path),
        signal: ac.signal,
        onEvent: (e) => {
          if (e.type === 'created') ac.abort(new Error('interrupted'));
        },
      }),
    ).rejects.toThrow('interrupted');
    const events: FineTuneEvent[] = [];
    const model = await runFineTune(clientFor(server), { ...base(), journal: new FileJournal(path), onEvent: (e) => events.push(e) });
    expect(model).toMatch(/^ft:/);
    expect(server.count('POST /v1/fine_tuning/jobs')).toBe(1);
    expect(server.count('POST /v1/files')).toBe(2);
    expect(events[0]).toMatchObject({ type: 'resumed' });
  });

  it('403 training_not_available becomes TrainingNotAvailableError pointing to the command backend', async () => {
    server.script.trainingNotAvailable = true;
    const err = await runFineTune(clientFor(server), { ...base(), journal: new MemoryJournal() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainingNotAvailableError);
    expect((err as Error).message).toMatch(/training_not_available/);
    expect((err as Error).message).toMatch(/'command' fine-tune backend/);
    expect(server.count('POST /v1/fine_tuning/jobs')).toBe(1); // a 403 is not retried
  });

  it('a failed job throws, is not re-created by a second call, and retryFailed starts a new one', async () => {
    const journal = new MemoryJournal();
    server.script.jobs.push({ outcome: 'failed' });
    await expect(runFineTune(clientFor(server), { ...base(), journal })).rejects.toBeInstanceOf(FineTuneError);
    await expect(runFineTune(clientFor(server), { ...base(), journal })).rejects.toThrow(/failed: invalid_training_file/);
    expect(server.count('POST /v1/fine_tuning/jobs')).toBe(1);
    const model = await runFineTune(clientFor(server), { ...base(), journal, retryFailed: true });
    expect(model).toMatch(/^ft:/);
    expect(server.count('POST /v1/fine_tuning/jobs')).toBe(2);
    // And now the succeeded attempt is what a plain call returns.
    expect(await runFineTune(clientFor(server), { ...base(), journal })).toBe(model);
    expect(server.count('POST /v1/fine_tuning/jobs')).toBe(2);
  });

  it('refuses fewer than 10 examples and overlong suffixes before any request', async () => {
    await writeFile(trainPath, examples(5, 'few'));
    await expect(runFineTune(clientFor(server), { ...base(), journal: new MemoryJournal() })).rejects.toThrow(/at least 10/);
    await expect(runFineTune(clientFor(server), { ...base(), suffix: 'x'.repeat(19), journal: new MemoryJournal() })).rejects.toThrow(/18 characters/);
    expect(server.requests.length).toBe(0);
  });
});

describe('cost and budget', () => {
  it('estimates training cost from prices.json', () => {
    const e = estimateTrainingCost({ trainingTokens: 100_000, epochs: 3, model: 'gpt-4o-mini-2024-07-18' });
    expect(e.usd).toBeCloseTo(0.9, 6);
    expect(e.billedTokens).toBe(300_000);
    expect(estimateTrainingCost({ trainingTokens: 1_000_000, epochs: 1, model: 'gpt-4.1-mini' }).usd).toBe(5);
    expect(estimateTrainingCost({ trainingTokens: 1_000_000, epochs: 2, model: 'gpt-4.1-nano-2025-04-14' }).usd).toBe(3);
    expect(estimateTrainingCost({ trainingTokens: 1_000_000, epochs: 1, model: 'gpt-4.1' }).usd).toBe(25);
    expect(estimateTrainingCost({ trainingTokens: 1_000_000, epochs: 1, model: 'gpt-4o-2024-08-06' }).usd).toBe(25);
    expect(estimateTrainingCost({ trainingTokens: 1_000_000, epochs: 1, model: 'ft:gpt-4o-mini-2024-07-18:org::abc' }).usd).toBe(3);
    expect(estimateTrainingCost({ trainingTokens: 1, epochs: 1, model: 'mystery' }).usd).toBeNull();
    // auto epochs: 5 examples -> 20 epochs (cookbook rule)
    expect(estimateTrainingCost({ trainingTokens: 1000, epochs: 'auto', examples: 5, model: 'gpt-4o-mini' }).epochs).toBe(20);
    expect(estimateTrainingCost({ trainingTokens: 1000, epochs: 'auto', examples: 200, model: 'gpt-4o-mini' }).epochs).toBe(3);
  });

  it('the budget guard blocks unless allowed', () => {
    const estimate = estimateTrainingCost({ trainingTokens: 2_000_000, epochs: 3, model: 'gpt-4o-mini-2024-07-18' }); // $18
    expect(checkBudget({ estimate, maxCost: 10 })).toBeInstanceOf(BudgetError);
    expect(checkBudget({ estimate, maxCost: 10, yes: true })?.message).toMatch(/\$18\.00, over max_cost \$10\.00/);
    expect(checkBudget({ estimate })?.message).toMatch(/--yes/);
    expect(checkBudget({ estimate, maxCost: 20 })).toBeNull();
    expect(checkBudget({ estimate, yes: true })).toBeNull();
    const unknown = estimateTrainingCost({ trainingTokens: 1, epochs: 1, model: 'mystery' });
    expect(checkBudget({ estimate: unknown, maxCost: 100 })).toBeInstanceOf(BudgetError);
    expect(checkBudget({ estimate: unknown, yes: true })).toBeNull();
  });
});

import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createClient, type ProviderConfig, ProviderConfigError, redact, requireCapability, capabilities } from '../src/llm/provider.js';
import { runBatch } from '../src/llm/batch.js';
import { runOnline } from '../src/llm/chat.js';
import { runFineTune } from '../src/llm/finetune.js';
import { FileJournal } from '../src/llm/journal.js';
import { startOpenAIServer, type OpenAIServer, chatRequests, tempDir, TEST_KEY, removeTempDirs } from './support/openai-server.js';

afterAll(removeTempDirs);

const clientFor = (s: OpenAIServer, cfg: Partial<ProviderConfig> = {}) =>
  createClient({ provider: 'openai', baseURL: s.baseURL, maxRetries: 3, ...cfg }, { OPENAI_API_KEY: TEST_KEY });

let server: OpenAIServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe('createClient', () => {
  it('reads the key only from the environment and sends it', async () => {
    server = await startOpenAIServer({ apiKey: TEST_KEY });
    expect(() => createClient({ provider: 'openai', baseURL: server!.baseURL }, {})).toThrow(/OPENAI_API_KEY is not set/);
    expect(() => createClient({ provider: 'openai', apiKey: 'sk-x' } as any, { OPENAI_API_KEY: TEST_KEY })).toThrow(ProviderConfigError);
    // OPENAI_BASE_URL is honoured.
    const client = createClient({ provider: 'openai' }, { OPENAI_API_KEY: TEST_KEY, OPENAI_BASE_URL: server.baseURL });
    const res = await runOnline(client, chatRequests(1), { journal: new FileJournal(join(await tempDir(), 'j.json')) });
    expect(res.get('r-0')!.ok).toBe(true);
    expect(server.requests[0]!.headers.authorization).toBe(`Bearer ${TEST_KEY}`);
  });

  it('compatible: works without a key (dummy) but has no Batch API', async () => {
    server = await startOpenAIServer();
    const cfg = { provider: 'compatible' as const, baseURL: server.baseURL };
    const res = await runOnline(createClient(cfg, {}), chatRequests(2), { journal: new FileJournal(join(await tempDir(), 'j.json')) });
    expect([...res.values()].every((r) => r.ok)).toBe(true);
    expect(capabilities(cfg)).toEqual(['chat']);
    expect(() => requireCapability(cfg, 'batch')).toThrow("provider 'compatible' has no Batch API: set mode: online");
    expect(() => requireCapability(cfg, 'fine-tune')).toThrow(/'command' fine-tune backend/);
    expect(() => requireCapability({ provider: 'openai' }, 'batch')).not.toThrow();
    expect(() => requireCapability({ provider: 'azure' }, 'fine-tune')).not.toThrow();
  });

  it('azure: key and endpoint from the environment, deployment paths and api-key header', async () => {
    server = await startOpenAIServer({ apiKey: TEST_KEY });
    expect(() => createClient({ provider: 'azure' }, { AZURE_OPENAI_ENDPOINT: server!.url })).toThrow(/AZURE_OPENAI_API_KEY/);
    const client = createClient({ provider: 'azure', apiVersion: '2024-10-21' }, { AZURE_OPENAI_API_KEY: TEST_KEY, AZURE_OPENAI_ENDPOINT: server.url + '/' });
    const res = await runOnline(client, chatRequests(1), { journal: new FileJournal(join(await tempDir(), 'j.json')) });
    expect(res.get('r-0')!.ok).toBe(true);
    const r = server.requests[0]!;
    expect(r.headers['api-key']).toBe(TEST_KEY);
    expect(r.query['api-version']).toBe('2024-10-21');
    expect(r.route).toBe('POST /v1/chat/completions');
  });
});

describe('redact', () => {
  it('removes the values of *_KEY, *_TOKEN and *_SECRET variables', () => {
    const env = { OPENAI_API_KEY: 'sk-abcdef123456', HF_TOKEN: 'hf_tok_987654', MY_SECRET: 'hunter2hunter2', HOME: '/root', SHORT_KEY: '1' };
    const text = 'key sk-abcdef123456 token hf_tok_987654 secret hunter2hunter2 home /root 1';
    expect(redact(text, env)).toBe('key [REDACTED] token [REDACTED] secret [REDACTED] home /root 1');
  });
});

describe('secrets never reach the journal', () => {
  it('scans journal files after batch, online and fine-tune runs, including failures', async () => {
    server = await startOpenAIServer({ apiKey: TEST_KEY });
    const dir = await tempDir();
    const journal = new FileJournal(join(dir, 'journal.json'));
    server.script.batches.push({ outcome: 'expired', finished: 1 });
    await runBatch(clientFor(server), chatRequests(3), { journal, pollMs: 5 });
    await runBatch(clientFor(server), chatRequests(3), { journal, pollMs: 5 });
    server.inject('POST /v1/chat/completions', '500', 2);
    await runOnline(clientFor(server, { maxRetries: 1 }), chatRequests(3, 'gpt-4o-mini', 'o'), { journal, concurrency: 1 });
    const train = join(dir, 'train.jsonl');
    await writeFile(train, Array.from({ length: 10 }, (_, i) => JSON.stringify({ messages: [{ role: 'user', content: `q${i}` }, { role: 'assistant', content: `a${i}` }] })).join('\n'));
    await runFineTune(clientFor(server), { trainPath: train, model: 'gpt-4o-mini-2024-07-18', journal, pollMs: 5 });
    // A wrong key makes every call fail, and the server echoes it: errors must not carry it.
    const wrongKey = 'sk-wrong-0123456789abcdef';
    const wrong = createClient({ provider: 'openai', baseURL: server.baseURL, maxRetries: 0 }, { OPENAI_API_KEY: wrongKey });
    const bad = await runOnline(wrong, chatRequests(1, 'gpt-4o-mini', 'x'), { journal });
    const badResult = bad.get('x-0')!;
    expect(badResult.ok).toBe(false);
    expect(!badResult.ok && badResult.error).toMatch(/401 Incorrect API key provided: \[REDACTED\]/);
    const thrown = await runBatch(wrong, chatRequests(1, 'gpt-4o-mini', 'y'), { journal, pollMs: 5 }).catch((e: Error) => e);
    expect(String((thrown as Error).message)).toMatch(/401/);
    expect(String((thrown as Error).stack)).not.toContain(wrongKey);
    expect(String((thrown as Error).message)).not.toContain(wrongKey);

    const files = await readdir(dir);
    expect(files).toContain('journal.json');
    let scanned = 0;
    for (const f of files) {
      const text = await readFile(join(dir, f), 'utf8');
      scanned += text.length;
      expect(text).not.toContain(TEST_KEY);
      expect(text).not.toContain(wrongKey);
    }
    expect(scanned).toBeGreaterThan(1000);
  });
});

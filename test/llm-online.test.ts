import { afterEach, describe, expect, it } from 'vitest';
import { runOnline } from '../src/llm/chat.js';
import { runBatch } from '../src/llm/batch.js';
import { MemoryJournal } from '../src/llm/journal.js';
import { createClient, type ProviderConfig } from '../src/llm/provider.js';
import { startOpenAIServer, type OpenAIServer, chatRequests, contentOf, echoResponder, TEST_KEY } from './support/openai-server.js';

const clientFor = (s: OpenAIServer, cfg: Partial<ProviderConfig> = {}) =>
  createClient({ provider: 'openai', baseURL: s.baseURL, maxRetries: 3, ...cfg }, { OPENAI_API_KEY: TEST_KEY });

let server: OpenAIServer;
afterEach(async () => {
  await server?.stop();
});

describe('runOnline', () => {
  it('respects the concurrency limit and returns results in input order', async () => {
    server = await startOpenAIServer({ apiKey: TEST_KEY, responder: echoResponder, chatDelayMs: 40 });
    const reqs = chatRequests(12);
    const results = await runOnline(clientFor(server), reqs, { concurrency: 3, journal: new MemoryJournal() });
    expect(server.maxInFlight).toBeLessThanOrEqual(3);
    expect(server.maxInFlight).toBeGreaterThanOrEqual(2);
    expect(server.count('POST /v1/chat/completions')).toBe(12);
    expect([...results.keys()]).toEqual(reqs.map((r) => r.custom_id));
    for (const r of reqs) expect(contentOf(results.get(r.custom_id)!)).toContain(`prompt ${r.custom_id} `);
  });

  it('returns n choices', async () => {
    server = await startOpenAIServer({ apiKey: TEST_KEY, responder: echoResponder });
    const [req] = chatRequests(1);
    const results = await runOnline(clientFor(server), [{ ...req!, body: { ...req!.body, n: 3 } }], { journal: new MemoryJournal() });
    const r = results.get('r-0')!;
    expect(r.ok && r.body.choices.map((c) => c.message.content!.match(/choice (\d)/)![1])).toEqual(['0', '1', '2']);
  });

  it('retries 429 (honouring Retry-After), 500 and a dropped connection, then succeeds', async () => {
    server = await startOpenAIServer({ apiKey: TEST_KEY, responder: echoResponder });
    server.inject('POST /v1/chat/completions', { kind: '429', retryAfter: 1 });
    server.inject('POST /v1/chat/completions', '500');
    server.inject('POST /v1/chat/completions', 'drop');
    const t0 = Date.now();
    const results = await runOnline(clientFor(server, { maxRetries: 3 }), chatRequests(1), { journal: new MemoryJournal() });
    expect(results.get('r-0')!.ok).toBe(true);
    expect(server.requests.map((r) => r.fault ?? 'ok')).toEqual(['429', '500', 'drop', 'ok']);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000); // waited the Retry-After second
  });

  it('retries a request that times out', async () => {
    server = await startOpenAIServer({ apiKey: TEST_KEY });
    server.inject('POST /v1/chat/completions', 'hang');
    const results = await runOnline(clientFor(server, { maxRetries: 1, timeoutMs: 300 }), chatRequests(1), { journal: new MemoryJournal() });
    expect(results.get('r-0')!.ok).toBe(true);
    expect(server.count('POST /v1/chat/completions')).toBe(2);
  });

  it('a request that finally fails is an error value; only it is re-sent next time', async () => {
    server = await startOpenAIServer({ apiKey: TEST_KEY, responder: echoResponder });
    server.inject('POST /v1/chat/completions', '500', 2);
    const journal = new MemoryJournal();
    const reqs = chatRequests(3);
    const first = await runOnline(clientFor(server, { maxRetries: 1 }), reqs, { concurrency: 1, journal });
    expect(first.get('r-0')).toMatchObject({ ok: false });
    expect(!first.get('r-0')!.ok && (first.get('r-0') as any).error).toMatch(/500/);
    expect(first.get('r-1')!.ok && first.get('r-2')!.ok).toBe(true);
    expect(server.count('POST /v1/chat/completions')).toBe(4);

    const second = await runOnline(clientFor(server), reqs, { concurrency: 1, journal });
    expect(server.count('POST /v1/chat/completions')).toBe(5);
    expect(server.requests.at(-1)!.body.messages.at(-1).content).toBe('prompt r-0');
    expect([...second.values()].every((r) => r.ok)).toBe(true);
    // A third run sends nothing.
    await runOnline(clientFor(server), reqs, { journal });
    expect(server.count('POST /v1/chat/completions')).toBe(5);
  });

  it('shares journaled results with batch mode', async () => {
    server = await startOpenAIServer({ apiKey: TEST_KEY, responder: echoResponder });
    const journal = new MemoryJournal();
    const reqs = chatRequests(3);
    await runOnline(clientFor(server), reqs.slice(0, 2), { journal });
    const results = await runBatch(clientFor(server), reqs, { journal, pollMs: 5 });
    const upload = server.requests.find((r) => r.route === 'POST /v1/files')!;
    expect(upload.body.content.trim().split('\n').map((l: string) => JSON.parse(l).custom_id)).toEqual(['r-2']);
    expect([...results.values()].every((r) => r.ok)).toBe(true);
  });

  it('stops when the signal aborts', async () => {
    server = await startOpenAIServer({ apiKey: TEST_KEY, chatDelayMs: 50 });
    const ac = new AbortController();
    const journal = new MemoryJournal();
    let n = 0;
    const p = runOnline(clientFor(server), chatRequests(20), {
      concurrency: 2,
      journal,
      signal: ac.signal,
      onProgress: (e) => {
        if (e.type === 'done' && ++n === 2) ac.abort(new Error('stop'));
      },
    });
    await expect(p).rejects.toThrow('stop');
    expect(server.count('POST /v1/chat/completions')).toBeLessThan(20);
    expect(journal.entries.size).toBeGreaterThanOrEqual(2);
  });
});

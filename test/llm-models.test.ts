/**
 * The model table's request shapes, and that runOnline/runBatch send every request (generate's and
 * describe's too) in the shape its model takes: the local server answers 400 as OpenAI does when a
 * reasoning model gets max_tokens, a temperature or n.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runBatch } from '../src/llm/batch.js';
import { runOnline } from '../src/llm/chat.js';
import { MemoryJournal } from '../src/llm/journal.js';
import { answerText, modelShape, requestBody, shapeChatBody } from '../src/llm/models.js';
import { createClient } from '../src/llm/provider.js';
import { chatRequests, contentOf, echoResponder, removeTempDirs, startOpenAIServer, TEST_KEY, type OpenAIServer } from './support/openai-server.js';

let server: OpenAIServer;
afterEach(async () => {
  await server?.stop();
});
afterAll(() => removeTempDirs());

const clientFor = (s: OpenAIServer) => createClient({ provider: 'openai', baseURL: s.baseURL, maxRetries: 0 }, { OPENAI_API_KEY: TEST_KEY });

describe('the model table', () => {
  it('knows reasoning models by family, dated snapshot and fine-tune; the rest take max_tokens', () => {
    for (const m of ['gpt-5', 'gpt-5-mini-2025-08-07', 'o3', 'o4-mini', 'o1-2024-12-17', 'gpt-5.1', 'ft:gpt-5-mini-2025-08-07:org::x', 'gpt-6-luna']) {
      expect(modelShape(m).reasoning, m).toBe(true);
    }
    for (const m of ['gpt-4o-mini', 'gpt-4o-mini-2024-07-18', 'gpt-4.1-nano', 'gpt-5-chat-latest', 'ft:gpt-4o-mini-2024-07-18:org::y', 'meta-llama/Llama-3.3-70B-Instruct-Turbo', 'qwen2.5-coder:7b', 'omni-7b']) {
      expect(modelShape(m).reasoning, m).toBe(false);
    }
    expect(modelShape('my-reasoner', true).reasoning).toBe(true);
    expect(modelShape('gpt-5', false).reasoning).toBe(false);
  });

  it('builds chat and Responses bodies for each shape', () => {
    const r = { system: 'S', user: 'U', maxTokens: 100, temperature: 0.7, seed: 2 };
    expect(requestBody('chat', { ...r, model: 'gpt-5-mini' })).toEqual({
      model: 'gpt-5-mini', messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'U' }], max_completion_tokens: 100, seed: 2,
    });
    expect(requestBody('chat', { ...r, model: 'gpt-4.1-mini' })).toEqual({
      model: 'gpt-4.1-mini', messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'U' }], max_tokens: 100, temperature: 0.7, seed: 2,
    });
    expect(requestBody('responses', { ...r, model: 'o4-mini' })).toEqual({
      model: 'o4-mini', instructions: 'S', input: [{ role: 'user', content: 'U' }], max_output_tokens: 100, metadata: { sample: '2' },
    });
  });

  it('reads the text, usage and truncation of either API', () => {
    expect(answerText({ choices: [{ message: { content: 'a' }, finish_reason: 'length' }], usage: { prompt_tokens: 3, completion_tokens: 4 }, created: 9 }))
      .toEqual({ text: 'a', usage: { input: 3, output: 4 }, truncated: true, created: 9 });
    expect(answerText({ object: 'response', status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, created_at: 5, output: [{ type: 'reasoning' }, { type: 'message', content: [{ type: 'output_text', text: 'x' }, { type: 'output_text', text: 'y' }] }], usage: { input_tokens: 1, output_tokens: 2 } }))
      .toEqual({ text: 'xy', usage: { input: 1, output: 2 }, truncated: true, created: 5 });
  });

  it('shapeChatBody moves max_tokens to max_completion_tokens, drops temperature, refuses n > 1', () => {
    expect(shapeChatBody('/v1/chat/completions', { model: 'o3', max_tokens: 50, temperature: 0.2, messages: [] })).toEqual({ model: 'o3', max_completion_tokens: 50, messages: [] });
    const plain = { model: 'gpt-4o-mini', max_tokens: 50, temperature: 0.2 };
    expect(shapeChatBody('/v1/chat/completions', plain)).toBe(plain);
    expect(() => shapeChatBody('/v1/chat/completions', { model: 'gpt-5', n: 3 })).toThrow(/gpt-5 is a reasoning model and takes no n \(asked for n 3\)/);
  });
});

describe('requests as sent', () => {
  it('online: a reasoning model gets max_completion_tokens and no temperature; the server would answer 400 otherwise', async () => {
    server = await startOpenAIServer({ apiKey: TEST_KEY, responder: echoResponder });
    const reqs = chatRequests(2, 'gpt-5-mini').map((r) => ({ ...r, body: { ...r.body, temperature: 0.9 } }));
    const results = await runOnline(clientFor(server), reqs, { journal: new MemoryJournal() });
    for (const r of reqs) expect(contentOf(results.get(r.custom_id)!)).toContain(`prompt ${r.custom_id} `);
    const sent = server.requests.filter((r) => r.route === 'POST /v1/chat/completions');
    expect(sent).toHaveLength(2);
    for (const r of sent) {
      expect(r.body.max_completion_tokens).toBe(500);
      expect(r.body).not.toHaveProperty('max_tokens');
      expect(r.body).not.toHaveProperty('temperature');
    }
    // Unshaped, the same request is refused, as OpenAI refuses it.
    const raw = await runOnline(clientFor(server), reqs.slice(0, 1), { journal: new MemoryJournal(), shape: false });
    const r0 = raw.get(reqs[0]!.custom_id)!;
    expect(r0.ok).toBe(false);
    expect(!r0.ok && r0.error).toMatch(/Unsupported parameter: 'max_tokens'/);
  });

  it('batch: lines carry the shape too; n > 1 for a reasoning model is refused before anything is uploaded', async () => {
    server = await startOpenAIServer({ apiKey: TEST_KEY, responder: echoResponder });
    const client = clientFor(server);
    const results = await runBatch(client, chatRequests(2, 'o4-mini'), { journal: new MemoryJournal(), pollMs: 1 });
    expect([...results.values()].every((r) => r.ok)).toBe(true);
    const upload = server.requests.find((r) => r.route === 'POST /v1/files')!;
    for (const l of (upload.body.content as string).trim().split('\n').map((x) => JSON.parse(x))) {
      expect(l.body.max_completion_tokens).toBe(500);
      expect(l.body).not.toHaveProperty('max_tokens');
    }
    const before = server.requests.length;
    const withN = chatRequests(1, 'gpt-5').map((r) => ({ ...r, body: { ...r.body, n: 100 } }));
    await expect(runBatch(client, withN, { journal: new MemoryJournal(), pollMs: 1 })).rejects.toThrow(/takes no n \(asked for n 100\)/);
    expect(server.requests.length).toBe(before);
  });
});

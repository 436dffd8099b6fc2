/**
 * Online mode: concurrent chat completions (for providers without a Batch API, or when latency
 * matters more than the batch discount). Same result shape and item journal keys as `runBatch`, so a
 * result obtained in one mode is reused by the other.
 */
import type OpenAI from 'openai';
import pLimit from 'p-limit';
import type { ChatCompletion, ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { DEFAULT_ENDPOINT, itemKey, validateRequests, type ChatEndpoint, type LlmRequest, type LlmResult } from './batch.js';
import { isAnswerBody, shapeChatBody } from './models.js';
import type { Journal } from './journal.js';
import { errorMessage, type Json } from './json.js';
import { redactFor } from './provider.js';

export type OnlineProgress =
  | { type: 'cached'; count: number; total: number }
  | { type: 'done'; custom_id: string; ok: boolean; completed: number; total: number };

export interface OnlineOptions {
  /** Requests in flight at once (default 8). */
  concurrency?: number;
  journal: Journal;
  signal?: AbortSignal;
  onProgress?: (e: OnlineProgress) => void;
  /** `/v1/chat/completions` (default) or `/v1/responses` (the Responses API; its answer is kept as it came). */
  endpoint?: ChatEndpoint;
  /** Reshape each body for its model (`shapeChatBody`; default true). false: the bodies are already shaped. */
  shape?: boolean;
}

/**
 * Sends each request not already journaled as a chat completion, at most `concurrency` at a time.
 * The SDK retries 429/5xx/timeouts/dropped connections (see `createClient`'s `maxRetries`); a request
 * that still fails becomes `{ok: false, error}` for its custom_id and is not journaled. Aborting the
 * signal cancels requests in flight and rejects with the abort reason (journaled results stay).
 */
export async function runOnline(
  client: OpenAI,
  given: LlmRequest[],
  opts: OnlineOptions,
): Promise<Map<string, LlmResult>> {
  const { journal, signal, onProgress } = opts;
  const requests = opts.shape === false ? given : given.map((r) => ({ ...r, body: shapeChatBody(opts.endpoint ?? DEFAULT_ENDPOINT, r.body) }));
  const concurrency = opts.concurrency ?? 8;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error('concurrency must be a positive integer');
  validateRequests(requests);
  signal?.throwIfAborted();

  const results = new Map<string, LlmResult>();
  const endpoint = opts.endpoint ?? DEFAULT_ENDPOINT;
  const keys = requests.map((r) => itemKey(endpoint, r));
  const cached = await Promise.all(keys.map((k) => journal.get(k)));
  let done = 0;
  const todo: number[] = [];
  requests.forEach((r, i) => {
    const v = cached[i] as any;
    if (v && v.ok === true && isAnswerBody(v.body)) results.set(r.custom_id, { ok: true, body: v.body });
    else todo.push(i);
  });
  onProgress?.({ type: 'cached', count: results.size, total: requests.length });

  const limit = pLimit(concurrency);
  await Promise.all(
    todo.map((i) =>
      limit(async () => {
        const r = requests[i]!;
        if (signal?.aborted) return;
        let result: LlmResult;
        try {
          const body = { ...(r.body as object), stream: false } as ChatCompletionCreateParamsNonStreaming;
          const completion = endpoint === '/v1/responses'
            ? ((await client.responses.create(body as never, { signal })) as unknown as ChatCompletion)
            : await client.chat.completions.create(body, { signal });
          result = { ok: true, body: completion };
          await journal.put(keys[i]!, { ok: true, body: completion as unknown as Json });
        } catch (err) {
          if (signal?.aborted) return;
          result = { ok: false, error: redactFor(client, errorMessage(err)) };
        }
        results.set(r.custom_id, result);
        done++;
        onProgress?.({ type: 'done', custom_id: r.custom_id, ok: result.ok, completed: done, total: todo.length });
      }),
    ),
  );
  signal?.throwIfAborted();

  const out = new Map<string, LlmResult>();
  for (const r of requests) out.set(r.custom_id, results.get(r.custom_id)!);
  return out;
}

/**
 * `mode: online` for the per-item model kinds (describe, inputs): one chat completion per node,
 * journaled in the node's persistent folder so that a re-run after a crash does not pay again.
 * An infrastructure failure (bad key, unknown model, no connection) is an InfraError that stops
 * the build; any other failed request is the node's `llm-error`, a value.
 */
import OpenAI from 'openai';
import type { ChatCompletion } from 'openai/resources/chat/completions';
import { DEFAULT_ENDPOINT, itemKey, redactFor, shapeChatBody, type LlmRequest, type ProviderConfig } from '../../src/llm/index.js';
import type { Json } from '../../src/llm/json.js';
import { InfraError, type RunContext, type TaskResult } from '../../src/task-api.js';
import { clientFor, journalFor, scrub, type ChatMessage } from './llm-params.js';

/** A chat request as the kinds build it (shaped for the model only when it is sent). */
export type ChatRequest = LlmRequest & { body: { model: string; messages: ChatMessage[]; max_tokens: number; temperature?: number } };

/** Errors that are the setup's fault, not the item's: they fail the build instead of rejecting. */
function isInfrastructure(err: unknown): boolean {
  if (err instanceof OpenAI.AuthenticationError || err instanceof OpenAI.PermissionDeniedError || err instanceof OpenAI.NotFoundError) return true;
  return err instanceof OpenAI.APIConnectionError && !(err instanceof OpenAI.APIConnectionTimeoutError);
}

/** One chat completion, journaled in the node's persistent folder (a re-run after a crash does not pay again). */
export async function askOnline(ctx: RunContext, cfg: ProviderConfig, req: ChatRequest): Promise<{ completion: ChatCompletion } | TaskResult> {
  const client = clientFor(cfg);
  const journal = await journalFor(ctx, cfg);
  const key = itemKey(DEFAULT_ENDPOINT, req);
  const cached = (await journal.get(key)) as { ok?: boolean; body?: ChatCompletion } | undefined;
  if (cached?.ok && Array.isArray(cached.body?.choices)) {
    ctx.log('answer taken from the journal (no request sent)');
    return { completion: cached.body! };
  }
  let completion: ChatCompletion;
  try {
    // Shaped for the model (reasoning models take max_completion_tokens and no temperature).
    const body = shapeChatBody(DEFAULT_ENDPOINT, req.body) as typeof req.body;
    completion = await client.chat.completions.create({ ...body, stream: false }, { signal: ctx.signal });
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    const message = redactFor(client, err instanceof Error ? err.message : String(err));
    if (isInfrastructure(err)) throw new InfraError(message);
    return { status: 'rejected', reason: 'llm-error', message };
  }
  try {
    await journal.put(key, { ok: true, body: completion as unknown as Json });
  } catch (err) {
    throw scrub(err);
  }
  return { completion };
}

/**
 * `describe`: the user prompt of each training example. An item that has a human-written prompt
 * (`files.prompt`, the `files` kind's `{stem}.prompt.txt` sidecar) keeps it and nothing is sent;
 * for the others a chat model is asked, with the seed's system message, to describe the C++
 * program as a request to write it in assembler.
 *
 * One node and one online request per item, run in the engine's `llm` pool (settings.llmConcurrency
 * at a time) and cached per (model, system message, params, program hash) by the action key. A
 * request that still fails after the SDK's retries (429/5xx/timeouts) rejects only its item
 * (`llm-error`); wrong credentials, a missing model or an unreachable server fail the build.
 *
 * The Batch API is not offered here: one node per item would need a cross-node batcher, and the
 * describe step of a data set of hundreds of programs costs cents online. `mode: batch` is a
 * schema error that says so.
 */
import OpenAI from 'openai';
import type { ChatCompletion } from 'openai/resources/chat/completions';
import { DEFAULT_ENDPOINT, itemKey, redactFor, type LlmRequest } from '../src/llm/index.js';
import type { Json } from '../src/llm/json.js';
import {
  InfraError, type MapInput, type MapKind, type PlanContext, type RunContext, type TaskResult,
} from '../src/task-api.js';
import { chatCost } from './lib/chat-prices.js';
import {
  clientFor, costRange, fmtInt, journalFor, needCapability, promptTokens, providerConfig, providerSchema, scrub,
  type ChatMessage, type ProviderParams,
} from './lib/llm-params.js';

export const DEFAULT_DESCRIBE_SYSTEM = `You will be given code in C++.
Write detailed description what it does, but in form of a question to write a Assembler program that works like this. For example:
"Write program that will add, divide and multiply two numbers"
Sound like a human and do not be repetetive. Never ask "How...", but give commands.`;

interface DescribeParams {
  model: string;
  system?: string;
  max_tokens?: number;
  temperature?: number;
  mode?: 'online';
  provider?: ProviderParams;
}

function request(p: DescribeParams, code: string): LlmRequest & { body: { model: string; messages: ChatMessage[]; max_tokens: number; temperature?: number } } {
  return {
    custom_id: 'describe',
    body: {
      model: p.model,
      messages: [
        { role: 'system', content: p.system ?? DEFAULT_DESCRIBE_SYSTEM },
        { role: 'user', content: code },
      ],
      max_tokens: p.max_tokens ?? 300,
      ...(p.temperature !== undefined ? { temperature: p.temperature } : {}),
    },
  };
}

/** The model's answer as a prompt: trimmed, without quotes around the whole text. */
export function cleanPrompt(text: string): string {
  let t = text.trim();
  const pairs: [string, string][] = [['"', '"'], ['“', '”'], ["'", "'"]];
  for (const [a, b] of pairs) {
    if (t.length > 1 && t.startsWith(a) && t.endsWith(b) && !t.slice(1, -1).includes(b)) t = t.slice(1, -1).trim();
  }
  return t;
}

/** Errors that are the setup's fault, not the item's: they fail the build instead of rejecting. */
function isInfrastructure(err: unknown): boolean {
  if (err instanceof OpenAI.AuthenticationError || err instanceof OpenAI.PermissionDeniedError || err instanceof OpenAI.NotFoundError) return true;
  return err instanceof OpenAI.APIConnectionError && !(err instanceof OpenAI.APIConnectionTimeoutError);
}

export const describeKind: MapKind = {
  name: 'describe',
  version: '1',
  mode: 'map',
  pool: 'llm',
  description: 'Writes the user prompt of each program: the human sidecar if there is one, else a chat model\'s description.',
  reads: { from: ['src', 'prompt'] },
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['model'],
    properties: {
      model: { type: 'string', minLength: 1, description: 'Chat model (the seed used gpt-3.5-turbo).' },
      system: { type: 'string', minLength: 1, description: 'System message (default: the seed\'s "You will be given code in C++. Write detailed description ...").' },
      max_tokens: { type: 'integer', minimum: 1, description: 'Completion token limit (default 300).' },
      temperature: { type: 'number', minimum: 0, maximum: 2 },
      mode: {
        enum: ['online'],
        description: 'Only online: describe runs one request per item in the llm pool (the Batch API is not supported for this kind).',
      },
      provider: providerSchema,
    },
  },
  outputs: () => [{ name: 'prompt', ext: '.prompt.txt' }],

  async plan(input: MapInput, ctx: PlanContext): Promise<string[]> {
    const p = ctx.params as unknown as DescribeParams;
    const id = `${ctx.target}/${input.item.key}`;
    const from = input.inputs.from;
    if (from?.files.prompt) return [`${id}: has a human prompt; nothing to send`];
    if (!from?.files.src) return [`${id}: no source file; would be rejected`];
    needCapability(providerConfig(p.provider), 'chat');
    let pt: number;
    try {
      pt = promptTokens(request(p, (await ctx.read(from.files.src)).toString('utf8')).body.messages);
    } catch {
      // A dry run does not store source files: estimate from the size (~3.5 bytes a token for C++).
      pt = promptTokens(request(p, '').body.messages) + Math.ceil(from.files.src.size / 3.5);
    }
    const max = p.max_tokens ?? 300;
    return [`${id}: 1 request, ~${fmtInt(pt)} prompt tokens, at most ${fmtInt(max)} completion tokens, ${costRange(p.model, pt, max, false)}; dry run: nothing sent`];
  },

  async run(input: MapInput, ctx: RunContext): Promise<TaskResult> {
    const p = ctx.params as unknown as DescribeParams;
    const from = input.inputs.from;
    if (from?.files.prompt) {
      return { status: 'ok', files: { prompt: await ctx.read(from.files.prompt) }, meta: { origin: 'human' } };
    }
    if (!from?.files.src) return { status: 'rejected', reason: 'no-source', message: `item ${input.item.key} has no "src" file to describe` };
    const cfg = providerConfig(p.provider);
    needCapability(cfg, 'chat');
    const req = request(p, (await ctx.read(from.files.src)).toString('utf8'));
    const client = clientFor(cfg);
    const journal = await journalFor(ctx, cfg);
    const key = itemKey(DEFAULT_ENDPOINT, req);
    let completion: ChatCompletion | undefined;
    const cached = (await journal.get(key)) as { ok?: boolean; body?: ChatCompletion } | undefined;
    if (cached?.ok && Array.isArray(cached.body?.choices)) {
      completion = cached.body;
      ctx.log('answer taken from the journal (no request sent)');
    } else {
      try {
        completion = await client.chat.completions.create({ ...req.body, stream: false }, { signal: ctx.signal });
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        const message = redactFor(client, err instanceof Error ? err.message : String(err));
        if (isInfrastructure(err)) throw new InfraError(`${message}`);
        return { status: 'rejected', reason: 'llm-error', message };
      }
      try {
        await journal.put(key, { ok: true, body: completion as unknown as Json });
      } catch (err) {
        throw scrub(err);
      }
    }
    const text = cleanPrompt(completion.choices[0]?.message?.content ?? '');
    if (!text) return { status: 'rejected', reason: 'llm-error', message: `the model gave an empty answer (finish_reason ${completion.choices[0]?.finish_reason ?? 'none'})` };
    const usage = completion.usage;
    const cost = chatCost(p.model, usage?.prompt_tokens ?? 0, usage?.completion_tokens ?? 0, false);
    return {
      status: 'ok',
      files: { prompt: `${text}\n` },
      meta: {
        origin: 'model', model: p.model,
        promptTokens: usage?.prompt_tokens ?? 0, completionTokens: usage?.completion_tokens ?? 0,
        ...(cost !== null ? { costUsd: Math.round(cost * 1e6) / 1e6 } : {}),
      },
    };
  },
};

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
 * `mode: batch` sends the requests of every item of the target that needs a description as one
 * Batch API batch instead (tasks/lib/llm-batch.ts: the engine's `gather` collects them; the batch id
 * is journaled at once and a restarted build resumes it, so nothing is paid twice). A line the API
 * refused rejects its item (`llm-error`); a line left unanswered (expired, cancelled) fails its
 * node, and the next build asks again for those only.
 */
import type { ChatCompletion } from 'openai/resources/chat/completions';
import type {
  JsonObject, MapInput, MapKind, PlanContext, RunContext, TaskResult,
} from '../src/task-api.js';
import { chatCost } from './lib/chat-prices.js';
import { batchedChat, batchFailure, batchRequest } from './lib/llm-batch.js';
import { askOnline, type ChatRequest } from './lib/llm-online.js';
import {
  costRange, DEFAULT_POLL_MS, fmtInt, needCapability, pollMsSchema, promptTokens, providerConfig, providerSchema,
  type ProviderParams,
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
  mode?: 'online' | 'batch';
  pollMs?: number;
  provider?: ProviderParams;
}

function request(p: DescribeParams, code: string): ChatRequest {
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
        enum: ['online', 'batch'],
        description: 'online (default): one chat request per item in the llm pool; batch: the requests of all the target\'s items that need a description go as one Batch API batch (half the price, up to 24 h; resumed after a crash).',
      },
      pollMs: { ...pollMsSchema, description: 'mode batch: milliseconds between status polls of the batch (default 30000).' },
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
    const batch = p.mode === 'batch';
    needCapability(providerConfig(p.provider), batch ? 'batch' : 'chat');
    let pt: number;
    try {
      pt = promptTokens(request(p, (await ctx.read(from.files.src)).toString('utf8')).body.messages);
    } catch {
      // A dry run does not store source files: estimate from the size (~3.5 bytes a token for C++).
      pt = promptTokens(request(p, '').body.messages) + Math.ceil(from.files.src.size / 3.5);
    }
    const max = p.max_tokens ?? 300;
    return [`${id}: ${batch ? `1 line of the target's batch` : '1 request'}, ~${fmtInt(pt)} prompt tokens, at most ${fmtInt(max)} completion tokens, ${costRange(p.model, pt, max, batch)}; dry run: nothing sent`];
  },

  async run(input: MapInput, ctx: RunContext): Promise<TaskResult> {
    const p = ctx.params as unknown as DescribeParams;
    const from = input.inputs.from;
    if (from?.files.prompt) {
      return { status: 'ok', files: { prompt: await ctx.read(from.files.prompt) }, meta: { origin: 'human' } };
    }
    if (!from?.files.src) return { status: 'rejected', reason: 'no-source', message: `item ${input.item.key} has no "src" file to describe` };
    const cfg = providerConfig(p.provider);
    const batch = p.mode === 'batch';
    needCapability(cfg, batch ? 'batch' : 'chat');
    const req = request(p, (await ctx.read(from.files.src)).toString('utf8'));
    let completion: ChatCompletion;
    if (batch) {
      const answer = await batchedChat(ctx, cfg, batchRequest('describe', req.body as unknown as JsonObject), p.pollMs ?? DEFAULT_POLL_MS);
      if (!answer.ok) return batchFailure(answer);
      completion = answer.body;
      ctx.log(`answered in the target's batch (${answer.batches.join(', ') || 'from its journal'})`);
    } else {
      const online = await askOnline(ctx, cfg, req);
      if ('status' in online) return online;
      completion = online.completion;
    }
    const text = cleanPrompt(completion.choices[0]?.message?.content ?? '');
    if (!text) return { status: 'rejected', reason: 'llm-error', message: `the model gave an empty answer (finish_reason ${completion.choices[0]?.finish_reason ?? 'none'})` };
    const usage = completion.usage;
    const cost = chatCost(p.model, usage?.prompt_tokens ?? 0, usage?.completion_tokens ?? 0, batch);
    return {
      status: 'ok',
      files: { prompt: `${text}\n` },
      meta: {
        origin: 'model', model: p.model, ...(batch ? { mode: 'batch' } : {}),
        promptTokens: usage?.prompt_tokens ?? 0, completionTokens: usage?.completion_tokens ?? 0,
        ...(cost !== null ? { costUsd: Math.round(cost * 1e6) / 1e6 } : {}),
      },
    };
  },
};


/**
 * The model table for request shapes: which chat parameters a model accepts, and how one logical
 * request ("these messages, at most N answer tokens, this temperature, sample i") becomes the body
 * of a Chat Completions or a Responses API call.
 *
 * Reasoning models (the gpt-5 family, the o-series, gpt-6) reject `max_tokens` (they take
 * `max_completion_tokens`, which also bounds the hidden reasoning tokens), any non-default
 * `temperature`, and `n` other than 1. Every other model — older OpenAI chat models, Together's
 * open-weight models, vLLM, llama.cpp — takes `max_tokens` and `temperature`.
 *
 * Kept apart from token limits (another table) and from prices (tasks/lib/chat-prices.ts), so the
 * three can be joined by model name. Matching is by the longest prefix of the name (after an `ft:`
 * prefix), so dated snapshots and fine-tunes inherit their family's shape.
 */

export interface ModelShape {
  /** The table entry that matched (a name prefix), or null for the default. */
  key: string | null;
  /** true: max_completion_tokens, no temperature, no n. */
  reasoning: boolean;
}

/** Name prefixes, longest match wins. */
const TABLE: Record<string, { reasoning: boolean }> = {
  o1: { reasoning: true },
  o3: { reasoning: true },
  o4: { reasoning: true },
  'gpt-5': { reasoning: true },
  // The chat-tuned gpt-5 snapshot is not a reasoning model.
  'gpt-5-chat': { reasoning: false },
  'gpt-6': { reasoning: true },
  'gpt-4': { reasoning: false },
  'gpt-4o': { reasoning: false },
  'gpt-4.1': { reasoning: false },
  'gpt-3.5': { reasoning: false },
};

/** The shape of a model's requests; `override` (a pipeline's `reasoning: true|false`) wins. */
export function modelShape(model: string, override?: boolean): ModelShape {
  let name = model;
  if (name.startsWith('ft:')) name = name.split(':')[1] ?? name;
  let best: string | null = null;
  for (const key of Object.keys(TABLE)) {
    if ((name === key || name.startsWith(`${key}-`) || name.startsWith(`${key}.`)) && (best === null || key.length > best.length)) best = key;
  }
  const reasoning = override ?? (best !== null ? TABLE[best]!.reasoning : false);
  return { key: best, reasoning };
}

export type ApiKind = 'chat' | 'responses';

export const ENDPOINT_OF: Record<ApiKind, '/v1/chat/completions' | '/v1/responses'> = {
  chat: '/v1/chat/completions',
  responses: '/v1/responses',
};

export interface LogicalRequest {
  model: string;
  system: string;
  user: string;
  /** Upper bound on the answer's tokens (for reasoning models: reasoning + answer). */
  maxTokens: number;
  /** Ignored for reasoning models, which only take the default. */
  temperature?: number;
  /** The sample index, sent as `seed` so that k samples are k distinct requests and journal entries. */
  seed?: number;
  /** Overrides the table's verdict for this model. */
  reasoning?: boolean;
}

/** The request body for `api`, shaped for the model. */
export function requestBody(api: ApiKind, r: LogicalRequest): Record<string, unknown> {
  const { reasoning } = modelShape(r.model, r.reasoning);
  if (api === 'responses') {
    // The Responses API names the limit max_output_tokens for every model and has no `n` and no `seed`;
    // the sample index goes into `metadata`, which it accepts and echoes.
    return {
      model: r.model,
      instructions: r.system,
      input: [{ role: 'user', content: r.user }],
      max_output_tokens: r.maxTokens,
      ...(!reasoning && r.temperature !== undefined ? { temperature: r.temperature } : {}),
      ...(r.seed !== undefined ? { metadata: { sample: String(r.seed) } } : {}),
    };
  }
  return {
    model: r.model,
    messages: [
      { role: 'system', content: r.system },
      { role: 'user', content: r.user },
    ],
    ...(reasoning ? { max_completion_tokens: r.maxTokens } : { max_tokens: r.maxTokens }),
    ...(!reasoning && r.temperature !== undefined ? { temperature: r.temperature } : {}),
    ...(r.seed !== undefined ? { seed: r.seed } : {}),
  };
}

/** The answer token limit a body carries, whatever its shape. */
export function maxTokensOf(body: Record<string, unknown>): number {
  for (const k of ['max_completion_tokens', 'max_tokens', 'max_output_tokens']) if (typeof body[k] === 'number') return body[k] as number;
  return 0;
}

/** The prompt text of a body, whatever its shape (for token estimates). */
export function messagesOf(body: Record<string, unknown>): { role: 'system' | 'user' | 'assistant'; content: string }[] {
  if (Array.isArray(body.messages)) return body.messages as { role: 'system' | 'user' | 'assistant'; content: string }[];
  const out: { role: 'system' | 'user' | 'assistant'; content: string }[] = [];
  if (typeof body.instructions === 'string') out.push({ role: 'system', content: body.instructions });
  if (typeof body.input === 'string') out.push({ role: 'user', content: body.input });
  else if (Array.isArray(body.input)) out.push(...(body.input as { role: 'user'; content: string }[]));
  return out;
}

/** What an answer says, from a Chat Completion or a Responses API object. */
export interface AnswerText {
  text: string;
  usage?: { input: number; output: number };
  /** The answer was cut off at the token limit. */
  truncated: boolean;
  /** Unix seconds. */
  created: number;
}

export function answerText(body: unknown): AnswerText {
  const b = (body ?? {}) as Record<string, any>;
  if (Array.isArray(b.choices)) {
    const c = b.choices[0];
    return {
      text: c?.message?.content ?? '',
      ...(b.usage ? { usage: { input: b.usage.prompt_tokens ?? 0, output: b.usage.completion_tokens ?? 0 } } : {}),
      truncated: c?.finish_reason === 'length',
      created: typeof b.created === 'number' ? b.created : 0,
    };
  }
  let text = typeof b.output_text === 'string' ? b.output_text : '';
  if (!text && Array.isArray(b.output)) {
    for (const item of b.output) {
      if (item?.type !== 'message' || !Array.isArray(item.content)) continue;
      for (const part of item.content) if (part?.type === 'output_text' && typeof part.text === 'string') text += part.text;
    }
  }
  return {
    text,
    ...(b.usage ? { usage: { input: b.usage.input_tokens ?? 0, output: b.usage.output_tokens ?? 0 } } : {}),
    truncated: b.status === 'incomplete' && b.incomplete_details?.reason === 'max_output_tokens',
    created: typeof b.created_at === 'number' ? b.created_at : 0,
  };
}

/** Whether a journaled or batch body is a usable answer of either API. */
export function isAnswerBody(v: unknown): boolean {
  if (!v || typeof v !== 'object') return false;
  const b = v as { choices?: unknown; object?: unknown; output?: unknown };
  return Array.isArray(b.choices) || (b.object === 'response' && Array.isArray(b.output));
}

/**
 * A Chat Completions body reshaped for its model: for a reasoning model `max_tokens` becomes
 * `max_completion_tokens` and `temperature` is dropped; `n` > 1 is refused before anything is sent
 * (ask for that many requests instead). Other bodies, and other endpoints, are returned as they are.
 * runOnline and runBatch apply it to every request, so generate and describe send what the model takes.
 */
export function shapeChatBody(endpoint: string, body: object): object {
  if (endpoint !== '/v1/chat/completions' || !body || typeof body !== 'object') return body;
  const b = body as Record<string, unknown>;
  const model = typeof b.model === 'string' ? b.model : '';
  if (!modelShape(model).reasoning) return body;
  if (typeof b.n === 'number' && b.n > 1) {
    throw new Error(`${model} is a reasoning model and takes no n (asked for n ${b.n}): send ${b.n} requests instead, or use a non-reasoning model`);
  }
  const out: Record<string, unknown> = { ...b };
  if (out.max_tokens !== undefined) {
    if (out.max_completion_tokens === undefined) out.max_completion_tokens = out.max_tokens;
    delete out.max_tokens;
  }
  delete out.temperature;
  delete out.n;
  return out;
}

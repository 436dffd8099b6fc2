/**
 * Token limits of the models a dataset can be made for, and the tokenizer that counts for each.
 * Kept apart from the request/price table so the two can be joined by model id.
 *
 * - `trainingTokens`: the longest training example the model's fine-tuning accepts (OpenAI
 *   silently truncates longer ones); for open-weight models, the native context length.
 * - `outputTokens`: the longest answer the model can write back; an example whose assistant
 *   message is longer teaches answers that get cut off. `null`: bounded by the context only.
 * - `tokenizer`: which encoder counts tokens, and `exact` whether that is the model's own.
 */

export type TokenizerName = 'o200k' | 'cl100k' | 'llama3' | 'qwen2';

export interface ModelLimits {
  id: string;
  family: string;
  trainingTokens: number;
  outputTokens: number | null;
  tokenizer: TokenizerName;
  /** True when the counts come from the model's own tokenizer. */
  exact: boolean;
  note: string;
}

export const MODEL_LIMITS: readonly ModelLimits[] = [
  { id: 'gpt-4o-mini-2024-07-18', family: 'OpenAI', trainingTokens: 65_536, outputTokens: 16_384, tokenizer: 'o200k', exact: true, note: 'OpenAI fine-tuning: 65,536 tokens per training example; 16,384 output tokens.' },
  { id: 'gpt-4o-2024-08-06', family: 'OpenAI', trainingTokens: 65_536, outputTokens: 16_384, tokenizer: 'o200k', exact: true, note: 'OpenAI fine-tuning: 65,536 tokens per training example; 16,384 output tokens.' },
  { id: 'gpt-3.5-turbo-0125', family: 'OpenAI', trainingTokens: 16_385, outputTokens: 4_096, tokenizer: 'cl100k', exact: true, note: 'OpenAI fine-tuning: 16,385 tokens per training example; 4,096 output tokens.' },
  { id: 'Qwen/Qwen3-8B', family: 'Qwen3', trainingTokens: 32_768, outputTokens: null, tokenizer: 'qwen2', exact: true, note: 'Native context 32,768 (131,072 with YaRN); no output limit of its own: prompt and answer share the context. Counted with the Qwen3 tokenizer package (its own vocabulary and merges); chat-template tokens are estimated. The default pipeline\'s model: fine-tuned on Together (backend: together) or locally (examples/train/), it keeps working after OpenAI\'s wind-down.' },
  { id: 'Qwen/Qwen2.5-Coder-7B-Instruct', family: 'Qwen2.5-Coder', trainingTokens: 32_768, outputTokens: 8_192, tokenizer: 'qwen2', exact: false, note: 'Native context 32,768 (131,072 with YaRN); Qwen2.5 generates up to 8,192 tokens. Counted with the Qwen3 tokenizer package, which has the same byte-level BPE vocabulary and merges as Qwen2.5 (special tokens aside): chat-template tokens are estimated.' },
  { id: 'Qwen/Qwen2.5-Coder-32B-Instruct', family: 'Qwen2.5-Coder', trainingTokens: 32_768, outputTokens: 8_192, tokenizer: 'qwen2', exact: false, note: 'As Qwen2.5-Coder-7B-Instruct.' },
  { id: 'meta-llama/Llama-3.1-8B-Instruct', family: 'Llama 3.x', trainingTokens: 131_072, outputTokens: null, tokenizer: 'llama3', exact: true, note: 'Context 131,072; no separate output limit. Llama 3 tokenizer (shared by 3.0–3.3); chat-template tokens are estimated.' },
  { id: 'meta-llama/Llama-3.2-3B-Instruct', family: 'Llama 3.x', trainingTokens: 131_072, outputTokens: null, tokenizer: 'llama3', exact: true, note: 'Context 131,072; no separate output limit.' },
  { id: 'meta-llama/Meta-Llama-3-8B-Instruct', family: 'Llama 3.x', trainingTokens: 8_192, outputTokens: null, tokenizer: 'llama3', exact: true, note: 'Llama 3.0: context 8,192.' },
];

/** The limits for a model id; unknown ids get gpt-4o-mini's limits and o200k counts, flagged inexact. */
export function limitsFor(model: string): ModelLimits {
  const m = MODEL_LIMITS.find((x) => x.id === model);
  if (m) return m;
  const base = MODEL_LIMITS[0]!;
  return { ...base, id: model, family: 'unknown', exact: false, note: `not in the model table: ${base.id}'s limits and o200k counts are assumed` };
}

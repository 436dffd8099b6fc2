/**
 * Chat-completion prices used by --dry-run plans and generate/describe reports, in USD per 1M
 * tokens (standard tier; the Batch API bills half). A snapshot of the OpenAI pricing page; re-check
 * before large runs. Models not listed get no cost estimate (token counts are still shown).
 */

export interface ChatPrice {
  /** The table entry that matched. */
  key: string;
  input: number;
  output: number;
}

const TABLE: Record<string, { input: number; output: number; aliases?: string[] }> = {
  'gpt-4o-mini-2024-07-18': { input: 0.15, output: 0.6, aliases: ['gpt-4o-mini'] },
  'gpt-4o-2024-08-06': { input: 2.5, output: 10, aliases: ['gpt-4o'] },
  'gpt-4.1-2025-04-14': { input: 2, output: 8, aliases: ['gpt-4.1'] },
  'gpt-4.1-mini-2025-04-14': { input: 0.4, output: 1.6, aliases: ['gpt-4.1-mini'] },
  'gpt-4.1-nano-2025-04-14': { input: 0.1, output: 0.4, aliases: ['gpt-4.1-nano'] },
  'gpt-5-2025-08-07': { input: 1.25, output: 10, aliases: ['gpt-5'] },
  'gpt-5-mini-2025-08-07': { input: 0.25, output: 2, aliases: ['gpt-5-mini'] },
  'gpt-5-nano-2025-08-07': { input: 0.05, output: 0.4, aliases: ['gpt-5-nano'] },
  'gpt-3.5-turbo-0125': { input: 0.5, output: 1.5, aliases: ['gpt-3.5-turbo'] },
  // Inference on fine-tuned models (`ft:<base>:...`).
  'ft:gpt-4o-mini-2024-07-18': { input: 0.3, output: 1.2, aliases: ['ft:gpt-4o-mini'] },
  'ft:gpt-4.1-mini-2025-04-14': { input: 0.8, output: 3.2, aliases: ['ft:gpt-4.1-mini'] },
  'ft:gpt-4.1-nano-2025-04-14': { input: 0.2, output: 0.8, aliases: ['ft:gpt-4.1-nano'] },
};

/** Batch API discount on chat completions. */
export const BATCH_DISCOUNT = 0.5;

/** The price of a model name (alias, dated snapshot, or `ft:<base>:<org>:...`), or null. */
export function chatPrice(model: string): ChatPrice | null {
  let name = model;
  if (name.startsWith('ft:')) name = `ft:${name.split(':')[1] ?? ''}`;
  for (const [key, p] of Object.entries(TABLE)) {
    if (key === name || p.aliases?.includes(name)) return { key, input: p.input, output: p.output };
  }
  // An unlisted dated snapshot: the longest name that is a prefix of it.
  let best: (ChatPrice & { len: number }) | null = null;
  for (const [key, p] of Object.entries(TABLE)) {
    for (const cand of [key, ...(p.aliases ?? [])]) {
      if (name.startsWith(`${cand}-`) && (!best || cand.length > best.len)) best = { key, input: p.input, output: p.output, len: cand.length };
    }
  }
  return best ? { key: best.key, input: best.input, output: best.output } : null;
}

/** Cost of a number of prompt and completion tokens, or null for an unknown model. */
export function chatCost(model: string, promptTokens: number, completionTokens: number, batch: boolean): number | null {
  const p = chatPrice(model);
  if (!p) return null;
  const usd = (promptTokens * p.input + completionTokens * p.output) / 1_000_000;
  return batch ? usd * BATCH_DISCOUNT : usd;
}

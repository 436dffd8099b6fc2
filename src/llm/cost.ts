/**
 * Training cost estimates from the bundled price table. Kept apart from finetune.ts so that
 * estimating a cost (the dataset report does it on every build) does not load the OpenAI SDK.
 */
import bundledPrices from './prices.json' with { type: 'json' };

export interface PriceTable {
  currency?: string;
  models: Record<string, { training: number; aliases?: string[] }>;
}

/** The bundled price table (src/llm/prices.json). */
export const DEFAULT_PRICES: PriceTable = bundledPrices as PriceTable;

export type Epochs = number | 'auto';

export interface CostEstimate {
  model: string;
  /** The price-table entry used, or null when the model is unknown. */
  priceModel: string | null;
  trainingTokens: number;
  epochs: number;
  billedTokens: number;
  usdPerMillion: number | null;
  /** Estimated cost in USD, or null when the model has no known price. */
  usd: number | null;
}

/** Resolves a model name (alias, dated snapshot, or `ft:<base>:...`) to a price-table entry. */
export function findPrice(model: string, prices: PriceTable = DEFAULT_PRICES): { key: string; training: number } | null {
  let name = model;
  if (name.startsWith('ft:')) name = name.split(':')[1] ?? name;
  const entries = Object.entries(prices.models);
  for (const [key, p] of entries) if (key === name || p.aliases?.includes(name)) return { key, training: p.training };
  // A dated snapshot not in the table: longest alias or key that is a prefix of the name.
  let best: { key: string; training: number; len: number } | null = null;
  for (const [key, p] of entries) {
    for (const cand of [key, ...(p.aliases ?? [])]) {
      if (name.startsWith(cand + '-') && (!best || cand.length > best.len)) best = { key, training: p.training, len: cand.length };
    }
  }
  return best ? { key: best.key, training: best.training } : null;
}

/**
 * Epochs OpenAI's `auto` is expected to pick (the cookbook's rule: 3, raised for tiny data sets so
 * that examples x epochs >= 100, lowered for huge ones so that it stays <= 25,000).
 */
export function autoEpochs(examples: number | undefined): number {
  const target = 3;
  if (!examples || examples <= 0) return target;
  if (examples * target < 100) return Math.min(25, Math.floor(100 / examples));
  if (examples * target > 25_000) return Math.max(1, Math.floor(25_000 / examples));
  return target;
}

export function estimateTrainingCost(
  input: { trainingTokens: number; epochs: Epochs; model: string; examples?: number },
  prices: PriceTable = DEFAULT_PRICES,
): CostEstimate {
  const epochs = input.epochs === 'auto' ? autoEpochs(input.examples) : input.epochs;
  if (!Number.isFinite(epochs) || epochs < 1) throw new Error(`epochs must be >= 1 (got ${String(input.epochs)})`);
  if (!Number.isFinite(input.trainingTokens) || input.trainingTokens < 0) throw new Error('trainingTokens must be >= 0');
  const price = findPrice(input.model, prices);
  const billedTokens = input.trainingTokens * epochs;
  const usd = price ? Math.round(((billedTokens / 1_000_000) * price.training) * 10_000) / 10_000 : null;
  return {
    model: input.model,
    priceModel: price?.key ?? null,
    trainingTokens: input.trainingTokens,
    epochs,
    billedTokens,
    usdPerMillion: price?.training ?? null,
    usd,
  };
}


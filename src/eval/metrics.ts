/**
 * Per-sample verdicts, the unbiased pass@k estimator and per-model summaries. Pure arithmetic.
 */

/**
 * What happened to one sample, in pipeline order. Each stage implies all earlier ones passed:
 * `ok` means the program's output matched the reference output.
 */
export const VERDICTS = ['no-asm', 'assemble-error', 'link-error', 'crash', 'timeout', 'output-mismatch', 'ok'] as const;
export type Verdict = (typeof VERDICTS)[number];

export function isVerdict(x: unknown): x is Verdict {
  return typeof x === 'string' && (VERDICTS as readonly string[]).includes(x);
}

/** The cumulative stages reported as rates. */
export const STAGES = ['extracted', 'assembles', 'links', 'runs', 'matches'] as const;
export type Stage = (typeof STAGES)[number];

/** Whether a sample with this verdict got through `stage`. */
export function reachedStage(verdict: Verdict, stage: Stage): boolean {
  switch (stage) {
    case 'extracted':
      return verdict !== 'no-asm';
    case 'assembles':
      return verdict !== 'no-asm' && verdict !== 'assemble-error';
    case 'links':
      return reachedStage(verdict, 'assembles') && verdict !== 'link-error';
    case 'runs':
      return reachedStage(verdict, 'links') && verdict !== 'crash' && verdict !== 'timeout';
    case 'matches':
      return verdict === 'ok';
  }
}

/**
 * The unbiased pass@k estimator of Chen et al. 2021 ("Evaluating Large Language Models Trained on
 * Code"): with n samples of which c are correct, 1 - C(n-c, k) / C(n, k), computed as the stable
 * product 1 - ∏_{i=n-c+1}^{n} (1 - k/i) so that no binomial coefficient is ever formed.
 * Edge cases: c = 0 → 0; n - c < k (every k-subset holds a correct sample) → 1.
 * Throws RangeError unless n, c, k are integers with 0 ≤ c ≤ n and 1 ≤ k ≤ n.
 */
export function passAtK(n: number, c: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(c) || !Number.isInteger(k)) {
    throw new RangeError(`passAtK: n, c, k must be integers (got n=${n}, c=${c}, k=${k})`);
  }
  if (n < 1 || c < 0 || c > n) throw new RangeError(`passAtK: need 0 <= c <= n and n >= 1 (got n=${n}, c=${c})`);
  if (k < 1 || k > n) throw new RangeError(`passAtK: need 1 <= k <= n (got n=${n}, k=${k})`);
  if (c === 0) return 0;
  if (n - c < k) return 1;
  let prodFail = 1;
  for (let i = n - c + 1; i <= n; i++) prodFail *= 1 - k / i;
  return 1 - prodFail;
}

/** $ per 1M tokens. */
export interface ModelPrice {
  input: number;
  output: number;
}

/** The fields of a sample that metrics need (the report's samples carry more). */
export interface MetricSample {
  model: string;
  prompt: string;
  verdict: Verdict;
  /** Token usage of the request that produced this sample, when known. */
  usage?: { input: number; output: number };
}

export interface SummarizeOptions {
  /** k for pass@k (default 5). pass@1 is always reported. */
  k?: number;
  /** Model ids in display order; models with no samples still get a row. Default: order of first appearance. */
  models?: string[];
  /** Prices by model id; models without a price get `cost: null`. */
  prices?: Record<string, ModelPrice>;
}

export type StageCounts = Record<Stage, number>;

export interface ModelMetrics {
  model: string;
  /** Number of samples. */
  samples: number;
  /** Number of distinct prompts with at least one sample. */
  prompts: number;
  verdicts: Record<Verdict, number>;
  /** Samples that got through each stage. */
  counts: StageCounts;
  /** counts / samples (0 when there are no samples). */
  rates: StageCounts;
  /** Mean over prompts of passAtK(n, c, 1), i.e. the mean per-prompt success fraction; null without samples. */
  passAt1: number | null;
  k: number;
  /** Mean over prompts with at least k samples of passAtK(n, c, k); null when no prompt has k samples. */
  passAtK: number | null;
  /** How many prompts pass@k was averaged over. */
  passAtKPrompts: number;
  /** 95 % confidence interval of pass@k over prompts (see `meanInterval`); null with fewer than 2 prompts. */
  passAtKInterval: [number, number] | null;
  /** The same for pass@1. */
  passAt1Interval: [number, number] | null;
  /** Samples per prompt (the smallest n over prompts). */
  n: number;
  /** Prompts with at least one `ok` sample. */
  promptsSolved: number;
  tokens: { input: number; output: number; samplesWithUsage: number };
  /** In $; null when no price was given for the model. */
  cost: { input: number; output: number; total: number } | null;
}

export interface EvalMetrics {
  k: number;
  models: ModelMetrics[];
}

function zeroVerdicts(): Record<Verdict, number> {
  return Object.fromEntries(VERDICTS.map((v) => [v, 0])) as Record<Verdict, number>;
}

function zeroStages(): StageCounts {
  return Object.fromEntries(STAGES.map((s) => [s, 0])) as StageCounts;
}

function mean(xs: number[]): number | null {
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/**
 * A 95 % confidence interval for the mean of per-prompt scores in [0, 1]: the normal approximation
 * mean ± 1.96 · s / √P with the sample standard deviation s over P prompts, clipped to [0, 1]. The
 * uncertainty that matters is which prompts were drawn (the per-prompt estimator is already unbiased
 * for its prompt), so the spread is taken over prompts. null for fewer than two prompts.
 */
export function meanInterval(xs: readonly number[]): [number, number] | null {
  if (xs.length < 2) return null;
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1);
  const h = 1.96 * Math.sqrt(v / xs.length);
  return [Math.max(0, m - h), Math.min(1, m + h)];
}

/** Per-model counts, stage rates, pass@1 / pass@k averaged over prompts, tokens and cost. */
export function summarize(samples: readonly MetricSample[], options: SummarizeOptions = {}): EvalMetrics {
  const k = options.k ?? 5;
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`summarize: k must be a positive integer (got ${k})`);

  const order: string[] = [...(options.models ?? [])];
  const byModel = new Map<string, MetricSample[]>();
  for (const m of order) byModel.set(m, []);
  for (const s of samples) {
    if (!isVerdict(s.verdict)) throw new TypeError(`summarize: unknown verdict ${JSON.stringify(s.verdict)}`);
    let list = byModel.get(s.model);
    if (!list) {
      list = [];
      byModel.set(s.model, list);
      order.push(s.model);
    }
    list.push(s);
  }

  const models = order.map((model): ModelMetrics => {
    const list = byModel.get(model)!;
    const verdicts = zeroVerdicts();
    const counts = zeroStages();
    const tokens = { input: 0, output: 0, samplesWithUsage: 0 };
    const perPrompt = new Map<string, { n: number; c: number }>();
    for (const s of list) {
      verdicts[s.verdict]++;
      for (const st of STAGES) if (reachedStage(s.verdict, st)) counts[st]++;
      if (s.usage) {
        tokens.input += s.usage.input;
        tokens.output += s.usage.output;
        tokens.samplesWithUsage++;
      }
      const p = perPrompt.get(s.prompt) ?? { n: 0, c: 0 };
      p.n++;
      if (s.verdict === 'ok') p.c++;
      perPrompt.set(s.prompt, p);
    }
    const rates = zeroStages();
    for (const st of STAGES) rates[st] = list.length === 0 ? 0 : counts[st] / list.length;
    const groups = [...perPrompt.values()];
    const atK = groups.filter((g) => g.n >= k);
    const price = options.prices?.[model];
    const cost = price
      ? (() => {
          const input = (tokens.input * price.input) / 1e6;
          const output = (tokens.output * price.output) / 1e6;
          return { input, output, total: input + output };
        })()
      : null;
    return {
      model,
      samples: list.length,
      prompts: groups.length,
      verdicts,
      counts,
      rates,
      passAt1: mean(groups.map((g) => passAtK(g.n, g.c, 1))),
      k,
      passAtK: mean(atK.map((g) => passAtK(g.n, g.c, k))),
      passAtKPrompts: atK.length,
      passAtKInterval: meanInterval(atK.map((g) => passAtK(g.n, g.c, k))),
      passAt1Interval: meanInterval(groups.map((g) => passAtK(g.n, g.c, 1))),
      n: groups.length ? Math.min(...groups.map((g) => g.n)) : 0,
      promptsSolved: groups.filter((g) => g.c > 0).length,
      tokens,
      cost,
    };
  });
  return { k, models };
}
